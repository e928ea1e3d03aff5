/*
 * test_server_rules.c - the message rules of RFC 9810 §5.1 and RFC 9483 §3
 * the engine enforces, one test per rule, in memory (engine_support.c).
 */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp/client.h"
#include "cmp/encode.h"
#include "engine_support.h"

static int answer_fail_bit(struct cmp_exchange *ex, const struct client *c) {
  struct cmp_msg rsp;
  decode_response(ex, c, &rsp);
  if (rsp.type != CMP_ERROR)
    return -1;
  for (int bit = 0; bit < 32; bit++)
    if (rsp.u.error.status.fail_info == 1u << bit)
      return bit;
  return -2;
}

static struct cmp_exchange *ir(struct client *c) {
  uint8_t req[4096];
  size_t len = make_ir(c, req, sizeof req);
  return run("default", req, len);
}

static void test_pvno_other_than_2_or_3_is_unsupported_version(void **state) {
  (void)state;
  struct client c;
  client_init(&c, REF, SECRET);
  c.hdr.pvno = 1;
  struct cmp_exchange *ex = ir(&c);
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_UNSUPPORTED_VERSION);
  cmp_exchange_free(ex);
}

static void test_pvno_3_is_answered_with_pvno_3(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  c.hdr.pvno = 3;
  struct cmp_exchange *ex = ir(&c);
  decode_response(ex, &c, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_int_equal(rsp.hdr.pvno, 3);
  cmp_exchange_free(ex);
}

/* A ccr body: [13] CertReqMessages, one empty request (its content does
 * not matter: the type is refused). */
static void ccr_body(struct der_writer *w, const void *arg) {
  (void)arg;
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_CCR));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_SEQUENCE, NULL, 0);
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

/* Cross-certification (RFC 9810 §5.3.11) is no part of RFC 9483: a clear
 * badRequest, in an error message, and nothing stored. */
static void test_ccr_is_bad_request_saying_why(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  uint8_t req[4096];
  size_t len, txns = F->n_txns;
  client_init(&c, REF, SECRET);
  assert_int_equal(cmp_client_message(&c.mac, &c.hdr, ccr_body, NULL, req, sizeof req, &len), 0);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_error(&rsp, CG_FI_BAD_REQUEST);
  char text[256];
  status_text(&rsp, text, sizeof text);
  assert_non_null(strstr(text, "cross-certification (ccr) is not offered"));
  assert_int_equal(F->n_txns, txns);
  cmp_exchange_free(ex);
}

/* RFC 9483 §3.1: the recipient is this RA, a CA of the profile, or NULL-DN
 * (the client's default); another name is wrongAuthority, nothing stored. */
static void test_recipient_must_be_this_ra_a_ca_of_the_profile_or_null_dn(void **state) {
  (void)state;
  uint8_t other[128];
  size_t other_len, txns = F->n_txns;
  make_name("someone else", other, &other_len);
  struct {
    struct der_view name;
    int want; /* -1: served */
  } cases[] = {
      {{other, other_len}, CG_FI_WRONG_AUTHORITY},
      {{F->ca_name, F->ca_name_len}, -1},
      {{F->ra_name, F->ra_name_len}, -1},
      {{NULL, 0}, -1}, /* NULL-DN */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct client c;
    struct cmp_msg rsp;
    client_init(&c, REF, SECRET);
    c.hdr.recipient = cases[i].name;
    struct cmp_exchange *ex = ir(&c);
    if (cases[i].want < 0) {
      decode_response(ex, &c, &rsp);
      assert_int_equal(rsp.type, CMP_IP);
      assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
    } else {
      assert_int_equal(answer_fail_bit(ex, &c), cases[i].want);
      assert_int_equal(F->n_txns, txns);
    }
    txns = F->n_txns;
    cmp_exchange_free(ex);
  }
}

/* RFC 9810 §5.1.1: the sender is a directoryName, NULL-DN when it has no
 * name; an rfc822Name in its place is badDataFormat, nothing stored. */
