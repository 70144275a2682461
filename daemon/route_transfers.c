/*
 * route_transfers.c — POST /v1/transfers (a package as the request body),
 * GET /v1/transfers and GET /v1/transfers/{id}.
 *
 * The body streams to the spool on job workers while the loop reads the
 * socket (body_spool.c: one write in flight, reading paused while bytes
 * wait), so memory stays flat whatever the size.  When the body is complete, one job
 * makes the file durable, checks the declared digest, applies idempotency
 * (per principal: a key, or the same bytes) and records the transfer and
 * its audit event in one transaction.  Processing the package (unpack,
 * validate, store) is the ingest pipeline's, not this file's.
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
#include "ingest_jobs.h"
#include "log.h"
#include "transfers.h"
#include "workers.h"



static const char *const transfer_types[] = {
	"application/zip", "application/x-tar", "application/gzip",
	"application/x-gzip", "application/zstd", "application/octet-stream",
};

struct upload {
	struct app		*app;
	struct http_request	*req;		/* held while we live */
	struct api_call		*call;		/* who, and the reply */
	char			*idempotency_key;
	char			 expect_sha256[65];	/* "" when not given */
	char			*content_type;
	struct body_spool	*body;		/* the body, to the spool */
	struct spool_file	*spool;		/* taken from body when over */
	bool			 is_complete;
	bool			 is_aborted;
	bool			 has_replied;
};

/* Replies with transfer id as it is now: status 200, 201 or 202. */
static void
transfer_reply(struct api_call *call, struct db *db, const char *id,
    int status)
{
	struct db_result *r = NULL;
	const char *params[1] = { id };

	if (db_query(db, &r, "SELECT " INGEST_TRANSFER_COLUMNS " FROM transfers t "
	    "JOIN principals p ON p.id = t.submitted_by WHERE t.id = $1", 1,
	    params) == -1 || db_rows(r) != 1) {
		api_db_error(call, db);
		goto out;
	}
	free(call->location);
	if (asprintf(&call->location, "/v1/transfers/%s", id) == -1)
		call->location = NULL;
	api_reply(call, status, ingest_transfer_json(r, 0));
out:
	db_result_free(r);
}

/* ---- the body, to the spool -------------------------------------------- */

static void	upload_finish_start(struct upload *u);

static void
upload_free(struct upload *u)
{
	body_spool_free(u->body);
	api_call_free(u->call);
	free(u->idempotency_key);
	free(u->content_type);
	if (u->req)
		http_request_release(u->req);
	free(u);
}

static void
upload_free_cb(void *arg)
{
	upload_free(arg);
}

static void
upload_discard_work(struct db *db, void *arg)
{
	struct upload *u = arg;

	(void)db;
	spool_discard(u->spool);
	u->spool = NULL;
}

/* Ends an upload that will not become a transfer: its part file goes (on a
 * worker: unlink is disk work), then its memory. */
static void
upload_drop(struct upload *u)
{
	if (u->body)
		u->spool = body_spool_take_file(u->body);
	if (u->spool == NULL ||
	    workers_submit(u->app->jobs, upload_discard_work, upload_free_cb,
	    u) == -1) {
		spool_discard(u->spool);	/* pool stopped: do it here */
		u->spool = NULL;
		upload_free(u);
	}
}

static int
upload_open(struct spool_file **out, void *owner, char *err, size_t errlen)
{
	struct upload *u = owner;

	if (spool_open(out, u->app->cfg->storage_spool, err, errlen) == -1)
		return -1;
	spool_unpack_early(*out, u->app->cfg);
	return 0;
}

/* After each write: the next step is decided by what the body did. */
static void
upload_settled(void *owner)
{
	struct upload *u = owner;
	const char *err = body_spool_error(u->body);

	if (u->is_aborted) {
		upload_drop(u);
		return;
	}
	if (err && !u->has_replied) {
		/* The body may not be read to its end: the reply closes the
		 * connection, and the layer's abort frees the upload. */
		u->has_replied = true;
		if (strstr(err, "busy")) {
			api_error(u->call, 503, "BUSY", "the server is busy; "
			    "send the package again later");
			free(u->call->retry_after);
			u->call->retry_after = strdup("30");
		} else {
			if (!strstr(err, "storage is full"))
				log_warn("spool: %s", err);
			api_error(u->call, strstr(err, "storage is full") ?
			    507 : 500, "SPOOL_FAILED", "the package could not "
			    "be stored: %s", strstr(err, "storage is full") ?
			    "storage is full" : "a disk error (see the server "
			    "log)");
		}
		api_respond(u->req, u->call);
		if (u->is_complete)	/* no abort will come to free it */
			upload_drop(u);
		return;
	}
	if (!err && u->is_complete)
		upload_finish_start(u);
}

