/*
 * test_webpush.c — Web Push encryption and VAPID: the RFC 8291 Appendix A
 * vector byte for byte, round trips through a user agent written here, and
 * the RFC 8292 example token plus tokens of our own, intact and broken.
 *
 * The user agent side (ECDH with the UA key, the HMAC steps of RFC 8291 §3.3,
 * AES-128-GCM decryption) deliberately derives its keys with libsodium's
 * HMAC (hcrypto_hmac) instead of OpenSSL's HKDF, and is itself checked
 * against every intermediate value of Appendix A, so a round trip is not the
 * module agreeing with itself.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/codec.h"
#include "core/crypto.h"
#include "core/err.h"
#include "push/webpush.h"

/* RFC 8291 Appendix A */
#define A_PLAINTEXT  "When I grow up, I want to be a watermelon"
#define A_UA_PRIVATE "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
#define A_UA_PUBLIC  "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
#define A_AUTH       "BTBZMqHH6r4Tts7J_aSIgg"
#define A_AS_PRIVATE "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
#define A_AS_PUBLIC  "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
#define A_SALT       "DGv6ra1nlYgDCS1FRnbzlw"
#define A_ECDH       "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs"
#define A_PRK_KEY    "Snr3JMxaHVDXHWJn5wdC52WjpCtd2EIEGBykDcZW32k"
#define A_IKM        "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg"
#define A_PRK        "09_eUZGrsvxChDCGRCdkLiDXrReGOEVeSCdCcPBSJSc"
#define A_CEK        "oIhVW04MRdy2XN9CiKLxTg"
#define A_NONCE      "4h_95klXJ5E_qnoN"
#define A_BODY                                                                                                         \
	"DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_"                                                               \
	"c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3"                                             \
	"jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"

/* RFC 8292 §2.4 example */
#define V_JWT                                                                                                          \
	"eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9."                                                                        \
	"eyJhdWQiOiJodHRwczovL3B1c2guZXhhbXBsZS5uZXQiLCJleHAiOjE0NTM1MjM3NjgsInN1Y"                                    \
	"iI6Im1haWx0bzpwdXNoQGV4YW1wbGUuY29tIn0.i3CYb7t4xfxCDquptFOepC9GAu_"                                           \
	"HLGkMlMuCGSK2rpiUfnK9ojFwDXb1JrErtmysazNjjvW2"                                                                \
	"L9OkSSHzvoD1oA"
#define V_K   "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs"
#define V_AUD "https://push.example.net"
#define V_EXP 1453523768LL

#define NOW      1700000000LL
#define ENDPOINT "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b"
#define ORIGIN   "https://fcm.googleapis.com"
#define SUB      "mailto:ops@example.com"

/* ---- helpers ------------------------------------------------------------------ */

static size_t b64_decode(const char *s, uint8_t *out, size_t cap)
{
	long n = hcodec_b64url_decode(s, strlen(s), out, cap);

	assert_true(n >= 0);
	return (size_t)n;
}

static void assert_b64_equal(const uint8_t *bytes, size_t len, const char *want)
{
	char *got = malloc(hcodec_b64url_len(len) + 1);

	assert_non_null(got);
	hcodec_b64url_encode(bytes, len, got);
	assert_string_equal(got, want);
	free(got);
}

/* The intermediate values a user agent computes (for the Appendix A check). */
typedef struct ua_trace {
	uint8_t ecdh[32], prk_key[32], ikm[32], prk[32], cek[16], nonce[12];
} ua_trace;

/* A P-256 key pair from a private scalar, public point supplied (the test knows both). */
static EVP_PKEY *key_from(const uint8_t priv[32], const uint8_t pub[65])
{
	static char group[] = "prime256v1";
	OSSL_PARAM params[4];
	BIGNUM *d = BN_bin2bn(priv, 32, NULL);
	uint8_t le[32];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pkey = NULL;

	/* OSSL_PARAM integers are native-endian; build them from a BIGNUM */
	assert_non_null(d);
	assert_int_equal(BN_bn2nativepad(d, le, sizeof le), 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, le, sizeof le);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, 65);
	params[3] = OSSL_PARAM_construct_end();
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params), 1);
	EVP_PKEY_CTX_free(ctx);
	BN_free(d);
	return pkey;
}

/* T(1) of HKDF-Expand: HMAC(prk, info ‖ 0x01), which is all RFC 8291 needs. */
static void expand1(const uint8_t prk[32], const void *info, size_t info_len, uint8_t out[32])
{
	uint8_t msg[256];

	assert_true(info_len + 1 <= sizeof msg);
	memcpy(msg, info, info_len);
	msg[info_len] = 0x01;
	hcrypto_hmac(prk, 32, msg, info_len + 1, out);
}

/*
 * The user agent's side: decrypts an aes128gcm body with the UA key pair and
 * auth secret. Returns the plaintext (malloc'd, *len set) or NULL when the
 * body does not decrypt. trace, when given, receives the intermediates.
 */
