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

#include "formats.h"

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
/* SHA-256 (hex) and size of the whole file, made durable first: from the
 * digest taken while writing when there is one (a copied file), else read
 * from disk (an upload file, a linked file).  0, or -1. */
int	spool_hash(struct spool_file *f, char sha256_hex[65], uint64_t *size,
	    char *err, size_t errlen);
/* Removes <dir>/<name>.part (an upload terminated). */
void	spool_remove_upload(const char *dir, const char *name);
/* Calls fn(name, is_package, age_s, arg) for each <name>.pkg and
 * <name>.part in dir: name without its suffix, age_s since it was last
 * written (start-up reconciliation). */
void	spool_list(const char *dir, void (*fn)(const char *name,
	    int is_package, long age_s, void *arg), void *arg);
/* Removes <dir>/<name>.part (an upload abandoned in a crash). */
#define spool_remove_part spool_remove_upload

/* Brings an existing file into the spool as a new part file: a hard link
 * when the spool is on the same file system, a copy otherwise; the source
 * stays until the caller removes it.  0, or -1 with err. */
int	spool_adopt(struct spool_file **out, const char *dir, const char *src,
	    char *err, size_t errlen);

/*
 * The inbox folder.  A package is ready when it is a regular file whose
 * name does not start with '.' nor end in .part, .tmp or .ready, and (when
 * require_marker) a NAME.ready file stands beside it.  inbox_next() gives
 * the oldest ready name (malloc'd) or NULL; inbox_remove() takes the file
 * and its marker away; inbox_report() writes <outbox>/<name>.report.json
 * atomically; inbox_reject() moves a package the archive cannot read to
 * the outbox so that it is not taken again.
 */
char	*inbox_next(const char *dir, int require_marker);
void	inbox_remove(const char *dir, const char *name);
int	inbox_report(const char *outbox, const char *name, const char *json,
	    char *err, size_t errlen);
void	inbox_reject(const char *dir, const char *outbox, const char *name);

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

/*
 * Unpacking a package (zip, tar, tar.gz, tar.zst) entry by entry into a
 * work folder, hashing while writing.  Each of these is an error finding
 * and the entry is not written: an absolute path or `..` (also written with
 * `\`), a link, a device or fifo, a name that is not UTF-8, a duplicate
 * name (after Unicode NFC and case folding), a file where a folder is
 * (or the other way round).  Past the limits — entries, unpacked bytes, or
 * a compression ratio over max_ratio on any window of at least 1 MiB of
 * output — or on a corrupt or truncated archive, unpacking stops with a
 * finding (UNPACK_LIMIT, ARCHIVE_BOMB, ARCHIVE_CORRUPT).
 */
struct unpack_limits {
	uint64_t	max_entries;
	uint64_t	max_unpacked_bytes;
	double		max_ratio;
};

struct unpacked_file {
	char		*path;		/* relative, '/'-separated, UTF-8 */
	uint64_t	 size;
	char		 sha256[65];
};

struct unpack_result {
	struct unpacked_file	*files;
	size_t			 nfiles, cap;
	uint64_t		 bytes;
	uint64_t		 entries;
};

/* Unpacks package into work_dir (made; must not exist).  Returns 0 when
 * done (see f->errors: any error means the package is rejected), -1 when
 * Sailo failed (disk, memory; err says why). */
int	unpack_package(struct unpack_result *out, const char *package,
	    const char *work_dir, const struct unpack_limits *lim,
	    struct findings *f, char *err, size_t errlen);
void	unpack_result_free(struct unpack_result *r);
/* Removes a work folder and everything under it. */
void	unpack_remove(const char *work_dir);

#endif
