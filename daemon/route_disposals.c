/*
 * route_disposals.c — four-eyes disposal (hävittäminen):
 *   POST /v1/disposals               {due_on?, function_code?, record_ids?,
 *                                    note?}: one records manager proposes
 *                                    a batch of what is due then
 *   GET  /v1/disposals[?status=]     newest first
 *   GET  /v1/disposals/{id}          the batch, its counts, a page of items
 *   POST /v1/disposals/{id}/approve  another principal approves
 *   POST /v1/disposals/{id}/reject   {reason}: another principal rejects
 * A proposal snapshots its items: what the destruction list shows of each
 * record (identifiers, class, type, dates, retention; no title, no person
 * identifier).  A held record, a permanent one, one not yet due and one
 * already in an open batch are never proposed.  Four eyes compare
 * principals, never tokens; the database refuses it as well (sql/010).
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "csv_stream.h"
#include "db.h"
#include "http.h"
#include "ingest_jobs.h"
#include "log.h"
#include "package.h"
#include "retention.h"

#define DISPOSAL_MAX_NOTE	2000	/* bytes of a note or a reason */
#define DISPOSAL_MAX_RECORD_IDS	10000

#define BATCH_COLUMNS \
	"b.id, b.status, b.due_on::text, b.function_code, b.note, b.items, " \
	"p.name, " API_SQL_TIME("b.proposed_at") ", q.name, " \
	API_SQL_TIME("b.decided_at") ", b.decision_reason, " \
	API_SQL_TIME("b.started_at") ", " API_SQL_TIME("b.finished_at") ", " \
	"b.proposed_at::text, b.schedule_id"
#define BATCH_FROM \
	" FROM disposal_batches b JOIN principals p ON p.id = b.proposed_by " \
	"LEFT JOIN principals q ON q.id = b.decided_by "

static json_t *
batch_json(struct db_result *r, int i)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:o,s:i,s:s,s:s,s:o,s:o,s:o,s:o,"
	    "s:o,s:o}", "id", db_value(r, i, 0), "status", db_value(r, i, 1),
	    "due_on", db_value(r, i, 2), "function_code",
	    api_text_or_null(r, i, 3), "note", api_text_or_null(r, i, 4),
	    "records", atoi(db_value(r, i, 5)), "proposed_by",
	    db_value(r, i, 6), "proposed_at", db_value(r, i, 7), "decided_by",
	    api_text_or_null(r, i, 8), "decided_at", api_text_or_null(r, i, 9),
	    "decision_reason", api_text_or_null(r, i, 10), "started_at",
	    api_text_or_null(r, i, 11), "finished_at",
	    api_text_or_null(r, i, 12), "schedule_id",
	    api_text_or_null(r, i, 14));
}

/* The batch with its items counted by state; NULL when there is none. */
static json_t *
batch_load(struct db *db, const char *id)
{
	struct db_result *r = NULL, *c = NULL;
	json_t *j = NULL, *counts;
	int i;

	if (db_query(db, &r, "SELECT " BATCH_COLUMNS BATCH_FROM
	    "WHERE b.id = $1::uuid", 1, &id) == -1 || db_rows(r) != 1 ||
	    db_query(db, &c, "SELECT state, count(*) FROM disposal_items "
	    "WHERE batch_id = $1::uuid GROUP BY state", 1, &id) == -1)
		goto out;
	j = batch_json(r, 0);
	counts = json_pack("{s:i,s:i,s:i,s:i,s:i}", "pending", 0, "deleting",
	    0, "destroyed", 0, "skipped", 0, "failed", 0);
	for (i = 0; i < db_rows(c); i++)
		json_object_set_new(counts, db_value(c, i, 0),
		    json_integer(atoi(db_value(c, i, 1))));
	json_object_set_new(j, "counts", counts);
out:
	db_result_free(r);
	db_result_free(c);
	return j;
}

/* A note or a reason: at most DISPOSAL_MAX_NOTE bytes. */
static int
disposal_text(struct api_call *call, json_t *body, const char *name,
    bool required, const char **out)
{
	return api_body_text(call, body, name, required, DISPOSAL_MAX_NOTE,
	    out);
}

