/*
 * test_unpack.c — unit tests of ingest/unpack.c: archives are built here
 * with libarchive's write API (tar, tar.gz, tar.zst, zip) in a mkdtemp()
 * folder and unpacked with unpack_package(); each test then checks the
 * findings, the result's files, their sizes and SHA-256 (recomputed with
 * OpenSSL) and the bytes on disk.  The work folder sits three levels under
 * the temporary folder so that a `..` escape would land inside it, where a
 * walk can look for it.  It does not test what the files mean (formats/).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
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
#include "ingest.h"

#define MIB		(1024 * 1024)
#define BOMB_SIZE	(64 * MIB)

enum tformat { TF_PAX, TF_USTAR, TF_ZIP };
enum tfilter { TF_NONE, TF_GZIP, TF_ZSTD };

/* One entry to write; data NULL means size zero bytes. */
struct tentry {
	const char	*name;
	mode_t		 type;	/* AE_IFREG, AE_IFDIR, ... */
	const void	*data;
	size_t		 size;
	const char	*symlink;	/* target, for AE_IFLNK */
	const char	*hardlink;	/* target, for a hard link */
};

/* What every test gets: folders, limits and the unpacking's outcome. */
struct ctx {
	char			 tmp[64];	/* the mkdtemp() folder */
	char			 pkg[128];	/* tmp/pkg, the archive */
	char			 work[128];	/* tmp/d1/d2/work */
	struct unpack_limits	 lim;
	struct unpack_result	 res;
	struct findings		 f;
	char			 err[512];
};

static const char	 pdf_data[] = "%PDF-1.4\n% Päätös\n1 0 obj\n<<>>\n"
			    "endobj\ntrailer\n<<>>\n%%EOF\n";
static const char	 txt_data[] = "file in a sub folder\n";
static const char	 a_data[] = "a";

/* Deterministic incompressible bytes (xorshift64). */
static void
fill_random(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed ? seed : 88172645463325252ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)(x >> 24);
	}
}

