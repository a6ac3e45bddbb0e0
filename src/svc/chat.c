/*
 * chat.c — team chat: users, sessions, chats, members, messages, receipts,
 * search and the realtime event log (see chat.h).
 *
 * Every operation runs as one storage job: resolve the caller, check the
 * permission table (docs/permissions.md), change what changes, append the
 * events that tell every member, build the result. The events reach the
 * realtime layer only after the commit, in commit order.
 *
 * Permission table (enforced here for REST and realtime alike):
 *   action              server  tenant admin  owner  chat admin  member  reader
 *   create group chat     ✓        ✓ (+dispatcher)  —      —         —       —
 *   create direct chat    ✓        ✓            any active user of the tenant
 *   read chat / history   ✓        ✓            ✓        ✓         ✓       ✓
 *   post                  ✓        —¹           ✓        ✓         ✓       —
 *   rename / edit chat    ✓        ✓            ✓        ✓         —       —
 *   delete / restore chat ✓        ✓            ✓        —         —       —
 *   add / remove members  ✓        ✓            ✓        ✓²        self³   self³
 *   edit own message      ✓⁴       —            ✓        ✓         ✓       —
 *   delete own message    ✓⁴       ✓            ✓        ✓         ✓       —
 *   delete others' msgs   ✓        ✓            ✓        ✓         —       —
 *   edit others' msgs     ✓        —            —        —         —       —
 * ¹ unless also a member; ² not owners, and cannot make owners; ³ leaving;
 * ⁴ the server acts for any user. Direct and inbox chats have fixed members.
 */
#include "svc/chat.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/jwt.h"
#include "core/log.h"
#include "core/sniff.h"
#include "core/time.h"
#include "core/validate.h"
#include "push/webpush.h"
#include "svc/svc_internal.h"

#define LIMIT_DEFAULT     50
#define LIMIT_MAX         200
#define REPLAY_MAX        10000
#define MEMBERS_MAX       10000
#define RECEIPTS_LIST_MAX 100

typedef int (*v2_run_fn)(store_conn *c, svc_call *k);

/* ---- small helpers ------------------------------------------------------------------ */

/* Copies a string cut to the destination (lengths are checked where it
 * matters; this keeps the compiler's truncation analysis quiet). */
static void scopy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static int fail(svc_call *k, int err, const char *detail)
{
	k->err = err;
	scopy(k->err_detail, sizeof k->err_detail, detail ? detail : "");
	return err;
}

static json_t *iso(int64_t ms)
{
	if (ms <= 0)
		return json_null();
	char buf[32];
	htime_format_iso(ms, 0, buf);
	return json_string(buf);
}

static bool has_role(const char *roles, const char *role)
{
	size_t n = strlen(role);
	for (const char *p = roles; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && strncmp(p, role, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

static bool valid_role_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static int chat_role_rank(const char *role)
{
	if (strcmp(role, "owner") == 0)
		return 4;
	if (strcmp(role, "admin") == 0)
		return 3;
	if (strcmp(role, "member") == 0)
		return 2;
	if (strcmp(role, "reader") == 0)
		return 1;
	return 0;
}

/* A string field of the body: absent → def; wrong type → error. */
static int body_str(svc_call *k, const char *name, const char **out, const char *def, size_t max_chars, bool required)
{
	json_t *v = k->body ? json_object_get(k->body, name) : NULL;
	*out = def;
	if (!v || json_is_null(v))
		return required ? fail(k, HERR_FIELD_MISSING, name) : 0;
	if (!json_is_string(v))
		return fail(k, HERR_FIELD_TYPE, name);
	const char *s = json_string_value(v);
	size_t len = json_string_length(v), cps = 0;
	if (memchr(s, '\0', len) || hval_utf8(s, len, &cps) != 0 || cps > max_chars)
		return fail(k, HERR_FIELD_INVALID, name);
	*out = s;
	return 0;
}

static int body_bool(svc_call *k, const char *name, int *out)
{
	json_t *v = k->body ? json_object_get(k->body, name) : NULL;
	*out = -1;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return fail(k, HERR_FIELD_TYPE, name);
	*out = json_is_true(v);
	return 0;
}

static int body_int(svc_call *k, const char *name, int64_t *out, int64_t def)
{
	json_t *v = k->body ? json_object_get(k->body, name) : NULL;
	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return fail(k, HERR_FIELD_TYPE, name);
	*out = json_integer_value(v);
	return 0;
}

/* ---- events ------------------------------------------------------------------------- */

static int push_event(svc_call *k, int64_t pos, int64_t chat_id, int64_t user_id, int64_t subject, int64_t ref_chat,
                      const char *type, const char *payload)
{
	if (k->event_count == k->event_cap_) {
		size_t cap = k->event_cap_ ? k->event_cap_ * 2 : 4;
		svc_event *n = realloc(k->events, cap * sizeof *n);
		if (!n)
			return HERR_NOMEM;
		k->events = n;
		k->event_cap_ = cap;
	}
	/* frame = {"v":1,"pos":N, + the payload without its opening brace */
	size_t plen = strlen(payload);
	char head[48];
	int hl = snprintf(head, sizeof head, "{\"v\":1,\"pos\":%lld,", (long long)pos);
	char *frame = malloc((size_t)hl + plen);
	if (!frame)
		return HERR_NOMEM;
	memcpy(frame, head, (size_t)hl);
	memcpy(frame + hl, payload + 1, plen - 1);
	frame[hl + plen - 1] = '\0';
	svc_event *e = &k->events[k->event_count++];
	memset(e, 0, sizeof *e); /* realloc'ed memory: every field starts empty */
	e->pos = pos;
	e->tenant_id = k->tenant_id;
	e->chat_id = chat_id;
	e->user_id = user_id;
	e->subject_user = subject;
	e->ref_chat = ref_chat ? ref_chat : chat_id;
	scopy(e->type, sizeof e->type, type);
	e->frame = frame;
	e->frame_len = (size_t)hl + plen - 1;
	return 0;
}

/* Appends an event whose payload is serialised already ({"type":…,…}). */
static int emit_json(store_conn *c, svc_call *k, int64_t chat_id, int64_t user_id, int64_t subject, int64_t ref,
                     const char *type, const char *payload)
{
	int64_t pos = 0;
	int rc = store_event_append(c, k->tenant_id, chat_id, user_id, type, payload, htime_now_ms(), &pos);
	if (rc == 0)
		rc = push_event(k, pos, chat_id, user_id, subject, ref, type, payload);
	return rc;
}

/* Appends an event to the log (audience: a chat's members or one user) and
 * queues its frame for delivery after commit. Takes ownership of obj. */
static int emit(store_conn *c, svc_call *k, int64_t chat_id, int64_t user_id, int64_t subject, const char *type,
                json_t *obj)
{
	if (!obj)
		return HERR_NOMEM;
	/* A new object with "type" first (jansson keeps insertion order):
	 * obj itself may be the caller's result and must stay as it is. */
	json_t *ordered = json_object();
	json_object_set_new(ordered, "type", json_string(type));
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "type") != 0)
			json_object_set(ordered, key, val);
	}
	json_decref(obj);
	json_t *cj = json_object_get(ordered, "chat");
	int64_t ref = json_is_integer(cj)  ? json_integer_value(cj)
	              : json_is_object(cj) ? json_integer_value(json_object_get(cj, "id"))
	                                   : 0;
	char *payload = json_dumps(ordered, JSON_COMPACT);
	json_decref(ordered);
	if (!payload)
		return HERR_NOMEM;
	int rc = emit_json(c, k, chat_id, user_id, subject, ref, type, payload);
	free(payload);
	return rc;
}

/* ---- JSON of resources ----------------------------------------------------------------- */

static json_t *roles_json(const char *roles)
{
	json_t *a = json_array();
	for (const char *p = roles; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		json_array_append_new(a, json_stringn(p, len));
		p = comma ? comma + 1 : NULL;
	}
	return a;
}

static json_t *user_json(const store_user *u, const store_user_ext *x)
{
	char pub[STORE_EXTERNAL_ID_MAX + 8];
	store_user_public_id(u, pub);
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(pub));
	json_object_set_new(o, "name", json_string(u->name));
	json_object_set_new(o, "phone", u->phone[0] ? json_string(u->phone) : json_null());
	json_object_set_new(o, "staff_id", json_string(u->staff_id));
	if (x) {
		json_object_set_new(o, "avatar_url", x->avatar_url[0] ? json_string(x->avatar_url) : json_null());
		json_object_set_new(o, "roles", roles_json(x->roles[0] ? x->roles : "staff"));
		json_object_set_new(o, "active", json_boolean(x->active));
	}
	json_object_set_new(o, "created_at", iso(u->created_at));
	return o;
}

static json_t *chat_json(const store_chat *ch)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(ch->id));
	json_object_set_new(o, "type", json_string(ch->kind));
	json_object_set_new(o, "title", json_string(ch->title));
	json_object_set_new(o, "description", json_string(ch->description));
	json_object_set_new(o, "avatar_url", ch->avatar_url[0] ? json_string(ch->avatar_url) : json_null());
	json_object_set_new(o, "ref",
	                    ch->ref_type[0] ? json_pack("{s:s,s:s}", "type", ch->ref_type, "id", ch->ref_id)
	                                    : json_null());
	json_object_set_new(o, "last_seq", json_integer(ch->last_seq));
	json_object_set_new(o, "last_message_at", iso(ch->last_message_at));
	json_object_set_new(o, "created_at", iso(ch->created_at));
	json_object_set_new(o, "updated_at", iso(ch->updated_at));
	json_object_set_new(o, "deleted", json_boolean(ch->deleted_at != 0));
	return o;
}

/* Looks up sender names for message JSON; a tiny per-call cache, since a
 * page of history has few distinct senders. */
typedef struct name_cache {
	int64_t ids[16];
	char pub[16][STORE_EXTERNAL_ID_MAX + 8];
	char name[16][STORE_NAME_MAX];
	int n;
} name_cache;

static void sender_info(store_conn *c, int64_t tenant_id, int64_t uid, name_cache *nc, const char **pub,
                        const char **name)
{
	*pub = NULL;
	*name = NULL;
	if (!uid)
		return;
	for (int i = 0; i < nc->n; i++)
		if (nc->ids[i] == uid) {
			*pub = nc->pub[i];
			*name = nc->name[i];
			return;
		}
	store_user u;
	if (store_user_by_id(c, tenant_id, uid, &u) != 0)
		return;
	int i = nc->n < 16 ? nc->n++ : 15;
	nc->ids[i] = uid;
	store_user_public_id(&u, nc->pub[i]);
	scopy(nc->name[i], sizeof nc->name[i], u.name);
	*pub = nc->pub[i];
	*name = nc->name[i];
}

static json_t *msg_json(store_conn *c, int64_t tenant_id, const store_msg *m, name_cache *nc)
{
	const char *pub, *name;
	sender_info(c, tenant_id, m->sender_id, nc, &pub, &name);
	json_t *o = json_object();
	json_object_set_new(o, "chat", json_integer(m->chat_id));
	json_object_set_new(o, "seq", json_integer(m->seq));
	json_object_set_new(o, "id", json_integer(m->id));
	json_object_set_new(o, "kind", json_string(m->kind ? m->kind : "text"));
	json_object_set_new(o, "sender", pub ? json_string(pub) : json_null());
	json_object_set_new(o, "sender_name", name ? json_string(name) : json_null());
	json_object_set_new(o, "title", json_string(m->title ? m->title : ""));
	json_object_set_new(o, "text", json_string(m->body ? m->body : ""));
	json_object_set_new(o, "client_id", m->client_id ? json_string(m->client_id) : json_null());
	json_object_set_new(o, "reply_to", m->reply_to ? json_integer(m->reply_to) : json_null());
	json_t *extra = m->extra ? json_loads(m->extra, 0, NULL) : NULL;
	json_t *mentions = extra ? json_object_get(extra, "mentions") : NULL;
	json_t *att = extra ? json_object_get(extra, "attachments") : NULL;
	json_object_set_new(o, "mentions", mentions ? json_incref(mentions) : json_array());
	json_object_set_new(o, "attachments", att ? json_incref(att) : json_array());
	json_decref(extra);
	json_object_set_new(o, "created_at", iso(m->created_at));
	json_object_set_new(o, "edited_at", iso(m->edited_at));
	json_object_set_new(o, "deleted", json_boolean(m->deleted_at != 0));
	return o;
}

static int put_i64(hbuf *b, int64_t v)
{
	char t[24];
	char *p = t + sizeof t;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	return hbuf_append(b, p, (size_t)(t + sizeof t - p));
}

static int put_str(hbuf *b, const char *s)
{
	return s ? hbuf_json_str(b, s, strlen(s)) : hbuf_puts(b, "null");
}

static int put_iso(hbuf *b, int64_t ms)
{
	if (ms <= 0)
		return hbuf_puts(b, "null");
	char t[32];
	htime_format_iso(ms, 0, t);
	return put_str(b, t);
}

/* The new message as msg_json would build it, written straight into b, for
 * the hot path of a post (the event payload and the answer): no jansson tree
 * built, dumped and freed on the writer thread. mentions and attachments are
 * JSON arrays already. Keys in msg_json's order. */
static int msg_json_write(hbuf *b, const store_msg *m, const char *pub, const char *name, const char *mentions,
                          const char *attachments)
{
	int rc = hbuf_puts(b, "{\"chat\":") || put_i64(b, m->chat_id) || hbuf_puts(b, ",\"seq\":") ||
	         put_i64(b, m->seq) || hbuf_puts(b, ",\"id\":") || put_i64(b, m->id) || hbuf_puts(b, ",\"kind\":") ||
	         put_str(b, m->kind ? m->kind : "text") || hbuf_puts(b, ",\"sender\":") || put_str(b, pub) ||
	         hbuf_puts(b, ",\"sender_name\":") || put_str(b, name) || hbuf_puts(b, ",\"title\":") ||
	         put_str(b, m->title ? m->title : "") || hbuf_puts(b, ",\"text\":") ||
	         put_str(b, m->body ? m->body : "") || hbuf_puts(b, ",\"client_id\":") || put_str(b, m->client_id) ||
	         hbuf_puts(b, ",\"reply_to\":") || (m->reply_to ? put_i64(b, m->reply_to) : hbuf_puts(b, "null")) ||
	         hbuf_puts(b, ",\"mentions\":") || hbuf_puts(b, mentions) || hbuf_puts(b, ",\"attachments\":") ||
	         hbuf_puts(b, attachments) || hbuf_puts(b, ",\"created_at\":") || put_iso(b, m->created_at) ||
	         hbuf_puts(b, ",\"edited_at\":") || put_iso(b, m->edited_at) || hbuf_puts(b, ",\"deleted\":") ||
	         hbuf_puts(b, m->deleted_at ? "true}" : "false}");
	return rc ? HERR_NOMEM : 0;
}

/* ---- who is calling ---------------------------------------------------------------------- */

