/*
 * config.c — the table of settings and its loader.  One row per key: name,
 * type, bounds, default.  An unknown key, a bad value or a missing file is a
 * start-up error naming the key and line (the caller exits with status 2).
 * Relative paths are relative to the daemon's working directory (the
 * repository root when started by `make run`).
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/*
 * The formats an archive takes for keeping by default: those the National
 * Archives of Finland lists as acceptable for long-term preservation (PDF
 * and PDF/A, plain text, XML, CSV, TIFF, JPEG, PNG, JPEG 2000, SVG, ODF,
 * Office Open XML, WAVE, FLAC, MP3, MPEG-4, Matroska), as libmagic names
 * them.  ingest.accepted_formats replaces the list.
 */
#define INGEST_ACCEPTED_FORMATS \
	"application/pdf,text/plain,text/xml,application/xml,text/csv," \
	"image/tiff,image/jpeg,image/png,image/jp2,image/svg+xml," \
	"application/vnd.oasis.opendocument.text," \
	"application/vnd.oasis.opendocument.spreadsheet," \
	"application/vnd.oasis.opendocument.presentation," \
	"application/vnd.openxmlformats-officedocument.wordprocessingml." \
	"document," \
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet," \
	"application/vnd.openxmlformats-officedocument.presentationml." \
	"presentation," \
	"audio/x-wav,audio/flac,audio/mpeg,video/mp4,video/x-matroska"

enum config_type { CONFIG_STR, CONFIG_INT, CONFIG_INT64, CONFIG_BOOL };

struct config_key {
	const char	*section;
	const char	*name;
	enum config_type type;
	size_t		 offset;
	long long	 min, max;
	const char	*def;
};

#define KEY(s, n, t, f, lo, hi, d) \
	{ s, n, t, offsetof(struct config, f), lo, hi, d }

