/*
 * route_aips.c — the catalogue: GET /v1/aips/{id} (files and versions),
 * GET /v1/records (filters and Finnish full text), GET /v1/records/{id}
 * (with its documents) and POST /v1/persons/records (a data subject's
 * records).  Records managers and auditors read them; each read is an
 * act in the audit trail, and a record the caller's clearance does not
 * cover shows that it exists and no more (sql/011 record_readable).
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "ingest.h"
#include "package.h"
#include "search.h"

/* The record columns that record_json() reads; cl is the parameter
 * number of the caller's clearance (api_clearance()). */
#define RECORD_COLUMNS(cl) \
	"r.id, r.aip_id, r.version, r.transfer_id, r.native_id, r.title, " \
	"r.description, r.type, r.status, r.function_code, r.created::text, " \
	"r.publicity, r.personal_data, r.retention_period, " \
	"r.retention_reason, r.retention_end::text, r.retention_trigger, " \
	"c.native_id, c.title, t.state, t.years, t.basis, t.trigger, " \
	"t.trigger_date::text, t.end_date::text, t.source, t.plan_version, " \
	"t.class_code, t.record_type, t.disagreement::text, " \
	"r.destroyed_by, " API_SQL_TIME("r.destroyed_at") ", " \
	"record_readable(r.publicity, r.personal_data, " API_SQL_CLEARANCE(cl) \
	"), record_readable(c.publicity, c.personal_data, " \
	API_SQL_CLEARANCE(cl) ")"
/* Whether the caller may read record row i (column 32) and its case
 * file's title (33): restricted records show that they exist, no more. */
#define RECORD_READABLE(r, i)	(strcmp(db_value(r, i, 32), "t") == 0)
#define CASE_READABLE(r, i)	(strcmp(db_value(r, i, 33), "t") == 0)
/* The retention Sailo decided (sql/007), beside what was submitted. */
#define RECORD_RETENTION_JOIN " LEFT JOIN retention t ON t.record_id = r.id "

/* The decided retention from column col on: period, basis, trigger and
 * its date, end, state, whose period and which plan version and class,
 * and where the package and the plan disagreed. */
static json_t *
retention_json(struct db_result *r, int i, int col)
{
	json_t *o, *dis;

	if (db_isnull(r, i, col))
		return json_null();	/* catalogued before sql/007 */
	dis = db_isnull(r, i, col + 10) ? json_null() :
	    json_loads(db_value(r, i, col + 10), 0, NULL);
	o = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o}",
	    "state", db_value(r, i, col), "years", db_isnull(r, i, col + 1) ?
	    json_null() : json_integer(atoi(db_value(r, i, col + 1))),
	    "basis", api_text_or_null(r, i, col + 2), "trigger",
	    api_text_or_null(r, i, col + 3), "trigger_date",
	    api_text_or_null(r, i, col + 4), "end", api_text_or_null(r, i, col + 5),
	    "source", db_value(r, i, col + 6), "plan_version",
	    db_isnull(r, i, col + 7) ? json_null() :
	    json_integer(atoi(db_value(r, i, col + 7))), "class_code",
	    api_text_or_null(r, i, col + 8), "record_type",
	    api_text_or_null(r, i, col + 9), "disagreement", dis ? dis :
	    json_null());
	return o;
}

