/*
 * search.c — Voikko's base forms and compound parts for full-text search
 * (search.h).  Voikko handles are not thread-safe: each thread makes its
 * own on first use (a pthread key frees it when the thread ends), with a
 * fixed-size cache of analysed words, since catalogue titles repeat the
 * same administrative words endlessly and an analysis costs ~15 µs.
 */
#include <libvoikko/voikko.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include "db.h"
#include "log.h"
#include "search.h"

#define SEARCH_CACHE_SLOTS	4096	/* per thread: 0.9 MiB */
#define SEARCH_MAX_WORD_BYTES	100	/* longer is no Finnish word */

#define SEARCH_SLOT_LEMMAS	128	/* longer lemma lists are not cached */

/*
 * The cache lives in the thread's one block, not in a malloc per word: its
 * entries outlive each job, and thousands of small blocks made amid a
 * large transfer's model pinned the freed pages around them (measured:
 * 9 MiB resident after a 20,000-record transfer, 0.8 MiB of it in use).
 */
struct search_slot {
	char	word[SEARCH_MAX_WORD_BYTES + 1];	/* "": an empty slot */
	char	lemmas[SEARCH_SLOT_LEMMAS];	/* space-separated, maybe "" */
};

struct search_thread {
	struct VoikkoHandle	*voikko;
	char			 uncached[1024];	/* the last long one */
	struct search_slot	 cache[SEARCH_CACHE_SLOTS];
};

static pthread_key_t search_key;
static pthread_once_t search_once = PTHREAD_ONCE_INIT;

static void
search_thread_free(void *arg)
{
	struct search_thread *t = arg;

	if (t->voikko)
		voikkoTerminate(t->voikko);
	free(t);
}

static void
search_key_make(void)
{
	(void)pthread_key_create(&search_key, search_thread_free);
}

/* This thread's handle and cache, made on first use; NULL on failure. */
static struct search_thread *
search_thread(const char **err)
{
	struct search_thread *t;

	*err = NULL;
	(void)pthread_once(&search_once, search_key_make);
	if ((t = pthread_getspecific(search_key)) != NULL)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		*err = "out of memory";
		return NULL;
	}
	if ((t->voikko = voikkoInit(err, "fi", NULL)) == NULL) {
		free(t);
		return NULL;
	}
	if (pthread_setspecific(search_key, t) != 0) {
		search_thread_free(t);
		*err = "out of memory";
		return NULL;
	}
	return t;
}

int
search_available(char *err, size_t errlen)
{
	const char *why;

	if (search_thread(&why) == NULL) {
		snprintf(err, errlen, "Voikko cannot analyse Finnish (%s): "
		    "install libvoikko1 and voikko-fi", why ? why : "no handle");
		return -1;
	}
	return 0;
}

/* Appends word (n bytes, not NUL-ended) and a space to buf, unless it is
 * there already as a whole word. */
static void
search_add(char *buf, size_t *len, size_t cap, const char *word, size_t n)
{
	const char *p = buf, *end = buf + *len, *sp;

	if (n == 0 || *len + n + 2 > cap)
		return;
	for (; p < end; p = sp + 1) {
		sp = memchr(p, ' ', (size_t)(end - p));
		sp = sp ? sp : end;
		if ((size_t)(sp - p) == n && memcmp(p, word, n) == 0)
			return;
	}
	memcpy(buf + *len, word, n);
	*len += n;
	buf[(*len)++] = ' ';
	buf[*len] = '\0';
}

/* The compound parts of a WORDBASES value "+rakennus(rakennus)+lupa(lupa)":
 * each part's base form in parentheses.  A part without one is a
 * derivational ending ("+rakennus(rakennus)+valvo(valvoa)+n+ta"), no word. */
static void
search_add_parts(char *buf, size_t *len, size_t cap, const char *bases)
{
	const char *p = bases, *end, *open, *close;
	int parts = 0;

	for (end = bases; *end; end++)
		parts += *end == '+';
	if (parts < 2)
		return;		/* no compound: the base form says it all */
	while ((p = strchr(p, '+')) != NULL) {
		p++;
		end = strchr(p, '+');
		end = end ? end : p + strlen(p);
		open = memchr(p, '(', (size_t)(end - p));
		close = open ? memchr(open, ')', (size_t)(end - open)) : NULL;
		if (open && close)
			search_add(buf, len, cap, open + 1,
			    (size_t)(close - open - 1));
	}
}

/* The lemmas of one word, from the cache or Voikko; owned by the cache,
 * valid until the thread's next call. */
