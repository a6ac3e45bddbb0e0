/*
 * webhook.c — delivering events to the host's webhook (docs/integration.md).
 *
 * The webhook is a consumer of the event log, like a realtime client: each
 * tenant's webhook has a cursor (the last pos delivered, kept in the
 * database). Once a second the dispatcher reads, in one job, every webhook
 * and the chat events after its cursor, POSTs them one by one in order and
 * moves the cursor after each 2xx. A failure backs off exponentially with
 * jitter (1 s doubling to 10 min) and honours Retry-After; the same event is
 * tried again, so delivery is at least once and in order, and a restart
 * loses nothing (the cursor is durable). Deliveries use the async HTTP
 * client on the loop and never wait for or slow down delivery to users.
 *
 * Each request is signed: X-Herald-Signature: t=<unix seconds>,v1=<hex of
 * HMAC-SHA256(secret, "<t>.<body>")>; X-Herald-Delivery carries the event's
 * pos (an idempotency key for the receiver), X-Herald-Event its type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/i64map.h"
#include "core/log.h"
#include "core/time.h"
#include "push/http_client.h"
#include "svc/chat.h"
#include "svc/svc_internal.h"

#define BATCH          20
#define TICK_MS        1000
#define BACKOFF_MAX_MS (10 * 60 * 1000)
#define TIMEOUT_MS     10000

typedef struct wh_event {
	int64_t pos;
	char type[24];
	char *body;
} wh_event;

typedef struct wh_state {
	int64_t tenant_id;
	char url[STORE_URL_MAX];
	char secret[64];
	int64_t cursor;
	bool busy;
	int attempt;
	int64_t next_try;
	wh_event *queue;
	size_t nqueue, next;
} wh_state;

struct webhooks {
	svc *svc;
	uv_loop_t *loop;
	hclient *http;
	uv_timer_t *tick;
	i64map tenants;
	bool scanning;
	bool stopping;
	bool http_closed;
};

static void wh_maybe_free(struct webhooks *wh);

/* ---- the scan job (pool thread) ---------------------------------------------------- */

typedef struct scan_row {
	store_webhook w;
	wh_event *events;
	size_t n;
} scan_row;

typedef struct scan_job {
	struct webhooks *wh;
	scan_row *rows;
	size_t nrows, cap;
	store_conn *c;
} scan_job;

static int collect_event(void *ud, const store_event *e)
{
	scan_row *r = ud;
	if (!e->chat_id)
		return 0; /* a user's private events (pins, own chat list) stay private */
	wh_event *ev = &r->events[r->n];
	ev->pos = e->id;
	hstrlcpy(ev->type, e->type, sizeof ev->type);
	/* The delivered body is the realtime frame: same shape, same pos. */
	size_t plen = strlen(e->payload);
	ev->body = malloc(plen + 32);
	if (!ev->body)
		return HERR_NOMEM;
	snprintf(ev->body, plen + 32, "{\"v\":1,\"pos\":%lld,%s", (long long)e->id, e->payload + 1);
	r->n++;
	return 0;
}

static int collect_webhook(void *ud, const store_webhook *w)
{
	scan_job *j = ud;
	if (j->nrows == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 8;
		scan_row *n = realloc(j->rows, cap * sizeof *n);
		if (!n)
			return HERR_NOMEM;
		j->rows = n;
		j->cap = cap;
	}
	scan_row *r = &j->rows[j->nrows++];
	memset(r, 0, sizeof *r);
	r->w = *w;
	return 0;
}

static int scan_run(store_conn *c, void *arg)
{
	scan_job *j = arg;
	int rc = store_webhook_list(c, collect_webhook, j);
	for (size_t i = 0; rc == 0 && i < j->nrows; i++) {
		scan_row *r = &j->rows[i];
		/* (Tenants with a delivery running get their rows dropped on the
		 * loop: the state map belongs to the loop thread.) */
		if (!(r->events = calloc(BATCH, sizeof *r->events)))
			return HERR_NOMEM;
		rc = store_event_tenant(c, r->w.tenant_id, r->w.cursor, BATCH, collect_event, r);
	}
	return rc;
}

