/*
 * test_hetu.c — unit tests of formats/hetu.c: which Finnish personal
 * identity codes hetu_valid() accepts (every century sign, the 2023 ones
 * included, temporary numbers) and refuses (check character, calendar,
 * individual number, length, signs), and the upper-case form it gives.
 * The check characters were computed apart from the code under test:
 *   python3 -c "print('0123456789ABCDEFHJKLMNPRSTUVWXY'[int('131052308')%31])"
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "package.h"

/* Valid, and normalised to itself. */
static void
assert_valid(const char *code)
{
	char norm[12];

	memset(norm, 'x', sizeof(norm));
	if (!hetu_valid(code, norm))
		fail_msg("%s should be valid", code);
	assert_string_equal(norm, code);
}

static void
assert_invalid(const char *code)
{
	char norm[12];

	memset(norm, 'x', sizeof(norm));
	if (hetu_valid(code, norm))
		fail_msg("%s should not be valid", code);
	assert_string_equal(norm, "");
}

static void
test_classic_signs_are_valid(void **state)
{
	(void)state;
	assert_valid("131052-308T");
	assert_valid("290296-456T");	/* 29.2.1996, a leap year */
	assert_valid("010180+5550");	/* 1.1.1880 */
	assert_valid("010101A123N");	/* 1.1.2001 */
}

static void
test_signs_of_2023_are_valid(void **state)
{
	(void)state;
	assert_valid("010594Y9032");
	assert_valid("010594Y9021");
	assert_valid("020594X903P");
	assert_valid("311299B0029");
	assert_valid("290200C999J");	/* 2000 is a leap year */
	assert_valid("150100F4566");
}

static void
test_temporary_numbers_are_valid(void **state)
{
	(void)state;
	assert_valid("290200A900B");
	assert_valid("290200C999J");
}

static void
test_wrong_check_character(void **state)
{
	(void)state;
	assert_invalid("131052-308U");
	assert_invalid("131052-3080");
	/* Letters left out of the alphabet are never a check character. */
	assert_invalid("131052-308G");
	assert_invalid("131052-308Z");
	/* One digit changed, the check character kept (the right one for
	 * 131053-308 is 2). */
	assert_invalid("131053-308T");
	assert_valid("131053-3082");
}

static void
test_dates_must_be_real(void **state)
{
	(void)state;
	assert_invalid("300201A1236");	/* 30.2. */
	assert_invalid("290201A123J");	/* 29.2.2001 */
	assert_invalid("290200+1239");	/* 1800 was not a leap year */
	assert_valid("290204A321P");	/* 29.2.2004 */
	assert_invalid("320101A123N");	/* day 32 */
	assert_invalid("001301A123P");	/* day 0, month 13 */
	assert_invalid("311101A1233");	/* 31.11. */
}

static void
test_individual_numbers_000_and_001_are_refused(void **state)
{
	(void)state;
	assert_invalid("131052-000V");
	assert_invalid("131052-001W");
}

static void
test_lower_case_is_normalised(void **state)
{
	char norm[12];

	(void)state;
	assert_true(hetu_valid("131052-308t", norm));
	assert_string_equal(norm, "131052-308T");
	assert_true(hetu_valid("010594y9032", norm));
	assert_string_equal(norm, "010594Y9032");
	assert_true(hetu_valid("311299b0029", norm));
	assert_string_equal(norm, "311299B0029");
	assert_true(hetu_valid("010101a123n", norm));
	assert_string_equal(norm, "010101A123N");
	/* norm may be NULL when only validity matters. */
	assert_true(hetu_valid("131052-308T", NULL));
	assert_false(hetu_valid("131052-308U", NULL));
}

static void
test_length_and_characters(void **state)
{
	(void)state;
	assert_invalid("");
	assert_invalid("131052-308");
	assert_invalid("131052-308TT");
	assert_invalid(" 131052-308T");
	assert_invalid("131052-308T ");
	assert_invalid("13105-2308T");
	assert_invalid("1310522308T");	/* no sign */
	assert_invalid("131052G308T");	/* not a sign */
	assert_invalid("131052Z308T");
	assert_invalid("13a052-308T");
	assert_invalid("131052-3a8T");
	assert_false(hetu_valid(NULL, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classic_signs_are_valid),
		cmocka_unit_test(test_signs_of_2023_are_valid),
		cmocka_unit_test(test_temporary_numbers_are_valid),
		cmocka_unit_test(test_wrong_check_character),
		cmocka_unit_test(test_dates_must_be_real),
		cmocka_unit_test(test_individual_numbers_000_and_001_are_refused),
		cmocka_unit_test(test_lower_case_is_normalised),
		cmocka_unit_test(test_length_and_characters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
