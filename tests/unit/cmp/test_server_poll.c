/*
 * test_server_poll.c - delayed delivery in memory (RFC 9810 §5.3.22,
 * RFC 9483 §4.4): a request on a manual-approval profile waits, pollReq gets
 * pollRep until the approval, the approved request is issued by an exchange
 * with no peer, and the next pollReq gets the certificate.  Revocation
 * requests wait the same way (generalized delayed delivery).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_support.h"

static struct cmp_exchange *poll_on(const char *profile, struct client *c, int64_t id,
                                    struct cmp_msg *rsp) {
  uint8_t req[2048];
  size_t len;
  assert_int_equal(client_new_nonce(c), 0);
  assert_int_equal(cmp_client_poll_req(&c->mac, &c->hdr, id, req, sizeof req, &len), 0);
  struct cmp_exchange *ex = run(profile, req, len);
  decode_response(ex, c, rsp);
  return ex;
}

static struct cmp_exchange *poll_once(struct client *c, int64_t id, struct cmp_msg *rsp) {
  return poll_on("manual", c, id, rsp);
}

static void test_manual_approval_then_poll_delivers_the_certificate(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  uint8_t req[4096];
  client_init(&c, REF, SECRET);
  size_t len = make_ir(&c, req, sizeof req), issued = F->issued;
  struct cmp_exchange *ex = run("manual", req, len);
  decode_response(ex, &c, &rsp);
  /* The answer says waiting, with no certificate, and the request is kept. */
  assert_int_equal(rsp.type, CMP_IP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_WAITING);
  assert_null(rsp.u.cert_rep.rsp[0].cert.p);
  assert_int_equal(F->issued, issued);
  size_t idx;
  struct cmp_txn_record *t = find_txn(cmp_exchange_txn(ex)->txid, &idx);
  assert_non_null(t);
  assert_int_equal(t->state, CMP_TXN_PENDING_APPROVAL);
  assert_true(F->kept_len[idx] == len && !memcmp(F->kept[idx], req, len));
  /* rsp points into the exchange's answer: copy the nonce before freeing it. */
  uint8_t last_nonce[16];
  memcpy(last_nonce, rsp.hdr.sender_nonce.p, 16);
  cmp_exchange_free(ex);

  /* pollReq echoes the nonce of the last answer: pollRep with checkAfter. */
  c.hdr.recip_nonce = (struct der_view){last_nonce, 16};
  ex = poll_once(&c, 0, &rsp);
  assert_int_equal(rsp.type, CMP_POLLREP);
  assert_int_equal(rsp.u.poll_rep.n, 1);
  assert_int_equal(rsp.u.poll_rep.rep[0].check_after, 7);
  memcpy(last_nonce, rsp.hdr.sender_nonce.p, 16);
  cmp_exchange_free(ex);

  /* A pollReq echoing an older nonce is refused. */
  uint8_t stale[16] = {0};
  c.hdr.recip_nonce = (struct der_view){stale, 16};
  ex = poll_once(&c, 0, &rsp);
  assert_error(&rsp, CG_FI_BAD_RECIPIENT_NONCE);
  cmp_exchange_free(ex);

  /* The operator approves; the daemon issues from the kept request. */
  t->prev_state = t->state;
  t->state = CMP_TXN_PENDING_CA;
  ex = cmp_exchange_new_background(&F->cfg, &F->prof_manual, t, F->kept[idx], F->kept_len[idx],
                                 (int64_t)time(NULL));
  assert_non_null(ex);
  for (int steps = 0; cmp_exchange_step(ex) != CMP_STEP_DONE && steps < 10; steps++) {
    if (cmp_exchange_step(ex) == CMP_STEP_ISSUE) {
      const struct cmp_issue_request *r = cmp_exchange_issue_request(ex);
      struct cert_spec s = {0};
      uint8_t der[2048];
      size_t der_len;
      s.issuer = (struct der_view){F->ca_name, F->ca_name_len};
      s.subject = r->subject;
      s.spki = r->spki;
      s.not_before = (int64_t)time(NULL);
      s.not_after = s.not_before + 3600;
      assert_int_equal(cg_cert_random_serial(&s), 0);
      assert_int_equal(cg_cert_build(&s, F->ca_key, der, sizeof der, &der_len), 0);
      cmp_exchange_issue_done(ex, 0, der, der_len);
    } else if (cmp_exchange_step(ex) == CMP_STEP_UPDATE) {
      const struct cmp_cert_record *cert = cmp_exchange_cert(ex);
      assert_non_null(cert);
      assert_int_equal(cmp_exchange_txn(ex)->state, CMP_TXN_ISSUED);
      assert_int_equal(cmp_exchange_txn(ex)->prev_state, CMP_TXN_PENDING_CA);
      /* the row keeps the nonce the device will echo: the update leaves it */
      assert_string_equal(cmp_exchange_txn(ex)->sender_nonce, "");
      char kept_nonce[sizeof t->sender_nonce];
      memcpy(kept_nonce, t->sender_nonce, sizeof kept_nonce);
      *t = *cmp_exchange_txn(ex);
      memcpy(t->sender_nonce, kept_nonce, sizeof kept_nonce);
      memcpy(F->certs[idx], cert->der, cert->der_len);
      F->cert_lens[idx] = cert->der_len;
      cmp_exchange_store_done(ex, 0);
    } else {
      fail_msg("unexpected step %d", cmp_exchange_step(ex));
    }
  }
  const uint8_t *none;
  size_t none_len;
  cmp_exchange_response(ex, &none, &none_len);
  assert_null(none); /* nobody to answer */
  cmp_exchange_free(ex);

  /* The next pollReq gets the ip with the certificate, and certConf ends it. */
  c.hdr.recip_nonce = (struct der_view){last_nonce, 16};
  ex = poll_once(&c, 0, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  assert_true(cg_der_view_is(rsp.u.cert_rep.rsp[0].cert, F->certs[idx], F->cert_lens[idx]));
  uint8_t ip_nonce[16];
  memcpy(ip_nonce, rsp.hdr.sender_nonce.p, 16);
  struct der_view cert = {F->certs[idx], F->cert_lens[idx]};
  cmp_exchange_free(ex);
  c.hdr.recip_nonce = (struct der_view){ip_nonce, 16};
  assert_int_equal(client_new_nonce(&c), 0);
  assert_int_equal(cmp_client_cert_conf(&c.mac, &c.hdr, cert, 0, false, req, sizeof req, &len), 0);
  ex = run("manual", req, len);
  decode_response(ex, &c, &rsp);
  assert_int_equal(rsp.type, CMP_PKICONF);
  assert_int_equal(t->state, CMP_TXN_CONFIRMED);
  cmp_exchange_free(ex);
}

