/*
 * realtime.c — the WebSocket endpoint /ws and the hub that fans committed
 * events out to the connections that may see them (docs/protocol.md).
 *
 * The hub indexes sessions by user and by chat. A committed event arrives
 * once (svc's event sink, in commit order), its frame is wrapped once in a
 * ws_msg and that one buffer is queued by reference on every recipient:
 * serialised and framed once however many members are online.
 *
 * No loss, no duplicates. Every event carries its position `pos` in the
 * event log. A session starts in SYNC: it is registered first (so live
 * events are buffered from then on), then it replays the log from the
 * client's position (or the head) in one read job, sends the replay, then
 * the buffered live events newer than the last one sent, and only then goes
 * LIVE. An event both replayed and buffered is sent once, because a session
 * never sends a pos at or below the last it sent.
 *
 * A session outlives its socket while svc calls it made are in flight; it is
 * freed when both are gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "core/buf.h"
#include "core/i64map.h"
#include "core/log.h"
#include "core/time.h"
#include "net/ws.h"
#include "svc/chat.h"

#define SYNC_BUFFER_MAX    20000 /* live events held while a replay runs */
#define ERRORS_PER_MINUTE  20    /* bad frames tolerated before close 1008 */
#define TYPING_INTERVAL_MS 800   /* at most one typing event per connection this often */
#define TOKEN_MAX          4096
#define TOPICS_PER_SESSION 50
#define AS_USER_MAX        (STORE_EXTERNAL_ID_MAX + 7) /* longer names are cut, as before */

enum { S_AUTH, S_INIT, S_SYNC, S_LIVE };

typedef struct sess sess;

typedef struct sess_list {
	size_t n, cap;
	sess **v;
} sess_list;

typedef struct buffered {
	ws_msg *m;
	int64_t pos;
} buffered;

/* A topic subscription: its own sequence, its own replay-then-live switch. */
typedef struct sess_topic {
	char name[65];
	int64_t key;
	int64_t last_seq;
	bool syncing;
	buffered *buf;
	size_t nbuf, capbuf;
} sess_topic;

struct sess {
	rt_hub *hub;
	ws_conn *ws;
	int state;
	bool gone;
	int pending; /* svc calls in flight */
	herr_lang lang;
	char *token;
	char *as_user; /* NULL, or the user an API-token session acts as (allocated: most sessions have none) */
	int64_t tenant_id, user_id;
	char *user_pub; /* the user's public id, allocated to its length (memory per connection counts) */
	int64_t *chats;
	size_t nchats, capchats;
	int64_t want_pos; /* -1: from the head */
	int64_t last_sent;
	buffered *buf;
	size_t nbuf, capbuf;
	bool overflow;
	int errors;
	int64_t error_window;
	int64_t last_typing;
	sess_topic *topics;
	size_t ntopics;
	sess *prev, *next;
};

struct rt_hub {
	api *api;
	svc *svc;
	i64map users;
	i64map chats;
	i64map topics; /* hash(tenant, topic) → sessions */
	sess *all;
	size_t count;
	int64_t last_pos;
	ws_options wsopt;
	bool closing;
};

/* ---- lists and indexes ------------------------------------------------------------- */

static int list_add(i64map *map, int64_t key, sess *s)
{
	sess_list *l = i64map_get(map, key);
	if (!l) {
		if (!(l = calloc(1, sizeof *l)) || i64map_put(map, key, l) != 0) {
			free(l);
			return HERR_NOMEM;
		}
	}
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == s)
			return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		sess **v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return HERR_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return 0;
}

static void list_remove(i64map *map, int64_t key, sess *s)
{
	sess_list *l = i64map_get(map, key);
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == s) {
			l->v[i] = l->v[--l->n];
			break;
		}
	if (l->n == 0) {
		i64map_del(map, key);
		free(l->v);
		free(l);
	}
}

