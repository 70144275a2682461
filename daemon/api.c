/*
 * api.c — the router: the table of routes, and the one path every API call
 * takes: match → auth (on a request worker) → body → work (on a request
 * worker) → JSON reply (on the loop).  Also the helpers that every route
 * shares: errors, query parameters, paging cursors, roles.  Route files
 * hold only their own work functions.
 */
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "formats.h"
#include "audit.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "throttle.h"
#include "tls.h"
#include "tokens.h"
#include "workers.h"

static const struct api_route *const api_tables[] = {
	route_health_rows,
	route_tokens_rows,
	route_audit_rows,
	route_plan_rows,
	route_retention_rows,
	route_transfers_rows,
	route_uploads_rows,
	route_aips_rows,
	route_files_rows,
	route_holds_rows,
	route_disposals_rows,
	NULL,
};

static const struct {
	enum role	 role;
	const char	*name;
} api_roles[] = {
	{ ROLE_INTEGRATION, "integration" },
	{ ROLE_RECORDS_MANAGER, "records_manager" },
	{ ROLE_AUDITOR, "auditor" },
	{ ROLE_ADMIN, "admin" },
};

const char *
role_name(enum role r)
{
	size_t i;

	for (i = 0; i < sizeof(api_roles) / sizeof(api_roles[0]); i++)
		if (api_roles[i].role == r)
			return api_roles[i].name;
	return "unknown";
}

