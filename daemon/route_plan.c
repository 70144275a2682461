/*
 * route_plan.c — the information-management plan (records managers):
 * PUT /v1/plan imports JHS 191 XML as a new version (?lenient=1 leaves out
 * what cannot be resolved), GET /v1/plan is the current version with its
 * classes, GET /v1/plan/versions lists the versions, GET
 * /v1/plan/classes/{code} is one class of the current version.  Reading
 * and storing are retention/plan.c and plan_store.c.  GET
 * /v1/plan/versions/{v} is one version as GET /v1/plan gives the current
 * one, with what its import said (findings: what a lenient import left
 * out).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "db.h"
#include "formats.h"
#include "package.h"
#include "retention.h"

#define PLAN_CLASS_COLUMNS \
	"code, title, retention_years, basis, trigger, publicity, " \
	"record_types::text"

static json_t *
plan_class_json(struct db_result *r, int row)
{
	json_error_t jerr;

	return json_pack("{s:s,s:s?,s:I,s:s?,s:s?,s:s?,s:o}",
	    "code", db_value(r, row, 0),
	    "title", db_isnull(r, row, 1) ? NULL : db_value(r, row, 1),
	    "retention_years", (json_int_t)strtoll(db_value(r, row, 2), NULL,
	    10),
	    "basis", db_isnull(r, row, 3) ? NULL : db_value(r, row, 3),
	    "trigger", db_isnull(r, row, 4) ? NULL : db_value(r, row, 4),
	    "publicity", db_isnull(r, row, 5) ? NULL :
	    plan_publicity_name(atoi(db_value(r, row, 5))),
	    "record_types", json_loads(db_value(r, row, 6), 0, &jerr));
}

#define PLAN_VERSION_COLUMNS \
	"version, encode(sha256, 'hex'), title, organisation, tos_version, " \
	"imported_by, " API_SQL_TIME("imported_at") ", lenient, classes, " \
	"record_types"

static json_t *
plan_version_json(struct db_result *r, int row)
{
	return json_pack("{s:I,s:s,s:s?,s:s?,s:s?,s:s,s:s,s:b,s:I,s:I}",
	    "version", (json_int_t)strtoll(db_value(r, row, 0), NULL, 10),
	    "sha256", db_value(r, row, 1),
	    "title", db_isnull(r, row, 2) ? NULL : db_value(r, row, 2),
	    "organisation", db_isnull(r, row, 3) ? NULL : db_value(r, row, 3),
	    "tos_version", db_isnull(r, row, 4) ? NULL : db_value(r, row, 4),
	    "imported_by", db_value(r, row, 5),
	    "imported_at", db_value(r, row, 6),
	    "lenient", strcmp(db_value(r, row, 7), "t") == 0,
	    "classes", (json_int_t)strtoll(db_value(r, row, 8), NULL, 10),
	    "record_types", (json_int_t)strtoll(db_value(r, row, 9), NULL,
	    10));
}

/* A refused import is an act too: who tried, which bytes, how many
 * problems (the findings themselves are in the reply, not the trail). */
static void
plan_audit_refused(struct api_call *call, struct db *db, const char *sha256,
    const struct findings *f, bool lenient)
{
	json_t *details = json_pack("{s:s,s:I,s:I,s:b}", "sha256", sha256,
	    "errors", (json_int_t)f->errors, "warnings",
	    (json_int_t)f->warnings, "lenient", lenient);
	struct audit_event ev = {
		.actor = call->who.name, .role = role_name(call->who.role),
		.action = "plan.import", .object_type = "plan",
		.outcome = AUDIT_FAILURE, .details = details,
	};

	if (details == NULL || audit_record(db, &ev) == -1)
		api_db_error(call, db);
	json_decref(details);
}

static int	plan_version_row(struct api_call *, struct db *, const char *,
		    struct db_result **);

/* The plan in the body of a PUT or an impact request, read (?lenient=1
 * as the import would).  0 when it reads with no error; 1 when it does not
 * (answered 422 with every finding; *p freed); -1 when answered otherwise
 * (400, 500).  sha256 gets the body's digest. */
