/*
 * sahke2.c — reads a SÄHKE2 metadata file (2011 or 2019 namespace) into the
 * package model: validated against the bundled schema while it streams,
 * one CaseFile subtree in memory at a time, then the rules the schema
 * cannot express (retention, security reason, dates, function codes,
 * person identity codes).  Each case file's metadata is written out alone
 * as an extract (a Metadata document of its own) for its AIP.  It does not
 * look at the content files: package_check_files() does (package.c).
 *
 * Traps (DESIGN.md): never XML_PARSE_NOENT, _DTDLOAD or _XINCLUDE (Custom
 * may hold xi:include, which stays text); a DOCTYPE is refused before
 * libxml2 sees the file, which closes billion laughs, XXE and external DTDs
 * at once; XML_PARSE_BIG_LINES, or lines past 65,535 read as 65535; a
 * 140 MB metadata file held as a DOM takes over 1 GB.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlreader.h>
#include <libxml/xmlsave.h>
#include <libxml/xmlschemas.h>

#include "package.h"

#define SAHKE2_NS_2011	"http://www.arkisto.fi/skeemat/Sahke2/2011/12/20"
#define SAHKE2_NS_2019	"http://www.arkisto.fi/skeemat/Sahke2/2019/08/29"
/* No XML_PARSE_NOENT, _DTDLOAD, _DTDATTR or _XINCLUDE, ever. */
#define SAHKE2_PARSE	(XML_PARSE_NONET | XML_PARSE_BIG_LINES)
#define SAHKE2_PERMANENT 999999	/* years: the archives' old "forever" */
#define SAHKE2_PROLOG_BYTES (64 * 1024)

/* formats/schemas.S */
extern const char sailo_xsd_sahke2_2011[], sailo_xsd_sahke2_2011_end[];
extern const char sailo_xsd_sahke2_2019[], sailo_xsd_sahke2_2019_end[];

static xmlSchemaPtr		 sahke2_schema_2011, sahke2_schema_2019;
static pthread_once_t		 sahke2_once = PTHREAD_ONCE_INIT;
static char			 sahke2_init_err[256];
static xmlExternalEntityLoader	 sahke2_next_loader;
/* Set while this thread reads a submitted file: nothing external loads. */
static __thread int		 sahke2_reading;

/* One sahke2_read() in progress. */
struct sahke2 {
	struct package	*p;
	struct findings	*f;
	const char	*rel;
	const char	*ns;		/* the root's namespace */
	const char	*extract_dir;
	size_t		 nschema;	/* SAHKE2_SCHEMA findings */
	size_t		 nmalformed;	/* XML_MALFORMED findings */
	char		*wrap_open;	/* the extracts' Metadata tags */
	char		*wrap_close;
	char		*transfer;	/* TransferInformation, as XML */
	char		*contact;	/* ContactInformation, as XML */
	int		 failed;	/* Sailo failed: err is set */
	char		*err;
	size_t		 errlen;
};

static void
sahke2_fail(struct sahke2 *s, const char *what)
{
	if (!s->failed)
		snprintf(s->err, s->errlen, "%s: %s", s->rel, what);
	s->failed = 1;
}

/*
 * The entity loader while a submitted file is read: nothing.  With no
 * DOCTYPE there is nothing to load anyway; this is the second lock, for a
 * DOCTYPE the prolog scan could not see (an encoding trick).  Other users
 * of libxml2 in the process keep the loader they had.
 */
static xmlParserInputPtr
sahke2_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	if (sahke2_reading)
		return NULL;
	return sahke2_next_loader(url, id, ctxt);
}

static void
sahke2_schema_error(void *arg, xmlErrorPtr e)
{
	char *err = arg;

	if (err[0] == '\0' && e != NULL && e->message != NULL)
		snprintf(err, sizeof(sahke2_init_err), "line %d: %s", e->line,
		    e->message);
}

static xmlSchemaPtr
sahke2_parse_schema(const char *start, const char *end, const char *name)
{
	xmlSchemaParserCtxtPtr pc;
	xmlSchemaPtr schema = NULL;

	pc = xmlSchemaNewMemParserCtxt(start, (int)(end - start));
	if (pc == NULL) {
		snprintf(sahke2_init_err, sizeof(sahke2_init_err),
		    "%s: no memory for the schema parser", name);
		return NULL;
	}
	xmlSchemaSetParserStructuredErrors(pc, sahke2_schema_error,
	    sahke2_init_err);
	schema = xmlSchemaParse(pc);
	xmlSchemaFreeParserCtxt(pc);
	if (schema == NULL && sahke2_init_err[0] == '\0')
		snprintf(sahke2_init_err, sizeof(sahke2_init_err),
		    "%s: the bundled schema does not parse", name);
	return schema;
}

static void
sahke2_init_once(void)
{
	xmlInitParser();
	sahke2_next_loader = xmlGetExternalEntityLoader();
	xmlSetExternalEntityLoader(sahke2_loader);
	sahke2_schema_2011 = sahke2_parse_schema(sailo_xsd_sahke2_2011,
	    sailo_xsd_sahke2_2011_end, "Sahke2_2011_12.xsd");
	if (sahke2_schema_2011 != NULL)
		sahke2_schema_2019 = sahke2_parse_schema(sailo_xsd_sahke2_2019,
		    sailo_xsd_sahke2_2019_end, "Sahke2_2019_03.xsd");
}

/* The schemas live as long as the process (never freed, like libxml2's
 * own state: xmlCleanupParser is never called). */
int
sahke2_init(char *err, size_t errlen)
{
	pthread_once(&sahke2_once, sahke2_init_once);
	if (sahke2_schema_2011 == NULL || sahke2_schema_2019 == NULL) {
		snprintf(err, errlen, "SÄHKE2 schemas: %s", sahke2_init_err);
		return -1;
	}
	return 0;
}

