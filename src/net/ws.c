/*
 * ws.c — WebSocket framing, queueing, heartbeats and closing on libuv.
 *
 * What it owns: every ws_conn, its timer, its receive and reassembly buffers,
 * its queue of ws_msg references, and the moment its socket goes back to
 * http.c (http_upgraded_close).
 * What it must never do: block the loop, free a connection inside a call
 * made by the application (the application may still be in on_text on the
 * stack), or send anything after its close frame.
 *
 * Why it is built so:
 * - Input is parsed from one buffer that holds whole frames: a frame is
 *   handled when its last byte is in, unmasked in place, and a message of one
 *   frame (nearly all) is handed to on_text from there without a copy. Only
 *   fragmented messages are copied into a reassembly buffer. The length in a
 *   frame's header is checked before any of its payload is buffered.
 * - Output is batched per loop turn. ws_send only queues a reference to the
 *   frame and puts the connection on its loop's list of connections with
 *   output ("dirty"); a prepare and a check handle of that loop (one pair per
 *   loop, shared by its connections) flush the list once per turn: one
 *   uv_try_write of up to WS_BATCH buffers per connection (no allocation when
 *   the socket takes it all), and a uv_write for what it did not take. A
 *   broadcast of k events to n members thus costs n writev() per turn, not
 *   k * n write(): on loopback each write also runs the receiver's TCP path
 *   and wake-up, which was ~80 % of the server's time (docs/performance.md).
 *   The check handle runs right after the I/O callbacks that produce events;
 *   the prepare handle catches what timers and close callbacks queued before
 *   the loop blocks, so no frame waits for the next I/O.
 *   One-off replies (ws_send_text, control frames) still go out at once
 *   when nothing is queued before them; otherwise they queue behind, so
 *   order is kept. Frames are whole in the queue, so a slow consumer's
 *   waiting frames can be dropped without corrupting the stream: only the
 *   batch in flight has to finish before the close frame.
 * - No timer per connection (a libuv timer is 152 bytes, times every idle
 *   connection): each has a deadline (heartbeat or closing timeout) and one
 *   clock per loop scans its connections a few times a second (every
 *   quarter of the shortest ping, idle or close time, at most 250 ms). Reads
 *   only stamp the time; the deadline is recomputed when it passes. The
 *   bytes that came with the handshake are parsed by the loop's flush at
 *   the end of the turn.
 * - Memory is freed only from a libuv callback (the loop's flush, or a
 *   write or shutdown completing) once no request is left in libuv's hands;
 *   on_close runs then, never inside a ws_* call.
 */
#include "net/ws.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

#define WS_GUID                  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_DEFAULT_MAX_MESSAGE   (64u * 1024u)
#define WS_DEFAULT_MAX_QUEUE     (1024u * 1024u)
#define WS_DEFAULT_PING_INTERVAL 25000u
#define WS_DEFAULT_IDLE_TIMEOUT  60000u
#define WS_DEFAULT_CLOSE_TIMEOUT 2000u
#define WS_BATCH                 128           /* buffers per writev (IOV_MAX is 1024) */
#define WS_QUEUE_INITIAL         8u            /* ring slots; a ring this small is kept when empty */
#define WS_QUEUE_MAX_MSGS        16384u        /* frames queued; beyond it the peer is a slow consumer too */
#define WS_RX_CHUNK              4096u         /* least allocation of the receive buffer */
#define WS_RX_MIN                1024u         /* least room offered to one read */
#define WS_SHARED_RX             (64u * 1024u) /* the loop's read buffer, shared by its connections */
#define WS_CLOCK_MIN_MS          5u
#define WS_CLOCK_MAX_MS          250u
#define WS_MAX_FRAME_HEADER      14u /* 2 + 8 length + 4 mask */
#define WS_MAX_CONTROL           125u
#define WS_MAX_REASON            123u /* a close payload is at most 125 bytes, 2 of them the code */

#define WS_OP_CONT  0x0
#define WS_OP_TEXT  0x1
#define WS_OP_BIN   0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING  0x9
#define WS_OP_PONG  0xA

#define WS_UTF8_OK  0u /* between characters */
#define WS_UTF8_BAD 1u /* sticky: not UTF-8 */

typedef enum ws_state {
	WS_OPEN,    /* messages flow */
	WS_CLOSING, /* our close frame is queued or sent; waiting for it to go out and for the peer's */
	WS_CLOSED,  /* socket handed back; waiting for libuv to release the timer and requests */
} ws_state;

struct ws_msg {
	int refs; /* loop thread only */
	size_t len;
	unsigned char data[];
};

/* The connections of one loop that have queued output this turn, flushed
 * by a prepare and a check handle. One per loop (looked up per thread: a
 * loop runs on one thread), freed when its last connection is. */
typedef struct ws_flusher ws_flusher;
struct ws_flusher {
	uv_prepare_t prepare;
	uv_check_t check;
	uv_loop_t *loop;
	uv_timer_t clock; /* scans the connections' deadlines */
	uint64_t tick_ms;
	ws_conn *dirty; /* singly linked through ws_conn.next_dirty */
	ws_conn *all;   /* every connection, through ws_conn.all_prev/all_next */
	size_t conns;   /* connections using it */
	int open_handles;
	bool active;          /* the handles are started */
	bool rx_lent;         /* rxbuf is between an alloc and a read callback */
	unsigned char *rxbuf; /* WS_SHARED_RX bytes: what connections read into */
	ws_flusher *next;
};

/* A write in flight; allocated per batch so an idle connection holds none. */
typedef struct ws_write {
	uv_write_t req; /* first member */
	ws_conn *conn;
} ws_write;

struct ws_conn {
	uv_stream_t *stream; /* NULL once handed back */
	ws_flusher *fl;
	ws_conn *next_dirty;
	ws_conn *all_prev, *all_next;
	uint64_t deadline; /* loop time (ms) of the next heartbeat check or of the closing timeout; 0: none */
	ws_callbacks cb;
	void *ud;
	const char *subprotocol;
	size_t max_message, max_queue;
	uint64_t ping_ms, idle_ms, close_ms;
	uint64_t last_rx; /* loop time of the last bytes received */

	/* output: a ring of q_cap slots, q_count used from q_head; the first
	 * q_inflight of them are in the current uv_write. q_off bytes of the
	 * head were already written by uv_try_write. */
	ws_msg **q;
	uint32_t q_head, q_count, q_cap, q_inflight;
	size_t q_off;
	size_t queued;     /* bytes not yet written */
	size_t turn_bytes; /* of them, queued since the last write attempt (not refused by the socket yet) */

