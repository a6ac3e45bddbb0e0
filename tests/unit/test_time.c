/*
 * test_time.c — unit tests of core/time: ISO 8601 formatting and parsing,
 * offsets, calendar edge cases and the server's local zone (set through TZ
 * with POSIX zone strings, so the tests do not depend on installed tzdata).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/time.h"

#define T_2014 1411329600000LL /* 2014-09-21T20:00:00Z */
#define T_MIN  (-62135596800000LL)
#define T_MAX  253402300799999LL

static int64_t parse_ok(const char *s, int def)
{
	int64_t ms = 0;
	int rc = htime_parse_iso(s, def, &ms);
	if (rc != 0)
		fail_msg("expected '%s' to parse, got %d", s, rc);
	return ms;
}

static void parse_bad(const char *s)
{
	int64_t ms = 12345;
	int rc = htime_parse_iso(s, 0, &ms);
	if (rc != HERR_DATE_INVALID)
		fail_msg("expected '%s' to be rejected, got %d", s ? s : "(null)", rc);
	assert_int_equal(ms, 12345); /* output untouched on error */
}

static void test_compat_example(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2014-09-21T23:00:00.000+03:00", 0), T_2014);
	char out[32];
	assert_int_equal(htime_format_iso(T_2014, 180, out), 29);
	assert_string_equal(out, "2014-09-21T23:00:00.000+03:00");
}

static void test_format_basics(void **state)
{
	(void)state;
	char out[32];
	htime_format_iso(0, 0, out);
	assert_string_equal(out, "1970-01-01T00:00:00.000+00:00");
	htime_format_iso(-1, 0, out);
	assert_string_equal(out, "1969-12-31T23:59:59.999+00:00");
	htime_format_iso(T_2014 + 7, -330, out);
	assert_string_equal(out, "2014-09-21T14:30:00.007-05:30");
	htime_format_iso(T_2014, 14 * 60, out);
	assert_string_equal(out, "2014-09-22T10:00:00.000+14:00");
	htime_format_iso(1709208000000LL, 0, out);
	assert_string_equal(out, "2024-02-29T12:00:00.000+00:00");
	htime_format_iso(T_MIN, 0, out);
	assert_string_equal(out, "0001-01-01T00:00:00.000+00:00");
	htime_format_iso(T_MAX, 0, out);
	assert_string_equal(out, "9999-12-31T23:59:59.999+00:00");
	/* out of range values are clamped, never garbage */
	htime_format_iso(INT64_MAX, 0, out);
	assert_string_equal(out, "9999-12-31T23:59:59.999+00:00");
	htime_format_iso(INT64_MIN, 0, out);
	assert_string_equal(out, "0001-01-01T00:00:00.000+00:00");
	/* at the edges an offset cannot push the wall clock out of the year range */
	htime_format_iso(T_MIN, -60, out);
	assert_string_equal(out, "0001-01-01T00:00:00.000-01:00");
	htime_format_iso(T_MAX, 60, out);
	assert_string_equal(out, "9999-12-31T23:59:59.999+01:00");
	/* an impossible offset is shown as UTC rather than as garbage */
	htime_format_iso(T_2014, 24 * 60, out);
	assert_string_equal(out, "2014-09-21T20:00:00.000+00:00");
	assert_int_equal(htime_format_iso(T_2014, -480, out), 29);
	assert_string_equal(out, "2014-09-21T12:00:00.000-08:00");
}

static void test_round_trip(void **state)
{
	(void)state;
	static const int64_t instants[] = {
	        0,     -1,    1,           T_2014,         T_2014 + 999, 951782400123LL /* 2000-02-29 */,
	        T_MIN, T_MAX, -86400001LL, 4102444799999LL};
	static const int offsets[] = {0, 180, -480, 330, -330, 345, 14 * 60, -12 * 60, 1439, -1439};
	for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
		for (size_t j = 0; j < sizeof offsets / sizeof offsets[0]; j++) {
			char out[32];
			int n = htime_format_iso(instants[i], offsets[j], out);
			assert_int_equal(n, 29);
			assert_int_equal(strlen(out), 29);
			/* the edges of the year range can not be shown at every offset */
			if ((instants[i] == T_MIN && offsets[j] < 0) || (instants[i] == T_MAX && offsets[j] > 0))
				continue;
			int64_t back = parse_ok(out, 999);
			if (back != instants[i])
				fail_msg("%s parsed back to %lld, want %lld", out, (long long)back,
				         (long long)instants[i]);
		}
	}
	/* a sweep over four years in steps that are not a divisor of a day */
	for (int64_t ms = 1700000000000LL - 2 * 365LL * 86400000; ms < 1700000000000LL + 2 * 365LL * 86400000;
	     ms += 3 * 3600 * 1000 + 7 * 60 * 1000 + 11 * 1000 + 13) {
		char out[32];
		htime_format_iso(ms, 180, out);
		assert_int_equal(parse_ok(out, 0), ms);
	}
}

