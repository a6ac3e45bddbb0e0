/*
 * test_http_parse.c — the request parser without sockets: fields, bodies,
 * pipelining, split input, limits, decoding, keep-alive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "net/http_parse.h"

typedef struct fixture {
	http_request req;
	http_parse p;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (!f)
		return -1;
	http_parse_init(&f->p, &f->req, 1024, 4096);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	http_parse_free(&f->p);
	free(f);
	return 0;
}

/* Feeds a C string. */
static int feed(fixture *f, const char *s, size_t *used)
{
	return http_parse_feed(&f->p, s, strlen(s), used);
}

static void test_simple_get(void **state)
{
	fixture *f = *state;
	const char *s = "GET /hello HTTP/1.1\r\nHost: example.org\r\nX-Thing:   A b  \r\nX-Empty:\r\n\r\n";
	size_t used = 0;

	assert_int_equal(feed(f, s, &used), 0);
	assert_int_equal(used, strlen(s));
	assert_int_equal(f->p.state, HTTP_PARSE_DONE);
	assert_string_equal(f->req.method, "GET");
	assert_string_equal(f->req.url, "/hello");
	assert_string_equal(f->req.path, "/hello");
	assert_string_equal(f->req.raw_path, "/hello");
	assert_null(f->req.query);
	assert_int_equal(f->req.header_count, 3);
	assert_string_equal(f->req.headers[0].name, "host");
	assert_string_equal(f->req.headers[0].value, "example.org");
	assert_string_equal(f->req.headers[1].name, "x-thing");
	assert_string_equal(f->req.headers[1].value, "A b");
	assert_string_equal(f->req.headers[2].name, "x-empty");
	assert_string_equal(f->req.headers[2].value, "");
	assert_int_equal(f->req.body_len, 0);
	assert_string_equal(f->req.body, "");
	assert_true(f->req.keep_alive);
	assert_int_equal(f->req.error, 0);
	assert_false(f->p.upgrade);
}

static void test_post_content_length(void **state)
{
	fixture *f = *state;
	const char *s = "POST /api/v2/items HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
	                "hello world";
	size_t used = 0;

	assert_int_equal(feed(f, s, &used), 0);
	assert_int_equal(used, strlen(s));
	assert_int_equal(f->p.state, HTTP_PARSE_DONE);
	assert_string_equal(f->req.method, "POST");
	assert_int_equal(f->req.body_len, 11);
	assert_memory_equal(f->req.body, "hello world", 12); /* NUL-terminated */
	assert_string_equal(http_request_header(&f->req, "content-type"), "application/json");
}

static void test_chunked_body(void **state)
{
	fixture *f = *state;
	const char *s = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	                "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
	size_t used = 0;

	assert_int_equal(feed(f, s, &used), 0);
	assert_int_equal(used, strlen(s));
	assert_int_equal(f->p.state, HTTP_PARSE_DONE);
	assert_int_equal(f->req.body_len, 11);
	assert_string_equal(f->req.body, "hello world");
	/* trailers are not headers */
	assert_int_equal(f->req.header_count, 1);
	assert_null(http_request_header(&f->req, "x-trailer"));
}

static void test_two_pipelined(void **state)
{
	fixture *f = *state;
	const char *first = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *s = "GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two?x=2 HTTP/1.1\r\nHost: b\r\n\r\n";
	size_t used = 0, used2 = 0;

	assert_int_equal(feed(f, s, &used), 0);
	assert_int_equal(used, strlen(first));
	assert_int_equal(f->p.state, HTTP_PARSE_DONE);
	assert_string_equal(f->req.path, "/one");
	assert_string_equal(http_request_header(&f->req, "host"), "a");

	/* until next() the parser stays on the finished request */
	assert_int_equal(http_parse_feed(&f->p, s + used, strlen(s) - used, &used2), 0);
	assert_int_equal(used2, 0);

	http_parse_next(&f->p);
	assert_string_equal(f->req.path, "");
	assert_int_equal(f->req.header_count, 0);
	assert_int_equal(http_parse_feed(&f->p, s + used, strlen(s) - used, &used2), 0);
	assert_int_equal(used + used2, strlen(s));
	assert_int_equal(f->p.state, HTTP_PARSE_DONE);
	assert_string_equal(f->req.path, "/two");
	assert_string_equal(f->req.query, "x=2");
	assert_string_equal(http_request_header(&f->req, "host"), "b");
}

