/*
 * test_workers.c — unit tests of daemon/workers.c with a real, thread-aware
 * event_base and no database (NULL conninfo): which thread runs work and
 * done, that every job gets its done callback, the queue bound, and what
 * workers_stop() promises.  Work functions can be held at a gate so that a
 * test knows exactly how many jobs run and how many wait.  Every wait has a
 * deadline, so a bug fails the test instead of hanging it.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "workers.h"

#define TEST_DEADLINE_MS	5000
#define TEST_THREADS		2
#define TEST_QUEUE		4
#define TEST_MAX_JOBS		64

struct fixture;

/* One submitted job and what the pool did with it. */
struct job {
	struct fixture	*f;
	pthread_t	 work_thread;
	pthread_t	 done_thread;
	bool		 db_was_null;
	bool		 saw_stopping;
	int		 worked;	/* times work ran */
	int		 done;		/* times done ran */
};

struct fixture {
	struct event_base	*base;
	struct event		*tick;		/* wakes the loop */
	struct workers		*w;
	pthread_t		 loop_thread;

	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	bool			 gate_open;
	int			 started;	/* work entered */
	int			 ndone;		/* done calls */

	struct job		 jobs[TEST_MAX_JOBS];
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Work that waits at the gate until the test opens it. */
static void
gated_work(struct db *db, void *arg)
{
	struct job *j = arg;
	struct fixture *f = j->f;

	j->work_thread = pthread_self();
	j->db_was_null = db == NULL;
	pthread_mutex_lock(&f->lock);
	f->started++;
	pthread_cond_broadcast(&f->cond);
	while (!f->gate_open)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	j->worked++;
}

/* Work that runs until the pool says it is stopping (or 5 s pass). */
static void
long_work(struct db *db, void *arg)
{
	struct job *j = arg;
	struct fixture *f = j->f;
	long long until = now_ms() + TEST_DEADLINE_MS;

	(void)db;
	j->work_thread = pthread_self();
	pthread_mutex_lock(&f->lock);
	f->started++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	while (!workers_stopping(f->w) && now_ms() < until)
		usleep(1000);
	j->saw_stopping = workers_stopping(f->w);
	j->worked++;
}

static void
count_done(void *arg)
{
	struct job *j = arg;

	j->done_thread = pthread_self();
	j->done++;
	j->f->ndone++;
}

static void
open_gate(struct fixture *f)
{
	pthread_mutex_lock(&f->lock);
	f->gate_open = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Waits (without the loop) until n work functions have started. */
static bool
wait_started(struct fixture *f, int n)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += TEST_DEADLINE_MS / 1000;
	pthread_mutex_lock(&f->lock);
	while (f->started < n)
		if (pthread_cond_timedwait(&f->cond, &f->lock, &until) ==
		    ETIMEDOUT)
			break;
	ok = f->started >= n;
	pthread_mutex_unlock(&f->lock);
	return ok;
}

/* Runs the loop until n done callbacks ran; false after the deadline. */
static bool
loop_until_done(struct fixture *f, int n)
{
	long long until = now_ms() + TEST_DEADLINE_MS;

	while (f->ndone < n && now_ms() < until)
		if (event_base_loop(f->base, EVLOOP_ONCE) == -1)
			return false;
	return f->ndone >= n;
}

/* Waits until the pool is running n jobs (the running ones left the queue). */
static bool
wait_busy(struct fixture *f, int n)
{
	long long until = now_ms() + TEST_DEADLINE_MS;

	while (workers_busy(f->w) < n && now_ms() < until)
		usleep(1000);
	return workers_busy(f->w) == n;
}

static struct job *
job(struct fixture *f, int i)
{
	f->jobs[i].f = f;
	return &f->jobs[i];
}

static int
setup(void **state)
{
	struct timeval tv = { 0, 20 * 1000 };
	struct fixture *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->loop_thread = pthread_self();
	if ((f->base = event_base_new()) == NULL ||
	    (f->tick = event_new(f->base, -1, EV_PERSIST, tick_cb, f)) ==
	    NULL || event_add(f->tick, &tv) == -1 ||
	    (f->w = workers_new(f->base, "t", TEST_THREADS, TEST_QUEUE,
	    NULL)) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	open_gate(f);		/* a failed test may have left it shut */
	if (f->w) {
		workers_stop(f->w);
		workers_free(f->w);
	}
	if (f->tick)
		event_free(f->tick);
	if (f->base)
		event_base_free(f->base);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

static void
test_pool_reports_its_name_and_threads(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(workers_name(f->w), "t");
	assert_int_equal(workers_threads(f->w), TEST_THREADS);
	assert_int_equal(workers_depth(f->w), 0);
	assert_int_equal(workers_busy(f->w), 0);
	assert_false(workers_stopping(f->w));
}

static void
test_zero_threads_means_one_per_core(void **state)
{
	struct fixture *f = *state;
	struct workers *w;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	w = workers_new(f->base, "cores", 0, 1, NULL);
	assert_non_null(w);
	assert_int_equal(workers_threads(w), cores > 0 ? cores : 2);
	workers_stop(w);
	workers_free(w);
}

static void
test_work_runs_on_worker_and_done_on_loop_thread(void **state)
{
	struct fixture *f = *state;
	int i, n = TEST_THREADS + TEST_QUEUE;

	/* Submit only while a thread is free or the queue has room: jobs not
	 * yet taken by a thread count against the queue. */
	for (i = 0; i < TEST_THREADS; i++)
		assert_int_equal(workers_submit(f->w, gated_work, count_done,
		    job(f, i)), 0);
	assert_true(wait_busy(f, TEST_THREADS));
	for (; i < n; i++)
		assert_int_equal(workers_submit(f->w, gated_work, count_done,
		    job(f, i)), 0);
	open_gate(f);
	assert_true(loop_until_done(f, n));
	for (i = 0; i < n; i++) {
		assert_int_equal(f->jobs[i].worked, 1);
		assert_false(pthread_equal(f->jobs[i].work_thread,
		    f->loop_thread));
		assert_true(pthread_equal(f->jobs[i].done_thread,
		    f->loop_thread));
		assert_true(f->jobs[i].db_was_null);
	}
}

static void
test_done_runs_once_for_every_job(void **state)
{
	struct fixture *f = *state;
	long long until = now_ms() + TEST_DEADLINE_MS;
	int i;

	open_gate(f);
	/* More jobs than the queue holds: submit again as room frees up. */
	for (i = 0; i < TEST_MAX_JOBS && now_ms() < until; )
		if (workers_submit(f->w, gated_work, count_done,
		    job(f, i)) == 0)
			i++;
		else
			event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(i, TEST_MAX_JOBS);
	assert_true(loop_until_done(f, TEST_MAX_JOBS));
	for (i = 0; i < TEST_MAX_JOBS; i++) {
		assert_int_equal(f->jobs[i].worked, 1);
		assert_int_equal(f->jobs[i].done, 1);
	}
	assert_int_equal(f->ndone, TEST_MAX_JOBS);
}

static void
test_done_may_be_null(void **state)
{
	struct fixture *f = *state;

	open_gate(f);
	assert_int_equal(workers_submit(f->w, gated_work, NULL, job(f, 0)),
	    0);
	assert_int_equal(workers_submit(f->w, gated_work, count_done,
	    job(f, 1)), 0);
	assert_true(loop_until_done(f, 1));
	assert_int_equal(f->jobs[1].done, 1);
	workers_stop(f->w);	/* joins: job 0 has surely run */
	assert_int_equal(f->jobs[0].worked, 1);
}

static void
test_submit_refused_when_queue_full(void **state)
{
	struct fixture *f = *state;
	int i;

	/* Two jobs hold both threads at the gate... */
	for (i = 0; i < TEST_THREADS; i++)
		assert_int_equal(workers_submit(f->w, gated_work, count_done,
		    job(f, i)), 0);
	assert_true(wait_started(f, TEST_THREADS));
	assert_true(wait_busy(f, TEST_THREADS));
	/* ...four more fill the queue... */
	for (; i < TEST_THREADS + TEST_QUEUE; i++)
		assert_int_equal(workers_submit(f->w, gated_work, count_done,
		    job(f, i)), 0);
	/* ...and the next one is refused, and never runs. */
	assert_int_equal(workers_submit(f->w, gated_work, count_done,
	    job(f, i)), -1);
	assert_int_equal(workers_depth(f->w), TEST_QUEUE);

	open_gate(f);
	assert_true(loop_until_done(f, TEST_THREADS + TEST_QUEUE));
	workers_stop(f->w);
	assert_int_equal(f->jobs[i].worked, 0);
	assert_int_equal(f->jobs[i].done, 0);
	assert_int_equal(f->ndone, TEST_THREADS + TEST_QUEUE);
}

static void
test_depth_counts_waiting_jobs_only(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < TEST_THREADS; i++)
		assert_int_equal(workers_submit(f->w, gated_work, count_done,
		    job(f, i)), 0);
	assert_true(wait_started(f, TEST_THREADS));
	assert_true(wait_busy(f, TEST_THREADS));
	assert_int_equal(workers_depth(f->w), 0);
	for (; i < TEST_THREADS + TEST_QUEUE; i++) {
		assert_int_equal(workers_submit(f->w, gated_work, count_done,
		    job(f, i)), 0);
		assert_int_equal(workers_depth(f->w), i - TEST_THREADS + 1);
		assert_int_equal(workers_busy(f->w), TEST_THREADS);
	}
	open_gate(f);
	assert_true(loop_until_done(f, TEST_THREADS + TEST_QUEUE));
	assert_int_equal(workers_depth(f->w), 0);
	assert_int_equal(workers_busy(f->w), 0);
}

static void
test_queue_has_room_again_after_jobs_finish(void **state)
{
	struct fixture *f = *state;
	int i, n = TEST_THREADS + TEST_QUEUE;

	for (i = 0; i < TEST_THREADS; i++)
		assert_int_equal(workers_submit(f->w, gated_work, count_done,
		    job(f, i)), 0);
	assert_true(wait_busy(f, TEST_THREADS));
	for (; i < n; i++)
		assert_int_equal(workers_submit(f->w, gated_work, count_done,
		    job(f, i)), 0);
	assert_int_equal(workers_submit(f->w, gated_work, count_done,
	    job(f, n)), -1);
	open_gate(f);
	assert_true(loop_until_done(f, n));
	assert_int_equal(workers_submit(f->w, gated_work, count_done,
	    job(f, n)), 0);
	assert_true(loop_until_done(f, n + 1));
	assert_int_equal(f->jobs[n].done, 1);
}

static void
test_submit_refused_after_stop(void **state)
{
	struct fixture *f = *state;

	assert_false(workers_stopping(f->w));
	workers_stop(f->w);
	assert_true(workers_stopping(f->w));
	assert_int_equal(workers_submit(f->w, gated_work, count_done,
	    job(f, 0)), -1);
	open_gate(f);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(f->jobs[0].worked, 0);
	assert_int_equal(f->jobs[0].done, 0);
}

static void
test_stop_twice_is_harmless(void **state)
{
	struct fixture *f = *state;

	workers_stop(f->w);
	workers_stop(f->w);
	assert_true(workers_stopping(f->w));
}

static void *
open_gate_later(void *arg)
{
	struct fixture *f = arg;

	usleep(100 * 1000);	/* let workers_stop() begin to wait */
	open_gate(f);
	return NULL;
}

/* Stop lets running and queued jobs finish, then runs every done callback
 * itself, on the calling (loop) thread, without the loop running. */
static void
test_stop_finishes_queued_jobs_and_runs_their_done(void **state)
{
	struct fixture *f = *state;
	pthread_t opener;
	int i, n = TEST_THREADS + TEST_QUEUE;

	for (i = 0; i < TEST_THREADS; i++)
		assert_int_equal(workers_submit(f->w, gated_work, count_done,
		    job(f, i)), 0);
	assert_true(wait_started(f, TEST_THREADS));
	assert_true(wait_busy(f, TEST_THREADS));
	for (; i < n; i++)
		assert_int_equal(workers_submit(f->w, gated_work, count_done,
		    job(f, i)), 0);
	assert_int_equal(pthread_create(&opener, NULL, open_gate_later, f), 0);
	workers_stop(f->w);
	assert_int_equal(pthread_join(opener, NULL), 0);
	assert_int_equal(f->ndone, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(f->jobs[i].worked, 1);
		assert_int_equal(f->jobs[i].done, 1);
		assert_true(pthread_equal(f->jobs[i].done_thread,
		    f->loop_thread));
	}
	assert_int_equal(workers_depth(f->w), 0);
	assert_int_equal(workers_busy(f->w), 0);
	/* Nothing is left for the loop to deliver a second time. */
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(f->ndone, n);
}

static void
test_stop_runs_done_when_the_loop_never_ran(void **state)
{
	struct fixture *f = *state;
	int i, n = TEST_QUEUE;

	open_gate(f);
	for (i = 0; i < n; i++)
		assert_int_equal(workers_submit(f->w, gated_work, count_done,
		    job(f, i)), 0);
	/* The loop never runs: only workers_stop() can call done. */
	workers_stop(f->w);
	assert_int_equal(f->ndone, n);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(f->ndone, n);
}

static void
test_long_job_sees_stopping(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(workers_submit(f->w, long_work, count_done,
	    job(f, 0)), 0);
	assert_true(wait_started(f, 1));
	workers_stop(f->w);
	assert_true(f->jobs[0].saw_stopping);
	assert_int_equal(f->jobs[0].done, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_pool_reports_its_name_and_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_zero_threads_means_one_per_core, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_work_runs_on_worker_and_done_on_loop_thread, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_done_runs_once_for_every_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_may_be_null,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_submit_refused_when_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_depth_counts_waiting_jobs_only, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_queue_has_room_again_after_jobs_finish, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_submit_refused_after_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_twice_is_harmless,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stop_finishes_queued_jobs_and_runs_their_done, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_stop_runs_done_when_the_loop_never_ran, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_job_sees_stopping,
		    setup, teardown),
	};

	if (evthread_use_pthreads() == -1) {
		fprintf(stderr, "evthread_use_pthreads failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
