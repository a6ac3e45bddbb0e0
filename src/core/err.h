/*
 * err.h — the one error enum of herald.
 *
 * Every function that can fail returns int: 0 for success or a negative HERR_* code.
 * Each code that can reach a user has a stable machine name (sent in the
 * X-Herald-Error header and in logs), an HTTP status, and a human sentence in
 * Russian (the default of the original product), English, German and Polish.
 * Sentences may contain one "%s", filled with a detail such as a field name.
 *
 * The table lives in err.c; keep both in the same order.
 */
#ifndef HERALD_CORE_ERR_H
#define HERALD_CORE_ERR_H

#include <stddef.h>

typedef enum herr {
	HERR_OK = 0,
	/* internal / infrastructure */
	HERR_NOMEM = -1,
	HERR_INTERNAL = -2,
	HERR_STORAGE = -3,
	HERR_IO = -4,
	HERR_SCHEMA_TOO_NEW = -5,
	HERR_SHUTTING_DOWN = -6,
	/* protocol */
	HERR_BAD_REQUEST = -10,
	HERR_BAD_JSON = -11,
	HERR_BODY_TOO_LARGE = -12,
	HERR_HEADERS_TOO_LARGE = -13,
	HERR_ROUTE_NOT_FOUND = -14,
	HERR_METHOD_NOT_ALLOWED = -15,
	HERR_TIMEOUT = -16,
	/* validation (detail = field name) */
	HERR_FIELD_MISSING = -20,
	HERR_FIELD_TYPE = -21,
	HERR_FIELD_INVALID = -22,
	HERR_INN_INVALID = -23,
	HERR_PHONE_INVALID = -24,
	HERR_DEVICE_INVALID = -25,
	HERR_DATE_INVALID = -26,
	HERR_COUNT_INVALID = -27,
	HERR_TITLE_EMPTY = -28,
	HERR_TEXT_EMPTY = -29,
	HERR_TITLE_TOO_LONG = -30,
	HERR_TEXT_TOO_LONG = -31,
	HERR_NAME_INVALID = -32,
	HERR_PUSHTOKEN_INVALID = -33,
	HERR_CODE_FORMAT = -34,
	/* auth */
	HERR_UNAUTHORIZED = -40,
	HERR_FORBIDDEN = -41,
	HERR_INN_MISMATCH = -42,
	HERR_STAFF_MISMATCH = -43,
	HERR_BAD_CREDENTIALS = -44,
	/* business */
	HERR_UNKNOWN_INN = -50,
	HERR_UNKNOWN_STAFF = -51,
	HERR_STAFF_DISABLED = -52,
	HERR_TENANT_EXISTS = -53,
	HERR_CODE_INVALID = -54,
	HERR_CODE_EXPIRED = -55,
	HERR_CODE_ATTEMPTS = -56,
	HERR_RATE_LIMITED = -57,
	HERR_SMS_FAILED = -58,
	HERR_NOT_FOUND = -59,
	HERR_CONFLICT = -60,
	/* company cabinet */
	HERR_NO_RECIPIENTS = -61,
	HERR_UNKNOWN_EMPLOYEE = -62,
	HERR_EMPLOYEE_NO_MAILING = -63,
	HERR_RANGE_INVALID = -64,
	HERR_EXPORT_TOO_LARGE = -65,
} herr;

/* Languages of user-facing sentences. */
typedef enum herr_lang { HERR_LANG_RU = 0, HERR_LANG_EN, HERR_LANG_DE, HERR_LANG_PL, HERR_LANG_COUNT } herr_lang;

/* Stable machine name, e.g. "unknown_staff". Never NULL. */
const char *herr_name(int rc);

/* HTTP status that fits the error (500 for unknown codes). */
int herr_http_status(int rc);

/* Sentence template in a language (may contain one %s). Never NULL. */
const char *herr_text(int rc, herr_lang lang);

/* Formats the sentence with its detail into out (always NUL-terminated). */
void herr_format(int rc, herr_lang lang, const char *detail, char *out, size_t out_size);

/* Picks the language from an Accept-Language header value (NULL → Russian). */
herr_lang herr_lang_from_accept(const char *accept_language);

/* "ru", "en", "de" or "pl". */
const char *herr_lang_code(herr_lang lang);

#endif
