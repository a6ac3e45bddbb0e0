/*
 * tenant.c — creating and managing tenants (partners) from the command line,
 * and the demo tenant `herald serve --demo` starts with.
 *
 * These run synchronously through store_run(): the command line has no event
 * loop, and a tenant is created rarely enough that one transaction of its own
 * is right. A running server sees the new tenant at its next request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/time.h"
#include "core/validate.h"
#include "svc/svc_internal.h"

typedef struct tenant_job {
	const svc_tenant_new *in;
	const char *password_hash;
	uint8_t token_hash[32];
	const char *token_hint; /* the token's last 4 characters (the cabinet shows them) */
	const char *inn;
	store_tenant tenant;
} tenant_job;

static int create_run(store_conn *c, void *arg)
{
	tenant_job *j = arg;
	store_tenant t = {0};
	snprintf(t.inn, sizeof t.inn, "%s", j->in->inn);
	snprintf(t.short_name, sizeof t.short_name, "%s", j->in->short_name);
	snprintf(t.full_name, sizeof t.full_name, "%s", j->in->full_name);
	t.created_at = htime_now_ms();
	int rc = store_tenant_insert(c, &t, j->password_hash, j->token_hash);
	j->tenant = t;
	return rc ? rc : store_tenant_set_token_hint(c, t.id, j->token_hint);
}

static int check_name(const char *s, size_t max_chars)
{
	size_t cps = 0;
	if (!s || !*s || hval_utf8(s, strlen(s), &cps) != 0 || cps > max_chars)
		return HERR_NAME_INVALID;
	return 0;
}

int svc_tenant_create(store *st, const svc_tenant_new *in, char token[HCRYPTO_TOKEN_CHARS + 1], char *err,
                      size_t err_size)
{
	if (!in->inn || hval_inn(in->inn) != 0) {
		snprintf(err, err_size, "INN must be 10 or 12 digits");
		return HERR_INN_INVALID;
	}
	if (check_name(in->short_name, 256) != 0 || check_name(in->full_name, 512) != 0) {
		snprintf(err, err_size, "names must be non-empty UTF-8 (short ≤ 256, full ≤ 512 characters)");
		return HERR_NAME_INVALID;
	}
	if (!in->password || strlen(in->password) < 8 || strlen(in->password) > 1024) {
		snprintf(err, err_size, "the password must have 8 to 1024 characters");
		return HERR_FIELD_INVALID;
	}
	char pwhash[HCRYPTO_PWHASH_CHARS];
	if (hcrypto_password_hash(in->password, pwhash) != 0) {
		snprintf(err, err_size, "out of memory while hashing the password");
		return HERR_NOMEM;
	}
	tenant_job j = {.in = in, .password_hash = pwhash};
	hcrypto_token_new(token);
	j.token_hint = token + HCRYPTO_TOKEN_CHARS - 4;
	hcrypto_token_hash(token, strlen(token), j.token_hash);
	int rc = store_run(st, create_run, &j);
	if (rc == HERR_TENANT_EXISTS)
		snprintf(err, err_size, "a tenant with INN %s exists already", in->inn);
	else if (rc != 0)
		snprintf(err, err_size, "storage error (%s)", herr_name(rc));
	if (rc != 0)
		memset(token, 0, HCRYPTO_TOKEN_CHARS + 1);
	return rc;
}

static int rotate_run(store_conn *c, void *arg)
{
	tenant_job *j = arg;
	int rc = store_tenant_by_inn(c, j->inn, &j->tenant);
	if (rc != 0)
		return rc == HERR_NOT_FOUND ? HERR_UNKNOWN_INN : rc;
	if (j->password_hash) {
		/* A new password ends the cabinet sign-ins made with the old one. */
		rc = store_tenant_set_password(c, j->tenant.id, j->password_hash);
		return rc ? rc : store_cabinet_session_delete_tenant(c, j->tenant.id);
	}
	rc = store_tenant_set_token(c, j->tenant.id, j->token_hash);
	return rc ? rc : store_tenant_set_token_hint(c, j->tenant.id, j->token_hint);
}

int svc_tenant_rotate_token(store *st, const char *inn, char token[HCRYPTO_TOKEN_CHARS + 1])
{
	tenant_job j = {.inn = inn};
	hcrypto_token_new(token);
	hcrypto_token_hash(token, strlen(token), j.token_hash);
	j.token_hint = token + HCRYPTO_TOKEN_CHARS - 4;
	int rc = store_run(st, rotate_run, &j);
	if (rc != 0)
		memset(token, 0, HCRYPTO_TOKEN_CHARS + 1);
	return rc;
}

typedef struct jwt_job {
	const char *inn;
	uint8_t secret[32];
} jwt_job;

static int jwt_run(store_conn *c, void *arg)
{
	jwt_job *j = arg;
	store_tenant t;
	int rc = store_tenant_by_inn(c, j->inn, &t);
	if (rc != 0)
		return rc == HERR_NOT_FOUND ? HERR_UNKNOWN_INN : rc;
	return store_tenant_set_jwt_secret(c, t.id, j->secret);
}

