/*
 * rules.c — which retention applies to a record: the trigger its date
 * counts from, where that date comes from, and whose period wins when the
 * plan and the package disagree ("Retention and disposal" in DESIGN.md).
 * Pure functions; plan.c and the catalogue store what they decide.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "retention.h"

/* Triggers known from the package; compared without the spaces around
 * (plan tools write "Asian lopullinen ratkaisu " too) and without case
 * (retention_text_same). */
static const struct {
	const char		*text;
	enum ret_trigger	 kind;
} rules_triggers[] = {
	{ "Asian lopullinen ratkaisu", RET_TRIGGER_CASE_DECIDED },
	{ "Asiakirjan päivämäärä", RET_TRIGGER_DOCUMENT_DATE },
	{ "Säilytysjärjestelmään siirto", RET_TRIGGER_TRANSFER },
	{ "Tilikauden päättyminen", RET_TRIGGER_FISCAL_YEAR_END },
};

enum ret_trigger
rules_trigger_kind(const char *text)
{
	size_t i;

	for (i = 0; text && i < sizeof(rules_triggers) /
	    sizeof(rules_triggers[0]); i++)
		if (retention_text_same(rules_triggers[i].text, text))
			return rules_triggers[i].kind;
	return RET_TRIGGER_EVENT;
}

bool
rules_trigger_date(enum ret_trigger k, const struct ret_known *known,
    struct ret_date *out)
{
	switch (k) {
	case RET_TRIGGER_CASE_DECIDED:
		/* The final decision: the case file's latest Finished,
		 * else the date of its last action. */
		if (known->case_finished) {
			*out = *known->case_finished;
			return true;
		}
		if (known->case_last_action) {
			*out = *known->case_last_action;
			return true;
		}
		return false;
	case RET_TRIGGER_DOCUMENT_DATE:
		if (known->record_created == NULL)
			return false;
		*out = *known->record_created;
		return true;
	case RET_TRIGGER_TRANSFER:
		if (known->ingested == NULL)
			return false;
		*out = *known->ingested;
		return true;
	case RET_TRIGGER_FISCAL_YEAR_END:
		/* 31.12. of the record's year (municipal fiscal years are
		 * calendar years). */
		if (known->record_created == NULL)
			return false;
		out->y = known->record_created->y;
		out->m = 12;
		out->d = 31;
		return true;
	case RET_TRIGGER_EVENT:
	default:
		return false;
	}
}

int
rules_precedence_parse(const char *s)
{
	if (strcmp(s, "longer") == 0)
		return RET_PRECEDENCE_LONGER;
	if (strcmp(s, "plan") == 0)
		return RET_PRECEDENCE_PLAN;
	if (strcmp(s, "package") == 0)
		return RET_PRECEDENCE_PACKAGE;
	return -1;
}

long
rules_period_choose(bool plan_has, long plan_years, bool package_has,
    long package_years, enum ret_precedence prec, bool *disagree,
    enum ret_source *from)
{
	*disagree = plan_has && package_has && plan_years != package_years;
	*from = RET_FROM_NONE;
	if (!plan_has && !package_has)
		return 0;
	if (!package_has) {
		*from = RET_FROM_PLAN;
		return plan_years;
	}
	if (!plan_has) {
		*from = RET_FROM_PACKAGE;
		return package_years;
	}
	/* Permanent on either side is permanent: nothing may decide that a
	 * record someone marked for keeping for ever is destroyed. */
	if (plan_years == RET_PERMANENT) {
		*from = RET_FROM_PLAN;
		return RET_PERMANENT;
	}
	if (package_years == RET_PERMANENT) {
		*from = RET_FROM_PACKAGE;
		return RET_PERMANENT;
	}
	switch (prec) {
	case RET_PRECEDENCE_PLAN:
		*from = RET_FROM_PLAN;
		return plan_years;
	case RET_PRECEDENCE_PACKAGE:
		*from = RET_FROM_PACKAGE;
		return package_years;
	case RET_PRECEDENCE_LONGER:
	default:
		/* The plan on a tie: it is the organisation's decision. */
		*from = package_years > plan_years ? RET_FROM_PACKAGE :
		    RET_FROM_PLAN;
		return package_years > plan_years ? package_years : plan_years;
	}
}

int
rules_explicit_end(const struct ret_date *computed,
    const struct ret_date *explicit_end, struct ret_date *end)
{
	int c = dates_cmp(explicit_end, computed);

	*end = c > 0 ? *explicit_end : *computed;
	return c > 0 ? 1 : c < 0 ? -1 : 0;
}
