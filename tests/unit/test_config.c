/*
 * test_config.c — unit tests of daemon/config.c: defaults, the ini file,
 * SAILO_<SECTION>_<KEY> overrides, the start-up errors that must name the
 * file, line and key, and config_conninfo().  Each test writes its own
 * temporary file (mkstemp) and removes it; nothing here touches the
 * database or the repository's var/.
 */
#include <limits.h>
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

/* Environment variables that a test may set; teardown unsets them. */
static const char *const test_env[] = {
	"SAILO_SERVER_LISTEN",
	"SAILO_SERVER_MAX_HEADERS",
	"SAILO_WORKERS_JOBS",
	"SAILO_LOG_REQUESTS",
};

struct fixture {
	char		path[64];	/* the temporary file, or "" */
	struct config	cfg;
	char		err[512];
};

/* Writes text to a new temporary file; its name goes into f->path. */
static void
write_conf(struct fixture *f, const char *text)
{
	size_t len = strlen(text);
	int fd;

	snprintf(f->path, sizeof(f->path), "/tmp/sailo-test-config-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Loads f->path and fails the test, showing the message, unless it loads. */
static void
load_ok(struct fixture *f)
{
	int rc;

	rc = config_load(&f->cfg, f->path, f->err, sizeof(f->err));
	if (rc != 0)
		fail_msg("config_load: %s", f->err);
}

/* Asserts that err names the file, the line and the key. */
static void
assert_names(const struct fixture *f, int line, const char *key)
{
	char where[96];

	snprintf(where, sizeof(where), "%s:%d:", f->path, line);
	if (strstr(f->err, where) == NULL)
		fail_msg("'%s' does not name the file and line '%s'", f->err,
		    where);
	if (strstr(f->err, key) == NULL)
		fail_msg("'%s' does not name the key '%s'", f->err, key);
}

static int
setup(void **state)
{
	struct fixture *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	config_free(&f->cfg);
	if (f->path[0])
		unlink(f->path);
	for (i = 0; i < sizeof(test_env) / sizeof(test_env[0]); i++)
		unsetenv(test_env[i]);
	free(f);
	return 0;
}

/* The caller's environment must not leak into tests of the defaults. */
static int
group_setup(void **state)
{
	extern char **environ;
	char *names[256], *eq;
	size_t i, n = 0;

	(void)state;
	for (i = 0; environ[i] && n < 256; i++)
		if (strncmp(environ[i], "SAILO_", 6) == 0 &&
		    (eq = strchr(environ[i], '=')) != NULL)
			names[n++] = strndup(environ[i],
			    (size_t)(eq - environ[i]));
	for (i = 0; i < n; i++) {
		if (names[i])
			unsetenv(names[i]);
		free(names[i]);
	}
	return 0;
}

static void
test_empty_file_gives_defaults(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "; nothing set\n");
	load_ok(f);
	assert_string_equal(f->cfg.listen, "127.0.0.1:8480");
	assert_int_equal(f->cfg.header_timeout_ms, 10000);
	assert_int_equal(f->cfg.idle_timeout_ms, 60000);
	assert_int_equal(f->cfg.body_timeout_ms, 60000);
	assert_int_equal(f->cfg.max_header_bytes, 16384);
	assert_int_equal(f->cfg.max_headers, 100);
	assert_int_equal(f->cfg.max_json_bytes, 1048576);
	assert_int_equal(f->cfg.max_connections, 4096);
	assert_int_equal(f->cfg.shutdown_grace_ms, 10000);
	assert_int_equal(f->cfg.health_interval_ms, 1000);
	assert_int_equal(f->cfg.workers_requests, 0);
	assert_int_equal(f->cfg.workers_jobs, 0);
	assert_string_equal(f->cfg.db_conninfo, "");
	assert_string_equal(f->cfg.db_owner_conninfo, "");
	assert_string_equal(f->cfg.db_migrations_dir, "sql");
	assert_string_equal(f->cfg.log_file, "");
	assert_true(f->cfg.log_requests);
	assert_int_equal(f->cfg.limits_queue, 1000);
}

static void
test_no_path_gives_defaults(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(config_load(&f->cfg, NULL, f->err, sizeof(f->err)),
	    0);
	assert_string_equal(f->cfg.listen, "127.0.0.1:8480");
	assert_int_equal(f->cfg.limits_queue, 1000);
}

/* conf/sailo.conf says it lists "every key with its default". */
static void
test_shipped_conf_holds_the_defaults(void **state)
{
	struct fixture *f = *state;
	struct config def;

	/* `make unit` runs from the repository root. */
	if (access("conf/sailo.conf", R_OK) != 0)
		fail_msg("conf/sailo.conf not found: run from the repository "
		    "root");
	assert_int_equal(config_load(&def, NULL, f->err, sizeof(f->err)), 0);
	if (config_load(&f->cfg, "conf/sailo.conf", f->err,
	    sizeof(f->err)) != 0) {
		config_free(&def);
		fail_msg("conf/sailo.conf: %s", f->err);
	}
	assert_string_equal(f->cfg.listen, def.listen);
	assert_int_equal(f->cfg.header_timeout_ms, def.header_timeout_ms);
	assert_int_equal(f->cfg.idle_timeout_ms, def.idle_timeout_ms);
	assert_int_equal(f->cfg.body_timeout_ms, def.body_timeout_ms);
	assert_int_equal(f->cfg.max_header_bytes, def.max_header_bytes);
	assert_int_equal(f->cfg.max_headers, def.max_headers);
	assert_int_equal(f->cfg.max_json_bytes, def.max_json_bytes);
	assert_int_equal(f->cfg.max_connections, def.max_connections);
	assert_int_equal(f->cfg.shutdown_grace_ms, def.shutdown_grace_ms);
	assert_int_equal(f->cfg.health_interval_ms, def.health_interval_ms);
	assert_string_equal(f->cfg.tls_cert, def.tls_cert);
	assert_string_equal(f->cfg.tls_key, def.tls_key);
	assert_string_equal(f->cfg.client_ca, def.client_ca);
	assert_string_equal(f->cfg.client_map, def.client_map);
	assert_int_equal(f->cfg.auth_fail_limit, def.auth_fail_limit);
	assert_int_equal(f->cfg.auth_fail_window_s, def.auth_fail_window_s);
	assert_int_equal(f->cfg.auth_fail_delay_ms, def.auth_fail_delay_ms);
	assert_int_equal(f->cfg.auth_fail_max_delay_ms,
	    def.auth_fail_max_delay_ms);
	assert_int_equal(f->cfg.auth_fail_block, def.auth_fail_block);
	assert_int_equal(f->cfg.workers_requests, def.workers_requests);
	assert_int_equal(f->cfg.workers_jobs, def.workers_jobs);
	assert_string_equal(f->cfg.db_conninfo, def.db_conninfo);
	assert_string_equal(f->cfg.db_owner_conninfo, def.db_owner_conninfo);
	assert_string_equal(f->cfg.db_migrations_dir, def.db_migrations_dir);
	assert_string_equal(f->cfg.log_file, def.log_file);
	assert_int_equal(f->cfg.log_requests, def.log_requests);
	assert_int_equal(f->cfg.limits_queue, def.limits_queue);
	config_free(&def);
}

static void
test_file_value_replaces_default(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\n"
	    "listen = 127.0.0.1:9000\n"
	    "header_timeout_ms = 2500\n"
	    "max_json_bytes = 1073741824\n"
	    "[log]\n"
	    "requests = no\n"
	    "[database]\n"
	    "conninfo = host=db.example dbname=sailo\n");
	load_ok(f);
	assert_string_equal(f->cfg.listen, "127.0.0.1:9000");
	assert_int_equal(f->cfg.header_timeout_ms, 2500);
	assert_int_equal(f->cfg.max_json_bytes, 1073741824LL);
	assert_false(f->cfg.log_requests);
	assert_string_equal(f->cfg.db_conninfo, "host=db.example dbname=sailo");
	/* Keys the file does not name keep their defaults. */
	assert_int_equal(f->cfg.idle_timeout_ms, 60000);
}

