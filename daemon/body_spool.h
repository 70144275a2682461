/*
 * body_spool.h — a request body streamed to a spool file on job workers:
 * the one mechanism under POST /v1/transfers and tus PATCH.  Bytes read
 * from the socket wait in memory until the write in flight is done (one at
 * a time, in order); reading pauses while more than BODY_SPOOL_HIGH_WATER
 * bytes wait, and resumes below BODY_SPOOL_LOW_WATER, so memory stays flat
 * whatever the body's size.  Loop thread only, but for ops->open.
 */
#ifndef SAILO_BODY_SPOOL_H
#define SAILO_BODY_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

struct http_request;
struct spool_file;
struct workers;
struct body_spool;

#define BODY_SPOOL_HIGH_WATER	(4 * 1024 * 1024)
#define BODY_SPOOL_LOW_WATER	(1 * 1024 * 1024)

struct body_spool_ops {
	/* On a worker, before the first byte: the file to write to.
	 * 0, or -1 with err. */
	int	(*open)(struct spool_file **out, void *owner, char *err,
		    size_t errlen);
	/* On the loop, after each write: settled (nothing in flight, nothing
	 * waiting) or failed (see body_spool_error()).  The owner decides
	 * what comes next from its own state. */
	void	(*settled)(void *owner);
};

struct body_spool *body_spool_new(struct workers *pool,
		    struct http_request *req, const struct body_spool_ops *ops,
		    void *owner);
/* Feeds one piece of the body (from the body callback).  0, or -1 once a
 * write has failed. */
int		 body_spool_piece(struct body_spool *bs, const char *data,
		    size_t len);
/* True while a write is in flight (bytes wait only then). */
bool		 body_spool_busy(const struct body_spool *bs);
/* Why a write failed, or NULL. */
const char	*body_spool_error(const struct body_spool *bs);
/* The file written to (NULL before the first write); the caller takes it
 * (and must then not feed more). */
struct spool_file *body_spool_take_file(struct body_spool *bs);
/* Frees bs (never while a write is in flight); a file not taken is closed
 * and removed (spool_discard). */
void		 body_spool_free(struct body_spool *bs);

#endif
