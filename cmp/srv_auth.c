/*
 * srv_auth.c - who sent the request, and the protection of the answer.
 *
 * MAC protection (PasswordBasedMac, RFC 9810 §5.1.3.1; PBMAC1, RFC 9481
 * §6.1.1) is checked with the secret the store holds for the senderKID.
 * Signature protection (RFC 9810 §5.1.3.3, RFC 9483 §3.2) is checked with the
 * first certificate of extraCerts, whose path to the profile's trust anchors
 * is validated first.  Answers to MAC-protected requests are MAC-protected
 * with the request's algorithm and parameters, salt included (RFC 9810
 * §5.1.3.1 recommends that the PBMParameter fields stay the same throughout
 * a transaction), so the key derived to check the request protects the
 * answer too: one costly derivation per message received, none per answer.
 * All other answers are signed with the RA key.
 */
#include <stdio.h>
#include <string.h>

#include "cmp/encode.h"
#include "cmp/server_int.h"
#include "core/certbuild.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509_verify.h"

/* A use of a secret is an enrolment: the rest of its transaction (certConf,
 * pollReq) and other messages do not count against max_uses. */
static bool starts_enrolment(int type) {
  return type == CMP_IR || type == CMP_CR || type == CMP_KUR || type == CMP_P10CR;
}

/* The secret of the reference, if it may be used now for this profile.  An
 * unusable secret is replaced by random bytes, so that the MAC check costs the
 * same whether or not the reference exists. */
static void load_secret(struct cmp_exchange *ex) {
  const struct cmp_secret_record *s = &ex->secret;
  const char *refused = NULL;
  ex->secret_row = ex->secret_found;
  if (!ex->secret_found)
    refused = "unknown reference";
  else if (s->revoked)
    refused = "secret revoked";
  else if (s->expires_at != 0 && ex->now >= s->expires_at)
    refused = "secret expired";
  else if (s->locked_until != 0 && ex->now < s->locked_until)
    refused = "reference locked after failed MACs";
  else if (s->max_uses != 0 && s->uses >= s->max_uses && starts_enrolment(ex->msg.type) &&
           !ex->replay)
    refused = "secret used up"; /* its own certConf and pollReq still pass */
  else if (strcmp(s->profile, ex->profile) != 0)
    refused = "secret belongs to another profile";
  else if (cmp_secret_open(ex->cfg->master_key, s->reference, s->enc, s->enc_len,
                           ex->secret_plain, sizeof ex->secret_plain, &ex->secret_len) != 0)
    ex->secret_broken = true; /* the gateway's fault, not the device's */
  if (refused != NULL) {
    ex->secret_len = CMP_SECRET_GEN_LEN;
    cg_random(ex->secret_plain, ex->secret_len);
  }
  ex->secret_found = refused == NULL;
  ex->detail = refused; /* the real reason, for the audit log only */
}

/* A refusal of an existing reference is counted (and may lock it) and
 * audited with its real reason; unknown references leave no trace in the
 * store, so probing cannot grow it. */
static void note_failure(struct cmp_exchange *ex, const char *reason) {
  if (!ex->secret_row)
    return;
  struct cmp_secret_note *n = &ex->note;
  memset(n, 0, sizeof *n);
  snprintf(n->reference, sizeof n->reference, "%s", ex->secret.reference);
  n->failed = true;
  n->lock_after = ex->cfg->max_failed_macs;
  n->lock_until = ex->now + ex->cfg->lockout_seconds;
  n->at = ex->now;
  snprintf(n->kind, sizeof n->kind, "%s", "secret.refused");
  snprintf(n->detail, sizeof n->detail, "%s", reason);
  ex->has_note = true;
}

static bool authenticate_mac(struct cmp_exchange *ex) {
  int err = cmp_mac_parse(ex->msg.hdr.protection_alg, ex->cfg->pbm_max_iterations, &ex->mac);
  if (err) {
    cmp_srv_fail(ex, err == CG_EBAD_ALG ? err : CG_EBAD_DATA, "MAC parameters not accepted");
    return false;
  }
  load_secret(ex);
  if (ex->secret_broken) {
    /* Not a failed MAC: nothing is counted against the device (no lockout);
     * the operator must look (systemFailure, logged as an error). */
    cmp_srv_fail(ex, CG_ECRYPTO, "the stored secret of this reference cannot be decrypted (wrong "
                         "master key, or a damaged row)");
    return false;
  }
  bool mac_matches = cmp_mac_derive(&ex->mac, ex->secret_plain, ex->secret_len) == 0 &&
                     cmp_mac_matches(&ex->mac, &ex->msg);
  if (!ex->secret_found || !mac_matches) {
    /* Wrong secret, unknown, expired, used-up or locked reference and a
     * corrupted MAC all answer alike; the audit log keeps the difference. */
    note_failure(ex, ex->secret_found ? "wrong MAC" : ex->detail);
    cmp_srv_fail(ex, CG_EBAD_MAC, "message authentication failed");
    return false;
  }
  ex->mac_ok = true;
  return true;
}

