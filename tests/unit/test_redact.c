/*
 * test_redact.c — unit tests of what disposal does to files: metadata.csv
 * without the rows of destroyed records (csvmeta_redact, every other byte
 * kept), SÄHKE2 metadata without their Record elements or, with none
 * left, a stub (redact_sahke2), and a bag brought up to date in place
 * after files are gone and metadata changed (aip_remanifest: manifests,
 * Payload-Oxum and tag manifests recomputed here independently).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingest.h"
#include "package.h"

struct rt {
	char	dir[64];
	char	err[512];
};

static int
setup(void **state)
{
	struct rt *t = calloc(1, sizeof(*t));

	snprintf(t->dir, sizeof(t->dir), "/tmp/sailo-redact-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct rt *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static char *
read_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

/* gone: the NativeIds in the NULL-ended list arg */
static bool
gone(const char *native_id, void *arg)
{
	const char *const *ids = arg;

	for (; *ids; ids++)
		if (strcmp(*ids, native_id) == 0)
			return true;
	return false;
}

/* ---- metadata.csv ------------------------------------------------------ */

static void
test_csv_rows_of_gone_records_go_and_every_other_byte_stays(void **state)
{
	struct rt *t = *state;
	const char *ids[] = { "N2", NULL };
	char src[128], dst[128], *out;
	size_t left = 0;
	static const char head[] = "\xef\xbb\xbfpath;native_id;title;person_ssn\r\n";
	static const char r1[] = "a.pdf;N1;\"Otsikko; yksi\";\r\n";
	static const char r2[] = "b.pdf; N2 ;\"Kaksi\nriviä \"\"lainaus\"\"\";"
	    "131052-308T\r\n";
	static const char r3[] = "c.pdf;N3;Kolme;";	/* no line end */

	snprintf(src, sizeof(src), "%s/in.csv", t->dir);
	snprintf(dst, sizeof(dst), "%s/out.csv", t->dir);
	out = malloc(1024);
	snprintf(out, 1024, "%s%s%s%s", head, r1, r2, r3);
	write_file(src, out);
	free(out);
	assert_int_equal(csvmeta_redact(src, dst, gone, (void *)ids, &left,
	    t->err, sizeof(t->err)), 0);
	assert_int_equal(left, 2);
	out = read_file(dst);
	/* the BOM, the header, N1's quoted ';' and N3's missing line end as
	 * they were; N2's row, quoted line break and identity code gone */
	assert_int_equal(strncmp(out, head, strlen(head)), 0);
	assert_string_equal(out + strlen(head), "a.pdf;N1;\"Otsikko; yksi\";"
	    "\r\nc.pdf;N3;Kolme;");
	assert_null(strstr(out, "131052-308T"));
	free(out);
}

static void
test_csv_without_a_native_id_column_is_refused(void **state)
{
	struct rt *t = *state;
	const char *ids[] = { "N1", NULL };
	char src[128], dst[128];
	size_t left;

	snprintf(src, sizeof(src), "%s/in.csv", t->dir);
	snprintf(dst, sizeof(dst), "%s/out.csv", t->dir);
	write_file(src, "path,title\na.pdf,N1\n");
	assert_int_equal(csvmeta_redact(src, dst, gone, (void *)ids, &left,
	    t->err, sizeof(t->err)), -1);
	assert_non_null(strstr(t->err, "native_id"));
}

/* ---- SÄHKE2 ------------------------------------------------------------ */

#define META \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<Metadata xmlns=\"http://www.arkisto.fi/skeemat/Sahke2/2019/10/09\">" \
	"<CaseFile><NativeId>HEL 1</NativeId><Title>Asia Virtanen</Title>" \
	"<Record><NativeId>N1</NativeId><Title>Salainen yksi</Title>" \
	"</Record><Record><NativeId> N2 </NativeId><Title>Kaksi</Title>" \
	"</Record></CaseFile></Metadata>\n"

static void
test_sahke2_gone_records_become_comments(void **state)
{
	struct rt *t = *state;
	const char *ids[] = { "N1", NULL };
	char src[128], dst[128], *out;
	size_t left = 0;

	snprintf(src, sizeof(src), "%s/in.xml", t->dir);
	snprintf(dst, sizeof(dst), "%s/out.xml", t->dir);
	write_file(src, META);
	assert_int_equal(redact_sahke2(src, dst, gone, (void *)ids,
	    "batch-1", &left, t->err, sizeof(t->err)), 0);
	assert_int_equal(left, 1);
	out = read_file(dst);
	assert_null(strstr(out, "Salainen yksi"));
	assert_non_null(strstr(out, "<!-- Record N1 destroyed by disposal "
	    "batch batch-1 -->"));
	assert_non_null(strstr(out, "<Title>Kaksi</Title>"));
	assert_non_null(strstr(out, "<Title>Asia Virtanen</Title>"));
	free(out);
}

static void
test_sahke2_with_no_record_left_is_a_stub(void **state)
{
	struct rt *t = *state;
	const char *ids[] = { "N1", "N2", NULL };
	char src[128], dst[128], *out;
	size_t left = 9;

	snprintf(src, sizeof(src), "%s/in.xml", t->dir);
	snprintf(dst, sizeof(dst), "%s/out.xml", t->dir);
	write_file(src, META);
	assert_int_equal(redact_sahke2(src, dst, gone, (void *)ids,
	    "batch-2", &left, t->err, sizeof(t->err)), 0);
	assert_int_equal(left, 0);
	out = read_file(dst);
	assert_non_null(strstr(out, "<DisposedMetadata xmlns=\"urn:x-sailo:"
	    "disposal:1\">"));
	assert_non_null(strstr(out, "<CaseFile>HEL 1</CaseFile>"));
	assert_non_null(strstr(out, "<DisposalBatch>batch-2</DisposalBatch>"));
	assert_null(strstr(out, "Virtanen"));
	assert_null(strstr(out, "Kaksi"));
	free(out);
}