/* ---- delivery (loop) ----------------------------------------------------------------- */

static void deliver_next(struct webhooks *wh, wh_state *st);

static void free_queue(wh_state *st)
{
	for (size_t i = 0; i < st->nqueue; i++)
		free(st->queue[i].body);
	free(st->queue);
	st->queue = NULL;
	st->nqueue = st->next = 0;
}

typedef struct advance_job {
	int64_t tenant_id, cursor;
} advance_job;

static int advance_run(store_conn *c, void *arg)
{
	advance_job *a = arg;
	return store_webhook_advance(c, a->tenant_id, a->cursor);
}

static void advance_done(void *arg, int rc)
{
	if (rc)
		hlog_msg(HLOG_WARN, "webhook_cursor", "could not record the delivery cursor: %s", herr_name(rc));
	free(arg);
}

static void persist_cursor(struct webhooks *wh, wh_state *st)
{
	advance_job *a = malloc(sizeof *a);
	if (!a)
		return;
	a->tenant_id = st->tenant_id;
	a->cursor = st->cursor;
	store_write(wh->svc->store, advance_run, advance_done, a);
}

typedef struct post_ctx {
	struct webhooks *wh;
	int64_t tenant_id;
} post_ctx;

static int64_t retry_after_ms(const hclient_response *res)
{
	if (!res->retry_after)
		return 0;
	char *end;
	long s = strtol(res->retry_after, &end, 10);
	return *end == '\0' && s > 0 && s < 86400 ? s * 1000LL : 0;
}

static void on_posted(void *ud, const hclient_response *res)
{
	post_ctx *p = ud;
	struct webhooks *wh = p->wh;
	wh_state *st = i64map_get(&wh->tenants, p->tenant_id);
	free(p);
	if (!st || wh->stopping) {
		if (st)
			st->busy = false;
		return;
	}
	wh_event *ev = &st->queue[st->next];
	hlog_line l;
	bool ok = res->status >= 200 && res->status < 300;
	hlog_begin(&l, ok ? HLOG_INFO : HLOG_WARN, "webhook");
	hlog_int(&l, "tenant", st->tenant_id);
	hlog_int(&l, "pos", ev->pos);
	hlog_int(&l, "status", res->status);
	if (res->error)
		hlog_str(&l, "error", res->error);
	hlog_end(&l);
	if (ok) {
		st->cursor = ev->pos;
		st->attempt = 0;
		st->next++;
		deliver_next(wh, st);
		return;
	}
	/* Exponential backoff with jitter; the event is retried first. */
	int64_t backoff = 1000LL << (st->attempt < 20 ? st->attempt : 20);
	if (backoff > BACKOFF_MAX_MS)
		backoff = BACKOFF_MAX_MS;
	backoff = backoff / 2 + hcrypto_random_below((uint32_t)(backoff / 2 + 1));
	int64_t ra = retry_after_ms(res);
	st->attempt++;
	st->next_try = htime_now_ms() + (ra > backoff ? ra : backoff);
	if (st->next > 0)
		persist_cursor(wh, st);
	free_queue(st);
	st->busy = false;
}

