/*
 * test_oid.c - the OID table of core/oid.c: every dotted string encodes to
 * exactly the listed bytes (by an encoder written here, independent of the
 * table), lookups find every entry and nothing else, and the hash, HMAC and
 * signature algorithm mappings go both ways.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/oid.h"

/* X.690 §8.19: dotted form to contents octets.  Returns the length. */
static size_t encode_dotted(const char *dotted, uint8_t *out, size_t cap) {
  uint64_t arcs[32] = {0};
  size_t n = 0;
  const char *s = dotted;
  while (*s != '\0') {
    char *end;
    assert_true(n < 32);
    assert_true(*s >= '0' && *s <= '9');
    arcs[n++] = strtoull(s, &end, 10);
    assert_true(*end == '.' || *end == '\0');
    s = *end == '.' ? end + 1 : end;
  }
  assert_true(n >= 2);
  assert_true(arcs[0] <= 2);
  size_t len = 0;
  for (size_t i = 1; i < n; i++) {
    uint64_t v = i == 1 ? arcs[0] * 40 + arcs[1] : arcs[i];
    uint8_t tmp[10];
    size_t k = 0;
    do {
      tmp[k++] = (uint8_t)(v & 0x7f);
      v >>= 7;
    } while (v != 0);
    while (k > 0) {
      assert_true(len < cap);
      out[len++] = (uint8_t)(tmp[k - 1] | (k > 1 ? 0x80 : 0));
      k--;
    }
  }
  return len;
}

static void every_dotted_form_matches_its_bytes(void **state) {
  for (int id = CG_OID_UNKNOWN + 1; id < CG_OID__COUNT; id++) {
    uint8_t want[64];
    const char *dotted = cg_oid_dotted((enum cg_oid_id)id);
    size_t n = encode_dotted(dotted, want, sizeof want);
    struct der_view v = cg_oid((enum cg_oid_id)id);
    if (!cg_der_view_is(v, want, n))
      fail_msg("OID %s: table bytes differ from its dotted form", dotted);
    assert_int_equal(cg_der_check_oid(v), 0);
  }
}

static void every_entry_is_found_by_its_bytes(void **state) {
  for (int id = CG_OID_UNKNOWN + 1; id < CG_OID__COUNT; id++) {
    struct der_view v = cg_oid((enum cg_oid_id)id);
    assert_non_null(v.p);
    /* Distinct entries hold distinct bytes, so the lookup comes back home. */
    assert_int_equal(cg_oid_lookup(v), id);
  }
}

static void unknown_and_partial_oids_are_not_found(void **state) {
  static const uint8_t other[] = {0x2a, 0x03, 0x04};
  struct der_view v = {other, sizeof other};
  assert_int_equal(cg_oid_lookup(v), CG_OID_UNKNOWN);
  /* A prefix or an extension of a known OID is another OID. */
  struct der_view sha256 = cg_oid(CG_OID_SHA256);
  struct der_view prefix = {sha256.p, sha256.len - 1};
  assert_int_equal(cg_oid_lookup(prefix), CG_OID_UNKNOWN);
  uint8_t longer[32];
  memcpy(longer, sha256.p, sha256.len);
  longer[sha256.len] = 0x01;
  struct der_view ext = {longer, sha256.len + 1};
  assert_int_equal(cg_oid_lookup(ext), CG_OID_UNKNOWN);
  struct der_view empty = {NULL, 0};
  assert_int_equal(cg_oid_lookup(empty), CG_OID_UNKNOWN);
  assert_null(cg_oid(CG_OID_UNKNOWN).p);
  assert_null(cg_oid(CG_OID__COUNT).p);
}

static void put_oid_writes_a_complete_element(void **state) {
  uint8_t buf[32];
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, buf, sizeof buf);
  cg_der_put_oid(&w, CG_OID_EC_PUBLIC_KEY);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  static const uint8_t want[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
  assert_int_equal(len, sizeof want);
  assert_memory_equal(buf, want, sizeof want);
}

