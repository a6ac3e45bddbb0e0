/*
 * test_http_client.c — the libcurl/libuv client against herald's own HTTP
 * server on 127.0.0.1, both on one loop in one thread: the server handler
 * records what arrived and how many requests overlap; the client's done
 * callbacks record what came back. Tests run the loop until a counter
 * reaches its target or a deadline passes, so a hang fails instead of
 * blocking the suite.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "net/http.h"
#include "push/http_client.h"

#define MAX_CALLS 128
#define MAX_SEEN  16
#define MAX_HELD  64
#define BIG_LEN   (100u * 1024u)

typedef struct harness harness;

/* What the server saw of one recorded request. */
typedef struct seen {
	char method[16];
	char path[64];
	char query[64];
	char token[64];
	char multi[64];
	char ctype[64];
	char ua[64];
	bool has_expect;
	char *body;
	size_t body_len;
} seen;

/* What the client's done callback saw of one request. */
typedef struct call {
	harness *h;
	int calls;
	long status;
	int truncated;
	char *body;
	size_t body_len;
	bool has_error;
	char error[256];
	bool has_retry_after;
	char retry_after[64];
	char mixed[64];
	bool has_nope;
	uint64_t done_ms;
	/* behaviour inside the callback */
	bool close_in_done;
	bool send_in_done;
	int send_rc;
	const char *chain_path;
} call;

typedef struct slow_reply {
	uv_timer_t timer;
	http_request *req;
	harness *h;
} slow_reply;

struct harness {
	uv_loop_t loop;
	uv_timer_t tick;
	http_server *srv;
	hclient *client;
	char base[64];
	/* server side */
	int in_flight, max_in_flight, served;
	http_request *held[MAX_HELD];
	int held_count;
	seen seen[MAX_SEEN];
	int seen_count;
	char order[256];
	/* client side */
	call calls[MAX_CALLS];
	int done_total;
	int closed_calls;
	int drained;
};

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

/* ---- server side ---------------------------------------------------------- */

static void copy_header(const http_request *req, const char *name, char *out, size_t size)
{
	const char *v = http_request_header(req, name);

	snprintf(out, size, "%s", v ? v : "(none)");
}

static void record(harness *h, const http_request *req)
{
	seen *s;

	if (h->seen_count == MAX_SEEN)
		return;
	s = &h->seen[h->seen_count++];
	snprintf(s->method, sizeof s->method, "%s", req->method);
	snprintf(s->path, sizeof s->path, "%s", req->path);
	snprintf(s->query, sizeof s->query, "%s", req->query ? req->query : "(none)");
	copy_header(req, "x-token", s->token, sizeof s->token);
	copy_header(req, "x-multi", s->multi, sizeof s->multi);
	copy_header(req, "content-type", s->ctype, sizeof s->ctype);
	copy_header(req, "user-agent", s->ua, sizeof s->ua);
	s->has_expect = http_request_header(req, "expect") != NULL;
	s->body = malloc(req->body_len + 1);
	memcpy(s->body, req->body, req->body_len);
	s->body_len = req->body_len;
}

static void on_slow_closed(uv_handle_t *hd)
{
	free(hd->data);
}

static void on_slow_timer(uv_timer_t *t)
{
	slow_reply *s = t->data;
	char v[16], out[32];
	int n;

	if (http_request_query(s->req, "i", v, sizeof v) < 0)
		strcpy(v, "?");
	n = snprintf(out, sizeof out, "n=%s", v);
	s->h->in_flight--;
	http_respond(s->req, 200, "text/plain", out, (size_t)n, NULL);
	uv_close((uv_handle_t *)t, on_slow_closed);
}

