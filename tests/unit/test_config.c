/*
 * test_config.c — unit tests of core/config: layer precedence (flag > env >
 * file > default), environment variable names, the file syntax with its
 * error messages, and the typed getters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"

/* Writes text to a fresh temporary file; returns its path in a static buffer. */
static const char *write_file(const char *text)
{
	static char path[512];
	const char *dir = getenv("TMPDIR");
	snprintf(path, sizeof path, "%s/herald-test-config-XXXXXX", dir && dir[0] ? dir : P_tmpdir);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return path;
}

static hconfig *make(void)
{
	hconfig *c = hconfig_new();
	assert_non_null(c);
	assert_int_equal(hconfig_define(c, "listen", "127.0.0.1:8080", "address to listen on"), 0);
	assert_int_equal(hconfig_define(c, "sms.http.url", NULL, "SMS gateway URL"), 0);
	assert_int_equal(hconfig_define(c, "sms.http.timeout", "5s", "SMS gateway timeout"), 0);
	assert_int_equal(hconfig_define(c, "body-limit", "1M", "largest request body"), 0);
	assert_int_equal(hconfig_define(c, "debug", "off", "debug mode"), 0);
	assert_int_equal(hconfig_define(c, "workers", "4", "worker threads"), 0);
	return c;
}

static void test_define_and_defaults(void **state)
{
	(void)state;
	hconfig *c = make();
	assert_string_equal(hconfig_get(c, "listen"), "127.0.0.1:8080");
	assert_null(hconfig_get(c, "sms.http.url"));
	assert_null(hconfig_get(c, "no.such.key"));
	assert_int_equal(hconfig_define(c, "listen", "x", "again"), HERR_CONFLICT);
	assert_int_equal(hconfig_define(c, "", "x", "empty"), HERR_FIELD_INVALID);
	assert_int_equal(hconfig_set(c, HCONFIG_FLAG, "no.such.key", "1"), HERR_FIELD_INVALID);
	assert_int_equal(hconfig_define(c, "nohelp", "v", NULL), 0);
	hconfig_free(c);
	hconfig_free(NULL);
}

static void test_precedence(void **state)
{
	(void)state;
	hconfig *c = make();
	unsetenv("HERALD_LISTEN");
	const char *path = write_file("listen = 0.0.0.0:1\n");
	char err[256] = "";
	assert_int_equal(hconfig_load_file(c, path, err, sizeof err), 0);
	unlink(path);
	assert_string_equal(hconfig_get(c, "listen"), "0.0.0.0:1"); /* file > default */

	setenv("HERALD_LISTEN", "0.0.0.0:2", 1);
	hconfig_load_env(c);
	assert_string_equal(hconfig_get(c, "listen"), "0.0.0.0:2"); /* env > file */

	assert_int_equal(hconfig_set(c, HCONFIG_FLAG, "listen", "0.0.0.0:3"), 0);
	assert_string_equal(hconfig_get(c, "listen"), "0.0.0.0:3"); /* flag > env */

	/* the order of loading does not matter, only the layer */
	assert_int_equal(hconfig_set(c, HCONFIG_FILE, "listen", "0.0.0.0:4"), 0);
	assert_string_equal(hconfig_get(c, "listen"), "0.0.0.0:3");
	/* clearing a layer uncovers the next one down */
	assert_int_equal(hconfig_set(c, HCONFIG_FLAG, "listen", NULL), 0);
	assert_string_equal(hconfig_get(c, "listen"), "0.0.0.0:2");
	assert_int_equal(hconfig_set(c, HCONFIG_ENV, "listen", NULL), 0);
	assert_string_equal(hconfig_get(c, "listen"), "0.0.0.0:4");
	assert_int_equal(hconfig_set(c, HCONFIG_FILE, "listen", NULL), 0);
	assert_string_equal(hconfig_get(c, "listen"), "127.0.0.1:8080");
	unsetenv("HERALD_LISTEN");
	hconfig_free(c);
}

