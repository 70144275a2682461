/*
 * metrics.h — counters and histograms for GET /metrics (Prometheus text).
 * Observed and rendered on the loop thread only, so it needs no lock.
 */
#ifndef SAILO_METRICS_H
#define SAILO_METRICS_H

struct evbuffer;
struct metrics;

struct metrics	*metrics_new(void);
void		 metrics_free(struct metrics *m);
/* One finished request: its route label, status and duration. */
void		 metrics_observe(struct metrics *m, const char *route,
		    int status, double seconds);
/* Appends the request families in Prometheus text format. */
void		 metrics_render(struct metrics *m, struct evbuffer *out);

#endif
