/*
 * Operators' passwords: the stored form, a vector computed independently
 * (Python's hashlib.pbkdf2_hmac), and what a stored value that is not ours
 * gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/password.h"

/* hashlib.pbkdf2_hmac('sha256', b'correct horse battery', bytes(range(16)), 1000, 32) */
static const char vector[] = "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
                             "02169e674d80c0fc7292e8610c8f17be140df062af9aa33ea85eaabecffdf08d";

static void test_vector(void **state) {
  (void)state;
  const char *pw = "correct horse battery";
  assert_true(cg_password_verify(pw, strlen(pw), vector));
  assert_false(cg_password_verify("correct horse batterz", strlen(pw), vector));
  assert_false(cg_password_verify(pw, strlen(pw) - 1, vector));
}

static void test_hash_then_verify(void **state) {
  (void)state;
  char a[CG_PASSWORD_HASH_MAX], b[CG_PASSWORD_HASH_MAX];
  const char *pw = "s3cret-enough";
  assert_int_equal(cg_password_hash(pw, strlen(pw), 2000, a), 0);
  assert_int_equal(cg_password_hash(pw, strlen(pw), 2000, b), 0);
  assert_int_equal(strncmp(a, "pbkdf2-sha256$2000$", 19), 0);
  assert_int_equal(strlen(a), 19 + 32 + 1 + 64);
  assert_string_not_equal(a, b); /* a salt of its own each time */
  assert_true(cg_password_verify(pw, strlen(pw), a));
  assert_true(cg_password_verify(pw, strlen(pw), b));
  assert_false(cg_password_verify("s3cret-enougH", strlen(pw), a));
}

static void test_default_iterations(void **state) {
  (void)state;
  char a[CG_PASSWORD_HASH_MAX];
  assert_int_equal(cg_password_hash("12345678", 8, 0, a), 0);
  assert_int_equal(strncmp(a, "pbkdf2-sha256$600000$", 21), 0);
}

static void test_bounds(void **state) {
  (void)state;
  char a[CG_PASSWORD_HASH_MAX];
  char big[CG_PASSWORD_MAX + 2];
  memset(big, 'x', sizeof big);
  assert_int_equal(cg_password_hash("1234567", 7, 1000, a), CG_EINVAL);
  assert_int_equal(cg_password_hash(big, CG_PASSWORD_MAX + 1, 1000, a), CG_EINVAL);
  assert_int_equal(cg_password_hash(big, CG_PASSWORD_MAX, 1000, a), 0);
  assert_false(cg_password_verify(big, CG_PASSWORD_MAX + 1, a));
}

static void test_malformed_stored(void **state) {
  (void)state;
  const char *pw = "correct horse battery";
  size_t n = strlen(pw);
  char v[sizeof vector];
  static const char *const bad[] = {
      "",
      "pbkdf2-sha1$1000$000102030405060708090a0b0c0d0e0f$"
      "02169e674d80c0fc7292e8610c8f17be140df062af9aa33ea85eaabecffdf08d",
      "pbkdf2-sha256$0$000102030405060708090a0b0c0d0e0f$"
      "02169e674d80c0fc7292e8610c8f17be140df062af9aa33ea85eaabecffdf08d",
      "pbkdf2-sha256$999999999999$000102030405060708090a0b0c0d0e0f$"
      "02169e674d80c0fc7292e8610c8f17be140df062af9aa33ea85eaabecffdf08d",
      "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e$"
      "02169e674d80c0fc7292e8610c8f17be140df062af9aa33ea85eaabecffdf08d",
      "pbkdf2-sha256$1000$000102030405060708090A0B0C0D0E0F$"
      "02169e674d80c0fc7292e8610c8f17be140df062af9aa33ea85eaabecffdf08d",
      "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
      "02169e674d80c0fc7292e8610c8f17be140df062af9aa33ea85eaabecffdf08",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_false(cg_password_verify(pw, n, bad[i]));
  assert_false(cg_password_verify(pw, n, NULL));
  memcpy(v, vector, sizeof v);
  v[sizeof v - 2] ^= 1; /* the last hex digit of the hash */
  assert_false(cg_password_verify(pw, n, v));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vector),
      cmocka_unit_test(test_hash_then_verify),
      cmocka_unit_test(test_default_iterations),
      cmocka_unit_test(test_bounds),
      cmocka_unit_test(test_malformed_stored),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
