/*
 * test_err.c — unit tests of core/err: the table is complete and consistent
 * (names, statuses, four languages, the %s placeholders), formatting is safe
 * with any detail, and Accept-Language picks the right language.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/validate.h"

static const struct {
	int code;
	const char *name;
	int status;
	int has_detail;
} expected[] = {
        {HERR_NOMEM, "nomem", 500, 0},
        {HERR_INTERNAL, "internal", 500, 0},
        {HERR_STORAGE, "storage", 503, 0},
        {HERR_IO, "io", 500, 0},
        {HERR_SCHEMA_TOO_NEW, "schema_too_new", 500, 0},
        {HERR_SHUTTING_DOWN, "shutting_down", 503, 0},
        {HERR_BAD_REQUEST, "bad_request", 400, 0},
        {HERR_BAD_JSON, "bad_json", 400, 0},
        {HERR_BODY_TOO_LARGE, "body_too_large", 413, 0},
        {HERR_HEADERS_TOO_LARGE, "headers_too_large", 431, 0},
        {HERR_ROUTE_NOT_FOUND, "route_not_found", 404, 0},
        {HERR_METHOD_NOT_ALLOWED, "method_not_allowed", 405, 0},
        {HERR_TIMEOUT, "timeout", 408, 0},
        {HERR_FIELD_MISSING, "field_missing", 422, 1},
        {HERR_FIELD_TYPE, "field_type", 400, 1},
        {HERR_FIELD_INVALID, "field_invalid", 422, 1},
        {HERR_INN_INVALID, "inn_invalid", 422, 0},
        {HERR_PHONE_INVALID, "phone_invalid", 422, 0},
        {HERR_DEVICE_INVALID, "device_invalid", 422, 0},
        {HERR_DATE_INVALID, "date_invalid", 422, 1},
        {HERR_COUNT_INVALID, "count_invalid", 422, 0},
        {HERR_TITLE_EMPTY, "title_empty", 422, 0},
        {HERR_TEXT_EMPTY, "text_empty", 422, 0},
        {HERR_TITLE_TOO_LONG, "title_too_long", 422, 1},
        {HERR_TEXT_TOO_LONG, "text_too_long", 422, 1},
        {HERR_NAME_INVALID, "name_invalid", 422, 0},
        {HERR_PUSHTOKEN_INVALID, "pushtoken_invalid", 422, 0},
        {HERR_CODE_FORMAT, "code_format", 422, 0},
        {HERR_UNAUTHORIZED, "unauthorized", 401, 0},
        {HERR_FORBIDDEN, "forbidden", 403, 0},
        {HERR_INN_MISMATCH, "inn_mismatch", 403, 0},
        {HERR_STAFF_MISMATCH, "staff_mismatch", 403, 0},
        {HERR_BAD_CREDENTIALS, "bad_credentials", 401, 0},
        {HERR_UNKNOWN_INN, "unknown_inn", 404, 1},
        {HERR_UNKNOWN_STAFF, "unknown_staff", 404, 0},
        {HERR_STAFF_DISABLED, "staff_disabled", 409, 0},
        {HERR_TENANT_EXISTS, "tenant_exists", 409, 0},
        {HERR_CODE_INVALID, "code_invalid", 401, 0},
        {HERR_CODE_EXPIRED, "code_expired", 401, 0},
        {HERR_CODE_ATTEMPTS, "code_attempts", 429, 0},
        {HERR_RATE_LIMITED, "rate_limited", 429, 0},
        {HERR_SMS_FAILED, "sms_failed", 502, 0},
        {HERR_NOT_FOUND, "not_found", 404, 0},
        {HERR_CONFLICT, "conflict", 409, 0},
        {HERR_NO_RECIPIENTS, "no_recipients", 422, 0},
        {HERR_UNKNOWN_EMPLOYEE, "unknown_employee", 422, 1},
        {HERR_EMPLOYEE_NO_MAILING, "employee_no_mailing", 422, 1},
        {HERR_RANGE_INVALID, "range_invalid", 422, 1},
        {HERR_EXPORT_TOO_LARGE, "export_too_large", 422, 1},
};

#define N_EXPECTED (sizeof expected / sizeof expected[0])

static size_t count_of(const char *s, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_every_code(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_EXPECTED; i++) {
		int rc = expected[i].code;
		assert_string_equal(herr_name(rc), expected[i].name);
		if (herr_http_status(rc) != expected[i].status)
			fail_msg("%s: status %d, want %d", expected[i].name, herr_http_status(rc), expected[i].status);
		for (int l = 0; l < HERR_LANG_COUNT; l++) {
			const char *t = herr_text(rc, (herr_lang)l);
			assert_non_null(t);
			if (strlen(t) < 2)
				fail_msg("%s/%s: empty sentence", expected[i].name, herr_lang_code((herr_lang)l));
			assert_int_equal(hval_utf8(t, strlen(t), NULL), 0);
			/* a detail sentence has exactly one %s, the others no '%' at all */
			if (count_of(t, "%") != (size_t)expected[i].has_detail ||
			    count_of(t, "%s") != (size_t)expected[i].has_detail)
				fail_msg("%s/%s: placeholders wrong in \"%s\"", expected[i].name,
				         herr_lang_code((herr_lang)l), t);
		}
		/* the languages really differ (no copy-pasted English), except very short ones */
		assert_string_not_equal(herr_text(rc, HERR_LANG_RU), herr_text(rc, HERR_LANG_EN));
		assert_string_not_equal(herr_text(rc, HERR_LANG_EN), herr_text(rc, HERR_LANG_DE));
		assert_string_not_equal(herr_text(rc, HERR_LANG_EN), herr_text(rc, HERR_LANG_PL));
	}
}

