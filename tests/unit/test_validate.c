/*
 * test_validate.c — unit tests of core/validate: INN, phone numbers to E.164,
 * strict UTF-8 (overlongs, surrogates, truncation), cutting UTF-8 safely, and
 * case folding for search.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/validate.h"

static void test_inn(void **state)
{
	(void)state;
	assert_int_equal(hval_inn("7707083893"), 0);
	assert_int_equal(hval_inn("500100732259"), 0);
	assert_int_equal(hval_inn("0000000000"), 0); /* no checksum test, by contract */
	assert_int_equal(hval_inn("77070838931"), HERR_INN_INVALID);
	assert_int_equal(hval_inn("770708389"), HERR_INN_INVALID);
	assert_int_equal(hval_inn("5001007322591"), HERR_INN_INVALID);
	assert_int_equal(hval_inn("77070838a3"), HERR_INN_INVALID);
	assert_int_equal(hval_inn("7707 083893"), HERR_INN_INVALID);
	assert_int_equal(hval_inn(" 7707083893"), HERR_INN_INVALID);
	assert_int_equal(hval_inn("7707083893 "), HERR_INN_INVALID);
	assert_int_equal(hval_inn("+707083893"), HERR_INN_INVALID);
	assert_int_equal(hval_inn("７７０７０８３８９３"), HERR_INN_INVALID); /* full-width digits */
	assert_int_equal(hval_inn(""), HERR_INN_INVALID);
	assert_int_equal(hval_inn(NULL), HERR_INN_INVALID);
}

static void phone_ok(const char *in, int cc, const char *want)
{
	char out[17];
	memset(out, 'x', sizeof out);
	int rc = hval_phone_e164(in, cc, out);
	if (rc != 0)
		fail_msg("'%s' rejected (%d), want %s", in, rc, want);
	assert_string_equal(out, want);
}

static void phone_bad(const char *in, int cc)
{
	char out[17];
	int rc = hval_phone_e164(in, cc, out);
	if (rc != HERR_PHONE_INVALID)
		fail_msg("'%s' accepted as %s", in ? in : "(null)", out);
}

static void test_phone_forms(void **state)
{
	(void)state;
	phone_ok("8 (923) 338-16-38", 7, "+79233381638");
	phone_ok("+7 923 338 16 38", 7, "+79233381638");
	phone_ok("+7 (923) 338-16-38", 7, "+79233381638");
	phone_ok("+79233381638", 7, "+79233381638");
	phone_ok("89233381638", 7, "+79233381638");
	phone_ok("79233381638", 7, "+79233381638");
	phone_ok("00491701234567", 7, "+491701234567");
	phone_ok("00 49 170 1234567", 0, "+491701234567");
	phone_ok("+49.170.123.4567", 0, "+491701234567");
	phone_ok("491701234567", 0, "+491701234567");
	phone_ok("  +1 (415) 555-0100  ", 1, "+14155550100");
	/* without default_cc 7 an 8… number is taken as international as it stands */
	phone_ok("89233381638", 49, "+89233381638");
	/* the lengths at the edges of E.164 */
	phone_ok("+12345678", 0, "+12345678");
	phone_ok("+123456789012345", 0, "+123456789012345");
}

static void test_phone_rejects(void **state)
{
	(void)state;
	phone_bad(NULL, 7);
	phone_bad("", 7);
	phone_bad("   ", 7);
	phone_bad("+", 7);
	phone_bad("+1234567", 7);          /* 7 digits: too short */
	phone_bad("+1234567890123456", 7); /* 16 digits: too long */
	phone_bad("+12345678901234567890123", 7);
	phone_ok("923 338-16-38", 7, "+79233381638"); /* bare Russian mobile */
	phone_bad("9233381638", 49);                  /* 10 digits without prefix elsewhere */
	phone_bad("4951234567", 7);                   /* a bare landline number is ambiguous */
	phone_bad("3381638", 7);
	phone_bad("+0 923 338 16 38", 7); /* country code cannot start with 0 */
	phone_bad("000491701234567", 7);
	phone_bad("+7 923 338 16 3a", 7);
	phone_bad("+7 923 CALL NOW", 7);
	phone_bad("+7/923/3381638", 7);
	phone_bad("7+9233381638", 7);
	phone_bad("++79233381638", 7);
	phone_bad("+7 923 338 16 38 ext 5", 7);
	phone_bad("+7\t9233381638", 7);
	phone_bad("+７９２３３３８１６３８", 7);
	phone_bad("8 (923) 338-16-3", 7); /* 10 digits after the 8 trunk missing one */
	phone_bad("00", 7);
	phone_bad("001234567", 7); /* 7 digits after 00 */
}

