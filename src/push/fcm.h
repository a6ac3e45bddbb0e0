/*
 * fcm.h — Firebase Cloud Messaging, HTTP v1 API: one notification to one
 * device token, answered with a provider-neutral push_result.
 *
 * What it owns: the service account (its RSA key, parsed once), the OAuth2
 * access token (an RS256 JWT assertion exchanged at the key's token_uri,
 * cached until a minute before it expires, one exchange at a time shared by
 * every send that waits for it), building the request body within FCM's
 * 4096-byte limit, and mapping FCM's answers to push outcomes.
 * What it must never do: retry or queue for later (the durable queue does,
 * from PUSH_RETRY and retry_after_ms), block the loop, log or return the
 * private key or the access token, or call done from inside fcm_send.
 *
 * Requests go through its own hclient (HTTP/2 when the TLS server offers
 * it). Everything runs on the loop's thread.
 *
 * Mapping of FCM's answers (error.details[].errorCode, else the HTTP status):
 *   200 {"name"}                      → PUSH_OK, id = name
 *   404, UNREGISTERED                 → PUSH_DEAD_TOKEN
 *   403 SENDER_ID_MISMATCH            → PUSH_DEAD_TOKEN (note: a service
 *       account of the wrong project makes every token look like this)
 *   400 INVALID_ARGUMENT              → PUSH_FAILED, except when a
 *       google.rpc.BadRequest field violation names "message.token" (a
 *       malformed token): PUSH_DEAD_TOKEN
 *   429, QUOTA_EXCEEDED               → PUSH_RETRY, retry_after_ms from Retry-After
 *   500/503 and other 5xx, INTERNAL, UNAVAILABLE → PUSH_RETRY, the same
 *   401 THIRD_PARTY_AUTH_ERROR        → PUSH_FAILED, cached OAuth token dropped
 *   other 401 (our access token refused) → PUSH_RETRY, cached token dropped
 *   other 4xx                         → PUSH_FAILED
 *   no answer (network, timeout)      → PUSH_RETRY; "cancelled" on close
 * The token exchange itself: no answer, 429 or 5xx → PUSH_RETRY for every
 * waiting send; other errors (invalid_grant: revoked key, clock skew) →
 * PUSH_FAILED with reason "oauth: <error>".
 * Decided without a request (done still runs later, from the loop): a token
 * that is empty, longer than FCM_TOKEN_MAX or not printable ASCII →
 * PUSH_DEAD_TOKEN "invalid device token"; a reserved data key →
 * PUSH_FAILED "reserved data key"; a message that does not fit even with an
 * empty body → PUSH_FAILED "payload too large".
 */
#ifndef HERALD_PUSH_FCM_H
#define HERALD_PUSH_FCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "push/push_result.h"

#define FCM_DEFAULT_ENDPOINT  "https://fcm.googleapis.com"
#define FCM_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define FCM_SCOPE             "https://www.googleapis.com/auth/firebase.messaging"
#define FCM_TOKEN_MAX         4096 /* bytes of a device token we pass on */

typedef struct fcm_client fcm_client;

typedef struct fcm_config {
	uv_loop_t *loop;
	/* The service-account key file's contents (JSON with type
	 * "service_account", project_id, private_key (PEM, RSA ≥ 2048 bits),
	 * client_email, token_uri (default FCM_DEFAULT_TOKEN_URI), and
	 * optionally private_key_id, sent as the JWT's kid). Copied. */
	const char *service_account;
	size_t service_account_len; /* 0: strlen */
	const char *endpoint;       /* NULL: FCM_DEFAULT_ENDPOINT; tests point it at a local server */
	int max_concurrent;         /* requests at once; ≤ 0: HCLIENT_DEFAULT_CONCURRENT */
	long timeout_ms;            /* per request; ≤ 0: HCLIENT_DEFAULT_TIMEOUT_MS */
	/* Wall clock in ms since the epoch (JWT iat, token expiry, Retry-After
	 * dates); NULL: htime_now_ms. Tests pin it. */
	int64_t (*clock_ms)(void *ud);
	void *clock_ud;
} fcm_config;

typedef struct fcm_message {
	const char *title;   /* NULL or "": none; no "notification" at all when body is empty too */
	const char *body;    /* cut on a character boundary, with "…", when the request would exceed 4096 bytes */
	const push_kv *data; /* "data": every value a JSON string */
	size_t data_count;
	const char *collapse_key; /* android.collapse_key and apns-collapse-id (when ≤ 64 bytes); NULL or "": none */
	int64_t ttl_s;        /* > 0: android.ttl "<n>s" and apns-expiration now + n; else FCM's default (4 weeks) */
	bool normal_priority; /* android.priority "normal" and apns-priority 5; default "high" and 10 */
	bool has_badge;       /* iOS badge through the apns block */
	int badge;
} fcm_message;

/*
 * Parses the service account and starts an HTTP client on cfg->loop.
 * Returns 0, HERR_FIELD_INVALID (err says which part of the key or config is
 * wrong; never quotes the key), HERR_NOMEM or HERR_INTERNAL.
 */
int fcm_client_new(const fcm_config *cfg, fcm_client **out, char *err, size_t err_size);

/*
 * Sends m to device_token (everything is copied). On 0, done is called
 * exactly once, later, on the loop. On a negative HERR_* (NULL arguments:
 * HERR_FIELD_INVALID; closing: HERR_SHUTTING_DOWN; HERR_NOMEM) it is never
 * called. May be called from a done callback.
 */
int fcm_send(fcm_client *c, const char *device_token, const fcm_message *m, push_done_fn done, void *ud);

/* Sends not yet answered (waiting for a token, running or about to report). */
size_t fcm_pending(const fcm_client *c);

/*
 * Finishes every pending send before returning — requests in flight and
 * sends waiting for a token with PUSH_RETRY "cancelled", results already
 * decided as they are — then frees the client once its handles are closed
 * and calls closed(ud) (may be NULL) from the loop. May be called from a
 * done callback; the client must not be used afterwards.
 */
void fcm_client_close(fcm_client *c, void (*closed)(void *ud), void *ud);

#endif
