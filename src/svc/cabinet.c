/*
 * cabinet.c — the company cabinet: the tenant administrator's sign-in with
 * INN and password, the company's settings and API token, its employees,
 * every message the company sent them with the delivery status, sending,
 * and statistics (docs/cabinet.md; the routes are in api/cabinet.c).
 *
 * Who may: every operation but the sign-in wants the tenant's server caller
 * — the API token or a cabinet session, which resolve() in chat.c treats
 * alike. A cabinet session is the tenant's, not a user's: it is a random
 * token (only its SHA-256 is kept) that expires (cabinet.session_ttl) and
 * ends on sign-out or when the password is changed. Rotating the API token
 * leaves cabinet sessions alone: the cabinet is where a token is rotated
 * after a leak, and the one rotating it must stay signed in.
 *
 * Sign-in: the limits (per INN, per client address) are counted on the loop
 * before any work, so parallel guesses cannot slip past them; a success
 * gives its count back. The password is checked with Argon2id on a storage
 * reader, then the session is written by a chained writer job (Argon2 must
 * not stall the single writer). An unknown INN is checked against a fixed
 * dummy hash so that it costs the same time and gets the same answer as a
 * wrong password.
 *
 * Operations run as svc_v2 jobs (chat.c's table) and build the JSON the
 * cabinet shows; query parameters arrive as strings in k->query and are
 * all checked here, each bad one with a stable error.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "core/time.h"
#include "core/validate.h"
#include "svc/chat.h"
#include "svc/svc_internal.h"

#define EMPLOYEES_LIMIT_DEFAULT 50
#define EMPLOYEES_LIMIT_MAX     200
#define MESSAGES_LIMIT_DEFAULT  50
#define MESSAGES_LIMIT_MAX      500
#define OFFSET_MAX              100000000
#define SEND_TO_MAX             1000
#define CSV_ROWS_MAX            100000
#define STATS_DAYS_DEFAULT      30
#define STATS_DAYS_MAX          366
#define TZ_OFFSET_MAX           (14 * 60)
#define DAY_MS                  86400000LL
#define LOGIN_MARK              "cabinet-login-verified"

/* An Argon2id hash of a password nobody knows, with the parameters
 * hcrypto_password_hash uses: verifying against it costs what a real check
 * costs. */
static const char dummy_hash[] =
        "$argon2id$v=19$m=19456,t=2,p=1$gSqPvYckwcQnylT5e5f47Q$bUywaQ3t3vtn1MGyQceVlFsamXzdtoY8LpIBWKe5Jz0";

static const char *const status_names[] = {"failed", "queued", "sent", "delivered", "read"};

/* ---- small helpers ------------------------------------------------------------------ */

static int fail(svc_call *k, int err, const char *detail)
{
	k->err = err;
	snprintf(k->err_detail, sizeof k->err_detail, "%s", detail ? detail : "");
	return err;
}

static int need_server(svc_call *k)
{
	return k->is_server ? 0 : fail(k, HERR_FORBIDDEN, "the company cabinet (API token or cabinet sign-in)");
}

static json_t *iso_at(int64_t ms, int offset_min)
{
	if (ms <= 0)
		return json_null();
	char buf[32];
	htime_format_iso(ms, offset_min, buf);
	return json_string(buf);
}

/* A query parameter, or NULL when absent or empty. */
static const char *query(svc_call *k, const char *name)
{
	const char *v = k->query ? json_string_value(json_object_get(k->query, name)) : NULL;
	return v && *v ? v : NULL;
}

/* A whole number parameter within [min, max]; absent → def. */
static int query_int(svc_call *k, const char *name, int64_t min, int64_t max, int64_t def, const char *detail,
                     int64_t *out)
{
	const char *v = query(k, name);
	*out = def;
	if (!v)
		return 0;
	char *end;
	long long n = strtoll(v, &end, 10);
	if (*end || end == v || n < min || n > max || strlen(v) > 20)
		return fail(k, HERR_FIELD_INVALID, detail);
	*out = n;
	return 0;
}

