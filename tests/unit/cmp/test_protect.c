/*
 * test_protect.c - message protection as both sides check it (cmp/protect.h).
 *
 * MAC: a message protected with PasswordBasedMac or PBMAC1 by the client
 * is read back (cmp_mac_parse), its key derived and matched under the right
 * secret only; a changed octet of the protected part or of the protection
 * does not match; parameters are written back as they were read, name the
 * same key only when the derivation is the same, and keys and MACs agree
 * with values computed independently (Python's hashlib); iteration counts
 * over the caller's cap or under the floor are CG_EBAD_ALG, and malformed
 * parameters are refused.
 *
 * Signature: a message signed with a certificate that chains to an anchor
 * verifies (cmp_check_signed); one that chains elsewhere, is checked after
 * its signer expired, was signed by another key, was changed after
 * signing, names another sender or senderKID, comes without a signer
 * certificate, or whose signer may not sign, does not.  A signer whose path
 * is cached still needs a good signature.
 *
 * Keys, certificates and names come from the engine fixture
 * (engine_support.h): a CA, an RA certificate it issued for signing, a
 * device key.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_support.h"
#include "testutil.h"

#define CAP 10000u

static int64_t now(void) { return (int64_t)time(NULL); }

static const uint8_t salt16[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                   0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};

/* A message as the client writes it: a genm asking for caCerts, under the
 * given protection; mac (may be NULL) gets the MAC parameters and key the
 * client used.  Malloc'ed. */
static uint8_t *write_msg(const struct cmp_client_cred *cred, struct cmp_mac *mac, size_t *len) {
  uint8_t txid[16], nonce[16], body[128];
  size_t body_len;
  assert_int_equal(cg_random(txid, sizeof txid), 0);
  assert_int_equal(cg_random(nonce, sizeof nonce), 0);
  struct cmp_client_hdr hdr = {.transaction_id = {txid, sizeof txid},
                               .sender_nonce = {nonce, sizeof nonce}};
  struct der_view type = cg_oid(CG_OID_IT_CA_CERTS);
  assert_int_equal(cmp_client_genm_body(&type, 1, body, sizeof body, &body_len), 0);
  uint8_t *out;
  assert_int_equal(cmp_client_write(cred, mac, &hdr, (struct der_view){body, body_len}, &out, len),
                   0);
  return out;
}

static struct cmp_client_cred mac_cred(bool pbmac1, uint32_t iterations) {
  return (struct cmp_client_cred){.secret = (const uint8_t *)SECRET,
                                  .secret_len = strlen(SECRET),
                                  .ref = (const uint8_t *)REF,
                                  .ref_len = strlen(REF),
                                  .iterations = iterations,
                                  .owf = CG_HASH_SHA256,
                                  .mac = CG_HASH_SHA256,
                                  .pbmac1 = pbmac1};
}

static struct cmp_client_cred sig_cred(void) {
  return (struct cmp_client_cred){.key = F->ra_key,
                                  .cert = {F->ra_cert, F->ra_cert_len}};
}

/* Flips one octet of the transactionID of an encoded message: the DER
 * stays valid, the protected part changes. */
static void flip_txid(uint8_t *p, size_t len) {
  struct cmp_msg m;
  assert_int_equal(cmp_msg_decode(p, len, &m), 0);
  assert_true(m.hdr.transaction_id.len > 0);
  p[m.hdr.transaction_id.p - p] ^= 0x01;
}

/* ---- MAC: round trips --------------------------------------------------- */

