/*
 * findings.c — the list of findings a package yields.  Bounded: a hostile
 * package cannot make it grow without limit.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
findings_utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return len;
}

/* A finding is shown, stored and sent as JSON: every byte that is not
 * valid UTF-8 (a name or value in another encoding, a message cut in the
 * middle of a character) becomes '?', so that no finding is ever lost. */
void
findings_clean_utf8(char *s)
{
	size_t n = strlen(s), i = 0, k;

	while (i < n) {
		if ((k = findings_utf8_seq((unsigned char *)s + i, n - i)) ==
		    0) {
			s[i++] = '?';
			continue;
		}
		i += k;
	}
}

static bool
findings_is(const char *s, const char *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return false;
	return true;
}

/* A finding never repeats a Finnish personal identity code, wherever the
 * package put one (even in a field where it does not belong): anything of
 * its shape (DDMMYY, a century sign, NNN, a check character) is withheld.
 * The result is never longer than s. */
void
findings_withhold(char *s)
{
	static const char mark[] = "(withheld)";
	char *p;

	for (p = s; *p; p++) {
		if (!findings_is(p, "0123456789", 6) ||
		    !findings_is(p + 6, "+-ABCDEFUVWXY", 1) ||
		    !findings_is(p + 7, "0123456789", 3) ||
		    !findings_is(p + 10, "0123456789ABCDEFHJKLMNPRSTUVWXY", 1) ||
		    (p > s && isalnum((unsigned char)p[-1])) ||
		    isalnum((unsigned char)p[11]))
			continue;	/* part of a longer word (a digest) */
		memcpy(p, mark, sizeof(mark) - 1);
		memmove(p + sizeof(mark) - 1, p + 11, strlen(p + 11) + 1);
		p += sizeof(mark) - 2;
	}
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
		/* The last place says how many more there were; the
		 * counts above stay true. */
		if (f->dropped++ == 0 && f->n == FINDINGS_MAX) {
			it = &f->items[f->n - 1];
			free(it->code);
			free(it->path);
			free(it->message);
			it->severity = SEVERITY_ERROR;
			it->code = strdup("TOO_MANY_FINDINGS");
			it->path = NULL;
			it->line = 0;
			it->message = strdup("more findings than a report "
			    "holds: the first ones are listed, the counts "
			    "are of all");
		}
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
	findings_clean_utf8(msg);
	findings_withhold(msg);
	it = &f->items[f->n++];
	it->severity = sev;
	it->code = strdup(code);
	it->path = path ? strdup(path) : NULL;
	if (it->path) {
		findings_clean_utf8(it->path);
		findings_withhold(it->path);
	}
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
