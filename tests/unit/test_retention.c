/*
 * test_retention.c — unit tests of retention/dates.c and retention/rules.c:
 * the end of a period on the calendar (leap days, year-end rounding,
 * permanent, a trigger not known yet), which trigger dates the package
 * gives, whose period wins (precedence, -1 anywhere), an explicit
 * RetentionPeriodEnd, and function codes normalised (formats/package.c).
 * Expected dates are worked out by hand in the comments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "package.h"
#include "retention.h"

static struct ret_date
day(const char *s)
{
	struct ret_date d;

	if (!dates_parse(s, &d))
		fail_msg("%s should parse", s);
	return d;
}

/* trigger + years (rounded or not) ends on want. */
static void
assert_end(const char *trigger, long years, bool round, const char *want)
{
	struct ret_date t = day(trigger), e;
	char out[11];

	assert_int_equal(dates_end(&t, years, round, &e), RET_END_DATE);
	dates_format(&e, out);
	if (strcmp(out, want) != 0)
		fail_msg("%s + %ld years%s: %s, want %s", trigger, years,
		    round ? " (to year end)" : "", out, want);
}

static void
test_parse(void **state)
{
	struct ret_date d;
	char out[11];

	(void)state;
	assert_true(dates_parse("2024-02-29", &d));	/* a leap day */
	assert_true(dates_parse("2000-02-29", &d));	/* 2000: leap */
	assert_false(dates_parse("1900-02-29", &d));	/* 1900: not */
	assert_false(dates_parse("2023-02-29", &d));
	assert_false(dates_parse("2024-04-31", &d));
	assert_false(dates_parse("2024-13-01", &d));
	assert_false(dates_parse("2024-00-10", &d));
	assert_false(dates_parse("0000-01-01", &d));
	assert_false(dates_parse("24-01-01", &d));
	assert_false(dates_parse("2024-1-01", &d));
	assert_false(dates_parse("2024-01-01x", &d));
	assert_false(dates_parse("", &d));
	assert_false(dates_parse(NULL, &d));
	/* the date of an xs:dateTime */
	assert_true(dates_parse("2019-12-31T23:59:59+02:00", &d));
	dates_format(&d, out);
	assert_string_equal(out, "2019-12-31");
}

static void
test_end_on_the_calendar(void **state)
{
	(void)state;
	assert_end("2020-06-15", 10, false, "2030-06-15");
	assert_end("2020-06-15", 0, false, "2020-06-15");	/* at once */
	assert_end("2019-12-31", 1, false, "2020-12-31");
	/* 29.2. + N years is 28.2. when that year has no 29.2. ... */
	assert_end("2024-02-29", 1, false, "2025-02-28");
	assert_end("2024-02-29", 3, false, "2027-02-28");
	/* ... and stays 29.2. when it has */
	assert_end("2024-02-29", 4, false, "2028-02-29");
	assert_end("2000-02-29", 100, false, "2100-02-28");	/* 2100: not */
	assert_end("2000-02-29", 400, false, "2400-02-29");	/* 2400: leap */
	/* past 2038, where a 32-bit time_t would fail */
	assert_end("2025-03-01", 120, false, "2145-03-01");
	assert_end("1890-01-01", 50, false, "1940-01-01");
}

static void
test_end_rounded_to_year_end(void **state)
{
	(void)state;
	assert_end("2020-06-15", 10, true, "2030-12-31");
	assert_end("2020-01-01", 6, true, "2026-12-31");
	assert_end("2024-02-29", 1, true, "2025-12-31");
	assert_end("2020-12-31", 0, true, "2020-12-31");
}

static void
test_end_permanent_waiting_invalid(void **state)
{
	struct ret_date t = day("2020-06-15"), e = { 0, 0, 0 };

	(void)state;
	assert_int_equal(dates_end(&t, RET_PERMANENT, false, &e),
	    RET_END_PERMANENT);
	/* permanent needs no trigger date */
	assert_int_equal(dates_end(NULL, RET_PERMANENT, true, &e),
	    RET_END_PERMANENT);
	/* a trigger not known yet (an event still to come): not due */
	assert_int_equal(dates_end(NULL, 10, false, &e), RET_END_WAITING);
	assert_int_equal(dates_end(&t, -2, false, &e), RET_END_INVALID);
	/* past the calendar Sailo writes: kept */
	t = day("9990-01-01");
	assert_int_equal(dates_end(&t, 120, false, &e), RET_END_PERMANENT);
	assert_int_equal(e.y, 0);	/* untouched */
}