static void check_mac_round_trip(bool pbmac1, uint32_t iterations) {
  struct cmp_client_cred cred = mac_cred(pbmac1, iterations);
  struct cmp_mac sent = {0}, got;
  size_t len;
  uint8_t *p = write_msg(&cred, &sent, &len);
  struct cmp_msg msg;
  assert_int_equal(cmp_msg_decode(p, len, &msg), 0);
  assert_true(msg.has_protection);

  assert_int_equal(cmp_mac_parse(msg.hdr.protection_alg, CAP, &got), 0);
  assert_int_equal(got.is_pbmac1, pbmac1);
  assert_int_equal(got.key_len, 0); /* not derived yet */
  if (pbmac1) {
    assert_int_equal(got.pbmac1.iterations, iterations);
    assert_int_equal(got.pbmac1.prf, CG_HASH_SHA256);
    assert_int_equal(got.pbmac1.mac, CG_HASH_SHA256);
    assert_int_equal(got.pbmac1.key_len, 32);
    assert_int_equal(got.pbmac1.salt_len, 16);
  } else {
    assert_int_equal(got.pbm.iterations, iterations);
    assert_int_equal(got.pbm.owf, CG_HASH_SHA256);
    assert_int_equal(got.pbm.mac, CG_HASH_SHA256);
    assert_int_equal(got.pbm.salt_len, 16);
  }
  assert_true(cmp_mac_same_key(&got, &sent));

  /* The right secret: the client's key, and the MAC matches. */
  assert_int_equal(cmp_mac_derive(&got, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  assert_int_equal(got.key_len, 32);
  assert_int_equal(got.key_len, sent.key_len);
  assert_memory_equal(got.key, sent.key, got.key_len);
  assert_true(cmp_mac_matches(&got, &msg));
  if (!pbmac1) {
    assert_int_equal(cmp_pbm_verify(&msg, CAP, (const uint8_t *)SECRET, strlen(SECRET)), 0);
    assert_int_equal(cmp_pbm_verify(&msg, CAP, (const uint8_t *)"wrong", 5), CG_EBAD_MAC);
  }

  /* Another secret, one octet shorter, or none: no match. */
  static const char *const wrong[] = {"correct horse batterz", "correct horse batter", ""};
  for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
    struct cmp_mac w;
    assert_int_equal(cmp_mac_parse(msg.hdr.protection_alg, CAP, &w), 0);
    assert_int_equal(cmp_mac_derive(&w, (const uint8_t *)wrong[i], strlen(wrong[i])), 0);
    assert_false(cmp_mac_matches(&w, &msg));
  }
  cmp_mac_wipe(&sent);
  free(p);
}

static void test_a_pbm_message_matches_under_its_secret_only(void **state) {
  (void)state;
  check_mac_round_trip(false, 500);
}

static void test_a_pbmac1_message_matches_under_its_secret_only(void **state) {
  (void)state;
  check_mac_round_trip(true, 1000);
}

/* A changed octet of the protected part, or of the protection itself, and
 * a message without protection: no match under the right key. */
static void test_a_changed_message_does_not_match(void **state) {
  (void)state;
  for (int pbmac1 = 0; pbmac1 < 2; pbmac1++) {
    struct cmp_client_cred cred = mac_cred(pbmac1, 1000);
    size_t len;
    uint8_t *p = write_msg(&cred, NULL, &len);
    struct cmp_msg msg;
    struct cmp_mac m;
    assert_int_equal(cmp_msg_decode(p, len, &msg), 0);
    assert_int_equal(cmp_mac_parse(msg.hdr.protection_alg, CAP, &m), 0);
    assert_int_equal(cmp_mac_derive(&m, (const uint8_t *)SECRET, strlen(SECRET)), 0);
    assert_true(cmp_mac_matches(&m, &msg));

    uint8_t *q = malloc(len);
    assert_non_null(q);
    memcpy(q, p, len);
    flip_txid(q, len);
    assert_int_equal(cmp_msg_decode(q, len, &msg), 0);
    assert_false(cmp_mac_matches(&m, &msg));

    memcpy(q, p, len);
    assert_int_equal(cmp_msg_decode(q, len, &msg), 0);
    q[msg.protection.p - q + msg.protection.len - 1] ^= 0x80;
    assert_false(cmp_mac_matches(&m, &msg));

    memcpy(q, p, len);
    assert_int_equal(cmp_msg_decode(q, len, &msg), 0);
    msg.has_protection = false;
    assert_false(cmp_mac_matches(&m, &msg));
    cmp_mac_wipe(&m);
    free(q);
    free(p);
  }
}

/* What was read is written back octet for octet, and read again names the
 * same key. */
static void test_parameters_are_written_back_as_they_were_read(void **state) {
  (void)state;
  for (int pbmac1 = 0; pbmac1 < 2; pbmac1++) {
    struct cmp_client_cred cred = mac_cred(pbmac1, 1000);
    size_t len, out_len;
    uint8_t *p = write_msg(&cred, NULL, &len);
    struct cmp_msg msg;
    struct cmp_mac m, again;
    assert_int_equal(cmp_msg_decode(p, len, &msg), 0);
    assert_int_equal(cmp_mac_parse(msg.hdr.protection_alg, CAP, &m), 0);
    uint8_t out[512];
    struct der_writer w;
    cg_der_writer_init(&w, out, sizeof out);
    cmp_mac_write_alg(&w, &m);
    assert_int_equal(cg_der_writer_finish(&w, &out_len), 0);
    assert_int_equal(out_len, msg.hdr.protection_alg.len);
    assert_memory_equal(out, msg.hdr.protection_alg.p, out_len);
    assert_int_equal(cmp_mac_parse((struct der_view){out, out_len}, CAP, &again), 0);
    assert_true(cmp_mac_same_key(&m, &again));
    free(p);
  }
}

/* ---- MAC: known answers ---------------------------------------------------- */

/* Computed with Python's hashlib for the secret "correct horse battery",
 * the salt 00 01 .. 0f and the data "the protected part":
 *   PBM, 500 x SHA-256:  k = sha256(secret + salt), then k = sha256(k) 499 times
 *   PBMAC1:              k = pbkdf2_hmac('sha256', secret, salt, 1000, 32)
 * and the MAC HMAC-SHA256(k, data) in both. */
static const char pbm_key_hex[] =
    "0451dc31b9a33906a896b77173111cce68a081107733475a3616ab2002dc62a8";
static const char pbm_mac_hex[] =
    "b77b22551c6d6a35159161bdc606b754c3797a0204d01056895fa6edecde9226";
static const char pbmac1_key_hex[] =
    "02169e674d80c0fc7292e8610c8f17be140df062af9aa33ea85eaabecffdf08d";
static const char pbmac1_mac_hex[] =
    "933e62d82f30721f443b2caefba2c8b9c05b553bb19e2a4f4e4921dd5c778124";

static void assert_hex(const uint8_t *p, size_t len, const char *hex) {
  size_t n;
  uint8_t *want = tu_hex(hex, &n);
  assert_int_equal(len, n);
  assert_memory_equal(p, want, n);
  free(want);
}

static void test_keys_and_macs_agree_with_independent_values(void **state) {
  (void)state;
  static const char data[] = "the protected part";
  struct cg_iov iov[2] = {{data, 4}, {data + 4, sizeof data - 1 - 4}}; /* in two pieces */
  const uint8_t *secret = (const uint8_t *)SECRET;
  uint8_t out[CG_HASH_MAX];
  size_t out_len;

  struct cmp_mac m = {0};
  memcpy(m.pbm.salt, salt16, 16);
  m.pbm.salt_len = 16;
  m.pbm.owf = m.pbm.mac = CG_HASH_SHA256;
  m.pbm.iterations = 500;
  assert_int_equal(cmp_mac_derive(&m, secret, strlen(SECRET)), 0);
  assert_hex(m.key, m.key_len, pbm_key_hex);
  assert_int_equal(cmp_mac_compute(&m, iov, 2, out, &out_len), 0);
  assert_hex(out, out_len, pbm_mac_hex);
  /* The one-shot function agrees. */
  assert_int_equal(cmp_pbm_compute(&m.pbm, secret, strlen(SECRET), iov, 2, out, &out_len), 0);
  assert_hex(out, out_len, pbm_mac_hex);

  memset(&m, 0, sizeof m);
  m.is_pbmac1 = true;
  memcpy(m.pbmac1.salt, salt16, 16);
  m.pbmac1.salt_len = 16;
  m.pbmac1.prf = m.pbmac1.mac = CG_HASH_SHA256;
  m.pbmac1.iterations = 1000;
  m.pbmac1.key_len = 32;
  assert_int_equal(cmp_mac_derive(&m, secret, strlen(SECRET)), 0);
  assert_hex(m.key, m.key_len, pbmac1_key_hex);
  assert_int_equal(cmp_mac_compute(&m, iov, 2, out, &out_len), 0);
  assert_hex(out, out_len, pbmac1_mac_hex);
  assert_int_equal(
      cmp_pbmac1_compute(&m.pbmac1, secret, strlen(SECRET), iov, 2, out, &out_len), 0);
  assert_hex(out, out_len, pbmac1_mac_hex);
}

/* ---- MAC: parameters ---------------------------------------------------- */

static void test_init_draws_a_fresh_salt_and_keeps_the_parameters(void **state) {
  (void)state;
  struct cmp_mac a, b;
  assert_int_equal(cmp_mac_init(&a, false, 700, CG_HASH_SHA512, CG_HASH_SHA384), 0);
  assert_int_equal(cmp_mac_init(&b, false, 700, CG_HASH_SHA512, CG_HASH_SHA384), 0);
  assert_false(a.is_pbmac1);
  assert_int_equal(a.pbm.salt_len, 16);
  assert_int_equal(a.pbm.iterations, 700);
  assert_int_equal(a.pbm.owf, CG_HASH_SHA512);
  assert_int_equal(a.pbm.mac, CG_HASH_SHA384);
  assert_int_equal(a.key_len, 0);
  assert_memory_not_equal(a.pbm.salt, b.pbm.salt, 16);
  assert_false(cmp_mac_same_key(&a, &b));

  assert_int_equal(cmp_mac_init(&a, true, 2000, CG_HASH_SHA384, CG_HASH_SHA512), 0);
  assert_true(a.is_pbmac1);
  assert_int_equal(a.pbmac1.salt_len, 16);
  assert_int_equal(a.pbmac1.iterations, 2000);
  assert_int_equal(a.pbmac1.key_len, 32);
  assert_int_equal(a.pbmac1.prf, CG_HASH_SHA384);
  assert_int_equal(a.pbmac1.mac, CG_HASH_SHA512);
  assert_int_equal(a.key_len, 0);
}

/* Keys are shared only between parameters that derive the same key. */
static void test_same_key_tells_derivations_apart(void **state) {
  (void)state;
  struct cmp_mac a, b;
  assert_int_equal(cmp_mac_init(&a, false, 500, CG_HASH_SHA256, CG_HASH_SHA256), 0);
  b = a;
  assert_true(cmp_mac_same_key(&a, &b));
  b.pbm.salt[15] ^= 1;
  assert_false(cmp_mac_same_key(&a, &b));
  b = a;
  b.pbm.salt_len = 15;
  assert_false(cmp_mac_same_key(&a, &b));
  b = a;
  b.pbm.iterations = 501;
  assert_false(cmp_mac_same_key(&a, &b));
  b = a;
  b.pbm.owf = CG_HASH_SHA512;
  assert_false(cmp_mac_same_key(&a, &b));
  b = a;
  b.is_pbmac1 = true;
  assert_false(cmp_mac_same_key(&a, &b));

  assert_int_equal(cmp_mac_init(&a, true, 1000, CG_HASH_SHA256, CG_HASH_SHA256), 0);
  b = a;
  assert_true(cmp_mac_same_key(&a, &b));
  b.pbmac1.salt[0] ^= 1;
  assert_false(cmp_mac_same_key(&a, &b));
  b = a;
  b.pbmac1.iterations = 1001;
  assert_false(cmp_mac_same_key(&a, &b));
  b = a;
  b.pbmac1.key_len = 48;
  assert_false(cmp_mac_same_key(&a, &b));
  b = a;
  b.pbmac1.prf = CG_HASH_SHA512;
  assert_false(cmp_mac_same_key(&a, &b));
  b = a;
  b.is_pbmac1 = false;
  assert_false(cmp_mac_same_key(&a, &b));
}

static void test_wipe_forgets_the_key(void **state) {
  (void)state;
  struct cmp_client_cred cred = mac_cred(false, 500);
  size_t len;
  uint8_t *p = write_msg(&cred, NULL, &len);
  struct cmp_msg msg;
  struct cmp_mac m;
  assert_int_equal(cmp_msg_decode(p, len, &msg), 0);
  assert_int_equal(cmp_mac_parse(msg.hdr.protection_alg, CAP, &m), 0);
  assert_int_equal(cmp_mac_derive(&m, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  assert_true(cmp_mac_matches(&m, &msg));
  cmp_mac_wipe(&m);
  assert_int_equal(m.key_len, 0);
  static const uint8_t zero[sizeof m.key] = {0};
  assert_memory_equal(m.key, zero, sizeof m.key);
  assert_false(cmp_mac_matches(&m, &msg));
  /* The parameters stay: derived again, it matches again. */
  assert_int_equal(cmp_mac_derive(&m, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  assert_true(cmp_mac_matches(&m, &msg));
  free(p);
}

/* The AlgorithmIdentifier of PBM parameters, written whole. */
static size_t pbm_alg(uint32_t iterations, uint8_t *out, size_t cap) {
  struct cmp_pbm_params p = {.salt_len = 16, .owf = CG_HASH_SHA256, .mac = CG_HASH_SHA256,
                             .iterations = iterations};
  memcpy(p.salt, salt16, 16);
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, out, cap);
  cmp_pbm_write_alg(&w, &p);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

static size_t pbmac1_alg(uint32_t iterations, uint8_t *out, size_t cap) {
  struct cmp_pbmac1_params p = {.salt_len = 16, .iterations = iterations, .key_len = 32,
                                .prf = CG_HASH_SHA256, .mac = CG_HASH_SHA256};
  memcpy(p.salt, salt16, 16);
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, out, cap);
  cmp_pbmac1_write_alg(&w, &p);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

/* The cap is the caller's: a count over it buys CPU the caller did not
 * grant.  Under the floor a MAC is weak. */
static void test_iteration_counts_over_the_cap_or_under_the_floor_are_bad_alg(void **state) {
  (void)state;
  uint8_t alg[256];
  struct cmp_mac m;
  size_t len = pbm_alg(5000, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, 5000, &m), 0);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, 4999, &m), CG_EBAD_ALG);
  len = pbm_alg(CMP_PBM_MIN_ITERATIONS, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, CAP, &m), 0);
  len = pbm_alg(CMP_PBM_MIN_ITERATIONS - 1, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, CAP, &m), CG_EBAD_ALG);
  len = pbm_alg(UINT32_MAX, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, CAP, &m), CG_EBAD_ALG);

  len = pbmac1_alg(5000, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, 5000, &m), 0);
  assert_true(m.is_pbmac1);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, 4999, &m), CG_EBAD_ALG);
  len = pbmac1_alg(999, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, CAP, &m), CG_EBAD_ALG);
}

