/*
 * route_files.c — retrieval: GET /v1/aips/{id}/files/{path} (one file of
 * an AIP version, with its digest as Repr-Digest, RFC 9530, and a single
 * Range) and GET /v1/aips/{id}/export (the whole version as a tar, a
 * hand-over copy).  Neither holds a file in memory: a file goes out in
 * bounded pieces read on a worker (http_reply_fd), the tar is made piece
 * by piece as the client takes it (csv_stream).  Both refuse what the
 * caller's clearance does not cover (sql/011 record_readable) and are
 * reads in the audit trail, refused ones too.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <fts.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "audit.h"
#include "csv_stream.h"
#include "db.h"
#include "http.h"
#include "log.h"

#define FILES_TAR_PIECE		(256 * 1024)	/* file bytes read at once */
#define FILES_TAR_BATCH		(1024 * 1024)	/* tar bytes per pull */


/* A read the caller's clearance does not cover: 403, recorded as a
 * denied act. */
static void
files_restricted(struct api_call *call, struct db *db, const char *action,
    const char *what)
{
	api_audit_denied(call, db, action, "aip", call->params[0],
	    "clearance");
	api_error(call, 403, "RESTRICTED", "%s restricted records (publicity "
	    "or sensitive personal data) and your principal has no clearance "
	    "for them", what);
}

/* ---- one file ------------------------------------------------------------ */

struct files_get {
	struct api_call	*call;
	char		*range;		/* the request's Range, or NULL */
	char		*if_range;
	/* Filled on the worker. */
	int		 fd;
	int		 status;	/* 200, 206 or 416 */
	uint64_t	 size, start, length;
	char		 sha256[65];
	char		 etag[70];
	char		*mime;
	char		*name;		/* for Content-Disposition */
};

/*
 * The single range of h over a file of size bytes (RFC 9110 § 14.1.2):
 * 1 with *start and *len, 0 to send the whole file (no Range, a form
 * Sailo does not serve such as several ranges, or a bad header, which
 * the RFC lets a server ignore), -1 when it cannot be satisfied (416).
 */
