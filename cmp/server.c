/*
 * server.c - the sans-I/O CMP server engine (cmp/server.h): the life of an
 * exchange, the checks every request passes before anything is looked up,
 * and the plumbing of lookups, issuance and store results.  The message
 * families live in srv_enrol.c, srv_revoke.c and srv_genm.c; authentication
 * and response protection in srv_auth.c (phases: cmp/server_int.h).
 *
 * Everything the exchange holds lives in its arena; the request is copied
 * there first, so every view of the decoded message stays valid for the
 * exchange's life.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmp/server_int.h"
#include "core/err.h"
#include "core/oid.h"

/* The one place the phase changes, against the table of the moves the
 * engine makes (any failure answers: PROTECT; a background exchange, which
 * answers nobody, ends in UPDATE or DONE).  An illegal move is a bug in the
 * engine, never something a peer can cause: abort. */
void cmp_srv_set_phase(struct cmp_exchange *ex, enum phase to) {
#define B(p) (1u << PH_##p)
  static const unsigned allowed[] = {
      [PH_LOOKUP] = B(VERIFY) | B(UPDATE) | B(PROTECT) | B(DONE),
      [PH_VERIFY] = B(ISSUE) | B(REVOKE) | B(FORWARD) | B(INSERT) | B(UPDATE) | B(CRL) |
                    B(NESTED) | B(PROTECT) | B(DONE),
      [PH_ISSUE] = B(INSERT) | B(UPDATE) | B(PROTECT) | B(DONE),
      [PH_REVOKE] = B(INSERT) | B(UPDATE) | B(PROTECT) | B(DONE),
      [PH_FORWARD] = B(UPDATE) | B(PROTECT) | B(DONE),
      [PH_INSERT] = B(VERIFY) | B(PROTECT) | B(DONE), /* VERIFY: a write refused whole */
      [PH_UPDATE] = B(UPDATE) | B(PROTECT) | B(DONE),
      [PH_CRL] = B(PROTECT),
      [PH_NESTED] = B(PROTECT),
      [PH_NOTE] = B(DONE),
      [PH_PROTECT] = B(NOTE) | B(DONE),
      [PH_DONE] = 0,
  };
#undef B
  if (!(allowed[ex->phase] & (1u << to)))
    abort();
  ex->phase = to;
}

/* Requests whose refusal is recorded as a rejected transaction. */
static bool is_recorded_request(int type) {
  return type == CMP_IR || type == CMP_CR || type == CMP_KUR || type == CMP_P10CR ||
         type == CMP_RR;
}

/* An approved transaction's row is touched: no nonce of a message (nobody
 * sent one), updated now. */
void cmp_srv_touch_background(struct cmp_exchange *ex) {
  ex->txn.sender_nonce[0] = '\0';
  ex->txn.updated_at = ex->now;
}

int cmp_srv_answer_type(int request_type) {
  switch (request_type) {
  case CMP_IR:
    return CMP_IP;
  case CMP_CR:
  case CMP_P10CR:
    return CMP_CP;
  case CMP_KUR:
    return CMP_KUP;
  case CMP_RR:
    return CMP_RP;
  default:
    return CMP_ERROR;
  }
}

/* RFC 9483 §3.6.2 draws the line: a certificate or revocation request whose
 * header and protection are in order but whose content is refused (a
 * template the policy refuses, a bad POP, an unknown certificate, ...) is
 * answered in its own type, ip/cp/kup or rp, with status rejection and the
 * failInfo (§4.1.1, §4.2); what cannot be processed as a request at all
 * (header, protection, a malformed body, a transactionID in use: RFC 9810
 * §5.1.1 names ErrorMsgContent for that) and the gateway's own failures get
 * an error message (§3.6.4).  Returns the answer type. */
static int refusal_type(const struct cmp_exchange *ex, int err) {
  if (!ex->checking_body || err == CG_ETXID_IN_USE || cg_err_class(err) != CG_CLASS_PEER)
    return CMP_ERROR;
  return cmp_srv_answer_type(ex->msg.type);
}

/* Ends the exchange with an error answer.  An authenticated certificate
 * request that fails is first recorded as a rejected transaction (except
 * when its transactionID belongs to another one). */
void cmp_srv_fail(struct cmp_exchange *ex, int err, const char *detail) {
  ex->err = err;
  ex->detail = detail;
  ex->relayed = (struct der_view){NULL, 0}; /* the gateway answers itself */
  if (ex->background) {
    /* A background request the CA could not serve: the transaction fails and
     * the device learns it at its next pollReq. */
    ex->has_cert = false;
    ex->has_revocation = false;
    ex->txn.failinfo = cg_err_failinfo(err);
    cmp_srv_touch_background(ex);
    cmp_srv_set_phase(ex, cmp_txn_set_state(&ex->txn, CMP_TXN_FAILED) == 0 ? PH_UPDATE : PH_DONE);
    return;
  }
  ex->rsp_type = refusal_type(ex, err);
  ex->status = CMP_REJECTION;
  ex->has_cert = false;
  ex->has_revocation = false;
  /* A refused secret: its failure is counted and audited after the answer
   * is made (PH_PROTECT, then PH_NOTE), so that a wrong MAC on a known
   * reference is answered as soon as one on an unknown reference (whose
   * refusal writes nothing): the time to the answer does not tell which
   * references exist. */
  if (ex->has_note && ex->note.failed && ex->phase == PH_VERIFY) {
    ex->note_after = true;
    cmp_srv_set_phase(ex, PH_PROTECT);
    return;
  }
  ex->has_note = false; /* a use is counted only with an issued certificate */
  if (ex->authenticated && is_recorded_request(ex->msg.type) && err != CG_ETXID_IN_USE &&
      (ex->phase == PH_VERIFY || ex->phase == PH_ISSUE || ex->phase == PH_REVOKE)) {
    ex->txn.failinfo = cg_err_failinfo(err);
    if (cmp_txn_set_state(&ex->txn, CMP_TXN_REJECTED) == 0) {
      cmp_srv_set_phase(ex, PH_INSERT);
      return;
    }
  }
  cmp_srv_set_phase(ex, PH_PROTECT);
}

