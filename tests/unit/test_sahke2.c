/*
 * test_sahke2.c — unit tests of formats/sahke2.c and formats/package.c: a
 * SÄHKE2 metadata file is built in memory from one case file (the
 * Lupapiste sample in /work/shared/data/samples, pretty-printed, with a
 * person, two Finished dates, a sub-folder path and a Custom holding an
 * xi:include), spoiled in one place with subst(), written to a mkdtemp()
 * folder and read with sahke2_read(); then the findings' codes, lines and
 * messages and the package model are checked.  package_check_files() is
 * tested on a model built by hand and files on disk.  Memory use on a
 * 100,000-record file is measured outside the unit tests (ASan's own
 * memory would hide it).
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
#include "package.h"

#define NS_2019		"http://www.arkisto.fi/skeemat/Sahke2/2019/08/29"
#define NS_2011		"http://www.arkisto.fi/skeemat/Sahke2/2011/12/20"
#define HASH1_UPPER	"9F2C5A4E0B1D7C3A9F2C5A4E0B1D7C3A" \
			"9F2C5A4E0B1D7C3A9F2C5A4E0B1D7C3A"
#define HASH2		"0123456789abcdef0123456789abcdef" \
			"0123456789abcdef0123456789abcdef"
#define SSN_VALID	"131052-308T"

/* One case file, as in the sample; "LP-091-2021-90002" is its NativeId. */
static const char casefile_xml[] =
	"<narc:CaseFile>\n"
	"	<narc:Created>2021-08-31+03:00</narc:Created>\n"
	"	<narc:NativeId>LP-091-2021-90002</narc:NativeId>\n"
	"	<narc:Language>fi</narc:Language>\n"
	"	<narc:Restriction>\n"
	"		<narc:PublicityClass>Julkinen</narc:PublicityClass>\n"
	"		<narc:PersonalData>sisältää henkilötietoja</narc:PersonalData>\n"
	"		<narc:Person>\n"
	"			<narc:Name>Maija Meikäläinen</narc:Name>\n"
	"			<narc:Ssn>131052-308t</narc:Ssn>\n"
	"		</narc:Person>\n"
	"	</narc:Restriction>\n"
	"	<narc:Title>Käsittelyprosessi: LP-091-2021-90002</narc:Title>\n"
	"	<narc:RetentionPeriod>-1</narc:RetentionPeriod>\n"
	"	<narc:RetentionReason>AL/17413/07.01.01.03.01/2016</narc:RetentionReason>\n"
	"	<narc:Status>valmis</narc:Status>\n"
	"	<narc:ClassificationScheme>\n"
	"		<narc:MainFunction>\n"
	"			<narc:Title>Maankäyttö, Rakentaminen ja Asuminen</narc:Title>\n"
	"			<narc:FunctionCode>10</narc:FunctionCode>\n"
	"			<narc:FunctionClassification>\n"
	"				<narc:Title>Rakentaminen, ylläpito ja käyttö</narc:Title>\n"
	"				<narc:FunctionCode>10 03</narc:FunctionCode>\n"
	"				<narc:SubFunction>\n"
	"					<narc:Title>Rakennusvalvonta</narc:Title>\n"
	"					<narc:FunctionCode>10 03 00</narc:FunctionCode>\n"
	"					<narc:SubFunction>\n"
	"						<narc:Title>Rakennuslupamenettely</narc:Title>\n"
	"						<narc:FunctionCode>10 03 00 09</narc:FunctionCode>\n"
	"					</narc:SubFunction>\n"
	"				</narc:SubFunction>\n"
	"			</narc:FunctionClassification>\n"
	"		</narc:MainFunction>\n"
	"	</narc:ClassificationScheme>\n"
	"	<narc:Function>10.03.00.09</narc:Function>\n"
	"	<narc:Agent>\n"
	"		<narc:Role>responsible</narc:Role>\n"
	"		<narc:Name/>\n"
	"	</narc:Agent>\n"
	"	<narc:Finished>2021-09-30+03:00</narc:Finished>\n"
	"	<narc:Finished>2021-10-01Z</narc:Finished>\n"
	"	<narc:Action>\n"
	"		<narc:Created>2021-08-31+03:00</narc:Created>\n"
	"		<narc:Title>Ennakkoneuvottelut</narc:Title>\n"
	"		<narc:Agent>\n"
	"			<narc:Role>registrar</narc:Role>\n"
	"			<narc:Name>Helsinki Hannu</narc:Name>\n"
	"		</narc:Agent>\n"
	"		<narc:Type>Ennakkoneuvottelut</narc:Type>\n"
	"		<narc:Record>\n"
	"			<narc:Created>2021-08-31+03:00</narc:Created>\n"
	"			<narc:NativeId>test-file-1</narc:NativeId>\n"
	"			<narc:Language>fi</narc:Language>\n"
	"			<narc:Description>Asemapiirros</narc:Description>\n"
	"			<narc:Restriction>\n"
	"				<narc:PublicityClass>Julkinen</narc:PublicityClass>\n"
	"				<narc:PersonalData>ei sisällä henkilötietoja</narc:PersonalData>\n"
	"			</narc:Restriction>\n"
	"			<narc:Title>Asemapiirros</narc:Title>\n"
	"			<narc:RetentionPeriod>-1</narc:RetentionPeriod>\n"
	"			<narc:RetentionReason>perustelu</narc:RetentionReason>\n"
	"			<narc:Status>arkistoitu</narc:Status>\n"
	"			<narc:Function>10 03 00 01</narc:Function>\n"
	"			<narc:Type>paapiirustus.asemapiirros</narc:Type>\n"
	"			<narc:Authenticity>\n"
	"				<narc:Checker>Lupapiste</narc:Checker>\n"
	"				<narc:Date>2017-04-04+03:00</narc:Date>\n"
	"				<narc:Description>asiakirjan alkuperäisyys todettu</narc:Description>\n"
	"			</narc:Authenticity>\n"
	"			<narc:Version>0.1</narc:Version>\n"
	"			<narc:Document>\n"
	"				<narc:NativeId>test-file-1</narc:NativeId>\n"
	"				<narc:UseType>Arkisto</narc:UseType>\n"
	"				<narc:File>\n"
	"					<narc:Name>test-file-1.pdf</narc:Name>\n"
	"					<narc:Path>.\\sub\\</narc:Path>\n"
	"				</narc:File>\n"
	"				<narc:Format>\n"
	"					<narc:Name>application/pdf</narc:Name>\n"
	"					<narc:Version>-</narc:Version>\n"
	"				</narc:Format>\n"
	"				<narc:HashAlgorithm>SHA-256</narc:HashAlgorithm>\n"
	"				<narc:HashValue>@HASH1@</narc:HashValue>\n"
	"			</narc:Document>\n"
	"			<narc:Agent>\n"
	"				<narc:Role>registrar</narc:Role>\n"
	"				<narc:Name>Helsinki Hannu</narc:Name>\n"
	"			</narc:Agent>\n"
	"		</narc:Record>\n"
	"	</narc:Action>\n"
	"	<narc:Action>\n"
	"		<narc:Created>2021-08-31+03:00</narc:Created>\n"
	"		<narc:Title>Hakeminen</narc:Title>\n"
	"		<narc:Agent>\n"
	"			<narc:Role>registrar</narc:Role>\n"
	"			<narc:Name>Helsinki Hannu</narc:Name>\n"
	"		</narc:Agent>\n"
	"		<narc:Type>Hakeminen</narc:Type>\n"
	"	</narc:Action>\n"
	"	<narc:Action>\n"
	"		<narc:Created>2021-08-31+03:00</narc:Created>\n"
	"		<narc:Title>Päätöksenteko</narc:Title>\n"
	"		<narc:Agent>\n"
	"			<narc:Role>registrar</narc:Role>\n"
	"			<narc:Name>Helsinki Hannu</narc:Name>\n"
	"		</narc:Agent>\n"
	"		<narc:Type>Päätöksenteko</narc:Type>\n"
	"	</narc:Action>\n"
	"	<narc:Action>\n"
	"		<narc:Created>2021-08-31+03:00</narc:Created>\n"
	"		<narc:Title>Tiedoksianto</narc:Title>\n"
	"		<narc:Custom>\n"
	"			<narc:ActionEvent>\n"
	"				<narc:Description>Vaatimus lisätty: Aloituskokous</narc:Description>\n"
	"				<narc:Type>request-review</narc:Type>\n"
	"				<narc:Created>2021-08-31+03:00</narc:Created>\n"
	"				<narc:Agent>\n"
	"					<narc:Role>registrar</narc:Role>\n"
	"					<narc:Name>Helsinki Hannu</narc:Name>\n"
	"				</narc:Agent>\n"
	"			</narc:ActionEvent>\n"
	"			<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"file:///etc/passwd\" parse=\"text\"/>\n"
	"		</narc:Custom>\n"
	"		<narc:Agent>\n"
	"			<narc:Role>registrar</narc:Role>\n"
	"			<narc:Name>Helsinki Hannu</narc:Name>\n"
	"		</narc:Agent>\n"
	"		<narc:Type>Tiedoksianto</narc:Type>\n"
	"		<narc:Record>\n"
	"			<narc:Created>2021-08-31+03:00</narc:Created>\n"
	"			<narc:NativeId>test-file-2</narc:NativeId>\n"
	"			<narc:Language>fi</narc:Language>\n"
	"			<narc:Description>Hulevesisuunnitelma</narc:Description>\n"
	"			<narc:Restriction>\n"
	"				<narc:PublicityClass>Salassa pidettävä</narc:PublicityClass>\n"
	"				<narc:SecurityPeriod>50</narc:SecurityPeriod>\n"
	"				<narc:SecurityPeriodEnd>2067-01-03+02:00</narc:SecurityPeriodEnd>\n"
	"				<narc:SecurityReason>JulkL 24 § 1 mom. 25 k</narc:SecurityReason>\n"
	"				<narc:SecurityClass>Turvallisuusluokka IV</narc:SecurityClass>\n"
	"				<narc:PersonalData>ei sisällä henkilötietoja</narc:PersonalData>\n"
	"			</narc:Restriction>\n"
	"			<narc:Title>Hulevesisuunnitelma</narc:Title>\n"
	"			<narc:RetentionPeriod>-1</narc:RetentionPeriod>\n"
	"			<narc:RetentionReason>perustelu</narc:RetentionReason>\n"
	"			<narc:Status>arkistoitu</narc:Status>\n"
	"			<narc:Function>10 03 00 01</narc:Function>\n"
	"			<narc:Type>erityissuunnitelmat.hulevesisuunnitelma</narc:Type>\n"
	"			<narc:Authenticity>\n"
	"				<narc:Checker>Lupapiste</narc:Checker>\n"
	"				<narc:Date>2017-04-04+03:00</narc:Date>\n"
	"				<narc:Description>asiakirjan alkuperäisyys todettu</narc:Description>\n"
	"			</narc:Authenticity>\n"
	"			<narc:Version>0.1</narc:Version>\n"
	"			<narc:Document>\n"
	"				<narc:NativeId>test-file-2</narc:NativeId>\n"
	"				<narc:UseType>Arkisto</narc:UseType>\n"
	"				<narc:File>\n"
	"					<narc:Name>test-file-2.pdf</narc:Name>\n"
	"					<narc:Path>./</narc:Path>\n"
	"				</narc:File>\n"
	"				<narc:Format>\n"
	"					<narc:Name>application/pdf</narc:Name>\n"
	"					<narc:Version>-</narc:Version>\n"
	"				</narc:Format>\n"
	"				<narc:HashAlgorithm>sha256</narc:HashAlgorithm>\n"
	"				<narc:HashValue>@HASH2@</narc:HashValue>\n"
	"			</narc:Document>\n"
	"			<narc:Agent>\n"
	"				<narc:Role>registrar</narc:Role>\n"
	"				<narc:Name>Helsinki Hannu</narc:Name>\n"
	"			</narc:Agent>\n"
	"		</narc:Record>\n"
	"	</narc:Action>\n"
	"	<narc:Action>\n"
	"		<narc:Created>2021-09-21+03:00</narc:Created>\n"
	"		<narc:Title>Päättäminen</narc:Title>\n"
	"		<narc:Agent>\n"
	"			<narc:Role>registrar</narc:Role>\n"
	"			<narc:Name>Helsinki Hannu</narc:Name>\n"
	"		</narc:Agent>\n"
	"		<narc:Type>Päättäminen</narc:Type>\n"
	"	</narc:Action>\n"
	"</narc:CaseFile>\n";

