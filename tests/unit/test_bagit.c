/*
 * test_bagit.c — unit tests of formats/bagit.c: each test builds a bag on
 * disk in a mkdtemp() folder (payload under data/, digests computed here
 * with OpenSSL EVP, bagit.txt, manifests, bag-info.txt, a tag manifest),
 * spoils one thing and calls bagit_check(), then checks the findings'
 * codes, counts, lines and messages and the bag-info labels returned.  It
 * does not test unpacking (test_unpack.c) nor what the payload means.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "formats.h"

#define DECL_10		"BagIt-Version: 1.0\n" \
			"Tag-File-Character-Encoding: UTF-8\n"
#define DECL_097	"BagIt-Version: 0.97\n" \
			"Tag-File-Character-Encoding: UTF-8\n"
#define PDF_NAME	"data/sub/P\xc3\xa4\xc3\xa4t\xc3\xb6s 1.pdf"

static const char	 a_data[] = "first payload file\n";
static const char	 b_data[] = "second payload file, a little longer\n";
static const char	 pdf_data[] = "%PDF-1.4\n"
			    "% P\xc3\xa4\xc3\xa4t\xc3\xb6s\n"
			    "1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n";

/* What every test gets: the bag's folder and bagit_check()'s outcome. */
struct bag {
	char		 root[64];
	struct findings	 f;
	char		**info;
	char		 err[512];
};

/* Payload files of the usual bag, as listed (relative to the root). */
static const char *const usual_files[] = { "data/a.txt", PDF_NAME, NULL };

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct bag *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -1;
	snprintf(b->root, sizeof(b->root), "/tmp/test_bagit.XXXXXX");
	if (mkdtemp(b->root) == NULL) {
		free(b);
		return -1;
	}
	findings_init(&b->f);
	*state = b;
	return 0;
}

static int
teardown(void **state)
{
	struct bag *b = *state;

	findings_free(&b->f);
	bagit_info_free(b->info);
	nftw(b->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(b);
	return 0;
}

/* Drops the bag and the findings and starts again in a new folder. */
static struct bag *
reset(void **state)
{
	assert_int_equal(teardown(state), 0);
	assert_int_equal(setup(state), 0);
	return *state;
}

/* Writes len bytes to root/rel, making the folders above it. */
static void
put_bytes(struct bag *b, const char *rel, const void *data, size_t len)
{
	char path[4096], *slash;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", b->root, rel);
	for (slash = path + strlen(b->root) + 1; (slash = strchr(slash, '/'));
	    slash++) {
		*slash = '\0';
		if (mkdir(path, 0755) == -1)
			assert_int_equal(errno, EEXIST);
		*slash = '/';
	}
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void
put(struct bag *b, const char *rel, const char *text)
{
	put_bytes(b, rel, text, strlen(text));
}

static void
append(struct bag *b, const char *rel, const char *text)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", b->root, rel);
	assert_non_null(fp = fopen(path, "ab"));
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static const EVP_MD *
md_of(const char *alg)
{
	if (strcmp(alg, "md5") == 0)
		return EVP_md5();
	if (strcmp(alg, "sha1") == 0)
		return EVP_sha1();
	if (strcmp(alg, "sha256") == 0)
		return EVP_sha256();
	assert_string_equal(alg, "sha512");
	return EVP_sha512();
}

static void
hex_digest(const char *alg, const void *data, size_t len, char out[129])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	assert_int_equal(EVP_Digest(data, len, md, &mdlen, md_of(alg), NULL),
	    1);
	for (i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[2 * mdlen] = '\0';
}

/* The digest of the file root/rel as it is on disk. */
static void
file_digest(struct bag *b, const char *alg, const char *rel, char out[129])
{
	char path[4096], buf[65536];
	size_t len;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", b->root, rel);
	assert_non_null(fp = fopen(path, "rb"));
	len = fread(buf, 1, sizeof(buf), fp);
	assert_int_equal(feof(fp), 1);
	fclose(fp);
	hex_digest(alg, buf, len, out);
}

/* RFC 8493 § 2.1.3: '%', CR and LF in a manifest path are escaped. */
static void
escape_path(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in && o + 4 < outlen; in++) {
		if (*in == '%')
			o += (size_t)snprintf(out + o, outlen - o, "%%25");
		else if (*in == '\n')
			o += (size_t)snprintf(out + o, outlen - o, "%%0A");
		else if (*in == '\r')
			o += (size_t)snprintf(out + o, outlen - o, "%%0D");
		else
			out[o++] = *in;
	}
	out[o] = '\0';
}

/* Writes manifest-<alg>.txt (or tagmanifest-<alg>.txt when is_tag) listing
 * the files named, NULL-terminated, with their true digests. */
static void
manifest(struct bag *b, const char *alg, int is_tag,
    const char *const *files)
{
	char name[64], line[4096 + 160], hex[129], esc[4096];
	size_t i;

	snprintf(name, sizeof(name), "%smanifest-%s.txt", is_tag ? "tag" : "",
	    alg);
	put(b, name, "");
	for (i = 0; files[i] != NULL; i++) {
		file_digest(b, alg, files[i], hex);
		escape_path(files[i], esc, sizeof(esc));
		snprintf(line, sizeof(line), "%s  %s\n", hex, esc);
		append(b, name, line);
	}
}

/* Payload bytes and files under data/, for Payload-Oxum. */
static unsigned long long	oxum_bytes, oxum_files;

static int
oxum_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode)) {
		oxum_bytes += (unsigned long long)st->st_size;
		oxum_files++;
	}
	return 0;
}

