/*
 * srv_enrol.c - certificate requests (ir, cr, kur, p10cr; RFC 9483 §4.1) and
 * their confirmation (certConf / pkiConf, RFC 9810 §5.3.18).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/encode.h"
#include "cmp/server_int.h"
#include "core/cms.h"
#include "core/err.h"
#include "core/oid.h"

/* RFC 9483 §4.1.3: a kur is signed with the certificate it updates, which we
 * issued and which is still valid; oldCertId, when present, names it.  On a
 * profile with on_behalf, the credential that enrolled the certificate (an
 * RA in front of us, RFC 9483 §5.3) may update it too, naming it in
 * oldCertId. */
static bool check_key_update(struct cmp_exchange *ex, const struct cmp_cert_req *cr) {
  if (!ex->cert_found) {
    cmp_srv_fail(ex, CG_EBAD_CERT_ID, "the certificate to update is unknown");
    return false;
  }
  if (ex->cert_revoked) {
    cmp_srv_fail(ex, CG_ECERT_REVOKED, "the certificate to update is revoked");
    return false;
  }
  /* One update of a certificate, a confirmation at a time: its successor
   * is updated next (RFC 9483 §4.1.3). */
  if (ex->cert_update_pending) {
    cmp_srv_fail(ex, CG_EBAD_REQUEST, "a kur of this certificate awaits its confirmation");
    return false;
  }
  if (ex->cert_updated) {
    cmp_srv_fail(ex, CG_EBAD_REQUEST,
                 "the certificate was updated already: its successor is the one to update");
    return false;
  }
  /* RFC 9483 §4.1.3: the template's subject, when given, names the EE. */
  static const uint8_t null_dn[] = {0x30, 0x00};
  if (cg_der_view_is(cr->tmpl.subject, null_dn, sizeof null_dn)) {
    cmp_srv_fail(ex, CG_EBAD_TEMPLATE, "a kur with an empty subject names nobody");
    return false;
  }
  bool by_itself = ex->auth == AUTH_SIG && cg_der_view_eq(ex->msg.extra_certs[0], ex->found_cert);
  bool by_enroller = ex->prof->on_behalf && cr->old_cert_serial.p != NULL &&
                     ex->found_cert_auth_ref[0] != '\0' &&
                     strcmp(ex->found_cert_auth_ref, ex->ref) == 0;
  if (!by_itself && !by_enroller && !ex->acts_for_others) {
    /* RFC 9483 §4.1.3: a kur is signed with the key of the certificate it
     * updates.  A MAC is the wrong kind of protection for it
     * (wrongIntegrity); another signer is not authorized. */
    if (ex->auth == AUTH_PBM || ex->auth == AUTH_PBMAC1)
      cmp_srv_fail(ex, CG_EWRONG_INTEGRITY,
                   "a kur must be signed with the certificate it updates, not MAC-protected");
    else
      cmp_srv_fail(ex, CG_ENOT_AUTHORIZED, "a kur must be signed with the certificate it updates");
    return false;
  }
  struct cg_x509 old;
  if (cg_x509_parse(ex->found_cert.p, ex->found_cert.len, &old)) {
    cmp_srv_fail(ex, CG_EBAD_CERT_ID, "the certificate to update is unreadable");
    return false;
  }
  /* RFC 9483 §4.1.3: a key update certifies a new key. */
  if (!ex->prof->kur_same_key && ex->req_spki.p != NULL && cg_der_view_eq(ex->req_spki, old.spki)) {
    cmp_srv_fail(ex, CG_EBAD_TEMPLATE,
                 "a kur certifies a new key, not the key of the certificate it updates "
                 "(kur_same_key)");
    return false;
  }
  if (cr->old_cert_issuer.p != NULL) {
    /* GeneralName directoryName [4] { Name } */
    struct der_reader r, in;
    struct der_tlv t;
    cg_der_reader_view(&r, cr->old_cert_issuer);
    if (cg_der_enter(&r, DER_CTX_CONS(4), &in) || cg_der_expect(&in, DER_SEQUENCE, &t) ||
        !cg_der_view_eq(t.raw, old.issuer)) {
      cmp_srv_fail(ex, CG_EBAD_CERT_ID, "oldCertId does not name the signer certificate");
      return false;
    }
  }
  return true;
}

