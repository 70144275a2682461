/*
 * audit.h — the audit trail: one call records an act.  The event joins the
 * caller's transaction and is chained when it commits (db_commit), so an
 * act and its event commit together or not at all; outside a transaction
 * it is chained at once.  details hold identifiers and digests, never
 * titles, names or person identifiers.
 */
#ifndef SAILO_AUDIT_H
#define SAILO_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct db;

enum audit_outcome { AUDIT_SUCCESS, AUDIT_DENIED, AUDIT_FAILURE };

struct audit_event {
	const char		*actor;		/* principal name, or "system" */
	const char		*role;		/* or NULL */
	const char		*action;	/* "token.create" */
	const char		*object_type;	/* or NULL */
	const char		*object_id;	/* or NULL */
	enum audit_outcome	 outcome;
	const json_t		*details;	/* object or NULL; no reals */
	/* Free text kept beside the event, chained by its SHA-256 only:
	 * details gain "<name>_sha256". */
	const char		*text_name;
	const char		*text;
};

/* SQL for the text of a timestamptz column as the chain writes it:
 * RFC 3339 in UTC with microseconds (2026-11-23T12:00:00.123456Z). */
#define AUDIT_SQL_TIME(col) \
	"to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* The columns of a checkpoint, in the order audit_checkpoint_message()
 * and the routes read them: seq, hash, at, key_id, public_key, signature. */
#define AUDIT_CHECKPOINT_COLUMNS \
	"seq, encode(hash, 'hex'), " AUDIT_SQL_TIME("at") ", key_id, " \
	"encode(public_key, 'hex'), encode(signature, 'hex')"

/* What a checkpoint signs: {"at","hash","key_id","seq"} in canonical JSON.
 * malloc'd, or NULL. */
char	*audit_checkpoint_message(const char *at, const char *hash_hex,
	    const char *key_id, const char *seq);

/* Also send each chained event as one JSON line to syslog (audit.syslog). */
void	audit_set_syslog(bool on);

/* Records an act.  Returns 0, or -1 (the db's error, or a bad event). */
int	audit_record(struct db *db, const struct audit_event *ev);

/* Chains every committed event waiting in the queue, in batches (each a
 * transaction of its own; db must not be in one).  0, or -1. */
int	audit_chain_queued(struct db *db);
/* A thread of the daemon that chains soon after each commit that queued
 * events, and every second what other processes queued; stop chains
 * what is left.  Without it, audit_record()'s commit chains at once. */
int	audit_chainer_start(const char *conninfo);
void	audit_chainer_stop(void);

/* RFC 8785 canonical JSON of v (integers, strings, booleans, null, arrays,
 * objects; reals and keys holding NUL are refused).  Integers are written
 * as they are: audit details keep them within ±2^53, where that is what
 * RFC 8785 writes too.  Returns a malloc'd string or NULL. */
char	*audit_canonical(const json_t *v);

/* Verification, streaming through the table in batches. */
struct audit_verdict {
	bool	 ok;
	long long events;
	long long first_bad_seq;	/* when !ok */
	char	 reason[512];
	char	 head[65];		/* hex of the last hash */
	long long checkpoints;
	long long last_checkpoint_seq;
	long long unanchored;		/* events after the last checkpoint */
	long long queued;		/* committed, not yet chained */
};
/* Walks the chain in one snapshot; checkpoints must be signed by trusted
 * (NULL: checkpoints are not checked).  0 with *out filled, or -1 when
 * the database fails. */
struct audit_key;
int	audit_verify(struct db *db, const struct audit_key *trusted,
	    struct audit_verdict *out);
json_t	*audit_verdict_json(const struct audit_verdict *v);

/* The archive's Ed25519 key for checkpoints (PEM, private). */
struct audit_key;
/* Creates the key file (mode 0600) when absent.  0, 1 when created, -1. */
int	audit_key_create(const char *path, char *err, size_t errlen);
struct audit_key *audit_key_load(const char *path, char *err, size_t errlen);
void	audit_key_free(struct audit_key *k);
const char *audit_key_id(const struct audit_key *k);	/* 16 hex digits */
const char *audit_key_public_hex(const struct audit_key *k);	/* raw, hex */
/* Ed25519 signature of msg (NUL-terminated) as hex into sighex.  0, -1. */
int	audit_key_sign(const struct audit_key *k, const char *msg,
	    char sighex[129]);
/* True when sighex is an Ed25519 signature of msg by the raw public key
 * pubhex (64 hex digits). */
bool	audit_signature_valid(const char *pubhex, const char *msg,
	    const char *sighex);

/* Signs the head when checkpoint_events have passed since the last
 * checkpoint, or checkpoint_minutes with any new event; also sends the
 * checkpoint to syslog.  Safe with several daemons.  0, or -1. */
int	audit_checkpoint(struct db *db, const struct audit_key *k,
	    long long checkpoint_events, int checkpoint_minutes,
	    bool *made);

#endif