static void
sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(),
	    NULL), 1);
	assert_int_equal(mdlen, 32);
	for (i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Writes the entries into path; asserts on any libarchive failure. */
static void
write_archive(const char *path, enum tformat fmt, enum tfilter filter,
    const struct tentry *ents, size_t n)
{
	static const char zeros[65536];
	struct archive *a;
	struct archive_entry *e;
	size_t i, left, chunk;
	int r;

	assert_non_null(a = archive_write_new());
	switch (fmt) {
	case TF_PAX:
		r = archive_write_set_format_pax_restricted(a);
		break;
	case TF_USTAR:
		r = archive_write_set_format_ustar(a);
		break;
	default:
		r = archive_write_set_format_zip(a);
		break;
	}
	assert_int_equal(r, ARCHIVE_OK);
	if (filter == TF_GZIP)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	else if (filter == TF_ZSTD)
		assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		assert_non_null(e = archive_entry_new());
		archive_entry_copy_pathname(e, ents[i].name);
		archive_entry_set_mtime(e, 1700000000, 0);
		archive_entry_set_filetype(e, ents[i].type);
		archive_entry_set_perm(e, ents[i].type == AE_IFDIR ? 0755 :
		    0644);
		if (ents[i].type == AE_IFLNK)
			archive_entry_copy_symlink(e, ents[i].symlink);
		if (ents[i].hardlink != NULL)
			archive_entry_copy_hardlink(e, ents[i].hardlink);
		if (ents[i].type == AE_IFCHR) {
			archive_entry_set_rdevmajor(e, 5);
			archive_entry_set_rdevminor(e, 0);
		}
		archive_entry_set_size(e, ents[i].type == AE_IFREG &&
		    ents[i].hardlink == NULL ? (la_int64_t)ents[i].size : 0);
		r = archive_write_header(a, e);
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			fail_msg("write_header %s: %s", ents[i].name,
			    archive_error_string(a));
		if (ents[i].type == AE_IFREG && ents[i].hardlink == NULL) {
			if (ents[i].data != NULL)
				assert_int_equal(archive_write_data(a,
				    ents[i].data, ents[i].size),
				    (la_ssize_t)ents[i].size);
			else
				for (left = ents[i].size; left > 0;
				    left -= chunk) {
					chunk = left < sizeof(zeros) ? left :
					    sizeof(zeros);
					assert_int_equal(archive_write_data(a,
					    zeros, chunk), (la_ssize_t)chunk);
				}
		}
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	assert_int_equal(archive_write_free(a), ARCHIVE_OK);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *fp;

	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Reads a whole file (malloc'd) or NULL when it is not there. */
static unsigned char *
read_file(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	assert_int_equal(fstat(fd, &st), 0);
	assert_non_null(buf = malloc((size_t)st.st_size + 1));
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void
run_unpack(struct ctx *c)
{
	int rc;

	rc = unpack_package(&c->res, c->pkg, c->work, &c->lim, &c->f, c->err,
	    sizeof(c->err));
	if (rc != 0)
		fail_msg("unpack_package: -1 (%s)", c->err);
}

static size_t
count_code(const struct findings *f, const char *code)
{
	size_t i, n = 0;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->items[i].code, code) == 0)
			n++;
	return n;
}

/* Prints the findings, for a failing test's log. */
static void
dump_findings(const struct findings *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		print_message("  finding %s %s: %s\n", f->items[i].code,
		    f->items[i].path ? f->items[i].path : "-",
		    f->items[i].message);
}

static const struct unpacked_file *
find_result(const struct unpack_result *r, const char *path)
{
	size_t i;

	for (i = 0; i < r->nfiles; i++)
		if (strcmp(r->files[i].path, path) == 0)
			return &r->files[i];
	return NULL;
}

/* The file rel in the work folder holds exactly data, and the result
 * names it with the right size and SHA-256. */
static void
assert_unpacked(struct ctx *c, const char *rel, const void *data, size_t len)
{
	const struct unpacked_file *uf;
	char path[512], want[65], got[65];
	unsigned char *buf;
	size_t n = 0;

	if ((uf = find_result(&c->res, rel)) == NULL)
		fail_msg("%s: not in the result", rel);
	assert_int_equal(uf->size, len);
	sha256_hex(data, len, want);
	assert_string_equal(uf->sha256, want);
	snprintf(path, sizeof(path), "%s/%s", c->work, rel);
	if ((buf = read_file(path, &n)) == NULL)
		fail_msg("%s: not on disk", path);
	sha256_hex(buf, n, got);
	if (n != len || memcmp(buf, data, len) != 0) {
		free(buf);
		fail_msg("%s: the bytes on disk differ", rel);
	}
	free(buf);
	assert_string_equal(got, want);
}

static int
exists(const char *dir, const char *rel)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return lstat(path, &st) == 0;
}

/* Whether the regular file rel is under dir, walked one folder at a time
 * (rel may be longer than PATH_MAX). */
static int
exists_deep(const char *dir, const char *rel)
{
	char *copy, *seg, *next;
	struct stat st;
	int fd, nfd, ok = 0;

	assert_non_null(copy = strdup(rel));
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) == -1) {
		free(copy);
		return 0;
	}
	for (seg = copy; (next = strchr(seg, '/')) != NULL; seg = next + 1) {
		*next = '\0';
		nfd = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		close(fd);
		if ((fd = nfd) == -1)
			break;
	}
	if (fd != -1) {
		ok = fstatat(fd, seg, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode);
		close(fd);
	}
	free(copy);
	return ok;
}

/* nftw() has no user pointer: the name sought and the hits. */
static const char	*walk_name;
static int		 walk_hits;

static int
walk_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (strcmp(path + ftw->base, walk_name) == 0)
		walk_hits++;
	return 0;
}

/* How many entries named name are under dir. */
static int
count_named(const char *dir, const char *name)
{
	walk_name = name;
	walk_hits = 0;
	nftw(dir, walk_cb, 16, FTW_PHYS);
	return walk_hits;
}

