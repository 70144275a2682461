/*
 * recompute.c — deciding again the retention of records already in the
 * catalogue, when a life-cycle event gives a trigger's date or a new plan
 * version comes in.  What each record was decided from is in its
 * retention row (sql/007_retention.sql), with the dates events gave it;
 * the plan is the current version.  A batch is read, decided in C by the
 * same retention_decide() ingest uses, and only the rows whose outcome
 * moved are written back, in one statement.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "formats.h"
#include "retention.h"

void
retention_input_plan(struct ret_input *in, const struct plan *p,
    const char *code, const char *type, const struct plan_class **cls,
    const struct plan_type **pt)
{
	*cls = plan_find_class(p, code);
	*pt = plan_find_type(*cls, type);
	in->plan_has = *cls != NULL;
	if (*cls == NULL)
		return;
	in->plan_years = *pt ? (*pt)->years : (*cls)->years;
	in->plan_basis = *pt ? (*pt)->basis : (*cls)->basis;
	in->plan_trigger = *pt ? (*pt)->trigger : (*cls)->trigger;
}

json_t *
retention_json_date(const struct ret_date *d)
{
	char s[11];

	if (d == NULL)
		return json_null();
	dates_format(d, s);
	return json_string(s);
}

json_t *
retention_json_text(const char *s)
{
	json_t *v;
	char *copy;

	if (s == NULL)
		return json_null();
	if ((copy = strdup(s)) == NULL)
		return NULL;
	findings_withhold(copy);
	v = json_string(copy);
	free(copy);
	return v;
}

json_t *
retention_outcome_json(const struct ret_input *in,
    const struct ret_decision *d, const struct plan_class *cls,
    const struct plan_type *type, int version)
{
	json_t *o = json_object(), *dis = json_array();
	char e1[11], e2[11];

	if (o == NULL || dis == NULL) {
		json_decref(o);
		json_decref(dis);
		return NULL;
	}
	if (d->period_disagree)
		json_array_append_new(dis, json_pack("{s:s,s:I,s:I,s:s}",
		    "kind", "period", "plan_years", (json_int_t)in->plan_years,
		    "package_years", (json_int_t)in->package_years, "applied",
		    retention_source_name(d->from)));
	if (d->explicit_end != 0) {
		dates_format(in->package_end, e1);
		dates_format(&d->computed_end, e2);
		json_array_append_new(dis, json_pack("{s:s,s:s,s:s}", "kind",
		    d->explicit_end < 0 ? "end_earlier" : "end_later",
		    "package_end", e1, "computed_end", e2));
	}
	json_object_set_new(o, "state", json_string(retention_state_name(
	    d->state)));
	/* No period, only the package's own end: no years to show. */
	json_object_set_new(o, "years", d->state == RET_STATE_UNKNOWN ||
	    (d->from == RET_FROM_PACKAGE && !in->package_has) ? json_null() :
	    json_integer(d->years));
	json_object_set_new(o, "basis", retention_json_text(d->basis));
	json_object_set_new(o, "trigger", retention_json_text(d->trigger));
	json_object_set_new(o, "trigger_date", d->has_trigger_date ?
	    retention_json_date(&d->trigger_date) : json_null());
	json_object_set_new(o, "end_date", d->state == RET_STATE_DATED ?
	    retention_json_date(&d->end) : json_null());
	json_object_set_new(o, "source", json_string(retention_source_name(
	    d->from)));
	json_object_set_new(o, "plan_version", cls && version > 0 ?
	    json_integer(version) : json_null());
	json_object_set_new(o, "class_code", cls ? json_string(cls->code) :
	    json_null());
	json_object_set_new(o, "record_type", type && type->name ?
	    json_string(type->name) : json_null());
	json_object_set_new(o, "disagreement", json_array_size(dis) ? dis :
	    json_null());
	if (json_array_size(dis) == 0)
		json_decref(dis);
	return o;
}

/* ---- deciding again ------------------------------------------------------ */

int
recompute_begin(struct recompute *rc, struct db *db,
    const struct config *cfg)
{
	memset(rc, 0, sizeof(*rc));
	rc->prec = (enum ret_precedence)rules_precedence_parse(
	    cfg->retention_precedence);
	rc->round = cfg->retention_round_to_year_end;
	/* As a catalogue transaction does: an import waits for this one,
	 * so what is decided here is never by a version a pass for a newer
	 * one has walked past. */
	if (db_query(db, NULL, "SELECT pg_advisory_xact_lock_shared("
	    PLAN_LOCK ")", 0, NULL) == -1)
		return -1;
	return plan_load(db, 0, &rc->plan, &rc->version);
}

