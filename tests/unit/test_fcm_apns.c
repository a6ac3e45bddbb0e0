/*
 * test_fcm_apns.c — the FCM and APNs provider modules against stand-ins of
 * Google's token endpoint, FCM's messages:send and APNs' /3/device/, all
 * served by herald's own HTTP server on 127.0.0.1 on the same loop as the
 * clients, in one thread.
 *
 * The stand-ins check each request as the real services document it —
 * method, path, headers, the RS256 assertion of the token exchange and the
 * ES256 provider token (verified with the public halves of keys generated
 * here), the JSON shape, string-only data values, at most 4096 bytes — and
 * write any deviation into h->problems, which every test expects empty.
 * Their answers come from a script (status, body, one extra header) or, when
 * the script is exhausted, a success. The wall clock of both modules is
 * pinned to h->now_ms, so token lifetimes are tested by moving it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "core/codec.h"
#include "core/err.h"
#include "net/http.h"
#include "push/apns.h"
#include "push/fcm.h"
#include "push/push_result.h"

#define MAX_SLOTS  32
#define MAX_SCRIPT 16
#define MAX_HELD   8
#define MAX_JWTS   32
#define T0_MS      1700000000000LL
#define PROJECT    "test-proj"
#define EMAIL      "herald-test@test-proj.iam.gserviceaccount.com"
#define KEY_ID     "0123456789abcdef0123456789abcdef01234567"
#define TEAM       "TEAM123456"
#define APNS_KID   "KEY1234567"
#define TOPIC      "com.example.herald"
#define FCM_PATH   "/v1/projects/" PROJECT "/messages:send"
#define DEV_TOKEN  "fcm-device-token:APA91bH_example-0123456789"
#define HEX64      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Keys made once for the whole run (RSA generation is slow under valgrind). */
static EVP_PKEY *g_rsa, *g_ec, *g_rsa_small, *g_ec384;
static char *g_rsa_pem, *g_ec_pem, *g_rsa_small_pem, *g_ec384_pem;

typedef struct reply {
	int status;
	const char *body;
	char header[96]; /* one extra "Name: value" line or "" */
} reply;

typedef struct slot {
	struct harness *h;
	int calls;
	push_result r;
} slot;

typedef struct harness {
	uv_loop_t loop;
	uv_timer_t tick;
	http_server *srv;
	char base[64];
	char token_uri[96];
	char dead_base[64]; /* nothing listens there */
	int64_t now_ms;
	/* stand-ins */
	char problems[2048];
	reply token_script[MAX_SCRIPT], push_script[MAX_SCRIPT];
	int token_script_len, token_script_pos, push_script_len, push_script_pos;
	int expires_in;
	int token_requests, tokens_issued;
	char current_token[64];
	int fcm_requests, apns_requests;
	char last_body[8192];
	size_t last_body_len;
	char last_path[512];
	char last_push_type[32], last_priority[16], last_expiration[32], last_collapse[96];
	char jwts[MAX_JWTS][512];
	int64_t jwt_iat[MAX_JWTS];
	bool hold_token, hold_push;
	http_request *held[MAX_HELD];
	int held_count;
	/* clients */
	fcm_client *fcm;
	apns_client *apns;
	slot slots[MAX_SLOTS];
	int done_total;
	int closed;
	int drained;
} harness;

static uint64_t mono_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static void problem(harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(harness *h, const char *fmt, ...)
{
	size_t n = strlen(h->problems);
	va_list ap;

	if (n + 2 >= sizeof h->problems)
		return;
	va_start(ap, fmt);
	vsnprintf(h->problems + n, sizeof h->problems - n - 1, fmt, ap);
	va_end(ap);
	strcat(h->problems, ";");
}

/* ---- keys ------------------------------------------------------------------ */

static char *pem_of(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	/* PKCS#8 ("BEGIN PRIVATE KEY"): the form of Google's keys and Apple's .p8 */
	if (!b || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1)
		return NULL;
	n = BIO_get_mem_data(b, &p);
	out = strndup(p, (size_t)n);
	BIO_free(b);
	return out;
}

static int group_setup(void **state)
{
	(void)state;
	g_rsa = EVP_RSA_gen(2048);
	g_rsa_small = EVP_RSA_gen(1024);
	g_ec = EVP_EC_gen("P-256");
	g_ec384 = EVP_EC_gen("P-384");
	if (!g_rsa || !g_rsa_small || !g_ec || !g_ec384)
		return -1;
	g_rsa_pem = pem_of(g_rsa);
	g_rsa_small_pem = pem_of(g_rsa_small);
	g_ec_pem = pem_of(g_ec);
	g_ec384_pem = pem_of(g_ec384);
	return g_rsa_pem && g_rsa_small_pem && g_ec_pem && g_ec384_pem ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(g_rsa);
	EVP_PKEY_free(g_rsa_small);
	EVP_PKEY_free(g_ec);
	EVP_PKEY_free(g_ec384);
	free(g_rsa_pem);
	free(g_rsa_small_pem);
	free(g_ec_pem);
	free(g_ec384_pem);
	return 0;
}

/* ---- JWT checks of the stand-ins -------------------------------------------- */

static json_t *b64_json(const char *p, size_t n)
{
	uint8_t raw[2048];
	long len = hcodec_b64url_decode(p, n, raw, sizeof raw);

	return len < 0 ? NULL : json_loadb((const char *)raw, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
}

/* Verifies a compact JWS with key (RS256, or ES256 with a raw r‖s
 * signature); returns header and claims, or false. */
static bool jwt_verify(EVP_PKEY *key, bool es256, const char *jwt, json_t **head, json_t **claims)
{
	const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	uint8_t sig[1024], der[128], *dp = der;
	long sig_len;
	int der_len;
	bool ok = false;
	EVP_MD_CTX *md;
	ECDSA_SIG *es = NULL;

	*head = *claims = NULL;
	if (!d1 || !d2 || strchr(d2 + 1, '.'))
		return false;
	sig_len = hcodec_b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
	if (sig_len <= 0)
		return false;
	if (es256) {
		if (sig_len != 64 || !(es = ECDSA_SIG_new()))
			return false;
		ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
		der_len = i2d_ECDSA_SIG(es, &dp);
		ECDSA_SIG_free(es);
		if (der_len <= 0)
			return false;
		memcpy(sig, der, (size_t)der_len);
		sig_len = der_len;
	}
	md = EVP_MD_CTX_new();
	ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestVerify(md, sig, (size_t)sig_len, (const uint8_t *)jwt, (size_t)(d2 - jwt)) == 1;
	EVP_MD_CTX_free(md);
	if (!ok)
		return false;
	*head = b64_json(jwt, (size_t)(d1 - jwt));
	*claims = b64_json(d1 + 1, (size_t)(d2 - d1 - 1));
	return json_is_object(*head) && json_is_object(*claims);
}

static bool json_str_is(const json_t *o, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v && strcmp(v, want) == 0;
}

static void pct_decode(const char *in, size_t n, char *out, size_t out_size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < out_size; i++) {
		unsigned v;

		if (in[i] == '%' && i + 2 < n && sscanf(in + i + 1, "%2x", &v) == 1) {
			out[o++] = (char)v;
			i += 2;
		} else {
			out[o++] = in[i] == '+' ? ' ' : in[i];
		}
	}
	out[o] = '\0';
}

/* ---- stand-ins ------------------------------------------------------------- */

static void respond_script(harness *h, http_request *req, reply *script, int len, int *pos, int def_status,
                           const char *def_body, const char *def_header)
{
	const char *extra[2] = {NULL, NULL};
	const reply *r = *pos < len ? &script[(*pos)++] : NULL;
	int status = r ? r->status : def_status;
	const char *body = r ? r->body : def_body;
	const char *header = r ? r->header : def_header;

	(void)h;
	if (header && *header)
		extra[0] = header;
	http_respond(req, status, body && *body ? "application/json; charset=UTF-8" : NULL, body ? body : "",
	             body ? strlen(body) : 0, extra);
}

static void on_token_request(harness *h, http_request *req)
{
	const char *ct = http_request_header(req, "content-type");
	char grant[128] = "", assertion[2048] = "", body[256];
	json_t *head = NULL, *claims = NULL;
	const char *p = req->body;

	h->token_requests++;
	if (strcmp(req->method, "POST") != 0)
		problem(h, "token: method %s", req->method);
	if (!ct || strcmp(ct, "application/x-www-form-urlencoded") != 0)
		problem(h, "token: content-type %s", ct ? ct : "(none)");
	while (p && *p) {
		const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p),
		           *eq = memchr(p, '=', (size_t)(end - p));

		if (eq && (size_t)(eq - p) == 10 && memcmp(p, "grant_type", 10) == 0)
			pct_decode(eq + 1, (size_t)(end - eq - 1), grant, sizeof grant);
		else if (eq && (size_t)(eq - p) == 9 && memcmp(p, "assertion", 9) == 0)
			pct_decode(eq + 1, (size_t)(end - eq - 1), assertion, sizeof assertion);
		else
			problem(h, "token: unexpected form field");
		p = amp ? amp + 1 : NULL;
	}
	if (strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer") != 0)
		problem(h, "token: grant_type %s", grant);
	if (!jwt_verify(g_rsa, false, assertion, &head, &claims)) {
		problem(h, "token: assertion does not verify");
	} else {
		json_t *iat = json_object_get(claims, "iat"), *exp = json_object_get(claims, "exp");

		if (!json_str_is(head, "alg", "RS256") || !json_str_is(head, "typ", "JWT") ||
		    !json_str_is(head, "kid", KEY_ID))
			problem(h, "token: header");
		if (!json_str_is(claims, "iss", EMAIL) || !json_str_is(claims, "scope", FCM_SCOPE) ||
		    !json_str_is(claims, "aud", h->token_uri))
			problem(h, "token: iss/scope/aud");
		if (!json_is_integer(iat) || json_integer_value(iat) != h->now_ms / 1000 || !json_is_integer(exp) ||
		    json_integer_value(exp) != json_integer_value(iat) + 3600)
			problem(h, "token: iat/exp");
	}
	json_decref(head);
	json_decref(claims);
	if (h->token_script_pos < h->token_script_len) {
		respond_script(h, req, h->token_script, h->token_script_len, &h->token_script_pos, 0, NULL, NULL);
		return;
	}
	snprintf(h->current_token, sizeof h->current_token, "ya29.test-%d", ++h->tokens_issued);
	snprintf(body, sizeof body, "{\"access_token\":\"%s\",\"expires_in\":%d,\"token_type\":\"Bearer\"}",
	         h->current_token, h->expires_in);
	http_respond(req, 200, "application/json; charset=utf-8", body, strlen(body), NULL);
}

static void check_string_values(harness *h, const json_t *o, const char *what)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o)) {
		problem(h, "%s: not an object", what);
		return;
	}
	json_object_foreach((json_t *)o, k, v)
	{
		if (!json_is_string(v))
			problem(h, "%s.%s: not a string", what, k);
	}
}