static int
setup(void **state)
{
	struct ctx *c;
	char path[128];

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	snprintf(c->tmp, sizeof(c->tmp), "/tmp/sailo-unpack.XXXXXX");
	if (mkdtemp(c->tmp) == NULL) {
		free(c);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/d1", c->tmp);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/d1/d2", c->tmp);
	mkdir(path, 0700);
	snprintf(c->pkg, sizeof(c->pkg), "%s/pkg", c->tmp);
	snprintf(c->work, sizeof(c->work), "%s/d1/d2/work", c->tmp);
	c->lim.max_entries = 1000;
	c->lim.max_unpacked_bytes = 1ULL << 30;
	c->lim.max_ratio = 200;
	findings_init(&c->f);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	unpack_result_free(&c->res);
	findings_free(&c->f);
	unpack_remove(c->work);
	unpack_remove(c->tmp);
	free(c);
	return 0;
}

/* The valid package of tests 1 and 2, in any format and filter. */
static void
check_valid(struct ctx *c, enum tformat fmt, enum tfilter filter)
{
	const struct tentry ents[] = {
		{ "Päätös 1.pdf", AE_IFREG, pdf_data, sizeof(pdf_data) - 1,
		    NULL, NULL },
		{ "sub/", AE_IFDIR, NULL, 0, NULL, NULL },
		{ "sub/dir/file.txt", AE_IFREG, txt_data,
		    sizeof(txt_data) - 1, NULL, NULL },
		{ "./a.txt", AE_IFREG, a_data, sizeof(a_data) - 1, NULL,
		    NULL },
		{ "empty/", AE_IFDIR, NULL, 0, NULL, NULL },
	};
	struct stat st;
	char path[512];

	write_archive(c->pkg, fmt, filter, ents, 5);
	run_unpack(c);
	dump_findings(&c->f);
	assert_int_equal(c->f.n, 0);
	assert_int_equal(c->f.errors, 0);
	assert_int_equal(c->res.nfiles, 3);
	assert_int_equal(c->res.entries, 5);
	assert_string_equal(c->res.files[0].path, "Päätös 1.pdf");
	assert_string_equal(c->res.files[1].path, "sub/dir/file.txt");
	assert_string_equal(c->res.files[2].path, "a.txt");
	assert_unpacked(c, "Päätös 1.pdf", pdf_data, sizeof(pdf_data) - 1);
	assert_unpacked(c, "sub/dir/file.txt", txt_data,
	    sizeof(txt_data) - 1);
	assert_unpacked(c, "a.txt", a_data, sizeof(a_data) - 1);
	assert_true(exists_deep(c->work, "sub/dir/file.txt"));
	assert_int_equal(c->res.bytes, sizeof(pdf_data) - 1 +
	    sizeof(txt_data) - 1 + sizeof(a_data) - 1);
	snprintf(path, sizeof(path), "%s/empty", c->work);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

static void
test_valid_tar_unpacks_exactly(void **state)
{
	check_valid(*state, TF_PAX, TF_NONE);
}

static void
test_valid_zip_unpacks_exactly(void **state)
{
	check_valid(*state, TF_ZIP, TF_NONE);
}

static void
test_valid_tar_gz_unpacks_exactly(void **state)
{
	check_valid(*state, TF_PAX, TF_GZIP);
}

static void
test_valid_tar_zst_unpacks_exactly(void **state)
{
	check_valid(*state, TF_PAX, TF_ZSTD);
}

static void
test_absolute_path_is_unsafe_and_not_written(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "/etc/passwd-x", AE_IFREG, "root::0:0\n", 10, NULL, NULL },
		{ "ok.txt", AE_IFREG, a_data, 1, NULL, NULL },
	};
	struct stat st;
	int before;

	before = lstat("/etc/passwd-x", &st) == 0;
	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 2);
	run_unpack(c);
	assert_true(findings_has(&c->f, "UNSAFE_PATH"));
	assert_int_equal(c->f.errors, 1);
	assert_int_equal(c->res.nfiles, 1);
	assert_string_equal(c->res.files[0].path, "ok.txt");
	if (!before)
		assert_int_not_equal(lstat("/etc/passwd-x", &st), 0);
	assert_int_equal(count_named(c->tmp, "passwd-x"), 0);
	assert_false(exists(c->work, "etc"));
}

