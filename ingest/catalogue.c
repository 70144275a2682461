/*
 * catalogue.c — one transfer's catalogue transaction: the AIP versions
 * claimed first (their rows stay locked, so no other transfer places the
 * same version), each bag renamed into place, the renames made durable,
 * then the rows — case files, records, person HMACs, files — sent in
 * batches of CATALOGUE_BATCH_ROWS (as JSON to jsonb_to_recordset, in the
 * order their foreign keys need), the findings, the transfer's new state
 * and the audit events, and one COMMIT.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "process.h"
#include "retain.h"
#include "retention.h"
#include "search.h"

#define CATALOGUE_BATCH_ROWS	1000	/* rows per INSERT */

/*
 * Rows gathered for one INSERT … SELECT FROM jsonb_to_recordset, as the
 * text of a JSON array: each row is written out when it is added and its
 * objects freed at once.  (Holding a batch's rows as jansson objects until
 * the flush kept some 100,000 small allocations alive per round, and
 * malloc's own bookkeeping of them took a fifth of the catalogue phase.)
 */
struct catalogue_batch {
	struct db	*db;
	const char	*sql;		/* $1 = the rows */
	char		*text;		/* "[row,row,…" */
	size_t		 len, cap;
	size_t		 n;		/* rows in text */
	int		 failed;
	bool		 counted;	/* sql answers how many rows it took */
	bool		 moved;		/* … and it took fewer than sent */
};

static void
catalogue_batch_init(struct catalogue_batch *b, struct db *db,
    const char *sql)
{
	memset(b, 0, sizeof(*b));
	b->db = db;
	b->sql = sql;
}

/* Appends to the batch's text (json_dump_callback's writer). */
static int
catalogue_batch_put(const char *buf, size_t size, void *arg)
{
	struct catalogue_batch *b = arg;
	size_t cap;
	char *grown;

	if (b->len + size + 2 > b->cap) {	/* room for "]\0" */
		cap = b->cap ? b->cap : 65536;
		while (b->len + size + 2 > cap)
			cap *= 2;
		if ((grown = realloc(b->text, cap)) == NULL)
			return -1;
		b->text = grown;
		b->cap = cap;
	}
	memcpy(b->text + b->len, buf, size);
	b->len += size;
	return 0;
}

static int
catalogue_batch_flush(struct catalogue_batch *b)
{
	struct db_result *r = NULL;
	const char *params[1];

	if (b->failed)
		return -1;
	if (b->n == 0)
		return 0;
	b->text[b->len] = ']';
	b->text[b->len + 1] = '\0';
	params[0] = b->text;
	if (!b->counted) {
		/* Sent while the next rows are made; its failure shows at
		 * the next statement that waits (db_send). */
		if (db_send(b->db, b->sql, 1, params) == -1)
			b->failed = -1;
	} else if (db_query(b->db, &r, b->sql, 1, params) == -1) {
		/* The first failure is the one worth telling: every later
		 * statement only says the transaction is aborted. */
		log_warn("catalogue: %s", db_error(b->db));
		b->failed = -1;
	} else if (strtoul(db_value(r, 0, 0), NULL, 10) != b->n) {
		b->moved = true;
		b->failed = -1;
	}
	db_result_free(r);
	b->len = b->n = 0;
	return b->failed;
}

/* Rows wait in their batch; catalogue_flush() sends them in the order
 * the foreign keys need.  row is taken over. */
static void
catalogue_batch_add(struct catalogue_batch *b, json_t *row)
{
	if (row == NULL || b->failed || catalogue_batch_put(b->n ? "," : "[",
	    1, b) == -1 || json_dump_callback(row, catalogue_batch_put, b,
	    JSON_COMPACT) == -1) {
		json_decref(row);
		b->failed = -1;
		return;
	}
	json_decref(row);
	b->n++;
	/* The batches sent last go on to the server as it takes them. */
	if ((b->n & 63) == 0 && db_push(b->db) == -1)
		b->failed = -1;
}