static json_t *
record_json(struct db_result *r, int i)
{
	static const char *const names[] = { "id", "aip_id", NULL,
	    "transfer_id", "native_id", "title", "description", "type",
	    "status", "function_code", "created", "publicity",
	    "personal_data", NULL, "retention_reason", "retention_end",
	    "retention_trigger" };
	json_t *o = json_object();
	size_t k;

	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (names[k])
			json_object_set_new(o, names[k], api_text_or_null(r, i,
			    (int)k));
	json_object_set_new(o, "version", json_integer(atoi(db_value(r, i,
	    2))));
	json_object_set_new(o, "retention_period", db_isnull(r, i, 13) ?
	    json_null() : json_integer(atoi(db_value(r, i, 13))));
	json_object_set_new(o, "case_file", db_isnull(r, i, 17) ?
	    json_null() : json_pack("{s:s,s:o}", "native_id",
	    db_value(r, i, 17), "title", RECORD_READABLE(r, i) &&
	    CASE_READABLE(r, i) ? api_text_or_null(r, i, 18) : json_null()));
	/* Not the caller's to read: that it exists, no title and no
	 * description (either may name a person). */
	json_object_set_new(o, "restricted", json_boolean(!RECORD_READABLE(r,
	    i)));
	if (!RECORD_READABLE(r, i)) {
		json_object_set_new(o, "title", json_null());
		json_object_set_new(o, "description", json_null());
	}
	json_object_set_new(o, "retention", retention_json(r, i, 19));
	/* Destroyed by disposal: what stays is the tombstone. */
	json_object_set_new(o, "destroyed", db_isnull(r, i, 30) ? json_null() :
	    json_pack("{s:s,s:o}", "disposal_batch", db_value(r, i, 30), "at",
	    api_text_or_null(r, i, 31)));
	return o;
}

/* A file; one of a record the caller may not read shows no path (a file
 * name may name a person) and no digest. */
static json_t *
file_json(struct db_result *r, int i)
{
	bool readable = strcmp(db_value(r, i, 7), "t") == 0;

	return json_pack("{s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:b}", "path",
	    readable ? json_string(db_value(r, i, 0)) : json_null(), "size",
	    (json_int_t)strtoll(db_value(r, i, 1), NULL, 10), "sha256",
	    readable ? json_string(db_value(r, i, 2)) : json_null(),
	    "declared_format", api_text_or_null(r, i, 3), "mime_type",
	    api_text_or_null(r, i, 4), "record_id", api_text_or_null(r, i, 5),
	    "document_native_id", api_text_or_null(r, i, 6), "restricted",
	    !readable);
}

static json_t *
rows_json(struct db_result *r, json_t *(*item)(struct db_result *, int))
{
	json_t *a = json_array();
	int i;

	for (i = 0; i < db_rows(r); i++)
		json_array_append_new(a, item(r, i));
	return a;
}

/* From files f LEFT JOIN records x ON x.id = f.record_id. */
#define FILE_COLUMNS(cl) \
	"f.path, f.size, encode(f.sha256, 'hex'), f.declared_format, " \
	"f.mime_type, f.record_id, f.document_native_id, x.id IS NULL OR " \
	"record_readable(x.publicity, x.personal_data, " \
	API_SQL_CLEARANCE(cl) ")"

