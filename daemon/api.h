/*
 * api.h — what a route file needs: the call that carries one API request
 * through auth, its body, its work on a request worker and its JSON reply.
 *
 * A route is a row in the table in api.c.  Most routes are one function
 * that runs on a request worker with its own database connection and fills
 * call->status and call->reply (or calls api_error()); api.c does the rest
 * on the loop thread: matching, auth, reading the body, the reply.
 */
#ifndef SAILO_API_H
#define SAILO_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct audit_key;
struct db;
struct event_base;
struct http_request;
struct metrics;
struct health;
struct tls_map;
struct workers;

enum role {
	ROLE_INTEGRATION	= 1 << 0,
	ROLE_RECORDS_MANAGER	= 1 << 1,
	ROLE_AUDITOR		= 1 << 2,
	ROLE_ADMIN		= 1 << 3,
};
#define ROLE_ANY (ROLE_INTEGRATION | ROLE_RECORDS_MANAGER | ROLE_AUDITOR | \
	ROLE_ADMIN)

/* The host services that routes use, made once by `sailo serve`. */
struct app {
	const struct config	*cfg;
	struct event_base	*base;
	struct workers		*requests;	/* short SQL for API calls */
	struct workers		*jobs;		/* ingest, disposal, … */
	struct metrics		*metrics;
	struct health		*health;
	struct audit_key	*audit_key;	/* signs checkpoints */
	struct ingest_jobs	*ingest;	/* keeps transfers moving */
	struct tls_map		*client_map;	/* server.client_map, or NULL */
};

struct principal {
	char	id[37];
	char	token_id[37];
	char	name[201];
	enum role role;
	json_t	*clearance;		/* array of strings */
};

#define API_MAX_PARAMS 3

struct api_call {
	struct app		*app;
	const struct api_route	*route;
	struct principal	 who;
	char			*params[API_MAX_PARAMS]; /* {id} in the path */
	char			*query;		/* raw query string */
	char			*body;		/* gathered JSON body, NUL-ended */
	size_t			 body_len;
	char			 peer[64];

	/* The reply, filled on the worker. */
	int			 status;
	json_t			*reply;		/* owned; sent as JSON */
	char			*location;	/* Location header, or NULL */
	char			*retry_after;	/* Retry-After header, or NULL */
	json_t			*headers;	/* more headers {name: value} */
	char			*clearance_text; /* api_clearance() */
	char			*text;		/* or a body of another type */
	const char		*text_type;
};

/* API_BODY_XML: application/xml or text/xml, up to
 * retention.max_plan_bytes (the only XML body is a plan). */
enum api_body { API_BODY_NONE, API_BODY_JSON, API_BODY_XML };
enum api_pool { API_POOL_REQUESTS, API_POOL_JOBS };

struct api_route {
	const char	*method;
	const char	*pattern;	/* "/v1/tokens/{id}" */
	const char	*name;		/* metrics and log label */
	unsigned	 roles;		/* 0 = no auth */
	enum api_body	 body;
	/* Runs on a request worker.  db may fail: answer 503 then. */
	void		(*work)(struct api_call *call, struct db *db);
	/* Or, for routes that touch nothing but memory: on the loop. */
	void		(*on_loop)(struct api_call *call,
			    struct http_request *req);
	/* Long work (a walk through a whole table) runs on the job pool, so
	 * that it never starves the API. */
	enum api_pool	 pool;
};

/* The table of routes lives in api.c; route files export their rows. */
void	api_start(struct app *app);	/* timers of the API layer */
void	api_stop(struct app *app);	/* before the pools stop */
void	api_on_request(struct http_request *req, void *arg);
void	api_on_done(struct http_request *req, void *arg);

/* A copy of call for work that outlives the on-loop route that got it
 * (api.c frees the original when such a route returns); NULL on ENOMEM. */
struct api_call *api_call_copy(const struct api_call *call);

/* For routes with a path of their own (streams): api_finish sends call's
 * reply to req when req is not NULL, then frees call; api_respond sends
 * it and keeps call; api_call_free frees one. */
void	api_finish(struct http_request *req, void *call);
void	api_respond(struct http_request *req, struct api_call *call);
void	api_call_free(struct api_call *call);

