/*
 * test_audit.c — unit tests of audit_canonical() in daemon/audit.c, the
 * RFC 8785 (JSON Canonicalization Scheme) text that the audit chain hashes:
 * key order by UTF-16 code units, string escaping, integers and literals,
 * no whitespace, refusal of reals, of NULL and of too deep nesting.  Values
 * are built with jansson here; nothing touches the database.  Every string
 * audit_canonical() returns is freed, for LeakSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit.h"

/* UTF-8 spellings of the characters the tests use. */
#define U_0080	"\xc2\x80"		/* U+0080, a C1 control */
#define U_A_UML	"\xc3\xa4"		/* U+00E4 ä */
#define U_O_UML	"\xc3\xb6"		/* U+00F6 ö */
#define U_EURO	"\xe2\x82\xac"		/* U+20AC € */
#define U_DALET	"\xef\xac\xb3"		/* U+FB33, Hebrew dalet with dagesh */
#define U_GRIN	"\xf0\x9f\x98\x80"	/* U+1F600 😀, D83D DE00 in UTF-16 */

/*
 * Canonicalises v, drops the reference to v, and fails the test unless the
 * text is exactly want.  The returned string is freed before the verdict
 * so that a failing test leaks nothing.
 */
static void
check_canonical(json_t *v, const char *want)
{
	char *got;
	bool same;

	assert_non_null(v);
	got = audit_canonical(v);
	json_decref(v);
	same = got != NULL && strcmp(got, want) == 0;
	if (!same)
		print_error("audit_canonical:\n  got  %s\n  want %s\n",
		    got ? got : "(NULL)", want);
	free(got);
	assert_true(same);
}

/* Canonicalises v, drops the reference, and fails unless it was refused. */
static void
check_refused(json_t *v)
{
	char *got;

	assert_non_null(v);
	got = audit_canonical(v);
	json_decref(v);
	if (got != NULL)
		print_error("audit_canonical: want NULL, got %s\n", got);
	free(got);
	assert_null(got);
}

/*
 * check_canonical() in a child process, for inputs that have crashed
 * audit_canonical(): a sanitizer's abort then fails only the calling test.
 * may_refuse accepts NULL as well as want (want NULL: only NULL passes).
 * Drops the reference to v.
 */
static void
check_canonical_in_child(json_t *v, const char *want, bool may_refuse)
{
	char *got;
	pid_t pid;
	int status;
	bool ok;

	assert_non_null(v);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		got = audit_canonical(v);
		if (got == NULL)
			ok = may_refuse || want == NULL;
		else
			ok = want != NULL && strcmp(got, want) == 0;
		if (!ok)
			fprintf(stderr, "audit_canonical:\n  got  %s\n  want "
			    "%s\n", got ? got : "(NULL)", want ? want :
			    "(NULL)");
		_exit(ok ? 0 : 3);
	}
	json_decref(v);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("audit_canonical died of signal %d",
		    WTERMSIG(status));
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("the child exited %d (3: wrong text, otherwise a "
		    "sanitizer report above)", WEXITSTATUS(status));
}

/* Parses text (whitespace allowed) or fails the test. */
static json_t *
parse(const char *text)
{
	json_error_t err;
	json_t *v;

	v = json_loads(text, JSON_DECODE_ANY, &err);
	if (v == NULL)
		fail_msg("json_loads: %s", err.text);
	return v;
}

/*
 * RFC 8785 § 3.2.3's object, keys as UTF-8.  reverse inserts them in the
 * opposite order, so that the output cannot depend on insertion order.
 */
static json_t *
rfc8785_sorting_example(bool reverse)
{
	static const char *const kv[][2] = {
		{ U_EURO, "Euro Sign" },
		{ "\r", "Carriage Return" },
		{ U_DALET, "Hebrew Letter Dalet With Dagesh" },
		{ "1", "One" },
		{ U_GRIN, "Emoji: Grinning Face" },
		{ U_0080, "Control" },
		{ U_O_UML, "Latin Small Letter O With Diaeresis" },
	};
	const size_t n = sizeof(kv) / sizeof(kv[0]);
	json_t *o;
	size_t i, j;

	o = json_object();
	assert_non_null(o);
	for (i = 0; i < n; i++) {
		j = reverse ? n - 1 - i : i;
		assert_int_equal(json_object_set_new(o, kv[j][0],
		    json_string(kv[j][1])), 0);
	}
	return o;
}

