/*
 * findings.c — the list of findings a package yields.  Bounded: a hostile
 * package cannot make it grow without limit.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"

void
findings_init(struct findings *f)
{
	memset(f, 0, sizeof(*f));
}

void
findings_free(struct findings *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->items[i].code);
		free(f->items[i].path);
		free(f->items[i].message);
	}
	free(f->items);
	memset(f, 0, sizeof(*f));
}

const char *
severity_name(enum severity s)
{
	return s == SEVERITY_ERROR ? "error" : s == SEVERITY_WARNING ?
	    "warning" : "info";
}

void
findings_add(struct findings *f, enum severity sev, const char *code,
    const char *path, long line, const char *fmt, ...)
{
	struct finding *it;
	char msg[1024];
	va_list ap;

	if (sev == SEVERITY_ERROR)
		f->errors++;
	else if (sev == SEVERITY_WARNING)
		f->warnings++;
	if (f->n >= FINDINGS_MAX) {
		f->dropped++;
		return;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		if ((it = realloc(f->items, cap * sizeof(*it))) == NULL) {
			f->dropped++;
			return;
		}
		f->items = it;
		f->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	it = &f->items[f->n++];
	it->severity = sev;
	it->code = strdup(code);
	it->path = path ? strdup(path) : NULL;
	it->line = line;
	it->message = strdup(msg);
}

int
findings_has(const struct findings *f, const char *code)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->items[i].code, code) == 0)
			return 1;
	return 0;
}