/* bag-info.txt with the payload's true Payload-Oxum, then extra lines. */
static void
bag_info(struct bag *b, const char *extra)
{
	char path[4096], text[4096 + 128];

	oxum_bytes = oxum_files = 0;
	snprintf(path, sizeof(path), "%s/data", b->root);
	assert_int_equal(nftw(path, oxum_entry, 16, FTW_PHYS), 0);
	snprintf(text, sizeof(text), "Payload-Oxum: %llu.%llu\n%s", oxum_bytes,
	    oxum_files, extra);
	put(b, "bag-info.txt", text);
}

/*
 * The usual valid 1.0 bag: data/a.txt and a UTF-8 named PDF in a sub
 * folder, manifest-sha256, bag-info.txt and a tag manifest.
 */
static void
usual_bag(struct bag *b)
{
	static const char *const tags[] = { "bagit.txt", "bag-info.txt",
	    "manifest-sha256.txt", NULL };

	put(b, "bagit.txt", DECL_10);
	put(b, "data/a.txt", a_data);
	put(b, PDF_NAME, pdf_data);
	manifest(b, "sha256", 0, usual_files);
	bag_info(b, "Source-Organization: Helsinki\n");
	manifest(b, "sha256", 1, tags);
}

/* Prints the findings; for a test that is about to fail. */
static void
dump(const struct bag *b)
{
	size_t i;

	for (i = 0; i < b->f.n; i++)
		print_error("  %s %s line %ld: %s\n", b->f.items[i].code,
		    b->f.items[i].path ? b->f.items[i].path : "-",
		    b->f.items[i].line, b->f.items[i].message);
}

/* Runs bagit_check() on the bag (again: findings are reset); asserts that
 * it returns 0 with this many errors. */
static void
check(struct bag *b, const struct bagit_digest *known, size_t nknown,
    size_t errors)
{
	findings_free(&b->f);
	findings_init(&b->f);
	bagit_info_free(b->info);
	b->info = NULL;
	if (bagit_check(b->root, known, nknown, &b->f, &b->info, b->err,
	    sizeof(b->err)) != 0)
		fail_msg("bagit_check: %s", b->err);
	if (b->f.errors != errors) {
		dump(b);
		fail_msg("%zu errors, expected %zu", b->f.errors, errors);
	}
}

/* The first finding with this code; fails the test when there is none. */
static const struct finding *
finding(struct bag *b, const char *code)
{
	size_t i;

	for (i = 0; i < b->f.n; i++)
		if (strcmp(b->f.items[i].code, code) == 0)
			return &b->f.items[i];
	dump(b);
	fail_msg("no %s finding", code);
	return NULL;
}

/* The first finding with this code is on this line of its file. */
static void
assert_line(struct bag *b, const char *code, long line)
{
	const struct finding *fi = finding(b, code);

	if (fi->line != line) {
		dump(b);
		fail_msg("%s on line %ld, expected line %ld", code, fi->line,
		    line);
	}
}

