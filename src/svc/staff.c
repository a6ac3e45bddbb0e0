/*
 * staff.c — the operations behind /api/v1: SMS login of employees, their push
 * tokens, the ERP's messages to their inbox, listing and deleting them.
 *
 * Each operation is one storage job (svc_submit): the token check, the
 * tenant check and the writes happen in one transaction, so there is no
 * window in which a rotated token or a deleted employee is half-seen.
 *
 * A job returns < 0 to roll back everything it did. The one outcome that is
 * an error for the caller *and* must be kept is a wrong SMS code: its attempt
 * counter has to survive, so that job records the error in op->err and
 * returns 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/ratelimit.h"
#include "core/time.h"
#include "push/sms.h"
#include "svc/chat.h"
#include "svc/svc_internal.h"

/* ---- auth: create/update the employee, issue a code --------------------------- */

static void code_hash(const svc *s, int64_t tenant_id, int64_t user_id, const char *code, uint8_t out[32])
{
	char msg[96];
	int n = snprintf(msg, sizeof msg, "sms:%lld:%lld:%s", (long long)tenant_id, (long long)user_id, code);
	hcrypto_hmac(s->secret, sizeof s->secret, msg, (size_t)n, out);
}

static int auth_run(store_conn *c, void *arg)
{
	svc_op *op = arg;
	svc *s = op->svc_;
	int64_t now = htime_now_ms();
	int rc = store_tenant_by_inn(c, op->inn, &op->tenant);
	if (rc == HERR_NOT_FOUND)
		return svc_fail(op, HERR_UNKNOWN_INN, op->inn);
	if (rc != 0)
		return rc;

	store_user *u = &op->user;
	rc = store_user_by_phone(c, op->tenant.id, op->phone, u);
	if (rc == 0) {
		snprintf(u->name, sizeof u->name, "%s", op->name);
		if (op->device[0])
			snprintf(u->device, sizeof u->device, "%s", op->device);
		u->updated_at = now;
		rc = store_user_update(c, u);
	} else if (rc == HERR_NOT_FOUND) {
		memset(u, 0, sizeof *u);
		u->tenant_id = op->tenant.id;
		snprintf(u->name, sizeof u->name, "%s", op->name);
		snprintf(u->phone, sizeof u->phone, "%s", op->phone);
		snprintf(u->device, sizeof u->device, "%s", op->device);
		u->mailing = true;
		u->created_at = u->updated_at = now;
		rc = store_user_insert(c, u);
	}
	if (rc != 0)
		return rc;

	/* Limits per phone: a cooldown between two codes, a cap per hour. */
	int sent = 0, failed = 0;
	int64_t newest = 0;
	if ((rc = store_sms_code_stats(c, op->tenant.id, u->id, now - 3600 * 1000LL, &sent, &newest, &failed)) != 0)
		return rc;
	int64_t since_last = now - newest;
	if (newest && since_last < s->settings.code_cooldown_s * 1000LL) {
		op->retry_after_s = (int)((s->settings.code_cooldown_s * 1000LL - since_last + 999) / 1000);
		return svc_fail(op, HERR_RATE_LIMITED, NULL);
	}
	if (sent >= s->settings.code_per_phone_hour) {
		op->retry_after_s = (int)((3600 * 1000LL - since_last + 999) / 1000);
		if (op->retry_after_s < 1)
			op->retry_after_s = 1;
		return svc_fail(op, HERR_RATE_LIMITED, NULL);
	}

	store_sms_code code = {0};
	code.tenant_id = op->tenant.id;
	code.user_id = u->id;
	code.created_at = now;
	code.expires_at = now + s->settings.code_ttl_s * 1000LL;
	hcrypto_random_digits(op->sms_code_, 6);
	code_hash(s, code.tenant_id, code.user_id, op->sms_code_, code.code_hash);
	return store_sms_code_insert(c, &code);
}

