/*
 * http.h — Sailo's HTTP/1.1 server on libevent bufferevents and
 * libhttp-parser (evhttp is not used: libevent 2.1 buffers whole request
 * bodies).  Handlers never see sockets.  Every function here runs on the
 * loop thread.
 *
 * The life of a request:
 *  1. Headers arrive; the server calls the handler's on_request().  The
 *     body is not parsed until the handler decides (the socket is still
 *     watched, so that a client going away is seen).
 *  2. The handler either replies at once (404, 401 …; the body is never
 *     read, and the connection closes if one was coming) or calls
 *     http_request_read_body() to take the body: gathered into memory up
 *     to a cap, or streamed chunk by chunk.  Only then is an
 *     `Expect: 100-continue` answered, so a 401 or 413 comes first.
 *  3. When the body is complete, its on_complete() runs; the handler
 *     replies from memory, as a stream, or from a file.
 * Work that blocks runs on a worker pool through http_run().
 */
#ifndef SAILO_HTTP_H
#define SAILO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct db;
struct event_base;
struct evbuffer;
struct workers;
struct http_server;
struct http_request;
struct ssl_ctx_st;

struct http_limits {
	int		header_timeout_ms;	/* first byte → last header */
	int		reply_timeout_ms;	/* request whole → reply starts */
	int		idle_timeout_ms;	/* keep-alive wait */
	int		body_timeout_ms;	/* no progress, read or write */
	int		max_header_bytes;
	int		max_headers;
	int		max_connections;
	int		shutdown_grace_ms;
};

struct http_handler {
	void	(*on_request)(struct http_request *req, void *arg);
	/* After each reply is sent: metrics and the request log. */
	void	(*on_done)(struct http_request *req, void *arg);
	void	 *arg;
};

/* Called for each piece of a streamed body.  Return 0, or -1 to fail the
 * request (the handler has replied or will reply). */
typedef int	(*http_body_fn)(struct http_request *req, const char *data,
		    size_t len, void *ctx);
typedef void	(*http_complete_fn)(struct http_request *req, void *ctx);

enum http_body_mode { HTTP_BODY_GATHER, HTTP_BODY_STREAM };

struct http_server *http_server_new(struct event_base *base,
		    const struct http_limits *limits,
		    const struct http_handler *handler,
		    struct workers *file_pool);
/* Serves HTTPS only, with ctx (tls.c builds it; the server does not own
 * it and it must outlive the server).  Before any connection. */
void		 http_server_set_tls(struct http_server *s,
		    struct ssl_ctx_st *ctx);
/* host:port; returns 0, or -1 with a message in err. */
int		 http_server_listen(struct http_server *s, const char *addr,
		    char *err, size_t errlen);
int		 http_server_port(struct http_server *s); /* bound port */
/* Serves an already connected socket (tests, fuzzing, socket activation).
 * The server owns fd from here on, also on failure (-1). */
int		 http_server_adopt(struct http_server *s, int fd,
		    const char *peer);
/* Stops accepting, closes idle connections, lets requests in flight finish
 * within the grace period, then calls done(arg) once nothing is left. */
void		 http_server_drain(struct http_server *s,
		    void (*done)(void *), void *arg);
void		 http_server_free(struct http_server *s);
int		 http_server_connections(struct http_server *s);

/* The request (valid until its reply is finished). */
const char	*http_request_method(const struct http_request *req);
const char	*http_request_path(const struct http_request *req);
const char	*http_request_query(const struct http_request *req); /* or "" */
const char	*http_request_header(const struct http_request *req,
		    const char *name);
/* Content-Length, or -1 when chunked or absent. */
int64_t		 http_request_content_length(const struct http_request *req);
bool		 http_request_has_body(const struct http_request *req);
const char	*http_request_peer(const struct http_request *req);
/* The SHA-256 of the DER certificate the client presented and the server
 * verified on this connection, 64 lower-case hex digits, or NULL. */
const char	*http_request_client_fingerprint(
		    const struct http_request *req);
struct evbuffer	*http_request_body(struct http_request *req); /* gathered */
uint64_t	 http_request_body_bytes(const struct http_request *req);

/* What the request log and metrics show for this request. */
void		 http_request_set_principal(struct http_request *req,
		    const char *principal);
const char	*http_request_principal(const struct http_request *req);
void		 http_request_set_route(struct http_request *req,
		    const char *route);
const char	*http_request_route(const struct http_request *req);
int		 http_request_status(const struct http_request *req);
uint64_t	 http_request_bytes_out(const struct http_request *req);
double		 http_request_seconds(const struct http_request *req);

/* Takes the body: max_bytes caps it (413 before 100-continue when the
 * declared length is over, 413 and close when a chunked body grows past
 * it).  In STREAM mode on_body sees each piece; GATHER collects it.
 * Exactly one of on_complete(req, ctx) and on_abort(ctx) runs: on_abort
 * (may be NULL) when the body will never be complete (too large, client
 * gone, timed out), so that ctx is never lost. */
typedef void	(*http_abort_fn)(void *ctx);
void		 http_request_read_body(struct http_request *req,
		    enum http_body_mode mode, uint64_t max_bytes,
		    http_body_fn on_body, http_complete_fn on_complete,
		    http_abort_fn on_abort, void *ctx);
/* Keeps req's memory valid past its reply or its connection, for a
 * callback that may run late; every http_* call on a request that is no
 * longer alive does nothing.  Pair each hold with a release. */
void		 http_request_hold(struct http_request *req);
void		 http_request_release(struct http_request *req);

/* Backpressure for STREAM bodies: no more of the body reaches on_body
 * (and the socket is not read) until resumed.  May be called from on_body. */
void		 http_request_pause(struct http_request *req);
void		 http_request_resume(struct http_request *req);

/* Runs work(db, arg) on a pool, then done(req, arg) on the loop thread.
 * req is NULL in done() when the client went away meanwhile: free arg and
 * reply to nobody.  Returns -1 when the pool is full: reply 503. */
int		 http_run(struct http_request *req, struct workers *pool,
		    void (*work)(struct db *, void *),
		    void (*done)(struct http_request *, void *), void *arg);

/* Replies.  Headers added before the reply go out with it. */
void		 http_add_header(struct http_request *req, const char *name,
		    const char *value);
void		 http_reply(struct http_request *req, int status,
		    const char *content_type, const void *body, size_t len);
/* Replies with a file's bytes [offset, offset+length), read in bounded
 * pieces on the server's file pool.  The fd is closed after. */
void		 http_reply_fd(struct http_request *req, int status,
		    const char *content_type, int fd, off_t offset,
		    uint64_t length);

/* A streamed reply of unknown length (chunked).  pull() is called on the
 * loop thread whenever the client has taken what was written; the source
 * then writes more (now or later) with http_stream_write() and ends with
 * http_stream_end().  cancel() runs if the client goes away first. */
struct http_stream_source {
	void	(*pull)(struct http_request *req, void *ctx);
	void	(*cancel)(void *ctx);
	void	 *ctx;
};
void		 http_reply_stream(struct http_request *req, int status,
		    const char *content_type,
		    const struct http_stream_source *src);
void		 http_stream_write(struct http_request *req, const void *data,
		    size_t len);
void		 http_stream_end(struct http_request *req);
/* Ends a streamed reply that could not be finished: no last chunk, and
 * the connection closes, so the client sees the reply cut off rather
 * than complete. */
void		 http_stream_abort(struct http_request *req);

const char	*http_status_text(int status);

#endif
