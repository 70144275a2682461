/*
 * route_tokens.c — POST /v1/tokens, GET /v1/tokens, DELETE /v1/tokens/{id}
 * (admins).  A token's secret is in the reply to POST and nowhere else;
 * DELETE revokes (the row stays, so that what a token did stays
 * attributable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "tokens.h"

#define TOKEN_COLUMNS \
	"t.id, p.name, t.role, array_to_json(p.clearance), " \
	API_SQL_TIME("t.created_at") ", " API_SQL_TIME("t.revoked_at") \
	", t.created_at::text, p.id"

static json_t *
token_json(struct db_result *r, int row)
{
	json_error_t err;

	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:o}",
	    "id", db_value(r, row, 0),
	    "name", db_value(r, row, 1),
	    "principal_id", db_value(r, row, 7),
	    "role", db_value(r, row, 2),
	    "clearance", json_loads(db_value(r, row, 3), 0, &err),
	    "created_at", db_value(r, row, 4),
	    "revoked_at", db_isnull(r, row, 5) ? json_null() :
	    json_string(db_value(r, row, 5)));
}

static void
route_tokens_create(struct api_call *call, struct db *db)
{
	struct token_created made;
	json_t *body, *clearance;
	const char *name, *rolename;
	enum role role;
	char err[512];
	int is_db_error;

	if ((body = api_body_object(call)) == NULL)
		return;
	name = json_string_value(json_object_get(body, "name"));
	rolename = json_string_value(json_object_get(body, "role"));
	clearance = json_object_get(body, "clearance");
	if (clearance && json_is_null(clearance))
		clearance = NULL;
	if (name == NULL) {
		api_error(call, 400, "BAD_FIELD", "name: a string is required "
		    "(the principal: a person or a system)");
		goto out;
	}
	if (rolename == NULL || role_parse(rolename, &role) == -1) {
		api_error(call, 400, "BAD_FIELD", "role: one of integration, "
		    "records_manager, auditor, admin is required");
		goto out;
	}
	if (token_create(db, call->who.name, role_name(call->who.role), name,
	    role, clearance, &made, err, sizeof(err), &is_db_error) == -1) {
		if (is_db_error)
			api_db_error(call, db);
		else
			api_error(call, 400, "BAD_FIELD", "%s", err);
		goto out;
	}
	if (asprintf(&call->location, "/v1/tokens/%s", made.id) == -1)
		call->location = NULL;
	api_reply(call, 201, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}",
	    "id", made.id, "name", name, "principal_id", made.principal_id,
	    "role", role_name(role), "token", made.token,
	    "clearance", clearance ? json_incref(clearance) : json_array()));
	memset(made.token, 0, sizeof(made.token));
out:
	json_decref(body);
}

static void
route_tokens_list(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	char *after = NULL, limit_text[16];
	const char *params[3];
	int limit;

	if (api_page_keyset(call, &limit, &after, &params[1]) == -1)
		return;
	params[0] = after;
	snprintf(limit_text, sizeof(limit_text), "%d", limit + 1);
	params[2] = limit_text;
	if (db_query(db, &r, "SELECT " TOKEN_COLUMNS " FROM tokens t "
	    "JOIN principals p ON p.id = t.principal_id "
	    "WHERE $1::timestamptz IS NULL OR "
	    "(t.created_at, t.id) < ($1::timestamptz, $2::uuid) "
	    "ORDER BY t.created_at DESC, t.id DESC LIMIT $3::int", 3,
	    params) == -1) {
		api_keyset_query_error(call, db);
		goto out;
	}
	api_reply_keyset_page(call, r, limit, token_json, 6, 0);
out:
	free(after);
	db_result_free(r);
}

static void
route_tokens_revoke(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	const char *params[1] = { call->params[0] };

	if (!api_is_uuid(call->params[0])) {
		api_error(call, 404, "NOT_FOUND", "no token %s",
		    call->params[0]);
		return;
	}
	if (db_begin(db) == -1 ||
	    db_query(db, &r, "WITH t AS (UPDATE tokens SET revoked_at = "
	    "COALESCE(revoked_at, now()) WHERE id = $1 RETURNING *) "
	    "SELECT " TOKEN_COLUMNS " FROM t "
	    "JOIN principals p ON p.id = t.principal_id", 1, params) == -1 ||
	    (db_rows(r) == 1 && api_audit(call, db, "token.revoke", "token",
	    call->params[0], NULL) == -1) || db_commit(db) == -1) {
		db_rollback(db);
		api_db_error(call, db);
		goto out;
	}
	if (db_rows(r) == 0)
		api_error(call, 404, "NOT_FOUND", "no token %s",
		    call->params[0]);
	else
		api_reply(call, 200, token_json(r, 0));
out:
	db_result_free(r);
}

const struct api_route route_tokens_rows[] = {
	{ "POST", "/v1/tokens", "tokens.create", ROLE_ADMIN, API_BODY_JSON,
	    route_tokens_create, NULL, API_POOL_REQUESTS },
	{ "GET", "/v1/tokens", "tokens.list", ROLE_ADMIN, API_BODY_NONE,
	    route_tokens_list, NULL, API_POOL_REQUESTS },
	{ "DELETE", "/v1/tokens/{id}", "tokens.revoke", ROLE_ADMIN,
	    API_BODY_NONE, route_tokens_revoke, NULL, API_POOL_REQUESTS },
	{ NULL, NULL, NULL, 0, API_BODY_NONE, NULL, NULL, API_POOL_REQUESTS },
};