/* A text field of the body: present and a string, or absent (NULL). */
static int body_text(svc_call *k, const char *name, const char **out)
{
	json_t *v = k->body ? json_object_get(k->body, name) : NULL;
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fail(k, HERR_FIELD_TYPE, name);
	if (memchr(json_string_value(v), '\0', json_string_length(v)))
		return fail(k, HERR_FIELD_INVALID, name);
	*out = json_string_value(v);
	return 0;
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

/* Message title or text: not blank, at most max characters. */
static int check_text(svc_call *k, const char *name, const char *s, int max, int empty_err, int long_err)
{
	size_t cps = 0;
	if (!s)
		return fail(k, HERR_FIELD_MISSING, name);
	if (blank(s))
		return fail(k, empty_err, name);
	if (hval_utf8(s, strlen(s), &cps) != 0)
		return fail(k, HERR_FIELD_INVALID, name);
	if (cps > (size_t)max) {
		char n[16];
		snprintf(n, sizeof n, "%d", max);
		return fail(k, long_err, n);
	}
	return 0;
}

static bool valid_staff_id(const char *s)
{
	return s && hval_digits(s, STORE_STAFF_ID_MAX - 1) == 0;
}

/* "from"/"to": a date (the whole day at the offset) or a date and time.
 * The result is a half-open bound: to is exclusive. */
static int parse_bound(svc_call *k, const char *name, int offset_min, bool upper, int64_t *out)
{
	const char *v = query(k, name);
	if (!v)
		return 1;
	bool date_only = strlen(v) == 10;
	if (strlen(v) > 40 || htime_parse_iso(v, offset_min, out) != 0)
		return fail(k, HERR_DATE_INVALID, name);
	if (upper)
		*out += date_only ? DAY_MS : 1;
	return 0;
}

static const char *device_kind(const char *kind)
{
	return strcmp(kind, "fcm") == 0 ? "android" : strcmp(kind, "apns") == 0 ? "apple" : kind;
}

/* ---- sign-in ----------------------------------------------------------------------- */

static void login_keys(svc_call *k, char ip_key[96], char inn_key[64])
{
	snprintf(ip_key, 96, "cab-ip:%s", k->remote_addr);
	inn_key[0] = '\0';
	json_t *inn = k->body ? json_object_get(k->body, "inn") : NULL;
	if (json_is_string(inn) && json_string_length(inn) <= 16)
		snprintf(inn_key, 64, "cab-inn:%s", json_string_value(inn));
}

static void login_done(svc_call *k)
{
	svc *s = k->svc_;
	if (k->err == 0) {
		/* A success does not use up the limit: only failures do. */
		char ip_key[96], inn_key[64];
		int64_t now = htime_now_ms();
		login_keys(k, ip_key, inn_key);
		hratelimit_forgive(s->cab_ip_limit, ip_key, now);
		if (inn_key[0])
			hratelimit_forgive(s->cab_inn_limit, inn_key, now);
	}
	k->done = k->outer_done_;
	k->done(k);
}

void svc_cabinet_login(svc *s, svc_call *k)
{
	char ip_key[96], inn_key[64];
	int64_t now = htime_now_ms();
	login_keys(k, ip_key, inn_key);
	int wait = hratelimit_hit(s->cab_ip_limit, ip_key, now);
	if (wait == 0 && inn_key[0])
		wait = hratelimit_hit(s->cab_inn_limit, inn_key, now);
	if (wait > 0) {
		k->svc_ = s;
		k->retry_after_s = wait;
		fail(k, HERR_RATE_LIMITED, NULL);
		k->done(k);
		return;
	}
	k->outer_done_ = k->done;
	k->done = login_done;
	svc_v2(s, k, V2_CAB_LOGIN);
}

int svc_cab_login(store_conn *c, svc_call *k)
{
	const char *inn, *password;
	int rc;
	if ((rc = body_text(k, "inn", &inn)) || (rc = body_text(k, "password", &password)))
		return rc;
	if (!inn)
		return fail(k, HERR_FIELD_MISSING, "inn");
	if (!password)
		return fail(k, HERR_FIELD_MISSING, "password");
	if (hval_inn(inn) != 0)
		return fail(k, HERR_INN_INVALID, NULL);
	if (strlen(password) > 1024)
		return fail(k, HERR_BAD_CREDENTIALS, NULL);
	store_tenant t = {0};
	rc = store_tenant_by_inn(c, inn, &t);
	if (rc != 0 && rc != HERR_NOT_FOUND)
		return rc;
	char stored[256];
	if (rc == 0 && (rc = store_tenant_password_hash(c, t.id, stored, sizeof stored)) != 0)
		return rc;
	bool known = t.id != 0 && rc == 0;
	bool good = hcrypto_password_verify(known ? stored : dummy_hash, password) == 1;
	if (!known || !good)
		return fail(k, HERR_BAD_CREDENTIALS, NULL);
	k->tenant_id = t.id;
	snprintf(k->tenant_inn, sizeof k->tenant_inn, "%s", t.inn);
	snprintf(k->staged_, sizeof k->staged_, "%s", LOGIN_MARK);
	k->chain_ = V2_CAB_LOGIN_COMMIT;
	return 0;
}

int svc_cab_login_commit(store_conn *c, svc_call *k)
{
	/* Only ever reached through svc_cab_login's chain, which sets the mark. */
	if (strcmp(k->staged_, LOGIN_MARK) != 0)
		return fail(k, HERR_UNAUTHORIZED, NULL);
	k->staged_[0] = '\0';
	store_tenant t;
	int rc = store_tenant_by_id(c, k->tenant_id, &t);
	if (rc != 0)
		return rc == HERR_NOT_FOUND ? fail(k, HERR_BAD_CREDENTIALS, NULL) : rc;
	char token[HCRYPTO_TOKEN_CHARS + 1];
	uint8_t h[HCRYPTO_HASH_BYTES];
	hcrypto_token_new(token);
	hcrypto_token_hash(token, strlen(token), h);
	int64_t now = htime_now_ms();
	int64_t expires = now + k->svc_->settings.cabinet_session_ttl_s * 1000;
	if ((rc = store_cabinet_session_insert(c, t.id, h, now, expires)) != 0)
		return rc;
	k->result = json_pack("{s:s,s:o,s:{s:s,s:s}}", "token", token, "expires_at", iso_at(expires, 0), "tenant",
	                      "inn", t.inn, "name", t.short_name);
	return 0;
}

int svc_cab_logout(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	k->status = 204;
	if (!k->cabinet)
		return 0; /* the API token is no session: nothing to end */
	uint8_t h[HCRYPTO_HASH_BYTES];
	hcrypto_token_hash(k->token, strlen(k->token), h);
	rc = store_cabinet_session_delete(c, h);
	return rc == HERR_NOT_FOUND ? 0 : rc;
}

/* ---- the company -------------------------------------------------------------------- */

static int tenant_result(store_conn *c, svc_call *k)
{
	store_tenant t;
	char lang[8], hint[8];
	int rc = store_tenant_by_id(c, k->tenant_id, &t);
	if (rc == 0)
		rc = store_tenant_cabinet_info(c, k->tenant_id, lang, hint);
	if (rc != 0)
		return rc;
	k->result = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "inn", t.inn, "name", t.short_name, "full_name", t.full_name,
	                      "language", lang, "created_at", iso_at(t.created_at, 0), "api_token_hint",
	                      hint[0] ? json_string(hint) : json_null());
	return 0;
}