/* The challenge of the profile (RFC 9483 §4.1.1 regToken / PKCS#9
 * challengePassword): a fixed value, or the device's own, which only a MAC
 * request can name (its secret's row holds it).  Compared in constant time. */
static bool check_challenge(struct cmp_exchange *ex, struct der_view given) {
  const struct cmp_profile *p = ex->prof;
  if (p->challenge == CMP_CHALLENGE_NONE)
    return true;
  if (given.p == NULL || given.len == 0) {
    cmp_srv_fail(ex, CG_EBAD_REQUEST, "the challenge is missing (regToken or challengePassword)");
    return false;
  }
  uint8_t want[CMP_SECRET_MAX];
  size_t want_len = 0;
  if (p->challenge == CMP_CHALLENGE_FIXED) {
    want_len = strlen(p->challenge_value);
    memcpy(want, p->challenge_value, want_len < sizeof want ? want_len : sizeof want);
  } else {
    char aad_ref[CMP_MAX_REF + 16];
    snprintf(aad_ref, sizeof aad_ref, "challenge:%s", ex->secret.reference);
    if (ex->auth == AUTH_SIG || ex->auth == AUTH_RA || ex->secret.challenge_enc_len == 0 ||
        cmp_secret_open(ex->cfg->master_key, aad_ref, ex->secret.challenge_enc,
                        ex->secret.challenge_enc_len, want, sizeof want, &want_len)) {
      cmp_srv_fail(ex, CG_EBAD_REQUEST, "no challenge is known for this sender");
      return false;
    }
  }
  bool ok = want_len == given.len && cg_ct_equal(want, given.p, want_len);
  cg_wipe(want, sizeof want);
  if (!ok)
    cmp_srv_fail(ex, CG_EBAD_REQUEST, "the challenge is wrong");
  return ok;
}

bool cmp_srv_build_issue_request(struct cmp_exchange *ex) {
  struct cmp_issue_request *is = &ex->issue;
  const struct cmp_header *h = &ex->msg.hdr;
  is->profile = ex->profile;
  is->received_at = ex->txn.created_at;
  is->type = ex->msg.type;
  is->message = (struct der_view){ex->req, ex->req_len};
  is->body = ex->msg.body;
  is->transaction_id = h->transaction_id;
  is->sender_nonce = h->sender_nonce;
  is->pvno = h->pvno;
  is->cert_req_id = ex->cert_req_id;
  if (ex->background && ex->txn.ca_state_len > 0)
    is->ca_state = (struct der_view){ex->txn.ca_state, ex->txn.ca_state_len};
  if (ex->mac_ok)
    is->secret = (struct der_view){ex->secret_plain, ex->secret_len};
  if (ex->msg.type == CMP_P10CR) {
    is->subject = ex->p10.subject;
    is->spki = ex->p10.spki;
    is->extensions = ex->p10.extensions;
  } else {
    const struct cmp_cert_template *tp = &ex->msg.u.cert_req.req[0].tmpl;
    is->subject = tp->subject;
    struct cg_x509 old;
    if (ex->msg.type == CMP_KUR && (is->subject.p == NULL || is->subject.len <= 2)) {
      /* RFC 9483 §4.1.3: the subject of the certificate updated by default */
      if (ex->found_cert.p != NULL &&
          cg_x509_parse(ex->found_cert.p, ex->found_cert.len, &old) == 0)
        is->subject = old.subject;
      else if (ex->auth == AUTH_SIG)
        is->subject = ex->signer.subject;
    }
    /* made when the request was read (srv_template.c); central key
     * generation makes it once the request is checked (make_central_key()) */
    is->spki = ex->req_spki;
    is->extensions = tp->extensions;
    is->has_not_before = tp->has_not_before;
    is->not_before = tp->not_before;
    is->has_not_after = tp->has_not_after;
    is->not_after = tp->not_after;
  }
  if (is->subject.p == NULL || is->subject.len <= 2) {
    cmp_srv_fail(ex, CG_EBAD_TEMPLATE, "the request has no subject");
    return false;
  }
  return true;
}

