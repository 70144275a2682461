/*
 * audit.c — the audit trail: recording acts, the hash chain, signed
 * checkpoints and verification.  Owns the RFC 8785 canonical form.
 *
 * An event is chained as {action, actor, at, details, object_id,
 * object_type, outcome, role, seq} in canonical JSON, with
 *	hash = SHA-256(prev_hash || canonical)
 * and 32 zero bytes before the first event.  audit_record() queues the
 * event on the caller's transaction: db_commit() inserts it into
 * audit_queue as the last statement before COMMIT, so the act and its
 * event commit together or not at all, and no lock is taken.  After the
 * commit the chainer (a thread of the daemon, or the committing thread in
 * the CLI) runs audit_chain_queued() (sql/005_audit_queue.sql), which takes
 * the head for one short transaction per batch, stamps the database's
 * clock, and moves the events into the chain.  So the head is never held
 * by an act's transaction, however long, and many writers in many daemons
 * form one strictly ordered chain.
 *
 * It does not speak HTTP; routes in route_audit.c do.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "formats.h"
#include "db.h"
#include "log.h"

#define AUDIT_VERIFY_BATCH	5000
#define AUDIT_MAX_DEPTH		32
#define AUDIT_CHAIN_BATCH	1000	/* events per chaining transaction */
#define AUDIT_CHAIN_PAUSE_MS	10	/* between the chainer's passes */

static bool audit_to_syslog;

void
audit_set_syslog(bool on)
{
	audit_to_syslog = on;
}

/* ---- a growing string ------------------------------------------------- */

struct abuf {
	char	*p;
	size_t	 len, cap;
	bool	 failed;
};

static void
abuf_add(struct abuf *b, const char *s, size_t n)
{
	char *p;
	size_t cap;

	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
abuf_str(struct abuf *b, const char *s)
{
	abuf_add(b, s, strlen(s));
}

/* ---- RFC 8785 ---------------------------------------------------------- */

/* A JSON string as RFC 8785 writes it: only '"', '\\' and controls are
 * escaped, controls as \b \t \n \f \r or \u00xx; the rest stays UTF-8. */
static void
jcs_string(struct abuf *b, const char *s, size_t n)
{
	char esc[8];
	size_t i, run = 0;
	unsigned char c;

	abuf_add(b, "\"", 1);
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		abuf_add(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': abuf_add(b, "\\\"", 2); break;
		case '\\': abuf_add(b, "\\\\", 2); break;
		case '\b': abuf_add(b, "\\b", 2); break;
		case '\t': abuf_add(b, "\\t", 2); break;
		case '\n': abuf_add(b, "\\n", 2); break;
		case '\f': abuf_add(b, "\\f", 2); break;
		case '\r': abuf_add(b, "\\r", 2); break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			abuf_add(b, esc, 6);
		}
	}
	abuf_add(b, s + run, n - run);
	abuf_add(b, "\"", 1);
}

/* Next code point of valid UTF-8 (jansson guarantees validity) as UTF-16
 * code units; returns how many (1 or 2), 0 at the end. */
static int
utf16_next(const unsigned char **s, unsigned int u[2])
{
	const unsigned char *p = *s;
	unsigned int cp;

	if (*p == 0)
		return 0;
	if (p[0] < 0x80) {
		cp = p[0];
		p += 1;
	} else if (p[0] < 0xe0) {
		cp = ((p[0] & 0x1fu) << 6) | (p[1] & 0x3fu);
		p += 2;
	} else if (p[0] < 0xf0) {
		cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) |
		    (p[2] & 0x3fu);
		p += 3;
	} else {
		cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3fu) << 12) |
		    ((p[2] & 0x3fu) << 6) | (p[3] & 0x3fu);
		p += 4;
	}
	*s = p;
	if (cp < 0x10000) {
		u[0] = cp;
		return 1;
	}
	cp -= 0x10000;
	u[0] = 0xd800 + (cp >> 10);
	u[1] = 0xdc00 + (cp & 0x3ff);
	return 2;
}

/* Object keys sort by their UTF-16 code units (RFC 8785 § 3.2.3). */
static int
jcs_key_cmp(const void *a, const void *b)
{
	const unsigned char *x = *(const unsigned char *const *)a;
	const unsigned char *y = *(const unsigned char *const *)b;
	unsigned int ux[2], uy[2];
	int nx, ny, i;

	for (;;) {
		nx = utf16_next(&x, ux);
		ny = utf16_next(&y, uy);
		if (nx == 0 || ny == 0)
			return nx - ny;
		/* Surrogates (0xd800–0xdfff) never equal a BMP unit, so a
		 * code point of two units differs from one of one unit in
		 * their first units. */
		for (i = 0; i < nx && i < ny; i++)
			if (ux[i] != uy[i])
				return ux[i] < uy[i] ? -1 : 1;
	}
}