int
role_parse(const char *s, enum role *out)
{
	size_t i;

	for (i = 0; s && i < sizeof(api_roles) / sizeof(api_roles[0]); i++)
		if (strcmp(api_roles[i].name, s) == 0) {
			*out = api_roles[i].role;
			return 0;
		}
	return -1;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Digits at s[0..n). */
static bool
api_digits(const char *s, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool
api_is_rfc3339(const char *s)
{
	size_t n = strlen(s);

	/* YYYY-MM-DD */
	if (n < 10 || !api_digits(s, 4) || s[4] != '-' ||
	    !api_digits(s + 5, 2) || s[7] != '-' || !api_digits(s + 8, 2))
		return false;
	if (n == 10)
		return true;
	/* THH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
	if (n < 20 || (s[10] != 'T' && s[10] != 't') ||
	    !api_digits(s + 11, 2) || s[13] != ':' || !api_digits(s + 14, 2) ||
	    s[16] != ':' || !api_digits(s + 17, 2))
		return false;
	s += 19;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0')
		return true;
	return (s[0] == '+' || s[0] == '-') && api_digits(s + 1, 2) &&
	    s[3] == ':' && api_digits(s + 4, 2) && s[6] == '\0';
}

bool
api_is_uuid(const char *s)
{
	int i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (hexval((unsigned char)s[i]) < 0)
			return false;
	}
	return s[36] == '\0';
}

void
api_call_free(struct api_call *call)
{
	int i;

	if (call == NULL)
		return;
	for (i = 0; i < API_MAX_PARAMS; i++)
		free(call->params[i]);
	free(call->query);
	free(call->body);
	free(call->location);
	free(call->retry_after);
	free(call->text);
	json_decref(call->reply);
	json_decref(call->headers);
	json_decref(call->who.clearance);
	free(call->clearance_text);
	free(call);
}

struct api_call *
api_call_copy(const struct api_call *call)
{
	struct api_call *c;
	int i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->app = call->app;
	c->route = call->route;
	c->who = call->who;
	c->who.clearance = json_incref(call->who.clearance);
	snprintf(c->peer, sizeof(c->peer), "%s", call->peer);
	if (call->query && (c->query = strdup(call->query)) == NULL)
		goto fail;
	for (i = 0; i < API_MAX_PARAMS; i++)
		if (call->params[i] &&
		    (c->params[i] = strdup(call->params[i])) == NULL)
			goto fail;
	return c;
fail:
	api_call_free(c);
	return NULL;
}

void
api_reply_keyset_page(struct api_call *call, struct db_result *r, int limit,
    json_t *(*item)(struct db_result *, int), int time_col, int id_col)
{
	int n = db_rows(r), i;
	json_t *items = json_array();
	char *next = NULL;

	for (i = 0; i < n && i < limit; i++)
		json_array_append_new(items, item(r, i));
	if (n > limit && asprintf(&next, "%s|%s", db_value(r, limit - 1,
	    time_col), db_value(r, limit - 1, id_col)) == -1)
		next = NULL;
	api_reply(call, 200, api_list(items, next));
	free(next);
}

void
api_keyset_query_error(struct api_call *call, struct db *db)
{
	if (strncmp(db_sqlstate(db), "22", 2) == 0)	/* a bad cursor time */
		api_error(call, 400, "BAD_CURSOR",
		    "after is not a cursor this list gave out");
	else
		api_db_error(call, db);
}

void
api_keyset_list(struct api_call *call, struct db *db, const char *sql,
    const char *const *filters, int nfilters,
    json_t *(*item)(struct db_result *, int), int time_col, int id_col)
{
	struct db_result *r = NULL;
	const char *params[3 + API_KEYSET_FILTERS_MAX] = { NULL };
	char *after = NULL, limit_text[16];
	int limit, i;

	if (nfilters > API_KEYSET_FILTERS_MAX) {
		api_error(call, 500, "INTERNAL", "too many filters");
		return;
	}
	if (api_page_keyset(call, &limit, &after, &params[1]) == -1)
		return;
	params[0] = after;
	snprintf(limit_text, sizeof(limit_text), "%d", limit + 1);
	params[2] = limit_text;
	for (i = 0; i < nfilters; i++)
		params[3 + i] = filters[i];
	if (db_query(db, &r, sql, 3 + nfilters, params) == -1)
		api_keyset_query_error(call, db);
	else
		api_reply_keyset_page(call, r, limit, item, time_col, id_col);
	free(after);
	db_result_free(r);
}

/* ---- replies ----------------------------------------------------------- */

/* Messages may quote client bytes (a path segment): whatever is not valid
 * UTF-8 becomes '?', so that the error itself is always valid JSON. */
json_t *
api_error_body(const char *code, const char *message)
{
	char *clean;
	json_t *j;

	if ((clean = strdup(message)) == NULL)
		return NULL;
	findings_clean_utf8(clean);
	j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
	    clean);
	free(clean);
	return j;
}

void
api_reply(struct api_call *call, int status, json_t *reply)
{
	json_decref(call->reply);
	free(call->text);
	call->text = NULL;
	call->status = status;
	call->reply = reply;
}

void
api_reply_text(struct api_call *call, int status, const char *type,
    char *text)
{
	api_reply(call, status, NULL);
	if (text == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		return;
	}
	call->text = text;
	call->text_type = type;
}

void
api_error(struct api_call *call, int status, const char *code,
    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_reply(call, status, api_error_body(code, msg));
}

/* The database failed under a call: the detail goes to the log, the client
 * learns only that it may retry. */
void
api_db_error(struct api_call *call, struct db *db)
{
	log_warn("%s: database: %s", call->route->name, db_error(db));
	api_error(call, 503, "DATABASE_UNAVAILABLE",
	    "the database is not available; try again later");
	free(call->retry_after);
	call->retry_after = strdup("5");
}

void
api_header(struct api_call *call, const char *name, const char *value)
{
	if (call->headers == NULL)
		call->headers = json_object();
	json_object_set_new(call->headers, name, json_string(value));
}

void
api_respond(struct http_request *req, struct api_call *call)
{
	const char *name;
	json_t *value;
	char *text;

	if (call->location)
		http_add_header(req, "Location", call->location);
	if (call->retry_after)
		http_add_header(req, "Retry-After", call->retry_after);
	if (call->status == 401)
		http_add_header(req, "WWW-Authenticate", "Bearer");
	json_object_foreach(call->headers, name, value)
		http_add_header(req, name, json_string_value(value));
	if (call->status == 204) {
		http_reply(req, 204, NULL, NULL, 0);
		return;
	}
	if (call->text) {
		http_reply(req, call->status, call->text_type, call->text,
		    strlen(call->text));
		return;
	}
	if (call->reply == NULL)
		api_error(call, 500, "INTERNAL", "the route gave no reply");
	text = json_dumps(call->reply, JSON_COMPACT);
	if (text == NULL) {
		http_reply(req, 500, "application/json", "{}", 2);
		return;
	}
	http_reply(req, call->status, "application/json", text, strlen(text));
	free(text);
}

/* Answers straight from the loop thread (no worker involved). */
static void
api_send_error(struct http_request *req, struct api_call *call, int status,
    const char *code, const char *message)
{
	api_error(call, status, code, "%s", message);
	api_respond(req, call);
	api_call_free(call);
}

int
api_audit(struct api_call *call, struct db *db, const char *action,
    const char *object_type, const char *object_id, json_t *details)
{
	return api_audit_text(call, db, action, object_type, object_id,
	    details, NULL, NULL);
}

int
api_audit_text(struct api_call *call, struct db *db, const char *action,
    const char *object_type, const char *object_id, json_t *details,
    const char *text_name, const char *text)
{
	struct audit_event ev = {
		.actor = call->who.name[0] ? call->who.name : "anonymous",
		.role = call->who.name[0] ? role_name(call->who.role) : NULL,
		.action = action, .object_type = object_type,
		.object_id = object_id, .outcome = AUDIT_SUCCESS,
		.details = details, .text_name = text_name, .text = text,
	};

	if (audit_record(db, &ev) == -1) {
		api_db_error(call, db);
		return -1;
	}
	return 0;
}

void
api_audit_denied(struct api_call *call, struct db *db, const char *action,
    const char *object_type, const char *object_id, const char *why)
{
	json_t *details = json_pack("{s:s}", "why", why);
	struct audit_event ev = {
		.actor = call->who.name, .role = role_name(call->who.role),
		.action = action, .object_type = object_type,
		.object_id = object_id, .outcome = AUDIT_DENIED,
		.details = details,
	};

	if (audit_record(db, &ev) == -1)
		log_warn("%s refused (%s), not recorded: %s", action, why,
		    db_error(db));
	json_decref(details);
}

int
api_version_param(struct api_call *call, char **version)
{
	if (api_query_param(version, call->query, "version") == -1 ||
	    (*version && (strlen(*version) > 9 || strspn(*version,
	    "0123456789") != strlen(*version) || atoi(*version) < 1))) {
		free(*version);
		*version = NULL;
		api_error(call, 400, "BAD_PARAMETER", "version is a number "
		    "from 1");
		return -1;
	}
	return 0;
}

const char *
api_clearance(struct api_call *call)
{
	if (call->clearance_text == NULL)
		call->clearance_text = call->who.clearance ?
		    json_dumps(call->who.clearance, JSON_COMPACT) :
		    strdup("[]");
	return call->clearance_text;
}

/* ---- query strings and paging ------------------------------------------ */

/* Percent-decodes s[0..len) ('+' is a space in queries); malloc'd, or NULL
 * when the escape is bad or decodes to NUL. */
static char *
api_unescape(const char *s, size_t len, bool plus_is_space)
{
	char *out, *o;
	size_t i;
	int hi, lo;

	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0, o = out; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len ||
			    (hi = hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = hexval((unsigned char)s[i + 2])) < 0 ||
			    (hi == 0 && lo == 0))
				goto bad;
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '+' && plus_is_space)
			*o++ = ' ';
		else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