static const struct body_spool_ops upload_ops = {
	upload_open, upload_settled,
};

static int
upload_body(struct http_request *req, const char *data, size_t len, void *ctx)
{
	struct upload *u = ctx;

	(void)req;
	return body_spool_piece(u->body, data, len);
}

static void
upload_abort(void *ctx)
{
	struct upload *u = ctx;

	u->is_aborted = true;
	if (!body_spool_busy(u->body))
		upload_drop(u);
	/* else the write's settled() drops it */
}

/* ---- the package received: a transfer ---------------------------------- */

/* The transfer this principal already has under key, or with these bytes;
 * answers 200 (the same package) or 409 (the key names another).  Returns
 * 1 when it answered (id_out: the transfer), 0 when there is none, -1 on
 * a database error. */
static int
transfer_existing(struct api_call *call, struct db *db, const char *key,
    const char *sha, char id_out[37])
{
	struct db_result *r = NULL;
	const char *params[2] = { call->who.id, NULL };
	int rc = -1;

	if (key) {
		params[1] = key;
		if (db_query(db, &r, "SELECT id, encode(package_sha256, 'hex') "
		    "FROM transfers WHERE submitted_by = $1 AND "
		    "idempotency_key = $2", 2, params) == -1)
			goto out;
		if (db_rows(r) == 1) {
			snprintf(id_out, 37, "%s", db_value(r, 0, 0));
			if (strcmp(db_value(r, 0, 1), sha) == 0)
				transfer_reply(call, db, id_out, 200);
			else
				api_error(call, 409, "IDEMPOTENCY_CONFLICT",
				    "Idempotency-Key %s already names transfer "
				    "%s, whose package has sha256 %s; this one "
				    "has %s", key, id_out, db_value(r, 0, 1),
				    sha);
			rc = 1;
			goto out;
		}
		db_result_free(r);
		r = NULL;
	}
	params[1] = sha;
	if (db_query(db, &r, "SELECT id FROM transfers WHERE submitted_by = $1 "
	    "AND package_sha256 = decode($2, 'hex') AND status <> 'failed' "
	    "ORDER BY submitted_at LIMIT 1", 2, params) == -1)
		goto out;
	rc = 0;
	if (db_rows(r) == 1) {
		snprintf(id_out, 37, "%s", db_value(r, 0, 0));
		transfer_reply(call, db, id_out, 200);
		rc = 1;
	}
out:
	db_result_free(r);
	return rc;
}

/* True (and the reply set) when too many transfers wait already. */
static bool
transfer_backlog_full(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	char limit[16];
	const char *params[1] = { limit };
	bool full;

	snprintf(limit, sizeof(limit), "%d",
	    call->app->cfg->ingest_max_waiting);
	if (db_query(db, &r, "SELECT count(*) >= $1::int FROM (SELECT 1 FROM "
	    "transfers WHERE status IN ('received', 'validating') LIMIT "
	    "$1::int) w", 1, params) == -1) {
		api_db_error(call, db);
		return true;
	}
	full = strcmp(db_value(r, 0, 0), "t") == 0;
	db_result_free(r);
	if (full) {
		api_error(call, 503, "BUSY", "%d transfers are waiting to be "
		    "processed (ingest.max_waiting); send this package later",
		    call->app->cfg->ingest_max_waiting);
		free(call->retry_after);
		call->retry_after = strdup("60");
	}
	return full;
}

