/*
 * decide.c — one record's retention from the plan and the package: the
 * class its function code falls in, the period that applies, the trigger
 * and its date, and the end.  Pure functions, so that ingest, life-cycle
 * events and plan changes all decide the same way (the catalogue and
 * retention_store.c store what they decide).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unicase.h>
#include <uninorm.h>

#include "retention.h"

/* What is said when neither side names a trigger: a case file's records
 * count from the case's final decision (what SÄHKE2 plans almost always
 * say), a record outside any case file from its own date. */
#define RET_DEFAULT_CASE_TRIGGER	"Asian lopullinen ratkaisu"
#define RET_DEFAULT_RECORD_TRIGGER	"Asiakirjan päivämäärä"

const char *
retention_state_name(enum ret_state s)
{
	switch (s) {
	case RET_STATE_DATED:
		return "dated";
	case RET_STATE_PERMANENT:
		return "permanent";
	case RET_STATE_WAITING:
		return "waiting";
	case RET_STATE_UNKNOWN:
	default:
		return "unknown";
	}
}

const char *
retention_source_name(enum ret_source s)
{
	return s == RET_FROM_PLAN ? "plan" : s == RET_FROM_PACKAGE ?
	    "package" : "none";
}

/* s without the white space around it: *len bytes from the return. */
static const char *
decide_trim(const char *s, size_t *len)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	*len = n;
	return s;
}