static void check_fcm_body(harness *h, const http_request *req)
{
	json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
	json_t *msg = json_object_get(j, "message"), *v, *n, *a, *ap;
	const char *k;

	if (!json_is_object(j) || json_object_size(j) != 1 || !json_is_object(msg)) {
		problem(h, "fcm: body is not {\"message\":{…}}");
		json_decref(j);
		return;
	}
	if (!json_is_string(json_object_get(msg, "token")))
		problem(h, "fcm: message.token");
	json_object_foreach(msg, k, v)
	{
		if (strcmp(k, "token") != 0 && strcmp(k, "notification") != 0 && strcmp(k, "data") != 0 &&
		    strcmp(k, "android") != 0 && strcmp(k, "apns") != 0)
			problem(h, "fcm: unexpected message.%s", k);
	}
	if ((n = json_object_get(msg, "notification"))) {
		check_string_values(h, n, "notification");
		json_object_foreach(n, k, v)
		{
			if (strcmp(k, "title") != 0 && strcmp(k, "body") != 0)
				problem(h, "fcm: notification.%s", k);
		}
	}
	if ((v = json_object_get(msg, "data")))
		check_string_values(h, v, "data");
	a = json_object_get(msg, "android");
	if (!json_is_object(a)) {
		problem(h, "fcm: android");
	} else {
		const char *prio = json_string_value(json_object_get(a, "priority"));
		const char *ttl = json_string_value(json_object_get(a, "ttl"));

		check_string_values(h, a, "android");
		if (!prio || (strcmp(prio, "high") != 0 && strcmp(prio, "normal") != 0))
			problem(h, "fcm: android.priority");
		if (json_object_get(a, "ttl") && (!ttl || strspn(ttl, "0123456789") != strlen(ttl) - 1 ||
		                                  ttl[strlen(ttl) - 1] != 's' || strlen(ttl) < 2))
			problem(h, "fcm: android.ttl");
	}
	ap = json_object_get(msg, "apns");
	if (!json_is_object(ap) || !json_is_object(json_object_get(ap, "payload")) ||
	    !json_is_object(json_object_get(json_object_get(ap, "payload"), "aps")))
		problem(h, "fcm: apns.payload.aps");
	else
		check_string_values(h, json_object_get(ap, "headers"), "apns.headers");
	json_decref(j);
}

static void on_fcm_request(harness *h, http_request *req)
{
	const char *auth = http_request_header(req, "authorization"), *ct = http_request_header(req, "content-type");
	char want[96], name[96];

	h->fcm_requests++;
	if (strcmp(req->method, "POST") != 0)
		problem(h, "fcm: method %s", req->method);
	if (strcmp(req->path, FCM_PATH) != 0)
		problem(h, "fcm: path %s", req->path);
	snprintf(want, sizeof want, "Bearer %s", h->current_token);
	if (!auth || strcmp(auth, want) != 0)
		problem(h, "fcm: authorization %s, want %s", auth ? auth : "(none)", want);
	if (!ct || strncmp(ct, "application/json", 16) != 0)
		problem(h, "fcm: content-type");
	if (req->body_len > PUSH_PAYLOAD_MAX)
		problem(h, "fcm: body of %zu bytes", req->body_len);
	check_fcm_body(h, req);
	memcpy(h->last_body, req->body, req->body_len < sizeof h->last_body ? req->body_len + 1 : 0);
	h->last_body_len = req->body_len;
	if (h->hold_push && h->held_count < MAX_HELD) {
		h->held[h->held_count++] = req;
		return;
	}
	snprintf(name, sizeof name, "{\"name\":\"projects/%s/messages/%d\"}", PROJECT, h->fcm_requests);
	respond_script(h, req, h->push_script, h->push_script_len, &h->push_script_pos, 200, name, NULL);
}

