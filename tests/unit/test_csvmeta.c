/*
 * test_csvmeta.c — unit tests of formats/csvmeta.c: each test writes a
 * metadata.csv into a mkdtemp() folder, reads it with csvmeta_read() into
 * a fresh package and checks the model (records, case files, Documents,
 * normalised values) and the findings (code, line, message).  It covers
 * the CSV reading itself (separators, BOM, CRLF, quoting, UTF-8), every
 * column's rules, grouping into case files and a 100,000-row file.  It
 * does not check the files the rows name (package_check_files()).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "package.h"

#define REL		"metadata.csv"
#define HEADER		"path,native_id,title,case_native_id,function_code," \
			"created,record_type,retention_years,trigger," \
			"publicity,person_ssn\n"

/* What every test gets: the folder, the file, what csvmeta_read() made. */
struct csvt {
	char		 dir[64];
	char		 path[96];
	struct package	 p;
	struct findings	 f;
	char		 err[512];
};

static int
setup(void **state)
{
	struct csvt *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_csvmeta.XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, REL);
	package_init(&t->p);
	findings_init(&t->f);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct csvt *t = *state;

	package_free(&t->p);
	findings_free(&t->f);
	unlink(t->path);
	rmdir(t->dir);
	free(t);
	return 0;
}