int
api_query_param(char **out, const char *query, const char *name)
{
	size_t nlen = strlen(name), klen;
	const char *p = query, *amp, *eq;

	*out = NULL;
	while (p && *p) {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		eq = memchr(p, '=', (size_t)(amp - p));
		klen = eq ? (size_t)(eq - p) : (size_t)(amp - p);
		if (klen == nlen && strncmp(p, name, nlen) == 0) {
			*out = eq ? api_unescape(eq + 1,
			    (size_t)(amp - eq - 1), true) : strdup("");
			return *out ? 1 : -1;
		}
		p = *amp ? amp + 1 : NULL;
	}
	return 0;
}

char *
api_cursor_encode(const char *plain)
{
	size_t n = strlen(plain), i;
	char *out;

	if ((out = malloc(4 * ((n + 2) / 3) + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain,
	    (int)n);
	for (i = 0; out[i]; i++)	/* base64url, unpadded */
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
		else if (out[i] == '=')
			out[i] = '\0';
	return out;
}

char *
api_cursor_decode(const char *cursor)
{
	size_t n = strlen(cursor), i, padded;
	char *b64 = NULL, *out = NULL;
	int len;

	if (n == 0 || n > 1024 || n % 4 == 1)	/* no base64 is 4k+1 long */
		return NULL;
	padded = (n + 3) / 4 * 4;
	if ((b64 = malloc(padded + 1)) == NULL ||
	    (out = malloc(padded + 1)) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		char c = cursor[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!isalnum((unsigned char)c))
			goto fail;
		b64[i] = c;
	}
	for (; i < padded; i++)
		b64[i] = '=';
	b64[padded] = '\0';
	len = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)b64,
	    (int)padded);
	if (len < 0)
		goto fail;
	len -= (int)(padded - n);	/* DecodeBlock counts padding */
	out[len] = '\0';
	if (strlen(out) != (size_t)len)
		goto fail;
	free(b64);
	return out;
fail:
	free(b64);
	free(out);
	return NULL;
}

int
api_page(struct api_call *call, int *limit, char **after)
{
	char *v, *end = "";
	long n;
	int found;

	*limit = 100;
	*after = NULL;
	if ((found = api_query_param(&v, call->query, "limit")) != 0) {
		n = found == 1 && isdigit((unsigned char)v[0]) ?
		    strtol(v, &end, 10) : 0;
		if (n < 1 || n > 1000 || *end != '\0') {
			api_error(call, 400, "BAD_LIMIT",
			    "limit must be an integer from 1 to 1000");
			free(v);
			return -1;
		}
		*limit = (int)n;
		free(v);
	}
	if ((found = api_query_param(&v, call->query, "after")) != 0) {
		*after = found == 1 ? api_cursor_decode(v) : NULL;
		free(v);
		if (*after == NULL) {
			api_error(call, 400, "BAD_CURSOR",
			    "after is not a cursor this list gave out");
			return -1;
		}
	}
	return 0;
}

int
api_page_keyset(struct api_call *call, int *limit, char **after,
    const char **after_id)
{
	char *sep;

	*after_id = NULL;
	if (api_page(call, limit, after) == -1)
		return -1;
	if (*after == NULL)
		return 0;
	if ((sep = strchr(*after, '|')) == NULL || !api_is_uuid(sep + 1)) {
		api_error(call, 400, "BAD_CURSOR",
		    "after is not a cursor this list gave out");
		free(*after);
		*after = NULL;
		return -1;
	}
	*sep = '\0';
	*after_id = sep + 1;
	return 0;
}

