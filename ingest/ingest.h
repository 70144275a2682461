/*
 * ingest.h — what the ingest folder offers the rest of Sailo.  It knows
 * nothing of HTTP: routes in daemon/ hand it bytes on a worker thread.
 *
 * The spool: a package streams into <spool>/<random>.part while its
 * SHA-256 is computed, is made durable, and is renamed to <spool>/<transfer
 * id>.pkg when its transfer is recorded.  Every function here touches the
 * disk: call them on a worker, never on the loop thread.
 */
#ifndef SAILO_INGEST_H
#define SAILO_INGEST_H

#include <stddef.h>
#include <stdint.h>

struct spool_file;

/* Creates a new part file in dir (made if missing).  0, or -1 with err. */
int	spool_open(struct spool_file **out, const char *dir, char *err,
	    size_t errlen);
/* Opens (or creates) the resumable upload file <dir>/<name>.part and cuts
 * it to offset, the part known to be durable; writes append from there and
 * are not hashed (spool_hash() reads the file when it is whole).  0, or
 * -1 with err. */
int	spool_open_upload(struct spool_file **out, const char *dir,
	    const char *name, uint64_t offset, char *err, size_t errlen);
/* Flushes an upload file to disk; gives its size.  0, or -1. */
int	spool_sync(struct spool_file *f, uint64_t *size, char *err,
	    size_t errlen);
/* SHA-256 (hex) and size of the whole file, read from disk.  0, or -1. */
int	spool_hash(struct spool_file *f, char sha256_hex[65], uint64_t *size,
	    char *err, size_t errlen);
/* Removes <dir>/<name>.part (an upload terminated). */
void	spool_remove_upload(const char *dir, const char *name);
/* Appends and hashes.  0, or -1 with err (ENOSPC says so). */
int	spool_write(struct spool_file *f, const void *data, size_t len,
	    char *err, size_t errlen);
/* Flushes to disk; gives the SHA-256 (hex) and size.  0, or -1. */
int	spool_finish(struct spool_file *f, char sha256_hex[65], uint64_t *size,
	    char *err, size_t errlen);
/* Renames the part file to <dir>/<name>.pkg and makes the folder durable.
 * 0, or -1. */
int	spool_commit(struct spool_file *f, const char *name, char *err,
	    size_t errlen);
/* Removes what was written (unless committed) and frees f; NULL is ok. */
void	spool_discard(struct spool_file *f);
/* Removes a committed package <dir>/<name>.pkg (a transfer that did not
 * commit after all). */
void	spool_remove(const char *dir, const char *name);

#endif
