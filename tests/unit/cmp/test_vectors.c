/*
 * test_vectors.c - the CMP codec and protection checks against real
 * messages: those captured from OpenSSL 3.0 (tests/vectors/cmp, see its
 * README.md) and, when present beside the project, the RFC 9483 reference
 * RA's message flows (shared/vectors/lightweightcmpra).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cmp/msg.h"
#include "cmp/protect.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"
#include "testutil.h"

#define SECRET "vector-secret-1234"
#define WRONG "not-the-vector-secret"

static uint8_t *load(const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/cmp/%s", CG_TEST_VECTORS, name);
  uint8_t *p = tu_read_file(path, len);
  if (p == NULL)
    fail_msg("cannot read %s", path);
  return p;
}

/* Whole: decodes.  Every prefix (an exact-size copy, so ASan sees overreads)
 * and the whole with one trailing octet: refused. */
static void check_strict(const uint8_t *p, size_t len, struct cmp_msg *m) {
  assert_int_equal(cmp_msg_decode(p, len, m), 0);
  for (size_t n = 0; n < len; n++) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, p, n);
    struct cmp_msg t;
    assert_int_not_equal(cmp_msg_decode(copy, n, &t), 0);
    free(copy);
  }
  uint8_t *longer = malloc(len + 1);
  memcpy(longer, p, len);
  longer[len] = 0;
  struct cmp_msg t;
  assert_int_not_equal(cmp_msg_decode(longer, len + 1, &t), 0);
  free(longer);
}

static void check_mac_file(const char *name, int type, const char *secret, const char *wrong) {
  size_t len;
  uint8_t *p = load(name, &len);
  struct cmp_msg m;
  check_strict(p, len, &m);
  assert_int_equal(m.type, type);
  assert_int_equal(m.hdr.pvno, 2);
  assert_int_equal(m.hdr.transaction_id.len, 16);
  assert_int_equal(m.hdr.sender_nonce.len, 16);
  assert_int_equal(cmp_pbm_verify(&m, 100000, (const uint8_t *)secret, strlen(secret)), 0);
  assert_int_equal(cmp_pbm_verify(&m, 100000, (const uint8_t *)wrong, strlen(wrong)),
                   CG_EBAD_MAC);
  /* The iteration cap is enforced: OpenSSL used 500. */
  assert_int_equal(cmp_pbm_verify(&m, 499, (const uint8_t *)secret, strlen(secret)), CG_EBAD_ALG);
  free(p);
}

static void test_openssl_exchange_decodes_and_macs_verify(void **state) {
  (void)state;
  check_mac_file("ir.der", CMP_IR, SECRET, WRONG);
  check_mac_file("ip.der", CMP_IP, SECRET, WRONG);
  check_mac_file("certConf.der", CMP_CERTCONF, SECRET, WRONG);
  check_mac_file("pkiConf.der", CMP_PKICONF, SECRET, WRONG);
  check_mac_file("ir-rsa.der", CMP_IR, SECRET, WRONG);
  check_mac_file("ip-rsa.der", CMP_IP, SECRET, WRONG);
  check_mac_file("certConf-rsa.der", CMP_CERTCONF, SECRET, WRONG);
  check_mac_file("error.der", CMP_ERROR, SECRET, WRONG);
  check_mac_file("ir-badmac.der", CMP_IR, WRONG, SECRET);
}

static void test_openssl_ir_fields_and_pop(void **state) {
  (void)state;
  const char *files[] = {"ir.der", "ir-rsa.der"};
  const char *subjects[] = {"CN=vector-ec", "CN=vector-rsa"};
  for (int i = 0; i < 2; i++) {
    size_t len;
    uint8_t *p = load(files[i], &len);
    struct cmp_msg m;
    assert_int_equal(cmp_msg_decode(p, len, &m), 0);
    assert_true(cg_der_view_is(m.hdr.sender_kid, (const uint8_t *)"vector-ref", 10));
    assert_int_equal(m.u.cert_req.n, 1);
    const struct cmp_cert_req *cr = &m.u.cert_req.req[0];
    assert_int_equal(cr->cert_req_id, 0);
    assert_int_equal(cr->pop, CMP_POP_SIGNATURE);
    char name[256];
    assert_int_equal(cg_name_to_string(cr->tmpl.subject, name, sizeof name), 0);
    assert_string_equal(name, subjects[i]);
    uint8_t spki[1024];
    struct der_writer w;
    size_t spki_len;
    cg_der_writer_init(&w, spki, sizeof spki);
    cmp_write_template_spki(&w, &cr->tmpl);
    assert_int_equal(cg_der_writer_finish(&w, &spki_len), 0);
    assert_int_equal(cmp_verify_pop(cr, spki, spki_len), 0);
    /* A POP over other bytes fails. */
    struct cmp_cert_req bad = *cr;
    bad.cert_request.len--;
    assert_int_equal(cmp_verify_pop(&bad, spki, spki_len), CG_EBAD_POP);
    free(p);
  }
}