static void test_three_pipelined(void **state)
{
	fixture *f = *state;
	const char *s = "GET /a HTTP/1.1\r\n\r\n"
	                "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
	                "\r\n" /* a stray blank line between requests is tolerated */
	                "DELETE /c/%41 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
	const char *expect_path[3] = {"/a", "/b", "/c/A"};
	const char *expect_method[3] = {"GET", "POST", "DELETE"};
	const char *expect_body[3] = {"", "xyz", "ok"};
	size_t off = 0, len = strlen(s);
	int i;

	for (i = 0; i < 3; i++) {
		size_t used = 0;

		assert_int_equal(http_parse_feed(&f->p, s + off, len - off, &used), 0);
		assert_int_equal(f->p.state, HTTP_PARSE_DONE);
		assert_string_equal(f->req.method, expect_method[i]);
		assert_string_equal(f->req.path, expect_path[i]);
		assert_string_equal(f->req.body, expect_body[i]);
		off += used;
		http_parse_next(&f->p);
	}
	assert_int_equal(off, len);
	assert_int_equal(f->p.state, HTTP_PARSE_IDLE);
}

static void test_byte_by_byte(void **state)
{
	fixture *f = *state;
	const char *s = "POST /split/%D0%90?q=1 HTTP/1.1\r\nHost: example\r\nX-Long-Header-Name: some value\r\n"
	                "Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n";
	size_t i, len = strlen(s);

	for (i = 0; i < len; i++) {
		size_t used = 0;

		assert_int_equal(f->p.state == HTTP_PARSE_DONE, 0);
		assert_int_equal(http_parse_feed(&f->p, s + i, 1, &used), 0);
		assert_int_equal(used, 1);
	}
	assert_int_equal(f->p.state, HTTP_PARSE_DONE);
	assert_string_equal(f->req.method, "POST");
	assert_string_equal(f->req.url, "/split/%D0%90?q=1");
	assert_string_equal(f->req.path, "/split/\xD0\x90");
	assert_string_equal(f->req.query, "q=1");
	assert_string_equal(http_request_header(&f->req, "x-long-header-name"), "some value");
	assert_string_equal(http_request_header(&f->req, "host"), "example");
	assert_string_equal(f->req.body, "abcdefg");
	assert_int_equal(f->req.body_len, 7);
}

/* A request of exactly n bytes, all of them request line and headers. */
static char *request_of_size(size_t n)
{
	const char *start = "GET / HTTP/1.1\r\nX-Fill: ";
	char *s = malloc(n + 1);
	size_t sl = strlen(start);

	memcpy(s, start, sl);
	memset(s + sl, 'a', n - sl - 4);
	memcpy(s + n - 4, "\r\n\r\n", 5);
	return s;
}

static void test_header_limit_exact(void **state)
{
	fixture *f = *state; /* max_header 1024 */
	char *ok = request_of_size(1024);
	char *big = request_of_size(1025);
	size_t used = 0;

	assert_int_equal(http_parse_feed(&f->p, ok, 1024, &used), 0);
	assert_int_equal(f->p.state, HTTP_PARSE_DONE);
	assert_int_equal(used, 1024);
	http_parse_next(&f->p);

	assert_int_equal(http_parse_feed(&f->p, big, 1025, &used), HERR_HEADERS_TOO_LARGE);
	assert_int_equal(f->p.state, HTTP_PARSE_ERROR);
	assert_int_equal(f->req.error, HERR_HEADERS_TOO_LARGE);
	assert_false(f->req.keep_alive);
	assert_string_equal(f->req.path, "");
	/* an error is sticky */
	assert_int_equal(http_parse_feed(&f->p, "x", 1, &used), HERR_HEADERS_TOO_LARGE);
	free(ok);
	free(big);
}