static int
plan_from_body(struct api_call *call, struct plan *p, struct findings *f,
    char sha256[65], bool *lenient)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char err[512], *lenient_text = NULL;
	json_t *reply;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	*lenient = false;
	if (api_query_param(&lenient_text, call->query, "lenient") == -1) {
		api_error(call, 400, "BAD_QUERY", "lenient: bad escapes");
		goto out;
	}
	if (lenient_text && strcmp(lenient_text, "1") != 0 &&
	    strcmp(lenient_text, "true") != 0 &&
	    strcmp(lenient_text, "0") != 0 &&
	    strcmp(lenient_text, "false") != 0) {
		api_error(call, 400, "BAD_QUERY", "lenient: 1 or 0");
		goto out;
	}
	*lenient = lenient_text && (strcmp(lenient_text, "1") == 0 ||
	    strcmp(lenient_text, "true") == 0);
	if (call->body == NULL || call->body_len == 0) {
		api_error(call, 400, "EMPTY_BODY", "the body is the plan: JHS "
		    "191 XML");
		goto out;
	}
	if (plan_read(p, call->body, call->body_len, "plan", *lenient, f,
	    err, sizeof(err)) == -1) {
		api_error(call, 500, "INTERNAL", "%s", err);
		goto out;
	}
	EVP_Digest(call->body, call->body_len, md, &mdlen, EVP_sha256(),
	    NULL);
	digest_hex(md, mdlen, sha256);
	if (f->errors > 0) {
		/* Well-formed or not, nothing is imported: every problem is
		 * in the reply, with its line. */
		reply = api_error_body("PLAN_INVALID", p->nclasses == 0 &&
		    findings_has(f, "PLAN_NOTHING_RESOLVABLE") ?
		    "the plan has no class whose retention can be resolved; "
		    "nothing was imported" : *lenient ? "the plan cannot be "
		    "read; nothing was imported" : "the plan does not "
		    "validate; nothing was imported (?lenient=1 imports what "
		    "can be resolved)");
		json_object_set_new(reply, "findings", plan_findings_json(f));
		api_reply(call, 422, reply);
		plan_free(p);
		memset(p, 0, sizeof(*p));
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	free(lenient_text);
	return rc;
}

static void
route_plan_put(struct api_call *call, struct db *db)
{
	struct plan p;
	struct findings f;
	struct plan_import made;
	char sha256[65], where[64];
	bool lenient;
	json_t *reply;
	int rc;

	findings_init(&f);
	if ((rc = plan_from_body(call, &p, &f, sha256, &lenient)) != 0) {
		if (rc == 1)
			plan_audit_refused(call, db, sha256, &f, lenient);
		goto out;
	}
	if (plan_store(db, &p, sha256, call->who.name,
	    role_name(call->who.role), lenient, &f, &made) == -1) {
		plan_free(&p);
		api_db_error(call, db);
		goto out;
	}
	plan_free(&p);
	reply = json_pack("{s:i,s:b,s:s,s:I,s:I,s:o}", "version",
	    made.version, "new", made.created, "sha256", sha256, "classes",
	    (json_int_t)made.classes, "record_types",
	    (json_int_t)made.record_types, "findings", plan_findings_json(&f));
	snprintf(where, sizeof(where), "/v1/plan/versions/%d", made.version);
	api_header(call, "Location", where);
	api_reply(call, made.created ? 201 : 200, reply);
out:
	findings_free(&f);
}

/* {"05 01 01": n, …} as [{"class_code", "records"}], most records first
 * ("" is records in no class, before and after). */
static json_t *
plan_by_class(json_t *by_class)
{
	json_t *items = json_array(), *v;
	const char *key;
	size_t i;

	json_object_foreach(by_class, key, v) {
		json_t *item = json_pack("{s:o,s:I}", "class_code", key[0] ?
		    json_string(key) : json_null(), "records",
		    json_integer_value(v));

		/* Insertion into place: a plan has hundreds of classes. */
		for (i = 0; i < json_array_size(items); i++)
			if (json_integer_value(json_object_get(json_array_get(
			    items, i), "records")) < json_integer_value(v))
				break;
		json_array_insert_new(items, i, item);
	}
	return items;
}

/* POST /v1/plan/impact: what importing the body would do to the records
 * held, without importing it: every record decided again by it (read
 * only, in one snapshot, a batch at a time). */
