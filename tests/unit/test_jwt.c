/*
 * test_jwt.c — HS256 JSON Web Tokens: the RFC 7515 A.1 vector, then round
 * trips through hjwt_sign_hs256 for every rule of hjwt_verify, and tokens
 * forged by hand (other algorithms, broken parts) for what signing cannot make.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/codec.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/jwt.h"

#define NOW 1700000000LL

static const uint8_t test_key[] = "0123456789abcdef0123456789abcdef";
#define KEY_LEN (sizeof test_key - 1)

/* RFC 7515 Appendix A.1 */
#define A1_HEADER  "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
#define A1_PAYLOAD "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define A1_KEY     "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
#define A1_SIG     "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define A1_EXP     1300819380LL

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

typedef struct result {
	int rc;
	char why[64];
	hjwt_claims claims;
} result;

static hjwt_expect expect_at(int64_t now, const char *audience)
{
	hjwt_expect e;

	memset(&e, 0, sizeof e);
	e.now_s = now;
	e.audience = audience;
	return e;
}

static result verify_with(const char *token, const hjwt_expect *e)
{
	result r;

	memset(&r, 0, sizeof r);
	r.rc = hjwt_verify(token, strlen(token), test_key, KEY_LEN, e, &r.claims, r.why, sizeof r.why);
	return r;
}

static result verify_now(const char *token)
{
	hjwt_expect e = expect_at(NOW, NULL);

	return verify_with(token, &e);
}

/* Signs a payload with the module itself; the caller frees. */
static char *sign(const char *payload)
{
	size_t cap = strlen(payload) * 2 + 256;
	char *out = malloc(cap);
	int n;

	assert_non_null(out);
	n = hjwt_sign_hs256(payload, test_key, KEY_LEN, out, cap);
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(out));
	return out;
}