static void hash_oids_map_both_ways(void **state) {
  static const struct {
    enum cg_oid_id oid;
    enum cg_hash h;
  } rows[] = {
      {CG_OID_SHA1, CG_HASH_SHA1},     {CG_OID_SHA224, CG_HASH_SHA224},
      {CG_OID_SHA256, CG_HASH_SHA256}, {CG_OID_SHA384, CG_HASH_SHA384},
      {CG_OID_SHA512, CG_HASH_SHA512},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    assert_int_equal(cg_oid_hash(rows[i].oid), rows[i].h);
    assert_int_equal(cg_hash_oid(rows[i].h), rows[i].oid);
    /* A hash is not an HMAC. */
    assert_int_equal(cg_oid_hmac(rows[i].oid), CG_HASH_NONE);
  }
  assert_int_equal(cg_oid_hash(CG_OID_HMAC_SHA256), CG_HASH_NONE);
  assert_int_equal(cg_oid_hash(CG_OID_UNKNOWN), CG_HASH_NONE);
  assert_int_equal(cg_hash_oid(CG_HASH_NONE), CG_OID_UNKNOWN);
}

static void hmac_oids_map_both_ways_with_both_sha1_oids(void **state) {
  assert_int_equal(cg_oid_hmac(CG_OID_HMAC_SHA1), CG_HASH_SHA1);
  assert_int_equal(cg_oid_hmac(CG_OID_HMAC_SHA1_RSADSI), CG_HASH_SHA1);
  assert_int_equal(cg_oid_hmac(CG_OID_HMAC_SHA224), CG_HASH_SHA224);
  assert_int_equal(cg_oid_hmac(CG_OID_HMAC_SHA256), CG_HASH_SHA256);
  assert_int_equal(cg_oid_hmac(CG_OID_HMAC_SHA384), CG_HASH_SHA384);
  assert_int_equal(cg_oid_hmac(CG_OID_HMAC_SHA512), CG_HASH_SHA512);
  /* SHA-1 goes to 1.3.6.1.5.5.8.1.2, the OID RFC 9481 §6.2.1 names. */
  assert_int_equal(cg_hmac_oid(CG_HASH_SHA1), CG_OID_HMAC_SHA1);
  assert_string_equal(cg_oid_dotted(cg_hmac_oid(CG_HASH_SHA1)), "1.3.6.1.5.5.8.1.2");
  assert_int_equal(cg_hmac_oid(CG_HASH_SHA224), CG_OID_HMAC_SHA224);
  assert_int_equal(cg_hmac_oid(CG_HASH_SHA256), CG_OID_HMAC_SHA256);
  assert_int_equal(cg_hmac_oid(CG_HASH_SHA384), CG_OID_HMAC_SHA384);
  assert_int_equal(cg_hmac_oid(CG_HASH_SHA512), CG_OID_HMAC_SHA512);
  assert_int_equal(cg_hmac_oid(CG_HASH_NONE), CG_OID_UNKNOWN);
  assert_int_equal(cg_oid_hmac(CG_OID_SHA256), CG_HASH_NONE);
}

