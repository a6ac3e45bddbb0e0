/*
 * fcm.c — see fcm.h. Owns the service account's RSA key, the OAuth2 access
 * token and its single in-flight exchange, and one hclient. Must never block
 * (RS256 signing is a millisecond of CPU, done at most once an hour), retry a
 * notification, call done from inside fcm_send, or let the key or the access
 * token reach a log line or a push_result.
 *
 * A send is one fcm_send_ctx that lives in at most one list at a time: the
 * sends waiting for an access token, the results decided locally that the
 * defer timer reports on the next loop turn (so done never runs inside
 * fcm_send), or none while its request is in hclient's hands. The cached
 * token carries a generation number, so a 401 drops the token the request
 * used, never a newer one fetched meanwhile.
 *
 * The 4096-byte limit is applied to the whole request body (envelope and
 * android/apns blocks included), which is stricter than FCM's count of the
 * payload alone: a body that is accepted here is never refused for size
 * there. An over-long notification body is cut by binary search on the
 * prefix length (hval_utf8_prefix keeps characters whole; escaping makes the
 * JSON size non-linear in the text) and ends with "…".
 */
#include "push/fcm.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
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

#define FCM_JWT_LIFETIME_S   3600
#define FCM_TOKEN_MARGIN_MS  60000 /* a cached access token is dropped this long before it expires */
#define FCM_ACCESS_TOKEN_MAX 4096
#define FCM_RSA_MIN_BITS     2048
#define FCM_SIG_MAX          1024 /* RSA up to 8192 bits */
#define FCM_PROJECT_MAX      128
#define FCM_COLLAPSE_ID_MAX  64 /* what APNs accepts as apns-collapse-id */
#define FCM_ELLIPSIS         "\xe2\x80\xa6"
#define FCM_GRANT            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="

typedef struct fcm_send_ctx fcm_send_ctx;

struct fcm_send_ctx {
	push_deferred dfr; /* first: the shared core hands it back */
	fcm_client *c;
	char *body;
	size_t body_len;
	push_done_fn done;
	void *ud;
	uint64_t token_gen; /* generation of the access token the request carried */
	fcm_send_ctx *next; /* in the list waiting for the access token */
};

struct fcm_client {
	push_core core; /* first: the shared core hands it back */
	EVP_PKEY *key;
	char *project_id, *client_email, *key_id, *token_uri, *send_url;
	long timeout_ms;
	/* OAuth2 */
	char *access_token; /* NULL when none */
	int64_t token_until_ms;
	uint64_t token_gen;
	bool fetching;
	fcm_send_ctx *wait_head, *wait_tail; /* sends waiting for the token */
};

/* ---- small helpers --------------------------------------------------------- */

static int64_t fcm_now(const fcm_client *c)
{
	return push_core_now(&c->core);
}

static void fcm_push(fcm_send_ctx **head, fcm_send_ctx **tail, fcm_send_ctx *x)
{
	x->next = NULL;
	if (*tail)
		(*tail)->next = x;
	else
		*head = x;
	*tail = x;
}

static fcm_send_ctx *fcm_detach(fcm_send_ctx **head, fcm_send_ctx **tail)
{
	fcm_send_ctx *list = *head;

	*head = *tail = NULL;
	return list;
}

/* ---- completion ------------------------------------------------------------ */

static void fcm_finish(fcm_send_ctx *x, const push_result *r)
{
	fcm_client *c = x->c;
	push_done_fn done = x->done;
	void *ud = x->ud;
	push_result copy = *r; /* r may live in x */

	c->core.pending--;
	free(x->body);
	free(x);
	done(ud, &copy);
}

/* The shared core reports a deferred result. */
static void fcm_finish_deferred(push_deferred *d, const push_result *r)
{
	fcm_finish((fcm_send_ctx *)d, r);
}

static void fcm_defer(fcm_send_ctx *x, const push_result *r)
{
	push_core_defer(&x->c->core, &x->dfr, r);
}

/* ---- service account and JWT ------------------------------------------------ */

static const char *fcm_field(const json_t *j, const char *name)
{
	return json_string_value(json_object_get(j, name));
}

