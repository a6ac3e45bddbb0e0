/*
 * crypto.h — the few cryptographic operations herald needs, on libsodium.
 *
 * Tokens are 32 random bytes shown as base64url (43 characters, 256 bits);
 * only their SHA-256 is stored, so a stolen database yields no usable token,
 * and lookups stay an index probe because tokens have full entropy (no slow
 * hash needed). Passwords use Argon2id with OWASP's parameters or stronger.
 * SMS codes are keyed-hashed (HMAC-SHA256 with the server secret) because six
 * digits would fall to a dictionary otherwise.
 */
#ifndef HERALD_CORE_CRYPTO_H
#define HERALD_CORE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define HCRYPTO_TOKEN_CHARS  43 /* base64url of 32 bytes */
#define HCRYPTO_HASH_BYTES   32
#define HCRYPTO_PWHASH_CHARS 128

/* Must be called once before any other function (sodium_init). */
int hcrypto_init(void);

/* A new random token (NUL-terminated, HCRYPTO_TOKEN_CHARS long). */
void hcrypto_token_new(char out[HCRYPTO_TOKEN_CHARS + 1]);

/* SHA-256 of a token string (what the database keeps). */
void hcrypto_token_hash(const char *token, size_t len, uint8_t out[HCRYPTO_HASH_BYTES]);

/* HMAC-SHA256 of msg under key. */
void hcrypto_hmac(const uint8_t *key, size_t key_len, const void *msg, size_t len, uint8_t out[HCRYPTO_HASH_BYTES]);

/* Constant-time equality of two equal-length buffers: 1 equal, 0 not. */
int hcrypto_equal(const void *a, const void *b, size_t len);

/* n random decimal digits from the CSPRNG (uniform, no modulo bias), NUL-terminated. */
void hcrypto_random_digits(char *out, size_t n);

/* A uniform random integer in [0, upper). */
uint32_t hcrypto_random_below(uint32_t upper);

/* Argon2id password hash string (m=19456 KiB, t=2, p=1). Returns 0 or HERR_NOMEM. */
int hcrypto_password_hash(const char *password, char out[HCRYPTO_PWHASH_CHARS]);

/* 1 if the password matches the stored hash string, else 0. */
int hcrypto_password_verify(const char *stored, const char *password);

#endif