static void test_phone_twelve_digit_eight(void **state)
{
	(void)state;
	/* 12 digits without prefix are international, even when they start with 8 */
	phone_ok("892333816388", 7, "+892333816388");
}

static void test_utf8_valid(void **state)
{
	(void)state;
	size_t n = 99;
	assert_int_equal(hval_utf8("", 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(hval_utf8("hello", 5, &n), 0);
	assert_int_equal(n, 5);
	const char *ru = "Привет, мир"; /* 6 + 2 + 3 code points, Cyrillic is 2 bytes each */
	assert_int_equal(hval_utf8(ru, strlen(ru), &n), 0);
	assert_int_equal(strlen(ru), 20);
	assert_int_equal(n, 11);
	const char *mix = "€𝄞ё"; /* 3 + 4 + 2 bytes */
	assert_int_equal(hval_utf8(mix, strlen(mix), &n), 0);
	assert_int_equal(n, 3);
	/* the edges of the code space */
	assert_int_equal(
	        hval_utf8("\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 19, &n), 0);
	assert_int_equal(n, 7);
	/* next to the surrogates */
	assert_int_equal(hval_utf8("\xed\x9f\xbf\xee\x80\x80", 6, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(hval_utf8("abc", 3, NULL), 0);
}

static void utf8_bad(const char *s, size_t len)
{
	size_t n = 1234;
	assert_int_equal(hval_utf8(s, len, &n), HERR_FIELD_INVALID);
	assert_int_equal(n, 1234);
}

static void test_utf8_invalid(void **state)
{
	(void)state;
	utf8_bad("\xc0\xaf", 2);                 /* overlong '/' */
	utf8_bad("\xc1\xbf", 2);                 /* overlong */
	utf8_bad("\xe0\x80\xaf", 3);             /* overlong 3-byte */
	utf8_bad("\xe0\x9f\xbf", 3);             /* overlong 3-byte, top */
	utf8_bad("\xf0\x80\x80\xaf", 4);         /* overlong 4-byte */
	utf8_bad("\xf0\x8f\xbf\xbf", 4);         /* overlong 4-byte, top */
	utf8_bad("\xed\xa0\x80", 3);             /* U+D800, high surrogate */
	utf8_bad("\xed\xbf\xbf", 3);             /* U+DFFF, low surrogate */
	utf8_bad("\xed\xa0\xbd\xed\xb8\x80", 6); /* CESU-8 pair */
	utf8_bad("\xf4\x90\x80\x80", 4);         /* U+110000 */
	utf8_bad("\xf5\x80\x80\x80", 4);
	utf8_bad("\xff", 1);
	utf8_bad("\xfe", 1);
	utf8_bad("\x80", 1); /* lone continuation */
	utf8_bad("a\xbf", 2);
	utf8_bad("\xd0", 1);         /* truncated 2-byte */
	utf8_bad("\xd0\x9f\xd1", 3); /* Cyrillic with its last character cut */
	utf8_bad("\xe2\x82", 2);     /* truncated euro sign */
	utf8_bad("\xf0\x9d\x84", 3); /* truncated 4-byte */
	utf8_bad("\xe2\x28\xa1", 3); /* bad continuation */
	utf8_bad("\xd0\x41", 2);
	utf8_bad("ab\0cd", 5); /* NUL */
	/* the length is respected: a valid string cut inside a character is invalid */
	const char *ru = "Привет";
	utf8_bad(ru, 3);
	size_t n;
	assert_int_equal(hval_utf8(ru, 4, &n), 0);
	assert_int_equal(n, 2);
}

static void test_utf8_char(void **state)
{
	(void)state;
	uint32_t cp = 0;
	assert_int_equal(hval_utf8_char("A", 1, &cp), 1);
	assert_int_equal(cp, 'A');
	assert_int_equal(hval_utf8_char("Ж", 2, &cp), 2);
	assert_int_equal(cp, 0x416);
	assert_int_equal(hval_utf8_char("\xe2\x80\xa8", 3, &cp), 3);
	assert_int_equal(cp, 0x2028);
	assert_int_equal(hval_utf8_char("\xf0\x9f\x98\x80", 4, &cp), 4);
	assert_int_equal(cp, 0x1F600);
	assert_int_equal(hval_utf8_char("\0", 1, &cp), 1);
	assert_int_equal(cp, 0);
	assert_int_equal(hval_utf8_char("\xf0\x9f\x98\x80", 3, &cp), 0);
	assert_int_equal(hval_utf8_char("", 0, &cp), 0);
	assert_int_equal(hval_utf8_char("\xc0\x80", 2, &cp), 0);
}

static void test_utf8_prefix(void **state)
{
	(void)state;
	const char *ru = "Привет"; /* 12 bytes, 2 per character */
	assert_int_equal(hval_utf8_prefix(ru, 12, 100), 12);
	assert_int_equal(hval_utf8_prefix(ru, 12, 12), 12);
	assert_int_equal(hval_utf8_prefix(ru, 12, 11), 10);
	assert_int_equal(hval_utf8_prefix(ru, 12, 10), 10);
	assert_int_equal(hval_utf8_prefix(ru, 12, 1), 0);
	assert_int_equal(hval_utf8_prefix(ru, 12, 0), 0);
	const char *emoji = "a😀b"; /* 1 + 4 + 1 bytes */
	assert_int_equal(hval_utf8_prefix(emoji, 6, 1), 1);
	assert_int_equal(hval_utf8_prefix(emoji, 6, 2), 1);
	assert_int_equal(hval_utf8_prefix(emoji, 6, 3), 1);
	assert_int_equal(hval_utf8_prefix(emoji, 6, 4), 1);
	assert_int_equal(hval_utf8_prefix(emoji, 6, 5), 5);
	/* every cut of a mixed string is itself valid UTF-8 and as long as possible */
	const char *mix = "Zß€😀Ж日x";
	size_t len = strlen(mix);
	for (size_t max = 0; max <= len + 1; max++) {
		size_t cut = hval_utf8_prefix(mix, len, max);
		assert_true(cut <= max && cut <= len);
		assert_int_equal(hval_utf8(mix, cut, NULL), 0);
		assert_true(cut == len || max - cut < 4);
		if (cut < len && cut < max)
			assert_int_not_equal(hval_utf8(mix, cut + 1, NULL), 0);
	}
}

static void test_digits(void **state)
{
	(void)state;
	assert_int_equal(hval_digits("1234", 6), 0);
	assert_int_equal(hval_digits("123456", 6), 0);
	assert_int_equal(hval_digits("0", 1), 0);
	assert_int_equal(hval_digits("1234567", 6), HERR_FIELD_INVALID);
	assert_int_equal(hval_digits("", 6), HERR_FIELD_INVALID);
	assert_int_equal(hval_digits("12a4", 6), HERR_FIELD_INVALID);
	assert_int_equal(hval_digits("-123", 6), HERR_FIELD_INVALID);
	assert_int_equal(hval_digits(" 123", 6), HERR_FIELD_INVALID);
	assert_int_equal(hval_digits(NULL, 6), HERR_FIELD_INVALID);
}

static void check_fold(const char *in, const char *want)
{
	char out[256];
	size_t n = hval_casefold(in, out, sizeof out);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_casefold(void **state)
{
	(void)state;
	check_fold("Hello WORLD 123", "hello world 123");
	check_fold("АЛЕКСЕЙ Ёлкин", "алексей ёлкин");
	check_fold("ЎЇЄ", "ўїє");
	check_fold("ŁUKASZ ŻÓŁĆ ĄĘŚŃŹ", "łukasz żółć ąęśńź");
	check_fold("ÄÖÜ ß", "äöü ß");
	check_fold("ΑΒΓ", "αβγ");
	check_fold("×÷", "×÷"); /* not letters */
	check_fold("already lower ёж", "already lower ёж");
	check_fold("", "");
	/* invalid bytes are copied, not dropped */
	check_fold("A\xff"
	           "B",
	           "a\xff"
	           "b");
	/* the output is cut on a character boundary */
	char small[4];
	assert_int_equal(hval_casefold("ЖЖЖ", small, sizeof small), 2);
	assert_string_equal(small, "ж");
	assert_int_equal(hval_casefold("x", small, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_inn),           cmocka_unit_test(test_phone_forms),
	        cmocka_unit_test(test_phone_rejects), cmocka_unit_test(test_phone_twelve_digit_eight),
	        cmocka_unit_test(test_utf8_valid),    cmocka_unit_test(test_utf8_invalid),
	        cmocka_unit_test(test_utf8_char),     cmocka_unit_test(test_utf8_prefix),
	        cmocka_unit_test(test_digits),        cmocka_unit_test(test_casefold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