static bool fcm_project_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char ch = s[n];

		if (n >= FCM_PROJECT_MAX ||
		    !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '.' || ch == ':' || ch == '_'))
			return false;
	}
	return n > 0;
}

static bool fcm_http_url(const char *s)
{
	return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

static int fcm_load_key(fcm_client *c, const char *pem, char *err, size_t err_size)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);

	c->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, push_pem_no_password, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	if (!c->key) {
		push_set_err(err, err_size, "service account: private_key is not an unencrypted PEM private key");
		return HERR_FIELD_INVALID;
	}
	if (!EVP_PKEY_is_a(c->key, "RSA") || EVP_PKEY_get_bits(c->key) < FCM_RSA_MIN_BITS ||
	    EVP_PKEY_get_size(c->key) > FCM_SIG_MAX) {
		push_set_err(err, err_size, "service account: private_key is not an RSA key of 2048 to 8192 bits");
		return HERR_FIELD_INVALID;
	}
	return 0;
}

static int fcm_load_account(fcm_client *c, const fcm_config *cfg, char *err, size_t err_size)
{
	size_t len = cfg->service_account_len ? cfg->service_account_len : strlen(cfg->service_account);
	json_t *j = json_loadb(cfg->service_account, len, 0, NULL);
	const char *type, *project, *email, *key, *uri, *kid;
	int rc = HERR_FIELD_INVALID;

	if (!json_is_object(j)) {
		push_set_err(err, err_size, "service account: not a JSON object");
		goto out;
	}
	type = fcm_field(j, "type");
	project = fcm_field(j, "project_id");
	email = fcm_field(j, "client_email");
	key = fcm_field(j, "private_key");
	uri = fcm_field(j, "token_uri");
	kid = fcm_field(j, "private_key_id");
	if (!type || strcmp(type, "service_account") != 0)
		push_set_err(err, err_size, "service account: type is not \"service_account\"");
	else if (!project || !fcm_project_ok(project))
		push_set_err(err, err_size, "service account: project_id missing or invalid");
	else if (!email || !*email)
		push_set_err(err, err_size, "service account: client_email missing");
	else if (!key)
		push_set_err(err, err_size, "service account: private_key missing");
	else if (uri && !fcm_http_url(uri))
		push_set_err(err, err_size, "service account: token_uri is not an http(s) URL");
	else if (kid && !push_visible(kid, 256))
		push_set_err(err, err_size, "service account: private_key_id invalid");
	else if ((rc = fcm_load_key(c, key, err, err_size)) == 0) {
		c->project_id = strdup(project);
		c->client_email = strdup(email);
		c->token_uri = strdup(uri ? uri : FCM_DEFAULT_TOKEN_URI);
		c->key_id = kid ? strdup(kid) : NULL;
		if (!c->project_id || !c->client_email || !c->token_uri || (kid && !c->key_id))
			rc = HERR_NOMEM;
	}
out:
	json_decref(j);
	return rc;
}

/* Appends the signed assertion (RFC 7523) for the token exchange to out. */
static int fcm_assertion(fcm_client *c, int64_t now_s, hbuf *out)
{
	hbuf head = HBUF_INIT, claims = HBUF_INIT;
	uint8_t sig[FCM_SIG_MAX];
	size_t sig_len = sizeof sig, start = out->len;
	EVP_MD_CTX *md = NULL;
	int rc = 0;

	if (hbuf_puts(&head, "{\"alg\":\"RS256\",\"typ\":\"JWT\"") != 0 ||
	    (c->key_id && (hbuf_puts(&head, ",\"kid\":") != 0 || hbuf_json_str(&head, c->key_id, strlen(c->key_id)))) ||
	    hbuf_putc(&head, '}') != 0 || hbuf_puts(&claims, "{\"iss\":") != 0 ||
	    hbuf_json_str(&claims, c->client_email, strlen(c->client_email)) != 0 ||
	    hbuf_puts(&claims, ",\"scope\":\"" FCM_SCOPE "\",\"aud\":") != 0 ||
	    hbuf_json_str(&claims, c->token_uri, strlen(c->token_uri)) != 0 ||
	    hbuf_printf(&claims, ",\"iat\":%lld,\"exp\":%lld}", (long long)now_s,
	                (long long)(now_s + FCM_JWT_LIFETIME_S)) != 0 ||
	    push_b64url_append(out, head.data, head.len) != 0 || hbuf_putc(out, '.') != 0 ||
	    push_b64url_append(out, claims.data, claims.len) != 0) {
		rc = HERR_NOMEM;
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, c->key) != 1 ||
	    EVP_DigestSign(md, sig, &sig_len, (const uint8_t *)out->data + start, out->len - start) != 1) {
		ERR_clear_error();
		rc = HERR_INTERNAL;
		goto out;
	}
	if (hbuf_putc(out, '.') != 0 || push_b64url_append(out, sig, sig_len) != 0)
		rc = HERR_NOMEM;