int
api_body_text(struct api_call *call, json_t *body, const char *name,
    bool required, size_t max, const char **out)
{
	json_t *v = json_object_get(body, name);
	const char *s = json_string_value(v);

	*out = NULL;
	if ((v == NULL || json_is_null(v)) && !required)
		return 0;
	if (s == NULL || strlen(s) > max ||
	    (required && strspn(s, " \t\r\n") == strlen(s))) {
		api_error(call, 400, "BAD_FIELD", "%s: text of at most %zu "
		    "bytes%s", name, max, required ? ", not blank" : "");
		return -1;
	}
	*out = s;
	return 0;
}

int
api_uuid_array(struct api_call *call, json_t *v, const char *field,
    size_t max, char **out)
{
	size_t i, n = json_array_size(v);
	const char *id;
	char *p;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v) || n == 0 || n > max) {
		api_error(call, 400, "BAD_FIELD", "%s: an array of 1 to %zu "
		    "ids", field, max);
		return -1;
	}
	if ((*out = p = malloc(n * 37 + 3)) == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		return -1;
	}
	*p++ = '{';
	for (i = 0; i < n; i++) {
		if ((id = json_string_value(json_array_get(v, i))) == NULL ||
		    !api_is_uuid(id)) {
			api_error(call, 400, "BAD_FIELD", "%s[%zu]: not an id "
			    "(a UUID)", field, i);
			free(*out);
			*out = NULL;
			return -1;
		}
		if (i > 0)
			*p++ = ',';
		memcpy(p, id, 36);
		p += 36;
	}
	*p++ = '}';
	*p = '\0';
	return 0;
}

json_t *
api_text_or_null(struct db_result *r, int i, int col)
{
	return db_isnull(r, i, col) ? json_null() :
	    json_string(db_value(r, i, col));
}

json_t *
api_list(json_t *items, const char *next_plain)
{
	char *next = next_plain ? api_cursor_encode(next_plain) : NULL;
	json_t *list;

	list = json_pack("{s:o,s:o}", "items", items, "next",
	    next ? json_string(next) : json_null());
	free(next);
	return list;
}

