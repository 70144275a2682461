/*
 * aip.c — writing an AIP version as a BagIt 1.0 bag (RFC 8493) that any
 * BagIt tool can check without Sailo, and putting it in place.
 *
 * A bag is written under a temporary name without fsync; the caller makes
 * a whole batch durable with one syncfs() (aip_sync), renames each bag
 * into place (aip_place), and makes the renames durable with one more
 * syncfs before the catalogue commits.  Content bytes are
 * not copied when the file system allows: the bag's file is a hard link to
 * the unpacked file (or to the same file in the previous version).  The
 * caller claims the version in the catalogue before aip_place(), so a
 * folder found where the new version goes is a dead try's.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <libxml/xmlwriter.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ingest.h"

static void
aip_err(char *err, size_t errlen, const char *what, const char *path)
{
	snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
}

/* Makes every folder above path (a file's path) inside dir; last holds
 * the folder made for the previous file (files come folder by folder, so
 * most need no mkdir at all). */
static int
aip_mkdirs(const char *dir, const char *rel, char *last, size_t lastlen,
    char *err, size_t errlen)
{
	char path[PATH_MAX];
	const char *slash = strrchr(rel, '/');
	char *p;
	int n;

	if (slash == NULL)
		return 0;
	if ((size_t)(slash - rel) < lastlen && strncmp(last, rel,
	    (size_t)(slash - rel)) == 0 && last[slash - rel] == '\0')
		return 0;

	n = snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "path too long: %s", rel);
		return -1;
	}
	for (p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(path, 0750) == -1 && errno != EEXIST) {
			aip_err(err, errlen, "mkdir", path);
			return -1;
		}
		*p = '/';
	}
	if ((size_t)(slash - rel) < lastlen)
		snprintf(last, lastlen, "%.*s", (int)(slash - rel), rel);
	return 0;
}

/* Copies src to dst (a new file) in the kernel where it can. */
static int
aip_copy(const char *src, const char *dst, char *err, size_t errlen)
{
	int in, out, rc = -1;
	struct stat st;
	ssize_t n;
	off_t left;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) == -1) {
		aip_err(err, errlen, "open", src);
		return -1;
	}
	if (fstat(in, &st) == -1 || (out = open(dst, O_WRONLY | O_CREAT |
	    O_EXCL | O_CLOEXEC, 0640)) == -1) {
		aip_err(err, errlen, "create", dst);
		close(in);
		return -1;
	}
	for (left = st.st_size; left > 0; left -= n) {
		n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
		if (n <= 0) {
			if (n == -1)
				aip_err(err, errlen, "copy", dst);
			else
				snprintf(err, errlen, "copy %s: short", dst);
			goto out;
		}
	}
	rc = 0;
out:
	close(in);
	if (close(out) == -1 && rc == 0) {
		aip_err(err, errlen, "close", dst);
		rc = -1;
	}
	return rc;
}

/* RFC 8493 §2.1.3: CR, LF and % in a manifest path are percent-encoded. */
static void
aip_manifest_path(FILE *fp, const char *path)
{
	for (; *path; path++) {
		if (*path == '\r')
			fputs("%0D", fp);
		else if (*path == '\n')
			fputs("%0A", fp);
		else if (*path == '%')
			fputs("%25", fp);
		else
			fputc(*path, fp);
	}
}

/* Writes a tag file from text; 0, or -1. */
static int
aip_write_text(const char *dir, const char *name, const char *text,
    char *err, size_t errlen)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "wx")) == NULL) {
		aip_err(err, errlen, "create", path);
		return -1;
	}
	fputs(text, fp);
	if (fclose(fp) == EOF) {
		aip_err(err, errlen, "write", path);
		return -1;
	}
	return 0;
}

/* A manifest of the files, by their digests in alg ("sha256": from
 * files[i].sha256; others read from the bag). */
