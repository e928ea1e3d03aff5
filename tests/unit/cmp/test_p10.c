/*
 * test_p10.c - PKCS#10 decoding and self-signature checks, on requests made
 * by `openssl req -new` (tests/vectors/p10, see its regen.sh: EC P-256 with a
 * challengePassword and a subjectAltName, RSA-2048 with no attribute,
 * Ed25519 with a keyUsage request) and on small hand-built requests for the
 * rules real requests do not break.  The expected values come from the
 * `openssl req -text` dumps beside the vectors (NAME.txt), and each SPKI from
 * `openssl pkey -pubout` of the key saved beside (NAME.spki.der).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/p10.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"
#include "testutil.h"

static uint8_t *load(const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/p10/%s", CG_TEST_VECTORS, name);
  uint8_t *p = tu_read_file(path, len);
  assert_non_null(p);
  return p;
}

/* An exact-size heap copy of p (plus extra trailing octets of value 0), so
 * that ASan sees any read past the end. */
static uint8_t *copy(const uint8_t *p, size_t len, size_t extra) {
  uint8_t *c = malloc(len + extra > 0 ? len + extra : 1);
  assert_non_null(c);
  memcpy(c, p, len);
  memset(c + len, 0, extra);
  return c;
}

static void assert_view_is_str(struct der_view v, const char *s) {
  assert_non_null(v.p);
  assert_int_equal(v.len, strlen(s));
  assert_memory_equal(v.p, s, v.len);
}

/* Decodes a vector from an exact-size copy, checks what every request must
 * satisfy (views inside the input, SPKI equal to the key's, signature
 * valid), and returns the copy (to free) with *req filled. */
static uint8_t *decode_vector(const char *name, struct cmp_p10 *req, size_t *len) {
  char file[64];
  size_t raw_len, spki_len;
  snprintf(file, sizeof file, "%s.der", name);
  uint8_t *raw = load(file, &raw_len);
  uint8_t *p = copy(raw, raw_len, 0);
  free(raw);
  assert_int_equal(cmp_p10_decode(p, raw_len, req), 0);
  assert_ptr_equal(req->raw.p, p);
  assert_int_equal(req->raw.len, raw_len);
  /* The info is the first element inside the outer SEQUENCE. */
  assert_true(req->info.p > p && req->info.p + req->info.len < p + raw_len);
  assert_int_equal(req->info.p[0], DER_SEQUENCE);

  snprintf(file, sizeof file, "%s.spki.der", name);
  uint8_t *spki = load(file, &spki_len);
  assert_int_equal(req->spki.len, spki_len);
  assert_memory_equal(req->spki.p, spki, spki_len);
  free(spki);

  assert_int_equal(cmp_p10_verify(req), 0);
  *len = raw_len;
  return p;
}

static void test_ec_request_gives_subject_challenge_and_san(void **state) {
  (void)state;
  struct cmp_p10 req;
  size_t len;
  char name[256];
  uint8_t *p = decode_vector("ec", &req, &len);

  /* ec.txt: "Subject: C = DE, O = cmpgw test, CN = p10 ec device". */
  assert_int_equal(cg_name_to_string(req.subject, name, sizeof name), 0);
  assert_string_equal(name, "CN=p10 ec device,O=cmpgw test,C=DE");
  /* ec.txt: "challengePassword :p10-challenge-1234" (a UTF8String). */
  assert_view_is_str(req.challenge_password, "p10-challenge-1234");
  /* ec.txt: "X509v3 Subject Alternative Name: DNS:device.example.com,
   * IP Address:192.0.2.7", not critical. */
  struct der_view san;
  bool critical = true;
  assert_non_null(req.extensions.p);
  assert_int_equal(cg_x509_find_ext(req.extensions, cg_oid(CG_OID_EXT_SAN), &san, &critical), 1);
  assert_false(critical);
  static const uint8_t san_der[] = {0x30, 0x1a, 0x82, 0x12, 'd', 'e', 'v', 'i', 'c', 'e', '.',
                                    'e',  'x',  'a',  'm',  'p', 'l', 'e', '.', 'c', 'o', 'm',
                                    0x87, 0x04, 0xc0, 0x00, 0x02, 0x07};
  assert_int_equal(san.len, sizeof san_der);
  assert_memory_equal(san.p, san_der, sizeof san_der);
  /* Both lie inside the attributes. */
  const uint8_t *a0 = req.attributes.p, *a1 = a0 + req.attributes.len;
  assert_true(req.challenge_password.p > a0 && req.challenge_password.p < a1);
  assert_true(req.extensions.p > a0 && req.extensions.p + req.extensions.len <= a1);
  static const uint8_t ecdsa_sha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                         0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
  assert_int_equal(req.sig_alg.len, sizeof ecdsa_sha256);
  assert_memory_equal(req.sig_alg.p, ecdsa_sha256, sizeof ecdsa_sha256);
  free(p);
}

