/*
 * test_time.c - the calendar of core/time.c: days from a date and back over
 * twenty thousand years (before 1970 too, through leap years and the
 * centuries that are not), each day checked to follow the one before it;
 * seconds to broken-down UTC and back, and against the C library's gmtime()
 * over 1900..2100; the ISO-8601 text written, clamped and read back; and the
 * strict parser refusing every malformed text, every prefix and every
 * impossible date or time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/time.h"

static void leap_years_follow_the_gregorian_rules(void **state) {
  (void)state;
  static const int64_t leap[] = {2024, 2000, 1600, 1972, 1968, 4, 0, -4, -400, 2400};
  static const int64_t common[] = {2023, 1900, 2100, 1970, 1969, 1, -1, -100, 1700, 2200};
  for (size_t i = 0; i < sizeof leap / sizeof leap[0]; i++) {
    assert_true(cg_time_is_leap(leap[i]));
    assert_int_equal(cg_time_days_in_month(leap[i], 2), 29);
  }
  for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) {
    assert_false(cg_time_is_leap(common[i]));
    assert_int_equal(cg_time_days_in_month(common[i], 2), 28);
  }
  assert_int_equal(cg_time_days_in_month(2023, 1), 31);
  assert_int_equal(cg_time_days_in_month(2023, 4), 30);
  assert_int_equal(cg_time_days_in_month(2023, 12), 31);
}

static void known_dates_have_their_day_numbers(void **state) {
  (void)state;
  static const struct {
    int64_t year;
    unsigned month, day;
    int64_t days;
  } v[] = {
      {1970, 1, 1, 0},          {1969, 12, 31, -1},     {1970, 3, 1, 59},
      {2000, 2, 29, 11016},     {2000, 3, 1, 11017},    {1900, 3, 1, -25508},
      {1900, 2, 28, -25509},    {1600, 3, 1, -135080},  {0, 3, 1, -719468},
      {0, 1, 1, -719528},       {-1, 12, 31, -719529},  {9999, 12, 31, 2932896},
      {2038, 1, 19, 24855},     {1950, 1, 1, -7305},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    int64_t y;
    unsigned m, d;
    if (cg_time_days_from_civil(v[i].year, v[i].month, v[i].day) != v[i].days)
      fail_msg("%lld-%u-%u: %lld days, want %lld", (long long)v[i].year, v[i].month, v[i].day,
               (long long)cg_time_days_from_civil(v[i].year, v[i].month, v[i].day),
               (long long)v[i].days);
    cg_time_civil_from_days(v[i].days, &y, &m, &d);
    assert_int_equal(y, v[i].year);
    assert_int_equal(m, v[i].month);
    assert_int_equal(d, v[i].day);
  }
}

/* Every day from 10000 BC (year -9999) to AD 10000: its date maps back to
 * it, and is the date after the previous day's, by the month lengths, so the
 * two directions cannot share a mistake. */
static void every_day_over_twenty_thousand_years_round_trips(void **state) {
  (void)state;
  int64_t first = cg_time_days_from_civil(-9999, 1, 1);
  int64_t last = cg_time_days_from_civil(10000, 12, 31);
  int64_t py = -10000;
  unsigned pm = 12, pd = 31;
  for (int64_t days = first; days <= last; days++) {
    int64_t y;
    unsigned m, d;
    cg_time_civil_from_days(days, &y, &m, &d);
    bool next_day = y == py && m == pm && d == pd + 1;
    bool next_month = y == py && m == pm + 1 && d == 1 && pd == cg_time_days_in_month(py, pm);
    bool next_year = y == py + 1 && m == 1 && d == 1 && pm == 12 && pd == 31;
    if (!(next_day || next_month || next_year))
      fail_msg("day %lld is %lld-%u-%u after %lld-%u-%u", (long long)days, (long long)y, m, d,
               (long long)py, pm, pd);
    if (cg_time_days_from_civil(y, m, d) != days)
      fail_msg("%lld-%u-%u does not map back to day %lld", (long long)y, m, d, (long long)days);
    py = y;
    pm = m;
    pd = d;
  }
  assert_int_equal(py, 10000);
}

static void the_year_limits_round_trip(void **state) {
  (void)state;
  static const int64_t years[] = {-CG_TIME_YEAR_LIMIT, CG_TIME_YEAR_LIMIT};
  for (size_t i = 0; i < 2; i++) {
    struct cg_utc u = {.year = years[i], .month = 2, .day = 29, .hour = 23, .min = 59, .sec = 59};
    struct cg_utc back;
    int64_t t;
    assert_int_equal(cg_time_from_utc(&u, &t), 0);
    cg_time_to_utc(t, &back);
    assert_int_equal(back.year, u.year);
    assert_int_equal(back.month, 2);
    assert_int_equal(back.day, 29);
    assert_int_equal(back.sec, 59);
    u.year += i == 0 ? -1 : 1;
    u.day = 28;
    assert_int_equal(cg_time_from_utc(&u, &t), CG_EINVAL);
  }
}