static void
catalogue_batch_free(struct catalogue_batch *b)
{
	free(b->text);
}

/* New AIPs; a case file some other transfer stored meanwhile is not
 * taken (ON CONFLICT), and the count tells. */
#define AIP_NEW_SQL \
	"WITH n AS (INSERT INTO aips (id, source, native_id, title, " \
	"current_version) SELECT x.id, x.source, x.native_id, x.title, 1 " \
	"FROM jsonb_to_recordset($1) AS x(id uuid, source uuid, native_id " \
	"text, title text) ON CONFLICT (source, native_id) DO NOTHING " \
	"RETURNING 1) SELECT count(*) FROM n"

/* The next version of AIPs whose version has not moved since we looked. */
#define AIP_NEXT_SQL \
	"WITH n AS (UPDATE aips a SET current_version = x.version, title = " \
	"x.title, updated_at = now() FROM jsonb_to_recordset($1) AS x(id " \
	"uuid, version int, title text) WHERE a.id = x.id AND " \
	"a.current_version = x.version - 1 RETURNING 1) SELECT count(*) FROM n"

#define VERSION_SQL \
	"INSERT INTO aip_versions (aip_id, version, transfer_id, files, " \
	"bytes, tagmanifest_sha256) SELECT x.aip_id, x.version, " \
	"x.transfer_id, x.files, x.bytes, decode(x.tagmanifest, 'hex') FROM " \
	"jsonb_to_recordset($1) AS x(aip_id uuid, version int, transfer_id " \
	"uuid, files int, bytes bigint, tagmanifest text)"

#define CASE_FILE_SQL \
	"INSERT INTO case_files (id, aip_id, version, native_id, title, type, " \
	"status, function_code, created, finished, last_action, actions, " \
	"publicity, security_reason, personal_data, retention_period, " \
	"retention_reason, retention_end) SELECT x.id, x.aip_id, x.version, " \
	"x.native_id, x.title, x.type, x.status, x.function_code, x.created, " \
	"x.finished, x.last_action, x.actions, x.publicity, " \
	"x.security_reason, x.personal_data, x.retention_period, " \
	"x.retention_reason, x.retention_end FROM jsonb_to_recordset($1) AS " \
	"x(id uuid, aip_id uuid, version int, native_id text, title text, " \
	"type text, status text, function_code text, created date, finished " \
	"date, last_action date, actions int, publicity text, security_reason " \
	"text, personal_data text, retention_period int, retention_reason " \
	"text, retention_end date)"

#define RECORD_SQL \
	"INSERT INTO records (id, aip_id, version, case_file_id, transfer_id, " \
	"native_id, title, description, type, status, function_code, created, " \
	"publicity, security_reason, personal_data, retention_period, " \
	"retention_reason, retention_end, retention_trigger, search) SELECT " \
	"x.id, x.aip_id, x.version, x.case_file_id, x.transfer_id, " \
	"x.native_id, x.title, x.description, x.type, x.status, " \
	"x.function_code, x.created, x.publicity, x.security_reason, " \
	"x.personal_data, x.retention_period, x.retention_reason, " \
	"x.retention_end, x.retention_trigger, " SEARCH_VECTOR_SQL("x.title", \
	"x.description", "x.case_title", "x.lemmas") " FROM " \
	"jsonb_to_recordset($1) AS x(id uuid, aip_id uuid, version int, " \
	"case_file_id uuid, transfer_id uuid, native_id text, title text, " \
	"description text, type text, status text, function_code text, " \
	"created date, publicity text, security_reason text, personal_data " \
	"text, retention_period int, retention_reason text, retention_end " \
	"date, retention_trigger text, case_title text, lemmas text)"