static const char *const sms_text[HERR_LANG_COUNT] = {
        [HERR_LANG_RU] = "Код для входа: %s. Никому его не сообщайте.",
        [HERR_LANG_EN] = "Your sign-in code: %s. Do not share it with anyone.",
        [HERR_LANG_DE] = "Ihr Anmeldecode: %s. Geben Sie ihn niemandem weiter.",
        [HERR_LANG_PL] = "Twój kod logowania: %s. Nie udostępniaj go nikomu.",
};

static void auth_sms_sent(void *ud, int rc)
{
	svc_op *op = ud;
	if (rc != 0)
		svc_fail(op, HERR_SMS_FAILED, NULL);
	memset(op->sms_code_, 0, sizeof op->sms_code_);
	op->done(op);
}

static void auth_after(svc_op *op)
{
	if (op->err != 0) {
		op->done(op);
		return;
	}
	char text[160];
	snprintf(text, sizeof text, sms_text[op->lang < HERR_LANG_COUNT ? op->lang : 0], op->sms_code_);
	sms_send(op->svc_->sms, op->phone, text, op->sms_code_, auth_sms_sent, op);
}

void svc_v1_auth(svc *s, svc_op *op)
{
	char key[96];
	snprintf(key, sizeof key, "auth:%s", op->remote_addr);
	int wait = hratelimit_hit(s->ip_limit, key, htime_now_ms());
	if (wait > 0) {
		op->retry_after_s = wait;
		svc_fail(op, HERR_RATE_LIMITED, NULL);
		op->done(op);
		return;
	}
	op->after_ = auth_after;
	svc_submit(s, op, auth_run, true);
}

/* ---- confirmsmscode: check the code, open a session -------------------------------- */

static int confirm_run(store_conn *c, void *arg)
{
	svc_op *op = arg;
	svc *s = op->svc_;
	int64_t now = htime_now_ms();
	int rc = store_tenant_by_inn(c, op->inn, &op->tenant);
	if (rc == HERR_NOT_FOUND)
		return svc_fail(op, HERR_UNKNOWN_INN, op->inn);
	if (rc != 0)
		return rc;
	rc = store_user_by_phone(c, op->tenant.id, op->phone, &op->user);
	if (rc == HERR_NOT_FOUND)
		return svc_fail(op, HERR_CODE_EXPIRED, NULL); /* no code was requested for this phone */
	if (rc != 0)
		return rc;

	int sent = 0, failed = 0;
	int64_t newest = 0;
	if ((rc = store_sms_code_stats(c, op->tenant.id, op->user.id, now - 3600 * 1000LL, &sent, &newest, &failed)) !=
	    0)
		return rc;
	if (failed >= s->settings.code_fail_per_hour) {
		op->retry_after_s = 3600;
		return svc_fail(op, HERR_RATE_LIMITED, NULL);
	}

	store_sms_code code;
	rc = store_sms_code_latest(c, op->tenant.id, op->user.id, &code);
	if (rc == HERR_NOT_FOUND)
		return svc_fail(op, HERR_CODE_EXPIRED, NULL);
	if (rc != 0)
		return rc;
	if (code.used_at || code.expires_at <= now)
		return svc_fail(op, HERR_CODE_EXPIRED, NULL);
	if (code.attempts >= s->settings.code_max_attempts)
		return svc_fail(op, HERR_CODE_ATTEMPTS, NULL);

	uint8_t h[32];
	code_hash(s, op->tenant.id, op->user.id, op->code, h);
	if (!hcrypto_equal(h, code.code_hash, sizeof h)) {
		code.attempts++;
		if ((rc = store_sms_code_update(c, &code)) != 0)
			return rc;
		/* Keep the counted attempt: report the error but commit. */
		svc_fail(op, code.attempts >= s->settings.code_max_attempts ? HERR_CODE_ATTEMPTS : HERR_CODE_INVALID,
		         NULL);
		return 0;
	}
	code.used_at = now;
	if ((rc = store_sms_code_update(c, &code)) != 0)
		return rc;

	uint8_t token_hash[32];
	hcrypto_token_new(op->api_token);
	hcrypto_token_hash(op->api_token, strlen(op->api_token), token_hash);
	return store_session_insert(c, op->tenant.id, op->user.id, token_hash, now,
	                            now + s->settings.session_ttl_s * 1000);
}

