/*
 * unpack.c — a package, entry by entry, into a work folder: libarchive
 * reads (zip, tar; none, gzip or zstd filters only), every name and type is
 * judged before a byte is written, files are hashed while they are written,
 * and the output is measured against the input so that a bomb stops early.
 * It owns the work folder's contents; what the files mean is formats/'s.
 *
 * Traps (DESIGN.md): names are read as UTF-8 (archive_entry_pathname_utf8),
 * any status but ARCHIVE_OK/ARCHIVE_EOF means a corrupt package (a bad tar
 * checksum is ARCHIVE_RETRY), `\` counts as a separator, and ratios are
 * measured on bytes actually produced, never on declared sizes.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistd.h>

#include "ingest.h"

#define UNPACK_WINDOW	(1024 * 1024)	/* ratio window, bytes of output */
#define UNPACK_BLOCK	(1024 * 1024)	/* bytes read from the package at once */
#define UNPACK_MAX_NAME	1024		/* bytes of a relative path */
#define UNPACK_MAX_SEGMENT 255		/* bytes of one part (NAME_MAX) */
/* Writing back to disk starts every this many bytes of a file (and at the
 * end of a file at least this big), not when syncfs() comes: the disk
 * works while unpacking goes on, and the sync after it has less to do. */
#define UNPACK_KICK	(8 * 1024 * 1024)

/* Names already seen, NFC and case-folded, for duplicates. */
struct unpack_names {
	char	**slots;
	size_t	  cap, n;
};

