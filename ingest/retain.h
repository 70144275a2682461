/*
 * retain.h — the retention of each record a transfer catalogues
 * (retain.c), decided in the catalogue's transaction.
 */
#ifndef SAILO_RETAIN_H
#define SAILO_RETAIN_H

#include <jansson.h>

#include "formats.h"
#include "package.h"
#include "retention.h"

struct job;

struct retain {
	struct plan		 plan;		/* the current version */
	int			 version;	/* 0: no plan yet */
	struct ret_date		 today;		/* in Europe/Helsinki */
	enum ret_precedence	 prec;
	bool			 round;
	size_t			 records;
	/* Function codes the plan does not know, in order of appearance,
	 * with how many records and the first one's line. */
	struct strmap		 codes;
	char			**code_names;
	size_t			*code_counts, *code_lines;
	size_t			 ncodes, capcodes;
	size_t			 unknown;	/* records with no period */
	long			 unknown_line;
};

/* Loads the current plan and today's date, in j's transaction.  0, or -1
 * (db_error, or no memory). */
int	retain_begin(struct retain *rt, struct job *j);
/* The retention row of record r (its id rid; cf its case file or NULL)
 * for INSERT … jsonb_to_recordset; warnings into j's findings.  NULL
 * without memory. */
json_t	*retain_row(struct retain *rt, struct job *j, const char *rid,
	    const struct pkg_record *r, const struct pkg_casefile *cf);
/* The warnings counted over all records. */
void	retain_end(struct retain *rt, struct job *j);
void	retain_free(struct retain *rt);

#endif
