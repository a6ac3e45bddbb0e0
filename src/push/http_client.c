/*
 * http_client.c — see http_client.h. Owns the libcurl multi handle, one
 * uv_poll_t per socket libcurl asks about, and one uv_timer_t for libcurl's
 * timeouts (the "multi_socket" integration). Must never call
 * curl_multi_socket_action or curl_multi_add_handle from inside a libcurl
 * callback (libcurl forbids re-entry), never block, and never run a caller's
 * done callback from inside libcurl or hclient_send.
 *
 * Requests are easy handles built at send time, so bad arguments fail
 * synchronously; they are added to the multi handle only while fewer than
 * max_concurrent run, the others wait in FIFO order. Freed slots go to the
 * queue before the done callback runs, so a request sent from a callback
 * cannot overtake requests already waiting.
 *
 * Close is the delicate part: libcurl's socket callbacks can fire while
 * handles are removed and the multi handle is cleaned up, and done callbacks
 * can re-enter. So close first marks the client closing (callbacks then
 * ignore libcurl), detaches both lists before running any callback, closes
 * every poll handle itself, and frees the client only from the last libuv
 * close callback — which is always later, since the timer is always open.
 */
#include "push/http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/err.h"

#ifndef HERALD_VERSION
#define HERALD_VERSION "dev"
#endif

/* Response headers kept per request; more are dropped (curl already caps a
 * single header at 100 KiB, but a flood of small ones should not grow us). */
#define HCLIENT_HEADERS_MAX (16u * 1024u)
#define HCLIENT_METHOD_MAX  16

typedef struct hclient_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	hclient *c;
	struct hclient_sock *prev, *next;
} hclient_sock;

typedef struct hclient_xfer {
	hclient *c;
	CURL *easy;
	struct curl_slist *headers;
	hclient_done_fn done;
	void *ud;
	size_t max_response;
	hbuf body;
	hbuf head; /* "name\0value\0" pairs of the last response head */
	bool truncated;
	char errbuf[CURL_ERROR_SIZE];
	struct hclient_xfer *prev, *next; /* running list, or the waiting FIFO (next only) */
} hclient_xfer;

struct hclient {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	int max_concurrent;
	int running;
	size_t waiting;
	hclient_xfer *run;                   /* added to the multi handle */
	hclient_xfer *wait_head, *wait_tail; /* not yet added */
	hclient_sock *socks;
	int handles; /* libuv handles not yet closed (the timer and the polls) */
	bool closing;
	void (*closed)(void *ud);
	void *closed_ud;
};

/* ---- lifetime ------------------------------------------------------------- */

static void hclient_handle_gone(hclient *c)
{
	void (*closed)(void *) = c->closed;
	void *ud = c->closed_ud;

	if (--c->handles > 0 || !c->closing)
		return;
	free(c);
	curl_global_cleanup();
	if (closed)
		closed(ud);
}

static void hclient_on_timer_closed(uv_handle_t *h)
{
	hclient_handle_gone(h->data);
}

static void hclient_on_sock_closed(uv_handle_t *h)
{
	hclient_sock *s = h->data;
	hclient *c = s->c;

	free(s);
	hclient_handle_gone(c);
}

static void hclient_sock_close(hclient *c, hclient_sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	/* uv_close takes the fd out of epoll at once, so libcurl may reuse the
	 * number for a new socket before the close callback runs */
	uv_close((uv_handle_t *)&s->poll, hclient_on_sock_closed);
}

static void hclient_xfer_free(hclient_xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	hbuf_free(&x->body);
	hbuf_free(&x->head);
	free(x);
}

static void hclient_run_unlink(hclient *c, hclient_xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		c->run = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	c->running--;
}

/* ---- responses ------------------------------------------------------------ */

const char *hclient_response_header(const hclient_response *r, const char *name)
{
	const hclient_xfer *x = r ? r->priv_ : NULL;
	const char *p, *end, *found = NULL;

	if (!x || !name || !x->head.data)
		return NULL;
	p = x->head.data;
	end = p + x->head.len;
	while (p < end) {
		const char *value = p + strlen(p) + 1;

		if (strcasecmp(p, name) == 0)
			found = value;
		p = value + strlen(value) + 1;
	}
	return found;
}

