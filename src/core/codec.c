/*
 * codec.c — hex and base64url (RFC 4648 §5, unpadded) for tokens and keys.
 *
 * Table-driven and allocation-free: callers pass the output buffer. The
 * base64 decoder takes both alphabets and optional padding (tokens may come
 * from clients that use either), but insists on canonical trailing bits, so a
 * token has exactly one textual form.
 */
#include "core/codec.h"

static const char hcodec_hex_digits[] = "0123456789abcdef";
static const char hcodec_b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void hcodec_hex_encode(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hcodec_hex_digits[in[i] >> 4];
		out[2 * i + 1] = hcodec_hex_digits[in[i] & 0x0F];
	}
	out[2 * len] = '\0';
}

int hcodec_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long hcodec_hex_decode(const char *in, size_t len, uint8_t *out, size_t out_cap)
{
	if (len % 2 != 0 || len / 2 > out_cap)
		return -1;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hcodec_hex_value(in[2 * i]);
		int lo = hcodec_hex_value(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(len / 2);
}

size_t hcodec_b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

void hcodec_b64url_encode(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = hcodec_b64_alphabet[v >> 18];
		out[o++] = hcodec_b64_alphabet[(v >> 12) & 0x3F];
		out[o++] = hcodec_b64_alphabet[(v >> 6) & 0x3F];
		out[o++] = hcodec_b64_alphabet[v & 0x3F];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = hcodec_b64_alphabet[v >> 18];
		out[o++] = hcodec_b64_alphabet[(v >> 12) & 0x3F];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = hcodec_b64_alphabet[v >> 18];
		out[o++] = hcodec_b64_alphabet[(v >> 12) & 0x3F];
		out[o++] = hcodec_b64_alphabet[(v >> 6) & 0x3F];
	}
	out[o] = '\0';
}

static int hcodec_b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

long hcodec_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_cap)
{
	size_t pad = 0;
	while (len > 0 && in[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0))
		return -1;
	size_t n = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
	if (n > out_cap)
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = hcodec_b64_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* leftover bits of the last character must be zero (canonical form) */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (long)o;
}