void
transfer_record(struct api_call *call, struct db *db,
    struct spool_file *spool, const char *sha, uint64_t size,
    const char *idempotency_key, const char *content_type,
    const char *upload_id, const char *inbox_name, char id_out[37])
{
	struct db_result *r = NULL;
	char size_text[24], id[37], err[512];
	const char *params[7];
	json_t *details = NULL;
	struct audit_event ev = {
		.actor = call->who.name, .role = role_name(call->who.role),
		.action = "transfer.submit", .object_type = "transfer",
		.outcome = AUDIT_SUCCESS,
	};
	int found, attempt;

	id_out[0] = '\0';
	/* Never an unbounded backlog: past ingest.max_waiting transfers
	 * waiting to be processed, a new package is refused for now (a
	 * finished tus upload is not: its bytes are already the archive's
	 * to keep, and its client cannot send them differently). */
	if (upload_id == NULL && transfer_backlog_full(call, db))
		goto drop;
	/* Two uploads with one key may race: the loser looks again. */
	for (attempt = 0; attempt < 2; attempt++) {
		if ((found = transfer_existing(call, db, idempotency_key,
		    sha, id_out)) != 0) {
			if (found == -1)
				api_db_error(call, db);
			goto drop;
		}
		snprintf(size_text, sizeof(size_text), "%llu",
		    (unsigned long long)size);
		params[0] = sha;
		params[1] = size_text;
		params[2] = content_type;
		params[3] = call->who.id;
		params[4] = idempotency_key;
		params[5] = upload_id;
		params[6] = inbox_name;
		if (db_begin(db) == -1 ||
		    db_query(db, &r, "INSERT INTO transfers (package_sha256, "
		    "size, content_type, submitted_by, idempotency_key, "
		    "upload_id, inbox_name) VALUES (decode($1, 'hex'), "
		    "$2::bigint, $3, $4, $5, $6::uuid, $7) RETURNING id", 7,
		    params) == -1) {
			db_rollback(db);
			if (strcmp(db_sqlstate(db), "23505") == 0)
				continue;	/* the key was taken meanwhile */
			api_db_error(call, db);
			goto drop;
		}
		break;
	}
	if (r == NULL) {
		api_db_error(call, db);
		goto drop;
	}
	snprintf(id, sizeof(id), "%s", db_value(r, 0, 0));
	db_result_free(r);
	r = NULL;
	if (spool_commit(spool, id, err, sizeof(err)) == -1) {
		db_rollback(db);
		api_error(call, strstr(err, "storage is full") ? 507 : 500,
		    "SPOOL_FAILED", "the package could not be stored");
		goto drop;
	}
	details = json_pack("{s:s,s:I,s:b,s:s?}", "package_sha256", sha,
	    "size", (json_int_t)size, "idempotency_key",
	    idempotency_key != NULL, "upload_id", upload_id);
	ev.object_id = id;
	ev.details = details;
	if (audit_record(db, &ev) == -1 || db_commit(db) == -1) {
		db_rollback(db);
		spool_remove(call->app->cfg->storage_spool, id);
		api_db_error(call, db);
		goto drop;
	}
	snprintf(id_out, 37, "%s", id);
	transfer_reply(call, db, id, 202);
	ingest_jobs_kick(call->app->ingest);
	goto out;
drop:
	spool_discard(spool);
	spool = NULL;
out:
	json_decref(details);
	spool_discard(spool);	/* committed: frees, keeps the file */
}

static void
upload_finish_work(struct db *db, void *arg)
{
	struct upload *u = arg;
	char sha[65], err[512], id[37];
	uint64_t size = 0;

	if (u->spool == NULL) {
		api_error(u->call, 400, "EMPTY_PACKAGE",
		    "the request body must be the package; it was empty");
		return;
	}
	if (spool_finish(u->spool, sha, &size, err, sizeof(err)) == -1) {
		api_error(u->call, strstr(err, "storage is full") ? 507 : 500,
		    "SPOOL_FAILED", "the package could not be made durable");
		goto drop;
	}
	if (size == 0) {
		api_error(u->call, 400, "EMPTY_PACKAGE",
		    "the request body must be the package; it was empty");
		goto drop;
	}
	if (u->expect_sha256[0] && strcmp(u->expect_sha256, sha) != 0) {
		api_error(u->call, 400, "CHECKSUM_MISMATCH", "the request "
		    "declared sha256 %s but the package has %s; nothing was "
		    "kept", u->expect_sha256, sha);
		goto drop;
	}
	transfer_record(u->call, db, u->spool, sha, size, u->idempotency_key,
	    u->content_type, NULL, NULL, id);
	u->spool = NULL;
	return;
drop:
	spool_discard(u->spool);
	u->spool = NULL;
}

static void
upload_finish_done(void *arg)
{
	struct upload *u = arg;

	api_finish(u->req, u->call);
	u->call = NULL;
	upload_free(u);
}

static void
upload_finish_start(struct upload *u)
{
	u->spool = body_spool_take_file(u->body);
	if (workers_submit(u->app->jobs, upload_finish_work,
	    upload_finish_done, u) == -1) {
		api_error(u->call, 503, "BUSY", "the server is busy; send the "
		    "package again later");
		api_respond(u->req, u->call);
		upload_drop(u);
	}
}