/* RFC 4211 §4: the requester proves it holds the private key. */
static bool check_pop(struct cmp_exchange *ex, const struct cmp_cert_req *cr) {
  if (cr == NULL) {
    if (cmp_p10_verify(&ex->p10) == 0)
      return true;
    cmp_srv_fail(ex, CG_EBAD_POP, "the PKCS#10 signature does not verify");
    return false;
  }
  if (ex->kga) {
    /* RFC 9483 §4.1.6: there is no key to prove possession of. */
    if (cr->pop == CMP_POP_NONE || (cr->pop == CMP_POP_RA_VERIFIED && ex->prof->allow_ra_verified))
      return true;
    cmp_srv_fail(ex, CG_EBAD_POP,
                 "a request for a centrally generated key carries no proof of possession");
    return false;
  }
  if (cr->pop == CMP_POP_RA_VERIFIED) {
    if (ex->prof->allow_ra_verified)
      return true;
    cmp_srv_fail(ex, CG_EBAD_POP, "raVerified is not accepted for this profile");
    return false;
  }
  if (cr->pop != CMP_POP_SIGNATURE) {
    cmp_srv_fail(ex, CG_EBAD_POP, "a signature proof of possession is required");
    return false;
  }
  if (cmp_verify_pop(cr, ex->issue.spki.p, ex->issue.spki.len) == 0)
    return true;
  cmp_srv_fail(ex, CG_EBAD_POP, "proof of possession does not verify");
  return false;
}

/* RFC 9483 §4.1.6: the key pair of a request that asked for one, made now
 * that the request is checked; the private key leaves in an EnvelopedData
 * (core/cms.h) signed by the RA and encrypted for the device: with the
 * shared secret of a MAC-protected request, for the key of a signed one's
 * protection certificate.  The key itself is wiped when freed here; only
 * the envelope and the public key stay with the exchange. */
static bool make_central_key(struct cmp_exchange *ex) {
  const struct cmp_server_cfg *cfg = ex->cfg;
  struct cg_cms_recipient to;
  memset(&to, 0, sizeof to);
  if (ex->mac_ok) {
    to.kind = CG_CMS_PASSWORD;
    to.password = ex->secret_plain;
    to.password_len = ex->secret_len;
    to.iterations = ex->prof->kga_iterations;
    to.wrap = ex->prof->kga_aes_wrap ? CG_CMS_AES_WRAP : CG_CMS_PWRI_KEK;
  } else if (ex->auth == AUTH_SIG) {
    to.kind = CG_CMS_CERT;
    to.cert = ex->signer.raw;
  } else {
    cmp_srv_fail(ex, CG_ENOT_AUTHORIZED,
                 "a centrally generated key goes only to a device that protects its request");
    return false;
  }
  struct cg_cms_signer signer = {cfg->ra_key, cfg->ra_scheme, cfg->ra_hash, cfg->ra_chain,
                                 cfg->n_ra_chain};
  struct cg_key *key = NULL;
  uint8_t *env = NULL;
  size_t env_len = 0, spki_len = 0;
  uint8_t *spki = cg_arena_alloc(ex->arena, 1200);
  int err = spki == NULL ? CG_ENOMEM : cg_key_generate(ex->kga_type, ex->kga_bits, &key);
  if (err == 0)
    err = cg_key_spki(key, spki, 1200, &spki_len);
  if (err == 0)
    err = cg_cms_key_package(key, &signer, &to, &env, &env_len);
  cg_key_free(key);
  uint8_t *kept = err == 0 ? cg_arena_dup(ex->arena, env, env_len) : NULL;
  free(env);
  if (err == CG_EBAD_ALG) {
    cmp_srv_fail(ex, CG_EBAD_ALG,
                 "no key can be encrypted for the protection certificate's key (RSA or EC is "
                 "needed)");
    return false;
  }
  if (err != 0 || kept == NULL) {
    cmp_srv_fail(ex, err != 0 ? err : CG_ENOMEM, "the key pair could not be made");
    return false;
  }
  ex->issue.spki = (struct der_view){spki, spki_len};
  ex->key_envelope = (struct der_view){kept, env_len};
  return true;
}

/* The answer is ready to be written: its type follows the request, and a
 * MAC-authenticated secret's use is counted with the transaction, all or
 * nothing, in the same store step. */