/* The expected order is "\r", "1", U+0080, U+00F6, U+20AC, U+1F600,
 * U+FB33: the emoji's lead surrogate 0xD83D sorts below 0xFB33 although
 * its code point is larger. */
static const char rfc8785_sorted[] =
	"{\"\\r\":\"Carriage Return\","
	"\"1\":\"One\","
	"\"" U_0080 "\":\"Control\","
	"\"" U_O_UML "\":\"Latin Small Letter O With Diaeresis\","
	"\"" U_EURO "\":\"Euro Sign\","
	"\"" U_GRIN "\":\"Emoji: Grinning Face\","
	"\"" U_DALET "\":\"Hebrew Letter Dalet With Dagesh\"}";

static void
test_keys_sort_by_utf16_code_units(void **state)
{
	(void)state;
	check_canonical(rfc8785_sorting_example(false), rfc8785_sorted);
}

static void
test_key_order_does_not_depend_on_insertion_order(void **state)
{
	(void)state;
	check_canonical(rfc8785_sorting_example(true), rfc8785_sorted);
}

static void
test_astral_keys_sort_by_their_surrogates(void **state)
{
	json_t *o;

	(void)state;
	/* U+E000 and U+FFFD lie above the surrogates in UTF-16; U+1F600
	 * (D83D DE00) and U+10000 (D800 DC00) lie below them. */
	o = json_pack("{s:i,s:i,s:i,s:i,s:i}",
	    "\xef\xbf\xbd", 1,		/* U+FFFD */
	    U_GRIN, 2,
	    "\xee\x80\x80", 3,		/* U+E000 */
	    "\xf0\x90\x80\x80", 4,	/* U+10000 */
	    "\xed\x9f\xbf", 5);		/* U+D7FF */
	check_canonical(o,
	    "{\"\xed\x9f\xbf\":5,"
	    "\"\xf0\x90\x80\x80\":4,"
	    "\"" U_GRIN "\":2,"
	    "\"\xee\x80\x80\":3,"
	    "\"\xef\xbf\xbd\":1}");
}

static void
test_keys_sharing_a_prefix_sort_shorter_first(void **state)
{
	json_t *o;

	(void)state;
	o = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i}", "ab", 4, "aa", 3, "a", 2,
	    "", 1, U_A_UML "x", 6, U_A_UML, 5);
	check_canonical(o, "{\"\":1,\"a\":2,\"aa\":3,\"ab\":4,"
	    "\"" U_A_UML "\":5,\"" U_A_UML "x\":6}");
}

