/*
 * main.c — the `sailo` command: serve, db migrate, token create.  Reads the
 * configuration once; a bad one stops here with exit status 2, never at run
 * time.  `serve` builds the host services (pools, probe, metrics, HTTP),
 * runs the loop and takes them down in order on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <locale.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "api.h"
#include "audit.h"
#include "config.h"
#include "formats.h"
#include "db.h"
#include "health.h"
#include "http.h"
#include "inbox_watch.h"
#include "ingest.h"
#include "ingest_jobs.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "reconcile.h"
#include "retention.h"
#include "tls.h"
#include "tokens.h"
#include "workers.h"

#define SAILO_VERSION "0.1.0"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: sailo [--config FILE] serve\n"
	    "       sailo [--config FILE] db migrate\n"
	    "       sailo [--config FILE] token create --role ROLE --name NAME "
	    "[--clearance VALUE]...\n"
	    "       sailo [--config FILE] audit keygen\n"
	    "       sailo [--config FILE] audit verify\n"
	    "       sailo plan check [--lenient] FILE\n"
	    "       sailo [--config FILE] plan import [--lenient] FILE\n"
	    "       sailo [--config FILE] retention recompute\n"
	    "       sailo [--config FILE] disposal verify-certificate FILE\n"
	    "       sailo version\n"
	    "roles: integration, records_manager, auditor, admin\n");
	exit(2);
}

/* ---- serve ------------------------------------------------------------- */

struct serve {
	struct app		 app;
	struct http_server	*http;
	SSL_CTX			*tls;		/* NULL: plain HTTP */
	struct event		*sigterm, *sigint, *sighup;
	struct event		*checkpoint_timer;
	bool			 checkpoint_running;
	struct event		*inbox_timer;
	bool			 inbox_running;
};

/* ---- the inbox folder, scanned on a job worker ------------------------- */

static void
serve_inbox_done(void *arg)
{
	struct serve *sv = arg;

	sv->inbox_running = false;
}

static void
serve_inbox_tick(evutil_socket_t fd, short what, void *arg)
{
	struct serve *sv = arg;

	(void)fd;
	(void)what;
	if (sv->inbox_running)
		return;
	sv->inbox_running = workers_submit(sv->app.jobs, inbox_watch_job,
	    serve_inbox_done, &sv->app) == 0;
}

/* ---- audit checkpoints, on a job worker ------------------------------- */

static void
serve_checkpoint_work(struct db *db, void *arg)
{
	struct serve *sv = arg;
	const struct config *cfg = sv->app.cfg;
	bool made;

	if (audit_checkpoint(db, sv->app.audit_key,
	    cfg->audit_checkpoint_events, cfg->audit_checkpoint_minutes,
	    &made) == -1)
		log_warn("audit checkpoint failed: %s", db_error(db));
}

static void
serve_checkpoint_done(void *arg)
{
	struct serve *sv = arg;

	sv->checkpoint_running = false;
}

static void
serve_checkpoint_tick(evutil_socket_t fd, short what, void *arg)
{
	struct serve *sv = arg;

	(void)fd;
	(void)what;
	if (sv->checkpoint_running)
		return;
	sv->checkpoint_running = workers_submit(sv->app.jobs,
	    serve_checkpoint_work, serve_checkpoint_done, sv) == 0;
}

static void
serve_drained(void *arg)
{
	struct serve *sv = arg;

	event_base_loopexit(sv->app.base, NULL);
}

static void
serve_signal(evutil_socket_t sig, short what, void *arg)
{
	struct serve *sv = arg;

	(void)what;
	if (sig == SIGHUP) {
		log_info("SIGHUP: reopening the log file");
		log_reopen();
		return;
	}
	log_info("%s: stopping; %d connection(s) open",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT",
	    http_server_connections(sv->http));
	http_server_drain(sv->http, serve_drained, sv);
}