static int
jcs_value(struct abuf *b, const json_t *v, int depth)
{
	const char **keys = NULL;
	const char *k;
	json_t *item;
	size_t i, n, klen;
	char num[32];
	int rc = 0;

	if (depth > AUDIT_MAX_DEPTH)
		return -1;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		n = json_object_size(v);
		if (n > 0 && (keys = calloc(n, sizeof(*keys))) == NULL)
			return -1;
		i = 0;
		json_object_keylen_foreach((json_t *)v, k, klen, item) {
			if (klen != strlen(k)) {	/* a NUL in a key */
				free(keys);
				return -1;
			}
			keys[i++] = k;
		}
		if (n > 1)
			qsort(keys, n, sizeof(*keys), jcs_key_cmp);
		abuf_add(b, "{", 1);
		for (i = 0; i < n && rc == 0; i++) {
			if (i > 0)
				abuf_add(b, ",", 1);
			jcs_string(b, keys[i], strlen(keys[i]));
			abuf_add(b, ":", 1);
			rc = jcs_value(b, json_object_get(v, keys[i]),
			    depth + 1);
		}
		abuf_add(b, "}", 1);
		free(keys);
		return rc;
	case JSON_ARRAY:
		abuf_add(b, "[", 1);
		json_array_foreach(v, i, item) {
			if (i > 0)
				abuf_add(b, ",", 1);
			if (jcs_value(b, item, depth + 1) == -1)
				return -1;
		}
		abuf_add(b, "]", 1);
		return 0;
	case JSON_STRING:
		jcs_string(b, json_string_value(v), json_string_length(v));
		return 0;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		abuf_str(b, num);
		return 0;
	case JSON_TRUE:
		abuf_str(b, "true");
		return 0;
	case JSON_FALSE:
		abuf_str(b, "false");
		return 0;
	case JSON_NULL:
		abuf_str(b, "null");
		return 0;
	default:
		return -1;	/* reals: audit details carry none */
	}
}