static int
aip_write_manifest(const struct aip_spec *s, const char *alg, char *err,
    size_t errlen)
{
	char path[PATH_MAX], hex[2 * EVP_MAX_MD_SIZE + 1];
	const char *digest;
	FILE *fp;
	size_t i;

	snprintf(path, sizeof(path), "%s/manifest-%s.txt", s->dir, alg);
	if ((fp = fopen(path, "wx")) == NULL) {
		aip_err(err, errlen, "create", path);
		return -1;
	}
	for (i = 0; i < s->nfiles; i++) {
		digest = s->files[i].sha256;
		if (strcmp(alg, "sha256") != 0) {
			char file[PATH_MAX];

			snprintf(file, sizeof(file), "%s/%s", s->dir,
			    s->files[i].dst);
			if (digest_file(file, EVP_get_digestbyname(alg), hex, NULL, err,
			    errlen) == -1) {
				fclose(fp);
				return -1;
			}
			digest = hex;
		}
		fprintf(fp, "%s  ", digest);
		aip_manifest_path(fp, s->files[i].dst);
		fputc('\n', fp);
	}
	if (fclose(fp) == EOF) {
		aip_err(err, errlen, "write", path);
		return -1;
	}
	return 0;
}

static int
aip_write_tagmanifest(const struct aip_spec *s, const char *alg,
    char *err, size_t errlen)
{
	static const char *const tags[] = { "bagit.txt", "bag-info.txt",
	    "manifest-sha256.txt", "manifest-sha512.txt" };
	char path[PATH_MAX], hex[2 * EVP_MAX_MD_SIZE + 1];
	FILE *fp;
	size_t i;

	snprintf(path, sizeof(path), "%s/tagmanifest-%s.txt", s->dir, alg);
	if ((fp = fopen(path, "wx")) == NULL) {
		aip_err(err, errlen, "create", path);
		return -1;
	}
	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		char tag[PATH_MAX];

		if (i == 3 && !s->sha512)
			continue;
		snprintf(tag, sizeof(tag), "%s/%s", s->dir, tags[i]);
		if (digest_file(tag, EVP_get_digestbyname(alg), hex, NULL, err, errlen) == -1) {
			fclose(fp);
			return -1;
		}
		fprintf(fp, "%s  %s\n", hex, tags[i]);
	}
	if (fclose(fp) == EOF) {
		aip_err(err, errlen, "write", path);
		return -1;
	}
	return 0;
}

/* A bag-info value on one line (RFC 8493 allows folding; we never need
 * it, so line breaks become spaces). */
static void
aip_info_line(FILE *fp, const char *line)
{
	for (; *line; line++)
		fputc(*line == '\n' || *line == '\r' ? ' ' : *line, fp);
	fputc('\n', fp);
}

