/*
 * http.c — the HTTP/1.1 server on libuv: connections, timers, responses.
 *
 * What it owns: the listening socket, every connection and its memory, the
 * order of responses, the timeouts, backpressure and the graceful shutdown.
 * What it must never do: block the loop, parse bytes itself (http_parse.c
 * does), or know what a route, a tenant or a JSON body is.
 *
 * Why it is built so: one request at a time per connection. The parser
 * pauses after each request; the rest of the input stays in the connection's
 * buffer (an offset moves, nothing is copied per request) until the handler
 * has answered. Responses are therefore written in request order without a
 * queue, and a connection never holds more than one request's worth of state:
 * the request struct, parser storage and input buffer are reused for every
 * request on it. A response goes out with uv_try_write straight from the
 * caller's memory; only what the socket did not take is copied into a write
 * request. A connection is a small state machine (phase) sharing one timer:
 * idle → headers → body → handler → (idle | flush → linger → closed).
 * Memory is freed only when both uv handles are closed and no request is in
 * the application's hands, whichever happens last.
 */
#include "net/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "net/http_parse.h"

#define HTTP_DEFAULT_MAX_BODY        (1024u * 1024u)
#define HTTP_DEFAULT_MAX_HEADER      (16u * 1024u)
#define HTTP_DEFAULT_HEADER_TIMEOUT  10000u
#define HTTP_DEFAULT_BODY_TIMEOUT    30000u
#define HTTP_DEFAULT_IDLE_TIMEOUT    60000u
#define HTTP_DEFAULT_MAX_CONNECTIONS 19000
/* Room for a reconnect storm: 19,000 clients coming back at once overflowed
 * 511 and each dropped SYN costs its client a 1 s retransmission timeout.
 * The kernel caps it at net.core.somaxconn. */
#define HTTP_DEFAULT_BACKLOG     4096
#define HTTP_SHUTDOWN_GRACE_MS   300u  /* idle connections: time for a request already sent to arrive */
#define HTTP_SHUTDOWN_HEADERS_MS 1000u /* half-sent request heads at shutdown */

#define HTTP_READ_INITIAL (8u * 1024u)
#define HTTP_READ_MIN     (4u * 1024u)  /* least room offered to one read */
#define HTTP_READ_KEEP    (64u * 1024u) /* larger input buffers are dropped once empty */
/* Unparsed input buffered behind a request in flight before we stop reading. */
#define HTTP_PIPELINE_MAX (64u * 1024u)
/* Response bytes queued on a connection before we stop reading its requests. */
#define HTTP_WRITE_MAX (1024u * 1024u)
/* After the last response: how long to drain the peer's input so that closing
 * does not reset the connection before it has read our answer. */
#define HTTP_LINGER_MS  2000u
#define HTTP_HEAD_STACK 1024u

typedef enum conn_phase {
	CONN_IDLE,     /* between requests (idle timer) */
	CONN_HEADERS,  /* reading request line and headers (header timer) */
	CONN_BODY,     /* reading the body (body timer, restarted by every read) */
	CONN_HANDLER,  /* the application has the request */
	CONN_FLUSH,    /* last response queued, close when written */
	CONN_LINGER,   /* write side shut, discarding input until EOF */
	CONN_UPGRADED, /* handed over by http_request_upgrade */
} conn_phase;

struct http_server {
	uv_loop_t *loop;
	uv_tcp_t *listener; /* own allocation: its close may finish after http_server_free */
	http_server_options opt;
	http_handler_fn handler;
	http_complete_fn on_complete;
	void *udata;
	http_conn *conns;
	size_t conn_count;
	bool listening;
	bool shutting_down;
	bool drained;
	void (*on_drained)(void *ud);
	void *drained_ud;
	time_t date_time;
	char date[64];
};

/* What only an HTTP connection needs: an upgraded one frees it (its timer
 * closes, then the memory goes), so a WebSocket keeps only struct http_conn
 * (~340 bytes, most of it libuv's tcp handle) on the HTTP side instead of
 * ~1 KiB. */
typedef struct conn_state {
	uv_timer_t timer; /* data: the connection */
	uv_shutdown_t shutdown_req;
	http_request req;
	http_parse parse;
} conn_state;