/* A PBM AlgorithmIdentifier with the parameters written by hand. */
struct pbm_spec {
  const uint8_t *salt;
  size_t salt_len;
  enum cg_oid_id owf, mac;
  bool owf_params_int; /* an INTEGER where NULL or nothing belongs */
  const uint8_t *iter;
  size_t iter_len;
  bool trailing;       /* one element more after mac */
  bool params_null;    /* NULL instead of the PBMParameter SEQUENCE */
};

static size_t write_pbm(const struct pbm_spec *s, uint8_t *out, size_t cap) {
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, out, cap);
  size_t alg = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, CG_OID_PBM);
  if (s->params_null) {
    cg_der_put_null(&w);
  } else {
    size_t prm = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_tlv(&w, DER_OCTET_STRING, s->salt, s->salt_len);
    size_t owf = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_oid(&w, s->owf);
    if (s->owf_params_int)
      cg_der_put_uint64(&w, DER_INTEGER, 1);
    cg_der_end(&w, owf);
    cg_der_put_tlv(&w, DER_INTEGER, s->iter, s->iter_len);
    size_t mac = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_oid(&w, s->mac);
    cg_der_end(&w, mac);
    if (s->trailing)
      cg_der_put_null(&w);
    cg_der_end(&w, prm);
  }
  cg_der_end(&w, alg);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