out:
	EVP_MD_CTX_free(md);
	hbuf_free(&head);
	hbuf_free(&claims);
	return rc;
}

/* ---- payload ---------------------------------------------------------------- */

/* A string literal of s[0..n), with "…" inside the quotes when cut. */
static void fcm_text(push_json *j, const char *s, size_t n, bool cut)
{
	push_json_str(j, s, n);
	if (cut && j->rc == 0) {
		j->b->len--; /* reopen the literal: its last byte is the closing quote */
		j->rc = hbuf_puts(j->b, FCM_ELLIPSIS "\"");
	}
}

/* Validates the custom data: "why" on failure. */
static const char *fcm_data_problem(const fcm_message *m)
{
	for (size_t i = 0; i < m->data_count; i++) {
		const char *k = m->data[i].key;

		if (!k || !*k || !m->data[i].value)
			return "invalid data";
		if (strcmp(k, "from") == 0 || strcmp(k, "message_type") == 0 || strncmp(k, "google", 6) == 0 ||
		    strncmp(k, "gcm", 3) == 0)
			return "reserved data key";
	}
	return NULL;
}

/* The request body with body text text[0..tlen) (cut: ends with "…"). */
static int fcm_build(fcm_client *c, const char *token, const fcm_message *m, const char *text, size_t tlen, bool cut,
                     hbuf *out)
{
	push_json j = {out, 0};
	bool has_title = m->title && *m->title, notify = has_title || tlen > 0 || cut;
	const char *prio = m->normal_priority ? "5" : "10";
	size_t ck_len = m->collapse_key ? strlen(m->collapse_key) : 0;
	char num[64];

	hbuf_reset(out);
	push_json_put(&j, "{\"message\":{\"token\":");
	push_json_str(&j, token, strlen(token));
	if (notify) {
		push_json_put(&j, ",\"notification\":{");
		if (has_title) {
			push_json_put(&j, "\"title\":");
			push_json_str(&j, m->title, strlen(m->title));
		}
		if (tlen > 0 || cut) {
			push_json_put(&j, has_title ? ",\"body\":" : "\"body\":");
			fcm_text(&j, text, tlen, cut);
		}
		push_json_put(&j, "}");
	}
	if (m->data_count > 0) {
		push_json_put(&j, ",\"data\":{");
		for (size_t i = 0; i < m->data_count; i++) {
			if (i > 0)
				push_json_put(&j, ",");
			push_json_str(&j, m->data[i].key, strlen(m->data[i].key));
			push_json_put(&j, ":");
			push_json_str(&j, m->data[i].value, strlen(m->data[i].value));
		}
		push_json_put(&j, "}");
	}
	push_json_put(&j, m->normal_priority ? ",\"android\":{\"priority\":\"normal\""
	                                     : ",\"android\":{\"priority\":\"high\"");
	if (ck_len > 0) {
		push_json_put(&j, ",\"collapse_key\":");
		push_json_str(&j, m->collapse_key, ck_len);
	}
	if (m->ttl_s > 0) {
		snprintf(num, sizeof num, ",\"ttl\":\"%llds\"", (long long)m->ttl_s);
		push_json_put(&j, num);
	}
	/* the apns block: what iOS devices reached through FCM need of APNs' headers */
	push_json_put(&j, "},\"apns\":{\"headers\":{\"apns-priority\":\"");
	push_json_put(&j, notify ? prio : "5");
	push_json_put(&j, notify ? "\"" : "\",\"apns-push-type\":\"background\"");
	if (m->ttl_s > 0) {
		snprintf(num, sizeof num, ",\"apns-expiration\":\"%lld\"", (long long)(fcm_now(c) / 1000 + m->ttl_s));
		push_json_put(&j, num);
	}
	if (ck_len > 0 && ck_len <= FCM_COLLAPSE_ID_MAX) {
		push_json_put(&j, ",\"apns-collapse-id\":");
		push_json_str(&j, m->collapse_key, ck_len);
	}
	push_json_put(&j, "},\"payload\":{\"aps\":{");
	if (notify) {
		push_json_put(&j, "\"sound\":\"default\"");
		if (m->has_badge) {
			snprintf(num, sizeof num, ",\"badge\":%d", m->badge < 0 ? 0 : m->badge);
			push_json_put(&j, num);
		}
	} else {
		push_json_put(&j, "\"content-available\":1");
	}
	push_json_put(&j, "}}}}}");
	return j.rc;
}

