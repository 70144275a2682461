/*
 * report.c — a transfer as JSON, and its report (the transfer with every
 * finding of its last processing), for the API and the inbox's outbox.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "ingest.h"

json_t *
ingest_transfer_json(struct db_result *r, int i)
{
	json_t *t, *aips;

	aips = json_loads(db_value(r, i, 8), 0, NULL);
	t = json_pack("{s:s,s:s,s:s?,s:s,s:I,s:s,s:s,s:o}",
	    "id", db_value(r, i, 0), "status", db_value(r, i, 1),
	    "format", db_isnull(r, i, 2) ? NULL : db_value(r, i, 2),
	    "package_sha256", db_value(r, i, 3),
	    "size", (json_int_t)strtoll(db_value(r, i, 4), NULL, 10),
	    "submitted_by", db_value(r, i, 5),
	    "submitted_at", db_value(r, i, 6),
	    "aips", aips ? aips : json_array());
	if (t && !db_isnull(r, i, 9))
		json_object_set_new(t, "finished_at",
		    json_string(db_value(r, i, 9)));
	if (t && !db_isnull(r, i, 10))
		json_object_set_new(t, "failure",
		    json_string(db_value(r, i, 10)));
	return t;
}

json_t *
ingest_report_json(struct db *db, const char *id)
{
	struct db_result *r = NULL;
	const char *params[1] = { id };
	json_t *report = NULL, *findings, *fi;
	long errors = 0, warnings = 0;
	int i;

	if (db_query(db, &r, "SELECT " INGEST_TRANSFER_COLUMNS " FROM "
	    "transfers t JOIN principals p ON p.id = t.submitted_by WHERE "
	    "t.id = $1", 1, params) == -1 || db_rows(r) != 1) {
		db_result_free(r);
		return NULL;
	}
	report = json_pack("{s:o}", "transfer", ingest_transfer_json(r, 0));
	db_result_free(r);
	r = NULL;
	if (report == NULL || db_query(db, &r, "SELECT severity, code, path, "
	    "line, message FROM transfer_findings WHERE transfer_id = $1 "
	    "ORDER BY seq", 1, params) == -1) {
		json_decref(report);
		db_result_free(r);
		return NULL;
	}
	findings = json_array();
	for (i = 0; i < db_rows(r); i++) {
		fi = json_pack("{s:s,s:s,s:s?,s:s}", "severity",
		    db_value(r, i, 0), "code", db_value(r, i, 1), "path",
		    db_isnull(r, i, 2) ? NULL : db_value(r, i, 2), "message",
		    db_value(r, i, 4));
		if (fi && !db_isnull(r, i, 3))
			json_object_set_new(fi, "line", json_integer(
			    strtoll(db_value(r, i, 3), NULL, 10)));
		json_array_append_new(findings, fi);
		if (strcmp(db_value(r, i, 0), "error") == 0)
			errors++;
		else if (strcmp(db_value(r, i, 0), "warning") == 0)
			warnings++;
	}
	json_object_set_new(report, "findings", findings);
	/* The counts of all findings (a report lists the first
	 * FINDINGS_MAX); before the end, those listed. */
	db_result_free(r);
	r = NULL;
	if (db_query(db, &r, "SELECT errors, warnings FROM transfers WHERE "
	    "id = $1 AND errors IS NOT NULL", 1, params) == 0 &&
	    db_rows(r) == 1) {
		errors = strtol(db_value(r, 0, 0), NULL, 10);
		warnings = strtol(db_value(r, 0, 1), NULL, 10);
	}
	json_object_set_new(report, "errors", json_integer(errors));
	json_object_set_new(report, "warnings", json_integer(warnings));
	db_result_free(r);
	return report;
}
