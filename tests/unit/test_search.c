/*
 * test_search.c — unit tests of the Finnish words that search indexes and
 * asks for (ingest/search.c): Voikko's base forms and compound parts of a
 * text, once each; the words of a query with their base forms only; words
 * Voikko does not know; the limits; and a thread of its own getting its
 * own handle.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "search.h"

/* True when word is one of the space-separated words of list. */
static int
has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return 1;
		p++;
	}
	return 0;
}

static int
count_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;
	int count = 0;

	while ((p = strstr(p, word)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			count++;
		p++;
	}
	return count;
}

static void
test_lemmas_of_inflected_compounds(void **state)
{
	const char *texts[3] = { "Rakennusluvan käsittely",
	    NULL, "Pöytäkirjassa mainitut henkilöstöhallinnon asiat" };
	char *l;

	(void)state;
	l = search_lemmas(texts, 3);
	assert_non_null(l);
	/* consonant gradation undone, and the compound's parts */
	assert_true(has_word(l, "rakennuslupa"));
	assert_true(has_word(l, "rakennus"));
	assert_true(has_word(l, "lupa"));
	assert_true(has_word(l, "pöytäkirja"));
	assert_true(has_word(l, "henkilöstöhallinto"));
	assert_true(has_word(l, "hallinto"));
	/* the inflected form itself is not a base form */
	assert_false(has_word(l, "rakennusluvan"));
	free(l);
}

static void
test_each_word_once_per_word_no_endings(void **state)
{
	/* "rakennusvalvonta": WORDBASES has derivational endings ("+n",
	 * "+ta") that are no words of their own. */
	const char *texts[1] = { "rakennusvalvonta" };
	char *l;

	(void)state;
	l = search_lemmas(texts, 1);
	assert_non_null(l);
	assert_true(has_word(l, "rakennusvalvonta"));
	assert_int_equal(count_word(l, "rakennusvalvonta"), 1);
	assert_false(has_word(l, "n"));
	assert_false(has_word(l, "ta"));
	free(l);
}

static void
test_unknown_words_and_empty_texts(void **state)
{
	const char *texts[2] = { "Xqzzyvä Ååå", "" };
	const char *none[1] = { NULL };
	char *l;

	(void)state;
	l = search_lemmas(texts, 2);
	assert_non_null(l);
	assert_string_equal(l, "");	/* their snowball stems stand */
	free(l);
	l = search_lemmas(none, 1);
	assert_non_null(l);
	assert_string_equal(l, "");
	free(l);
}

static void
test_query_words_have_base_forms_only(void **state)
{
	json_t *q, *w;
	int too_many;

	(void)state;
	q = search_query("rakennusluvan Xqzzyvä", &too_many);
	assert_non_null(q);
	assert_false(too_many);
	assert_int_equal(json_array_size(q), 2);
	w = json_array_get(q, 0);
	assert_string_equal(json_string_value(json_object_get(w, "w")),
	    "rakennusluvan");
	/* its base form; never a compound part (lupa would find every
	 * permit) */
	assert_int_equal(json_array_size(json_object_get(w, "l")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(w,
	    "l"), 0)), "rakennuslupa");
	w = json_array_get(q, 1);
	assert_int_equal(json_array_size(json_object_get(w, "l")), 0);
	json_decref(q);
}

static void
test_query_limits(void **state)
{
	char text[SEARCH_MAX_QUERY_WORDS * 6 + 16] = "";
	json_t *q;
	int i, too_many;

	(void)state;
	for (i = 0; i < SEARCH_MAX_QUERY_WORDS; i++)
		strcat(text, "talo ");
	q = search_query(text, &too_many);
	assert_non_null(q);
	assert_false(too_many);
	assert_int_equal(json_array_size(q), SEARCH_MAX_QUERY_WORDS);
	json_decref(q);
	strcat(text, "talo");
	q = search_query(text, &too_many);
	assert_non_null(q);
	assert_true(too_many);
	json_decref(q);
	/* punctuation only: no words */
	q = search_query(" ,.;- ", &too_many);
	assert_non_null(q);
	assert_int_equal(json_array_size(q), 0);
	json_decref(q);
}

static void *
thread_lemmas(void *arg)
{
	const char *texts[1] = { "Pöytäkirjassa" };

	(void)arg;
	return search_lemmas(texts, 1);
}

static void
test_another_thread(void **state)
{
	pthread_t t;
	char *l = NULL;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, thread_lemmas, NULL), 0);
	assert_int_equal(pthread_join(t, (void **)&l), 0);
	assert_non_null(l);
	assert_true(has_word(l, "pöytäkirja"));
	free(l);
}

int
main(void)
{
	char err[256];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lemmas_of_inflected_compounds),
		cmocka_unit_test(test_each_word_once_per_word_no_endings),
		cmocka_unit_test(test_unknown_words_and_empty_texts),
		cmocka_unit_test(test_query_words_have_base_forms_only),
		cmocka_unit_test(test_query_limits),
		cmocka_unit_test(test_another_thread),
	};

	if (search_available(err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