#define RETENTION_SQL \
	"INSERT INTO retention (record_id, state, years, basis, trigger, " \
	"trigger_date, end_date, source, plan_version, class_code, " \
	"record_type, disagreement, function_code, type, in_case_file, " \
	"package_years, package_basis, package_trigger, package_end, " \
	"case_finished, case_last_action, record_created, ingested) SELECT " \
	"x.record_id, x.state, x.years, x.basis, x.trigger, x.trigger_date, " \
	"x.end_date, x.source, x.plan_version, x.class_code, x.record_type, " \
	"x.disagreement, x.function_code, x.type, x.in_case_file, " \
	"x.package_years, x.package_basis, x.package_trigger, " \
	"x.package_end, x.case_finished, x.case_last_action, " \
	"x.record_created, x.ingested FROM jsonb_to_recordset($1) AS " \
	"x(record_id uuid, state text, years int, basis text, trigger text, " \
	"trigger_date date, end_date date, source text, plan_version int, " \
	"class_code text, record_type text, disagreement jsonb, " \
	"function_code text, type text, in_case_file boolean, package_years " \
	"int, package_basis text, package_trigger text, package_end date, " \
	"case_finished date, case_last_action date, record_created date, " \
	"ingested date)"

#define PERSON_SQL \
	"INSERT INTO record_persons (record_id, ssn_hmac) SELECT x.r, " \
	"decode(x.h, 'hex') FROM jsonb_to_recordset($1) AS x(r uuid, h text) " \
	"ON CONFLICT DO NOTHING"

#define FILE_SQL \
	"INSERT INTO files (aip_id, version, path, size, sha256, record_id, " \
	"document_native_id, use_type, declared_format, declared_version, " \
	"mime_type) SELECT x.aip_id, x.version, x.path, x.size, " \
	"decode(x.sha256, 'hex'), x.record_id, x.document_native_id, " \
	"x.use_type, x.declared_format, x.declared_version, x.mime_type FROM " \
	"jsonb_to_recordset($1) AS x(aip_id uuid, version int, path text, " \
	"size bigint, sha256 text, record_id uuid, document_native_id text, " \
	"use_type text, declared_format text, declared_version text, " \
	"mime_type text)"

struct catalogue {
	struct catalogue_batch	 aips_new, aips_next, versions;
	struct catalogue_batch	 case_files, records, retention, persons, files;
	struct retain		 rt;
};

/* Case files before their records, records before their persons and
 * files.  force: also batches that are not full yet. */
static int
catalogue_flush(struct catalogue *cat, bool force)
{
	if (!force && cat->case_files.n <
	    CATALOGUE_BATCH_ROWS && cat->records.n <
	    CATALOGUE_BATCH_ROWS && cat->retention.n <
	    CATALOGUE_BATCH_ROWS && cat->persons.n <
	    CATALOGUE_BATCH_ROWS && cat->files.n <
	    CATALOGUE_BATCH_ROWS && cat->versions.n <
	    CATALOGUE_BATCH_ROWS)
		return 0;
	/*
	 * The foreign key checks of these rows run plans the connection
	 * caches.  Made while the tables were a few rows (a new archive, a
	 * small transfer before), such a plan scans the table, and the
	 * tables grow by the hundred thousand in this transaction: a large
	 * transfer after a small one took hours (measured: the
	 * 100,000-record benchmark after the 1 GiB one).  So the plans are
	 * made again before each round of batches, at the tables' sizes
	 * now: an index lookup once they are large.
	 */
	if (db_query(cat->files.db, NULL, "DISCARD PLANS", 0, NULL) == -1)
		return -1;
	if (catalogue_batch_flush(&cat->aips_new) == -1 ||
	    catalogue_batch_flush(&cat->aips_next) == -1 ||
	    catalogue_batch_flush(&cat->versions) == -1 ||
	    catalogue_batch_flush(&cat->case_files) == -1 ||
	    catalogue_batch_flush(&cat->records) == -1 ||
	    catalogue_batch_flush(&cat->retention) == -1 ||
	    catalogue_batch_flush(&cat->persons) == -1 ||
	    catalogue_batch_flush(&cat->files) == -1)
		return -1;
	return 0;
}