static void on_request(http_request *req, void *ud)
{
	harness *h = ud;

	h->served++;
	if (req->error) {
		http_respond(req, 400, "text/plain", "error", 5, NULL);
	} else if (strcmp(req->path, "/echo") == 0) {
		static const char *const extra[] = {"Retry-After: 120", "X-Mixed-Case: Yes", NULL};
		char out[64];
		int n = snprintf(out, sizeof out, "got:%zu", req->body_len);

		record(h, req);
		http_respond(req, 201, "text/plain", out, (size_t)n, extra);
	} else if (strcmp(req->path, "/busy") == 0) {
		static const char *const extra[] = {"retry-after:  7 ", NULL};

		http_respond(req, 503, "text/plain", "busy", 4, extra);
	} else if (strcmp(req->path, "/slow") == 0) {
		slow_reply *s = malloc(sizeof *s);

		if (++h->in_flight > h->max_in_flight)
			h->max_in_flight = h->in_flight;
		s->req = req;
		s->h = h;
		uv_timer_init(&h->loop, &s->timer);
		s->timer.data = s;
		uv_timer_start(&s->timer, on_slow_timer, 5, 0);
	} else if (strcmp(req->path, "/hold") == 0) {
		assert_true(h->held_count < MAX_HELD);
		h->held[h->held_count++] = req;
	} else if (strncmp(req->path, "/order/", 7) == 0) {
		strncat(h->order, req->path + 7, sizeof h->order - strlen(h->order) - 1);
		http_respond(req, 200, "text/plain", "ok", 2, NULL);
	} else if (strcmp(req->path, "/big") == 0) {
		char *body = malloc(BIG_LEN);

		for (size_t i = 0; i < BIG_LEN; i++)
			body[i] = (char)('a' + i % 26);
		http_respond_owned(req, 200, "text/plain", body, BIG_LEN, NULL);
	} else {
		http_respond(req, 404, "text/plain", "not found", 9, NULL);
	}
}

static void release_held(harness *h)
{
	for (int i = 0; i < h->held_count; i++)
		http_respond(h->held[i], 200, "text/plain", "late", 4, NULL);
	h->held_count = 0;
}

/* ---- client side ---------------------------------------------------------- */

static void on_closed(void *ud)
{
	harness *h = ud;

	h->closed_calls++;
}

static void on_done(void *ud, const hclient_response *r)
{
	call *c = ud;
	harness *h = c->h;
	const char *v;

	c->calls++;
	h->done_total++;
	c->done_ms = now_ms();
	c->status = r->status;
	c->truncated = r->truncated;
	free(c->body);
	c->body = malloc(r->body_len + 1);
	memcpy(c->body, r->body, r->body_len + 1); /* the NUL is promised too */
	c->body_len = r->body_len;
	c->has_error = r->error != NULL;
	snprintf(c->error, sizeof c->error, "%s", r->error ? r->error : "");
	c->has_retry_after = r->retry_after != NULL;
	snprintf(c->retry_after, sizeof c->retry_after, "%s", r->retry_after ? r->retry_after : "");
	v = hclient_response_header(r, "x-mixed-case");
	snprintf(c->mixed, sizeof c->mixed, "%s", v ? v : "");
	c->has_nope = hclient_response_header(r, "nope") != NULL;

	if (c->send_in_done) {
		hclient_request req;
		char url[128];

		memset(&req, 0, sizeof req);
		snprintf(url, sizeof url, "%s/order/%s", h->base, c->chain_path ? c->chain_path : "x");
		req.method = "GET";
		req.url = url;
		c->send_rc = hclient_send(h->client, &req, on_done, c + 1);
	}
	if (c->close_in_done) {
		hclient_close(h->client, on_closed, h);
		hclient_close(h->client, on_closed, h); /* a second close is ignored */
	}
}

static int send_to(harness *h, int i, const char *method, const char *path, long timeout_ms)
{
	hclient_request req;
	char url[256];

	memset(&req, 0, sizeof req);
	snprintf(url, sizeof url, "%s%s", h->base, path);
	req.method = method;
	req.url = url;
	req.timeout_ms = timeout_ms;
	h->calls[i].h = h;
	return hclient_send(h->client, &req, on_done, &h->calls[i]);
}

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until *counter ≥ want; false after ms. */
static bool run_until(harness *h, const int *counter, int want, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (*counter < want && now_ms() < end)
		uv_run(&h->loop, UV_RUN_ONCE);
	return *counter >= want;
}