/* Builds the body within PUSH_PAYLOAD_MAX, cutting the text if needed.
 * HERR_BODY_TOO_LARGE when even an empty text does not fit. */
static int fcm_payload(fcm_client *c, const char *token, const fcm_message *m, hbuf *out)
{
	const char *text = m->body ? m->body : "";
	size_t len = strlen(text), lo = 0, hi;
	int rc;

	if (len <= PUSH_PAYLOAD_MAX) {
		if ((rc = fcm_build(c, token, m, text, len, false, out)) != 0 || out->len <= PUSH_PAYLOAD_MAX)
			return rc;
		if (len == 0)
			return HERR_BODY_TOO_LARGE;
	}
	if ((rc = fcm_build(c, token, m, text, 0, true, out)) != 0)
		return rc;
	if (out->len > PUSH_PAYLOAD_MAX)
		return HERR_BODY_TOO_LARGE;
	/* the largest byte budget whose character-aligned prefix fits: lo fits, hi does not */
	hi = len < PUSH_PAYLOAD_MAX ? len : PUSH_PAYLOAD_MAX;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if ((rc = fcm_build(c, token, m, text, hval_utf8_prefix(text, len, mid), true, out)) != 0)
			return rc;
		if (out->len <= PUSH_PAYLOAD_MAX)
			lo = mid;
		else
			hi = mid;
	}
	return fcm_build(c, token, m, text, hval_utf8_prefix(text, len, lo), true, out);
}

/* ---- answers ---------------------------------------------------------------- */

static void fcm_network(push_result *r, const hclient_response *res, const char *prefix)
{
	if (res->error && strcmp(res->error, "cancelled") == 0)
		push_result_local(r, PUSH_RETRY, "cancelled");
	else {
		push_result_local(r, PUSH_RETRY, "");
		snprintf(r->reason, sizeof r->reason, "%snetwork: %s", prefix, res->error ? res->error : "no answer");
	}
}

/* FCM's error code (details[].errorCode, else error.status) and whether a
 * field violation blames message.token. */
static void fcm_error_info(const hclient_response *res, char *code, size_t code_size, bool *token_bad)
{
	json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
	json_t *e = json_object_get(j, "error"), *d, *v;
	const char *status = fcm_field(e, "status");
	size_t i, k;

	code[0] = '\0';
	*token_bad = false;
	json_array_foreach(json_object_get(e, "details"), i, d)
	{
		const char *ec = fcm_field(d, "errorCode");

		if (ec && !code[0])
			snprintf(code, code_size, "%s", ec);
		json_array_foreach(json_object_get(d, "fieldViolations"), k, v)
		{
			const char *field = fcm_field(v, "field");

			if (field && strcmp(field, "message.token") == 0)
				*token_bad = true;
		}
	}
	if (!code[0] && status)
		snprintf(code, code_size, "%s", status);
	json_decref(j);
}