static char *signf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *signf(const char *fmt, ...)
{
	char payload[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(payload, sizeof payload, fmt, ap);
	va_end(ap);
	return sign(payload);
}

/* A token with any header, signed with HMAC-SHA256 — what an attacker who
 * knows the key format but not the rules might send. */
static char *forge(const char *header, const char *payload, const uint8_t *key, size_t key_len)
{
	size_t hl = strlen(header), pl = strlen(payload);
	char *out = malloc(hcodec_b64url_len(hl) + hcodec_b64url_len(pl) + 64);
	uint8_t mac[HCRYPTO_HASH_BYTES];
	size_t n;

	assert_non_null(out);
	hcodec_b64url_encode((const uint8_t *)header, hl, out);
	n = strlen(out);
	out[n++] = '.';
	hcodec_b64url_encode((const uint8_t *)payload, pl, out + n);
	n += strlen(out + n);
	hcrypto_hmac(key, key_len, out, n, mac);
	out[n++] = '.';
	hcodec_b64url_encode(mac, sizeof mac, out + n);
	return out;
}

static void expect_reason(const char *token, const char *why)
{
	result r = verify_now(token);

	assert_int_equal(r.rc, HERR_UNAUTHORIZED);
	assert_string_equal(r.why, why);
	/* nothing of a refused token leaks into the claims */
	assert_string_equal(r.claims.sub, "");
	assert_int_equal(r.claims.exp, 0);
}

static void expect_signed_reason(const char *payload, const char *why)
{
	char *t = sign(payload);

	expect_reason(t, why);
	free(t);
}

/* ---- RFC 7515 A.1 --------------------------------------------------------- */

static void test_rfc7515_a1(void **state)
{
	static const char token[] = A1_HEADER "." A1_PAYLOAD "." A1_SIG;
	uint8_t key[64];
	long key_len = hcodec_b64url_decode(A1_KEY, strlen(A1_KEY), key, sizeof key);
	hjwt_expect e = expect_at(A1_EXP - 10, NULL);
	hjwt_claims c;
	char why[64];

	(void)state;
	assert_int_equal(key_len, 64);
	assert_int_equal(hjwt_check_signature(token, strlen(token), key, (size_t)key_len, why, sizeof why), 0);
	assert_string_equal(why, "");

	/* the signature passes; the vector simply has no sub */
	assert_int_equal(hjwt_verify(token, strlen(token), key, (size_t)key_len, &e, &c, why, sizeof why),
	                 HERR_UNAUTHORIZED);
	assert_string_equal(why, "missing sub");

	e.now_s = A1_EXP + 100;
	assert_int_equal(hjwt_verify(token, strlen(token), key, (size_t)key_len, &e, &c, why, sizeof why),
	                 HERR_UNAUTHORIZED);
	assert_string_equal(why, "expired");

	/* one bit of the key changed */
	key[0] ^= 1;
	assert_int_equal(hjwt_check_signature(token, strlen(token), key, (size_t)key_len, why, sizeof why),
	                 HERR_UNAUTHORIZED);
	assert_string_equal(why, "bad signature");
	e.now_s = A1_EXP - 10;
	assert_int_equal(hjwt_verify(token, strlen(token), key, (size_t)key_len, &e, &c, why, sizeof why),
	                 HERR_UNAUTHORIZED);
	assert_string_equal(why, "bad signature");
}

/* The fixed header, a 43-character MAC, and the exact room the signer needs. */
static void test_sign_layout(void **state)
{
	char out[512], small[64];
	const char *dot1, *dot2;
	int n;

	(void)state;
	n = hjwt_sign_hs256("{\"sub\":\"x\"}", test_key, KEY_LEN, out, sizeof out);
	assert_true(n > 0);
	dot1 = strchr(out, '.');
	assert_non_null(dot1);
	/* {"alg":"HS256","typ":"JWT"} */
	assert_int_equal(strncmp(out, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37), 0);
	dot2 = strchr(dot1 + 1, '.');
	assert_non_null(dot2);
	assert_int_equal(strlen(dot2 + 1), 43);
	assert_int_equal(hjwt_check_signature(out, (size_t)n, test_key, KEY_LEN, NULL, 0), 0);

	assert_int_equal(hjwt_sign_hs256("{\"sub\":\"x\"}", test_key, KEY_LEN, small, sizeof small), HERR_INTERNAL);
	assert_int_equal(hjwt_sign_hs256("{}", test_key, 0, out, sizeof out), HERR_INTERNAL);
	assert_int_equal(hjwt_sign_hs256(NULL, test_key, KEY_LEN, out, sizeof out), HERR_INTERNAL);
	/* exactly fitting: length + NUL */
	assert_int_equal(hjwt_sign_hs256("{\"sub\":\"x\"}", test_key, KEY_LEN, out, (size_t)n), HERR_INTERNAL);
	assert_int_equal(hjwt_sign_hs256("{\"sub\":\"x\"}", test_key, KEY_LEN, out, (size_t)n + 1), n);
}

/* ---- round trips ---------------------------------------------------------- */

static void test_valid_token(void **state)
{
	char *t = signf(
	        "{\"sub\":\"staff-42\",\"name\":\"Иван Петров\",\"roles\":[\"admin\",\"push_sender\",\"r-2\"],"
	        "\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld,\"aud\":\"herald\",\"iss\":\"idp\",\"extra\":{\"a\":[1]}}",
	        NOW + 60, NOW - 10, NOW - 10);
	hjwt_expect e = expect_at(NOW, "herald");
	result r = verify_with(t, &e);

	(void)state;
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.why, "");
	assert_string_equal(r.claims.sub, "staff-42");
	assert_string_equal(r.claims.name, "Иван Петров");
	assert_int_equal(r.claims.role_count, 3);
	assert_string_equal(r.claims.roles[0], "admin");
	assert_string_equal(r.claims.roles[1], "push_sender");
	assert_string_equal(r.claims.roles[2], "r-2");
	assert_int_equal(r.claims.exp, NOW + 60);
	assert_int_equal(r.claims.nbf, NOW - 10);
	assert_int_equal(r.claims.iat, NOW - 10);
	assert_string_equal(r.claims.aud, "herald");

	/* why may be NULL */
	assert_int_equal(hjwt_verify(t, strlen(t), test_key, KEY_LEN, &e, &r.claims, NULL, 0), 0);
	free(t);

	/* the minimum: sub and exp */
	t = signf("{\"sub\":\"u\",\"exp\":%lld}", NOW + 1);
	r = verify_now(t);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.claims.sub, "u");
	assert_string_equal(r.claims.name, "");
	assert_string_equal(r.claims.aud, "");
	assert_int_equal(r.claims.role_count, 0);
	assert_int_equal(r.claims.nbf, 0);
	assert_int_equal(r.claims.iat, 0);
	free(t);
}

