/*
 * migrate.c — the schema's history.  Files sql/NNN_name.sql are applied in
 * the order of NNN as the owner role, each in one transaction together with
 * its row in schema_migrations (version, name, sha256).  An advisory lock
 * keeps two daemons from migrating at once.
 */
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "formats.h"
#include "migrate.h"

#define MIGRATE_MAX_FILES 1000

static int
migrate_is_name(const char *n)
{
	size_t len = strlen(n), i;

	if (len < 9 || strcmp(n + len - 4, ".sql") != 0 || n[3] != '_')
		return 0;
	for (i = 0; i < 3; i++)
		if (n[i] < '0' || n[i] > '9')
			return 0;
	for (i = 4; i < len - 4; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') ||
		    (n[i] >= '0' && n[i] <= '9') || n[i] == '_'))
			return 0;
	return 1;
}

static int
migrate_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole migration file (small by nature); malloc'd text. */
static char *
migrate_read(const char *path, char sha256[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	FILE *fp;
	char *text = NULL;
	long size;

	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == -1 || (size = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) == -1 ||
	    (text = malloc((size_t)size + 1)) == NULL ||
	    fread(text, 1, (size_t)size, fp) != (size_t)size) {
		free(text);
		fclose(fp);
		return NULL;
	}
	fclose(fp);
	text[size] = '\0';
	EVP_Digest(text, (size_t)size, md, &mdlen, EVP_sha256(), NULL);
	digest_hex(md, mdlen, sha256);
	return text;
}

int
migrate_run(const char *owner_conninfo, const char *dir, char *err,
    size_t errlen)
{
	struct db *db = db_new(owner_conninfo);
	struct db_result *r = NULL;
	struct dirent *de;
	DIR *d = NULL;
	char *files[MIGRATE_MAX_FILES], path[4096], sha[65], version[4];
	char *text = NULL;
	const char *params[3];
	int nfiles = 0, i, applied = 0, rc = -1;

	if (db == NULL || db_connect(db) == -1) {
		snprintf(err, errlen, "cannot connect as the owner "
		    "(database.owner_conninfo): %s", db ? db_error(db) : "");
		goto out;
	}
	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL && nfiles < MIGRATE_MAX_FILES)
		if (migrate_is_name(de->d_name))
			files[nfiles++] = strdup(de->d_name);
	qsort(files, (size_t)nfiles, sizeof(files[0]), migrate_cmp);
	for (i = 1; i < nfiles; i++)
		if (strncmp(files[i], files[i - 1], 3) == 0) {
			snprintf(err, errlen, "%s/%s and %s/%s share the "
			    "number %.3s", dir, files[i - 1], dir, files[i],
			    files[i]);
			goto out;
		}

	if (db_query(db, NULL, "SELECT pg_advisory_lock(hashtext($1))", 1,
	    (const char *[]){ "sailo.migrate" }) == -1 ||
	    db_query(db, NULL, "CREATE TABLE IF NOT EXISTS schema_migrations "
	    "(version int PRIMARY KEY, name text NOT NULL, "
	    "sha256 text NOT NULL, applied_at timestamptz NOT NULL "
	    "DEFAULT now())", 0, NULL) == -1) {
		snprintf(err, errlen, "%s", db_error(db));
		goto out;
	}
	for (i = 0; i < nfiles; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		free(text);
		if ((text = migrate_read(path, sha)) == NULL) {
			snprintf(err, errlen, "%s: cannot read: %s", path,
			    strerror(errno));
			goto out;
		}
		snprintf(version, sizeof(version), "%.3s", files[i]);
		params[0] = version;
		db_result_free(r);
		if (db_query(db, &r, "SELECT name, sha256, " 
		    "to_char(applied_at, 'YYYY-MM-DD') FROM schema_migrations "
		    "WHERE version = $1::int", 1, params) == -1) {
			snprintf(err, errlen, "%s", db_error(db));
			goto out;
		}
		if (db_rows(r) == 1) {
			if (strcmp(db_value(r, 0, 1), sha) != 0 ||
			    strcmp(db_value(r, 0, 0), files[i]) != 0) {
				snprintf(err, errlen, "%s has changed since "
				    "it was applied on %s as %s (sha256 %s, "
				    "now %s): an applied migration is never "
				    "edited; add a new one", path,
				    db_value(r, 0, 2), db_value(r, 0, 0),
				    db_value(r, 0, 1), sha);
				goto out;
			}
			continue;
		}
		params[1] = files[i];
		params[2] = sha;
		if (db_begin(db) == -1 || db_exec_script(db, text) == -1 ||
		    db_query(db, NULL, "INSERT INTO schema_migrations "
		    "(version, name, sha256) VALUES ($1::int, $2, $3)", 3,
		    params) == -1 || db_commit(db) == -1) {
			snprintf(err, errlen, "%s: %s", path, db_error(db));
			db_rollback(db);
			goto out;
		}
		printf("applied %s\n", files[i]);
		applied++;
	}
	if (applied == 0)
		printf("database schema is up to date (%d migrations)\n",
		    nfiles);
	rc = 0;
out:
	for (i = 0; i < nfiles; i++)
		free(files[i]);
	free(text);
	db_result_free(r);
	if (d)
		closedir(d);
	db_free(db);
	return rc;
}
