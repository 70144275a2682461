/*
 * test_db.c — unit tests of db_send() (daemon/db.c) against the private
 * PostgreSQL cluster (`make unit` starts it): statements sent without
 * waiting run in order and their answers are read by the next statement
 * that waits; a failure among them is that statement's failure and leaves
 * a usable connection; a BEGIN not yet sent goes first; several MiB queued
 * at once reach the server without a deadlock; db_trim() lets a connection
 * go only after a large run, between transactions.  Each test works in a
 * temporary table of its own session.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"

static struct db *
connect_db(void)
{
	const char *conninfo = getenv("SAILO_TEST_CONNINFO");
	struct db *db;

	assert_non_null(conninfo);
	assert_non_null(db = db_new(conninfo));
	assert_int_equal(db_connect(db), 0);
	assert_int_equal(db_query(db, NULL, "CREATE TEMP TABLE t (n int "
	    "PRIMARY KEY, s text)", 0, NULL), 0);
	return db;
}

/* The one number sql answers. */
static long
query_long(struct db *db, const char *sql)
{
	struct db_result *r = NULL;
	long n;

	assert_int_equal(db_query(db, &r, sql, 0, NULL), 0);
	n = strtol(db_value(r, 0, 0), NULL, 10);
	db_result_free(r);
	return n;
}

static long
count_rows(struct db *db)
{
	return query_long(db, "SELECT count(*) FROM t");
}

static long
backend_pid(struct db *db)
{
	return query_long(db, "SELECT pg_backend_pid()");
}

static void
test_sent_run_in_order(void **state)
{
	struct db *db = connect_db();
	struct db_result *r = NULL;
	const char *p[1];
	char n[16];
	int i;

	(void)state;
	assert_int_equal(db_begin(db), 0);
	for (i = 0; i < 50; i++) {
		snprintf(n, sizeof(n), "%d", i);
		p[0] = n;
		assert_int_equal(db_send(db, "INSERT INTO t VALUES ($1::int, "
		    "(SELECT string_agg(n::text, ',' ORDER BY n) FROM t))", 1,
		    p), 0);
	}
	/* Each row saw exactly the rows sent before it. */
	assert_int_equal(db_query(db, &r, "SELECT s FROM t WHERE n = 3", 0,
	    NULL), 0);
	assert_string_equal(db_value(r, 0, 0), "0,1,2");
	db_result_free(r);
	assert_int_equal(db_commit(db), 0);
	assert_int_equal(count_rows(db), 50);
	db_free(db);
}

static void
test_failure_is_reported_and_connection_stays_usable(void **state)
{
	struct db *db = connect_db();
	const char *p[1] = { "1" };

	(void)state;
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_send(db, "INSERT INTO t VALUES ($1::int)", 1, p),
	    0);
	/* The same key again: a unique violation, then one more statement
	 * the server refuses because the transaction is aborted. */
	assert_int_equal(db_send(db, "INSERT INTO t VALUES ($1::int)", 1, p),
	    0);
	assert_int_equal(db_send(db, "SELECT 1", 0, NULL), 0);
	assert_int_equal(db_query(db, NULL, "SELECT 2", 0, NULL), -1);
	/* The first failure is the one told. */
	assert_non_null(strstr(db_error(db), "duplicate key"));
	db_rollback(db);
	assert_false(db_in_transaction(db));
	assert_int_equal(count_rows(db), 0);
	assert_int_equal(db_query(db, NULL, "INSERT INTO t VALUES (7)", 0,
	    NULL), 0);
	assert_int_equal(count_rows(db), 1);
	db_free(db);
}

static void
test_begin_goes_first(void **state)
{
	struct db *db = connect_db();

	(void)state;
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_send(db, "INSERT INTO t VALUES (1)", 0, NULL), 0);
	assert_true(db_in_transaction(db));
	db_rollback(db);	/* collects, then rolls the INSERT back */
	assert_int_equal(count_rows(db), 0);
	db_free(db);
}

/* More than the socket holds, queued without waiting: db_push() hands it
 * on, the next db_query() waits for the rest. */
static void
test_large_sends(void **state)
{
	struct db *db = connect_db();
	size_t len = 1 << 20;
	char *big = malloc(len + 1), n[16];
	const char *p[2] = { n, big };
	int i;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', len);
	big[len] = '\0';
	assert_int_equal(db_begin(db), 0);
	for (i = 0; i < 24; i++) {
		snprintf(n, sizeof(n), "%d", i);
		assert_int_equal(db_send(db, "INSERT INTO t VALUES ($1::int, "
		    "$2)", 2, p), 0);
		assert_int_equal(db_push(db), 0);
	}
	assert_int_equal(db_commit(db), 0);
	assert_int_equal(count_rows(db), 24);
	free(big);
	db_free(db);
}

/* db_trim() closes the connection only after more than 1 MiB went out at
 * once, never inside a transaction, and the next query connects again. */
static void
test_trim_after_large_sends(void **state)
{
	struct db *db = connect_db();
	size_t len = 600 * 1024;
	char *big = malloc(len + 1), n[16];
	const char *p[2] = { n, big };
	long pid;
	int i;

	(void)state;
	assert_non_null(big);
	memset(big, 'y', len);
	big[len] = '\0';
	pid = backend_pid(db);
	snprintf(n, sizeof(n), "1");
	assert_int_equal(db_query(db, NULL, "INSERT INTO t VALUES ($1::int, "
	    "$2)", 2, p), 0);
	db_trim(db);			/* 600 KiB: kept */
	assert_int_equal(backend_pid(db), pid);
	assert_int_equal(db_begin(db), 0);
	for (i = 2; i < 4; i++) {	/* 1.2 MiB in one run */
		snprintf(n, sizeof(n), "%d", i);
		assert_int_equal(db_send(db, "INSERT INTO t VALUES ($1::int, "
		    "$2)", 2, p), 0);
	}
	db_trim(db);			/* in the transaction: kept */
	assert_int_equal(db_commit(db), 0);
	assert_int_equal(count_rows(db), 3);
	db_trim(db);			/* let go: a new session */
	assert_int_not_equal(backend_pid(db), pid);
	free(big);
	db_free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sent_run_in_order),
		cmocka_unit_test(
		    test_failure_is_reported_and_connection_stays_usable),
		cmocka_unit_test(test_begin_goes_first),
		cmocka_unit_test(test_large_sends),
		cmocka_unit_test(test_trim_after_large_sends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
