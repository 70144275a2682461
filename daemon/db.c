/*
 * db.c — the one file that calls libpq.  Connections are per thread and
 * lazily (re)connected: when the server restarts, the first query after it
 * fails and the next one connects afresh.  A failed query is never retried
 * here, because the caller alone knows whether it is safe to repeat.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

#define DB_PREPARED_MAX	16

struct db {
	char		*conninfo;
	PGconn		*conn;
	char		 error[512];
	char		 sqlstate[6];
	struct db_hook	 hook;
	bool		 has_hook;
	/* Statements prepared on this connection (db_query_commit: every
	 * audited act's last statement), parsed once per session. */
	char		*prepared[DB_PREPARED_MAX];
	int		 nprepared;
	/* db_begin() was called and BEGIN not yet sent: it travels with the
	 * transaction's first statement, one round trip fewer per
	 * transaction. */
	bool		 begin_pending;
	/* Statements db_send() queued whose answers are not read yet: the
	 * connection is in pipeline mode and non-blocking until then. */
	int		 sent;
	/* Bytes of parameters in the last statement, or in the db_send()
	 * run or pipeline under way; grown: once over DB_BUFFER_KEEP on
	 * this connection.  libpq's output buffer grows to hold what the
	 * server has not read yet and never shrinks. */
	size_t		 sending;
	bool		 grown;
};

/* libpq's buffers are let go (the connection closed, db_trim()) after
 * more than this went out at once. */
#define DB_BUFFER_KEEP	(1024 * 1024)

struct db_result {
	PGresult *res;
};

static void	db_drop_hook(struct db *db);
static int	db_collect(struct db *db);
static void	db_forget_prepared(struct db *db);
static int	db_prepared(struct db *db, const char *sql, int nparams,
		    char name[16]);

static void
db_set_error(struct db *db, const char *what, const PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res) :
	    (db->conn ? PQerrorMessage(db->conn) : "no connection");
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
	    NULL;
	size_t n;

	snprintf(db->error, sizeof(db->error), "%s: %s", what, msg);
	n = strlen(db->error);
	while (n > 0 && (db->error[n - 1] == '\n' || db->error[n - 1] == ' '))
		db->error[--n] = '\0';
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
}

struct db *
db_new(const char *conninfo)
{
	struct db *db;

	if ((db = calloc(1, sizeof(*db))) == NULL)
		return NULL;
	if ((db->conninfo = strdup(conninfo)) == NULL) {
		free(db);
		return NULL;
	}
	return db;
}

void
db_free(struct db *db)
{
	if (db == NULL)
		return;
	db_drop_hook(db);
	db_forget_prepared(db);
	if (db->conn)
		PQfinish(db->conn);
	free(db->conninfo);
	free(db);
}

/* Counts what a statement sends (see db->grown). */
static void
db_count_sent(struct db *db, int nparams, const char *const *params,
    bool more)
{
	size_t n = more ? db->sending : 0;
	int i;

	for (i = 0; i < nparams; i++)
		if (params[i])
			n += strlen(params[i]);
	db->sending = n;
	if (n > DB_BUFFER_KEEP)
		db->grown = true;
}

void
db_trim(struct db *db)
{
	if (!db->grown || db->sent > 0 || db_in_transaction(db))
		return;
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;		/* db_connect() starts afresh */
}

static void
db_ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int
db_connect(struct db *db)
{
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
		return 0;
	if (db->conn) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	db_forget_prepared(db);		/* a new session knows none */
	db->grown = false;		/* … and has small buffers */
	db->conn = PQconnectdb(db->conninfo);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		db_set_error(db, "connect", NULL);
		PQfinish(db->conn);
		db->conn = NULL;
		return -1;
	}
	/* Notices (CREATE … IF NOT EXISTS) are not errors: keep them quiet. */
	PQsetNoticeProcessor(db->conn, db_ignore_notice, NULL);
	/* Times go out in UTC.  No JIT: Sailo's statements are short, and
	 * those the planner thinks long (a disposal group's) were compiled
	 * by LLVM each time: 29% of all CPU in the disposal benchmark. */
	PQclear(PQexec(db->conn, "SET TIME ZONE 'UTC'; SET jit = off"));
	return 0;
}

const char *
db_error(const struct db *db)
{
	return db->error;
}

const char *
db_sqlstate(const struct db *db)
{
	return db->sqlstate;
}

/* One statement of db_pipeline(): prepared (name) or not (sql). */
struct db_stmt {
	const char		*sql;
	const char		*name;
	int			 nparams;
	const char *const	*params;
	const char		*what;		/* for the error message */
};

/*
 * Runs n statements in one round trip (libpq pipeline mode), in order; a
 * failure makes the server skip the rest.  Returns 0 when all succeeded,
 * with the result of statement keep (-1: none) in *kept; else -1 with the
 * first failure's error.  The connection leaves pipeline mode either way.
 */