bool cmp_srv_enter_waiting(struct cmp_exchange *ex, enum cmp_txn_state state) {
  struct cmp_txn_record *t = &ex->txn;
  if (cg_random(ex->sender_nonce, sizeof ex->sender_nonce)) {
    cmp_srv_fail(ex, CG_ECRYPTO, "no randomness");
    return false;
  }
  if (cmp_txn_set_state(t, state)) {
    cmp_srv_fail(ex, CG_ESTATE, "illegal state change");
    return false;
  }
  cg_hex(ex->sender_nonce, sizeof ex->sender_nonce, t->sender_nonce);
  ex->waiting = true;
  return true;
}

void cmp_srv_init_txn(struct cmp_exchange *ex) {
  struct cmp_txn_record *t = &ex->txn;
  memset(t, 0, sizeof *t);
  snprintf(t->txid, sizeof t->txid, "%s", ex->txid_hex);
  snprintf(t->profile, sizeof t->profile, "%s", ex->profile);
  snprintf(t->auth_ref, sizeof t->auth_ref, "%s", ex->ref);
  snprintf(t->req_type, sizeof t->req_type, "%s", cmp_body_name(ex->msg.type));
  t->state = t->prev_state = CMP_TXN_RECEIVED;
  t->failinfo = CG_FI_NONE;
  t->cert_req_id = ex->cert_req_id;
  t->created_at = t->updated_at = ex->now;
  snprintf(t->protection, sizeof t->protection, "%s", cmp_srv_protection_name(ex));
  if (ex->msg.type == CMP_KUR)
    memcpy(t->updates_serial, ex->subject_serial, sizeof t->updates_serial);
  struct der_view n = ex->msg.hdr.sender_nonce;
  if (n.p != NULL && n.len <= CMP_MAX_NONCE)
    cg_hex(n.p, n.len, t->device_nonce);
}

const char *cmp_srv_protection_name(const struct cmp_exchange *ex) {
  switch (ex->auth) {
  case AUTH_PBM:
    return "pbm";
  case AUTH_PBMAC1:
    return "pbmac1";
  case AUTH_SIG:
    return "signature";
  case AUTH_RA:
    return "ra";
  case AUTH_NONE:
    break;
  }
  return "";
}

static bool octets_ok(struct der_view v, size_t min, size_t max) {
  return v.p != NULL && v.len >= min && v.len <= max;
}

/* Lowercase hex of a serial INTEGER's contents without the sign octet. */
static bool serial_hex(struct der_view serial, char out[2 * CMP_MAX_SERIAL + 1]) {
  if (serial.len > 1 && serial.p[0] == 0) {
    serial.p++;
    serial.len--;
  }
  if (serial.len == 0 || serial.len > CMP_MAX_SERIAL)
    return false;
  cg_hex(serial.p, serial.len, out);
  return true;
}

/* Which protection the request carries; refuses what the profile does not
 * allow and what is inconsistent (RFC 9810 §5.1.3: protectionAlg and
 * protection go together). */
static int classify_protection(struct cmp_exchange *ex) {
  const struct cmp_header *h = &ex->msg.hdr;
  if (h->protection_alg.p == NULL && !ex->msg.has_protection) {
    if (ex->vouch_ref[0] != '\0') {
      /* RFC 9483 §5.2.2.1: the RA's signature on the nested message stands
       * in for this one's protection; the RA is its sender. */
      ex->auth = AUTH_RA;
      snprintf(ex->ref, sizeof ex->ref, "%s", ex->vouch_ref);
      return 0;
    }
    ex->detail = "request is not protected";
    return CG_EWRONG_INTEGRITY;
  }
  if (h->protection_alg.p == NULL || !ex->msg.has_protection) {
    /* RFC 9810 §5.1.1 requires both or neither: the integrity of the
     * message cannot be checked (badMessageCheck), whatever its algorithm. */
    ex->detail = "protectionAlg and protection must both be present";
    return CG_EBAD_MAC;
  }
  enum cg_oid_id alg = cg_oid_lookup(h->protection_oid);
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  if (alg == CG_OID_PBM || alg == CG_OID_PBMAC1) {
    if (!ex->prof->allow_mac) {
      ex->detail = "MAC protection is not allowed for this profile";
      return CG_EWRONG_INTEGRITY;
    }
    ex->auth = alg == CG_OID_PBM ? AUTH_PBM : AUTH_PBMAC1;
    if (!octets_ok(h->sender_kid, 1, CMP_MAX_REF)) {
      ex->detail = "message authentication failed";
      return CG_EBAD_MAC;
    }
    return 0;
  }
  if (cg_oid_sigalg(alg, &scheme, &hash) != 0) {
    ex->detail = "protection algorithm not supported";
    return CG_EBAD_ALG;
  }
  /* SHA-1 signatures can be forged by collision (SHAttered, 2017); RFC 9481
   * §3 lists SHA-1 for none.  A profile may allow them (legacy devices). */
  if (hash == CG_HASH_SHA1 && !ex->prof->allow_sha1_signatures) {
    ex->detail = "SHA-1 signatures are not accepted (profile sha1_signatures)";
    return CG_EBAD_ALG;
  }
  if (!ex->prof->allow_sig) {
    ex->detail = "signature protection is not allowed for this profile";
    return CG_EWRONG_INTEGRITY;
  }
  /* RFC 9483 §3.2: the signer's certificate is the first of extraCerts. */
  if (ex->msg.n_extra_certs == 0 ||
      cg_x509_parse(ex->msg.extra_certs[0].p, ex->msg.extra_certs[0].len, &ex->signer) ||
      !serial_hex(ex->signer.serial, ex->signer_serial)) {
    ex->detail = "signature protection without a usable signer certificate in extraCerts";
    return CG_EBAD_MAC;
  }
  ex->auth = AUTH_SIG;
  snprintf(ex->ref, sizeof ex->ref, "cert:%s", ex->signer_serial);
  return 0;
}

