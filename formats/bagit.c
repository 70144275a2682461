/*
 * bagit.c — checks a bag (RFC 8493, 0.97 and 1.0) in an unpacked folder:
 * the declaration, every payload manifest and tag manifest present, every
 * listed file against its digests, files not listed, fetch.txt (refused:
 * nothing is fetched), Payload-Oxum.  Every finding is collected.  It reads
 * the unpacked files; it knows nothing of where AIPs are stored.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats.h"

#define BAGIT_NALGS	4
#define BAGIT_MAX_LINE	8192

static const char *const bagit_algs[BAGIT_NALGS] = {
	"md5", "sha1", "sha256", "sha512",
};

struct bagit_file {
	char		*path;		/* relative to the root: "data/…" */
	uint64_t	 size;
	char		*expect[BAGIT_NALGS];	/* hex, from the manifests */
	int		 in_manifest[BAGIT_NALGS];
};

struct bagit {
	const char		*root;
	struct findings		*f;
	struct bagit_file	*files;		/* payload, sorted by path */
	size_t			 n, cap;
	int			 has_manifest[BAGIT_NALGS];
	int			 nmanifests;
	char			 err[512];
	int			 failed;
};

static int
bagit_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bagit_file *)a)->path,
	    ((const struct bagit_file *)b)->path);
}

static struct bagit_file *
bagit_find(struct bagit *b, const char *path)
{
	struct bagit_file key = { .path = (char *)path };

	return b->n ? bsearch(&key, b->files, b->n, sizeof(key), bagit_cmp) :
	    NULL;
}

/* nftw has no user argument: the walk's bag is kept here (one at a time
 * per thread). */
static __thread struct bagit *bagit_walking;

static int
bagit_walk(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	struct bagit *b = bagit_walking;
	struct bagit_file *bf;
	size_t rootlen = strlen(b->root);

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		if ((bf = realloc(b->files, cap * sizeof(*bf))) == NULL)
			return -1;
		b->files = bf;
		b->cap = cap;
	}
	bf = &b->files[b->n];
	memset(bf, 0, sizeof(*bf));
	if ((bf->path = strdup(path + rootlen + 1)) == NULL)
		return -1;
	bf->size = (uint64_t)st->st_size;
	b->n++;
	return 0;
}

static int
bagit_alg(const char *name)
{
	int i;

	for (i = 0; i < BAGIT_NALGS; i++)
		if (strcmp(name, bagit_algs[i]) == 0)
			return i;
	return -1;
}

/* Reads a small tag file whole (bounded); malloc'd, or NULL. */
static char *
bagit_slurp(const char *root, const char *name, size_t *len)
{
	char path[4096], *buf;
	struct stat st;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	if (stat(path, &st) == -1 || st.st_size > 64 * 1024 * 1024 ||
	    (fp = fopen(path, "rb")) == NULL)
		return NULL;
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		fclose(fp);
		return NULL;
	}
	*len = fread(buf, 1, (size_t)st.st_size, fp);
	buf[*len] = '\0';
	fclose(fp);
	return buf;
}

