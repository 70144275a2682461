/*
 * route_retention.c — life-cycle events and what is due:
 *   POST /v1/retention/events   a trigger's date for the records a match
 *                               finds; their retention is decided again
 *   GET  /v1/retention/due      records whose retention has ended by a day
 *   GET  /v1/retention/forecast how many end in each of the next 10 years
 * Retention itself is decided in retention/ (decide.c, recompute.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "db.h"
#include "ingest.h"
#include "package.h"
#include "retention.h"

#define EVENT_MAX_TRIGGER	500	/* bytes of a trigger's name */
#define EVENT_MAX_NATIVE_IDS	10000

/* Which records an event's match finds ($1 the value, $2 the principal
 * whose own records only, or NULL for all).  Every AIP version's records:
 * an older version is kept as long as the current one. */
#define EVENT_MATCH_PERSON \
	"SELECT p.record_id FROM record_persons p JOIN records r ON r.id = " \
	"p.record_id JOIN aips a ON a.id = r.aip_id WHERE p.ssn_hmac = " \
	"decode($1, 'hex') AND ($2::uuid IS NULL OR a.source = $2::uuid)"
#define EVENT_MATCH_CASE \
	"SELECT r.id FROM records r JOIN case_files c ON c.id = " \
	"r.case_file_id JOIN aips a ON a.id = r.aip_id WHERE c.native_id = " \
	"$1 AND ($2::uuid IS NULL OR a.source = $2::uuid)"
#define EVENT_MATCH_IDS \
	"SELECT r.id FROM records r JOIN aips a ON a.id = r.aip_id WHERE " \
	"r.native_id IN (SELECT jsonb_array_elements_text($1::jsonb)) AND " \
	"($2::uuid IS NULL OR a.source = $2::uuid)"

/* The match of an event body: its SQL, the value for $1, and what is
 * kept of it (a person by the HMAC of the code, never the code). */
struct event_match {
	const char	*sql;
	const char	*kind;
	char		*value;		/* malloc'd */
	json_t		*kept;
};

static int
event_match_parse(struct api_call *call, json_t *match,
    struct event_match *m)
{
	const char *s;
	char norm[12], hex[65];
	json_t *v;
	size_t i;

	memset(m, 0, sizeof(*m));
	if (!json_is_object(match) || json_object_size(match) != 1) {
		api_error(call, 400, "BAD_FIELD", "match: an object with one "
		    "of person_ssn, case_native_id or native_ids");
		return -1;
	}
	if ((v = json_object_get(match, "person_ssn")) != NULL) {
		/* The message never repeats what was sent. */
		if ((s = json_string_value(v)) == NULL || strlen(s) > 11 ||
		    !hetu_valid(s, norm)) {
			api_error(call, 400, "BAD_FIELD", "match.person_ssn: "
			    "not a valid Finnish personal identity code");
			return -1;
		}
		if (ingest_person_hmac(norm, hex) == -1) {
			api_error(call, 500, "INTERNAL", "the person key is "
			    "not loaded");
			return -1;
		}
		memset(norm, 0, sizeof(norm));
		m->sql = EVENT_MATCH_PERSON;
		m->kind = "person_ssn";
		m->value = strdup(hex);
		m->kept = json_pack("{s:s}", "person_hmac", hex);
	} else if ((v = json_object_get(match, "case_native_id")) != NULL) {
		if ((s = json_string_value(v)) == NULL || s[0] == '\0' ||
		    strlen(s) > 1000) {
			api_error(call, 400, "BAD_FIELD", "match.case_native_id: "
			    "a case file's NativeId (a string)");
			return -1;
		}
		m->sql = EVENT_MATCH_CASE;
		m->kind = "case_native_id";
		m->value = strdup(s);
		m->kept = json_pack("{s:s}", "case_native_id", s);
	} else if ((v = json_object_get(match, "native_ids")) != NULL) {
		if (!json_is_array(v) || json_array_size(v) == 0 ||
		    json_array_size(v) > EVENT_MAX_NATIVE_IDS) {
			api_error(call, 400, "BAD_FIELD", "match.native_ids: "
			    "an array of 1 to %d records' NativeIds",
			    EVENT_MAX_NATIVE_IDS);
			return -1;
		}
		for (i = 0; i < json_array_size(v); i++)
			if (json_string_value(json_array_get(v, i)) == NULL) {
				api_error(call, 400, "BAD_FIELD",
				    "match.native_ids[%zu]: not a string", i);
				return -1;
			}
		m->sql = EVENT_MATCH_IDS;
		m->kind = "native_ids";
		m->value = json_dumps(v, JSON_COMPACT);
		m->kept = json_pack("{s:O}", "native_ids", v);
	} else {
		api_error(call, 400, "BAD_FIELD", "match: one of person_ssn, "
		    "case_native_id or native_ids");
		return -1;
	}
	if (m->value == NULL || m->kept == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		return -1;
	}
	return 0;
}