	/* input: rx holds [0, rx_len) unparsed; rx_need is the size of the
	 * frame at its start once its header is known (0 before). */
	unsigned char *rx;
	size_t rx_len, rx_cap, rx_need;
	/* reassembly of a fragmented text message */
	char *msg;
	size_t msg_len, msg_cap;
	uint32_t utf8; /* validator state across the fragments */

	int close_code; /* code of the closing handshake, 0 before */
	ws_state state;
	bool fragmented;   /* a text message is being reassembled */
	bool writing;      /* a uv_write is in flight */
	bool dirty;        /* on fl's list: output waits for the end of the loop turn */
	bool shutting;     /* a uv_shutdown is in flight */
	bool ping_sent;    /* since the last bytes received */
	bool rest_pending; /* rx holds the handshake's trailing bytes, not parsed yet */
	bool rx_shared;    /* rx is the loop's read buffer, for the length of on_ws_read */
	bool close_queued; /* our close frame is in the queue (the last entry) */
	bool close_sent;   /* ... and written */
	bool peer_closed;  /* the peer's close frame arrived */
	bool discard;      /* input no longer matters: read (so closing sends no RST) and drop */
};

static void ws_teardown(ws_conn *c, int code);
static void ws_flush(ws_conn *c);
static void ws_schedule(ws_conn *c);
static void ws_begin_close(ws_conn *c, int code, const char *reason, size_t reason_len, bool with_code);
static void ws_deadline(ws_conn *c, uint64_t now);
static void ws_mark(ws_conn *c);
static void ws_process(ws_conn *c);

void ws_options_default(ws_options *o)
{
	memset(o, 0, sizeof *o);
	o->max_message = WS_DEFAULT_MAX_MESSAGE;
	o->max_queue_bytes = WS_DEFAULT_MAX_QUEUE;
	o->ping_interval_ms = WS_DEFAULT_PING_INTERVAL;
	o->idle_timeout_ms = WS_DEFAULT_IDLE_TIMEOUT;
	o->close_timeout_ms = WS_DEFAULT_CLOSE_TIMEOUT;
}

/* ---- UTF-8 ------------------------------------------------------------------ */

/*
 * Incremental validator (RFC 3629: no overlongs, no surrogates, nothing above
 * U+10FFFF), so a message is rejected at its first bad fragment and a
 * character may straddle fragments. A state inside a character is
 * need << 16 | lo << 8 | hi: bytes still needed and the range of the next.
 */
static uint32_t ws_utf8_lead(unsigned b)
{
	if (b < 0xC2)
		return WS_UTF8_BAD;
	if (b < 0xE0)
		return 1u << 16 | 0x80u << 8 | 0xBFu;
	if (b == 0xE0)
		return 2u << 16 | 0xA0u << 8 | 0xBFu; /* no overlong */
	if (b == 0xED)
		return 2u << 16 | 0x80u << 8 | 0x9Fu; /* no surrogate */
	if (b < 0xF0)
		return 2u << 16 | 0x80u << 8 | 0xBFu;
	if (b == 0xF0)
		return 3u << 16 | 0x90u << 8 | 0xBFu; /* no overlong */
	if (b < 0xF4)
		return 3u << 16 | 0x80u << 8 | 0xBFu;
	if (b == 0xF4)
		return 3u << 16 | 0x80u << 8 | 0x8Fu; /* up to U+10FFFF */
	return WS_UTF8_BAD;
}

static uint32_t ws_utf8_step(uint32_t st, const unsigned char *p, size_t n)
{
	size_t i = 0;

	if (st == WS_UTF8_BAD)
		return st;
	while (i < n) {
		unsigned b;

		if (st == WS_UTF8_OK) {
			/* ASCII runs, the common case, eight bytes at a time */
			while (n - i >= 8) {
				uint64_t w;

				memcpy(&w, p + i, 8);
				if (w & 0x8080808080808080ull)
					break;
				i += 8;
			}
			if (i == n)
				break;
			b = p[i++];
			if (b >= 0x80)
				st = ws_utf8_lead(b);
			if (st == WS_UTF8_BAD)
				return st;
		} else {
			uint32_t need = st >> 16;

			b = p[i++];
			if (b < ((st >> 8) & 0xFFu) || b > (st & 0xFFu))
				return WS_UTF8_BAD;
			need--;
			st = need ? (need << 16 | 0x80u << 8 | 0xBFu) : WS_UTF8_OK;
		}
	}
	return st;
}

/* ---- messages ----------------------------------------------------------------- */

static size_t ws_header_put(unsigned char *h, int op, size_t len)
{
	h[0] = (unsigned char)(0x80 | op); /* FIN: the server never fragments */
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xFFFF) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		return 4;
	}
	h[1] = 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

/* A frame is written with uv_buf_t, whose length is an unsigned int on some
 * platforms: larger frames are refused rather than truncated. */
static ws_msg *ws_msg_new(int op, const void *payload, size_t len)
{
	unsigned char h[WS_MAX_FRAME_HEADER];
	size_t hlen;
	ws_msg *m;

	if (len > UINT32_MAX - WS_MAX_FRAME_HEADER)
		return NULL;
	hlen = ws_header_put(h, op, len);
	m = malloc(sizeof *m + hlen + len);
	if (!m)
		return NULL;
	m->refs = 1;
	m->len = hlen + len;
	memcpy(m->data, h, hlen);
	if (len)
		memcpy(m->data + hlen, payload, len);
	return m;
}

ws_msg *ws_msg_text(const char *data, size_t len)
{
	return ws_msg_new(WS_OP_TEXT, data, len);
}

ws_msg *ws_msg_ref(ws_msg *m)
{
	m->refs++;
	return m;
}