static void test_names_unique_and_snake_case(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_EXPECTED; i++) {
		const char *a = herr_name(expected[i].code);
		for (const char *p = a; *p; p++)
			assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
		for (size_t j = i + 1; j < N_EXPECTED; j++)
			assert_string_not_equal(a, herr_name(expected[j].code));
	}
}

static void test_unknown_codes(void **state)
{
	(void)state;
	assert_int_equal(herr_http_status(-9999), 500);
	assert_string_equal(herr_name(-9999), "internal");
	assert_int_equal(herr_http_status(-7), 500);
	assert_non_null(herr_text(-9999, HERR_LANG_EN));
	assert_int_equal(herr_http_status(HERR_OK), 200);
	assert_string_equal(herr_name(HERR_OK), "ok");
	/* an out-of-range language falls back to Russian */
	assert_string_equal(herr_text(HERR_UNKNOWN_STAFF, (herr_lang)42), herr_text(HERR_UNKNOWN_STAFF, HERR_LANG_RU));
	assert_string_equal(herr_lang_code((herr_lang)42), "ru");
}

static void test_russian_texts(void **state)
{
	(void)state;
	assert_string_equal(herr_text(HERR_UNKNOWN_STAFF, HERR_LANG_RU), "Сотрудник не найден");
	assert_string_equal(herr_text(HERR_CODE_INVALID, HERR_LANG_RU), "Код из СМС неверен");
	assert_string_equal(herr_text(HERR_UNKNOWN_INN, HERR_LANG_RU), "Организация с ИНН %s не существует");
	assert_string_equal(herr_text(HERR_DEVICE_INVALID, HERR_LANG_EN), "device must be android or apple");
}

static void test_format(void **state)
{
	(void)state;
	char out[256];
	herr_format(HERR_UNKNOWN_INN, HERR_LANG_RU, "7707083893", out, sizeof out);
	assert_string_equal(out, "Организация с ИНН 7707083893 не существует");
	herr_format(HERR_FIELD_MISSING, HERR_LANG_EN, "phone", out, sizeof out);
	assert_string_equal(out, "Required field phone is missing");
	herr_format(HERR_TITLE_TOO_LONG, HERR_LANG_EN, "100", out, sizeof out);
	assert_string_equal(out, "The message title is longer than 100 characters");
	/* NULL detail is an empty string */
	herr_format(HERR_FIELD_MISSING, HERR_LANG_EN, NULL, out, sizeof out);
	assert_string_equal(out, "Required field  is missing");
	/* a detail is never a format string */
	herr_format(HERR_FIELD_INVALID, HERR_LANG_EN, "%s%n%x%%", out, sizeof out);
	assert_string_equal(out, "Field %s%n%x%% has an invalid value");
	/* sentences without %s ignore the detail */
	herr_format(HERR_UNKNOWN_STAFF, HERR_LANG_DE, "ignored", out, sizeof out);
	assert_string_equal(out, "Mitarbeiter nicht gefunden");
	for (size_t i = 0; i < N_EXPECTED; i++) {
		for (int l = 0; l < HERR_LANG_COUNT; l++) {
			herr_format(expected[i].code, (herr_lang)l, "DETAIL", out, sizeof out);
			assert_int_equal(strstr(out, "DETAIL") != NULL, expected[i].has_detail);
			assert_null(strchr(out, '%'));
		}
	}
}

