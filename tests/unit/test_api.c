/*
 * test_api.c — unit tests of the helpers in daemon/api.c that every route
 * shares and that need no request, no loop and no database: the error body,
 * query parameters, paging cursors, api_page(), UUIDs and roles.  A struct
 * api_call is made by hand (calloc) where a helper answers into one.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"

/* Compact, sorted JSON text of j; the caller frees it. */
static char *
dump(const json_t *j)
{
	char *s;

	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(s);
	return s;
}

static struct api_call *
call_new(const char *query)
{
	struct api_call *call;

	call = calloc(1, sizeof(*call));
	assert_non_null(call);
	if (query) {
		call->query = strdup(query);
		assert_non_null(call->query);
	}
	return call;
}

static void
call_free(struct api_call *call)
{
	json_decref(call->reply);
	free(call->query);
	free(call);
}

/* Asserts that call was answered 400 with an error body of this code. */
static void
assert_answered_400(const struct api_call *call, const char *code)
{
	json_t *err;

	assert_int_equal(call->status, 400);
	assert_non_null(call->reply);
	err = json_object_get(call->reply, "error");
	assert_true(json_is_object(err));
	assert_string_equal(json_string_value(json_object_get(err, "code")),
	    code);
	assert_true(json_is_string(json_object_get(err, "message")));
}

/* ---- the error body ------------------------------------------------------ */

static void
test_error_body_is_code_and_message_under_error(void **state)
{
	json_t *j;
	char *s;

	(void)state;
	j = api_error_body("NOT_FOUND", "no such x");
	s = dump(j);
	assert_string_equal(s,
	    "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no such x\"}}");
	free(s);
	json_decref(j);
}

static void
test_error_body_with_quotes_and_umlauts_round_trips(void **state)
{
	const char *msg = "say \"hi\" to \\ the p\xc3\xa4\xc3\xa4t\xc3\xb6s\n";
	json_error_t jerr;
	json_t *j, *back;
	char *s;

	(void)state;
	j = api_error_body("BAD_FIELD", msg);
	s = dump(j);
	back = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
	if (back == NULL)
		fail_msg("not valid JSON: %s: %s", s, jerr.text);
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(back, "error"), "message")), msg);
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(back, "error"), "code")), "BAD_FIELD");
	json_decref(back);
	free(s);
	json_decref(j);
}

/*
 * A message may carry client bytes: route_tokens_revoke() answers
 * "no token %s" with the percent-decoded path segment, so
 * DELETE /v1/tokens/%FF puts a byte that is not UTF-8 into it.  The client
 * must still get its error body, not NULL (which api_send() turns into
 * 500 INTERNAL "the route gave no reply").
 */
static void
test_error_body_survives_message_that_is_not_utf8(void **state)
{
	json_t *j;
	bool has_code;

	(void)state;
	j = api_error_body("NOT_FOUND", "no token \xff\xfe");
	has_code = json_string_value(json_object_get(json_object_get(j,
	    "error"), "code")) != NULL;
	json_decref(j);
	assert_true(has_code);
}

static void
test_api_error_keeps_status_when_argument_is_not_utf8(void **state)
{
	struct api_call *call = call_new(NULL);
	bool has_reply;
	int status;

	(void)state;
	api_error(call, 404, "NOT_FOUND", "no token %s", "\xc3(");
	status = call->status;
	has_reply = call->reply != NULL;
	call_free(call);
	assert_int_equal(status, 404);
	assert_true(has_reply);
}

/* api_error() cuts messages at 1023 bytes; the cut must not split a UTF-8
 * character and so lose the whole body.  One of the two prefixes puts the
 * cut inside an 'ä'. */
static void
test_api_error_long_message_keeps_reply(void **state)
{
	struct api_call *even = call_new(NULL), *odd = call_new(NULL);
	char long_id[2 * 600 + 1];
	bool has_reply;
	int i;

	(void)state;
	for (i = 0; i < 600; i++)
		memcpy(long_id + 2 * i, "\xc3\xa4", 2);	/* ä */
	long_id[2 * 600] = '\0';
	api_error(even, 404, "NOT_FOUND", "no token %s", long_id);
	api_error(odd, 404, "NOT_FOUND", "no token: %s", long_id);
	has_reply = even->reply != NULL && odd->reply != NULL;
	call_free(even);
	call_free(odd);
	assert_true(has_reply);
}