/* ---- setup ---------------------------------------------------------------- */

static int setup(void **state)
{
	harness *h = calloc(1, sizeof *h);
	char err[128];

	if (!h || uv_loop_init(&h->loop) != 0)
		return -1;
	h->srv = http_server_new(&h->loop, NULL, on_request, NULL, h);
	if (!h->srv || http_server_listen(h->srv, "127.0.0.1", 0, err, sizeof err) != 0)
		return -1;
	snprintf(h->base, sizeof h->base, "http://127.0.0.1:%d", http_server_port(h->srv));
	/* keeps UV_RUN_ONCE from sleeping past run_until's deadline */
	uv_timer_init(&h->loop, &h->tick);
	uv_timer_start(&h->tick, on_tick, 10, 10);
	for (int i = 0; i < MAX_CALLS; i++)
		h->calls[i].h = h;
	*state = h;
	return 0;
}

static void on_drained(void *ud)
{
	harness *h = ud;

	h->drained = 1;
}

static void count_handle(uv_handle_t *hd, void *arg)
{
	if (!uv_is_closing(hd))
		(*(int *)arg)++;
}

static int teardown(void **state)
{
	harness *h = *state;
	int open = 0;

	release_held(h);
	if (h->client) {
		hclient_close(h->client, on_closed, h);
		h->client = NULL;
	}
	http_server_shutdown(h->srv, on_drained, h);
	run_until(h, &h->drained, 1, 5000);
	run_until(h, &h->closed_calls, 1, 5000);
	assert_int_equal(h->drained, 1);
	assert_int_equal(h->closed_calls, 1);
	uv_close((uv_handle_t *)&h->tick, NULL);
	http_server_free(h->srv);
	for (int i = 0; i < 100; i++)
		uv_run(&h->loop, UV_RUN_NOWAIT);
	/* a handle left open would make the loop run forever: fail instead */
	uv_walk(&h->loop, count_handle, &open);
	assert_int_equal(open, 0);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&h->loop), 0);
	for (int i = 0; i < h->seen_count; i++)
		free(h->seen[i].body);
	for (int i = 0; i < MAX_CALLS; i++)
		free(h->calls[i].body);
	free(h);
	return 0;
}

static void new_client(harness *h, int max_concurrent)
{
	assert_int_equal(hclient_new(&h->loop, max_concurrent, &h->client), 0);
	assert_non_null(h->client);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_post_arrives_exactly(void **state)
{
	harness *h = *state;
	static const char *const headers[] = {"Content-Type: application/octet-stream", "X-Token: AbC=/+ 9",
	                                      "X-Multi: a, b;q=1", NULL};
	unsigned char body[300];
	hclient_request req;
	char url[128];
	seen *s;

	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (unsigned char)(i * 7);
	body[0] = '\0';
	memcpy(body + 10, "\r\n\r\n", 4);
	new_client(h, 4);
	memset(&req, 0, sizeof req);
	snprintf(url, sizeof url, "%s/echo?q=1&x=%%20", h->base);
	req.url = url; /* method defaults to POST */
	req.headers = headers;
	req.body = body;
	req.body_len = sizeof body;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), 0);
	/* everything was copied */
	memset(body, 0, sizeof body);
	memset(url, 0, sizeof url);
	/* never called back from inside send */
	assert_int_equal(h->calls[0].calls, 0);
	assert_int_equal(hclient_pending(h->client), 1);

	assert_true(run_until(h, &h->done_total, 1, 5000));
	assert_int_equal(h->calls[0].calls, 1);
	assert_int_equal(h->calls[0].status, 201);
	assert_false(h->calls[0].has_error);
	assert_string_equal(h->calls[0].body, "got:300");
	assert_int_equal(h->calls[0].body_len, 7);
	assert_true(h->calls[0].has_retry_after);
	assert_string_equal(h->calls[0].retry_after, "120");
	assert_string_equal(h->calls[0].mixed, "Yes");
	assert_false(h->calls[0].has_nope);
	assert_int_equal(h->calls[0].truncated, 0);
	assert_int_equal(hclient_pending(h->client), 0);

	assert_int_equal(h->seen_count, 1);
	s = &h->seen[0];
	assert_string_equal(s->method, "POST");
	assert_string_equal(s->path, "/echo");
	assert_string_equal(s->query, "q=1&x=%20");
	assert_string_equal(s->token, "AbC=/+ 9");
	assert_string_equal(s->multi, "a, b;q=1");
	assert_string_equal(s->ctype, "application/octet-stream");
	assert_int_equal(strncmp(s->ua, "herald/", 7), 0);
	assert_false(s->has_expect);
	assert_int_equal(s->body_len, 300);
	for (size_t i = 0; i < 300; i++) {
		unsigned char want = (unsigned char)(i * 7);

		if (i == 0)
			want = 0;
		else if (i >= 10 && i < 14)
			want = (unsigned char)"\r\n\r\n"[i - 10];
		assert_int_equal((unsigned char)s->body[i], want);
	}
}

