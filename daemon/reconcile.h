/*
 * reconcile.h — start-up comparison of the spool with the catalogue.
 */
#ifndef SAILO_RECONCILE_H
#define SAILO_RECONCILE_H

struct db;

/* Runs at start-up with a connection of its own; arg is the struct app. */
void	reconcile_spool_job(struct db *db, void *arg);
/* Compares the AIP store with the catalogue; a job on the job pool. */
void	reconcile_store_job(struct db *db, void *arg);
/* Indexes for search the records catalogued before it existed
 * (sql/011): arg is unused. */
void	reconcile_search_job(struct db *db, void *arg);

#endif
