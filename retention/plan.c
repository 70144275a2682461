/*
 * plan.c — reading an information-management plan (tiedonhallinta-
 * suunnitelma) exported by a plan tool as JHS 191 XML: validation against
 * the bundled schema, the classes and record types, and inheritance of
 * retention and restrictions from a class's process.  It keeps nothing
 * and knows nothing of the database or HTTP: the importer stores what
 * plan_read() gives.
 *
 * A plan is small (a city's has some thousand classes, a few MB), so it is
 * read as a tree, which also lets validation report the lines `xmllint
 * --schema` reports.  The caller bounds its size.
 */
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "package.h"
#include "retention.h"

#define PLAN_NS		"http://skeemat.jhs-suositukset.fi/tos/2015/01/15"
/* No XML_PARSE_NOENT, _DTDLOAD, _DTDATTR or _XINCLUDE, ever. */
#define PLAN_PARSE	(XML_PARSE_NONET | XML_PARSE_BIG_LINES)
/* PLAN_SCHEMA and PLAN_MALFORMED findings kept; past them, one more says
 * how many were left out. */
#define PLAN_MAX_REPORTED	1000

/* formats/schemas.S */
extern const char sailo_xsd_jhs191_kooste[], sailo_xsd_jhs191_kooste_end[];
extern const char sailo_xsd_jhs191_atomaariset[];
extern const char sailo_xsd_jhs191_ydin[];

static xmlSchemaPtr		 plan_schema;
static pthread_once_t		 plan_once = PTHREAD_ONCE_INIT;
static char			 plan_init_err[256];
static xmlExternalEntityLoader	 plan_next_loader;
/* Set on this thread while the bundled schema is parsed: its include and
 * import are answered from memory. */
static __thread bool		 plan_parsing_schema;
/* Set on this thread while a submitted plan is read: nothing loads. */
static __thread bool		 plan_reading;

/* One plan_read() in progress. */
struct plan_reader {
	struct plan		*p;
	struct findings		*f;
	const char		*name;
	bool			 lenient;
	size_t			 reported;
	size_t			 left_out;
	struct strmap		 codes;
	size_t			 capclasses;
};

static const char *
plan_basename(const char *url)
{
	const char *slash = strrchr(url, '/');

	return slash ? slash + 1 : url;
}

static xmlParserInputPtr
plan_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	const char *base;

	if (plan_reading)
		return NULL;
	if (plan_parsing_schema && url != NULL) {
		base = plan_basename(url);
		if (strcmp(base, "Skeema_TOS_atomaariset.xsd") == 0)
			return xmlNewStringInputStream(ctxt,
			    (const xmlChar *)sailo_xsd_jhs191_atomaariset);
		if (strcmp(base, "JHSydin20091019.xsd") == 0)
			return xmlNewStringInputStream(ctxt,
			    (const xmlChar *)sailo_xsd_jhs191_ydin);
		return NULL;	/* nothing else, from anywhere */
	}
	return plan_next_loader(url, id, ctxt);
}

static void
plan_schema_error(void *arg, xmlErrorPtr e)
{
	(void)arg;
	if (plan_init_err[0] == '\0' && e != NULL && e->message != NULL)
		snprintf(plan_init_err, sizeof(plan_init_err), "line %d: %s",
		    e->line, e->message);
}

static void
plan_init_once(void)
{
	xmlSchemaParserCtxtPtr pc;

	plan_next_loader = xmlGetExternalEntityLoader();
	xmlSetExternalEntityLoader(plan_loader);
	plan_parsing_schema = true;
	pc = xmlSchemaNewMemParserCtxt(sailo_xsd_jhs191_kooste,
	    (int)(sailo_xsd_jhs191_kooste_end - sailo_xsd_jhs191_kooste));
	if (pc != NULL) {
		xmlSchemaSetParserStructuredErrors(pc, plan_schema_error,
		    NULL);
		plan_schema = xmlSchemaParse(pc);
		xmlSchemaFreeParserCtxt(pc);
	}
	plan_parsing_schema = false;
	if (plan_schema == NULL && plan_init_err[0] == '\0')
		snprintf(plan_init_err, sizeof(plan_init_err), "no memory");
}

