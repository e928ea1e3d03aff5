/*
 * test_server_ops.c - the CMP engine in memory for the operations beyond the
 * first enrolment: cr, p10cr, kur, rr, implicit confirmation, signature and
 * PBMAC1 protection, and the request checks of RFC 9810 §5.1 / RFC 9483 §3.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp/encode.h"
#include "cmp/genm.h"
#include "cmp/pbmac1.h"
#include "engine_support.h"

/* A certificate for the device key, issued through an ir with the MAC. */
static void device_cert(uint8_t *out, size_t *len) {
  struct client c;
  struct cmp_msg ip;
  struct cmp_exchange *ex;
  client_init(&c, REF, SECRET);
  enrol(&c, &ip, &ex);
  assert_int_equal(ip.type, CMP_IP);
  memcpy(out, ip.u.cert_rep.rsp[0].cert.p, ip.u.cert_rep.rsp[0].cert.len);
  *len = ip.u.cert_rep.rsp[0].cert.len;
  cmp_exchange_free(ex);
}

/* A certificate for the device key made outside cmpgw (so not in its store),
 * valid for an hour: signed by the fixture's CA, or self-signed. */
static void outside_cert(bool self_signed, unsigned key_usage, uint8_t out[2048], size_t *len) {
  struct cert_spec s = {0};
  s.issuer = self_signed ? (struct der_view){F->dev_name, F->dev_name_len}
                         : (struct der_view){F->ca_name, F->ca_name_len};
  s.subject = (struct der_view){F->dev_name, F->dev_name_len};
  s.not_before = (int64_t)time(NULL) - 60;
  s.not_after = s.not_before + 3600;
  s.key_usage = key_usage;
  make_cert(&s, F->dev_key, self_signed ? F->dev_key : F->ca_key, out, 2048, len);
}

/* The client signs with key and cert instead of the MAC. */
static void use_signature(struct client *c, const struct cg_key *key, const uint8_t *cert,
                          size_t len) {
  c->mac.key = key;
  c->mac.cert = (struct der_view){cert, len};
}

/* A client that signs with a certificate issued here for the device key. */
static void signing_client(struct client *c, uint8_t cert[2048], size_t *cert_len) {
  device_cert(cert, cert_len);
  client_init(c, "", "");
  use_signature(c, F->dev_key, cert, *cert_len);
}

static struct cmp_exchange *send_req(struct client *c, int type, const char *profile,
                                     struct der_view old_cert, struct cmp_msg *rsp) {
  uint8_t req[8192];
  size_t len;
  /* A kur certifies the device's next key (RFC 9483 §4.1.3). */
  assert_int_equal(cmp_client_cert_req(&c->mac, &c->hdr, type,
                                       (struct der_view){F->dev_name, F->dev_name_len},
                                       type == CMP_KUR ? F->new_key : F->dev_key, old_cert, req,
                                       sizeof req, &len),
                   0);
  struct cmp_exchange *ex = run(profile, req, len);
  decode_response(ex, c, rsp);
  return ex;
}

