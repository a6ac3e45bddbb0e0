/*
 * ws.h — the WebSocket transport (RFC 6455), server side, on a socket that
 * http.c hands over after a 101 response.
 *
 * What it owns: checking and answering the opening handshake, reading and
 * validating client frames (masking, fragmentation, UTF-8, limits), writing
 * server frames from a per-connection queue, heartbeats, the closing
 * handshake and the connection's memory until on_close has returned.
 * What it must never do: block the loop, know about JSON, tenants or who
 * subscribes to what, or touch a connection from another thread.
 *
 * Why it is built so: one broadcast reaches many sockets, so a server frame
 * is encoded once into a refcounted ws_msg and every connection only queues
 * a pointer to it; at the end of the loop turn each connection with output
 * writes all its frames with one vectored write (a turn's k events to n
 * members: n writes, not k * n). A client that does not read is cut off
 * (1008) when its queue passes a byte limit instead of holding memory. Idle
 * connections keep no buffers and no timer: reads go into one buffer per
 * loop, the queue is allocated while in use, and one clock per loop checks
 * every connection's heartbeat, so the cost per idle connection is the
 * struct (256 bytes) plus the socket.
 *
 * Threading: every function here runs on the loop thread of the http_server
 * that accepted the connection.
 *
 * Shutdown: an accepted connection counts as an HTTP connection until its
 * on_close, so http_server_shutdown's on_drained waits for it. The
 * application keeps its connections and ws_close()s them (1001) when it
 * shuts down; http_server_free must not run while one is still open.
 */
#ifndef HERALD_NET_WS_H
#define HERALD_NET_WS_H

#include <stddef.h>
#include <stdint.h>

#include "net/http.h"

/* Close codes (RFC 6455 §7.4.1) used by the transport. */
#define WS_CLOSE_NORMAL      1000
#define WS_CLOSE_GOING_AWAY  1001 /* idle timeout, server shutdown */
#define WS_CLOSE_PROTOCOL    1002 /* a frame broke the protocol */
#define WS_CLOSE_UNSUPPORTED 1003 /* binary message */
#define WS_CLOSE_NO_STATUS   1005 /* the peer's close frame had no code (never sent) */
#define WS_CLOSE_ABNORMAL    1006 /* the connection dropped without a close frame (never sent) */
#define WS_CLOSE_BAD_DATA    1007 /* text that is not UTF-8 */
#define WS_CLOSE_POLICY      1008 /* slow consumer */
#define WS_CLOSE_TOO_BIG     1009 /* message above max_message */
#define WS_CLOSE_INTERNAL    1011
#define WS_CLOSE_TRY_AGAIN   1013

/* The header line a 426 refusal must carry (see ws_handshake_status). */
#define WS_VERSION_HEADER "Sec-WebSocket-Version: 13"

typedef struct ws_conn ws_conn;
typedef struct ws_msg ws_msg; /* an encoded server frame, shared by reference */

typedef struct ws_options {
	size_t max_message;        /* largest client message after reassembly, default 64 KiB → close 1009 */
	size_t max_queue_bytes;    /* outgoing bytes queued per connection, default 1 MiB → close 1008 */
	uint64_t ping_interval_ms; /* default 25 s: a ping when nothing was received for this long */
	uint64_t idle_timeout_ms;  /* default 60 s: nothing received (not even a pong) → close 1001 */
	uint64_t
	        close_timeout_ms; /* default 2 s: closing handshake (flush + the peer's close) before the socket drops */
	const char *const *subprotocols; /* NULL-terminated, in order of preference, or NULL; the strings must
	                                  * outlive the connections (ws_subprotocol returns one of them) */
} ws_options;

/* Fills the defaults. Zero fields of the options given to ws_accept take them too. */
void ws_options_default(ws_options *o);

typedef struct ws_callbacks {
	/* A complete text message, valid UTF-8, not NUL-terminated; data is valid
	 * only during the call. The callee may send, close, set userdata. */
	void (*on_text)(ws_conn *c, const char *data, size_t len, void *ud);
	/* Exactly once per accepted connection, from a libuv callback (never from
	 * inside a ws_* call), when the socket is gone. code: the close code of
	 * the closing handshake (the peer's if it began it, else ours;
	 * WS_CLOSE_NO_STATUS for an empty close frame), WS_CLOSE_ABNORMAL if the
	 * connection dropped without one. c is freed when this returns. */
	void (*on_close)(ws_conn *c, int code, void *ud);
} ws_callbacks;

/*
 * How an upgrade request would be answered: 101 if it is a valid WebSocket
 * handshake; 426 if only Sec-WebSocket-Version is missing or not 13 (answer
 * 426 with WS_VERSION_HEADER among the extra headers); 400 otherwise.
 */
int ws_handshake_status(const http_request *req);

/*
 * Checks the handshake of req (GET, Upgrade: websocket, Connection: upgrade,
 * Sec-WebSocket-Version: 13, a Sec-WebSocket-Key of 16 bytes in base64),
 * answers 101 with Sec-WebSocket-Accept (and Sec-WebSocket-Protocol if one of
 * opt->subprotocols was offered) and takes over the socket. opt and cb are
 * copied; opt may be NULL. Returns 0 and *out (on_close will follow, even if
 * the peer is already gone); HERR_BAD_REQUEST if the handshake is not valid
 * (req is untouched: respond with ws_handshake_status(req)); HERR_NOMEM or
 * HERR_INTERNAL (respond 500); HERR_IO if the peer is gone (req is ended: do not respond).
 */
int ws_accept(http_request *req, const ws_options *opt, const ws_callbacks *cb, void *ud, ws_conn **out);

/* A text frame holding a copy of data (which should be valid UTF-8), encoded
 * once; refcount 1. NULL when out of memory. */
ws_msg *ws_msg_text(const char *data, size_t len);
ws_msg *ws_msg_ref(ws_msg *m);
void ws_msg_unref(ws_msg *m); /* NULL is fine */
/* Bytes on the wire (header + payload). */
size_t ws_msg_size(const ws_msg *m);

/*
 * Queues m behind what is already queued (the connection takes its own
 * reference; the caller keeps its own). Returns 0; HERR_IO if the connection
 * is closing or closed, or if m would take the queue past max_queue_bytes:
 * then what was waiting is dropped and the connection closes with 1008.
 */
int ws_send(ws_conn *c, ws_msg *m);

/* The same for a one-off message; writes straight from data when the socket
 * takes it all, copies otherwise. HERR_NOMEM if no copy could be made. */
int ws_send_text(ws_conn *c, const char *data, size_t len);

/*
 * Starts the closing handshake: a close frame with code (1000-1003,
 * 1007-1014, 3000-4999; anything else becomes 1000) and reason (truncated to
 * 123 bytes; NULL for none) after the queued data, then waits up to
 * close_timeout_ms for the peer's close before the socket drops. Further
 * sends fail. No-op once closing. on_close follows later.
 */
void ws_close(ws_conn *c, int code, const char *reason);

void ws_set_userdata(ws_conn *c, void *ud);
void *ws_get_userdata(const ws_conn *c);

/* Bytes waiting to be written (including a write in progress). */
size_t ws_queued_bytes(const ws_conn *c);

/* The subprotocol chosen at the handshake (one of opt->subprotocols), or NULL. */
const char *ws_subprotocol(const ws_conn *c);

#endif