static void test_header_too_large_in_pieces(void **state)
{
	fixture *f = *state;
	char chunk[100];
	size_t used = 0, total = 0;
	int rc = 0, i;

	memset(chunk, 'b', sizeof chunk);
	assert_int_equal(feed(f, "GET / HTTP/1.1\r\nX-Endless: ", &used), 0);
	total += used;
	/* an endless header line is refused at the limit, not buffered */
	for (i = 0; i < 20 && rc == 0; i++) {
		rc = http_parse_feed(&f->p, chunk, sizeof chunk, &used);
		total += used;
	}
	assert_int_equal(rc, HERR_HEADERS_TOO_LARGE);
	assert_int_equal(total, 1024);
	assert_string_equal(f->req.method, "GET");
}

static void test_content_length_too_large(void **state)
{
	fixture *f = *state; /* max_body 4096 */
	const char *s = "POST /upload HTTP/1.1\r\nContent-Length: 4097\r\n\r\n";
	size_t used = 0;

	/* refused as soon as the headers end: no body byte was sent yet */
	assert_int_equal(feed(f, s, &used), HERR_BODY_TOO_LARGE);
	assert_int_equal(f->req.error, HERR_BODY_TOO_LARGE);
	assert_string_equal(f->req.method, "POST");
	assert_string_equal(f->req.path, "/upload");
	assert_int_equal(f->req.body_len, 0);

	http_parse_next(&f->p);
	assert_int_equal(feed(f, "POST /upload HTTP/1.1\r\nContent-Length: 4096\r\n\r\n", &used), 0);
	assert_int_equal(f->p.state, HTTP_PARSE_BODY);
}

static void test_chunked_too_large(void **state)
{
	fixture *f = *state;
	char *s = malloc(8192);
	size_t used = 0;
	int n;

	n = sprintf(s, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nBB8\r\n");
	memset(s + n, 'x', 3000);
	n += 3000;
	n += sprintf(s + n, "\r\nBB8\r\n");
	/* the second chunk header alone already passes the limit */
	assert_int_equal(http_parse_feed(&f->p, s, (size_t)n, &used), HERR_BODY_TOO_LARGE);
	assert_true(used <= (size_t)n);
	assert_int_equal(f->req.error, HERR_BODY_TOO_LARGE);

	/* small chunks that add up past the limit */
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &used), 0);
	memset(s, 'y', 1000);
	for (n = 0; n < 4; n++) {
		assert_int_equal(feed(f, "3E8\r\n", &used), 0);
		assert_int_equal(http_parse_feed(&f->p, s, 1000, &used), 0);
		assert_int_equal(feed(f, "\r\n", &used), 0);
	}
	assert_int_equal(feed(f, "3E8\r\n", &used), HERR_BODY_TOO_LARGE);
	free(s);
}

static void test_malformed(void **state)
{
	fixture *f = *state;
	const char *bad[] = {
	        "HELLO WORLD\r\n\r\n",
	        "GET /x HTTPX/1.1\r\n\r\n",
	        "GET /x HTTP/1.1\r\nBad Header\r\n\r\n",
	        "\x01\x02\x03 garbage\r\n\r\n",
	        "POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n",
	        "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
	        "GET http//nohost HTTP/1.1\r\n\r\n",
	};
	size_t i, used;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		http_parse_next(&f->p);
		assert_int_equal(feed(f, bad[i], &used), HERR_BAD_REQUEST);
		assert_int_equal(f->req.error, HERR_BAD_REQUEST);
		assert_int_equal(f->p.state, HTTP_PARSE_ERROR);
		assert_false(f->req.keep_alive);
	}
	/* next() after an error starts over cleanly */
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET /fine HTTP/1.1\r\n\r\n", &used), 0);
	assert_string_equal(f->req.path, "/fine");
}

