/*
 * test_server_ca.c - what the engine does with a CA's answers (cmp/server.h
 * cmp_exchange_issue_answer(), cmp_exchange_revoke_answer()), in memory: a
 * refusal passed on with the CA's failInfo and words, a CA failure reported
 * as the CA's, waiting with the state a backend keeps and hands back, an rr
 * recorded only after the CA revoked, and a certificate rejected in certConf
 * revoked at the CA (and here, whatever the CA said).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_support.h"

static void test_a_ca_refusal_is_passed_on_with_its_words(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  uint8_t req[4096];
  char text[256];
  client_init(&c, REF, SECRET);
  F->ca_answer_set = true;
  F->ca_answer = (struct cmp_ca_answer){.err = CG_EBAD_TEMPLATE,
                                        .detail = "subject not allowed by the CA policy"};
  size_t len = make_ir(&c, req, sizeof req);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_rejected_in(&rsp, CMP_IP, CG_FI_BAD_CERT_TEMPLATE);
  status_text(&rsp, text, sizeof text);
  assert_string_equal(text, "subject not allowed by the CA policy");
  assert_int_equal(F->seen_type, CMP_IR);
  /* Recorded as rejected, with the failInfo. */
  const struct cmp_txn_record *t = find_txn(cmp_exchange_txn(ex)->txid, NULL);
  assert_non_null(t);
  assert_int_equal(t->state, CMP_TXN_REJECTED);
  assert_int_equal(t->failinfo, CG_FI_BAD_CERT_TEMPLATE);
  cmp_exchange_free(ex);

  /* The CA failing (unreachable, say) is the CA's failure: systemUnavail. */
  client_init(&c, REF, SECRET);
  F->ca_answer = (struct cmp_ca_answer){.err = CG_ECA_UNAVAILABLE,
                                        .detail = "the CA did not answer within 30 s"};
  len = make_ir(&c, req, sizeof req);
  ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_error(&rsp, CG_FI_SYSTEM_UNAVAIL);
  status_text(&rsp, text, sizeof text);
  assert_string_equal(text, "the CA did not answer within 30 s");
  cmp_exchange_free(ex);
  F->ca_answer_set = false;
}

/* Waiting at the CA: the row keeps the backend's state and when to ask
 * again; the background exchange hands that state back to the backend. */
static void test_a_waiting_ca_keeps_its_state_for_the_next_ask(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  uint8_t req[4096];
  static const uint8_t kept[] = "upstream nonce 1";
  client_init(&c, REF, SECRET);
  F->ca_answer_set = true;
  F->ca_answer = (struct cmp_ca_answer){
      .waiting = true, .check_after = 40, .ca_state = {kept, sizeof kept}};
  size_t len = make_ir(&c, req, sizeof req), idx;
  int64_t before = (int64_t)time(NULL);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_WAITING);
  struct cmp_txn_record *t = find_txn(cmp_exchange_txn(ex)->txid, &idx);
  cmp_exchange_free(ex);
  assert_int_equal(t->state, CMP_TXN_PENDING_CA);
  assert_int_equal(t->ca_state_len, sizeof kept);
  assert_memory_equal(t->ca_state, kept, sizeof kept);
  assert_true(t->ca_check_at >= before + 40 && t->ca_check_at <= (int64_t)time(NULL) + 40);

  /* Asked again: still waiting, with new state; then the certificate. */
  static const uint8_t kept2[] = "upstream nonce 2";
  F->ca_answer.ca_state = (struct der_view){kept2, sizeof kept2};
  ex = cmp_exchange_new_background(&F->cfg, &F->prof_default, t, F->kept[idx], F->kept_len[idx],
                                 (int64_t)time(NULL));
  play(ex, "default");
  cmp_exchange_free(ex);
  assert_int_equal(F->seen_ca_state_len, sizeof kept);
  assert_memory_equal(F->seen_ca_state, kept, sizeof kept);
  assert_int_equal(t->state, CMP_TXN_PENDING_CA);
  assert_memory_equal(t->ca_state, kept2, sizeof kept2);

  F->ca_answer_set = false;
  ex = cmp_exchange_new_background(&F->cfg, &F->prof_default, t, F->kept[idx], F->kept_len[idx],
                                 (int64_t)time(NULL));
  play(ex, "default");
  cmp_exchange_free(ex);
  assert_memory_equal(F->seen_ca_state, kept2, sizeof kept2);
  assert_int_equal(t->state, CMP_TXN_ISSUED);
  assert_true(F->cert_lens[idx] > 0);

  /* A backend that would keep more than the row holds is a CA failure. */
  client_init(&c, REF, SECRET);
  static uint8_t big[CMP_MAX_CA_STATE + 1];
  F->ca_answer_set = true;
  F->ca_answer = (struct cmp_ca_answer){.waiting = true, .ca_state = {big, sizeof big}};
  len = make_ir(&c, req, sizeof req);
  ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_error(&rsp, CG_FI_SYSTEM_FAILURE);
  cmp_exchange_free(ex);
  F->ca_answer_set = false;
}

