/*
 * ratelimit.c — see ratelimit.h. Open addressing over a power-of-two table
 * with FNV-1a hashing; linear probing bounded by 16 slots, after which the
 * oldest of those slots is recycled. Enough for per-address login limits;
 * not meant for millions of keys.
 */
#include "core/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#define KEY_MAX 72
#define PROBE   16

typedef struct slot {
	char key[KEY_MAX];
	int64_t window_start;
	int count;
} slot;

struct hratelimit {
	slot *slots;
	size_t mask;
	int64_t window_ms;
	int limit;
};

hratelimit *hratelimit_new(size_t capacity, int64_t window_ms, int limit)
{
	size_t n = 16;
	while (n < capacity)
		n <<= 1;
	hratelimit *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->slots = calloc(n, sizeof *r->slots);
	if (!r->slots) {
		free(r);
		return NULL;
	}
	r->mask = n - 1;
	r->window_ms = window_ms;
	r->limit = limit;
	return r;
}

void hratelimit_free(hratelimit *r)
{
	if (!r)
		return;
	free(r->slots);
	free(r);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

int hratelimit_hit(hratelimit *r, const char *key, int64_t now_ms)
{
	size_t start = (size_t)fnv1a(key) & r->mask;
	slot *victim = NULL, *found = NULL;
	for (size_t i = 0; i < PROBE; i++) {
		slot *s = &r->slots[(start + i) & r->mask];
		if (s->key[0] && strncmp(s->key, key, KEY_MAX - 1) == 0) {
			found = s;
			break;
		}
		if (!s->key[0] || now_ms - s->window_start >= r->window_ms) {
			if (!victim || victim->key[0])
				victim = s;
		} else if (!victim || (victim->key[0] && s->window_start < victim->window_start)) {
			victim = s;
		}
	}
	if (!found) {
		found = victim;
		strncpy(found->key, key, KEY_MAX - 1);
		found->key[KEY_MAX - 1] = '\0';
		found->window_start = now_ms;
		found->count = 0;
	}
	if (now_ms - found->window_start >= r->window_ms) {
		found->window_start = now_ms;
		found->count = 0;
	}
	if (found->count >= r->limit) {
		int64_t left = found->window_start + r->window_ms - now_ms;
		int secs = (int)((left + 999) / 1000);
		return secs < 1 ? 1 : secs;
	}
	found->count++;
	return 0;
}

void hratelimit_forgive(hratelimit *r, const char *key, int64_t now_ms)
{
	size_t start = (size_t)fnv1a(key) & r->mask;
	for (size_t i = 0; i < PROBE; i++) {
		slot *s = &r->slots[(start + i) & r->mask];
		if (s->key[0] && strncmp(s->key, key, KEY_MAX - 1) == 0) {
			if (now_ms - s->window_start < r->window_ms && s->count > 0)
				s->count--;
			return;
		}
	}
}