static void test_format_truncation(void **state)
{
	(void)state;
	char out[128];
	memset(out, 'x', sizeof out);
	herr_format(HERR_UNKNOWN_INN, HERR_LANG_RU, "7707083893", out, 1);
	assert_string_equal(out, "");
	assert_int_equal(out[1], 'x');
	/* every size leaves valid UTF-8, NUL-terminated inside the buffer */
	const char *full = "Организация с ИНН 7707083893 не существует";
	for (size_t size = 1; size <= strlen(full) + 1; size++) {
		memset(out, 'x', sizeof out);
		herr_format(HERR_UNKNOWN_INN, HERR_LANG_RU, "7707083893", out, size);
		size_t n = strlen(out);
		assert_true(n < size);
		if (size < sizeof out)
			assert_int_equal(out[size], 'x'); /* nothing written past out_size */
		assert_int_equal(hval_utf8(out, n, NULL), 0);
		assert_memory_equal(out, full, n);
		assert_true(size - 1 - n < 2); /* cut at most one Cyrillic character short */
	}
	herr_format(HERR_UNKNOWN_INN, HERR_LANG_RU, "x", NULL, 0); /* no crash */
	herr_format(HERR_UNKNOWN_INN, HERR_LANG_RU, "x", out, 0);
}

static void test_accept_language(void **state)
{
	(void)state;
	assert_int_equal(herr_lang_from_accept(NULL), HERR_LANG_RU);
	assert_int_equal(herr_lang_from_accept(""), HERR_LANG_RU);
	assert_int_equal(herr_lang_from_accept("de-DE,de;q=0.9,en;q=0.8"), HERR_LANG_DE);
	assert_int_equal(herr_lang_from_accept("fr"), HERR_LANG_RU);
	assert_int_equal(herr_lang_from_accept("pl;q=0.5, en;q=0.7"), HERR_LANG_EN);
	assert_int_equal(herr_lang_from_accept("en-US"), HERR_LANG_EN);
	assert_int_equal(herr_lang_from_accept("EN-gb"), HERR_LANG_EN);
	assert_int_equal(herr_lang_from_accept("pl"), HERR_LANG_PL);
	assert_int_equal(herr_lang_from_accept("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"), HERR_LANG_RU);
	assert_int_equal(herr_lang_from_accept("fr-FR, fr;q=0.9, de;q=0.3"), HERR_LANG_DE);
	assert_int_equal(herr_lang_from_accept("*"), HERR_LANG_RU);
	assert_int_equal(herr_lang_from_accept("fr;q=1, *;q=0.5"), HERR_LANG_RU);
	/* equal q: the first listed wins */
	assert_int_equal(herr_lang_from_accept("pl, de"), HERR_LANG_PL);
	assert_int_equal(herr_lang_from_accept("de;q=0.5,pl;q=0.5"), HERR_LANG_DE);
	/* q=0 means "not acceptable" */
	assert_int_equal(herr_lang_from_accept("en;q=0"), HERR_LANG_RU);
	assert_int_equal(herr_lang_from_accept("en;q=0.000, de;q=0.001"), HERR_LANG_DE);
	/* spaces and upper-case Q */
	assert_int_equal(herr_lang_from_accept("  pl ; Q=0.2 ,  de ; q=0.25 "), HERR_LANG_DE);
	/* a three-letter or longer tag is not a prefix match for a two-letter one */
	assert_int_equal(herr_lang_from_accept("deu, english, plx"), HERR_LANG_RU);
	/* malformed q values make the item unacceptable rather than preferred */
	assert_int_equal(herr_lang_from_accept("en;q=2, de;q=0.1"), HERR_LANG_DE);
	assert_int_equal(herr_lang_from_accept("en;q=abc, pl;q=0.1"), HERR_LANG_PL);
	assert_int_equal(herr_lang_from_accept("en;q=0.1234, pl;q=0.1"), HERR_LANG_PL);
	/* other parameters are ignored */
	assert_int_equal(herr_lang_from_accept("en;foo=bar;q=0.4,de;q=0.3"), HERR_LANG_EN);
	assert_int_equal(herr_lang_from_accept(",,;,en"), HERR_LANG_EN);
}

static void test_lang_codes(void **state)
{
	(void)state;
	assert_string_equal(herr_lang_code(HERR_LANG_RU), "ru");
	assert_string_equal(herr_lang_code(HERR_LANG_EN), "en");
	assert_string_equal(herr_lang_code(HERR_LANG_DE), "de");
	assert_string_equal(herr_lang_code(HERR_LANG_PL), "pl");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_code),      cmocka_unit_test(test_names_unique_and_snake_case),
	        cmocka_unit_test(test_unknown_codes),   cmocka_unit_test(test_russian_texts),
	        cmocka_unit_test(test_format),          cmocka_unit_test(test_format_truncation),
	        cmocka_unit_test(test_accept_language), cmocka_unit_test(test_lang_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