void
recompute_free(struct recompute *rc)
{
	plan_free(&rc->plan);
}

/* The inputs of each row, the dates events gave it, its outcome now (the
 * columns retention_outcome_json() names) and its row version.  Nothing is
 * locked: a row is written back only if no one changed it since it was
 * read (its xmin), so a pass over millions of rows neither locks them
 * nor waits; an event, which locks its rows and writes every one of them,
 * wins over a pass that read them before. */
#define RECOMPUTE_COLUMNS \
	"t.record_id, t.function_code, t.type, t.in_case_file, " \
	"t.package_years, t.package_basis, t.package_trigger, " \
	"t.package_end::text, t.case_finished::text, " \
	"t.case_last_action::text, t.record_created::text, " \
	"t.ingested::text, (SELECT json_agg(json_build_array(e.trigger, " \
	"e.date::text)) FROM retention_event_dates e WHERE e.record_id = " \
	"t.record_id)::text, t.state, t.years, t.basis, t.trigger, " \
	"t.trigger_date::text, t.end_date::text, t.source, t.plan_version, " \
	"t.class_code, t.record_type, t.disagreement::text, t.xmin::text"
/* Where the outcome columns begin, in the order of RECOMPUTE_OUTCOME. */
#define RECOMPUTE_COL_OUTCOME	13
#define RECOMPUTE_COL_STATE	RECOMPUTE_COL_OUTCOME
#define RECOMPUTE_COL_END	(RECOMPUTE_COL_OUTCOME + 5)
#define RECOMPUTE_COL_CLASS	(RECOMPUTE_COL_OUTCOME + 8)
#define RECOMPUTE_COL_XMIN	24

#define RECOMPUTE_UPDATE \
	"UPDATE retention t SET state = x.state, years = x.years, basis = " \
	"x.basis, trigger = x.trigger, trigger_date = x.trigger_date, " \
	"end_date = x.end_date, source = x.source, plan_version = " \
	"x.plan_version, class_code = x.class_code, record_type = " \
	"x.record_type, disagreement = x.disagreement, decided_at = now() " \
	"FROM jsonb_to_recordset($1) AS x(record_id uuid, state text, years " \
	"int, basis text, trigger text, trigger_date date, end_date date, " \
	"source text, plan_version int, class_code text, record_type text, " \
	"disagreement jsonb, xmin text) WHERE t.record_id = x.record_id " \
	"AND t.xmin = x.xmin::xid"

static const struct ret_date *
recompute_parse(struct db_result *r, int row, int col, struct ret_date *d)
{
	if (db_isnull(r, row, col) || !dates_parse(db_value(r, row, col), d))
		return NULL;
	return d;
}

/* The outcome columns, as retention_outcome_json() names them, with
 * whether each is an integer. */
static const struct {
	const char	*name;
	bool		 integer;
} recompute_outcome[] = {
	{ "state", false }, { "years", true }, { "basis", false },
	{ "trigger", false }, { "trigger_date", false },
	{ "end_date", false }, { "source", false },
	{ "plan_version", true }, { "class_code", false },
	{ "record_type", false }, { "disagreement", false },
};

/* Whether column col of row i holds what v says (compared as text and
 * numbers: building the row's JSON in SQL cost more than all the rest). */
static bool
recompute_same(struct db_result *r, int i, int col, json_t *v,
    bool integer)
{
	json_t *stored;
	bool same;

	if (db_isnull(r, i, col))
		return v == NULL || json_is_null(v);
	if (v == NULL || json_is_null(v))
		return false;
	if (integer)
		return json_is_integer(v) && json_integer_value(v) ==
		    strtoll(db_value(r, i, col), NULL, 10);
	if (json_is_string(v))
		return strcmp(json_string_value(v), db_value(r, i, col)) == 0;
	/* disagreement: jsonb's text orders keys its own way */
	stored = json_loads(db_value(r, i, col), 0, NULL);
	same = stored != NULL && json_equal(stored, v);
	json_decref(stored);
	return same;
}

/* One row of RECOMPUTE_COLUMNS decided again: its outcome (with
 * record_id) in *moved when it moved, else NULL; counted in st.  The
 * plan version alone is no move: a new version that says the same of a
 * class leaves its records as the version before decided them. */
static int
recompute_row(struct recompute *rc, struct db_result *r, int i,
    struct recompute_stats *st, json_t **moved)
{
	struct ret_date end, fin, last, created, ingested;
	struct ret_event events[16];
	const struct plan_class *cls;
	const struct plan_type *type;
	struct ret_input in;
	struct ret_decision d;
	json_t *ev = NULL, *now, *e;
	size_t k;
	bool same;