static void test_cr_is_answered_with_cp(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = send_req(&c, CMP_CR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_int_equal(rsp.type, CMP_CP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  assert_non_null(rsp.u.cert_rep.rsp[0].cert.p);
  assert_false(rsp.hdr.implicit_confirm);
  cmp_exchange_free(ex);
}

static void test_implicit_confirm_is_granted_only_where_the_profile_allows(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  c.hdr.implicit_confirm = true;
  struct cmp_exchange *ex = send_req(&c, CMP_IR, "implicit", (struct der_view){NULL, 0}, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_true(rsp.hdr.implicit_confirm);
  assert_int_equal(find_txn(cmp_exchange_txn(ex)->txid, NULL)->state, CMP_TXN_CONFIRMED);
  cmp_exchange_free(ex);

  client_init(&c, REF, SECRET);
  c.hdr.implicit_confirm = true;
  ex = send_req(&c, CMP_IR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_false(rsp.hdr.implicit_confirm);
  assert_int_equal(find_txn(cmp_exchange_txn(ex)->txid, NULL)->state, CMP_TXN_ISSUED);
  cmp_exchange_free(ex);
}

/* CertificationRequest for the device key, signed by it (RFC 2986). */
static size_t make_csr(uint8_t *out, size_t cap, bool corrupt) {
  uint8_t info[1024], spki[512], sig[256];
  size_t info_len, spki_len, sig_len, len;
  struct der_writer w;
  assert_int_equal(cg_key_spki(F->dev_key, spki, sizeof spki, &spki_len), 0);
  cg_der_writer_init(&w, info, sizeof info);
  size_t i = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, 0);
  cg_der_put_raw(&w, F->dev_name, F->dev_name_len);
  cg_der_put_raw(&w, spki, spki_len);
  cg_der_put_tlv(&w, DER_CTX_CONS(0), NULL, 0);
  cg_der_end(&w, i);
  assert_int_equal(cg_der_writer_finish(&w, &info_len), 0);
  struct cg_iov iov = {info, info_len};
  assert_int_equal(cg_sign(F->dev_key, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, sizeof sig,
                           &sig_len),
                   0);
  if (corrupt)
    sig[sig_len - 1] ^= 1;
  cg_der_writer_init(&w, out, cap);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_raw(&w, info, info_len);
  cg_cert_write_sig_alg(&w, CG_SIG_ECDSA, CG_HASH_SHA256);
  cg_der_put_bit_string(&w, sig, sig_len);
  cg_der_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

static void test_p10cr_is_answered_with_cp_and_cert_req_id_minus_one(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  uint8_t csr[1024], req[4096];
  size_t csr_len = make_csr(csr, sizeof csr, false), len;
  client_init(&c, REF, SECRET);
  assert_int_equal(cmp_client_p10cr(&c.mac, &c.hdr, (struct der_view){csr, csr_len}, req,
                                    sizeof req, &len),
                   0);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_int_equal(rsp.type, CMP_CP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].cert_req_id, -1); /* RFC 9483 §4.1.4 */
  struct cg_x509 x;
  struct der_view cv = rsp.u.cert_rep.rsp[0].cert;
  assert_int_equal(cg_x509_parse(cv.p, cv.len, &x), 0);
  assert_true(cg_der_view_is(x.subject, F->dev_name, F->dev_name_len));
  cmp_exchange_free(ex);

  /* A PKCS#10 whose signature does not verify is badPOP. */
  csr_len = make_csr(csr, sizeof csr, true);
  client_init(&c, REF, SECRET);
  assert_int_equal(cmp_client_p10cr(&c.mac, &c.hdr, (struct der_view){csr, csr_len}, req,
                                    sizeof req, &len),
                   0);
  ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_rejected_in(&rsp, CMP_CP, CG_FI_BAD_POP);
  cmp_exchange_free(ex);
}

static void test_signature_protected_cr_is_answered_signed(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  struct client c;
  struct cmp_msg rsp;
  signing_client(&c, cert, &cert_len);
  struct cmp_exchange *ex = send_req(&c, CMP_CR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_int_equal(rsp.type, CMP_CP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  assert_signed_by_ra(&rsp);
  cmp_exchange_free(ex);
}

/* A request as it came over TLS with the client certificate tls (p NULL:
 * none), for the profile's tls_binding. */
static struct cmp_exchange *send_over_tls(struct client *c, int type, struct der_view tls,
                                          struct cmp_msg *rsp) {
  uint8_t req[8192];
  size_t len;
  assert_int_equal(cmp_client_cert_req(&c->mac, &c->hdr, type,
                                       (struct der_view){F->dev_name, F->dev_name_len}, F->dev_key,
                                       (struct der_view){NULL, 0}, req, sizeof req, &len),
                   0);
  struct cmp_exchange *ex =
      cmp_exchange_new(&F->cfg, profile_named("default"), req, len, (int64_t)time(NULL));
  assert_non_null(ex);
  cmp_exchange_set_tls_client(ex, tls);
  play(ex, "default");
  decode_response(ex, c, rsp);
  return ex;
}

static void test_tls_binding_holds_signer_and_mac_to_the_tls_client_certificate(void **state) {
  (void)state;
  uint8_t cert[2048], other[2048];
  size_t cert_len, other_len;
  struct client c;
  struct cmp_msg rsp;
  signing_client(&c, cert, &cert_len);
  outside_cert(false, CERT_KU_DIGITAL_SIGNATURE, other, &other_len);
  F->prof_default.tls_signer = true;
  /* the signer is the TLS client certificate: served */
  struct cmp_exchange *ex = send_over_tls(&c, CMP_CR, (struct der_view){cert, cert_len}, &rsp);
  assert_int_equal(rsp.type, CMP_CP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  cmp_exchange_free(ex);
  /* another certificate, or none (plain HTTP): notAuthorized */
  struct der_view tls[2] = {{other, other_len}, {NULL, 0}};
  for (size_t i = 0; i < 2; i++) {
    client_init(&c, "", "");
    c.mac.key = F->dev_key;
    c.mac.cert = (struct der_view){cert, cert_len};
    ex = send_over_tls(&c, CMP_CR, tls[i], &rsp);
    assert_refused(&rsp, CG_FI_NOT_AUTHORIZED);
    cmp_exchange_free(ex);
  }
  /* a MAC where the profile binds MACs: only with a TLS client certificate */
  F->prof_default.tls_mac = true;
  client_init(&c, REF, SECRET);
  ex = send_over_tls(&c, CMP_IR, (struct der_view){NULL, 0}, &rsp);
  assert_refused(&rsp, CG_FI_NOT_AUTHORIZED);
  cmp_exchange_free(ex);
  client_init(&c, REF, SECRET);
  ex = send_over_tls(&c, CMP_IR, (struct der_view){other, other_len}, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  cmp_exchange_free(ex);
  F->prof_default.tls_signer = F->prof_default.tls_mac = false; /* the fixture is shared */
}

static void test_signer_outside_the_trust_anchors_is_signer_not_trusted(void **state) {
  (void)state;
  /* A self-signed certificate for the device key. */
  uint8_t cert[2048];
  size_t cert_len;
  outside_cert(true, CERT_KU_DIGITAL_SIGNATURE, cert, &cert_len);
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, "", "");
  use_signature(&c, F->dev_key, cert, cert_len);
  struct cmp_exchange *ex = send_req(&c, CMP_CR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_error(&rsp, CG_FI_SIGNER_NOT_TRUSTED);
  assert_signed_by_ra(&rsp);
  cmp_exchange_free(ex);
}

static void test_signature_by_another_key_is_bad_message_check(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  struct client c;
  struct cmp_msg rsp;
  device_cert(cert, &cert_len);
  client_init(&c, "", "");
  use_signature(&c, F->ra_key, cert, cert_len); /* signs with a key not the cert's */
  struct cmp_exchange *ex = send_req(&c, CMP_CR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_error(&rsp, CG_FI_BAD_MESSAGE_CHECK);
  cmp_exchange_free(ex);
}

static void test_sender_kid_other_than_the_signers_skid_is_bad_message_check(void **state) {
  (void)state;
  uint8_t cert[2048], wrong[20] = {1, 2, 3};
  size_t cert_len;
  struct client c;
  struct cmp_msg rsp;
  signing_client(&c, cert, &cert_len);
  c.mac.sender_kid = (struct der_view){wrong, sizeof wrong};
  struct cmp_exchange *ex = send_req(&c, CMP_CR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_error(&rsp, CG_FI_BAD_MESSAGE_CHECK);
  cmp_exchange_free(ex);
}

static void test_sender_other_than_the_signers_subject_is_bad_message_check(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  struct client c;
  struct cmp_msg rsp;
  signing_client(&c, cert, &cert_len);
  /* signed over the header as sent: only the name is wrong */
  c.mac.sender_name = (struct der_view){F->ra_name, F->ra_name_len};
  struct cmp_exchange *ex = send_req(&c, CMP_CR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_error(&rsp, CG_FI_BAD_MESSAGE_CHECK);
  assert_signed_by_ra(&rsp);
  cmp_exchange_free(ex);
}

/* RFC 9483 §3.1: an answer's sender is the RA's subject and its recipient the
 * request's sender, byte for byte (the NULL-DN of a MAC-protected request,
 * the signer's subject of a signed one). */
static void test_answers_name_the_ra_as_sender_and_the_requester_as_recipient(void **state) {
  (void)state;
  uint8_t cert[2048], req[8192];
  size_t cert_len, len;
  struct client c;
  struct cmp_msg sent, rsp;
  device_cert(cert, &cert_len);
  for (int signed_req = 0; signed_req < 2; signed_req++) {
    client_init(&c, signed_req ? "" : REF, signed_req ? "" : SECRET);
    if (signed_req)
      use_signature(&c, F->dev_key, cert, cert_len);
    assert_int_equal(cmp_client_cert_req(&c.mac, &c.hdr, CMP_CR,
                                         (struct der_view){F->dev_name, F->dev_name_len},
                                         F->dev_key, (struct der_view){NULL, 0}, req, sizeof req,
                                         &len),
                     0);
    assert_int_equal(cmp_msg_decode(req, len, &sent), 0);
    struct cmp_exchange *ex = run("default", req, len);
    decode_response(ex, &c, &rsp);
    assert_int_equal(rsp.type, CMP_CP);
    assert_int_equal(rsp.hdr.sender_dn.len, F->ra_name_len);
    assert_memory_equal(rsp.hdr.sender_dn.p, F->ra_name, F->ra_name_len);
    assert_int_equal(rsp.hdr.recipient.len, sent.hdr.sender.len);
    assert_memory_equal(rsp.hdr.recipient.p, sent.hdr.sender.p, sent.hdr.sender.len);
    if (signed_req) {
      struct cg_x509 x;
      assert_int_equal(cg_x509_parse(cert, cert_len, &x), 0);
      assert_int_equal(sent.hdr.sender_dn.len, x.subject.len);
      assert_memory_equal(sent.hdr.sender_dn.p, x.subject.p, x.subject.len);
    }
    cmp_exchange_free(ex);
  }
}

static void test_signer_without_digital_signature_is_signer_not_trusted(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  outside_cert(false, CERT_KU_KEY_AGREEMENT, cert, &cert_len); /* may not sign */
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, "", "");
  use_signature(&c, F->dev_key, cert, cert_len);
  struct cmp_exchange *ex = send_req(&c, CMP_CR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_error(&rsp, CG_FI_SIGNER_NOT_TRUSTED);
  cmp_exchange_free(ex);
}

/* A certConf for a transaction that another sender began (here: signed by a
 * device certificate, for a transaction of the MAC reference) is
 * badRequest, and the transaction still awaits its own confirmation. */
static void test_cert_conf_from_another_sender_is_bad_request(void **state) {
  (void)state;
  uint8_t cert[2048], req[4096];
  size_t cert_len, len;
  struct client c, other;
  struct cmp_msg ip, rsp;
  struct cmp_exchange *ex, *ex2;
  device_cert(cert, &cert_len);
  client_init(&c, REF, SECRET);
  enrol(&c, &ip, &ex);
  assert_int_equal(ip.type, CMP_IP);
  client_init(&other, "", "");
  use_signature(&other, F->dev_key, cert, cert_len);
  /* the same transactionID and senderNonce */
  memcpy(other.txid, c.txid, sizeof other.txid);
  memcpy(other.nonce, c.nonce, sizeof other.nonce);
  other.hdr.recip_nonce = ip.hdr.sender_nonce;
  assert_int_equal(cmp_client_cert_conf(&other.mac, &other.hdr, ip.u.cert_rep.rsp[0].cert, 0,
                                        false, req, sizeof req, &len),
                   0);
  ex2 = run("default", req, len);
  decode_response(ex2, &other, &rsp);
  assert_error(&rsp, CG_FI_BAD_REQUEST);
  assert_int_equal(find_txn(cmp_exchange_txn(ex)->txid, NULL)->state, CMP_TXN_ISSUED);
  cmp_exchange_free(ex);
  cmp_exchange_free(ex2);
}

static void test_kur_signed_with_the_old_certificate_is_answered_with_kup(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  struct client c;
  struct cmp_msg rsp;
  signing_client(&c, cert, &cert_len);
  struct cmp_exchange *ex =
      send_req(&c, CMP_KUR, "default", (struct der_view){cert, cert_len}, &rsp);
  assert_int_equal(rsp.type, CMP_KUP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  assert_false(cg_der_view_is(rsp.u.cert_rep.rsp[0].cert, cert, cert_len));
  cmp_exchange_free(ex);
}

/* RFC 9483 §4.1.3: a kur certifies a new key.  The old one again is
 * badCertTemplate (in the kup), unless the profile has kur_same_key. */
static void test_a_kur_certifies_a_new_key(void **state) {
  (void)state;
  uint8_t cert[2048], req[8192];
  size_t cert_len, len;
  struct client c;
  struct cmp_msg rsp;
  struct der_view subject = {F->dev_name, F->dev_name_len};
  signing_client(&c, cert, &cert_len);
  for (int allowed = 0; allowed < 2; allowed++) {
    F->prof_default.kur_same_key = allowed;
    assert_int_equal(client_new_nonce(&c), 0);
    memset(c.txid, allowed + 1, sizeof c.txid); /* a transaction of its own */
    assert_int_equal(cmp_client_cert_req(&c.mac, &c.hdr, CMP_KUR, subject, F->dev_key,
                                         (struct der_view){cert, cert_len}, req, sizeof req, &len),
                     0);
    struct cmp_exchange *ex = run("default", req, len);
    decode_response(ex, &c, &rsp);
    if (!allowed) {
      assert_rejected_in(&rsp, CMP_KUP, CG_FI_BAD_CERT_TEMPLATE);
    } else {
      assert_int_equal(rsp.type, CMP_KUP);
      assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
    }
    cmp_exchange_free(ex);
  }
  F->prof_default.kur_same_key = false;
}

/* One update of a certificate, a confirmation at a time: a second kur while
 * the first awaits its certConf is badRequest, and so is an rr of the new,
 * unconfirmed certificate; once confirmed, the old certificate is not
 * updated again (its successor is). */
static void test_a_certificate_is_updated_once_a_confirmation_at_a_time(void **state) {
  (void)state;
  uint8_t cert[2048], req[8192], next[2048];
  size_t cert_len, next_len, len;
  struct client c, rc;
  struct cmp_msg rsp;
  signing_client(&c, cert, &cert_len);
  struct der_view old = {cert, cert_len};
  struct cmp_exchange *ex = send_req(&c, CMP_KUR, "default", old, &rsp);
  assert_int_equal(rsp.type, CMP_KUP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  next_len = rsp.u.cert_rep.rsp[0].cert.len;
  memcpy(next, rsp.u.cert_rep.rsp[0].cert.p, next_len);
  uint8_t kup_nonce[16];
  memcpy(kup_nonce, rsp.hdr.sender_nonce.p, 16);
  uint8_t txid[16];
  memcpy(txid, c.txid, 16);

  /* A second kur of the same certificate meanwhile. */
  struct client c2;
  client_init(&c2, "", "");
  use_signature(&c2, F->dev_key, cert, cert_len);
  struct cmp_exchange *e2 = send_req(&c2, CMP_KUR, "default", old, &rsp);
  assert_rejected_in(&rsp, CMP_KUP, CG_FI_BAD_REQUEST);
  cmp_exchange_free(e2);

  /* An rr of the new certificate, signed by it, before its certConf. */
  client_init(&rc, "", "");
  use_signature(&rc, F->new_key, next, next_len);
  struct cg_x509 x;
  assert_int_equal(cg_x509_parse(next, next_len, &x), 0);
  assert_int_equal(cmp_client_rr(&rc.mac, &rc.hdr, x.issuer, x.serial, 1, req, sizeof req, &len),
                   0);
  e2 = run("default", req, len);
  decode_response(e2, &rc, &rsp);
  assert_rejected_in(&rsp, CMP_RP, CG_FI_BAD_REQUEST);
  cmp_exchange_free(e2);

  /* The certConf of the first kur; then the old certificate is done with. */
  memcpy(c.txid, txid, 16);
  c.hdr.recip_nonce = (struct der_view){kup_nonce, 16};
  assert_int_equal(client_new_nonce(&c), 0);
  assert_int_equal(cmp_client_cert_conf(&c.mac, &c.hdr, (struct der_view){next, next_len}, 0,
                                        false, req, sizeof req, &len),
                   0);
  e2 = run("default", req, len);
  decode_response(e2, &c, &rsp);
  assert_int_equal(rsp.type, CMP_PKICONF);
  cmp_exchange_free(e2);
  client_init(&c2, "", "");
  use_signature(&c2, F->dev_key, cert, cert_len);
  e2 = send_req(&c2, CMP_KUR, "default", old, &rsp);
  assert_rejected_in(&rsp, CMP_KUP, CG_FI_BAD_REQUEST);
  cmp_exchange_free(e2);
  /* Nor does the updated certificate sign other requests: its successor
   * does. */
  client_init(&c2, "", "");
  use_signature(&c2, F->dev_key, cert, cert_len);
  e2 = send_req(&c2, CMP_CR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_error(&rsp, CG_FI_SIGNER_NOT_TRUSTED);
  cmp_exchange_free(e2);
  cmp_exchange_free(ex);
}

/* A kur whose template gives an empty subject names nobody. */
static void test_a_kur_with_an_empty_subject_is_bad_cert_template(void **state) {
  (void)state;
  uint8_t cert[2048], req[8192];
  size_t cert_len, len;
  static const uint8_t empty[] = {0x30, 0x00};
  struct client c;
  struct cmp_msg rsp;
  signing_client(&c, cert, &cert_len);
  assert_int_equal(cmp_client_cert_req(&c.mac, &c.hdr, CMP_KUR,
                                       (struct der_view){empty, sizeof empty}, F->new_key,
                                       (struct der_view){cert, cert_len}, req, sizeof req, &len),
                   0);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_rejected_in(&rsp, CMP_KUP, CG_FI_BAD_CERT_TEMPLATE);
  cmp_exchange_free(ex);
}

static struct cmp_exchange *revoke(struct client *c, const uint8_t *cert, size_t cert_len,
                                   int reason, struct cmp_msg *rsp);

/* An ir for key on the default profile; the answer in rsp. */
static void ir_for_key(const struct cg_key *key, const char *cn, struct cmp_msg *rsp,
                       struct cmp_exchange **ex) {
  struct client c;
  uint8_t req[8192], name[128];
  size_t len, name_len;
  make_name(cn, name, &name_len);
  client_init(&c, REF, SECRET);
  assert_int_equal(cmp_client_cert_req(&c.mac, &c.hdr, CMP_IR, (struct der_view){name, name_len},
                                       key, (struct der_view){NULL, 0}, req, sizeof req, &len),
                   0);
  *ex = run("default", req, len);
  decode_response(*ex, &c, rsp);
}

/* A key certified in force again: allowed (key_reuse, the default) or
 * badCertTemplate; a key whose certificate was revoked for keyCompromise:
 * never again, whatever key_reuse says. */
static void test_a_key_reported_compromised_is_never_certified_again(void **state) {
  (void)state;
  struct cg_key *key;
  struct cmp_msg rsp;
  struct cmp_exchange *ex;
  char text[256];
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  ir_for_key(key, "reuser", &rsp, &ex);
  assert_int_equal(rsp.type, CMP_IP);
  uint8_t cert[2048];
  size_t cert_len = rsp.u.cert_rep.rsp[0].cert.len;
  memcpy(cert, rsp.u.cert_rep.rsp[0].cert.p, cert_len);
  cmp_exchange_free(ex);
  ir_for_key(key, "reuser", &rsp, &ex); /* key_reuse = true: served */
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  cmp_exchange_free(ex);
  F->prof_default.key_reuse = false;
  ir_for_key(key, "reuser", &rsp, &ex);
  assert_rejected_in(&rsp, CMP_IP, CG_FI_BAD_CERT_TEMPLATE);
  status_text(&rsp, text, sizeof text);
  assert_non_null(strstr(text, "certified already"));
  cmp_exchange_free(ex);
  F->prof_default.key_reuse = true;
  /* keyCompromise for the first certificate: the key is dead. */
  struct client c;
  client_init(&c, REF, SECRET);
  ex = revoke(&c, cert, cert_len, 1, &rsp);
  assert_int_equal(rsp.type, CMP_RP);
  cmp_exchange_free(ex);
  ir_for_key(key, "reuser", &rsp, &ex);
  assert_rejected_in(&rsp, CMP_IP, CG_FI_BAD_CERT_TEMPLATE);
  status_text(&rsp, text, sizeof text);
  assert_non_null(strstr(text, "reported compromised"));
  cmp_exchange_free(ex);
  cg_key_free(key);
}

/* Without oldCertId the certificate updated is the signer's (RFC 9483
 * §4.1.3 makes oldCertId optional). */
static void test_kur_without_old_cert_id_updates_the_signer_certificate(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  struct client c;
  struct cmp_msg rsp;
  signing_client(&c, cert, &cert_len);
  struct cmp_exchange *ex = send_req(&c, CMP_KUR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_int_equal(rsp.type, CMP_KUP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  assert_non_null(rsp.u.cert_rep.rsp[0].cert.p);
  assert_false(cg_der_view_is(rsp.u.cert_rep.rsp[0].cert, cert, cert_len));
  cmp_exchange_free(ex);
}

/* A certificate of the same CA that cmpgw never issued (not in the store)
 * cannot be updated: badCertId, with or without oldCertId. */
static void test_kur_of_a_certificate_not_issued_here_is_bad_cert_id(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  outside_cert(false, CERT_KU_DIGITAL_SIGNATURE, cert, &cert_len);
  for (int named = 0; named < 2; named++) {
    struct client c;
    struct cmp_msg rsp;
    client_init(&c, "", "");
    use_signature(&c, F->dev_key, cert, cert_len);
    struct cmp_exchange *ex =
        send_req(&c, CMP_KUR, "default",
                 named ? (struct der_view){cert, cert_len} : (struct der_view){NULL, 0}, &rsp);
    assert_rejected_in(&rsp, CMP_KUP, CG_FI_BAD_CERT_ID);
    assert_signed_by_ra(&rsp);
    cmp_exchange_free(ex);
  }
}

/* RFC 9483 §4.1.3: a kur is signed with the certificate it updates.  MAC
 * protection is the wrong kind (wrongIntegrity); signed by another
 * certificate it is not authorized. */
static void test_kur_with_mac_is_wrong_integrity_and_by_another_certificate_not_authorized(
    void **state) {
  (void)state;
  uint8_t cert[2048], other[2048];
  size_t cert_len, other_len;
  struct client c;
  struct cmp_msg rsp;
  device_cert(cert, &cert_len);
  device_cert(other, &other_len);
  /* MAC-protected, naming the old certificate. */
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex =
      send_req(&c, CMP_KUR, "default", (struct der_view){cert, cert_len}, &rsp);
  assert_rejected_in(&rsp, CMP_KUP, CG_FI_WRONG_INTEGRITY);
  cmp_exchange_free(ex);
  /* Signed with one certificate, naming another. */
  client_init(&c, "", "");
  use_signature(&c, F->dev_key, other, other_len);
  ex = send_req(&c, CMP_KUR, "default", (struct der_view){cert, cert_len}, &rsp);
  assert_rejected_in(&rsp, CMP_KUP, CG_FI_NOT_AUTHORIZED);
  cmp_exchange_free(ex);
}

static struct cmp_exchange *revoke(struct client *c, const uint8_t *cert, size_t cert_len,
                                   int reason, struct cmp_msg *rsp) {
  struct cg_x509 x;
  uint8_t req[4096];
  size_t len;
  assert_int_equal(cg_x509_parse(cert, cert_len, &x), 0);
  assert_int_equal(cmp_client_rr(&c->mac, &c->hdr, x.issuer, x.serial, reason, req, sizeof req,
                                 &len),
                   0);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, c, rsp);
  return ex;
}

static void test_rr_signed_by_the_certificate_revokes_it_once(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len, before = F->n_revocations;
  struct client c;
  struct cmp_msg rsp;
  signing_client(&c, cert, &cert_len);
  struct cmp_exchange *ex = revoke(&c, cert, cert_len, 5, &rsp);
  assert_int_equal(rsp.type, CMP_RP);
  assert_int_equal(rsp.u.rev_rep.n, 1);
  assert_int_equal(rsp.u.rev_rep.status[0].status, CMP_ACCEPTED);
  assert_int_equal(F->n_revocations, before + 1);
  assert_string_equal(cmp_exchange_revocation(ex)->serial, cmp_exchange_txn(ex)->cert_serial);
  cmp_exchange_free(ex);

  /* Revoked: a second rr (and a kur) is refused; with the MAC of the secret
   * that enrolled it the answer is certRevoked. */
  client_init(&c, REF, SECRET);
  ex = revoke(&c, cert, cert_len, 5, &rsp);
  assert_rejected_in(&rsp, CMP_RP, CG_FI_CERT_REVOKED);
  assert_int_equal(F->n_revocations, before + 1);
  cmp_exchange_free(ex);
}

/* The fixture's index of the certificate cert, as the store knows it. */
static int stored_index(const uint8_t *cert, size_t cert_len) {
  for (size_t i = 0; i < F->n_txns; i++)
    if (F->cert_lens[i] == cert_len && !memcmp(F->certs[i], cert, cert_len))
      return (int)i;
  fail_msg("the certificate is not stored");
  return -1;
}

/* removeFromCRL asks for no revocation: for a certificate that is not on
 * hold it is badCertId (RFC 9483 §5.1.3: no certificate matches), and
 * nothing is revoked. */
static void test_remove_from_crl_of_a_certificate_not_on_hold_revokes_nothing(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len, before;
  struct client c;
  struct cmp_msg rsp;
  device_cert(cert, &cert_len);
  before = F->n_revocations;
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = revoke(&c, cert, cert_len, 8, &rsp);
  assert_rejected_in(&rsp, CMP_RP, CG_FI_BAD_CERT_ID);
  char text[256];
  status_text(&rsp, text, sizeof text);
  assert_non_null(strstr(text, "not on hold"));
  assert_int_equal(F->n_revocations, before);
  assert_false(F->revoked[stored_index(cert, cert_len)]);
  cmp_exchange_free(ex);
}

/* certificateHold (6), then removeFromCRL (8): the hold is released and the
 * certificate is as before; revoked for good (1) it is not released again
 * (certRevoked); a hold an operator put is released by an operator only. */
static void test_a_hold_is_released_by_remove_from_crl(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  struct client c;
  struct cmp_msg rsp;
  signing_client(&c, cert, &cert_len);
  int i = stored_index(cert, cert_len);
  struct cmp_exchange *ex = revoke(&c, cert, cert_len, 6, &rsp);
  assert_int_equal(rsp.type, CMP_RP);
  assert_int_equal(rsp.u.rev_rep.status[0].status, CMP_ACCEPTED);
  assert_true(F->revoked[i]);
  cmp_exchange_free(ex);
  /* Held: its holder signs the release. */
  client_init(&c, "", "");
  use_signature(&c, F->dev_key, cert, cert_len);
  ex = revoke(&c, cert, cert_len, 8, &rsp);
  assert_int_equal(rsp.type, CMP_RP);
  assert_int_equal(rsp.u.rev_rep.status[0].status, CMP_ACCEPTED);
  assert_int_equal(cmp_exchange_revocation(ex)->reason, 8);
  assert_false(F->revoked[i]);
  cmp_exchange_free(ex);
  /* Revoked for good: no release. */
  client_init(&c, REF, SECRET);
  ex = revoke(&c, cert, cert_len, 5, &rsp);
  assert_int_equal(rsp.type, CMP_RP);
  cmp_exchange_free(ex);
  client_init(&c, REF, SECRET);
  ex = revoke(&c, cert, cert_len, 8, &rsp);
  assert_rejected_in(&rsp, CMP_RP, CG_FI_CERT_REVOKED);
  assert_true(F->revoked[i]);
  cmp_exchange_free(ex);
  /* On hold at an operator's request: not the device's to release. */
  F->revoked_reason[i] = 6;
  F->held_by_operator[i] = true;
  client_init(&c, REF, SECRET);
  ex = revoke(&c, cert, cert_len, 8, &rsp);
  assert_rejected_in(&rsp, CMP_RP, CG_FI_NOT_AUTHORIZED);
  assert_true(F->revoked[i]);
  cmp_exchange_free(ex);
  F->held_by_operator[i] = false;
}

struct rr_with_subject {
  struct der_view issuer, serial, subject;
};

/* rr body: the certificate by serial and issuer, and a subject (reason
 * unspecified). */
static void rr_with_subject_body(struct der_writer *w, const void *arg) {
  const struct rr_with_subject *a = arg;
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_RR));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t rd = cg_der_begin(w, DER_SEQUENCE);
  size_t tmpl = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_CTX(1), a->serial.p, a->serial.len);
  size_t iss = cg_der_begin(w, DER_CTX_CONS(3));
  cg_der_put_raw(w, a->issuer.p, a->issuer.len);
  cg_der_end(w, iss);
  size_t subj = cg_der_begin(w, DER_CTX_CONS(5));
  cg_der_put_raw(w, a->subject.p, a->subject.len);
  cg_der_end(w, subj);
  cg_der_end(w, tmpl);
  cg_der_end(w, rd);
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

/* What an rr's template gives besides issuer and serial must be the
 * certificate's: another subject names no certificate (badCertId, in the rp)
 * and nothing is revoked; its own subject revokes it. */
static void test_rr_naming_another_subject_is_bad_cert_id(void **state) {
  (void)state;
  uint8_t cert[2048], other[128], req[4096];
  size_t cert_len, other_len, len, before;
  struct client c;
  struct cmp_msg rsp;
  struct cg_x509 x;
  device_cert(cert, &cert_len);
  assert_int_equal(cg_x509_parse(cert, cert_len, &x), 0);
  make_name("someone else", other, &other_len);
  struct rr_with_subject a = {x.issuer, x.serial, {other, other_len}};
  before = F->n_revocations;
  client_init(&c, REF, SECRET);
  assert_int_equal(
      cmp_client_message(&c.mac, &c.hdr, rr_with_subject_body, &a, req, sizeof req, &len), 0);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_rejected_in(&rsp, CMP_RP, CG_FI_BAD_CERT_ID);
  assert_int_equal(F->n_revocations, before);
  cmp_exchange_free(ex);
  a.subject = x.subject;
  client_init(&c, REF, SECRET);
  assert_int_equal(
      cmp_client_message(&c.mac, &c.hdr, rr_with_subject_body, &a, req, sizeof req, &len), 0);
  ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_int_equal(rsp.type, CMP_RP);
  assert_int_equal(rsp.u.rev_rep.status[0].status, CMP_ACCEPTED);
  assert_int_equal(F->n_revocations, before + 1);
  cmp_exchange_free(ex);
}

/* RFC 9483 §5.3.2: an RA or operator the profile names (ra_anchors: here
 * its exact certificate) revokes a device's certificate; without it the
 * same signed rr is notAuthorized. */
static void test_an_ra_the_profile_names_revokes_for_others(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len, before;
  struct client ra;
  struct cmp_msg rsp;
  device_cert(cert, &cert_len);
  struct der_view ra_cert = {F->ra_cert, F->ra_cert_len};
  for (int named = 0; named < 2; named++) {
    F->prof_default.ra_anchors = named ? &ra_cert : NULL;
    F->prof_default.n_ra_anchors = named ? 1 : 0;
    before = F->n_revocations;
    client_init(&ra, "", "");
    use_signature(&ra, F->ra_key, F->ra_cert, F->ra_cert_len);
    struct cmp_exchange *ex = revoke(&ra, cert, cert_len, 5, &rsp);
    if (!named) {
      assert_rejected_in(&rsp, CMP_RP, CG_FI_NOT_AUTHORIZED);
      assert_int_equal(F->n_revocations, before);
    } else {
      assert_int_equal(rsp.type, CMP_RP);
      assert_int_equal(rsp.u.rev_rep.status[0].status, CMP_ACCEPTED);
      assert_int_equal(F->n_revocations, before + 1);
    }
    cmp_exchange_free(ex);
  }
  F->prof_default.ra_anchors = NULL;
  F->prof_default.n_ra_anchors = 0;
}

static void test_rr_by_mac_needs_the_secret_that_enrolled_the_certificate(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  struct client c;
  struct cmp_msg rsp;
  device_cert(cert, &cert_len);
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = revoke(&c, cert, cert_len, -1, &rsp);
  assert_int_equal(rsp.type, CMP_RP);
  cmp_exchange_free(ex);
}

static void test_rr_with_a_reason_that_does_not_exist_is_bad_request(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  struct client c;
  struct cmp_msg rsp;
  device_cert(cert, &cert_len);
  for (int reason = 7; reason <= 11; reason += 4) {
    client_init(&c, REF, SECRET);
    struct cmp_exchange *ex = revoke(&c, cert, cert_len, reason, &rsp);
    assert_rejected_in(&rsp, CMP_RP, CG_FI_BAD_REQUEST);
    cmp_exchange_free(ex);
  }
}

/* The serial of a certificate cmpgw issued, under another issuer's name:
 * no such certificate, badCertId, nothing revoked. */
static void test_rr_naming_another_issuer_is_bad_cert_id(void **state) {
  (void)state;
  uint8_t cert[2048], req[4096];
  size_t cert_len, len, before = F->n_revocations;
  struct client c;
  struct cmp_msg rsp;
  struct cg_x509 x;
  device_cert(cert, &cert_len);
  assert_int_equal(cg_x509_parse(cert, cert_len, &x), 0);
  client_init(&c, REF, SECRET);
  assert_int_equal(cmp_client_rr(&c.mac, &c.hdr, (struct der_view){F->ra_name, F->ra_name_len},
                                 x.serial, -1, req, sizeof req, &len),
                   0);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_rejected_in(&rsp, CMP_RP, CG_FI_BAD_CERT_ID);
  assert_int_equal(F->n_revocations, before);
  cmp_exchange_free(ex);
}

/* PKIBody rr with the same RevDetails twice. */
static void two_rev_details(struct der_writer *w, const void *arg) {
  const struct der_view *rd = arg;
  size_t b = cg_der_begin(w, DER_CTX_CONS(CMP_RR));
  size_t s = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_raw(w, rd->p, rd->len);
  cg_der_put_raw(w, rd->p, rd->len);
  cg_der_end(w, s);
  cg_der_end(w, b);
}

/* RFC 9483 §4.2: an rr names exactly one certificate.  Two RevDetails, the
 * MAC right, get badRequest and revoke nothing. */
static void test_rr_with_two_rev_details_is_bad_request(void **state) {
  (void)state;
  uint8_t cert[2048], one[4096], two[4096];
  size_t cert_len, one_len, two_len, before = F->n_revocations;
  struct client c;
  struct cmp_msg m, rsp;
  struct cg_x509 x;
  device_cert(cert, &cert_len);
  assert_int_equal(cg_x509_parse(cert, cert_len, &x), 0);
  client_init(&c, REF, SECRET);
  assert_int_equal(cmp_client_rr(&c.mac, &c.hdr, x.issuer, x.serial, -1, one, sizeof one,
                                 &one_len),
                   0);
  assert_int_equal(cmp_msg_decode(one, one_len, &m), 0);
  struct der_reader r, seq;
  struct der_tlv rd;
  cg_der_reader_view(&r, m.content);
  assert_int_equal(cg_der_enter(&r, DER_SEQUENCE, &seq), 0);
  assert_int_equal(cg_der_expect(&seq, DER_SEQUENCE, &rd), 0);
  assert_int_equal(cmp_client_message(&c.mac, &c.hdr, two_rev_details, &rd.raw, two,
                                      sizeof two, &two_len),
                   0);
  struct cmp_exchange *ex = run("default", two, two_len);
  decode_response(ex, &c, &rsp);
  assert_error(&rsp, CG_FI_BAD_REQUEST);
  assert_int_equal(F->n_revocations, before);
  cmp_exchange_free(ex);
}

/* More than CMP_MAX_EXTRA_CERTS extraCerts (8): badRequest, whatever the
 * rest; the MAC over header and body is still right. */
static void test_more_extra_certs_than_the_cap_is_bad_request(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096], big[32768];
  struct cmp_msg m, rsp;
  for (int n = CMP_MAX_EXTRA_CERTS; n <= CMP_MAX_EXTRA_CERTS + 1; n++) {
    client_init(&c, REF, SECRET); /* a transaction of its own each time */
    size_t len = make_ir(&c, req, sizeof req);
    assert_int_equal(cmp_msg_decode(req, len, &m), 0);
    struct der_writer w;
    cg_der_writer_init(&w, big, sizeof big);
    size_t top = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_raw(&w, m.hdr.raw.p, m.hdr.raw.len);
    cg_der_put_raw(&w, m.body.p, m.body.len);
    size_t p = cg_der_begin(&w, DER_CTX_CONS(0));
    cg_der_put_bit_string(&w, m.protection.p, m.protection.len);
    cg_der_end(&w, p);
    size_t x = cg_der_begin(&w, DER_CTX_CONS(1));
    size_t s = cg_der_begin(&w, DER_SEQUENCE);
    for (int i = 0; i < n; i++)
      cg_der_put_raw(&w, F->ca_cert, F->ca_cert_len);
    cg_der_end(&w, s);
    cg_der_end(&w, x);
    cg_der_end(&w, top);
    size_t big_len;
    assert_int_equal(cg_der_writer_finish(&w, &big_len), 0);
    struct cmp_exchange *ex = run("default", big, big_len);
    decode_response(ex, &c, &rsp);
    if (n == CMP_MAX_EXTRA_CERTS)
      assert_int_equal(rsp.type, CMP_IP); /* at the cap: served */
    else
      assert_error(&rsp, CG_FI_BAD_REQUEST);
    cmp_exchange_free(ex);
  }
}

static void test_rr_for_an_unknown_certificate_is_bad_cert_id(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  /* The CA certificate was never issued through CMP. */
  struct cmp_exchange *ex = revoke(&c, F->ca_cert, F->ca_cert_len, 0, &rsp);
  assert_rejected_in(&rsp, CMP_RP, CG_FI_BAD_CERT_ID);
  cmp_exchange_free(ex);
}

static void test_pbmac1_request_gets_a_pbmac1_answer(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  c.mac.pbmac1 = true;
  c.mac.iterations = 1000;
  c.mac.owf = CG_HASH_SHA256;
  c.mac.mac = CG_HASH_SHA256;
  struct cmp_exchange *ex = send_req(&c, CMP_IR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  struct cmp_pbmac1_params p;
  assert_int_equal(cmp_pbmac1_parse(rsp.hdr.protection_alg, 100000, &p), 0);
  uint8_t seq[6], mac[CG_HASH_MAX];
  size_t mac_len;
  struct cg_iov iov[2];
  cmp_msg_protected_part(&rsp, seq, iov);
  assert_int_equal(cmp_pbmac1_compute(&p, (const uint8_t *)SECRET, strlen(SECRET), iov, 2, mac,
                                      &mac_len),
                   0);
  assert_int_equal(rsp.protection.len, mac_len);
  assert_memory_equal(rsp.protection.p, mac, mac_len);
  cmp_exchange_free(ex);
}

/* What a caller running compute steps on its event loop learns: writing a
 * MAC'd answer is light; deriving a key the request asks more than
 * CMP_HEAVY_ITERATIONS iterations for is heavy (PBM and PBMAC1 alike);
 * signatures are neither. */
static void test_compute_steps_say_whether_they_are_light_or_heavy(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  static const struct {
    bool pbmac1;
    uint32_t iterations;
    size_t heavy;
  } cases[] = {{false, 500, 0}, {false, CMP_HEAVY_ITERATIONS, 0}, {false, 20000, 1},
               {true, 1000, 0}, {true, 20000, 1}};
  uint32_t max = F->cfg.pbm_max_iterations;
  F->cfg.pbm_max_iterations = 100000;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    client_init(&c, REF, SECRET);
    c.mac.pbmac1 = cases[i].pbmac1;
    c.mac.iterations = cases[i].iterations;
    c.mac.mac = CG_HASH_SHA256;
    F->light_steps = F->heavy_steps = 0;
    struct cmp_exchange *ex = send_req(&c, CMP_IR, "default", (struct der_view){NULL, 0}, &rsp);
    assert_int_equal(rsp.type, CMP_IP);
    assert_int_equal(F->heavy_steps, cases[i].heavy);
    assert_int_equal(F->light_steps, 1); /* the ip, MAC'd with the key derived */
    cmp_exchange_free(ex);
  }
  F->cfg.pbm_max_iterations = max;
  /* signed: the answer is signed too, nothing light, nothing heavy */
  uint8_t cert[2048];
  size_t len;
  device_cert(cert, &len);
  client_init(&c, REF, SECRET);
  use_signature(&c, F->dev_key, cert, len);
  F->light_steps = F->heavy_steps = 0;
  struct cmp_exchange *ex = send_req(&c, CMP_CR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_int_equal(rsp.type, CMP_CP);
  assert_int_equal(F->light_steps + F->heavy_steps, 0);
  cmp_exchange_free(ex);
}

static void test_message_time_far_from_now_is_bad_time(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  F->cfg.max_clock_skew = 600;
  client_init(&c, REF, SECRET);
  c.hdr.message_time = (int64_t)time(NULL) - 3600;
  struct cmp_exchange *ex = send_req(&c, CMP_IR, "default", (struct der_view){NULL, 0}, &rsp);
  assert_error(&rsp, CG_FI_BAD_TIME);
  cmp_exchange_free(ex);
  F->cfg.max_clock_skew = 0;
}

/* The request with its protection removed: protectionAlg without protection. */
static void test_protection_alg_without_protection_is_bad_message_check(void **state) {
  (void)state;
  struct client c;
  uint8_t req[4096], bare[4096];
  size_t len = 0, bare_len;
  client_init(&c, REF, SECRET);
  len = make_ir(&c, req, sizeof req);
  struct cmp_msg m;
  assert_int_equal(cmp_msg_decode(req, len, &m), 0);
  struct der_writer w;
  cg_der_writer_init(&w, bare, sizeof bare);
  cmp_write_message(&w, m.hdr.raw.p, m.hdr.raw.len + m.body.len, NULL, 0, NULL, 0);
  assert_int_equal(cg_der_writer_finish(&w, &bare_len), 0);
  struct cmp_exchange *ex = run("default", bare, bare_len);
  struct cmp_msg rsp;
  decode_response(ex, &c, &rsp);
  assert_error(&rsp, CG_FI_BAD_MESSAGE_CHECK);
  cmp_exchange_free(ex);
}

/* A protectionAlg that is neither a MAC nor a signature cmpgw knows
 * (1.2.3.4, no parameters) gets badAlg, signed by the RA. */
static void test_unknown_protection_alg_is_bad_alg(void **state) {
  (void)state;
  static const uint8_t unknown[] = {0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04};
  struct client c;
  uint8_t req[4096], out[4096];
  size_t len, out_len;
  client_init(&c, REF, SECRET);
  len = make_ir(&c, req, sizeof req);
  struct cmp_msg m;
  assert_int_equal(cmp_msg_decode(req, len, &m), 0);
  m.hdr.protection_alg = (struct der_view){unknown, sizeof unknown};
  m.hdr.protection_oid = (struct der_view){unknown + 4, 3};
  struct der_writer w;
  cg_der_writer_init(&w, out, sizeof out);
  assert_int_equal(cmp_msg_encode(&m, &w), 0);
  assert_int_equal(cg_der_writer_finish(&w, &out_len), 0);
  struct cmp_exchange *ex = run("default", out, out_len);
  struct cmp_msg rsp;
  decode_response(ex, &c, &rsp);
  assert_error(&rsp, CG_FI_BAD_ALG);
  assert_signed_by_ra(&rsp);
  cmp_exchange_free(ex);
}

static void test_genm_is_answered_for_every_info_type_asked(void **state) {
  (void)state;
  static const uint8_t unknown_oid[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x19};
  struct der_view types[] = {cg_oid(CG_OID_IT_CA_CERTS), cg_oid(CG_OID_IT_SIGN_KEY_PAIR_TYPES),
                             cg_oid(CG_OID_IT_ROOT_CA_KEY_UPDATE),
                             cg_oid(CG_OID_IT_CERT_REQ_TEMPLATE),
                             {unknown_oid, sizeof unknown_oid}};
  struct client c;
  struct cmp_msg rsp;
  uint8_t req[4096];
  size_t len;
  client_init(&c, REF, SECRET);
  assert_int_equal(cmp_client_genm(&c.mac, &c.hdr, types, 5, req, sizeof req, &len), 0);
  size_t txns = F->n_txns;
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  struct cmp_exchange_info info;
  cmp_exchange_info(ex, &info);
  if (rsp.type != CMP_GENP)
    fail_msg("genm answered %s: %s", info.rsp_type, info.detail);
  assert_int_equal(F->n_txns, txns); /* answered without a stored transaction */
  struct cmp_genm genp;
  assert_int_equal(cmp_genm_decode(rsp.content, &genp), 0);
  assert_int_equal(genp.n, 5);
  for (size_t i = 0; i < 5; i++)
    assert_true(cg_der_view_eq(genp.itav[i].oid, types[i]));
  /* caCerts: SEQUENCE OF the CA certificate. */
  assert_non_null(genp.itav[0].value.p);
  assert_non_null(memmem(genp.itav[0].value.p, genp.itav[0].value.len, F->ca_cert, F->ca_cert_len));
  assert_non_null(genp.itav[1].value.p);
  assert_null(genp.itav[2].value.p); /* no root CA key update */
  assert_non_null(genp.itav[3].value.p);
  assert_null(genp.itav[4].value.p); /* unknown: absent, not an error */
  cmp_exchange_free(ex);
}

/* An OID's whole TLV is somewhere in v. */
static bool holds_oid(struct der_view v, enum cg_oid_id id) {
  struct der_view o = cg_oid(id);
  uint8_t tlv[32] = {DER_OID, (uint8_t)o.len};
  memcpy(tlv + 2, o.p, o.len);
  return memmem(v.p, v.len, tlv, o.len + 2) != NULL;
}

/* RFC 9483 §4.3.3: the template's keySpec is what the profile certifies. */
static void test_cert_req_template_lists_the_keys_the_profile_certifies(void **state) {
  (void)state;
  struct der_view type = cg_oid(CG_OID_IT_CERT_REQ_TEMPLATE);
  static const uint8_t rsa3072[] = {0x02, 0x02, 0x0c, 0x00}, rsa2048[] = {0x02, 0x02, 0x08, 0x00};
  struct client c;
  struct cmp_msg rsp;
  struct cmp_genm genp;
  uint8_t req[4096];
  size_t len;
  for (int round = 0; round < 2; round++) {
    F->prof_default.key_types = round == 0 ? CMP_KEYT_P384 | CMP_KEYT_RSA : CMP_KEYT_ED25519;
    F->prof_default.rsa_min_bits = 3072;
    client_init(&c, REF, SECRET);
    assert_int_equal(cmp_client_genm(&c.mac, &c.hdr, &type, 1, req, sizeof req, &len), 0);
    struct cmp_exchange *ex = run("default", req, len);
    decode_response(ex, &c, &rsp);
    assert_int_equal(rsp.type, CMP_GENP);
    assert_int_equal(cmp_genm_decode(rsp.content, &genp), 0);
    struct der_view v = genp.itav[0].value;
    assert_non_null(v.p);
    assert_true(holds_oid(v, CG_OID_P384) == (round == 0));
    assert_false(holds_oid(v, CG_OID_P256));
    assert_true(holds_oid(v, CG_OID_ED25519) == (round == 1));
    assert_true((memmem(v.p, v.len, rsa3072, sizeof rsa3072) != NULL) == (round == 0));
    assert_null(memmem(v.p, v.len, rsa2048, sizeof rsa2048));
    cmp_exchange_free(ex);
  }
  F->prof_default.key_types = 0;
  F->prof_default.rsa_min_bits = 0;
}

/* genm body: id-it-caCerts with a value (a NULL) where none belongs. */
static void ca_certs_with_a_value(struct der_writer *w, const void *arg) {
  (void)arg;
  static const uint8_t null[] = {0x05, 0x00};
  size_t m = cmp_genm_begin(w);
  cmp_write_itav(w, cg_oid(CG_OID_IT_CA_CERTS), (struct der_view){null, sizeof null});
  cmp_genm_end(w, m);
}

/* RFC 9483 §4.3.1: caCerts is asked for with no value. */
static void test_genm_ca_certs_with_a_value_is_bad_data_format(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  uint8_t req[4096];
  size_t len;
  client_init(&c, REF, SECRET);
  assert_int_equal(
      cmp_client_message(&c.mac, &c.hdr, ca_certs_with_a_value, NULL, req, sizeof req, &len), 0);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_error(&rsp, CG_FI_BAD_DATA_FORMAT);
  cmp_exchange_free(ex);
}

/* genm body: id-it-rootCaCert carrying the root certificate arg. */
static void root_ca_cert_genm(struct der_writer *w, const void *arg) {
  size_t m = cmp_genm_begin(w);
  cmp_write_itav_root_ca_cert(w, *(const struct der_view *)arg);
  cmp_genm_end(w, m);
}

/* RFC 9483 §4.3.2 as it is asked: id-it-rootCaCert with the EE's current
 * root.  The answer is id-it-rootCaKeyUpdate, its value absent: no update. */
static void test_genm_root_ca_cert_is_answered_with_no_update(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  uint8_t req[4096];
  size_t len;
  struct der_view root = {F->ca_cert, F->ca_cert_len};
  client_init(&c, REF, SECRET);
  assert_int_equal(cmp_client_message(&c.mac, &c.hdr, root_ca_cert_genm, &root, req, sizeof req,
                                      &len),
                   0);
  struct cmp_msg sent;
  assert_int_equal(cmp_msg_decode(req, len, &sent), 0);
  assert_int_equal(sent.type, CMP_GENM);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_int_equal(rsp.type, CMP_GENP);
  struct cmp_genm genp;
  assert_int_equal(cmp_genm_decode(rsp.content, &genp), 0);
  assert_int_equal(genp.n, 1);
  assert_true(cg_der_view_eq(genp.itav[0].oid, cg_oid(CG_OID_IT_ROOT_CA_KEY_UPDATE)));
  assert_null(genp.itav[0].value.p);
  cmp_exchange_free(ex);
}

static void test_genm_crl_status_list_is_answered_with_a_fresh_crl(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  struct client c;
  struct cmp_msg rsp;
  /* One revoked certificate, so the CRL has something to list. */
  device_cert(cert, &cert_len);
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = revoke(&c, cert, cert_len, 4, &rsp);
  assert_int_equal(rsp.type, CMP_RP);
  cmp_exchange_free(ex);

  struct der_view types[] = {cg_oid(CG_OID_IT_CRL_STATUS_LIST)};
  uint8_t req[4096];
  size_t len, made = F->crls_made;
  client_init(&c, REF, SECRET);
  assert_int_equal(cmp_client_genm(&c.mac, &c.hdr, types, 1, req, sizeof req, &len), 0);
  ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_int_equal(rsp.type, CMP_GENP);
  assert_int_equal(F->crls_made, made + 1);
  assert_true(F->crl_entries_asked >= 1);
  struct cmp_genm genp;
  assert_int_equal(cmp_genm_decode(rsp.content, &genp), 0);
  assert_int_equal(genp.n, 1);
  assert_true(cg_der_view_eq(genp.itav[0].oid, cg_oid(CG_OID_IT_CRLS)));
  assert_non_null(genp.itav[0].value.p);
  cmp_exchange_free(ex);
}

/* Two irs of two devices, batched by an RA into one nested message. */
static void test_nested_requests_are_answered_nested(void **state) {
  (void)state;
  struct client dev[2], ra;
  uint8_t inner[2][4096], req[16384];
  struct der_view msgs[2];
  size_t len;
  for (int i = 0; i < 2; i++) {
    client_init(&dev[i], REF, SECRET);
    msgs[i] = (struct der_view){inner[i], make_ir(&dev[i], inner[i], sizeof inner[i])};
  }
  client_init(&ra, "", "");
  use_signature(&ra, F->ra_key, F->ra_cert, F->ra_cert_len);
  assert_int_equal(cmp_client_nested(&ra.mac, &ra.hdr, msgs, 2, req, sizeof req, &len), 0);
  size_t issued = F->issued;
  struct cmp_exchange *ex = run("default", req, len);
  struct cmp_msg rsp;
  decode_response(ex, &ra, &rsp);
  assert_int_equal(rsp.type, CMP_NESTED);
  assert_signed_by_ra(&rsp);
  assert_int_equal(F->issued, issued + 2);
  /* NestedMessageContent ::= SEQUENCE OF PKIMessage: one ip per device. */
  struct der_reader top, seq;
  struct der_tlv t;
  cg_der_reader_view(&top, rsp.content);
  assert_int_equal(cg_der_enter(&top, DER_SEQUENCE, &seq), 0);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(cg_der_expect(&seq, DER_SEQUENCE, &t), 0);
    struct cmp_msg ip;
    assert_int_equal(cmp_msg_decode(t.raw.p, t.raw.len, &ip), 0);
    assert_int_equal(ip.type, CMP_IP);
    assert_true(cg_der_view_is(ip.hdr.transaction_id, dev[i].txid, 16));
    assert_int_equal(cmp_pbm_verify(&ip, 10000, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  }
  assert_true(cg_der_at_end(&seq));
  cmp_exchange_free(ex);
}

/* RFC 9483 §5.2.2.1: an RA wraps one request to add its protection; the
 * answer is the inner request's, bare: an ip for the device's transaction,
 * with the device's MAC. */
static void test_one_request_wrapped_by_an_ra_is_answered_bare(void **state) {
  (void)state;
  struct client dev, ra;
  uint8_t inner[4096], req[8192];
  size_t len, issued = F->issued;
  client_init(&dev, REF, SECRET);
  struct der_view msg = {inner, make_ir(&dev, inner, sizeof inner)};
  client_init(&ra, "", "");
  use_signature(&ra, F->ra_key, F->ra_cert, F->ra_cert_len);
  assert_int_equal(cmp_client_nested(&ra.mac, &ra.hdr, &msg, 1, req, sizeof req, &len), 0);
  struct cmp_exchange *ex = run("default", req, len);
  struct cmp_msg rsp;
  decode_response(ex, &dev, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  assert_true(cg_der_view_is(rsp.hdr.transaction_id, dev.txid, 16));
  assert_int_equal(cmp_pbm_verify(&rsp, 10000, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  assert_int_equal(F->issued, issued + 1);
  cmp_exchange_free(ex);
}

/* An ir without protection of its own (the RA checked its device), for
 * the device key, with txid and nonce. */
static size_t unprotected_ir(const uint8_t txid[16], const uint8_t nonce[16], uint8_t *out,
                             size_t cap) {
  uint8_t body[4096];
  size_t body_len, len;
  assert_int_equal(cmp_client_cert_req_body(CMP_IR, 0,
                                            (struct der_view){F->dev_name, F->dev_name_len},
                                            F->dev_key, (struct der_view){NULL, 0},
                                            (struct der_view){NULL, 0}, body, sizeof body,
                                            &body_len),
                   0);
  static const uint8_t null_dn[] = {0xa4, 0x02, 0x30, 0x00};
  struct der_writer w;
  cg_der_writer_init(&w, out, cap);
  size_t msg = cg_der_begin(&w, DER_SEQUENCE);
  size_t hdr = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, 2);
  cg_der_put_raw(&w, null_dn, sizeof null_dn);
  cg_der_put_raw(&w, null_dn, sizeof null_dn);
  size_t t = cg_der_begin(&w, DER_CTX_CONS(4));
  cg_der_put_tlv(&w, DER_OCTET_STRING, txid, 16);
  cg_der_end(&w, t);
  size_t n = cg_der_begin(&w, DER_CTX_CONS(5));
  cg_der_put_tlv(&w, DER_OCTET_STRING, nonce, 16);
  cg_der_end(&w, n);
  cg_der_end(&w, hdr);
  cg_der_put_raw(&w, body, body_len);
  cg_der_end(&w, msg);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

/* RFC 9483 §5.2.2.1: with nested_vouch, the signature of a trusted RA on the
 * nested message stands in for the protection the inner request lacks: it
 * is served, its sender the RA, its answer signed by the gateway's RA key.
 * Without nested_vouch the same inner request is wrongIntegrity. */
static void test_an_ra_signature_stands_in_for_a_missing_inner_protection(void **state) {
  (void)state;
  uint8_t inner[8192], req[16384], txid[16], nonce[16];
  size_t len;
  struct client ra;
  for (int vouch = 0; vouch < 2; vouch++) {
    assert_int_equal(cg_random(txid, 16), 0);
    assert_int_equal(cg_random(nonce, 16), 0);
    struct der_view msg = {inner, unprotected_ir(txid, nonce, inner, sizeof inner)};
    client_init(&ra, "", "");
    use_signature(&ra, F->ra_key, F->ra_cert, F->ra_cert_len);
    assert_int_equal(cmp_client_nested(&ra.mac, &ra.hdr, &msg, 1, req, sizeof req, &len), 0);
    F->prof_default.nested_vouch = vouch;
    size_t issued = F->issued;
    struct cmp_exchange *ex = cmp_exchange_new(&F->cfg, &F->prof_default, req, len,
                                               (int64_t)time(NULL));
    assert_non_null(ex);
    /* play() runs the inner exchanges as the gateway does, with
     * cmp_exchange_new_inner(). */
    play(ex, "default");
    const uint8_t *p;
    size_t plen;
    struct cmp_msg rsp;
    cmp_exchange_response(ex, &p, &plen);
    assert_int_equal(cmp_msg_decode(p, plen, &rsp), 0);
    assert_signed_by_ra(&rsp);
    assert_true(cg_der_view_is(rsp.hdr.transaction_id, txid, 16));
    if (vouch) {
      assert_int_equal(rsp.type, CMP_IP);
      assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
      assert_int_equal(F->issued, issued + 1);
      char txid_hex[33];
      cg_hex(txid, 16, txid_hex);
      assert_int_equal(strncmp(find_txn(txid_hex, NULL)->auth_ref, "cert:", 5), 0);
    } else {
      assert_error(&rsp, CG_FI_WRONG_INTEGRITY);
      assert_int_equal(F->issued, issued);
    }
    cmp_exchange_free(ex);
  }
  F->prof_default.nested_vouch = false;
}

static void test_nested_needs_a_trusted_ra_signature(void **state) {
  (void)state;
  struct client dev, ra;
  uint8_t inner[4096], req[8192];
  size_t len;
  client_init(&dev, REF, SECRET);
  struct der_view msg = {inner, make_ir(&dev, inner, sizeof inner)};
  /* MAC-protected: an RA signs its batches. */
  client_init(&ra, REF, SECRET);
  assert_int_equal(cmp_client_nested(&ra.mac, &ra.hdr, &msg, 1, req, sizeof req, &len), 0);
  struct cmp_exchange *ex = run("default", req, len);
  struct cmp_msg rsp;
  decode_response(ex, &ra, &rsp);
  assert_error(&rsp, CG_FI_WRONG_INTEGRITY);
  cmp_exchange_free(ex);
  /* A profile without nested_trust_anchors takes none. */
  client_init(&ra, "", "");
  use_signature(&ra, F->ra_key, F->ra_cert, F->ra_cert_len);
  assert_int_equal(cmp_client_nested(&ra.mac, &ra.hdr, &msg, 1, req, sizeof req, &len), 0);
  ex = run("other", req, len);
  decode_response(ex, &ra, &rsp);
  assert_error(&rsp, CG_FI_NOT_AUTHORIZED);
  cmp_exchange_free(ex);
}

/* PKIBody nested whose content is arg (a whole TLV), signed as given. */
static void nested_with(struct der_writer *w, const void *arg) {
  const struct der_view *content = arg;
  size_t b = cg_der_begin(w, DER_CTX_CONS(CMP_NESTED));
  cg_der_put_raw(w, content->p, content->len);
  cg_der_end(w, b);
}

/* Batches that are not acceptable, each answered by the RA and none of their
 * inner requests run: an outer signer outside the nested anchors
 * (signerNotTrusted), more inner messages than CMP_MAX_REQS (badRequest), and
 * nested content that is not a non-empty SEQUENCE OF PKIMessage
 * (badDataFormat). */
static void test_nested_batches_that_are_refused_run_nothing(void **state) {
  (void)state;
  struct client dev[CMP_MAX_REQS + 1], ra;
  uint8_t inner[CMP_MAX_REQS + 1][4096], req[32768], cert[2048];
  struct der_view msgs[CMP_MAX_REQS + 1];
  size_t len, cert_len, issued = F->issued;
  struct cmp_msg rsp;
  for (int i = 0; i <= CMP_MAX_REQS; i++) {
    client_init(&dev[i], REF, SECRET);
    msgs[i] = (struct der_view){inner[i], make_ir(&dev[i], inner[i], sizeof inner[i])};
  }

  /* a self-signed RA certificate */
  outside_cert(true, CERT_KU_DIGITAL_SIGNATURE, cert, &cert_len);
  client_init(&ra, "", "");
  use_signature(&ra, F->dev_key, cert, cert_len);
  assert_int_equal(cmp_client_nested(&ra.mac, &ra.hdr, msgs, 1, req, sizeof req, &len), 0);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &ra, &rsp);
  assert_error(&rsp, CG_FI_SIGNER_NOT_TRUSTED);
  assert_signed_by_ra(&rsp);
  cmp_exchange_free(ex);

  /* the trusted RA, one message too many (four are served: see above) */
  client_init(&ra, "", "");
  use_signature(&ra, F->ra_key, F->ra_cert, F->ra_cert_len);
  assert_int_equal(
      cmp_client_nested(&ra.mac, &ra.hdr, msgs, CMP_MAX_REQS + 1, req, sizeof req, &len), 0);
  ex = run("default", req, len);
  decode_response(ex, &ra, &rsp);
  assert_error(&rsp, CG_FI_BAD_REQUEST);
  cmp_exchange_free(ex);

  /* malformed content: empty, an INTEGER inside, not a SEQUENCE */
  static const uint8_t empty[] = {0x30, 0x00}, integer[] = {0x30, 0x03, 0x02, 0x01, 0x05},
                       octets[] = {0x04, 0x01, 0x00};
  const struct der_view bad[] = {{empty, sizeof empty}, {integer, sizeof integer},
                                 {octets, sizeof octets}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    client_init(&ra, "", "");
    use_signature(&ra, F->ra_key, F->ra_cert, F->ra_cert_len);
    assert_int_equal(cmp_client_message(&ra.mac, &ra.hdr, nested_with, &bad[i], req, sizeof req,
                                        &len),
                     0);
    ex = run("default", req, len);
    decode_response(ex, &ra, &rsp);
    assert_error(&rsp, CG_FI_BAD_DATA_FORMAT);
    cmp_exchange_free(ex);
  }
  assert_int_equal(F->issued, issued);
}

/* An ir on profile with token as regToken: true when a certificate is issued;
 * a refusal must be badRequest in the ip (RFC 9483 §3.6.2). */
static bool challenge_accepted(const char *profile, const char *token) {
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  if (token != NULL)
    c.hdr.reg_token = (struct der_view){(const uint8_t *)token, strlen(token)};
  struct cmp_exchange *ex = send_req(&c, CMP_IR, profile, (struct der_view){NULL, 0}, &rsp);
  bool accepted = rsp.type == CMP_IP && rsp.u.cert_rep.rsp[0].status.status == CMP_ACCEPTED;
  if (!accepted)
    assert_rejected_in(&rsp, CMP_IP, CG_FI_BAD_REQUEST);
  cmp_exchange_free(ex);
  return accepted;
}

static void test_fixed_challenge_must_travel_in_reg_token(void **state) {
  (void)state;
  assert_true(challenge_accepted("fixed", FIXED_CHALLENGE));
  assert_false(challenge_accepted("fixed", NULL));
  assert_false(challenge_accepted("fixed", "open sesame!"));
  assert_false(challenge_accepted("fixed", DEVICE_CHALLENGE));
  /* Profiles without a challenge ignore a regToken. */
  assert_true(challenge_accepted("default", "anything"));
}

static void test_random_challenge_is_the_devices_own(void **state) {
  (void)state;
  assert_true(challenge_accepted("random", DEVICE_CHALLENGE));
  assert_false(challenge_accepted("random", FIXED_CHALLENGE));
  assert_false(challenge_accepted("random", NULL));
}

/* A per-device challenge lives with the device's secret: a signed request
 * names no secret, so on a `random` profile it is refused with badRequest,
 * whatever it carries (deviation D15); the same signed request is served
 * where no challenge is asked. */
static void test_random_challenge_refuses_signed_requests(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  device_cert(cert, &cert_len);
  const char *profiles[] = {"random", "default"};
  for (int i = 0; i < 2; i++) {
    struct client c;
    struct cmp_msg rsp;
    client_init(&c, "", "");
    use_signature(&c, F->dev_key, cert, cert_len);
    c.hdr.reg_token = (struct der_view){(const uint8_t *)DEVICE_CHALLENGE, strlen(DEVICE_CHALLENGE)};
    struct cmp_exchange *ex = send_req(&c, CMP_CR, profiles[i], (struct der_view){NULL, 0}, &rsp);
    if (i == 0) {
      assert_rejected_in(&rsp, CMP_CP, CG_FI_BAD_REQUEST);
      assert_signed_by_ra(&rsp);
    } else {
      assert_int_equal(rsp.type, CMP_CP);
    }
    cmp_exchange_free(ex);
  }
}

/* ---- whose names a request may ask for (cmp/srv_names.c) ------------------- */

/* A certificate request for subject (a CN) on profile; the answer in rsp. */
static struct cmp_exchange *ask_for(struct client *c, int type, const char *profile,
                                    const char *cn, struct der_view old_cert, struct cmp_msg *rsp) {
  uint8_t req[8192], name[128];
  size_t len, name_len;
  make_name(cn, name, &name_len);
  assert_int_equal(cmp_client_cert_req(&c->mac, &c->hdr, type, (struct der_view){name, name_len},
                                       type == CMP_KUR ? F->new_key : F->dev_key, old_cert, req,
                                       sizeof req, &len),
                   0);
  struct cmp_exchange *ex = run(profile, req, len);
  decode_response(ex, c, rsp);
  return ex;
}

/* badCertTemplate, with a statusString that holds why. */
static void assert_refused_name(const struct cmp_msg *rsp, const char *why) {
  /* RFC 9483 §3.6.2: refused for what it asks, in its own ip or kup. */
  assert_true(rsp->type == CMP_IP || rsp->type == CMP_KUP);
  assert_refused(rsp, CG_FI_BAD_CERT_TEMPLATE);
  struct der_view t = refusal_status(rsp)->status_string;
  assert_non_null(t.p);
  if (memmem(t.p, t.len, why, strlen(why)) == NULL)
    fail_msg("the statusString does not say \"%s\"", why);
}

/* The RA's own name and the CA's are never issued, whoever asks. */
static void test_the_ra_and_ca_names_are_never_issued(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  size_t issued = F->issued;
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = ask_for(&c, CMP_IR, "default", "test RA", (struct der_view){0}, &rsp);
  assert_refused_name(&rsp, "the RA's own name");
  cmp_exchange_free(ex);
  client_init(&c, REF, SECRET);
  ex = ask_for(&c, CMP_IR, "default", "test CA", (struct der_view){0}, &rsp);
  assert_refused_name(&rsp, "the name of a CA of this profile");
  cmp_exchange_free(ex);
  assert_int_equal(F->issued, issued);
}

/* subject_pattern: a glob over the RFC 4514 subject. */
static void test_the_subject_must_match_the_profile_pattern(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  F->prof_default.subject_pattern = "CN=device-*";
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex =
      ask_for(&c, CMP_IR, "default", "www.bank.example", (struct der_view){0}, &rsp);
  assert_refused_name(&rsp, "subject CN=www.bank.example does not match subject_pattern");
  cmp_exchange_free(ex);
  client_init(&c, REF, SECRET);
  ex = ask_for(&c, CMP_IR, "default", "device-0042", (struct der_view){0}, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  cmp_exchange_free(ex);
  F->prof_default.subject_pattern = NULL;
}

/* A secret bound to an identity enrols that subject only. */
static void test_a_bound_secret_enrols_its_own_subject_only(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  snprintf(F->secret.subject, sizeof F->secret.subject, "CN=meter-17");
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex =
      ask_for(&c, CMP_IR, "default", "meter-18", (struct der_view){0}, &rsp);
  assert_refused_name(&rsp, "this secret enrols the subject CN=meter-17 only, not CN=meter-18");
  cmp_exchange_free(ex);
  client_init(&c, REF, SECRET);
  ex = ask_for(&c, CMP_IR, "default", "meter-17", (struct der_view){0}, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  cmp_exchange_free(ex);
  F->secret.subject[0] = 0;
}

/* A kur keeps the identity it updates, unless the profile lets it change. */
static void test_a_kur_keeps_its_identity_unless_the_profile_allows(void **state) {
  (void)state;
  uint8_t cert[2048];
  size_t cert_len;
  struct client c;
  struct cmp_msg rsp;
  signing_client(&c, cert, &cert_len);
  struct cmp_exchange *ex =
      ask_for(&c, CMP_KUR, "default", "renamed", (struct der_view){cert, cert_len}, &rsp);
  assert_refused_name(&rsp, "a kur keeps the subject of the certificate it updates");
  cmp_exchange_free(ex);
  F->prof_default.kur_new_identity = true;
  client_new_nonce(&c);
  cg_random(c.txid, sizeof c.txid);
  ex = ask_for(&c, CMP_KUR, "default", "renamed", (struct der_view){cert, cert_len}, &rsp);
  assert_int_equal(rsp.type, CMP_KUP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  cmp_exchange_free(ex);
  F->prof_default.kur_new_identity = false;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_ra_and_ca_names_are_never_issued),
      cmocka_unit_test(test_the_subject_must_match_the_profile_pattern),
      cmocka_unit_test(test_a_bound_secret_enrols_its_own_subject_only),
      cmocka_unit_test(test_a_kur_keeps_its_identity_unless_the_profile_allows),
      cmocka_unit_test(test_cr_is_answered_with_cp),
      cmocka_unit_test(test_implicit_confirm_is_granted_only_where_the_profile_allows),
      cmocka_unit_test(test_p10cr_is_answered_with_cp_and_cert_req_id_minus_one),
      cmocka_unit_test(test_signature_protected_cr_is_answered_signed),
      cmocka_unit_test(test_tls_binding_holds_signer_and_mac_to_the_tls_client_certificate),
      cmocka_unit_test(test_signer_outside_the_trust_anchors_is_signer_not_trusted),
      cmocka_unit_test(test_signature_by_another_key_is_bad_message_check),
      cmocka_unit_test(test_sender_kid_other_than_the_signers_skid_is_bad_message_check),
      cmocka_unit_test(test_sender_other_than_the_signers_subject_is_bad_message_check),
      cmocka_unit_test(test_answers_name_the_ra_as_sender_and_the_requester_as_recipient),
      cmocka_unit_test(test_signer_without_digital_signature_is_signer_not_trusted),
      cmocka_unit_test(test_kur_signed_with_the_old_certificate_is_answered_with_kup),
      cmocka_unit_test(test_a_kur_certifies_a_new_key),
      cmocka_unit_test(test_a_key_reported_compromised_is_never_certified_again),
      cmocka_unit_test(test_a_certificate_is_updated_once_a_confirmation_at_a_time),
      cmocka_unit_test(test_a_kur_with_an_empty_subject_is_bad_cert_template),
      cmocka_unit_test(test_cert_conf_from_another_sender_is_bad_request),
      cmocka_unit_test(test_kur_without_old_cert_id_updates_the_signer_certificate),
      cmocka_unit_test(test_kur_of_a_certificate_not_issued_here_is_bad_cert_id),
      cmocka_unit_test(
          test_kur_with_mac_is_wrong_integrity_and_by_another_certificate_not_authorized),
      cmocka_unit_test(test_rr_signed_by_the_certificate_revokes_it_once),
      cmocka_unit_test(test_rr_by_mac_needs_the_secret_that_enrolled_the_certificate),
      cmocka_unit_test(test_an_ra_the_profile_names_revokes_for_others),
      cmocka_unit_test(test_rr_with_a_reason_that_does_not_exist_is_bad_request),
      cmocka_unit_test(test_remove_from_crl_of_a_certificate_not_on_hold_revokes_nothing),
      cmocka_unit_test(test_a_hold_is_released_by_remove_from_crl),
      cmocka_unit_test(test_rr_for_an_unknown_certificate_is_bad_cert_id),
      cmocka_unit_test(test_rr_naming_another_issuer_is_bad_cert_id),
      cmocka_unit_test(test_rr_naming_another_subject_is_bad_cert_id),
      cmocka_unit_test(test_rr_with_two_rev_details_is_bad_request),
      cmocka_unit_test(test_more_extra_certs_than_the_cap_is_bad_request),
      cmocka_unit_test(test_pbmac1_request_gets_a_pbmac1_answer),
      cmocka_unit_test(test_compute_steps_say_whether_they_are_light_or_heavy),
      cmocka_unit_test(test_message_time_far_from_now_is_bad_time),
      cmocka_unit_test(test_protection_alg_without_protection_is_bad_message_check),
      cmocka_unit_test(test_unknown_protection_alg_is_bad_alg),
      cmocka_unit_test(test_genm_is_answered_for_every_info_type_asked),
      cmocka_unit_test(test_genm_ca_certs_with_a_value_is_bad_data_format),
      cmocka_unit_test(test_cert_req_template_lists_the_keys_the_profile_certifies),
      cmocka_unit_test(test_genm_root_ca_cert_is_answered_with_no_update),
      cmocka_unit_test(test_genm_crl_status_list_is_answered_with_a_fresh_crl),
      cmocka_unit_test(test_nested_requests_are_answered_nested),
      cmocka_unit_test(test_one_request_wrapped_by_an_ra_is_answered_bare),
      cmocka_unit_test(test_an_ra_signature_stands_in_for_a_missing_inner_protection),
      cmocka_unit_test(test_nested_needs_a_trusted_ra_signature),
      cmocka_unit_test(test_nested_batches_that_are_refused_run_nothing),
      cmocka_unit_test(test_fixed_challenge_must_travel_in_reg_token),
      cmocka_unit_test(test_random_challenge_is_the_devices_own),
      cmocka_unit_test(test_random_challenge_refuses_signed_requests),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
