/*
 * time.h - the one calendar of cmpgw: days from a proleptic Gregorian date and
 * back, seconds since 1970-01-01T00:00:00Z to a broken-down UTC time and back,
 * and the ISO-8601 text "YYYY-MM-DDTHH:MM:SSZ" the store and the logs use.
 *
 * Everything is integer arithmetic on int64_t: nothing depends on the process
 * time zone, on the range of time_t or on the C library's gmtime().  Dates
 * before 1970 are negative seconds and are handled like any other.  There are
 * no leap seconds (POSIX time): a minute has 60 seconds.  The DER times of
 * core/der.h (UTCTime, GeneralizedTime) are written and read through here.
 */
#ifndef CG_CORE_TIME_H
#define CG_CORE_TIME_H

#include <stdbool.h>
#include <stdint.h>

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the times four year digits
 * can show. */
#define CG_TIME_MIN INT64_C(-62167219200)
#define CG_TIME_MAX INT64_C(253402300799)

/* "YYYY-MM-DDTHH:MM:SSZ" and its NUL. */
#define CG_TIME_ISO8601_SIZE 21

/* A broken-down UTC time.  month 1..12, day 1..31, hour 0..23, min and sec
 * 0..59. */
struct cg_utc {
  int64_t year;
  unsigned month, day, hour, min, sec;
};

/* Whether year (proleptic Gregorian; 0 is 1 BC) has a February 29. */
bool cg_time_is_leap(int64_t year);
/* Days in month (1..12) of year. */
unsigned cg_time_days_in_month(int64_t year, unsigned month);

/* The years the conversions below take: far beyond anything a certificate or
 * the store holds, and small enough that the seconds of any of them fit an
 * int64_t many times over. */
#define CG_TIME_YEAR_LIMIT INT64_C(100000000)

/* Days from 1970-01-01 to year-month-day (negative before it), for |year| up
 * to CG_TIME_YEAR_LIMIT.  The date is taken as given: the caller checks it
 * (cg_time_from_utc() does). */
int64_t cg_time_days_from_civil(int64_t year, unsigned month, unsigned day);
/* The date days after 1970-01-01 (before it when negative); the inverse of
 * cg_time_days_from_civil(). */
void cg_time_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day);

/* Seconds since the epoch to the broken-down UTC time; any int64_t (its
 * year may then lie beyond CG_TIME_YEAR_LIMIT). */
void cg_time_to_utc(int64_t t, struct cg_utc *out);
/* The broken-down time u to seconds since the epoch.  0, or CG_EINVAL when a
 * field is out of its range (February 30, hour 24, second 60) or |year| is over
 * CG_TIME_YEAR_LIMIT. */
int cg_time_from_utc(const struct cg_utc *u, int64_t *out);

/* Writes t as "YYYY-MM-DDTHH:MM:SSZ" and a NUL into out.  A time outside
 * CG_TIME_MIN..CG_TIME_MAX is clamped to the nearest one four year digits
 * can show rather than mis-printed. */
void cg_time_iso8601(int64_t t, char out[CG_TIME_ISO8601_SIZE]);
/* Reads exactly what cg_time_iso8601() writes: "YYYY-MM-DDTHH:MM:SSZ", ASCII
 * digits, a real date and time of day; no other separator, no fraction, no
 * offset, no leap second, nothing after the Z.  *out (when not NULL) gets the
 * seconds.  0, or CG_EINVAL (also for NULL). */
int cg_time_parse_iso8601(const char *s, int64_t *out);

#endif
