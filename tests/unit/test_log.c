/*
 * test_log.c — unit tests of core/log: JSON lines on stderr (captured in a
 * temporary file), level filtering, escaping, buffering and flushing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/log.h"

static int saved_stderr = -1;
static char cap_path[512];

/* Sends fd 2 to a fresh temporary file. */
static int capture_start(void **state)
{
	(void)state;
	const char *dir = getenv("TMPDIR");
	snprintf(cap_path, sizeof cap_path, "%s/herald-test-log-XXXXXX", dir && dir[0] ? dir : P_tmpdir);
	int fd = mkstemp(cap_path);
	if (fd < 0)
		return -1;
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	hlog_set_level(HLOG_INFO);
	return 0;
}

static int capture_stop(void **state)
{
	(void)state;
	hlog_flush();
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	unlink(cap_path);
	return 0;
}

/* Everything written to the capture so far; caller frees. Truncates it afterwards. */
static char *captured(void)
{
	FILE *f = fopen(cap_path, "r");
	assert_non_null(f);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_int_equal(ftruncate(STDERR_FILENO, 0), 0);
	lseek(STDERR_FILENO, 0, SEEK_SET);
	return strdup(buf);
}

static json_t *parse_line(const char *line)
{
	json_error_t e;
	json_t *j = json_loads(line, 0, &e);
	if (j == NULL)
		fail_msg("not JSON: %s (%s)", line, e.text);
	return j;
}

static void test_line_shape(void **state)
{
	(void)state;
	hlog_line l;
	hlog_begin(&l, HLOG_INFO, "request");
	hlog_str(&l, "method", "POST");
	hlog_int(&l, "status", 200);
	hlog_int(&l, "big", INT64_MIN);
	hlog_double(&l, "ms", 1.25);
	hlog_double(&l, "nan", 0.0 / 0.0);
	hlog_str(&l, "none", NULL);
	hlog_str(&l, "text", "Привет \"мир\"\n\x01\xff");
	hlog_end(&l);
	char *out = captured();
	assert_string_equal(out, ""); /* info is buffered */
	free(out);
	hlog_flush();
	out = captured();
	size_t n = strlen(out);
	assert_true(n > 0 && out[n - 1] == '\n');
	assert_null(strchr(out, '\n') + 1 < out + n ? strchr(out, '\n') + 1 : NULL);
	assert_true(strncmp(out, "{\"ts\":\"", 7) == 0);
	json_t *j = parse_line(out);
	const char *ts = json_string_value(json_object_get(j, "ts"));
	assert_non_null(ts);
	assert_int_equal(strlen(ts), 29);
	assert_string_equal(ts + 23, "+00:00");
	assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(j, "event")), "request");
	assert_string_equal(json_string_value(json_object_get(j, "method")), "POST");
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
	assert_true(json_integer_value(json_object_get(j, "big")) == INT64_MIN);
	assert_true(json_real_value(json_object_get(j, "ms")) == 1.25);
	assert_true(json_is_null(json_object_get(j, "nan")));
	assert_true(json_is_null(json_object_get(j, "none")));
	assert_string_equal(json_string_value(json_object_get(j, "text")), "Привет \"мир\"\n\x01\xef\xbf\xbd");
	json_decref(j);
	free(out);
}

static void test_levels(void **state)
{
	(void)state;
	assert_int_equal(hlog_parse_level("debug"), HLOG_DEBUG);
	assert_int_equal(hlog_parse_level("info"), HLOG_INFO);
	assert_int_equal(hlog_parse_level("WARN"), HLOG_WARN);
	assert_int_equal(hlog_parse_level("error"), HLOG_ERROR);
	assert_int_equal(hlog_parse_level("verbose"), -1);
	assert_int_equal(hlog_parse_level(""), -1);
	assert_int_equal(hlog_parse_level(NULL), -1);

	hlog_msg(HLOG_DEBUG, "hidden", "x=%d", 1);
	hlog_flush();
	char *out = captured();
	assert_string_equal(out, "");
	free(out);

	hlog_set_level(HLOG_DEBUG);
	hlog_msg(HLOG_DEBUG, "shown", "x=%d", 1);
	hlog_set_level(HLOG_INFO);
	hlog_flush();
	out = captured();
	json_t *j = parse_line(out);
	assert_string_equal(json_string_value(json_object_get(j, "level")), "debug");
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "x=1");
	json_decref(j);
	free(out);

	/* warnings and errors are written at once, with what was buffered before them */
	hlog_msg(HLOG_INFO, "first", "a");
	hlog_msg(HLOG_WARN, "second", "b %s", "c");
	out = captured();
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	j = parse_line(out);
	assert_string_equal(json_string_value(json_object_get(j, "event")), "first");
	json_decref(j);
	j = parse_line(nl + 1);
	assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "b c");
	json_decref(j);
	free(out);

	/* a filtered line is a no-op all the way through */
	hlog_line l;
	hlog_begin(&l, HLOG_DEBUG, "x");
	assert_int_equal(l.active, 0);
	hlog_str(&l, "k", "v");
	hlog_int(&l, "n", 1);
	hlog_end(&l);
	hlog_flush();
	out = captured();
	assert_string_equal(out, "");
	free(out);
}

static void test_buffer_overflow_flushes(void **state)
{
	(void)state;
	char val[1000];
	memset(val, 'v', sizeof val - 1);
	val[sizeof val - 1] = '\0';
	for (int i = 0; i < 200; i++) {
		hlog_line l;
		hlog_begin(&l, HLOG_INFO, "bulk");
		hlog_int(&l, "i", i);
		hlog_str(&l, "v", val);
		hlog_end(&l);
	}
	/* 200 lines of ~1 KiB overflow the 64 KiB buffer: most is out already */
	char *out = captured();
	size_t before = strlen(out);
	assert_true(before > 0);
	hlog_flush();
	char *rest = captured();
	assert_true(strlen(rest) <= 64 * 1024); /* no more than one buffer was pending */
	size_t total = before + strlen(rest);
	char *all = malloc(total + 1);
	memcpy(all, out, before);
	memcpy(all + before, rest, strlen(rest) + 1);
	int lines = 0;
	for (char *p = all, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1, lines++) {
		*nl = '\0';
		json_t *j = parse_line(p);
		assert_int_equal(json_integer_value(json_object_get(j, "i")), lines);
		json_decref(j);
	}
	assert_int_equal(lines, 200);
	free(all);
	free(out);
	free(rest);

	/* a line bigger than the whole buffer is written whole */
	char *huge = malloc(100 * 1024);
	memset(huge, 'h', 100 * 1024 - 1);
	huge[100 * 1024 - 1] = '\0';
	hlog_line l;
	hlog_begin(&l, HLOG_INFO, "huge");
	hlog_str(&l, "v", huge);
	hlog_end(&l);
	hlog_flush();
	out = captured();
	json_t *j = parse_line(out);
	assert_int_equal(strlen(json_string_value(json_object_get(j, "v"))), 100 * 1024 - 1);
	json_decref(j);
	free(out);
	free(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_line_shape, capture_start, capture_stop),
	        cmocka_unit_test_setup_teardown(test_levels, capture_start, capture_stop),
	        cmocka_unit_test_setup_teardown(test_buffer_overflow_flushes, capture_start, capture_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