static int post_event(struct webhooks *wh, wh_state *st, const char *type, int64_t pos, const char *body,
                      hclient_done_fn done, void *ud)
{
	char ts[24], sig_hdr[160], event_hdr[64], delivery_hdr[48], msg_prefix[32];
	int64_t now_s = htime_now_ms() / 1000;
	snprintf(ts, sizeof ts, "%lld", (long long)now_s);
	/* HMAC over "<t>.<body>" without building the concatenation twice. */
	size_t blen = strlen(body);
	int pl = snprintf(msg_prefix, sizeof msg_prefix, "%s.", ts);
	char *msg = malloc((size_t)pl + blen);
	if (!msg)
		return HERR_NOMEM;
	memcpy(msg, msg_prefix, (size_t)pl);
	memcpy(msg + pl, body, blen);
	uint8_t mac[32];
	char hex[65];
	hcrypto_hmac((const uint8_t *)st->secret, strlen(st->secret), msg, (size_t)pl + blen, mac);
	free(msg);
	hcodec_hex_encode(mac, sizeof mac, hex);
	snprintf(sig_hdr, sizeof sig_hdr, "X-Herald-Signature: t=%s,v1=%s", ts, hex);
	snprintf(event_hdr, sizeof event_hdr, "X-Herald-Event: %s", type);
	snprintf(delivery_hdr, sizeof delivery_hdr, "X-Herald-Delivery: %lld", (long long)pos);
	const char *headers[] = {"Content-Type: application/json", sig_hdr, event_hdr, delivery_hdr, NULL};
	hclient_request req = {.method = "POST",
	                       .url = st->url,
	                       .headers = headers,
	                       .body = body,
	                       .body_len = blen,
	                       .timeout_ms = TIMEOUT_MS,
	                       .max_response = 4096,
	                       .public_only = !wh->svc->webhooks_allow_private};
	return hclient_send(wh->http, &req, done, ud);
}

static void deliver_next(struct webhooks *wh, wh_state *st)
{
	if (st->next >= st->nqueue) {
		if (st->nqueue)
			persist_cursor(wh, st);
		free_queue(st);
		st->busy = false;
		return;
	}
	st->busy = true;
	wh_event *ev = &st->queue[st->next];
	post_ctx *p = malloc(sizeof *p);
	if (p) {
		p->wh = wh;
		p->tenant_id = st->tenant_id;
	}
	if (!p || post_event(wh, st, ev->type, ev->pos, ev->body, on_posted, p) != 0) {
		free(p);
		free_queue(st);
		st->busy = false;
	}
}

static void scan_done(void *arg, int rc)
{
	scan_job *j = arg;
	struct webhooks *wh = j->wh;
	wh->scanning = false;
	if (wh->stopping)
		rc = HERR_SHUTTING_DOWN; /* drop the rows, deliver nothing */
	int64_t now = htime_now_ms();
	for (size_t i = 0; i < j->nrows; i++) {
		scan_row *r = &j->rows[i];
		wh_state *st = i64map_get(&wh->tenants, r->w.tenant_id);
		if (!st && rc == 0 && !wh->stopping) {
			st = calloc(1, sizeof *st);
			if (st && i64map_put(&wh->tenants, r->w.tenant_id, st) != 0) {
				free(st);
				st = NULL;
			}
		}
		bool take = st && rc == 0 && !wh->stopping && !st->busy && !st->nqueue;
		if (st && !st->busy) {
			if (strcmp(st->url, r->w.url) != 0 || strcmp(st->secret, r->w.secret) != 0) {
				st->attempt = 0; /* a new configuration starts afresh */
				st->next_try = 0;
			}
			st->tenant_id = r->w.tenant_id;
			hstrlcpy(st->url, r->w.url, sizeof st->url);
			hstrlcpy(st->secret, r->w.secret, sizeof st->secret);
			st->cursor = r->w.cursor;
		}
		if (take && r->n && now >= st->next_try) {
			st->queue = r->events;
			st->nqueue = r->n;
			st->next = 0;
			r->events = NULL;
			deliver_next(wh, st);
		}
		for (size_t e = 0; r->events && e < r->n; e++)
			free(r->events[e].body);
		free(r->events);
	}
	free(j->rows);
	free(j);
	if (wh->stopping)
		wh_maybe_free(wh);
}

static void on_tick(uv_timer_t *t)
{
	struct webhooks *wh = t->data;
	if (wh->scanning || wh->stopping)
		return;
	scan_job *j = calloc(1, sizeof *j);
	if (!j)
		return;
	j->wh = wh;
	wh->scanning = true;
	store_read(wh->svc->store, scan_run, scan_done, j);
}

void svc_webhooks_allow_private(svc *s, bool allow)
{
	s->webhooks_allow_private = allow;
}

