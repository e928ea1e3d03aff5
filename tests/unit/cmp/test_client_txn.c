/*
 * test_client_txn.c - the client transaction engine (cmp/client_txn.h)
 * against the server engine in memory: enrolments with and without
 * confirmation, polling (in the engine, and resumed from what a caller kept),
 * rr and genm, forwarding a whole message, and every way an answer is
 * refused: another transaction, another nonce, broken protection, garbage,
 * an unverified error, a transport failure, a certificate for another key.
 * Every allocation failing in turn leaves a clean outcome and no leak.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp/client_txn.h"
#include "engine_support.h"
#include "failalloc.h"

struct harness {
  struct cmp_client_cfg cfg;
  const char *profile;
  int answers;              /* answers the "server" gave */
  /* a hook that may change the answer before the client sees it */
  void (*tamper)(struct harness *h, uint8_t *rsp, size_t *len);
  uint8_t kept[8192];       /* an earlier answer, for replays */
  size_t kept_len;
  bool fail_transport;      /* the message does not get through */
  bool approve_on_wait;     /* issue a waiting transaction at the first WAIT */
  unsigned waits;
};

static int64_t now(void) { return (int64_t)time(NULL); }

static void mac_cfg(struct harness *h, const char *profile) {
  memset(h, 0, sizeof *h);
  h->profile = profile;
  h->cfg.cred = (struct cmp_client_cred){.secret = (const uint8_t *)SECRET,
                                         .secret_len = strlen(SECRET),
                                         .ref = (const uint8_t *)REF,
                                         .ref_len = strlen(REF),
                                         .iterations = 500,
                                         .owf = CG_HASH_SHA256,
                                         .mac = CG_HASH_SHA256};
  h->cfg.trusted = F->ca_chain;
  h->cfg.n_trusted = 1;
  h->cfg.max_iterations = 10000;
}

/* The one transaction the "server" made waiting: issued now, as the daemon's
 * background issuer would after an approval. */
static void issue_waiting(const char *profile) {
  for (size_t i = 0; i < F->n_txns; i++) {
    struct cmp_txn_record *t = &F->txns[i];
    if (t->state != CMP_TXN_PENDING_CA && t->state != CMP_TXN_PENDING_APPROVAL)
      continue;
    t->prev_state = t->state;
    t->state = CMP_TXN_PENDING_CA;
    bool waits = F->ca_waits;
    F->ca_waits = false;
    struct cmp_exchange *ex = cmp_exchange_new_background(&F->cfg, profile_named(profile), t,
                                                        F->kept[i], F->kept_len[i], now());
    assert_non_null(ex);
    play(ex, profile);
    cmp_exchange_free(ex);
    F->ca_waits = waits;
    assert_int_equal(t->state, CMP_TXN_ISSUED);
  }
}

/* Runs the transaction to its end with the server engine as the peer. */
static void drive(struct harness *h, struct cmp_client_txn *t) {
  for (int steps = 0; steps < 64; steps++) {
    switch (cmp_client_txn_step(t)) {
    case CMP_CLIENT_COMPUTE:
      cmp_client_txn_compute(t);
      break;
    case CMP_CLIENT_SEND: {
      const uint8_t *msg;
      size_t len;
      cmp_client_txn_message(t, &msg, &len);
      assert_non_null(msg);
      if (h->fail_transport) {
        cmp_client_txn_failed(t, CG_EIO, "connect: connection refused", now());
        break;
      }
      struct cmp_exchange *ex = run(h->profile, msg, len);
      const uint8_t *rsp;
      size_t rsp_len;
      cmp_exchange_response(ex, &rsp, &rsp_len);
      assert_non_null(rsp);
      uint8_t copy[8192];
      assert_true(rsp_len <= sizeof copy);
      memcpy(copy, rsp, rsp_len);
      cmp_exchange_free(ex);
      h->answers++;
      if (h->tamper != NULL)
        h->tamper(h, copy, &rsp_len);
      cmp_client_txn_received(t, copy, rsp_len, now());
      break;
    }
    case CMP_CLIENT_WAIT:
      h->waits++;
      if (h->approve_on_wait)
        issue_waiting(h->profile);
      cmp_client_txn_wake(t, now());
      break;
    case CMP_CLIENT_DONE:
      return;
    }
  }
  fail_msg("the client transaction did not finish");
}