/*
 * The prolog, scanned before libxml2 sees the file: what comes before the
 * root element may only be a BOM, white space, the XML declaration,
 * processing instructions and comments.  A DOCTYPE is refused; so is
 * anything else there (in an encoding such as UTF-7 or EBCDIC a DOCTYPE
 * would not be seen as one by this scan, so such a file is not read).
 * UTF-16 and UTF-32 are read by code unit.
 */
enum prolog { PROLOG_OK, PROLOG_DOCTYPE, PROLOG_BAD, PROLOG_ERR };

struct prolog_in {
	int		 fd;
	unsigned char	 buf[SAHKE2_PROLOG_BYTES];
	size_t		 len, at;
	off_t		 off;
	int		 width;		/* bytes a code unit: 1 2 4 */
	int		 big_endian;
	long		 line;
	int		 error;
};

/* The next character (code units above 0x7f read as 0x80), or -1. */
static int
prolog_next(struct prolog_in *in)
{
	unsigned long u = 0;
	ssize_t got;
	int i;

	for (i = 0; i < in->width; i++) {
		if (in->at == in->len) {
			got = pread(in->fd, in->buf, sizeof(in->buf), in->off);
			if (got <= 0) {
				if (got < 0)
					in->error = errno;
				return -1;
			}
			in->off += got;
			in->len = (size_t)got;
			in->at = 0;
		}
		if (in->big_endian)
			u = (u << 8) | in->buf[in->at++];
		else
			u |= (unsigned long)in->buf[in->at++] << (8 * i);
	}
	if (u == '\n')
		in->line++;
	return u > 0x7f ? 0x80 : (int)u;
}

/* Skips past the two-character terminator t ("?>"), or the comment end
 * "-->" when t is NULL. 0, or -1 at the end of the file. */
static int
prolog_skip(struct prolog_in *in, const char *t)
{
	int c, prev = 0, prev2 = 0;

	while ((c = prolog_next(in)) != -1) {
		if (t != NULL && prev == t[0] && c == t[1])
			return 0;
		if (t == NULL && prev2 == '-' && prev == '-' && c == '>')
			return 0;
		prev2 = prev;
		prev = c;
	}
	return -1;
}

