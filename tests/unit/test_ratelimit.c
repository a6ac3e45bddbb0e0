/*
 * test_ratelimit.c — unit tests of core/ratelimit: the limit per key and
 * window, Retry-After seconds, separate keys, a new window, and forgiving a
 * hit (the cabinet sign-in counts only failures this way).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/ratelimit.h"

static void test_limit_and_window(void **state)
{
	(void)state;
	hratelimit *r = hratelimit_new(64, 60000, 3);
	assert_non_null(r);
	for (int i = 0; i < 3; i++)
		assert_int_equal(hratelimit_hit(r, "a", 1000), 0);
	assert_int_equal(hratelimit_hit(r, "a", 1000), 60); /* the whole window left */
	assert_int_equal(hratelimit_hit(r, "a", 30500), 31);
	assert_int_equal(hratelimit_hit(r, "b", 30500), 0); /* another key */
	assert_int_equal(hratelimit_hit(r, "a", 61000), 0); /* a new window */
	hratelimit_free(r);
}

static void test_forgive(void **state)
{
	(void)state;
	hratelimit *r = hratelimit_new(64, 60000, 2);
	/* successes given back never use up the limit */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(hratelimit_hit(r, "inn", 1000 + i), 0);
		hratelimit_forgive(r, "inn", 1000 + i);
	}
	assert_int_equal(hratelimit_hit(r, "inn", 2000), 0);
	assert_int_equal(hratelimit_hit(r, "inn", 2000), 0);
	assert_true(hratelimit_hit(r, "inn", 2000) > 0);
	/* forgiving an unknown key or below zero changes nothing */
	hratelimit_forgive(r, "nobody", 2000);
	hratelimit_forgive(r, "fresh", 2000);
	assert_int_equal(hratelimit_hit(r, "fresh", 2000), 0);
	assert_int_equal(hratelimit_hit(r, "fresh", 2000), 0);
	assert_true(hratelimit_hit(r, "fresh", 2000) > 0);
	/* a forgive after the window ended does not lend a hit to the next */
	hratelimit *w = hratelimit_new(64, 1000, 1);
	assert_int_equal(hratelimit_hit(w, "k", 0), 0);
	hratelimit_forgive(w, "k", 5000);
	assert_int_equal(hratelimit_hit(w, "k", 5000), 0);
	assert_true(hratelimit_hit(w, "k", 5000) > 0);
	hratelimit_free(w);
	hratelimit_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_limit_and_window),
	        cmocka_unit_test(test_forgive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
