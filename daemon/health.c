/*
 * health.c — the database probe.  One thread, one connection, one query an
 * interval; the result is an atomic the loop thread reads.  A probe that
 * hangs (a network partition) makes the answer stale, and stale counts as
 * down.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "health.h"
#include "log.h"

struct health {
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	bool		 stopping;
	char		*conninfo;
	int		 interval_ms;
	atomic_bool	 ok;
	atomic_llong	 last_probe_ms;	/* monotonic, when the last ended */
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *
health_thread(void *arg)
{
	struct health *h = arg;
	struct db *db = db_new(h->conninfo);
	struct timespec until;
	bool ok, was_ok = true;

	pthread_mutex_lock(&h->lock);
	while (!h->stopping) {
		pthread_mutex_unlock(&h->lock);
		ok = db && db_query(db, NULL, "SELECT 1", 0, NULL) == 0;
		if (ok != was_ok) {
			if (ok)
				log_info("database is reachable again");
			else
				log_warn("database is down: %s",
				    db ? db_error(db) : "out of memory");
			was_ok = ok;
		}
		atomic_store(&h->ok, ok);
		atomic_store(&h->last_probe_ms, now_ms());
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += h->interval_ms / 1000;
		until.tv_nsec += (long)(h->interval_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&h->lock);
		if (!h->stopping)
			pthread_cond_timedwait(&h->cond, &h->lock, &until);
	}
	pthread_mutex_unlock(&h->lock);
	db_free(db);
	return NULL;
}

struct health *
health_start(const char *conninfo, int interval_ms)
{
	struct health *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->conninfo = strdup(conninfo);
	h->interval_ms = interval_ms;
	atomic_store(&h->last_probe_ms, now_ms());
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (h->conninfo == NULL ||
	    pthread_create(&h->thread, NULL, health_thread, h) != 0) {
		free(h->conninfo);
		free(h);
		return NULL;
	}
	return h;
}

bool
health_database_ok(struct health *h)
{
	long long age = now_ms() - atomic_load(&h->last_probe_ms);

	return atomic_load(&h->ok) && age <= 3LL * h->interval_ms + 1000;
}

void
health_stop(struct health *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h->conninfo);
	free(h);
}