/* Calls done once and frees x. forced: an error that is not libcurl's. */
static void hclient_finish(hclient_xfer *x, CURLcode cc, const char *forced)
{
	hclient_response r;

	memset(&r, 0, sizeof r);
	if (forced) {
		r.error = forced;
	} else if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && x->truncated)) {
		/* our own cut of an over-long body is a complete answer, not a failure */
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.status);
		r.truncated = x->truncated;
	} else {
		r.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc);
	}
	r.body = x->body.data ? x->body.data : "";
	r.body_len = x->body.len;
	r.priv_ = x;
	r.retry_after = hclient_response_header(&r, "Retry-After");
	x->done(x->ud, &r);
	hclient_xfer_free(x);
}

static size_t hclient_on_body(char *p, size_t size, size_t n, void *ud)
{
	hclient_xfer *x = ud;
	size_t len = size * n, room = x->max_response - x->body.len;

	if (len > room) {
		if (room > 0 && hbuf_append(&x->body, p, room) != 0)
			return 0;
		/* returning short aborts the transfer: no point downloading what we drop */
		x->truncated = true;
		return 0;
	}
	if (len > 0 && hbuf_append(&x->body, p, len) != 0)
		return 0;
	return len;
}

static bool hclient_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static size_t hclient_on_header(char *p, size_t size, size_t n, void *ud)
{
	hclient_xfer *x = ud;
	size_t total = size * n, len = total, name_len;
	const char *colon, *value;

	/* a status line starts a new head (after 100 Continue, say): keep the last only */
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		hbuf_reset(&x->head);
		return total;
	}
	while (len > 0 && hclient_is_space(p[len - 1]))
		len--;
	colon = memchr(p, ':', len);
	if (!colon || colon == p || hclient_is_space(p[0]))
		return total; /* the blank end line, or obsolete folding: ignored */
	name_len = (size_t)(colon - p);
	value = colon + 1;
	while (value < p + len && hclient_is_space(*value))
		value++;
	if (x->head.len + len + 2 > HCLIENT_HEADERS_MAX)
		return total;
	if (hbuf_append(&x->head, p, name_len) != 0 || hbuf_putc(&x->head, '\0') != 0 ||
	    hbuf_append(&x->head, value, (size_t)(p + len - value)) != 0 || hbuf_putc(&x->head, '\0') != 0)
		return 0;
	return total;
}

/* ---- libcurl ↔ libuv -------------------------------------------------------- */

static int hclient_start(hclient *c, hclient_xfer *x)
{
	if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK)
		return HERR_NOMEM;
	x->prev = NULL;
	x->next = c->run;
	if (c->run)
		c->run->prev = x;
	c->run = x;
	c->running++;
	return 0;
}

static void hclient_start_waiting(hclient *c)
{
	while (!c->closing && c->running < c->max_concurrent && c->wait_head) {
		hclient_xfer *x = c->wait_head;

		c->wait_head = x->next;
		if (!c->wait_head)
			c->wait_tail = NULL;
		c->waiting--;
		x->next = NULL;
		if (hclient_start(c, x) != 0)
			hclient_finish(x, CURLE_OUT_OF_MEMORY, NULL);
	}
}

/* Collects finished transfers. Every done callback may close the client,
 * after which neither the multi handle nor the lists may be touched. */
static void hclient_drain(hclient *c)
{
	CURLMsg *m;
	int left;

	while (!c->closing && (m = curl_multi_info_read(c->multi, &left))) {
		CURL *easy = m->easy_handle;
		CURLcode cc = m->data.result;
		char *priv = NULL;
		hclient_xfer *x;

		if (m->msg != CURLMSG_DONE)
			continue;
		/* m belongs to the handle: read it all before removing */
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		x = (hclient_xfer *)(void *)priv;
		curl_multi_remove_handle(c->multi, easy);
		hclient_run_unlink(c, x);
		hclient_start_waiting(c);
		hclient_finish(x, cc, NULL);
	}
}

static void hclient_on_poll(uv_poll_t *p, int status, int events)
{
	hclient_sock *s = p->data;
	hclient *c = s->c;
	int flags = 0, running;

	if (status < 0) {
		flags = CURL_CSELECT_ERR;
	} else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	/* may close s (CURL_POLL_REMOVE): its memory lives until the close callback */
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	hclient_drain(c);
}

static void hclient_on_timer(uv_timer_t *t)
{
	hclient *c = t->data;
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	hclient_drain(c);
}

static int hclient_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	hclient *c = userp;

	if (c->closing)
		return 0;
	if (timeout_ms < 0) {
		uv_timer_stop(&c->timer);
		return 0;
	}
	/* 0 means "as soon as possible", but a 0 ms libuv timer re-armed from
	 * its own callback can run again in the same pass on older libuv and
	 * starve the loop; 1 ms defers it to the next iteration */
	uv_timer_start(&c->timer, hclient_on_timer, timeout_ms > 0 ? (uint64_t)timeout_ms : 1, 0);
	return 0;
}

