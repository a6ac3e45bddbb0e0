/*
 * provider.h — what the native push providers (fcm.c, apns.c) share.
 *
 * Both clients are built the same way: an async HTTP client (hclient) for
 * the requests and a zero-delay timer through which every result decided
 * locally (bad input, shutdown, out of memory) is reported, so a send never
 * calls its done callback before it has returned. push_core is that shared
 * part: the deferred-result queue, the count of sends in flight, and the
 * two-handle close (the client is freed when both the hclient and the timer
 * have closed). A provider embeds a push_core first in its client and a
 * push_deferred in each send context, and gives push_core_init a function
 * that finishes a send (frees its context, calls its done callback) and one
 * that frees the client.
 *
 * Also here: small encoders both need (base64url into a buffer, a JSON
 * writer that remembers its first error) and the outcome of a request the
 * HTTP client refused to start.
 */
#ifndef HERALD_PUSH_PROVIDER_H
#define HERALD_PUSH_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "push/http_client.h"
#include "push/push_result.h"

/* A send context's place in the deferred-result queue. */
typedef struct push_deferred {
	push_result res;
	struct push_deferred *next;
} push_deferred;

typedef struct push_core push_core;

struct push_core {
	hclient *http;
	uv_timer_t defer;
	push_deferred *ready_head, *ready_tail;
	size_t pending; /* sends accepted and not yet finished */
	bool closing;
	int handles; /* the defer timer and the hclient */
	int64_t (*clock_ms)(void *ud);
	void *clock_ud;
	void (*finish)(push_deferred *d, const push_result *r); /* frees the send, calls its done */
	void (*free_client)(push_core *core);                   /* after both handles closed */
	void (*closed)(void *ud);
	void *closed_ud;
};

/* Starts the hclient and the timer. On failure nothing is left to close. */
int push_core_init(push_core *core, uv_loop_t *loop, int max_concurrent, int64_t (*clock_ms)(void *ud), void *clock_ud,
                   void (*finish)(push_deferred *d, const push_result *r), void (*free_client)(push_core *core));
/* Now in milliseconds (the injected clock of tests, or the real one). */
int64_t push_core_now(const push_core *core);
/* Reports r for a send on the next loop turn. */
void push_core_defer(push_core *core, push_deferred *d, const push_result *r);
void push_core_defer_local(push_core *core, push_deferred *d, push_outcome o, const char *reason);
/* Cancels every request (their sends finish with PUSH_RETRY "cancelled"),
 * reports what is queued, closes both handles; free_client runs when they
 * are closed, then closed(ud). */
void push_core_close(push_core *core, void (*closed)(void *ud), void *ud);

/* A result decided locally: outcome and reason, nothing from a provider. */
void push_result_local(push_result *r, push_outcome o, const char *reason);
/* What a refusal to start a request (hclient_send, signing) means. */
void push_result_from_rc(push_result *r, int rc);
/* Copies msg into err when there is room for a message. */
void push_set_err(char *err, size_t err_size, const char *msg);
/* 1..max bytes of printable ASCII without spaces: what a header value of ours may hold. */
bool push_visible(const char *s, size_t max);
/* PEM password callback: an encrypted key is refused, never prompted for. */
int push_pem_no_password(char *buf, int size, int rwflag, void *u);
/* Appends the base64url (no padding) of p[0..n). */
int push_b64url_append(hbuf *b, const void *p, size_t n);

/* A JSON writer that keeps its first error (so a payload is built in a
 * straight line and checked once). */
typedef struct push_json {
	hbuf *b;
	int rc;
} push_json;

void push_json_put(push_json *j, const char *raw);
void push_json_str(push_json *j, const char *s, size_t n);

#endif