	*moved = NULL;
	memset(&in, 0, sizeof(in));
	retention_input_plan(&in, &rc->plan, db_isnull(r, i, 1) ? NULL :
	    db_value(r, i, 1), db_isnull(r, i, 2) ? NULL : db_value(r, i, 2),
	    &cls, &type);
	in.in_case_file = db_value(r, i, 3)[0] == 't';
	in.package_has = !db_isnull(r, i, 4);
	in.package_years = in.package_has ? atol(db_value(r, i, 4)) : 0;
	in.package_basis = db_isnull(r, i, 5) ? NULL : db_value(r, i, 5);
	in.package_trigger = db_isnull(r, i, 6) ? NULL : db_value(r, i, 6);
	in.package_end = recompute_parse(r, i, 7, &end);
	in.known.case_finished = recompute_parse(r, i, 8, &fin);
	in.known.case_last_action = recompute_parse(r, i, 9, &last);
	in.known.record_created = recompute_parse(r, i, 10, &created);
	in.known.ingested = recompute_parse(r, i, 11, &ingested);
	if (!db_isnull(r, i, 12) && (ev = json_loads(db_value(r, i, 12), 0,
	    NULL)) != NULL) {
		/* More triggers than a record has events for is no plan. */
		json_array_foreach(ev, k, e) {
			if (in.nevents == sizeof(events) / sizeof(events[0]))
				break;
			events[in.nevents].trigger = json_string_value(
			    json_array_get(e, 0));
			if (events[in.nevents].trigger && json_string_value(
			    json_array_get(e, 1)) && dates_parse(
			    json_string_value(json_array_get(e, 1)),
			    &events[in.nevents].date))
				in.nevents++;
		}
		in.events = events;
	}
	in.prec = rc->prec;
	in.round_to_year_end = rc->round;
	retention_decide(&in, &d);
	now = retention_outcome_json(&in, &d, cls, type, rc->version);
	json_decref(ev);
	if (now == NULL)
		return -1;
	st->matched++;
	same = true;
	for (k = 0; k < sizeof(recompute_outcome) /
	    sizeof(recompute_outcome[0]); k++) {
		if (strcmp(recompute_outcome[k].name, "plan_version") == 0)
			continue;
		if (!recompute_same(r, i, RECOMPUTE_COL_OUTCOME + (int)k,
		    json_object_get(now, recompute_outcome[k].name),
		    recompute_outcome[k].integer)) {
			same = false;
			break;
		}
	}
	if (same) {
		json_decref(now);
		return 0;
	}
	st->changed++;
	/* The end moved: the state or the day. */
	if (!recompute_same(r, i, RECOMPUTE_COL_STATE, json_object_get(now,
	    "state"), false) || !recompute_same(r, i, RECOMPUTE_COL_END,
	    json_object_get(now, "end_date"), false)) {
		const char *code = json_string_value(json_object_get(now,
		    "class_code"));
		json_t *n;

		if (code == NULL && !db_isnull(r, i, RECOMPUTE_COL_CLASS))
			code = db_value(r, i, RECOMPUTE_COL_CLASS);
		if (code == NULL)
			code = "";
		n = json_object_get(st->by_class, code);
		json_object_set_new(st->by_class, code, json_integer((n ?
		    json_integer_value(n) : 0) + 1));
		st->ends_moved++;
	}
	json_object_set_new(now, "record_id", json_string(db_value(r, i, 0)));
	json_object_set_new(now, "xmin", json_string(db_value(r, i,
	    RECOMPUTE_COL_XMIN)));
	*moved = now;
	return 0;
}

int
recompute_stats_init(struct recompute_stats *st)
{
	memset(st, 0, sizeof(*st));
	return (st->by_class = json_object()) == NULL ? -1 : 0;
}

void
recompute_stats_free(struct recompute_stats *st)
{
	json_decref(st->by_class);
	st->by_class = NULL;
}

int
recompute_records(struct recompute *rc, struct db *db, const char *where,
    int nparams, const char *const *params, int limit, bool dry,
    struct recompute_stats *st)
{
	struct db_result *r = NULL;
	json_t *rows = json_array(), *moved;
	const char *up[1];
	char *sql = NULL, *text = NULL, tail[64];
	int i, ret = -1;

