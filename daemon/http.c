/*
 * http.c — HTTP/1.1 on libevent bufferevents, parsed by libhttp-parser.
 *
 * Owns sockets, connections and the life of each request: timeouts and
 * limits against slow or oversized clients, request bodies delivered chunk
 * by chunk with backpressure, `Expect: 100-continue` answered only when the
 * handler takes the body, replies from memory, a stream or a file.  It does
 * not know routes, auth or JSON beyond its own minimal error bodies.
 *
 * A connection is a small state machine (see enum conn_state).  The parser
 * is paused whenever the handler has to decide (headers done, message done)
 * so that bytes of the next pipelined request are never parsed before the
 * current reply is finished.  Handlers run outside the parser's callbacks.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "workers.h"

#define HTTP_READ_HIGH_WATER	(256 * 1024)	/* socket → input buffer */
/* A body is read from the socket in pieces of this size (conn_bulk_read),
 * up to HTTP_BULK_TURN bytes before other connections get their turn. */
#define HTTP_BULK_READ		(256 * 1024)
#define HTTP_BULK_TURN		(4 * 1024 * 1024)
#define HTTP_WRITE_LOW_WATER	(64 * 1024)	/* refill streams below */
/* A file reply is read in pieces on a worker; the next piece is asked for
 * while a piece's worth still waits to be written, so that the socket
 * never idles through a worker's round trip (at most two pieces a
 * connection). */
#define HTTP_FILE_PIECE		(512 * 1024)
#define HTTP_LINGER_MS		2000	/* discard an unread body this long */

enum conn_state {
	CONN_IDLE,	/* waiting for the first byte of a request */
	CONN_HEADERS,	/* reading the request line and headers */
	CONN_ADMIT,	/* handler deciding; parser paused */
	CONN_BODY,	/* reading the body the handler took */
	CONN_HANDLE,	/* message complete; handler working on the reply */
	CONN_CLOSING,	/* reply being flushed, then close */
	CONN_LINGER,	/* reply sent before the body: discard it a while */
};

enum reply_kind { REPLY_NONE, REPLY_MEMORY, REPLY_STREAM, REPLY_FILE };

struct http_header {
	char	*name;
	char	*value;
};

struct http_request {
	struct http_conn	*conn;	/* NULL once the connection is gone */
	int			 refs;
	bool			 finished;	/* reply fully sent */

	char			 method[16];
	char			*url;
	size_t			 url_len;
	const char		*path;
	const char		*query;
	struct http_header	*headers;
	int			 nheaders;
	int			 cap_headers;
	bool			 in_value;
	size_t			 header_bytes;
	int64_t			 content_length;
	bool			 is_chunked;
	bool			 expects_continue;
	bool			 keep_alive;
	bool			 is_head;
	bool			 is_http10;
	bool			 is_reported;	/* on_done has run */

	/* body */
	bool			 body_taken;
	bool			 body_paused;
	bool			 message_complete;
	enum http_body_mode	 body_mode;
	uint64_t		 max_body_bytes;
	uint64_t		 body_bytes;
	http_body_fn		 on_body;
	http_complete_fn	 on_complete;
	http_abort_fn		 on_abort;
	bool			 is_complete_called;
	void			*body_ctx;
	struct evbuffer		*body;

	/* reply */
	struct evbuffer		*out_headers;
	enum reply_kind		 reply;
	int			 status;
	bool			 close_after;
	bool			 chunked_out;
	bool			 stream_ended;
	bool			 pull_pending;
	struct http_stream_source src;
	int			 fd;
	off_t			 file_offset;
	uint64_t		 file_left;
	bool			 file_reading;
	uint64_t		 bytes_out;

	char			 principal[128];
	char			 route[64];
	struct timespec		 started;
	double			 seconds;
};

struct http_conn {
	struct http_server	*server;
	struct bufferevent	*bev;
	struct event		*timer;
	http_parser		 parser;
	enum conn_state		 state;
	struct http_request	*req;
	int			 refs;
	bool			 closed;
	bool			 saw_eof;	/* the client sends no more */
	bool			 processing;
	bool			 process_again;
	char			 peer[64];
	SSL			*ssl;		/* the bufferevent's, or NULL */
	bool			 is_tls_up;	/* handshake done */
	char			 client_fp[65];	/* verified client cert */
	struct http_conn	*prev, *next;
};

struct http_server {
	struct event_base	*base;
	struct evconnlistener	*listener;
	struct http_limits	 limits;
	struct http_handler	 handler;
	struct workers		*file_pool;
	SSL_CTX			*ssl_ctx;	/* HTTPS only, when set */
	struct http_conn	*conns;
	int			 nconns;
	bool			 draining;
	struct event		*grace_timer;
	void			(*drained)(void *);
	void			*drained_arg;
};

static http_parser_settings http_settings;

static void	conn_process(struct http_conn *c);
static void	conn_close(struct http_conn *c);
static void	conn_unref(struct http_conn *c);
static void	conn_write_cb(struct bufferevent *bev, void *arg);
static void	conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void	server_check_drained(struct http_server *s);
static void	request_report(struct http_request *req, int status);
static void	conn_read_timeout(struct http_conn *c, bool on);
static void	conn_arm_reply_deadline(struct http_conn *c);

const char *
http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	default:  return "Unknown";
	}
}

static double
elapsed_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- requests ---------------------------------------------------------- */

