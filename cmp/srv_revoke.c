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
 * written in the background (revoke_approved()), as approved enrolments are
 * issued.
 */
#include <string.h>

#include "cmp/encode.h"
#include "cmp/server_int.h"
#include "core/err.h"

/* RFC 5280 §5.3.1: CRLReason 0..10, 7 unused; RFC 9483 §4.2 leaves out
 * removeFromCRL (8) for end entities only as advice, so it is accepted. */
static bool reason_ok(int reason) { return reason == -1 || (reason >= 0 && reason <= 10 && reason != 7); }

/* The revocation to write with the transaction, which is then done. */
static bool revocation(struct cmp_exchange *ex) {
  struct cmp_revocation_record *r = &ex->revocation;
  memcpy(r->serial, ex->subject_serial, sizeof r->serial);
  r->reason = ex->msg.u.rev_req.rd[0].reason;
  r->revoked_at = ex->now;
  ex->has_revocation = true;
  ex->rsp_type = CMP_RP;
  if (cmp_txn_set_state(&ex->txn, CMP_TXN_CONFIRMED)) {
    fail(ex, CG_ESTATE, "illegal state change");
    return false;
  }
  return true;
}

void verify_rev_request(struct cmp_exchange *ex) {
  const struct cmp_rev_details *d = &ex->msg.u.rev_req.rd[0];
  init_txn(ex);
  if (ex->txn_found) {
    fail(ex, CG_ETXID_IN_USE, "transactionID already in use");
    return;
  }
  if (!reason_ok(d->reason)) {
    fail(ex, CG_EBAD_REQUEST, "unknown revocation reason");
    return;
  }
  if (!ex->cert_found) {
    fail(ex, CG_EBAD_CERT_ID, "no such certificate");
    return;
  }
  struct cg_x509 target;
  if (cg_x509_parse(ex->found_cert.p, ex->found_cert.len, &target) ||
      !der_view_eq(target.issuer, d->tmpl.issuer)) {
    fail(ex, CG_EBAD_CERT_ID, "no such certificate from this issuer");
    return;
  }
  bool allowed = ex->auth == AUTH_SIG ? der_view_eq(ex->msg.extra_certs[0], ex->found_cert)
                                      : strcmp(ex->found_cert_auth_ref, ex->ref) == 0;
  if (!allowed) {
    fail(ex, CG_ENOT_AUTHORIZED, "not authorized to revoke this certificate");
    return;
  }
  if (ex->cert_revoked) {
    fail(ex, CG_ECERT_REVOKED, "the certificate is already revoked");
    return;
  }
  memcpy(ex->txn.cert_serial, ex->subject_serial, sizeof ex->txn.cert_serial);
  if (ex->prof->manual_revocation) {
    if (enter_waiting(ex, CMP_TXN_PENDING_APPROVAL)) {
      ex->rsp_type = CMP_ERROR;
      set_phase(ex, PH_INSERT);
    }
    return;
  }
  if (revocation(ex))
    set_phase(ex, PH_INSERT);
}

void revoke_approved(struct cmp_exchange *ex) {
  /* The certificate was checked when the request came; whether it is still
   * unrevoked is the store's to say (CG_ECERT_REVOKED fails the request). */
  touch_deferred(ex);
  if (revocation(ex))
    set_phase(ex, PH_UPDATE);
}

void write_rev_body(struct cmp_exchange *ex, struct der_writer *w) {
  /* RevRepContent ::= SEQUENCE { status SEQUENCE SIZE (1..MAX) OF PKIStatusInfo, ... } */
  size_t body = der_begin(w, DER_CTX_CONS(CMP_RP));
  size_t rep = der_begin(w, DER_SEQUENCE);
  size_t st = der_begin(w, DER_SEQUENCE);
  cmp_write_status_info(w, ex->status, CG_FI_NONE, NULL);
  der_end(w, st);
  der_end(w, rep);
  der_end(w, body);
}