/* Finds a user by the public id: "staff-<digits>" or the host's external id. */
static int find_user(store_conn *c, int64_t tenant_id, const char *pub, store_user *out)
{
	if (strncmp(pub, "staff-", 6) == 0 && hval_digits(pub + 6, STORE_STAFF_ID_MAX - 1) == 0)
		return store_user_by_staff_id(c, tenant_id, pub + 6, out);
	return store_user_by_external_id(c, tenant_id, pub, out);
}

static void set_caller_user(svc_call *k, const store_user *u)
{
	k->user_id = u->id;
	store_user_public_id(u, k->user_public);
	scopy(k->user_name, sizeof k->user_name, u->name);
}

static int resolve_jwt(store_conn *c, svc_call *k)
{
	svc *s = k->svc_;
	const char *t = k->token;
	size_t len = strlen(t);
	/* The payload names the tenant (iss = its INN) before we can know
	 * which key verifies it; nothing in it is trusted until then. */
	const char *d1 = strchr(t, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d1 || !d2 || len > 4096)
		return fail(k, HERR_UNAUTHORIZED, "malformed token");
	uint8_t raw[3072];
	long n = hcodec_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), raw, sizeof raw);
	json_t *claims = n > 0 ? json_loadb((const char *)raw, (size_t)n, 0, NULL) : NULL;
	const char *iss = claims ? json_string_value(json_object_get(claims, "iss")) : NULL;
	char inn[STORE_INN_MAX] = "";
	if (iss && hval_inn(iss) == 0)
		scopy(inn, sizeof inn, iss);
	json_decref(claims);
	if (!inn[0])
		return fail(k, HERR_UNAUTHORIZED, "the token's iss must be the tenant's INN");
	store_tenant t0;
	int rc = store_tenant_by_inn(c, inn, &t0);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_UNAUTHORIZED, "unknown tenant");
	if (rc != 0)
		return rc;
	uint8_t key[32];
	if ((rc = store_tenant_jwt_secret(c, t0.id, key)) == HERR_NOT_FOUND)
		return fail(k, HERR_UNAUTHORIZED, "the tenant has no JWT secret yet");
	if (rc != 0)
		return rc;
	hjwt_expect ex = {
	        .now_s = htime_now_ms() / 1000, .leeway_s = 5, .audience = s->jwt_audience[0] ? s->jwt_audience : NULL};
	hjwt_claims cl;
	char why[96];
	if (hjwt_verify(t, len, key, sizeof key, &ex, &cl, why, sizeof why) != 0)
		return fail(k, HERR_UNAUTHORIZED, why);
	/* sub is the user's id in the host: the same rules as PUT /users/{id}. */
	if (strncmp(cl.sub, "staff-", 6) == 0 || strpbrk(cl.sub, "/ \t\r\n"))
		return fail(k, HERR_UNAUTHORIZED, "bad sub");
	k->tenant_id = t0.id;
	scopy(k->tenant_inn, sizeof k->tenant_inn, t0.inn);
	store_user u;
	rc = store_user_by_external_id(c, t0.id, cl.sub, &u);
	if (rc != 0 && rc != HERR_NOT_FOUND)
		return rc;
	/* The host vouches for its users: the first token of a user creates
	 * them, later tokens keep name and roles in step. */
	char roles[STORE_ROLES_MAX] = "";
	for (int i = 0; i < cl.role_count; i++)
		snprintf(roles + strlen(roles), sizeof roles - strlen(roles), "%s%s", i ? "," : "", cl.roles[i]);
	store_user_ext x = {0};
	bool changed = rc == HERR_NOT_FOUND;
	if (rc == 0) {
		if ((rc = store_user_ext_get(c, t0.id, u.id, &x)) != 0)
			return rc;
		if (!x.active)
			return fail(k, HERR_UNAUTHORIZED, "user deactivated");
		changed = (cl.name[0] && strcmp(cl.name, u.name) != 0) || (cl.role_count && strcmp(roles, x.roles));
	}
	if (changed && !k->write_)
		return HERR_CONFLICT; /* svc_v2 retries as a write job */
	if (rc == HERR_NOT_FOUND) {
		memset(&u, 0, sizeof u);
		u.tenant_id = t0.id;
		scopy(u.external_id, sizeof u.external_id, cl.sub);
		scopy(u.name, sizeof u.name, cl.name[0] ? cl.name : cl.sub);
		u.mailing = true;
		u.created_at = u.updated_at = htime_now_ms();
		if ((rc = store_user_insert(c, &u)) != 0)
			return rc;
		scopy(x.roles, sizeof x.roles, roles[0] ? roles : "staff");
		x.active = true;
		if ((rc = store_user_ext_set(c, t0.id, u.id, &x)) != 0)
			return rc;
	} else if (changed) {
		if (cl.name[0])
			scopy(u.name, sizeof u.name, cl.name);
		u.updated_at = htime_now_ms();
		if ((rc = store_user_update(c, &u)) != 0)
			return rc;
		if (cl.role_count) {
			scopy(x.roles, sizeof x.roles, roles);
			if ((rc = store_user_ext_set(c, t0.id, u.id, &x)) != 0)
				return rc;
		}
	}
	set_caller_user(k, &u);
	return 0;
}

static int resolve(store_conn *c, svc_call *k)
{
	if (!k->token || !*k->token)
		return fail(k, HERR_UNAUTHORIZED, NULL);
	if (strchr(k->token, '.'))
		return resolve_jwt(c, k);
	uint8_t h[HCRYPTO_HASH_BYTES];
	hcrypto_token_hash(k->token, strlen(k->token), h);
	store_tenant t;
	int rc = store_tenant_by_token(c, h, &t);
	if (rc == 0) {
		k->is_server = true;
		k->tenant_id = t.id;
		scopy(k->tenant_inn, sizeof k->tenant_inn, t.inn);
		return 0;
	}
	if (rc != HERR_NOT_FOUND)
		return rc;
	int64_t tid = 0;
	/* A company cabinet session acts as the tenant's server caller. */
	rc = store_cabinet_session_lookup(c, h, htime_now_ms(), &tid);
	if (rc == 0 && (rc = store_tenant_by_id(c, tid, &t)) == 0) {
		k->is_server = true;
		k->cabinet = true;
		k->tenant_id = t.id;
		scopy(k->tenant_inn, sizeof k->tenant_inn, t.inn);
		return 0;
	}
	if (rc != HERR_NOT_FOUND)
		return rc;
	/* A user's session: session, user and tenant in one query (this runs
	 * for every message a user sends). */
	store_user u;
	store_user_ext x;
	char inn[STORE_INN_MAX];
	rc = store_session_user(c, h, htime_now_ms(), &u, &x, inn);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_UNAUTHORIZED, NULL);
	if (rc != 0)
		return rc;
	if (!x.active)
		return fail(k, HERR_UNAUTHORIZED, "user deactivated");
	k->tenant_id = u.tenant_id;
	scopy(k->tenant_inn, sizeof k->tenant_inn, inn);
	set_caller_user(k, &u);
	return 0;
}

/* Users created by the SMS login of /api/v1 have no roles stored: they are
 * staff, like every user created without roles. */
static void default_roles(store_user_ext *x)
{
	if (!x->roles[0])
		scopy(x->roles, sizeof x->roles, "staff");
}

static int caller_roles(store_conn *c, svc_call *k, store_user_ext *x)
{
	memset(x, 0, sizeof *x);
	if (k->is_server)
		return 0;
	int rc = store_user_ext_get(c, k->tenant_id, k->user_id, x);
	default_roles(x);
	return rc;
}

static bool is_tenant_admin(store_conn *c, svc_call *k)
{
	store_user_ext x;
	if (k->is_server)
		return true;
	return caller_roles(c, k, &x) == 0 && has_role(x.roles, "admin");
}

/* Loads the chat and the caller's membership; checks the caller may read it. */
static int load_chat(store_conn *c, svc_call *k, store_chat *ch, store_member *me, bool *member)
{
	int rc = store_chat_get(c, k->tenant_id, k->p_chat, ch);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "chat");
	if (rc != 0)
		return rc;
	*member = false;
	memset(me, 0, sizeof *me);
	if (!k->is_server) {
		rc = store_member_get(c, k->tenant_id, ch->id, k->user_id, me);
		if (rc == 0)
			*member = true;
		else if (rc != HERR_NOT_FOUND)
			return rc;
	}
	if (!k->is_server && !*member && !is_tenant_admin(c, k))
		return fail(k, HERR_NOT_FOUND, "chat"); /* invisible, not forbidden: no existence leak */
	return 0;
}

/* The caller's effective rank in a chat: 5 server/tenant admin, else role. */
static int rank(store_conn *c, svc_call *k, const store_member *me, bool member)
{
	if (k->is_server)
		return 6;
	if (is_tenant_admin(c, k))
		return 5;
	return member ? chat_role_rank(me->role) : 0;
}

/* ---- users ----------------------------------------------------------------------------------- */

static int need_server(svc_call *k)
{
	return k->is_server ? 0 : fail(k, HERR_FORBIDDEN, NULL);
}

static int load_user_ext_json(store_conn *c, svc_call *k, const store_user *u, json_t **out)
{
	store_user_ext x;
	int rc = store_user_ext_get(c, k->tenant_id, u->id, &x);
	if (rc == 0)
		*out = user_json(u, &x);
	return rc;
}

/* Tells the user's open connections to end (the hub closes them, 4401). */
static int emit_deactivated(store_conn *c, svc_call *k, const store_user *u)
{
	char pub[STORE_EXTERNAL_ID_MAX + 8];
	store_user_public_id(u, pub);
	return emit(c, k, 0, u->id, 0, "user_deactivated", json_pack("{s:s}", "user", pub));
}

static int op_user_put(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	const char *pub = k->p_user;
	if (!*pub || strlen(pub) >= STORE_EXTERNAL_ID_MAX || strncmp(pub, "staff-", 6) == 0)
		return fail(k, HERR_FIELD_INVALID, "user id");
	for (const char *p = pub; *p; p++)
		if ((unsigned char)*p < 0x21 || *p == '/')
			return fail(k, HERR_FIELD_INVALID, "user id");
	const char *name, *phone, *avatar;
	int active;
	if ((rc = body_str(k, "name", &name, NULL, (size_t)k->svc_->settings.name_max, false)) ||
	    (rc = body_str(k, "phone", &phone, NULL, 32, false)) ||
	    (rc = body_str(k, "avatar_url", &avatar, NULL, STORE_URL_MAX - 1, false)) ||
	    (rc = body_bool(k, "active", &active)))
		return rc;
	char e164[STORE_PHONE_MAX] = "";
	if (phone && *phone && hval_phone_e164(phone, k->svc_->settings.default_country_code, e164) != 0)
		return fail(k, HERR_PHONE_INVALID, "phone");
	char roles[STORE_ROLES_MAX] = "";
	json_t *jr = k->body ? json_object_get(k->body, "roles") : NULL;
	if (jr && !json_is_null(jr)) {
		if (!json_is_array(jr) || json_array_size(jr) > 16)
			return fail(k, HERR_FIELD_INVALID, "roles");
		size_t i;
		json_t *v;
		json_array_foreach(jr, i, v)
		{
			if (!json_is_string(v) || !valid_role_name(json_string_value(v)))
				return fail(k, HERR_FIELD_INVALID, "roles");
			snprintf(roles + strlen(roles), sizeof roles - strlen(roles), "%s%s", i ? "," : "",
			         json_string_value(v));
		}
	}
	int64_t now = htime_now_ms();
	store_user u;
	store_user_ext x = {0};
	rc = store_user_by_external_id(c, k->tenant_id, pub, &u);
	if (rc == HERR_NOT_FOUND) {
		if (!name || !*name)
			return fail(k, HERR_FIELD_MISSING, "name");
		memset(&u, 0, sizeof u);
		u.tenant_id = k->tenant_id;
		scopy(u.external_id, sizeof u.external_id, pub);
		scopy(u.name, sizeof u.name, name);
		scopy(u.phone, sizeof u.phone, e164);
		u.mailing = true;
		u.created_at = u.updated_at = now;
		rc = store_user_insert(c, &u);
		if (rc == HERR_CONFLICT)
			return fail(k, HERR_CONFLICT, "phone");
		if (rc)
			return rc;
		scopy(x.roles, sizeof x.roles, jr && !json_is_null(jr) ? roles : "staff");
		scopy(x.avatar_url, sizeof x.avatar_url, avatar ? avatar : "");
		x.active = active != 0;
		k->status = 201;
	} else if (rc == 0) {
		if ((rc = store_user_ext_get(c, k->tenant_id, u.id, &x)) != 0)
			return rc;
		if (name && *name)
			scopy(u.name, sizeof u.name, name);
		if (phone)
			scopy(u.phone, sizeof u.phone, e164);
		u.updated_at = now;
		rc = store_user_update(c, &u);
		if (rc == HERR_CONFLICT)
			return fail(k, HERR_CONFLICT, "phone");
		if (rc)
			return rc;
		if (jr && !json_is_null(jr))
			scopy(x.roles, sizeof x.roles, roles);
		if (avatar)
			scopy(x.avatar_url, sizeof x.avatar_url, avatar);
		if (active >= 0)
			x.active = active != 0;
	} else {
		return rc;
	}
	if ((rc = store_user_ext_set(c, k->tenant_id, u.id, &x)) != 0)
		return rc;
	if (!x.active &&
	    ((rc = store_session_delete_user(c, k->tenant_id, u.id)) != 0 || (rc = emit_deactivated(c, k, &u)) != 0))
		return rc;
	k->result = user_json(&u, &x);
	return 0;
}

static int op_user_get(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	store_user u;
	rc = find_user(c, k->tenant_id, k->p_user, &u);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "user");
	return rc ? rc : load_user_ext_json(c, k, &u, &k->result);
}

typedef struct page_ctx {
	store_conn *c;
	svc_call *k;
	json_t *items;
	int64_t last_id;
	int count;
	name_cache names;
} page_ctx;

static int collect_user(void *ud, const store_user *u, const store_user_ext *x)
{
	page_ctx *p = ud;
	json_array_append_new(p->items, user_json(u, x));
	p->last_id = u->id;
	p->count++;
	return 0;
}

static int limit_of(svc_call *k)
{
	return k->q_limit <= 0 ? LIMIT_DEFAULT : k->q_limit > LIMIT_MAX ? LIMIT_MAX : k->q_limit;
}

static int op_user_list(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	int64_t after = k->q_cursor[0] ? strtoll(k->q_cursor, NULL, 10) : 0;
	page_ctx p = {.c = c, .k = k, .items = json_array()};
	int limit = limit_of(k);
	if ((rc = store_user_page(c, k->tenant_id, after, limit, collect_user, &p)) != 0) {
		json_decref(p.items);
		return rc;
	}
	char cur[32];
	snprintf(cur, sizeof cur, "%lld", (long long)p.last_id);
	k->result = json_pack("{s:o,s:o}", "items", p.items, "next_cursor",
	                      p.count == limit ? json_string(cur) : json_null());
	return 0;
}