/* The certificate a kur updates (oldCertId control, else the signer) or an
 * rr revokes (certDetails), by serial, for the lookup. */
static int find_subject_serial(struct cmp_exchange *ex) {
  if (ex->msg.type == CMP_KUR) {
    /* RFC 9483 §4.1.3: oldCertId is optional; without it the signer is the
     * certificate to update. */
    const struct cmp_cert_req *cr = &ex->msg.u.cert_req.req[0];
    if (cr->old_cert_serial.p != NULL)
      return serial_hex(cr->old_cert_serial, ex->subject_serial) ? 0 : CG_EBAD_CERT_ID;
    if (ex->auth == AUTH_SIG) {
      snprintf(ex->subject_serial, sizeof ex->subject_serial, "%s", ex->signer_serial);
      return 0;
    }
    return CG_EBAD_CERT_ID;
  }
  if (ex->msg.type == CMP_RR) {
    const struct cmp_cert_template *t = &ex->msg.u.rev_req.rd[0].tmpl;
    if (t->serial.p == NULL || t->issuer.p == NULL)
      return CG_EBAD_CERT_ID;
    return serial_hex(t->serial, ex->subject_serial) ? 0 : CG_EBAD_CERT_ID;
  }
  /* Any other signed request: the signer, so that a certificate we issued
   * and revoked cannot sign for new ones. */
  if (ex->auth == AUTH_SIG)
    snprintf(ex->subject_serial, sizeof ex->subject_serial, "%s", ex->signer_serial);
  return 0;
}

/* Two Names are the same: the same DER, or (as_text; tolerated: clients
 * re-encode a name they were given as text, in another string type) the
 * same RFC 4514 text, ignoring case. */
static bool same_name(struct der_view a, struct der_view b, bool as_text) {
  if (!as_text)
    return cg_der_view_eq(a, b);
  char ta[512], tb[512];
  return cg_name_to_string(a, ta, sizeof ta) == 0 && cg_name_to_string(b, tb, sizeof tb) == 0 &&
         strcasecmp(ta, tb) == 0;
}

/* RFC 9483 §3.1: the recipient is the PKI management entity the message is
 * for, NULL-DN when the sender does not know it.  Here that is the RA, or a
 * CA of the profile (its issuing CA, as clients name it from an old
 * certificate's issuer, and the CAs above it). */
static bool recipient_ok(const struct cmp_exchange *ex) {
  struct der_view r = ex->msg.hdr.recipient_dn;
  static const uint8_t null_dn[] = {0x30, 0x00};
  if (r.p == NULL)
    return false; /* another form of GeneralName than directoryName */
  if (cg_der_view_is(r, null_dn, sizeof null_dn))
    return true;
  /* The names, octet for octet first (what clients send), as text then. */
  for (int text = 0; text < 2; text++) {
    if (same_name(r, ex->cfg->ra_name, text))
      return true;
    for (size_t i = 0; i < ex->n_ca_chain; i++) {
      struct cg_x509 ca;
      if (cg_x509_parse(ex->ca_chain[i].p, ex->ca_chain[i].len, &ca) == 0 &&
          same_name(r, ca.subject, text))
        return true;
    }
  }
  return false;
}

/* The kinds of request the engine serves: each module's table. */
static const struct cmp_srv_kind *const kind_tables[] = {
    cmp_srv_enrol_kinds, cmp_srv_revoke_kinds, cmp_srv_genm_kinds,
    cmp_srv_nested_kinds, cmp_srv_poll_kinds,
};

const struct cmp_srv_kind *cmp_srv_kind(int type, bool answer) {
  if (type < 0 || type > 31)
    return NULL;
  for (size_t i = 0; i < sizeof kind_tables / sizeof kind_tables[0]; i++)
    for (const struct cmp_srv_kind *k = kind_tables[i]; k->requests != 0; k++)
      if ((((answer ? k->answers : k->requests) >> type) & 1u) != 0)
        return k;
  return NULL;
}

