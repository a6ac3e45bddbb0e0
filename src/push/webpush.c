/*
 * webpush.c — see webpush.h. Owns the Web Push message encryption (RFC 8291)
 * and the VAPID key and tokens (RFC 8292); must never send anything, read the
 * clock, reuse an ephemeral key or salt, or leave key material in memory it
 * frees (scalars and derived keys are cleansed, the PEM passes through a
 * clearing BIO).
 *
 * The key schedule is HKDF-SHA256 three times, exactly as RFC 8291 §3.3–3.4
 * writes it: IKM = HKDF(salt = auth, ikm = ECDH secret, info = "WebPush:
 * info" 0x00 ‖ ua_public ‖ as_public, 32), then CEK and NONCE from
 * HKDF(salt, IKM, …). Everything goes through EVP so the same code runs
 * against any OpenSSL 3 provider and no deprecated EC_KEY/ECDSA_do_* call is
 * needed; the only low-level EC calls left (EC_POINT_mul, ECDSA_SIG) are the
 * ones OpenSSL 3 keeps: deriving a public point from a given scalar, and
 * converting ES256's raw r ‖ s to and from the DER that EVP signs in.
 *
 * Every failure path clears OpenSSL's per-thread error queue: libcurl shares
 * that queue on the same thread and would otherwise report our stale errors
 * as its own.
 */
#include "push/webpush.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"

#define WP_SCALAR_BYTES    32
#define WP_SECRET_BYTES    32
#define WP_CEK_BYTES       16
#define WP_NONCE_BYTES     12
#define WP_SIG_BYTES       64 /* ES256 in a JWS: r ‖ s, 32 bytes each */
#define WP_SIG_B64_LEN     86
#define WP_JWT_MAX         2048 /* far above what any VAPID token needs; bounds parsing work */
#define WP_ORIGIN_MAX      300
#define WP_SUB_MAX         255
#define WP_KEY_FILE_MAX    16384
#define WP_JWT_HEADER_JSON "{\"typ\":\"JWT\",\"alg\":\"ES256\"}"

/* OpenSSL's name for P-256; a mutable array because OSSL_PARAM takes char *. */
static char wp_group_name[] = "prime256v1";
static char wp_digest_name[] = "SHA256";

struct webpush_vapid {
	EVP_PKEY *key;
	uint8_t public_raw[WEBPUSH_PUBLIC_BYTES];
	char public_b64[WEBPUSH_PUBLIC_B64_LEN + 1];
};

/* ---- keys ------------------------------------------------------------------ */

/*
 * A P-256 public key from an uncompressed point. EVP_PKEY_fromdata already
 * refuses points off the curve; the quick public check also refuses the
 * point at infinity, so an invalid-curve point from a hostile subscription
 * never reaches ECDH. P-256 has cofactor 1: every point on the curve but
 * infinity lies in the prime-order group, so the full check's extra scalar
 * multiplication (n·P = O) proves nothing more — and it was a third of the
 * CPU of each push (bench/push.mjs).
 */
static EVP_PKEY *wp_public_key(const uint8_t pub[WEBPUSH_PUBLIC_BYTES])
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL, *check = NULL;
	EVP_PKEY *pkey = NULL;

	if (pub[0] != 0x04)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, wp_group_name, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, WEBPUSH_PUBLIC_BYTES);
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto fail;
	check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!check || EVP_PKEY_public_check_quick(check) != 1)
		goto fail;
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
fail:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return NULL;
}

/* OpenSSL 3.0 has no OSSL_PARAM_clear_free: wipe the scalar's copy ourselves. */
static void wp_params_clear_free(OSSL_PARAM *params)
{
	OSSL_PARAM *d = params ? OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY) : NULL;

	if (d && d->data)
		OPENSSL_cleanse(d->data, d->data_size);
	OSSL_PARAM_free(params);
}

/*
 * A P-256 key pair from a scalar. OpenSSL 3.0 does not compute the public
 * point when importing a bare private key, and the header needs it, so it is
 * computed here (d·G) and imported alongside.
 */
static EVP_PKEY *wp_private_key(const uint8_t priv[WP_SCALAR_BYTES])
{
	EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	BIGNUM *d = BN_secure_new();
	EC_POINT *q = group ? EC_POINT_new(group) : NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	uint8_t pub[WEBPUSH_PUBLIC_BYTES];

	if (!group || !d || !q || !bld || !BN_bin2bn(priv, WP_SCALAR_BYTES, d))
		goto done;
	/* a scalar of 0 or ≥ n is not a key; OpenSSL would reduce it silently */
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0)
		goto done;
	if (EC_POINT_mul(group, q, d, NULL, NULL, NULL) != 1 ||
	    EC_POINT_point2oct(group, q, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof pub, NULL) != sizeof pub)
		goto done;
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, wp_group_name, 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub) != 1 ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)))
		goto done;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
