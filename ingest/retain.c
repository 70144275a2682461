/*
 * retain.c — each catalogued record's retention, decided in the catalogue
 * transaction (so by the plan version current when the transfer commits)
 * with retention/decide.c, as a row of the retention table
 * (sql/007_retention.sql), and the warnings a records manager needs:
 * codes the plan does not know (one finding per code, with how many
 * records), periods the package and the plan disagree on, an explicit
 * RetentionPeriodEnd earlier than the plan's end, and records nothing
 * gives a period for.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "process.h"
#include "retain.h"

int
retain_begin(struct retain *rt, struct job *j)
{
	struct db_result *r = NULL;

	memset(rt, 0, sizeof(*rt));
	rt->prec = (enum ret_precedence)rules_precedence_parse(
	    j->cfg->retention_precedence);
	rt->round = j->cfg->retention_round_to_year_end;
	if (strmap_init(&rt->codes, 16, false) == -1)
		return -1;
	/* A plan import (plan_store.c) waits for this transaction, and this
	 * one for an import in progress: records are never decided by a
	 * version a pass has already walked past. */
	if (db_query(j->db, NULL, "SELECT pg_advisory_xact_lock_shared("
	    PLAN_LOCK ")", 0, NULL) == -1)
		return -1;
	if (plan_load(j->db, 0, &rt->plan, &rt->version) == -1)
		return -1;
	/* The day of the transfer, as retention counts days: Helsinki's. */
	if (db_query(j->db, &r, "SELECT (now() AT TIME ZONE "
	    "'Europe/Helsinki')::date::text", 0, NULL) == -1)
		return -1;
	if (!dates_parse(db_value(r, 0, 0), &rt->today)) {
		db_result_free(r);
		return -1;
	}
	db_result_free(r);
	return 0;
}

void
retain_free(struct retain *rt)
{
	size_t i;

	plan_free(&rt->plan);
	strmap_free(&rt->codes);
	for (i = 0; i < rt->ncodes; i++)
		free(rt->code_names[i]);
	free(rt->code_names);
	free(rt->code_counts);
	free(rt->code_lines);
}

static void
retain_years(char *buf, size_t len, long years)
{
	if (years == RET_PERMANENT)
		snprintf(buf, len, "permanently");
	else
		snprintf(buf, len, "%ld years", years);
}

/* Counts a record whose code the plan does not know ("" for none). */
static void
retain_unknown_code(struct retain *rt, const char *code, long line)
{
	size_t i, *nc, *nl;
	char **nn;

	if (strmap_get(&rt->codes, code, &i)) {
		rt->code_counts[i]++;
		return;
	}
	if (rt->ncodes == rt->capcodes) {
		size_t cap = rt->capcodes ? rt->capcodes * 2 : 16;

		if ((nc = realloc(rt->code_counts, cap * sizeof(*nc))) == NULL)
			return;
		rt->code_counts = nc;
		if ((nl = realloc(rt->code_lines, cap * sizeof(*nl))) == NULL)
			return;
		rt->code_lines = nl;
		if ((nn = realloc(rt->code_names, cap * sizeof(*nn))) == NULL)
			return;
		rt->code_names = nn;
		rt->capcodes = cap;
	}
	if ((rt->code_names[rt->ncodes] = strdup(code)) == NULL)
		return;
	if (strmap_put(&rt->codes, rt->code_names[rt->ncodes], rt->ncodes) !=
	    1) {
		free(rt->code_names[rt->ncodes]);
		return;
	}
	rt->code_counts[rt->ncodes] = 1;
	rt->code_lines[rt->ncodes] = (size_t)(line > 0 ? line : 0);
	rt->ncodes++;
}

