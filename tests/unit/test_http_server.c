/*
 * test_http_server.c — the real server on 127.0.0.1, port 0.
 *
 * The server runs its uv loop on a second thread; the test thread is a plain
 * blocking-socket client and asserts on the exact bytes it receives. The loop
 * thread never asserts: it records what it saw in atomics. Commands (shutdown,
 * release a held request) reach the loop through a uv_async_t.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#define CMD_SHUTDOWN 1
#define CMD_RELEASE  2
/* More than loopback buffers take at once, so responses get queued. */
#define BIG_BODY (8u * 1024u * 1024u)

typedef struct harness {
	uv_loop_t loop;
	uv_async_t async;
	http_server *srv;
	pthread_t thread;
	int port;
	atomic_int cmd;
	atomic_int requests;
	atomic_int completes;
	atomic_int drained;
	atomic_int holding;
	atomic_int gone_seen;
	atomic_int upgrades;
	atomic_int last_error;
	atomic_long bytes_out;
	http_request *held; /* loop thread only */
} harness;

/* ---- loop thread ---------------------------------------------------------- */

typedef struct slow_reply {
	uv_timer_t timer;
	http_request *req;
} slow_reply;

typedef struct echo_write {
	uv_write_t w;
	char data[];
} echo_write;

static void on_slow_closed(uv_handle_t *h)
{
	free(h);
}

static void on_slow_timer(uv_timer_t *t)
{
	slow_reply *s = (slow_reply *)t;

	http_respond(s->req, 200, "text/plain", "slow", 4, NULL);
	uv_close((uv_handle_t *)t, on_slow_closed);
}

static void on_echo_written(uv_write_t *w, int status)
{
	free(w);
}

static void echo_send(uv_stream_t *st, const char *a, size_t an, const char *b, size_t bn)
{
	echo_write *w = malloc(sizeof *w + an + bn);
	uv_buf_t buf;

	memcpy(w->data, a, an);
	memcpy(w->data + an, b, bn);
	buf = uv_buf_init(w->data, (unsigned int)(an + bn));
	if (uv_write(&w->w, st, &buf, 1, on_echo_written) != 0)
		free(w);
}

static void on_echo_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char scratch[4096]; /* only the loop thread reads into it */

	*buf = uv_buf_init(scratch, sizeof scratch);
}

static void on_echo_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	if (nread > 0)
		echo_send(st, "echo:", 5, buf->base, (size_t)nread);
	else if (nread < 0)
		http_upgraded_close(st);
}

static void handle_upgrade(harness *h, http_request *req)
{
	static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n";
	const char *rest = NULL;
	size_t rest_len = 0;
	uv_stream_t *st = NULL;

	if (http_request_upgrade(req, resp, sizeof resp - 1, &st, &rest, &rest_len) != 0)
		return;
	atomic_fetch_add(&h->upgrades, 1);
	st->data = h;
	echo_send(st, "rest:", 5, rest, rest_len);
	uv_read_start(st, on_echo_alloc, on_echo_read);
}

static int status_of_error(int error)
{
	switch (error) {
	case HERR_BODY_TOO_LARGE:
		return 413;
	case HERR_HEADERS_TOO_LARGE:
		return 431;
	case HERR_TIMEOUT:
		return 408;
	default:
		return 400;
	}
}

