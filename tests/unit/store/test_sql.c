/*
 * test_sql.c - store/sql.h, the helpers ops.c and query.c share, on an
 * in-memory SQLite database: what a column that does not fit is (too long, a
 * NUL inside, a time in another form), what SQL NULL reads as, how text and
 * times are bound, and which failed steps are CG_EEXISTS (a taken PRIMARY
 * KEY or UNIQUE key, not logged) and which a logged CG_ESTORE (every other
 * constraint).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include <cmocka.h>

#include "core/err.h"
#include "store/sql.h"
#include "testutil.h"

static int setup(void **state) {
  struct cg_db *db = NULL;
  /* As every connection of the store: extended codes, foreign keys. */
  if (cg_db_open(":memory:", CG_DB_WRITER, &db) != 0)
    return -1;
  if (cg_db_exec(db, "PRAGMA foreign_keys = ON;"
                     "CREATE TABLE p (k TEXT PRIMARY KEY);"
                     "CREATE TABLE c (id INTEGER PRIMARY KEY, k TEXT REFERENCES p(k),"
                     " u TEXT, n TEXT NOT NULL DEFAULT 'x', v INTEGER CHECK (v IS NULL OR v < 10));"
                     "CREATE UNIQUE INDEX c_u ON c(u);"
                     "INSERT INTO p VALUES ('a');") != CG_DB_OK)
    return -1;
  *state = db;
  return 0;
}

static int teardown(void **state) { return cg_db_close(*state) == CG_DB_OK ? 0 : -1; }

/* One row of the expression sql ("SELECT ..."), stepped; finalize it. */
static struct cg_db_stmt *row(struct cg_db *db, const char *sql) {
  struct cg_db_stmt *s = NULL;
  assert_int_equal(cg_db_prepare(db, sql, false, &s), CG_DB_OK);
  assert_int_equal(cg_db_step(s), CG_DB_ROW);
  return s;
}

/* The result of stepping sql mapped by cg_store_sql_error(), and the log. */
static int step_mapped(struct cg_db *db, const char *sql, const char **log) {
  struct cg_db_stmt *s = NULL;
  assert_int_equal(cg_db_prepare(db, sql, false, &s), CG_DB_OK);
  int rc = cg_db_step(s);
  assert_int_not_equal(rc, CG_DB_DONE);
  tu_capture_stderr();
  int err = cg_store_sql_error(db, rc, NULL, "testing");
  *log = tu_captured_stderr();
  cg_db_finalize(s);
  return err;
}

static void a_taken_key_is_eexists_and_not_logged(void **state) {
  struct cg_db *db = *state;
  const char *log;
  assert_int_equal(step_mapped(db, "INSERT INTO p VALUES ('a')", &log), CG_EEXISTS);
  assert_string_equal(log, "");
  assert_int_equal(cg_db_exec(db, "INSERT INTO c (u) VALUES ('one')"), CG_DB_OK);
  assert_int_equal(step_mapped(db, "INSERT INTO c (u) VALUES ('one')", &log), CG_EEXISTS);
  assert_string_equal(log, "");
}

static void every_other_constraint_is_a_logged_store_failure(void **state) {
  struct cg_db *db = *state;
  static const char *const sql[] = {
      "INSERT INTO c (k) VALUES ('nobody')", /* FOREIGN KEY */
      "INSERT INTO c (n) VALUES (NULL)",     /* NOT NULL */
      "INSERT INTO c (v) VALUES (10)",       /* CHECK */
  };
  for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
    const char *log;
    assert_int_equal(step_mapped(db, sql[i], &log), CG_ESTORE);
    if (strstr(log, "store: testing: ") == NULL || strstr(log, "constraint failed") == NULL)
      fail_msg("%s: logged \"%s\"", sql[i], log);
  }
}

static void a_limited_log_says_it_once_in_a_flood(void **state) {
  struct cg_db *db = *state;
  struct cg_log_limit limit = {0};
  struct cg_db_stmt *s = NULL;
  assert_int_equal(cg_db_prepare(db, "INSERT INTO c (v) VALUES (10)", false, &s), CG_DB_OK);
  tu_capture_stderr();
  for (int i = 0; i < 3; i++) {
    int rc = cg_db_step(s);
    assert_int_equal(cg_store_sql_error(db, rc, &limit, "flooding"), CG_ESTORE);
    cg_db_reset(s);
  }
  const char *log = tu_captured_stderr();
  const char *first = strstr(log, "store: flooding: ");
  assert_non_null(first);
  assert_null(strstr(first + 1, "store: flooding: "));
  cg_db_finalize(s);
}

static void text_that_fits_is_copied_and_null_reads_empty(void **state) {
  struct cg_db *db = *state;
  struct cg_db_stmt *s = row(db, "SELECT 'abc', NULL, '', 'abcd'");
  char dst[4] = "zzz";
  assert_int_equal(cg_store_sql_column_text(s, 0, dst, sizeof dst), 0);
  assert_string_equal(dst, "abc");
  memcpy(dst, "zzz", 4);
  assert_int_equal(cg_store_sql_column_text(s, 1, dst, sizeof dst), 0);
  assert_string_equal(dst, "");
  memcpy(dst, "zzz", 4);
  assert_int_equal(cg_store_sql_column_text(s, 2, dst, sizeof dst), 0);
  assert_string_equal(dst, "");
  /* Four octets and the NUL do not fit four: nothing of them is kept. */
  memcpy(dst, "zzz", 4);
  assert_int_equal(cg_store_sql_column_text(s, 3, dst, sizeof dst), CG_ESTORE);
  assert_string_equal(dst, "");
  cg_db_finalize(s);
}