void svc_v1_confirm_code(svc *s, svc_op *op)
{
	svc_submit(s, op, confirm_run, true);
}

/* ---- updatepushtoken ------------------------------------------------------------------ */

/* The staff member an operation is about: a staff token may only name itself,
 * a partner token any employee of its own tenant. */
static int target_staff(store_conn *c, svc_op *op)
{
	if (op->principal == SVC_STAFF) {
		if (op->staff_id[0] && strcmp(op->staff_id, op->user.staff_id) != 0)
			return svc_fail(op, HERR_STAFF_MISMATCH, NULL);
		return 0;
	}
	int rc = store_user_by_staff_id(c, op->tenant.id, op->staff_id, &op->user);
	if (rc == HERR_NOT_FOUND)
		return svc_fail(op, HERR_UNKNOWN_STAFF, op->staff_id);
	return rc;
}

static int push_token_run(store_conn *c, void *arg)
{
	svc_op *op = arg;
	int rc = svc_resolve(c, op, SVC_ALLOW_STAFF | SVC_ALLOW_PARTNER);
	if (rc != 0 || (rc = target_staff(c, op)) != 0)
		return rc;
	const char *device = op->device[0] ? op->device : op->user.device;
	const char *kind = strcmp(device, "android") == 0 ? "fcm" : strcmp(device, "apple") == 0 ? "apns" : NULL;
	if (!kind)
		return svc_fail(op, HERR_DEVICE_INVALID, "device");
	int64_t now = htime_now_ms();
	if ((rc = store_device_set(c, op->tenant.id, op->user.id, kind, op->push_token, now)) != 0)
		return rc;
	if (strcmp(op->user.device, device) != 0) {
		snprintf(op->user.device, sizeof op->user.device, "%s", device);
		op->user.updated_at = now;
		rc = store_user_update(c, &op->user);
	}
	return rc;
}

void svc_v1_update_push_token(svc *s, svc_op *op)
{
	svc_submit(s, op, push_token_run, true);
}

/* ---- createmessage ------------------------------------------------------------------------ */

int svc_inbox_notify(store_conn *c, svc *s, svc_call *k, int64_t tenant_id, int64_t user_id, const char *title,
                     const char *text, int64_t now, int64_t *message_id)
{
	store_message m = {0};
	m.tenant_id = tenant_id;
	bool fresh_inbox = store_inbox_find(c, tenant_id, user_id, &m.chat_id) == HERR_NOT_FOUND;
	int rc = store_inbox_ensure(c, tenant_id, user_id, now, &m.chat_id);
	if (rc != 0)
		return rc;
	m.kind = "notification";
	m.title = title;
	m.body = text;
	m.created_at = now;
	if ((rc = store_message_insert(c, &m)) != 0)
		return rc;
	*message_id = m.id;
	/* Push to the employee's devices: queued in this same transaction,
	 * so the queue is as durable as the message. */
	int queued = 0;
	if ((rc = store_delivery_enqueue_user(c, tenant_id, m.id, user_id, now, s->push_kinds, &queued)) != 0)
		return rc;
	/* The inbox is a chat like the others: the employee's open apps get
	 * the message live through the event log. */
	store_msg sm = {.id = m.id,
	                .chat_id = m.chat_id,
	                .seq = m.seq,
	                .kind = m.kind,
	                .title = m.title,
	                .body = m.body,
	                .created_at = m.created_at};
	/* A first message creates the inbox: the employee's open connections
	 * learn the chat (and subscribe to it) before its first message. */
	rc = fresh_inbox ? svc_chat_emit_created(c, k, m.chat_id, user_id) : 0;
	return rc ? rc : svc_chat_emit_message(c, k, &sm);
}