static void
catalogue_free(struct catalogue *cat)
{
	catalogue_batch_free(&cat->aips_new);
	catalogue_batch_free(&cat->aips_next);
	catalogue_batch_free(&cat->versions);
	catalogue_batch_free(&cat->case_files);
	catalogue_batch_free(&cat->records);
	catalogue_batch_free(&cat->retention);
	catalogue_batch_free(&cat->persons);
	catalogue_batch_free(&cat->files);
	retain_free(&cat->rt);
}

/* The fields a case file and a record share, into row. */
static void
catalogue_common(json_t *row, const struct pkg_common *c)
{
	json_object_set_new(row, "native_id", json_string(c->native_id ?
	    c->native_id : ""));
	json_object_set_new(row, "title", retention_json_text(c->title));
	json_object_set_new(row, "type", retention_json_text(c->type));
	json_object_set_new(row, "status", retention_json_text(c->status));
	json_object_set_new(row, "function_code", c->function_code ?
	    json_string(c->function_code) : json_null());
	json_object_set_new(row, "created", c->created ?
	    json_string(c->created) : json_null());
	json_object_set_new(row, "publicity", c->publicity ?
	    json_string(c->publicity) : json_null());
	json_object_set_new(row, "security_reason",
	    retention_json_text(c->security_reason));
	json_object_set_new(row, "personal_data", c->personal_data ?
	    json_string(c->personal_data) : json_null());
	json_object_set_new(row, "retention_period", c->has_retention ?
	    json_integer(c->retention_period) : json_null());
	json_object_set_new(row, "retention_reason",
	    retention_json_text(c->retention_reason));
	json_object_set_new(row, "retention_end", c->retention_end ?
	    json_string(c->retention_end) : json_null());
}

static json_t *
catalogue_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static void
catalogue_persons(struct job *j, struct catalogue *cat, const char *rid,
    const struct pkg_common *c)
{
	char hex[65];
	size_t i;

	for (i = 0; i < c->nssns; i++) {
		if (ingest_person_hmac(c->ssns[i], hex) == -1) {
			cat->persons.failed = -1;
			return;
		}
		catalogue_batch_add(&cat->persons, json_pack("{s:s,s:s}", "r", rid, "h",
		    hex));
	}
	(void)j;
}

/* The rows of one unit's records and their files. */
static void
catalogue_records(struct job *j, struct catalogue *cat, struct unit *u,
    struct strmap *file_record, const char *case_id,
    struct pkg_record *r, size_t n, const struct pkg_casefile *cf)
{
	const struct pkg_common *inherit = cf ? &cf->c : NULL;
	const char *texts[3];
	char rid[37], *lemmas;
	json_t *case_title;
	size_t i, k;
	json_t *row;