int
aip_write(const struct aip_spec *s, char tagmanifest_sha256[65], char *err,
    size_t errlen)
{
	char path[PATH_MAX], *info = NULL, today[16], last[PATH_MAX] = "";
	uint64_t bytes = 0;
	size_t i, infolen = 0;
	struct tm tm;
	time_t now = time(NULL);
	FILE *fp;
	int rc = -1, r;

	if (mkdir(s->dir, 0750) == -1) {
		aip_err(err, errlen, "mkdir", s->dir);
		return -1;
	}
	for (i = 0; i < s->nfiles; i++) {
		const struct aip_file *af = &s->files[i];
		const char *from = af->link_from ? af->link_from : af->src;

		if (aip_mkdirs(s->dir, af->dst, last, sizeof(last), err,
		    errlen) == -1)
			return -1;
		snprintf(path, sizeof(path), "%s/%s", s->dir, af->dst);
		/* The previous version's file may be gone (destroyed by
		 * disposal, or lost): then the new bytes are linked. */
		r = link(from, path);
		if (r == -1 && errno == ENOENT && af->link_from) {
			from = af->src;
			r = link(from, path);
		}
		if (r == -1) {
			if (errno != EXDEV && errno != EPERM &&
			    errno != EMLINK) {
				aip_err(err, errlen, "link", path);
				return -1;
			}
			if (aip_copy(from, path, err, errlen) == -1)
				return -1;
		}
		bytes += af->size;
	}
	if (aip_write_text(s->dir, "bagit.txt", "BagIt-Version: 1.0\n"
	    "Tag-File-Character-Encoding: UTF-8\n", err, errlen) == -1)
		return -1;
	if ((fp = open_memstream(&info, &infolen)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; s->info && s->info[i]; i++)
		aip_info_line(fp, s->info[i]);
	gmtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	fprintf(fp, "Bagging-Date: %s\nPayload-Oxum: %llu.%zu\n", today,
	    (unsigned long long)bytes, s->nfiles);
	fclose(fp);
	if (aip_write_text(s->dir, "bag-info.txt", info, err, errlen) == -1)
		goto out;
	if (aip_write_manifest(s, "sha256", err, errlen) == -1 ||
	    (s->sha512 && aip_write_manifest(s, "sha512", err, errlen) == -1))
		goto out;
	if (aip_write_tagmanifest(s, "sha256", err, errlen) == -1 ||
	    (s->sha512 && aip_write_tagmanifest(s, "sha512", err,
	    errlen) == -1))
		goto out;
	snprintf(path, sizeof(path), "%s/tagmanifest-sha256.txt", s->dir);
	rc = digest_file(path, EVP_sha256(), tagmanifest_sha256, NULL, err,
	    errlen);
out:
	free(info);
	return rc;
}

int
aip_sync(const char *root, char *err, size_t errlen)
{
	int fd, rc = 0;

	if ((fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		aip_err(err, errlen, "open", root);
		return -1;
	}
	if (syncfs(fd) == -1) {
		aip_err(err, errlen, "syncfs", root);
		rc = -1;
	}
	close(fd);
	return rc;
}

int
aip_place(const char *tmp, const char *aip_dir, int version,
    bool *replaced, char *err, size_t errlen)
{
	char final[PATH_MAX];
	struct stat st;

	*replaced = false;
	if (mkdir(aip_dir, 0750) == -1 && errno != EEXIST) {
		aip_err(err, errlen, "mkdir", aip_dir);
		return -1;
	}
	snprintf(final, sizeof(final), "%s/v%d", aip_dir, version);
	if (lstat(final, &st) == 0) {
		/* Left by a try that died before its catalogue committed:
		 * the catalogue, not the disk, says what is stored. */
		unpack_remove(final);
		*replaced = true;
	}
	if (rename(tmp, final) == -1) {
		aip_err(err, errlen, "rename", final);
		return -1;
	}
	return 0;
}

/* ---- PREMIS ----------------------------------------------------------- */

#define PREMIS_NS "http://www.loc.gov/premis/v3"

static void
premis_uuid(char out[37])
{
	unsigned char b[16];

	RAND_bytes(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void
aip_uuid(char out[37])
{
	premis_uuid(out);
}

static void
premis_identifier(xmlTextWriterPtr w, const char *element,
    const char *prefix, const char *type, const char *value)
{
	char name[64];

	xmlTextWriterStartElementNS(w, BAD_CAST "premis", BAD_CAST element,
	    NULL);
	snprintf(name, sizeof(name), "%sType", prefix);
	xmlTextWriterWriteElementNS(w, BAD_CAST "premis", BAD_CAST name, NULL,
	    BAD_CAST type);
	snprintf(name, sizeof(name), "%sValue", prefix);
	xmlTextWriterWriteElementNS(w, BAD_CAST "premis", BAD_CAST name, NULL,
	    BAD_CAST value);
	xmlTextWriterEndElement(w);
}

int
aip_write_premis(const char *path, const char *aip_id,
    const struct premis_event *ev, size_t nev, const char *agent,
    char *err, size_t errlen)
{
	xmlTextWriterPtr w;
	char id[37];
	size_t i;
	int rc = -1;

	if ((w = xmlNewTextWriterFilename(path, 0)) == NULL) {
		snprintf(err, errlen, "cannot write %s", path);
		return -1;
	}
	xmlTextWriterSetIndent(w, 1);
	if (xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL) < 0)
		goto out;
	xmlTextWriterStartElementNS(w, BAD_CAST "premis", BAD_CAST "premis",
	    BAD_CAST PREMIS_NS);
	xmlTextWriterWriteAttribute(w, BAD_CAST "version", BAD_CAST "3.0");
	xmlTextWriterWriteAttributeNS(w, BAD_CAST "xmlns", BAD_CAST "xsi",
	    NULL, BAD_CAST "http://www.w3.org/2001/XMLSchema-instance");
	xmlTextWriterStartElementNS(w, BAD_CAST "premis", BAD_CAST "object",
	    NULL);
	xmlTextWriterWriteAttributeNS(w, BAD_CAST "xsi", BAD_CAST "type", NULL,
	    BAD_CAST "premis:intellectualEntity");
	premis_identifier(w, "objectIdentifier", "objectIdentifier", "UUID",
	    aip_id);
	xmlTextWriterEndElement(w);
	for (i = 0; i < nev; i++) {
		premis_uuid(id);
		xmlTextWriterStartElementNS(w, BAD_CAST "premis",
		    BAD_CAST "event", NULL);
		premis_identifier(w, "eventIdentifier", "eventIdentifier",
		    "UUID", id);
		xmlTextWriterWriteElementNS(w, BAD_CAST "premis",
		    BAD_CAST "eventType", NULL, BAD_CAST ev[i].type);
		xmlTextWriterWriteElementNS(w, BAD_CAST "premis",
		    BAD_CAST "eventDateTime", NULL, BAD_CAST ev[i].at);
		xmlTextWriterStartElementNS(w, BAD_CAST "premis",
		    BAD_CAST "eventDetailInformation", NULL);
		xmlTextWriterWriteElementNS(w, BAD_CAST "premis",
		    BAD_CAST "eventDetail", NULL, BAD_CAST ev[i].detail);
		xmlTextWriterEndElement(w);
		xmlTextWriterStartElementNS(w, BAD_CAST "premis",
		    BAD_CAST "eventOutcomeInformation", NULL);
		xmlTextWriterWriteElementNS(w, BAD_CAST "premis",
		    BAD_CAST "eventOutcome", NULL, BAD_CAST ev[i].outcome);
		xmlTextWriterEndElement(w);
		premis_identifier(w, "linkingAgentIdentifier",
		    "linkingAgentIdentifier", "Sailo principal",
		    ev[i].agent ? ev[i].agent : agent);
		premis_identifier(w, "linkingObjectIdentifier",
		    "linkingObjectIdentifier", "UUID", aip_id);
		xmlTextWriterEndElement(w);
	}
	xmlTextWriterStartElementNS(w, BAD_CAST "premis", BAD_CAST "agent",
	    NULL);
	premis_identifier(w, "agentIdentifier", "agentIdentifier",
	    "Sailo principal", "sailo");
	xmlTextWriterWriteElementNS(w, BAD_CAST "premis", BAD_CAST "agentName",
	    NULL, BAD_CAST "Sailo");
	xmlTextWriterWriteElementNS(w, BAD_CAST "premis", BAD_CAST "agentType",
	    NULL, BAD_CAST "software");
	xmlTextWriterEndElement(w);
	xmlTextWriterEndElement(w);
	if (xmlTextWriterEndDocument(w) >= 0)
		rc = 0;
out:
	xmlFreeTextWriter(w);
	if (rc == -1)
		snprintf(err, errlen, "cannot write %s", path);
	return rc;
}

/* ---- after disposal --------------------------------------------------- */

/* Renames dir/name.tmp over dir/name. */
static int
aip_replace(const char *dir, const char *name, char *err, size_t errlen)
{
	char from[PATH_MAX], to[PATH_MAX];

	snprintf(from, sizeof(from), "%s/%s.tmp", dir, name);
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	if (rename(from, to) == -1) {
		aip_err(err, errlen, "rename", to);
		return -1;
	}
	return 0;
}

/* Opens dir/name to read, and dir/name.tmp to write what replaces it.
 * 0; 1 when dir/name does not exist; -1. */
static int
aip_rewrite_open(const char *dir, const char *name, FILE **in, FILE **out,
    char *err, size_t errlen)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((*in = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 1;
		aip_err(err, errlen, "open", path);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s.tmp", dir, name);
	if ((*out = fopen(path, "w")) == NULL) {
		aip_err(err, errlen, "create", path);
		fclose(*in);
		return -1;
	}
	return 0;
}

/* Closes what aip_rewrite_open() opened: when rc is 0 and all was
 * written, dir/name.tmp replaces dir/name; otherwise it is removed.
 * Returns rc, or -1. */
static int
aip_rewrite_close(const char *dir, const char *name, FILE *in, FILE *out,
    int rc, char *err, size_t errlen)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s.tmp", dir, name);
	fclose(in);
	if (fclose(out) == EOF && rc == 0) {
		aip_err(err, errlen, "write", path);
		rc = -1;
	}
	if (rc == 0)
		return aip_replace(dir, name, err, errlen);
	(void)unlink(path);
	return rc;
}

/* A manifest line "digest  path" of n bytes: line cut after the digest,
 * and the path returned (as written: still escaped); NULL when it is no
 * such line. */
static char *
aip_manifest_line(char *line, ssize_t n)
{
	char *sp;

	if (line[n - 1] == '\n')
		line[--n] = '\0';
	if ((sp = strchr(line, ' ')) == NULL)
		return NULL;
	*sp++ = '\0';
	while (*sp == ' ')
		sp++;
	return sp;
}

/*
 * manifest-alg.txt again: dropped files unlinked and left out, metadata
 * digested again, the rest as it was.  With bytes and count (sha256), the
 * payload that stays.  0, 1 when the bag has no such manifest, -1.
 */
static int
aip_remanifest_one(const char *dir, const char *alg,
    bool (*drop)(const char *, void *), void (*changed)(const char *,
    const char *, uint64_t, void *), void *arg, uint64_t *bytes,
    size_t *count, char *err, size_t errlen)
{
	char file[PATH_MAX], hex[2 * EVP_MAX_MD_SIZE + 1];
	char name[64], *line = NULL, *rel;
	size_t cap = 0;
	ssize_t n;
	uint64_t size;
	struct stat st;
	FILE *in, *out;
	int rc = -1;

	snprintf(name, sizeof(name), "manifest-%s.txt", alg);
	if ((rc = aip_rewrite_open(dir, name, &in, &out, err, errlen)) != 0)
		return rc;
	rc = -1;
	while ((n = getline(&line, &cap, in)) > 0) {
		if ((rel = aip_manifest_line(line, n)) == NULL)
			continue;
		bagit_unescape(rel);
		snprintf(file, sizeof(file), "%s/%s", dir, rel);
		if (drop(rel, arg)) {
			if (unlink(file) == -1 && errno != ENOENT) {
				aip_err(err, errlen, "unlink", file);
				goto out;
			}
			continue;
		}
		if (strncmp(rel, "data/metadata/", 14) == 0) {
			if (digest_file(file, EVP_get_digestbyname(alg), hex,
			    &size, err, errlen) == -1)
				goto out;
			/* Every one, not only those that moved: a run
			 * before may have rewritten the manifest and died
			 * before its caller recorded the digest. */
			if (changed && strcmp(alg, "sha256") == 0)
				changed(rel, hex, size, arg);
			fprintf(out, "%s  ", hex);
		} else {
			fprintf(out, "%s  ", line);
			if (bytes) {		/* the size, as it is now */
				if (lstat(file, &st) == -1) {
					aip_err(err, errlen, "stat", file);
					goto out;
				}
				size = (uint64_t)st.st_size;
			}
		}
		aip_manifest_path(out, rel);
		fputc('\n', out);
		if (bytes) {
			*bytes += size;
			(*count)++;
		}
	}
	if (ferror(in)) {
		aip_err(err, errlen, "read", name);
		goto out;
	}
	rc = 0;
out:
	free(line);
	return aip_rewrite_close(dir, name, in, out, rc, err, errlen);
}

/* bag-info.txt with Payload-Oxum again. */
static int
aip_reinfo(const char *dir, uint64_t bytes, size_t count, char *err,
    size_t errlen)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *in, *out;
	int rc = 0;

	if ((rc = aip_rewrite_open(dir, "bag-info.txt", &in, &out, err,
	    errlen)) != 0) {
		if (rc == 1)
			snprintf(err, errlen, "%s/bag-info.txt: missing", dir);
		return -1;
	}
	while (getline(&line, &cap, in) > 0)
		if (strncmp(line, "Payload-Oxum:", 13) != 0)
			fputs(line, out);
	fprintf(out, "Payload-Oxum: %llu.%zu\n", (unsigned long long)bytes,
	    count);
	free(line);
	return aip_rewrite_close(dir, "bag-info.txt", in, out, 0, err,
	    errlen);
}

/* tagmanifest-alg.txt again, over the tag files it lists. */
static int
aip_retag(const char *dir, const char *alg, char *err, size_t errlen)
{
	char file[PATH_MAX], hex[2 * EVP_MAX_MD_SIZE + 1];
	char name[64], *line = NULL, *rel;
	size_t cap = 0;
	ssize_t n;
	FILE *in, *out;
	int rc = -1;

	snprintf(name, sizeof(name), "tagmanifest-%s.txt", alg);
	if ((rc = aip_rewrite_open(dir, name, &in, &out, err, errlen)) != 0)
		return rc == 1 ? 0 : -1;
	rc = -1;
	while ((n = getline(&line, &cap, in)) > 0) {
		if ((rel = aip_manifest_line(line, n)) == NULL)
			continue;
		snprintf(file, sizeof(file), "%s/%s", dir, rel);
		if (digest_file(file, EVP_get_digestbyname(alg), hex, NULL,
		    err, errlen) == -1)
			goto out;
		fprintf(out, "%s  %s\n", hex, rel);
	}
	rc = 0;
out:
	free(line);
	return aip_rewrite_close(dir, name, in, out, rc, err, errlen);
}

int
aip_remanifest(const char *dir, bool (*drop)(const char *, void *),
    void (*changed)(const char *, const char *, uint64_t, void *), void *arg,
    char tagmanifest_sha256[65], char *err, size_t errlen)
{
	char path[PATH_MAX];
	uint64_t bytes = 0;
	size_t count = 0;
	int rc;

	if (aip_remanifest_one(dir, "sha256", drop, changed, arg, &bytes,
	    &count, err, errlen) != 0)
		return -1;
	if ((rc = aip_remanifest_one(dir, "sha512", drop, NULL, arg, NULL,
	    NULL, err, errlen)) == -1)
		return -1;
	if (aip_reinfo(dir, bytes, count, err, errlen) == -1 ||
	    aip_retag(dir, "sha256", err, errlen) == -1 ||
	    aip_retag(dir, "sha512", err, errlen) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/tagmanifest-sha256.txt", dir);
	return digest_file(path, EVP_sha256(), tagmanifest_sha256, NULL, err,
	    errlen);
}