int svc_tenant_rotate_jwt_secret(store *st, const char *inn, char out[HCRYPTO_TOKEN_CHARS + 1])
{
	jwt_job j = {.inn = inn};
	hcrypto_token_new(out);
	if (hcodec_b64url_decode(out, strlen(out), j.secret, sizeof j.secret) != 32)
		return HERR_INTERNAL;
	int rc = store_run(st, jwt_run, &j);
	if (rc != 0)
		memset(out, 0, HCRYPTO_TOKEN_CHARS + 1);
	return rc;
}

int svc_tenant_set_password(store *st, const char *inn, const char *password)
{
	if (!password || strlen(password) < 8 || strlen(password) > 1024)
		return HERR_FIELD_INVALID;
	char pwhash[HCRYPTO_PWHASH_CHARS];
	if (hcrypto_password_hash(password, pwhash) != 0)
		return HERR_NOMEM;
	tenant_job j = {.inn = inn, .password_hash = pwhash};
	return store_run(st, rotate_run, &j);
}

typedef struct list_job {
	int (*fn)(void *ud, const store_tenant *t);
	void *ud;
} list_job;

static int list_run(store_conn *c, void *arg)
{
	list_job *j = arg;
	return store_tenant_list(c, j->fn, j->ud);
}

int svc_tenant_list(store *st, int (*fn)(void *ud, const store_tenant *t), void *ud)
{
	list_job j = {fn, ud};
	return store_run(st, list_run, &j);
}

/* ---- the demo tenant -------------------------------------------------------------- */

#define DEMO_INN        "7700000001"
#define DEMO_PASSWORD   "demo-password"
#define DEMO_DISPATCHER "dispatcher"

static const struct {
	const char *name;
	const char *phone;
	const char *device;
} demo_staff[] = {
        {"Алексей Иванов", "+79230000001", "android"},
        {"Мария Петрова", "+79230000002", "apple"},
        {"Jan Kowalski", "+48500000003", "android"},
};

typedef struct demo_job {
	const char *password_hash;
	uint8_t token_hash[32];
	const char *token_hint;
	bool existed;
	char staff_ids[3][STORE_STAFF_ID_MAX];
} demo_job;

/* The demo's team chat: a dispatcher (a tenant admin the console's
 * development sign-in offers) with the three employees in a shift chat, a
 * short conversation, and the "orders" topic for the live board. */
static int demo_team(store_conn *c, int64_t tenant_id, const int64_t staff[3], int64_t now)
{
	store_user d = {0};
	d.tenant_id = tenant_id;
	snprintf(d.external_id, sizeof d.external_id, "%s", DEMO_DISPATCHER);
	snprintf(d.name, sizeof d.name, "%s", "Анна Шмидт");
	d.mailing = true;
	d.created_at = d.updated_at = now;
	int rc = store_user_insert(c, &d);
	store_user_ext x = {.active = true};
	snprintf(x.roles, sizeof x.roles, "%s", "admin,dispatcher");
	if (rc || (rc = store_user_ext_set(c, tenant_id, d.id, &x)) != 0)
		return rc;
	store_chat ch = {0};
	ch.tenant_id = tenant_id;
	snprintf(ch.kind, sizeof ch.kind, "%s", "group");
	ch.owner_id = d.id;
	snprintf(ch.title, sizeof ch.title, "%s", "Склад Север · ранняя смена");
	snprintf(ch.description, sizeof ch.description, "%s", "Смена 6:30–15:00, ворота 3");
	ch.created_at = ch.updated_at = now;
	if ((rc = store_chat_insert(c, &ch, NULL)) != 0 ||
	    (rc = store_member_put(c, tenant_id, ch.id, d.id, "owner", now)))
		return rc;
	for (int i = 0; i < 3; i++)
		if ((rc = store_member_put(c, tenant_id, ch.id, staff[i], "member", now)) != 0)
			return rc;
	const struct {
		int sender; /* -1: the dispatcher */
		const char *text;
	} talk[] = {{-1, "Доброе утро! Сегодня приходит фура с Гданьска, разгрузка у ворот 3."},
	            {0, "Принято, буду в 6:20."},
	            {2, "Dzień dobry! Wózek nr 2 jest w serwisie, biorę nr 4."},
	            {-1, "Спасибо, Ян. Алексей, проверь, пожалуйста, пломбы на фуре."}};
	for (size_t i = 0; i < sizeof talk / sizeof talk[0]; i++) {
		const char *body = talk[i].text;
		store_msg m = {.chat_id = ch.id,
		               .sender_id = talk[i].sender < 0 ? d.id : staff[talk[i].sender],
		               .kind = "text",
		               .title = "",
		               .body = body,
		               .created_at = now + (int64_t)i * 1000};
		if ((rc = store_msg_insert(c, tenant_id, &m)) != 0)
			return rc;
		/* the sender has read up to their own message */
		store_member me;
		if ((rc = store_member_get(c, tenant_id, ch.id, m.sender_id, &me)) != 0)
			return rc;
		me.last_read_seq = m.seq;
		if ((rc = store_member_update(c, tenant_id, &me)) != 0)
			return rc;
	}
	store_topic tp = {0};
	snprintf(tp.name, sizeof tp.name, "%s", "orders");
	snprintf(tp.rule, sizeof tp.rule, "%s", "tenant");
	tp.keep = 200;
	tp.created_at = now;
	return store_topic_put(c, tenant_id, &tp);
}