static void
test_api_error_formats_message(void **state)
{
	struct api_call *call = call_new(NULL);
	char *s;

	(void)state;
	api_error(call, 409, "CONFLICT", "token %d of %s", 7, "x");
	assert_int_equal(call->status, 409);
	s = dump(call->reply);
	assert_string_equal(s,
	    "{\"error\":{\"code\":\"CONFLICT\",\"message\":\"token 7 of x\"}}");
	free(s);
	call_free(call);
}

static void
test_api_reply_replaces_earlier_reply(void **state)
{
	struct api_call *call = call_new(NULL);

	(void)state;
	api_error(call, 400, "FIRST", "first");
	api_reply(call, 200, json_pack("{s:i}", "n", 1));
	assert_int_equal(call->status, 200);
	assert_int_equal(json_integer_value(json_object_get(call->reply, "n")),
	    1);
	call_free(call);		/* ASan: the first reply was freed */
}

/* ---- query parameters ---------------------------------------------------- */

static const char *const test_query = "a=1&limit=20&q=p%C3%A4%C3%A4t%C3%B6s+x"
    "&flag&empty=&last=z";

static void
assert_param(const char *query, const char *name, const char *want)
{
	char *v;

	(void)api_query_param(&v, query, name);

	if (want == NULL) {
		if (v != NULL) {
			free(v);
			fail_msg("%s in '%s' should be NULL", name,
			    query ? query : "(null)");
		}
		return;
	}
	if (v == NULL)
		fail_msg("%s in '%s' is NULL, want '%s'", name,
		    query ? query : "(null)", want);
	assert_string_equal(v, want);
	free(v);
}

static void
test_query_param_finds_plain_value(void **state)
{
	(void)state;
	assert_param(test_query, "limit", "20");
	assert_param(test_query, "a", "1");
	assert_param(test_query, "last", "z");
}

static void
test_query_param_percent_decodes_and_plus_is_space(void **state)
{
	(void)state;
	assert_param(test_query, "q", "p\xc3\xa4\xc3\xa4t\xc3\xb6s x");
	assert_param("q=%2B%26%3D", "q", "+&=");
	assert_param("q=%e4", "q", "\xe4");	/* lower-case hex too */
}

static void
test_query_param_missing_is_null(void **state)
{
	(void)state;
	assert_param(test_query, "after", NULL);
	assert_param(test_query, "lim", NULL);		/* a prefix */
	assert_param(test_query, "limits", NULL);	/* longer */
	assert_param("", "limit", NULL);
	assert_param(NULL, "limit", NULL);
}

static void
test_query_param_without_equals_is_empty(void **state)
{
	(void)state;
	assert_param(test_query, "flag", "");
	assert_param(test_query, "empty", "");
	assert_param("flag", "flag", "");
}

static void
test_query_param_bad_escape_is_null(void **state)
{
	(void)state;
	assert_param("q=%zz", "q", NULL);
	assert_param("q=a%00b", "q", NULL);	/* would cut the string */
	assert_param("q=%4", "q", NULL);	/* cut short */
	assert_param("q=%", "q", NULL);
	assert_param("q=%4&r=1", "q", NULL);
}

static void
test_query_param_first_of_repeated_wins(void **state)
{
	(void)state;
	assert_param("limit=5&limit=7", "limit", "5");
}

/* ---- cursors ------------------------------------------------------------- */

static void
assert_cursor_round_trips(const char *plain)
{
	char *c, *back;
	size_t i;

	c = api_cursor_encode(plain);
	assert_non_null(c);
	for (i = 0; c[i]; i++)		/* base64url, unpadded */
		if (strchr("+/=", c[i]) != NULL)
			fail_msg("cursor '%s' of '%s' is not URL-safe", c,
			    plain);
	back = api_cursor_decode(c);
	if (back == NULL)
		fail_msg("cursor '%s' of '%s' does not decode", c, plain);
	assert_string_equal(back, plain);
	free(back);
	free(c);
}