/* An approval days after the request still issues (messageTime was checked
 * when the request arrived); a kept request that no longer decodes fails its
 * transaction instead of staying approved for ever. */
static void test_late_approval_issues_and_a_broken_kept_request_fails(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  uint8_t req[4096];
  client_init(&c, REF, SECRET);
  F->cfg.max_clock_skew = 600;
  size_t len = make_ir(&c, req, sizeof req), idx;
  struct cmp_exchange *ex = run("manual", req, len);
  decode_response(ex, &c, &rsp);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_WAITING);
  struct cmp_txn_record *t = find_txn(cmp_exchange_txn(ex)->txid, &idx);
  cmp_exchange_free(ex);
  assert_non_null(t);
  t->prev_state = t->state;
  t->state = CMP_TXN_PENDING_CA;
  int64_t later = (int64_t)time(NULL) + 3 * 86400;
  ex = cmp_exchange_new_background(&F->cfg, &F->prof_manual, t, F->kept[idx], F->kept_len[idx],
                                 later);
  assert_non_null(ex);
  assert_int_equal(cmp_exchange_step(ex), CMP_STEP_ISSUE);
  cmp_exchange_free(ex);

  static const uint8_t broken[] = {0x30, 0x03, 0x02, 0x01, 0x00};
  ex = cmp_exchange_new_background(&F->cfg, &F->prof_manual, t, broken, sizeof broken, later);
  assert_non_null(ex);
  assert_int_equal(cmp_exchange_step(ex), CMP_STEP_UPDATE);
  assert_int_equal(cmp_exchange_txn(ex)->state, CMP_TXN_FAILED);
  assert_int_equal(cmp_exchange_txn(ex)->prev_state, CMP_TXN_PENDING_CA);
  cmp_exchange_store_done(ex, 0);
  assert_int_equal(cmp_exchange_step(ex), CMP_STEP_DONE);
  cmp_exchange_free(ex);
  F->cfg.max_clock_skew = 0;
}

/* A CA that answers "waiting": the device is told to wait (pending_ca, the
 * request kept) and polls; asked again and still waiting, the row only
 * moves back in the queue, its nonce left to the polls. */
