/*
 * srv_revoke.c - revocation requests (rr / rp, RFC 9810 §5.3.9, RFC 9483
 * §4.2).  The certificate is named by issuer and serialNumber; the request
 * is authorized when it is signed with that very certificate, or MAC-protected
 * with the secret that enrolled it.
 *
 * On a profile with revocation_approval = manual the request waits for an
 * operator: RFC 9483 §4.4 (generalized delayed delivery, after RFC 9480
 * §2.17) answers it with an error message whose PKIStatusInfo says waiting;
 * the device polls with pollReq certReqId -1 and gets pollRep until the
 * decision, then the rp (or the rejection).  Approved, the revocation is
 * written in the background (cmp_srv_revoke_approved()), as approved enrolments are
 * issued.
 */
#include <assert.h>
#include <string.h>

#include "cmp/encode.h"
#include "cmp/server_int.h"
#include "core/err.h"

/* RFC 5280 §5.3.1: CRLReason 0..10, 7 unused.  removeFromCRL (8) asks for
 * no revocation: it releases a certificate on hold (certificateHold, 6),
 * which then leaves the CRLs (release_hold()). */
enum { REASON_HOLD = 6, REASON_REMOVE_FROM_CRL = 8 };
static bool reason_ok(int reason) {
  return reason == -1 || (reason >= 0 && reason <= 10 && reason != 7);
}

/* What the CA is asked to revoke: cert, for the request of this exchange (an
 * rr), or on its own (a certificate rejected in certConf: message NULL). */
void cmp_srv_prepare_revoke(struct cmp_exchange *ex, struct der_view cert, int reason,
                            bool with_request) {
  struct cmp_revoke_request *r = &ex->revoke;
  const struct cmp_header *h = &ex->msg.hdr;
  memset(r, 0, sizeof *r);
  r->profile = ex->profile;
  r->cert = cert;
  r->reason = reason;
  r->pvno = h->pvno;
  if (with_request) {
    r->message = (struct der_view){ex->req, ex->req_len};
    r->body = ex->msg.body;
    r->transaction_id = h->transaction_id;
    r->sender_nonce = h->sender_nonce;
  }
  if (ex->txn.ca_state_len > 0)
    r->ca_state = (struct der_view){ex->txn.ca_state, ex->txn.ca_state_len};
  if (ex->mac_ok)
    r->secret = (struct der_view){ex->secret_plain, ex->secret_len};
  cmp_srv_set_phase(ex, PH_REVOKE);
}

/* The revocation to write with the transaction once the CA revoked. */
static void revocation(struct cmp_exchange *ex) {
  struct cmp_revocation_record *r = &ex->revocation;
  memcpy(r->serial, ex->subject_serial, sizeof r->serial);
  r->reason = ex->msg.u.rev_req.rd[0].reason;
  r->revoked_at = ex->now;
  ex->has_revocation = true;
  ex->rsp_type = CMP_RP;
}

/* What of the rr's template does not match the certificate target: the
 * sentence, or NULL. */
static const char *template_mismatch(struct cmp_exchange *ex, const struct cmp_cert_template *t,
                                     const struct cg_x509 *target) {
  if (t->version >= 0 && (unsigned)t->version != target->version)
    return "the template's version is not the certificate's";
  if (t->subject.p != NULL && !cg_der_view_eq(t->subject, target->subject))
    return "the template's subject is not the certificate's";
  if (t->extensions.p != NULL && !cg_der_view_eq(t->extensions, target->extensions))
    return "the template's extensions are not the certificate's";
  struct der_view spki;
  if (t->public_key.p != NULL &&
      (!cmp_srv_template_spki(ex, t, &spki) || !cg_der_view_eq(spki, target->spki)))
    return "the template's public key is not the certificate's";
  return NULL;
}

static int read_rev_request(struct cmp_exchange *ex) {
  if (ex->msg.u.rev_req.n != 1) {
    ex->detail = "exactly one revocation request is supported";
    return CG_EBAD_REQUEST;
  }
  ex->cert_req_id = -1; /* RFC 9483 §4.4: what a pollReq for it names */
  return 0;
}