static uint64_t
unpack_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* Adds key; 1 when it was there already, 0 when added, -1 on ENOMEM. */
static int
unpack_names_add(struct unpack_names *t, const char *key)
{
	size_t i, j, cap;
	char **slots;

	if (t->n * 2 >= t->cap) {
		cap = t->cap ? t->cap * 2 : 1024;
		if ((slots = calloc(cap, sizeof(*slots))) == NULL)
			return -1;
		for (i = 0; i < t->cap; i++)
			if (t->slots[i]) {
				j = unpack_hash(t->slots[i]) % cap;
				while (slots[j])
					j = (j + 1) % cap;
				slots[j] = t->slots[i];
			}
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	for (i = unpack_hash(key) % t->cap; t->slots[i]; i = (i + 1) % t->cap)
		if (strcmp(t->slots[i], key) == 0)
			return 1;
	if ((t->slots[i] = strdup(key)) == NULL)
		return -1;
	t->n++;
	return 0;
}

static int
unpack_names_has(const struct unpack_names *t, const char *key)
{
	size_t i;

	if (t->cap == 0)
		return 0;
	for (i = unpack_hash(key) % t->cap; t->slots[i]; i = (i + 1) % t->cap)
		if (strcmp(t->slots[i], key) == 0)
			return 1;
	return 0;
}

static void
unpack_names_free(struct unpack_names *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		free(t->slots[i]);
	free(t->slots);
}

/* The name as duplicates are judged: NFC, then case-folded (NFC again). */
static char *
unpack_fold(const char *name)
{
	size_t n = 0;
	uint8_t *r;
	char *out;

	r = u8_casefold((const uint8_t *)name, strlen(name), NULL, UNINORM_NFC,
	    NULL, &n);
	if (r == NULL)
		return NULL;
	if ((out = malloc(n + 1)) != NULL) {
		memcpy(out, r, n);
		out[n] = '\0';
	}
	free(r);
	return out;
}

/* The table holds "F:" + folded file names, "D:" + folded folder names
 * and "E:" + folder names as written. */
static int
unpack_key(struct unpack_names *t, char kind, const char *name, int add)
{
	char *key;
	size_t n = strlen(name);
	int rc;

	if ((key = malloc(n + 3)) == NULL)
		return -1;
	key[0] = kind;
	key[1] = ':';
	memcpy(key + 2, name, n + 1);
	rc = add ? unpack_names_add(t, key) : unpack_names_has(t, key);
	free(key);
	return rc;
}

/*
 * Judges rel against every name before it, after Unicode NFC and case
 * folding: a file twice, a file where a folder is (or the other way round),
 * or a folder written in two cases are DUPLICATE_NAME.  Records rel.
 * Returns 0, 1 (a finding), -1 (out of memory).
 */
static int
unpack_check_name(struct unpack_names *t, const char *rel, int is_dir,
    struct findings *f)
{
	char *prefix, *folded = NULL, *slash;
	int rc = -1, last;

	if ((prefix = strdup(rel)) == NULL)
		return -1;
	for (slash = prefix;; slash++) {
		slash = strchr(slash, '/');
		last = slash == NULL;
		if (!last)
			*slash = '\0';
		free(folded);
		if ((folded = unpack_fold(prefix)) == NULL)
			goto out;
		if (last && !is_dir) {
			if (unpack_key(t, 'F', folded, 0) == 1 ||
			    unpack_key(t, 'D', folded, 0) == 1) {
				findings_add(f, SEVERITY_ERROR, "DUPLICATE_NAME",
				    rel, 0, "%s: another entry has the same "
				    "name (compared after Unicode normalisation "
				    "and case folding)", rel);
				rc = 1;
				goto out;
			}
			if (unpack_key(t, 'F', folded, 1) == -1)
				goto out;
			break;
		}
		if (unpack_key(t, 'F', folded, 0) == 1 ||
		    (unpack_key(t, 'D', folded, 0) == 1 &&
		    unpack_key(t, 'E', prefix, 0) == 0)) {
			findings_add(f, SEVERITY_ERROR, "DUPLICATE_NAME", rel, 0,
			    "%s: %s is also a file, or a folder written in "
			    "another case", rel, prefix);
			rc = 1;
			goto out;
		}
		if (unpack_key(t, 'D', folded, 1) == -1 ||
		    unpack_key(t, 'E', prefix, 1) == -1)
			goto out;
		if (last)
			break;
		*slash = '/';
	}
	rc = 0;
out:
	free(folded);
	free(prefix);
	return rc;
}

/*
 * Judges an entry's name; returns the cleaned relative path (malloc'd,
 * '/'-separated, no "./" prefix) or NULL after adding a finding.
 */
static char *
unpack_clean_path(const char *raw, struct findings *f)
{
	char *p, *q, *seg, *save = NULL, *out = NULL;
	size_t len;

	if (raw == NULL) {
		findings_add(f, SEVERITY_ERROR, "UNSAFE_PATH", NULL, 0,
		    "an entry's name is not valid UTF-8");
		return NULL;
	}
	if ((p = strdup(raw)) == NULL)
		return NULL;
	for (q = p; *q; q++)
		if (*q == '\\')
			*q = '/';	/* MS-DOS separators count too */
	if (p[0] == '/' || (strlen(p) >= 2 && p[1] == ':')) {
		findings_add(f, SEVERITY_ERROR, "UNSAFE_PATH", raw, 0,
		    "%s: an absolute path; entries must stay inside the package",
		    raw);
		goto out;
	}
	if ((out = calloc(1, strlen(p) + 1)) == NULL)
		goto out;
	for (seg = strtok_r(p, "/", &save); seg; seg = strtok_r(NULL, "/",
	    &save)) {
		if (strcmp(seg, ".") == 0)
			continue;
		if (strcmp(seg, "..") == 0) {
			findings_add(f, SEVERITY_ERROR, "UNSAFE_PATH", raw, 0,
			    "%s: '..' leads outside the package", raw);
			free(out);
			out = NULL;
			goto out;
		}
		if (strlen(seg) > UNPACK_MAX_SEGMENT) {
			/* No file system stores it: a finding, not a try
			 * that fails again and again. */
			findings_add(f, SEVERITY_ERROR, "UNSAFE_PATH", NULL, 0,
			    "an entry's name has a part of %zu bytes; at most "
			    "%d are taken", strlen(seg), UNPACK_MAX_SEGMENT);
			free(out);
			out = NULL;
			goto out;
		}
		for (q = seg; *q; q++)
			if ((unsigned char)*q < 0x20) {
				findings_add(f, SEVERITY_ERROR, "UNSAFE_PATH",
				    NULL, 0, "an entry's name holds a control "
				    "character");
				free(out);
				out = NULL;
				goto out;
			}
		if (out[0])
			strcat(out, "/");
		strcat(out, seg);
	}
	len = strlen(out);
	if (len == 0) {
		free(out);
		out = NULL;		/* "./": the root itself, nothing to do */
	} else if (len > UNPACK_MAX_NAME) {
		findings_add(f, SEVERITY_ERROR, "UNSAFE_PATH", NULL, 0,
		    "an entry's name is %zu bytes long; at most %d are taken",
		    len, UNPACK_MAX_NAME);
		free(out);
		out = NULL;
	}
out:
	free(p);
	return out;
}

/* Makes the folders of rel under root; a file in the way is a finding. */
static int
unpack_mkdirs(const char *root, const char *rel, int last_too,
    struct findings *f, char *err, size_t errlen)
{
	char path[4096], *slash;
	struct stat st;
	size_t rootlen = strlen(root);

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (slash = path + rootlen + 1; (slash = strchr(slash, '/')) != NULL;
	    slash++) {
		*slash = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "mkdir %s: %s", path,
			    strerror(errno));
			return -1;
		}
		if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
			findings_add(f, SEVERITY_ERROR, "DUPLICATE_NAME", rel,
			    0, "%s: %s is a file and a folder at once", rel,
			    path + rootlen + 1);
			return 1;
		}
		*slash = '/';
	}
	if (last_too && mkdir(path, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

struct unpack_state {
	struct archive		*a;
	const struct unpack_limits *lim;
	struct findings		*f;
	uint64_t		 produced;	/* bytes written */
	int64_t			 window_raw;	/* input at the window start */
	uint64_t		 window_out;	/* output at the window start */
	int			 stopped;	/* a limit or corruption */
};

/* The ratio of output to input over the current window of >= 1 MiB. */
static int
unpack_ratio_ok(struct unpack_state *s, const char *path)
{
	int64_t raw = archive_filter_bytes(s->a, -1);
	uint64_t out = s->produced - s->window_out;
	double ratio;

	if (out < UNPACK_WINDOW)
		return 1;
	ratio = (double)out / (double)(raw - s->window_raw > 0 ?
	    raw - s->window_raw : 1);
	if (ratio > s->lim->max_ratio) {
		findings_add(s->f, SEVERITY_ERROR, "ARCHIVE_BOMB", path, 0,
		    "%s: %.0f bytes out for each byte in (the limit is %.0f): "
		    "unpacking stopped", path, ratio, s->lim->max_ratio);
		s->stopped = 1;
		return 0;
	}
	s->window_raw = raw;
	s->window_out = s->produced;
	return 1;
}

/* Writes one file entry; 0, 1 (stopped with a finding), -1 (Sailo). */
static int
unpack_file(struct unpack_state *s, const char *root, const char *rel,
    struct unpacked_file *uf, char *err, size_t errlen)
{
	char path[4096];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = NULL;
	int fd = -1, rc = -1;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "create %s: %s", path, strerror(errno));
		goto out;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	uf->size = 0;
	/* Blocks straight from libarchive's buffer (no copy of ours); a
	 * gap before a block is a hole of a sparse entry: zeros, counted
	 * like any other bytes (a sparse bomb meets the same limits). */
	for (;;) {
		const void *block;
		size_t size, take;
		la_int64_t offset;
		int r;

		r = archive_read_data_block(s->a, &block, &size, &offset);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK || offset < 0 ||
		    (uint64_t)offset < uf->size) {
			findings_add(s->f, SEVERITY_ERROR, "ARCHIVE_CORRUPT",
			    rel, 0, "%s: the archive is corrupt or truncated "
			    "here (%s)", rel, archive_error_string(s->a) ?
			    archive_error_string(s->a) : "read error");
			s->stopped = 1;
			rc = 1;
			goto out;
		}
		while ((uint64_t)offset > uf->size || size > 0) {
			const void *data = block;

			if ((uint64_t)offset > uf->size) {
				static const char zeros[65536];

				take = (uint64_t)offset - uf->size <
				    sizeof(zeros) ? (size_t)((uint64_t)offset -
				    uf->size) : sizeof(zeros);
				data = zeros;
			} else {
				take = size;
				size = 0;
			}
			s->produced += take;
			uf->size += take;
			if (s->produced > s->lim->max_unpacked_bytes) {
				findings_add(s->f, SEVERITY_ERROR,
				    "UNPACK_LIMIT", rel, 0, "the package "
				    "unpacks to more than %llu bytes "
				    "(ingest.max_unpacked_bytes): unpacking "
				    "stopped", (unsigned long long)
				    s->lim->max_unpacked_bytes);
				s->stopped = 1;
				rc = 1;
				goto out;
			}
			if (!unpack_ratio_ok(s, rel)) {
				rc = 1;
				goto out;
			}
			EVP_DigestUpdate(ctx, data, take);
			if (write(fd, data, take) != (ssize_t)take) {
				snprintf(err, errlen, "write %s: %s", path,
				    strerror(errno));
				goto out;
			}
			if (uf->size / UNPACK_KICK != (uf->size - take) /
			    UNPACK_KICK)
				(void)sync_file_range(fd, (off_t)(uf->size /
				    UNPACK_KICK - 1) * UNPACK_KICK,
				    UNPACK_KICK, SYNC_FILE_RANGE_WRITE);
		}
	}
	if (uf->size >= UNPACK_KICK)
		(void)sync_file_range(fd, (off_t)(uf->size - uf->size %
		    UNPACK_KICK), 0, SYNC_FILE_RANGE_WRITE);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	digest_hex(md, mdlen, uf->sha256);
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	EVP_MD_CTX_free(ctx);
	return rc;
}

