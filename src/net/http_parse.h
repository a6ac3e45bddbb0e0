/*
 * http_parse.h — incremental HTTP/1.1 request parsing on top of http-parser,
 * without sockets.
 *
 * What it owns: turning bytes into an http_request (method, url, decoded path,
 * query, lower-case headers, body including chunked bodies), the header and
 * body limits, and the strings those fields point to.
 * What it must never do: touch a socket, a timer or the event loop, so that
 * every parsing rule can be tested by feeding it bytes.
 *
 * Why it is built so: the server answers one request at a time per
 * connection. The parser pauses after each complete request and reports how
 * many bytes it used; the caller keeps the rest of its buffer and feeds it
 * again after the response (pipelining without copying). All storage is kept
 * between requests of a connection, so a keep-alive request costs no
 * allocation once the buffers have grown to fit.
 */
#ifndef HERALD_NET_HTTP_PARSE_H
#define HERALD_NET_HTTP_PARSE_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http.h"

typedef enum http_parse_state {
	HTTP_PARSE_IDLE = 0, /* no byte of the next request seen yet (blank lines aside) */
	HTTP_PARSE_HEADERS,  /* inside the request line or headers */
	HTTP_PARSE_BODY,     /* headers complete, reading the body */
	HTTP_PARSE_DONE,     /* a complete request is in req; call http_parse_next */
	HTTP_PARSE_ERROR,    /* req->error is set; the connection cannot be reused */
} http_parse_state;

typedef struct http_parse_header_pos {
	uint32_t name;
	uint32_t value;
} http_parse_header_pos;

typedef struct http_parse {
	http_parser parser;
	http_request *req;
	size_t max_header;
	size_t max_body;
	/* Optional: a larger (or smaller) body limit for some paths, asked
	 * when the headers are complete (e.g. file uploads). */
	size_t (*body_limit)(const char *path, size_t def, void *ud);
	void *body_limit_ud;
	size_t max_body_default;
	http_parse_state state;
	int error;
	size_t header_bytes;
	bool upgrade;         /* the request asked to switch protocols (WebSocket) */
	bool expect_continue; /* "Expect: 100-continue" and the body is acceptable */

	/* Private: url, header names and values, path and query, NUL-separated.
	 * Offsets rather than pointers while it may still grow. */
	char *str;
	size_t str_len, str_cap;
	size_t url_len;
	int hstate;
	http_parse_header_pos *hpos;
	http_header *headers;
	size_t header_count, header_cap;
	char *body;
	size_t body_len, body_cap;
} http_parse;

/* Prepares p to fill req. Limits of 0 take the server defaults (16 KiB, 1 MiB). */
void http_parse_init(http_parse *p, http_request *req, size_t max_header, size_t max_body);

/* Releases the storage; req's strings become invalid. */
void http_parse_free(http_parse *p);

/*
 * Parses up to len bytes. Sets *consumed to the bytes used: all of them unless
 * the request completed earlier (state DONE: the rest belongs to the next
 * request) or an error occurred. Returns 0, or HERR_BAD_REQUEST,
 * HERR_HEADERS_TOO_LARGE or HERR_BODY_TOO_LARGE (state ERROR, req->error set).
 */
int http_parse_feed(http_parse *p, const char *data, size_t len, size_t *consumed);

/* Forgets the finished request and gets ready for the next one, keeping the
 * buffers unless a large body made them big. */
void http_parse_next(http_parse *p);

/* Ends the current request with an error found outside the parser (timeout):
 * state ERROR, req->error = error, fields that are not complete are emptied. */
void http_parse_fail(http_parse *p, int error);

/*
 * Percent-decodes n bytes of s into out (NUL-terminated). '+' becomes a space
 * when plus_space is set (query strings). Returns the decoded length, or -1 for
 * "%00", a broken escape, or a result longer than out_size-1.
 */
long http_percent_decode(const char *s, size_t n, char *out, size_t out_size, bool plus_space);

#endif