static void signature_oids_map_to_scheme_and_hash(void **state) {
  static const struct {
    enum cg_oid_id oid;
    enum cg_sig_scheme scheme;
    enum cg_hash h;
  } rows[] = {
      {CG_OID_ECDSA_SHA224, CG_SIG_ECDSA, CG_HASH_SHA224},
      {CG_OID_ECDSA_SHA256, CG_SIG_ECDSA, CG_HASH_SHA256},
      {CG_OID_ECDSA_SHA384, CG_SIG_ECDSA, CG_HASH_SHA384},
      {CG_OID_ECDSA_SHA512, CG_SIG_ECDSA, CG_HASH_SHA512},
      {CG_OID_RSA_SHA1, CG_SIG_RSA_PKCS1, CG_HASH_SHA1},
      {CG_OID_RSA_SHA224, CG_SIG_RSA_PKCS1, CG_HASH_SHA224},
      {CG_OID_RSA_SHA256, CG_SIG_RSA_PKCS1, CG_HASH_SHA256},
      {CG_OID_RSA_SHA384, CG_SIG_RSA_PKCS1, CG_HASH_SHA384},
      {CG_OID_RSA_SHA512, CG_SIG_RSA_PKCS1, CG_HASH_SHA512},
      {CG_OID_ED25519, CG_SIG_EDDSA, CG_HASH_NONE},
      {CG_OID_ED448, CG_SIG_EDDSA, CG_HASH_NONE},
      {CG_OID_RSASSA_PSS, CG_SIG_RSA_PSS, CG_HASH_NONE},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    enum cg_sig_scheme s = CG_SIG_NONE;
    enum cg_hash h = CG_HASH_SHA1;
    assert_int_equal(cg_oid_sigalg(rows[i].oid, &s, &h), 0);
    assert_int_equal(s, rows[i].scheme);
    assert_int_equal(h, rows[i].h);
    /* The way back, except Ed448 which shares (EDDSA, NONE) with Ed25519. */
    if (rows[i].oid != CG_OID_ED448)
      assert_int_equal(cg_sigalg_oid(rows[i].scheme, rows[i].h), rows[i].oid);
  }
}

static void non_signature_oids_are_bad_algorithms(void **state) {
  enum cg_sig_scheme s = CG_SIG_ECDSA;
  enum cg_hash h = CG_HASH_SHA256;
  assert_int_equal(cg_oid_sigalg(CG_OID_RSA_ENCRYPTION, &s, &h), CG_EBAD_ALG);
  assert_int_equal(s, CG_SIG_NONE);
  assert_int_equal(h, CG_HASH_NONE);
  /* ecdsa-with-SHA1 is known, so that the profile's sha1_signatures can say no. */
  assert_int_equal(cg_oid_sigalg(CG_OID_ECDSA_SHA1, &s, &h), 0);
  assert_int_equal(s, CG_SIG_ECDSA);
  assert_int_equal(h, CG_HASH_SHA1);
  assert_int_equal(cg_oid_sigalg(CG_OID_EC_PUBLIC_KEY, &s, &h), CG_EBAD_ALG);
  assert_int_equal(cg_oid_sigalg(CG_OID_SHA256, &s, &h), CG_EBAD_ALG);
  assert_int_equal(cg_oid_sigalg(CG_OID_UNKNOWN, &s, &h), CG_EBAD_ALG);
}

static void signature_pairs_without_an_oid_are_unknown(void **state) {
  assert_int_equal(cg_sigalg_oid(CG_SIG_EDDSA, CG_HASH_NONE), CG_OID_ED25519);
  assert_int_equal(cg_sigalg_oid(CG_SIG_RSA_PSS, CG_HASH_SHA256), CG_OID_RSASSA_PSS);
  assert_int_equal(cg_sigalg_oid(CG_SIG_EDDSA, CG_HASH_SHA256), CG_OID_UNKNOWN);
  assert_int_equal(cg_sigalg_oid(CG_SIG_ECDSA, CG_HASH_NONE), CG_OID_UNKNOWN);
  assert_int_equal(cg_sigalg_oid(CG_SIG_EDDSA, CG_HASH_SHA512), CG_OID_UNKNOWN);
  assert_int_equal(cg_sigalg_oid(CG_SIG_NONE, CG_HASH_NONE), CG_OID_UNKNOWN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_dotted_form_matches_its_bytes),
      cmocka_unit_test(every_entry_is_found_by_its_bytes),
      cmocka_unit_test(unknown_and_partial_oids_are_not_found),
      cmocka_unit_test(put_oid_writes_a_complete_element),
      cmocka_unit_test(hash_oids_map_both_ways),
      cmocka_unit_test(hmac_oids_map_both_ways_with_both_sha1_oids),
      cmocka_unit_test(signature_oids_map_to_scheme_and_hash),
      cmocka_unit_test(non_signature_oids_are_bad_algorithms),
      cmocka_unit_test(signature_pairs_without_an_oid_are_unknown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