static bool authenticate_sig(struct cmp_exchange *ex) {
  /* A certificate we issued and revoked signs nothing any more (rr and kur
   * of it are answered certRevoked by their own checks). */
  if (ex->cert_revoked && ex->msg.type != CMP_RR && ex->msg.type != CMP_KUR &&
      !strcmp(ex->subject_serial, ex->signer_serial) &&
      cg_der_view_eq(ex->found_cert, ex->msg.extra_certs[0])) {
    cmp_srv_fail(ex, CG_ECERT_REVOKED, "the signer certificate is revoked");
    return false;
  }
  /* Nor does one that was updated (a kur of it confirmed): its successor
   * signs now; it may still be revoked (rr), and a kur of it is answered
   * by the kur's own checks. */
  if (ex->cert_updated && ex->msg.type != CMP_RR && ex->msg.type != CMP_KUR &&
      !strcmp(ex->subject_serial, ex->signer_serial) &&
      cg_der_view_eq(ex->found_cert, ex->msg.extra_certs[0])) {
    cmp_srv_fail(ex, CG_ENOT_TRUSTED,
                 "the signer certificate was updated: its successor signs now");
    return false;
  }
  /* A nested message is signed by an RA in front of us: its own anchors. */
  bool nested = ex->msg.type == CMP_NESTED;
  enum cg_path_error path_why;
  const char *why;
  int err = cmp_check_signed(&ex->msg, nested ? ex->prof->nested_anchors : ex->trust_anchors,
                             nested ? ex->prof->n_nested_anchors : ex->n_trust_anchors,
                             ex->now, &ex->signer, &path_why, &why);
  if (err) {
    cmp_srv_fail(ex, err, why);
    return false;
  }
  /* RFC 9483 §5.3.2: an RA or operator the profile names acts for others;
   * only an rr or kur asks (a second path, not built for other requests). */
  if (ex->prof->n_ra_anchors > 0 && (ex->msg.type == CMP_RR || ex->msg.type == CMP_KUR)) {
    enum cg_path_error ra_why;
    size_t n_pool = ex->msg.n_extra_certs - 1;
    if (n_pool > CG_X509_VERIFY_MAX_POOL)
      n_pool = CG_X509_VERIFY_MAX_POOL;
    ex->acts_for_others =
        cg_x509_verify_path(ex->msg.extra_certs[0], ex->msg.extra_certs + 1, n_pool,
                            ex->prof->ra_anchors, ex->prof->n_ra_anchors, ex->now,
                            CG_LIMIT_PATH_DEPTH, &ra_why) == 0;
  }
  return true;
}

bool cmp_srv_authenticate(struct cmp_exchange *ex) {
  /* AUTH_RA: the RA's signature on the nested message was checked. */
  bool ok = ex->auth == AUTH_RA    ? true
            : ex->auth == AUTH_SIG ? authenticate_sig(ex)
                                   : authenticate_mac(ex);
  ex->authenticated = ok;
  return ok;
}

/* The response's protectionAlg: the request's, octet for octet, once its MAC
 * verified (RFC 9810 §5.1.3.1: "it is RECOMMENDED that the fields of
 * PBMParameter remain constant throughout the messages of a single
 * transaction"), or the RA's signature algorithm. */
static void write_protection_alg(const struct cmp_exchange *ex, struct der_writer *w) {
  if (ex->mac_ok)
    cg_der_put_raw(w, ex->msg.hdr.protection_alg.p, ex->msg.hdr.protection_alg.len);
  else
    cg_cert_write_sig_alg(w, ex->cfg->ra_scheme, ex->cfg->ra_hash);
}

static void write_body(struct cmp_exchange *ex, struct der_writer *w) {
  const struct cmp_srv_kind *k = cmp_srv_kind(ex->rsp_type, true);
  if (k != NULL)
    k->write_body(ex, w);
  else
    /* An error message with status waiting: a request that waits (rr). */
    cmp_write_error_body(w, ex->status, cg_err_failinfo(ex->err),
                         ex->waiting ? cmp_waiting_reason(ex) : ex->detail);
}

