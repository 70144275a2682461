/*
 * audit_bench.c — drives the audit trail through its real code (audit.c,
 * db.c) against a real PostgreSQL, for bench/audit.sh.  Not part of the
 * daemon.  The database comes from SAILO_DATABASE_CONNINFO.
 *
 *   audit_bench append N BATCH     N chained events, BATCH per transaction
 *   audit_bench plain N BATCH      the same rows as plain INSERTs into
 *                                  audit_plain (no chain): the baseline
 *   audit_bench writers-plain SECONDS THREADS
 *                                  the same acts without audit events
 *   audit_bench writers SECONDS THREADS [HOLD]
 *                                  THREADS writers, each act one
 *                                  transaction (a row in bench_acts and its
 *                                  audit event); with HOLD, another
 *                                  connection keeps a transaction that has
 *                                  recorded an act open for 10 s meanwhile;
 *                                  the daemon's chainer thread chains, and
 *                                  the events still queued when the time
 *                                  is up are printed (how far it lags)
 *
 * Prints one line of figures.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "db.h"

static const char *conninfo;
static atomic_long acts;
static atomic_bool stop;
static bool with_audit = true;	/* false: the same acts without events */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
fail(struct db *db, const char *what)
{
	fprintf(stderr, "audit_bench: %s: %s\n", what, db ? db_error(db) : "");
	exit(1);
}

/* An event like those the daemon records: ids and digests. */
static void
bench_event(struct audit_event *ev, json_t **details, long i)
{
	static const char *const actions[] = {
		"transfer.submit", "transfer.accept", "aip.read",
		"token.create", "audit.query", "record.read",
	};
	static __thread char id[64], actor[32];	/* one set per writer */

	snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012ld", i);
	snprintf(actor, sizeof(actor), "user-%ld", i % 97);
	*details = json_pack("{s:s,s:I}", "sha256",
	    "9f2c5b1e0d4a7c3e8b6f1a2d4c5e7f809a1b2c3d4e5f60718293a4b5c6d7e8f9",
	    "bytes", (json_int_t)(i * 7919 % 100000000));
	memset(ev, 0, sizeof(*ev));
	ev->actor = actor;
	ev->role = "records_manager";
	ev->action = actions[i % 6];
	ev->object_type = "record";
	ev->object_id = id;
	ev->outcome = AUDIT_SUCCESS;
	ev->details = *details;
}

static void
bench_append(long n, long batch)
{
	struct db *db = db_new(conninfo);
	struct audit_event ev;
	json_t *details;
	double t0 = now_s(), dt;
	long i;

	for (i = 0; i < n; i++) {
		if (i % batch == 0 && db_begin(db) == -1)
			fail(db, "begin");
		bench_event(&ev, &details, i);
		if (audit_record(db, &ev) == -1)
			fail(db, "record");
		json_decref(details);
		if ((i + 1) % batch == 0 || i + 1 == n)
			if (db_commit(db) == -1)
				fail(db, "commit");
	}
	dt = now_s() - t0;
	printf("append  %ld chained events in %.1f s: %.0f events/s\n", n, dt,
	    (double)n / dt);
	db_free(db);
}

static void
bench_plain(long n, long batch)
{
	struct db *db = db_new(conninfo);
	struct audit_event ev;
	json_t *details, *rows = json_array(), *row;
	const char *params[1];
	double t0 = now_s(), dt;
	char *text;
	long i;

	for (i = 0; i < n; i++) {
		bench_event(&ev, &details, i);
		row = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:O}", "actor",
		    ev.actor, "role", ev.role, "action", ev.action,
		    "object_type", ev.object_type, "object_id", ev.object_id,
		    "outcome", "success", "details", details);
		json_array_append_new(rows, row);
		json_decref(details);
		if ((i + 1) % batch == 0 || i + 1 == n) {
			text = json_dumps(rows, JSON_COMPACT);
			params[0] = text;
			if (db_query(db, NULL, "INSERT INTO audit_plain (seq, "
			    "at, actor, role, action, object_type, object_id, "
			    "outcome, details, prev_hash, hash) SELECT "
			    "nextval('audit_plain_seq'), clock_timestamp(), "
			    "e->>'actor', e->>'role', e->>'action', "
			    "e->>'object_type', e->>'object_id', e->>'outcome', "
			    "e->'details', decode(repeat('00', 32), 'hex'), "
			    "decode(repeat('00', 32), 'hex') "
			    "FROM jsonb_array_elements($1::jsonb) e", 1,
			    params) == -1)
				fail(db, "plain insert");
			free(text);
			json_array_clear(rows);
		}
	}
	dt = now_s() - t0;
	printf("plain   %ld unchained rows in %.1f s: %.0f rows/s "
	    "(baseline)\n", n, dt, (double)n / dt);
	json_decref(rows);
	db_free(db);
}

