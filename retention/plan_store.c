/*
 * plan_store.c — a read plan into the database as a new version
 * (sql/006_plan.sql), and what the API and the CLI say of an import.
 * Versions are numbered 1, 2, … in the order imports commit; the same
 * bytes again are the version they already are.  Knows nothing of HTTP.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "formats.h"
#include "retention.h"


json_t *
plan_findings_json(const struct findings *f)
{
	json_t *items = json_array(), *fi;
	size_t i;

	for (i = 0; items && i < f->n; i++) {
		fi = json_pack("{s:s,s:s,s:s}", "severity",
		    f->items[i].severity == SEVERITY_ERROR ? "error" :
		    f->items[i].severity == SEVERITY_WARNING ? "warning" :
		    "info", "code", f->items[i].code, "message",
		    f->items[i].message);
		if (fi && f->items[i].line > 0)
			json_object_set_new(fi, "line",
			    json_integer(f->items[i].line));
		json_array_append_new(items, fi);
	}
	return items;
}

static json_t *
plan_type_json(const struct plan_type *t)
{
	return json_pack("{s:s?,s:b,s:I,s:s?,s:s?,s:s?}", "name", t->name,
	    "own", t->own, "retention_years", (json_int_t)t->years, "basis",
	    t->basis, "trigger", t->trigger, "publicity",
	    plan_publicity_name(t->publicity));
}

/* The classes as rows for one INSERT (jsonb_array_elements). */
static json_t *
plan_classes_json(const struct plan *p, size_t *ntypes)
{
	json_t *rows = json_array(), *types;
	const struct plan_class *c;
	size_t i, k;

	*ntypes = 0;
	for (i = 0; rows && i < p->nclasses; i++) {
		c = &p->classes[i];
		types = json_array();
		for (k = 0; k < c->ntypes; k++)
			json_array_append_new(types, plan_type_json(
			    &c->types[k]));
		*ntypes += c->ntypes;
		json_array_append_new(rows, json_pack("{s:s,s:s?,s:I,s:s?,"
		    "s:s?,s:I,s:o,s:I}", "code", c->code, "title", c->title,
		    "retention_years", (json_int_t)c->years, "basis", c->basis,
		    "trigger", c->trigger, "publicity", (json_int_t)c->publicity,
		    "record_types", types, "line", (json_int_t)c->line));
	}
	return rows;
}

int
plan_store(struct db *db, const struct plan *p, const char *sha256_hex,
    const char *who, const char *role, bool lenient,
    const struct findings *f, struct plan_import *out)
{
	struct db_result *r = NULL;
	struct audit_event ev = { 0 };
	json_t *rows = NULL, *findings = NULL, *details = NULL;
	char *rows_text = NULL, *findings_text = NULL, version[16];
	char classes[24], types[24];
	const char *params[11];
	size_t ntypes;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((rows = plan_classes_json(p, &ntypes)) == NULL ||
	    (findings = plan_findings_json(f)) == NULL ||
	    (rows_text = json_dumps(rows, JSON_COMPACT)) == NULL ||
	    (findings_text = json_dumps(findings, JSON_COMPACT)) == NULL)
		goto out;
	out->classes = p->nclasses;
	out->record_types = ntypes;
	/* Transfers being catalogued hold the lock shared (and, behind a
	 * waiting import, new ones queue): wait for them a while, not for
	 * ever (the caller answers 503, try again). */
	if (db_begin(db) == -1 ||
	    db_query(db, NULL, "SET LOCAL lock_timeout = '60s'", 0, NULL) ==
	    -1 ||
	    db_query(db, NULL, "SELECT pg_advisory_xact_lock(" PLAN_LOCK ")",
	    0, NULL) == -1)
		goto out;
	params[0] = sha256_hex;
	if (db_query(db, &r, "SELECT version FROM plan_versions WHERE "
	    "sha256 = decode($1, 'hex')", 1, params) == -1)
		goto out;
	if (db_rows(r) == 1) {		/* these bytes are a version already */
		out->version = atoi(db_value(r, 0, 0));
		out->created = false;
	} else {
		db_result_free(r);
		r = NULL;
		if (db_query(db, &r, "SELECT COALESCE(max(version), 0) + 1 "
		    "FROM plan_versions", 0, NULL) == -1)
			goto out;
		out->version = atoi(db_value(r, 0, 0));
		out->created = true;
		snprintf(version, sizeof(version), "%d", out->version);
		snprintf(classes, sizeof(classes), "%zu", p->nclasses);
		snprintf(types, sizeof(types), "%zu", ntypes);
		params[0] = version;
		params[1] = sha256_hex;
		params[2] = p->title;
		params[3] = p->organisation;
		params[4] = p->version;
		params[5] = who;
		params[6] = lenient ? "true" : "false";
		params[7] = classes;
		params[8] = types;
		params[9] = findings_text;
		if (db_query(db, NULL, "INSERT INTO plan_versions (version, "
		    "sha256, title, organisation, tos_version, imported_by, "
		    "lenient, classes, record_types, findings) VALUES "
		    "($1::int, decode($2, 'hex'), $3, $4, $5, $6, $7::bool, "
		    "$8::int, $9::int, $10::jsonb)", 10, params) == -1)
			goto out;
		params[1] = rows_text;
		if (db_query(db, NULL, "INSERT INTO plan_classes (version, code, "
		    "title, retention_years, basis, trigger, publicity, "
		    "record_types, line) SELECT $1::int, c->>'code', "
		    "c->>'title', (c->>'retention_years')::int, c->>'basis', "
		    "c->>'trigger', NULLIF((c->>'publicity')::smallint, 0), "
		    "c->'record_types', (c->>'line')::int FROM "
		    "jsonb_array_elements($2::jsonb) AS c", 2, params) == -1)
			goto out;
		/* Every record is decided again by this version, in the
		 * background (recompute.c). */
		if (db_query(db, NULL, "INSERT INTO retention_passes (version) "
		    "VALUES ($1::int)", 1, params) == -1)
			goto out;
	}
	snprintf(version, sizeof(version), "%d", out->version);
	details = json_pack("{s:i,s:s,s:b,s:I,s:I,s:b}", "version",
	    out->version, "sha256", sha256_hex, "new", out->created,
	    "classes", (json_int_t)p->nclasses, "record_types",
	    (json_int_t)ntypes, "lenient", lenient);
	ev.actor = who;
	ev.role = role;
	ev.action = "plan.import";
	ev.object_type = "plan";
	ev.object_id = version;
	ev.outcome = AUDIT_SUCCESS;
	ev.details = details;
	if (details == NULL || audit_record(db, &ev) == -1 ||
	    db_commit(db) == -1)
		goto out;
	rc = 0;
out:
	if (rc == -1)
		db_rollback(db);
	db_result_free(r);
	json_decref(rows);
	json_decref(findings);
	json_decref(details);
	free(rows_text);
	free(findings_text);
	return rc;
}