int
plan_init(char *err, size_t errlen)
{
	pthread_once(&plan_once, plan_init_once);
	if (plan_schema == NULL) {
		snprintf(err, errlen, "the bundled JHS 191 schema "
		    "(Skeema_TOS_kooste.xsd) does not parse: %s",
		    plan_init_err);
		return -1;
	}
	return 0;
}

const char *
plan_publicity_name(int code)
{
	static const char *const names[] = { "Julkinen",
	    "Osittain salassa pidettävä", "Salassa pidettävä", "Ei-julkinen" };

	return code >= 1 && code <= 4 ? names[code - 1] : NULL;
}

/* ---- findings ----------------------------------------------------------- */

/* A problem of the plan: an error when strict, a warning when lenient
 * (the caller then leaves out what it concerns). */
static enum severity
plan_sev(const struct plan_reader *r)
{
	return r->lenient ? SEVERITY_WARNING : SEVERITY_ERROR;
}

/* What a lenient import does with what cannot be resolved. */
static const char *
plan_left_out(const struct plan_reader *r)
{
	return r->lenient ? "; left out" : "";
}

static char *
plan_trimmed_message(const char *m)
{
	char *s = strdup(m ? m : "");
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

static void
plan_report(struct plan_reader *r, enum severity sev, const char *code,
    xmlErrorPtr e)
{
	char *msg;

	if (r->reported++ >= PLAN_MAX_REPORTED)
		return;
	if ((msg = plan_trimmed_message(e->message)) == NULL)
		return;
	/* libxml2 does not quote content in these messages beyond element
	 * names and values the schema rejects: a plan holds no secrets. */
	findings_add(r->f, sev, code, r->name, e->line, "%s", msg);
	free(msg);
}

static void
plan_parse_error(void *arg, xmlErrorPtr e)
{
	struct plan_reader *r = arg;

	if (e == NULL || e->level < XML_ERR_ERROR)
		return;
	plan_report(r, SEVERITY_ERROR, "PLAN_MALFORMED", e);
}

static void
plan_valid_error(void *arg, xmlErrorPtr e)
{
	struct plan_reader *r = arg;

	if (e == NULL || e->level < XML_ERR_ERROR)
		return;
	plan_report(r, plan_sev(r), "PLAN_SCHEMA", e);
}

/* ---- the tree ----------------------------------------------------------- */

static bool
plan_is(const xmlNode *n, const char *local)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	    strcmp((const char *)n->ns->href, PLAN_NS) == 0 &&
	    strcmp((const char *)n->name, local) == 0;
}

static xmlNodePtr
plan_child(const xmlNode *n, const char *local)
{
	xmlNodePtr c;

	for (c = n ? n->children : NULL; c != NULL; c = c->next)
		if (plan_is(c, local))
			return c;
	return NULL;
}

/* The trimmed text of n (malloc'd), or NULL when there is none. */
static char *
plan_text(const xmlNode *n)
{
	xmlChar *t;
	char *s, *start;
	size_t len;

	if (n == NULL || (t = xmlNodeGetContent(n)) == NULL)
		return NULL;
	start = (char *)t;
	while (*start == ' ' || *start == '\t' || *start == '\n' ||
	    *start == '\r')
		start++;
	len = strlen(start);
	while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t' ||
	    start[len - 1] == '\n' || start[len - 1] == '\r'))
		len--;
	s = len > 0 ? strndup(start, len) : NULL;
	xmlFree(t);
	return s;
}

/* A Nimeke's text: the Finnish one when there are several. */
static char *
plan_title(const xmlNode *nimeke)
{
	xmlNodePtr c, first = NULL;
	xmlChar *lang;
	bool fi;

	for (c = nimeke ? nimeke->children : NULL; c != NULL; c = c->next) {
		if (!plan_is(c, "NimekeKielella"))
			continue;
		if (first == NULL)
			first = c;
		lang = xmlGetNsProp(c, (const xmlChar *)"kieliKoodi",
		    (const xmlChar *)PLAN_NS);
		fi = lang != NULL && strcmp((const char *)lang, "fi") == 0;
		xmlFree(lang);
		if (fi)
			return plan_text(plan_child(c, "NimekeTeksti"));
	}
	return first ? plan_text(plan_child(first, "NimekeTeksti")) : NULL;
}

/*
 * A Sailytysaikatiedot: 1 when it gives a retention (years, basis, trigger
 * set; the strings malloc'd), 0 when it is absent or empty (inherit), -1
 * when its length is not a whole number of years from -1 up (why says
 * so).
 */