static uint8_t *ua_decrypt(const uint8_t ua_priv[32], const uint8_t ua_pub[65], const uint8_t auth[16],
                           const uint8_t *body, size_t body_len, size_t *len, ua_trace *trace)
{
	static const char key_label[] = "WebPush: info";
	static const char cek_info[] = "Content-Encoding: aes128gcm";
	static const char nonce_info[] = "Content-Encoding: nonce";
	ua_trace t;
	uint8_t key_info[sizeof key_label + 130], full[32];
	EVP_PKEY *ua, *as = NULL;
	EVP_PKEY_CTX *dctx;
	EVP_CIPHER_CTX *c;
	const uint8_t *salt, *as_pub, *record;
	uint8_t *pt = NULL;
	size_t secret_len = 32, record_len, n;
	uint32_t rs;
	int outl = 0, finl = 0;

	if (body_len < 86 + 17)
		return NULL;
	salt = body;
	rs = (uint32_t)body[16] << 24 | (uint32_t)body[17] << 16 | (uint32_t)body[18] << 8 | body[19];
	if (rs != 4096 || body[20] != 65)
		return NULL;
	as_pub = body + 21;
	record = body + 86;
	record_len = body_len - 86;
	if (record_len > rs)
		return NULL;

	ua = key_from(ua_priv, ua_pub);
	{
		/* the AS public key from the header */
		static char group[] = "prime256v1";
		OSSL_PARAM params[3];
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)as_pub, 65);
		params[2] = OSSL_PARAM_construct_end();
		assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
		assert_int_equal(EVP_PKEY_fromdata(ctx, &as, EVP_PKEY_PUBLIC_KEY, params), 1);
		EVP_PKEY_CTX_free(ctx);
	}
	dctx = EVP_PKEY_CTX_new_from_pkey(NULL, ua, NULL);
	assert_int_equal(EVP_PKEY_derive_init(dctx), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(dctx, as), 1);
	assert_int_equal(EVP_PKEY_derive(dctx, t.ecdh, &secret_len), 1);
	assert_int_equal(secret_len, 32);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(as);
	EVP_PKEY_free(ua);

	/* RFC 8291 §3.3 written as HMAC steps */
	memcpy(key_info, key_label, sizeof key_label);
	memcpy(key_info + sizeof key_label, ua_pub, 65);
	memcpy(key_info + sizeof key_label + 65, as_pub, 65);
	hcrypto_hmac(auth, 16, t.ecdh, 32, t.prk_key);
	expand1(t.prk_key, key_info, sizeof key_info, t.ikm);
	hcrypto_hmac(salt, 16, t.ikm, 32, t.prk);
	expand1(t.prk, cek_info, sizeof cek_info, full);
	memcpy(t.cek, full, 16);
	expand1(t.prk, nonce_info, sizeof nonce_info, full);
	memcpy(t.nonce, full, 12);
	if (trace)
		*trace = t;

	n = record_len - 16;
	pt = malloc(n ? n : 1);
	assert_non_null(pt);
	c = EVP_CIPHER_CTX_new();
	assert_int_equal(EVP_DecryptInit_ex2(c, EVP_aes_128_gcm(), t.cek, t.nonce, NULL), 1);
	assert_int_equal(EVP_DecryptUpdate(c, pt, &outl, record, (int)n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(record + n)), 1);
	if (EVP_DecryptFinal_ex(c, pt + outl, &finl) != 1) {
		EVP_CIPHER_CTX_free(c);
		free(pt);
		return NULL;
	}
	EVP_CIPHER_CTX_free(c);
	/* strip the padding: zeros after the delimiter, which must be 0x02 (last record) */
	while (n > 0 && pt[n - 1] == 0)
		n--;
	if (n == 0 || pt[n - 1] != 0x02) {
		free(pt);
		return NULL;
	}
	*len = n - 1;
	return pt;
}

/* A fresh user agent: key pair and auth secret, with its subscription keys. */
typedef struct ua {
	uint8_t priv[32], pub[65], auth[16];
	webpush_keys keys;
} ua;

static void ua_new(ua *u)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIGNUM *d = NULL;
	size_t n = 0;
	char p256dh[128], auth[32];

	assert_non_null(pkey);
	assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
	assert_int_equal(BN_bn2binpad(d, u->priv, 32), 32);
	assert_int_equal(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, u->pub, 65, &n), 1);
	assert_int_equal(n, 65);
	BN_clear_free(d);
	EVP_PKEY_free(pkey);
	for (int i = 0; i < 16; i++)
		u->auth[i] = (uint8_t)hcrypto_random_below(256);
	hcodec_b64url_encode(u->pub, 65, p256dh);
	hcodec_b64url_encode(u->auth, 16, auth);
	assert_int_equal(webpush_keys_from_b64(p256dh, auth, &u->keys), 0);
}

/* ---- RFC 8291 ----------------------------------------------------------------- */

static void test_rfc8291_appendix_a(void **state)
{
	uint8_t as_priv[32], salt[16], ua_priv[32], ua_pub[65], auth[16], as_pub[65];
	webpush_keys k;
	uint8_t *body = NULL, *pt;
	size_t body_len = 0, pt_len = 0;
	ua_trace t;

	(void)state;
	assert_int_equal(webpush_keys_from_b64(A_UA_PUBLIC, A_AUTH, &k), 0);
	assert_int_equal(b64_decode(A_AS_PRIVATE, as_priv, sizeof as_priv), 32);
	assert_int_equal(b64_decode(A_SALT, salt, sizeof salt), 16);
	assert_int_equal(webpush_encrypt_with(&k, as_priv, salt, (const uint8_t *)A_PLAINTEXT, strlen(A_PLAINTEXT),
	                                      &body, &body_len),
	                 0);
	assert_int_equal(body_len, 144);
	assert_b64_equal(body, body_len, A_BODY);
	assert_int_equal(b64_decode(A_AS_PUBLIC, as_pub, sizeof as_pub), 65);
	assert_memory_equal(body + 21, as_pub, 65);

	/* the test's own user agent reproduces every intermediate and the plaintext */
	assert_int_equal(b64_decode(A_UA_PRIVATE, ua_priv, sizeof ua_priv), 32);
	assert_int_equal(b64_decode(A_UA_PUBLIC, ua_pub, sizeof ua_pub), 65);
	assert_int_equal(b64_decode(A_AUTH, auth, sizeof auth), 16);
	pt = ua_decrypt(ua_priv, ua_pub, auth, body, body_len, &pt_len, &t);
	assert_non_null(pt);
	assert_b64_equal(t.ecdh, 32, A_ECDH);
	assert_b64_equal(t.prk_key, 32, A_PRK_KEY);
	assert_b64_equal(t.ikm, 32, A_IKM);
	assert_b64_equal(t.prk, 32, A_PRK);
	assert_b64_equal(t.cek, 16, A_CEK);
	assert_b64_equal(t.nonce, 12, A_NONCE);
	assert_int_equal(pt_len, strlen(A_PLAINTEXT));
	assert_memory_equal(pt, A_PLAINTEXT, pt_len);
	free(pt);

	/* a flipped ciphertext bit fails authentication */
	body[100] ^= 1;
	assert_null(ua_decrypt(ua_priv, ua_pub, auth, body, body_len, &pt_len, NULL));
	free(body);
}