static void fcm_map(fcm_client *c, const fcm_send_ctx *x, const hclient_response *res, push_result *r)
{
	char code[64];
	bool token_bad;
	long st = res->status;

	if (st == 0) {
		fcm_network(r, res, "");
		return;
	}
	memset(r, 0, sizeof *r);
	r->http_status = (int)st;
	if (st >= 200 && st < 300) {
		json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
		const char *name = fcm_field(j, "name");

		r->outcome = PUSH_OK;
		snprintf(r->id, sizeof r->id, "%s", name ? name : "");
		json_decref(j);
		return;
	}
	fcm_error_info(res, code, sizeof code, &token_bad);
	if (code[0])
		snprintf(r->reason, sizeof r->reason, "%s", code);
	else
		snprintf(r->reason, sizeof r->reason, "HTTP %ld", st);
	if (strcmp(code, "UNREGISTERED") == 0 || strcmp(code, "SENDER_ID_MISMATCH") == 0 || st == 404) {
		r->outcome = PUSH_DEAD_TOKEN;
	} else if (st == 401 || strcmp(code, "THIRD_PARTY_AUTH_ERROR") == 0) {
		/* drop the access token this request carried (not a newer one) */
		if (x->token_gen == c->token_gen && c->access_token) {
			OPENSSL_clear_free(c->access_token, strlen(c->access_token));
			c->access_token = NULL;
		}
		r->outcome = strcmp(code, "THIRD_PARTY_AUTH_ERROR") == 0 ? PUSH_FAILED : PUSH_RETRY;
	} else if (st == 429 || st >= 500 || strcmp(code, "QUOTA_EXCEEDED") == 0 || strcmp(code, "UNAVAILABLE") == 0 ||
	           strcmp(code, "INTERNAL") == 0) {
		r->outcome = PUSH_RETRY;
		r->retry_after_ms = push_retry_after_ms(res->retry_after, fcm_now(c));
	} else if (token_bad && (st == 400 || strcmp(code, "INVALID_ARGUMENT") == 0)) {
		r->outcome = PUSH_DEAD_TOKEN;
	} else {
		r->outcome = PUSH_FAILED;
	}
}

/* ---- requests --------------------------------------------------------------- */

static void fcm_on_sent(void *ud, const hclient_response *res)
{
	fcm_send_ctx *x = ud;
	push_result r;

	fcm_map(x->c, x, res, &r);
	fcm_finish(x, &r);
}

static int fcm_post(fcm_send_ctx *x)
{
	fcm_client *c = x->c;
	char auth[FCM_ACCESS_TOKEN_MAX + 32];
	const char *headers[] = {auth, "Content-Type: application/json; charset=UTF-8", NULL};
	hclient_request req;
	int rc;

	if (!c->access_token)
		return HERR_INTERNAL; /* not reached: callers post only with a token at hand */
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->access_token);
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = c->send_url;
	req.headers = headers;
	req.body = x->body;
	req.body_len = x->body_len;
	req.timeout_ms = c->timeout_ms;
	x->token_gen = c->token_gen;
	rc = hclient_send(c->core.http, &req, fcm_on_sent, x);
	OPENSSL_cleanse(auth, sizeof auth);
	return rc;
}

static void fcm_post_or_finish(fcm_send_ctx *x)
{
	push_result r;
	int rc = fcm_post(x);

	if (rc != 0) {
		push_result_from_rc(&r, rc);
		fcm_finish(x, &r);
	}
}