/* A person in the directory: what any colleague may see. */
static int collect_person(void *ud, const store_user *u, const store_user_ext *x)
{
	page_ctx *p = ud;
	char pub[STORE_EXTERNAL_ID_MAX + 8];
	store_user_public_id(u, pub);
	json_array_append_new(p->items, json_pack("{s:s,s:s,s:o}", "id", pub, "name", u->name, "avatar_url",
	                                          x->avatar_url[0] ? json_string(x->avatar_url) : json_null()));
	p->last_id = u->id;
	p->count++;
	return 0;
}

/* The tenant's active users for people pickers (new chats, adding members):
 * any user of the tenant may look colleagues up by name or id, as the
 * permission table lets any active user start a direct chat with any other.
 * Contact data (phone) and roles stay with GET /api/v2/users (the host).
 * The cursor is the last row's id; paging follows name order. */
static int op_directory(store_conn *c, svc_call *k)
{
	int64_t after_id = 0;
	if (k->q_cursor[0]) {
		char *end;
		after_id = strtoll(k->q_cursor, &end, 10);
		if (*end || after_id <= 0)
			return fail(k, HERR_FIELD_INVALID, "cursor");
	}
	page_ctx p = {.c = c, .k = k, .items = json_array()};
	int limit = limit_of(k);
	int rc = store_user_directory(c, k->tenant_id, k->q_text, after_id, limit, collect_person, &p);
	if (rc) {
		json_decref(p.items);
		return rc;
	}
	char cur[32];
	snprintf(cur, sizeof cur, "%lld", (long long)p.last_id);
	k->result = json_pack("{s:o,s:o}", "items", p.items, "next_cursor",
	                      p.count == limit ? json_string(cur) : json_null());
	return 0;
}

static int op_user_deactivate(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	store_user u;
	store_user_ext x;
	if ((rc = find_user(c, k->tenant_id, k->p_user, &u)) == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "user");
	if (rc || (rc = store_user_ext_get(c, k->tenant_id, u.id, &x)) != 0)
		return rc;
	x.active = false;
	if ((rc = store_user_ext_set(c, k->tenant_id, u.id, &x)) != 0 ||
	    (rc = store_session_delete_user(c, k->tenant_id, u.id)) != 0 || (rc = emit_deactivated(c, k, &u)) != 0)
		return rc;
	k->result = user_json(&u, &x);
	return 0;
}

static int new_session(store_conn *c, svc_call *k, const store_user *u, int64_t ttl_s)
{
	char token[HCRYPTO_TOKEN_CHARS + 1];
	uint8_t h[HCRYPTO_HASH_BYTES];
	hcrypto_token_new(token);
	hcrypto_token_hash(token, strlen(token), h);
	int64_t now = htime_now_ms();
	int rc = store_session_insert(c, k->tenant_id, u->id, h, now, now + ttl_s * 1000);
	if (rc)
		return rc;
	json_t *uj = NULL;
	if ((rc = load_user_ext_json(c, k, u, &uj)) != 0)
		return rc;
	k->result = json_pack("{s:s,s:o,s:o}", "token", token, "expires_at", iso(now + ttl_s * 1000), "user", uj);
	k->status = 201;
	return 0;
}

static int op_session_create(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	const char *pub;
	int64_t ttl;
	if ((rc = body_str(k, "user", &pub, NULL, STORE_EXTERNAL_ID_MAX, true)) ||
	    (rc = body_int(k, "ttl_seconds", &ttl, k->svc_->settings.session_ttl_s)))
		return rc;
	if (ttl < 60 || ttl > 366LL * 24 * 3600)
		return fail(k, HERR_FIELD_INVALID, "ttl_seconds");
	store_user u;
	store_user_ext x;
	if ((rc = find_user(c, k->tenant_id, pub, &u)) == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "user");
	if (rc || (rc = store_user_ext_get(c, k->tenant_id, u.id, &x)) != 0)
		return rc;
	if (!x.active)
		return fail(k, HERR_CONFLICT, "user deactivated");
	return new_session(c, k, &u, ttl);
}

static int op_jwt_rotate(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	char token[HCRYPTO_TOKEN_CHARS + 1];
	uint8_t raw[32];
	hcrypto_token_new(token); /* 43 base64url characters = 32 random bytes */
	if (hcodec_b64url_decode(token, strlen(token), raw, sizeof raw) != 32)
		return HERR_INTERNAL;
	if ((rc = store_tenant_set_jwt_secret(c, k->tenant_id, raw)) != 0)
		return rc;
	k->result = json_pack("{s:s,s:s,s:s}", "secret", token, "alg", "HS256", "iss", k->tenant_inn);
	return 0;
}

/* A user's quiet hours as the API shows them (null: none). */
static json_t *quiet_json(const store_quiet *q)
{
	if (!q->set)
		return json_null();
	char from[8], to[8];
	snprintf(from, sizeof from, "%02d:%02d", q->from / 60 % 24, q->from % 60);
	snprintf(to, sizeof to, "%02d:%02d", q->to / 60 % 24, q->to % 60);
	return json_pack("{s:s,s:s,s:i}", "from", from, "to", to, "utc_offset", q->offset);
}

static int op_me(store_conn *c, svc_call *k)
{
	store_tenant t;
	int rc = store_tenant_by_id(c, k->tenant_id, &t);
	if (rc)
		return rc;
	json_t *tj = json_pack("{s:s,s:s,s:s}", "inn", t.inn, "name", t.short_name, "full_name", t.full_name);
	/* What clients need to validate before sending (the composer's counter). */
	const svc_settings *st = &k->svc_->settings;
	json_t *lj = json_pack("{s:i,s:i}", "text_max", st->text_max, "title_max", st->title_max);
	if (k->is_server) {
		k->result = json_pack("{s:s,s:o,s:o}", "kind", "server", "tenant", tj, "limits", lj);
		return 0;
	}
	store_user u;
	json_t *uj = NULL;
	if ((rc = store_user_by_id(c, k->tenant_id, k->user_id, &u)) != 0 ||
	    (rc = load_user_ext_json(c, k, &u, &uj)) != 0) {
		json_decref(tj);
		json_decref(lj);
		return rc;
	}
	store_quiet q;
	if ((rc = store_quiet_get(c, k->tenant_id, k->user_id, &q)) != 0) {
		json_decref(tj);
		json_decref(uj);
		json_decref(lj);
		return rc;
	}
	json_object_set_new(uj, "quiet_hours", quiet_json(&q));
	k->result = json_pack("{s:s,s:o,s:o,s:o}", "kind", "user", "tenant", tj, "user", uj, "limits", lj);
	return 0;
}

/* ---- development login --------------------------------------------------------------- */

static int dev_tenant(store_conn *c, svc_call *k, const char *inn)
{
	if (!k->svc_->dev_login)
		return fail(k, HERR_FORBIDDEN, "the development login is off (auth.dev_login)");
	store_tenant t;
	if (!inn || hval_inn(inn) != 0)
		return fail(k, HERR_INN_INVALID, "inn");
	int rc = store_tenant_by_inn(c, inn, &t);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_UNKNOWN_INN, inn);
	if (rc)
		return rc;
	k->tenant_id = t.id;
	scopy(k->tenant_inn, sizeof k->tenant_inn, t.inn);
	return 0;
}

static int collect_active_user(void *ud, const store_user *u, const store_user_ext *x)
{
	page_ctx *p = ud;
	p->last_id = u->id;
	p->count++;
	if (x->active)
		json_array_append_new(p->items, user_json(u, x));
	return 0;
}

static int op_dev_users(store_conn *c, svc_call *k)
{
	int rc = dev_tenant(c, k, k->q_text);
	if (rc)
		return rc;
	page_ctx p = {.c = c, .k = k, .items = json_array()};
	if ((rc = store_user_page(c, k->tenant_id, 0, 500, collect_active_user, &p)) != 0) {
		json_decref(p.items);
		return rc;
	}
	k->result = json_pack("{s:o}", "items", p.items);
	return 0;
}

static int op_dev_login(store_conn *c, svc_call *k)
{
	const char *inn, *pub;
	int rc;
	if ((rc = body_str(k, "inn", &inn, NULL, 12, true)) || (rc = body_str(k, "user", &pub, NULL, 200, true)) ||
	    (rc = dev_tenant(c, k, inn)))
		return rc;
	store_user u;
	store_user_ext x;
	if ((rc = find_user(c, k->tenant_id, pub, &u)) == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "user");
	if (rc || (rc = store_user_ext_get(c, k->tenant_id, u.id, &x)) != 0)
		return rc;
	if (!x.active)
		return fail(k, HERR_CONFLICT, "user deactivated");
	set_caller_user(k, &u);
	return new_session(c, k, &u, 12 * 3600);
}

/* ---- chats ------------------------------------------------------------------------------ */

static json_t *member_json(const store_member *m, const store_user *u, bool with_phone)
{
	json_t *o = user_json(u, NULL);
	if (!with_phone)
		json_object_del(o, "phone"); /* members see names, not phone numbers */
	json_object_set_new(o, "role", json_string(m->role));
	json_object_set_new(o, "last_read_seq", json_integer(m->last_read_seq));
	json_object_set_new(o, "joined_at", iso(m->joined_at));
	return o;
}

/* Adds or changes one member and tells the chat (and the newcomer). */
static int put_member(store_conn *c, svc_call *k, const store_chat *ch, const store_user *u, const char *role,
                      bool announce)
{
	store_member old;
	int rc = store_member_get(c, k->tenant_id, ch->id, u->id, &old);
	bool existed = rc == 0;
	if (rc != 0 && rc != HERR_NOT_FOUND)
		return rc;
	if (existed && strcmp(old.role, role) == 0)
		return 0;
	int64_t now = htime_now_ms();
	if ((rc = store_member_put(c, k->tenant_id, ch->id, u->id, role, now)) != 0)
		return rc;
	store_member m = {.chat_id = ch->id, .user_id = u->id, .joined_at = now};
	scopy(m.role, sizeof m.role, role);
	if (existed) {
		m = old;
		scopy(m.role, sizeof m.role, role);
	}
	json_t *ev = json_pack("{s:I,s:o}", "chat", (json_int_t)ch->id, "member", member_json(&m, u, false));
	if ((rc = emit(c, k, ch->id, 0, u->id, existed ? "member_updated" : "member_added", ev)) != 0)
		return rc;
	if (!existed && announce) {
		/* The newcomer's own stream learns the chat (its other
		 * devices list it at once). */
		if ((rc = emit(c, k, 0, u->id, 0, "chat_created", json_pack("{s:o}", "chat", chat_json(ch)))) != 0)
			return rc;
	}
	if (!existed && ch->kind[0] == 'g') {
		char text[STORE_NAME_MAX + 64];
		scopy(text, sizeof text, u->name);
		store_msg sm = {
		        .chat_id = ch->id, .kind = "system", .title = "member_added", .body = text, .created_at = now};
		if ((rc = store_msg_insert(c, k->tenant_id, &sm)) != 0)
			return rc;
		name_cache nc = {0};
		if ((rc = emit(c, k, ch->id, 0, 0, "message",
		               json_pack("{s:o}", "message", msg_json(c, k->tenant_id, &sm, &nc)))) != 0)
			return rc;
	}
	return 0;
}

static int drop_member(store_conn *c, svc_call *k, const store_chat *ch, const store_user *u)
{
	int rc = store_member_remove(c, k->tenant_id, ch->id, u->id);
	if (rc)
		return rc;
	char pub[STORE_EXTERNAL_ID_MAX + 8];
	store_user_public_id(u, pub);
	/* Sent to the chat while the member is still subscribed, and to the
	 * member's own stream so that replay after leaving still tells them. */
	json_t *ev = json_pack("{s:I,s:s}", "chat", (json_int_t)ch->id, "user", pub);
	if ((rc = emit(c, k, ch->id, 0, u->id, "member_removed", json_incref(ev))) != 0) {
		json_decref(ev);
		return rc;
	}
	if ((rc = emit(c, k, 0, u->id, 0, "member_removed", ev)) != 0)
		return rc;
	int64_t now = htime_now_ms();
	if (ch->kind[0] == 'g') {
		/* "left" when the member went on their own, "removed" when someone
		 * (an admin, the host's roster) took them out. */
		bool left = !k->is_server && k->user_id == u->id;
		store_msg sm = {.chat_id = ch->id,
		                .kind = "system",
		                .title = left ? "member_left" : "member_removed",
		                .body = u->name,
		                .created_at = now};
		if ((rc = store_msg_insert(c, k->tenant_id, &sm)) != 0)
			return rc;
		name_cache nc = {0};
		return emit(c, k, ch->id, 0, 0, "message",
		            json_pack("{s:o}", "message", msg_json(c, k->tenant_id, &sm, &nc)));
	}
	return 0;
}

/* Reads one entry of a members list: "user" or {"user":…, "role":…}. */
static int member_entry(store_conn *c, svc_call *k, json_t *v, store_user *u, const char **role)
{
	const char *pub = NULL;
	*role = "member";
	if (json_is_string(v)) {
		pub = json_string_value(v);
	} else if (json_is_object(v)) {
		pub = json_string_value(json_object_get(v, "user"));
		json_t *r = json_object_get(v, "role");
		if (r && !json_is_null(r)) {
			if (!json_is_string(r) || chat_role_rank(json_string_value(r)) == 0)
				return fail(k, HERR_FIELD_INVALID, "members[].role");
			*role = json_string_value(r);
		}
	}
	if (!pub || !*pub)
		return fail(k, HERR_FIELD_INVALID, "members");
	int rc = find_user(c, k->tenant_id, pub, u);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, pub);
	if (rc)
		return rc;
	store_user_ext x;
	if ((rc = store_user_ext_get(c, k->tenant_id, u->id, &x)) != 0)
		return rc;
	return x.active ? 0 : fail(k, HERR_CONFLICT, pub);
}

static int chat_fields(svc_call *k, store_chat *ch, bool create)
{
	const char *title, *desc, *avatar;
	int rc;
	if ((rc = body_str(k, "title", &title, NULL, 256, false)) ||
	    (rc = body_str(k, "description", &desc, NULL, 1000, false)) ||
	    (rc = body_str(k, "avatar_url", &avatar, NULL, STORE_URL_MAX - 1, false)))
		return rc;
	if (title)
		scopy(ch->title, sizeof ch->title, title);
	if (desc)
		scopy(ch->description, sizeof ch->description, desc);
	if (avatar)
		scopy(ch->avatar_url, sizeof ch->avatar_url, avatar);
	if (create && ch->kind[0] == 'g' && !ch->title[0])
		return fail(k, HERR_FIELD_MISSING, "title");
	return 0;
}

static int valid_ref_part(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= STORE_REF_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || strchr("_-.:@", s[i])))
			return 0;
	return 1;
}