static const struct config_key config_keys[] = {
	KEY("server", "listen", CONFIG_STR, listen, 0, 0, "127.0.0.1:8480"),
	KEY("server", "header_timeout_ms", CONFIG_INT, header_timeout_ms,
	    100, 3600000, "10000"),
	KEY("server", "reply_timeout_ms", CONFIG_INT, reply_timeout_ms,
	    1000, 86400000, "300000"),
	KEY("server", "idle_timeout_ms", CONFIG_INT, idle_timeout_ms,
	    100, 3600000, "60000"),
	KEY("server", "body_timeout_ms", CONFIG_INT, body_timeout_ms,
	    100, 3600000, "60000"),
	KEY("server", "max_header_bytes", CONFIG_INT, max_header_bytes,
	    1024, 1048576, "16384"),
	KEY("server", "max_headers", CONFIG_INT, max_headers, 8, 1000, "100"),
	KEY("server", "max_json_bytes", CONFIG_INT64, max_json_bytes,
	    1024, 1073741824LL, "1048576"),
	KEY("server", "max_connections", CONFIG_INT, max_connections,
	    16, 1000000, "4096"),
	KEY("server", "shutdown_grace_ms", CONFIG_INT, shutdown_grace_ms,
	    0, 3600000, "10000"),
	KEY("server", "health_interval_ms", CONFIG_INT, health_interval_ms,
	    100, 600000, "1000"),
	KEY("server", "tls_cert", CONFIG_STR, tls_cert, 0, 0, ""),
	KEY("server", "tls_key", CONFIG_STR, tls_key, 0, 0, ""),
	KEY("server", "client_ca", CONFIG_STR, client_ca, 0, 0, ""),
	KEY("server", "client_map", CONFIG_STR, client_map, 0, 0, ""),
	KEY("server", "auth_fail_limit", CONFIG_INT, auth_fail_limit,
	    1, 1000000, "5"),
	KEY("server", "auth_fail_window_s", CONFIG_INT, auth_fail_window_s,
	    1, 86400, "60"),
	KEY("server", "auth_fail_delay_ms", CONFIG_INT, auth_fail_delay_ms,
	    0, 3600000, "1000"),
	KEY("server", "auth_fail_max_delay_ms", CONFIG_INT,
	    auth_fail_max_delay_ms, 0, 3600000, "30000"),
	KEY("server", "auth_fail_block", CONFIG_INT, auth_fail_block,
	    1, 1000000, "20"),
	KEY("workers", "requests", CONFIG_INT, workers_requests, 0, 256, "0"),
	KEY("workers", "jobs", CONFIG_INT, workers_jobs, 0, 256, "0"),
	KEY("database", "conninfo", CONFIG_STR, db_conninfo, 0, 0, ""),
	KEY("database", "owner_conninfo", CONFIG_STR, db_owner_conninfo,
	    0, 0, ""),
	KEY("database", "migrations_dir", CONFIG_STR, db_migrations_dir,
	    0, 0, "sql"),
	KEY("retention", "max_plan_bytes", CONFIG_INT64,
	    retention_max_plan_bytes, 1024, 1073741824LL, "16777216"),
	KEY("retention", "precedence", CONFIG_STR, retention_precedence, 0, 0,
	    "longer"),
	KEY("retention", "round_to_year_end", CONFIG_BOOL,
	    retention_round_to_year_end, 0, 1, "false"),
	KEY("audit", "key_file", CONFIG_STR, audit_key_file, 0, 0,
	    "var/keys/audit-ed25519.pem"),
	KEY("audit", "checkpoint_events", CONFIG_INT64, audit_checkpoint_events,
	    1, 100000000LL, "1000"),
	KEY("audit", "checkpoint_minutes", CONFIG_INT,
	    audit_checkpoint_minutes, 1, 1440, "10"),
	KEY("audit", "syslog", CONFIG_BOOL, audit_syslog, 0, 1, "false"),
	KEY("storage", "spool", CONFIG_STR, storage_spool, 0, 0, "var/spool"),
	KEY("storage", "root", CONFIG_STR, storage_root, 0, 0, "var/store"),
	KEY("storage", "work", CONFIG_STR, storage_work, 0, 0, "var/work"),
	KEY("storage", "person_key_file", CONFIG_STR, storage_person_key_file,
	    0, 0, "var/keys/person-hmac.key"),
	KEY("storage", "sha512", CONFIG_BOOL, storage_sha512, 0, 1, "false"),
	KEY("ingest", "max_package_bytes", CONFIG_INT64,
	    ingest_max_package_bytes, 1024, 1LL << 50, "68719476736"),
	KEY("ingest", "inbox_dir", CONFIG_STR, ingest_inbox_dir, 0, 0,
	    "var/inbox"),
	KEY("ingest", "outbox_dir", CONFIG_STR, ingest_outbox_dir, 0, 0,
	    "var/outbox"),
	KEY("ingest", "inbox_require_marker", CONFIG_BOOL,
	    ingest_inbox_require_marker, 0, 1, "false"),
	KEY("ingest", "inbox_interval_ms", CONFIG_INT, ingest_inbox_interval_ms,
	    100, 3600000, "2000"),
	KEY("ingest", "max_entries", CONFIG_INT64, ingest_max_entries,
	    1, 100000000LL, "250000"),
	KEY("ingest", "max_unpacked_bytes", CONFIG_INT64,
	    ingest_max_unpacked_bytes, 1024, 1LL << 52, "68719476736"),
	KEY("ingest", "max_ratio", CONFIG_INT, ingest_max_ratio, 2, 1000000,
	    "200"),
	KEY("ingest", "max_metadata_bytes", CONFIG_INT64,
	    ingest_max_metadata_bytes, 1024, 1LL << 40, "536870912"),
	KEY("ingest", "format_policy", CONFIG_STR, ingest_format_policy, 0, 0,
	    "warn"),
	KEY("ingest", "accepted_formats", CONFIG_STR, ingest_accepted_formats,
	    0, 0, INGEST_ACCEPTED_FORMATS),
	KEY("ingest", "keep_packages_days", CONFIG_INT,
	    ingest_keep_packages_days, 0, 36500, "0"),
	KEY("ingest", "paused", CONFIG_BOOL, ingest_paused, 0, 1, "false"),
	KEY("ingest", "unpack_while_receiving", CONFIG_BOOL,
	    ingest_unpack_while_receiving, 0, 1, "true"),
	KEY("ingest", "poll_interval_ms", CONFIG_INT, ingest_poll_interval_ms,
	    50, 3600000, "1000"),
	KEY("ingest", "max_attempts", CONFIG_INT, ingest_max_attempts, 1, 100,
	    "5"),
	KEY("ingest", "max_waiting", CONFIG_INT, ingest_max_waiting, 1,
	    10000000, "1000"),
	KEY("log", "file", CONFIG_STR, log_file, 0, 0, ""),
	KEY("log", "requests", CONFIG_BOOL, log_requests, 0, 1, "true"),
	KEY("limits", "queue", CONFIG_INT, limits_queue, 1, 10000000, "1000"),
};
#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

struct config_parse {
	struct config	*cfg;
	char		*err;
	size_t		 errlen;
	int		 failed;
};