static void test_zones(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2014-09-21T20:00:00Z", 600), T_2014);
	assert_int_equal(parse_ok("2014-09-21t20:00:00z", 600), T_2014);
	assert_int_equal(parse_ok("2014-09-22T01:30:00+05:30", 0), T_2014);
	assert_int_equal(parse_ok("2014-09-22T01:30:00+0530", 0), T_2014);
	assert_int_equal(parse_ok("2014-09-21T12:00:00-0800", 0), T_2014);
	assert_int_equal(parse_ok("2014-09-21T12:00:00-08:00", 0), T_2014);
	assert_int_equal(parse_ok("2014-09-21T23:00+03", 0), T_2014);
	assert_int_equal(parse_ok("2014-09-21T20:00:00-00:00", 0), T_2014);
	parse_bad("2014-09-21T20:00:00+3");
	parse_bad("2014-09-21T20:00:00+03:0");
	parse_bad("2014-09-21T20:00:00+030");
	parse_bad("2014-09-21T20:00:00+24:00");
	parse_bad("2014-09-21T20:00:00+03:60");
	parse_bad("2014-09-21T20:00:00+03:00x");
	parse_bad("2014-09-21T20:00:00 +03:00");
	parse_bad("2014-09-21T20:00:00UTC");
	parse_bad("2014-09-21T20:00:00ZZ");
	parse_bad("2014-09-21Z");
}

static void test_forms_and_default_offset(void **state)
{
	(void)state;
	/* no zone: the default offset applies */
	assert_int_equal(parse_ok("2014-09-21T23:00:00", 180), T_2014);
	assert_int_equal(parse_ok("2014-09-21 23:00:00", 180), T_2014);
	assert_int_equal(parse_ok("2014-09-21T23:00", 180), T_2014);
	assert_int_equal(parse_ok("2014-09-21T20:00", 0), T_2014);
	/* date only: midnight at the default offset */
	assert_int_equal(parse_ok("2014-09-22", 4 * 60), T_2014);
	assert_int_equal(parse_ok("2014-09-21", 0), T_2014 - 20 * 3600 * 1000LL);
	/* leap second clamps to :59 */
	assert_int_equal(parse_ok("2016-12-31T23:59:60Z", 0), parse_ok("2016-12-31T23:59:59Z", 0));
	/* a bad default offset is rejected rather than silently used */
	int64_t ms;
	assert_int_equal(htime_parse_iso("2014-09-21T20:00", 24 * 60, &ms), HERR_DATE_INVALID);
}

static void test_fraction(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2014-09-21T20:00:00.123456789Z", 0), T_2014 + 123);
	assert_int_equal(parse_ok("2014-09-21T20:00:00.999999999Z", 0), T_2014 + 999);
	assert_int_equal(parse_ok("2014-09-21T20:00:00.5Z", 0), T_2014 + 500);
	assert_int_equal(parse_ok("2014-09-21T20:00:00.05Z", 0), T_2014 + 50);
	assert_int_equal(parse_ok("2014-09-21T20:00:00.007", 0), T_2014 + 7);
	assert_int_equal(parse_ok("1969-12-31T23:59:59.999Z", 0), -1);
	parse_bad("2014-09-21T20:00:00.1234567890Z");
	parse_bad("2014-09-21T20:00:00.Z");
	parse_bad("2014-09-21T20:00:00.");
	parse_bad("2014-09-21T20:00:00,5Z");
	parse_bad("2014-09-21T20:00.5Z");
}

static void test_calendar(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2024-02-29T12:00:00Z", 0), 1709208000000LL);
	parse_ok("2000-02-29", 0);
	parse_ok("2023-12-31T23:59:59.999Z", 0);
	parse_ok("2023-04-30", 0);
	parse_bad("2023-02-29");
	parse_bad("1900-02-29");
	parse_bad("2100-02-29");
	parse_bad("2023-02-30");
	parse_bad("2023-04-31");
	parse_bad("2023-06-31");
	parse_bad("2023-13-01");
	parse_bad("2023-00-10");
	parse_bad("2023-01-00");
	parse_bad("2023-01-32");
	parse_bad("2023-01-01T24:00:00Z");
	parse_bad("2023-01-01T23:60:00Z");
	parse_bad("2023-01-01T23:59:61Z");
}

static void test_year_range(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("0001-01-01T00:00:00Z", 0), T_MIN);
	assert_int_equal(parse_ok("9999-12-31T23:59:59.999Z", 0), T_MAX);
	parse_bad("0000-01-01");
	parse_bad("10000-01-01");
	parse_bad("-2014-09-21");
	parse_bad("+2014-09-21");
	parse_bad("214-09-21");
}