int svc_cab_tenant_get(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	return rc ? rc : tenant_result(c, k);
}

int svc_cab_tenant_patch(store_conn *c, svc_call *k)
{
	const char *name, *lang;
	int rc = need_server(k);
	if (rc || (rc = body_text(k, "name", &name)) || (rc = body_text(k, "language", &lang)))
		return rc;
	size_t cps = 0;
	if (name && (blank(name) || hval_utf8(name, strlen(name), &cps) != 0 || cps > 256))
		return fail(k, HERR_NAME_INVALID, NULL);
	if (lang && strcmp(lang, "ru") && strcmp(lang, "en") && strcmp(lang, "de") && strcmp(lang, "pl"))
		return fail(k, HERR_FIELD_INVALID, "language (ru, en, de or pl)");
	if ((name || lang) && (rc = store_tenant_cabinet_update(c, k->tenant_id, name, lang)) != 0)
		return rc;
	return tenant_result(c, k);
}

int svc_cab_token_rotate(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	if (rc)
		return rc;
	char token[HCRYPTO_TOKEN_CHARS + 1];
	uint8_t h[HCRYPTO_HASH_BYTES];
	hcrypto_token_new(token);
	hcrypto_token_hash(token, strlen(token), h);
	/* The old token's hash is replaced: it stops working at this commit. */
	if ((rc = store_tenant_set_token(c, k->tenant_id, h)) != 0 ||
	    (rc = store_tenant_set_token_hint(c, k->tenant_id, token + HCRYPTO_TOKEN_CHARS - 4)) != 0)
		return rc;
	k->result = json_pack("{s:s}", "token", token);
	return 0;
}

/* ---- employees ---------------------------------------------------------------------- */

typedef struct employee_page {
	store_conn *c;
	svc_call *k;
	char q[1024]; /* folded search text, "" = all */
	bool has_cursor;
	int64_t cursor_activity, cursor_id;
	int64_t want_id; /* find one employee (by user id) instead */
	int limit;
	store_cabinet_employee *rows;
	int count;
} employee_page;

static int add_device(void *ud, const store_cabinet_device *d)
{
	json_array_append_new(ud, json_pack("{s:s,s:o,s:o,s:b}", "kind", device_kind(d->kind), "created_at",
	                                    iso_at(d->created_at, 0), "last_used_at", iso_at(d->last_used_at, 0),
	                                    "dead", d->dead_at != 0));
	return 0;
}

static int employee_json(store_conn *c, svc_call *k, const store_cabinet_employee *e, json_t **out)
{
	const store_user *u = &e->user;
	json_t *devices = json_array();
	int rc = store_cabinet_devices(c, k->tenant_id, u->id, add_device, devices);
	if (rc != 0) {
		json_decref(devices);
		return rc;
	}
	char id[STORE_STAFF_ID_MAX + 8];
	snprintf(id, sizeof id, "staff-%s", u->staff_id);
	*out = json_pack("{s:s,s:s,s:o,s:s,s:b,s:b,s:o,s:o,s:o}", "id", id, "staff_id", u->staff_id, "phone",
	                 u->phone[0] ? json_string(u->phone) : json_null(), "name", u->name, "mailing", u->mailing,
	                 "active", e->active, "last_seen", iso_at(e->last_seen, 0), "created_at",
	                 iso_at(u->created_at, 0), "devices", devices);
	return *out ? 0 : HERR_NOMEM;
}

