/*
 * test_server.c - the CMP server engine driven in memory, without sockets,
 * threads or SQLite (the driver is in engine_support.c): enrolment,
 * confirmation and every rejection path of ir / certConf.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_support.h"
#include "failalloc.h"

static void test_ir_is_answered_with_a_mac_protected_ip_carrying_the_certificate(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip;
  struct cmp_exchange *ex;
  client_init(&c, REF, SECRET);
  size_t before = F->issued;
  uint8_t req[4096];
  size_t req_len = make_ir(&c, req, sizeof req);
  ex = run("default", req, req_len);
  decode_response(ex, &c, &ip);
  assert_int_equal(ip.type, CMP_IP);
  assert_int_equal(ip.u.cert_rep.n, 1);
  assert_int_equal(ip.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  assert_int_equal(cmp_pbm_verify(&ip, 10000, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  assert_int_equal(cmp_pbm_verify(&ip, 10000, (const uint8_t *)"wrong", 5), CG_EBAD_MAC);
  /* RFC 9810 §5.1.3.1: the answer keeps the request's PBMParameter, salt
   * included, so the server derives the key once for both. */
  struct cmp_msg ir;
  assert_int_equal(cmp_msg_decode(req, req_len, &ir), 0);
  assert_true(cg_der_view_eq(ip.hdr.protection_alg, ir.hdr.protection_alg));

  struct cg_x509 cert;
  struct der_view cv = ip.u.cert_rep.rsp[0].cert;
  assert_int_equal(cg_x509_parse(cv.p, cv.len, &cert), 0);
  uint8_t spki[512];
  size_t spki_len;
  assert_int_equal(cg_key_spki(F->dev_key, spki, sizeof spki, &spki_len), 0);
  assert_true(cg_der_view_is(cert.spki, spki, spki_len));
  assert_true(cg_der_view_is(cert.subject, F->dev_name, F->dev_name_len));
  assert_int_equal(F->issued, before + 1);
  /* RFC 9483 §4.1.1: the issuing chain travels in extraCerts. */
  assert_int_equal(ip.n_extra_certs, 1);
  assert_true(cg_der_view_is(ip.extra_certs[0], F->ca_cert, F->ca_cert_len));

  struct cmp_txn_record *t = find_txn(cmp_exchange_txn(ex)->txid, NULL);
  assert_non_null(t);
  assert_int_equal(t->state, CMP_TXN_ISSUED);
  cmp_exchange_free(ex);
}

