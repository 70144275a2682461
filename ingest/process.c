/*
 * process.c — the ingest pipeline for one transfer: claim → unpack →
 * identify → validate → decide → store → catalogue.  Runs on a job worker
 * with the worker's own database connection; knows nothing of HTTP.
 *
 * Claiming: a daemon holds a session advisory lock on the transfer while
 * it works.  PostgreSQL drops the lock with the connection, so a daemon
 * killed mid-way leaves the transfer to the next one that looks (itself
 * after a restart, or another daemon sharing the database).  Each try
 * starts from the package in the spool and a clean work folder, so a try
 * cut short at any step is simply done again.
 *
 * What is stored is decided by the catalogue: AIP folders are written
 * under a temporary name, made durable together (one syncfs), renamed into
 * place inside the catalogue transaction, and a folder found where a new
 * version should go (a try that died before its commit) is replaced.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <limits.h>
#include <magic.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <unistr.h>

#include "audit.h"
#include "config.h"
#include "db.h"
#include "ingest.h"
#include "log.h"
#include "package.h"

/* pg_advisory_lock(PROCESS_LOCK_CLASS, hashtext(transfer id)). */
#define PROCESS_LOCK_CLASS	"1397310540"
#define PROCESS_BATCH_ROWS	1000	/* rows per catalogue INSERT */

static unsigned char	process_person_key[32];
static bool		process_has_key;

/* A path into buf; on truncation buf is "" (every later open or unlink
 * then fails, rather than touching another file). */
static void	path_fmt(char *buf, size_t len, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

static void
path_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		buf[0] = '\0';
}

/* ---- start-up ------------------------------------------------------------ */

int
ingest_init(const struct config *cfg, char *err, size_t errlen)
{
	char hex[65], buf[128];
	unsigned char key[32];
	ssize_t n;
	size_t i;
	int fd;

	xmlInitParser();
	if (sahke2_init(err, errlen) == -1)
		return -1;
	fd = open(cfg->storage_person_key_file, O_RDONLY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		/* First start: the key is written whole under another name
		 * and linked into place, so that a daemon starting at the
		 * same moment reads either no key or all of it (the first
		 * link wins). */
		char tmp[PATH_MAX], dir[PATH_MAX], *slash;

		if (RAND_bytes(key, sizeof(key)) != 1) {
			snprintf(err, errlen, "no random bytes for the key");
			return -1;
		}
		aip_hex(key, sizeof(key), hex);
		hex[64] = '\n';
		path_fmt(tmp, sizeof(tmp), "%s.%ld.tmp",
		    cfg->storage_person_key_file, (long)getpid());
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd == -1 || write(fd, hex, 65) != 65 || fsync(fd) == -1 ||
		    (link(tmp, cfg->storage_person_key_file) == -1 &&
		    errno != EEXIST)) {
			snprintf(err, errlen, "cannot make %s: %s",
			    cfg->storage_person_key_file, strerror(errno));
			if (fd != -1)
				close(fd);
			unlink(tmp);
			return -1;
		}
		close(fd);
		unlink(tmp);
		path_fmt(dir, sizeof(dir), "%s", cfg->storage_person_key_file);
		if ((slash = strrchr(dir, '/')) != NULL) {
			*slash = '\0';
			if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) != -1) {
				(void)fsync(fd);
				close(fd);
			}
		}
		log_info("the person identifier key is %s",
		    cfg->storage_person_key_file);
		fd = open(cfg->storage_person_key_file, O_RDONLY | O_CLOEXEC);
	}
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", cfg->storage_person_key_file,
		    strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 64) {
		snprintf(err, errlen, "%s: not a key (64 hex digits)",
		    cfg->storage_person_key_file);
		return -1;
	}
	for (i = 0; i < 32; i++) {
		unsigned int b;

		if (!isxdigit((unsigned char)buf[2 * i]) ||
		    !isxdigit((unsigned char)buf[2 * i + 1]) ||
		    sscanf(buf + 2 * i, "%2x", &b) != 1) {
			snprintf(err, errlen, "%s: not a key (64 hex digits)",
			    cfg->storage_person_key_file);
			return -1;
		}
		process_person_key[i] = (unsigned char)b;
	}
	process_has_key = true;
	return 0;
}

int
ingest_person_hmac(const char *ssn, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!process_has_key || HMAC(EVP_sha256(), process_person_key,
	    sizeof(process_person_key), (const unsigned char *)ssn,
	    strlen(ssn), md, &len) == NULL || len != 32)
		return -1;
	aip_hex(md, len, hex);
	return 0;
}

/* ---- a string set (paths, identifiers) --------------------------------- */

struct strmap {
	const char	**keys;
	size_t		 *values;
	size_t		  cap, n;
};

static uint64_t
strmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int
strmap_init(struct strmap *m, size_t n)
{
	m->cap = 16;
	while (m->cap < 2 * n + 16)
		m->cap <<= 1;
	m->n = 0;
	m->keys = calloc(m->cap, sizeof(*m->keys));
	m->values = calloc(m->cap, sizeof(*m->values));
	return m->keys && m->values ? 0 : -1;
}

static void
strmap_free(struct strmap *m)
{
	free(m->keys);
	free(m->values);
	memset(m, 0, sizeof(*m));
}

/* The slot of key: where it is, or where it would go. */
static size_t
strmap_slot(const struct strmap *m, const char *key)
{
	size_t i = strmap_hash(key) & (m->cap - 1);

	while (m->keys[i] && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int	strmap_put(struct strmap *m, const char *key, size_t value);

/* Doubles the table (kept at most half full). */
static int
strmap_grow(struct strmap *m)
{
	struct strmap big;
	size_t i;

	if (strmap_init(&big, m->cap) == -1) {
		strmap_free(&big);
		return -1;
	}
	for (i = 0; i < m->cap; i++)
		if (m->keys[i])
			strmap_put(&big, m->keys[i], m->values[i]);
	strmap_free(m);
	*m = big;
	return 0;
}

/* Adds key (kept by reference); 1 when new, 0 when it was there, -1
 * without memory. */
static int
strmap_put(struct strmap *m, const char *key, size_t value)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap && strmap_grow(m) == -1)
		return -1;
	i = strmap_slot(m, key);
	if (m->keys[i])
		return 0;
	m->keys[i] = key;
	m->values[i] = value;
	m->n++;
	return 1;
}

static bool
strmap_get(const struct strmap *m, const char *key, size_t *value)
{
	size_t i = strmap_slot(m, key);

	if (m->keys[i] == NULL)
		return false;
	*value = m->values[i];
	return true;
}

/* ---- one transfer ---------------------------------------------------- */

struct unit;

struct job {
	struct db		*db;
	const struct config	*cfg;
	bool			(*stop)(void *);
	void			*stop_arg;

	char			 id[37];
	char			 submitter_id[37];
	char			 submitter[201];
	char			 sha256[65];
	char			*inbox_name;
	int			 attempts;
	char			 last_failure[512];	/* of the last try */

	char			 pkg[PATH_MAX];
	char			 work[PATH_MAX];	/* unpacked */
	char			 meta[PATH_MAX];	/* extracts, PREMIS */
	char			 tmp[PATH_MAX];		/* bags being written */
	char			 root[PATH_MAX];	/* package root */
	size_t			 root_len;	/* of the prefix in paths */
	const char		*format;	/* "sahke2", "bagit" */

	struct findings		 f;
	struct unpack_result	 u;
	struct strmap		 by_path;	/* root-relative → file */
	char			**mime;		/* per unpacked file, or NULL */
	struct package		 p;
	char			**bag_info;

	struct unit		*units;
	size_t			 nunits;
	char			 started_at[32];
	double			 t0;		/* phase times, for the log */
	char			 times[160];
};

/* One AIP version to write. */
struct unit {
	struct pkg_casefile	*cf;		/* SÄHKE2 */
	char			*native_id;
	char			*title;
	char			 aip_id[37];
	int			 version;	/* the new one */
	int			 previous;	/* 0: a new AIP */
	char			 tmp[PATH_MAX];
	char			 tagmanifest[65];
	struct aip_file		*files;
	size_t			 nfiles, capfiles;
	uint64_t		 bytes;
	char			**prev_links;	/* link_from strings owned */
	size_t			 nprev;
	bool			 placed;
};

static const char *
job_rel(const struct job *j, const char *path)
{
	return path + j->root_len;
}