static bool matches(const employee_page *p, const store_cabinet_employee *e)
{
	if (!p->q[0])
		return true;
	char folded[STORE_NAME_MAX];
	hval_casefold(e->user.name, folded, sizeof folded);
	return strstr(folded, p->q) || strstr(e->user.phone, p->q);
}

static int collect_employee(void *ud, const store_cabinet_employee *e)
{
	employee_page *p = ud;
	if (p->want_id) {
		if (e->user.id != p->want_id)
			return 0;
		p->rows[p->count++] = *e;
		return 1; /* found: stop */
	}
	if (p->has_cursor &&
	    (e->activity > p->cursor_activity || (e->activity == p->cursor_activity && e->user.id >= p->cursor_id)))
		return 0; /* on an earlier page */
	if (!matches(p, e))
		return 0;
	p->rows[p->count++] = *e;
	return p->count > p->limit ? 1 : 0; /* one more than a page tells whether there is a next */
}

int svc_cab_employees(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	int64_t limit;
	if (rc ||
	    (rc = query_int(k, "limit", 1, EMPLOYEES_LIMIT_MAX, EMPLOYEES_LIMIT_DEFAULT, "limit (1 to 200)", &limit)))
		return rc;
	employee_page *p = calloc(1, sizeof *p);
	if (!p)
		return HERR_NOMEM;
	p->limit = (int)limit;
	const char *q = query(k, "q"), *cursor = query(k, "cursor");
	size_t cps = 0;
	if (q && (strlen(q) > 256 || hval_utf8(q, strlen(q), &cps) != 0)) {
		free(p);
		return fail(k, HERR_FIELD_INVALID, "q (at most 256 bytes of text)");
	}
	if (q)
		hval_casefold(q, p->q, sizeof p->q);
	if (cursor) {
		long long a, b;
		char tail;
		if (sscanf(cursor, "%lld.%lld%c", &a, &b, &tail) != 2 || a < 0 || b <= 0) {
			free(p);
			return fail(k, HERR_FIELD_INVALID, "cursor");
		}
		p->has_cursor = true;
		p->cursor_activity = a;
		p->cursor_id = b;
	}
	p->rows = calloc((size_t)p->limit + 1, sizeof *p->rows);
	if (!p->rows) {
		free(p);
		return HERR_NOMEM;
	}
	rc = store_cabinet_employees(c, k->tenant_id, collect_employee, p);
	json_t *items = json_array();
	int shown = p->count > p->limit ? p->limit : p->count;
	for (int i = 0; (rc == 0 || rc == 1) && i < shown; i++) {
		json_t *e = NULL;
		rc = employee_json(c, k, &p->rows[i], &e);
		json_array_append_new(items, e);
	}
	if (rc == 0 || rc == 1) {
		rc = 0;
		json_t *next = json_null();
		if (p->count > p->limit) {
			char buf[64];
			const store_cabinet_employee *last = &p->rows[shown - 1];
			snprintf(buf, sizeof buf, "%lld.%lld", (long long)last->activity, (long long)last->user.id);
			next = json_string(buf);
		}
		k->result = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
	} else {
		json_decref(items);
	}
	free(p->rows);
	free(p);
	return rc;
}

/* The employee a path names ({staff_id}); unknown → 404 unknown_staff. */
static int path_employee(store_conn *c, svc_call *k, store_user *u)
{
	const char *sid = query(k, "staff_id");
	if (!valid_staff_id(sid))
		return fail(k, HERR_UNKNOWN_STAFF, NULL);
	int rc = store_user_by_staff_id(c, k->tenant_id, sid, u);
	return rc == HERR_NOT_FOUND ? fail(k, HERR_UNKNOWN_STAFF, NULL) : rc;
}

