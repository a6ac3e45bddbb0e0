/*
 * ratelimit.h — fixed-window counters by key (client address, phone …),
 * kept in memory on the loop thread. Bounded: the table holds at most
 * `capacity` keys; when full, the entry with the oldest window is reused,
 * which can only ever forgive a stale key early, never block a fresh one.
 */
#ifndef HERALD_CORE_RATELIMIT_H
#define HERALD_CORE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct hratelimit hratelimit;

hratelimit *hratelimit_new(size_t capacity, int64_t window_ms, int limit);
void hratelimit_free(hratelimit *r);

/* Counts one hit for key at now_ms. Returns 0 when allowed, or the number of
 * seconds until the window resets (≥ 1) when the limit is exceeded. */
int hratelimit_hit(hratelimit *r, const char *key, int64_t now_ms);

/* Takes back one hit of key in its current window (an attempt that turned
 * out well, such as a correct password): only failures then use up the
 * limit, while counting at the start still bounds concurrent attempts. */
void hratelimit_forgive(hratelimit *r, const char *key, int64_t now_ms);

#endif
