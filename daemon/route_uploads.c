/*
 * route_uploads.c — resumable uploads, tus 1.0.0 core + creation +
 * termination, at /v1/uploads (integrations).  The protocol that the
 * national Digital Preservation Service uses too; Debian's python3-tuspy
 * works with it unchanged.
 *
 * An upload is a row (length, durable offset) and a file
 * storage.spool/<id>.part.  A PATCH appends at the offset: its body streams
 * to the file on job workers (body_spool.c), and when the PATCH ends — complete, or cut off — the file is
 * made durable and the new offset recorded, so an interrupted upload
 * resumes where its bytes are safe, also after a restart.  The PATCH that
 * completes the upload hashes the file and records the transfer
 * (transfers.h); its reply carries Sailo-Transfer.
 */
#include <ctype.h>
#include <event2/buffer.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "audit.h"
#include "body_spool.h"
#include "db.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "transfers.h"
#include "workers.h"

#define TUS_MAX_ACTIVE		256

/* Uploads with a PATCH under way in this daemon (loop thread only). */
static char tus_active[TUS_MAX_ACTIVE][37];

static bool
tus_claim(const char *id)
{
	int i, free_slot = -1;

	for (i = 0; i < TUS_MAX_ACTIVE; i++) {
		if (strcmp(tus_active[i], id) == 0)
			return false;
		if (tus_active[i][0] == '\0' && free_slot == -1)
			free_slot = i;
	}
	if (free_slot == -1)
		return false;
	snprintf(tus_active[free_slot], 37, "%s", id);
	return true;
}

static void
tus_release(const char *id)
{
	int i;

	for (i = 0; i < TUS_MAX_ACTIVE; i++)
		if (strcmp(tus_active[i], id) == 0)
			tus_active[i][0] = '\0';
}

/* tus: every request but OPTIONS names the protocol version. */
static bool
tus_version_ok(struct api_call *call, struct http_request *req)
{
	const char *v = http_request_header(req, "Tus-Resumable");

	if (v && strcmp(v, "1.0.0") == 0)
		return true;
	api_header(call, "Tus-Version", "1.0.0");
	api_error(call, 412, "TUS_VERSION", "this server speaks tus 1.0.0 "
	    "(header Tus-Resumable: 1.0.0)");
	return false;
}

static int
tus_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]) || strlen(s) > 19)
		return -1;
	*out = strtoull(s, &end, 10);
	return *end == '\0' ? 0 : -1;
}

/* The call for a worker, answering as tus does. */
static struct api_call *
tus_call_copy(const struct api_call *call)
{
	struct api_call *c = api_call_copy(call);

	if (c)
		api_header(c, "Tus-Resumable", "1.0.0");
	return c;
}

/* ---- OPTIONS and creation ------------------------------------------------ */

static void
route_uploads_options(struct api_call *call, struct http_request *req)
{
	char max[24];

	snprintf(max, sizeof(max), "%lld",
	    call->app->cfg->ingest_max_package_bytes);
	api_header(call, "Tus-Resumable", "1.0.0");
	api_header(call, "Tus-Version", "1.0.0");
	api_header(call, "Tus-Extension", "creation,termination");
	api_header(call, "Tus-Max-Size", max);
	call->status = 204;
	api_respond(req, call);
}

struct tus_create {
	struct api_call	*call;
	uint64_t	 length;
	char		*filename, *format, *idempotency_key;
};

/* Upload-Metadata: "key base64,key base64"; values must be UTF-8 text.
 * Keeps filename, format and idempotency_key; ignores the rest. */