/* Checks done before anything is looked up.  0, or an error with ex->detail. */
static int check_request(struct cmp_exchange *ex) {
  const struct cmp_header *h = &ex->msg.hdr;
  /* RFC 9810 §7: cmp2000 (2) and cmp2021 (3) are spoken; the answer uses
   * the request's version. */
  if (h->pvno != 2 && h->pvno != 3) {
    ex->detail = "pvno must be 2 or 3";
    return CG_EUNSUPPORTED_VERSION;
  }
  const struct cmp_srv_kind *kind = cmp_srv_kind(ex->msg.type, false);
  if (kind == NULL) {
    /* RFC 9483 has no cross-certification (RFC 9810 §5.3.11): a CA does it
     * with its operators, not through an RA's enrolment service. */
    ex->detail = ex->msg.type == CMP_CCR
                     ? "cross-certification (ccr) is not offered: it is no part of RFC 9483"
                     : "message type not supported";
    return CG_EBAD_REQUEST;
  }
  int err = classify_protection(ex);
  if (err)
    return err;
  /* RFC 9810 §5.1.1: a sender that knows no name of its own sends NULL-DN,
   * "in the directoryName choice"; the sender of a signed message is the
   * signer's subject (checked with the signature), of a MAC-protected one
   * whatever the device calls itself, the secret (senderKID) naming it. */
  if (ex->msg.hdr.sender_dn.p == NULL) {
    ex->detail = "the sender must be a directoryName (NULL-DN when it has no name)";
    return CG_EBAD_DATA;
  }
  if (!recipient_ok(ex)) {
    ex->detail = "the recipient is neither this RA nor a CA of the profile (nor NULL-DN)";
    return CG_EWRONG_AUTHORITY;
  }
  /* RFC 9810 §5.1.1: transactionID and senderNonce SHOULD be 128 bits;
   * shorter ones make collisions and replays too likely. */
  if (!octets_ok(h->transaction_id, 16, CMP_MAX_TXID)) {
    /* RFC 9483 §3.5: "The transactionID MUST be present" (badDataFormat). */
    ex->detail = "transactionID missing or not 16..64 octets";
    return CG_EBAD_DATA;
  }
  /* RFC 9483 §3.1: recipNonce is absent in the first message of a
   * transaction, which these are (certConf and pollReq carry one). */
  if (h->recip_nonce.p != NULL && ex->msg.type != CMP_CERTCONF && ex->msg.type != CMP_POLLREQ &&
      ex->msg.type != CMP_NESTED) {
    ex->detail = "recipNonce must be absent in the first message of a transaction";
    return CG_EBAD_RECIP_NONCE;
  }
  if (!octets_ok(h->sender_nonce, 16, CMP_MAX_NONCE)) {
    ex->detail = "senderNonce missing or not 16..64 octets";
    return CG_EBAD_SENDER_NONCE;
  }
  /* RFC 9483 §3.1: messageTime, when sent, must be close to ours (an
   * approved request was checked when it arrived, maybe days ago). */
  if (h->has_message_time && ex->cfg->max_clock_skew > 0 && !ex->background && !ex->replay &&
      (h->message_time > ex->now + ex->cfg->max_clock_skew ||
       h->message_time < ex->now - ex->cfg->max_clock_skew)) {
    ex->detail = "messageTime is too far from the server's time";
    return CG_EBAD_TIME;
  }
  if (kind->read != NULL && (err = kind->read(ex)) != 0)
    return err;
  /* The request is readable: what it asks for is checked from here on. */
  ex->checking_body = true;
  if ((err = cmp_srv_check_template(ex)) != 0)
    return err;
  if ((err = find_subject_serial(ex)) != 0) {
    ex->detail = "the certificate to act on is not identified";
    return err;
  }
  ex->checking_body = false; /* the protection is checked next */
  return 0;
}

/* A new exchange for req; for a background exchange, stored is its
 * transaction, and a request that no longer passes fails that transaction. */
static struct cmp_exchange *exchange_open(const struct cmp_server_cfg *cfg,
                                          const struct cmp_profile *profile,
                                          const struct cmp_txn_record *stored, bool replay,
                                          const char *vouch_ref, const uint8_t *req, size_t len,
                                          int64_t now) {
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
  ex->ca_chain = profile->ca_chain;
  ex->n_ca_chain = profile->n_ca_chain;
  ex->trust_anchors = profile->trust_anchors;
  ex->n_trust_anchors = profile->n_trust_anchors;
  memcpy(ex->root_update, profile->root_update, sizeof ex->root_update);
  ex->arena = a;
  ex->now = now;
  ex->req = copy;
  ex->req_len = len;
  snprintf(ex->profile, sizeof ex->profile, "%s", profile->name);
  ex->phase = PH_LOOKUP;
  ex->replay = replay;
  if (stored != NULL) {
    ex->background = true;
    ex->txn = *stored;
    ex->cert_req_id = stored->cert_req_id;
    if (!strcmp(stored->protection, "ra")) /* its RA vouched for it then */
      vouch_ref = stored->auth_ref;
  }
  if (vouch_ref != NULL)
    snprintf(ex->vouch_ref, sizeof ex->vouch_ref, "%s", vouch_ref);

  int err = cmp_msg_decode(copy, len, &ex->msg);
  const struct cmp_header *h = &ex->msg.hdr;
  ex->decoded = ex->msg.header_ok;
  if (ex->decoded && h->transaction_id.p != NULL && h->transaction_id.len <= CMP_MAX_TXID)
    cg_hex(h->transaction_id.p, h->transaction_id.len, ex->txid_hex);
  if (ex->decoded && h->sender_kid.p != NULL && h->sender_kid.len <= CMP_MAX_REF) {
    /* A reference is text; a key identifier (binary) is shown as hex. */
    bool text = true;
    for (size_t i = 0; i < h->sender_kid.len; i++)
      text &= h->sender_kid.p[i] >= 0x20 && h->sender_kid.p[i] < 0x7f;
    if (text)
      memcpy(ex->ref, h->sender_kid.p, h->sender_kid.len);
    else
      cg_hex(h->sender_kid.p, h->sender_kid.len, ex->ref);
  }
  if (err) {
    cmp_srv_fail(ex, err, "request is not a valid PKIMessage");
    return ex;
  }
  err = check_request(ex);
  if (err)
    cmp_srv_fail(ex, err, ex->detail);
  return ex;
}

