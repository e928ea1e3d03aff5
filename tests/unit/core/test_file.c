/*
 * test_file.c - core/file.c: files are read whole, and a file that cannot be
 * opened or read says why (the errno text), never a bare "I/O error".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/file.h"

static char dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/cg-file-XXXXXX");
  return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void path_of(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", dir, name);
}

static void write_text(const char *name, const void *data, size_t len) {
  char path[128];
  path_of(name, path, sizeof path);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void test_a_file_is_read_whole_with_a_nul_after_it(void **state) {
  (void)state;
  static uint8_t big[20000];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)('a' + i % 26);
  write_text("big", big, sizeof big);
  char path[128];
  path_of("big", path, sizeof path);
  uint8_t *data;
  size_t len;
  assert_int_equal(cg_read_file(path, &data, &len), 0);
  assert_int_equal(len, sizeof big);
  assert_memory_equal(data, big, len);
  assert_int_equal(data[len], 0);
  free(data);
  write_text("empty", "", 0);
  path_of("empty", path, sizeof path);
  assert_int_equal(cg_read_file(path, &data, &len), 0);
  assert_int_equal(len, 0);
  free(data);
}

/* The reason is the one the system gave, whatever happens after the failure
 * inside the reader (closing the file, freeing its buffer). */
static void test_a_file_that_cannot_be_read_says_why(void **state) {
  (void)state;
  char path[128];
  uint8_t *data = (uint8_t *)"untouched";
  size_t len = 7;
  path_of("missing", path, sizeof path);
  int err = cg_read_file(path, &data, &len);
  assert_int_equal(err, CG_EIO);
  assert_string_equal(cg_file_strerror(err), strerror(ENOENT));
  assert_null(data);
  assert_int_equal(len, 0);
  /* a directory opens, and its read fails */
  err = cg_read_file(dir, &data, &len);
  assert_int_equal(err, CG_EIO);
  assert_string_equal(cg_file_strerror(err), strerror(EISDIR));
  assert_null(data);
  /* errors that are not the system's keep their own words */
  assert_string_equal(cg_file_strerror(CG_ENOT_FOUND), cg_strerror(CG_ENOT_FOUND));
}

static void test_keys_and_certificates_pass_the_reason_on(void **state) {
  (void)state;
  char path[128];
  path_of("missing.pem", path, sizeof path);
  struct cg_key *key = NULL;
  int err = cg_key_from_pem_file(path, &key);
  assert_int_equal(err, CG_EIO);
  assert_string_equal(cg_file_strerror(err), strerror(ENOENT));
  assert_null(key);
  uint8_t *der[2];
  struct der_view views[2];
  size_t n = 9;
  err = cg_certs_from_file(dir, der, views, 2, &n);
  assert_int_equal(err, CG_EIO);
  assert_string_equal(cg_file_strerror(err), strerror(EISDIR));
  assert_int_equal(n, 0);
  /* a file that reads but holds nothing of the kind */
  write_text("text.pem", "hello\n", 6);
  path_of("text.pem", path, sizeof path);
  assert_int_equal(cg_key_from_pem_file(path, &key), CG_ENOT_FOUND);
  assert_int_equal(cg_certs_from_file(path, der, views, 2, &n), CG_ENOT_FOUND);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_a_file_is_read_whole_with_a_nul_after_it, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_file_that_cannot_be_read_says_why, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keys_and_certificates_pass_the_reason_on, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
