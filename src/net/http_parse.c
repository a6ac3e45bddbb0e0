/*
 * http_parse.c — the request side of HTTP/1.1: http-parser callbacks that
 * build an http_request, the limits, and percent-decoding.
 *
 * What it owns: the strings of the current request (url, path, query, header
 * names and values, body) and the decision whether a request is acceptable.
 * What it must never do: do I/O or keep pointers into the caller's input, as
 * the caller reuses its buffer once the bytes are consumed.
 *
 * Why it is built so: http-parser hands out fields in pieces that may be split
 * across reads. They are appended to one string buffer, recording offsets,
 * and the pointers of the request are set once the headers are complete and
 * the buffer stops moving. The header limit is enforced by never giving the
 * parser more bytes than the headers may still take, so the limit is exact
 * and an endless header line is refused without buffering it.
 */
#include "net/http_parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/codec.h"
#include "core/err.h"

#define PARSE_DEFAULT_MAX_HEADER (16u * 1024u)
#define PARSE_DEFAULT_MAX_BODY   (1024u * 1024u)
/* Storage above these sizes is released between requests, so that one large
 * request does not pin memory on an idle keep-alive connection. */
#define PARSE_KEEP_STR     (32u * 1024u)
#define PARSE_KEEP_BODY    (64u * 1024u)
#define PARSE_KEEP_HEADERS 64u

/* Where the field callbacks are: the url, a header name, a header value, or
 * past the headers (trailers of a chunked body are ignored). */
enum { HSTATE_URL = 0, HSTATE_FIELD, HSTATE_VALUE, HSTATE_DONE };

/* Empty fields point here; the application only reads them. */
static char parse_empty[1];

static int parse_fail_cb(http_parse *p, int rc)
{
	p->error = rc;
	return -1;
}

static int parse_str_reserve(http_parse *p, size_t extra)
{
	size_t cap;
	char *n;

	if (p->str_cap - p->str_len >= extra)
		return 0;
	/* Offsets are 32-bit; the header limit keeps us far below. */
	if (extra > UINT32_MAX - p->str_len)
		return HERR_HEADERS_TOO_LARGE;
	cap = p->str_cap ? p->str_cap : 512;
	while (cap - p->str_len < extra)
		cap *= 2;
	n = realloc(p->str, cap);
	if (!n)
		return HERR_NOMEM;
	p->str = n;
	p->str_cap = cap;
	return 0;
}

static int parse_str_append(http_parse *p, const char *d, size_t n)
{
	int rc = parse_str_reserve(p, n + 1);

	if (rc)
		return rc;
	memcpy(p->str + p->str_len, d, n);
	p->str_len += n;
	return 0;
}

static int parse_str_end(http_parse *p)
{
	int rc = parse_str_reserve(p, 1);

	if (rc)
		return rc;
	p->str[p->str_len++] = '\0';
	return 0;
}

static int parse_body_reserve(http_parse *p, size_t extra)
{
	size_t cap;
	char *n;

	if (p->body_cap - p->body_len >= extra)
		return 0;
	cap = p->body_cap ? p->body_cap : 1024;
	while (cap - p->body_len < extra)
		cap *= 2;
	n = realloc(p->body, cap);
	if (!n)
		return HERR_NOMEM;
	p->body = n;
	p->body_cap = cap;
	return 0;
}

/* Empties the fields of req that are not known to be complete, so an error
 * request never shows half a url or half a body. */
static void parse_set_error(http_parse *p, int error)
{
	http_request *r = p->req;

	p->state = HTTP_PARSE_ERROR;
	p->error = error;
	r->error = error;
	r->keep_alive = false;
	if (p->hstate != HSTATE_DONE) {
		/* The method is known once the url started. */
		r->method = (p->url_len > 0 || p->hstate != HSTATE_URL)
		                    ? http_method_str((enum http_method)p->parser.method)
		                    : "";
		r->url = parse_empty;
		r->path = parse_empty;
		r->raw_path = parse_empty;
		r->query = NULL;
		r->headers = NULL;
		r->header_count = 0;
	}
	r->body = parse_empty;
	r->body_len = 0;
}

static int parse_on_message_begin(http_parser *hp)
{
	http_parse *p = hp->data;

	p->state = HTTP_PARSE_HEADERS;
	return 0;
}

static int parse_on_url(http_parser *hp, const char *at, size_t n)
{
	http_parse *p = hp->data;
	int rc = parse_str_append(p, at, n);

	if (rc)
		return parse_fail_cb(p, rc);
	p->url_len += n;
	return 0;
}

/* Ends a header value, dropping the trailing blanks http-parser keeps. */
static int parse_end_value(http_parse *p)
{
	size_t start = p->hpos[p->header_count - 1].value;

	while (p->str_len > start && (p->str[p->str_len - 1] == ' ' || p->str[p->str_len - 1] == '\t'))
		p->str_len--;
	return parse_str_end(p);
}