static const char *
search_word(struct search_thread *t, const char *word, bool parts)
{
	struct voikko_mor_analysis **a;
	struct search_slot *s;
	char buf[1024], *base, *bases;
	size_t len = 0, n, h = 5381;
	const char *p;
	int k;

	for (p = word; *p; p++)
		h = h * 33 + (unsigned char)*p;
	h = (h * 2 + (parts ? 1 : 0)) % SEARCH_CACHE_SLOTS;
	s = &t->cache[h];
	if (strcmp(s->word, word) == 0)	/* "" has no lemmas either */
		return s->lemmas;
	buf[0] = '\0';
	a = voikkoAnalyzeWordCstr(t->voikko, word);
	for (k = 0; a && a[k]; k++) {
		if ((base = voikko_mor_analysis_value_cstr(a[k], "BASEFORM"))) {
			search_add(buf, &len, sizeof(buf), base, strlen(base));
			voikko_free_mor_analysis_value_cstr(base);
		}
		if (parts && (bases = voikko_mor_analysis_value_cstr(a[k],
		    "WORDBASES"))) {
			search_add_parts(buf, &len, sizeof(buf), bases);
			voikko_free_mor_analysis_value_cstr(bases);
		}
	}
	if (a)
		voikko_free_mor_analysis(a);
	if (len > 0)
		buf[--len] = '\0';	/* the last space */
	if (len >= sizeof(s->lemmas) ||
	    (n = strlen(word)) >= sizeof(s->word)) {
		memcpy(t->uncached, buf, len + 1);
		return t->uncached;
	}
	memcpy(s->word, word, n + 1);
	memcpy(s->lemmas, buf, len + 1);
	return s->lemmas;
}

/*
 * Calls fn(word) for each word of text: Voikko's tokenizer, which knows
 * Finnish words ("vaa'an", "EU-tuki").  Stops after max words; returns the
 * number of words, or -1 on failure.
 */