static void test_rsa_request_without_attributes(void **state) {
  (void)state;
  struct cmp_p10 req;
  size_t len;
  char name[256];
  uint8_t *p = decode_vector("rsa", &req, &len);
  assert_int_equal(cg_name_to_string(req.subject, name, sizeof name), 0);
  assert_string_equal(name, "CN=p10 rsa device,O=cmpgw test");
  /* rsa.der has an empty [0]: no challenge, no extensions. */
  assert_int_equal(req.attributes.len, 0);
  assert_null(req.challenge_password.p);
  assert_null(req.extensions.p);
  assert_int_equal(req.signature.len, 256); /* RSA-2048 */
  free(p);
}

static void test_ed25519_request_with_key_usage_and_utf8_subject(void **state) {
  (void)state;
  struct cmp_p10 req;
  size_t len;
  char name[256];
  uint8_t *p = decode_vector("ed25519", &req, &len);
  /* ed25519.txt: "Subject: CN = p10 ed25519 Ger\C3\A4t". */
  assert_int_equal(cg_name_to_string(req.subject, name, sizeof name), 0);
  assert_string_equal(name, "CN=p10 ed25519 Ger\xc3\xa4t");
  assert_null(req.challenge_password.p);
  /* ed25519.txt: "X509v3 Key Usage: critical, Digital Signature". */
  struct der_view ku;
  bool critical = false;
  assert_int_equal(cg_x509_find_ext(req.extensions, cg_oid(CG_OID_EXT_KEY_USAGE), &ku, &critical),
                   1);
  assert_true(critical);
  static const uint8_t ku_der[] = {0x03, 0x02, 0x07, 0x80};
  assert_int_equal(ku.len, sizeof ku_der);
  assert_memory_equal(ku.p, ku_der, sizeof ku_der);
  assert_int_equal(cg_x509_find_ext(req.extensions, cg_oid(CG_OID_EXT_SAN), &ku, &critical), 0);
  assert_int_equal(req.signature.len, 64);
  free(p);
}

static const char *const vectors[] = {"ec", "rsa", "ed25519"};

static void test_flipped_signature_octet_is_bad_pop(void **state) {
  (void)state;
  for (size_t v = 0; v < sizeof vectors / sizeof vectors[0]; v++) {
    struct cmp_p10 req;
    size_t len;
    uint8_t *p = decode_vector(vectors[v], &req, &len);
    /* The last octet of the signature is the last octet of the request. */
    p[len - 1] ^= 0x01;
    assert_int_equal(cmp_p10_decode(p, len, &req), 0);
    assert_int_equal(cmp_p10_verify(&req), CG_EBAD_POP);
    free(p);
  }
}

