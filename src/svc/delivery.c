/*
 * delivery.c — the push queue: sending queued deliveries to devices.
 *
 * A message's delivery records are written in the message's own transaction
 * (store_delivery_enqueue_*), so the queue is durable from the moment the
 * message is: a restart loses nothing. Four times a second the dispatcher
 * reads the deliveries that are due, sends each (Web Push now: RFC 8291
 * encryption, VAPID), and records the answer in a write job: sent (and the
 * message's send date), retry later (exponential backoff with jitter,
 * honouring Retry-After), dead device (404/410: the device is marked dead
 * and gets nothing more) or failed.
 *
 * Guarantee: a delivery recorded as sent is never sent again. A delivery
 * whose push the service accepted but whose "sent" was not yet committed
 * when the process died is sent once more after the restart; it carries the
 * same Topic header (the delivery id), so a push service that still holds
 * the first copy replaces it instead of showing two.
 *
 * The dispatcher runs beside chat delivery and never in its way: its HTTP
 * requests go through the async client on the loop, and its storage work is
 * ordinary jobs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/i64map.h"
#include "core/log.h"
#include "core/time.h"
#include "core/validate.h"
#include "push/apns.h"
#include "push/fcm.h"
#include "push/http_client.h"
#include "push/webpush.h"
#include "svc/chat.h"
#include "svc/svc_internal.h"

#define TICK_MS        250
#define BATCH          100
#define TTL_S          86400
#define BACKOFF_MAX_MS (30 * 60 * 1000)
#define ATTEMPTS_MAX   12

typedef struct push_job {
	int64_t id, message_id, chat_id, seq, unread;
	int attempts;
	char kind[16];
	char *title, *body; /* FCM and APNs build their own payloads */
	char *endpoint;     /* webpush: the endpoint; fcm/apns: the device token */
	webpush_keys keys;
	char *payload;
} push_job;

struct deliveries {
	svc *svc;
	hclient *http;
	uv_timer_t *tick;
	const webpush_vapid *vapid;
	fcm_client *fcm;
	apns_client *apns;
	char subject[256];
	bool allow_private;
	i64map inflight; /* delivery id → push_job being sent */
	bool scanning, stopping, http_closed;
};

static void deliveries_maybe_free(struct deliveries *d);

/* ---- reading what is due (pool thread) ---------------------------------------------- */

typedef struct scan {
	struct deliveries *d;
	push_job *jobs;
	size_t n;
} scan;

static int collect_due(void *ud, const store_due *x)
{
	scan *s = ud;
	push_job *j = &s->jobs[s->n];
	memset(j, 0, sizeof *j);
	j->id = x->id;
	j->message_id = x->message_id;
	j->chat_id = x->chat_id;
	j->seq = x->seq;
	j->attempts = x->attempts;
	j->unread = x->unread;
	hstrlcpy(j->kind, x->kind, sizeof j->kind);
	if (strcmp(x->kind, "webpush") == 0) {
		if (webpush_keys_from_b64(x->p256dh, x->auth, &j->keys) == 0)
			j->endpoint = strdup(x->token);
	} else {
		j->endpoint = strdup(x->token);
		j->title = strdup(x->title ? x->title : "");
		j->body = strdup(x->body ? x->body : "");
	}
	/* What the service worker shows: title and text cut to fit one record
	 * (the payload never exceeds WEBPUSH_PLAINTEXT_MAX, cut on a character
	 * boundary), the chat and seq to open, and the delivery id to ack. */
	json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "title", x->title ? x->title : "", "body",
	                      x->body ? x->body : "", "chat", (json_int_t)x->chat_id, "seq", (json_int_t)x->seq,
	                      "delivery", (json_int_t)x->id, "badge", (json_int_t)x->unread);
	char *p = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (p && strlen(p) > WEBPUSH_PLAINTEXT_MAX) {
		free(p);
		size_t room = 3000;
		const char *body = x->body ? x->body : "";
		char *cut = strndup(body, hval_utf8_prefix(body, strlen(body), room));
		o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "title", x->title ? x->title : "", "body", cut ? cut : "",
		              "chat", (json_int_t)x->chat_id, "seq", (json_int_t)x->seq, "delivery", (json_int_t)x->id,
		              "badge", (json_int_t)x->unread);
		free(cut);
		p = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
	j->payload = p;
	s->n++;
	return 0;
}

static int scan_run(store_conn *c, void *arg)
{
	scan *s = arg;
	return store_delivery_due(c, htime_now_ms(), BATCH, collect_due, s);
}