static struct http_request *
request_new(struct http_conn *c)
{
	struct http_request *req;

	if ((req = calloc(1, sizeof(*req))) == NULL)
		return NULL;
	req->conn = c;
	req->refs = 1;
	req->content_length = -1;
	req->fd = -1;
	req->query = "";
	req->path = "";
	req->body = evbuffer_new();
	req->out_headers = evbuffer_new();
	clock_gettime(CLOCK_MONOTONIC, &req->started);
	if (req->body == NULL || req->out_headers == NULL) {
		if (req->body)
			evbuffer_free(req->body);
		if (req->out_headers)
			evbuffer_free(req->out_headers);
		free(req);
		return NULL;
	}
	return req;
}

static void
request_unref(struct http_request *req)
{
	int i;

	if (req == NULL || --req->refs > 0)
		return;
	for (i = 0; i < req->nheaders; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	free(req->headers);
	free(req->url);
	evbuffer_free(req->body);
	evbuffer_free(req->out_headers);
	if (req->fd != -1)
		close(req->fd);
	free(req);
}

/* The connection lets go of its request: jobs still holding it see a
 * request that is no longer alive. */
static void
request_detach(struct http_request *req)
{
	if (req->reply == REPLY_STREAM && !req->stream_ended &&
	    req->src.cancel) {
		req->src.cancel(req->src.ctx);
		req->src.cancel = NULL;
	}
	/* A body that will never be complete: its context goes back. */
	if (req->body_taken && !req->is_complete_called && req->on_abort) {
		req->is_complete_called = true;
		req->on_abort(req->body_ctx);
	}
	/* A request cut short is still counted and logged (499: the client
	 * or a timeout ended it before its reply was out). */
	if (req->method[0] && !req->is_reported)
		request_report(req, req->finished ? req->status : 499);
	req->conn = NULL;
	request_unref(req);
}

void
http_request_hold(struct http_request *req)
{
	req->refs++;
}

void
http_request_release(struct http_request *req)
{
	request_unref(req);
}

static bool
request_alive(const struct http_request *req)
{
	return req->conn != NULL && !req->conn->closed && !req->finished;
}

const char *
http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *
http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *
http_request_query(const struct http_request *req)
{
	return req->query;
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
	int i;

	for (i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

int64_t
http_request_content_length(const struct http_request *req)
{
	return req->is_chunked ? -1 : req->content_length;
}

bool
http_request_has_body(const struct http_request *req)
{
	return req->is_chunked || req->content_length > 0;
}

const char *
http_request_peer(const struct http_request *req)
{
	return req->conn ? req->conn->peer : "";
}

const char *
http_request_client_fingerprint(const struct http_request *req)
{
	return req->conn && req->conn->client_fp[0] ? req->conn->client_fp :
	    NULL;
}

struct evbuffer *
http_request_body(struct http_request *req)
{
	return req->body;
}

uint64_t
http_request_body_bytes(const struct http_request *req)
{
	return req->body_bytes;
}

void
http_request_set_principal(struct http_request *req, const char *principal)
{
	snprintf(req->principal, sizeof(req->principal), "%s", principal);
}

const char *
http_request_principal(const struct http_request *req)
{
	return req->principal[0] ? req->principal : "-";
}

void
http_request_set_route(struct http_request *req, const char *route)
{
	snprintf(req->route, sizeof(req->route), "%s", route);
}

const char *
http_request_route(const struct http_request *req)
{
	return req->route[0] ? req->route : "unmatched";
}

int
http_request_status(const struct http_request *req)
{
	return req->status;
}

uint64_t
http_request_bytes_out(const struct http_request *req)
{
	return req->bytes_out;
}

double
http_request_seconds(const struct http_request *req)
{
	return req->seconds;
}

/* ---- the parser's callbacks: record, never act --------------------------- */

static int
header_limit_exceeded(struct http_conn *c, size_t more)
{
	struct http_request *req = c->req;

	req->header_bytes += more;
	return req->header_bytes > (size_t)c->server->limits.max_header_bytes;
}

static int
append(char **dst, size_t *len, const char *at, size_t n)
{
	char *p;

	if ((p = realloc(*dst, *len + n + 1)) == NULL)
		return -1;
	memcpy(p + *len, at, n);
	*len += n;
	p[*len] = '\0';
	*dst = p;
	return 0;
}

static int
on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	clock_gettime(CLOCK_MONOTONIC, &c->req->started);
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;

	if (header_limit_exceeded(c, n))
		return -1;
	return append(&c->req->url, &c->req->url_len, at, n);
}

static int
on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->req;
	struct http_header *h;
	size_t len;

	if (header_limit_exceeded(c, n))
		return -1;
	if (req->nheaders == 0 || req->in_value) {
		if (req->nheaders >= c->server->limits.max_headers)
			return -1;
		if (req->nheaders == req->cap_headers) {
			int cap = req->cap_headers ? req->cap_headers * 2 : 16;
			h = realloc(req->headers, (size_t)cap * sizeof(*h));
			if (h == NULL)
				return -1;
			req->headers = h;
			req->cap_headers = cap;
		}
		h = &req->headers[req->nheaders++];
		h->name = NULL;
		h->value = strdup("");
		if (h->value == NULL)
			return -1;
		req->in_value = false;
	}
	h = &req->headers[req->nheaders - 1];
	len = h->name ? strlen(h->name) : 0;
	return append(&h->name, &len, at, n);
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;
	struct http_header *h;
	size_t len;

	if (header_limit_exceeded(c, n) || c->req->nheaders == 0)
		return -1;
	c->req->in_value = true;
	h = &c->req->headers[c->req->nheaders - 1];
	len = strlen(h->value);
	return append(&h->value, &len, at, n);
}

static int
on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->req;
	const char *expect;
	char *q;

	snprintf(req->method, sizeof(req->method), "%s",
	    http_method_str((enum http_method)p->method));
	req->is_head = p->method == HTTP_HEAD;
	if (req->url == NULL || req->url[0] != '/')
		return -1;		/* only origin-form targets */
	if ((q = strchr(req->url, '?')) != NULL) {
		*q = '\0';
		req->query = q + 1;
	}
	req->path = req->url;
	req->is_http10 = p->http_major == 1 && p->http_minor == 0;
	req->is_chunked = (p->flags & F_CHUNKED) != 0;
	if (!req->is_chunked && (p->flags & F_CONTENTLENGTH) &&
	    p->content_length > INT64_MAX)
		return -1;		/* 400: no body is that large */
	req->content_length = req->is_chunked ? -1 :
	    ((p->flags & F_CONTENTLENGTH) ? (int64_t)p->content_length : 0);
	expect = http_request_header(req, "Expect");
	req->expects_continue = expect &&
	    strcasecmp(expect, "100-continue") == 0;
	req->keep_alive = http_should_keep_alive(p) != 0;
	event_del(c->timer);

	/* A request without a body is decided when the message is complete;
	 * one with a body is decided now, before any of it is read. */
	if (http_request_has_body(req)) {
		c->state = CONN_ADMIT;
		http_parser_pause(p, 1);
		conn_read_timeout(c, false);
		conn_arm_reply_deadline(c);
	}
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->req;

	req->body_bytes += n;
	if (req->body_bytes > req->max_body_bytes)
		return -1;		/* 413 after the parser returns */
	if (req->body_mode == HTTP_BODY_GATHER)
		return evbuffer_add(req->body, at, n);
	if (req->on_body(req, at, n, req->body_ctx) != 0)
		return -1;
	/* The handler is behind: not one more byte until it resumes. */
	if (req->body_paused)
		http_parser_pause(p, 1);
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->req;

	req->message_complete = true;
	req->keep_alive = http_should_keep_alive(p) != 0;
	c->state = req->body_taken ? CONN_HANDLE : CONN_ADMIT;
	http_parser_pause(p, 1);
	conn_read_timeout(c, false);
	conn_arm_reply_deadline(c);
	return 0;
}