static void test_flipped_octet_in_signed_info_is_bad_pop(void **state) {
  (void)state;
  static const char *const cn[] = {"p10 ec device", "p10 rsa device", "p10 ed25519"};
  for (size_t v = 0; v < sizeof vectors / sizeof vectors[0]; v++) {
    struct cmp_p10 req;
    size_t len;
    uint8_t *p = decode_vector(vectors[v], &req, &len);
    /* Change one letter of the common name: still a valid request, but not
     * the one that was signed. */
    size_t n = strlen(cn[v]);
    uint8_t *at = NULL;
    for (size_t i = 0; i + n <= req.info.len && at == NULL; i++)
      if (memcmp(req.info.p + i, cn[v], n) == 0)
        at = (uint8_t *)req.info.p + i;
    assert_non_null(at);
    at[0] ^= 0x20; /* 'p' -> 'P' */
    assert_int_equal(cmp_p10_decode(p, len, &req), 0);
    assert_int_equal(cmp_p10_verify(&req), CG_EBAD_POP);
    free(p);
  }
}

static void test_every_prefix_and_a_trailing_octet_are_refused(void **state) {
  (void)state;
  for (size_t v = 0; v < sizeof vectors / sizeof vectors[0]; v++) {
    struct cmp_p10 req;
    char file[64];
    size_t len;
    snprintf(file, sizeof file, "%s.der", vectors[v]);
    uint8_t *raw = load(file, &len);
    for (size_t n = 0; n < len; n++) {
      uint8_t *p = copy(raw, n, 0);
      int err = cmp_p10_decode(p, n, &req);
      assert_int_equal(err, CG_EDER);
      assert_null(req.raw.p);
      free(p);
    }
    uint8_t *p = copy(raw, len, 1);
    assert_int_equal(cmp_p10_decode(p, len + 1, &req), CG_EDER);
    assert_int_equal(cmp_p10_decode(p, len, &req), 0);
    free(p);
    free(raw);
  }
}

static void test_every_octet_changed_gives_a_defined_result(void **state) {
  (void)state;
  for (size_t v = 0; v < sizeof vectors / sizeof vectors[0]; v++) {
    char file[64];
    size_t len;
    snprintf(file, sizeof file, "%s.der", vectors[v]);
    uint8_t *raw = load(file, &len);
    for (size_t i = 0; i < len; i++) {
      struct cmp_p10 req;
      uint8_t *p = copy(raw, len, 0);
      p[i] ^= 0xff;
      int err = cmp_p10_decode(p, len, &req);
      assert_true(err == 0 || err == CG_EDER || err == CG_EBAD_DATA || err == CG_EDER_DEPTH);
      /* Whatever still decodes was not signed as it stands. */
      if (err == 0)
        assert_int_equal(cmp_p10_verify(&req), CG_EBAD_POP);
      free(p);
    }
    free(raw);
  }
}

/* ---------------------------------------------------------------------- */
/* Hand-built requests                                                     */

/* One attribute: a type and the contents of its values SET (a run of whole
 * TLVs, possibly empty). */
struct attr {
  enum cg_oid_id type;
  const uint8_t *values;
  size_t len;
};

/* A CertificationRequest with the given version, attributes (attrs NULL:
 * no [0] element at all) and signature BIT STRING contents (the unused-bits
 * octet first), a one-RDN subject and the EC vector's key.  The signature is
 * not a real one: these requests exercise the decoder only. */
static size_t build(uint8_t *out, size_t cap, uint64_t version, const struct attr *attrs,
                    size_t n, const uint8_t *sig, size_t sig_len) {
  size_t spki_len, len;
  uint8_t *spki = load("ec.spki.der", &spki_len);
  struct der_writer w;
  cg_der_writer_init(&w, out, cap);
  size_t req = cg_der_begin(&w, DER_SEQUENCE);
  size_t info = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, version);
  size_t name = cg_der_begin(&w, DER_SEQUENCE);
  size_t rdn = cg_der_begin(&w, DER_SET);
  size_t atv = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, CG_OID_AT_CN);
  cg_der_put_tlv(&w, DER_UTF8_STRING, "hand", 4);
  cg_der_end(&w, atv);
  cg_der_end(&w, rdn);
  cg_der_end(&w, name);
  cg_der_put_raw(&w, spki, spki_len);
  if (attrs != NULL) {
    size_t set = cg_der_begin(&w, DER_CTX_CONS(0));
    for (size_t i = 0; i < n; i++) {
      size_t a = cg_der_begin(&w, DER_SEQUENCE);
      cg_der_put_oid(&w, attrs[i].type);
      cg_der_put_tlv(&w, DER_SET, attrs[i].values, attrs[i].len);
      cg_der_end(&w, a);
    }
    cg_der_end(&w, set);
  }
  cg_der_end(&w, info);
  size_t alg = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, CG_OID_ECDSA_SHA256);
  cg_der_end(&w, alg);
  cg_der_put_tlv(&w, DER_BIT_STRING, sig, sig_len);
  cg_der_end(&w, req);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  free(spki);
  return len;
}

