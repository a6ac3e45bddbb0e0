/*
 * i64map.h — a hash map from int64 keys (user ids, chat ids) to pointers,
 * for the realtime hub. Open addressing with linear probing and backward
 * shift deletion (no tombstones), so lookups stay short under churn.
 * Single-threaded; the hub owns it on the loop thread.
 */
#ifndef HERALD_CORE_I64MAP_H
#define HERALD_CORE_I64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct i64map {
	int64_t *keys;
	void **vals;
	size_t cap; /* power of two, or 0 */
	size_t count;
} i64map;

#define I64MAP_INIT                                                                                                    \
	{                                                                                                              \
		NULL, NULL, 0, 0                                                                                       \
	}

void *i64map_get(const i64map *m, int64_t key);
/* Sets key → val (val non-NULL). Returns 0 or HERR_NOMEM. */
int i64map_put(i64map *m, int64_t key, void *val);
/* Removes key; returns its value or NULL. */
void *i64map_del(i64map *m, int64_t key);
void i64map_free(i64map *m);
/* Calls fn for every entry (do not modify the map meanwhile). */
void i64map_each(const i64map *m, void (*fn)(void *ud, int64_t key, void *val), void *ud);

#endif
