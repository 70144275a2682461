/*
 * route_audit.c — the auditor's routes: GET /v1/audit (JSON pages, or the
 * whole filtered trail as CSV, streamed), GET /v1/audit/verify and
 * GET /v1/audit/checkpoints.  Reading the trail is itself an act, and is
 * recorded.  The chain and its checks live in audit.c.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "audit.h"
#include "csv_stream.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "workers.h"

#define AUDIT_CSV_BATCH 1000

#define AUDIT_COLUMNS \
	"seq, " AUDIT_SQL_TIME("at") ", actor, role, action, " \
	"object_type, object_id, outcome, details::text, " \
	"encode(prev_hash, 'hex'), encode(hash, 'hex')"

/* $1 from, $2 to, $3 actor, $4 action, $5 object_type, $6 object_id,
 * $7 cursor (exclusive), $8 bound (inclusive, CSV snapshot), $9 limit. */
#define AUDIT_FILTER \
	" FROM audit_events WHERE ($1::timestamptz IS NULL OR at >= $1) " \
	"AND ($2::timestamptz IS NULL OR at < $2) " \
	"AND ($3::text IS NULL OR actor = $3) " \
	"AND ($4::text IS NULL OR action = $4) " \
	"AND ($5::text IS NULL OR object_type = $5) " \
	"AND ($6::text IS NULL OR object_id = $6) "

static const char audit_sql_desc[] = "SELECT " AUDIT_COLUMNS AUDIT_FILTER
    "AND ($7::bigint IS NULL OR seq < $7) "
    "AND ($8::bigint IS NULL OR seq <= $8) "
    "ORDER BY seq DESC LIMIT $9::int";
static const char audit_sql_asc[] = "SELECT " AUDIT_COLUMNS AUDIT_FILTER
    "AND ($7::bigint IS NULL OR seq > $7) "
    "AND ($8::bigint IS NULL OR seq <= $8) "
    "ORDER BY seq ASC LIMIT $9::int";

static const char *const audit_filter_names[] = {
	"from", "to", "actor", "action", "object_type", "object_id",
};
#define AUDIT_NFILTERS 6

struct audit_query {
	char	*filters[AUDIT_NFILTERS];	/* NULL = not given */
	bool	 ascending;
	char	 cursor[24];			/* "" = from the start */
	char	 bound[24];			/* "" = none */
};

static void
audit_query_clear(struct audit_query *q)
{
	int i;

	for (i = 0; i < AUDIT_NFILTERS; i++) {
		free(q->filters[i]);
		q->filters[i] = NULL;
	}
}

/* Reads the filters and order; 0, or -1 after answering 400. */
static int
audit_query_parse(struct api_call *call, struct audit_query *q,
    bool default_ascending)
{
	char *v;
	int i;

	memset(q, 0, sizeof(*q));
	for (i = 0; i < AUDIT_NFILTERS; i++)
		if (api_query_param(&q->filters[i], call->query,
		    audit_filter_names[i]) == -1) {
			api_error(call, 400, "BAD_PARAMETER", "%s is not "
			    "correctly percent-encoded",
			    audit_filter_names[i]);
			return -1;
		}
	for (i = 0; i < 2; i++)		/* from, to */
		if (q->filters[i] && !api_is_rfc3339(q->filters[i])) {
			api_error(call, 400, "BAD_PARAMETER", "%s must be an "
			    "RFC 3339 time, e.g. 2026-11-23T12:00:00Z",
			    audit_filter_names[i]);
			return -1;
		}
	q->ascending = default_ascending;
	if (api_query_param(&v, call->query, "order") != 0) {
		if (v && strcmp(v, "asc") == 0)
			q->ascending = true;
		else if (v && strcmp(v, "desc") == 0)
			q->ascending = false;
		else {
			free(v);
			api_error(call, 400, "BAD_PARAMETER",
			    "order must be asc or desc");
			return -1;
		}
		free(v);
	}
	return 0;
}

/* Runs one page of the query.  On a bad filter value answers 400. */
static int
audit_query_run(struct api_call *call, struct db *db,
    const struct audit_query *q, int limit, struct db_result **out)
{
	const char *params[9];
	char limit_text[16];
	int i;

	for (i = 0; i < AUDIT_NFILTERS; i++)
		params[i] = q->filters[i];
	params[6] = q->cursor[0] ? q->cursor : NULL;
	params[7] = q->bound[0] ? q->bound : NULL;
	snprintf(limit_text, sizeof(limit_text), "%d", limit);
	params[8] = limit_text;
	if (db_query(db, out, q->ascending ? audit_sql_asc : audit_sql_desc,
	    9, params) == 0)
		return 0;
	if (strncmp(db_sqlstate(db), "22", 2) == 0)	/* a bad date */
		api_error(call, 400, "BAD_PARAMETER", "from and to must be "
		    "RFC 3339 times, e.g. 2026-11-23T12:00:00Z");
	else
		api_db_error(call, db);
	return -1;
}