void ws_msg_unref(ws_msg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

size_t ws_msg_size(const ws_msg *m)
{
	return m->len;
}

/* ---- lifetime ------------------------------------------------------------------- */

static ws_msg *ws_queue_at(const ws_conn *c, uint32_t i)
{
	return c->q[(c->q_head + i) % c->q_cap];
}

static void ws_flusher_release(ws_flusher *f);

static void ws_maybe_free(ws_conn *c)
{
	ws_flusher *f = c->fl;

	if (c->state != WS_CLOSED || c->writing || c->shutting || c->dirty)
		return;
	if (c->cb.on_close)
		c->cb.on_close(c, c->close_code, c->ud);
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		f->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	for (uint32_t i = 0; i < c->q_count; i++)
		ws_msg_unref(ws_queue_at(c, i));
	free(c->q);
	free(c->rx);
	free(c->msg);
	free(c);
	ws_flusher_release(f);
}

/* Drops the frames no write has taken yet (a partly written head stays). */
static void ws_queue_drop_waiting(ws_conn *c)
{
	uint32_t keep = c->q_inflight;

	c->turn_bytes = 0;
	if (keep == 0 && c->q_off > 0 && c->q_count > 0)
		keep = 1;
	while (c->q_count > keep) {
		ws_msg *m = ws_queue_at(c, c->q_count - 1);

		c->queued -= m->len;
		ws_msg_unref(m);
		c->q_count--;
	}
}

/*
 * Gives the socket back to http.c. Memory goes when libuv has returned
 * every request (cancelled ones too), from the loop's flush or the last
 * request's callback; on_close runs then.
 */
static void ws_teardown(ws_conn *c, int code)
{
	if (c->state == WS_CLOSED)
		return;
	if (!c->close_code)
		c->close_code = code;
	c->state = WS_CLOSED;
	c->deadline = 0;
	ws_mark(c); /* the flush at the end of the turn frees it (if no request holds it) */
	ws_queue_drop_waiting(c);
	http_upgraded_close(c->stream);
	c->stream = NULL;
}

/* ---- output --------------------------------------------------------------------- */

static int ws_queue_push(ws_conn *c, ws_msg *m, size_t off)
{
	if (c->q_count == c->q_cap) {
		uint32_t cap = c->q_cap ? c->q_cap * 2 : WS_QUEUE_INITIAL;
		ws_msg **n = malloc(cap * sizeof *n);

		if (!n)
			return HERR_NOMEM;
		for (uint32_t i = 0; i < c->q_count; i++)
			n[i] = ws_queue_at(c, i);
		free(c->q);
		c->q = n;
		c->q_head = 0;
		c->q_cap = cap;
	}
	c->q[(c->q_head + c->q_count) % c->q_cap] = ws_msg_ref(m);
	if (c->q_count == 0)
		c->q_off = off; /* only an empty queue sees a partial uv_try_write */
	c->q_count++;
	c->queued += m->len - off;
	c->turn_bytes += m->len - off;
	return 0;
}

static bool ws_queue_full(const ws_conn *c, size_t len)
{
	return c->queued + len > c->max_queue || c->q_count >= WS_QUEUE_MAX_MSGS;
}

/* The queue is at its limit: before judging the peer slow, offer the
 * frames of this turn (that the socket has not refused yet) to the socket
 * now. Returns true if the queue is then empty and idle (the next frame may
 * go straight out); a teardown shows in c->state. */
static bool ws_relieve(ws_conn *c)
{
	if (c->turn_bytes && !c->writing)
		ws_flush(c);
	return c->state != WS_CLOSED && c->q_count == 0 && !c->writing;
}

static void on_ws_shutdown(uv_shutdown_t *req, int status)
{
	ws_conn *c = req->data;

	free(req);
	c->shutting = false;
	if (c->state == WS_CLOSED)
		ws_maybe_free(c);
	else if (status < 0)
		ws_teardown(c, WS_CLOSE_ABNORMAL);
}

/* Everything queued is written. After our close frame that ends our side:
 * drop the socket if the peer closed too, else half-close and wait for its
 * close frame or EOF (a close frame followed by EOF tells every client). */
static void ws_drained(ws_conn *c)
{
	uv_shutdown_t *sd;

	if (c->q) { /* an idle connection holds no ring (once per turn: cheap next to the writev) */
		free(c->q);
		c->q = NULL;
		c->q_cap = c->q_head = 0;
	}
	if (c->state != WS_CLOSING || !c->close_queued || c->close_sent)
		return;
	c->close_sent = true;
	if (c->peer_closed) {
		ws_teardown(c, WS_CLOSE_NORMAL);
		return;
	}
	sd = malloc(sizeof *sd);
	if (!sd) {
		ws_teardown(c, WS_CLOSE_ABNORMAL);
		return;
	}
	sd->data = c;
	if (uv_shutdown(sd, c->stream, on_ws_shutdown) != 0) {
		free(sd);
		ws_teardown(c, WS_CLOSE_ABNORMAL);
		return;
	}
	c->shutting = true;
}

static void on_ws_written(uv_write_t *req, int status)
{
	ws_write *w = (ws_write *)req;
	ws_conn *c = w->conn;

	free(w);
	c->writing = false;
	for (uint32_t i = 0; i < c->q_inflight; i++) {
		ws_msg *m = c->q[c->q_head];

		c->queued -= m->len - c->q_off;
		c->q_off = 0;
		ws_msg_unref(m);
		c->q_head = (c->q_head + 1) % c->q_cap;
		c->q_count--;
	}
	c->q_inflight = 0;
	if (c->state == WS_CLOSED) {
		ws_maybe_free(c);
		return;
	}
	if (status < 0) {
		ws_teardown(c, WS_CLOSE_ABNORMAL);
		return;
	}
	if (c->q_count)
		ws_flush(c);
	else
		ws_drained(c);
}

/* Drops the frames (and the part of one) that the socket took. */
static void ws_queue_consume(ws_conn *c, size_t bytes)
{
	while (bytes > 0 && c->q_count > 0) {
		ws_msg *m = c->q[c->q_head];
		size_t left = m->len - c->q_off;

		if (bytes < left) {
			c->q_off += bytes;
			c->queued -= bytes;
			return;
		}
		bytes -= left;
		c->queued -= left;
		c->q_off = 0;
		ws_msg_unref(m);
		c->q_head = (c->q_head + 1) % c->q_cap;
		c->q_count--;
	}
}

/* Writes the frames at the head of the queue: what the socket takes now
 * with one writev (no allocation), the rest of the batch with a uv_write;
 * the next batch follows when that completes. */
static void ws_flush(ws_conn *c)
{
	uv_buf_t bufs[WS_BATCH];
	uint32_t n;
	ws_write *w;

	if (c->writing || c->q_count == 0 || c->state == WS_CLOSED)
		return;
	c->turn_bytes = 0; /* offered to the socket now */
	for (;;) {
		size_t total = 0;
		int rc;

		n = c->q_count < WS_BATCH ? c->q_count : WS_BATCH;
		for (uint32_t i = 0; i < n; i++) {
			ws_msg *m = ws_queue_at(c, i);
			size_t off = i == 0 ? c->q_off : 0;

			bufs[i] = uv_buf_init((char *)m->data + off, (unsigned int)(m->len - off));
			total += m->len - off;
		}
		rc = uv_try_write(c->stream, bufs, n);
		if (rc < 0 && rc != UV_EAGAIN && rc != UV_ENOSYS) {
			ws_teardown(c, WS_CLOSE_ABNORMAL);
			return;
		}
		if (rc <= 0)
			break;
		ws_queue_consume(c, (size_t)rc);
		if (c->q_count == 0) {
			ws_drained(c);
			return;
		}
		if ((size_t)rc < total)
			break; /* the socket is full: wait for it */
	}
	/* The rest of the batch, from where the socket stopped. */
	n = c->q_count < WS_BATCH ? c->q_count : WS_BATCH;
	for (uint32_t i = 0; i < n; i++) {
		ws_msg *m = ws_queue_at(c, i);
		size_t off = i == 0 ? c->q_off : 0;

		bufs[i] = uv_buf_init((char *)m->data + off, (unsigned int)(m->len - off));
	}
	w = malloc(sizeof *w);
	if (!w) {
		ws_teardown(c, WS_CLOSE_INTERNAL);
		return;
	}
	w->conn = c;
	if (uv_write(&w->req, c->stream, bufs, n, on_ws_written) != 0) {
		free(w);
		ws_teardown(c, WS_CLOSE_ABNORMAL);
		return;
	}
	c->writing = true;
	c->q_inflight = n;
}

/* Writes what the socket takes right now if nothing is waiting before it.
 * Returns the bytes written, or HERR_IO after tearing down. */
static long ws_try(ws_conn *c, uv_buf_t *bufs, unsigned int n)
{
	int rc;

	if (c->q_count || c->writing)
		return 0;
	rc = uv_try_write(c->stream, bufs, n);
	if (rc >= 0)
		return rc;
	if (rc == UV_EAGAIN || rc == UV_ENOSYS)
		return 0; /* e.g. the 101 response is still queued in http.c */
	ws_teardown(c, WS_CLOSE_ABNORMAL);
	return HERR_IO;
}

/* ---- the per-loop flush ----------------------------------------------------------- */

static _Thread_local ws_flusher *ws_flushers; /* of the loops run by this thread */

static void ws_flush_dirty(ws_flusher *f)
{
	ws_conn *c;

	while ((c = f->dirty) != NULL) {
		f->dirty = c->next_dirty;
		c->next_dirty = NULL;
		c->dirty = false;
		if (c->rest_pending && c->state == WS_OPEN) {
			/* the client's first frames, which came with the handshake */
			c->rest_pending = false;
			ws_process(c);
		}
		if (c->state == WS_CLOSED)
			ws_maybe_free(c); /* may release f: its memory stays until its handles are closed */
		else
			ws_flush(c);
	}
	if (f->active && f->conns) {
		f->active = false;
		uv_prepare_stop(&f->prepare);
		uv_check_stop(&f->check);
	}
}

static void on_ws_prepare(uv_prepare_t *h)
{
	ws_flush_dirty(h->data);
}

static void on_ws_check(uv_check_t *h)
{
	ws_flush_dirty(h->data);
}

/* Output for c waits for the end of the loop turn, with all the frames
 * that come for it meanwhile. */
static void ws_schedule(ws_conn *c)
{
	if (c->writing)
		return; /* the write's completion flushes what follows */
	ws_mark(c);
}

/* Puts c on the loop's list for the flush at the end of the turn. */
static void ws_mark(ws_conn *c)
{
	ws_flusher *f = c->fl;

	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = f->dirty;
	f->dirty = c;
	if (!f->active) {
		f->active = true;
		uv_prepare_start(&f->prepare, on_ws_prepare);
		uv_check_start(&f->check, on_ws_check);
	}
}

static void on_ws_clock(uv_timer_t *t)
{
	ws_flusher *f = t->data;
	uint64_t now = uv_now(t->loop);
	ws_conn *c, *next;

	/* Nothing here frees a connection (only the flush and libuv's request
	 * callbacks do), so the list stays whole during the walk. */
	for (c = f->all; c; c = next) {
		next = c->all_next;
		if (c->deadline && now >= c->deadline)
			ws_deadline(c, now);
	}
}

/* The clock ticks every quarter of the shortest timeout of the loop's
 * connections (a ping or an idle close is late by at most that). */
static void ws_flusher_tick(ws_flusher *f, const ws_conn *c)
{
	uint64_t t = c->ping_ms < c->idle_ms ? c->ping_ms : c->idle_ms;

	if (c->close_ms < t)
		t = c->close_ms;
	t /= 4;
	t = t < WS_CLOCK_MIN_MS ? WS_CLOCK_MIN_MS : t > WS_CLOCK_MAX_MS ? WS_CLOCK_MAX_MS : t;
	if (f->tick_ms && t >= f->tick_ms)
		return;
	f->tick_ms = t;
	uv_timer_start(&f->clock, on_ws_clock, t, t);
}

static ws_flusher *ws_flusher_get(uv_loop_t *loop)
{
	ws_flusher *f;

	if (!loop)
		return NULL;
	for (f = ws_flushers; f; f = f->next)
		if (f->loop == loop) {
			f->conns++;
			return f;
		}
	f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->loop = loop;
	uv_prepare_init(loop, &f->prepare);
	uv_check_init(loop, &f->check);
	uv_timer_init(loop, &f->clock);
	f->prepare.data = f;
	f->check.data = f;
	f->clock.data = f;
	f->open_handles = 3;
	f->conns = 1;
	f->next = ws_flushers;
	ws_flushers = f;
	return f;
}

static void on_ws_flusher_closed(uv_handle_t *h)
{
	ws_flusher *f = h->data;

	if (--f->open_handles == 0) {
		free(f->rxbuf);
		free(f);
	}
}

/* The last connection of the loop is gone: so are the handles (a loop
 * with open handles cannot be closed). */
static void ws_flusher_release(ws_flusher *f)
{
	ws_flusher **p;

	if (!f || --f->conns > 0)
		return;
	for (p = &ws_flushers; *p; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	f->active = false;
	uv_close((uv_handle_t *)&f->prepare, on_ws_flusher_closed);
	uv_close((uv_handle_t *)&f->check, on_ws_flusher_closed);
	uv_close((uv_handle_t *)&f->clock, on_ws_flusher_closed);
}

static void ws_slow_consumer(ws_conn *c)
{
	static const char reason[] = "slow consumer";

	ws_queue_drop_waiting(c);
	ws_begin_close(c, WS_CLOSE_POLICY, reason, sizeof reason - 1, true);
}

/*
 * Queues m of which done bytes are already written. limited: the frame
 * counts against max_queue_bytes (our close frame does not). A frame begun
 * on the wire is always queued, whatever the limit: the stream must stay whole.
 */
static int ws_queue(ws_conn *c, ws_msg *m, size_t done, bool limited)
{
	if (done == 0 && limited && ws_queue_full(c, m->len)) {
		ws_slow_consumer(c);
		return HERR_IO;
	}
	if (ws_queue_push(c, m, done) != 0) {
		if (done)
			ws_teardown(c, WS_CLOSE_INTERNAL);
		return HERR_NOMEM;
	}
	ws_schedule(c);
	return c->state == WS_CLOSED ? HERR_IO : 0;
}

static int ws_out(ws_conn *c, ws_msg *m, bool limited)
{
	uv_buf_t b = uv_buf_init((char *)m->data, (unsigned int)m->len);
	long done = ws_try(c, &b, 1);

	if (done < 0)
		return (int)done;
	if ((size_t)done == m->len) {
		if (c->q_count == 0 && !c->writing)
			ws_drained(c);
		return 0;
	}
	return ws_queue(c, m, (size_t)done, limited);
}

static int ws_control(ws_conn *c, int op, const void *payload, size_t len, bool limited)
{
	ws_msg *m = ws_msg_new(op, payload, len);
	int rc;

	if (!m)
		return HERR_NOMEM;
	rc = ws_out(c, m, limited);
	ws_msg_unref(m);
	return rc;
}

int ws_send(ws_conn *c, ws_msg *m)
{
	if (!c || !m || c->state != WS_OPEN)
		return HERR_IO;
	if (ws_queue_full(c, m->len)) {
		bool empty = ws_relieve(c);

		if (c->state == WS_CLOSED)
			return HERR_IO;
		if (empty)
			return ws_out(c, m, true); /* as one frame larger than the limit always could */
	}
	return ws_queue(c, m, 0, true); /* written at the end of this loop turn */
}

int ws_send_text(ws_conn *c, const char *data, size_t len)
{
	unsigned char h[WS_MAX_FRAME_HEADER];
	size_t hlen, total;
	uv_buf_t bufs[2];
	ws_msg *m;
	long done;
	int rc;

	if (!c || c->state != WS_OPEN)
		return HERR_IO;
	if (len > UINT32_MAX - WS_MAX_FRAME_HEADER)
		return HERR_NOMEM;
	hlen = ws_header_put(h, WS_OP_TEXT, len);
	total = hlen + len;
	/* Straight from the caller's memory when the socket takes it all. */
	bufs[0] = uv_buf_init((char *)h, (unsigned int)hlen);
	bufs[1] = uv_buf_init((char *)data, (unsigned int)len);
	done = ws_try(c, bufs, len ? 2 : 1);
	if (done < 0)
		return (int)done;
	if ((size_t)done == total)
		return 0;
	if (done == 0 && ws_queue_full(c, total) && (c->q_count || c->writing) && ws_relieve(c)) {
		done = ws_try(c, bufs, len ? 2 : 1);
		if (done < 0)
			return (int)done;
		if ((size_t)done == total)
			return 0;
	}
	if (c->state == WS_CLOSED)
		return HERR_IO;
	if (done == 0 && ws_queue_full(c, total)) {
		ws_slow_consumer(c);
		return HERR_IO;
	}
	m = ws_msg_new(WS_OP_TEXT, data, len);
	if (!m) {
		if (done)
			ws_teardown(c, WS_CLOSE_INTERNAL);
		return HERR_NOMEM;
	}
	rc = ws_queue(c, m, (size_t)done, true);
	ws_msg_unref(m);
	return rc;
}

/* ---- closing ---------------------------------------------------------------------- */

/* Codes a peer may send (RFC 6455 §7.4), and we with 1012-1014 added. */
static bool ws_code_valid(int code, bool ours)
{
	if (code >= 1000 && code <= 1003)
		return true;
	if (code >= 1007 && code <= 1011)
		return true;
	if (ours && code >= 1012 && code <= 1014)
		return true;
	return code >= 3000 && code <= 4999;
}

/* Queues our close frame and moves to CLOSING; with_code false sends an
 * empty close (the echo of an empty one). */
static void ws_begin_close(ws_conn *c, int code, const char *reason, size_t reason_len, bool with_code)
{
	unsigned char payload[2 + WS_MAX_REASON];
	size_t len = 0;
	ws_msg *m;

	if (c->state != WS_OPEN)
		return;
	c->state = WS_CLOSING;
	c->close_code = code;
	if (with_code) {
		payload[0] = (unsigned char)(code >> 8);
		payload[1] = (unsigned char)code;
		if (reason_len)
			memcpy(payload + 2, reason, reason_len);
		len = 2 + reason_len;
	}
	/* The heartbeat is over: the timer now bounds the closing handshake. */
	c->deadline = uv_now(c->fl->loop) + c->close_ms;
	m = ws_msg_new(WS_OP_CLOSE, payload, len);
	if (!m) {
		ws_teardown(c, WS_CLOSE_INTERNAL);
		return;
	}
	c->close_queued = true;
	(void)ws_out(c, m, false);
	ws_msg_unref(m);
}

void ws_close(ws_conn *c, int code, const char *reason)
{
	size_t n = reason ? strlen(reason) : 0;

	if (!c || c->state != WS_OPEN)
		return;
	if (!ws_code_valid(code, true))
		code = WS_CLOSE_NORMAL;
	if (n > WS_MAX_REASON) {
		n = WS_MAX_REASON;
		/* do not cut a character in two: the reason must stay UTF-8 */
		while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
			n--;
	}
	ws_begin_close(c, code, reason, n, true);
}

/* The peer broke the protocol: tell it why, ignore what it sends next. */
static void ws_fail(ws_conn *c, int code)
{
	const char *reason = "";

	c->discard = true;
	switch (code) {
	case WS_CLOSE_PROTOCOL:
		reason = "protocol error";
		break;
	case WS_CLOSE_UNSUPPORTED:
		reason = "binary messages are not supported";
		break;
	case WS_CLOSE_BAD_DATA:
		reason = "invalid UTF-8";
		break;
	case WS_CLOSE_TOO_BIG:
		reason = "message too big";
		break;
	default:
		break;
	}
	ws_begin_close(c, code, reason, strlen(reason), true);
}

static void ws_on_close_frame(ws_conn *c, const unsigned char *p, size_t len)
{
	int code = WS_CLOSE_NO_STATUS;

	if (len == 1) {
		ws_fail(c, WS_CLOSE_PROTOCOL);
		return;
	}
	if (len >= 2) {
		code = p[0] << 8 | p[1];
		if (!ws_code_valid(code, false)) {
			ws_fail(c, WS_CLOSE_PROTOCOL);
			return;
		}
		if (ws_utf8_step(WS_UTF8_OK, p + 2, len - 2) != WS_UTF8_OK) {
			ws_fail(c, WS_CLOSE_BAD_DATA);
			return;
		}
	}
	c->peer_closed = true;
	c->discard = true; /* nothing after a close frame counts */
	if (c->state == WS_OPEN)
		ws_begin_close(c, code, NULL, 0, len >= 2); /* echo its code; we close the TCP connection first */
	else if (c->close_sent)
		ws_teardown(c, code);
}

/* ---- input ------------------------------------------------------------------------ */

static void ws_deliver(ws_conn *c, const char *data, size_t len)
{
	if (c->state == WS_OPEN && c->cb.on_text)
		c->cb.on_text(c, data, len, c->ud);
}

static int ws_msg_append(ws_conn *c, const unsigned char *p, size_t len)
{
	if (c->msg_len + len > c->msg_cap) {
		size_t cap = c->msg_cap ? c->msg_cap * 2 : 1024;
		char *n;

		while (cap < c->msg_len + len)
			cap *= 2;
		if (cap > c->max_message)
			cap = c->max_message; /* the header check keeps every message within it */
		n = realloc(c->msg, cap);
		if (!n)
			return HERR_NOMEM;
		c->msg = n;
		c->msg_cap = cap;
	}
	if (len)
		memcpy(c->msg + c->msg_len, p, len);
	c->msg_len += len;
	return 0;
}

static void ws_msg_reset(ws_conn *c)
{
	free(c->msg);
	c->msg = NULL;
	c->msg_len = c->msg_cap = 0;
	c->fragmented = false;
	c->utf8 = WS_UTF8_OK;
}

static void ws_on_data_frame(ws_conn *c, int op, bool fin, unsigned char *p, size_t len)
{
	uint32_t st = ws_utf8_step(op == WS_OP_TEXT ? WS_UTF8_OK : c->utf8, p, len);

	if (st == WS_UTF8_BAD) {
		ws_fail(c, WS_CLOSE_BAD_DATA);
		return;
	}
	if (op == WS_OP_TEXT && fin) {
		if (st != WS_UTF8_OK) {
			ws_fail(c, WS_CLOSE_BAD_DATA);
			return;
		}
		ws_deliver(c, (const char *)p, len); /* a whole message: no copy */
		return;
	}
	if (ws_msg_append(c, p, len) != 0) {
		ws_fail(c, WS_CLOSE_INTERNAL);
		return;
	}
	c->fragmented = true;
	c->utf8 = st;
	if (!fin)
		return;
	if (st != WS_UTF8_OK) {
		ws_fail(c, WS_CLOSE_BAD_DATA);
		return;
	}
	ws_deliver(c, c->msg, c->msg_len);
	ws_msg_reset(c);
}

/*
 * Checks the header at p (avail bytes). Returns 1 with *hlen and *plen when
 * the header is complete, 0 when more bytes are needed, or a negative close
 * code. Everything that can be judged from the bytes in is judged at once,
 * so an oversized frame is refused before its payload arrives.
 */
static int ws_frame_header(const ws_conn *c, const unsigned char *p, size_t avail, size_t *hlen, uint64_t *plen)
{
	unsigned op, len7;
	size_t ext;
	uint64_t len = 0;

	if (avail < 2)
		return 0;
	op = p[0] & 0x0Fu;
	len7 = p[1] & 0x7Fu;
	if (p[0] & 0x70) /* RSV1-3: no extension was negotiated */
		return -WS_CLOSE_PROTOCOL;
	if (!(p[1] & 0x80)) /* clients must mask */
		return -WS_CLOSE_PROTOCOL;
	if (op >= WS_OP_CLOSE) {
		if (op > WS_OP_PONG || !(p[0] & 0x80) || len7 > WS_MAX_CONTROL)
			return -WS_CLOSE_PROTOCOL;
	} else {
		if (op > WS_OP_BIN)
			return -WS_CLOSE_PROTOCOL;
		if ((op == WS_OP_CONT) != c->fragmented)
			return -WS_CLOSE_PROTOCOL; /* a continuation of nothing, or a new message inside one */
		if (op == WS_OP_BIN)
			return -WS_CLOSE_UNSUPPORTED;
	}
	ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
	if (avail < 2 + ext)
		return 0;
	if (ext == 0) {
		len = len7;
	} else {
		for (size_t i = 0; i < ext; i++)
			len = len << 8 | p[2 + i];
		if (len >> 63)
			return -WS_CLOSE_PROTOCOL; /* the most significant bit must be 0 */
	}
	if (op < WS_OP_CLOSE && len > c->max_message - c->msg_len)
		return -WS_CLOSE_TOO_BIG;
	*hlen = 2 + ext + 4;
	*plen = len;
	return avail >= *hlen;
}

static void ws_unmask(unsigned char *p, size_t len, const unsigned char key[4])
{
	size_t i = 0;

	if (len >= 8) {
		uint64_t k, w;
		unsigned char kk[8];

		memcpy(kk, key, 4);
		memcpy(kk + 4, key, 4);
		memcpy(&k, kk, 8);
		for (; len - i >= 8; i += 8) {
			memcpy(&w, p + i, 8);
			w ^= k;
			memcpy(p + i, &w, 8);
		}
	}
	for (; i < len; i++)
		p[i] ^= key[i & 3];
}

/* Handles every complete frame in rx, then keeps the partial rest at its start. */
static void ws_process(ws_conn *c)
{
	size_t off = 0;

	c->rx_need = 0;
	while (c->state != WS_CLOSED && !c->discard) {
		unsigned char *p = c->rx + off;
		size_t avail = c->rx_len - off, hlen = 0;
		uint64_t plen = 0;
		int rc = ws_frame_header(c, p, avail, &hlen, &plen);
		unsigned op;

		if (rc < 0) {
			ws_fail(c, -rc);
			break;
		}
		if (rc == 0)
			break;
		if (avail - hlen < plen) {
			c->rx_need = hlen + (size_t)plen;
			break;
		}
		op = p[0] & 0x0Fu;
		ws_unmask(p + hlen, (size_t)plen, p + hlen - 4);
		off += hlen + (size_t)plen;
		switch (op) {
		case WS_OP_PING:
			/* no pong after our close frame: nothing may follow it */
			if (c->state == WS_OPEN)
				(void)ws_control(c, WS_OP_PONG, p + hlen, (size_t)plen, true);
			break;
		case WS_OP_PONG:
			break; /* liveness was noted when the bytes arrived */
		case WS_OP_CLOSE:
			ws_on_close_frame(c, p + hlen, (size_t)plen);
			break;
		default:
			ws_on_data_frame(c, (int)op, (p[0] & 0x80) != 0, p + hlen, (size_t)plen);
			break;
		}
	}
	if (c->state == WS_CLOSED)
		return; /* the buffers go with the connection */
	if (c->discard) {
		c->rx_len = 0;
		c->rx_need = 0;
	} else if (off) {
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
	if (c->rx_len == 0 && !c->rx_shared) {
		/* idle connections hold no receive buffer */
		free(c->rx);
		c->rx = NULL;
		c->rx_cap = 0;
	}
}

static void on_ws_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	ws_conn *c = h->data;
	ws_flusher *f = c->fl;
	size_t room = WS_RX_MIN;

	/* Nothing buffered: read into the loop's buffer (one read at a time
	 * per loop), and keep only a partial frame, if any, afterwards. So a
	 * connection costs no receive buffer between its messages, and a
	 * burst of messages from many clients costs no allocation each. */
	if (c->rx_len == 0 && f && !f->rx_lent && (f->rxbuf || (f->rxbuf = malloc(WS_SHARED_RX)) != NULL)) {
		f->rx_lent = true;
		*buf = uv_buf_init((char *)f->rxbuf, WS_SHARED_RX);
		return;
	}
	if (c->rx_need > c->rx_len && c->rx_need - c->rx_len > room)
		room = c->rx_need - c->rx_len;
	if (c->rx_cap - c->rx_len < room) {
		size_t cap = c->rx_len + (room > WS_RX_CHUNK ? room : WS_RX_CHUNK);
		unsigned char *n = realloc(c->rx, cap);

		if (!n) {
			*buf = uv_buf_init(NULL, 0); /* the read callback gets UV_ENOBUFS */
			return;
		}
		c->rx = n;
		c->rx_cap = cap;
	}
	*buf = uv_buf_init((char *)c->rx + c->rx_len, (unsigned int)(c->rx_cap - c->rx_len));
}

/* After a read into the loop's buffer: what is left (a partial frame)
 * moves into the connection's own buffer. */
static void ws_rx_unshare(ws_conn *c)
{
	unsigned char *own = NULL;
	size_t cap = 0;

	c->rx_shared = false;
	if (c->state != WS_CLOSED && c->rx_len > 0) {
		cap = c->rx_len > WS_RX_CHUNK ? c->rx_len : WS_RX_CHUNK;
		own = malloc(cap);
		if (own)
			memcpy(own, c->rx, c->rx_len);
	}
	c->rx = own;
	c->rx_cap = cap;
	if (!own) {
		c->rx_len = 0;
		if (cap)
			ws_teardown(c, WS_CLOSE_INTERNAL);
	}
}

static void on_ws_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	ws_conn *c = st->data;
	bool shared = c->fl && c->fl->rx_lent && buf->base == (char *)c->fl->rxbuf;

	if (shared)
		c->fl->rx_lent = false;
	if (c->state == WS_CLOSED)
		return;
	if (nread < 0) {
		ws_teardown(c, WS_CLOSE_ABNORMAL); /* EOF, reset or no memory */
		return;
	}
	if (nread == 0)
		return;
	c->last_rx = uv_now(c->fl->loop);
	c->ping_sent = false;
	c->rest_pending = false;
	if (shared) {
		c->rx = c->fl->rxbuf;
		c->rx_cap = WS_SHARED_RX;
		c->rx_len = (size_t)nread;
		c->rx_shared = true;
		ws_process(c);
		ws_rx_unshare(c);
		return;
	}
	c->rx_len += (size_t)nread;
	ws_process(c);
}

/* ---- heartbeat -------------------------------------------------------------------- */

static void ws_arm(ws_conn *c)
{
	uint64_t wait = c->ping_sent || c->ping_ms >= c->idle_ms ? c->idle_ms : c->ping_ms;

	c->deadline = c->last_rx + wait;
}

/* The deadline of c passed (the loop's clock). */
static void ws_deadline(ws_conn *c, uint64_t now)
{
	uint64_t quiet;

	c->deadline = 0;
	if (c->state == WS_CLOSING) {
		ws_teardown(c, WS_CLOSE_ABNORMAL); /* the closing handshake took too long */
		return;
	}
	if (c->state != WS_OPEN)
		return;
	quiet = now - c->last_rx;
	if (quiet >= c->idle_ms) {
		static const char reason[] = "idle timeout";

		ws_begin_close(c, WS_CLOSE_GOING_AWAY, reason, sizeof reason - 1, true);
		return;
	}
	if (quiet >= c->ping_ms && !c->ping_sent) {
		c->ping_sent = true;
		(void)ws_control(c, WS_OP_PING, NULL, 0, true);
		if (c->state != WS_OPEN)
			return;
	}
	ws_arm(c);
}

/* ---- handshake -------------------------------------------------------------------- */

/* Whether a comma-separated header (every occurrence) holds token. */
static bool ws_header_has_token(const http_request *req, const char *name, const char *token, bool fold_case)
{
	size_t tlen = strlen(token);

	for (size_t i = 0; i < req->header_count; i++) {
		const char *v = req->headers[i].value;

		if (strcmp(req->headers[i].name, name) != 0 || !v)
			continue;
		while (*v) {
			size_t n;

			while (*v == ' ' || *v == '\t' || *v == ',')
				v++;
			n = strcspn(v, ",");
			while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
				n--;
			if (n == tlen && (fold_case ? strncasecmp(v, token, n) == 0 : strncmp(v, token, n) == 0))
				return true;
			v += strcspn(v, ",");
		}
	}
	return false;
}

static bool ws_b64_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
	       ch == '/';
}