	if (limit > 0)
		snprintf(tail, sizeof(tail), " LIMIT %d", limit);
	else
		tail[0] = '\0';
	if (rows == NULL || asprintf(&sql, "SELECT " RECOMPUTE_COLUMNS
	    " FROM retention t WHERE %s ORDER BY t.record_id%s", where,
	    tail) == -1) {
		sql = NULL;
		goto out;
	}
	if (db_query(db, &r, sql, nparams, params) == -1)
		goto out;
	for (i = 0; i < db_rows(r); i++) {
		if (recompute_row(rc, r, i, st, &moved) == -1)
			goto out;
		if (moved && !dry)
			json_array_append_new(rows, moved);
		else
			json_decref(moved);
	}
	st->read = (size_t)db_rows(r);
	if (db_rows(r) > 0)
		snprintf(st->last, sizeof(st->last), "%s", db_value(r,
		    db_rows(r) - 1, 0));
	if (json_array_size(rows) > 0) {
		if ((text = json_dumps(rows, JSON_COMPACT)) == NULL)
			goto out;
		up[0] = text;
		if (db_query(db, NULL, RECOMPUTE_UPDATE, 1, up) == -1)
			goto out;
	}
	ret = 0;
out:
	free(sql);
	free(text);
	json_decref(rows);
	db_result_free(r);
	return ret;
}

/* ---- passes after a new plan version ------------------------------------ */

int
recompute_pass_step(struct db *db, const struct config *cfg, int batch)
{
	struct db_result *r = NULL;
	struct recompute rc;
	struct recompute_stats st;
	char *by_class = NULL, counts[3][24], done[2] = "f";
	const char *params[7];
	bool loaded = false;
	json_t *total = NULL, *v;
	const char *key;
	int ret = -1, more;

	if (recompute_stats_init(&st) == -1)
		return -1;
	if (db_begin(db) == -1)
		goto out;
	/* A newer pass decides everything by the current plan: older ones
	 * have nothing left to do. */
	if (db_query(db, NULL, "UPDATE retention_passes SET status = "
	    "'superseded', finished_at = now() WHERE status = 'pending' AND "
	    "version < (SELECT max(version) FROM retention_passes)", 0,
	    NULL) == -1 ||
	    db_query(db, &r, "SELECT version, after, by_class::text FROM "
	    "retention_passes WHERE status = 'pending' ORDER BY version "
	    "LIMIT 1 FOR UPDATE SKIP LOCKED", 0, NULL) == -1)
		goto out;
	if (db_rows(r) == 0) {
		ret = db_commit(db) == -1 ? -1 : 0;
		goto out;
	}
	if (recompute_begin(&rc, db, cfg) == -1)
		goto out;
	loaded = true;
	params[0] = db_isnull(r, 0, 1) ? NULL : db_value(r, 0, 1);
	if (recompute_records(&rc, db, "($1::uuid IS NULL OR t.record_id > "
	    "$1::uuid)", 1, params, batch, false, &st) == -1)
		goto out;
	/* The counts by class add up over the pass. */
	if ((total = json_loads(db_value(r, 0, 2), 0, NULL)) == NULL)
		goto out;
	json_object_foreach(st.by_class, key, v)
		json_object_set_new(total, key, json_integer(json_integer_value(
		    json_object_get(total, key)) + json_integer_value(v)));
	if ((by_class = json_dumps(total, JSON_COMPACT)) == NULL)
		goto out;
	more = st.read == (size_t)batch;
	done[0] = more ? 'f' : 't';
	snprintf(counts[0], sizeof(counts[0]), "%zu", st.matched);
	snprintf(counts[1], sizeof(counts[1]), "%zu", st.changed);
	snprintf(counts[2], sizeof(counts[2]), "%zu", st.ends_moved);
	params[0] = db_value(r, 0, 0);
	params[1] = st.last[0] ? st.last : NULL;
	params[2] = counts[0];
	params[3] = counts[1];
	params[4] = counts[2];
	params[5] = by_class;
	params[6] = done;
	if (db_query(db, NULL, "UPDATE retention_passes SET after = "
	    "COALESCE($2::uuid, after), records = records + $3::bigint, "
	    "changed = changed + $4::bigint, ends_moved = ends_moved + "
	    "$5::bigint, by_class = $6::jsonb, status = CASE WHEN $7::boolean "
	    "THEN 'done' ELSE status END, finished_at = CASE WHEN $7::boolean "
	    "THEN now() END WHERE version = $1::int", 7, params) == -1 ||
	    db_commit(db) == -1)
		goto out;
	ret = 1;
out:
	if (ret == -1 && db_in_transaction(db))
		db_rollback(db);
	if (loaded)
		recompute_free(&rc);
	recompute_stats_free(&st);
	json_decref(total);
	free(by_class);
	db_result_free(r);
	return ret;
}