static void
test_env_overrides_file(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\nlisten = 127.0.0.1:9000\n"
	    "[workers]\njobs = 2\n");
	assert_int_equal(setenv("SAILO_SERVER_LISTEN", "0.0.0.0:9100", 1), 0);
	assert_int_equal(setenv("SAILO_WORKERS_JOBS", "7", 1), 0);
	load_ok(f);
	assert_string_equal(f->cfg.listen, "0.0.0.0:9100");
	assert_int_equal(f->cfg.workers_jobs, 7);
}

static void
test_env_overrides_default_without_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(setenv("SAILO_LOG_REQUESTS", "false", 1), 0);
	assert_int_equal(config_load(&f->cfg, NULL, f->err, sizeof(f->err)),
	    0);
	assert_false(f->cfg.log_requests);
}

static void
test_unknown_key_names_file_line_and_key(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\n"
	    "listen = 127.0.0.1:9000\n"
	    "listen_backlog = 5\n");
	assert_int_equal(config_load(&f->cfg, f->path, f->err,
	    sizeof(f->err)), -1);
	assert_names(f, 3, "listen_backlog");
}

static void
test_unknown_section_names_file_line_and_key(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\n"
	    "listen = 127.0.0.1:9000\n"
	    "\n"
	    "[cache]\n"
	    "size = 10\n");
	assert_int_equal(config_load(&f->cfg, f->path, f->err,
	    sizeof(f->err)), -1);
	assert_names(f, 5, "cache.size");
}