/* Replies (on the worker, into the call).  A 204 goes without a body. */
void	api_header(struct api_call *call, const char *name, const char *value);
void	api_error(struct api_call *call, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	api_db_error(struct api_call *call, struct db *db);
void	api_reply(struct api_call *call, int status, json_t *reply);
/* A reply that is not JSON (an HTML page, CSV): text is taken over
 * (NULL: 500). */
void	api_reply_text(struct api_call *call, int status, const char *type,
	    char *text);
/* The error body {"error":{"code","message"}}; the caller owns it. */
json_t	*api_error_body(const char *code, const char *message);

/* Records an act by the caller's principal in db's transaction (or alone
 * when there is none); details stay the caller's.  0, or -1 (the reply is
 * then set to 503). */
int	api_audit(struct api_call *call, struct db *db, const char *action,
	    const char *object_type, const char *object_id, json_t *details);

/* api_audit with free text kept beside the event and chained by its
 * SHA-256 only (a search query): details gain "<text_name>_sha256". */
int	api_audit_text(struct api_call *call, struct db *db, const char *action,
	    const char *object_type, const char *object_id, json_t *details,
	    const char *text_name, const char *text);

/* A refused act (outcome denied, details {"why": why}), alone: the caller
 * has rolled back or is in no transaction.  A failure to record it is
 * logged; the refusal's reply stands either way. */
void	api_audit_denied(struct api_call *call, struct db *db,
	    const char *action, const char *object_type, const char *object_id,
	    const char *why);
/* ?version=N (a number from 1) into *version (malloc'd; NULL when
 * absent).  0, or -1 after 400. */
int	api_version_param(struct api_call *call, char **version);

/* The caller's clearance as JSON text for API_SQL_CLEARANCE ("[]" when
 * none); points into a buffer of call (valid while call lives), or NULL
 * on ENOMEM. */
const char *api_clearance(struct api_call *call);
/* Parameter $n (API_SQL_CLEARANCE("3")) as the text[] that
 * record_readable() (sql/011) takes. */
#define API_SQL_CLEARANCE(n) \
	"ARRAY(SELECT jsonb_array_elements_text($" n "::jsonb))"

/* Whether every kept record and every case file of AIP $1 is readable
 * with clearance $n (sql/011 record_readable): the condition for its
 * title, its metadata files (sahke2.xml names every title) and an
 * export. */
#define API_SQL_AIP_READABLE(n) \
	"(NOT EXISTS (SELECT 1 FROM records y WHERE y.aip_id = $1::uuid AND " \
	"y.destroyed_by IS NULL AND NOT record_readable(y.publicity, " \
	"y.personal_data, " API_SQL_CLEARANCE(n) ")) AND NOT EXISTS (SELECT " \
	"1 FROM case_files z WHERE z.aip_id = $1::uuid AND NOT " \
	"record_readable(z.publicity, z.personal_data, " \
	API_SQL_CLEARANCE(n) ")))"

/* The JSON body as an object; on failure answers 400/415 and returns NULL. */
json_t	*api_body_object(struct api_call *call);
/* Text field name of body, at most max bytes (required: present and not
 * blank) into *out (NULL when absent).  0, or -1 after 400. */
int	 api_body_text(struct api_call *call, json_t *body, const char *name,
	    bool required, size_t max, const char **out);
/* v, an array of 1 to max UUIDs, as a PostgreSQL array "{uuid,…}"
 * (malloc'd in *out; NULL when v is absent or null).  0, or -1 after 400
 * naming field. */
int	 api_uuid_array(struct api_call *call, json_t *v, const char *field,
	    size_t max, char **out);
/* A query parameter, percent-decoded into *out (malloc'd).  Returns 1 when
 * present, 0 when absent, -1 when its escapes are bad (*out NULL then). */
int	 api_query_param(char **out, const char *query, const char *name);
/* limit (1–1000, default 100) and after (opaque cursor, decoded).  Returns
 * 0, or -1 after answering 400. */
int	 api_page(struct api_call *call, int *limit, char **after);
/* api_page for lists ordered by (time, id) whose cursor is "time|uuid":
 * *after is the time (malloc'd), *after_id points into it (or both NULL). */
int	 api_page_keyset(struct api_call *call, int *limit, char **after,
	    const char **after_id);
/* Answers a keyset page from r, queried with LIMIT limit + 1: item(r, i)
 * for the first limit rows, and when there are more, a cursor "time|id"
 * from columns time_col and id_col of the last one.  A failed keyset query
 * is 400 when the database could not read the cursor's time, else 503. */
struct db_result;
void	 api_reply_keyset_page(struct api_call *call, struct db_result *r,
	    int limit, json_t *(*item)(struct db_result *, int), int time_col,
	    int id_col);
void	 api_keyset_query_error(struct api_call *call, struct db *db);
/* A whole keyset list route, newest first: sql reads $1 the cursor's time
 * and $2 its id (NULL on the first page), $3 the rows to read (LIMIT
 * $3::int), then $4… the nfilters filter values (NULL: not given); item
 * gives a row's JSON, time_col and id_col the next cursor.  Answers 400
 * for a bad limit or cursor. */
#define API_KEYSET_FILTERS_MAX	4
void	 api_keyset_list(struct api_call *call, struct db *db,
	    const char *sql, const char *const *filters, int nfilters,
	    json_t *(*item)(struct db_result *, int), int time_col,
	    int id_col);
/* Column col of row i as a JSON string, or null when it is NULL. */
json_t	*api_text_or_null(struct db_result *r, int i, int col);
char	*api_cursor_encode(const char *plain);	/* malloc'd */
char	*api_cursor_decode(const char *cursor);	/* malloc'd or NULL */
json_t	*api_list(json_t *items, const char *next_plain);

/* True for an RFC 3339 time (2026-11-23T12:00:00Z, with an offset or a
 * fraction) or a calendar date (2026-11-23). */
bool	 api_is_rfc3339(const char *s);
/* True when s is a UUID in its canonical text form. */
bool	 api_is_uuid(const char *s);
/* RFC 3339 UTC text of a timestamptz column, for SELECT lists. */
#define API_SQL_TIME(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

const char	*role_name(enum role r);
int		 role_parse(const char *s, enum role *out);

/* Route rows exported by route files. */
extern const struct api_route route_health_rows[];
void	route_health_init(void);
extern const struct api_route route_tokens_rows[];
extern const struct api_route route_audit_rows[];
extern const struct api_route route_plan_rows[];
extern const struct api_route route_retention_rows[];
extern const struct api_route route_transfers_rows[];
extern const struct api_route route_uploads_rows[];
extern const struct api_route route_aips_rows[];
extern const struct api_route route_files_rows[];
extern const struct api_route route_holds_rows[];
extern const struct api_route route_disposals_rows[];

#endif
