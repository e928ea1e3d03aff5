/*
 * server.c - the sans-I/O CMP server engine (cmp/server.h).
 *
 * An exchange moves through phases, one at a time, each change checked by
 * set_phase():
 *
 *   LOOKUP -> VERIFY -> ISSUE -> INSERT -> PROTECT -> DONE     (ir)
 *   LOOKUP -> VERIFY -> UPDATE -> PROTECT -> DONE              (certConf)
 *   any phase -> PROTECT (an error response) -> DONE
 *   VERIFY/ISSUE -> INSERT (a rejected transaction) -> PROTECT (error)
 *
 * VERIFY and PROTECT are the COMPUTE steps.  Everything the exchange holds
 * lives in its arena; the request is copied there first, so every view of the
 * decoded message stays valid for the exchange's life.
 */
#include "cmp/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/encode.h"
#include "core/certbuild.h"
#include "cmp/msg.h"
#include "cmp/protect.h"
#include "cmp/secret.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"

enum phase { PH_LOOKUP, PH_VERIFY, PH_ISSUE, PH_INSERT, PH_UPDATE, PH_PROTECT, PH_DONE };

struct cmp_exchange {
  const struct cmp_server_cfg *cfg;
  const struct cmp_profile *prof;
  struct cg_arena *arena;
  enum phase phase;
  char profile[CMP_MAX_PROFILE + 1];
  int64_t now;

  const uint8_t *req;
  size_t req_len;
  struct cmp_msg msg;
  bool decoded;     /* the header could be read: an error can name the transaction */
  char txid_hex[2 * CMP_MAX_TXID + 1];
  char ref[CMP_MAX_REF + 1];

  /* LOOKUP results */
  bool secret_found, txn_found;
  struct cmp_secret_record secret;
  struct cmp_txn_record stored; /* the transaction as stored */
  struct der_view stored_cert;

  /* VERIFY results */
  bool mac_ok;
  uint8_t secret_plain[CMP_SECRET_MAX];
  size_t secret_len;
  struct cmp_pbm_params pbm;
  struct cmp_issue_request issue;
  const struct cmp_cert_req *cert_req;

  /* what to store */
  struct cmp_txn_record txn;
  bool has_cert;
  struct cmp_cert_record cert;
  uint8_t sender_nonce[16];

  /* the outcome */
  int err;            /* 0, or the error answered */
  const char *detail; /* why, for the error text and log */
  int rsp_type;
  int status;
  const uint8_t *rsp;
  size_t rsp_len;
};

/* Legal phase changes; anything may fail into PROTECT. */
static void set_phase(struct cmp_exchange *ex, enum phase to) {
  static const unsigned allowed[] = {
      [PH_LOOKUP] = 1u << PH_VERIFY,
      [PH_VERIFY] = 1u << PH_ISSUE | 1u << PH_UPDATE | 1u << PH_INSERT,
      [PH_ISSUE] = 1u << PH_INSERT,
      [PH_INSERT] = 0,
      [PH_UPDATE] = 0,
      [PH_PROTECT] = 1u << PH_DONE,
      [PH_DONE] = 0,
  };
  if (to != PH_PROTECT && !(allowed[ex->phase] & (1u << to)))
    abort(); /* a bug in this file, not something a peer can cause */
  ex->phase = to;
}

/* Ends the exchange with an error answer.  After a verified MAC an ir that
 * fails is first recorded as a rejected transaction (except when its
 * transactionID belongs to another one). */
static void fail(struct cmp_exchange *ex, int err, const char *detail) {
  ex->err = err;
  ex->detail = detail;
  ex->rsp_type = CMP_ERROR;
  ex->status = CMP_REJECTION;
  if (ex->mac_ok && ex->msg.type == CMP_IR && err != CG_ETXID_IN_USE &&
      (ex->phase == PH_VERIFY || ex->phase == PH_ISSUE)) {
    ex->txn.failinfo = cg_err_failinfo(err);
    ex->has_cert = false;
    if (cmp_txn_set_state(&ex->txn, CMP_TXN_REJECTED) == 0) {
      set_phase(ex, PH_INSERT);
      return;
    }
  }
  set_phase(ex, PH_PROTECT);
}

static bool octets_ok(struct der_view v, size_t min, size_t max) {
  return v.p != NULL && v.len >= min && v.len <= max;
}