static int
plan_retention(const xmlNode *s, long *years, char **basis, char **trigger,
    char *why, size_t whylen)
{
	char *text, *end;
	long v;

	*basis = *trigger = NULL;
	if (s == NULL)
		return 0;
	if ((text = plan_text(plan_child(s, "SailytysajanPituusArvo"))) ==
	    NULL) {
		snprintf(why, whylen, "its Sailytysaikatiedot (line %ld) has "
		    "no SailytysajanPituusArvo", xmlGetLineNo(s));
		return plan_child(s, "SailytysajanPerusteTeksti") ||
		    plan_child(s, "SailytysajanLaskentaperusteTeksti") ? -1 :
		    0;
	}
	v = strtol(text, &end, 10);
	if (*end != '\0' || end == text || v < RET_PERMANENT ||
	    v > 10000) {
		snprintf(why, whylen, "its SailytysajanPituusArvo (line %ld) "
		    "is \"%.40s\", not a number of years (-1: permanent)",
		    xmlGetLineNo(plan_child(s, "SailytysajanPituusArvo")),
		    text);
		free(text);
		return -1;
	}
	free(text);
	*years = v;
	*basis = plan_text(plan_child(s, "SailytysajanPerusteTeksti"));
	*trigger = plan_text(plan_child(s,
	    "SailytysajanLaskentaperusteTeksti"));
	return 1;
}

/* A Kayttorajoitustiedot's JulkisuusluokkaKoodi, 1–4, or 0 (none). */
static int
plan_publicity(const xmlNode *k)
{
	char *text = plan_text(plan_child(k, "JulkisuusluokkaKoodi"));
	int code = 0;

	if (text != NULL && strlen(text) == 1 && text[0] >= '1' &&
	    text[0] <= '4')
		code = text[0] - '0';
	free(text);
	return code;
}

static void
plan_type_free(struct plan_type *t)
{
	free(t->name);
	free(t->basis);
	free(t->trigger);
}

static void
plan_class_free(struct plan_class *c)
{
	size_t i;

	for (i = 0; i < c->ntypes; i++)
		plan_type_free(&c->types[i]);
	free(c->types);
	free(c->code);
	free(c->title);
	free(c->basis);
	free(c->trigger);
}

/* Adds the record types under n (a process or a phase, nested) to c. */
static int
plan_read_types(struct plan_reader *r, struct plan_class *c,
    const xmlNode *n, size_t *cap)
{
	struct plan_type t, *nt;
	xmlNodePtr k;
	char why[256];
	int rc;

	for (k = n->children; k != NULL; k = k->next) {
		if (plan_is(k, "Toimenpidetiedot")) {
			if (plan_read_types(r, c, k, cap) == -1)
				return -1;
			continue;
		}
		if (!plan_is(k, "Asiakirjatieto"))
			continue;
		memset(&t, 0, sizeof(t));
		t.line = xmlGetLineNo(k);
		t.name = plan_text(plan_child(k, "AsiakirjaluokkaTeksti"));
		rc = plan_retention(plan_child(k, "Sailytysaikatiedot"),
		    &t.years, &t.basis, &t.trigger, why, sizeof(why));
		if (rc == -1) {
			findings_add(r->f, plan_sev(r), "PLAN_UNRESOLVED",
			    r->name, t.line, "class %s, record type \"%.80s\" "
			    "(line %ld): %s%s", c->code, t.name ? t.name :
			    "(no AsiakirjaluokkaTeksti)", t.line, why,
			    plan_left_out(r));
			plan_type_free(&t);
			continue;
		}
		if (rc == 1)
			t.own = true;
		else {		/* inherits the process's */
			t.years = c->years;
			if ((c->basis && (t.basis = strdup(c->basis)) ==
			    NULL) || (c->trigger && (t.trigger =
			    strdup(c->trigger)) == NULL)) {
				plan_type_free(&t);
				return -1;
			}
		}
		t.publicity = plan_publicity(plan_child(k,
		    "Kayttorajoitustiedot"));
		if (t.publicity == 0)
			t.publicity = c->publicity;
		if (c->ntypes == *cap) {
			*cap = *cap ? *cap * 2 : 4;
			if ((nt = realloc(c->types, *cap * sizeof(*nt))) ==
			    NULL) {
				plan_type_free(&t);
				return -1;
			}
			c->types = nt;
		}
		c->types[c->ntypes++] = t;
	}
	return 0;
}