struct http_conn {
	uv_tcp_t tcp;     /* first member: the stream pointer is the connection */
	conn_state *st;   /* NULL once an upgraded connection released it */
	http_server *srv; /* NULL once the server was freed under us */
	http_conn *prev, *next;
	char *in; /* input; [in_off, in_len) is not parsed yet */
	size_t in_off, in_len, in_cap;
	size_t write_queued;
	int open_handles;
	conn_phase phase;
	bool reading;
	bool in_flight;     /* the handler has req and has not responded */
	bool processing;    /* inside conn_process: a synchronous respond must not recurse */
	bool closing;       /* uv_close called */
	bool timer_closing; /* st's timer is closed or closing */
	bool discard_input; /* after an error: input is read (to see a disconnect) and dropped */
	bool peer_eof;
	bool finish_after_flush;
};

typedef struct conn_write {
	uv_write_t req; /* first member */
	http_conn *conn;
	size_t len;
	char *owned; /* response body to free when written */
	char data[];
} conn_write;

static const char http_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void conn_process(http_conn *c);
static void conn_update_reading(http_conn *c);
static void conn_linger(http_conn *c);

void http_server_options_default(http_server_options *o)
{
	memset(o, 0, sizeof *o); /* fields added later default to zero/NULL */
	o->max_body = HTTP_DEFAULT_MAX_BODY;
	o->max_header = HTTP_DEFAULT_MAX_HEADER;
	o->header_timeout_ms = HTTP_DEFAULT_HEADER_TIMEOUT;
	o->body_timeout_ms = HTTP_DEFAULT_BODY_TIMEOUT;
	o->idle_timeout_ms = HTTP_DEFAULT_IDLE_TIMEOUT;
	o->max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
	o->backlog = HTTP_DEFAULT_BACKLOG;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 416:
		return "Range Not Satisfiable";
	case 417:
		return "Expectation Failed";
	case 422:
		return "Unprocessable Entity";
	case 426:
		return "Upgrade Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Unknown";
	}
}

/* ---- server ------------------------------------------------------------ */

static void server_drain_check(http_server *s)
{
	if (s->shutting_down && !s->drained && s->conn_count == 0 && !s->listener) {
		s->drained = true;
		/* may free s: nothing after this */
		if (s->on_drained)
			s->on_drained(s->drained_ud);
	}
}

static void on_listener_closed(uv_handle_t *h)
{
	http_server *s = h->data;

	free(h);
	if (s) {
		s->listener = NULL;
		server_drain_check(s);
	}
}

static void on_free_handle(uv_handle_t *h)
{
	free(h);
}

/* The date changes once a second; formatting it per response would not. */
static const char *server_date(http_server *s)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;

	if (now != s->date_time && gmtime_r(&now, &tm)) {
		snprintf(s->date, sizeof s->date, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
		         tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		s->date_time = now;
	}
	return s->date;
}

http_server *http_server_new(uv_loop_t *loop, const http_server_options *opt, http_handler_fn handler,
                             http_complete_fn on_complete, void *udata)
{
	http_server_options d;
	http_server *s;

	http_server_options_default(&d);
	s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->opt = d;
	if (opt) {
		s->opt = *opt;
		if (!s->opt.max_body)
			s->opt.max_body = d.max_body;
		if (!s->opt.max_header)
			s->opt.max_header = d.max_header;
		if (!s->opt.header_timeout_ms)
			s->opt.header_timeout_ms = d.header_timeout_ms;
		if (!s->opt.body_timeout_ms)
			s->opt.body_timeout_ms = d.body_timeout_ms;
		if (!s->opt.idle_timeout_ms)
			s->opt.idle_timeout_ms = d.idle_timeout_ms;
		if (s->opt.max_connections <= 0)
			s->opt.max_connections = d.max_connections;
		if (s->opt.backlog <= 0)
			s->opt.backlog = d.backlog;
	}
	s->loop = loop;
	s->handler = handler;
	s->on_complete = on_complete;
	s->udata = udata;
	s->listener = malloc(sizeof *s->listener);
	if (!s->listener || uv_tcp_init(loop, s->listener) != 0) {
		free(s->listener);
		free(s);
		return NULL;
	}
	s->listener->data = s;
	return s;
}

