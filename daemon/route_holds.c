/*
 * route_holds.c — holds (legal or audit holds) stop disposal of what they
 * cover until released:
 *   POST /v1/holds                 {reason, scope: {one of function_code,
 *                                  case_native_id, record_ids, transfer_id,
 *                                  person_ssn}}
 *   GET  /v1/holds[?active=]       newest first
 *   GET  /v1/holds/{id}
 *   POST /v1/holds/{id}/release    {reason}
 * A hold's scope is evaluated whenever it is asked (HOLD_COVERS_SQL in
 * retention.h), so records that arrive after it are covered too.  A person
 * is kept as the HMAC of the identity code, never the code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "db.h"
#include "ingest.h"
#include "package.h"
#include "retention.h"

#define HOLD_MAX_REASON		2000	/* bytes */
#define HOLD_MAX_RECORD_IDS	10000
#define HOLD_MAX_DESTROYED	"1000"	/* listed in a hold's reply */

#define HOLD_COLUMNS \
	"h.id, h.reason, h.scope, h.function_code, h.case_native_id, " \
	"h.transfer_id, encode(h.ssn_hmac, 'hex'), h.covered, p.name, " \
	API_SQL_TIME("h.placed_at") ", q.name, " \
	API_SQL_TIME("h.released_at") ", h.release_reason, " \
	"h.placed_at::text, COALESCE(cardinality(h.record_ids), 0)"
#define HOLD_FROM \
	" FROM holds h JOIN principals p ON p.id = h.placed_by " \
	"LEFT JOIN principals q ON q.id = h.released_by "

static json_t *
hold_json(struct db_result *r, int i)
{
	const char *scope = db_value(r, i, 2);
	json_t *s;

	if (strcmp(scope, "function_code") == 0)
		s = json_pack("{s:s}", scope, db_value(r, i, 3));
	else if (strcmp(scope, "case_native_id") == 0)
		s = json_pack("{s:s}", scope, db_value(r, i, 4));
	else if (strcmp(scope, "transfer_id") == 0)
		s = json_pack("{s:s}", scope, db_value(r, i, 5));
	else if (strcmp(scope, "person_ssn") == 0)
		s = json_pack("{s:s}", "person_hmac", db_value(r, i, 6));
	else
		s = json_pack("{s:i}", "record_ids", atoi(db_value(r, i, 14)));
	return json_pack("{s:s,s:s,s:o,s:b,s:i,s:s,s:s,s:o,s:o,s:o}",
	    "id", db_value(r, i, 0), "reason", db_value(r, i, 1), "scope", s,
	    "active", db_isnull(r, i, 11), "covered_when_placed",
	    atoi(db_value(r, i, 7)), "placed_by", db_value(r, i, 8),
	    "placed_at", db_value(r, i, 9), "released_by",
	    api_text_or_null(r, i, 10), "released_at",
	    api_text_or_null(r, i, 11), "release_reason",
	    api_text_or_null(r, i, 12));
}

/* The scope of a new hold: its kind and its columns for the INSERT. */
struct hold_scope {
	const char	*kind;
	char		*function_code;
	const char	*case_native_id;
	const char	*transfer_id;
	char		 hmac[65];
	char		*record_ids;	/* "{uuid,uuid}" */
	json_t		*kept;		/* for the audit event */
};

static void
hold_scope_free(struct hold_scope *sc)
{
	free(sc->function_code);
	free(sc->record_ids);
	json_decref(sc->kept);
}