/* ---- replies ----------------------------------------------------------- */

void
http_add_header(struct http_request *req, const char *name, const char *value)
{
	evbuffer_add_printf(req->out_headers, "%s: %s\r\n", name, value);
}

/* Writes the status line and headers.  length -1 = chunked. */
static void
reply_start(struct http_request *req, int status, const char *content_type,
    int64_t length)
{
	struct http_conn *c = req->conn;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char date[64];
	struct tm tm;
	time_t now = time(NULL);

	req->status = status;
	/* Without the whole body read, the connection cannot be reused. */
	if (!req->message_complete || !req->keep_alive ||
	    c->server->draining)
		req->close_after = true;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Server: sailo\r\n", status, http_status_text(status), date);
	if (content_type)
		evbuffer_add_printf(out, "Content-Type: %s\r\n",
		    content_type);
	if (length < 0 && req->is_http10) {
		/* HTTP/1.0 knows no chunks: the end of the body is the end
		 * of the connection. */
		req->close_after = true;
		req->chunked_out = false;
	}
	if (length >= 0)
		evbuffer_add_printf(out, "Content-Length: %lld\r\n",
		    (long long)length);
	else if (!req->is_http10)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	if (req->close_after)
		evbuffer_add_printf(out, "Connection: close\r\n");
	evbuffer_add_buffer(out, req->out_headers);
	evbuffer_add(out, "\r\n", 2);

	/* No more request bytes are wanted while replying; the reply has
	 * started, so its deadline is met (a long download or export must
	 * not be cut at reply_timeout_ms: a stalled client is caught by the
	 * write timeout). */
	bufferevent_disable(c->bev, EV_READ);
	event_del(c->timer);
	c->state = req->close_after ? CONN_CLOSING : CONN_HANDLE;
}

void
http_reply(struct http_request *req, int status, const char *content_type,
    const void *body, size_t len)
{
	struct evbuffer *out;

	if (!request_alive(req) || req->reply != REPLY_NONE)
		return;
	req->reply = REPLY_MEMORY;
	reply_start(req, status, content_type, (int64_t)len);
	out = bufferevent_get_output(req->conn->bev);
	if (len > 0 && !req->is_head) {
		evbuffer_add(out, body, len);
		req->bytes_out += len;
	}
}

/* Replies with a fixed JSON error from the HTTP layer itself. */
static void
reply_error(struct http_request *req, int status, const char *code,
    const char *message)
{
	char body[256];
	int n;

	n = snprintf(body, sizeof(body),
	    "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
	req->close_after = true;
	http_reply(req, status, "application/json", body, (size_t)n);
}

void
http_reply_stream(struct http_request *req, int status,
    const char *content_type, const struct http_stream_source *src)
{
	if (!request_alive(req) || req->reply != REPLY_NONE) {
		if (src->cancel)
			src->cancel(src->ctx);
		return;
	}
	req->reply = REPLY_STREAM;
	req->src = *src;
	req->chunked_out = true;
	reply_start(req, status, content_type, -1);
	if (req->is_head) {		/* headers only: the source is not used */
		req->stream_ended = true;
		if (src->cancel)
			src->cancel(src->ctx);
	}
}

void
http_stream_write(struct http_request *req, const void *data, size_t len)
{
	struct evbuffer *out;

	req->pull_pending = false;
	if (!request_alive(req) || req->stream_ended || len == 0 ||
	    req->is_head)
		return;
	out = bufferevent_get_output(req->conn->bev);
	if (req->chunked_out)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, data, len);
	if (req->chunked_out)
		evbuffer_add(out, "\r\n", 2);
	req->bytes_out += len;
}

