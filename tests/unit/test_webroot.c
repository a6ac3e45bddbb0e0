/*
 * test_webroot.c — the static file server's pure parts: path normalisation
 * (traversal refused however it is spelt), content types, Accept-Encoding
 * negotiation, If-None-Match matching, cache policy and the SPA fallback;
 * and loading a directory (precompressed variants, symlinks out of the root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/webroot.h"
#include "core/err.h"

static void norm_ok(const char *in, const char *want)
{
	char out[256];
	int rc = webroot_normalize(in, out, sizeof out);
	if (rc != 0)
		fail_msg("normalize(%s) = %d, wanted %s", in, rc, want);
	assert_string_equal(out, want);
}

static void norm_bad(const char *in)
{
	char out[256];
	assert_int_equal(webroot_normalize(in, out, sizeof out), HERR_BAD_REQUEST);
}

static void test_normalize(void **state)
{
	(void)state;
	norm_ok("/", "/");
	norm_ok("/m/", "/m/");
	norm_ok("/assets/app-1.js", "/assets/app-1.js");
	norm_ok("//m///chats", "/m/chats");
	norm_ok("/a%20b.txt", "/a b.txt");
	norm_ok("/m/chats?x=../..", "/m/chats");
	norm_ok("/.well-known/x", "/.well-known/x");
	norm_ok("/a..b/c", "/a..b/c");
	norm_bad("/../etc/passwd");
	norm_bad("/m/../../etc/passwd");
	norm_bad("/%2e%2e/etc/passwd");
	norm_bad("/%2E%2e%2fetc%2fpasswd");
	norm_bad("/..%2f..%2fetc/passwd");
	norm_bad("/a/%2e/b");
	norm_bad("/a/.");
	norm_bad("/a/..");
	norm_bad("/index.html%00.png");
	norm_bad("/a%5c..%5cb");
	norm_bad("/a\\b");
	norm_bad("/a%0ab");
	norm_bad("/a%zz");
	norm_bad("/a%4");
	norm_bad("relative");
	norm_bad("");
	char small[4];
	assert_int_equal(webroot_normalize("/abcdef", small, sizeof small), HERR_FIELD_INVALID);
}

static void test_content_types(void **state)
{
	(void)state;
	assert_string_equal(webroot_content_type("/index.html"), "text/html; charset=utf-8");
	assert_string_equal(webroot_content_type("/assets/a-1.js"), "text/javascript; charset=utf-8");
	assert_string_equal(webroot_content_type("/assets/a-1.CSS"), "text/css; charset=utf-8");
	assert_string_equal(webroot_content_type("/m/manifest.webmanifest"),
	                    "application/manifest+json; charset=utf-8");
	assert_string_equal(webroot_content_type("/m/icon.svg"), "image/svg+xml; charset=utf-8");
	assert_string_equal(webroot_content_type("/m/icon-192.png"), "image/png");
	assert_string_equal(webroot_content_type("/favicon.ico"), "image/x-icon");
	assert_string_equal(webroot_content_type("/f.woff2"), "font/woff2");
	assert_string_equal(webroot_content_type("/openapi.yaml"), "application/yaml; charset=utf-8");
	assert_string_equal(webroot_content_type("/README"), "application/octet-stream");
	assert_string_equal(webroot_content_type("/.hidden"), "application/octet-stream");
	assert_string_equal(webroot_content_type("/x.unknown"), "application/octet-stream");
	assert_true(webroot_compressible("text/javascript; charset=utf-8"));
	assert_false(webroot_compressible("image/png"));
	assert_false(webroot_compressible("application/octet-stream"));
}

static void test_encoding(void **state)
{
	(void)state;
	assert_int_equal(webroot_pick_encoding(NULL, true, true), WEBROOT_IDENTITY);
	assert_int_equal(webroot_pick_encoding("", true, true), WEBROOT_IDENTITY);
	assert_int_equal(webroot_pick_encoding("gzip, deflate, br", true, true), WEBROOT_BR);
	assert_int_equal(webroot_pick_encoding("gzip, deflate, br", false, true), WEBROOT_GZIP);
	assert_int_equal(webroot_pick_encoding("gzip, deflate, br", false, false), WEBROOT_IDENTITY);
	assert_int_equal(webroot_pick_encoding("gzip", true, true), WEBROOT_GZIP);
	assert_int_equal(webroot_pick_encoding("br;q=0, gzip", true, true), WEBROOT_GZIP);
	assert_int_equal(webroot_pick_encoding("br;q=0.5, gzip;q=0.8", true, true), WEBROOT_GZIP);
	assert_int_equal(webroot_pick_encoding("BR ; q=1.0", true, true), WEBROOT_BR);
	assert_int_equal(webroot_pick_encoding("*", true, true), WEBROOT_BR);
	assert_int_equal(webroot_pick_encoding("*;q=0", true, true), WEBROOT_IDENTITY);
	assert_int_equal(webroot_pick_encoding("x-gzip", true, true), WEBROOT_GZIP);
	assert_int_equal(webroot_pick_encoding("identity", true, true), WEBROOT_IDENTITY);
	assert_int_equal(webroot_pick_encoding("gzip;q=0", false, true), WEBROOT_IDENTITY);
	assert_int_equal(webroot_pick_encoding("brotli, gzipx", true, true), WEBROOT_IDENTITY);
	assert_int_equal(webroot_pick_encoding(",,;;q=, br", true, false), WEBROOT_BR);
}

static void test_etag(void **state)
{
	(void)state;
	const char *tag = "\"abc\"";
	assert_true(webroot_etag_matches("\"abc\"", tag));
	assert_true(webroot_etag_matches("W/\"abc\"", tag));
	assert_true(webroot_etag_matches("\"x\", \"abc\"", tag));
	assert_true(webroot_etag_matches("*", tag));
	assert_false(webroot_etag_matches("\"abcd\"", tag));
	assert_false(webroot_etag_matches("\"ab\"", tag));
	assert_false(webroot_etag_matches("", tag));
	assert_false(webroot_etag_matches(NULL, tag));
	assert_false(webroot_etag_matches("\"abc-gz\"", tag));
}

static void test_policy(void **state)
{
	(void)state;
	assert_true(webroot_immutable("/assets/index-AbC123xy.js"));
	assert_true(webroot_immutable("/m/assets/x-1.css"));
	assert_false(webroot_immutable("/index.html"));
	assert_false(webroot_immutable("/m/sw.js"));
	assert_false(webroot_immutable("/embed/herald-chat.js"));
	assert_string_equal(webroot_spa_fallback("/m/chats/5"), "/m/index.html");
	assert_string_equal(webroot_spa_fallback("/m/"), "/m/index.html");
	assert_string_equal(webroot_spa_fallback("/chats/5"), "/index.html");
	assert_string_equal(webroot_spa_fallback("/cabinet/employees"), "/index.html");
	assert_null(webroot_spa_fallback("/assets/gone-1.js"));
	assert_null(webroot_spa_fallback("/m/missing.png"));
	assert_null(webroot_spa_fallback("/embed/x"));
	assert_null(webroot_spa_fallback("/.env"));
	assert_null(webroot_spa_fallback("/m/.git"));
	assert_null(webroot_spa_fallback("/api/v2/nothing"));
	assert_null(webroot_spa_fallback("/ws"));
	assert_null(webroot_spa_fallback("/metrics"));
	assert_true(webroot_reserved("/api/v1/auth"));
	assert_true(webroot_reserved("/healthz"));
	assert_false(webroot_reserved("/apis"));
	assert_false(webroot_reserved("/wsx"));
}

static void put(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

static void test_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/herald-webroot-XXXXXX", p[512];
	assert_non_null(mkdtemp(dir));
	webroot *w = NULL;
	char err[256];
	assert_int_equal(webroot_load(dir, &w, err, sizeof err), HERR_NOT_FOUND);
	assert_null(w);
	snprintf(p, sizeof p, "%s/index.html", dir);
	put(p, "<p>hi</p>", 9);
	snprintf(p, sizeof p, "%s/big.js", dir);
	put(p, "0123456789012345678901234567890123456789", 40);
	snprintf(p, sizeof p, "%s/big.js.gz", dir);
	put(p, "small", 5);
	snprintf(p, sizeof p, "%s/big.js.br", dir);
	put(p, "this brotli variant is larger than the file itself", 50);
	snprintf(p, sizeof p, "%s/out", dir);
	assert_int_equal(symlink("/etc/hostname", p), 0);
	snprintf(p, sizeof p, "%s/in", dir);
	assert_int_equal(symlink("index.html", p), 0);
	snprintf(p, sizeof p, "%s/.secret", dir);
	put(p, "x", 1);
	assert_int_equal(webroot_load(dir, &w, err, sizeof err), 0);
	/* index.html, big.js, in — not .secret, not out, not the variants */
	assert_int_equal(webroot_file_count(w), 3);
	webroot_free(w);
	const char *names[] = {"index.html", "big.js", "big.js.gz", "big.js.br", "out", "in", ".secret"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_normalize), cmocka_unit_test(test_content_types), cmocka_unit_test(test_encoding),
	        cmocka_unit_test(test_etag),      cmocka_unit_test(test_policy),        cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