char *
audit_canonical(const json_t *v)
{
	struct abuf b = { 0 };

	if (v == NULL || jcs_value(&b, v, 0) == -1 || b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static void
jcs_opt_string(struct abuf *b, const char *s)
{
	if (s)
		jcs_string(b, s, strlen(s));
	else
		abuf_str(b, "null");
}

static const char *
audit_outcome_name(enum audit_outcome o)
{
	switch (o) {
	case AUDIT_SUCCESS: return "success";
	case AUDIT_DENIED: return "denied";
	default: return "failure";
	}
}

/*
 * The canonical event split around the two values only the database knows
 * when it chains: a ends before the "at" value, b runs from after it to
 * just before the "seq" value (seq is the last key in canonical order).
 */
static int
audit_split_canonical(char **a, char **b, const char *action,
    const char *actor, const char *details_canon, const char *object_id,
    const char *object_type, const char *outcome, const char *role)
{
	struct abuf x = { 0 }, y = { 0 };

	abuf_str(&x, "{\"action\":");
	jcs_opt_string(&x, action);
	abuf_str(&x, ",\"actor\":");
	jcs_opt_string(&x, actor);
	abuf_str(&x, ",\"at\":");
	abuf_str(&y, ",\"details\":");
	abuf_str(&y, details_canon);
	abuf_str(&y, ",\"object_id\":");
	jcs_opt_string(&y, object_id);
	abuf_str(&y, ",\"object_type\":");
	jcs_opt_string(&y, object_type);
	abuf_str(&y, ",\"outcome\":");
	jcs_opt_string(&y, outcome);
	abuf_str(&y, ",\"role\":");
	jcs_opt_string(&y, role);
	abuf_str(&y, ",\"seq\":");
	if (x.failed || y.failed) {
		free(x.p);
		free(y.p);
		return -1;
	}
	*a = x.p;
	*b = y.p;
	return 0;
}

static void
sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	digest_hex(md, n, out);
}

/* ---- recording ---------------------------------------------------------- */

/*
 * An act's transaction only queues its events (sql/005_audit_queue.sql):
 * the INSERT goes with COMMIT in one round trip and takes no lock, so
 * writers commit in parallel.  The chainer then moves committed events
 * into the chain in batches.
 */
struct audit_pending {
	json_t		*events;	/* array of audit_queue rows */
};
/* Events an act holds before it queues them ahead of its COMMIT. */
#define AUDIT_PENDING_MAX	500

static const char audit_queue_one_sql[] = "INSERT INTO audit_queue (a, b, "
    "actor, role, action, object_type, object_id, outcome, details, texts) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb)";
static const char audit_queue_many_sql[] = "INSERT INTO audit_queue (a, b, "
    "actor, role, action, object_type, object_id, outcome, details, texts) "
    "SELECT e->>'a', e->>'b', e->>'actor', e->>'role', e->>'action', "
    "e->>'object_type', e->>'object_id', e->>'outcome', "
    "(e->>'details')::jsonb, e->'texts' "
    "FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x (e, n) "
    "ORDER BY n";

/* Queues the pending events and commits, in one round trip.  Returns 1
 * (committed), or -1. */
static int
audit_queue_pending(struct db *db, struct audit_pending *p)
{
	static const char *const fields[] = { "a", "b", "actor", "role",
	    "action", "object_type", "object_id", "outcome", "details" };
	const char *params[10];
	char *text = NULL, *texts = NULL;
	json_t *e;
	size_t i;
	int rc = -1;

	if (json_array_size(p->events) == 1) {
		e = json_array_get(p->events, 0);
		for (i = 0; i < 9; i++)
			params[i] = json_string_value(json_object_get(e,
			    fields[i]));
		if (json_object_get(e, "texts"))
			texts = json_dumps(json_object_get(e, "texts"),
			    JSON_COMPACT);
		params[9] = texts;
		if (db_query_commit(db, NULL, audit_queue_one_sql, 10,
		    params) == 0)
			rc = 1;
	} else {
		params[0] = text = json_dumps(p->events, JSON_COMPACT);
		if (text != NULL && db_query_commit(db, NULL,
		    audit_queue_many_sql, 1, params) == 0)
			rc = 1;
	}
	if (rc == -1 && db_in_transaction(db))
		db_rollback(db);
	free(text);
	free(texts);
	return rc;
}

/* The chained events first..last to syslog, one JSON line each, for a
 * city's security monitoring; the free texts stay out. */
static void
audit_syslog_range(struct db *db, const char *first, const char *last)
{
	struct db_result *r = NULL;
	const char *params[2] = { first, last };
	int i;

	if (db_query(db, &r, "SELECT json_build_object('seq', seq, 'at', "
	    AUDIT_SQL_TIME("at") ", 'actor', actor, 'role', role, "
	    "'action', action, 'object_type', object_type, 'object_id', "
	    "object_id, 'outcome', outcome, 'details', details)::text "
	    "FROM audit_events WHERE seq BETWEEN $1::bigint AND $2::bigint "
	    "ORDER BY seq", 2, params) == -1) {
		log_warn("audit: events %s-%s not sent to syslog: %s", first,
		    last, db_error(db));
		return;
	}
	for (i = 0; i < db_rows(r); i++)
		syslog(LOG_AUTHPRIV | LOG_INFO, "audit %s", db_value(r, i, 0));
	db_result_free(r);
}

static int	hex_decode(const char *hex, unsigned char *out, size_t max);

/*
 * One batch: takes the head (audit_chain_take), hashes each event in turn
 * after the one before, and moves exactly those events into the chain
 * (audit_chain_put), in one transaction.  Only queue ids above *after are
 * read (sql/012_audit_take_after.sql); *after becomes the highest taken.
 * Returns the number chained (0: nothing above *after), or -1.  first and
 * last get the seqs given.
 */
static int
audit_chain_batch(struct db *db, long long *after, char first[24],
    char last[24])
{
	struct db_result *r = NULL, *put = NULL;
	struct abuf ids = { 0 }, hashes = { 0 }, canon = { 0 };
	unsigned char prev[32], md[EVP_MAX_MD_SIZE];
	const char *params[4];
	char hex[65], num[24], batch[16], mark[24];
	long long seq;
	unsigned int mdlen;
	int i, n = -1;
	EVP_MD_CTX *ctx = NULL;

	snprintf(batch, sizeof(batch), "%d", AUDIT_CHAIN_BATCH);
	snprintf(mark, sizeof(mark), "%lld", *after);
	params[0] = batch;
	params[1] = mark;
	if (db_begin(db) == -1)
		return -1;
	if (db_query(db, &r, "SELECT head_seq, head_hash, at, id, a, b FROM "
	    "audit_chain_take($1::int, $2::bigint)", 2, params) == -1)
		goto out;
	if (db_rows(r) == 0) {
		n = 0;
		goto out;
	}
	seq = strtoll(db_value(r, 0, 0), NULL, 10);
	if (hex_decode(db_value(r, 0, 1), prev, sizeof(prev)) != 32 ||
	    (ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	snprintf(first, 24, "%lld", seq + 1);
	abuf_str(&ids, "{");
	abuf_str(&hashes, "{");
	for (i = 0; i < db_rows(r); i++) {
		snprintf(num, sizeof(num), "%lld", ++seq);
		canon.len = 0;
		abuf_str(&canon, db_value(r, i, 4));
		abuf_str(&canon, "\"");
		abuf_str(&canon, db_value(r, i, 2));
		abuf_str(&canon, "\"");
		abuf_str(&canon, db_value(r, i, 5));
		abuf_str(&canon, num);
		abuf_str(&canon, "}");
		if (canon.failed ||
		    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
		    EVP_DigestUpdate(ctx, prev, 32) != 1 ||
		    EVP_DigestUpdate(ctx, canon.p, canon.len) != 1 ||
		    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
			goto out;
		memcpy(prev, md, 32);
		digest_hex(md, 32, hex);
		if (i > 0) {
			abuf_str(&ids, ",");
			abuf_str(&hashes, ",");
		}
		abuf_str(&ids, db_value(r, i, 3));
		abuf_str(&hashes, hex);
	}
	abuf_str(&ids, "}");
	abuf_str(&hashes, "}");
	if (ids.failed || hashes.failed)
		goto out;
	snprintf(last, 24, "%lld", seq);
	params[0] = first;
	params[1] = db_value(r, 0, 2);
	params[2] = ids.p;
	params[3] = hashes.p;
	if (db_query(db, &put, "SELECT audit_chain_put($1::bigint, "
	    "$2::timestamptz, $3::bigint[], $4::text[])", 4, params) == -1)
		goto out;
	if (db_commit(db) == -1)
		goto out;
	n = db_rows(r);
	/* taken in the order of their ids: the last is the highest */
	*after = strtoll(db_value(r, n - 1, 3), NULL, 10);
out:
	if (n <= 0 && db_in_transaction(db))
		db_rollback(db);
	EVP_MD_CTX_free(ctx);
	db_result_free(put);
	db_result_free(r);
	free(ids.p);
	free(hashes.p);
	free(canon.p);
	return n;
}

/* Chains the committed events queued above *after, batch by batch. */
static int
audit_chain_after(struct db *db, long long *after)
{
	char first[24], last[24];
	int n;

	do {
		if ((n = audit_chain_batch(db, after, first, last)) == -1)
			return -1;
		if (n > 0 && audit_to_syslog)
			audit_syslog_range(db, first, last);
	} while (n == AUDIT_CHAIN_BATCH);
	return 0;
}

int
audit_chain_queued(struct db *db)
{
	long long after = 0;

	return audit_chain_after(db, &after);
}

/* ---- the chainer -------------------------------------------------------- */

/*
 * A daemon chains on a thread of its own with a connection of its own:
 * woken when one of its transactions queued events, and every second for
 * what other processes left (a CLI, a daemon that stopped before chaining
 * its last events).  Without a chainer (the CLI), the committing thread
 * chains at once.
 */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	pthread_t	 thread;
	struct db	*db;
	bool		 running, stop, woken;
	bool		 idle;		/* waiting for work, not pausing */
} chainer = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static void
timespec_add_ms(struct timespec *t, long ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/*
 * Passes are at least AUDIT_CHAIN_PAUSE_MS apart: a pass costs the
 * database a few hundred µs whatever its size, so under load one pass per
 * commit would spend more on passes than on events (measured: 8 writers
 * gave passes of 2–3 events, 90 µs of the database's CPU per event).  The
 * first event after a quiet spell is chained at once.
 */
static void *
audit_chainer_main(void *arg)
{
	struct timespec until, next = { 0, 0 }, now;
	bool stop = false, failed = false;
	long long mark = 0, from;	/* the highest queue id taken */
	time_t whole = 0;		/* when the queue was last read whole */

	(void)arg;
	while (!stop) {
		pthread_mutex_lock(&chainer.lock);
		if (!chainer.woken && !chainer.stop) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			chainer.idle = true;
			pthread_cond_timedwait(&chainer.cond, &chainer.lock,
			    &until);
			chainer.idle = false;
		}
		/* Woken soon after a pass: let more commits gather. */
		clock_gettime(CLOCK_REALTIME, &now);
		while (!chainer.stop && (now.tv_sec < next.tv_sec ||
		    (now.tv_sec == next.tv_sec && now.tv_nsec < next.tv_nsec))) {
			pthread_cond_timedwait(&chainer.cond, &chainer.lock,
			    &next);
			clock_gettime(CLOCK_REALTIME, &now);
		}
		chainer.woken = false;
		stop = chainer.stop;
		pthread_mutex_unlock(&chainer.lock);
		next = now;
		timespec_add_ms(&next, AUDIT_CHAIN_PAUSE_MS);
		/* From the mark, and once a second (and last) from the
		 * start, for events that committed below it
		 * (sql/012_audit_take_after.sql).  On failure (the database
		 * gone) the events stay queued, committed: the next pass, or
		 * whoever chains, takes them. */
		from = mark;
		if (stop || now.tv_sec != whole) {
			from = 0;
			whole = now.tv_sec;
		}
		if (audit_chain_after(chainer.db, &from) == -1) {
			if (!failed)
				log_warn("audit: cannot chain queued events "
				    "(tried again every second): %s",
				    db_error(chainer.db));
			failed = true;
		} else
			failed = false;
		if (from > mark)
			mark = from;
	}
	return NULL;
}

int
audit_chainer_start(const char *conninfo)
{
	if ((chainer.db = db_new(conninfo)) == NULL)
		return -1;
	chainer.stop = chainer.woken = false;
	if (pthread_create(&chainer.thread, NULL, audit_chainer_main,
	    NULL) != 0) {
		db_free(chainer.db);
		chainer.db = NULL;
		return -1;
	}
	chainer.running = true;
	return 0;
}

void
audit_chainer_stop(void)
{
	if (!chainer.running)
		return;
	pthread_mutex_lock(&chainer.lock);
	chainer.stop = true;
	pthread_cond_signal(&chainer.cond);
	pthread_mutex_unlock(&chainer.lock);
	pthread_join(chainer.thread, NULL);	/* after a last pass */
	db_free(chainer.db);
	chainer.db = NULL;
	chainer.running = false;
}

/* After a commit that queued events: the chainer's turn, or ours. */
static void
audit_chain_soon(struct db *db)
{
	if (chainer.running) {
		pthread_mutex_lock(&chainer.lock);
		chainer.woken = true;
		if (chainer.idle)
			pthread_cond_signal(&chainer.cond);
		pthread_mutex_unlock(&chainer.lock);
		return;
	}
	/* The act has committed whatever happens here: a failure leaves
	 * its events queued for the next chainer. */
	if (audit_chain_queued(db) == -1)
		log_warn("audit: events queued, not yet chained: %s",
		    db_error(db));
}

static int
audit_hook_before_commit(struct db *db, void *arg)
{
	return audit_queue_pending(db, arg);
}

static int
audit_hook_after_commit(struct db *db, void *arg)
{
	(void)arg;
	audit_chain_soon(db);
	return 0;
}

static void
audit_hook_discard(void *arg)
{
	struct audit_pending *p = arg;

	json_decref(p->events);
	free(p);
}

static const struct db_hook audit_hook = {
	audit_hook_before_commit, audit_hook_after_commit,
	audit_hook_discard, NULL,
};

int
audit_record(struct db *db, const struct audit_event *ev)
{
	struct audit_pending *p, single = { NULL };
	struct db_hook hook = audit_hook;
	json_t *details = NULL, *elem = NULL;
	const json_t *dv = ev->details;
	char *canon = NULL, *a = NULL, *b = NULL, key[96], digest[65];
	const char *outcome = audit_outcome_name(ev->outcome);
	int rc = -1;

	if (ev->actor == NULL || ev->action == NULL ||
	    (dv != NULL && !json_is_object(dv)))
		return -1;
	/* The details are copied only to add a free text's digest. */
	if (ev->text_name && ev->text) {
		if ((details = dv ? json_deep_copy(dv) : json_object()) ==
		    NULL)
			goto out;
		sha256_hex(ev->text, strlen(ev->text), digest);
		snprintf(key, sizeof(key), "%s_sha256", ev->text_name);
		json_object_set_new(details, key, json_string(digest));
		dv = details;
	}
	/* The canonical text is valid JSON: it is also the jsonb column's
	 * value, so the details are serialised once. */
	if ((canon = dv ? audit_canonical(dv) : strdup("{}")) == NULL ||
	    audit_split_canonical(&a, &b, ev->action, ev->actor, canon,
	    ev->object_id, ev->object_type, outcome, ev->role) == -1)
		goto out;
	elem = json_pack("{s:s,s:s,s:s,s:s?,s:s,s:s?,s:s?,s:s,s:s}",
	    "a", a, "b", b, "actor", ev->actor, "role", ev->role,
	    "action", ev->action, "object_type", ev->object_type,
	    "object_id", ev->object_id, "outcome", outcome,
	    "details", canon);
	if (elem == NULL)
		goto out;
	if (ev->text_name && ev->text)
		json_object_set_new(elem, "texts", json_pack("{s:s}",
		    ev->text_name, ev->text));

	if (!db_in_transaction(db)) {	/* an act of its own */
		single.events = json_array();
		json_array_append(single.events, elem);
		rc = db_begin(db) == 0 &&
		    audit_queue_pending(db, &single) == 1 ? 0 : -1;
		if (rc == 0)
			audit_chain_soon(db);
		json_decref(single.events);
		goto out;
	}
	if ((p = db_hook_arg(db, &hook)) == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL ||
		    (p->events = json_array()) == NULL) {
			free(p);
			goto out;
		}
		hook.arg = p;
		db_set_hook(db, &hook);
	}
	rc = json_array_append(p->events, elem) == 0 ? 0 : -1;
	if (rc == 0 && json_array_size(p->events) >= AUDIT_PENDING_MAX) {
		/* A long act (a transfer of thousands of AIPs) queues its
		 * events as it goes, in its transaction, rather than holding
		 * them all until COMMIT (measured: 660 bytes a record in a
		 * 40,000-record transfer). */
		char *text = json_dumps(p->events, JSON_COMPACT);
		const char *params[1] = { text };

		if (text == NULL || db_query(db, NULL, audit_queue_many_sql,
		    1, params) == -1)
			rc = -1;
		else
			json_array_clear(p->events);
		free(text);
	}
out:
	json_decref(elem);
	json_decref(details);
	free(canon);
	free(a);
	free(b);
	return rc;
}

/* ---- keys and checkpoints ----------------------------------------------- */

struct audit_key {
	EVP_PKEY	*pkey;
	unsigned char	 pub[32];
	char		 pubhex[65];
	char		 id[17];
};


int
audit_key_create(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	FILE *fp = NULL;
	int fd, rc = -1;

	if (access(path, F_OK) == 0)
		return 0;
	if ((pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL) {
		snprintf(err, errlen, "cannot make an Ed25519 key");
		goto out;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
		snprintf(err, errlen, "%s: cannot write the key", path);
		goto out;
	}
	rc = 1;
out:
	if (fp)
		fclose(fp);
	EVP_PKEY_free(pkey);
	return rc;
}

struct audit_key *
audit_key_load(const char *path, char *err, size_t errlen)
{
	struct audit_key *k;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t publen = sizeof(k->pub);
	FILE *fp;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "audit.key_file %s: %s", path,
		    strerror(errno));
		free(k);
		return NULL;
	}
	k->pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (k->pkey == NULL || EVP_PKEY_get_raw_public_key(k->pkey, k->pub,
	    &publen) != 1 || publen != 32) {
		snprintf(err, errlen, "audit.key_file %s: not an Ed25519 "
		    "private key", path);
		audit_key_free(k);
		return NULL;
	}
	EVP_Digest(k->pub, 32, md, &n, EVP_sha256(), NULL);
	digest_hex(md, 8, k->id);
	digest_hex(k->pub, 32, k->pubhex);
	return k;
}

void
audit_key_free(struct audit_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

const char *
audit_key_id(const struct audit_key *k)
{
	return k->id;
}

const char *
audit_key_public_hex(const struct audit_key *k)
{
	return k->pubhex;
}

char *
audit_checkpoint_message(const char *at, const char *hash_hex,
    const char *key_id, const char *seq)
{
	char *msg;

	if (asprintf(&msg, "{\"at\":\"%s\",\"hash\":\"%s\",\"key_id\":\"%s\","
	    "\"seq\":%s}", at, hash_hex, key_id, seq) == -1)
		return NULL;
	return msg;
}

int
audit_checkpoint(struct db *db, const struct audit_key *k,
    long long checkpoint_events, int checkpoint_minutes, bool *made)
{
	struct db_result *r = NULL;
	char *msg = NULL, sighex[129], pubhex[65], events[24], minutes[16];
	const char *params[7];
	int rc = -1;

	*made = false;
	if (audit_chain_queued(db) == -1)
		return -1;
	snprintf(events, sizeof(events), "%lld", checkpoint_events);
	snprintf(minutes, sizeof(minutes), "%d", checkpoint_minutes);
	params[0] = events;
	params[1] = minutes;
	/* The head, when due: enough events, or old enough with new ones. */
	if (db_query(db, &r,
	    "SELECT h.seq, encode(h.hash, 'hex'), " AUDIT_SQL_TIME("now()") " "
	    "FROM (SELECT seq, hash FROM audit_events ORDER BY seq DESC "
	    "LIMIT 1) h LEFT JOIN LATERAL (SELECT seq, at FROM "
	    "audit_checkpoints ORDER BY seq DESC LIMIT 1) c ON true "
	    "WHERE h.seq > COALESCE(c.seq, 0) AND (h.seq - COALESCE(c.seq, 0) "
	    ">= $1::bigint OR c.at IS NULL OR c.at <= now() - "
	    "make_interval(mins => $2::int))", 2, params) == -1)
		goto out;
	if (db_rows(r) == 0) {
		rc = 0;
		goto out;
	}
	msg = audit_checkpoint_message(db_value(r, 0, 2), db_value(r, 0, 1),
	    k->id, db_value(r, 0, 0));
	if (msg == NULL || audit_key_sign(k, msg, sighex) == -1)
		goto out;
	digest_hex(k->pub, 32, pubhex);
	params[0] = db_value(r, 0, 0);
	params[1] = db_value(r, 0, 1);
	params[2] = db_value(r, 0, 2);
	params[3] = k->id;
	params[4] = pubhex;
	params[5] = sighex;
	if (db_query(db, NULL,
	    "INSERT INTO audit_checkpoints (seq, hash, at, key_id, "
	    "public_key, signature) VALUES ($1::bigint, decode($2, 'hex'), "
	    "$3::timestamptz, $4, decode($5, 'hex'), decode($6, 'hex')) "
	    "ON CONFLICT (seq) DO NOTHING", 6, params) == -1)
		goto out;
	syslog(LOG_AUTHPRIV | LOG_NOTICE,
	    "audit checkpoint %s signature=%s public_key=%s", msg, sighex,
	    pubhex);
	*made = true;
	rc = 0;
out:
	free(msg);
	db_result_free(r);
	return rc;
}

/* ---- verification --------------------------------------------------------- */

static bool
audit_signature_ok(const unsigned char *pub, const char *msg,
    const unsigned char *sig, size_t siglen)
{
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx;
	bool ok = false;

	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	ctx = EVP_MD_CTX_new();
	if (pkey && ctx &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)msg,
	    strlen(msg)) == 1)
		ok = true;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok;
}