static void
route_aips_get(struct api_call *call, struct db *db)
{
	struct db_result *a = NULL, *v = NULL, *f = NULL, *r = NULL;
	char *version = NULL, current[16];
	const char *params[3] = { call->params[0], NULL, NULL };
	json_t *aip, *versions, *details;
	int i;

	if (!api_is_uuid(call->params[0])) {
		api_error(call, 404, "NOT_FOUND", "no AIP %s", call->params[0]);
		return;
	}
	if (api_version_param(call, &version) == -1)
		goto out;
	if ((params[2] = api_clearance(call)) == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		goto out;
	}
	/* The AIP's title is its case file's: shown only when all that the
	 * AIP keeps, in any version, is the caller's to read. */
	if (db_query(db, &a, "SELECT a.id, a.native_id, CASE WHEN "
	    API_SQL_AIP_READABLE("2") " THEN a.title END, "
	    "a.current_version, p.name, " API_SQL_TIME("a.created_at") ", "
	    API_SQL_TIME("a.updated_at") " FROM aips a JOIN principals p ON "
	    "p.id = a.source WHERE a.id = $1", 2, (const char *[]){
	    params[0], params[2] }) == -1)
		goto db_failed;
	if (db_rows(a) != 1) {
		api_error(call, 404, "NOT_FOUND", "no AIP %s", call->params[0]);
		goto out;
	}
	snprintf(current, sizeof(current), "%s", db_value(a, 0, 3));
	params[1] = version ? version : current;
	if (db_query(db, &v, "SELECT version, transfer_id, "
	    API_SQL_TIME("created_at") ", files, bytes, "
	    "encode(tagmanifest_sha256, 'hex'), disposal_batch FROM "
	    "aip_versions WHERE aip_id = $1 ORDER BY version", 1,
	    params) == -1 ||
	    db_query(db, &f, "SELECT " FILE_COLUMNS("3") " FROM files f "
	    "LEFT JOIN records x ON x.id = f.record_id WHERE f.aip_id = $1 "
	    "AND f.version = $2::int AND f.destroyed_by IS NULL ORDER BY "
	    "f.path", 3, params) == -1 ||
	    db_query(db, &r, "SELECT " RECORD_COLUMNS("3") " FROM records r "
	    "LEFT JOIN case_files c ON c.id = r.case_file_id"
	    RECORD_RETENTION_JOIN "WHERE r.aip_id = $1 "
	    "AND r.version = $2::int ORDER BY r.native_id, r.id", 3,
	    params) == -1)
		goto db_failed;
	if (version && db_rows(f) == 0) {
		api_error(call, 404, "NOT_FOUND", "AIP %s has no version %s",
		    call->params[0], version);
		goto out;
	}
	/* Every read is an act (tiedonhallintalaki § 17). */
	details = json_pack("{s:i}", "version", atoi(params[1]));
	i = api_audit(call, db, "aip.read", "aip", call->params[0], details);
	json_decref(details);
	if (i == -1)
		goto out;
	versions = json_array();
	for (i = 0; i < db_rows(v); i++)
		/* A version is made by a transfer, or by disposal. */
		json_array_append_new(versions, json_pack("{s:i,s:o,s:o,s:s,"
		    "s:i,s:I,s:s}", "version", atoi(db_value(v, i, 0)),
		    "transfer_id", api_text_or_null(v, i, 1), "disposal_batch",
		    api_text_or_null(v, i, 6), "created_at",
		    db_value(v, i, 2), "files", atoi(db_value(v, i, 3)),
		    "bytes", (json_int_t)strtoll(db_value(v, i, 4), NULL, 10),
		    "tagmanifest_sha256", db_value(v, i, 5)));
	aip = json_pack("{s:s,s:s,s:o,s:i,s:s,s:s,s:s,s:i,s:o,s:o,s:o}",
	    "id", db_value(a, 0, 0), "native_id", db_value(a, 0, 1), "title",
	    api_text_or_null(a, 0, 2), "current_version", atoi(current), "source",
	    db_value(a, 0, 4), "created_at", db_value(a, 0, 5), "updated_at",
	    db_value(a, 0, 6), "version", atoi(params[1]), "versions",
	    versions, "files", rows_json(f, file_json), "records",
	    rows_json(r, record_json));
	api_reply(call, 200, aip);
	goto out;
db_failed:
	api_db_error(call, db);
out:
	free(version);
	db_result_free(a);
	db_result_free(v);
	db_result_free(f);
	db_result_free(r);
}

/* limit, and after: a record id this list gave out.  0, or -1 after 400. */
static int
records_page_args(struct api_call *call, int *limit, char **after)
{
	if (api_page(call, limit, after) == -1)
		return -1;
	if (*after && !api_is_uuid(*after)) {
		free(*after);
		*after = NULL;
		api_error(call, 400, "BAD_CURSOR", "after is not a cursor "
		    "this list gave out");
		return -1;
	}
	return 0;
}

/* A page of records from r, read with LIMIT limit + 1 in id order; *next
 * is the last one's id when there are more (malloc'd), else NULL. */
static json_t *
records_page(struct db_result *r, int limit, char **next)
{
	json_t *items = json_array();
	int i;

	for (i = 0; i < db_rows(r) && i < limit; i++)
		json_array_append_new(items, record_json(r, i));
	*next = db_rows(r) > limit ? strdup(db_value(r, limit - 1, 0)) : NULL;
	return items;
}

