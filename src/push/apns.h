/*
 * apns.h — Apple Push Notification service, provider API over HTTP/2 with
 * token-based authentication: one notification to one device token,
 * answered with a provider-neutral push_result.
 *
 * What it owns: the .p8 signing key (EC P-256, parsed once), the provider
 * token (JWT ES256, header {alg, kid}, claims {iss: team id, iat}) reused
 * for APNS_TOKEN_REFRESH_S and replaced at once after a 403
 * ExpiredProviderToken or InvalidProviderToken, the request headers and
 * body within the 4096-byte limit, and mapping APNs' answers to outcomes.
 * What it must never do: retry for later (the durable queue does), block the
 * loop, log the key or the token, or call done from inside apns_send. The
 * one internal resend: after ExpiredProviderToken, once, with a fresh token.
 *
 * Requests go through its own hclient; libcurl negotiates HTTP/2 over TLS
 * (ALPN), which APNs requires. Everything runs on the loop's thread.
 *
 * Mapping ({"reason"} of the answer, else the status):
 *   200                                  → PUSH_OK, id = apns-id header
 *   410 (Unregistered, ExpiredToken), 400 BadDeviceToken,
 *   400 DeviceTokenNotForTopic           → PUSH_DEAD_TOKEN
 *   403 ExpiredProviderToken             → resent once with a new token; a
 *                                          second one → PUSH_FAILED
 *   403 InvalidProviderToken             → PUSH_FAILED (token replaced for
 *                                          the next send)
 *   413 PayloadTooLarge, other 4xx       → PUSH_FAILED
 *   429 (TooManyRequests, TooManyProviderTokenUpdates), 500, 503, other 5xx
 *                                        → PUSH_RETRY, retry_after_ms from Retry-After
 *   no answer (network, timeout)         → PUSH_RETRY; "cancelled" on close
 * Decided without a request (done still runs later, from the loop): a
 * device token that is not hex of even length 64–200 → PUSH_DEAD_TOKEN
 * "invalid device token"; a collapse id over 64 bytes or with control
 * characters, a data key "aps" or empty → PUSH_FAILED; a payload over 4096
 * bytes even with an empty body → PUSH_FAILED "payload too large".
 */
#ifndef HERALD_PUSH_APNS_H
#define HERALD_PUSH_APNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "push/push_result.h"

#define APNS_DEFAULT_ENDPOINT "https://api.push.apple.com"
#define APNS_SANDBOX_ENDPOINT "https://api.sandbox.push.apple.com"
#define APNS_TOKEN_REFRESH_S  (40 * 60) /* Apple: not more often than 20 min, at least every 60 */
#define APNS_COLLAPSE_ID_MAX  64
#define APNS_DEVICE_TOKEN_MIN 64  /* hex digits */
#define APNS_DEVICE_TOKEN_MAX 200 /* hex digits */

typedef struct apns_client apns_client;

typedef struct apns_config {
	uv_loop_t *loop;
	const char *team_id;  /* iss of the provider token: 10 letters/digits */
	const char *key_id;   /* kid: the key's 10-character id */
	const char *key_pem;  /* the .p8 file's contents: PKCS#8 PEM, EC P-256; copied into the key object */
	size_t key_pem_len;   /* 0: strlen */
	const char *topic;    /* apns-topic: the app's bundle id */
	const char *endpoint; /* NULL: APNS_DEFAULT_ENDPOINT; tests point it at a local server */
	int max_concurrent;   /* requests at once; ≤ 0: HCLIENT_DEFAULT_CONCURRENT */
	long timeout_ms;      /* per request; ≤ 0: HCLIENT_DEFAULT_TIMEOUT_MS */
	/* Wall clock in ms since the epoch (iat, token age, Retry-After dates);
	 * NULL: htime_now_ms. Tests pin it. */
	int64_t (*clock_ms)(void *ud);
	void *clock_ud;
} apns_config;

typedef enum { APNS_PUSH_ALERT = 0, APNS_PUSH_BACKGROUND } apns_push_type;

typedef struct apns_message {
	apns_push_type type; /* alert: aps.alert, sound, badge; background: aps.content-available only */
	const char *title;   /* NULL or "": none */
	const char *body;    /* cut on a character boundary, with "…", to fit 4096 bytes */
	bool has_badge;
	int badge;
	const char *sound;   /* NULL: "default"; "": none */
	const push_kv *data; /* custom keys beside "aps", every value a JSON string */
	size_t data_count;
	int priority;            /* apns-priority: 10 (0 means 10), 5 or 1; background always 5 */
	int64_t expiration;      /* apns-expiration, epoch seconds; 0: deliver once, not stored */
	const char *collapse_id; /* apns-collapse-id, ≤ 64 bytes; NULL or "": none */
} apns_message;

/*
 * Loads the key and starts an HTTP client on cfg->loop. Returns 0,
 * HERR_FIELD_INVALID (err says which setting is wrong, never quoting the
 * key), HERR_NOMEM or HERR_INTERNAL.
 */
int apns_client_new(const apns_config *cfg, apns_client **out, char *err, size_t err_size);

/*
 * Sends m to the device (hex token; everything is copied). On 0, done is
 * called exactly once, later, on the loop. On a negative HERR_* (NULL
 * arguments: HERR_FIELD_INVALID; closing: HERR_SHUTTING_DOWN; HERR_NOMEM)
 * it is never called. May be called from a done callback.
 */
int apns_send(apns_client *c, const char *device_token_hex, const apns_message *m, push_done_fn done, void *ud);

/* Sends not yet answered. */
size_t apns_pending(const apns_client *c);

/*
 * Finishes every pending send before returning (requests in flight with
 * PUSH_RETRY "cancelled", results already decided as they are), then frees
 * the client once its handles are closed and calls closed(ud) (may be NULL)
 * from the loop. May be called from a done callback.
 */
void apns_client_close(apns_client *c, void (*closed)(void *ud), void *ud);

#endif