static enum prolog
sahke2_prolog(int fd, long *line, int *error)
{
	static const char doctype[] = "DOCTYPE";
	struct prolog_in *in;
	unsigned char b[4] = { 0 };
	enum prolog rc = PROLOG_OK;
	ssize_t got;
	size_t skip = 0;
	int c, i;

	if ((in = calloc(1, sizeof(*in))) == NULL) {
		*error = ENOMEM;
		return PROLOG_ERR;
	}
	in->fd = fd;
	in->width = 1;
	in->line = 1;
	if ((got = pread(fd, b, sizeof(b), 0)) < 0) {
		*error = errno;
		free(in);
		return PROLOG_ERR;
	}
	/* The encoding's shape: by its BOM, or by how '<' is written. */
	if (got >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
		skip = 3;
	else if (got == 4 && b[0] == 0 && b[1] == 0 && b[2] == 0xfe &&
	    b[3] == 0xff) {
		in->width = 4;
		in->big_endian = 1;
		skip = 4;
	} else if (got == 4 && b[0] == 0xff && b[1] == 0xfe && b[2] == 0 &&
	    b[3] == 0) {
		in->width = 4;
		skip = 4;
	} else if (got >= 2 && b[0] == 0xfe && b[1] == 0xff) {
		in->width = 2;
		in->big_endian = 1;
		skip = 2;
	} else if (got >= 2 && b[0] == 0xff && b[1] == 0xfe) {
		in->width = 2;
		skip = 2;
	} else if (got == 4 && b[0] == 0 && b[1] == 0 && b[2] == 0 &&
	    b[3] == '<') {
		in->width = 4;
		in->big_endian = 1;
	} else if (got == 4 && b[0] == '<' && b[1] == 0 && b[2] == 0 &&
	    b[3] == 0)
		in->width = 4;
	else if (got >= 2 && b[0] == 0 && b[1] == '<') {
		in->width = 2;
		in->big_endian = 1;
	} else if (got >= 2 && b[0] == '<' && b[1] == 0)
		in->width = 2;
	in->off = (off_t)skip;

	for (;;) {
		c = prolog_next(in);
		if (c == -1)
			break;		/* empty: libxml2 says so */
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		*line = in->line;
		if (c != '<') {
			rc = PROLOG_BAD;
			break;
		}
		if ((c = prolog_next(in)) == '?') {
			if (prolog_skip(in, "?>") == -1)
				break;
			continue;
		}
		if (c != '!')
			break;		/* the root element */
		if ((c = prolog_next(in)) == '-') {
			/* Broken: libxml2 will say what is wrong. */
			if (prolog_next(in) != '-' ||
			    prolog_skip(in, NULL) == -1)
				break;
			continue;
		}
		for (i = 0; doctype[i] != '\0'; i++, c = prolog_next(in))
			if ((c | 0x20) != (doctype[i] | 0x20))
				break;
		rc = doctype[i] == '\0' ? PROLOG_DOCTYPE : PROLOG_BAD;
		break;
	}
	if (in->error != 0) {
		*error = in->error;
		rc = PROLOG_ERR;
	}
	free(in);
	return rc;
}

/* Drops "{namespace}" from libxml2's messages: the element's name is
 * enough, and the namespace is already the finding's subject. */
static void
sahke2_strip_ns(char *msg)
{
	char *a, *b;

	while ((a = strchr(msg, '{')) != NULL &&
	    (b = strchr(a, '}')) != NULL && strncmp(a + 1, "http", 4) == 0)
		memmove(a, b + 1, strlen(b + 1) + 1);
}

/* libxml2's errors and warnings, from the parser and the validator, each
 * a finding with its line; reading goes on after a validity error. */
static void
sahke2_error(void *arg, xmlErrorPtr e)
{
	struct sahke2 *s = arg;
	enum severity sev;
	const char *code;
	char msg[900];
	size_t n;

	if (e == NULL || e->level == XML_ERR_NONE)
		return;
	sev = e->level == XML_ERR_WARNING ? SEVERITY_WARNING : SEVERITY_ERROR;
	if (e->domain == XML_FROM_SCHEMASV || e->domain == XML_FROM_SCHEMASP) {
		code = "SAHKE2_SCHEMA";
		s->nschema++;
	} else {
		code = "XML_MALFORMED";
		s->nmalformed++;
	}
	snprintf(msg, sizeof(msg), "%s", e->message ? e->message :
	    "(no message)");
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	sahke2_strip_ns(msg);
	findings_add(s->f, sev, code, s->rel, e->line > 0 ? e->line : 0, "%s",
	    msg);
}

/* Swallows errors (sahke2_detect: the reader's findings come later). */
static void
sahke2_quiet(void *arg, xmlErrorPtr e)
{
	(void)arg;
	(void)e;
}

/*
 * Parse errors go to the calling thread's structured handler while a file
 * is read, and the one it had is put back after.  Not the reader's own
 * handler: once a schema is plugged into the reader (2.9.14), libxml2
 * hands that handler the plug instead of the parser context, and it
 * crashes.
 */
struct sahke2_errors {
	xmlStructuredErrorFunc	 fn;
	void			*arg;
};

static void
sahke2_errors_on(struct sahke2_errors *saved, xmlStructuredErrorFunc fn,
    void *arg)
{
	saved->fn = xmlStructuredError;
	saved->arg = xmlStructuredErrorContext;
	xmlSetStructuredErrorFunc(arg, fn);
	sahke2_reading++;
}

static void
sahke2_errors_off(const struct sahke2_errors *saved)
{
	sahke2_reading--;
	xmlSetStructuredErrorFunc(saved->arg, saved->fn);
}

/*
 * Reads fd up to the root element.  Returns 2019 or 2011 when it is
 * Metadata in that namespace, 0 otherwise; *ns and *name get the root's
 * namespace and local name (malloc'd, may be NULL) when asked for.  -1
 * when there is no root element (errors go to s when it is not NULL), -2
 * when a DOCTYPE comes first (one the prolog scan did not see).
 */
static int
sahke2_root(int fd, struct sahke2 *s, char **ns, char **name, long *line)
{
	struct sahke2_errors saved;
	xmlTextReaderPtr r;
	const xmlChar *uri, *local;
	int ret, version = -1;

	sahke2_errors_on(&saved, s ? sahke2_error : sahke2_quiet, s);
	if ((r = xmlReaderForFd(fd, s ? s->rel : "metadata", NULL,
	    SAHKE2_PARSE)) == NULL) {
		sahke2_errors_off(&saved);
		return -1;
	}
	while ((ret = xmlTextReaderRead(r)) == 1) {
		if (xmlTextReaderNodeType(r) ==
		    XML_READER_TYPE_DOCUMENT_TYPE) {
			if (line != NULL)
				*line = xmlTextReaderGetParserLineNumber(r);
			version = -2;
			break;
		}
		if (xmlTextReaderNodeType(r) != XML_READER_TYPE_ELEMENT)
			continue;
		uri = xmlTextReaderConstNamespaceUri(r);
		local = xmlTextReaderConstLocalName(r);
		if (ns != NULL && uri != NULL)
			*ns = strdup((const char *)uri);
		if (name != NULL && local != NULL)
			*name = strdup((const char *)local);
		if (line != NULL)
			*line = xmlGetLineNo(xmlTextReaderCurrentNode(r));
		version = 0;
		if (local != NULL && uri != NULL &&
		    strcmp((const char *)local, "Metadata") == 0) {
			if (strcmp((const char *)uri, SAHKE2_NS_2019) == 0)
				version = 2019;
			else if (strcmp((const char *)uri, SAHKE2_NS_2011) == 0)
				version = 2011;
		}
		break;
	}
	xmlFreeTextReader(r);
	sahke2_errors_off(&saved);
	return version;
}

int
sahke2_detect(const char *path)
{
	long line = 0;
	int fd, error = 0, version = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;
	if (sahke2_prolog(fd, &line, &error) == PROLOG_OK)
		version = sahke2_root(fd, NULL, NULL, NULL, NULL);
	close(fd);
	return version > 0 ? version : 0;
}

static bool
sahke2_is(const struct sahke2 *s, const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	    n->ns->href != NULL &&
	    strcmp((const char *)n->ns->href, s->ns) == 0 &&
	    strcmp((const char *)n->name, name) == 0;
}

/* The first child element called name, or NULL. */
static xmlNode *
sahke2_child(const struct sahke2 *s, const xmlNode *n, const char *name)
{
	xmlNode *c;

	for (c = n ? n->children : NULL; c != NULL; c = c->next)
		if (sahke2_is(s, c, name))
			return c;
	return NULL;
}

/*
 * The line of an element.  Past 65,535 libxml2 keeps BIG_LINES line
 * numbers on text nodes only, and xmlGetLineNo() gives an element the line
 * of its first text, which for a pretty-printed container is the line
 * after its start tag: the newlines of a leading white-space text are
 * taken back.
 */
static long
sahke2_line(const xmlNode *n)
{
	const xmlNode *c = n->children;
	const xmlChar *t;
	long line;

	if (n->line < 65535 || c == NULL || c->type != XML_TEXT_NODE ||
	    c->psvi == NULL)
		return xmlGetLineNo(n);
	line = (long)(ptrdiff_t)c->psvi;
	for (t = c->content; t != NULL && *t != '\0'; t++)
		if (*t == '\n')
			line--;
		else if (*t != ' ' && *t != '\t' && *t != '\r')
			return (long)(ptrdiff_t)c->psvi;
	return line;
}

/* The element's text with XML white space trimmed, malloc'd; NULL for no
 * element (or no memory: s->failed). */
static char *
sahke2_text(struct sahke2 *s, const xmlNode *n)
{
	xmlChar *x;
	char *a, *z, *out;

	if (n == NULL)
		return NULL;
	if ((x = xmlNodeGetContent(n)) == NULL) {
		if ((out = strdup("")) == NULL)
			sahke2_fail(s, "out of memory");
		return out;
	}
	for (a = (char *)x; *a == ' ' || *a == '\t' || *a == '\r' ||
	    *a == '\n'; a++)
		;
	for (z = a + strlen(a); z > a && (z[-1] == ' ' || z[-1] == '\t' ||
	    z[-1] == '\r' || z[-1] == '\n'); z--)
		;
	*z = '\0';
	if ((out = strdup(a)) == NULL)
		sahke2_fail(s, "out of memory");
	xmlFree(x);
	return out;
}

/* Sets *field to the text of n when it is still unset. */
static void
sahke2_set(struct sahke2 *s, char **field, const xmlNode *n)
{
	if (*field == NULL)
		*field = sahke2_text(s, n);
}

/*
 * An xs:date as the model keeps it: "YYYY-MM-DD", the time zone dropped.
 * True when text is such a date and the day exists in that month.
 */
static bool
sahke2_date(const char *t, char out[11])
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, m, d, i;
	const char *z;

	for (i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? t[i] != '-' : t[i] < '0' || t[i] > '9')
			return false;
	z = t + 10;
	if (!(*z == '\0' || (z[0] == 'Z' && z[1] == '\0') ||
	    ((z[0] == '+' || z[0] == '-') && z[1] >= '0' && z[1] <= '1' &&
	    z[2] >= '0' && z[2] <= '9' && z[3] == ':' && z[4] >= '0' &&
	    z[4] <= '5' && z[5] >= '0' && z[5] <= '9' && z[6] == '\0')))
		return false;
	y = atoi(t);
	m = (t[5] - '0') * 10 + t[6] - '0';
	d = (t[8] - '0') * 10 + t[9] - '0';
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 &&
	    !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return false;
	memcpy(out, t, 10);
	out[10] = '\0';
	return true;
}