static int
db_pipeline(struct db *db, const struct db_stmt *st, int n, int keep,
    PGresult **kept)
{
	PGresult *res;
	int i, ok = 0, rc = -1;

	*kept = NULL;
	db->error[0] = '\0';
	if (PQenterPipelineMode(db->conn) != 1) {
		db_set_error(db, "pipeline", NULL);
		return -1;
	}
	for (i = 0; i < n; i++)
		db_count_sent(db, st[i].nparams, st[i].params, i > 0);
	for (i = 0; i < n; i++)
		if ((st[i].name ? PQsendQueryPrepared(db->conn, st[i].name,
		    st[i].nparams, st[i].params, NULL, NULL, 0) :
		    PQsendQueryParams(db->conn, st[i].sql, st[i].nparams, NULL,
		    st[i].params, NULL, NULL, 0)) != 1)
			break;
	if (i < n || PQpipelineSync(db->conn) != 1) {
		db_set_error(db, "pipeline", NULL);
		goto drain;
	}
	/* Each statement's result, then NULL; then the sync. */
	for (i = 0; i < n; i++) {
		if ((res = PQgetResult(db->conn)) == NULL)
			break;
		if (PQresultStatus(res) == PGRES_TUPLES_OK ||
		    PQresultStatus(res) == PGRES_COMMAND_OK) {
			ok++;
			if (i == keep)
				*kept = res;
			else
				PQclear(res);
		} else {
			if (db->error[0] == '\0')
				db_set_error(db, st[i].what, res);
			PQclear(res);
		}
		while ((res = PQgetResult(db->conn)) != NULL)
			PQclear(res);
	}
	if (ok == n)
		rc = 0;
drain:
	while ((res = PQgetResult(db->conn)) != NULL &&
	    PQresultStatus(res) != PGRES_PIPELINE_SYNC)
		PQclear(res);
	PQclear(res);
	if (db->conn)
		PQexitPipelineMode(db->conn);
	if (rc == -1) {
		PQclear(*kept);
		*kept = NULL;
	}
	return rc;
}

/* Hands res to the caller as *out (out NULL: frees it).  0, or -1 without
 * memory. */
static int
db_keep_result(struct db *db, PGresult *res, struct db_result **out)
{
	if (out == NULL) {
		PQclear(res);
		return 0;
	}
	if ((*out = malloc(sizeof(**out))) == NULL) {
		PQclear(res);
		snprintf(db->error, sizeof(db->error), "out of memory");
		return -1;
	}
	(*out)->res = res;
	return 0;
}

/* db_query() of a transaction's first statement: BEGIN goes with it. */
static int
db_query_after_begin(struct db *db, struct db_result **out, const char *sql,
    int nparams, const char *const *params)
{
	struct db_stmt st[2] = {
		{ "BEGIN", NULL, 0, NULL, "begin" },
		{ sql, NULL, nparams, params, "query" },
	};
	PGresult *res;

	db->begin_pending = false;
	if (db_connect(db) == -1)
		return -1;
	if (db_pipeline(db, st, 2, out ? 1 : -1, &res) == -1) {
		if (PQstatus(db->conn) != CONNECTION_OK) {
			PQfinish(db->conn);	/* reconnect next time */
			db->conn = NULL;
		}
		return -1;
	}
	return db_keep_result(db, res, out);
}

int
db_query(struct db *db, struct db_result **out, const char *sql, int nparams,
    const char *const *params)
{
	PGresult *res;
	ExecStatusType st;

	if (out)
		*out = NULL;
	db->sqlstate[0] = '\0';
	if (db->sent > 0 && db_collect(db) == -1)
		return -1;
	if (db->begin_pending)
		return db_query_after_begin(db, out, sql, nparams, params);
	if (db_connect(db) == -1)
		return -1;
	db_count_sent(db, nparams, params, false);
	res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL,
	    0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		db_set_error(db, "query", res);
		PQclear(res);
		if (PQstatus(db->conn) != CONNECTION_OK) {
			PQfinish(db->conn);	/* reconnect next time */
			db->conn = NULL;
		}
		return -1;
	}
	return db_keep_result(db, res, out);
}

static void
db_forget_prepared(struct db *db)
{
	int i;

	for (i = 0; i < db->nprepared; i++)
		free(db->prepared[i]);
	db->nprepared = 0;
}

/*
 * The name of sql prepared on this connection, preparing it the first time.
 * Returns 0; -1 when preparing failed (the error is the statement's own);
 * -2 when the cache is full (run it unprepared).
 */
