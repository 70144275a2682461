/*
 * body_spool.c — see body_spool.h.  The bytes move from `pending` (filled
 * on the loop) to `writing` (a worker's while a job is in flight) in one
 * evbuffer_add_buffer, so no byte is copied on the loop thread.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_spool.h"
#include "http.h"
#include "ingest.h"
#include "workers.h"

struct body_spool {
	struct workers			*pool;
	struct http_request		*req;		/* held */
	const struct body_spool_ops	*ops;
	void				*owner;
	struct evbuffer			*pending;
	struct evbuffer			*writing;
	struct spool_file		*file;
	bool				 in_flight;
	bool				 is_paused;
	bool				 failed;
	char				 err[512];
};

struct body_spool *
body_spool_new(struct workers *pool, struct http_request *req,
    const struct body_spool_ops *ops, void *owner)
{
	struct body_spool *bs;

	if ((bs = calloc(1, sizeof(*bs))) == NULL)
		return NULL;
	if ((bs->pending = evbuffer_new()) == NULL ||
	    (bs->writing = evbuffer_new()) == NULL) {
		if (bs->pending)
			evbuffer_free(bs->pending);
		free(bs);
		return NULL;
	}
	bs->pool = pool;
	bs->req = req;
	bs->ops = ops;
	bs->owner = owner;
	http_request_hold(req);
	return bs;
}

static void
body_spool_work(struct db *db, void *arg)
{
	struct body_spool *bs = arg;
	struct evbuffer_iovec v[16];
	int n, i;

	(void)db;
	if (bs->file == NULL &&
	    bs->ops->open(&bs->file, bs->owner, bs->err, sizeof(bs->err)) ==
	    -1) {
		bs->failed = true;
		return;
	}
	while (evbuffer_get_length(bs->writing) > 0) {
		n = evbuffer_peek(bs->writing, -1, NULL, v, 16);
		if (n > 16)
			n = 16;
		for (i = 0; i < n; i++) {
			if (spool_write(bs->file, v[i].iov_base, v[i].iov_len,
			    bs->err, sizeof(bs->err)) == -1) {
				bs->failed = true;
				return;
			}
			evbuffer_drain(bs->writing, v[i].iov_len);
		}
	}
}

static void	body_spool_next(struct body_spool *bs);

static void
body_spool_done(void *arg)
{
	struct body_spool *bs = arg;

	bs->in_flight = false;
	if (!bs->failed && evbuffer_get_length(bs->pending) > 0)
		body_spool_next(bs);
	if (bs->is_paused && !bs->failed &&
	    evbuffer_get_length(bs->pending) < BODY_SPOOL_LOW_WATER) {
		bs->is_paused = false;
		http_request_resume(bs->req);
	}
	if (!bs->in_flight)
		bs->ops->settled(bs->owner);
}

static void
body_spool_next(struct body_spool *bs)
{
	evbuffer_add_buffer(bs->writing, bs->pending);
	bs->in_flight = true;
	if (workers_submit(bs->pool, body_spool_work, body_spool_done, bs) ==
	    -1) {
		bs->in_flight = false;
		bs->failed = true;
		snprintf(bs->err, sizeof(bs->err), "the server is busy");
	}
}

int
body_spool_piece(struct body_spool *bs, const char *data, size_t len)
{
	if (bs->failed)
		return -1;
	evbuffer_add(bs->pending, data, len);
	if (!bs->in_flight) {
		body_spool_next(bs);
		if (bs->failed) {
			bs->ops->settled(bs->owner);
			return -1;
		}
	}
	if (!bs->is_paused &&
	    evbuffer_get_length(bs->pending) >= BODY_SPOOL_HIGH_WATER) {
		bs->is_paused = true;
		http_request_pause(bs->req);
	}
	return 0;
}

bool
body_spool_busy(const struct body_spool *bs)
{
	return bs->in_flight;
}

const char *
body_spool_error(const struct body_spool *bs)
{
	return bs->failed ? bs->err : NULL;
}

struct spool_file *
body_spool_take_file(struct body_spool *bs)
{
	struct spool_file *f = bs->file;

	bs->file = NULL;
	return f;
}

void
body_spool_free(struct body_spool *bs)
{
	if (bs == NULL)
		return;
	spool_discard(bs->file);
	evbuffer_free(bs->pending);
	evbuffer_free(bs->writing);
	http_request_release(bs->req);
	free(bs);
}