/* Takes the token out of a token-endpoint answer: 0, or -1 with r set. */
static int fcm_take_token(fcm_client *c, const hclient_response *res, push_result *r)
{
	json_t *j;
	const char *tok, *oerr;
	json_int_t expires = FCM_JWT_LIFETIME_S;
	char *copy;

	if (res->status == 0) {
		fcm_network(r, res, "oauth: ");
		return -1;
	}
	j = json_loadb(res->body, res->body_len, 0, NULL);
	tok = fcm_field(j, "access_token");
	if (json_is_integer(json_object_get(j, "expires_in")))
		expires = json_integer_value(json_object_get(j, "expires_in"));
	if (res->status == 200 && tok && push_visible(tok, FCM_ACCESS_TOKEN_MAX) && expires > 0 && expires <= 86400) {
		if (!(copy = strdup(tok))) {
			json_decref(j);
			push_result_local(r, PUSH_RETRY, "out of memory");
			return -1;
		}
		if (c->access_token)
			OPENSSL_clear_free(c->access_token, strlen(c->access_token));
		c->access_token = copy;
		c->token_gen++;
		/* ≤ a minute of life: used by the sends waiting now, then fetched again */
		c->token_until_ms = fcm_now(c) + (int64_t)expires * 1000 - FCM_TOKEN_MARGIN_MS;
		json_decref(j);
		return 0;
	}
	oerr = fcm_field(j, "error");
	push_result_local(r, res->status == 429 || res->status >= 500 || res->status == 200 ? PUSH_RETRY : PUSH_FAILED,
	                  "");
	r->http_status = (int)res->status;
	if (r->outcome == PUSH_RETRY)
		r->retry_after_ms = push_retry_after_ms(res->retry_after, fcm_now(c));
	if (res->status == 200)
		snprintf(r->reason, sizeof r->reason, "oauth: malformed token response");
	else if (oerr && push_visible(oerr, 64))
		snprintf(r->reason, sizeof r->reason, "oauth: %s", oerr);
	else
		snprintf(r->reason, sizeof r->reason, "oauth: HTTP %ld", res->status);
	json_decref(j);
	return -1;
}

static void fcm_on_token(void *ud, const hclient_response *res)
{
	fcm_client *c = ud;
	push_result r;
	int rc;
	fcm_send_ctx *list, *x;

	c->fetching = false;
	rc = fcm_take_token(c, res, &r);
	/* detached first: done callbacks may send again (and start a new exchange) */
	list = fcm_detach(&c->wait_head, &c->wait_tail);
	while ((x = list)) {
		list = x->next;
		x->next = NULL;
		if (rc == 0)
			fcm_post_or_finish(x);
		else
			fcm_finish(x, &r);
	}
}

static int fcm_fetch_token(fcm_client *c)
{
	static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded",
	                                      "Accept: application/json", NULL};
	hbuf body = HBUF_INIT;
	hclient_request req;
	int rc;

	/* the assertion is base64url and dots: nothing to percent-encode */
	if ((rc = hbuf_puts(&body, FCM_GRANT)) == 0 && (rc = fcm_assertion(c, fcm_now(c) / 1000, &body)) == 0) {
		memset(&req, 0, sizeof req);
		req.method = "POST";
		req.url = c->token_uri;
		req.headers = headers;
		req.body = body.data;
		req.body_len = body.len;
		req.timeout_ms = c->timeout_ms;
		if ((rc = hclient_send(c->core.http, &req, fcm_on_token, c)) == 0)
			c->fetching = true;
	}
	hbuf_free(&body);
	return rc;
}

/* ---- API ---------------------------------------------------------------------- */

static void fcm_free_fields(fcm_client *c);

/* The shared core frees the client once both its handles are closed. */
static void fcm_free_client(push_core *core)
{
	fcm_free_fields((fcm_client *)core);
}

static void fcm_free_fields(fcm_client *c)
{
	if (!c)
		return;
	EVP_PKEY_free(c->key);
	free(c->project_id);
	free(c->client_email);
	free(c->key_id);
	free(c->token_uri);
	free(c->send_url);
	if (c->access_token)
		OPENSSL_clear_free(c->access_token, strlen(c->access_token));
	free(c);
}