static const struct config_key *
config_find(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* Sets one key from text; returns 0, or -1 with a message in err. */
static int
config_set(struct config *cfg, const struct config_key *k, const char *value,
    char *err, size_t errlen)
{
	char *field = (char *)cfg + k->offset;
	char *end;
	long long n;

	switch (k->type) {
	case CONFIG_STR:
		free(*(char **)field);
		if ((*(char **)field = strdup(value)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		return 0;
	case CONFIG_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 ||
		    strcmp(value, "1") == 0)
			*(bool *)field = true;
		else if (strcmp(value, "false") == 0 ||
		    strcmp(value, "no") == 0 || strcmp(value, "0") == 0)
			*(bool *)field = false;
		else {
			snprintf(err, errlen, "bad value for %s.%s: '%s' "
			    "(expected true or false)", k->section, k->name,
			    value);
			return -1;
		}
		return 0;
	case CONFIG_INT:
	case CONFIG_INT64:
		errno = 0;
		n = strtoll(value, &end, 10);
		if (errno || end == value || *end != '\0' || n < k->min ||
		    n > k->max) {
			snprintf(err, errlen, "bad value for %s.%s: '%s' "
			    "(expected an integer from %lld to %lld)",
			    k->section, k->name, value, k->min, k->max);
			return -1;
		}
		if (k->type == CONFIG_INT64)
			*(long long *)field = n;
		else
			*(int *)field = (int)n;
		return 0;
	}
	return -1;
}

static int
config_ini_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct config_parse *p = user;
	const struct config_key *k;
	char msg[512];

	if (p->failed)
		return 1;	/* report the first error only */
	if ((k = config_find(section, name)) == NULL) {
		snprintf(p->err, p->errlen, "unknown key '%s.%s'", section,
		    name);
		p->failed = 1;
		return 0;
	}
	if (config_set(p->cfg, k, value, msg, sizeof(msg)) == -1) {
		snprintf(p->err, p->errlen, "%s", msg);
		p->failed = 1;
		return 0;
	}
	return 1;
}

/* SAILO_<SECTION>_<KEY>, upper-cased: SAILO_SERVER_LISTEN. */
static void
config_env_name(char *out, size_t outlen, const struct config_key *k)
{
	size_t i;

	snprintf(out, outlen, "SAILO_%s_%s", k->section, k->name);
	for (i = 0; out[i]; i++)
		out[i] = (char)toupper((unsigned char)out[i]);
}

int
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct config_parse p = { cfg, err, errlen, 0 };
	char envname[128], msg[512];
	const char *v;
	size_t i;
	int line;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < NKEYS; i++)
		if (config_set(cfg, &config_keys[i], config_keys[i].def, err,
		    errlen) == -1)
			return -1;	/* a bad default is a bug */

	if (path) {
		line = ini_parse(path, config_ini_handler, &p);
		if (line == -1) {
			snprintf(err, errlen, "%s: cannot open: %s", path,
			    strerror(errno));
			return -1;
		}
		if (line != 0) {
			snprintf(msg, sizeof(msg), "%s", p.failed ? err :
			    line < 0 ? "out of memory" : "syntax error");
			snprintf(err, errlen, "%s:%d: %s", path, line, msg);
			return -1;
		}
	}
	for (i = 0; i < NKEYS; i++) {
		config_env_name(envname, sizeof(envname), &config_keys[i]);
		if ((v = getenv(envname)) == NULL)
			continue;
		if (config_set(cfg, &config_keys[i], v, msg, sizeof(msg)) ==
		    -1) {
			snprintf(err, errlen, "environment %s: %s", envname,
			    msg);
			return -1;
		}
	}
	if (strcmp(cfg->retention_precedence, "longer") != 0 &&
	    strcmp(cfg->retention_precedence, "plan") != 0 &&
	    strcmp(cfg->retention_precedence, "package") != 0) {
		snprintf(err, errlen, "retention.precedence: \"%s\" is not "
		    "longer, plan or package", cfg->retention_precedence);
		return -1;
	}
	/* TLS needs both halves; client certificates need TLS, and a map
	 * needs the CA that vouches for the certificates it names. */
	if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0')) {
		snprintf(err, errlen, "server.tls_cert and server.tls_key: "
		    "set both (HTTPS) or neither (plain HTTP)");
		return -1;
	}
	if (cfg->client_ca[0] && cfg->tls_cert[0] == '\0') {
		snprintf(err, errlen, "server.client_ca needs server.tls_cert "
		    "and server.tls_key");
		return -1;
	}
	if (cfg->client_map[0] && cfg->client_ca[0] == '\0') {
		snprintf(err, errlen, "server.client_map needs "
		    "server.client_ca (only verified certificates are mapped)");
		return -1;
	}
	if (strcmp(cfg->ingest_format_policy, "warn") != 0 &&
	    strcmp(cfg->ingest_format_policy, "reject") != 0) {
		snprintf(err, errlen, "ingest.format_policy: \"%s\" is "
		    "neither warn nor reject", cfg->ingest_format_policy);
		return -1;
	}
	return 0;
}

void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (config_keys[i].type == CONFIG_STR) {
			char **s = (char **)((char *)cfg +
			    config_keys[i].offset);
			free(*s);
			*s = NULL;
		}
}

char *
config_conninfo(const struct config *cfg, bool owner)
{
	const char *ci = owner ? cfg->db_owner_conninfo : cfg->db_conninfo;
	char cwd[PATH_MAX], *out;

	if (ci && *ci)
		return strdup(ci);
	/* The private cluster: a socket under var/run, no TCP. */
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	if (asprintf(&out, "host=%s/var/run dbname=sailo user=%s "
	    "connect_timeout=2", cwd, owner ? "sailo_owner" : "sailo_app") ==
	    -1)
		return NULL;
	return out;
}