static json_t *
audit_event_json(struct db_result *r, int i)
{
	json_error_t err;

	return json_pack("{s:I,s:s,s:s,s:s?,s:s,s:s?,s:s?,s:s,s:o,s:s,s:s}",
	    "seq", (json_int_t)strtoll(db_value(r, i, 0), NULL, 10),
	    "at", db_value(r, i, 1), "actor", db_value(r, i, 2),
	    "role", db_isnull(r, i, 3) ? NULL : db_value(r, i, 3),
	    "action", db_value(r, i, 4),
	    "object_type", db_isnull(r, i, 5) ? NULL : db_value(r, i, 5),
	    "object_id", db_isnull(r, i, 6) ? NULL : db_value(r, i, 6),
	    "outcome", db_value(r, i, 7),
	    "details", json_loads(db_value(r, i, 8), 0, &err),
	    "prev_hash", db_value(r, i, 9), "hash", db_value(r, i, 10));
}

/* Reading the trail is an act too; the query text is kept beside the
 * event and chained by its digest only.  Then whatever has committed is
 * chained (the chainer may not have come round yet), so that the reader
 * sees every act that committed before the read, this read included. */
static int
audit_record_read(struct api_call *call, struct db *db, const char *action)
{
	struct audit_event ev = {
		.actor = call->who.name, .role = role_name(call->who.role),
		.action = action, .object_type = "audit",
		.outcome = AUDIT_SUCCESS, .text_name = "query",
		.text = call->query,
	};

	if (audit_record(db, &ev) == -1 || audit_chain_queued(db) == -1) {
		api_db_error(call, db);
		return -1;
	}
	return 0;
}

/* ---- JSON pages ----------------------------------------------------------- */

static void
route_audit_list(struct api_call *call, struct db *db)
{
	struct audit_query q;
	struct db_result *r = NULL;
	char *after = NULL, *end;
	json_t *items;
	int limit, n, i;

	if (audit_query_parse(call, &q, false) == -1 ||
	    api_page(call, &limit, &after) == -1)
		goto out;
	if (after) {
		strtoll(after, &end, 10);
		if (*after == '\0' || *end != '\0' || strlen(after) > 20) {
			api_error(call, 400, "BAD_CURSOR",
			    "after is not a cursor this list gave out");
			goto out;
		}
		snprintf(q.cursor, sizeof(q.cursor), "%s", after);
	}
	if (audit_record_read(call, db, "audit.query") == -1 ||
	    audit_query_run(call, db, &q, limit + 1, &r) == -1)
		goto out;
	n = db_rows(r);
	items = json_array();
	for (i = 0; i < n && i < limit; i++)
		json_array_append_new(items, audit_event_json(r, i));
	api_reply(call, 200, api_list(items, n > limit ?
	    db_value(r, limit - 1, 0) : NULL));
out:
	audit_query_clear(&q);
	free(after);
	db_result_free(r);
}

/* ---- CSV, streamed (csv_stream.c) ----------------------------------------- */

struct audit_csv {
	struct api_call		*call;		/* the stream's */
	struct audit_query	 q;
};

static void
audit_csv_free(void *arg)
{
	struct audit_csv *c = arg;

	audit_query_clear(&c->q);
	free(c);
}

/* Fixes the snapshot (the last seq now) and records the export. */
static void
audit_csv_begin(struct db *db, struct api_call *call, void *arg)
{
	struct audit_csv *c = arg;
	struct db_result *r = NULL;

	if (audit_record_read(call, db, "audit.export") == -1)
		return;
	if (db_query(db, &r, "SELECT COALESCE(max(seq), 0) FROM audit_events",
	    0, NULL) == -1) {
		api_db_error(call, db);
		return;
	}
	snprintf(c->q.bound, sizeof(c->q.bound), "%s", db_value(r, 0, 0));
	db_result_free(r);
	r = NULL;
	/* A filter the database refuses (30 February) is a 400 now, before
	 * the headers, not a stream cut off after them. */
	if (audit_query_run(call, db, &c->q, 1, &r) == 0)
		db_result_free(r);
}

static int
audit_csv_next(struct db *db, void *arg, struct evbuffer *out, bool *done)
{
	struct audit_csv *c = arg;
	struct db_result *r = NULL;
	int n, i, col;

	if (audit_query_run(c->call, db, &c->q, AUDIT_CSV_BATCH, &r) == -1)
		return -1;
	n = db_rows(r);
	for (i = 0; i < n; i++)
		for (col = 0; col < 11; col++) {
			const char *v = db_isnull(r, i, col) ? NULL :
			    db_value(r, i, col);
			char *canon = NULL;
			json_t *j;

			/* details in the canonical form the chain hashes, so
			 * that the CSV alone can be verified */
			if (col == 8 && v && (j = json_loads(v, 0, NULL))) {
				canon = audit_canonical(j);
				json_decref(j);
			}
			csv_field(out, canon ? canon : v, col == 10);
			free(canon);
		}
	if (n > 0)
		snprintf(c->q.cursor, sizeof(c->q.cursor), "%s",
		    db_value(r, n - 1, 0));
	*done = n < AUDIT_CSV_BATCH;
	db_result_free(r);
	return 0;
}