static void test_sender_that_is_no_directory_name_is_bad_data_format(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096];
  size_t txns = F->n_txns;
  client_init(&c, REF, SECRET);
  size_t len = make_ir(&c, req, sizeof req);
  /* The sender, right after pvno: directoryName NULL-DN, a4 02 30 00. */
  static const uint8_t null_dn[] = {0xa4, 0x02, 0x30, 0x00}, mail[] = {0x81, 0x02, 'a', 'b'};
  uint8_t *at = memmem(req, len, null_dn, sizeof null_dn);
  assert_non_null(at);
  memcpy(at, mail, sizeof mail);
  struct cmp_exchange *ex = run("default", req, len);
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_BAD_DATA_FORMAT);
  assert_int_equal(F->n_txns, txns);
  cmp_exchange_free(ex);
}

/* RFC 9483 §3.1: the first message of a transaction has no recipNonce. */
static void test_recip_nonce_in_a_first_message_is_bad_recipient_nonce(void **state) {
  (void)state;
  struct client c;
  static const uint8_t nonce[16] = {1, 2, 3};
  size_t txns = F->n_txns;
  client_init(&c, REF, SECRET);
  c.hdr.recip_nonce = (struct der_view){nonce, sizeof nonce};
  struct cmp_exchange *ex = ir(&c);
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_BAD_RECIPIENT_NONCE);
  assert_int_equal(F->n_txns, txns);
  cmp_exchange_free(ex);
}

static void test_short_transaction_id_is_bad_data_format(void **state) {
  (void)state;
  struct client c;
  client_init(&c, REF, SECRET);
  c.hdr.transaction_id.len = 15;
  uint8_t req[4096];
  size_t len = make_ir(&c, req, sizeof req);
  struct cmp_exchange *ex = run("default", req, len);
  struct cmp_msg rsp;
  const uint8_t *p;
  size_t plen;
  cmp_exchange_response(ex, &p, &plen);
  assert_int_equal(cmp_msg_decode(p, plen, &rsp), 0);
  assert_int_equal(rsp.type, CMP_ERROR);
  assert_int_equal(rsp.u.error.status.fail_info, 1u << CG_FI_BAD_DATA_FORMAT);
  cmp_exchange_free(ex);
}

static void test_short_sender_nonce_is_bad_sender_nonce(void **state) {
  (void)state;
  struct client c;
  client_init(&c, REF, SECRET);
  c.hdr.sender_nonce.len = 8;
  uint8_t req[4096];
  size_t len = make_ir(&c, req, sizeof req);
  struct cmp_exchange *ex = run("default", req, len);
  const uint8_t *p;
  size_t plen;
  struct cmp_msg rsp;
  cmp_exchange_response(ex, &p, &plen);
  assert_int_equal(cmp_msg_decode(p, plen, &rsp), 0);
  assert_int_equal(rsp.u.error.status.fail_info, 1u << CG_FI_BAD_SENDER_NONCE);
  cmp_exchange_free(ex);
}

static void test_message_time_in_the_future_is_bad_time(void **state) {
  (void)state;
  struct client c;
  F->cfg.max_clock_skew = 600;
  client_init(&c, REF, SECRET);
  c.hdr.message_time = (int64_t)time(NULL) + 3600;
  struct cmp_exchange *ex = ir(&c);
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_BAD_TIME);
  cmp_exchange_free(ex);
  /* Within the window: accepted. */
  client_init(&c, REF, SECRET);
  c.hdr.message_time = (int64_t)time(NULL) + 300;
  ex = ir(&c);
  assert_int_equal(answer_fail_bit(ex, &c), -1);
  cmp_exchange_free(ex);
  F->cfg.max_clock_skew = 0;
}

/* A genm without protectionAlg nor protection. */
static void test_unprotected_request_is_wrong_integrity(void **state) {
  (void)state;
  struct client c;
  client_init(&c, REF, SECRET);
  struct cmp_out_header h = {0};
  h.pvno = 2;
  h.transaction_id = c.hdr.transaction_id;
  h.sender_nonce = c.hdr.sender_nonce;
  uint8_t hb[512], msg[600];
  size_t hb_len, len;
  struct der_writer w;
  cg_der_writer_init(&w, hb, sizeof hb);
  cmp_write_header(&w, &h);
  size_t body = cg_der_begin(&w, DER_CTX_CONS(CMP_GENM));
  cg_der_put_tlv(&w, DER_SEQUENCE, NULL, 0);
  cg_der_end(&w, body);
  assert_int_equal(cg_der_writer_finish(&w, &hb_len), 0);
  cg_der_writer_init(&w, msg, sizeof msg);
  cmp_write_message(&w, hb, hb_len, NULL, 0, NULL, 0);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  struct cmp_exchange *ex = run("default", msg, len);
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_WRONG_INTEGRITY);
  cmp_exchange_free(ex);
}