static void test_expired(void **state)
{
	hjwt_expect e = expect_at(NOW, NULL);
	char *t;

	(void)state;
	/* the default leeway is 5 s */
	t = signf("{\"sub\":\"u\",\"exp\":%lld}", NOW - 5);
	assert_int_equal(verify_now(t).rc, 0);
	free(t);
	t = signf("{\"sub\":\"u\",\"exp\":%lld}", NOW - 6);
	expect_reason(t, "expired");

	/* an explicit leeway */
	e.leeway_s = 10;
	assert_int_equal(verify_with(t, &e).rc, 0);
	free(t);

	/* negative: none at all; exp itself is still valid (now ≤ exp) */
	e.leeway_s = -1;
	t = signf("{\"sub\":\"u\",\"exp\":%lld}", NOW);
	assert_int_equal(verify_with(t, &e).rc, 0);
	free(t);
	t = signf("{\"sub\":\"u\",\"exp\":%lld}", NOW - 1);
	assert_string_equal(verify_with(t, &e).why, "expired");
	free(t);

	/* fractional exp rounds down: 0.9 s past the deadline is past it */
	t = signf("{\"sub\":\"u\",\"exp\":%lld.9}", NOW - 1);
	assert_string_equal(verify_with(t, &e).why, "expired");
	free(t);
	t = signf("{\"sub\":\"u\",\"exp\":%lld.5}", NOW);
	assert_int_equal(verify_with(t, &e).rc, 0);
	free(t);

	/* a huge exp cannot overflow the comparison */
	expect_signed_reason("{\"sub\":\"u\",\"exp\":-9223372036854775808}", "expired");
	t = sign("{\"sub\":\"u\",\"exp\":9223372036854775807}");
	assert_int_equal(verify_now(t).rc, 0);
	free(t);
}

static void test_not_yet_valid(void **state)
{
	char *t;

	(void)state;
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", NOW + 100, NOW + 5);
	assert_int_equal(verify_now(t).rc, 0);
	free(t);
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", NOW + 100, NOW + 6);
	expect_reason(t, "not yet valid");
	free(t);
	/* fractional nbf rounds up */
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld.1}", NOW + 100, NOW + 5);
	expect_reason(t, "not yet valid");
	free(t);
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"nbf\":\"soon\"}", NOW + 100);
	expect_reason(t, "bad nbf");
	free(t);
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"iat\":true}", NOW + 100);
	expect_reason(t, "bad iat");
	free(t);
}

