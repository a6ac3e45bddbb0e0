/*
 * validate.h — validation and normalisation of the values users send:
 * INN (Russian taxpayer number), phone numbers (to E.164), UTF-8 text.
 * Pure functions, no allocation.
 */
#ifndef HERALD_CORE_VALIDATE_H
#define HERALD_CORE_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

/* 0 if s is exactly 10 or 12 ASCII digits, else HERR_INN_INVALID. No checksum
 * test: the compatibility spec's own examples do not carry valid check digits. */
int hval_inn(const char *s);

/*
 * Normalises a phone number to E.164 ("+" and 8–15 digits, first digit not 0).
 * Accepts spaces, '-', '.', '(' and ')' as separators; a leading "+" or "00"
 * for the international prefix; and, when default_cc is 7, the Russian trunk
 * form "8XXXXXXXXXX" (11 digits starting with 8 → +7XXXXXXXXXX) and a bare
 * mobile number "9XXXXXXXXX" (10 digits starting with 9 → +79XXXXXXXXX). A number of
 * 11–15 digits without prefix is taken as international. out needs 17 bytes.
 * Returns 0 or HERR_PHONE_INVALID.
 */
int hval_phone_e164(const char *in, int default_cc, char out[17]);

/* Decodes one UTF-8 character from s[0..len): returns its length (1–4) and
 * stores the code point, or returns 0 when the bytes do not start a complete,
 * shortest-form character (overlongs, surrogates, values above U+10FFFF and
 * truncated sequences are all 0). U+0000 decodes as a character of length 1;
 * len 0 returns 0. The building block of hval_utf8 and hbuf_json_str. */
size_t hval_utf8_char(const char *s, size_t len, uint32_t *out_cp);

/* Checks that s[0..len) is valid UTF-8 (no overlongs, no surrogates, no NUL)
 * and stores the number of code points. Returns 0 or HERR_FIELD_INVALID. */
int hval_utf8(const char *s, size_t len, size_t *out_codepoints);

/* Largest prefix length ≤ max_bytes of valid UTF-8 s that ends on a character
 * boundary (for cutting payloads without breaking a character). */
size_t hval_utf8_prefix(const char *s, size_t len, size_t max_bytes);

/* Lower-cases UTF-8 for case-insensitive search in the alphabets herald's
 * users write (Latin with its accented letters, Polish and German included,
 * Cyrillic, Greek); other characters are copied. Invalid bytes are copied
 * as they are. Writes at most cap-1 bytes and a NUL; returns the length. */
size_t hval_casefold(const char *s, char *out, size_t cap);

/* 0 if s is 1..max_len ASCII digits, else HERR_FIELD_INVALID. */
int hval_digits(const char *s, size_t max_len);

#endif