static void store_answer(struct cmp_exchange *ex) {
  ex->rsp_type = cmp_srv_answer_type(ex->msg.type);
  if (ex->mac_ok) {
    struct cmp_secret_note *n = &ex->note;
    memset(n, 0, sizeof *n);
    snprintf(n->reference, sizeof n->reference, "%s", ex->secret.reference);
    n->used = true;
    n->at = ex->now;
    ex->has_note = true;
  }
  cmp_srv_set_phase(ex, PH_INSERT);
}

/* The request waits (see cmp_srv_enter_waiting()); its answer is the ip / cp / kup
 * with status waiting. */
static void wait_in(struct cmp_exchange *ex, enum cmp_txn_state state) {
  if (cmp_srv_enter_waiting(ex, state))
    store_answer(ex);
}

static int read_cert_request(struct cmp_exchange *ex) {
  if (ex->msg.type == CMP_P10CR) {
    ex->cert_req_id = -1; /* RFC 9483 §4.1.4 */
    if (cmp_p10_decode(ex->msg.content.p, ex->msg.content.len, &ex->p10)) {
      ex->detail = "the PKCS#10 request is malformed";
      return CG_EBAD_DATA;
    }
  } else if (ex->msg.u.cert_req.n != 1) {
    /* RFC 9483 §4.1.1: one CertReqMsg per request. */
    ex->detail = "exactly one certificate request is supported";
    return CG_EBAD_REQUEST;
  } else {
    ex->cert_req_id = ex->msg.u.cert_req.req[0].cert_req_id; /* answered with it */
  }
  return 0;
}

static void verify_cert_request(struct cmp_exchange *ex) {
  const struct cmp_header *h = &ex->msg.hdr;
  const struct cmp_cert_req *cr = NULL;
  if (ex->msg.type != CMP_P10CR) {
    cr = &ex->msg.u.cert_req.req[0];
    ex->cert_req_id = cr->cert_req_id;
  }
  cmp_srv_init_txn(ex);

  /* RFC 9810 §5.1.1: a new transaction must not reuse a transactionID. */
  if (ex->txn_found) {
    cmp_srv_fail(ex, CG_ETXID_IN_USE, "transactionID already in use");
    return;
  }
  /* A key reported compromised is never certified again; one in force in
   * another certificate only where the profile allows. */
  if (ex->key_compromised) {
    cmp_srv_fail(ex, CG_EBAD_TEMPLATE,
                 "this public key was reported compromised: a certificate of it was revoked "
                 "for keyCompromise");
    return;
  }
  if (ex->key_certified && !ex->prof->key_reuse &&
      !(ex->msg.type == CMP_KUR && ex->prof->kur_same_key)) {
    cmp_srv_fail(ex, CG_EBAD_TEMPLATE,
                 "this public key is certified already in a certificate in force (key_reuse)");
    return;
  }
  /* RFC 9483 §4.1.1: with one request per message, certReqId MUST be 0. */
  if (cr != NULL && cr->cert_req_id != 0) {
    cmp_srv_fail(ex, CG_EBAD_REQUEST, "certReqId must be 0");
    return;
  }
  if (ex->msg.type == CMP_KUR && !check_key_update(ex, cr))
    return;
  if (!cmp_srv_build_issue_request(ex) || !cmp_srv_check_names(ex) || !check_pop(ex, cr))
    return;
  if (ex->msg.type != CMP_KUR &&
      !check_challenge(ex, cr ? cr->reg_token : ex->p10.challenge_password))
    return;
  if (ex->kga && !make_central_key(ex))
    return;
  /* RFC 9483 §4.1.1: implicitConfirm is granted only where the profile says so. */
  ex->implicit_confirm = h->implicit_confirm && ex->prof->implicit_confirm;
  if (ex->prof->manual_approval) {
    wait_in(ex, CMP_TXN_PENDING_APPROVAL);
    return;
  }
  cmp_srv_set_phase(ex, PH_ISSUE);
}

void cmp_srv_ca_waiting(struct cmp_exchange *ex) {
  if (ex->kga) {
    /* The key made for the device lives only as long as this exchange. */
    cmp_srv_fail(ex, CG_ECA_UNAVAILABLE,
                 "the CA holds the request, and a centrally generated key is not kept: ask "
                 "again later");
    return;
  }
  if (!ex->background) {
    wait_in(ex, CMP_TXN_PENDING_CA);
    return;
  }
  /* Asked again and still waiting: the row stays pending_ca, its turn
   * moves behind the others. */
  ex->txn.prev_state = ex->txn.state;
  cmp_srv_touch_background(ex);
  cmp_srv_set_phase(ex, PH_UPDATE);
}

