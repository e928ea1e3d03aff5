/*
 * test_server.c - the CMP server engine driven in memory, without sockets,
 * threads or SQLite: a tiny driver plays store, threadpool and CA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cmp/client.h"
#include "cmp/msg.h"
#include "cmp/protect.h"
#include "cmp/secret.h"
#include "cmp/server.h"
#include "core/certbuild.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"
#include "failalloc.h"

#define REF "device-ref-0001"
#define SECRET "correct horse battery"
#define MAX_TXNS 16

struct fixture {
  struct cg_key *ca_key, *ra_key, *dev_key;
  uint8_t ca_name[128], ra_name[128], dev_name[128];
  size_t ca_name_len, ra_name_len, dev_name_len;
  uint8_t ca_cert[2048], ra_cert[2048];
  size_t ca_cert_len, ra_cert_len;
  struct der_view ra_chain[2], ca_chain[1];
  uint8_t master[32];
  struct cmp_server_cfg cfg;
  struct cmp_profile prof_default, prof_other;
  struct cmp_secret_record secret;
  /* the "database" */
  struct cmp_txn_record txns[MAX_TXNS];
  uint8_t certs[MAX_TXNS][2048];
  size_t cert_lens[MAX_TXNS];
  size_t n_txns;
  size_t issued; /* certificates the "CA" made */
};

static struct fixture *F;

static void make_cert(struct cert_spec *s, const struct cg_key *subject_key,
                      const struct cg_key *issuer_key, uint8_t *out, size_t cap, size_t *len) {
  uint8_t spki[512];
  size_t spki_len;
  assert_int_equal(cg_key_spki(subject_key, spki, sizeof spki, &spki_len), 0);
  s->spki = (struct der_view){spki, spki_len};
  assert_int_equal(cert_random_serial(s), 0);
  assert_int_equal(cert_build(s, issuer_key, out, cap, len), 0);
}

static void make_name(const char *cn, uint8_t *out, size_t *len) {
  enum cg_oid_id t[] = {CG_OID_AT_CN};
  const char *v[] = {cn};
  assert_int_equal(cert_make_name(t, v, 1, out, 128, len), 0);
}

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  F = f;
  assert_int_equal(cg_key_generate_ec(256, &f->ca_key), 0);
  assert_int_equal(cg_key_generate_ec(256, &f->ra_key), 0);
  assert_int_equal(cg_key_generate_ec(256, &f->dev_key), 0);
  make_name("test CA", f->ca_name, &f->ca_name_len);
  make_name("test RA", f->ra_name, &f->ra_name_len);
  make_name("dev1", f->dev_name, &f->dev_name_len);
  int64_t now = (int64_t)time(NULL);
  struct cert_spec ca = {0};
  ca.issuer = ca.subject = (struct der_view){f->ca_name, f->ca_name_len};
  ca.not_before = now - 10;
  ca.not_after = now + 86400;
  ca.is_ca = true;
  ca.key_usage = CERT_KU_KEY_CERT_SIGN;
  make_cert(&ca, f->ca_key, f->ca_key, f->ca_cert, sizeof f->ca_cert, &f->ca_cert_len);
  struct cert_spec ra = {0};
  ra.issuer = ca.subject;
  ra.subject = (struct der_view){f->ra_name, f->ra_name_len};
  ra.not_before = now - 10;
  ra.not_after = now + 86400;
  ra.key_usage = CERT_KU_DIGITAL_SIGNATURE;
  make_cert(&ra, f->ra_key, f->ca_key, f->ra_cert, sizeof f->ra_cert, &f->ra_cert_len);

  f->ra_chain[0] = (struct der_view){f->ra_cert, f->ra_cert_len};
  f->ra_chain[1] = (struct der_view){f->ca_cert, f->ca_cert_len};
  f->ca_chain[0] = f->ra_chain[1];
  assert_int_equal(cg_random(f->master, 32), 0);
  f->cfg.ra_name = ra.subject;
  f->cfg.ra_key = f->ra_key;
  cg_key_default_sig(f->ra_key, &f->cfg.ra_scheme, &f->cfg.ra_hash);
  f->cfg.ra_chain = f->ra_chain;
  f->cfg.n_ra_chain = 2;
  f->prof_default = (struct cmp_profile){"default", f->ca_chain, 1};
  f->prof_other = (struct cmp_profile){"other", f->ca_chain, 1};
  f->cfg.master_key = f->master;
  f->cfg.pbm_max_iterations = 10000;

  strcpy(f->secret.reference, REF);
  strcpy(f->secret.profile, "default");
  assert_int_equal(cmp_secret_seal(f->master, REF, (const uint8_t *)SECRET, strlen(SECRET),
                                   f->secret.enc, sizeof f->secret.enc, &f->secret.enc_len),
                   0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  cg_key_free(f->ca_key);
  cg_key_free(f->ra_key);
  cg_key_free(f->dev_key);
  free(f);
  return 0;
}

static struct cmp_txn_record *find_txn(const char *txid, size_t *idx) {
  for (size_t i = 0; i < F->n_txns; i++)
    if (!strcmp(F->txns[i].txid, txid)) {
      if (idx)
        *idx = i;
      return &F->txns[i];
    }
  return NULL;
}

