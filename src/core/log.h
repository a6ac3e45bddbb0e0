/*
 * log.h — structured logging: one JSON object per line on standard error.
 *
 *   hlog_line l;
 *   hlog_begin(&l, HLOG_INFO, "request");
 *   hlog_str(&l, "method", "POST");
 *   hlog_int(&l, "status", 200);
 *   hlog_end(&l);
 *
 * writes {"ts":"2026-…","level":"info","event":"request","method":"POST","status":200}.
 * Lines are buffered and written by hlog_flush() (the server calls it once per
 * loop iteration) or when the buffer passes 64 KiB; warnings and errors flush
 * at once. Thread-safe.
 */
#ifndef HERALD_CORE_LOG_H
#define HERALD_CORE_LOG_H

#include <stdint.h>

#include "buf.h"

typedef enum hlog_level { HLOG_DEBUG = 0, HLOG_INFO, HLOG_WARN, HLOG_ERROR } hlog_level;

typedef struct hlog_line {
	hbuf buf;
	hlog_level level;
	int active; /* 0 when the level is filtered out: calls are no-ops */
} hlog_line;

void hlog_set_level(hlog_level level);
/* "debug", "info", "warn", "error"; returns -1 for anything else. */
int hlog_parse_level(const char *s);

void hlog_begin(hlog_line *l, hlog_level level, const char *event);
void hlog_str(hlog_line *l, const char *key, const char *value); /* NULL → null */
void hlog_int(hlog_line *l, const char *key, int64_t value);
void hlog_double(hlog_line *l, const char *key, double value);
void hlog_end(hlog_line *l);

/* Shorthand: an event with a printf-formatted "msg" field. */
void hlog_msg(hlog_level level, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void hlog_flush(void);

#endif