/* An ir for the device key, by body. */
static struct cmp_client_txn *new_ir(struct harness *h, uint8_t *spki, size_t *spki_len) {
  uint8_t body[4096];
  size_t len;
  assert_int_equal(cmp_client_cert_req_body(CMP_IR, 0,
                                            (struct der_view){F->dev_name, F->dev_name_len},
                                            F->dev_key, (struct der_view){NULL, 0},
                                            (struct der_view){NULL, 0}, body, sizeof body, &len),
                   0);
  assert_int_equal(cg_key_spki(F->dev_key, spki, 512, spki_len), 0);
  struct cmp_client_req req = {.type = CMP_IR,
                               .body = {body, len},
                               .cert_req_id = 0,
                               .expect_spki = {spki, *spki_len}};
  struct cmp_client_txn *t;
  assert_int_equal(cmp_client_txn_new(&h->cfg, &req, now(), &t), 0);
  return t;
}

static void assert_outcome(struct cmp_client_txn *t, enum cmp_client_outcome o,
                           struct cmp_client_result *r) {
  cmp_client_txn_result(t, r);
  if (r->outcome != o)
    fail_msg("outcome %d (%s), expected %d", r->outcome, r->detail ? r->detail : "", o);
}

static void test_ir_is_confirmed_and_the_certificate_kept(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  mac_cfg(&h, "default");
  struct cmp_client_txn *t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  assert_int_equal(h.answers, 2); /* ip, pkiConf */
  assert_false(r.implicit_confirm);
  assert_non_null(r.cert.p);
  assert_int_equal(r.answer->type, CMP_PKICONF);
  /* The server's transaction is confirmed and holds that certificate. */
  char txid[2 * 16 + 1];
  struct der_view id = cmp_client_txn_id(t);
  cg_hex(id.p, id.len, txid);
  size_t idx;
  struct cmp_txn_record *rec = find_txn(txid, &idx);
  assert_non_null(rec);
  assert_int_equal(rec->state, CMP_TXN_CONFIRMED);
  assert_true(cg_der_view_is(r.cert, F->certs[idx], F->cert_lens[idx]));
  struct cg_x509 x;
  assert_int_equal(cg_x509_parse(r.cert.p, r.cert.len, &x), 0);
  assert_true(cg_der_view_is(x.spki, spki, spki_len));
  cmp_client_txn_free(t);
}

static void test_implicit_confirmation_needs_no_certconf(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  mac_cfg(&h, "implicit");
  h.cfg.implicit_confirm = true;
  struct cmp_client_txn *t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  assert_int_equal(h.answers, 1);
  assert_true(r.implicit_confirm);
  assert_non_null(r.cert.p);
  cmp_client_txn_free(t);

  /* Asked on a profile that does not grant it: confirmed as usual. */
  mac_cfg(&h, "default");
  h.cfg.implicit_confirm = true;
  t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  assert_int_equal(h.answers, 2);
  assert_false(r.implicit_confirm);
  cmp_client_txn_free(t);
}

/* A waiting CA: the engine polls (pollRep's checkAfter) and the certificate
 * arrives on a later poll, then it is confirmed. */