static void on_request(http_request *req, void *ud)
{
	harness *h = ud;
	char out[300];
	long n;

	atomic_fetch_add(&h->requests, 1);
	if (req->error) {
		atomic_store(&h->last_error, req->error);
		n = snprintf(out, sizeof out, "error %d", req->error);
		http_respond(req, status_of_error(req->error), "text/plain", out, (size_t)n, NULL);
	} else if (strcmp(req->path, "/hello") == 0) {
		char v[32];

		if (http_request_query(req, "n", v, sizeof v) < 0)
			strcpy(v, "-");
		n = snprintf(out, sizeof out, "hello %s", v);
		http_respond(req, 200, "text/plain", out, (size_t)n, NULL);
	} else if (strcmp(req->path, "/slow") == 0) {
		slow_reply *s = malloc(sizeof *s);

		s->req = req;
		uv_timer_init(&h->loop, &s->timer);
		uv_timer_start(&s->timer, on_slow_timer, 50, 0);
	} else if (strcmp(req->path, "/hold") == 0) {
		h->held = req;
		atomic_store(&h->holding, 1);
	} else if (strcmp(req->path, "/echo") == 0) {
		static const char *const extra[] = {"X-Echo: yes", "X-Bad: a\r\nInjected: 1", NULL};

		http_respond(req, 200, "application/octet-stream", req->body, req->body_len, extra);
	} else if (strcmp(req->path, "/addr") == 0) {
		http_respond(req, 200, "text/plain", req->remote_addr, strlen(req->remote_addr), NULL);
	} else if (strcmp(req->path, "/big") == 0) {
		size_t len = BIG_BODY, i;
		char *body = malloc(len);

		for (i = 0; i < len; i++)
			body[i] = (char)('a' + i % 26);
		if (http_request_query(req, "copy", out, sizeof out) >= 0) {
			/* http_respond copies what the socket does not take at once */
			http_respond(req, 200, "text/plain", body, len, NULL);
			free(body);
		} else {
			http_respond_owned(req, 200, "text/plain", body, len, NULL);
		}
	} else if (strcmp(req->path, "/empty") == 0) {
		http_respond(req, 204, NULL, NULL, 0, NULL);
	} else if (strcmp(req->path, "/ws") == 0 && http_request_wants_upgrade(req)) {
		handle_upgrade(h, req);
	} else {
		http_respond(req, 404, "text/plain", "not found", 9, NULL);
	}
}

static void on_complete(http_request *req, int status, size_t bytes_out, uint64_t duration_ns, void *ud)
{
	harness *h = ud;

	if (req->gone)
		atomic_fetch_add(&h->gone_seen, 1);
	atomic_fetch_add(&h->bytes_out, (long)bytes_out);
	atomic_fetch_add(&h->completes, 1);
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

	if ((cmd & CMD_RELEASE) && h->held) {
		http_request *r = h->held;

		h->held = NULL;
		http_respond(r, 200, "text/plain", "released", 8, NULL);
	}
	if (cmd & CMD_SHUTDOWN)
		http_server_shutdown(h->srv, on_drained, h);
}

