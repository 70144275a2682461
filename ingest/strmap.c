/*
 * strmap.c — a set of strings with a value each (open addressing, kept at
 * most half full): the unpacked files by path, case files by NativeId.
 * Keys are kept by reference and must outlive the set.
 */
#include <stdlib.h>
#include <string.h>

#include "process.h"


static uint64_t
strmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

int
strmap_init(struct strmap *m, size_t n)
{
	m->cap = 16;
	while (m->cap < 2 * n + 16)
		m->cap <<= 1;
	m->n = 0;
	m->keys = calloc(m->cap, sizeof(*m->keys));
	m->values = calloc(m->cap, sizeof(*m->values));
	return m->keys && m->values ? 0 : -1;
}

void
strmap_free(struct strmap *m)
{
	free(m->keys);
	free(m->values);
	memset(m, 0, sizeof(*m));
}

/* The slot of key: where it is, or where it would go. */
static size_t
strmap_slot(const struct strmap *m, const char *key)
{
	size_t i = strmap_hash(key) & (m->cap - 1);

	while (m->keys[i] && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

/* Doubles the table (kept at most half full). */
static int
strmap_grow(struct strmap *m)
{
	struct strmap big;
	size_t i;

	if (strmap_init(&big, m->cap) == -1) {
		strmap_free(&big);
		return -1;
	}
	for (i = 0; i < m->cap; i++)
		if (m->keys[i])
			strmap_put(&big, m->keys[i], m->values[i]);
	strmap_free(m);
	*m = big;
	return 0;
}

/* Adds key (kept by reference); 1 when new, 0 when it was there, -1
 * without memory. */
int
strmap_put(struct strmap *m, const char *key, size_t value)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap && strmap_grow(m) == -1)
		return -1;
	i = strmap_slot(m, key);
	if (m->keys[i])
		return 0;
	m->keys[i] = key;
	m->values[i] = value;
	m->n++;
	return 1;
}

bool
strmap_get(const struct strmap *m, const char *key, size_t *value)
{
	size_t i = strmap_slot(m, key);

	if (m->keys[i] == NULL)
		return false;
	*value = m->values[i];
	return true;
}

