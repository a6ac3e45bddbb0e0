/*
 * http.h — the HTTP/1.1 server: libuv sockets, http-parser behind http_parse.h.
 *
 * What it owns: accepting connections, reading requests (keep-alive,
 * pipelining, chunked bodies), enforcing limits and timeouts, writing
 * responses in request order, and a graceful shutdown.
 * What it must never do: block the loop, know about routes, JSON or tenants.
 *
 * One request at a time per connection: after a request is complete the
 * parser pauses until the handler has responded, so pipelined requests are
 * answered in order without a per-connection queue of responses.
 *
 * The handler is called once per request and must call http_respond*() exactly
 * once, now or later (from the loop thread). The request stays valid until
 * then even if the peer disconnects (req->gone becomes true; the response is
 * dropped). The struct is reused for the next request of the connection, which
 * may already be dispatched before http_respond*() returns: do not touch req
 * after responding.
 *
 * Errors the server detects itself (malformed request, 413, 431, 408) are
 * also passed to the handler with req->error set to the HERR_* code, so the
 * application formats every error body; the server then closes the
 * connection after the response.
 */
#ifndef HERALD_NET_HTTP_H
#define HERALD_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_server http_server;
typedef struct http_conn http_conn;

typedef struct http_header {
	char *name; /* lower case */
	char *value;
} http_header;

typedef struct http_request {
	const char *method; /* "GET", "POST", … ("" when error set before the method was read) */
	char *url;          /* raw request target */
	char *path;         /* percent-decoded path without query ("" if unknown) */
	char *raw_path;     /* the same, not decoded: what router_match takes, so "%2F" stays in a segment */
	char *query;        /* raw query string after '?', or NULL */
	http_header *headers;
	size_t header_count;
	char *body; /* NUL-terminated; body_len excludes the NUL */
	size_t body_len;
	char remote_addr[64]; /* "127.0.0.1" */
	uint64_t start_ns;    /* monotonic time of the first byte */
	bool keep_alive;
	bool gone; /* the connection closed before the response */
	int error; /* 0, or HERR_BAD_REQUEST / HERR_BODY_TOO_LARGE / HERR_HEADERS_TOO_LARGE / HERR_TIMEOUT
		      * (HERR_NOMEM if the request could not be stored) */

	/* Set by the application, read by its on_complete hook. */
	const char *route; /* static string naming the matched route, for metrics */
	char tenant[32];   /* tenant shown in the access log */
	void *user;
	/* NULL or a NULL-terminated array of "Name: value" lines added to the
	 * response after the handler's own (e.g. CORS headers decided once per
	 * request by the dispatcher); must live until the response is sent. */
	const char *const *more_headers;

	http_conn *conn_; /* private */
} http_request;

typedef void (*http_handler_fn)(http_request *req, void *udata);

/* Called after the response of a request has been queued for writing (also
 * when the peer was gone: bytes_out is then 0). */
typedef void (*http_complete_fn)(http_request *req, int status, size_t bytes_out, uint64_t duration_ns, void *udata);

typedef struct http_server_options {
	size_t max_body;            /* default 1 MiB → 413 */
	size_t max_header;          /* request line + headers, default 16 KiB → 431 */
	uint64_t header_timeout_ms; /* first byte to end of headers, default 10 s → 408 */
	uint64_t body_timeout_ms;   /* longest pause while reading a body, default 30 s → 408 */
	uint64_t idle_timeout_ms;   /* keep-alive idle, default 60 s → silent close */
	int max_connections;        /* default 19000; beyond it new connections are closed */
	int backlog;                /* default 4096 (capped by net.core.somaxconn) */
	/* Optional per-path body limit (uploads): called with the path and
	 * max_body when a request's headers are complete. */
	size_t (*body_limit)(const char *path, size_t def, void *ud);
} http_server_options;

/* Zero fields of the options given to http_server_new take these defaults. */
void http_server_options_default(http_server_options *o);

http_server *http_server_new(uv_loop_t *loop, const http_server_options *opt, http_handler_fn handler,
                             http_complete_fn on_complete, void *udata);

/* Binds and listens on host:port ("127.0.0.1", "0.0.0.0", "::1"). Port 0 picks
 * a free port (see http_server_port). Returns 0 or HERR_IO with err filled. */
int http_server_listen(http_server *s, const char *host, int port, char *err, size_t err_size);
int http_server_port(const http_server *s);

/* Stops accepting, closes idle connections, lets in-flight requests finish,
 * then closes their connections; calls on_drained once no connection is left. */
void http_server_shutdown(http_server *s, void (*on_drained)(void *ud), void *ud);

/* Frees the server; call after on_drained (or when the loop has stopped). */
void http_server_free(http_server *s);

size_t http_server_connection_count(const http_server *s);

/* Header value by lower-case name, or NULL. */
const char *http_request_header(const http_request *r, const char *lower_name);

/* Percent-decoded value of a query parameter ('+' is a space). Returns its length,
 * or -1 if absent or longer than out_size-1. */
long http_request_query(const http_request *r, const char *name, char *out, size_t out_size);

/*
 * Sends the response. extra_headers is NULL or a NULL-terminated array of
 * complete "Name: value" lines without CRLF. The server adds Content-Length,
 * Content-Type (if given), Date, Server and Connection. Body is copied.
 */
void http_respond(http_request *req, int status, const char *content_type, const void *body, size_t len,
                  const char *const *extra_headers);

/* The same, taking ownership of a malloc'ed body (avoids one copy). */
void http_respond_owned(http_request *req, int status, const char *content_type, char *body, size_t len,
                        const char *const *extra_headers);

/* Standard reason phrase ("Not Found"). */
const char *http_status_text(int status);

/*
 * Protocol hand-over (WebSocket). A request whose headers ask for an upgrade
 * ("Connection: upgrade" + "Upgrade: …") is dispatched like any other; if
 * the application answers it with http_respond*() the connection closes after
 * the response.
 */
bool http_request_wants_upgrade(const http_request *req);

/*
 * Answers an upgrade request with `response` (the complete 101 head, copied)
 * and takes the connection away from HTTP: the server stops reading, timing
 * and parsing it, calls on_complete with status 101 and ends req. *stream is
 * the socket: the caller sets its data field and calls uv_read_start/uv_write
 * on it. *rest and *rest_len are bytes the peer sent after the request (its first
 * frames); they stay valid until http_upgraded_close. The connection keeps
 * counting in http_server_connection_count (and holds up on_drained) until
 * the caller calls http_upgraded_close(*stream) — also on shutdown.
 * Returns 0; HERR_BAD_REQUEST if req asked for no upgrade (respond normally);
 * HERR_IO if the peer is gone (req is ended, nothing is sent).
 */
int http_request_upgrade(http_request *req, const char *response, size_t len, uv_stream_t **stream, const char **rest,
                         size_t *rest_len);

/* The loop the request's connection runs on (NULL if it has none). */
uv_loop_t *http_request_loop(const http_request *req);

/* Frees what the HTTP side still holds for an upgraded connection (input
 * buffer, parsed request); *rest and the request's strings become invalid.
 * Call once the trailing bytes were copied. */
void http_upgraded_release(uv_stream_t *stream);

/* Closes a connection taken with http_request_upgrade and frees it. */
void http_upgraded_close(uv_stream_t *stream);

#endif