static int
tus_metadata(struct tus_create *tc, const char *meta)
{
	char *copy, *item, *save = NULL, *sp, **slot;
	unsigned char *val;
	size_t n;
	int len, rc = 0;

	if (meta == NULL || *meta == '\0')
		return 0;
	if ((copy = strdup(meta)) == NULL)
		return -1;
	for (item = strtok_r(copy, ",", &save); item && rc == 0;
	    item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ')
			item++;
		if ((sp = strchr(item, ' ')) != NULL)
			*sp++ = '\0';
		slot = strcmp(item, "filename") == 0 ? &tc->filename :
		    strcmp(item, "format") == 0 ? &tc->format :
		    strcmp(item, "idempotency_key") == 0 ?
		    &tc->idempotency_key : NULL;
		if (slot == NULL)
			continue;
		n = sp ? strlen(sp) : 0;
		if (n % 4 != 0 || n > 800 || (val = malloc(n + 1)) == NULL) {
			rc = -1;
			break;
		}
		len = n ? EVP_DecodeBlock(val, (unsigned char *)sp, (int)n) : 0;
		if (len < 0) {
			free(val);
			rc = -1;
			break;
		}
		while (n > 0 && sp[--n] == '=')	/* DecodeBlock counts padding */
			len--;
		val[len] = '\0';
		if (strlen((char *)val) != (size_t)len ||
		    (slot == &tc->idempotency_key && (len < 1 || len > 200))) {
			free(val);
			rc = -1;
			break;
		}
		free(*slot);
		*slot = (char *)val;
	}
	free(copy);
	return rc;
}

static void
tus_create_free(struct tus_create *tc)
{
	api_call_free(tc->call);
	free(tc->filename);
	free(tc->format);
	free(tc->idempotency_key);
	free(tc);
}

static void
tus_create_work(struct db *db, void *arg)
{
	struct tus_create *tc = arg;
	struct api_call *call = tc->call;
	struct db_result *r = NULL;
	struct spool_file *f = NULL;
	char length[24], err[512], id[37];
	const char *params[5];
	json_t *details = NULL;

	snprintf(length, sizeof(length), "%llu",
	    (unsigned long long)tc->length);
	params[0] = call->who.id;
	params[1] = length;
	params[2] = tc->filename;
	params[3] = tc->format;
	params[4] = tc->idempotency_key;
	if (db_begin(db) == -1 ||
	    db_query(db, &r, "INSERT INTO uploads (principal_id, length, "
	    "filename, format, idempotency_key) VALUES ($1, $2::bigint, $3, "
	    "$4, $5) RETURNING id", 5, params) == -1) {
		db_rollback(db);
		api_db_error(call, db);
		goto out;
	}
	snprintf(id, sizeof(id), "%s", db_value(r, 0, 0));
	if (spool_open_upload(&f, call->app->cfg->storage_spool, id, 0, err,
	    sizeof(err)) == -1) {
		db_rollback(db);
		log_warn("upload %s: %s", id, err);
		api_error(call, strstr(err, "storage is full") ? 507 : 500,
		    "SPOOL_FAILED", "the upload could not be started");
		goto out;
	}
	details = json_pack("{s:I}", "length", (json_int_t)tc->length);
	if (api_audit(call, db, "upload.create", "upload", id, details) ==
	    -1 || db_commit(db) == -1) {
		db_rollback(db);
		spool_remove_upload(call->app->cfg->storage_spool, id);
		api_db_error(call, db);
		goto out;
	}
	if (asprintf(&call->location, "/v1/uploads/%s", id) == -1)
		call->location = NULL;
	api_reply(call, 201, json_pack("{s:s,s:I,s:i}", "id", id, "length",
	    (json_int_t)tc->length, "offset", 0));
out:
	json_decref(details);
	spool_discard(f);		/* an upload file stays */
	db_result_free(r);
}

static void
tus_create_done(struct http_request *req, void *arg)
{
	struct tus_create *tc = arg;

	if (req)
		api_respond(req, tc->call);
	tus_create_free(tc);
}

