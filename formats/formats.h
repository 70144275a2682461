/*
 * formats.h — what the formats folder offers the rest of Sailo: findings
 * (and, as formats land, the one package model every format fills).  It
 * knows nothing of HTTP, PostgreSQL or storage.
 *
 * A finding is {severity, code, path, line, message}: code is stable and
 * upper-case (CHECKSUM_MISMATCH), message says in plain words what is wrong
 * and names the file or element.  Every finding is collected; the first
 * never hides the rest (up to FINDINGS_MAX, then one TOO_MANY_FINDINGS).
 */
#ifndef SAILO_FORMATS_H
#define SAILO_FORMATS_H

#include <stddef.h>

enum severity { SEVERITY_ERROR, SEVERITY_WARNING, SEVERITY_INFO };

#define FINDINGS_MAX 10000

struct finding {
	enum severity	 severity;
	char		*code;
	char		*path;		/* or NULL */
	long		 line;		/* 0 = none */
	char		*message;
};

struct findings {
	struct finding	*items;
	size_t		 n, cap;
	size_t		 errors, warnings;
	size_t		 dropped;	/* past FINDINGS_MAX */
};

void	findings_init(struct findings *f);
void	findings_free(struct findings *f);
/* Adds a finding; path may be NULL, line 0. */
void	findings_add(struct findings *f, enum severity sev, const char *code,
	    const char *path, long line, const char *fmt, ...)
	    __attribute__((format(printf, 6, 7)));
/* True when a finding with this code was added (tests, decisions). */
int	findings_has(const struct findings *f, const char *code);
const char *severity_name(enum severity s);

#endif
