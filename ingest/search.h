/*
 * search.h — Finnish words for the catalogue's full-text search (sql/011):
 * Voikko's base forms and compound parts of each word, which the snowball
 * stemmer alone cannot give ("rakennusluvan" → "rakennuslupa", "rakennus",
 * "lupa").  Safe from any thread: each thread has its own Voikko handle
 * and a bounded cache of the words it has seen.
 */
#ifndef SAILO_SEARCH_H
#define SAILO_SEARCH_H

#include <jansson.h>

struct db;

/* Words analysed per text at most: a longer description adds no more. */
#define SEARCH_MAX_WORDS	2000
/* Words of a query at most (more is a 400). */
#define SEARCH_MAX_QUERY_WORDS	32

/* The base forms and compound parts of the words of text (any of which
 * may be NULL), space-separated: the `lemmas` argument of
 * search_vector().  malloc'd; "" when no word is known; NULL when Voikko
 * cannot start or memory runs out. */
char	*search_lemmas(const char *const *texts, int ntexts);

/* The query q as search_tsquery() takes it: [{"w": word, "l": [base
 * form, …]}, …].  New reference, or NULL (no memory, no Voikko); more
 * than SEARCH_MAX_QUERY_WORDS words sets *too_many. */
json_t	*search_query(const char *q, int *too_many);

/* True when Voikko and its Finnish dictionary load (checked at start-up,
 * so that search never silently degrades to stems alone). */
int	 search_available(char *err, size_t errlen);

/* Fills the search column of catalogued records that have none (records
 * catalogued before sql/011), a batch at a time.  Returns the number
 * filled, or -1. */
long	 search_backfill(struct db *db, int batch);

/* The expression that sets a record's search column from the title
 * ($title), description and case title, and lemmas: for INSERT lists. */
#define SEARCH_VECTOR_SQL(title, description, case_title, lemmas) \
	"search_vector(concat_ws(' ', " title ", " description ", " \
	case_title "), " lemmas ")"

#endif
