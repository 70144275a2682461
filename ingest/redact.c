/*
 * redact.c — what submitted SÄHKE2 metadata says about destroyed records,
 * taken out (retention/dispose.c).  Each Record element whose NativeId is
 * gone is replaced by a comment naming its NativeId and the batch (the
 * tombstone keeps both); the rest of the document stays as it was.  When
 * this takes the last Record, the file becomes a stub that names the case
 * files and the batch: a case file's title may name a person, and its
 * records are gone.  A file that loses nothing is written as it was.
 *
 * The file is read whole (libxml2's tree): it is one case file's extract,
 * or a bag's submitted metadata, both within ingest.max_metadata_bytes.
 */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>

#include "ingest.h"

/* No XML_PARSE_NOENT, _DTDLOAD, _DTDATTR or _XINCLUDE, ever. */
#define REDACT_PARSE	(XML_PARSE_NONET | XML_PARSE_BIG_LINES)
#define REDACT_NS	"urn:x-sailo:disposal:1"

struct redact {
	bool		(*gone)(const char *native_id, void *arg);
	void		*arg;
	const char	*batch;
	size_t		 left, removed;
	xmlNodePtr	 cases;		/* the stub's CaseFile list */
};

static bool
redact_is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	    strcmp((const char *)n->name, name) == 0;
}

/* The trimmed text of n's child element NativeId (malloc'd), or NULL. */
static char *
redact_native_id(const xmlNode *n)
{
	const xmlNode *c;
	xmlChar *v;
	char *s, *e, *out;

	for (c = n->children; c; c = c->next)
		if (redact_is(c, "NativeId"))
			break;
	if (c == NULL || (v = xmlNodeGetContent(c)) == NULL)
		return NULL;
	for (s = (char *)v; *s == ' ' || *s == '\t' || *s == '\r' ||
	    *s == '\n'; s++)
		;
	for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t' ||
	    e[-1] == '\r' || e[-1] == '\n'); e--)
		;
	*e = '\0';
	out = strdup(s);
	xmlFree(v);
	return out;
}

/* A comment may not hold "--" nor end in "-". */
static void
redact_comment_text(char *s)
{
	for (; *s; s++)
		if (s[0] == '-' && s[1] == '-')
			s[1] = '_';
}

static int
redact_walk(struct redact *rd, xmlNodePtr n)
{
	xmlNodePtr c, next, note;
	char *id, text[1200];

	for (c = n->children; c; c = next) {
		next = c->next;
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (redact_is(c, "CaseFile") && (id = redact_native_id(c))) {
			xmlNewTextChild(rd->cases, NULL, BAD_CAST "CaseFile",
			    BAD_CAST id);
			free(id);
		}
		if (!redact_is(c, "Record")) {
			if (redact_walk(rd, c) == -1)
				return -1;
			continue;
		}
		id = redact_native_id(c);
		if (id == NULL || !rd->gone(id, rd->arg)) {
			rd->left++;
			free(id);
			if (redact_walk(rd, c) == -1)	/* nested records */
				return -1;
			continue;
		}
		snprintf(text, sizeof(text), " Record %.1000s destroyed by "
		    "disposal batch %s ", id, rd->batch);
		free(id);
		redact_comment_text(text);
		if ((note = xmlNewComment(BAD_CAST text)) == NULL)
			return -1;
		xmlReplaceNode(c, note);
		xmlFreeNode(c);
		rd->removed++;
	}
	return 0;
}

int
redact_sahke2(const char *src, const char *dst, bool (*gone)(const char *,
    void *), void *arg, const char *batch, size_t *left, char *err,
    size_t errlen)
{
	struct redact rd = { gone, arg, batch, 0, 0, NULL };
	xmlDocPtr doc, stub = NULL;
	xmlNodePtr root, sroot;
	xmlNsPtr ns;
	int rc = -1;

	*left = 0;
	if ((doc = xmlReadFile(src, NULL, REDACT_PARSE)) == NULL ||
	    (root = xmlDocGetRootElement(doc)) == NULL) {
		snprintf(err, errlen, "%s: not well-formed XML", src);
		xmlFreeDoc(doc);
		return -1;
	}
	if ((rd.cases = xmlNewNode(NULL, BAD_CAST "CaseFiles")) == NULL ||
	    redact_walk(&rd, root) == -1) {
		snprintf(err, errlen, "%s: out of memory", src);
		goto out;
	}
	*left = rd.left;
	if (rd.left == 0 && rd.removed > 0) {
		/* Nothing described here is kept: a stub. */
		stub = xmlNewDoc(BAD_CAST "1.0");
		sroot = xmlNewNode(NULL, BAD_CAST "DisposedMetadata");
		ns = xmlNewNs(sroot, BAD_CAST REDACT_NS, NULL);
		xmlSetNs(sroot, ns);
		xmlDocSetRootElement(stub, sroot);
		xmlNewTextChild(sroot, ns, BAD_CAST "DisposalBatch",
		    BAD_CAST batch);
		xmlNewTextChild(sroot, ns, BAD_CAST "Note", BAD_CAST
		    "Every record this metadata described was destroyed; "
		    "what stays of each is in tombstones.json.");
		xmlSetNs(rd.cases, ns);
		for (root = rd.cases->children; root; root = root->next)
			xmlSetNs(root, ns);
		xmlAddChild(sroot, rd.cases);
		rd.cases = NULL;
		if (xmlSaveFormatFileEnc(dst, stub, "UTF-8", 1) == -1) {
			snprintf(err, errlen, "%s: cannot write", dst);
			goto out;
		}
	} else if (xmlSaveFileEnc(dst, doc, "UTF-8") == -1) {
		snprintf(err, errlen, "%s: cannot write", dst);
		goto out;
	}
	rc = 0;
out:
	xmlFreeNode(rd.cases);
	xmlFreeDoc(stub);
	xmlFreeDoc(doc);
	return rc;
}