struct cmp_exchange *cmp_exchange_new(const struct cmp_server_cfg *cfg,
                                      const struct cmp_profile *profile, const uint8_t *req,
                                      size_t len, int64_t now) {
  return exchange_open(cfg, profile, NULL, false, NULL, req, len, now);
}

struct cmp_exchange *cmp_exchange_new_inner(const struct cmp_server_cfg *cfg,
                                            const struct cmp_profile *profile,
                                            const struct cmp_exchange *outer, const uint8_t *req,
                                            size_t len, int64_t now) {
  bool vouches = profile->nested_vouch && outer->msg.type == CMP_NESTED &&
                 outer->auth == AUTH_SIG && outer->authenticated;
  return exchange_open(cfg, profile, NULL, false, vouches ? outer->ref : NULL, req, len, now);
}

struct cmp_exchange *cmp_exchange_new_replay(const struct cmp_server_cfg *cfg,
                                             const struct cmp_profile *profile,
                                             const uint8_t *req, size_t len, int64_t now) {
  return exchange_open(cfg, profile, NULL, true, NULL, req, len, now);
}

void cmp_exchange_restrict(struct cmp_exchange *ex, uint32_t mask) {
  const uint32_t follow_ups = 1u << CMP_CERTCONF | 1u << CMP_POLLREQ | 1u << CMP_ERROR;
  if (ex->phase != PH_LOOKUP || ((mask | follow_ups) & (1u << ex->msg.type)))
    return;
  cmp_srv_fail(ex, CG_EBAD_REQUEST, "message type not expected on this path");
}

struct cmp_exchange *cmp_exchange_new_background(const struct cmp_server_cfg *cfg,
                                               const struct cmp_profile *profile,
                                               const struct cmp_txn_record *txn,
                                               const uint8_t *req, size_t len, int64_t now) {
  struct cmp_exchange *ex = exchange_open(cfg, profile, txn, false, NULL, req, len, now);
  if (ex == NULL || ex->phase != PH_LOOKUP)
    return ex; /* a stored request that no longer passes: its transaction fails */
  cmp_srv_set_phase(ex, PH_VERIFY);
  if (ex->msg.type == CMP_RR)
    cmp_srv_revoke_approved(ex);
  else if (cmp_srv_build_issue_request(ex))
    cmp_srv_set_phase(ex, PH_ISSUE);
  return ex;
}

struct der_view cmp_exchange_request_to_keep(const struct cmp_exchange *ex) {
  /* A relaying profile's waiting request is the device's to poll at the CA:
   * nothing is issued from it later. */
  return ex->waiting && !ex->prof->relay ? (struct der_view){ex->req, ex->req_len}
                                         : (struct der_view){NULL, 0};
}

void cmp_exchange_free(struct cmp_exchange *ex) {
  if (ex == NULL)
    return;
  cg_wipe(ex->secret_plain, sizeof ex->secret_plain);
  cmp_mac_wipe(&ex->mac);
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
  case PH_REVOKE:
    return CMP_STEP_REVOKE;
  case PH_FORWARD:
    return CMP_STEP_FORWARD;
  case PH_INSERT:
    return CMP_STEP_INSERT;
  case PH_UPDATE:
    return CMP_STEP_UPDATE;
  case PH_CRL:
    return CMP_STEP_CRL;
  case PH_NESTED:
    return CMP_STEP_NESTED;
  case PH_NOTE:
    return CMP_STEP_NOTE;
  case PH_DONE:
    break;
  }
  return CMP_STEP_DONE;
}

void cmp_exchange_lookup(const struct cmp_exchange *ex, struct cmp_lookup_req *req) {
  assert(ex->phase == PH_LOOKUP);
  memset(req, 0, sizeof *req);
  if (ex->auth == AUTH_PBM || ex->auth == AUTH_PBMAC1) {
    req->ref = ex->msg.hdr.sender_kid.p;
    req->ref_len = ex->msg.hdr.sender_kid.len;
  }
  req->txid = ex->txid_hex;
  req->serial = ex->subject_serial;
  req->revoked_issuer = ex->want_crl ? ex->ca_issuer : "";
  req->key_hash = ex->key_hash;
  req->check_key_reuse = !ex->prof->key_reuse;
}