static void
route_plan_impact(struct api_call *call, struct db *db)
{
	struct recompute rc;
	struct recompute_stats st;
	struct findings f;
	char sha256[65];
	const char *params[1];
	bool lenient;

	findings_init(&f);
	memset(&rc, 0, sizeof(rc));
	if (recompute_stats_init(&st) == -1) {
		api_error(call, 500, "INTERNAL", "out of memory");
		goto out;
	}
	if (plan_from_body(call, &rc.plan, &f, sha256, &lenient) != 0)
		goto out;
	plan_sort_classes(&rc.plan);
	rc.prec = (enum ret_precedence)rules_precedence_parse(
	    call->app->cfg->retention_precedence);
	rc.round = call->app->cfg->retention_round_to_year_end;
	if (db_begin(db) == -1 || db_query(db, NULL, "SET TRANSACTION "
	    "ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL) == -1)
		goto db_failed;
	do {
		params[0] = st.last[0] ? st.last : NULL;
		if (recompute_records(&rc, db, "($1::uuid IS NULL OR "
		    "t.record_id > $1::uuid)", 1, params, 5000, true,
		    &st) == -1)
			goto db_failed;
	} while (st.read == 5000);
	db_rollback(db);
	api_reply(call, 200, json_pack("{s:s,s:I,s:I,s:I,s:I,s:o,s:o}",
	    "sha256", sha256, "classes", (json_int_t)rc.plan.nclasses,
	    "records", (json_int_t)st.matched, "changed",
	    (json_int_t)st.changed, "ends_moved", (json_int_t)st.ends_moved,
	    "by_class", plan_by_class(st.by_class), "findings",
	    plan_findings_json(&f)));
	goto out;
db_failed:
	api_db_error(call, db);
	if (db_in_transaction(db))
		db_rollback(db);
out:
	plan_free(&rc.plan);
	recompute_stats_free(&st);
	findings_free(&f);
}

/* GET /v1/plan/versions/{v}/impact: what version v moved when it came in
 * (its pass: pending while it runs). */
static void
route_plan_version_impact(struct api_call *call, struct db *db)
{
	struct db_result *v = NULL, *r = NULL;
	const char *params[1];
	json_t *by_class;

	if (plan_version_row(call, db, call->params[0], &v) == -1)
		goto out;
	params[0] = db_value(v, 0, 0);
	if (db_query(db, &r, "SELECT status, records, changed, ends_moved, "
	    "by_class::text, " API_SQL_TIME("started_at") ", CASE WHEN "
	    "finished_at IS NULL THEN NULL ELSE " API_SQL_TIME("finished_at")
	    " END FROM retention_passes WHERE version = $1::int", 1,
	    params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	if (db_rows(r) == 0) {
		api_error(call, 404, "NO_IMPACT", "version %s came in before "
		    "Sailo recorded what a plan moves", params[0]);
		goto out;
	}
	by_class = json_loads(db_value(r, 0, 4), 0, NULL);
	api_reply(call, 200, json_pack("{s:i,s:s,s:I,s:I,s:I,s:o,s:s,s:o}",
	    "version", atoi(params[0]), "status", db_value(r, 0, 0),
	    "records", (json_int_t)strtoll(db_value(r, 0, 1), NULL, 10),
	    "changed", (json_int_t)strtoll(db_value(r, 0, 2), NULL, 10),
	    "ends_moved", (json_int_t)strtoll(db_value(r, 0, 3), NULL, 10),
	    "by_class", plan_by_class(by_class), "started_at",
	    db_value(r, 0, 5), "finished_at", db_isnull(r, 0, 6) ?
	    json_null() : json_string(db_value(r, 0, 6))));
	json_decref(by_class);
out:
	db_result_free(v);
	db_result_free(r);
}

/* Version `version` (digits), or the current one when NULL; or 404. */
static int
plan_version_row(struct api_call *call, struct db *db, const char *version,
    struct db_result **r)
{
	const char *params[1] = { version };
	size_t i, n = version ? strlen(version) : 0;

	for (i = 0; i < n; i++)
		if (version[i] < '0' || version[i] > '9')
			break;
	if (version && (n == 0 || n > 9 || i < n)) {
		api_error(call, 404, "NO_VERSION", "no plan version %.20s",
		    version);
		return -1;
	}
	if (db_query(db, r, version ? "SELECT " PLAN_VERSION_COLUMNS
	    ", findings::text FROM plan_versions WHERE version = $1::int" :
	    "SELECT " PLAN_VERSION_COLUMNS ", findings::text FROM "
	    "plan_versions ORDER BY version DESC LIMIT 1", version ? 1 : 0,
	    params) == -1) {
		api_db_error(call, db);
		return -1;
	}
	if (db_rows(*r) == 0) {
		if (version)
			api_error(call, 404, "NO_VERSION", "no plan version %s",
			    version);
		else
			api_error(call, 404, "NO_PLAN", "no plan has been "
			    "imported (PUT /v1/plan)");
		return -1;
	}
	return 0;
}

/* The current version, or 404. */
static int
plan_current(struct api_call *call, struct db *db, struct db_result **r)
{
	return plan_version_row(call, db, NULL, r);
}

/* A version with its classes and what its import said. */
static void
plan_reply_version(struct api_call *call, struct db *db, const char *version)
{
	struct db_result *v = NULL, *r = NULL;
	const char *params[1];
	json_error_t jerr;
	json_t *reply, *classes;
	int i;

	if (plan_version_row(call, db, version, &v) == -1)
		goto out;
	params[0] = db_value(v, 0, 0);
	if (db_query(db, &r, "SELECT " PLAN_CLASS_COLUMNS " FROM "
	    "plan_classes WHERE version = $1::int ORDER BY code", 1,
	    params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	classes = json_array();
	for (i = 0; i < db_rows(r); i++)
		json_array_append_new(classes, plan_class_json(r, i));
	reply = plan_version_json(v, 0);
	json_object_set_new(reply, "findings", json_loads(db_value(v, 0, 10),
	    0, &jerr));
	json_object_set_new(reply, "items", classes);
	api_reply(call, 200, reply);
out:
	db_result_free(v);
	db_result_free(r);
}

static void
route_plan_get(struct api_call *call, struct db *db)
{
	plan_reply_version(call, db, NULL);
}

static void
route_plan_version(struct api_call *call, struct db *db)
{
	plan_reply_version(call, db, call->params[0]);
}

static void
route_plan_versions(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	json_t *items;
	int i;

	if (db_query(db, &r, "SELECT " PLAN_VERSION_COLUMNS " FROM "
	    "plan_versions ORDER BY version DESC", 0, NULL) == -1) {
		api_db_error(call, db);
		return;
	}
	items = json_array();
	for (i = 0; i < db_rows(r); i++)
		json_array_append_new(items, plan_version_json(r, i));
	api_reply(call, 200, json_pack("{s:o}", "items", items));
	db_result_free(r);
}

static void
route_plan_class(struct api_call *call, struct db *db)
{
	struct db_result *v = NULL, *r = NULL;
	const char *params[2];
	char *code;
	json_t *reply;

	if ((code = package_function_code(call->params[0])) == NULL) {
		api_error(call, 400, "BAD_CODE", "a function code is digit "
		    "groups: 10 03 00 09 or 10.03.00.09");
		return;
	}
	if (plan_current(call, db, &v) == -1)
		goto out;
	params[0] = db_value(v, 0, 0);
	params[1] = code;
	if (db_query(db, &r, "SELECT " PLAN_CLASS_COLUMNS " FROM "
	    "plan_classes WHERE version = $1::int AND code = $2", 2,
	    params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	if (db_rows(r) == 0) {
		api_error(call, 404, "NO_CLASS", "the plan (version %s) has no "
		    "class %s", params[0], code);
		goto out;
	}
	reply = plan_class_json(r, 0);
	json_object_set_new(reply, "version", json_integer(atoi(params[0])));
	api_reply(call, 200, reply);
out:
	free(code);
	db_result_free(v);
	db_result_free(r);
}

const struct api_route route_plan_rows[] = {
	{ "POST", "/v1/plan/impact", "plan.impact", ROLE_RECORDS_MANAGER,
	    API_BODY_XML, route_plan_impact, NULL, API_POOL_JOBS },
	{ "GET", "/v1/plan/versions/{v}/impact", "plan.version_impact",
	    ROLE_RECORDS_MANAGER, API_BODY_NONE, route_plan_version_impact,
	    NULL, API_POOL_REQUESTS },
	{ "PUT", "/v1/plan", "plan.import", ROLE_RECORDS_MANAGER,
	    API_BODY_XML, route_plan_put, NULL, API_POOL_JOBS },
	{ "GET", "/v1/plan", "plan.get", ROLE_RECORDS_MANAGER, API_BODY_NONE,
	    route_plan_get, NULL, API_POOL_REQUESTS },
	{ "GET", "/v1/plan/versions", "plan.versions", ROLE_RECORDS_MANAGER,
	    API_BODY_NONE, route_plan_versions, NULL, API_POOL_REQUESTS },
	{ "GET", "/v1/plan/versions/{v}", "plan.version", ROLE_RECORDS_MANAGER,
	    API_BODY_NONE, route_plan_version, NULL, API_POOL_REQUESTS },
	{ "GET", "/v1/plan/classes/{code}", "plan.class",
	    ROLE_RECORDS_MANAGER, API_BODY_NONE, route_plan_class, NULL,
	    API_POOL_REQUESTS },
	{ NULL, NULL, NULL, 0, API_BODY_NONE, NULL, NULL, API_POOL_REQUESTS },
};