static void test_cert_conf_confirms_the_transaction_with_pkiconf(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip, conf;
  struct cmp_exchange *ex, *ex2;
  client_init(&c, REF, SECRET);
  enrol(&c, &ip, &ex);
  assert_int_equal(ip.type, CMP_IP);
  uint8_t nonce2[16], req[4096];
  size_t len;
  assert_int_equal(cg_random(nonce2, 16), 0);
  c.hdr.recip_nonce = ip.hdr.sender_nonce;
  assert_int_equal(client_new_nonce(&c), 0); /* a fresh one, as every message has */
  c.hdr.sender_nonce = (struct der_view){nonce2, 16};
  assert_int_equal(cmp_client_cert_conf(&c.mac, &c.hdr, ip.u.cert_rep.rsp[0].cert, 0, false, req,
                                        sizeof req, &len),
                   0);
  ex2 = run("default", req, len);
  memcpy(c.nonce, nonce2, 16);
  decode_response(ex2, &c, &conf);
  assert_int_equal(conf.type, CMP_PKICONF);
  assert_int_equal(cmp_pbm_verify(&conf, 10000, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  /* A certConf with a salt of its own (as OpenSSL sends) gets it back. */
  struct cmp_msg creq;
  assert_int_equal(cmp_msg_decode(req, len, &creq), 0);
  assert_true(cg_der_view_eq(conf.hdr.protection_alg, creq.hdr.protection_alg));
  assert_false(cg_der_view_eq(conf.hdr.protection_alg, ip.hdr.protection_alg));
  struct cmp_txn_record *t = find_txn(cmp_exchange_txn(ex)->txid, NULL);
  assert_int_equal(t->state, CMP_TXN_CONFIRMED);
  cmp_exchange_free(ex);
  cmp_exchange_free(ex2);
}

static void test_cert_conf_rejecting_the_certificate_ends_revoked_on_reject(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip, conf;
  struct cmp_exchange *ex, *ex2;
  client_init(&c, REF, SECRET);
  enrol(&c, &ip, &ex);
  uint8_t req[4096];
  size_t len;
  c.hdr.recip_nonce = ip.hdr.sender_nonce;
  assert_int_equal(client_new_nonce(&c), 0); /* a fresh one, as every message has */
  assert_int_equal(cmp_client_cert_conf(&c.mac, &c.hdr, ip.u.cert_rep.rsp[0].cert, 0, true, req,
                                        sizeof req, &len),
                   0);
  ex2 = run("default", req, len);
  decode_response(ex2, &c, &conf);
  assert_int_equal(conf.type, CMP_PKICONF);
  assert_int_equal(find_txn(cmp_exchange_txn(ex)->txid, NULL)->state, CMP_TXN_REVOKED_ON_REJECT);
  cmp_exchange_free(ex);
  cmp_exchange_free(ex2);
}

/* PKIBody certConf with no CertStatus at all. */
static void empty_cert_conf(struct der_writer *w, const void *arg) {
  (void)arg;
  size_t b = cg_der_begin(w, DER_CTX_CONS(CMP_CERTCONF));
  cg_der_end(w, cg_der_begin(w, DER_SEQUENCE));
  cg_der_end(w, b);
}

/* RFC 9810 §5.3.18: an empty CertConfirmContent rejects the certificate:
 * pkiConf, and the certificate is revoked as in a rejecting certConf. */
static void test_empty_cert_conf_rejects_the_certificate(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip, conf;
  struct cmp_exchange *ex, *ex2;
  client_init(&c, REF, SECRET);
  enrol(&c, &ip, &ex);
  size_t before = F->n_revocations;
  uint8_t req[4096];
  size_t len;
  c.hdr.recip_nonce = ip.hdr.sender_nonce;
  assert_int_equal(client_new_nonce(&c), 0); /* a fresh one, as every message has */
  assert_int_equal(cmp_client_message(&c.mac, &c.hdr, empty_cert_conf, NULL, req, sizeof req,
                                      &len),
                   0);
  ex2 = run("default", req, len);
  decode_response(ex2, &c, &conf);
  assert_int_equal(conf.type, CMP_PKICONF);
  assert_int_equal(find_txn(cmp_exchange_txn(ex)->txid, NULL)->state, CMP_TXN_REVOKED_ON_REJECT);
  assert_int_equal(F->n_revocations, before + 1);
  cmp_exchange_free(ex);
  cmp_exchange_free(ex2);
}

/* PKIBody certConf: one CertStatus for certReqId 0 whose certHash is arg,
 * with hashAlg [0] SHA-384 (RFC 9810 §5.3.18, pvno 3). */
static void cert_conf_sha384(struct der_writer *w, const void *arg) {
  static const uint8_t sha384[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};
  const struct der_view *hash = arg;
  size_t b = cg_der_begin(w, DER_CTX_CONS(CMP_CERTCONF));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t cs = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_OCTET_STRING, hash->p, hash->len);
  cg_der_put_uint64(w, DER_INTEGER, 0);
  size_t x = cg_der_begin(w, DER_CTX_CONS(0));
  size_t alg = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_raw(w, sha384, sizeof sha384);
  cg_der_end(w, alg);
  cg_der_end(w, x);
  cg_der_end(w, cs);
  cg_der_end(w, seq);
  cg_der_end(w, b);
}

/* With hashAlg the certHash is computed with it, not with the hash of the
 * certificate's signature (SHA-256 here): SHA-384 confirms, a SHA-256 hash
 * under hashAlg SHA-384 is badCertId. */
static void test_cert_conf_with_hash_alg_is_checked_with_that_hash(void **state) {
  (void)state;
  for (int right = 1; right >= 0; right--) {
    struct client c;
    struct cmp_msg ip, rsp;
    struct cmp_exchange *ex, *ex2;
    client_init(&c, REF, SECRET);
    enrol(&c, &ip, &ex);
    struct der_view cert = ip.u.cert_rep.rsp[0].cert;
    struct cg_iov iov = {cert.p, cert.len};
    uint8_t hash[CG_HASH_MAX], req[4096];
    enum cg_hash h = right ? CG_HASH_SHA384 : CG_HASH_SHA256;
    assert_int_equal(cg_hash(h, &iov, 1, hash), 0);
    struct der_view hv = {hash, cg_hash_size(h)};
    size_t len;
    c.hdr.pvno = 3;
    c.hdr.recip_nonce = ip.hdr.sender_nonce;
  assert_int_equal(client_new_nonce(&c), 0); /* a fresh one, as every message has */
    assert_int_equal(cmp_client_message(&c.mac, &c.hdr, cert_conf_sha384, &hv, req, sizeof req,
                                        &len),
                     0);
    ex2 = run("default", req, len);
    decode_response(ex2, &c, &rsp);
    if (right) {
      assert_int_equal(rsp.type, CMP_PKICONF);
      assert_int_equal(find_txn(cmp_exchange_txn(ex)->txid, NULL)->state, CMP_TXN_CONFIRMED);
    } else {
      assert_error(&rsp, CG_FI_BAD_CERT_ID);
      assert_int_equal(find_txn(cmp_exchange_txn(ex)->txid, NULL)->state, CMP_TXN_ISSUED);
    }
    cmp_exchange_free(ex);
    cmp_exchange_free(ex2);
  }
}

static void test_cert_conf_with_wrong_recip_nonce_is_bad_recipient_nonce(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip, rsp;
  struct cmp_exchange *ex, *ex2;
  client_init(&c, REF, SECRET);
  enrol(&c, &ip, &ex);
  uint8_t wrong[16] = {1}, req[4096];
  size_t len;
  c.hdr.recip_nonce = (struct der_view){wrong, 16};
  assert_int_equal(cmp_client_cert_conf(&c.mac, &c.hdr, ip.u.cert_rep.rsp[0].cert, 0, false, req,
                                        sizeof req, &len),
                   0);
  ex2 = run("default", req, len);
  decode_response(ex2, &c, &rsp);
  assert_error(&rsp, CG_FI_BAD_RECIPIENT_NONCE);
  /* The MAC was good, so the error is MAC-protected too. */
  assert_int_equal(cmp_pbm_verify(&rsp, 10000, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  assert_int_equal(find_txn(cmp_exchange_txn(ex)->txid, NULL)->state, CMP_TXN_ISSUED);
  cmp_exchange_free(ex);
  cmp_exchange_free(ex2);
}

static void test_cert_conf_with_wrong_hash_is_bad_cert_id(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip, rsp;
  struct cmp_exchange *ex, *ex2;
  client_init(&c, REF, SECRET);
  enrol(&c, &ip, &ex);
  uint8_t req[4096];
  size_t len;
  c.hdr.recip_nonce = ip.hdr.sender_nonce;
  assert_int_equal(client_new_nonce(&c), 0); /* a fresh one, as every message has */
  /* Confirm another certificate than the one issued. */
  assert_int_equal(cmp_client_cert_conf(&c.mac, &c.hdr,
                                        (struct der_view){F->ca_cert, F->ca_cert_len}, 0, false,
                                        req, sizeof req, &len),
                   0);
  ex2 = run("default", req, len);
  decode_response(ex2, &c, &rsp);
  assert_error(&rsp, CG_FI_BAD_CERT_ID);
  cmp_exchange_free(ex);
  cmp_exchange_free(ex2);
}

/* Wrong secret, unknown reference and a corrupted MAC: the same signed
 * badMessageCheck answer, and nothing stored or issued. */
static void check_auth_failure(const uint8_t *req, size_t len, const struct client *c,
                               char detail_out[128]) {
  size_t txns = F->n_txns, issued = F->issued;
  struct cmp_exchange *ex = run("default", req, len);
  struct cmp_msg rsp;
  decode_response(ex, c, &rsp);
  assert_error(&rsp, CG_FI_BAD_MESSAGE_CHECK);
  assert_signed_by_ra(&rsp);
  assert_int_equal(F->n_txns, txns);
  assert_int_equal(F->issued, issued);
  struct cmp_exchange_info info;
  cmp_exchange_info(ex, &info);
  strncpy(detail_out, info.detail, 127);
  detail_out[127] = 0;
  cmp_exchange_free(ex);
}

static void test_wrong_secret_unknown_ref_and_bad_mac_answer_alike(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096];
  size_t len;
  char d1[128], d2[128], d3[128];
  client_init(&c, REF, "not the secret");
  len = make_ir(&c, req, sizeof req);
  check_auth_failure(req, len, &c, d1);

  client_init(&c, "no-such-reference", SECRET);
  len = make_ir(&c, req, sizeof req);
  check_auth_failure(req, len, &c, d2);

  client_init(&c, REF, SECRET);
  len = make_ir(&c, req, sizeof req);
  req[len - 1] ^= 0x01; /* the last octet of the MAC value */
  check_auth_failure(req, len, &c, d3);
  assert_string_equal(d1, d2);
  assert_string_equal(d2, d3);
}

static void test_secret_of_another_profile_is_refused(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096];
  size_t len;
  char d[128];
  client_init(&c, REF, SECRET);
  len = make_ir(&c, req, sizeof req);
  size_t txns = F->n_txns;
  struct cmp_exchange *ex = run("other", req, len);
  struct cmp_msg rsp;
  decode_response(ex, &c, &rsp);
  assert_error(&rsp, CG_FI_BAD_MESSAGE_CHECK);
  assert_int_equal(F->n_txns, txns);
  cmp_exchange_free(ex);
  (void)d;
}

static void test_reused_transaction_id_is_transaction_id_in_use(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip, rsp;
  struct cmp_exchange *ex, *ex2;
  client_init(&c, REF, SECRET);
  enrol(&c, &ip, &ex);
  uint8_t req[4096];
  size_t issued = F->issued;
  assert_int_equal(cg_random(c.nonce, 16), 0);
  size_t len = make_ir(&c, req, sizeof req); /* same transactionID, new nonce */
  ex2 = run("default", req, len);
  decode_response(ex2, &c, &rsp);
  assert_error(&rsp, CG_FI_TRANSACTION_ID_IN_USE);
  assert_int_equal(F->issued, issued);
  cmp_exchange_free(ex);
  cmp_exchange_free(ex2);
}

static void test_empty_subject_is_bad_cert_template_and_recorded_rejected(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096], empty[2] = {0x30, 0x00};
  size_t len;
  client_init(&c, REF, SECRET);
  assert_int_equal(cmp_client_ir(&c.mac, &c.hdr, (struct der_view){empty, 2}, F->dev_key, req,
                                 sizeof req, &len),
                   0);
  size_t issued = F->issued;
  struct cmp_exchange *ex = run("default", req, len);
  struct cmp_msg rsp;
  decode_response(ex, &c, &rsp);
  assert_rejected_in(&rsp, CMP_IP, CG_FI_BAD_CERT_TEMPLATE);
  assert_int_equal(cmp_pbm_verify(&rsp, 10000, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  assert_int_equal(F->issued, issued);
  struct cmp_txn_record *t = find_txn(cmp_exchange_txn(ex)->txid, NULL);
  assert_non_null(t);
  assert_int_equal(t->state, CMP_TXN_REJECTED);
  assert_int_equal(t->failinfo, CG_FI_BAD_CERT_TEMPLATE);
  cmp_exchange_free(ex);
}

static void test_cert_req_id_other_than_zero_is_bad_request(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096];
  client_init(&c, REF, SECRET);
  c.hdr.cert_req_id = 5;
  size_t len = make_ir(&c, req, sizeof req), issued = F->issued;
  struct cmp_exchange *ex = run("default", req, len);
  struct cmp_msg rsp;
  decode_response(ex, &c, &rsp);
  assert_rejected_in(&rsp, CMP_IP, CG_FI_BAD_REQUEST);
  assert_int_equal(F->issued, issued);
  cmp_exchange_free(ex);
}

static void test_iteration_count_over_the_cap_is_bad_alg(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096];
  client_init(&c, REF, SECRET);
  c.mac.iterations = 20000; /* the cap is 10000 */
  size_t len = make_ir(&c, req, sizeof req);
  struct cmp_exchange *ex = run("default", req, len);
  struct cmp_msg rsp;
  decode_response(ex, &c, &rsp);
  assert_error(&rsp, CG_FI_BAD_ALG);
  assert_signed_by_ra(&rsp);
  cmp_exchange_free(ex);
}