/* One act: a row of its own and its audit event, in one transaction. */
static void *
bench_writer(void *arg)
{
	struct db *db = db_new(conninfo);
	struct audit_event ev;
	json_t *details;
	long i = (long)(intptr_t)arg * 100000000L;
	char id[32];
	const char *params[1] = { id };

	while (!atomic_load(&stop)) {
		snprintf(id, sizeof(id), "%ld", i);
		bench_event(&ev, &details, i++);
		if (db_begin(db) == -1 ||
		    db_query(db, NULL, "INSERT INTO bench_acts (n) VALUES "
		    "($1::bigint)", 1, params) == -1 ||
		    (with_audit && audit_record(db, &ev) == -1) ||
		    db_commit(db) == -1)
			fail(db, "act");
		json_decref(details);
		atomic_fetch_add(&acts, 1);
	}
	db_free(db);
	return NULL;
}

/* The long transaction: records an act, then sits on it for 10 s. */
static void *
bench_holder(void *arg)
{
	struct db *db = db_new(conninfo);
	struct audit_event ev;
	json_t *details;

	(void)arg;
	bench_event(&ev, &details, 999999999);
	if (db_begin(db) == -1 || db_query(db, NULL, "INSERT INTO bench_acts "
	    "(n) VALUES (-1)", 0, NULL) == -1 || audit_record(db, &ev) == -1)
		fail(db, "holder");
	json_decref(details);
	sleep(10);
	if (db_commit(db) == -1)
		fail(db, "holder commit");
	db_free(db);
	return NULL;
}

static void
bench_writers(int seconds, int nthreads, bool hold)
{
	pthread_t threads[64], holder;
	struct db *db = db_new(conninfo);
	struct db_result *r = NULL;
	double t0, dt;
	long n, queued = 0;
	int i;

	if (with_audit && audit_chainer_start(conninfo) == -1)
		fail(NULL, "chainer");
	for (i = 0; i < nthreads && i < 64; i++)
		pthread_create(&threads[i], NULL, bench_writer,
		    (void *)(intptr_t)(i + 1));
	sleep(1);			/* connected and warm */
	atomic_store(&acts, 0);
	if (hold)
		pthread_create(&holder, NULL, bench_holder, NULL);
	t0 = now_s();
	sleep((unsigned)seconds);
	n = atomic_load(&acts);
	dt = now_s() - t0;
	if (with_audit) {
		if (db_query(db, &r, "SELECT count(*) FROM audit_queue", 0,
		    NULL) == -1)
			fail(db, "queue");
		queued = atol(db_value(r, 0, 0));
		db_result_free(r);
	}
	atomic_store(&stop, true);
	for (i = 0; i < nthreads && i < 64; i++)
		pthread_join(threads[i], NULL);
	if (hold)
		pthread_join(holder, NULL);
	audit_chainer_stop();
	db_free(db);
	printf("writers %d threads, %d s%s: %ld acts, %.0f acts/s",
	    nthreads, seconds, hold ? ", while a 10 s transaction holds an act" :
	    "", n, (double)n / dt);
	if (with_audit)
		printf(" (%ld committed, not yet chained, when the time was "
		    "up)\n", queued);
	else
		printf(" (baseline: the same acts, not audited)\n");
}

int
main(int argc, char **argv)
{
	if ((conninfo = getenv("SAILO_DATABASE_CONNINFO")) == NULL ||
	    argc < 2) {
		fprintf(stderr, "usage: see the comment at the top\n");
		return 2;
	}
	if (strcmp(argv[1], "append") == 0 && argc == 4)
		bench_append(atol(argv[2]), atol(argv[3]));
	else if (strcmp(argv[1], "plain") == 0 && argc == 4)
		bench_plain(atol(argv[2]), atol(argv[3]));
	else if (strcmp(argv[1], "writers") == 0 && argc >= 4)
		bench_writers(atoi(argv[2]), atoi(argv[3]), argc > 4);
	else if (strcmp(argv[1], "writers-plain") == 0 && argc == 4) {
		with_audit = false;
		bench_writers(atoi(argv[2]), atoi(argv[3]), false);
	}
	else
		return 2;
	return 0;
}