static void round_trip(const ua *u, size_t len)
{
	uint8_t *msg = malloc(len ? len : 1), *body = NULL, *pt;
	size_t body_len = 0, pt_len = 0;

	assert_non_null(msg);
	for (size_t i = 0; i < len; i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(webpush_encrypt(&u->keys, msg, len, &body, &body_len), 0);
	assert_int_equal(body_len, WEBPUSH_HEADER_BYTES + len + 1 + WEBPUSH_TAG_BYTES);
	assert_true(body_len <= 4096);
	pt = ua_decrypt(u->priv, u->pub, u->auth, body, body_len, &pt_len, NULL);
	assert_non_null(pt);
	assert_int_equal(pt_len, len);
	if (len)
		assert_memory_equal(pt, msg, len);
	free(pt);
	free(body);
	free(msg);
}

static void test_round_trip(void **state)
{
	static const size_t sizes[] = {0, 1, 41, 1000, WEBPUSH_PLAINTEXT_MAX};
	ua u;

	(void)state;
	ua_new(&u);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		round_trip(&u, sizes[i]);
	/* NULL with length 0 is an empty message */
	{
		uint8_t *body = NULL;
		size_t body_len = 0;

		assert_int_equal(webpush_encrypt(&u.keys, NULL, 0, &body, &body_len), 0);
		assert_int_equal(body_len, 103);
		free(body);
	}
}

static void test_fresh_key_and_salt(void **state)
{
	uint8_t *a = NULL, *b = NULL;
	size_t a_len = 0, b_len = 0;
	ua u;

	(void)state;
	ua_new(&u);
	assert_int_equal(webpush_encrypt(&u.keys, (const uint8_t *)"same", 4, &a, &a_len), 0);
	assert_int_equal(webpush_encrypt(&u.keys, (const uint8_t *)"same", 4, &b, &b_len), 0);
	assert_int_equal(a_len, b_len);
	assert_memory_not_equal(a, b, 16);           /* salt */
	assert_memory_not_equal(a + 21, b + 21, 65); /* ephemeral public key */
	assert_int_equal(a[20], 65);
	assert_int_equal(a[21], 0x04);
	free(a);
	free(b);
}

static void test_too_large(void **state)
{
	uint8_t *msg = calloc(1, WEBPUSH_PLAINTEXT_MAX + 1), *body = (uint8_t *)"x";
	size_t body_len = 7;
	uint8_t as_priv[32], salt[16];
	ua u;

	(void)state;
	assert_non_null(msg);
	ua_new(&u);
	assert_int_equal(webpush_encrypt(&u.keys, msg, WEBPUSH_PLAINTEXT_MAX + 1, &body, &body_len),
	                 HERR_BODY_TOO_LARGE);
	assert_null(body);
	assert_int_equal(body_len, 0);
	assert_int_equal(b64_decode(A_AS_PRIVATE, as_priv, sizeof as_priv), 32);
	assert_int_equal(b64_decode(A_SALT, salt, sizeof salt), 16);
	assert_int_equal(webpush_encrypt_with(&u.keys, as_priv, salt, msg, WEBPUSH_PLAINTEXT_MAX + 1, &body, &body_len),
	                 HERR_BODY_TOO_LARGE);
	assert_null(body);
	free(msg);
}

static void test_bad_keys(void **state)
{
	uint8_t pub[66], *body = NULL;
	char b64[128];
	size_t body_len = 0;
	webpush_keys k;
	uint8_t as_priv[32], salt[16];

	(void)state;
	assert_int_equal(b64_decode(A_UA_PUBLIC, pub, sizeof pub), 65);

	/* wrong lengths: 64 and 66 bytes, and the compressed form */
	hcodec_b64url_encode(pub, 64, b64);
	assert_int_equal(webpush_keys_from_b64(b64, A_AUTH, &k), HERR_PUSHTOKEN_INVALID);
	pub[65] = 0;
	hcodec_b64url_encode(pub, 66, b64);
	assert_int_equal(webpush_keys_from_b64(b64, A_AUTH, &k), HERR_PUSHTOKEN_INVALID);
	{
		uint8_t comp[33];

		comp[0] = (uint8_t)(0x02 | (pub[64] & 1));
		memcpy(comp + 1, pub + 1, 32);
		hcodec_b64url_encode(comp, 33, b64);
		assert_int_equal(webpush_keys_from_b64(b64, A_AUTH, &k), HERR_PUSHTOKEN_INVALID);
	}
	/* not on the curve: Y changed */
	pub[64] ^= 1;
	hcodec_b64url_encode(pub, 65, b64);
	assert_int_equal(webpush_keys_from_b64(b64, A_AUTH, &k), HERR_PUSHTOKEN_INVALID);
	pub[64] ^= 1;
	/* a valid X and Y behind the wrong prefix byte */
	pub[0] = 0x06;
	hcodec_b64url_encode(pub, 65, b64);
	assert_int_equal(webpush_keys_from_b64(b64, A_AUTH, &k), HERR_PUSHTOKEN_INVALID);
	pub[0] = 0x04;
	/* all zeros (not a point) */
	memset(b64, 0, sizeof b64);
	{
		uint8_t zero[65] = {0x04};

		hcodec_b64url_encode(zero, 65, b64);
		assert_int_equal(webpush_keys_from_b64(b64, A_AUTH, &k), HERR_PUSHTOKEN_INVALID);
	}
	/* not base64url at all, empty, NULL */
	assert_int_equal(webpush_keys_from_b64("not base64!", A_AUTH, &k), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_keys_from_b64("", A_AUTH, &k), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_keys_from_b64(NULL, A_AUTH, &k), HERR_PUSHTOKEN_INVALID);

	/* auth of 15 and 17 bytes */
	{
		uint8_t auth[17] = {1, 2, 3};

		hcodec_b64url_encode(auth, 15, b64);
		assert_int_equal(webpush_keys_from_b64(A_UA_PUBLIC, b64, &k), HERR_PUSHTOKEN_INVALID);
		hcodec_b64url_encode(auth, 17, b64);
		assert_int_equal(webpush_keys_from_b64(A_UA_PUBLIC, b64, &k), HERR_PUSHTOKEN_INVALID);
		assert_int_equal(webpush_keys_from_b64(A_UA_PUBLIC, NULL, &k), HERR_PUSHTOKEN_INVALID);
	}
	/* padded standard base64 as some libraries send it is fine */
	assert_int_equal(webpush_keys_from_b64(A_UA_PUBLIC, "BTBZMqHH6r4Tts7J/aSIgg==", &k), 0);

	/* keys that bypass from_b64 are still checked before ECDH */
	memcpy(k.ua_public, pub, 65);
	k.ua_public[64] ^= 1;
	assert_int_equal(webpush_encrypt(&k, (const uint8_t *)"x", 1, &body, &body_len), HERR_PUSHTOKEN_INVALID);
	assert_null(body);

	/* an AS scalar of zero or ≥ n is no key */
	assert_int_equal(webpush_keys_from_b64(A_UA_PUBLIC, A_AUTH, &k), 0);
	assert_int_equal(b64_decode(A_SALT, salt, sizeof salt), 16);
	memset(as_priv, 0, sizeof as_priv);
	assert_int_equal(webpush_encrypt_with(&k, as_priv, salt, (const uint8_t *)"x", 1, &body, &body_len),
	                 HERR_INTERNAL);
	memset(as_priv, 0xff, sizeof as_priv);
	assert_int_equal(webpush_encrypt_with(&k, as_priv, salt, (const uint8_t *)"x", 1, &body, &body_len),
	                 HERR_INTERNAL);
	assert_null(body);
}

/* ---- VAPID -------------------------------------------------------------------- */

typedef struct vapid_fixture {
	char dir[256];
	char path[300];
	webpush_vapid *v;
} vapid_fixture;

static int vapid_setup(void **state)
{
	vapid_fixture *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");
	char err[256];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/webpush-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof f->path, "%s/vapid.pem", f->dir);
	if (webpush_vapid_load_or_create(f->path, &f->v, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int vapid_teardown(void **state)
{
	vapid_fixture *f = *state;
	char p[320];

	webpush_vapid_free(f->v);
	unlink(f->path);
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "%s/other%d.pem", f->dir, i);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static const char *verify_reason(const char *jwt, const char *k, const char *aud, int64_t now)
{
	static char why[64];
	int rc = webpush_vapid_verify(jwt, k, aud, now, why, sizeof why);

	assert_int_equal(rc, why[0] ? HERR_UNAUTHORIZED : 0);
	return why;
}

static void test_vapid_rfc8292_example(void **state)
{
	(void)state;
	assert_string_equal(verify_reason(V_JWT, V_K, V_AUD, V_EXP - 68), "");
	assert_int_equal(webpush_vapid_verify(V_JWT, V_K, V_AUD, V_EXP - 68, NULL, 0), 0);
	assert_string_equal(verify_reason(V_JWT, V_K, V_AUD, V_EXP), "expired");
	assert_string_equal(verify_reason(V_JWT, V_K, V_AUD, NOW), "expired");
	assert_string_equal(verify_reason(V_JWT, V_K, "https://push.example.com", V_EXP - 68), "wrong audience");
	assert_string_equal(verify_reason(V_JWT, V_K, V_AUD, V_EXP - 86401), "exp too far");
	assert_string_equal(verify_reason(V_JWT, V_K, V_AUD, V_EXP - 86400), "");
	/* the example's own Authorization header parses back into t and k */
	{
		char t[512], k[128];

		assert_int_equal(webpush_vapid_parse("vapid t=" V_JWT ", k=" V_K, t, sizeof t, k, sizeof k), 0);
		assert_string_equal(t, V_JWT);
		assert_string_equal(k, V_K);
	}
}

/* Splits our header into its token and key. */
static void split_header(const char *header, char *t, size_t t_size, char *k, size_t k_size)
{
	assert_int_equal(webpush_vapid_parse(header, t, t_size, k, k_size), 0);
}

static void test_vapid_ours(void **state)
{
	vapid_fixture *f = *state;
	char header[WEBPUSH_VAPID_HEADER_MAX], t[WEBPUSH_VAPID_HEADER_MAX], k[128], payload[256];
	const char *dot1, *dot2;
	uint8_t raw[256];
	size_t n;

	assert_int_equal(strlen(webpush_vapid_public_b64(f->v)), WEBPUSH_PUBLIC_B64_LEN);
	assert_int_equal(webpush_vapid_header(f->v, ENDPOINT, SUB, NOW, 43200, header, sizeof header), 0);
	assert_true(strncmp(header, "vapid t=eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.", 45) == 0);
	split_header(header, t, sizeof t, k, sizeof k);
	assert_string_equal(k, webpush_vapid_public_b64(f->v));
	assert_string_equal(verify_reason(t, k, ORIGIN, NOW), "");

	/* the claims are what was asked */
	dot1 = strchr(t, '.');
	dot2 = strchr(dot1 + 1, '.');
	n = (size_t)hcodec_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), raw, sizeof raw - 1);
	raw[n] = 0;
	snprintf(payload, sizeof payload, "{\"aud\":\"%s\",\"exp\":%lld,\"sub\":\"%s\"}", ORIGIN, NOW + 43200, SUB);
	assert_string_equal((char *)raw, payload);
	assert_int_equal(strlen(dot2 + 1), 86);

	/* sub is optional */
	assert_int_equal(webpush_vapid_header(f->v, ENDPOINT, NULL, NOW, 60, header, sizeof header), 0);
	split_header(header, t, sizeof t, k, sizeof k);
	assert_string_equal(verify_reason(t, k, ORIGIN, NOW), "");

	/* 24 h exactly is allowed, by both sides */
	assert_int_equal(webpush_vapid_header(f->v, ENDPOINT, SUB, NOW, 86400, header, sizeof header), 0);
	split_header(header, t, sizeof t, k, sizeof k);
	assert_string_equal(verify_reason(t, k, ORIGIN, NOW), "");
}

/* Replaces the payload of a token by another one, keeping header and signature. */
static void swap_payload(const char *t, const char *json, char *out, size_t out_size)
{
	const char *dot1 = strchr(t, '.'), *dot2 = strrchr(t, '.');
	char b64[512];

	hcodec_b64url_encode((const uint8_t *)json, strlen(json), b64);
	snprintf(out, out_size, "%.*s.%s%s", (int)(dot1 - t), t, b64, dot2);
}

static void test_vapid_refused(void **state)
{
	vapid_fixture *f = *state;
	char header[WEBPUSH_VAPID_HEADER_MAX], t[WEBPUSH_VAPID_HEADER_MAX], k[128], bad[WEBPUSH_VAPID_HEADER_MAX];
	char other_path[320], err[256], json[256];
	webpush_vapid *other = NULL;
	size_t len;

	assert_int_equal(webpush_vapid_header(f->v, ENDPOINT, SUB, NOW, 3600, header, sizeof header), 0);
	split_header(header, t, sizeof t, k, sizeof k);
	len = strlen(t);

	/* tampered payload: a later exp under the old signature */
	snprintf(json, sizeof json, "{\"aud\":\"%s\",\"exp\":%lld,\"sub\":\"%s\"}", ORIGIN, NOW + 7200, SUB);
	swap_payload(t, json, bad, sizeof bad);
	assert_string_equal(verify_reason(bad, k, ORIGIN, NOW), "bad signature");
	/* tampered signature: first character changed */
	memcpy(bad, t, len + 1);
	{
		char *sig = strrchr(bad, '.') + 1;

		*sig = *sig == 'A' ? 'B' : 'A';
	}
	assert_string_equal(verify_reason(bad, k, ORIGIN, NOW), "bad signature");
	/* signature cut short */
	memcpy(bad, t, len + 1);
	bad[len - 2] = '\0';
	assert_string_equal(verify_reason(bad, k, ORIGIN, NOW), "bad signature");

	/* wrong audience, expired, too far ahead */
	assert_string_equal(verify_reason(t, k, "https://updates.push.services.mozilla.com", NOW), "wrong audience");
	assert_string_equal(verify_reason(t, k, ORIGIN "/", NOW), "wrong audience");
	assert_string_equal(verify_reason(t, k, ORIGIN, NOW + 3600), "expired");
	assert_string_equal(verify_reason(t, k, ORIGIN, NOW + 3599), "");
	assert_string_equal(verify_reason(t, k, ORIGIN, NOW + 3600 - 86401), "exp too far");

	/* another key: the token does not verify with it */
	snprintf(other_path, sizeof other_path, "%s/other0.pem", f->dir);
	assert_int_equal(webpush_vapid_load_or_create(other_path, &other, err, sizeof err), 0);
	assert_string_not_equal(webpush_vapid_public_b64(other), k);
	assert_string_equal(verify_reason(t, webpush_vapid_public_b64(other), ORIGIN, NOW), "bad signature");
	webpush_vapid_free(other);

	/* bad keys */
	assert_string_equal(verify_reason(t, "AAAA", ORIGIN, NOW), "bad key");
	assert_string_equal(verify_reason(t, NULL, ORIGIN, NOW), "bad key");
	{
		uint8_t pub[65];
		char b64[100];

		assert_int_equal(b64_decode(k, pub, sizeof pub), 65);
		pub[64] ^= 1;
		hcodec_b64url_encode(pub, 65, b64);
		assert_string_equal(verify_reason(t, b64, ORIGIN, NOW), "bad key");
	}

	/* shape */
	assert_string_equal(verify_reason("", k, ORIGIN, NOW), "malformed");
	assert_string_equal(verify_reason(NULL, k, ORIGIN, NOW), "malformed");
	assert_string_equal(verify_reason("a.b", k, ORIGIN, NOW), "malformed");
	assert_string_equal(verify_reason("a.b.c.d", k, ORIGIN, NOW), "malformed");
	assert_string_equal(verify_reason("a b.c.d", k, ORIGIN, NOW), "malformed");
	assert_string_equal(verify_reason(".b.c", k, ORIGIN, NOW), "malformed");

	/* algorithms: the header never chooses */
	{
		char b64[128];
		const char *dot1 = strchr(t, '.');

		hcodec_b64url_encode((const uint8_t *)"{\"typ\":\"JWT\",\"alg\":\"none\"}", 26, b64);
		snprintf(bad, sizeof bad, "%s%s", b64, dot1);
		assert_string_equal(verify_reason(bad, k, ORIGIN, NOW), "unsupported alg");
		hcodec_b64url_encode((const uint8_t *)"{\"typ\":\"JWT\",\"alg\":\"HS256\"}", 27, b64);
		snprintf(bad, sizeof bad, "%s%s", b64, dot1);
		assert_string_equal(verify_reason(bad, k, ORIGIN, NOW), "unsupported alg");
		hcodec_b64url_encode((const uint8_t *)"{\"typ\":\"JWS\",\"alg\":\"ES256\"}", 27, b64);
		snprintf(bad, sizeof bad, "%s%s", b64, dot1);
		assert_string_equal(verify_reason(bad, k, ORIGIN, NOW), "bad typ");
	}

	/* the why buffer may be tiny */
	{
		char why[4];

		assert_int_equal(webpush_vapid_verify(t, k, ORIGIN, NOW + 3600, why, sizeof why), HERR_UNAUTHORIZED);
		assert_string_equal(why, "exp");
	}
}

/* Signs any header and payload with the fixture's key file, as a hostile or
 * buggy application server could, to reach the claim checks. */
static void sign_jwt(const char *pem_path, const char *header, const char *payload, char *out, size_t out_size)
{
	FILE *fp = fopen(pem_path, "r");
	EVP_PKEY *key;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[80], raw[64];
	size_t der_len = sizeof der, n;
	const unsigned char *p = der;
	ECDSA_SIG *sig;
	const BIGNUM *r, *sv;

	assert_non_null(fp);
	key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(key);
	hcodec_b64url_encode((const uint8_t *)header, strlen(header), out);
	n = strlen(out);
	out[n++] = '.';
	hcodec_b64url_encode((const uint8_t *)payload, strlen(payload), out + n);
	n = strlen(out);
	assert_true(n + 88 < out_size);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(md, der, &der_len, (const unsigned char *)out, n), 1);
	sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	assert_non_null(sig);
	ECDSA_SIG_get0(sig, &r, &sv);
	assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
	assert_int_equal(BN_bn2binpad(sv, raw + 32, 32), 32);
	out[n++] = '.';
	hcodec_b64url_encode(raw, sizeof raw, out + n);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
}

