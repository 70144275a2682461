/*
 * httpsink.c — the HTTP layer alone, for benchmarks and tests; not a
 * production route.  Every request's body is streamed through and
 * discarded; the reply says how many bytes came.  Built without
 * sanitizers so that its memory figures are the real ones.
 *
 *   httpsink [PORT [MAX_BODY_BYTES [BODY_TIMEOUT_MS [CERT KEY]]]]
 *
 * With CERT and KEY (PEM) it serves HTTPS only, with the daemon's TLS
 * settings (tls.c).
 * Prints "port N" on stdout once listening.  SIGTERM drains and exits 0.
 * GET /delay?ms=N answers after N ms (a slow handler); GET /stream?bytes=N answers N bytes as a chunked stream; GET
 * /file?path=P answers file P as a file reply (a test program on
 * loopback, not a production route); POST|PUT any path
 * takes a body; a body over MAX_BODY_BYTES (default unlimited) gets 413 in
 * mid-stream.  POST /slow is a slow consumer: after each piece it pauses
 * the body until the loop's next turn (backpressure: memory stays flat).
 */
#include <event2/event.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "config.h"
#include "http.h"
#include "tls.h"
#include "workers.h"

static struct event_base *base;
static struct http_server *server;
static uint64_t max_body = UINT64_MAX;

struct sink_stream {
	uint64_t	left;
};

struct sink_slow {
	struct http_request	*req;
	bool			 is_paused;	/* a resume is scheduled */
	bool			 is_aborted;	/* free at that resume */
	uint64_t		 pauses;
	uint64_t		 while_paused;	/* pieces that came anyway */
};

static void
sink_resume(evutil_socket_t fd, short what, void *arg)
{
	struct sink_slow *sl = arg;
	struct http_request *req = sl->req;

	(void)fd;
	(void)what;
	sl->is_paused = false;
	if (sl->is_aborted)
		free(sl);
	else
		http_request_resume(req);
	http_request_release(req);
}

static void
sink_slow_abort(void *ctx)
{
	struct sink_slow *sl = ctx;

	if (sl->is_paused)
		sl->is_aborted = true;	/* the scheduled resume frees it */
	else
		free(sl);
}

/* The slow consumer: every piece makes it stop reading for a moment. */
static int
sink_slow_body(struct http_request *req, const char *data, size_t len,
    void *ctx)
{
	struct timeval next_turn = { 0, 0 };
	struct sink_slow *sl = ctx;

	(void)data;
	(void)len;
	if (sl->is_paused) {
		sl->while_paused++;
		return 0;
	}
	sl->is_paused = true;
	sl->pauses++;
	http_request_pause(req);
	http_request_hold(req);
	event_base_once(base, -1, EV_TIMEOUT, sink_resume, sl, &next_turn);
	return 0;
}

static void
sink_slow_complete(struct http_request *req, void *ctx)
{
	struct sink_slow *sl = ctx;
	char body[128];
	int n;

	n = snprintf(body, sizeof(body), "{\"bytes\":%llu,\"pauses\":%llu,"
	    "\"while_paused\":%llu}",
	    (unsigned long long)http_request_body_bytes(req),
	    (unsigned long long)sl->pauses,
	    (unsigned long long)sl->while_paused);
	http_reply(req, 200, "application/json", body, (size_t)n);
	free(sl);
}

static int
sink_body(struct http_request *req, const char *data, size_t len, void *ctx)
{
	(void)req;
	(void)data;
	(void)len;
	(void)ctx;
	return 0;			/* discarded */
}

static void
sink_complete(struct http_request *req, void *ctx)
{
	char body[64];
	int n;

	(void)ctx;
	n = snprintf(body, sizeof(body), "{\"bytes\":%llu}",
	    (unsigned long long)http_request_body_bytes(req));
	http_reply(req, 200, "application/json", body, (size_t)n);
}

static void
sink_pull(struct http_request *req, void *ctx)
{
	static char piece[16384];
	struct sink_stream *st = ctx;
	size_t n = st->left < sizeof(piece) ? (size_t)st->left : sizeof(piece);

	if (n == 0) {
		http_stream_end(req);
		free(st);
		return;
	}
	memset(piece, 'x', n);
	st->left -= n;
	http_stream_write(req, piece, n);
}

static void
sink_delayed(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	http_reply(arg, 200, "text/plain", "late\n", 5);
	http_request_release(arg);
}