/* Keeps in *field the earliest (latest when want_latest) valid date of
 * n; an invalid one is reported by sahke2_tree(). */
static void
sahke2_keep_date(struct sahke2 *s, char **field, const xmlNode *n,
    bool want_latest)
{
	char *t, d[11];
	int cmp;

	if ((t = sahke2_text(s, n)) == NULL)
		return;
	if (sahke2_date(t, d)) {
		cmp = *field == NULL ? 0 : strcmp(d, *field);
		if (*field == NULL || (want_latest ? cmp > 0 : cmp < 0)) {
			free(*field);
			if ((*field = strdup(d)) == NULL)
				sahke2_fail(s, "out of memory");
		}
	}
	free(t);
}

/* Elements of type xs:date in both schemas. */
static const char *const sahke2_dates[] = {
	"AcceptionDate", "Accepted", "Acquired", "ArrivalDate", "Available",
	"Created", "Date", "Delivered", "DeliveryDate", "Finished", "Gathered",
	"Issued", "Modified", "RetentionPeriodEnd", "SecurityPeriodEnd", "Sent",
	"end", "start", NULL,
};

/* "CaseFile X" or "CaseFile X: Record Y", for messages. */
static void
sahke2_label(struct sahke2 *s, const xmlNode *n, const char *kind,
    const char *outer, char *buf, size_t len)
{
	char *id = sahke2_text(s, sahke2_child(s, n, "NativeId"));

	if (outer != NULL)
		snprintf(buf, len, "%s: %s %.200s", outer, kind, id ? id :
		    "(no NativeId)");
	else
		snprintf(buf, len, "%s %.200s", kind, id ? id :
		    "(no NativeId)");
	free(id);
}

/*
 * Every date and every ClassificationScheme FunctionCode under n, whatever
 * its depth, except inside Custom (free content: the schema skips it, and
 * so do the rules).
 */
static void
sahke2_tree(struct sahke2 *s, const xmlNode *n, const char *label,
    int depth)
{
	const xmlNode *c;
	char sub[512], d[11], *t, *code;
	int i;

	if (depth > 64)
		return;
	for (c = n->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || sahke2_is(s, c, "Custom"))
			continue;
		if (c->ns == NULL || c->ns->href == NULL ||
		    strcmp((const char *)c->ns->href, s->ns) != 0)
			continue;
		if (sahke2_is(s, c, "Record")) {
			sahke2_label(s, c, "Record", label, sub, sizeof(sub));
			sahke2_tree(s, c, sub, depth + 1);
			continue;
		}
		for (i = 0; sahke2_dates[i] != NULL; i++)
			if (strcmp((const char *)c->name, sahke2_dates[i]) == 0)
				break;
		if (sahke2_dates[i] != NULL) {
			if ((t = sahke2_text(s, c)) != NULL &&
			    !sahke2_date(t, d))
				findings_add(s->f, SEVERITY_ERROR,
				    "DATE_INVALID", s->rel, sahke2_line(c),
				    "%s: %s \"%.40s\" is not a calendar date "
				    "(YYYY-MM-DD)", label, c->name, t);
			free(t);
			continue;
		}
		if (sahke2_is(s, c, "FunctionCode")) {
			if ((t = sahke2_text(s, c)) == NULL)
				continue;
			if ((code = package_function_code(t)) == NULL)
				findings_add(s->f, SEVERITY_WARNING,
				    "FUNCTION_CODE", s->rel, sahke2_line(c),
				    "%s: ClassificationScheme FunctionCode "
				    "\"%.60s\" is not a function code (groups "
				    "of digits)", label, t);
			free(code);
			free(t);
			continue;
		}
		sahke2_tree(s, c, label, depth + 1);
	}
}

/* RetentionPeriod: -1 or >= 0 years after trimming ("+10" and " 50 " pass
 * the schema as integers); 999999 is the old way to write -1. */
