/*
 * push_result.h — what a push provider (FCM, APNs) answers about one
 * notification, in terms that do not depend on the provider.
 *
 * What it owns: the outcome vocabulary shared by every provider module and
 * the queue that consumes it, plus the key/value pair of custom data.
 * What it must never do: carry provider-specific fields — whatever the queue
 * needs to decide (deliver, retry later, delete the token, give up) fits in
 * the outcome and a retry hint; the rest is text for logs.
 *
 * Outcomes:
 *  - PUSH_OK: the provider accepted the notification (id: its message id).
 *  - PUSH_RETRY: a transient failure (network, 429, 5xx, cancelled on
 *    shutdown); send again later, not before retry_after_ms when > 0 (the
 *    provider's Retry-After; 0 means no hint: use the queue's own backoff).
 *  - PUSH_DEAD_TOKEN: the device token will never work again (uninstalled
 *    app, malformed token, token of another project): delete it.
 *  - PUSH_FAILED: this notification cannot be delivered as it is (bad
 *    payload, bad credentials, refused by the provider); do not retry it.
 */
#ifndef HERALD_PUSH_PUSH_RESULT_H
#define HERALD_PUSH_PUSH_RESULT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Payload limit of both FCM and APNs, in bytes of the request body. */
#define PUSH_PAYLOAD_MAX 4096

typedef enum { PUSH_OK, PUSH_RETRY, PUSH_DEAD_TOKEN, PUSH_FAILED } push_outcome;

typedef struct push_result {
	push_outcome outcome;
	int http_status;        /* 0 when no answer arrived (network error, cancelled, refused locally) */
	int64_t retry_after_ms; /* PUSH_RETRY only: the provider's Retry-After, 0 when none */
	char reason[96];        /* provider's error code ("UNREGISTERED", "BadDeviceToken") or ours; "" on OK */
	char id[128];           /* PUSH_OK: the provider's message id (FCM name, APNs apns-id) */
} push_result;

typedef void (*push_done_fn)(void *ud, const push_result *r);

/* One entry of custom data; sent as a JSON string value. */
typedef struct push_kv {
	const char *key;
	const char *value;
} push_kv;

/* "ok", "retry", "dead_token" or "failed" (for logs). */
static inline const char *push_outcome_name(push_outcome o)
{
	switch (o) {
	case PUSH_OK:
		return "ok";
	case PUSH_RETRY:
		return "retry";
	case PUSH_DEAD_TOKEN:
		return "dead_token";
	case PUSH_FAILED:
		return "failed";
	}
	return "unknown";
}

/* Longest Retry-After we pass on: a provider asking for more is capped. */
#define PUSH_RETRY_AFTER_MAX_MS (24 * 3600 * 1000LL)

/*
 * Retry-After (RFC 9110 §10.2.3) in ms from now_ms: delay-seconds or an
 * IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"). 0 for NULL, malformed
 * values and dates in the past; at most PUSH_RETRY_AFTER_MAX_MS. Inline here
 * because both providers need it and neither should depend on the other.
 */
static inline int64_t push_retry_after_ms(const char *v, int64_t now_ms)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int day, year, hh, mm, ss, used = 0;
	char mon[4];
	const char *m;
	int64_t secs = 0, y, era, yoe, doy, doe, days, mo;

	if (!v)
		return 0;
	if (*v >= '0' && *v <= '9') {
		for (; *v >= '0' && *v <= '9'; v++)
			if ((secs = secs * 10 + (*v - '0')) > PUSH_RETRY_AFTER_MAX_MS / 1000)
				return PUSH_RETRY_AFTER_MAX_MS;
		return *v ? 0 : secs * 1000;
	}
	if (strlen(v) != 29 || v[3] != ',' ||
	    sscanf(v + 4, " %2d %3s %4d %2d:%2d:%2d GMT%n", &day, mon, &year, &hh, &mm, &ss, &used) != 6 ||
	    used != 25 || strlen(mon) != 3 || !(m = strstr(months, mon)) || (m - months) % 3 != 0 || day < 1 ||
	    day > 31 || hh > 23 || mm > 59 || ss > 60)
		return 0;
	/* days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil) */
	mo = (m - months) / 3 + 1;
	y = year - (mo <= 2);
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	days = era * 146097 + doe - 719468;
	secs = days * 86400 + hh * 3600 + mm * 60 + ss;
	if (secs * 1000 <= now_ms)
		return 0;
	return secs * 1000 - now_ms > PUSH_RETRY_AFTER_MAX_MS ? PUSH_RETRY_AFTER_MAX_MS : secs * 1000 - now_ms;
}

#endif