static void test_percent_decoding(void **state)
{
	fixture *f = *state;
	size_t used;

	assert_int_equal(feed(f, "GET /chats/%D0%90%d0%91/x%20y+z%2Fw HTTP/1.1\r\n\r\n", &used), 0);
	assert_string_equal(f->req.path, "/chats/\xD0\x90\xD0\x91/x y+z/w");
	assert_string_equal(f->req.raw_path, "/chats/%D0%90%d0%91/x%20y+z%2Fw");
	assert_null(f->req.query);

	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET /a%00b HTTP/1.1\r\n\r\n", &used), HERR_BAD_REQUEST);
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET /a%zzb HTTP/1.1\r\n\r\n", &used), HERR_BAD_REQUEST);
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET /a%4 HTTP/1.1\r\n\r\n", &used), HERR_BAD_REQUEST);
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET /a% HTTP/1.1\r\n\r\n", &used), HERR_BAD_REQUEST);
	/* escapes in the query are left for http_request_query */
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET /a?x=%zz HTTP/1.1\r\n\r\n", &used), 0);
	assert_string_equal(f->req.query, "x=%zz");
}

static void test_percent_decode_function(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(http_percent_decode("a%41+b", 6, out, sizeof out, false), 4);
	assert_string_equal(out, "aA+b");
	assert_int_equal(http_percent_decode("a%41+b", 6, out, sizeof out, true), 4);
	assert_string_equal(out, "aA b");
	assert_int_equal(http_percent_decode("1234567", 7, out, sizeof out, false), 7);
	assert_int_equal(http_percent_decode("12345678", 8, out, sizeof out, false), -1);
	assert_int_equal(http_percent_decode("%00", 3, out, sizeof out, false), -1);
	assert_int_equal(http_percent_decode("%G1", 3, out, sizeof out, false), -1);
	assert_int_equal(http_percent_decode("", 0, out, sizeof out, false), 0);
	assert_string_equal(out, "");
}

static void test_query(void **state)
{
	fixture *f = *state;
	char out[16];
	size_t used;

	assert_int_equal(feed(f,
	                      "GET /s?q=a%20b&x=1&flag&plus=a+b&%6Bey=v&long=0123456789abcdefXYZ#frag HTTP/1.1\r\n\r\n",
	                      &used),
	                 0);
	assert_string_equal(f->req.path, "/s");
	assert_string_equal(f->req.query, "q=a%20b&x=1&flag&plus=a+b&%6Bey=v&long=0123456789abcdefXYZ");
	assert_int_equal(http_request_query(&f->req, "q", out, sizeof out), 3);
	assert_string_equal(out, "a b");
	assert_int_equal(http_request_query(&f->req, "x", out, sizeof out), 1);
	assert_string_equal(out, "1");
	assert_int_equal(http_request_query(&f->req, "flag", out, sizeof out), 0);
	assert_string_equal(out, "");
	assert_int_equal(http_request_query(&f->req, "plus", out, sizeof out), 3);
	assert_string_equal(out, "a b");
	assert_int_equal(http_request_query(&f->req, "key", out, sizeof out), 1);
	assert_int_equal(http_request_query(&f->req, "long", out, sizeof out), -1);
	assert_int_equal(http_request_query(&f->req, "missing", out, sizeof out), -1);
	assert_int_equal(http_request_query(&f->req, "fla", out, sizeof out), -1);

	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET /empty? HTTP/1.1\r\n\r\n", &used), 0);
	assert_string_equal(f->req.path, "/empty");
	assert_string_equal(f->req.query, "");
	assert_int_equal(http_request_query(&f->req, "q", out, sizeof out), -1);

	/* absolute form */
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET http://example.org:8080/p%41th?k=v HTTP/1.1\r\n\r\n", &used), 0);
	assert_string_equal(f->req.path, "/pAth");
	assert_string_equal(f->req.query, "k=v");
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET http://example.org HTTP/1.1\r\n\r\n", &used), 0);
	assert_string_equal(f->req.path, "/");
	assert_null(f->req.query);
}

