/*
 * db.h — PostgreSQL access for the rest of Sailo.  Only db.c speaks libpq.
 * A struct db is one connection owned by one thread; it connects lazily and
 * reconnects by itself on the next call after the server went away.  Every
 * statement is parameterised: values travel as text parameters, never
 * spliced into SQL.
 */
#ifndef SAILO_DB_H
#define SAILO_DB_H

#include <stdbool.h>

struct db;
struct db_result;

struct db	*db_new(const char *conninfo);	/* does not connect yet */
void		 db_free(struct db *db);
int		 db_connect(struct db *db);	/* 0, or -1 (see db_error) */
const char	*db_error(const struct db *db);
/* SQLSTATE of the last failure ("" when none): "23505" unique violation. */
const char	*db_sqlstate(const struct db *db);

/* Runs one statement with $1…$n text parameters (NULL = SQL NULL).  On
 * success returns 0 and, when out is not NULL, a result the caller frees
 * with db_result_free(). */
int		 db_query(struct db *db, struct db_result **out,
		    const char *sql, int nparams, const char *const *params);
/* Runs one statement, then COMMIT, in a single round trip (libpq pipeline
 * mode; a BEGIN not yet sent goes first): the audit trail's queue INSERT
 * at the end of every act.  sql is prepared once per connection.  On
 * failure before COMMIT succeeded the transaction is rolled back. */
int		 db_query_commit(struct db *db, struct db_result **out,
		    const char *sql, int nparams, const char *const *params);
/* Sends one statement without waiting for its answer (libpq pipeline mode,
 * non-blocking): the caller goes on with its own work while the server runs
 * it.  The next db_query(), db_commit() or db_rollback() first reads the
 * answers of every statement so sent, in order, and fails with the first
 * failure among them.  A BEGIN not yet sent goes first.  params are copied:
 * the caller may free them on return.  db_push() hands the server more of
 * what is queued, without waiting; call it now and then meanwhile. */
int		 db_send(struct db *db, const char *sql, int nparams,
		    const char *const *params);
int		 db_push(struct db *db);
/* Closes the connection between transactions if libpq's buffers grew for
 * a large statement or db_send() run (over 1 MiB queued), so that a worker
 * does not keep them after the job; the next query connects again. */
void		 db_trim(struct db *db);
/* Runs a script of several statements without parameters: migrations. */
int		 db_exec_script(struct db *db, const char *sql);
int		 db_begin(struct db *db);
/* Runs the connection's before-commit hook (the audit trail queues the
 * transaction's events there, as the last statement), then COMMIT. */
int		 db_commit(struct db *db);
void		 db_rollback(struct db *db);
bool		 db_in_transaction(const struct db *db);

/* One hook per transaction: before_commit runs right before COMMIT (-1:
 * roll back; 1: the hook committed, with db_query_commit()), after_commit once COMMIT succeeded (a failure makes
 * db_commit fail: the outcome is then unknown), discard after commit or
 * rollback.  arg is the hook owner's; db_hook_arg() finds it again, or
 * NULL. */
struct db_hook {
	int	(*before_commit)(struct db *db, void *arg);
	int	(*after_commit)(struct db *db, void *arg);
	void	(*discard)(void *arg);
	void	 *arg;
};
void		 db_set_hook(struct db *db, const struct db_hook *hook);
void		*db_hook_arg(const struct db *db, const struct db_hook *hook);

int		 db_rows(const struct db_result *r);
const char	*db_value(const struct db_result *r, int row, int col);
bool		 db_isnull(const struct db_result *r, int row, int col);
void		 db_result_free(struct db_result *r);

#endif
