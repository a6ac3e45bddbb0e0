/*
 * crypto.c — see crypto.h. Thin and boring on purpose: libsodium does the
 * work; this file fixes the parameters in one place.
 */
#include "core/crypto.h"

#include <sodium.h>
#include <string.h>

#include "core/codec.h"
#include "core/err.h"

int hcrypto_init(void)
{
	return sodium_init() < 0 ? HERR_INTERNAL : 0;
}

void hcrypto_token_new(char out[HCRYPTO_TOKEN_CHARS + 1])
{
	uint8_t raw[32];
	randombytes_buf(raw, sizeof raw);
	hcodec_b64url_encode(raw, sizeof raw, out);
	sodium_memzero(raw, sizeof raw);
}

void hcrypto_token_hash(const char *token, size_t len, uint8_t out[HCRYPTO_HASH_BYTES])
{
	crypto_hash_sha256(out, (const unsigned char *)token, len);
}

void hcrypto_hmac(const uint8_t *key, size_t key_len, const void *msg, size_t len, uint8_t out[HCRYPTO_HASH_BYTES])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, msg, len);
	crypto_auth_hmacsha256_final(&st, out);
}

int hcrypto_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

void hcrypto_random_digits(char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('0' + randombytes_uniform(10));
	out[n] = '\0';
}

uint32_t hcrypto_random_below(uint32_t upper)
{
	return randombytes_uniform(upper);
}

int hcrypto_password_hash(const char *password, char out[HCRYPTO_PWHASH_CHARS])
{
	/* OWASP: m=19456 KiB, t=2, p=1 (libsodium's Argon2id always uses p=1). */
	if (crypto_pwhash_str_alg(out, password, strlen(password), 2, 19456u * 1024u, crypto_pwhash_ALG_ARGON2ID13) !=
	    0)
		return HERR_NOMEM;
	return 0;
}

int hcrypto_password_verify(const char *stored, const char *password)
{
	return crypto_pwhash_str_verify(stored, password, strlen(password)) == 0;
}