int svc_cab_employee_patch(store_conn *c, svc_call *k)
{
	store_user u;
	const char *name;
	int rc = need_server(k);
	if (rc || (rc = path_employee(c, k, &u)) || (rc = body_text(k, "name", &name)))
		return rc;
	json_t *mailing = k->body ? json_object_get(k->body, "mailing") : NULL;
	if (mailing && !json_is_null(mailing) && !json_is_boolean(mailing))
		return fail(k, HERR_FIELD_TYPE, "mailing");
	size_t cps = 0;
	if (name &&
	    (blank(name) || hval_utf8(name, strlen(name), &cps) != 0 || cps > (size_t)k->svc_->settings.name_max))
		return fail(k, HERR_NAME_INVALID, NULL);
	if (name || json_is_boolean(mailing)) {
		if (name)
			snprintf(u.name, sizeof u.name, "%s", name);
		if (json_is_boolean(mailing))
			u.mailing = json_is_true(mailing);
		u.updated_at = htime_now_ms();
		if ((rc = store_user_update(c, &u)) != 0)
			return rc;
	}
	employee_page p = {.c = c, .k = k, .want_id = u.id};
	store_cabinet_employee row;
	p.rows = &row;
	rc = store_cabinet_employees(c, k->tenant_id, collect_employee, &p);
	if (rc != 0 && rc != 1)
		return rc;
	if (p.count == 0) {
		/* Not an employee by role (a dispatcher, say): show what is known. */
		memset(&row, 0, sizeof row);
		row.user = u;
		row.active = true;
	}
	return employee_json(c, k, &row, &k->result);
}

int svc_cab_employee_delete(store_conn *c, svc_call *k)
{
	store_user u;
	int rc = need_server(k);
	if (rc || (rc = path_employee(c, k, &u)))
		return rc;
	/* What /api/v1/deletestaff does: the employee, their inbox and
	 * messages, devices, sessions and codes. */
	if ((rc = store_user_delete(c, k->tenant_id, u.id)) != 0)
		return rc == HERR_NOT_FOUND ? fail(k, HERR_UNKNOWN_STAFF, NULL) : rc;
	k->status = 204;
	return 0;
}

/* ---- messages ----------------------------------------------------------------------- */

static json_t *cab_msg_json(const store_cabinet_msg *m, int off)
{
	return json_pack("{s:I,s:o,s:{s:s,s:s,s:o},s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:b}", "id", (json_int_t)m->id,
	                 "created_at", iso_at(m->created_at, off), "employee", "staff_id", m->staff_id, "name", m->name,
	                 "phone", m->phone && m->phone[0] ? json_string(m->phone) : json_null(), "title",
	                 m->title ? m->title : "", "text", m->body ? m->body : "", "status", status_names[m->status],
	                 "sent_at", iso_at(m->sent_at, off), "delivered_at", iso_at(m->delivered_at, off), "read_at",
	                 iso_at(m->read_at, off), "failed_reason",
	                 m->failed_reason ? json_string(m->failed_reason) : json_null(), "urgent", m->urgent);
}

static int iso_cell(hbuf *b, int64_t ms, int off)
{
	char buf[32] = "";
	if (ms > 0)
		htime_format_iso(ms, off, buf);
	return hcsv_cell(b, buf, false);
}

typedef struct msg_list {
	json_t *items;
	hbuf csv;
	bool as_csv;
	int off;
	int rc;
} msg_list;

static int csv_row(hbuf *b, const store_cabinet_msg *m, int off)
{
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)m->id);
	int rc = hcsv_cell(b, id, false);
	rc |= hcsv_sep(b) | iso_cell(b, m->created_at, off);
	rc |= hcsv_sep(b) | hcsv_cell(b, m->staff_id, false);
	rc |= hcsv_sep(b) | hcsv_cell(b, m->name, true);
	rc |= hcsv_sep(b) | hcsv_cell(b, m->phone, false); /* E.164, checked on the way in */
	rc |= hcsv_sep(b) | hcsv_cell(b, m->title, true);
	rc |= hcsv_sep(b) | hcsv_cell(b, m->body, true);
	rc |= hcsv_sep(b) | hcsv_cell(b, status_names[m->status], false);
	rc |= hcsv_sep(b) | iso_cell(b, m->sent_at, off);
	rc |= hcsv_sep(b) | iso_cell(b, m->delivered_at, off);
	rc |= hcsv_sep(b) | iso_cell(b, m->read_at, off);
	rc |= hcsv_sep(b) | hcsv_cell(b, m->failed_reason, true);
	rc |= hcsv_end(b);
	return rc ? HERR_NOMEM : 0;
}

static int collect_msg(void *ud, const store_cabinet_msg *m)
{
	msg_list *l = ud;
	if (l->as_csv)
		return csv_row(&l->csv, m, l->off);
	json_array_append_new(l->items, cab_msg_json(m, l->off));
	return 0;
}

static int status_of(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(s, status_names[i]) == 0)
			return i;
	return -1;
}