/* ---- proposal ------------------------------------------------------------- */

/* Why each record id asked for ($1) is not in batch $3 (NULL: none was
 * made), when due on $2 under function code $4. */
#define LEFT_OUT_SQL \
	"SELECT x.id::text, CASE WHEN r.id IS NULL THEN 'unknown' " \
	"WHEN a.current_version <> r.version THEN 'superseded' " \
	"WHEN " DISPOSAL_TAKEN_SQL("r") " THEN 'in_batch_or_destroyed' " \
	"WHEN t.state = 'permanent' THEN 'permanent' " \
	"WHEN t.state IS DISTINCT FROM 'dated' THEN 'no_end_date' " \
	"WHEN t.end_date > $2::date THEN 'not_yet_due' " \
	"WHEN $4::text IS NOT NULL AND NOT (t.function_code >= $4 AND " \
	"t.function_code < $4 || '!') THEN 'other_function' " \
	"WHEN " HOLD_COVERS_SQL("r") " THEN 'held' ELSE 'not_due' END " \
	"FROM unnest($1::uuid[]) WITH ORDINALITY AS x (id, n) " \
	"LEFT JOIN records r ON r.id = x.id " \
	"LEFT JOIN aips a ON a.id = r.aip_id " \
	"LEFT JOIN retention t ON t.record_id = r.id " \
	"WHERE $3::uuid IS NULL OR NOT EXISTS (SELECT 1 FROM disposal_items " \
	"i WHERE i.batch_id = $3::uuid AND i.record_id = x.id) ORDER BY x.n"

static json_t *
disposal_left_out(struct db *db, const char *ids, const char *due_on,
    const char *batch, const char *code)
{
	struct db_result *r = NULL;
	const char *params[4] = { ids, due_on, batch, code };
	json_t *out;
	int i;

	if (db_query(db, &r, LEFT_OUT_SQL, 4, params) == -1)
		return NULL;
	out = json_array();
	for (i = 0; i < db_rows(r); i++)
		json_array_append_new(out, json_pack("{s:s,s:s}", "record_id",
		    db_value(r, i, 0), "why", db_value(r, i, 1)));
	db_result_free(r);
	return out;
}

static void
route_disposal_propose(struct api_call *call, struct db *db)
{
	struct db_result *today = NULL;
	struct disposal_proposal prop;
	struct ret_date d;
	const char *note, *due_on;
	char *code = NULL, *ids = NULL, batch[37] = "";
	json_t *body, *v, *left = NULL, *reply, *details;
	long items;

	if ((body = api_body_object(call)) == NULL)
		return;
	due_on = json_string_value(v = json_object_get(body, "due_on"));
	if ((v != NULL && !json_is_null(v) && (due_on == NULL ||
	    strlen(due_on) != 10 || !dates_parse(due_on, &d)))) {
		api_error(call, 400, "BAD_FIELD", "due_on: a calendar date, "
		    "YYYY-MM-DD (absent: today in Europe/Helsinki)");
		goto out;
	}
	if ((v = json_object_get(body, "function_code")) != NULL &&
	    !json_is_null(v) && (json_string_value(v) == NULL ||
	    (code = package_function_code(json_string_value(v))) == NULL)) {
		api_error(call, 400, "BAD_FIELD", "function_code: a function "
		    "code (10 03 00 09, 10.03.00.09) or its first groups");
		goto out;
	}
	if (api_uuid_array(call, json_object_get(body, "record_ids"),
	    "record_ids", DISPOSAL_MAX_RECORD_IDS, &ids) == -1 || disposal_text(call, body, "note", false,
	    &note) == -1)
		goto out;
	if (db_begin(db) == -1)
		goto db_failed;
	if (due_on == NULL) {
		if (db_query(db, &today, "SELECT (now() AT TIME ZONE "
		    "'Europe/Helsinki')::date::text", 0, NULL) == -1)
			goto db_failed;
		due_on = db_value(today, 0, 0);
	}
	prop = (struct disposal_proposal){ due_on, code, ids, note,
	    call->who.id, NULL };
	if (disposal_propose(db, &prop, batch, &items) == -1)
		goto db_failed;
	if (ids && (left = disposal_left_out(db, ids, due_on, items > 0 ?
	    batch : NULL, code)) == NULL)
		goto db_failed;
	if (items == 0) {
		db_rollback(db);
		api_error(call, 422, "NOTHING_DUE", "nothing is due on %s%s%s "
		    "that is not held, permanent or in an open batch; no batch "
		    "was made", due_on, code ? " under " : "", code ? code : "");
		if (left)
			json_object_set(json_object_get(call->reply, "error"),
			    "left_out", left);
		goto out;
	}
	details = json_pack("{s:s,s:o,s:I,s:I}", "due_on", due_on,
	    "function_code", code ? json_string(code) : json_null(), "items",
	    (json_int_t)items, "left_out", (json_int_t)json_array_size(left));
	if (api_audit(call, db, "disposal.propose", "disposal", batch,
	    details) == -1) {
		json_decref(details);
		db_rollback(db);
		goto out;
	}
	json_decref(details);
	if (db_commit(db) == -1 || (reply = batch_load(db, batch)) == NULL)
		goto db_failed;
	if (left)
		json_object_set(reply, "left_out", left);
	if (asprintf(&call->location, "/v1/disposals/%s", batch) == -1)
		call->location = NULL;
	api_reply(call, 201, reply);
	goto out;
db_failed:
	api_db_error(call, db);
	if (db_in_transaction(db))
		db_rollback(db);
out:
	json_decref(left);
	db_result_free(today);
	free(code);
	free(ids);
	json_decref(body);
}