static void
bagit_declaration(struct bagit *b)
{
	size_t len = 0;
	char *text = bagit_slurp(b->root, "bagit.txt", &len), *p;

	if (text == NULL) {
		findings_add(b->f, SEVERITY_ERROR, "BAGIT_DECLARATION",
		    "bagit.txt", 0, "bagit.txt is missing");
		return;
	}
	if (len >= 3 && (unsigned char)text[0] == 0xef &&
	    (unsigned char)text[1] == 0xbb && (unsigned char)text[2] == 0xbf)
		findings_add(b->f, SEVERITY_ERROR, "BAGIT_DECLARATION",
		    "bagit.txt", 1, "bagit.txt starts with a byte order mark, "
		    "which RFC 8493 forbids");
	for (p = text; *p; p++)		/* CRLF and LF are both line ends */
		if (*p == '\r')
			*p = '\n';
	if (strncmp(text + (len >= 3 && (unsigned char)text[0] == 0xef ? 3 :
	    0), "BagIt-Version: 1.0\n", 19) != 0 &&
	    strncmp(text + (len >= 3 && (unsigned char)text[0] == 0xef ? 3 :
	    0), "BagIt-Version: 0.97\n", 20) != 0)
		findings_add(b->f, SEVERITY_ERROR, "BAGIT_DECLARATION",
		    "bagit.txt", 1, "bagit.txt must begin with "
		    "'BagIt-Version: 1.0' or 'BagIt-Version: 0.97'");
	if ((p = strstr(text, "\nTag-File-Character-Encoding: UTF-8")) ==
	    NULL || (p[35] != '\n' && p[35] != '\0'))
		findings_add(b->f, SEVERITY_ERROR, "BAGIT_DECLARATION",
		    "bagit.txt", 2, "bagit.txt must declare "
		    "'Tag-File-Character-Encoding: UTF-8'");
	free(text);
}

/* The next line of a tag file that is not empty, its CR (if any) cut;
 * *lineno counts every line, empty ones too, so that findings name the
 * file's own line numbers.  NULL at the end. */
static char *
bagit_line(char **next, long *lineno)
{
	char *line;
	size_t len;

	while ((line = strsep(next, "\n")) != NULL) {
		(*lineno)++;
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len > 0)
			return line;
	}
	return NULL;
}

/* RFC 8493 § 2.1.3: %0A, %0D and %25 in manifest paths. */
void
bagit_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '%' && s[1] == '0' && (s[2] == 'A' || s[2] == 'a')) {
			*o++ = '\n';
			s += 2;
		} else if (s[0] == '%' && s[1] == '0' &&
		    (s[2] == 'D' || s[2] == 'd')) {
			*o++ = '\r';
			s += 2;
		} else if (s[0] == '%' && s[1] == '2' && s[2] == '5') {
			*o++ = '%';
			s += 2;
		} else
			*o++ = *s;
	}
	*o = '\0';
}

static int
bagit_safe(const char *path)
{
	const char *p = path;

	if (*path == '/' || strchr(path, '\\'))
		return 0;
	while (*p) {
		if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
			return 0;
		if ((p = strchr(p, '/')) == NULL)
			break;
		p++;
	}
	return 1;
}

static const EVP_MD *
bagit_md(int alg)
{
	switch (alg) {
	case 0: return EVP_md5();
	case 1: return EVP_sha1();
	case 2: return EVP_sha256();
	default: return EVP_sha512();
	}
}

/* Digests of one file in the algorithms wanted (one read for all); hex
 * into out[alg].  0, or -1 with b->err set. */