static void test_vapid_claims(void **state)
{
	static const char *const cases[][2] = {
	        {"{\"exp\":1700003600}", "missing aud"},
	        {"{\"aud\":[\"" ORIGIN "\"],\"exp\":1700003600}", "wrong audience"},
	        {"{\"aud\":\"" ORIGIN "\"}", "missing exp"},
	        {"{\"aud\":\"" ORIGIN "\",\"exp\":\"1700003600\"}", "bad exp"},
	        {"{\"aud\":\"" ORIGIN "\",\"exp\":1700003600.5}", "bad exp"},
	        {"{\"aud\":\"" ORIGIN "\",\"exp\":1700003600,\"sub\":\"ops@example.com\"}", "bad sub"},
	        {"{\"aud\":\"" ORIGIN "\",\"exp\":1700003600,\"sub\":42}", "bad sub"},
	        {"{\"aud\":\"" ORIGIN "\",\"exp\":1700003600,\"aud\":\"" ORIGIN "\"}", "malformed"},
	        {"[1,2]", "malformed"},
	        {"{\"aud\":\"" ORIGIN "\",\"exp\":9223372036854775807}", "exp too far"},
	        {"{\"aud\":\"" ORIGIN "\",\"exp\":1700003600,\"sub\":\"https://example.com\"}", ""},
	        {"{\"aud\":\"" ORIGIN "\",\"exp\":1700003600}", ""},
	};
	vapid_fixture *f = *state;
	char t[1024];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sign_jwt(f->path, "{\"typ\":\"JWT\",\"alg\":\"ES256\"}", cases[i][0], t, sizeof t);
		assert_string_equal(verify_reason(t, webpush_vapid_public_b64(f->v), ORIGIN, NOW), cases[i][1]);
	}
	/* header variants: typ may be absent, crit is refused */
	sign_jwt(f->path, "{\"alg\":\"ES256\"}", cases[11][0], t, sizeof t);
	assert_string_equal(verify_reason(t, webpush_vapid_public_b64(f->v), ORIGIN, NOW), "");
	sign_jwt(f->path, "{\"alg\":\"ES256\",\"crit\":[\"x\"],\"x\":1}", cases[11][0], t, sizeof t);
	assert_string_equal(verify_reason(t, webpush_vapid_public_b64(f->v), ORIGIN, NOW), "unsupported alg");
}

