/*
 * reconcile.c — at start-up, what lies in the spool is compared with the
 * catalogue, and nothing is silently ignored: a package (<id>.pkg) without
 * its transfer is reported (kept for a person to look at); a part file of
 * a resumable upload that still exists is kept; any other part file not
 * written for RECONCILE_PART_AGE_S is what a request cut off by a crash
 * left, whose client never heard back, and is removed (a younger one may
 * be another daemon's upload in progress).  Runs once, at start-up, before
 * the daemon serves.
 *
 * Then, on a job worker while the daemon serves, the AIP store: a version
 * folder without its catalogue row, or a catalogued version whose folder
 * is gone, is logged and audited (store.reconcile, outcome failure), never
 * removed or ignored: a person decides.  Temporary bags of transfers that
 * are over are removed.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "audit.h"
#include "config.h"
#include "db.h"
#include "ingest.h"
#include "log.h"
#include "reconcile.h"
#include "search.h"

#define RECONCILE_PART_AGE_S	600

struct reconcile {
	struct app	*app;
	struct db	*db;
	int		 orphans, removed, failed;
};

static void
reconcile_one(const char *name, int is_package, long age_s, void *arg)
{
	struct reconcile *rc = arg;
	struct db_result *r = NULL;
	const char *params[1] = { name };

	if (rc->failed || (!is_package && age_s < RECONCILE_PART_AGE_S))
		return;
	if (!api_is_uuid(name)) {
		if (!is_package) {	/* a cut-off POST's part file */
			spool_remove_part(rc->app->cfg->storage_spool, name);
			rc->removed++;
		} else {
			log_warn("spool: %s.pkg is not named for a transfer",
			    name);
			rc->orphans++;
		}
		return;
	}
	if (db_query(rc->db, &r, is_package ?
	    "SELECT 1 FROM transfers WHERE id = $1" :
	    "SELECT 1 FROM uploads WHERE id = $1", 1, params) == -1) {
		log_warn("spool reconciliation: %s", db_error(rc->db));
		rc->failed = 1;
		return;
	}
	if (db_rows(r) == 0) {
		if (is_package) {
			log_warn("spool: %s.pkg has no transfer in the "
			    "catalogue: kept for inspection", name);
			rc->orphans++;
		} else {
			spool_remove_part(rc->app->cfg->storage_spool, name);
			rc->removed++;
		}
	}
	db_result_free(r);
}

void
reconcile_spool_job(struct db *db, void *arg)
{
	struct reconcile rc = { arg, db, 0, 0, 0 };

	spool_list(rc.app->cfg->storage_spool, reconcile_one, &rc);
	if (rc.orphans || rc.removed)
		log_info("spool reconciliation: %d package(s) without a "
		    "transfer, %d abandoned part file(s) removed", rc.orphans,
		    rc.removed);
}

/* ---- the AIP store ------------------------------------------------------ */

struct store_check {
	struct db	*db;
	const char	*root;
	long		 in_flight;	/* placed by a transfer in progress */
	json_t		*batch;		/* [{"a": id, "v": N}] on disk */
	json_t		*mismatches;	/* the first RECONCILE_LIST */
	long		 on_disk, orphans, missing;
	int		 failed;
};

#define RECONCILE_LIST	100

static void
store_mismatch(struct store_check *sc, const char *kind, const char *id,
    int version)
{
	log_warn("store: %s: AIP %s version %d", kind, id, version);
	if (json_array_size(sc->mismatches) < RECONCILE_LIST)
		json_array_append_new(sc->mismatches, json_pack("{s:s,s:s,"
		    "s:i}", "kind", kind, "aip", id, "version", version));
}

/* True when the folder is a bag a transfer still being processed has just
 * placed (this daemon's or another's): its catalogue row comes with that
 * transfer's commit, or the folder goes with its try. */
static bool
store_in_flight(struct store_check *sc, const char *root, const char *id,
    int version)
{
	struct db_result *r = NULL;
	char path[PATH_MAX], line[256], tid[37] = "";
	const char *params[1] = { tid };
	bool busy = false;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/aips/%s/v%d/bag-info.txt", root, id,
	    version);
	if ((fp = fopen(path, "r")) == NULL)
		return false;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, "Sailo-Transfer-Id: ", 19) == 0)
			snprintf(tid, sizeof(tid), "%.36s", line + 19);
	fclose(fp);
	if (!api_is_uuid(tid))
		return false;
	if (db_query(sc->db, &r, "SELECT 1 FROM transfers WHERE id = $1 AND "
	    "status IN ('received', 'validating')", 1, params) == 0)
		busy = db_rows(r) == 1;
	db_result_free(r);
	return busy;
}

/* Which of the folders in the batch the catalogue does not know. */
static void
store_flush(struct store_check *sc)
{
	struct db_result *r = NULL;
	const char *params[1];
	char *text;
	int i;

	if (json_array_size(sc->batch) == 0 || sc->failed)
		return;
	text = json_dumps(sc->batch, JSON_COMPACT);
	params[0] = text;
	if (text == NULL || db_query(sc->db, &r, "SELECT x.a, x.v FROM "
	    "jsonb_to_recordset($1::jsonb) AS x(a uuid, v int) WHERE NOT "
	    "EXISTS (SELECT 1 FROM aip_versions v WHERE v.aip_id = x.a AND "
	    "v.version = x.v)", 1, params) == -1)
		sc->failed = 1;
	for (i = 0; !sc->failed && i < db_rows(r); i++) {
		if (store_in_flight(sc, sc->root, db_value(r, i, 0),
		    atoi(db_value(r, i, 1)))) {
			sc->in_flight++;
			continue;
		}
		sc->orphans++;
		store_mismatch(sc, "folder without a catalogue row",
		    db_value(r, i, 0), atoi(db_value(r, i, 1)));
	}
	db_result_free(r);
	free(text);
	json_array_clear(sc->batch);
}