static void test_env_names(void **state)
{
	(void)state;
	hconfig *c = make();
	setenv("HERALD_SMS_HTTP_URL", "https://sms.example/send", 1);
	setenv("HERALD_BODY_LIMIT", "16k", 1);
	setenv("HERALD_sms_http_timeout", "wrong case", 1);
	setenv("SMS_HTTP_TIMEOUT", "no prefix", 1);
	hconfig_load_env(c);
	assert_string_equal(hconfig_get(c, "sms.http.url"), "https://sms.example/send");
	assert_string_equal(hconfig_get(c, "body-limit"), "16k");
	assert_string_equal(hconfig_get(c, "sms.http.timeout"), "5s");
	/* values are copied, not referenced */
	setenv("HERALD_SMS_HTTP_URL", "changed", 1);
	assert_string_equal(hconfig_get(c, "sms.http.url"), "https://sms.example/send");
	/* an empty variable counts as set */
	setenv("HERALD_WORKERS", "", 1);
	hconfig_load_env(c);
	assert_string_equal(hconfig_get(c, "workers"), "");
	unsetenv("HERALD_SMS_HTTP_URL");
	unsetenv("HERALD_BODY_LIMIT");
	unsetenv("HERALD_sms_http_timeout");
	unsetenv("SMS_HTTP_TIMEOUT");
	unsetenv("HERALD_WORKERS");
	hconfig_free(c);
}

static void test_file_syntax(void **state)
{
	(void)state;
	hconfig *c = make();
	const char *path = write_file("\xEF\xBB\xBF# herald settings\n"
	                              "; another comment\n"
	                              "\n"
	                              "   listen   =   0.0.0.0:9000   \n"
	                              "debug=on\n"
	                              "[sms.http]\n"
	                              "url = \"https://sms.example/send?a=1#frag\"\n"
	                              "\ttimeout = 2500ms\n"
	                              "[ sms.http ]\n"
	                              "timeout = \"  10s  \"\r\n");
	char err[256] = "";
	assert_int_equal(hconfig_load_file(c, path, err, sizeof err), 0);
	unlink(path);
	assert_string_equal(hconfig_get(c, "listen"), "0.0.0.0:9000");
	assert_string_equal(hconfig_get(c, "debug"), "on");
	assert_string_equal(hconfig_get(c, "sms.http.url"), "https://sms.example/send?a=1#frag");
	assert_string_equal(hconfig_get(c, "sms.http.timeout"), "  10s  "); /* quotes keep spaces */
	hconfig_free(c);
}

static void file_error(const char *text, int want_rc, const char *want_suffix)
{
	hconfig *c = make();
	const char *path = write_file(text);
	char err[700] = "";
	assert_int_equal(hconfig_load_file(c, path, err, sizeof err), want_rc);
	char want[700];
	snprintf(want, sizeof want, "%s:%s", path, want_suffix);
	unlink(path);
	assert_string_equal(err, want);
	hconfig_free(c);
}

static void test_file_errors(void **state)
{
	(void)state;
	file_error("listen = a\nlisten = b\nlsiten = c\n", HERR_FIELD_INVALID, "3: unknown key 'lsiten'");
	file_error("[sms.http]\nurl = x\nport = 1\n", HERR_FIELD_INVALID, "3: unknown key 'sms.http.port'");
	file_error("# ok\n[sms\nurl = x\n", HERR_FIELD_INVALID, "2: missing ']' after the section name");
	file_error("[ ]\n", HERR_FIELD_INVALID, "1: bad section name");
	file_error("\n\nlisten 0.0.0.0\n", HERR_FIELD_INVALID, "3: expected 'key = value'");
	file_error("= value\n", HERR_FIELD_INVALID, "1: empty key");
	file_error("listen = \"0.0.0.0\n", HERR_FIELD_INVALID, "1: unterminated quoted value");
	file_error("listen = \"\n", HERR_FIELD_INVALID, "1: unterminated quoted value");
	/* a key of the section is not found at top level */
	file_error("url = x\n", HERR_FIELD_INVALID, "1: unknown key 'url'");

	hconfig *c = make();
	char missing[600], err[700] = "", want[700];
	const char *tmp = write_file("");
	snprintf(missing, sizeof missing, "%s-gone/herald.conf", tmp);
	unlink(tmp); /* only the name was needed */
	assert_int_equal(hconfig_load_file(c, missing, err, sizeof err), HERR_IO);
	snprintf(want, sizeof want, "%s: cannot open", missing);
	assert_true(strncmp(err, want, strlen(want)) == 0);
	hconfig_free(c);
}

