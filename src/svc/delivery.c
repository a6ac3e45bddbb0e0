/*
 * delivery.c — the push queue: sending queued deliveries to devices, and
 * the SMS fallback of urgent messages.
 *
 * A message's delivery records are written in the message's own transaction
 * (store_delivery_enqueue_*), so the queue is durable from the moment the
 * message is: a restart loses nothing. The dispatcher reads what is due per
 * provider (Web Push, FCM, APNs), at most as many as the provider's
 * concurrency limit leaves room for, sends each, and records the answer in a
 * write job: sent (and the message's send date), retry later (exponential
 * backoff with jitter, honouring Retry-After), dead device (the device is
 * marked dead and gets nothing more) or failed. It reads again four times a
 * second, and at once when a send finished and the last read filled the
 * room (a backlog is drained at the providers' pace, not the timer's).
 *
 * Before sending, two rules of the recipient's: a user with a live realtime
 * connection already has the message (push.while_online decides whether
 * devices still get a push; the delivery is recorded as delivered "live"
 * otherwise), and quiet hours hold a push until they end (urgent messages
 * excepted).
 *
 * Guarantee: a delivery recorded as sent is never sent again. A delivery
 * whose push the service accepted but whose "sent" was not yet committed
 * when the process died is sent once more after the restart; it carries the
 * same Topic header / collapse id (the delivery id), so a push service that
 * still holds the first copy replaces it instead of showing two.
 *
 * Dead-token guard: a provider that suddenly declares most tokens dead is
 * more likely misconfigured (credentials of another project, sandbox versus
 * production) than facing a mass uninstall. When, within a minute, at least
 * DEAD_GUARD_MIN answers are "dead" and they are half or more of all its
 * answers, the guard trips for DEAD_GUARD_HOLD_MS: further "dead" answers
 * are retried later instead of marking devices, and an error is logged.
 *
 * SMS fallback: an urgent message has one row per recipient with a phone,
 * due push.sms_fallback_after after it was sent. When due, a recipient who
 * has not taken it (no device confirmed it, no read receipt passed it, no
 * live connection now) gets it by SMS. A row is claimed ('sending') in a
 * write job before the SMS goes out, so it goes out once; a crash between
 * the claim and the answer sends it again after the restart (at least once).
 *
 * The dispatcher runs beside chat delivery and never in its way: its HTTP
 * requests go through the async client on the loop, and its storage work is
 * ordinary jobs.
 */
#include <stddef.h>
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
#include "push/sms.h"
#include "push/webpush.h"
#include "svc/chat.h"
#include "svc/svc_internal.h"

#define TICK_MS              250
#define BATCH                256
#define TTL_S                86400
#define BACKOFF_MAX_MS       (30 * 60 * 1000)
#define ATTEMPTS_MAX         12
#define DEFAULT_CONCURRENCY  64
#define DEAD_GUARD_WINDOW_MS (60 * 1000)
#define DEAD_GUARD_MIN       20
#define DEAD_GUARD_HOLD_MS   (10 * 60 * 1000)
#define SMS_TICKS            4 /* the SMS fallback is looked at once a second */
#define SMS_BATCH            50
#define SMS_TEXT_MAX         480

static const char *const kind_names[SVC_PUSH_KINDS] = {"webpush", "fcm", "apns"};

typedef struct push_job {
	int64_t id, message_id, chat_id, seq, unread, user_id;
	int attempts;
	int kind; /* SVC_PUSH_* */
	bool urgent, notification;
	bool has_quiet;
	int quiet_from, quiet_to, quiet_offset;
	char *title, *body; /* FCM and APNs build their own payloads */
	char *endpoint;     /* webpush: the endpoint; fcm/apns: the device token */
	webpush_keys keys;
	char *payload;
} push_job;

/* Counters for /metrics, per provider. */
typedef struct provider_stats {
	uint64_t sent, retried, dead, failed, held, live, guarded;
} provider_stats;

typedef struct provider {
	bool enabled;
	int limit;    /* requests in flight at most */
	int inflight; /* jobs taken from the queue and not yet recorded */
	bool backlog; /* the last read filled the room: read again when room frees */
	/* dead-token guard */
	int64_t window_start;
	int answers, dead;
	int64_t tripped_until;
	provider_stats stats;
} provider;

