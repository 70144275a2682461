/*
 * dispose.c — carrying out an approved disposal batch (route_disposals.c
 * approves it), one AIP at a time, on a job worker:
 *
 *  1. check: under the hold lock, each pending item of the AIP is checked
 *     again (still the record's current version, not held, not permanent,
 *     due today) and becomes deleting, or skipped with why; committed
 *     before any file is touched, so a hold placed now lands after it;
 *  2. new version: in one transaction that holds the AIP's row, a bag
 *     without the deleting records' files (their metadata redacted, the
 *     tombstones and a PREMIS deletion event added) is written, synced and
 *     placed as the next version; the catalogue moves the kept records
 *     and the case file to it, redacts the destroyed ones to their
 *     tombstone (in every version) and keeps each destroyed file's digest;
 *  3. old versions: their copies of the destroyed files are unlinked, their
 *     metadata redacted, their manifests written again (still valid bags),
 *     the submitted package still kept in the spool and the inbox report
 *     that names them removed;
 *  4. the items become destroyed.
 * When a batch has nothing left, it is done (or partially_executed) and
 * its signed certificate is issued in the same transaction.
 * After a crash, step 1 finds nothing pending, step 2 is skipped when the
 * batch's version exists, and steps 3 and 4 are redone: each is idempotent.
 * Daemons share batches: an AIP is taken under a session advisory lock.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "db.h"
#include "ingest.h"
#include "package.h"
#include "log.h"
#include "process.h"
#include "retention.h"

#define DISPOSE_CANDIDATES	16
/* pg_try_advisory_lock(DISPOSE_LOCK_CLASS, hashtext(aip id)) */
#define DISPOSE_LOCK_CLASS	"1906193"

/* The deleting items of one batch in one AIP, by NativeId. */
#define GONE_SQL(batch, aip) \
	"(SELECT di.native_id FROM disposal_items di WHERE di.batch_id = " \
	batch " AND di.aip_id = " aip " AND di.state = 'deleting')"

struct dispose {
	struct db		*db;
	const struct config	*cfg;
	const char		*batch;
	const char		*aip;
	struct strmap		 gone;		/* NativeIds */
	struct strmap		 drop;		/* paths, in one version */
	json_t			*changed;	/* [{path, sha256, size}] */
	char			 err[512];
};

static bool
dispose_is_gone(const char *native_id, void *arg)
{
	struct dispose *d = arg;
	size_t v;

	return strmap_get(&d->gone, native_id, &v);
}

static bool
dispose_is_dropped(const char *path, void *arg)
{
	struct dispose *d = arg;
	size_t v;

	return strmap_get(&d->drop, path, &v);
}

static void
dispose_changed(const char *path, const char *sha256, uint64_t size,
    void *arg)
{
	struct dispose *d = arg;

	json_array_append_new(d->changed, json_pack("{s:s,s:s,s:I}", "path",
	    path, "sha256", sha256, "size", (json_int_t)size));
}

static bool
dispose_ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), m = strlen(end);

	return n >= m && strcmp(s + n - m, end) == 0;
}

/* Submitted metadata Sailo knows how to redact: SÄHKE2 XML, metadata.csv. */
static bool
dispose_is_metadata(const char *path)
{
	return strncmp(path, "data/metadata/", 14) == 0 &&
	    strcmp(path, "data/metadata/premis.xml") != 0 &&
	    (dispose_ends_with(path, ".xml") ||
	    dispose_ends_with(path, ".csv"));
}

/* src redacted into dst (which must not exist). */
static int
dispose_redact(struct dispose *d, const char *rel, const char *src,
    const char *dst)
{
	size_t left;

	if (dispose_ends_with(rel, ".csv"))
		return csvmeta_redact(src, dst, dispose_is_gone, d, &left,
		    d->err, sizeof(d->err));
	return redact_sahke2(src, dst, dispose_is_gone, d, d->batch, &left,
	    d->err, sizeof(d->err));
}

/* ---- 1. check ------------------------------------------------------------ */

/*
 * Each pending item again, in the hold lock (route_holds.c takes it to
 * place a hold): the record still in its AIP's current version, not held,
 * not permanent, its retention ended by today in Helsinki.
 */
