/*
 * apns.c — see apns.h. Owns the EC signing key, the current provider token
 * and one hclient. Must never block (an ES256 signature takes well under a
 * millisecond, made at most every 40 minutes or after APNs refused the
 * token), resend anything but the one ExpiredProviderToken retry, call done
 * from inside apns_send, or let the key or the token reach a log line.
 *
 * A send is one apns_send_ctx: in hclient's hands while its request runs, or
 * in the ready list that the defer timer reports on the next loop turn (so
 * done never runs inside apns_send). The provider token carries a
 * generation number, so a 403 replaces the token the request carried, never
 * a newer one signed meanwhile — a burst of requests refused with an expired
 * token causes one new token, not one per request (Apple answers
 * TooManyProviderTokenUpdates to the latter).
 *
 * The JWS signature of ES256 is the raw r‖s (RFC 7518 §3.4), 64 bytes;
 * OpenSSL produces DER, converted here. The 4096-byte limit is applied to the
 * body as APNs counts it; an over-long alert body is cut by binary search on
 * the prefix length (hval_utf8_prefix keeps characters whole) and ends with
 * "…".
 */
#include "push/apns.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/time.h"
#include "core/validate.h"
#include "push/http_client.h"
#include "push/provider.h"

#define APNS_ID_MAX    64 /* team id, key id */
#define APNS_TOPIC_MAX 255
#define APNS_JWT_MAX   512
#define APNS_SIG_BYTES 64
#define APNS_ELLIPSIS  "\xe2\x80\xa6"

typedef struct apns_send_ctx apns_send_ctx;

struct apns_send_ctx {
	push_deferred dfr; /* first: the shared core hands it back */
	apns_client *c;
	char *url;
	char *body;
	size_t body_len;
	char push_type[48];
	char priority[32];
	char expiration[48];
	char collapse[32 + APNS_COLLAPSE_ID_MAX];
	push_done_fn done;
	void *ud;
	uint64_t token_gen; /* generation of the provider token the request carried */
	bool resent;        /* the one retry after ExpiredProviderToken was made */
};

struct apns_client {
	push_core core; /* first: the shared core hands it back */
	EVP_PKEY *key;
	char *team_id, *key_id, *topic_line, *base_url;
	long timeout_ms;
	char jwt[APNS_JWT_MAX]; /* "" when none */
	int64_t jwt_iat_ms;
	uint64_t jwt_gen;
};

/* ---- small helpers --------------------------------------------------------- */

static int64_t apns_now(const apns_client *c)
{
	return push_core_now(&c->core);
}

static bool apns_alnum(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= max ||
		    !((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9')))
			return false;
	return n > 0;
}

static bool apns_token_ok(const char *t)
{
	size_t n = 0;

	for (; t[n]; n++) {
		char ch = t[n];

		if (n >= APNS_DEVICE_TOKEN_MAX ||
		    !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
			return false;
	}
	return n >= APNS_DEVICE_TOKEN_MIN && n % 2 == 0;
}

/* ---- completion ------------------------------------------------------------ */

static void apns_ctx_free(apns_send_ctx *x)
{
	free(x->url);
	free(x->body);
	free(x);
}

static void apns_finish(apns_send_ctx *x, const push_result *r)
{
	push_done_fn done = x->done;
	void *ud = x->ud;
	push_result copy = *r; /* r may live in x */

	x->c->core.pending--;
	apns_ctx_free(x);
	done(ud, &copy);
}

/* The shared core reports a deferred result. */
static void apns_finish_deferred(push_deferred *d, const push_result *r)
{
	apns_finish((apns_send_ctx *)d, r);
}

/* ---- key and provider token ----------------------------------------------- */

static int apns_load_key(apns_client *c, const apns_config *cfg, char *err, size_t err_size)
{
	size_t len = cfg->key_pem_len ? cfg->key_pem_len : strlen(cfg->key_pem);
	BIO *bio = len <= INT32_MAX ? BIO_new_mem_buf(cfg->key_pem, (int)len) : NULL;
	char group[32];
	size_t glen = 0;

	c->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, push_pem_no_password, NULL) : NULL;
	BIO_free(bio);
	if (!c->key) {
		ERR_clear_error();
		push_set_err(err, err_size, "apns: key is not an unencrypted PEM private key (.p8)");
		return HERR_FIELD_INVALID;
	}
	if (!EVP_PKEY_is_a(c->key, "EC") || EVP_PKEY_get_group_name(c->key, group, sizeof group, &glen) != 1 ||
	    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
		ERR_clear_error();
		push_set_err(err, err_size, "apns: key is not an EC P-256 key");
		return HERR_FIELD_INVALID;
	}
	return 0;
}

/* ES256 over in[0..len): the raw r‖s of RFC 7518 §3.4. */
static int apns_sign(EVP_PKEY *key, const char *in, size_t len, uint8_t out[APNS_SIG_BYTES])
{
	uint8_t der[128];
	const uint8_t *p = der;
	size_t der_len = sizeof der;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	int rc = HERR_INTERNAL;

	if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(md, der, &der_len, (const uint8_t *)in, len) == 1 &&
	    (sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len))) {
		ECDSA_SIG_get0(sig, &r, &s);
		if (BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32)
			rc = 0;
	}
	if (rc != 0)
		ERR_clear_error();
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	return rc;
}