static void *loop_thread(void *arg)
{
	harness *h = arg;

	uv_run(&h->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void command(harness *h, int cmd)
{
	atomic_fetch_or(&h->cmd, cmd);
	uv_async_send(&h->async);
}

/* ---- setup ---------------------------------------------------------------- */

static int harness_start(void **state, const http_server_options *o)
{
	harness *h = calloc(1, sizeof *h);
	char err[128];

	if (!h || uv_loop_init(&h->loop) != 0)
		return -1;
	h->srv = http_server_new(&h->loop, o, on_request, on_complete, h);
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
	return harness_start(state, NULL);
}

static int setup_short_timeouts(void **state)
{
	http_server_options o;

	memset(&o, 0, sizeof o); /* zero fields take the defaults */
	o.header_timeout_ms = 200;
	o.body_timeout_ms = 200;
	o.idle_timeout_ms = 300;
	return harness_start(state, &o);
}

static int setup_two_connections(void **state)
{
	http_server_options o;

	http_server_options_default(&o);
	o.max_connections = 2;
	return harness_start(state, &o);
}

static int teardown(void **state)
{
	harness *h = *state;
	int rc;

	if (!atomic_load(&h->drained))
		command(h, CMD_SHUTDOWN | CMD_RELEASE);
	pthread_join(h->thread, NULL);
	assert_int_equal(atomic_load(&h->drained), 1);
	http_server_free(h->srv);
	/* every handle of the server was closed */
	rc = uv_loop_close(&h->loop);
	free(h);
	assert_int_equal(rc, 0);
	return 0;
}

/* ---- client --------------------------------------------------------------- */

typedef struct client {
	int fd;
	char *buf;
	size_t len, cap;
	size_t received; /* all bytes read, for comparing with bytes_out */
} client;

typedef struct response {
	int status;
	char head[4096];
	char *body;
	size_t body_len;
} response;

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

/* Polls an atomic until it reaches want (the loop thread runs on its own). */
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

static int connect_small(int port, int rcvbuf)
{
	struct sockaddr_in a;
	struct timeval tv = {5, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_to(int port)
{
	return connect_small(port, 0);
}

static void client_open_rcvbuf(client *c, int port, int rcvbuf)
{
	memset(c, 0, sizeof *c);
	c->fd = connect_small(port, rcvbuf);
	assert_true(c->fd >= 0);
	c->cap = 2u * BIG_BODY;
	c->buf = malloc(c->cap);
	assert_non_null(c->buf);
}

static void client_open(client *c, int port)
{
	memset(c, 0, sizeof *c);
	c->fd = connect_to(port);
	assert_true(c->fd >= 0);
	c->cap = 4u * 1024u * 1024u;
	c->buf = malloc(c->cap);
	assert_non_null(c->buf);
}

static void client_close(client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

/* Closes with a reset (SO_LINGER 0): the peer is gone for certain. A
 * plain close looks like a half-close, whose client still reads. */
static void client_reset(client *c)
{
	struct linger lg = {1, 0};
	if (c->fd >= 0)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	client_close(c);
}

static void client_send(client *c, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);

		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

static void client_sends(client *c, const char *s)
{
	client_send(c, s, strlen(s));
}

/* Reads more bytes: >0 read, 0 EOF, -1 error or timeout. */
static ssize_t client_fill(client *c)
{
	ssize_t n;

	if (c->len == c->cap)
		return -1;
	n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	if (n > 0) {
		c->len += (size_t)n;
		c->received += (size_t)n;
	}
	return n < 0 ? -1 : n;
}

static void client_consume(client *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static const char *find_header(const char *head, const char *name)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2] != '\0') {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ')
				p++;
			return p;
		}
		p = strstr(p, "\r\n");
	}
	return NULL;
}

static bool header_is(const response *r, const char *name, const char *value)
{
	const char *v = find_header(r->head, name);

	return v && strncmp(v, value, strlen(value)) == 0 && v[strlen(value)] == '\r';
}

/* Reads one response; is_head: the body is announced but not sent. */
static int client_response(client *c, response *r, bool is_head)
{
	char *end = NULL;
	size_t head_len, need;
	const char *cl;

	memset(r, 0, sizeof *r);
	while (!(end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL))
		if (client_fill(c) <= 0)
			return -1;
	head_len = (size_t)(end - c->buf) + 4;
	assert_true(head_len < sizeof r->head);
	memcpy(r->head, c->buf, head_len);
	r->head[head_len] = '\0';
	assert_int_equal(strncmp(r->head, "HTTP/1.1 ", 9), 0);
	r->status = atoi(r->head + 9);
	cl = find_header(r->head, "Content-Length");
	r->body_len = (cl && !is_head) ? strtoul(cl, NULL, 10) : 0;
	need = head_len + r->body_len;
	while (c->len < need)
		if (client_fill(c) <= 0)
			return -1;
	r->body = malloc(r->body_len + 1);
	memcpy(r->body, c->buf + head_len, r->body_len);
	r->body[r->body_len] = '\0';
	client_consume(c, need);
	return 0;
}

static void response_free(response *r)
{
	free(r->body);
	r->body = NULL;
}

/* True if the server closed the connection within ms without sending more. */
static bool client_sees_close(client *c, int ms)
{
	struct pollfd p = {c->fd, POLLIN, 0};
	char b[256];
	ssize_t n;

	if (c->len)
		return false;
	if (poll(&p, 1, ms) != 1)
		return false;
	n = recv(c->fd, b, sizeof b, 0);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void expect_simple(client *c, int status, const char *body)
{
	response r;

	assert_int_equal(client_response(c, &r, false), 0);
	assert_int_equal(r.status, status);
	assert_string_equal(r.body, body);
	response_free(&r);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_keep_alive_two_requests(void **state)
{
	harness *h = *state;
	response r;
	client c;

	client_open(&c, h->port);
	client_sends(&c, "GET /hello?n=1 HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello 1");
	assert_int_equal(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17), 0);
	assert_true(header_is(&r, "Connection", "keep-alive"));
	assert_true(header_is(&r, "Server", "herald"));
	assert_true(header_is(&r, "Content-Type", "text/plain"));
	assert_true(header_is(&r, "Content-Length", "7"));
	assert_non_null(find_header(r.head, "Date"));
	assert_int_equal(strlen(find_header(r.head, "Date")) >= 29, 1);
	assert_int_equal(memcmp(find_header(r.head, "Date") + 25, " GMT", 4), 0);
	response_free(&r);

	client_sends(&c, "GET /hello?n=2 HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_simple(&c, 200, "hello 2");

	client_sends(&c, "GET /addr HTTP/1.1\r\n\r\n");
	expect_simple(&c, 200, "127.0.0.1");

	assert_true(wait_for(&h->completes, 3, 2000));
	assert_int_equal(atomic_load(&h->requests), 3);
	/* on_complete counts exactly the bytes that reached us */
	assert_int_equal((size_t)atomic_load(&h->bytes_out), c.received);
	client_close(&c);
}

static void test_three_pipelined_in_order(void **state)
{
	harness *h = *state;
	client c;

	client_open(&c, h->port);
	/* the first is answered 50 ms later from a timer; the others at once */
	client_sends(&c, "GET /slow HTTP/1.1\r\n\r\n"
	                 "GET /hello?n=2 HTTP/1.1\r\n\r\n"
	                 "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nthree");
	expect_simple(&c, 200, "slow");
	expect_simple(&c, 200, "hello 2");
	expect_simple(&c, 200, "three");
	assert_int_equal(atomic_load(&h->requests), 3);
	client_close(&c);
}

/* Writes all requests from a second thread while the test reads. */
typedef struct pipeline_writer {
	int fd;
	int count;
} pipeline_writer;

static void *pipeline_write(void *arg)
{
	pipeline_writer *w = arg;
	char *all = malloc((size_t)w->count * 64);
	size_t n = 0, off = 0;
	int i;

	n += (size_t)sprintf(all + n, "GET /slow HTTP/1.1\r\n\r\n");
	for (i = 1; i < w->count; i++)
		n += (size_t)sprintf(all + n, "GET /hello?n=%d HTTP/1.1\r\n\r\n", i);
	while (off < n) {
		ssize_t s = send(w->fd, all + off, n - off, MSG_NOSIGNAL);

		if (s <= 0)
			break;
		off += (size_t)s;
	}
	free(all);
	return NULL;
}

static void test_many_pipelined_with_backpressure(void **state)
{
	harness *h = *state;
	pipeline_writer w;
	pthread_t t;
	char want[32];
	client c;
	int i;

	client_open(&c, h->port);
	/* ~150 KiB of requests queue up behind the slow first one: more than the
	 * server buffers, so it has to stop and restart reading */
	w.fd = c.fd;
	w.count = 5000;
	assert_int_equal(pthread_create(&t, NULL, pipeline_write, &w), 0);
	expect_simple(&c, 200, "slow");
	for (i = 1; i < w.count; i++) {
		sprintf(want, "hello %d", i);
		expect_simple(&c, 200, want);
	}
	pthread_join(t, NULL);
	assert_true(wait_for(&h->completes, w.count, 2000));
	client_close(&c);
}

static void test_body_too_large(void **state)
{
	harness *h = *state;
	response r;
	client c;

	client_open(&c, h->port);
	client_sends(&c, "POST /echo HTTP/1.1\r\nContent-Length: 100000000\r\n\r\nsome of the body");
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_int_equal(r.status, 413);
	assert_int_equal(strncmp(r.head, "HTTP/1.1 413 Payload Too Large\r\n", 32), 0);
	assert_true(header_is(&r, "Connection", "close"));
	assert_string_equal(r.body, "error -12");
	response_free(&r);
	assert_true(client_sees_close(&c, 3000));
	assert_int_equal(atomic_load(&h->last_error), HERR_BODY_TOO_LARGE);
	client_close(&c);
}

static void test_headers_too_large(void **state)
{
	harness *h = *state;
	size_t n = 40000;
	char *req = malloc(n + 64);
	response r;
	client c;
	int len;

	len = sprintf(req, "GET /hello HTTP/1.1\r\nX-Big: ");
	memset(req + len, 'b', n);
	strcpy(req + len + n, "\r\n\r\n");
	client_open(&c, h->port);
	client_sends(&c, req);
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_int_equal(r.status, 431);
	assert_true(header_is(&r, "Connection", "close"));
	assert_string_equal(r.body, "error -13");
	response_free(&r);
	assert_true(client_sees_close(&c, 3000));
	client_close(&c);
	free(req);
}

static void test_garbage(void **state)
{
	harness *h = *state;
	response r;
	client c;

	client_open(&c, h->port);
	client_sends(&c, "\x01\x02garbage\r\n\r\nGET /hello HTTP/1.1\r\n\r\n");
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_int_equal(r.status, 400);
	assert_true(header_is(&r, "Connection", "close"));
	assert_string_equal(r.body, "error -10");
	response_free(&r);
	/* what followed the broken request was not answered */
	assert_true(client_sees_close(&c, 3000));
	assert_int_equal(atomic_load(&h->requests), 1);
	client_close(&c);
}

static void test_header_timeout(void **state)
{
	harness *h = *state;
	uint64_t t0;
	response r;
	client c;

	client_open(&c, h->port);
	t0 = now_ms();
	client_sends(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n");
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_true(now_ms() - t0 >= 150);
	assert_int_equal(r.status, 408);
	assert_true(header_is(&r, "Connection", "close"));
	assert_string_equal(r.body, "error -16");
	response_free(&r);
	assert_true(client_sees_close(&c, 3000));
	assert_int_equal(atomic_load(&h->last_error), HERR_TIMEOUT);
	client_close(&c);
}

static void test_body_timeout(void **state)
{
	harness *h = *state;
	response r;
	client c;
	int i;

	client_open(&c, h->port);
	client_sends(&c, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n");
	/* pauses shorter than the body timeout keep the request alive */
	for (i = 0; i < 4; i++) {
		sleep_ms(100);
		client_sends(&c, "ab");
	}
	client_sends(&c, "cd");
	expect_simple(&c, 200, "ababababcd");

	client_sends(&c, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_int_equal(r.status, 408);
	assert_true(header_is(&r, "Connection", "close"));
	response_free(&r);
	assert_true(client_sees_close(&c, 3000));
	client_close(&c);
}

static void test_idle_close(void **state)
{
	harness *h = *state;
	uint64_t t0;
	client c;

	client_open(&c, h->port);
	/* Taken before the request: the server's idle timer (300 ms) starts
	 * only after its answer, so however late this thread runs, the close
	 * cannot come sooner than that after t0. */
	t0 = now_ms();
	client_sends(&c, "GET /hello?n=1 HTTP/1.1\r\n\r\n");
	expect_simple(&c, 200, "hello 1");
	/* silent: no 408, just the close */
	assert_true(client_sees_close(&c, 3000));
	assert_true(now_ms() - t0 >= 300);
	assert_int_equal(atomic_load(&h->requests), 1);
	client_close(&c);
}

static void test_shutdown_drains_in_flight(void **state)
{
	harness *h = *state;
	response r;
	client c, idle;

	client_open(&idle, h->port);
	client_sends(&idle, "GET /hello?n=1 HTTP/1.1\r\n\r\n");
	expect_simple(&idle, 200, "hello 1");

	client_open(&c, h->port);
	client_sends(&c, "GET /hold HTTP/1.1\r\n\r\n");
	assert_true(wait_for(&h->holding, 1, 2000));

	command(h, CMD_SHUTDOWN);
	/* idle connections close, new ones are refused, the held one waits */
	assert_true(client_sees_close(&idle, 3000));
	sleep_ms(50);
	assert_int_equal(connect_to(h->port), -1);
	assert_int_equal(atomic_load(&h->drained), 0);

	command(h, CMD_RELEASE);
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "released");
	assert_true(header_is(&r, "Connection", "close"));
	response_free(&r);
	assert_true(client_sees_close(&c, 3000));
	assert_true(wait_for(&h->drained, 1, 3000));
	client_close(&c);
	client_close(&idle);
}

static void test_peer_gone(void **state)
{
	harness *h = *state;
	client c;

	client_open(&c, h->port);
	client_sends(&c, "GET /hold HTTP/1.1\r\n\r\n");
	assert_true(wait_for(&h->holding, 1, 2000));
	client_reset(&c);
	sleep_ms(100); /* let the loop see the reset */
	command(h, CMD_RELEASE);
	assert_true(wait_for(&h->completes, 1, 2000));
	assert_int_equal(atomic_load(&h->gone_seen), 1);
	assert_int_equal(atomic_load(&h->bytes_out), 0);
}

static void test_head_and_no_content(void **state)
{
	harness *h = *state;
	response r;
	client c;

	client_open(&c, h->port);
	/* pipelined: the second response must start right after the first head */
	client_sends(&c,
	             "HEAD /hello?n=12345 HTTP/1.1\r\n\r\nGET /empty HTTP/1.1\r\n\r\nGET /hello?n=3 HTTP/1.1\r\n\r\n");
	assert_int_equal(client_response(&c, &r, true), 0);
	assert_int_equal(r.status, 200);
	assert_true(header_is(&r, "Content-Length", "11"));
	response_free(&r);
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_int_equal(r.status, 204);
	assert_null(find_header(r.head, "Content-Length"));
	response_free(&r);
	expect_simple(&c, 200, "hello 3");
	client_close(&c);
}

static void test_expect_continue_and_chunked(void **state)
{
	harness *h = *state;
	response r;
	client c;

	client_open(&c, h->port);
	client_sends(&c, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
	while (c.len < 25)
		assert_true(client_fill(&c) > 0);
	assert_memory_equal(c.buf, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	client_consume(&c, 25);
	client_sends(&c, "hello");
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello");
	assert_true(header_is(&r, "X-Echo", "yes"));
	/* a header line with CR/LF from the application is dropped */
	assert_null(find_header(r.head, "Injected"));
	assert_null(find_header(r.head, "X-Bad"));
	response_free(&r);

	client_sends(&c, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
	client_sends(&c, "4\r\ndefg\r\n0\r\n\r\n");
	expect_simple(&c, 200, "abcdefg");

	/* too large: 413 instead of 100 Continue */
	client_sends(&c, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n");
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_int_equal(r.status, 413);
	response_free(&r);
	client_close(&c);
}

static void test_http10_closes(void **state)
{
	harness *h = *state;
	response r;
	client c;

	client_open(&c, h->port);
	client_sends(&c, "GET /hello?n=10 HTTP/1.0\r\n\r\n");
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_string_equal(r.body, "hello 10");
	assert_true(header_is(&r, "Connection", "close"));
	response_free(&r);
	assert_true(client_sees_close(&c, 3000));
	client_close(&c);

	client_open(&c, h->port);
	client_sends(&c, "GET /hello?n=11 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_true(header_is(&r, "Connection", "keep-alive"));
	response_free(&r);
	client_sends(&c, "GET /hello?n=12 HTTP/1.1\r\nConnection: close\r\n\r\n");
	assert_int_equal(client_response(&c, &r, false), 0);
	assert_string_equal(r.body, "hello 12");
	assert_true(header_is(&r, "Connection", "close"));
	response_free(&r);
	assert_true(client_sees_close(&c, 3000));
	client_close(&c);
}

static void expect_big(client *c)
{
	response r;
	size_t i;

	assert_int_equal(client_response(c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, BIG_BODY);
	for (i = 0; i < r.body_len; i++)
		if (r.body[i] != (char)('a' + i % 26))
			break;
	assert_int_equal(i, r.body_len);
	response_free(&r);
}

static void test_big_responses(void **state)
{
	harness *h = *state;
	client c;

	/* a small receive window: most of each body waits in the write queue,
	 * and the responses behind it must keep their order */
	client_open_rcvbuf(&c, h->port, 16 * 1024);
	client_sends(&c, "GET /big HTTP/1.1\r\n\r\nGET /hello?n=after HTTP/1.1\r\n\r\n"
	                 "GET /big?copy=1 HTTP/1.1\r\n\r\nGET /hello?n=last HTTP/1.1\r\n\r\n");
	sleep_ms(100);
	expect_big(&c);
	expect_simple(&c, 200, "hello after");
	expect_big(&c);
	expect_simple(&c, 200, "hello last");
	assert_true(wait_for(&h->completes, 4, 2000));
	assert_int_equal((size_t)atomic_load(&h->bytes_out), c.received);
	client_close(&c);
}

static void test_max_connections(void **state)
{
	harness *h = *state;
	client a, b, extra;

	client_open(&a, h->port);
	client_open(&b, h->port);
	client_sends(&a, "GET /hello?n=a HTTP/1.1\r\n\r\n");
	expect_simple(&a, 200, "hello a");
	client_sends(&b, "GET /hello?n=b HTTP/1.1\r\n\r\n");
	expect_simple(&b, 200, "hello b");
	/* the third is accepted and closed at once */
	client_open(&extra, h->port);
	assert_true(client_sees_close(&extra, 3000));
	client_close(&extra);
	client_close(&a);
	sleep_ms(100);
	client_open(&extra, h->port);
	client_sends(&extra, "GET /hello?n=c HTTP/1.1\r\n\r\n");
	expect_simple(&extra, 200, "hello c");
	client_close(&extra);
	client_close(&b);
}

static void test_upgrade(void **state)
{
	harness *h = *state;
	client c;

	client_open(&c, h->port);
	client_sends(&c, "GET /ws HTTP/1.1\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly");
	while (!memmem(c.buf, c.len, "rest:early", 10))
		assert_true(client_fill(&c) > 0);
	assert_int_equal(strncmp(c.buf, "HTTP/1.1 101 Switching Protocols\r\n", 34), 0);
	c.len = 0;
	client_sends(&c, "ping");
	while (c.len < 9)
		assert_true(client_fill(&c) > 0);
	assert_memory_equal(c.buf, "echo:ping", 9);
	assert_int_equal(atomic_load(&h->upgrades), 1);
	client_close(&c);
	/* teardown's drain waits for http_upgraded_close */
}

/* Listening twice on one port fails cleanly and the server can retry; a
 * shutdown with no connection still reports drained, asynchronously. */
static int drained_count;

static void count_drained(void *ud)
{
	drained_count++;
}

static void test_listen_errors_and_empty_shutdown(void **state)
{
	http_server *a, *b;
	uv_loop_t loop;
	char err[128];
	int port;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	a = http_server_new(&loop, NULL, on_request, NULL, NULL);
	b = http_server_new(&loop, NULL, on_request, NULL, NULL);
	assert_int_equal(http_server_listen(a, "127.0.0.1", 0, err, sizeof err), 0);
	port = http_server_port(a);
	assert_true(port > 0);
	assert_int_equal(http_server_listen(b, "127.0.0.1", port, err, sizeof err), HERR_IO);
	assert_non_null(strstr(err, "address already in use"));
	assert_int_equal(http_server_port(b), 0);
	assert_int_equal(http_server_listen(b, "not-an-ip", 0, err, sizeof err), HERR_IO);
	assert_int_equal(http_server_listen(b, "127.0.0.1", 0, err, sizeof err), 0);
	assert_true(http_server_port(b) > 0);
	assert_int_equal(http_server_listen(b, "127.0.0.1", 0, err, sizeof err), HERR_IO);
	assert_int_equal(http_server_connection_count(a), 0);

	drained_count = 0;
	http_server_shutdown(a, count_drained, NULL);
	http_server_shutdown(b, count_drained, NULL);
	assert_int_equal(drained_count, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(drained_count, 2);
	http_server_free(a);
	http_server_free(b);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* IPv6 loopback, when the machine has it. */
static void test_ipv6(void **state)
{
	http_server *s;
	uv_loop_t loop;
	char err[128];

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	s = http_server_new(&loop, NULL, on_request, NULL, NULL);
	if (http_server_listen(s, "::1", 0, err, sizeof err) != 0) {
		http_server_free(s);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		skip();
	}
	assert_true(http_server_port(s) > 0);
	http_server_free(s); /* freeing without shutdown closes the listener too */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_keep_alive_two_requests, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_three_pipelined_in_order, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_many_pipelined_with_backpressure, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_body_too_large, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_headers_too_large, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_garbage, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_header_timeout, setup_short_timeouts, teardown),
	        cmocka_unit_test_setup_teardown(test_body_timeout, setup_short_timeouts, teardown),
	        cmocka_unit_test_setup_teardown(test_idle_close, setup_short_timeouts, teardown),
	        cmocka_unit_test_setup_teardown(test_shutdown_drains_in_flight, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_peer_gone, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_head_and_no_content, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_expect_continue_and_chunked, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_http10_closes, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_big_responses, setup_default, teardown),
	        cmocka_unit_test_setup_teardown(test_max_connections, setup_two_connections, teardown),
	        cmocka_unit_test_setup_teardown(test_upgrade, setup_default, teardown),
	        cmocka_unit_test(test_listen_errors_and_empty_shutdown),
	        cmocka_unit_test(test_ipv6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
