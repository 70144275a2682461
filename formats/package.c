/*
 * package.c — the package model every format fills (package.h): growing
 * and freeing it, the normalisations every format shares (function codes,
 * hash algorithm names, Document paths), and the check of the unpacked
 * files against the model (missing, unlisted, digests).  It reads files
 * under the unpacked root only to hash them; it parses no metadata.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uninorm.h>

#include "package.h"


static void
package_common_free(struct pkg_common *c)
{
	size_t i;

	free(c->native_id);
	free(c->title);
	free(c->type);
	free(c->status);
	free(c->function_code);
	free(c->created);
	free(c->publicity);
	free(c->security_reason);
	free(c->personal_data);
	free(c->retention_reason);
	free(c->retention_end);
	free(c->trigger);
	for (i = 0; i < c->nssns; i++)
		free(c->ssns[i]);
	free(c->ssns);
}

static void
package_record_free(struct pkg_record *r)
{
	struct pkg_document *d;
	size_t i;

	package_common_free(&r->c);
	free(r->description);
	free(r->case_native_id);
	for (i = 0; i < r->ndocs; i++) {
		d = &r->docs[i];
		free(d->native_id);
		free(d->use_type);
		free(d->path);
		free(d->format_name);
		free(d->format_version);
		free(d->hash_algorithm);
		free(d->hash_value);
	}
	free(r->docs);
}

void
package_init(struct package *p)
{
	memset(p, 0, sizeof(*p));
}

/* Each Document's declared hash value, no longer needed once checked. */
static void
package_drop_record_digests(struct pkg_record *r, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++)
		for (k = 0; k < r[i].ndocs; k++) {
			free(r[i].docs[k].hash_value);
			r[i].docs[k].hash_value = NULL;
		}
}

void
package_drop_digests(struct package *p)
{
	size_t i;

	for (i = 0; i < p->ncasefiles; i++)
		package_drop_record_digests(p->casefiles[i].records,
		    p->casefiles[i].nrecords);
	package_drop_record_digests(p->records, p->nrecords);
}

void
package_free(struct package *p)
{
	struct pkg_casefile *cf;
	size_t i, j;

	if (p == NULL)
		return;
	free(p->schema);
	free(p->namespace_uri);
	free(p->metadata_path);
	free(p->transfer_native_id);
	free(p->transfer_title);
	free(p->organisation);
	for (i = 0; i < p->ncasefiles; i++) {
		cf = &p->casefiles[i];
		package_common_free(&cf->c);
		free(cf->finished);
		free(cf->last_action);
		for (j = 0; j < cf->nrecords; j++)
			package_record_free(&cf->records[j]);
		free(cf->records);
		free(cf->metadata_extract);
	}
	free(p->casefiles);
	for (i = 0; i < p->nrecords; i++)
		package_record_free(&p->records[i]);
	free(p->records);
	if (p->bag_info != NULL) {
		for (i = 0; p->bag_info[i] != NULL; i++)
			free(p->bag_info[i]);
		free(p->bag_info);
	}
	memset(p, 0, sizeof(*p));
}

/*
 * Makes room for one more element of size sz in *items (n used, *cap
 * allocated; room for `first` when empty) and returns it zeroed, or
 * NULL.  Pointers to earlier elements are invalid afterwards (realloc).
 * The first capacity is small on purpose: a record mostly has one
 * document, and 100,000 records are held at once.
 */
static void *
package_grow(void **items, size_t *n, size_t *cap, size_t sz, size_t first)
{
	void *v;
	size_t c;

	if (*n == *cap) {
		c = *cap ? *cap * 2 : first;
		if ((v = reallocarray(*items, c, sz)) == NULL)
			return NULL;
		*items = v;
		*cap = c;
	}
	v = (char *)*items + *n * sz;
	memset(v, 0, sz);
	(*n)++;
	return v;
}

struct pkg_casefile *
package_add_casefile(struct package *p)
{
	return package_grow((void **)&p->casefiles, &p->ncasefiles,
	    &p->capcasefiles, sizeof(struct pkg_casefile), 16);
}

struct pkg_record *
package_add_record(struct package *p, struct pkg_casefile *cf)
{
	if (cf != NULL)
		return package_grow((void **)&cf->records, &cf->nrecords,
		    &cf->caprecords, sizeof(struct pkg_record), 4);
	return package_grow((void **)&p->records, &p->nrecords,
	    &p->caprecords, sizeof(struct pkg_record), 16);
}

struct pkg_document *
package_add_document(struct pkg_record *r)
{
	return package_grow((void **)&r->docs, &r->ndocs, &r->capdocs,
	    sizeof(struct pkg_document), 1);
}