static void test_typed_int_bool(void **state)
{
	(void)state;
	hconfig *c = make();
	char err[256] = "";
	int64_t i = 0;
	assert_int_equal(hconfig_get_int(c, "workers", &i, err, sizeof err), 0);
	assert_int_equal(i, 4);
	static const struct {
		const char *v;
		int64_t want;
	} ints[] = {{"0", 0},
	            {"-17", -17},
	            {"+8", 8},
	            {"9223372036854775807", INT64_MAX},
	            {"-9223372036854775808", INT64_MIN}};
	for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
		hconfig_set(c, HCONFIG_FLAG, "workers", ints[k].v);
		assert_int_equal(hconfig_get_int(c, "workers", &i, err, sizeof err), 0);
		assert_true(i == ints[k].want);
	}
	static const char *const bad_ints[] = {"", "x", "1x", " 1", "1 ", "9223372036854775808", "1.5", "0x10"};
	for (size_t k = 0; k < sizeof bad_ints / sizeof bad_ints[0]; k++) {
		hconfig_set(c, HCONFIG_FLAG, "workers", bad_ints[k]);
		i = 77;
		err[0] = '\0';
		assert_int_equal(hconfig_get_int(c, "workers", &i, err, sizeof err), HERR_FIELD_INVALID);
		assert_int_equal(i, 77);
		assert_true(strncmp(err, "workers: ", 9) == 0);
	}

	bool b = true;
	assert_int_equal(hconfig_get_bool(c, "debug", &b, err, sizeof err), 0);
	assert_false(b);
	static const char *const yes[] = {"true", "TRUE", "yes", "on", "1", "On"};
	static const char *const no[] = {"false", "no", "off", "0", "NO"};
	for (size_t k = 0; k < sizeof yes / sizeof yes[0]; k++) {
		hconfig_set(c, HCONFIG_FLAG, "debug", yes[k]);
		b = false;
		assert_int_equal(hconfig_get_bool(c, "debug", &b, err, sizeof err), 0);
		assert_true(b);
	}
	for (size_t k = 0; k < sizeof no / sizeof no[0]; k++) {
		hconfig_set(c, HCONFIG_FLAG, "debug", no[k]);
		b = true;
		assert_int_equal(hconfig_get_bool(c, "debug", &b, err, sizeof err), 0);
		assert_false(b);
	}
	hconfig_set(c, HCONFIG_FLAG, "debug", "maybe");
	assert_int_equal(hconfig_get_bool(c, "debug", &b, err, sizeof err), HERR_FIELD_INVALID);
	assert_non_null(strstr(err, "debug: 'maybe'"));
	hconfig_free(c);
}

static void test_typed_size(void **state)
{
	(void)state;
	hconfig *c = make();
	char err[256];
	uint64_t n = 0;
	assert_int_equal(hconfig_get_size(c, "body-limit", &n, err, sizeof err), 0);
	assert_int_equal(n, 1048576);
	static const struct {
		const char *v;
		uint64_t want;
	} sizes[] = {{"1048576", 1048576}, {"16k", 16384},
	             {"16K", 16384},       {"16kb", 16384},
	             {"1M", 1048576},      {"2m", 2097152},
	             {"1G", 1073741824},   {"0", 0},
	             {"3MB", 3145728},     {"16777216k", 17179869184ULL}};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		hconfig_set(c, HCONFIG_FLAG, "body-limit", sizes[k].v);
		assert_int_equal(hconfig_get_size(c, "body-limit", &n, err, sizeof err), 0);
		assert_true(n == sizes[k].want);
	}
	static const char *const bad[] = {
	        "", "k", "-1", "1T", "1.5M", "1 M", "1Mi", "18446744073709551616", "18014398509481984k"};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		hconfig_set(c, HCONFIG_FLAG, "body-limit", bad[k]);
		n = 5;
		assert_int_equal(hconfig_get_size(c, "body-limit", &n, err, sizeof err), HERR_FIELD_INVALID);
		assert_int_equal(n, 5);
		assert_true(strncmp(err, "body-limit: ", 12) == 0);
	}
	hconfig_free(c);
}