static void
sahke2_retention(struct sahke2 *s, struct pkg_common *c, const xmlNode *n,
    const char *label)
{
	char *t, *end;
	long v;

	if ((t = sahke2_text(s, n)) == NULL)
		return;
	errno = 0;
	v = strtol(t, &end, 10);
	if (t[0] == '\0' || *end != '\0' || errno == ERANGE) {
		findings_add(s->f, SEVERITY_ERROR, "RETENTION_PERIOD", s->rel,
		    sahke2_line(n), "%s: RetentionPeriod \"%.40s\" is not a "
		    "whole number of years", label, t);
	} else if (v == SAHKE2_PERMANENT) {
		findings_add(s->f, SEVERITY_WARNING, "RETENTION_PERMANENT",
		    s->rel, sahke2_line(n), "%s: RetentionPeriod %ld read as "
		    "permanent (-1)", label, v);
		c->has_retention = true;
		c->retention_period = -1;
	} else if (v < -1) {
		findings_add(s->f, SEVERITY_ERROR, "RETENTION_PERIOD", s->rel,
		    sahke2_line(n), "%s: RetentionPeriod %ld is neither -1 "
		    "nor ≥ 0", label, v);
	} else {
		c->has_retention = true;
		c->retention_period = v;
	}
	free(t);
}

static void
sahke2_function(struct sahke2 *s, struct pkg_common *c, const xmlNode *n,
    const char *label)
{
	char *t;

	if (c->function_code != NULL || (t = sahke2_text(s, n)) == NULL)
		return;
	if ((c->function_code = package_function_code(t)) == NULL) {
		findings_add(s->f, SEVERITY_WARNING, "FUNCTION_CODE", s->rel,
		    sahke2_line(n), "%s: Function \"%.60s\" is not a function "
		    "code (groups of digits)", label, t);
		c->function_code = t;	/* kept as written */
		return;
	}
	free(t);
}

/* Restriction: publicity, security reason, personal data and the valid
 * person identity codes (an invalid one is named by its line only). */
static void
sahke2_restriction(struct sahke2 *s, struct pkg_common *c, const xmlNode *n,
    const char *label)
{
	const xmlNode *k;
	char norm[12], *t, **v;
	size_t i;

	for (k = n->children; k != NULL; k = k->next) {
		if (sahke2_is(s, k, "PublicityClass"))
			sahke2_set(s, &c->publicity, k);
		else if (sahke2_is(s, k, "SecurityReason"))
			sahke2_set(s, &c->security_reason, k);
		else if (sahke2_is(s, k, "PersonalData"))
			sahke2_set(s, &c->personal_data, k);
		else if (sahke2_is(s, k, "Person")) {
			if ((t = sahke2_text(s, sahke2_child(s, k, "Ssn"))) ==
			    NULL)
				continue;
			if (!hetu_valid(t, norm)) {
				findings_add(s->f, SEVERITY_WARNING,
				    "PERSON_ID_INVALID", s->rel,
				    sahke2_line(sahke2_child(s, k, "Ssn")),
				    "%s: Restriction/Person/Ssn is not a valid "
				    "personal identity code", label);
				explicit_bzero(t, strlen(t));
				free(t);
				continue;
			}
			explicit_bzero(t, strlen(t));
			free(t);
			for (i = 0; i < c->nssns; i++)
				if (strcmp(c->ssns[i], norm) == 0)
					break;
			if (i < c->nssns)
				continue;
			if ((v = reallocarray(c->ssns, c->nssns + 1,
			    sizeof(*v))) == NULL) {
				sahke2_fail(s, "out of memory");
				return;
			}
			c->ssns = v;
			if ((c->ssns[c->nssns] = strdup(norm)) == NULL) {
				sahke2_fail(s, "out of memory");
				return;
			}
			c->nssns++;
			explicit_bzero(norm, sizeof(norm));
		}
	}
}

/* What CaseFile and Record share, from one of their children. */
static bool
sahke2_common(struct sahke2 *s, struct pkg_common *c, const xmlNode *k,
    const char *label)
{
	if (sahke2_is(s, k, "Created"))
		sahke2_keep_date(s, &c->created, k, false);
	else if (sahke2_is(s, k, "NativeId"))
		sahke2_set(s, &c->native_id, k);
	else if (sahke2_is(s, k, "Title"))
		sahke2_set(s, &c->title, k);
	else if (sahke2_is(s, k, "Type"))
		sahke2_set(s, &c->type, k);
	else if (sahke2_is(s, k, "Status"))
		sahke2_set(s, &c->status, k);
	else if (sahke2_is(s, k, "Restriction"))
		sahke2_restriction(s, c, k, label);
	else if (sahke2_is(s, k, "RetentionPeriod"))
		sahke2_retention(s, c, k, label);
	else if (sahke2_is(s, k, "RetentionReason"))
		sahke2_set(s, &c->retention_reason, k);
	else if (sahke2_is(s, k, "RetentionPeriodEnd"))
		sahke2_keep_date(s, &c->retention_end, k, false);
	else if (sahke2_is(s, k, "Function"))
		sahke2_function(s, c, k, label);
	else
		return false;
	return true;
}

static void
sahke2_security(struct sahke2 *s, const struct pkg_common *c,
    const xmlNode *n, const char *label)
{
	if (c->publicity != NULL &&
	    strcmp(c->publicity, "Salassa pidettävä") == 0 &&
	    (c->security_reason == NULL || c->security_reason[0] == '\0'))
		findings_add(s->f, SEVERITY_WARNING, "SECURITY_REASON_MISSING",
		    s->rel, sahke2_line(n), "%s: PublicityClass is Salassa "
		    "pidettävä but Restriction has no SecurityReason", label);
}