static bool dup_view(struct cmp_exchange *ex, struct der_view in, struct der_view *out) {
  out->p = in.p ? cg_arena_dup(ex->arena, in.p, in.len) : NULL;
  out->len = in.p ? in.len : 0;
  return in.p == NULL || out->p != NULL;
}

void cmp_exchange_lookup_done(struct cmp_exchange *ex, const struct cmp_lookup_res *res) {
  assert(ex->phase == PH_LOOKUP);
  if (res->err) {
    cmp_srv_fail(ex, res->err, "store unavailable");
    return;
  }
  if (res->secret != NULL) {
    ex->secret = *res->secret;
    ex->secret_found = true;
  }
  if (res->txn != NULL) {
    ex->stored = *res->txn;
    ex->txn_found = true;
  }
  ex->cert_found = res->cert_found;
  ex->cert_revoked = res->cert_revoked;
  ex->cert_reason = res->cert_revoked ? res->cert_reason : -1;
  ex->cert_held_by_operator = res->cert_revoked && res->cert_held_by_operator;
  ex->cert_unconfirmed_kup = res->cert_unconfirmed_kup;
  ex->cert_updated = res->cert_updated;
  ex->cert_update_pending = res->cert_update_pending;
  ex->key_certified = res->key_certified;
  ex->key_compromised = res->key_compromised;
  if (res->cert_auth_ref != NULL)
    snprintf(ex->found_cert_auth_ref, sizeof ex->found_cert_auth_ref, "%s", res->cert_auth_ref);
  if (res->n_revoked > 0) {
    ex->revoked = cg_arena_alloc(ex->arena, res->n_revoked * sizeof *ex->revoked);
    if (ex->revoked == NULL) {
      cmp_srv_fail(ex, CG_ENOMEM, "out of memory");
      return;
    }
    memcpy(ex->revoked, res->revoked, res->n_revoked * sizeof *ex->revoked);
    ex->n_revoked = res->n_revoked;
  }
  if (!dup_view(ex, res->txn_cert, &ex->stored_cert) ||
      !dup_view(ex, res->cert_found ? res->cert : (struct der_view){NULL, 0}, &ex->found_cert)) {
    cmp_srv_fail(ex, CG_ENOMEM, "out of memory");
    return;
  }
  cmp_srv_set_phase(ex, PH_VERIFY);
}

void cmp_exchange_set_tls_client(struct cmp_exchange *ex, struct der_view cert) {
  if (cert.p != NULL && !dup_view(ex, cert, &ex->tls_client))
    ex->tls_client = (struct der_view){NULL, 0}; /* out of memory: as if none */
}

/* The profile's binding to the TLS client certificate (cmp_profile). */
static bool tls_bound(struct cmp_exchange *ex) {
  if (ex->prof->tls_signer && ex->auth == AUTH_SIG &&
      (ex->tls_client.p == NULL || !cg_der_view_eq(ex->tls_client, ex->signer.raw))) {
    cmp_srv_fail(ex, CG_ENOT_AUTHORIZED,
                 "the signer is not the TLS client certificate (tls_binding = signer)");
    return false;
  }
  if (ex->prof->tls_mac && ex->mac_ok && ex->tls_client.p == NULL) {
    cmp_srv_fail(ex, CG_ENOT_AUTHORIZED,
                 "a MAC-protected request must come over TLS with a client certificate "
                 "(tls_binding = mac)");
    return false;
  }
  return true;
}

static void verify(struct cmp_exchange *ex) {
  if (!cmp_srv_authenticate(ex) || !tls_bound(ex))
    return;
  ex->checking_body = true;
  if (ex->replay) {
    cmp_srv_verify_replay(ex);
    return;
  }
  cmp_srv_kind(ex->msg.type, false)->verify(ex); /* a known type: check_request() */
}

bool cmp_exchange_compute_is_light(const struct cmp_exchange *ex) {
  return ex->phase == PH_PROTECT && ex->mac_ok;
}

bool cmp_exchange_compute_is_heavy(const struct cmp_exchange *ex) {
  if (ex->phase != PH_VERIFY || (ex->auth != AUTH_PBM && ex->auth != AUTH_PBMAC1))
    return false;
  /* Parameters that do not parse are refused at once: not heavy. */
  struct cmp_mac m;
  if (cmp_mac_parse(ex->msg.hdr.protection_alg, ex->cfg->pbm_max_iterations, &m))
    return false;
  return (m.is_pbmac1 ? m.pbmac1.iterations : m.pbm.iterations) > CMP_HEAVY_ITERATIONS;
}

void cmp_exchange_compute(struct cmp_exchange *ex) {
  assert(ex->phase == PH_VERIFY || ex->phase == PH_PROTECT);
  if (ex->phase == PH_VERIFY) {
    verify(ex);
    return;
  }
  if (ex->phase != PH_PROTECT)
    return;
  if (ex->relayed.p != NULL) {
    /* The CA's answer, as it is. */
    ex->rsp = ex->relayed.p;
    ex->rsp_len = ex->relayed.len;
    cmp_srv_set_phase(ex, PH_DONE);
    return;
  }
  int err = cmp_srv_protect(ex);
  if (err && ex->mac_ok) {
    /* Could not MAC the answer: fall back to a signed error. */
    ex->mac_ok = false;
    ex->err = err;
    ex->detail = "internal failure";
    ex->rsp_type = CMP_ERROR;
    ex->status = CMP_REJECTION;
    err = cmp_srv_protect(ex);
  }
  if (err) {
    ex->rsp = NULL;
    ex->rsp_len = 0;
  }
  cmp_srv_set_phase(ex, ex->note_after ? PH_NOTE : PH_DONE);
}