static void
test_dotdot_paths_are_unsafe_and_not_written(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "../escape.txt", AE_IFREG, "x", 1, NULL, NULL },
		{ "a/../../escape.txt", AE_IFREG, "x", 1, NULL, NULL },
		{ "ok.txt", AE_IFREG, a_data, 1, NULL, NULL },
	};

	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 3);
	run_unpack(c);
	assert_int_equal(count_code(&c->f, "UNSAFE_PATH"), 2);
	assert_int_equal(c->f.errors, 2);
	assert_int_equal(c->res.nfiles, 1);
	assert_int_equal(count_named(c->tmp, "escape.txt"), 0);
}

static void
test_zip_backslash_dotdot_is_unsafe(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "..\\..\\escape.txt", AE_IFREG, "x", 1, NULL, NULL },
		{ "..\\escape.txt", AE_IFREG, "x", 1, NULL, NULL },
	};

	write_archive(c->pkg, TF_ZIP, TF_NONE, ents, 2);
	run_unpack(c);
	assert_int_equal(count_code(&c->f, "UNSAFE_PATH"), 2);
	assert_int_equal(c->res.nfiles, 0);
	assert_int_equal(count_named(c->tmp, "escape.txt"), 0);
	assert_int_equal(count_named(c->tmp, "..\\..\\escape.txt"), 0);
	assert_int_equal(count_named(c->tmp, "..\\escape.txt"), 0);
}

static void
test_links_are_unsafe_and_the_rest_unpacked(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "a.txt", AE_IFREG, a_data, 1, NULL, NULL },
		{ "sym", AE_IFLNK, NULL, 0, "a.txt", NULL },
		{ "hard", AE_IFREG, NULL, 0, NULL, "a.txt" },
		{ "b.txt", AE_IFREG, txt_data, sizeof(txt_data) - 1, NULL,
		    NULL },
	};

	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 4);
	run_unpack(c);
	assert_int_equal(count_code(&c->f, "UNSAFE_LINK"), 2);
	assert_int_equal(c->f.errors, 2);
	assert_int_equal(c->res.nfiles, 2);
	assert_unpacked(c, "a.txt", a_data, 1);
	assert_unpacked(c, "b.txt", txt_data, sizeof(txt_data) - 1);
	assert_false(exists(c->work, "sym"));
	assert_false(exists(c->work, "hard"));
}

static void
test_fifo_and_device_are_unsafe_type(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "pipe", AE_IFIFO, NULL, 0, NULL, NULL },
		{ "tty", AE_IFCHR, NULL, 0, NULL, NULL },
		{ "a.txt", AE_IFREG, a_data, 1, NULL, NULL },
	};

	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 3);
	run_unpack(c);
	assert_int_equal(count_code(&c->f, "UNSAFE_TYPE"), 2);
	assert_int_equal(c->f.errors, 2);
	assert_int_equal(c->res.nfiles, 1);
	assert_unpacked(c, "a.txt", a_data, 1);
	assert_false(exists(c->work, "pipe"));
	assert_false(exists(c->work, "tty"));
}

static void
test_case_duplicates_are_duplicate_name(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "Readme.txt", AE_IFREG, a_data, 1, NULL, NULL },
		{ "README.TXT", AE_IFREG, txt_data, sizeof(txt_data) - 1,
		    NULL, NULL },
	};

	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 2);
	run_unpack(c);
	assert_true(findings_has(&c->f, "DUPLICATE_NAME"));
	assert_int_equal(c->f.errors, 1);
	assert_int_equal(c->res.nfiles, 1);
	assert_unpacked(c, "Readme.txt", a_data, 1);
	assert_false(exists(c->work, "README.TXT"));
}

static void
test_nfc_nfd_duplicates_are_duplicate_name(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "\xc3\xa4.txt", AE_IFREG, a_data, 1, NULL, NULL },
		{ "a\xcc\x88.txt", AE_IFREG, a_data, 1, NULL, NULL },
	};

	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 2);
	run_unpack(c);
	assert_true(findings_has(&c->f, "DUPLICATE_NAME"));
	assert_int_equal(c->f.errors, 1);
	assert_int_equal(c->res.nfiles, 1);
	assert_false(exists(c->work, "a\xcc\x88.txt"));
}