static int op_chat_create(store_conn *c, svc_call *k)
{
	const char *type;
	int rc = body_str(k, "type", &type, "group", 16, false);
	if (rc)
		return rc;
	if (strcmp(type, "group") != 0 && strcmp(type, "direct") != 0)
		return fail(k, HERR_FIELD_INVALID, "type");
	json_t *members = k->body ? json_object_get(k->body, "members") : NULL;
	if (members && !json_is_array(members))
		return fail(k, HERR_FIELD_TYPE, "members");
	if (members && json_array_size(members) > MEMBERS_MAX)
		return fail(k, HERR_FIELD_INVALID, "members");
	store_user_ext me_x;
	if ((rc = caller_roles(c, k, &me_x)) != 0)
		return rc;
	int64_t now = htime_now_ms();
	store_chat ch = {0};
	ch.tenant_id = k->tenant_id;
	scopy(ch.kind, sizeof ch.kind, type);
	ch.created_at = ch.updated_at = now;

	if (type[0] == 'd') {
		/* Exactly two people; one chat per pair, so asking again
		 * returns the existing chat. */
		store_user a, b;
		const char *role;
		size_t n = members ? json_array_size(members) : 0;
		if (k->is_server) {
			if (n != 2)
				return fail(k, HERR_FIELD_INVALID, "members (a direct chat has two)");
			if ((rc = member_entry(c, k, json_array_get(members, 0), &a, &role)) ||
			    (rc = member_entry(c, k, json_array_get(members, 1), &b, &role)))
				return rc;
		} else {
			if (n != 1 && n != 2)
				return fail(k, HERR_FIELD_INVALID, "members (name the other person)");
			if ((rc = store_user_by_id(c, k->tenant_id, k->user_id, &a)) != 0)
				return rc;
			json_t *other = json_array_get(members, 0);
			if ((rc = member_entry(c, k, other, &b, &role)) != 0)
				return rc;
			if (b.id == a.id && n == 2 && (rc = member_entry(c, k, json_array_get(members, 1), &b, &role)))
				return rc;
		}
		if (a.id == b.id)
			return fail(k, HERR_FIELD_INVALID, "members (two different people)");
		char key[48];
		snprintf(key, sizeof key, "%lld:%lld", (long long)(a.id < b.id ? a.id : b.id),
		         (long long)(a.id < b.id ? b.id : a.id));
		rc = store_chat_by_direct_key(c, k->tenant_id, key, &ch);
		if (rc == 0) {
			k->result = chat_json(&ch);
			return 0;
		}
		if (rc != HERR_NOT_FOUND)
			return rc;
		if ((rc = store_chat_insert(c, &ch, key)) != 0)
			return rc;
		if ((rc = put_member(c, k, &ch, &a, "member", true)) ||
		    (rc = put_member(c, k, &ch, &b, "member", true)) ||
		    (rc = store_chat_get(c, k->tenant_id, ch.id, &ch)))
			return rc;
		k->status = 201;
		k->result = chat_json(&ch);
		return 0;
	}

	if (!k->is_server && !has_role(me_x.roles, "admin") && !has_role(me_x.roles, "dispatcher"))
		return fail(k, HERR_FORBIDDEN, "create group chats");
	if ((rc = chat_fields(k, &ch, true)) != 0)
		return rc;
	json_t *ref = k->body ? json_object_get(k->body, "ref") : NULL;
	if (ref && !json_is_null(ref)) {
		const char *rt = json_string_value(json_object_get(ref, "type"));
		const char *ri = json_string_value(json_object_get(ref, "id"));
		if (!rt || !ri || !valid_ref_part(rt) || !valid_ref_part(ri))
			return fail(k, HERR_FIELD_INVALID, "ref");
		scopy(ch.ref_type, sizeof ch.ref_type, rt);
		scopy(ch.ref_id, sizeof ch.ref_id, ri);
	}
	rc = store_chat_insert(c, &ch, NULL);
	if (rc == HERR_CONFLICT)
		return fail(k, HERR_CONFLICT, "ref");
	if (rc)
		return rc;
	if (!k->is_server) {
		store_user self;
		if ((rc = store_user_by_id(c, k->tenant_id, k->user_id, &self)) ||
		    (rc = put_member(c, k, &ch, &self, "owner", true)))
			return rc;
	}
	size_t i;
	json_t *v;
	json_array_foreach(members, i, v)
	{
		store_user u;
		const char *role;
		if ((rc = member_entry(c, k, v, &u, &role)) != 0)
			return rc;
		if (!k->is_server && u.id == k->user_id)
			continue;
		if ((rc = put_member(c, k, &ch, &u, role, true)) != 0)
			return rc;
	}
	if ((rc = store_chat_get(c, k->tenant_id, ch.id, &ch)) != 0)
		return rc;
	k->status = 201;
	k->result = chat_json(&ch);
	return 0;
}

typedef struct sync_ctx {
	int64_t ids[MEMBERS_MAX];
	int n;
} sync_ctx;

static int collect_member_id(void *ud, const store_member *m, const store_user *u)
{
	sync_ctx *s = ud;
	(void)u;
	if (s->n < MEMBERS_MAX)
		s->ids[s->n++] = m->user_id;
	return 0;
}

static int op_chat_by_ref_put(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	if (!valid_ref_part(k->p_ref_type) || !valid_ref_part(k->p_ref_id))
		return fail(k, HERR_FIELD_INVALID, "ref");
	json_t *members = k->body ? json_object_get(k->body, "members") : NULL;
	if (members && (!json_is_array(members) || json_array_size(members) > MEMBERS_MAX))
		return fail(k, HERR_FIELD_INVALID, "members");
	store_chat ch;
	bool created = false;
	rc = store_chat_by_ref(c, k->tenant_id, k->p_ref_type, k->p_ref_id, &ch);
	if (rc == HERR_NOT_FOUND) {
		memset(&ch, 0, sizeof ch);
		ch.tenant_id = k->tenant_id;
		snprintf(ch.kind, sizeof ch.kind, "group");
		scopy(ch.ref_type, sizeof ch.ref_type, k->p_ref_type);
		scopy(ch.ref_id, sizeof ch.ref_id, k->p_ref_id);
		ch.created_at = ch.updated_at = htime_now_ms();
		if ((rc = chat_fields(k, &ch, true)) || (rc = store_chat_insert(c, &ch, NULL)))
			return rc;
		created = true;
	} else if (rc == 0) {
		store_chat before = ch;
		if ((rc = chat_fields(k, &ch, false)) != 0)
			return rc;
		if (strcmp(before.title, ch.title) || strcmp(before.description, ch.description) ||
		    strcmp(before.avatar_url, ch.avatar_url)) {
			ch.updated_at = htime_now_ms();
			if ((rc = store_chat_update(c, &ch)) ||
			    (rc = emit(c, k, ch.id, 0, 0, "chat_updated", json_pack("{s:o}", "chat", chat_json(&ch)))))
				return rc;
		}
	} else {
		return rc;
	}
	if (members) {
		/* The roster follows the host's list: add and re-role who is
		 * listed, remove who is not. */
		sync_ctx *cur = malloc(sizeof *cur);
		if (!cur)
			return HERR_NOMEM;
		cur->n = 0;
		if ((rc = store_member_list(c, k->tenant_id, ch.id, collect_member_id, cur)) != 0) {
			free(cur);
			return rc;
		}
		int64_t *keep = calloc(json_array_size(members) + 1, sizeof *keep);
		size_t nkeep = 0, i;
		json_t *v;
		json_array_foreach(members, i, v)
		{
			store_user u;
			const char *role;
			if ((rc = member_entry(c, k, v, &u, &role)) || (rc = put_member(c, k, &ch, &u, role, true)))
				break;
			keep[nkeep++] = u.id;
		}
		for (int j = 0; rc == 0 && j < cur->n; j++) {
			bool listed = false;
			for (size_t q = 0; q < nkeep && !listed; q++)
				listed = keep[q] == cur->ids[j];
			store_user u;
			if (!listed && (rc = store_user_by_id(c, k->tenant_id, cur->ids[j], &u)) == 0)
				rc = drop_member(c, k, &ch, &u);
		}
		free(keep);
		free(cur);
		if (rc)
			return rc;
	}
	if ((rc = store_chat_get(c, k->tenant_id, ch.id, &ch)) != 0)
		return rc;
	k->status = created ? 201 : 200;
	k->result = chat_json(&ch);
	return 0;
}

static int op_chat_get(store_conn *c, svc_call *k);

/* The host's server finds any chat by its object; a user (the embedded
 * <herald-chat ref="shift:4711"> on a host page) finds the chats they are a
 * member of, with their own view of it, and gets 404 for the others, as
 * GET /api/v2/chats/{chat} answers them. */
static int op_chat_by_ref_get(store_conn *c, svc_call *k)
{
	store_chat ch;
	int rc = store_chat_by_ref(c, k->tenant_id, k->p_ref_type, k->p_ref_id, &ch);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "chat");
	if (rc != 0)
		return rc;
	if (k->is_server) {
		k->result = chat_json(&ch);
		return 0;
	}
	k->p_chat = ch.id;
	return op_chat_get(c, k);
}

static int chat_row_json(void *ud, const store_chat_row *r)
{
	page_ctx *p = ud;
	json_t *o = chat_json(&r->chat);
	json_object_set_new(o, "role", json_string(r->me.role));
	json_object_set_new(o, "unread", json_integer(r->unread));
	json_object_set_new(o, "last_read_seq", json_integer(r->me.last_read_seq));
	json_object_set_new(o, "pinned", json_boolean(r->me.pinned));
	json_object_set_new(o, "muted", json_boolean(r->me.muted));
	if (r->has_last) {
		const char *pub, *name;
		sender_info(p->c, p->k->tenant_id, r->last_sender_id, &p->names, &pub, &name);
		json_object_set_new(o, "last_message",
		                    json_pack("{s:I,s:o,s:o,s:s,s:o,s:b}", "seq", (json_int_t)r->chat.last_seq,
		                              "sender", pub ? json_string(pub) : json_null(), "sender_name",
		                              name ? json_string(name) : json_null(), "text",
		                              r->last_text ? r->last_text : "", "created_at", iso(r->last_created_at),
		                              "deleted", r->last_deleted));
	} else {
		json_object_set_new(o, "last_message", json_null());
	}
	json_array_append_new(p->items, o);
	p->count++;
	snprintf(p->k->q_cursor, sizeof p->k->q_cursor, "%d.%lld.%lld", r->me.pinned ? 1 : 0,
	         (long long)(r->chat.last_message_at ? r->chat.last_message_at : r->chat.created_at),
	         (long long)r->chat.id);
	return 0;
}

static int op_chat_list(store_conn *c, svc_call *k)
{
	int64_t uid = k->user_id;
	int rc;
	if (k->is_server) {
		store_user u;
		if (!k->q_user[0])
			return fail(k, HERR_FIELD_MISSING, "user");
		if ((rc = find_user(c, k->tenant_id, k->q_user, &u)) == HERR_NOT_FOUND)
			return fail(k, HERR_NOT_FOUND, "user");
		if (rc)
			return rc;
		uid = u.id;
	}
	store_chat_cursor cur = {0};
	if (k->q_cursor[0]) {
		long long a, b;
		int pinned;
		if (sscanf(k->q_cursor, "%d.%lld.%lld", &pinned, &a, &b) != 3)
			return fail(k, HERR_FIELD_INVALID, "cursor");
		cur = (store_chat_cursor){true, pinned, a, b};
	}
	page_ctx p = {.c = c, .k = k, .items = json_array()};
	int limit = limit_of(k);
	k->q_cursor[0] = '\0';
	if ((rc = store_chat_list(c, k->tenant_id, uid, &cur, limit, chat_row_json, &p)) != 0) {
		json_decref(p.items);
		return rc;
	}
	k->result = json_pack("{s:o,s:o}", "items", p.items, "next_cursor",
	                      p.count == limit ? json_string(k->q_cursor) : json_null());
	return 0;
}

static int op_chat_get(store_conn *c, svc_call *k)
{
	store_chat ch;
	store_member me;
	bool member;
	int rc = load_chat(c, k, &ch, &me, &member);
	if (rc)
		return rc;
	k->result = chat_json(&ch);
	if (member) {
		json_object_set_new(k->result, "role", json_string(me.role));
		json_object_set_new(k->result, "last_read_seq", json_integer(me.last_read_seq));
		json_object_set_new(k->result, "pinned", json_boolean(me.pinned));
		json_object_set_new(k->result, "muted", json_boolean(me.muted));
	}
	return 0;
}

static int op_chat_patch(store_conn *c, svc_call *k)
{
	store_chat ch;
	store_member me;
	bool member;
	int rc = load_chat(c, k, &ch, &me, &member);
	if (rc)
		return rc;
	if (ch.deleted_at)
		return fail(k, HERR_CONFLICT, "chat deleted");
	if (strcmp(ch.kind, "group") != 0 || rank(c, k, &me, member) < 3)
		return fail(k, HERR_FORBIDDEN, NULL);
	if ((rc = chat_fields(k, &ch, false)) != 0)
		return rc;
	if (!ch.title[0])
		return fail(k, HERR_FIELD_INVALID, "title");
	ch.updated_at = htime_now_ms();
	if ((rc = store_chat_update(c, &ch)) ||
	    (rc = emit(c, k, ch.id, 0, 0, "chat_updated", json_pack("{s:o}", "chat", chat_json(&ch)))))
		return rc;
	k->result = chat_json(&ch);
	return 0;
}

static int op_chat_delete(store_conn *c, svc_call *k, bool restore)
{
	store_chat ch;
	store_member me;
	bool member;
	int rc = load_chat(c, k, &ch, &me, &member);
	if (rc)
		return rc;
	if (strcmp(ch.kind, "inbox") == 0 || rank(c, k, &me, member) < 4)
		return fail(k, HERR_FORBIDDEN, NULL);
	if ((ch.deleted_at != 0) == !restore) {
		k->result = chat_json(&ch); /* already so: idempotent */
		return 0;
	}
	ch.deleted_at = restore ? 0 : htime_now_ms();
	ch.updated_at = htime_now_ms();
	if ((rc = store_chat_update(c, &ch)) != 0)
		return rc;
	json_t *ev =
	        restore ? json_pack("{s:o}", "chat", chat_json(&ch)) : json_pack("{s:I}", "chat", (json_int_t)ch.id);
	if ((rc = emit(c, k, ch.id, 0, 0, restore ? "chat_restored" : "chat_deleted", ev)) != 0)
		return rc;
	k->result = chat_json(&ch);
	return 0;
}

static int collect_member(void *ud, const store_member *m, const store_user *u)
{
	page_ctx *p = ud;
	json_array_append_new(p->items, member_json(m, u, p->k->is_server));
	return 0;
}

static int op_member_list(store_conn *c, svc_call *k)
{
	store_chat ch;
	store_member me;
	bool member;
	int rc = load_chat(c, k, &ch, &me, &member);
	if (rc)
		return rc;
	page_ctx p = {.c = c, .k = k, .items = json_array()};
	if ((rc = store_member_list(c, k->tenant_id, ch.id, collect_member, &p)) != 0) {
		json_decref(p.items);
		return rc;
	}
	k->result = json_pack("{s:o}", "items", p.items);
	return 0;
}