json_t *
api_body_object(struct api_call *call)
{
	json_error_t err;
	json_t *j;

	if (call->body == NULL || call->body_len == 0) {
		api_error(call, 400, "BODY_REQUIRED",
		    "this request needs a JSON object as its body");
		return NULL;
	}
	j = json_loadb(call->body, call->body_len, JSON_REJECT_DUPLICATES,
	    &err);
	if (j == NULL) {
		/* jansson quotes the text near the error: a personal
		 * identity code there is withheld. */
		findings_withhold(err.text);
		api_error(call, 400, "BAD_JSON",
		    "request body, line %d column %d: %s", err.line,
		    err.column, err.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api_error(call, 400, "BAD_JSON",
		    "the request body must be a JSON object");
		return NULL;
	}
	return j;
}

/* ---- matching ------------------------------------------------------------ */

/* Matches path against pattern, filling {params} (each segment
 * percent-decoded).  1 on a match. */
static int
api_match_path(const char *pattern, const char *path, char **params)
{
	const char *p = pattern, *s = path, *pe, *se;
	int np = 0, i;

	while (*p && *s) {
		if (*p != '/' || *s != '/')
			goto no;
		p++;
		s++;
		pe = strchr(p, '/');
		pe = pe ? pe : p + strlen(p);
		se = strchr(s, '/');
		se = se ? se : s + strlen(s);
		/* {name+} takes the rest of the path, slashes and all (a
		 * file's path in a bag). */
		if (*p == '{' && pe - p > 2 && pe[-2] == '+')
			se = s + strlen(s);
		if (*p == '{') {
			if (se == s || np >= API_MAX_PARAMS)
				goto no;
			if ((params[np++] = api_unescape(s, (size_t)(se - s),
			    false)) == NULL)
				goto no;
		} else if (pe - p != se - s || strncmp(p, s, (size_t)(pe - p)))
			goto no;
		p = pe;
		s = se;
	}
	if (*p == '\0' && *s == '\0')
		return 1;
no:
	for (i = 0; i < np; i++) {
		free(params[i]);
		params[i] = NULL;
	}
	return 0;
}

/* Finds the route; *path_known tells 405 from 404. */
static const struct api_route *
api_match(const char *method, const char *path, char **params,
    bool *path_known)
{
	const struct api_route *const *t;
	const struct api_route *r;
	char *scratch[API_MAX_PARAMS] = { 0 };
	int i;

	*path_known = false;
	for (t = api_tables; *t; t++)
		for (r = *t; r->method; r++) {
			if (!api_match_path(r->pattern, path, scratch))
				continue;
			if (strcmp(r->method, method) == 0 ||
			    (strcmp(method, "HEAD") == 0 &&
			    strcmp(r->method, "GET") == 0)) {
				memcpy(params, scratch, sizeof(scratch));
				return r;
			}
			*path_known = true;
			for (i = 0; i < API_MAX_PARAMS; i++) {
				free(scratch[i]);
				scratch[i] = NULL;
			}
		}
	return NULL;
}

/* ---- denied access ------------------------------------------------------- */

/*
 * Every 401 and 403 on /v1/ is an act (auth.denied), recorded without the
 * token.  A flood from one address must not swamp the trail: per address,
 * at most one event a minute, carrying the count of denials it stands for;
 * a timer flushes the counts of quiet addresses.  The table is bounded
 * (API_DENY_SLOTS) and lives on the loop thread only.
 */
#define API_DENY_SLOTS		4096
#define API_DENY_WINDOW_S	60

struct api_deny_slot {
	char	peer[64];
	time_t	window_start;
	long	suppressed;
	int	status;
	char	route[64];
	char	method[16];
	char	actor[201];
	char	role[24];
};

static struct api_deny_slot api_deny_slots[API_DENY_SLOTS];
static struct event *api_deny_timer;

struct api_deny_job {
	struct api_deny_slot	slot;
	long			count;
};

static void
api_deny_work(struct db *db, void *arg)
{
	struct api_deny_job *j = arg;
	struct audit_event ev = {
		.actor = j->slot.actor[0] ? j->slot.actor : "anonymous",
		.role = j->slot.role[0] ? j->slot.role : NULL,
		.action = "auth.denied", .object_type = "route",
		.object_id = j->slot.route, .outcome = AUDIT_DENIED,
	};
	json_t *details;

	details = json_pack("{s:s,s:s,s:i,s:I}", "peer", j->slot.peer,
	    "method", j->slot.method, "status", j->slot.status, "count",
	    (json_int_t)j->count);
	ev.details = details;
	if (audit_record(db, &ev) == -1)
		log_warn("auth.denied from %s: not recorded: %s", j->slot.peer,
		    db_error(db));
	json_decref(details);
}

static void
api_deny_emit(struct app *app, const struct api_deny_slot *slot, long count)
{
	struct api_deny_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->slot = *slot;
	j->count = count;
	if (workers_submit(app->requests, api_deny_work, free, j) == -1) {
		log_warn("auth.denied from %s: queue full, %ld not recorded",
		    slot->peer, count);
		free(j);
	}
}

static void
api_denied(struct api_call *call, struct http_request *req, int status)
{
	struct api_deny_slot *slot = NULL, *oldest = NULL;
	const char *peer = http_request_peer(req);
	unsigned int h = 5381, i;
	time_t now = time(NULL);
	const char *p;

	for (p = peer; *p; p++)
		h = h * 33 + (unsigned char)*p;
	for (i = 0; i < 8; i++) {
		struct api_deny_slot *s = &api_deny_slots[(h + i) %
		    API_DENY_SLOTS];
		if (s->peer[0] == '\0' || strcmp(s->peer, peer) == 0) {
			slot = s;
			break;
		}
		if (oldest == NULL || s->window_start < oldest->window_start)
			oldest = s;
	}
	if (slot == NULL) {		/* full: the stalest neighbour goes */
		slot = oldest;
		if (slot->suppressed > 0)
			api_deny_emit(call->app, slot, slot->suppressed);
		slot->peer[0] = '\0';
	}
	if (slot->peer[0] != '\0' &&
	    now - slot->window_start < API_DENY_WINDOW_S) {
		slot->suppressed++;
		return;
	}
	snprintf(slot->peer, sizeof(slot->peer), "%s", peer);
	slot->status = status;
	snprintf(slot->route, sizeof(slot->route), "%s", call->route->name);
	snprintf(slot->method, sizeof(slot->method), "%s",
	    http_request_method(req));
	snprintf(slot->actor, sizeof(slot->actor), "%s", call->who.name);
	snprintf(slot->role, sizeof(slot->role), "%s", call->who.name[0] ?
	    role_name(call->who.role) : "");
	api_deny_emit(call->app, slot, 1 + slot->suppressed);
	slot->window_start = now;
	slot->suppressed = 0;
}

static void
api_deny_flush(evutil_socket_t fd, short what, void *arg)
{
	time_t now = time(NULL);
	size_t i;

	(void)fd;
	(void)what;
	for (i = 0; i < API_DENY_SLOTS; i++) {
		struct api_deny_slot *s = &api_deny_slots[i];
		if (s->peer[0] && s->suppressed > 0 &&
		    now - s->window_start >= API_DENY_WINDOW_S) {
			api_deny_emit(arg, s, s->suppressed);
			s->window_start = now;
			s->suppressed = 0;
		}
	}
}

/*
 * Failed logins (bad bearer tokens) by address: past
 * server.auth_fail_limit each 401 is held back on a timer, never by a
 * sleeping thread; from server.auth_fail_block on the address gets 429
 * (throttle.c has the rule).  The replies held back are listed so that
 * shutdown can free them.
 */
#define API_THROTTLE_SLOTS	4096

struct api_held {
	struct http_request	*req;
	struct api_call		*call;
	struct event		*timer;
	struct api_held		*prev, *next;
};

static struct throttle *api_throttle;
static struct api_held *api_held_replies;

static void
api_held_free(struct api_held *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		api_held_replies = h->next;
	if (h->next)
		h->next->prev = h->prev;
	event_free(h->timer);
	api_call_free(h->call);
	http_request_release(h->req);
	free(h);
}

static void
api_held_send(evutil_socket_t fd, short what, void *arg)
{
	struct api_held *h = arg;

	(void)fd;
	(void)what;
	api_respond(h->req, h->call);	/* nothing when the client left */
	api_held_free(h);
}

/* Sends call's reply to req after ms; the reply is sent at once when the
 * timer cannot be made (holding it back is a brake, not a duty). */
static void
api_hold_reply(struct http_request *req, struct api_call *call, int ms)
{
	struct timeval tv = { (ms + 10) / 1000, ((ms + 10) % 1000) * 1000 };
	struct api_held *h;

	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->timer = evtimer_new(call->app->base, api_held_send, h)) ==
	    NULL) {
		free(h);
		api_respond(req, call);
		api_call_free(call);
		return;
	}
	h->req = req;
	h->call = call;
	http_request_hold(req);
	h->next = api_held_replies;
	if (api_held_replies)
		api_held_replies->prev = h;
	api_held_replies = h;
	/* Never less than asked: the loop's cached clock may be behind by
	 * this turn's work, and libevent's clock is the coarse one (a few
	 * ms a tick), hence the extra 10 ms. */
	event_base_update_cache_time(call->app->base);
	evtimer_add(h->timer, &tv);
}

