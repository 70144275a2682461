/*
 * dispose.c — carrying out an approved disposal batch (route_disposals.c
 * approves it) on the job workers, a group of up to DISPOSE_GROUP of its
 * AIPs at a time (per AIP: one new version for all of the batch's records
 * in it; per group: shared transactions and syncs, so that 10,000 AIPs do
 * not cost 10,000 syncs):
 *
 *  1. check: under the hold lock, each pending item is checked again
 *     (still in its AIP's current version, not held, not permanent, due
 *     today in Helsinki) and becomes deleting, or skipped with why;
 *     committed before any file is touched, so a hold placed now lands
 *     after it (and its reply lists the item);
 *  2. new versions: in one transaction that holds the AIPs' rows, each
 *     AIP's bag without the deleting records' files (their metadata
 *     redacted, the tombstones and a PREMIS deletion event added) is
 *     written; one sync; the bags placed as the next versions; one sync;
 *     the catalogue moves the kept records and case files to them,
 *     redacts the destroyed ones to their tombstone (in every version)
 *     and keeps each destroyed file's digest; commit;
 *  3. older versions: their copies of the destroyed files are unlinked,
 *     their metadata redacted, their manifests written again (still valid
 *     bags); the submitted package still kept in the spool and the inbox
 *     report of a transfer that brought a destroyed record are removed;
 *     one sync;
 *  4. the items become destroyed, with one audit event per AIP.
 * A storage error marks the AIP's items failed (the batch then ends
 * partially_executed), never silently done.  When a batch has nothing
 * left, it is done and its signed certificate is issued in the same
 * transaction (certificate.c).  After a crash, step 1 finds nothing
 * pending, step 2 is skipped for an AIP whose disposal version exists,
 * and steps 3 and 4 are redone: each is idempotent.  Daemons share a
 * batch: an AIP is taken under a session advisory lock.
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

#include "api.h"
#include "audit.h"
#include "config.h"
#include "db.h"
#include "ingest.h"
#include "log.h"
#include "package.h"
#include "process.h"
#include "retention.h"

#define DISPOSE_GROUP		250	/* AIPs carried out together */
/* The items of batch $1 in the group's AIPs ($2, an array) in states,
 * found AIP by AIP through the open items' index.  Written as a lateral
 * join so that no plan can walk the whole batch: with "aip_id = ANY ($2)"
 * the planner, whose statistics still said the table was empty right
 * after the proposal, filtered every open item of a 100,000-item batch in
 * each statement (45 ms; a semi-join with unnest: 500 ms). */
#define GROUP_ITEMS(states) \
	"(SELECT x.* FROM unnest($2::uuid[]) AS g (aip) CROSS JOIN LATERAL " \
	"(SELECT * FROM disposal_items i WHERE i.batch_id = $1::uuid AND " \
	"i.aip_id = g.aip AND i.state IN (" states ")) x)"
/* pg_try_advisory_lock(DISPOSE_LOCK_CLASS, hashtext(aip id)) */
#define DISPOSE_LOCK_CLASS	"1906193"

struct bag {
	struct aip_file	*files;
	size_t		 n, cap;
	char		**info;
	size_t		 ninfo;
	uint64_t	 bytes;
};

/* One AIP of the group. */
struct daip {
	char		 id[37];
	int		 prev;		/* the version the new one is made from */
	int		 version;	/* the disposal's version; 0: none yet */
	bool		 failed;	/* nothing destroyed: its items fail */
	bool		 retry;		/* step 3 to be done again, later */
	struct strmap	 gone;		/* NativeIds of its deleting items */
	struct bag	 bag;
	char		 tag[65];
	json_t		*tombs;		/* this batch's tombstones */
};

struct dispose {
	struct db		*db;
	const struct config	*cfg;
	const char		*batch;
	struct daip		*aips;
	size_t			 n;
	struct daip		*cur;		/* for the callbacks */
	int			 curv;
	struct strmap		 drop;		/* paths, in one version */
	json_t			*changed;	/* [{aip_id, version, path, …}] */
	json_t			*tags;		/* [{aip_id, version, tag}] */
	char			 proposer[201], approver[201];
	char			 err[512];
};

static bool
dispose_is_gone(const char *native_id, void *arg)
{
	struct dispose *d = arg;
	size_t v;

	return strmap_get(&d->cur->gone, native_id, &v);
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

	json_array_append_new(d->changed, json_pack("{s:s,s:i,s:s,s:s,s:I}",
	    "aip_id", d->cur->id, "version", d->curv, "path", path, "sha256",
	    sha256, "size", (json_int_t)size));
}

static bool
dispose_ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), m = strlen(end);

	return n >= m && strcmp(s + n - m, end) == 0;
}

/* The submitted metadata that describes records, which Sailo redacts:
 * a SÄHKE2 case file's extract, a bag's sahke2.xml or metadata.csv.  A
 * bag's other files under data/metadata/ are kept as they were. */
static bool
dispose_is_metadata(const char *path)
{
	return strcmp(path, "data/metadata/sahke2.xml") == 0 ||
	    strcmp(path, "data/metadata/submitted/sahke2.xml") == 0 ||
	    strcmp(path, "data/metadata/submitted/metadata.csv") == 0;
}

/* src redacted into dst (which must not exist), for d->cur. */
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

