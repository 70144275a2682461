/*
 * ingest_jobs.h — the loop's side of the ingest pipeline: a timer that
 * keeps transfers moving through ingest/process.c on the job workers.
 */
#ifndef SAILO_INGEST_JOBS_H
#define SAILO_INGEST_JOBS_H

struct app;
struct ingest_jobs;

/* Starts looking for waiting transfers every ingest.poll_interval_ms (and
 * at once); NULL without memory. */
struct ingest_jobs	*ingest_jobs_start(struct app *app);
/* Looks now (a transfer was just recorded); safe from any thread. */
void			 ingest_jobs_kick(struct ingest_jobs *ij);
/* Stops the timer; running jobs finish at their next safe point when the
 * job pool stops. */
void			 ingest_jobs_free(struct ingest_jobs *ij);

#endif