static int
search_words(struct search_thread *t, const char *text, int max,
    int (*fn)(const char *word, void *arg), void *arg)
{
	uint32_t *u = NULL;
	wchar_t *w = NULL;
	size_t n = 0, i, tl;
	enum voikko_token_type type;
	char word[SEARCH_MAX_WORD_BYTES + 1];
	uint8_t *u8;
	size_t u8len;
	int count = 0, rc = -1;

	if ((u = u8_to_u32((const uint8_t *)text, strlen(text), NULL,
	    &n)) == NULL)
		return -1;
	/* wchar_t is 32 bits on every platform Sailo builds on. */
	if ((w = malloc((n + 1) * sizeof(*w))) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		w[i] = (wchar_t)u[i];
	w[n] = 0;
	for (i = 0; i < n && count < max; i += tl) {
		type = voikkoNextTokenUcs4(t->voikko, w + i, n - i, &tl);
		if (type == TOKEN_NONE || tl == 0)
			break;
		if (type != TOKEN_WORD)
			continue;
		u8len = sizeof(word) - 1;
		if ((u8 = u32_to_u8(u + i, tl, (uint8_t *)word, &u8len)) ==
		    NULL)
			continue;
		if (u8 != (uint8_t *)word) {	/* longer than any word */
			free(u8);
			continue;
		}
		word[u8len] = '\0';
		count++;
		if (fn(word, arg) == -1)
			goto out;
	}
	rc = count;
out:
	free(u);
	free(w);
	return rc;
}

struct search_text {
	struct search_thread	*t;
	char			*buf;
	size_t			 len, cap;
};

static int
search_text_word(const char *word, void *arg)
{
	struct search_text *st = arg;
	const char *l = search_word(st->t, word, true);
	size_t n = strlen(l);
	char *nb;

	if (n == 0)
		return 0;	/* unknown: its snowball stem stands */
	if (st->len + n + 2 > st->cap) {
		if ((nb = realloc(st->buf, st->cap * 2 + n + 2)) == NULL)
			return -1;
		st->buf = nb;
		st->cap = st->cap * 2 + n + 2;
	}
	if (st->len > 0)
		st->buf[st->len++] = ' ';
	memcpy(st->buf + st->len, l, n + 1);
	st->len += n;
	return 0;
}

char *
search_lemmas(const char *const *texts, int ntexts)
{
	struct search_text st = { 0 };
	const char *err;
	int i, left = SEARCH_MAX_WORDS, n;

	if ((st.t = search_thread(&err)) == NULL)
		return NULL;
	st.cap = 256;
	if ((st.buf = malloc(st.cap)) == NULL)
		return NULL;
	st.buf[0] = '\0';
	for (i = 0; i < ntexts && left > 0; i++) {
		if (texts[i] == NULL)
			continue;
		if ((n = search_words(st.t, texts[i], left, search_text_word,
		    &st)) == -1) {
			free(st.buf);
			return NULL;
		}
		left -= n;
	}
	return st.buf;
}

struct search_q {
	struct search_thread	*t;
	json_t			*words;
};

static int
search_query_word(const char *word, void *arg)
{
	struct search_q *q = arg;
	const char *l = search_word(q->t, word, false), *p, *e;
	json_t *forms = json_array();

	/* The query's base forms only: its compound parts would make
	 * "rakennuslupa" find every "lupa". */
	for (p = l; *p; p = *e ? e + 1 : e) {
		e = strchr(p, ' ');
		e = e ? e : p + strlen(p);
		json_array_append_new(forms, json_stringn(p, (size_t)(e - p)));
	}
	return json_array_append_new(q->words, json_pack("{s:s,s:o}", "w",
	    word, "l", forms));
}

json_t *
search_query(const char *text, int *too_many)
{
	struct search_q q;
	const char *err;
	int n;

	*too_many = 0;
	if ((q.t = search_thread(&err)) == NULL)
		return NULL;
	if ((q.words = json_array()) == NULL)
		return NULL;
	n = search_words(q.t, text, SEARCH_MAX_QUERY_WORDS + 1,
	    search_query_word, &q);
	if (n == -1) {
		json_decref(q.words);
		return NULL;
	}
	*too_many = n > SEARCH_MAX_QUERY_WORDS;
	return q.words;
}

long
search_backfill(struct db *db, int batch)
{
	struct db_result *r = NULL;
	json_t *rows = NULL;
	char limit[16], last[37] = "", *json = NULL, *lemmas;
	const char *texts[3], *params[2];
	long done = 0;
	int i;

	snprintf(limit, sizeof(limit), "%d", batch);
	for (;;) {
		/* In id order from where the batch before ended, so that no
		 * batch reads again what is done.  Skipped rows are locked by
		 * another daemon doing the same. */
		params[0] = limit;
		params[1] = last[0] ? last : NULL;
		if (db_begin(db) == -1 ||
		    db_query(db, &r, "SELECT r.id, r.title, r.description, "
		    "c.title FROM records r LEFT JOIN case_files c ON c.id = "
		    "r.case_file_id WHERE r.search IS NULL AND r.destroyed_by "
		    "IS NULL AND ($2::uuid IS NULL OR r.id > $2::uuid) ORDER BY "
		    "r.id LIMIT $1::int FOR UPDATE OF r SKIP LOCKED", 2,
		    params) == -1)
			goto fail;
		if (db_rows(r) == 0)
			break;
		rows = json_array();
		for (i = 0; i < db_rows(r); i++) {
			texts[0] = db_isnull(r, i, 1) ? NULL : db_value(r, i, 1);
			texts[1] = db_isnull(r, i, 2) ? NULL : db_value(r, i, 2);
			texts[2] = db_isnull(r, i, 3) ? NULL : db_value(r, i, 3);
			if ((lemmas = search_lemmas(texts, 3)) == NULL)
				goto fail;
			json_array_append_new(rows, json_pack("{s:s,s:s?,s:s?,"
			    "s:s?,s:s}", "id", db_value(r, i, 0), "title",
			    texts[0], "description", texts[1], "case_title",
			    texts[2], "lemmas", lemmas));
			free(lemmas);
		}
		if ((json = json_dumps(rows, JSON_COMPACT)) == NULL)
			goto fail;
		params[0] = json;
		if (db_query(db, NULL, "UPDATE records r SET search = "
		    SEARCH_VECTOR_SQL("x.title", "x.description",
		    "x.case_title", "x.lemmas") " FROM jsonb_to_recordset($1) "
		    "AS x(id uuid, title text, description text, case_title "
		    "text, lemmas text) WHERE r.id = x.id", 1, params) == -1 ||
		    db_commit(db) == -1)
			goto fail;
		snprintf(last, sizeof(last), "%s", db_value(r, db_rows(r) - 1,
		    0));
		done += db_rows(r);
		db_result_free(r);
		r = NULL;
		json_decref(rows);
		rows = NULL;
		free(json);
		json = NULL;
	}
	db_rollback(db);
	db_result_free(r);
	return done;
fail:
	if (db_in_transaction(db))
		db_rollback(db);
	db_result_free(r);
	json_decref(rows);
	free(json);
	return -1;
}