int
audit_key_sign(const struct audit_key *k, const char *msg, char sighex[129])
{
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx;
	int rc = -1;

	if ((ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg,
	    strlen(msg)) == 1) {
		digest_hex(sig, siglen, sighex);
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

bool
audit_signature_valid(const char *pubhex, const char *msg, const char *sighex)
{
	unsigned char pub[32], sig[64];

	return hex_decode(pubhex, pub, sizeof(pub)) == 32 &&
	    hex_decode(sighex, sig, sizeof(sig)) == 64 &&
	    audit_signature_ok(pub, msg, sig, 64);
}

static int
hex_decode(const char *hex, unsigned char *out, size_t max)
{
	size_t n = strlen(hex), i;
	unsigned int byte;

	if (n % 2 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return -1;
		out[i] = (unsigned char)byte;
	}
	return (int)(n / 2);
}

static void
verdict_bad(struct audit_verdict *v, long long seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
verdict_bad(struct audit_verdict *v, long long seq, const char *fmt, ...)
{
	va_list ap;

	if (!v->ok)
		return;		/* the first bad one counts */
	v->ok = false;
	v->first_bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
}

/* Checks every checkpoint: signed by the trusted key, over a hash the
 * chain really has at that seq (looked up by index, one at a time). */
static int
audit_verify_checkpoints(struct db *db, const struct audit_key *trusted,
    struct audit_verdict *v)
{
	struct db_result *r = NULL, *e = NULL;
	unsigned char sig[128];
	char after[24] = "0", *msg;
	const char *params[1];
	int i, n, siglen;

	for (;;) {
		params[0] = after;
		if (db_query(db, &r, "SELECT " AUDIT_CHECKPOINT_COLUMNS
		    " FROM audit_checkpoints WHERE seq > $1::bigint "
		    "ORDER BY seq LIMIT 1000", 1, params) == -1)
			return -1;
		n = db_rows(r);
		for (i = 0; i < n; i++) {
			long long seq = strtoll(db_value(r, i, 0), NULL, 10);
			char pubhex[65];

			v->checkpoints++;
			digest_hex(trusted->pub, 32, pubhex);
			msg = audit_checkpoint_message(db_value(r, i, 2),
			    db_value(r, i, 1), db_value(r, i, 3),
			    db_value(r, i, 0));
			siglen = hex_decode(db_value(r, i, 5), sig,
			    sizeof(sig));
			if (strcmp(db_value(r, i, 4), pubhex) != 0 ||
			    strcmp(db_value(r, i, 3), trusted->id) != 0)
				verdict_bad(v, seq, "checkpoint at seq %lld is "
				    "signed by key %s, not the archive's key "
				    "%s", seq, db_value(r, i, 3), trusted->id);
			else if (msg == NULL || siglen <= 0 ||
			    !audit_signature_ok(trusted->pub, msg, sig,
			    (size_t)siglen))
				verdict_bad(v, seq, "checkpoint at seq %lld: "
				    "the signature does not verify", seq);
			free(msg);
			params[0] = db_value(r, i, 0);
			if (db_query(db, &e, "SELECT encode(hash, 'hex') FROM "
			    "audit_events WHERE seq = $1::bigint", 1,
			    params) == -1) {
				db_result_free(r);
				return -1;
			}
			if (db_rows(e) == 0 || strcmp(db_value(e, 0, 0),
			    db_value(r, i, 1)) != 0)
				verdict_bad(v, seq, "checkpoint at seq %lld "
				    "does not match the chain there", seq);
			db_result_free(e);
			e = NULL;
			if (seq > v->last_checkpoint_seq)
				v->last_checkpoint_seq = seq;
		}
		if (n > 0)
			snprintf(after, sizeof(after), "%s",
			    db_value(r, n - 1, 0));
		db_result_free(r);
		r = NULL;
		if (n < 1000)
			return 0;
	}
}

/* Rebuilds one row's canonical event and checks its links. */
static void
audit_verify_row(struct db_result *r, int i, long long expect_seq,
    unsigned char prev[32], struct audit_verdict *v)
{
	unsigned char stored_prev[32], stored_hash[32], md[EVP_MAX_MD_SIZE];
	long long seq = strtoll(db_value(r, i, 0), NULL, 10);
	json_error_t jerr;
	json_t *details;
	char *canon = NULL, *a = NULL, *b = NULL, *full = NULL;
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;

	if (seq != expect_seq) {
		verdict_bad(v, expect_seq, "event %lld is missing (the next "
		    "one is %lld)", expect_seq, seq);
		return;
	}
	if (hex_decode(db_value(r, i, 9), stored_prev, 32) != 32 ||
	    hex_decode(db_value(r, i, 10), stored_hash, 32) != 32) {
		verdict_bad(v, seq, "event %lld: malformed hashes", seq);
		return;
	}
	if (memcmp(stored_prev, prev, 32) != 0) {
		verdict_bad(v, seq, "event %lld does not follow event %lld "
		    "(prev_hash differs)", seq, seq - 1);
		return;
	}
	details = json_loads(db_value(r, i, 8), 0, &jerr);
	if (details == NULL || (canon = audit_canonical(details)) == NULL ||
	    audit_split_canonical(&a, &b, db_value(r, i, 4),
	    db_value(r, i, 2), canon, db_isnull(r, i, 6) ? NULL :
	    db_value(r, i, 6), db_isnull(r, i, 5) ? NULL : db_value(r, i, 5),
	    db_value(r, i, 7), db_isnull(r, i, 3) ? NULL :
	    db_value(r, i, 3)) == -1 ||
	    asprintf(&full, "%s\"%s\"%s%lld}", a, db_value(r, i, 1), b,
	    seq) == -1) {
		full = NULL;
		verdict_bad(v, seq, "event %lld cannot be put in canonical "
		    "form", seq);
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, prev, 32);
	EVP_DigestUpdate(ctx, full, strlen(full));
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (memcmp(md, stored_hash, 32) != 0)
		verdict_bad(v, seq, "event %lld has been altered (its hash "
		    "does not match its content)", seq);
	memcpy(prev, stored_hash, 32);
out:
	json_decref(details);
	free(canon);
	free(a);
	free(b);
	free(full);
}

int
audit_verify(struct db *db, const struct audit_key *trusted,
    struct audit_verdict *v)
{
	struct db_result *r = NULL;
	unsigned char prev[32] = { 0 };
	char after[24] = "0";
	const char *params[1];
	long long expect = 1;
	int i, n, rc = -1;

	memset(v, 0, sizeof(*v));
	v->ok = true;
	/* What has committed is chained first; whatever commits meanwhile
	 * is counted as queued. */
	if (audit_chain_queued(db) == -1)
		return -1;
	/* One snapshot for the whole walk. */
	if (db_query(db, NULL, "BEGIN ISOLATION LEVEL REPEATABLE READ "
	    "READ ONLY", 0, NULL) == -1)
		return -1;
	for (;;) {
		params[0] = after;
		if (db_query(db, &r, "SELECT seq, " AUDIT_SQL_TIME("at") ", "
		    "actor, role, "
		    "action, object_type, object_id, outcome, details::text, "
		    "encode(prev_hash, 'hex'), encode(hash, 'hex') "
		    "FROM audit_events WHERE seq > $1::bigint ORDER BY seq "
		    "LIMIT " "5000", 1, params) == -1)
			goto out;
		n = db_rows(r);
		for (i = 0; i < n && v->ok; i++) {
			audit_verify_row(r, i, expect, prev, v);
			expect = strtoll(db_value(r, i, 0), NULL, 10) + 1;
			v->events++;
		}
		if (n > 0)
			snprintf(after, sizeof(after), "%s",
			    db_value(r, n - 1, 0));
		db_result_free(r);
		r = NULL;
		if (n < AUDIT_VERIFY_BATCH || !v->ok)
			break;
	}
	digest_hex(prev, 32, v->head);
	/* A tail cut after the last checkpoint cannot be told from a chain
	 * that ends there: such events are reported as unanchored. */
	if (trusted && audit_verify_checkpoints(db, trusted, v) == -1)
		goto out;
	v->unanchored = (expect - 1) - v->last_checkpoint_seq;
	if (v->unanchored < 0)
		v->unanchored = 0;
	if (db_query(db, &r, "SELECT count(*) FROM audit_queue", 0,
	    NULL) == -1)
		goto out;
	v->queued = strtoll(db_value(r, 0, 0), NULL, 10);
	rc = 0;
out:
	db_result_free(r);
	db_rollback(db);
	return rc;
}

json_t *
audit_verdict_json(const struct audit_verdict *v)
{
	if (v->ok)
		return json_pack("{s:b,s:I,s:s,s:I,s:I,s:I,s:I}", "ok", 1,
		    "events", (json_int_t)v->events, "head", v->head,
		    "checkpoints", (json_int_t)v->checkpoints,
		    "last_checkpoint_seq", (json_int_t)v->last_checkpoint_seq,
		    "unanchored", (json_int_t)v->unanchored,
		    "queued", (json_int_t)v->queued);
	return json_pack("{s:b,s:I,s:s,s:I}", "ok", 0, "first_bad_seq",
	    (json_int_t)v->first_bad_seq, "reason", v->reason, "events",
	    (json_int_t)v->events);
}