/* Creates the demo tenant with its employees and a welcome message each, a
 * dispatcher and a team chat, or, when it exists (demo.txt was deleted),
 * only gives it a fresh token. */
static int demo_run(store_conn *c, void *arg)
{
	demo_job *j = arg;
	int64_t now = htime_now_ms();
	store_tenant t = {0};
	int rc = store_tenant_by_inn(c, DEMO_INN, &t);
	if (rc == 0) {
		j->existed = true;
		rc = store_tenant_set_token(c, t.id, j->token_hash);
		return rc ? rc : store_tenant_set_token_hint(c, t.id, j->token_hint);
	}
	snprintf(t.inn, sizeof t.inn, "%s", DEMO_INN);
	snprintf(t.short_name, sizeof t.short_name, "%s", "ООО Демо");
	snprintf(t.full_name, sizeof t.full_name, "%s", "Общество с ограниченной ответственностью «Демо»");
	t.created_at = now;
	if ((rc = store_tenant_insert(c, &t, j->password_hash, j->token_hash)) != 0 ||
	    (rc = store_tenant_set_token_hint(c, t.id, j->token_hint)) != 0)
		return rc;
	int64_t staff[3];
	for (size_t i = 0; i < sizeof demo_staff / sizeof demo_staff[0]; i++) {
		store_user u = {0};
		u.tenant_id = t.id;
		snprintf(u.name, sizeof u.name, "%s", demo_staff[i].name);
		snprintf(u.phone, sizeof u.phone, "%s", demo_staff[i].phone);
		snprintf(u.device, sizeof u.device, "%s", demo_staff[i].device);
		u.mailing = true;
		u.created_at = u.updated_at = now;
		if ((rc = store_user_insert(c, &u)) != 0)
			return rc;
		snprintf(j->staff_ids[i], sizeof j->staff_ids[i], "%s", u.staff_id);
		staff[i] = u.id;
		store_message m = {0};
		m.tenant_id = t.id;
		if ((rc = store_inbox_ensure(c, t.id, u.id, now, &m.chat_id)) != 0)
			return rc;
		m.kind = "notification";
		m.title = "Добро пожаловать";
		m.body = "Это демонстрационное сообщение от herald.";
		m.created_at = now;
		if ((rc = store_message_insert(c, &m)) != 0)
			return rc;
	}
	return demo_team(c, t.id, staff, now);
}

int svc_demo_seed(store *st, const char *data_dir, char *summary, size_t summary_size)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/demo.txt", data_dir);
	FILE *f = fopen(path, "r");
	if (f) {
		size_t n = fread(summary, 1, summary_size - 1, f);
		summary[n] = '\0';
		fclose(f);
		return 0;
	}
	char token[HCRYPTO_TOKEN_CHARS + 1];
	char pwhash[HCRYPTO_PWHASH_CHARS];
	if (hcrypto_password_hash(DEMO_PASSWORD, pwhash) != 0)
		return HERR_NOMEM;
	demo_job j = {.password_hash = pwhash};
	hcrypto_token_new(token);
	j.token_hint = token + HCRYPTO_TOKEN_CHARS - 4;
	hcrypto_token_hash(token, strlen(token), j.token_hash);
	int rc = store_run(st, demo_run, &j);
	if (rc != 0)
		return rc;
	int n = snprintf(summary, summary_size,
	                 "demo tenant: INN %s, cabinet password %s\n"
	                 "demo API token: %s\n",
	                 DEMO_INN, DEMO_PASSWORD, token);
	for (size_t i = 0; !j.existed && i < 3 && n > 0 && (size_t)n < summary_size; i++)
		n += snprintf(summary + n, summary_size - (size_t)n, "demo employee: staffid %s, %s, %s\n",
		              j.staff_ids[i], demo_staff[i].name, demo_staff[i].phone);
	if (!j.existed && n > 0 && (size_t)n < summary_size)
		n += snprintf(summary + n, summary_size - (size_t)n, "demo dispatcher: user id %s (tenant admin)\n",
		              DEMO_DISPATCHER);
	f = fopen(path, "w");
	if (!f)
		return HERR_IO;
	fputs(summary, f);
	fclose(f);
	return 0;
}