static void
upload_complete(struct http_request *req, void *ctx)
{
	struct upload *u = ctx;

	(void)req;
	u->is_complete = true;
	if (body_spool_busy(u->body))
		return;		/* the write's settled() goes on */
	if (body_spool_error(u->body))
		upload_drop(u);	/* it has replied already */
	else
		upload_finish_start(u);
}

/* X-Content-SHA256 (hex) or Content-Digest: sha-256=:base64: (RFC 9530). */
static int
upload_declared_digest(struct http_request *req, char out[65])
{
	const char *h = http_request_header(req, "X-Content-SHA256");
	const char *cd = http_request_header(req, "Content-Digest");
	unsigned char raw[48];
	const char *p, *end;
	int i, n;

	out[0] = '\0';
	if (h) {
		if (strlen(h) != 64)
			return -1;
		for (i = 0; i < 64; i++) {
			if (!isxdigit((unsigned char)h[i]))
				return -1;
			out[i] = (char)tolower((unsigned char)h[i]);
		}
		out[64] = '\0';
		return 0;
	}
	if (cd == NULL)
		return 0;
	if ((p = strcasestr(cd, "sha-256=:")) == NULL)
		return 0;		/* other algorithms: not checked */
	p += 9;
	if ((end = strchr(p, ':')) == NULL || end - p != 44)
		return -1;
	n = EVP_DecodeBlock(raw, (const unsigned char *)p, 44);
	if (n != 33)			/* 32 bytes and one of padding */
		return -1;
	digest_hex(raw, 32, out);
	return 0;
}

static void
route_transfers_submit(struct api_call *call, struct http_request *req)
{
	const char *ctype = http_request_header(req, "Content-Type");
	const char *key = http_request_header(req, "Idempotency-Key");
	struct upload *u;
	size_t i, klen;
	char digest[65];

	if (ctype) {
		for (i = 0; i < sizeof(transfer_types) /
		    sizeof(transfer_types[0]); i++)
			if (strncasecmp(ctype, transfer_types[i],
			    strlen(transfer_types[i])) == 0)
				break;
		if (i == sizeof(transfer_types) / sizeof(transfer_types[0])) {
			api_error(call, 415, "UNSUPPORTED_MEDIA_TYPE",
			    "a package is application/zip, application/x-tar, "
			    "application/gzip or application/zstd");
			goto refuse;
		}
	}
	if (key && ((klen = strlen(key)) == 0 || klen > 200)) {
		api_error(call, 400, "BAD_IDEMPOTENCY_KEY",
		    "Idempotency-Key must be 1 to 200 characters");
		goto refuse;
	}
	if (upload_declared_digest(req, digest) == -1) {
		api_error(call, 400, "BAD_DIGEST", "X-Content-SHA256 must be 64 "
		    "hex digits; Content-Digest sha-256 must be :base64:");
		goto refuse;
	}
	if (!http_request_has_body(req)) {
		api_error(call, 400, "EMPTY_PACKAGE",
		    "the request body must be the package");
		goto refuse;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    (u->call = api_call_copy(call)) == NULL ||
	    (u->body = body_spool_new(call->app->jobs, req, &upload_ops,
	    u)) == NULL) {
		if (u)
			upload_free(u);
		api_error(call, 500, "INTERNAL", "out of memory");
		goto refuse;
	}
	u->app = call->app;
	u->idempotency_key = key ? strdup(key) : NULL;
	u->content_type = ctype ? strdup(ctype) : NULL;
	memcpy(u->expect_sha256, digest, sizeof(digest));
	u->req = req;
	http_request_hold(req);
	http_request_read_body(req, HTTP_BODY_STREAM,
	    (uint64_t)call->app->cfg->ingest_max_package_bytes, upload_body,
	    upload_complete, upload_abort, u);
	return;
refuse:
	api_respond(req, call);		/* api.c frees call after on_loop */
}

/* ---- reading transfers ---------------------------------------------------- */

static void
route_transfers_get(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	const char *params[2] = { call->params[0], NULL };

	if (!api_is_uuid(call->params[0])) {
		api_error(call, 404, "NOT_FOUND", "no transfer %s",
		    call->params[0]);
		return;
	}
	/* An integration sees its own transfers; other roles see all. */
	if (call->who.role == ROLE_INTEGRATION)
		params[1] = call->who.id;
	if (db_query(db, &r, "SELECT " INGEST_TRANSFER_COLUMNS " FROM transfers t "
	    "JOIN principals p ON p.id = t.submitted_by WHERE t.id = $1 AND "
	    "($2::uuid IS NULL OR t.submitted_by = $2)", 2, params) == -1) {
		api_db_error(call, db);
		return;
	}
	if (db_rows(r) == 1)
		api_reply(call, 200, ingest_transfer_json(r, 0));
	else
		api_error(call, 404, "NOT_FOUND", "no transfer %s",
		    call->params[0]);
	db_result_free(r);
}