static void test_waiting_answer_is_polled_until_the_certificate(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  mac_cfg(&h, "manual");
  h.cfg.poll_max_s = 3600;
  struct cmp_client_txn *t = new_ir(&h, spki, &spki_len);
  /* ip waiting -> pollReq at once -> pollRep (checkAfter 7) -> wait */
  for (int i = 0; i < 8 && cmp_client_txn_step(t) != CMP_CLIENT_WAIT; i++) {
    if (cmp_client_txn_step(t) == CMP_CLIENT_COMPUTE) {
      cmp_client_txn_compute(t);
      continue;
    }
    const uint8_t *msg;
    size_t len;
    cmp_client_txn_message(t, &msg, &len);
    struct cmp_exchange *ex = run("manual", msg, len);
    const uint8_t *rsp;
    size_t rsp_len;
    cmp_exchange_response(ex, &rsp, &rsp_len);
    cmp_client_txn_received(t, rsp, rsp_len, now());
    cmp_exchange_free(ex);
  }
  assert_int_equal(cmp_client_txn_step(t), CMP_CLIENT_WAIT);
  assert_int_equal(cmp_client_txn_wait(t), 0); /* the first poll goes at once */
  cmp_client_txn_wake(t, now());
  cmp_client_txn_compute(t);
  const uint8_t *msg;
  size_t len;
  cmp_client_txn_message(t, &msg, &len);
  struct cmp_exchange *ex = run("manual", msg, len);
  const uint8_t *rsp;
  size_t rsp_len;
  cmp_exchange_response(ex, &rsp, &rsp_len);
  cmp_client_txn_received(t, rsp, rsp_len, now());
  cmp_exchange_free(ex);
  cmp_client_txn_compute(t);
  assert_int_equal(cmp_client_txn_step(t), CMP_CLIENT_WAIT);
  assert_int_equal(cmp_client_txn_wait(t), 7); /* the profile's check_after */
  /* The operator approves; the rest runs on its own. */
  h.approve_on_wait = true;
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  assert_non_null(r.cert.p);
  assert_int_equal(r.polls, 2);
  cmp_client_txn_free(t);
}

/* Without polling, a waiting answer ends the transaction; what it needs to
 * go on is kept by the caller, and a transaction resumed from it later
 * polls, gets the certificate and confirms it. */
static void test_a_waiting_transaction_resumes_from_what_was_kept(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  struct cmp_client_pending p;
  mac_cfg(&h, "default");
  F->ca_waits = true;
  struct cmp_client_txn *t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_WAITING, &r);
  assert_int_equal(r.status.status, CMP_WAITING);
  assert_int_equal(cmp_client_txn_pending(t, &p), 0);
  assert_int_equal(p.type, CMP_IR);
  assert_int_equal(p.cert_req_id, 0);
  struct cmp_client_pending kept = p; /* as a store would keep it */
  uint8_t spki_kept[512];
  memcpy(spki_kept, p.expect_spki.p, p.expect_spki.len);
  kept.expect_spki.p = spki_kept;
  cmp_client_txn_free(t);

  /* Still waiting at the first resume: a pollRep, and a new nonce to keep. */
  assert_int_equal(cmp_client_txn_resume(&h.cfg, &kept, now(), &t), 0);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_WAITING, &r);
  assert_int_equal(r.answer->type, CMP_POLLREP);
  assert_int_equal(r.check_after, 5);
  assert_int_equal(cmp_client_txn_pending(t, &p), 0);
  assert_false(p.nonce_len == kept.nonce_len && !memcmp(p.nonce, kept.nonce, p.nonce_len));
  memcpy(kept.nonce, p.nonce, kept.nonce_len = p.nonce_len);
  cmp_client_txn_free(t);

  /* A resume with an old nonce is refused by the server (badRecipientNonce);
   * once issued, the one kept last gets the certificate. */
  struct cmp_client_pending stale = kept;
  stale.nonce[0] ^= 1;
  assert_int_equal(cmp_client_txn_resume(&h.cfg, &stale, now(), &t), 0);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_REFUSED, &r);
  assert_int_equal(r.err, CG_EBAD_RECIP_NONCE);
  cmp_client_txn_free(t);
  issue_waiting("default");
  F->ca_waits = false;
  assert_int_equal(cmp_client_txn_resume(&h.cfg, &kept, now(), &t), 0);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  assert_non_null(r.cert.p);
  struct cg_x509 x;
  assert_int_equal(cg_x509_parse(r.cert.p, r.cert.len, &x), 0);
  assert_true(cg_der_view_is(x.spki, spki, spki_len));
  cmp_client_txn_free(t);

  struct cmp_client_pending bad = kept;
  bad.txid_len = 0;
  assert_int_equal(cmp_client_txn_resume(&h.cfg, &bad, now(), &t), CG_EINVAL);
}