static int hclient_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	hclient *c = userp;
	hclient_sock *s = socketp;
	int events = 0;

	/* while closing, close() owns every poll handle and libcurl is only
	 * tidying up sockets we already stopped watching */
	if (c->closing)
		return 0;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(c->multi, fd, NULL);
			hclient_sock_close(c, s);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s)
			return -1;
		if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->fd = fd;
		s->c = c;
		s->poll.data = s;
		s->next = c->socks;
		if (c->socks)
			c->socks->prev = s;
		c->socks = s;
		c->handles++;
		curl_multi_assign(c->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	if (uv_poll_start(&s->poll, events, hclient_on_poll) != 0)
		return -1;
	return 0;
}

/* ---- API ------------------------------------------------------------------ */

int hclient_new(uv_loop_t *loop, int max_concurrent, hclient **out)
{
	hclient *c;

	*out = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return HERR_INTERNAL;
	c = calloc(1, sizeof *c);
	if (!c) {
		curl_global_cleanup();
		return HERR_NOMEM;
	}
	c->multi = curl_multi_init();
	if (!c->multi) {
		free(c);
		curl_global_cleanup();
		return HERR_INTERNAL;
	}
	c->loop = loop;
	c->max_concurrent = max_concurrent > 0 ? max_concurrent : HCLIENT_DEFAULT_CONCURRENT;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, hclient_curl_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, hclient_curl_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->handles = 1;
	*out = c;
	return 0;
}

static bool hclient_method_ok(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n > HCLIENT_METHOD_MAX)
		return false;
	for (; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return false;
	return true;
}

/* Header lines go to the wire as given: CR or LF would let a caller's data
 * (a device token, say) smuggle extra headers or a second request. */
static bool hclient_header_ok(const char *h)
{
	const char *colon = strchr(h, ':');

	return colon && colon != h && !strpbrk(h, "\r\n");
}

#define HCLIENT_SET(opt, val)                                                                                          \
	do {                                                                                                           \
		if (curl_easy_setopt(e, opt, val) != CURLE_OK)                                                         \
			bad = true;                                                                                    \
	} while (0)

/* Whether an address is one a tenant-supplied URL must not reach. */
static bool hclient_address_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 || (a >> 16) == 0xA9FE || /* 169.254/16 */
		       (a >> 20) == 0xAC1 ||                                                           /* 172.16/12 */
		       (a >> 16) == 0xC0A8 ||                                                          /* 192.168/16 */
		       (a >> 22) == (0x64400000u >> 22) ||                                             /* 100.64/10 */
		       (a >> 28) >= 0xE; /* multicast, reserved */
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const uint8_t loop[16] = {[15] = 1}, any[16] = {0};
		if (memcmp(b, loop, 16) == 0 || memcmp(b, any, 16) == 0 || (b[0] & 0xFE) == 0xFC || /* fc00::/7 */
		    (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) || b[0] == 0xFF) /* fe80::/10, ff00::/8 */
			return true;
		static const uint8_t mapped[12] = {[10] = 0xFF, [11] = 0xFF};
		if (memcmp(b, mapped, 12) == 0) {
			struct sockaddr_in v4 = {.sin_family = AF_INET};
			memcpy(&v4.sin_addr, b + 12, 4);
			return hclient_address_private((const struct sockaddr *)&v4);
		}
		return false;
	}
	return true;
}