/* ---- recording answers --------------------------------------------------------------- */

typedef struct result_job {
	int64_t id;
	store_delivery_outcome outcome;
	char reason[96];
	int64_t next_try;
} result_job;

typedef struct result_ctx {
	struct deliveries *d;
	result_job r;
} result_ctx;

static int result_run(store_conn *c, void *arg)
{
	result_job *r = &((result_ctx *)arg)->r;
	return store_delivery_result(c, r->id, r->outcome, r->reason[0] ? r->reason : NULL, r->next_try,
	                             htime_now_ms());
}

static void result_done(void *arg, int rc)
{
	result_ctx *x = arg;
	if (rc)
		hlog_msg(HLOG_WARN, "delivery_record", "could not record delivery %lld: %s", (long long)x->r.id,
		         herr_name(rc));
	/* Only now may a later scan pick the delivery up again (if it was
	 * not recorded, it is still queued and will be retried). */
	push_job *j = i64map_del(&x->d->inflight, x->r.id);
	if (j) {
		free(j->endpoint);
		free(j->payload);
		free(j->title);
		free(j->body);
		free(j);
	}
	struct deliveries *d = x->d;
	free(x);
	deliveries_maybe_free(d);
}

static void record(struct deliveries *d, push_job *j, store_delivery_outcome outcome, const char *reason,
                   int64_t retry_after_ms)
{
	result_ctx *x = calloc(1, sizeof *x);
	if (!x)
		return;
	x->d = d;
	x->r.id = j->id;
	x->r.outcome = outcome;
	hstrlcpy(x->r.reason, reason ? reason : "", sizeof x->r.reason);
	if (outcome == STORE_RETRY) {
		if (j->attempts + 1 >= ATTEMPTS_MAX) {
			x->r.outcome = STORE_FAILED;
			hstrlcpy(x->r.reason, "gave up after retries", sizeof x->r.reason);
		}
		int64_t backoff = 1000LL << (j->attempts < 20 ? j->attempts : 20);
		if (backoff > BACKOFF_MAX_MS)
			backoff = BACKOFF_MAX_MS;
		backoff = backoff / 2 + hcrypto_random_below((uint32_t)(backoff / 2 + 1));
		x->r.next_try = htime_now_ms() + (retry_after_ms > backoff ? retry_after_ms : backoff);
	}
	store_write(d->svc->store, result_run, result_done, x);
}

/* ---- sending --------------------------------------------------------------------------- */

typedef struct send_ctx {
	struct deliveries *d;
	int64_t id;
	uint8_t *body;
} send_ctx;

static int64_t retry_after(const hclient_response *res)
{
	if (!res->retry_after)
		return 0;
	char *end;
	long s = strtol(res->retry_after, &end, 10);
	return *end == '\0' && s > 0 && s < 86400 ? s * 1000LL : 0;
}

static void on_sent(void *ud, const hclient_response *res)
{
	send_ctx *x = ud;
	struct deliveries *d = x->d;
	push_job *j = i64map_get(&d->inflight, x->id);
	free(x->body);
	free(x);
	if (!j)
		return;
	char reason[96];
	long st = res->status;
	hlog_line l;
	hlog_begin(&l, st >= 200 && st < 300 ? HLOG_INFO : HLOG_WARN, "push");
	hlog_int(&l, "delivery", j->id);
	hlog_str(&l, "channel", "webpush");
	hlog_int(&l, "status", st);
	if (res->error)
		hlog_str(&l, "error", res->error);
	hlog_end(&l);
	if (st == 200 || st == 201 || st == 202) {
		record(d, j, STORE_SENT, NULL, 0);
	} else if (st == 404 || st == 410) {
		/* RFC 8030: the subscription is gone; never send to it again. */
		snprintf(reason, sizeof reason, "subscription gone (%ld)", st);
		record(d, j, STORE_DEAD, reason, 0);
	} else if (st == 0 || st == 429 || st >= 500) {
		snprintf(reason, sizeof reason, st ? "push service answered %ld" : "push service unreachable", st);
		record(d, j, STORE_RETRY, reason, retry_after(res));
	} else {
		snprintf(reason, sizeof reason, "push service refused (%ld)", st);
		record(d, j, STORE_FAILED, reason, 0);
	}
}

/* FCM and APNs answer with a provider-neutral result. */
typedef struct provider_ctx {
	struct deliveries *d;
	int64_t id;
	char channel[8];
} provider_ctx;

