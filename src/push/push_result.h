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

#endif