/* ---- reading a stored version back ---------------------------------------- */

static char *
plan_dup(struct db_result *r, int row, int col)
{
	return db_isnull(r, row, col) ? NULL : strdup(db_value(r, row, col));
}

/* The record types of a class from their jsonb (plan_type_json). */
static int
plan_load_types(struct plan_class *c, const char *text)
{
	json_t *a = json_loads(text, 0, NULL), *t;
	const char *name, *basis, *trigger;
	json_int_t years;
	int own;
	size_t i;

	if (a == NULL || !json_is_array(a)) {
		json_decref(a);
		return -1;
	}
	if (json_array_size(a) && (c->types = calloc(json_array_size(a),
	    sizeof(*c->types))) == NULL) {
		json_decref(a);
		return -1;
	}
	json_array_foreach(a, i, t) {
		struct plan_type *pt = &c->types[c->ntypes];

		/* basis and trigger may be null (a permanent period has no
		 * trigger): read each as it is. */
		name = json_string_value(json_object_get(t, "name"));
		basis = json_string_value(json_object_get(t, "basis"));
		trigger = json_string_value(json_object_get(t, "trigger"));
		own = json_is_true(json_object_get(t, "own"));
		if (!json_is_integer(json_object_get(t, "retention_years")))
			continue;
		years = json_integer_value(json_object_get(t,
		    "retention_years"));
		pt->name = name ? strdup(name) : NULL;
		pt->own = own;
		pt->years = (long)years;
		pt->basis = basis ? strdup(basis) : NULL;
		pt->trigger = trigger ? strdup(trigger) : NULL;
		c->ntypes++;
	}
	json_decref(a);
	return 0;
}

int
plan_load(struct db *db, int version, struct plan *out, int *loaded)
{
	struct db_result *r = NULL;
	char vtext[16];
	const char *params[1] = { vtext };
	int i, n;

	memset(out, 0, sizeof(*out));
	*loaded = 0;
	snprintf(vtext, sizeof(vtext), "%d", version);
	if (db_query(db, &r, "SELECT v.version, c.code, c.title, "
	    "c.retention_years, c.basis, c.trigger, c.publicity, "
	    "c.record_types::text FROM plan_versions v LEFT JOIN plan_classes "
	    "c ON c.version = v.version WHERE v.version = CASE WHEN $1::int > "
	    "0 THEN $1::int ELSE (SELECT max(version) FROM plan_versions) END "
	    "ORDER BY c.code COLLATE \"C\"", 1, params) == -1)
		return -1;
	n = db_rows(r);
	if (n > 0 && (out->classes = calloc((size_t)n,
	    sizeof(*out->classes))) == NULL)
		goto failed;
	for (i = 0; i < n; i++) {
		struct plan_class *c = &out->classes[out->nclasses];

		*loaded = atoi(db_value(r, i, 0));
		if (db_isnull(r, i, 1))
			continue;
		out->nclasses++;
		c->code = plan_dup(r, i, 1);
		c->title = plan_dup(r, i, 2);
		c->years = atol(db_value(r, i, 3));
		c->basis = plan_dup(r, i, 4);
		c->trigger = plan_dup(r, i, 5);
		c->publicity = db_isnull(r, i, 6) ? 0 : atoi(db_value(r, i, 6));
		if (c->code == NULL || plan_load_types(c, db_value(r, i, 7)) ==
		    -1)
			goto failed;
	}
	db_result_free(r);
	plan_sort_classes(out);
	return 0;
failed:
	db_result_free(r);
	plan_free(out);
	memset(out, 0, sizeof(*out));
	return -1;
}