static int
unpack_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
unpack_remove(const char *work_dir)
{
	nftw(work_dir, unpack_rm, 16, FTW_DEPTH | FTW_PHYS);
}

void
unpack_result_free(struct unpack_result *r)
{
	size_t i;

	for (i = 0; i < r->nfiles; i++)
		free(r->files[i].path);
	free(r->files);
	memset(r, 0, sizeof(*r));
}

/* How the package is read: from a file, or through a reader. */
struct unpack_source {
	const char	*package;	/* a file, or NULL */
	unpack_reader	 read;
	void		*arg;
};

static la_ssize_t
unpack_source_read(struct archive *a, void *arg, const void **buf)
{
	const struct unpack_source *src = arg;
	ssize_t n = src->read(src->arg, buf);

	if (n < 0)
		archive_set_error(a, EIO, "the package could not be read");
	return n;
}

static int	unpack_run(struct unpack_result *out,
		    const struct unpack_source *src, const char *work_dir,
		    const struct unpack_limits *lim, struct findings *f,
		    char *err, size_t errlen);

int
unpack_package(struct unpack_result *out, const char *package,
    const char *work_dir, const struct unpack_limits *lim,
    struct findings *f, char *err, size_t errlen)
{
	struct unpack_source src = { .package = package };

	return unpack_run(out, &src, work_dir, lim, f, err, errlen);
}