const struct cmp_issue_request *cmp_exchange_issue_request(const struct cmp_exchange *ex) {
  return &ex->issue;
}

void cmp_exchange_issue_done(struct cmp_exchange *ex, int err, const uint8_t *cert, size_t len) {
  assert(ex->phase == PH_ISSUE);
  struct cmp_ca_answer a = {.err = err, .cert = {cert, len}};
  cmp_exchange_issue_answer(ex, &a);
}

void cmp_exchange_issue_waiting(struct cmp_exchange *ex) { cmp_srv_ca_waiting(ex); }

/* What the CA said, for the device: its own words where it gave some. */
static const char *ca_detail(struct cmp_exchange *ex, const struct cmp_ca_answer *a,
                             const char *fallback) {
  if (a->detail == NULL || a->detail[0] == '\0')
    return fallback;
  char *copy = cg_arena_alloc(ex->arena, strlen(a->detail) + 1);
  if (copy == NULL)
    return fallback;
  memcpy(copy, a->detail, strlen(a->detail) + 1);
  return copy;
}

/* Keeps what the backend needs to ask again, and when. */
static bool keep_ca_state(struct cmp_exchange *ex, const struct cmp_ca_answer *a) {
  if (a->ca_state.len > sizeof ex->txn.ca_state) {
    cmp_srv_fail(ex, CG_ECA_FAILURE, "the CA backend keeps too much state");
    return false;
  }
  if (a->ca_state.p != NULL && a->ca_state.len > 0)
    memcpy(ex->txn.ca_state, a->ca_state.p, ex->txn.ca_state_len = a->ca_state.len);
  ex->txn.ca_check_at = ex->now + (int64_t)a->check_after;
  return true;
}

void cmp_exchange_issue_answer(struct cmp_exchange *ex, const struct cmp_ca_answer *a) {
  assert(ex->phase == PH_ISSUE);
  if (ex->phase != PH_ISSUE)
    return;
  if (a->err) {
    /* The CA's own failures are reported as such (systemFailure or
     * systemUnavail), not blamed on the request; its refusals are passed on. */
    cmp_srv_fail(ex, a->err,
         ca_detail(ex, a, cg_err_class(a->err) == CG_CLASS_PEER ? "the CA refused the request"
                                                               : cg_strerror(a->err)));
    cmp_srv_relay_take(ex, a);
    return;
  }
  if (a->waiting) {
    if (keep_ca_state(ex, a))
      cmp_srv_ca_waiting(ex);
  } else {
    if (ex->prof->relay) {
      /* The CA decides on implicit confirmation; its answer says it. */
      struct cmp_msg m;
      ex->implicit_confirm = ex->msg.hdr.implicit_confirm && a->answer.p != NULL &&
                             cmp_msg_decode(a->answer.p, a->answer.len, &m) == 0 &&
                             m.hdr.implicit_confirm;
    }
    cmp_srv_issued(ex, a->cert.p, a->cert.len);
  }
  if (ex->err == 0)
    cmp_srv_relay_take(ex, a);
}

const struct cmp_revoke_request *cmp_exchange_revoke_request(const struct cmp_exchange *ex) {
  return &ex->revoke;
}

void cmp_exchange_crl_request(const struct cmp_exchange *ex,
                              const struct cmp_revocation_record **revoked, size_t *n) {
  *revoked = ex->revoked;
  *n = ex->n_revoked;
}

void cmp_exchange_crl_done(struct cmp_exchange *ex, int err, const uint8_t *crl, size_t len) {
  assert(ex->phase == PH_CRL);
  /* Without a CRL the genp still answers, with an absent value. */
  if (err == 0 && crl != NULL) {
    ex->crl.p = cg_arena_dup(ex->arena, crl, len);
    ex->crl.len = ex->crl.p ? len : 0;
  }
  cmp_srv_set_phase(ex, PH_PROTECT);
}

size_t cmp_exchange_nested_count(const struct cmp_exchange *ex) { return ex->n_inner; }

struct der_view cmp_exchange_nested_msg(const struct cmp_exchange *ex, size_t i) {
  return i < ex->n_inner ? ex->inner[i] : (struct der_view){NULL, 0};
}

void cmp_exchange_nested_done(struct cmp_exchange *ex, size_t i, const uint8_t *rsp, size_t len) {
  assert(ex->phase == PH_NESTED);
  if (ex->phase != PH_NESTED || i >= ex->n_inner || ex->inner_rsp[i].p != NULL)
    return;
  if (rsp != NULL && (ex->inner_rsp[i].p = cg_arena_dup(ex->arena, rsp, len)) != NULL)
    ex->inner_rsp[i].len = len;
  if (++ex->inner_done < ex->n_inner)
    return;
  /* RFC 9483 §5.2.2.1: an RA that wraps one request to add its protection
   * gets the bare response; a batch (§5.2.2.2) gets its answers nested. */
  if (ex->n_inner == 1 && ex->inner_rsp[0].p != NULL)
    ex->relayed = ex->inner_rsp[0];
  cmp_srv_set_phase(ex, PH_PROTECT);
}