static int
files_range(const char *h, uint64_t size, uint64_t *start, uint64_t *len)
{
	unsigned long long a, b;
	const char *p;
	char *end;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	p = h + 6;
	if (*p == '-') {		/* the last N bytes */
		errno = 0;
		b = strtoull(p + 1, &end, 10);
		if (end == p + 1 || *end || errno)
			return 0;
		if (size == 0)		/* the whole (empty) file */
			return 0;
		if (b == 0)
			return -1;
		*len = b < size ? b : size;
		*start = size - *len;
		return 1;
	}
	if (*p < '0' || *p > '9')
		return 0;
	errno = 0;
	a = strtoull(p, &end, 10);
	if (*end != '-' || errno)
		return 0;
	p = end + 1;
	if (*p == '\0')
		b = size ? size - 1 : 0;
	else {
		if (*p < '0' || *p > '9')
			return 0;
		b = strtoull(p, &end, 10);
		if (*end || errno || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	if (b >= size)
		b = size - 1;
	*start = a;
	*len = b - a + 1;
	return 1;
}

static void
files_get_work(struct db *db, void *arg)
{
	struct files_get *g = arg;
	struct api_call *call = g->call;
	struct db_result *r = NULL;
	char *version = NULL, path[PATH_MAX];
	const char *params[4], *slash;
	struct stat st;
	json_t *details;
	int n, rc;

	if (!api_is_uuid(call->params[0])) {
		api_error(call, 404, "NOT_FOUND", "no AIP %s", call->params[0]);
		return;
	}
	if (api_version_param(call, &version) == -1)
		return;
	params[0] = call->params[0];
	params[1] = version;
	params[2] = call->params[1];
	if ((params[3] = api_clearance(call)) == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		goto out;
	}
	/* A record's file by that record's clearance; any other file of
	 * the bag (the submitted metadata) by all of its records'. */
	if (db_query(db, &r, "SELECT f.version, f.size, encode(f.sha256, "
	    "'hex'), f.mime_type, f.destroyed_by, f.record_id, CASE WHEN "
	    "x.id IS NULL THEN " API_SQL_AIP_READABLE("4") " ELSE "
	    "record_readable(x.publicity, x.personal_data, "
	    API_SQL_CLEARANCE("4") ") END, encode(f.sha256, 'base64') FROM "
	    "files f JOIN aips a ON a.id = "
	    "f.aip_id LEFT JOIN records x ON x.id = f.record_id WHERE "
	    "f.aip_id = $1::uuid AND f.version = coalesce($2::int, "
	    "a.current_version) AND f.path = $3", 4, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	if (db_rows(r) != 1) {
		api_error(call, 404, "NOT_FOUND", "AIP %s has no file %s%s%s",
		    call->params[0], call->params[1], version ? " in version " :
		    "", version ? version : "");
		goto out;
	}
	if (!db_isnull(r, 0, 4)) {
		api_error(call, 410, "DISPOSED", "%s was destroyed by disposal "
		    "batch %s; its tombstone stays in the AIP",
		    call->params[1], db_value(r, 0, 4));
		goto out;
	}
	if (strcmp(db_value(r, 0, 6), "t") != 0) {
		files_restricted(call, db, "file.read", "this file belongs to "
		    "or names");
		goto out;
	}
	snprintf(g->sha256, sizeof(g->sha256), "%s", db_value(r, 0, 2));
	g->size = strtoull(db_value(r, 0, 1), NULL, 10);
	g->mime = strdup(db_isnull(r, 0, 3) ? "application/octet-stream" :
	    db_value(r, 0, 3));
	slash = strrchr(call->params[1], '/');
	g->name = strdup(slash ? slash + 1 : call->params[1]);
	if (g->mime == NULL || g->name == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		goto out;
	}
	n = snprintf(path, sizeof(path), "%s/aips/%s/v%s/%s",
	    call->app->cfg->storage_root, call->params[0], db_value(r, 0, 0),
	    call->params[1]);
	/* The path was found in the catalogue, so it holds no "..": still,
	 * never follow a link out of the store. */
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    (g->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(g->fd, &st) == -1 || (uint64_t)st.st_size != g->size) {
		log_warn("file.read: %s of AIP %s: %s", call->params[1],
		    call->params[0], g->fd == -1 ? strerror(errno) :
		    "size differs from the catalogue");
		api_error(call, 500, "STORE_MISMATCH", "the stored file does "
		    "not match the catalogue; the store check will report it");
		goto out;
	}
	snprintf(g->etag, sizeof(g->etag), "\"%s\"", g->sha256);
	/* If-Range with another validator: the whole file, as RFC 9110
	 * § 13.1.5 says. */
	rc = g->if_range && strcmp(g->if_range, g->etag) != 0 ? 0 :
	    files_range(g->range, g->size, &g->start, &g->length);
	g->status = rc == 1 ? 206 : rc == 0 ? 200 : 416;
	if (rc == 0) {
		g->start = 0;
		g->length = g->size;
	} else if (rc == -1)
		g->length = 0;
	details = json_pack("{s:i,s:o,s:s,s:I,s:o}", "version",
	    atoi(db_value(r, 0, 0)), "record_id", api_text_or_null(r, 0, 5),
	    "sha256", g->sha256, "bytes", (json_int_t)g->length, "range",
	    rc == 1 ? json_sprintf("%" PRIu64 "-%" PRIu64, g->start,
	    g->start + g->length - 1) : json_null());
	rc = g->status == 416 ? 0 : api_audit(call, db, "file.read", "aip",
	    call->params[0], details);
	json_decref(details);
	if (rc == -1)
		goto out;
	/* Repr-Digest: the digest of the whole file, also for a range. */
	snprintf(path, sizeof(path), "sha-256=:%s:", db_value(r, 0, 7));
	api_header(call, "Repr-Digest", path);
out:
	free(version);
	db_result_free(r);
}

static void
files_get_free(struct files_get *g)
{
	if (g->fd != -1)
		close(g->fd);
	api_call_free(g->call);
	free(g->range);
	free(g->if_range);
	free(g->mime);
	free(g->name);
	free(g);
}

/* A file name for Content-Disposition (RFC 6266): filename*=UTF-8''…
 * with everything but unreserved characters percent-encoded. */
static void
files_disposition(char *out, size_t len, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o;
	const unsigned char *p;

	o = (size_t)snprintf(out, len, "attachment; filename*=UTF-8''");
	for (p = (const unsigned char *)name; *p && o + 4 < len; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			out[o++] = (char)*p;
		else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

static void
files_get_done(struct http_request *req, void *arg)
{
	struct files_get *g = arg;
	struct api_call *call = g->call;
	char buf[PATH_MAX * 3 + 64];
	const char *name;
	json_t *value;
	int fd;

	if (req == NULL) {
		files_get_free(g);
		return;
	}
	if (call->status != 0) {	/* refused */
		g->call = NULL;
		api_finish(req, call);
		files_get_free(g);
		return;
	}
	json_object_foreach(call->headers, name, value)
		http_add_header(req, name, json_string_value(value));
	http_add_header(req, "ETag", g->etag);
	http_add_header(req, "Accept-Ranges", "bytes");
	/* Restricted or not, an archived document is not for caches. */
	http_add_header(req, "Cache-Control", "private, no-store");
	http_add_header(req, "X-Content-Type-Options", "nosniff");
	files_disposition(buf, sizeof(buf), g->name);
	http_add_header(req, "Content-Disposition", buf);
	if (g->status == 416) {
		snprintf(buf, sizeof(buf), "bytes */%" PRIu64, g->size);
		http_add_header(req, "Content-Range", buf);
		static const char body[] = "{\"error\":{\"code\":"
		    "\"RANGE_NOT_SATISFIABLE\",\"message\":\"the range is "
		    "outside the file\"}}";

		http_reply(req, 416, "application/json", body,
		    sizeof(body) - 1);
		files_get_free(g);
		return;
	}
	if (g->status == 206) {
		snprintf(buf, sizeof(buf), "bytes %" PRIu64 "-%" PRIu64 "/%"
		    PRIu64, g->start, g->start + g->length - 1, g->size);
		http_add_header(req, "Content-Range", buf);
	}
	fd = g->fd;
	g->fd = -1;		/* http_reply_fd closes it */
	http_reply_fd(req, g->status, g->mime, fd, (off_t)g->start,
	    g->length);
	files_get_free(g);
}

static void
route_files_get(struct api_call *call, struct http_request *req)
{
	struct files_get *g;
	const char *range = http_request_header(req, "Range");
	const char *if_range = http_request_header(req, "If-Range");

	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->call = api_call_copy(call)) == NULL ||
	    (range && (g->range = strdup(range)) == NULL) ||
	    (if_range && (g->if_range = strdup(if_range)) == NULL)) {
		if (g) {
			g->fd = -1;
			files_get_free(g);
		}
		api_error(call, 500, "INTERNAL", "out of memory");
		api_respond(req, call);
		return;
	}
	g->fd = -1;
	if (http_run(req, call->app->requests, files_get_work, files_get_done,
	    g) == -1) {
		files_get_free(g);
		call->retry_after = strdup("1");
		api_error(call, 503, "BUSY", "the server is busy; try again "
		    "shortly");
		api_respond(req, call);
	}
}

/* ---- the AIP as a tar -------------------------------------------------------- */

struct files_tar {
	char		 aip_id[37];
	char		 version[16];
	char		 dir[PATH_MAX];
	char		 name[64];	/* <aip>-v<N>.tar */
	FTS		*fts;
	struct archive	*a;
	struct evbuffer	*sink;		/* where the archive writes now */
	int		 fd;		/* the file being copied, or -1 */
	char		*buf;
};

static la_ssize_t
files_tar_write(struct archive *a, void *arg, const void *data, size_t len)
{
	struct files_tar *t = arg;

	(void)a;
	if (t->sink == NULL)		/* freed before any pull: discard */
		return (la_ssize_t)len;
	if (evbuffer_add(t->sink, data, len) == -1)
		return -1;
	return (la_ssize_t)len;
}

static int
files_tar_name_cmp(const FTSENT **a, const FTSENT **b)
{
	return strcmp((*a)->fts_name, (*b)->fts_name);
}

static void
files_tar_free(void *ctx)
{
	struct files_tar *t = ctx;

	if (t == NULL)
		return;
	if (t->fd != -1)
		close(t->fd);
	if (t->fts)
		fts_close(t->fts);
	if (t->a) {
		/* A tar not written to its end is closed into no buffer
		 * (files_tar_write discards when there is no sink): its end
		 * blocks would go to no client.  archive_write_fail() would
		 * leak libarchive's block buffer. */
		t->sink = NULL;
		archive_write_free(t->a);
	}
	free(t->buf);
	free(t);
}

static const char *
files_tar_filename(void *ctx)
{
	return ((struct files_tar *)ctx)->name;
}

/* The checks, the read's event, and the walk's start (on a worker). */
static void
files_tar_begin(struct db *db, struct api_call *call, void *ctx)
{
	struct files_tar *t = ctx;
	struct db_result *r = NULL;
	char *version = NULL;
	const char *params[3];
	struct stat st = { 0 };
	json_t *details;
	int rc;

	if (!api_is_uuid(call->params[0])) {
		api_error(call, 404, "NOT_FOUND", "no AIP %s", call->params[0]);
		return;
	}
	if (api_version_param(call, &version) == -1)
		return;
	params[0] = call->params[0];
	params[1] = version;
	if ((params[2] = api_clearance(call)) == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		goto out;
	}
	if (db_query(db, &r, "SELECT v.version, v.files, v.bytes, "
	    API_SQL_AIP_READABLE("3") " FROM aip_versions v JOIN aips a ON "
	    "a.id = v.aip_id WHERE v.aip_id = $1::uuid AND v.version = "
	    "coalesce($2::int, a.current_version)", 3, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	if (db_rows(r) != 1) {
		api_error(call, 404, "NOT_FOUND", "no AIP %s%s%s",
		    call->params[0], version ? " version " : "", version ?
		    version : "");
		goto out;
	}
	if (strcmp(db_value(r, 0, 3), "t") != 0) {
		files_restricted(call, db, "aip.export", "this AIP holds");
		goto out;
	}
	snprintf(t->aip_id, sizeof(t->aip_id), "%s", call->params[0]);
	snprintf(t->version, sizeof(t->version), "%s", db_value(r, 0, 0));
	snprintf(t->name, sizeof(t->name), "%s-v%s.tar", t->aip_id,
	    t->version);
	snprintf(t->dir, sizeof(t->dir), "%s/aips/%s/v%s",
	    call->app->cfg->storage_root, t->aip_id, t->version);
	/* The walk starts at the first pull: glibc's fts_close() leaks the
	 * root of a walk that never read. */
	if (stat(t->dir, &st) == -1 || !S_ISDIR(st.st_mode))
		errno = errno ? errno : ENOTDIR;
	if (!S_ISDIR(st.st_mode) ||
	    (t->buf = malloc(FILES_TAR_PIECE)) == NULL ||
	    (t->a = archive_write_new()) == NULL ||
	    archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(t->a, 1) != ARCHIVE_OK ||
	    archive_write_open2(t->a, t, NULL, files_tar_write, NULL,
	    NULL) != ARCHIVE_OK) {
		log_warn("aip.export: cannot start %s: %s", t->dir,
		    t->a ? archive_error_string(t->a) : strerror(errno));
		api_error(call, 500, "INTERNAL", "cannot read the stored AIP");
		goto out;
	}
	details = json_pack("{s:i,s:i,s:I}", "version", atoi(t->version),
	    "files", atoi(db_value(r, 0, 1)), "bytes",
	    (json_int_t)strtoll(db_value(r, 0, 2), NULL, 10));
	rc = api_audit(call, db, "aip.export", "aip", t->aip_id, details);
	json_decref(details);
	(void)rc;		/* a failed event has set the reply: 503 */
out:
	free(version);
	db_result_free(r);
}

/* The next entry's header, opening its file; 0, 1 at the end, -1. */
static int
files_tar_entry(struct files_tar *t)
{
	struct archive_entry *e;
	FTSENT *f;
	char name[PATH_MAX];
	struct stat st;
	int rc = -1;

	while ((f = fts_read(t->fts)) != NULL) {
		if (f->fts_info == FTS_DNR || f->fts_info == FTS_ERR ||
		    f->fts_info == FTS_NS) {
			log_warn("aip.export: %s: %s", f->fts_path,
			    strerror(f->fts_errno));
			return -1;
		}
		if (f->fts_info == FTS_F)
			break;
	}
	if (f == NULL)
		return errno ? -1 : 1;
	/* Inside the tar the bag is a folder named for the AIP and version,
	 * as a records manager hands it over. */
	snprintf(name, sizeof(name), "%s-v%s%s", t->aip_id, t->version,
	    f->fts_path + strlen(t->dir));
	if ((t->fd = open(f->fts_path, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1 || fstat(t->fd, &st) == -1) {
		log_warn("aip.export: %s: %s", f->fts_path, strerror(errno));
		return -1;
	}
	if ((e = archive_entry_new()) == NULL)
		return -1;
	archive_entry_set_pathname_utf8(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, st.st_size);
	archive_entry_set_mtime(e, st.st_mtime, 0);
	if (archive_write_header(t->a, e) == ARCHIVE_OK)
		rc = 0;
	else
		log_warn("aip.export: %s: %s", name,
		    archive_error_string(t->a));
	archive_entry_free(e);
	return rc;
}

/* Writes the tar on until about FILES_TAR_BATCH bytes are out. */
static int
files_tar_next(struct db *db, void *ctx, struct evbuffer *out, bool *done)
{
	struct files_tar *t = ctx;
	ssize_t n;
	int rc;

	(void)db;
	t->sink = out;
	if (t->fts == NULL) {
		char *paths[2] = { t->dir, NULL };

		if ((t->fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR,
		    files_tar_name_cmp)) == NULL)
			return -1;
	}
	while (evbuffer_get_length(out) < FILES_TAR_BATCH) {
		if (t->fd == -1) {
			if ((rc = files_tar_entry(t)) == -1)
				return -1;
			if (rc == 1) {
				if (archive_write_close(t->a) != ARCHIVE_OK)
					return -1;
				*done = true;
				return 0;
			}
			continue;
		}
		do
			n = read(t->fd, t->buf, FILES_TAR_PIECE);
		while (n == -1 && errno == EINTR);
		if (n == -1)
			return -1;
		if (n == 0) {
			close(t->fd);
			t->fd = -1;
			continue;
		}
		if (archive_write_data(t->a, t->buf, (size_t)n) != n)
			return -1;
	}
	return 0;
}

static const struct csv_stream_ops files_tar_ops = {
	"aip.tar", NULL, files_tar_begin, files_tar_next, files_tar_free,
	"application/x-tar", files_tar_filename,
};

static void
route_files_export(struct api_call *call, struct http_request *req)
{
	struct api_call *copy;
	struct files_tar *t;

	if ((copy = api_call_copy(call)) == NULL ||
	    (t = calloc(1, sizeof(*t))) == NULL) {
		api_call_free(copy);
		api_error(call, 500, "INTERNAL", "out of memory");
		api_respond(req, call);
		return;
	}
	t->fd = -1;
	csv_stream_start(req, copy, &files_tar_ops, t);
}

const struct api_route route_files_rows[] = {
	{ "GET", "/v1/aips/{id}/files/{path+}", "aips.files.get",
	    ROLE_RECORDS_MANAGER, API_BODY_NONE, NULL, route_files_get,
	    API_POOL_REQUESTS },
	{ "GET", "/v1/aips/{id}/export", "aips.export", ROLE_RECORDS_MANAGER,
	    API_BODY_NONE, NULL, route_files_export, API_POOL_REQUESTS },
	{ NULL, NULL, NULL, 0, API_BODY_NONE, NULL, NULL, API_POOL_REQUESTS },
};