/* One Luokka: added to the plan when its retention resolves.  0, or -1
 * without memory. */
static int
plan_read_class(struct plan_reader *r, const xmlNode *luokka)
{
	struct plan_class c, *nc;
	xmlNodePtr process;
	char *raw, why[256];
	size_t cap = 0, at;
	long line = xmlGetLineNo(luokka);
	int rc;

	memset(&c, 0, sizeof(c));
	c.line = line;
	raw = plan_text(plan_child(luokka, "Luokitustunnus"));
	c.title = plan_title(plan_child(luokka, "Nimeke"));
	if (raw == NULL || (c.code = package_function_code(raw)) == NULL) {
		findings_add(r->f, plan_sev(r), "PLAN_CODE", r->name, line,
		    "class \"%.80s\" (line %ld): Luokitustunnus \"%.40s\" is "
		    "not a function code (digit groups, e.g. 10 03 00 09)%s",
		    c.title ? c.title : "", line, raw ? raw : "",
		    plan_left_out(r));
		goto drop;
	}
	if (strmap_get(&r->codes, c.code, &at)) {
		findings_add(r->f, plan_sev(r), "PLAN_DUPLICATE_CLASS",
		    r->name, line, "class %s (line %ld) is in the plan already "
		    "(line %ld)%s", c.code, line, r->p->classes[at].line,
		    plan_left_out(r));
		goto drop;
	}
	if ((process = plan_child(luokka, "KasittelyprosessiTiedot")) ==
	    NULL) {
		findings_add(r->f, plan_sev(r), "PLAN_UNRESOLVED", r->name,
		    line, "class %s %.80s (line %ld) has no "
		    "KasittelyprosessiTiedot, so no retention%s", c.code,
		    c.title ? c.title : "", line, plan_left_out(r));
		goto drop;
	}
	rc = plan_retention(plan_child(process, "Sailytysaikatiedot"),
	    &c.years, &c.basis, &c.trigger, why, sizeof(why));
	if (rc != 1) {
		if (rc == 0)
			snprintf(why, sizeof(why), "its process (line %ld) has "
			    "no retention (Sailytysaikatiedot empty or "
			    "absent)", xmlGetLineNo(process));
		findings_add(r->f, plan_sev(r), "PLAN_UNRESOLVED", r->name,
		    line, "class %s %.80s (line %ld): %s, and its record types "
		    "have nothing to inherit%s", c.code, c.title ?
		    c.title : "", line, why, plan_left_out(r));
		goto drop;
	}
	c.publicity = plan_publicity(plan_child(process,
	    "Kayttorajoitustiedot"));
	if (plan_read_types(r, &c, process, &cap) == -1)
		goto fail;
	free(raw);
	if (r->p->nclasses == r->capclasses) {
		r->capclasses = r->capclasses ? r->capclasses * 2 : 64;
		if ((nc = realloc(r->p->classes, r->capclasses *
		    sizeof(*nc))) == NULL) {
			plan_class_free(&c);
			return -1;
		}
		r->p->classes = nc;
	}
	r->p->classes[r->p->nclasses] = c;
	if (strmap_put(&r->codes, r->p->classes[r->p->nclasses].code,
	    r->p->nclasses) == -1) {
		plan_class_free(&c);
		return -1;
	}
	r->p->nclasses++;
	return 0;
drop:
	free(raw);
	plan_class_free(&c);
	r->left_out++;
	return 0;
fail:
	free(raw);
	plan_class_free(&c);
	return -1;
}

/* A DOCTYPE before the root: refused before libxml2 sees it (a plan needs
 * none; refusing it closes entity expansion and external DTDs at once). */
static bool
plan_has_doctype(const char *xml, size_t len)
{
	const char *p = xml, *end = xml + len, *close;

	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
		    *p == '\r'))
			p++;
		if (end - p >= 2 && memcmp(p, "<?", 2) == 0)
			close = memmem(p, (size_t)(end - p), "?>", 2);
		else if (end - p >= 4 && memcmp(p, "<!--", 4) == 0)
			close = memmem(p, (size_t)(end - p), "-->", 3);
		else
			break;
		if (close == NULL)
			return false;	/* malformed: libxml2 says so */
		p = close + 2;
	}
	return end - p >= 9 && memcmp(p, "<!DOCTYPE", 9) == 0;
}

