/*
 * i64map.c — see i64map.h. Key 0 is never used by herald (ids start at 1),
 * so an empty slot is simply val == NULL.
 */
#include "core/i64map.h"

#include <stdlib.h>

#include "core/err.h"

static size_t slot_of(int64_t key, size_t cap)
{
	uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 17) & (cap - 1);
}

void *i64map_get(const i64map *m, int64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i])
			return NULL;
		if (m->keys[i] == key)
			return m->vals[i];
	}
}

static int grow(i64map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	int64_t *keys = calloc(cap, sizeof *keys);
	void **vals = calloc(cap, sizeof *vals);
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return HERR_NOMEM;
	}
	for (size_t j = 0; j < m->cap; j++) {
		if (!m->vals[j])
			continue;
		size_t i = slot_of(m->keys[j], cap);
		while (vals[i])
			i = (i + 1) & (cap - 1);
		keys[i] = m->keys[j];
		vals[i] = m->vals[j];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

int i64map_put(i64map *m, int64_t key, void *val)
{
	if ((m->count + 1) * 4 > m->cap * 3 && grow(m) != 0)
		return HERR_NOMEM;
	size_t i = slot_of(key, m->cap);
	while (m->vals[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	if (!m->vals[i])
		m->count++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

void *i64map_del(i64map *m, int64_t key)
{
	if (!m->cap)
		return NULL;
	size_t i = slot_of(key, m->cap);
	while (m->vals[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	void *val = m->vals[i];
	if (!val)
		return NULL;
	m->vals[i] = NULL;
	m->count--;
	/* Backward shift: move later entries of the run into the hole when
	 * their home slot allows it, so no lookup chain is broken. */
	for (size_t j = (i + 1) & (m->cap - 1); m->vals[j]; j = (j + 1) & (m->cap - 1)) {
		size_t home = slot_of(m->keys[j], m->cap);
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			m->vals[j] = NULL;
			i = j;
		}
	}
	return val;
}

void i64map_free(i64map *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->count = 0;
}

void i64map_each(const i64map *m, void (*fn)(void *ud, int64_t key, void *val), void *ud)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i])
			fn(ud, m->keys[i], m->vals[i]);
}