static int op_member_change(store_conn *c, svc_call *k, int mode /* 0 add, 1 patch, 2 remove */)
{
	store_chat ch;
	store_member me;
	bool member;
	int rc = load_chat(c, k, &ch, &me, &member);
	if (rc)
		return rc;
	if (ch.deleted_at)
		return fail(k, HERR_CONFLICT, "chat deleted");
	if (strcmp(ch.kind, "group") != 0)
		return fail(k, HERR_FORBIDDEN, "the members of direct and inbox chats are fixed");
	const char *pub = k->p_user;
	const char *role = "member";
	if (mode == 0 && (rc = body_str(k, "user", &pub, NULL, STORE_EXTERNAL_ID_MAX, true)))
		return rc;
	if (mode != 2 && (rc = body_str(k, "role", &role, "member", 16, mode == 1)))
		return rc;
	if (mode != 2 && chat_role_rank(role) == 0)
		return fail(k, HERR_FIELD_INVALID, "role");
	store_user u;
	if ((rc = find_user(c, k->tenant_id, pub, &u)) == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "user");
	if (rc)
		return rc;
	store_member target;
	rc = store_member_get(c, k->tenant_id, ch.id, u.id, &target);
	bool is_member = rc == 0;
	if (rc && rc != HERR_NOT_FOUND)
		return rc;
	int r = rank(c, k, &me, member);
	bool self_leave = mode == 2 && !k->is_server && u.id == k->user_id;
	if (!self_leave) {
		if (r < 3)
			return fail(k, HERR_FORBIDDEN, NULL);
		/* A chat admin manages members and readers, not owners. */
		if (r == 3 && ((is_member && chat_role_rank(target.role) >= 4) || chat_role_rank(role) >= 4))
			return fail(k, HERR_FORBIDDEN, NULL);
	}
	if (mode == 2) {
		if (!is_member)
			return fail(k, HERR_NOT_FOUND, "member");
		rc = drop_member(c, k, &ch, &u);
	} else {
		if (mode == 1 && !is_member)
			return fail(k, HERR_NOT_FOUND, "member");
		store_user_ext x;
		if ((rc = store_user_ext_get(c, k->tenant_id, u.id, &x)) != 0)
			return rc;
		if (!x.active)
			return fail(k, HERR_CONFLICT, "user deactivated");
		rc = put_member(c, k, &ch, &u, role, true);
		if (rc == 0 && mode == 0 && !is_member)
			k->status = 201;
	}
	if (rc)
		return rc;
	k->result = json_pack("{s:I,s:s,s:o}", "chat", (json_int_t)ch.id, "user", pub, "role",
	                      mode == 2 ? json_null() : json_string(role));
	return 0;
}

static int op_settings(store_conn *c, svc_call *k)
{
	if (k->is_server)
		return fail(k, HERR_FORBIDDEN, "settings belong to a user");
	store_chat ch;
	store_member me;
	bool member;
	int pinned, muted;
	int rc = load_chat(c, k, &ch, &me, &member);
	if (rc || (rc = body_bool(k, "pinned", &pinned)) || (rc = body_bool(k, "muted", &muted)))
		return rc;
	if (!member)
		return fail(k, HERR_FORBIDDEN, NULL);
	if (pinned >= 0)
		me.pinned = pinned;
	if (muted >= 0)
		me.muted = muted;
	if ((rc = store_member_update(c, k->tenant_id, &me)) != 0)
		return rc;
	json_t *ev = json_pack("{s:I,s:b,s:b}", "chat", (json_int_t)ch.id, "pinned", me.pinned, "muted", me.muted);
	if ((rc = emit(c, k, 0, k->user_id, 0, "chat_settings", json_incref(ev))) != 0) {
		json_decref(ev);
		return rc;
	}
	k->result = ev;
	return 0;
}

/* ---- messages --------------------------------------------------------------------------- */

/* Mentions: "@id" tokens naming members of the chat. */
static json_t *find_mentions(store_conn *c, svc_call *k, int64_t chat_id, const char *text)
{
	json_t *a = json_array();
	for (const char *p = strchr(text, '@'); p && json_array_size(a) < 50; p = strchr(p + 1, '@')) {
		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue; /* an e-mail address, not a mention */
		char id[STORE_EXTERNAL_ID_MAX];
		size_t n = 0;
		for (const char *q = p + 1;
		     *q && n < sizeof id - 1 && (isalnum((unsigned char)*q) || strchr("_-.", *q)); q++)
			id[n++] = *q;
		while (n && id[n - 1] == '.')
			n--; /* a full stop ends the sentence, not the id */
		id[n] = '\0';
		if (!n)
			continue;
		store_user u;
		store_member m;
		if (find_user(c, k->tenant_id, id, &u) != 0 ||
		    store_member_get(c, k->tenant_id, chat_id, u.id, &m) != 0)
			continue;
		bool dup = false;
		size_t i;
		json_t *v;
		json_array_foreach(a, i, v) dup = dup || strcmp(json_string_value(v), id) == 0;
		if (!dup)
			json_array_append_new(a, json_string(id));
	}
	return a;
}

static json_t *file_json(const store_file *f)
{
	char url[64];
	snprintf(url, sizeof url, "/api/v2/files/%s", f->id);
	return json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:s}", "id", f->id, "name", f->name, "mime", f->mime, "size",
	                 (json_int_t)f->size, "width", f->width ? json_integer(f->width) : json_null(), "height",
	                 f->height ? json_integer(f->height) : json_null(), "url", url);
}

/* Attachments: ids of files the sender uploaded (the server may attach any
 * of the tenant's). Each becomes downloadable by the chat's members. */
static int attachments(store_conn *c, svc_call *k, int64_t chat_id, int64_t sender, json_t *ids, json_t **out)
{
	if (!json_is_array(ids) || json_array_size(ids) > 10)
		return fail(k, HERR_FIELD_INVALID, "attachments");
	json_t *list = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
	{
		const char *id = json_string_value(v);
		store_file f;
		int rc = id && strlen(id) < sizeof f.id ? store_file_get(c, k->tenant_id, id, &f) : HERR_NOT_FOUND;
		if (rc == 0 && !k->is_server && f.uploader_id != sender)
			rc = HERR_NOT_FOUND;
		if (rc == 0)
			rc = store_file_ref(c, k->tenant_id, id, chat_id);
		if (rc) {
			json_decref(list);
			return rc == HERR_NOT_FOUND ? fail(k, HERR_NOT_FOUND, "attachment") : rc;
		}
		json_array_append_new(list, file_json(&f));
	}
	*out = list;
	return 0;
}

static int op_msg_post(store_conn *c, svc_call *k)
{
	store_chat ch;
	store_member me;
	bool member;
	int rc = load_chat(c, k, &ch, &me, &member);
	if (rc)
		return rc;
	if (ch.deleted_at)
		return fail(k, HERR_CONFLICT, "chat deleted");
	const char *text, *client_id, *title, *sender_pub;
	int64_t reply_to;
	const svc_settings *st = &k->svc_->settings;
	if ((rc = body_str(k, "text", &text, NULL, (size_t)st->text_max, true)) ||
	    (rc = body_str(k, "client_id", &client_id, NULL, 64, false)) ||
	    (rc = body_str(k, "title", &title, "", (size_t)st->title_max, false)) ||
	    (rc = body_str(k, "sender", &sender_pub, NULL, STORE_EXTERNAL_ID_MAX, false)) ||
	    (rc = body_int(k, "reply_to", &reply_to, 0)))
		return rc;
	int urgent = -1;
	if ((rc = body_bool(k, "urgent", &urgent)) != 0)
		return rc;
	bool blank = true;
	for (const char *p = text; *p && blank; p++)
		blank = isspace((unsigned char)*p);
	if (blank)
		return fail(k, HERR_TEXT_EMPTY, "text");
	int64_t sender = k->user_id;
	if (k->is_server) {
		/* The host posts as the system, or on behalf of a member. */
		if (sender_pub) {
			store_user u;
			if ((rc = find_user(c, k->tenant_id, sender_pub, &u)) == HERR_NOT_FOUND)
				return fail(k, HERR_NOT_FOUND, "sender");
			if (rc || (rc = store_member_get(c, k->tenant_id, ch.id, u.id, &me)) != 0)
				return rc == HERR_NOT_FOUND ? fail(k, HERR_FORBIDDEN, "sender is not a member") : rc;
			sender = u.id;
		}
	} else {
		if (!member || chat_role_rank(me.role) < 2)
			return fail(k, HERR_FORBIDDEN, NULL);
		title = "";
		/* Urgent (SMS when no device confirms it in time) costs money:
		 * the host, tenant admins and the chat's admins may mark it. */
		if (urgent == 1 && rank(c, k, &me, member) < 3)
			return fail(k, HERR_FORBIDDEN, "urgent");
	}
	if (client_id) {
		/* A retried send finds its first attempt and answers with it. */
		store_msg old;
		rc = store_msg_by_client_id(c, k->tenant_id, ch.id, sender, client_id, &old);
		if (rc == 0) {
			name_cache nc = {0};
			store_msg copy = old;
			k->result = msg_json(c, k->tenant_id, &copy, &nc);
			return 0;
		}
		if (rc != HERR_NOT_FOUND)
			return rc;
	}
	if (reply_to < 0 || reply_to > ch.last_seq)
		return fail(k, HERR_FIELD_INVALID, "reply_to");
	json_t *extra = json_object();
	json_t *mentions = find_mentions(c, k, ch.id, text);
	json_object_set_new(extra, "mentions", mentions);
	json_t *att = k->body ? json_object_get(k->body, "attachments") : NULL;
	if (att && !json_is_null(att)) {
		json_t *list = NULL;
		if ((rc = attachments(c, k, ch.id, sender, att, &list)) != 0) {
			json_decref(extra);
			return rc;
		}
		json_object_set_new(extra, "attachments", list);
	}
	char *extra_s = json_dumps(extra, JSON_COMPACT);
	/* The arrays as they go into the message JSON below. */
	json_t *att_list = json_object_get(extra, "attachments");
	size_t n_mentions = json_array_size(mentions), n_att = json_array_size(att_list);
	char *mentions_s = n_mentions ? json_dumps(mentions, JSON_COMPACT) : NULL;
	char *att_s = n_att ? json_dumps(att_list, JSON_COMPACT) : NULL;
	json_decref(extra);
	if (!extra_s || (n_mentions && !mentions_s) || (n_att && !att_s)) {
		free(extra_s);
		free(mentions_s);
		free(att_s);
		return HERR_NOMEM;
	}
	store_msg m = {.chat_id = ch.id,
	               .sender_id = sender,
	               .kind = strcmp(ch.kind, "inbox") == 0 ? "notification" : "text",
	               .title = title,
	               .body = text,
	               .client_id = client_id,
	               .reply_to = reply_to,
	               .extra = extra_s,
	               .created_at = htime_now_ms()};
	rc = store_msg_insert(c, k->tenant_id, &m);
	if (rc == 0 && sender) {
		/* Posting means having read up to here. me is the sender's row,
		 * read in this job (the caller's, or the one the host posts for). */
		me.last_read_seq = m.seq;
		rc = store_member_update(c, k->tenant_id, &me);
	}
	int queued = 0;
	if (rc == 0)
		rc = store_delivery_enqueue_chat(c, k->tenant_id, m.id, ch.id, sender, m.created_at,
		                                 k->svc_->push_kinds, &queued);
	if (rc == 0 && urgent == 1) {
		int64_t after = svc_sms_fallback_ms(k->svc_);
		rc = store_sms_fallback_add(c, k->tenant_id, m.id, ch.id, sender, 0, after ? m.created_at + after : 0,
		                            &queued);
	}
	hbuf b = HBUF_INIT;
	if (rc == 0) {
		/* One string serves the event ({"type":"message","message":M}) and
		 * the answer (M, from its offset in the event). */
		name_cache nc = {0};
		const char *pub, *name;
		if (m.sender_id && m.sender_id == k->user_id) { /* the caller: resolved in this job */
			pub = k->user_public;
			name = k->user_name;
		} else { /* the system (null), or a member the host posts for */
			sender_info(c, k->tenant_id, m.sender_id, &nc, &pub, &name);
		}
		rc = hbuf_puts(&b, "{\"type\":\"message\",\"message\":") ? HERR_NOMEM
		     : msg_json_write(&b, &m, pub, name, mentions_s ? mentions_s : "[]", att_s ? att_s : "[]")
		             ? HERR_NOMEM
		     : hbuf_putc(&b, '}') ? HERR_NOMEM
		                          : 0;
	}
	free(extra_s);
	free(mentions_s);
	free(att_s);
	if (rc == 0)
		rc = emit_json(c, k, ch.id, 0, 0, 0, "message", b.data);
	if (rc != 0) {
		hbuf_free(&b);
		return rc;
	}
	static const size_t head = sizeof "{\"type\":\"message\",\"message\":" - 1;
	size_t len = 0;
	char *all = hbuf_steal(&b, &len);
	if (!all)
		return HERR_NOMEM;
	memmove(all, all + head, len - head - 1);
	all[len - head - 1] = '\0';
	k->status = 201;
	k->result_json = all;
	k->result_json_len = len - head - 1;
	return 0;
}

static int collect_msg(void *ud, const store_msg *m)
{
	page_ctx *p = ud;
	json_array_append_new(p->items, msg_json(p->c, p->k->tenant_id, m, &p->names));
	p->last_id = m->seq;
	p->count++;
	return 0;
}

static int op_msg_page(store_conn *c, svc_call *k)
{
	store_chat ch;
	store_member me;
	bool member;
	int rc = load_chat(c, k, &ch, &me, &member);
	if (rc)
		return rc;
	if (k->q_before < 0 || (k->q_before > 0 && k->q_after >= 0))
		return fail(k, HERR_FIELD_INVALID, "before/after (one of them)");
	/* Default: the newest page. after=0 reads from the first message. */
	int64_t before = k->q_before, after = k->q_after < 0 ? 0 : k->q_after;
	if (!before && k->q_after < 0)
		before = ch.last_seq + 1;
	page_ctx *p = calloc(1, sizeof *p);
	if (!p)
		return HERR_NOMEM;
	p->c = c;
	p->k = k;
	p->items = json_array();
	int limit = limit_of(k);
	rc = store_msg_page(c, k->tenant_id, ch.id, before, after, limit, collect_msg, p);
	if (rc == 0)
		k->result = json_pack("{s:o,s:b,s:I}", "items", p->items, "more", p->count == limit, "last_seq",
		                      (json_int_t)ch.last_seq);
	else
		json_decref(p->items);
	free(p);
	return rc;
}

/* The chat (readable by the caller) and one of its messages by seq. */
static int load_chat_msg(store_conn *c, svc_call *k, store_chat *ch, store_member *me, bool *member, store_msg *m)
{
	int rc = load_chat(c, k, ch, me, member);
	if (rc)
		return rc;
	rc = store_msg_get(c, k->tenant_id, ch->id, k->p_seq, m);
	return rc == HERR_NOT_FOUND ? fail(k, HERR_NOT_FOUND, "message") : rc;
}

