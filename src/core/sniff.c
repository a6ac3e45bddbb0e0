/*
 * sniff.c — see sniff.h. Only formats we can name with certainty are
 * recognised; everything else is served as application/octet-stream, so a
 * browser never renders an upload as HTML or script.
 */
#include "core/sniff.h"

#include <string.h>

#include "core/validate.h"

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned le16(const uint8_t *p)
{
	return p[0] | (unsigned)p[1] << 8;
}

static uint32_t le24(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static void image(hsniff_result *r, const char *mime, uint32_t w, uint32_t h)
{
	r->mime = mime;
	r->is_image = 1;
	/* Absurd sizes (corrupt or hostile headers) are not reported. */
	if (w > 0 && h > 0 && w <= 100000 && h <= 100000) {
		r->width = (int)w;
		r->height = (int)h;
	}
}

static void jpeg(const uint8_t *p, size_t n, hsniff_result *r)
{
	image(r, "image/jpeg", 0, 0);
	size_t i = 2;
	while (i + 9 < n) {
		if (p[i] != 0xFF) {
			i++;
			continue;
		}
		uint8_t m = p[i + 1];
		if (m == 0xFF) {
			i++;
			continue;
		}
		if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
			i += 2;
			continue;
		}
		unsigned len = be16(p + i + 2);
		/* SOF0..SOF15 carry the frame size; C4 (DHT), C8, CC are not SOFs. */
		if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
			image(r, "image/jpeg", be16(p + i + 7), be16(p + i + 5));
			return;
		}
		if (len < 2)
			return;
		i += 2 + len;
	}
}

static void webp(const uint8_t *p, size_t n, hsniff_result *r)
{
	image(r, "image/webp", 0, 0);
	if (n >= 30 && memcmp(p + 12, "VP8 ", 4) == 0)
		image(r, "image/webp", le16(p + 26) & 0x3FFF, le16(p + 28) & 0x3FFF);
	else if (n >= 25 && memcmp(p + 12, "VP8L", 4) == 0 && p[20] == 0x2F) {
		uint32_t b = p[21] | (uint32_t)p[22] << 8 | (uint32_t)p[23] << 16 | (uint32_t)p[24] << 24;
		image(r, "image/webp", (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1);
	} else if (n >= 30 && memcmp(p + 12, "VP8X", 4) == 0)
		image(r, "image/webp", le24(p + 24) + 1, le24(p + 27) + 1);
}

void hsniff(const uint8_t *p, size_t n, hsniff_result *r)
{
	memset(r, 0, sizeof *r);
	r->mime = "application/octet-stream";
	if (n >= 24 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
		image(r, "image/png", memcmp(p + 12, "IHDR", 4) == 0 ? be32(p + 16) : 0,
		      memcmp(p + 12, "IHDR", 4) == 0 ? be32(p + 20) : 0);
	} else if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) {
		jpeg(p, n, r);
	} else if (n >= 10 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) {
		image(r, "image/gif", le16(p + 6), le16(p + 8));
	} else if (n >= 16 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) {
		webp(p, n, r);
	} else if (n >= 5 && memcmp(p, "%PDF-", 5) == 0) {
		r->mime = "application/pdf";
	} else if (n > 0 && !memchr(p, 0, n) && hval_utf8((const char *)p, n, NULL) == 0) {
		r->mime = "text/plain; charset=utf-8";
	}
}
