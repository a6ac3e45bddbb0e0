/*
 * test_codec.c — unit tests of core/codec: hex and base64url against the
 * RFC 4648 test vectors, both alphabets, padding, canonical trailing bits,
 * bad input and output capacity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/codec.h"

static const struct {
	const char *plain;
	const char *b64;
} rfc4648[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void test_b64_rfc_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
		const char *p = rfc4648[i].plain;
		size_t n = strlen(p);
		char out[16];
		memset(out, 'x', sizeof out);
		assert_int_equal(hcodec_b64url_len(n), strlen(rfc4648[i].b64));
		hcodec_b64url_encode((const uint8_t *)p, n, out);
		assert_string_equal(out, rfc4648[i].b64);
		uint8_t back[16];
		assert_int_equal(hcodec_b64url_decode(out, strlen(out), back, sizeof back), (long)n);
		assert_memory_equal(back, p, n);
	}
}

static void test_b64_padding_tolerated(void **state)
{
	(void)state;
	uint8_t out[8];
	assert_int_equal(hcodec_b64url_decode("Zg==", 4, out, sizeof out), 1);
	assert_int_equal(out[0], 'f');
	assert_int_equal(hcodec_b64url_decode("Zm8=", 4, out, sizeof out), 2);
	assert_memory_equal(out, "fo", 2);
	assert_int_equal(hcodec_b64url_decode("Zm9vYmE=", 8, out, sizeof out), 5);
	assert_memory_equal(out, "fooba", 5);
	/* padding that does not complete a quantum, or too much of it */
	assert_int_equal(hcodec_b64url_decode("Zg=", 3, out, sizeof out), -1);
	assert_int_equal(hcodec_b64url_decode("Zg===", 5, out, sizeof out), -1);
	assert_int_equal(hcodec_b64url_decode("Zm9v=", 5, out, sizeof out), -1);
	assert_int_equal(hcodec_b64url_decode("Z=g=", 4, out, sizeof out), -1);
}

static void test_b64_alphabets(void **state)
{
	(void)state;
	const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
	char out[8];
	hcodec_b64url_encode(bytes, 3, out);
	assert_string_equal(out, "-_-_");
	hcodec_b64url_encode(bytes, 2, out);
	assert_string_equal(out, "-_8");
	uint8_t back[4];
	assert_int_equal(hcodec_b64url_decode("-_-_", 4, back, sizeof back), 3);
	assert_memory_equal(back, bytes, 3);
	assert_int_equal(hcodec_b64url_decode("+/+/", 4, back, sizeof back), 3); /* standard alphabet */
	assert_memory_equal(back, bytes, 3);
}

static void test_b64_rejects(void **state)
{
	(void)state;
	uint8_t out[16];
	assert_int_equal(hcodec_b64url_decode("Z", 1, out, sizeof out), -1); /* 6 bits cannot be a byte */
	assert_int_equal(hcodec_b64url_decode("Zm9vY", 5, out, sizeof out), -1);
	assert_int_equal(hcodec_b64url_decode("Zh", 2, out, sizeof out), -1); /* non-zero trailing bits */
	assert_int_equal(hcodec_b64url_decode("Zm9", 3, out, sizeof out), -1);
	assert_int_equal(hcodec_b64url_decode("Zm 9v", 5, out, sizeof out), -1);
	assert_int_equal(hcodec_b64url_decode("Zm9v\n", 5, out, sizeof out), -1);
	assert_int_equal(hcodec_b64url_decode("Zm.v", 4, out, sizeof out), -1);
	assert_int_equal(hcodec_b64url_decode("Zm9v\0Zm9v", 9, out, sizeof out), -1);
	assert_int_equal(hcodec_b64url_decode("", 0, out, 0), 0);
	/* output capacity */
	assert_int_equal(hcodec_b64url_decode("Zm9vYmFy", 8, out, 5), -1);
	assert_int_equal(hcodec_b64url_decode("Zm9vYmFy", 8, out, 6), 6);
}

static void test_b64_round_trip(void **state)
{
	(void)state;
	uint8_t in[300];
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (uint8_t)(i * 131 + 7);
	for (size_t n = 0; n <= sizeof in; n += (n < 40 ? 1 : 37)) {
		char text[420];
		size_t tl = hcodec_b64url_len(n);
		text[tl + 1] = '#';
		hcodec_b64url_encode(in, n, text);
		assert_int_equal(strlen(text), tl);
		assert_int_equal(text[tl + 1], '#'); /* wrote exactly len + NUL */
		assert_null(strpbrk(text, "+/="));
		uint8_t back[300];
		assert_int_equal(hcodec_b64url_decode(text, tl, back, n), (long)n);
		assert_memory_equal(back, in, n);
	}
	assert_int_equal(hcodec_b64url_len(32), 43);
	assert_int_equal(hcodec_b64url_len(33), 44);
}

static void test_hex(void **state)
{
	(void)state;
	const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[13];
	hcodec_hex_encode(bytes, sizeof bytes, out);
	assert_string_equal(out, "00017f80abff");
	hcodec_hex_encode(bytes, 0, out);
	assert_string_equal(out, "");
	uint8_t back[6];
	assert_int_equal(hcodec_hex_decode("00017f80abff", 12, back, sizeof back), 6);
	assert_memory_equal(back, bytes, 6);
	assert_int_equal(hcodec_hex_decode("00017F80ABFF", 12, back, sizeof back), 6);
	assert_memory_equal(back, bytes, 6);
	assert_int_equal(hcodec_hex_decode("", 0, back, 0), 0);
	assert_int_equal(hcodec_hex_decode("abc", 3, back, sizeof back), -1); /* odd length */
	assert_int_equal(hcodec_hex_decode("0g", 2, back, sizeof back), -1);
	assert_int_equal(hcodec_hex_decode(" 0", 2, back, sizeof back), -1);
	assert_int_equal(hcodec_hex_decode("0x01", 4, back, sizeof back), -1);
	assert_int_equal(hcodec_hex_decode("00017f80abff", 12, back, 5), -1); /* too small */
	/* only len bytes are read */
	assert_int_equal(hcodec_hex_decode("abzz", 2, back, sizeof back), 1);
	assert_int_equal(back[0], 0xab);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_b64_rfc_vectors), cmocka_unit_test(test_b64_padding_tolerated),
	        cmocka_unit_test(test_b64_alphabets),   cmocka_unit_test(test_b64_rejects),
	        cmocka_unit_test(test_b64_round_trip),  cmocka_unit_test(test_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