static void
test_file_then_file_below_it_is_duplicate_name(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "a", AE_IFREG, a_data, 1, NULL, NULL },
		{ "a/b", AE_IFREG, a_data, 1, NULL, NULL },
	};

	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 2);
	run_unpack(c);
	assert_true(findings_has(&c->f, "DUPLICATE_NAME"));
	assert_int_equal(c->f.errors, 1);
	assert_int_equal(c->res.nfiles, 1);
	assert_unpacked(c, "a", a_data, 1);
}

static void
test_file_below_then_file_is_duplicate_name(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "a/b", AE_IFREG, a_data, 1, NULL, NULL },
		{ "a", AE_IFREG, a_data, 1, NULL, NULL },
	};

	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 2);
	run_unpack(c);
	assert_true(findings_has(&c->f, "DUPLICATE_NAME"));
	assert_int_equal(c->f.errors, 1);
	assert_int_equal(c->res.nfiles, 1);
	assert_unpacked(c, "a/b", a_data, 1);
}

/* A folder entry where a file already is: a file and a folder at once. */
static void
test_file_then_folder_entry_is_duplicate_name(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "a", AE_IFREG, a_data, 1, NULL, NULL },
		{ "a/", AE_IFDIR, NULL, 0, NULL, NULL },
	};

	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 2);
	run_unpack(c);
	dump_findings(&c->f);
	assert_true(findings_has(&c->f, "DUPLICATE_NAME"));
	assert_int_equal(c->f.errors, 1);
}

/* A file and a folder whose names differ only in case: the same name
 * after case folding, so a file where a folder is. */
static void
test_file_then_folder_in_other_case_is_duplicate_name(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "Readme", AE_IFREG, a_data, 1, NULL, NULL },
		{ "README/x.txt", AE_IFREG, a_data, 1, NULL, NULL },
	};

	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 2);
	run_unpack(c);
	dump_findings(&c->f);
	assert_true(findings_has(&c->f, "DUPLICATE_NAME"));
	assert_int_equal(c->f.errors, 1);
}

/* A name longer than a path can be: refused with a finding, or unpacked
 * under its whole name, never under a shortened one. */
static void
test_overlong_path_is_refused_not_cut(void **state)
{
	struct ctx *c = *state;
	struct tentry ents[1];
	char name[4400], seg[201];
	size_t len = 0;
	int i;

	memset(seg, 'x', 200);
	seg[200] = '\0';
	for (i = 0; i < 20; i++)
		len += (size_t)snprintf(name + len, sizeof(name) - len,
		    "%02d%s/", i, seg);
	snprintf(name + len, sizeof(name) - len, "f.txt");
	ents[0] = (struct tentry){ name, AE_IFREG, a_data, 1, NULL, NULL };
	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 1);
	run_unpack(c);
	dump_findings(&c->f);
	if (c->res.nfiles == 1) {
		assert_string_equal(c->res.files[0].path, name);
		assert_true(exists_deep(c->work, name));
	} else
		assert_true(c->f.errors > 0);
}

/* A part longer than a file system stores (NAME_MAX) is a finding, not a
 * failure of Sailo's that would be tried again and again. */
static void
test_overlong_name_part_is_unsafe_path(void **state)
{
	struct ctx *c = *state;
	struct tentry ents[2];
	char name[600], ok[300];
	size_t i;

	for (i = 0; i < 150; i++)		/* 300 bytes of "ä" */
		memcpy(name + 2 * i, "\xc3\xa4", 2);
	snprintf(name + 300, sizeof(name) - 300, ".pdf");
	memset(ok, 'o', 255);
	ok[255] = '\0';			/* exactly NAME_MAX: taken */
	ents[0] = (struct tentry){ name, AE_IFREG, a_data, 1, NULL, NULL };
	ents[1] = (struct tentry){ ok, AE_IFREG, a_data, 1, NULL, NULL };
	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 2);
	run_unpack(c);
	assert_int_equal(count_code(&c->f, "UNSAFE_PATH"), 1);
	assert_int_equal(c->res.nfiles, 1);
	assert_string_equal(c->res.files[0].path, ok);
}