static void text_holding_a_nul_does_not_fit(void **state) {
  struct cg_db *db = *state;
  struct cg_db_stmt *s = row(db, "SELECT 'ab' || char(0) || 'c', char(0), x'610062'");
  char dst[16];
  for (int col = 0; col < 3; col++) {
    assert_int_equal(cg_store_sql_column_text(s, col, dst, sizeof dst), CG_ESTORE);
    int err = 0;
    assert_null(cg_store_sql_column_dup(s, col, &err));
    assert_int_equal(err, CG_ESTORE);
  }
  cg_db_finalize(s);
}

static void dup_copies_text_keeps_null_and_the_first_error(void **state) {
  struct cg_db *db = *state;
  struct cg_db_stmt *s = row(db, "SELECT 'CN=one', NULL, '', 'a' || char(0)");
  int err = 0;
  char *one = cg_store_sql_column_dup(s, 0, &err);
  assert_int_equal(err, 0);
  assert_string_equal(one, "CN=one");
  free(one);
  assert_null(cg_store_sql_column_dup(s, 1, &err));
  assert_int_equal(err, 0);
  char *empty = cg_store_sql_column_dup(s, 2, &err);
  assert_int_equal(err, 0);
  assert_string_equal(empty, "");
  free(empty);
  err = CG_ENOMEM; /* an earlier column's failure is kept */
  assert_null(cg_store_sql_column_dup(s, 3, &err));
  assert_int_equal(err, CG_ENOMEM);
  cg_db_finalize(s);
}

static void blobs_are_copied_and_never_null(void **state) {
  struct cg_db *db = *state;
  struct cg_db_stmt *s = row(db, "SELECT x'00ff00', x'', NULL");
  uint8_t *p = NULL;
  size_t n = 99;
  assert_int_equal(cg_store_sql_column_blob_dup(s, 0, &p, &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(p, "\x00\xff\x00", 3);
  free(p);
  for (int col = 1; col < 3; col++) {
    assert_int_equal(cg_store_sql_column_blob_dup(s, col, &p, &n), 0);
    assert_non_null(p);
    assert_int_equal(n, 0);
    free(p);
  }
  cg_db_finalize(s);
}

static void times_read_only_in_the_stored_form(void **state) {
  struct cg_db *db = *state;
  struct cg_db_stmt *s = row(db, "SELECT '2026-01-01T00:00:00Z', '1969-12-31T23:59:59Z', NULL,"
                                 " '2026-01-01 00:00:00', '2026-01-01T00:00:00Z' || char(0), 42");
  int64_t t = 7;
  assert_int_equal(cg_store_sql_column_time(s, 0, &t), 0);
  assert_int_equal(t, INT64_C(1767225600));
  assert_int_equal(cg_store_sql_column_time(s, 1, &t), 0);
  assert_int_equal(t, -1);
  for (int col = 2; col < 6; col++) {
    t = 7;
    assert_int_equal(cg_store_sql_column_time(s, col, &t), CG_ESTORE);
    assert_int_equal(t, 7);
  }
  cg_db_finalize(s);
}

static void integers_read_with_a_value_for_null(void **state) {
  struct cg_db *db = *state;
  struct cg_db_stmt *s = row(db, "SELECT 5, NULL, -1");
  assert_int_equal(cg_store_sql_column_int_or(s, 0, -1), 5);
  assert_int_equal(cg_store_sql_column_int_or(s, 1, -1), -1);
  assert_int_equal(cg_store_sql_column_int_or(s, 1, 0), 0);
  assert_int_equal(cg_store_sql_column_int_or(s, 2, 0), -1);
  cg_db_finalize(s);
}

static void text_binds_as_given_and_absent_as_null(void **state) {
  struct cg_db *db = *state;
  struct cg_db_stmt *s = NULL;
  assert_int_equal(cg_db_prepare(db,
                                 "SELECT quote(?1), quote(?2), quote(?3), quote(?4),"
                                 " quote(?5), ?6",
                                 false, &s),
                   CG_DB_OK);
  assert_int_equal(cg_store_sql_bind_text(s, 1, "x"), CG_DB_OK);
  assert_int_equal(cg_store_sql_bind_text(s, 2, ""), CG_DB_OK);
  assert_int_equal(cg_store_sql_bind_text(s, 3, NULL), CG_DB_OK);
  assert_int_equal(cg_store_sql_bind_text_or_null(s, 4, ""), CG_DB_OK);
  assert_int_equal(cg_store_sql_bind_text_or_null(s, 5, NULL), CG_DB_OK);
  assert_int_equal(cg_store_sql_bind_time(s, 6, -62167219200), CG_DB_OK);
  assert_int_equal(cg_db_step(s), CG_DB_ROW);
  static const char *const want[] = {"'x'", "''", "NULL", "NULL", "NULL", "0000-01-01T00:00:00Z"};
  for (int i = 0; i < 6; i++)
    assert_string_equal((const char *)cg_db_column_text(s, i), want[i]);
  cg_db_finalize(s);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(a_taken_key_is_eexists_and_not_logged), T(every_other_constraint_is_a_logged_store_failure),
      T(a_limited_log_says_it_once_in_a_flood), T(text_that_fits_is_copied_and_null_reads_empty),
      T(text_holding_a_nul_does_not_fit),       T(dup_copies_text_keeps_null_and_the_first_error),
      T(blobs_are_copied_and_never_null),       T(times_read_only_in_the_stored_form),
      T(integers_read_with_a_value_for_null),   T(text_binds_as_given_and_absent_as_null),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
