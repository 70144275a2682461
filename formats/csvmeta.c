/*
 * csvmeta.c — metadata.csv of a BagIt migration, read into the package
 * model a row at a time: an RFC 4180 reader (quoted fields with separators,
 * doubled quotes and line breaks in them; CRLF or LF; a UTF-8 BOM skipped;
 * ',' or ';' as the header shows), then each row's values checked and the
 * row made a record with one Document, in a case file by case_native_id or
 * loose.  A row with any error is reported and left out of the model, so
 * that nothing downstream meets a half-filled record; every row is still
 * read, so that one bad row never hides the next.
 *
 * Memory is the model plus one row (at most CSV_MAX_ROW_BYTES) and two hash
 * tables (native ids seen, case file indexes).  It does not check the files
 * the rows name (package_check_files() and the bag's manifests do), and no
 * message ever quotes a person identity code.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "package.h"

/* A row longer than this is most likely a quote never closed: the rest of
 * the file would otherwise become one field. */
#define CSV_MAX_ROW_BYTES	(1024 * 1024)
/* How much of a value a message quotes. */
#define CSV_EXCERPT_BYTES	40

enum csv_col {
	COL_PATH, COL_NATIVE_ID, COL_TITLE, COL_CASE_NATIVE_ID,
	COL_FUNCTION_CODE, COL_CREATED, COL_RECORD_TYPE, COL_RETENTION_YEARS,
	COL_TRIGGER, COL_PUBLICITY, COL_PERSON_SSN, COL_N
};

static const char *const csv_colnames[COL_N] = {
	"path", "native_id", "title", "case_native_id", "function_code",
	"created", "record_type", "retention_years", "trigger", "publicity",
	"person_ssn",
};

/* The required columns are the first ones of the enum. */
#define COL_NREQUIRED	3

static const char *const csv_publicity[] = {
	"Julkinen", "Osittain salassapidettävä", "Salassa pidettävä", NULL,
};

/* Where the reader is: at a field's start (white space seen only), in an
 * unquoted field, in a quoted one, just after a quote inside a quoted
 * field (closing, or the first of a doubled pair), after a closing quote. */
enum csv_state { CSV_START, CSV_UNQUOTED, CSV_QUOTED, CSV_QUOTE, CSV_AFTER };

struct csv_field {
	size_t	 off, len;	/* raw bytes in buf */
	long	 line;		/* of the field's first byte */
	long	 bad_line;	/* of its first byte that is not UTF-8, or 0 */
	char	*val;		/* trimmed, NUL-terminated, in buf */
};

/* The reader: bytes go in one at a time, a row comes out as fields. */
struct csv {
	char			 sep;
	enum csv_state		 state;
	bool			 in_row;
	long			 line;		/* of the next byte */
	long			 row_line;	/* of the row's first byte */
	const char		*syntax;	/* the row's first fault */
	char			*buf;
	size_t			 len, cap;
	struct csv_field	*fields;
	size_t			 nfields, capfields;
};

struct csvmeta {
	struct package	*p;
	const char	*rel;
	struct findings	*f;
	int		 col[COL_N];	/* field index, or -1 */
	size_t		 ncols;		/* fields in the header */
	bool		 has_header;
	struct strmap	 ids;		/* native_id → line */
	struct strmap	 cases;		/* case_native_id → casefiles[] */
};

/* Offset of the first byte of s[0..n) that is not UTF-8 (an overlong
 * form, a surrogate, past U+10FFFF, truncated) or is NUL, else n. */