static const uint8_t iter_500[] = {0x01, 0xf4};

static struct pbm_spec good_pbm(void) {
  return (struct pbm_spec){salt16, 16, CG_OID_SHA256, CG_OID_HMAC_SHA256, false, iter_500,
                           sizeof iter_500, false, false};
}

static bool malformed(int err) { return err == CG_EDER || err == CG_EBAD_DATA; }

static void test_malformed_or_refused_parameters_are_not_taken(void **state) {
  (void)state;
  uint8_t alg[512];
  struct cmp_mac m;
  struct pbm_spec s = good_pbm();
  size_t len = write_pbm(&s, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, CAP, &m), 0);
  assert_int_equal(m.pbm.iterations, 500);

  /* No protectionAlg: no protection at all. */
  assert_int_equal(cmp_mac_parse((struct der_view){NULL, 0}, CAP, &m), CG_EBAD_MAC);
  /* Cut short, anywhere. */
  for (size_t n = 1; n < len; n++)
    if (!malformed(cmp_mac_parse((struct der_view){alg, n}, CAP, &m)))
      fail_msg("the first %zu of %zu octets were taken", n, len);
  /* Another algorithm: a signature's. */
  uint8_t other[32];
  struct der_writer w;
  size_t other_len;
  cg_der_writer_init(&w, other, sizeof other);
  size_t a = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, CG_OID_ECDSA_SHA256);
  cg_der_end(&w, a);
  assert_int_equal(cg_der_writer_finish(&w, &other_len), 0);
  assert_int_equal(cmp_mac_parse((struct der_view){other, other_len}, CAP, &m), CG_EBAD_ALG);

  /* Structure wrong. */
  s = good_pbm();
  s.params_null = true;
  len = write_pbm(&s, alg, sizeof alg);
  assert_true(malformed(cmp_mac_parse((struct der_view){alg, len}, CAP, &m)));
  s = good_pbm();
  s.trailing = true;
  len = write_pbm(&s, alg, sizeof alg);
  assert_true(malformed(cmp_mac_parse((struct der_view){alg, len}, CAP, &m)));

  /* Structure right, values refused. */
  static const uint8_t salt65[65] = {0};
  static const uint8_t negative[] = {0xff};
  s = good_pbm();
  s.salt_len = 0;
  len = write_pbm(&s, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, CAP, &m), CG_EBAD_ALG);
  s = good_pbm();
  s.salt = salt65;
  s.salt_len = sizeof salt65;
  len = write_pbm(&s, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, CAP, &m), CG_EBAD_ALG);
  s = good_pbm();
  s.owf = CG_OID_PBM; /* no hash */
  len = write_pbm(&s, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, CAP, &m), CG_EBAD_ALG);
  s = good_pbm();
  s.mac = CG_OID_SHA256; /* a hash, but no HMAC */
  len = write_pbm(&s, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, CAP, &m), CG_EBAD_ALG);
  s = good_pbm();
  s.owf_params_int = true;
  len = write_pbm(&s, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, CAP, &m), CG_EBAD_ALG);
  s = good_pbm();
  s.iter = negative;
  s.iter_len = sizeof negative;
  len = write_pbm(&s, alg, sizeof alg);
  assert_int_equal(cmp_mac_parse((struct der_view){alg, len}, CAP, &m), CG_EBAD_ALG);

  /* PBMAC1 without its parameters. */
  cg_der_writer_init(&w, other, sizeof other);
  a = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, CG_OID_PBMAC1);
  cg_der_end(&w, a);
  assert_int_equal(cg_der_writer_finish(&w, &other_len), 0);
  assert_true(malformed(cmp_mac_parse((struct der_view){other, other_len}, CAP, &m)));
}