#define CHECK_SQL \
	"WITH c AS (SELECT di.record_id, CASE " \
	"WHEN r.version <> a.current_version THEN 'superseded' " \
	"WHEN " HOLD_COVERS_SQL("r") " THEN 'held' " \
	"WHEN t.state = 'permanent' THEN 'permanent' " \
	"WHEN t.state IS DISTINCT FROM 'dated' OR t.end_date > (now() AT " \
	"TIME ZONE 'Europe/Helsinki')::date THEN 'not_yet_due' END AS why " \
	"FROM disposal_items di JOIN records r ON r.id = di.record_id " \
	"JOIN aips a ON a.id = r.aip_id " \
	"LEFT JOIN retention t ON t.record_id = r.id " \
	"WHERE di.batch_id = $1::uuid AND di.aip_id = $2::uuid AND " \
	"di.state = 'pending') " \
	"UPDATE disposal_items di SET state = CASE WHEN c.why IS NULL THEN " \
	"'deleting' ELSE 'skipped' END, skip_reason = c.why, done_at = CASE " \
	"WHEN c.why IS NOT NULL THEN now() END FROM c WHERE di.batch_id = " \
	"$1::uuid AND di.record_id = c.record_id"

static int
dispose_check(struct dispose *d)
{
	const char *params[2] = { d->batch, d->aip };

	if (db_begin(d->db) == -1 || db_query(d->db, NULL, "SELECT "
	    "pg_advisory_xact_lock(" HOLD_LOCK ")", 0, NULL) == -1 ||
	    db_query(d->db, NULL, CHECK_SQL, 2, params) == -1 ||
	    db_commit(d->db) == -1) {
		if (db_in_transaction(d->db))
			db_rollback(d->db);
		return -1;
	}
	return 0;
}

/* ---- 2. the new version ---------------------------------------------------- */

struct bag {
	struct aip_file	*files;
	size_t		 n, cap;
	char		**info;
	size_t		 ninfo;
	uint64_t	 bytes;
};

static void
bag_free(struct bag *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->files[i].src);
		free(b->files[i].dst);
		free((char *)b->files[i].link_from);
	}
	free(b->files);
	for (i = 0; i < b->ninfo; i++)
		free(b->info[i]);
	free(b->info);
}

static int
bag_add(struct bag *b, const char *src, const char *dst, uint64_t size,
    const char *sha256, bool link)
{
	struct aip_file *f;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;

		if ((f = realloc(b->files, cap * sizeof(*f))) == NULL)
			return -1;
		b->files = f;
		b->cap = cap;
	}
	f = &b->files[b->n];
	memset(f, 0, sizeof(*f));
	if ((f->src = strdup(src)) == NULL || (f->dst = strdup(dst)) == NULL ||
	    (link && (f->link_from = strdup(src)) == NULL)) {
		free(f->src);
		free(f->dst);
		return -1;
	}
	f->size = size;
	snprintf(f->sha256, sizeof(f->sha256), "%s", sha256);
	b->bytes += size;
	b->n++;
	return 0;
}

/* A file Sailo wrote into the work folder: added with its digest. */
static int
bag_add_written(struct dispose *d, struct bag *b, const char *src,
    const char *dst)
{
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	uint64_t size;

	if (digest_file(src, EVP_sha256(), hex, &size, d->err,
	    sizeof(d->err)) == -1)
		return -1;
	return bag_add(b, src, dst, size, hex, false);
}

/* bag-info.txt of the version before, but for what aip_write adds and
 * what belongs to that version. */
static int
bag_info(struct dispose *d, struct bag *b, const char *prev_dir, int version)
{
	static const char *const skip[] = { "Bagging-Date:", "Payload-Oxum:",
	    "Sailo-Version:", "Sailo-Transfer-Id:", "Sailo-Disposal-Batch:" };
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0, i;
	ssize_t n;
	FILE *fp;

	if ((b->info = calloc(64, sizeof(char *))) == NULL)
		return -1;
	process_path(path, sizeof(path), "%s/bag-info.txt", prev_dir);
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(d->err, sizeof(d->err), "%.400s: %s", path,
		    strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) > 0 && b->ninfo < 60) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
			if (strncmp(line, skip[i], strlen(skip[i])) == 0)
				break;
		if (i == sizeof(skip) / sizeof(skip[0]) && line[0] != '\0' &&
		    (b->info[b->ninfo++] = strdup(line)) == NULL)
			break;
	}
	free(line);
	fclose(fp);
	if (asprintf(&b->info[b->ninfo++], "Sailo-Version: %d", version) ==
	    -1 || asprintf(&b->info[b->ninfo++], "Sailo-Disposal-Batch: %s",
	    d->batch) == -1)
		return -1;
	return 0;
}