static size_t
csv_utf8_bad(const unsigned char *s, size_t n)
{
	uint32_t cp, min;
	size_t i = 0, j, k;

	while (i < n) {
		if (s[i] == 0)
			return i;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			k = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			k = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			k = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return i;
		if (n - i <= k)
			return i;
		for (j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += k + 1;
	}
	return n;
}

/* Appends a byte to the row.  0, -1 without memory, -2 past the cap. */
static int
csv_push(struct csv *r, char c)
{
	char *b;
	size_t cap;

	if (r->len + 1 >= CSV_MAX_ROW_BYTES)
		return -2;
	if (r->len + 1 >= r->cap) {
		cap = r->cap ? r->cap * 2 : 256;
		if ((b = realloc(r->buf, cap)) == NULL)
			return -1;
		r->buf = b;
		r->cap = cap;
	}
	r->buf[r->len++] = c;
	return 0;
}

static int
csv_field_begin(struct csv *r)
{
	struct csv_field *fl;
	size_t cap;

	if (r->nfields == r->capfields) {
		cap = r->capfields ? r->capfields * 2 : 16;
		if ((fl = reallocarray(r->fields, cap, sizeof(*fl))) == NULL)
			return -1;
		r->fields = fl;
		r->capfields = cap;
	}
	fl = &r->fields[r->nfields++];
	memset(fl, 0, sizeof(*fl));
	fl->off = r->len;
	fl->line = r->line;
	r->state = CSV_START;
	return 0;
}

static int
csv_field_end(struct csv *r)
{
	struct csv_field *fl = &r->fields[r->nfields - 1];

	fl->len = r->len - fl->off;
	return csv_push(r, '\0');
}

/*
 * One byte of input.  1 when it ended a row (r->fields holds it, raw),
 * 0 when not, -1 without memory, -2 when the row passed the cap.  The
 * caller counts lines: r->line is the line of c.  Outside quotes '\r' is
 * white space, trimmed with the rest; inside them CRLF is read as LF.
 * White space before an opening quote is dropped; text after a closing
 * quote is kept but makes the row a syntax error.
 */
static int
csv_feed(struct csv *r, int c)
{
	struct csv_field *fl;
	int rc;

	if (!r->in_row) {
		r->in_row = true;
		r->row_line = r->line;
		r->syntax = NULL;
		r->len = 0;
		r->nfields = 0;
		if ((rc = csv_field_begin(r)) != 0)
			return rc;
	}
	fl = &r->fields[r->nfields - 1];
	switch (r->state) {
	case CSV_START:
		if (c == '"') {
			r->len = fl->off;
			fl->line = r->line;
			r->state = CSV_QUOTED;
			return 0;
		}
		if (c != ' ' && c != '\t')
			r->state = CSV_UNQUOTED;
		break;
	case CSV_UNQUOTED:
		break;
	case CSV_QUOTED:
		if (c == '"') {
			r->state = CSV_QUOTE;
			return 0;
		}
		if (c == '\n' && r->len > fl->off && r->buf[r->len - 1] == '\r') {
			r->buf[r->len - 1] = '\n';
			return 0;
		}
		return csv_push(r, c);
	case CSV_QUOTE:
		if (c == '"') {
			r->state = CSV_QUOTED;
			return csv_push(r, '"');
		}
		r->state = CSV_AFTER;
		/* FALLTHROUGH */
	case CSV_AFTER:
		if (c == ' ' || c == '\t' || c == '\r')
			return 0;
		if (c != r->sep && c != '\n') {
			if (r->syntax == NULL)
				r->syntax = "text follows the closing quote of "
				    "a field";
			r->state = CSV_UNQUOTED;
		}
		break;
	}
	if (c == r->sep) {
		if ((rc = csv_field_end(r)) != 0)
			return rc;
		return csv_field_begin(r);
	}
	if (c == '\n') {
		if ((rc = csv_field_end(r)) != 0)
			return rc;
		r->in_row = false;
		return 1;
	}
	return csv_push(r, c);
}

/* The end of the file: 1 when it ended a row, else as csv_feed(). */
static int
csv_finish(struct csv *r)
{
	int rc;

	if (!r->in_row)
		return 0;
	if (r->state == CSV_QUOTED && r->syntax == NULL)
		r->syntax = "a quoted field is not closed before the end of the "
		    "file";
	if ((rc = csv_field_end(r)) != 0)
		return rc;
	r->in_row = false;
	return 1;
}

static bool
csv_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Checks each field's bytes and trims it into fl->val.  True when every
 * field is empty (a blank line, or separators only). */
static bool
csv_row_done(struct csv *r)
{
	struct csv_field *fl;
	bool blank = true;
	size_t i, bad, k;
	char *s, *e;

	for (i = 0; i < r->nfields; i++) {
		fl = &r->fields[i];
		s = r->buf + fl->off;
		bad = csv_utf8_bad((unsigned char *)s, fl->len);
		fl->bad_line = 0;
		if (bad < fl->len) {
			fl->bad_line = fl->line;
			for (k = 0; k < bad; k++)
				if (s[k] == '\n')
					fl->bad_line++;
		}
		e = s + fl->len;
		while (s < e && csv_is_space(*s))
			s++;
		while (e > s && csv_is_space(e[-1]))
			e--;
		*e = '\0';
		fl->val = s;
		if (*s != '\0')
			blank = false;
	}
	return blank;
}

/*
 * The separator the header uses: whichever of ',' and ';' it has outside
 * quotes, the more frequent if both (blank lines before it skipped).
 * Reads at most CSV_MAX_ROW_BYTES; the caller rewinds.
 */
static char
csv_detect_sep(FILE *fp)
{
	size_t commas = 0, semis = 0, nbytes = 0;
	bool in_quotes = false, seen = false;
	int c;

	while ((c = getc_unlocked(fp)) != EOF && nbytes++ < CSV_MAX_ROW_BYTES) {
		if (c == '"')
			in_quotes = !in_quotes;
		if (in_quotes)
			continue;
		if (c == '\n' && seen)
			break;
		if (c == ',')
			commas++;
		else if (c == ';')
			semis++;
		if (!csv_is_space(c))
			seen = true;
	}
	return semis > commas ? ';' : ',';
}

/* Skips a UTF-8 byte order mark at the start of the file. */
static void
csv_skip_bom(FILE *fp)
{
	unsigned char b[3];

	if (fread(b, 1, 3, fp) != 3 || b[0] != 0xef || b[1] != 0xbb ||
	    b[2] != 0xbf)
		rewind(fp);
}

/*
 * True when s has the shape of a personal identity code somewhere (six
 * digits, a sign, three digits, a character), valid or not: a mistyped
 * code is still personal data.
 */
static bool
csvmeta_has_hetu_shape(const char *s)
{
	size_t n = strlen(s), i, k;

	for (i = 0; i + 11 <= n; i++) {
		for (k = 0; k < 10; k++)
			if (k != 6 && (s[i + k] < '0' || s[i + k] > '9'))
				break;
		if (k == 10 && strchr("+-ABCDEFYXWVUabcdefyxwvu", s[i + 6]) &&
		    s[i + 6] != '\0')
			return true;
	}
	return false;
}

/* Up to CSV_EXCERPT_BYTES of v for a message, cut at a character,
 * control characters as spaces.  A value that may hold a personal
 * identity code (in the wrong column, say) is never quoted. */
static const char *
csvmeta_excerpt(const char *v, char out[CSV_EXCERPT_BYTES + 8])
{
	size_t n = strlen(v), i;

	if (csvmeta_has_hetu_shape(v))
		return "(withheld)";
	if (n <= CSV_EXCERPT_BYTES) {
		memcpy(out, v, n + 1);
	} else {
		n = CSV_EXCERPT_BYTES;
		while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
			n--;
		memcpy(out, v, n);
		memcpy(out + n, "…", sizeof("…"));
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20)
			out[i] = ' ';
	return out;
}

/* A CSV_VALUE error on the row at line, naming the column. */
static void
csvmeta_bad(struct csvmeta *m, long line, enum csv_col col, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
csvmeta_bad(struct csvmeta *m, long line, enum csv_col col, const char *fmt,
    ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	findings_add(m->f, SEVERITY_ERROR, "CSV_VALUE", m->rel, line,
	    "line %ld, column %s: %s", line, csv_colnames[col], msg);
}

static int
csvmeta_days_in_month(int year, int month)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* Reads up to max digits (at least min) at *s as a number; -1 if fewer. */
static int
csvmeta_digits(const char **s, int min, int max)
{
	int n = 0, v = 0;

	while (n < max && **s >= '0' && **s <= '9') {
		v = v * 10 + (**s - '0');
		(*s)++;
		n++;
	}
	return n < min ? -1 : v;
}

/* "YYYY-MM-DD", or the Finnish "D.M.YYYY" (leading zeros optional), a
 * real calendar date; out gets YYYY-MM-DD. */
static bool
csvmeta_date(const char *v, char out[11])
{
	const char *s = v;
	int y, mo, d;

	if (strlen(v) == 10 && v[4] == '-' && v[7] == '-') {
		y = csvmeta_digits(&s, 4, 4);
		s++;
		mo = csvmeta_digits(&s, 2, 2);
		s++;
		d = csvmeta_digits(&s, 2, 2);
	} else {
		d = csvmeta_digits(&s, 1, 2);
		if (*s++ != '.')
			return false;
		mo = csvmeta_digits(&s, 1, 2);
		if (*s++ != '.')
			return false;
		y = csvmeta_digits(&s, 4, 4);
	}
	if (*s != '\0' || y < 1 || mo < 1 || mo > 12 || d < 1 ||
	    d > csvmeta_days_in_month(y, mo))
		return false;
	/* The ranges are known; the modulo tells the compiler. */
	snprintf(out, 11, "%04d-%02d-%02d", y % 10000, mo % 100, d % 100);
	return true;
}

/* The value of a column in the row, "" when the header has no such
 * column. */
static const char *
csvmeta_value(const struct csvmeta *m, const struct csv *r, enum csv_col col)
{
	return m->col[col] < 0 ? "" : r->fields[m->col[col]].val;
}

/*
 * A row's path, relative to data/, normalised by package_document_path()
 * as a Name under the Path ".": that function joins Path and Name with '/'
 * and refuses a result that starts with '/', so with an empty Path every
 * Name would be refused.  The "./" would hide an absolute Name, so the
 * absolute forms ("/x", "\\x", "C:x") are refused here.  malloc'd, or
 * NULL.
 */
static char *
csvmeta_path(const char *v)
{
	if (v[0] == '/' || v[0] == '\\' || (((v[0] | 0x20) >= 'a' &&
	    (v[0] | 0x20) <= 'z') && v[1] == ':'))
		return NULL;
	return package_document_path(".", v);
}

/*
 * The header row: column names, case and white space ignored.  False when
 * reading must stop (a required column missing, a name twice).
 */
static bool
csvmeta_header(struct csvmeta *m, const struct csv *r)
{
	char missing[128] = "", ex[CSV_EXCERPT_BYTES + 8];
	const char *name;
	bool ok = true;
	size_t i, len = 0;
	int c;

	m->has_header = true;
	m->ncols = r->nfields;
	for (i = 0; i < r->nfields; i++) {
		if (r->fields[i].bad_line != 0) {
			findings_add(m->f, SEVERITY_ERROR, "CSV_ENCODING", m->rel,
			    r->fields[i].bad_line, "line %ld: the name of column "
			    "%zu is not UTF-8", r->fields[i].bad_line, i + 1);
			continue;
		}
		name = r->fields[i].val;
		for (c = 0; c < COL_N; c++)
			if (strcasecmp(name, csv_colnames[c]) == 0)
				break;
		if (c == COL_N) {
			findings_add(m->f, SEVERITY_INFO, "CSV_COLUMN", m->rel,
			    r->row_line, "line %ld: column %zu (\"%s\") is "
			    "not a known column and is ignored", r->row_line,
			    i + 1, csvmeta_excerpt(name, ex));
		} else if (m->col[c] >= 0) {
			findings_add(m->f, SEVERITY_ERROR, "CSV_HEADER", m->rel,
			    r->row_line, "line %ld: column %s appears twice "
			    "(columns %d and %zu)", r->row_line, csv_colnames[c],
			    m->col[c] + 1, i + 1);
			ok = false;
		} else
			m->col[c] = (int)i;
	}
	for (c = 0; c < COL_NREQUIRED; c++)
		if (m->col[c] < 0)
			len += snprintf(missing + len, sizeof(missing) - len,
			    "%s%s", len ? ", " : "", csv_colnames[c]);
	if (missing[0] != '\0') {
		findings_add(m->f, SEVERITY_ERROR, "CSV_HEADER", m->rel,
		    r->row_line, "line %ld: the header has no column %s "
		    "(path, native_id and title are required)", r->row_line,
		    missing);
		ok = false;
	}
	return ok;
}

/* One row's values, checked; NULL where absent.  Owned until moved into
 * the model. */
struct csvmeta_row {
	long		 line;
	char		*path;
	char		*function_code;
	char		 created[11];
	long		 retention_years;
	bool		 has_retention;
	const char	*publicity;	/* static */
	char		**ssns;
	size_t		 nssns;
};

static void
csvmeta_row_free(struct csvmeta_row *w)
{
	size_t i;

	free(w->path);
	free(w->function_code);
	for (i = 0; i < w->nssns; i++)
		free(w->ssns[i]);
	free(w->ssns);
}

/*
 * person_ssn: codes separated by white space or '|'.  A bad code is named
 * by its place in the field, never by its text.  False on an error; -1 in
 * *oom without memory.
 */
static bool
csvmeta_ssns(struct csvmeta *m, struct csvmeta_row *w, const char *v,
    int *oom)
{
	static const char delims[] = " \t\r\n|";
	char code[16], norm[12], **grown;
	size_t len, nth = 0, i;
	bool ok = true;

	for (v += strspn(v, delims); *v != '\0'; v += strspn(v, delims)) {
		len = strcspn(v, delims);
		nth++;
		code[0] = '\0';
		if (len < sizeof(code)) {
			memcpy(code, v, len);
			code[len] = '\0';
		}
		if (!hetu_valid(code, norm)) {
			csvmeta_bad(m, w->line, COL_PERSON_SSN, "code %zu is "
			    "not a valid personal identity code", nth);
			ok = false;
		} else {
			for (i = 0; i < w->nssns; i++)
				if (strcmp(w->ssns[i], norm) == 0)
					break;
			if (i == w->nssns) {
				grown = reallocarray(w->ssns, w->nssns + 1,
				    sizeof(*grown));
				if (grown == NULL) {
					*oom = -1;
					return false;
				}
				w->ssns = grown;
				if ((w->ssns[w->nssns] = strdup(norm)) == NULL) {
					*oom = -1;
					return false;
				}
				w->nssns++;
			}
		}
		v += len;
	}
	explicit_bzero(code, sizeof(code));
	explicit_bzero(norm, sizeof(norm));
	return ok;
}

/* retention_years: -1, or 0 to 999998 years; 999999 is read as -1 with a
 * warning (some exporters write it for "permanent").  Larger numbers are
 * refused before they overflow a date calculation. */
static bool
csvmeta_retention(struct csvmeta *m, struct csvmeta_row *w, const char *v)
{
	char ex[CSV_EXCERPT_BYTES + 8];
	size_t n = strlen(v);

	if (strcmp(v, "-1") == 0) {
		w->retention_years = -1;
	} else if (n > 0 && n <= 6 && strspn(v, "0123456789") == n) {
		w->retention_years = strtol(v, NULL, 10);
		if (w->retention_years == 999999) {
			w->retention_years = -1;
			findings_add(m->f, SEVERITY_WARNING,
			    "RETENTION_PERMANENT", m->rel, w->line, "line %ld, "
			    "column retention_years: 999999 is read as -1 "
			    "(permanent)", w->line);
		}
	} else {
		csvmeta_bad(m, w->line, COL_RETENTION_YEARS, "\"%s\" is not "
		    "a number of years (-1 for permanent, or 0 to 999998)",
		    csvmeta_excerpt(v, ex));
		return false;
	}
	w->has_retention = true;
	return true;
}

/* Checks the values of a row into w.  False when the row has an error;
 * -1 in *oom without memory. */
static bool
csvmeta_check(struct csvmeta *m, const struct csv *r, struct csvmeta_row *w,
    int *oom)
{
	char ex[CSV_EXCERPT_BYTES + 8];
	const char *v;
	size_t seen;
	bool ok = true;
	int c, i;

	for (c = 0; c < COL_NREQUIRED; c++)
		if (*csvmeta_value(m, r, c) == '\0') {
			csvmeta_bad(m, w->line, c, "empty, but required");
			ok = false;
		}

	v = csvmeta_value(m, r, COL_PATH);
	if (*v != '\0' && (w->path = csvmeta_path(v)) == NULL) {
		csvmeta_bad(m, w->line, COL_PATH, "\"%s\" does not name a file "
		    "inside data/ (absolute, or climbing out with ..)",
		    csvmeta_excerpt(v, ex));
		ok = false;
	}

	v = csvmeta_value(m, r, COL_NATIVE_ID);
	if (*v != '\0') {
		if (strmap_get(&m->ids, v, &seen)) {
			csvmeta_bad(m, w->line, COL_NATIVE_ID, "\"%s\" is also "
			    "the native_id of line %zu", csvmeta_excerpt(v, ex),
			    seen);
			ok = false;
		} else if (strmap_put(&m->ids, v, (size_t)w->line) == -1) {
			*oom = -1;
			return false;
		}
	}

	v = csvmeta_value(m, r, COL_FUNCTION_CODE);
	if (*v != '\0' &&
	    (w->function_code = package_function_code(v)) == NULL) {
		csvmeta_bad(m, w->line, COL_FUNCTION_CODE, "\"%s\" is not a "
		    "function code (digit groups, such as 10 03 00 09)",
		    csvmeta_excerpt(v, ex));
		ok = false;
	}

	v = csvmeta_value(m, r, COL_CREATED);
	if (*v != '\0' && !csvmeta_date(v, w->created)) {
		csvmeta_bad(m, w->line, COL_CREATED, "\"%s\" is not a date "
		    "(YYYY-MM-DD or D.M.YYYY)", csvmeta_excerpt(v, ex));
		ok = false;
	}

	v = csvmeta_value(m, r, COL_RETENTION_YEARS);
	if (*v != '\0' && !csvmeta_retention(m, w, v))
		ok = false;

	v = csvmeta_value(m, r, COL_PUBLICITY);
	if (*v != '\0') {
		for (i = 0; csv_publicity[i] != NULL; i++)
			if (strcasecmp(v, csv_publicity[i]) == 0)
				break;
		if ((w->publicity = csv_publicity[i]) == NULL) {
			csvmeta_bad(m, w->line, COL_PUBLICITY, "\"%s\" is none "
			    "of Julkinen, Osittain salassapidettävä, Salassa "
			    "pidettävä", csvmeta_excerpt(v, ex));
			ok = false;
		}
	}

	v = csvmeta_value(m, r, COL_PERSON_SSN);
	if (!csvmeta_ssns(m, w, v, oom))
		ok = false;
	return ok;
}

/* A copy of v, NULL when v is empty; *oom set when the copy failed. */
static char *
csvmeta_dup(const char *v, int *oom)
{
	char *s;

	if (v == NULL || *v == '\0')
		return NULL;
	if ((s = strdup(v)) == NULL)
		*oom = -1;
	return s;
}

/*
 * A checked row into the model: its case file (found or made), the record,
 * its Document.  w's strings move into the model.  0, or -1 without
 * memory.  Case files are kept by index: casefiles[] moves as it grows.
 */
static int
csvmeta_add(struct csvmeta *m, const struct csv *r, struct csvmeta_row *w)
{
	struct package *p = m->p;
	struct pkg_casefile *cf = NULL;
	struct pkg_record *rec;
	struct pkg_document *d;
	size_t index;
	const char *case_id = csvmeta_value(m, r, COL_CASE_NATIVE_ID);
	int oom = 0;

	if (*case_id != '\0') {
		if (strmap_get(&m->cases, case_id, &index))
			cf = &p->casefiles[index];
		else {
			if ((cf = package_add_casefile(p)) == NULL ||
			    (cf->c.native_id = strdup(case_id)) == NULL ||
			    strmap_put(&m->cases, case_id,
			    p->ncasefiles - 1) == -1)
				return -1;
			cf->c.line = w->line;
		}
		if (w->created[0] != '\0' && (cf->c.created == NULL ||
		    strcmp(w->created, cf->c.created) < 0)) {
			free(cf->c.created);
			if ((cf->c.created = strdup(w->created)) == NULL)
				return -1;
		}
		if (cf->c.function_code == NULL && w->function_code != NULL &&
		    (cf->c.function_code = strdup(w->function_code)) == NULL)
			return -1;
	}

	if ((rec = package_add_record(p, cf)) == NULL)
		return -1;
	rec->c.line = w->line;
	rec->c.native_id = csvmeta_dup(csvmeta_value(m, r, COL_NATIVE_ID),
	    &oom);
	rec->c.title = csvmeta_dup(csvmeta_value(m, r, COL_TITLE), &oom);
	rec->c.type = csvmeta_dup(csvmeta_value(m, r, COL_RECORD_TYPE), &oom);
	rec->c.trigger = csvmeta_dup(csvmeta_value(m, r, COL_TRIGGER), &oom);
	rec->c.created = csvmeta_dup(w->created, &oom);
	rec->c.publicity = csvmeta_dup(w->publicity, &oom);
	rec->case_native_id = csvmeta_dup(case_id, &oom);
	rec->c.function_code = w->function_code;
	w->function_code = NULL;
	rec->c.has_retention = w->has_retention;
	rec->c.retention_period = w->retention_years;
	rec->c.ssns = w->ssns;
	rec->c.nssns = w->nssns;
	w->ssns = NULL;
	w->nssns = 0;
	if (oom)
		return -1;

	if ((d = package_add_document(rec)) == NULL ||
	    (d->native_id = strdup(rec->c.native_id)) == NULL)
		return -1;
	d->path = w->path;
	w->path = NULL;
	d->line = w->line;
	return 0;
}

/*
 * One row after the header: its syntax, encoding and field count, then its
 * values; a row without error goes into the model.  0, or -1 without
 * memory.
 */
static int
csvmeta_row(struct csvmeta *m, const struct csv *r)
{
	struct csvmeta_row w;
	bool ok = true;
	size_t i;
	int oom = 0, rc = 0;

	memset(&w, 0, sizeof(w));
	w.line = r->row_line;
	if (r->syntax != NULL) {
		findings_add(m->f, SEVERITY_ERROR, "CSV_SYNTAX", m->rel,
		    r->row_line, "line %ld: %s", r->row_line, r->syntax);
		ok = false;
	}
	for (i = 0; i < r->nfields; i++) {
		if (r->fields[i].bad_line == 0)
			continue;
		if (i < m->ncols)
			findings_add(m->f, SEVERITY_ERROR, "CSV_ENCODING",
			    m->rel, r->fields[i].bad_line, "line %ld, column "
			    "%zu: not UTF-8", r->fields[i].bad_line, i + 1);
		else
			findings_add(m->f, SEVERITY_ERROR, "CSV_ENCODING",
			    m->rel, r->fields[i].bad_line, "line %ld: not "
			    "UTF-8", r->fields[i].bad_line);
		ok = false;
	}
	if (r->nfields != m->ncols) {
		findings_add(m->f, SEVERITY_ERROR, "CSV_VALUE", m->rel,
		    r->row_line, "line %ld: the row has %zu fields, the header "
		    "%zu", r->row_line, r->nfields, m->ncols);
		ok = false;
	}
	/* Values are judged only in a row whose columns can be trusted. */
	if (ok && csvmeta_check(m, r, &w, &oom) && !oom)
		rc = csvmeta_add(m, r, &w);
	if (oom)
		rc = -1;
	csvmeta_row_free(&w);
	return rc;
}

int
csvmeta_read(struct package *p, const char *path, const char *rel,
    struct findings *f, char *err, size_t errlen)
{
	struct csvmeta m;
	struct csv r;
	FILE *fp = NULL;
	bool is_cut = false;
	int c, rc, ret = -1;

	memset(&m, 0, sizeof(m));
	memset(&r, 0, sizeof(r));
	m.p = p;
	m.rel = rel;
	m.f = f;
	for (c = 0; c < COL_N; c++)
		m.col[c] = -1;
	if (strmap_init(&m.ids, 1024, true) == -1 ||
	    strmap_init(&m.cases, 1024, true) == -1) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}

	if (p->metadata_path == NULL && rel != NULL &&
	    (p->metadata_path = strdup(rel)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if ((fp = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	csv_skip_bom(fp);
	r.sep = csv_detect_sep(fp);
	rewind(fp);
	csv_skip_bom(fp);
	r.line = 1;

	for (;;) {
		if ((c = getc_unlocked(fp)) == EOF)
			rc = csv_finish(&r);
		else {
			rc = csv_feed(&r, c);
			if (c == '\n')
				r.line++;
		}
		if (rc == -1) {
			snprintf(err, errlen, "%s: out of memory", path);
			goto out;
		}
		if (rc == -2) {
			findings_add(f, SEVERITY_ERROR, "CSV_SYNTAX", rel,
			    r.row_line, "line %ld: the row is longer than %d "
			    "bytes (a quote not closed?); reading stops here",
			    r.row_line, CSV_MAX_ROW_BYTES);
			is_cut = true;
			break;
		}
		if (rc == 1 && !csv_row_done(&r)) {
			if (!m.has_header) {
				if (!csvmeta_header(&m, &r))
					break;
			} else if (csvmeta_row(&m, &r) == -1) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto out;
			}
		}
		if (c == EOF)
			break;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!m.has_header && !is_cut)
		findings_add(f, SEVERITY_ERROR, "CSV_HEADER", rel, 0, "the file "
		    "has no header line (path, native_id, title, …)");
	ret = 0;
out:
	if (fp != NULL)
		fclose(fp);
	free(r.buf);
	free(r.fields);
	strmap_free(&m.ids);
	strmap_free(&m.cases);
	return ret;
}

/* One row's raw bytes, kept until the row is read and judged. */
struct csv_raw {
	char	*buf;
	size_t	 len, cap;
};

static int
csv_raw_push(struct csv_raw *w, int c)
{
	char *p;

	if (w->len == w->cap) {
		if (w->cap >= CSV_MAX_ROW_BYTES + 16 ||
		    (p = realloc(w->buf, w->cap ? w->cap * 2 : 4096)) == NULL)
			return -1;
		w->buf = p;
		w->cap = w->cap ? w->cap * 2 : 4096;
	}
	w->buf[w->len++] = (char)c;
	return 0;
}

int
csvmeta_redact(const char *src, const char *dst,
    bool (*gone)(const char *, void *), void *arg, size_t *left, char *err,
    size_t errlen)
{
	static const unsigned char bom[3] = { 0xef, 0xbb, 0xbf };
	struct csv r;
	struct csv_raw raw = { NULL, 0, 0 };
	unsigned char head[3];
	FILE *in, *out = NULL;
	long col = -1;
	bool has_header = false, keep;
	size_t i;
	int c, rc, ret = -1;

	*left = 0;
	memset(&r, 0, sizeof(r));
	if ((in = fopen(src, "rb")) == NULL) {
		snprintf(err, errlen, "%s: %s", src, strerror(errno));
		return -1;
	}
	if ((out = fopen(dst, "wbx")) == NULL) {
		snprintf(err, errlen, "%s: %s", dst, strerror(errno));
		goto out;
	}
	if (fread(head, 1, 3, in) == 3 && memcmp(head, bom, 3) == 0)
		fwrite(bom, 1, 3, out);
	rewind(in);
	csv_skip_bom(in);
	r.sep = csv_detect_sep(in);
	rewind(in);
	csv_skip_bom(in);
	r.line = 1;
	for (;;) {
		if ((c = getc_unlocked(in)) == EOF)
			rc = csv_finish(&r);
		else {
			if (csv_raw_push(&raw, c) == -1) {
				snprintf(err, errlen, "%s: a row longer than %d "
				    "bytes", src, CSV_MAX_ROW_BYTES);
				goto out;
			}
			rc = csv_feed(&r, c);
			if (c == '\n')
				r.line++;
		}
		if (rc < 0) {
			snprintf(err, errlen, "%s: line %ld: %s", src, r.row_line,
			    rc == -1 ? "out of memory" : "the row is too long");
			goto out;
		}
		if (rc == 1) {
			keep = true;
			if (!csv_row_done(&r)) {
				if (!has_header) {
					has_header = true;
					for (i = 0; i < r.nfields; i++)
						if (strcasecmp(r.fields[i].val,
						    "native_id") == 0)
							col = (long)i;
				} else if (col >= 0 && (size_t)col <
				    r.nfields && gone(r.fields[col].val, arg))
					keep = false;
				else
					(*left)++;
			}
			if (keep)
				fwrite(raw.buf, 1, raw.len, out);
			raw.len = 0;
		}
		if (c == EOF)
			break;
	}
	fwrite(raw.buf, 1, raw.len, out);	/* blank tail, if any */
	if (ferror(in)) {
		snprintf(err, errlen, "%s: %s", src, strerror(errno));
		goto out;
	}
	if (col < 0) {
		snprintf(err, errlen, "%s: no native_id column", src);
		goto out;
	}
	ret = 0;
out:
	fclose(in);
	if (out && fclose(out) == EOF && ret == 0) {
		snprintf(err, errlen, "%s: %s", dst, strerror(errno));
		ret = -1;
	}
	free(raw.buf);
	free(r.buf);
	free(r.fields);
	return ret;
}