static int create_message_run(store_conn *c, void *arg)
{
	svc_op *op = arg;
	int rc = svc_resolve(c, op, SVC_ALLOW_PARTNER);
	if (rc != 0 || (rc = target_staff(c, op)) != 0)
		return rc;
	if (!op->user.mailing)
		return svc_fail(op, HERR_STAFF_DISABLED, NULL);
	int64_t now = htime_now_ms();
	svc_call *k = calloc(1, sizeof *k);
	if (!k)
		return HERR_NOMEM;
	k->tenant_id = op->tenant.id;
	rc = svc_inbox_notify(c, op->svc_, k, op->tenant.id, op->user.id, op->title, op->text, now, &op->message_id);
	if (rc != 0) {
		svc_call_free_results(k);
		free(k);
		return rc;
	}
	op->created_at = now;
	op->events_ = k;
	return 0;
}

void svc_v1_create_message(svc *s, svc_op *op)
{
	svc_submit(s, op, create_message_run, true);
}

/* ---- getmessage ------------------------------------------------------------------------- */

static int collect_message(void *ud, const store_message *m)
{
	svc_op *op = ud;
	svc_message_row *r = &op->messages[op->message_count];
	r->id = m->id;
	r->created_at = m->created_at;
	r->sent_at = m->sent_at;
	r->title = strdup(m->title ? m->title : "");
	r->text = strdup(m->body ? m->body : "");
	op->message_count++;
	return r->title && r->text ? 0 : HERR_NOMEM;
}

static int get_messages_run(store_conn *c, void *arg)
{
	svc_op *op = arg;
	int rc = svc_resolve(c, op, SVC_ALLOW_STAFF | SVC_ALLOW_PARTNER);
	if (rc != 0 || (rc = target_staff(c, op)) != 0)
		return rc;
	int64_t chat_id = 0;
	rc = store_inbox_find(c, op->tenant.id, op->user.id, &chat_id);
	if (rc == HERR_NOT_FOUND)
		return 0; /* never received anything */
	if (rc != 0)
		return rc;
	op->messages = calloc((size_t)op->count, sizeof *op->messages);
	if (!op->messages)
		return HERR_NOMEM;
	store_message_query q = {
	        .tenant_id = op->tenant.id,
	        .chat_id = chat_id,
	        .created_min = op->date_min,
	        .created_max = op->date_max,
	        .limit = op->count,
	};
	return store_message_list(c, &q, collect_message, op);
}

void svc_v1_get_messages(svc *s, svc_op *op)
{
	svc_submit(s, op, get_messages_run, false);
}

/* ---- getstaff ---------------------------------------------------------------------------- */

typedef struct user_vec {
	svc_op *op;
	size_t cap;
} user_vec;

static int collect_user(void *ud, const store_user *u)
{
	user_vec *v = ud;
	svc_op *op = v->op;
	if (op->user_count == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		store_user *n = realloc(op->users, cap * sizeof *n);
		if (!n)
			return HERR_NOMEM;
		op->users = n;
		v->cap = cap;
	}
	op->users[op->user_count++] = *u;
	return 0;
}

static int get_staff_run(store_conn *c, void *arg)
{
	svc_op *op = arg;
	int rc = svc_resolve(c, op, SVC_ALLOW_PARTNER);
	if (rc != 0)
		return rc;
	user_vec v = {op, 0};
	return store_user_list(c, op->tenant.id, collect_user, &v);
}

void svc_v1_get_staff(svc *s, svc_op *op)
{
	svc_submit(s, op, get_staff_run, false);
}

/* ---- deletestaff ------------------------------------------------------------------------- */

static int delete_staff_run(store_conn *c, void *arg)
{
	svc_op *op = arg;
	int rc = svc_resolve(c, op, SVC_ALLOW_PARTNER);
	if (rc != 0 || (rc = target_staff(c, op)) != 0)
		return rc;
	return store_user_delete(c, op->tenant.id, op->user.id);
}

void svc_v1_delete_staff(svc *s, svc_op *op)
{
	svc_submit(s, op, delete_staff_run, true);
}