static void
test_first_error_is_the_one_reported(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\n"
	    "nosuch_first = 1\n"
	    "nosuch_second = 2\n");
	assert_int_equal(config_load(&f->cfg, f->path, f->err,
	    sizeof(f->err)), -1);
	assert_names(f, 2, "nosuch_first");
	assert_null(strstr(f->err, "nosuch_second"));
}

static void
test_non_integer_names_key_and_line(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\n"
	    "\n"
	    "header_timeout_ms = abc\n");
	assert_int_equal(config_load(&f->cfg, f->path, f->err,
	    sizeof(f->err)), -1);
	assert_names(f, 3, "header_timeout_ms");
	assert_non_null(strstr(f->err, "abc"));
}

static void
test_integer_with_trailing_text_is_refused(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\nheader_timeout_ms = 100ms\n");
	assert_int_equal(config_load(&f->cfg, f->path, f->err,
	    sizeof(f->err)), -1);
	assert_names(f, 2, "header_timeout_ms");
}

static void
test_integer_below_range_names_key_and_line(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\nlisten = 127.0.0.1:9000\n"
	    "header_timeout_ms = 99\n");
	assert_int_equal(config_load(&f->cfg, f->path, f->err,
	    sizeof(f->err)), -1);
	assert_names(f, 3, "header_timeout_ms");
}

static void
test_integer_above_range_names_key_and_line(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\nheader_timeout_ms = 3600001\n");
	assert_int_equal(config_load(&f->cfg, f->path, f->err,
	    sizeof(f->err)), -1);
	assert_names(f, 2, "header_timeout_ms");
}

/* strtoll saturates; the saturated value must not slip through as valid. */
static void
test_integer_overflow_names_key_and_line(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\nmax_json_bytes = 99999999999999999999999\n");
	assert_int_equal(config_load(&f->cfg, f->path, f->err,
	    sizeof(f->err)), -1);
	assert_names(f, 2, "max_json_bytes");
}

static void
test_bad_bool_names_key_and_line(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[log]\nfile =\nrequests = maybe\n");
	assert_int_equal(config_load(&f->cfg, f->path, f->err,
	    sizeof(f->err)), -1);
	assert_names(f, 3, "requests");
	assert_non_null(strstr(f->err, "maybe"));
}

static void
test_bool_spellings_are_read(void **state)
{
	static const struct {
		const char	*text;
		bool		 value;
	} cases[] = {
		{ "true", true }, { "yes", true }, { "1", true },
		{ "false", false }, { "no", false }, { "0", false },
	};
	struct fixture *f = *state;
	char text[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[log]\nrequests = %s\n",
		    cases[i].text);
		write_conf(f, text);
		load_ok(f);
		assert_int_equal(f->cfg.log_requests, cases[i].value);
		config_free(&f->cfg);
		unlink(f->path);
		f->path[0] = '\0';
	}
}

static void
test_syntax_error_names_file_and_line(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\nlisten 127.0.0.1:9000\n");
	assert_int_equal(config_load(&f->cfg, f->path, f->err,
	    sizeof(f->err)), -1);
	assert_names(f, 2, "");
}