/* Plays store, threadpool and CA for one exchange until it is done. */
static struct cmp_exchange *run(const char *profile, const uint8_t *req, size_t len) {
  const struct cmp_profile *p = strcmp(profile, "default") ? &F->prof_other : &F->prof_default;
  struct cmp_exchange *ex = cmp_exchange_new(&F->cfg, p, req, len, (int64_t)time(NULL));
  assert_non_null(ex);
  for (int steps = 0; steps < 20; steps++) {
    switch (cmp_exchange_step(ex)) {
    case CMP_STEP_LOOKUP: {
      const uint8_t *ref;
      size_t ref_len, idx = 0;
      const char *txid;
      cmp_exchange_lookup(ex, &ref, &ref_len, &txid);
      bool known = ref_len == strlen(REF) && !memcmp(ref, REF, ref_len);
      struct cmp_txn_record *t = find_txn(txid, &idx);
      cmp_exchange_lookup_done(ex, 0, known ? &F->secret : NULL, t,
                               t && F->cert_lens[idx] ? F->certs[idx] : NULL,
                               t ? F->cert_lens[idx] : 0);
      break;
    }
    case CMP_STEP_COMPUTE:
      cmp_exchange_compute(ex);
      break;
    case CMP_STEP_ISSUE: {
      const struct cmp_issue_request *r = cmp_exchange_issue_request(ex);
      struct cert_spec s = {0};
      uint8_t der[2048];
      size_t der_len;
      s.issuer = (struct der_view){F->ca_name, F->ca_name_len};
      s.subject = r->subject;
      s.spki = r->spki;
      s.not_before = (int64_t)time(NULL);
      s.not_after = s.not_before + 3600;
      s.key_usage = CERT_KU_DIGITAL_SIGNATURE;
      assert_int_equal(cert_random_serial(&s), 0);
      /* The CA may fail too (the allocation-failure test makes it). */
      int err = cert_build(&s, F->ca_key, der, sizeof der, &der_len);
      if (err == 0)
        F->issued++;
      cmp_exchange_issue_done(ex, err, der, der_len);
      break;
    }
    case CMP_STEP_INSERT: {
      const struct cmp_txn_record *t = cmp_exchange_txn(ex);
      const struct cmp_cert_record *c = cmp_exchange_cert(ex);
      if (find_txn(t->txid, NULL) != NULL) {
        cmp_exchange_store_done(ex, CG_EEXISTS);
        break;
      }
      assert_true(F->n_txns < MAX_TXNS);
      F->txns[F->n_txns] = *t;
      F->cert_lens[F->n_txns] = 0;
      if (c != NULL) {
        memcpy(F->certs[F->n_txns], c->der, c->der_len);
        F->cert_lens[F->n_txns] = c->der_len;
      }
      F->n_txns++;
      cmp_exchange_store_done(ex, 0);
      break;
    }
    case CMP_STEP_UPDATE: {
      const struct cmp_txn_record *t = cmp_exchange_txn(ex);
      struct cmp_txn_record *s = find_txn(t->txid, NULL);
      if (s == NULL)
        cmp_exchange_store_done(ex, CG_ENOT_FOUND);
      else if (s->state != t->prev_state)
        cmp_exchange_store_done(ex, CG_ESTATE);
      else {
        *s = *t;
        cmp_exchange_store_done(ex, 0);
      }
      break;
    }
    case CMP_STEP_DONE:
      return ex;
    }
  }
  fail_msg("exchange did not finish");
  return NULL;
}

struct client {
  uint8_t txid[16], nonce[16];
  struct cmp_client_mac mac;
  struct cmp_client_hdr hdr;
};

static void client_init(struct client *c, const char *ref, const char *secret) {
  memset(c, 0, sizeof *c);
  assert_int_equal(cg_random(c->txid, 16), 0);
  assert_int_equal(cg_random(c->nonce, 16), 0);
  c->mac = (struct cmp_client_mac){(const uint8_t *)secret, strlen(secret),
                                   (const uint8_t *)ref, strlen(ref), 500, CG_HASH_SHA256,
                                   CG_HASH_SHA1};
  c->hdr.transaction_id = (struct der_view){c->txid, 16};
  c->hdr.sender_nonce = (struct der_view){c->nonce, 16};
}

static size_t make_ir(struct client *c, uint8_t *out, size_t cap) {
  size_t len;
  assert_int_equal(cmp_client_ir(&c->mac, &c->hdr, (struct der_view){F->dev_name, F->dev_name_len},
                                 F->dev_key, out, cap, &len),
                   0);
  return len;
}

/* Decodes the response and checks what every answer must satisfy: it names
 * the request's transaction and nonce, and it is protected. */
static void decode_response(struct cmp_exchange *ex, const struct client *c, struct cmp_msg *m) {
  const uint8_t *p;
  size_t len;
  cmp_exchange_response(ex, &p, &len);
  assert_non_null(p);
  assert_int_equal(cmp_msg_decode(p, len, m), 0);
  assert_true(m->has_protection);
  if (c != NULL) {
    assert_true(der_view_is(m->hdr.transaction_id, c->txid, 16));
    assert_true(der_view_is(m->hdr.recip_nonce, c->nonce, 16));
  }
  assert_true(m->hdr.sender_nonce.len >= 16);
}