bool cmp_srv_take_cert(struct cmp_exchange *ex, const uint8_t *cert, size_t len) {
  uint8_t *der = cg_arena_dup(ex->arena, cert, len);
  struct cg_x509 x;
  if (der == NULL) {
    cmp_srv_fail(ex, CG_ENOMEM, "out of memory");
    return false;
  }
  if (cg_x509_parse(der, len, &x)) {
    cmp_srv_fail(ex, CG_ECA_UNAVAILABLE, "the CA returned an unusable certificate");
    return false;
  }
  /* Names as text take at most 4 characters per octet (core/x509.h), so
   * whatever subject a request was allowed to ask for fits. */
  size_t subject_cap = 4 * x.subject.len + 1, issuer_cap = 4 * x.issuer.len + 1;
  char *subject = cg_arena_alloc(ex->arena, subject_cap);
  char *issuer = cg_arena_alloc(ex->arena, issuer_cap);
  char *sans = cg_arena_alloc(ex->arena, 1024), *key_type = cg_arena_alloc(ex->arena, 64);
  if (subject == NULL || issuer == NULL || sans == NULL || key_type == NULL) {
    cmp_srv_fail(ex, CG_ENOMEM, "out of memory");
    return false;
  }
  struct cmp_cert_record *c = &ex->cert;
  if (cg_name_to_string(x.subject, subject, subject_cap) ||
      cg_name_to_string(x.issuer, issuer, issuer_cap) || cg_spki_describe(x.spki, key_type, 64)) {
    cmp_srv_fail(ex, CG_ECA_UNAVAILABLE, "the CA returned an unusable certificate");
    return false;
  }
  struct der_view serial = x.serial;
  if (serial.len > 1 && serial.p[0] == 0) { /* the sign octet is not part of the number */
    serial.p++;
    serial.len--;
  }
  if (serial.len > CMP_MAX_SERIAL) {
    cmp_srv_fail(ex, CG_ECA_UNAVAILABLE, "the CA returned an unusable certificate");
    return false;
  }
  cg_hex(serial.p, serial.len, c->serial);
  c->subject = subject;
  c->issuer = issuer;
  /* The names shown to operators; a list too long for the column is cut
   * (the DER beside it has them all). */
  if (cg_x509_san_string(x.extensions, sans, 1024) == CG_EDER)
    sans[0] = '\0';
  c->sans = sans;
  c->key_type = key_type;
  ex->cert_extensions = x.extensions;
  if (cg_spki_hash_hex(x.spki, c->key_hash) != 0)
    c->key_hash[0] = '\0';
  c->not_before = x.not_before;
  c->not_after = x.not_after;
  c->der = der;
  c->der_len = len;
  snprintf(c->txid, sizeof c->txid, "%s", ex->txid_hex);
  snprintf(c->profile, sizeof c->profile, "%s", ex->profile);
  ex->has_cert = true;
  snprintf(ex->txn.cert_serial, sizeof ex->txn.cert_serial, "%s", c->serial);
  return true;
}

/* RFC 9810 §5.2.1: the CA may issue otherwise than asked, and PKIStatus
 * grantedWithMods tells the requester so ("you got something like what you
 * asked for").  The extensions a request asks for that the profile decides
 * (keyUsage, extendedKeyUsage, basicConstraints; subjectAltName where it is
 * not copied): when the certificate does not carry one as asked, the answer
 * says grantedWithMods and names them in its statusString. */