	for (i = 0; i < n; i++) {
		aip_uuid(rid);
		row = json_pack("{s:s,s:s,s:i,s:o,s:s}", "id", rid, "aip_id",
		    u->aip_id, "version", u->version, "case_file_id",
		    catalogue_null(case_id), "transfer_id", j->id);
		if (row == NULL) {
			cat->records.failed = -1;
			return;
		}
		catalogue_common(row, &r[i].c);
		json_object_set_new(row, "description",
		    retention_json_text(r[i].description));
		json_object_set_new(row, "retention_trigger",
		    catalogue_null(r[i].c.trigger));
		/* What full-text search finds it by (ingest/search.h): the
		 * texts as catalogued, an identity code withheld. */
		case_title = retention_json_text(cf ? cf->c.title : NULL);
		texts[0] = json_string_value(json_object_get(row, "title"));
		texts[1] = json_string_value(json_object_get(row,
		    "description"));
		texts[2] = json_string_value(case_title);
		if (case_title == NULL ||
		    (lemmas = search_lemmas(texts, 3)) == NULL) {
			json_decref(case_title);
			json_decref(row);
			cat->records.failed = -1;
			return;
		}
		json_object_set_new(row, "case_title", case_title);
		json_object_set_new(row, "lemmas", json_string(lemmas));
		free(lemmas);
		/* A record without its own publicity takes its case file's. */
		if (r[i].c.publicity == NULL && inherit && inherit->publicity)
			json_object_set_new(row, "publicity",
			    json_string(inherit->publicity));
		catalogue_batch_add(&cat->records, row);
		catalogue_batch_add(&cat->retention, retain_row(&cat->rt, j,
		    rid, &r[i], cf));
		catalogue_persons(j, cat, rid, &r[i].c);
		for (k = 0; k < r[i].ndocs; k++) {
			const struct pkg_document *d = &r[i].docs[k];
			char dst[PATH_MAX];
			size_t index;

			if (d->path == NULL || process_file(j, d->path, &index) ==
			    NULL)
				continue;
			process_content_path(j, d->path, dst, sizeof(dst));
			/* The first document naming a file owns it. */
			if (strmap_put(file_record, j->u.files[index].path,
			    0) != 1)
				continue;
			catalogue_batch_add(&cat->files, json_pack("{s:s,s:i,s:s,s:I,"
			    "s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "aip_id",
			    u->aip_id, "version", u->version, "path", dst,
			    "size", (json_int_t)j->u.files[index].size,
			    "sha256", j->u.files[index].sha256, "record_id",
			    rid, "document_native_id",
			    catalogue_null(d->native_id), "use_type",
			    catalogue_null(d->use_type), "declared_format",
			    catalogue_null(d->format_name), "declared_version",
			    catalogue_null(d->format_version), "mime_type",
			    catalogue_null(j->mime[index])));
		}
	}
}

/* Files of the bag not catalogued with a record (metadata, PREMIS, a
 * bag's payload without records). */
static void
catalogue_other_files(struct job *j, struct catalogue *cat, struct unit *u,
    struct strmap *file_record)
{
	size_t i, index;
	const char *mime;

	for (i = 0; i < u->nfiles; i++) {
		const struct aip_file *af = &u->files[i];
		const char *unpacked;

		mime = NULL;
		if (strncmp(af->src, j->work, strlen(j->work)) == 0 &&
		    af->src[strlen(j->work)] == '/') {
			unpacked = af->src + strlen(j->work) + 1;
			if (strmap_get(file_record, unpacked, &index))
				continue;	/* a record's document */
			if (strmap_get(&j->by_path, process_rel(j, unpacked),
			    &index))
				mime = j->mime[index];
		}
		catalogue_batch_add(&cat->files, json_pack("{s:s,s:i,s:s,s:I,s:s,s:o}",
		    "aip_id", u->aip_id, "version", u->version, "path", af->dst,
		    "size", (json_int_t)af->size, "sha256", af->sha256,
		    "mime_type", catalogue_null(mime)));
	}
}

static int
catalogue_unit(struct job *j, struct catalogue *cat, struct unit *u)
{
	struct strmap file_record;
	char cid[37];
	size_t i;
	json_t *row;

	if (strmap_init(&file_record, u->nfiles, false) == -1)
		return -1;
	if (u->cf) {
		aip_uuid(cid);
		row = json_pack("{s:s,s:s,s:i,s:o,s:o,s:i}", "id", cid,
		    "aip_id", u->aip_id, "version", u->version, "finished",
		    catalogue_null(u->cf->finished), "last_action",
		    catalogue_null(u->cf->last_action), "actions",
		    (int)u->cf->nactions);
		if (row)
			catalogue_common(row, &u->cf->c);
		catalogue_batch_add(&cat->case_files, row);
		catalogue_records(j, cat, u, &file_record, cid,
		    u->cf->records, u->cf->nrecords, u->cf);
	} else {
		/* A bag: its case files (CSV or SÄHKE2) and loose records. */
		for (i = 0; i < j->p.ncasefiles; i++) {
			struct pkg_casefile *cf = &j->p.casefiles[i];

			aip_uuid(cid);
			row = json_pack("{s:s,s:s,s:i,s:o,s:o,s:i}", "id", cid,
			    "aip_id", u->aip_id, "version", u->version,
			    "finished", catalogue_null(cf->finished),
			    "last_action", catalogue_null(cf->last_action),
			    "actions", (int)cf->nactions);
			if (row)
				catalogue_common(row, &cf->c);
			catalogue_batch_add(&cat->case_files, row);
			catalogue_records(j, cat, u, &file_record, cid,
			    cf->records, cf->nrecords, cf);
		}
		catalogue_records(j, cat, u, &file_record, NULL, j->p.records,
		    j->p.nrecords, NULL);
	}
	catalogue_other_files(j, cat, u, &file_record);
	strmap_free(&file_record);
	return catalogue_flush(cat, false);
}