static void
test_trigger_kinds(void **state)
{
	(void)state;
	assert_int_equal(rules_trigger_kind("Asian lopullinen ratkaisu"),
	    RET_TRIGGER_CASE_DECIDED);
	assert_int_equal(rules_trigger_kind("  asian lopullinen ratkaisu \n"),
	    RET_TRIGGER_CASE_DECIDED);
	assert_int_equal(rules_trigger_kind("Asiakirjan päivämäärä"),
	    RET_TRIGGER_DOCUMENT_DATE);
	assert_int_equal(rules_trigger_kind("Säilytysjärjestelmään siirto"),
	    RET_TRIGGER_TRANSFER);
	assert_int_equal(rules_trigger_kind("Tilikauden päättyminen"),
	    RET_TRIGGER_FISCAL_YEAR_END);
	/* Case is folded beyond ASCII. */
	assert_int_equal(rules_trigger_kind("ASIAKIRJAN PÄIVÄMÄÄRÄ"),
	    RET_TRIGGER_DOCUMENT_DATE);
	assert_int_equal(rules_trigger_kind("Palvelussuhteen päättyminen"),
	    RET_TRIGGER_EVENT);
	assert_int_equal(rules_trigger_kind("Henkilön kuolema"),
	    RET_TRIGGER_EVENT);
	assert_int_equal(rules_trigger_kind("Asian lopullinen"),
	    RET_TRIGGER_EVENT);
	assert_int_equal(rules_trigger_kind(""), RET_TRIGGER_EVENT);
	assert_int_equal(rules_trigger_kind(NULL), RET_TRIGGER_EVENT);
}

static void
test_trigger_dates(void **state)
{
	struct ret_date finished = day("2021-05-04"), action = day("2021-03-01"),
	    created = day("2019-08-20"), ingested = day("2025-01-10"), out;
	struct ret_known all = { &finished, &action, &created, &ingested };
	struct ret_known no_finish = { NULL, &action, &created, &ingested };
	struct ret_known none = { NULL, NULL, NULL, NULL };
	char s[11];

	(void)state;
	assert_true(rules_trigger_date(RET_TRIGGER_CASE_DECIDED, &all, &out));
	dates_format(&out, s);
	assert_string_equal(s, "2021-05-04");
	/* no Finished: the last action's date */
	assert_true(rules_trigger_date(RET_TRIGGER_CASE_DECIDED, &no_finish,
	    &out));
	dates_format(&out, s);
	assert_string_equal(s, "2021-03-01");
	assert_true(rules_trigger_date(RET_TRIGGER_DOCUMENT_DATE, &all, &out));
	dates_format(&out, s);
	assert_string_equal(s, "2019-08-20");
	assert_true(rules_trigger_date(RET_TRIGGER_TRANSFER, &all, &out));
	dates_format(&out, s);
	assert_string_equal(s, "2025-01-10");
	/* 31.12. of the record's year */
	assert_true(rules_trigger_date(RET_TRIGGER_FISCAL_YEAR_END, &all,
	    &out));
	dates_format(&out, s);
	assert_string_equal(s, "2019-12-31");
	/* an event's date is never known from the package */
	assert_false(rules_trigger_date(RET_TRIGGER_EVENT, &all, &out));
	assert_false(rules_trigger_date(RET_TRIGGER_CASE_DECIDED, &none, &out));
	assert_false(rules_trigger_date(RET_TRIGGER_DOCUMENT_DATE, &none,
	    &out));
	assert_false(rules_trigger_date(RET_TRIGGER_FISCAL_YEAR_END, &none,
	    &out));
}