static const char head_xml[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<narc:Metadata xmlns:narc=\"%s\">\n"
	"	<narc:TransferInformation>\n"
	"		<narc:NativeId>SIIRTO-2021-1</narc:NativeId>\n"
	"		<narc:Title>Lupapisteen rakennusluvat 2021</narc:Title>\n"
	"		<narc:TransferContractId>KA/123/2021</narc:TransferContractId>\n"
	"		<narc:MetadataSchema>%s</narc:MetadataSchema>\n"
	"	</narc:TransferInformation>\n"
	"	<narc:ContactInformation>\n"
	"		<narc:Organisation>\n"
	"			<narc:Name>Helsingin kaupunki</narc:Name>\n"
	"		</narc:Organisation>\n"
	"		<narc:ContactPerson>\n"
	"			<narc:Name>Arkistonhoitaja</narc:Name>\n"
	"			<narc:Address>PL 1, 00099 Helsingin kaupunki</narc:Address>\n"
	"			<narc:PhoneNumber>+358 9 310 1691</narc:PhoneNumber>\n"
	"			<narc:Email>kirjaamo@hel.fi</narc:Email>\n"
	"		</narc:ContactPerson>\n"
	"	</narc:ContactInformation>\n";
static const char tail_xml[] = "</narc:Metadata>\n";

/* What every test gets: a folder, a package, findings. */
struct t {
	char		 root[64];
	char		 extracts[96];
	struct package	 p;
	struct findings	 f;
	char		 err[512];
	char		*doc;
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
group_setup(void **state)
{
	char err[256];

	(void)state;
	return sahke2_init(err, sizeof(err));
}

static int
setup(void **state)
{
	struct t *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	snprintf(t->root, sizeof(t->root), "/tmp/test_sahke2.XXXXXX");
	if (mkdtemp(t->root) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->extracts, sizeof(t->extracts), "%s/extracts", t->root);
	if (mkdir(t->extracts, 0755) == -1)
		return -1;
	package_init(&t->p);
	findings_init(&t->f);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct t *t = *state;

	package_free(&t->p);
	findings_free(&t->f);
	free(t->doc);
	nftw(t->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return 0;
}

/* Replaces the nth (from 1) occurrence of old in *doc by new; every one
 * when nth is 0.  The occurrence must exist. */
static void
subst(char **doc, const char *old, const char *new, int nth)
{
	size_t ol = strlen(old), nl = strlen(new), at;
	char *p = *doc, *d;
	int seen = 0, done = 0;

	while ((p = strstr(p, old)) != NULL) {
		if (nth != 0 && ++seen != nth) {
			p += ol;
			continue;
		}
		at = (size_t)(p - *doc);
		assert_non_null(d = malloc(strlen(*doc) - ol + nl + 1));
		memcpy(d, *doc, at);
		memcpy(d + at, new, nl);
		strcpy(d + at + nl, *doc + at + ol);
		free(*doc);
		*doc = d;
		p = d + at + nl;
		done++;
		if (nth != 0)
			break;
	}
	assert_true(done > 0);
}

/* A Metadata document in namespace ns with n copies of the case file,
 * NativeIds LP-1, LP-2… when n > 1. */
static char *
build(const char *ns, int n)
{
	size_t len = strlen(head_xml) + 2 * strlen(ns) + strlen(tail_xml) +
	    (size_t)n * (strlen(casefile_xml) + 256) + 1;
	char *doc, *cf = NULL, id[32];
	size_t at;
	int i;

	assert_non_null(doc = malloc(len));
	at = (size_t)snprintf(doc, len, head_xml, ns, ns);
	for (i = 1; i <= n; i++) {
		assert_non_null(cf = strdup(casefile_xml));
		if (n > 1) {
			snprintf(id, sizeof(id), "LP-%d", i);
			subst(&cf, "LP-091-2021-90002", id, 0);
		}
		subst(&cf, "@HASH1@", HASH1_UPPER, 1);
		subst(&cf, "@HASH2@", HASH2, 1);
		at += (size_t)snprintf(doc + at, len - at, "%s", cf);
		free(cf);
	}
	snprintf(doc + at, len - at, "%s", tail_xml);
	return doc;
}

static void
put_bytes(struct t *t, const char *rel, const void *data, size_t len)
{
	char path[4096], *slash;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", t->root, rel);
	for (slash = path + strlen(t->root) + 1; (slash = strchr(slash, '/'));
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

/* Writes doc as root/metadata.xml and reads it (extracts written). */
static int
read_doc(struct t *t, const char *doc, uint64_t max_bytes)
{
	char path[128];

	put_bytes(t, "metadata.xml", doc, strlen(doc));
	snprintf(path, sizeof(path), "%s/metadata.xml", t->root);
	return sahke2_read(&t->p, path, "metadata.xml", max_bytes,
	    t->extracts, &t->f, t->err, sizeof(t->err));
}

static const struct finding *
finding(const struct findings *f, const char *code, int nth)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->items[i].code, code) == 0 && --nth == 0)
			return &f->items[i];
	return NULL;
}

static size_t
count(const struct findings *f, const char *code)
{
	size_t i, n = 0;

	for (i = 0; i < f->n; i++)
		n += strcmp(f->items[i].code, code) == 0;
	return n;
}

/* The line (from 1) of the nth occurrence of needle in doc. */
static long
line_of(const char *doc, const char *needle, int nth)
{
	const char *p = doc, *q;
	long line = 1;

	while (nth-- > 0) {
		assert_non_null(q = strstr(p, needle));
		if (nth > 0)
			q += strlen(needle);
		for (; p < q; p++)
			line += *p == '\n';
	}
	return line;
}

static void
dump(const struct findings *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		print_message("  %s %s %s:%ld %s\n",
		    severity_name(f->items[i].severity), f->items[i].code,
		    f->items[i].path ? f->items[i].path : "-", f->items[i].line,
		    f->items[i].message);
}

static void
assert_no_finding_contains(const struct findings *f, const char *s)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		assert_null(strstr(f->items[i].message, s));
}

/* ---- SÄHKE2: valid documents and the model ---- */

static void
test_valid_2019_fills_the_model(void **state)
{
	struct t *t = *state;
	const struct pkg_casefile *cf;
	const struct pkg_record *r;
	const struct pkg_document *d;

	t->doc = build(NS_2019, 1);
	put_bytes(t, "metadata.xml", t->doc, strlen(t->doc));
	{
		char path[128];

		snprintf(path, sizeof(path), "%s/metadata.xml", t->root);
		assert_int_equal(sahke2_detect(path), 2019);
	}
	assert_int_equal(read_doc(t, t->doc, 1 << 20), 0);
	dump(&t->f);
	assert_int_equal(t->f.n, 0);

	assert_int_equal(t->p.format, PKG_SAHKE2);
	assert_string_equal(t->p.schema, "SÄHKE2 2019");
	assert_string_equal(t->p.namespace_uri, NS_2019);
	assert_string_equal(t->p.metadata_path, "metadata.xml");
	assert_string_equal(t->p.transfer_native_id, "SIIRTO-2021-1");
	assert_string_equal(t->p.transfer_title,
	    "Lupapisteen rakennusluvat 2021");
	assert_string_equal(t->p.organisation, "Helsingin kaupunki");
	assert_int_equal(t->p.ncasefiles, 1);

	cf = &t->p.casefiles[0];
	assert_string_equal(cf->c.native_id, "LP-091-2021-90002");
	assert_string_equal(cf->c.title,
	    "Käsittelyprosessi: LP-091-2021-90002");
	assert_string_equal(cf->c.function_code, "10 03 00 09");
	assert_string_equal(cf->c.created, "2021-08-31");
	assert_string_equal(cf->c.status, "valmis");
	assert_string_equal(cf->c.publicity, "Julkinen");
	assert_string_equal(cf->c.personal_data, "sisältää henkilötietoja");
	assert_string_equal(cf->c.retention_reason,
	    "AL/17413/07.01.01.03.01/2016");
	assert_true(cf->c.has_retention);
	assert_int_equal(cf->c.retention_period, -1);
	assert_string_equal(cf->finished, "2021-10-01");
	assert_string_equal(cf->last_action, "2021-09-21");
	assert_int_equal(cf->nactions, 5);
	assert_int_equal(cf->c.nssns, 1);
	assert_string_equal(cf->c.ssns[0], SSN_VALID);
	assert_int_equal(cf->c.line, line_of(t->doc, "<narc:CaseFile>", 1));
	assert_string_equal(cf->metadata_extract, "casefile-1.xml");

	assert_int_equal(cf->nrecords, 2);
	r = &cf->records[0];
	assert_string_equal(r->c.native_id, "test-file-1");
	assert_string_equal(r->description, "Asemapiirros");
	assert_string_equal(r->c.function_code, "10 03 00 01");
	assert_string_equal(r->c.type, "paapiirustus.asemapiirros");
	assert_int_equal(r->c.line, line_of(t->doc, "<narc:Record>", 1));
	assert_int_equal(r->ndocs, 1);
	d = &r->docs[0];
	assert_string_equal(d->native_id, "test-file-1");
	assert_string_equal(d->use_type, "Arkisto");
	assert_string_equal(d->path, "sub/test-file-1.pdf");
	assert_string_equal(d->format_name, "application/pdf");
	assert_string_equal(d->format_version, "-");
	assert_string_equal(d->hash_algorithm, "sha256");
	assert_string_equal(d->hash_value, "9f2c5a4e0b1d7c3a9f2c5a4e0b1d7c3a"
	    "9f2c5a4e0b1d7c3a9f2c5a4e0b1d7c3a");
	assert_int_equal(d->line, line_of(t->doc, "<narc:Document>", 1));

	r = &cf->records[1];
	assert_string_equal(r->c.native_id, "test-file-2");
	assert_string_equal(r->c.publicity, "Salassa pidettävä");
	assert_string_equal(r->c.security_reason, "JulkL 24 § 1 mom. 25 k");
	assert_string_equal(r->docs[0].path, "test-file-2.pdf");
	assert_string_equal(r->docs[0].hash_value, HASH2);
}

/* The Custom's xi:include is text to Sailo: nothing is included, and the
 * extract keeps it as it was submitted. */
static void
test_xinclude_in_custom_stays_inert(void **state)
{
	struct t *t = *state;
	char path[160], buf[65536];
	size_t len;
	FILE *fp;

	t->doc = build(NS_2019, 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	assert_int_equal(t->f.n, 0);
	snprintf(path, sizeof(path), "%s/casefile-1.xml", t->extracts);
	assert_non_null(fp = fopen(path, "rb"));
	len = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[len] = '\0';
	assert_non_null(strstr(buf, "<xi:include"));
	assert_null(strstr(buf, "root:"));
}

/* Each case file's extract is a Metadata document of its own, valid
 * against the same schema, with the transfer's information. */
static void
test_extracts_are_valid_metadata(void **state)
{
	struct t *t = *state;
	struct package p;
	struct findings f;
	char path[160], rel[32];
	int i;

	t->doc = build(NS_2011, 3);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	dump(&t->f);
	assert_int_equal(t->f.errors, 0);
	assert_int_equal(t->p.ncasefiles, 3);
	for (i = 0; i < 3; i++) {
		snprintf(rel, sizeof(rel), "casefile-%d.xml", i + 1);
		assert_string_equal(t->p.casefiles[i].metadata_extract, rel);
		snprintf(path, sizeof(path), "%s/%s", t->extracts, rel);
		assert_int_equal(sahke2_detect(path), 2011);
		package_init(&p);
		findings_init(&f);
		assert_int_equal(sahke2_read(&p, path, rel, 0, NULL, &f,
		    t->err, sizeof(t->err)), 0);
		dump(&f);
		assert_int_equal(f.n, 0);
		assert_int_equal(p.ncasefiles, 1);
		assert_string_equal(p.casefiles[0].c.native_id,
		    t->p.casefiles[i].c.native_id);
		assert_null(p.casefiles[0].metadata_extract);
		assert_string_equal(p.transfer_native_id, "SIIRTO-2021-1");
		assert_string_equal(p.organisation, "Helsingin kaupunki");
		assert_int_equal(p.casefiles[0].nrecords, 2);
		package_free(&p);
		findings_free(&f);
	}
}

static void
test_valid_2011(void **state)
{
	struct t *t = *state;

	t->doc = build(NS_2011, 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	dump(&t->f);
	assert_int_equal(t->f.n, 0);
	assert_string_equal(t->p.schema, "SÄHKE2 2011");
	assert_string_equal(t->p.namespace_uri, NS_2011);
	assert_int_equal(t->p.ncasefiles, 1);
	assert_int_equal(t->p.casefiles[0].nrecords, 2);
}

/* The schema is picked by the namespace: CaseFile/Agent is required in
 * 2011 only. */
static void
test_schema_follows_namespace(void **state)
{
	struct t *t = *state;
	static const char agent[] =
	    "	<narc:Agent>\n"
	    "		<narc:Role>responsible</narc:Role>\n"
	    "		<narc:Name/>\n"
	    "	</narc:Agent>\n";

	t->doc = build(NS_2019, 1);
	subst(&t->doc, agent, "", 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	assert_int_equal(t->f.errors, 0);

	free(t->doc);
	package_free(&t->p);
	findings_free(&t->f);
	t->doc = build(NS_2011, 1);
	subst(&t->doc, agent, "", 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	assert_int_equal(count(&t->f, "SAHKE2_SCHEMA"), 1);
}

/* ---- the schema while streaming ---- */

/* A subtree the reader expands is still validated, every error is
 * collected with its line, and reading goes on past it. */
static void
test_invalid_element_inside_casefile(void **state)
{
	struct t *t = *state;
	const struct finding *e;

	t->doc = build(NS_2019, 3);
	subst(&t->doc, "<narc:Title>Asemapiirros</narc:Title>",
	    "<narc:Title>Asemapiirros</narc:Title><narc:Bogus/>", 2);
	subst(&t->doc, "<narc:Status>arkistoitu</narc:Status>",
	    "<narc:Status>arkistoitu</narc:Status><narc:Status>x</narc:Status>",
	    5);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	dump(&t->f);
	assert_int_equal(count(&t->f, "SAHKE2_SCHEMA"), 2);
	assert_non_null(e = finding(&t->f, "SAHKE2_SCHEMA", 1));
	assert_int_equal(e->severity, SEVERITY_ERROR);
	assert_string_equal(e->path, "metadata.xml");
	assert_int_equal(e->line, line_of(t->doc, "<narc:Bogus/>", 1));
	assert_non_null(strstr(e->message, "Bogus"));
	assert_null(strstr(e->message, "{http"));
	assert_non_null(e = finding(&t->f, "SAHKE2_SCHEMA", 2));
	assert_int_equal(e->line, line_of(t->doc, "<narc:Status>x<", 1));
	/* The model is still read: the findings decide. */
	assert_int_equal(t->p.ncasefiles, 3);
}

/* Past line 65,535 lines are still right (XML_PARSE_BIG_LINES), for
 * libxml2's errors and for the rules' own. */
static void
test_line_numbers_past_65535(void **state)
{
	struct t *t = *state;
	const struct pkg_casefile *cf;
	const struct finding *e;
	long bogus, retention;
	char path[128];

	t->doc = build(NS_2019, 420);
	/* Case file 400's first record; its own RetentionPeriod. */
	subst(&t->doc, "<narc:Title>Asemapiirros</narc:Title>",
	    "<narc:Title>Asemapiirros</narc:Title>\n<narc:Bogus/>", 400);
	subst(&t->doc, "<narc:RetentionPeriod>-1</narc:RetentionPeriod>",
	    "<narc:RetentionPeriod>-5</narc:RetentionPeriod>", 3 * 399 + 1);
	bogus = line_of(t->doc, "<narc:Bogus/>", 1);
	retention = line_of(t->doc, "<narc:RetentionPeriod>-5<", 1);
	assert_true(bogus > 70000);
	assert_true(retention > 70000);
	put_bytes(t, "metadata.xml", t->doc, strlen(t->doc));
	snprintf(path, sizeof(path), "%s/metadata.xml", t->root);
	assert_int_equal(sahke2_read(&t->p, path, "metadata.xml", 0, NULL,
	    &t->f, t->err, sizeof(t->err)), 0);
	dump(&t->f);
	assert_int_equal(t->f.n, 2);
	assert_non_null(e = finding(&t->f, "SAHKE2_SCHEMA", 1));
	assert_int_equal(e->line, bogus);
	assert_non_null(e = finding(&t->f, "RETENTION_PERIOD", 1));
	assert_int_equal(e->line, retention);
	assert_string_equal(e->message, "CaseFile LP-400: RetentionPeriod -5 "
	    "is neither -1 nor ≥ 0");
	assert_int_equal(t->p.ncasefiles, 420);
	cf = &t->p.casefiles[399];
	assert_string_equal(cf->c.native_id, "LP-400");
	assert_int_equal(cf->c.line, line_of(t->doc, "<narc:CaseFile>", 400));
	assert_int_equal(cf->records[1].c.line,
	    line_of(t->doc, "<narc:Record>", 800));
	assert_int_equal(cf->records[1].docs[0].line,
	    line_of(t->doc, "<narc:Document>", 800));
	assert_false(cf->c.has_retention);
}

/* A file that cannot be read is Sailo's failure (-1), not a finding. */
static void
test_unreadable_metadata_fails(void **state)
{
	struct t *t = *state;

	assert_int_equal(sahke2_read(&t->p, "/nonexistent/metadata.xml",
	    "metadata.xml", 0, NULL, &t->f, t->err, sizeof(t->err)), -1);
	assert_non_null(strstr(t->err, "/nonexistent/metadata.xml"));
	assert_int_equal(t->f.n, 0);
}

/* ---- what is refused before parsing ---- */

static const char laughs[] =
	"<?xml version=\"1.0\"?>\n"
	"<!DOCTYPE lolz [\n"
	" <!ENTITY lol \"lol\">\n"
	" <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
	" <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
	" <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
	" <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
	" <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
	" <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
	" <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
	" <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
	" <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
	"]>\n"
	"<narc:Metadata xmlns:narc=\"" NS_2019 "\">&lol9;</narc:Metadata>\n";

static const char xxe[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<!-- a comment first -->\n"
	"<?pi before the doctype?>\n"
	"<!DOCTYPE narc:Metadata [\n"
	" <!ENTITY x SYSTEM \"file:///etc/passwd\">\n"
	"]>\n"
	"<narc:Metadata xmlns:narc=\"" NS_2019 "\">\n"
	"<narc:TransferInformation><narc:NativeId>&x;</narc:NativeId>"
	"</narc:TransferInformation>\n"
	"</narc:Metadata>\n";

static void
assert_doctype_refused(struct t *t, const void *doc, size_t len, long line)
{
	const struct finding *e;
	char path[128];

	put_bytes(t, "metadata.xml", doc, len);
	snprintf(path, sizeof(path), "%s/metadata.xml", t->root);
	assert_int_equal(sahke2_detect(path), 0);
	assert_int_equal(sahke2_read(&t->p, path, "metadata.xml", 0,
	    t->extracts, &t->f, t->err, sizeof(t->err)), 0);
	dump(&t->f);
	assert_int_equal(t->f.n, 1);
	assert_non_null(e = finding(&t->f, "XML_DOCTYPE", 1));
	assert_int_equal(e->severity, SEVERITY_ERROR);
	assert_int_equal(e->line, line);
	assert_int_equal(t->p.ncasefiles, 0);
	assert_null(t->p.transfer_native_id);
	assert_no_finding_contains(&t->f, "root:");
	package_free(&t->p);
	findings_free(&t->f);
}

static void
test_doctype_refused(void **state)
{
	struct t *t = *state;
	char *ascii, *utf16;
	size_t i, n;

	assert_doctype_refused(t, laughs, strlen(laughs), 2);
	assert_doctype_refused(t, xxe, strlen(xxe), 4);
	/* The same in UTF-16LE (a BOM, then two bytes a character). */
	assert_non_null(ascii = strdup(xxe));
	subst(&ascii, "UTF-8", "UTF-16", 1);
	n = strlen(ascii);
	assert_non_null(utf16 = calloc(2 * n + 2, 1));
	utf16[0] = (char)0xff;
	utf16[1] = (char)0xfe;
	for (i = 0; i < n; i++)
		utf16[2 + 2 * i] = ascii[i];
	assert_doctype_refused(t, utf16, 2 * n + 2, 4);
	free(utf16);
	free(ascii);
}

/* What an ASCII scan cannot read (UTF-7 here, where "+ADw-" is '<') is
 * not handed to libxml2 at all. */
static void
test_prolog_in_other_encoding_refused(void **state)
{
	struct t *t = *state;
	static const char utf7[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-7\"?>\n"
	    "+ADw-!DOCTYPE x +AFs-+ADw-!ENTITY x SYSTEM "
	    "+ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-\n"
	    "<narc:Metadata xmlns:narc=\"" NS_2019 "\">&x;</narc:Metadata>\n";
	const struct finding *e;

	assert_int_equal(read_doc(t, utf7, 0), 0);
	dump(&t->f);
	assert_int_equal(t->f.n, 1);
	assert_non_null(e = finding(&t->f, "XML_MALFORMED", 1));
	assert_int_equal(e->line, 2);
	assert_no_finding_contains(&t->f, "root:");
}

/* "<!DOCTYPE" inside a comment is a comment. */
static void
test_doctype_in_comment_is_not_a_doctype(void **state)
{
	struct t *t = *state;

	t->doc = build(NS_2019, 1);
	subst(&t->doc, "?>\n", "?>\n<!-- <!DOCTYPE x> -->\n", 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	assert_int_equal(t->f.n, 0);
	assert_int_equal(t->p.ncasefiles, 1);
}

static void
test_metadata_too_large(void **state)
{
	struct t *t = *state;
	const struct finding *e;

	t->doc = build(NS_2019, 1);
	assert_int_equal(read_doc(t, t->doc, strlen(t->doc) - 1), 0);
	assert_int_equal(t->f.n, 1);
	assert_non_null(e = finding(&t->f, "METADATA_TOO_LARGE", 1));
	assert_int_equal(e->severity, SEVERITY_ERROR);
	assert_int_equal(t->p.ncasefiles, 0);
	package_free(&t->p);
	findings_free(&t->f);
	assert_int_equal(read_doc(t, t->doc, strlen(t->doc)), 0);
	assert_int_equal(t->f.n, 0);
}

static void
test_wrong_namespace(void **state)
{
	struct t *t = *state;
	const struct finding *e;
	char path[128];

	t->doc = build("http://www.arkisto.fi/skeemat/Sahke2/2008/01/01", 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	snprintf(path, sizeof(path), "%s/metadata.xml", t->root);
	assert_int_equal(sahke2_detect(path), 0);
	assert_int_equal(t->f.n, 1);
	assert_non_null(e = finding(&t->f, "SAHKE2_NAMESPACE", 1));
	assert_int_equal(e->line, 2);
	assert_non_null(strstr(e->message, "2008/01/01"));
	assert_int_equal(t->p.ncasefiles, 0);

	/* The right namespace on the wrong element. */
	package_free(&t->p);
	findings_free(&t->f);
	subst(&t->doc, "2008/01/01", "2019/08/29", 0);
	subst(&t->doc, "narc:Metadata", "narc:Metatieto", 0);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	assert_int_equal(sahke2_detect(path), 0);
	assert_int_equal(t->f.n, 1);
	assert_non_null(finding(&t->f, "SAHKE2_NAMESPACE", 1));
}

static void
test_malformed_xml(void **state)
{
	struct t *t = *state;
	const struct finding *e;

	t->doc = build(NS_2019, 1);
	subst(&t->doc, "<narc:Status>arkistoitu</narc:Status>",
	    "<narc:Status arkistoitu</narc:Status>", 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	dump(&t->f);
	assert_true(t->f.errors >= 1);
	assert_non_null(e = finding(&t->f, "XML_MALFORMED", 1));
	assert_int_equal(e->line, line_of(t->doc, "<narc:Status arkis", 1));

	/* A document cut short. */
	package_free(&t->p);
	findings_free(&t->f);
	free(t->doc);
	t->doc = build(NS_2019, 1);
	t->doc[strlen(t->doc) - strlen(tail_xml) - 30] = '\0';
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	dump(&t->f);
	assert_non_null(e = finding(&t->f, "XML_MALFORMED", 1));
	assert_true(e->line > 100);

	/* Not XML at all. */
	package_free(&t->p);
	findings_free(&t->f);
	assert_int_equal(read_doc(t, "", 0), 0);
	assert_non_null(finding(&t->f, "XML_MALFORMED", 1));
}

/* ---- the rules the schema cannot express ---- */

static void
test_retention_period_rules(void **state)
{
	struct t *t = *state;
	static const char rp[] = "<narc:RetentionPeriod>-1</narc:RetentionPeriod>";
	const struct pkg_casefile *cf;
	const struct finding *e;

	t->doc = build(NS_2019, 1);
	subst(&t->doc, rp, "<narc:RetentionPeriod>+10</narc:RetentionPeriod>", 1);
	subst(&t->doc, rp, "<narc:RetentionPeriod>-5</narc:RetentionPeriod>", 1);
	subst(&t->doc, rp, "<narc:RetentionPeriod> 50 </narc:RetentionPeriod>", 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	dump(&t->f);
	assert_int_equal(t->f.n, 1);
	assert_non_null(e = finding(&t->f, "RETENTION_PERIOD", 1));
	assert_int_equal(e->severity, SEVERITY_ERROR);
	assert_string_equal(e->message, "CaseFile LP-091-2021-90002: Record "
	    "test-file-1: RetentionPeriod -5 is neither -1 nor ≥ 0");
	assert_int_equal(e->line, line_of(t->doc, ">-5<", 1));
	cf = &t->p.casefiles[0];
	assert_true(cf->c.has_retention);
	assert_int_equal(cf->c.retention_period, 10);
	assert_false(cf->records[0].c.has_retention);
	assert_true(cf->records[1].c.has_retention);
	assert_int_equal(cf->records[1].c.retention_period, 50);

	package_free(&t->p);
	findings_free(&t->f);
	subst(&t->doc, ">+10<", ">999999<", 1);
	subst(&t->doc, ">-5<", ">0<", 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	assert_int_equal(t->f.n, 1);
	assert_non_null(e = finding(&t->f, "RETENTION_PERMANENT", 1));
	assert_int_equal(e->severity, SEVERITY_WARNING);
	assert_non_null(strstr(e->message, "CaseFile LP-091-2021-90002"));
	cf = &t->p.casefiles[0];
	assert_int_equal(cf->c.retention_period, -1);
	assert_true(cf->records[0].c.has_retention);
	assert_int_equal(cf->records[0].c.retention_period, 0);
}

static void
test_secret_without_security_reason(void **state)
{
	struct t *t = *state;
	const struct finding *e;

	t->doc = build(NS_2019, 1);
	subst(&t->doc, "<narc:SecurityReason>JulkL 24 § 1 mom. 25 k"
	    "</narc:SecurityReason>", "", 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	assert_int_equal(t->f.n, 1);
	assert_non_null(e = finding(&t->f, "SECURITY_REASON_MISSING", 1));
	assert_int_equal(e->severity, SEVERITY_WARNING);
	assert_non_null(strstr(e->message, "Record test-file-2"));
	assert_int_equal(e->line, line_of(t->doc, "<narc:Record>", 2));
}

static void
test_dates(void **state)
{
	struct t *t = *state;
	const struct finding *e;

	t->doc = build(NS_2019, 1);
	/* The case file's Created, a record's Created, an Action's. */
	subst(&t->doc, "2021-08-31+03:00", "2021-02-29", 1);
	subst(&t->doc, "2021-08-31+03:00", "2021-13-01+03:00", 2);
	subst(&t->doc, "<narc:Finished>2021-10-01Z", "<narc:Finished>2020-02-29Z",
	    1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	dump(&t->f);
	assert_int_equal(count(&t->f, "DATE_INVALID"), 2);
	assert_non_null(e = finding(&t->f, "DATE_INVALID", 1));
	assert_int_equal(e->line, line_of(t->doc, "2021-02-29", 1));
	assert_non_null(strstr(e->message, "CaseFile LP-091-2021-90002: "
	    "Created \"2021-02-29\""));
	assert_non_null(e = finding(&t->f, "DATE_INVALID", 2));
	assert_int_equal(e->line, line_of(t->doc, "2021-13-01", 1));
	/* The schema also knows these are no dates. */
	assert_int_equal(count(&t->f, "SAHKE2_SCHEMA"), 2);
	assert_null(t->p.casefiles[0].c.created);
	assert_string_equal(t->p.casefiles[0].finished, "2021-09-30");
}

static void
test_function_codes(void **state)
{
	struct t *t = *state;
	const struct finding *e;

	t->doc = build(NS_2019, 1);
	subst(&t->doc, "<narc:Function>10 03 00 01</narc:Function>",
	    "<narc:Function>10_03-00 01</narc:Function>", 1);
	subst(&t->doc, "<narc:Function>10 03 00 01</narc:Function>",
	    "<narc:Function>Rakennusvalvonta</narc:Function>", 1);
	subst(&t->doc, "<narc:FunctionCode>10 03 00</narc:FunctionCode>",
	    "<narc:FunctionCode>10/03/00</narc:FunctionCode>", 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	dump(&t->f);
	assert_int_equal(count(&t->f, "FUNCTION_CODE"), 2);
	assert_int_equal(t->f.errors, 0);
	assert_non_null(e = finding(&t->f, "FUNCTION_CODE", 1));
	assert_int_equal(e->severity, SEVERITY_WARNING);
	assert_non_null(strstr(e->message, "Record test-file-2"));
	assert_non_null(e = finding(&t->f, "FUNCTION_CODE", 2));
	assert_int_equal(e->line, line_of(t->doc, "10/03/00", 1));
	assert_string_equal(t->p.casefiles[0].records[0].c.function_code,
	    "10 03 00 01");
	assert_string_equal(t->p.casefiles[0].records[1].c.function_code,
	    "Rakennusvalvonta");
}

static void
test_person_identity_codes(void **state)
{
	struct t *t = *state;
	const struct finding *e;

	t->doc = build(NS_2019, 1);
	subst(&t->doc, "</narc:Person>", "</narc:Person>\n<narc:Person>"
	    "<narc:Ssn>131052-308X</narc:Ssn></narc:Person>\n<narc:Person>"
	    "<narc:Ssn> 131052-308T </narc:Ssn></narc:Person>", 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	dump(&t->f);
	assert_int_equal(t->f.n, 1);
	assert_non_null(e = finding(&t->f, "PERSON_ID_INVALID", 1));
	assert_int_equal(e->severity, SEVERITY_WARNING);
	assert_int_equal(e->line, line_of(t->doc, "131052-308X", 1));
	assert_null(strstr(e->message, "131052"));
	assert_non_null(strstr(e->message, "CaseFile LP-091-2021-90002"));
	/* The valid code once, upper-case, whatever its spelling. */
	assert_int_equal(t->p.casefiles[0].c.nssns, 1);
	assert_string_equal(t->p.casefiles[0].c.ssns[0], SSN_VALID);
}

/* An unknown HashAlgorithm is left NULL for package_check_files(). */
static void
test_unknown_hash_algorithm_left_null(void **state)
{
	struct t *t = *state;

	t->doc = build(NS_2019, 1);
	subst(&t->doc, ">SHA-256<", ">Whirlpool<", 1);
	assert_int_equal(read_doc(t, t->doc, 0), 0);
	assert_int_equal(t->f.n, 0);
	assert_null(t->p.casefiles[0].records[0].docs[0].hash_algorithm);
	assert_non_null(t->p.casefiles[0].records[0].docs[0].hash_value);
}

/* ---- package_check_files() ---- */

static const char a_data[] = "%PDF-1.4 first\n";
static const char b_data[] = "%PDF-1.4 second, in a folder\n";
#define B_NFC	"sub/P\xc3\xa4\xc3\xa4t\xc3\xb6s.pdf"
#define B_NFD	"sub/Pa\xcc\x88" "a\xcc\x88" "to\xcc\x88" "s.pdf"

static void
hex_digest(const EVP_MD *md, const char *data, char out[129])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	assert_int_equal(EVP_Digest(data, strlen(data), d, &n, md, NULL), 1);
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A package of one record with documents a.pdf and B_NFC, both files on
 * disk with metadata.xml and the digests unpacking would give. */
struct files {
	struct pkg_file	 list[4];
	size_t		 n;
	char		 sha[4][65];
};

static struct pkg_document *
add_doc(struct pkg_record *r, const char *path, const char *alg,
    const char *value)
{
	struct pkg_document *d;

	assert_non_null(d = package_add_document(r));
	d->native_id = strdup(path ? path : "none");
	d->path = path ? strdup(path) : NULL;
	d->hash_algorithm = alg ? strdup(alg) : NULL;
	d->hash_value = value ? strdup(value) : NULL;
	d->line = 7;
	return d;
}

static struct pkg_record *
files_setup(struct t *t, struct files *fs, int with_sha256)
{
	static const char *const names[] = { "a.pdf", B_NFC, "metadata.xml" };
	static const char *const data[] = { a_data, b_data, "<x/>" };
	struct pkg_casefile *cf;
	struct pkg_record *r;
	size_t i;

	memset(fs, 0, sizeof(*fs));
	for (i = 0; i < 3; i++) {
		put_bytes(t, names[i], data[i], strlen(data[i]));
		hex_digest(EVP_sha256(), data[i], fs->sha[i]);
		fs->list[i].path = names[i];
		fs->list[i].size = strlen(data[i]);
		fs->list[i].sha256 = with_sha256 ? fs->sha[i] : NULL;
	}
	fs->n = 3;
	t->p.metadata_path = strdup("metadata.xml");
	assert_non_null(cf = package_add_casefile(&t->p));
	assert_non_null(r = package_add_record(&t->p, cf));
	return r;
}

static int
check(struct t *t, struct files *fs)
{
	return package_check_files(&t->p, t->root, fs->list, fs->n, &t->f,
	    t->err, sizeof(t->err));
}

static void
test_check_files_all_good(void **state)
{
	struct t *t = *state;
	struct files fs;
	struct pkg_record *r;
	char md5[129];

	r = files_setup(t, &fs, 1);
	hex_digest(EVP_md5(), b_data, md5);
	add_doc(r, "a.pdf", "sha256", fs.sha[0]);
	/* NFD in the metadata, NFC on disk: the same name. */
	add_doc(r, B_NFD, "md5", md5);
	assert_int_equal(check(t, &fs), 0);
	dump(&t->f);
	assert_int_equal(t->f.n, 0);
}

static void
test_check_files_missing_and_unlisted(void **state)
{
	struct t *t = *state;
	struct files fs;
	struct pkg_record *r;
	const struct finding *e;

	r = files_setup(t, &fs, 1);
	add_doc(r, "a.pdf", "sha256", fs.sha[0]);
	add_doc(r, "sub/gone.pdf", "sha256", fs.sha[0]);
	assert_int_equal(check(t, &fs), 0);
	dump(&t->f);
	assert_int_equal(t->f.n, 2);
	assert_non_null(e = finding(&t->f, "FILE_MISSING", 1));
	assert_string_equal(e->path, "sub/gone.pdf");
	assert_non_null(strstr(e->message, "metadata.xml line 7"));
	assert_non_null(e = finding(&t->f, "FILE_UNLISTED", 1));
	assert_string_equal(e->path, B_NFC);
	assert_int_equal(e->severity, SEVERITY_ERROR);
}

static void
test_check_files_digests(void **state)
{
	struct t *t = *state;
	struct files fs;
	struct pkg_record *r;
	const struct finding *e;
	char md5a[129], md5b[129];

	r = files_setup(t, &fs, 0);	/* sha256 read from the files */
	hex_digest(EVP_md5(), a_data, md5a);
	hex_digest(EVP_md5(), b_data, md5b);
	add_doc(r, "a.pdf", "sha256", fs.sha[1]);	/* b's digest */
	add_doc(r, B_NFC, "md5", md5a);			/* a's digest */
	add_doc(r, B_NFC, "md5", md5b);			/* right */
	assert_int_equal(check(t, &fs), 0);
	dump(&t->f);
	assert_int_equal(t->f.n, 2);
	assert_non_null(e = finding(&t->f, "CHECKSUM_MISMATCH", 1));
	assert_string_equal(e->path, "a.pdf");
	assert_non_null(strstr(e->message, fs.sha[1]));
	assert_non_null(strstr(e->message, fs.sha[0]));
	assert_non_null(e = finding(&t->f, "CHECKSUM_MISMATCH", 2));
	assert_string_equal(e->path, B_NFC);
	assert_non_null(strstr(e->message, md5b));

	/* The digest from unpacking is trusted when given. */
	package_free(&t->p);
	findings_free(&t->f);
	r = files_setup(t, &fs, 1);
	strcpy(fs.sha[0], HASH2);
	add_doc(r, "a.pdf", "sha256", HASH2);
	add_doc(r, B_NFC, "sha256", fs.sha[1]);
	assert_int_equal(check(t, &fs), 0);
	assert_int_equal(t->f.n, 0);
}

static void
test_check_files_bad_declarations(void **state)
{
	struct t *t = *state;
	struct files fs;
	struct pkg_record *r;
	const struct finding *e;
	char upper[129];
	size_t i;

	r = files_setup(t, &fs, 1);
	add_doc(r, "a.pdf", NULL, "abc");		/* unknown algorithm */
	add_doc(r, "a.pdf", "sha256", "xyz");		/* not hex */
	add_doc(r, "a.pdf", "sha1", fs.sha[0]);		/* sha256's length */
	add_doc(r, NULL, "sha256", fs.sha[0]);		/* unsafe path */
	strcpy(upper, fs.sha[1]);
	for (i = 0; upper[i]; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] -= 'a' - 'A';
	add_doc(r, B_NFC, "sha256", upper);	/* case does not matter */
	assert_int_equal(check(t, &fs), 0);
	dump(&t->f);
	assert_int_equal(t->f.n, 4);
	assert_int_equal(count(&t->f, "HASH_ALGORITHM"), 1);
	assert_int_equal(count(&t->f, "HASH_VALUE"), 2);
	assert_non_null(e = finding(&t->f, "UNSAFE_PATH", 1));
	assert_string_equal(e->path, "metadata.xml");
	assert_int_equal(e->line, 7);

	/* No algorithm and no value (a bag's metadata.csv): the bag's
	 * manifests check the bytes. */
	package_free(&t->p);
	findings_free(&t->f);
	r = files_setup(t, &fs, 1);
	add_doc(r, "a.pdf", NULL, NULL);
	add_doc(r, B_NFC, NULL, NULL);
	assert_int_equal(check(t, &fs), 0);
	assert_int_equal(t->f.n, 0);
}

/* An unreadable listed file is Sailo's failure, not a finding. */
static void
test_check_files_unreadable(void **state)
{
	struct t *t = *state;
	struct files fs;
	struct pkg_record *r;
	char path[128];

	r = files_setup(t, &fs, 1);
	add_doc(r, "a.pdf", "md5", "00000000000000000000000000000000");
	add_doc(r, B_NFC, "sha256", fs.sha[1]);
	snprintf(path, sizeof(path), "%s/a.pdf", t->root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(check(t, &fs), -1);
	assert_non_null(strstr(t->err, "a.pdf"));
}

/* ---- the normalisations ---- */

static void
assert_code(const char *in, const char *want)
{
	char *got = package_function_code(in);

	if (want == NULL)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
	free(got);
}

static void
test_function_code_normalised(void **state)
{
	(void)state;
	assert_code("10.03.00.09", "10 03 00 09");
	assert_code("10 03 00 09", "10 03 00 09");
	assert_code("10-03-00-09", "10 03 00 09");
	assert_code("10_03_00_09", "10 03 00 09");
	assert_code(" 10. 03 .00\t09\n", "10 03 00 09");
	assert_code("10", "10");
	assert_code("05.01", "05 01");
	assert_code("", NULL);
	assert_code("   ", NULL);
	assert_code(".10.03", NULL);
	assert_code("10.03.", NULL);
	assert_code("10/03", NULL);
	assert_code("10 03 a", NULL);
	assert_code("Rakennusvalvonta", NULL);
	assert_code("１０", NULL);	/* full-width digits */
	assert_code(NULL, NULL);
}

static void
test_hash_algorithm_normalised(void **state)
{
	(void)state;
	assert_string_equal(package_hash_algorithm("sha256"), "sha256");
	assert_string_equal(package_hash_algorithm("SHA-256"), "sha256");
	assert_string_equal(package_hash_algorithm("sha-256"), "sha256");
	assert_string_equal(package_hash_algorithm(" SHA_256 "), "sha256");
	assert_string_equal(package_hash_algorithm("MD5"), "md5");
	assert_string_equal(package_hash_algorithm("SHA1"), "sha1");
	assert_string_equal(package_hash_algorithm("SHA-1"), "sha1");
	assert_string_equal(package_hash_algorithm("SHA224"), "sha224");
	assert_string_equal(package_hash_algorithm("sha-384"), "sha384");
	assert_string_equal(package_hash_algorithm("SHA512"), "sha512");
	assert_null(package_hash_algorithm("SHA3-256"));
	assert_null(package_hash_algorithm("sha"));
	assert_null(package_hash_algorithm("crc32"));
	assert_null(package_hash_algorithm(""));
	assert_null(package_hash_algorithm("sha256sha256sha256"));
	assert_null(package_hash_algorithm(NULL));
}

static void
assert_path(const char *path, const char *name, const char *want)
{
	char *got = package_document_path(path, name);

	if (want == NULL)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
	free(got);
}

static void
test_document_path_normalised(void **state)
{
	(void)state;
	assert_path("./", "a.pdf", "a.pdf");
	assert_path(".\\sub\\", "a.pdf", "sub/a.pdf");
	assert_path(".\\sub", "a.pdf", "sub/a.pdf");
	assert_path("./a//b/./c", "d.pdf", "a/b/c/d.pdf");
	assert_path("", "./a//b/./c", "a/b/c");
	assert_path(NULL, "a.pdf", "a.pdf");
	assert_path("sub/x/..", "a.pdf", "sub/a.pdf");
	assert_path("./", "P\xc3\xa4\xc3\xa4t\xc3\xb6s 1.pdf",
	    "P\xc3\xa4\xc3\xa4t\xc3\xb6s 1.pdf");
	assert_path("./", "..\\x", NULL);
	assert_path("..", "x", NULL);
	assert_path("sub", "../../x", NULL);
	assert_path("/abs", "x", NULL);
	assert_path("", "/abs", NULL);
	assert_path("./", "/etc/passwd", NULL);
	assert_path(".\\", "\\x", NULL);
	assert_path("./", "c:x", NULL);
	assert_path("\\\\server\\share", "x", NULL);
	assert_path("C:\\docs", "x", NULL);
	assert_path("./", "", NULL);
	assert_path("./", ".", NULL);
	assert_path("sub", "..", NULL);
	assert_path("./", NULL, NULL);
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_valid_2019_fills_the_model),
		T(test_xinclude_in_custom_stays_inert),
		T(test_extracts_are_valid_metadata),
		T(test_valid_2011),
		T(test_schema_follows_namespace),
		T(test_invalid_element_inside_casefile),
		T(test_line_numbers_past_65535),
		T(test_unreadable_metadata_fails),
		T(test_doctype_refused),
		T(test_prolog_in_other_encoding_refused),
		T(test_doctype_in_comment_is_not_a_doctype),
		T(test_metadata_too_large),
		T(test_wrong_namespace),
		T(test_malformed_xml),
		T(test_retention_period_rules),
		T(test_secret_without_security_reason),
		T(test_dates),
		T(test_function_codes),
		T(test_person_identity_codes),
		T(test_unknown_hash_algorithm_left_null),
		T(test_check_files_all_good),
		T(test_check_files_missing_and_unlisted),
		T(test_check_files_digests),
		T(test_check_files_bad_declarations),
		T(test_check_files_unreadable),
		T(test_function_code_normalised),
		T(test_hash_algorithm_normalised),
		T(test_document_path_normalised),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
