/*
 * test_tokens.c — unit tests of the parts of daemon/tokens.c that need no
 * database: the shape and randomness of a new token, its SHA-256 as stored,
 * and the check of a principal's clearance list.  token_create() talks to
 * PostgreSQL and is left to tests/e2e.
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

#include "tokens.h"

#define BASE64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
	"0123456789-_"

static void
test_token_is_sailo_prefix_and_43_base64url_characters(void **state)
{
	char t[TOKEN_TEXT_LEN];
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		memset(t, 'x', sizeof(t));
		assert_int_equal(token_generate(t), 0);
		assert_int_equal(strlen(t), 6 + 43);
		assert_memory_equal(t, "sailo_", 6);
		if (strspn(t + 6, BASE64URL) != 43)
			fail_msg("'%s' is not sailo_ and base64url", t);
	}
}

/* 32 random bytes are 256 bits; the 43rd character holds the last 4 bits
 * and two zero bits, so it is one of 16 characters.  Any other means the
 * token is not the whole 32 bytes. */
static void
test_token_last_character_carries_four_bits(void **state)
{
	char t[TOKEN_TEXT_LEN];
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		assert_int_equal(token_generate(t), 0);
		if (strchr("AEIMQUYcgkosw048", t[6 + 42]) == NULL)
			fail_msg("'%s' does not end on a 256-bit boundary", t);
	}
}

static void
test_two_tokens_differ(void **state)
{
	char a[TOKEN_TEXT_LEN], b[TOKEN_TEXT_LEN];

	(void)state;
	assert_int_equal(token_generate(a), 0);
	assert_int_equal(token_generate(b), 0);
	assert_string_not_equal(a, b);
}

static void
test_hash_of_abc_is_known_sha256(void **state)
{
	char h[65];

	(void)state;
	token_hash("abc", h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

static void
test_hash_of_empty_is_known_sha256(void **state)
{
	char h[65];

	(void)state;
	token_hash("", h);
	assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
}

static void
test_hash_is_64_lowercase_hex(void **state)
{
	char t[TOKEN_TEXT_LEN], h[65];

	(void)state;
	assert_int_equal(token_generate(t), 0);
	memset(h, 'x', sizeof(h));
	token_hash(t, h);
	assert_int_equal(strlen(h), 64);
	assert_int_equal(strspn(h, "0123456789abcdef"), 64);
}

static void
test_hash_differs_for_different_tokens(void **state)
{
	char a[65], b[65];

	(void)state;
	token_hash("sailo_a", a);
	token_hash("sailo_b", b);
	assert_string_not_equal(a, b);
}

/* Parses json (known good) and checks it as a clearance; the message goes
 * into err. */
static int
check(const char *json, char *err, size_t len)
{
	json_error_t jerr;
	json_t *j;
	int rc;

	j = json_loads(json, JSON_DECODE_ANY, &jerr);
	if (j == NULL)
		fail_msg("test JSON %s: %s", json, jerr.text);
	err[0] = '\0';
	rc = token_check_clearance(j, err, len);
	json_decref(j);
	return rc;
}

static void
test_clearance_accepts_all_known_values(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(check("[\"Salassa pidett\\u00e4v\\u00e4\","
	    "\"Osittain salassapidett\\u00e4v\\u00e4\","
	    "\"sensitive_personal_data\"]", err, sizeof(err)), 0);
}

static void
test_clearance_accepts_empty_list(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(check("[]", err, sizeof(err)), 0);
}

static void
test_clearance_refuses_public_class(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(check("[\"Julkinen\"]", err, sizeof(err)), -1);
	assert_true(strlen(err) > 0);
	assert_non_null(strstr(err, "sensitive_personal_data"));
}

static void
test_clearance_refusal_names_the_item(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(check("[\"sensitive_personal_data\",\"Julkinen\"]",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "item 1"));
}

static void
test_clearance_refuses_near_misses(void **state)
{
	static const char *const bad[] = {
		"[\"salassa pidett\\u00e4v\\u00e4\"]",	/* case */
		"[\"Salassa pidettava\"]",		/* no umlauts */
		"[\"sensitive_personal_data \"]",	/* trailing space */
		"[\"\"]",
	};
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (check(bad[i], err, sizeof(err)) != -1 || err[0] == '\0')
			fail_msg("%s should be refused with a message", bad[i]);
}

static void
test_clearance_refuses_number_item(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(check("[\"sensitive_personal_data\",3]", err,
	    sizeof(err)), -1);
	assert_true(strlen(err) > 0);
}

static void
test_clearance_refuses_non_array(void **state)
{
	static const char *const bad[] = {
		"\"sensitive_personal_data\"",
		"{\"a\":\"sensitive_personal_data\"}",
		"3",
		"null",
	};
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (check(bad[i], err, sizeof(err)) != -1 || err[0] == '\0')
			fail_msg("%s should be refused with a message", bad[i]);
}

static void
test_clearance_refuses_null_pointer(void **state)
{
	char err[256] = "";

	(void)state;
	assert_int_equal(token_check_clearance(NULL, err, sizeof(err)), -1);
	assert_true(strlen(err) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_token_is_sailo_prefix_and_43_base64url_characters),
		cmocka_unit_test(test_token_last_character_carries_four_bits),
		cmocka_unit_test(test_two_tokens_differ),
		cmocka_unit_test(test_hash_of_abc_is_known_sha256),
		cmocka_unit_test(test_hash_of_empty_is_known_sha256),
		cmocka_unit_test(test_hash_is_64_lowercase_hex),
		cmocka_unit_test(test_hash_differs_for_different_tokens),
		cmocka_unit_test(test_clearance_accepts_all_known_values),
		cmocka_unit_test(test_clearance_accepts_empty_list),
		cmocka_unit_test(test_clearance_refuses_public_class),
		cmocka_unit_test(test_clearance_refusal_names_the_item),
		cmocka_unit_test(test_clearance_refuses_near_misses),
		cmocka_unit_test(test_clearance_refuses_number_item),
		cmocka_unit_test(test_clearance_refuses_non_array),
		cmocka_unit_test(test_clearance_refuses_null_pointer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
