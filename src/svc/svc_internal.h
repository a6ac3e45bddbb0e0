/*
 * svc_internal.h — shared by the svc/ files only.
 */
#ifndef HERALD_SVC_INTERNAL_H
#define HERALD_SVC_INTERNAL_H

#include "core/ratelimit.h"
#include "svc/svc.h"

#define SVC_SECRET_BYTES 32

struct svc_event;

struct svc {
	store *store;
	svc_settings settings;
	sms_provider *sms;
	uint8_t secret[SVC_SECRET_BYTES];
	hratelimit *ip_limit;
	hratelimit *cab_inn_limit; /* cabinet sign-ins per INN */
	hratelimit *cab_ip_limit;  /* cabinet sign-ins per client address */
	/* team chat */
	void (*event_sink)(void *ud, const struct svc_event *e);
	void *event_sink_ud;
	bool dev_login;
	char jwt_audience[256];
	char data_dir[2048];
	struct webhooks *webhooks;
	struct deliveries *deliveries;
	unsigned push_kinds;     /* STORE_PUSH_* with a provider: what gets queued (read on the writer thread) */
	int64_t sms_fallback_ms; /* read on the writer thread: due time of an urgent message's SMS */
	bool (*presence)(void *ud, int64_t user_id);
	void *presence_ud;
	bool webhooks_allow_private;
};

/* Principal kinds an operation accepts, as a bit mask. */
#define SVC_ALLOW_PARTNER (1u << SVC_PARTNER)
#define SVC_ALLOW_STAFF   (1u << SVC_STAFF)

/* Runs run() as a write or read job; op->done follows on the loop. */
void svc_submit(svc *s, svc_op *op, store_job_fn run, bool write);

/* Records a business outcome and returns err (so `return svc_fail(…)` rolls back). */
int svc_fail(svc_op *op, int err, const char *detail);

/* Resolves op's token to a partner (tenant API token) or a staff session,
 * checks it is one of `allowed` and that op->inn, when given, is its tenant. */
int svc_resolve(store_conn *c, svc_op *op, unsigned allowed);

/* Appends the "message" event of a message just inserted (for /api/v1's
 * inbox messages, which reach the employee live like any chat message). */
struct svc_call;
struct store_msg;
int svc_chat_emit_message(store_conn *c, struct svc_call *k, const struct store_msg *m);
/* Appends "chat_created" to one user's stream (a chat they now belong to). */
int svc_chat_emit_created(store_conn *c, struct svc_call *k, int64_t chat_id, int64_t user_id);
/* Hands a call's committed events to the realtime layer. */
void svc_publish_events(svc *s, struct svc_call *k);

/* A notification from the company to an employee's inbox (staff.c): the
 * message, its push deliveries and the realtime events (appended to k),
 * all in the caller's transaction. *message_id receives its id. */
int svc_inbox_notify(store_conn *c, svc *s, struct svc_call *k, int64_t tenant_id, int64_t user_id, const char *title,
                     const char *text, int64_t now, int64_t *message_id);

/* The cabinet operations (cabinet.c), run by svc_v2's table in chat.c. */
int svc_cab_login(store_conn *c, struct svc_call *k);
int svc_cab_login_commit(store_conn *c, struct svc_call *k);
int svc_cab_logout(store_conn *c, struct svc_call *k);
int svc_cab_tenant_get(store_conn *c, struct svc_call *k);
int svc_cab_tenant_patch(store_conn *c, struct svc_call *k);
int svc_cab_token_rotate(store_conn *c, struct svc_call *k);
int svc_cab_employees(store_conn *c, struct svc_call *k);
int svc_cab_employee_patch(store_conn *c, struct svc_call *k);
int svc_cab_employee_delete(store_conn *c, struct svc_call *k);
int svc_cab_messages(store_conn *c, struct svc_call *k);
int svc_cab_message_get(store_conn *c, struct svc_call *k);
int svc_cab_send(store_conn *c, struct svc_call *k);
int svc_cab_stats(store_conn *c, struct svc_call *k);

#endif