void
api_start(struct app *app)
{
	struct timeval tv = { 10, 0 };
	const struct config *cfg = app->cfg;
	struct throttle_rule rule = {
		.limit = cfg->auth_fail_limit,
		.window_s = cfg->auth_fail_window_s,
		.delay_ms = cfg->auth_fail_delay_ms,
		.max_delay_ms = cfg->auth_fail_max_delay_ms,
		.block = cfg->auth_fail_block,
	};

	api_deny_timer = event_new(app->base, -1, EV_PERSIST, api_deny_flush,
	    app);
	event_add(api_deny_timer, &tv);
	if ((api_throttle = throttle_new(&rule, API_THROTTLE_SLOTS)) == NULL)
		log_warn("auth: out of memory: failed logins not throttled");
}

void
api_stop(struct app *app)
{
	if (api_deny_timer == NULL)
		return;
	event_free(api_deny_timer);
	api_deny_timer = NULL;
	/* What the flood limiter still holds is recorded before exit. */
	for (size_t i = 0; i < API_DENY_SLOTS; i++)
		if (api_deny_slots[i].peer[0] && api_deny_slots[i].suppressed)
			api_deny_emit(app, &api_deny_slots[i],
			    api_deny_slots[i].suppressed);
	memset(api_deny_slots, 0, sizeof(api_deny_slots));
	while (api_held_replies)
		api_held_free(api_held_replies);
	throttle_free(api_throttle);
	api_throttle = NULL;
}

/* ---- the life of a call -------------------------------------------------- */

static void
api_work(struct db *db, void *arg)
{
	struct api_call *call = arg;

	call->route->work(call, db);
}

void
api_finish(struct http_request *req, void *arg)
{
	struct api_call *call = arg;

	if (req)
		api_respond(req, call);
	api_call_free(call);
}

static void
api_start_work(struct http_request *req, struct api_call *call)
{
	struct workers *pool = call->route->pool == API_POOL_JOBS ?
	    call->app->jobs : call->app->requests;

	if (http_run(req, pool, api_work, api_finish, call) == -1) {
		call->retry_after = strdup("1");
		api_send_error(req, call, 503, "BUSY",
		    "the server is busy; try again shortly");
	}
}

static void
api_body_done(struct http_request *req, void *arg)
{
	struct api_call *call = arg;
	struct evbuffer *body = http_request_body(req);
	size_t n = evbuffer_get_length(body);

	if ((call->body = malloc(n + 1)) == NULL) {
		api_send_error(req, call, 500, "INTERNAL", "out of memory");
		return;
	}
	evbuffer_remove(body, call->body, n);
	call->body[n] = '\0';
	call->body_len = n;
	api_start_work(req, call);
}