static void test_typed_duration(void **state)
{
	(void)state;
	hconfig *c = make();
	char err[256];
	int64_t ms = 0;
	assert_int_equal(hconfig_get_duration_ms(c, "sms.http.timeout", &ms, err, sizeof err), 0);
	assert_int_equal(ms, 5000);
	static const struct {
		const char *v;
		int64_t want;
	} durations[] = {{"250ms", 250}, {"10s", 10000}, {"5m", 300000}, {"1h", 3600000}, {"1500", 1500}, {"0", 0}};
	for (size_t k = 0; k < sizeof durations / sizeof durations[0]; k++) {
		hconfig_set(c, HCONFIG_FLAG, "sms.http.timeout", durations[k].v);
		assert_int_equal(hconfig_get_duration_ms(c, "sms.http.timeout", &ms, err, sizeof err), 0);
		assert_true(ms == durations[k].want);
	}
	static const char *const bad[] = {
	        "", "s", "-5s", "5 s", "5sec", "1d", "1.5s", "99999999999999999999ms", "9999999999999999h"};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		hconfig_set(c, HCONFIG_FLAG, "sms.http.timeout", bad[k]);
		ms = 5;
		assert_int_equal(hconfig_get_duration_ms(c, "sms.http.timeout", &ms, err, sizeof err),
		                 HERR_FIELD_INVALID);
		assert_int_equal(ms, 5);
		assert_true(strncmp(err, "sms.http.timeout: ", 18) == 0);
	}
	hconfig_free(c);
}

static void test_typed_unset_and_undefined(void **state)
{
	(void)state;
	hconfig *c = make();
	assert_int_equal(hconfig_define(c, "cache.size", NULL, "cache size"), 0);
	char err[256] = "";
	uint64_t n = 123;
	assert_int_equal(hconfig_get_size(c, "cache.size", &n, err, sizeof err), 0);
	assert_int_equal(n, 123); /* unset: untouched */
	int64_t i = 9;
	assert_int_equal(hconfig_get_int(c, "nope", &i, err, sizeof err), HERR_FIELD_INVALID);
	assert_string_equal(err, "nope: not a defined setting");
	assert_int_equal(i, 9);
	hconfig_free(c);
}

typedef struct each_log {
	char text[1024];
	size_t len;
} each_log;

static void each_cb(void *ud, const char *key, const char *value, const char *def, const char *help)
{
	each_log *log = ud;
	log->len += (size_t)snprintf(log->text + log->len, sizeof log->text - log->len, "%s=%s(%s;%s)\n", key,
	                             value ? value : "-", def ? def : "-", help);
}

static void test_each(void **state)
{
	(void)state;
	hconfig *c = make();
	hconfig_set(c, HCONFIG_ENV, "workers", "8");
	each_log log = {"", 0};
	hconfig_each(c, each_cb, &log);
	assert_string_equal(log.text, "listen=127.0.0.1:8080(127.0.0.1:8080;address to listen on)\n"
	                              "sms.http.url=-(-;SMS gateway URL)\n"
	                              "sms.http.timeout=5s(5s;SMS gateway timeout)\n"
	                              "body-limit=1M(1M;largest request body)\n"
	                              "debug=off(off;debug mode)\n"
	                              "workers=8(4;worker threads)\n");
	hconfig_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_define_and_defaults),
	        cmocka_unit_test(test_precedence),
	        cmocka_unit_test(test_env_names),
	        cmocka_unit_test(test_file_syntax),
	        cmocka_unit_test(test_file_errors),
	        cmocka_unit_test(test_typed_int_bool),
	        cmocka_unit_test(test_typed_size),
	        cmocka_unit_test(test_typed_duration),
	        cmocka_unit_test(test_typed_unset_and_undefined),
	        cmocka_unit_test(test_each),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
