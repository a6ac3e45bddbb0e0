/*
 * test_ws.c — the WebSocket transport over real sockets on 127.0.0.1.
 *
 * An http_server runs its uv loop on a second thread and hands /ws to
 * ws_accept; the test thread is a blocking-socket WebSocket client that
 * builds frames byte by byte and asserts on the frames it gets back. The
 * loop thread never asserts: it records what it saw in atomics, and
 * commands (shutdown) reach it through a uv_async_t. What the server does
 * with a text message depends on its prefix (see on_text).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "net/http.h"
#include "net/ws.h"

#define CMD_SHUTDOWN 1
#define MAX_CONNS    16
#define FLOOD_MSG    (16u * 1024u)
#define FLOOD_LIMIT  100000
#define SAMPLE_KEY   "dGhlIHNhbXBsZSBub25jZQ=="

typedef struct harness {
	uv_loop_t loop;
	uv_async_t async;
	http_server *srv;
	pthread_t thread;
	int port;
	ws_options wopt;
	atomic_int cmd;
	atomic_int drained;
	atomic_int accepted;
	atomic_int closed;
	atomic_int last_close_code;
	atomic_int texts;
	atomic_int broadcasts;
	atomic_int flood_sent;
	atomic_int flood_done;
	atomic_int flood_max_queued_ok; /* the queue never passed its limit */
	atomic_int userdata_ok;
	ws_conn *conns[MAX_CONNS]; /* loop thread only */
} harness;

static const char *const subprotocols[] = {"herald.v1", NULL};

/* ---- loop thread ---------------------------------------------------------- */

static void conn_add(harness *h, ws_conn *c)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		if (!h->conns[i]) {
			h->conns[i] = c;
			return;
		}
	}
}

static void conn_remove(harness *h, ws_conn *c)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (h->conns[i] == c)
			h->conns[i] = NULL;
}

static void flood(harness *h, ws_conn *c)
{
	char *big = malloc(FLOOD_MSG);
	int sent = 0, ok = 1;

	memset(big, 'f', FLOOD_MSG);
	while (sent < FLOOD_LIMIT && ws_send_text(c, big, FLOOD_MSG) == 0) {
		if (ws_queued_bytes(c) > h->wopt.max_queue_bytes)
			ok = 0;
		sent++;
	}
	free(big);
	atomic_store(&h->flood_max_queued_ok, ok);
	atomic_store(&h->flood_sent, sent);
	atomic_store(&h->flood_done, 1);
}

/*
 * Many frames in one loop turn, by both paths: shared frames (ws_send,
 * written at the end of the turn) and one-off texts (ws_send_text, which
 * queue behind them), then one shared frame larger than the queue limit.
 * The client must get them all, in this order, and stay connected.
 */
#define BURST_FRAMES 200

static void burst(harness *h, ws_conn *c)
{
	size_t big_len = h->wopt.max_queue_bytes + 4096;
	char *big = malloc(big_len);
	char text[32];
	ws_msg *m;
	int ok = 1;

	for (int i = 0; i < BURST_FRAMES; i++) {
		int n = snprintf(text, sizeof text, "b%d", i);

		if (i % 3 == 0) {
			ok &= ws_send_text(c, text, (size_t)n) == 0;
		} else {
			m = ws_msg_text(text, (size_t)n);
			ok &= ws_send(c, m) == 0;
			ws_msg_unref(m);
		}
	}
	memset(big, 'z', big_len);
	m = ws_msg_text(big, big_len);
	ok &= ws_send(c, m) == 0;
	ws_msg_unref(m);
	free(big);
	atomic_store(&h->flood_max_queued_ok, ok);
	atomic_store(&h->flood_done, 1);
}

static void on_text(ws_conn *c, const char *data, size_t len, void *ud)
{
	harness *h = ud;

	atomic_fetch_add(&h->texts, 1);
	if (ws_get_userdata(c) == h)
		atomic_store(&h->userdata_ok, 1);
	if (len >= 10 && memcmp(data, "broadcast:", 10) == 0) {
		/* encoded once, written to every connection by reference */
		ws_msg *m = ws_msg_text(data + 10, len - 10);

		for (int i = 0; i < MAX_CONNS; i++)
			if (h->conns[i] && ws_send(h->conns[i], m) == 0)
				atomic_fetch_add(&h->broadcasts, 1);
		ws_msg_unref(m);
	} else if (len == 5 && memcmp(data, "flood", 5) == 0) {
		flood(h, c);
	} else if (len == 8 && memcmp(data, "close-me", 8) == 0) {
		ws_close(c, 4000, "bye");
		/* closing: further sends fail */
		if (ws_send_text(c, "late", 4) != HERR_IO)
			atomic_store(&h->userdata_ok, -1);
	} else if (len > 4 && memcmp(data, "big:", 4) == 0) {
		char num[24] = {0}; /* data is not NUL-terminated */
		size_t n;
		char *b;

		memcpy(num, data + 4, len - 4 < sizeof num - 1 ? len - 4 : sizeof num - 1);
		n = strtoul(num, NULL, 10);
		b = malloc(n);

		memset(b, 'b', n);
		ws_send_text(c, b, n);
		free(b);
	} else if (len == 5 && memcmp(data, "burst", 5) == 0) {
		burst(h, c);
	} else if (len == 5 && memcmp(data, "proto", 5) == 0) {
		const char *p = ws_subprotocol(c);

		ws_send_text(c, p ? p : "-", p ? strlen(p) : 1);
	} else {
		ws_send_text(c, data, len); /* echo */
	}
}