static void
route_records_list(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	char *after = NULL, *transfer = NULL, *function = NULL, *code = NULL;
	char *from = NULL, *to = NULL, *publicity = NULL, *q = NULL;
	char *due_before = NULL, *words_text = NULL;
	char limit_text[16], *next = NULL;
	const char *params[10] = { NULL };
	json_t *items, *words = NULL, *details;
	int too_many;
	int limit, n, i;

	if (records_page_args(call, &limit, &after) == -1)
		return;
	if (api_query_param(&transfer, call->query, "transfer_id") == -1 ||
	    (transfer && !api_is_uuid(transfer)) ||
	    api_query_param(&function, call->query, "function") == -1 ||
	    (function && (code = package_function_code(function)) == NULL)) {
		api_error(call, 400, "BAD_PARAMETER", "transfer_id is a UUID "
		    "and function a function code (10 03 or 10.03)");
		goto out;
	}
	if (api_query_param(&from, call->query, "from") == -1 ||
	    api_query_param(&to, call->query, "to") == -1 ||
	    api_query_param(&publicity, call->query, "publicity") == -1 ||
	    (from && (strlen(from) != 10 || !api_is_rfc3339(from))) ||
	    (to && (strlen(to) != 10 || !api_is_rfc3339(to)))) {
		api_error(call, 400, "BAD_PARAMETER", "from and to are dates "
		    "(YYYY-MM-DD) on the record's created date");
		goto out;
	}
	if (api_query_param(&q, call->query, "q") == -1) {
		api_error(call, 400, "BAD_PARAMETER", "q has a bad escape");
		goto out;
	}
	if (q) {
		if (strlen(q) > 1000 || (words = search_query(q,
		    &too_many)) == NULL || too_many ||
		    json_array_size(words) == 0) {
			api_error(call, 400, "BAD_PARAMETER", "q is up to %d "
			    "words of Finnish text", SEARCH_MAX_QUERY_WORDS);
			goto out;
		}
		if ((words_text = json_dumps(words, JSON_COMPACT)) == NULL) {
			api_error(call, 500, "INTERNAL", "out of memory");
			goto out;
		}
	}
	if (api_query_param(&due_before, call->query, "due_before") == -1 ||
	    (due_before && (strlen(due_before) != 10 ||
	    !api_is_rfc3339(due_before)))) {
		api_error(call, 400, "BAD_PARAMETER", "due_before is a date "
		    "(YYYY-MM-DD): records whose retention ends by then");
		goto out;
	}
	snprintf(limit_text, sizeof(limit_text), "%d", limit + 1);
	params[0] = after;
	params[1] = transfer;
	params[2] = code;
	params[3] = limit_text;
	params[4] = from;
	params[5] = to;
	params[6] = publicity;
	params[7] = due_before;
	params[8] = api_clearance(call);
	params[9] = words_text;
	/* A function prefix matches whole groups: "10 03" finds "10 03"
	 * and "10 03 00 09", never "10 031".  due_before: as the due list
	 * (GET /v1/retention/due) says, ends on or before it.  q: every
	 * word by its stem or base form (sql/011), and only in records the
	 * caller may read (a match would tell what a restricted title
	 * says); hits in record id order, so that paging is stable. */
	if (db_query(db, &r, "SELECT " RECORD_COLUMNS("9") " FROM records r "
	    "JOIN aips a ON a.id = r.aip_id LEFT JOIN case_files c ON "
	    "c.id = r.case_file_id" RECORD_RETENTION_JOIN
	    "WHERE ($1::uuid IS NULL OR r.id > $1::uuid) "
	    "AND ($2::uuid IS NULL OR r.transfer_id = $2::uuid) "
	    "AND ($2::uuid IS NOT NULL OR r.version = a.current_version) "
	    "AND ($3::text IS NULL OR r.function_code = $3 OR "
	    "r.function_code LIKE $3 || ' %') "
	    "AND ($5::date IS NULL OR r.created >= $5::date) "
	    "AND ($6::date IS NULL OR r.created <= $6::date) "
	    "AND ($7::text IS NULL OR r.publicity = $7) "
	    "AND ($8::date IS NULL OR (t.state = 'dated' AND t.end_date <= "
	    "$8::date)) "
	    "AND ($10::jsonb IS NULL OR (r.search @@ search_tsquery("
	    "$10::jsonb) AND record_readable(r.publicity, r.personal_data, "
	    API_SQL_CLEARANCE("9") ") AND record_readable(c.publicity, "
	    "c.personal_data, " API_SQL_CLEARANCE("9") "))) "
	    "ORDER BY r.id LIMIT $4::int", 10, params) == -1) {
		if (strncmp(db_sqlstate(db), "22", 2) == 0)	/* 2012-13-01 */
			api_error(call, 400, "BAD_PARAMETER", "from, to or "
			    "due_before is not a calendar date");
		else
			api_db_error(call, db);
		goto out;
	}
	n = db_rows(r);
	items = records_page(r, limit, &next);
	/* A search is a read: its filters, the page's hits, and the query
	 * text beside the event (chained by its digest, purgeable). */
	details = json_pack("{s:i,s:b,s:o,s:o,s:o,s:o,s:o,s:o}", "hits",
	    n < limit ? n : limit, "more", n > limit, "transfer_id",
	    transfer ? json_string(transfer) : json_null(), "function",
	    code ? json_string(code) : json_null(), "from", from ?
	    json_string(from) : json_null(), "to", to ? json_string(to) :
	    json_null(), "publicity", publicity ? json_string(publicity) :
	    json_null(), "due_before", due_before ? json_string(due_before) :
	    json_null());
	i = api_audit_text(call, db, "record.search", "record", NULL,
	    details, q ? "query" : NULL, q);
	json_decref(details);
	if (i == -1) {
		json_decref(items);
		goto out;
	}
	api_reply(call, 200, api_list(items, next));
out:
	free(next);
	free(after);
	free(transfer);
	free(function);
	free(code);
	free(from);
	free(to);
	free(publicity);
	free(due_before);
	free(q);
	free(words_text);
	json_decref(words);
	db_result_free(r);
}