/* ---- connection lifetime ------------------------------------------------ */

static void conn_free(http_conn *c)
{
	http_server *s = c->srv;

	if (s) {
		if (c->prev)
			c->prev->next = c->next;
		else
			s->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		s->conn_count--;
	}
	if (c->st) {
		http_parse_free(&c->st->parse);
		free(c->st);
	}
	free(c->in);
	free(c);
	if (s)
		server_drain_check(s);
}

static http_conn *conn_of_handle(uv_handle_t *h)
{
	/* The tcp handle's data field belongs to a new owner after an upgrade,
	 * so both handles are mapped back by position instead. */
	if (h->type == UV_TCP)
		return (http_conn *)h;
	return h->data; /* the timer's */
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	http_conn *c = conn_of_handle(h);

	if (h->type == UV_TIMER && c->phase == CONN_UPGRADED && c->st) {
		/* http_upgraded_release: the HTTP state goes now */
		http_parse_free(&c->st->parse);
		free(c->st);
		c->st = NULL;
	}
	if (--c->open_handles == 0 && !c->in_flight)
		conn_free(c);
}

static void conn_close(http_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->reading = false;
	if (c->in_flight)
		c->st->req.gone = true;
	if (!c->timer_closing) {
		c->timer_closing = true;
		uv_close((uv_handle_t *)&c->st->timer, on_conn_handle_closed);
	}
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static void conn_timeout(http_conn *c)
{
	http_server *s = c->srv;

	/* The application answers 408 like any other error it formats. */
	http_parse_fail(&c->st->parse, HERR_TIMEOUT);
	c->discard_input = true;
	c->in_off = c->in_len = 0;
	c->phase = CONN_HANDLER;
	c->in_flight = true;
	s->handler(&c->st->req, s->udata);
	if (!c->closing)
		conn_update_reading(c);
}

static void on_conn_timer(uv_timer_t *t)
{
	http_conn *c = conn_of_handle((uv_handle_t *)t);

	switch (c->phase) {
	case CONN_HEADERS:
	case CONN_BODY:
		conn_timeout(c);
		break;
	case CONN_IDLE:   /* keep-alive ended: silent */
	case CONN_FLUSH:  /* the peer does not read its response */
	case CONN_LINGER: /* the peer did not close */
		conn_close(c);
		break;
	case CONN_HANDLER:
	case CONN_UPGRADED:
		break;
	}
}

static void conn_timer_start(http_conn *c, uint64_t ms)
{
	if (ms)
		uv_timer_start(&c->st->timer, on_conn_timer, ms, 0);
	else
		uv_timer_stop(&c->st->timer);
}

/* ---- reading ------------------------------------------------------------ */

static void on_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	http_conn *c = (http_conn *)h;

	if (c->discard_input || c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	if (c->in_cap - c->in_len < HTTP_READ_MIN) {
		/* Compacting only when room runs out keeps pipelining linear. */
		if (c->in_off > 0) {
			memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
			c->in_len -= c->in_off;
			c->in_off = 0;
		}
		if (c->in_cap - c->in_len < HTTP_READ_MIN) {
			size_t cap = c->in_cap ? c->in_cap * 2 : HTTP_READ_INITIAL;
			char *n = realloc(c->in, cap);

			if (!n) {
				*buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
				return;
			}
			c->in = n;
			c->in_cap = cap;
		}
	}
	*buf = uv_buf_init(c->in + c->in_len, (unsigned int)(c->in_cap - c->in_len));
}

static void conn_on_eof(http_conn *c, ssize_t status)
{
	c->peer_eof = true;
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
	/* A peer that half-closes after sending its request (`nc -N`, or
	 * shutdown(SHUT_WR) in a script) still reads the answer: keep the
	 * connection until the response is written, then close. Dropping it
	 * would leave the client unsure whether its write happened. */
	if (c->in_flight && status == UV_EOF)
		return;
	/* A half-closed peer may still read what is already queued for it. */
	if (!c->in_flight && status == UV_EOF && c->write_queued > 0 && c->phase != CONN_LINGER) {
		c->phase = CONN_FLUSH;
		c->finish_after_flush = true;
		conn_timer_start(c, c->srv ? c->srv->opt.body_timeout_ms : 0);
		return;
	}
	conn_close(c); /* a request in flight becomes gone */
}

static void on_conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	http_conn *c = (http_conn *)st;

	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		conn_on_eof(c, nread);
		return;
	}
	if (c->discard_input || c->phase == CONN_LINGER)
		return;
	c->in_len += (size_t)nread;
	if (c->phase == CONN_BODY)
		conn_timer_start(c, c->srv->opt.body_timeout_ms);
	conn_process(c);
}