static void
sahke2_document(struct sahke2 *s, struct pkg_record *r, const xmlNode *n)
{
	struct pkg_document *d;
	const xmlNode *file, *format;
	char *path, *name, *alg, *z;
	const char *norm;

	if ((d = package_add_document(r)) == NULL) {
		sahke2_fail(s, "out of memory");
		return;
	}
	d->line = sahke2_line(n);
	d->native_id = sahke2_text(s, sahke2_child(s, n, "NativeId"));
	d->use_type = sahke2_text(s, sahke2_child(s, n, "UseType"));
	file = sahke2_child(s, n, "File");
	path = sahke2_text(s, sahke2_child(s, file, "Path"));
	name = sahke2_text(s, sahke2_child(s, file, "Name"));
	d->path = package_document_path(path ? path : "", name);
	free(path);
	free(name);
	format = sahke2_child(s, n, "Format");
	d->format_name = sahke2_text(s, sahke2_child(s, format, "Name"));
	d->format_version = sahke2_text(s, sahke2_child(s, format, "Version"));
	alg = sahke2_text(s, sahke2_child(s, n, "HashAlgorithm"));
	if (alg != NULL && (norm = package_hash_algorithm(alg)) != NULL &&
	    (d->hash_algorithm = strdup(norm)) == NULL)
		sahke2_fail(s, "out of memory");
	free(alg);
	if ((d->hash_value = sahke2_text(s, sahke2_child(s, n,
	    "HashValue"))) != NULL)
		for (z = d->hash_value; *z != '\0'; z++)
			if (*z >= 'A' && *z <= 'Z')
				*z += 'a' - 'A';
}

static void
sahke2_record(struct sahke2 *s, struct pkg_casefile *cf, const xmlNode *n,
    const char *cflabel)
{
	struct pkg_record *r;
	const xmlNode *k;
	char label[512];

	if ((r = package_add_record(s->p, cf)) == NULL) {
		sahke2_fail(s, "out of memory");
		return;
	}
	sahke2_label(s, n, "Record", cflabel, label, sizeof(label));
	r->c.line = sahke2_line(n);
	for (k = n->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE ||
		    sahke2_common(s, &r->c, k, label))
			continue;
		if (sahke2_is(s, k, "Description"))
			sahke2_set(s, &r->description, k);
		else if (sahke2_is(s, k, "Document"))
			sahke2_document(s, r, k);
	}
	sahke2_security(s, &r->c, n, label);
}

/* XML text of n (a child of the root) as it was submitted, malloc'd. */
static char *
sahke2_dump(struct sahke2 *s, xmlNode *n)
{
	xmlBufferPtr b;
	xmlOutputBufferPtr o;
	char *out = NULL;

	if ((b = xmlBufferCreate()) == NULL ||
	    (o = xmlOutputBufferCreateBuffer(b, NULL)) == NULL) {
		xmlBufferFree(b);
		sahke2_fail(s, "out of memory");
		return NULL;
	}
	xmlNodeDumpOutput(o, n->doc, n, 0, 0, "UTF-8");
	if (xmlOutputBufferClose(o) < 0 ||
	    (out = strdup((const char *)xmlBufferContent(b))) == NULL)
		sahke2_fail(s, "cannot copy TransferInformation or "
		    "ContactInformation");
	xmlBufferFree(b);
	return out;
}

/* Appends text to *buf (malloc'd), escaping it for an attribute when
 * is_attr. */
static int
sahke2_append(char **buf, const char *text, bool is_attr)
{
	size_t have = *buf ? strlen(*buf) : 0, need = 6 * strlen(text) + 1;
	char *b, *o;

	if ((b = realloc(*buf, have + need)) == NULL)
		return -1;
	*buf = b;
	for (o = b + have; *text != '\0'; text++) {
		if (is_attr && *text == '&')
			o = stpcpy(o, "&amp;");
		else if (is_attr && *text == '<')
			o = stpcpy(o, "&lt;");
		else if (is_attr && *text == '"')
			o = stpcpy(o, "&quot;");
		else
			*o++ = *text;
	}
	*o = '\0';
	return 0;
}

/*
 * The start and end tags of the extracts' Metadata: the root's name and
 * all its namespace declarations, so that whatever prefix a CaseFile uses
 * (its own, or xi: inside a Custom) is declared in the extract too.
 */
static void
sahke2_wrapper(struct sahke2 *s, const xmlNode *root)
{
	const xmlNs *ns;
	char *open = NULL, *close = NULL;
	const char *prefix = root->ns && root->ns->prefix ?
	    (const char *)root->ns->prefix : NULL;
	int bad = 0;

	bad |= sahke2_append(&open, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "\n<", false);
	bad |= sahke2_append(&close, "</", false);
	if (prefix != NULL) {
		bad |= sahke2_append(&open, prefix, false);
		bad |= sahke2_append(&open, ":", false);
		bad |= sahke2_append(&close, prefix, false);
		bad |= sahke2_append(&close, ":", false);
	}
	bad |= sahke2_append(&open, "Metadata", false);
	bad |= sahke2_append(&close, "Metadata>\n", false);
	for (ns = root->nsDef; ns != NULL; ns = ns->next) {
		bad |= sahke2_append(&open, " xmlns", false);
		if (ns->prefix != NULL) {
			bad |= sahke2_append(&open, ":", false);
			bad |= sahke2_append(&open, (const char *)ns->prefix,
			    false);
		}
		bad |= sahke2_append(&open, "=\"", false);
		bad |= sahke2_append(&open, ns->href ? (const char *)ns->href :
		    "", true);
		bad |= sahke2_append(&open, "\"", false);
	}
	bad |= sahke2_append(&open, ">\n", false);
	if (bad) {
		free(open);
		free(close);
		sahke2_fail(s, "out of memory");
		return;
	}
	free(s->wrap_open);
	free(s->wrap_close);
	s->wrap_open = open;
	s->wrap_close = close;
}

/* <extract_dir>/casefile-<n>.xml: the transfer's TransferInformation and
 * ContactInformation and this one CaseFile, as submitted. */