/* The ids of the group's AIPs that want(a) as "{uuid,…}" (malloc'd), or
 * NULL when none does (or no memory: then *oom). */
static char *
dispose_ids(struct dispose *d, bool (*want)(const struct daip *),
    bool *oom)
{
	char *s, *p;
	size_t i, k = 0;

	*oom = false;
	if ((s = p = malloc(d->n * 37 + 3)) == NULL) {
		*oom = true;
		return NULL;
	}
	*p++ = '{';
	for (i = 0; i < d->n; i++) {
		if (!want(&d->aips[i]))
			continue;
		if (k++ > 0)
			*p++ = ',';
		memcpy(p, d->aips[i].id, 36);
		p += 36;
	}
	*p++ = '}';
	*p = '\0';
	if (k == 0) {
		free(s);
		return NULL;
	}
	return s;
}

static bool
want_ok(const struct daip *a)
{
	return !a->failed;
}

static bool
want_failed(const struct daip *a)
{
	return a->failed;
}

static bool
want_new(const struct daip *a)
{
	return !a->failed && !a->retry && a->gone.n > 0 && a->version == 0;
}

static bool
want_old(const struct daip *a)
{
	return !a->failed && a->gone.n > 0 && a->version > 0;
}

static bool
want_done(const struct daip *a)
{
	return want_old(a) && !a->retry;
}

static struct daip *
dispose_find(struct dispose *d, const char *id)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->aips[i].id, id) == 0)
			return &d->aips[i];
	return NULL;
}

static double
dispose_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- 1. check ------------------------------------------------------------ */

#define CHECK_SQL \
	"WITH c AS (SELECT di.record_id, CASE " \
	"WHEN r.version <> a.current_version THEN 'superseded' " \
	"WHEN " HOLD_COVERS_SQL("r") " THEN 'held' " \
	"WHEN t.state = 'permanent' THEN 'permanent' " \
	"WHEN t.state IS DISTINCT FROM 'dated' OR t.end_date > (now() AT " \
	"TIME ZONE 'Europe/Helsinki')::date THEN 'not_yet_due' END AS why " \
	"FROM " GROUP_ITEMS("'pending'") " di JOIN records r ON r.id = " \
	"di.record_id JOIN aips a ON a.id = r.aip_id " \
	"LEFT JOIN retention t ON t.record_id = r.id) " \
	"UPDATE disposal_items di SET state = CASE WHEN c.why IS NULL THEN " \
	"'deleting' ELSE 'skipped' END, skip_reason = c.why, done_at = CASE " \
	"WHEN c.why IS NOT NULL THEN now() END FROM c WHERE di.batch_id = " \
	"$1::uuid AND di.record_id = c.record_id"

static int
dispose_check(struct dispose *d, const char *ids)
{
	const char *params[2] = { d->batch, ids };

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

/* What each AIP has to do: its deleting items, its disposal version. */
static int
dispose_load(struct dispose *d, const char *ids)
{
	struct db_result *r = NULL;
	const char *params[2] = { d->batch, ids };
	struct daip *a;
	int i;

	if (db_query(d->db, &r, "SELECT di.aip_id, di.native_id FROM "
	    GROUP_ITEMS("'deleting'") " di", 2, params) == -1)
		return -1;
	for (i = 0; i < db_rows(r); i++)
		if ((a = dispose_find(d, db_value(r, i, 0))) != NULL) {
			if (a->gone.cap == 0 &&
			    strmap_init(&a->gone, 16, true) == -1)
				goto oom;
			if (strmap_put(&a->gone, db_value(r, i, 1), 0) == -1)
				goto oom;
		}
	db_result_free(r);
	if (db_query(d->db, &r, "SELECT aip_id, version FROM aip_versions "
	    "WHERE disposal_batch = $1::uuid AND aip_id = ANY ($2::uuid[])",
	    2, params) == -1)
		return -1;
	for (i = 0; i < db_rows(r); i++)
		if ((a = dispose_find(d, db_value(r, i, 0))) != NULL)
			a->version = atoi(db_value(r, i, 1));
	db_result_free(r);
	return 0;
oom:
	db_result_free(r);
	snprintf(d->err, sizeof(d->err), "out of memory");
	return -1;
}

/* ---- 2. new versions ---------------------------------------------------- */

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
		    (b->info[b->ninfo++] = strdup(line)) == NULL) {
			free(line);
			fclose(fp);
			return -1;
		}
	}
	free(line);
	fclose(fp);
	if (asprintf(&b->info[b->ninfo++], "Sailo-Version: %d", version) ==
	    -1 || asprintf(&b->info[b->ninfo++], "Sailo-Disposal-Batch: %s",
	    d->batch) == -1)
		return -1;
	return 0;
}


/* Its previous tombstones (the version before's tombstones.json) and this
 * batch's, into out. */
static int
dispose_tombstones(struct dispose *d, struct daip *a, const char *prev_dir,
    const char *out)
{
	char path[PATH_MAX];
	json_t *all;
	json_error_t jerr;
	size_t i;

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
	for (i = 0; i < json_array_size(a->tombs); i++)
		json_array_append(all, json_array_get(a->tombs, i));
	if (json_dump_file(all, out, JSON_INDENT(1) | JSON_SORT_KEYS) == -1) {
		snprintf(d->err, sizeof(d->err), "%.400s: cannot write", out);
		json_decref(all);
		return -1;
	}
	json_decref(all);
	return 0;
}

