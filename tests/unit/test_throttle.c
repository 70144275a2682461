/*
 * test_throttle.c — unit tests of daemon/throttle.c: the delay grows and
 * is capped, 429 comes at the block and lasts until the address has been
 * quiet for the window, addresses do not touch each other, and a flood of
 * addresses stays in the table's fixed size (the stalest go).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "log.h"
#include "throttle.h"

static const struct throttle_rule rule = {
	.limit = 5, .window_s = 60, .delay_ms = 1000, .max_delay_ms = 30000,
	.block = 20,
};

static void
test_delay_doubles_past_the_limit_and_is_capped(void **state)
{
	static const int want[] = { 0, 0, 0, 0, 0, 1000, 2000, 4000, 8000,
	    16000, 30000, 30000 };
	struct throttle *t = throttle_new(&rule, 64);
	size_t i;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(throttle_failed(t, "10.0.0.1", 1000), want[i]);
	throttle_free(t);
}

static void
test_block_answers_until_quiet_for_the_window(void **state)
{
	struct throttle *t = throttle_new(&rule, 64);
	int i;

	(void)state;
	for (i = 0; i < 19; i++)
		(void)throttle_failed(t, "10.0.0.1", 1000 + i);
	assert_int_equal(throttle_blocked(t, "10.0.0.1", 1018), 0);
	(void)throttle_failed(t, "10.0.0.1", 1019);
	assert_int_equal(throttle_blocked(t, "10.0.0.1", 1019), 60);
	assert_int_equal(throttle_blocked(t, "10.0.0.1", 1078), 1);
	assert_int_equal(throttle_blocked(t, "10.0.0.1", 1079), 0);
	/* forgiven: the count starts again */
	assert_int_equal(throttle_failed(t, "10.0.0.1", 1079), 0);
	throttle_free(t);
}

static void
test_addresses_are_counted_apart(void **state)
{
	struct throttle *t = throttle_new(&rule, 64);
	int i;

	(void)state;
	for (i = 0; i < 25; i++)
		(void)throttle_failed(t, "10.0.0.1", 1000);
	assert_true(throttle_blocked(t, "10.0.0.1", 1000) > 0);
	assert_int_equal(throttle_blocked(t, "10.0.0.2", 1000), 0);
	assert_int_equal(throttle_failed(t, "10.0.0.2", 1000), 0);
	assert_int_equal(throttle_blocked(t, "::1", 1000), 0);
	throttle_free(t);
}

/* 100,000 addresses through 64 slots: the table never grows, the newest
 * address is always counted, and old ones are let go. */
static void
test_a_flood_of_addresses_stays_in_the_table(void **state)
{
	struct throttle *t = throttle_new(&rule, 64);
	char peer[64];
	int i, j, still_blocked = 0;

	(void)state;
	for (i = 0; i < 100000; i++) {
		snprintf(peer, sizeof(peer), "10.%d.%d.%d", i >> 16,
		    (i >> 8) & 255, i & 255);
		for (j = 0; j < 20; j++)
			(void)throttle_failed(t, peer, 1000 + i / 1000);
		assert_true(throttle_blocked(t, peer, 1000 + i / 1000) > 0);
	}
	for (i = 0; i < 1000; i++) {
		snprintf(peer, sizeof(peer), "10.%d.%d.%d", i >> 16,
		    (i >> 8) & 255, i & 255);
		still_blocked += throttle_blocked(t, peer, 1099) > 0;
	}
	assert_int_equal(still_blocked, 0);
	throttle_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_doubles_past_the_limit_and_is_capped),
		cmocka_unit_test(test_block_answers_until_quiet_for_the_window),
		cmocka_unit_test(test_addresses_are_counted_apart),
		cmocka_unit_test(test_a_flood_of_addresses_stays_in_the_table),
	};
	int rc;

	log_open("/dev/null");		/* a line as each address starts */
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	log_close();
	return rc;
}
