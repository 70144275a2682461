/*
 * inbox_watch.c — packages dropped into ingest.inbox_dir become transfers
 * of the principal `inbox`, as if an integration had sent them; each gets
 * NAME.report.json in ingest.outbox_dir.  A timer on the loop starts one
 * scan at a time on a job worker; the file work is ingest/inbox.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "db.h"
#include "ingest.h"
#include "inbox_watch.h"
#include "log.h"
#include "transfers.h"

#define INBOX_WATCH_BATCH	16	/* packages a scan takes at most */

/* The inbox principal, made on first use. */
static int
inbox_watch_principal(struct db *db, char id[37])
{
	struct db_result *r = NULL;
	const char *params[1] = { "inbox" };

	if (db_query(db, &r, "INSERT INTO principals (name) VALUES ($1) "
	    "ON CONFLICT (name) DO UPDATE SET clearance = principals.clearance "
	    "RETURNING id", 1, params) == -1)
		return -1;
	snprintf(id, 37, "%s", db_value(r, 0, 0));
	db_result_free(r);
	return 0;
}

static void
inbox_watch_report(struct app *app, const char *name, json_t *report)
{
	char *text = json_dumps(report, JSON_COMPACT), err[512];

	if (text == NULL ||
	    inbox_report(app->cfg->ingest_outbox_dir, name, text, err,
	    sizeof(err)) == -1)
		log_warn("inbox: %s: no report: %s", name, text ? err :
		    "out of memory");
	free(text);
	json_decref(report);
}

/* Takes one package; returns 0 to go on, -1 to stop this scan (the
 * database or the disk is failing: the package stays for the next). */
static int
inbox_watch_take(struct app *app, struct db *db, const char *name,
    const char *principal_id)
{
	const struct config *cfg = app->cfg;
	struct spool_file *f = NULL;
	struct api_call *call;
	char path[4096], sha[65], err[512], tid[37];
	uint64_t size = 0;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", cfg->ingest_inbox_dir, name);
	if (access(path, R_OK) == -1) {
		/* The package's fault, not the archive's: out of the way,
		 * or every scan would try it again. */
		inbox_watch_report(app, name, json_pack("{s:s,s:{s:s,s:s}}",
		    "file", name, "error", "code", "UNREADABLE", "message",
		    "the archive may not read this file (permissions)"));
		inbox_reject(cfg->ingest_inbox_dir, cfg->ingest_outbox_dir,
		    name);
		return 0;
	}
	if (spool_adopt(&f, cfg->storage_spool, path, err, sizeof(err)) == -1 ||
	    spool_hash(f, sha, &size, err, sizeof(err)) == -1) {
		log_warn("inbox: %s: %s", name, err);
		spool_discard(f);
		return -1;
	}
	if (size == 0) {
		spool_discard(f);
		inbox_watch_report(app, name, json_pack("{s:s,s:{s:s,s:s}}",
		    "file", name, "error", "code", "EMPTY_PACKAGE", "message",
		    "the file is empty"));
		inbox_reject(cfg->ingest_inbox_dir, cfg->ingest_outbox_dir,
		    name);
		return 0;
	}
	if ((call = calloc(1, sizeof(*call))) == NULL) {
		spool_discard(f);
		return -1;
	}
	call->app = app;
	snprintf(call->who.id, sizeof(call->who.id), "%s", principal_id);
	snprintf(call->who.name, sizeof(call->who.name), "inbox");
	call->who.role = ROLE_INTEGRATION;
	transfer_record(call, db, f, sha, size, NULL, NULL, NULL, name,
	    tid);
	if (call->status == 200 || call->status == 202) {
		inbox_watch_report(app, name, json_pack("{s:s,s:O}", "file",
		    name, "transfer", call->reply));
		inbox_remove(cfg->ingest_inbox_dir, name);
		log_info("inbox: %s is transfer %s", name, tid);
	} else if (call->status == 409 || call->status == 400) {
		inbox_watch_report(app, name, json_pack("{s:s,s:O}", "file",
		    name, "error", json_object_get(call->reply, "error")));
		inbox_reject(cfg->ingest_inbox_dir, cfg->ingest_outbox_dir,
		    name);
	} else
		rc = -1;		/* 5xx: try again at the next scan */
	api_call_free(call);
	return rc;
}

void
inbox_watch_job(struct db *db, void *arg)
{
	struct app *app = arg;
	char principal_id[37], *name;
	int n;

	if (app->cfg->ingest_inbox_dir[0] == '\0')
		return;
	for (n = 0; n < INBOX_WATCH_BATCH; n++) {
		name = inbox_next(app->cfg->ingest_inbox_dir,
		    app->cfg->ingest_inbox_require_marker);
		if (name == NULL)
			break;
		if (n == 0 && inbox_watch_principal(db, principal_id) == -1) {
			log_warn("inbox: database: %s", db_error(db));
			free(name);
			break;
		}
		if (inbox_watch_take(app, db, name, principal_id) == -1) {
			free(name);
			break;
		}
		free(name);
	}
}