/* A second to its fields and back, over years -5000..12000 in steps that move
 * the time of day, and at the seconds around midnight of 1970-01-01. */
static void seconds_round_trip_through_broken_down_time(void **state) {
  (void)state;
  int64_t from = cg_time_days_from_civil(-5000, 1, 1) * 86400;
  int64_t to = cg_time_days_from_civil(12000, 1, 1) * 86400;
  for (int64_t t = from; t < to; t += 86400 * 19 + 3607) {
    struct cg_utc u;
    int64_t back = 0;
    cg_time_to_utc(t, &u);
    assert_int_equal(cg_time_from_utc(&u, &back), 0);
    if (back != t)
      fail_msg("%lld came back as %lld", (long long)t, (long long)back);
  }
  static const int64_t edges[] = {-86401, -86400, -86399, -3601, -61, -1, 0, 1, 86399, 86400};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    struct cg_utc u;
    int64_t back = 0;
    cg_time_to_utc(edges[i], &u);
    assert_int_equal(cg_time_from_utc(&u, &back), 0);
    assert_int_equal(back, edges[i]);
  }
  struct cg_utc u;
  cg_time_to_utc(-1, &u);
  assert_int_equal(u.year, 1969);
  assert_int_equal(u.month, 12);
  assert_int_equal(u.day, 31);
  assert_int_equal(u.hour, 23);
  assert_int_equal(u.min, 59);
  assert_int_equal(u.sec, 59);
}

/* The C library's calendar, independent of ours, over 1900..2100 (this
 * platform's time_t is 64 bits and its gmtime() goes before 1970). */
static void broken_down_time_agrees_with_gmtime(void **state) {
  (void)state;
  for (int64_t t = -2208988800; t < 4102444800; t += 86400 * 3 + 3607) {
    time_t tt = (time_t)t;
    struct tm tm;
    struct cg_utc u;
    assert_non_null(gmtime_r(&tt, &tm));
    cg_time_to_utc(t, &u);
    if (u.year != tm.tm_year + 1900 || u.month != (unsigned)tm.tm_mon + 1 ||
        u.day != (unsigned)tm.tm_mday || u.hour != (unsigned)tm.tm_hour ||
        u.min != (unsigned)tm.tm_min || u.sec != (unsigned)tm.tm_sec)
      fail_msg("%lld: %lld-%u-%u %u:%u:%u", (long long)t, (long long)u.year, u.month, u.day,
               u.hour, u.min, u.sec);
  }
}

static void impossible_fields_are_einval(void **state) {
  (void)state;
  static const struct cg_utc bad[] = {
      {2023, 0, 1, 0, 0, 0},   {2023, 13, 1, 0, 0, 0},  {2023, 1, 0, 0, 0, 0},
      {2023, 1, 32, 0, 0, 0},  {2023, 4, 31, 0, 0, 0},  {2023, 2, 29, 0, 0, 0},
      {1900, 2, 29, 0, 0, 0},  {-100, 2, 29, 0, 0, 0},  {2023, 1, 1, 24, 0, 0},
      {2023, 1, 1, 0, 60, 0},  {2023, 1, 1, 0, 0, 60}, /* no leap seconds */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t t = 42;
    assert_int_equal(cg_time_from_utc(&bad[i], &t), CG_EINVAL);
    assert_int_equal(t, 42); /* untouched */
  }
  static const struct cg_utc good[] = {
      {2000, 2, 29, 0, 0, 0}, {1600, 2, 29, 0, 0, 0}, {-400, 2, 29, 0, 0, 0},
      {2023, 12, 31, 23, 59, 59},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    int64_t t;
    assert_int_equal(cg_time_from_utc(&good[i], &t), 0);
  }
}

static void iso8601_formats_known_instants(void **state) {
  (void)state;
  char s[CG_TIME_ISO8601_SIZE];
  cg_time_iso8601(0, s);
  assert_string_equal(s, "1970-01-01T00:00:00Z");
  cg_time_iso8601(-1, s);
  assert_string_equal(s, "1969-12-31T23:59:59Z");
  cg_time_iso8601(951782400, s);
  assert_string_equal(s, "2000-02-29T00:00:00Z");
  cg_time_iso8601(-2203891200, s);
  assert_string_equal(s, "1900-03-01T00:00:00Z");
  cg_time_iso8601(CG_TIME_MAX, s);
  assert_string_equal(s, "9999-12-31T23:59:59Z");
  cg_time_iso8601(CG_TIME_MIN, s);
  assert_string_equal(s, "0000-01-01T00:00:00Z");
  /* Beyond four digits the time is clamped rather than mis-printed. */
  cg_time_iso8601(CG_TIME_MAX + 1, s);
  assert_string_equal(s, "9999-12-31T23:59:59Z");
  cg_time_iso8601(INT64_MAX, s);
  assert_string_equal(s, "9999-12-31T23:59:59Z");
  cg_time_iso8601(CG_TIME_MIN - 1, s);
  assert_string_equal(s, "0000-01-01T00:00:00Z");
  cg_time_iso8601(INT64_MIN, s);
  assert_string_equal(s, "0000-01-01T00:00:00Z");
}