/* ---- signatures ---------------------------------------------------------- */

struct signed_check {
  int err;
  enum cg_path_error path_why;
  const char *why;
  struct cg_x509 signer;
};

static void check_signed(const uint8_t *p, size_t len, const struct der_view *anchors, size_t n,
                         int64_t at, struct signed_check *c) {
  struct cmp_msg msg;
  assert_int_equal(cmp_msg_decode(p, len, &msg), 0);
  c->why = NULL;
  c->err = cmp_check_signed(&msg, anchors, n, at, &c->signer, &c->path_why, &c->why);
  if (c->err != 0)
    assert_non_null(c->why);
}

static void test_a_message_signed_by_a_certificate_chaining_to_an_anchor_verifies(void **state) {
  (void)state;
  struct cmp_client_cred cred = sig_cred();
  size_t len;
  uint8_t *p = write_msg(&cred, NULL, &len);
  struct signed_check c;
  check_signed(p, len, F->ca_chain, 1, now(), &c);
  assert_int_equal(c.err, 0);
  assert_int_equal(c.path_why, CG_PATH_OK);
  assert_true(cg_der_view_is(c.signer.subject, F->ra_name, F->ra_name_len));
  /* Among other anchors too. */
  struct der_view two[2] = {{F->ra_cert, F->ra_cert_len}, F->ca_chain[0]};
  check_signed(p, len, two, 2, now(), &c);
  assert_int_equal(c.err, 0);
  free(p);
}