static void test_more_than_one_cert_req_msg_is_bad_request(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096], two[8192];
  client_init(&c, REF, SECRET);
  size_t len = make_ir(&c, req, sizeof req);
  struct cmp_msg m;
  assert_int_equal(cmp_msg_decode(req, len, &m), 0);
  /* ir [0] { SEQUENCE { msg, msg } } with the header as it was; the MAC no
   * longer matters: the count is checked before anything is looked up. */
  struct der_reader r, seq;
  struct der_tlv msg;
  cg_der_reader_view(&r, m.content);
  assert_int_equal(cg_der_enter(&r, DER_SEQUENCE, &seq), 0);
  assert_int_equal(cg_der_expect(&seq, DER_SEQUENCE, &msg), 0);
  struct der_writer w;
  cg_der_writer_init(&w, two, sizeof two);
  size_t top = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_raw(&w, m.hdr.raw.p, m.hdr.raw.len);
  size_t b = cg_der_begin(&w, DER_CTX_CONS(CMP_IR));
  size_t s = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_raw(&w, msg.raw.p, msg.raw.len);
  cg_der_put_raw(&w, msg.raw.p, msg.raw.len);
  cg_der_end(&w, s);
  cg_der_end(&w, b);
  size_t p = cg_der_begin(&w, DER_CTX_CONS(0));
  cg_der_put_bit_string(&w, m.protection.p, m.protection.len);
  cg_der_end(&w, p);
  cg_der_end(&w, top);
  size_t two_len;
  assert_int_equal(cg_der_writer_finish(&w, &two_len), 0);
  struct cmp_exchange *ex = run("default", two, two_len);
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_BAD_REQUEST);
  cmp_exchange_free(ex);
}

/* certConf cases: build a transaction first. */
static void issue_one(struct client *c, struct cmp_msg *ip, struct cmp_exchange **ex) {
  client_init(c, REF, SECRET);
  enrol(c, ip, ex);
  assert_int_equal(ip->type, CMP_IP);
}

static struct cmp_exchange *conf(struct client *c, struct der_view cert, int64_t id, bool reject) {
  uint8_t req[4096];
  size_t len;
  assert_int_equal(client_new_nonce(c), 0); /* a fresh senderNonce, as every message has */
  assert_int_equal(cmp_client_cert_conf(&c->mac, &c->hdr, cert, id, reject, req, sizeof req, &len),
                   0);
  return run("default", req, len);
}

static void test_cert_conf_without_recip_nonce_is_bad_recipient_nonce(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip;
  struct cmp_exchange *ex;
  issue_one(&c, &ip, &ex);
  c.hdr.recip_nonce = (struct der_view){NULL, 0};
  struct cmp_exchange *e2 = conf(&c, ip.u.cert_rep.rsp[0].cert, 0, false);
  assert_int_equal(answer_fail_bit(e2, &c), CG_FI_BAD_RECIPIENT_NONCE);
  cmp_exchange_free(e2);
  cmp_exchange_free(ex);
}

static void test_cert_conf_with_another_cert_req_id_is_bad_cert_id(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip;
  struct cmp_exchange *ex;
  issue_one(&c, &ip, &ex);
  c.hdr.recip_nonce = ip.hdr.sender_nonce;
  struct cmp_exchange *e2 = conf(&c, ip.u.cert_rep.rsp[0].cert, 1, false);
  assert_int_equal(answer_fail_bit(e2, &c), CG_FI_BAD_CERT_ID);
  cmp_exchange_free(e2);
  cmp_exchange_free(ex);
}

/* RFC 9810 §5.1.1: every message has a fresh senderNonce; a certConf that
 * reuses the request's is refused (badSenderNonce) and the transaction still
 * waits for a proper one. */