static void conn_update_reading(http_conn *c)
{
	bool want;

	if (c->closing || c->phase == CONN_UPGRADED)
		return;
	want = !c->peer_eof && c->write_queued <= HTTP_WRITE_MAX;
	if (c->phase == CONN_FLUSH)
		want = false;
	else if (c->in_flight && c->in_len - c->in_off > HTTP_PIPELINE_MAX)
		want = false;
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_conn_alloc, on_conn_read) == 0)
			c->reading = true;
		else
			conn_close(c);
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

/* ---- writing ------------------------------------------------------------ */

static void on_conn_write(uv_write_t *wr, int status)
{
	conn_write *w = (conn_write *)wr;
	http_conn *c = w->conn;

	c->write_queued -= w->len;
	free(w->owned);
	free(w);
	if (c->closing || c->phase == CONN_UPGRADED)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->write_queued == 0 && c->finish_after_flush)
		conn_linger(c);
	else
		conn_update_reading(c);
}

/*
 * Sends head + body. Tries to write right away from the caller's memory and
 * queues only what the socket did not take. owned (the body, or NULL) is
 * freed here or when written.
 */
static int conn_send(http_conn *c, const char *head, size_t head_len, const char *body, size_t body_len, char *owned)
{
	size_t done = 0, head_rest, body_skip, body_rest, copy;
	unsigned int nb = 0;
	uv_buf_t bufs[2];
	conn_write *w;
	int n;

	if (c->write_queued == 0) {
		bufs[nb++] = uv_buf_init((char *)head, (unsigned int)head_len);
		if (body_len)
			bufs[nb++] = uv_buf_init((char *)body, (unsigned int)body_len);
		n = uv_try_write((uv_stream_t *)&c->tcp, bufs, nb);
		if (n >= 0) {
			done = (size_t)n;
		} else if (n != UV_EAGAIN && n != UV_ENOSYS) {
			free(owned);
			return HERR_IO;
		}
	}
	if (done == head_len + body_len) {
		free(owned);
		return 0;
	}
	head_rest = done < head_len ? head_len - done : 0;
	body_skip = done > head_len ? done - head_len : 0;
	body_rest = body_len - body_skip;
	copy = head_rest + (owned ? 0 : body_rest);
	w = malloc(sizeof *w + copy);
	if (!w) {
		free(owned);
		return HERR_NOMEM;
	}
	memcpy(w->data, head + head_len - head_rest, head_rest);
	nb = 0;
	if (owned) {
		if (head_rest)
			bufs[nb++] = uv_buf_init(w->data, (unsigned int)head_rest);
		if (body_rest)
			bufs[nb++] = uv_buf_init(owned + body_skip, (unsigned int)body_rest);
	} else {
		memcpy(w->data + head_rest, body + body_skip, body_rest);
		bufs[nb++] = uv_buf_init(w->data, (unsigned int)copy);
	}
	w->conn = c;
	w->len = head_rest + body_rest;
	w->owned = owned;
	n = uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, nb, on_conn_write);
	if (n < 0) {
		free(owned);
		free(w);
		return HERR_IO;
	}
	c->write_queued += w->len;
	return 0;
}

static void on_conn_shutdown(uv_shutdown_t *req, int status)
{
	http_conn *c = (http_conn *)req->handle;

	if (status < 0 && !c->closing)
		conn_close(c);
}

/* Half-close, then wait for the peer's EOF so our last response is read
 * rather than lost to a reset caused by unread input. */
static void conn_linger(http_conn *c)
{
	c->finish_after_flush = false;
	if (c->peer_eof) {
		conn_close(c);
		return;
	}
	c->phase = CONN_LINGER;
	c->discard_input = true;
	if (uv_shutdown(&c->st->shutdown_req, (uv_stream_t *)&c->tcp, on_conn_shutdown) != 0) {
		conn_close(c);
		return;
	}
	conn_timer_start(c, HTTP_LINGER_MS);
	conn_update_reading(c);
}

