/*
 * fuzz_http.c — libFuzzer target for the HTTP layer's parser glue.  Each
 * input is the byte stream one client sends on one connection (one or more
 * pipelined requests, any garbage).  The connection is a socketpair handed
 * to the server with http_server_adopt(); the handler below exercises
 * every path a route can take: replies from memory, a stream and a file,
 * gathered and streamed bodies with pause/resume, and replies before the
 * body.  Built with ASan and UBSan; `make fuzz` runs it over the seeds in
 * tests/fuzz/seeds_http/ for a fixed number of runs.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "workers.h"

static struct event_base *base;
static struct workers *pool;

struct fuzz_stream {
	int	left;
};

static void
fuzz_pull(struct http_request *req, void *ctx)
{
	struct fuzz_stream *st = ctx;

	if (st->left-- <= 0) {
		http_stream_end(req);
		free(st);
		return;
	}
	http_stream_write(req, "0123456789abcdef", 16);
}

static void
fuzz_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	http_request_resume(arg);
	http_request_release(arg);
}

static int
fuzz_body(struct http_request *req, const char *data, size_t len, void *ctx)
{
	struct timeval next_turn = { 0, 0 };

	(void)ctx;
	if (len > 0 && data[0] == '!')
		return -1;		/* the handler refuses the body */
	if (len > 0 && data[0] == 'P') {
		http_request_pause(req);
		http_request_hold(req);
		event_base_once(base, -1, EV_TIMEOUT, fuzz_resume, req,
		    &next_turn);
	}
	return 0;
}

/* A body's context, so that LeakSanitizer sees one lost on any path. */
static void *
fuzz_ctx_new(void)
{
	return malloc(16);
}

static void
fuzz_complete(struct http_request *req, void *ctx)
{
	free(ctx);
	http_reply(req, 200, "text/plain", "done", 4);
}

static void
fuzz_request(struct http_request *req, void *arg)
{
	struct http_stream_source src = { fuzz_pull, free, NULL };
	const char *path = http_request_path(req);
	struct fuzz_stream *st;
	struct stat sb;
	int fd;

	(void)arg;
	(void)http_request_header(req, "Content-Type");
	if (strcmp(path, "/deny") == 0) {
		http_add_header(req, "WWW-Authenticate", "Bearer");
		http_reply(req, 401, "application/json", "{}", 2);
	} else if (strcmp(path, "/stream") == 0 &&
	    (st = calloc(1, sizeof(*st))) != NULL) {
		st->left = 5;
		src.ctx = st;
		http_reply_stream(req, 200, "text/plain", &src);
	} else if (strcmp(path, "/file") == 0 &&
	    (fd = open("/proc/self/exe", O_RDONLY)) != -1) {
		if (fstat(fd, &sb) == 0)
			http_reply_fd(req, 200, "application/octet-stream",
			    fd, 0, (uint64_t)(sb.st_size < 300000 ?
			    sb.st_size : 300000));
		else
			close(fd);
	} else if (strcmp(path, "/gather") == 0)
		http_request_read_body(req, HTTP_BODY_GATHER, 4096, NULL,
		    fuzz_complete, free, fuzz_ctx_new());
	else if (strcmp(path, "/later") == 0)
		;	/* never answered: the connection must still go away */
	else
		http_request_read_body(req, HTTP_BODY_STREAM, 8192, fuzz_body,
		    fuzz_complete, free, fuzz_ctx_new());
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	base = event_base_new();
	pool = workers_new(base, "files", 1, 64, NULL);
	return 0;
}

static void
fuzz_drain_peer(int fd)
{
	char buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits limits = {
		.header_timeout_ms = 1000, .reply_timeout_ms = 1000, .idle_timeout_ms = 1000,
		.body_timeout_ms = 1000, .max_header_bytes = 2048,
		.max_headers = 16, .max_connections = 4,
		.shutdown_grace_ms = 0,
	};
	struct http_handler handler = { fuzz_request, NULL, NULL };
	struct http_server *s;
	size_t off = 0;
	ssize_t n;
	int sv[2], i;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 0;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	s = http_server_new(base, &limits, &handler, pool);
	http_server_adopt(s, sv[0], "fuzz");
	for (i = 0; i < 10000 && off < size; i++) {
		n = write(sv[1], data + off, size - off);
		if (n > 0)
			off += (size_t)n;
		event_base_loop(base, EVLOOP_NONBLOCK);
		fuzz_drain_peer(sv[1]);
		if (http_server_connections(s) == 0)
			break;
	}
	shutdown(sv[1], SHUT_WR);
	for (i = 0; i < 1000 && http_server_connections(s) > 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		fuzz_drain_peer(sv[1]);
		if (workers_busy(pool) + workers_depth(pool) > 0)
			usleep(100);
	}
	close(sv[1]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	http_server_free(s);
	/* Jobs and deferred resumes still hold their requests: let them end. */
	while (workers_busy(pool) + workers_depth(pool) > 0)
		usleep(100);
	for (i = 0; i < 3; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	return 0;
}