static void on_close(ws_conn *c, int code, void *ud)
{
	harness *h = ud;

	conn_remove(h, c);
	atomic_store(&h->last_close_code, code);
	atomic_fetch_add(&h->closed, 1);
}

static const ws_callbacks callbacks = {on_text, on_close};

static void on_request(http_request *req, void *ud)
{
	static const char *const version_header[] = {WS_VERSION_HEADER, NULL};
	harness *h = ud;
	ws_conn *c = NULL;
	int rc, status;

	if (req->error || strcmp(req->path, "/ws") != 0) {
		http_respond(req, req->error ? 400 : 404, "text/plain", "no", 2, NULL);
		return;
	}
	rc = ws_accept(req, &h->wopt, &callbacks, h, &c);
	if (rc == 0) {
		conn_add(h, c);
		atomic_fetch_add(&h->accepted, 1);
		return;
	}
	if (rc == HERR_IO)
		return; /* the peer is gone, req is ended */
	status = rc == HERR_BAD_REQUEST ? ws_handshake_status(req) : 500;
	if (status == 426)
		http_respond(req, 426, "text/plain", "upgrade required", 16, version_header);
	else
		http_respond(req, status, "text/plain", "bad handshake", 13, NULL);
}

static void on_drained(void *ud)
{
	harness *h = ud;

	atomic_store(&h->drained, 1);
	uv_close((uv_handle_t *)&h->async, NULL);
}

static void on_command(uv_async_t *a)
{
	harness *h = a->data;
	int cmd = atomic_exchange(&h->cmd, 0);

	if (cmd & CMD_SHUTDOWN) {
		/* upgraded connections hold up on_drained until they close */
		for (int i = 0; i < MAX_CONNS; i++)
			if (h->conns[i])
				ws_close(h->conns[i], WS_CLOSE_GOING_AWAY, "shutdown");
		http_server_shutdown(h->srv, on_drained, h);
	}
}

