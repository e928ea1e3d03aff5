/*
 * test_file.c - core/file.c: files are read whole, and a file that cannot be
 * opened or read says why (the errno text), never a bare "I/O error"; a key
 * file that group or others can access is refused as sshd refuses one, or
 * read after a warning where the configuration allows it.
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
#include "testutil.h"

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
  int err = cg_key_from_pem_file(path, CG_KEY_OWNER_ONLY, &key);
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
  assert_int_equal(cg_key_from_pem_file(path, CG_KEY_ANY_MODE, &key), CG_ENOT_FOUND);
  assert_int_equal(cg_certs_from_file(path, der, views, 2, &n), CG_ENOT_FOUND);
}

/* Reads name (mode bits) with the rule given; returns the result and leaves
 * what was logged in *log. */
static int read_key(const char *name, unsigned bits, enum cg_key_mode rule, const char **log) {
  char path[128];
  path_of(name, path, sizeof path);
  assert_int_equal(chmod(path, (mode_t)bits), 0);
  uint8_t *data;
  size_t len;
  tu_capture_stderr();
  int err = cg_read_key_file(path, rule, &data, &len);
  *log = tu_captured_stderr();
  if (err == 0) {
    assert_int_equal(len, 65);
    free(data);
  } else {
    assert_null(data);
  }
  return err;
}

static void test_a_key_file_group_or_others_can_access_is_refused(void **state) {
  (void)state;
  write_text("master.key", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
             65);
  char path[128], want[512];
  path_of("master.key", path, sizeof path);
  const char *log;
  static const unsigned open_modes[] = {0644, 0640, 0604, 0660, 0620, 0602, 0610, 0601, 0666};
  for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
    int err = read_key("master.key", open_modes[i], CG_KEY_OWNER_ONLY, &log);
    if (err != CG_EKEY_MODE)
      fail_msg("mode %04o: %d", open_modes[i], err);
    snprintf(want, sizeof want,
             " ERROR %s has mode %04o: group or others can access this key file; chmod 600 %s (or,"
             " to accept it, set [server] allow_readable_keys = true)\n",
             path, open_modes[i], path);
    if (strstr(log, want) == NULL)
      fail_msg("mode %04o logged:\n%swant:\n%s", open_modes[i], log, want);
    assert_string_equal(cg_file_strerror(err), "group or others can access this key file");
  }
  /* allowed: read, with a warning that still says how to protect it */
  assert_int_equal(read_key("master.key", 0644, CG_KEY_WARN_OTHERS, &log), 0);
  snprintf(want, sizeof want,
           " WARN %s has mode 0644: group or others can access this key file; [server] "
           "allow_readable_keys = true lets it pass (chmod 600 %s protects it)\n",
           path, path);
  assert_non_null(strstr(log, want));
  /* the owner's own bits are the owner's business; nothing is logged */
  static const unsigned closed_modes[] = {0600, 0400, 0700, 0500};
  for (size_t i = 0; i < sizeof closed_modes / sizeof closed_modes[0]; i++) {
    assert_int_equal(read_key("master.key", closed_modes[i], CG_KEY_OWNER_ONLY, &log), 0);
    assert_string_equal(log, "");
  }
  /* a file that is not a key: not looked at */
  assert_int_equal(read_key("master.key", 0644, CG_KEY_ANY_MODE, &log), 0);
  assert_string_equal(log, "");
}

/* PEM private keys are read by the same rule. */
static void test_a_pem_key_is_read_by_the_rule_given(void **state) {
  (void)state;
  struct cg_key *key;
  uint8_t der[512];
  size_t der_len;
  char pem[2048];
  size_t pem_len;
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  assert_int_equal(cg_key_private_pkcs8(key, der, sizeof der, &der_len), 0);
  cg_key_free(key);
  assert_int_equal(cg_pem_encode("PRIVATE KEY", der, der_len, pem, sizeof pem, &pem_len), 0);
  write_text("ca-key.pem", pem, pem_len);
  char path[128];
  path_of("ca-key.pem", path, sizeof path);
  assert_int_equal(chmod(path, 0644), 0);
  tu_capture_stderr();
  assert_int_equal(cg_key_from_pem_file(path, CG_KEY_OWNER_ONLY, &key), CG_EKEY_MODE);
  (void)tu_captured_stderr();
  assert_null(key);
  assert_int_equal(cg_key_from_pem_file(path, CG_KEY_ANY_MODE, &key), 0);
  cg_key_free(key);
  assert_int_equal(chmod(path, 0600), 0);
  assert_int_equal(cg_key_from_pem_file(path, CG_KEY_OWNER_ONLY, &key), 0);
  cg_key_free(key);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_a_file_is_read_whole_with_a_nul_after_it, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_file_that_cannot_be_read_says_why, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keys_and_certificates_pass_the_reason_on, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_key_file_group_or_others_can_access_is_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_pem_key_is_read_by_the_rule_given, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