static int
db_prepared(struct db *db, const char *sql, int nparams, char name[16])
{
	PGresult *res;
	int i;

	for (i = 0; i < db->nprepared; i++)
		if (strcmp(db->prepared[i], sql) == 0)
			goto found;
	if (db->nprepared == DB_PREPARED_MAX)
		return -2;
	snprintf(name, 16, "s%d", i);
	res = PQprepare(db->conn, name, sql, nparams, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		db_set_error(db, "query", res);
		PQclear(res);
		if (PQstatus(db->conn) != CONNECTION_OK) {
			PQfinish(db->conn);
			db->conn = NULL;
		}
		return -1;
	}
	PQclear(res);
	if ((db->prepared[db->nprepared] = strdup(sql)) == NULL)
		return -2;	/* prepared, but not remembered: harmless */
	db->nprepared++;
found:
	snprintf(name, 16, "s%d", i);
	return 0;
}

int
db_query_commit(struct db *db, struct db_result **out, const char *sql,
    int nparams, const char *const *params)
{
	struct db_stmt st[3];
	char name[16];
	PGresult *first = NULL;
	int rc, n = 0, keep;

	if (out)
		*out = NULL;
	db->sqlstate[0] = '\0';
	db->error[0] = '\0';
	if (db->sent > 0 && db_collect(db) == -1) {
		db_rollback(db);
		return -1;
	}
	if (db_connect(db) == -1)
		return -1;
	if (db_prepared(db, sql, nparams, name) != 0) {
		if (db->error[0] == '\0')
			snprintf(db->error, sizeof(db->error),
			    "too many prepared statements");
		db_rollback(db);
		return -1;
	}
	if (db->begin_pending)
		st[n++] = (struct db_stmt){ "BEGIN", NULL, 0, NULL, "begin" };
	db->begin_pending = false;
	keep = n;
	st[n++] = (struct db_stmt){ sql, name, nparams, params, "query" };
	st[n++] = (struct db_stmt){ "COMMIT", NULL, 0, NULL, "commit" };
	rc = db_pipeline(db, st, n, keep, &first);
	if (rc == 0)
		rc = db_keep_result(db, first, out);
	if (rc == -1) {
		if (db->conn && PQstatus(db->conn) != CONNECTION_OK) {
			PQfinish(db->conn);
			db->conn = NULL;
		} else
			db_rollback(db);
	}
	return rc;
}

/* Leaves pipeline mode after a failure that may have left answers unread:
 * a connection that cannot be trusted is closed (reconnect next time). */
static void
db_pipeline_abandon(struct db *db)
{
	db->sent = 0;
	if (db->conn == NULL)
		return;
	if (PQstatus(db->conn) != CONNECTION_OK ||
	    PQpipelineStatus(db->conn) != PQ_PIPELINE_OFF) {
		PQfinish(db->conn);
		db->conn = NULL;
		db->begin_pending = false;
	}
}

int
db_send(struct db *db, const char *sql, int nparams,
    const char *const *params)
{
	db->sqlstate[0] = '\0';
	if (db->sent == 0) {
		if (db_connect(db) == -1)
			return -1;
		if (PQenterPipelineMode(db->conn) != 1 ||
		    PQsetnonblocking(db->conn, 1) != 0) {
			db_set_error(db, "pipeline", NULL);
			db_pipeline_abandon(db);
			return -1;
		}
	}
	if (db->begin_pending) {
		db->begin_pending = false;
		if (PQsendQueryParams(db->conn, "BEGIN", 0, NULL, NULL, NULL,
		    NULL, 0) != 1 || PQpipelineSync(db->conn) != 1)
			goto failed;
		db->sent++;
	}
	db_count_sent(db, nparams, params, db->sent > 0);
	if (PQsendQueryParams(db->conn, sql, nparams, NULL, params, NULL,
	    NULL, 0) != 1 || PQpipelineSync(db->conn) != 1)
		goto failed;
	db->sent++;
	return db_push(db);
failed:
	db_set_error(db, "send", NULL);
	db_pipeline_abandon(db);
	return -1;
}

int
db_push(struct db *db)
{
	if (db->sent == 0 || PQflush(db->conn) != -1)
		return 0;
	db_set_error(db, "send", NULL);
	db_pipeline_abandon(db);
	return -1;
}

/* Sends all that is queued, waiting as the libpq manual says: for the
 * socket to take more, reading what the server says meanwhile. */
static int
db_flush_all(struct db *db)
{
	struct pollfd p;
	int r;

	while ((r = PQflush(db->conn)) == 1) {
		p = (struct pollfd){ PQsocket(db->conn), POLLIN | POLLOUT, 0 };
		if (poll(&p, 1, -1) == -1 && errno != EINTR)
			return -1;
		if ((p.revents & POLLIN) && PQconsumeInput(db->conn) != 1)
			return -1;
	}
	return r;
}

/*
 * Reads the answers of every statement db_send() queued, in order, and
 * leaves pipeline mode.  Each statement was followed by its own sync, so a
 * failure ends only that statement (and, in a transaction, makes the
 * server refuse the rest: the first failure is the one kept).  0, or -1
 * with that first failure's error.
 */