done:
	if (!pkey)
		ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	wp_params_clear_free(params);
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(q);
	BN_clear_free(d);
	EC_GROUP_free(group);
	return pkey;
}

/* The uncompressed public point of a P-256 key. A key read from PEM may
 * remember a compressed form, so uncompressed is asked for explicitly. */
static int wp_public_point(EVP_PKEY *pkey, uint8_t out[WEBPUSH_PUBLIC_BYTES])
{
	size_t n = 0;

	(void)EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed");
	if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, out, WEBPUSH_PUBLIC_BYTES, &n) != 1 ||
	    n != WEBPUSH_PUBLIC_BYTES || out[0] != 0x04) {
		ERR_clear_error();
		return HERR_INTERNAL;
	}
	return 0;
}

/* True for an EC key on P-256 (what VAPID and ES256 require). */
static bool wp_is_p256(EVP_PKEY *pkey)
{
	char name[64];
	size_t n = 0;

	if (!EVP_PKEY_is_a(pkey, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &n) != 1) {
		ERR_clear_error();
		return false;
	}
	return strcmp(name, wp_group_name) == 0;
}

/* Decodes base64url into exactly want bytes. */
static bool wp_b64_exact(const char *s, uint8_t *out, size_t want)
{
	uint8_t tmp[WEBPUSH_PUBLIC_BYTES + 8];
	long n;

	if (!s || want > sizeof tmp)
		return false;
	n = hcodec_b64url_decode(s, strlen(s), tmp, sizeof tmp);
	if (n < 0 || (size_t)n != want)
		return false;
	memcpy(out, tmp, want);
	return true;
}

int webpush_keys_from_b64(const char *p256dh_b64url, const char *auth_b64url, webpush_keys *out)
{
	EVP_PKEY *pkey;

	memset(out, 0, sizeof *out);
	if (!wp_b64_exact(p256dh_b64url, out->ua_public, WEBPUSH_PUBLIC_BYTES) ||
	    !wp_b64_exact(auth_b64url, out->auth, WEBPUSH_AUTH_BYTES))
		goto fail;
	if (!(pkey = wp_public_key(out->ua_public)))
		goto fail;
	EVP_PKEY_free(pkey);
	return 0;
fail:
	memset(out, 0, sizeof *out);
	return HERR_PUSHTOKEN_INVALID;
}

/* ---- encryption -------------------------------------------------------------- */

static int wp_ecdh(EVP_PKEY *own, EVP_PKEY *peer, uint8_t secret[WP_SECRET_BYTES])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, own, NULL);
	size_t n = WP_SECRET_BYTES;
	int rc = HERR_INTERNAL;

	if (ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
	    EVP_PKEY_derive(ctx, secret, &n) == 1 && n == WP_SECRET_BYTES)
		rc = 0;
	else
		ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* HKDF-SHA256 extract-then-expand (RFC 5869). */
static int wp_hkdf(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len, const void *info,
                   size_t info_len, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];
	int rc = HERR_INTERNAL;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, wp_digest_name, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	params[4] = OSSL_PARAM_construct_end();
	if (ctx && EVP_KDF_derive(ctx, out, out_len, params) == 1)
		rc = 0;
	else
		ERR_clear_error();
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* RFC 8291 §3.3–3.4: the content encryption key and nonce of the one record. */
static int wp_derive(const webpush_keys *k, const uint8_t as_public[WEBPUSH_PUBLIC_BYTES],
                     const uint8_t ecdh[WP_SECRET_BYTES], const uint8_t salt[WEBPUSH_SALT_BYTES],
                     uint8_t cek[WP_CEK_BYTES], uint8_t nonce[WP_NONCE_BYTES])
{
	/* sizeof of these literals counts the 0x00 terminator the RFC puts in the info */
	static const char key_label[] = "WebPush: info";
	static const char cek_info[] = "Content-Encoding: aes128gcm";
	static const char nonce_info[] = "Content-Encoding: nonce";
	uint8_t key_info[sizeof key_label + 2 * WEBPUSH_PUBLIC_BYTES];
	uint8_t ikm[WP_SECRET_BYTES];
	int rc;

	memcpy(key_info, key_label, sizeof key_label);
	memcpy(key_info + sizeof key_label, k->ua_public, WEBPUSH_PUBLIC_BYTES);
	memcpy(key_info + sizeof key_label + WEBPUSH_PUBLIC_BYTES, as_public, WEBPUSH_PUBLIC_BYTES);
	if ((rc = wp_hkdf(k->auth, WEBPUSH_AUTH_BYTES, ecdh, WP_SECRET_BYTES, key_info, sizeof key_info, ikm,
	                  sizeof ikm)) == 0 &&
	    (rc = wp_hkdf(salt, WEBPUSH_SALT_BYTES, ikm, sizeof ikm, cek_info, sizeof cek_info, cek, WP_CEK_BYTES)) ==
	            0)
		rc = wp_hkdf(salt, WEBPUSH_SALT_BYTES, ikm, sizeof ikm, nonce_info, sizeof nonce_info, nonce,
		             WP_NONCE_BYTES);
	OPENSSL_cleanse(ikm, sizeof ikm);
	return rc;
}