/* ---- a bag again ---------------------------------------------------------- */

static void
hex_of(const char *path, const EVP_MD *md, char *hex)
{
	char err[256];

	assert_int_equal(digest_file(path, md, hex, NULL, err, sizeof(err)),
	    0);
}

static bool
drop_b(const char *path, void *arg)
{
	(void)arg;
	return strcmp(path, "data/content/b.pdf") == 0;
}

static int changed_calls;

static void
changed(const char *path, const char *sha256, uint64_t size, void *arg)
{
	(void)arg;
	assert_string_equal(path, "data/metadata/sahke2.xml");
	assert_int_equal(strlen(sha256), 64);
	assert_int_equal(size, 7);
	changed_calls++;
}

static void
test_remanifest_drops_files_and_recomputes_the_rest(void **state)
{
	struct rt *t = *state;
	char a[128], b[128], m[128], bag[128], path[192], hex[129], tag[65];
	char line[512], *info, *man, *tags, sha_a[65], sha_b[65], sha_m[65];
	struct aip_file files[3];
	const char *lines[] = { "Sailo-AIP-Id: x", NULL };
	struct aip_spec spec;
	FILE *fp;

	snprintf(a, sizeof(a), "%s/a.pdf", t->dir);
	snprintf(b, sizeof(b), "%s/b.pdf", t->dir);
	snprintf(m, sizeof(m), "%s/m.xml", t->dir);
	snprintf(bag, sizeof(bag), "%s/bag", t->dir);
	write_file(a, "aaaa");
	write_file(b, "bbbbbbbb");
	write_file(m, "<x>old</x>");
	hex_of(a, EVP_sha256(), sha_a);
	hex_of(b, EVP_sha256(), sha_b);
	hex_of(m, EVP_sha256(), sha_m);
	files[0] = (struct aip_file){ a, "data/content/a.pdf", 4, "", NULL };
	files[1] = (struct aip_file){ b, "data/content/b.pdf", 8, "", NULL };
	files[2] = (struct aip_file){ m, "data/metadata/sahke2.xml", 10, "",
	    NULL };
	snprintf(files[0].sha256, 65, "%s", sha_a);
	snprintf(files[1].sha256, 65, "%s", sha_b);
	snprintf(files[2].sha256, 65, "%s", sha_m);
	spec = (struct aip_spec){ bag, files, 3, lines, true };
	assert_int_equal(aip_write(&spec, tag, t->err, sizeof(t->err)), 0);

	/* the metadata redacted in place (a new file), b.pdf to go */
	snprintf(path, sizeof(path), "%s/data/metadata/sahke2.xml", bag);
	assert_int_equal(unlink(path), 0);
	write_file(path, "<x/>\n\n\n");
	changed_calls = 0;
	assert_int_equal(aip_remanifest(bag, drop_b, changed, NULL, tag,
	    t->err, sizeof(t->err)), 0);
	assert_int_equal(changed_calls, 1);
	snprintf(path, sizeof(path), "%s/data/content/b.pdf", bag);
	assert_int_equal(access(path, F_OK), -1);

	snprintf(path, sizeof(path), "%s/manifest-sha256.txt", bag);
	man = read_file(path);
	snprintf(path, sizeof(path), "%s/data/metadata/sahke2.xml", bag);
	hex_of(path, EVP_sha256(), hex);
	snprintf(line, sizeof(line), "%s  data/content/a.pdf\n%s  "
	    "data/metadata/sahke2.xml\n", sha_a, hex);
	assert_string_equal(man, line);
	free(man);
	snprintf(path, sizeof(path), "%s/manifest-sha512.txt", bag);
	man = read_file(path);
	assert_null(strstr(man, "b.pdf"));
	free(man);

	snprintf(path, sizeof(path), "%s/bag-info.txt", bag);
	info = read_file(path);
	assert_non_null(strstr(info, "Payload-Oxum: 11.2\n"));
	assert_non_null(strstr(info, "Sailo-AIP-Id: x\n"));
	assert_null(strstr(info, "Payload-Oxum: 22.3"));
	free(info);

	/* the tag manifest over the files as they are now */
	snprintf(path, sizeof(path), "%s/tagmanifest-sha256.txt", bag);
	tags = read_file(path);
	hex_of(path, EVP_sha256(), hex);
	assert_string_equal(hex, tag);
	fp = fmemopen(tags, strlen(tags), "r");
	while (fgets(line, sizeof(line), fp)) {
		char *sp = strchr(line, ' ');

		*sp = '\0';
		sp[strlen(sp + 2) + 1] = '\0';	/* the newline */
		snprintf(path, sizeof(path), "%s/%s", bag, sp + 2);
		hex_of(path, EVP_sha256(), hex);
		assert_string_equal(line, hex);
	}
	fclose(fp);
	free(tags);

	/* again, as after a crash: the same bag, and the metadata's digest
	 * told again (the caller may not have recorded it the first time) */
	snprintf(path, sizeof(path), "%s/manifest-sha256.txt", bag);
	man = read_file(path);
	changed_calls = 0;
	assert_int_equal(aip_remanifest(bag, drop_b, changed, NULL, tag,
	    t->err, sizeof(t->err)), 0);
	assert_int_equal(changed_calls, 1);
	info = read_file(path);
	assert_string_equal(info, man);
	free(info);
	free(man);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_csv_rows_of_gone_records_go_and_every_other_byte_stays,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_csv_without_a_native_id_column_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_sahke2_gone_records_become_comments, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sahke2_with_no_record_left_is_a_stub, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_remanifest_drops_files_and_recomputes_the_rest, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