/* True when one line of *info is exactly this. */
static int
info_has(struct bag *b, const char *line)
{
	size_t i;

	for (i = 0; b->info && b->info[i]; i++)
		if (strcmp(b->info[i], line) == 0)
			return 1;
	return 0;
}

/* 1 */
static void
test_valid_bag_has_no_errors_and_info_joins_continuations(void **state)
{
	static const char *const tags[] = { "bagit.txt", "bag-info.txt",
	    "manifest-sha256.txt", "manifest-sha512.txt", NULL };
	struct bag *b = *state;
	char oxum[64];

	put(b, "bagit.txt", DECL_10);
	put(b, "data/a.txt", a_data);
	put(b, PDF_NAME, pdf_data);
	manifest(b, "sha256", 0, usual_files);
	manifest(b, "sha512", 0, usual_files);
	bag_info(b, "Source-Organization: Helsinki\n"
	    " City Archives\n"
	    "Contact-Name: Archivist\n");
	manifest(b, "sha256", 1, tags);
	check(b, NULL, 0, 0);
	assert_int_equal(b->f.n, 0);
	assert_non_null(b->info);
	assert_true(info_has(b, "Source-Organization: Helsinki City Archives"));
	assert_true(info_has(b, "Contact-Name: Archivist"));
	snprintf(oxum, sizeof(oxum), "Payload-Oxum: %zu.2",
	    strlen(a_data) + strlen(pdf_data));
	assert_true(info_has(b, oxum));

	/* info may be NULL. */
	findings_free(&b->f);
	findings_init(&b->f);
	assert_int_equal(bagit_check(b->root, NULL, 0, &b->f, NULL, b->err,
	    sizeof(b->err)), 0);
	assert_int_equal(b->f.errors, 0);
}

/* 2 */
static void
test_valid_097_bag_and_crlf_declaration(void **state)
{
	struct bag *b = *state;

	usual_bag(b);
	put(b, "bagit.txt", DECL_097);
	manifest(b, "sha256", 1, (const char *const[]){ "bagit.txt", NULL });
	check(b, NULL, 0, 0);

	put(b, "bagit.txt", "BagIt-Version: 1.0\r\n"
	    "Tag-File-Character-Encoding: UTF-8\r\n");
	manifest(b, "sha256", 1, (const char *const[]){ "bagit.txt", NULL });
	check(b, NULL, 0, 0);
}

/* 3 */
static void
test_bad_declaration(void **state)
{
	struct bag *b = *state;
	char bom[128], path[4096];

	usual_bag(b);
	snprintf(path, sizeof(path), "%s/bagit.txt", b->root);
	assert_int_equal(unlink(path), 0);
	manifest(b, "sha256", 1, (const char *const[]){ "bag-info.txt", NULL });
	check(b, NULL, 0, 1);
	assert_true(findings_has(&b->f, "BAGIT_DECLARATION"));

	b = reset(state);
	usual_bag(b);
	snprintf(bom, sizeof(bom), "\xef\xbb\xbf%s", DECL_10);
	put(b, "bagit.txt", bom);
	manifest(b, "sha256", 1, (const char *const[]){ "bagit.txt", NULL });
	check(b, NULL, 0, 1);
	assert_true(findings_has(&b->f, "BAGIT_DECLARATION"));

	b = reset(state);
	usual_bag(b);
	put(b, "bagit.txt", "BagIt-Version: 2.0\n"
	    "Tag-File-Character-Encoding: UTF-8\n");
	manifest(b, "sha256", 1, (const char *const[]){ "bagit.txt", NULL });
	check(b, NULL, 0, 1);
	assert_true(findings_has(&b->f, "BAGIT_DECLARATION"));

	b = reset(state);
	usual_bag(b);
	put(b, "bagit.txt", "BagIt-Version: 1.0\n");
	manifest(b, "sha256", 1, (const char *const[]){ "bagit.txt", NULL });
	check(b, NULL, 0, 1);
	assert_true(findings_has(&b->f, "BAGIT_DECLARATION"));
}