static void
route_uploads_create(struct api_call *call, struct http_request *req)
{
	struct tus_create *tc;

	api_header(call, "Tus-Resumable", "1.0.0");
	if (!tus_version_ok(call, req))
		goto refuse;
	if ((tc = calloc(1, sizeof(*tc))) == NULL ||
	    (tc->call = tus_call_copy(call)) == NULL) {
		free(tc);
		api_error(call, 500, "INTERNAL", "out of memory");
		goto refuse;
	}
	if (tus_parse_u64(http_request_header(req, "Upload-Length"),
	    &tc->length) == -1 || tc->length == 0) {
		api_error(call, 400, "BAD_UPLOAD_LENGTH", "Upload-Length must "
		    "be the package's size in bytes (deferred length is not "
		    "supported)");
		goto refuse_tc;
	}
	if (tc->length > (uint64_t)call->app->cfg->ingest_max_package_bytes) {
		api_error(call, 413, "PACKAGE_TOO_LARGE", "Upload-Length is "
		    "over ingest.max_package_bytes (%lld)",
		    call->app->cfg->ingest_max_package_bytes);
		goto refuse_tc;
	}
	if (tus_metadata(tc, http_request_header(req, "Upload-Metadata")) ==
	    -1) {
		api_error(call, 400, "BAD_UPLOAD_METADATA", "Upload-Metadata: "
		    "pairs of a key and a base64 value, comma-separated; "
		    "idempotency_key 1 to 200 characters");
		goto refuse_tc;
	}
	if (http_run(req, call->app->requests, tus_create_work,
	    tus_create_done, tc) == -1) {
		api_error(call, 503, "BUSY", "the server is busy");
		goto refuse_tc;
	}
	return;
refuse_tc:
	tus_create_free(tc);
refuse:
	api_respond(req, call);
}

/* ---- offset and termination ---------------------------------------------- */

static void
route_uploads_head(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	const char *params[2] = { call->params[0], call->who.id };

	api_header(call, "Tus-Resumable", "1.0.0");
	api_header(call, "Cache-Control", "no-store");
	if (!api_is_uuid(call->params[0])) {
		api_error(call, 404, "NOT_FOUND", "no such upload");
		return;
	}
	if (db_query(db, &r, "SELECT length, \"offset\", transfer_id FROM "
	    "uploads WHERE id = $1 AND principal_id = $2", 2, params) == -1) {
		api_db_error(call, db);
		return;
	}
	if (db_rows(r) == 0)
		api_error(call, 404, "NOT_FOUND", "no such upload");
	else {
		api_header(call, "Upload-Length", db_value(r, 0, 0));
		api_header(call, "Upload-Offset", db_value(r, 0, 1));
		api_reply(call, 200, json_pack("{s:s,s:I,s:I,s:s?}", "id",
		    call->params[0], "length",
		    (json_int_t)strtoll(db_value(r, 0, 0), NULL, 10),
		    "offset", (json_int_t)strtoll(db_value(r, 0, 1), NULL, 10),
		    "transfer_id", db_isnull(r, 0, 2) ? NULL :
		    db_value(r, 0, 2)));
	}
	db_result_free(r);
}

static void
route_uploads_delete(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	const char *params[2] = { call->params[0], call->who.id };

	api_header(call, "Tus-Resumable", "1.0.0");
	if (!api_is_uuid(call->params[0])) {
		api_error(call, 404, "NOT_FOUND", "no such upload");
		return;
	}
	if (db_begin(db) == -1 ||
	    db_query(db, &r, "DELETE FROM uploads WHERE id = $1 AND "
	    "principal_id = $2 AND transfer_id IS NULL RETURNING id", 2,
	    params) == -1) {
		db_rollback(db);
		api_db_error(call, db);
		goto out;
	}
	if (db_rows(r) == 0) {
		db_rollback(db);
		api_error(call, 404, "NOT_FOUND", "no such upload (or it is "
		    "already a transfer)");
		goto out;
	}
	if (api_audit(call, db, "upload.terminate", "upload", call->params[0],
	    NULL) == -1 || db_commit(db) == -1) {
		db_rollback(db);
		api_db_error(call, db);
		goto out;
	}
	spool_remove_upload(call->app->cfg->storage_spool, call->params[0]);
	call->status = 204;
out:
	db_result_free(r);
}

/* ---- PATCH: bytes at the offset ----------------------------------------- */