static int
package_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Digit groups and separators only; white space around the code (as XML
 * text often has) is dropped, and a run of separators ("10. 03") counts as
 * one.  A code that starts or ends with '.', '-' or '_' is refused: it is
 * more likely a truncated code than a written-out one.
 */
char *
package_function_code(const char *s)
{
	const char *end;
	char *out, *o;
	int in_sep = 0;

	if (s == NULL)
		return NULL;
	while (package_is_space(*s))
		s++;
	end = s + strlen(s);
	while (end > s && package_is_space(end[-1]))
		end--;
	if (s == end || *s < '0' || *s > '9' || end[-1] < '0' || end[-1] > '9')
		return NULL;
	if ((out = malloc(end - s + 1)) == NULL)
		return NULL;
	for (o = out; s < end; s++) {
		if (*s >= '0' && *s <= '9') {
			if (in_sep)
				*o++ = ' ';
			in_sep = 0;
			*o++ = *s;
		} else if (*s == '.' || *s == '-' || *s == '_' ||
		    package_is_space(*s))
			in_sep = 1;
		else {
			free(out);
			return NULL;
		}
	}
	*o = '\0';
	return out;
}

static const char *const package_algs[] = {
	"md5", "sha1", "sha224", "sha256", "sha384", "sha512", NULL,
};

/* Case, '-', '_' and spaces are ignored: "SHA-256", "sha_256", "Sha256". */
const char *
package_hash_algorithm(const char *s)
{
	char buf[16];
	size_t n = 0;
	int i;

	if (s == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		if (*s == '-' || *s == '_' || package_is_space(*s))
			continue;
		if (n + 1 >= sizeof(buf))
			return NULL;
		buf[n++] = (*s >= 'A' && *s <= 'Z') ? *s - 'A' + 'a' : *s;
	}
	buf[n] = '\0';
	for (i = 0; package_algs[i] != NULL; i++)
		if (strcmp(buf, package_algs[i]) == 0)
			return package_algs[i];
	return NULL;
}

/*
 * Joins Path and Name with '/', reads '\' as '/', and rebuilds the path
 * segment by segment: empty and "." segments are dropped, ".." takes the
 * previous segment back and is refused when there is none.  A Path or a
 * Name that starts with '/', '\' or a drive ("C:") is absolute and
 * refused (a Name under "./" too: it names a file, not a place on the
 * sender's disk); so is an empty Name (a Document names a file, not a
 * folder).
 */