/* Writes header and body of the response into a new arena buffer. */
static int write_header_body(struct cmp_exchange *ex, struct der_view prot_alg, uint8_t **out,
                             size_t *out_len) {
  const struct cmp_header *rh = &ex->msg.hdr;
  struct cmp_out_header h = {0};
  uint8_t fresh_nonce[16];
  if (cg_random(fresh_nonce, sizeof fresh_nonce))
    return CG_ECRYPTO;
  h.pvno = ex->decoded && rh->pvno == 3 ? 3 : 2;
  h.sender_name = ex->cfg->ra_name;
  if (ex->decoded)
    h.recipient = rh->sender;
  h.message_time = ex->now;
  h.protection_alg = prot_alg;
  if (ex->mac_ok) {
    h.sender_kid = rh->sender_kid;
  } else if (ex->cfg->n_ra_chain > 0) {
    struct cg_x509 ra;
    if (cg_x509_parse(ex->cfg->ra_chain[0].p, ex->cfg->ra_chain[0].len, &ra) == 0 &&
        ra.skid.len > 0)
      h.sender_kid = ra.skid; /* RFC 9483 §3.1: senderKID is the SKID of the signer */
  }
  if (ex->decoded && rh->transaction_id.p != NULL && rh->transaction_id.len <= CMP_MAX_TXID)
    h.transaction_id = rh->transaction_id;
  bool issues = ex->rsp_type == CMP_IP || ex->rsp_type == CMP_CP || ex->rsp_type == CMP_KUP;
  /* The nonce a transaction keeps for its next message is the one sent. */
  h.sender_nonce.p =
      issues || ex->waiting || ex->rsp_type == CMP_POLLREP ? ex->sender_nonce : fresh_nonce;
  h.sender_nonce.len = 16;
  if (ex->decoded && rh->sender_nonce.p != NULL && rh->sender_nonce.len <= CMP_MAX_NONCE)
    h.recip_nonce = rh->sender_nonce;
  /* RFC 9483 §4.1.1: a granted implicit confirmation is announced. */
  h.implicit_confirm = issues && ex->implicit_confirm;

  for (int pass = 0; pass < 2; pass++) {
    struct der_writer w;
    cg_der_writer_init(&w, pass ? *out : NULL, pass ? *out_len : 0);
    cmp_write_header(&w, &h);
    write_body(ex, &w);
    if (cg_der_writer_finish(&w, out_len))
      return CG_ESPACE;
    if (pass == 0 && (*out = cg_arena_alloc(ex->arena, *out_len)) == NULL)
      return CG_ENOMEM;
  }
  return 0;
}

int cmp_srv_protect(struct cmp_exchange *ex) {
  struct der_writer w;
  uint8_t alg_buf[512];
  uint8_t prot[1024];
  size_t prot_len = 0;
  uint8_t *hb;
  size_t hb_len, alg_len;

  cg_der_writer_init(&w, alg_buf, sizeof alg_buf);
  write_protection_alg(ex, &w);
  if (cg_der_writer_finish(&w, &alg_len))
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
    err = cmp_mac_compute(&ex->mac, iov, 2, prot, &prot_len);
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
  if (ex->rsp_type == CMP_IP || ex->rsp_type == CMP_CP || ex->rsp_type == CMP_KUP) {
    for (size_t i = 0; i < ex->n_ca_chain && n < CMP_MAX_EXTRA_CERTS; i++) {
      bool dup = false;
      for (size_t j = 0; j < n; j++)
        dup |= cg_der_view_eq(extra[j], ex->ca_chain[i]);
      if (!dup)
        extra[n++] = ex->ca_chain[i];
    }
  }
  uint8_t *out = NULL;
  size_t out_len = 0;
  for (int pass = 0; pass < 2; pass++) {
    cg_der_writer_init(&w, out, out_len);
    cmp_write_message(&w, hb, hb_len, prot, prot_len, extra, n);
    if (cg_der_writer_finish(&w, &out_len))
      return CG_ESPACE;
    if (pass == 0 && (out = cg_arena_alloc(ex->arena, out_len)) == NULL)
      return CG_ENOMEM;
  }
  ex->rsp = out;
  ex->rsp_len = out_len;
  return 0;
}