static void
job_now(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Notes how long the phase that just ended took. */
static void
job_phase(struct job *j, const char *name)
{
	struct timespec ts;
	size_t n = strlen(j->times);
	double t;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (j->t0 > 0 && n < sizeof(j->times) - 1)
		snprintf(j->times + n, sizeof(j->times) - n, "%s%s %.2f s",
		    n ? ", " : "", name, t - j->t0);
	j->t0 = t;
}

static bool
job_stopping(struct job *j)
{
	return j->stop && j->stop(j->stop_arg);
}

/* ---- claiming ----------------------------------------------------------- */

static void
job_unlock(struct job *j)
{
	const char *params[1] = { j->id };

	(void)db_query(j->db, NULL, "SELECT pg_advisory_unlock("
	    PROCESS_LOCK_CLASS ", hashtext($1))", 1, params);
}

/* Claims the oldest waiting transfer nobody works on.  1, 0 (none), -1. */
static int
job_claim(struct job *j)
{
	struct db_result *r = NULL, *t = NULL;
	const char *params[1];
	int i, rc = 0;

	/* Those no daemon holds (a transfer another daemon works on does
	 * not hide those behind it) and whose next try is due. */
	if (db_query(j->db, &r, "SELECT t.id FROM transfers t WHERE "
	    "t.status IN ('received', 'validating') AND (t.next_try_at IS "
	    "NULL OR t.next_try_at <= now()) AND NOT EXISTS (SELECT 1 FROM "
	    "pg_locks l WHERE l.locktype = 'advisory' AND l.classid = "
	    PROCESS_LOCK_CLASS "::oid AND l.objid = hashtext(t.id::text)::oid "
	    "AND l.objsubid = 2) ORDER BY t.submitted_at LIMIT 32", 0,
	    NULL) == -1)
		return -1;
	for (i = 0; i < db_rows(r) && rc == 0; i++) {
		snprintf(j->id, sizeof(j->id), "%s", db_value(r, i, 0));
		params[0] = j->id;
		if (db_query(j->db, &t, "SELECT pg_try_advisory_lock("
		    PROCESS_LOCK_CLASS ", hashtext($1))", 1, params) == -1) {
			rc = -1;
			break;
		}
		if (strcmp(db_value(t, 0, 0), "t") != 0) {
			db_result_free(t);
			continue;
		}
		db_result_free(t);
		/* Locked: is it still waiting (not done by another)? */
		if (db_query(j->db, &t, "SELECT t.submitted_by, p.name, "
		    "encode(t.package_sha256, 'hex'), t.inbox_name, "
		    "t.attempts, t.failure FROM transfers t JOIN principals p "
		    "ON "
		    "p.id = t.submitted_by WHERE t.id = $1 AND t.status IN "
		    "('received', 'validating')", 1, params) == -1) {
			job_unlock(j);
			rc = -1;
			break;
		}
		if (db_rows(t) == 1) {
			snprintf(j->submitter_id, sizeof(j->submitter_id), "%s",
			    db_value(t, 0, 0));
			snprintf(j->submitter, sizeof(j->submitter), "%s",
			    db_value(t, 0, 1));
			snprintf(j->sha256, sizeof(j->sha256), "%s",
			    db_value(t, 0, 2));
			j->inbox_name = db_isnull(t, 0, 3) ? NULL :
			    strdup(db_value(t, 0, 3));
			j->attempts = atoi(db_value(t, 0, 4));
			snprintf(j->last_failure, sizeof(j->last_failure),
			    "%s", db_isnull(t, 0, 5) ? "" : db_value(t, 0, 5));
			rc = 1;
		} else
			job_unlock(j);
		db_result_free(t);
	}
	db_result_free(r);
	return rc;
}

/* ---- the end of a transfer ------------------------------------------- */

static void
job_remove_work(struct job *j)
{
	unpack_remove(j->work);
	unpack_remove(j->meta);
	unpack_remove(j->tmp);
}

/* After a transfer is final: the package goes unless it is to be kept;
 * an inbox package gets its report in the outbox. */
static void
job_final(struct job *j, const char *status)
{
	char err[256];
	json_t *rep;
	char *text;

	job_remove_work(j);
	if (j->cfg->ingest_keep_packages_days == 0)
		unlink(j->pkg);
	if (j->inbox_name && j->cfg->ingest_outbox_dir[0]) {
		rep = ingest_report_json(j->db, j->id);
		if (rep == NULL)
			rep = json_pack("{s:s,s:s}", "transfer", j->id,
			    "status", status);
		json_object_set_new(rep, "file", json_string(j->inbox_name));
		text = json_dumps(rep, JSON_COMPACT | JSON_SORT_KEYS);
		if (text == NULL || inbox_report(j->cfg->ingest_outbox_dir,
		    j->inbox_name, text, err, sizeof(err)) == -1)
			log_warn("transfer %s: no inbox report for %s", j->id,
			    j->inbox_name);
		free(text);
		json_decref(rep);
	}
	log_info("transfer %s %s (%zu errors, %zu warnings; %s)", j->id,
	    status, j->f.errors, j->f.warnings, j->times);
}

/* The findings as rows for one INSERT (in batches). */
static int
job_insert_findings(struct job *j)
{
	json_t *rows = json_array();
	const char *params[2] = { j->id, NULL };
	char *text;
	size_t i;
	int rc = 0;

	if (db_query(j->db, NULL, "DELETE FROM transfer_findings WHERE "
	    "transfer_id = $1", 1, params) == -1) {
		json_decref(rows);
		return -1;
	}
	for (i = 0; i < j->f.n && rc == 0; i++) {
		const struct finding *fi = &j->f.items[i];
		json_t *row = json_pack("{s:I,s:s,s:s,s:s?,s:s}",
		    "seq", (json_int_t)i + 1,
		    "severity", severity_name(fi->severity), "code", fi->code,
		    "path", fi->path, "message", fi->message);

		if (row == NULL) {	/* never silently: the try fails */
			log_warn("transfer %s: finding %zu cannot be stored",
			    j->id, i + 1);
			rc = -1;
			break;
		}
		if (fi->line > 0)
			json_object_set_new(row, "line",
			    json_integer(fi->line));
		json_array_append_new(rows, row);
		if (json_array_size(rows) == PROCESS_BATCH_ROWS ||
		    i + 1 == j->f.n) {
			text = json_dumps(rows, JSON_COMPACT);
			params[1] = text;
			rc = db_query(j->db, NULL, "INSERT INTO transfer_findings "
			    "(transfer_id, seq, severity, code, path, line, "
			    "message) SELECT $1, x.seq, x.severity, x.code, "
			    "x.path, x.line, x.message FROM jsonb_to_recordset("
			    "$2::jsonb) AS x(seq int, severity text, code text, "
			    "path text, line bigint, message text)", 2, params);
			free(text);
			json_array_clear(rows);
		}
	}
	json_decref(rows);
	return rc;
}

/* Codes of the error findings, each once (for the audit event). */
static json_t *
job_error_codes(const struct job *j)
{
	json_t *codes = json_array();
	size_t i, k;

	for (i = 0; i < j->f.n; i++) {
		if (j->f.items[i].severity != SEVERITY_ERROR)
			continue;
		for (k = 0; k < json_array_size(codes); k++)
			if (strcmp(json_string_value(json_array_get(codes, k)),
			    j->f.items[i].code) == 0)
				break;
		if (k == json_array_size(codes))
			json_array_append_new(codes,
			    json_string(j->f.items[i].code));
	}
	return codes;
}

static int
job_audit(struct job *j, const char *action, enum audit_outcome outcome,
    const char *object_type, const char *object_id, json_t *details)
{
	struct audit_event ev = {
		.actor = "system", .role = NULL, .action = action,
		.object_type = object_type, .object_id = object_id,
		.outcome = outcome, .details = details,
	};

	return audit_record(j->db, &ev);
}

/* A transfer's end without AIPs: the state update, the findings (when
 * asked) and the audit event in one transaction, then job_final().  0, or
 * -1 (db).  details are taken over. */
static int
job_end(struct job *j, const char *status, bool findings, const char *sql,
    int nparams, const char *const *params, const char *action,
    enum audit_outcome outcome, json_t *details)
{
	int rc = db_begin(j->db);

	if (rc == 0 && findings)
		rc = job_insert_findings(j);
	if (rc == 0)
		rc = db_query(j->db, NULL, sql, nparams, params);
	if (rc == 0)
		rc = job_audit(j, action, outcome, "transfer", j->id, details);
	json_decref(details);
	if (rc == 0)
		rc = db_commit(j->db);
	else if (db_in_transaction(j->db))
		db_rollback(j->db);
	if (rc == 0)
		job_final(j, status);
	return rc;
}

/* Rejected: findings kept, nothing stored. */
static int
job_reject(struct job *j)
{
	char errors[24], warnings[24], keep[16];
	const char *params[5] = { j->id, errors, warnings, keep, j->format };

	snprintf(errors, sizeof(errors), "%zu", j->f.errors);
	snprintf(warnings, sizeof(warnings), "%zu", j->f.warnings);
	snprintf(keep, sizeof(keep), "%d", j->cfg->ingest_keep_packages_days);
	return job_end(j, "rejected", true, "UPDATE transfers SET status = "
	    "'rejected', format = COALESCE($5, format), errors = $2, "
	    "warnings = $3, failure = NULL, finished_at = now(), "
	    "updated_at = now(), package_kept_until = now() + "
	    "make_interval(days => $4::int) WHERE id = $1",
	    5, params, "transfer.reject", AUDIT_SUCCESS,
	    json_pack("{s:s,s:I,s:I,s:o}", "submitted_by", j->submitter,
	    "errors", (json_int_t)j->f.errors, "warnings",
	    (json_int_t)j->f.warnings, "codes", job_error_codes(j)));
}

/* Failed on Sailo's side for good. */
static int
job_fail(struct job *j, const char *why)
{
	const char *params[2] = { j->id, why };

	log_warn("transfer %s failed: %s", j->id, why);
	return job_end(j, "failed", false, "UPDATE transfers SET status = "
	    "'failed', failure = $2, finished_at = now(), updated_at = now(), "
	    "package_kept_until = now() WHERE id = $1", 2, params, "transfer.fail", AUDIT_FAILURE,
	    json_pack("{s:s,s:i}", "reason", why, "attempts", j->attempts));
}

/* ---- unpack, identify, validate -------------------------------------- */

/* The package root: a package whose every entry lies in one top folder
 * (a zip of a folder) is read from inside it. */
static void
job_find_root(struct job *j)
{
	const char *first, *slash;
	size_t i, len;

	j->root_len = 0;
	path_fmt(j->root, sizeof(j->root), "%s", j->work);
	if (j->u.nfiles == 0)
		return;
	first = j->u.files[0].path;
	if ((slash = strchr(first, '/')) == NULL)
		return;
	len = (size_t)(slash - first) + 1;
	for (i = 1; i < j->u.nfiles; i++)
		if (strncmp(j->u.files[i].path, first, len) != 0)
			return;
	j->root_len = len;
	path_fmt(j->root, sizeof(j->root), "%s/%.*s", j->work, (int)len - 1,
	    first);
}

static int
job_index_files(struct job *j)
{
	size_t i;

	if (strmap_init(&j->by_path, j->u.nfiles) == -1 ||
	    (j->mime = calloc(j->u.nfiles + 1, sizeof(*j->mime))) == NULL)
		return -1;
	for (i = 0; i < j->u.nfiles; i++)
		strmap_put(&j->by_path, job_rel(j, j->u.files[i].path), i);
	return 0;
}

static const struct unpacked_file *
job_file(const struct job *j, const char *rel, size_t *index)
{
	size_t i;

	if (!strmap_get(&j->by_path, rel, &i))
		return NULL;
	if (index)
		*index = i;
	return &j->u.files[i];
}

static bool
job_is_xml_name(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcasecmp(name + n - 4, ".xml") == 0;
}

/* SÄHKE2 documents in a bag name files under data/: make their paths
 * root-relative like everything else. */
static int
job_prefix_documents(struct pkg_record *r, size_t n)
{
	size_t i, k;
	char *p;

	for (i = 0; i < n; i++)
		for (k = 0; k < r[i].ndocs; k++) {
			if (r[i].docs[k].path == NULL)
				continue;
			if (asprintf(&p, "data/%s", r[i].docs[k].path) == -1)
				return -1;
			free(r[i].docs[k].path);
			r[i].docs[k].path = p;
		}
	return 0;
}

/* Files checked against the model: for SÄHKE2 every file of the package,
 * for a bag its payload outside data/metadata/. */
static int
job_check_files(struct job *j, bool bag, char *err, size_t errlen)
{
	struct pkg_file *files;
	size_t i, n = 0;
	int rc;

	if ((files = calloc(j->u.nfiles + 1, sizeof(*files))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < j->u.nfiles; i++) {
		const char *rel = job_rel(j, j->u.files[i].path);

		if (bag && (strncmp(rel, "data/", 5) != 0 ||
		    strncmp(rel, "data/metadata/", 14) == 0))
			continue;
		files[n].path = rel;
		files[n].size = j->u.files[i].size;
		files[n].sha256 = j->u.files[i].sha256;
		n++;
	}
	rc = package_check_files(&j->p, j->root, files, n, &j->f, err, errlen);
	free(files);
	return rc;
}

static int
job_read_sahke2(struct job *j, const char *rel, char *err, size_t errlen)
{
	char path[PATH_MAX];

	path_fmt(path, sizeof(path), "%s/%s", j->root, rel);
	if (mkdir(j->meta, 0750) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %.400s: %s", j->meta, strerror(errno));
		return -1;
	}
	return sahke2_read(&j->p, path, rel,
	    (uint64_t)j->cfg->ingest_max_metadata_bytes, j->meta, &j->f, err,
	    errlen);
}

static int
job_validate_bagit(struct job *j, char *err, size_t errlen)
{
	struct bagit_digest *known;
	char path[PATH_MAX];
	struct stat st;
	size_t i;
	int rc;

	j->format = "bagit";
	if ((known = calloc(j->u.nfiles + 1, sizeof(*known))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < j->u.nfiles; i++) {
		known[i].path = job_rel(j, j->u.files[i].path);
		known[i].sha256 = j->u.files[i].sha256;
	}
	rc = bagit_check(j->root, known, j->u.nfiles, &j->f, &j->bag_info,
	    err, errlen);
	free(known);
	if (rc == -1)
		return -1;
	/* Its values go into the AIP's bag-info.txt and the catalogue, both
	 * UTF-8 as RFC 8493 declares them. */
	for (i = 0; j->bag_info && j->bag_info[i]; i++)
		if (u8_check((const uint8_t *)j->bag_info[i],
		    strlen(j->bag_info[i])) != NULL)
			findings_add(&j->f, SEVERITY_ERROR, "BAGIT_INFO",
			    "bag-info.txt", 0, "a value is not UTF-8 (the "
			    "line starting \"%.20s\"); RFC 8493 tag files "
			    "are UTF-8", j->bag_info[i]);
	j->p.format = PKG_BAGIT;
	/* Records for a migration that is not SÄHKE2 by itself. */
	path_fmt(path, sizeof(path), "%s/data/metadata/sahke2.xml", j->root);
	if (stat(path, &st) == 0) {
		if (job_read_sahke2(j, "data/metadata/sahke2.xml", err,
		    errlen) == -1)
			return -1;
	} else {
		path_fmt(path, sizeof(path), "%s/data/metadata/metadata.csv",
		    j->root);
		if (stat(path, &st) == 0) {
			if ((uint64_t)st.st_size >
			    (uint64_t)j->cfg->ingest_max_metadata_bytes) {
				findings_add(&j->f, SEVERITY_ERROR,
				    "METADATA_TOO_LARGE",
				    "data/metadata/metadata.csv", 0, "the "
				    "metadata file is %lld bytes, more than "
				    "ingest.max_metadata_bytes (%lld)",
				    (long long)st.st_size,
				    j->cfg->ingest_max_metadata_bytes);
				return 0;
			}
			if (csvmeta_read(&j->p, path,
			    "data/metadata/metadata.csv", &j->f, err,
			    errlen) == -1)
				return -1;
		} else
			return 0;	/* a bag of files, no records */
	}
	j->p.format = PKG_BAGIT;
	for (i = 0; i < j->p.ncasefiles; i++)
		if (job_prefix_documents(j->p.casefiles[i].records,
		    j->p.casefiles[i].nrecords) == -1)
			goto nomem;
	if (job_prefix_documents(j->p.records, j->p.nrecords) == -1)
		goto nomem;
	return job_check_files(j, true, err, errlen);
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int
job_validate_sahke2(struct job *j, char *err, size_t errlen)
{
	const char *rel, *found = NULL, *only_xml = NULL;
	char path[PATH_MAX];
	size_t i, nfound = 0, nxml = 0;

	for (i = 0; i < j->u.nfiles; i++) {
		rel = job_rel(j, j->u.files[i].path);
		if (strchr(rel, '/') != NULL || !job_is_xml_name(rel))
			continue;
		nxml++;
		only_xml = rel;
		path_fmt(path, sizeof(path), "%s/%s", j->root, rel);
		if (sahke2_detect(path) != 0) {
			nfound++;
			found = rel;
		}
	}
	if (nfound > 1) {
		findings_add(&j->f, SEVERITY_ERROR, "METADATA_AMBIGUOUS", NULL,
		    0, "%zu SÄHKE2 metadata files at the top of the package; "
		    "a transfer has one", nfound);
		return 0;
	}
	if (nfound == 0 && nxml == 1) {
		/* Not recognised: say why (a DOCTYPE, broken XML, another
		 * root), then that the format is unknown. */
		if (job_read_sahke2(j, only_xml, err, errlen) == -1)
			return -1;
		if (!findings_has(&j->f, "XML_DOCTYPE") &&
		    !findings_has(&j->f, "XML_MALFORMED") &&
		    !findings_has(&j->f, "METADATA_TOO_LARGE"))
			findings_add(&j->f, SEVERITY_ERROR, "UNKNOWN_FORMAT",
			    NULL, 0, "neither a BagIt bag (no bagit.txt) nor "
			    "a SÄHKE2 transfer (%s has no SÄHKE2 Metadata "
			    "root)", only_xml);
		return 0;
	}
	if (nfound == 0) {
		findings_add(&j->f, SEVERITY_ERROR, "UNKNOWN_FORMAT", NULL, 0,
		    "neither a BagIt bag (no bagit.txt) nor a SÄHKE2 transfer "
		    "(no metadata XML at the top of the package)");
		return 0;
	}
	j->format = "sahke2";
	j->p.format = PKG_SAHKE2;
	if (job_read_sahke2(j, found, err, errlen) == -1)
		return -1;
	if (findings_has(&j->f, "XML_DOCTYPE") ||
	    findings_has(&j->f, "XML_MALFORMED") ||
	    findings_has(&j->f, "METADATA_TOO_LARGE"))
		return 0;	/* no model to check files against */
	return job_check_files(j, false, err, errlen);
}

/* True when s holds something shaped like a personal identity code. */
static bool
job_has_person_id(const char *s)
{
	char *copy;
	bool found;

	if (s == NULL || (copy = strdup(s)) == NULL)
		return false;
	findings_withhold(copy);
	found = strcmp(copy, s) != 0;
	free(copy);
	return found;
}

/* Free text that names a person by identity code: kept in the AIP as
 * submitted, withheld in the catalogue, and said in the report. */
static void
job_check_person_text(struct job *j, const struct pkg_common *c,
    const char *description, const char *what)
{
	if (job_has_person_id(c->title) || job_has_person_id(description))
		findings_add(&j->f, SEVERITY_WARNING, "PERSON_ID_IN_TEXT",
		    j->p.metadata_path, c->line, "%s %s: its title or "
		    "description holds what looks like a personal identity "
		    "code; the AIP keeps it as submitted, the catalogue "
		    "withholds it", what, c->native_id ? c->native_id : "");
}

/* The same case file twice in one transfer cannot become two AIPs. */
static void
job_check_duplicates(struct job *j)
{
	struct strmap seen;
	size_t i;

	if (strmap_init(&seen, j->p.ncasefiles) == -1)
		return;
	for (i = 0; i < j->p.ncasefiles; i++) {
		const struct pkg_casefile *cf = &j->p.casefiles[i];

		if (cf->c.native_id == NULL || cf->c.native_id[strspn(
		    cf->c.native_id, " \t\r\n")] == '\0') {
			/* Two blank ones would be one AIP's versions. */
			findings_add(&j->f, SEVERITY_ERROR,
			    "CASEFILE_NATIVE_ID", j->p.metadata_path,
			    cf->c.line, "a CaseFile has no NativeId: every "
			    "case file needs its own to be stored");
			continue;
		}
		if (strmap_put(&seen, cf->c.native_id, i) == 0)
			findings_add(&j->f, SEVERITY_ERROR, "CASEFILE_DUPLICATE",
			    j->p.metadata_path, cf->c.line, "CaseFile %s "
			    "appears more than once", cf->c.native_id);
	}
	strmap_free(&seen);
	for (i = 0; i < j->p.ncasefiles; i++) {
		const struct pkg_casefile *cf = &j->p.casefiles[i];
		size_t k;

		job_check_person_text(j, &cf->c, NULL, "CaseFile");
		for (k = 0; k < cf->nrecords; k++)
			job_check_person_text(j, &cf->records[k].c,
			    cf->records[k].description, "Record");
	}
	for (i = 0; i < j->p.nrecords; i++)
		job_check_person_text(j, &j->p.records[i].c,
		    j->p.records[i].description, "Record");
}

/* ---- format identification (libmagic) ---------------------------------- */

static bool
job_format_accepted(const struct job *j, const char *mime)
{
	const char *list = j->cfg->ingest_accepted_formats, *end;
	size_t n = strlen(mime);

	while (*list) {
		while (*list == ' ' || *list == ',')
			list++;
		end = list + strcspn(list, ",");
		while (end > list && end[-1] == ' ')
			end--;
		if ((size_t)(end - list) == n && strncasecmp(list, mime,
		    n) == 0)
			return true;
		list = end;
		while (*list && *list != ',')
			list++;
	}
	return false;
}

/* The MIME type without parameters, lower-case, into out. */
static void
job_mime_base(const char *s, char *out, size_t len)
{
	size_t i;

	for (i = 0; s[i] && s[i] != ';' && s[i] != ' ' && i + 1 < len; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

static int
job_identify_one(struct job *j, magic_t mg, size_t index,
    const char *declared)
{
	enum severity sev = strcmp(j->cfg->ingest_format_policy, "reject") ==
	    0 ? SEVERITY_ERROR : SEVERITY_WARNING;
	const char *rel = job_rel(j, j->u.files[index].path);
	char path[PATH_MAX], base[128], want[128];
	const char *mime;

	if (j->mime[index] == NULL) {
		path_fmt(path, sizeof(path), "%s/%s", j->root, rel);
		if ((mime = magic_file(mg, path)) == NULL)
			mime = "application/octet-stream";
		job_mime_base(mime, base, sizeof(base));
		if ((j->mime[index] = strdup(base)) == NULL)
			return -1;
		if (!job_format_accepted(j, base))
			findings_add(&j->f, sev, "FORMAT_UNLISTED", rel, 0,
			    "%s is not among the accepted formats "
			    "(ingest.accepted_formats)", base);
	}
	if (declared && strchr(declared, '/')) {
		job_mime_base(declared, want, sizeof(want));
		if (strcmp(want, j->mime[index]) != 0)
			findings_add(&j->f, sev, "FORMAT_MISMATCH", rel, 0,
			    "declared %s, but the content is %s", want,
			    j->mime[index]);
	}
	return 0;
}

static int
job_identify_records(struct job *j, magic_t mg, struct pkg_record *r,
    size_t n)
{
	size_t i, k, index;

	for (i = 0; i < n; i++)
		for (k = 0; k < r[i].ndocs; k++)
			if (r[i].docs[k].path && job_file(j, r[i].docs[k].path,
			    &index) && job_identify_one(j, mg, index,
			    r[i].docs[k].format_name) == -1)
				return -1;
	return 0;
}

/* Every content file's type, compared with what was declared and with
 * the accepted formats. */
static int
job_identify(struct job *j, char *err, size_t errlen)
{
	magic_t mg;
	size_t i;
	int rc = 0;

	if ((mg = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS |
	    MAGIC_NO_CHECK_TAR)) == NULL || magic_load(mg, NULL) == -1) {
		snprintf(err, errlen, "libmagic: %s", mg ? magic_error(mg) :
		    "out of memory");
		if (mg)
			magic_close(mg);
		return -1;
	}
	for (i = 0; i < j->p.ncasefiles && rc == 0; i++)
		rc = job_identify_records(j, mg, j->p.casefiles[i].records,
		    j->p.casefiles[i].nrecords);
	if (rc == 0)
		rc = job_identify_records(j, mg, j->p.records, j->p.nrecords);
	/* A bag's payload outside any record is content too. */
	for (i = 0; rc == 0 && j->p.format == PKG_BAGIT && i < j->u.nfiles;
	    i++) {
		const char *rel = job_rel(j, j->u.files[i].path);

		if (strncmp(rel, "data/", 5) == 0 &&
		    strncmp(rel, "data/metadata/", 14) != 0)
			rc = job_identify_one(j, mg, i, NULL);
	}
	magic_close(mg);
	if (rc == -1)
		snprintf(err, errlen, "out of memory");
	return rc;
}

/* ---- building the AIPs ------------------------------------------------ */

static const char *
job_bag_info(const struct job *j, const char *label)
{
	size_t i, n = strlen(label);

	for (i = 0; j->bag_info && j->bag_info[i]; i++)
		if (strncasecmp(j->bag_info[i], label, n) == 0 &&
		    j->bag_info[i][n] == ':') {
			const char *v = j->bag_info[i] + n + 1;

			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	return NULL;
}

static void
unit_free(struct unit *u)
{
	size_t i;

	for (i = 0; i < u->nfiles; i++) {
		free(u->files[i].src);
		free(u->files[i].dst);
	}
	free(u->files);
	for (i = 0; i < u->nprev; i++)
		free(u->prev_links[i]);
	free(u->prev_links);
	free(u->native_id);
	free(u->title);
}

/* Adds a file to a unit: src absolute, dst in the bag. */
static int
unit_add(struct unit *u, const char *src, const char *dst, uint64_t size,
    const char *sha256)
{
	struct aip_file *af;
	void *grown;

	if (u->nfiles == u->capfiles) {
		size_t cap = u->capfiles ? 2 * u->capfiles : 16;

		if ((grown = realloc(u->files, cap * sizeof(*af))) == NULL)
			return -1;
		u->files = grown;
		u->capfiles = cap;
	}
	af = &u->files[u->nfiles];
	memset(af, 0, sizeof(*af));
	if ((af->src = strdup(src)) == NULL || (af->dst = strdup(dst)) ==
	    NULL) {
		free(af->src);
		free(af->dst);
		return -1;
	}
	af->size = size;
	snprintf(af->sha256, sizeof(af->sha256), "%s", sha256 ? sha256 : "");
	u->nfiles++;
	u->bytes += size;
	return 0;
}

/* A file of the package as content of u, once per bag. */
static int
unit_add_content(struct job *j, struct unit *u, struct strmap *seen,
    const char *rel, const char *dst_rel)
{
	const struct unpacked_file *uf = job_file(j, rel, NULL);
	char src[PATH_MAX], dst[PATH_MAX];

	if (uf == NULL)
		return 0;	/* reported as FILE_MISSING already */
	path_fmt(dst, sizeof(dst), "data/content/%s", dst_rel);
	if (strmap_put(seen, uf->path, 0) != 1)
		return 0;	/* a file two documents name: once */
	path_fmt(src, sizeof(src), "%s/%s", j->work, uf->path);
	return unit_add(u, src, dst, uf->size, uf->sha256);
}

/* A file Sailo wrote (metadata extract, PREMIS): digest read back. */
static int
unit_add_written(struct unit *u, const char *src, const char *dst,
    char *err, size_t errlen)
{
	char sha[65];
	uint64_t size;

	if (aip_file_digest(src, "sha256", sha, &size, err, errlen) == -1)
		return -1;
	return unit_add(u, src, dst, size, sha);
}

static int
job_units(struct job *j)
{
	size_t i, k, d, n;
	struct strmap seen;
	struct unit *u;

	n = j->p.format == PKG_SAHKE2 ? j->p.ncasefiles : 1;
	if ((j->units = calloc(n ? n : 1, sizeof(*j->units))) == NULL)
		return -1;
	j->nunits = n;
	for (i = 0; i < n; i++) {
		u = &j->units[i];
		if (strmap_init(&seen, 64) == -1)
			return -1;
		if (j->p.format == PKG_SAHKE2) {
			struct pkg_casefile *cf = &j->p.casefiles[i];

			u->cf = cf;
			u->native_id = strdup(cf->c.native_id ?
			    cf->c.native_id : "");
			u->title = cf->c.title ? strdup(cf->c.title) : NULL;
			for (k = 0; k < cf->nrecords; k++)
				for (d = 0; d < cf->records[k].ndocs; d++) {
					const char *p =
					    cf->records[k].docs[d].path;

					if (p && unit_add_content(j, u, &seen,
					    p, p) == -1)
						goto fail;
				}
		} else {
			const char *ext = job_bag_info(j,
			    "External-Identifier"), *title;
			char tmp[128];

			snprintf(tmp, sizeof(tmp), "bag-%s", j->sha256);
			u->native_id = strdup(ext && *ext ? ext : tmp);
			title = job_bag_info(j, "External-Description");
			u->title = title ? strdup(title) : NULL;
			for (k = 0; k < j->u.nfiles; k++) {
				const char *rel = job_rel(j,
				    j->u.files[k].path);
				char src[PATH_MAX], dst[PATH_MAX];

				if (strncmp(rel, "data/metadata/", 14) == 0) {
					/* The bag's own metadata, apart
					 * from what Sailo writes there. */
					path_fmt(src, sizeof(src), "%s/%s",
					    j->work, j->u.files[k].path);
					path_fmt(dst, sizeof(dst),
					    "data/metadata/submitted/%s",
					    rel + 14);
					if (unit_add(u, src, dst,
					    j->u.files[k].size,
					    j->u.files[k].sha256) == -1)
						goto fail;
				} else if (strncmp(rel, "data/", 5) == 0 &&
				    unit_add_content(j, u, &seen, rel,
				    rel + 5) == -1)
					goto fail;
			}
		}
		strmap_free(&seen);
		if (u->native_id == NULL)
			return -1;
		continue;
fail:
		strmap_free(&seen);
		return -1;
	}
	return 0;
}

/* A new AIP's id, the same on every try of this transfer (a UUID made
 * from SHA-256 of the transfer and the NativeId, RFC 9562 version 8):
 * a try killed after it placed its bags left them under these names, and
 * the next try replaces them rather than leaving them orphaned. */
static void
job_aip_id(const struct job *j, struct unit *u)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char hex[65];

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		aip_uuid(u->aip_id);	/* no memory: random, still unique */
		return;
	}
	EVP_DigestUpdate(ctx, "sailo-aip\n", 10);
	EVP_DigestUpdate(ctx, j->id, strlen(j->id));
	EVP_DigestUpdate(ctx, "\n", 1);
	EVP_DigestUpdate(ctx, u->native_id, strlen(u->native_id));
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	md[6] = (md[6] & 0x0f) | 0x80;
	md[8] = (md[8] & 0x3f) | 0x80;
	aip_hex(md, 16, hex);
	snprintf(u->aip_id, sizeof(u->aip_id), "%.8s-%.4s-%.4s-%.4s-%.12s",
	    hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* Which AIPs exist already: a case file stored before from the same
 * source gets its next version. */
static int
job_lookup_aips(struct job *j)
{
	struct db_result *r = NULL;
	const char *params[2] = { j->submitter_id, NULL };
	size_t i, start, k;
	json_t *ids;
	char *text;
	int rc = 0;

	for (start = 0; start < j->nunits && rc == 0;
	    start += PROCESS_BATCH_ROWS) {
		ids = json_array();
		for (i = start; i < j->nunits && i < start +
		    PROCESS_BATCH_ROWS; i++)
			json_array_append_new(ids,
			    json_string(j->units[i].native_id));
		text = json_dumps(ids, JSON_COMPACT);
		json_decref(ids);
		params[1] = text;
		rc = db_query(j->db, &r, "SELECT x.i - 1, a.id, "
		    "a.current_version FROM jsonb_array_elements_text("
		    "$2::jsonb) WITH ORDINALITY AS x(native_id, i) JOIN aips a "
		    "ON a.source = $1 AND a.native_id = x.native_id", 2,
		    params);
		free(text);
		if (rc == -1)
			break;
		for (k = 0; k < (size_t)db_rows(r); k++) {
			struct unit *u = &j->units[start +
			    strtoul(db_value(r, (int)k, 0), NULL, 10)];

			snprintf(u->aip_id, sizeof(u->aip_id), "%s",
			    db_value(r, (int)k, 1));
			u->previous = atoi(db_value(r, (int)k, 2));
		}
		db_result_free(r);
		r = NULL;
	}
	for (i = 0; i < j->nunits; i++) {
		if (j->units[i].aip_id[0] == '\0')
			job_aip_id(j, &j->units[i]);
		j->units[i].version = j->units[i].previous + 1;
	}
	return rc;
}

/* Files unchanged since the previous version become links to it. */
static int
job_link_previous(struct job *j, struct unit *u)
{
	struct db_result *r = NULL;
	char version[16], path[PATH_MAX];
	const char *params[2] = { u->aip_id, version };
	struct strmap prev;
	size_t i, row;
	int rows;

	snprintf(version, sizeof(version), "%d", u->previous);
	if (db_query(j->db, &r, "SELECT path, encode(sha256, 'hex') FROM files "
	    "WHERE aip_id = $1 AND version = $2", 2, params) == -1)
		return -1;
	rows = db_rows(r);
	if (strmap_init(&prev, (size_t)rows) == -1 ||
	    (u->prev_links = calloc(u->nfiles + 1, sizeof(char *))) == NULL) {
		strmap_free(&prev);
		db_result_free(r);
		return -1;
	}
	for (i = 0; i < (size_t)rows; i++)
		strmap_put(&prev, db_value(r, (int)i, 0), i);
	for (i = 0; i < u->nfiles; i++) {
		if (!strmap_get(&prev, u->files[i].dst, &row) ||
		    strcmp(db_value(r, (int)row, 1), u->files[i].sha256) != 0)
			continue;
		path_fmt(path, sizeof(path), "%s/aips/%s/v%d/%s",
		    j->cfg->storage_root, u->aip_id, u->previous,
		    u->files[i].dst);
		if ((u->prev_links[u->nprev] = strdup(path)) == NULL)
			break;
		u->files[i].link_from = u->prev_links[u->nprev++];
	}
	strmap_free(&prev);
	db_result_free(r);
	return 0;
}

static int
job_write_unit(struct job *j, struct unit *u, size_t n, char *err,
    size_t errlen)
{
	char src[PATH_MAX], premis[PATH_MAX], detail[512], now[32];
	char *info[8] = { NULL };
	const char *org;
	struct premis_event ev[4];
	struct aip_spec spec;
	int rc = -1, k = 0;

	if (u->cf && u->cf->metadata_extract) {
		path_fmt(src, sizeof(src), "%s/%s", j->meta,
		    u->cf->metadata_extract);
		if (unit_add_written(u, src, "data/metadata/sahke2.xml", err,
		    errlen) == -1)
			return -1;
	}
	if (j->p.format == PKG_BAGIT) {
		path_fmt(src, sizeof(src), "%s/bag-info.txt", j->root);
		if (access(src, R_OK) == 0 && unit_add_written(u, src,
		    "data/metadata/submitted-bag-info.txt", err, errlen) == -1)
			return -1;
	}
	job_now(now, sizeof(now));
	snprintf(detail, sizeof(detail), "transfer %s (package SHA-256 %s), "
	    "version %d", j->id, j->sha256, u->version);
	ev[0] = (struct premis_event){ "ingestion", now, detail, "success",
	    j->submitter };
	ev[1] = (struct premis_event){ "message digest calculation", now,
	    "SHA-256 of every file, computed while unpacking", "success",
	    "sailo" };
	ev[2] = (struct premis_event){ "validation", now, j->format &&
	    strcmp(j->format, "bagit") == 0 ? "BagIt (RFC 8493): manifests, "
	    "Payload-Oxum, structure" : "SÄHKE2 schema and rules, listed "
	    "files and their checksums", "success", "sailo" };
	ev[3] = (struct premis_event){ "format identification", now,
	    "libmagic", "success", "sailo" };
	path_fmt(premis, sizeof(premis), "%s/premis-%zu.xml", j->meta, n);
	if (mkdir(j->meta, 0750) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %.400s: %s", j->meta, strerror(errno));
		return -1;
	}
	if (aip_write_premis(premis, u->aip_id, ev, 4, j->submitter, err,
	    errlen) == -1 || unit_add_written(u, premis,
	    "data/metadata/premis.xml", err, errlen) == -1)
		return -1;
	if (u->previous > 0 && job_link_previous(j, u) == -1) {
		snprintf(err, errlen, "database: %s", db_error(j->db));
		return -1;
	}
	org = j->p.organisation ? j->p.organisation :
	    job_bag_info(j, "Source-Organization");
	if (asprintf(&info[k++], "Source-Organization: %s", org ? org :
	    j->submitter) == -1 ||
	    asprintf(&info[k++], "External-Identifier: %s", u->native_id) ==
	    -1 ||
	    asprintf(&info[k++], "Sailo-AIP-Id: %s", u->aip_id) == -1 ||
	    asprintf(&info[k++], "Sailo-Version: %d", u->version) == -1 ||
	    asprintf(&info[k++], "Sailo-Transfer-Id: %s", j->id) == -1) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	path_fmt(u->tmp, sizeof(u->tmp), "%s/%zu", j->tmp, n);
	spec = (struct aip_spec){ u->tmp, u->files, u->nfiles,
	    (const char *const *)info, j->cfg->storage_sha512 };
	rc = aip_write(&spec, u->tagmanifest, err, errlen);
out:
	for (k = 0; k < 8; k++)
		free(info[k]);
	return rc;
}

/* ---- the catalogue ------------------------------------------------------ */

/* Rows gathered for one INSERT … SELECT FROM jsonb_to_recordset. */
struct batch {
	struct db	*db;
	const char	*sql;		/* $1 = the rows */
	json_t		*rows;
	int		 failed;
	bool		 counted;	/* sql answers how many rows it took */
	bool		 moved;		/* … and it took fewer than sent */
};

static void
batch_init(struct batch *b, struct db *db, const char *sql)
{
	b->db = db;
	b->sql = sql;
	b->rows = json_array();
	b->failed = b->rows == NULL;
	b->counted = b->moved = false;
}

static int
batch_flush(struct batch *b)
{
	struct db_result *r = NULL;
	const char *params[1];
	char *text;

	if (b->failed)
		return -1;
	if (json_array_size(b->rows) == 0)
		return 0;
	if ((text = json_dumps(b->rows, JSON_COMPACT)) == NULL)
		return b->failed = -1;
	params[0] = text;
	if (db_query(b->db, b->counted ? &r : NULL, b->sql, 1, params) ==
	    -1) {
		/* The first failure is the one worth telling: every later
		 * statement only says the transaction is aborted. */
		log_warn("catalogue: %s", db_error(b->db));
		b->failed = -1;
	} else if (b->counted && strtoul(db_value(r, 0, 0), NULL, 10) !=
	    json_array_size(b->rows)) {
		b->moved = true;
		b->failed = -1;
	}
	db_result_free(r);
	free(text);
	json_array_clear(b->rows);
	return b->failed;
}

/* Rows wait in their batch; catalogue_flush() sends them in the order
 * the foreign keys need. */
static void
batch_add(struct batch *b, json_t *row)
{
	if (row == NULL) {
		b->failed = -1;
		return;
	}
	json_array_append_new(b->rows, row);
}

static void
batch_free(struct batch *b)
{
	json_decref(b->rows);
}

/* New AIPs; a case file some other transfer stored meanwhile is not
 * taken (ON CONFLICT), and the count tells. */
#define AIP_NEW_SQL \
	"WITH n AS (INSERT INTO aips (id, source, native_id, title, " \
	"current_version) SELECT x.id, x.source, x.native_id, x.title, 1 " \
	"FROM jsonb_to_recordset($1) AS x(id uuid, source uuid, native_id " \
	"text, title text) ON CONFLICT (source, native_id) DO NOTHING " \
	"RETURNING 1) SELECT count(*) FROM n"

/* The next version of AIPs whose version has not moved since we looked. */
#define AIP_NEXT_SQL \
	"WITH n AS (UPDATE aips a SET current_version = x.version, title = " \
	"x.title, updated_at = now() FROM jsonb_to_recordset($1) AS x(id " \
	"uuid, version int, title text) WHERE a.id = x.id AND " \
	"a.current_version = x.version - 1 RETURNING 1) SELECT count(*) FROM n"

#define VERSION_SQL \
	"INSERT INTO aip_versions (aip_id, version, transfer_id, files, " \
	"bytes, tagmanifest_sha256) SELECT x.aip_id, x.version, " \
	"x.transfer_id, x.files, x.bytes, decode(x.tagmanifest, 'hex') FROM " \
	"jsonb_to_recordset($1) AS x(aip_id uuid, version int, transfer_id " \
	"uuid, files int, bytes bigint, tagmanifest text)"

#define CASE_FILE_SQL \
	"INSERT INTO case_files (id, aip_id, version, native_id, title, type, " \
	"status, function_code, created, finished, last_action, actions, " \
	"publicity, security_reason, personal_data, retention_period, " \
	"retention_reason, retention_end) SELECT x.id, x.aip_id, x.version, " \
	"x.native_id, x.title, x.type, x.status, x.function_code, x.created, " \
	"x.finished, x.last_action, x.actions, x.publicity, " \
	"x.security_reason, x.personal_data, x.retention_period, " \
	"x.retention_reason, x.retention_end FROM jsonb_to_recordset($1) AS " \
	"x(id uuid, aip_id uuid, version int, native_id text, title text, " \
	"type text, status text, function_code text, created date, finished " \
	"date, last_action date, actions int, publicity text, security_reason " \
	"text, personal_data text, retention_period int, retention_reason " \
	"text, retention_end date)"

#define RECORD_SQL \
	"INSERT INTO records (id, aip_id, version, case_file_id, transfer_id, " \
	"native_id, title, description, type, status, function_code, created, " \
	"publicity, security_reason, personal_data, retention_period, " \
	"retention_reason, retention_end, retention_trigger) SELECT x.id, " \
	"x.aip_id, x.version, x.case_file_id, x.transfer_id, x.native_id, " \
	"x.title, x.description, x.type, x.status, x.function_code, " \
	"x.created, x.publicity, x.security_reason, x.personal_data, " \
	"x.retention_period, x.retention_reason, x.retention_end, " \
	"x.retention_trigger FROM jsonb_to_recordset($1) AS x(id uuid, " \
	"aip_id uuid, version int, case_file_id uuid, transfer_id uuid, " \
	"native_id text, title text, description text, type text, status " \
	"text, function_code text, created date, publicity text, " \
	"security_reason text, personal_data text, retention_period int, " \
	"retention_reason text, retention_end date, retention_trigger text)"

#define PERSON_SQL \
	"INSERT INTO record_persons (record_id, ssn_hmac) SELECT x.r, " \
	"decode(x.h, 'hex') FROM jsonb_to_recordset($1) AS x(r uuid, h text) " \
	"ON CONFLICT DO NOTHING"

#define FILE_SQL \
	"INSERT INTO files (aip_id, version, path, size, sha256, record_id, " \
	"document_native_id, use_type, declared_format, declared_version, " \
	"mime_type) SELECT x.aip_id, x.version, x.path, x.size, " \
	"decode(x.sha256, 'hex'), x.record_id, x.document_native_id, " \
	"x.use_type, x.declared_format, x.declared_version, x.mime_type FROM " \
	"jsonb_to_recordset($1) AS x(aip_id uuid, version int, path text, " \
	"size bigint, sha256 text, record_id uuid, document_native_id text, " \
	"use_type text, declared_format text, declared_version text, " \
	"mime_type text)"

struct catalogue {
	struct batch	 aips_new, aips_next, versions;
	struct batch	 case_files, records, persons, files;
};

/* Case files before their records, records before their persons and
 * files.  force: also batches that are not full yet. */
static int
catalogue_flush(struct catalogue *cat, bool force)
{
	if (!force && json_array_size(cat->case_files.rows) <
	    PROCESS_BATCH_ROWS && json_array_size(cat->records.rows) <
	    PROCESS_BATCH_ROWS && json_array_size(cat->persons.rows) <
	    PROCESS_BATCH_ROWS && json_array_size(cat->files.rows) <
	    PROCESS_BATCH_ROWS && json_array_size(cat->versions.rows) <
	    PROCESS_BATCH_ROWS)
		return 0;
	if (batch_flush(&cat->aips_new) == -1 ||
	    batch_flush(&cat->aips_next) == -1 ||
	    batch_flush(&cat->versions) == -1 ||
	    batch_flush(&cat->case_files) == -1 ||
	    batch_flush(&cat->records) == -1 ||
	    batch_flush(&cat->persons) == -1 ||
	    batch_flush(&cat->files) == -1)
		return -1;
	return 0;
}

static void
catalogue_free(struct catalogue *cat)
{
	batch_free(&cat->aips_new);
	batch_free(&cat->aips_next);
	batch_free(&cat->versions);
	batch_free(&cat->case_files);
	batch_free(&cat->records);
	batch_free(&cat->persons);
	batch_free(&cat->files);
}

/* Free text for the catalogue: a personal identity code in it is
 * withheld there (the AIP keeps the metadata as submitted; the catalogue
 * keeps person identifiers only as HMACs). */
static json_t *
catalogue_text(const char *s)
{
	json_t *v;
	char *copy;

	if (s == NULL)
		return json_null();
	if ((copy = strdup(s)) == NULL)
		return NULL;
	findings_withhold(copy);
	v = json_string(copy);
	free(copy);
	return v;
}

/* The fields a case file and a record share, into row. */
static void
catalogue_common(json_t *row, const struct pkg_common *c)
{
	json_object_set_new(row, "native_id", json_string(c->native_id ?
	    c->native_id : ""));
	json_object_set_new(row, "title", catalogue_text(c->title));
	json_object_set_new(row, "type", catalogue_text(c->type));
	json_object_set_new(row, "status", catalogue_text(c->status));
	json_object_set_new(row, "function_code", c->function_code ?
	    json_string(c->function_code) : json_null());
	json_object_set_new(row, "created", c->created ?
	    json_string(c->created) : json_null());
	json_object_set_new(row, "publicity", c->publicity ?
	    json_string(c->publicity) : json_null());
	json_object_set_new(row, "security_reason", catalogue_text(c->security_reason));
	json_object_set_new(row, "personal_data", c->personal_data ?
	    json_string(c->personal_data) : json_null());
	json_object_set_new(row, "retention_period", c->has_retention ?
	    json_integer(c->retention_period) : json_null());
	json_object_set_new(row, "retention_reason", catalogue_text(c->retention_reason));
	json_object_set_new(row, "retention_end", c->retention_end ?
	    json_string(c->retention_end) : json_null());
}

static json_t *
catalogue_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static void
catalogue_persons(struct job *j, struct catalogue *cat, const char *rid,
    const struct pkg_common *c)
{
	char hex[65];
	size_t i;

	for (i = 0; i < c->nssns; i++) {
		if (ingest_person_hmac(c->ssns[i], hex) == -1) {
			cat->persons.failed = -1;
			return;
		}
		batch_add(&cat->persons, json_pack("{s:s,s:s}", "r", rid, "h",
		    hex));
	}
	(void)j;
}

/* The rows of one unit's records and their files. */
static void
catalogue_records(struct job *j, struct catalogue *cat, struct unit *u,
    struct strmap *file_record, const char *case_id,
    struct pkg_record *r, size_t n, const struct pkg_common *inherit)
{
	char rid[37];
	size_t i, k;
	json_t *row;

	for (i = 0; i < n; i++) {
		aip_uuid(rid);
		row = json_pack("{s:s,s:s,s:i,s:o,s:s}", "id", rid, "aip_id",
		    u->aip_id, "version", u->version, "case_file_id",
		    catalogue_null(case_id), "transfer_id", j->id);
		if (row == NULL) {
			cat->records.failed = -1;
			return;
		}
		catalogue_common(row, &r[i].c);
		json_object_set_new(row, "description",
		    catalogue_text(r[i].description));
		json_object_set_new(row, "retention_trigger",
		    catalogue_null(r[i].c.trigger));
		/* A record without its own publicity takes its case file's. */
		if (r[i].c.publicity == NULL && inherit && inherit->publicity)
			json_object_set_new(row, "publicity",
			    json_string(inherit->publicity));
		batch_add(&cat->records, row);
		catalogue_persons(j, cat, rid, &r[i].c);
		for (k = 0; k < r[i].ndocs; k++) {
			const struct pkg_document *d = &r[i].docs[k];
			char dst[PATH_MAX];
			size_t index;

			if (d->path == NULL || job_file(j, d->path, &index) ==
			    NULL)
				continue;
			path_fmt(dst, sizeof(dst), "data/content/%s",
			    j->p.format == PKG_BAGIT &&
			    strncmp(d->path, "data/", 5) == 0 ? d->path + 5 :
			    d->path);
			/* The first document naming a file owns it. */
			if (strmap_put(file_record, j->u.files[index].path,
			    0) != 1)
				continue;
			batch_add(&cat->files, json_pack("{s:s,s:i,s:s,s:I,"
			    "s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "aip_id",
			    u->aip_id, "version", u->version, "path", dst,
			    "size", (json_int_t)j->u.files[index].size,
			    "sha256", j->u.files[index].sha256, "record_id",
			    rid, "document_native_id",
			    catalogue_null(d->native_id), "use_type",
			    catalogue_null(d->use_type), "declared_format",
			    catalogue_null(d->format_name), "declared_version",
			    catalogue_null(d->format_version), "mime_type",
			    catalogue_null(j->mime[index])));
		}
	}
}

/* Files of the bag not catalogued with a record (metadata, PREMIS, a
 * bag's payload without records). */
static void
catalogue_other_files(struct job *j, struct catalogue *cat, struct unit *u,
    struct strmap *file_record)
{
	size_t i, index;
	const char *mime;

	for (i = 0; i < u->nfiles; i++) {
		const struct aip_file *af = &u->files[i];
		const char *unpacked;

		mime = NULL;
		if (strncmp(af->src, j->work, strlen(j->work)) == 0 &&
		    af->src[strlen(j->work)] == '/') {
			unpacked = af->src + strlen(j->work) + 1;
			if (strmap_get(file_record, unpacked, &index))
				continue;	/* a record's document */
			if (strmap_get(&j->by_path, job_rel(j, unpacked),
			    &index))
				mime = j->mime[index];
		}
		batch_add(&cat->files, json_pack("{s:s,s:i,s:s,s:I,s:s,s:o}",
		    "aip_id", u->aip_id, "version", u->version, "path", af->dst,
		    "size", (json_int_t)af->size, "sha256", af->sha256,
		    "mime_type", catalogue_null(mime)));
	}
}

static int
catalogue_unit(struct job *j, struct catalogue *cat, struct unit *u)
{
	struct strmap file_record;
	char cid[37];
	size_t i;
	json_t *row;

	if (strmap_init(&file_record, u->nfiles) == -1)
		return -1;
	if (u->cf) {
		aip_uuid(cid);
		row = json_pack("{s:s,s:s,s:i,s:o,s:o,s:i}", "id", cid,
		    "aip_id", u->aip_id, "version", u->version, "finished",
		    catalogue_null(u->cf->finished), "last_action",
		    catalogue_null(u->cf->last_action), "actions",
		    (int)u->cf->nactions);
		if (row)
			catalogue_common(row, &u->cf->c);
		batch_add(&cat->case_files, row);
		catalogue_records(j, cat, u, &file_record, cid,
		    u->cf->records, u->cf->nrecords, &u->cf->c);
	} else {
		/* A bag: its case files (CSV or SÄHKE2) and loose records. */
		for (i = 0; i < j->p.ncasefiles; i++) {
			struct pkg_casefile *cf = &j->p.casefiles[i];

			aip_uuid(cid);
			row = json_pack("{s:s,s:s,s:i,s:o,s:o,s:i}", "id", cid,
			    "aip_id", u->aip_id, "version", u->version,
			    "finished", catalogue_null(cf->finished),
			    "last_action", catalogue_null(cf->last_action),
			    "actions", (int)cf->nactions);
			if (row)
				catalogue_common(row, &cf->c);
			batch_add(&cat->case_files, row);
			catalogue_records(j, cat, u, &file_record, cid,
			    cf->records, cf->nrecords, &cf->c);
		}
		catalogue_records(j, cat, u, &file_record, NULL, j->p.records,
		    j->p.nrecords, NULL);
	}
	catalogue_other_files(j, cat, u, &file_record);
	strmap_free(&file_record);
	return catalogue_flush(cat, false);
}

/* The AIP's rows: a new AIP or its next version, and the version. */
static void
catalogue_aip(struct job *j, struct catalogue *cat, struct unit *u)
{
	if (u->previous == 0)
		batch_add(&cat->aips_new, json_pack("{s:s,s:s,s:s,s:o}", "id",
		    u->aip_id, "source", j->submitter_id, "native_id",
		    u->native_id, "title", catalogue_text(u->title)));
	else
		batch_add(&cat->aips_next, json_pack("{s:s,s:i,s:o}", "id",
		    u->aip_id, "version", u->version, "title",
		    catalogue_text(u->title)));
	batch_add(&cat->versions, json_pack("{s:s,s:i,s:s,s:i,s:I,s:s}",
	    "aip_id", u->aip_id, "version", u->version, "transfer_id", j->id,
	    "files", (int)u->nfiles, "bytes", (json_int_t)u->bytes,
	    "tagmanifest", u->tagmanifest));
}

enum store_result { STORE_DONE, STORE_RETRY, STORE_MOVED, STORE_FAILED };

/* Places every bag and catalogues everything in one transaction. */
static enum store_result
job_catalogue(struct job *j, char *err, size_t errlen)
{
	char warnings[24], keep[16], aip_dir[PATH_MAX];
	const char *params[3] = { j->id, warnings, keep };
	struct catalogue cat;
	json_t *details, *aips;
	bool replaced, committing = false;
	size_t i;
	int rc;

	batch_init(&cat.aips_new, j->db, AIP_NEW_SQL);
	batch_init(&cat.aips_next, j->db, AIP_NEXT_SQL);
	batch_init(&cat.versions, j->db, VERSION_SQL);
	cat.aips_new.counted = cat.aips_next.counted = true;
	batch_init(&cat.case_files, j->db, CASE_FILE_SQL);
	batch_init(&cat.records, j->db, RECORD_SQL);
	batch_init(&cat.persons, j->db, PERSON_SQL);
	batch_init(&cat.files, j->db, FILE_SQL);
	aips = json_array();
	if (db_begin(j->db) == -1)
		goto db_failed;
	/* Claim every new version in the catalogue first: the AIP rows
	 * stay locked until this transaction ends, so no other transfer
	 * places the same version meanwhile, and a folder found where ours
	 * goes can only be a dead try's. */
	for (i = 0; i < j->nunits; i++)
		catalogue_aip(j, &cat, &j->units[i]);
	if (batch_flush(&cat.aips_new) == -1 ||
	    batch_flush(&cat.aips_next) == -1)
		goto flush_failed;
	for (i = 0; i < j->nunits; i++) {
		struct unit *u = &j->units[i];

		path_fmt(aip_dir, sizeof(aip_dir), "%s/aips/%s",
		    j->cfg->storage_root, u->aip_id);
		if (aip_place(u->tmp, aip_dir, u->version, &replaced, err,
		    errlen) == -1)
			goto failed;
		u->placed = true;
		if (replaced)
			log_warn("transfer %s: replaced %s/v%d, left by a try "
			    "that did not reach the catalogue", j->id, aip_dir,
			    u->version);
		if (catalogue_unit(j, &cat, u) == -1)
			goto flush_failed;
		details = json_pack("{s:s,s:i,s:s,s:i,s:I,s:s}", "transfer", j->id,
		    "version", u->version, "native_id", u->native_id, "files",
		    (int)u->nfiles, "bytes", (json_int_t)u->bytes,
		    "tagmanifest_sha256", u->tagmanifest);
		rc = job_audit(j, "aip.store", AUDIT_SUCCESS, "aip",
		    u->aip_id, details);
		json_decref(details);
		if (rc == -1)
			goto db_failed;
		json_array_append_new(aips, json_string(u->aip_id));
	}
	job_phase(j, "catalogue rows");
	/* Every rename durable before the catalogue says it is stored. */
	if (j->nunits > 0 && aip_sync(j->cfg->storage_root, err, errlen) ==
	    -1)
		goto failed;
	if (catalogue_flush(&cat, true) == -1)
		goto flush_failed;
	if (job_insert_findings(j) == -1)
		goto db_failed;
	snprintf(warnings, sizeof(warnings), "%zu", j->f.warnings);
	snprintf(keep, sizeof(keep), "%d", j->cfg->ingest_keep_packages_days);
	if (db_query(j->db, NULL, "UPDATE transfers SET status = 'accepted', "
	    "format = COALESCE(format, $4), errors = 0, warnings = $2, "
	    "failure = NULL, finished_at = now(), updated_at = now(), "
	    "package_kept_until = now() + make_interval(days => $3::int) "
	    "WHERE id = $1", 3 + 1,
	    (const char *[]){ params[0], params[1], params[2], j->format }) ==
	    -1)
		goto db_failed;
	details = json_pack("{s:s,s:s,s:O,s:I}", "submitted_by", j->submitter,
	    "format", j->format, "aips", aips, "warnings",
	    (json_int_t)j->f.warnings);
	rc = job_audit(j, "transfer.accept", AUDIT_SUCCESS, "transfer", j->id,
	    details);
	json_decref(details);
	if (rc == -1)
		goto db_failed;
	job_phase(j, "catalogue flush");
	committing = true;
	if (db_commit(j->db) == -1)
		goto db_failed;
	job_phase(j, "commit");
	json_decref(aips);
	catalogue_free(&cat);
	return STORE_DONE;
flush_failed:
	if (cat.aips_new.moved || cat.aips_next.moved) {
		snprintf(err, errlen, "an AIP of this transfer moved on "
		    "during this try (another transfer of the same case "
		    "file): tried again");
		rc = STORE_MOVED;
		goto undo;
	}
db_failed:
	snprintf(err, errlen, "database: %s", db_error(j->db));
	rc = STORE_RETRY;
	goto undo;
failed:
	rc = STORE_FAILED;
undo:
	if (db_in_transaction(j->db))
		db_rollback(j->db);
	/* Bags placed for a transaction that surely did not commit go
	 * again; after a COMMIT whose outcome is unknown they stay (the
	 * next try replaces them, or they are the stored AIPs). */
	for (i = 0; !committing && i < j->nunits; i++)
		if (j->units[i].placed) {
			path_fmt(aip_dir, sizeof(aip_dir), "%s/aips/%s/v%d",
			    j->cfg->storage_root, j->units[i].aip_id,
			    j->units[i].version);
			unpack_remove(aip_dir);
			if (strrchr(aip_dir, '/') != NULL) {
				*strrchr(aip_dir, '/') = '\0';
				(void)rmdir(aip_dir);	/* when it was new */
			}
			j->units[i].placed = false;
		}
	json_decref(aips);
	catalogue_free(&cat);
	return (enum store_result)rc;
}

/* ---- the pipeline ------------------------------------------------------- */

static void
job_free(struct job *j)
{
	size_t i;

	findings_free(&j->f);
	for (i = 0; j->mime && i < j->u.nfiles; i++)
		free(j->mime[i]);
	free(j->mime);
	unpack_result_free(&j->u);
	strmap_free(&j->by_path);
	package_free(&j->p);
	bagit_info_free(j->bag_info);
	for (i = 0; i < j->nunits; i++)
		unit_free(&j->units[i]);
	free(j->units);
	free(j->inbox_name);
}

/* Unpack, identify, validate.  0 (findings decide), -1 (Sailo failed). */
static int
job_check(struct job *j, char *err, size_t errlen)
{
	struct unpack_limits lim = {
		.max_entries = (uint64_t)j->cfg->ingest_max_entries,
		.max_unpacked_bytes =
		    (uint64_t)j->cfg->ingest_max_unpacked_bytes,
		.max_ratio = j->cfg->ingest_max_ratio,
	};
	char path[PATH_MAX];
	struct stat st;

	job_phase(j, "start");
	if (unpack_package(&j->u, j->pkg, j->work, &lim, &j->f, err,
	    errlen) == -1)
		return -1;
	job_phase(j, "unpack");
	if (j->f.errors > 0)
		return 0;	/* not unpacked whole: nothing to read */
	job_find_root(j);
	if (job_index_files(j) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (job_stopping(j))
		return -1;
	path_fmt(path, sizeof(path), "%s/bagit.txt", j->root);
	if (stat(path, &st) == 0) {
		if (job_validate_bagit(j, err, errlen) == -1)
			return -1;
	} else if (job_validate_sahke2(j, err, errlen) == -1)
		return -1;
	if (j->format == NULL)
		return 0;
	job_check_duplicates(j);
	job_phase(j, "validate");
	if (job_stopping(j) || job_identify(j, err, errlen) == -1)
		return -1;
	job_phase(j, "identify");
	return 0;
}

/* Writes every bag under the temporary folder and makes them durable. */
static int
job_write(struct job *j, char *err, size_t errlen)
{
	size_t i;

	if (job_units(j) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (job_lookup_aips(j) == -1) {
		snprintf(err, errlen, "database: %s", db_error(j->db));
		return -1;
	}
	if (mkdir(j->tmp, 0750) == -1) {
		snprintf(err, errlen, "mkdir %.400s: %s", j->tmp, strerror(errno));
		return -1;
	}
	for (i = 0; i < j->nunits; i++) {
		if (job_write_unit(j, &j->units[i], i, err, errlen) == -1)
			return -1;
		if ((i & 63) == 63 && job_stopping(j)) {
			snprintf(err, errlen, "stopping");
			return -1;
		}
	}
	job_phase(j, "write");
	if (aip_sync(j->cfg->storage_root, err, errlen) == -1)
		return -1;
	job_phase(j, "sync");
	return 0;
}

static int
job_mkdirs(const struct config *cfg, char *err, size_t errlen)
{
	char path[PATH_MAX];

	path_fmt(path, sizeof(path), "%s/aips/.tmp", cfg->storage_root);
	if ((mkdir(cfg->storage_root, 0750) == -1 && errno != EEXIST) ||
	    (mkdir(cfg->storage_work, 0750) == -1 && errno != EEXIST) ||
	    (path_fmt(path, sizeof(path), "%s/aips", cfg->storage_root),
	    mkdir(path, 0750) == -1 && errno != EEXIST) ||
	    (path_fmt(path, sizeof(path), "%s/aips/.tmp", cfg->storage_root),
	    mkdir(path, 0750) == -1 && errno != EEXIST)) {
		snprintf(err, errlen, "mkdir %.400s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Marks the try: validating, one more attempt.  0, or -1. */
static int
job_start(struct job *j)
{
	const char *params[1] = { j->id };

	j->attempts++;
	job_now(j->started_at, sizeof(j->started_at));
	return db_query(j->db, NULL, "UPDATE transfers SET status = "
	    "'validating', attempts = attempts + 1, updated_at = now() "
	    "WHERE id = $1", 1, params);
}

int
ingest_process_next(struct db *db, const struct config *cfg,
    bool (*stop)(void *), void *stop_arg)
{
	struct job j;
	char err[1024] = "";
	enum store_result sr = STORE_RETRY;
	struct stat st;
	int rc;

	memset(&j, 0, sizeof(j));
	j.db = db;
	j.cfg = cfg;
	j.stop = stop;
	j.stop_arg = stop_arg;
	findings_init(&j.f);
	package_init(&j.p);
	if ((rc = job_claim(&j)) != 1) {
		job_free(&j);
		return rc;
	}
	path_fmt(j.pkg, sizeof(j.pkg), "%s/%s.pkg", cfg->storage_spool, j.id);
	path_fmt(j.work, sizeof(j.work), "%s/%s", cfg->storage_work, j.id);
	path_fmt(j.meta, sizeof(j.meta), "%s/%s.meta", cfg->storage_work,
	    j.id);
	path_fmt(j.tmp, sizeof(j.tmp), "%s/aips/.tmp/%s", cfg->storage_root,
	    j.id);
	job_remove_work(&j);		/* an earlier try's */
	if (j.attempts >= cfg->ingest_max_attempts) {
		snprintf(err, sizeof(err), "gave up after %d tries; the last "
		    "stopped with: %s", j.attempts, j.last_failure[0] ?
		    j.last_failure : "(no reason recorded)");
		rc = job_fail(&j, err);
		goto out;
	}
	if (stat(j.pkg, &st) == -1) {
		snprintf(err, sizeof(err), "the package is no longer in the "
		    "spool (%s)", strerror(errno));
		rc = job_fail(&j, err);
		goto out;
	}
	if (job_mkdirs(cfg, err, sizeof(err)) == -1 || job_start(&j) == -1)
		goto retry;
	log_info("transfer %s: processing (try %d)", j.id, j.attempts);
	if (job_check(&j, err, sizeof(err)) == -1)
		goto retry;
	if (j.f.errors > 0) {
		rc = job_reject(&j) == -1 ? -1 : 1;
		goto out;
	}
	if (job_stopping(&j) || job_write(&j, err, sizeof(err)) == -1)
		goto retry;
	if (job_stopping(&j))
		goto retry;
	sr = job_catalogue(&j, err, sizeof(err));
	job_phase(&j, "catalogue");
	if (sr == STORE_DONE) {
		job_final(&j, "accepted");
		rc = 1;
		goto out;
	}
	if (sr == STORE_FAILED) {
		rc = job_fail(&j, err) == -1 ? -1 : 1;
		goto out;
	}
retry:
	/* Left as it is (validating): the next look takes it again, later
	 * each time (1, 2, 4 … minutes, at most an hour: a full disk or a
	 * database restart has time to pass), and after
	 * ingest.max_attempts tries it fails for good.  A try stopped by a
	 * shutdown does not count. */
	job_remove_work(&j);
	if (job_stopping(&j)) {
		(void)db_query(db, NULL, "UPDATE transfers SET attempts = "
		    "greatest(attempts - 1, 0) WHERE id = $1", 1,
		    (const char *[]){ j.id });
		rc = 0;
		goto out;
	}
	log_warn("transfer %s: try %d stopped: %s", j.id, j.attempts,
	    err[0] ? err : "(no reason)");
	if (sr == STORE_MOVED)	/* another transfer won a race: again now */
		(void)db_query(db, NULL, "UPDATE transfers SET attempts = "
		    "greatest(attempts - 1, 0) WHERE id = $1", 1,
		    (const char *[]){ j.id });
	else
		(void)db_query(db, NULL, "UPDATE transfers SET failure = $2, "
		    "next_try_at = now() + make_interval(secs => least(3600, "
		    "60 * power(2, greatest(attempts - 1, 0)))) WHERE id = $1",
		    2, (const char *[]){ j.id, err[0] ? err : "(no reason)" });
	rc = -1;
out:
	job_unlock(&j);
	job_free(&j);
	return rc;
}

/* Packages whose time has come: kept ones (ingest.keep_packages_days),
 * and those a daemon killed right after its commit did not remove (the
 * commit sets the time, now() when none are kept). */
void
ingest_purge_kept(struct db *db, const struct config *cfg)
{
	struct db_result *r = NULL;
	char path[PATH_MAX];
	const char *params[1];
	int i;

	if (db_query(db, &r, "SELECT id FROM transfers WHERE "
	    "package_kept_until < now() LIMIT 1000", 0, NULL) == -1)
		return;
	for (i = 0; i < db_rows(r); i++) {
		path_fmt(path, sizeof(path), "%s/%s.pkg", cfg->storage_spool,
		    db_value(r, i, 0));
		if (unlink(path) == -1 && errno != ENOENT)
			continue;
		params[0] = db_value(r, i, 0);
		(void)db_query(db, NULL, "UPDATE transfers SET "
		    "package_kept_until = NULL WHERE id = $1", 1, params);
	}
	db_result_free(r);
}