/* What the writer writes, the parser reads back to the same second: all four
 * digit years, and the text agrees with gmtime()'s over 1900..2100. */
static void iso8601_round_trips_over_every_four_digit_year(void **state) {
  (void)state;
  for (int64_t t = CG_TIME_MIN; t <= CG_TIME_MAX; t += 86400 * 5 + 3541) {
    char s[CG_TIME_ISO8601_SIZE];
    int64_t back = 0;
    cg_time_iso8601(t, s);
    assert_int_equal(strlen(s), 20);
    if (cg_time_parse_iso8601(s, &back) != 0 || back != t)
      fail_msg("%lld -> \"%s\" -> %lld", (long long)t, s, (long long)back);
  }
  int64_t t;
  assert_int_equal(cg_time_parse_iso8601("0000-01-01T00:00:00Z", &t), 0);
  assert_int_equal(t, CG_TIME_MIN);
  assert_int_equal(cg_time_parse_iso8601("9999-12-31T23:59:59Z", &t), 0);
  assert_int_equal(t, CG_TIME_MAX);
  assert_int_equal(cg_time_parse_iso8601("1969-12-31T23:59:59Z", &t), 0);
  assert_int_equal(t, -1);
  assert_int_equal(cg_time_parse_iso8601("1600-02-29T12:00:00Z", &t), 0);
  assert_int_equal(t, cg_time_days_from_civil(1600, 2, 29) * 86400 + 43200);

  for (int64_t u = -2208988800; u < 4102444800; u += 86400 * 7 + 3607) {
    time_t tt = (time_t)u;
    struct tm tm;
    char want[32], got[CG_TIME_ISO8601_SIZE];
    assert_non_null(gmtime_r(&tt, &tm));
    strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cg_time_iso8601(u, got);
    assert_string_equal(got, want);
  }
}

static void iso8601_parser_refuses_anything_but_the_written_form(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "2026-01-01",
      "2026-01-01 00:00:00Z",
      "2026-01-01T00:00:00",
      "2026-01-01T00:00:00z",
      "2026-01-01t00:00:00Z",
      "2026-01-01T00:00:00.5Z",
      "2026-01-01T00:00:00+00:00",
      "2026-01-01T00:00:00Z ",
      " 2026-01-01T00:00:00Z",
      "2026-01-01T00:00:00ZZ",
      "2026-1-01T00:00:00Z ",
      "2026/01/01T00:00:00Z",
      "20260101T000000Z",
      "+026-01-01T00:00:00Z",
      "-001-01-01T00:00:00Z",
      "10000-01-01T00:00:00Z",
      "2026-0a-01T00:00:00Z",
      "2026-01-01T0:000:00Z",
      "\xd9\xa2\xd9\xa0\xd9\xa2\xd9\xa6-01-01T00:00:00Z", /* Arabic-Indic digits */
      /* impossible dates and times */
      "2026-00-01T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-01-00T00:00:00Z",
      "2026-01-32T00:00:00Z",
      "2026-04-31T00:00:00Z",
      "2023-02-29T00:00:00Z",
      "1900-02-29T00:00:00Z",
      "2026-01-01T24:00:00Z",
      "2026-01-01T00:60:00Z",
      "2026-01-01T00:00:60Z", /* no leap second */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t t = 42;
    if (cg_time_parse_iso8601(bad[i], &t) != CG_EINVAL)
      fail_msg("\"%s\" accepted", bad[i]);
    assert_int_equal(t, 42); /* untouched */
  }
  assert_int_equal(cg_time_parse_iso8601(NULL, NULL), CG_EINVAL);

  /* Every proper prefix of a good time is refused. */
  const char good[] = "2024-02-29T23:59:59Z";
  char prefix[sizeof good];
  for (size_t n = 0; n < sizeof good - 1; n++) {
    memcpy(prefix, good, n);
    prefix[n] = '\0';
    assert_int_equal(cg_time_parse_iso8601(prefix, NULL), CG_EINVAL);
  }
  assert_int_equal(cg_time_parse_iso8601(good, NULL), 0); /* out may be NULL */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(leap_years_follow_the_gregorian_rules),
      cmocka_unit_test(known_dates_have_their_day_numbers),
      cmocka_unit_test(every_day_over_twenty_thousand_years_round_trips),
      cmocka_unit_test(the_year_limits_round_trip),
      cmocka_unit_test(seconds_round_trip_through_broken_down_time),
      cmocka_unit_test(broken_down_time_agrees_with_gmtime),
      cmocka_unit_test(impossible_fields_are_einval),
      cmocka_unit_test(iso8601_formats_known_instants),
      cmocka_unit_test(iso8601_round_trips_over_every_four_digit_year),
      cmocka_unit_test(iso8601_parser_refuses_anything_but_the_written_form),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