static void test_methods_and_large_body(void **state)
{
	harness *h = *state;
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	size_t len = 900u * 1024u;
	char *body = malloc(len);
	hclient_request req;
	char url[128];
	int i;

	for (size_t k = 0; k < len; k++)
		body[k] = (char)(k % 251);
	new_client(h, 4);
	memset(&req, 0, sizeof req);
	snprintf(url, sizeof url, "%s/echo", h->base);
	req.url = url;
	req.method = "PUT";
	req.headers = headers;
	req.body = body;
	req.body_len = len;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), 0);
	req.method = "GET";
	req.body = NULL;
	req.body_len = 0;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[1]), 0);
	req.method = "DELETE";
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[2]), 0);
	req.method = "POST"; /* an empty POST */
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[3]), 0);
	assert_int_equal(send_to(h, 4, "HEAD", "/big", 0), 0);

	assert_true(run_until(h, &h->done_total, 5, 10000));
	for (i = 0; i < 4; i++) {
		assert_int_equal(h->calls[i].calls, 1);
		assert_int_equal(h->calls[i].status, 201);
	}
	assert_int_equal(h->calls[4].status, 200);
	assert_int_equal(h->calls[4].body_len, 0);

	assert_int_equal(h->seen_count, 4);
	for (i = 0; i < 4; i++) {
		seen *s = &h->seen[i];

		if (strcmp(s->method, "PUT") == 0) {
			assert_int_equal(s->body_len, len);
			assert_memory_equal(s->body, body, len);
			assert_false(s->has_expect); /* libcurl would ask for 100-continue over 1 MiB or so */
		} else {
			assert_true(strcmp(s->method, "GET") == 0 || strcmp(s->method, "DELETE") == 0 ||
			            strcmp(s->method, "POST") == 0);
			assert_int_equal(s->body_len, 0);
		}
	}
	free(body);
}

static void test_status_and_headers(void **state)
{
	harness *h = *state;

	new_client(h, 0);
	assert_int_equal(send_to(h, 0, "GET", "/busy", 0), 0);
	assert_int_equal(send_to(h, 1, "GET", "/missing", 0), 0);
	assert_true(run_until(h, &h->done_total, 2, 5000));
	assert_int_equal(h->calls[0].status, 503);
	assert_string_equal(h->calls[0].body, "busy");
	assert_false(h->calls[0].has_error);
	/* the name in any case, the value trimmed */
	assert_true(h->calls[0].has_retry_after);
	assert_string_equal(h->calls[0].retry_after, "7");
	assert_int_equal(h->calls[1].status, 404);
	assert_string_equal(h->calls[1].body, "not found");
	assert_false(h->calls[1].has_retry_after);
}

