/*
 * test_i64map.c — the hub's int64 → pointer map against a plain array model,
 * under random puts and deletes (deletion is where open addressing breaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/i64map.h"

#define N 2000

static void test_against_model(void **state)
{
	(void)state;
	static int present[N];
	i64map m = I64MAP_INIT;
	srand(7);
	for (int step = 0; step < 50000; step++) {
		int k = 1 + rand() % (N - 1);
		if (rand() % 3) {
			assert_int_equal(i64map_put(&m, k, &present[k]), 0);
			present[k] = 1;
		} else {
			void *v = i64map_del(&m, k);
			assert_true(present[k] ? v == &present[k] : v == NULL);
			present[k] = 0;
		}
		if (step % 997 == 0) {
			size_t count = 0;
			for (int i = 1; i < N; i++) {
				count += (size_t)present[i];
				assert_true(present[i] ? i64map_get(&m, i) == &present[i] : i64map_get(&m, i) == NULL);
			}
			assert_int_equal(count, m.count);
		}
	}
	i64map_free(&m);
}

static void test_large_keys(void **state)
{
	(void)state;
	i64map m = I64MAP_INIT;
	int x;
	assert_int_equal(i64map_put(&m, INT64_MAX, &x), 0);
	assert_int_equal(i64map_put(&m, (int64_t)1 << 40, &x), 0);
	assert_ptr_equal(i64map_get(&m, INT64_MAX), &x);
	assert_null(i64map_get(&m, 5));
	assert_ptr_equal(i64map_del(&m, INT64_MAX), &x);
	assert_null(i64map_get(&m, INT64_MAX));
	i64map_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_against_model),
	        cmocka_unit_test(test_large_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