static void test_a_waiting_ca_makes_the_device_poll(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  uint8_t req[4096];
  client_init(&c, REF, SECRET);
  size_t len = make_ir(&c, req, sizeof req), idx, issued = F->issued;
  F->ca_waits = true;
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_WAITING);
  assert_null(rsp.u.cert_rep.rsp[0].cert.p);
  struct cmp_txn_record *t = find_txn(cmp_exchange_txn(ex)->txid, &idx);
  assert_non_null(t);
  assert_int_equal(t->state, CMP_TXN_PENDING_CA);
  assert_true(F->kept_len[idx] == len && !memcmp(F->kept[idx], req, len));
  uint8_t nonce[16];
  memcpy(nonce, rsp.hdr.sender_nonce.p, 16);
  cmp_exchange_free(ex);

  c.hdr.recip_nonce = (struct der_view){nonce, 16};
  ex = poll_on("default", &c, 0, &rsp);
  assert_int_equal(rsp.type, CMP_POLLREP);
  cmp_exchange_free(ex);

  ex = cmp_exchange_new_background(&F->cfg, &F->prof_default, t, F->kept[idx], F->kept_len[idx],
                                 (int64_t)time(NULL));
  assert_non_null(ex);
  assert_int_equal(cmp_exchange_step(ex), CMP_STEP_ISSUE);
  cmp_exchange_issue_waiting(ex);
  assert_int_equal(cmp_exchange_step(ex), CMP_STEP_UPDATE);
  assert_int_equal(cmp_exchange_txn(ex)->state, CMP_TXN_PENDING_CA);
  assert_int_equal(cmp_exchange_txn(ex)->prev_state, CMP_TXN_PENDING_CA);
  assert_string_equal(cmp_exchange_txn(ex)->sender_nonce, "");
  cmp_exchange_store_done(ex, 0);
  assert_int_equal(cmp_exchange_step(ex), CMP_STEP_DONE);
  cmp_exchange_free(ex);
  assert_int_equal(F->issued, issued);
  F->ca_waits = false;
}

/* Enrols on the default profile (MAC, REF) and copies the certificate out. */
static size_t enrolled_cert(uint8_t *out, size_t cap) {
  struct client c;
  struct cmp_msg ip;
  struct cmp_exchange *ex;
  client_init(&c, REF, SECRET);
  enrol(&c, &ip, &ex);
  struct der_view cert = ip.u.cert_rep.rsp[0].cert;
  assert_non_null(cert.p);
  assert_true(cert.len <= cap);
  memcpy(out, cert.p, cert.len);
  cmp_exchange_free(ex);
  return cert.len;
}

/* Sends an rr for cert on the manual profile, which waits for revocations:
 * the answer is an error message with status waiting. */
static struct cmp_txn_record *rr_waiting(struct client *c, const uint8_t *cert, size_t cert_len,
                                         uint8_t nonce[16], size_t *idx) {
  struct cmp_msg rsp;
  struct cg_x509 x;
  uint8_t req[4096];
  size_t len, revocations = F->n_revocations;
  assert_int_equal(cg_x509_parse(cert, cert_len, &x), 0);
  assert_int_equal(cmp_client_rr(&c->mac, &c->hdr, x.issuer, x.serial, 5, req, sizeof req, &len),
                   0);
  struct cmp_exchange *ex = run("manual", req, len);
  decode_response(ex, c, &rsp);
  assert_int_equal(rsp.type, CMP_ERROR);
  assert_int_equal(rsp.u.error.status.status, CMP_WAITING);
  assert_false(rsp.u.error.status.has_fail_info);
  assert_int_equal(F->n_revocations, revocations);
  struct cmp_txn_record *t = find_txn(cmp_exchange_txn(ex)->txid, idx);
  assert_non_null(t);
  assert_int_equal(t->state, CMP_TXN_PENDING_APPROVAL);
  assert_int_equal(t->cert_req_id, -1);
  assert_string_equal(t->req_type, "rr");
  assert_true(F->kept_len[*idx] == len && !memcmp(F->kept[*idx], req, len));
  memcpy(nonce, rsp.hdr.sender_nonce.p, 16);
  cmp_exchange_free(ex);
  return t;
}

/* The operator's approval, then the daemon's background exchange. */
static void approve_in_background(struct cmp_txn_record *t, size_t idx) {
  t->prev_state = t->state;
  t->state = CMP_TXN_PENDING_CA;
  struct cmp_exchange *ex = cmp_exchange_new_background(&F->cfg, &F->prof_manual, t, F->kept[idx],
                                                      F->kept_len[idx], (int64_t)time(NULL));
  assert_non_null(ex);
  play(ex, "manual");
  const uint8_t *none;
  size_t none_len;
  cmp_exchange_response(ex, &none, &none_len);
  assert_null(none); /* nobody to answer */
  cmp_exchange_free(ex);
}