/* public_only (tenant-supplied URLs such as webhooks) never reaches a
 * loopback or private address, whatever the URL says. */
static void test_public_only_refuses_private(void **state)
{
	harness *h = *state;
	static const char *const urls[] = {"http://127.0.0.1:9/x",   "http://10.0.0.1:9/x",
	                                   "http://192.168.1.1:9/x", "http://169.254.169.254/latest",
	                                   "http://[::1]:9/x",       "http://[::ffff:127.0.0.1]:9/"};
	char url[256];
	hclient_request req;

	new_client(h, 0);
	for (int i = 0; i < 6; i++) {
		memset(&req, 0, sizeof req);
		req.url = urls[i];
		req.public_only = true;
		req.timeout_ms = 2000;
		h->calls[i].h = h;
		assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[i]), 0);
	}
	/* and the test server itself, which answers when allowed */
	memset(&req, 0, sizeof req);
	snprintf(url, sizeof url, "%s/busy", h->base);
	req.url = url;
	req.method = "GET";
	req.public_only = true;
	h->calls[6].h = h;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[6]), 0);
	assert_true(run_until(h, &h->done_total, 7, 8000));
	for (int i = 0; i < 7; i++) {
		assert_int_equal(h->calls[i].status, 0);
		assert_true(h->calls[i].has_error);
	}
}

static void test_concurrency_limit(void **state)
{
	harness *h = *state;
	char path[32];
	int i;

	new_client(h, 4);
	for (i = 0; i < 100; i++) {
		snprintf(path, sizeof path, "/slow?i=%d", i);
		assert_int_equal(send_to(h, i, "GET", path, 0), 0);
	}
	assert_int_equal(hclient_pending(h->client), 100);
	assert_true(run_until(h, &h->done_total, 100, 20000));
	for (i = 0; i < 100; i++) {
		char want[16];

		snprintf(want, sizeof want, "n=%d", i);
		assert_int_equal(h->calls[i].calls, 1);
		assert_int_equal(h->calls[i].status, 200);
		assert_string_equal(h->calls[i].body, want);
	}
	assert_int_equal(h->served, 100);
	assert_true(h->max_in_flight <= 4);
	/* and the limit is actually used */
	assert_int_equal(h->max_in_flight, 4);
	assert_int_equal(hclient_pending(h->client), 0);
}

static void test_timeout(void **state)
{
	harness *h = *state;
	uint64_t t0;

	new_client(h, 4);
	t0 = now_ms();
	assert_int_equal(send_to(h, 0, "GET", "/hold", 200), 0);
	assert_true(run_until(h, &h->done_total, 1, 5000));
	assert_int_equal(h->calls[0].calls, 1);
	assert_int_equal(h->calls[0].status, 0);
	assert_true(h->calls[0].has_error);
	assert_true(strlen(h->calls[0].error) > 0);
	assert_true(h->calls[0].done_ms - t0 >= 190);
	assert_true(h->calls[0].done_ms - t0 < 3000);
	assert_int_equal(h->held_count, 1);
}

static void test_connection_refused(void **state)
{
	harness *h = *state;
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof bound;
	uv_tcp_t probe;
	char url[128];
	hclient_request req;

	/* a port that was free a moment ago and now has no listener */
	uv_tcp_init(&h->loop, &probe);
	uv_ip4_addr("127.0.0.1", 0, &addr);
	assert_int_equal(uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_tcp_getsockname(&probe, (struct sockaddr *)&bound, &len), 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(((struct sockaddr_in *)&bound)->sin_port));
	uv_close((uv_handle_t *)&probe, NULL);
	uv_run(&h->loop, UV_RUN_NOWAIT);

	new_client(h, 4);
	memset(&req, 0, sizeof req);
	req.url = url;
	req.timeout_ms = 3000;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), 0);
	assert_true(run_until(h, &h->done_total, 1, 5000));
	assert_int_equal(h->calls[0].calls, 1);
	assert_int_equal(h->calls[0].status, 0);
	assert_true(h->calls[0].has_error);
	assert_string_not_equal(h->calls[0].error, "cancelled");
}