/* RFC 9810 §5.1.3.1 leaves the count to the parties; below 100 rounds the
 * MAC protects little (OpenSSL refuses too): badAlg, before any derivation.
 * 100 itself is served. */
static void test_iteration_count_under_the_floor_is_bad_alg(void **state) {
  (void)state;
  for (uint32_t n = 99; n <= 100; n++) {
    struct client c;
    uint8_t req[4096];
    client_init(&c, REF, SECRET);
    c.mac.iterations = n;
    size_t len = make_ir(&c, req, sizeof req);
    struct cmp_exchange *ex = run("default", req, len);
    struct cmp_msg rsp;
    decode_response(ex, &c, &rsp);
    if (n == 99) {
      assert_error(&rsp, CG_FI_BAD_ALG);
      assert_signed_by_ra(&rsp);
    } else {
      assert_int_equal(rsp.type, CMP_IP);
    }
    cmp_exchange_free(ex);
  }
}

static void test_garbage_gets_a_signed_bad_data_format_error(void **state) {
  (void)state;
  static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01};
  struct cmp_exchange *ex = run("default", junk, sizeof junk);
  struct cmp_msg rsp;
  decode_response(ex, NULL, &rsp);
  assert_error(&rsp, CG_FI_BAD_DATA_FORMAT);
  assert_signed_by_ra(&rsp);
  cmp_exchange_free(ex);
}