static void verify_rev_request(struct cmp_exchange *ex) {
  const struct cmp_rev_details *d = &ex->msg.u.rev_req.rd[0];
  cmp_srv_init_txn(ex);
  if (ex->txn_found) {
    cmp_srv_fail(ex, CG_ETXID_IN_USE, "transactionID already in use");
    return;
  }
  if (!reason_ok(d->reason)) {
    cmp_srv_fail(ex, CG_EBAD_REQUEST, "unknown revocation reason");
    return;
  }
  if (!ex->cert_found) {
    cmp_srv_fail(ex, CG_EBAD_CERT_ID, "no such certificate");
    return;
  }
  struct cg_x509 target;
  if (cg_x509_parse(ex->found_cert.p, ex->found_cert.len, &target) ||
      !cg_der_view_eq(target.issuer, d->tmpl.issuer)) {
    cmp_srv_fail(ex, CG_EBAD_CERT_ID, "no such certificate from this issuer");
    return;
  }
  /* RFC 9483 §4.2 names the certificate by issuer and serial; whatever else
   * the template gives must be the certificate's too, or it names another
   * (RFC 9810 badCertId: "no certificate could be found matching the
   * provided criteria"). */
  const char *mismatch = template_mismatch(ex, &d->tmpl, &target);
  if (mismatch != NULL) {
    cmp_srv_fail(ex, CG_EBAD_CERT_ID, mismatch);
    return;
  }
  /* Signed with the certificate, or by the credential that enrolled it: its
   * secret, or (on_behalf: an RA acting for its devices, RFC 9483 §5.3.2)
   * the certificate that signed its request. */
  bool by_enroller = ex->found_cert_auth_ref[0] != '\0' &&
                     strcmp(ex->found_cert_auth_ref, ex->ref) == 0;
  bool allowed = ex->auth == AUTH_SIG ? cg_der_view_eq(ex->msg.extra_certs[0], ex->found_cert) ||
                                            (ex->prof->on_behalf && by_enroller) ||
                                            ex->acts_for_others
                                      : by_enroller;
  if (!allowed) {
    cmp_srv_fail(ex, CG_ENOT_AUTHORIZED, "not authorized to revoke this certificate");
    return;
  }
  if (d->reason == REASON_REMOVE_FROM_CRL) {
    /* A release: of a certificate on hold only, and of a hold an operator
     * put by an operator only (cmpgw revoke --release). */
    if (!ex->cert_revoked) {
      cmp_srv_fail(ex, CG_EBAD_CERT_ID,
                   "the certificate is not on hold: removeFromCRL releases a held certificate");
      return;
    }
    if (ex->cert_reason != REASON_HOLD) {
      cmp_srv_fail(ex, CG_ECERT_REVOKED,
                   "the certificate is revoked for good, not on hold: it cannot be released");
      return;
    }
    if (ex->cert_held_by_operator) {
      cmp_srv_fail(ex, CG_ENOT_AUTHORIZED,
                   "an operator put the certificate on hold: an operator releases it");
      return;
    }
  } else if (ex->cert_revoked) {
    cmp_srv_fail(ex, CG_ECERT_REVOKED, "the certificate is already revoked");
    return;
  } else if (ex->cert_unconfirmed_kup) {
    /* The new certificate of a kur not confirmed yet: the update is still
     * under way (its old certificate stays valid); a certificate its
     * requester does not want is rejected in the certConf, which revokes it
     * (RFC 9810 §5.3.18). */
    cmp_srv_fail(ex, CG_EBAD_REQUEST,
                 "the certificate of an unconfirmed kur awaits its certConf: a rejecting "
                 "certConf revokes it");
    return;
  }
  memcpy(ex->txn.cert_serial, ex->subject_serial, sizeof ex->txn.cert_serial);
  if (ex->prof->manual_revocation) {
    if (cmp_srv_enter_waiting(ex, CMP_TXN_PENDING_APPROVAL)) {
      ex->rsp_type = CMP_ERROR;
      cmp_srv_set_phase(ex, PH_INSERT);
    }
    return;
  }
  /* The CA revokes first; the revocation is recorded after it did. */
  revocation(ex);
  cmp_srv_prepare_revoke(ex, ex->found_cert, ex->revocation.reason, true);
}

