/*
 * log.c — structured logging: one JSON object per line on standard error.
 *
 * Each line is built in its own hbuf by the calling thread without a lock,
 * then copied under a mutex into one shared 64 KiB buffer. hlog_flush writes
 * that buffer with write(2), looping over short writes, so a busy server makes
 * one system call per loop iteration rather than one per line. Warnings and
 * errors flush at once, and the buffer is also flushed at exit, so nothing
 * important is lost when the process stops.
 *
 * A line that fails to allocate is dropped whole rather than written half
 * formed: the first failed append marks it inactive.
 */
#include "core/log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/time.h"

#define HLOG_BUF_SIZE (64 * 1024)

static _Atomic int hlog_min_level = HLOG_INFO;
static pthread_mutex_t hlog_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t hlog_once = PTHREAD_ONCE_INIT;
static char hlog_pending[HLOG_BUF_SIZE];
static size_t hlog_pending_len;

static const char *const hlog_level_names[] = {"debug", "info", "warn", "error"};

void hlog_set_level(hlog_level level)
{
	if (level < HLOG_DEBUG)
		level = HLOG_DEBUG;
	if (level > HLOG_ERROR)
		level = HLOG_ERROR;
	atomic_store(&hlog_min_level, (int)level);
}

int hlog_parse_level(const char *s)
{
	if (s == NULL)
		return -1;
	for (int i = HLOG_DEBUG; i <= HLOG_ERROR; i++)
		if (strcasecmp(s, hlog_level_names[i]) == 0)
			return i;
	return -1;
}

/* Writes all of p with write(2); gives up on errors other than EINTR. Caller holds hlog_mu. */
static void hlog_write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void hlog_flush_locked(void)
{
	hlog_write_all(hlog_pending, hlog_pending_len);
	hlog_pending_len = 0;
}

void hlog_flush(void)
{
	pthread_mutex_lock(&hlog_mu);
	hlog_flush_locked();
	pthread_mutex_unlock(&hlog_mu);
}

static void hlog_at_exit(void)
{
	hlog_flush();
}

static void hlog_register_exit(void)
{
	atexit(hlog_at_exit);
}

/* Marks the line broken after a failed append; the line will be dropped. */
static void hlog_check(hlog_line *l, int rc)
{
	if (rc < 0) {
		l->active = 0;
		hbuf_free(&l->buf);
	}
}

static void hlog_key(hlog_line *l, const char *key)
{
	hlog_check(l, hbuf_putc(&l->buf, ','));
	if (l->active)
		hlog_check(l, hbuf_json_str(&l->buf, key, strlen(key)));
	if (l->active)
		hlog_check(l, hbuf_putc(&l->buf, ':'));
}

void hlog_begin(hlog_line *l, hlog_level level, const char *event)
{
	l->buf = (hbuf)HBUF_INIT;
	l->level = level < HLOG_DEBUG ? HLOG_DEBUG : level > HLOG_ERROR ? HLOG_ERROR : level;
	l->active = (int)l->level >= atomic_load(&hlog_min_level);
	if (!l->active)
		return;
	char ts[32];
	htime_format_iso(htime_now_ms(), 0, ts);
	hlog_check(l,
	           hbuf_printf(&l->buf, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", ts, hlog_level_names[l->level]));
	if (l->active)
		hlog_check(l, hbuf_json_str(&l->buf, event ? event : "", event ? strlen(event) : 0));
}

void hlog_str(hlog_line *l, const char *key, const char *value)
{
	if (!l->active)
		return;
	hlog_key(l, key);
	if (!l->active)
		return;
	if (value == NULL)
		hlog_check(l, hbuf_puts(&l->buf, "null"));
	else
		hlog_check(l, hbuf_json_str(&l->buf, value, strlen(value)));
}

void hlog_int(hlog_line *l, const char *key, int64_t value)
{
	if (!l->active)
		return;
	hlog_key(l, key);
	if (l->active)
		hlog_check(l, hbuf_printf(&l->buf, "%lld", (long long)value));
}

void hlog_double(hlog_line *l, const char *key, double value)
{
	if (!l->active)
		return;
	hlog_key(l, key);
	if (!l->active)
		return;
	if (isfinite(value)) /* JSON has no NaN or Infinity */
		hlog_check(l, hbuf_printf(&l->buf, "%.15g", value));
	else
		hlog_check(l, hbuf_puts(&l->buf, "null"));
}

void hlog_end(hlog_line *l)
{
	if (!l->active) {
		hbuf_free(&l->buf);
		return;
	}
	hlog_check(l, hbuf_puts(&l->buf, "}\n"));
	if (!l->active)
		return;
	pthread_once(&hlog_once, hlog_register_exit);
	pthread_mutex_lock(&hlog_mu);
	if (hlog_pending_len + l->buf.len > HLOG_BUF_SIZE)
		hlog_flush_locked();
	if (l->buf.len > HLOG_BUF_SIZE) {
		hlog_write_all(l->buf.data, l->buf.len); /* a giant line goes straight out */
	} else {
		memcpy(hlog_pending + hlog_pending_len, l->buf.data, l->buf.len);
		hlog_pending_len += l->buf.len;
	}
	if (l->level >= HLOG_WARN)
		hlog_flush_locked();
	pthread_mutex_unlock(&hlog_mu);
	hbuf_free(&l->buf);
	l->active = 0;
}

void hlog_msg(hlog_level level, const char *event, const char *fmt, ...)
{
	hlog_line l;
	hlog_begin(&l, level, event);
	if (!l.active)
		return;
	hbuf msg = HBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = hbuf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		hbuf_free(&msg);
		hlog_check(&l, rc);
		return;
	}
	hlog_key(&l, "msg");
	if (l.active)
		hlog_check(&l, hbuf_json_str(&l.buf, msg.data, msg.len));
	hbuf_free(&msg);
	hlog_end(&l);
}
