/*
 * workers.h — fixed pools of worker threads.  Each thread owns one database
 * connection (struct db).  The loop thread submits a job; the job's work
 * function runs on a worker, then its done function runs back on the loop
 * thread.  This is the one way Sailo moves blocking work (disk, hashing,
 * XML, SQL) off the event loop.
 */
#ifndef SAILO_WORKERS_H
#define SAILO_WORKERS_H

#include <stdbool.h>

struct event_base;
struct db;
struct workers;

/* Runs on a worker thread; db is the thread's connection (NULL when the
 * pool was made without a conninfo). */
typedef void	(*workers_work_fn)(struct db *db, void *arg);
/* Runs on the loop thread after the work is done. */
typedef void	(*workers_done_fn)(void *arg);

/* nthreads 0 = number of cores.  max_queue bounds the jobs waiting. */
struct workers	*workers_new(struct event_base *base, const char *name,
		    int nthreads, int max_queue, const char *conninfo);
/* 0, or -1 when the queue is full or the pool is stopping (caller answers
 * 503 with Retry-After). */
int		 workers_submit(struct workers *w, workers_work_fn work,
		    workers_done_fn done, void *arg);
int		 workers_depth(struct workers *w);	/* jobs waiting */
int		 workers_busy(struct workers *w);	/* jobs running */
int		 workers_threads(struct workers *w);
const char	*workers_name(struct workers *w);
/* True once workers_stop() was called: long jobs check it at safe points
 * and return early, leaving their state in PostgreSQL to resume later. */
bool		 workers_stopping(struct workers *w);
/* Refuses new jobs, lets queued and running ones finish, joins threads and
 * runs the last done callbacks.  Call on the loop thread. */
void		 workers_stop(struct workers *w);
void		 workers_free(struct workers *w);

#endif
