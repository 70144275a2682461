/*
 * schedule.c — disposal proposals: one records manager's (route_disposals.c)
 * or a schedule's, which the daemon makes when its moment has passed
 * (sql/010: 06:00 Europe/Helsinki on its day), as its owner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "db.h"
#include "retention.h"

/*
 * What is due on $2 among current AIP versions: dated (never permanent,
 * never waiting), not held, not in an open batch, not already destroyed;
 * optionally under function code $3 and among record ids $4.  The batch
 * row (note $1, proposer $5, schedule $6) and its items in one statement;
 * nothing when nothing is due.
 */
#define PROPOSE_SQL \
	"WITH due AS (SELECT r.id, r.aip_id, r.native_id, c.native_id AS " \
	"case_native_id, t.function_code, t.class_code, pc.title, r.type, " \
	"r.created, t.years, t.basis, t.trigger, t.trigger_date, t.end_date " \
	"FROM retention t JOIN records r ON r.id = t.record_id " \
	"JOIN aips a ON a.id = r.aip_id AND a.current_version = r.version " \
	"LEFT JOIN case_files c ON c.id = r.case_file_id " \
	"LEFT JOIN plan_classes pc ON pc.version = t.plan_version AND " \
	"pc.code = t.class_code " \
	"WHERE t.state = 'dated' AND t.end_date <= $2::date " \
	"AND ($3::text IS NULL OR (t.function_code >= $3 AND " \
	"t.function_code < $3 || '!')) " \
	"AND ($4::uuid[] IS NULL OR r.id = ANY ($4::uuid[])) " \
	"AND NOT " HOLD_COVERS_SQL("r") " AND NOT " DISPOSAL_TAKEN_SQL("r") \
	"), b AS (INSERT INTO disposal_batches (id, status, due_on, " \
	"function_code, note, items, proposed_by, schedule_id) SELECT " \
	"gen_random_uuid(), 'proposed', $2::date, $3, $1, count(*), " \
	"$5::uuid, $6::uuid FROM due HAVING count(*) > 0 RETURNING id, " \
	"items), i AS (INSERT INTO disposal_items " \
	"(batch_id, record_id, aip_id, native_id, case_native_id, " \
	"function_code, class_code, class_title, record_type, created, years, " \
	"basis, trigger, trigger_date, end_date) SELECT b.id, due.* FROM " \
	"due, b RETURNING 1) SELECT (SELECT id FROM b), (SELECT items FROM " \
	"b)"
int
disposal_propose(struct db *db, const struct disposal_proposal *p,
    char batch[37], long *items)
{
	struct db_result *r = NULL;
	const char *params[6] = { p->note, p->due_on, p->function_code,
	    p->record_ids, p->proposer, p->schedule };

	*items = 0;
	batch[0] = '\0';
	/* One proposal at a time: no record lands in two open batches. */
	if (db_query(db, NULL, "SELECT pg_advisory_xact_lock(" DISPOSAL_LOCK
	    ")", 0, NULL) == -1 || db_query(db, &r, PROPOSE_SQL, 6,
	    params) == -1)
		return -1;
	if (!db_isnull(r, 0, 0)) {
		*items = strtol(db_value(r, 0, 1), NULL, 10);
		snprintf(batch, 37, "%s", db_value(r, 0, 0));
	}
	db_result_free(r);
	return 0;
}

int
schedule_step(struct db *db)
{
	struct db_result *r = NULL;
	struct disposal_proposal p;
	char batch[37];
	long items;
	json_t *details = NULL;
	int rc = -1;

	if (db_begin(db) == -1 || db_query(db, &r, "SELECT s.id, s.every, "
	    "s.day, s.function_code, s.note, s.owner, o.name, (s.next_run_at "
	    "AT TIME ZONE 'Europe/Helsinki')::date::text FROM "
	    "disposal_schedules s JOIN principals o ON o.id = s.owner WHERE "
	    "s.deleted_at IS NULL AND s.next_run_at <= now() ORDER BY "
	    "s.next_run_at LIMIT 1 FOR UPDATE OF s SKIP LOCKED", 0,
	    NULL) == -1)
		goto out;
	if (db_rows(r) == 0) {
		rc = 0;
		goto out;
	}
	/* What is due on the day it fell due, as the owner would propose. */
	p = (struct disposal_proposal){ db_value(r, 0, 7),
	    db_isnull(r, 0, 3) ? NULL : db_value(r, 0, 3), NULL,
	    db_isnull(r, 0, 4) ? NULL : db_value(r, 0, 4), db_value(r, 0, 5),
	    db_value(r, 0, 0) };
	if (disposal_propose(db, &p, batch, &items) == -1 ||
	    db_query(db, NULL, "UPDATE disposal_schedules SET last_run_at = "
	    "now(), next_run_at = disposal_schedule_next(every, day, now()) "
	    "WHERE id = $1::uuid", 1, &p.schedule) == -1)
		goto out;
	details = json_pack("{s:s,s:s,s:o,s:I}", "schedule", p.schedule,
	    "due_on", p.due_on, "function_code", p.function_code ?
	    json_string(p.function_code) : json_null(), "items",
	    (json_int_t)items);
	if (audit_record(db, &(struct audit_event){ .actor = db_value(r, 0, 6),
	    .role = "records_manager", .action = items > 0 ?
	    "disposal.propose" : "disposal.schedule", .object_type = items > 0 ?
	    "disposal" : "disposal_schedule", .object_id = items > 0 ? batch :
	    p.schedule, .outcome = AUDIT_SUCCESS, .details = details }) == -1 ||
	    db_commit(db) == -1)
		goto out;
	rc = 1;
out:
	if (rc == -1 && db_in_transaction(db))
		db_rollback(db);
	else if (rc == 0)
		db_rollback(db);
	json_decref(details);
	db_result_free(r);
	return rc;
}