/* A second CA, unrelated to the fixture's, with a certificate of its own. */
struct other_ca {
  struct cg_key *key;
  uint8_t name[128], cert[2048];
  size_t name_len, cert_len;
};

static void other_ca_make(struct other_ca *o) {
  assert_int_equal(cg_key_generate_ec(256, &o->key), 0);
  make_name("another CA", o->name, &o->name_len);
  struct cert_spec s = {0};
  s.issuer = s.subject = (struct der_view){o->name, o->name_len};
  s.not_before = now() - 10;
  s.not_after = now() + 86400;
  s.is_ca = true;
  s.key_usage = CERT_KU_KEY_CERT_SIGN;
  make_cert(&s, o->key, o->key, o->cert, sizeof o->cert, &o->cert_len);
}

static void test_a_signer_that_does_not_chain_to_the_anchors_is_not_trusted(void **state) {
  (void)state;
  struct other_ca o;
  other_ca_make(&o);
  struct der_view anchors[1] = {{o.cert, o.cert_len}};
  struct cmp_client_cred cred = sig_cred();
  size_t len;
  uint8_t *p = write_msg(&cred, NULL, &len);
  struct signed_check c;
  check_signed(p, len, anchors, 1, now(), &c);
  assert_int_equal(c.err, CG_ENOT_TRUSTED);
  assert_int_not_equal(c.path_why, CG_PATH_OK);
  assert_non_null(strstr(c.why, "not trusted"));
  free(p);

  /* The other CA's own certificate signing for itself: the fixture's CA
   * does not know it. */
  cred = (struct cmp_client_cred){.key = o.key, .cert = {o.cert, o.cert_len}};
  p = write_msg(&cred, NULL, &len);
  check_signed(p, len, F->ca_chain, 1, now(), &c);
  assert_int_equal(c.err, CG_ENOT_TRUSTED);
  free(p);
  cg_key_free(o.key);
}