/* Closes the connection once what is queued has been written. */
static void conn_finish(http_conn *c)
{
	c->phase = CONN_FLUSH;
	c->finish_after_flush = true;
	if (c->write_queued == 0) {
		conn_linger(c);
		return;
	}
	conn_timer_start(c, c->srv->opt.body_timeout_ms);
	conn_update_reading(c);
}

/* ---- requests ----------------------------------------------------------- */

static void conn_dispatch(http_conn *c)
{
	http_server *s = c->srv;

	uv_timer_stop(&c->st->timer);
	c->phase = CONN_HANDLER;
	c->in_flight = true;
	s->handler(&c->st->req, s->udata);
}

/*
 * Parses buffered input and dispatches complete requests until a request is
 * in flight or the input is used up. Reentrant calls (a handler responding
 * synchronously) return at once: the outer loop goes on.
 */
static void conn_process(http_conn *c)
{
	http_server *s = c->srv;

	if (c->processing)
		return;
	c->processing = true;
	while (!c->in_flight && !c->closing && !c->discard_input && c->phase <= CONN_BODY && c->in_off < c->in_len) {
		size_t used = 0;
		int rc;

		if (c->phase == CONN_IDLE) {
			c->phase = CONN_HEADERS;
			c->st->req.start_ns = uv_hrtime();
			conn_timer_start(c, s->opt.header_timeout_ms);
		}
		rc = http_parse_feed(&c->st->parse, c->in + c->in_off, c->in_len - c->in_off, &used);
		c->in_off += used;
		if (rc < 0) {
			/* What follows a broken request cannot be trusted. */
			c->discard_input = true;
			c->in_off = c->in_len;
			conn_dispatch(c);
		} else if (c->st->parse.state == HTTP_PARSE_DONE) {
			conn_dispatch(c);
		} else if (c->st->parse.state == HTTP_PARSE_BODY && c->phase == CONN_HEADERS) {
			c->phase = CONN_BODY;
			conn_timer_start(c, s->opt.body_timeout_ms);
			if (c->st->parse.expect_continue &&
			    conn_send(c, http_continue, sizeof http_continue - 1, NULL, 0, NULL) < 0)
				conn_close(c);
		}
	}
	if (c->in_off == c->in_len) {
		c->in_off = c->in_len = 0;
		if (c->in_cap > HTTP_READ_KEEP) {
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
	}
	c->processing = false;
	if (c->closing)
		return;
	if (c->phase == CONN_IDLE && !c->in_flight)
		conn_timer_start(c, s->opt.idle_timeout_ms);
	conn_update_reading(c);
}

static void conn_next_request(http_conn *c)
{
	http_parse_next(&c->st->parse);
	c->st->req.route = NULL;
	c->st->req.tenant[0] = '\0';
	c->st->req.user = NULL;
	c->st->req.more_headers = NULL;
	c->st->req.gone = false;
	c->st->req.start_ns = 0;
	c->phase = CONN_IDLE;
}

static size_t head_put(char *out, size_t off, const char *s, size_t n)
{
	memcpy(out + off, s, n);
	return off + n;
}

static size_t head_put_num(char *out, size_t off, uint64_t v)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		out[off++] = tmp[--n];
	return off;
}

static bool head_line_ok(const char *line)
{
	/* A CR or LF from the application would split the response. */
	return line[strcspn(line, "\r\n")] == '\0';
}

static size_t head_size(const char *content_type, const char *const *extra, const char *const *more)
{
	size_t n = 256 + (content_type ? strlen(content_type) : 0);

	for (; extra && *extra; extra++)
		n += strlen(*extra) + 2;
	for (; more && *more; more++)
		n += strlen(*more) + 2;
	return n;
}