static void test_vapid_header_arguments(void **state)
{
	vapid_fixture *f = *state;
	char header[WEBPUSH_VAPID_HEADER_MAX];

	assert_int_equal(webpush_vapid_header(f->v, ENDPOINT, SUB, NOW, 0, header, sizeof header), HERR_FIELD_INVALID);
	assert_int_equal(webpush_vapid_header(f->v, ENDPOINT, SUB, NOW, 86401, header, sizeof header),
	                 HERR_FIELD_INVALID);
	assert_int_equal(webpush_vapid_header(f->v, ENDPOINT, "ops@example.com", NOW, 60, header, sizeof header),
	                 HERR_FIELD_INVALID);
	assert_int_equal(
	        webpush_vapid_header(f->v, ENDPOINT, "mailto: ops@example.com", NOW, 60, header, sizeof header),
	        HERR_FIELD_INVALID);
	assert_int_equal(webpush_vapid_header(f->v, ENDPOINT, "mailto:", NOW, 60, header, sizeof header),
	                 HERR_FIELD_INVALID);
	assert_int_equal(
	        webpush_vapid_header(f->v, ENDPOINT, "https://example.com/contact", NOW, 60, header, sizeof header), 0);
	assert_int_equal(webpush_vapid_header(f->v, "ftp://push.example.net/x", SUB, NOW, 60, header, sizeof header),
	                 HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_vapid_header(f->v, "", SUB, NOW, 60, header, sizeof header), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_vapid_header(f->v, ENDPOINT, SUB, NOW, 60, header, 100), HERR_INTERNAL);
	assert_string_equal(header, "");

	/* the worst case fits WEBPUSH_VAPID_HEADER_MAX: longest host, a port, a sub that JSON doubles */
	{
		char url[300], sub[300], origin[300], t[WEBPUSH_VAPID_HEADER_MAX], k[128];

		memcpy(url, "https://", 8);
		memset(url + 8, 'h', 255);
		memcpy(url + 8 + 255, ":65000/x", 9);
		snprintf(origin, sizeof origin, "%.*s", 8 + 255 + 6, url);
		memcpy(sub, "mailto:", 7);
		memset(sub + 7, '"', 248);
		sub[255] = '\0';
		assert_int_equal(webpush_vapid_header(f->v, url, sub, NOW, 86400, header, sizeof header), 0);
		split_header(header, t, sizeof t, k, sizeof k);
		assert_string_equal(verify_reason(t, k, origin, NOW), "");
		sub[255] = '"';
		sub[256] = '\0';
		assert_int_equal(webpush_vapid_header(f->v, url, sub, NOW, 60, header, sizeof header),
		                 HERR_FIELD_INVALID);
		memset(sub + 7, 'a', 248);
		sub[255] = '\0';
		assert_int_equal(webpush_vapid_header(f->v, url, sub, NOW, 60, header, sizeof header), 0);
		split_header(header, t, sizeof t, k, sizeof k);
		assert_string_equal(verify_reason(t, k, origin, NOW), "");
	}
}

