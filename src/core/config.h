/*
 * config.h — settings from flags, HERALD_* environment variables, a config
 * file and defaults, in that order of precedence.
 *
 * The file is INI-like: "[section]" headers, "key = value" lines, '#' or ';'
 * comments, optional double quotes around a value. A key "url" in section
 * "sms.http" is addressed as "sms.http.url"; its environment variable is
 * HERALD_SMS_HTTP_URL (upper case, '.' and '-' become '_'). Every key must
 * be registered (hconfig_define) so typos in files are reported.
 */
#ifndef HERALD_CORE_CONFIG_H
#define HERALD_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hconfig hconfig;

typedef enum hconfig_layer {
	HCONFIG_FILE = 0,
	HCONFIG_ENV = 1,
	HCONFIG_FLAG = 2,
} hconfig_layer;

hconfig *hconfig_new(void);
void hconfig_free(hconfig *c);

/* Registers a key with its default (may be NULL) and one-line help.
 * A key defined twice is HERR_CONFLICT. */
int hconfig_define(hconfig *c, const char *key, const char *default_value, const char *help);

/* Sets a value on a layer (copies both strings). Unknown key → HERR_FIELD_INVALID. */
int hconfig_set(hconfig *c, hconfig_layer layer, const char *key, const char *value);

/* Reads a file; on error fills err ("file:line: reason") and returns
 * HERR_IO (cannot open) or HERR_FIELD_INVALID (syntax or unknown key).
 * Comments take whole lines only: a '#' after a value belongs to the value
 * (URLs may hold one). Reading stops at the first error. */
int hconfig_load_file(hconfig *c, const char *path, char *err, size_t err_size);

/* Reads HERALD_* variables for every defined key from the process environment. */
void hconfig_load_env(hconfig *c);

/* Effective value (flag > env > file > default); NULL when unset. */
const char *hconfig_get(const hconfig *c, const char *key);

/* Typed getters. They return 0, or HERR_FIELD_INVALID with err filled
 * ("key: reason") when the value does not parse. Sizes accept suffixes
 * k/K, m/M, g/G (powers of 1024); durations accept ms, s, m, h (default unit: s
 * for *_seconds keys is not assumed — durations without unit are milliseconds).
 * A defined key without any value (no layer set, NULL default) leaves *out
 * untouched and returns 0; a key that was never defined is HERR_FIELD_INVALID.
 * Integers are decimal with an optional sign; sizes may also end in "b"
 * ("16kb", "1MB"); all suffixes are case-insensitive. */
int hconfig_get_int(const hconfig *c, const char *key, int64_t *out, char *err, size_t err_size);
int hconfig_get_bool(const hconfig *c, const char *key, bool *out, char *err, size_t err_size);
int hconfig_get_size(const hconfig *c, const char *key, uint64_t *out, char *err, size_t err_size);
int hconfig_get_duration_ms(const hconfig *c, const char *key, int64_t *out, char *err, size_t err_size);

/* Calls fn for every defined key in definition order (for `herald config` and docs). */
void hconfig_each(const hconfig *c,
                  void (*fn)(void *ud, const char *key, const char *value, const char *def, const char *help),
                  void *ud);

#endif