/* Every truncation of a valid request is answered with an error and issues
 * nothing. */
static void test_every_prefix_of_an_ir_is_refused(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096];
  client_init(&c, REF, SECRET);
  size_t len = make_ir(&c, req, sizeof req);
  size_t issued = F->issued;
  for (size_t n = 0; n < len; n++) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, req, n);
    struct cmp_exchange *ex = run("default", copy, n);
    free(copy);
    const uint8_t *p;
    size_t plen;
    struct cmp_msg rsp;
    cmp_exchange_response(ex, &p, &plen);
    assert_int_equal(cmp_msg_decode(p, plen, &rsp), 0);
    assert_int_equal(rsp.type, CMP_ERROR);
    cmp_exchange_free(ex);
  }
  assert_int_equal(F->issued, issued);
}

static void test_unsupported_body_is_bad_request(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096];
  client_init(&c, REF, SECRET);
  size_t len = make_ir(&c, req, sizeof req);
  /* Turn the ir body tag [0] into ccr [13], which an RA does not serve. */
  struct cmp_msg m;
  assert_int_equal(cmp_msg_decode(req, len, &m), 0);
  req[m.body.p - req] = DER_CTX_CONS(CMP_CCR);
  struct cmp_exchange *ex = run("default", req, len);
  struct cmp_msg rsp;
  decode_response(ex, &c, &rsp);
  assert_error(&rsp, CG_FI_BAD_REQUEST);
  cmp_exchange_free(ex);
}