void
http_stream_end(struct http_request *req)
{
	req->pull_pending = false;
	if (!request_alive(req) || req->stream_ended)
		return;
	req->stream_ended = true;
	if (!req->is_head && req->chunked_out)
		evbuffer_add(bufferevent_get_output(req->conn->bev),
		    "0\r\n\r\n", 5);
	/* The write callback finishes the request once all is flushed. */
	if (evbuffer_get_length(bufferevent_get_output(req->conn->bev)) == 0)
		conn_write_cb(req->conn->bev, req->conn);
}

void
http_stream_abort(struct http_request *req)
{
	req->pull_pending = false;
	if (!request_alive(req) || req->stream_ended)
		return;
	req->stream_ended = true;
	req->close_after = true;
	if (evbuffer_get_length(bufferevent_get_output(req->conn->bev)) == 0)
		conn_write_cb(req->conn->bev, req->conn);
}

/* ---- file replies: pieces read on the file pool ------------------------- */

struct file_piece {
	struct http_request	*req;
	int			 fd;
	off_t			 offset;
	size_t			 want;
	char			*buf;
	ssize_t			 got;
	int			 error;
};

static void
file_piece_work(struct db *db, void *arg)
{
	struct file_piece *fp = arg;

	(void)db;
	if ((fp->buf = malloc(fp->want)) == NULL) {
		fp->error = ENOMEM;
		return;
	}
	do
		fp->got = pread(fp->fd, fp->buf, fp->want, fp->offset);
	while (fp->got == -1 && errno == EINTR);
	if (fp->got == -1)
		fp->error = errno;
}

