/*
 * http_client.h — asynchronous outgoing HTTP on the libuv loop (libcurl's
 * multi interface), for push gateways and other providers.
 *
 * What it owns: running requests concurrently without ever blocking the loop,
 * a bound on how many run at once (the rest wait in FIFO order), per-request
 * timeouts, a cap on response size, and cancelling everything on close.
 * What it must never do: call back from inside libcurl or from inside
 * hclient_send (callers may hold locks or half-built state), retry, follow
 * redirects, or speak anything but http:// and https://.
 *
 * HTTP/2 is whatever libcurl negotiates over TLS (ALPN); cleartext stays
 * HTTP/1.1. Connections are kept and reused between requests of one client.
 * Everything runs on the loop's thread: every function here must be called
 * from it.
 */
#ifndef HERALD_PUSH_HTTP_CLIENT_H
#define HERALD_PUSH_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define HCLIENT_DEFAULT_CONCURRENT   16
#define HCLIENT_DEFAULT_TIMEOUT_MS   10000
#define HCLIENT_DEFAULT_MAX_RESPONSE (64u * 1024u)

typedef struct hclient hclient;

typedef struct hclient_request {
	const char *method; /* "POST" when NULL; upper-case letters only */
	const char *url;    /* http:// or https:// */
	/* NULL or NULL-terminated "Name: value" lines without CR/LF, sent as
	 * given. libcurl's conventions apply: "Name:" with nothing after the
	 * colon removes a header libcurl would add. Set Content-Type for bodies
	 * (libcurl's default is application/x-www-form-urlencoded). */
	const char *const *headers;
	const void *body; /* sent when body_len > 0 (any method but HEAD) */
	size_t body_len;
	long timeout_ms;     /* from the start of the run (waiting in the queue does not count) to the last
	                      * byte, connect included; ≤ 0: HCLIENT_DEFAULT_TIMEOUT_MS */
	size_t max_response; /* body bytes kept; 0: HCLIENT_DEFAULT_MAX_RESPONSE. More is cut (see truncated) */
	/* Refuse to connect to loopback, private, link-local and other
	 * non-public addresses (checked on the resolved address, so DNS
	 * cannot smuggle them in): for URLs a tenant supplies (webhooks). */
	bool public_only;
} hclient_request;

/* Valid only during the done callback: copy what you keep. */
typedef struct hclient_response {
	long status;             /* HTTP status; 0 when no complete answer arrived (then error is set) */
	const char *body;        /* NUL-terminated for convenience; body_len excludes the NUL */
	size_t body_len;         /* at most max_response */
	int truncated;           /* 1 when the answer was longer than max_response (not an error) */
	const char *error;       /* NULL on success; libcurl's error text, or "cancelled" after hclient_close */
	const char *retry_after; /* Retry-After header value or NULL */
	const void *priv_;       /* private, for hclient_response_header */
} hclient_response;

typedef void (*hclient_done_fn)(void *ud, const hclient_response *res);

/* A client whose requests run on loop, at most max_concurrent at once
 * (≤ 0 takes HCLIENT_DEFAULT_CONCURRENT). Returns 0, HERR_NOMEM or
 * HERR_INTERNAL (libcurl could not start). */
int hclient_new(uv_loop_t *loop, int max_concurrent, hclient **out);

/*
 * Starts or queues a request; everything in req is copied. On 0, done is
 * called exactly once, later, on the loop — with an answer, an error
 * (status 0), or "cancelled" by hclient_close. On a negative HERR_* (bad
 * arguments: HERR_FIELD_INVALID; closing: HERR_SHUTTING_DOWN; HERR_NOMEM)
 * done is never called. May be called from a done callback.
 */
int hclient_send(hclient *c, const hclient_request *req, hclient_done_fn done, void *ud);

/* Value of a response header (name in any case; the last one when repeated),
 * or NULL. Same lifetime as the response. */
const char *hclient_response_header(const hclient_response *r, const char *name);

/* Requests running plus waiting. */
size_t hclient_pending(const hclient *c);

/*
 * Cancels every request — their done callbacks run before this returns, with
 * error "cancelled" — and frees the client once its libuv handles are closed,
 * then calls closed(ud) (may be NULL) from the loop. May be called from a
 * done callback; the client must not be used afterwards.
 */
void hclient_close(hclient *c, void (*closed)(void *ud), void *ud);

#endif