static void test_rr_and_genm(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  mac_cfg(&h, "default");
  struct cmp_client_txn *t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  struct cg_x509 x;
  uint8_t cert[2048];
  size_t cert_len = r.cert.len;
  memcpy(cert, r.cert.p, cert_len);
  cmp_client_txn_free(t);
  assert_int_equal(cg_x509_parse(cert, cert_len, &x), 0);

  uint8_t body[2048];
  size_t len;
  assert_int_equal(cmp_client_rr_body(x.issuer, x.serial, 1, body, sizeof body, &len), 0);
  struct cmp_client_req rr = {.type = CMP_RR, .body = {body, len}, .cert_req_id = -1};
  assert_int_equal(cmp_client_txn_new(&h.cfg, &rr, now(), &t), 0);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  assert_int_equal(r.answer->type, CMP_RP);
  assert_int_equal(r.status.status, CMP_ACCEPTED);
  cmp_client_txn_free(t);

  /* The same again: the server refuses (certRevoked), reported as such. */
  assert_int_equal(cmp_client_txn_new(&h.cfg, &rr, now(), &t), 0);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_REFUSED, &r);
  assert_int_equal(r.err, CG_ECERT_REVOKED);
  assert_false(r.unverified);
  cmp_client_txn_free(t);

  struct der_view types[] = {cg_oid(CG_OID_IT_CA_CERTS)};
  assert_int_equal(cmp_client_genm_body(types, 1, body, sizeof body, &len), 0);
  struct cmp_client_req genm = {.type = CMP_GENM, .body = {body, len}, .cert_req_id = -1};
  assert_int_equal(cmp_client_txn_new(&h.cfg, &genm, now(), &t), 0);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  assert_int_equal(r.answer->type, CMP_GENP);
  cmp_client_txn_free(t);
}

/* Signed requests, and signed answers checked against the anchors. */
static void test_signed_answers_must_chain_to_the_anchors(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  mac_cfg(&h, "default");
  struct cmp_client_txn *t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  uint8_t cert[2048];
  size_t cert_len = r.cert.len;
  memcpy(cert, r.cert.p, cert_len);
  cmp_client_txn_free(t);

  /* A cr signed with the certificate: the answers are signed by the RA. */
  struct cmp_client_cfg sig = h.cfg;
  sig.cred = (struct cmp_client_cred){.key = F->dev_key, .cert = {cert, cert_len}};
  h.cfg = sig;
  uint8_t body[4096];
  size_t len;
  assert_int_equal(cmp_client_cert_req_body(CMP_CR, 0, (struct der_view){F->dev_name, F->dev_name_len},
                                            F->dev_key, (struct der_view){NULL, 0},
                                            (struct der_view){NULL, 0}, body, sizeof body, &len),
                   0);
  struct cmp_client_req cr = {.type = CMP_CR, .body = {body, len}};
  assert_int_equal(cmp_client_txn_new(&h.cfg, &cr, now(), &t), 0);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  assert_int_equal(r.answer->type, CMP_PKICONF);
  cmp_client_txn_free(t);

  /* With no anchors (or other ones) the RA's signature is not believed. */
  h.cfg.n_trusted = 0;
  assert_int_equal(cmp_client_txn_new(&h.cfg, &cr, now(), &t), 0);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_BAD_ANSWER, &r);
  assert_non_null(strstr(r.detail, "no trust anchors"));
  cmp_client_txn_free(t);
  struct der_view other = {cert, cert_len}; /* not a CA */
  h.cfg.trusted = &other;
  h.cfg.n_trusted = 1;
  assert_int_equal(cmp_client_txn_new(&h.cfg, &cr, now(), &t), 0);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_BAD_ANSWER, &r);
  assert_int_equal(r.err, CG_ENOT_TRUSTED);
  assert_non_null(strstr(r.detail, "not trusted"));
  cmp_client_txn_free(t);
}

/* With a path cache, the RA's path is verified once and remembered; its
 * signature is still checked on every answer. */
static void flip_protection(struct harness *h, uint8_t *rsp, size_t *len);