/* 16 bytes in standard base64 are 22 characters and "==". */
static bool ws_key_valid(const char *key)
{
	if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
		return false;
	for (int i = 0; i < 22; i++)
		if (!ws_b64_char(key[i]))
			return false;
	return true;
}

int ws_handshake_status(const http_request *req)
{
	const char *version;

	/* http.c must agree that this is an upgrade, or it would not hand over */
	if (req->error || !http_request_wants_upgrade(req) || strcmp(req->method, "GET") != 0 ||
	    !ws_header_has_token(req, "upgrade", "websocket", true) ||
	    !ws_header_has_token(req, "connection", "upgrade", true))
		return 400;
	/* Another version gets 426 naming ours (RFC 6455 §4.4), even before its
	 * key is judged: other versions' handshakes differ in more than that. */
	version = http_request_header(req, "sec-websocket-version");
	if (!version || strcmp(version, "13") != 0)
		return 426;
	if (!ws_key_valid(http_request_header(req, "sec-websocket-key")))
		return 400;
	return 101;
}

/* base64(SHA-1(key + GUID)), 28 characters and NUL. */
static int ws_accept_value(const char *key, char out[29])
{
	unsigned char in[24 + sizeof WS_GUID - 1], md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	memcpy(in, key, 24);
	memcpy(in + 24, WS_GUID, sizeof WS_GUID - 1);
	if (EVP_Digest(in, sizeof in, md, &md_len, EVP_sha1(), NULL) != 1 || md_len != 20)
		return HERR_INTERNAL;
	return EVP_EncodeBlock((unsigned char *)out, md, 20) == 28 ? 0 : HERR_INTERNAL;
}