/* Enrols a certificate with the client c; its serial as INTEGER contents
 * and its issuer into the outputs. */
static void enrolled(struct client *c, uint8_t *cert, size_t *cert_len) {
  struct cmp_msg ip;
  struct cmp_exchange *ex;
  enrol(c, &ip, &ex);
  assert_int_equal(ip.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  memcpy(cert, ip.u.cert_rep.rsp[0].cert.p, *cert_len = ip.u.cert_rep.rsp[0].cert.len);
  cmp_exchange_free(ex);
}

static struct cmp_exchange *rr_of(struct client *c, const uint8_t *cert, size_t cert_len,
                                  struct cmp_msg *rsp) {
  struct cg_x509 x;
  uint8_t req[4096];
  size_t len;
  assert_int_equal(cg_x509_parse(cert, cert_len, &x), 0);
  client_init(c, REF, SECRET);
  assert_int_equal(cmp_client_rr(&c->mac, &c->hdr, x.issuer, x.serial, 5, req, sizeof req, &len),
                   0);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, c, rsp);
  return ex;
}

static void test_an_rr_is_recorded_only_after_the_ca_revoked(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  uint8_t cert[2048];
  size_t cert_len;
  client_init(&c, REF, SECRET);
  enrolled(&c, cert, &cert_len);
  size_t revocations = F->n_revocations, asked = F->ca_revokes;

  /* The CA refuses: its failInfo to the device, nothing revoked here. */
  F->ca_revoke_err = CG_ENOT_AUTHORIZED;
  struct cmp_exchange *ex = rr_of(&c, cert, cert_len, &rsp);
  assert_rejected_in(&rsp, CMP_RP, CG_FI_NOT_AUTHORIZED);
  assert_int_equal(F->ca_revokes, asked + 1);
  assert_int_equal(F->n_revocations, revocations);
  assert_int_equal(find_txn(cmp_exchange_txn(ex)->txid, NULL)->state, CMP_TXN_REJECTED);
  cmp_exchange_free(ex);

  /* The CA holds it: the device is told to wait (an error message with
   * status waiting), nothing revoked yet. */
  F->ca_revoke_err = 0;
  F->ca_revoke_waits = true;
  ex = rr_of(&c, cert, cert_len, &rsp);
  assert_int_equal(rsp.type, CMP_ERROR);
  assert_int_equal(rsp.u.error.status.status, CMP_WAITING);
  assert_int_equal(F->n_revocations, revocations);
  const struct cmp_txn_record *t = find_txn(cmp_exchange_txn(ex)->txid, NULL);
  assert_int_equal(t->state, CMP_TXN_PENDING_CA);
  assert_true(t->ca_check_at > 0);
  cmp_exchange_free(ex);

  /* The CA revokes: recorded, rp accepted. */
  F->ca_revoke_waits = false;
  ex = rr_of(&c, cert, cert_len, &rsp);
  assert_int_equal(rsp.type, CMP_RP);
  assert_int_equal(rsp.u.rev_rep.status[0].status, CMP_ACCEPTED);
  assert_int_equal(F->n_revocations, revocations + 1);
  cmp_exchange_free(ex);
}

/* A certificate the device rejects is revoked at the CA, and here even when
 * the CA cannot (the device's rejection stands). */
static void test_a_rejected_certificate_is_revoked_at_the_ca(void **state) {
  (void)state;
  for (int ca_fails = 0; ca_fails < 2; ca_fails++) {
    struct client c;
    struct cmp_msg ip, rsp;
    struct cmp_exchange *ex;
    uint8_t req[4096];
    size_t len;
    client_init(&c, REF, SECRET);
    enrol(&c, &ip, &ex);
    uint8_t nonce[16], cert[2048];
    size_t cert_len = ip.u.cert_rep.rsp[0].cert.len;
    memcpy(nonce, ip.hdr.sender_nonce.p, 16);
    memcpy(cert, ip.u.cert_rep.rsp[0].cert.p, cert_len);
    cmp_exchange_free(ex);
    size_t asked = F->ca_revokes, revocations = F->n_revocations;
    F->ca_revoke_err = ca_fails ? CG_ECA_UNAVAILABLE : 0;
    c.hdr.recip_nonce = (struct der_view){nonce, 16};
    assert_int_equal(client_new_nonce(&c), 0);
    assert_int_equal(cmp_client_cert_conf(&c.mac, &c.hdr, (struct der_view){cert, cert_len}, 0,
                                          true, req, sizeof req, &len),
                     0);
    ex = run("default", req, len);
    decode_response(ex, &c, &rsp);
    assert_int_equal(rsp.type, CMP_PKICONF);
    assert_int_equal(F->ca_revokes, asked + 1);
    assert_int_equal(F->n_revocations, revocations + 1);
    assert_int_equal(find_txn(cmp_exchange_txn(ex)->txid, NULL)->state,
                     CMP_TXN_REVOKED_ON_REJECT);
    cmp_exchange_free(ex);
  }
  F->ca_revoke_err = 0;
}

