/*
 * buf.h — a growable byte buffer, the building block of responses and log lines.
 * The buffer is always NUL-terminated when non-empty, so data can be used as a
 * C string. Growth doubles; an allocation failure returns HERR_NOMEM and leaves
 * the contents as they were.
 */
#ifndef HERALD_CORE_BUF_H
#define HERALD_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hbuf {
	char *data;
	size_t len;
	size_t cap;
} hbuf;

#define HBUF_INIT                                                                                                      \
	{                                                                                                              \
		NULL, 0, 0                                                                                             \
	}

int hbuf_reserve(hbuf *b, size_t extra);
int hbuf_append(hbuf *b, const void *p, size_t n);
int hbuf_puts(hbuf *b, const char *s);
int hbuf_putc(hbuf *b, char c);
int hbuf_printf(hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hbuf_vprintf(hbuf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal with quotes, escaping per RFC 8259.
 * Valid UTF-8 is copied as is (U+2028/U+2029 are escaped); bytes that are not
 * valid UTF-8 become \ufffd. On failure nothing is appended. */
int hbuf_json_str(hbuf *b, const char *s, size_t n);
void hbuf_reset(hbuf *b);
void hbuf_free(hbuf *b);
/* Gives up ownership of the data (caller frees); b becomes empty. The result
 * is always a NUL-terminated string (a fresh "" when b never held data), or
 * NULL when even that cannot be allocated. */
char *hbuf_steal(hbuf *b, size_t *len);

/* Copies src into dst[cap] cut to fit, always NUL-terminated (strlcpy);
 * returns strlen(src) so a caller can tell it was cut. */
size_t hstrlcpy(char *dst, const char *src, size_t cap);

#endif