static const struct csv_stream_ops audit_csv_ops = {
	"sailo-audit.csv",
	"seq,at,actor,role,action,object_type,object_id,outcome,details,"
	    "prev_hash,hash\r\n",
	audit_csv_begin, audit_csv_next, audit_csv_free, NULL, NULL,
};

static void *
audit_csv_new(struct api_call *copy)
{
	struct audit_csv *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->call = copy;
	(void)audit_query_parse(copy, &c->q, true);	/* 400 in copy */
	return c;
}

/* GET /v1/audit: JSON pages, or the whole filtered trail as CSV, streamed
 * (batches pulled as the client reads). */
static void
route_audit(struct api_call *call, struct http_request *req)
{
	csv_or_json(call, req, route_audit_list, &audit_csv_ops,
	    audit_csv_new);
}

/* ---- verify and checkpoints ----------------------------------------------- */

static void
route_audit_verify(struct api_call *call, struct db *db)
{
	struct audit_verdict v;
	struct audit_event ev = {
		.actor = call->who.name, .role = role_name(call->who.role),
		.action = "audit.verify", .object_type = "audit",
	};
	json_t *reply;

	if (audit_verify(db, call->app->audit_key, &v) == -1) {
		api_db_error(call, db);
		return;
	}
	reply = audit_verdict_json(&v);
	ev.outcome = v.ok ? AUDIT_SUCCESS : AUDIT_FAILURE;
	ev.details = reply;
	if (audit_record(db, &ev) == -1) {
		json_decref(reply);
		api_db_error(call, db);
		return;
	}
	api_reply(call, 200, reply);
}

static void
route_audit_checkpoints(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	char *after = NULL, limit_text[16], *end;
	const char *params[2];
	json_t *items, *list;
	int limit, n, i;

	if (api_page(call, &limit, &after) == -1)
		return;
	if (after) {
		strtoll(after, &end, 10);
		if (*end != '\0' || strlen(after) > 20) {
			api_error(call, 400, "BAD_CURSOR",
			    "after is not a cursor this list gave out");
			goto out;
		}
	}
	snprintf(limit_text, sizeof(limit_text), "%d", limit + 1);
	params[0] = after;
	params[1] = limit_text;
	if (db_query(db, &r, "SELECT " AUDIT_CHECKPOINT_COLUMNS
	    " FROM audit_checkpoints WHERE $1::bigint IS NULL OR seq < $1 "
	    "ORDER BY seq DESC LIMIT $2::int", 2, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	n = db_rows(r);
	items = json_array();
	for (i = 0; i < n && i < limit; i++) {
		char *msg = audit_checkpoint_message(db_value(r, i, 2),
		    db_value(r, i, 1), db_value(r, i, 3), db_value(r, i, 0));

		json_array_append_new(items, json_pack(
		    "{s:I,s:s,s:s,s:s,s:s,s:s,s:s?}",
		    "seq", (json_int_t)strtoll(db_value(r, i, 0), NULL, 10),
		    "hash", db_value(r, i, 1), "at", db_value(r, i, 2),
		    "key_id", db_value(r, i, 3),
		    "public_key", db_value(r, i, 4),
		    "signature", db_value(r, i, 5), "signed_message", msg));
		free(msg);
	}
	list = api_list(items, n > limit ? db_value(r, limit - 1, 0) : NULL);
	if (call->app->audit_key) {
		json_object_set_new(list, "key_id",
		    json_string(audit_key_id(call->app->audit_key)));
		json_object_set_new(list, "public_key", json_string(
		    audit_key_public_hex(call->app->audit_key)));
	}
	json_object_set_new(list, "algorithm", json_string("Ed25519"));
	api_reply(call, 200, list);
out:
	free(after);
	db_result_free(r);
}

const struct api_route route_audit_rows[] = {
	{ "GET", "/v1/audit", "audit.query", ROLE_AUDITOR, API_BODY_NONE,
	    NULL, route_audit, API_POOL_REQUESTS },
	{ "GET", "/v1/audit/verify", "audit.verify", ROLE_AUDITOR,
	    API_BODY_NONE, route_audit_verify, NULL, API_POOL_JOBS },
	{ "GET", "/v1/audit/checkpoints", "audit.checkpoints", ROLE_AUDITOR,
	    API_BODY_NONE, route_audit_checkpoints, NULL, API_POOL_REQUESTS },
	{ NULL, NULL, NULL, 0, API_BODY_NONE, NULL, NULL, API_POOL_REQUESTS },
};
