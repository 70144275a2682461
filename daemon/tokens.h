/*
 * tokens.h — bearer tokens and the principals that hold them.  A token is
 * shown once, when made; only its SHA-256 is stored.  The role belongs to
 * the token, the clearance to the principal.
 */
#ifndef SAILO_TOKENS_H
#define SAILO_TOKENS_H

#include <jansson.h>
#include <stddef.h>

#include "api.h"

struct db;

#define TOKEN_TEXT_LEN	50	/* "sailo_" + 43 base64url characters + NUL */

struct token_created {
	char	id[37];
	char	principal_id[37];
	char	token[TOKEN_TEXT_LEN];
};

/* A new random token.  Returns 0, or -1 when the random source fails. */
int	token_generate(char out[TOKEN_TEXT_LEN]);
/* SHA-256 of the token as 64 lower-case hex digits. */
void	token_hash(const char *token, char out[65]);
/* Checks a clearance list (array of known values); 0, or -1 with err. */
int	token_check_clearance(const json_t *clearance, char *err, size_t len);
/* Makes a token for principal name with role, creating the principal if
 * new; a clearance (not NULL) replaces the principal's list.  Runs its own
 * transaction, which records the acts (token.create, and
 * principal.clearance when a clearance is given) by actor/actor_role.
 * 0, or -1 with a message in err (the db's on SQL errors: *is_db_error is
 * set then). */
int	token_create(struct db *db, const char *actor, const char *actor_role,
	    const char *name, enum role role,
	    const json_t *clearance, struct token_created *out, char *err,
	    size_t errlen, int *is_db_error);

#endif