static bool all_hex_lower(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static void copy_hdr(const http_request *req, const char *name, char *out, size_t size)
{
	const char *v = http_request_header(req, name);

	snprintf(out, size, "%s", v ? v : "");
}

static void check_apns_jwt(harness *h, const http_request *req)
{
	const char *auth = http_request_header(req, "authorization");
	json_t *head = NULL, *claims = NULL, *iat;
	int i = h->apns_requests - 1;

	if (!auth || strncmp(auth, "bearer ", 7) != 0) {
		problem(h, "apns: authorization");
		return;
	}
	if (i < MAX_JWTS)
		snprintf(h->jwts[i], sizeof h->jwts[i], "%s", auth + 7);
	if (!jwt_verify(g_ec, true, auth + 7, &head, &claims)) {
		problem(h, "apns: provider token does not verify");
	} else {
		iat = json_object_get(claims, "iat");
		if (!json_str_is(head, "alg", "ES256") || !json_str_is(head, "kid", APNS_KID) ||
		    json_object_size(head) != 2)
			problem(h, "apns: token header");
		if (!json_str_is(claims, "iss", TEAM) || !json_is_integer(iat) || json_object_size(claims) != 2)
			problem(h, "apns: token claims");
		else if (i < MAX_JWTS)
			h->jwt_iat[i] = json_integer_value(iat);
	}
	json_decref(head);
	json_decref(claims);
}

static void check_apns_body(harness *h, const http_request *req)
{
	json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
	json_t *aps = json_object_get(j, "aps"), *alert = json_object_get(aps, "alert"), *v;
	const char *k;

	if (!json_is_object(j) || !json_is_object(aps)) {
		problem(h, "apns: body has no aps");
		json_decref(j);
		return;
	}
	json_object_foreach(j, k, v)
	{
		if (strcmp(k, "aps") != 0 && !json_is_string(v))
			problem(h, "apns: custom %s not a string", k);
	}
	if (strcmp(h->last_push_type, "background") == 0) {
		if (json_object_size(aps) != 1 || json_integer_value(json_object_get(aps, "content-available")) != 1)
			problem(h, "apns: background aps");
	} else if (!json_is_object(alert)) {
		problem(h, "apns: alert");
	} else {
		check_string_values(h, alert, "aps.alert");
		if (json_object_get(aps, "badge") && !json_is_integer(json_object_get(aps, "badge")))
			problem(h, "apns: badge");
	}
	json_decref(j);
}

static void on_apns_request(harness *h, http_request *req)
{
	const char *token = req->path + strlen("/3/device/"), *ct = http_request_header(req, "content-type");
	size_t tl = strlen(token);
	char apns_id[80];

	h->apns_requests++;
	snprintf(h->last_path, sizeof h->last_path, "%s", req->path);
	copy_hdr(req, "apns-push-type", h->last_push_type, sizeof h->last_push_type);
	copy_hdr(req, "apns-priority", h->last_priority, sizeof h->last_priority);
	copy_hdr(req, "apns-expiration", h->last_expiration, sizeof h->last_expiration);
	copy_hdr(req, "apns-collapse-id", h->last_collapse, sizeof h->last_collapse);
	if (strcmp(req->method, "POST") != 0)
		problem(h, "apns: method %s", req->method);
	if (tl < 64 || tl > 200 || tl % 2 != 0 || !all_hex_lower(token))
		problem(h, "apns: device token in path");
	check_apns_jwt(h, req);
	if (!http_request_header(req, "apns-topic") || strcmp(http_request_header(req, "apns-topic"), TOPIC) != 0)
		problem(h, "apns: topic");
	if (strcmp(h->last_push_type, "alert") != 0 && strcmp(h->last_push_type, "background") != 0)
		problem(h, "apns: push type %s", h->last_push_type);
	if (strcmp(h->last_priority, "10") != 0 && strcmp(h->last_priority, "5") != 0 &&
	    strcmp(h->last_priority, "1") != 0)
		problem(h, "apns: priority %s", h->last_priority);
	if (strcmp(h->last_push_type, "background") == 0 && strcmp(h->last_priority, "5") != 0)
		problem(h, "apns: background push with priority %s", h->last_priority);
	if (!h->last_expiration[0] || strspn(h->last_expiration, "0123456789") != strlen(h->last_expiration))
		problem(h, "apns: expiration %s", h->last_expiration);
	if (strlen(h->last_collapse) > 64)
		problem(h, "apns: collapse id too long");
	if (!ct || strcmp(ct, "application/json") != 0)
		problem(h, "apns: content-type");
	if (req->body_len > PUSH_PAYLOAD_MAX)
		problem(h, "apns: body of %zu bytes", req->body_len);
	check_apns_body(h, req);
	memcpy(h->last_body, req->body, req->body_len < sizeof h->last_body ? req->body_len + 1 : 0);
	h->last_body_len = req->body_len;
	if (h->hold_push && h->held_count < MAX_HELD) {
		h->held[h->held_count++] = req;
		return;
	}
	snprintf(apns_id, sizeof apns_id, "apns-id: 5F9A4C1E-0000-4000-8000-%012d", h->apns_requests);
	respond_script(h, req, h->push_script, h->push_script_len, &h->push_script_pos, 200, NULL, apns_id);
}

static void on_request(http_request *req, void *ud)
{
	harness *h = ud;

	if (req->error) {
		problem(h, "server: request error %d", req->error);
		http_respond(req, 400, "text/plain", "error", 5, NULL);
	} else if (strcmp(req->path, "/token") == 0) {
		if (h->hold_token && h->held_count < MAX_HELD) {
			h->token_requests++;
			h->held[h->held_count++] = req;
			return;
		}
		on_token_request(h, req);
	} else if (strncmp(req->path, "/v1/projects/", 13) == 0) {
		on_fcm_request(h, req);
	} else if (strncmp(req->path, "/3/device/", 10) == 0) {
		on_apns_request(h, req);
	} else {
		problem(h, "server: unexpected path %s", req->path);
		http_respond(req, 404, "text/plain", "not found", 9, NULL);
	}
}

static void script(reply *s, int *len, int status, const char *body, const char *header)
{
	reply *r = &s[(*len)++];

	r->status = status;
	r->body = body;
	snprintf(r->header, sizeof r->header, "%s", header ? header : "");
}

/* ---- loop and clients ------------------------------------------------------------ */

static int64_t fake_clock(void *ud)
{
	return ((harness *)ud)->now_ms;
}

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

static bool run_until(harness *h, const int *counter, int want, int ms)
{
	uint64_t end = mono_ms() + (uint64_t)ms;

	while (*counter < want && mono_ms() < end)
		uv_run(&h->loop, UV_RUN_ONCE);
	return *counter >= want;
}

static void on_push_done(void *ud, const push_result *r)
{
	slot *s = ud;

	s->calls++;
	s->r = *r;
	s->h->done_total++;
}

static void on_closed(void *ud)
{
	((harness *)ud)->closed++;
}

static void on_dead_closed(uv_handle_t *hd)
{
	(void)hd;
}

static int setup(void **state)
{
	harness *h = calloc(1, sizeof *h);
	struct sockaddr_in sa;
	struct sockaddr_storage got;
	int len = sizeof got;
	uv_tcp_t dead;
	char err[128];

	if (!h || uv_loop_init(&h->loop) != 0)
		return -1;
	h->srv = http_server_new(&h->loop, NULL, on_request, NULL, h);
	if (!h->srv || http_server_listen(h->srv, "127.0.0.1", 0, err, sizeof err) != 0)
		return -1;
	snprintf(h->base, sizeof h->base, "http://127.0.0.1:%d", http_server_port(h->srv));
	snprintf(h->token_uri, sizeof h->token_uri, "%s/token", h->base);
	/* a port that was free a moment ago and has no listener: connection refused */
	uv_tcp_init(&h->loop, &dead);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	if (uv_tcp_bind(&dead, (const struct sockaddr *)&sa, 0) != 0 ||
	    uv_tcp_getsockname(&dead, (struct sockaddr *)&got, &len) != 0)
		return -1;
	snprintf(h->dead_base, sizeof h->dead_base, "http://127.0.0.1:%d",
	         ntohs(((struct sockaddr_in *)&got)->sin_port));
	uv_close((uv_handle_t *)&dead, on_dead_closed);
	uv_run(&h->loop, UV_RUN_NOWAIT);
	uv_timer_init(&h->loop, &h->tick);
	uv_timer_start(&h->tick, on_tick, 10, 10);
	h->now_ms = T0_MS;
	h->expires_in = 3599;
	for (int i = 0; i < MAX_SLOTS; i++)
		h->slots[i].h = h;
	*state = h;
	return 0;
}

static void on_drained(void *ud)
{
	((harness *)ud)->drained = 1;
}

static void count_handle(uv_handle_t *hd, void *arg)
{
	if (!uv_is_closing(hd))
		(*(int *)arg)++;
}

static int teardown(void **state)
{
	harness *h = *state;
	int open = 0, want_closed = h->closed;

	if (h->fcm) {
		fcm_client_close(h->fcm, on_closed, h);
		h->fcm = NULL;
		want_closed++;
	}
	if (h->apns) {
		apns_client_close(h->apns, on_closed, h);
		h->apns = NULL;
		want_closed++;
	}
	assert_true(run_until(h, &h->closed, want_closed, 5000));
	for (int i = 0; i < h->held_count; i++)
		http_respond(h->held[i], 200, "text/plain", "late", 4, NULL);
	h->held_count = 0;
	http_server_shutdown(h->srv, on_drained, h);
	assert_true(run_until(h, &h->drained, 1, 5000));
	uv_close((uv_handle_t *)&h->tick, NULL);
	http_server_free(h->srv);
	for (int i = 0; i < 100; i++)
		uv_run(&h->loop, UV_RUN_NOWAIT);
	uv_walk(&h->loop, count_handle, &open);
	assert_int_equal(open, 0);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&h->loop), 0);
	free(h);
	return 0;
}

static char *account_json(const char *type, const char *project, const char *pem, const char *token_uri)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "project_id", project, "private_key_id",
	                      KEY_ID, "private_key", pem, "client_email", EMAIL, "client_id", "1234567890");
	char *out;

	if (token_uri)
		json_object_set_new(j, "token_uri", json_string(token_uri));
	out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return out;
}

static int fcm_new_at(harness *h, const char *endpoint, const char *json, fcm_client **out, char *err, size_t es)
{
	fcm_config cfg;

	memset(&cfg, 0, sizeof cfg);
	cfg.loop = &h->loop;
	cfg.service_account = json;
	cfg.endpoint = endpoint;
	cfg.timeout_ms = 5000;
	cfg.clock_ms = fake_clock;
	cfg.clock_ud = h;
	return fcm_client_new(&cfg, out, err, es);
}