static void sess_add_chat(sess *s, int64_t chat)
{
	for (size_t i = 0; i < s->nchats; i++)
		if (s->chats[i] == chat)
			return;
	if (s->nchats == s->capchats) {
		size_t cap = s->capchats ? s->capchats * 2 : 2;
		int64_t *v = realloc(s->chats, cap * sizeof *v);
		if (!v)
			return;
		s->chats = v;
		s->capchats = cap;
	}
	if (list_add(&s->hub->chats, chat, s) == 0)
		s->chats[s->nchats++] = chat;
}

static void sess_drop_chat(sess *s, int64_t chat)
{
	for (size_t i = 0; i < s->nchats; i++)
		if (s->chats[i] == chat) {
			s->chats[i] = s->chats[--s->nchats];
			list_remove(&s->hub->chats, chat, s);
			return;
		}
}

static bool sess_in_chat(const sess *s, int64_t chat)
{
	for (size_t i = 0; i < s->nchats; i++)
		if (s->chats[i] == chat)
			return true;
	return false;
}

static int64_t topic_key(int64_t tenant_id, const char *name)
{
	uint64_t x = 1469598103934665603ull ^ (uint64_t)tenant_id;
	for (const char *p = name; *p; p++) {
		x ^= (unsigned char)*p;
		x *= 1099511628211ull;
	}
	return (int64_t)(x | 1); /* never 0: 0 marks an empty map slot's key */
}

static sess_topic *sess_find_topic(sess *s, const char *name)
{
	for (size_t i = 0; i < s->ntopics; i++)
		if (strcmp(s->topics[i].name, name) == 0)
			return &s->topics[i];
	return NULL;
}

static void topic_buf_clear(sess_topic *t)
{
	for (size_t i = 0; i < t->nbuf; i++)
		ws_msg_unref(t->buf[i].m);
	free(t->buf);
	t->buf = NULL;
	t->nbuf = t->capbuf = 0;
}

static void sess_drop_topic(sess *s, const char *name)
{
	sess_topic *t = sess_find_topic(s, name);
	if (!t)
		return;
	list_remove(&s->hub->topics, t->key, s);
	topic_buf_clear(t);
	*t = s->topics[--s->ntopics];
}

static void sess_unregister(sess *s)
{
	rt_hub *h = s->hub;
	while (s->ntopics)
		sess_drop_topic(s, s->topics[0].name);
	for (size_t i = 0; i < s->nchats; i++)
		list_remove(&h->chats, s->chats[i], s);
	s->nchats = 0;
	if (s->user_id)
		list_remove(&h->users, s->user_id, s);
}

static void buf_clear(sess *s)
{
	for (size_t i = 0; i < s->nbuf; i++)
		ws_msg_unref(s->buf[i].m);
	s->nbuf = 0;
}

static void sess_free(sess *s)
{
	buf_clear(s);
	free(s->topics);
	free(s->buf);
	free(s->chats);
	free(s->token);
	free(s->as_user);
	free(s->user_pub);
	free(s);
}

static void sess_maybe_free(sess *s)
{
	if (s->gone && s->pending == 0)
		sess_free(s);
}

/* ---- sending ----------------------------------------------------------------------- */

static void send_json(sess *s, json_t *o)
{
	if (s->gone || !o) {
		json_decref(o);
		return;
	}
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text)
		ws_send_text(s->ws, text, strlen(text));
	free(text);
}

static void send_error(sess *s, json_t *id, int err, const char *detail)
{
	char msg[512];
	herr_format(err, s->lang, detail, msg, sizeof msg);
	json_t *o = json_pack("{s:i,s:s}", "v", 1, "type", "error");
	if (id)
		json_object_set(o, "id", id);
	json_object_set_new(o, "code", json_string(herr_name(err)));
	json_object_set_new(o, "message", json_string(msg));
	send_json(s, o);
}

/* A bad frame: answered, counted; too many in a minute end the connection. */
static void abuse(sess *s, json_t *id, int err, const char *detail)
{
	int64_t now = htime_now_ms();
	if (now - s->error_window > 60000) {
		s->error_window = now;
		s->errors = 0;
	}
	send_error(s, id, err, detail);
	if (++s->errors > ERRORS_PER_MINUTE && !s->gone)
		ws_close(s->ws, 1008, "too many bad frames");
}