static int load_msg_for_change(store_conn *c, svc_call *k, store_chat *ch, store_member *me, bool *member, store_msg *m)
{
	int rc = load_chat_msg(c, k, ch, me, member, m);
	if (rc)
		return rc;
	if (ch->deleted_at)
		return fail(k, HERR_CONFLICT, "chat deleted");
	return m->deleted_at ? fail(k, HERR_NOT_FOUND, "message") : 0;
}

static int op_msg_patch(store_conn *c, svc_call *k)
{
	store_chat ch;
	store_member me;
	bool member;
	store_msg m;
	int rc = load_msg_for_change(c, k, &ch, &me, &member, &m);
	if (rc)
		return rc;
	bool own = !k->is_server && m.sender_id == k->user_id;
	if (!k->is_server && !(own && member && chat_role_rank(me.role) >= 2))
		return fail(k, HERR_FORBIDDEN, NULL);
	if (strcmp(m.kind, "system") == 0)
		return fail(k, HERR_FORBIDDEN, NULL);
	const char *text;
	if ((rc = body_str(k, "text", &text, NULL, (size_t)k->svc_->settings.text_max, true)) != 0)
		return rc;
	bool blank = true;
	for (const char *p = text; *p && blank; p++)
		blank = isspace((unsigned char)*p);
	if (blank)
		return fail(k, HERR_TEXT_EMPTY, "text");
	int64_t now = htime_now_ms();
	if ((rc = store_msg_edit(c, k->tenant_id, ch.id, m.seq, text, now)) != 0 ||
	    (rc = store_msg_get(c, k->tenant_id, ch.id, k->p_seq, &m)) != 0)
		return rc;
	name_cache nc = {0};
	json_t *mj = msg_json(c, k->tenant_id, &m, &nc);
	if ((rc = emit(c, k, ch.id, 0, 0, "message_updated", json_pack("{s:O}", "message", mj))) != 0) {
		json_decref(mj);
		return rc;
	}
	k->result = mj;
	return 0;
}

static int op_msg_delete(store_conn *c, svc_call *k)
{
	store_chat ch;
	store_member me;
	bool member;
	store_msg m;
	int rc = load_msg_for_change(c, k, &ch, &me, &member, &m);
	if (rc)
		return rc;
	bool own = !k->is_server && m.sender_id == k->user_id && member && chat_role_rank(me.role) >= 2;
	if (!own && rank(c, k, &me, member) < 3)
		return fail(k, HERR_FORBIDDEN, NULL);
	if ((rc = store_msg_delete(c, k->tenant_id, ch.id, m.seq, htime_now_ms())) != 0)
		return rc;
	json_t *ev = json_pack("{s:I,s:I}", "chat", (json_int_t)ch.id, "seq", (json_int_t)k->p_seq);
	if ((rc = emit(c, k, ch.id, 0, 0, "message_deleted", json_incref(ev))) != 0) {
		json_decref(ev);
		return rc;
	}
	k->result = ev;
	return 0;
}

static int op_read(store_conn *c, svc_call *k)
{
	if (k->is_server)
		return fail(k, HERR_FORBIDDEN, "receipts belong to a user");
	store_chat ch;
	store_member me;
	bool member;
	int64_t seq;
	int rc = load_chat(c, k, &ch, &me, &member);
	if (rc || (rc = body_int(k, "seq", &seq, -1)))
		return rc;
	if (!member)
		return fail(k, HERR_FORBIDDEN, NULL);
	if (seq < 0 || !k->body || !json_object_get(k->body, "seq"))
		return fail(k, HERR_FIELD_MISSING, "seq");
	if (seq > ch.last_seq)
		seq = ch.last_seq;
	if (seq > me.last_read_seq) {
		me.last_read_seq = seq;
		if ((rc = store_member_update(c, k->tenant_id, &me)) != 0 ||
		    (rc = store_delivery_read(c, k->tenant_id, k->user_id, ch.id, seq, htime_now_ms())) != 0)
			return rc;
		json_t *ev = json_pack("{s:I,s:s,s:I}", "chat", (json_int_t)ch.id, "user", k->user_public, "seq",
		                       (json_int_t)seq);
		if ((rc = emit(c, k, ch.id, 0, 0, "read", ev)) != 0)
			return rc;
	}
	k->result = json_pack("{s:I,s:I,s:I}", "chat", (json_int_t)ch.id, "last_read_seq", (json_int_t)me.last_read_seq,
	                      "unread", (json_int_t)(ch.last_seq - me.last_read_seq));
	return 0;
}

typedef struct reads_ctx {
	int64_t seq;
	int64_t sender;
	json_t *read_by;
	int read, total;
	bool list;
} reads_ctx;

static int collect_read(void *ud, const store_member *m, const store_user *u)
{
	reads_ctx *r = ud;
	if (m->user_id == r->sender)
		return 0; /* the author is not a reader of their own message */
	r->total++;
	if (m->last_read_seq >= r->seq) {
		r->read++;
		if (r->list) {
			char pub[STORE_EXTERNAL_ID_MAX + 8];
			store_user_public_id(u, pub);
			json_array_append_new(r->read_by, json_pack("{s:s,s:s}", "id", pub, "name", u->name));
		}
	}
	return 0;
}

static int op_reads(store_conn *c, svc_call *k)
{
	store_chat ch;
	store_member me;
	bool member;
	store_msg m;
	int rc = load_chat_msg(c, k, &ch, &me, &member, &m);
	if (rc)
		return rc;
	int count = 0;
	if ((rc = store_member_count(c, k->tenant_id, ch.id, &count)) != 0)
		return rc;
	/* Names up to 100 members; above that, counts only (a list of
	 * thousands helps nobody and costs a lot). */
	reads_ctx r = {
	        .seq = k->p_seq, .sender = m.sender_id, .read_by = json_array(), .list = count <= RECEIPTS_LIST_MAX};
	if ((rc = store_member_list(c, k->tenant_id, ch.id, collect_read, &r)) != 0) {
		json_decref(r.read_by);
		return rc;
	}
	k->result =
	        json_pack("{s:I,s:I,s:i,s:i,s:o}", "chat", (json_int_t)ch.id, "seq", (json_int_t)k->p_seq, "read_count",
	                  r.read, "member_count", r.total, "read_by", r.list ? r.read_by : json_null());
	if (!r.list)
		json_decref(r.read_by);
	return 0;
}

/* Turns free text into an FTS5 query of prefix terms: every word must match. */
static int fts_query(const char *q, char *out, size_t size)
{
	size_t n = 0;
	int terms = 0;
	const char *p = q;
	while (*p) {
		while (*p && !(isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80))
			p++;
		const char *start = p;
		while (*p && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80))
			p++;
		size_t len = (size_t)(p - start);
		if (!len)
			continue;
		if (n + len + 5 >= size || terms == 16)
			break;
		n += (size_t)snprintf(out + n, size - n, "%s\"%.*s\"*", terms ? " " : "", (int)len, start);
		terms++;
	}
	out[n] = '\0';
	return terms;
}

static int op_search(store_conn *c, svc_call *k)
{
	char q[1200];
	if (!k->q_text[0] || fts_query(k->q_text, q, sizeof q) == 0)
		return fail(k, HERR_FIELD_MISSING, "q");
	/* Index what arrived since the last batch, so a search sees every
	 * message committed before it. */
	int indexed = 0, rc0;
	do {
		if ((rc0 = store_msg_index(c, 5000, &indexed)) != 0)
			return rc0;
	} while (indexed == 5000);
	page_ctx *p = calloc(1, sizeof *p);
	if (!p)
		return HERR_NOMEM;
	p->c = c;
	p->k = k;
	p->items = json_array();
	int64_t uid = k->is_server || is_tenant_admin(c, k) ? 0 : k->user_id;
	int rc = store_msg_search(c, k->tenant_id, uid, q, limit_of(k), collect_msg, p);
	if (rc == 0)
		k->result = json_pack("{s:o}", "items", p->items);
	else
		json_decref(p->items);
	free(p);
	return rc;
}

/* ---- topics ------------------------------------------------------------------------------- */

static bool valid_topic(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || strchr("_-.:", s[i])))
			return false;
	return true;
}

static json_t *topic_json(const store_topic *t)
{
	json_t *members = json_array();
	for (const char *p = t->members; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		json_array_append_new(members, json_stringn(p, len));
		p = comma ? comma + 1 : p + len;
	}
	json_t *o = json_pack("{s:s,s:s,s:i,s:I}", "name", t->name, "access", t->rule, "keep", t->keep, "last_seq",
	                      (json_int_t)t->last_seq);
	json_object_set_new(o, "roles", strcmp(t->rule, "roles") == 0 ? json_incref(members) : json_null());
	json_object_set_new(o, "users", strcmp(t->rule, "users") == 0 ? json_incref(members) : json_null());
	json_decref(members);
	return o;
}

static int op_topic_put(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	if (!valid_topic(k->p_topic))
		return fail(k, HERR_FIELD_INVALID, "topic name ([A-Za-z0-9_.:-], 1-64)");
	const char *access;
	int64_t keep;
	if ((rc = body_str(k, "access", &access, "tenant", 16, false)) || (rc = body_int(k, "keep", &keep, 100)))
		return rc;
	if (keep < 0 || keep > 10000)
		return fail(k, HERR_FIELD_INVALID, "keep (0-10000)");
	store_topic t = {0};
	scopy(t.name, sizeof t.name, k->p_topic);
	scopy(t.rule, sizeof t.rule, access);
	t.keep = (int)keep;
	t.created_at = htime_now_ms();
	const char *list_name = NULL;
	if (strcmp(access, "roles") == 0)
		list_name = "roles";
	else if (strcmp(access, "users") == 0)
		list_name = "users";
	else if (strcmp(access, "tenant") != 0)
		return fail(k, HERR_FIELD_INVALID, "access (tenant, roles or users)");
	if (list_name) {
		json_t *list = json_object_get(k->body, list_name);
		if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > 500)
			return fail(k, HERR_FIELD_INVALID, list_name);
		size_t i, n = 0;
		json_t *v;
		json_array_foreach(list, i, v)
		{
			const char *x = json_string_value(v);
			if (!x || !*x || strchr(x, ',') || (list_name[0] == 'r' && !valid_role_name(x)) ||
			    n + strlen(x) + 2 > sizeof t.members)
				return fail(k, HERR_FIELD_INVALID, list_name);
			n += (size_t)snprintf(t.members + n, sizeof t.members - n, "%s%s", i ? "," : "", x);
		}
	}
	store_topic old;
	bool existed = false;
	rc = store_topic_get(c, k->tenant_id, t.name, &old);
	if (rc == 0) {
		t.created_at = old.created_at;
		existed = true;
	} else if (rc != HERR_NOT_FOUND) {
		return rc;
	}
	if ((rc = store_topic_put(c, k->tenant_id, &t)) != 0 || (rc = store_topic_get(c, k->tenant_id, t.name, &t)))
		return rc;
	k->status = existed ? 200 : 201;
	k->result = topic_json(&t);
	return 0;
}

/* May the caller read this topic? */
static int topic_access(store_conn *c, svc_call *k, store_topic *t)
{
	int rc = store_topic_get(c, k->tenant_id, k->p_topic, t);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "topic");
	if (rc || k->is_server || strcmp(t->rule, "tenant") == 0)
		return rc;
	if (strcmp(t->rule, "users") == 0)
		return has_role(t->members, k->user_public) ? 0 : fail(k, HERR_FORBIDDEN, "topic");
	store_user_ext x;
	if ((rc = caller_roles(c, k, &x)) != 0)
		return rc;
	for (const char *p = x.roles; *p;) {
		const char *comma = strchr(p, ',');
		char role[40];
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		snprintf(role, sizeof role, "%.*s", (int)(len < 39 ? len : 39), p);
		if (has_role(t->members, role))
			return 0;
		p = comma ? comma + 1 : p + len;
	}
	return fail(k, HERR_FORBIDDEN, "topic");
}

/* Queues a topic frame {"v":1,"type":"topic_event","topic","seq","data"}:
 * not part of the event log (no pos); each topic counts its own seq. */
static int topic_frame(svc_call *k, const char *topic, int64_t seq, const char *data_json)
{
	json_t *data = json_loads(data_json, JSON_DECODE_ANY, NULL);
	json_t *o = json_pack("{s:i,s:s,s:s,s:I,s:o}", "v", 1, "type", "topic_event", "topic", topic, "seq",
	                      (json_int_t)seq, "data", data ? data : json_null());
	char *frame = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!frame)
		return HERR_NOMEM;
	int rc = push_event(k, 0, 0, 0, 0, 0, "topic_event", "{}");
	if (rc) {
		free(frame);
		return rc;
	}
	svc_event *e = &k->events[k->event_count - 1];
	free(e->frame);
	e->frame = frame;
	e->frame_len = strlen(frame);
	e->tenant_id = k->tenant_id;
	scopy(e->topic, sizeof e->topic, topic);
	e->topic_seq = seq;
	return 0;
}

static int op_topic_publish(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	json_t *data = k->body ? json_object_get(k->body, "data") : NULL;
	if (!data)
		return fail(k, HERR_FIELD_MISSING, "data");
	char *payload = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!payload)
		return HERR_NOMEM;
	if (strlen(payload) > 65536) {
		free(payload);
		return fail(k, HERR_BODY_TOO_LARGE, "data");
	}
	int64_t seq = 0;
	rc = store_topic_publish(c, k->tenant_id, k->p_topic, payload, htime_now_ms(), &seq);
	if (rc == HERR_NOT_FOUND)
		rc = fail(k, HERR_NOT_FOUND, "topic (define it first: PUT /api/v2/topics/{name})");
	if (rc == 0)
		rc = topic_frame(k, k->p_topic, seq, payload);
	free(payload);
	if (rc == 0) {
		k->status = 201;
		k->result = json_pack("{s:s,s:I}", "topic", k->p_topic, "seq", (json_int_t)seq);
	}
	return rc;
}

typedef struct topic_page {
	svc_call *k;
	json_t *items;
	bool frames;
} topic_page;

static int collect_topic_event(void *ud, int64_t seq, const char *payload, int64_t created_at)
{
	topic_page *p = ud;
	if (p->frames)
		return topic_frame(p->k, p->k->p_topic, seq, payload);
	json_t *data = json_loads(payload, JSON_DECODE_ANY, NULL);
	json_array_append_new(p->items, json_pack("{s:I,s:o,s:o}", "seq", (json_int_t)seq, "data",
	                                          data ? data : json_null(), "created_at", iso(created_at)));
	return 0;
}