static void
test_precedence(void **state)
{
	enum ret_source from;
	bool disagree;

	(void)state;
	assert_int_equal(rules_precedence_parse("longer"),
	    RET_PRECEDENCE_LONGER);
	assert_int_equal(rules_precedence_parse("plan"), RET_PRECEDENCE_PLAN);
	assert_int_equal(rules_precedence_parse("package"),
	    RET_PRECEDENCE_PACKAGE);
	assert_int_equal(rules_precedence_parse("Plan"), -1);

	/* agreeing: no warning */
	assert_int_equal(rules_period_choose(true, 10, true, 10,
	    RET_PRECEDENCE_LONGER, &disagree, &from), 10);
	assert_false(disagree);
	assert_int_equal(from, RET_FROM_PLAN);
	/* disagreeing: the longer wins by default, either way round */
	assert_int_equal(rules_period_choose(true, 6, true, 10,
	    RET_PRECEDENCE_LONGER, &disagree, &from), 10);
	assert_true(disagree);
	assert_int_equal(from, RET_FROM_PACKAGE);
	assert_int_equal(rules_period_choose(true, 20, true, 3,
	    RET_PRECEDENCE_LONGER, &disagree, &from), 20);
	assert_true(disagree);
	assert_int_equal(from, RET_FROM_PLAN);
	/* or the side configured */
	assert_int_equal(rules_period_choose(true, 6, true, 10,
	    RET_PRECEDENCE_PLAN, &disagree, &from), 6);
	assert_int_equal(from, RET_FROM_PLAN);
	assert_int_equal(rules_period_choose(true, 20, true, 3,
	    RET_PRECEDENCE_PACKAGE, &disagree, &from), 3);
	assert_int_equal(from, RET_FROM_PACKAGE);
	/* -1 anywhere is permanent, whatever the precedence */
	assert_int_equal(rules_period_choose(true, -1, true, 10,
	    RET_PRECEDENCE_PACKAGE, &disagree, &from), RET_PERMANENT);
	assert_true(disagree);
	assert_int_equal(from, RET_FROM_PLAN);
	assert_int_equal(rules_period_choose(true, 50, true, -1,
	    RET_PRECEDENCE_PLAN, &disagree, &from), RET_PERMANENT);
	assert_int_equal(from, RET_FROM_PACKAGE);
	/* one side silent: the other's, no disagreement */
	assert_int_equal(rules_period_choose(false, 0, true, 6,
	    RET_PRECEDENCE_PLAN, &disagree, &from), 6);
	assert_false(disagree);
	assert_int_equal(from, RET_FROM_PACKAGE);
	assert_int_equal(rules_period_choose(true, 0, false, 0,
	    RET_PRECEDENCE_PACKAGE, &disagree, &from), 0);
	assert_int_equal(from, RET_FROM_PLAN);
	rules_period_choose(false, 0, false, 0, RET_PRECEDENCE_LONGER,
	    &disagree, &from);
	assert_int_equal(from, RET_FROM_NONE);
	assert_false(disagree);
}

static void
test_explicit_end(void **state)
{
	struct ret_date computed = day("2030-06-15"), end;
	struct ret_date later = day("2031-01-01"), earlier = day("2029-12-31");
	char s[11];

	(void)state;
	/* later: kept */
	assert_int_equal(rules_explicit_end(&computed, &later, &end), 1);
	dates_format(&end, s);
	assert_string_equal(s, "2031-01-01");
	/* earlier: the computed end stays, and the caller warns */
	assert_int_equal(rules_explicit_end(&computed, &earlier, &end), -1);
	dates_format(&end, s);
	assert_string_equal(s, "2030-06-15");
	assert_int_equal(rules_explicit_end(&computed, &computed, &end), 0);
}

/* The plan's Luokitustunnus and the package's Function find each other
 * whichever way the code is written. */
static void
assert_code(const char *in, const char *want)
{
	char *got = package_function_code(in);

	if (want == NULL) {
		if (got != NULL)
			fail_msg("%s should not be a function code, got %s",
			    in, got);
		return;
	}
	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("%s: %s, want %s", in, got ? got : "(none)", want);
	free(got);
}

static void
test_function_codes(void **state)
{
	(void)state;
	assert_code("10 03 00 09", "10 03 00 09");
	assert_code("10.03.00.09", "10 03 00 09");
	assert_code(" 10.03.00.09 ", "10 03 00 09");
	assert_code("00 00", "00 00");
	assert_code("10 03 0x", NULL);
	assert_code(".10 03", NULL);
	assert_code("", NULL);
}


/* ---- decide.c ------------------------------------------------------------ */

static char *
fmt(const struct ret_date *d)
{
	static char out[11];

	dates_format(d, out);
	return out;
}