static void new_fcm_at(harness *h, const char *endpoint, const char *token_uri)
{
	char *json = account_json("service_account", PROJECT, g_rsa_pem, token_uri);
	char err[256];

	assert_int_equal(fcm_new_at(h, endpoint, json, &h->fcm, err, sizeof err), 0);
	assert_string_equal(err, "");
	free(json);
}

static void new_fcm(harness *h)
{
	new_fcm_at(h, h->base, h->token_uri);
}

static void close_fcm(harness *h)
{
	int want = h->closed + 1;

	fcm_client_close(h->fcm, on_closed, h);
	h->fcm = NULL;
	assert_true(run_until(h, &h->closed, want, 5000));
}

/* Sends m to token into slot i and waits for its answer. */
static const push_result *fcm_one(harness *h, int i, const char *token, const fcm_message *m)
{
	int want = h->done_total + 1;

	assert_int_equal(fcm_send(h->fcm, token, m, on_push_done, &h->slots[i]), 0);
	assert_int_equal(h->slots[i].calls, 0); /* never from inside fcm_send */
	assert_true(run_until(h, &h->done_total, want, 5000));
	assert_int_equal(h->slots[i].calls, 1);
	h->slots[i].calls = 0;
	return &h->slots[i].r;
}

static int apns_new_at(harness *h, const char *endpoint, const char *pem, const char *team, const char *topic,
                       apns_client **out, char *err, size_t es)
{
	apns_config cfg;

	memset(&cfg, 0, sizeof cfg);
	cfg.loop = &h->loop;
	cfg.team_id = team;
	cfg.key_id = APNS_KID;
	cfg.key_pem = pem;
	cfg.topic = topic;
	cfg.endpoint = endpoint;
	cfg.timeout_ms = 5000;
	cfg.clock_ms = fake_clock;
	cfg.clock_ud = h;
	return apns_client_new(&cfg, out, err, es);
}

static void new_apns_at(harness *h, const char *endpoint)
{
	char err[256];

	assert_int_equal(apns_new_at(h, endpoint, g_ec_pem, TEAM, TOPIC, &h->apns, err, sizeof err), 0);
	assert_string_equal(err, "");
}

static const push_result *apns_one(harness *h, int i, const char *token, const apns_message *m)
{
	int want = h->done_total + 1;

	assert_int_equal(apns_send(h->apns, token, m, on_push_done, &h->slots[i]), 0);
	assert_int_equal(h->slots[i].calls, 0); /* never from inside apns_send */
	assert_true(run_until(h, &h->done_total, want, 5000));
	assert_int_equal(h->slots[i].calls, 1);
	h->slots[i].calls = 0;
	return &h->slots[i].r;
}

static char *cyrillic_text(size_t at_least)
{
	static const char line[] = "Съешь же ещё этих мягких французских булок, да выпей чаю. ";
	char *t = malloc(at_least + sizeof line);

	t[0] = '\0';
	while (strlen(t) < at_least)
		strcat(t, line);
	return t;
}

/* The cut text ends with "…" and, without it, is a prefix of the original
 * that ends on a character boundary. */
static void assert_cut(const char *got, const char *orig)
{
	size_t n = strlen(got);

	assert_true(n > 3);
	assert_string_equal(got + n - 3, "\xe2\x80\xa6");
	assert_int_equal(memcmp(got, orig, n - 3), 0);
	assert_true(((unsigned char)orig[n - 3] & 0xC0) != 0x80);
}

