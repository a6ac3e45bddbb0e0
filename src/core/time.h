/*
 * time.h — clocks and ISO 8601 dates.
 *
 * herald stores instants as int64 milliseconds since the Unix epoch (UTC) and
 * shows them as ISO 8601 with milliseconds and an offset, the form the
 * compatibility API promises: "2014-09-21T23:00:00.000+03:00".
 */
#ifndef HERALD_CORE_TIME_H
#define HERALD_CORE_TIME_H

#include <stdint.h>

/* Offset value meaning "the server's local time zone at that instant". */
#define HTIME_LOCAL INT32_MIN

/* Wall clock, milliseconds since the epoch. */
int64_t htime_now_ms(void);

/* Monotonic clock in nanoseconds (for durations only). */
uint64_t htime_mono_ns(void);

/*
 * Formats ms as "YYYY-MM-DDTHH:MM:SS.mmm+HH:MM" at offset_min minutes east of
 * UTC (or HTIME_LOCAL). UTC is written "+00:00", never "Z". out needs 30 bytes;
 * returns the length written (always 29). Declare out as char[32]: GCC checks
 * the array size of the parameter. Instants outside years 0001–9999 and
 * offsets beyond ±23:59 are clamped (the offset to UTC), never garbage.
 */
int htime_format_iso(int64_t ms, int offset_min, char out[32]);

/*
 * Parses ISO 8601: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM", "…:SS", "…:SS.f" (1–9
 * fraction digits, kept to ms), a space instead of 'T', and a zone of "Z",
 * "±HH:MM", "±HHMM" or "±HH". A value without zone is taken at
 * default_offset_min (or HTIME_LOCAL). Returns 0, or HERR_DATE_INVALID for
 * anything else (including impossible dates such as 2023-02-30).
 */
int htime_parse_iso(const char *s, int default_offset_min, int64_t *out_ms);

/*
 * Parses a configured offset: "local" → HTIME_LOCAL, "Z"/"UTC" → 0,
 * "+03:00"/"-0530" → minutes. Returns 0 or HERR_FIELD_INVALID.
 */
int htime_parse_offset(const char *s, int *out_min);

#endif