static void
file_piece_release(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

static void
file_piece_done(void *arg)
{
	struct file_piece *fp = arg;
	struct http_request *req = fp->req;
	struct http_conn *c = req->conn;

	req->file_reading = false;
	if (!request_alive(req))
		goto out;
	if (fp->got <= 0) {
		/* Headers are out: all we can do is cut the connection. */
		log_warn("file reply: read failed at offset %lld: %s",
		    (long long)fp->offset, fp->got == 0 ? "short file" :
		    strerror(fp->error));
		conn_close(c);
		goto out;
	}
	/* The piece goes out as it is, not copied again. */
	if (evbuffer_add_reference(bufferevent_get_output(c->bev), fp->buf,
	    (size_t)fp->got, file_piece_release, NULL) == -1) {
		log_warn("file reply: out of memory");
		conn_close(c);
		goto out;
	}
	fp->buf = NULL;
	req->bytes_out += (uint64_t)fp->got;
	req->file_offset += fp->got;
	req->file_left -= (uint64_t)fp->got;
out:
	free(fp->buf);
	request_unref(req);
	free(fp);
}

static void
file_read_next(struct http_request *req)
{
	struct file_piece *fp;
	struct workers *pool = req->conn->server->file_pool;

	if (req->file_reading || req->file_left == 0)
		return;
	if ((fp = calloc(1, sizeof(*fp))) == NULL)
		goto fail;
	fp->req = req;
	fp->fd = req->fd;
	fp->offset = req->file_offset;
	fp->want = req->file_left < HTTP_FILE_PIECE ? (size_t)req->file_left :
	    HTTP_FILE_PIECE;
	req->refs++;
	req->file_reading = true;
	if (pool == NULL ||
	    workers_submit(pool, file_piece_work, file_piece_done, fp) == -1) {
		req->refs--;
		req->file_reading = false;
		free(fp);
		goto fail;
	}
	return;
fail:
	log_warn("file reply: cannot schedule a read");
	conn_close(req->conn);
}

void
http_reply_fd(struct http_request *req, int status, const char *content_type,
    int fd, off_t offset, uint64_t length)
{
	if (!request_alive(req) || req->reply != REPLY_NONE) {
		close(fd);
		return;
	}
	req->reply = REPLY_FILE;
	/* Refilled when a piece's worth is left (HTTP_FILE_PIECE). */
	bufferevent_setwatermark(req->conn->bev, EV_WRITE, HTTP_FILE_PIECE, 0);
	req->fd = fd;
	req->file_offset = offset;
	req->file_left = req->is_head ? 0 : length;
	reply_start(req, status, content_type, (int64_t)length);
}

/* ---- running work on a pool --------------------------------------------- */

struct http_run_ctx {
	struct http_request	*req;
	void			(*work)(struct db *, void *);
	void			(*done)(struct http_request *, void *);
	void			*arg;
};

static void
http_run_work(struct db *db, void *arg)
{
	struct http_run_ctx *rc = arg;

	rc->work(db, rc->arg);
}

static void
http_run_done(void *arg)
{
	struct http_run_ctx *rc = arg;
	struct http_request *req = rc->req;

	rc->done(request_alive(req) ? req : NULL, rc->arg);
	request_unref(req);
	free(rc);
}

int
http_run(struct http_request *req, struct workers *pool,
    void (*work)(struct db *, void *),
    void (*done)(struct http_request *, void *), void *arg)
{
	struct http_run_ctx *rc;

	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		return -1;
	rc->req = req;
	rc->work = work;
	rc->done = done;
	rc->arg = arg;
	req->refs++;
	if (workers_submit(pool, http_run_work, http_run_done, rc) == -1) {
		req->refs--;
		free(rc);
		return -1;
	}
	return 0;
}

/* ---- bodies ------------------------------------------------------------ */

void
http_request_read_body(struct http_request *req, enum http_body_mode mode,
    uint64_t max_bytes, http_body_fn on_body, http_complete_fn on_complete,
    http_abort_fn on_abort, void *ctx)
{
	struct http_conn *c = req->conn;

	if (!request_alive(req) || req->body_taken ||
	    req->reply != REPLY_NONE) {
		if (on_abort)
			on_abort(ctx);
		return;
	}
	req->body_taken = true;
	req->body_mode = mode;
	req->max_body_bytes = max_bytes;
	req->on_body = on_body;
	req->on_complete = on_complete;
	req->on_abort = on_abort;
	req->body_ctx = ctx;
	if (req->content_length > 0 && (uint64_t)req->content_length >
	    max_bytes) {
		reply_error(req, 413, "BODY_TOO_LARGE",
		    "the request body is larger than this route accepts");
		return;
	}
	if (req->message_complete) {	/* no body at all */
		c->state = CONN_HANDLE;
		req->is_complete_called = true;
		on_complete(req, ctx);
		return;
	}
	if (req->expects_continue && !req->is_http10) {
		bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		req->expects_continue = false;
	}
	c->state = CONN_BODY;
	event_del(c->timer);		/* no reply deadline while the body comes */
	conn_read_timeout(c, true);
	http_parser_pause(&c->parser, 0);
	if (!c->saw_eof)
		bufferevent_enable(c->bev, EV_READ);
	conn_process(c);
}

void
http_request_pause(struct http_request *req)
{
	if (!request_alive(req) || req->body_paused)
		return;
	req->body_paused = true;
	bufferevent_disable(req->conn->bev, EV_READ);
}

void
http_request_resume(struct http_request *req)
{
	if (!request_alive(req) || !req->body_paused)
		return;
	req->body_paused = false;
	if (req->conn->state == CONN_BODY) {
		http_parser_pause(&req->conn->parser, 0);
		if (!req->conn->saw_eof)
			bufferevent_enable(req->conn->bev, EV_READ);
		conn_process(req->conn);
	}
}

/* ---- connections ---------------------------------------------------------- */

static void
conn_arm_timer(struct http_conn *c, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_add(c->timer, &tv);
}

/* The read timeout guards a body in progress and an idle client; while
 * the handler works, the client owes nothing and must not be timed out. */
static void
conn_read_timeout(struct http_conn *c, bool on)
{
	int ms = c->server->limits.body_timeout_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	bufferevent_set_timeouts(c->bev, on ? &tv : NULL, &tv);
}

/* A handler that never answers must not hold the connection forever. */
static void
conn_arm_reply_deadline(struct http_conn *c)
{
	conn_arm_timer(c, c->server->limits.reply_timeout_ms);
}

static void
conn_unref(struct http_conn *c)
{
	struct http_server *s;

	if (--c->refs > 0)
		return;
	s = c->server;
	if (c->req)
		request_detach(c->req);
	event_free(c->timer);
	free(c);
	server_check_drained(s);
}

static void
conn_close(struct http_conn *c)
{
	struct http_server *s = c->server;

	if (c->closed)
		return;
	c->closed = true;
	if (c->req && c->req->reply == REPLY_STREAM && !c->req->stream_ended &&
	    c->req->src.cancel) {
		c->req->src.cancel(c->req->src.ctx);
		c->req->src.cancel = NULL;
	}
	event_del(c->timer);
	bufferevent_free(c->bev);	/* and the SSL, and the socket */
	c->bev = NULL;
	c->ssl = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	conn_unref(c);
}

/* ---- TLS on a connection --------------------------------------------------- */

/*
 * The handshake is done: the client's certificate is read once for the
 * connection.  OpenSSL has already refused one that server.client_ca does
 * not vouch for; the verify result is checked again all the same.  One
 * SHA-256 of a certificate costs microseconds, far less than the handshake
 * that ran on the loop just before.
 */
static void
conn_tls_up(struct http_conn *c)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	X509 *cert;

	c->is_tls_up = true;
	if (c->state == CONN_IDLE)
		conn_arm_timer(c, c->server->limits.idle_timeout_ms);
	if ((cert = SSL_get1_peer_certificate(c->ssl)) == NULL)
		return;
	if (SSL_get_verify_result(c->ssl) == X509_V_OK &&
	    X509_digest(cert, EVP_sha256(), md, &n) == 1 && n == 32)
		for (i = 0; i < n; i++)
			snprintf(c->client_fp + 2 * i, 3, "%02x", md[i]);
	X509_free(cert);
	ERR_clear_error();
}

/* The handshake failed (plain HTTP, an old protocol, a certificate from
 * another CA) or the client left during it: one line, then close. */
static void
conn_tls_failed(struct http_conn *c, short what)
{
	unsigned long e, first = 0;
	const char *reason;
	char why[256];

	/* libevent keeps SSL_get_error()'s code (lib 0) beside OpenSSL's
	 * queue, and hands them back last first. */
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
		if (first == 0 && ERR_GET_LIB(e) != 0)
			first = e;
	if (first) {
		if ((reason = ERR_reason_error_string(first)) != NULL)
			snprintf(why, sizeof(why), "%s", reason);
		else
			ERR_error_string_n(first, why, sizeof(why));
		log_info("%s: TLS handshake failed: %s", c->peer, why);
	} else if (what & BEV_EVENT_TIMEOUT)
		log_info("%s: TLS handshake timeout", c->peer);
	else
		log_info("%s: TLS handshake failed: the client closed the "
		    "connection", c->peer);
	conn_close(c);
}