static void test_rr_on_manual_revocation_waits_and_polls_to_its_rp(void **state) {
  (void)state;
  uint8_t cert[2048], nonce[16];
  size_t cert_len = enrolled_cert(cert, sizeof cert), idx, before = F->n_revocations;
  struct client c;
  struct cmp_msg rsp;
  F->prof_manual.manual_revocation = true;
  client_init(&c, REF, SECRET);
  struct cmp_txn_record *t = rr_waiting(&c, cert, cert_len, nonce, &idx);

  /* A pollReq naming certReqId 0 does not match the rr's -1. */
  c.hdr.recip_nonce = (struct der_view){nonce, 16};
  struct cmp_exchange *ex = poll_once(&c, 0, &rsp);
  assert_error(&rsp, CG_FI_BAD_CERT_ID);
  cmp_exchange_free(ex);
  /* certReqId -1: pollRep -1 with checkAfter, a fresh nonce kept. */
  ex = poll_once(&c, -1, &rsp);
  assert_int_equal(rsp.type, CMP_POLLREP);
  assert_int_equal(rsp.u.poll_rep.rep[0].cert_req_id, -1);
  assert_int_equal(rsp.u.poll_rep.rep[0].check_after, 7);
  memcpy(nonce, rsp.hdr.sender_nonce.p, 16);
  cmp_exchange_free(ex);
  assert_int_equal(F->n_revocations, before);

  approve_in_background(t, idx);
  assert_int_equal(t->state, CMP_TXN_CONFIRMED);
  assert_int_equal(F->n_revocations, before + 1);

  /* The next pollReq gets the rp; a repeated one gets it again. */
  for (int i = 0; i < 2; i++) {
    c.hdr.recip_nonce = (struct der_view){nonce, 16};
    ex = poll_once(&c, -1, &rsp);
    assert_int_equal(rsp.type, CMP_RP);
    assert_int_equal(rsp.u.rev_rep.status[0].status, CMP_ACCEPTED);
    cmp_exchange_free(ex);
  }
  assert_int_equal(F->n_revocations, before + 1);
  F->prof_manual.manual_revocation = false;
}

/* Approved after the certificate was revoked another way: the transaction
 * fails with certRevoked, and the device learns it at its next poll. */
static void test_approved_rr_of_a_revoked_certificate_fails(void **state) {
  (void)state;
  uint8_t cert[2048], nonce[16];
  size_t cert_len = enrolled_cert(cert, sizeof cert), idx;
  struct client c;
  struct cmp_msg rsp;
  F->prof_manual.manual_revocation = true;
  client_init(&c, REF, SECRET);
  struct cmp_txn_record *t = rr_waiting(&c, cert, cert_len, nonce, &idx);
  for (size_t i = 0; i < F->n_txns; i++)
    if (F->cert_lens[i] == cert_len && !memcmp(F->certs[i], cert, cert_len))
      F->revoked[i] = true; /* an operator's `cmpgw revoke` meanwhile */
  size_t before = F->n_revocations;
  approve_in_background(t, idx);
  assert_int_equal(t->state, CMP_TXN_FAILED);
  assert_int_equal(t->failinfo, CG_FI_CERT_REVOKED);
  assert_int_equal(F->n_revocations, before);
  c.hdr.recip_nonce = (struct der_view){nonce, 16};
  struct cmp_exchange *ex = poll_once(&c, -1, &rsp);
  assert_error(&rsp, CG_FI_CERT_REVOKED);
  cmp_exchange_free(ex);
  F->prof_manual.manual_revocation = false;
}

static void test_poll_for_an_unknown_transaction_is_bad_request(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  uint8_t nonce[16] = {1};
  client_init(&c, REF, SECRET);
  c.hdr.recip_nonce = (struct der_view){nonce, 16};
  struct cmp_exchange *ex = poll_once(&c, 0, &rsp);
  assert_error(&rsp, CG_FI_BAD_REQUEST);
  cmp_exchange_free(ex);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_manual_approval_then_poll_delivers_the_certificate),
      cmocka_unit_test(test_late_approval_issues_and_a_broken_kept_request_fails),
      cmocka_unit_test(test_a_waiting_ca_makes_the_device_poll),
      cmocka_unit_test(test_rr_on_manual_revocation_waits_and_polls_to_its_rp),
      cmocka_unit_test(test_approved_rr_of_a_revoked_certificate_fails),
      cmocka_unit_test(test_poll_for_an_unknown_transaction_is_bad_request),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