/* ---- reading ---------------------------------------------------------------- */

static void
route_disposals_list(struct api_call *call, struct db *db)
{
	static const char *const statuses[] = { "proposed", "rejected",
	    "approved", "running", "done", "partially_executed" };
	char *status = NULL;
	size_t i = 0;

	if (api_query_param(&status, call->query, "status") == -1)
		goto bad;
	for (i = 0; status && i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(status, statuses[i]) == 0)
			break;
	if (i == sizeof(statuses) / sizeof(statuses[0]))
		goto bad;
	api_keyset_list(call, db, "SELECT " BATCH_COLUMNS BATCH_FROM
	    "WHERE ($1::timestamptz IS NULL OR (b.proposed_at, b.id) < "
	    "($1::timestamptz, $2::uuid)) AND ($4::text IS NULL OR "
	    "b.status = $4) ORDER BY b.proposed_at DESC, b.id DESC "
	    "LIMIT $3::int", (const char *[]){ status }, 1, batch_json, 13,
	    0);
	free(status);
	return;
bad:
	api_error(call, 400, "BAD_PARAMETER", "status is proposed, rejected, "
	    "approved, running, done or partially_executed");
	free(status);
}

static json_t *
item_json(struct db_result *r, int i)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,"
	    "s:o,s:s,s:s,s:o,s:o,s:o}", "record_id", db_value(r, i, 0), "aip_id",
	    db_value(r, i, 1), "native_id", db_value(r, i, 2),
	    "case_native_id", api_text_or_null(r, i, 3), "function_code",
	    api_text_or_null(r, i, 4), "class_code", api_text_or_null(r, i, 5),
	    "class_title", api_text_or_null(r, i, 6), "record_type",
	    api_text_or_null(r, i, 7), "created", api_text_or_null(r, i, 8),
	    "years", db_isnull(r, i, 9) ? json_null() :
	    json_integer(atoi(db_value(r, i, 9))), "basis",
	    api_text_or_null(r, i, 10), "trigger", api_text_or_null(r, i, 11),
	    "trigger_date", api_text_or_null(r, i, 12), "end",
	    db_value(r, i, 13), "state", db_value(r, i, 14), "skip_reason",
	    api_text_or_null(r, i, 15), "done_at", api_text_or_null(r, i, 16),
	    "error", api_text_or_null(r, i, 17));
}