static void
route_records_get(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL, *f = NULL;
	const char *params[2] = { call->params[0], api_clearance(call) };
	json_t *rec;

	if (!api_is_uuid(call->params[0])) {
		api_error(call, 404, "NOT_FOUND", "no record %s",
		    call->params[0]);
		return;
	}
	if (params[1] == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		return;
	}
	if (db_query(db, &r, "SELECT " RECORD_COLUMNS("2") " FROM records r "
	    "LEFT JOIN case_files c ON c.id = r.case_file_id"
	    RECORD_RETENTION_JOIN "WHERE r.id = $1", 2, params) == -1 ||
	    db_query(db, &f, "SELECT " FILE_COLUMNS("2") " FROM files f "
	    "JOIN records x ON x.id = f.record_id WHERE f.record_id = $1 AND "
	    "f.version = x.version AND f.destroyed_by IS NULL ORDER BY "
	    "f.path", 2, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	if (db_rows(r) != 1) {
		api_error(call, 404, "NOT_FOUND", "no record %s",
		    call->params[0]);
		goto out;
	}
	if (api_audit(call, db, "record.read", "record", call->params[0],
	    NULL) == -1)
		goto out;
	rec = record_json(r, 0);
	json_object_set_new(rec, "documents", rows_json(f, file_json));
	api_reply(call, 200, rec);
out:
	db_result_free(r);
	db_result_free(f);
}

/*
 * POST /v1/persons/records {"ssn", "purpose"}: every record that names a
 * person, for a data subject's request (GDPR art. 15).  The code comes in
 * a body, never a URL, so that no request log holds it; it is matched by
 * its HMAC (as catalogued) and kept nowhere.  Only a principal with some
 * clearance may ask (data-protection officers are auditors with it);
 * what each hit shows still follows that clearance.  The request is an
 * act with its purpose beside it (purgeable, chained by digest) and the
 * person's HMAC, so that an auditor can see who asked about whom.
 */
static void
route_persons_records(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	const char *ssn, *purpose, *params[4];
	char norm[12], hmac[65], limit_text[16], *after = NULL, *next = NULL;
	json_t *body, *items = NULL, *details;
	int limit, n, i;

	if ((body = api_body_object(call)) == NULL)
		return;
	if (api_body_text(call, body, "purpose", true, 1000, &purpose) == -1)
		goto out;
	/* The message never repeats what was sent. */
	if ((ssn = json_string_value(json_object_get(body, "ssn"))) == NULL ||
	    strlen(ssn) > 11 || !hetu_valid(ssn, norm)) {
		api_error(call, 400, "BAD_FIELD", "ssn: not a valid Finnish "
		    "personal identity code");
		goto out;
	}
	if (json_array_size(call->who.clearance) == 0) {
		api_error(call, 403, "CLEARANCE_REQUIRED", "a subject access "
		    "request needs a principal with clearance");
		goto out;
	}
	if (ingest_person_hmac(norm, hmac) == -1) {
		api_error(call, 503, "UNAVAILABLE", "the person key is not "
		    "loaded");
		goto out;
	}
	explicit_bzero(norm, sizeof(norm));
	if (records_page_args(call, &limit, &after) == -1)
		goto out;
	snprintf(limit_text, sizeof(limit_text), "%d", limit + 1);
	params[0] = hmac;
	params[1] = after;
	params[2] = limit_text;
	params[3] = api_clearance(call);
	if (db_query(db, &r, "SELECT " RECORD_COLUMNS("4") " FROM records r "
	    "JOIN record_persons p ON p.record_id = r.id JOIN aips a ON a.id "
	    "= r.aip_id LEFT JOIN case_files c ON c.id = r.case_file_id"
	    RECORD_RETENTION_JOIN "WHERE p.ssn_hmac = decode($1, 'hex') AND "
	    "r.version = a.current_version AND ($2::uuid IS NULL OR r.id > "
	    "$2::uuid) ORDER BY r.id LIMIT $3::int", 4, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	n = db_rows(r);
	items = records_page(r, limit, &next);
	details = json_pack("{s:s,s:i,s:b}", "person_hmac", hmac, "hits",
	    n < limit ? n : limit, "more", n > limit);
	i = api_audit_text(call, db, "person.records", "person", NULL,
	    details, "purpose", purpose);
	json_decref(details);
	if (i == -1)
		goto out;
	api_reply(call, 200, api_list(items, next));
	items = NULL;
out:
	explicit_bzero(norm, sizeof(norm));
	json_decref(items);
	json_decref(body);
	free(after);
	free(next);
	db_result_free(r);
}

const struct api_route route_aips_rows[] = {
	{ "GET", "/v1/aips/{id}", "aips.get", ROLE_RECORDS_MANAGER |
	    ROLE_AUDITOR, API_BODY_NONE, route_aips_get, NULL,
	    API_POOL_REQUESTS },
	{ "GET", "/v1/records", "records.list", ROLE_RECORDS_MANAGER |
	    ROLE_AUDITOR, API_BODY_NONE, route_records_list, NULL,
	    API_POOL_REQUESTS },
	{ "GET", "/v1/records/{id}", "records.get", ROLE_RECORDS_MANAGER |
	    ROLE_AUDITOR, API_BODY_NONE, route_records_get, NULL,
	    API_POOL_REQUESTS },
	{ "POST", "/v1/persons/records", "persons.records",
	    ROLE_RECORDS_MANAGER | ROLE_AUDITOR, API_BODY_JSON,
	    route_persons_records, NULL, API_POOL_REQUESTS },
	{ NULL, NULL, NULL, 0, API_BODY_NONE, NULL, NULL, API_POOL_REQUESTS },
};