static const char *ws_pick_subprotocol(const http_request *req, const char *const *ours)
{
	for (; ours && *ours; ours++)
		if (ws_header_has_token(req, "sec-websocket-protocol", *ours, false))
			return *ours;
	return NULL;
}

static void ws_conn_options(ws_conn *c, const ws_options *opt)
{
	ws_options d;

	ws_options_default(&d);
	c->max_message = opt && opt->max_message ? opt->max_message : d.max_message;
	c->max_queue = opt && opt->max_queue_bytes ? opt->max_queue_bytes : d.max_queue_bytes;
	c->ping_ms = opt && opt->ping_interval_ms ? opt->ping_interval_ms : d.ping_interval_ms;
	c->idle_ms = opt && opt->idle_timeout_ms ? opt->idle_timeout_ms : d.idle_timeout_ms;
	c->close_ms = opt && opt->close_timeout_ms ? opt->close_timeout_ms : d.close_timeout_ms;
}

int ws_accept(http_request *req, const ws_options *opt, const ws_callbacks *cb, void *ud, ws_conn **out)
{
	char accept[29], head[512];
	const char *rest = NULL, *proto;
	size_t rest_len = 0;
	uv_stream_t *stream = NULL;
	ws_flusher *f;
	ws_conn *c;
	int n, rc;

	*out = NULL;
	if (ws_handshake_status(req) != 101)
		return HERR_BAD_REQUEST;
	if (ws_accept_value(http_request_header(req, "sec-websocket-key"), accept) != 0)
		return HERR_INTERNAL;
	proto = ws_pick_subprotocol(req, opt ? opt->subprotocols : NULL);
	n = snprintf(head, sizeof head,
	             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	             "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
	             accept, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "", proto ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof head)
		return HERR_BAD_REQUEST; /* a subprotocol name no client could have sent */
	f = ws_flusher_get(http_request_loop(req));
	c = f ? calloc(1, sizeof *c) : NULL;
	if (!c) {
		ws_flusher_release(f);
		return HERR_NOMEM;
	}
	rc = http_request_upgrade(req, head, (size_t)n, &stream, &rest, &rest_len);
	if (rc != 0) {
		free(c);
		ws_flusher_release(f);
		return rc;
	}
	/* From here on the connection is ours: every failure goes through
	 * ws_teardown, so on_close still comes exactly once. */
	ws_conn_options(c, opt);
	if (cb)
		c->cb = *cb;
	c->ud = ud;
	c->subprotocol = proto;
	c->stream = stream;
	c->fl = f;
	c->state = WS_OPEN;
	stream->data = c;
	c->all_next = f->all;
	if (f->all)
		f->all->all_prev = c;
	f->all = c;
	ws_flusher_tick(f, c);
	c->last_rx = uv_now(stream->loop);
	*out = c;
	if (rest_len) {
		/* The client's first frames came with the handshake. They are
		 * copied (http.c may reuse its buffer) and parsed on the next
		 * tick, or by the first read, whichever comes first: on_text must
		 * not run before the caller has *out. */
		c->rx = malloc(rest_len > WS_RX_CHUNK ? rest_len : WS_RX_CHUNK);
		if (!c->rx) {
			ws_teardown(c, WS_CLOSE_INTERNAL);
			return 0;
		}
		c->rx_cap = rest_len > WS_RX_CHUNK ? rest_len : WS_RX_CHUNK;
		memcpy(c->rx, rest, rest_len);
		c->rx_len = rest_len;
		c->rest_pending = true;
		ws_mark(c); /* parsed by the flush at the end of this turn */
	}
	ws_arm(c);
	http_upgraded_release(stream); /* rest was copied: the HTTP buffers can go */
	if (uv_read_start(stream, on_ws_alloc, on_ws_read) != 0)
		ws_teardown(c, WS_CLOSE_ABNORMAL);
	return 0;
}

/* ---- accessors -------------------------------------------------------------------- */

void ws_set_userdata(ws_conn *c, void *ud)
{
	c->ud = ud;
}

void *ws_get_userdata(const ws_conn *c)
{
	return c->ud;
}

size_t ws_queued_bytes(const ws_conn *c)
{
	return c->queued;
}

const char *ws_subprotocol(const ws_conn *c)
{
	return c->subprotocol;
}