/* The catalogue, for the group's AIPs ($2): each destroyed file's digest
 * in every version kept, then the records redacted to their tombstone
 * (titles, descriptions, persons) in every version. */
#define GONE_RECORDS_SQL \
	"(SELECT r.id FROM " GROUP_ITEMS("'deleting'") " di JOIN records r " \
	"ON r.aip_id = di.aip_id AND r.native_id = di.native_id)"

static int
dispose_redact_catalogue(struct dispose *d, const char *ids)
{
	const char *params[2] = { d->batch, ids };

	return db_query(d->db, NULL, "INSERT INTO disposal_files (batch_id, "
	    "record_id, aip_id, version, path, size, sha256) SELECT "
	    "di.batch_id, di.record_id, f.aip_id, f.version, f.path, f.size, "
	    "f.sha256 FROM " GROUP_ITEMS("'deleting'") " di JOIN records r ON "
	    "r.aip_id = di.aip_id AND r.native_id = di.native_id JOIN files f "
	    "ON f.record_id = r.id ON CONFLICT DO NOTHING",
	    2, params) == -1 ||
	    db_query(d->db, NULL, "UPDATE files f SET destroyed_by = "
	    "$1::uuid FROM disposal_files x WHERE x.batch_id = $1::uuid AND "
	    "x.aip_id = ANY ($2::uuid[]) AND f.aip_id = x.aip_id AND "
	    "f.version = x.version AND f.path = x.path", 2, params) == -1 ||
	    db_query(d->db, NULL, "DELETE FROM record_persons WHERE record_id "
	    "IN " GONE_RECORDS_SQL, 2, params) == -1 ||
	    db_query(d->db, NULL, "UPDATE records SET title = NULL, "
	    "description = NULL, status = NULL, security_reason = NULL, "
	    "personal_data = NULL, search = NULL, destroyed_by = $1::uuid, "
	    "destroyed_at = "
	    "now() WHERE id IN " GONE_RECORDS_SQL, 2, params) == -1 ? -1 : 0;
}

/* This batch's tombstones of the group's AIPs, into each a->tombs. */
static int
dispose_load_tombstones(struct dispose *d, const char *ids)
{
	struct db_result *r = NULL;
	const char *params[2] = { d->batch, ids };
	struct daip *a;
	json_t *one;
	int i;

	if (db_query(d->db, &r, "SELECT di.aip_id, json_build_object("
	    "'record_id', di.record_id, 'native_id', di.native_id, "
	    "'case_native_id', di.case_native_id, 'class_code', di.class_code, "
	    "'class_title', di.class_title, 'record_type', di.record_type, "
	    "'created', di.created, 'retention', json_build_object('years', "
	    "di.years, 'basis', di.basis, 'trigger', di.trigger, "
	    "'trigger_date', di.trigger_date, 'end', di.end_date), "
	    "'disposal_batch', di.batch_id, 'destroyed_at', "
	    API_SQL_TIME("now()") ", 'files', "
	    "COALESCE((SELECT json_agg(json_build_object('version', f.version, "
	    "'path', f.path, 'size', f.size, 'sha256', encode(f.sha256, "
	    "'hex')) ORDER BY f.version, f.path) FROM disposal_files f WHERE "
	    "f.batch_id = di.batch_id AND f.record_id = di.record_id), "
	    "'[]'))::text FROM " GROUP_ITEMS("'deleting'") " di ORDER BY "
	    "di.aip_id, di.native_id, di.record_id", 2, params) == -1)
		return -1;
	for (i = 0; i < db_rows(r); i++)
		if ((a = dispose_find(d, db_value(r, i, 0))) != NULL &&
		    (one = json_loads(db_value(r, i, 1), 0, NULL)) != NULL) {
			if (a->tombs == NULL)
				a->tombs = json_array();
			json_array_append_new(a->tombs, one);
		}
	db_result_free(r);
	return 0;
}

/*
 * The bag of one AIP's next version, written (not placed) at tmp: its
 * previous version's files but the destroyed ones (hard links), its
 * metadata redacted, the tombstones and the PREMIS deletion event new.
 * files: the rows of its previous version (path, sha256, size,
 * destroyed), from row first to row last.
 */
