/*
 * svc.c — the service object: settings, the server secret, the per-address
 * limiter, and the plumbing that runs an operation as one storage job and
 * completes it on the loop.
 *
 * The server secret (32 random bytes in <data>/secret.key, mode 0600) keys the
 * HMAC of SMS codes. It is created on first start and must travel with the
 * database in backups of the data directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/ratelimit.h"
#include "core/time.h"
#include "push/sms.h"
#include "svc/chat.h"
#include "svc/svc_internal.h"

void svc_settings_default(svc_settings *s)
{
	s->title_max = 256;
	s->text_max = 4000;
	s->name_max = 256;
	s->push_token_max = 4096;
	s->code_ttl_s = 600;
	s->code_max_attempts = 5;
	s->code_cooldown_s = 60;
	s->code_per_phone_hour = 5;
	s->code_fail_per_hour = 20;
	s->auth_per_ip_hour = 30;
	s->session_ttl_s = 90LL * 24 * 3600;
	s->date_offset_min = HTIME_LOCAL;
	s->default_country_code = 7;
	s->cabinet_session_ttl_s = 12 * 3600;
	s->cabinet_login_per_inn = 10;
	s->cabinet_login_per_ip = 60;
}

static int load_secret(const char *data_dir, uint8_t out[SVC_SECRET_BYTES], char *err, size_t err_size)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/secret.key", data_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, out, SVC_SECRET_BYTES);
		close(fd);
		if (n != SVC_SECRET_BYTES) {
			snprintf(err, err_size, "%s is damaged (expected %d bytes)", path, SVC_SECRET_BYTES);
			return HERR_IO;
		}
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
		return HERR_IO;
	}
	/* First start: create it atomically (O_EXCL) so two processes racing
	 * here cannot end up with different secrets. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return load_secret(data_dir, out, err, err_size);
		snprintf(err, err_size, "cannot create %s: %s", path, strerror(errno));
		return HERR_IO;
	}
	char token[HCRYPTO_TOKEN_CHARS + 1];
	hcrypto_token_new(token); /* 32 random bytes, reusing the token generator's RNG */
	hcrypto_token_hash(token, strlen(token), out);
	ssize_t n = write(fd, out, SVC_SECRET_BYTES);
	int sync_rc = fsync(fd);
	close(fd);
	if (n != SVC_SECRET_BYTES || sync_rc != 0) {
		unlink(path);
		snprintf(err, err_size, "cannot write %s", path);
		return HERR_IO;
	}
	return 0;
}

int svc_new(store *st, const svc_settings *settings, const char *data_dir, sms_provider *sms, svc **out, char *err,
            size_t err_size)
{
	svc *s = calloc(1, sizeof *s);
	if (!s)
		return HERR_NOMEM;
	s->store = st;
	s->settings = *settings;
	snprintf(s->data_dir, sizeof s->data_dir, "%s", data_dir);
	s->sms = sms;
	int rc = load_secret(data_dir, s->secret, err, err_size);
	if (rc != 0) {
		free(s);
		return rc;
	}
	s->ip_limit = hratelimit_new(4096, 3600 * 1000, settings->auth_per_ip_hour);
	/* Cabinet sign-ins: failed tries count (svc/cabinet.c forgives a
	 * success), per INN against guessing one tenant's password from many
	 * addresses, per address against trying many tenants. */
	s->cab_inn_limit = hratelimit_new(4096, 15 * 60 * 1000, settings->cabinet_login_per_inn);
	s->cab_ip_limit = hratelimit_new(4096, 3600 * 1000, settings->cabinet_login_per_ip);
	if (!s->ip_limit || !s->cab_inn_limit || !s->cab_ip_limit) {
		hratelimit_free(s->ip_limit);
		hratelimit_free(s->cab_inn_limit);
		hratelimit_free(s->cab_ip_limit);
		free(s);
		return HERR_NOMEM;
	}
	*out = s;
	return 0;
}