/* AES-128-GCM in place over record[0..n), tag written at record + n. */
static int wp_seal(const uint8_t cek[WP_CEK_BYTES], const uint8_t nonce[WP_NONCE_BYTES], uint8_t *record, size_t n)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int out = 0, fin = 0, rc = HERR_INTERNAL;

	if (c && EVP_EncryptInit_ex2(c, EVP_aes_128_gcm(), cek, nonce, NULL) == 1 &&
	    EVP_EncryptUpdate(c, record, &out, record, (int)n) == 1 && (size_t)out == n &&
	    EVP_EncryptFinal_ex(c, record + n, &fin) == 1 && fin == 0 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, WEBPUSH_TAG_BYTES, record + n) == 1)
		rc = 0;
	else
		ERR_clear_error();
	EVP_CIPHER_CTX_free(c);
	return rc;
}

/* The whole body with a given application server key pair and salt. */
static int wp_encrypt_key(const webpush_keys *k, EVP_PKEY *as_key, const uint8_t salt[WEBPUSH_SALT_BYTES],
                          const uint8_t *plaintext, size_t len, uint8_t **body, size_t *body_len)
{
	uint8_t as_public[WEBPUSH_PUBLIC_BYTES], ecdh[WP_SECRET_BYTES], cek[WP_CEK_BYTES], nonce[WP_NONCE_BYTES];
	EVP_PKEY *ua = NULL;
	uint8_t *b = NULL, *p;
	size_t total = WEBPUSH_HEADER_BYTES + len + 1 + WEBPUSH_TAG_BYTES;
	int rc;

	if (!(ua = wp_public_key(k->ua_public))) {
		rc = HERR_PUSHTOKEN_INVALID;
		goto done;
	}
	if ((rc = wp_public_point(as_key, as_public)) || (rc = wp_ecdh(as_key, ua, ecdh)) ||
	    (rc = wp_derive(k, as_public, ecdh, salt, cek, nonce)))
		goto done;
	if (!(b = malloc(total))) {
		rc = HERR_NOMEM;
		goto done;
	}
	/* RFC 8188 §2.1 header: salt, record size (network order), key id length, key id */
	p = b;
	memcpy(p, salt, WEBPUSH_SALT_BYTES);
	p += WEBPUSH_SALT_BYTES;
	*p++ = (uint8_t)(WEBPUSH_RECORD_SIZE >> 24);
	*p++ = (uint8_t)(WEBPUSH_RECORD_SIZE >> 16);
	*p++ = (uint8_t)(WEBPUSH_RECORD_SIZE >> 8);
	*p++ = (uint8_t)WEBPUSH_RECORD_SIZE;
	*p++ = WEBPUSH_PUBLIC_BYTES;
	memcpy(p, as_public, WEBPUSH_PUBLIC_BYTES);
	p += WEBPUSH_PUBLIC_BYTES;
	/* the last (only) record ends with delimiter 0x02 and carries no padding */
	if (len)
		memcpy(p, plaintext, len);
	p[len] = 0x02;
	if ((rc = wp_seal(cek, nonce, p, len + 1)))
		goto done;
	*body = b;
	*body_len = total;
	b = NULL;
done:
	free(b);
	EVP_PKEY_free(ua);
	OPENSSL_cleanse(ecdh, sizeof ecdh);
	OPENSSL_cleanse(cek, sizeof cek);
	OPENSSL_cleanse(nonce, sizeof nonce);
	return rc;
}