static size_t head_build(http_conn *c, char *out, int status, const char *content_type, size_t len, bool send_length,
                         bool keep, const char *const *extra)
{
	const char *reason = http_status_text(status);
	const char *date = server_date(c->srv);
	size_t o = 0;

	o = head_put(out, o, "HTTP/1.1 ", 9);
	o = head_put_num(out, o, (uint64_t)status);
	out[o++] = ' ';
	o = head_put(out, o, reason, strlen(reason));
	o = head_put(out, o, "\r\nDate: ", 8);
	o = head_put(out, o, date, strlen(date));
	o = head_put(out, o, "\r\nServer: herald\r\n", 18);
	if (content_type && head_line_ok(content_type)) {
		o = head_put(out, o, "Content-Type: ", 14);
		o = head_put(out, o, content_type, strlen(content_type));
		o = head_put(out, o, "\r\n", 2);
	}
	if (send_length) {
		o = head_put(out, o, "Content-Length: ", 16);
		o = head_put_num(out, o, len);
		o = head_put(out, o, "\r\n", 2);
	}
	if (keep)
		o = head_put(out, o, "Connection: keep-alive\r\n", 24);
	else
		o = head_put(out, o, "Connection: close\r\n", 19);
	for (; extra && *extra; extra++) {
		if (!head_line_ok(*extra))
			continue;
		o = head_put(out, o, *extra, strlen(*extra));
		o = head_put(out, o, "\r\n", 2);
	}
	for (const char *const *more = c->st->req.more_headers; more && *more; more++) {
		if (!head_line_ok(*more))
			continue;
		o = head_put(out, o, *more, strlen(*more));
		o = head_put(out, o, "\r\n", 2);
	}
	return head_put(out, o, "\r\n", 2);
}

/* Ends a request whose connection is gone: nothing is sent. */
static void conn_drop_response(http_conn *c, int status, char *owned)
{
	http_server *s = c->srv;

	free(owned);
	if (s && s->on_complete)
		s->on_complete(&c->st->req, status, 0, uv_hrtime() - c->st->req.start_ns, s->udata);
	c->in_flight = false;
	if (c->closing) {
		if (c->open_handles == 0)
			conn_free(c);
	} else {
		conn_close(c);
	}
}

static void conn_respond(http_request *req, int status, const char *content_type, const char *body, size_t len,
                         char *owned, const char *const *extra)
{
	http_conn *c = req->conn_;
	http_server *s;
	char stack[HTTP_HEAD_STACK];
	char *head = stack;
	size_t head_len, need, bytes = 0;
	bool keep, no_body, send_length;
	int rc;

	if (!c || !c->in_flight) {
		free(owned); /* a second response to one request */
		return;
	}
	s = c->srv;
	if (c->closing || req->gone || !s) {
		conn_drop_response(c, status, owned);
		return;
	}
	if (status < 100 || status > 999)
		status = 500;
	keep = req->keep_alive && !req->error && !s->shutting_down && !c->st->parse.upgrade && !c->discard_input &&
	       !c->peer_eof;
	/* HEAD announces the length of the body it does not get. */
	no_body = status < 200 || status == 204 || status == 304 || strcmp(req->method, "HEAD") == 0;
	send_length = status >= 200 && status != 204 && status != 304;
	need = head_size(content_type, extra, req->more_headers);
	if (need > sizeof stack) {
		head = malloc(need);
		if (!head) {
			conn_drop_response(c, status, owned);
			return;
		}
	}
	head_len = head_build(c, head, status, content_type, len, send_length, keep, extra);
	if (no_body) {
		free(owned);
		rc = conn_send(c, head, head_len, NULL, 0, NULL);
	} else {
		rc = conn_send(c, head, head_len, body, len, owned);
	}
	if (head != stack)
		free(head);
	if (rc == 0)
		bytes = head_len + (no_body ? 0 : len);
	if (s->on_complete)
		s->on_complete(req, status, bytes, uv_hrtime() - req->start_ns, s->udata);
	c->in_flight = false;
	if (rc < 0) {
		conn_close(c);
		return;
	}
	if (!keep) {
		conn_finish(c);
		return;
	}
	conn_next_request(c);
	conn_process(c);
}

void http_respond(http_request *req, int status, const char *content_type, const void *body, size_t len,
                  const char *const *extra_headers)
{
	conn_respond(req, status, content_type, body, len, NULL, extra_headers);
}

void http_respond_owned(http_request *req, int status, const char *content_type, char *body, size_t len,
                        const char *const *extra_headers)
{
	conn_respond(req, status, content_type, body, len, body, extra_headers);
}

