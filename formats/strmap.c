/*
 * strmap.c — a set of strings with a value each (open addressing, kept at
 * most half full): unpacked files by path, case files and records by
 * NativeId.  The keys come from packages, so the hash is seeded per set:
 * a package cannot choose names that all land in one chain.  Keys are
 * kept by reference (they must outlive the set) or, for a set made with
 * copy, copied and freed with it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "formats.h"

static uint64_t
strmap_hash(const struct strmap *m, const char *s)
{
	uint64_t h = 14695981039346656037ULL ^ m->seed;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	/* FNV leaves the low bits, which pick the slot, poorly mixed. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	return h ^ (h >> 33);
}

static int
strmap_alloc(struct strmap *m, size_t n, bool copy, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	m->cap = 16;
	while (m->cap < 2 * n + 16)
		m->cap <<= 1;
	m->copy = copy;
	m->seed = seed;
	m->keys = calloc(m->cap, sizeof(*m->keys));
	m->values = calloc(m->cap, sizeof(*m->values));
	return m->keys && m->values ? 0 : -1;
}

int
strmap_init(struct strmap *m, size_t n, bool copy)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(seed))
		seed = (uintptr_t)m ^ (uintptr_t)&seed;
	return strmap_alloc(m, n, copy, seed);
}

void
strmap_free(struct strmap *m)
{
	size_t i;

	for (i = 0; m->copy && i < m->cap; i++)
		free((char *)m->keys[i]);
	free(m->keys);
	free(m->values);
	memset(m, 0, sizeof(*m));
}

/* The slot of key: where it is, or where it would go. */
static size_t
strmap_slot(const struct strmap *m, const char *key)
{
	size_t i = strmap_hash(m, key) & (m->cap - 1);

	while (m->keys[i] && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

/* Doubles the table; the keys move over as they are. */
static int
strmap_grow(struct strmap *m)
{
	struct strmap big;
	size_t i, k;

	if (strmap_alloc(&big, m->cap, m->copy, m->seed) == -1) {
		free(big.keys);
		free(big.values);
		return -1;
	}
	for (i = 0; i < m->cap; i++)
		if (m->keys[i]) {
			k = strmap_slot(&big, m->keys[i]);
			big.keys[k] = m->keys[i];
			big.values[k] = m->values[i];
		}
	big.n = m->n;
	free(m->keys);
	free(m->values);
	*m = big;
	return 0;
}

int
strmap_put(struct strmap *m, const char *key, size_t value)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap && strmap_grow(m) == -1)
		return -1;
	i = strmap_slot(m, key);
	if (m->keys[i])
		return 0;
	if (m->copy && (key = strdup(key)) == NULL)
		return -1;
	m->keys[i] = key;
	m->values[i] = value;
	m->n++;
	return 1;
}

bool
strmap_get(const struct strmap *m, const char *key, size_t *value)
{
	size_t i;

	if (m->cap == 0)
		return false;
	i = strmap_slot(m, key);
	if (m->keys[i] == NULL)
		return false;
	*value = m->values[i];
	return true;
}