/* Checks shared by both entry points, before any key is made. */
static int wp_encrypt_args(const webpush_keys *k, const uint8_t *plaintext, size_t len, uint8_t **body,
                           size_t *body_len)
{
	if (!body || !body_len)
		return HERR_INTERNAL;
	*body = NULL;
	*body_len = 0;
	if (!k || (len && !plaintext))
		return HERR_INTERNAL;
	if (len > WEBPUSH_PLAINTEXT_MAX)
		return HERR_BODY_TOO_LARGE;
	return 0;
}

int webpush_encrypt_with(const webpush_keys *k, const uint8_t as_private[32], const uint8_t salt[WEBPUSH_SALT_BYTES],
                         const uint8_t *plaintext, size_t len, uint8_t **body, size_t *body_len)
{
	EVP_PKEY *as_key;
	int rc;

	if ((rc = wp_encrypt_args(k, plaintext, len, body, body_len)))
		return rc;
	if (!as_private || !salt || !(as_key = wp_private_key(as_private)))
		return HERR_INTERNAL;
	rc = wp_encrypt_key(k, as_key, salt, plaintext, len, body, body_len);
	EVP_PKEY_free(as_key);
	return rc;
}

int webpush_encrypt(const webpush_keys *k, const uint8_t *plaintext, size_t len, uint8_t **body, size_t *body_len)
{
	uint8_t salt[WEBPUSH_SALT_BYTES];
	EVP_PKEY *as_key;
	int rc;

	if ((rc = wp_encrypt_args(k, plaintext, len, body, body_len)))
		return rc;
	if (RAND_bytes(salt, sizeof salt) != 1 || !(as_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"))) {
		ERR_clear_error();
		return HERR_INTERNAL;
	}
	rc = wp_encrypt_key(k, as_key, salt, plaintext, len, body, body_len);
	EVP_PKEY_free(as_key);
	return rc;
}

/* ---- ES256 --------------------------------------------------------------------- */

/* Signs msg and turns OpenSSL's DER signature into the JWS form r ‖ s. */
static int wp_es256_sign(EVP_PKEY *key, const char *msg, size_t len, uint8_t sig[WP_SIG_BYTES])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[96]; /* a P-256 DER signature is at most 72 bytes */
	size_t der_len = sizeof der;
	const unsigned char *p = der;
	ECDSA_SIG *s = NULL;
	const BIGNUM *r, *sv;
	int rc = HERR_INTERNAL;

	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &der_len, (const unsigned char *)msg, len) != 1)
		goto done;
	if (!(s = d2i_ECDSA_SIG(NULL, &p, (long)der_len)))
		goto done;
	ECDSA_SIG_get0(s, &r, &sv);
	if (BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(sv, sig + 32, 32) == 32)
		rc = 0;
done:
	if (rc)
		ERR_clear_error();
	ECDSA_SIG_free(s);
	EVP_MD_CTX_free(md);
	return rc;
}

static bool wp_es256_verify(EVP_PKEY *key, const char *msg, size_t len, const uint8_t sig[WP_SIG_BYTES])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *sv = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	int der_len;
	bool ok = false;

	if (!md || !s || !r || !sv || ECDSA_SIG_set0(s, r, sv) != 1) {
		BN_free(r);
		BN_free(sv);
		goto done;
	}
	/* s owns r and sv from here */
	if ((der_len = i2d_ECDSA_SIG(s, &der)) <= 0)
		goto done;
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestVerify(md, der, (size_t)der_len, (const unsigned char *)msg, len) == 1;
done:
	if (!ok)
		ERR_clear_error();
	OPENSSL_free(der);
	ECDSA_SIG_free(s);
	EVP_MD_CTX_free(md);
	return ok;
}

/* ---- the VAPID key file ------------------------------------------------------------ */

