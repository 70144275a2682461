/*
 * test_tls.c — unit tests of daemon/tls.c that need no network: the
 * client map (fingerprints with colons and in any case, comments, a bad
 * line named by file and line, a fingerprint mapped twice) and the
 * settings that must come in pairs (config.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "tls.h"

#define FP_A	"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:" \
		"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
#define FP_A_HEX "abcdef0123456789abcdef0123456789" \
		"abcdef0123456789abcdef0123456789"
#define FP_B_HEX "0000000000000000000000000000000000000000000000000000000000000001"

static char path[64];

static void
write_map(const char *text)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/sailo-test-map-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int
teardown(void **state)
{
	(void)state;
	if (path[0])
		unlink(path);
	path[0] = '\0';
	return 0;
}

static void
test_fingerprints_take_colons_and_any_case(void **state)
{
	char out[TLS_FINGERPRINT_LEN];

	(void)state;
	assert_int_equal(tls_fingerprint_parse(FP_A, out), 0);
	assert_string_equal(out, FP_A_HEX);
	assert_int_equal(tls_fingerprint_parse(FP_A_HEX, out), 0);
	assert_int_equal(tls_fingerprint_parse("abcd", out), -1);
	assert_int_equal(tls_fingerprint_parse(FP_A_HEX "00", out), -1);
	assert_int_equal(tls_fingerprint_parse("zz" FP_A_HEX, out), -1);
	assert_int_equal(tls_fingerprint_parse("g000000000000000000000000000000"
	    "000000000000000000000000000000000", out), -1);
}

static void
test_map_reads_lines_comments_and_blanks(void **state)
{
	const char *principal, *role;
	struct tls_map *m;
	char err[256];

	(void)state;
	write_map("# certificates\n\n" FP_A "  case-system  integration\n"
	    "\t" FP_B_HEX " tarkastus auditor   # the auditors\n");
	m = tls_map_load(path, err, sizeof(err));
	if (m == NULL)
		fail_msg("%s", err);
	assert_int_equal(tls_map_find(m, FP_A_HEX, &principal, &role), 0);
	assert_string_equal(principal, "case-system");
	assert_string_equal(role, "integration");
	assert_int_equal(tls_map_find(m, FP_B_HEX, &principal, &role), 0);
	assert_string_equal(principal, "tarkastus");
	assert_int_equal(tls_map_find(m, "00", &principal, &role), -1);
	tls_map_free(m);
}

static void
test_bad_map_lines_name_file_and_line(void **state)
{
	static const char *const bad[] = {
		FP_A_HEX " only-two\n",
		FP_A_HEX " a auditor extra\n",
		"not-a-fingerprint someone auditor\n",
		FP_A_HEX " someone superuser\n",
	};
	char err[256], where[96];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];

		snprintf(text, sizeof(text), "# line 1\n%s", bad[i]);
		write_map(text);
		assert_null(tls_map_load(path, err, sizeof(err)));
		snprintf(where, sizeof(where), "%s:2:", path);
		if (strstr(err, where) == NULL)
			fail_msg("'%s' does not name '%s'", err, where);
		unlink(path);
	}
	write_map(FP_A " a auditor\n" FP_A_HEX " b integration\n");
	assert_null(tls_map_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "mapped twice"));
	assert_null(tls_map_load("/nonexistent/map", err, sizeof(err)));
	assert_non_null(strstr(err, "server.client_map"));
}

static void
test_tls_settings_come_in_pairs(void **state)
{
	static const struct {
		const char	*name, *value;
	} env[] = {
		{ "SAILO_SERVER_TLS_CERT", "cert.pem" },
		{ "SAILO_SERVER_TLS_KEY", "key.pem" },
		{ "SAILO_SERVER_CLIENT_CA", "ca.pem" },
		{ "SAILO_SERVER_CLIENT_MAP", "map" },
	};
	/* which of env are set, and whether that loads */
	static const struct {
		int	set[4];
		int	rc;
	} cases[] = {
		{ { 0, 0, 0, 0 }, 0 }, { { 1, 1, 0, 0 }, 0 },
		{ { 1, 1, 1, 0 }, 0 }, { { 1, 1, 1, 1 }, 0 },
		{ { 1, 0, 0, 0 }, -1 }, { { 0, 1, 0, 0 }, -1 },
		{ { 0, 0, 1, 0 }, -1 }, { { 1, 1, 0, 1 }, -1 },
	};
	struct config cfg;
	char err[512];
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (j = 0; j < 4; j++)
			if (cases[i].set[j])
				setenv(env[j].name, env[j].value, 1);
			else
				unsetenv(env[j].name);
		assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)),
		    cases[i].rc);
		if (cases[i].rc == -1)
			assert_non_null(strstr(err, "server."));
		config_free(&cfg);
	}
	for (j = 0; j < 4; j++)
		unsetenv(env[j].name);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprints_take_colons_and_any_case),
		cmocka_unit_test_teardown(
		    test_map_reads_lines_comments_and_blanks, teardown),
		cmocka_unit_test_teardown(test_bad_map_lines_name_file_and_line,
		    teardown),
		cmocka_unit_test(test_tls_settings_come_in_pairs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