/* Applies what an event changes about this session's subscriptions. */
static void track_membership(sess *s, const char *type, int64_t user_id, int64_t ref_chat)
{
	if (user_id != s->user_id || !ref_chat)
		return;
	if (strcmp(type, "chat_created") == 0)
		sess_add_chat(s, ref_chat);
	else if (strcmp(type, "member_removed") == 0)
		sess_drop_chat(s, ref_chat);
}

static void deliver(sess *s, ws_msg *m, int64_t pos)
{
	if (s->gone)
		return;
	if (s->state == S_LIVE) {
		if (pos > s->last_sent) {
			s->last_sent = pos;
			ws_send(s->ws, m);
		}
	} else if (s->state == S_SYNC) {
		if (s->nbuf >= SYNC_BUFFER_MAX) {
			s->overflow = true;
			return;
		}
		if (s->nbuf == s->capbuf) {
			size_t cap = s->capbuf ? s->capbuf * 2 : 16;
			buffered *b = realloc(s->buf, cap * sizeof *b);
			if (!b) {
				s->overflow = true;
				return;
			}
			s->buf = b;
			s->capbuf = cap;
		}
		s->buf[s->nbuf++] = (buffered){ws_msg_ref(m), pos};
	}
}

static void on_topic_event(rt_hub *h, const svc_event *e)
{
	sess_list *l = i64map_get(&h->topics, topic_key(e->tenant_id, e->topic));
	ws_msg *m = NULL;
	for (size_t i = 0; l && i < l->n; i++) {
		sess *s = l->v[i];
		sess_topic *t = s->tenant_id == e->tenant_id ? sess_find_topic(s, e->topic) : NULL;
		if (!t || s->gone)
			continue;
		if (!m && !(m = ws_msg_text(e->frame, e->frame_len)))
			return;
		if (t->syncing) {
			if (t->nbuf == t->capbuf) {
				size_t cap = t->capbuf ? t->capbuf * 2 : 8;
				buffered *b = cap <= SYNC_BUFFER_MAX ? realloc(t->buf, cap * sizeof *b) : NULL;
				if (!b)
					continue; /* dropped; the subscriber resumes by seq */
				t->buf = b;
				t->capbuf = cap;
			}
			t->buf[t->nbuf++] = (buffered){ws_msg_ref(m), e->topic_seq};
		} else if (e->topic_seq > t->last_seq) {
			t->last_seq = e->topic_seq;
			ws_send(s->ws, m);
		}
	}
	ws_msg_unref(m);
}

static void on_event(void *ud, const svc_event *e)
{
	rt_hub *h = ud;
	if (e->topic[0]) {
		on_topic_event(h, e);
		return;
	}
	if (e->pos > h->last_pos)
		h->last_pos = e->pos;
	ws_msg *m = NULL;
	if (e->user_id) {
		sess_list *l = i64map_get(&h->users, e->user_id);
		for (size_t i = 0; l && i < l->n; i++) {
			sess *s = l->v[i];
			if (s->tenant_id != e->tenant_id)
				continue;
			if (!m && !(m = ws_msg_text(e->frame, e->frame_len)))
				return;
			track_membership(s, e->type, e->user_id, e->ref_chat);
			deliver(s, m, e->pos);
			if (strcmp(e->type, "user_deactivated") == 0 && !s->gone)
				ws_close(s->ws, 4401, "user deactivated");
		}
	}
	if (e->chat_id) {
		sess_list *l = i64map_get(&h->chats, e->chat_id);
		for (size_t i = 0; l && i < l->n; i++) {
			if (!m && !(m = ws_msg_text(e->frame, e->frame_len)))
				return;
			deliver(l->v[i], m, e->pos);
		}
	}
	ws_msg_unref(m);
}

/* ---- calls into svc ------------------------------------------------------------------- */

typedef struct rt_call {
	svc_call k;
	sess *s;
	json_t *id;   /* the client's request id, echoed in ack/error */
	json_t *body; /* owned */
	void (*then)(struct rt_call *c);
} rt_call;