/* An RA in front of the gateway acts for its devices (RFC 9483 §5.3): with
 * on_behalf, the credential that enrolled a certificate may update it (kur
 * naming it in oldCertId) and revoke it; without, only the certificate itself. */
static void test_on_behalf_the_enroller_may_update_and_revoke(void **state) {
  (void)state;
  for (int allowed = 0; allowed < 2; allowed++) {
    const char *profile = allowed ? "onbehalf" : "default";
    struct client c;
    struct cmp_msg rsp;
    uint8_t req[4096], cert[2048];
    size_t len, cert_len;
    /* Enrolled by the "RA": a cr signed with the RA's certificate. */
    struct cmp_client_cred ra = {.key = F->ra_key, .cert = {F->ra_cert, F->ra_cert_len}};
    client_init(&c, REF, SECRET);
    assert_int_equal(cmp_client_cert_req(&ra, &c.hdr, CMP_CR,
                                         (struct der_view){F->dev_name, F->dev_name_len},
                                         F->dev_key, (struct der_view){NULL, 0}, req, sizeof req,
                                         &len),
                     0);
    struct cmp_exchange *ex = run(profile, req, len);
    decode_response(ex, &c, &rsp);
    assert_int_equal(rsp.type, CMP_CP);
    assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
    memcpy(cert, rsp.u.cert_rep.rsp[0].cert.p, cert_len = rsp.u.cert_rep.rsp[0].cert.len);
    cmp_exchange_free(ex);

    /* kur of it, signed by the RA, naming it in oldCertId. */
    struct cg_key *new_key;
    assert_int_equal(cg_key_generate_ec(256, &new_key), 0);
    client_init(&c, REF, SECRET);
    assert_int_equal(cmp_client_cert_req(&ra, &c.hdr, CMP_KUR, (struct der_view){NULL, 0},
                                         new_key, (struct der_view){cert, cert_len}, req,
                                         sizeof req, &len),
                     0);
    ex = run(profile, req, len);
    decode_response(ex, &c, &rsp);
    if (allowed) {
      assert_int_equal(rsp.type, CMP_KUP);
      assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
      /* the subject of the certificate updated, not the RA's */
      struct cg_x509 x;
      assert_int_equal(cg_x509_parse(rsp.u.cert_rep.rsp[0].cert.p,
                                     rsp.u.cert_rep.rsp[0].cert.len, &x), 0);
      assert_true(cg_der_view_is(x.subject, F->dev_name, F->dev_name_len));
    } else {
      assert_rejected_in(&rsp, CMP_KUP, CG_FI_NOT_AUTHORIZED);
    }
    cmp_exchange_free(ex);
    cg_key_free(new_key);

    /* rr of it, signed by the RA. */
    struct cg_x509 x;
    assert_int_equal(cg_x509_parse(cert, cert_len, &x), 0);
    client_init(&c, REF, SECRET);
    assert_int_equal(cmp_client_rr(&ra, &c.hdr, x.issuer, x.serial, 4, req, sizeof req, &len), 0);
    ex = run(profile, req, len);
    decode_response(ex, &c, &rsp);
    if (allowed) {
      assert_int_equal(rsp.type, CMP_RP);
      assert_int_equal(rsp.u.rev_rep.status[0].status, CMP_ACCEPTED);
    } else {
      assert_rejected_in(&rsp, CMP_RP, CG_FI_NOT_AUTHORIZED);
    }
    cmp_exchange_free(ex);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_a_ca_refusal_is_passed_on_with_its_words, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_waiting_ca_keeps_its_state_for_the_next_ask, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_an_rr_is_recorded_only_after_the_ca_revoked, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_rejected_certificate_is_revoked_at_the_ca, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_on_behalf_the_enroller_may_update_and_revoke, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
