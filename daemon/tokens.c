/*
 * tokens.c — making and checking bearer tokens.  Shared by the command
 * line (`sailo token create`) and POST /v1/tokens, so both store tokens the
 * same way.  The secret never reaches the log or the database.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "formats.h"
#include "tokens.h"

/* Values a principal's clearance may hold: publicity classes that restrict
 * access, and special categories of personal data. */
static const char *const token_clearances[] = {
	"Salassa pidettävä",
	"Osittain salassapidettävä",
	"sensitive_personal_data",
};

int
token_generate(char out[TOKEN_TEXT_LEN])
{
	unsigned char raw[32];
	char b64[48];
	size_t i;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
	for (i = 0; b64[i]; i++)
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
		else if (b64[i] == '=')
			b64[i] = '\0';
	snprintf(out, TOKEN_TEXT_LEN, "sailo_%.43s", b64);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	return 0;
}

void
token_hash(const char *token, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL);
	digest_hex(md, n, out);
}

int
token_check_clearance(const json_t *clearance, char *err, size_t len)
{
	const json_t *v;
	size_t i, k;

	if (!json_is_array(clearance)) {
		snprintf(err, len, "clearance must be a list of strings");
		return -1;
	}
	json_array_foreach(clearance, i, v) {
		if (!json_is_string(v))
			goto bad;
		for (k = 0; k < sizeof(token_clearances) /
		    sizeof(token_clearances[0]); k++)
			if (strcmp(json_string_value(v),
			    token_clearances[k]) == 0)
				break;
		if (k == sizeof(token_clearances) /
		    sizeof(token_clearances[0]))
			goto bad;
	}
	return 0;
bad:
	snprintf(err, len, "clearance item %zu is not one of \"Salassa "
	    "pidettävä\", \"Osittain salassapidettävä\", "
	    "\"sensitive_personal_data\"", i);
	return -1;
}

int
token_create(struct db *db, const char *actor, const char *actor_role,
    const char *name, enum role role, const json_t *clearance,
    struct token_created *out, char *err, size_t errlen, int *is_db_error)
{
	struct audit_event ev = {
		.actor = actor, .role = actor_role, .outcome = AUDIT_SUCCESS,
	};
	json_t *details = NULL;
	struct db_result *r = NULL;
	char hash[65], *clear_json = NULL;
	const char *params[4];
	int rc = -1;

	*is_db_error = 0;
	if (name == NULL || *name == '\0' || strlen(name) > 200) {
		snprintf(err, errlen, "name must be 1 to 200 characters");
		return -1;
	}
	if (clearance && token_check_clearance(clearance, err, errlen) == -1)
		return -1;
	if (token_generate(out->token) == -1) {
		snprintf(err, errlen, "the random source failed");
		return -1;
	}
	token_hash(out->token, hash);
	if (clearance)
		clear_json = json_dumps(clearance, JSON_COMPACT);
	if (db_begin(db) == -1)
		goto dberr;
	params[0] = name;
	params[1] = clear_json;
	if (db_query(db, &r,
	    "INSERT INTO principals (name, clearance) VALUES ($1, "
	    "COALESCE(ARRAY(SELECT json_array_elements_text($2::json)), "
	    "'{}')) ON CONFLICT (name) DO UPDATE SET clearance = "
	    "CASE WHEN $2::json IS NULL THEN principals.clearance ELSE "
	    "EXCLUDED.clearance END RETURNING id", 2, params) == -1)
		goto dberr;
	snprintf(out->principal_id, sizeof(out->principal_id), "%s",
	    db_value(r, 0, 0));
	db_result_free(r);
	r = NULL;
	params[0] = out->principal_id;
	params[1] = role_name(role);
	params[2] = hash;
	if (db_query(db, &r,
	    "INSERT INTO tokens (principal_id, role, token_sha256) "
	    "VALUES ($1, $2, decode($3, 'hex')) RETURNING id", 3,
	    params) == -1)
		goto dberr;
	snprintf(out->id, sizeof(out->id), "%s", db_value(r, 0, 0));
	details = json_pack("{s:s,s:s}", "principal_id", out->principal_id,
	    "role", role_name(role));
	ev.action = "token.create";
	ev.object_type = "token";
	ev.object_id = out->id;
	ev.details = details;
	if (audit_record(db, &ev) == -1)
		goto dberr;
	if (clearance) {
		json_decref(details);
		details = json_pack("{s:O}", "clearance", clearance);
		ev.action = "principal.clearance";
		ev.object_type = "principal";
		ev.object_id = out->principal_id;
		ev.details = details;
		if (audit_record(db, &ev) == -1)
			goto dberr;
	}
	if (db_commit(db) == -1)
		goto dberr;
	rc = 0;
	goto out;
dberr:
	*is_db_error = 1;
	snprintf(err, errlen, "%s", db_error(db));
	db_rollback(db);
	OPENSSL_cleanse(out->token, sizeof(out->token));
out:
	json_decref(details);
	free(clear_json);
	db_result_free(r);
	return rc;
}