static void test_close_with_requests_in_flight(void **state)
{
	harness *h = *state;
	int i;

	new_client(h, 2);
	for (i = 0; i < 10; i++) {
		assert_int_equal(send_to(h, i, "GET", "/hold", 0), 0);
		h->calls[i].send_in_done = true; /* must be refused while closing */
	}
	assert_true(run_until(h, &h->held_count, 2, 5000));
	assert_int_equal(hclient_pending(h->client), 10);
	assert_int_equal(h->done_total, 0);

	hclient_close(h->client, on_closed, h);
	/* every done ran before close returned; the client is freed later */
	assert_int_equal(h->done_total, 10);
	for (i = 0; i < 10; i++) {
		assert_int_equal(h->calls[i].calls, 1);
		assert_int_equal(h->calls[i].status, 0);
		assert_string_equal(h->calls[i].error, "cancelled");
		assert_int_equal(h->calls[i].send_rc, HERR_SHUTTING_DOWN);
	}
	assert_int_equal(h->closed_calls, 0);
	h->client = NULL;
	assert_true(run_until(h, &h->closed_calls, 1, 5000));
	/* nothing more arrives, and no request beyond the first two ever started */
	for (i = 0; i < 20; i++)
		uv_run(&h->loop, UV_RUN_NOWAIT);
	assert_int_equal(h->done_total, 10);
	assert_int_equal(h->closed_calls, 1);
	assert_int_equal(h->held_count, 2);
}

static void test_close_from_done(void **state)
{
	harness *h = *state;

	new_client(h, 4);
	assert_int_equal(send_to(h, 0, "GET", "/hold", 0), 0);
	assert_int_equal(send_to(h, 1, "GET", "/hold", 0), 0);
	assert_true(run_until(h, &h->held_count, 2, 5000));
	h->calls[2].close_in_done = true;
	assert_int_equal(send_to(h, 2, "GET", "/busy", 0), 0);
	assert_true(run_until(h, &h->done_total, 3, 5000));
	assert_int_equal(h->calls[2].status, 503);
	assert_int_equal(h->calls[0].calls, 1);
	assert_int_equal(h->calls[1].calls, 1);
	assert_string_equal(h->calls[0].error, "cancelled");
	assert_string_equal(h->calls[1].error, "cancelled");
	h->client = NULL;
	assert_true(run_until(h, &h->closed_calls, 1, 5000));
	assert_int_equal(h->done_total, 3);
}

/* A request sent from a done callback queues behind those already waiting. */
static void test_send_from_done_keeps_order(void **state)
{
	harness *h = *state;

	new_client(h, 1);
	h->calls[0].send_in_done = true;
	h->calls[0].chain_path = "c";
	assert_int_equal(send_to(h, 0, "GET", "/order/a", 0), 0); /* its done sends c as calls[1] */
	assert_int_equal(send_to(h, 2, "GET", "/order/b", 0), 0);
	assert_true(run_until(h, &h->done_total, 3, 5000));
	assert_int_equal(h->calls[0].send_rc, 0);
	assert_int_equal(h->calls[1].calls, 1);
	assert_int_equal(h->calls[1].status, 200);
	assert_int_equal(h->calls[2].status, 200);
	assert_string_equal(h->order, "abc");
}

static void test_response_cut(void **state)
{
	harness *h = *state;
	hclient_request req;
	char url[128];

	new_client(h, 4);
	memset(&req, 0, sizeof req);
	snprintf(url, sizeof url, "%s/big", h->base);
	req.method = "GET";
	req.url = url;
	req.max_response = 1000;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), 0);
	req.max_response = BIG_LEN;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[1]), 0);
	req.max_response = 0; /* 64 KiB */
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[2]), 0);
	assert_true(run_until(h, &h->done_total, 3, 5000));

	assert_int_equal(h->calls[0].status, 200);
	assert_false(h->calls[0].has_error);
	assert_int_equal(h->calls[0].truncated, 1);
	assert_int_equal(h->calls[0].body_len, 1000);
	for (size_t i = 0; i < 1000; i++)
		assert_int_equal(h->calls[0].body[i], 'a' + i % 26);

	assert_int_equal(h->calls[1].status, 200);
	assert_int_equal(h->calls[1].truncated, 0);
	assert_int_equal(h->calls[1].body_len, BIG_LEN);

	assert_int_equal(h->calls[2].truncated, 1);
	assert_int_equal(h->calls[2].body_len, HCLIENT_DEFAULT_MAX_RESPONSE);
}