static void test_cert_conf_reusing_the_request_nonce_is_bad_sender_nonce(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip, rsp;
  struct cmp_exchange *ex;
  uint8_t req[4096];
  size_t len;
  issue_one(&c, &ip, &ex);
  c.hdr.recip_nonce = ip.hdr.sender_nonce;
  assert_int_equal(cmp_client_cert_conf(&c.mac, &c.hdr, ip.u.cert_rep.rsp[0].cert, 0, false, req,
                                        sizeof req, &len),
                   0); /* c.nonce is still the ir's */
  struct cmp_exchange *e2 = run("default", req, len);
  assert_int_equal(answer_fail_bit(e2, &c), CG_FI_BAD_SENDER_NONCE);
  struct cmp_exchange *e3 = conf(&c, ip.u.cert_rep.rsp[0].cert, 0, false);
  decode_response(e3, &c, &rsp);
  assert_int_equal(rsp.type, CMP_PKICONF);
  cmp_exchange_free(e3);
  cmp_exchange_free(e2);
  cmp_exchange_free(ex);
}

/* RFC 9810 §5.1.3.1: one protection through a transaction: a PBM ir
 * confirmed under PBMAC1 is wrongIntegrity, and the transaction still waits. */
static void test_cert_conf_under_another_protection_is_wrong_integrity(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip, rsp;
  struct cmp_exchange *ex;
  issue_one(&c, &ip, &ex);
  c.hdr.recip_nonce = ip.hdr.sender_nonce;
  struct cmp_client_cred pbm = c.mac;
  c.mac.pbmac1 = true;
  c.mac.iterations = 1000; /* PBMAC1's floor, and hashes it takes */
  c.mac.owf = CG_HASH_SHA256;
  c.mac.mac = CG_HASH_SHA256;
  struct cmp_exchange *e2 = conf(&c, ip.u.cert_rep.rsp[0].cert, 0, false);
  assert_int_equal(answer_fail_bit(e2, &c), CG_FI_WRONG_INTEGRITY);
  c.mac = pbm;
  struct cmp_exchange *e3 = conf(&c, ip.u.cert_rep.rsp[0].cert, 0, false);
  decode_response(e3, &c, &rsp);
  assert_int_equal(rsp.type, CMP_PKICONF);
  cmp_exchange_free(e3);
  cmp_exchange_free(e2);
  cmp_exchange_free(ex);
}

/* certConf body: one CertStatus for the certificate arg (SHA-256 certHash,
 * certReqId 0) whose statusInfo accepts and carries a failInfo. */
static void cert_conf_accepting_with_fail_info(struct der_writer *w, const void *arg) {
  const struct der_view *cert = arg;
  uint8_t hash[32];
  struct cg_iov iov = {cert->p, cert->len};
  assert_int_equal(cg_hash(CG_HASH_SHA256, &iov, 1, hash), 0);
  size_t b = cg_der_begin(w, DER_CTX_CONS(CMP_CERTCONF));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t cs = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_OCTET_STRING, hash, sizeof hash);
  cg_der_put_int64(w, DER_INTEGER, 0);
  cmp_write_status_info(w, CMP_ACCEPTED, CG_FI_BAD_REQUEST, NULL);
  cg_der_end(w, cs);
  cg_der_end(w, seq);
  cg_der_end(w, b);
}

/* RFC 9810 §5.2.3: a failInfo goes with a rejection only. */
static void test_cert_conf_accepting_with_a_fail_info_is_bad_request(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip;
  struct cmp_exchange *ex;
  uint8_t req[4096];
  size_t len;
  issue_one(&c, &ip, &ex);
  c.hdr.recip_nonce = ip.hdr.sender_nonce;
  assert_int_equal(client_new_nonce(&c), 0);
  struct der_view cert = ip.u.cert_rep.rsp[0].cert;
  assert_int_equal(cmp_client_message(&c.mac, &c.hdr, cert_conf_accepting_with_fail_info, &cert,
                                      req, sizeof req, &len),
                   0);
  struct cmp_exchange *e2 = run("default", req, len);
  assert_int_equal(answer_fail_bit(e2, &c), CG_FI_BAD_REQUEST);
  assert_int_equal(find_txn(cmp_exchange_txn(ex)->txid, NULL)->state, CMP_TXN_ISSUED);
  cmp_exchange_free(e2);
  cmp_exchange_free(ex);
}