void cmp_srv_revoke_approved(struct cmp_exchange *ex) {
  /* The certificate was checked when the request came; whether it is still
   * unrevoked is the store's to say (CG_ECERT_REVOKED fails the request). */
  cmp_srv_touch_background(ex);
  revocation(ex);
  cmp_srv_prepare_revoke(ex, ex->found_cert, ex->revocation.reason, true);
}

void cmp_exchange_revoke_answer(struct cmp_exchange *ex, const struct cmp_ca_answer *a) {
  assert(ex->phase == PH_REVOKE);
  if (ex->phase != PH_REVOKE)
    return;
  if (ex->msg.type == CMP_CERTCONF) {
    /* RFC 9810 §5.3.18: the device's rejection stands whatever the CA says;
     * a CA that did not revoke is said in the answer and the log. */
    if (a->err || a->waiting)
      ex->detail = a->err ? "the CA did not revoke the rejected certificate"
                          : "the CA holds the revocation of the rejected certificate";
    cmp_srv_set_phase(ex, PH_UPDATE);
    return;
  }
  if (a->err) {
    cmp_srv_fail(ex, a->err, a->detail != NULL && a->detail[0] ? a->detail
                     : cg_err_class(a->err) == CG_CLASS_PEER ? "the CA refused the revocation"
                                                             : cg_strerror(a->err));
    cmp_srv_relay_take(ex, a);
    return;
  }
  if (a->waiting) {
    /* The CA holds the rr: the device polls as for an rr waiting for an
     * operator (an error message with status waiting); the background issuer
     * asks the CA again. */
    if (a->ca_state.len > sizeof ex->txn.ca_state) {
      cmp_srv_fail(ex, CG_ECA_FAILURE, "the CA backend keeps too much state");
      return;
    }
    if (a->ca_state.len > 0)
      memcpy(ex->txn.ca_state, a->ca_state.p, ex->txn.ca_state_len = a->ca_state.len);
    ex->txn.ca_check_at = ex->now + (int64_t)a->check_after;
    ex->has_revocation = false;
    if (ex->background) {
      ex->txn.prev_state = ex->txn.state;
      cmp_srv_touch_background(ex);
      cmp_srv_set_phase(ex, PH_UPDATE);
      return;
    }
    if (cmp_srv_enter_waiting(ex, CMP_TXN_PENDING_CA)) {
      ex->rsp_type = CMP_ERROR;
      cmp_srv_relay_take(ex, a);
      cmp_srv_set_phase(ex, PH_INSERT);
    }
    return;
  }
  /* The CA revoked: the transaction is done. */
  if (cmp_txn_set_state(&ex->txn, CMP_TXN_CONFIRMED)) {
    cmp_srv_fail(ex, CG_ESTATE, "illegal state change");
    return;
  }
  cmp_srv_relay_take(ex, a);
  cmp_srv_set_phase(ex, ex->background ? PH_UPDATE : PH_INSERT);
}

static void write_rev_body(struct cmp_exchange *ex, struct der_writer *w) {
  /* RevRepContent ::= SEQUENCE { status SEQUENCE SIZE (1..MAX) OF PKIStatusInfo, ... } */
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_RP));
  size_t rep = cg_der_begin(w, DER_SEQUENCE);
  size_t st = cg_der_begin(w, DER_SEQUENCE);
  if (ex->status == CMP_REJECTION) /* RFC 9483 §4.2: the refusal in the rp */
    cmp_write_status_info(w, CMP_REJECTION, cg_err_failinfo(ex->err), ex->detail);
  else
    cmp_write_status_info(w, ex->status, CG_FI_NONE, NULL);
  cg_der_end(w, st);
  cg_der_end(w, rep);
  cg_der_end(w, body);
}

const struct cmp_srv_kind cmp_srv_revoke_kinds[] = {
    {CMP_BIT(CMP_RR), CMP_BIT(CMP_RP), read_rev_request, verify_rev_request, write_rev_body},
    {0},
};