static int parse_grow_headers(http_parse *p)
{
	size_t cap = p->header_cap ? p->header_cap * 2 : 16;
	http_parse_header_pos *pos;
	http_header *h;

	pos = realloc(p->hpos, cap * sizeof *pos);
	if (!pos)
		return HERR_NOMEM;
	p->hpos = pos;
	h = realloc(p->headers, cap * sizeof *h);
	if (!h)
		return HERR_NOMEM;
	p->headers = h;
	p->header_cap = cap;
	return 0;
}

static int parse_on_header_field(http_parser *hp, const char *at, size_t n)
{
	http_parse *p = hp->data;
	int rc = 0;
	size_t i;

	if (p->hstate == HSTATE_DONE)
		return 0;
	if (p->hstate != HSTATE_FIELD) {
		rc = p->hstate == HSTATE_VALUE ? parse_end_value(p) : parse_str_end(p);
		if (!rc && p->header_count == p->header_cap)
			rc = parse_grow_headers(p);
		if (rc)
			return parse_fail_cb(p, rc);
		p->hpos[p->header_count].name = (uint32_t)p->str_len;
		p->hpos[p->header_count].value = 0;
		p->header_count++;
		p->hstate = HSTATE_FIELD;
	}
	rc = parse_str_reserve(p, n + 1);
	if (rc)
		return parse_fail_cb(p, rc);
	for (i = 0; i < n; i++) {
		char c = at[i];
		p->str[p->str_len++] = (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
	}
	return 0;
}

static int parse_on_header_value(http_parser *hp, const char *at, size_t n)
{
	http_parse *p = hp->data;
	int rc;

	if (p->hstate == HSTATE_DONE)
		return 0;
	if (p->hstate == HSTATE_FIELD) {
		rc = parse_str_end(p);
		if (rc)
			return parse_fail_cb(p, rc);
		p->hpos[p->header_count - 1].value = (uint32_t)p->str_len;
		p->hstate = HSTATE_VALUE;
	}
	rc = parse_str_append(p, at, n);
	return rc ? parse_fail_cb(p, rc) : 0;
}

/*
 * Splits the target (str[0..url_len)) into the raw path, the decoded path and
 * the query, appended to str. Returns their offsets; query_off is SIZE_MAX
 * without '?'.
 */
static int parse_split_target(http_parse *p, size_t *raw_off, size_t *path_off, size_t *query_off)
{
	size_t ul = p->url_len, ps = 0, pe, qs = 0, qe = 0, i;
	bool has_query = false;
	const char *u;
	long dl;
	int rc;

	/* Reserving everything first keeps u valid while we copy from it. */
	rc = parse_str_reserve(p, 3 * ul + 8);
	if (rc)
		return rc;
	u = p->str;
	if (p->parser.method == HTTP_CONNECT) {
		ps = pe = ul; /* authority form: no path at all */
	} else {
		if (ul == 0 || (u[0] != '/' && u[0] != '*')) {
			/* absolute form "http://host/path": the path starts at the
			 * first '/' after the authority */
			for (i = 0; i + 2 < ul && !(u[i] == ':' && u[i + 1] == '/' && u[i + 2] == '/'); i++)
				;
			if (i + 2 >= ul)
				return HERR_BAD_REQUEST;
			for (ps = i + 3; ps < ul && u[ps] != '/' && u[ps] != '?' && u[ps] != '#'; ps++)
				;
		}
		for (pe = ps; pe < ul && u[pe] != '?' && u[pe] != '#'; pe++)
			;
		if (pe < ul && u[pe] == '?') {
			has_query = true;
			qs = pe + 1;
			for (qe = qs; qe < ul && u[qe] != '#'; qe++)
				;
		}
	}

	*raw_off = p->str_len;
	if (ps == pe && p->parser.method != HTTP_CONNECT)
		p->str[p->str_len++] = '/';
	memcpy(p->str + p->str_len, u + ps, pe - ps);
	p->str_len += pe - ps;
	p->str[p->str_len++] = '\0';

	*path_off = p->str_len;
	dl = http_percent_decode(p->str + *raw_off, p->str_len - 1 - *raw_off, p->str + p->str_len,
	                         p->str_cap - p->str_len, false);
	if (dl < 0)
		return HERR_BAD_REQUEST;
	p->str_len += (size_t)dl + 1;

	*query_off = SIZE_MAX;
	if (has_query) {
		*query_off = p->str_len;
		memcpy(p->str + p->str_len, u + qs, qe - qs);
		p->str_len += qe - qs;
		p->str[p->str_len++] = '\0';
	}
	return 0;
}

static int parse_on_headers_complete(http_parser *hp)
{
	http_parse *p = hp->data;
	http_request *r = p->req;
	size_t raw_off, path_off, query_off, i;
	const char *expect;
	int rc;

	rc = p->hstate == HSTATE_VALUE ? parse_end_value(p) : p->hstate == HSTATE_URL ? parse_str_end(p) : 0;
	p->hstate = HSTATE_DONE;
	if (!rc)
		rc = parse_split_target(p, &raw_off, &path_off, &query_off);
	if (rc) {
		p->hstate = HSTATE_URL; /* fields are not usable: report them empty */
		return parse_fail_cb(p, rc);
	}

	/* str no longer grows for this request: pointers are stable now. */
	for (i = 0; i < p->header_count; i++) {
		p->headers[i].name = p->str + p->hpos[i].name;
		p->headers[i].value = p->str + p->hpos[i].value;
	}
	r->method = http_method_str((enum http_method)hp->method);
	r->url = p->str;
	r->raw_path = p->str + raw_off;
	r->path = p->str + path_off;
	r->query = query_off == SIZE_MAX ? NULL : p->str + query_off;
	r->headers = p->header_count ? p->headers : NULL;
	r->header_count = p->header_count;
	r->keep_alive = http_should_keep_alive(hp) != 0;
	p->upgrade = hp->upgrade != 0;
	p->state = HTTP_PARSE_BODY;

	if (p->body_limit)
		p->max_body = p->body_limit(r->path, p->max_body_default, p->body_limit_ud);
	/* Refuse a declared body before it arrives, so a client waiting for
	 * 100-continue, or one that sends anyway, learns early. */
	if (!(hp->flags & F_CHUNKED) && hp->content_length != UINT64_MAX) {
		if (hp->content_length > p->max_body)
			return parse_fail_cb(p, HERR_BODY_TOO_LARGE);
		if (hp->content_length > 0) {
			rc = parse_body_reserve(p, (size_t)hp->content_length + 1);
			if (rc)
				return parse_fail_cb(p, rc);
		}
	}
	expect = http_request_header(r, "expect");
	p->expect_continue =
	        expect && strcasecmp(expect, "100-continue") == 0 && hp->http_major == 1 && hp->http_minor >= 1;
	return 0;
}

static int parse_on_chunk_header(http_parser *hp)
{
	http_parse *p = hp->data;

	/* content_length holds the size of the chunk that follows. */
	if (hp->content_length > p->max_body - p->body_len)
		return parse_fail_cb(p, HERR_BODY_TOO_LARGE);
	return 0;
}

static int parse_on_body(http_parser *hp, const char *at, size_t n)
{
	http_parse *p = hp->data;
	int rc;

	if (n > p->max_body - p->body_len)
		return parse_fail_cb(p, HERR_BODY_TOO_LARGE);
	rc = parse_body_reserve(p, n + 1);
	if (rc)
		return parse_fail_cb(p, rc);
	memcpy(p->body + p->body_len, at, n);
	p->body_len += n;
	return 0;
}

static int parse_on_message_complete(http_parser *hp)
{
	http_parse *p = hp->data;
	http_request *r = p->req;

	if (p->body_len) {
		p->body[p->body_len] = '\0';
		r->body = p->body;
	} else {
		r->body = parse_empty;
	}
	r->body_len = p->body_len;
	r->keep_alive = http_should_keep_alive(hp) != 0;
	p->upgrade = hp->upgrade != 0;
	p->state = HTTP_PARSE_DONE;
	/* One request at a time: the caller answers it before we go on. */
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings parse_settings = {
        .on_message_begin = parse_on_message_begin,
        .on_url = parse_on_url,
        .on_header_field = parse_on_header_field,
        .on_header_value = parse_on_header_value,
        .on_headers_complete = parse_on_headers_complete,
        .on_body = parse_on_body,
        .on_message_complete = parse_on_message_complete,
        .on_chunk_header = parse_on_chunk_header,
};

static void parse_reset_request(http_request *r)
{
	r->method = "";
	r->url = parse_empty;
	r->path = parse_empty;
	r->raw_path = parse_empty;
	r->query = NULL;
	r->headers = NULL;
	r->header_count = 0;
	r->body = parse_empty;
	r->body_len = 0;
	r->keep_alive = false;
	r->error = 0;
}

void http_parse_init(http_parse *p, http_request *req, size_t max_header, size_t max_body)
{
	memset(p, 0, sizeof *p);
	p->req = req;
	p->max_header = max_header ? max_header : PARSE_DEFAULT_MAX_HEADER;
	p->max_body = max_body ? max_body : PARSE_DEFAULT_MAX_BODY;
	p->max_body_default = p->max_body;
	http_parser_init(&p->parser, HTTP_REQUEST);
	p->parser.data = p;
	parse_reset_request(req);
}

void http_parse_free(http_parse *p)
{
	free(p->str);
	free(p->hpos);
	free(p->headers);
	free(p->body);
	p->str = NULL;
	p->hpos = NULL;
	p->headers = NULL;
	p->body = NULL;
	p->str_cap = p->str_len = p->header_cap = p->header_count = p->body_cap = p->body_len = 0;
	if (p->req)
		parse_reset_request(p->req);
}

int http_parse_feed(http_parse *p, const char *data, size_t len, size_t *consumed)
{
	size_t off = 0;

	*consumed = 0;
	if (p->state == HTTP_PARSE_DONE)
		return 0;
	if (p->state == HTTP_PARSE_ERROR)
		return p->error;
	while (off < len) {
		bool in_head = p->state == HTTP_PARSE_IDLE || p->state == HTTP_PARSE_HEADERS;
		size_t chunk = len - off, n;
		enum http_errno e;

		if (in_head && chunk > p->max_header - p->header_bytes)
			chunk = p->max_header - p->header_bytes;
		n = http_parser_execute(&p->parser, &parse_settings, data + off, chunk);
		off += n;
		e = HTTP_PARSER_ERRNO(&p->parser);
		if (e == HPE_PAUSED)
			break;
		if (e != HPE_OK || n < chunk) {
			int err = p->error                   ? p->error
			          : e == HPE_HEADER_OVERFLOW ? HERR_HEADERS_TOO_LARGE
			                                     : HERR_BAD_REQUEST;
			parse_set_error(p, err);
			*consumed = off;
			return err;
		}
		if (in_head && (p->state == HTTP_PARSE_IDLE || p->state == HTTP_PARSE_HEADERS)) {
			p->header_bytes += n;
			if (p->header_bytes >= p->max_header) {
				parse_set_error(p, HERR_HEADERS_TOO_LARGE);
				*consumed = off;
				return HERR_HEADERS_TOO_LARGE;
			}
		}
	}
	*consumed = off;
	return 0;
}

void http_parse_next(http_parse *p)
{
	if (p->state == HTTP_PARSE_ERROR) {
		http_parser_init(&p->parser, HTTP_REQUEST);
		p->parser.data = p;
	} else {
		http_parser_pause(&p->parser, 0);
	}
	p->state = HTTP_PARSE_IDLE;
	p->error = 0;
	p->header_bytes = 0;
	p->upgrade = false;
	p->expect_continue = false;
	p->str_len = 0;
	p->url_len = 0;
	p->hstate = HSTATE_URL;
	p->header_count = 0;
	p->body_len = 0;
	if (p->str_cap > PARSE_KEEP_STR) {
		free(p->str);
		p->str = NULL;
		p->str_cap = 0;
	}
	if (p->body_cap > PARSE_KEEP_BODY) {
		free(p->body);
		p->body = NULL;
		p->body_cap = 0;
	}
	if (p->header_cap > PARSE_KEEP_HEADERS) {
		free(p->hpos);
		free(p->headers);
		p->hpos = NULL;
		p->headers = NULL;
		p->header_cap = 0;
	}
	parse_reset_request(p->req);
}

void http_parse_fail(http_parse *p, int error)
{
	parse_set_error(p, error);
}

long http_percent_decode(const char *s, size_t n, char *out, size_t out_size, bool plus_space)
{
	size_t i, o = 0;

	if (out_size == 0)
		return -1;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = hcodec_hex_value(s[i + 1]);
			lo = hcodec_hex_value(s[i + 2]);
			/* %00 would cut C strings short: a classic way past checks. */
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		} else if (c == '\0') {
			return -1;
		}
		if (o + 1 >= out_size)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

const char *http_request_header(const http_request *r, const char *lower_name)
{
	size_t i;

	for (i = 0; i < r->header_count; i++)
		if (strcasecmp(r->headers[i].name, lower_name) == 0)
			return r->headers[i].value;
	return NULL;
}

long http_request_query(const http_request *r, const char *name, char *out, size_t out_size)
{
	const char *q = r->query;
	size_t name_len;

	if (!q || !name)
		return -1;
	name_len = strlen(name);
	while (*q) {
		const char *end = strchr(q, '&');
		const char *eq;
		char key[256];
		long kl;

		if (!end)
			end = q + strlen(q);
		eq = memchr(q, '=', (size_t)(end - q));
		kl = http_percent_decode(q, (size_t)((eq ? eq : end) - q), key, sizeof key, true);
		if (kl >= 0 && (size_t)kl == name_len && memcmp(key, name, name_len) == 0) {
			if (!eq) {
				if (out_size == 0)
					return -1;
				out[0] = '\0';
				return 0;
			}
			return http_percent_decode(eq + 1, (size_t)(end - eq - 1), out, out_size, true);
		}
		if (!*end)
			break;
		q = end + 1;
	}
	return -1;
}