static void test_bad_arguments(void **state)
{
	harness *h = *state;
	static const char *const crlf[] = {"X-A: b\r\nX-Injected: 1", NULL};
	static const char *const lf[] = {"X-A: b\nc", NULL};
	static const char *const nocolon[] = {"X-A b", NULL};
	static const char *const noname[] = {": b", NULL};
	hclient_request req;
	char url[128];

	new_client(h, 4);
	memset(&req, 0, sizeof req);
	snprintf(url, sizeof url, "%s/echo", h->base);
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), HERR_FIELD_INVALID); /* no url */
	req.url = "";
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), HERR_FIELD_INVALID);
	req.url = url;
	assert_int_equal(hclient_send(h->client, &req, NULL, NULL), HERR_FIELD_INVALID);
	assert_int_equal(hclient_send(h->client, NULL, on_done, &h->calls[0]), HERR_FIELD_INVALID);
	req.method = "post";
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), HERR_FIELD_INVALID);
	req.method = "GET /x HTTP/1.1\r\n";
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), HERR_FIELD_INVALID);
	req.method = "";
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), HERR_FIELD_INVALID);
	req.method = "HEAD";
	req.body = "x";
	req.body_len = 1;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), HERR_FIELD_INVALID);
	req.method = NULL;
	req.body = NULL;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), HERR_FIELD_INVALID);
	req.body_len = 0;
	req.headers = crlf;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), HERR_FIELD_INVALID);
	req.headers = lf;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), HERR_FIELD_INVALID);
	req.headers = nocolon;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), HERR_FIELD_INVALID);
	req.headers = noname;
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[0]), HERR_FIELD_INVALID);
	assert_int_equal(hclient_pending(h->client), 0);

	/* refused at run time: reported through done */
	req.headers = NULL;
	req.url = "ftp://127.0.0.1/file";
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[1]), 0);
	req.url = "file:///etc/hostname";
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[2]), 0);
	req.url = "http://[not a url";
	assert_int_equal(hclient_send(h->client, &req, on_done, &h->calls[3]), 0);
	assert_true(run_until(h, &h->done_total, 3, 5000));
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(h->calls[i].calls, 1);
		assert_int_equal(h->calls[i].status, 0);
		assert_true(h->calls[i].has_error);
	}
	assert_int_equal(h->calls[0].calls, 0);
	assert_int_equal(h->served, 0);
}

static void test_close_idle_client(void **state)
{
	harness *h = *state;

	new_client(h, 4);
	hclient_close(h->client, on_closed, h);
	h->client = NULL;
	assert_int_equal(h->closed_calls, 0); /* never from inside close */
	assert_true(run_until(h, &h->closed_calls, 1, 5000));

	/* and one that has served: its kept connection goes too */
	new_client(h, 4);
	assert_int_equal(send_to(h, 0, "GET", "/busy", 0), 0);
	assert_true(run_until(h, &h->done_total, 1, 5000));
	hclient_close(h->client, NULL, NULL);
	h->client = NULL;
	h->closed_calls = 0;
	new_client(h, 4); /* teardown closes this one and expects closed once */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_post_arrives_exactly, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_methods_and_large_body, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_status_and_headers, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_concurrency_limit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_public_only_refuses_private, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_close_with_requests_in_flight, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_close_from_done, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_send_from_done_keeps_order, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_response_cut, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_close_idle_client, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
