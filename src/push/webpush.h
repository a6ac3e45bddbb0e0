/*
 * webpush.h — the cryptography of Web Push: message encryption (RFC 8291,
 * aes128gcm of RFC 8188) and the VAPID identity of the application server
 * (RFC 8292).
 *
 * What it owns: turning a plaintext and a browser subscription's keys
 * (p256dh, auth) into the exact request body a push service expects; the
 * server's long-lived VAPID key pair on disk; signing and checking the
 * "Authorization: vapid t=…, k=…" header.
 * What it must never do: send anything (push/ delivery does that over
 * http_client), read the clock (callers pass "now", so tests pin it), reuse
 * an ephemeral key or salt between messages, or write the private key
 * anywhere but its own 0600 file.
 *
 * OpenSSL 3 EVP APIs only: the standards need P-256 ECDH, ES256, HKDF-SHA256
 * and AES-128-GCM, which libsodium does not offer.
 */
#ifndef HERALD_PUSH_WEBPUSH_H
#define HERALD_PUSH_WEBPUSH_H

#include <stddef.h>
#include <stdint.h>

#define WEBPUSH_PUBLIC_BYTES   65 /* uncompressed P-256 point: 0x04 ‖ X ‖ Y */
#define WEBPUSH_AUTH_BYTES     16 /* the subscription's auth secret */
#define WEBPUSH_SALT_BYTES     16
#define WEBPUSH_RECORD_SIZE    4096 /* the rs we announce */
#define WEBPUSH_HEADER_BYTES   86   /* salt(16) ‖ rs(4) ‖ idlen(1) ‖ keyid(65) */
#define WEBPUSH_TAG_BYTES      16
#define WEBPUSH_PLAINTEXT_MAX  3993 /* so that the body fits the 4096 bytes every push service accepts */
#define WEBPUSH_BODY_MAX       (WEBPUSH_HEADER_BYTES + WEBPUSH_PLAINTEXT_MAX + 1 + WEBPUSH_TAG_BYTES)
#define WEBPUSH_PUBLIC_B64_LEN 87 /* base64url of 65 bytes, no padding */
#define WEBPUSH_VAPID_TTL_MAX  86400
/* Enough for any header webpush_vapid_header writes (host ≤ 255, sub ≤ 255 bytes, JSON-escaped). */
#define WEBPUSH_VAPID_HEADER_MAX 2048

/* The keys of a browser subscription (PushSubscription.getKey("p256dh"), ("auth")). */
typedef struct webpush_keys {
	uint8_t ua_public[WEBPUSH_PUBLIC_BYTES];
	uint8_t auth[WEBPUSH_AUTH_BYTES];
} webpush_keys;

/*
 * Decodes the subscription's base64url keys (padding and the standard
 * alphabet tolerated, as browsers and libraries differ). p256dh must be a
 * 65-byte uncompressed point on P-256, auth exactly 16 bytes. Returns 0 or
 * HERR_PUSHTOKEN_INVALID (out zeroed).
 */
int webpush_keys_from_b64(const char *p256dh_b64url, const char *auth_b64url, webpush_keys *out);

/*
 * Encrypts plaintext (at most WEBPUSH_PLAINTEXT_MAX bytes) into a complete
 * aes128gcm body: header salt ‖ rs=4096 ‖ idlen=65 ‖ keyid=as_public, then
 * one record (plaintext ‖ 0x02, AES-128-GCM, empty AAD). A fresh ephemeral
 * key pair and salt every call. *body is malloc'd (caller frees) and holds
 * len + 103 bytes. Returns 0, HERR_BODY_TOO_LARGE, HERR_PUSHTOKEN_INVALID
 * (keys not on the curve), HERR_NOMEM or HERR_INTERNAL.
 */
int webpush_encrypt(const webpush_keys *k, const uint8_t *plaintext, size_t len, uint8_t **body, size_t *body_len);

/*
 * The same with the application server's private key (a P-256 scalar, big
 * endian) and the salt given — only for known-answer tests (RFC 8291
 * Appendix A): reusing either in production breaks the encryption.
 */
int webpush_encrypt_with(const webpush_keys *k, const uint8_t as_private[32], const uint8_t salt[WEBPUSH_SALT_BYTES],
                         const uint8_t *plaintext, size_t len, uint8_t **body, size_t *body_len);

/* The server's VAPID key pair (ES256, P-256). */
typedef struct webpush_vapid webpush_vapid;

/*
 * Loads the PEM private key at path (PKCS#8 or SEC1 "EC PRIVATE KEY"), or
 * creates one there when the file does not exist: written to a temporary
 * file with mode 0600, synced, then linked into place, so a crash never
 * leaves half a key and two processes starting at once end up with the same
 * key. A key file that group or others can access, or that is not a P-256
 * key, is refused. Returns 0, HERR_IO or HERR_NOMEM with a sentence in err.
 */
int webpush_vapid_load_or_create(const char *path, webpush_vapid **out, char *err, size_t err_size);
void webpush_vapid_free(webpush_vapid *v);

/* The public key as base64url of the uncompressed point (87 characters):
 * the applicationServerKey the web app subscribes with. */
const char *webpush_vapid_public_b64(const webpush_vapid *v);

/*
 * Writes the Authorization header value "vapid t=<JWT>, k=<public>" for a
 * push resource URL. The JWT (header {"typ":"JWT","alg":"ES256"}) carries
 * aud = the URL's origin (scheme://host[:port], lowercase, default port
 * dropped), exp = now_s + ttl_s with 0 < ttl_s ≤ 24 h, and sub when not
 * NULL (must start with "mailto:" or "https:"). Returns 0,
 * HERR_PUSHTOKEN_INVALID (endpoint is not an http(s) URL),
 * HERR_FIELD_INVALID (sub or ttl), or HERR_INTERNAL (out too small; size it
 * WEBPUSH_VAPID_HEADER_MAX).
 */
int webpush_vapid_header(const webpush_vapid *v, const char *endpoint_url, const char *sub, int64_t now_s, int ttl_s,
                         char *out, size_t out_size);

/*
 * The origin of an http(s) URL as VAPID's aud wants it. Returns 0 or
 * HERR_PUSHTOKEN_INVALID (also when out is too small).
 */
int webpush_origin(const char *url, char *out, size_t out_size);

/*
 * Splits an Authorization header value "vapid t=<JWT>, k=<key>" (scheme and
 * parameter names in any case, parameters in any order). Returns 0 or
 * HERR_UNAUTHORIZED when it is not one or a part does not fit.
 */
int webpush_vapid_parse(const char *authorization, char *jwt, size_t jwt_size, char *k, size_t k_size);

/*
 * Checks a VAPID JWT against its public key k (base64url uncompressed
 * point), as a push service would: header alg ES256 (typ JWT if present),
 * a valid signature (raw r ‖ s), aud equal to expected_aud, and
 * now_s < exp ≤ now_s + 24 h; sub, if present, a "mailto:" or "https:"
 * string. Returns 0 or HERR_UNAUTHORIZED with a short stable reason in why
 * (may be NULL; "" on success): "malformed", "unsupported alg", "bad typ",
 * "bad key", "bad signature", "missing aud", "wrong audience",
 * "missing exp", "bad exp", "expired", "exp too far", "bad sub".
 */
int webpush_vapid_verify(const char *jwt, const char *k_b64url, const char *expected_aud, int64_t now_s, char *why,
                         size_t why_size);

#endif