int svc_cab_messages(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	int64_t off, limit, offset;
	if (rc ||
	    (rc = query_int(k, "tz_offset", -TZ_OFFSET_MAX, TZ_OFFSET_MAX, 0, "tz_offset (minutes, -840 to 840)",
	                    &off)) ||
	    (rc = query_int(k, "limit", 1, MESSAGES_LIMIT_MAX, MESSAGES_LIMIT_DEFAULT, "limit (1 to 500)", &limit)) ||
	    (rc = query_int(k, "offset", 0, OFFSET_MAX, 0, "offset", &offset)))
		return rc;
	store_cabinet_filter f = {.tenant_id = k->tenant_id,
	                          .from_ms = 0,
	                          .to_ms = INT64_MAX,
	                          .status = -1,
	                          .sort = STORE_CAB_SORT_CREATED,
	                          .descending = true,
	                          .limit = (int)limit,
	                          .offset = offset};
	if ((rc = parse_bound(k, "from", (int)off, false, &f.from_ms)) < 0 ||
	    (rc = parse_bound(k, "to", (int)off, true, &f.to_ms)) < 0)
		return rc;
	rc = 0;
	if (f.from_ms >= f.to_ms)
		return fail(k, HERR_RANGE_INVALID, "from must be before to");
	const char *v;
	if ((v = query(k, "status")) && (f.status = status_of(v)) < 0)
		return fail(k, HERR_FIELD_INVALID, "status (queued, sent, delivered, read or failed)");
	if ((v = query(k, "sort"))) {
		static const char *const sorts[] = {"created_at", "status", "employee", "title"};
		int i = 0;
		while (i < 4 && strcmp(v, sorts[i]) != 0)
			i++;
		if (i == 4)
			return fail(k, HERR_FIELD_INVALID, "sort (created_at, status, employee or title)");
		f.sort = (store_cabinet_sort)i;
	}
	if ((v = query(k, "order"))) {
		if (strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0)
			return fail(k, HERR_FIELD_INVALID, "order (asc or desc)");
		f.descending = strcmp(v, "desc") == 0;
	}
	bool as_csv = false;
	if ((v = query(k, "format"))) {
		if (strcmp(v, "json") != 0 && strcmp(v, "csv") != 0)
			return fail(k, HERR_FIELD_INVALID, "format (json or csv)");
		as_csv = strcmp(v, "csv") == 0;
	}
	if ((v = query(k, "employee"))) {
		store_user u;
		if (!valid_staff_id(v))
			return fail(k, HERR_UNKNOWN_EMPLOYEE, v);
		if ((rc = store_user_by_staff_id(c, k->tenant_id, v, &u)) == HERR_NOT_FOUND)
			return fail(k, HERR_UNKNOWN_EMPLOYEE, v);
		if (rc == 0 && (rc = store_inbox_find(c, k->tenant_id, u.id, &f.chat_id)) == HERR_NOT_FOUND) {
			f.chat_id = -1; /* never received anything: matches nothing */
			rc = 0;
		}
		if (rc)
			return rc;
	}
	msg_list l = {.items = json_array(), .as_csv = as_csv, .off = (int)off};
	int64_t total = 0;
	if (as_csv) {
		/* Every matching row, at most CSV_ROWS_MAX (counted first, so a
		 * too large export is refused before it is built). */
		f.limit = -1;
		f.offset = 0;
		f.max_total = CSV_ROWS_MAX;
		rc = hbuf_puts(&l.csv, "id,created_at,employee_id,employee_name,phone,title,text,status,sent_at,"
		                       "delivered_at,read_at,failed_reason\r\n");
	}
	if (rc == 0)
		rc = store_cabinet_messages(c, &f, &total, collect_msg, &l);
	if (rc == 0 && as_csv && total > CSV_ROWS_MAX) {
		char n[16];
		snprintf(n, sizeof n, "%d", CSV_ROWS_MAX);
		rc = fail(k, HERR_EXPORT_TOO_LARGE, n);
	}
	if (rc != 0) {
		json_decref(l.items);
		hbuf_free(&l.csv);
		return rc;
	}
	if (as_csv) {
		json_decref(l.items);
		k->file_data = hbuf_steal(&l.csv, &k->file_len);
		if (!k->file_data)
			return HERR_NOMEM;
		snprintf(k->file_mime, sizeof k->file_mime, "text/csv; charset=utf-8");
		snprintf(k->file_name, sizeof k->file_name, "messages.csv");
		return 0;
	}
	k->result = json_pack("{s:o,s:I}", "items", l.items, "total", (json_int_t)total);
	return 0;
}

typedef struct one_msg {
	json_t *obj;
	int off;
} one_msg;

static int take_msg(void *ud, const store_cabinet_msg *m)
{
	one_msg *o = ud;
	o->obj = cab_msg_json(m, o->off);
	return 0;
}

typedef struct delivery_list {
	json_t *items;
	int off;
} delivery_list;

static int add_delivery(void *ud, const store_cabinet_delivery *x)
{
	const delivery_list *l = ud;
	int off = l->off;
	const store_delivery *d = &x->d;
	json_t *o = json_pack("{s:I,s:{s:I,s:s,s:o,s:b},s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:i}", "id", (json_int_t)d->id,
	                      "device", "id", (json_int_t)x->device_id, "kind", device_kind(d->kind), "created_at",
	                      iso_at(x->device_created_at, off), "dead", x->device_dead_at != 0, "status", d->status,
	                      "queued_at", iso_at(d->queued_at, off), "sent_at", iso_at(d->sent_at, off),
	                      "delivered_at", iso_at(d->delivered_at, off), "read_at", iso_at(d->read_at, off),
	                      "failed_at", iso_at(d->failed_at, off), "reason",
	                      d->reason ? json_string(d->reason) : json_null(), "attempts", d->attempts);
	json_array_append_new(l->items, o);
	return 0;
}

