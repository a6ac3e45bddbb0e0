/*
 * validate.c — checks and normalisation of user-sent values: INN, phone
 * numbers (to E.164) and UTF-8 text.
 *
 * Everything is a pure function over the caller's bytes with no allocation,
 * so handlers can validate before they touch storage. UTF-8 is decoded by one
 * strict routine (hval_utf8_char) that the JSON writer in buf.c shares, so
 * "valid" means the same thing when text comes in and when it goes out.
 */
#include "core/validate.h"

#include <stdbool.h>
#include <string.h>

#include "core/err.h"

int hval_inn(const char *s)
{
	if (s == NULL)
		return HERR_INN_INVALID;
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9')
			return HERR_INN_INVALID;
		if (n > 12)
			return HERR_INN_INVALID;
	}
	return (n == 10 || n == 12) ? 0 : HERR_INN_INVALID;
}

static bool hval_phone_sep(char c)
{
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

int hval_phone_e164(const char *in, int default_cc, char out[17])
{
	if (in == NULL || out == NULL)
		return HERR_PHONE_INVALID;
	char d[20]; /* digits collected; more than 17 can never make a valid number */
	size_t n = 0;
	bool plus = false;
	const char *p = in;
	while (*p == ' ')
		p++;
	if (*p == '+') {
		plus = true;
		p++;
	}
	for (; *p != '\0'; p++) {
		if (*p >= '0' && *p <= '9') {
			if (n == sizeof d)
				return HERR_PHONE_INVALID;
			d[n++] = *p;
		} else if (!hval_phone_sep(*p)) {
			return HERR_PHONE_INVALID;
		}
	}

	const char *num = d;
	size_t len = n;
	char trunk[11];
	if (!plus) {
		if (n >= 2 && d[0] == '0' && d[1] == '0') {
			num = d + 2; /* 00 international prefix */
			len = n - 2;
		} else if (default_cc == 7 && n == 11 && d[0] == '8') {
			trunk[0] = '7'; /* Russian trunk prefix 8 → country code 7 */
			memcpy(trunk + 1, d + 1, 10);
			num = trunk;
		} else if (default_cc == 7 && n == 10 && d[0] == '9') {
			trunk[0] = '7'; /* a Russian mobile number written without any prefix */
			memcpy(trunk + 1, d, 10);
			num = trunk;
			len = 11;
		} else if (n < 11) {
			return HERR_PHONE_INVALID;
		}
	}
	if (len < 8 || len > 15 || num[0] == '0')
		return HERR_PHONE_INVALID;
	out[0] = '+';
	memcpy(out + 1, num, len);
	out[len + 1] = '\0';
	return 0;
}

size_t hval_utf8_char(const char *s, size_t len, uint32_t *out_cp)
{
	if (s == NULL || len == 0)
		return 0;
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;
	size_t need;
	uint32_t min;
	if (u[0] < 0x80) {
		if (out_cp)
			*out_cp = u[0];
		return 1;
	} else if (u[0] >= 0xC2 && u[0] <= 0xDF) {
		cp = u[0] & 0x1F;
		need = 2;
		min = 0x80;
	} else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
		cp = u[0] & 0x0F;
		need = 3;
		min = 0x800;
	} else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
		cp = u[0] & 0x07;
		need = 4;
		min = 0x10000;
	} else {
		return 0; /* continuation byte, C0/C1 overlong lead or F5..FF */
	}
	if (len < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((u[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (u[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	if (out_cp)
		*out_cp = cp;
	return need;
}

int hval_utf8(const char *s, size_t len, size_t *out_codepoints)
{
	size_t count = 0;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t k = hval_utf8_char(s + i, len - i, &cp);
		if (k == 0 || cp == 0)
			return HERR_FIELD_INVALID;
		i += k;
		count++;
	}
	if (out_codepoints)
		*out_codepoints = count;
	return 0;
}

size_t hval_utf8_prefix(const char *s, size_t len, size_t max_bytes)
{
	if (len <= max_bytes)
		return len;
	size_t n = max_bytes;
	/* s[n] is the first byte left out; if it continues a character, that character goes too */
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

int hval_digits(const char *s, size_t max_len)
{
	if (s == NULL || s[0] == '\0')
		return HERR_FIELD_INVALID;
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= max_len)
			return HERR_FIELD_INVALID;
	}
	return 0;
}

/* The lower-case partner of an upper-case letter, or cp itself. */
static uint32_t fold_cp(uint32_t cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) /* À…Þ except × */
		return cp + 32;
	if (cp >= 0x100 && cp <= 0x17F) {
		/* Latin Extended-A pairs capital/small letters; the pairs start
		 * on even code points except in 0x139–0x148 and 0x179–0x17E. */
		bool odd_pairs = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
		if (cp == 0x130 || cp == 0x138 || cp == 0x149 || cp == 0x17F)
			return cp; /* İ, ĸ, ŉ, ſ: no simple partner */
		if (cp == 0x178)
			return 0xFF; /* Ÿ */
		return (cp % 2 == 1) == odd_pairs ? cp + 1 : cp;
	}
	if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) /* Greek capitals */
		return cp + 32;
	if (cp >= 0x400 && cp <= 0x40F) /* Ѐ…Џ (Ё among them) */
		return cp + 80;
	if (cp >= 0x410 && cp <= 0x42F) /* А…Я */
		return cp + 32;
	return cp;
}

static size_t put_utf8(uint32_t cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

size_t hval_casefold(const char *s, char *out, size_t cap)
{
	size_t len = strlen(s), i = 0, n = 0;
	if (cap == 0)
		return 0;
	while (i < len) {
		uint32_t cp;
		size_t k = hval_utf8_char(s + i, len - i, &cp);
		char enc[4];
		size_t m;
		if (k == 0) {
			enc[0] = s[i];
			m = k = 1;
		} else {
			m = put_utf8(fold_cp(cp), enc);
		}
		if (n + m > cap - 1)
			break;
		memcpy(out + n, enc, m);
		n += m;
		i += k;
	}
	out[n] = '\0';
	return n;
}