static void test_a_cached_signer_path_still_checks_each_signature(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  struct cmp_path_cache cache;
  assert_int_equal(cmp_path_cache_init(&cache), 0);
  mac_cfg(&h, "default");
  /* A wrong secret: the RA's answer is a signed error. */
  h.cfg.cred.secret = (const uint8_t *)"not the secret";
  h.cfg.cred.secret_len = 14;
  h.cfg.path_cache = &cache;
  struct cmp_client_txn *t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_REFUSED, &r);
  assert_false(r.unverified);
  cmp_client_txn_free(t);
  uint8_t hash[32];
  struct cg_iov iov = {F->ra_cert, F->ra_cert_len};
  assert_int_equal(cg_hash(CG_HASH_SHA256, &iov, 1, hash), 0);
  assert_true(cache.valid);
  assert_memory_equal(cache.cert_hash, hash, 32);
  assert_true(cache.until > now() && cache.until <= now() + CMP_PATH_CACHE_SECONDS);

  /* Warm cache, broken signature: refused all the same. */
  h.tamper = flip_protection;
  t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_REFUSED, &r);
  assert_true(r.unverified);
  assert_non_null(strstr(r.detail, "does not verify"));
  cmp_client_txn_free(t);
  cmp_path_cache_destroy(&cache);
}

/* MAC parameters with their key given (an RA's, shared across transactions):
 * the messages carry those parameters, and the answers verify with them. */
static void test_given_mac_parameters_are_used(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  struct cmp_mac shared;
  mac_cfg(&h, "default");
  assert_int_equal(cmp_mac_init(&shared, false, 700, CG_HASH_SHA256, CG_HASH_SHA256), 0);
  assert_int_equal(cmp_mac_derive(&shared, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  h.cfg.mac_key = &shared;
  struct cmp_client_txn *t = new_ir(&h, spki, &spki_len);
  cmp_client_txn_compute(t);
  const uint8_t *msg;
  size_t len;
  cmp_client_txn_message(t, &msg, &len);
  struct cmp_msg m;
  struct cmp_mac used;
  assert_int_equal(cmp_msg_decode(msg, len, &m), 0);
  assert_int_equal(cmp_mac_parse(m.hdr.protection_alg, 100000, &used), 0);
  assert_true(cmp_mac_same_key(&used, &shared));
  assert_int_equal(used.pbm.iterations, 700);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  cmp_client_txn_free(t);
  cmp_mac_wipe(&shared);
}

/* ---- answers that are refused ------------------------------------------- */

static void flip_protection(struct harness *h, uint8_t *rsp, size_t *len) {
  (void)h;
  struct cmp_msg m;
  assert_int_equal(cmp_msg_decode(rsp, *len, &m), 0);
  rsp[m.protection.p - rsp] ^= 1;
}

static void keep_then_replay(struct harness *h, uint8_t *rsp, size_t *len) {
  if (h->kept_len == 0) {
    memcpy(h->kept, rsp, h->kept_len = *len);
    return;
  }
  memcpy(rsp, h->kept, *len = h->kept_len);
}

static void garbage(struct harness *h, uint8_t *rsp, size_t *len) {
  (void)h;
  static const uint8_t junk[] = {0x30, 0x82, 0x01, 0x00, 0xde, 0xad};
  memcpy(rsp, junk, *len = sizeof junk);
}

static void truncate_half(struct harness *h, uint8_t *rsp, size_t *len) {
  (void)h;
  (void)rsp;
  *len /= 2;
}

static void test_answers_that_cannot_be_believed_are_refused(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  size_t txns = F->n_txns;

  mac_cfg(&h, "default");
  h.tamper = flip_protection;
  struct cmp_client_txn *t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_BAD_ANSWER, &r);
  assert_non_null(strstr(r.detail, "MAC does not verify"));
  assert_null(r.cert.p);
  cmp_client_txn_free(t);

  /* An answer of another transaction (validly MAC'd): refused. */
  mac_cfg(&h, "default");
  h.tamper = keep_then_replay;
  t = new_ir(&h, spki, &spki_len);
  drive(&h, t); /* keeps the ip of this one, confirms it */
  cmp_client_txn_free(t);
  t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_BAD_ANSWER, &r);
  assert_non_null(strstr(r.detail, "another transactionID"));
  cmp_client_txn_free(t);

  mac_cfg(&h, "default");
  h.tamper = garbage;
  t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_BAD_ANSWER, &r);
  assert_null(r.answer);
  cmp_client_txn_free(t);

  mac_cfg(&h, "default");
  h.tamper = truncate_half;
  t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_BAD_ANSWER, &r);
  cmp_client_txn_free(t);

  mac_cfg(&h, "default");
  h.fail_transport = true;
  t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_TRANSPORT, &r);
  assert_int_equal(r.err, CG_EIO);
  assert_string_equal(r.detail, "connect: connection refused");
  cmp_client_txn_free(t);
  assert_true(F->n_txns >= txns);
}

