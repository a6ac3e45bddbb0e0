/*
 * svc.h — business logic: tenants, employees ("staff"), SMS login, devices,
 * inbox messages. No sockets, no SQL, no JSON: the api layer parses and
 * formats, the store layer keeps, svc decides.
 *
 * An operation is an svc_op filled by the caller (inputs), handed to one of
 * the svc_v1_* functions, and completed by op->done on the loop thread with
 * op->err (0 or HERR_*) and the outputs. Each operation is one storage job, so
 * its checks (token, tenant, employee, limits) and its writes see one
 * consistent snapshot and commit together, or not at all.
 */
#ifndef HERALD_SVC_SVC_H
#define HERALD_SVC_SVC_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/crypto.h"
#include "core/err.h"
#include "store/store.h"

typedef struct svc svc;
typedef struct sms_provider sms_provider;

typedef struct svc_settings {
	int title_max;                 /* characters; default 256 */
	int text_max;                  /* characters; default 4000 */
	int name_max;                  /* characters; default 256 */
	int push_token_max;            /* bytes; default 4096 */
	int code_ttl_s;                /* SMS code lifetime; default 600 */
	int code_max_attempts;         /* wrong tries per code; default 5 */
	int code_cooldown_s;           /* between two codes to one phone; default 60 */
	int code_per_phone_hour;       /* codes per phone per hour; default 5 */
	int code_fail_per_hour;        /* wrong tries per employee per hour; default 20 */
	int auth_per_ip_hour;          /* login starts per client address per hour; default 30 */
	int64_t session_ttl_s;         /* app token lifetime; default 90 days */
	int date_offset_min;           /* offset of dates in /api/v1 (HTIME_LOCAL = server zone) */
	int default_country_code;      /* for phone numbers without +; default 7 */
	int64_t cabinet_session_ttl_s; /* company cabinet sign-in lifetime; default 12 h */
	int cabinet_login_per_inn;     /* sign-in tries per INN per 15 minutes; default 10 */
	int cabinet_login_per_ip;      /* sign-in tries per client address per hour; default 60 */
} svc_settings;

void svc_settings_default(svc_settings *s);

/* Opens the service: loads (or creates) the server secret in data_dir. */
int svc_new(store *st, const svc_settings *settings, const char *data_dir, sms_provider *sms, svc **out, char *err,
            size_t err_size);
void svc_free(svc *s);
const svc_settings *svc_get_settings(const svc *s);
store *svc_store(svc *s);

/* ---- /api/v1 operations ------------------------------------------------------ */

typedef enum svc_principal_kind { SVC_NOBODY = 0, SVC_PARTNER, SVC_STAFF } svc_principal_kind;

typedef struct svc_message_row {
	int64_t id;
	char *title;
	char *text;
	int64_t created_at;
	int64_t sent_at; /* 0 = not yet */
} svc_message_row;

typedef struct svc_op svc_op;
typedef void (*svc_done_fn)(svc_op *op);

struct svc_op {
	/* set by the caller */
	svc_done_fn done;
	void *ud;
	herr_lang lang;
	char remote_addr[64];
	bool have_token;
	uint8_t token_hash[HCRYPTO_HASH_BYTES];

	char inn[STORE_INN_MAX];
	char staff_id[STORE_STAFF_ID_MAX];
	char phone[STORE_PHONE_MAX];
	char name[STORE_NAME_MAX];
	char device[STORE_DEVICE_MAX]; /* "android", "apple" or "" */
	char code[16];
	char *title;      /* owned by the caller */
	char *text;       /* owned by the caller */
	char *push_token; /* owned by the caller */
	int64_t date_min; /* INT64_MIN = no bound */
	int64_t date_max; /* INT64_MAX = no bound */
	int count;        /* 1..; already defaulted */

	/* results */
	int err; /* 0 or HERR_* */
	char err_detail[160];
	int retry_after_s; /* with HERR_RATE_LIMITED / HERR_CODE_ATTEMPTS */
	svc_principal_kind principal;
	store_tenant tenant;
	store_user user;
	char api_token[HCRYPTO_TOKEN_CHARS + 1];
	int64_t message_id;
	int64_t created_at;
	svc_message_row *messages;
	size_t message_count;
	store_user *users;
	size_t user_count;

	/* private */
	svc *svc_;
	void (*after_)(svc_op *op); /* a second step on the loop before done */
	struct svc_call *events_;   /* events appended by the job, published after commit */
	char sms_code_[8];
};

/* Frees the result arrays (not the caller-owned inputs). */
void svc_op_clear_results(svc_op *op);

void svc_v1_auth(svc *s, svc_op *op);              /* inn, phone, name, device */
void svc_v1_confirm_code(svc *s, svc_op *op);      /* inn, phone, code */
void svc_v1_update_push_token(svc *s, svc_op *op); /* token, inn, staff_id, push_token, device */
void svc_v1_create_message(svc *s, svc_op *op);    /* token, inn, staff_id, title, text */
void svc_v1_get_messages(svc *s, svc_op *op);      /* token, inn, staff_id, date_min/max, count */
void svc_v1_get_staff(svc *s, svc_op *op);         /* token, inn ("" = the token's) */
void svc_v1_delete_staff(svc *s, svc_op *op);      /* token, inn, staff_id */

/* Readiness: one round trip through a storage reader; done gets 0 or HERR_*. */
void svc_ping(svc *s, void (*done)(void *ud, int rc), void *ud);

/* ---- tenants (command line; synchronous, no loop needed) --------------------- */

typedef struct svc_tenant_new {
	const char *inn;
	const char *short_name;
	const char *full_name;
	const char *password;
} svc_tenant_new;

/* Creates a tenant; token receives its API token (shown once). */
int svc_tenant_create(store *st, const svc_tenant_new *in, char token[HCRYPTO_TOKEN_CHARS + 1], char *err,
                      size_t err_size);
int svc_tenant_rotate_token(store *st, const char *inn, char token[HCRYPTO_TOKEN_CHARS + 1]);
int svc_tenant_set_password(store *st, const char *inn, const char *password);
/* A new secret for host-signed JWTs (HS256 key: the base64url decoded). */
int svc_tenant_rotate_jwt_secret(store *st, const char *inn, char out[HCRYPTO_TOKEN_CHARS + 1]);
int svc_tenant_list(store *st, int (*fn)(void *ud, const store_tenant *t), void *ud);

/* Creates the demo tenant and a few employees and messages unless it
 * exists; writes its credentials to <data_dir>/demo.txt and returns them. */
int svc_demo_seed(store *st, const char *data_dir, char *summary, size_t summary_size);

#endif