static void
route_retention_event(struct api_call *call, struct db *db)
{
	struct event_match m = { 0 };
	struct recompute rc;
	struct recompute_stats st;
	struct ret_date date;
	struct db_result *r = NULL;
	const char *trigger, *date_text, *params[6];
	char *kept = NULL, *sql = NULL, *key = NULL, counts[2][24];
	size_t matched, changed;
	json_t *body, *details;
	bool loaded = false;

	if ((body = api_body_object(call)) == NULL)
		return;
	if (recompute_stats_init(&st) == -1) {
		api_error(call, 500, "INTERNAL", "out of memory");
		json_decref(body);
		return;
	}
	trigger = json_string_value(json_object_get(body, "trigger"));
	date_text = json_string_value(json_object_get(body, "date"));
	if (trigger == NULL || strspn(trigger, " \t\r\n") == strlen(trigger) ||
	    strlen(trigger) > EVENT_MAX_TRIGGER) {
		api_error(call, 400, "BAD_FIELD", "trigger: the trigger "
		    "(laskentaperuste) whose date this is, as the plan names "
		    "it, e.g. \"Palvelussuhteen päättyminen\"");
		goto out;
	}
	if (date_text == NULL || strlen(date_text) != 10 ||
	    !dates_parse(date_text, &date)) {
		api_error(call, 400, "BAD_FIELD", "date: a calendar date, "
		    "YYYY-MM-DD");
		goto out;
	}
	if (event_match_parse(call, json_object_get(body, "match"), &m) == -1)
		goto out;
	if ((kept = json_dumps(m.kept, JSON_COMPACT)) == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		goto out;
	}
	if (db_begin(db) == -1 || recompute_begin(&rc, db,
	    call->app->cfg) == -1)
		goto db_failed;
	loaded = true;
	/* The event, then its date for every record the match finds. */
	params[0] = trigger;
	params[1] = date_text;
	params[2] = kept;
	params[3] = call->who.name;
	if (db_query(db, &r, "INSERT INTO retention_events (id, trigger, "
	    "date, match, matched, changed, recorded_by) VALUES "
	    "(gen_random_uuid(), btrim($1), $2::date, $3::jsonb, 0, 0, $4) "
	    "RETURNING id", 4, params) == -1)
		goto db_failed;
	params[0] = m.value;
	/* An integration dates only the records it transferred. */
	params[1] = call->who.role == ROLE_INTEGRATION ? call->who.id : NULL;
	params[2] = db_value(r, 0, 0);
	/* Dates are kept by the trigger folded (case, Unicode form, the
	 * spaces around): one date per record and trigger however it was
	 * written; the event itself keeps it as sent. */
	if ((key = retention_text_key(trigger)) == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		db_rollback(db);
		goto out;
	}
	params[3] = key;
	params[4] = date_text;
	/* The matching rows locked first (in one order, so that events
	 * take turns rather than deadlock); then their dates, in a
	 * statement that sees every event committed before the lock. */
	if (asprintf(&sql, "SELECT 1 FROM retention WHERE record_id IN (%s) "
	    "ORDER BY record_id FOR UPDATE", m.sql) == -1) {
		sql = NULL;
		goto db_failed;
	}
	if (db_query(db, NULL, sql, 2, params) == -1)
		goto db_failed;
	free(sql);
	if (asprintf(&sql, "WITH m(id) AS (%s) INSERT INTO "
	    "retention_event_dates (record_id, trigger, date, event_id) "
	    "SELECT DISTINCT m.id, $4, $5::date, $3::uuid FROM m ON "
	    "CONFLICT (record_id, trigger) DO UPDATE SET date = "
	    "EXCLUDED.date, event_id = EXCLUDED.event_id", m.sql) == -1) {
		sql = NULL;
		goto db_failed;
	}
	if (db_query(db, NULL, sql, 5, params) == -1)
		goto db_failed;
	if (recompute_records(&rc, db, "t.record_id IN (SELECT record_id "
	    "FROM retention_event_dates WHERE event_id = $1::uuid)", 1,
	    &params[2], 0, false, &st) == -1)
		goto db_failed;
	matched = st.matched;
	changed = st.changed;
	/* Every matching row is written (decided now), so that a pass that
	 * read one before this event never writes it back without the
	 * event's date. */
	if (db_query(db, NULL, "UPDATE retention SET decided_at = now() "
	    "WHERE record_id IN (SELECT record_id FROM retention_event_dates "
	    "WHERE event_id = $1::uuid)", 1, &params[2]) == -1)
		goto db_failed;
	snprintf(counts[0], sizeof(counts[0]), "%zu", matched);
	snprintf(counts[1], sizeof(counts[1]), "%zu", changed);
	params[0] = db_value(r, 0, 0);
	params[1] = counts[0];
	params[2] = counts[1];
	if (db_query(db, NULL, "UPDATE retention_events SET matched = "
	    "$2::int, changed = $3::int WHERE id = $1::uuid", 3,
	    params) == -1)
		goto db_failed;
	details = json_pack("{s:s,s:s,s:s,s:I,s:I}", "trigger", trigger,
	    "date", date_text, "match", m.kind, "matched",
	    (json_int_t)matched, "changed", (json_int_t)changed);
	if (details == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		db_rollback(db);
		goto out;
	}
	if (api_audit(call, db, "retention.event", "retention_event",
	    db_value(r, 0, 0), details) == -1) {
		json_decref(details);
		db_rollback(db);
		goto out;
	}
	json_decref(details);
	if (db_commit(db) == -1)
		goto db_failed;
	api_reply(call, 200, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "id",
	    db_value(r, 0, 0), "trigger", trigger, "date", date_text, "match",
	    m.kind, "matched", (json_int_t)matched, "changed",
	    (json_int_t)changed));
	goto out;