/* The tombstones: those of the version before, and this batch's. */
static int
dispose_tombstones(struct dispose *d, const char *prev_dir, const char *out)
{
	struct db_result *r = NULL;
	const char *params[2] = { d->batch, d->aip };
	char path[PATH_MAX];
	json_t *all, *one;
	json_error_t jerr;
	int i, rc = -1;

	process_path(path, sizeof(path), "%s/data/metadata/tombstones.json",
	    prev_dir);
	all = access(path, F_OK) == 0 ? json_load_file(path, 0, &jerr) :
	    json_array();
	if (!json_is_array(all)) {
		snprintf(d->err, sizeof(d->err), "%.300s: %.150s", path,
		    jerr.text);
		json_decref(all);
		return -1;
	}
	if (db_query(d->db, &r, "SELECT json_build_object('record_id', "
	    "di.record_id, 'native_id', di.native_id, 'case_native_id', "
	    "di.case_native_id, 'class_code', di.class_code, 'class_title', "
	    "di.class_title, 'record_type', di.record_type, 'created', "
	    "di.created, 'retention', json_build_object('years', di.years, "
	    "'basis', di.basis, 'trigger', di.trigger, 'trigger_date', "
	    "di.trigger_date, 'end', di.end_date), 'disposal_batch', "
	    "di.batch_id, 'destroyed_at', to_char(now() AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	    "'files', COALESCE((SELECT json_agg(json_build_object('version', "
	    "f.version, 'path', f.path, 'size', f.size, 'sha256', "
	    "encode(f.sha256, 'hex')) ORDER BY f.version, f.path) FROM "
	    "disposal_files f WHERE f.batch_id = di.batch_id AND f.record_id "
	    "= di.record_id), '[]'))::text FROM disposal_items di WHERE "
	    "di.batch_id = $1::uuid AND di.aip_id = $2::uuid AND di.state = "
	    "'deleting' ORDER BY di.native_id, di.record_id", 2, params) == -1)
		goto out;
	for (i = 0; i < db_rows(r); i++)
		if ((one = json_loads(db_value(r, i, 0), 0, NULL)) != NULL)
			json_array_append_new(all, one);
	if (json_dump_file(all, out, JSON_INDENT(1) | JSON_SORT_KEYS) == -1) {
		snprintf(d->err, sizeof(d->err), "%.400s: cannot write", out);
		goto out;
	}
	rc = 0;
out:
	json_decref(all);
	db_result_free(r);
	return rc;
}

/* What the tombstone keeps of each destroyed file (every version), and
 * the catalogue redacted down to it: titles, descriptions, persons. */
static int
dispose_redact_catalogue(struct dispose *d)
{
	const char *params[2] = { d->batch, d->aip };

	return db_query(d->db, NULL, "INSERT INTO disposal_files (batch_id, "
	    "record_id, aip_id, version, path, size, sha256) SELECT "
	    "di.batch_id, di.record_id, f.aip_id, f.version, f.path, f.size, "
	    "f.sha256 FROM disposal_items di JOIN records r ON r.aip_id = "
	    "di.aip_id AND r.native_id = di.native_id JOIN files f ON "
	    "f.record_id = r.id WHERE di.batch_id = $1::uuid AND di.aip_id = "
	    "$2::uuid AND di.state = 'deleting' ON CONFLICT DO NOTHING", 2,
	    params) == -1 ||
	    db_query(d->db, NULL, "UPDATE files f SET destroyed_by = "
	    "$1::uuid FROM disposal_files x WHERE x.batch_id = $1::uuid AND "
	    "x.aip_id = $2::uuid AND f.aip_id = x.aip_id AND f.version = "
	    "x.version AND f.path = x.path", 2, params) == -1 ||
	    db_query(d->db, NULL, "DELETE FROM record_persons WHERE record_id "
	    "IN (SELECT r.id FROM records r WHERE r.aip_id = $2::uuid AND "
	    "r.native_id IN " GONE_SQL("$1::uuid", "$2::uuid") ")", 2,
	    params) == -1 ||
	    db_query(d->db, NULL, "UPDATE records SET title = NULL, "
	    "description = NULL, status = NULL, security_reason = NULL, "
	    "personal_data = NULL, destroyed_by = $1::uuid, destroyed_at = "
	    "now() WHERE aip_id = $2::uuid AND native_id IN "
	    GONE_SQL("$1::uuid", "$2::uuid"), 2, params) == -1 ? -1 : 0;
}

/* The version's rows: its files (the kept ones as they were, the written
 * ones new), the kept records and case files moved to it, the AIP. */
static int
dispose_catalogue_version(struct dispose *d, const struct bag *b, int prev,
    int version, const char *tagmanifest)
{
	const char *params[6];
	char v[16], pv[16], nfiles[24], bytes[24], *written = NULL;
	json_t *rows = json_array();
	size_t i;
	int rc = -1;

	snprintf(v, sizeof(v), "%d", version);
	snprintf(pv, sizeof(pv), "%d", prev);
	snprintf(nfiles, sizeof(nfiles), "%zu", b->n);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)b->bytes);
	for (i = 0; i < b->n; i++)
		if (b->files[i].link_from == NULL)
			json_array_append_new(rows, json_pack("{s:s,s:I,s:s}",
			    "path", b->files[i].dst, "size",
			    (json_int_t)b->files[i].size, "sha256",
			    b->files[i].sha256));
	if ((written = json_dumps(rows, JSON_COMPACT)) == NULL)
		goto out;
	params[0] = d->aip;
	params[1] = v;
	params[2] = d->batch;
	params[3] = nfiles;
	params[4] = bytes;
	params[5] = tagmanifest;
	if (db_query(d->db, NULL, "INSERT INTO aip_versions (aip_id, version, "
	    "disposal_batch, files, bytes, tagmanifest_sha256) VALUES "
	    "($1::uuid, $2::int, $3::uuid, $4::int, $5::bigint, decode($6, "
	    "'hex'))", 6, params) == -1)
		goto out;
	params[2] = pv;
	params[3] = written;
	params[4] = d->batch;
	if (db_query(d->db, NULL, "INSERT INTO files (aip_id, version, path, "
	    "size, sha256, record_id, document_native_id, use_type, "
	    "declared_format, declared_version, mime_type) SELECT f.aip_id, "
	    "$2::int, f.path, f.size, f.sha256, f.record_id, "
	    "f.document_native_id, f.use_type, f.declared_format, "
	    "f.declared_version, f.mime_type FROM files f LEFT JOIN records r "
	    "ON r.id = f.record_id WHERE f.aip_id = $1::uuid AND f.version = "
	    "$3::int AND f.destroyed_by IS NULL AND f.path NOT IN (SELECT "
	    "x.path FROM jsonb_to_recordset($4::jsonb) AS x (path text)) "
	    "UNION ALL SELECT $1::uuid, $2::int, x.path, x.size, "
	    "decode(x.sha256, 'hex'), NULL, NULL, NULL, NULL, NULL, NULL FROM "
	    "jsonb_to_recordset($4::jsonb) AS x (path text, size bigint, "
	    "sha256 text)", 4, params) == -1 ||
	    db_query(d->db, NULL, "UPDATE case_files SET version = $2::int "
	    "WHERE aip_id = $1::uuid AND version = $3::int", 3, params) == -1 ||
	    db_query(d->db, NULL, "UPDATE records SET version = $2::int WHERE "
	    "aip_id = $1::uuid AND version = $3::int AND destroyed_by IS NULL",
	    3, params) == -1)
		goto out;
	/* Every record gone: the case files' and the AIP's titles too (a
	 * title may name a person); the tombstones stay. */
	if (db_query(d->db, NULL, "WITH gone AS (SELECT 1 WHERE NOT EXISTS "
	    "(SELECT 1 FROM records WHERE aip_id = $1::uuid AND version = "
	    "$2::int)), c AS (UPDATE case_files SET title = NULL, "
	    "security_reason = NULL, personal_data = NULL WHERE aip_id = "
	    "$1::uuid AND EXISTS (SELECT 1 FROM gone) RETURNING 1) UPDATE aips "
	    "SET current_version = $2::int, updated_at = now(), title = CASE "
	    "WHEN EXISTS (SELECT 1 FROM gone) THEN NULL ELSE title END WHERE "
	    "id = $1::uuid", 2, params) == -1)
		goto out;
	rc = 0;
out:
	free(written);
	json_decref(rows);
	return rc;
}

/*
 * Step 2, in one transaction holding the AIP's row: the next version
 * written, placed and catalogued.  Returns the new version, or -1 (a
 * database failure: d->err empty; a storage failure: d->err says).
 */
static int
dispose_new_version(struct dispose *d, const char *work)
{
	struct db_result *r = NULL, *names = NULL;
	struct bag b = { 0 };
	struct aip_spec spec;
	struct premis_event ev;
	const char *params[2] = { d->aip, NULL };
	char aipdir[PATH_MAX], prev_dir[PATH_MAX], tmp[PATH_MAX];
	char src[PATH_MAX], dst[PATH_MAX], pv[16], tag[65], now[32];
	char detail[600];
	bool replaced;
	int prev, version = -1, i, files = 0;
	struct tm tm;
	time_t t = time(NULL);

	if (db_begin(d->db) == -1 || db_query(d->db, &r, "SELECT "
	    "current_version FROM aips WHERE id = $1::uuid FOR UPDATE", 1,
	    params) == -1 || db_rows(r) != 1)
		goto db_failed;
	prev = atoi(db_value(r, 0, 0));
	db_result_free(r);
	r = NULL;
	snprintf(pv, sizeof(pv), "%d", prev);
	process_path(aipdir, sizeof(aipdir), "%s/aips/%s", d->cfg->storage_root,
	    d->aip);
	process_path(prev_dir, sizeof(prev_dir), "%s/v%d", aipdir, prev);
	if (dispose_redact_catalogue(d) == -1)
		goto db_failed;
	params[1] = pv;
	if (db_query(d->db, &r, "SELECT f.path, encode(f.sha256, 'hex'), "
	    "f.size, f.destroyed_by IS NOT NULL FROM files f WHERE f.aip_id = "
	    "$1::uuid AND f.version = $2::int ORDER BY f.path", 2,
	    params) == -1)
		goto db_failed;
	for (i = 0; i < db_rows(r); i++) {
		const char *path = db_value(r, i, 0);

		process_path(src, sizeof(src), "%s/%s", prev_dir, path);
		if (strcmp(db_value(r, i, 3), "t") == 0) {
			files++;		/* destroyed */
			continue;
		}
		if (strcmp(path, "data/metadata/premis.xml") == 0 ||
		    strcmp(path, "data/metadata/tombstones.json") == 0)
			continue;		/* written anew */
		if (dispose_is_metadata(path)) {
			process_path(dst, sizeof(dst), "%s/meta-%d", work, i);
			if (dispose_redact(d, path, src, dst) == -1 ||
			    bag_add_written(d, &b, dst, path) == -1)
				goto storage_failed;
			continue;
		}
		if (bag_add(&b, src, path, strtoull(db_value(r, i, 2), NULL,
		    10), db_value(r, i, 1), true) == -1)
			goto oom;
	}
	process_path(dst, sizeof(dst), "%s/tombstones.json", work);
	if (dispose_tombstones(d, prev_dir, dst) == -1) {
		if (d->err[0] == '\0')
			goto db_failed;
		goto storage_failed;
	}
	if (bag_add_written(d, &b, dst, "data/metadata/tombstones.json") == -1)
		goto storage_failed;
	params[0] = d->batch;
	if (db_query(d->db, &names, "SELECT p.name, q.name, (SELECT count(*) "
	    "FROM disposal_items di WHERE di.batch_id = b.id AND di.aip_id = "
	    "$2::uuid AND di.state = 'deleting') FROM disposal_batches b JOIN "
	    "principals p ON p.id = b.proposed_by JOIN principals q ON q.id = "
	    "b.decided_by WHERE b.id = $1::uuid", 2, (const char *[]){
	    d->batch, d->aip }) == -1 || db_rows(names) != 1)
		goto db_failed;
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(detail, sizeof(detail), "%s records and %d files destroyed "
	    "by disposal batch %s (proposed by %s, approved by %s); version "
	    "%d is the AIP without them", db_value(names, 0, 2), files,
	    d->batch, db_value(names, 0, 0), db_value(names, 0, 1), prev + 1);
	ev = (struct premis_event){ "deletion", now, detail, "success",
	    db_value(names, 0, 1) };
	process_path(dst, sizeof(dst), "%s/premis.xml", work);
	if (aip_write_premis(dst, d->aip, &ev, 1, "sailo", d->err,
	    sizeof(d->err)) == -1 || bag_add_written(d, &b, dst,
	    "data/metadata/premis.xml") == -1)
		goto storage_failed;
	if (bag_info(d, &b, prev_dir, prev + 1) == -1)
		goto storage_failed;
	process_path(tmp, sizeof(tmp), "%s/bag", work);
	spec = (struct aip_spec){ tmp, b.files, b.n,
	    (const char *const *)b.info, d->cfg->storage_sha512 };
	if (aip_write(&spec, tag, d->err, sizeof(d->err)) == -1 ||
	    aip_sync(d->cfg->storage_root, d->err, sizeof(d->err)) == -1 ||
	    aip_place(tmp, aipdir, prev + 1, &replaced, d->err,
	    sizeof(d->err)) == -1 ||
	    aip_sync(d->cfg->storage_root, d->err, sizeof(d->err)) == -1)
		goto storage_failed;
	if (dispose_catalogue_version(d, &b, prev, prev + 1, tag) == -1 ||
	    db_commit(d->db) == -1)
		goto db_failed;
	version = prev + 1;
	goto out;
oom:
	snprintf(d->err, sizeof(d->err), "out of memory");
storage_failed:
	if (d->err[0] == '\0')
		snprintf(d->err, sizeof(d->err), "storage failed");
	/* FALLTHROUGH */
db_failed:
	if (db_in_transaction(d->db))
		db_rollback(d->db);
out:
	db_result_free(r);
	db_result_free(names);
	bag_free(&b);
	return version;
}

/* ---- 3. every older version ------------------------------------------ */

static int
dispose_old_version(struct dispose *d, int version)
{
	struct db_result *r = NULL;
	const char *params[4];
	char v[16], dir[PATH_MAX], src[PATH_MAX], tmp[PATH_MAX], tag[65];
	char *changed = NULL;
	int i, rc = -1;

	snprintf(v, sizeof(v), "%d", version);
	process_path(dir, sizeof(dir), "%s/aips/%s/v%d", d->cfg->storage_root,
	    d->aip, version);
	params[0] = d->aip;
	params[1] = v;
	params[2] = d->batch;
	if (db_query(d->db, &r, "SELECT path, destroyed_by IS NOT NULL AND "
	    "destroyed_by = $3::uuid FROM files WHERE aip_id = $1::uuid AND "
	    "version = $2::int", 3, params) == -1)
		return -1;
	strmap_free(&d->drop);
	if (strmap_init(&d->drop, (size_t)db_rows(r) + 1, true) == -1)
		goto out;
	for (i = 0; i < db_rows(r); i++) {
		const char *path = db_value(r, i, 0);

		if (strcmp(db_value(r, i, 1), "t") == 0) {
			if (strmap_put(&d->drop, path, 0) == -1)
				goto out;
			continue;
		}
		if (!dispose_is_metadata(path))
			continue;
		/* Redacted aside, then renamed over it (which also parts it
		 * from a hard link another version shares). */
		process_path(src, sizeof(src), "%s/%s", dir, path);
		process_path(tmp, sizeof(tmp), "%s.redact.tmp", src);
		(void)unlink(tmp);
		if (access(src, F_OK) != 0)
			continue;
		if (dispose_redact(d, path, src, tmp) == -1 ||
		    rename(tmp, src) == -1) {
			if (d->err[0] == '\0')
				snprintf(d->err, sizeof(d->err), "rename %.400s: "
				    "%s", src, strerror(errno));
			(void)unlink(tmp);
			goto out;
		}
	}
	json_array_clear(d->changed);
	if (aip_remanifest(dir, dispose_is_dropped, dispose_changed, d, tag,
	    d->err, sizeof(d->err)) == -1)
		goto out;
	if ((changed = json_dumps(d->changed, JSON_COMPACT)) == NULL)
		goto out;
	params[2] = changed;
	params[3] = tag;
	if (db_query(d->db, NULL, "UPDATE files f SET sha256 = "
	    "decode(x.sha256, 'hex'), size = x.size FROM jsonb_to_recordset("
	    "$3::jsonb) AS x (path text, sha256 text, size bigint) WHERE "
	    "f.aip_id = $1::uuid AND f.version = $2::int AND f.path = x.path",
	    3, params) == -1 ||
	    db_query(d->db, NULL, "UPDATE aip_versions SET tagmanifest_sha256 = "
	    "decode($4, 'hex') WHERE aip_id = $1::uuid AND version = $2::int "
	    "AND $3::text IS NOT NULL", 4, params) == -1)
		goto out;
	rc = 0;
out:
	free(changed);
	db_result_free(r);
	return rc;
}

/* The other copies: a submitted package still kept in the spool, and the
 * inbox report beside it, of every transfer that brought a destroyed
 * record. */
static int
dispose_other_copies(struct dispose *d)
{
	struct db_result *r = NULL;
	const char *params[2] = { d->batch, d->aip };
	char path[PATH_MAX];
	int i;

	if (db_query(d->db, &r, "SELECT DISTINCT t.id, t.inbox_name, "
	    "t.package_kept_until IS NOT NULL FROM transfers t JOIN records r "
	    "ON r.transfer_id = t.id WHERE r.aip_id = $2::uuid AND "
	    "r.native_id IN " GONE_SQL("$1::uuid", "$2::uuid"), 2,
	    params) == -1)
		return -1;
	for (i = 0; i < db_rows(r); i++) {
		if (strcmp(db_value(r, i, 2), "t") == 0) {
			process_path(path, sizeof(path), "%s/%s.pkg",
			    d->cfg->storage_spool, db_value(r, i, 0));
			if (unlink(path) == -1 && errno != ENOENT) {
				snprintf(d->err, sizeof(d->err), "unlink %.400s: "
				    "%s", path, strerror(errno));
				db_result_free(r);
				return -1;
			}
			params[0] = db_value(r, i, 0);
			if (db_query(d->db, NULL, "UPDATE transfers SET "
			    "package_kept_until = NULL WHERE id = $1::uuid", 1,
			    params) == -1) {
				db_result_free(r);
				return -1;
			}
			params[0] = d->batch;
		}
		if (!db_isnull(r, i, 1) && d->cfg->ingest_outbox_dir &&
		    d->cfg->ingest_outbox_dir[0]) {
			process_path(path, sizeof(path), "%s/%s.report.json",
			    d->cfg->ingest_outbox_dir, db_value(r, i, 1));
			(void)unlink(path);
		}
	}
	db_result_free(r);
	return 0;
}

/* ---- one AIP of one batch ------------------------------------------------- */

/* Marks the deleting items of the AIP failed, with why. */
static void
dispose_fail(struct dispose *d)
{
	const char *params[3] = { d->batch, d->aip, d->err };

	log_warn("disposal %s, AIP %s: %s", d->batch, d->aip, d->err);
	if (db_query(d->db, NULL, "UPDATE disposal_items SET state = 'failed', "
	    "error = $3, done_at = now() WHERE batch_id = $1::uuid AND aip_id = "
	    "$2::uuid AND state IN ('pending', 'deleting')", 3, params) == -1)
		log_warn("disposal %s: cannot mark failed: %s", d->batch,
		    db_error(d->db));
}

static int
dispose_aip(struct dispose *d)
{
	struct db_result *r = NULL;
	const char *params[2] = { d->batch, d->aip };
	char work[PATH_MAX];
	json_t *details;
	int version, v, i, n, rc = -1;

	if (dispose_check(d) == -1)
		return -1;
	if (db_query(d->db, &r, "SELECT di.native_id, (SELECT version FROM "
	    "aip_versions WHERE aip_id = $2::uuid AND disposal_batch = "
	    "$1::uuid) FROM disposal_items di WHERE di.batch_id = $1::uuid AND "
	    "di.aip_id = $2::uuid AND di.state = 'deleting'", 2, params) == -1)
		return -1;
	if ((n = db_rows(r)) == 0) {
		db_result_free(r);
		return 0;		/* every item skipped */
	}
	if (strmap_init(&d->gone, (size_t)n, true) == -1)
		goto out;
	for (i = 0; i < n; i++)
		if (strmap_put(&d->gone, db_value(r, i, 0), 0) == -1)
			goto out;
	version = db_isnull(r, 0, 1) ? 0 : atoi(db_value(r, 0, 1));
	if (version == 0) {
		process_path(work, sizeof(work), "%s/disposal-%s-%s",
		    d->cfg->storage_work, d->batch, d->aip);
		unpack_remove(work);
		if (mkdir(work, 0750) == -1) {
			snprintf(d->err, sizeof(d->err), "mkdir %.400s: %s", work,
			    strerror(errno));
			dispose_fail(d);
			goto out;
		}
		version = dispose_new_version(d, work);
		unpack_remove(work);
		if (version == -1) {
			if (d->err[0])
				dispose_fail(d);
			goto out;
		}
	}
	for (v = 1; v < version; v++)
		if (dispose_old_version(d, v) == -1) {
			if (d->err[0])
				dispose_fail(d);
			goto out;
		}
	if (dispose_other_copies(d) == -1) {
		if (d->err[0])
			dispose_fail(d);
		goto out;
	}
	details = json_pack("{s:s,s:i,s:i}", "batch", d->batch, "records", n,
	    "version", version);
	if (db_begin(d->db) == -1 || db_query(d->db, NULL, "UPDATE "
	    "disposal_items SET state = 'destroyed', done_at = now() WHERE "
	    "batch_id = $1::uuid AND aip_id = $2::uuid AND state = 'deleting'",
	    2, params) == -1 || audit_record(d->db, &(struct audit_event){
	    .actor = "sailo", .action = "disposal.destroy", .object_type =
	    "aip", .object_id = d->aip, .outcome = AUDIT_SUCCESS, .details =
	    details }) == -1 || db_commit(d->db) == -1) {
		json_decref(details);
		if (db_in_transaction(d->db))
			db_rollback(d->db);
		goto out;
	}
	json_decref(details);
	rc = 0;
out:
	db_result_free(r);
	return rc;
}

/* A batch with nothing left to do: done, or partially_executed when an
 * item failed. */
static int
dispose_finish(struct db *db, const struct audit_key *key, const char *batch)
{
	struct db_result *r = NULL;
	json_t *details = NULL;
	int rc = -1;

	if (db_begin(db) == -1 || db_query(db, &r, "UPDATE disposal_batches b "
	    "SET status = CASE WHEN EXISTS (SELECT 1 FROM disposal_items WHERE "
	    "batch_id = b.id AND state = 'failed') THEN 'partially_executed' "
	    "ELSE 'done' END, finished_at = now(), started_at = "
	    "COALESCE(started_at, now()) WHERE id = $1::uuid AND status IN "
	    "('approved', 'running') AND NOT EXISTS (SELECT 1 FROM "
	    "disposal_items WHERE batch_id = b.id AND state IN ('pending', "
	    "'deleting')) RETURNING status, (SELECT json_object_agg(state, n) "
	    "FROM (SELECT state, count(*) AS n FROM disposal_items WHERE "
	    "batch_id = b.id GROUP BY state) c)::text", 1, &batch) == -1)
		goto out;
	if (db_rows(r) == 1) {
		details = json_pack("{s:s,s:o}", "status", db_value(r, 0, 0),
		    "items", json_loads(db_value(r, 0, 1), 0, NULL));
		if (audit_record(db, &(struct audit_event){ .actor = "sailo",
		    .action = "disposal.finish", .object_type = "disposal",
		    .object_id = batch, .outcome = AUDIT_SUCCESS, .details =
		    details }) == -1 || certificate_issue(db, key, batch) == -1)
			goto out;
	}
	if (db_commit(db) == -1)
		goto out;
	rc = 0;
out:
	json_decref(details);
	db_result_free(r);
	if (rc == -1 && db_in_transaction(db))
		db_rollback(db);
	return rc;
}

int
dispose_step(struct db *db, const struct config *cfg,
    const struct audit_key *key)
{
	struct db_result *r = NULL, *lk = NULL;
	struct dispose d;
	const char *params[1];
	int i, rc = 0;

	memset(&d, 0, sizeof(d));
	if (db_query(db, &r, "SELECT di.batch_id, di.aip_id FROM "
	    "disposal_items di JOIN disposal_batches b ON b.id = di.batch_id "
	    "WHERE b.status IN ('approved', 'running') AND di.state IN "
	    "('pending', 'deleting') GROUP BY b.decided_at, di.batch_id, "
	    "di.aip_id ORDER BY b.decided_at, di.batch_id, di.aip_id LIMIT "
	    "16", 0, NULL) == -1)
		return -1;
	for (i = 0; i < db_rows(r) && rc == 0; i++) {
		params[0] = db_value(r, i, 1);
		if (db_query(db, &lk, "SELECT pg_try_advisory_lock("
		    DISPOSE_LOCK_CLASS ", hashtext($1))", 1, params) == -1) {
			rc = -1;
			break;
		}
		if (strcmp(db_value(lk, 0, 0), "t") != 0) {
			db_result_free(lk);
			lk = NULL;
			continue;	/* another worker has it */
		}
		db_result_free(lk);
		lk = NULL;
		d.db = db;
		d.cfg = cfg;
		d.batch = db_value(r, i, 0);
		d.aip = db_value(r, i, 1);
		d.changed = json_array();
		if (db_query(db, NULL, "UPDATE disposal_batches SET status = "
		    "'running', started_at = COALESCE(started_at, now()) WHERE "
		    "id = $1::uuid AND status = 'approved'", 1, &d.batch) == -1 ||
		    dispose_aip(&d) == -1)
			rc = -1;
		else
			rc = 1;
		if (rc == -1 && d.err[0] == '\0')
			log_warn("disposal %s, AIP %s: %s", d.batch, d.aip,
			    db_error(db));
		(void)db_query(db, NULL, "SELECT pg_advisory_unlock("
		    DISPOSE_LOCK_CLASS ", hashtext($1))", 1, params);
		strmap_free(&d.gone);
		strmap_free(&d.drop);
		json_decref(d.changed);
		memset(&d, 0, sizeof(d));
	}
	db_result_free(r);
	if (rc != 0)
		return rc == -1 ? -1 : 1;
	/* Nothing to carry out: batches whose items are all done finish. */
	if (db_query(db, &r, "SELECT b.id FROM disposal_batches b WHERE "
	    "b.status IN ('approved', 'running') AND NOT EXISTS (SELECT 1 "
	    "FROM disposal_items di WHERE di.batch_id = b.id AND di.state IN "
	    "('pending', 'deleting'))", 0, NULL) == -1)
		return -1;
	for (i = 0; i < db_rows(r); i++)
		if (dispose_finish(db, key, db_value(r, i, 0)) == -1)
			log_warn("disposal %s: cannot finish: %s",
			    db_value(r, i, 0), db_error(db));
	db_result_free(r);
	return 0;
}