static void test_a_signer_is_checked_at_the_time_given(void **state) {
  (void)state;
  struct cmp_client_cred cred = sig_cred();
  size_t len;
  uint8_t *p = write_msg(&cred, NULL, &len);
  struct signed_check c;
  check_signed(p, len, F->ca_chain, 1, now() + 2 * 86400, &c); /* after notAfter */
  assert_int_equal(c.err, CG_ENOT_TRUSTED);
  assert_int_equal(c.path_why, CG_PATH_EXPIRED);
  check_signed(p, len, F->ca_chain, 1, now() - 3600, &c); /* before notBefore */
  assert_int_equal(c.err, CG_ENOT_TRUSTED);
  assert_int_equal(c.path_why, CG_PATH_EXPIRED);
  free(p);
}

static void test_a_signature_by_another_key_or_over_other_octets_does_not_verify(void **state) {
  (void)state;
  struct cmp_client_cred cred = sig_cred();
  cred.key = F->dev_key; /* not the RA certificate's key */
  size_t len;
  uint8_t *p = write_msg(&cred, NULL, &len);
  struct signed_check c;
  check_signed(p, len, F->ca_chain, 1, now(), &c);
  assert_int_equal(c.err, CG_EBAD_MAC);
  assert_string_equal(c.why, "message signature does not verify");
  free(p);

  cred = sig_cred();
  p = write_msg(&cred, NULL, &len);
  flip_txid(p, len);
  check_signed(p, len, F->ca_chain, 1, now(), &c);
  assert_int_equal(c.err, CG_EBAD_MAC);
  assert_string_equal(c.why, "message signature does not verify");
  free(p);
}

static void test_sender_and_sender_kid_must_name_the_signer(void **state) {
  (void)state;
  static const uint8_t kid[] = {1, 2, 3, 4};
  struct cmp_client_cred cred = sig_cred();
  cred.sender_kid = (struct der_view){kid, sizeof kid};
  size_t len;
  uint8_t *p = write_msg(&cred, NULL, &len);
  struct signed_check c;
  check_signed(p, len, F->ca_chain, 1, now(), &c);
  assert_int_equal(c.err, CG_EBAD_MAC);
  assert_non_null(strstr(c.why, "senderKID"));
  free(p);

  cred = sig_cred();
  cred.sender_name = (struct der_view){F->dev_name, F->dev_name_len};
  p = write_msg(&cred, NULL, &len);
  check_signed(p, len, F->ca_chain, 1, now(), &c);
  assert_int_equal(c.err, CG_EBAD_MAC);
  assert_non_null(strstr(c.why, "sender is not the subject"));
  free(p);
}

static void test_a_message_without_a_signer_certificate_is_bad_mac(void **state) {
  (void)state;
  struct cmp_client_cred cred = sig_cred();
  size_t len;
  uint8_t *p = write_msg(&cred, NULL, &len);
  struct cmp_msg msg;
  struct cg_x509 signer;
  enum cg_path_error pw;
  const char *why = NULL;
  assert_int_equal(cmp_msg_decode(p, len, &msg), 0);
  assert_true(msg.n_extra_certs >= 1);
  msg.n_extra_certs = 0;
  assert_int_equal(cmp_check_signed(&msg, F->ca_chain, 1, now(), &signer, &pw, &why),
                   CG_EBAD_MAC);
  assert_non_null(why);
  free(p);
}