char *
package_document_path(const char *path, const char *name)
{
	char *joined = NULL, *out = NULL, *seg, *next, *o;
	size_t len;

	if (name == NULL || name[0] == '/' || name[0] == '\\' ||
	    (((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z') &&
	    name[1] == ':'))
		return NULL;
	if (path == NULL)
		path = "";
	len = strlen(path) + 1 + strlen(name) + 1;
	if ((joined = malloc(len)) == NULL || (out = malloc(len)) == NULL)
		goto fail;
	snprintf(joined, len, "%s%s%s", path, *path ? "/" : "", name);
	for (seg = joined; *seg != '\0'; seg++)
		if (*seg == '\\')
			*seg = '/';
	/* The Name alone must name something. */
	for (seg = joined + (*path ? strlen(path) + 1 : 0); *seg == '/' ||
	    *seg == '.'; seg++)
		;
	if (*seg == '\0')
		goto fail;
	if (joined[0] == '/' || (((joined[0] | 0x20) >= 'a' &&
	    (joined[0] | 0x20) <= 'z') && joined[1] == ':'))
		goto fail;
	o = out;
	for (seg = joined; seg != NULL; seg = next) {
		if ((next = strchr(seg, '/')) != NULL)
			*next++ = '\0';
		if (*seg == '\0' || strcmp(seg, ".") == 0)
			continue;
		if (strcmp(seg, "..") == 0) {
			if (o == out)
				goto fail;
			while (o > out && o[-1] != '/')
				o--;
			if (o > out)
				o--;	/* the '/' before it */
			continue;
		}
		if (o > out)
			*o++ = '/';
		len = strlen(seg);
		memcpy(o, seg, len);
		o += len;
	}
	*o = '\0';
	if (o == out)
		goto fail;
	free(joined);
	return out;
fail:
	free(joined);
	free(out);
	return NULL;
}

/* The unpacked files, sorted for lookups; listed[] marks what the model
 * names.  nfc[] is built only if some Document's path did not match as
 * written (a package made on macOS writes names in NFD). */
struct package_index {
	const struct pkg_file	**byname;
	char			*listed;
	size_t			 n;
	struct package_nfc	*nfc;
	struct package_reads	*reads;		/* read ahead, or NULL */
};

/*
 * Digests of files read ahead of the checks, several at a time (files not
 * in sha256 are read again; sha256 comes from unpacking): a window of
 * PACKAGE_READS_WINDOW Documents' files is read by up to
 * PACKAGE_READS_THREADS threads, then the window is checked in order, so
 * that the findings come out as they would one by one.
 */
#define PACKAGE_READS_WINDOW	64
#define PACKAGE_READS_THREADS	4

struct package_read {
	const char	*rel;
	const EVP_MD	*md;
	int		 rc;
	char		 hex[2 * EVP_MAX_MD_SIZE + 1];
	char		 err[256];
};

struct package_reads {
	const char		*root;
	struct package_read	 items[PACKAGE_READS_WINDOW];
	size_t			 n, next, used;
	pthread_mutex_t		 lock;
};

struct package_nfc {
	char	*key;
	size_t	 at;		/* in byname */
};

static int
package_cmp_file(const void *a, const void *b)
{
	return strcmp((*(const struct pkg_file *const *)a)->path,
	    (*(const struct pkg_file *const *)b)->path);
}

static int
package_cmp_nfc(const void *a, const void *b)
{
	return strcmp(((const struct package_nfc *)a)->key,
	    ((const struct package_nfc *)b)->key);
}

/* NFC of s, malloc'd, or NULL (not UTF-8, no memory). */
static char *
package_nfc(const char *s)
{
	uint8_t *r, *z;
	size_t len = 0;

	r = u8_normalize(UNINORM_NFC, (const uint8_t *)s, strlen(s), NULL,
	    &len);
	if (r == NULL)
		return NULL;
	if ((z = realloc(r, len + 1)) == NULL) {
		free(r);
		return NULL;
	}
	z[len] = '\0';
	return (char *)z;
}

/* Index of path in ix->byname, or -1. */
static long
package_find(struct package_index *ix, const char *path)
{
	struct pkg_file kf = { .path = path };
	const struct pkg_file *key = &kf, **hit;
	struct package_nfc nk, *nh;
	size_t i;
	long at = -1;

	if (ix->n == 0)
		return -1;
	hit = bsearch(&key, ix->byname, ix->n, sizeof(*ix->byname),
	    package_cmp_file);
	if (hit != NULL)
		return hit - ix->byname;
	if (ix->nfc == NULL) {
		if ((ix->nfc = calloc(ix->n, sizeof(*ix->nfc))) == NULL)
			return -1;
		for (i = 0; i < ix->n; i++) {
			ix->nfc[i].key = package_nfc(ix->byname[i]->path);
			if (ix->nfc[i].key == NULL)
				ix->nfc[i].key = strdup(ix->byname[i]->path);
			ix->nfc[i].at = i;
			if (ix->nfc[i].key == NULL)
				return -1;
		}
		qsort(ix->nfc, ix->n, sizeof(*ix->nfc), package_cmp_nfc);
	}
	if ((nk.key = package_nfc(path)) == NULL)
		return -1;
	nh = bsearch(&nk, ix->nfc, ix->n, sizeof(*ix->nfc), package_cmp_nfc);
	if (nh != NULL)
		at = (long)nh->at;
	free(nk.key);
	return at;
}

static void
package_index_free(struct package_index *ix)
{
	size_t i;

	if (ix->nfc != NULL)
		for (i = 0; i < ix->n; i++)
			free(ix->nfc[i].key);
	free(ix->nfc);
	free(ix->byname);
	free(ix->listed);
}

static const EVP_MD *
package_md(const char *alg)
{
	if (strcmp(alg, "md5") == 0)
		return EVP_md5();
	if (strcmp(alg, "sha1") == 0)
		return EVP_sha1();
	if (strcmp(alg, "sha224") == 0)
		return EVP_sha224();
	if (strcmp(alg, "sha256") == 0)
		return EVP_sha256();
	if (strcmp(alg, "sha384") == 0)
		return EVP_sha384();
	if (strcmp(alg, "sha512") == 0)
		return EVP_sha512();
	return NULL;
}

/* Hex digest of root/rel in md, into hex.  0, or -1 with err set. */
static int
package_digest_file(const char *root, const char *rel, const EVP_MD *md,
    char hex[2 * EVP_MAX_MD_SIZE + 1], char *err, size_t errlen)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >=
	    sizeof(path)) {
		snprintf(err, errlen, "%.200s/%.200s: path too long", root,
		    rel);
		return -1;
	}
	return digest_file(path, md, hex, NULL, err, errlen);
}