/* 4 */
static void
test_fetch_txt_is_refused(void **state)
{
	struct bag *b = *state;

	usual_bag(b);
	put(b, "fetch.txt", "https://example.org/x 10 data/x.txt\n");
	check(b, NULL, 0, 1);
	assert_true(findings_has(&b->f, "BAGIT_FETCH"));
	assert_string_equal(finding(b, "BAGIT_FETCH")->path, "fetch.txt");
}

/* 5 */
static void
test_no_manifest(void **state)
{
	struct bag *b = *state;

	put(b, "bagit.txt", DECL_10);
	put(b, "data/a.txt", a_data);
	check(b, NULL, 0, 1);
	assert_true(findings_has(&b->f, "BAGIT_MANIFEST"));
	assert_false(findings_has(&b->f, "FILE_UNLISTED"));
}

/* 6 */
static void
test_missing_and_unlisted_files(void **state)
{
	struct bag *b = *state;
	const struct finding *fi;
	char line[256], hex[129];

	usual_bag(b);
	hex_digest("sha256", "gone", 4, hex);
	snprintf(line, sizeof(line), "%s  data/gone.txt\n", hex);
	append(b, "manifest-sha256.txt", line);
	manifest(b, "sha256", 1,
	    (const char *const[]){ "manifest-sha256.txt", NULL });
	check(b, NULL, 0, 1);
	fi = finding(b, "FILE_MISSING");
	assert_string_equal(fi->path, "data/gone.txt");
	assert_non_null(strstr(fi->message, "manifest-sha256.txt"));

	b = reset(state);
	usual_bag(b);
	put(b, "data/extra.txt", "not listed\n");
	bag_info(b, "");
	manifest(b, "sha256", 1,
	    (const char *const[]){ "bag-info.txt", NULL });
	check(b, NULL, 0, 1);
	fi = finding(b, "FILE_UNLISTED");
	assert_string_equal(fi->path, "data/extra.txt");

	/* Two manifests: the file is missing from manifest-md5.txt only. */
	b = reset(state);
	usual_bag(b);
	put(b, "data/b.txt", b_data);
	manifest(b, "sha256", 0, (const char *const[]){ "data/a.txt",
	    "data/b.txt", PDF_NAME, NULL });
	manifest(b, "md5", 0, (const char *const[]){ "data/a.txt", PDF_NAME,
	    NULL });
	bag_info(b, "");
	manifest(b, "sha256", 1, (const char *const[]){ "bagit.txt",
	    "bag-info.txt", "manifest-sha256.txt", "manifest-md5.txt",
	    NULL });
	check(b, NULL, 0, 1);
	fi = finding(b, "FILE_UNLISTED");
	assert_string_equal(fi->path, "data/b.txt");
	assert_non_null(strstr(fi->message, "manifest-md5.txt"));
	assert_null(strstr(fi->message, "manifest-sha256.txt"));
}