static void test_audience(void **state)
{
	hjwt_expect e = expect_at(NOW, "herald");
	result r;
	char *t;

	(void)state;
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"aud\":\"other\"}", NOW + 60);
	r = verify_with(t, &e);
	assert_int_equal(r.rc, HERR_UNAUTHORIZED);
	assert_string_equal(r.why, "wrong audience");
	/* unchecked when the caller expects none */
	r = verify_now(t);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.claims.aud, "other");
	free(t);

	/* an array matches on any entry; the first is reported */
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"aud\":[\"billing\",\"herald\"]}", NOW + 60);
	r = verify_with(t, &e);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.claims.aud, "billing");
	free(t);

	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"aud\":[\"billing\",\"heralds\"]}", NOW + 60);
	assert_string_equal(verify_with(t, &e).why, "wrong audience");
	free(t);
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"aud\":[]}", NOW + 60);
	assert_string_equal(verify_with(t, &e).why, "wrong audience");
	free(t);
	/* expected but absent */
	t = signf("{\"sub\":\"u\",\"exp\":%lld}", NOW + 60);
	assert_string_equal(verify_with(t, &e).why, "wrong audience");
	free(t);
	/* case matters */
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"aud\":\"Herald\"}", NOW + 60);
	assert_string_equal(verify_with(t, &e).why, "wrong audience");
	free(t);

	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"aud\":[\"herald\",7]}", NOW + 60);
	assert_string_equal(verify_with(t, &e).why, "bad aud");
	free(t);
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"aud\":{\"x\":1}}", NOW + 60);
	expect_reason(t, "bad aud");
	free(t);
}

static void test_wrong_key_and_tampering(void **state)
{
	char *good = signf("{\"sub\":\"alice\",\"exp\":%lld}", NOW + 60);
	char *evil = signf("{\"sub\":\"admin\",\"exp\":%lld}", NOW + 60);
	static const uint8_t other_key[] = "0123456789abcdef0123456789abcdeF";
	hjwt_expect e = expect_at(NOW, NULL);
	hjwt_claims c;
	char why[64], mixed[512];
	const char *g1 = strchr(good, '.'), *g2 = strrchr(good, '.');
	const char *e1 = strchr(evil, '.'), *e2 = strrchr(evil, '.');
	size_t n;

	(void)state;
	assert_int_equal(hjwt_verify(good, strlen(good), other_key, sizeof other_key - 1, &e, &c, why, sizeof why),
	                 HERR_UNAUTHORIZED);
	assert_string_equal(why, "bad signature");
	assert_int_equal(hjwt_verify(good, strlen(good), test_key, KEY_LEN - 1, &e, &c, why, sizeof why),
	                 HERR_UNAUTHORIZED);
	assert_string_equal(why, "bad signature");
	assert_int_equal(hjwt_verify(good, strlen(good), test_key, 0, &e, &c, why, sizeof why), HERR_UNAUTHORIZED);
	assert_string_equal(why, "no key");

	/* header and signature of one token, payload of another */
	n = (size_t)(g1 - good) + 1;
	memcpy(mixed, good, n);
	memcpy(mixed + n, e1 + 1, (size_t)(e2 - e1 - 1));
	n += (size_t)(e2 - e1 - 1);
	strcpy(mixed + n, g2);
	expect_reason(mixed, "bad signature");

	/* one character of the signature changed */
	strcpy(mixed, good);
	mixed[strlen(mixed) - 5] ^= 0x01;
	expect_reason(mixed, "bad signature");
	/* the same MAC in a non-canonical spelling: 43 characters carry 258
	 * bits for 256, and the last character's two spare bits are set */
	strcpy(mixed, good);
	n = strlen(mixed);
	mixed[n - 1] = b64_alphabet[(strchr(b64_alphabet, mixed[n - 1]) - b64_alphabet) | 3];
	expect_reason(mixed, "bad signature");
	/* signature cut, extended or gone */
	strcpy(mixed, good);
	mixed[strlen(mixed) - 1] = '\0';
	expect_reason(mixed, "bad signature");
	snprintf(mixed, sizeof mixed, "%sAAAA", good);
	expect_reason(mixed, "bad signature");
	n = (size_t)(g2 - good) + 1;
	memcpy(mixed, good, n);
	mixed[n] = '\0';
	expect_reason(mixed, "bad signature");
	/* padding is not part of JWS */
	snprintf(mixed, sizeof mixed, "%s=", good);
	expect_reason(mixed, "malformed");

	assert_int_equal(verify_now(good).rc, 0);
	free(good);
	free(evil);
}

