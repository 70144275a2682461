/*
 * early.h — unpacking a package while it is received (early.c).  Internal
 * to ingest/: the spool (spool.c) drives it, the pipeline (process.c)
 * takes its result.
 */
#ifndef SAILO_EARLY_H
#define SAILO_EARLY_H

#include "ingest.h"

struct config;
struct early;

/* Once at start-up: this daemon's folder under storage.work, and the
 * folders of daemons that died are removed.  0, or -1 with err. */
int		 early_init(const struct config *cfg, char *err,
		    size_t errlen);
/* Starts unpacking the spool file at part_path as it grows; NULL when it
 * will not (switched off, ingest paused, EARLY_MAX running, no memory). */
struct early	*early_start(const struct config *cfg, const char *part_path);
/* The file now holds size bytes. */
void		 early_wrote(struct early *e, uint64_t size);
/* The file is whole at size bytes. */
void		 early_whole(struct early *e, uint64_t size);
/* The file became transfer_id's package; e belongs to the list now. */
void		 early_bind(struct early *e, const char *transfer_id);
/* The file will not become a transfer: stop, and drop e. */
void		 early_stop(struct early *e);
/* The job's side: when this daemon unpacked transfer_id's package early,
 * waits until it is done, moves its folder to work and its files and
 * findings to out and f, and returns 1; 0 when there is none (or it could
 * not finish): unpack from the spool. */
int		 early_take(const char *transfer_id, const char *work,
		    struct unpack_result *out, struct findings *f);
/* Drops results no job took for long (another daemon claimed them). */
void		 early_reap(void);
/* At exit: stops them all and waits. */
void		 early_shutdown(void);

#endif
