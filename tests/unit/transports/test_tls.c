/*
 * test_tls.c - the TLS server context and sessions of transports/tls.c
 * without a socket: what a context refuses to be made of, and a session fed
 * what is not TLS.  Handshakes with real clients (openssl s_client, openssl
 * cmp, curl) are in tests/interop/test_https.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/certbuild.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/oid.h"
#include "transports/tls.h"

static char cert_pem[4096], key_pem[1024], other_key_pem[1024];
static size_t cert_len, key_len, other_key_len;

static size_t key_to_pem(struct cg_key *k, char *out, size_t cap) {
  uint8_t der[512];
  size_t len, pem_len;
  assert_int_equal(cg_key_private_pkcs8(k, der, sizeof der, &len), 0);
  assert_int_equal(cg_pem_encode("PRIVATE KEY", der, len, out, cap, &pem_len), 0);
  return pem_len;
}

static int setup(void **state) {
  (void)state;
  struct cg_key *key = NULL, *other = NULL;
  uint8_t name[128], spki[256], der[2048];
  size_t name_len, spki_len, len;
  enum cg_oid_id t[] = {CG_OID_AT_CN};
  const char *v[] = {"127.0.0.1"};
  assert_int_equal(cg_key_generate(CG_KEY_EC, 256, &key), 0);
  assert_int_equal(cg_key_generate(CG_KEY_EC, 256, &other), 0);
  assert_int_equal(cg_cert_make_name(t, v, 1, name, sizeof name, &name_len), 0);
  assert_int_equal(cg_key_spki(key, spki, sizeof spki, &spki_len), 0);
  struct cert_spec s = {0};
  s.issuer = s.subject = (struct der_view){name, name_len};
  s.spki = (struct der_view){spki, spki_len};
  s.not_before = 1760000000;
  s.not_after = 4102444800;
  s.key_usage = CERT_KU_DIGITAL_SIGNATURE;
  assert_int_equal(cg_cert_random_serial(&s), 0);
  assert_int_equal(cg_cert_build(&s, key, der, sizeof der, &len), 0);
  assert_int_equal(cg_pem_encode("CERTIFICATE", der, len, cert_pem, sizeof cert_pem, &cert_len),
                   0);
  key_len = key_to_pem(key, key_pem, sizeof key_pem);
  other_key_len = key_to_pem(other, other_key_pem, sizeof other_key_pem);
  cg_key_free(key);
  cg_key_free(other);
  return 0;
}

static struct cg_tls_server_config config(const char *key, size_t len, const char *ciphers) {
  return (struct cg_tls_server_config){(const uint8_t *)cert_pem,
                                       cert_len,
                                       (const uint8_t *)key,
                                       len,
                                       ciphers,
                                       CG_TLS_CLIENT_NONE,
                                       NULL,
                                       0,
                                       NULL};
}

static void a_context_is_made_of_a_certificate_and_its_key(void **state) {
  (void)state;
  struct cg_tls_server *s = NULL;
  char why[160];
  struct cg_tls_server_config c = config(key_pem, key_len, NULL);
  assert_int_equal(cg_tls_server_new(&c, &s, why, sizeof why), 0);
  assert_non_null(s);
  /* reloaded with the same, and refused (kept as it was) with another key */
  assert_int_equal(cg_tls_server_reload(s, &c, why, sizeof why), 0);
  struct cg_tls_server_config wrong = config(other_key_pem, other_key_len, NULL);
  assert_int_equal(cg_tls_server_reload(s, &wrong, why, sizeof why), CG_EBAD_KEY);
  struct cg_tls *t = cg_tls_new(s);
  assert_non_null(t);
  assert_false(cg_tls_established(t));
  cg_tls_free(t);
  cg_tls_server_free(s);
}

static void what_a_context_refuses(void **state) {
  (void)state;
  struct cg_tls_server *s = NULL;
  char why[160];
  struct cg_tls_server_config c = config(other_key_pem, other_key_len, NULL);
  assert_int_equal(cg_tls_server_new(&c, &s, why, sizeof why), CG_EBAD_KEY);
  assert_null(s);
  assert_non_null(strstr(why, "not the certificate's"));
  c = config("not a key", 9, NULL);
  assert_int_equal(cg_tls_server_new(&c, &s, why, sizeof why), CG_EBAD_DATA);
  c = config(key_pem, key_len, "NO-SUCH-SUITE");
  assert_int_equal(cg_tls_server_new(&c, &s, why, sizeof why), CG_EINVAL);
  c = config(key_pem, key_len, NULL);
  c.cert_pem = (const uint8_t *)"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
  c.cert_len = strlen((const char *)c.cert_pem);
  assert_int_equal(cg_tls_server_new(&c, &s, why, sizeof why), CG_EBAD_DATA);
}

/* Plain HTTP where a ClientHello belongs: the session fails, says why, and
 * has an alert to send; nothing more is read from it. */
static void plain_http_fails_the_handshake_with_an_alert(void **state) {
  (void)state;
  struct cg_tls_server *s = NULL;
  char why[160];
  struct cg_tls_server_config c = config(key_pem, key_len, NULL);
  assert_int_equal(cg_tls_server_new(&c, &s, why, sizeof why), 0);
  struct cg_tls *t = cg_tls_new(s);
  static const char req[] = "POST /.well-known/cmp HTTP/1.1\r\nHost: x\r\n\r\n";
  uint8_t out[256];
  assert_int_equal(cg_tls_read(t, out, sizeof out), 0); /* nothing yet: wants more */
  assert_int_equal(cg_tls_feed(t, (const uint8_t *)req, sizeof req - 1), 0);
  assert_int_equal(cg_tls_read(t, out, sizeof out), CG_ETLS);
  assert_non_null(strstr(cg_tls_why(t), "handshake"));
  size_t len = 0;
  const uint8_t *alert = cg_tls_output(t, &len);
  assert_non_null(alert);
  assert_true(len >= 7 && alert[0] == 0x15); /* ContentType alert */
  cg_tls_output_sent(t);
  assert_int_equal(cg_tls_read(t, out, sizeof out), CG_ETLS);
  assert_false(cg_tls_readable(t));
  cg_tls_free(t);
  cg_tls_server_free(s);
}

/* A peer that sends more than a session holds unread is refused. */
static void unread_ciphertext_is_bounded(void **state) {
  (void)state;
  struct cg_tls_server *s = NULL;
  char why[160];
  struct cg_tls_server_config c = config(key_pem, key_len, NULL);
  assert_int_equal(cg_tls_server_new(&c, &s, why, sizeof why), 0);
  struct cg_tls *t = cg_tls_new(s);
  static uint8_t big[64 * 1024];
  assert_int_equal(cg_tls_feed(t, big, sizeof big), CG_ESPACE);
  cg_tls_free(t);
  cg_tls_server_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_context_is_made_of_a_certificate_and_its_key),
      cmocka_unit_test(what_a_context_refuses),
      cmocka_unit_test(plain_http_fails_the_handshake_with_an_alert),
      cmocka_unit_test(unread_ciphertext_is_bounded),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