static void test_openssl_ip_carries_the_certificate_and_ca_pubs(void **state) {
  (void)state;
  size_t len, cert_len;
  uint8_t *p = load("ip.der", &len);
  char path[1024];
  snprintf(path, sizeof path, "%s/cmp/dev-ec.pem", CG_TEST_VECTORS);
  uint8_t *pem = tu_read_file(path, &cert_len);
  assert_non_null(pem);
  uint8_t der[4096];
  size_t der_len, used;
  assert_int_equal(cg_pem_decode("CERTIFICATE", (const char *)pem, cert_len, der, sizeof der,
                                 &der_len, &used),
                   0);
  struct cmp_msg m;
  assert_int_equal(cmp_msg_decode(p, len, &m), 0);
  assert_int_equal(m.u.cert_rep.n, 1);
  assert_int_equal(m.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  assert_true(cg_der_view_is(m.u.cert_rep.rsp[0].cert, der, der_len));
  assert_int_equal(m.u.cert_rep.n_ca_pubs, 1);
  free(p);
  free(pem);
}

static void test_openssl_error_bodies(void **state) {
  (void)state;
  size_t len;
  uint8_t *p = load("error-signed.der", &len);
  struct cmp_msg m;
  check_strict(p, len, &m);
  assert_int_equal(m.type, CMP_ERROR);
  assert_int_equal(m.u.error.status.status, CMP_REJECTION);
  assert_int_equal(m.u.error.status.fail_info, 1u << CG_FI_BAD_REQUEST);
  /* Signed by the certificate in extraCerts[0]. */
  struct cg_x509 signer;
  assert_int_equal(m.n_extra_certs, 1);
  assert_int_equal(cg_x509_parse(m.extra_certs[0].p, m.extra_certs[0].len, &signer), 0);
  uint8_t seq[6];
  struct cg_iov iov[2];
  cmp_msg_protected_part(&m, seq, iov);
  assert_int_equal(cmp_verify_sig(m.hdr.protection_alg, signer.spki, iov, 2, m.protection), 0);
  m.protection.len--;
  assert_int_not_equal(cmp_verify_sig(m.hdr.protection_alg, signer.spki, iov, 2, m.protection),
                       0);
  free(p);
}

/* Every message of the reference RA decodes strictly; the signed ones verify
 * with their extraCerts[0]. */
static void test_lightweight_cmp_ra_flows(void **state) {
  (void)state;
  char root[1024];
  snprintf(root, sizeof root, "%s/lightweightcmpra", CG_SHARED_VECTORS);
  DIR *top = opendir(root);
  if (top == NULL)
    skip();
  struct dirent *flow;
  int decoded = 0, verified = 0, pbmac1 = 0;
  while ((flow = readdir(top)) != NULL) {
    if (flow->d_name[0] == '.')
      continue;
    char dir[1400];
    snprintf(dir, sizeof dir, "%s/%s", root, flow->d_name);
    DIR *d = opendir(dir);
    if (d == NULL)
      continue;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      size_t n = strlen(e->d_name);
      if (n < 5 || strcmp(e->d_name + n - 4, ".PKI") != 0)
        continue;
      char path[2400];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      size_t len;
      uint8_t *p = tu_read_file(path, &len);
      assert_non_null(p);
      struct cmp_msg m;
      if (cmp_msg_decode(p, len, &m) != 0)
        fail_msg("%s does not decode", path);
      check_strict(p, len, &m);
      decoded++;
      enum cg_oid_id alg = cg_oid_lookup(m.hdr.protection_oid);
      if (alg == CG_OID_PBMAC1) {
        pbmac1++;
      } else {
        struct cg_x509 signer;
        uint8_t seq[6];
        struct cg_iov iov[2];
        assert_true(m.n_extra_certs >= 1);
        assert_int_equal(cg_x509_parse(m.extra_certs[0].p, m.extra_certs[0].len, &signer), 0);
        cmp_msg_protected_part(&m, seq, iov);
        if (cmp_verify_sig(m.hdr.protection_alg, signer.spki, iov, 2, m.protection) != 0)
          fail_msg("%s: signature does not verify", path);
        verified++;
      }
      free(p);
    }
    closedir(d);
  }
  closedir(top);
  assert_int_equal(decoded, 36);
  assert_int_equal(verified, 34);
  assert_int_equal(pbmac1, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_openssl_exchange_decodes_and_macs_verify),
      cmocka_unit_test(test_openssl_ir_fields_and_pop),
      cmocka_unit_test(test_openssl_ip_carries_the_certificate_and_ca_pubs),
      cmocka_unit_test(test_openssl_error_bodies),
      cmocka_unit_test(test_lightweight_cmp_ra_flows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