static int
package_is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f')))
			return 0;
	return i == len;
}

/* One Document against the files: exists, hash declared right and equal
 * to the file's.  0, or -1 when a file could not be read. */
static int
package_check_document(const struct package *p, const char *root,
    struct package_index *ix, const struct pkg_document *d,
    struct findings *f, char *err, size_t errlen)
{
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	const char *meta = p->metadata_path ? p->metadata_path : "metadata";
	const char *id = d->native_id ? d->native_id : "(no NativeId)";
	const struct pkg_file *pf = NULL;
	const EVP_MD *md = NULL;
	const char *actual;
	long at;

	if (d->path == NULL) {
		findings_add(f, SEVERITY_ERROR, "UNSAFE_PATH", p->metadata_path,
		    d->line, "Document %s: its Path and Name do not name a "
		    "file inside the package (empty, absolute, or climbing out "
		    "with ..)", id);
	} else if ((at = package_find(ix, d->path)) < 0) {
		findings_add(f, SEVERITY_ERROR, "FILE_MISSING", d->path, 0,
		    "%s is listed by Document %s (%s line %ld) but not in the "
		    "package", d->path, id, meta, d->line);
	} else {
		ix->listed[at] = 1;
		pf = ix->byname[at];
	}

	if (d->hash_algorithm == NULL) {
		/* No algorithm and no value: the digests are checked
		 * elsewhere (a bag's manifests). */
		if (d->hash_value != NULL)
			findings_add(f, SEVERITY_ERROR, "HASH_ALGORITHM",
			    p->metadata_path, d->line, "Document %s: "
			    "HashAlgorithm is none of md5, sha1, sha224, "
			    "sha256, sha384, sha512", id);
		return 0;
	}
	if ((md = package_md(d->hash_algorithm)) == NULL) {
		findings_add(f, SEVERITY_ERROR, "HASH_ALGORITHM",
		    p->metadata_path, d->line, "Document %s: HashAlgorithm %s "
		    "is not supported", id, d->hash_algorithm);
		return 0;
	}
	if (d->hash_value == NULL ||
	    !package_is_hex(d->hash_value, 2 * (size_t)EVP_MD_get_size(md))) {
		findings_add(f, SEVERITY_ERROR, "HASH_VALUE", p->metadata_path,
		    d->line, "Document %s: HashValue is not %d hex digits of "
		    "%s", id, 2 * EVP_MD_get_size(md), d->hash_algorithm);
		return 0;
	}
	if (pf == NULL)
		return 0;
	if (strcmp(d->hash_algorithm, "sha256") == 0 && pf->sha256 != NULL)
		actual = pf->sha256;
	else if (ix->reads && ix->reads->used < ix->reads->n) {
		const struct package_read *rd =
		    &ix->reads->items[ix->reads->used++];

		if (rd->rc == -1) {
			snprintf(err, errlen, "%s", rd->err);
			return -1;
		}
		actual = rd->hex;
	} else {
		if (package_digest_file(root, pf->path, md, hex, err,
		    errlen) == -1)
			return -1;
		actual = hex;
	}
	if (strcasecmp(actual, d->hash_value) != 0)
		findings_add(f, SEVERITY_ERROR, "CHECKSUM_MISMATCH", pf->path,
		    0, "%s: Document %s (%s line %ld) declares %s %s but the "
		    "file has %s", pf->path, id, meta, d->line,
		    d->hash_algorithm, d->hash_value, actual);
	return 0;
}

/* The file Document d's digest is read from, and in which algorithm,
 * when package_check_document() will read one: the same conditions, no
 * findings. */
static const struct pkg_file *
package_doc_reads(struct package_index *ix, const struct pkg_document *d,
    const EVP_MD **md)
{
	const struct pkg_file *pf;
	long at;

	if (d->path == NULL || (at = package_find(ix, d->path)) < 0 ||
	    d->hash_algorithm == NULL ||
	    (*md = package_md(d->hash_algorithm)) == NULL ||
	    d->hash_value == NULL || !package_is_hex(d->hash_value,
	    2 * (size_t)EVP_MD_get_size(*md)))
		return NULL;
	pf = ix->byname[at];
	if (strcmp(d->hash_algorithm, "sha256") == 0 && pf->sha256 != NULL)
		return NULL;
	return pf;
}

static void *
package_read_worker(void *arg)
{
	struct package_reads *rs = arg;
	struct package_read *rd;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&rs->lock);
		i = rs->next < rs->n ? rs->next++ : rs->n;
		pthread_mutex_unlock(&rs->lock);
		if (i == rs->n)
			return NULL;
		rd = &rs->items[i];
		rd->rc = package_digest_file(rs->root, rd->rel, rd->md,
		    rd->hex, rd->err, sizeof(rd->err));
	}
}