static int
dispose_write_bag(struct dispose *d, struct daip *a, struct db_result *files,
    int first, int last, const char *work, const char *tmp)
{
	char aipdir[PATH_MAX], prev_dir[PATH_MAX], src[PATH_MAX];
	char dst[PATH_MAX], detail[600], now[32];
	struct premis_event ev;
	struct aip_spec spec;
	struct tm tm;
	time_t t = time(NULL);
	int i, destroyed = 0;

	d->cur = a;
	process_path(aipdir, sizeof(aipdir), "%s/aips/%s",
	    d->cfg->storage_root, a->id);
	process_path(prev_dir, sizeof(prev_dir), "%s/v%d", aipdir, a->prev);
	for (i = first; i < last; i++) {
		const char *path = db_value(files, i, 1);

		process_path(src, sizeof(src), "%s/%s", prev_dir, path);
		if (strcmp(db_value(files, i, 4), "t") == 0) {
			destroyed++;
			continue;
		}
		if (strcmp(path, "data/metadata/premis.xml") == 0 ||
		    strcmp(path, "data/metadata/tombstones.json") == 0)
			continue;		/* written anew */
		if (dispose_is_metadata(path)) {
			process_path(dst, sizeof(dst), "%s/%s-meta-%d", work,
			    a->id, i);
			if (dispose_redact(d, path, src, dst) == -1 ||
			    bag_add_written(d, &a->bag, dst, path) == -1)
				return -1;
			continue;
		}
		if (bag_add(&a->bag, src, path, strtoull(db_value(files, i, 3),
		    NULL, 10), db_value(files, i, 2), true) == -1)
			goto oom;
	}
	process_path(dst, sizeof(dst), "%s/%s-tombstones.json", work, a->id);
	if (dispose_tombstones(d, a, prev_dir, dst) == -1 ||
	    bag_add_written(d, &a->bag, dst, "data/metadata/tombstones.json") ==
	    -1)
		return -1;
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(detail, sizeof(detail), "%zu records and %d files destroyed "
	    "by disposal batch %s (proposed by %.150s, approved by %.150s); "
	    "version %d is the AIP without them", a->gone.n, destroyed,
	    d->batch, d->proposer, d->approver, a->prev + 1);
	ev = (struct premis_event){ "deletion", now, detail, "success",
	    d->approver };
	process_path(dst, sizeof(dst), "%s/%s-premis.xml", work, a->id);
	if (aip_write_premis(dst, a->id, &ev, 1, "sailo", d->err,
	    sizeof(d->err)) == -1 || bag_add_written(d, &a->bag, dst,
	    "data/metadata/premis.xml") == -1 ||
	    bag_info(d, &a->bag, prev_dir, a->prev + 1) == -1)
		return -1;
	spec = (struct aip_spec){ tmp, a->bag.files, a->bag.n,
	    (const char *const *)a->bag.info, d->cfg->storage_sha512 };
	return aip_write(&spec, a->tag, d->err, sizeof(d->err));
oom:
	snprintf(d->err, sizeof(d->err), "out of memory");
	return -1;
}

/* The new versions' rows, for every AIP of the group that made one. */
static int
dispose_catalogue_versions(struct dispose *d, const char *ids)
{
	const char *params[3] = { d->batch, ids, NULL };
	json_t *versions = json_array(), *written = json_array();
	char *vtext = NULL, *wtext = NULL;
	size_t i, k;
	int rc = -1;

	for (i = 0; i < d->n; i++) {
		struct daip *a = &d->aips[i];

		if (!want_new(a))
			continue;
		json_array_append_new(versions, json_pack("{s:s,s:i,s:i,s:I,"
		    "s:I,s:s}", "aip_id", a->id, "prev", a->prev, "version",
		    a->prev + 1, "files", (json_int_t)a->bag.n, "bytes",
		    (json_int_t)a->bag.bytes, "tag", a->tag));
		for (k = 0; k < a->bag.n; k++)
			if (a->bag.files[k].link_from == NULL)
				json_array_append_new(written, json_pack(
				    "{s:s,s:i,s:s,s:I,s:s}", "aip_id", a->id,
				    "version", a->prev + 1, "path",
				    a->bag.files[k].dst, "size", (json_int_t)
				    a->bag.files[k].size, "sha256",
				    a->bag.files[k].sha256));
	}
	if ((vtext = json_dumps(versions, JSON_COMPACT)) == NULL ||
	    (wtext = json_dumps(written, JSON_COMPACT)) == NULL)
		goto out;
	params[1] = vtext;
	params[2] = wtext;
/* $N: the new versions [{aip_id, prev, version, files, bytes, tag}]. */
#define V_SQL(n) "jsonb_to_recordset($" n "::jsonb) AS x (aip_id uuid, " \
	"prev int, version int, files int, bytes bigint, tag text)"
	if (db_query(d->db, NULL, "INSERT INTO aip_versions (aip_id, version, "
	    "disposal_batch, files, bytes, tagmanifest_sha256) SELECT "
	    "x.aip_id, x.version, $1::uuid, x.files, x.bytes, decode(x.tag, "
	    "'hex') FROM " V_SQL("2"), 2, params) == -1 ||
	    db_query(d->db, NULL, "INSERT INTO files (aip_id, version, path, "
	    "size, sha256, record_id, document_native_id, use_type, "
	    "declared_format, declared_version, mime_type) SELECT f.aip_id, "
	    "x.version, f.path, f.size, f.sha256, f.record_id, "
	    "f.document_native_id, f.use_type, f.declared_format, "
	    "f.declared_version, f.mime_type FROM " V_SQL("1") " JOIN files f "
	    "ON f.aip_id = x.aip_id AND f.version = x.prev WHERE "
	    "f.destroyed_by IS NULL AND NOT EXISTS (SELECT 1 FROM "
	    "jsonb_to_recordset($2::jsonb) AS w (aip_id uuid, path text) WHERE "
	    "w.aip_id = f.aip_id AND w.path = f.path) UNION ALL SELECT "
	    "w.aip_id, w.version, w.path, w.size, decode(w.sha256, 'hex'), "
	    "NULL, NULL, NULL, NULL, NULL, NULL FROM jsonb_to_recordset("
	    "$2::jsonb) AS w (aip_id uuid, version int, path text, size "
	    "bigint, sha256 text)", 2, &params[1]) == -1 ||
	    db_query(d->db, NULL, "UPDATE case_files c SET version = x.version "
	    "FROM " V_SQL("1") " WHERE c.aip_id = x.aip_id AND c.version = "
	    "x.prev", 1, &params[1]) == -1 ||
	    db_query(d->db, NULL, "UPDATE records r SET version = x.version "
	    "FROM " V_SQL("1") " WHERE r.aip_id = x.aip_id AND r.version = "
	    "x.prev AND r.destroyed_by IS NULL", 1, &params[1]) == -1)
		goto out;
	/* An AIP whose every record is gone: its case files' and its own
	 * title too (a title may name a person); the tombstones stay. */
	if (db_query(d->db, NULL, "WITH x AS (SELECT * FROM " V_SQL("1") "), "
	    "gone AS (SELECT x.aip_id FROM x WHERE NOT EXISTS (SELECT 1 FROM records "
	    "r WHERE r.aip_id = x.aip_id AND r.version = x.version)), c AS "
	    "(UPDATE case_files SET title = NULL, security_reason = NULL, "
	    "personal_data = NULL WHERE aip_id IN (SELECT aip_id FROM gone) "
	    "RETURNING 1) UPDATE aips a SET current_version = x.version, "
	    "updated_at = now(), title = CASE WHEN x.aip_id IN (SELECT aip_id "
	    "FROM gone) THEN NULL ELSE a.title END FROM x WHERE a.id = "
	    "x.aip_id", 1, &params[1]) == -1)
		goto out;
#undef V_SQL
	rc = 0;
out:
	free(vtext);
	free(wtext);
	json_decref(versions);
	json_decref(written);
	return rc;
}