static void test_origin(void **state)
{
	char o[300];

	(void)state;
	assert_int_equal(webpush_origin("https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV", o, sizeof o),
	                 0);
	assert_string_equal(o, "https://push.example.net");
	assert_int_equal(webpush_origin("HTTPS://Push.Example.NET:443/x", o, sizeof o), 0);
	assert_string_equal(o, "https://push.example.net");
	assert_int_equal(webpush_origin("https://push.example.net:8443?q", o, sizeof o), 0);
	assert_string_equal(o, "https://push.example.net:8443");
	assert_int_equal(webpush_origin("http://localhost:80/p", o, sizeof o), 0);
	assert_string_equal(o, "http://localhost");
	assert_int_equal(webpush_origin("http://127.0.0.1:9999/p", o, sizeof o), 0);
	assert_string_equal(o, "http://127.0.0.1:9999");
	assert_int_equal(webpush_origin("https://[::1]:8443/a", o, sizeof o), 0);
	assert_string_equal(o, "https://[::1]:8443");
	assert_int_equal(webpush_origin("https://host", o, sizeof o), 0);
	assert_string_equal(o, "https://host");

	assert_int_equal(webpush_origin("https://user@host/", o, sizeof o), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_origin("https:///x", o, sizeof o), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_origin("https://h:99999/", o, sizeof o), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_origin("https://h:/", o, sizeof o), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_origin("https://h:0/", o, sizeof o), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_origin("https://[]/", o, sizeof o), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_origin("https://a b/", o, sizeof o), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_origin("wss://h/", o, sizeof o), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_origin(NULL, o, sizeof o), HERR_PUSHTOKEN_INVALID);
	assert_int_equal(webpush_origin("https://push.example.net/", o, 10), HERR_PUSHTOKEN_INVALID);
}