struct tus_patch {
	struct app		*app;
	struct http_request	*req;		/* held */
	struct api_call		*call;
	char			 id[37];
	uint64_t		 client_offset;
	uint64_t		 offset;	/* durable, from the row */
	uint64_t		 length;
	char			*idempotency_key;
	char			*format;
	bool			 is_done_upload; /* already a transfer */
	struct body_spool	*body;		/* the body, to the file */
	struct spool_file	*spool;		/* taken from body at the end */
	bool			 is_aborted;
	bool			 body_over;	/* complete or abort came */
	bool			 end_started;
	bool			 end_done;
};

static void	tus_end_start(struct tus_patch *p);

static void
tus_patch_free(struct tus_patch *p)
{
	tus_release(p->id);
	body_spool_free(p->body);	/* its file was taken at the end */
	api_call_free(p->call);
	free(p->idempotency_key);
	free(p->format);
	if (p->req)
		http_request_release(p->req);
	free(p);
}

static void
tus_lookup_work(struct db *db, void *arg)
{
	struct tus_patch *p = arg;
	struct db_result *r = NULL;
	const char *params[2] = { p->id, p->call->who.id };

	if (db_query(db, &r, "SELECT length, \"offset\", transfer_id, "
	    "idempotency_key, format FROM uploads WHERE id = $1 AND "
	    "principal_id = $2", 2, params) == -1) {
		api_db_error(p->call, db);
		return;
	}
	if (db_rows(r) == 0) {
		api_error(p->call, 404, "NOT_FOUND", "no such upload");
		goto out;
	}
	p->length = strtoull(db_value(r, 0, 0), NULL, 10);
	p->offset = strtoull(db_value(r, 0, 1), NULL, 10);
	p->is_done_upload = !db_isnull(r, 0, 2);
	if (!db_isnull(r, 0, 3))
		p->idempotency_key = strdup(db_value(r, 0, 3));
	if (!db_isnull(r, 0, 4))
		p->format = strdup(db_value(r, 0, 4));
out:
	db_result_free(r);
}

static int
tus_open(struct spool_file **out, void *owner, char *err, size_t errlen)
{
	struct tus_patch *p = owner;

	return spool_open_upload(out, p->app->cfg->storage_spool, p->id,
	    p->offset, err, errlen);
}

/* After each write: a failure or a cut-off ends the PATCH (keeping what is
 * durable, to be resumed); so does the last write of a whole body. */
static void
tus_settled(void *owner)
{
	struct tus_patch *p = owner;

	if (p->is_aborted || body_spool_error(p->body) || p->body_over)
		tus_end_start(p);
}

static const struct body_spool_ops tus_ops = { tus_open, tus_settled };

static int
tus_body(struct http_request *req, const char *data, size_t len, void *ctx)
{
	struct tus_patch *p = ctx;

	(void)req;
	return body_spool_piece(p->body, data, len);
}

/* The PATCH is over (complete, cut off, or failed): make the bytes
 * durable, record the offset, and when the upload is whole, the transfer. */
