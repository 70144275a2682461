/*
 * test_findings.c — unit tests of formats/findings.c: what findings_add()
 * does to a message and a path before it keeps them (bytes that are not
 * valid UTF-8 become '?', a message cut in the middle of a character ends
 * in valid UTF-8, anything of the shape of a personal identity code is
 * withheld), what findings_withhold() replaces and what it leaves (a code
 * inside a longer word such as a digest), and the bound FINDINGS_MAX (the
 * last kept finding becomes TOO_MANY_FINDINGS, the counts count all).
 * The check characters of the identity codes were computed apart from the
 * code under test:
 *   python3 -c "print('0123456789ABCDEFHJKLMNPRSTUVWXY'[int('131052308')%31])"
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats.h"

#define HETU1	"131052-308T"		/* 13.10.1952 */
#define HETU2	"010594Y9032"		/* 1.5.1994, a sign of 2023 */
#define HETU3	"010120A123K"		/* 1.1.2020 */
#define HETU4	"010180+5550"		/* 1.1.1880 */
#define AE	"\xc3\xa4"		/* ä in UTF-8 */

static int
setup(void **state)
{
	struct findings *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	findings_init(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct findings *f = *state;

	findings_free(f);
	free(f);
	return 0;
}

/* True when s is valid UTF-8 (written apart from findings.c: shortest
 * forms only, no surrogates, nothing past U+10FFFF). */
static int
valid_utf8(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned long cp;
	size_t len, i;

	while (*s) {
		if (*s < 0x80) {
			s++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0) {
			len = 2;
			cp = *s & 0x1f;
		} else if ((*s & 0xf0) == 0xe0) {
			len = 3;
			cp = *s & 0x0f;
		} else if ((*s & 0xf8) == 0xf0) {
			len = 4;
			cp = *s & 0x07;
		} else
			return 0;
		for (i = 1; i < len; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += len;
	}
	return 1;
}

/* findings_withhold() on a heap copy of exactly the input's size (so that
 * ASan sees any write past it); returns the result, to be freed. */
static char *
withheld(const char *in)
{
	size_t n = strlen(in) + 1;
	char *s;

	assert_non_null(s = malloc(n));
	memcpy(s, in, n);
	findings_withhold(s);
	assert_true(strlen(s) <= strlen(in));
	return s;
}

static void
assert_withheld(const char *in, const char *want)
{
	char *s = withheld(in);

	if (strcmp(s, want) != 0)
		fail_msg("withhold(\"%s\") gave \"%s\", want \"%s\"", in, s,
		    want);
	free(s);
}

static void
test_message_cut_in_a_character_ends_valid(void **state)
{
	struct findings *f = *state;
	char big[1400], want[1024];
	size_t i;

	/* 600 two-byte characters: the 1023 bytes that fit end in the
	 * first byte of the 512th. */
	for (i = 0; i < 600; i++)
		memcpy(big + 2 * i, AE, 2);
	big[1200] = '\0';
	findings_add(f, SEVERITY_ERROR, "UNSAFE_PATH", big, 0,
	    "%s", big);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->errors, 1);
	assert_string_equal(f->items[0].code, "UNSAFE_PATH");
	assert_int_equal(strlen(f->items[0].message), 1023);
	assert_true(valid_utf8(f->items[0].message));
	for (i = 0; i < 511; i++)
		memcpy(want + 2 * i, AE, 2);
	want[1022] = '?';
	want[1023] = '\0';
	assert_string_equal(f->items[0].message, want);
	/* The path is not cut, and was valid: kept as it is. */
	assert_string_equal(f->items[0].path, big);

	/* Cut after a one-byte prefix: 511 whole characters, nothing to
	 * replace. */
	findings_add(f, SEVERITY_WARNING, "X", NULL, 0, "a%s", big);
	assert_int_equal(strlen(f->items[1].message), 1023);
	assert_true(valid_utf8(f->items[1].message));
	assert_int_equal(f->items[1].message[0], 'a');
	assert_null(strchr(f->items[1].message, '?'));
	assert_null(f->items[1].path);
	assert_int_equal(f->warnings, 1);

	/* Cut in the middle of a three-byte character (the euro sign)
	 * after a one-byte prefix: 340 whole ones, then the two bytes that
	 * fit of the 341st each become '?'. */
	for (i = 0; i < 400; i++)
		memcpy(big + 3 * i, "\xe2\x82\xac", 3);
	big[1200] = '\0';
	findings_add(f, SEVERITY_ERROR, "X", NULL, 0, "a%s", big);
	assert_int_equal(strlen(f->items[2].message), 1023);
	assert_true(valid_utf8(f->items[2].message));
	assert_string_equal(f->items[2].message + 1018, "\xe2\x82\xac??");
}

static void
test_latin1_message_and_path_become_question_marks(void **state)
{
	struct findings *f = *state;

	findings_add(f, SEVERITY_ERROR, "BAGIT_INFO", "data/P\xe4\xe4t\xf6s.pdf",
	    3, "External-Identifier: P\xe4\xe4t\xf6s");
	assert_int_equal(f->n, 1);
	assert_string_equal(f->items[0].path, "data/P??t?s.pdf");
	assert_string_equal(f->items[0].message,
	    "External-Identifier: P??t?s");
	assert_int_equal(f->items[0].line, 3);
	assert_int_equal(f->items[0].severity, SEVERITY_ERROR);

	/* Valid UTF-8 is kept as it is. */
	findings_add(f, SEVERITY_INFO, "X", "data/P" AE AE "t\xc3\xb6s.pdf", 0,
	    "P" AE AE "t\xc3\xb6s \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_string_equal(f->items[1].path, "data/P" AE AE "t\xc3\xb6s.pdf");
	assert_string_equal(f->items[1].message,
	    "P" AE AE "t\xc3\xb6s \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void
test_invalid_sequences_become_question_marks(void **state)
{
	struct findings *f = *state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "a\xc0\x80z", "a??z" },		/* overlong NUL */
		{ "a\xe0\x80\xafz", "a???z" },		/* overlong '/' */
		{ "a\xed\xa0\x80z", "a???z" },		/* surrogate */
		{ "a\xf4\x90\x80\x80z", "a????z" },	/* past U+10FFFF */
		{ "a\xffz", "a?z" },
		{ "a\x80z", "a?z" },			/* lone continuation */
		{ "a\xc3", "a?" },			/* cut at the end */
		{ "a\xe2\x82z", "a??z" },		/* cut in the middle */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		findings_add(f, SEVERITY_ERROR, "X", cases[i].in, 0, "%s",
		    cases[i].in);
		assert_string_equal(f->items[i].message, cases[i].want);
		assert_string_equal(f->items[i].path, cases[i].want);
		assert_true(valid_utf8(f->items[i].message));
	}
	assert_int_equal(f->errors, i);
}

static void
test_withhold_at_start_middle_and_end(void **state)
{
	(void)state;
	assert_withheld(HETU1, "(withheld)");
	assert_withheld(HETU1 " is not a retention period",
	    "(withheld) is not a retention period");
	assert_withheld("RetentionPeriod '" HETU2 "' is not a number",
	    "RetentionPeriod '(withheld)' is not a number");
	assert_withheld("the title is " HETU3, "the title is (withheld)");
	assert_withheld("born " HETU4 ".", "born (withheld).");
	assert_withheld("x-" HETU1 "-y", "x-(withheld)-y");
	assert_withheld(AE HETU1 AE, AE "(withheld)" AE);
	/* Every century sign. */
	assert_withheld("121212+1231 121212-1231 121212A1231 121212B1231 "
	    "121212C1231 121212D1231 121212E1231 121212F1231 121212U1231 "
	    "121212V1231 121212W1231 121212X1231 121212Y1231",
	    "(withheld) (withheld) (withheld) (withheld) (withheld) "
	    "(withheld) (withheld) (withheld) (withheld) (withheld) "
	    "(withheld) (withheld) (withheld)");
}

static void
test_withhold_twice_and_adjacent(void **state)
{
	(void)state;
	assert_withheld(HETU1 " and " HETU2, "(withheld) and (withheld)");
	assert_withheld("a " HETU1 ", b " HETU3 ", c " HETU2 ".",
	    "a (withheld), b (withheld), c (withheld).");
	assert_withheld(HETU1 "/" HETU2, "(withheld)/(withheld)");
	assert_withheld(HETU1 " " HETU1, "(withheld) (withheld)");
}

static void
test_withhold_leaves_longer_words(void **state)
{
	static const char sha[] = "9F86D081884C7D659A2FEAA0C55AD015"
	    "A123456A789B3F0A3B8D8E2B1C4D5E6F";
	static const char *const keep[] = {
		sha,
		"sha256 " "9F86D081884C7D659A2FEAA0C55AD015"
		    "A123456A789B3F0A3B8D8E2B1C4D5E6F" " mismatch",
		"X" HETU1,			/* a letter before */
		HETU1 "Z",			/* a letter after */
		"0" HETU1,			/* a digit before */
		HETU1 "0",			/* a digit after */
		"1310521-308T",			/* seven digits */
		"131052-30T",			/* two digits */
		"131052Z308T",			/* not a century sign */
		"131052-308G",			/* not a check character */
		"131052-308",			/* cut short */
		"",
		"plain words 12345",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		assert_withheld(keep[i], keep[i]);
	/* A code in a digest is kept while a real one beside it is not. */
	assert_withheld("got " HETU1 " in " "A123456A789B0", "got (withheld) in "
	    "A123456A789B0");
}

static void
test_withhold_never_grows(void **state)
{
	char in[12 * 50], want[11 * 50];
	char *s;
	size_t i;

	(void)state;
	/* 50 codes in a row: the result is one byte a code shorter, and is
	 * written within the input's own buffer (withheld() hands it a heap
	 * copy of the input's size, so ASan sees any write past it). */
	for (i = 0; i < 50; i++) {
		memcpy(in + 12 * i, HETU1 " ", 12);
		memcpy(want + 11 * i, "(withheld) ", 11);
	}
	in[12 * 50 - 1] = '\0';
	want[11 * 50 - 1] = '\0';
	s = withheld(in);
	assert_int_equal(strlen(s), 12 * 50 - 1 - 50);
	assert_string_equal(s, want);
	free(s);
}

static void
test_findings_add_withholds_message_and_path(void **state)
{
	struct findings *f = *state;

	findings_add(f, SEVERITY_WARNING, "SAHKE2_RETENTION",
	    "data/" HETU1 "/case.xml", 12,
	    "RetentionPeriod '%s' is not a number of years (%s)", HETU2,
	    HETU3);
	assert_int_equal(f->n, 1);
	assert_string_equal(f->items[0].path, "data/(withheld)/case.xml");
	assert_string_equal(f->items[0].message,
	    "RetentionPeriod '(withheld)' is not a number of years "
	    "((withheld))");
	assert_int_equal(f->items[0].line, 12);
	assert_int_equal(f->warnings, 1);
	assert_int_equal(f->errors, 0);

	/* Latin-1 around a code: both done, the code still withheld. */
	findings_add(f, SEVERITY_ERROR, "X", "P\xe4" HETU1, 0,
	    "P\xe4\xe4t\xf6s " HETU1);
	assert_string_equal(f->items[1].path, "P?(withheld)");
	assert_string_equal(f->items[1].message, "P??t?s (withheld)");

	/* A code at the very end of a message cut at 1023 bytes: a part of
	 * a code is no longer of its shape, a whole one is withheld. */
	{
		char pad[1100];

		memset(pad, 'x', 1011);
		pad[1011] = ' ';
		pad[1012] = '\0';
		findings_add(f, SEVERITY_ERROR, "X", NULL, 0, "%s%s", pad,
		    HETU1);
		assert_int_equal(strlen(f->items[2].message), 1022);
		assert_string_equal(f->items[2].message + 1012, "(withheld)");
	}
	assert_true(findings_has(f, "SAHKE2_RETENTION"));
	assert_false(findings_has(f, "TOO_MANY_FINDINGS"));
}

static void
test_findings_max_exactly_has_no_marker(void **state)
{
	struct findings *f = *state;
	size_t i;

	for (i = 0; i < FINDINGS_MAX; i++)
		findings_add(f, i % 2 ? SEVERITY_WARNING : SEVERITY_ERROR,
		    "FILE_MISSING", NULL, 0, "file %zu", i);
	assert_int_equal(f->n, FINDINGS_MAX);
	assert_int_equal(f->dropped, 0);
	assert_int_equal(f->errors, FINDINGS_MAX / 2);
	assert_int_equal(f->warnings, FINDINGS_MAX / 2);
	assert_false(findings_has(f, "TOO_MANY_FINDINGS"));
	assert_string_equal(f->items[FINDINGS_MAX - 1].message, "file 9999");
}

static void
test_past_findings_max_the_last_becomes_too_many(void **state)
{
	struct findings *f = *state;
	size_t i, total = FINDINGS_MAX + 2500, toomany = 0;
	char want[32];

	for (i = 0; i < total; i++)
		findings_add(f, i % 3 == 0 ? SEVERITY_WARNING : i % 3 == 1 ?
		    SEVERITY_INFO : SEVERITY_ERROR, "FILE_UNLISTED",
		    i % 5 == 0 ? "data/x" : NULL, (long)i + 1, "file %zu", i);
	assert_int_equal(f->n, FINDINGS_MAX);
	assert_true(f->cap >= FINDINGS_MAX);
	assert_int_equal(f->dropped, 2500);
	/* Counts are of all that were added. */
	assert_int_equal(f->warnings, (total + 2) / 3);
	assert_int_equal(f->errors, total / 3);
	/* The first ones are kept as they were. */
	assert_string_equal(f->items[0].code, "FILE_UNLISTED");
	assert_string_equal(f->items[0].message, "file 0");
	assert_string_equal(f->items[0].path, "data/x");
	snprintf(want, sizeof(want), "file %d", FINDINGS_MAX - 2);
	assert_string_equal(f->items[FINDINGS_MAX - 2].message, want);
	assert_int_equal(f->items[FINDINGS_MAX - 2].line, FINDINGS_MAX - 1);
	/* The last one says there were more, once. */
	assert_string_equal(f->items[FINDINGS_MAX - 1].code,
	    "TOO_MANY_FINDINGS");
	assert_int_equal(f->items[FINDINGS_MAX - 1].severity, SEVERITY_ERROR);
	assert_null(f->items[FINDINGS_MAX - 1].path);
	assert_int_equal(f->items[FINDINGS_MAX - 1].line, 0);
	assert_non_null(f->items[FINDINGS_MAX - 1].message);
	assert_true(strlen(f->items[FINDINGS_MAX - 1].message) > 0);
	for (i = 0; i < f->n; i++)
		if (strcmp(f->items[i].code, "TOO_MANY_FINDINGS") == 0)
			toomany++;
	assert_int_equal(toomany, 1);
	assert_true(findings_has(f, "TOO_MANY_FINDINGS"));
	/* findings_free() (teardown) frees the replaced strings once: ASan
	 * would report a double free or a leak. */
}

static void
test_one_past_max_and_then_more_errors(void **state)
{
	struct findings *f = *state;
	size_t i;

	for (i = 0; i < FINDINGS_MAX; i++)
		findings_add(f, SEVERITY_INFO, "I", NULL, 0, "info");
	assert_int_equal(f->errors, 0);
	findings_add(f, SEVERITY_WARNING, "W", NULL, 0, "one more");
	assert_int_equal(f->n, FINDINGS_MAX);
	assert_int_equal(f->dropped, 1);
	assert_int_equal(f->warnings, 1);
	assert_string_equal(f->items[FINDINGS_MAX - 1].code,
	    "TOO_MANY_FINDINGS");
	for (i = 0; i < 7; i++)
		findings_add(f, SEVERITY_ERROR, "E", NULL, 0, "error");
	assert_int_equal(f->errors, 7);
	assert_int_equal(f->dropped, 8);
	assert_int_equal(f->n, FINDINGS_MAX);
	assert_false(findings_has(f, "E"));
	assert_false(findings_has(f, "W"));
	assert_string_equal(f->items[FINDINGS_MAX - 2].code, "I");
}

static void
test_free_then_reuse(void **state)
{
	struct findings *f = *state;

	findings_add(f, SEVERITY_ERROR, "A", "p", 1, "m");
	findings_free(f);
	assert_int_equal(f->n, 0);
	assert_int_equal(f->errors, 0);
	assert_null(f->items);
	findings_add(f, SEVERITY_ERROR, "B", NULL, 0, "m");
	assert_int_equal(f->n, 1);
	assert_true(findings_has(f, "B"));
	assert_false(findings_has(f, "A"));
	assert_string_equal(severity_name(SEVERITY_ERROR), "error");
	assert_string_equal(severity_name(SEVERITY_WARNING), "warning");
	assert_string_equal(severity_name(SEVERITY_INFO), "info");
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_message_cut_in_a_character_ends_valid),
		T(test_latin1_message_and_path_become_question_marks),
		T(test_invalid_sequences_become_question_marks),
		T(test_withhold_at_start_middle_and_end),
		T(test_withhold_twice_and_adjacent),
		T(test_withhold_leaves_longer_words),
		T(test_withhold_never_grows),
		T(test_findings_add_withholds_message_and_path),
		T(test_findings_max_exactly_has_no_marker),
		T(test_past_findings_max_the_last_becomes_too_many),
		T(test_one_past_max_and_then_more_errors),
		T(test_free_then_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