/* The AIP's rows: a new AIP or its next version, and the version. */
static void
catalogue_aip(struct job *j, struct catalogue *cat, struct unit *u)
{
	if (u->previous == 0)
		catalogue_batch_add(&cat->aips_new, json_pack("{s:s,s:s,s:s,s:o}", "id",
		    u->aip_id, "source", j->submitter_id, "native_id",
		    u->native_id, "title", retention_json_text(u->title)));
	else
		catalogue_batch_add(&cat->aips_next, json_pack("{s:s,s:i,s:o}", "id",
		    u->aip_id, "version", u->version, "title",
		    retention_json_text(u->title)));
	catalogue_batch_add(&cat->versions, json_pack("{s:s,s:i,s:s,s:i,s:I,s:s}",
	    "aip_id", u->aip_id, "version", u->version, "transfer_id", j->id,
	    "files", (int)u->nstored, "bytes", (json_int_t)u->bytes,
	    "tagmanifest", u->tagmanifest));
}


/* Places every bag and catalogues everything in one transaction. */
enum store_result
catalogue_store(struct job *j, char *err, size_t errlen)
{
	char warnings[24], keep[16], aip_dir[PATH_MAX];
	const char *params[3] = { j->id, warnings, keep };
	struct catalogue cat;
	json_t *details, *aips;
	bool replaced, committing = false;
	size_t i;
	int rc;

	catalogue_batch_init(&cat.aips_new, j->db, AIP_NEW_SQL);
	catalogue_batch_init(&cat.aips_next, j->db, AIP_NEXT_SQL);
	catalogue_batch_init(&cat.versions, j->db, VERSION_SQL);
	cat.aips_new.counted = cat.aips_next.counted = true;
	catalogue_batch_init(&cat.case_files, j->db, CASE_FILE_SQL);
	catalogue_batch_init(&cat.records, j->db, RECORD_SQL);
	catalogue_batch_init(&cat.retention, j->db, RETENTION_SQL);
	catalogue_batch_init(&cat.persons, j->db, PERSON_SQL);
	catalogue_batch_init(&cat.files, j->db, FILE_SQL);
	aips = json_array();
	memset(&cat.rt, 0, sizeof(cat.rt));
	if (db_begin(j->db) == -1 || retain_begin(&cat.rt, j) == -1)
		goto db_failed;
	/* Claim every new version in the catalogue first: the AIP rows
	 * stay locked until this transaction ends, so no other transfer
	 * places the same version meanwhile, and a folder found where ours
	 * goes can only be a dead try's. */
	for (i = 0; i < j->nunits; i++) {
		catalogue_aip(j, &cat, &j->units[i]);
		if ((cat.aips_new.n >= CATALOGUE_BATCH_ROWS ||
		    cat.aips_next.n >= CATALOGUE_BATCH_ROWS) &&
		    (catalogue_batch_flush(&cat.aips_new) == -1 ||
		    catalogue_batch_flush(&cat.aips_next) == -1))
			goto flush_failed;
	}
	if (catalogue_batch_flush(&cat.aips_new) == -1 ||
	    catalogue_batch_flush(&cat.aips_next) == -1)
		goto flush_failed;
	for (i = 0; i < j->nunits; i++) {
		struct unit *u = &j->units[i];

		process_path(aip_dir, sizeof(aip_dir), "%s/aips/%s",
		    j->cfg->storage_root, u->aip_id);
		if (aip_place(u->tmp, aip_dir, u->version, &replaced, err,
		    errlen) == -1)
			goto failed;
		u->placed = true;
		if (replaced)
			log_warn("transfer %s: replaced %s/v%d, left by a try "
			    "that did not reach the catalogue", j->id, aip_dir,
			    u->version);
		if (catalogue_unit(j, &cat, u) == -1)
			goto flush_failed;
		details = json_pack("{s:s,s:i,s:s,s:i,s:I,s:s}", "transfer", j->id,
		    "version", u->version, "native_id", u->native_id, "files",
		    (int)u->nstored, "bytes", (json_int_t)u->bytes,
		    "tagmanifest_sha256", u->tagmanifest);
		rc = process_audit(j, "aip.store", AUDIT_SUCCESS, "aip",
		    u->aip_id, details);
		json_decref(details);
		if (rc == -1)
			goto db_failed;
		json_array_append_new(aips, json_string(u->aip_id));
	}
	process_phase(j, "catalogue rows");
	/* Every rename durable before the catalogue says it is stored. */
	if (j->nunits > 0 && aip_sync(j->cfg->storage_root, err, errlen) ==
	    -1)
		goto failed;
	if (catalogue_flush(&cat, true) == -1)
		goto flush_failed;
	retain_end(&cat.rt, j);
	if (process_insert_findings(j) == -1)
		goto db_failed;
	snprintf(warnings, sizeof(warnings), "%zu", j->f.warnings);
	snprintf(keep, sizeof(keep), "%d", j->cfg->ingest_keep_packages_days);
	if (db_query(j->db, NULL, "UPDATE transfers SET status = 'accepted', "
	    "format = COALESCE(format, $4), errors = 0, warnings = $2, "
	    "failure = NULL, finished_at = now(), updated_at = now(), "
	    "package_kept_until = now() + make_interval(days => $3::int) "
	    "WHERE id = $1", 3 + 1,
	    (const char *[]){ params[0], params[1], params[2], j->format }) ==
	    -1)
		goto db_failed;
	details = json_pack("{s:s,s:s,s:O,s:I}", "submitted_by", j->submitter,
	    "format", j->format, "aips", aips, "warnings",
	    (json_int_t)j->f.warnings);
	rc = process_audit(j, "transfer.accept", AUDIT_SUCCESS, "transfer", j->id,
	    details);
	json_decref(details);
	if (rc == -1)
		goto db_failed;
	process_phase(j, "catalogue flush");
	committing = true;
	if (db_commit(j->db) == -1)
		goto db_failed;
	process_phase(j, "commit");
	json_decref(aips);
	catalogue_free(&cat);
	return STORE_DONE;
flush_failed:
	if (cat.aips_new.moved || cat.aips_next.moved) {
		snprintf(err, errlen, "an AIP of this transfer moved on "
		    "during this try (another transfer of the same case "
		    "file): tried again");
		rc = STORE_MOVED;
		goto undo;
	}
db_failed:
	snprintf(err, errlen, "database: %s", db_error(j->db));
	rc = STORE_RETRY;
	goto undo;
failed:
	rc = STORE_FAILED;
undo:
	if (db_in_transaction(j->db))
		db_rollback(j->db);
	/* Bags placed for a transaction that surely did not commit go
	 * again; after a COMMIT whose outcome is unknown they stay (the
	 * next try replaces them, or they are the stored AIPs). */
	for (i = 0; !committing && i < j->nunits; i++)
		if (j->units[i].placed) {
			process_path(aip_dir, sizeof(aip_dir), "%s/aips/%s/v%d",
			    j->cfg->storage_root, j->units[i].aip_id,
			    j->units[i].version);
			unpack_remove(aip_dir);
			if (strrchr(aip_dir, '/') != NULL) {
				*strrchr(aip_dir, '/') = '\0';
				(void)rmdir(aip_dir);	/* when it was new */
			}
			j->units[i].placed = false;
		}
	json_decref(aips);
	catalogue_free(&cat);
	return (enum store_result)rc;
}