/* A record in a case file decided 15.3.2021, created 29.2.2020. */
static void
input_base(struct ret_input *in, struct ret_date *fin, struct ret_date *cr,
    struct ret_date *today)
{
	memset(in, 0, sizeof(*in));
	*fin = day("2021-03-15");
	*cr = day("2020-02-29");
	*today = day("2026-12-03");
	in->known.case_finished = fin;
	in->known.record_created = cr;
	in->known.ingested = today;
	in->in_case_file = true;
}

static void
test_decide_plan_and_package(void **state)
{
	struct ret_date fin, cr, today, end;
	struct ret_input in;
	struct ret_decision d;

	(void)state;
	input_base(&in, &fin, &cr, &today);
	/* The plan's 10 from the final decision; the package's 6 loses. */
	in.plan_has = true;
	in.plan_years = 10;
	in.plan_basis = "KuntaL";
	in.plan_trigger = "Asian lopullinen ratkaisu";
	in.package_has = true;
	in.package_years = 6;
	in.package_basis = "oma";
	retention_decide(&in, &d);
	assert_int_equal(d.state, RET_STATE_DATED);
	assert_int_equal(d.from, RET_FROM_PLAN);
	assert_true(d.period_disagree);
	assert_string_equal(d.basis, "KuntaL");
	assert_string_equal(fmt(&d.trigger_date), "2021-03-15");
	assert_string_equal(fmt(&d.end), "2031-03-15");
	/* Precedence package: 6 years, still from the plan's trigger, and
	 * the package's basis. */
	in.prec = RET_PRECEDENCE_PACKAGE;
	retention_decide(&in, &d);
	assert_int_equal(d.from, RET_FROM_PACKAGE);
	assert_string_equal(d.basis, "oma");
	assert_string_equal(d.trigger, "Asian lopullinen ratkaisu");
	assert_string_equal(fmt(&d.end), "2027-03-15");
	/* Rounded: 31.12.2027. */
	in.round_to_year_end = true;
	retention_decide(&in, &d);
	assert_string_equal(fmt(&d.end), "2027-12-31");
	/* An explicit end later than the computed one is kept; an earlier
	 * one is reported and not followed. */
	in.round_to_year_end = false;
	end = day("2030-01-01");
	in.package_end = &end;
	retention_decide(&in, &d);
	assert_int_equal(d.explicit_end, 1);
	assert_string_equal(fmt(&d.end), "2030-01-01");
	assert_string_equal(fmt(&d.computed_end), "2027-03-15");
	end = day("2025-01-01");
	retention_decide(&in, &d);
	assert_int_equal(d.explicit_end, -1);
	assert_string_equal(fmt(&d.end), "2027-03-15");
}

