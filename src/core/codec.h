/*
 * codec.h — hex and base64url (RFC 4648 §5, no padding) encoders/decoders.
 */
#ifndef HERALD_CORE_CODEC_H
#define HERALD_CORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*len lowercase hex digits plus NUL into out. */
void hcodec_hex_encode(const uint8_t *in, size_t len, char *out);

/* Decodes hex (either case). Returns bytes written or -1 on bad input/space. */
long hcodec_hex_decode(const char *in, size_t len, uint8_t *out, size_t out_cap);
/* The value of one hex digit (either case), or -1. */
int hcodec_hex_value(int c);

/* Length of the base64url text (no padding) for n input bytes, without NUL. */
size_t hcodec_b64url_len(size_t n);

/* Writes base64url without padding plus NUL; out needs hcodec_b64url_len(len)+1. */
void hcodec_b64url_encode(const uint8_t *in, size_t len, char *out);

/* Decodes base64url (padding '=' tolerated, also accepts '+' and '/').
 * Returns bytes written or -1 on bad input or too small out. */
long hcodec_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_cap);

#endif