static int
db_collect(struct db *db)
{
	PGresult *res;
	ExecStatusType st;
	bool synced;
	int rc = 0;

	db->error[0] = '\0';
	if (db_flush_all(db) == -1 || PQsetnonblocking(db->conn, 0) != 0) {
		db_set_error(db, "send", NULL);
		db_pipeline_abandon(db);
		return -1;
	}
	/* Each statement: its result (or none, when the pipeline was
	 * aborted), NULL, then its sync. */
	for (; db->sent > 0; db->sent--) {
		synced = false;
		while (!synced && (res = PQgetResult(db->conn)) != NULL) {
			st = PQresultStatus(res);
			synced = st == PGRES_PIPELINE_SYNC;
			if (!synced && st != PGRES_COMMAND_OK &&
			    st != PGRES_TUPLES_OK && rc == 0) {
				db_set_error(db, "query", res);
				rc = -1;
			}
			PQclear(res);
		}
		if (synced)
			continue;	/* the sync came without a NULL */
		res = PQgetResult(db->conn);
		st = PQresultStatus(res);
		PQclear(res);
		if (st != PGRES_PIPELINE_SYNC) {
			if (rc == 0)
				db_set_error(db, "pipeline", NULL);
			db_pipeline_abandon(db);
			return -1;
		}
	}
	if (PQexitPipelineMode(db->conn) != 1) {
		if (rc == 0)
			db_set_error(db, "pipeline", NULL);
		db_pipeline_abandon(db);
		return -1;
	}
	return rc;
}

int
db_exec_script(struct db *db, const char *sql)
{
	PGresult *res;
	int rc = 0;

	if (db->sent > 0 && db_collect(db) == -1)
		return -1;
	if (db_connect(db) == -1)
		return -1;
	if (db->begin_pending) {
		db->begin_pending = false;
		if (db_query(db, NULL, "BEGIN", 0, NULL) == -1)
			return -1;
	}
	res = PQexec(db->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_set_error(db, "script", res);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

int
db_begin(struct db *db)
{
	db_drop_hook(db);	/* nothing of an abandoned transaction stays */
	if (db_in_transaction(db))
		return db_query(db, NULL, "BEGIN", 0, NULL);	/* its warning */
	db->begin_pending = true;
	return 0;
}

static void
db_drop_hook(struct db *db)
{
	struct db_hook hook = db->hook;

	if (!db->has_hook)
		return;
	db->has_hook = false;
	memset(&db->hook, 0, sizeof(db->hook));
	if (hook.discard)
		hook.discard(hook.arg);
}

int
db_commit(struct db *db)
{
	int rc = 0;

	if (db->has_hook && db->hook.before_commit &&
	    (rc = db->hook.before_commit(db, db->hook.arg)) == -1) {
		db_rollback(db);
		return -1;
	}
	if (rc == 1)			/* 1: the hook committed */
		rc = 0;
	else if (db->begin_pending)	/* nothing was run: nothing to do */
		db->begin_pending = false;
	else
		rc = db_query(db, NULL, "COMMIT", 0, NULL);
	if (rc == 0 && db->has_hook && db->hook.after_commit &&
	    db->hook.after_commit(db, db->hook.arg) == -1)
		rc = -1;
	db_drop_hook(db);
	return rc;
}

bool
db_in_transaction(const struct db *db)
{
	return db->begin_pending ||
	    (db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE);
}

void
db_set_hook(struct db *db, const struct db_hook *hook)
{
	db_drop_hook(db);
	db->hook = *hook;
	db->has_hook = true;
}

void *
db_hook_arg(const struct db *db, const struct db_hook *hook)
{
	if (!db->has_hook || db->hook.before_commit != hook->before_commit)
		return NULL;
	return db->hook.arg;
}

void
db_rollback(struct db *db)
{
	char saved[sizeof(db->error)];

	/* Keep the error that made the caller roll back. */
	memcpy(saved, db->error, sizeof(saved));
	if (db->sent > 0)
		(void)db_collect(db);	/* the answers matter no more */
	db->begin_pending = false;
	if (db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		(void)db_query(db, NULL, "ROLLBACK", 0, NULL);
	memcpy(db->error, saved, sizeof(saved));
	db_drop_hook(db);
}

int
db_rows(const struct db_result *r)
{
	return PQntuples(r->res);
}

const char *
db_value(const struct db_result *r, int row, int col)
{
	return PQgetvalue(r->res, row, col);
}

bool
db_isnull(const struct db_result *r, int row, int col)
{
	return PQgetisnull(r->res, row, col);
}

void
db_result_free(struct db_result *r)
{
	if (r == NULL)
		return;
	PQclear(r->res);
	free(r);
}
