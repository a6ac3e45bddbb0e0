/*
 * test_buf.c — unit tests of core/buf: growth, NUL termination, printf of
 * long output, JSON string escaping (control characters, U+2028/U+2029,
 * invalid UTF-8) and ownership transfer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"

static void test_append_and_grow(void **state)
{
	(void)state;
	hbuf b = HBUF_INIT;
	assert_int_equal(hbuf_puts(&b, "abc"), 0);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	assert_true(b.cap > b.len);
	assert_int_equal(hbuf_putc(&b, 'd'), 0);
	assert_int_equal(hbuf_append(&b, "efg", 2), 0);
	assert_string_equal(b.data, "abcdef");
	assert_int_equal(hbuf_append(&b, NULL, 0), 0);
	assert_int_equal(b.len, 6);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(hbuf_putc(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 10006);
	assert_int_equal(strlen(b.data), 10006);
	assert_int_equal(b.data[10005], (char)('a' + 9999 % 26));
	assert_true(b.cap >= b.len + 1);
	/* growth doubles, so capacity stays within a factor of two */
	assert_true(b.cap <= 2 * (b.len + 1));
	/* embedded NUL bytes are data */
	size_t before = b.len;
	assert_int_equal(hbuf_append(&b, "x\0y", 3), 0);
	assert_int_equal(b.len, before + 3);
	assert_memory_equal(b.data + before, "x\0y", 4);
	hbuf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	hbuf_free(&b); /* twice is harmless */
}

static void test_reserve(void **state)
{
	(void)state;
	hbuf b = HBUF_INIT;
	assert_int_equal(hbuf_reserve(&b, 1000), 0);
	assert_true(b.cap >= 1001);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	char *p = b.data;
	assert_int_equal(hbuf_append(&b, "0123456789", 10), 0);
	assert_ptr_equal(b.data, p); /* no move while within the reservation */
	assert_int_equal(hbuf_reserve(&b, SIZE_MAX), HERR_NOMEM);
	assert_int_equal(hbuf_reserve(&b, SIZE_MAX - 5), HERR_NOMEM);
	assert_string_equal(b.data, "0123456789"); /* untouched by the failures */
	assert_int_equal(b.len, 10);
	hbuf_free(&b);
}

static void test_printf(void **state)
{
	(void)state;
	hbuf b = HBUF_INIT;
	assert_int_equal(hbuf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(b.data, "42-x");
	char big[5000];
	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(hbuf_printf(&b, "[%s]", big), 0);
	assert_int_equal(b.len, 4 + 2 + 4999);
	assert_int_equal(b.data[5], 'q');
	assert_int_equal(b.data[b.len - 1], ']');
	assert_int_equal(strlen(b.data), b.len);
	assert_int_equal(hbuf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 4 + 2 + 4999);
	/* exactly at the boundary of the spare room */
	hbuf c = HBUF_INIT;
	for (int i = 0; i < 300; i++) {
		assert_int_equal(hbuf_printf(&c, "%03d", i), 0);
		assert_int_equal(c.len, (size_t)(i + 1) * 3);
	}
	assert_memory_equal(c.data + 297, "099", 3);
	assert_string_equal(c.data + 897, "299");
	hbuf_free(&b);
	hbuf_free(&c);
}

static void json_is(const char *in, size_t n, const char *want)
{
	hbuf b = HBUF_INIT;
	assert_int_equal(hbuf_json_str(&b, in, n), 0);
	assert_string_equal(b.data, want);
	assert_int_equal(b.len, strlen(want));
	hbuf_free(&b);
}

static void test_json_escapes(void **state)
{
	(void)state;
	json_is("", 0, "\"\"");
	json_is(NULL, 0, "\"\"");
	json_is("plain text", 10, "\"plain text\"");
	json_is("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"");
	json_is("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
	json_is("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
	json_is("a\0b", 3, "\"a\\u0000b\"");
	json_is("</script>", 9, "\"</script>\"");
}

static void test_json_utf8(void **state)
{
	(void)state;
	json_is("Привет", strlen("Привет"), "\"Привет\"");
	json_is("€😀", strlen("€😀"), "\"€😀\"");
	json_is("a\xe2\x80\xa8"
	        "b\xe2\x80\xa9"
	        "c",
	        9, "\"a\\u2028b\\u2029c\"");
	/* invalid bytes become U+FFFD escapes; the rest survives */
	json_is("a\xff"
	        "b",
	        3, "\"a\\ufffdb\"");
	json_is("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");
	json_is("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");
	json_is("\xd0\x9f\xd0", 3, "\"П\\ufffd\"");
	/* the length is respected: the string is not read past n */
	json_is("abcdef", 3, "\"abc\"");
	json_is("Привет", 3, "\"П\\ufffd\"");
}

static void test_json_appends(void **state)
{
	(void)state;
	hbuf b = HBUF_INIT;
	hbuf_puts(&b, "{");
	hbuf_json_str(&b, "k", 1);
	hbuf_putc(&b, ':');
	hbuf_json_str(&b, "v\n", 2);
	hbuf_putc(&b, '}');
	assert_string_equal(b.data, "{\"k\":\"v\\n\"}");
	hbuf_free(&b);
}

static void test_reset_and_steal(void **state)
{
	(void)state;
	hbuf b = HBUF_INIT;
	hbuf_puts(&b, "hello");
	size_t cap = b.cap;
	hbuf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(b.cap, cap); /* memory kept for reuse */
	hbuf_puts(&b, "world");
	size_t len = 0;
	char *s = hbuf_steal(&b, &len);
	assert_string_equal(s, "world");
	assert_int_equal(len, 5);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(s);
	/* stealing from an empty buffer still gives a string */
	hbuf e = HBUF_INIT;
	len = 99;
	s = hbuf_steal(&e, &len);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	hbuf_reset(&e); /* reset of a never-used buffer */
	assert_null(e.data);
	/* the buffer is usable again after a steal */
	hbuf_puts(&b, "again");
	s = hbuf_steal(&b, NULL);
	assert_string_equal(s, "again");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_append_and_grow), cmocka_unit_test(test_reserve),
	        cmocka_unit_test(test_printf),          cmocka_unit_test(test_json_escapes),
	        cmocka_unit_test(test_json_utf8),       cmocka_unit_test(test_json_appends),
	        cmocka_unit_test(test_reset_and_steal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