static void test_cert_conf_twice_is_cert_confirmed(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip, rsp;
  struct cmp_exchange *ex;
  issue_one(&c, &ip, &ex);
  c.hdr.recip_nonce = ip.hdr.sender_nonce;
  struct cmp_exchange *e2 = conf(&c, ip.u.cert_rep.rsp[0].cert, 0, false);
  decode_response(e2, &c, &rsp);
  assert_int_equal(rsp.type, CMP_PKICONF);
  struct cmp_exchange *e3 = conf(&c, ip.u.cert_rep.rsp[0].cert, 0, false);
  assert_int_equal(answer_fail_bit(e3, &c), CG_FI_CERT_CONFIRMED);
  cmp_exchange_free(e3);
  cmp_exchange_free(e2);
  cmp_exchange_free(ex);
}

static void test_cert_conf_for_an_unknown_transaction_is_bad_request(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip;
  struct cmp_exchange *ex;
  issue_one(&c, &ip, &ex);
  memset(c.txid, 9, sizeof c.txid); /* a transactionID nobody used */
  c.hdr.recip_nonce = ip.hdr.sender_nonce;
  struct cmp_exchange *e2 = conf(&c, ip.u.cert_rep.rsp[0].cert, 0, false);
  assert_int_equal(answer_fail_bit(e2, &c), CG_FI_BAD_REQUEST);
  cmp_exchange_free(e2);
  cmp_exchange_free(ex);
}

static void test_replayed_ir_does_not_issue_twice(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096];
  client_init(&c, REF, SECRET);
  size_t len = make_ir(&c, req, sizeof req);
  size_t issued = F->issued;
  struct cmp_exchange *a = run("default", req, len);
  struct cmp_exchange *b = run("default", req, len); /* the very same bytes */
  assert_int_equal(answer_fail_bit(a, &c), -1);
  assert_int_equal(answer_fail_bit(b, &c), CG_FI_TRANSACTION_ID_IN_USE);
  assert_int_equal(F->issued, issued + 1);
  cmp_exchange_free(a);
  cmp_exchange_free(b);
}

/* RFC 9483 §3.5 leaves secret policy to the PKI: a secret with a use
 * limit authenticates that many certificate requests, then none; the
 * refusal answers like a wrong secret, and the audit note says why. */
static void test_used_up_secret_is_refused_like_a_wrong_one(void **state) {
  (void)state;
  struct client c;
  F->secret.max_uses = F->secret.uses + 1;
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = ir(&c);
  assert_int_equal(answer_fail_bit(ex, &c), -1); /* the last use */
  cmp_exchange_free(ex);
  size_t notes = F->notes;
  client_init(&c, REF, SECRET);
  ex = ir(&c);
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_BAD_MESSAGE_CHECK);
  assert_int_equal(F->notes, notes + 1);
  assert_string_equal(F->last_note, "secret used up");
  cmp_exchange_free(ex);
  F->secret.max_uses = 0;
}

static void test_failed_macs_lock_the_reference(void **state) {
  (void)state;
  struct client c;
  F->cfg.max_failed_macs = 3;
  F->cfg.lockout_seconds = 600;
  F->secret.failed_attempts = 0;
  for (int i = 0; i < 3; i++) {
    client_init(&c, REF, "a wrong secret");
    struct cmp_exchange *ex = ir(&c);
    assert_int_equal(answer_fail_bit(ex, &c), CG_FI_BAD_MESSAGE_CHECK);
    assert_string_equal(F->last_note, "wrong MAC");
    cmp_exchange_free(ex);
  }
  /* Locked: now even the right secret is refused. */
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = ir(&c);
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_BAD_MESSAGE_CHECK);
  assert_string_equal(F->last_note, "reference locked after failed MACs");
  cmp_exchange_free(ex);
  /* After the lockout it works again, and a success resets the count. */
  F->secret.locked_until = 0;
  F->secret.failed_attempts = 0;
  client_init(&c, REF, SECRET);
  ex = ir(&c);
  assert_int_equal(answer_fail_bit(ex, &c), -1);
  cmp_exchange_free(ex);
  F->cfg.max_failed_macs = 0;
}

