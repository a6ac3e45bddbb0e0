/*
 * test_crypto.c — tokens, hashes, Argon2id and the random digits behind SMS
 * codes; and the in-memory rate limiter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/codec.h"
#include "core/crypto.h"
#include "core/ratelimit.h"

static void test_token_shape_and_uniqueness(void **state)
{
	(void)state;
	char a[HCRYPTO_TOKEN_CHARS + 1], b[HCRYPTO_TOKEN_CHARS + 1];
	hcrypto_token_new(a);
	hcrypto_token_new(b);
	assert_int_equal(strlen(a), HCRYPTO_TOKEN_CHARS);
	assert_string_not_equal(a, b);
	uint8_t raw[64];
	assert_int_equal(hcodec_b64url_decode(a, strlen(a), raw, sizeof raw), 32);
}

static void test_token_hash_is_sha256(void **state)
{
	(void)state;
	/* SHA-256("abc") from FIPS 180-2. */
	uint8_t h[32];
	char hex[65];
	hcrypto_token_hash("abc", 3, h);
	hcodec_hex_encode(h, 32, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hmac_rfc4231_case2(void **state)
{
	(void)state;
	uint8_t h[32];
	char hex[65];
	hcrypto_hmac((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, h);
	hcodec_hex_encode(h, 32, hex);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_equal(void **state)
{
	(void)state;
	assert_true(hcrypto_equal("abcdef", "abcdef", 6));
	assert_false(hcrypto_equal("abcdef", "abcdeg", 6));
}

static void test_random_digits(void **state)
{
	(void)state;
	char d[7];
	int seen[10] = {0};
	for (int i = 0; i < 200; i++) {
		hcrypto_random_digits(d, 6);
		assert_int_equal(strlen(d), 6);
		for (int k = 0; k < 6; k++) {
			assert_true(d[k] >= '0' && d[k] <= '9');
			seen[d[k] - '0']++;
		}
	}
	for (int k = 0; k < 10; k++)
		assert_true(seen[k] > 0); /* 1200 draws: every digit shows up */
	for (int i = 0; i < 100; i++)
		assert_true(hcrypto_random_below(7) < 7);
}

static void test_password(void **state)
{
	(void)state;
	char h[HCRYPTO_PWHASH_CHARS];
	assert_int_equal(hcrypto_password_hash("correct horse", h), 0);
	assert_non_null(strstr(h, "$argon2id$"));
	assert_non_null(strstr(h, "m=19456,t=2,p=1"));
	assert_true(hcrypto_password_verify(h, "correct horse"));
	assert_false(hcrypto_password_verify(h, "correct horsE"));
}

static void test_ratelimit_window(void **state)
{
	(void)state;
	hratelimit *r = hratelimit_new(64, 1000, 3);
	assert_non_null(r);
	assert_int_equal(hratelimit_hit(r, "a", 0), 0);
	assert_int_equal(hratelimit_hit(r, "a", 10), 0);
	assert_int_equal(hratelimit_hit(r, "a", 20), 0);
	assert_int_equal(hratelimit_hit(r, "a", 30), 1);   /* 970 ms left → 1 s */
	assert_int_equal(hratelimit_hit(r, "b", 30), 0);   /* other keys unaffected */
	assert_int_equal(hratelimit_hit(r, "a", 1000), 0); /* a new window */
	hratelimit_free(r);
}

static void test_ratelimit_many_keys_bounded(void **state)
{
	(void)state;
	hratelimit *r = hratelimit_new(16, 60000, 1);
	char key[32];
	/* Far more keys than slots: the table recycles, never fails or grows. */
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof key, "ip:%d", i);
		assert_int_equal(hratelimit_hit(r, key, i), 0);
	}
	/* A fresh key over its limit is still refused. */
	assert_int_equal(hratelimit_hit(r, "fresh", 20000), 0);
	assert_true(hratelimit_hit(r, "fresh", 20001) > 0);
	hratelimit_free(r);
}

int main(void)
{
	assert_int_equal(hcrypto_init(), 0);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_token_shape_and_uniqueness),
	        cmocka_unit_test(test_token_hash_is_sha256),
	        cmocka_unit_test(test_hmac_rfc4231_case2),
	        cmocka_unit_test(test_equal),
	        cmocka_unit_test(test_random_digits),
	        cmocka_unit_test(test_password),
	        cmocka_unit_test(test_ratelimit_window),
	        cmocka_unit_test(test_ratelimit_many_keys_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
