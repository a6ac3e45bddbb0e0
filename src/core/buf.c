/*
 * buf.c — the growable byte buffer behind responses and log lines.
 *
 * One contiguous allocation that doubles when it grows and always keeps a
 * spare byte for the terminating NUL, so data is a C string after every
 * successful call. Every operation first reserves, then writes: an allocation
 * failure returns HERR_NOMEM and leaves the contents untouched.
 *
 * hbuf_json_str writes RFC 8259 string literals. Valid UTF-8 passes through
 * unchanged (except U+2028/U+2029, escaped so the output is also safe inside
 * JavaScript); bytes that are not valid UTF-8 become U+FFFD so the output is
 * always valid JSON, whatever the input.
 */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/validate.h"

#define HBUF_MIN_CAP 64

int hbuf_reserve(hbuf *b, size_t extra)
{
	if (extra > SIZE_MAX - 1 - b->len)
		return HERR_NOMEM;
	size_t need = b->len + extra + 1; /* + NUL */
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : HBUF_MIN_CAP;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (p == NULL)
		return HERR_NOMEM;
	if (b->data == NULL)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return 0;
}

int hbuf_append(hbuf *b, const void *p, size_t n)
{
	int rc = hbuf_reserve(b, n);
	if (rc < 0)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int hbuf_puts(hbuf *b, const char *s)
{
	return hbuf_append(b, s, strlen(s));
}

int hbuf_putc(hbuf *b, char c)
{
	return hbuf_append(b, &c, 1);
}

int hbuf_vprintf(hbuf *b, const char *fmt, va_list ap)
{
	int rc = hbuf_reserve(b, 64);
	if (rc < 0)
		return rc;
	va_list ap2;
	va_copy(ap2, ap);
	size_t room = b->cap - b->len;
	int n = vsnprintf(b->data + b->len, room, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		b->data[b->len] = '\0';
		return HERR_INTERNAL;
	}
	if ((size_t)n >= room) {
		b->data[b->len] = '\0'; /* drop the truncated attempt until the retry succeeds */
		rc = hbuf_reserve(b, (size_t)n);
		if (rc < 0)
			return rc;
		va_copy(ap2, ap);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
		va_end(ap2);
	}
	b->len += (size_t)n;
	return 0;
}

int hbuf_printf(hbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = hbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

/* True for bytes that go into a JSON string unchanged without a closer look. */
static int hbuf_json_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

int hbuf_json_str(hbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start_len = b->len;
	int rc = hbuf_putc(b, '"');
	size_t i = 0;
	while (rc == 0 && i < n) {
		size_t run = i;
		while (run < n && hbuf_json_plain((unsigned char)s[run]))
			run++;
		if (run > i) {
			rc = hbuf_append(b, s + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {
			char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
			size_t len = 2;
			switch (c) {
			case '"':
				esc[1] = '"';
				break;
			case '\\':
				esc[1] = '\\';
				break;
			case '\n':
				esc[1] = 'n';
				break;
			case '\r':
				esc[1] = 'r';
				break;
			case '\t':
				esc[1] = 't';
				break;
			case '\b':
				esc[1] = 'b';
				break;
			case '\f':
				esc[1] = 'f';
				break;
			default:
				memcpy(esc + 1, "u00", 3);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 0x0F];
				len = 6;
				break;
			}
			rc = hbuf_append(b, esc, len);
			i++;
			continue;
		}
		uint32_t cp;
		size_t k = hval_utf8_char(s + i, n - i, &cp);
		if (k == 0) {
			rc = hbuf_puts(b, "\\ufffd");
			i++;
		} else if (cp == 0x2028 || cp == 0x2029) {
			rc = hbuf_puts(b, cp == 0x2028 ? "\\u2028" : "\\u2029");
			i += k;
		} else {
			rc = hbuf_append(b, s + i, k);
			i += k;
		}
	}
	if (rc == 0)
		rc = hbuf_putc(b, '"');
	if (rc < 0 && b->data != NULL) {
		b->len = start_len; /* all or nothing */
		b->data[b->len] = '\0';
	}
	return rc;
}

void hbuf_reset(hbuf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void hbuf_free(hbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

char *hbuf_steal(hbuf *b, size_t *len)
{
	if (b->data == NULL && hbuf_reserve(b, 0) < 0) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	char *p = b->data;
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

size_t hstrlcpy(char *dst, const char *src, size_t cap)
{
	size_t len = strlen(src);
	if (cap) {
		size_t n = len < cap - 1 ? len : cap - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}
