/*
 * Keys in a PKCS#11 token: RFC 7512 URIs, and a real SoftHSM2 token made in
 * a temporary directory (the test skips the token cases, saying so, where
 * SoftHSM2 is not installed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/token.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"

static char dir[64];
static char pin_path[128];
static bool have_softhsm;

static void test_uri_parse(void **state) {
  (void)state;
  struct cg_pkcs11_uri u;
  const char *why;
  assert_int_equal(cg_pkcs11_uri_parse("pkcs11:token=my%20hsm;object=ca;id=%01%ff?module-path="
                                       "/usr/lib/m.so&pin-source=file:///etc/pin",
                                       &u, &why),
                   0);
  assert_string_equal(u.token, "my hsm");
  assert_string_equal(u.object, "ca");
  assert_int_equal(u.id_len, 2);
  assert_int_equal(u.id[0], 1);
  assert_int_equal(u.id[1], 0xff);
  assert_string_equal(u.module, "/usr/lib/m.so");
  assert_string_equal(u.pin_source, "/etc/pin");
  assert_int_equal(u.slot, -1);

  assert_int_equal(cg_pkcs11_uri_parse("pkcs11:slot-id=3;id=%0a;type=private", &u, &why), 0);
  assert_int_equal(u.slot, 3);
  assert_int_equal(u.id_len, 1);

  static const char *const bad[] = {
      "file:ca.pem",                                               /* not a PKCS#11 URI */
      "pkcs11:object=ca",                                          /* no token */
      "pkcs11:token=t",                                            /* no key */
      "pkcs11:token=t;object=ca?pin-value=1234",                   /* a PIN in the text */
      "pkcs11:token=t;object=ca;serial=42",                        /* an attribute not matched */
      "pkcs11:token=t;id=%0",                                      /* a cut escape */
      "pkcs11:token=t;id=%zz",                                     /* not hex */
      "pkcs11:token=t;object=a%00b",                               /* a NUL in a label */
      "pkcs11:token=t;object=ca;type=public",                      /* not a private key */
      "pkcs11:token=t;object",                                     /* no value */
      "pkcs11:token=t;object=ca?pin-source=file:rel",              /* a file: URI is absolute */
      "pkcs11:token=0123456789012345678901234567890123;object=ca", /* a label over 32 */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why = NULL;
    assert_int_equal(cg_pkcs11_uri_parse(bad[i], &u, &why), CG_EINVAL);
    assert_non_null(why);
  }
  assert_true(cg_token_is_uri("pkcs11:token=t"));
  assert_false(cg_token_is_uri("ca-key.pem"));
}

static int setup_token(void **state) {
  (void)state;
  if (access(MODULE, R_OK) != 0 || system("command -v softhsm2-util >/dev/null") != 0)
    return 0;
  snprintf(dir, sizeof dir, "/tmp/cmpgw-token.XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  char conf[128], cmd[512];
  snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
  FILE *f = fopen(conf, "w");
  if (f == NULL)
    return -1;
  fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
  fclose(f);
  setenv("SOFTHSM2_CONF", conf, 1);
  snprintf(cmd, sizeof cmd,
           "softhsm2-util --init-token --free --label cmpgw-test --pin 4321 --so-pin 8765 "
           ">/dev/null");
  if (system(cmd) != 0)
    return -1;
  snprintf(pin_path, sizeof pin_path, "%s/pin", dir);
  f = fopen(pin_path, "w");
  if (f == NULL)
    return -1;
  fprintf(f, "4321\n");
  fclose(f);
  chmod(pin_path, 0600);
  have_softhsm = true;
  return 0;
}

static int teardown_token(void **state) {
  (void)state;
  cg_token_close_all();
  if (have_softhsm) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)system(cmd);
  }
  return 0;
}

static struct cg_token_defaults defaults(void) {
  return (struct cg_token_defaults){MODULE, pin_path, NULL, NULL, CG_KEY_OWNER_ONLY};
}

/* A key generated in the token signs; its signatures verify with its public
 * key; it is never written out. */
