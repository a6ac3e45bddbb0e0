/*
 * config.c — settings from flags, HERALD_* environment variables, an INI-like
 * file and defaults.
 *
 * A singly linked list of defined keys in definition order; each key keeps
 * one owned string per layer and the effective value is the highest layer
 * that is set. A few dozen keys make a list scan cheaper to read than a hash
 * table, and definition order is what `herald config` prints. Values stay
 * strings until a typed getter parses them, so a bad value is reported with
 * its key at the point of use.
 */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

#define HCONFIG_LAYERS 3

typedef struct hconfig_key {
	char *key, *def, *help;
	char *val[HCONFIG_LAYERS]; /* indexed by hconfig_layer */
	struct hconfig_key *next;
} hconfig_key;

struct hconfig {
	hconfig_key *head, *tail;
};

static hconfig_key *hconfig_find(const hconfig *c, const char *key)
{
	for (hconfig_key *k = c->head; k != NULL; k = k->next)
		if (strcmp(k->key, key) == 0)
			return k;
	return NULL;
}

hconfig *hconfig_new(void)
{
	return calloc(1, sizeof(hconfig));
}

void hconfig_free(hconfig *c)
{
	if (c == NULL)
		return;
	for (hconfig_key *k = c->head, *next; k != NULL; k = next) {
		next = k->next;
		free(k->key);
		free(k->def);
		free(k->help);
		for (int l = 0; l < HCONFIG_LAYERS; l++)
			free(k->val[l]);
		free(k);
	}
	free(c);
}

int hconfig_define(hconfig *c, const char *key, const char *default_value, const char *help)
{
	if (key == NULL || key[0] == '\0')
		return HERR_FIELD_INVALID;
	if (hconfig_find(c, key) != NULL)
		return HERR_CONFLICT;
	hconfig_key *k = calloc(1, sizeof *k);
	if (k == NULL)
		return HERR_NOMEM;
	k->key = strdup(key);
	k->def = default_value ? strdup(default_value) : NULL;
	k->help = strdup(help ? help : "");
	if (k->key == NULL || (default_value && k->def == NULL) || k->help == NULL) {
		free(k->key);
		free(k->def);
		free(k->help);
		free(k);
		return HERR_NOMEM;
	}
	*(c->tail ? &c->tail->next : &c->head) = k;
	c->tail = k;
	return 0;
}

int hconfig_set(hconfig *c, hconfig_layer layer, const char *key, const char *value)
{
	if ((int)layer < 0 || layer >= HCONFIG_LAYERS || key == NULL)
		return HERR_FIELD_INVALID;
	hconfig_key *k = hconfig_find(c, key);
	if (k == NULL)
		return HERR_FIELD_INVALID;
	char *v = value ? strdup(value) : NULL;
	if (value != NULL && v == NULL)
		return HERR_NOMEM;
	free(k->val[layer]);
	k->val[layer] = v;
	return 0;
}

/* Trims spaces at both ends in place. */
static char *hconfig_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Where a file is being read, for error messages. */
typedef struct hconfig_pos {
	const char *path;
	int lineno;
	char *err;
	size_t err_size;
} hconfig_pos;

static int hconfig_fail(const hconfig_pos *at, const char *why, const char *key)
{
	snprintf(at->err, at->err_size, "%s:%d: %s%s%s%s", at->path, at->lineno, why, key ? " '" : "", key ? key : "",
	         key ? "'" : "");
	return HERR_FIELD_INVALID;
}

/* Parses one line of a file: a comment, a "[section]" or a "key = value". */
static int hconfig_line(hconfig *c, char *line, char section[128], const hconfig_pos *at)
{
	char *s = hconfig_trim(line), *eq = strchr(s, '='), full[256];
	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		size_t n = strlen(s);
		if (s[n - 1] != ']')
			return hconfig_fail(at, "missing ']' after the section name", NULL);
		s[n - 1] = '\0';
		char *name = hconfig_trim(s + 1);
		if (*name == '\0' || strlen(name) >= 128)
			return hconfig_fail(at, "bad section name", NULL);
		strcpy(section, name);
		return 0;
	}
	if (eq == NULL)
		return hconfig_fail(at, "expected 'key = value'", NULL);
	*eq = '\0';
	char *key = hconfig_trim(s), *value = hconfig_trim(eq + 1);
	size_t vn = strlen(value);
	if (*key == '\0')
		return hconfig_fail(at, "empty key", NULL);
	if (vn > 0 && value[0] == '"') {
		if (vn < 2 || value[vn - 1] != '"')
			return hconfig_fail(at, "unterminated quoted value", NULL);
		value[vn - 1] = '\0';
		value++;
	}
	int n = snprintf(full, sizeof full, "%s%s%s", section, section[0] ? "." : "", key);
	if (n < 0 || (size_t)n >= sizeof full || hconfig_find(c, full) == NULL)
		return hconfig_fail(at, "unknown key", (n >= 0 && (size_t)n < sizeof full) ? full : key);
	int rc = hconfig_set(c, HCONFIG_FILE, full, value);
	if (rc < 0)
		snprintf(at->err, at->err_size, "%s:%d: %s", at->path, at->lineno, herr_name(rc));
	return rc;
}