static void test_algorithms(void **state)
{
	char payload[128];
	char *t;

	(void)state;
	snprintf(payload, sizeof payload, "{\"sub\":\"u\",\"exp\":%lld}", NOW + 60);

	/* alg none with an empty signature: the classic */
	t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, test_key, KEY_LEN);
	*(strrchr(t, '.') + 1) = '\0';
	expect_reason(t, "unsupported alg");
	free(t);
	/* alg none even with a valid MAC */
	t = forge("{\"alg\":\"none\"}", payload, test_key, KEY_LEN);
	expect_reason(t, "unsupported alg");
	free(t);
	t = forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, test_key, KEY_LEN);
	expect_reason(t, "unsupported alg");
	free(t);
	t = forge("{\"alg\":\"RS256\"}", payload, test_key, KEY_LEN);
	expect_reason(t, "unsupported alg");
	free(t);
	t = forge("{\"alg\":\"hs256\"}", payload, test_key, KEY_LEN);
	expect_reason(t, "unsupported alg");
	free(t);
	t = forge("{\"alg\":[\"HS256\"]}", payload, test_key, KEY_LEN);
	expect_reason(t, "unsupported alg");
	free(t);
	t = forge("{\"typ\":\"JWT\"}", payload, test_key, KEY_LEN);
	expect_reason(t, "missing alg");
	free(t);

	/* typ: optional, any case of JWT */
	t = forge("{\"alg\":\"HS256\"}", payload, test_key, KEY_LEN);
	assert_int_equal(verify_now(t).rc, 0);
	free(t);
	t = forge("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", payload, test_key, KEY_LEN);
	assert_int_equal(verify_now(t).rc, 0);
	free(t);
	t = forge("{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", payload, test_key, KEY_LEN);
	expect_reason(t, "bad typ");
	free(t);
	t = forge("{\"alg\":\"HS256\",\"typ\":1}", payload, test_key, KEY_LEN);
	expect_reason(t, "bad typ");
	free(t);
	t = forge("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", payload, test_key, KEY_LEN);
	expect_reason(t, "unsupported crit");
	free(t);
	t = forge("{\"alg\":\"HS256\",\"alg\":\"none\"}", payload, test_key, KEY_LEN);
	expect_reason(t, "malformed");
	free(t);
	t = forge("[\"HS256\"]", payload, test_key, KEY_LEN);
	expect_reason(t, "malformed");
	free(t);
}

static void test_exp_and_sub_rules(void **state)
{
	char buf[512], sub[HJWT_SUB_MAX + 2];
	result r;
	char *t;

	(void)state;
	expect_signed_reason("{\"sub\":\"u\"}", "missing exp");
	expect_signed_reason("{\"sub\":\"u\",\"exp\":\"1900000000\"}", "bad exp");
	expect_signed_reason("{\"sub\":\"u\",\"exp\":null}", "bad exp");
	expect_signed_reason("{\"sub\":\"u\",\"exp\":1e300}", "bad exp");

	snprintf(buf, sizeof buf, "{\"exp\":%lld}", NOW + 60);
	expect_signed_reason(buf, "missing sub");
	snprintf(buf, sizeof buf, "{\"sub\":\"\",\"exp\":%lld}", NOW + 60);
	expect_signed_reason(buf, "bad sub");
	snprintf(buf, sizeof buf, "{\"sub\":42,\"exp\":%lld}", NOW + 60);
	expect_signed_reason(buf, "bad sub");

	memset(sub, 's', HJWT_SUB_MAX);
	sub[HJWT_SUB_MAX] = '\0';
	t = signf("{\"sub\":\"%s\",\"exp\":%lld}", sub, NOW + 60);
	r = verify_now(t);
	assert_int_equal(r.rc, 0);
	assert_int_equal(strlen(r.claims.sub), HJWT_SUB_MAX);
	free(t);
	strcat(sub, "s");
	snprintf(buf, sizeof buf, "{\"sub\":\"%s\",\"exp\":%lld}", sub, NOW + 60);
	expect_signed_reason(buf, "bad sub");

	snprintf(buf, sizeof buf, "{\"sub\":\"u\",\"name\":7,\"exp\":%lld}", NOW + 60);
	expect_signed_reason(buf, "bad name");
	/* duplicate claims are ambiguous: refused */
	snprintf(buf, sizeof buf, "{\"sub\":\"alice\",\"sub\":\"admin\",\"exp\":%lld}", NOW + 60);
	expect_signed_reason(buf, "malformed");
	/* \u0000 would cut the C string short */
	snprintf(buf, sizeof buf, "{\"sub\":\"admin\\u0000x\",\"exp\":%lld}", NOW + 60);
	expect_signed_reason(buf, "malformed");
}

