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
 * under a temporary name and made durable together (one syncfs); then
 * catalogue.c claims their versions, renames them into place and commits.
 * A failed try waits longer each time (next_try_at) and after
 * ingest.max_attempts the transfer is failed with the last try's reason.
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
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "early.h"
#include "ingest.h"
#include "log.h"
#include "package.h"
#include "process.h"
#include "search.h"

/* pg_advisory_lock(PROCESS_LOCK_CLASS, hashtext(transfer id)). */
#define PROCESS_LOCK_CLASS	"1397310540"
#define PROCESS_BATCH_ROWS	1000	/* rows per catalogue INSERT */
#define JOB_WRITE_THREAD_MIN	64	/* case files before a 2nd writer */
#define JOB_IDENTIFY_THREAD_MIN	256	/* files before libmagic on 2 threads */

static unsigned char	process_person_key[32];
static bool		process_has_key;

/* A path into buf; on truncation buf is "" (every later open or unlink
 * then fails, rather than touching another file). */
void
process_path(char *buf, size_t len, const char *fmt, ...)
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
	if (sahke2_init(err, errlen) == -1 || early_init(cfg, err, errlen) == -1 ||
	    search_available(err, errlen) == -1)
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
		digest_hex(key, sizeof(key), hex);
		hex[64] = '\n';
		process_path(tmp, sizeof(tmp), "%s.%ld.tmp",
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
		process_path(dir, sizeof(dir), "%s", cfg->storage_person_key_file);
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
	digest_hex(md, len, hex);
	return 0;
}

/* ---- one transfer ---------------------------------------------------- */

const char *
process_rel(const struct job *j, const char *path)
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
void
process_phase(struct job *j, const char *name)
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
int
process_insert_findings(struct job *j)
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

int
process_audit(struct job *j, const char *action, enum audit_outcome outcome,
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
		rc = process_insert_findings(j);
	if (rc == 0)
		rc = db_query(j->db, NULL, sql, nparams, params);
	if (rc == 0)
		rc = process_audit(j, action, outcome, "transfer", j->id, details);
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
	    "package_kept_until = now() WHERE id = $1", 2, params,
	    "transfer.fail", AUDIT_FAILURE,
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
	process_path(j->root, sizeof(j->root), "%s", j->work);
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
	process_path(j->root, sizeof(j->root), "%s/%.*s", j->work, (int)len - 1,
	    first);
}

static int
job_index_files(struct job *j)
{
	size_t i;

	if (strmap_init(&j->by_path, j->u.nfiles, false) == -1 ||
	    (j->mime = calloc(j->u.nfiles + 1, sizeof(*j->mime))) == NULL)
		return -1;
	for (i = 0; i < j->u.nfiles; i++)
		strmap_put(&j->by_path, process_rel(j, j->u.files[i].path), i);
	return 0;
}

const struct unpacked_file *
process_file(const struct job *j, const char *rel, size_t *index)
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

/* True when the metadata file could not be read at all (refused or
 * broken): there is no model to check files against. */
static bool
job_metadata_unread(const struct job *j)
{
	return findings_has(&j->f, "XML_DOCTYPE") ||
	    findings_has(&j->f, "XML_MALFORMED") ||
	    findings_has(&j->f, "METADATA_TOO_LARGE") ||
	    findings_has(&j->f, "CSV_HEADER");
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
		const char *rel = process_rel(j, j->u.files[i].path);

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
	/* The declared digests are checked: the AIP's manifests are made
	 * from the bytes. */
	package_drop_digests(&j->p);
	return rc;
}