/* 7 */
static void
test_checksum_mismatch(void **state)
{
	struct bag *b = *state;
	const struct finding *fi;
	char line[512], good[129], bad[129], *p;

	put(b, "bagit.txt", DECL_10);
	put(b, "data/a.txt", a_data);
	file_digest(b, "sha256", "data/a.txt", good);
	hex_digest("sha256", "other", 5, bad);
	snprintf(line, sizeof(line), "%s  data/a.txt\n", bad);
	put(b, "manifest-sha256.txt", line);
	check(b, NULL, 0, 1);
	fi = finding(b, "CHECKSUM_MISMATCH");
	assert_string_equal(fi->path, "data/a.txt");
	assert_non_null(strstr(fi->message, good));
	assert_non_null(strstr(fi->message, bad));

	/* A wrong MD5 next to a right SHA-256. */
	b = reset(state);
	put(b, "bagit.txt", DECL_10);
	put(b, "data/a.txt", a_data);
	manifest(b, "sha256", 0, (const char *const[]){ "data/a.txt", NULL });
	hex_digest("md5", "other", 5, bad);
	snprintf(line, sizeof(line), "%s  data/a.txt\n", bad);
	put(b, "manifest-md5.txt", line);
	check(b, NULL, 0, 1);
	fi = finding(b, "CHECKSUM_MISMATCH");
	assert_non_null(strstr(fi->message, "manifest-md5.txt"));
	assert_non_null(strstr(fi->message, bad));

	/* Upper-case hex that is right. */
	b = reset(state);
	put(b, "bagit.txt", DECL_10);
	put(b, "data/a.txt", a_data);
	file_digest(b, "sha256", "data/a.txt", good);
	for (p = good; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	snprintf(line, sizeof(line), "%s  data/a.txt\n", good);
	put(b, "manifest-sha256.txt", line);
	check(b, NULL, 0, 0);
	assert_int_equal(b->f.n, 0);
}

/* 8 */
static void
test_known_digests_are_trusted(void **state)
{
	struct bag *b = *state;
	struct bagit_digest known[1];
	const struct finding *fi;
	char good[129], bad[129];

	usual_bag(b);
	file_digest(b, "sha256", "data/a.txt", good);
	hex_digest("sha256", "other", 5, bad);
	known[0].path = "data/a.txt";
	known[0].sha256 = bad;
	check(b, known, 1, 1);
	fi = finding(b, "CHECKSUM_MISMATCH");
	assert_string_equal(fi->path, "data/a.txt");
	assert_non_null(strstr(fi->message, bad));
	assert_non_null(strstr(fi->message, good));

	known[0].sha256 = good;
	check(b, known, 1, 0);
	assert_int_equal(b->f.n, 0);
}

/* 9 */
static void
test_tag_manifest(void **state)
{
	struct bag *b = *state;
	const struct finding *fi;
	char line[512], good[129], bad[129];

	usual_bag(b);
	file_digest(b, "sha256", "bagit.txt", good);
	hex_digest("sha256", "other", 5, bad);
	snprintf(line, sizeof(line), "%s  bagit.txt\n%s  bag-info.txt\n",
	    good, bad);
	put(b, "tagmanifest-sha256.txt", line);
	check(b, NULL, 0, 1);
	fi = finding(b, "CHECKSUM_MISMATCH");
	assert_string_equal(fi->path, "bag-info.txt");
	assert_non_null(strstr(fi->message, bad));

	snprintf(line, sizeof(line), "%s  bagit.txt2\n", good);
	put(b, "tagmanifest-sha256.txt", line);
	check(b, NULL, 0, 1);
	fi = finding(b, "FILE_MISSING");
	assert_string_equal(fi->path, "bagit.txt2");

	manifest(b, "sha256", 1, (const char *const[]){ "bagit.txt",
	    "data/a.txt", NULL });
	check(b, NULL, 0, 1);
	assert_line(b, "BAGIT_MANIFEST", 2);
	fi = finding(b, "BAGIT_MANIFEST");
	assert_non_null(strstr(fi->message, "data/a.txt"));
}

/* 10 */
static void
test_unsafe_paths(void **state)
{
	struct bag *b = *state;
	char line[512], hex[129];

	usual_bag(b);
	hex_digest("sha256", "x", 1, hex);
	snprintf(line, sizeof(line), "%s  data/../../etc/passwd\n", hex);
	append(b, "manifest-sha256.txt", line);
	manifest(b, "sha256", 1,
	    (const char *const[]){ "manifest-sha256.txt", NULL });
	check(b, NULL, 0, 1);
	assert_true(findings_has(&b->f, "UNSAFE_PATH"));
	assert_line(b, "UNSAFE_PATH", 3);

	b = reset(state);
	usual_bag(b);
	snprintf(line, sizeof(line), "%s  /etc/passwd\n", hex);
	append(b, "manifest-sha256.txt", line);
	manifest(b, "sha256", 1,
	    (const char *const[]){ "manifest-sha256.txt", NULL });
	check(b, NULL, 0, 1);
	assert_true(findings_has(&b->f, "UNSAFE_PATH"));
}

/* 11 */
static void
test_payload_oxum(void **state)
{
	struct bag *b = *state;
	size_t bytes = strlen(a_data) + strlen(pdf_data);
	char text[128];

	usual_bag(b);
	snprintf(text, sizeof(text), "Payload-Oxum: %zu.2\n", bytes + 1);
	put(b, "bag-info.txt", text);
	manifest(b, "sha256", 1, (const char *const[]){ "bag-info.txt", NULL });
	check(b, NULL, 0, 1);
	assert_true(findings_has(&b->f, "BAGIT_OXUM"));

	snprintf(text, sizeof(text), "Payload-Oxum: %zu.3\n", bytes);
	put(b, "bag-info.txt", text);
	manifest(b, "sha256", 1, (const char *const[]){ "bag-info.txt", NULL });
	check(b, NULL, 0, 1);
	assert_true(findings_has(&b->f, "BAGIT_OXUM"));

	put(b, "bag-info.txt", "Payload-Oxum: lots\n");
	manifest(b, "sha256", 1, (const char *const[]){ "bag-info.txt", NULL });
	check(b, NULL, 0, 1);
	assert_true(findings_has(&b->f, "BAGIT_OXUM"));

	/* And the true one. */
	snprintf(text, sizeof(text), "Payload-Oxum: %zu.2\n", bytes);
	put(b, "bag-info.txt", text);
	manifest(b, "sha256", 1, (const char *const[]){ "bag-info.txt", NULL });
	check(b, NULL, 0, 0);
}

/* 12 */
static void
test_unknown_algorithm(void **state)
{
	struct bag *b = *state;

	usual_bag(b);
	put(b, "manifest-sha3.txt", "abc  data/a.txt\n");
	check(b, NULL, 0, 1);
	assert_string_equal(finding(b, "BAGIT_MANIFEST")->path,
	    "manifest-sha3.txt");
}

/* 13 */
static void
test_percent_encoded_path(void **state)
{
	struct bag *b = *state;
	char line[512], hex[129];

	put(b, "bagit.txt", DECL_10);
	put(b, "data/100%.txt", a_data);
	file_digest(b, "sha256", "data/100%.txt", hex);
	snprintf(line, sizeof(line), "%s  data/100%%25.txt\n", hex);
	put(b, "manifest-sha256.txt", line);
	bag_info(b, "");
	check(b, NULL, 0, 0);
	assert_int_equal(b->f.n, 0);
}

/* 14 */
static void
test_manifest_line_without_path(void **state)
{
	struct bag *b = *state;

	usual_bag(b);
	append(b, "manifest-sha256.txt", "abc123\n");
	manifest(b, "sha256", 1,
	    (const char *const[]){ "manifest-sha256.txt", NULL });
	check(b, NULL, 0, 1);
	assert_string_equal(finding(b, "BAGIT_MANIFEST")->path,
	    "manifest-sha256.txt");
	assert_line(b, "BAGIT_MANIFEST", 3);
}

/*
 * A finding's line is the line in the file, blank lines counted: an empty
 * line before the bad one must not shift the number.
 */
static void
test_manifest_line_number_counts_blank_lines(void **state)
{
	struct bag *b = *state;

	usual_bag(b);
	append(b, "manifest-sha256.txt", "\nabc123\n");
	manifest(b, "sha256", 1,
	    (const char *const[]){ "manifest-sha256.txt", NULL });
	check(b, NULL, 0, 1);
	assert_line(b, "BAGIT_MANIFEST", 4);
}

/*
 * Only manifest-<alg>.txt is a manifest (RFC 8493 § 2.1.3); another tag
 * file whose name merely starts so (an editor's copy) is not read as a
 * second manifest of the same algorithm.
 */
static void
test_manifest_name_must_end_in_txt(void **state)
{
	struct bag *b = *state;
	char path[4096], copy[4096];

	usual_bag(b);
	snprintf(path, sizeof(path), "%s/manifest-sha256.txt", b->root);
	snprintf(copy, sizeof(copy), "%s/manifest-sha256.txt.orig", b->root);
	assert_int_equal(link(path, copy), 0);
	check(b, NULL, 0, 0);
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_valid_bag_has_no_errors_and_info_joins_continuations),
		T(test_valid_097_bag_and_crlf_declaration),
		T(test_bad_declaration),
		T(test_fetch_txt_is_refused),
		T(test_no_manifest),
		T(test_missing_and_unlisted_files),
		T(test_checksum_mismatch),
		T(test_known_digests_are_trusted),
		T(test_tag_manifest),
		T(test_unsafe_paths),
		T(test_payload_oxum),
		T(test_unknown_algorithm),
		T(test_percent_encoded_path),
		T(test_manifest_line_without_path),
		T(test_manifest_line_number_counts_blank_lines),
		T(test_manifest_name_must_end_in_txt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