int
plan_read(struct plan *out, const char *xml, size_t len, const char *name,
    bool lenient, struct findings *f, char *err, size_t errlen)
{
	struct plan_reader r = { out, f, name, lenient, 0, 0, { 0 }, 0 };
	xmlParserCtxtPtr ctxt = NULL;
	xmlSchemaValidCtxtPtr vc = NULL;
	xmlDocPtr doc = NULL;
	xmlNodePtr root, c;
	size_t nluokka = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (plan_init(err, errlen) == -1)
		return -1;
	if (len > (size_t)INT32_MAX) {
		findings_add(f, SEVERITY_ERROR, "PLAN_TOO_LARGE", name, 0,
		    "%s is %zu bytes: too large for a plan", name, len);
		return 0;
	}
	if (plan_has_doctype(xml, len)) {
		findings_add(f, SEVERITY_ERROR, "PLAN_DOCTYPE", name, 0,
		    "%s has a DOCTYPE: a JHS 191 plan needs none, and none is "
		    "read (no entities, no external DTD)", name);
		return 0;
	}
	if (strmap_init(&r.codes, 1024, false) == -1 ||
	    (ctxt = xmlNewParserCtxt()) == NULL) {
		snprintf(err, errlen, "no memory");
		goto out;
	}
	xmlSetStructuredErrorFunc(&r, plan_parse_error);
	plan_reading = true;
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, name, NULL, PLAN_PARSE);
	plan_reading = false;
	xmlSetStructuredErrorFunc(NULL, NULL);
	if (doc == NULL || r.f->errors > 0) {
		if (r.f->errors == 0)
			findings_add(f, SEVERITY_ERROR, "PLAN_MALFORMED", name,
			    0, "%s is not well-formed XML", name);
		rc = 0;
		goto out;
	}
	if (doc->intSubset != NULL) {	/* the scan's second lock */
		findings_add(f, SEVERITY_ERROR, "PLAN_DOCTYPE", name, 0,
		    "%s has a DOCTYPE: a JHS 191 plan needs none", name);
		rc = 0;
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (!plan_is(root, "Tos")) {
		findings_add(f, SEVERITY_ERROR, "PLAN_ROOT", name,
		    root ? xmlGetLineNo(root) : 0, "%s: the root element is "
		    "not Tos in the JHS 191 namespace %s", name, PLAN_NS);
		rc = 0;
		goto out;
	}
	if ((vc = xmlSchemaNewValidCtxt(plan_schema)) == NULL) {
		snprintf(err, errlen, "no memory");
		goto out;
	}
	xmlSchemaSetValidStructuredErrors(vc, plan_valid_error, &r);
	if (xmlSchemaValidateDoc(vc, doc) < 0) {
		snprintf(err, errlen, "%s: the schema validator failed", name);
		goto out;
	}
	if (r.reported > PLAN_MAX_REPORTED)
		findings_add(f, plan_sev(&r), "PLAN_SCHEMA", name, 0,
		    "%zu more schema problems not listed", r.reported -
		    PLAN_MAX_REPORTED);

	c = plan_child(root, "TosTiedot");
	out->title = plan_title(plan_child(c, "Nimeke"));
	out->organisation = plan_text(plan_child(c, "OrganisaatioNimi"));
	out->version = plan_text(plan_child(c, "TosVersio"));
	for (c = root->children; c != NULL; c = c->next) {
		if (!plan_is(c, "Luokka"))
			continue;
		nluokka++;
		if (plan_read_class(&r, c) == -1) {
			snprintf(err, errlen, "no memory");
			goto out;
		}
	}
	if (out->nclasses == 0)
		findings_add(f, SEVERITY_ERROR, "PLAN_NOTHING_RESOLVABLE", name,
		    0, "%s: none of its %zu classes has a retention that can "
		    "be resolved", name, nluokka);
	rc = 0;
out:
	plan_reading = false;
	strmap_free(&r.codes);
	xmlSchemaFreeValidCtxt(vc);
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	if (rc == -1) {
		plan_free(out);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

void
plan_free(struct plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nclasses; i++)
		plan_class_free(&p->classes[i]);
	free(p->classes);
	free(p->title);
	free(p->organisation);
	free(p->version);
}