/* A connection that ends cleanly says so (close_notify), so that a client
 * reading to the end of the stream knows that it saw all of the reply. */
static void
conn_tls_shutdown(struct http_conn *c)
{
	if (c->ssl == NULL || !c->is_tls_up)
		return;
	(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
}

static void
conn_linger_read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

/*
 * A reply went out before the client had sent all of its body (401, 413).
 * Closing at once with unread bytes makes the kernel send a reset, which
 * can destroy the reply before the client reads it; so stop writing, read
 * and discard for a short while, then close.
 */
static void
conn_linger(struct http_conn *c)
{
	c->state = CONN_LINGER;
	conn_tls_shutdown(c);
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	conn_linger_read_cb(c->bev, c);
	bufferevent_setcb(c->bev, conn_linger_read_cb, NULL, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ);
	conn_arm_timer(c, HTTP_LINGER_MS);
}

/* Metrics and the request log, once per request. */
static void
request_report(struct http_request *req, int status)
{
	struct http_server *s;

	if (req->is_reported || req->conn == NULL)
		return;
	s = req->conn->server;
	req->is_reported = true;
	req->status = status;
	req->seconds = elapsed_since(&req->started);
	if (s->handler.on_done)
		s->handler.on_done(req, s->handler.arg);
}

/* The reply is out: log it, then either close or wait for the next. */
static void
conn_finish_request(struct http_conn *c)
{
	struct http_server *s = c->server;
	struct http_request *req = c->req;

	req->finished = true;
	request_report(req, req->status);
	if (req->close_after || s->draining || c->saw_eof) {
		if (req->message_complete) {
			conn_tls_shutdown(c);
			conn_close(c);
		} else
			conn_linger(c);
		return;
	}
	if (req->reply == REPLY_FILE)
		bufferevent_setwatermark(c->bev, EV_WRITE,
		    HTTP_WRITE_LOW_WATER, 0);
	request_detach(req);
	if ((c->req = request_new(c)) == NULL) {
		conn_close(c);
		return;
	}
	c->state = CONN_IDLE;
	conn_arm_timer(c, s->limits.idle_timeout_ms);
	conn_read_timeout(c, true);
	http_parser_pause(&c->parser, 0);
	bufferevent_enable(c->bev, EV_READ);
	conn_process(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;
	struct http_request *req = c->req;
	size_t pending = evbuffer_get_length(bufferevent_get_output(bev));

	if (req == NULL || req->reply == REPLY_NONE)
		return;
	c->refs++;
	switch (req->reply) {
	case REPLY_STREAM:
		if (!req->stream_ended && !req->pull_pending &&
		    pending <= HTTP_WRITE_LOW_WATER) {
			req->pull_pending = true;
			req->src.pull(req, req->src.ctx);
		}
		break;
	case REPLY_FILE:
		if (pending <= HTTP_FILE_PIECE)
			file_read_next(req);
		break;
	default:
		break;
	}
	if (!c->closed && pending == 0 &&
	    (req->reply == REPLY_MEMORY ||
	    (req->reply == REPLY_STREAM && req->stream_ended) ||
	    (req->reply == REPLY_FILE && req->file_left == 0 &&
	    !req->file_reading)))
		conn_finish_request(c);
	conn_unref(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		conn_tls_up(c);
		return;
	}
	if (c->ssl && !c->is_tls_up) {
		conn_tls_failed(c, what);
		return;
	}
	/* A client may half-close after sending a whole request: it still
	 * wants the reply.  Keep the connection while a request is under
	 * way; conn_process closes it if the bytes buffered cannot complete
	 * the request. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    (c->state == CONN_ADMIT || c->state == CONN_BODY ||
	    c->state == CONN_HANDLE || c->state == CONN_CLOSING)) {
		c->saw_eof = true;
		c->req->close_after = true;
		bufferevent_disable(bev, EV_READ);
		if (c->state == CONN_BODY)
			conn_process(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info("%s: connection timed out (%s)", c->peer,
		    (what & BEV_EVENT_READING) ? "no body progress" :
		    "client not reading");
	conn_close(c);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->ssl && !c->is_tls_up) {
		log_info("%s: TLS handshake timeout", c->peer);
		conn_close(c);
		return;
	}
	if (c->state == CONN_HEADERS) {
		log_info("%s: header timeout", c->peer);
		reply_error(c->req, 408, "HEADER_TIMEOUT",
		    "the request headers did not arrive in time");
		if (c->req->reply == REPLY_NONE)
			conn_close(c);
		return;
	}
	if ((c->state == CONN_ADMIT || c->state == CONN_HANDLE) &&
	    c->req->reply == REPLY_NONE) {
		log_warn("%s: %s %s: no reply within %d ms", c->peer,
		    c->req->method, c->req->path,
		    c->server->limits.reply_timeout_ms);
		reply_error(c->req, 503, "REPLY_TIMEOUT",
		    "the server did not answer in time; try again later");
		return;
	}
	conn_close(c);			/* idle keep-alive connection */
}

/* The parser failed: say why, once, and close. */
static void
conn_parse_error(struct http_conn *c, enum http_errno err)
{
	struct http_request *req = c->req;

	/* A handler that refused the body has replied: let it flush; the
	 * connection closes after it (the body was not read to its end). */
	if (req->reply != REPLY_NONE)
		return;
	if (req->body_taken && req->body_bytes > req->max_body_bytes)
		reply_error(req, 413, "BODY_TOO_LARGE",
		    "the request body is larger than this route accepts");
	else if (err == HPE_HEADER_OVERFLOW || (!req->body_taken &&
	    (err == HPE_CB_url || err == HPE_CB_header_field ||
	    err == HPE_CB_header_value)))
		reply_error(req, 431, "HEADERS_TOO_LARGE",
		    "the request headers are too large or too many");
	else if (err == HPE_CB_body && req->body_taken)
		conn_close(c);	/* the handler refused the body */
	else
		reply_error(req, 400, "BAD_REQUEST", "malformed HTTP request");
}

/*
 * Feeds buffered input to the parser for as long as the state allows, and
 * acts on what the callbacks recorded.  Re-entrant calls (a handler that
 * takes the body at once) only ask the outer loop to go round again.
 */
/*
 * libevent 2.1 reads a socket 4 KiB at a time (evbuffer_read; 2.2 can be
 * told otherwise): a 1 GiB body was 262,144 reads, each with its FIONREAD,
 * its epoll_wait and its trip through the parser, and that cost more CPU
 * than hashing the body.  So while a body streams, the rest of what the
 * socket holds is read here straight into the input buffer, 256 KiB at a
 * time.  The bufferevent still sees the end of the stream and errors: a
 * socket that said so once says so again.  Returns the bytes read.
 */
static size_t
conn_bulk_read(struct http_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	ssize_t got;
	size_t left;
	int n, i;

	if (fd == -1 || c->ssl)		/* TLS bytes are OpenSSL's to read */
		return 0;
	/* The bufferevent keeps the end of its input frozen to all but
	 * itself; this is a read of its socket too. */
	evbuffer_unfreeze(in, 0);
	if ((n = evbuffer_reserve_space(in, HTTP_BULK_READ, v, 2)) < 1) {
		evbuffer_freeze(in, 0);
		return 0;
	}
	for (i = 0; i < n; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	do
		got = readv(fd, iov, n);
	while (got == -1 && errno == EINTR);
	if (got <= 0) {
		evbuffer_commit_space(in, v, 0);
		evbuffer_freeze(in, 0);
		return 0;
	}
	left = (size_t)got;
	for (i = 0; i < n; i++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		left -= v[i].iov_len;
	}
	evbuffer_commit_space(in, v, n);
	evbuffer_freeze(in, 0);
	return (size_t)got;
}

static void
conn_process(struct http_conn *c)
{
	struct http_server *s = c->server;
	struct evbuffer *in;
	struct evbuffer_iovec v;
	enum http_errno err;
	size_t n, bulk = 0, got;

	if (c->processing) {
		c->process_again = true;
		return;
	}
	c->processing = true;
	c->refs++;
	do {
		c->process_again = false;
		while (!c->closed) {
			if (c->state != CONN_IDLE && c->state != CONN_HEADERS &&
			    c->state != CONN_BODY)
				break;
			if (c->state == CONN_BODY && c->req->body_paused)
				break;
			in = bufferevent_get_input(c->bev);
			if (evbuffer_get_length(in) == 0 &&
			    c->state == CONN_BODY && !c->saw_eof &&
			    bulk < HTTP_BULK_TURN &&
			    (got = conn_bulk_read(c)) > 0) {
				bulk += got;
				continue;
			}
			if (evbuffer_get_length(in) == 0) {
				/* The client is done sending, and this body
				 * can never be complete. */
				if (c->saw_eof && c->state == CONN_BODY &&
				    !c->req->body_paused)
					conn_close(c);
				break;
			}
			if (c->state == CONN_IDLE) {
				if (s->draining) {
					conn_close(c);
					break;
				}
				c->state = CONN_HEADERS;
				conn_arm_timer(c, s->limits.header_timeout_ms);
			}
			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				break;
			n = http_parser_execute(&c->parser, &http_settings,
			    v.iov_base, v.iov_len);
			evbuffer_drain(in, n);
			err = HTTP_PARSER_ERRNO(&c->parser);
			if (err == HPE_OK)
				continue;
			if (err != HPE_PAUSED) {
				conn_parse_error(c, err);
				break;
			}
			/* Paused by a callback: the handler's turn, or the
			 * handler asked for no more body for now. */
			if (c->state == CONN_ADMIT)
				s->handler.on_request(c->req, s->handler.arg);
			else if (c->state == CONN_HANDLE) {
				c->req->is_complete_called = true;
				c->req->on_complete(c->req, c->req->body_ctx);
			}
		}
	} while (c->process_again && !c->closed);
	c->processing = false;
	conn_unref(c);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

int
http_server_adopt(struct http_server *s, int fd, const char *peer)
{
	struct http_conn *c;
	struct timeval tv;

	if (s->draining || s->nconns >= s->limits.max_connections ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		evutil_closesocket(fd);
		return -1;
	}
	c->server = s;
	c->refs = 1;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	evutil_make_socket_nonblocking(fd);
	if (s->ssl_ctx == NULL)
		c->bev = bufferevent_socket_new(s->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	else if ((c->ssl = SSL_new(s->ssl_ctx)) != NULL) {
		/* The bufferevent owns the SSL from here; when it cannot be
		 * made, libevent has freed the SSL but left fd open. */
		c->bev = bufferevent_openssl_socket_new(s->base, fd, c->ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL)
			c->ssl = NULL;
		else	/* an EOF is an EOF (see tls.c) */
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev,
			    1);
	}
	c->timer = evtimer_new(s->base, conn_timer_cb, c);
	c->req = request_new(c);
	if (c->bev == NULL || c->timer == NULL || c->req == NULL) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->timer)
			event_free(c->timer);
		if (c->req)
			request_unref(c->req);
		free(c);
		return -1;
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, HTTP_READ_HIGH_WATER);
	bufferevent_setwatermark(c->bev, EV_WRITE, HTTP_WRITE_LOW_WATER, 0);
	tv.tv_sec = s->limits.body_timeout_ms / 1000;
	tv.tv_usec = (s->limits.body_timeout_ms % 1000) * 1000;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->state = CONN_IDLE;
	/* The handshake has the time the headers would have. */
	conn_arm_timer(c, c->ssl ? s->limits.header_timeout_ms :
	    s->limits.idle_timeout_ms);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	return 0;
}

static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	char peer[64] = "";
	int one = 1;

	(void)l;
	(void)socklen;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, peer,
		    sizeof(peer));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr,
		    peer, sizeof(peer));
	(void)http_server_adopt(arg, fd, peer);
}