/* VAPID headers per push-service origin: a signed JWT is valid 12 hours
 * and names only the origin, so one signature serves every push to that
 * service for an hour instead of an ES256 signature per push. */
#define VAPID_CACHE     16
#define VAPID_REUSE_S   3600
#define VAPID_JWT_TTL_S (12 * 3600)

typedef struct vapid_entry {
	char origin[272];
	int64_t made_s;
	char header[WEBPUSH_VAPID_HEADER_MAX + 32];
} vapid_entry;

typedef struct id_list {
	int64_t *v;
	size_t n, cap;
} id_list;

struct deliveries {
	svc *svc;
	uv_loop_t *loop;
	hclient *http;
	uv_timer_t *tick;
	const webpush_vapid *vapid;
	fcm_client *fcm;
	apns_client *apns;
	char subject[256];
	bool allow_private;
	svc_push_online while_online;
	provider prov[SVC_PUSH_KINDS];
	i64map inflight; /* delivery id → push_job being sent */
	vapid_entry vapid_cache[VAPID_CACHE];
	/* Ids recorded while a read was running: that read may still have seen
	 * them queued, so its rows for them are dropped. */
	id_list done_during_scan;
	bool scanning, stopping, http_closed;
	/* SMS fallback */
	unsigned ticks;
	bool sms_busy, sms_recovered;
	int sms_inflight;
	uint64_t sms_sent, sms_skipped, sms_failed;
};

static void deliveries_maybe_free(struct deliveries *d);
static void start_scan(struct deliveries *d);

static void job_free(push_job *j)
{
	free(j->endpoint);
	free(j->payload);
	free(j->title);
	free(j->body);
}

static int id_list_add(id_list *l, int64_t id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		int64_t *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return HERR_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = id;
	return 0;
}

static bool id_list_has(const id_list *l, int64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == id)
			return true;
	return false;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* ---- reading what is due (pool thread) ---------------------------------------------- */

typedef struct scan {
	struct deliveries *d;
	int64_t *busy; /* sorted ids in flight when the read started (skipped) */
	size_t busy_n;
	int room[SVC_PUSH_KINDS];
	int got[SVC_PUSH_KINDS];
	int kind; /* the kind being read (collect_due) */
	push_job *jobs;
	size_t n;
} scan;

static bool scan_skip(void *ud, int64_t id)
{
	scan *s = ud;
	return s->busy_n && bsearch(&id, s->busy, s->busy_n, sizeof id, cmp_i64) != NULL;
}

static void busy_collect(void *ud, int64_t key, void *val)
{
	(void)val;
	scan *s = ud;
	s->busy[s->busy_n++] = key;
}

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
	j->user_id = x->user_id;
	j->kind = s->kind;
	j->urgent = x->urgent;
	j->notification = x->notification;
	j->has_quiet = x->has_quiet;
	j->quiet_from = x->quiet_from;
	j->quiet_to = x->quiet_to;
	j->quiet_offset = x->quiet_offset;
	s->got[s->kind]++;
	s->n++;
	if (s->kind == SVC_PUSH_WEBPUSH) {
		if (webpush_keys_from_b64(x->p256dh, x->auth, &j->keys) == 0)
			j->endpoint = strdup(x->token);
	} else {
		j->endpoint = strdup(x->token);
		j->title = strdup(x->title ? x->title : "");
		j->body = strdup(x->body ? x->body : "");
		return 0;
	}
	/* What the service worker shows: title and text cut to fit one record
	 * (the payload never exceeds WEBPUSH_PLAINTEXT_MAX, cut on a character
	 * boundary), the chat and seq to open, and the delivery id to ack. */
	const char *body = x->body ? x->body : "";
	size_t room = strlen(body);
	for (int tries = 0; tries < 4; tries++) {
		char *cut = strndup(body, hval_utf8_prefix(body, strlen(body), room));
		json_t *o =
		        json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:b}", "title", x->title ? x->title : "", "body",
		                  cut ? cut : "", "chat", (json_int_t)x->chat_id, "seq", (json_int_t)x->seq, "delivery",
		                  (json_int_t)x->id, "badge", (json_int_t)x->unread, "urgent", x->urgent);
		free(cut);
		char *p = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!p || strlen(p) <= WEBPUSH_PLAINTEXT_MAX) {
			j->payload = p;
			break;
		}
		/* Escapes can make the JSON longer than the text: cut by the excess. */
		size_t over = strlen(p) - WEBPUSH_PLAINTEXT_MAX;
		free(p);
		room = room > over + 16 ? room - over - 16 : 0;
	}
	return 0;
}

