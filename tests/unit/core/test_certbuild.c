/*
 * test_certbuild.c - the bounds of core/certbuild.h on what a request may
 * ask to be written into a certificate: each limit is inclusive, a request
 * one past it is CG_EBAD_TEMPLATE with a sentence naming the limit, and a
 * certificate at every limit at once is built.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/certbuild.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/x509.h"
#include "testutil.h"

static void subject_limits_are_inclusive(void **state) {
  (void)state;
  char why[96];
  size_t len;
  uint8_t *name = tu_name(CERT_MAX_RDNS, 1, false, &len);
  assert_int_equal(cg_cert_check_subject((struct der_view){name, len}, why, sizeof why), 0);
  free(name);
  name = tu_name(CERT_MAX_RDNS + 1, 1, false, &len);
  assert_int_equal(cg_cert_check_subject((struct der_view){name, len}, why, sizeof why),
                   CG_EBAD_TEMPLATE);
  assert_string_equal(why, "the subject has 65 RDNs; at most 64");
  free(name);

  /* One RDN of a common name: 21 octets of Name around a value of 256
   * octets or more (four length headers of 4 octets). */
  name = tu_name(1, CERT_MAX_NAME_LEN - 21, false, &len);
  assert_int_equal(len, CERT_MAX_NAME_LEN);
  assert_int_equal(cg_cert_check_subject((struct der_view){name, len}, why, sizeof why), 0);
  free(name);
  name = tu_name(1, CERT_MAX_NAME_LEN - 20, false, &len);
  assert_int_equal(cg_cert_check_subject((struct der_view){name, len}, NULL, 0), CG_EBAD_TEMPLATE);
  assert_int_equal(cg_cert_check_subject((struct der_view){name, len}, why, sizeof why),
                   CG_EBAD_TEMPLATE);
  assert_string_equal(why, "the subject is 1025 octets long; at most 1024");
  free(name);

  static const uint8_t empty_rdn[] = {0x30, 0x02, 0x31, 0x00};
  assert_int_equal(
      cg_cert_check_subject((struct der_view){empty_rdn, sizeof empty_rdn}, why, sizeof why),
      CG_EBAD_TEMPLATE);
  assert_string_equal(why, "the subject is not a DER Name");
}

static void subject_alt_name_limits_are_inclusive(void **state) {
  (void)state;
  char why[96];
  size_t len;
  uint8_t *san = tu_dns_names(CERT_MAX_SAN_NAMES, 20, &len);
  assert_int_equal(cg_cert_check_san_size((struct der_view){san, len}, why, sizeof why), 0);
  assert_int_equal(cg_cert_check_san((struct der_view){san, len}), 0);
  free(san);
  san = tu_dns_names(CERT_MAX_SAN_NAMES + 1, 20, &len);
  assert_int_equal(cg_cert_check_san_size((struct der_view){san, len}, why, sizeof why),
                   CG_EBAD_TEMPLATE);
  assert_string_equal(why, "the subjectAltName has 65 names; at most 64");
  assert_int_equal(cg_cert_check_san((struct der_view){san, len}), CG_EBAD_TEMPLATE);
  free(san);

  /* 58 names of 68 octets: 58 * 70 + 4 = 4064 octets; 59: 4134. */
  san = tu_dns_names(58, 68, &len);
  assert_true(len <= CERT_MAX_SAN_LEN);
  assert_int_equal(cg_cert_check_san((struct der_view){san, len}), 0);
  free(san);
  san = tu_dns_names(59, 68, &len);
  assert_int_equal(cg_cert_check_san_size((struct der_view){san, len}, why, sizeof why),
                   CG_EBAD_TEMPLATE);
  assert_string_equal(why, "the subjectAltName is 4134 octets long; at most 4096");
  assert_int_equal(cg_cert_check_san((struct der_view){san, len}), CG_EBAD_TEMPLATE);
  free(san);
}

/* A subject and a subjectAltName at their limits, an RSA-4096 key and an
 * RSA-4096 issuer with a long name of its own: the certificate stays far
 * below the local CA's 16 KB. */
static void certificate_at_every_limit_fits_sixteen_kilobytes(void **state) {
  (void)state;
  struct cg_key *issuer = NULL;
  uint8_t spki[1100], *cert = malloc(16384);
  size_t subject_len, issuer_len, san_len, len;
  uint8_t *subject = tu_name(1, CERT_MAX_NAME_LEN - 21, false, &subject_len);
  uint8_t *issuer_name = tu_name(1, CERT_MAX_NAME_LEN - 21, false, &issuer_len);
  uint8_t *san = tu_dns_names(58, 68, &san_len);
  assert_int_equal(cg_key_generate(CG_KEY_RSA, 4096, &issuer), 0);
  struct cert_spec s = {0};
  s.issuer = (struct der_view){issuer_name, issuer_len};
  s.subject = (struct der_view){subject, subject_len};
  s.spki = (struct der_view){spki, tu_rsa_spki(4096, false, 17, spki, sizeof spki)};
  s.not_before = 1750000000;
  s.not_after = s.not_before + 86400;
  s.key_usage = CERT_KU_DIGITAL_SIGNATURE | CERT_KU_KEY_ENCIPHERMENT;
  s.eku[s.n_eku++] = CG_OID_KP_CLIENT_AUTH;
  s.eku[s.n_eku++] = CG_OID_KP_SERVER_AUTH;
  uint8_t skid[20] = {0};
  s.issuer_skid = (struct der_view){skid, sizeof skid};
  s.san = (struct der_view){san, san_len};
  assert_int_equal(cg_cert_random_serial(&s), 0);
  assert_int_equal(cg_cert_build(&s, issuer, cert, 16384, &len), 0);
  assert_true(len < 8192);
  cg_key_free(issuer);
  free(cert);
  free(subject);
  free(issuer_name);
  free(san);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(subject_limits_are_inclusive),
      cmocka_unit_test(subject_alt_name_limits_are_inclusive),
      cmocka_unit_test(certificate_at_every_limit_fits_sixteen_kilobytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