static int op_topic_events(store_conn *c, svc_call *k)
{
	store_topic t;
	int rc = topic_access(c, k, &t);
	if (rc)
		return rc;
	bool realtime = k->op_ == V2_TOPIC_SUBSCRIBE;
	topic_page p = {.k = k, .items = json_array(), .frames = realtime};
	int64_t after = realtime ? k->pos : k->q_after < 0 ? 0 : k->q_after;
	if ((rc = store_topic_events(c, k->tenant_id, t.name, after, realtime ? 10000 : limit_of(k),
	                             collect_topic_event, &p)) != 0) {
		json_decref(p.items);
		return rc;
	}
	k->head_pos = t.last_seq;
	if (realtime) {
		json_decref(p.items);
		k->result = json_pack("{s:s,s:I}", "topic", t.name, "seq", (json_int_t)t.last_seq);
	} else {
		k->result = json_pack("{s:s,s:I,s:o}", "topic", t.name, "last_seq", (json_int_t)t.last_seq, "items",
		                      p.items);
	}
	return 0;
}

/* ---- files ---------------------------------------------------------------------------------- */

static void file_path(const svc *s, const char *id, char *out, size_t size, bool make_dirs)
{
	char dir[2200];
	snprintf(dir, sizeof dir, "%s/files", s->data_dir);
	if (make_dirs)
		mkdir(dir, 0750);
	snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/%.2s", id);
	if (make_dirs)
		mkdir(dir, 0750);
	snprintf(out, size, "%s/%s", dir, id);
}

/* Runs on a pool thread (a read job): checks the caller, writes and fsyncs
 * the bytes, then chains V2_FILE_COMMIT on the writer to record them. */
static int op_file_upload(store_conn *c, svc_call *k)
{
	(void)c;
	const char *name = k->q_text[0] ? k->q_text : "file";
	size_t cps = 0;
	if (hval_utf8(name, strlen(name), &cps) != 0 || cps > 200 || strpbrk(name, "/\\\"\r\n"))
		return fail(k, HERR_FIELD_INVALID, "name");
	if (k->upload_len == 0)
		return fail(k, HERR_FIELD_MISSING, "file content");
	char token[HCRYPTO_TOKEN_CHARS + 1];
	hcrypto_token_new(token);
	token[22] = '\0'; /* 132 random bits are plenty for a name */
	scopy(k->p_file, sizeof k->p_file, token);
	char path[2400], tmp[2450];
	file_path(k->svc_, token, path, sizeof path, true);
	snprintf(tmp, sizeof tmp, "%s.part", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return HERR_IO;
	size_t off = 0;
	while (off < k->upload_len) {
		ssize_t n = write(fd, k->upload + off, k->upload_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	int ok = off == k->upload_len && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return HERR_IO;
	}
	scopy(k->staged_, sizeof k->staged_, name);
	k->chain_ = V2_FILE_COMMIT;
	return 0;
}

static int op_file_commit(store_conn *c, svc_call *k)
{
	hsniff_result r;
	hsniff(k->upload, k->upload_len, &r);
	store_file f = {0};
	scopy(f.id, sizeof f.id, k->p_file);
	f.tenant_id = k->tenant_id;
	f.uploader_id = k->is_server ? 0 : k->user_id;
	scopy(f.name, sizeof f.name, k->staged_);
	scopy(f.mime, sizeof f.mime, r.mime);
	f.size = (int64_t)k->upload_len;
	f.width = r.width;
	f.height = r.height;
	f.created_at = htime_now_ms();
	int rc = store_file_insert(c, &f);
	if (rc == 0) {
		k->status = 201;
		k->result = file_json(&f);
	}
	return rc;
}

static int op_file_get(store_conn *c, svc_call *k)
{
	store_file f;
	int rc = store_file_get(c, k->tenant_id, k->p_file, &f);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "file");
	if (rc)
		return rc;
	if (!k->is_server) {
		bool visible = false;
		if ((rc = store_file_visible(c, k->tenant_id, f.id, k->user_id, &visible)) != 0)
			return rc;
		if (!visible && !is_tenant_admin(c, k))
			return fail(k, HERR_NOT_FOUND, "file");
	}
	char path[2400];
	file_path(k->svc_, f.id, path, sizeof path, false);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(k, HERR_NOT_FOUND, "file");
	k->file_data = malloc(f.size ? (size_t)f.size : 1);
	size_t off = 0;
	while (k->file_data && off < (size_t)f.size) {
		ssize_t n = read(fd, k->file_data + off, (size_t)f.size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	if (!k->file_data || off != (size_t)f.size)
		return HERR_IO;
	k->file_len = off;
	scopy(k->file_mime, sizeof k->file_mime, f.mime);
	scopy(k->file_name, sizeof k->file_name, f.name);
	k->result = file_json(&f);
	return 0;
}

/* ---- Web Push subscriptions --------------------------------------------------------------- */

static int need_user(svc_call *k)
{
	return k->is_server ? fail(k, HERR_FORBIDDEN, "subscriptions belong to a user") : 0;
}

/* The push service endpoint the browser gave: an absolute http(s) URL
 * without blanks (delivery refuses private addresses like webhooks do). */
static int push_endpoint(svc_call *k, const char **out)
{
	int rc = body_str(k, "endpoint", out, NULL, 2048, true);
	if (rc)
		return rc;
	if (strncmp(*out, "https://", 8) != 0 && strncmp(*out, "http://", 7) != 0)
		return fail(k, HERR_PUSHTOKEN_INVALID, "endpoint (an http(s) URL)");
	for (const char *p = *out; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return fail(k, HERR_PUSHTOKEN_INVALID, "endpoint");
	return 0;
}

static int op_push_subscribe(store_conn *c, svc_call *k)
{
	const char *endpoint;
	int rc = need_user(k);
	if (rc || (rc = push_endpoint(k, &endpoint)))
		return rc;
	json_t *keys = json_object_get(k->body, "keys");
	const char *p256dh = json_string_value(json_object_get(keys, "p256dh"));
	const char *auth = json_string_value(json_object_get(keys, "auth"));
	webpush_keys wk;
	if (!p256dh || !auth)
		return fail(k, HERR_FIELD_MISSING, "keys.p256dh, keys.auth");
	if (strlen(p256dh) > 200 || strlen(auth) > 100 || webpush_keys_from_b64(p256dh, auth, &wk) != 0)
		return fail(k, HERR_PUSHTOKEN_INVALID, "keys (p256dh: a P-256 point, auth: 16 bytes, base64url)");
	int64_t now = htime_now_ms();
	if ((rc = store_device_put_webpush(c, k->tenant_id, k->user_id, endpoint, p256dh, auth, now)) != 0)
		return rc;
	k->status = 201;
	k->result = json_pack("{s:s,s:s,s:o}", "kind", "webpush", "endpoint", endpoint, "created_at", iso(now));
	return 0;
}

static int op_push_unsubscribe(store_conn *c, svc_call *k)
{
	const char *endpoint;
	int rc = need_user(k);
	if (rc || (rc = push_endpoint(k, &endpoint)))
		return rc;
	rc = store_device_remove(c, k->tenant_id, k->user_id, "webpush", endpoint);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "subscription");
	if (rc == 0)
		k->result = json_pack("{s:b}", "deleted", 1);
	return rc;
}

static int collect_device(void *ud, const store_device *d)
{
	page_ctx *p = ud;
	/* A token is a credential for pushing to the device: show where it
	 * goes (the push service's origin), never the token itself. */
	char origin[256] = "";
	if (strcmp(d->kind, "webpush") == 0 && d->token && webpush_origin(d->token, origin, sizeof origin) != 0)
		origin[0] = '\0';
	json_array_append_new(p->items,
	                      json_pack("{s:I,s:s,s:o,s:o,s:o,s:b}", "id", (json_int_t)d->id, "kind", d->kind,
	                                "service", origin[0] ? json_string(origin) : json_null(), "created_at",
	                                iso(d->created_at), "updated_at", iso(d->updated_at), "dead", d->dead_at != 0));
	return 0;
}

static int op_push_devices(store_conn *c, svc_call *k)
{
	int rc = need_user(k);
	if (rc)
		return rc;
	page_ctx p = {.c = c, .k = k, .items = json_array()};
	if ((rc = store_device_list(c, k->tenant_id, k->user_id, collect_device, &p)) != 0) {
		json_decref(p.items);
		return rc;
	}
	k->result = json_pack("{s:o}", "items", p.items);
	return 0;
}

/* ---- delivery status ----------------------------------------------------------------------- */

typedef struct deliveries_page {
	store_conn *c;
	svc_call *k;
	json_t *items;
	name_cache names;
} deliveries_page;

static int collect_delivery(void *ud, const store_delivery *d)
{
	deliveries_page *p = ud;
	const char *pub, *name;
	sender_info(p->c, p->k->tenant_id, d->user_id, &p->names, &pub, &name);
	json_t *o = json_pack("{s:I,s:o,s:s,s:s,s:o,s:i,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)d->id, "user",
	                      pub ? json_string(pub) : json_null(), "channel", d->kind, "status", d->status, "reason",
	                      d->reason ? json_string(d->reason) : json_null(), "attempts", d->attempts, "queued_at",
	                      iso(d->queued_at), "sent_at", iso(d->sent_at), "delivered_at", iso(d->delivered_at),
	                      "read_at", iso(d->read_at), "failed_at", iso(d->failed_at));
	json_array_append_new(p->items, o);
	return 0;
}

/* The SMS fallback of an urgent message, per recipient. */
static int collect_sms(void *ud, const store_sms_row *r)
{
	deliveries_page *p = ud;
	const char *pub, *name;
	sender_info(p->c, p->k->tenant_id, r->user_id, &p->names, &pub, &name);
	json_t *o = json_pack("{s:o,s:s,s:o,s:o,s:o}", "user", pub ? json_string(pub) : json_null(), "status",
	                      strcmp(r->status, "sending") == 0 ? "pending" : r->status, "reason",
	                      r->reason ? json_string(r->reason) : json_null(), "due_at", iso(r->due_at), "done_at",
	                      iso(r->done_at));
	json_array_append_new(p->items, o);
	return 0;
}

static int op_deliveries(store_conn *c, svc_call *k)
{
	store_chat ch;
	store_member me;
	bool member;
	store_msg m;
	int rc = load_chat_msg(c, k, &ch, &me, &member, &m);
	if (rc)
		return rc;
	/* The sender sees where their message went; so do the chat's admins. */
	if (!k->is_server && m.sender_id != k->user_id && rank(c, k, &me, member) < 3)
		return fail(k, HERR_FORBIDDEN, NULL);
	int64_t message_id = m.id;
	deliveries_page *p = calloc(1, sizeof *p);
	if (!p)
		return HERR_NOMEM;
	p->c = c;
	p->k = k;
	p->items = json_array();
	rc = store_delivery_list(c, k->tenant_id, message_id, collect_delivery, p);
	json_t *items = p->items;
	p->items = json_array();
	if (rc == 0)
		rc = store_sms_list(c, k->tenant_id, message_id, collect_sms, p);
	if (rc == 0)
		k->result = json_pack("{s:I,s:I,s:o,s:o}", "chat", (json_int_t)ch.id, "seq", (json_int_t)k->p_seq,
		                      "items", items, "sms", p->items);
	else {
		json_decref(items);
		json_decref(p->items);
	}
	free(p);
	return rc;
}

/* The recipient's app, service worker or live connection confirms a push. */
static int op_delivered(store_conn *c, svc_call *k)
{
	if (k->is_server)
		return fail(k, HERR_FORBIDDEN, "the recipient confirms its deliveries");
	int rc = store_delivery_delivered(c, k->tenant_id, k->user_id, k->p_delivery, htime_now_ms());
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "delivery");
	if (rc == 0)
		k->result = json_pack("{s:I,s:s}", "delivery", (json_int_t)k->p_delivery, "status", "delivered");
	return rc;
}

/* ---- quiet hours ----------------------------------------------------------------------------- */

/* "HH:MM" (00:00 to 23:59) → minutes after midnight. */
static int parse_hhmm(const char *s, int *out)
{
	if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
	    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -1;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 23 || m > 59)
		return -1;
	*out = h * 60 + m;
	return 0;
}

/* Quiet hours: pushes wait until they end (urgent messages excepted); the
 * live connection and the history are not affected. The offset is the
 * user's current one (the apps send it again when it changes). */
static int op_quiet(store_conn *c, svc_call *k, bool set)
{
	int rc = need_user(k);
	if (rc)
		return rc;
	store_quiet q = {.set = set};
	if (set) {
		const char *from, *to;
		int64_t offset;
		if ((rc = body_str(k, "from", &from, NULL, 5, true)) || (rc = body_str(k, "to", &to, NULL, 5, true)) ||
		    (rc = body_int(k, "utc_offset", &offset, 0)))
			return rc;
		if (parse_hhmm(from, &q.from) != 0)
			return fail(k, HERR_FIELD_INVALID, "from (HH:MM)");
		if (parse_hhmm(to, &q.to) != 0)
			return fail(k, HERR_FIELD_INVALID, "to (HH:MM)");
		if (q.from == q.to)
			return fail(k, HERR_FIELD_INVALID, "from and to are the same time");
		if (offset < -720 || offset > 840)
			return fail(k, HERR_FIELD_INVALID, "utc_offset (minutes, -720 to 840)");
		q.offset = (int)offset;
	}
	if ((rc = store_quiet_set(c, k->tenant_id, k->user_id, &q)) != 0)
		return rc;
	k->result = json_pack("{s:o}", "quiet_hours", quiet_json(&q));
	return 0;
}

static int op_quiet_put(store_conn *c, svc_call *k)
{
	return op_quiet(c, k, true);
}

static int op_quiet_delete(store_conn *c, svc_call *k)
{
	return op_quiet(c, k, false);
}

/* ---- webhooks (configuration; delivery is svc/webhook.c) ---------------------------------- */

static json_t *webhook_json(const store_webhook *w, bool with_secret)
{
	json_t *o = json_pack("{s:s,s:I,s:o}", "url", w->url, "cursor", (json_int_t)w->cursor, "created_at",
	                      iso(w->created_at));
	if (with_secret)
		json_object_set_new(o, "secret", json_string(w->secret));
	return o;
}

static int op_webhook_put(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	const char *url;
	if (rc || (rc = body_str(k, "url", &url, NULL, STORE_URL_MAX - 1, true)))
		return rc;
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return fail(k, HERR_FIELD_INVALID, "url (http:// or https://)");
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20)
			return fail(k, HERR_FIELD_INVALID, "url");
	store_webhook w = {.tenant_id = k->tenant_id, .created_at = htime_now_ms()};
	scopy(w.url, sizeof w.url, url);
	char secret[HCRYPTO_TOKEN_CHARS + 1];
	hcrypto_token_new(secret);
	snprintf(w.secret, sizeof w.secret, "whsec_%s", secret);
	/* Deliveries start with events after now, not the whole history. */
	int64_t floor;
	if ((rc = store_event_bounds(c, &w.cursor, &floor)) != 0 || (rc = store_webhook_put(c, &w)) != 0)
		return rc;
	k->result = webhook_json(&w, true);
	return 0;
}