static void test_name_limit(void **state)
{
	char name[HJWT_NAME_MAX + 2];
	result r;
	char *t;

	(void)state;
	memset(name, 'n', HJWT_NAME_MAX);
	name[HJWT_NAME_MAX] = '\0';
	t = signf("{\"sub\":\"u\",\"name\":\"%s\",\"exp\":%lld}", name, NOW + 60);
	r = verify_now(t);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.claims.name, name);
	free(t);
	strcat(name, "n");
	t = signf("{\"sub\":\"u\",\"name\":\"%s\",\"exp\":%lld}", name, NOW + 60);
	expect_reason(t, "bad name");
	free(t);
}

static void test_roles(void **state)
{
	char list[1024], role[HJWT_ROLE_MAX + 2];
	size_t n = 0;
	result r;
	char *t;
	int i;

	(void)state;
	/* sixteen roles, the longest allowed among them */
	memset(role, 'r', HJWT_ROLE_MAX);
	role[HJWT_ROLE_MAX] = '\0';
	for (i = 0; i < HJWT_ROLES_MAX - 1; i++)
		n += (size_t)snprintf(list + n, sizeof list - n, "\"role_%d\",", i);
	snprintf(list + n, sizeof list - n, "\"%s\"", role);
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"roles\":[%s]}", NOW + 60, list);
	r = verify_now(t);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.claims.role_count, HJWT_ROLES_MAX);
	assert_string_equal(r.claims.roles[0], "role_0");
	assert_string_equal(r.claims.roles[14], "role_14");
	assert_string_equal(r.claims.roles[15], role);
	free(t);

	/* seventeen */
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"roles\":[%s,\"x\"]}", NOW + 60, list);
	expect_reason(t, "bad roles");
	free(t);
	/* one byte too long */
	strcat(role, "r");
	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"roles\":[\"%s\"]}", NOW + 60, role);
	expect_reason(t, "bad roles");
	free(t);

	t = signf("{\"sub\":\"u\",\"exp\":%lld,\"roles\":[]}", NOW + 60);
	r = verify_now(t);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.claims.role_count, 0);
	free(t);

	static const char *const bad[] = {
	        "[\"Admin\"]", "[\"\"]",           "[\"a b\"]",       "[\"a.b\"]",     "[\"ok\",1]",
	        "\"admin\"",   "{\"admin\":true}", "[\"ad\\u00e9\"]", "[[\"admin\"]]", "null",
	};
	for (i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
		t = signf("{\"sub\":\"u\",\"exp\":%lld,\"roles\":%s}", NOW + 60, bad[i]);
		expect_reason(t, "bad roles");
		free(t);
	}
}

