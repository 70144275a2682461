/*
 * route_health.c — GET /healthz and GET /metrics.  Both answer from memory
 * on the loop thread: the database state comes from the health probe, the
 * figures from metrics.c and the worker pools.
 */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "health.h"
#include "http.h"
#include "metrics.h"
#include "workers.h"

static time_t route_health_started;

static void
route_healthz(struct api_call *call, struct http_request *req)
{
	bool ok = health_database_ok(call->app->health);
	const char *body = ok ? "{\"status\":\"ok\",\"database\":\"ok\"}" :
	    "{\"status\":\"unavailable\",\"database\":\"down\"}";

	if (!ok)
		http_add_header(req, "Retry-After", "5");
	http_add_header(req, "Cache-Control", "no-store");
	http_reply(req, ok ? 200 : 503, "application/json", body,
	    strlen(body));
}

static void
route_metrics_pool(struct evbuffer *out, struct workers *w)
{
	if (w == NULL)
		return;
	evbuffer_add_printf(out,
	    "sailo_worker_queue_depth{pool=\"%s\"} %d\n"
	    "sailo_worker_busy{pool=\"%s\"} %d\n"
	    "sailo_worker_threads{pool=\"%s\"} %d\n",
	    workers_name(w), workers_depth(w), workers_name(w),
	    workers_busy(w), workers_name(w), workers_threads(w));
}

static void
route_metrics(struct api_call *call, struct http_request *req)
{
	struct app *app = call->app;
	struct evbuffer *out = evbuffer_new();
	size_t n;
	char *text;

	if (route_health_started == 0)
		route_health_started = time(NULL);
	if (out == NULL) {
		http_reply(req, 500, "text/plain", "", 0);
		return;
	}
	evbuffer_add_printf(out,
	    "# HELP sailo_uptime_seconds Seconds since the daemon started.\n"
	    "# TYPE sailo_uptime_seconds gauge\n"
	    "sailo_uptime_seconds %lld\n"
	    "# HELP sailo_database_up 1 when the database probe succeeds.\n"
	    "# TYPE sailo_database_up gauge\n"
	    "sailo_database_up %d\n"
	    "# HELP sailo_worker_queue_depth Jobs waiting for a worker.\n"
	    "# TYPE sailo_worker_queue_depth gauge\n"
	    "# HELP sailo_worker_busy Jobs running on a worker.\n"
	    "# TYPE sailo_worker_busy gauge\n"
	    "# HELP sailo_worker_threads Threads in a pool.\n"
	    "# TYPE sailo_worker_threads gauge\n",
	    (long long)(time(NULL) - route_health_started),
	    health_database_ok(app->health) ? 1 : 0);
	route_metrics_pool(out, app->requests);
	route_metrics_pool(out, app->jobs);
	metrics_render(app->metrics, out);
	n = evbuffer_get_length(out);
	text = (char *)evbuffer_pullup(out, -1);
	http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text,
	    n);
	evbuffer_free(out);
}

/* Called at start-up so that uptime counts from then, not first scrape. */
void
route_health_init(void)
{
	route_health_started = time(NULL);
}

const struct api_route route_health_rows[] = {
	{ "GET", "/healthz", "healthz", 0, API_BODY_NONE, NULL,
	    route_healthz, API_POOL_REQUESTS },
	{ "GET", "/metrics", "metrics", 0, API_BODY_NONE, NULL,
	    route_metrics, API_POOL_REQUESTS },
	{ NULL, NULL, NULL, 0, API_BODY_NONE, NULL, NULL, API_POOL_REQUESTS },
};