int hconfig_load_file(hconfig *c, const char *path, char *err, size_t err_size)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
		return HERR_IO;
	}
	hconfig_pos at = {path, 0, err, err_size};
	char section[128] = "", *line = NULL;
	size_t cap = 0;
	int rc = 0;
	while (rc == 0 && getline(&line, &cap, f) >= 0) {
		at.lineno++;
		if (at.lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
			memmove(line, line + 3, strlen(line + 3) + 1); /* UTF-8 byte order mark */
		rc = hconfig_line(c, line, section, &at);
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, err_size, "%s: read error", path);
		rc = HERR_IO;
	}
	free(line);
	fclose(f);
	return rc;
}

void hconfig_load_env(hconfig *c)
{
	for (hconfig_key *k = c->head; k != NULL; k = k->next) {
		char name[300] = "HERALD_";
		size_t n = strlen(name);
		for (const char *p = k->key; *p != '\0' && n < sizeof name - 1; p++)
			name[n++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
		name[n] = '\0';
		const char *v = getenv(name);
		if (v != NULL)
			hconfig_set(c, HCONFIG_ENV, k->key, v);
	}
}

const char *hconfig_get(const hconfig *c, const char *key)
{
	const hconfig_key *k = hconfig_find(c, key);
	if (k == NULL)
		return NULL;
	for (int l = HCONFIG_LAYERS - 1; l >= 0; l--)
		if (k->val[l] != NULL)
			return k->val[l];
	return k->def;
}

/* Looks the value up for a typed getter: 1 = parse v, 0 = unset (keep *out), <0 = error. */
static int hconfig_typed(const hconfig *c, const char *key, const char **v, char *err, size_t err_size)
{
	if (hconfig_find(c, key) == NULL) {
		snprintf(err, err_size, "%s: not a defined setting", key);
		return HERR_FIELD_INVALID;
	}
	*v = hconfig_get(c, key);
	return *v != NULL;
}

typedef struct hconfig_unit {
	const char *suffix;
	uint64_t mul;
} hconfig_unit;

static const hconfig_unit hconfig_sizes[] = {{"", 1},         {"k", 1 << 10}, {"kb", 1 << 10}, {"m", 1 << 20},
                                             {"mb", 1 << 20}, {"g", 1 << 30}, {"gb", 1 << 30}, {NULL, 0}};
static const hconfig_unit hconfig_durations[] = {{"", 1},          {"ms", 1},          {"s", 1000},
                                                 {"m", 60 * 1000}, {"h", 3600 * 1000}, {NULL, 0}};

/* Parses "<digits><suffix>" (suffix case-insensitive) into *out, at most limit. 1 = parsed, 0 = unset. */
static int hconfig_units(const hconfig *c, const char *key, const hconfig_unit *units, uint64_t limit, const char *what,
                         uint64_t *out, char *err, size_t err_size)
{
	const char *v, *p;
	uint64_t n = 0;
	int rc = hconfig_typed(c, key, &v, err, err_size);
	if (rc <= 0)
		return rc;
	for (p = v; *p >= '0' && *p <= '9' && n <= (UINT64_MAX - 9) / 10; p++)
		n = n * 10 + (uint64_t)(*p - '0');
	for (; p != v && units->suffix != NULL; units++) {
		if (strcasecmp(p, units->suffix) == 0 && n <= limit / units->mul) {
			*out = n * units->mul;
			return 1;
		}
	}
	snprintf(err, err_size, "%s: '%s' is not %s", key, v, what);
	return HERR_FIELD_INVALID;
}

int hconfig_get_int(const hconfig *c, const char *key, int64_t *out, char *err, size_t err_size)
{
	const char *v;
	char *end;
	int rc = hconfig_typed(c, key, &v, err, err_size);
	if (rc <= 0)
		return rc;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || isspace((unsigned char)v[0])) {
		snprintf(err, err_size, "%s: '%s' is not an integer", key, v);
		return HERR_FIELD_INVALID;
	}
	*out = n;
	return 0;
}

int hconfig_get_bool(const hconfig *c, const char *key, bool *out, char *err, size_t err_size)
{
	static const char *const words[] = {"false", "true", "no", "yes", "off", "on", "0", "1"};
	const char *v;
	int rc = hconfig_typed(c, key, &v, err, err_size);
	if (rc <= 0)
		return rc;
	for (int i = 0; i < 8; i++) {
		if (strcasecmp(v, words[i]) == 0) {
			*out = (i % 2) == 1;
			return 0;
		}
	}
	snprintf(err, err_size, "%s: '%s' is not a boolean (true/false, yes/no, on/off, 1/0)", key, v);
	return HERR_FIELD_INVALID;
}

int hconfig_get_size(const hconfig *c, const char *key, uint64_t *out, char *err, size_t err_size)
{
	int rc = hconfig_units(c, key, hconfig_sizes, UINT64_MAX, "a size (bytes, or a number with k, M or G)", out,
	                       err, err_size);
	return rc < 0 ? rc : 0;
}

int hconfig_get_duration_ms(const hconfig *c, const char *key, int64_t *out, char *err, size_t err_size)
{
	uint64_t ms;
	int rc = hconfig_units(c, key, hconfig_durations, INT64_MAX, "a duration (e.g. 250ms, 10s, 5m, 1h)", &ms, err,
	                       err_size);
	if (rc > 0)
		*out = (int64_t)ms;
	return rc < 0 ? rc : 0;
}

void hconfig_each(const hconfig *c,
                  void (*fn)(void *ud, const char *key, const char *value, const char *def, const char *help), void *ud)
{
	for (const hconfig_key *k = c->head; k != NULL; k = k->next)
		fn(ud, k->key, hconfig_get(c, k->key), k->def, k->help);
}