int svc_webhooks_start(svc *s, uv_loop_t *loop)
{
	struct webhooks *wh = calloc(1, sizeof *wh);
	if (!wh)
		return HERR_NOMEM;
	wh->svc = s;
	wh->loop = loop;
	wh->tick = malloc(sizeof *wh->tick);
	if (!wh->tick || hclient_new(loop, 8, &wh->http) != 0) {
		free(wh->tick);
		free(wh);
		return HERR_NOMEM;
	}
	uv_timer_init(loop, wh->tick);
	wh->tick->data = wh;
	uv_timer_start(wh->tick, on_tick, TICK_MS, TICK_MS);
	uv_unref((uv_handle_t *)wh->tick);
	s->webhooks = wh;
	return 0;
}

static void free_state(void *ud, int64_t key, void *val)
{
	(void)ud;
	(void)key;
	wh_state *st = val;
	free_queue(st);
	free(st);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

/* Freed only when both the HTTP client is closed and no scan job is out:
 * a scan completes on the loop after the store finished its thread part. */
static void wh_maybe_free(struct webhooks *wh)
{
	if (!wh->stopping || !wh->http_closed || wh->scanning)
		return;
	i64map_each(&wh->tenants, free_state, NULL);
	i64map_free(&wh->tenants);
	free(wh);
}

static void http_closed(void *ud)
{
	struct webhooks *wh = ud;
	wh->http_closed = true;
	wh_maybe_free(wh);
}

void svc_webhooks_stop(svc *s)
{
	struct webhooks *wh = s->webhooks;
	if (!wh)
		return;
	s->webhooks = NULL;
	wh->stopping = true;
	uv_timer_stop(wh->tick);
	uv_close((uv_handle_t *)wh->tick, free_handle);
	/* In-flight posts are cancelled; their events are delivered again
	 * after the restart (at least once). */
	hclient_close(wh->http, http_closed, wh);
}

/* ---- test delivery ---------------------------------------------------------------------- */

typedef struct test_ctx {
	svc_call get; /* first member: the GET of the configuration */
	svc_call *caller;
	wh_state st;
} test_ctx;

static void test_posted(void *ud, const hclient_response *res)
{
	test_ctx *t = ud;
	svc_call *k = t->caller;
	k->result =
	        json_pack("{s:i,s:b,s:o}", "status", (int)res->status, "ok", res->status >= 200 && res->status < 300,
	                  "error", res->error ? json_string(res->error) : json_null());
	k->done(k);
	free(t);
}

static void test_got(svc_call *g)
{
	test_ctx *t = (test_ctx *)g;
	svc_call *k = t->caller;
	svc *s = g->svc_;
	if (g->err || !s->webhooks) {
		k->err = g->err ? g->err : HERR_SHUTTING_DOWN;
		hstrlcpy(k->err_detail, g->err_detail, sizeof k->err_detail);
		svc_call_free_results(g);
		k->done(k);
		free(t);
		return;
	}
	/* The stored configuration, with its secret, from the database. */
	const char *url = json_string_value(json_object_get(g->result, "url"));
	hstrlcpy(t->st.url, url ? url : "", sizeof t->st.url);
	hstrlcpy(t->st.secret, g->staged_, sizeof t->st.secret);
	hstrlcpy(k->tenant_inn, g->tenant_inn, sizeof k->tenant_inn);
	svc_call_free_results(g);
	char body[160];
	char at[32];
	htime_format_iso(htime_now_ms(), 0, at);
	snprintf(body, sizeof body, "{\"v\":1,\"pos\":0,\"type\":\"test\",\"at\":\"%s\"}", at);
	if (post_event(s->webhooks, &t->st, "test", 0, body, test_posted, t) != 0) {
		k->err = HERR_INTERNAL;
		k->done(k);
		free(t);
	}
}

void svc_webhook_test(svc *s, svc_call *k)
{
	test_ctx *t = calloc(1, sizeof *t);
	if (!t) {
		k->err = HERR_NOMEM;
		k->done(k);
		return;
	}
	t->caller = k;
	t->get.done = test_got;
	t->get.token = k->token;
	t->get.lang = k->lang;
	hstrlcpy(t->get.q_user, "\x01secret", sizeof t->get.q_user); /* ask for the secret (internal) */
	svc_v2(s, &t->get, V2_WEBHOOK_GET);
}
