/*
 * test_cms.c - the key packages of central key generation (core/cms.h): the
 * shape of each kind of envelope, and the recipients and keys refused.
 * OpenSSL opens real ones in tests/interop/test_kga.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/certbuild.h"
#include "core/cms.h"
#include "core/err.h"
#include "core/oid.h"

static struct cg_key *ra_key, *ec_key, *rsa_key, *ed_key, *made;
static uint8_t ra_cert[2048], ec_cert[2048], rsa_cert[2048], ed_cert[2048];
static size_t ra_len, ec_len, rsa_len, ed_len;

static size_t cert_for(struct cg_key *key, const char *cn, uint8_t *out) {
  uint8_t name[128], spki[1200];
  size_t name_len, spki_len, len;
  enum cg_oid_id t[] = {CG_OID_AT_CN};
  const char *v[] = {cn};
  assert_int_equal(cg_cert_make_name(t, v, 1, name, sizeof name, &name_len), 0);
  assert_int_equal(cg_key_spki(key, spki, sizeof spki, &spki_len), 0);
  struct cert_spec s = {0};
  s.issuer = s.subject = (struct der_view){name, name_len};
  s.spki = (struct der_view){spki, spki_len};
  s.not_before = 1760000000;
  s.not_after = s.not_before + 86400;
  s.key_usage = CERT_KU_DIGITAL_SIGNATURE;
  assert_int_equal(cg_cert_random_serial(&s), 0);
  assert_int_equal(cg_cert_build(&s, ra_key, out, 2048, &len), 0);
  return len;
}

static int setup(void **state) {
  (void)state;
  assert_int_equal(cg_key_generate(CG_KEY_EC, 256, &ra_key), 0);
  assert_int_equal(cg_key_generate(CG_KEY_EC, 384, &ec_key), 0);
  assert_int_equal(cg_key_generate(CG_KEY_RSA, 2048, &rsa_key), 0);
  assert_int_equal(cg_key_generate(CG_KEY_ED25519, 0, &ed_key), 0);
  assert_int_equal(cg_key_generate(CG_KEY_EC, 256, &made), 0);
  ra_len = cert_for(ra_key, "RA", ra_cert);
  ec_len = cert_for(ec_key, "EC device", ec_cert);
  rsa_len = cert_for(rsa_key, "RSA device", rsa_cert);
  ed_len = cert_for(ed_key, "Ed25519 device", ed_cert);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  cg_key_free(ra_key);
  cg_key_free(ec_key);
  cg_key_free(rsa_key);
  cg_key_free(ed_key);
  cg_key_free(made);
  return 0;
}

static struct der_view chain[1];
static const struct cg_cms_signer *signer(void) {
  static struct cg_cms_signer s;
  chain[0] = (struct der_view){ra_cert, ra_len};
  s = (struct cg_cms_signer){ra_key, CG_SIG_ECDSA, CG_HASH_SHA256, chain, 1};
  return &s;
}

/* The EnvelopedData's version and the tag of its one RecipientInfo; the
 * content is id-signedData under aes256-CBC with a 16-octet IV. */
static unsigned shape(const uint8_t *env, size_t len, uint64_t *version) {
  struct der_reader r, e, set, eci, alg;
  struct der_tlv t, ri;
  cg_der_reader_init(&r, env, len);
  assert_int_equal(cg_der_enter(&r, DER_SEQUENCE, &e), 0);
  assert_true(cg_der_at_end(&r));
  assert_int_equal(cg_der_expect(&e, DER_INTEGER, &t), 0);
  assert_int_equal(cg_der_get_uint64(t.val, version), 0);
  assert_int_equal(cg_der_enter(&e, DER_SET, &set), 0);
  assert_int_equal(cg_der_next(&set, &ri), 0);
  assert_true(cg_der_at_end(&set));
  assert_int_equal(cg_der_enter(&e, DER_SEQUENCE, &eci), 0);
  assert_int_equal(cg_der_expect(&eci, DER_OID, &t), 0);
  assert_true(cg_der_view_eq(t.val, cg_oid(CG_OID_CMS_SIGNED_DATA)));
  assert_int_equal(cg_der_enter(&eci, DER_SEQUENCE, &alg), 0);
  assert_int_equal(cg_der_expect(&alg, DER_OID, &t), 0);
  assert_true(cg_der_view_eq(t.val, cg_oid(CG_OID_AES256_CBC)));
  assert_int_equal(cg_der_expect(&alg, DER_OCTET_STRING, &t), 0);
  assert_int_equal(t.val.len, 16);
  assert_int_equal(cg_der_expect(&eci, DER_CTX(0), &t), 0);
  assert_int_equal(t.val.len % 16, 0);
  assert_true(cg_der_at_end(&e));
  return ri.tag;
}