static void
route_transfers_list(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	char *after = NULL, *status = NULL, *upload = NULL;
	char limit_text[16];
	const char *params[6] = { NULL };
	int limit;

	if (api_page_keyset(call, &limit, &after, &params[1]) == -1)
		return;
	params[0] = after;
	if (api_query_param(&status, call->query, "status") == -1 ||
	    api_query_param(&upload, call->query, "upload_id") == -1 ||
	    (upload && !api_is_uuid(upload))) {
		api_error(call, 400, "BAD_PARAMETER", "status or upload_id is "
		    "not valid");
		goto out;
	}
	params[2] = status;
	params[3] = call->who.role == ROLE_INTEGRATION ? call->who.id : NULL;
	snprintf(limit_text, sizeof(limit_text), "%d", limit + 1);
	params[4] = limit_text;
	params[5] = upload;
	if (db_query(db, &r, "SELECT " INGEST_TRANSFER_COLUMNS " FROM transfers t "
	    "JOIN principals p ON p.id = t.submitted_by "
	    "WHERE ($1::timestamptz IS NULL OR "
	    "(t.submitted_at, t.id) < ($1::timestamptz, $2::uuid)) "
	    "AND ($3::text IS NULL OR t.status = $3) "
	    "AND ($4::uuid IS NULL OR t.submitted_by = $4) "
	    "AND ($6::uuid IS NULL OR t.upload_id = $6) "
	    "ORDER BY t.submitted_at DESC, t.id DESC LIMIT $5::int", 6,
	    params) == -1) {
		api_keyset_query_error(call, db);
		goto out;
	}
	api_reply_keyset_page(call, r, limit, ingest_transfer_json, 7, 0);
out:
	free(status);
	free(upload);
	free(after);
	db_result_free(r);
}

/* ---- the report -------------------------------------------------------- */

static void
html_text(FILE *fp, const char *s)
{
	for (; s && *s; s++)
		switch (*s) {
		case '<': fputs("&lt;", fp); break;
		case '>': fputs("&gt;", fp); break;
		case '&': fputs("&amp;", fp); break;
		case '"': fputs("&quot;", fp); break;
		default: fputc(*s, fp);
		}
}

