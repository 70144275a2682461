/*
 * workers.c — fixed thread pools with a bounded queue.  Finished jobs are
 * handed back to the loop thread through a completion list and one event
 * activated from the worker (libevent is built thread-aware by
 * evthread_use_pthreads()).  No thread is ever made per request or per file.
 */
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "workers.h"

struct workers_job {
	workers_work_fn		 work;
	workers_done_fn		 done;
	void			*arg;
	struct workers_job	*next;
};

struct workers {
	char			*name;
	struct event_base	*base;
	struct event		*done_ev;
	pthread_t		*threads;
	int			 nthreads;
	int			 max_queue;
	char			*conninfo;

	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct workers_job	*head, *tail;	/* waiting */
	int			 depth;
	int			 busy;
	struct workers_job	*finished;	/* done, for the loop */
	bool			 stopping;
	atomic_bool		 stop_flag;
};

static void
workers_run_done(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	struct workers_job *list, *job, *next, *rev = NULL;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->lock);
	list = w->finished;
	w->finished = NULL;
	pthread_mutex_unlock(&w->lock);
	for (job = list; job; job = next) {	/* restore submission order */
		next = job->next;
		job->next = rev;
		rev = job;
	}
	for (job = rev; job; job = next) {
		next = job->next;
		if (job->done)
			job->done(job->arg);
		free(job);
	}
}

static void *
workers_thread(void *arg)
{
	struct workers *w = arg;
	struct workers_job *job;
	struct db *db = NULL;

	if (w->conninfo)
		db = db_new(w->conninfo);
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->head == NULL) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		job = w->head;
		w->head = job->next;
		if (w->head == NULL)
			w->tail = NULL;
		w->depth--;
		w->busy++;
		pthread_mutex_unlock(&w->lock);

		job->work(db, job->arg);

		pthread_mutex_lock(&w->lock);
		w->busy--;
		job->next = w->finished;
		w->finished = job;
		pthread_mutex_unlock(&w->lock);
		event_active(w->done_ev, EV_READ, 0);
	}
	db_free(db);
	return NULL;
}

struct workers *
workers_new(struct event_base *base, const char *name, int nthreads,
    int max_queue, const char *conninfo)
{
	struct workers *w;
	int i;

	if (nthreads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (int)n : 2;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->name = strdup(name);
	w->base = base;
	w->nthreads = nthreads;
	w->max_queue = max_queue;
	w->conninfo = conninfo ? strdup(conninfo) : NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->done_ev = event_new(base, -1, 0, workers_run_done, w);
	w->threads = calloc((size_t)nthreads, sizeof(*w->threads));
	if (w->name == NULL || w->done_ev == NULL || w->threads == NULL)
		goto fail;
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&w->threads[i], NULL, workers_thread, w)) {
			w->nthreads = i;
			workers_stop(w);
			goto fail;
		}
	return w;
fail:
	workers_free(w);
	return NULL;
}

int
workers_submit(struct workers *w, workers_work_fn work, workers_done_fn done,
    void *arg)
{
	struct workers_job *job;
	int rc = -1;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return -1;
	job->work = work;
	job->done = done;
	job->arg = arg;
	pthread_mutex_lock(&w->lock);
	if (w->stopping || w->depth >= w->max_queue)
		goto out;
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	w->depth++;
	pthread_cond_signal(&w->cond);
	job = NULL;
	rc = 0;
out:
	pthread_mutex_unlock(&w->lock);
	free(job);
	return rc;
}

int
workers_depth(struct workers *w)
{
	int n;

	pthread_mutex_lock(&w->lock);
	n = w->depth;
	pthread_mutex_unlock(&w->lock);
	return n;
}

int
workers_busy(struct workers *w)
{
	int n;

	pthread_mutex_lock(&w->lock);
	n = w->busy;
	pthread_mutex_unlock(&w->lock);
	return n;
}

int
workers_threads(struct workers *w)
{
	return w->nthreads;
}

const char *
workers_name(struct workers *w)
{
	return w->name;
}

bool
workers_stopping(struct workers *w)
{
	return atomic_load(&w->stop_flag);
}

void
workers_stop(struct workers *w)
{
	int i;

	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		pthread_mutex_unlock(&w->lock);
		return;
	}
	w->stopping = true;
	atomic_store(&w->stop_flag, true);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	workers_run_done(-1, 0, w);
}

void
workers_free(struct workers *w)
{
	if (w == NULL)
		return;
	if (w->done_ev)
		event_free(w->done_ev);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->threads);
	free(w->conninfo);
	free(w->name);
	free(w);
}