static void test_keep_alive(void **state)
{
	fixture *f = *state;
	size_t used;

	assert_int_equal(feed(f, "GET / HTTP/1.1\r\n\r\n", &used), 0);
	assert_true(f->req.keep_alive);
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET / HTTP/1.0\r\n\r\n", &used), 0);
	assert_false(f->req.keep_alive);
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &used), 0);
	assert_true(f->req.keep_alive);
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &used), 0);
	assert_false(f->req.keep_alive);
	http_parse_next(&f->p);
	assert_int_equal(feed(f, "GET / HTTP/1.1\r\nconnection: CLOSE\r\n\r\n", &used), 0);
	assert_false(f->req.keep_alive);
}

static void test_header_lookup(void **state)
{
	fixture *f = *state;
	size_t used;

	assert_int_equal(feed(f, "GET / HTTP/1.1\r\nContent-TYPE: text/plain\r\nX-A: 1\r\nx-a: 2\r\n\r\n", &used), 0);
	assert_string_equal(f->req.headers[0].name, "content-type");
	assert_string_equal(http_request_header(&f->req, "content-type"), "text/plain");
	assert_string_equal(http_request_header(&f->req, "Content-Type"), "text/plain");
	assert_string_equal(http_request_header(&f->req, "CONTENT-TYPE"), "text/plain");
	assert_string_equal(http_request_header(&f->req, "x-a"), "1"); /* the first of repeated headers */
	assert_null(http_request_header(&f->req, "content-length"));
}

static void test_expect_and_upgrade(void **state)
{
	fixture *f = *state;
	size_t used;

	assert_int_equal(feed(f, "POST /u HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n", &used), 0);
	assert_int_equal(f->p.state, HTTP_PARSE_BODY);
	assert_true(f->p.expect_continue);
	assert_int_equal(feed(f, "abc", &used), 0);
	assert_int_equal(f->p.state, HTTP_PARSE_DONE);

	http_parse_next(&f->p);
	assert_false(f->p.expect_continue);
	assert_int_equal(feed(f, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nFRAME", &used),
	                 0);
	assert_int_equal(f->p.state, HTTP_PARSE_DONE);
	assert_true(f->p.upgrade);
	assert_int_equal(used, strlen("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
}

static void test_many_headers_reuse(void **state)
{
	fixture *f = *state;
	char buf[1024];
	size_t used, n;
	int i, round;

	for (round = 0; round < 3; round++) {
		n = (size_t)sprintf(buf, "GET /r%d HTTP/1.1\r\n", round);
		for (i = 0; i < 40; i++)
			n += (size_t)sprintf(buf + n, "H%d: v%d\r\n", i, i + round);
		n += (size_t)sprintf(buf + n, "\r\n");
		assert_int_equal(http_parse_feed(&f->p, buf, n, &used), 0);
		assert_int_equal(used, n);
		assert_int_equal(f->req.header_count, 40);
		assert_string_equal(f->req.headers[39].name, "h39");
		sprintf(buf, "v%d", 39 + round);
		assert_string_equal(f->req.headers[39].value, buf);
		http_parse_next(&f->p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_simple_get, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_post_content_length, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chunked_body, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_two_pipelined, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_three_pipelined, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_byte_by_byte, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_header_limit_exact, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_header_too_large_in_pieces, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_content_length_too_large, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chunked_too_large, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_percent_decoding, setup, teardown),
	        cmocka_unit_test(test_percent_decode_function),
	        cmocka_unit_test_setup_teardown(test_query, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_header_lookup, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_expect_and_upgrade, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_many_headers_reuse, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