int fcm_client_new(const fcm_config *cfg, fcm_client **out, char *err, size_t err_size)
{
	const char *endpoint;
	size_t elen;
	hbuf url = HBUF_INIT;
	fcm_client *c;
	int rc;

	push_set_err(err, err_size, "");
	if (!out)
		return HERR_FIELD_INVALID;
	*out = NULL;
	if (!cfg || !cfg->loop || !cfg->service_account) {
		push_set_err(err, err_size, "fcm: loop and service account are required");
		return HERR_FIELD_INVALID;
	}
	endpoint = cfg->endpoint && *cfg->endpoint ? cfg->endpoint : FCM_DEFAULT_ENDPOINT;
	elen = strlen(endpoint);
	while (elen > 0 && endpoint[elen - 1] == '/')
		elen--;
	if (!fcm_http_url(endpoint)) {
		push_set_err(err, err_size, "fcm: endpoint is not an http(s) URL");
		return HERR_FIELD_INVALID;
	}
	if (!(c = calloc(1, sizeof *c)))
		return HERR_NOMEM;
	c->timeout_ms = cfg->timeout_ms;
	c->core.clock_ms = cfg->clock_ms;
	c->core.clock_ud = cfg->clock_ud;
	if ((rc = fcm_load_account(c, cfg, err, err_size)) != 0)
		goto fail;
	if (hbuf_append(&url, endpoint, elen) != 0 ||
	    hbuf_printf(&url, "/v1/projects/%s/messages:send", c->project_id) != 0 ||
	    !(c->send_url = hbuf_steal(&url, NULL))) {
		rc = HERR_NOMEM;
		goto fail;
	}
	if ((rc = push_core_init(&c->core, cfg->loop, cfg->max_concurrent, cfg->clock_ms, cfg->clock_ud,
	                         fcm_finish_deferred, fcm_free_client)) != 0)
		goto fail;
	*out = c;
	return 0;
fail:
	hbuf_free(&url);
	fcm_free_fields(c);
	return rc;
}

int fcm_send(fcm_client *c, const char *device_token, const fcm_message *m, push_done_fn done, void *ud)
{
	fcm_send_ctx *x, *list;
	hbuf body = HBUF_INIT;
	push_result r;
	const char *why;
	int rc;

	if (!c || !device_token || !m || !done)
		return HERR_FIELD_INVALID;
	if (c->core.closing)
		return HERR_SHUTTING_DOWN;
	if (!(x = calloc(1, sizeof *x)))
		return HERR_NOMEM;
	x->c = c;
	x->done = done;
	x->ud = ud;
	c->core.pending++;
	if (!push_visible(device_token, FCM_TOKEN_MAX)) {
		push_core_defer_local(&c->core, &x->dfr, PUSH_DEAD_TOKEN, "invalid device token");
		return 0;
	}
	if ((why = fcm_data_problem(m))) {
		push_core_defer_local(&c->core, &x->dfr, PUSH_FAILED, why);
		return 0;
	}
	if ((rc = fcm_payload(c, device_token, m, &body)) != 0) {
		hbuf_free(&body);
		if (rc != HERR_BODY_TOO_LARGE)
			goto nomem;
		push_core_defer_local(&c->core, &x->dfr, PUSH_FAILED, "payload too large");
		return 0;
	}
	if (!(x->body = hbuf_steal(&body, &x->body_len)))
		goto nomem;
	if (c->access_token && fcm_now(c) < c->token_until_ms) {
		if ((rc = fcm_post(x)) == HERR_NOMEM)
			goto nomem;
		if (rc != 0) {
			push_result_from_rc(&r, rc);
			fcm_defer(x, &r);
		}
		return 0;
	}
	fcm_push(&c->wait_head, &c->wait_tail, x);
	if (!c->fetching && (rc = fcm_fetch_token(c)) != 0) {
		push_result_local(&r, rc == HERR_INTERNAL ? PUSH_FAILED : PUSH_RETRY,
		                  rc == HERR_INTERNAL ? "oauth: cannot sign the assertion" : "out of memory");
		list = fcm_detach(&c->wait_head, &c->wait_tail);
		while ((x = list)) {
			list = x->next;
			fcm_defer(x, &r);
		}
	}
	return 0;
nomem:
	c->core.pending--;
	free(x->body);
	free(x);
	return HERR_NOMEM;
}

size_t fcm_pending(const fcm_client *c)
{
	return c ? c->core.pending : 0;
}

void fcm_client_close(fcm_client *c, void (*closed)(void *ud), void *ud)
{
	fcm_send_ctx *list, *x;
	push_result r;

	if (!c || c->core.closing)
		return;
	/* cancels the exchange and every request, reports what is queued */
	push_core_close(&c->core, closed, ud);
	push_result_local(&r, PUSH_RETRY, "cancelled");
	list = fcm_detach(&c->wait_head, &c->wait_tail);
	while ((x = list)) {
		list = x->next;
		fcm_finish(x, &r);
	}
}