static void test_unknown_reference_leaves_no_note(void **state) {
  (void)state;
  struct client c;
  size_t notes = F->notes;
  client_init(&c, "nobody-has-this-reference", SECRET);
  struct cmp_exchange *ex = ir(&c);
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_BAD_MESSAGE_CHECK);
  assert_int_equal(F->notes, notes);
  cmp_exchange_free(ex);
}

/* A wrong MAC on a known reference and one on an unknown reference run the
 * same checks (one key derivation each: an unknown reference is checked
 * against random bytes) and are answered before anything is written: the
 * known one's refusal note comes after its answer is made, so the time to
 * the answer does not tell an attacker which references exist. */
static void test_known_and_unknown_references_are_refused_alike(void **state) {
  (void)state;
  struct client c;
  F->secret.failed_attempts = 0;
  size_t steps = F->compute_steps, notes = F->notes;
  client_init(&c, REF, "a wrong secret");
  struct cmp_exchange *ex = ir(&c);
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_BAD_MESSAGE_CHECK);
  assert_int_equal(F->notes, notes + 1);
  assert_true(F->answered_before_note);
  size_t known = F->compute_steps - steps;
  cmp_exchange_free(ex);
  steps = F->compute_steps;
  client_init(&c, "nobody-has-this-reference-either", "a wrong secret");
  ex = ir(&c);
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_BAD_MESSAGE_CHECK);
  assert_int_equal(F->notes, notes + 1);
  assert_int_equal(F->compute_steps - steps, known);
  cmp_exchange_free(ex);
  F->secret.failed_attempts = 0;
}

/* A stored secret that does not decrypt (another master key, a damaged row)
 * is the gateway's fault: systemFailure, and nothing counted against the
 * device (no refusal note, so no lockout). */
static void test_a_secret_that_does_not_decrypt_is_a_system_failure(void **state) {
  (void)state;
  struct client c;
  size_t notes = F->notes;
  F->secret.enc[F->secret.enc_len - 1] ^= 1; /* the GCM tag */
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = ir(&c);
  F->secret.enc[F->secret.enc_len - 1] ^= 1;
  assert_int_equal(answer_fail_bit(ex, &c), CG_FI_SYSTEM_FAILURE);
  assert_int_equal(F->notes, notes);
  cmp_exchange_free(ex);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pvno_other_than_2_or_3_is_unsupported_version),
      cmocka_unit_test(test_pvno_3_is_answered_with_pvno_3),
      cmocka_unit_test(test_short_transaction_id_is_bad_data_format),
      cmocka_unit_test(test_recip_nonce_in_a_first_message_is_bad_recipient_nonce),
      cmocka_unit_test(test_sender_that_is_no_directory_name_is_bad_data_format),
      cmocka_unit_test(test_recipient_must_be_this_ra_a_ca_of_the_profile_or_null_dn),
      cmocka_unit_test(test_ccr_is_bad_request_saying_why),
      cmocka_unit_test(test_short_sender_nonce_is_bad_sender_nonce),
      cmocka_unit_test(test_message_time_in_the_future_is_bad_time),
      cmocka_unit_test(test_unprotected_request_is_wrong_integrity),
      cmocka_unit_test(test_more_than_one_cert_req_msg_is_bad_request),
      cmocka_unit_test(test_cert_conf_without_recip_nonce_is_bad_recipient_nonce),
      cmocka_unit_test(test_cert_conf_with_another_cert_req_id_is_bad_cert_id),
      cmocka_unit_test(test_cert_conf_twice_is_cert_confirmed),
      cmocka_unit_test(test_cert_conf_reusing_the_request_nonce_is_bad_sender_nonce),
      cmocka_unit_test(test_cert_conf_under_another_protection_is_wrong_integrity),
      cmocka_unit_test(test_cert_conf_accepting_with_a_fail_info_is_bad_request),
      cmocka_unit_test(test_cert_conf_for_an_unknown_transaction_is_bad_request),
      cmocka_unit_test(test_replayed_ir_does_not_issue_twice),
      cmocka_unit_test(test_used_up_secret_is_refused_like_a_wrong_one),
      cmocka_unit_test(test_failed_macs_lock_the_reference),
      cmocka_unit_test(test_unknown_reference_leaves_no_note),
      cmocka_unit_test(test_known_and_unknown_references_are_refused_alike),
      cmocka_unit_test(test_a_secret_that_does_not_decrypt_is_a_system_failure),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