static void
test_too_many_entries_is_unpack_limit(void **state)
{
	struct ctx *c = *state;
	struct tentry ents[10];
	char names[10][16];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d.txt", i);
		ents[i] = (struct tentry){ names[i], AE_IFREG, a_data, 1,
		    NULL, NULL };
	}
	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 10);
	c->lim.max_entries = 5;
	run_unpack(c);
	assert_true(findings_has(&c->f, "UNPACK_LIMIT"));
	assert_int_equal(c->f.errors, 1);
	assert_int_equal(c->res.nfiles, 5);
	assert_false(exists(c->work, "f5.txt"));
}

static void
test_too_many_bytes_is_unpack_limit(void **state)
{
	struct ctx *c = *state;
	unsigned char data[5000];
	const struct tentry ents[] = {
		{ "big.bin", AE_IFREG, data, sizeof(data), NULL, NULL },
	};
	size_t n = 0;
	unsigned char *buf;
	char path[512];

	fill_random(data, sizeof(data), 1);
	write_archive(c->pkg, TF_PAX, TF_NONE, ents, 1);
	c->lim.max_unpacked_bytes = 1000;
	run_unpack(c);
	assert_true(findings_has(&c->f, "UNPACK_LIMIT"));
	assert_int_equal(c->f.errors, 1);
	assert_int_equal(c->res.nfiles, 0);
	snprintf(path, sizeof(path), "%s/big.bin", c->work);
	if ((buf = read_file(path, &n)) != NULL) {
		free(buf);
		assert_true(n < sizeof(data));
	}
}

/* A bomb is found and unpacking stops long before the 64 MiB. */
static void
check_bomb(struct ctx *c, enum tformat fmt, enum tfilter filter)
{
	const struct tentry ents[] = {
		{ "zeros.bin", AE_IFREG, NULL, BOMB_SIZE, NULL, NULL },
	};
	struct stat st;
	char path[512];

	write_archive(c->pkg, fmt, filter, ents, 1);
	assert_int_equal(stat(c->pkg, &st), 0);
	assert_true(st.st_size < BOMB_SIZE / 200);
	run_unpack(c);
	assert_true(findings_has(&c->f, "ARCHIVE_BOMB"));
	assert_int_equal(c->f.errors, 1);
	assert_true(c->res.bytes < 8 * MIB);
	/* the partial file stays; it is not in the result */
	snprintf(path, sizeof(path), "%s/zeros.bin", c->work);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size < 8 * MIB);
}

static void
test_gzip_bomb_is_archive_bomb(void **state)
{
	check_bomb(*state, TF_PAX, TF_GZIP);
}

static void
test_zstd_bomb_is_archive_bomb(void **state)
{
	check_bomb(*state, TF_PAX, TF_ZSTD);
}

static void
test_zip_deflate_bomb_is_archive_bomb(void **state)
{
	check_bomb(*state, TF_ZIP, TF_NONE);
}

static void
test_incompressible_tar_gz_is_no_bomb(void **state)
{
	struct ctx *c = *state;
	unsigned char *data;
	struct tentry ents[1];

	assert_non_null(data = malloc(3 * MIB));
	fill_random(data, 3 * MIB, 7);
	ents[0] = (struct tentry){ "random.bin", AE_IFREG, data, 3 * MIB,
	    NULL, NULL };
	write_archive(c->pkg, TF_PAX, TF_GZIP, ents, 1);
	run_unpack(c);
	dump_findings(&c->f);
	if (findings_has(&c->f, "ARCHIVE_BOMB")) {
		free(data);
		fail_msg("random bytes taken for a bomb");
	}
	assert_int_equal(c->f.errors, 0);
	assert_int_equal(c->res.nfiles, 1);
	assert_unpacked(c, "random.bin", data, 3 * MIB);
	free(data);
}