static curl_socket_t hclient_open_public(void *ud, curlsocktype purpose, struct curl_sockaddr *address)
{
	(void)ud;
	(void)purpose;
	if (hclient_address_private(&address->addr))
		return CURL_SOCKET_BAD; /* reported as "couldn't connect" */
	return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* Builds the easy handle of x from req; HERR_FIELD_INVALID or HERR_NOMEM. */
static int hclient_prepare(hclient_xfer *x, const hclient_request *req)
{
	const char *method = req->method ? req->method : "POST";
	bool expect = false, bad = false;
	CURL *e;

	if (!req->url || !*req->url || !hclient_method_ok(method) || (req->body_len > 0 && !req->body) ||
	    (req->body_len > 0 && strcmp(method, "HEAD") == 0))
		return HERR_FIELD_INVALID;
	for (const char *const *h = req->headers; h && *h; h++) {
		struct curl_slist *next;

		if (!hclient_header_ok(*h))
			return HERR_FIELD_INVALID;
		expect = expect || strncasecmp(*h, "Expect:", 7) == 0;
		if (!(next = curl_slist_append(x->headers, *h)))
			return HERR_NOMEM;
		x->headers = next;
	}
	if (!expect) {
		/* no "Expect: 100-continue" for large bodies: gateways that ignore
		 * it would cost us a second of libcurl's waiting per request */
		struct curl_slist *next = curl_slist_append(x->headers, "Expect:");

		if (!next)
			return HERR_NOMEM;
		x->headers = next;
	}
	if (!(x->easy = e = curl_easy_init()))
		return HERR_NOMEM;
	HCLIENT_SET(CURLOPT_PRIVATE, (void *)x);
	HCLIENT_SET(CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	HCLIENT_SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	HCLIENT_SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	HCLIENT_SET(CURLOPT_NOSIGNAL, 1L);
	if (req->public_only) {
		HCLIENT_SET(CURLOPT_OPENSOCKETFUNCTION, hclient_open_public);
		HCLIENT_SET(CURLOPT_FOLLOWLOCATION, 0L);
	}
	HCLIENT_SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	HCLIENT_SET(CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : (long)HCLIENT_DEFAULT_TIMEOUT_MS);
	HCLIENT_SET(CURLOPT_USERAGENT, "herald/" HERALD_VERSION);
	HCLIENT_SET(CURLOPT_HTTPHEADER, x->headers);
	HCLIENT_SET(CURLOPT_ERRORBUFFER, x->errbuf);
	HCLIENT_SET(CURLOPT_WRITEFUNCTION, hclient_on_body);
	HCLIENT_SET(CURLOPT_WRITEDATA, (void *)x);
	HCLIENT_SET(CURLOPT_HEADERFUNCTION, hclient_on_header);
	HCLIENT_SET(CURLOPT_HEADERDATA, (void *)x);
	if (req->body_len > 0 || strcmp(method, "POST") == 0) {
		HCLIENT_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		if (req->body_len > 0)
			HCLIENT_SET(CURLOPT_COPYPOSTFIELDS, (const char *)req->body);
		else
			HCLIENT_SET(CURLOPT_POSTFIELDS, "");
		if (strcmp(method, "POST") != 0)
			HCLIENT_SET(CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "HEAD") == 0) {
		HCLIENT_SET(CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") == 0) {
		HCLIENT_SET(CURLOPT_HTTPGET, 1L);
	} else {
		HCLIENT_SET(CURLOPT_CUSTOMREQUEST, method);
	}
	return bad ? HERR_NOMEM : 0;
}

int hclient_send(hclient *c, const hclient_request *req, hclient_done_fn done, void *ud)
{
	hclient_xfer *x;
	int rc;

	if (!c || !req || !done)
		return HERR_FIELD_INVALID;
	if (c->closing)
		return HERR_SHUTTING_DOWN;
	if (!(x = calloc(1, sizeof *x)))
		return HERR_NOMEM;
	x->c = c;
	x->done = done;
	x->ud = ud;
	x->max_response = req->max_response > 0 ? req->max_response : HCLIENT_DEFAULT_MAX_RESPONSE;
	if ((rc = hclient_prepare(x, req)) != 0) {
		hclient_xfer_free(x);
		return rc;
	}
	if (c->wait_head || c->running >= c->max_concurrent) {
		if (c->wait_tail)
			c->wait_tail->next = x;
		else
			c->wait_head = x;
		c->wait_tail = x;
		c->waiting++;
		return 0;
	}
	if ((rc = hclient_start(c, x)) != 0)
		hclient_xfer_free(x);
	return rc;
}

size_t hclient_pending(const hclient *c)
{
	return (size_t)c->running + c->waiting;
}

void hclient_close(hclient *c, void (*closed)(void *ud), void *ud)
{
	hclient_xfer *run, *wait, *x;

	if (!c || c->closing)
		return;
	c->closing = true;
	c->closed = closed;
	c->closed_ud = ud;
	run = c->run;
	wait = c->wait_head;
	c->run = c->wait_head = c->wait_tail = NULL;
	c->running = 0;
	c->waiting = 0;

	/* done callbacks below may send (refused) or close (ignored), nothing more */
	while ((x = run)) {
		run = x->next;
		curl_multi_remove_handle(c->multi, x->easy);
		hclient_finish(x, CURLE_OK, "cancelled");
	}
	while ((x = wait)) {
		wait = x->next;
		hclient_finish(x, CURLE_OK, "cancelled");
	}
	while (c->socks)
		hclient_sock_close(c, c->socks);
	/* closes the cached connections; its socket callbacks are ignored */
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	uv_close((uv_handle_t *)&c->timer, hclient_on_timer_closed);
}
