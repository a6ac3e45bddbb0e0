/*
 * sniff.h — what an uploaded file is, from its bytes rather than its name or
 * the client's Content-Type (which are the client's claims), and an image's
 * width and height from its header. Pure functions over a buffer.
 */
#ifndef HERALD_CORE_SNIFF_H
#define HERALD_CORE_SNIFF_H

#include <stddef.h>
#include <stdint.h>

typedef struct hsniff_result {
	const char *mime;  /* "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
			   * "text/plain; charset=utf-8" or "application/octet-stream" */
	int width, height; /* 0 unless an image whose header says */
	int is_image;
} hsniff_result;

void hsniff(const uint8_t *p, size_t n, hsniff_result *out);

#endif