static int wp_fail(char *err, size_t err_size, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int wp_fail(char *err, size_t err_size, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && err_size) {
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	ERR_clear_error();
	return rc;
}

/* Never prompt for a passphrase on the terminal: a server has none to give. */
static int wp_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Writes all of buf to fd (retrying short writes and EINTR). */
static int wp_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Makes the new directory entry durable; failure only loses durability. */
static void wp_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (!slash)
		hstrlcpy(dir, ".", sizeof dir);
	else if (slash == path)
		hstrlcpy(dir, "/", sizeof dir);
	else if ((size_t)(slash - path) < sizeof dir)
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	else
		return;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/*
 * Creates a new key at path unless one appears there first. The key goes to
 * a private temporary file (mkostemp creates it 0600), is synced, and is then
 * hard-linked to path: link never replaces an existing file, so when two
 * processes race, the loser drops its key and loads the winner's. Only where
 * the file system has no hard links does rename stand in.
 */
static int wp_vapid_create(const char *path, char *err, size_t err_size)
{
	char tmp[PATH_MAX];
	EVP_PKEY *key = NULL;
	BIO *mem = NULL;
	char *pem;
	long pem_len;
	bool tmp_made = false;
	int fd = -1, rc = HERR_IO;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
		return wp_fail(err, err_size, HERR_IO, "VAPID key path %s is too long", path);
	if (!(key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) || !(mem = BIO_new(BIO_s_secmem())) ||
	    PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (pem_len = BIO_get_mem_data(mem, &pem)) <= 0) {
		rc = wp_fail(err, err_size, HERR_INTERNAL, "cannot generate a VAPID key for %s", path);
		goto done;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = wp_fail(err, err_size, HERR_IO, "cannot create a VAPID key next to %s: %s", path, strerror(errno));
		goto done;
	}
	tmp_made = true;
	if (fchmod(fd, 0600) != 0 || wp_write_all(fd, pem, (size_t)pem_len) != 0 || fsync(fd) != 0) {
		rc = wp_fail(err, err_size, HERR_IO, "cannot write the VAPID key %s: %s", path, strerror(errno));
		goto done;
	}
	close(fd);
	fd = -1;
	if (link(tmp, path) != 0 && errno != EEXIST) {
		if ((errno != EPERM && errno != EOPNOTSUPP) || rename(tmp, path) != 0) {
			rc = wp_fail(err, err_size, HERR_IO, "cannot create the VAPID key %s: %s", path,
			             strerror(errno));
			goto done;
		}
		tmp_made = false; /* renamed into place */
	}
	wp_sync_dir(path);
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		(void)unlink(tmp);
	BIO_free(mem); /* a secmem BIO clears its data when freed */
	EVP_PKEY_free(key);
	return rc;
}

/* Reads the key file; 1 when it does not exist, 0 when *out is set. */
static int wp_vapid_read(const char *path, EVP_PKEY **out, char *err, size_t err_size)
{
	char *data = NULL;
	struct stat st;
	size_t len = 0;
	BIO *bio = NULL;
	int fd, rc = HERR_IO;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 1;
		return wp_fail(err, err_size, HERR_IO, "cannot open the VAPID key %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > WP_KEY_FILE_MAX) {
		rc = wp_fail(err, err_size, HERR_IO, "the VAPID key %s is not a regular file of a sane size", path);
		goto done;
	}
	/* like ssh: a private key others can read is treated as already leaked */
	if (st.st_mode & 077) {
		rc = wp_fail(err, err_size, HERR_IO, "the VAPID key %s is accessible by group or others (chmod 600 it)",
		             path);
		goto done;
	}
	if (!(data = OPENSSL_secure_malloc((size_t)st.st_size))) {
		rc = wp_fail(err, err_size, HERR_NOMEM, "out of memory reading %s", path);
		goto done;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, data + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (!(bio = BIO_new_mem_buf(data, (int)len)) ||
	    !(*out = PEM_read_bio_PrivateKey(bio, NULL, wp_no_passphrase, NULL))) {
		rc = wp_fail(err, err_size, HERR_IO, "%s holds no readable unencrypted PEM private key", path);
		goto done;
	}
	if (!wp_is_p256(*out)) {
		EVP_PKEY_free(*out);
		*out = NULL;
		rc = wp_fail(err, err_size, HERR_IO, "the VAPID key %s is not a P-256 (prime256v1) key", path);
		goto done;
	}
	rc = 0;
done:
	BIO_free(bio);
	if (data)
		OPENSSL_secure_clear_free(data, (size_t)st.st_size);
	close(fd);
	return rc;
}

int webpush_vapid_load_or_create(const char *path, webpush_vapid **out, char *err, size_t err_size)
{
	webpush_vapid *v;
	EVP_PKEY *key = NULL;
	int rc;

	if (err && err_size)
		err[0] = '\0';
	*out = NULL;
	if (!path || !*path)
		return wp_fail(err, err_size, HERR_IO, "no VAPID key path");
	rc = wp_vapid_read(path, &key, err, err_size);
	if (rc == 1) {
		if ((rc = wp_vapid_create(path, err, err_size)))
			return rc;
		/* read back what is now there, which may be another process's key */
		rc = wp_vapid_read(path, &key, err, err_size);
		if (rc == 1)
			rc = wp_fail(err, err_size, HERR_IO, "the VAPID key %s vanished after creation", path);
	}
	if (rc)
		return rc;
	if (!(v = calloc(1, sizeof *v))) {
		EVP_PKEY_free(key);
		return wp_fail(err, err_size, HERR_NOMEM, "out of memory loading %s", path);
	}
	v->key = key;
	if (wp_public_point(key, v->public_raw) != 0) {
		webpush_vapid_free(v);
		return wp_fail(err, err_size, HERR_IO, "the VAPID key %s has no usable public point", path);
	}
	hcodec_b64url_encode(v->public_raw, WEBPUSH_PUBLIC_BYTES, v->public_b64);
	*out = v;
	return 0;
}

void webpush_vapid_free(webpush_vapid *v)
{
	if (!v)
		return;
	EVP_PKEY_free(v->key);
	free(v);
}

const char *webpush_vapid_public_b64(const webpush_vapid *v)
{
	return v ? v->public_b64 : "";
}

/* ---- VAPID tokens ----------------------------------------------------------------- */

static bool wp_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_';
}

static bool wp_ipv6_char(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

/*
 * RFC 6454 serialisation: lowercase scheme and host, the port only when it
 * is not the scheme's default. Push services compare aud as a string, so
 * "https://Push.example.net:443" must come out as "https://push.example.net".
 * userinfo is refused rather than stripped: no push service hands one out.
 */
int webpush_origin(const char *url, char *out, size_t out_size)
{
	const char *p, *host, *end;
	size_t host_len;
	long port = -1, default_port;
	bool https;
	int n;

	if (!url || !out || !out_size)
		return HERR_PUSHTOKEN_INVALID;
	out[0] = '\0';
	if (strncasecmp(url, "https://", 8) == 0) {
		https = true;
		p = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		https = false;
		p = url + 7;
	} else {
		return HERR_PUSHTOKEN_INVALID;
	}
	default_port = https ? 443 : 80;
	host = p;
	if (*p == '[') {
		for (p++; wp_ipv6_char(*p); p++)
			;
		if (*p != ']' || p == host + 1)
			return HERR_PUSHTOKEN_INVALID;
		p++;
	} else {
		for (; wp_host_char(*p); p++)
			;
		if (p == host)
			return HERR_PUSHTOKEN_INVALID;
	}
	end = p;
	if (*p == ':') {
		port = 0;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			port = port * 10 + (*p - '0');
			if (port > 65535)
				return HERR_PUSHTOKEN_INVALID;
		}
		if (p == end + 1 || port == 0)
			return HERR_PUSHTOKEN_INVALID;
	}
	if (*p != '\0' && *p != '/' && *p != '?' && *p != '#')
		return HERR_PUSHTOKEN_INVALID; /* userinfo, spaces, or anything else we do not expect */
	host_len = (size_t)(end - host);
	if (host_len > 255)
		return HERR_PUSHTOKEN_INVALID;
	if (port == default_port)
		port = -1;
	if (port >= 0)
		n = snprintf(out, out_size, "%s://%.*s:%ld", https ? "https" : "http", (int)host_len, host, port);
	else
		n = snprintf(out, out_size, "%s://%.*s", https ? "https" : "http", (int)host_len, host);
	if (n < 0 || (size_t)n >= out_size) {
		out[0] = '\0';
		return HERR_PUSHTOKEN_INVALID;
	}
	for (char *c = out; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return 0;
}

/*
 * sub must be a mailto: or https: URI (RFC 8292 §2.1). Spaces and control
 * characters are refused too: Apple's push service rejects "mailto: x" as
 * a bad token, and we would only learn that from failed deliveries.
 */
static bool wp_sub_ok(const char *sub)
{
	size_t n = strlen(sub);

	if (n > WP_SUB_MAX ||
	    !((n > 7 && strncmp(sub, "mailto:", 7) == 0) || (n > 6 && strncmp(sub, "https:", 6) == 0)))
		return false;
	for (const unsigned char *c = (const unsigned char *)sub; *c; c++)
		if (*c <= 0x20 || *c == 0x7f)
			return false;
	return true;
}

int webpush_vapid_header(const webpush_vapid *v, const char *endpoint_url, const char *sub, int64_t now_s, int ttl_s,
                         char *out, size_t out_size)
{
	char origin[WP_ORIGIN_MAX];
	hbuf payload = HBUF_INIT, token = HBUF_INIT;
	uint8_t sig[WP_SIG_BYTES];
	char *b64 = NULL;
	size_t signed_len;
	int rc, n;

	if (out && out_size)
		out[0] = '\0';
	if (!v || !out)
		return HERR_INTERNAL;
	if ((rc = webpush_origin(endpoint_url, origin, sizeof origin)))
		return rc;
	/* now_s bounded so now + ttl cannot overflow */
	if (ttl_s <= 0 || ttl_s > WEBPUSH_VAPID_TTL_MAX || now_s < 0 || now_s > INT64_MAX / 2 ||
	    (sub && !wp_sub_ok(sub)))
		return HERR_FIELD_INVALID;
	rc = HERR_NOMEM;
	if (hbuf_puts(&payload, "{\"aud\":") || hbuf_json_str(&payload, origin, strlen(origin)) ||
	    hbuf_printf(&payload, ",\"exp\":%lld", (long long)(now_s + ttl_s)))
		goto done;
	if (sub && (hbuf_puts(&payload, ",\"sub\":") || hbuf_json_str(&payload, sub, strlen(sub))))
		goto done;
	if (hbuf_putc(&payload, '}'))
		goto done;
	/* the signing input: base64url(header) "." base64url(payload) */
	if (!(b64 = malloc(hcodec_b64url_len(payload.len) + sizeof WP_JWT_HEADER_JSON * 2 + WP_SIG_B64_LEN + 1)))
		goto done;
	hcodec_b64url_encode((const uint8_t *)WP_JWT_HEADER_JSON, sizeof WP_JWT_HEADER_JSON - 1, b64);
	if (hbuf_puts(&token, b64) || hbuf_putc(&token, '.'))
		goto done;
	hcodec_b64url_encode((const uint8_t *)payload.data, payload.len, b64);
	if (hbuf_puts(&token, b64))
		goto done;
	signed_len = token.len;
	if ((rc = wp_es256_sign(v->key, token.data, signed_len, sig)))
		goto done;
	hcodec_b64url_encode(sig, sizeof sig, b64);
	rc = HERR_INTERNAL;
	n = snprintf(out, out_size, "vapid t=%s.%s, k=%s", token.data, b64, v->public_b64);
	if (n < 0 || (size_t)n >= out_size) {
		out[0] = '\0';
		goto done;
	}
	rc = 0;
done:
	free(b64);
	hbuf_free(&payload);
	hbuf_free(&token);
	return rc;
}

static bool wp_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static bool wp_token_char(char c)
{
	return wp_b64_char(c) || c == '.' || c == '+' || c == '/' || c == '=';
}

/* Copies one auth-param value (token or quoted token) into out; the end or NULL. */
static const char *wp_param_value(const char *p, char *out, size_t out_size)
{
	bool quoted = *p == '"';
	size_t n = 0;

	if (quoted)
		p++;
	while (wp_token_char(p[n]))
		n++;
	if (n == 0 || n >= out_size)
		return NULL;
	memcpy(out, p, n);
	out[n] = '\0';
	p += n;
	if (quoted && *p++ != '"')
		return NULL;
	return p;
}

int webpush_vapid_parse(const char *authorization, char *jwt, size_t jwt_size, char *k, size_t k_size)
{
	const char *p = authorization;
	bool have_t = false, have_k = false;

	if (!p || !jwt || !k || !jwt_size || !k_size)
		return HERR_UNAUTHORIZED;
	jwt[0] = k[0] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "vapid", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
		return HERR_UNAUTHORIZED;
	for (p += 5;;) {
		bool is_t;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if ((p[0] == 't' || p[0] == 'T') && p[1] == '=')
			is_t = true;
		else if ((p[0] == 'k' || p[0] == 'K') && p[1] == '=')
			is_t = false;
		else
			goto fail;
		/* a repeated parameter would mean whichever we read last: refuse it */
		if (is_t ? have_t : have_k)
			goto fail;
		if (!(p = is_t ? wp_param_value(p + 2, jwt, jwt_size) : wp_param_value(p + 2, k, k_size)))
			goto fail;
		*(is_t ? &have_t : &have_k) = true;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			goto fail;
	}
	if (have_t && have_k)
		return 0;
fail:
	jwt[0] = k[0] = '\0';
	return HERR_UNAUTHORIZED;
}

/* One base64url JWS part decoded and parsed as a JSON object without duplicate keys. */
static json_t *wp_part_json(const char *b64, size_t len)
{
	uint8_t raw[WP_JWT_MAX];
	json_error_t jerr;
	json_t *j;
	long n = hcodec_b64url_decode(b64, len, raw, sizeof raw);

	if (n <= 0)
		return NULL;
	j = json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static const char *wp_check_header(const char *b64, size_t len)
{
	json_t *h = wp_part_json(b64, len);
	json_t *alg, *typ;
	const char *reason = NULL;

	if (!h)
		return "malformed";
	alg = json_object_get(h, "alg");
	typ = json_object_get(h, "typ");
	/* the header only confirms ES256; it never chooses the algorithm */
	if (!json_is_string(alg) || strcmp(json_string_value(alg), "ES256") != 0)
		reason = "unsupported alg";
	else if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
		reason = "bad typ";
	else if (json_object_get(h, "crit"))
		reason = "unsupported alg"; /* no extension is understood, so RFC 7515 §4.1.11 says refuse */
	json_decref(h);
	return reason;
}

static const char *wp_check_claims(const char *b64, size_t len, const char *expected_aud, int64_t now_s)
{
	json_t *p = wp_part_json(b64, len);
	json_t *aud, *exp, *sub;
	const char *reason = NULL;
	json_int_t e;

	if (!p)
		return "malformed";
	aud = json_object_get(p, "aud");
	exp = json_object_get(p, "exp");
	sub = json_object_get(p, "sub");
	if (!aud) {
		reason = "missing aud";
	} else if (!json_is_string(aud) || !expected_aud || strcmp(json_string_value(aud), expected_aud) != 0) {
		reason = "wrong audience";
	} else if (!exp) {
		reason = "missing exp";
	} else if (!json_is_integer(exp)) {
		reason = "bad exp";
	} else if ((e = json_integer_value(exp)) <= now_s) {
		reason = "expired";
	} else if ((uint64_t)e - (uint64_t)now_s > WEBPUSH_VAPID_TTL_MAX) {
		/* e > now_s here, so the unsigned difference is exact even for extreme values */
		reason = "exp too far"; /* RFC 8292 §2: at most 24 hours from the request */
	} else if (sub && (!json_is_string(sub) || !wp_sub_ok(json_string_value(sub)))) {
		reason = "bad sub";
	}
	json_decref(p);
	return reason;
}

static const char *wp_verify(const char *jwt, const char *k_b64url, const char *expected_aud, int64_t now_s)
{
	uint8_t pub[WEBPUSH_PUBLIC_BYTES], sig[WP_SIG_BYTES];
	const char *dot1 = NULL, *dot2 = NULL, *reason;
	EVP_PKEY *key;
	size_t len;
	bool ok;

	if (!k_b64url || !wp_b64_exact(k_b64url, pub, sizeof pub))
		return "bad key";
	if (!jwt || (len = strnlen(jwt, WP_JWT_MAX + 1)) > WP_JWT_MAX)
		return "malformed";
	for (size_t i = 0; i < len; i++) {
		if (jwt[i] == '.') {
			if (dot2)
				return "malformed";
			*(dot1 ? &dot2 : &dot1) = jwt + i;
		} else if (!wp_b64_char(jwt[i])) {
			return "malformed";
		}
	}
	if (!dot2 || dot1 == jwt || dot2 == dot1 + 1)
		return "malformed";
	if ((reason = wp_check_header(jwt, (size_t)(dot1 - jwt))))
		return reason;
	if (strlen(dot2 + 1) != WP_SIG_B64_LEN ||
	    hcodec_b64url_decode(dot2 + 1, WP_SIG_B64_LEN, sig, sizeof sig) != WP_SIG_BYTES)
		return "bad signature";
	if (!(key = wp_public_key(pub)))
		return "bad key";
	ok = wp_es256_verify(key, jwt, (size_t)(dot2 - jwt), sig);
	EVP_PKEY_free(key);
	if (!ok)
		return "bad signature";
	/* claims are read only once the signature holds */
	return wp_check_claims(dot1 + 1, (size_t)(dot2 - dot1 - 1), expected_aud, now_s);
}

int webpush_vapid_verify(const char *jwt, const char *k_b64url, const char *expected_aud, int64_t now_s, char *why,
                         size_t why_size)
{
	const char *reason = wp_verify(jwt, k_b64url, expected_aud, now_s);

	if (why && why_size)
		snprintf(why, why_size, "%s", reason ? reason : "");
	return reason ? HERR_UNAUTHORIZED : 0;
}