db_failed:
	api_db_error(call, db);
	if (db_in_transaction(db))
		db_rollback(db);
out:
	if (loaded)
		recompute_free(&rc);
	recompute_stats_free(&st);
	db_result_free(r);
	free(sql);
	free(key);
	free(kept);
	free(m.value);
	json_decref(m.kept);
	json_decref(body);
}

/* ---- what is due ---------------------------------------------------------- */

/* A function code filter: whole groups ("10 03" finds "10 03 00 09").
 * In SQL the range [code, code || '!'): codes are digits and single
 * spaces, and '!' sorts between ' ' and the digits (sql/009). */
static int
retention_function_param(struct api_call *call, char **code)
{
	char *raw = NULL;
	int found = api_query_param(&raw, call->query, "function");

	*code = NULL;
	if (found == -1 || (found == 1 && (*code = package_function_code(
	    raw)) == NULL)) {
		api_error(call, 400, "BAD_PARAMETER", "function is a function "
		    "code (10 03 00 09, 10.03.00.09) or its first groups");
		free(raw);
		return -1;
	}
	free(raw);
	return 0;
}

static int
retention_day_param(struct api_call *call, const char *name, char **out)
{
	struct ret_date d;
	int found = api_query_param(out, call->query, name);

	if (found == -1 || (found == 1 && (strlen(*out) != 10 ||
	    !dates_parse(*out, &d)))) {
		api_error(call, 400, "BAD_PARAMETER", "%s is a calendar date, "
		    "YYYY-MM-DD", name);
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

#define DUE_SQL \
	"SELECT t.record_id, t.end_date::text, r.native_id, CASE WHEN " \
	"record_readable(r.publicity, r.personal_data, " \
	API_SQL_CLEARANCE("6") ") THEN r.title END, " \
	"t.function_code, t.class_code, t.years, t.basis, t.trigger, " \
	"t.trigger_date::text, r.aip_id, c.native_id, t.source " \
	"FROM retention t JOIN records r ON r.id = t.record_id " \
	"JOIN aips a ON a.id = r.aip_id AND a.current_version = r.version " \
	"LEFT JOIN case_files c ON c.id = r.case_file_id " \
	"WHERE t.state = 'dated' AND t.end_date <= COALESCE($1::date, " \
	"(now() AT TIME ZONE 'Europe/Helsinki')::date) " \
	"AND ($2::text IS NULL OR (t.function_code >= $2 AND " \
	"t.function_code < $2 || '!')) " \
	"AND ($3::date IS NULL OR (t.end_date, t.record_id) > ($3::date, " \
	"$4::uuid)) AND NOT " HOLD_COVERS_SQL("r") " " \
	"ORDER BY t.end_date, t.record_id LIMIT $5::int"

static json_t *
due_json(struct db_result *r, int i)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:s,"
	    "s:o,s:s}", "record_id", db_value(r, i, 0), "end",
	    db_value(r, i, 1), "native_id", db_value(r, i, 2), "title",
	    api_text_or_null(r, i, 3), "function_code",
	    api_text_or_null(r, i, 4), "class_code", api_text_or_null(r, i, 5),
	    "years", db_isnull(r, i, 6) ? json_null() :
	    json_integer(atoi(db_value(r, i, 6))), "basis",
	    api_text_or_null(r, i, 7), "trigger", api_text_or_null(r, i, 8),
	    "trigger_date", api_text_or_null(r, i, 9), "aip_id",
	    db_value(r, i, 10), "case_native_id", api_text_or_null(r, i, 11),
	    "source", db_value(r, i, 12));
}