static void
tus_end_work(struct db *db, void *arg)
{
	struct tus_patch *p = arg;
	struct api_call *call = p->call;
	struct db_result *r = NULL;
	char offset[24], old[24], sha[65], err[512], tid[37];
	const char *params[3];
	uint64_t size = p->offset, hashed;
	const char *write_err = body_spool_error(p->body);

	if (p->spool && spool_sync(p->spool, &size, err, sizeof(err)) == -1) {
		log_warn("upload %s: %s", p->id, err);
		size = p->offset;	/* nothing new is known durable */
	}
	snprintf(offset, sizeof(offset), "%llu", (unsigned long long)size);
	snprintf(old, sizeof(old), "%llu", (unsigned long long)p->offset);
	params[0] = p->id;
	params[1] = offset;
	params[2] = old;
	if (db_query(db, &r, "UPDATE uploads SET \"offset\" = $2::bigint, "
	    "updated_at = now() WHERE id = $1 AND \"offset\" = $3::bigint "
	    "RETURNING id", 3, params) == -1 || db_rows(r) != 1) {
		api_db_error(call, db);
		goto out;
	}
	api_header(call, "Upload-Offset", offset);
	if (write_err) {
		log_warn("upload %s: %s", p->id, write_err);
		api_error(call, strstr(write_err, "storage is full") ? 507 :
		    strstr(write_err, "busy") ? 503 : 500, "SPOOL_FAILED",
		    "the bytes could not be stored; resume from Upload-Offset");
		goto out;
	}
	call->status = 204;
	if (size < p->length)
		goto out;
	/* Whole: the package becomes a transfer. */
	if (spool_hash(p->spool, sha, &hashed, err, sizeof(err)) == -1 ||
	    hashed != p->length) {
		log_warn("upload %s: %s", p->id, err);
		api_error(call, 500, "SPOOL_FAILED", "the upload could not be "
		    "read back");
		goto out;
	}
	transfer_record(call, db, p->spool, sha, hashed, p->idempotency_key,
	    NULL, p->id, NULL, tid);
	p->spool = NULL;
	if (tid[0] == '\0')
		goto out;		/* 409 or a failure: its own reply */
	db_result_free(r);
	r = NULL;
	params[1] = tid;
	if (db_query(db, NULL, "UPDATE uploads SET transfer_id = $2, "
	    "updated_at = now() WHERE id = $1", 2, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	if (call->status == 200 || call->status == 202) {
		char url[64];

		snprintf(url, sizeof(url), "/v1/transfers/%s", tid);
		api_header(call, "Sailo-Transfer", url);
		free(call->location);
		call->location = NULL;
		call->status = 204;
	}
out:
	spool_discard(p->spool);	/* the upload file stays */
	p->spool = NULL;
	db_result_free(r);
}

/*
 * Who frees a PATCH: the body's callbacks run once (complete or abort) and
 * the end job runs once; whichever of the two comes last frees.
 */
static void
tus_end_done(void *arg)
{
	struct tus_patch *p = arg;

	p->end_done = true;
	if (!p->is_aborted)
		api_respond(p->req, p->call);
	if (p->body_over)
		tus_patch_free(p);
	/* else: replied before the whole body; the abort comes and frees */
}

static void
tus_end_start(struct tus_patch *p)
{
	if (p->end_started)
		return;
	p->end_started = true;
	p->spool = body_spool_take_file(p->body);
	if (workers_submit(p->app->jobs, tus_end_work, tus_end_done, p) ==
	    -1) {
		/* Stopping: the offset stays where it was durable. */
		spool_discard(p->spool);
		p->spool = NULL;
		api_error(p->call, 503, "BUSY", "the server is busy");
		tus_end_done(p);
	}
}

static void
tus_complete(struct http_request *req, void *ctx)
{
	struct tus_patch *p = ctx;

	(void)req;
	p->body_over = true;
	if (!body_spool_busy(p->body))
		tus_end_start(p);
	/* else the last write's settled() ends it */
}

static void
tus_abort(void *ctx)
{
	struct tus_patch *p = ctx;

	p->body_over = true;
	p->is_aborted = true;
	if (p->end_done)
		tus_patch_free(p);
	else if (!body_spool_busy(p->body))
		tus_end_start(p);	/* records the offset, no reply */
}

static void
tus_lookup_done(struct http_request *req, void *arg)
{
	struct tus_patch *p = arg;
	int64_t clen;
	char offset[24];

	if (req == NULL) {
		tus_patch_free(p);
		return;
	}
	if (p->call->status == 0 && p->is_done_upload) {
		snprintf(offset, sizeof(offset), "%llu",
		    (unsigned long long)p->offset);
		api_header(p->call, "Upload-Offset", offset);
		api_error(p->call, 409, "UPLOAD_COMPLETE", "this upload is "
		    "complete; see GET /v1/transfers?upload_id=%s", p->id);
	} else if (p->call->status == 0 && p->client_offset != p->offset) {
		snprintf(offset, sizeof(offset), "%llu",
		    (unsigned long long)p->offset);
		api_header(p->call, "Upload-Offset", offset);
		api_error(p->call, 409, "OFFSET_MISMATCH", "Upload-Offset is "
		    "%llu but the upload has %llu bytes",
		    (unsigned long long)p->client_offset,
		    (unsigned long long)p->offset);
	} else if (p->call->status == 0 &&
	    (clen = http_request_content_length(req)) >= 0 &&
	    (uint64_t)clen > p->length - p->offset) {
		api_error(p->call, 413, "PAST_UPLOAD_LENGTH", "the body runs "
		    "past Upload-Length");
	}
	if (p->call->status != 0) {
		api_respond(req, p->call);
		tus_patch_free(p);
		return;
	}
	/* Takes the body; from here the body's callbacks own p. */
	http_request_read_body(req, HTTP_BODY_STREAM, p->length - p->offset,
	    tus_body, tus_complete, tus_abort, p);
}

static void
route_uploads_patch(struct api_call *call, struct http_request *req)
{
	const char *ctype = http_request_header(req, "Content-Type");
	struct tus_patch *p;

	api_header(call, "Tus-Resumable", "1.0.0");
	if (!tus_version_ok(call, req))
		goto refuse;
	if (ctype == NULL ||
	    strcasecmp(ctype, "application/offset+octet-stream") != 0) {
		api_error(call, 415, "UNSUPPORTED_MEDIA_TYPE", "a PATCH carries "
		    "application/offset+octet-stream");
		goto refuse;
	}
	if (!api_is_uuid(call->params[0])) {
		api_error(call, 404, "NOT_FOUND", "no such upload");
		goto refuse;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->call = tus_call_copy(call)) == NULL ||
	    (p->body = body_spool_new(call->app->jobs, req, &tus_ops, p)) ==
	    NULL) {
		if (p)
			tus_patch_free(p);
		api_error(call, 500, "INTERNAL", "out of memory");
		goto refuse;
	}
	p->app = call->app;
	snprintf(p->id, sizeof(p->id), "%s", call->params[0]);
	if (tus_parse_u64(http_request_header(req, "Upload-Offset"),
	    &p->client_offset) == -1) {
		p->id[0] = '\0';
		tus_patch_free(p);
		api_error(call, 400, "BAD_UPLOAD_OFFSET",
		    "Upload-Offset must be a number of bytes");
		goto refuse;
	}
	if (!tus_claim(p->id)) {
		p->id[0] = '\0';	/* not ours to release */
		tus_patch_free(p);
		api_error(call, 409, "UPLOAD_BUSY", "another PATCH to this "
		    "upload is under way");
		goto refuse;
	}
	p->req = req;
	http_request_hold(req);
	if (http_run(req, call->app->requests, tus_lookup_work,
	    tus_lookup_done, p) == -1) {
		tus_patch_free(p);
		api_error(call, 503, "BUSY", "the server is busy");
		goto refuse;
	}
	return;
refuse:
	api_respond(req, call);
}

const struct api_route route_uploads_rows[] = {
	{ "OPTIONS", "/v1/uploads", "uploads.options", 0, API_BODY_NONE,
	    NULL, route_uploads_options, API_POOL_REQUESTS },
	{ "POST", "/v1/uploads", "uploads.create", ROLE_INTEGRATION,
	    API_BODY_NONE, NULL, route_uploads_create, API_POOL_REQUESTS },
	{ "GET", "/v1/uploads/{id}", "uploads.offset", ROLE_INTEGRATION,
	    API_BODY_NONE, route_uploads_head, NULL, API_POOL_REQUESTS },
	{ "PATCH", "/v1/uploads/{id}", "uploads.patch", ROLE_INTEGRATION,
	    API_BODY_NONE, NULL, route_uploads_patch, API_POOL_REQUESTS },
	{ "DELETE", "/v1/uploads/{id}", "uploads.terminate", ROLE_INTEGRATION,
	    API_BODY_NONE, route_uploads_delete, NULL, API_POOL_REQUESTS },
	{ NULL, NULL, NULL, 0, API_BODY_NONE, NULL, NULL, API_POOL_REQUESTS },
};