bool http_request_wants_upgrade(const http_request *req)
{
	return req->conn_ && req->conn_->st && req->conn_->st->parse.upgrade && !req->error;
}

int http_request_upgrade(http_request *req, const char *response, size_t len, uv_stream_t **stream, const char **rest,
                         size_t *rest_len)
{
	http_conn *c = req->conn_;
	http_server *s;
	int rc;

	if (!c || !c->in_flight)
		return HERR_INTERNAL;
	if (!http_request_wants_upgrade(req))
		return HERR_BAD_REQUEST;
	s = c->srv;
	if (c->closing || req->gone || !s) {
		conn_drop_response(c, 101, NULL);
		return HERR_IO;
	}
	rc = conn_send(c, response, len, NULL, 0, NULL);
	if (s->on_complete)
		s->on_complete(req, 101, rc == 0 ? len : 0, uv_hrtime() - req->start_ns, s->udata);
	c->in_flight = false;
	if (rc < 0) {
		conn_close(c);
		return HERR_IO;
	}
	uv_timer_stop(&c->st->timer);
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
	c->phase = CONN_UPGRADED;
	*stream = (uv_stream_t *)&c->tcp;
	*rest = c->in ? c->in + c->in_off : NULL;
	*rest_len = c->in_len - c->in_off;
	return 0;
}

uv_loop_t *http_request_loop(const http_request *req)
{
	return req->conn_ ? req->conn_->tcp.loop : NULL;
}

void http_upgraded_release(uv_stream_t *stream)
{
	/* The HTTP side of a long-lived upgraded connection keeps nothing:
	 * the input buffer and the parsed request go (several KiB each, times
	 * every idle WebSocket). */
	http_conn *c = (http_conn *)stream;
	free(c->in);
	c->in = NULL;
	c->in_cap = c->in_len = c->in_off = 0;
	http_parse_free(&c->st->parse);
	/* The timer, the request and the parser go too, once the timer is
	 * closed (libuv holds it until then). */
	if (c->phase == CONN_UPGRADED && !c->timer_closing) {
		c->timer_closing = true;
		uv_close((uv_handle_t *)&c->st->timer, on_conn_handle_closed);
	}
}

void http_upgraded_close(uv_stream_t *stream)
{
	conn_close((http_conn *)stream);
}

/* ---- accepting ---------------------------------------------------------- */

/* A pending connection must be accepted or libuv stops accepting altogether. */
static void server_reject(uv_stream_t *ls)
{
	uv_tcp_t *t = malloc(sizeof *t);

	if (!t)
		return;
	if (uv_tcp_init(ls->loop, t) != 0) {
		free(t);
		return;
	}
	(void)uv_accept(ls, (uv_stream_t *)t);
	uv_close((uv_handle_t *)t, on_free_handle);
}

static void conn_peer_name(http_conn *c)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof ss;
	char *a = c->st->req.remote_addr;

	a[0] = '\0';
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (uv_ip_name((struct sockaddr *)&ss, a, sizeof c->st->req.remote_addr) != 0) {
		a[0] = '\0';
		return;
	}
	/* IPv4 peers of a dual-stack socket read better as IPv4. */
	if (strncmp(a, "::ffff:", 7) == 0 && strchr(a + 7, '.'))
		memmove(a, a + 7, strlen(a + 7) + 1);
}

static void on_server_connection(uv_stream_t *ls, int status)
{
	http_server *s = ls->data;
	http_conn *c;

	if (status < 0 || !s)
		return;
	if (s->shutting_down || s->conn_count >= (size_t)s->opt.max_connections) {
		server_reject(ls);
		return;
	}
	c = calloc(1, sizeof *c);
	if (c && !(c->st = calloc(1, sizeof *c->st))) {
		free(c);
		c = NULL;
	}
	if (!c) {
		server_reject(ls);
		return;
	}
	http_parse_init(&c->st->parse, &c->st->req, s->opt.max_header, s->opt.max_body);
	c->st->parse.body_limit = s->opt.body_limit;
	c->st->parse.body_limit_ud = s->udata;
	c->st->req.conn_ = c;
	if (uv_tcp_init(s->loop, &c->tcp) != 0) {
		free(c->st);
		free(c);
		server_reject(ls);
		return;
	}
	uv_timer_init(s->loop, &c->st->timer);
	c->tcp.data = c;
	c->st->timer.data = c;
	c->open_handles = 2;
	c->srv = s;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->conn_count++;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	conn_peer_name(c);
	c->phase = CONN_IDLE;
	/* A fresh connection must start its request within the header
	 * timeout, not the (longer) keep-alive idle time: otherwise idle
	 * sockets opened by a slow-loris client would hold slots for minutes. */
	conn_timer_start(c, s->opt.header_timeout_ms < s->opt.idle_timeout_ms ? s->opt.header_timeout_ms
	                                                                      : s->opt.idle_timeout_ms);
	conn_update_reading(c);
}