static void
sahke2_extract(struct sahke2 *s, struct pkg_casefile *cf, xmlNode *n)
{
	xmlOutputBufferPtr o;
	char name[64], path[4096];
	FILE *fp;
	int bad;

	if (s->extract_dir == NULL || s->wrap_open == NULL || s->failed)
		return;
	snprintf(name, sizeof(name), "casefile-%zu.xml", s->p->ncasefiles);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", s->extract_dir,
	    name) >= sizeof(path)) {
		sahke2_fail(s, "extract folder name too long");
		return;
	}
	if ((fp = fopen(path, "we")) == NULL) {
		snprintf(s->err, s->errlen, "%.400s: %s", path,
		    strerror(errno));
		s->failed = 1;
		return;
	}
	fputs(s->wrap_open, fp);
	if (s->transfer != NULL) {
		fputs(s->transfer, fp);
		fputc('\n', fp);
	}
	if (s->contact != NULL) {
		fputs(s->contact, fp);
		fputc('\n', fp);
	}
	fflush(fp);
	if ((o = xmlOutputBufferCreateFile(fp, NULL)) == NULL)
		bad = 1;
	else {
		xmlNodeDumpOutput(o, n->doc, n, 0, 0, "UTF-8");
		bad = xmlOutputBufferClose(o) < 0;
	}
	fputc('\n', fp);
	fputs(s->wrap_close, fp);
	if (fflush(fp) != 0 || ferror(fp))
		bad = 1;
	if (fclose(fp) != 0)
		bad = 1;
	if (bad) {
		snprintf(s->err, s->errlen, "%.400s: cannot write the extract",
		    path);
		s->failed = 1;
		return;
	}
	if ((cf->metadata_extract = strdup(name)) == NULL)
		sahke2_fail(s, "out of memory");
}

/* One CaseFile subtree (expanded by the reader) into the model. */
static void
sahke2_casefile(struct sahke2 *s, xmlNode *n)
{
	struct pkg_casefile *cf;
	struct pkg_record *r;
	const xmlNode *k, *a;
	char label[256];

	if ((cf = package_add_casefile(s->p)) == NULL) {
		sahke2_fail(s, "out of memory");
		return;
	}
	sahke2_label(s, n, "CaseFile", NULL, label, sizeof(label));
	cf->c.line = sahke2_line(n);
	for (k = n->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE ||
		    sahke2_common(s, &cf->c, k, label))
			continue;
		if (sahke2_is(s, k, "Finished"))
			sahke2_keep_date(s, &cf->finished, k, true);
		else if (sahke2_is(s, k, "Action")) {
			cf->nactions++;
			for (a = k->children; a != NULL; a = a->next)
				if (sahke2_is(s, a, "Created"))
					sahke2_keep_date(s, &cf->last_action,
					    a, true);
				else if (sahke2_is(s, a, "Record"))
					sahke2_record(s, cf, a, label);
		}
	}
	sahke2_security(s, &cf->c, n, label);
	sahke2_tree(s, n, label, 0);
	sahke2_extract(s, cf, n);
	/* The case file is complete: its records' array shrinks to fit, as
	 * 100,000 records stay in memory until the package is stored. */
	if (cf->nrecords > 0 && cf->nrecords < cf->caprecords &&
	    (r = realloc(cf->records, cf->nrecords * sizeof(*r))) != NULL) {
		cf->records = r;
		cf->caprecords = cf->nrecords;
	}
}

static void
sahke2_transfer(struct sahke2 *s, xmlNode *n)
{
	free(s->transfer);
	s->transfer = sahke2_dump(s, n);
	sahke2_set(s, &s->p->transfer_native_id, sahke2_child(s, n,
	    "NativeId"));
	sahke2_set(s, &s->p->transfer_title, sahke2_child(s, n, "Title"));
}

static void
sahke2_contact(struct sahke2 *s, xmlNode *n)
{
	free(s->contact);
	s->contact = sahke2_dump(s, n);
	sahke2_set(s, &s->p->organisation, sahke2_child(s,
	    sahke2_child(s, n, "Organisation"), "Name"));
}

/*
 * The streaming pass: the reader validates every SAX event against the
 * schema (expanding a subtree does not skip validation), and each element
 * under the root is expanded, read into the model and left behind with
 * xmlTextReaderNext(), which lets the reader free it.
 */
static void
sahke2_stream(struct sahke2 *s, int fd, xmlSchemaPtr schema)
{
	xmlSchemaValidCtxtPtr vc = NULL;
	xmlTextReaderPtr r = NULL;
	xmlNode *n;
	int ret, type, depth;

	if ((vc = xmlSchemaNewValidCtxt(schema)) == NULL ||
	    (r = xmlReaderForFd(fd, s->rel, NULL, SAHKE2_PARSE)) == NULL) {
		sahke2_fail(s, "cannot start the XML reader");
		goto out;
	}
	/* Parse errors come through the thread's handler (sahke2_errors),
	 * validity errors through the validation context's. */
	xmlSchemaSetValidStructuredErrors(vc, sahke2_error, s);
	if (xmlTextReaderSchemaValidateCtxt(r, vc, 0) != 0) {
		sahke2_fail(s, "cannot start schema validation");
		goto out;
	}
	ret = xmlTextReaderRead(r);
	while (ret == 1 && !s->failed) {
		type = xmlTextReaderNodeType(r);
		depth = xmlTextReaderDepth(r);
		if (type == XML_READER_TYPE_DOCUMENT_TYPE) {
			findings_add(s->f, SEVERITY_ERROR, "XML_DOCTYPE",
			    s->rel, xmlTextReaderGetParserLineNumber(r),
			    "the metadata has a DOCTYPE; SÄHKE2 needs none "
			    "and Sailo reads none");
			break;
		}
		if (type != XML_READER_TYPE_ELEMENT || depth > 1) {
			ret = xmlTextReaderRead(r);
			continue;
		}
		if (depth == 0) {
			if ((n = xmlTextReaderCurrentNode(r)) != NULL)
				sahke2_wrapper(s, n);
			ret = xmlTextReaderRead(r);
			continue;
		}
		if ((n = xmlTextReaderExpand(r)) != NULL) {
			if (sahke2_is(s, n, "CaseFile"))
				sahke2_casefile(s, n);
			else if (sahke2_is(s, n, "TransferInformation"))
				sahke2_transfer(s, n);
			else if (sahke2_is(s, n, "ContactInformation"))
				sahke2_contact(s, n);
		}
		ret = xmlTextReaderNext(r);
	}
	if (ret == -1 && s->nmalformed == 0)
		findings_add(s->f, SEVERITY_ERROR, "XML_MALFORMED", s->rel,
		    xmlTextReaderGetParserLineNumber(r), "the metadata could "
		    "not be read to its end");
	else if (ret == 0 && s->nschema == 0 && xmlTextReaderIsValid(r) != 1)
		findings_add(s->f, SEVERITY_ERROR, "SAHKE2_SCHEMA", s->rel, 0,
		    "the metadata is not valid against the %s schema",
		    s->p->schema);
out:
	xmlFreeTextReader(r);
	xmlSchemaFreeValidCtxt(vc);
}