static int scan_run(store_conn *c, void *arg)
{
	scan *s = arg;
	int64_t now = htime_now_ms();
	for (int k = 0; k < SVC_PUSH_KINDS; k++) {
		if (s->room[k] <= 0)
			continue;
		s->kind = k;
		int rc = store_delivery_due(c, kind_names[k], now, s->room[k], scan_skip, collect_due, s);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- recording answers --------------------------------------------------------------- */

typedef struct result_job {
	int64_t id;
	store_delivery_outcome outcome;
	char reason[128];
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
	struct deliveries *d = x->d;
	if (rc)
		hlog_msg(HLOG_WARN, "delivery_record", "could not record delivery %lld: %s", (long long)x->r.id,
		         herr_name(rc));
	/* Only now may a later read pick the delivery up again (if it was not
	 * recorded, it is still queued and will be retried). */
	push_job *j = i64map_del(&d->inflight, x->r.id);
	if (j) {
		d->prov[j->kind].inflight--;
		if (d->scanning)
			id_list_add(&d->done_during_scan, j->id);
		job_free(j);
		free(j);
	}
	free(x);
	if (!d->stopping)
		for (int k = 0; k < SVC_PUSH_KINDS; k++)
			if (d->prov[k].backlog && d->prov[k].inflight <= d->prov[k].limit * 3 / 4)
				start_scan(d);
	deliveries_maybe_free(d);
}

static void count(struct deliveries *d, push_job *j, store_delivery_outcome o)
{
	provider_stats *st = &d->prov[j->kind].stats;
	switch (o) {
	case STORE_SENT:
		st->sent++;
		break;
	case STORE_RETRY:
		st->retried++;
		break;
	case STORE_DEAD:
		st->dead++;
		break;
	case STORE_FAILED:
		st->failed++;
		break;
	case STORE_HOLD:
		st->held++;
		break;
	case STORE_LIVE:
		st->live++;
		break;
	}
}

static void record(struct deliveries *d, push_job *j, store_delivery_outcome outcome, const char *reason,
                   int64_t retry_after_ms)
{
	result_ctx *x = calloc(1, sizeof *x);
	if (!x)
		return; /* stays in flight (and queued): nothing is lost, it waits for the restart */
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
	} else if (outcome == STORE_HOLD) {
		x->r.next_try = htime_now_ms() + retry_after_ms;
	}
	count(d, j, x->r.outcome);
	store_write(d->svc->store, result_run, result_done, x);
}

/* A provider declared a token dead: believe it, unless it has been
 * declaring most tokens dead lately (see the top of the file). */
static void record_dead(struct deliveries *d, push_job *j, const char *reason)
{
	provider *p = &d->prov[j->kind];
	int64_t now = htime_now_ms();
	if (now < p->tripped_until) {
		char why[128];
		snprintf(why, sizeof why, "dead-token guard: %.80s", reason);
		p->stats.guarded++;
		record(d, j, STORE_RETRY, why, DEAD_GUARD_HOLD_MS);
		return;
	}
	p->dead++;
	if (p->dead >= DEAD_GUARD_MIN && 2 * p->dead >= p->answers) {
		p->tripped_until = now + DEAD_GUARD_HOLD_MS;
		hlog_line l;
		hlog_begin(&l, HLOG_ERROR, "push_dead_guard");
		hlog_str(&l, "channel", kind_names[j->kind]);
		hlog_int(&l, "dead", p->dead);
		hlog_int(&l, "answers", p->answers);
		hlog_str(&l, "hint", "most tokens declared dead within a minute: check the provider's credentials");
		hlog_end(&l);
	}
	record(d, j, STORE_DEAD, reason, 0);
}

/* Every answer of a provider counts toward the guard's window. */
static void note_answer(struct deliveries *d, int kind)
{
	provider *p = &d->prov[kind];
	int64_t now = htime_now_ms();
	if (now - p->window_start > DEAD_GUARD_WINDOW_MS) {
		p->window_start = now;
		p->answers = 0;
		p->dead = 0;
	}
	p->answers++;
}

/* ---- sending --------------------------------------------------------------------------- */

typedef struct send_ctx {
	uv_work_t work;
	struct deliveries *d;
	push_job *j; /* stays in the in-flight map (unchanged) until recorded */
	int64_t id;
	uint8_t *body;
	size_t body_len;
	int rc;
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
	if (st)
		note_answer(d, j->kind);
	if (st == 200 || st == 201 || st == 202) {
		record(d, j, STORE_SENT, NULL, 0);
	} else if (st == 404 || st == 410) {
		/* RFC 8030: the subscription is gone; never send to it again. */
		snprintf(reason, sizeof reason, "subscription gone (%ld)", st);
		record_dead(d, j, reason);
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
	int kind;
} provider_ctx;

static void on_provider(void *ud, const push_result *r)
{
	provider_ctx *x = ud;
	struct deliveries *d = x->d;
	push_job *j = i64map_get(&d->inflight, x->id);
	hlog_line l;
	hlog_begin(&l, r->outcome == PUSH_OK ? HLOG_INFO : HLOG_WARN, "push");
	hlog_int(&l, "delivery", x->id);
	hlog_str(&l, "channel", kind_names[x->kind]);
	hlog_int(&l, "status", r->http_status);
	hlog_str(&l, "outcome", push_outcome_name(r->outcome));
	if (r->reason[0])
		hlog_str(&l, "reason", r->reason);
	hlog_end(&l);
	free(x);
	if (!j)
		return;
	if (r->http_status)
		note_answer(d, j->kind);
	switch (r->outcome) {
	case PUSH_OK:
		record(d, j, STORE_SENT, NULL, 0);
		break;
	case PUSH_RETRY:
		record(d, j, STORE_RETRY, r->reason, r->retry_after_ms);
		break;
	case PUSH_DEAD_TOKEN:
		record_dead(d, j, r->reason[0] ? r->reason : "token dead");
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
	x->kind = j->kind;
	char chat[24], seq[24], delivery[24], collapse[32];
	snprintf(chat, sizeof chat, "%lld", (long long)j->chat_id);
	snprintf(seq, sizeof seq, "%lld", (long long)j->seq);
	snprintf(delivery, sizeof delivery, "%lld", (long long)j->id);
	snprintf(collapse, sizeof collapse, "d%lld", (long long)j->id);
	const push_kv data[] = {{"chat", chat}, {"seq", seq}, {"delivery", delivery}};
	int rc;
	if (j->kind == SVC_PUSH_FCM) {
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

/* The Authorization header line for an endpoint, from the cache or signed
 * now; NULL when the endpoint has no usable origin. */
static const char *vapid_auth(struct deliveries *d, const char *endpoint)
{
	char origin[sizeof d->vapid_cache[0].origin];
	if (webpush_origin(endpoint, origin, sizeof origin) != 0)
		return NULL;
	int64_t now = htime_now_ms() / 1000;
	vapid_entry *slot = &d->vapid_cache[0];
	for (int i = 0; i < VAPID_CACHE; i++) {
		vapid_entry *e = &d->vapid_cache[i];
		if (strcmp(e->origin, origin) == 0) {
			if (now - e->made_s < VAPID_REUSE_S && now >= e->made_s)
				return e->header;
			slot = e;
			break;
		}
		if (e->made_s < slot->made_s)
			slot = e; /* the oldest (or an empty one) is replaced */
	}
	char vapid[WEBPUSH_VAPID_HEADER_MAX];
	if (webpush_vapid_header(d->vapid, endpoint, d->subject[0] ? d->subject : NULL, now, VAPID_JWT_TTL_S, vapid,
	                         sizeof vapid) != 0)
		return NULL;
	hstrlcpy(slot->origin, origin, sizeof slot->origin);
	slot->made_s = now;
	snprintf(slot->header, sizeof slot->header, "Authorization: %s", vapid);
	return slot->header;
}

/* On a pool thread: RFC 8291 needs a fresh key pair and an ECDH per push,
 * most of a push's CPU; off the loop it uses the other cores and never
 * delays chat delivery. */
static void encrypt_work(uv_work_t *w)
{
	send_ctx *x = w->data;
	x->rc = webpush_encrypt(&x->j->keys, (const uint8_t *)x->j->payload, strlen(x->j->payload), &x->body,
	                        &x->body_len);
}

static void encrypt_done(uv_work_t *w, int status)
{
	send_ctx *x = w->data;
	struct deliveries *d = x->d;
	push_job *j = x->j;
	if (status != 0 || x->rc != 0 || d->stopping) {
		free(x->body);
		free(x);
		if (d->stopping)
			record(d, j, STORE_RETRY, "server stopping", 0);
		else
			record(d, j, STORE_FAILED, "could not encrypt", 0);
		return;
	}
	const char *auth = vapid_auth(d, j->endpoint);
	if (!auth) {
		free(x->body);
		free(x);
		record(d, j, STORE_FAILED, "endpoint not usable for VAPID", 0);
		return;
	}
	char ttl[32], topic[48];
	snprintf(ttl, sizeof ttl, "TTL: %d", TTL_S);
	/* The same delivery always has the same Topic: a repeat replaces an
	 * undelivered first copy at the push service. */
	snprintf(topic, sizeof topic, "Topic: d%lld", (long long)j->id);
	/* RFC 8030 5.3: "high" wakes a phone at once (urgent messages and the
	 * ERP's notifications); chat traffic is "normal" so that busy groups do
	 * not drain batteries. */
	const char *headers[] = {auth,
	                         ttl,
	                         topic,
	                         j->urgent || j->notification ? "Urgency: high" : "Urgency: normal",
	                         "Content-Encoding: aes128gcm",
	                         "Content-Type: application/octet-stream",
	                         NULL};
	hclient_request req = {.method = "POST",
	                       .url = j->endpoint,
	                       .headers = headers,
	                       .body = x->body,
	                       .body_len = x->body_len,
	                       .timeout_ms = 15000,
	                       .max_response = 4096,
	                       .public_only = !d->allow_private};
	if (hclient_send(d->http, &req, on_sent, x) != 0) {
		free(x->body);
		free(x);
		record(d, j, STORE_RETRY, "could not start the request", 0);
	}
}

static void send_webpush(struct deliveries *d, push_job *j)
{
	if (!j->endpoint || !j->payload) {
		record(d, j, STORE_FAILED, "not a usable Web Push subscription", 0);
		return;
	}
	send_ctx *x = calloc(1, sizeof *x);
	if (!x) {
		record(d, j, STORE_RETRY, "out of memory", 0);
		return;
	}
	x->d = d;
	x->j = j;
	x->id = j->id;
	x->work.data = x;
	if (uv_queue_work(d->loop, &x->work, encrypt_work, encrypt_done) != 0) {
		free(x);
		record(d, j, STORE_RETRY, "could not start the encryption", 0);
	}
}

/* Milliseconds until the user's quiet hours end, or 0 when they are not quiet now. */
static int64_t quiet_left_ms(const push_job *j, int64_t now_ms)
{
	if (!j->has_quiet || j->quiet_from == j->quiet_to)
		return 0;
	int64_t local = now_ms / 60000 + j->quiet_offset;
	int m = (int)(((local % 1440) + 1440) % 1440);
	bool quiet = j->quiet_from < j->quiet_to ? m >= j->quiet_from && m < j->quiet_to
	                                         : m >= j->quiet_from || m < j->quiet_to;
	if (!quiet)
		return 0;
	int left = ((j->quiet_to - m) % 1440 + 1440) % 1440;
	/* to the start of the minute quiet ends, from now */
	return (int64_t)left * 60000 - now_ms % 60000;
}

static void send_one(struct deliveries *d, push_job *j)
{
	svc *s = d->svc;
	/* Online first: a live connection has already shown the message. */
	if (s->presence && d->while_online != SVC_PUSH_ONLINE_ALL &&
	    (d->while_online == SVC_PUSH_ONLINE_NONE || j->kind == SVC_PUSH_WEBPUSH) &&
	    s->presence(s->presence_ud, j->user_id)) {
		record(d, j, STORE_LIVE, "live connection", 0);
		return;
	}
	int64_t quiet = j->urgent ? 0 : quiet_left_ms(j, htime_now_ms());
	if (quiet > 0) {
		record(d, j, STORE_HOLD, "quiet hours", quiet);
		return;
	}
	if (j->kind == SVC_PUSH_WEBPUSH) {
		send_webpush(d, j);
		return;
	}
	if ((j->kind == SVC_PUSH_FCM && !d->fcm) || (j->kind == SVC_PUSH_APNS && !d->apns)) {
		record(d, j, STORE_FAILED, "no provider configured for this device", 0);
		return;
	}
	if (!j->endpoint || !j->title || !j->body)
		record(d, j, STORE_RETRY, "out of memory", 0);
	else
		send_native(d, j);
}

static void scan_done(void *arg, int rc)
{
	scan *s = arg;
	struct deliveries *d = s->d;
	d->scanning = false;
	for (int k = 0; k < SVC_PUSH_KINDS; k++)
		d->prov[k].backlog = rc == 0 && s->room[k] > 0 && s->got[k] >= s->room[k];
	for (size_t i = 0; i < s->n; i++) {
		push_job *j = &s->jobs[i];
		if (rc == 0 && !d->stopping && !i64map_get(&d->inflight, j->id) &&
		    !id_list_has(&d->done_during_scan, j->id)) {
			push_job *own = malloc(sizeof *own);
			if (own && i64map_put(&d->inflight, j->id, own) == 0) {
				*own = *j;
				d->prov[own->kind].inflight++;
				send_one(d, own);
				continue;
			}
			free(own);
		}
		job_free(j);
	}
	d->done_during_scan.n = 0;
	free(s->jobs);
	free(s->busy);
	free(s);
	deliveries_maybe_free(d);
}

static void start_scan(struct deliveries *d)
{
	if (d->scanning || d->stopping)
		return;
	scan *s = calloc(1, sizeof *s);
	if (!s)
		return;
	int total = 0;
	for (int k = 0; k < SVC_PUSH_KINDS; k++) {
		provider *p = &d->prov[k];
		int room = p->enabled ? p->limit - p->inflight : 0;
		s->room[k] = room > BATCH ? BATCH : room > 0 ? room : 0;
		total += s->room[k];
	}
	s->busy = malloc((d->inflight.count + 1) * sizeof *s->busy);
	if (total == 0 || !s->busy || !(s->jobs = calloc((size_t)total, sizeof *s->jobs))) {
		free(s->busy);
		free(s);
		return;
	}
	i64map_each(&d->inflight, busy_collect, s);
	qsort(s->busy, s->busy_n, sizeof *s->busy, cmp_i64);
	s->d = d;
	d->scanning = true;
	store_read(d->svc->store, scan_run, scan_done, s);
}

/* ---- SMS fallback of urgent messages ----------------------------------------------------- */

typedef struct sms_item {
	int64_t id, user_id;
	char *phone, *text;
	bool delivered;
} sms_item;

typedef struct sms_claim {
	struct deliveries *d;
	bool recover;
	sms_item *items;
	size_t n;
} sms_claim;

static int sms_collect(void *ud, const store_sms_due *x)
{
	sms_claim *c = ud;
	sms_item *it = &c->items[c->n++];
	memset(it, 0, sizeof *it);
	it->id = x->id;
	it->user_id = x->user_id;
	it->delivered = x->delivered;
	it->phone = strdup(x->phone ? x->phone : "");
	/* "Title: text", cut on a character boundary. */
	char buf[SMS_TEXT_MAX + 8];
	const char *title = x->title ? x->title : "", *body = x->body ? x->body : "";
	snprintf(buf, sizeof buf, "%s%s%s", title, *title ? ": " : "", body);
	buf[hval_utf8_prefix(buf, strlen(buf), SMS_TEXT_MAX)] = '\0';
	it->text = strdup(buf);
	return 0;
}

/* A write job: takes what is due, marks what was taken meanwhile as skipped
 * and the rest as being sent (claimed). */
static int sms_claim_run(store_conn *c, void *arg)
{
	sms_claim *x = arg;
	int64_t now = htime_now_ms();
	int rc = x->recover ? store_sms_requeue(c) : 0;
	if (rc || (rc = store_sms_due_list(c, now, SMS_BATCH, sms_collect, x)) != 0)
		return rc;
	for (size_t i = 0; i < x->n && rc == 0; i++)
		rc = store_sms_result(c, x->items[i].id, x->items[i].delivered ? "skipped" : "sending",
		                      x->items[i].delivered ? "delivered before the fallback time" : NULL, now);
	return rc;
}

typedef struct sms_send_ctx {
	struct deliveries *d;
	int64_t id;
	char status[12];
	char reason[64];
} sms_send_ctx;

static int sms_result_run(store_conn *c, void *arg)
{
	sms_send_ctx *x = arg;
	return store_sms_result(c, x->id, x->status, x->reason[0] ? x->reason : NULL, htime_now_ms());
}

static void sms_result_done(void *arg, int rc)
{
	sms_send_ctx *x = arg;
	struct deliveries *d = x->d;
	if (rc)
		hlog_msg(HLOG_WARN, "sms_fallback", "could not record SMS fallback %lld: %s", (long long)x->id,
		         herr_name(rc));
	d->sms_inflight--;
	free(x);
	deliveries_maybe_free(d);
}

static void sms_finish(struct deliveries *d, sms_send_ctx *x, const char *status, const char *reason)
{
	hstrlcpy(x->status, status, sizeof x->status);
	hstrlcpy(x->reason, reason ? reason : "", sizeof x->reason);
	if (strcmp(status, "sent") == 0)
		d->sms_sent++;
	else if (strcmp(status, "skipped") == 0)
		d->sms_skipped++;
	else
		d->sms_failed++;
	hlog_line l;
	hlog_begin(&l, strcmp(status, "failed") == 0 ? HLOG_WARN : HLOG_INFO, "sms_fallback");
	hlog_int(&l, "id", x->id);
	hlog_str(&l, "status", status);
	if (reason)
		hlog_str(&l, "reason", reason);
	hlog_end(&l);
	store_write(d->svc->store, sms_result_run, sms_result_done, x);
}

static void sms_sent(void *ud, int rc)
{
	sms_send_ctx *x = ud;
	sms_finish(x->d, x, rc == 0 ? "sent" : "failed", rc == 0 ? NULL : "the SMS provider refused");
}

static void sms_claim_done(void *arg, int rc)
{
	sms_claim *c = arg;
	struct deliveries *d = c->d;
	d->sms_busy = false;
	if (rc == 0)
		d->sms_recovered = true;
	for (size_t i = 0; i < c->n; i++) {
		sms_item *it = &c->items[i];
		if (rc == 0 && it->delivered) {
			d->sms_skipped++;
		} else if (rc == 0) {
			sms_send_ctx *x = calloc(1, sizeof *x);
			if (x) {
				x->d = d;
				x->id = it->id;
				d->sms_inflight++;
				svc *s = d->svc;
				if (s->presence && s->presence(s->presence_ud, it->user_id))
					sms_finish(d, x, "skipped", "live connection");
				else if (!s->sms || !it->phone || !it->text || !*it->phone)
					sms_finish(d, x, "failed", "no SMS provider or phone");
				else
					sms_send(s->sms, it->phone, it->text, NULL, sms_sent, x);
			}
		}
		free(it->phone);
		free(it->text);
	}
	free(c->items);
	free(c);
	deliveries_maybe_free(d);
}

static void sms_tick(struct deliveries *d)
{
	if (d->sms_busy || d->stopping || d->svc->sms_fallback_ms <= 0)
		return;
	sms_claim *c = calloc(1, sizeof *c);
	if (!c || !(c->items = calloc(SMS_BATCH, sizeof *c->items))) {
		free(c);
		return;
	}
	c->d = d;
	c->recover = !d->sms_recovered;
	d->sms_busy = true;
	store_write(d->svc->store, sms_claim_run, sms_claim_done, c);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void on_tick(uv_timer_t *t)
{
	struct deliveries *d = t->data;
	if (++d->ticks % SMS_TICKS == 0)
		sms_tick(d);
	start_scan(d);
}

int svc_deliveries_start(svc *s, uv_loop_t *loop, const svc_push_options *opt)
{
	struct deliveries *d = calloc(1, sizeof *d);
	if (!d)
		return HERR_NOMEM;
	d->svc = s;
	d->loop = loop;
	d->vapid = opt->vapid;
	d->fcm = opt->fcm;
	d->apns = opt->apns;
	d->while_online = opt->while_online;
	s->push_kinds = STORE_PUSH_WEBPUSH | (opt->fcm ? STORE_PUSH_FCM : 0) | (opt->apns ? STORE_PUSH_APNS : 0);
	s->sms_fallback_ms = opt->sms_fallback_ms;
	d->prov[SVC_PUSH_WEBPUSH].enabled = true;
	d->prov[SVC_PUSH_FCM].enabled = opt->fcm != NULL;
	d->prov[SVC_PUSH_APNS].enabled = opt->apns != NULL;
	for (int k = 0; k < SVC_PUSH_KINDS; k++)
		d->prov[k].limit = opt->concurrency[k] > 0 ? opt->concurrency[k] : DEFAULT_CONCURRENCY;
	d->allow_private = opt->allow_private;
	hstrlcpy(d->subject, opt->subject ? opt->subject : "", sizeof d->subject);
	d->tick = malloc(sizeof *d->tick);
	/* Web Push endpoints are many hosts: the client's connection cap is the
	 * provider's concurrency. */
	if (!d->tick || hclient_new(loop, d->prov[SVC_PUSH_WEBPUSH].limit, &d->http) != 0) {
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

int64_t svc_sms_fallback_ms(const svc *s)
{
	return s->sms_fallback_ms;
}

void svc_set_presence(svc *s, bool (*live)(void *ud, int64_t user_id), void *ud)
{
	s->presence = live;
	s->presence_ud = ud;
}

int svc_push_metrics(svc *s, hbuf *out)
{
	struct deliveries *d = s->deliveries;
	if (!d)
		return 0;
	static const struct {
		const char *outcome;
		size_t off;
	} outcomes[] = {
	        {"sent", offsetof(provider_stats, sent)},           {"retry", offsetof(provider_stats, retried)},
	        {"dead", offsetof(provider_stats, dead)},           {"failed", offsetof(provider_stats, failed)},
	        {"quiet_hold", offsetof(provider_stats, held)},     {"live", offsetof(provider_stats, live)},
	        {"dead_guarded", offsetof(provider_stats, guarded)}};
	int rc = hbuf_puts(out, "# HELP herald_push_total Push deliveries by provider and outcome.\n"
	                        "# TYPE herald_push_total counter\n");
	for (int k = 0; k < SVC_PUSH_KINDS; k++)
		for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++)
			rc |= hbuf_printf(out, "herald_push_total{channel=\"%s\",outcome=\"%s\"} %llu\n", kind_names[k],
			                  outcomes[i].outcome,
			                  (unsigned long long)*(const uint64_t *)((const char *)&d->prov[k].stats +
			                                                          outcomes[i].off));
	rc |= hbuf_puts(out, "# HELP herald_push_in_flight Push deliveries being sent now.\n"
	                     "# TYPE herald_push_in_flight gauge\n");
	for (int k = 0; k < SVC_PUSH_KINDS; k++)
		rc |= hbuf_printf(out, "herald_push_in_flight{channel=\"%s\"} %d\n", kind_names[k],
		                  d->prov[k].inflight);
	rc |= hbuf_puts(out, "# HELP herald_push_dead_guard Whether the dead-token guard holds a provider now.\n"
	                     "# TYPE herald_push_dead_guard gauge\n");
	int64_t now = htime_now_ms();
	for (int k = 0; k < SVC_PUSH_KINDS; k++)
		rc |= hbuf_printf(out, "herald_push_dead_guard{channel=\"%s\"} %d\n", kind_names[k],
		                  now < d->prov[k].tripped_until);
	rc |= hbuf_printf(out,
	                  "# HELP herald_sms_fallback_total SMS fallbacks of urgent messages by outcome.\n"
	                  "# TYPE herald_sms_fallback_total counter\n"
	                  "herald_sms_fallback_total{outcome=\"sent\"} %llu\n"
	                  "herald_sms_fallback_total{outcome=\"skipped\"} %llu\n"
	                  "herald_sms_fallback_total{outcome=\"failed\"} %llu\n",
	                  (unsigned long long)d->sms_sent, (unsigned long long)d->sms_skipped,
	                  (unsigned long long)d->sms_failed);
	return rc ? HERR_NOMEM : 0;
}

static void deliveries_maybe_free(struct deliveries *d)
{
	if (!d->stopping || !d->http_closed || d->scanning || d->inflight.count || d->sms_busy || d->sms_inflight)
		return;
	i64map_free(&d->inflight);
	free(d->done_during_scan.v);
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