int svc_cab_message_get(store_conn *c, svc_call *k)
{
	int64_t off;
	int rc = need_server(k);
	if (rc || (rc = query_int(k, "tz_offset", -TZ_OFFSET_MAX, TZ_OFFSET_MAX, 0, "tz_offset (minutes, -840 to 840)",
	                          &off)))
		return rc;
	const char *v = query(k, "id");
	if (!v || hval_digits(v, 18) != 0)
		return fail(k, HERR_NOT_FOUND, "message");
	int64_t id = strtoll(v, NULL, 10);
	one_msg o = {.off = (int)off};
	rc = store_cabinet_message(c, k->tenant_id, id, take_msg, &o);
	if (rc == HERR_NOT_FOUND)
		return fail(k, HERR_NOT_FOUND, "message");
	if (rc != 0 || !o.obj) {
		json_decref(o.obj);
		return rc ? rc : HERR_NOMEM;
	}
	delivery_list l = {.items = json_array(), .off = (int)off};
	if ((rc = store_cabinet_deliveries(c, k->tenant_id, id, add_delivery, &l)) != 0) {
		json_decref(l.items);
		json_decref(o.obj);
		return rc;
	}
	json_object_set_new(o.obj, "deliveries", l.items);
	k->result = o.obj;
	return 0;
}

/* ---- sending ------------------------------------------------------------------------ */

typedef struct id_vec {
	int64_t *ids;
	size_t n, cap;
} id_vec;

static int id_push(id_vec *v, int64_t id)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		int64_t *n = realloc(v->ids, cap * sizeof *n);
		if (!n)
			return HERR_NOMEM;
		v->ids = n;
		v->cap = cap;
	}
	v->ids[v->n++] = id;
	return 0;
}

static int collect_recipient(void *ud, const store_cabinet_employee *e)
{
	return e->user.mailing && e->active ? id_push(ud, e->user.id) : 0;
}

/* The recipients a body's "to" names: "all" (every employee in the
 * mailings) or a list of staff ids, each known and in the mailings. */
static int recipients(store_conn *c, svc_call *k, id_vec *to)
{
	json_t *v = k->body ? json_object_get(k->body, "to") : NULL;
	if (!v || json_is_null(v))
		return fail(k, HERR_FIELD_MISSING, "to");
	if (json_is_string(v)) {
		if (strcmp(json_string_value(v), "all") != 0)
			return fail(k, HERR_FIELD_INVALID, "to (a list of staff ids or \"all\")");
		int rc = store_cabinet_employees(c, k->tenant_id, collect_recipient, to);
		if (rc)
			return rc;
		return to->n ? 0 : fail(k, HERR_NO_RECIPIENTS, NULL);
	}
	if (!json_is_array(v))
		return fail(k, HERR_FIELD_TYPE, "to");
	if (json_array_size(v) == 0)
		return fail(k, HERR_NO_RECIPIENTS, NULL);
	if (json_array_size(v) > SEND_TO_MAX)
		return fail(k, HERR_FIELD_INVALID, "to (at most 1000 employees; or \"all\")");
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return fail(k, HERR_FIELD_TYPE, "to");
		const char *sid = json_string_value(e);
		char shown[40];
		snprintf(shown, sizeof shown, "%s", sid);
		store_user u;
		int rc = valid_staff_id(sid) ? store_user_by_staff_id(c, k->tenant_id, sid, &u) : HERR_NOT_FOUND;
		if (rc == HERR_NOT_FOUND)
			return fail(k, HERR_UNKNOWN_EMPLOYEE, shown);
		if (rc)
			return rc;
		if (!u.mailing)
			return fail(k, HERR_EMPLOYEE_NO_MAILING, shown);
		bool dup = false;
		for (size_t j = 0; j < to->n && !dup; j++)
			dup = to->ids[j] == u.id;
		if (!dup && (rc = id_push(to, u.id)) != 0)
			return rc;
	}
	return 0;
}