static void on_provider(void *ud, const push_result *r)
{
	provider_ctx *x = ud;
	struct deliveries *d = x->d;
	push_job *j = i64map_get(&d->inflight, x->id);
	hlog_line l;
	hlog_begin(&l, r->outcome == PUSH_OK ? HLOG_INFO : HLOG_WARN, "push");
	hlog_int(&l, "delivery", x->id);
	hlog_str(&l, "channel", x->channel);
	hlog_int(&l, "status", r->http_status);
	hlog_str(&l, "outcome", push_outcome_name(r->outcome));
	if (r->reason[0])
		hlog_str(&l, "reason", r->reason);
	hlog_end(&l);
	free(x);
	if (!j)
		return;
	switch (r->outcome) {
	case PUSH_OK:
		record(d, j, STORE_SENT, NULL, 0);
		break;
	case PUSH_RETRY:
		record(d, j, STORE_RETRY, r->reason, r->retry_after_ms);
		break;
	case PUSH_DEAD_TOKEN:
		record(d, j, STORE_DEAD, r->reason[0] ? r->reason : "token dead", 0);
		break;
	default:
		record(d, j, STORE_FAILED, r->reason[0] ? r->reason : "refused", 0);
		break;
	}
}

static void send_native(struct deliveries *d, push_job *j)
{
	provider_ctx *x = calloc(1, sizeof *x);
	if (!x) {
		record(d, j, STORE_RETRY, "out of memory", 0);
		return;
	}
	x->d = d;
	x->id = j->id;
	hstrlcpy(x->channel, j->kind, sizeof x->channel);
	char chat[24], seq[24], delivery[24], collapse[32];
	snprintf(chat, sizeof chat, "%lld", (long long)j->chat_id);
	snprintf(seq, sizeof seq, "%lld", (long long)j->seq);
	snprintf(delivery, sizeof delivery, "%lld", (long long)j->id);
	snprintf(collapse, sizeof collapse, "d%lld", (long long)j->id);
	const push_kv data[] = {{"chat", chat}, {"seq", seq}, {"delivery", delivery}};
	int rc;
	if (strcmp(j->kind, "fcm") == 0) {
		fcm_message m = {.title = j->title,
		                 .body = j->body,
		                 .data = data,
		                 .data_count = 3,
		                 .collapse_key = collapse,
		                 .ttl_s = TTL_S,
		                 .has_badge = true,
		                 .badge = (int)j->unread};
		rc = fcm_send(d->fcm, j->endpoint, &m, on_provider, x);
	} else {
		apns_message m = {.type = APNS_PUSH_ALERT,
		                  .title = j->title,
		                  .body = j->body,
		                  .has_badge = true,
		                  .badge = (int)j->unread,
		                  .data = data,
		                  .data_count = 3,
		                  .expiration = htime_now_ms() / 1000 + TTL_S,
		                  .collapse_id = collapse};
		rc = apns_send(d->apns, j->endpoint, &m, on_provider, x);
	}
	if (rc != 0) {
		free(x);
		record(d, j, STORE_RETRY, "could not start the request", 0);
	}
}

static void send_one(struct deliveries *d, push_job *j)
{
	if ((strcmp(j->kind, "fcm") == 0 && d->fcm) || (strcmp(j->kind, "apns") == 0 && d->apns)) {
		if (!j->endpoint || !j->title || !j->body)
			record(d, j, STORE_RETRY, "out of memory", 0);
		else
			send_native(d, j);
		return;
	}
	if (strcmp(j->kind, "webpush") != 0) {
		record(d, j, STORE_FAILED, "no provider configured for this device", 0);
		return;
	}
	if (!j->endpoint || !j->payload) {
		record(d, j, STORE_FAILED, "not a usable Web Push subscription", 0);
		return;
	}
	send_ctx *x = calloc(1, sizeof *x);
	size_t body_len = 0;
	if (!x ||
	    webpush_encrypt(&j->keys, (const uint8_t *)j->payload, strlen(j->payload), &x->body, &body_len) != 0) {
		free(x);
		record(d, j, STORE_FAILED, "could not encrypt", 0);
		return;
	}
	x->d = d;
	x->id = j->id;
	char auth[WEBPUSH_VAPID_HEADER_MAX + 32], vapid[WEBPUSH_VAPID_HEADER_MAX];
	if (webpush_vapid_header(d->vapid, j->endpoint, d->subject[0] ? d->subject : NULL, htime_now_ms() / 1000,
	                         12 * 3600, vapid, sizeof vapid) != 0) {
		free(x->body);
		free(x);
		record(d, j, STORE_FAILED, "endpoint not usable for VAPID", 0);
		return;
	}
	snprintf(auth, sizeof auth, "Authorization: %s", vapid);
	char ttl[32], topic[48];
	snprintf(ttl, sizeof ttl, "TTL: %d", TTL_S);
	/* The same delivery always has the same Topic: a repeat replaces an
	 * undelivered first copy at the push service. */
	snprintf(topic, sizeof topic, "Topic: d%lld", (long long)j->id);
	const char *headers[] = {auth,
	                         ttl,
	                         topic,
	                         "Urgency: high",
	                         "Content-Encoding: aes128gcm",
	                         "Content-Type: application/octet-stream",
	                         NULL};
	hclient_request req = {.method = "POST",
	                       .url = j->endpoint,
	                       .headers = headers,
	                       .body = x->body,
	                       .body_len = body_len,
	                       .timeout_ms = 15000,
	                       .max_response = 4096,
	                       .public_only = !d->allow_private};
	if (hclient_send(d->http, &req, on_sent, x) != 0) {
		free(x->body);
		free(x);
		record(d, j, STORE_RETRY, "could not start the request", 0);
	}
}

