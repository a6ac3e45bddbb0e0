/*
 * time.c — clocks and ISO 8601 formatting/parsing.
 *
 * Civil time is converted with timegm/gmtime_r (UTC, no time zone state) and
 * the offset of the server's zone at an instant is read from localtime_r's
 * tm_gmtoff, so nothing here keeps global state or touches TZ. The parser is
 * a small hand-written scanner: the accepted forms are few and fixed, and a
 * scanner rejects what sscanf would silently accept (signs, spaces, short
 * fields).
 */
#include "core/time.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/err.h"

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z in ms. */
#define HTIME_MIN_MS (-62135596800000LL)
#define HTIME_MAX_MS (253402300799999LL)
/* Largest offset accepted anywhere: ±23:59. */
#define HTIME_MAX_OFFSET (23 * 60 + 59)

int64_t htime_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t htime_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Floor division for possibly negative ms. */
static int64_t htime_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Offset in minutes of the server's zone at the instant sec (UTC seconds). */
static int htime_local_offset(int64_t sec)
{
	time_t t = (time_t)sec;
	struct tm tm;
	if (localtime_r(&t, &tm) == NULL)
		return 0;
	return (int)(tm.tm_gmtoff / 60);
}

int htime_format_iso(int64_t ms, int offset_min, char out[32])
{
	if (ms < HTIME_MIN_MS)
		ms = HTIME_MIN_MS;
	if (ms > HTIME_MAX_MS)
		ms = HTIME_MAX_MS;
	if (offset_min == HTIME_LOCAL)
		offset_min = htime_local_offset(htime_floor_div(ms, 1000));
	if (offset_min > HTIME_MAX_OFFSET || offset_min < -HTIME_MAX_OFFSET)
		offset_min = 0;

	/* The wall clock at the offset, kept inside years 0001–9999 so it always fits. */
	int64_t local_ms = ms + (int64_t)offset_min * 60000;
	if (local_ms < HTIME_MIN_MS)
		local_ms = HTIME_MIN_MS;
	if (local_ms > HTIME_MAX_MS)
		local_ms = HTIME_MAX_MS;
	int64_t sec = htime_floor_div(local_ms, 1000);
	int milli = (int)(local_ms - sec * 1000);
	time_t t = (time_t)sec;
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof tm);
	int abs_off = offset_min < 0 ? -offset_min : offset_min;
	return snprintf(out, 30, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%c%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
	                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli, offset_min < 0 ? '-' : '+', abs_off / 60,
	                abs_off % 60);
}

/* Reads exactly n digits at *p into *out and advances *p. */
static bool htime_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool htime_is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int htime_days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return (m == 2 && htime_is_leap(y)) ? 29 : days[m - 1];
}

/*
 * Parses "Z", "±HH:MM", "±HHMM" or "±HH" at *p. Returns false on bad syntax
 * or an out-of-range value; advances *p past what it read.
 */
static bool htime_zone(const char **p, int *out_min)
{
	const char *s = *p;
	if (*s == 'Z' || *s == 'z') {
		*p = s + 1;
		*out_min = 0;
		return true;
	}
	if (*s != '+' && *s != '-')
		return false;
	int sign = *s == '-' ? -1 : 1;
	s++;
	int hh, mm = 0;
	if (!htime_digits(&s, 2, &hh))
		return false;
	if (*s == ':') {
		s++;
		if (!htime_digits(&s, 2, &mm))
			return false;
	} else if (*s >= '0' && *s <= '9') {
		if (!htime_digits(&s, 2, &mm))
			return false;
	}
	if (hh > 23 || mm > 59)
		return false;
	*p = s;
	*out_min = sign * (hh * 60 + mm);
	return true;
}

int htime_parse_iso(const char *s, int default_offset_min, int64_t *out_ms)
{
	if (s == NULL || out_ms == NULL)
		return HERR_DATE_INVALID;
	const char *p = s;
	int year, mon, day, hour = 0, min = 0, sec = 0, milli = 0;
	if (!htime_digits(&p, 4, &year) || *p++ != '-' || !htime_digits(&p, 2, &mon) || *p++ != '-' ||
	    !htime_digits(&p, 2, &day))
		return HERR_DATE_INVALID;
	if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > htime_days_in_month(year, mon))
		return HERR_DATE_INVALID;

	int offset = default_offset_min;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!htime_digits(&p, 2, &hour) || *p++ != ':' || !htime_digits(&p, 2, &min))
			return HERR_DATE_INVALID;
		if (*p == ':') {
			p++;
			if (!htime_digits(&p, 2, &sec))
				return HERR_DATE_INVALID;
			if (*p == '.') {
				p++;
				int ndigits = 0;
				for (; *p >= '0' && *p <= '9'; p++, ndigits++) {
					if (ndigits < 3)
						milli = milli * 10 + (*p - '0');
				}
				if (ndigits < 1 || ndigits > 9)
					return HERR_DATE_INVALID;
				for (int i = ndigits; i < 3; i++)
					milli *= 10;
			}
		}
		if (hour > 23 || min > 59 || sec > 60)
			return HERR_DATE_INVALID;
		if (sec == 60) /* a leap second is shown as the last second of its minute */
			sec = 59;
		if (*p != '\0' && !htime_zone(&p, &offset))
			return HERR_DATE_INVALID;
	}
	if (*p != '\0')
		return HERR_DATE_INVALID;

	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	int64_t wall = (int64_t)timegm(&tm); /* the wall clock read as if it were UTC */

	if (offset == HTIME_LOCAL) {
		/* Find the offset in force at the instant; two rounds settle DST edges. */
		int off = htime_local_offset(wall);
		off = htime_local_offset(wall - (int64_t)off * 60);
		offset = off;
	} else if (offset > HTIME_MAX_OFFSET || offset < -HTIME_MAX_OFFSET) {
		return HERR_DATE_INVALID;
	}
	*out_ms = (wall - (int64_t)offset * 60) * 1000 + milli;
	return 0;
}

int htime_parse_offset(const char *s, int *out_min)
{
	if (s == NULL || out_min == NULL)
		return HERR_FIELD_INVALID;
	if (strcasecmp(s, "local") == 0) {
		*out_min = HTIME_LOCAL;
		return 0;
	}
	if (strcasecmp(s, "utc") == 0) {
		*out_min = 0;
		return 0;
	}
	const char *p = s;
	int off;
	if (!htime_zone(&p, &off) || *p != '\0')
		return HERR_FIELD_INVALID;
	*out_min = off;
	return 0;
}