int svc_cab_send(store_conn *c, svc_call *k)
{
	const svc_settings *st = &k->svc_->settings;
	const char *title, *text;
	int rc = need_server(k);
	if (rc || (rc = body_text(k, "title", &title)) || (rc = body_text(k, "text", &text)) ||
	    (rc = check_text(k, "title", title, st->title_max, HERR_TITLE_EMPTY, HERR_TITLE_TOO_LONG)) ||
	    (rc = check_text(k, "text", text, st->text_max, HERR_TEXT_EMPTY, HERR_TEXT_TOO_LONG)))
		return rc;
	json_t *urgent = k->body ? json_object_get(k->body, "urgent") : NULL;
	if (urgent && !json_is_null(urgent) && !json_is_boolean(urgent))
		return fail(k, HERR_FIELD_TYPE, "urgent");
	id_vec to = {0};
	if ((rc = recipients(c, k, &to)) != 0) {
		free(to.ids);
		return rc;
	}
	int64_t now = htime_now_ms();
	json_t *ids = json_array();
	for (size_t i = 0; rc == 0 && i < to.n; i++) {
		int64_t id = 0;
		rc = svc_inbox_notify(c, k->svc_, k, k->tenant_id, to.ids[i], title, text, now, &id);
		/* urgent: pushed through quiet hours, and by SMS when no device
		 * confirmed it in time (svc/delivery.c) */
		if (rc == 0 && json_is_true(urgent)) {
			int64_t after = svc_sms_fallback_ms(k->svc_);
			int queued = 0;
			rc = store_sms_fallback_add(c, k->tenant_id, id, 0, 0, to.ids[i], after ? now + after : 0,
			                            &queued);
		}
		if (rc == 0)
			json_array_append_new(ids, json_integer(id));
	}
	free(to.ids);
	if (rc != 0) {
		json_decref(ids);
		return rc;
	}
	k->status = 201;
	k->result = json_pack("{s:o,s:I}", "ids", ids, "count", (json_int_t)json_array_size(ids));
	return 0;
}

/* ---- statistics --------------------------------------------------------------------- */

typedef struct stats_ctx {
	json_t *days;
	int64_t first_day;
	int64_t totals[5]; /* messages, sent, delivered, read, failed */
} stats_ctx;

static int add_day(void *ud, const store_cabinet_day *d)
{
	stats_ctx *s = ud;
	json_t *o = json_array_get(s->days, (size_t)(d->day - s->first_day));
	if (!o)
		return 0;
	int64_t v[5] = {d->messages, d->sent, d->delivered, d->read, d->failed};
	static const char *const names[5] = {"messages", "sent", "delivered", "read", "failed"};
	for (int i = 0; i < 5; i++) {
		json_object_set_new(o, names[i], json_integer(v[i]));
		s->totals[i] += v[i];
	}
	return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int svc_cab_stats(store_conn *c, svc_call *k)
{
	int rc = need_server(k);
	int64_t off;
	if (rc || (rc = query_int(k, "tz_offset", -TZ_OFFSET_MAX, TZ_OFFSET_MAX, 0, "tz_offset (minutes, -840 to 840)",
	                          &off)))
		return rc;
	int64_t off_ms = off * 60000;
	int64_t today = floor_div(htime_now_ms() + off_ms, DAY_MS);
	/* Default: the last 30 days up to the end of today at the offset. */
	int64_t to = (today + 1) * DAY_MS - off_ms;
	int64_t from = (today + 1 - STATS_DAYS_DEFAULT) * DAY_MS - off_ms;
	if ((rc = parse_bound(k, "from", (int)off, false, &from)) < 0 ||
	    (rc = parse_bound(k, "to", (int)off, true, &to)) < 0)
		return rc;
	if (from >= to)
		return fail(k, HERR_RANGE_INVALID, "from must be before to");
	int64_t first = floor_div(from + off_ms, DAY_MS), last = floor_div(to - 1 + off_ms, DAY_MS);
	if (last - first + 1 > STATS_DAYS_MAX)
		return fail(k, HERR_RANGE_INVALID, "at most 366 days");
	stats_ctx s = {.days = json_array(), .first_day = first};
	for (int64_t d = first; d <= last; d++) {
		char date[32];
		htime_format_iso(d * DAY_MS, 0, date);
		date[10] = '\0';
		json_array_append_new(s.days, json_pack("{s:s,s:i,s:i,s:i,s:i,s:i}", "date", date, "messages", 0,
		                                        "sent", 0, "delivered", 0, "read", 0, "failed", 0));
	}
	if ((rc = store_cabinet_stats(c, k->tenant_id, from, to, off_ms, add_day, &s)) != 0) {
		json_decref(s.days);
		return rc;
	}
	double n = (double)s.totals[0];
	k->result = json_pack("{s:o,s:{s:I,s:I,s:I,s:I,s:I,s:f,s:f}}", "days", s.days, "totals", "messages",
	                      (json_int_t)s.totals[0], "sent", (json_int_t)s.totals[1], "delivered",
	                      (json_int_t)s.totals[2], "read", (json_int_t)s.totals[3], "failed",
	                      (json_int_t)s.totals[4], "delivery_rate", n > 0 ? (double)s.totals[2] / n : 0.0,
	                      "read_rate", n > 0 ? (double)s.totals[3] / n : 0.0);
	return 0;
}