/* Step 2 for the group's AIPs without their disposal version.  0, or -1
 * (the database; d->err empty) — storage failures mark their AIPs failed
 * and roll the round back, to be tried again without them. */
static int
dispose_new_versions(struct dispose *d)
{
	struct db_result *r = NULL, *files = NULL;
	const char *params[2] = { d->batch, NULL };
	char work[PATH_MAX], tmp[PATH_MAX], aipdir[PATH_MAX], *ids;
	struct daip *a;
	bool oom, replaced, storage = false;
	int i, first, rc = -1;
	size_t k;

	if ((ids = dispose_ids(d, want_new, &oom)) == NULL)
		return oom ? -1 : 0;
	params[1] = ids;
	/* The group's own folder: another worker may run another group of
	 * the same batch (named by this group's first AIP, which only this
	 * worker holds). */
	process_path(work, sizeof(work), "%s/disposal-%s-%s",
	    d->cfg->storage_work, d->batch, d->aips[0].id);
	unpack_remove(work);
	if (mkdir(work, 0750) == -1) {
		snprintf(d->err, sizeof(d->err), "mkdir %.400s: %s", work,
		    strerror(errno));
		log_warn("disposal %s: %s", d->batch, d->err);
		for (k = 0; k < d->n; k++)
			if (want_new(&d->aips[k]))
				d->aips[k].failed = true;
		free(ids);
		return 0;
	}
	if (db_begin(d->db) == -1 || db_query(d->db, &r, "SELECT id, "
	    "current_version FROM aips WHERE id = ANY ($1::uuid[]) ORDER BY id "
	    "FOR UPDATE", 1, &params[1]) == -1)
		goto out;
	for (i = 0; i < db_rows(r); i++)
		if ((a = dispose_find(d, db_value(r, i, 0))) != NULL)
			a->prev = atoi(db_value(r, i, 1));
	db_result_free(r);
	r = NULL;
	/* Under the AIPs' row locks: an item whose record a later transfer
	 * has superseded since its check is not destroyed (its new version
	 * was never checked nor approved), and an AIP whose disposal
	 * version another worker made meanwhile is not made twice; either
	 * way the group is looked at again. */
	if (db_query(d->db, &r, "WITH s AS (UPDATE disposal_items u SET state "
	    "= 'skipped', skip_reason = 'superseded', done_at = now() FROM "
	    GROUP_ITEMS("'deleting'") " di JOIN records rr ON rr.id = "
	    "di.record_id JOIN aips aa ON aa.id = rr.aip_id WHERE u.batch_id = "
	    "di.batch_id AND u.record_id = di.record_id AND rr.version <> "
	    "aa.current_version RETURNING 1) SELECT (SELECT count(*) FROM s) + "
	    "(SELECT count(*) FROM aip_versions v WHERE v.disposal_batch = "
	    "$1::uuid AND v.aip_id = ANY ($2::uuid[]))", 2, params) == -1)
		goto out;
	if (strcmp(db_value(r, 0, 0), "0") != 0) {
		rc = db_commit(d->db) == -1 ? -1 : 0;
		for (k = 0; k < d->n; k++)
			if (want_new(&d->aips[k]))
				d->aips[k].retry = true;
		goto out;
	}
	if (dispose_redact_catalogue(d, ids) == -1 ||
	    dispose_load_tombstones(d, ids) == -1 ||
	    db_query(d->db, &files, "SELECT f.aip_id, f.path, encode(f.sha256, "
	    "'hex'), f.size, f.destroyed_by IS NOT NULL FROM files f JOIN aips "
	    "a ON a.id = f.aip_id AND f.version = a.current_version WHERE "
	    "f.aip_id = ANY ($1::uuid[]) ORDER BY f.aip_id, f.path", 1,
	    &params[1]) == -1)
		goto out;
	/* Each bag written; a storage failure fails its AIP alone. */
	for (i = 0; i < db_rows(files); i = first) {
		first = i;
		while (i < db_rows(files) && strcmp(db_value(files, i, 0),
		    db_value(files, first, 0)) == 0)
			i++;
		if ((a = dispose_find(d, db_value(files, first, 0))) == NULL)
			continue;
		process_path(tmp, sizeof(tmp), "%s/%s-bag", work, a->id);
		d->err[0] = '\0';
		if (dispose_write_bag(d, a, files, first, i, work, tmp) == -1) {
			log_warn("disposal %s, AIP %s: %s", d->batch, a->id,
			    d->err);
			a->failed = storage = true;
		}
		first = i;
	}
	if (storage) {
		rc = 0;			/* tried again without them */
		goto out;
	}
	if (aip_sync(d->cfg->storage_root, d->err, sizeof(d->err)) == -1)
		goto storage_failed;
	for (k = 0; k < d->n; k++) {
		a = &d->aips[k];
		if (!want_new(a))
			continue;
		process_path(tmp, sizeof(tmp), "%s/%s-bag", work, a->id);
		process_path(aipdir, sizeof(aipdir), "%s/aips/%s",
		    d->cfg->storage_root, a->id);
		if (aip_place(tmp, aipdir, a->prev + 1, &replaced, d->err,
		    sizeof(d->err)) == -1) {
			/* It alone fails; the others again without it (a bag
			 * placed meanwhile is replaced then). */
			log_warn("disposal %s, AIP %s: %s", d->batch, a->id,
			    d->err);
			a->failed = true;
			rc = 0;
			goto out;
		}
	}
	if (aip_sync(d->cfg->storage_root, d->err, sizeof(d->err)) == -1)
		goto storage_failed;
	if (dispose_catalogue_versions(d, ids) == -1 || db_commit(d->db) == -1)
		goto out;
	for (k = 0; k < d->n; k++)
		if (want_new(&d->aips[k]))
			d->aips[k].version = d->aips[k].prev + 1;
	rc = 0;
	goto out;
storage_failed:
	log_warn("disposal %s: %s", d->batch, d->err);
	for (k = 0; k < d->n; k++)
		if (want_new(&d->aips[k]))
			d->aips[k].failed = true;
	rc = 0;
out:
	if (db_in_transaction(d->db))
		db_rollback(d->db);
	unpack_remove(work);
	for (k = 0; k < d->n; k++) {
		bag_free(&d->aips[k].bag);
		memset(&d->aips[k].bag, 0, sizeof(d->aips[k].bag));
	}
	db_result_free(r);
	db_result_free(files);
	free(ids);
	return rc;
}

