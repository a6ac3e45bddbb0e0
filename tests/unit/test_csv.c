/*
 * test_csv.c — unit tests of core/csv: RFC 4180 quoting (only when needed,
 * quotes doubled, line breaks kept inside quotes), the formula guard for
 * cells a spreadsheet would run, UTF-8 passed through, records ending in
 * CRLF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/csv.h"

/* One cell as written, in a fresh buffer. */
static void check_cell(const char *in, bool guard, const char *want)
{
	hbuf b = HBUF_INIT;
	assert_int_equal(hcsv_cell(&b, in, guard), 0);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.len ? b.data : "", want, strlen(want));
	hbuf_free(&b);
}

static void test_plain_cells_are_not_quoted(void **state)
{
	(void)state;
	check_cell("hello", false, "hello");
	check_cell("", false, "");
	check_cell(NULL, true, "");
	check_cell("Алексей Иванов", true, "Алексей Иванов");
	check_cell("semi;colon and 'apostrophe'", true, "semi;colon and 'apostrophe'");
	check_cell("2026-11-24T10:00:00.000+00:00", false, "2026-11-24T10:00:00.000+00:00");
}

static void test_quoting(void **state)
{
	(void)state;
	check_cell("a,b", false, "\"a,b\"");
	check_cell("say \"hi\"", false, "\"say \"\"hi\"\"\"");
	check_cell("\"", false, "\"\"\"\"");
	check_cell("line1\nline2", false, "\"line1\nline2\"");
	check_cell("line1\r\nline2", false, "\"line1\r\nline2\"");
	check_cell("end\"", false, "\"end\"\"\"");
}

static void test_formula_guard(void **state)
{
	(void)state;
	check_cell("=SUM(A1:A9)", true, "'=SUM(A1:A9)");
	check_cell("+7 923", true, "'+7 923");
	check_cell("-1", true, "'-1");
	check_cell("@cmd", true, "'@cmd");
	check_cell("\tx", true, "'\tx");
	check_cell("\rx", true, "\"'\rx\""); /* guarded and quoted: the quote comes first */
	check_cell("=a,b", true, "\"'=a,b\"");
	check_cell("=HYPERLINK(\"x\")", true, "\"'=HYPERLINK(\"\"x\"\")\"");
	/* unguarded cells (server-made formats) stay as they are */
	check_cell("+79230000001", false, "+79230000001");
	check_cell("-5", false, "-5");
	/* only the first character matters */
	check_cell("a=b", true, "a=b");
	check_cell(" =b", true, " =b");
}

static void test_record(void **state)
{
	(void)state;
	hbuf b = HBUF_INIT;
	assert_int_equal(hcsv_cell(&b, "id", false), 0);
	assert_int_equal(hcsv_sep(&b), 0);
	assert_int_equal(hcsv_cell(&b, "a \"b\", c", true), 0);
	assert_int_equal(hcsv_sep(&b), 0);
	assert_int_equal(hcsv_cell(&b, NULL, true), 0);
	assert_int_equal(hcsv_end(&b), 0);
	assert_int_equal(hcsv_cell(&b, "2", false), 0);
	assert_int_equal(hcsv_end(&b), 0);
	assert_string_equal(b.data, "id,\"a \"\"b\"\", c\",\r\n2\r\n");
	hbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain_cells_are_not_quoted),
	        cmocka_unit_test(test_quoting),
	        cmocka_unit_test(test_formula_guard),
	        cmocka_unit_test(test_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
