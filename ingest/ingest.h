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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "formats.h"

struct config;
struct db;
struct db_result;

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
/* Unpacks the file as it grows, so that its transfer is unpacked early
 * (early.c; ingest.unpack_while_receiving): call right after spool_open(). */
void	spool_unpack_early(struct spool_file *f, const struct config *cfg);
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
/* The same, reading the package through read(arg, &buf): it gives the
 * next bytes (their count), 0 at the end, or -1 when they cannot be had. */
typedef ssize_t	(*unpack_reader)(void *arg, const void **buf);
int	unpack_stream(struct unpack_result *out, unpack_reader read,
	    void *arg, const char *work_dir, const struct unpack_limits *lim,
	    struct findings *f, char *err, size_t errlen);
void	unpack_result_free(struct unpack_result *r);
/* Removes a work folder and everything under it. */
void	unpack_remove(const char *work_dir);

/*
 * The pipeline (process.c).  ingest_init() runs once at start-up: libxml2
 * and the bundled schemas, and the person identifier key (made when
 * absent).  ingest_process_next() claims the oldest transfer waiting that
 * no daemon works on and takes it through unpack, identify, validate and
 * store to accepted, rejected or failed; 1 when it processed one, 0 when
 * none waits (or stop() asked it to stop at a safe point: the transfer
 * waits for the next try), -1 when the try failed on Sailo's side (it is
 * tried again, up to ingest.max_attempts).
 */
int	ingest_init(const struct config *cfg, char *err, size_t errlen);
int	ingest_process_next(struct db *db, const struct config *cfg,
	    bool (*stop)(void *), void *stop_arg);
/* At exit, after the pools stopped: stops unpacking what was arriving. */
void	ingest_shutdown(void);
/* Removes kept packages (ingest.keep_packages_days) whose time is up, and
 * packages unpacked early that no job of this daemon took. */
void	ingest_purge_kept(struct db *db, const struct config *cfg);
/* HMAC-SHA-256 of a person identity code under the key; 0, or -1. */
int	ingest_person_hmac(const char *ssn, char hex[65]);

/* A transfer as the API shows it (report.c): the columns to select from
 * transfers t JOIN principals p, and the JSON of row i.  Column 7 is the
 * submission time as the keyset cursor wants it. */
#define INGEST_TRANSFER_COLUMNS \
	"t.id, t.status, t.format, encode(t.package_sha256, 'hex'), t.size, " \
	"p.name, to_char(t.submitted_at AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), t.submitted_at::text, " \
	"COALESCE((SELECT json_agg(v.aip_id ORDER BY v.aip_id) FROM " \
	"aip_versions v WHERE v.transfer_id = t.id), '[]')::text, " \
	"to_char(t.finished_at AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), t.failure"
json_t	*ingest_transfer_json(struct db_result *r, int i);
/* {"transfer", "findings": […], "errors", "warnings"}, or NULL. */
json_t	*ingest_report_json(struct db *db, const char *id);

/*
 * AIPs (aip.c): one version of an AIP is a BagIt 1.0 bag.  aip_write()
 * makes the bag at spec->dir (which must not exist): each file is a hard
 * link to its source (or to link_from, the same bytes in the previous
 * version), copied only across file systems; manifest-sha256.txt from the
 * digests given, bagit.txt, bag-info.txt (the info lines, then
 * Bagging-Date and Payload-Oxum), tagmanifest-sha256.txt (and SHA-512
 * manifests when asked).  Nothing is synced one by one: aip_sync() makes
 * a batch durable at once (syncfs of the store's file system), once after
 * the bags are written and once after aip_place() has renamed each into
 * <aip_dir>/v<version> (a folder left there by an earlier try that never
 * reached the catalogue is replaced; *replaced says so).
 */
struct aip_file {
	char		*src;
	char		*dst;		/* in the bag: data/content/… */
	uint64_t	 size;
	char		 sha256[65];
	const char	*link_from;	/* or NULL */
};
struct aip_spec {
	const char		*dir;
	const struct aip_file	*files;
	size_t			 nfiles;
	const char *const	*info;	/* "Label: value", NULL-ended */
	bool			 sha512;
};
int	aip_write(const struct aip_spec *s, char tagmanifest_sha256[65],
	    char *err, size_t errlen);
int	aip_sync(const char *root, char *err, size_t errlen);
int	aip_place(const char *tmp, const char *aip_dir, int version,
	    bool *replaced, char *err, size_t errlen);
void	aip_uuid(char out[37]);		/* a random (v4) UUID */
/*
 * Brings the bag at dir up to date after disposal, in place: each payload
 * file for which drop(path, arg) is true is unlinked and left out of the
 * manifests; files under data/metadata/ (redacted there) are digested
 * again; Payload-Oxum and the tag manifests follow.  Every file is written
 * aside and renamed over the old one, so that running it again after a
 * crash finishes the job.  The new tagmanifest-sha256.txt's digest goes to
 * tagmanifest_sha256; each metadata file's digest (moved or not: a run
 * before may have died between the manifest and its caller's catalogue)
 * is passed to changed(path, sha256 hex, size, arg) when that is not
 * NULL.  0, or -1.
 */
int	aip_remanifest(const char *dir, bool (*drop)(const char *path,
	    void *arg), void (*changed)(const char *path, const char *sha256,
	    uint64_t size, void *arg), void *arg, char tagmanifest_sha256[65],
	    char *err, size_t errlen);

/*
 * Redaction after disposal (redact.c; csvmeta.c for CSV): src written to
 * dst without what it says of records for which gone(native_id, arg) is
 * true; *left counts the records it still describes.  SÄHKE2: each gone
 * Record becomes a comment naming its NativeId and the batch; with none
 * left, a stub.  (metadata.csv: csvmeta_redact in package.h.)  0, or -1.
 */
int	redact_sahke2(const char *src, const char *dst,
	    bool (*gone)(const char *native_id, void *arg), void *arg,
	    const char *batch, size_t *left, char *err, size_t errlen);

/* data/metadata/premis.xml: PREMIS 3 events of one AIP version. */
struct premis_event {
	const char	*type;		/* "ingestion", "validation", … */
	const char	*at;		/* RFC 3339 */
	const char	*detail;
	const char	*outcome;	/* "success" */
	const char	*agent;		/* principal, or NULL: the default */
};
int	aip_write_premis(const char *path, const char *aip_id,
	    const struct premis_event *ev, size_t nev, const char *agent,
	    char *err, size_t errlen);

#endif