/* Auth passed (or was not needed): take the body, then the work. */
static void
api_admitted(struct http_request *req, struct api_call *call)
{
	const char *ctype;
	bool xml;

	if (call->route->on_loop) {
		call->route->on_loop(call, req);
		api_call_free(call);
		return;
	}
	if (call->route->body != API_BODY_NONE) {
		xml = call->route->body == API_BODY_XML;
		ctype = http_request_header(req, "Content-Type");
		if (ctype && (xml ? strncasecmp(ctype, "application/xml", 15) !=
		    0 && strncasecmp(ctype, "text/xml", 8) != 0 :
		    strncasecmp(ctype, "application/json", 16) != 0)) {
			api_send_error(req, call, 415, "UNSUPPORTED_MEDIA_TYPE",
			    xml ? "this route takes application/xml" :
			    "this route takes application/json");
			return;
		}
		http_request_read_body(req, HTTP_BODY_GATHER, (uint64_t)(xml ?
		    call->app->cfg->retention_max_plan_bytes :
		    call->app->cfg->max_json_bytes), NULL, api_body_done,
		    (http_abort_fn)api_call_free, call);
		return;
	}
	api_start_work(req, call);
}

/* Who is asking: a bearer token, or else a mapped client certificate
 * (its principal and role from server.client_map). */
struct api_auth {
	struct api_call	*call;
	char		*token;		/* wiped and freed after hashing */
	const char	*cert_principal;	/* the map's; or NULL */
	enum role	 cert_role;
};

/* 0 when the token names a principal (call->who filled), else -1 with
 * the reply set. */