static void
test_cursor_round_trips(void **state)
{
	(void)state;
	assert_cursor_round_trips("2024-05-01 10:00:00.123456+00|"
	    "0b5e5b8e-2f52-4a8e-9a2e-0d1f6f3c1a77");
	assert_cursor_round_trips("x");			/* one byte */
	assert_cursor_round_trips("xy");		/* two */
	assert_cursor_round_trips("xyz");		/* three */
	assert_cursor_round_trips("|");
	assert_cursor_round_trips("p\xc3\xa4\xc3\xa4t\xc3\xb6s|1");
}

/* 0xfb 0xff 0xbf encodes as "+/+/" in base64: the cursor must carry it as
 * "-_-_" and decode it back. */
static void
test_cursor_round_trips_base64_plus_and_slash(void **state)
{
	char *c;

	(void)state;
	c = api_cursor_encode("\xfb\xef\xbe");
	assert_non_null(c);
	assert_string_equal(c, "----");
	free(c);
	c = api_cursor_encode("\xff\xff\xff");
	assert_non_null(c);
	assert_string_equal(c, "____");
	free(c);
	assert_cursor_round_trips("\xfb\xef\xbe|\xff\xff\xff");
	assert_cursor_round_trips("?>?>|~~~");
}

static void
test_cursor_decode_refuses_garbage(void **state)
{
	static const char *const bad[] = {
		"",			/* empty */
		"!!!",			/* not base64 at all */
		"ab+c",			/* '+' is base64, not base64url */
		"ab/c",
		"YWJj=",		/* padding is not part of a cursor */
		"YW Jj",
		"AAAA",			/* decodes to NUL bytes */
	};
	char *v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = api_cursor_decode(bad[i]);
		if (v != NULL) {
			free(v);
			fail_msg("cursor '%s' should not decode", bad[i]);
		}
	}
}

/* No base64 text has a length of 4n + 1: the last character would carry
 * only 6 bits of a byte.  "A" decodes to "" and "QUJDR" to "ABC" today. */
static void
test_cursor_decode_refuses_impossible_length(void **state)
{
	static const char *const bad[] = { "A", "QUJDR", "QUJDRUZH0" };
	char *v;
	size_t i;
	int decoded = 0;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = api_cursor_decode(bad[i]);
		if (v != NULL) {
			print_error("cursor '%s' decodes to '%s'\n", bad[i], v);
			decoded++;
		}
		free(v);
	}
	assert_int_equal(decoded, 0);
}

static void
test_cursor_decode_refuses_overlong(void **state)
{
	char big[2048], *c, *v;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	c = api_cursor_encode(big);
	assert_non_null(c);
	v = api_cursor_decode(c);
	assert_null(v);
	free(c);
}

/* ---- api_page ------------------------------------------------------------ */

static void
test_page_limit_defaults_to_100(void **state)
{
	struct api_call *call = call_new("");
	char *after = (char *)"unset";
	int limit = -1;

	(void)state;
	assert_int_equal(api_page(call, &limit, &after), 0);
	assert_int_equal(limit, 100);
	assert_null(after);
	assert_int_equal(call->status, 0);
	assert_null(call->reply);
	call_free(call);
}

static void
test_page_limit_from_query(void **state)
{
	static const struct {
		const char	*query;
		int		 limit;
	} cases[] = {
		{ "limit=1", 1 },
		{ "limit=1000", 1000 },
		{ "x=1&limit=20&y=2", 20 },
	};
	struct api_call *call;
	char *after;
	int limit;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		call = call_new(cases[i].query);
		assert_int_equal(api_page(call, &limit, &after), 0);
		assert_int_equal(limit, cases[i].limit);
		assert_null(after);
		assert_null(call->reply);
		call_free(call);
	}
}