/* Every allocation of a whole enrolment is made to fail in turn: the
 * exchange must still end (a protected error, or no exchange at all when its
 * own allocation failed), never issue without an answer, and leak nothing
 * (LeakSanitizer checks at exit). */
static void test_every_allocation_failing_in_turn_is_survived(void **state) {
  (void)state;
  uint8_t req[4096];
  unsigned failures = 0;
  for (unsigned n = 1; n < 200; n++) {
    struct client c;
    client_init(&c, REF, SECRET);
    size_t len = make_ir(&c, req, sizeof req);
    failalloc_arm(n);
    struct cmp_exchange *ex =
        cmp_exchange_new(&F->cfg, &F->prof_default, req, len, (int64_t)time(NULL));
    if (ex == NULL) {
      assert_true(failalloc_fired());
      failalloc_disarm();
      failures++;
      continue;
    }
    failalloc_disarm();
    cmp_exchange_free(ex);
    failalloc_arm(n);
    ex = run("default", req, len);
    bool fired = failalloc_fired();
    failalloc_disarm();
    const uint8_t *p;
    size_t plen;
    struct cmp_msg m;
    cmp_exchange_response(ex, &p, &plen);
    if (p != NULL) {
      assert_int_equal(cmp_msg_decode(p, plen, &m), 0);
      assert_true(m.type == CMP_IP || m.type == CMP_ERROR);
    }
    cmp_exchange_free(ex);
    if (!fired)
      break; /* the whole exchange ran with fewer than n allocations */
    failures++;
  }
  /* An enrolment allocates a handful of times (arena chunks, the CA's
   * buffer); the loop must have gone through all of them. */
  assert_true(failures >= 3);
  print_message("allocation failures survived: %u\n", failures);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ir_is_answered_with_a_mac_protected_ip_carrying_the_certificate),
      cmocka_unit_test(test_cert_conf_confirms_the_transaction_with_pkiconf),
      cmocka_unit_test(test_cert_conf_rejecting_the_certificate_ends_revoked_on_reject),
      cmocka_unit_test(test_empty_cert_conf_rejects_the_certificate),
      cmocka_unit_test(test_cert_conf_with_hash_alg_is_checked_with_that_hash),
      cmocka_unit_test(test_cert_conf_with_wrong_recip_nonce_is_bad_recipient_nonce),
      cmocka_unit_test(test_cert_conf_with_wrong_hash_is_bad_cert_id),
      cmocka_unit_test(test_wrong_secret_unknown_ref_and_bad_mac_answer_alike),
      cmocka_unit_test(test_secret_of_another_profile_is_refused),
      cmocka_unit_test(test_reused_transaction_id_is_transaction_id_in_use),
      cmocka_unit_test(test_empty_subject_is_bad_cert_template_and_recorded_rejected),
      cmocka_unit_test(test_cert_req_id_other_than_zero_is_bad_request),
      cmocka_unit_test(test_iteration_count_over_the_cap_is_bad_alg),
      cmocka_unit_test(test_iteration_count_under_the_floor_is_bad_alg),
      cmocka_unit_test(test_garbage_gets_a_signed_bad_data_format_error),
      cmocka_unit_test(test_every_prefix_of_an_ir_is_refused),
      cmocka_unit_test(test_unsupported_body_is_bad_request),
      cmocka_unit_test(test_every_allocation_failing_in_turn_is_survived),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