static void scan_done(void *arg, int rc)
{
	scan *s = arg;
	struct deliveries *d = s->d;
	d->scanning = false;
	for (size_t i = 0; i < s->n; i++) {
		push_job *j = &s->jobs[i];
		if (rc == 0 && !d->stopping && !i64map_get(&d->inflight, j->id)) {
			push_job *own = malloc(sizeof *own);
			if (own && i64map_put(&d->inflight, j->id, own) == 0) {
				*own = *j;
				send_one(d, own);
				continue;
			}
			free(own);
		}
		free(j->endpoint);
		free(j->payload);
		free(j->title);
		free(j->body);
	}
	free(s->jobs);
	free(s);
	deliveries_maybe_free(d);
}

static void on_tick(uv_timer_t *t)
{
	struct deliveries *d = t->data;
	if (d->scanning || d->stopping || d->inflight.count > 4 * BATCH)
		return;
	scan *s = calloc(1, sizeof *s);
	if (!s || !(s->jobs = calloc(BATCH, sizeof *s->jobs))) {
		free(s);
		return;
	}
	s->d = d;
	d->scanning = true;
	store_read(d->svc->store, scan_run, scan_done, s);
}

int svc_deliveries_start(svc *s, uv_loop_t *loop, const webpush_vapid *vapid, const char *subject, bool allow_private,
                         fcm_client *fcm, apns_client *apns)
{
	struct deliveries *d = calloc(1, sizeof *d);
	if (!d)
		return HERR_NOMEM;
	d->svc = s;
	d->vapid = vapid;
	d->fcm = fcm;
	d->apns = apns;
	s->push_kinds = STORE_PUSH_WEBPUSH | (fcm ? STORE_PUSH_FCM : 0) | (apns ? STORE_PUSH_APNS : 0);
	d->allow_private = allow_private;
	hstrlcpy(d->subject, subject ? subject : "", sizeof d->subject);
	d->tick = malloc(sizeof *d->tick);
	if (!d->tick || hclient_new(loop, 16, &d->http) != 0) {
		free(d->tick);
		free(d);
		return HERR_NOMEM;
	}
	uv_timer_init(loop, d->tick);
	d->tick->data = d;
	uv_timer_start(d->tick, on_tick, TICK_MS, TICK_MS);
	uv_unref((uv_handle_t *)d->tick);
	s->deliveries = d;
	return 0;
}

static void deliveries_maybe_free(struct deliveries *d)
{
	if (!d->stopping || !d->http_closed || d->scanning || d->inflight.count)
		return;
	i64map_free(&d->inflight);
	free(d);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

static void http_closed(void *ud)
{
	struct deliveries *d = ud;
	d->http_closed = true;
	/* Sends cancelled by the close were recorded as retries: they stay
	 * queued and go out after the restart. Each in-flight job leaves the
	 * map when its recording completes; the last one frees d. */
	deliveries_maybe_free(d);
}

void svc_deliveries_stop(svc *s)
{
	struct deliveries *d = s->deliveries;
	if (!d)
		return;
	s->deliveries = NULL;
	d->stopping = true;
	uv_timer_stop(d->tick);
	uv_close((uv_handle_t *)d->tick, free_handle);
	/* The providers report their cancelled sends (retries: they stay
	 * queued) before their close returns. */
	if (d->fcm)
		fcm_client_close(d->fcm, NULL, NULL);
	if (d->apns)
		apns_client_close(d->apns, NULL, NULL);
	hclient_close(d->http, http_closed, d);
}