const struct cmp_txn_record *cmp_exchange_txn(const struct cmp_exchange *ex) { return &ex->txn; }

const struct cmp_cert_record *cmp_exchange_cert(const struct cmp_exchange *ex) {
  return ex->has_cert ? &ex->cert : NULL;
}

const struct cmp_revocation_record *cmp_exchange_revocation(const struct cmp_exchange *ex) {
  return ex->has_revocation ? &ex->revocation : NULL;
}

const struct cmp_secret_note *cmp_exchange_secret_note(const struct cmp_exchange *ex) {
  return ex->has_note ? &ex->note : NULL;
}

void cmp_exchange_store_done(struct cmp_exchange *ex, int err) {
  assert(ex->phase == PH_INSERT || ex->phase == PH_UPDATE || ex->phase == PH_NOTE);
  if (ex->background) {
    /* Nobody to answer.  A store that failed is tried again later; a
     * revocation the store refuses (the certificate was revoked meanwhile)
     * fails its transaction instead, once. */
    if ((err == CG_ECERT_REVOKED || err == CG_ENOT_FOUND) && ex->has_revocation) {
      ex->txn.state = ex->txn.prev_state; /* the row did not change */
      cmp_srv_fail(ex, err == CG_ECERT_REVOKED ? err : CG_EBAD_CERT_ID,
           err == CG_ECERT_REVOKED ? "the certificate is already revoked" : "no such certificate");
      return;
    }
    cmp_srv_set_phase(ex, PH_DONE);
    return;
  }
  if (ex->phase == PH_NOTE) {
    cmp_srv_set_phase(ex, PH_DONE); /* the answer was made before; whatever the store said */
    return;
  }
  if (ex->err != 0) {
    /* A rejected transaction was recorded (or could not be); answer the error
     * that caused it either way. */
    cmp_srv_set_phase(ex, PH_PROTECT);
    return;
  }
  switch (err) {
  case 0:
    /* Stored: the answer says what it is (grantedWithMods stays, see
     * srv_enrol.c). */
    if (ex->waiting)
      ex->status = CMP_WAITING;
    else if (ex->status != CMP_GRANTED_WITH_MODS)
      ex->status = CMP_ACCEPTED;
    cmp_srv_set_phase(ex, PH_PROTECT);
    return;
  case CG_EEXISTS:
    cmp_srv_fail(ex, CG_ETXID_IN_USE, "transactionID already in use");
    return;
  case CG_ECERT_EXISTS:
    /* A CA that gives out a serial twice: nothing of it is recorded. */
    cmp_srv_fail(ex, err, "the CA issued a serial number it had issued before");
    return;
  case CG_ECERT_REVOKED:
    cmp_srv_fail(ex, err, "the certificate is already revoked");
    return;
  case CG_EPENDING_LIMIT:
    /* Nothing was written: record the request as rejected instead. */
    ex->waiting = false;
    cmp_srv_set_phase(ex, PH_VERIFY); /* nothing was written: decide again */
    cmp_srv_fail(ex, err, "too many requests are waiting for approval; try again later");
    return;
  case CG_EBAD_MAC:
    /* The secret reached its use limit while this request was in flight. */
    cmp_srv_fail(ex, err, "message authentication failed");
    return;
  case CG_ESTATE:
  case CG_ENOT_FOUND:
    cmp_srv_fail(ex, ex->phase == PH_INSERT ? CG_EBAD_CERT_ID : CG_EBAD_REQUEST,
                 ex->phase == PH_INSERT ? "no such certificate"
                                        : "transaction is not awaiting confirmation");
    return;
  default:
    cmp_srv_fail(ex, err, "store failure");
    return;
  }
}

bool cmp_exchange_abandon(struct cmp_exchange *ex) {
  if (ex->phase != PH_VERIFY || ex->background)
    return false;
  ex->err = CG_ECLOSED;
  ex->detail = "the client went away before its request was checked";
  ex->rsp = NULL;
  ex->rsp_len = 0;
  ex->dropped = true;
  cmp_srv_set_phase(ex, PH_DONE);
  return true;
}

void cmp_exchange_response(const struct cmp_exchange *ex, const uint8_t **p, size_t *len) {
  *p = ex->rsp;
  *len = ex->rsp_len;
}

void cmp_exchange_info(const struct cmp_exchange *ex, struct cmp_exchange_info *info) {
  info->req_type = ex->msg.type >= 0 ? cmp_body_name(ex->msg.type) : "?";
  /* The answer's type is known once it is built (it may go out before the
   * exchange is done: a refusal, then its note). */
  info->rsp_type = ex->phase == PH_DONE || ex->rsp != NULL ? cmp_body_name(ex->rsp_type) : "-";
  info->txid = ex->txid_hex;
  info->ref = ex->ref;
  info->status = ex->status;
  info->fail_info = ex->err ? (int)cg_err_failinfo(ex->err) : CG_FI_NONE;
  info->detail = ex->detail ? ex->detail : "";
  info->serial = ex->has_cert ? ex->cert.serial : ex->has_revocation ? ex->revocation.serial : "";
  info->dropped = ex->dropped;
}