static int
api_auth_token_job(struct db *db, struct api_auth *a)
{
	struct api_call *call = a->call;
	struct db_result *r = NULL;
	char token_sha256[65];
	const char *params[1] = { token_sha256 };
	json_error_t jerr;
	int rc = -1;

	/* Hashing is work for a worker, not for the loop. */
	token_hash(a->token, token_sha256);
	explicit_bzero(a->token, strlen(a->token));

	if (db_query(db, &r,
	    "SELECT t.id, p.id, p.name, t.role, array_to_json(p.clearance) "
	    "FROM tokens t JOIN principals p ON p.id = t.principal_id "
	    "WHERE t.token_sha256 = decode($1, 'hex') "
	    "AND t.revoked_at IS NULL", 1, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	if (db_rows(r) != 1) {
		api_error(call, 401, "UNAUTHENTICATED",
		    "the bearer token is not valid");
		goto out;
	}
	snprintf(call->who.token_id, sizeof(call->who.token_id), "%s",
	    db_value(r, 0, 0));
	snprintf(call->who.id, sizeof(call->who.id), "%s", db_value(r, 0, 1));
	snprintf(call->who.name, sizeof(call->who.name), "%s",
	    db_value(r, 0, 2));
	if (role_parse(db_value(r, 0, 3), &call->who.role) == -1) {
		api_error(call, 500, "INTERNAL", "a token has an unknown role");
		goto out;
	}
	call->who.clearance = json_loads(db_value(r, 0, 4), 0, &jerr);
	rc = 0;
out:
	db_result_free(r);
	return rc;
}

/* The principal a mapped certificate names, made on its first use as the
 * inbox's is, so that its clearance applies and its acts have a row to
 * point at.  0 (call->who filled, no token id), else -1 with the reply
 * set. */
static int
api_auth_cert_job(struct db *db, struct api_auth *a)
{
	static const char *const select_sql = "SELECT id, "
	    "array_to_json(clearance) FROM principals WHERE name = $1";
	struct api_call *call = a->call;
	struct db_result *r = NULL;
	const char *params[1] = { a->cert_principal };
	json_error_t jerr;
	int rc = -1;

	if (db_query(db, &r, select_sql, 1, params) == -1)
		goto db_fail;
	if (db_rows(r) == 0) {
		db_result_free(r);
		r = NULL;
		if (db_query(db, NULL, "INSERT INTO principals (name) "
		    "VALUES ($1) ON CONFLICT (name) DO NOTHING", 1,
		    params) == -1 ||
		    db_query(db, &r, select_sql, 1, params) == -1)
			goto db_fail;
	}
	if (db_rows(r) != 1) {
		api_error(call, 500, "INTERNAL", "the principal of a client "
		    "certificate could not be made");
		goto out;
	}
	snprintf(call->who.id, sizeof(call->who.id), "%s", db_value(r, 0, 0));
	snprintf(call->who.name, sizeof(call->who.name), "%s",
	    a->cert_principal);
	call->who.role = a->cert_role;
	call->who.clearance = json_loads(db_value(r, 0, 1), 0, &jerr);
	rc = 0;
	goto out;
db_fail:
	api_db_error(call, db);
out:
	db_result_free(r);
	return rc;
}

static void
api_auth_work(struct db *db, void *arg)
{
	struct api_auth *a = arg;
	struct api_call *call = a->call;

	if ((a->token ? api_auth_token_job(db, a) :
	    api_auth_cert_job(db, a)) == -1)
		return;
	if (!(call->route->roles & call->who.role))
		api_error(call, 403, "FORBIDDEN",
		    "role %s may not use %s %s", role_name(call->who.role),
		    call->route->method, call->route->pattern);
}

static void
api_auth_done(struct http_request *req, void *arg)
{
	struct api_auth *a = arg;
	struct api_call *call = a->call;
	bool is_bad_token = a->token != NULL && call->status == 401;
	int hold_ms = 0;

	free(a->token);
	free(a);
	if (req == NULL) {
		api_call_free(call);
		return;
	}
	if (call->who.name[0])
		http_request_set_principal(req, call->who.name);
	if (call->status != 0) {	/* denied, or the database failed */
		if (call->status == 401 || call->status == 403)
			api_denied(call, req, call->status);
		if (is_bad_token && api_throttle)
			hold_ms = throttle_failed(api_throttle,
			    http_request_peer(req), time(NULL));
		if (hold_ms > 0) {
			api_hold_reply(req, call, hold_ms);
			return;
		}
		api_respond(req, call);
		api_call_free(call);
		return;
	}
	api_admitted(req, call);
}

/* No bearer token, but a verified client certificate: the map says who
 * it is.  A certificate the map does not name is refused, never taken
 * for anyone. */
static void
api_auth_cert(struct http_request *req, struct api_call *call,
    const char *fingerprint)
{
	struct app *app = call->app;
	const char *principal, *role;
	struct api_auth *a;
	char msg[256];

	if (tls_map_find(app->client_map, fingerprint, &principal, &role) ==
	    -1) {
		api_denied(call, req, 401);
		snprintf(msg, sizeof(msg), "the client certificate (SHA-256 "
		    "%s) is not mapped to a principal; send a bearer token",
		    fingerprint);
		api_send_error(req, call, 401, "UNAUTHENTICATED", msg);
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		api_send_error(req, call, 500, "INTERNAL", "out of memory");
		return;
	}
	a->call = call;
	a->cert_principal = principal;
	(void)role_parse(role, &a->cert_role);	/* checked at start-up */
	if (http_run(req, app->requests, api_auth_work, api_auth_done, a) ==
	    -1) {
		free(a);
		call->retry_after = strdup("1");
		api_send_error(req, call, 503, "BUSY",
		    "the server is busy; try again shortly");
	}
}

void
api_on_request(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct api_call *call;
	struct api_auth *a;
	const char *authz, *fingerprint;
	bool path_known, has_token;
	int wait_s;

	if ((call = calloc(1, sizeof(*call))) == NULL) {
		http_reply(req, 500, "application/json", "{}", 2);
		return;
	}
	call->app = app;
	call->query = strdup(http_request_query(req));
	snprintf(call->peer, sizeof(call->peer), "%s", http_request_peer(req));
	call->route = api_match(http_request_method(req),
	    http_request_path(req), call->params, &path_known);
	if (call->route == NULL) {
		api_send_error(req, call, path_known ? 405 : 404,
		    path_known ? "METHOD_NOT_ALLOWED" : "NOT_FOUND",
		    path_known ? "this method is not allowed here" :
		    "no such resource");
		return;
	}
	http_request_set_route(req, call->route->name);
	if (call->route->roles == 0) {
		api_admitted(req, call);
		return;
	}
	/* A bearer token, when there is one, decides, also over a client
	 * certificate: it names the caller of this request, the
	 * certificate only whoever opened the connection. */
	authz = http_request_header(req, "Authorization");
	has_token = authz && strncasecmp(authz, "Bearer ", 7) == 0 &&
	    authz[7] != '\0';
	fingerprint = http_request_client_fingerprint(req);
	if (!has_token && fingerprint) {
		api_auth_cert(req, call, fingerprint);
		return;
	}
	if (!has_token) {
		api_denied(call, req, 401);
		api_send_error(req, call, 401, "UNAUTHENTICATED",
		    "this route needs an Authorization: Bearer token");
		return;
	}
	/* An address that guessed too often is not heard until it has been
	 * quiet for a while, whatever token it brings now. */
	if (api_throttle && (wait_s = throttle_blocked(api_throttle,
	    http_request_peer(req), time(NULL))) > 0) {
		api_denied(call, req, 429);
		if (asprintf(&call->retry_after, "%d", wait_s) == -1)
			call->retry_after = NULL;
		api_send_error(req, call, 429, "TOO_MANY_REQUESTS",
		    "too many failed logins from this address; try again "
		    "later");
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		api_send_error(req, call, 500, "INTERNAL", "out of memory");
		return;
	}
	a->call = call;
	if ((a->token = strdup(authz + 7)) == NULL ||
	    http_run(req, app->requests, api_auth_work, api_auth_done, a) ==
	    -1) {
		free(a->token);
		free(a);
		call->retry_after = strdup("1");
		api_send_error(req, call, 503, "BUSY",
		    "the server is busy; try again shortly");
	}
}

void
api_on_done(struct http_request *req, void *arg)
{
	struct app *app = arg;

	metrics_observe(app->metrics, http_request_route(req),
	    http_request_status(req), http_request_seconds(req));
	if (app->cfg->log_requests)
		log_info("%s %s %d %.1fms %llu %s", http_request_method(req),
		    http_request_path(req), http_request_status(req),
		    http_request_seconds(req) * 1000.0,
		    (unsigned long long)http_request_bytes_out(req),
		    http_request_principal(req));
}
