/*
 * metrics.c — request counts by route and status, and a duration histogram
 * by route.  Routes are a small fixed set (the route table plus
 * "unmatched"), so plain arrays searched linearly are enough.
 */
#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define METRICS_MAX_SERIES	512
#define METRICS_MAX_ROUTES	128

static const double metrics_buckets[] = {
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};
#define NBUCKETS (sizeof(metrics_buckets) / sizeof(metrics_buckets[0]))

struct metrics_count {
	const char	*route;		/* a static route name */
	int		 status;
	uint64_t	 n;
};

struct metrics_hist {
	const char	*route;
	uint64_t	 buckets[NBUCKETS];
	uint64_t	 count;
	double		 sum;
};

struct metrics {
	struct metrics_count	counts[METRICS_MAX_SERIES];
	int			ncounts;
	struct metrics_hist	hists[METRICS_MAX_ROUTES];
	int			nhists;
	char			names[METRICS_MAX_ROUTES][64];
};

struct metrics *
metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void
metrics_free(struct metrics *m)
{
	free(m);
}

/* Route labels come from the request and may not outlive it: keep a copy. */
static const char *
metrics_intern(struct metrics *m, const char *route)
{
	int i;

	for (i = 0; i < m->nhists; i++)
		if (strcmp(m->names[i], route) == 0)
			return m->names[i];
	return NULL;
}

void
metrics_observe(struct metrics *m, const char *route, int status,
    double seconds)
{
	struct metrics_hist *h;
	const char *name;
	size_t b;
	int i;

	if ((name = metrics_intern(m, route)) == NULL) {
		if (m->nhists == METRICS_MAX_ROUTES)
			return;
		i = m->nhists++;
		strncpy(m->names[i], route, sizeof(m->names[i]) - 1);
		m->hists[i].route = m->names[i];
		name = m->names[i];
	}
	for (i = 0; i < m->ncounts; i++)
		if (m->counts[i].route == name && m->counts[i].status == status)
			break;
	if (i == m->ncounts) {
		if (m->ncounts == METRICS_MAX_SERIES)
			return;
		m->counts[i].route = name;
		m->counts[i].status = status;
		m->ncounts++;
	}
	m->counts[i].n++;
	for (i = 0; i < m->nhists; i++)
		if (m->hists[i].route == name)
			break;
	h = &m->hists[i];
	for (b = 0; b < NBUCKETS; b++)
		if (seconds <= metrics_buckets[b])
			h->buckets[b]++;
	h->count++;
	h->sum += seconds;
}

void
metrics_render(struct metrics *m, struct evbuffer *out)
{
	size_t b;
	int i;

	evbuffer_add_printf(out,
	    "# HELP sailo_http_requests_total HTTP requests answered.\n"
	    "# TYPE sailo_http_requests_total counter\n");
	for (i = 0; i < m->ncounts; i++)
		evbuffer_add_printf(out, "sailo_http_requests_total{route=\"%s\","
		    "status=\"%d\"} %llu\n", m->counts[i].route,
		    m->counts[i].status, (unsigned long long)m->counts[i].n);
	evbuffer_add_printf(out,
	    "# HELP sailo_http_request_duration_seconds Time from the first "
	    "byte of a request to the last byte of its reply.\n"
	    "# TYPE sailo_http_request_duration_seconds histogram\n");
	for (i = 0; i < m->nhists; i++) {
		struct metrics_hist *h = &m->hists[i];
		for (b = 0; b < NBUCKETS; b++)
			evbuffer_add_printf(out,
			    "sailo_http_request_duration_seconds_bucket{"
			    "route=\"%s\",le=\"%g\"} %llu\n", h->route,
			    metrics_buckets[b],
			    (unsigned long long)h->buckets[b]);
		evbuffer_add_printf(out,
		    "sailo_http_request_duration_seconds_bucket{route=\"%s\","
		    "le=\"+Inf\"} %llu\n"
		    "sailo_http_request_duration_seconds_sum{route=\"%s\"} "
		    "%.6f\n"
		    "sailo_http_request_duration_seconds_count{route=\"%s\"} "
		    "%llu\n", h->route, (unsigned long long)h->count,
		    h->route, h->sum, h->route,
		    (unsigned long long)h->count);
	}
}