/* Reads the files of docs[0..n) that need reading, in parallel. */
static void
package_read_ahead(struct package_index *ix, const struct pkg_document *const
    *docs, size_t n)
{
	struct package_reads *rs = ix->reads;
	pthread_t t[PACKAGE_READS_THREADS];
	const struct pkg_file *pf;
	const EVP_MD *md;
	size_t i, k, started = 0;

	rs->n = rs->next = rs->used = 0;
	for (i = 0; i < n; i++)
		if ((pf = package_doc_reads(ix, docs[i], &md)) != NULL) {
			rs->items[rs->n].rel = pf->path;
			rs->items[rs->n].md = md;
			rs->n++;
		}
	k = rs->n < PACKAGE_READS_THREADS ? rs->n : PACKAGE_READS_THREADS;
	/* One reader works on this thread; the others beside it. */
	for (i = 1; i < k; i++)
		if (pthread_create(&t[started], NULL, package_read_worker,
		    rs) == 0)
			started++;
	package_read_worker(rs);
	for (i = 0; i < started; i++)
		pthread_join(t[i], NULL);
}

/* Appends every Document of r to *docs. */
static int
package_list_docs(const struct pkg_record *r,
    const struct pkg_document ***docs, size_t *n, size_t *cap)
{
	const struct pkg_document **nd;
	size_t i;

	for (i = 0; i < r->ndocs; i++) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			if ((nd = realloc(*docs, *cap * sizeof(*nd))) == NULL)
				return -1;
			*docs = nd;
		}
		(*docs)[(*n)++] = &r->docs[i];
	}
	return 0;
}

/*
 * The files are sorted once (n log n for 250,000 files) and every Document
 * is a binary search; files other than sha256 are read here, sha256 comes
 * from the unpacking.
 */
int
package_check_files(const struct package *p, const char *root,
    const struct pkg_file *files, size_t nfiles, struct findings *f,
    char *err, size_t errlen)
{
	struct package_index ix = { 0 };
	struct package_reads reads = { .root = root };
	const struct pkg_document **docs = NULL;
	const struct pkg_casefile *cf;
	size_t i, j, ndocs = 0, cap = 0, w;
	int rc = -1;

	ix.n = nfiles;
	if (nfiles > 0 &&
	    ((ix.byname = calloc(nfiles, sizeof(*ix.byname))) == NULL ||
	    (ix.listed = calloc(nfiles, 1)) == NULL)) {
		snprintf(err, errlen, "out of memory for %zu files", nfiles);
		goto out;
	}
	for (i = 0; i < nfiles; i++)
		ix.byname[i] = &files[i];
	if (nfiles > 0)
		qsort(ix.byname, nfiles, sizeof(*ix.byname), package_cmp_file);

	/* Every Document in the order of the metadata, then window by
	 * window: their files read ahead together, then checked in turn. */
	for (i = 0; i < p->ncasefiles; i++) {
		cf = &p->casefiles[i];
		for (j = 0; j < cf->nrecords; j++)
			if (package_list_docs(&cf->records[j], &docs, &ndocs,
			    &cap) == -1)
				goto oom;
	}
	for (i = 0; i < p->nrecords; i++)
		if (package_list_docs(&p->records[i], &docs, &ndocs, &cap) ==
		    -1)
			goto oom;
	pthread_mutex_init(&reads.lock, NULL);
	ix.reads = &reads;
	for (i = 0; i < ndocs; i += w) {
		w = ndocs - i < PACKAGE_READS_WINDOW ? ndocs - i :
		    PACKAGE_READS_WINDOW;
		package_read_ahead(&ix, docs + i, w);
		for (j = i; j < i + w; j++)
			if (package_check_document(p, root, &ix, docs[j], f,
			    err, errlen) == -1) {
				pthread_mutex_destroy(&reads.lock);
				goto out;
			}
	}
	pthread_mutex_destroy(&reads.lock);

	for (i = 0; i < nfiles; i++) {
		if (ix.listed[i])
			continue;
		if (p->metadata_path != NULL &&
		    strcmp(ix.byname[i]->path, p->metadata_path) == 0)
			continue;
		findings_add(f, SEVERITY_ERROR, "FILE_UNLISTED",
		    ix.byname[i]->path, 0, "%s is in the package but no "
		    "Document names it", ix.byname[i]->path);
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory for %zu documents", ndocs);
out:
	free(docs);
	package_index_free(&ix);
	return rc;
}