json_t *
retain_row(struct retain *rt, struct job *j, const char *rid,
    const struct pkg_record *r, const struct pkg_casefile *cf)
{
	const struct pkg_common *c = &r->c, *up = cf ? &cf->c : NULL;
	const char *code = c->function_code ? c->function_code :
	    up ? up->function_code : NULL;
	const struct plan_class *cls;
	const struct plan_type *type;
	struct ret_date finished, last_action, created, end;
	struct ret_input in;
	struct ret_decision d;
	const char *where = j->p.metadata_path;
	char a[32], b[32], e1[11], e2[11];
	json_t *row;

	rt->records++;
	memset(&in, 0, sizeof(in));
	retention_input_plan(&in, &rt->plan, code, c->type, &cls, &type);
	if (cls == NULL && rt->version > 0)
		retain_unknown_code(rt, code ? code : "", c->line);
	/* A record without its own retention has its case file's. */
	if (!c->has_retention && up && up->has_retention)
		c = up;
	in.package_has = c->has_retention;
	in.package_years = c->retention_period;
	in.package_basis = c->retention_reason;
	in.package_trigger = r->c.trigger ? r->c.trigger : up ? up->trigger :
	    NULL;
	/* A record's own RetentionPeriodEnd, else its case file's. */
	if ((r->c.retention_end && dates_parse(r->c.retention_end, &end)) ||
	    (c->retention_end && dates_parse(c->retention_end, &end)))
		in.package_end = &end;
	in.in_case_file = cf != NULL;
	if (cf && cf->finished && dates_parse(cf->finished, &finished))
		in.known.case_finished = &finished;
	if (cf && cf->last_action && dates_parse(cf->last_action,
	    &last_action))
		in.known.case_last_action = &last_action;
	if (r->c.created && dates_parse(r->c.created, &created))
		in.known.record_created = &created;
	in.known.ingested = &rt->today;
	in.prec = rt->prec;
	in.round_to_year_end = rt->round;
	retention_decide(&in, &d);

	if (d.period_disagree) {
		retain_years(a, sizeof(a), in.package_years);
		retain_years(b, sizeof(b), in.plan_years);
		findings_add(&j->f, SEVERITY_WARNING, "RETENTION_DISAGREES",
		    where, r->c.line, "record %s: the package keeps it %s, "
		    "plan class %s%s%s %s; the %s's period applies",
		    r->c.native_id ? r->c.native_id : "(no NativeId)", a,
		    cls->code, type ? " record type " : "", type ?
		    type->name : "", b, d.from == RET_FROM_PLAN ? "plan" :
		    "package");
	}
	if (d.explicit_end < 0) {
		dates_format(in.package_end, e1);
		dates_format(&d.computed_end, e2);
		findings_add(&j->f, SEVERITY_WARNING, "RETENTION_END_EARLIER",
		    where, r->c.line, "record %s: RetentionPeriodEnd %s is "
		    "earlier than the end the rules give (%s); %s applies",
		    r->c.native_id ? r->c.native_id : "(no NativeId)", e1, e2,
		    e2);
	}
	if (d.state == RET_STATE_UNKNOWN && rt->unknown++ == 0)
		rt->unknown_line = r->c.line;

	/* The outcome, then what it was decided from. */
	if ((row = retention_outcome_json(&in, &d, cls, type,
	    rt->version)) == NULL)
		return NULL;
	json_object_set_new(row, "record_id", json_string(rid));
	json_object_set_new(row, "in_case_file", json_boolean(cf != NULL));
	json_object_set_new(row, "function_code", code ? json_string(code) :
	    json_null());
	json_object_set_new(row, "type", retention_json_text(r->c.type));
	json_object_set_new(row, "package_years", in.package_has ?
	    json_integer(in.package_years) : json_null());
	json_object_set_new(row, "package_basis", retention_json_text(
	    in.package_basis));
	json_object_set_new(row, "package_trigger", retention_json_text(
	    in.package_trigger));
	json_object_set_new(row, "package_end", retention_json_date(in.package_end));
	json_object_set_new(row, "case_finished", retention_json_date(
	    in.known.case_finished));
	json_object_set_new(row, "case_last_action", retention_json_date(
	    in.known.case_last_action));
	json_object_set_new(row, "record_created", retention_json_date(
	    in.known.record_created));
	json_object_set_new(row, "ingested", retention_json_date(&rt->today));
	return row;
}

void
retain_end(struct retain *rt, struct job *j)
{
	const char *where = j->p.metadata_path;
	size_t k;

	if (rt->version == 0 && rt->records > 0)
		findings_add(&j->f, SEVERITY_WARNING, "RETENTION_NO_PLAN",
		    where, 0, "no information-management plan has been "
		    "imported: the retention of these %zu records is the "
		    "package's own until one is (PUT /v1/plan)", rt->records);
	for (k = 0; k < rt->ncodes; k++) {
		if (rt->code_names[k][0] == '\0')
			findings_add(&j->f, SEVERITY_WARNING,
			    "RETENTION_CLASS_UNKNOWN", where,
			    (long)rt->code_lines[k], "%zu record%s without a "
			    "function code (the first at line %zu): %s own "
			    "retention applies", rt->code_counts[k],
			    rt->code_counts[k] == 1 ? "" : "s",
			    rt->code_lines[k], rt->code_counts[k] == 1 ?
			    "its" : "their");
		else
			findings_add(&j->f, SEVERITY_WARNING,
			    "RETENTION_CLASS_UNKNOWN", where,
			    (long)rt->code_lines[k], "function code %s is not "
			    "in plan version %d (%zu record%s, the first at "
			    "line %zu): %s own retention applies",
			    rt->code_names[k], rt->version,
			    rt->code_counts[k], rt->code_counts[k] == 1 ? "" :
			    "s", rt->code_lines[k], rt->code_counts[k] == 1 ?
			    "its" : "their");
	}
	if (rt->unknown > 0)
		findings_add(&j->f, SEVERITY_WARNING, "RETENTION_UNKNOWN",
		    where, rt->unknown_line, "%zu record%s (the first at line "
		    "%ld) %s no retention period from the plan or the "
		    "package: kept, never due, until one does",
		    rt->unknown, rt->unknown == 1 ? "" : "s",
		    rt->unknown_line, rt->unknown == 1 ? "has" : "have");
}