static void
test_decide_triggers_and_states(void **state)
{
	struct ret_date fin, cr, today, end;
	struct ret_event ev;
	struct ret_input in;
	struct ret_decision d;

	(void)state;
	input_base(&in, &fin, &cr, &today);
	/* Nothing says a period: unknown, never due. */
	retention_decide(&in, &d);
	assert_int_equal(d.state, RET_STATE_UNKNOWN);
	/* Only an explicit end: that day. */
	end = day("2040-05-05");
	in.package_end = &end;
	retention_decide(&in, &d);
	assert_int_equal(d.state, RET_STATE_DATED);
	assert_int_equal(d.from, RET_FROM_PACKAGE);
	assert_string_equal(fmt(&d.end), "2040-05-05");
	in.package_end = NULL;
	/* The record's date: 29.2.2020 + 21 = 28.2.2041. */
	in.plan_has = true;
	in.plan_years = 21;
	in.plan_trigger = " asiakirjan päivämäärä ";
	retention_decide(&in, &d);
	assert_string_equal(fmt(&d.end), "2041-02-28");
	/* An event trigger waits, even with an explicit end... */
	in.plan_trigger = "Palvelussuhteen päättyminen";
	in.package_end = &end;
	retention_decide(&in, &d);
	assert_int_equal(d.state, RET_STATE_WAITING);
	assert_false(d.has_trigger_date);
	/* ...until an event gives its date (case and spaces aside). */
	ev.trigger = "PALVELUSSUHTEEN PÄÄTTYMINEN";
	ev.date = day("2024-05-31");
	in.events = &ev;
	in.nevents = 1;
	retention_decide(&in, &d);
	assert_int_equal(d.state, RET_STATE_DATED);
	ev.trigger = "Työsuhteen päättyminen";		/* another trigger */
	retention_decide(&in, &d);
	assert_int_equal(d.state, RET_STATE_WAITING);
	/* "ä" decomposed (a + U+0308) is the same text. */
	ev.trigger = " Palvelussuhteen pa\xcc\x88" "a\xcc\x88" "ttyminen";
	retention_decide(&in, &d);
	assert_int_equal(d.state, RET_STATE_DATED);
	assert_string_equal(fmt(&d.end), "2045-05-31");	/* explicit earlier */
	/* An event never moves a date the package gives (the case's final
	 * decision, 15.3.2021), and fills one it does not give. */
	in.plan_trigger = "Asian lopullinen ratkaisu";
	in.package_end = NULL;
	ev.trigger = "asian lopullinen ratkaisu";
	ev.date = day("1900-01-01");
	retention_decide(&in, &d);
	assert_string_equal(fmt(&d.trigger_date), "2021-03-15");
	in.known.case_finished = NULL;
	retention_decide(&in, &d);
	assert_string_equal(fmt(&d.trigger_date), "1900-01-01");
	in.known.case_finished = &fin;
	/* -1 anywhere: permanent, whatever the trigger. */
	in.package_has = true;
	in.package_years = -1;
	retention_decide(&in, &d);
	assert_int_equal(d.state, RET_STATE_PERMANENT);
	/* No trigger on either side: the case's final decision in a case
	 * file, the record's date outside one. */
	input_base(&in, &fin, &cr, &today);
	in.package_has = true;
	in.package_years = 3;
	retention_decide(&in, &d);
	assert_string_equal(d.trigger, "Asian lopullinen ratkaisu");
	assert_string_equal(fmt(&d.end), "2024-03-15");
	in.in_case_file = false;
	retention_decide(&in, &d);
	assert_string_equal(d.trigger, "Asiakirjan päivämäärä");
	assert_string_equal(fmt(&d.end), "2023-02-28");
	/* The final decision not known (no Finished, no action): waits. */
	in.in_case_file = true;
	in.known.case_finished = NULL;
	retention_decide(&in, &d);
	assert_int_equal(d.state, RET_STATE_WAITING);
}

static void
test_plan_lookup(void **state)
{
	struct plan_type types[2] = {
		{ .name = "päätös", .years = 21 },
		{ .name = "Hakemus", .years = 10 },
	};
	struct plan_class classes[3] = {
		{ .code = "10 03", .years = 5 },
		{ .code = "05 01 01", .years = 10, .types = types, .ntypes = 2 },
		{ .code = "10 03 00 09", .years = 7 },
	};
	struct plan p = { .classes = classes, .nclasses = 3 };
	const struct plan_class *c;

	(void)state;
	plan_sort_classes(&p);
	c = plan_find_class(&p, "10 03 00 09");
	assert_non_null(c);
	assert_int_equal(c->years, 7);
	/* A longer code falls in the longest whole-group prefix. */
	c = plan_find_class(&p, "10 03 00 09 12");
	assert_int_equal(c->years, 7);
	c = plan_find_class(&p, "10 03 01");
	assert_int_equal(c->years, 5);
	assert_null(plan_find_class(&p, "10 031"));
	assert_null(plan_find_class(&p, "10"));
	assert_null(plan_find_class(&p, NULL));
	c = plan_find_class(&p, "05 01 01");
	assert_int_equal(plan_find_type(c, " HAKEMUS ")->years, 10);
	assert_int_equal(plan_find_type(c, "päätös")->years, 21);
	assert_null(plan_find_type(c, "lausunto"));
	assert_null(plan_find_type(c, NULL));
	assert_string_equal(retention_state_name(RET_STATE_WAITING), "waiting");
	assert_string_equal(retention_source_name(RET_FROM_NONE), "none");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_end_on_the_calendar),
		cmocka_unit_test(test_end_rounded_to_year_end),
		cmocka_unit_test(test_end_permanent_waiting_invalid),
		cmocka_unit_test(test_trigger_kinds),
		cmocka_unit_test(test_trigger_dates),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_explicit_end),
		cmocka_unit_test(test_function_codes),
		cmocka_unit_test(test_decide_plan_and_package),
		cmocka_unit_test(test_decide_triggers_and_states),
		cmocka_unit_test(test_plan_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