static void
write_file(struct csvt *t, const void *data, size_t len)
{
	FILE *fp;

	assert_non_null(fp = fopen(t->path, "wb"));
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Reads the metadata file into a fresh model; csvmeta_read() must succeed
 * (bad input is findings, not -1). */
static void
read_file(struct csvt *t)
{
	package_free(&t->p);
	package_init(&t->p);
	findings_free(&t->f);
	findings_init(&t->f);
	if (csvmeta_read(&t->p, t->path, REL, &t->f, t->err,
	    sizeof(t->err)) != 0)
		fail_msg("csvmeta_read: %s", t->err);
}

static void
read_bytes(struct csvt *t, const void *data, size_t len)
{
	write_file(t, data, len);
	read_file(t);
}

static void
read_csv(struct csvt *t, const char *text)
{
	read_bytes(t, text, strlen(text));
}

/* The n-th finding with this code (0 first), or a failed test. */
static const struct finding *
finding(struct csvt *t, const char *code, size_t nth)
{
	size_t i;

	for (i = 0; i < t->f.n; i++)
		if (strcmp(t->f.items[i].code, code) == 0 && nth-- == 0)
			return &t->f.items[i];
	fail_msg("no finding %s", code);
	return NULL;
}

static size_t
count(struct csvt *t, const char *code)
{
	size_t i, n = 0;

	for (i = 0; i < t->f.n; i++)
		if (strcmp(t->f.items[i].code, code) == 0)
			n++;
	return n;
}

/* The finding has this line and its message contains want. */
static void
assert_finding(const struct finding *fi, enum severity sev, long line,
    const char *want)
{
	assert_int_equal(fi->severity, sev);
	assert_int_equal(fi->line, line);
	assert_string_equal(fi->path, REL);
	if (strstr(fi->message, want) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", fi->message, want);
}

/* A loose record by native id, or NULL. */
static const struct pkg_record *
loose(struct csvt *t, const char *native_id)
{
	size_t i;

	for (i = 0; i < t->p.nrecords; i++)
		if (strcmp(t->p.records[i].c.native_id, native_id) == 0)
			return &t->p.records[i];
	return NULL;
}

static void
test_comma_file_makes_loose_records_with_normalised_values(void **state)
{
	struct csvt *t = *state;
	const struct pkg_record *r;
	const struct pkg_document *d;

	read_csv(t, HEADER
	    "sub/./a.pdf,R-1,Päätös,,10.03.00.09,2023-05-04,Päätös,10,"
	    "Asiakirjan päivämäärä,Julkinen,131052-308T\n"
	    "dir\\b.pdf,R-2,Second,,,4.5.2023,,-1,,salassa pidettävä,"
	    "010594y9032 | 131052-308t 131052-308T\n"
	    "c.pdf,R-3,Third,,,,,,,,\n");
	assert_int_equal(t->f.n, 0);
	assert_string_equal(t->p.metadata_path, REL);
	assert_int_equal(t->p.ncasefiles, 0);
	assert_int_equal(t->p.nrecords, 3);

	assert_non_null(r = loose(t, "R-1"));
	assert_string_equal(r->c.title, "Päätös");
	assert_string_equal(r->c.function_code, "10 03 00 09");
	assert_string_equal(r->c.created, "2023-05-04");
	assert_string_equal(r->c.type, "Päätös");
	assert_true(r->c.has_retention);
	assert_int_equal(r->c.retention_period, 10);
	assert_string_equal(r->c.trigger, "Asiakirjan päivämäärä");
	assert_string_equal(r->c.publicity, "Julkinen");
	assert_int_equal(r->c.nssns, 1);
	assert_string_equal(r->c.ssns[0], "131052-308T");
	assert_null(r->case_native_id);
	assert_int_equal(r->c.line, 2);
	assert_int_equal(r->ndocs, 1);
	d = &r->docs[0];
	assert_string_equal(d->path, "sub/a.pdf");
	assert_string_equal(d->native_id, "R-1");
	assert_null(d->hash_algorithm);
	assert_null(d->hash_value);
	assert_int_equal(d->line, 2);

	assert_non_null(r = loose(t, "R-2"));
	assert_string_equal(r->docs[0].path, "dir/b.pdf");
	assert_string_equal(r->c.created, "2023-05-04");
	assert_null(r->c.function_code);
	assert_null(r->c.type);
	assert_int_equal(r->c.retention_period, -1);
	assert_string_equal(r->c.publicity, "Salassa pidettävä");
	/* Upper-cased, and the same code twice kept once. */
	assert_int_equal(r->c.nssns, 2);
	assert_string_equal(r->c.ssns[0], "010594Y9032");
	assert_string_equal(r->c.ssns[1], "131052-308T");
	assert_int_equal(r->c.line, 3);

	assert_non_null(r = loose(t, "R-3"));
	assert_false(r->c.has_retention);
	assert_null(r->c.created);
	assert_null(r->c.publicity);
	assert_null(r->c.trigger);
	assert_int_equal(r->c.nssns, 0);
	assert_int_equal(r->c.line, 4);
}

static void
test_semicolon_file_with_bom_and_crlf(void **state)
{
	struct csvt *t = *state;
	const struct pkg_record *r;

	/* Commas in values do not make ',' the separator: the header
	 * decides. */
	read_csv(t, "\xef\xbb\xbfpath;native_id;title;created\r\n"
	    "a.pdf;R-1;Kokous, pöytäkirja;1.2.2020\r\n"
	    "\r\n"
	    "b.pdf;R-2;Lausunto;2020-02-29\r\n");
	assert_int_equal(t->f.n, 0);
	assert_int_equal(t->p.nrecords, 2);
	assert_non_null(r = loose(t, "R-1"));
	assert_string_equal(r->c.title, "Kokous, pöytäkirja");
	assert_string_equal(r->c.created, "2020-02-01");
	assert_string_equal(r->docs[0].path, "a.pdf");
	assert_non_null(r = loose(t, "R-2"));
	assert_string_equal(r->c.title, "Lausunto");
	assert_int_equal(r->c.line, 4);

	/* A file without a final line break keeps its last row. */
	read_csv(t, "path;native_id;title\na.pdf;R-1;Yksi");
	assert_int_equal(t->f.n, 0);
	assert_int_equal(t->p.nrecords, 1);
	assert_string_equal(t->p.records[0].c.title, "Yksi");
}

static void
test_quoted_fields_with_separator_newline_and_quotes(void **state)
{
	struct csvt *t = *state;
	const struct pkg_record *r;

	read_csv(t, "path;native_id;\"title\";created\r\n"
	    "a.pdf;R-1;\"Päätös; \"\"liite\"\"\r\ntoinen rivi\";2021-01-02\r\n"
	    "\"b;c.pdf\";R-2; \"Tyhjä \"\"\"\"\" ;2021-01-03\r\n"
	    "d.pdf;R-3;\"\";\r\n"
	    "\"e.pdf\";\"R-4\";\"Neljäs\n\n\";\"\"\r\n"
	    "f.pdf;R-5;Title with \"inner\" quotes;\r\n");
	/* R-3 has an empty title (quoted or not); R-1 took two lines. */
	assert_int_equal(t->f.n, 1);
	assert_finding(finding(t, "CSV_VALUE", 0), SEVERITY_ERROR, 5,
	    "line 5, column title: empty");
	assert_int_equal(t->p.nrecords, 4);

	assert_non_null(r = loose(t, "R-1"));
	assert_string_equal(r->c.title, "Päätös; \"liite\"\ntoinen rivi");
	assert_int_equal(r->c.line, 2);
	assert_non_null(r = loose(t, "R-2"));
	assert_string_equal(r->docs[0].path, "b;c.pdf");
	assert_string_equal(r->c.title, "Tyhjä \"\"");
	/* A quoted field's line break advances the line count. */
	assert_int_equal(r->c.line, 4);
	assert_non_null(r = loose(t, "R-4"));
	assert_string_equal(r->c.title, "Neljäs");
	assert_int_equal(r->c.line, 6);
	assert_non_null(r = loose(t, "R-5"));
	assert_string_equal(r->c.title, "Title with \"inner\" quotes");
	assert_int_equal(r->c.line, 9);

	/* Text after a closing quote is a syntax error of that row. */
	read_csv(t, "path,native_id,title\n"
	    "a.pdf,R-1,\"Title\"tail\n"
	    "b.pdf,R-2,Fine\n");
	assert_int_equal(t->p.nrecords, 1);
	assert_finding(finding(t, "CSV_SYNTAX", 0), SEVERITY_ERROR, 2,
	    "line 2");

	/* A quote never closed is reported at its row. */
	read_csv(t, "path,native_id,title\n"
	    "a.pdf,R-1,Fine\n"
	    "b.pdf,R-2,\"Open\nstill open\n");
	assert_int_equal(t->p.nrecords, 1);
	assert_finding(finding(t, "CSV_SYNTAX", 0), SEVERITY_ERROR, 3,
	    "not closed");
}

/* A quote left open early would make the rest of the file one field: the
 * row is capped (1 MiB) and reading stops there, memory bounded. */
static void
test_row_past_the_cap_stops_reading(void **state)
{
	struct csvt *t = *state;
	char *buf, *o;
	size_t i, cap = 3 * 1024 * 1024;

	assert_non_null(buf = malloc(cap));
	o = buf + sprintf(buf, "path,native_id,title\na.pdf,R-1,Fine\n"
	    "b.pdf,R-2,\"Open\n");
	for (i = 0; i < 60000; i++)
		o += sprintf(o, "c%zu.pdf,R-%zu,Row\n", i, i + 3);
	read_bytes(t, buf, (size_t)(o - buf));
	free(buf);
	assert_int_equal(t->f.n, 1);
	assert_finding(finding(t, "CSV_SYNTAX", 0), SEVERITY_ERROR, 3,
	    "longer than");
	assert_int_equal(t->p.nrecords, 1);
}

static void
test_header_is_case_insensitive_trimmed_and_knows_its_columns(void **state)
{
	struct csvt *t = *state;
	const struct pkg_record *r;

	read_csv(t, " Path ;NATIVE_ID; Title;Arkistoija;Record_Type\n"
	    "a.pdf;R-1;Åland ja öljy;Maija;Pöytäkirja\n");
	assert_int_equal(t->f.errors, 0);
	assert_int_equal(t->f.n, 1);
	assert_finding(finding(t, "CSV_COLUMN", 0), SEVERITY_INFO, 1,
	    "Arkistoija");
	assert_non_null(r = loose(t, "R-1"));
	assert_string_equal(r->c.title, "Åland ja öljy");
	assert_string_equal(r->c.type, "Pöytäkirja");
}

static void
test_missing_required_column_stops(void **state)
{
	struct csvt *t = *state;

	read_csv(t, "path,native_id,created\n"
	    "a.pdf,R-1,2020-01-01\n"
	    "b.pdf,R-1,not a date\n");
	assert_int_equal(t->f.n, 1);
	assert_finding(finding(t, "CSV_HEADER", 0), SEVERITY_ERROR, 1,
	    "no column title");
	assert_int_equal(t->p.nrecords, 0);

	read_csv(t, "native_id\nR-1\n");
	assert_finding(finding(t, "CSV_HEADER", 0), SEVERITY_ERROR, 1,
	    "no column path, title");

	read_csv(t, "path,native_id,title,TITLE\n");
	assert_finding(finding(t, "CSV_HEADER", 0), SEVERITY_ERROR, 1,
	    "title appears twice");

	read_csv(t, "");
	assert_int_equal(t->f.errors, 1);
	assert_true(findings_has(&t->f, "CSV_HEADER"));
	read_csv(t, "\xef\xbb\xbf\r\n\r\n");
	assert_int_equal(t->f.errors, 1);
	assert_true(findings_has(&t->f, "CSV_HEADER"));
}

static void
test_bad_dates_name_line_and_column(void **state)
{
	struct csvt *t = *state;
	const struct pkg_record *r;

	read_csv(t, "path,native_id,title,created\n"
	    "a.pdf,R-1,A,2023-02-30\n"
	    "b.pdf,R-2,B,29.2.2023\n"
	    "c.pdf,R-3,C,29.2.2024\n"
	    "d.pdf,R-4,D,2023-2-3\n"
	    "e.pdf,R-5,E,2023-13-01\n"
	    "f.pdf,R-6,F,yesterday\n"
	    "g.pdf,R-7,G,01.02.2003\n"
	    "h.pdf,R-8,H,2023-01-01T10:00\n");
	assert_int_equal(t->f.errors, 6);
	assert_int_equal(count(t, "CSV_VALUE"), 6);
	assert_finding(finding(t, "CSV_VALUE", 0), SEVERITY_ERROR, 2,
	    "line 2, column created: \"2023-02-30\" is not a date");
	assert_finding(finding(t, "CSV_VALUE", 1), SEVERITY_ERROR, 3,
	    "line 3, column created");
	assert_finding(finding(t, "CSV_VALUE", 2), SEVERITY_ERROR, 5,
	    "line 5, column created");
	assert_finding(finding(t, "CSV_VALUE", 5), SEVERITY_ERROR, 9,
	    "line 9, column created");
	/* Rows with an error stay out of the model. */
	assert_int_equal(t->p.nrecords, 2);
	assert_non_null(r = loose(t, "R-3"));
	assert_string_equal(r->c.created, "2024-02-29");
	assert_non_null(r = loose(t, "R-7"));
	assert_string_equal(r->c.created, "2003-02-01");
}

static void
test_retention_years(void **state)
{
	struct csvt *t = *state;
	const struct pkg_record *r;

	read_csv(t, "path,native_id,title,retention_years\n"
	    "a.pdf,R-1,A,abc\n"
	    "b.pdf,R-2,B,-5\n"
	    "c.pdf,R-3,C,+10\n"
	    "d.pdf,R-4,D,1000000\n"
	    "e.pdf,R-5,E,999999\n"
	    "f.pdf,R-6,F, 50 \n"
	    "g.pdf,R-7,G,-1\n"
	    "h.pdf,R-8,H,0\n"
	    "i.pdf,R-9,I,1.5\n");
	assert_int_equal(t->f.errors, 5);
	assert_finding(finding(t, "CSV_VALUE", 0), SEVERITY_ERROR, 2,
	    "line 2, column retention_years: \"abc\"");
	assert_finding(finding(t, "CSV_VALUE", 1), SEVERITY_ERROR, 3,
	    "line 3, column retention_years: \"-5\"");
	assert_finding(finding(t, "CSV_VALUE", 4), SEVERITY_ERROR, 10,
	    "line 10, column retention_years");
	assert_int_equal(t->f.warnings, 1);
	assert_finding(finding(t, "RETENTION_PERMANENT", 0), SEVERITY_WARNING,
	    6, "line 6, column retention_years: 999999");
	assert_int_equal(t->p.nrecords, 4);
	assert_non_null(r = loose(t, "R-5"));
	assert_true(r->c.has_retention);
	assert_int_equal(r->c.retention_period, -1);
	assert_int_equal(loose(t, "R-6")->c.retention_period, 50);
	assert_int_equal(loose(t, "R-7")->c.retention_period, -1);
	assert_true(loose(t, "R-8")->c.has_retention);
	assert_int_equal(loose(t, "R-8")->c.retention_period, 0);
}

static void
test_publicity_function_code_and_path(void **state)
{
	struct csvt *t = *state;

	read_csv(t, "path,native_id,title,publicity,function_code\n"
	    "a.pdf,R-1,A,Salainen,\n"
	    "b.pdf,R-2,B,Osittain salassapidettävä,10 03\n"
	    "c.pdf,R-3,C,,10/03\n"
	    "../d.pdf,R-4,D,,\n"
	    "/etc/passwd,R-5,E,,\n"
	    "x/../../f.pdf,R-6,F,,\n"
	    ",R-7,G,,\n");
	assert_int_equal(t->f.errors, 6);
	assert_finding(finding(t, "CSV_VALUE", 0), SEVERITY_ERROR, 2,
	    "line 2, column publicity: \"Salainen\"");
	assert_finding(finding(t, "CSV_VALUE", 1), SEVERITY_ERROR, 4,
	    "line 4, column function_code: \"10/03\"");
	assert_finding(finding(t, "CSV_VALUE", 2), SEVERITY_ERROR, 5,
	    "line 5, column path");
	assert_finding(finding(t, "CSV_VALUE", 3), SEVERITY_ERROR, 6,
	    "line 6, column path");
	assert_finding(finding(t, "CSV_VALUE", 4), SEVERITY_ERROR, 7,
	    "line 7, column path");
	assert_finding(finding(t, "CSV_VALUE", 5), SEVERITY_ERROR, 8,
	    "line 8, column path: empty");
	assert_int_equal(t->p.nrecords, 1);
	assert_string_equal(loose(t, "R-2")->c.publicity,
	    "Osittain salassapidettävä");
	assert_string_equal(loose(t, "R-2")->c.function_code, "10 03");
}

static void
test_bad_person_ssn_is_never_quoted(void **state)
{
	struct csvt *t = *state;
	const struct finding *fi;
	size_t i;

	read_csv(t, "path,native_id,title,person_ssn\n"
	    "a.pdf,R-1,A,131052-308U\n"
	    "b.pdf,R-2,B,010594Y9032|300201A1236\n"
	    "c.pdf,R-3,C,131052-308T|| 010594Y9021\n"
	    "d.pdf,R-4,D,131052-308T-extra\n");
	assert_int_equal(t->f.errors, 3);
	fi = finding(t, "CSV_VALUE", 0);
	assert_finding(fi, SEVERITY_ERROR, 2, "line 2, column person_ssn: "
	    "code 1 is not a valid");
	assert_finding(finding(t, "CSV_VALUE", 1), SEVERITY_ERROR, 3,
	    "line 3, column person_ssn: code 2 is not a valid");
	assert_finding(finding(t, "CSV_VALUE", 2), SEVERITY_ERROR, 5,
	    "line 5, column person_ssn");
	for (i = 0; i < t->f.n; i++) {
		assert_null(strstr(t->f.items[i].message, "131052"));
		assert_null(strstr(t->f.items[i].message, "010594"));
		assert_null(strstr(t->f.items[i].message, "300201"));
	}
	assert_int_equal(t->p.nrecords, 1);
	assert_int_equal(loose(t, "R-3")->c.nssns, 2);
	assert_string_equal(loose(t, "R-3")->c.ssns[1], "010594Y9021");

	/* A code in the wrong column is not quoted either, valid or not. */
	read_csv(t, "path,native_id,title,publicity,created\n"
	    "a.pdf,R-1,A,131052-308T,\n"
	    "b.pdf,R-2,B,,Henkilö 131052-308U\n");
	assert_int_equal(t->f.errors, 2);
	for (i = 0; i < t->f.n; i++) {
		assert_null(strstr(t->f.items[i].message, "131052"));
		assert_non_null(strstr(t->f.items[i].message, "(withheld)"));
	}
}

static void
test_duplicate_native_id_and_field_count(void **state)
{
	struct csvt *t = *state;

	read_csv(t, "path,native_id,title\n"
	    "a.pdf,R-1,A\n"
	    "b.pdf,R-2,B\n"
	    "c.pdf,R-1,C\n"
	    "d.pdf,R-4\n"
	    "e.pdf,R-5,E,extra\n"
	    ",,,\n"
	    "f.pdf,R-1,F\n");
	assert_int_equal(t->f.errors, 4);
	assert_finding(finding(t, "CSV_VALUE", 0), SEVERITY_ERROR, 4,
	    "line 4, column native_id: \"R-1\" is also the native_id of "
	    "line 2");
	assert_finding(finding(t, "CSV_VALUE", 1), SEVERITY_ERROR, 5,
	    "line 5: the row has 2 fields, the header 3");
	assert_finding(finding(t, "CSV_VALUE", 2), SEVERITY_ERROR, 6,
	    "line 6: the row has 4 fields");
	/* A row of separators only is blank, not an error. */
	assert_finding(finding(t, "CSV_VALUE", 3), SEVERITY_ERROR, 8,
	    "of line 2");
	assert_int_equal(t->p.nrecords, 2);
}

static void
test_invalid_utf8_is_reported_with_its_line(void **state)
{
	struct csvt *t = *state;

	read_csv(t, "path,native_id,title\n"
	    "a.pdf,R-1,P\xe4\xe4t\xf6s\n"	/* Latin-1 */
	    "b.pdf,R-2,\"two\nlines \xc3\"\n"	/* truncated */
	    "c.pdf,R-3,\xed\xa0\x80\n"		/* a surrogate */
	    "d.pdf,R-4,\xc0\xaf\n"		/* overlong '/' */
	    "e.pdf,R-5,Päätös\n");
	assert_int_equal(t->f.errors, 4);
	assert_int_equal(count(t, "CSV_ENCODING"), 4);
	assert_finding(finding(t, "CSV_ENCODING", 0), SEVERITY_ERROR, 2,
	    "line 2, column 3");
	assert_finding(finding(t, "CSV_ENCODING", 1), SEVERITY_ERROR, 4,
	    "line 4, column 3");
	assert_finding(finding(t, "CSV_ENCODING", 2), SEVERITY_ERROR, 5,
	    "line 5");
	assert_finding(finding(t, "CSV_ENCODING", 3), SEVERITY_ERROR, 6,
	    "line 6");
	assert_int_equal(t->p.nrecords, 1);
	assert_non_null(loose(t, "R-5"));

	/* A NUL byte is not text either. */
	read_bytes(t, "path,native_id,title\na.pdf,R-1,A\0B\n",
	    sizeof("path,native_id,title\na.pdf,R-1,A\0B\n") - 1);
	assert_finding(finding(t, "CSV_ENCODING", 0), SEVERITY_ERROR, 2,
	    "line 2");
	assert_int_equal(t->p.nrecords, 0);
}

static void
test_rows_are_grouped_into_case_files(void **state)
{
	struct csvt *t = *state;
	const struct pkg_casefile *cf;

	read_csv(t, "path;native_id;title;case_native_id;function_code;"
	    "created\n"
	    "a.pdf;R-1;A;C-1;;2020-05-01\n"
	    "b.pdf;R-2;B;C-2;02.01;2019-01-01\n"
	    "c.pdf;R-3;C;;;\n"
	    "d.pdf;R-4;D;C-1;10.03.00.09;1.3.2020\n"
	    "e.pdf;R-5;E;C-1;11;\n"
	    "f.pdf;R-6;F;C-2;12;2018-12-31\n");
	assert_int_equal(t->f.n, 0);
	assert_int_equal(t->p.nrecords, 1);
	assert_string_equal(t->p.records[0].c.native_id, "R-3");
	assert_int_equal(t->p.ncasefiles, 2);

	cf = &t->p.casefiles[0];
	assert_string_equal(cf->c.native_id, "C-1");
	assert_int_equal(cf->c.line, 2);
	assert_string_equal(cf->c.created, "2020-03-01");
	assert_string_equal(cf->c.function_code, "10 03 00 09");
	assert_int_equal(cf->nrecords, 3);
	assert_string_equal(cf->records[0].c.native_id, "R-1");
	assert_string_equal(cf->records[1].c.native_id, "R-4");
	assert_string_equal(cf->records[2].c.native_id, "R-5");
	assert_string_equal(cf->records[2].case_native_id, "C-1");
	assert_string_equal(cf->records[2].docs[0].path, "e.pdf");

	cf = &t->p.casefiles[1];
	assert_string_equal(cf->c.native_id, "C-2");
	assert_int_equal(cf->c.line, 3);
	assert_string_equal(cf->c.created, "2018-12-31");
	assert_string_equal(cf->c.function_code, "02 01");
	assert_int_equal(cf->nrecords, 2);
}

static void
test_every_bad_row_is_reported(void **state)
{
	struct csvt *t = *state;

	read_csv(t, "path,native_id,title,created,publicity\n"
	    "a.pdf,R-1,,2020-01-01,Julkinen\n"
	    "b.pdf,R-2,B,2020-01-32,Julkinen\n"
	    "c.pdf,R-3,C,2020-01-01,Julkinen\n"
	    "d.pdf,R-4,D,2020-01-01,kyllä\n"
	    ",,,x,y\n");
	/* The last row has five faults, each reported. */
	assert_int_equal(t->f.errors, 8);
	assert_int_equal(t->p.nrecords, 1);
	assert_non_null(loose(t, "R-3"));
	assert_int_equal(finding(t, "CSV_VALUE", 7)->line, 6);
}

static void
test_unreadable_file_is_a_sailo_failure(void **state)
{
	struct csvt *t = *state;

	assert_int_equal(csvmeta_read(&t->p, "/nonexistent/metadata.csv", REL,
	    &t->f, t->err, sizeof(t->err)), -1);
	assert_non_null(strstr(t->err, "/nonexistent/metadata.csv"));
	assert_int_equal(t->f.n, 0);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * 100,000 rows in 10,000 case files, every column filled: read in well
 * under a few seconds even under the sanitizers (a quadratic lookup of
 * case files or native ids would take minutes).
 */
static void
test_100k_rows_are_read_quickly(void **state)
{
	struct csvt *t = *state;
	const struct pkg_casefile *cf;
	char *buf, *o;
	size_t cap = 100000 * 200 + 1024, i, nrec = 0;
	double t0, elapsed;

	assert_non_null(buf = malloc(cap));
	o = buf;
	o += sprintf(o, "\xef\xbb\xbf" HEADER);
	for (i = 0; i < 100000; i++)
		o += sprintf(o, "docs/%zu/liite %zu.pdf,R-%zu,\"Päätös %zu, "
		    "\"\"liite\"\"\",C-%zu,10.03.00.%02zu,%zu.%zu.2020,"
		    "Päätös,10,Asiakirjan päivämäärä,Julkinen,%s\r\n",
		    i % 1000, i, i, i, i % 10000, i % 100, i % 28 + 1,
		    i % 12 + 1, i % 2 ? "131052-308T" : "");
	write_file(t, buf, (size_t)(o - buf));
	t0 = now_s();
	read_file(t);
	elapsed = now_s() - t0;
	print_message("100,000 rows (%.1f MB): %.3f s\n",
	    (double)(o - buf) / 1e6, elapsed);
	free(buf);

	assert_int_equal(t->f.n, 0);
	assert_int_equal(t->p.ncasefiles, 10000);
	assert_int_equal(t->p.nrecords, 0);
	for (i = 0; i < t->p.ncasefiles; i++)
		nrec += t->p.casefiles[i].nrecords;
	assert_int_equal(nrec, 100000);
	cf = &t->p.casefiles[1234];
	assert_string_equal(cf->c.native_id, "C-1234");
	assert_int_equal(cf->nrecords, 10);
	assert_string_equal(cf->records[9].c.native_id, "R-91234");
	assert_int_equal(cf->records[9].c.line, 91236);
	assert_string_equal(cf->records[9].c.title,
	    "Päätös 91234, \"liite\"");
	assert_true(elapsed < 20.0);
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_comma_file_makes_loose_records_with_normalised_values),
		T(test_semicolon_file_with_bom_and_crlf),
		T(test_quoted_fields_with_separator_newline_and_quotes),
		T(test_row_past_the_cap_stops_reading),
		T(test_header_is_case_insensitive_trimmed_and_knows_its_columns),
		T(test_missing_required_column_stops),
		T(test_bad_dates_name_line_and_column),
		T(test_retention_years),
		T(test_publicity_function_code_and_path),
		T(test_bad_person_ssn_is_never_quoted),
		T(test_duplicate_native_id_and_field_count),
		T(test_invalid_utf8_is_reported_with_its_line),
		T(test_rows_are_grouped_into_case_files),
		T(test_every_bad_row_is_reported),
		T(test_unreadable_file_is_a_sailo_failure),
		T(test_100k_rows_are_read_quickly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
