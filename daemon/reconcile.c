/*
 * reconcile.c — at start-up, what lies in the spool is compared with the
 * catalogue, and nothing is silently ignored: a package (<id>.pkg) without
 * its transfer is reported (kept for a person to look at); a part file of
 * a resumable upload that still exists is kept; any other part file not
 * written for RECONCILE_PART_AGE_S is what a request cut off by a crash
 * left, whose client never heard back, and is removed (a younger one may
 * be another daemon's upload in progress).  Runs once, at start-up, before
 * the daemon serves.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "ingest.h"
#include "log.h"
#include "reconcile.h"

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