/* The report as a page a person can open and print. */
static char *
report_html(const json_t *report)
{
	const json_t *t = json_object_get(report, "transfer"), *fi;
	const char *status = json_string_value(json_object_get(t, "status"));
	char *page = NULL;
	size_t len = 0, i;
	FILE *fp;

	if ((fp = open_memstream(&page, &len)) == NULL)
		return NULL;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<title>Transfer ", fp);
	html_text(fp, json_string_value(json_object_get(t, "id")));
	fputs("</title><style>body{font-family:sans-serif;margin:2em}"
	    "table{border-collapse:collapse}td,th{border:1px solid #999;"
	    "padding:4px 8px;text-align:left;vertical-align:top}"
	    ".error{background:#fdd}.warning{background:#ffd}</style></head>"
	    "<body>\n<h1>Transfer ", fp);
	html_text(fp, json_string_value(json_object_get(t, "id")));
	fputs("</h1>\n<table>", fp);
	fputs("<tr><th>Status</th><td>", fp);
	html_text(fp, status);
	fputs("</td></tr><tr><th>Format</th><td>", fp);
	html_text(fp, json_string_value(json_object_get(t, "format")));
	fputs("</td></tr><tr><th>Submitted by</th><td>", fp);
	html_text(fp, json_string_value(json_object_get(t, "submitted_by")));
	fputs("</td></tr><tr><th>Submitted at</th><td>", fp);
	html_text(fp, json_string_value(json_object_get(t, "submitted_at")));
	fputs("</td></tr><tr><th>Finished at</th><td>", fp);
	html_text(fp, json_string_value(json_object_get(t, "finished_at")));
	if (json_object_get(t, "failure")) {
		fputs("</td></tr><tr><th>Failure</th><td>", fp);
		html_text(fp, json_string_value(json_object_get(t,
		    "failure")));
	}
	fputs("</td></tr><tr><th>Package SHA-256</th><td><code>", fp);
	html_text(fp, json_string_value(json_object_get(t, "package_sha256")));
	fprintf(fp, "</code></td></tr><tr><th>Errors</th><td>%lld</td></tr>"
	    "<tr><th>Warnings</th><td>%lld</td></tr><tr><th>AIPs</th><td>",
	    json_integer_value(json_object_get(report, "errors")),
	    json_integer_value(json_object_get(report, "warnings")));
	for (i = 0; i < json_array_size(json_object_get(t, "aips")); i++) {
		html_text(fp, json_string_value(json_array_get(
		    json_object_get(t, "aips"), i)));
		fputs("<br>", fp);
	}
	fputs("</td></tr></table>\n<h2>Findings</h2>\n", fp);
	if (json_array_size(json_object_get(report, "findings")) == 0)
		fputs("<p>None.</p>\n", fp);
	else
		fputs("<table><tr><th>Severity</th><th>Code</th><th>File</th>"
		    "<th>Line</th><th>Message</th></tr>\n", fp);
	json_array_foreach(json_object_get(report, "findings"), i, fi) {
		const char *sev = json_string_value(json_object_get(fi,
		    "severity"));

		fputs("<tr class=\"", fp);
		html_text(fp, sev);
		fputs("\"><td>", fp);
		html_text(fp, sev);
		fputs("</td><td><code>", fp);
		html_text(fp, json_string_value(json_object_get(fi, "code")));
		fputs("</code></td><td>", fp);
		html_text(fp, json_string_value(json_object_get(fi, "path")));
		fputs("</td><td>", fp);
		if (json_object_get(fi, "line"))
			fprintf(fp, "%lld", json_integer_value(
			    json_object_get(fi, "line")));
		fputs("</td><td>", fp);
		html_text(fp, json_string_value(json_object_get(fi,
		    "message")));
		fputs("</td></tr>\n", fp);
	}
	if (json_array_size(json_object_get(report, "findings")) > 0)
		fputs("</table>\n", fp);
	fputs("</body></html>\n", fp);
	if (fclose(fp) == EOF) {
		free(page);
		return NULL;
	}
	return page;
}

static void
route_transfers_report(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	const char *params[2] = { call->params[0], NULL };
	char *format = NULL;
	json_t *report;

	if (!api_is_uuid(call->params[0])) {
		api_error(call, 404, "NOT_FOUND", "no transfer %s",
		    call->params[0]);
		return;
	}
	if (api_query_param(&format, call->query, "format") == -1 ||
	    (format && strcmp(format, "html") != 0 &&
	    strcmp(format, "json") != 0)) {
		api_error(call, 400, "BAD_PARAMETER", "format is json or html");
		goto out;
	}
	/* An integration sees the reports of its own transfers. */
	if (call->who.role == ROLE_INTEGRATION)
		params[1] = call->who.id;
	if (db_query(db, &r, "SELECT 1 FROM transfers WHERE id = $1 AND "
	    "($2::uuid IS NULL OR submitted_by = $2)", 2, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	if (db_rows(r) != 1) {
		api_error(call, 404, "NOT_FOUND", "no transfer %s",
		    call->params[0]);
		goto out;
	}
	if ((report = ingest_report_json(db, call->params[0])) == NULL) {
		api_db_error(call, db);
		goto out;
	}
	if (format && strcmp(format, "html") == 0) {
		api_reply_text(call, 200, "text/html; charset=utf-8",
		    report_html(report));
		json_decref(report);
	} else
		api_reply(call, 200, report);
out:
	free(format);
	db_result_free(r);
}

const struct api_route route_transfers_rows[] = {
	{ "POST", "/v1/transfers", "transfers.submit", ROLE_INTEGRATION,
	    API_BODY_NONE, NULL, route_transfers_submit, API_POOL_REQUESTS },
	{ "GET", "/v1/transfers", "transfers.list", ROLE_ANY, API_BODY_NONE,
	    route_transfers_list, NULL, API_POOL_REQUESTS },
	{ "GET", "/v1/transfers/{id}", "transfers.get", ROLE_ANY,
	    API_BODY_NONE, route_transfers_get, NULL, API_POOL_REQUESTS },
	{ "GET", "/v1/transfers/{id}/report", "transfers.report", ROLE_ANY,
	    API_BODY_NONE, route_transfers_report, NULL, API_POOL_REQUESTS },
	{ NULL, NULL, NULL, 0, API_BODY_NONE, NULL, NULL, API_POOL_REQUESTS },
};