static int
job_read_sahke2(struct job *j, const char *rel, char *err, size_t errlen)
{
	char path[PATH_MAX];

	process_path(path, sizeof(path), "%s/%s", j->root, rel);
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
		known[i].path = process_rel(j, j->u.files[i].path);
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
	process_path(path, sizeof(path), "%s/data/metadata/sahke2.xml", j->root);
	if (stat(path, &st) == 0) {
		if (job_read_sahke2(j, "data/metadata/sahke2.xml", err,
		    errlen) == -1)
			return -1;
	} else {
		process_path(path, sizeof(path), "%s/data/metadata/metadata.csv",
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
	j->p.format = PKG_BAGIT;	/* sahke2_read() made it SÄHKE2 */
	if (job_metadata_unread(j))
		return 0;	/* no model to check the payload against */
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
		rel = process_rel(j, j->u.files[i].path);
		if (strchr(rel, '/') != NULL || !job_is_xml_name(rel))
			continue;
		nxml++;
		only_xml = rel;
		process_path(path, sizeof(path), "%s/%s", j->root, rel);
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
		if (!job_metadata_unread(j))
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
	if (job_metadata_unread(j))
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

	if (strmap_init(&seen, j->p.ncasefiles, false) == -1)
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

/* The type libmagic finds in unpacked file index, without parameters
 * (NULL: out of memory). */
static char *
job_magic(const struct job *j, magic_t mg, size_t index)
{
	char path[PATH_MAX], base[128];
	const char *mime;

	process_path(path, sizeof(path), "%s/%s", j->root,
	    process_rel(j, j->u.files[index].path));
	if ((mime = magic_file(mg, path)) == NULL)
		mime = "application/octet-stream";
	job_mime_base(mime, base, sizeof(base));
	return strdup(base);
}

static int
job_identify_one(struct job *j, magic_t mg, char **found, size_t index,
    const char *declared)
{
	enum severity sev = strcmp(j->cfg->ingest_format_policy, "reject") ==
	    0 ? SEVERITY_ERROR : SEVERITY_WARNING;
	const char *rel = process_rel(j, j->u.files[index].path);
	char want[128];
	const char *base;

	if (j->mime[index] == NULL) {
		if (found && found[index]) {
			j->mime[index] = found[index];	/* taken over */
			found[index] = NULL;
		} else if ((j->mime[index] = job_magic(j, mg, index)) == NULL)
			return -1;
		base = j->mime[index];
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

/*
 * The files to identify, and what is found in each.  pass 0 marks the
 * files in want (libmagic is asked later, on two threads); pass 1 compares
 * each with what was declared, taking found's answer when there is one.
 */
struct identify {
	magic_t		 mg;
	int		 pass;
	unsigned char	*want;		/* [j->u.nfiles] */
	char		**found;	/* [j->u.nfiles] */
};

static int
job_identify_file(struct job *j, struct identify *id, size_t index,
    const char *declared)
{
	if (id->pass == 0) {
		id->want[index] = 1;
		return 0;
	}
	return job_identify_one(j, id->mg, id->found, index, declared);
}

static int
job_identify_records(struct job *j, struct identify *id,
    struct pkg_record *r, size_t n)
{
	size_t i, k, index;

	for (i = 0; i < n; i++)
		for (k = 0; k < r[i].ndocs; k++)
			if (r[i].docs[k].path && process_file(j, r[i].docs[k].path,
			    &index) && job_identify_file(j, id, index,
			    r[i].docs[k].format_name) == -1)
				return -1;
	return 0;
}

/* One pass over every content file, in the package's order. */
static int
job_identify_pass(struct job *j, struct identify *id)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < j->p.ncasefiles && rc == 0; i++)
		rc = job_identify_records(j, id, j->p.casefiles[i].records,
		    j->p.casefiles[i].nrecords);
	if (rc == 0)
		rc = job_identify_records(j, id, j->p.records, j->p.nrecords);
	/* A bag's payload outside any record is content too. */
	for (i = 0; rc == 0 && j->p.format == PKG_BAGIT && i < j->u.nfiles;
	    i++) {
		const char *rel = process_rel(j, j->u.files[i].path);

		if (strncmp(rel, "data/", 5) == 0 &&
		    strncmp(rel, "data/metadata/", 14) != 0)
			rc = job_identify_file(j, id, i, NULL);
	}
	return rc;
}

/*
 * How much of a file libmagic reads: 1 MiB, as file(1) did until 5.40
 * (since then 7 MiB).  It reads that much into a buffer of its own at
 * every call, so with two threads a large file cost 14 MiB of memory
 * and 7 MiB read twice, for types that show in their first bytes.
 */
#define JOB_MAGIC_BYTES	((size_t)1 << 20)

static magic_t
job_magic_open(char *err, size_t errlen)
{
	magic_t mg;
	size_t bytes = JOB_MAGIC_BYTES;

	if ((mg = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS |
	    MAGIC_NO_CHECK_TAR)) == NULL || magic_load(mg, NULL) == -1 ||
	    magic_setparam(mg, MAGIC_PARAM_BYTES_MAX, &bytes) == -1) {
		/* magic_setparam() sets errno, not magic_error() */
		snprintf(err, errlen, "libmagic: %s", mg && magic_error(mg) ?
		    magic_error(mg) : strerror(errno ? errno : ENOMEM));
		if (mg)
			magic_close(mg);
		return NULL;
	}
	return mg;
}

/* libmagic on every other wanted file: first (0 or 1) picks which; mg is
 * the handle to use, or NULL for one of the thread's own. */
struct magic_share {
	struct job		*j;
	const struct identify	*id;
	magic_t			 mg;
	size_t			 first;
	int			 rc;
	char			 err[256];
};

static void *
job_magic_thread(void *arg)
{
	struct magic_share *m = arg;
	const struct job *j = m->j;
	size_t i, seen = 0;
	magic_t mg = m->mg;

	if (mg == NULL && (mg = job_magic_open(m->err, sizeof(m->err))) ==
	    NULL) {
		m->rc = -1;
		return NULL;
	}
	for (i = 0; i < j->u.nfiles && m->rc == 0; i++)
		if (m->id->want[i] && (seen++ & 1) == m->first &&
		    (m->id->found[i] = job_magic(j, mg, i)) == NULL) {
			snprintf(m->err, sizeof(m->err), "out of memory");
			m->rc = -1;
		}
	if (m->mg == NULL)
		magic_close(mg);
	return NULL;
}

/*
 * Every content file's type, compared with what was declared and with
 * the accepted formats.  libmagic reads the start of every file, mostly
 * the file system's and libmagic's work: with many files, two threads ask
 * it (each its own handle), then the comparison runs in the package's
 * order, so findings come in the same order either way.
 */
static int
job_identify(struct job *j, char *err, size_t errlen)
{
	struct identify id = { NULL, 1, NULL, NULL };
	struct magic_share m[2];
	pthread_t helper;
	size_t i;
	int rc = 0;

	if ((id.mg = job_magic_open(err, errlen)) == NULL)
		return -1;
	if (j->u.nfiles >= JOB_IDENTIFY_THREAD_MIN &&
	    (id.want = calloc(j->u.nfiles, 1)) != NULL &&
	    (id.found = calloc(j->u.nfiles, sizeof(*id.found))) != NULL) {
		id.pass = 0;
		(void)job_identify_pass(j, &id);
		id.pass = 1;
		/* The job's own thread uses the handle already loaded. */
		for (i = 0; i < 2; i++)
			m[i] = (struct magic_share){ j, &id, i == 0 ? id.mg :
			    NULL, i, 0, "" };
		/* Without a second thread pass 1 asks libmagic itself. */
		if (pthread_create(&helper, NULL, job_magic_thread, &m[1]) ==
		    0) {
			job_magic_thread(&m[0]);
			pthread_join(helper, NULL);
			for (i = 0; i < 2 && rc == 0; i++)
				if (m[i].rc == -1) {
					snprintf(err, errlen, "%s", m[i].err);
					rc = -1;
				}
		}
	}
	if (rc == 0 && (rc = job_identify_pass(j, &id)) == -1)
		snprintf(err, errlen, "out of memory");
	for (i = 0; id.found && i < j->u.nfiles; i++)
		free(id.found[i]);
	free(id.found);
	free(id.want);
	magic_close(id.mg);
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
	free(u->tmp);
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

void
process_content_path(const struct job *j, const char *rel, char *out,
    size_t len)
{
	if (j->p.format == PKG_BAGIT && strncmp(rel, "data/", 5) == 0)
		rel += 5;
	process_path(out, len, "data/content/%s", rel);
}

/* A file of the package as content of u, once per bag. */
static int
unit_add_content(struct job *j, struct unit *u, struct strmap *seen,
    const char *rel)
{
	const struct unpacked_file *uf = process_file(j, rel, NULL);
	char src[PATH_MAX], dst[PATH_MAX];

	if (uf == NULL)
		return 0;	/* reported as FILE_MISSING already */
	process_content_path(j, rel, dst, sizeof(dst));
	if (strmap_put(seen, uf->path, 0) != 1)
		return 0;	/* a file two documents name: once */
	process_path(src, sizeof(src), "%s/%s", j->work, uf->path);
	return unit_add(u, src, dst, uf->size, uf->sha256);
}

/* After a case file's bag is written, its content files' entries go: the
 * catalogue makes their rows from the case file's Documents (every
 * content file of a SÄHKE2 package is some Document's), and a migration
 * of 100,000 records held 375 bytes a record in them.  Sailo's own files
 * (metadata, PREMIS) stay, for the catalogue's other rows. */
static void
unit_drop_content(const struct job *j, struct unit *u)
{
	size_t i, kept = 0, wl = strlen(j->work);

	for (i = 0; i < u->nfiles; i++) {
		if (strncmp(u->files[i].src, j->work, wl) == 0 &&
		    u->files[i].src[wl] == '/') {
			free(u->files[i].src);
			free(u->files[i].dst);
			continue;
		}
		u->files[kept++] = u->files[i];
	}
	u->nfiles = kept;
}

/* A file Sailo wrote (metadata extract, PREMIS): digest read back. */
static int
unit_add_written(struct unit *u, const char *src, const char *dst,
    char *err, size_t errlen)
{
	char sha[65];
	uint64_t size;

	if (digest_file(src, EVP_sha256(), sha, &size, err, errlen) == -1)
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
		if (strmap_init(&seen, 64, false) == -1)
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
					    p) == -1)
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
				const char *rel = process_rel(j,
				    j->u.files[k].path);
				char src[PATH_MAX], dst[PATH_MAX];

				if (strncmp(rel, "data/metadata/", 14) == 0) {
					/* The bag's own metadata, apart
					 * from what Sailo writes there. */
					process_path(src, sizeof(src), "%s/%s",
					    j->work, j->u.files[k].path);
					process_path(dst, sizeof(dst),
					    "data/metadata/submitted/%s",
					    rel + 14);
					if (unit_add(u, src, dst,
					    j->u.files[k].size,
					    j->u.files[k].sha256) == -1)
						goto fail;
				} else if (strncmp(rel, "data/", 5) == 0 &&
				    unit_add_content(j, u, &seen, rel) == -1)
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
	digest_hex(md, 16, hex);
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
	if (strmap_init(&prev, (size_t)rows, false) == -1 ||
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
		process_path(path, sizeof(path), "%s/aips/%s/v%d/%s",
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
		process_path(src, sizeof(src), "%s/%s", j->meta,
		    u->cf->metadata_extract);
		if (unit_add_written(u, src, "data/metadata/sahke2.xml", err,
		    errlen) == -1)
			return -1;
	}
	if (j->p.format == PKG_BAGIT) {
		process_path(src, sizeof(src), "%s/bag-info.txt", j->root);
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
	process_path(premis, sizeof(premis), "%s/premis-%zu.xml", j->meta, n);
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
	/* Not a PATH_MAX array in each unit: 10,000 case files made that
	 * 40 MiB of the job. */
	if (asprintf(&u->tmp, "%s/%zu", j->tmp, n) == -1) {
		u->tmp = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	spec = (struct aip_spec){ u->tmp, u->files, u->nfiles,
	    (const char *const *)info, j->cfg->storage_sha512 };
	rc = aip_write(&spec, u->tagmanifest, err, errlen);
	u->nstored = u->nfiles;
	if (rc == 0 && u->cf)
		unit_drop_content(j, u);
out:
	for (k = 0; k < 8; k++)
		free(info[k]);
	return rc;
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

	process_phase(j, "start");
	if (early_take(j->id, j->work, &j->u, &j->f) == 1)
		process_phase(j, "unpack (early)");
	else {
		if (unpack_package(&j->u, j->pkg, j->work, &lim, &j->f, err,
		    errlen) == -1)
			return -1;
		process_phase(j, "unpack");
	}
	if (j->f.errors > 0)
		return 0;	/* not unpacked whole: nothing to read */
	job_find_root(j);
	if (job_index_files(j) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (job_stopping(j))
		return -1;
	process_path(path, sizeof(path), "%s/bagit.txt", j->root);
	if (stat(path, &st) == 0) {
		if (job_validate_bagit(j, err, errlen) == -1)
			return -1;
	} else if (job_validate_sahke2(j, err, errlen) == -1)
		return -1;
	if (j->format == NULL)
		return 0;
	job_check_duplicates(j);
	process_phase(j, "validate");
	if (job_stopping(j) || job_identify(j, err, errlen) == -1)
		return -1;
	process_phase(j, "identify");
	return 0;
}

/* The bags a second thread writes while job_write() writes the others. */
struct write_share {
	struct job	*j;
	atomic_bool	 abandon;	/* the job's own thread failed */
	int		 rc;
	char		 err[512];
};

/* Units linking a previous version ask the database: the job's own thread
 * writes those, and every even one. */
static bool
job_write_shared(const struct job *j, size_t i)
{
	return (i & 1) == 1 && j->units[i].previous == 0;
}

static void *
job_write_thread(void *arg)
{
	struct write_share *w = arg;
	struct job *j = w->j;
	size_t i;

	for (i = 1; i < j->nunits && w->rc == 0 && !atomic_load(&w->abandon);
	    i += 2) {
		if (!job_write_shared(j, i))
			continue;
		if (job_write_unit(j, &j->units[i], i, w->err,
		    sizeof(w->err)) == -1)
			w->rc = -1;
		else if ((i & 127) == 127 && job_stopping(j)) {
			snprintf(w->err, sizeof(w->err), "stopping");
			w->rc = -1;
		}
	}
	return NULL;
}

/*
 * Writes every bag under the temporary folder and makes them durable.
 * Writing a bag is mostly the file system's work (creating folders and
 * files), which ext4 does for different folders at once: with many case
 * files a second thread takes every other one.
 */
static int
job_write(struct job *j, char *err, size_t errlen)
{
	struct write_share w = { .j = j, .abandon = false, .rc = 0 };
	pthread_t helper;
	bool helped = false;
	int rc = 0;
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
	if (j->nunits >= JOB_WRITE_THREAD_MIN)
		helped = pthread_create(&helper, NULL, job_write_thread, &w) ==
		    0;
	for (i = 0; i < j->nunits && rc == 0; i++) {
		if (helped && job_write_shared(j, i))
			continue;
		if (job_write_unit(j, &j->units[i], i, err, errlen) == -1)
			rc = -1;
		else if ((i & 63) == 63 && job_stopping(j)) {
			snprintf(err, errlen, "stopping");
			rc = -1;
		}
	}
	if (helped) {
		if (rc == -1)	/* the helper stops at its next bag */
			atomic_store(&w.abandon, true);
		pthread_join(helper, NULL);
		if (rc == 0 && w.rc == -1) {
			snprintf(err, errlen, "%s", w.err);
			rc = -1;
		}
	}
	if (rc == -1)
		return -1;
	process_phase(j, "write");
	if (aip_sync(j->cfg->storage_root, err, errlen) == -1)
		return -1;
	process_phase(j, "sync");
	return 0;
}

static int
job_mkdirs(const struct config *cfg, char *err, size_t errlen)
{
	char path[PATH_MAX];

	process_path(path, sizeof(path), "%s/aips/.tmp", cfg->storage_root);
	if ((mkdir(cfg->storage_root, 0750) == -1 && errno != EEXIST) ||
	    (mkdir(cfg->storage_work, 0750) == -1 && errno != EEXIST) ||
	    (process_path(path, sizeof(path), "%s/aips", cfg->storage_root),
	    mkdir(path, 0750) == -1 && errno != EEXIST) ||
	    (process_path(path, sizeof(path), "%s/aips/.tmp", cfg->storage_root),
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
	process_path(j.pkg, sizeof(j.pkg), "%s/%s.pkg", cfg->storage_spool, j.id);
	process_path(j.work, sizeof(j.work), "%s/%s", cfg->storage_work, j.id);
	process_path(j.meta, sizeof(j.meta), "%s/%s.meta", cfg->storage_work,
	    j.id);
	process_path(j.tmp, sizeof(j.tmp), "%s/aips/.tmp/%s", cfg->storage_root,
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
	sr = catalogue_store(&j, err, sizeof(err));
	process_phase(&j, "catalogue");
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
ingest_shutdown(void)
{
	early_shutdown();
}

void
ingest_purge_kept(struct db *db, const struct config *cfg)
{
	struct db_result *r = NULL;
	char path[PATH_MAX];
	const char *params[1];
	int i;

	early_reap();		/* early unpacks no job of ours took */
	if (db_query(db, &r, "SELECT id FROM transfers WHERE "
	    "package_kept_until < now() LIMIT 1000", 0, NULL) == -1)
		return;
	for (i = 0; i < db_rows(r); i++) {
		process_path(path, sizeof(path), "%s/%s.pkg", cfg->storage_spool,
		    db_value(r, i, 0));
		if (unlink(path) == -1 && errno != ENOENT)
			continue;
		params[0] = db_value(r, i, 0);
		(void)db_query(db, NULL, "UPDATE transfers SET "
		    "package_kept_until = NULL WHERE id = $1", 1, params);
	}
	db_result_free(r);
}
