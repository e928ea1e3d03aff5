/*
 * test_log.c - log records cannot be forged by what they quote, and floods
 * of one record are rate-limited.  stderr is redirected to a file the tests
 * read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

static char logfile[] = "/tmp/cmpgw-test-log-XXXXXX";
static int saved_stderr = -1;

static int capture(void **state) {
  (void)state;
  int fd = mkstemp(logfile);
  if (fd < 0)
    return -1;
  fflush(stderr);
  saved_stderr = dup(2);
  dup2(fd, 2);
  close(fd);
  return 0;
}

static int release(void **state) {
  (void)state;
  fflush(stderr);
  dup2(saved_stderr, 2);
  close(saved_stderr);
  unlink(logfile);
  return 0;
}

/* What was logged since the last call: the whole text. */
static char *logged(void) {
  static long seen = 0;
  fflush(stderr);
  FILE *f = fopen(logfile, "r");
  assert_non_null(f);
  fseek(f, seen, SEEK_SET);
  static char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  seen += (long)n;
  fclose(f);
  return buf;
}

static int lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* A value with a newline cannot start a record of its own: one line, the
 * newline shown as \x0a. */
static void test_control_octets_cannot_end_a_record(void **state) {
  (void)state;
  logged();
  cg_info("ref=%s", "a\n2026-01-01T00:00:00Z INFO cmp ir -> ip status=0\r");
  char *out = logged();
  assert_int_equal(lines(out), 1);
  assert_non_null(strstr(out, "ref=a\\x0a2026-01-01T00:00:00Z INFO cmp ir -> ip status=0\\x0d\n"));
}

/* A plain word stays as it is; anything else is quoted and escaped, so it
 * cannot pass for fields of the record. */
static void test_values_from_outside_are_quoted_unless_plain(void **state) {
  (void)state;
  char v[CG_LOG_VALUE_MAX];
  assert_string_equal(cg_log_value(v, "device-0001.example:7"), "device-0001.example:7");
  assert_string_equal(cg_log_value(v, "x -> ip status=0"), "\"x -> ip status=0\"");
  assert_string_equal(cg_log_value(v, "q\"b\\s"), "\"q\\\"b\\\\s\"");
  assert_string_equal(cg_log_value(v, "\x01\xff"), "\"\\x01\\xff\"");
  assert_string_equal(cg_log_value(v, ""), "\"\"");
  char big[400];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  cg_log_value(v, big);
  assert_true(strlen(v) < CG_LOG_VALUE_MAX);
  assert_non_null(strstr(v, "...\""));
}

/* A thousand records through one limiter: the first is written, the others
 * are counted, and the next one written says how many were left out. */
static void test_a_flood_is_one_line_per_interval(void **state) {
  (void)state;
  struct cg_log_limit l = {0};
  logged();
  for (int i = 0; i < 1000; i++)
    cg_log_limited(&l, 3600, CG_LOG_ERROR, "disk full %d", i);
  char *out = logged();
  assert_int_equal(lines(out), 1);
  assert_non_null(strstr(out, "disk full 0\n"));
  l.last -= 3600; /* as if the interval had passed */
  cg_log_limited(&l, 3600, CG_LOG_ERROR, "disk full again");
  out = logged();
  assert_int_equal(lines(out), 1);
  assert_non_null(strstr(out, "disk full again (and 999 more like it"));
}

/* JSON records: one object a line; quotes, backslashes and control octets
 * escaped, valid UTF-8 kept, other octets as U+FFFD; fields beside the
 * message; a flood's count as fields. */
static void test_json_records_escape_what_they_quote(void **state) {
  (void)state;
  logged();
  cg_log_set_format(CG_LOG_JSON);
  cg_info("ref=%s", "q\"b\\s\n{\x01\xff\xc3\xa9\xed\xa0\x80");
  struct cg_log_field f[] = {{"peer", "127.0.0.1", 0}, {"ref", "a\"\n", 0}, {"ms", NULL, 1.5}};
  cg_log_fields(CG_LOG_WARN, f, 3, "exchange");
  struct cg_log_limit l = {0};
  for (int i = 0; i < 5; i++)
    cg_log_limited(&l, 3600, CG_LOG_ERROR, "disk full");
  l.last -= 3600;
  cg_log_limited(&l, 3600, CG_LOG_ERROR, "disk full");
  cg_log_set_format(CG_LOG_TEXT);
  char *out = logged();
  assert_int_equal(lines(out), 4);
  assert_non_null(strstr(out, "\"level\": \"info\", \"msg\": \"ref=q\\\"b\\\\s\\u000a{\\u0001"
                              "\\ufffd\xc3\xa9\\ufffd\\ufffd\\ufffd\"}\n"));
  assert_non_null(strstr(out, "\"level\": \"warn\", \"msg\": \"exchange\", \"peer\": \"127.0.0.1\", "
                              "\"ref\": \"a\\\"\\u000a\", \"ms\": 1.5}\n"));
  assert_non_null(strstr(out, "\"msg\": \"disk full\", \"suppressed\": 4, \"suppressed_seconds\": "));
  for (char *line = out; *line; line = strchr(line, '\n') + 1)
    assert_true(strncmp(line, "{\"ts\": \"", 8) == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_records_escape_what_they_quote),
      cmocka_unit_test(test_control_octets_cannot_end_a_record),
      cmocka_unit_test(test_values_from_outside_are_quoted_unless_plain),
      cmocka_unit_test(test_a_flood_is_one_line_per_interval),
  };
  return cmocka_run_group_tests(tests, capture, release);
}