struct cmp_exchange *cmp_exchange_new(const struct cmp_server_cfg *cfg,
                                      const struct cmp_profile *profile,
                                      const uint8_t *req, size_t len, int64_t now) {
  struct cg_arena *a = cg_arena_new(4096 + len);
  if (a == NULL)
    return NULL;
  struct cmp_exchange *ex = cg_arena_alloc(a, sizeof *ex);
  uint8_t *copy = ex ? cg_arena_dup(a, req, len) : NULL;
  if (copy == NULL) {
    cg_arena_free(a);
    return NULL;
  }
  ex->cfg = cfg;
  ex->prof = profile;
  ex->arena = a;
  ex->now = now;
  ex->req = copy;
  ex->req_len = len;
  snprintf(ex->profile, sizeof ex->profile, "%s", profile->name);
  ex->phase = PH_LOOKUP;

  int err = cmp_msg_decode(copy, len, &ex->msg);
  const struct cmp_header *h = &ex->msg.hdr;
  ex->decoded = ex->msg.header_ok;
  if (ex->decoded && h->transaction_id.p != NULL && h->transaction_id.len <= CMP_MAX_TXID)
    cg_hex(h->transaction_id.p, h->transaction_id.len, ex->txid_hex);
  if (ex->decoded && h->sender_kid.p != NULL && h->sender_kid.len <= CMP_MAX_REF) {
    for (size_t i = 0; i < h->sender_kid.len; i++) {
      uint8_t c = h->sender_kid.p[i];
      ex->ref[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
  }
  if (err) {
    fail(ex, err, "request is not a valid PKIMessage");
    return ex;
  }
  /* RFC 9810 §7: cmp2000 (2) and cmp2021 (3) are spoken; the answer uses the
   * request's version. */
  if (h->pvno != 2 && h->pvno != 3) {
    fail(ex, CG_EUNSUPPORTED_VERSION, "pvno must be 2 or 3");
    return ex;
  }
  if (ex->msg.type != CMP_IR && ex->msg.type != CMP_CERTCONF) {
    fail(ex, CG_EBAD_REQUEST, "message type not supported");
    return ex;
  }
  if (h->protection_alg.p == NULL || !ex->msg.has_protection) {
    fail(ex, CG_EBAD_MAC, "request is not protected");
    return ex;
  }
  if (cg_oid_lookup(h->protection_oid) != CG_OID_PBM) {
    fail(ex, CG_EBAD_ALG, "only PasswordBasedMac protection is supported");
    return ex;
  }
  if (!octets_ok(h->sender_kid, 1, CMP_MAX_REF)) {
    fail(ex, CG_EBAD_MAC, "message authentication failed");
    return ex;
  }
  /* RFC 9810 §5.1.1: transactionID and senderNonce SHOULD be 128 bits;
   * shorter ones make collisions and replays too likely. */
  if (!octets_ok(h->transaction_id, 16, CMP_MAX_TXID)) {
    fail(ex, CG_EBAD_REQUEST, "transactionID missing or not 16..64 octets");
    return ex;
  }
  if (!octets_ok(h->sender_nonce, 16, CMP_MAX_NONCE)) {
    fail(ex, CG_EBAD_SENDER_NONCE, "senderNonce missing or not 16..64 octets");
    return ex;
  }
  return ex;
}

void cmp_exchange_free(struct cmp_exchange *ex) {
  if (ex == NULL)
    return;
  cg_wipe(ex->secret_plain, sizeof ex->secret_plain);
  cg_arena_free(ex->arena);
}

enum cmp_step cmp_exchange_step(const struct cmp_exchange *ex) {
  switch (ex->phase) {
  case PH_LOOKUP:
    return CMP_STEP_LOOKUP;
  case PH_VERIFY:
  case PH_PROTECT:
    return CMP_STEP_COMPUTE;
  case PH_ISSUE:
    return CMP_STEP_ISSUE;
  case PH_INSERT:
    return CMP_STEP_INSERT;
  case PH_UPDATE:
    return CMP_STEP_UPDATE;
  case PH_DONE:
    break;
  }
  return CMP_STEP_DONE;
}

void cmp_exchange_lookup(const struct cmp_exchange *ex, const uint8_t **ref, size_t *ref_len,
                         const char **txid_hex) {
  *ref = ex->msg.hdr.sender_kid.p;
  *ref_len = ex->msg.hdr.sender_kid.len;
  *txid_hex = ex->txid_hex;
}

void cmp_exchange_lookup_done(struct cmp_exchange *ex, int err,
                              const struct cmp_secret_record *secret,
                              const struct cmp_txn_record *txn, const uint8_t *cert,
                              size_t cert_len) {
  if (err) {
    fail(ex, err, "store unavailable");
    return;
  }
  if (secret != NULL) {
    ex->secret = *secret;
    ex->secret_found = true;
  }
  if (txn != NULL) {
    ex->stored = *txn;
    ex->txn_found = true;
  }
  if (cert != NULL) {
    ex->stored_cert.p = cg_arena_dup(ex->arena, cert, cert_len);
    ex->stored_cert.len = cert_len;
    if (ex->stored_cert.p == NULL) {
      fail(ex, CG_ENOMEM, "out of memory");
      return;
    }
  }
  set_phase(ex, PH_VERIFY);
}

/* The secret of the reference, if it may be used now for this profile.  An
 * unusable secret is replaced by random bytes, so that the MAC check costs the
 * same whether or not the reference exists. */
static void load_secret(struct cmp_exchange *ex) {
  const struct cmp_secret_record *s = &ex->secret;
  bool usable = ex->secret_found && !s->revoked &&
                (s->expires_at == 0 || ex->now < s->expires_at) &&
                strcmp(s->profile, ex->profile) == 0 &&
                cmp_secret_open(ex->cfg->master_key, s->reference, s->enc, s->enc_len,
                                ex->secret_plain, sizeof ex->secret_plain, &ex->secret_len) == 0;
  if (!usable) {
    ex->secret_len = CMP_SECRET_GEN_LEN;
    cg_random(ex->secret_plain, ex->secret_len);
  }
  ex->secret_found = usable;
}

/* The transaction record of a new request, in state received. */
static void init_txn(struct cmp_exchange *ex) {
  struct cmp_txn_record *t = &ex->txn;
  memset(t, 0, sizeof *t);
  snprintf(t->txid, sizeof t->txid, "%s", ex->txid_hex);
  snprintf(t->profile, sizeof t->profile, "%s", ex->profile);
  snprintf(t->auth_ref, sizeof t->auth_ref, "%s", ex->ref);
  snprintf(t->req_type, sizeof t->req_type, "%s", cmp_body_name(ex->msg.type));
  t->state = t->prev_state = CMP_TXN_RECEIVED;
  t->failinfo = CG_FI_NONE;
  t->created_at = t->updated_at = ex->now;
}

static void verify_ir(struct cmp_exchange *ex) {
  struct cmp_txn_record *t = &ex->txn;
  /* RFC 9810 §5.1.1: a new transaction must not reuse a transactionID. */
  if (ex->txn_found) {
    fail(ex, CG_ETXID_IN_USE, "transactionID already in use");
    return;
  }
  /* RFC 9483 §4.1.1: one CertReqMsg per request. */
  if (ex->msg.u.cert_req.n != 1) {
    fail(ex, CG_EBAD_REQUEST, "exactly one certificate request is supported");
    return;
  }
  const struct cmp_cert_req *cr = &ex->msg.u.cert_req.req[0];
  ex->cert_req = cr;
  /* RFC 9483 §4.1.1: with one request per message, certReqId MUST be 0. */
  if (cr->cert_req_id != 0) {
    fail(ex, CG_EBAD_REQUEST, "certReqId must be 0");
    return;
  }
  t->cert_req_id = cr->cert_req_id;
  const struct cmp_cert_template *tp = &cr->tmpl;
  if (tp->subject.p == NULL || tp->subject.len <= 2) {
    fail(ex, CG_EBAD_TEMPLATE, "the template has no subject");
    return;
  }
  if (tp->public_key.p == NULL) {
    fail(ex, CG_EBAD_TEMPLATE, "the template has no public key (central key generation is "
                               "not offered)");
    return;
  }
  struct der_writer w;
  der_writer_init(&w, NULL, 0);
  cmp_write_template_spki(&w, tp);
  uint8_t *spki = cg_arena_alloc(ex->arena, w.len);
  if (spki == NULL) {
    fail(ex, CG_ENOMEM, "out of memory");
    return;
  }
  der_writer_init(&w, spki, w.len);
  cmp_write_template_spki(&w, tp);
  if (cr->pop != CMP_POP_SIGNATURE) {
    fail(ex, CG_EBAD_POP, "a signature proof of possession is required");
    return;
  }
  if (cmp_verify_pop(cr, spki, w.len)) {
    fail(ex, CG_EBAD_POP, "proof of possession does not verify");
    return;
  }
  ex->issue.profile = ex->profile;
  ex->issue.subject = tp->subject;
  ex->issue.spki.p = spki;
  ex->issue.spki.len = w.len;
  ex->issue.extensions = tp->extensions;
  ex->issue.has_not_before = tp->has_not_before;
  ex->issue.not_before = tp->not_before;
  ex->issue.has_not_after = tp->has_not_after;
  ex->issue.not_after = tp->not_after;
  set_phase(ex, PH_ISSUE);
}

/* RFC 9810 §5.3.18: certHash is computed with hashAlg when given, else with
 * the hash of the certificate's signature algorithm. */
static int cert_hash(struct der_view cert, struct der_view hash_alg_oid, uint8_t *out,
                     size_t *len) {
  enum cg_hash h;
  if (hash_alg_oid.p != NULL) {
    h = cg_oid_hash(cg_oid_lookup(hash_alg_oid));
  } else {
    struct cg_x509 x;
    enum cg_sig_scheme scheme;
    if (cg_x509_parse(cert.p, cert.len, &x) ||
        cg_oid_sigalg(cg_oid_lookup(x.sig_oid), &scheme, &h))
      return CG_EBAD_ALG;
    /* RFC 9481 §3.3 / RFC 8419: certHash of an Ed25519-signed certificate
     * is SHA-512; Ed448 would need SHAKE256, which is not offered. */
    if (h == CG_HASH_NONE && cg_oid_lookup(x.sig_oid) == CG_OID_ED25519)
      h = CG_HASH_SHA512;
  }
  if (h == CG_HASH_NONE)
    return CG_EBAD_ALG;
  struct cg_iov iov = {cert.p, cert.len};
  *len = cg_hash_size(h);
  return cg_hash(h, &iov, 1, out);
}

static void verify_cert_conf(struct cmp_exchange *ex) {
  const struct cmp_header *h = &ex->msg.hdr;
  struct cmp_txn_record *t = &ex->txn;
  if (!ex->txn_found || strcmp(ex->stored.auth_ref, ex->ref) != 0) {
    fail(ex, CG_EBAD_REQUEST, "no such transaction for this sender");
    return;
  }
  *t = ex->stored;
  if (t->state != CMP_TXN_ISSUED) {
    fail(ex, CG_EBAD_REQUEST, "transaction is not awaiting confirmation");
    return;
  }
  char nonce_hex[2 * CMP_MAX_NONCE + 1] = "";
  if (h->recip_nonce.p != NULL && h->recip_nonce.len <= CMP_MAX_NONCE)
    cg_hex(h->recip_nonce.p, h->recip_nonce.len, nonce_hex);
  if (strcmp(nonce_hex, t->sender_nonce) != 0) {
    fail(ex, CG_EBAD_RECIP_NONCE, "recipNonce does not match our senderNonce");
    return;
  }
  enum cmp_txn_state to = CMP_TXN_CONFIRMED;
  if (ex->msg.u.cert_conf.n == 0) {
    /* RFC 9810 §5.3.18: an empty CertConfirmContent rejects every certificate. */
    to = CMP_TXN_REVOKED_ON_REJECT;
  } else {
    const struct cmp_cert_status *st = &ex->msg.u.cert_conf.st[0];
    uint8_t hash[CG_HASH_MAX];
    size_t hash_len;
    if (ex->msg.u.cert_conf.n != 1 || st->cert_req_id != t->cert_req_id) {
      fail(ex, CG_EBAD_CERT_ID, "certReqId does not match the request");
      return;
    }
    if (ex->stored_cert.p == NULL ||
        cert_hash(ex->stored_cert, st->hash_alg_oid, hash, &hash_len) ||
        st->cert_hash.len != hash_len || !cg_ct_equal(hash, st->cert_hash.p, hash_len)) {
      fail(ex, CG_EBAD_CERT_ID, "certHash does not match the issued certificate");
      return;
    }
    if (st->has_status && st->status.status == CMP_REJECTION)
      to = CMP_TXN_REVOKED_ON_REJECT;
  }
  t->updated_at = ex->now;
  t->sender_nonce[0] = 0;
  if (cmp_txn_set_state(t, to)) {
    fail(ex, CG_ESTATE, "illegal state change");
    return;
  }
  set_phase(ex, PH_UPDATE);
}

static void verify(struct cmp_exchange *ex) {
  load_secret(ex);
  int err = cmp_pbm_verify(&ex->msg, ex->cfg->pbm_max_iterations, ex->secret_plain,
                           ex->secret_len);
  if (err == 0 && !ex->secret_found)
    err = CG_EBAD_MAC; /* a random secret matched: impossible in practice */
  if (err == CG_EBAD_ALG) {
    fail(ex, err, "PasswordBasedMac parameters not accepted");
    return;
  }
  if (err) {
    /* Wrong secret, unknown reference and corrupted MAC answer alike. */
    fail(ex, CG_EBAD_MAC, "message authentication failed");
    return;
  }
  ex->mac_ok = true;
  if (ex->msg.type == CMP_IR)
    init_txn(ex);
  if (cmp_pbm_parse(ex->msg.hdr.protection_alg, ex->cfg->pbm_max_iterations, &ex->pbm)) {
    fail(ex, CG_EBAD_ALG, "PasswordBasedMac parameters not accepted");
    return;
  }
  if (ex->msg.type == CMP_IR)
    verify_ir(ex);
  else
    verify_cert_conf(ex);
}

const struct cmp_issue_request *cmp_exchange_issue_request(const struct cmp_exchange *ex) {
  return &ex->issue;
}

void cmp_exchange_issue_done(struct cmp_exchange *ex, int err, const uint8_t *cert, size_t len) {
  if (err) {
    /* The CA's own failures are reported as such (systemFailure or
     * systemUnavail), not blamed on the request. */
    fail(ex, err, cg_err_class(err) == CG_CLASS_PEER ? "the CA refused the request"
                                                     : cg_strerror(err));
    return;
  }
  uint8_t *der = cg_arena_dup(ex->arena, cert, len);
  struct cg_x509 x;
  char *subject = cg_arena_alloc(ex->arena, 1024), *issuer = cg_arena_alloc(ex->arena, 1024);
  if (der == NULL || subject == NULL || issuer == NULL) {
    fail(ex, CG_ENOMEM, "out of memory");
    return;
  }
  if (cg_x509_parse(der, len, &x) || x.serial.len > CMP_MAX_SERIAL + 1 ||
      cg_name_to_string(x.subject, subject, 1024) || cg_name_to_string(x.issuer, issuer, 1024)) {
    fail(ex, CG_EBAD_TEMPLATE, "the CA returned an unusable certificate");
    return;
  }
  struct cmp_cert_record *c = &ex->cert;
  struct der_view serial = x.serial;
  if (serial.len > 1 && serial.p[0] == 0) { /* the sign octet is not part of the number */
    serial.p++;
    serial.len--;
  }
  if (serial.len > CMP_MAX_SERIAL) {
    fail(ex, CG_EBAD_TEMPLATE, "the CA returned an unusable certificate");
    return;
  }
  cg_hex(serial.p, serial.len, c->serial);
  c->subject = subject;
  c->issuer = issuer;
  c->not_before = x.not_before;
  c->not_after = x.not_after;
  c->der = der;
  c->der_len = len;
  snprintf(c->txid, sizeof c->txid, "%s", ex->txid_hex);
  snprintf(c->profile, sizeof c->profile, "%s", ex->profile);
  ex->has_cert = true;

  struct cmp_txn_record *t = &ex->txn;
  snprintf(t->cert_serial, sizeof t->cert_serial, "%s", c->serial);
  if (cg_random(ex->sender_nonce, sizeof ex->sender_nonce)) {
    fail(ex, CG_ECRYPTO, "no randomness");
    return;
  }
  cg_hex(ex->sender_nonce, sizeof ex->sender_nonce, t->sender_nonce);
  if (cmp_txn_set_state(t, CMP_TXN_ISSUED)) {
    fail(ex, CG_ESTATE, "illegal state change");
    return;
  }
  set_phase(ex, PH_INSERT);
}

const struct cmp_txn_record *cmp_exchange_txn(const struct cmp_exchange *ex) { return &ex->txn; }

const struct cmp_cert_record *cmp_exchange_cert(const struct cmp_exchange *ex) {
  return ex->has_cert ? &ex->cert : NULL;
}

void cmp_exchange_store_done(struct cmp_exchange *ex, int err) {
  if (ex->err != 0) {
    /* A rejected transaction was recorded (or could not be); answer the error
     * that caused it either way. */
    set_phase(ex, PH_PROTECT);
    return;
  }
  if (err == CG_EEXISTS && ex->phase == PH_INSERT) {
    ex->has_cert = false;
    fail(ex, CG_ETXID_IN_USE, "transactionID already in use");
    return;
  }
  if (err == CG_ESTATE || err == CG_ENOT_FOUND) {
    fail(ex, CG_EBAD_REQUEST, "transaction is not awaiting confirmation");
    return;
  }
  if (err) {
    ex->has_cert = false;
    fail(ex, err, "store failure");
    return;
  }
  if (ex->phase == PH_INSERT) {
    ex->rsp_type = CMP_IP;
    ex->status = CMP_ACCEPTED;
  } else {
    ex->rsp_type = CMP_PKICONF;
    ex->status = CMP_ACCEPTED;
  }
  set_phase(ex, PH_PROTECT);
}

/* Writes header and body of the response into a new arena buffer. */
static int write_header_body(struct cmp_exchange *ex, struct der_view prot_alg, uint8_t **out,
                             size_t *out_len) {
  const struct cmp_header *rh = &ex->msg.hdr;
  struct cmp_out_header h = {0};
  uint8_t fresh_nonce[16];
  if (cg_random(fresh_nonce, sizeof fresh_nonce))
    return CG_ECRYPTO;
  h.pvno = ex->decoded && (rh->pvno == 3) ? 3 : 2;
  h.sender_name = ex->cfg->ra_name;
  if (ex->decoded)
    h.recipient = rh->sender;
  h.message_time = ex->now;
  h.protection_alg = prot_alg;
  if (ex->mac_ok)
    h.sender_kid = rh->sender_kid;
  else if (ex->cfg->n_ra_chain > 0) {
    struct cg_x509 ra;
    if (cg_x509_parse(ex->cfg->ra_chain[0].p, ex->cfg->ra_chain[0].len, &ra) == 0 &&
        ra.skid.len > 0)
      h.sender_kid = ra.skid; /* RFC 9483 §3.1: senderKID is the SKID of the signer */
  }
  if (ex->decoded && rh->transaction_id.p != NULL && rh->transaction_id.len <= CMP_MAX_TXID)
    h.transaction_id = rh->transaction_id;
  h.sender_nonce.p = ex->rsp_type == CMP_IP ? ex->sender_nonce : fresh_nonce;
  h.sender_nonce.len = 16;
  if (ex->decoded && rh->sender_nonce.p != NULL && rh->sender_nonce.len <= CMP_MAX_NONCE)
    h.recip_nonce = rh->sender_nonce;

  for (int pass = 0; pass < 2; pass++) {
    struct der_writer w;
    der_writer_init(&w, pass ? *out : NULL, pass ? *out_len : 0);
    cmp_write_header(&w, &h);
    if (ex->rsp_type == CMP_IP) {
      cmp_write_cert_rep_body(&w, CMP_IP, ex->txn.cert_req_id, ex->status, CG_FI_NONE, NULL,
                              (struct der_view){ex->cert.der, ex->cert.der_len});
    } else if (ex->rsp_type == CMP_PKICONF) {
      cmp_write_pkiconf_body(&w);
    } else {
      cmp_write_error_body(&w, ex->status, cg_err_failinfo(ex->err), ex->detail);
    }
    if (der_writer_finish(&w, out_len))
      return CG_ESPACE;
    if (pass == 0 && (*out = cg_arena_alloc(ex->arena, *out_len)) == NULL)
      return CG_ENOMEM;
  }
  return 0;
}

static int protect(struct cmp_exchange *ex) {
  struct der_writer w;
  uint8_t alg_buf[256];
  uint8_t prot[1024];
  size_t prot_len = 0;
  uint8_t *hb;
  size_t hb_len, alg_len;

  der_writer_init(&w, alg_buf, sizeof alg_buf);
  if (ex->mac_ok) {
    /* RFC 9810 §5.1.3.1 / RFC 9483 §3.2: answer with the same parameters and a
     * fresh salt. */
    ex->pbm.salt_len = 16;
    if (cg_random(ex->pbm.salt, ex->pbm.salt_len))
      return CG_ECRYPTO;
    cmp_pbm_write_alg(&w, &ex->pbm);
  } else {
    cert_write_sig_alg(&w, ex->cfg->ra_scheme, ex->cfg->ra_hash);
  }
  if (der_writer_finish(&w, &alg_len))
    return CG_ESPACE;
  int err = write_header_body(ex, (struct der_view){alg_buf, alg_len}, &hb, &hb_len);
  if (err)
    return err;

  struct cmp_msg view = {0};
  view.hdr.raw.p = hb;
  view.hdr.raw.len = hb_len; /* header and body together: one piece */
  uint8_t seq[6];
  struct cg_iov iov[2];
  cmp_msg_protected_part(&view, seq, iov);
  if (ex->mac_ok)
    err = cmp_pbm_compute(&ex->pbm, ex->secret_plain, ex->secret_len, iov, 2, prot, &prot_len);
  else
    err = cg_sign(ex->cfg->ra_key, ex->cfg->ra_scheme, ex->cfg->ra_hash, iov, 2, prot,
                  sizeof prot, &prot_len);
  if (err)
    return err;

  /* extraCerts: the signer's chain for signed messages, and for an issued
   * certificate the chain of its CA (RFC 9483 §4.1.1), without repeats. */
  struct der_view extra[CMP_MAX_EXTRA_CERTS];
  size_t n = 0;
  if (!ex->mac_ok)
    for (size_t i = 0; i < ex->cfg->n_ra_chain && n < CMP_MAX_EXTRA_CERTS; i++)
      extra[n++] = ex->cfg->ra_chain[i];
  if (ex->rsp_type == CMP_IP) {
    for (size_t i = 0; i < ex->prof->n_ca_chain && n < CMP_MAX_EXTRA_CERTS; i++) {
      bool dup = false;
      for (size_t j = 0; j < n; j++)
        dup |= der_view_eq(extra[j], ex->prof->ca_chain[i]);
      if (!dup)
        extra[n++] = ex->prof->ca_chain[i];
    }
  }
  uint8_t *out = NULL;
  size_t out_len = 0;
  for (int pass = 0; pass < 2; pass++) {
    der_writer_init(&w, out, out_len);
    cmp_write_message(&w, hb, hb_len, prot, prot_len, extra, n);
    if (der_writer_finish(&w, &out_len))
      return CG_ESPACE;
    if (pass == 0 && (out = cg_arena_alloc(ex->arena, out_len)) == NULL)
      return CG_ENOMEM;
  }
  ex->rsp = out;
  ex->rsp_len = out_len;
  return 0;
}

void cmp_exchange_compute(struct cmp_exchange *ex) {
  if (ex->phase == PH_VERIFY) {
    verify(ex);
    return;
  }
  if (ex->phase != PH_PROTECT)
    return;
  int err = protect(ex);
  if (err && ex->mac_ok) {
    /* Could not MAC the answer: fall back to a signed error. */
    ex->mac_ok = false;
    ex->err = err;
    ex->detail = "internal failure";
    ex->rsp_type = CMP_ERROR;
    ex->status = CMP_REJECTION;
    err = protect(ex);
  }
  if (err) {
    ex->rsp = NULL;
    ex->rsp_len = 0;
  }
  set_phase(ex, PH_DONE);
}

void cmp_exchange_response(const struct cmp_exchange *ex, const uint8_t **p, size_t *len) {
  *p = ex->rsp;
  *len = ex->rsp_len;
}

void cmp_exchange_info(const struct cmp_exchange *ex, struct cmp_exchange_info *info) {
  info->req_type = ex->msg.type >= 0 ? cmp_body_name(ex->msg.type) : "?";
  info->rsp_type = ex->phase == PH_DONE ? cmp_body_name(ex->rsp_type) : "-";
  info->txid = ex->txid_hex;
  info->ref = ex->ref;
  info->status = ex->status;
  info->fail_info = ex->err ? (int)cg_err_failinfo(ex->err) : CG_FI_NONE;
  info->detail = ex->detail ? ex->detail : "";
  info->serial = ex->has_cert ? ex->cert.serial : "";
}