int
sahke2_read(struct package *p, const char *path, const char *rel,
    uint64_t max_bytes, const char *extract_dir, struct findings *f,
    char *err, size_t errlen)
{
	struct sahke2 s = { .p = p, .f = f, .rel = rel,
	    .extract_dir = extract_dir, .err = err, .errlen = errlen };
	struct sahke2_errors saved;
	struct findings first;
	char *ns = NULL, *name = NULL;
	size_t i, n_before = f->n;
	xmlSchemaPtr schema;
	struct stat st;
	long line = 0;
	int fd = -1, version, error = 0;

	if (sahke2_init(err, errlen) == -1)
		return -1;
	p->format = PKG_SAHKE2;
	if (p->metadata_path == NULL &&
	    (p->metadata_path = strdup(rel)) == NULL) {
		sahke2_fail(&s, "out of memory");
		goto out;
	}
	/* One open file for every pass: what is measured is what is read
	 * (and libxml2, given a descriptor, does not unzip a .gz). */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%.400s: %s", path, strerror(errno));
		s.failed = 1;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%.400s: not a regular file", path);
		s.failed = 1;
		goto out;
	}
	if (max_bytes > 0 && (uint64_t)st.st_size > max_bytes) {
		findings_add(f, SEVERITY_ERROR, "METADATA_TOO_LARGE", rel, 0,
		    "the metadata file has %llu bytes, more than the %llu "
		    "allowed (ingest.max_metadata_bytes)",
		    (unsigned long long)st.st_size,
		    (unsigned long long)max_bytes);
		goto out;
	}
	switch (sahke2_prolog(fd, &line, &error)) {
	case PROLOG_OK:
		break;
	case PROLOG_DOCTYPE:
		findings_add(f, SEVERITY_ERROR, "XML_DOCTYPE", rel, line,
		    "the metadata has a DOCTYPE; SÄHKE2 needs none and Sailo "
		    "reads none (the file was not parsed)");
		goto out;
	case PROLOG_BAD:
		findings_add(f, SEVERITY_ERROR, "XML_MALFORMED", rel, line,
		    "before the root element there may only be the XML "
		    "declaration, comments and processing instructions, in "
		    "UTF-8 or UTF-16 (the file was not parsed)");
		goto out;
	case PROLOG_ERR:
		snprintf(err, errlen, "%.400s: %s", path, strerror(error));
		s.failed = 1;
		goto out;
	}

	/* The first pass's errors count only when it finds no root: the
	 * second pass reads the same bytes again and says the rest once. */
	findings_init(&first);
	s.f = &first;
	version = sahke2_root(fd, &s, &ns, &name, &line);
	s.f = f;
	s.nschema = s.nmalformed = 0;
	if (version == -1)
		for (i = 0; i < first.n; i++)
			findings_add(f, first.items[i].severity,
			    first.items[i].code, first.items[i].path,
			    first.items[i].line, "%s", first.items[i].message);
	findings_free(&first);
	if (version == -2) {
		findings_add(f, SEVERITY_ERROR, "XML_DOCTYPE", rel, line,
		    "the metadata has a DOCTYPE; SÄHKE2 needs none and Sailo "
		    "reads none");
		goto out;
	}
	if (version == -1) {
		if (f->n == n_before)
			findings_add(f, SEVERITY_ERROR, "XML_MALFORMED", rel, 0,
			    "the metadata has no root element");
		goto out;
	}
	if (version == 0) {
		findings_add(f, SEVERITY_ERROR, "SAHKE2_NAMESPACE", rel, line,
		    "the root element is %.100s in namespace \"%.200s\", not "
		    "Metadata in the SÄHKE2 2019 (%s) or 2011 (%s) namespace",
		    name ? name : "?", ns ? ns : "", SAHKE2_NS_2019,
		    SAHKE2_NS_2011);
		goto out;
	}
	s.ns = version == 2019 ? SAHKE2_NS_2019 : SAHKE2_NS_2011;
	schema = version == 2019 ? sahke2_schema_2019 : sahke2_schema_2011;
	free(p->schema);
	free(p->namespace_uri);
	p->schema = strdup(version == 2019 ? "SÄHKE2 2019" : "SÄHKE2 2011");
	p->namespace_uri = strdup(s.ns);
	if (p->schema == NULL || p->namespace_uri == NULL) {
		sahke2_fail(&s, "out of memory");
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) == -1) {
		snprintf(err, errlen, "%.400s: %s", path, strerror(errno));
		s.failed = 1;
		goto out;
	}
	sahke2_errors_on(&saved, sahke2_error, &s);
	sahke2_stream(&s, fd, schema);
	sahke2_errors_off(&saved);
out:
	free(ns);
	free(name);
	free(s.wrap_open);
	free(s.wrap_close);
	free(s.transfer);
	free(s.contact);
	if (fd != -1)
		close(fd);
	return s.failed ? -1 : 0;
}