static void
test_missing_file_names_file(void **state)
{
	struct fixture *f = *state;
	const char *path = "/nonexistent/sailo-test/sailo.conf";

	assert_int_equal(config_load(&f->cfg, path, f->err, sizeof(f->err)),
	    -1);
	assert_non_null(strstr(f->err, path));
}

static void
test_bad_env_value_names_variable(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[server]\nmax_headers = 50\n");
	assert_int_equal(setenv("SAILO_SERVER_MAX_HEADERS", "lots", 1), 0);
	assert_int_equal(config_load(&f->cfg, f->path, f->err,
	    sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "SAILO_SERVER_MAX_HEADERS"));
	assert_non_null(strstr(f->err, "lots"));
}

static void
test_bad_env_bool_names_variable(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(setenv("SAILO_LOG_REQUESTS", "sometimes", 1), 0);
	assert_int_equal(config_load(&f->cfg, NULL, f->err, sizeof(f->err)),
	    -1);
	assert_non_null(strstr(f->err, "SAILO_LOG_REQUESTS"));
}

static void
test_empty_conninfo_means_private_cluster_as_app(void **state)
{
	struct fixture *f = *state;
	char cwd[PATH_MAX], host[PATH_MAX + 32], *ci;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(host, sizeof(host), "host=%s/var/run ", cwd);
	write_conf(f, "[database]\nconninfo =\n");
	load_ok(f);
	ci = config_conninfo(&f->cfg, false);
	assert_non_null(ci);
	if (strncmp(ci, host, strlen(host)) != 0 ||
	    strstr(ci, " user=sailo_app") == NULL ||
	    strstr(ci, " dbname=sailo") == NULL) {
		free(ci);
		fail_msg("unexpected private-cluster conninfo");
	}
	free(ci);
}

static void
test_empty_owner_conninfo_means_private_cluster_as_owner(void **state)
{
	struct fixture *f = *state;
	char cwd[PATH_MAX], host[PATH_MAX + 32], *ci;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(host, sizeof(host), "host=%s/var/run ", cwd);
	/* The app's conninfo is set; the owner's must not borrow it. */
	write_conf(f, "[database]\nconninfo = host=db.example\n");
	load_ok(f);
	ci = config_conninfo(&f->cfg, true);
	assert_non_null(ci);
	if (strncmp(ci, host, strlen(host)) != 0 ||
	    strstr(ci, " user=sailo_owner") == NULL ||
	    strstr(ci, "sailo_app") != NULL) {
		free(ci);
		fail_msg("unexpected private-cluster owner conninfo");
	}
	free(ci);
}

static void
test_set_conninfo_is_returned_as_is(void **state)
{
	struct fixture *f = *state;
	char *ci;

	write_conf(f, "[database]\n"
	    "conninfo = host=db.example dbname=a user=app\n"
	    "owner_conninfo = host=db.example dbname=a user=owner\n");
	load_ok(f);
	ci = config_conninfo(&f->cfg, false);
	assert_non_null(ci);
	assert_string_equal(ci, "host=db.example dbname=a user=app");
	free(ci);
	ci = config_conninfo(&f->cfg, true);
	assert_non_null(ci);
	assert_string_equal(ci, "host=db.example dbname=a user=owner");
	free(ci);
}

static void
test_config_free_twice_is_harmless(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(config_load(&f->cfg, NULL, f->err, sizeof(f->err)),
	    0);
	config_free(&f->cfg);
	assert_null(f->cfg.listen);
	config_free(&f->cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_file_gives_defaults,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_path_gives_defaults,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_shipped_conf_holds_the_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_file_value_replaces_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_overrides_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_env_overrides_default_without_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unknown_key_names_file_line_and_key, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unknown_section_names_file_line_and_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_first_error_is_the_one_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_non_integer_names_key_and_line, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_integer_with_trailing_text_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_integer_below_range_names_key_and_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_integer_above_range_names_key_and_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_integer_overflow_names_key_and_line, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_bool_names_key_and_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bool_spellings_are_read,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_syntax_error_names_file_and_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file_names_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_env_value_names_variable, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_env_bool_names_variable, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_empty_conninfo_means_private_cluster_as_app, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_empty_owner_conninfo_means_private_cluster_as_owner,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_set_conninfo_is_returned_as_is, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_free_twice_is_harmless, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
