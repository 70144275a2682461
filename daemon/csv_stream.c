/*
 * csv_stream.c — streamed CSV replies (csv_stream.h).  The stream pulls a
 * batch when the client has taken the one before, so memory holds one
 * batch whatever the size of the whole.
 */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "csv_stream.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "workers.h"

struct csv_stream {
	struct app			*app;
	struct http_request		*req;
	struct api_call			*call;	/* for errors on the worker */
	const struct csv_stream_ops	*ops;
	void				*ctx;
	struct evbuffer			*out;	/* one batch, formatted */
	bool				 is_done;
	bool				 is_failed;	/* cut it off */
	bool				 in_flight;
	bool				 is_cancelled;
};

void
csv_field(struct evbuffer *out, const char *s, bool last)
{
	const char *p;

	if (s && strpbrk(s, ",\"\r\n") == NULL)
		evbuffer_add(out, s, strlen(s));
	else if (s) {			/* RFC 4180: quoted, quotes doubled */
		evbuffer_add(out, "\"", 1);
		for (p = s; *p; p++) {
			if (*p == '"')
				evbuffer_add(out, "\"", 1);
			evbuffer_add(out, p, 1);
		}
		evbuffer_add(out, "\"", 1);
	}
	evbuffer_add(out, last ? "\r\n" : ",", last ? 2 : 1);
}

bool
csv_wanted(struct http_request *req, const char *query)
{
	const char *accept = http_request_header(req, "Accept");
	char *format = NULL;
	bool csv;

	(void)api_query_param(&format, query, "format");
	csv = (format && strcmp(format, "csv") == 0) ||
	    (accept && strncasecmp(accept, "text/csv", 8) == 0);
	free(format);
	return csv;
}

static void
csv_stream_free(struct csv_stream *c)
{
	if (c->ops->free)
		c->ops->free(c->ctx);
	if (c->out)
		evbuffer_free(c->out);
	api_call_free(c->call);
	free(c);
}

static void
csv_stream_work(struct db *db, void *arg)
{
	struct csv_stream *c = arg;

	if (c->ops->next(db, c->ctx, c->out, &c->is_done) == -1) {
		/* Headers are out: the stream can only stop short, and
		 * must look cut off (a destruction list or an audit export
		 * that ends cleanly would look whole). */
		log_warn("CSV export %s stopped: %s", c->ops->filename,
		    db_error(db));
		c->is_done = c->is_failed = true;
	}
}

static void
csv_stream_done(void *arg)
{
	struct csv_stream *c = arg;
	size_t n;

	c->in_flight = false;
	if (c->is_cancelled) {
		http_request_release(c->req);
		csv_stream_free(c);
		return;
	}
	n = evbuffer_get_length(c->out);
	if (n > 0)
		http_stream_write(c->req, evbuffer_pullup(c->out, -1), n);
	evbuffer_drain(c->out, n);
	if (c->is_done) {
		if (c->is_failed)
			http_stream_abort(c->req);
		else
			http_stream_end(c->req);
		http_request_release(c->req);
		csv_stream_free(c);
	}
}

static void
csv_stream_pull(struct http_request *req, void *ctx)
{
	struct csv_stream *c = ctx;

	(void)req;
	c->in_flight = true;
	if (workers_submit(c->app->requests, csv_stream_work, csv_stream_done,
	    c) == -1) {
		c->in_flight = false;
		c->is_done = c->is_failed = true;	/* busy: cut off */
		csv_stream_done(c);
	}
}

static void
csv_stream_cancel(void *ctx)
{
	struct csv_stream *c = ctx;

	c->is_cancelled = true;
	if (!c->in_flight) {
		http_request_release(c->req);
		csv_stream_free(c);
	}
}

/* After begin(): the refusal, or the headers, then the stream pulls. */
static void
csv_stream_begin_done(struct http_request *req, void *arg)
{
	struct csv_stream *c = arg;
	struct http_stream_source src = { csv_stream_pull, csv_stream_cancel,
	    c };
	struct api_call *call = c->call;
	const struct csv_stream_ops *ops = c->ops;
	char disposition[256];

	if (req == NULL) {
		csv_stream_free(c);
		return;
	}
	if (call->status != 0) {	/* refused before streaming */
		c->call = NULL;
		api_finish(req, call);
		csv_stream_free(c);
		return;
	}
	c->req = req;
	http_request_hold(req);
	snprintf(disposition, sizeof(disposition), "attachment; "
	    "filename=\"%s\"", c->ops->filename_of ?
	    c->ops->filename_of(c->ctx) : c->ops->filename);
	http_add_header(req, "Content-Disposition", disposition);
	/* For HEAD the stream is cancelled (and c freed) at once: c is not
	 * touched after this. */
	http_reply_stream(req, 200, ops->content_type ? ops->content_type :
	    "text/csv; charset=utf-8", &src);
	if (ops->header)
		http_stream_write(req, ops->header, strlen(ops->header));
}

static void
csv_stream_begin_work(struct db *db, void *arg)
{
	struct csv_stream *c = arg;

	if (c->ops->begin)
		c->ops->begin(db, c->call, c->ctx);
}

void
csv_stream_start(struct http_request *req, struct api_call *call,
    const struct csv_stream_ops *ops, void *ctx)
{
	struct csv_stream *c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->out = evbuffer_new()) == NULL) {
		free(c);
		if (ops->free)
			ops->free(ctx);
		api_error(call, 500, "INTERNAL", "out of memory");
		api_finish(req, call);
		return;
	}
	c->app = call->app;
	c->call = call;
	c->ops = ops;
	c->ctx = ctx;
	if (call->status != 0 || http_run(req, call->app->requests,
	    csv_stream_begin_work, csv_stream_begin_done, c) == -1) {
		if (call->status == 0)
			api_error(call, 503, "BUSY", "the server is busy");
		csv_stream_begin_done(req, c);
	}
}

/* ---- JSON, or CSV ----------------------------------------------------------- */

struct csv_json {
	struct api_call	*call;
	void		(*json)(struct api_call *, struct db *);
};

static void
csv_json_work(struct db *db, void *arg)
{
	struct csv_json *j = arg;

	j->json(j->call, db);
}

static void
csv_json_done(struct http_request *req, void *arg)
{
	struct csv_json *j = arg;
	struct api_call *call = j->call;

	free(j);
	api_finish(req, call);
}

void
csv_or_json(struct api_call *call, struct http_request *req,
    void (*json)(struct api_call *, struct db *),
    const struct csv_stream_ops *ops, void *(*make_ctx)(struct api_call *))
{
	struct api_call *copy;
	struct csv_json *j;
	void *ctx;

	/* The call belongs to api.c; what the worker needs is copied. */
	if ((copy = api_call_copy(call)) == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		api_respond(req, call);
		return;
	}
	if (!csv_wanted(req, copy->query)) {
		if ((j = calloc(1, sizeof(*j))) == NULL) {
			api_error(copy, 500, "INTERNAL", "out of memory");
			api_finish(req, copy);
			return;
		}
		j->call = copy;
		j->json = json;
		if (http_run(req, call->app->requests, csv_json_work,
		    csv_json_done, j) == -1) {
			free(j);
			api_call_free(copy);
			api_error(call, 503, "BUSY",
			    "the server is busy; try again shortly");
			api_respond(req, call);
		}
		return;
	}
	if ((ctx = make_ctx(copy)) == NULL) {
		if (copy->status == 0)
			api_error(copy, 500, "INTERNAL", "out of memory");
		api_finish(req, copy);
		return;
	}
	csv_stream_start(req, copy, ops, ctx);
}