static void test_vapid_parse(void **state)
{
	char t[64], k[64];

	(void)state;
	assert_int_equal(webpush_vapid_parse("vapid t=a.b.c, k=BKEY", t, sizeof t, k, sizeof k), 0);
	assert_string_equal(t, "a.b.c");
	assert_string_equal(k, "BKEY");
	assert_int_equal(webpush_vapid_parse("  VAPID K=\"BKEY\" ,T=a.b.c", t, sizeof t, k, sizeof k), 0);
	assert_string_equal(t, "a.b.c");
	assert_string_equal(k, "BKEY");
	assert_int_equal(webpush_vapid_parse("WebPush a.b.c", t, sizeof t, k, sizeof k), HERR_UNAUTHORIZED);
	assert_int_equal(webpush_vapid_parse("vapid t=a.b.c", t, sizeof t, k, sizeof k), HERR_UNAUTHORIZED);
	assert_int_equal(webpush_vapid_parse("vapid t=a.b.c, k=X, t=d.e.f", t, sizeof t, k, sizeof k),
	                 HERR_UNAUTHORIZED);
	assert_int_equal(webpush_vapid_parse("vapid t=a.b.c, k=X, x=y", t, sizeof t, k, sizeof k), HERR_UNAUTHORIZED);
	assert_int_equal(webpush_vapid_parse("vapid t=, k=X", t, sizeof t, k, sizeof k), HERR_UNAUTHORIZED);
	assert_int_equal(webpush_vapid_parse("vapidt=a.b.c, k=X", t, sizeof t, k, sizeof k), HERR_UNAUTHORIZED);
	assert_int_equal(webpush_vapid_parse("vapid t=a.b.c, k=X", t, 3, k, sizeof k), HERR_UNAUTHORIZED);
	assert_string_equal(t, "");
	assert_int_equal(webpush_vapid_parse(NULL, t, sizeof t, k, sizeof k), HERR_UNAUTHORIZED);
}