int
unpack_stream(struct unpack_result *out, unpack_reader read, void *arg,
    const char *work_dir, const struct unpack_limits *lim,
    struct findings *f, char *err, size_t errlen)
{
	struct unpack_source src = { .read = read, .arg = arg };

	return unpack_run(out, &src, work_dir, lim, f, err, errlen);
}

static int
unpack_run(struct unpack_result *out, const struct unpack_source *src,
    const char *work_dir, const struct unpack_limits *lim,
    struct findings *f, char *err, size_t errlen)
{
	struct unpack_state s = { 0 };
	struct unpack_names names = { 0 };
	struct archive_entry *e;
	struct unpacked_file *uf;
	char *rel = NULL;
	const char *raw;
	int r, rc = -1, k;
	mode_t type;

	memset(out, 0, sizeof(*out));
	s.lim = lim;
	s.f = f;
	if (mkdir(work_dir, 0700) == -1) {
		snprintf(err, errlen, "mkdir %s: %s", work_dir,
		    strerror(errno));
		return -1;
	}
	if ((s.a = archive_read_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Only what Sailo takes: xar and friends would clean up libxml2. */
	archive_read_support_format_tar(s.a);
	archive_read_support_format_zip(s.a);
	archive_read_support_filter_none(s.a);
	archive_read_support_filter_gzip(s.a);
	archive_read_support_filter_zstd(s.a);
	if ((src->package ? archive_read_open_filename(s.a, src->package,
	    UNPACK_BLOCK) : archive_read_open(s.a, (void *)src, NULL,
	    unpack_source_read, NULL)) != ARCHIVE_OK) {
		findings_add(f, SEVERITY_ERROR, "ARCHIVE_FORMAT", NULL, 0,
		    "the package is not a zip, tar, tar.gz or tar.zst archive "
		    "(%s)", archive_error_string(s.a) ?
		    archive_error_string(s.a) : "unknown format");
		rc = 0;
		goto out;
	}
	while (!s.stopped) {
		r = archive_read_next_header(s.a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			findings_add(f, SEVERITY_ERROR, "ARCHIVE_CORRUPT", NULL,
			    0, "the archive is corrupt or truncated after %llu "
			    "entries (%s)", (unsigned long long)out->entries,
			    archive_error_string(s.a) ?
			    archive_error_string(s.a) : "bad header");
			break;
		}
		if (++out->entries > lim->max_entries) {
			findings_add(f, SEVERITY_ERROR, "UNPACK_LIMIT", NULL, 0,
			    "the package has more than %llu entries "
			    "(ingest.max_entries): unpacking stopped",
			    (unsigned long long)lim->max_entries);
			break;
		}
		raw = archive_entry_pathname_utf8(e);
		free(rel);
		if ((rel = unpack_clean_path(raw, f)) == NULL)
			continue;
		type = archive_entry_filetype(e);
		if (archive_entry_hardlink(e) || archive_entry_symlink(e) ||
		    type == AE_IFLNK) {
			findings_add(f, SEVERITY_ERROR, "UNSAFE_LINK", rel, 0,
			    "%s: a link; packages hold files and folders only",
			    rel);
			continue;
		}
		if (type != AE_IFREG && type != AE_IFDIR) {
			findings_add(f, SEVERITY_ERROR, "UNSAFE_TYPE", rel, 0,
			    "%s: a device, fifo or socket; packages hold files "
			    "and folders only", rel);
			continue;
		}
		if ((k = unpack_check_name(&names, rel, type == AE_IFDIR,
		    f)) == -1) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		if (k == 1)
			continue;
		if (type == AE_IFDIR) {
			if (unpack_mkdirs(work_dir, rel, 1, f, err, errlen) ==
			    -1)
				goto out;
			continue;
		}
		if ((k = unpack_mkdirs(work_dir, rel, 0, f, err, errlen)) ==
		    -1)
			goto out;
		if (k == 1)
			continue;
		if (out->nfiles == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 64;
			struct unpacked_file *nf = realloc(out->files,
			    cap * sizeof(*nf));
			if (nf == NULL) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			out->files = nf;
			out->cap = cap;
		}
		uf = &out->files[out->nfiles];
		memset(uf, 0, sizeof(*uf));
		if ((k = unpack_file(&s, work_dir, rel, uf, err, errlen)) ==
		    -1) {
			/* a name the file system refused is the package's */
			if (errno == EEXIST || errno == ENAMETOOLONG ||
			    errno == EISDIR) {
				findings_add(f, SEVERITY_ERROR,
				    "DUPLICATE_NAME", rel, 0, "%s: cannot be "
				    "unpacked (%s)", rel, err);
				continue;
			}
			goto out;
		}
		if (k == 1)
			break;
		uf->path = rel;
		rel = NULL;
		out->nfiles++;
		out->bytes += uf->size;
	}
	rc = 0;
out:
	free(rel);
	unpack_names_free(&names);
	archive_read_free(s.a);
	return rc;
}