/* The same answer with the recipNonce of an earlier message. */
static void test_another_recip_nonce_is_refused(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  mac_cfg(&h, "default");
  struct cmp_client_txn *t = new_ir(&h, spki, &spki_len);
  cmp_client_txn_compute(t);
  const uint8_t *msg;
  size_t len;
  cmp_client_txn_message(t, &msg, &len);
  /* The server answers a copy of our ir with another senderNonce. */
  struct cmp_msg m;
  assert_int_equal(cmp_msg_decode(msg, len, &m), 0);
  struct client c;
  client_init(&c, REF, SECRET);
  memcpy(c.txid, m.hdr.transaction_id.p, 16);
  uint8_t other[4096];
  size_t other_len = make_ir(&c, other, sizeof other);
  struct cmp_exchange *ex = run("default", other, other_len);
  const uint8_t *rsp;
  size_t rsp_len;
  cmp_exchange_response(ex, &rsp, &rsp_len);
  cmp_client_txn_received(t, rsp, rsp_len, now());
  cmp_exchange_free(ex);
  cmp_client_txn_compute(t);
  assert_outcome(t, CMP_CLIENT_BAD_ANSWER, &r);
  assert_non_null(strstr(r.detail, "recipNonce"));
  cmp_client_txn_free(t);
}

/* An error message with broken protection is reported, marked unverified. */
static void test_an_unverified_error_is_reported_as_such(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  mac_cfg(&h, "default");
  h.cfg.cred.secret = (const uint8_t *)"wrong secret";
  h.cfg.cred.secret_len = 12;
  h.cfg.n_trusted = 0; /* the RA-signed error cannot be verified */
  struct cmp_client_txn *t = new_ir(&h, spki, &spki_len);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_REFUSED, &r);
  assert_true(r.unverified);
  assert_int_equal(r.status.status, CMP_REJECTION);
  assert_int_equal(r.err, CG_EBAD_MAC); /* badMessageCheck */
  char line[256];
  cmp_status_line(&r.status, line, sizeof line);
  assert_non_null(strstr(line, "badMessageCheck"));
  cmp_client_txn_free(t);
}

/* A certificate for another key than asked is rejected in certConf; the
 * server then marks it revoked_on_reject. */
static void test_a_certificate_for_another_key_is_rejected(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  mac_cfg(&h, "default");
  uint8_t body[4096];
  size_t len;
  assert_int_equal(cmp_client_cert_req_body(CMP_IR, 0, (struct der_view){F->dev_name, F->dev_name_len},
                                            F->dev_key, (struct der_view){NULL, 0},
                                            (struct der_view){NULL, 0}, body, sizeof body, &len),
                   0);
  assert_int_equal(cg_key_spki(F->ra_key, spki, sizeof spki, &spki_len), 0);
  struct cmp_client_req req = {.type = CMP_IR, .body = {body, len}, .expect_spki = {spki, spki_len}};
  struct cmp_client_txn *t;
  assert_int_equal(cmp_client_txn_new(&h.cfg, &req, now(), &t), 0);
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_REFUSED, &r);
  assert_true(r.cert_rejected);
  char txid[33];
  struct der_view id = cmp_client_txn_id(t);
  cg_hex(id.p, id.len, txid);
  assert_int_equal(find_txn(txid, NULL)->state, CMP_TXN_REVOKED_ON_REJECT);
  cmp_client_txn_free(t);
}