static void
sink_request(struct http_request *req, void *arg)
{
	struct http_stream_source src = { sink_pull, free, NULL };
	struct sink_stream *st;
	const char *q;

	(void)arg;
	http_request_set_route(req, "sink");
	if (strcmp(http_request_method(req), "GET") == 0 &&
	    strcmp(http_request_path(req), "/delay") == 0) {
		long ms = strncmp(http_request_query(req), "ms=", 3) == 0 ?
		    strtol(http_request_query(req) + 3, NULL, 10) : 0;
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

		http_request_hold(req);
		event_base_once(base, -1, EV_TIMEOUT, sink_delayed, req, &tv);
		return;
	}
	if (strcmp(http_request_method(req), "GET") == 0 &&
	    strcmp(http_request_path(req), "/stream") == 0) {
		if ((st = calloc(1, sizeof(*st))) == NULL)
			return;
		q = http_request_query(req);
		if (strncmp(q, "bytes=", 6) == 0)
			st->left = strtoull(q + 6, NULL, 10);
		src.ctx = st;
		http_reply_stream(req, 200, "text/plain", &src);
		return;
	}
	if (strcmp(http_request_method(req), "GET") == 0 &&
	    strcmp(http_request_path(req), "/file") == 0) {
		const char *q = http_request_query(req);
		struct stat st;
		int fd = strncmp(q, "path=", 5) == 0 ? open(q + 5, O_RDONLY) :
		    -1;

		if (fd == -1 || fstat(fd, &st) == -1) {
			if (fd != -1)
				close(fd);
			http_reply(req, 404, "text/plain", "", 0);
			return;
		}
		http_reply_fd(req, 200, "application/octet-stream", fd, 0,
		    (uint64_t)st.st_size);
		return;
	}
	if (strcmp(http_request_method(req), "GET") == 0) {
		http_reply(req, 200, "text/plain", "ok\n", 3);
		return;
	}
	if (strcmp(http_request_path(req), "/slow") == 0) {
		struct sink_slow *sl = calloc(1, sizeof(*sl));

		if (sl == NULL)
			return;
		sl->req = req;
		http_request_read_body(req, HTTP_BODY_STREAM, max_body,
		    sink_slow_body, sink_slow_complete, sink_slow_abort, sl);
		return;
	}
	http_request_read_body(req, HTTP_BODY_STREAM, max_body, sink_body,
	    sink_complete, NULL, NULL);
}

static void
sink_drained(void *arg)
{
	(void)arg;
	event_base_loopexit(base, NULL);
}

static void
sink_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	http_server_drain(server, sink_drained, NULL);
}

int
main(int argc, char **argv)
{
	struct http_limits limits = {
		.header_timeout_ms = 2000, .reply_timeout_ms = 10000, .idle_timeout_ms = 60000,
		.body_timeout_ms = 10000, .max_header_bytes = 16384,
		.max_headers = 100, .max_connections = 4096,
		.shutdown_grace_ms = 5000,
	};
	struct http_handler handler = { sink_request, NULL, NULL };
	struct workers *pool;
	struct event *sig;
	struct config cfg = { .tls_cert = "", .tls_key = "", .client_ca = "" };
	SSL_CTX *tls = NULL;
	char addr[64], err[256];

	snprintf(addr, sizeof(addr), "127.0.0.1:%s", argc > 1 ? argv[1] : "0");
	if (argc > 2)
		max_body = strtoull(argv[2], NULL, 10);
	if (argc > 3)
		limits.body_timeout_ms = atoi(argv[3]);
	if (argc > 5) {
		cfg.tls_cert = argv[4];
		cfg.tls_key = argv[5];
		if ((tls = tls_server_ctx(&cfg, err, sizeof(err))) == NULL) {
			fprintf(stderr, "httpsink: %s\n", err);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	base = event_base_new();
	pool = workers_new(base, "files", 1, 64, NULL);
	server = http_server_new(base, &limits, &handler, pool);
	if (tls)
		http_server_set_tls(server, tls);
	if (http_server_listen(server, addr, err, sizeof(err)) == -1) {
		fprintf(stderr, "httpsink: %s\n", err);
		return 1;
	}
	printf("port %d\n", http_server_port(server));
	fflush(stdout);
	sig = evsignal_new(base, SIGTERM, sink_signal, NULL);
	evsignal_add(sig, NULL);
	event_base_dispatch(base);
	workers_stop(pool);
	http_server_free(server);
	SSL_CTX_free(tls);
	workers_free(pool);
	event_free(sig);
	event_base_free(base);
	return 0;
}