/* A new provider token into c->jwt; 0, HERR_NOMEM or HERR_INTERNAL. */
static int apns_new_token(apns_client *c, int64_t now_ms)
{
	hbuf head = HBUF_INIT, claims = HBUF_INIT, tok = HBUF_INIT;
	uint8_t sig[APNS_SIG_BYTES];
	int rc = HERR_NOMEM;

	if (hbuf_printf(&head, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", c->key_id) == 0 &&
	    hbuf_printf(&claims, "{\"iss\":\"%s\",\"iat\":%lld}", c->team_id, (long long)(now_ms / 1000)) == 0 &&
	    push_b64url_append(&tok, head.data, head.len) == 0 && hbuf_putc(&tok, '.') == 0 &&
	    push_b64url_append(&tok, claims.data, claims.len) == 0 &&
	    (rc = apns_sign(c->key, tok.data, tok.len, sig)) == 0 &&
	    (hbuf_putc(&tok, '.') != 0 || push_b64url_append(&tok, sig, sizeof sig) != 0))
		rc = HERR_NOMEM;
	if (rc == 0 && tok.len >= sizeof c->jwt)
		rc = HERR_INTERNAL;
	if (rc == 0) {
		memcpy(c->jwt, tok.data, tok.len + 1);
		c->jwt_iat_ms = now_ms;
		c->jwt_gen++;
	}
	hbuf_free(&head);
	hbuf_free(&claims);
	hbuf_free(&tok);
	return rc;
}

/* ---- payload ---------------------------------------------------------------- */

static const char *apns_message_problem(const apns_message *m)
{
	if (m->collapse_id && *m->collapse_id) {
		if (strlen(m->collapse_id) > APNS_COLLAPSE_ID_MAX)
			return "collapse id too long";
		for (const char *p = m->collapse_id; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return "invalid collapse id";
	}
	for (size_t i = 0; i < m->data_count; i++) {
		if (!m->data[i].key || !*m->data[i].key || !m->data[i].value)
			return "invalid data";
		if (strcmp(m->data[i].key, "aps") == 0)
			return "reserved data key";
	}
	return NULL;
}

/* The body with alert text t[0..tlen) (cut: ends with "…"). */
static int apns_build(const apns_message *m, const char *t, size_t tlen, bool cut, hbuf *out)
{
	push_json j = {out, 0};
	bool has_title = m->title && *m->title, has_body = tlen > 0 || cut;
	const char *sound = m->sound ? m->sound : "default";
	char num[32];

	hbuf_reset(out);
	if (m->type == APNS_PUSH_BACKGROUND) {
		push_json_put(&j, "{\"aps\":{\"content-available\":1}");
	} else {
		push_json_put(&j, "{\"aps\":{\"alert\":{");
		if (has_title) {
			push_json_put(&j, "\"title\":");
			push_json_str(&j, m->title, strlen(m->title));
		}
		if (has_body) {
			push_json_put(&j, has_title ? ",\"body\":" : "\"body\":");
			push_json_str(&j, t, tlen);
			if (cut && j.rc == 0) {
				out->len--; /* reopen the literal: its last byte is the closing quote */
				push_json_put(&j, APNS_ELLIPSIS "\"");
			}
		}
		push_json_put(&j, "}");
		if (m->has_badge) {
			snprintf(num, sizeof num, ",\"badge\":%d", m->badge < 0 ? 0 : m->badge);
			push_json_put(&j, num);
		}
		if (*sound) {
			push_json_put(&j, ",\"sound\":");
			push_json_str(&j, sound, strlen(sound));
		}
		push_json_put(&j, "}");
	}
	for (size_t i = 0; i < m->data_count; i++) {
		push_json_put(&j, ",");
		push_json_str(&j, m->data[i].key, strlen(m->data[i].key));
		push_json_put(&j, ":");
		push_json_str(&j, m->data[i].value, strlen(m->data[i].value));
	}
	push_json_put(&j, "}");
	return j.rc;
}

/* The body within PUSH_PAYLOAD_MAX; HERR_BODY_TOO_LARGE when even an empty
 * alert body does not fit. */
static int apns_payload(const apns_message *m, hbuf *out)
{
	const char *text = m->type == APNS_PUSH_ALERT && m->body ? m->body : "";
	size_t len = strlen(text), lo = 0, hi;
	int rc;

	if (len <= PUSH_PAYLOAD_MAX) {
		if ((rc = apns_build(m, text, len, false, out)) != 0 || out->len <= PUSH_PAYLOAD_MAX)
			return rc;
		if (len == 0)
			return HERR_BODY_TOO_LARGE;
	}
	if ((rc = apns_build(m, text, 0, true, out)) != 0)
		return rc;
	if (out->len > PUSH_PAYLOAD_MAX)
		return HERR_BODY_TOO_LARGE;
	/* the largest byte budget whose character-aligned prefix fits: lo fits, hi does not */
	hi = len < PUSH_PAYLOAD_MAX ? len : PUSH_PAYLOAD_MAX;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if ((rc = apns_build(m, text, hval_utf8_prefix(text, len, mid), true, out)) != 0)
			return rc;
		if (out->len <= PUSH_PAYLOAD_MAX)
			lo = mid;
		else
			hi = mid;
	}
	return apns_build(m, text, hval_utf8_prefix(text, len, lo), true, out);
}

/* ---- requests --------------------------------------------------------------- */

static void apns_on_sent(void *ud, const hclient_response *res);

/* Sends x with the current provider token, signing a new one when there is
 * none or it is APNS_TOKEN_REFRESH_S old. */
static int apns_post(apns_send_ctx *x)
{
	apns_client *c = x->c;
	char auth[APNS_JWT_MAX + 32];
	const char *headers[9];
	hclient_request req;
	int64_t now = apns_now(c);
	int n = 0, rc;

	if (!c->jwt[0] || now - c->jwt_iat_ms >= (int64_t)APNS_TOKEN_REFRESH_S * 1000 || now < c->jwt_iat_ms) {
		if ((rc = apns_new_token(c, now)) != 0)
			return rc;
	}
	snprintf(auth, sizeof auth, "authorization: bearer %s", c->jwt);
	headers[n++] = auth;
	headers[n++] = c->topic_line;
	headers[n++] = x->push_type;
	headers[n++] = x->priority;
	headers[n++] = x->expiration;
	headers[n++] = "content-type: application/json";
	if (x->collapse[0])
		headers[n++] = x->collapse;
	headers[n] = NULL;
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = x->url;
	req.headers = headers;
	req.body = x->body;
	req.body_len = x->body_len;
	req.timeout_ms = c->timeout_ms;
	x->token_gen = c->jwt_gen;
	return hclient_send(c->core.http, &req, apns_on_sent, x);
}

/* Forgets the provider token x carried, unless a newer one replaced it. */
static void apns_drop_token(apns_client *c, const apns_send_ctx *x)
{
	if (x->token_gen == c->jwt_gen)
		c->jwt[0] = '\0';
}

static void apns_on_sent(void *ud, const hclient_response *res)
{
	apns_send_ctx *x = ud;
	apns_client *c = x->c;
	long st = res->status;
	const char *reason, *id;
	push_result r;
	json_t *j;
	int rc;

	if (st == 0) {
		if (res->error && strcmp(res->error, "cancelled") == 0)
			push_result_local(&r, PUSH_RETRY, "cancelled");
		else {
			push_result_local(&r, PUSH_RETRY, "");
			snprintf(r.reason, sizeof r.reason, "network: %s", res->error ? res->error : "no answer");
		}
		apns_finish(x, &r);
		return;
	}
	memset(&r, 0, sizeof r);
	r.http_status = (int)st;
	if (st == 200) {
		id = hclient_response_header(res, "apns-id");
		r.outcome = PUSH_OK;
		snprintf(r.id, sizeof r.id, "%s", id ? id : "");
		apns_finish(x, &r);
		return;
	}
	j = json_loadb(res->body, res->body_len, 0, NULL);
	reason = json_string_value(json_object_get(j, "reason"));
	if (reason && *reason)
		snprintf(r.reason, sizeof r.reason, "%s", reason);
	else
		snprintf(r.reason, sizeof r.reason, "HTTP %ld", st);
	json_decref(j);
	if (st == 410 || (st == 400 && (strcmp(r.reason, "BadDeviceToken") == 0 ||
	                                strcmp(r.reason, "DeviceTokenNotForTopic") == 0))) {
		r.outcome = PUSH_DEAD_TOKEN;
	} else if (st == 403 && strcmp(r.reason, "ExpiredProviderToken") == 0) {
		apns_drop_token(c, x);
		r.outcome = PUSH_FAILED;
		if (!x->resent) {
			x->resent = true;
			if ((rc = apns_post(x)) == 0)
				return;
			push_result_from_rc(&r, rc);
		}
	} else if (st == 403 && strcmp(r.reason, "InvalidProviderToken") == 0) {
		apns_drop_token(c, x);
		r.outcome = PUSH_FAILED;
	} else if (st == 429 || st >= 500) {
		r.outcome = PUSH_RETRY;
		r.retry_after_ms = push_retry_after_ms(res->retry_after, apns_now(c));
	} else {
		r.outcome = PUSH_FAILED;
	}
	apns_finish(x, &r);
}

/* ---- API ---------------------------------------------------------------------- */

static void apns_free_fields(apns_client *c);

/* The shared core frees the client once both its handles are closed. */
static void apns_free_client(push_core *core)
{
	apns_free_fields((apns_client *)core);
}

static void apns_free_fields(apns_client *c)
{
	EVP_PKEY_free(c->key);
	free(c->team_id);
	free(c->key_id);
	free(c->topic_line);
	free(c->base_url);
	OPENSSL_cleanse(c->jwt, sizeof c->jwt);
	free(c);
}

int apns_client_new(const apns_config *cfg, apns_client **out, char *err, size_t err_size)
{
	const char *endpoint;
	size_t elen;
	hbuf url = HBUF_INIT, topic = HBUF_INIT;
	apns_client *c;
	int rc = HERR_FIELD_INVALID;

	push_set_err(err, err_size, "");
	if (!out)
		return HERR_FIELD_INVALID;
	*out = NULL;
	if (!cfg || !cfg->loop || !cfg->key_pem) {
		push_set_err(err, err_size, "apns: loop and key are required");
		return HERR_FIELD_INVALID;
	}
	endpoint = cfg->endpoint && *cfg->endpoint ? cfg->endpoint : APNS_DEFAULT_ENDPOINT;
	elen = strlen(endpoint);
	while (elen > 0 && endpoint[elen - 1] == '/')
		elen--;
	if (!cfg->team_id || !apns_alnum(cfg->team_id, APNS_ID_MAX)) {
		push_set_err(err, err_size, "apns: team id missing or not letters and digits");
		return rc;
	}
	if (!cfg->key_id || !apns_alnum(cfg->key_id, APNS_ID_MAX)) {
		push_set_err(err, err_size, "apns: key id missing or not letters and digits");
		return rc;
	}
	if (!cfg->topic || !push_visible(cfg->topic, APNS_TOPIC_MAX)) {
		push_set_err(err, err_size, "apns: topic (bundle id) missing or invalid");
		return rc;
	}
	if (strncmp(endpoint, "https://", 8) != 0 && strncmp(endpoint, "http://", 7) != 0) {
		push_set_err(err, err_size, "apns: endpoint is not an http(s) URL");
		return rc;
	}
	if (!(c = calloc(1, sizeof *c)))
		return HERR_NOMEM;
	c->timeout_ms = cfg->timeout_ms;
	c->core.clock_ms = cfg->clock_ms;
	c->core.clock_ud = cfg->clock_ud;
	if ((rc = apns_load_key(c, cfg, err, err_size)) != 0)
		goto fail;
	rc = HERR_NOMEM;
	if (!(c->team_id = strdup(cfg->team_id)) || !(c->key_id = strdup(cfg->key_id)) ||
	    hbuf_printf(&topic, "apns-topic: %s", cfg->topic) != 0 || !(c->topic_line = hbuf_steal(&topic, NULL)) ||
	    hbuf_append(&url, endpoint, elen) != 0 || hbuf_puts(&url, "/3/device/") != 0 ||
	    !(c->base_url = hbuf_steal(&url, NULL)))
		goto fail;
	if ((rc = push_core_init(&c->core, cfg->loop, cfg->max_concurrent, cfg->clock_ms, cfg->clock_ud,
	                         apns_finish_deferred, apns_free_client)) != 0)
		goto fail;
	*out = c;
	return 0;
fail:
	hbuf_free(&url);
	hbuf_free(&topic);
	apns_free_fields(c);
	return rc;
}

/* The per-send header lines and URL; false on allocation failure. */
static bool apns_prepare(apns_send_ctx *x, const char *token, const apns_message *m)
{
	bool bg = m->type == APNS_PUSH_BACKGROUND;
	int prio = bg ? 5 : m->priority == 5 || m->priority == 1 ? m->priority : 10;
	size_t base = strlen(x->c->base_url), n = strlen(token);

	snprintf(x->push_type, sizeof x->push_type, "apns-push-type: %s", bg ? "background" : "alert");
	snprintf(x->priority, sizeof x->priority, "apns-priority: %d", prio);
	snprintf(x->expiration, sizeof x->expiration, "apns-expiration: %lld",
	         (long long)(m->expiration > 0 ? m->expiration : 0));
	if (m->collapse_id && *m->collapse_id)
		snprintf(x->collapse, sizeof x->collapse, "apns-collapse-id: %s", m->collapse_id);
	if (!(x->url = malloc(base + n + 1)))
		return false;
	memcpy(x->url, x->c->base_url, base);
	for (size_t i = 0; i <= n; i++)
		x->url[base + i] = (char)(token[i] >= 'A' && token[i] <= 'F' ? token[i] - 'A' + 'a' : token[i]);
	return true;
}

int apns_send(apns_client *c, const char *device_token_hex, const apns_message *m, push_done_fn done, void *ud)
{
	apns_send_ctx *x;
	hbuf body = HBUF_INIT;
	push_result r;
	const char *why;
	int rc;

	if (!c || !device_token_hex || !m || !done)
		return HERR_FIELD_INVALID;
	if (c->core.closing)
		return HERR_SHUTTING_DOWN;
	if (!(x = calloc(1, sizeof *x)))
		return HERR_NOMEM;
	x->c = c;
	x->done = done;
	x->ud = ud;
	c->core.pending++;
	if (!apns_token_ok(device_token_hex)) {
		push_core_defer_local(&c->core, &x->dfr, PUSH_DEAD_TOKEN, "invalid device token");
		return 0;
	}
	if ((why = apns_message_problem(m))) {
		push_core_defer_local(&c->core, &x->dfr, PUSH_FAILED, why);
		return 0;
	}
	if ((rc = apns_payload(m, &body)) != 0) {
		hbuf_free(&body);
		if (rc != HERR_BODY_TOO_LARGE)
			goto nomem;
		push_core_defer_local(&c->core, &x->dfr, PUSH_FAILED, "payload too large");
		return 0;
	}
	if (!(x->body = hbuf_steal(&body, &x->body_len)) || !apns_prepare(x, device_token_hex, m))
		goto nomem;
	if ((rc = apns_post(x)) == HERR_NOMEM)
		goto nomem;
	if (rc != 0) {
		push_result_from_rc(&r, rc);
		push_core_defer(&c->core, &x->dfr, &r);
	}
	return 0;
nomem:
	c->core.pending--;
	apns_ctx_free(x);
	return HERR_NOMEM;
}

size_t apns_pending(const apns_client *c)
{
	return c ? c->core.pending : 0;
}

void apns_client_close(apns_client *c, void (*closed)(void *ud), void *ud)
{
	if (!c || c->core.closing)
		return;
	/* cancels every request: their sends finish with PUSH_RETRY "cancelled" */
	push_core_close(&c->core, closed, ud);
}