/* ---- 3. older versions and other copies -------------------------------- */

/* One older version of d->cur: metadata redacted, the destroyed files
 * gone, manifests again.  rows: its files (aip, version, path, dropped)
 * from first to last. */
static int
dispose_old_version(struct dispose *d, struct db_result *rows, int first,
    int last)
{
	char dir[PATH_MAX], src[PATH_MAX], tmp[PATH_MAX], tag[65];
	int i;

	process_path(dir, sizeof(dir), "%s/aips/%s/v%d", d->cfg->storage_root,
	    d->cur->id, d->curv);
	strmap_free(&d->drop);
	if (strmap_init(&d->drop, (size_t)(last - first) + 1, true) == -1)
		return -1;
	for (i = first; i < last; i++) {
		const char *path = db_value(rows, i, 2);

		if (strcmp(db_value(rows, i, 3), "t") == 0) {
			if (strmap_put(&d->drop, path, 0) == -1)
				return -1;
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
			return -1;
		}
	}
	if (aip_remanifest(dir, dispose_is_dropped, dispose_changed, d, tag,
	    d->err, sizeof(d->err)) == -1)
		return -1;
	json_array_append_new(d->tags, json_pack("{s:s,s:i,s:s}", "aip_id",
	    d->cur->id, "version", d->curv, "tag", tag));
	return 0;
}

/* The other copies: a submitted package still kept in the spool, and the
 * inbox report beside it, of every transfer that brought a destroyed
 * record. */