/* Many idle keep-alive clients must not run the process out of fds. */
static void
serve_raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
serve(const struct config *cfg)
{
	struct serve sv;
	struct http_limits limits;
	struct http_handler handler;
	char err[512], *conninfo;
	int rc = 1;

	memset(&sv, 0, sizeof(sv));
	serve_raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	/* Keys, certificates and the client map are read before anything
	 * starts: a bad one stops here, as any bad setting does. */
	sv.tls = tls_server_ctx(cfg, err, sizeof(err));
	if (sv.tls == NULL && err[0]) {
		fprintf(stderr, "sailo: %s\n", err);
		return 2;
	}
	if (cfg->client_map[0] && (sv.app.client_map =
	    tls_map_load(cfg->client_map, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sailo: %s\n", err);
		SSL_CTX_free(sv.tls);
		return 2;
	}
	if ((conninfo = config_conninfo(cfg, false)) == NULL) {
		fprintf(stderr, "sailo: cannot build the database conninfo\n");
		return 1;
	}
	evthread_use_pthreads();
	/* Before anything records an act; without it acts chain inline. */
	if (audit_chainer_start(conninfo) == -1)
		log_warn("audit: no chainer thread; each act chains as it "
		    "commits");
	sv.app.cfg = cfg;
	sv.app.base = event_base_new();
	sv.app.metrics = metrics_new();
	sv.app.requests = workers_new(sv.app.base, "requests",
	    cfg->workers_requests, cfg->limits_queue, conninfo);
	sv.app.jobs = workers_new(sv.app.base, "jobs", cfg->workers_jobs,
	    cfg->limits_queue, conninfo);
	sv.app.health = health_start(conninfo, cfg->health_interval_ms);
	if (sv.app.base == NULL || sv.app.metrics == NULL ||
	    sv.app.requests == NULL || sv.app.jobs == NULL ||
	    sv.app.health == NULL) {
		fprintf(stderr, "sailo: cannot start the host services\n");
		goto out;
	}
	route_health_init();
	{
		/* What a crash may have left in the spool, before serving. */
		struct db *db = db_new(conninfo);

		if (db)
			reconcile_spool_job(db, &sv.app);
		db_free(db);
	}
	if ((sv.app.audit_key = audit_key_load(cfg->audit_key_file, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "sailo: %s (run `sailo audit keygen` once)\n",
		    err);
		goto out;
	}
	if (ingest_init(cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "sailo: %s\n", err);
		goto out;
	}
	openlog("sailo", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
	audit_set_syslog(cfg->audit_syslog);
	api_start(&sv.app);
	(void)workers_submit(sv.app.jobs, reconcile_store_job, NULL,
	    &sv.app);
	(void)workers_submit(sv.app.jobs, reconcile_search_job, NULL, NULL);
	if ((sv.app.ingest = ingest_jobs_start(&sv.app)) == NULL) {
		fprintf(stderr, "sailo: cannot start the ingest jobs\n");
		goto out;
	}

	limits.header_timeout_ms = cfg->header_timeout_ms;
	limits.reply_timeout_ms = cfg->reply_timeout_ms;
	limits.idle_timeout_ms = cfg->idle_timeout_ms;
	limits.body_timeout_ms = cfg->body_timeout_ms;
	limits.max_header_bytes = cfg->max_header_bytes;
	limits.max_headers = cfg->max_headers;
	limits.max_connections = cfg->max_connections;
	limits.shutdown_grace_ms = cfg->shutdown_grace_ms;
	handler.on_request = api_on_request;
	handler.on_done = api_on_done;
	handler.arg = &sv.app;
	sv.http = http_server_new(sv.app.base, &limits, &handler,
	    sv.app.requests);
	if (sv.http && sv.tls)
		http_server_set_tls(sv.http, sv.tls);
	if (sv.http == NULL ||
	    http_server_listen(sv.http, cfg->listen, err, sizeof(err)) == -1) {
		fprintf(stderr, "sailo: %s\n", sv.http ? err : "out of memory");
		goto out;
	}
	sv.sigterm = evsignal_new(sv.app.base, SIGTERM, serve_signal, &sv);
	sv.sigint = evsignal_new(sv.app.base, SIGINT, serve_signal, &sv);
	sv.sighup = evsignal_new(sv.app.base, SIGHUP, serve_signal, &sv);
	evsignal_add(sv.sigterm, NULL);
	evsignal_add(sv.sigint, NULL);
	evsignal_add(sv.sighup, NULL);
	{
		struct timeval tick = { 2, 0 };

		sv.checkpoint_timer = event_new(sv.app.base, -1, EV_PERSIST,
		    serve_checkpoint_tick, &sv);
		event_add(sv.checkpoint_timer, &tick);
	}
	if (cfg->ingest_inbox_dir[0]) {
		struct timeval tick = { cfg->ingest_inbox_interval_ms / 1000,
		    (cfg->ingest_inbox_interval_ms % 1000) * 1000 };

		mkdir(cfg->ingest_inbox_dir, 0770);
		sv.inbox_timer = event_new(sv.app.base, -1, EV_PERSIST,
		    serve_inbox_tick, &sv);
		event_add(sv.inbox_timer, &tick);
	}
	log_info("sailo %s listening on %s (port %d, %s), %d request and %d "
	    "job workers", SAILO_VERSION, cfg->listen,
	    http_server_port(sv.http), sv.tls == NULL ? "HTTP" :
	    cfg->client_ca[0] ? "HTTPS, client certificates" : "HTTPS",
	    workers_threads(sv.app.requests), workers_threads(sv.app.jobs));

	event_base_dispatch(sv.app.base);

	log_info("stopping workers");
	rc = 0;
out:
	if (sv.checkpoint_timer)
		event_free(sv.checkpoint_timer);
	if (sv.inbox_timer)
		event_free(sv.inbox_timer);
	/* What the API layer still holds (denial counts) is queued first;
	 * then the pools, whose last done callbacks still see live objects. */
	if (sv.app.requests)
		api_stop(&sv.app);
	if (sv.app.requests)
		workers_stop(sv.app.requests);
	if (sv.app.jobs)
		workers_stop(sv.app.jobs);
	ingest_jobs_free(sv.app.ingest);
	http_server_free(sv.http);
	SSL_CTX_free(sv.tls);
	tls_map_free(sv.app.client_map);
	workers_free(sv.app.requests);
	workers_free(sv.app.jobs);
	audit_chainer_stop();	/* after the last act */
	ingest_shutdown();
	health_stop(sv.app.health);
	metrics_free(sv.app.metrics);
	audit_key_free(sv.app.audit_key);
	if (sv.sigterm)
		event_free(sv.sigterm);
	if (sv.sigint)
		event_free(sv.sigint);
	if (sv.sighup)
		event_free(sv.sighup);
	if (sv.app.base)
		event_base_free(sv.app.base);
	free(conninfo);
	if (rc == 0)
		log_info("stopped");
	return rc;
}

/* ---- token create ------------------------------------------------------- */

static int
token_command(const struct config *cfg, int argc, char **argv)
{
	struct token_created made;
	const char *name = NULL, *rolename = NULL;
	json_t *clearance = NULL;
	struct db *db = NULL;
	enum role role;
	char err[512], *conninfo = NULL;
	int i, is_db_error, rc = 2;

	if (argc < 1 || strcmp(argv[0], "create") != 0)
		usage();
	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--role") == 0)
			rolename = argv[++i];
		else if (strcmp(argv[i], "--name") == 0)
			name = argv[++i];
		else if (strcmp(argv[i], "--clearance") == 0) {
			if (clearance == NULL)
				clearance = json_array();
			json_array_append_new(clearance,
			    json_string(argv[++i]));
		} else
			usage();
	}
	if (name == NULL || rolename == NULL)
		usage();
	if (role_parse(rolename, &role) == -1) {
		fprintf(stderr, "sailo: unknown role '%s'\n", rolename);
		goto out;
	}
	if ((conninfo = config_conninfo(cfg, false)) == NULL ||
	    (db = db_new(conninfo)) == NULL)
		goto out;
	if (token_create(db, "cli", NULL, name, role, clearance, &made, err,
	    sizeof(err), &is_db_error) == -1) {
		fprintf(stderr, "sailo: token create: %s\n", err);
		rc = is_db_error ? 1 : 2;
		goto out;
	}
	fprintf(stderr, "token %s for %s (role %s); it is shown only "
	    "once:\n", made.id, name, rolename);
	printf("%s\n", made.token);
	memset(made.token, 0, sizeof(made.token));
	rc = 0;
out:
	json_decref(clearance);
	db_free(db);
	free(conninfo);
	return rc;
}

/* ---- audit keygen | verify ------------------------------------------------ */

static int
audit_command(const struct config *cfg, int argc, char **argv)
{
	struct audit_verdict v;
	struct audit_key *key = NULL;
	struct db *db = NULL;
	char err[512], dir[4096], *slash, *conninfo = NULL, *text;
	json_t *j;
	int rc = 2;

	if (argc == 1 && strcmp(argv[0], "keygen") == 0) {
		snprintf(dir, sizeof(dir), "%s", cfg->audit_key_file);
		if ((slash = strrchr(dir, '/')) != NULL) {
			*slash = '\0';
			if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
				fprintf(stderr, "sailo: %s: %s\n", dir,
				    strerror(errno));
				return 1;
			}
		}
		switch (audit_key_create(cfg->audit_key_file, err,
		    sizeof(err))) {
		case 1:
			printf("created the audit key %s\n",
			    cfg->audit_key_file);
			return 0;
		case 0:
			return 0;
		default:
			fprintf(stderr, "sailo: audit keygen: %s\n", err);
			return 1;
		}
	}
	if (argc != 1 || strcmp(argv[0], "verify") != 0)
		usage();
	if ((key = audit_key_load(cfg->audit_key_file, err, sizeof(err))) ==
	    NULL)
		fprintf(stderr, "sailo: %s: checkpoints are not checked\n",
		    err);
	if ((conninfo = config_conninfo(cfg, false)) == NULL ||
	    (db = db_new(conninfo)) == NULL)
		goto out;
	if (audit_verify(db, key, &v) == -1) {
		fprintf(stderr, "sailo: audit verify: %s\n", db_error(db));
		rc = 1;
		goto out;
	}
	j = audit_verdict_json(&v);
	text = json_dumps(j, JSON_COMPACT);
	printf("%s\n", text ? text : "{}");
	free(text);
	json_decref(j);
	rc = v.ok ? 0 : 1;
out:
	audit_key_free(key);
	db_free(db);
	free(conninfo);
	return rc;
}

/* ---- plan ---------------------------------------------------------------- */

/* The largest plan `plan check` reads (import: retention.max_plan_bytes). */
#define PLAN_MAX_BYTES	(64L * 1024 * 1024)

/*
 * `sailo plan check [--lenient] FILE`: what an import would say of a JHS
 * 191 plan, without a database: its findings (schema problems with the
 * lines `xmllint --schema` gives, what cannot be resolved) and how many
 * classes and record types it has.  Exit 0 when it could be imported.
 * `sailo plan import [--lenient] FILE` (cfg given) then stores it as the
 * next version, as PUT /v1/plan does, recorded as done by "cli".
 */
static int
plan_command(const struct config *cfg, int argc, char **argv)
{
	struct plan_import made;
	struct db *db = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char sha256[65], *conninfo = NULL;
	const char *verb = cfg ? "import" : "check";
	struct plan p = { 0 };
	struct findings f;
	json_t *out;
	FILE *fp = NULL;
	char err[512], *buf = NULL, *text;
	const char *path;
	bool lenient = false;
	size_t i, ntypes = 0;
	long len;
	int rc = 2;

	if (argc == 3 && strcmp(argv[0], verb) == 0 &&
	    strcmp(argv[1], "--lenient") == 0)
		lenient = true;
	else if (argc != 2 || strcmp(argv[0], verb) != 0)
		usage();
	path = argv[argc - 1];
	findings_init(&f);
	xmlInitParser();
	if ((fp = fopen(path, "rb")) == NULL || fseek(fp, 0, SEEK_END) != 0 ||
	    (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
		fprintf(stderr, "sailo: plan %s: %s: %s\n", verb, path,
		    strerror(errno));
		goto out;
	}
	/* An import takes what PUT /v1/plan takes; a check, any plan a
	 * person may want an opinion on. */
	if (len > (cfg ? cfg->retention_max_plan_bytes : PLAN_MAX_BYTES)) {
		fprintf(stderr, "sailo: plan %s: %s: %ld bytes; a plan is at "
		    "most %lld (retention.max_plan_bytes)\n", verb, path, len,
		    (long long)(cfg ? cfg->retention_max_plan_bytes :
		    PLAN_MAX_BYTES));
		goto out;
	}
	if ((buf = malloc((size_t)len + 1)) == NULL ||
	    fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		fprintf(stderr, "sailo: plan %s: %s: cannot read\n", verb,
		    path);
		goto out;
	}
	if (plan_read(&p, buf, (size_t)len, path, lenient, &f, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sailo: plan %s: %s\n", verb, err);
		goto out;
	}
	for (i = 0; i < p.nclasses; i++)
		ntypes += p.classes[i].ntypes;
	if (cfg && f.errors == 0) {
		EVP_Digest(buf, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
		digest_hex(md, mdlen, sha256);
		if ((conninfo = config_conninfo(cfg, false)) == NULL ||
		    (db = db_new(conninfo)) == NULL ||
		    plan_store(db, &p, sha256, "cli", NULL, lenient, &f,
		    &made) == -1) {
			fprintf(stderr, "sailo: plan import: %s\n",
			    db ? db_error(db) : "no memory");
			rc = 1;
			goto out;
		}
	}
	out = json_pack("{s:b,s:I,s:I,s:o}", "ok", f.errors == 0, "classes",
	    (json_int_t)p.nclasses, "record_types", (json_int_t)ntypes,
	    "findings", plan_findings_json(&f));
	if (out && db) {
		json_object_set_new(out, "version", json_integer(made.version));
		json_object_set_new(out, "new", json_boolean(made.created));
	}
	text = json_dumps(out, JSON_COMPACT);
	printf("%s\n", text ? text : "{}");
	free(text);
	json_decref(out);
	rc = f.errors == 0 ? 0 : 1;
out:
	if (fp)
		fclose(fp);
	db_free(db);
	free(conninfo);
	free(buf);
	plan_free(&p);
	findings_free(&f);
	return rc;
}

/*
 * `sailo retention recompute`: runs the pending passes (a new plan
 * version's, or records catalogued before retention was decided) to their
 * end here, rather than waiting for a daemon to; then prints what each
 * pass that ended moved.  A daemon running at the same time shares the
 * work (each batch is locked by whoever takes it).
 */
static int
retention_command(const struct config *cfg, int argc, char **argv)
{
	struct db_result *r = NULL;
	struct db *db = NULL;
	char *conninfo = NULL;
	long batches = 0;
	int rc = 1, step;

	if (argc != 1 || strcmp(argv[0], "recompute") != 0)
		usage();
	if ((conninfo = config_conninfo(cfg, false)) == NULL ||
	    (db = db_new(conninfo)) == NULL)
		goto out;
	while ((step = recompute_pass_step(db, cfg, 5000)) == 1)
		batches++;
	if (step == -1 || db_query(db, &r, "SELECT json_agg(json_build_object("
	    "'version', version, 'status', status, 'records', records, "
	    "'changed', changed, 'ends_moved', ends_moved) ORDER BY version)"
	    "::text FROM retention_passes", 0, NULL) == -1) {
		fprintf(stderr, "sailo: retention recompute: %s\n",
		    db_error(db));
		goto out;
	}
	printf("{\"batches\":%ld,\"passes\":%s}\n", batches, db_isnull(r, 0,
	    0) ? "[]" : db_value(r, 0, 0));
	rc = 0;
out:
	db_result_free(r);
	db_free(db);
	free(conninfo);
	return rc;
}

/*
 * `sailo disposal verify-certificate FILE`: checks a certificate as GET
 * /v1/disposals/{id}/certificate gave it: unchanged since it was signed,
 * the signature good, and the key this archive's (audit.key_file; when it
 * cannot be read, the key is named and not checked).  Exit 0 when good.
 */
static int
disposal_command(const struct config *cfg, int argc, char **argv)
{
	struct audit_key *key;
	json_error_t jerr;
	json_t *doc;
	char why[512], err[512];
	int rc;

	if (argc != 2 || strcmp(argv[0], "verify-certificate") != 0)
		usage();
	if ((doc = json_load_file(argv[1], 0, &jerr)) == NULL) {
		fprintf(stderr, "sailo: %s: line %d: %s\n", argv[1], jerr.line,
		    jerr.text);
		return 1;
	}
	if ((key = audit_key_load(cfg->audit_key_file, err, sizeof(err))) ==
	    NULL)
		fprintf(stderr, "sailo: %s: the signing key is not checked "
		    "against this archive's\n", err);
	rc = certificate_verify(doc, key ? audit_key_public_hex(key) : NULL,
	    why, sizeof(why));
	if (rc == 0)
		printf("{\"ok\":true,\"batch_id\":\"%s\",\"items\":%zu,"
		    "\"key_id\":\"%s\"}\n", json_string_value(json_object_get(
		    json_object_get(doc, "certificate"), "batch_id")),
		    json_array_size(json_object_get(json_object_get(doc,
		    "certificate"), "items")), json_string_value(
		    json_object_get(json_object_get(doc, "signature"),
		    "key_id")));
	else {
		json_t *bad = json_pack("{s:b,s:s}", "ok", 0, "reason", why);
		char *t = json_dumps(bad, JSON_COMPACT);

		printf("%s\n", t ? t : "{\"ok\":false}");
		free(t);
		json_decref(bad);
	}
	audit_key_free(key);
	json_decref(doc);
	return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct config cfg;
	const char *path = "conf/sailo.conf";
	char err[1024], *owner;
	int rc, i = 1;

	/*
	 * Fixed malloc thresholds.  By default glibc raises them as large
	 * blocks are freed (up to 32 MiB for mmap, 64 MiB kept at the top of
	 * a thread's arena), and malloc_trim() never trims a thread arena's
	 * top: after a 100,000-record transfer a daemon held 50 MiB of
	 * arenas with 4 MiB in use (malloc_stats), which the next transfer's
	 * peak stood on.  Blocks of 1 MiB and more are mapped on their own
	 * and given back when freed; free tops over 1 MiB are given back.
	 */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	/* libarchive converts names through the locale: UTF-8 always. */
	setlocale(LC_CTYPE, "C.UTF-8");
	if (argc > 2 && strcmp(argv[1], "--config") == 0) {
		path = argv[2];
		i = 3;
	}
	if (i >= argc)
		usage();
	if (strcmp(argv[i], "version") == 0) {
		printf("sailo %s\n", SAILO_VERSION);
		return 0;
	}
	if (strcmp(argv[i], "plan") == 0 && i + 1 < argc &&
	    strcmp(argv[i + 1], "check") == 0)	/* needs no configuration */
		return plan_command(NULL, argc - i - 1, argv + i + 1);
	if (config_load(&cfg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "sailo: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	if (log_open(cfg.log_file) == -1)
		return 2;
	if (strcmp(argv[i], "serve") == 0 && argc == i + 1)
		rc = serve(&cfg);
	else if (strcmp(argv[i], "db") == 0 && argc == i + 2 &&
	    strcmp(argv[i + 1], "migrate") == 0) {
		owner = config_conninfo(&cfg, true);
		rc = owner && migrate_run(owner, cfg.db_migrations_dir, err,
		    sizeof(err)) == 0 ? 0 : 1;
		if (rc)
			fprintf(stderr, "sailo: db migrate: %s\n", err);
		free(owner);
	} else if (strcmp(argv[i], "audit") == 0)
		rc = audit_command(&cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "plan") == 0)
		rc = plan_command(&cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "token") == 0)
		rc = token_command(&cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "retention") == 0)
		rc = retention_command(&cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "disposal") == 0)
		rc = disposal_command(&cfg, argc - i - 1, argv + i + 1);
	else
		usage();
	config_free(&cfg);
	log_close();
	return rc;
}