/* A whole message forwarded: its own transaction and nonce, one answer. */
static void test_a_forwarded_message_gets_its_answer(void **state) {
  (void)state;
  struct harness h;
  struct cmp_client_result r;
  struct client c;
  uint8_t req[4096];
  client_init(&c, REF, SECRET);
  size_t len = make_ir(&c, req, sizeof req);
  memset(&h, 0, sizeof h);
  h.profile = "default";
  h.cfg.trusted = F->ca_chain;
  h.cfg.n_trusted = 1;
  struct cmp_client_req fwd = {.type = CMP_IR, .message = {req, len}};
  struct cmp_client_txn *t;
  assert_int_equal(cmp_client_txn_new(&h.cfg, &fwd, now(), &t), 0);
  assert_true(cg_der_view_is(cmp_client_txn_id(t), c.txid, 16));
  drive(&h, t);
  assert_outcome(t, CMP_CLIENT_OK, &r);
  assert_int_equal(h.answers, 1);
  assert_int_equal(r.answer->type, CMP_IP);
  assert_true(r.unverified); /* MAC'd for the device, whose secret we do not hold */
  cmp_client_txn_free(t);

  /* A forwarded message whose header does not decode cannot be sent. */
  static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
  fwd.message = (struct der_view){junk, sizeof junk};
  assert_int_equal(cmp_client_txn_new(&h.cfg, &fwd, now(), &t), CG_EINVAL);
}

/* Every allocation of a whole ir + certConf failing in turn: the outcome is
 * clean (LOCAL, or the transaction still succeeds) and nothing leaks. */
static void test_each_allocation_failing_in_turn(void **state) {
  (void)state;
  struct harness h;
  uint8_t spki[512];
  size_t spki_len;
  struct cmp_client_result r;
  mac_cfg(&h, "default");
  unsigned n;
  for (n = 1; n < 200; n++) {
    uint8_t body[4096];
    size_t len;
    assert_int_equal(cmp_client_cert_req_body(CMP_IR, 0,
                                              (struct der_view){F->dev_name, F->dev_name_len},
                                              F->dev_key, (struct der_view){NULL, 0},
                                              (struct der_view){NULL, 0}, body, sizeof body, &len),
                     0);
    assert_int_equal(cg_key_spki(F->dev_key, spki, sizeof spki, &spki_len), 0);
    struct cmp_client_req req = {.type = CMP_IR, .body = {body, len}, .expect_spki = {spki, spki_len}};
    struct cmp_client_txn *t;
    failalloc_arm(n);
    int err = cmp_client_txn_new(&h.cfg, &req, now(), &t);
    if (err) {
      failalloc_disarm();
      assert_int_equal(err, CG_ENOMEM);
      continue;
    }
    /* The client's steps alone fail: the server's run without it. */
    for (int steps = 0; steps < 32 && cmp_client_txn_step(t) != CMP_CLIENT_DONE; steps++) {
      if (cmp_client_txn_step(t) == CMP_CLIENT_COMPUTE) {
        cmp_client_txn_compute(t);
        continue;
      }
      const uint8_t *msg;
      size_t mlen;
      cmp_client_txn_message(t, &msg, &mlen);
      unsigned left = failalloc_pause();
      struct cmp_exchange *ex = run("default", msg, mlen);
      const uint8_t *rsp;
      size_t rsp_len;
      cmp_exchange_response(ex, &rsp, &rsp_len);
      uint8_t copy[8192];
      memcpy(copy, rsp, rsp_len);
      cmp_exchange_free(ex);
      failalloc_resume(left);
      cmp_client_txn_received(t, copy, rsp_len, now());
    }
    bool fired = failalloc_fired();
    failalloc_disarm();
    cmp_client_txn_result(t, &r);
    assert_true(r.outcome == CMP_CLIENT_OK || r.outcome == CMP_CLIENT_LOCAL);
    if (r.outcome == CMP_CLIENT_LOCAL)
      assert_int_equal(r.err, CG_ENOMEM);
    cmp_client_txn_free(t);
    if (!fired)
      break; /* every allocation has failed once */
  }
  assert_true(n > 3 && n < 200);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ir_is_confirmed_and_the_certificate_kept, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_implicit_confirmation_needs_no_certconf, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_waiting_answer_is_polled_until_the_certificate, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_waiting_transaction_resumes_from_what_was_kept,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_rr_and_genm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_signed_answers_must_chain_to_the_anchors, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_cached_signer_path_still_checks_each_signature,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_given_mac_parameters_are_used, setup, teardown),
      cmocka_unit_test_setup_teardown(test_answers_that_cannot_be_believed_are_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_another_recip_nonce_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_an_unverified_error_is_reported_as_such, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_certificate_for_another_key_is_rejected, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_forwarded_message_gets_its_answer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_each_allocation_failing_in_turn, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