/* What tries of transfers that are over left in folder dir (temporary
 * bags, unpacked packages, metadata extracts: a daemon killed between its
 * commit and its clean-up): <id> and <id>.meta. */
static void
store_clean(struct store_check *sc, const char *dir)
{
	struct db_result *r = NULL;
	char path[PATH_MAX], id[37];
	const char *params[1] = { id };
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		snprintf(id, sizeof(id), "%.36s", de->d_name);
		if (!api_is_uuid(id) || (de->d_name[36] != '\0' &&
		    strcmp(de->d_name + 36, ".meta") != 0))
			continue;
		if (db_query(sc->db, &r, "SELECT 1 FROM transfers WHERE id = "
		    "$1 AND status IN ('accepted', 'rejected', 'failed')", 1,
		    params) == 0 && db_rows(r) == 1) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unpack_remove(path);
		}
		db_result_free(r);
		r = NULL;
	}
	closedir(d);
}

void
reconcile_store_job(struct db *db, void *arg)
{
	struct app *app = arg;
	const char *root = app->cfg->storage_root;
	struct store_check sc = { .db = db, .root = root,
	    .batch = json_array(), .mismatches = json_array() };
	struct db_result *r = NULL;
	char path[PATH_MAX], after_id[37] = "", after_v[16] = "0";
	const char *params[2];
	struct dirent *de, *ve;
	struct stat st;
	DIR *d, *vd;
	json_t *details;
	int i;

	snprintf(path, sizeof(path), "%s/aips", root);
	if ((d = opendir(path)) != NULL) {
		while (!sc.failed && (de = readdir(d)) != NULL) {
			if (!api_is_uuid(de->d_name))
				continue;
			snprintf(path, sizeof(path), "%s/aips/%s", root,
			    de->d_name);
			if ((vd = opendir(path)) == NULL)
				continue;
			while ((ve = readdir(vd)) != NULL) {
				if (ve->d_name[0] != 'v' ||
				    atoi(ve->d_name + 1) < 1)
					continue;
				sc.on_disk++;
				json_array_append_new(sc.batch, json_pack(
				    "{s:s,s:i}", "a", de->d_name, "v",
				    atoi(ve->d_name + 1)));
				if (json_array_size(sc.batch) >= 1000)
					store_flush(&sc);
			}
			closedir(vd);
		}
		closedir(d);
		store_flush(&sc);
	}
	/* Catalogued versions whose folder is gone, in keyset pages. */
	while (!sc.failed) {
		params[0] = after_id[0] ? after_id : NULL;
		params[1] = after_v;
		if (db_query(db, &r, "SELECT aip_id, version FROM aip_versions "
		    "WHERE $1::uuid IS NULL OR (aip_id, version) > ($1::uuid, "
		    "$2::int) ORDER BY aip_id, version LIMIT 1000", 2,
		    params) == -1) {
			sc.failed = 1;
			break;
		}
		for (i = 0; i < db_rows(r); i++) {
			snprintf(path, sizeof(path), "%s/aips/%s/v%s", root,
			    db_value(r, i, 0), db_value(r, i, 1));
			if (stat(path, &st) == -1) {
				sc.missing++;
				store_mismatch(&sc, "catalogued but not on "
				    "disk", db_value(r, i, 0),
				    atoi(db_value(r, i, 1)));
			}
		}
		if (db_rows(r) < 1000) {
			db_result_free(r);
			break;
		}
		snprintf(after_id, sizeof(after_id), "%s",
		    db_value(r, db_rows(r) - 1, 0));
		snprintf(after_v, sizeof(after_v), "%s",
		    db_value(r, db_rows(r) - 1, 1));
		db_result_free(r);
	}
	if (sc.failed)
		log_warn("store reconciliation: %s", db_error(db));
	else {
		snprintf(path, sizeof(path), "%s/aips/.tmp", root);
		store_clean(&sc, path);
		store_clean(&sc, app->cfg->storage_work);
		log_info("store reconciliation: %ld AIP version(s) on disk, %ld "
		    "without a catalogue row, %ld catalogued but missing, %ld "
		    "being stored", sc.on_disk, sc.orphans, sc.missing,
		    sc.in_flight);
		details = json_pack("{s:I,s:I,s:I,s:O}", "on_disk",
		    (json_int_t)sc.on_disk, "orphans", (json_int_t)sc.orphans,
		    "missing", (json_int_t)sc.missing, "mismatches",
		    sc.mismatches);
		if (sc.orphans || sc.missing) {
			struct audit_event ev = {
				.actor = "system", .action = "store.reconcile",
				.object_type = "store",
				.outcome = AUDIT_FAILURE, .details = details,
			};

			if (audit_record(db, &ev) == -1)
				log_warn("store reconciliation: not audited: "
				    "%s", db_error(db));
		}
		json_decref(details);
	}
	json_decref(sc.batch);
	json_decref(sc.mismatches);
}

void
reconcile_search_job(struct db *db, void *arg)
{
	long n;

	(void)arg;
	if ((n = search_backfill(db, 1000)) == -1)
		log_warn("search: cannot index older records: %s",
		    db_error(db));
	else if (n > 0)
		log_info("search: indexed %ld record(s) catalogued before "
		    "full-text search", n);
}
