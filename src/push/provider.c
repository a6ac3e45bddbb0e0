/*
 * provider.c — the part of a push provider client that FCM and APNs share
 * (see provider.h).
 */
#include "push/provider.h"

#include <stdio.h>
#include <string.h>

#include "core/codec.h"
#include "core/err.h"
#include "core/time.h"

int push_core_init(push_core *core, uv_loop_t *loop, int max_concurrent, int64_t (*clock_ms)(void *ud), void *clock_ud,
                   void (*finish)(push_deferred *d, const push_result *r), void (*free_client)(push_core *core))
{
	int rc = hclient_new(loop, max_concurrent, &core->http);
	if (rc != 0)
		return rc;
	uv_timer_init(loop, &core->defer);
	core->defer.data = core;
	core->handles = 2;
	core->clock_ms = clock_ms;
	core->clock_ud = clock_ud;
	core->finish = finish;
	core->free_client = free_client;
	return 0;
}

int64_t push_core_now(const push_core *core)
{
	return core->clock_ms ? core->clock_ms(core->clock_ud) : htime_now_ms();
}

static push_deferred *detach_ready(push_core *core)
{
	push_deferred *list = core->ready_head;
	core->ready_head = core->ready_tail = NULL;
	return list;
}

static void report_ready(push_core *core)
{
	/* only what is there now: a done callback that sends again waits a turn */
	push_deferred *list = detach_ready(core), *d;
	while ((d = list)) {
		list = d->next;
		core->finish(d, &d->res);
	}
}

static void on_defer(uv_timer_t *t)
{
	report_ready(t->data);
}

void push_core_defer(push_core *core, push_deferred *d, const push_result *r)
{
	d->res = *r;
	d->next = NULL;
	if (core->ready_tail)
		core->ready_tail->next = d;
	else
		core->ready_head = d;
	core->ready_tail = d;
	uv_timer_start(&core->defer, on_defer, 0, 0);
}

void push_core_defer_local(push_core *core, push_deferred *d, push_outcome o, const char *reason)
{
	push_result r;
	push_result_local(&r, o, reason);
	push_core_defer(core, d, &r);
}

static void handle_gone(push_core *core)
{
	void (*closed)(void *) = core->closed;
	void *ud = core->closed_ud;
	if (--core->handles > 0)
		return;
	core->free_client(core);
	if (closed)
		closed(ud);
}

static void on_http_closed(void *ud)
{
	handle_gone(ud);
}

static void on_defer_closed(uv_handle_t *h)
{
	handle_gone(h->data);
}

void push_core_close(push_core *core, void (*closed)(void *ud), void *ud)
{
	core->closing = true;
	core->closed = closed;
	core->closed_ud = ud;
	hclient_close(core->http, on_http_closed, core);
	report_ready(core);
	uv_timer_stop(&core->defer);
	uv_close((uv_handle_t *)&core->defer, on_defer_closed);
}

void push_result_local(push_result *r, push_outcome o, const char *reason)
{
	memset(r, 0, sizeof *r);
	r->outcome = o;
	snprintf(r->reason, sizeof r->reason, "%s", reason);
}

void push_result_from_rc(push_result *r, int rc)
{
	if (rc == HERR_SHUTTING_DOWN)
		push_result_local(r, PUSH_RETRY, "cancelled");
	else if (rc == HERR_NOMEM)
		push_result_local(r, PUSH_RETRY, "out of memory");
	else if (rc == HERR_INTERNAL)
		push_result_local(r, PUSH_FAILED, "cannot sign the provider token");
	else
		push_result_local(r, PUSH_FAILED, "request refused");
}

void push_set_err(char *err, size_t err_size, const char *msg)
{
	if (err && err_size)
		snprintf(err, err_size, "%s", msg);
}

bool push_visible(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (n >= max || (unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
			return false;
	return n > 0;
}

int push_pem_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int push_b64url_append(hbuf *b, const void *p, size_t n)
{
	size_t enc = hcodec_b64url_len(n);
	if (hbuf_reserve(b, enc) != 0)
		return HERR_NOMEM;
	hcodec_b64url_encode(p, n, b->data + b->len);
	b->len += enc;
	return 0;
}

void push_json_put(push_json *j, const char *raw)
{
	if (j->rc == 0)
		j->rc = hbuf_puts(j->b, raw);
}

void push_json_str(push_json *j, const char *s, size_t n)
{
	if (j->rc == 0)
		j->rc = hbuf_json_str(j->b, s, n);
}