static const struct attr no_attrs[1];
static const uint8_t fake_sig[] = {0x00, 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};
static const uint8_t pw_utf8[] = {0x0c, 0x03, 'a', 'b', 'c'};
static const uint8_t pw_two[] = {0x0c, 0x03, 'a', 'b', 'c', 0x13, 0x03, 'd', 'e', 'f'};
/* Extensions { Extension { subjectAltName, OCTET STRING { SEQUENCE {} } } } */
static const uint8_t ext_san[] = {0x30, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55,
                                  0x1d, 0x11, 0x04, 0x02, 0x30, 0x00};

/* Builds the request and decodes it from an exact-size heap copy, which
 * lives until the next call (req's views point into it). */
static uint8_t *built;

static int decode_built(uint64_t version, const struct attr *attrs, size_t n, const uint8_t *sig,
                        size_t sig_len, struct cmp_p10 *req) {
  uint8_t buf[1024];
  size_t len = build(buf, sizeof buf, version, attrs, n, sig, sig_len);
  free(built);
  built = copy(buf, len, 0);
  return cmp_p10_decode(built, len, req);
}

static int free_built(void **state) {
  (void)state;
  free(built);
  built = NULL;
  return 0;
}

static void test_hand_built_request_decodes(void **state) {
  (void)state;
  struct cmp_p10 req;
  const struct attr ok[] = {{CG_OID_CHALLENGE_PASSWORD, pw_utf8, sizeof pw_utf8},
                            {CG_OID_EXTENSION_REQUEST, ext_san, sizeof ext_san},
                            {CG_OID_AT_CN, pw_two, sizeof pw_two}};
  assert_int_equal(decode_built(0, ok, 3, fake_sig, sizeof fake_sig, &req), 0);
  assert_int_equal(req.challenge_password.len, 3);
  assert_int_equal(req.extensions.len, sizeof ext_san - 2);
  /* Every DirectoryString type is a valid challengePassword. */
  static const unsigned string_tags[] = {DER_UTF8_STRING, DER_PRINTABLE_STRING, DER_IA5_STRING,
                                         DER_T61_STRING, DER_BMP_STRING};
  for (size_t i = 0; i < sizeof string_tags / sizeof string_tags[0]; i++) {
    const uint8_t pw[] = {(uint8_t)string_tags[i], 0x02, 0x00, 'x'};
    const struct attr a = {CG_OID_CHALLENGE_PASSWORD, pw, sizeof pw};
    assert_int_equal(decode_built(0, &a, 1, fake_sig, sizeof fake_sig, &req), 0);
    assert_int_equal(req.challenge_password.len, 2);
    assert_int_equal(req.challenge_password.p[1], 'x');
  }
}

static void test_version_other_than_v1_is_bad_data(void **state) {
  (void)state;
  struct cmp_p10 req;
  assert_int_equal(decode_built(1, no_attrs, 0, fake_sig, sizeof fake_sig, &req), CG_EBAD_DATA);
  assert_int_equal(decode_built(2, no_attrs, 0, fake_sig, sizeof fake_sig, &req), CG_EBAD_DATA);
  assert_int_equal(decode_built(0, no_attrs, 0, fake_sig, sizeof fake_sig, &req), 0);
}

