/*
 * health.h — is the database reachable?  A probe thread with its own
 * connection runs `SELECT 1` every interval, so /healthz never waits for a
 * busy worker pool and the loop thread never waits for the database.
 */
#ifndef SAILO_HEALTH_H
#define SAILO_HEALTH_H

#include <stdbool.h>

struct health;

struct health	*health_start(const char *conninfo, int interval_ms);
/* True when the last probe succeeded and is not stale. */
bool		 health_database_ok(struct health *h);
void		 health_stop(struct health *h);

#endif