static void
test_page_limit_out_of_range_is_400(void **state)
{
	static const char *const bad[] = {
		"limit=0", "limit=1001", "limit=abc", "limit=", "limit",
		"limit=-5", "limit=10x", "limit=99999999999999999999999",
	};
	struct api_call *call;
	char *after;
	int limit;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call = call_new(bad[i]);
		if (api_page(call, &limit, &after) != -1) {
			call_free(call);
			fail_msg("'%s' should be refused", bad[i]);
		}
		assert_answered_400(call, "BAD_LIMIT");
		assert_null(after);
		call_free(call);
	}
}

/*
 * A value that does not even percent-decode is no more valid than "abc":
 * it must be refused with 400, not taken as "not given" (which would serve
 * 100 items from the first page).  api_query_param() tells a badly escaped
 * parameter (-1) from a missing one (0).
 */
static void
test_page_param_with_bad_escape_is_400(void **state)
{
	static const struct {
		const char	*query;
		const char	*code;
	} cases[] = {
		{ "limit=%zz", "BAD_LIMIT" },
		{ "limit=1%000", "BAD_LIMIT" },
		{ "after=%zz", "BAD_CURSOR" },
	};
	struct api_call *call;
	char *after;
	int limit, accepted = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		call = call_new(cases[i].query);
		if (api_page(call, &limit, &after) == -1)
			assert_answered_400(call, cases[i].code);
		else {
			print_error("'%s' was accepted: limit %d, after %s\n",
			    cases[i].query, limit, after ? after : "none");
			free(after);
			accepted++;
		}
		call_free(call);
	}
	assert_int_equal(accepted, 0);
}

static void
test_page_after_decodes_cursor(void **state)
{
	const char *plain = "2024-05-01 10:00:00+00|"
	    "0b5e5b8e-2f52-4a8e-9a2e-0d1f6f3c1a77";
	struct api_call *call;
	char *c, *query, *after;
	int limit;

	(void)state;
	c = api_cursor_encode(plain);
	assert_non_null(c);
	if (asprintf(&query, "limit=5&after=%s", c) == -1)
		fail_msg("asprintf");
	call = call_new(query);
	assert_int_equal(api_page(call, &limit, &after), 0);
	assert_int_equal(limit, 5);
	assert_non_null(after);
	assert_string_equal(after, plain);
	free(after);
	free(query);
	free(c);
	call_free(call);
}

static void
test_page_bad_cursor_is_400(void **state)
{
	static const char *const bad[] = {
		"after=!!!", "after=", "after=AAAA", "after=YWJj=",
	};
	struct api_call *call;
	char *after;
	int limit;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call = call_new(bad[i]);
		if (api_page(call, &limit, &after) != -1) {
			free(after);
			call_free(call);
			fail_msg("'%s' should be refused", bad[i]);
		}
		assert_answered_400(call, "BAD_CURSOR");
		assert_null(after);
		call_free(call);
	}
}

static void
test_list_carries_items_and_next_cursor(void **state)
{
	json_t *list;
	char *back;

	(void)state;
	list = api_list(json_array(), "a|b");
	assert_non_null(list);
	assert_true(json_is_array(json_object_get(list, "items")));
	back = api_cursor_decode(json_string_value(json_object_get(list,
	    "next")));
	assert_non_null(back);
	assert_string_equal(back, "a|b");
	free(back);
	json_decref(list);

	list = api_list(json_array(), NULL);
	assert_non_null(list);
	assert_true(json_is_null(json_object_get(list, "next")));
	json_decref(list);
}

/* ---- UUIDs and roles ----------------------------------------------------- */

static void
test_uuid_accepts_canonical_form(void **state)
{
	(void)state;
	assert_true(api_is_uuid("0b5e5b8e-2f52-4a8e-9a2e-0d1f6f3c1a77"));
	assert_true(api_is_uuid("00000000-0000-0000-0000-000000000000"));
	assert_true(api_is_uuid("ABCDEFAB-CDEF-ABCD-EFAB-CDEFABCDEFAB"));
}