/* GET /v1/disposals/{id}: the batch, and a page of its items in record id
 * order (limit, after: the last record id of the page before). */
static void
route_disposal_get(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	char *after = NULL, *next = NULL, limit_text[16];
	const char *params[3];
	json_t *batch = NULL, *items;
	int limit, i, n;

	if (!api_is_uuid(call->params[0])) {
		api_error(call, 404, "NOT_FOUND", "no disposal batch %s",
		    call->params[0]);
		return;
	}
	if (api_page(call, &limit, &after) == -1)
		return;
	if (after && !api_is_uuid(after)) {
		api_error(call, 400, "BAD_CURSOR", "after is not a cursor this "
		    "list gave out");
		goto out;
	}
	if ((batch = batch_load(db, call->params[0])) == NULL) {
		if (db_error(db)[0])
			api_db_error(call, db);
		else
			api_error(call, 404, "NOT_FOUND", "no disposal batch "
			    "%s", call->params[0]);
		goto out;
	}
	params[0] = call->params[0];
	params[1] = after;
	snprintf(limit_text, sizeof(limit_text), "%d", limit + 1);
	params[2] = limit_text;
	if (db_query(db, &r, "SELECT record_id, aip_id, native_id, "
	    "case_native_id, function_code, class_code, class_title, "
	    "record_type, created::text, years, basis, trigger, "
	    "trigger_date::text, end_date::text, state, skip_reason, "
	    API_SQL_TIME("done_at") ", error FROM disposal_items WHERE batch_id = "
	    "$1::uuid AND ($2::uuid IS NULL OR record_id > $2::uuid) ORDER BY "
	    "record_id LIMIT $3::int", 3, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	n = db_rows(r);
	items = json_array();
	for (i = 0; i < n && i < limit; i++)
		json_array_append_new(items, item_json(r, i));
	if (n > limit)
		next = api_cursor_encode(db_value(r, limit - 1, 0));
	json_object_set_new(batch, "items", items);
	json_object_set_new(batch, "next", next ? json_string(next) :
	    json_null());
	api_reply(call, 200, batch);
	batch = NULL;
out:
	json_decref(batch);
	free(after);
	free(next);
	db_result_free(r);
}

/* ---- the destruction list (hävitysluettelo), CSV ------------------------ */

#define LIST_BATCH	1000

struct disposal_csv {
	char	batch[37];
	char	after[37];
};

static void
disposal_csv_begin(struct db *db, struct api_call *call, void *arg)
{
	struct disposal_csv *c = arg;
	struct db_result *r = NULL;
	const char *params[1] = { c->batch };

	if (!api_is_uuid(c->batch)) {
		api_error(call, 404, "NOT_FOUND", "no disposal batch %s",
		    c->batch);
		return;
	}
	if (db_query(db, &r, "SELECT 1 FROM disposal_batches WHERE id = "
	    "$1::uuid", 1, params) == -1) {
		api_db_error(call, db);
		return;
	}
	if (db_rows(r) == 0)
		api_error(call, 404, "NOT_FOUND", "no disposal batch %s",
		    c->batch);
	else
		(void)api_audit(call, db, "disposal.list", "disposal", c->batch,
		    NULL);
	db_result_free(r);
}

static int
disposal_csv_next(struct db *db, void *arg, struct evbuffer *out, bool *done)
{
	struct disposal_csv *c = arg;
	struct db_result *r = NULL;
	char limit[16];
	const char *params[3] = { c->batch, c->after, limit };
	int i, col, n;

	snprintf(limit, sizeof(limit), "%d", LIST_BATCH);
	if (db_query(db, &r, "SELECT batch_id, record_id, native_id, "
	    "case_native_id, aip_id, function_code, class_code, class_title, "
	    "record_type, created::text, years, basis, trigger, "
	    "trigger_date::text, end_date::text, state, skip_reason FROM "
	    "disposal_items WHERE batch_id = $1::uuid AND record_id > "
	    "$2::uuid ORDER BY record_id LIMIT $3::int", 3, params) == -1)
		return -1;
	n = db_rows(r);
	for (i = 0; i < n; i++)
		for (col = 0; col < 17; col++)
			csv_field(out, db_isnull(r, i, col) ? NULL :
			    db_value(r, i, col), col == 16);
	if (n > 0)
		snprintf(c->after, sizeof(c->after), "%s", db_value(r, n - 1,
		    1));
	*done = n < LIST_BATCH;
	db_result_free(r);
	return 0;
}

static const struct csv_stream_ops disposal_csv_ops = {
	"havitysluettelo.csv",
	"batch_id,record_id,native_id,case_native_id,aip_id,function_code,"
	    "class_code,class_title,record_type,created,retention_years,"
	    "retention_basis,trigger,trigger_date,retention_end,state,"
	    "skip_reason\r\n",
	disposal_csv_begin, disposal_csv_next, free, NULL, NULL,
};

static void *
disposal_csv_new(struct api_call *copy)
{
	struct disposal_csv *c;

	if (!api_is_uuid(copy->params[0])) {
		api_error(copy, 404, "NOT_FOUND", "no disposal batch %s",
		    copy->params[0]);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	snprintf(c->batch, sizeof(c->batch), "%s", copy->params[0]);
	snprintf(c->after, sizeof(c->after),
	    "00000000-0000-0000-0000-000000000000");
	return c;
}

/* GET /v1/disposals/{id}: JSON (the batch and a page of items), or with
 * ?format=csv (Accept: text/csv) the whole destruction list, streamed. */
static void
route_disposal_view(struct api_call *call, struct http_request *req)
{
	csv_or_json(call, req, route_disposal_get, &disposal_csv_ops,
	    disposal_csv_new);
}

/* ---- the second pair of eyes -------------------------------------------- */

/*
 * Approve (reason optional) or reject (reason required) a proposed batch:
 * not by the proposer's principal (403, recorded as a denied act), and
 * only while it is proposed (409).
 */
static void
disposal_decide(struct api_call *call, struct db *db, bool approve)
{
	struct db_result *r = NULL;
	const char *reason, *params[4];
	const char *action = approve ? "disposal.approve" : "disposal.reject";
	json_t *body = NULL, *details, *batch;

	if (call->body_len > 0 && (body = api_body_object(call)) == NULL)
		return;
	if (disposal_text(call, body, "reason", !approve, &reason) == -1)
		goto out;
	params[0] = call->params[0];
	if (!api_is_uuid(params[0])) {
		api_error(call, 404, "NOT_FOUND", "no disposal batch %s",
		    params[0]);
		goto out;
	}
	if (db_begin(db) == -1 || db_query(db, &r, "SELECT status, "
	    "proposed_by = $2::uuid FROM disposal_batches WHERE id = $1::uuid "
	    "FOR UPDATE", 2, (const char *[]){ params[0], call->who.id }) == -1)
		goto db_failed;
	if (db_rows(r) == 0) {
		db_rollback(db);
		api_error(call, 404, "NOT_FOUND", "no disposal batch %s",
		    params[0]);
		goto out;
	}
	if (strcmp(db_value(r, 0, 1), "t") == 0) {
		db_rollback(db);
		api_audit_denied(call, db, action, "disposal", params[0],
		    "four_eyes");
		api_error(call, 403, "FOUR_EYES", "you proposed this batch: "
		    "another records manager (another person, not another "
		    "token of yours) must %s it", approve ? "approve" :
		    "reject");
		goto out;
	}
	if (strcmp(db_value(r, 0, 0), "proposed") != 0) {
		api_error(call, 409, "NOT_PROPOSED", "batch %s is %s: only a "
		    "proposed batch is approved or rejected", params[0],
		    db_value(r, 0, 0));
		db_rollback(db);
		goto out;
	}
	params[1] = approve ? "approved" : "rejected";
	params[2] = call->who.id;
	params[3] = reason;
	if (db_query(db, NULL, "UPDATE disposal_batches SET status = $2, "
	    "decided_by = $3::uuid, decided_at = now(), decision_reason = $4 "
	    "WHERE id = $1::uuid", 4, params) == -1)
		goto db_failed;
	details = reason ? json_pack("{s:s}", "reason", reason) : NULL;
	if (api_audit(call, db, action, "disposal", params[0], details) ==
	    -1) {
		json_decref(details);
		db_rollback(db);
		goto out;
	}
	json_decref(details);
	if (db_commit(db) == -1 || (batch = batch_load(db, params[0])) == NULL)
		goto db_failed;
	if (approve && asprintf(&call->location, "/v1/disposals/%s",
	    params[0]) == -1)
		call->location = NULL;
	if (approve)
		ingest_jobs_kick(call->app->ingest);	/* carry it out */
	/* Approving starts work (the destruction): 202. */
	api_reply(call, approve ? 202 : 200, batch);
	goto out;
db_failed:
	api_db_error(call, db);
	if (db_in_transaction(db))
		db_rollback(db);
out:
	db_result_free(r);
	json_decref(body);
}

static void
route_disposal_approve(struct api_call *call, struct db *db)
{
	disposal_decide(call, db, true);
}

static void
route_disposal_reject(struct api_call *call, struct db *db)
{
	disposal_decide(call, db, false);
}

/* ---- the certificate ------------------------------------------------------ */

/* GET /v1/disposals/{id}/certificate: {"certificate": …, "signature": …}
 * (retention/certificate.c says what is signed); the stored canonical
 * text goes out as it is, never parsed again here. */
static void
route_disposal_certificate(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	const char *params[1] = { call->params[0] };
	char *sig = NULL, *text = NULL;
	json_t *s;

	if (!api_is_uuid(params[0])) {
		api_error(call, 404, "NOT_FOUND", "no disposal batch %s",
		    params[0]);
		return;
	}
	if (db_query(db, &r, "SELECT b.status, c.certificate, c.key_id, "
	    "encode(c.public_key, 'hex'), encode(c.certificate_sha256, 'hex'), "
	    "encode(c.signature, 'hex') FROM disposal_batches b LEFT JOIN "
	    "disposal_certificates c ON c.batch_id = b.id WHERE b.id = $1::uuid",
	    1, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	if (db_rows(r) == 0) {
		api_error(call, 404, "NOT_FOUND", "no disposal batch %s",
		    params[0]);
		goto out;
	}
	if (db_isnull(r, 0, 1)) {
		api_error(call, 409, "NOT_FINISHED", "batch %s is %s: its "
		    "certificate is issued when it has been carried out",
		    params[0], db_value(r, 0, 0));
		goto out;
	}
	s = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "algorithm", "Ed25519",
	    "key_id", db_value(r, 0, 2), "public_key", db_value(r, 0, 3),
	    "certificate_sha256", db_value(r, 0, 4), "value",
	    db_value(r, 0, 5), "signs", "RFC 8785 canonical JSON of "
	    "{batch_id, certificate_sha256, key_id}; certificate_sha256 is "
	    "the SHA-256 of the certificate's RFC 8785 canonical JSON");
	sig = json_dumps(s, JSON_COMPACT);
	json_decref(s);
	if (sig == NULL || asprintf(&text, "{\"certificate\":%s,"
	    "\"signature\":%s}\n", db_value(r, 0, 1), sig) == -1)
		text = NULL;
	api_reply_text(call, 200, "application/json", text);
out:
	free(sig);
	db_result_free(r);
}

/* ---- schedules ------------------------------------------------------------- */

#define SCHEDULE_COLUMNS \
	"s.id, s.every, s.day, s.function_code, s.note, o.name, " \
	API_SQL_TIME("s.created_at") ", " API_SQL_TIME("s.next_run_at") ", " \
	API_SQL_TIME("s.last_run_at") ", " API_SQL_TIME("s.deleted_at") ", " \
	"d.name, s.created_at::text"
#define SCHEDULE_FROM \
	" FROM disposal_schedules s JOIN principals o ON o.id = s.owner " \
	"LEFT JOIN principals d ON d.id = s.deleted_by "

static json_t *
schedule_json(struct db_result *r, int i)
{
	return json_pack("{s:s,s:s,s:i,s:o,s:o,s:s,s:s,s:o,s:o,s:o,s:o}",
	    "id", db_value(r, i, 0), "every", db_value(r, i, 1), "day",
	    atoi(db_value(r, i, 2)), "function_code", api_text_or_null(r, i, 3),
	    "note", api_text_or_null(r, i, 4), "owner", db_value(r, i, 5),
	    "created_at", db_value(r, i, 6), "next_run_at",
	    db_isnull(r, i, 9) ? api_text_or_null(r, i, 7) : json_null(),
	    "last_run_at", api_text_or_null(r, i, 8), "deleted_at",
	    api_text_or_null(r, i, 9), "deleted_by",
	    api_text_or_null(r, i, 10));
}

static json_t *
schedule_load(struct db *db, const char *id)
{
	struct db_result *r = NULL;
	json_t *j = NULL;

	if (db_query(db, &r, "SELECT " SCHEDULE_COLUMNS SCHEDULE_FROM
	    "WHERE s.id = $1::uuid", 1, &id) == 0 && db_rows(r) == 1)
		j = schedule_json(r, 0);
	db_result_free(r);
	return j;
}

static void
route_schedule_create(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	const char *every, *note, *params[6];
	char *code = NULL, day[8];
	json_t *body, *v, *details, *sched;
	json_int_t n;

	if ((body = api_body_object(call)) == NULL)
		return;
	every = json_string_value(json_object_get(body, "every"));
	v = json_object_get(body, "day");
	n = json_is_integer(v) ? json_integer_value(v) : 0;
	if (every == NULL || (strcmp(every, "month") != 0 &&
	    strcmp(every, "quarter") != 0 && strcmp(every, "year") != 0)) {
		api_error(call, 400, "BAD_FIELD", "every: month, quarter or "
		    "year");
		goto out;
	}
	if (n < 1 || n > 31) {
		api_error(call, 400, "BAD_FIELD", "day: the day of the month, "
		    "1 to 31 (29 to 31: the last day of a shorter month)");
		goto out;
	}
	if ((v = json_object_get(body, "function_code")) != NULL &&
	    !json_is_null(v) && (json_string_value(v) == NULL ||
	    (code = package_function_code(json_string_value(v))) == NULL)) {
		api_error(call, 400, "BAD_FIELD", "function_code: a function "
		    "code (10 03 00 09, 10.03.00.09) or its first groups");
		goto out;
	}
	if (disposal_text(call, body, "note", false, &note) == -1)
		goto out;
	snprintf(day, sizeof(day), "%d", (int)n);
	params[0] = every;
	params[1] = day;
	params[2] = code;
	params[3] = note;
	params[4] = call->who.id;
	if (db_begin(db) == -1 || db_query(db, &r, "INSERT INTO "
	    "disposal_schedules (id, every, day, function_code, note, owner, "
	    "next_run_at) VALUES (gen_random_uuid(), $1, $2::int, $3, $4, "
	    "$5::uuid, disposal_schedule_next($1, $2::int, now())) RETURNING "
	    "id", 5, params) == -1)
		goto db_failed;
	details = json_pack("{s:s,s:i,s:o}", "every", every, "day", (int)n,
	    "function_code", code ? json_string(code) : json_null());
	if (api_audit(call, db, "disposal_schedule.create",
	    "disposal_schedule", db_value(r, 0, 0), details) == -1) {
		json_decref(details);
		db_rollback(db);
		goto out;
	}
	json_decref(details);
	if (db_commit(db) == -1 ||
	    (sched = schedule_load(db, db_value(r, 0, 0))) == NULL)
		goto db_failed;
	if (asprintf(&call->location, "/v1/disposal-schedules/%s",
	    db_value(r, 0, 0)) == -1)
		call->location = NULL;
	api_reply(call, 201, sched);
	goto out;
db_failed:
	api_db_error(call, db);
	if (db_in_transaction(db))
		db_rollback(db);
out:
	db_result_free(r);
	free(code);
	json_decref(body);
}

static void
route_schedules_list(struct api_call *call, struct db *db)
{
	api_keyset_list(call, db, "SELECT " SCHEDULE_COLUMNS SCHEDULE_FROM
	    "WHERE ($1::timestamptz IS NULL OR (s.created_at, s.id) < "
	    "($1::timestamptz, $2::uuid)) ORDER BY s.created_at DESC, s.id "
	    "DESC LIMIT $3::int", NULL, 0, schedule_json, 11, 0);
}

/* DELETE: the schedule stops; its row stays, saying who stopped it. */
static void
route_schedule_delete(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	const char *params[2] = { call->params[0], call->who.id };
	json_t *sched;

	if (!api_is_uuid(params[0])) {
		api_error(call, 404, "NOT_FOUND", "no disposal schedule %s",
		    params[0]);
		return;
	}
	if (db_begin(db) == -1 || db_query(db, &r, "UPDATE disposal_schedules "
	    "SET deleted_at = now(), deleted_by = $2::uuid WHERE id = $1::uuid "
	    "AND deleted_at IS NULL RETURNING id", 2, params) == -1)
		goto db_failed;
	if (db_rows(r) == 0) {
		db_rollback(db);
		api_error(call, 404, "NOT_FOUND", "no disposal schedule %s (or "
		    "it was deleted before)", params[0]);
		goto out;
	}
	if (api_audit(call, db, "disposal_schedule.delete",
	    "disposal_schedule", params[0], NULL) == -1) {
		db_rollback(db);
		goto out;
	}
	if (db_commit(db) == -1 || (sched = schedule_load(db, params[0])) ==
	    NULL)
		goto db_failed;
	api_reply(call, 200, sched);
	goto out;
db_failed:
	api_db_error(call, db);
	if (db_in_transaction(db))
		db_rollback(db);
out:
	db_result_free(r);
}

const struct api_route route_disposals_rows[] = {
	{ "POST", "/v1/disposal-schedules", "disposal_schedule.create",
	    ROLE_RECORDS_MANAGER, API_BODY_JSON, route_schedule_create, NULL,
	    API_POOL_REQUESTS },
	{ "GET", "/v1/disposal-schedules", "disposal_schedule.list",
	    ROLE_RECORDS_MANAGER | ROLE_AUDITOR, API_BODY_NONE,
	    route_schedules_list, NULL, API_POOL_REQUESTS },
	{ "DELETE", "/v1/disposal-schedules/{id}", "disposal_schedule.delete",
	    ROLE_RECORDS_MANAGER, API_BODY_NONE, route_schedule_delete, NULL,
	    API_POOL_REQUESTS },
	/* A proposal by function code walks what is due. */
	{ "POST", "/v1/disposals", "disposal.propose", ROLE_RECORDS_MANAGER,
	    API_BODY_JSON, route_disposal_propose, NULL, API_POOL_JOBS },
	{ "GET", "/v1/disposals", "disposal.list", ROLE_RECORDS_MANAGER |
	    ROLE_AUDITOR, API_BODY_NONE, route_disposals_list, NULL,
	    API_POOL_REQUESTS },
	{ "GET", "/v1/disposals/{id}", "disposal.get", ROLE_RECORDS_MANAGER |
	    ROLE_AUDITOR, API_BODY_NONE, NULL, route_disposal_view,
	    API_POOL_REQUESTS },
	{ "POST", "/v1/disposals/{id}/approve", "disposal.approve",
	    ROLE_RECORDS_MANAGER, API_BODY_JSON, route_disposal_approve, NULL,
	    API_POOL_REQUESTS },
	{ "GET", "/v1/disposals/{id}/certificate", "disposal.certificate",
	    ROLE_RECORDS_MANAGER | ROLE_AUDITOR, API_BODY_NONE,
	    route_disposal_certificate, NULL, API_POOL_REQUESTS },
	{ "POST", "/v1/disposals/{id}/reject", "disposal.reject",
	    ROLE_RECORDS_MANAGER, API_BODY_JSON, route_disposal_reject, NULL,
	    API_POOL_REQUESTS },
	{ NULL, NULL, NULL, 0, API_BODY_NONE, NULL, NULL, API_POOL_REQUESTS },
};
