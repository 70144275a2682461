/*
 * csv_stream.h — a route's reply as CSV (RFC 4180), streamed: batches of
 * rows are read on a request worker only as the client takes them, so a
 * million rows never sit in memory (the audit trail's export, the
 * destruction list).  Any other stream made on a worker piece by piece
 * goes the same way (an AIP exported as a tar).
 *
 * The route (an on_loop route) hands over a copy of its call and a
 * context; begin() runs on a worker first (checks, the snapshot, the
 * audit event of the read) and may refuse with api_error(), which is then
 * the reply; after the headers and the header line, next() is called on a
 * worker each time the client has taken the rows before.
 */
#ifndef SAILO_CSV_STREAM_H
#define SAILO_CSV_STREAM_H

#include <stdbool.h>

struct api_call;
struct db;
struct evbuffer;
struct http_request;

struct csv_stream_ops {
	const char	*filename;	/* Content-Disposition */
	const char	*header;	/* the first line, CRLF-ended, or NULL */
	void		(*begin)(struct db *db, struct api_call *call,
			    void *ctx);
	/* Rows into out; *done when there are no more.  -1: stop short
	 * (logged: the headers are out, the stream can only end). */
	int		(*next)(struct db *db, void *ctx, struct evbuffer *out,
			    bool *done);
	void		(*free)(void *ctx);
	/* Other streams than CSV (an AIP as a tar): their type, and a
	 * file name that begin() chose (NULL: filename). */
	const char	*content_type;	/* NULL: CSV */
	const char	*(*filename_of)(void *ctx);
};

/* Takes call (a copy, api_call_copy) and ctx in every case. */
void	csv_stream_start(struct http_request *req, struct api_call *call,
	    const struct csv_stream_ops *ops, void *ctx);
/*
 * An on-loop route's answer: JSON from json(call, db) on a request worker,
 * as a usual route, or, when the client asks for CSV (csv_wanted), the
 * stream of ops, whose context make_ctx(copy of call) gives (NULL: no
 * memory; a refusal is api_error() on the copy, answered before any row).
 */
void	csv_or_json(struct api_call *call, struct http_request *req,
	    void (*json)(struct api_call *call, struct db *db),
	    const struct csv_stream_ops *ops,
	    void *(*make_ctx)(struct api_call *copy));
/* One field (NULL: empty) and its separator, quoted when it must be. */
void	csv_field(struct evbuffer *out, const char *s, bool last);
/* True when the client asked for CSV: ?format=csv or Accept: text/csv. */
bool	csv_wanted(struct http_request *req, const char *query);

#endif