static void call_done(svc_call *k)
{
	rt_call *c = (rt_call *)k;
	sess *s = c->s;
	s->pending--;
	if (!s->gone)
		c->then(c);
	svc_call_free_results(&c->k);
	json_decref(c->id);
	json_decref(c->body);
	free(c);
	sess_maybe_free(s);
}

static rt_call *call_new(sess *s, json_t *id, json_t *body, void (*then)(rt_call *))
{
	rt_call *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->s = s;
	c->id = id ? json_incref(id) : NULL;
	c->body = body ? json_incref(body) : NULL;
	c->then = then;
	c->k.done = call_done;
	c->k.lang = s->lang;
	c->k.token = s->token;
	c->k.body = c->body;
	hstrlcpy(c->k.q_user, s->as_user ? s->as_user : "", sizeof c->k.q_user);
	s->pending++;
	return c;
}

/* Generic request: ack with the result or an error, both echoing id. */
static void reply(rt_call *c)
{
	if (c->k.err) {
		send_error(c->s, c->id, c->k.err, c->k.err_detail[0] ? c->k.err_detail : NULL);
		return;
	}
	if (c->k.result_json) {
		/* A posted message, serialised on the writer: spliced in as it is. */
		if (c->s->gone)
			return;
		hbuf b = HBUF_INIT;
		char *id = c->id ? json_dumps(c->id, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		int rc = hbuf_puts(&b, "{\"v\":1,\"type\":\"ack\"");
		if (rc == 0 && id)
			rc = hbuf_puts(&b, ",\"id\":") || hbuf_puts(&b, id);
		if (rc == 0)
			rc = hbuf_puts(&b, ",\"result\":") || hbuf_append(&b, c->k.result_json, c->k.result_json_len) ||
			     hbuf_putc(&b, '}');
		if (rc == 0)
			ws_send_text(c->s->ws, b.data, b.len);
		else
			send_error(c->s, c->id, HERR_NOMEM, NULL);
		free(id);
		hbuf_free(&b);
		return;
	}
	json_t *o = json_pack("{s:i,s:s}", "v", 1, "type", "ack");
	if (c->id)
		json_object_set(o, "id", c->id);
	json_object_set(o, "result", c->k.result ? c->k.result : json_null());
	send_json(c->s, o);
}

static void replay_done(rt_call *c);

static void start_replay(sess *s, int64_t from)
{
	rt_call *c = call_new(s, NULL, NULL, replay_done);
	if (!c) {
		ws_close(s->ws, 1011, "out of memory");
		return;
	}
	s->state = S_SYNC;
	s->overflow = false;
	c->k.pos = from;
	svc_v2(s->hub->svc, &c->k, V2_REPLAY);
}

static void replay_done(rt_call *c)
{
	sess *s = c->s;
	svc_call *k = &c->k;
	if (k->err) {
		send_error(s, NULL, k->err, NULL);
		ws_close(s->ws, 1011, "replay failed");
		return;
	}
	if (k->resync) {
		/* The position is older than the retained window: the client
		 * reloads over REST and continues from the head. */
		send_json(s, json_pack("{s:i,s:s,s:I}", "v", 1, "type", "resync_required", "pos",
		                       (json_int_t)k->head_pos));
		s->last_sent = k->head_pos;
	} else {
		for (size_t i = 0; i < k->event_count && !s->gone; i++) {
			svc_event *e = &k->events[i];
			track_membership(s, e->type, e->user_id, e->ref_chat);
			if (e->pos > s->last_sent) {
				ws_send_text(s->ws, e->frame, e->frame_len);
				s->last_sent = e->pos;
			}
		}
	}
	if (s->overflow) {
		/* More arrived during the replay than we hold: start over
		 * from what was sent, rather than grow without bound. */
		buf_clear(s);
		start_replay(s, s->last_sent);
		return;
	}
	for (size_t i = 0; i < s->nbuf && !s->gone; i++) {
		if (s->buf[i].pos > s->last_sent) {
			ws_send(s->ws, s->buf[i].m);
			s->last_sent = s->buf[i].pos;
		}
	}
	buf_clear(s);
	s->state = S_LIVE;
}

static void init_done(rt_call *c)
{
	sess *s = c->s;
	svc_call *k = &c->k;
	if (k->err) {
		send_error(s, NULL, k->err, k->err_detail[0] ? k->err_detail : NULL);
		int code = k->err == HERR_UNAUTHORIZED ? 4401
		           : k->err == HERR_FORBIDDEN || k->err == HERR_NOT_FOUND || k->err == HERR_FIELD_MISSING
		                   ? 4403
		                   : 1011;
		ws_close(s->ws, code, herr_name(k->err));
		return;
	}
	s->tenant_id = k->tenant_id;
	s->user_id = k->user_id;
	free(s->user_pub);
	s->user_pub = strdup(k->user_public);
	if (!s->user_pub || list_add(&s->hub->users, s->user_id, s) != 0) {
		ws_close(s->ws, 1011, "out of memory");
		return;
	}
	for (size_t i = 0; i < k->chat_count; i++)
		sess_add_chat(s, k->chat_ids[i]);
	int64_t from = s->want_pos >= 0 ? s->want_pos : k->head_pos;
	s->last_sent = from;
	send_json(s, json_pack("{s:i,s:s,s:I,s:{s:s,s:s}}", "v", 1, "type", "hello", "pos", (json_int_t)from, "user",
	                       "id", k->user_public, "name", k->user_name));
	/* Registered before the replay starts, so nothing committed from now
	 * on can slip between the replay and live delivery. */
	start_replay(s, from);
}

static void begin(sess *s)
{
	rt_call *c = call_new(s, NULL, NULL, init_done);
	if (!c) {
		ws_close(s->ws, 1011, "out of memory");
		return;
	}
	s->state = S_INIT;
	svc_v2(s->hub->svc, &c->k, V2_SUBSCRIBE_INIT);
}

/* ---- client frames ------------------------------------------------------------------------ */

static int64_t int_field(json_t *o, const char *name, int64_t def)
{
	json_t *v = json_object_get(o, name);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

static void on_typing(sess *s, json_t *msg)
{
	int64_t chat = int_field(msg, "chat", 0);
	if (!sess_in_chat(s, chat)) {
		abuse(s, json_object_get(msg, "id"), HERR_NOT_FOUND, "chat");
		return;
	}
	int64_t now = htime_now_ms();
	if (now - s->last_typing < TYPING_INTERVAL_MS)
		return;
	s->last_typing = now;
	/* Ephemeral: not in the log, no pos, never replayed. */
	json_t *o = json_pack("{s:i,s:s,s:I,s:s}", "v", 1, "type", "typing", "chat", (json_int_t)chat, "user",
	                      s->user_pub ? s->user_pub : "");
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	ws_msg *m = text ? ws_msg_text(text, strlen(text)) : NULL;
	free(text);
	sess_list *l = m ? i64map_get(&s->hub->chats, chat) : NULL;
	for (size_t i = 0; l && i < l->n; i++)
		if (l->v[i] != s && l->v[i]->user_id != s->user_id && l->v[i]->state == S_LIVE && !l->v[i]->gone)
			ws_send(l->v[i]->ws, m);
	ws_msg_unref(m);
}

static void topic_done(rt_call *c)
{
	sess *s = c->s;
	svc_call *k = &c->k;
	sess_topic *t = sess_find_topic(s, k->p_topic);
	if (!t)
		return; /* unsubscribed meanwhile */
	if (k->err) {
		sess_drop_topic(s, k->p_topic);
		send_error(s, c->id, k->err, k->err_detail[0] ? k->err_detail : NULL);
		return;
	}
	if (k->pos == INT64_MAX)
		t->last_seq = k->head_pos; /* live only: nothing before now */
	for (size_t i = 0; i < k->event_count && !s->gone; i++) {
		if (k->events[i].topic_seq > t->last_seq) {
			ws_send_text(s->ws, k->events[i].frame, k->events[i].frame_len);
			t->last_seq = k->events[i].topic_seq;
		}
	}
	for (size_t i = 0; i < t->nbuf && !s->gone; i++) {
		if (t->buf[i].pos > t->last_seq) {
			ws_send(s->ws, t->buf[i].m);
			t->last_seq = t->buf[i].pos;
		}
	}
	topic_buf_clear(t);
	t->syncing = false;
	json_t *o = json_pack("{s:i,s:s}", "v", 1, "type", "ack");
	if (c->id)
		json_object_set(o, "id", c->id);
	json_object_set_new(o, "result", json_pack("{s:s,s:I}", "topic", t->name, "seq", (json_int_t)t->last_seq));
	send_json(s, o);
}

/* {"type":"subscribe","topic":"orders","after":12}: events after seq 12
 * (those still kept), then live; without "after", live only. */
static void on_subscribe(sess *s, json_t *msg, bool subscribe)
{
	json_t *id = json_object_get(msg, "id");
	const char *name = json_string_value(json_object_get(msg, "topic"));
	if (!name || !*name || strlen(name) > 64) {
		abuse(s, id, HERR_FIELD_INVALID, "topic");
		return;
	}
	if (!subscribe) {
		sess_drop_topic(s, name);
		json_t *o = json_pack("{s:i,s:s}", "v", 1, "type", "ack");
		if (id)
			json_object_set(o, "id", id);
		json_object_set_new(o, "result", json_pack("{s:s}", "topic", name));
		send_json(s, o);
		return;
	}
	if (sess_find_topic(s, name) || s->ntopics >= TOPICS_PER_SESSION) {
		abuse(s, id, HERR_CONFLICT, "topic (already subscribed, or too many)");
		return;
	}
	json_t *after = json_object_get(msg, "after");
	if (after && (!json_is_integer(after) || json_integer_value(after) < 0)) {
		abuse(s, id, HERR_FIELD_INVALID, "after");
		return;
	}
	sess_topic *n = realloc(s->topics, (s->ntopics + 1) * sizeof *n);
	if (!n) {
		send_error(s, id, HERR_NOMEM, NULL);
		return;
	}
	s->topics = n;
	sess_topic *t = &s->topics[s->ntopics];
	memset(t, 0, sizeof *t);
	hstrlcpy(t->name, name, sizeof t->name);
	t->key = topic_key(s->tenant_id, name);
	t->syncing = true;
	t->last_seq = after ? json_integer_value(after) : 0;
	if (list_add(&s->hub->topics, t->key, s) != 0) {
		send_error(s, id, HERR_NOMEM, NULL);
		return;
	}
	s->ntopics++;
	/* Registered first, then the replay: live events meanwhile are held. */
	rt_call *c = call_new(s, id, NULL, topic_done);
	if (!c) {
		sess_drop_topic(s, name);
		send_error(s, id, HERR_NOMEM, NULL);
		return;
	}
	hstrlcpy(c->k.p_topic, name, sizeof c->k.p_topic);
	c->k.pos = after ? json_integer_value(after) : INT64_MAX;
	svc_v2(s->hub->svc, &c->k, V2_TOPIC_SUBSCRIBE);
}

static void on_message(sess *s, json_t *msg)
{
	const char *type = json_string_value(json_object_get(msg, "type"));
	json_t *id = json_object_get(msg, "id");
	if (!type) {
		abuse(s, id, HERR_FIELD_MISSING, "type");
		return;
	}
	if (s->state == S_AUTH) {
		/* The first frame may authenticate, for clients that cannot put
		 * the token in the URL. */
		const char *token = json_string_value(json_object_get(msg, "token"));
		if (strcmp(type, "auth") != 0 || !token || strlen(token) > TOKEN_MAX) {
			send_error(s, id, HERR_UNAUTHORIZED, NULL);
			ws_close(s->ws, 4401, "unauthorized");
			return;
		}
		s->token = strdup(token);
		const char *user = json_string_value(json_object_get(msg, "user"));
		if (user && *user) {
			free(s->as_user);
			s->as_user = strndup(user, AS_USER_MAX);
		}
		json_t *pos = json_object_get(msg, "pos");
		s->want_pos = json_is_integer(pos) && json_integer_value(pos) >= 0 ? json_integer_value(pos) : -1;
		begin(s);
		return;
	}
	if (strcmp(type, "ping") == 0) {
		json_t *o = json_pack("{s:i,s:s}", "v", 1, "type", "pong");
		if (id)
			json_object_set(o, "id", id);
		send_json(s, o);
		return;
	}
	if (s->state == S_INIT) {
		/* Not the client's fault (it may pipeline): answered, not counted. */
		send_error(s, id, HERR_CONFLICT, "not ready yet: wait for hello");
		return;
	}
	if (strcmp(type, "resume") == 0) {
		json_t *pos = json_object_get(msg, "pos");
		if (!json_is_integer(pos) || json_integer_value(pos) < 0) {
			abuse(s, id, HERR_FIELD_INVALID, "pos");
			return;
		}
		buf_clear(s);
		s->last_sent = json_integer_value(pos);
		start_replay(s, s->last_sent);
		return;
	}
	if (strcmp(type, "typing") == 0) {
		on_typing(s, msg);
		return;
	}
	if (strcmp(type, "subscribe") == 0 || strcmp(type, "unsubscribe") == 0) {
		on_subscribe(s, msg, type[0] == 's');
		return;
	}
	if (strcmp(type, "delivered") == 0) {
		/* A push this user's device received (its id came in the push). */
		int64_t delivery = int_field(msg, "delivery", 0);
		if (delivery <= 0) {
			abuse(s, id, HERR_FIELD_MISSING, "delivery");
			return;
		}
		rt_call *c = call_new(s, id, msg, reply);
		if (!c) {
			send_error(s, id, HERR_NOMEM, NULL);
			return;
		}
		c->k.p_delivery = delivery;
		svc_v2(s->hub->svc, &c->k, V2_DELIVERED);
		return;
	}
	svc_v2_op op;
	if (strcmp(type, "send") == 0)
		op = V2_MSG_POST;
	else if (strcmp(type, "read") == 0)
		op = V2_READ;
	else if (strcmp(type, "edit") == 0)
		op = V2_MSG_PATCH;
	else if (strcmp(type, "delete") == 0)
		op = V2_MSG_DELETE;
	else {
		abuse(s, id, HERR_FIELD_INVALID, "type");
		return;
	}
	int64_t chat = int_field(msg, "chat", 0);
	if (chat <= 0) {
		abuse(s, id, HERR_FIELD_MISSING, "chat");
		return;
	}
	rt_call *c = call_new(s, id, msg, reply);
	if (!c) {
		send_error(s, id, HERR_NOMEM, NULL);
		return;
	}
	c->k.p_chat = chat;
	c->k.p_seq = int_field(msg, "seq", 0);
	if (s->as_user && s->as_user[0] && op == V2_MSG_POST && !json_object_get(msg, "sender"))
		json_object_set_new(c->body, "sender", json_string(s->as_user));
	svc_v2(s->hub->svc, &c->k, op);
}

static void on_text(ws_conn *ws, const char *data, size_t len, void *ud)
{
	(void)ws;
	sess *s = ud;
	json_error_t jerr;
	json_t *msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!msg || !json_is_object(msg)) {
		json_decref(msg);
		abuse(s, NULL, HERR_BAD_JSON, NULL);
		return;
	}
	on_message(s, msg);
	json_decref(msg);
}

static void on_close(ws_conn *ws, int code, void *ud)
{
	(void)ws;
	(void)code;
	sess *s = ud;
	rt_hub *h = s->hub;
	sess_unregister(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		h->all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	h->count--;
	s->gone = true;
	s->ws = NULL;
	sess_maybe_free(s);
}

/* ---- the endpoint ---------------------------------------------------------------------------- */

void rt_route_ws(api *a, http_request *req, const router_params *params)
{
	(void)params;
	rt_hub *h = a->hub;
	if (h->closing) {
		api_send_error(req, HERR_SHUTTING_DOWN, NULL, 0);
		return;
	}
	int status = ws_handshake_status(req);
	if (status != 101) {
		const char *hdrs[] = {"Sec-WebSocket-Version: 13", "X-Herald-Error: bad_request", NULL};
		if (status == 426) {
			api_send_json(req, 426,
			              json_pack("{s:{s:s,s:s}}", "error", "code", "bad_request", "message",
			                        "this endpoint speaks WebSocket version 13"),
			              hdrs);
			return;
		}
		api_send_error(req, HERR_BAD_REQUEST, NULL, 0);
		return;
	}
	sess *s = calloc(1, sizeof *s);
	if (!s) {
		api_send_error(req, HERR_NOMEM, NULL, 0);
		return;
	}
	s->hub = h;
	s->lang = api_lang(req);
	s->want_pos = -1;
	char buf[TOKEN_MAX + 1];
	const char *auth = http_request_header(req, "authorization");
	if (http_request_query(req, "token", buf, sizeof buf) > 0) {
		s->token = strdup(buf);
	} else if (auth) {
		if (strncasecmp(auth, "bearer ", 7) == 0)
			auth += 7;
		if (strlen(auth) <= TOKEN_MAX)
			s->token = strdup(auth);
	}
	if (http_request_query(req, "user", buf, sizeof buf) > 0)
		s->as_user = strndup(buf, AS_USER_MAX);
	if (http_request_query(req, "pos", buf, sizeof buf) > 0) {
		char *end;
		long long p = strtoll(buf, &end, 10);
		if (*end || p < 0) {
			sess_free(s);
			api_send_error(req, HERR_FIELD_INVALID, "pos", 0);
			return;
		}
		s->want_pos = p;
	}
	ws_callbacks cb = {.on_text = on_text, .on_close = on_close};
	int rc = ws_accept(req, &h->wsopt, &cb, s, &s->ws);
	if (rc != 0) {
		sess_free(s);
		if (rc != HERR_IO)
			api_send_error(req, rc == HERR_BAD_REQUEST ? HERR_BAD_REQUEST : HERR_INTERNAL, NULL, 0);
		return;
	}
	s->next = h->all;
	if (h->all)
		h->all->prev = s;
	h->all = s;
	h->count++;
	if (s->token)
		begin(s);
	else
		s->state = S_AUTH;
}

/* Whether the user has a connection that gets their events now (or is
 * catching up to them): the push queue's "online first". */
static bool user_live(void *ud, int64_t user_id)
{
	rt_hub *h = ud;
	sess_list *l = i64map_get(&h->users, user_id);
	for (size_t i = 0; l && i < l->n; i++)
		if (!l->v[i]->gone && (l->v[i]->state == S_LIVE || l->v[i]->state == S_SYNC))
			return true;
	return false;
}

rt_hub *rt_hub_new(api *a, svc *s, const ws_options *opt)
{
	rt_hub *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->api = a;
	h->svc = s;
	ws_options_default(&h->wsopt);
	if (opt)
		h->wsopt = *opt;
	svc_set_event_sink(s, on_event, h);
	svc_set_presence(s, user_live, h);
	return h;
}

void rt_hub_close_all(rt_hub *h)
{
	h->closing = true;
	for (sess *s = h->all; s; s = s->next)
		if (!s->gone)
			ws_close(s->ws, 1001, "server shutting down");
}

size_t rt_hub_sessions(const rt_hub *h)
{
	return h->count;
}

static void free_list(void *ud, int64_t key, void *val)
{
	(void)ud;
	(void)key;
	sess_list *l = val;
	free(l->v);
	free(l);
}

void rt_hub_free(rt_hub *h)
{
	if (!h)
		return;
	svc_set_event_sink(h->svc, NULL, NULL);
	svc_set_presence(h->svc, NULL, NULL);
	i64map_each(&h->users, free_list, NULL);
	i64map_each(&h->chats, free_list, NULL);
	i64map_each(&h->topics, free_list, NULL);
	i64map_free(&h->topics);
	i64map_free(&h->users);
	i64map_free(&h->chats);
	free(h);
}