static void test_vapid_file(void **state)
{
	vapid_fixture *f = *state;
	webpush_vapid *again = NULL;
	char err[256], p[320];
	struct stat st;
	FILE *fp;

	/* created 0600, and loading it again gives the same key */
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(webpush_vapid_load_or_create(f->path, &again, err, sizeof err), 0);
	assert_string_equal(webpush_vapid_public_b64(again), webpush_vapid_public_b64(f->v));
	webpush_vapid_free(again);
	again = NULL;

	/* a key readable by others is refused, and the file is left alone */
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(webpush_vapid_load_or_create(f->path, &again, err, sizeof err), HERR_IO);
	assert_null(again);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(f->path, 0600), 0);

	/* garbage is refused, not replaced */
	snprintf(p, sizeof p, "%s/other1.pem", f->dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs("not a key\n", fp);
	fclose(fp);
	assert_int_equal(chmod(p, 0600), 0);
	assert_int_equal(webpush_vapid_load_or_create(p, &again, err, sizeof err), HERR_IO);
	assert_null(again);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 10);

	/* a key of another type (Ed25519) is refused */
	snprintf(p, sizeof p, "%s/other2.pem", f->dir);
	{
		EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

		assert_non_null(ed);
		fp = fopen(p, "w");
		assert_non_null(fp);
		assert_int_equal(PEM_write_PrivateKey(fp, ed, NULL, NULL, 0, NULL, NULL), 1);
		fclose(fp);
		EVP_PKEY_free(ed);
	}
	assert_int_equal(chmod(p, 0600), 0);
	assert_int_equal(webpush_vapid_load_or_create(p, &again, err, sizeof err), HERR_IO);
	assert_non_null(strstr(err, "P-256"));

	/* a directory that does not exist */
	snprintf(p, sizeof p, "%s/missing/vapid.pem", f->dir);
	assert_int_equal(webpush_vapid_load_or_create(p, &again, err, sizeof err), HERR_IO);
	assert_null(again);

	/* a key created by hand with openssl-style SEC1 PEM loads too */
	snprintf(p, sizeof p, "%s/other3.pem", f->dir);
	{
		EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		uint8_t pub[65];
		size_t n = 0;
		char b64[100];

		assert_non_null(ec);
		fp = fopen(p, "w");
		assert_non_null(fp);
		assert_int_equal(PEM_write_PrivateKey(fp, ec, NULL, NULL, 0, NULL, NULL), 1);
		fclose(fp);
		assert_int_equal(chmod(p, 0600), 0);
		assert_int_equal(EVP_PKEY_get_octet_string_param(ec, OSSL_PKEY_PARAM_PUB_KEY, pub, 65, &n), 1);
		hcodec_b64url_encode(pub, 65, b64);
		EVP_PKEY_free(ec);
		assert_int_equal(webpush_vapid_load_or_create(p, &again, err, sizeof err), 0);
		assert_string_equal(webpush_vapid_public_b64(again), b64);
		webpush_vapid_free(again);
	}

	/* no temporary files are left behind */
	{
		DIR *d = opendir(f->dir);
		struct dirent *e;

		assert_non_null(d);
		while ((e = readdir(d)))
			assert_null(strstr(e->d_name, ".tmp."));
		closedir(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rfc8291_appendix_a),
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_fresh_key_and_salt),
	        cmocka_unit_test(test_too_large),
	        cmocka_unit_test(test_bad_keys),
	        cmocka_unit_test(test_vapid_rfc8292_example),
	        cmocka_unit_test(test_origin),
	        cmocka_unit_test(test_vapid_parse),
	        cmocka_unit_test_setup_teardown(test_vapid_ours, vapid_setup, vapid_teardown),
	        cmocka_unit_test_setup_teardown(test_vapid_refused, vapid_setup, vapid_teardown),
	        cmocka_unit_test_setup_teardown(test_vapid_claims, vapid_setup, vapid_teardown),
	        cmocka_unit_test_setup_teardown(test_vapid_header_arguments, vapid_setup, vapid_teardown),
	        cmocka_unit_test_setup_teardown(test_vapid_file, vapid_setup, vapid_teardown),
	};

	if (hcrypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