static void
test_strings_escape_only_quote_backslash_and_controls(void **state)
{
	static const char *const cases[][2] = {
		{ "", "\"\"" },
		{ "plain", "\"plain\"" },
		{ "q\"q", "\"q\\\"q\"" },
		{ "b\\s", "\"b\\\\s\"" },
		{ "\b\t\n\f\r", "\"\\b\\t\\n\\f\\r\"" },
		{ "\x01", "\"\\u0001\"" },
		{ "\x0b", "\"\\u000b\"" },
		{ "\x1e", "\"\\u001e\"" },
		{ "\x1f", "\"\\u001f\"" },
		{ "\x7f", "\"\x7f\"" },
		{ "a/b", "\"a/b\"" },
		{ U_0080, "\"" U_0080 "\"" },
		{ U_A_UML, "\"" U_A_UML "\"" },
		{ U_EURO, "\"" U_EURO "\"" },
		{ U_GRIN, "\"" U_GRIN "\"" },
		/* Runs of plain text between escapes are kept intact. */
		{ "x\"y\\z\x01" "w/" U_EURO "\n",
		    "\"x\\\"y\\\\z\\u0001w/" U_EURO "\\n\"" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_canonical(json_string(cases[i][0]), cases[i][1]);
}

static void
test_every_other_control_is_a_lowercase_u00xx_escape(void **state)
{
	char in[2], want[16];
	unsigned int c;

	(void)state;
	for (c = 0x01; c < 0x20; c++) {
		if (c == '\b' || c == '\t' || c == '\n' || c == '\f' ||
		    c == '\r')
			continue;
		in[0] = (char)c;
		in[1] = '\0';
		snprintf(want, sizeof(want), "\"\\u00%c%c\"",
		    "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 0xf]);
		check_canonical(json_string(in), want);
	}
}

static void
test_string_with_nul_byte_escapes_it(void **state)
{
	(void)state;
	check_canonical(json_stringn("a\0b", 3), "\"a\\u0000b\"");
}

static void
test_escapes_apply_to_keys_too(void **state)
{
	json_t *o;

	(void)state;
	o = json_pack("{s:i,s:i}", "t\"\\\x01", 1, "/", 2);
	check_canonical(o, "{\"/\":2,\"t\\\"\\\\\\u0001\":1}");
}

static void
test_integers_print_plainly(void **state)
{
	json_t *a;

	(void)state;
	check_canonical(json_integer(0), "0");
	check_canonical(json_integer(-1), "-1");
	check_canonical(json_integer(9007199254740991LL), "9007199254740991");
	check_canonical(json_integer(-9223372036854775807LL),
	    "-9223372036854775807");
	a = json_pack("[i,i,I,I]", 0, -1, (json_int_t)9007199254740991LL,
	    (json_int_t)-9223372036854775807LL);
	check_canonical(a, "[0,-1,9007199254740991,-9223372036854775807]");
}

static void
test_literals_are_true_false_null(void **state)
{
	(void)state;
	check_canonical(json_true(), "true");
	check_canonical(json_false(), "false");
	check_canonical(json_null(), "null");
	check_canonical(json_pack("[b,b,n]", 1, 0), "[true,false,null]");
}

static void
test_empty_array(void **state)
{
	(void)state;
	check_canonical(json_array(), "[]");
	check_canonical(parse("[ [ ] , [ [ ] ] ]"), "[[],[[]]]");
}

/* Run isolated: an empty object has made audit.c pass NULL to qsort(),
 * which UBSan aborts on. */
static void
test_empty_object(void **state)
{
	(void)state;
	check_canonical_in_child(json_object(), "{}", false);
	check_canonical_in_child(parse("[ { } , [ ] ]"), "[{},[]]", false);
	check_canonical_in_child(parse("{ \"b\" : { } , \"a\" : { } }"),
	    "{\"a\":{},\"b\":{}}", false);
}

static void
test_nested_values_have_no_whitespace(void **state)
{
	(void)state;
	check_canonical(parse(
	    "{ \"z\" : [ 1 , { \"y\" : [ ] , \"x\" : { \"w\" : 0 } } ,"
	    " \"s\" ] ,\n"
	    "\t\"a\" : [ [ true , false ] , { \"k\" : null } ] }"),
	    "{\"a\":[[true,false],{\"k\":null}],"
	    "\"z\":[1,{\"x\":{\"w\":0},\"y\":[]},\"s\"]}");
}

/*
 * For objects with ASCII keys only, RFC 8785 and Python's
 *	json.dumps(obj, sort_keys=True, separators=(",", ":"),
 *	    ensure_ascii=False)
 * agree; the expected strings are what that call prints.
 */
static void
test_matches_python_json_dumps_for_ascii_keys(void **state)
{
	(void)state;
	check_canonical(parse(
	    "{\"b\":[1,\"x\"],\"a\":{\"d\":null,\"c\":true}}"),
	    "{\"a\":{\"c\":true,\"d\":null},\"b\":[1,\"x\"]}");
	check_canonical(parse(
	    "{\"name\": \"\\u00c4rkisto/\\u20ac \\\"q\\\"\", "
	    "\"tags\": [\"x\", \"y\"], \"n\": -42, \"one\": {\"k\": \"v\"}, "
	    "\"list\": [], \"ok\": false, \"ctl\": \"a\\tb\\u0001\\u007f\"}"),
	    "{\"ctl\":\"a\\tb\\u0001\x7f\",\"list\":[],\"n\":-42,"
	    "\"name\":\"\xc3\x84rkisto/" U_EURO " \\\"q\\\"\","
	    "\"ok\":false,\"one\":{\"k\":\"v\"},\"tags\":[\"x\",\"y\"]}");
	/* ASCII order: digits, upper case, '_', lower case, '~'. */
	check_canonical(parse(
	    "{\"B\":1,\"a\":2,\"_\":3,\"A1\":4,\"a1\":5,\"~\":6,\"0\":7}"),
	    "{\"0\":7,\"A1\":4,\"B\":1,\"_\":3,\"a\":2,\"a1\":5,\"~\":6}");
}

static void
test_real_is_refused_anywhere(void **state)
{
	(void)state;
	check_refused(json_real(1.5));
	check_refused(json_real(1.0));
	check_refused(json_pack("[i,f]", 1, 1.5));
	check_refused(json_pack("{s:i,s:f,s:i}", "a", 1, "b", 1.5, "c", 2));
	check_refused(json_pack("{s:[i,{s:[s,{s:[f]}]}]}", "a", 1, "b", "x",
	    "c", 1.5));
}

static void
test_null_input_is_refused(void **state)
{
	(void)state;
	assert_null(audit_canonical(NULL));
}

/* levels arrays, one inside the other, around the integer 1 (which so
 * sits at depth levels, the outermost array at depth 0). */
static json_t *
nested_arrays(int levels)
{
	json_t *v, *a;
	int i;

	v = json_integer(1);
	for (i = 0; i < levels; i++) {
		a = json_array();
		assert_non_null(a);
		assert_int_equal(json_array_append_new(a, v), 0);
		v = a;
	}
	return v;
}

/* The same with objects, each holding its child under "k". */
static json_t *
nested_objects(int levels)
{
	json_t *v, *o;
	int i;

	v = json_integer(1);
	for (i = 0; i < levels; i++) {
		o = json_object();
		assert_non_null(o);
		assert_int_equal(json_object_set_new(o, "k", v), 0);
		v = o;
	}
	return v;
}

static void
test_nesting_30_levels_works(void **state)
{
	char want[2 * 30 + 2];

	(void)state;
	memset(want, '[', 30);
	want[30] = '1';
	memset(want + 31, ']', 30);
	want[61] = '\0';
	check_canonical(nested_arrays(30), want);
}

static void
test_nesting_beyond_32_levels_is_refused(void **state)
{
	char *got;
	json_t *v;

	(void)state;
	/* 32 levels are the most that pass. */
	v = nested_arrays(32);
	got = audit_canonical(v);
	json_decref(v);
	assert_non_null(got);
	free(got);
	check_refused(nested_arrays(33));
	check_refused(nested_arrays(1000));
	check_refused(nested_objects(33));
	check_refused(nested_objects(1000));
}

/*
 * jansson 2.14 lets a program set a key holding a NUL byte
 * (json_object_setn).  The canonical form must then either spell the key
 * whole ("a\u0000b") or refuse the object; it must never cut the key at the
 * NUL, nor crash.
 */
static void
test_key_with_nul_byte_is_never_truncated(void **state)
{
	json_t *o;

	(void)state;
	o = json_object();
	assert_non_null(o);
	assert_int_equal(json_object_setn_new(o, "a\0b", 3, json_integer(1)),
	    0);
	check_canonical_in_child(o, "{\"a\\u0000b\":1}", true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_sort_by_utf16_code_units),
		cmocka_unit_test(
		    test_key_order_does_not_depend_on_insertion_order),
		cmocka_unit_test(
		    test_astral_keys_sort_by_their_surrogates),
		cmocka_unit_test(test_keys_sharing_a_prefix_sort_shorter_first),
		cmocka_unit_test(
		    test_strings_escape_only_quote_backslash_and_controls),
		cmocka_unit_test(
		    test_every_other_control_is_a_lowercase_u00xx_escape),
		cmocka_unit_test(test_string_with_nul_byte_escapes_it),
		cmocka_unit_test(test_escapes_apply_to_keys_too),
		cmocka_unit_test(test_integers_print_plainly),
		cmocka_unit_test(test_literals_are_true_false_null),
		cmocka_unit_test(test_empty_array),
		cmocka_unit_test(test_empty_object),
		cmocka_unit_test(test_nested_values_have_no_whitespace),
		cmocka_unit_test(test_matches_python_json_dumps_for_ascii_keys),
		cmocka_unit_test(test_real_is_refused_anywhere),
		cmocka_unit_test(test_null_input_is_refused),
		cmocka_unit_test(test_nesting_30_levels_works),
		cmocka_unit_test(test_nesting_beyond_32_levels_is_refused),
		cmocka_unit_test(test_key_with_nul_byte_is_never_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