/* A certificate the CA issued for key encipherment only may not sign. */
static void test_a_signer_whose_key_usage_forbids_signing_is_not_trusted(void **state) {
  (void)state;
  uint8_t cert[2048], name[128];
  size_t cert_len, name_len;
  make_name("encipherment only", name, &name_len);
  struct cert_spec s = {0};
  s.issuer = (struct der_view){F->ca_name, F->ca_name_len};
  s.subject = (struct der_view){name, name_len};
  s.not_before = now() - 10;
  s.not_after = now() + 86400;
  s.key_usage = CERT_KU_KEY_ENCIPHERMENT;
  make_cert(&s, F->dev_key, F->ca_key, cert, sizeof cert, &cert_len);
  struct cmp_client_cred cred = {.key = F->dev_key, .cert = {cert, cert_len}};
  size_t len;
  uint8_t *p = write_msg(&cred, NULL, &len);
  struct signed_check c;
  check_signed(p, len, F->ca_chain, 1, now(), &c);
  assert_int_equal(c.err, CG_ENOT_TRUSTED);
  assert_non_null(strstr(c.why, "keyUsage"));
  free(p);
}

/* A signer found in the path cache is spared the path, never the
 * signature; the cache holds for the anchors it was verified against. */
static void test_a_cached_signer_still_needs_a_good_signature(void **state) {
  (void)state;
  struct cmp_path_cache cache;
  assert_int_equal(cmp_path_cache_init(&cache), 0);
  struct cmp_client_cred cred = sig_cred();
  size_t len;
  uint8_t *good = write_msg(&cred, NULL, &len);
  struct cmp_msg msg;
  struct cg_x509 signer;
  enum cg_path_error pw;
  const char *why;
  assert_int_equal(cmp_msg_decode(good, len, &msg), 0);
  assert_int_equal(
      cmp_check_signed_cached(&msg, F->ca_chain, 1, now(), &cache, &signer, &pw, &why), 0);
  assert_true(cache.valid);

  size_t bad_len;
  uint8_t *bad = write_msg(&cred, NULL, &bad_len);
  flip_txid(bad, bad_len);
  assert_int_equal(cmp_msg_decode(bad, bad_len, &msg), 0);
  assert_int_equal(
      cmp_check_signed_cached(&msg, F->ca_chain, 1, now(), &cache, &signer, &pw, &why),
      CG_EBAD_MAC);

  /* Other anchors: the path is checked again, and fails. */
  struct other_ca o;
  other_ca_make(&o);
  struct der_view anchors[1] = {{o.cert, o.cert_len}};
  assert_int_equal(cmp_msg_decode(good, len, &msg), 0);
  assert_int_equal(cmp_check_signed_cached(&msg, anchors, 1, now(), &cache, &signer, &pw, &why),
                   CG_ENOT_TRUSTED);
  cg_key_free(o.key);
  cmp_path_cache_destroy(&cache);
  free(bad);
  free(good);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_pbm_message_matches_under_its_secret_only),
      cmocka_unit_test(test_a_pbmac1_message_matches_under_its_secret_only),
      cmocka_unit_test(test_a_changed_message_does_not_match),
      cmocka_unit_test(test_parameters_are_written_back_as_they_were_read),
      cmocka_unit_test(test_keys_and_macs_agree_with_independent_values),
      cmocka_unit_test(test_init_draws_a_fresh_salt_and_keeps_the_parameters),
      cmocka_unit_test(test_same_key_tells_derivations_apart),
      cmocka_unit_test(test_wipe_forgets_the_key),
      cmocka_unit_test(test_iteration_counts_over_the_cap_or_under_the_floor_are_bad_alg),
      cmocka_unit_test(test_malformed_or_refused_parameters_are_not_taken),
      cmocka_unit_test(test_a_message_signed_by_a_certificate_chaining_to_an_anchor_verifies),
      cmocka_unit_test(test_a_signer_that_does_not_chain_to_the_anchors_is_not_trusted),
      cmocka_unit_test(test_a_signer_is_checked_at_the_time_given),
      cmocka_unit_test(test_a_signature_by_another_key_or_over_other_octets_does_not_verify),
      cmocka_unit_test(test_sender_and_sender_kid_must_name_the_signer),
      cmocka_unit_test(test_a_message_without_a_signer_certificate_is_bad_mac),
      cmocka_unit_test(test_a_signer_whose_key_usage_forbids_signing_is_not_trusted),
      cmocka_unit_test(test_a_cached_signer_still_needs_a_good_signature),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