static bool
decide_ascii(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* Unicode case folding (libunistring), so that "PÄÄTTYMINEN" is
 * "päättyminen", and NFC, so that a decomposed "ä" is the composed one. */
bool
retention_text_same(const char *a, const char *b)
{
	size_t na, nb;
	int result;

	if (a == NULL || b == NULL)
		return false;
	a = decide_trim(a, &na);
	b = decide_trim(b, &nb);
	/* The cheap answers first (a pass decides a million records, each
	 * trigger against four): the same bytes; two ASCII texts; two
	 * texts whose first letters (ASCII) differ, which folding and
	 * composing cannot make the same. */
	if (na == nb && memcmp(a, b, na) == 0)
		return true;
	if (decide_ascii(a, na) && decide_ascii(b, nb))
		return na == nb && strncasecmp(a, b, na) == 0;
	if (na > 0 && nb > 0 && isalpha((unsigned char)a[0]) &&
	    isalpha((unsigned char)b[0]) && (unsigned char)a[0] < 0x80 &&
	    (unsigned char)b[0] < 0x80 && tolower((unsigned char)a[0]) !=
	    tolower((unsigned char)b[0]))
		return false;
	if (u8_casecmp((const uint8_t *)a, na, (const uint8_t *)b, nb, NULL,
	    UNINORM_NFC, &result) == -1)
		return na == nb && memcmp(a, b, na) == 0;
	return result == 0;
}

char *
retention_text_key(const char *s)
{
	size_t n, len = 0;
	uint8_t *folded;
	char *key;

	s = decide_trim(s, &n);
	if ((folded = u8_casefold((const uint8_t *)s, n, NULL, UNINORM_NFC,
	    NULL, &len)) == NULL)
		return NULL;
	if ((key = malloc(len + 1)) != NULL) {
		memcpy(key, folded, len);
		key[len] = '\0';
	}
	free(folded);
	return key;
}

/* An empty text says nothing. */
static const char *
decide_text(const char *s)
{
	size_t n;

	if (s == NULL)
		return NULL;
	(void)decide_trim(s, &n);
	return n ? s : NULL;
}

void
retention_decide(const struct ret_input *in, struct ret_decision *out)
{
	const char *plan_trigger = decide_text(in->plan_trigger);
	const char *package_trigger = decide_text(in->package_trigger);
	enum ret_trigger kind;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->years = rules_period_choose(in->plan_has, in->plan_years,
	    in->package_has, in->package_years, in->prec,
	    &out->period_disagree, &out->from);
	if (out->from == RET_FROM_NONE) {
		/* No period, but the package's own end: that day. */
		if (in->package_end) {
			out->state = RET_STATE_DATED;
			out->from = RET_FROM_PACKAGE;
			out->end = *in->package_end;
			out->basis = decide_text(in->package_basis);
			out->trigger = package_trigger;
		} else
			out->state = RET_STATE_UNKNOWN;
		return;
	}
	if (out->from == RET_FROM_PLAN) {
		out->basis = decide_text(in->plan_basis);
		out->trigger = plan_trigger ? plan_trigger : package_trigger;
	} else {
		out->basis = decide_text(in->package_basis);
		if (out->basis == NULL)
			out->basis = decide_text(in->plan_basis);
		out->trigger = package_trigger ? package_trigger : plan_trigger;
	}
	if (out->trigger == NULL)
		out->trigger = in->in_case_file ? RET_DEFAULT_CASE_TRIGGER :
		    RET_DEFAULT_RECORD_TRIGGER;
	if (out->years == RET_PERMANENT) {
		out->state = RET_STATE_PERMANENT;
		return;
	}
	/* What the package gives; else (and always for a trigger only an
	 * event can date) an event's date for this trigger.  An event never
	 * moves a date the package gives: an integration cannot make its
	 * records due early by dating their transfer in 1900. */
	kind = rules_trigger_kind(out->trigger);
	out->has_trigger_date = rules_trigger_date(kind, &in->known,
	    &out->trigger_date);
	for (i = 0; !out->has_trigger_date && i < in->nevents; i++)
		if (retention_text_same(in->events[i].trigger,
		    out->trigger)) {
			out->trigger_date = in->events[i].date;
			out->has_trigger_date = true;
		}
	switch (dates_end(out->has_trigger_date ? &out->trigger_date : NULL,
	    out->years, in->round_to_year_end, &out->end)) {
	case RET_END_DATE:
		out->state = RET_STATE_DATED;
		break;
	case RET_END_PERMANENT:
		out->state = RET_STATE_PERMANENT;
		return;
	case RET_END_INVALID:
		/* rules_period_choose gives -1 or more from a model that
		 * holds nothing else; were it not so, keep the record. */
		out->state = RET_STATE_UNKNOWN;
		return;
	case RET_END_WAITING:
	default:
		/* An explicit end does not stand in for an unknown trigger
		 * date: the true end could be later. */
		out->state = RET_STATE_WAITING;
		return;
	}
	out->computed_end = out->end;
	if (in->package_end)
		out->explicit_end = rules_explicit_end(&out->end,
		    in->package_end, &out->end);
}

/* ---- classes and record types ------------------------------------------ */

static int
decide_class_cmp(const void *a, const void *b)
{
	return strcmp(((const struct plan_class *)a)->code,
	    ((const struct plan_class *)b)->code);
}

void
plan_sort_classes(struct plan *p)
{
	if (p->nclasses > 1)
		qsort(p->classes, p->nclasses, sizeof(p->classes[0]),
		    decide_class_cmp);
}

const struct plan_class *
plan_find_class(const struct plan *p, const char *code)
{
	struct plan_class key;
	const struct plan_class *c;
	char *prefix;
	size_t n;

	if (code == NULL || p == NULL || p->nclasses == 0)
		return NULL;
	if ((prefix = strdup(code)) == NULL)
		return NULL;
	/* The code itself, then each shorter whole-group prefix. */
	for (;;) {
		key.code = prefix;
		c = bsearch(&key, p->classes, p->nclasses,
		    sizeof(p->classes[0]), decide_class_cmp);
		if (c != NULL)
			break;
		n = strlen(prefix);
		while (n > 0 && prefix[n - 1] != ' ')
			n--;
		if (n == 0)
			break;
		prefix[n - 1] = '\0';
	}
	free(prefix);
	return c;
}

const struct plan_type *
plan_find_type(const struct plan_class *c, const char *type)
{
	size_t i;

	if (c == NULL || decide_text(type) == NULL)
		return NULL;
	for (i = 0; i < c->ntypes; i++)
		if (retention_text_same(c->types[i].name, type))
			return &c->types[i];
	return NULL;
}