static void test_garbage(void **state)
{
	(void)state;
	parse_bad(NULL);
	parse_bad("");
	parse_bad("now");
	parse_bad("2014-9-21");
	parse_bad("2014-09-1");
	parse_bad("2014/09/21");
	parse_bad("20140921");
	parse_bad("2014-09-21T");
	parse_bad("2014-09-21T23");
	parse_bad("2014-09-21T23:0");
	parse_bad("2014-09-21T23:00:0");
	parse_bad("2014-09-21T23:00:00 ");
	parse_bad(" 2014-09-21");
	parse_bad("2014-09-21x");
	parse_bad("2014-09-21TT23:00");
	parse_bad("2014-09-21T2a:00");
	parse_bad("1411329600000");
	assert_int_equal(htime_parse_iso("2014-09-21", 0, NULL), HERR_DATE_INVALID);
}

static void test_parse_offset(void **state)
{
	(void)state;
	int off = 7;
	assert_int_equal(htime_parse_offset("local", &off), 0);
	assert_int_equal(off, HTIME_LOCAL);
	assert_int_equal(htime_parse_offset("LOCAL", &off), 0);
	assert_int_equal(off, HTIME_LOCAL);
	assert_int_equal(htime_parse_offset("Z", &off), 0);
	assert_int_equal(off, 0);
	off = 7;
	assert_int_equal(htime_parse_offset("UTC", &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(htime_parse_offset("+03:00", &off), 0);
	assert_int_equal(off, 180);
	assert_int_equal(htime_parse_offset("-0530", &off), 0);
	assert_int_equal(off, -330);
	assert_int_equal(htime_parse_offset("+05", &off), 0);
	assert_int_equal(off, 300);
	off = 7;
	assert_int_equal(htime_parse_offset("", &off), HERR_FIELD_INVALID);
	assert_int_equal(htime_parse_offset("3", &off), HERR_FIELD_INVALID);
	assert_int_equal(htime_parse_offset("+3:00", &off), HERR_FIELD_INVALID);
	assert_int_equal(htime_parse_offset("+25:00", &off), HERR_FIELD_INVALID);
	assert_int_equal(htime_parse_offset("+03:00 ", &off), HERR_FIELD_INVALID);
	assert_int_equal(htime_parse_offset("Moscow", &off), HERR_FIELD_INVALID);
	assert_int_equal(htime_parse_offset(NULL, &off), HERR_FIELD_INVALID);
	assert_int_equal(off, 7);
}

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void test_local_fixed_zone(void **state)
{
	(void)state;
	set_tz("IST-05:30"); /* POSIX sign: five and a half hours east of UTC */
	char out[32];
	htime_format_iso(T_2014, HTIME_LOCAL, out);
	assert_string_equal(out, "2014-09-22T01:30:00.000+05:30");
	assert_int_equal(parse_ok("2014-09-22T01:30:00", HTIME_LOCAL), T_2014);
	assert_int_equal(parse_ok("2014-09-22T01:30:00Z", HTIME_LOCAL), T_2014 + 330 * 60000LL);
	unsetenv("TZ");
	tzset();
}

static void test_local_dst_zone(void **state)
{
	(void)state;
	set_tz("EST5EDT,M3.2.0,M11.1.0"); /* US Eastern rules, without tzdata */
	char out[32];
	htime_format_iso(1719849600000LL, HTIME_LOCAL, out); /* 2024-07-01T16:00Z */
	assert_string_equal(out, "2024-07-01T12:00:00.000-04:00");
	htime_format_iso(1705338000000LL, HTIME_LOCAL, out); /* 2024-01-15T17:00Z */
	assert_string_equal(out, "2024-01-15T12:00:00.000-05:00");
	assert_int_equal(parse_ok("2024-07-01T12:00:00", HTIME_LOCAL), 1719849600000LL);
	assert_int_equal(parse_ok("2024-01-15T12:00:00", HTIME_LOCAL), 1705338000000LL);
	/* round trip through local time over a DST change (2024-03-10 07:00Z) */
	for (int64_t ms = 1710000000000LL; ms < 1710200000000LL; ms += 1800 * 1000 + 1) {
		htime_format_iso(ms, HTIME_LOCAL, out);
		assert_int_equal(parse_ok(out, 0), ms);
	}
	unsetenv("TZ");
	tzset();
}

static void test_clocks(void **state)
{
	(void)state;
	int64_t now = htime_now_ms();
	assert_true(now > 1577836800000LL); /* after 2020-01-01 */
	assert_true(llabs(now - (int64_t)time(NULL) * 1000) < 2000);
	uint64_t a = htime_mono_ns();
	uint64_t b = htime_mono_ns();
	assert_true(b >= a);
	assert_true(a > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_compat_example),
	        cmocka_unit_test(test_format_basics),
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_zones),
	        cmocka_unit_test(test_forms_and_default_offset),
	        cmocka_unit_test(test_fraction),
	        cmocka_unit_test(test_calendar),
	        cmocka_unit_test(test_year_range),
	        cmocka_unit_test(test_garbage),
	        cmocka_unit_test(test_parse_offset),
	        cmocka_unit_test(test_local_fixed_zone),
	        cmocka_unit_test(test_local_dst_zone),
	        cmocka_unit_test(test_clocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