static int
hold_scope_parse(struct api_call *call, json_t *scope, struct hold_scope *sc)
{
	const char *s;
	char norm[12];
	json_t *v;

	memset(sc, 0, sizeof(*sc));
	if (!json_is_object(scope) || json_object_size(scope) != 1) {
		api_error(call, 400, "BAD_FIELD", "scope: an object with one "
		    "of function_code, case_native_id, record_ids, "
		    "transfer_id or person_ssn");
		return -1;
	}
	if ((v = json_object_get(scope, "function_code")) != NULL) {
		sc->kind = "function_code";
		if ((s = json_string_value(v)) == NULL ||
		    (sc->function_code = package_function_code(s)) == NULL) {
			api_error(call, 400, "BAD_FIELD", "scope.function_code: "
			    "a function code (10 03 00 09, 10.03.00.09) or its "
			    "first groups");
			return -1;
		}
		sc->kept = json_pack("{s:s}", sc->kind, sc->function_code);
	} else if ((v = json_object_get(scope, "case_native_id")) != NULL) {
		sc->kind = "case_native_id";
		if ((s = json_string_value(v)) == NULL || s[0] == '\0' ||
		    strlen(s) > 1000) {
			api_error(call, 400, "BAD_FIELD", "scope.case_native_id: "
			    "a case file's NativeId (a string)");
			return -1;
		}
		sc->case_native_id = s;
		sc->kept = json_pack("{s:s}", sc->kind, s);
	} else if ((v = json_object_get(scope, "transfer_id")) != NULL) {
		sc->kind = "transfer_id";
		if ((s = json_string_value(v)) == NULL || !api_is_uuid(s)) {
			api_error(call, 400, "BAD_FIELD", "scope.transfer_id: a "
			    "transfer's id (a UUID)");
			return -1;
		}
		sc->transfer_id = s;
		sc->kept = json_pack("{s:s}", sc->kind, s);
	} else if ((v = json_object_get(scope, "person_ssn")) != NULL) {
		sc->kind = "person_ssn";
		/* The message never repeats what was sent. */
		if ((s = json_string_value(v)) == NULL || strlen(s) > 11 ||
		    !hetu_valid(s, norm)) {
			api_error(call, 400, "BAD_FIELD", "scope.person_ssn: not "
			    "a valid Finnish personal identity code");
			return -1;
		}
		if (ingest_person_hmac(norm, sc->hmac) == -1) {
			api_error(call, 503, "UNAVAILABLE", "the person key is "
			    "not loaded");
			return -1;
		}
		memset(norm, 0, sizeof(norm));
		sc->kept = json_pack("{s:s}", "person_hmac", sc->hmac);
	} else if ((v = json_object_get(scope, "record_ids")) != NULL) {
		sc->kind = "record_ids";
		if (api_uuid_array(call, v, "scope.record_ids",
		    HOLD_MAX_RECORD_IDS, &sc->record_ids) == -1)
			return -1;
		if (sc->record_ids == NULL) {
			api_error(call, 400, "BAD_FIELD", "scope.record_ids: "
			    "an array of record ids");
			return -1;
		}
		sc->kept = json_pack("{s:I}", "record_ids",
		    (json_int_t)json_array_size(v));
	} else {
		api_error(call, 400, "BAD_FIELD", "scope: one of "
		    "function_code, case_native_id, record_ids, transfer_id "
		    "or person_ssn");
		return -1;
	}
	if (sc->kept == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		return -1;
	}
	return 0;
}

/* The hold's row back, as JSON. */
static json_t *
hold_load(struct db *db, const char *id)
{
	struct db_result *r = NULL;
	json_t *j = NULL;

	if (db_query(db, &r, "SELECT " HOLD_COLUMNS HOLD_FROM
	    "WHERE h.id = $1::uuid", 1, &id) == 0 && db_rows(r) == 1)
		j = hold_json(r, 0);
	db_result_free(r);
	return j;
}

/* A record the hold names that is not there: 422 naming a few. */
static int
hold_unknown_records(struct api_call *call, struct db *db,
    const struct hold_scope *sc)
{
	struct db_result *r = NULL;
	const char *params[1] = { sc->record_ids };
	json_t *ids;
	int i;

	if (db_query(db, &r, "SELECT x.id::text FROM unnest($1::uuid[]) AS "
	    "x (id) WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.id = "
	    "x.id) LIMIT 20", 1, params) == -1) {
		api_db_error(call, db);
		return -1;
	}
	if (db_rows(r) == 0) {
		db_result_free(r);
		return 0;
	}
	api_error(call, 422, "UNKNOWN_RECORDS", "scope.record_ids: %d or more "
	    "ids are no record's, e.g. %s; nothing was held", db_rows(r),
	    db_value(r, 0, 0));
	ids = json_array();
	for (i = 0; i < db_rows(r); i++)
		json_array_append_new(ids, json_string(db_value(r, i, 0)));
	json_object_set_new(json_object_get(call->reply, "error"), "unknown",
	    ids);
	db_result_free(r);
	return -1;
}

/*
 * The items of disposal batches that this hold covers but that were
 * already being destroyed (deleting) or destroyed when it was placed: a
 * batch locks the holds table while it checks and marks its items, so a
 * hold lands either before an item's check (and stops it) or after it,
 * and then it is listed here.
 */
static json_t *
hold_too_late(struct db *db, const char *id)
{
	struct db_result *r = NULL;
	json_t *items = NULL;
	int i;

	if (db_query(db, &r, "SELECT di.record_id, di.batch_id, di.state "
	    "FROM disposal_items di JOIN records r ON r.id = di.record_id "
	    "WHERE di.state IN ('deleting', 'destroyed') AND "
	    HOLD_MATCH_SQL("r", "h.id = $1::uuid") " ORDER BY di.record_id "
	    "LIMIT " HOLD_MAX_DESTROYED, 1, &id) == -1)
		return NULL;
	items = json_array();
	for (i = 0; i < db_rows(r); i++)
		json_array_append_new(items, json_pack("{s:s,s:s,s:s}",
		    "record_id", db_value(r, i, 0), "batch_id",
		    db_value(r, i, 1), "state", db_value(r, i, 2)));
	db_result_free(r);
	return items;
}