static void
route_retention_due(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	char *on = NULL, *code = NULL, *after = NULL, *sep, limit_text[16];
	char *next = NULL;
	const char *params[6];
	struct ret_date day;
	json_t *items;
	int limit, i, n;

	if (retention_day_param(call, "on", &on) == -1 ||
	    retention_function_param(call, &code) == -1 ||
	    api_page(call, &limit, &after) == -1)
		goto out;
	params[2] = params[3] = NULL;
	if (after) {
		/* The cursor is "end|record id". */
		if ((sep = strchr(after, '|')) == NULL || sep - after != 10 ||
		    !api_is_uuid(sep + 1) || (*sep = '\0', !dates_parse(after,
		    &day))) {
			api_error(call, 400, "BAD_CURSOR", "after is not a "
			    "cursor this list gave out");
			goto out;
		}
		params[2] = after;
		params[3] = sep + 1;
	}
	snprintf(limit_text, sizeof(limit_text), "%d", limit + 1);
	params[0] = on;
	params[1] = code;
	params[4] = limit_text;
	/* A restricted record's title only for who may read it (sql/011). */
	if ((params[5] = api_clearance(call)) == NULL) {
		api_error(call, 500, "INTERNAL", "out of memory");
		goto out;
	}
	if (db_query(db, &r, DUE_SQL, 6, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	n = db_rows(r);
	items = json_array();
	for (i = 0; i < n && i < limit; i++)
		json_array_append_new(items, due_json(r, i));
	if (n > limit && asprintf(&next, "%s|%s", db_value(r, limit - 1, 1),
	    db_value(r, limit - 1, 0)) == -1)
		next = NULL;
	api_reply(call, 200, api_list(items, next));
out:
	free(on);
	free(code);
	free(after);
	free(next);
	db_result_free(r);
}

/* Counts by the year retention ends, for this year and the nine after,
 * with each year's classes (the plan's code; a record in no class by its
 * own function code); and what will not end on its own. */
#define FORECAST_SQL \
	"WITH today AS (SELECT (now() AT TIME ZONE 'Europe/Helsinki')::date " \
	"AS d), cur AS (SELECT t.* FROM retention t JOIN records r ON r.id = " \
	"t.record_id JOIN aips a ON a.id = r.aip_id AND a.current_version = " \
	"r.version) " \
	"SELECT 'year', extract(year FROM end_date)::int::text, " \
	"COALESCE(class_code, function_code, ''), count(*) FROM cur, today " \
	"WHERE state = " \
	"'dated' AND end_date >= make_date(extract(year FROM today.d)::int, " \
	"1, 1) AND end_date < make_date(extract(year FROM today.d)::int + " \
	"10, 1, 1) AND ($1::text IS NULL OR function_code = $1 OR " \
	"function_code LIKE $1 || ' %') GROUP BY 2, 3 " \
	"UNION ALL SELECT state, NULL, NULL, count(*) FROM cur, today WHERE " \
	"(state <> 'dated' OR end_date < make_date(extract(year FROM " \
	"today.d)::int, 1, 1)) AND ($1::text IS NULL OR function_code = $1 " \
	"OR function_code LIKE $1 || ' %') GROUP BY 1 " \
	"UNION ALL SELECT 'today', today.d::text, NULL, 0 FROM today " \
	"ORDER BY 1, 2, 3"

static void
route_retention_forecast(struct api_call *call, struct db *db)
{
	struct db_result *r = NULL;
	char *code = NULL;
	const char *params[1];
	json_t *years, *year = NULL, *others, *reply;
	int i, first = 0;

	if (retention_function_param(call, &code) == -1)
		goto out;
	params[0] = code;
	if (db_query(db, &r, FORECAST_SQL, 1, params) == -1) {
		api_db_error(call, db);
		goto out;
	}
	years = json_array();
	others = json_pack("{s:i,s:i,s:i,s:i}", "overdue", 0, "permanent", 0,
	    "waiting", 0, "unknown", 0);
	reply = json_pack("{s:o,s:o}", "years", years, "not_in_years",
	    others);
	for (i = 0; i < db_rows(r); i++) {
		const char *kind = db_value(r, i, 0);
		json_int_t count = strtoll(db_value(r, i, 3), NULL, 10);

		if (strcmp(kind, "today") == 0) {
			json_object_set_new(reply, "from", json_string(
			    db_value(r, i, 1)));
			first = atoi(db_value(r, i, 1));
		} else if (strcmp(kind, "year") == 0) {
			int y = atoi(db_value(r, i, 1));

			if (year == NULL || json_integer_value(json_object_get(
			    year, "year")) != y) {
				year = json_pack("{s:i,s:I,s:[]}", "year", y,
				    "records", (json_int_t)0, "functions");
				json_array_append_new(years, year);
			}
			json_object_set_new(year, "records", json_integer(
			    json_integer_value(json_object_get(year,
			    "records")) + count));
			json_array_append_new(json_object_get(year,
			    "functions"), json_pack("{s:s,s:I}",
			    "function_code", db_value(r, i, 2), "records",
			    count));
		} else if (strcmp(kind, "dated") == 0)
			/* dated but before this year: already due */
			json_object_set_new(others, "overdue",
			    json_integer(count));
		else
			json_object_set_new(others, kind, json_integer(count));
	}
	json_object_set_new(reply, "until", json_integer(first + 9));
	api_reply(call, 200, reply);
out:
	free(code);
	db_result_free(r);
}

const struct api_route route_retention_rows[] = {
	{ "POST", "/v1/retention/events", "retention.event",
	    ROLE_RECORDS_MANAGER | ROLE_INTEGRATION, API_BODY_JSON,
	    route_retention_event, NULL, API_POOL_REQUESTS },
	{ "GET", "/v1/retention/due", "retention.due", ROLE_RECORDS_MANAGER,
	    API_BODY_NONE, route_retention_due, NULL, API_POOL_REQUESTS },
	{ "GET", "/v1/retention/forecast", "retention.forecast",
	    ROLE_RECORDS_MANAGER, API_BODY_NONE, route_retention_forecast,
	    NULL, API_POOL_JOBS },
	{ NULL, NULL, NULL, 0, API_BODY_NONE, NULL, NULL, API_POOL_REQUESTS },
};