static void
test_truncated_tar_gz_is_archive_corrupt(void **state)
{
	struct ctx *c = *state;
	unsigned char *data;
	struct tentry ents[1];
	struct stat st;

	assert_non_null(data = malloc(MIB));
	fill_random(data, MIB, 3);
	ents[0] = (struct tentry){ "random.bin", AE_IFREG, data, MIB, NULL,
	    NULL };
	write_archive(c->pkg, TF_PAX, TF_GZIP, ents, 1);
	free(data);
	assert_int_equal(stat(c->pkg, &st), 0);
	assert_int_equal(truncate(c->pkg, st.st_size / 2), 0);
	run_unpack(c);
	assert_true(findings_has(&c->f, "ARCHIVE_CORRUPT"));
	assert_true(c->f.errors > 0);
	assert_int_equal(c->res.nfiles, 0);
}

static void
test_bad_second_header_checksum_is_archive_corrupt(void **state)
{
	struct ctx *c = *state;
	const struct tentry ents[] = {
		{ "one.txt", AE_IFREG, txt_data, sizeof(txt_data) - 1, NULL,
		    NULL },
		{ "two.txt", AE_IFREG, txt_data, sizeof(txt_data) - 1, NULL,
		    NULL },
	};
	FILE *fp;
	long off;

	write_archive(c->pkg, TF_USTAR, TF_NONE, ents, 2);
	/* header 512, data padded to 512: the second header is at 1024;
	 * its checksum field is 8 bytes at 148 */
	off = 512 + 512;
	assert_non_null(fp = fopen(c->pkg, "r+b"));
	assert_int_equal(fseek(fp, off + 148, SEEK_SET), 0);
	assert_int_equal(fwrite("garbage!", 1, 8, fp), 8);
	assert_int_equal(fclose(fp), 0);
	run_unpack(c);
	assert_true(findings_has(&c->f, "ARCHIVE_CORRUPT"));
	assert_int_equal(c->f.errors, 1);
	assert_int_equal(c->res.nfiles, 1);
	assert_unpacked(c, "one.txt", txt_data, sizeof(txt_data) - 1);
	assert_false(exists(c->work, "two.txt"));
}

static void
test_random_bytes_are_no_archive(void **state)
{
	struct ctx *c = *state;
	unsigned char data[8192];

	fill_random(data, sizeof(data), 11);
	write_file(c->pkg, data, sizeof(data));
	run_unpack(c);
	assert_true(c->f.errors > 0);
	assert_true(findings_has(&c->f, "ARCHIVE_FORMAT") ||
	    findings_has(&c->f, "ARCHIVE_CORRUPT"));
	assert_int_equal(c->res.nfiles, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_valid_tar_unpacks_exactly),
		T(test_valid_zip_unpacks_exactly),
		T(test_valid_tar_gz_unpacks_exactly),
		T(test_valid_tar_zst_unpacks_exactly),
		T(test_absolute_path_is_unsafe_and_not_written),
		T(test_dotdot_paths_are_unsafe_and_not_written),
		T(test_zip_backslash_dotdot_is_unsafe),
		T(test_links_are_unsafe_and_the_rest_unpacked),
		T(test_fifo_and_device_are_unsafe_type),
		T(test_case_duplicates_are_duplicate_name),
		T(test_nfc_nfd_duplicates_are_duplicate_name),
		T(test_file_then_file_below_it_is_duplicate_name),
		T(test_file_below_then_file_is_duplicate_name),
		T(test_file_then_folder_entry_is_duplicate_name),
		T(test_file_then_folder_in_other_case_is_duplicate_name),
		T(test_overlong_path_is_refused_not_cut),
		T(test_overlong_name_part_is_unsafe_path),
		T(test_too_many_entries_is_unpack_limit),
		T(test_too_many_bytes_is_unpack_limit),
		T(test_gzip_bomb_is_archive_bomb),
		T(test_zstd_bomb_is_archive_bomb),
		T(test_zip_deflate_bomb_is_archive_bomb),
		T(test_incompressible_tar_gz_is_no_bomb),
		T(test_truncated_tar_gz_is_archive_corrupt),
		T(test_bad_second_header_checksum_is_archive_corrupt),
		T(test_random_bytes_are_no_archive),
#undef T
	};

	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