static void
route_hold_place(struct api_call *call, struct db *db)
{
	struct hold_scope sc = { 0 };
	struct db_result *r = NULL, *n = NULL;
	const char *reason, *params[9];
	json_t *body, *hold = NULL, *late = NULL, *details;
	char id[37];

	if ((body = api_body_object(call)) == NULL)
		return;
	if (api_body_text(call, body, "reason", true, HOLD_MAX_REASON,
	    &reason) == -1 ||
	    hold_scope_parse(call, json_object_get(body, "scope"), &sc) == -1)
		goto out;
	/* A batch checks its items in this lock (dispose.c): the hold is
	 * placed before an item's check, or after it (then the item is
	 * listed in already_destroyed). */
	if (db_begin(db) == -1 || db_query(db, NULL, "SELECT "
	    "pg_advisory_xact_lock(" HOLD_LOCK ")", 0, NULL) == -1)
		goto db_failed;
	if (sc.transfer_id) {
		params[0] = sc.transfer_id;
		if (db_query(db, &r, "SELECT 1 FROM transfers WHERE id = "
		    "$1::uuid", 1, params) == -1)
			goto db_failed;
		if (db_rows(r) == 0) {
			api_error(call, 422, "UNKNOWN_TRANSFER", "scope."
			    "transfer_id: no transfer %s; nothing was held",
			    sc.transfer_id);
			db_rollback(db);
			goto out;
		}
		db_result_free(r);
		r = NULL;
	}
	if (sc.record_ids && hold_unknown_records(call, db, &sc) != 0) {
		db_rollback(db);
		goto out;
	}
	params[0] = reason;
	params[1] = sc.kind;
	params[2] = sc.function_code;
	params[3] = sc.case_native_id;
	params[4] = sc.transfer_id;
	params[5] = sc.hmac[0] ? sc.hmac : NULL;
	params[6] = sc.record_ids;
	params[7] = call->who.id;
	if (db_query(db, &r, "INSERT INTO holds (id, reason, scope, "
	    "function_code, case_native_id, transfer_id, ssn_hmac, record_ids, "
	    "covered, placed_by) VALUES (gen_random_uuid(), $1, $2, $3, $4, "
	    "$5::uuid, decode($6, 'hex'), $7::uuid[], 0, $8::uuid) RETURNING "
	    "id", 8, params) == -1)
		goto db_failed;
	snprintf(id, sizeof(id), "%s", db_value(r, 0, 0));
	params[0] = id;
	params[1] = sc.record_ids;
	/* By the AIP and NativeId: every version of each record. */
	if (sc.record_ids && db_query(db, NULL, "INSERT INTO hold_records "
	    "(hold_id, aip_id, native_id) SELECT DISTINCT $1::uuid, r.aip_id, "
	    "r.native_id FROM records r WHERE r.id = ANY ($2::uuid[])", 2,
	    params) == -1)
		goto db_failed;
	/* What it covers now: records of current AIP versions. */
	if (db_query(db, &n, "WITH c AS (SELECT count(*) AS n FROM records r "
	    "JOIN aips a ON a.id = r.aip_id AND a.current_version = r.version "
	    "WHERE " HOLD_MATCH_SQL("r", "h.id = $1::uuid") ") UPDATE holds "
	    "SET covered = c.n FROM c WHERE id = $1::uuid RETURNING covered",
	    1, params) == -1 ||
	    (late = hold_too_late(db, id)) == NULL)
		goto db_failed;
	details = json_pack("{s:O,s:i,s:I}", "scope", sc.kept, "covered",
	    atoi(db_value(n, 0, 0)), "too_late",
	    (json_int_t)json_array_size(late));
	if (api_audit(call, db, "hold.place", "hold", id, details) == -1) {
		json_decref(details);
		db_rollback(db);
		goto out;
	}
	json_decref(details);
	if (db_commit(db) == -1 || (hold = hold_load(db, id)) == NULL)
		goto db_failed;
	json_object_set_new(hold, "covered", json_integer(atoi(db_value(n, 0,
	    0))));
	json_object_set(hold, "already_destroyed", late);
	if (asprintf(&call->location, "/v1/holds/%s", id) == -1)
		call->location = NULL;
	api_reply(call, 201, hold);
	goto out;
db_failed:
	api_db_error(call, db);
	if (db_in_transaction(db))
		db_rollback(db);
out:
	json_decref(late);
	db_result_free(r);
	db_result_free(n);
	hold_scope_free(&sc);
	json_decref(body);
}

