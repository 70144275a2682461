/*
 * ingest_jobs.c — keeps transfers moving.  A timer on the loop starts up
 * to (job workers − 1) pipeline runs at a time, leaving one worker for the
 * inbox scan and audit checkpoints; a run processes transfers one after
 * another while there are any, then ends, and the timer looks again.
 * Which transfer a run takes is decided in PostgreSQL (ingest/process.c),
 * so several daemons share the work.
 */
#include <event2/event.h>
#include <malloc.h>
#include <stdlib.h>

#include "api.h"
#include "config.h"
#include "db.h"
#include "ingest.h"
#include "ingest_jobs.h"
#include "log.h"
#include "retention.h"
#include "workers.h"

#define INGEST_JOBS_RUN_MAX	16	/* transfers per run, then a look */
/* Retention decided again after a plan import: batches of rows, a few per
 * run, so that a pass over millions of records never keeps transfers
 * waiting for long (each batch is one short transaction). */
#define RECOMPUTE_BATCH		5000
#define RECOMPUTE_RUN_BATCHES	20
/* Approved disposal: groups of AIPs (dispose.c, about a second each) per
 * run, then transfers (or, in a disposal-only run, the inbox and
 * checkpoints) get their turn. */
#define DISPOSE_RUN_GROUPS	3

struct ingest_jobs {
	struct app	*app;
	struct event	*timer;
	struct event	*kick;
	int		 running;
	int		 max;
	/* Approved disposal has work left: one more run, disposal only,
	 * short, on the worker otherwise kept free (a batch of 10,000 AIPs
	 * is mostly the file system's work: two workers, two cores). */
	bool		 dispose_busy;
	bool		 disposing;
};

struct ingest_run {
	struct ingest_jobs	*ij;
	int			 processed;
	int			 last;
	bool			 pass_goes_on;	/* retention decided again */
	bool			 dispose_only;
	bool			 disposed;	/* took disposal work */
};


static bool
ingest_run_stopping(void *arg)
{
	struct ingest_jobs *ij = arg;

	return workers_stopping(ij->app->jobs);
}

/* Up to DISPOSE_RUN_GROUPS groups of approved disposal; true when there
 * was work. */
static bool
ingest_run_dispose(struct db *db, struct ingest_jobs *ij)
{
	bool disposed = false;
	int i;

	for (i = 0; i < DISPOSE_RUN_GROUPS && !workers_stopping(
	    ij->app->jobs); i++) {
		if (dispose_step(db, ij->app->cfg, ij->app->audit_key) != 1)
			break;
		disposed = true;
	}
	return disposed;
}

static void
ingest_run_work(struct db *db, void *arg)
{
	struct ingest_run *run = arg;
	struct ingest_jobs *ij = run->ij;
	const struct config *cfg = ij->app->cfg;
	int i, more;

	if (run->dispose_only) {
		run->disposed = ingest_run_dispose(db, ij);
		return;
	}
	for (i = 0; i < RECOMPUTE_RUN_BATCHES && !workers_stopping(
	    ij->app->jobs); i++) {
		if ((more = recompute_pass_step(db, cfg, RECOMPUTE_BATCH)) ==
		    -1)
			log_warn("retention: deciding again: %s",
			    db_error(db));
		if (more != 1)
			break;
	}
	run->pass_goes_on = i == RECOMPUTE_RUN_BATCHES;
	/* Disposal schedules whose moment has passed propose their batch. */
	for (i = 0; i < 10; i++) {
		if ((more = schedule_step(db)) == -1)
			log_warn("disposal schedules: %s", db_error(db));
		if (more != 1)
			break;
	}
	run->disposed = ingest_run_dispose(db, ij);
	if (cfg->ingest_paused)
		return;
	while (run->processed < INGEST_JOBS_RUN_MAX &&
	    !workers_stopping(ij->app->jobs)) {
		run->last = ingest_process_next(db, cfg, ingest_run_stopping,
		    ij);
		if (run->last != 1)
			break;
		run->processed++;
		/* A big package's model (100,000 records: some 250 MiB) is
		 * free now, but glibc keeps freed heap for later; give it
		 * back, so that a daemon that ingested one migration does
		 * not sit on its peak for ever (measured: RSS stayed at the
		 * peak until the next big package).  Likewise libpq's
		 * buffers, which grew to a round of catalogue rows. */
		db_trim(db);
		malloc_trim(0);
	}
	ingest_purge_kept(db, cfg);
}

static void	ingest_jobs_look(struct ingest_jobs *ij);

static void
ingest_run_done(void *arg)
{
	struct ingest_run *run = arg;
	struct ingest_jobs *ij = run->ij;
	bool more = run->last == 1 || run->pass_goes_on || run->disposed;

	if (run->dispose_only)
		ij->disposing = false;
	else
		ij->running--;
	/* A run that found no disposal work says so, unless a
	 * disposal-only run is still at it (that one will say). */
	if (run->disposed)
		ij->dispose_busy = true;
	else if (!ij->disposing)
		ij->dispose_busy = false;
	free(run);
	if (more)		/* a full run: there may be more waiting */
		ingest_jobs_look(ij);
}

static void
ingest_jobs_look(struct ingest_jobs *ij)
{
	struct ingest_run *run;

	while (ij->running < ij->max) {
		if ((run = calloc(1, sizeof(*run))) == NULL)
			return;
		run->ij = ij;
		if (workers_submit(ij->app->jobs, ingest_run_work,
		    ingest_run_done, run) == -1) {
			free(run);
			return;
		}
		ij->running++;
	}
	if (ij->dispose_busy && !ij->disposing &&
	    workers_threads(ij->app->jobs) > 1 &&
	    (run = calloc(1, sizeof(*run))) != NULL) {
		run->ij = ij;
		run->dispose_only = true;
		if (workers_submit(ij->app->jobs, ingest_run_work,
		    ingest_run_done, run) == -1)
			free(run);
		else
			ij->disposing = true;
	}
}

static void
ingest_jobs_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ingest_jobs_look(arg);
}

struct ingest_jobs *
ingest_jobs_start(struct app *app)
{
	const struct config *cfg = app->cfg;
	struct timeval tick = { cfg->ingest_poll_interval_ms / 1000,
	    (cfg->ingest_poll_interval_ms % 1000) * 1000 };
	struct ingest_jobs *ij;

	if ((ij = calloc(1, sizeof(*ij))) == NULL)
		return NULL;
	ij->app = app;
	ij->max = workers_threads(app->jobs) - 1;
	if (ij->max < 1)
		ij->max = 1;
	ij->timer = event_new(app->base, -1, EV_PERSIST, ingest_jobs_tick, ij);
	ij->kick = event_new(app->base, -1, 0, ingest_jobs_tick, ij);
	if (ij->timer == NULL || ij->kick == NULL) {
		ingest_jobs_free(ij);
		return NULL;
	}
	event_add(ij->timer, &tick);
	event_active(ij->kick, EV_TIMEOUT, 0);
	return ij;
}

void
ingest_jobs_kick(struct ingest_jobs *ij)
{
	if (ij)
		event_active(ij->kick, EV_TIMEOUT, 0);
}

void
ingest_jobs_free(struct ingest_jobs *ij)
{
	if (ij == NULL)
		return;
	if (ij->timer)
		event_free(ij->timer);
	if (ij->kick)
		event_free(ij->kick);
	free(ij);
}