int http_server_listen(http_server *s, const char *host, int port, char *err, size_t err_size)
{
	struct sockaddr_storage addr;
	int rc;

	if (err && err_size)
		err[0] = '\0';
	if (!s->listener || s->listening || s->shutting_down) {
		if (err && err_size)
			snprintf(err, err_size, "listen %s:%d: server is not idle", host, port);
		return HERR_IO;
	}
	if (port < 0 || port > 65535) {
		if (err && err_size)
			snprintf(err, err_size, "listen %s:%d: bad port", host, port);
		return HERR_IO;
	}
	memset(&addr, 0, sizeof addr);
	if (strchr(host, ':'))
		rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
	else
		rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
	if (rc == 0)
		rc = uv_tcp_bind(s->listener, (const struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)s->listener, s->opt.backlog, on_server_connection);
	if (rc != 0) {
		uv_tcp_t *fresh = malloc(sizeof *fresh);

		if (err && err_size)
			snprintf(err, err_size, "listen %s:%d: %s", host, port, uv_strerror(rc));
		/* A socket that failed to bind cannot be bound again: start over
		 * so the caller may retry with another address. */
		s->listener->data = NULL;
		uv_close((uv_handle_t *)s->listener, on_listener_closed);
		s->listener = NULL;
		if (fresh && uv_tcp_init(s->loop, fresh) == 0) {
			fresh->data = s;
			s->listener = fresh;
		} else {
			free(fresh);
		}
		return HERR_IO;
	}
	s->listening = true;
	return 0;
}

int http_server_port(const http_server *s)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof ss;

	if (!s->listener || !s->listening || uv_tcp_getsockname(s->listener, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

size_t http_server_connection_count(const http_server *s)
{
	return s->conn_count;
}

void http_server_shutdown(http_server *s, void (*on_drained)(void *ud), void *ud)
{
	http_conn *c, *next;

	s->on_drained = on_drained;
	s->drained_ud = ud;
	if (s->shutting_down)
		return;
	s->shutting_down = true;
	/* Closing the listener is asynchronous, so on_drained never runs
	 * inside this call even with no connection left. */
	if (s->listener && !uv_is_closing((uv_handle_t *)s->listener))
		uv_close((uv_handle_t *)s->listener, on_listener_closed);
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->closing || c->in_flight)
			continue; /* finishes its request, then closes (keep-alive is off now) */
		if (c->phase == CONN_IDLE) {
			/* A request may be on its way on a connection that was
			 * just accepted or is between keep-alive requests: give it
			 * a short grace to arrive (and be answered, with
			 * Connection: close) rather than resetting the client. */
			if (c->write_queued)
				conn_finish(c);
			else
				conn_timer_start(c, HTTP_SHUTDOWN_GRACE_MS);
		} else if (c->phase == CONN_HEADERS) {
			/* Half a request head: not acknowledged, not worth the
			 * whole shutdown budget. 408 after a short wait. */
			conn_timer_start(c, HTTP_SHUTDOWN_HEADERS_MS);
		}
	}
}

void http_server_free(http_server *s)
{
	http_conn *c, *next;

	if (!s)
		return;
	for (c = s->conns; c; c = next) {
		next = c->next;
		c->srv = NULL;
		c->prev = c->next = NULL;
		conn_close(c);
	}
	if (s->listener) {
		s->listener->data = NULL;
		if (!uv_is_closing((uv_handle_t *)s->listener))
			uv_close((uv_handle_t *)s->listener, on_listener_closed);
	}
	free(s);
}
