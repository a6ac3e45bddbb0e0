/*
 * csv.c — see csv.h. One pass over the cell to decide on quoting, one to
 * copy it; no allocation beyond the buffer's growth.
 */
#include "core/csv.h"

#include <string.h>

#include "core/err.h"

int hcsv_cell(hbuf *b, const char *s, bool guard)
{
	if (!s)
		return 0;
	size_t n = strlen(s);
	bool formula = guard && n > 0 && strchr("=+-@\t\r", s[0]) != NULL;
	bool quote = strpbrk(s, ",\"\r\n") != NULL;
	size_t start = b->len;
	int rc = 0;
	if (quote)
		rc |= hbuf_putc(b, '"');
	if (formula)
		rc |= hbuf_putc(b, '\'');
	for (const char *p = s; rc == 0 && *p;) {
		const char *q = quote ? strchr(p, '"') : NULL;
		size_t len = q ? (size_t)(q - p) + 1 : strlen(p);
		rc |= hbuf_append(b, p, len);
		if (q)
			rc |= hbuf_putc(b, '"'); /* a quote inside is doubled */
		p += len;
	}
	if (quote)
		rc |= hbuf_putc(b, '"');
	if (rc != 0) {
		b->len = start; /* nothing half-written */
		if (b->data)
			b->data[start] = '\0';
		return HERR_NOMEM;
	}
	return 0;
}

int hcsv_sep(hbuf *b)
{
	return hbuf_putc(b, ',');
}

int hcsv_end(hbuf *b)
{
	return hbuf_append(b, "\r\n", 2);
}