/* 4096 bytes pass, 4097 do not (unknown claims pad the payload). */
static void test_token_size_limit(void **state)
{
	char *pad = malloc(HJWT_TOKEN_MAX);
	char *t = NULL, *longer;
	size_t p;
	result r;

	(void)state;
	assert_non_null(pad);
	for (p = 2000; p < 3500; p++) {
		memset(pad, 'p', p);
		pad[p] = '\0';
		t = signf("{\"sub\":\"u\",\"exp\":%lld,\"pad\":\"%s\"}", NOW + 60, pad);
		if (strlen(t) == HJWT_TOKEN_MAX)
			break;
		free(t);
		t = NULL;
	}
	assert_non_null(t);
	r = verify_now(t);
	assert_int_equal(r.rc, 0);
	free(t);

	/* base64 grows in steps, so look for the next length past the limit */
	for (p++; p < 3500; p++) {
		memset(pad, 'p', p);
		pad[p] = '\0';
		longer = signf("{\"sub\":\"u\",\"exp\":%lld,\"pad\":\"%s\"}", NOW + 60, pad);
		if (strlen(longer) > HJWT_TOKEN_MAX) {
			assert_true(strlen(longer) <= HJWT_TOKEN_MAX + 2);
			expect_reason(longer, "token too long");
			free(longer);
			break;
		}
		free(longer);
	}
	assert_true(p < 3500);

	/* far too long: refused before anything is decoded */
	memset(pad, 'x', HJWT_TOKEN_MAX - 1);
	pad[HJWT_TOKEN_MAX - 1] = '\0';
	t = signf("{\"pad\":\"%s\"}", pad);
	expect_reason(t, "token too long");
	free(t);
	free(pad);
}

static void test_garbage(void **state)
{
	static const char *const malformed[] = {
	        "",        "abc",          "a.b",         "a.b.c.d",     "..",       ".eyJ9.c",
	        "eyJ9..c", "ey J9.eyJ9.c", "eyJ9.ey+9.c", "eyJ9.ey/9.c", "e.eyJ9.c", "eyJhbGciOiJIUzI1NiJ9\n.eyJ9.c",
	};
	char payload[128], *t, *bad;
	hjwt_claims c;
	char why[64];
	hjwt_expect e = expect_at(NOW, NULL);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
		expect_reason(malformed[i], "malformed");

	/* a NUL inside the given length */
	t = signf("{\"sub\":\"u\",\"exp\":%lld}", NOW + 60);
	bad = strdup(t);
	bad[10] = '\0';
	assert_int_equal(hjwt_verify(bad, strlen(t), test_key, KEY_LEN, &e, &c, why, sizeof why), HERR_UNAUTHORIZED);
	assert_string_equal(why, "malformed");
	/* a prefix of a good token is not that token */
	assert_int_equal(hjwt_verify(t, 20, test_key, KEY_LEN, &e, &c, why, sizeof why), HERR_UNAUTHORIZED);
	free(bad);
	free(t);

	/* correctly signed, but the payload is not a JSON object */
	expect_signed_reason("[1,2,3]", "malformed");
	expect_signed_reason("\"sub\"", "malformed");
	expect_signed_reason("hello", "malformed");
	expect_signed_reason("{\"sub\":\"u\",", "malformed");
	expect_signed_reason("", "malformed");
	/* the payload is not UTF-8 */
	snprintf(payload, sizeof payload, "{\"sub\":\"\xff\xfe\",\"exp\":%lld}", NOW + 60);
	expect_signed_reason(payload, "malformed");

	/* a header that is not base64 of JSON */
	snprintf(payload, sizeof payload, "{\"sub\":\"u\",\"exp\":%lld}", NOW + 60);
	t = forge("not json", payload, test_key, KEY_LEN);
	expect_reason(t, "malformed");
	free(t);

	/* a tiny why buffer is still terminated */
	assert_int_equal(hjwt_verify("x", 1, test_key, KEY_LEN, &e, &c, why, 4), HERR_UNAUTHORIZED);
	assert_string_equal(why, "mal");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rfc7515_a1),
	        cmocka_unit_test(test_sign_layout),
	        cmocka_unit_test(test_valid_token),
	        cmocka_unit_test(test_expired),
	        cmocka_unit_test(test_not_yet_valid),
	        cmocka_unit_test(test_audience),
	        cmocka_unit_test(test_wrong_key_and_tampering),
	        cmocka_unit_test(test_algorithms),
	        cmocka_unit_test(test_exp_and_sub_rules),
	        cmocka_unit_test(test_name_limit),
	        cmocka_unit_test(test_roles),
	        cmocka_unit_test(test_token_size_limit),
	        cmocka_unit_test(test_garbage),
	};

	if (hcrypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