/* The response is signed by the RA key (and not MAC-protected). */
static void assert_signed_by_ra(const struct cmp_msg *m) {
  struct cg_x509 ra;
  uint8_t seq[6];
  struct cg_iov iov[2];
  assert_int_equal(cg_x509_parse(F->ra_cert, F->ra_cert_len, &ra), 0);
  assert_true(m->n_extra_certs >= 1);
  assert_true(der_view_is(m->extra_certs[0], F->ra_cert, F->ra_cert_len));
  cmp_msg_protected_part(m, seq, iov);
  assert_int_equal(cmp_verify_sig(m->hdr.protection_alg, ra.spki, iov, 2, m->protection), 0);
}

static void assert_error(const struct cmp_msg *m, int fail_bit) {
  assert_int_equal(m->type, CMP_ERROR);
  assert_int_equal(m->u.error.status.status, CMP_REJECTION);
  assert_true(m->u.error.status.has_fail_info);
  assert_int_equal(m->u.error.status.fail_info, 1u << fail_bit);
}

static void enrol(struct client *c, struct cmp_msg *ip, struct cmp_exchange **ex_out) {
  uint8_t req[4096];
  size_t len = make_ir(c, req, sizeof req);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, c, ip);
  *ex_out = ex;
}

static void test_ir_is_answered_with_a_mac_protected_ip_carrying_the_certificate(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg ip;
  struct cmp_exchange *ex;
  client_init(&c, REF, SECRET);
  size_t before = F->issued;
  enrol(&c, &ip, &ex);
  assert_int_equal(ip.type, CMP_IP);
  assert_int_equal(ip.u.cert_rep.n, 1);
  assert_int_equal(ip.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  assert_int_equal(cmp_pbm_verify(&ip, 10000, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  assert_int_equal(cmp_pbm_verify(&ip, 10000, (const uint8_t *)"wrong", 5), CG_EBAD_MAC);

  struct cg_x509 cert;
  struct der_view cv = ip.u.cert_rep.rsp[0].cert;
  assert_int_equal(cg_x509_parse(cv.p, cv.len, &cert), 0);
  uint8_t spki[512];
  size_t spki_len;
  assert_int_equal(cg_key_spki(F->dev_key, spki, sizeof spki, &spki_len), 0);
  assert_true(der_view_is(cert.spki, spki, spki_len));
  assert_true(der_view_is(cert.subject, F->dev_name, F->dev_name_len));
  assert_int_equal(F->issued, before + 1);
  /* RFC 9483 §4.1.1: the issuing chain travels in extraCerts. */
  assert_int_equal(ip.n_extra_certs, 1);
  assert_true(der_view_is(ip.extra_certs[0], F->ca_cert, F->ca_cert_len));

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
  c.hdr.sender_nonce = (struct der_view){nonce2, 16};
  assert_int_equal(cmp_client_cert_conf(&c.mac, &c.hdr, ip.u.cert_rep.rsp[0].cert, 0, false, req,
                                        sizeof req, &len),
                   0);
  ex2 = run("default", req, len);
  memcpy(c.nonce, nonce2, 16);
  decode_response(ex2, &c, &conf);
  assert_int_equal(conf.type, CMP_PKICONF);
  assert_int_equal(cmp_pbm_verify(&conf, 10000, (const uint8_t *)SECRET, strlen(SECRET)), 0);
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
  assert_error(&rsp, CG_FI_BAD_CERT_TEMPLATE);
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
  assert_error(&rsp, CG_FI_BAD_REQUEST);
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
  /* Turn the ir body tag [0] into cr... no: into p10cr [4], which is not served. */
  struct cmp_msg m;
  assert_int_equal(cmp_msg_decode(req, len, &m), 0);
  req[m.body.p - req] = DER_CTX_CONS(CMP_P10CR);
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
      cmocka_unit_test(test_cert_conf_with_wrong_recip_nonce_is_bad_recipient_nonce),
      cmocka_unit_test(test_cert_conf_with_wrong_hash_is_bad_cert_id),
      cmocka_unit_test(test_wrong_secret_unknown_ref_and_bad_mac_answer_alike),
      cmocka_unit_test(test_secret_of_another_profile_is_refused),
      cmocka_unit_test(test_reused_transaction_id_is_transaction_id_in_use),
      cmocka_unit_test(test_empty_subject_is_bad_cert_template_and_recorded_rejected),
      cmocka_unit_test(test_cert_req_id_other_than_zero_is_bad_request),
      cmocka_unit_test(test_iteration_count_over_the_cap_is_bad_alg),
      cmocka_unit_test(test_garbage_gets_a_signed_bad_data_format_error),
      cmocka_unit_test(test_every_prefix_of_an_ir_is_refused),
      cmocka_unit_test(test_unsupported_body_is_bad_request),
      cmocka_unit_test(test_every_allocation_failing_in_turn_is_survived),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