static void note_modifications(struct cmp_exchange *ex) {
  static const struct {
    enum cg_oid_id oid;
    const char *name;
  } decided[] = {
      {CG_OID_EXT_KEY_USAGE, "keyUsage"},
      {CG_OID_EXT_EKU, "extendedKeyUsage"},
      {CG_OID_EXT_BASIC_CONSTRAINTS, "basicConstraints"},
      {CG_OID_EXT_SAN, "subjectAltName"},
  };
  struct der_view asked = ex->msg.type == CMP_P10CR ? ex->p10.extensions
                                                    : ex->msg.u.cert_req.req[0].tmpl.extensions;
  if (asked.p == NULL)
    return;
  char why[160] = "";
  for (size_t i = 0; i < sizeof decided / sizeof decided[0]; i++) {
    struct der_view want, got;
    bool crit_want, crit_got;
    struct der_view oid = cg_oid(decided[i].oid);
    if (cg_x509_find_ext(asked, oid, &want, &crit_want) != 1)
      continue;
    if (cg_x509_find_ext(ex->cert_extensions, oid, &got, &crit_got) == 1 &&
        cg_der_view_eq(want, got))
      continue;
    snprintf(why + strlen(why), sizeof why - strlen(why), "%s%s", why[0] ? ", " : "",
             decided[i].name);
  }
  if (why[0] == '\0')
    return;
  char *text = cg_arena_alloc(ex->arena, strlen(why) + 64);
  if (text != NULL)
    sprintf(text, "granted with modifications: %s as the profile sets it", why);
  ex->status = CMP_GRANTED_WITH_MODS;
  ex->detail = text != NULL ? text : "granted with modifications";
}

void cmp_srv_issued(struct cmp_exchange *ex, const uint8_t *cert, size_t len) {
  if (!cmp_srv_take_cert(ex, cert, len))
    return;
  struct cmp_txn_record *t = &ex->txn;
  if (ex->background) {
    /* A background request: the certificate waits in the store for the
     * device's next pollReq. */
    cmp_srv_touch_background(ex);
    if (cmp_txn_set_state(t, CMP_TXN_ISSUED)) {
      cmp_srv_fail(ex, CG_ESTATE, "illegal state change");
      return;
    }
    cmp_srv_set_phase(ex, PH_UPDATE);
    return;
  }
  if (cg_random(ex->sender_nonce, sizeof ex->sender_nonce)) {
    cmp_srv_fail(ex, CG_ECRYPTO, "no randomness");
    return;
  }
  cg_hex(ex->sender_nonce, sizeof ex->sender_nonce, t->sender_nonce);
  note_modifications(ex); /* of the certificate cmp_srv_take_cert() read */
  if (cmp_txn_set_state(t, ex->implicit_confirm ? CMP_TXN_CONFIRMED : CMP_TXN_ISSUED)) {
    cmp_srv_fail(ex, CG_ESTATE, "illegal state change");
    return;
  }
  store_answer(ex);
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
    /* RFC 9481 §3.3: certHash of an Ed25519-signed certificate is SHA-512;
     * Ed448 would need SHAKE256, which is not offered. */
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
    cmp_srv_fail(ex, CG_EBAD_REQUEST, "no such transaction for this sender");
    return;
  }
  *t = ex->stored;
  if (t->state == CMP_TXN_CONFIRMED) {
    /* RFC 9810 §5.2.3 certConfirmed: "the certificate has already been
     * confirmed". */
    cmp_srv_fail(ex, CG_ECERT_CONFIRMED, "the certificate has already been confirmed");
    return;
  }
  if (t->state != CMP_TXN_ISSUED) {
    cmp_srv_fail(ex, CG_EBAD_REQUEST, "transaction is not awaiting confirmation");
    return;
  }
  char nonce_hex[2 * CMP_MAX_NONCE + 1] = "";
  if (h->recip_nonce.p != NULL && h->recip_nonce.len <= CMP_MAX_NONCE)
    cg_hex(h->recip_nonce.p, h->recip_nonce.len, nonce_hex);
  if (strcmp(nonce_hex, t->sender_nonce) != 0) {
    cmp_srv_fail(ex, CG_EBAD_RECIP_NONCE, "recipNonce does not match our senderNonce");
    return;
  }
  /* RFC 9810 §5.1.3.1: one protection throughout a transaction (a PBM
   * request confirmed under PBMAC1, or signed, is not the same sender's). */
  if (t->protection[0] != '\0' && strcmp(t->protection, cmp_srv_protection_name(ex)) != 0) {
    cmp_srv_fail(ex, CG_EWRONG_INTEGRITY,
                 "the certConf is protected otherwise than the request it confirms");
    return;
  }
  /* RFC 9810 §5.1.1: a fresh senderNonce in every message. */
  char sender_hex[2 * CMP_MAX_NONCE + 1] = "";
  if (h->sender_nonce.p != NULL && h->sender_nonce.len <= CMP_MAX_NONCE)
    cg_hex(h->sender_nonce.p, h->sender_nonce.len, sender_hex);
  if (t->device_nonce[0] != '\0' && strcmp(sender_hex, t->device_nonce) == 0) {
    cmp_srv_fail(ex, CG_EBAD_SENDER_NONCE, "the certConf reuses the request's senderNonce");
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
      cmp_srv_fail(ex, CG_EBAD_CERT_ID, "certReqId does not match the request");
      return;
    }
    if (ex->stored_cert.p == NULL ||
        cert_hash(ex->stored_cert, st->hash_alg_oid, hash, &hash_len) ||
        st->cert_hash.len != hash_len || !cg_ct_equal(hash, st->cert_hash.p, hash_len)) {
      cmp_srv_fail(ex, CG_EBAD_CERT_ID, "certHash does not match the issued certificate");
      return;
    }
    /* RFC 9810 §5.2.3: failInfo goes with a rejection only. */
    if (st->has_status && st->status.has_fail_info && st->status.status != CMP_REJECTION) {
      cmp_srv_fail(ex, CG_EBAD_REQUEST, "the certConf has a failInfo with a status that accepts");
      return;
    }
    if (st->has_status && st->status.status == CMP_REJECTION)
      to = CMP_TXN_REVOKED_ON_REJECT;
  }
  t->updated_at = ex->now;
  t->sender_nonce[0] = 0;
  if (to == CMP_TXN_REVOKED_ON_REJECT) {
    /* RFC 9810 §5.3.18: a certificate the requester rejects is revoked. */
    struct cmp_revocation_record *r = &ex->revocation;
    memcpy(r->serial, t->cert_serial, sizeof r->serial);
    r->reason = -1;
    r->revoked_at = ex->now;
    ex->has_revocation = true;
  }
  if (cmp_txn_set_state(t, to)) {
    cmp_srv_fail(ex, CG_ESTATE, "illegal state change");
    return;
  }
  ex->rsp_type = CMP_PKICONF;
  /* Relaying: the certConf goes to the CA, which revokes a rejected
   * certificate itself. */
  if (cmp_srv_relay_forward(ex))
    return;
  /* A rejected certificate is revoked at the CA too (a CA that keeps no
   * record of its own has nothing to do). */
  if (ex->has_revocation)
    cmp_srv_prepare_revoke(ex, ex->stored_cert, -1, false);
  else
    cmp_srv_set_phase(ex, PH_UPDATE);
}