static void test_generate_and_sign(void **state) {
  (void)state;
  if (!have_softhsm)
    skip();
  struct cg_token_defaults d = defaults();
  struct cg_key *key = NULL, *pub = NULL;
  char why[256];
  int rc = cg_token_key_generate("pkcs11:token=cmpgw-test;object=k1;id=%01", &d, 256, &key, why,
                                 sizeof why);
  if (rc != 0)
    fail_msg("%s", why);
  assert_true(cg_key_is_private(key));
  int dev_id;
  const uint8_t *ref;
  size_t ref_len;
  bool is_label;
  assert_true(cg_key_device(key, &dev_id, &ref, &ref_len, &is_label));
  assert_false(is_label);
  assert_int_equal(ref_len, 1);

  uint8_t spki[256], sig[256], p8[512];
  size_t spki_len, sig_len, p8_len;
  assert_int_equal(cg_key_spki(key, spki, sizeof spki, &spki_len), 0);
  assert_int_equal(cg_key_from_spki(spki, spki_len, &pub), 0);
  struct cg_iov iov = {"to be signed", 12};
  assert_int_equal(cg_sign(key, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, sizeof sig, &sig_len),
                   0);
  assert_int_equal(cg_verify(pub, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, sig_len), 0);
  assert_int_equal(cg_key_private_pkcs8(key, p8, sizeof p8, &p8_len), CG_EINVAL);

  /* The same object again: refused, nothing replaced. */
  struct cg_key *again = NULL;
  assert_int_equal(cg_token_key_generate("pkcs11:token=cmpgw-test;object=k1;id=%01", &d, 256,
                                         &again, why, sizeof why),
                   CG_EEXISTS);
  assert_null(again);

  /* Opened by label, with its public key: it signs what the first verifies. */
  struct cg_key *by_label = NULL;
  assert_int_equal(cg_token_key_open("pkcs11:token=cmpgw-test;object=k1", &d, spki, spki_len,
                                     &by_label, why, sizeof why),
                   0);
  assert_int_equal(
      cg_sign(by_label, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, sizeof sig, &sig_len), 0);
  assert_int_equal(cg_verify(pub, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, sig_len), 0);
  cg_key_free(by_label);
  cg_key_free(pub);
  cg_key_free(key);
}

/* What stops a start: a key that is not the certificate's, an object that
 * is not there, a token that is not there, no PIN, no module. */
static void test_refusals(void **state) {
  (void)state;
  if (!have_softhsm)
    skip();
  struct cg_token_defaults d = defaults();
  struct cg_key *key = NULL, *other = NULL;
  char why[256];
  uint8_t spki[256];
  size_t spki_len;
  assert_int_equal(
      cg_token_key_generate("pkcs11:token=cmpgw-test;object=k2", &d, 384, &key, why, sizeof why),
      0);
  assert_int_equal(cg_key_generate_ec(384, &other), 0);
  assert_int_equal(cg_key_spki(other, spki, sizeof spki, &spki_len), 0);
  struct cg_key *k = NULL;
  assert_int_equal(cg_token_key_open("pkcs11:token=cmpgw-test;object=k2", &d, spki, spki_len, &k,
                                     why, sizeof why),
                   CG_EBAD_KEY);
  assert_null(k);
  assert_non_null(strstr(why, "not the certificate's"));
  assert_int_equal(cg_token_key_open("pkcs11:token=cmpgw-test;object=nothing", &d, spki, spki_len,
                                     &k, why, sizeof why),
                   CG_ENOT_FOUND);
  assert_int_equal(cg_token_key_open("pkcs11:token=no-such-token;object=k2", &d, spki, spki_len, &k,
                                     why, sizeof why),
                   CG_ENOT_FOUND);
  struct cg_token_defaults no_pin = {MODULE, NULL, "CMPGW_TEST_NO_SUCH_PIN", NULL,
                                     CG_KEY_OWNER_ONLY};
  assert_int_equal(cg_token_key_open("pkcs11:slot-id=77;object=k2", &no_pin, spki, spki_len, &k,
                                     why, sizeof why),
                   CG_EINVAL);
  assert_non_null(strstr(why, "CMPGW_TEST_NO_SUCH_PIN"));
  struct cg_token_defaults no_module = {NULL, pin_path, NULL, NULL, CG_KEY_OWNER_ONLY};
  assert_int_equal(cg_token_key_open("pkcs11:token=cmpgw-test;object=k2", &no_module, spki,
                                     spki_len, &k, why, sizeof why),
                   CG_EINVAL);
  assert_non_null(strstr(why, "module"));
  cg_key_free(other);
  cg_key_free(key);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_uri_parse),
      cmocka_unit_test(test_generate_and_sign),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, setup_token, teardown_token);
}