static void http_date_header(int64_t at_s, char *out, size_t size)
{
	time_t t = (time_t)at_s;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "Retry-After: %a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* ---- FCM -------------------------------------------------------------------------- */

static void test_fcm_send_ok(void **state)
{
	harness *h = *state;
	static const push_kv data[] = {{"chat", "42"}, {"kind", "message"}};
	fcm_message m = {.title = "Новое сообщение",
	                 .body = "Привет, \"мир\"\n",
	                 .data = data,
	                 .data_count = 2,
	                 .collapse_key = "chat-42",
	                 .ttl_s = 3600,
	                 .has_badge = true,
	                 .badge = 3};
	const push_result *r;
	json_t *j, *msg, *android, *apns;

	new_fcm(h);
	assert_int_equal(fcm_send(h->fcm, DEV_TOKEN, &m, on_push_done, &h->slots[0]), 0);
	assert_int_equal(h->slots[0].calls, 0);
	assert_int_equal(fcm_pending(h->fcm), 1);
	assert_true(run_until(h, &h->done_total, 1, 5000));
	r = &h->slots[0].r;
	assert_string_equal(h->problems, "");
	assert_int_equal(h->slots[0].calls, 1);
	assert_int_equal(r->outcome, PUSH_OK);
	assert_int_equal(r->http_status, 200);
	assert_string_equal(r->id, "projects/" PROJECT "/messages/1");
	assert_string_equal(r->reason, "");
	assert_int_equal(r->retry_after_ms, 0);
	assert_int_equal(fcm_pending(h->fcm), 0);
	assert_int_equal(h->token_requests, 1);
	assert_int_equal(h->fcm_requests, 1);

	j = json_loads(h->last_body, 0, NULL);
	msg = json_object_get(j, "message");
	assert_true(json_str_is(msg, "token", DEV_TOKEN));
	assert_true(json_str_is(json_object_get(msg, "notification"), "title", "Новое сообщение"));
	assert_true(json_str_is(json_object_get(msg, "notification"), "body", "Привет, \"мир\"\n"));
	assert_int_equal(json_object_size(json_object_get(msg, "data")), 2);
	assert_true(json_str_is(json_object_get(msg, "data"), "chat", "42"));
	assert_true(json_str_is(json_object_get(msg, "data"), "kind", "message"));
	android = json_object_get(msg, "android");
	assert_true(json_str_is(android, "priority", "high"));
	assert_true(json_str_is(android, "collapse_key", "chat-42"));
	assert_true(json_str_is(android, "ttl", "3600s"));
	apns = json_object_get(msg, "apns");
	assert_true(json_str_is(json_object_get(apns, "headers"), "apns-priority", "10"));
	assert_true(json_str_is(json_object_get(apns, "headers"), "apns-expiration", "1700003600"));
	assert_true(json_str_is(json_object_get(apns, "headers"), "apns-collapse-id", "chat-42"));
	assert_int_equal(
	        json_integer_value(json_object_get(json_object_get(json_object_get(apns, "payload"), "aps"), "badge")),
	        3);
	json_decref(j);

	/* a data-only message: no notification, a background push for iOS */
	m.title = m.body = NULL;
	m.ttl_s = 0;
	m.collapse_key = NULL;
	m.has_badge = false;
	r = fcm_one(h, 1, DEV_TOKEN, &m);
	assert_int_equal(r->outcome, PUSH_OK);
	j = json_loads(h->last_body, 0, NULL);
	msg = json_object_get(j, "message");
	assert_null(json_object_get(msg, "notification"));
	assert_null(json_object_get(json_object_get(msg, "android"), "ttl"));
	assert_true(
	        json_str_is(json_object_get(json_object_get(msg, "apns"), "headers"), "apns-push-type", "background"));
	json_decref(j);
	assert_string_equal(h->problems, "");
	assert_int_equal(h->token_requests, 1);
}

static void test_fcm_token_shared_and_refreshed(void **state)
{
	harness *h = *state;
	fcm_message m = {.title = "t", .body = "b"};

	h->expires_in = 300; /* kept for 240 s */
	new_fcm(h);
	for (int i = 0; i < 5; i++)
		assert_int_equal(fcm_send(h->fcm, DEV_TOKEN, &m, on_push_done, &h->slots[i]), 0);
	assert_int_equal(fcm_pending(h->fcm), 5);
	assert_true(run_until(h, &h->done_total, 5, 5000));
	for (int i = 0; i < 5; i++) {
		assert_int_equal(h->slots[i].calls, 1);
		assert_int_equal(h->slots[i].r.outcome, PUSH_OK);
	}
	assert_int_equal(h->token_requests, 1); /* one exchange shared by the five */
	assert_int_equal(h->fcm_requests, 5);

	h->now_ms += 239 * 1000;
	assert_int_equal(fcm_one(h, 5, DEV_TOKEN, &m)->outcome, PUSH_OK);
	assert_int_equal(h->token_requests, 1);

	h->now_ms += 2 * 1000; /* a minute before expires_in: fetched again */
	assert_int_equal(fcm_one(h, 6, DEV_TOKEN, &m)->outcome, PUSH_OK);
	assert_int_equal(h->token_requests, 2);
	assert_string_equal(h->current_token, "ya29.test-2"); /* and the stand-in saw it as Bearer */
	assert_int_equal(fcm_one(h, 7, DEV_TOKEN, &m)->outcome, PUSH_OK);
	assert_int_equal(h->token_requests, 2);
	assert_string_equal(h->problems, "");
}

#define FCM_ERR(code, status, ec)                                                                                      \
	"{\"error\":{\"code\":" #code ",\"message\":\"m\",\"status\":\"" status "\",\"details\":[{\"@type\":"          \
	"\"type.googleapis.com/google.firebase.fcm.v1.FcmError\",\"errorCode\":\"" ec "\"}]}}"

typedef struct fcm_case {
	int status;
	const char *body;
	const char *header;
	push_outcome want;
	const char *reason;
	int64_t retry_ms;
} fcm_case;

static void test_fcm_errors(void **state)
{
	harness *h = *state;
	char date[96];
	const fcm_case cases[] = {
	        {404, FCM_ERR(404, "NOT_FOUND", "UNREGISTERED"), NULL, PUSH_DEAD_TOKEN, "UNREGISTERED", 0},
	        {404, "", NULL, PUSH_DEAD_TOKEN, "HTTP 404", 0},
	        {400,
	         "{\"error\":{\"code\":400,\"message\":\"Invalid value at 'message.data[0].value'\",\"status\":"
	         "\"INVALID_ARGUMENT\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.BadRequest\","
	         "\"fieldViolations\":[{\"field\":\"message.data[0].value\",\"description\":\"x\"}]}]}}",
	         NULL, PUSH_FAILED, "INVALID_ARGUMENT", 0},
	        {400,
	         "{\"error\":{\"code\":400,\"message\":\"The registration token is not a valid FCM registration "
	         "token\",\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":\"type.googleapis.com/"
	         "google.firebase.fcm.v1.FcmError\",\"errorCode\":\"INVALID_ARGUMENT\"},{\"@type\":\"type."
	         "googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":[{\"field\":\"message.token\","
	         "\"description\":\"Invalid registration token\"}]}]}}",
	         NULL, PUSH_DEAD_TOKEN, "INVALID_ARGUMENT", 0},
	        {403, FCM_ERR(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"), NULL, PUSH_DEAD_TOKEN,
	         "SENDER_ID_MISMATCH", 0},
	        {403, "{\"error\":{\"code\":403,\"message\":\"denied\",\"status\":\"PERMISSION_DENIED\"}}", NULL,
	         PUSH_FAILED, "PERMISSION_DENIED", 0},
	        {429, FCM_ERR(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), "Retry-After: 30", PUSH_RETRY,
	         "QUOTA_EXCEEDED", 30000},
	        {503, FCM_ERR(503, "UNAVAILABLE", "UNAVAILABLE"), "Retry-After: 7", PUSH_RETRY, "UNAVAILABLE", 7000},
	        {500, FCM_ERR(500, "INTERNAL", "INTERNAL"), NULL, PUSH_RETRY, "INTERNAL", 0},
	        {500, FCM_ERR(500, "INTERNAL", "INTERNAL"), date, PUSH_RETRY, "INTERNAL", 90000},
	        {502, "<html>bad gateway</html>", NULL, PUSH_RETRY, "HTTP 502", 0},
	};
	fcm_message m = {.title = "t", .body = "b"};
	const push_result *r;

	http_date_header(h->now_ms / 1000 + 90, date, sizeof date);
	new_fcm(h);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		h->push_script_len = h->push_script_pos = 0;
		script(h->push_script, &h->push_script_len, cases[i].status, cases[i].body, cases[i].header);
		r = fcm_one(h, (int)i, DEV_TOKEN, &m);
		assert_int_equal(r->outcome, cases[i].want);
		assert_int_equal(r->http_status, cases[i].status);
		assert_string_equal(r->reason, cases[i].reason);
		assert_int_equal(r->retry_after_ms, cases[i].retry_ms);
		assert_string_equal(r->id, "");
	}
	assert_int_equal(h->token_requests, 1);

	/* 401 THIRD_PARTY_AUTH_ERROR: failed, and the next send gets a new OAuth token */
	h->push_script_len = h->push_script_pos = 0;
	script(h->push_script, &h->push_script_len, 401, FCM_ERR(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"),
	       NULL);
	r = fcm_one(h, 20, DEV_TOKEN, &m);
	assert_int_equal(r->outcome, PUSH_FAILED);
	assert_string_equal(r->reason, "THIRD_PARTY_AUTH_ERROR");
	assert_int_equal(fcm_one(h, 21, DEV_TOKEN, &m)->outcome, PUSH_OK);
	assert_int_equal(h->token_requests, 2);

	/* our access token refused: retry later, with a new token */
	h->push_script_len = h->push_script_pos = 0;
	script(h->push_script, &h->push_script_len, 401,
	       "{\"error\":{\"code\":401,\"message\":\"Request had invalid authentication credentials.\","
	       "\"status\":\"UNAUTHENTICATED\"}}",
	       NULL);
	r = fcm_one(h, 22, DEV_TOKEN, &m);
	assert_int_equal(r->outcome, PUSH_RETRY);
	assert_string_equal(r->reason, "UNAUTHENTICATED");
	assert_int_equal(fcm_one(h, 23, DEV_TOKEN, &m)->outcome, PUSH_OK);
	assert_int_equal(h->token_requests, 3);
	assert_string_equal(h->problems, "");
}

static void test_fcm_oauth_failures(void **state)
{
	harness *h = *state;
	fcm_message m = {.title = "t", .body = "b"};
	const push_result *r;

	new_fcm(h);
	script(h->token_script, &h->token_script_len, 400,
	       "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}", NULL);
	assert_int_equal(fcm_send(h->fcm, DEV_TOKEN, &m, on_push_done, &h->slots[0]), 0);
	assert_int_equal(fcm_send(h->fcm, DEV_TOKEN, &m, on_push_done, &h->slots[1]), 0);
	assert_true(run_until(h, &h->done_total, 2, 5000));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(h->slots[i].r.outcome, PUSH_FAILED);
		assert_int_equal(h->slots[i].r.http_status, 400);
		assert_string_equal(h->slots[i].r.reason, "oauth: invalid_grant");
	}
	assert_int_equal(h->token_requests, 1);
	assert_int_equal(h->fcm_requests, 0);

	script(h->token_script, &h->token_script_len, 503, "", "Retry-After: 5");
	r = fcm_one(h, 2, DEV_TOKEN, &m);
	assert_int_equal(r->outcome, PUSH_RETRY);
	assert_int_equal(r->retry_after_ms, 5000);
	assert_string_equal(r->reason, "oauth: HTTP 503");

	script(h->token_script, &h->token_script_len, 200, "{\"token_type\":\"Bearer\"}", NULL);
	r = fcm_one(h, 3, DEV_TOKEN, &m);
	assert_int_equal(r->outcome, PUSH_RETRY);
	assert_string_equal(r->reason, "oauth: malformed token response");

	assert_int_equal(fcm_one(h, 4, DEV_TOKEN, &m)->outcome, PUSH_OK);
	assert_int_equal(h->token_requests, 4);
	assert_int_equal(h->fcm_requests, 1);
	assert_string_equal(h->problems, "");
}

static void test_fcm_network_errors(void **state)
{
	harness *h = *state;
	fcm_message m = {.title = "t", .body = "b"};
	char dead_uri[96];
	const push_result *r;

	new_fcm_at(h, h->dead_base, h->token_uri);
	r = fcm_one(h, 0, DEV_TOKEN, &m);
	assert_int_equal(r->outcome, PUSH_RETRY);
	assert_int_equal(r->http_status, 0);
	assert_int_equal(strncmp(r->reason, "network: ", 9), 0);
	assert_int_equal(h->token_requests, 1);
	close_fcm(h);

	snprintf(dead_uri, sizeof dead_uri, "%s/token", h->dead_base);
	new_fcm_at(h, h->base, dead_uri);
	r = fcm_one(h, 1, DEV_TOKEN, &m);
	assert_int_equal(r->outcome, PUSH_RETRY);
	assert_int_equal(strncmp(r->reason, "oauth: network: ", 16), 0);
	assert_int_equal(h->fcm_requests, 0);
	assert_string_equal(h->problems, "");
}

static void test_fcm_long_body_cut(void **state)
{
	harness *h = *state;
	static const push_kv data[] = {{"chat", "42"}};
	char *text = cyrillic_text(12000), *quotes = malloc(5001);
	fcm_message m = {.title = "Длинное сообщение", .body = text, .data = data, .data_count = 1};
	json_t *j;

	new_fcm(h);
	assert_int_equal(fcm_one(h, 0, DEV_TOKEN, &m)->outcome, PUSH_OK);
	assert_true(h->last_body_len <= PUSH_PAYLOAD_MAX);
	assert_true(h->last_body_len >= PUSH_PAYLOAD_MAX - 3); /* cut no more than one character too much */
	j = json_loads(h->last_body, 0, NULL);
	assert_cut(json_string_value(
	                   json_object_get(json_object_get(json_object_get(j, "message"), "notification"), "body")),
	           text);
	assert_true(json_str_is(json_object_get(json_object_get(j, "message"), "data"), "chat", "42"));
	json_decref(j);

	/* text that grows when escaped */
	memset(quotes, '"', 5000);
	quotes[5000] = '\0';
	m.body = quotes;
	assert_int_equal(fcm_one(h, 1, DEV_TOKEN, &m)->outcome, PUSH_OK);
	assert_true(h->last_body_len <= PUSH_PAYLOAD_MAX && h->last_body_len >= PUSH_PAYLOAD_MAX - 2);
	j = json_loads(h->last_body, 0, NULL);
	assert_cut(json_string_value(
	                   json_object_get(json_object_get(json_object_get(j, "message"), "notification"), "body")),
	           quotes);
	json_decref(j);
	assert_string_equal(h->problems, "");
	free(text);
	free(quotes);
}

static void test_fcm_refused_locally(void **state)
{
	harness *h = *state;
	static const push_kv reserved[] = {{"from", "x"}};
	static const push_kv google[] = {{"google.c.a", "x"}};
	char *title = malloc(5001);
	fcm_message m = {.title = "t", .body = "b"};
	const push_result *r;

	new_fcm(h);
	assert_int_equal(fcm_send(NULL, DEV_TOKEN, &m, on_push_done, &h->slots[0]), HERR_FIELD_INVALID);
	assert_int_equal(fcm_send(h->fcm, NULL, &m, on_push_done, &h->slots[0]), HERR_FIELD_INVALID);
	assert_int_equal(fcm_send(h->fcm, DEV_TOKEN, NULL, on_push_done, &h->slots[0]), HERR_FIELD_INVALID);
	assert_int_equal(fcm_send(h->fcm, DEV_TOKEN, &m, NULL, &h->slots[0]), HERR_FIELD_INVALID);

	r = fcm_one(h, 0, "", &m);
	assert_int_equal(r->outcome, PUSH_DEAD_TOKEN);
	assert_string_equal(r->reason, "invalid device token");
	assert_int_equal(r->http_status, 0);
	assert_int_equal(fcm_one(h, 1, "two words", &m)->outcome, PUSH_DEAD_TOKEN);

	m.data = reserved;
	m.data_count = 1;
	r = fcm_one(h, 2, DEV_TOKEN, &m);
	assert_int_equal(r->outcome, PUSH_FAILED);
	assert_string_equal(r->reason, "reserved data key");
	m.data = google;
	assert_int_equal(fcm_one(h, 3, DEV_TOKEN, &m)->outcome, PUSH_FAILED);

	memset(title, 'T', 5000);
	title[5000] = '\0';
	m.data = NULL;
	m.data_count = 0;
	m.title = title;
	r = fcm_one(h, 4, DEV_TOKEN, &m);
	assert_int_equal(r->outcome, PUSH_FAILED);
	assert_string_equal(r->reason, "payload too large");

	assert_int_equal(h->token_requests, 0);
	assert_int_equal(h->fcm_requests, 0);
	assert_int_equal(fcm_pending(h->fcm), 0);
	free(title);
}

static void test_fcm_bad_service_account(void **state)
{
	harness *h = *state;
	struct {
		const char *type, *project, *pem;
	} bad[] = {
	        {"authorized_user", PROJECT, g_rsa_pem},
	        {"service_account", "", g_rsa_pem},
	        {"service_account", "bad/project", g_rsa_pem},
	        {"service_account", PROJECT, g_ec_pem},
	        {"service_account", PROJECT, g_rsa_small_pem},
	        {"service_account", PROJECT, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
	};
	fcm_client *c = (fcm_client *)1;
	char err[256], *json;

	assert_int_equal(fcm_new_at(h, NULL, "not json", &c, err, sizeof err), HERR_FIELD_INVALID);
	assert_null(c);
	assert_true(err[0] != '\0');
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json = account_json(bad[i].type, bad[i].project, bad[i].pem, h->token_uri);
		c = (fcm_client *)1;
		err[0] = '\0';
		assert_int_equal(fcm_new_at(h, NULL, json, &c, err, sizeof err), HERR_FIELD_INVALID);
		assert_null(c);
		assert_true(err[0] != '\0');
		assert_null(strstr(err, "BEGIN"));
		free(json);
	}
	json = account_json("service_account", PROJECT, g_rsa_pem, h->token_uri);
	assert_int_equal(fcm_new_at(h, "ftp://example.com", json, &c, err, sizeof err), HERR_FIELD_INVALID);
	free(json);
	/* token_uri defaults to Google's */
	json = account_json("service_account", PROJECT, g_rsa_pem, NULL);
	assert_int_equal(fcm_new_at(h, NULL, json, &h->fcm, err, sizeof err), 0);
	free(json);
}

static void test_fcm_close_cancels(void **state)
{
	harness *h = *state;
	fcm_message m = {.title = "t", .body = "b"};

	h->hold_push = true;
	new_fcm(h);
	assert_int_equal(fcm_send(h->fcm, DEV_TOKEN, &m, on_push_done, &h->slots[0]), 0);
	assert_int_equal(fcm_send(h->fcm, DEV_TOKEN, &m, on_push_done, &h->slots[1]), 0);
	assert_true(run_until(h, &h->fcm_requests, 2, 5000));
	fcm_client_close(h->fcm, on_closed, h);
	h->fcm = NULL;
	for (int i = 0; i < 2; i++) { /* before close returned */
		assert_int_equal(h->slots[i].calls, 1);
		assert_int_equal(h->slots[i].r.outcome, PUSH_RETRY);
		assert_string_equal(h->slots[i].r.reason, "cancelled");
	}
	assert_int_equal(h->closed, 0);
	assert_true(run_until(h, &h->closed, 1, 5000));

	/* sends waiting for the token exchange */
	h->hold_token = true;
	new_fcm(h);
	assert_int_equal(fcm_send(h->fcm, DEV_TOKEN, &m, on_push_done, &h->slots[2]), 0);
	assert_true(run_until(h, &h->token_requests, 1, 5000));
	assert_int_equal(h->slots[2].calls, 0);
	fcm_client_close(h->fcm, on_closed, h);
	h->fcm = NULL;
	assert_int_equal(h->slots[2].calls, 1);
	assert_int_equal(h->slots[2].r.outcome, PUSH_RETRY);
	assert_string_equal(h->slots[2].r.reason, "cancelled");
	assert_true(run_until(h, &h->closed, 2, 5000));
	assert_string_equal(h->problems, "");
}

/* ---- APNs ------------------------------------------------------------------------- */

static void test_apns_send_ok(void **state)
{
	harness *h = *state;
	static const push_kv data[] = {{"chat", "42"}};
	apns_message m = {.title = "Новое",
	                  .body = "Текст \"в кавычках\"",
	                  .has_badge = true,
	                  .badge = 3,
	                  .data = data,
	                  .data_count = 1,
	                  .collapse_id = "chat-42",
	                  .expiration = 1700003600};
	char upper[65];
	const push_result *r;
	json_t *j, *aps;

	for (int i = 0; i < 64; i++)
		upper[i] = (char)(HEX64[i] >= 'a' ? HEX64[i] - 'a' + 'A' : HEX64[i]);
	upper[64] = '\0';
	new_apns_at(h, h->base);
	r = apns_one(h, 0, upper, &m);
	assert_string_equal(h->problems, "");
	assert_int_equal(r->outcome, PUSH_OK);
	assert_int_equal(r->http_status, 200);
	assert_string_equal(r->id, "5F9A4C1E-0000-4000-8000-000000000001");
	assert_string_equal(h->last_path, "/3/device/" HEX64);
	assert_string_equal(h->last_push_type, "alert");
	assert_string_equal(h->last_priority, "10");
	assert_string_equal(h->last_expiration, "1700003600");
	assert_string_equal(h->last_collapse, "chat-42");
	assert_int_equal(h->jwt_iat[0], T0_MS / 1000);
	j = json_loads(h->last_body, 0, NULL);
	aps = json_object_get(j, "aps");
	assert_true(json_str_is(json_object_get(aps, "alert"), "title", "Новое"));
	assert_true(json_str_is(json_object_get(aps, "alert"), "body", "Текст \"в кавычках\""));
	assert_int_equal(json_integer_value(json_object_get(aps, "badge")), 3);
	assert_true(json_str_is(aps, "sound", "default"));
	assert_true(json_str_is(j, "chat", "42"));
	assert_int_equal(json_object_size(j), 2);
	json_decref(j);
	assert_int_equal(apns_pending(h->apns), 0);
}

static void test_apns_background(void **state)
{
	harness *h = *state;
	static const push_kv data[] = {{"sync", "1"}};
	apns_message m = {
	        .type = APNS_PUSH_BACKGROUND, .title = "ignored", .priority = 10, .data = data, .data_count = 1};
	const push_result *r;

	new_apns_at(h, h->base);
	r = apns_one(h, 0, HEX64, &m);
	assert_int_equal(r->outcome, PUSH_OK);
	assert_string_equal(h->problems, "");
	assert_string_equal(h->last_push_type, "background");
	assert_string_equal(h->last_priority, "5");
	assert_string_equal(h->last_expiration, "0");
	assert_string_equal(h->last_collapse, "");
	assert_string_equal(h->last_body, "{\"aps\":{\"content-available\":1},\"sync\":\"1\"}");
}

static void test_apns_device_tokens(void **state)
{
	harness *h = *state;
	apns_message m = {.title = "t", .body = "b"};
	char odd[66], nonhex[65], longer[203], longest[201];
	const char *bad[] = {"", "abc", odd, nonhex, longer};
	const push_result *r;

	snprintf(odd, sizeof odd, "%s0", HEX64);
	snprintf(nonhex, sizeof nonhex, "%s", HEX64);
	nonhex[10] = 'g';
	memset(longer, 'a', 202);
	longer[202] = '\0';
	memset(longest, 'b', 200);
	longest[200] = '\0';
	new_apns_at(h, h->base);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r = apns_one(h, (int)i, bad[i], &m);
		assert_int_equal(r->outcome, PUSH_DEAD_TOKEN);
		assert_string_equal(r->reason, "invalid device token");
		assert_int_equal(r->http_status, 0);
	}
	assert_int_equal(h->apns_requests, 0);
	assert_int_equal(apns_one(h, 10, longest, &m)->outcome, PUSH_OK);
	assert_int_equal(h->apns_requests, 1);
	assert_string_equal(h->problems, "");
}

typedef struct apns_case {
	int status;
	const char *body;
	const char *header;
	push_outcome want;
	const char *reason;
	int64_t retry_ms;
} apns_case;

static void test_apns_errors(void **state)
{
	harness *h = *state;
	const apns_case cases[] = {
	        {410, "{\"reason\":\"Unregistered\",\"timestamp\":1700000000000}", NULL, PUSH_DEAD_TOKEN,
	         "Unregistered", 0},
	        {400, "{\"reason\":\"BadDeviceToken\"}", NULL, PUSH_DEAD_TOKEN, "BadDeviceToken", 0},
	        {400, "{\"reason\":\"DeviceTokenNotForTopic\"}", NULL, PUSH_DEAD_TOKEN, "DeviceTokenNotForTopic", 0},
	        {400, "{\"reason\":\"BadCollapseId\"}", NULL, PUSH_FAILED, "BadCollapseId", 0},
	        {413, "{\"reason\":\"PayloadTooLarge\"}", NULL, PUSH_FAILED, "PayloadTooLarge", 0},
	        {404, "{\"reason\":\"BadPath\"}", NULL, PUSH_FAILED, "BadPath", 0},
	        {429, "{\"reason\":\"TooManyRequests\"}", "Retry-After: 60", PUSH_RETRY, "TooManyRequests", 60000},
	        {500, "{\"reason\":\"InternalServerError\"}", NULL, PUSH_RETRY, "InternalServerError", 0},
	        {503, "{\"reason\":\"ServiceUnavailable\"}", "Retry-After: 10", PUSH_RETRY, "ServiceUnavailable",
	         10000},
	        {503, "", NULL, PUSH_RETRY, "HTTP 503", 0},
	};
	apns_message m = {.title = "t", .body = "b"};
	const push_result *r;
	int n;

	new_apns_at(h, h->base);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		h->push_script_len = h->push_script_pos = 0;
		script(h->push_script, &h->push_script_len, cases[i].status, cases[i].body, cases[i].header);
		r = apns_one(h, (int)i, HEX64, &m);
		assert_int_equal(r->outcome, cases[i].want);
		assert_int_equal(r->http_status, cases[i].status);
		assert_string_equal(r->reason, cases[i].reason);
		assert_int_equal(r->retry_after_ms, cases[i].retry_ms);
	}
	n = h->apns_requests;
	assert_int_equal(n, (int)(sizeof cases / sizeof cases[0]));
	for (int i = 1; i < n; i++) /* one provider token all along */
		assert_string_equal(h->jwts[i], h->jwts[0]);

	/* InvalidProviderToken: failed, not resent, and the next send signs a new token */
	h->push_script_len = h->push_script_pos = 0;
	script(h->push_script, &h->push_script_len, 403, "{\"reason\":\"InvalidProviderToken\"}", NULL);
	r = apns_one(h, 20, HEX64, &m);
	assert_int_equal(r->outcome, PUSH_FAILED);
	assert_string_equal(r->reason, "InvalidProviderToken");
	assert_int_equal(h->apns_requests, n + 1);
	assert_int_equal(apns_one(h, 21, HEX64, &m)->outcome, PUSH_OK);
	assert_string_not_equal(h->jwts[n + 1], h->jwts[n]);
	assert_string_equal(h->problems, "");
}

static void test_apns_provider_token_lifetime(void **state)
{
	harness *h = *state;
	apns_message m = {.title = "t", .body = "b"};
	const push_result *r;

	new_apns_at(h, h->base);
	assert_int_equal(apns_one(h, 0, HEX64, &m)->outcome, PUSH_OK);
	h->now_ms += 19 * 60 * 1000;
	assert_int_equal(apns_one(h, 1, HEX64, &m)->outcome, PUSH_OK);
	h->now_ms += 20 * 60 * 1000;
	assert_int_equal(apns_one(h, 2, HEX64, &m)->outcome, PUSH_OK);
	assert_string_equal(h->jwts[1], h->jwts[0]); /* reused within 20 min … */
	assert_string_equal(h->jwts[2], h->jwts[0]); /* … and up to 40 */
	assert_int_equal(h->jwt_iat[2], T0_MS / 1000);
	h->now_ms += 2 * 60 * 1000;
	assert_int_equal(apns_one(h, 3, HEX64, &m)->outcome, PUSH_OK);
	assert_string_not_equal(h->jwts[3], h->jwts[0]);
	assert_int_equal(h->jwt_iat[3], h->now_ms / 1000);

	/* ExpiredProviderToken: resent once with a fresh token, which then stays */
	script(h->push_script, &h->push_script_len, 403, "{\"reason\":\"ExpiredProviderToken\"}", NULL);
	r = apns_one(h, 4, HEX64, &m);
	assert_int_equal(r->outcome, PUSH_OK);
	assert_string_equal(r->id, "5F9A4C1E-0000-4000-8000-000000000006");
	assert_int_equal(h->apns_requests, 6);
	assert_string_equal(h->jwts[4], h->jwts[3]);
	assert_string_not_equal(h->jwts[5], h->jwts[4]);

	/* expired twice: failed after the one resend */
	script(h->push_script, &h->push_script_len, 403, "{\"reason\":\"ExpiredProviderToken\"}", NULL);
	script(h->push_script, &h->push_script_len, 403, "{\"reason\":\"ExpiredProviderToken\"}", NULL);
	r = apns_one(h, 5, HEX64, &m);
	assert_int_equal(r->outcome, PUSH_FAILED);
	assert_int_equal(r->http_status, 403);
	assert_string_equal(r->reason, "ExpiredProviderToken");
	assert_int_equal(h->apns_requests, 8);
	assert_string_equal(h->jwts[6], h->jwts[5]);
	assert_string_not_equal(h->jwts[7], h->jwts[6]);
	/* the token refused last is replaced too; the new one then stays */
	assert_int_equal(apns_one(h, 6, HEX64, &m)->outcome, PUSH_OK);
	assert_string_not_equal(h->jwts[8], h->jwts[7]);
	assert_int_equal(apns_one(h, 7, HEX64, &m)->outcome, PUSH_OK);
	assert_string_equal(h->jwts[9], h->jwts[8]);
	assert_string_equal(h->problems, "");
}

static void test_apns_long_body_cut(void **state)
{
	harness *h = *state;
	char *text = cyrillic_text(9000);
	apns_message m = {.title = "Длинное сообщение", .body = text, .has_badge = true, .badge = 1};
	json_t *j;

	new_apns_at(h, h->base);
	assert_int_equal(apns_one(h, 0, HEX64, &m)->outcome, PUSH_OK);
	assert_true(h->last_body_len <= PUSH_PAYLOAD_MAX);
	assert_true(h->last_body_len >= PUSH_PAYLOAD_MAX - 3);
	j = json_loads(h->last_body, 0, NULL);
	assert_cut(json_string_value(json_object_get(json_object_get(json_object_get(j, "aps"), "alert"), "body")),
	           text);
	json_decref(j);
	assert_string_equal(h->problems, "");
	free(text);
}

static void test_apns_refused_locally(void **state)
{
	harness *h = *state;
	static const push_kv aps[] = {{"aps", "x"}};
	char collapse[66], *title = malloc(5001);
	apns_message m = {.title = "t", .body = "b"};
	const push_result *r;

	new_apns_at(h, h->base);
	assert_int_equal(apns_send(h->apns, NULL, &m, on_push_done, &h->slots[0]), HERR_FIELD_INVALID);
	assert_int_equal(apns_send(h->apns, HEX64, NULL, on_push_done, &h->slots[0]), HERR_FIELD_INVALID);
	memset(collapse, 'c', 65);
	collapse[65] = '\0';
	m.collapse_id = collapse;
	r = apns_one(h, 0, HEX64, &m);
	assert_int_equal(r->outcome, PUSH_FAILED);
	assert_string_equal(r->reason, "collapse id too long");
	collapse[64] = '\0'; /* 64 bytes are fine */
	assert_int_equal(apns_one(h, 1, HEX64, &m)->outcome, PUSH_OK);
	assert_string_equal(h->last_collapse, collapse);
	m.collapse_id = "line\nbreak";
	assert_int_equal(apns_one(h, 2, HEX64, &m)->outcome, PUSH_FAILED);
	m.collapse_id = NULL;
	m.data = aps;
	m.data_count = 1;
	r = apns_one(h, 3, HEX64, &m);
	assert_int_equal(r->outcome, PUSH_FAILED);
	assert_string_equal(r->reason, "reserved data key");
	m.data = NULL;
	m.data_count = 0;
	memset(title, 'T', 5000);
	title[5000] = '\0';
	m.title = title;
	r = apns_one(h, 4, HEX64, &m);
	assert_int_equal(r->outcome, PUSH_FAILED);
	assert_string_equal(r->reason, "payload too large");
	assert_int_equal(h->apns_requests, 1);
	assert_string_equal(h->problems, "");
	free(title);
}

static void test_apns_network_and_close(void **state)
{
	harness *h = *state;
	apns_message m = {.title = "t", .body = "b"};
	const push_result *r;

	new_apns_at(h, h->dead_base);
	r = apns_one(h, 0, HEX64, &m);
	assert_int_equal(r->outcome, PUSH_RETRY);
	assert_int_equal(r->http_status, 0);
	assert_int_equal(strncmp(r->reason, "network: ", 9), 0);
	apns_client_close(h->apns, on_closed, h);
	h->apns = NULL;
	assert_true(run_until(h, &h->closed, 1, 5000));

	h->hold_push = true;
	new_apns_at(h, h->base);
	assert_int_equal(apns_send(h->apns, HEX64, &m, on_push_done, &h->slots[1]), 0);
	assert_int_equal(apns_send(h->apns, "bad", &m, on_push_done, &h->slots[2]), 0); /* decided, not yet told */
	assert_true(run_until(h, &h->apns_requests, 1, 5000));
	assert_int_equal(apns_pending(h->apns), 1);
	assert_int_equal(h->slots[2].r.outcome, PUSH_DEAD_TOKEN); /* told on the next loop turn */
	assert_int_equal(apns_send(h->apns, "bad", &m, on_push_done, &h->slots[3]), 0);
	apns_client_close(h->apns, on_closed, h);
	h->apns = NULL;
	assert_int_equal(h->slots[1].calls, 1);
	assert_int_equal(h->slots[1].r.outcome, PUSH_RETRY);
	assert_string_equal(h->slots[1].r.reason, "cancelled");
	assert_int_equal(h->slots[3].calls, 1);
	assert_int_equal(h->slots[3].r.outcome, PUSH_DEAD_TOKEN);
	assert_true(run_until(h, &h->closed, 2, 5000));
	assert_string_equal(h->problems, "");
}

static void test_apns_bad_config(void **state)
{
	harness *h = *state;
	apns_client *c = (apns_client *)1;
	char err[256];

	assert_int_equal(apns_new_at(h, NULL, g_rsa_pem, TEAM, TOPIC, &c, err, sizeof err), HERR_FIELD_INVALID);
	assert_null(c);
	assert_non_null(strstr(err, "P-256"));
	assert_int_equal(apns_new_at(h, NULL, g_ec384_pem, TEAM, TOPIC, &c, err, sizeof err), HERR_FIELD_INVALID);
	assert_int_equal(apns_new_at(h, NULL, "garbage", TEAM, TOPIC, &c, err, sizeof err), HERR_FIELD_INVALID);
	assert_null(strstr(err, "BEGIN"));
	assert_int_equal(apns_new_at(h, NULL, g_ec_pem, "", TOPIC, &c, err, sizeof err), HERR_FIELD_INVALID);
	assert_int_equal(apns_new_at(h, NULL, g_ec_pem, "TEAM 12345", TOPIC, &c, err, sizeof err), HERR_FIELD_INVALID);
	assert_int_equal(apns_new_at(h, NULL, g_ec_pem, TEAM, NULL, &c, err, sizeof err), HERR_FIELD_INVALID);
	assert_int_equal(apns_new_at(h, NULL, g_ec_pem, TEAM, "bad topic", &c, err, sizeof err), HERR_FIELD_INVALID);
	assert_int_equal(apns_new_at(h, "ftp://example.com", g_ec_pem, TEAM, TOPIC, &c, err, sizeof err),
	                 HERR_FIELD_INVALID);
	assert_null(c);
	assert_int_equal(apns_new_at(h, NULL, g_ec_pem, TEAM, TOPIC, &h->apns, err, sizeof err), 0);
}

static void test_retry_after(void **state)
{
	(void)state;
	/* 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example) */
	const int64_t date_ms = 784111777000LL;

	assert_int_equal(push_retry_after_ms(NULL, 0), 0);
	assert_int_equal(push_retry_after_ms("120", 0), 120000);
	assert_int_equal(push_retry_after_ms("0", 0), 0);
	assert_int_equal(push_retry_after_ms("12a", 0), 0);
	assert_int_equal(push_retry_after_ms("soon", 0), 0);
	assert_int_equal(push_retry_after_ms("99999999999999999999", 0), PUSH_RETRY_AFTER_MAX_MS);
	assert_int_equal(push_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", date_ms - 5000), 5000);
	assert_int_equal(push_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", date_ms + 5000), 0);
	assert_int_equal(push_retry_after_ms("Tue, 01 Mar 1994 00:00:00 GMT", 762480000000LL - 1000), 1000);
	assert_int_equal(push_retry_after_ms("Sun, 06 Foo 1994 08:49:37 GMT", 0), 0);
	assert_int_equal(push_retry_after_ms("Sun, 06 Nov 1994 08:49:37 UTC", 0), 0);
	assert_int_equal(push_retry_after_ms("Sun, 06 Nov 2094 08:49:37 GMT", date_ms), PUSH_RETRY_AFTER_MAX_MS);
	assert_string_equal(push_outcome_name(PUSH_DEAD_TOKEN), "dead_token");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_fcm_send_ok, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fcm_token_shared_and_refreshed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fcm_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fcm_oauth_failures, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fcm_network_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fcm_long_body_cut, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fcm_refused_locally, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fcm_bad_service_account, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fcm_close_cancels, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_apns_send_ok, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_apns_background, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_apns_device_tokens, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_apns_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_apns_provider_token_lifetime, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_apns_long_body_cut, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_apns_refused_locally, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_apns_network_and_close, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_apns_bad_config, setup, teardown),
	        cmocka_unit_test(test_retry_after),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