static void
route_holds_list(struct api_call *call, struct db *db)
{
	char *active = NULL;

	if (api_query_param(&active, call->query, "active") == -1 ||
	    (active && strcmp(active, "true") != 0 &&
	    strcmp(active, "false") != 0)) {
		api_error(call, 400, "BAD_PARAMETER", "active is true or "
		    "false");
		free(active);
		return;
	}
	api_keyset_list(call, db, "SELECT " HOLD_COLUMNS HOLD_FROM
	    "WHERE ($1::timestamptz IS NULL OR (h.placed_at, h.id) < "
	    "($1::timestamptz, $2::uuid)) AND ($4::boolean IS NULL OR "
	    "(h.released_at IS NULL) = $4::boolean) "
	    "ORDER BY h.placed_at DESC, h.id DESC LIMIT $3::int",
	    (const char *[]){ active }, 1, hold_json, 13, 0);
	free(active);
}

static void
route_hold_get(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	const char *params[1] = { call->params[0] };

	if (!api_is_uuid(params[0])) {
		api_error(call, 404, "NOT_FOUND", "no hold %s", params[0]);
		return;
	}
	if (db_query(db, &r, "SELECT " HOLD_COLUMNS HOLD_FROM
	    "WHERE h.id = $1::uuid", 1, params) == -1) {
		api_db_error(call, db);
		return;
	}
	if (db_rows(r) == 0)
		api_error(call, 404, "NOT_FOUND", "no hold %s", params[0]);
	else
		api_reply(call, 200, hold_json(r, 0));
	db_result_free(r);
}

static void
route_hold_release(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	const char *reason, *params[3];
	json_t *body, *details, *hold;

	if ((body = api_body_object(call)) == NULL)
		return;
	if (api_body_text(call, body, "reason", true, HOLD_MAX_REASON,
	    &reason) == -1)
		goto out;
	params[0] = call->params[0];
	params[1] = call->who.id;
	params[2] = reason;
	if (!api_is_uuid(params[0])) {
		api_error(call, 404, "NOT_FOUND", "no hold %s", params[0]);
		goto out;
	}
	if (db_begin(db) == -1 || db_query(db, &r, "UPDATE holds SET "
	    "released_by = $2::uuid, released_at = now(), release_reason = $3 "
	    "WHERE id = $1::uuid AND released_at IS NULL RETURNING id", 3,
	    params) == -1)
		goto db_failed;
	if (db_rows(r) == 0) {
		db_rollback(db);
		if ((hold = hold_load(db, params[0])) == NULL)
			api_error(call, 404, "NOT_FOUND", "no hold %s",
			    params[0]);
		else {
			api_error(call, 409, "ALREADY_RELEASED", "hold %s was "
			    "released on %s", params[0], json_string_value(
			    json_object_get(hold, "released_at")));
			json_decref(hold);
		}
		goto out;
	}
	details = json_pack("{s:s}", "reason", reason);
	if (api_audit(call, db, "hold.release", "hold", params[0],
	    details) == -1) {
		json_decref(details);
		db_rollback(db);
		goto out;
	}
	json_decref(details);
	if (db_commit(db) == -1 || (hold = hold_load(db, params[0])) == NULL)
		goto db_failed;
	api_reply(call, 200, hold);
	goto out;
db_failed:
	api_db_error(call, db);
	if (db_in_transaction(db))
		db_rollback(db);
out:
	db_result_free(r);
	json_decref(body);
}

const struct api_route route_holds_rows[] = {
	/* Counting what a hold by function code covers walks records. */
	{ "POST", "/v1/holds", "hold.place", ROLE_RECORDS_MANAGER,
	    API_BODY_JSON, route_hold_place, NULL, API_POOL_JOBS },
	{ "GET", "/v1/holds", "hold.list", ROLE_RECORDS_MANAGER | ROLE_AUDITOR,
	    API_BODY_NONE, route_holds_list, NULL, API_POOL_REQUESTS },
	{ "GET", "/v1/holds/{id}", "hold.get", ROLE_RECORDS_MANAGER |
	    ROLE_AUDITOR, API_BODY_NONE, route_hold_get, NULL,
	    API_POOL_REQUESTS },
	{ "POST", "/v1/holds/{id}/release", "hold.release",
	    ROLE_RECORDS_MANAGER, API_BODY_JSON, route_hold_release, NULL,
	    API_POOL_REQUESTS },
	{ NULL, NULL, NULL, 0, API_BODY_NONE, NULL, NULL, API_POOL_REQUESTS },
};