/* ---- the server ------------------------------------------------------- */

void
http_server_set_tls(struct http_server *s, SSL_CTX *ctx)
{
	s->ssl_ctx = ctx;
}

struct http_server *
http_server_new(struct event_base *base, const struct http_limits *limits,
    const struct http_handler *handler, struct workers *file_pool)
{
	struct http_server *s;

	http_settings.on_message_begin = on_message_begin;
	http_settings.on_url = on_url;
	http_settings.on_header_field = on_header_field;
	http_settings.on_header_value = on_header_value;
	http_settings.on_headers_complete = on_headers_complete;
	http_settings.on_body = on_body;
	http_settings.on_message_complete = on_message_complete;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->base = base;
	s->limits = *limits;
	s->handler = *handler;
	s->file_pool = file_pool;
	return s;
}

static void
server_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *s = arg;

	(void)fd;
	(void)what;
	if (s->listener && !s->draining)
		evconnlistener_enable(s->listener);
}

/* accept() failed (out of file descriptors): stop accepting for a moment
 * rather than spin, and say so. */
static void
server_accept_error(struct evconnlistener *l, void *arg)
{
	struct http_server *s = arg;
	struct timeval pause = { 0, 200000 };

	log_warn("accept: %s; pausing new connections",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	evconnlistener_disable(l);
	event_base_once(s->base, -1, EV_TIMEOUT, server_accept_resume, s,
	    &pause);
}

int
http_server_listen(struct http_server *s, const char *addr, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);

	char any[300];
	const char *colon = strrchr(addr, ':');
	bool any_port = colon && strcmp(colon, ":0") == 0;

	/* Port 0 (any free port, for tests) is not taken by the parser. */
	if (any_port) {
		snprintf(any, sizeof(any), "%.*s:1", (int)(colon - addr), addr);
		addr = any;
	}
	memset(&ss, 0, sizeof(ss));
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss,
	    &sslen) == -1) {
		snprintf(err, errlen, "server.listen: cannot parse '%s' "
		    "(expected host:port)", addr);
		return -1;
	}
	if (any_port)
		((struct sockaddr_in *)&ss)->sin_port = 0; /* same in sin6 */
	s->listener = evconnlistener_new_bind(s->base, server_accept_cb, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
	    (struct sockaddr *)&ss, sslen);
	if (s->listener == NULL) {
		snprintf(err, errlen, "server.listen: cannot listen on %s: %s",
		    addr, strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(s->listener, server_accept_error);
	return 0;
}

int
http_server_port(struct http_server *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = evconnlistener_get_fd(s->listener);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int
http_server_connections(struct http_server *s)
{
	return s->nconns;
}

static void
server_check_drained(struct http_server *s)
{
	void (*done)(void *) = s->drained;

	if (!s->draining || s->nconns > 0 || done == NULL)
		return;
	s->drained = NULL;
	done(s->drained_arg);
}

static void
server_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *s = arg;

	(void)fd;
	(void)what;
	if (s->nconns > 0)
		log_warn("shutdown: grace period over, closing %d "
		    "connection(s)", s->nconns);
	while (s->conns)
		conn_close(s->conns);
	server_check_drained(s);
}

void
http_server_drain(struct http_server *s, void (*done)(void *), void *arg)
{
	struct http_conn *c, *next;
	struct timeval tv;

	if (s->draining)
		return;
	s->draining = true;
	s->drained = done;
	s->drained_arg = arg;
	if (s->listener) {
		evconnlistener_free(s->listener);
		s->listener = NULL;
	}
	/* Idle keep-alive connections hold no request: close them now. */
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->state == CONN_IDLE &&
		    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
			conn_close(c);
	}
	tv.tv_sec = s->limits.shutdown_grace_ms / 1000;
	tv.tv_usec = (s->limits.shutdown_grace_ms % 1000) * 1000;
	s->grace_timer = evtimer_new(s->base, server_grace_cb, s);
	evtimer_add(s->grace_timer, &tv);
	server_check_drained(s);
}

void
http_server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	s->drained = NULL;
	while (s->conns)
		conn_close(s->conns);
	if (s->listener)
		evconnlistener_free(s->listener);
	if (s->grace_timer)
		event_free(s->grace_timer);
	free(s);
}