static void
test_uuid_refuses_wrong_length_or_characters(void **state)
{
	static const char *const bad[] = {
		"",
		"0b5e5b8e",
		"0b5e5b8e-2f52-4a8e-9a2e-0d1f6f3c1a7",		/* 35 */
		"0b5e5b8e-2f52-4a8e-9a2e-0d1f6f3c1a777",	/* 37 */
		"0b5e5b8e-2f52-4a8e-9a2e-0d1f6f3c1a7g",		/* g */
		"0b5e5b8e2f52-4a8e-9a2e-0d1f6f3c1a77a",	/* no dash */
		"0b5e5b8e-2f52-4a8e-9a2e+0d1f6f3c1a77",
		"{0b5e5b8e-2f52-4a8e-9a2e-0d1f6f3c1a7}",
		"0b5e5b8e2f524a8e9a2e0d1f6f3c1a77",	/* no dashes */
		" 0b5e5b8e-2f52-4a8e-9a2e-0d1f6f3c1a77",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (api_is_uuid(bad[i]))
			fail_msg("'%s' is not a UUID", bad[i]);
}

static void
test_roles_round_trip(void **state)
{
	static const struct {
		enum role	 role;
		const char	*name;
	} roles[] = {
		{ ROLE_INTEGRATION, "integration" },
		{ ROLE_RECORDS_MANAGER, "records_manager" },
		{ ROLE_AUDITOR, "auditor" },
		{ ROLE_ADMIN, "admin" },
	};
	enum role r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		assert_string_equal(role_name(roles[i].role), roles[i].name);
		r = 0;
		assert_int_equal(role_parse(roles[i].name, &r), 0);
		assert_int_equal(r, roles[i].role);
	}
}

static void
test_role_parse_refuses_unknown(void **state)
{
	enum role r = ROLE_AUDITOR;

	(void)state;
	assert_int_equal(role_parse("root", &r), -1);
	assert_int_equal(role_parse("Admin", &r), -1);
	assert_int_equal(role_parse("", &r), -1);
	assert_int_equal(role_parse(NULL, &r), -1);
	assert_int_equal(r, ROLE_AUDITOR);	/* untouched */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_error_body_is_code_and_message_under_error),
		cmocka_unit_test(
		    test_error_body_with_quotes_and_umlauts_round_trips),
		cmocka_unit_test(
		    test_error_body_survives_message_that_is_not_utf8),
		cmocka_unit_test(
		    test_api_error_keeps_status_when_argument_is_not_utf8),
		cmocka_unit_test(test_api_error_long_message_keeps_reply),
		cmocka_unit_test(test_api_error_formats_message),
		cmocka_unit_test(test_api_reply_replaces_earlier_reply),
		cmocka_unit_test(test_query_param_finds_plain_value),
		cmocka_unit_test(
		    test_query_param_percent_decodes_and_plus_is_space),
		cmocka_unit_test(test_query_param_missing_is_null),
		cmocka_unit_test(test_query_param_without_equals_is_empty),
		cmocka_unit_test(test_query_param_bad_escape_is_null),
		cmocka_unit_test(test_query_param_first_of_repeated_wins),
		cmocka_unit_test(test_cursor_round_trips),
		cmocka_unit_test(test_cursor_round_trips_base64_plus_and_slash),
		cmocka_unit_test(test_cursor_decode_refuses_garbage),
		cmocka_unit_test(test_cursor_decode_refuses_impossible_length),
		cmocka_unit_test(test_cursor_decode_refuses_overlong),
		cmocka_unit_test(test_page_limit_defaults_to_100),
		cmocka_unit_test(test_page_limit_from_query),
		cmocka_unit_test(test_page_limit_out_of_range_is_400),
		cmocka_unit_test(test_page_param_with_bad_escape_is_400),
		cmocka_unit_test(test_page_after_decodes_cursor),
		cmocka_unit_test(test_page_bad_cursor_is_400),
		cmocka_unit_test(test_list_carries_items_and_next_cursor),
		cmocka_unit_test(test_uuid_accepts_canonical_form),
		cmocka_unit_test(test_uuid_refuses_wrong_length_or_characters),
		cmocka_unit_test(test_roles_round_trip),
		cmocka_unit_test(test_role_parse_refuses_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