static int
dispose_other_copies(struct dispose *d, const char *ids)
{
	struct db_result *r = NULL;
	const char *params[2] = { d->batch, ids };
	char path[PATH_MAX];
	int i;

	if (db_query(d->db, &r, "SELECT DISTINCT t.id, t.inbox_name, "
	    "t.package_kept_until IS NOT NULL FROM transfers t JOIN records r "
	    "ON r.transfer_id = t.id WHERE r.id IN " GONE_RECORDS_SQL, 2,
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

/* Step 3 for every AIP of the group that has its disposal version. */
static int
dispose_old_versions(struct dispose *d)
{
	struct db_result *r = NULL;
	const char *params[4] = { d->batch, NULL, NULL, NULL };
	char *ids, *vtext = NULL, *ctext = NULL, *ttext = NULL;
	json_t *versions = json_array();
	struct daip *a;
	bool oom;
	int i, first, rc = -1;
	size_t k;

	if ((ids = dispose_ids(d, want_old, &oom)) == NULL) {
		json_decref(versions);
		return oom ? -1 : 0;
	}
	for (k = 0; k < d->n; k++)
		if (want_old(&d->aips[k]))
			json_array_append_new(versions, json_pack("{s:s,s:i}",
			    "aip_id", d->aips[k].id, "version",
			    d->aips[k].version));
	if ((vtext = json_dumps(versions, JSON_COMPACT)) == NULL)
		goto out;
	params[1] = vtext;
	if (db_query(d->db, &r, "SELECT f.aip_id, f.version, f.path, "
	    "f.destroyed_by IS NOT NULL AND f.destroyed_by = $1::uuid FROM "
	    "jsonb_to_recordset($2::jsonb) AS x (aip_id uuid, version int) "
	    "JOIN files f ON f.aip_id = x.aip_id AND f.version < x.version "
	    "ORDER BY f.aip_id, f.version, f.path", 2, params) == -1)
		goto out;
	json_array_clear(d->changed);
	json_array_clear(d->tags);
	for (i = 0; i < db_rows(r); ) {
		first = i;
		while (i < db_rows(r) && strcmp(db_value(r, i, 0),
		    db_value(r, first, 0)) == 0 && strcmp(db_value(r, i, 1),
		    db_value(r, first, 1)) == 0)
			i++;
		if ((a = dispose_find(d, db_value(r, first, 0))) == NULL ||
		    a->failed)
			continue;
		d->cur = a;
		d->curv = atoi(db_value(r, first, 1));
		d->err[0] = '\0';
		/* Its new version is committed: what is left is redone
		 * (each step may run again), never given up. */
		if (dispose_old_version(d, r, first, i) == -1) {
			log_warn("disposal %s, AIP %s v%d: %s (tried again "
			    "later)", d->batch, a->id, d->curv, d->err[0] ?
			    d->err : "out of memory");
			a->retry = true;
		}
	}
	if ((ctext = json_dumps(d->changed, JSON_COMPACT)) == NULL ||
	    (ttext = json_dumps(d->tags, JSON_COMPACT)) == NULL)
		goto out;
	params[1] = ids;
	params[2] = ctext;
	params[3] = ttext;
	if (db_begin(d->db) == -1 || db_query(d->db, NULL, "UPDATE files f SET "
	    "sha256 = decode(x.sha256, 'hex'), size = x.size FROM "
	    "jsonb_to_recordset($1::jsonb) AS x (aip_id uuid, version int, "
	    "path text, sha256 text, size bigint) WHERE f.aip_id = x.aip_id "
	    "AND f.version = x.version AND f.path = x.path", 1,
	    &params[2]) == -1 ||
	    db_query(d->db, NULL, "UPDATE aip_versions v SET tagmanifest_sha256 "
	    "= decode(x.tag, 'hex') FROM jsonb_to_recordset($1::jsonb) AS x "
	    "(aip_id uuid, version int, tag text) WHERE v.aip_id = x.aip_id "
	    "AND v.version = x.version", 1, &params[3]) == -1 ||
	    dispose_other_copies(d, ids) == -1 || db_commit(d->db) == -1)
		goto out;
	/* Durable before the items say destroyed. */
	if (aip_sync(d->cfg->storage_root, d->err, sizeof(d->err)) == -1) {
		log_warn("disposal %s: %s (tried again later)", d->batch,
		    d->err);
		for (k = 0; k < d->n; k++)
			if (want_old(&d->aips[k]))
				d->aips[k].retry = true;
	}
	rc = 0;
out:
	if (db_in_transaction(d->db))
		db_rollback(d->db);
	json_decref(versions);
	db_result_free(r);
	free(ids);
	free(vtext);
	free(ctext);
	free(ttext);
	return rc;
}

/* ---- 4. destroyed ---------------------------------------------------------- */

static int
dispose_done(struct dispose *d)
{
	const char *params[2] = { d->batch, NULL };
	char *ids;
	json_t *details;
	bool oom;
	size_t k;
	int rc = -1;

	if ((ids = dispose_ids(d, want_done, &oom)) == NULL)
		return oom ? -1 : 0;
	params[1] = ids;
	if (db_begin(d->db) == -1 || db_query(d->db, NULL, "UPDATE "
	    "disposal_items u SET state = 'destroyed', done_at = now() FROM "
	    GROUP_ITEMS("'deleting'") " di WHERE u.batch_id = di.batch_id AND "
	    "u.record_id = di.record_id", 2, params) == -1)
		goto out;
	for (k = 0; k < d->n; k++) {
		struct daip *a = &d->aips[k];

		if (!want_done(a))
			continue;
		details = json_pack("{s:s,s:I,s:i}", "batch", d->batch,
		    "records", (json_int_t)a->gone.n, "version", a->version);
		if (audit_record(d->db, &(struct audit_event){ .actor = "sailo",
		    .action = "disposal.destroy", .object_type = "aip",
		    .object_id = a->id, .outcome = AUDIT_SUCCESS, .details =
		    details }) == -1) {
			json_decref(details);
			goto out;
		}
		json_decref(details);
	}
	if (db_commit(d->db) == -1)
		goto out;
	rc = 0;
out:
	if (db_in_transaction(d->db))
		db_rollback(d->db);
	free(ids);
	return rc;
}

/* The failed AIPs' open items, marked failed with why. */
static void
dispose_fail_marks(struct dispose *d)
{
	const char *params[3] = { d->batch, NULL, NULL };
	char *ids;
	bool oom;

	if ((ids = dispose_ids(d, want_failed, &oom)) == NULL)
		return;
	params[1] = ids;
	/* The details (paths, which may name people) stay in the log. */
	params[2] = "storage failed: nothing of it was destroyed; the "
	    "daemon's log says where";
	if (db_query(d->db, NULL, "UPDATE disposal_items u SET state = "
	    "'failed', error = $3, done_at = now() FROM "
	    GROUP_ITEMS("'pending', 'deleting'") " di WHERE u.batch_id = "
	    "di.batch_id AND u.record_id = di.record_id", 3, params) == -1)
		log_warn("disposal %s: cannot mark items failed: %s", d->batch,
		    db_error(d->db));
	free(ids);
}

/* The group, from check to destroyed. */
static int
dispose_group(struct dispose *d)
{
	struct db_result *r = NULL;
	const char *params[1] = { d->batch };
	char *ids;
	bool oom;
	double t[4] = { dispose_now(), 0, 0, 0 };
	int rc = -1;

	if ((ids = dispose_ids(d, want_ok, &oom)) == NULL)
		return -1;
	if (db_query(d->db, NULL, "UPDATE disposal_batches SET status = "
	    "'running', started_at = COALESCE(started_at, now()) WHERE id = "
	    "$1::uuid AND status = 'approved'", 1, params) == -1 ||
	    dispose_check(d, ids) == -1 || dispose_load(d, ids) == -1 ||
	    db_query(d->db, &r, "SELECT p.name, q.name FROM disposal_batches "
	    "b JOIN principals p ON p.id = b.proposed_by JOIN principals q ON "
	    "q.id = b.decided_by WHERE b.id = $1::uuid", 1, params) == -1 ||
	    db_rows(r) != 1)
		goto out;
	snprintf(d->proposer, sizeof(d->proposer), "%s", db_value(r, 0, 0));
	snprintf(d->approver, sizeof(d->approver), "%s", db_value(r, 0, 1));
	t[1] = dispose_now();
	if (dispose_new_versions(d) == -1)
		goto out;
	t[2] = dispose_now();
	if (dispose_old_versions(d) == -1)
		goto out;
	t[3] = dispose_now();
	if (dispose_done(d) == -1)
		goto out;
	log_info("disposal %s: %zu AIPs: check %.2f s, new versions %.2f s, "
	    "older versions %.2f s, done %.2f s", d->batch, d->n, t[1] - t[0],
	    t[2] - t[1], t[3] - t[2], dispose_now() - t[3]);
	rc = 0;
out:
	dispose_fail_marks(d);
	db_result_free(r);
	free(ids);
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
	size_t k;
	int i, rc = 0;

	memset(&d, 0, sizeof(d));
	/* The oldest approved batch's AIPs with work left, by the open
	 * items' index. */
	if (db_query(db, &r, "WITH b AS (SELECT b.id FROM disposal_batches b "
	    "WHERE b.status IN ('approved', 'running') AND EXISTS (SELECT 1 "
	    "FROM disposal_items x WHERE x.batch_id = b.id AND x.state IN "
	    "('pending', 'deleting')) ORDER BY b.decided_at, b.id LIMIT 1) "
	    "SELECT DISTINCT di.batch_id, di.aip_id FROM b JOIN disposal_items "
	    "di ON di.batch_id = b.id AND di.state IN ('pending', 'deleting') "
	    "ORDER BY di.batch_id, di.aip_id LIMIT 1000", 0, NULL) == -1)
		return -1;
	if (db_rows(r) > 0 && (d.aips = calloc(DISPOSE_GROUP,
	    sizeof(*d.aips))) == NULL) {
		db_result_free(r);
		return -1;
	}
	for (i = 0; i < db_rows(r) && d.n < DISPOSE_GROUP; i++) {
		params[0] = db_value(r, i, 1);
		if (db_query(db, &lk, "SELECT pg_try_advisory_lock("
		    DISPOSE_LOCK_CLASS ", hashtext($1))", 1, params) == -1) {
			rc = -1;
			break;
		}
		if (strcmp(db_value(lk, 0, 0), "t") == 0)
			snprintf(d.aips[d.n++].id, 37, "%s", params[0]);
		db_result_free(lk);
		lk = NULL;
	}
	if (d.n > 0 && rc == 0) {
		d.db = db;
		d.cfg = cfg;
		d.batch = db_value(r, 0, 0);
		d.changed = json_array();
		d.tags = json_array();
		if (dispose_group(&d) == -1) {
			log_warn("disposal %s: %s", d.batch, d.err[0] ? d.err :
			    db_error(db));
			rc = -1;
		} else
			rc = 1;
	}
	for (k = 0; k < d.n; k++) {
		params[0] = d.aips[k].id;
		(void)db_query(db, NULL, "SELECT pg_advisory_unlock("
		    DISPOSE_LOCK_CLASS ", hashtext($1))", 1, params);
		strmap_free(&d.aips[k].gone);
		json_decref(d.aips[k].tombs);
	}
	strmap_free(&d.drop);
	json_decref(d.changed);
	json_decref(d.tags);
	free(d.aips);
	db_result_free(r);
	if (rc != 0)
		return rc;
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