/* The body of ip/cp/kup/pkiconf. */
static void write_enrol_body(struct cmp_exchange *ex, struct der_writer *w) {
  if (ex->rsp_type == CMP_PKICONF) {
    cmp_write_pkiconf_body(w);
    return;
  }
  if (ex->waiting) {
    cmp_write_cert_rep_body(w, ex->rsp_type, ex->cert_req_id, CMP_WAITING, CG_FI_NONE,
                            cmp_waiting_reason(ex), (struct der_view){NULL, 0},
                            (struct der_view){NULL, 0});
    return;
  }
  if (ex->status == CMP_REJECTION) {
    /* RFC 9483 §4.1.1: the certifiedKeyPair is omitted. */
    cmp_write_cert_rep_body(w, ex->rsp_type, ex->cert_req_id, CMP_REJECTION,
                            cg_err_failinfo(ex->err), ex->detail, (struct der_view){NULL, 0},
                            (struct der_view){NULL, 0});
    return;
  }
  cmp_write_cert_rep_body(w, ex->rsp_type, ex->cert_req_id, ex->status, CG_FI_NONE,
                          ex->status == CMP_GRANTED_WITH_MODS ? ex->detail : NULL,
                          (struct der_view){ex->cert.der, ex->cert.der_len}, ex->key_envelope);
}

const struct cmp_srv_kind cmp_srv_enrol_kinds[] = {
    {CMP_BIT(CMP_IR) | CMP_BIT(CMP_CR) | CMP_BIT(CMP_KUR) | CMP_BIT(CMP_P10CR),
     CMP_BIT(CMP_IP) | CMP_BIT(CMP_CP) | CMP_BIT(CMP_KUP), read_cert_request, verify_cert_request,
     write_enrol_body},
    {CMP_BIT(CMP_CERTCONF), CMP_BIT(CMP_PKICONF), NULL, verify_cert_conf, write_enrol_body},
    {0},
};