static int
bagit_digest_file(struct bagit *b, const char *rel, const int want[BAGIT_NALGS],
    char out[BAGIT_NALGS][129])
{
	EVP_MD_CTX *ctx[BAGIT_NALGS] = { 0 };
	unsigned char md[EVP_MAX_MD_SIZE], *buf = NULL;
	unsigned int n;
	char path[4096];
	ssize_t got;
	int fd, a, rc = -1;

	snprintf(path, sizeof(path), "%s/%s", b->root, rel);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(b->err, sizeof(b->err), "%.400s: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((buf = malloc(1 << 20)) == NULL)
		goto out;
	for (a = 0; a < BAGIT_NALGS; a++)
		if (want[a] && ((ctx[a] = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(ctx[a], bagit_md(a), NULL) != 1))
			goto out;
	while ((got = read(fd, buf, 1 << 20)) > 0)
		for (a = 0; a < BAGIT_NALGS; a++)
			if (ctx[a])
				EVP_DigestUpdate(ctx[a], buf, (size_t)got);
	if (got == -1) {
		snprintf(b->err, sizeof(b->err), "%.400s: %s", path,
		    strerror(errno));
		goto out;
	}
	for (a = 0; a < BAGIT_NALGS; a++)
		if (ctx[a]) {
			EVP_DigestFinal_ex(ctx[a], md, &n);
			digest_hex(md, n, out[a]);
		}
	rc = 0;
out:
	for (a = 0; a < BAGIT_NALGS; a++)
		EVP_MD_CTX_free(ctx[a]);
	free(buf);
	close(fd);
	return rc;
}

static void
bagit_compare(struct bagit *b, const char *path, const char *manifest,
    const char *expect, const char *actual)
{
	if (strcasecmp(expect, actual) != 0)
		findings_add(b->f, SEVERITY_ERROR, "CHECKSUM_MISMATCH", path, 0,
		    "%s: %s declares %s but the file has %s", path, manifest,
		    expect, actual);
}

/* A tag manifest's line: the tag file must be there and match. */
static void
bagit_check_tag(struct bagit *b, const char *manifest, long lineno, int alg,
    const char *hex, const char *path)
{
	char out[BAGIT_NALGS][129];
	int want[BAGIT_NALGS] = { 0 };
	char full[4096];
	struct stat st;

	snprintf(full, sizeof(full), "%s/%s", b->root, path);
	if (lstat(full, &st) == -1 || !S_ISREG(st.st_mode)) {
		findings_add(b->f, SEVERITY_ERROR, "FILE_MISSING", path, 0,
		    "%s line %ld: tag file %s is not in the bag", manifest,
		    lineno, path);
		return;
	}
	want[alg] = 1;
	if (bagit_digest_file(b, path, want, out) == -1) {
		b->failed = 1;
		return;
	}
	bagit_compare(b, path, manifest, hex, out[alg]);
}

/* Reads one manifest; payload ones fill b->files' expectations, tag ones
 * are checked against the tag files at once (they are few and small). */
static void
bagit_manifest(struct bagit *b, const char *name, int alg, int is_tag)
{
	size_t len = 0;
	char *text = bagit_slurp(b->root, name, &len), *line, *next;
	char *hex, *path;
	struct bagit_file *bf;
	long lineno = 0;

	if (text == NULL) {
		findings_add(b->f, SEVERITY_ERROR, "BAGIT_MANIFEST", name, 0,
		    "%s cannot be read", name);
		return;
	}
	for (next = text; (line = bagit_line(&next, &lineno)) != NULL; ) {
		hex = line;
		path = hex + strcspn(hex, " \t");
		if (*path == '\0') {
			findings_add(b->f, SEVERITY_ERROR, "BAGIT_MANIFEST",
			    name, lineno, "%s line %ld: expected a checksum, "
			    "spaces and a path", name, lineno);
			continue;
		}
		*path++ = '\0';
		path += strspn(path, " \t");
		bagit_unescape(path);
		if (!bagit_safe(path)) {
			findings_add(b->f, SEVERITY_ERROR, "UNSAFE_PATH", name,
			    lineno, "%s line %ld: %s lies outside the bag",
			    name, lineno, path);
			continue;
		}
		if (is_tag) {
			if (strncmp(path, "data/", 5) == 0)
				findings_add(b->f, SEVERITY_ERROR,
				    "BAGIT_MANIFEST", name, lineno, "%s line "
				    "%ld: %s is payload, not a tag file", name,
				    lineno, path);
			else
				bagit_check_tag(b, name, lineno, alg, hex,
				    path);
			continue;
		}
		if (strncmp(path, "data/", 5) != 0) {
			findings_add(b->f, SEVERITY_ERROR, "BAGIT_MANIFEST",
			    name, lineno, "%s line %ld: %s is not under data/",
			    name, lineno, path);
			continue;
		}
		if ((bf = bagit_find(b, path)) == NULL) {
			findings_add(b->f, SEVERITY_ERROR, "FILE_MISSING", path,
			    0, "%s is listed in %s but not in the bag", path,
			    name);
			continue;
		}
		if (bf->in_manifest[alg]) {
			findings_add(b->f, SEVERITY_ERROR, "BAGIT_MANIFEST",
			    name, lineno, "%s line %ld: %s is listed twice",
			    name, lineno, path);
			continue;
		}
		if ((bf->expect[alg] = strdup(hex)) == NULL)
			continue;
		bf->in_manifest[alg] = 1;
	}
	free(text);
}

/* bag-info.txt: labels with continuation lines; Payload-Oxum checked. */
static void
bagit_info(struct bagit *b, char ***info)
{
	size_t len = 0, n = 0, i;
	char *text = bagit_slurp(b->root, "bag-info.txt", &len), *line;
	char *next, **list = NULL, **grown, *end;
	unsigned long long octets = 0, streams = 0, have_octets = 0;
	long lineno = 0;

	if (text == NULL)
		return;			/* optional */
	for (next = text; (line = bagit_line(&next, &lineno)) != NULL; ) {
		if ((line[0] == ' ' || line[0] == '\t') && n > 0) {
			char *joined;	/* a continuation of the last label */

			if (asprintf(&joined, "%s %s", list[n - 1],
			    line + strspn(line, " \t")) != -1) {
				free(list[n - 1]);
				list[n - 1] = joined;
			}
			continue;
		}
		if (strchr(line, ':') == NULL) {
			findings_add(b->f, SEVERITY_ERROR, "BAGIT_INFO",
			    "bag-info.txt", lineno, "bag-info.txt line %ld: "
			    "expected 'Label: value'", lineno);
			continue;
		}
		if ((grown = realloc(list, (n + 2) * sizeof(*list))) == NULL)
			break;
		list = grown;
		if ((list[n] = strdup(line)) == NULL)
			break;
		list[++n] = NULL;
	}
	for (i = 0; i < n; i++)
		if (strncasecmp(list[i], "Payload-Oxum:", 13) == 0) {
			const char *v = list[i] + 13 + strspn(list[i] + 13,
			    " \t");

			/* digits '.' digits, nothing else */
			if (*v < '0' || *v > '9' ||
			    (octets = strtoull(v, &end, 10), *end != '.') ||
			    end[1] < '0' || end[1] > '9' ||
			    (streams = strtoull(end + 1, &end, 10),
			    *end != '\0' && *end != ' ')) {
				findings_add(b->f, SEVERITY_ERROR, "BAGIT_OXUM",
				    "bag-info.txt", 0, "Payload-Oxum must be "
				    "OCTETS.STREAMS, not '%s'", list[i] + 13);
				continue;
			}
			have_octets = 1;
		}
	if (have_octets) {
		unsigned long long total = 0;

		for (i = 0; i < b->n; i++)
			total += b->files[i].size;
		if (total != octets || (unsigned long long)b->n != streams)
			findings_add(b->f, SEVERITY_ERROR, "BAGIT_OXUM",
			    "bag-info.txt", 0, "Payload-Oxum says %llu bytes in "
			    "%llu files, but the payload is %llu bytes in %zu "
			    "files", octets, streams, total, b->n);
	}
	free(text);
	if (info)
		*info = list;
	else
		bagit_info_free(list);
}

void
bagit_info_free(char **info)
{
	size_t i;

	for (i = 0; info && info[i]; i++)
		free(info[i]);
	free(info);
}

int
bagit_check(const char *root, const struct bagit_digest *known,
    size_t nknown, struct findings *f, char ***info, char *err,
    size_t errlen)
{
	struct bagit b = { .root = root, .f = f };
	char out[BAGIT_NALGS][129], path[4096], algname[16];
	int want[BAGIT_NALGS], a, is_tag, rc = -1, end;
	struct dirent *de;
	size_t i, k;
	DIR *d;

	if (info)
		*info = NULL;
	bagit_declaration(&b);
	snprintf(path, sizeof(path), "%s/fetch.txt", root);
	if (access(path, F_OK) == 0)
		findings_add(f, SEVERITY_ERROR, "BAGIT_FETCH", "fetch.txt", 0,
		    "the bag has fetch.txt: Sailo fetches nothing; send the "
		    "files in the bag");
	/* The payload as it is. */
	snprintf(path, sizeof(path), "%s/data", root);
	bagit_walking = &b;
	if (access(path, F_OK) == 0 &&
	    nftw(path, bagit_walk, 16, FTW_PHYS) == -1) {
		snprintf(err, errlen, "cannot list %s", path);
		goto out;
	}
	if (b.n > 1)
		qsort(b.files, b.n, sizeof(*b.files), bagit_cmp);
	/* Every manifest present. */
	if ((d = opendir(root)) == NULL) {
		snprintf(err, errlen, "%s: %s", root, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		is_tag = strncmp(de->d_name, "tagmanifest-", 12) == 0;
		if (!is_tag && strncmp(de->d_name, "manifest-", 9) != 0)
			continue;
		end = 0;
		if (sscanf(de->d_name + (is_tag ? 12 : 9), "%15[a-z0-9]%n",
		    algname, &end) != 1 ||
		    strcmp(de->d_name + (is_tag ? 12 : 9) + end, ".txt") != 0)
			continue;	/* another tag file, not a manifest */
		if ((a = bagit_alg(algname)) == -1) {
			findings_add(f, SEVERITY_ERROR, "BAGIT_MANIFEST",
			    de->d_name, 0, "%s: an algorithm Sailo does not "
			    "check (md5, sha1, sha256, sha512)", de->d_name);
			continue;
		}
		if (!is_tag) {
			b.has_manifest[a] = 1;
			b.nmanifests++;
		}
		bagit_manifest(&b, de->d_name, a, is_tag);
		if (b.failed)
			break;
	}
	closedir(d);
	if (b.failed) {
		snprintf(err, errlen, "%s", b.err);
		goto out;
	}
	if (b.nmanifests == 0)
		findings_add(f, SEVERITY_ERROR, "BAGIT_MANIFEST", NULL, 0,
		    "the bag has no payload manifest (manifest-sha256.txt)");
	/* Every payload file in every manifest, with the right digests. */
	for (i = 0; i < b.n; i++) {
		struct bagit_file *bf = &b.files[i];
		int listed = 0;

		memset(want, 0, sizeof(want));
		for (a = 0; a < BAGIT_NALGS; a++) {
			if (!b.has_manifest[a])
				continue;
			if (!bf->in_manifest[a])
				findings_add(f, SEVERITY_ERROR, "FILE_UNLISTED",
				    bf->path, 0, "%s is in the bag but not in "
				    "manifest-%s.txt", bf->path, bagit_algs[a]);
			else {
				want[a] = 1;
				listed = 1;
			}
		}
		if (!listed)
			continue;
		/* SHA-256 from unpacking, when it is known. */
		for (k = 0; want[2] && k < nknown; k++)
			if (strcmp(known[k].path, bf->path) == 0) {
				snprintf(out[2], sizeof(out[2]), "%s",
				    known[k].sha256);
				want[2] = 0;
				bagit_compare(&b, bf->path, "manifest-sha256.txt",
				    bf->expect[2], out[2]);
				break;
			}
		if ((want[0] || want[1] || want[2] || want[3]) &&
		    bagit_digest_file(&b, bf->path, want, out) == -1) {
			snprintf(err, errlen, "%s", b.err);
			goto out;
		}
		for (a = 0; a < BAGIT_NALGS; a++)
			if (want[a]) {
				char mname[32];

				snprintf(mname, sizeof(mname), "manifest-%s.txt",
				    bagit_algs[a]);
				bagit_compare(&b, bf->path, mname, bf->expect[a],
				    out[a]);
			}
	}
	bagit_info(&b, info);
	rc = 0;
out:
	for (i = 0; i < b.n; i++) {
		free(b.files[i].path);
		for (a = 0; a < BAGIT_NALGS; a++)
			free(b.files[i].expect[a]);
	}
	free(b.files);
	return rc;
}