static void each_recipient_gets_its_kind_of_recipient_info(void **state) {
  (void)state;
  static const uint8_t pw[] = "s3cret";
  struct {
    struct cg_cms_recipient to;
    unsigned tag;
    uint64_t version;
  } cases[] = {
      {{CG_CMS_CERT, {ec_cert, ec_len}, NULL, 0, 0, CG_CMS_PWRI_KEK}, DER_CTX_CONS(1), 2},
      {{CG_CMS_CERT, {rsa_cert, rsa_len}, NULL, 0, 0, CG_CMS_PWRI_KEK}, DER_SEQUENCE, 2},
      {{CG_CMS_PASSWORD, {NULL, 0}, pw, 6, 1000, CG_CMS_PWRI_KEK}, DER_CTX_CONS(3), 3},
      {{CG_CMS_PASSWORD, {NULL, 0}, pw, 6, 1000, CG_CMS_AES_WRAP}, DER_CTX_CONS(3), 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t *env = NULL, *ci = NULL;
    size_t len, ci_len;
    uint64_t version;
    assert_int_equal(cg_cms_key_package(made, signer(), &cases[i].to, &env, &len), 0);
    assert_int_equal(shape(env, len, &version), cases[i].tag);
    assert_int_equal(version, cases[i].version);
    /* a ContentInfo around it, for files */
    assert_int_equal(cg_cms_enveloped_content_info((struct der_view){env, len}, &ci, &ci_len), 0);
    assert_true(ci_len > len && memcmp(ci + ci_len - len, env, len) == 0);
    free(env);
    free(ci);
  }
}

static void what_cannot_be_enveloped_is_refused(void **state) {
  (void)state;
  uint8_t *env = NULL;
  size_t len = 0;
  /* an Ed25519 key neither receives a key nor agrees on one */
  struct cg_cms_recipient ed = {CG_CMS_CERT, {ed_cert, ed_len}, NULL, 0, 0, CG_CMS_PWRI_KEK};
  assert_int_equal(cg_cms_key_package(made, signer(), &ed, &env, &len), CG_EBAD_ALG);
  /* a certificate that does not parse */
  static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
  struct cg_cms_recipient bad = {CG_CMS_CERT, {junk, sizeof junk}, NULL, 0, 0, CG_CMS_PWRI_KEK};
  assert_int_equal(cg_cms_key_package(made, signer(), &bad, &env, &len), CG_EDER);
  /* no password, no iterations */
  struct cg_cms_recipient nopw = {CG_CMS_PASSWORD, {NULL, 0}, NULL, 0, 1000, CG_CMS_PWRI_KEK};
  assert_int_equal(cg_cms_key_package(made, signer(), &nopw, &env, &len), CG_EINVAL);
  struct cg_cms_recipient noit = {CG_CMS_PASSWORD, {NULL, 0}, (const uint8_t *)"x", 1, 0,
                                  CG_CMS_PWRI_KEK};
  assert_int_equal(cg_cms_key_package(made, signer(), &noit, &env, &len), CG_EINVAL);
  /* a public key is no key package */
  struct cg_key *pub = NULL;
  uint8_t spki[256];
  size_t spki_len;
  assert_int_equal(cg_key_spki(made, spki, sizeof spki, &spki_len), 0);
  assert_int_equal(cg_key_from_spki(spki, spki_len, &pub), 0);
  struct cg_cms_recipient ok = {CG_CMS_CERT, {ec_cert, ec_len}, NULL, 0, 0, CG_CMS_PWRI_KEK};
  assert_int_equal(cg_cms_key_package(pub, signer(), &ok, &env, &len), CG_EINVAL);
  cg_key_free(pub);
  assert_null(env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(each_recipient_gets_its_kind_of_recipient_info),
      cmocka_unit_test(what_cannot_be_enveloped_is_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
