/*
 * config.h — every setting of the daemon, with its default.  Loaded once at
 * start-up from an ini file (inih) and SAILO_<SECTION>_<KEY> environment
 * variables; read-only afterwards, so threads may share it freely.
 */
#ifndef SAILO_CONFIG_H
#define SAILO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct config {
	/* [server] */
	char	*listen;		/* host:port */
	int	 header_timeout_ms;
	int	 reply_timeout_ms;
	int	 idle_timeout_ms;
	int	 body_timeout_ms;
	int	 max_header_bytes;
	int	 max_headers;
	long long max_json_bytes;
	int	 max_connections;
	int	 shutdown_grace_ms;
	int	 health_interval_ms;
	char	*tls_cert;		/* PEM; "" with tls_key "" = plain HTTP */
	char	*tls_key;
	char	*client_ca;		/* PEM CAs of client certificates */
	char	*client_map;		/* fingerprint principal role, a line */
	int	 auth_fail_limit;	/* bad tokens from one address … */
	int	 auth_fail_window_s;	/* … counted until this long quiet */
	int	 auth_fail_delay_ms;	/* first delay past the limit, doubling */
	int	 auth_fail_max_delay_ms;
	int	 auth_fail_block;	/* failures from which 429 */
	/* [workers] */
	int	 workers_requests;	/* 0 = number of cores */
	int	 workers_jobs;		/* 0 = number of cores */
	/* [database] */
	char	*db_conninfo;		/* "" = the private cluster under var/ */
	char	*db_owner_conninfo;
	char	*db_migrations_dir;
	/* [audit] */
	char	*audit_key_file;
	long long audit_checkpoint_events;
	int	 audit_checkpoint_minutes;
	bool	 audit_syslog;
	/* [retention] */
	long long retention_max_plan_bytes;
	char	*retention_precedence;	/* "longer", "plan" or "package" */
	bool	 retention_round_to_year_end;
	/* [storage] */
	char	*storage_spool;		/* uploads in progress and received */
	char	*storage_root;		/* AIPs: <root>/aips/<id>/v<N>/ */
	char	*storage_work;		/* packages being unpacked */
	char	*storage_person_key_file; /* HMAC key of person identifiers */
	bool	 storage_sha512;	/* SHA-512 manifests beside SHA-256 */
	/* [ingest] */
	long long ingest_max_package_bytes;
	char	*ingest_inbox_dir;	/* "" = no inbox */
	char	*ingest_outbox_dir;
	bool	 ingest_inbox_require_marker;
	int	 ingest_inbox_interval_ms;
	long long ingest_max_entries;
	long long ingest_max_unpacked_bytes;
	int	 ingest_max_ratio;
	long long ingest_max_metadata_bytes;
	char	*ingest_format_policy;	/* "warn" or "reject" */
	char	*ingest_accepted_formats; /* MIME types, comma-separated */
	int	 ingest_keep_packages_days;
	bool	 ingest_paused;		/* received transfers wait */
	bool	 ingest_unpack_while_receiving;
	int	 ingest_poll_interval_ms;
	int	 ingest_max_attempts;
	int	 ingest_max_waiting;	/* transfers waiting; 503 beyond */
	/* [log] */
	char	*log_file;		/* "" = stderr */
	bool	 log_requests;
	/* [limits] */
	int	 limits_queue;
};

/* Fills *cfg with defaults, then the file, then the environment.  On error
 * returns -1 and writes a message naming the file, line and key into err. */
int	config_load(struct config *cfg, const char *path, char *err,
	    size_t errlen);
void	config_free(struct config *cfg);

/* The conninfo the daemon uses (resolving the private cluster's default);
 * returns a malloc'd string the caller frees. */
char	*config_conninfo(const struct config *cfg, bool owner);

#endif