static void test_attribute_given_twice_is_bad_data(void **state) {
  (void)state;
  struct cmp_p10 req;
  const struct attr two_pw[] = {{CG_OID_CHALLENGE_PASSWORD, pw_utf8, sizeof pw_utf8},
                                {CG_OID_CHALLENGE_PASSWORD, pw_utf8, sizeof pw_utf8}};
  assert_int_equal(decode_built(0, two_pw, 2, fake_sig, sizeof fake_sig, &req), CG_EBAD_DATA);
  const struct attr two_ext[] = {{CG_OID_EXTENSION_REQUEST, ext_san, sizeof ext_san},
                                 {CG_OID_EXTENSION_REQUEST, ext_san, sizeof ext_san}};
  assert_int_equal(decode_built(0, two_ext, 2, fake_sig, sizeof fake_sig, &req), CG_EBAD_DATA);
  /* Unknown types too. */
  const struct attr two_other[] = {{CG_OID_AT_CN, pw_utf8, sizeof pw_utf8},
                                   {CG_OID_AT_CN, pw_utf8, sizeof pw_utf8}};
  assert_int_equal(decode_built(0, two_other, 2, fake_sig, sizeof fake_sig, &req), CG_EBAD_DATA);
}

static void test_single_valued_attribute_with_two_values_is_bad_data(void **state) {
  (void)state;
  struct cmp_p10 req;
  const struct attr pw[] = {{CG_OID_CHALLENGE_PASSWORD, pw_two, sizeof pw_two}};
  assert_int_equal(decode_built(0, pw, 1, fake_sig, sizeof fake_sig, &req), CG_EBAD_DATA);
  uint8_t ext_two[2 * sizeof ext_san];
  memcpy(ext_two, ext_san, sizeof ext_san);
  memcpy(ext_two + sizeof ext_san, ext_san, sizeof ext_san);
  const struct attr ext[] = {{CG_OID_EXTENSION_REQUEST, ext_two, sizeof ext_two}};
  assert_int_equal(decode_built(0, ext, 1, fake_sig, sizeof fake_sig, &req), CG_EBAD_DATA);
  /* Any other attribute may have several values. */
  const struct attr other[] = {{CG_OID_AT_CN, pw_two, sizeof pw_two}};
  assert_int_equal(decode_built(0, other, 1, fake_sig, sizeof fake_sig, &req), 0);
}

static void test_empty_attribute_value_set_is_bad_data(void **state) {
  (void)state;
  struct cmp_p10 req;
  static const enum cg_oid_id types[] = {CG_OID_CHALLENGE_PASSWORD, CG_OID_EXTENSION_REQUEST,
                                         CG_OID_AT_CN};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    const struct attr a = {types[i], NULL, 0};
    assert_int_equal(decode_built(0, &a, 1, fake_sig, sizeof fake_sig, &req), CG_EBAD_DATA);
  }
}