void svc_free(svc *s)
{
	if (!s)
		return;
	hratelimit_free(s->ip_limit);
	hratelimit_free(s->cab_inn_limit);
	hratelimit_free(s->cab_ip_limit);
	free(s);
}

const svc_settings *svc_get_settings(const svc *s)
{
	return &s->settings;
}

store *svc_store(svc *s)
{
	return s->store;
}

void svc_op_clear_results(svc_op *op)
{
	for (size_t i = 0; i < op->message_count; i++) {
		free(op->messages[i].title);
		free(op->messages[i].text);
	}
	free(op->messages);
	op->messages = NULL;
	op->message_count = 0;
	free(op->users);
	op->users = NULL;
	op->user_count = 0;
}

/* ---- running an operation as a job ------------------------------------------- */

static void op_done(void *arg, int rc)
{
	svc_op *op = arg;
	if (rc < 0 && op->err == 0)
		op->err = rc;
	if (op->events_) {
		if (op->err == 0)
			svc_publish_events(op->svc_, op->events_);
		svc_call_free_results(op->events_);
		free(op->events_);
		op->events_ = NULL;
	}
	if (op->err != 0 && op->err != HERR_CODE_INVALID && op->err != HERR_CODE_ATTEMPTS)
		svc_op_clear_results(op);
	if (op->after_)
		op->after_(op);
	else
		op->done(op);
}

void svc_submit(svc *s, svc_op *op, store_job_fn run, bool write)
{
	op->svc_ = s;
	op->err = 0;
	op->err_detail[0] = '\0';
	if (write)
		store_write(s->store, run, op_done, op);
	else
		store_read(s->store, run, op_done, op);
}

int svc_fail(svc_op *op, int err, const char *detail)
{
	op->err = err;
	snprintf(op->err_detail, sizeof op->err_detail, "%s", detail ? detail : "");
	return err;
}

int svc_resolve(store_conn *c, svc_op *op, unsigned allowed)
{
	if (!op->have_token)
		return svc_fail(op, HERR_UNAUTHORIZED, NULL);
	int rc = store_tenant_by_token(c, op->token_hash, &op->tenant);
	if (rc == 0) {
		op->principal = SVC_PARTNER;
	} else if (rc == HERR_NOT_FOUND) {
		int64_t tenant_id = 0, user_id = 0;
		rc = store_session_lookup(c, op->token_hash, htime_now_ms(), &tenant_id, &user_id);
		if (rc == HERR_NOT_FOUND)
			return svc_fail(op, HERR_UNAUTHORIZED, NULL);
		if (rc != 0)
			return rc;
		if ((rc = store_tenant_by_id(c, tenant_id, &op->tenant)) != 0 ||
		    (rc = store_user_by_id(c, tenant_id, user_id, &op->user)) != 0)
			return rc == HERR_NOT_FOUND ? svc_fail(op, HERR_UNAUTHORIZED, NULL) : rc;
		op->principal = SVC_STAFF;
	} else {
		return rc;
	}
	if (!(allowed & (1u << op->principal)))
		return svc_fail(op, HERR_FORBIDDEN, NULL);
	/* The body names the tenant too; a token of one tenant never acts
	 * on another, whatever INN the caller writes. */
	if (op->inn[0] && strcmp(op->inn, op->tenant.inn) != 0)
		return svc_fail(op, HERR_INN_MISMATCH, NULL);
	return 0;
}

/* ---- readiness ------------------------------------------------------------------- */

typedef struct ping_ctx {
	void (*done)(void *ud, int rc);
	void *ud;
} ping_ctx;

static int ping_run(store_conn *c, void *arg)
{
	(void)arg;
	return store_ping(c);
}

static void ping_done(void *arg, int rc)
{
	ping_ctx *p = arg;
	p->done(p->ud, rc);
	free(p);
}

void svc_ping(svc *s, void (*done)(void *ud, int rc), void *ud)
{
	ping_ctx *p = malloc(sizeof *p);
	if (!p) {
		done(ud, HERR_NOMEM);
		return;
	}
	p->done = done;
	p->ud = ud;
	store_read(s->store, ping_run, ping_done, p);
}