static int op_webhook_get(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	store_webhook w;
	if (rc)
		return rc;
	if ((rc = store_webhook_get(c, k->tenant_id, &w)) == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "webhook");
	if (rc == 0)
		k->result = webhook_json(&w, false);
	/* The test delivery (svc/webhook.c) signs with the stored secret; it
	 * asks for it with a marker no HTTP query can carry. */
	if (rc == 0 && k->q_user[0] == '\x01')
		scopy(k->staged_, sizeof k->staged_, w.secret);
	return rc;
}

static int op_webhook_delete(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	if ((rc = store_webhook_delete(c, k->tenant_id)) == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "webhook");
	if (rc == 0)
		k->result = json_pack("{s:b}", "deleted", 1);
	return rc;
}

/* ---- for the compatibility API -------------------------------------------------------------- */

int svc_chat_emit_message(store_conn *c, svc_call *k, const store_msg *m)
{
	name_cache nc = {0};
	if (m->extra) /* mentions or attachments: through jansson */
		return emit(c, k, m->chat_id, 0, 0, "message",
		            json_pack("{s:o}", "message", msg_json(c, k->tenant_id, m, &nc)));
	/* The /api/v1 inbox message (the createmessage hot path): by hand. */
	const char *pub, *name;
	sender_info(c, k->tenant_id, m->sender_id, &nc, &pub, &name);
	hbuf b = HBUF_INIT;
	int rc = hbuf_puts(&b, "{\"type\":\"message\",\"message\":") || msg_json_write(&b, m, pub, name, "[]", "[]") ||
	                         hbuf_putc(&b, '}')
	                 ? HERR_NOMEM
	                 : emit_json(c, k, m->chat_id, 0, 0, 0, "message", b.data);
	hbuf_free(&b);
	return rc;
}

int svc_chat_emit_created(store_conn *c, svc_call *k, int64_t chat_id, int64_t user_id)
{
	store_chat ch;
	int rc = store_chat_get(c, k->tenant_id, chat_id, &ch);
	if (rc)
		return rc;
	return emit(c, k, 0, user_id, 0, "chat_created", json_pack("{s:o}", "chat", chat_json(&ch)));
}

void svc_publish_events(svc *s, svc_call *k)
{
	if (s->event_sink)
		for (size_t i = 0; i < k->event_count; i++)
			s->event_sink(s->event_sink_ud, &k->events[i]);
}

/* ---- realtime ---------------------------------------------------------------------------- */

static int collect_chat_id(void *ud, int64_t chat_id)
{
	svc_call *k = ud;
	if (k->chat_count % 64 == 0) {
		int64_t *n = realloc(k->chat_ids, (k->chat_count + 64) * sizeof *n);
		if (!n)
			return HERR_NOMEM;
		k->chat_ids = n;
	}
	k->chat_ids[k->chat_count++] = chat_id;
	return 0;
}

/* A server-side consumer connects with the API token and names the user
 * whose stream it follows. */
static int act_as_user(store_conn *c, svc_call *k)
{
	if (!k->is_server)
		return 0;
	if (!k->q_user[0])
		return fail(k, HERR_FIELD_MISSING, "user");
	store_user u;
	int rc = find_user(c, k->tenant_id, k->q_user, &u);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "user");
	if (rc == 0)
		set_caller_user(k, &u);
	return rc;
}

static int op_subscribe_init(store_conn *c, svc_call *k)
{
	if (act_as_user(c, k) != 0)
		return k->err ? k->err : HERR_STORAGE;
	int64_t floor;
	int rc = store_event_bounds(c, &k->head_pos, &floor);
	if (rc == 0)
		rc = store_member_chats(c, k->tenant_id, k->user_id, collect_chat_id, k);
	return rc;
}

static int collect_event(void *ud, const store_event *e)
{
	svc_call *k = ud;
	k->head_pos = e->id;
	int64_t ref = e->chat_id;
	if (!ref) {
		/* user-audience events name their chat in the payload */
		json_t *p = json_loads(e->payload, 0, NULL);
		json_t *cj = p ? json_object_get(p, "chat") : NULL;
		ref = json_is_integer(cj)  ? json_integer_value(cj)
		      : json_is_object(cj) ? json_integer_value(json_object_get(cj, "id"))
		                           : 0;
		json_decref(p);
	}
	return push_event(k, e->id, e->chat_id, e->user_id, 0, ref, e->type, e->payload);
}

static int op_replay(store_conn *c, svc_call *k)
{
	int64_t max_id, floor;
	int rc = act_as_user(c, k);
	if (rc)
		return rc;
	rc = store_event_bounds(c, &max_id, &floor);
	if (rc)
		return rc;
	k->head_pos = k->pos;
	if (k->pos < floor || k->pos > max_id) {
		/* Older than what is kept, or from another database: the
		 * client must reload over REST. */
		k->resync = true;
		k->head_pos = max_id;
		return 0;
	}
	if ((rc = store_event_replay(c, k->tenant_id, k->user_id, k->pos, REPLAY_MAX + 1, collect_event, k)) != 0)
		return rc;
	if (k->event_count > REPLAY_MAX) {
		k->resync = true;
		k->head_pos = max_id;
	}
	return 0;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static int run_chat_delete(store_conn *c, svc_call *k)
{
	return op_chat_delete(c, k, false);
}
static int run_chat_restore(store_conn *c, svc_call *k)
{
	return op_chat_delete(c, k, true);
}
static int run_member_add(store_conn *c, svc_call *k)
{
	return op_member_change(c, k, 0);
}
static int run_member_patch(store_conn *c, svc_call *k)
{
	return op_member_change(c, k, 1);
}
static int run_member_remove(store_conn *c, svc_call *k)
{
	return op_member_change(c, k, 2);
}

static const struct {
	v2_run_fn run;
	bool write;
	bool anonymous;
} ops[V2_OP_COUNT] = {
        [V2_USER_PUT] = {op_user_put, true, false},
        [V2_USER_GET] = {op_user_get, false, false},
        [V2_USER_LIST] = {op_user_list, false, false},
        [V2_USER_DEACTIVATE] = {op_user_deactivate, true, false},
        [V2_SESSION_CREATE] = {op_session_create, true, false},
        [V2_JWT_ROTATE] = {op_jwt_rotate, true, false},
        [V2_CHAT_BY_REF_PUT] = {op_chat_by_ref_put, true, false},
        [V2_CHAT_BY_REF_GET] = {op_chat_by_ref_get, false, false},
        [V2_ME] = {op_me, false, false},
        [V2_CHAT_CREATE] = {op_chat_create, true, false},
        [V2_CHAT_LIST] = {op_chat_list, false, false},
        [V2_CHAT_GET] = {op_chat_get, false, false},
        [V2_CHAT_PATCH] = {op_chat_patch, true, false},
        [V2_CHAT_DELETE] = {run_chat_delete, true, false},
        [V2_CHAT_RESTORE] = {run_chat_restore, true, false},
        [V2_MEMBER_LIST] = {op_member_list, false, false},
        [V2_MEMBER_ADD] = {run_member_add, true, false},
        [V2_MEMBER_PATCH] = {run_member_patch, true, false},
        [V2_MEMBER_REMOVE] = {run_member_remove, true, false},
        [V2_SETTINGS] = {op_settings, true, false},
        [V2_MSG_POST] = {op_msg_post, true, false},
        [V2_MSG_PAGE] = {op_msg_page, false, false},
        [V2_MSG_PATCH] = {op_msg_patch, true, false},
        [V2_MSG_DELETE] = {op_msg_delete, true, false},
        [V2_READ] = {op_read, true, false},
        [V2_READS] = {op_reads, false, false},
        [V2_SEARCH] = {op_search, true, false},
        [V2_TOPIC_PUT] = {op_topic_put, true, false},
        [V2_TOPIC_PUBLISH] = {op_topic_publish, true, false},
        [V2_TOPIC_EVENTS] = {op_topic_events, false, false},
        [V2_TOPIC_SUBSCRIBE] = {op_topic_events, false, false},
        [V2_FILE_UPLOAD] = {op_file_upload, false, false},
        [V2_FILE_COMMIT] = {op_file_commit, true, false},
        [V2_FILE_GET] = {op_file_get, false, false},
        [V2_WEBHOOK_PUT] = {op_webhook_put, true, false},
        [V2_WEBHOOK_GET] = {op_webhook_get, false, false},
        [V2_WEBHOOK_DELETE] = {op_webhook_delete, true, false},
        [V2_PUSH_SUBSCRIBE] = {op_push_subscribe, true, false},
        [V2_PUSH_UNSUBSCRIBE] = {op_push_unsubscribe, true, false},
        [V2_PUSH_DEVICES] = {op_push_devices, false, false},
        [V2_DELIVERIES] = {op_deliveries, false, false},
        [V2_DELIVERED] = {op_delivered, true, false},
        [V2_QUIET_PUT] = {op_quiet_put, true, false},
        [V2_QUIET_DELETE] = {op_quiet_delete, true, false},
        [V2_DIRECTORY] = {op_directory, false, false},
        [V2_DEV_USERS] = {op_dev_users, false, true},
        [V2_DEV_LOGIN] = {op_dev_login, true, true},
        [V2_REPLAY] = {op_replay, false, false},
        [V2_SUBSCRIBE_INIT] = {op_subscribe_init, false, false},
        /* the company cabinet (cabinet.c); the sign-in verifies the
	 * password on a reader (Argon2 takes a while), then chains the write */
        [V2_CAB_LOGIN] = {svc_cab_login, false, true},
        [V2_CAB_LOGIN_COMMIT] = {svc_cab_login_commit, true, true},
        [V2_CAB_LOGOUT] = {svc_cab_logout, true, false},
        [V2_CAB_TENANT_GET] = {svc_cab_tenant_get, false, false},
        [V2_CAB_TENANT_PATCH] = {svc_cab_tenant_patch, true, false},
        [V2_CAB_TOKEN_ROTATE] = {svc_cab_token_rotate, true, false},
        [V2_CAB_EMPLOYEES] = {svc_cab_employees, false, false},
        [V2_CAB_EMPLOYEE_PATCH] = {svc_cab_employee_patch, true, false},
        [V2_CAB_EMPLOYEE_DELETE] = {svc_cab_employee_delete, true, false},
        [V2_CAB_MESSAGES] = {svc_cab_messages, false, false},
        [V2_CAB_MESSAGE_GET] = {svc_cab_message_get, false, false},
        [V2_CAB_SEND] = {svc_cab_send, true, false},
        [V2_CAB_STATS] = {svc_cab_stats, false, false},
};

static int v2_job(store_conn *c, void *arg)
{
	svc_call *k = arg;
	int rc = 0;
	if (!ops[k->op_].anonymous && (rc = resolve(c, k)) != 0)
		return rc;
	return ops[k->op_].run(c, k);
}

static void v2_submit(svc_call *k);

static void v2_done(void *arg, int rc)
{
	svc_call *k = arg;
	svc *s = k->svc_;
	if (rc == HERR_CONFLICT && !k->write_ && k->err == 0) {
		/* A read found something to write first (a JWT user to create
		 * or update): run again as a write job. */
		k->write_ = true;
		svc_call_free_results(k);
		v2_submit(k);
		return;
	}
	if (rc < 0 && k->err == 0)
		k->err = rc;
	if (k->err == 0 && k->chain_) {
		/* The next step of a two-step operation, as a job of its own kind
		 * (an upload writes its file on the pool, then records it on the
		 * writer). */
		k->op_ = (svc_v2_op)k->chain_;
		k->chain_ = 0;
		k->write_ = ops[k->op_].write;
		svc_call_free_results(k);
		v2_submit(k);
		return;
	}
	if (k->err != 0 && k->op_ == V2_FILE_COMMIT && k->p_file[0]) {
		char path[2400];
		file_path(s, k->p_file, path, sizeof path, false);
		unlink(path); /* recorded nowhere: do not keep the bytes */
	}
	if (k->err == 0 && k->op_ != V2_REPLAY && k->op_ != V2_TOPIC_SUBSCRIBE && s->event_sink) {
		for (size_t i = 0; i < k->event_count; i++)
			s->event_sink(s->event_sink_ud, &k->events[i]);
	}
	if (k->err != 0) {
		json_decref(k->result);
		k->result = NULL;
		free(k->result_json);
		k->result_json = NULL;
	}
	k->done(k);
}

static void v2_submit(svc_call *k)
{
	k->err = 0;
	k->err_detail[0] = '\0';
	k->status = 200;
	k->is_server = false;
	k->cabinet = false;
	k->user_id = 0;
	if (k->write_)
		store_write(k->svc_->store, v2_job, v2_done, k);
	else
		store_read(k->svc_->store, v2_job, v2_done, k);
}

void svc_v2(svc *s, svc_call *k, svc_v2_op op)
{
	k->svc_ = s;
	k->op_ = op;
	k->write_ = ops[op].write;
	v2_submit(k);
}

void svc_call_free_results(svc_call *k)
{
	json_decref(k->result);
	k->result = NULL;
	free(k->result_json);
	k->result_json = NULL;
	k->result_json_len = 0;
	for (size_t i = 0; i < k->event_count; i++)
		free(k->events[i].frame);
	free(k->events);
	k->events = NULL;
	k->event_count = k->event_cap_ = 0;
	free(k->chat_ids);
	k->chat_ids = NULL;
	k->chat_count = 0;
	free(k->file_data);
	k->file_data = NULL;
	k->file_len = 0;
}

typedef struct prune_job {
	int64_t before, keep, deleted;
	void (*done)(void *ud, int64_t deleted, int rc);
	void *ud;
} prune_job;

static int prune_run(store_conn *c, void *arg)
{
	prune_job *j = arg;
	return store_event_prune(c, j->before, j->keep, &j->deleted);
}

static void prune_done(void *arg, int rc)
{
	prune_job *j = arg;
	if (j->done)
		j->done(j->ud, j->deleted, rc);
	free(j);
}

void svc_prune_events(svc *s, int64_t retention_ms, int64_t keep_last, void (*done)(void *ud, int64_t deleted, int rc),
                      void *ud)
{
	prune_job *j = calloc(1, sizeof *j);
	if (!j)
		return;
	j->before = htime_now_ms() - retention_ms;
	j->keep = keep_last;
	j->done = done;
	j->ud = ud;
	store_write(s->store, prune_run, prune_done, j);
}

typedef struct index_job {
	int indexed;
} index_job;

static int index_run(store_conn *c, void *arg)
{
	index_job *j = arg;
	return store_msg_index(c, 2000, &j->indexed);
}

static void index_done(void *arg, int rc)
{
	(void)rc; /* a failed batch is retried by the next tick */
	free(arg);
}

void svc_index_messages(svc *s)
{
	index_job *j = calloc(1, sizeof *j);
	if (j)
		store_write(s->store, index_run, index_done, j);
}

void svc_set_event_sink(svc *s, svc_event_sink sink, void *ud)
{
	s->event_sink = sink;
	s->event_sink_ud = ud;
}

void svc_v2_settings(svc *s, bool dev_login, const char *jwt_audience)
{
	s->dev_login = dev_login;
	scopy(s->jwt_audience, sizeof s->jwt_audience, jwt_audience ? jwt_audience : "");
}