static void test_attribute_value_of_wrong_type_is_bad_data(void **state) {
  (void)state;
  struct cmp_p10 req;
  static const uint8_t integer[] = {0x02, 0x01, 0x07};
  static const uint8_t universal[] = {0x1c, 0x04, 0, 0, 0, 'x'};
  static const uint8_t empty_pw[] = {0x0c, 0x00};
  const struct attr bad[] = {{CG_OID_CHALLENGE_PASSWORD, integer, sizeof integer},
                             {CG_OID_CHALLENGE_PASSWORD, universal, sizeof universal},
                             {CG_OID_CHALLENGE_PASSWORD, empty_pw, sizeof empty_pw},
                             {CG_OID_EXTENSION_REQUEST, pw_utf8, sizeof pw_utf8},
                             {CG_OID_EXTENSION_REQUEST, integer, sizeof integer}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(decode_built(0, &bad[i], 1, fake_sig, sizeof fake_sig, &req), CG_EBAD_DATA);
}

static void test_extension_request_rules(void **state) {
  (void)state;
  struct cmp_p10 req;
  /* The same extension twice. */
  static const uint8_t dup[] = {0x30, 0x16, 0x30, 0x09, 0x06, 0x03, 0x55, 0x1d, 0x11, 0x04,
                                0x02, 0x30, 0x00, 0x30, 0x09, 0x06, 0x03, 0x55, 0x1d, 0x11,
                                0x04, 0x02, 0x30, 0x00};
  const struct attr a_dup = {CG_OID_EXTENSION_REQUEST, dup, sizeof dup};
  assert_int_equal(decode_built(0, &a_dup, 1, fake_sig, sizeof fake_sig, &req), CG_EBAD_DATA);
  /* critical FALSE written out is BER, not DER. */
  static const uint8_t crit_false[] = {0x30, 0x0e, 0x30, 0x0c, 0x06, 0x03, 0x55, 0x1d,
                                       0x11, 0x01, 0x01, 0x00, 0x04, 0x02, 0x30, 0x00};
  const struct attr a_false = {CG_OID_EXTENSION_REQUEST, crit_false, sizeof crit_false};
  assert_int_equal(decode_built(0, &a_false, 1, fake_sig, sizeof fake_sig, &req), CG_EDER);
  /* An Extension without extnValue. */
  static const uint8_t no_value[] = {0x30, 0x07, 0x30, 0x05, 0x06, 0x03, 0x55, 0x1d, 0x11};
  const struct attr a_novalue = {CG_OID_EXTENSION_REQUEST, no_value, sizeof no_value};
  assert_int_equal(decode_built(0, &a_novalue, 1, fake_sig, sizeof fake_sig, &req), CG_EDER);
  /* An empty Extensions asks for nothing and is accepted. */
  static const uint8_t none[] = {0x30, 0x00};
  const struct attr a_none = {CG_OID_EXTENSION_REQUEST, none, sizeof none};
  assert_int_equal(decode_built(0, &a_none, 1, fake_sig, sizeof fake_sig, &req), 0);
  assert_non_null(req.extensions.p);
  assert_int_equal(req.extensions.len, 0);
}

static void test_signature_with_unused_bits_is_bad_data(void **state) {
  (void)state;
  struct cmp_p10 req;
  uint8_t sig[sizeof fake_sig];
  memcpy(sig, fake_sig, sizeof sig);
  sig[0] = 1;
  sig[sizeof sig - 1] = 0x02; /* the unused bit is zero, as DER wants */
  assert_int_equal(decode_built(0, no_attrs, 0, sig, sizeof sig, &req), CG_EBAD_DATA);
}

static void test_missing_attributes_element_is_malformed(void **state) {
  (void)state;
  struct cmp_p10 req;
  /* RFC 2986 §4.1: attributes is not OPTIONAL (an empty [0] is "none"). */
  assert_int_equal(decode_built(0, NULL, 0, fake_sig, sizeof fake_sig, &req), CG_EDER);
  assert_int_equal(decode_built(0, no_attrs, 0, fake_sig, sizeof fake_sig, &req), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ec_request_gives_subject_challenge_and_san),
      cmocka_unit_test(test_rsa_request_without_attributes),
      cmocka_unit_test(test_ed25519_request_with_key_usage_and_utf8_subject),
      cmocka_unit_test(test_flipped_signature_octet_is_bad_pop),
      cmocka_unit_test(test_flipped_octet_in_signed_info_is_bad_pop),
      cmocka_unit_test(test_every_prefix_and_a_trailing_octet_are_refused),
      cmocka_unit_test(test_every_octet_changed_gives_a_defined_result),
      cmocka_unit_test(test_hand_built_request_decodes),
      cmocka_unit_test(test_version_other_than_v1_is_bad_data),
      cmocka_unit_test(test_attribute_given_twice_is_bad_data),
      cmocka_unit_test(test_single_valued_attribute_with_two_values_is_bad_data),
      cmocka_unit_test(test_empty_attribute_value_set_is_bad_data),
      cmocka_unit_test(test_attribute_value_of_wrong_type_is_bad_data),
      cmocka_unit_test(test_extension_request_rules),
      cmocka_unit_test(test_signature_with_unused_bits_is_bad_data),
      cmocka_unit_test(test_missing_attributes_element_is_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, free_built);
}
