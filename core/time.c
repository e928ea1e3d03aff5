/*
 * time.c - calendar arithmetic and the ISO-8601 text of core/time.h.  Dates
 * are converted with Howard Hinnant's days-from-civil algorithms: the year is
 * counted from March, so that the leap day is the last day of a year, and a
 * 400-year cycle ("era") holds exactly 146097 days, so one division finds the
 * era and the rest is arithmetic within it.  Floor divisions make negative
 * days (dates before 1970) come out as exactly as positive ones.
 */
#include "core/time.h"

#include <stddef.h>

#include "core/err.h"

/* Days from 0000-03-01, the first day of era 0, to 1970-01-01. */
#define EPOCH_FROM_ERA_START INT64_C(719468)
#define DAYS_PER_ERA INT64_C(146097)
#define SECS_PER_DAY INT64_C(86400)

bool cg_time_is_leap(int64_t year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

unsigned cg_time_days_in_month(int64_t year, unsigned month) {
  static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && cg_time_is_leap(year) ? 29 : mdays[month - 1];
}

int64_t cg_time_days_from_civil(int64_t year, unsigned month, unsigned day) {
  int64_t y = month <= 2 ? year - 1 : year;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t year_of_era = y - era * 400;                                /* 0..399 */
  unsigned month_from_march = month > 2 ? month - 3 : month + 9;      /* 0..11 */
  int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;   /* 0..365 */
  int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year; /* 0..146096 */
  return era * DAYS_PER_ERA + day_of_era - EPOCH_FROM_ERA_START;
}

void cg_time_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day) {
  int64_t z = days + EPOCH_FROM_ERA_START;
  int64_t era = (z >= 0 ? z : z - (DAYS_PER_ERA - 1)) / DAYS_PER_ERA;
  int64_t day_of_era = z - era * DAYS_PER_ERA; /* 0..146096 */
  /* Leave out the leap days before the date so that the year is a plain
   * division by 365. */
  int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  int64_t month_from_march = (5 * day_of_year + 2) / 153;
  *day = (unsigned)(day_of_year - (153 * month_from_march + 2) / 5 + 1);
  *month = (unsigned)(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
  *year = year_of_era + era * 400 + (*month <= 2 ? 1 : 0);
}

void cg_time_to_utc(int64_t t, struct cg_utc *out) {
  /* Floor division: the second before 1970 is 23:59:59 of the day before. */
  int64_t days = t / SECS_PER_DAY;
  int64_t secs = t % SECS_PER_DAY;
  if (secs < 0) {
    secs += SECS_PER_DAY;
    days -= 1;
  }
  cg_time_civil_from_days(days, &out->year, &out->month, &out->day);
  out->hour = (unsigned)(secs / 3600);
  out->min = (unsigned)(secs / 60 % 60);
  out->sec = (unsigned)(secs % 60);
}

int cg_time_from_utc(const struct cg_utc *u, int64_t *out) {
  if (u->year < -CG_TIME_YEAR_LIMIT || u->year > CG_TIME_YEAR_LIMIT || u->month < 1 ||
      u->month > 12 || u->day < 1 || u->day > cg_time_days_in_month(u->year, u->month) ||
      u->hour > 23 || u->min > 59 || u->sec > 59)
    return CG_EINVAL;
  *out = cg_time_days_from_civil(u->year, u->month, u->day) * SECS_PER_DAY +
         (int64_t)u->hour * 3600 + (int64_t)u->min * 60 + u->sec;
  return 0;
}

/* Writes v as n decimal digits at out, with leading zeros. */
static void put_digits(char *out, unsigned v, unsigned n) {
  while (n-- > 0) {
    out[n] = (char)('0' + v % 10);
    v /= 10;
  }
}

/* The layout of the text: 'd' a digit, anything else itself. */
static const char ISO8601_SHAPE[] = "dddd-dd-ddTdd:dd:ddZ";

void cg_time_iso8601(int64_t t, char out[CG_TIME_ISO8601_SIZE]) {
  struct cg_utc u;
  cg_time_to_utc(t < CG_TIME_MIN ? CG_TIME_MIN : t > CG_TIME_MAX ? CG_TIME_MAX : t, &u);
  for (size_t i = 0; i < sizeof ISO8601_SHAPE; i++)
    out[i] = ISO8601_SHAPE[i]; /* the separators and the NUL */
  put_digits(out, (unsigned)u.year, 4);
  put_digits(out + 5, u.month, 2);
  put_digits(out + 8, u.day, 2);
  put_digits(out + 11, u.hour, 2);
  put_digits(out + 14, u.min, 2);
  put_digits(out + 17, u.sec, 2);
}

/* The n digits at s as a number (the shape was checked). */
static unsigned get_digits(const char *s, unsigned n) {
  unsigned v = 0;
  while (n-- > 0)
    v = v * 10 + (unsigned)(*s++ - '0');
  return v;
}

int cg_time_parse_iso8601(const char *s, int64_t *out) {
  if (s == NULL)
    return CG_EINVAL;
  /* Compared up to and including the NUL, so the length is exact too. */
  for (size_t i = 0; i < sizeof ISO8601_SHAPE; i++) {
    bool ok = ISO8601_SHAPE[i] == 'd' ? s[i] >= '0' && s[i] <= '9' : s[i] == ISO8601_SHAPE[i];
    if (!ok)
      return CG_EINVAL;
  }
  struct cg_utc u = {
      .year = get_digits(s, 4),
      .month = get_digits(s + 5, 2),
      .day = get_digits(s + 8, 2),
      .hour = get_digits(s + 11, 2),
      .min = get_digits(s + 14, 2),
      .sec = get_digits(s + 17, 2),
  };
  int64_t t;
  int err = cg_time_from_utc(&u, &t);
  if (err == 0 && out != NULL)
    *out = t;
  return err;
}