static void *loop_thread(void *arg)
{
	harness *h = arg;

	uv_run(&h->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* ---- setup ---------------------------------------------------------------- */

static int harness_start(void **state, const ws_options *wo)
{
	harness *h = calloc(1, sizeof *h);
	char err[128];

	if (!h || uv_loop_init(&h->loop) != 0)
		return -1;
	h->wopt = *wo;
	h->srv = http_server_new(&h->loop, NULL, on_request, NULL, h);
	if (!h->srv || http_server_listen(h->srv, "127.0.0.1", 0, err, sizeof err) != 0)
		return -1;
	h->port = http_server_port(h->srv);
	if (h->port <= 0 || uv_async_init(&h->loop, &h->async, on_command) != 0)
		return -1;
	h->async.data = h;
	if (pthread_create(&h->thread, NULL, loop_thread, h) != 0)
		return -1;
	*state = h;
	return 0;
}

static int setup_default(void **state)
{
	ws_options o;

	ws_options_default(&o);
	o.max_message = 256u * 1024u; /* room for 64-bit lengths */
	o.max_queue_bytes = 256u * 1024u;
	o.close_timeout_ms = 3000;
	o.subprotocols = subprotocols;
	return harness_start(state, &o);
}

/* Pings every 50 ms, idle after 1 s: a client answering pings outlives the
 * idle timeout, and a busy machine may hold the test's thread back for
 * most of a second without the server giving up on it. */
static int setup_ping_timeouts(void **state)
{
	ws_options o;

	memset(&o, 0, sizeof o);
	o.ping_interval_ms = 50;
	o.idle_timeout_ms = 1000;
	o.close_timeout_ms = 300;
	return harness_start(state, &o);
}

static int setup_tiny_timeouts(void **state)
{
	ws_options o;

	memset(&o, 0, sizeof o); /* zero fields take the defaults */
	o.ping_interval_ms = 50;
	o.idle_timeout_ms = 250;
	o.close_timeout_ms = 300;
	return harness_start(state, &o);
}

static int setup_short_close(void **state)
{
	ws_options o;

	memset(&o, 0, sizeof o);
	o.close_timeout_ms = 300;
	return harness_start(state, &o);
}

static int teardown(void **state)
{
	harness *h = *state;
	int rc;

	atomic_fetch_or(&h->cmd, CMD_SHUTDOWN);
	uv_async_send(&h->async);
	pthread_join(h->thread, NULL);
	assert_int_equal(atomic_load(&h->drained), 1);
	/* on_close came exactly once for every accepted connection */
	assert_int_equal(atomic_load(&h->closed), atomic_load(&h->accepted));
	http_server_free(h->srv);
	rc = uv_loop_close(&h->loop); /* every handle was closed */
	free(h);
	assert_int_equal(rc, 0);
	return 0;
}

/* ---- client --------------------------------------------------------------- */

typedef struct wsc {
	int fd;
	unsigned char *buf;
	size_t len, cap;
	size_t used; /* bytes of the last frame returned, dropped on the next read */
	char head[2048];
	int status;
} wsc;

typedef struct frame {
	int op;
	unsigned char *data;
	size_t len;
} frame;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static bool wait_for(atomic_int *v, int want, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (atomic_load(v) < want) {
		if (now_ms() > end)
			return false;
		sleep_ms(2);
	}
	return true;
}

static void wsc_open(wsc *c, int port, int rcvbuf)
{
	struct sockaddr_in a;
	struct timeval tv = {5, 0};

	memset(c, 0, sizeof *c);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	if (rcvbuf)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
	c->cap = 1024u * 1024u;
	c->buf = malloc(c->cap);
	assert_non_null(c->buf);
}

static void wsc_close(wsc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

static void wsc_send(wsc *c, const void *p, size_t n)
{
	const char *s = p;

	while (n) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);

		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

/* >0 read, 0 EOF, -1 error or timeout */
static ssize_t wsc_fill(wsc *c)
{
	ssize_t n;

	if (c->len == c->cap)
		return -1;
	n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	if (n > 0)
		c->len += (size_t)n;
	return n < 0 ? -1 : n;
}

/* Sends the request (and whatever follows it), reads the response head;
 * frames after it stay buffered. Returns the status. */
static int wsc_request_raw(wsc *c, const void *request, size_t len)
{
	unsigned char *end;
	size_t n;

	wsc_send(c, request, len);
	while (!(end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL))
		if (wsc_fill(c) <= 0)
			return -1;
	n = (size_t)(end - c->buf) + 4;
	assert_true(n < sizeof c->head);
	memcpy(c->head, c->buf, n);
	c->head[n] = '\0';
	c->status = atoi(c->head + 9);
	/* a refusal's body is not a frame */
	if (c->status != 101) {
		c->len = 0;
		return c->status;
	}
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	return c->status;
}

static int wsc_request(wsc *c, const char *request)
{
	return wsc_request_raw(c, request, strlen(request));
}

static char *handshake(char *out, size_t size, const char *extra)
{
	snprintf(out, size,
	         "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
	         extra ? extra : "");
	return out;
}

static void wsc_connect(wsc *c, int port)
{
	char req[512];

	wsc_open(c, port, 0);
	assert_int_equal(wsc_request(c, handshake(req, sizeof req, NULL)), 101);
}

/* A header value of the response head, up to CR. */
static bool head_has(const wsc *c, const char *name_value)
{
	const char *p = strcasestr(c->head, name_value);

	return p && p[-1] == '\n' && p[strlen(name_value)] == '\r';
}

/* Builds a client frame: b0 is FIN/RSV/opcode as sent, masked unless told. */
static size_t frame_build(unsigned char *out, int b0, const void *payload, size_t len, bool mask)
{
	static const unsigned char key[4] = {0x37, 0xFA, 0x21, 0x3D};
	const unsigned char *p = payload;
	size_t o = 0;

	out[o++] = (unsigned char)b0;
	if (len < 126) {
		out[o++] = (unsigned char)((mask ? 0x80 : 0) | len);
	} else if (len <= 0xFFFF) {
		out[o++] = (unsigned char)((mask ? 0x80 : 0) | 126);
		out[o++] = (unsigned char)(len >> 8);
		out[o++] = (unsigned char)len;
	} else {
		out[o++] = (unsigned char)((mask ? 0x80 : 0) | 127);
		for (int i = 0; i < 8; i++)
			out[o++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	if (mask) {
		memcpy(out + o, key, 4);
		o += 4;
	}
	for (size_t i = 0; i < len; i++)
		out[o + i] = mask ? (unsigned char)(p[i] ^ key[i & 3]) : p[i];
	return o + len;
}

static void wsc_frame_send(wsc *c, int b0, const void *payload, size_t len, bool mask)
{
	unsigned char *f = malloc(len + 14);

	wsc_send(c, f, frame_build(f, b0, payload, len, mask));
	free(f);
}

static void wsc_text(wsc *c, const char *s)
{
	wsc_frame_send(c, 0x81, s, strlen(s), true);
}

static void wsc_close_frame(wsc *c, int code, const char *reason)
{
	unsigned char p[125];
	size_t n = reason ? strlen(reason) : 0;

	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	memcpy(p + 2, reason, n);
	wsc_frame_send(c, 0x88, p, 2 + n, true);
}

/* Reads the next server frame: -1 on EOF, timeout or error. Server frames
 * are never masked, never fragmented, never carry RSV bits. */
static int wsc_frame(wsc *c, frame *f)
{
	memmove(c->buf, c->buf + c->used, c->len - c->used);
	c->len -= c->used;
	c->used = 0;
	for (;;) {
		if (c->len >= 2) {
			size_t hlen = 2, len = c->buf[1] & 0x7F;

			assert_int_equal(c->buf[0] & 0xF0, 0x80);
			assert_int_equal(c->buf[1] & 0x80, 0);
			if (len == 126 && c->len >= 4) {
				len = (size_t)c->buf[2] << 8 | c->buf[3];
				hlen = 4;
			} else if (len == 127 && c->len >= 10) {
				len = 0;
				for (int i = 0; i < 8; i++)
					len = len << 8 | c->buf[2 + i];
				hlen = 10;
			} else if (len >= 126) {
				hlen = SIZE_MAX;
			}
			if (hlen != SIZE_MAX && c->len >= hlen + len) {
				f->op = c->buf[0] & 0x0F;
				f->data = c->buf + hlen;
				f->len = len;
				c->used = hlen + len;
				return 0;
			}
		}
		if (wsc_fill(c) <= 0)
			return -1;
	}
}

static void expect_text(wsc *c, const void *want, size_t len)
{
	frame f;

	assert_int_equal(wsc_frame(c, &f), 0);
	assert_int_equal(f.op, 0x1);
	assert_int_equal(f.len, len);
	assert_memory_equal(f.data, want, len);
}

static void expect_texts(wsc *c, const char *want)
{
	expect_text(c, want, strlen(want));
}

/* Expects a close frame with code (0: an empty one) and, if given, reason. */
static void expect_close(wsc *c, int code, const char *reason)
{
	frame f;

	assert_int_equal(wsc_frame(c, &f), 0);
	assert_int_equal(f.op, 0x8);
	if (!code) {
		assert_int_equal(f.len, 0);
		return;
	}
	assert_true(f.len >= 2);
	assert_int_equal(f.data[0] << 8 | f.data[1], code);
	if (reason) {
		assert_int_equal(f.len - 2, strlen(reason));
		assert_memory_equal(f.data + 2, reason, f.len - 2);
	}
}

/* The server closed (or shut down its side) within ms, with nothing more. */
static void expect_eof(wsc *c, int ms)
{
	struct pollfd p = {c->fd, POLLIN, 0};
	char b[64];
	ssize_t n;

	assert_int_equal(c->len - c->used, 0);
	assert_int_equal(poll(&p, 1, ms), 1);
	n = recv(c->fd, b, sizeof b, 0);
	assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
}

/* Sends raw bytes on a fresh connection and expects close code, then EOF. */
static void expect_refused_frames(harness *h, const void *bytes, size_t n, int code)
{
	wsc c;
	int closed = atomic_load(&h->closed);

	wsc_connect(&c, h->port);
	wsc_send(&c, bytes, n);
	expect_close(&c, code, NULL);
	expect_eof(&c, 3000);
	wsc_close(&c);
	assert_true(wait_for(&h->closed, closed + 1, 3000));
	assert_int_equal(atomic_load(&h->last_close_code), code);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_msg_refcount(void **state)
{
	ws_msg *m = ws_msg_text("hello", 5);

	(void)state;
	assert_non_null(m);
	assert_int_equal(ws_msg_size(m), 7);
	assert_ptr_equal(ws_msg_ref(m), m);
	ws_msg_unref(m);
	ws_msg_unref(m); /* last: freed (the leak checkers would see it otherwise) */
	ws_msg_unref(NULL);
	m = ws_msg_text(NULL, 0);
	assert_int_equal(ws_msg_size(m), 2);
	ws_msg_unref(m);
}

static void test_handshake_and_echo(void **state)
{
	harness *h = *state;
	wsc c;

	wsc_connect(&c, h->port);
	assert_int_equal(strncmp(c.head, "HTTP/1.1 101 Switching Protocols\r\n", 34), 0);
	/* the sample of RFC 6455 §1.3 (base64 of SHA-1 of the key and the GUID) */
	assert_true(head_has(&c, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	assert_true(head_has(&c, "Upgrade: websocket"));
	assert_true(head_has(&c, "Connection: Upgrade"));
	assert_null(strcasestr(c.head, "Sec-WebSocket-Protocol"));
	wsc_text(&c, "hello");
	expect_texts(&c, "hello");
	wsc_text(&c, "€ and 𝄞");
	expect_texts(&c, "€ and 𝄞");
	wsc_text(&c, "");
	expect_texts(&c, "");
	wsc_text(&c, "proto");
	expect_texts(&c, "-");
	assert_int_equal(atomic_load(&h->accepted), 1);
	assert_int_equal(atomic_load(&h->userdata_ok), 1);
	wsc_close(&c);
}

/* 7-bit, 16-bit and 64-bit lengths, both ways. */
static void test_lengths(void **state)
{
	static const size_t sizes[] = {125, 126, 65535, 65536, 200000};
	harness *h = *state;
	char *big = malloc(200000);
	char cmd[32];
	wsc c;

	for (size_t i = 0; i < 200000; i++)
		big[i] = (char)('a' + i % 26);
	wsc_connect(&c, h->port);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		wsc_frame_send(&c, 0x81, big, sizes[i], true);
		expect_text(&c, big, sizes[i]);
	}
	snprintf(cmd, sizeof cmd, "big:%d", 300000);
	wsc_text(&c, cmd);
	{
		frame f;

		assert_int_equal(wsc_frame(&c, &f), 0);
		assert_int_equal(f.len, 300000);
		assert_int_equal(f.data[0], 'b');
		assert_int_equal(f.data[299999], 'b');
	}
	free(big);
	wsc_close(&c);
}

/* The first frames may come in the same packet as the handshake. */
static void test_frames_with_handshake(void **state)
{
	harness *h = *state;
	unsigned char buf[1024];
	char req[512];
	size_t n;
	wsc c;

	wsc_open(&c, h->port, 0);
	handshake(req, sizeof req, NULL);
	n = strlen(req);
	memcpy(buf, req, n);
	n += frame_build(buf + n, 0x81, "early", 5, true);
	n += frame_build(buf + n, 0x81, "bird", 4, true);
	assert_int_equal(wsc_request_raw(&c, buf, n), 101);
	expect_texts(&c, "early");
	expect_texts(&c, "bird");
	wsc_close(&c);
}

static void test_subprotocol(void **state)
{
	harness *h = *state;
	char req[512];
	wsc c;

	wsc_open(&c, h->port, 0);
	handshake(req, sizeof req, "Sec-WebSocket-Protocol: chat, herald.v1\r\n");
	assert_int_equal(wsc_request(&c, req), 101);
	assert_true(head_has(&c, "Sec-WebSocket-Protocol: herald.v1"));
	wsc_text(&c, "proto");
	expect_texts(&c, "herald.v1");
	wsc_close(&c);

	/* names are case-sensitive; an offer we do not speak gets no header */
	wsc_open(&c, h->port, 0);
	handshake(req, sizeof req, "Sec-WebSocket-Protocol: HERALD.V1\r\n");
	assert_int_equal(wsc_request(&c, req), 101);
	assert_null(strcasestr(c.head, "Sec-WebSocket-Protocol"));
	wsc_close(&c);
}

/* Fragments are reassembled, a ping between them is answered at once, a
 * character may be split between fragments. */
static void test_fragmented(void **state)
{
	static const char want[] = "Hello, w\xC3\xB6rld";
	harness *h = *state;
	frame f;
	wsc c;

	wsc_connect(&c, h->port);
	wsc_frame_send(&c, 0x01, "Hel", 3, true);
	wsc_frame_send(&c, 0x89, "p1", 2, true);
	wsc_frame_send(&c, 0x00, "lo, w\xC3", 6, true);
	wsc_frame_send(&c, 0x00, "", 0, true);
	wsc_frame_send(&c, 0x80, "\xB6rld", 4, true);
	assert_int_equal(wsc_frame(&c, &f), 0);
	assert_int_equal(f.op, 0xA);
	assert_int_equal(f.len, 2);
	assert_memory_equal(f.data, "p1", 2);
	expect_text(&c, want, sizeof want - 1);
	/* and the next message starts clean */
	wsc_text(&c, "after");
	expect_texts(&c, "after");
	assert_int_equal(atomic_load(&h->texts), 2);
	wsc_close(&c);
}

static void test_ping_pong(void **state)
{
	harness *h = *state;
	unsigned char p[125];
	frame f;
	wsc c;

	for (size_t i = 0; i < sizeof p; i++)
		p[i] = (unsigned char)i;
	wsc_connect(&c, h->port);
	wsc_frame_send(&c, 0x89, "are you there", 13, true);
	assert_int_equal(wsc_frame(&c, &f), 0);
	assert_int_equal(f.op, 0xA);
	assert_int_equal(f.len, 13);
	assert_memory_equal(f.data, "are you there", 13);
	wsc_frame_send(&c, 0x89, p, sizeof p, true);
	assert_int_equal(wsc_frame(&c, &f), 0);
	assert_int_equal(f.op, 0xA);
	assert_int_equal(f.len, sizeof p);
	assert_memory_equal(f.data, p, sizeof p);
	wsc_frame_send(&c, 0x89, "", 0, true);
	assert_int_equal(wsc_frame(&c, &f), 0);
	assert_int_equal(f.op, 0xA);
	assert_int_equal(f.len, 0);
	/* an unsolicited pong is fine and unanswered */
	wsc_frame_send(&c, 0x8A, "x", 1, true);
	wsc_text(&c, "still here");
	expect_texts(&c, "still here");
	wsc_close(&c);
}

static void test_unmasked(void **state)
{
	unsigned char f[32];

	expect_refused_frames(*state, f, frame_build(f, 0x81, "hi", 2, false), WS_CLOSE_PROTOCOL);
}

/* Each of these breaks RFC 6455 §5 and gets 1002. */
static void test_protocol_errors(void **state)
{
	unsigned char f[512], big[200];
	size_t n;

	memset(big, 'x', sizeof big);
	/* RSV1 without an extension */
	expect_refused_frames(*state, f, frame_build(f, 0xC1, "hi", 2, true), WS_CLOSE_PROTOCOL);
	/* reserved data and control opcodes */
	expect_refused_frames(*state, f, frame_build(f, 0x83, "hi", 2, true), WS_CLOSE_PROTOCOL);
	expect_refused_frames(*state, f, frame_build(f, 0x8B, "hi", 2, true), WS_CLOSE_PROTOCOL);
	/* a continuation with nothing to continue */
	expect_refused_frames(*state, f, frame_build(f, 0x80, "hi", 2, true), WS_CLOSE_PROTOCOL);
	/* a new message inside a fragmented one */
	n = frame_build(f, 0x01, "a", 1, true);
	n += frame_build(f + n, 0x81, "b", 1, true);
	expect_refused_frames(*state, f, n, WS_CLOSE_PROTOCOL);
	/* a fragmented control frame, an oversized one */
	expect_refused_frames(*state, f, frame_build(f, 0x09, "p", 1, true), WS_CLOSE_PROTOCOL);
	expect_refused_frames(*state, f, frame_build(f, 0x89, big, 126, true), WS_CLOSE_PROTOCOL);
	/* close frames: one byte, codes that must not be sent */
	expect_refused_frames(*state, f, frame_build(f, 0x88, "\x03", 1, true), WS_CLOSE_PROTOCOL);
	expect_refused_frames(*state, f, frame_build(f, 0x88, "\x03\xED", 2, true), WS_CLOSE_PROTOCOL); /* 1005 */
	expect_refused_frames(*state, f, frame_build(f, 0x88, "\x03\xE7", 2, true), WS_CLOSE_PROTOCOL); /* 999 */
	expect_refused_frames(*state, f, frame_build(f, 0x88, "\x13\x88", 2, true), WS_CLOSE_PROTOCOL); /* 5000 */
	/* a 64-bit length with its top bit set */
	memcpy(f, "\x81\xFF\x80\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", 14);
	expect_refused_frames(*state, f, 14, WS_CLOSE_PROTOCOL);
}

static void test_invalid_utf8(void **state)
{
	static const char *const bad[] = {
	        "\xC0\xAF",            /* overlong '/' */
	        "\xE0\x80\xAF",        /* overlong */
	        "\xED\xA0\x80",        /* surrogate */
	        "\xF4\x90\x80\x80",    /* above U+10FFFF */
	        "\xF5\x80\x80\x80",    /* not a lead byte */
	        "\x80",                /* lone continuation */
	        "abcdefghijklmno\xFF", /* after an ASCII run */
	        "ok \xE2\x82",         /* truncated at the end */
	        "\xE2\x82\x41",        /* interrupted */
	};
	unsigned char f[256];
	size_t n;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_refused_frames(*state, f, frame_build(f, 0x81, bad[i], strlen(bad[i]), true), WS_CLOSE_BAD_DATA);
	/* a bad first fragment fails before the message is complete */
	expect_refused_frames(*state, f, frame_build(f, 0x01, "\xFF", 1, true), WS_CLOSE_BAD_DATA);
	/* a message that ends inside a character split over fragments */
	n = frame_build(f, 0x01, "\xF0\x9D", 2, true);
	n += frame_build(f + n, 0x80, "\x84", 1, true);
	expect_refused_frames(*state, f, n, WS_CLOSE_BAD_DATA);
	/* a close reason is text too */
	expect_refused_frames(*state, f, frame_build(f, 0x88, "\x03\xE8\xFF", 3, true), WS_CLOSE_BAD_DATA);
}

/* Refused from the header alone: the 1 MiB payload is never sent. */
static void test_oversize(void **state)
{
	unsigned char f[64];
	size_t n;

	memcpy(f, "\x81\xFF\x00\x00\x00\x00\x00\x10\x00\x00\x01\x02\x03\x04", 14);
	expect_refused_frames(*state, f, 14, WS_CLOSE_TOO_BIG);
	/* 16-bit form: within max_message; the sum of fragments is not */
	n = frame_build(f, 0x01, "x", 1, true);
	memcpy(f + n, "\x00\xFF\x00\x00\x00\x00\x00\x04\x00\x00\x01\x02\x03\x04", 14);
	expect_refused_frames(*state, f, n + 14, WS_CLOSE_TOO_BIG);
}

static void test_binary(void **state)
{
	unsigned char f[32];

	expect_refused_frames(*state, f, frame_build(f, 0x82, "\x00\x01", 2, true), WS_CLOSE_UNSUPPORTED);
}

static void test_wrong_version(void **state)
{
	harness *h = *state;
	wsc c;

	wsc_open(&c, h->port, 0);
	assert_int_equal(wsc_request(&c, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                                 "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n"),
	                 426);
	assert_true(head_has(&c, "Sec-WebSocket-Version: 13"));
	wsc_close(&c);
	wsc_open(&c, h->port, 0);
	assert_int_equal(wsc_request(&c, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                                 "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n\r\n"),
	                 426);
	wsc_close(&c);
	assert_int_equal(atomic_load(&h->accepted), 0);
}

static void test_bad_handshakes(void **state)
{
	static const char *const bad[] = {
	        /* no key */
	        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	        "Sec-WebSocket-Version: 13\r\n\r\n",
	        /* a key of 15 bytes */
	        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\nSec-WebSocket-Version: 13\r\n\r\n",
	        /* not base64 */
	        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ*=\r\nSec-WebSocket-Version: 13\r\n\r\n",
	        /* another protocol */
	        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
	        "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
	        /* no upgrade at all */
	        "GET /ws HTTP/1.1\r\nHost: t\r\n"
	        "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
	        /* not GET */
	        "POST /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n"
	        "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
	};
	harness *h = *state;
	wsc c;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		wsc_open(&c, h->port, 0);
		assert_int_equal(wsc_request(&c, bad[i]), 400);
		wsc_close(&c);
	}
	assert_int_equal(atomic_load(&h->accepted), 0);
	/* Connection is a token list, any case; Upgrade any case */
	wsc_open(&c, h->port, 0);
	assert_int_equal(wsc_request(&c, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: WebSocket\r\n"
	                                 "Connection: keep-alive, UPGRADE\r\n"
	                                 "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n"),
	                 101);
	wsc_text(&c, "ok");
	expect_texts(&c, "ok");
	wsc_close(&c);
}

static void test_broadcast(void **state)
{
	harness *h = *state;
	wsc c[3];

	for (int i = 0; i < 3; i++)
		wsc_connect(&c[i], h->port);
	assert_true(wait_for(&h->accepted, 3, 3000));
	wsc_text(&c[1], "broadcast:news for all");
	for (int i = 0; i < 3; i++)
		expect_texts(&c[i], "news for all");
	assert_true(wait_for(&h->broadcasts, 3, 3000)); /* counted after each send returns */
	/* a second one after one connection left reaches the other two */
	wsc_close(&c[0]);
	assert_true(wait_for(&h->closed, 1, 3000));
	assert_int_equal(atomic_load(&h->last_close_code), WS_CLOSE_ABNORMAL);
	wsc_text(&c[2], "broadcast:again");
	expect_texts(&c[1], "again");
	expect_texts(&c[2], "again");
	assert_true(wait_for(&h->broadcasts, 5, 3000));
	assert_int_equal(atomic_load(&h->broadcasts), 5);
	wsc_close(&c[1]);
	wsc_close(&c[2]);
}

/* Frames of one loop turn are batched per connection; whichever way they
 * were sent, they arrive whole and in order, and a frame larger than the
 * queue limit behind them does not make a reading client a slow consumer. */
static void test_burst_in_one_turn(void **state)
{
	harness *h = *state;
	size_t big_len = h->wopt.max_queue_bytes + 4096;
	char want[32];
	wsc c;
	frame f;

	wsc_connect(&c, h->port);
	wsc_text(&c, "burst");
	for (int i = 0; i < BURST_FRAMES; i++) {
		snprintf(want, sizeof want, "b%d", i);
		expect_texts(&c, want);
	}
	assert_int_equal(wsc_frame(&c, &f), 0);
	assert_int_equal(f.op, 0x1);
	assert_int_equal(f.len, big_len);
	assert_int_equal(f.data[0], 'z');
	assert_int_equal(f.data[big_len - 1], 'z');
	assert_true(wait_for(&h->flood_done, 1, 3000));
	assert_int_equal(atomic_load(&h->flood_max_queued_ok), 1);
	/* still open: an echo comes back */
	wsc_text(&c, "still here");
	expect_texts(&c, "still here");
	assert_int_equal(atomic_load(&h->closed), 0);
	wsc_close(&c);
}

/* A client that does not read while the server sends is cut off with 1008
 * once its queue passes the limit; what was written stays intact, the
 * close frame follows it, and others are served meanwhile. */
static void test_slow_consumer(void **state)
{
	harness *h = *state;
	size_t frames = 0;
	wsc slow, other;
	frame f;

	wsc_open(&slow, h->port, 4096);
	{
		char req[512];

		assert_int_equal(wsc_request(&slow, handshake(req, sizeof req, NULL)), 101);
	}
	wsc_text(&slow, "flood");
	assert_true(wait_for(&h->flood_done, 1, 10000));
	assert_true(atomic_load(&h->flood_sent) > 0);
	assert_true(atomic_load(&h->flood_sent) < FLOOD_LIMIT);
	assert_int_equal(atomic_load(&h->flood_max_queued_ok), 1);

	wsc_connect(&other, h->port);
	wsc_text(&other, "unaffected");
	expect_texts(&other, "unaffected");

	for (;;) {
		assert_int_equal(wsc_frame(&slow, &f), 0);
		if (f.op != 0x1)
			break;
		assert_int_equal(f.len, FLOOD_MSG);
		assert_int_equal(f.data[0], 'f');
		assert_int_equal(f.data[FLOOD_MSG - 1], 'f');
		frames++;
	}
	assert_int_equal(f.op, 0x8);
	assert_int_equal(f.data[0] << 8 | f.data[1], WS_CLOSE_POLICY);
	assert_memory_equal(f.data + 2, "slow consumer", 13);
	assert_true(frames > 0);
	assert_true(frames <= (size_t)atomic_load(&h->flood_sent));
	expect_eof(&slow, 3000);
	wsc_close(&slow);
	assert_true(wait_for(&h->closed, 1, 3000));
	assert_int_equal(atomic_load(&h->last_close_code), WS_CLOSE_POLICY);

	wsc_text(&other, "still fine");
	expect_texts(&other, "still fine");
	wsc_close(&other);
}

/* A silent client gets pings, then close 1001, then EOF. */
static void test_idle_timeout(void **state)
{
	harness *h = *state;
	uint64_t start = now_ms();
	int pings = 0;
	frame f;
	wsc c;

	wsc_connect(&c, h->port);
	for (;;) {
		assert_int_equal(wsc_frame(&c, &f), 0);
		if (f.op != 0x9)
			break;
		pings++;
	}
	assert_int_equal(pings, 1);
	assert_int_equal(f.op, 0x8);
	assert_int_equal(f.data[0] << 8 | f.data[1], WS_CLOSE_GOING_AWAY);
	assert_true(now_ms() - start >= 200);
	expect_eof(&c, 3000);
	wsc_close(&c);
	assert_true(wait_for(&h->closed, 1, 3000));
	assert_int_equal(atomic_load(&h->last_close_code), WS_CLOSE_GOING_AWAY);
}

/* Answering pings keeps a connection alive across several idle timeouts. */
static void test_pong_keeps_alive(void **state)
{
	harness *h = *state;
	uint64_t end = now_ms() + 1600; /* longer than the idle timeout */
	int pings = 0;
	frame f;
	wsc c;

	wsc_connect(&c, h->port);
	while (now_ms() < end) {
		assert_int_equal(wsc_frame(&c, &f), 0);
		assert_int_equal(f.op, 0x9);
		pings++;
		wsc_frame_send(&c, 0x8A, f.data, f.len, true);
	}
	assert_true(pings >= 3);
	wsc_text(&c, "alive");
	for (;;) {
		assert_int_equal(wsc_frame(&c, &f), 0);
		if (f.op != 0x9)
			break;
	}
	assert_int_equal(f.op, 0x1);
	assert_int_equal(f.len, 5);
	assert_memory_equal(f.data, "alive", 5);
	assert_int_equal(atomic_load(&h->closed), 0);
	wsc_close(&c);
}

static void test_close_handshake(void **state)
{
	harness *h = *state;
	wsc c;

	wsc_connect(&c, h->port);
	wsc_text(&c, "before");
	wsc_close_frame(&c, WS_CLOSE_NORMAL, "bye");
	expect_texts(&c, "before");
	expect_close(&c, WS_CLOSE_NORMAL, "");
	/* the server closes the TCP connection first (RFC 6455 §7.1.1) */
	expect_eof(&c, 3000);
	wsc_close(&c);
	assert_true(wait_for(&h->closed, 1, 3000));
	assert_int_equal(atomic_load(&h->last_close_code), WS_CLOSE_NORMAL);

	/* an empty close is echoed empty; on_close reports "no status" */
	wsc_connect(&c, h->port);
	wsc_frame_send(&c, 0x88, "", 0, true);
	expect_close(&c, 0, NULL);
	expect_eof(&c, 3000);
	wsc_close(&c);
	assert_true(wait_for(&h->closed, 2, 3000));
	assert_int_equal(atomic_load(&h->last_close_code), WS_CLOSE_NO_STATUS);
}

/* ws_close from the application: data first, then the close frame, then
 * the socket drops when the peer answers. */
static void test_server_close(void **state)
{
	harness *h = *state;
	wsc c;

	wsc_connect(&c, h->port);
	wsc_text(&c, "close-me");
	expect_close(&c, 4000, "bye");
	wsc_close_frame(&c, 4000, "");
	expect_eof(&c, 3000);
	wsc_close(&c);
	assert_true(wait_for(&h->closed, 1, 3000));
	assert_int_equal(atomic_load(&h->last_close_code), 4000);
	assert_int_equal(atomic_load(&h->userdata_ok), 1);

	/* a peer that never answers is dropped after close_timeout_ms */
	wsc_connect(&c, h->port);
	wsc_text(&c, "close-me");
	expect_close(&c, 4000, "bye");
	expect_eof(&c, 5000);
	wsc_close(&c);
	assert_true(wait_for(&h->closed, 2, 5000));
}

/* A reset peer: on_close with 1006, the server carries on. */
static void test_peer_reset(void **state)
{
	harness *h = *state;
	struct linger lg = {1, 0};
	wsc c;

	wsc_connect(&c, h->port);
	assert_true(wait_for(&h->accepted, 1, 3000));
	setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	wsc_close(&c);
	assert_true(wait_for(&h->closed, 1, 3000));
	assert_int_equal(atomic_load(&h->last_close_code), WS_CLOSE_ABNORMAL);
	wsc_connect(&c, h->port);
	wsc_text(&c, "next");
	expect_texts(&c, "next");
	wsc_close(&c);
}

/* Shutting down closes open connections with 1001 and then drains. */
static void test_shutdown(void **state)
{
	harness *h = *state;
	wsc c;

	wsc_connect(&c, h->port);
	assert_true(wait_for(&h->accepted, 1, 3000));
	atomic_fetch_or(&h->cmd, CMD_SHUTDOWN);
	uv_async_send(&h->async);
	expect_close(&c, WS_CLOSE_GOING_AWAY, "shutdown");
	wsc_close_frame(&c, WS_CLOSE_GOING_AWAY, "");
	expect_eof(&c, 3000);
	wsc_close(&c);
	assert_true(wait_for(&h->drained, 1, 3000));
	assert_int_equal(atomic_load(&h->last_close_code), WS_CLOSE_GOING_AWAY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_msg_refcount),
	        cmocka_unit_test_setup_teardown(test_handshake_and_echo, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_lengths, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_frames_with_handshake, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_subprotocol, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_fragmented, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_ping_pong, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_unmasked, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_protocol_errors, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_invalid_utf8, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_oversize, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_binary, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_wrong_version, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_handshakes, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_broadcast, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_burst_in_one_turn, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_slow_consumer, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_idle_timeout, setup_tiny_timeouts, teardown),
	        cmocka_unit_test_setup_teardown(test_pong_keeps_alive, setup_ping_timeouts, teardown),
	        cmocka_unit_test_setup_teardown(test_close_handshake, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_server_close, setup_short_close, teardown),
	        cmocka_unit_test_setup_teardown(test_peer_reset, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_shutdown, setup_default, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
