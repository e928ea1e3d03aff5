/*
 * srv_poll.c - polling for delayed delivery (RFC 9810 §5.3.22, RFC 9483
 * §4.4): a device whose request waits sends pollReq; while the transaction
 * is pending it gets pollRep with the profile's checkAfter, and once the
 * certificate is issued the ip / cp / kup that carries it.  A waiting rr is
 * polled with certReqId -1 (RFC 9483 §4.4) and ends with its rp.
 *
 *   PollReqContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER }
 *   PollRepContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER,
 *       checkAfter INTEGER, reason PKIFreeText OPTIONAL }
 */
#include <stdio.h>
#include <string.h>

#include "cmp/server_int.h"
#include "core/err.h"

static int answer_type(const char *req_type) {
  return !strcmp(req_type, "ir") ? CMP_IP : !strcmp(req_type, "kur") ? CMP_KUP : CMP_CP;
}

/* The error a finished, unsuccessful transaction is answered with: the
 * failInfo it was recorded with, where one error carries it. */
static int final_error(const struct cmp_txn_record *t) {
  static const int errs[] = {CG_ECA_UNAVAILABLE, CG_ESTORE, CG_ECERT_REVOKED, CG_EBAD_CERT_ID};
  for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
    if (t->failinfo >= 0 && cg_err_failinfo(errs[i]) == t->failinfo)
      return errs[i];
  return CG_EBAD_REQUEST;
}

/* The answer a transaction that no longer waits gives: the certificate
 * (ip/cp/kup, status set when the store step is done), the rp, or the error
 * it ended with.  A confirmed enrolment has none for a pollReq, but a replay
 * gives its certificate again.  False after cmp_srv_fail(). */
static bool final_answer(struct cmp_exchange *ex, bool replay) {
  const struct cmp_txn_record *t = &ex->txn;
  bool rr = strcmp(t->req_type, "rr") == 0;
  switch (t->state) {
  case CMP_TXN_CONFIRMED:
    if (rr) {
      ex->rsp_type = CMP_RP;
      ex->status = CMP_ACCEPTED;
      return true;
    }
    if (!replay)
      break;
    /* fall through */
  case CMP_TXN_ISSUED:
    if (rr || ex->stored_cert.p == NULL) {
      cmp_srv_fail(ex, CG_ECA_UNAVAILABLE, "the issued certificate is missing");
      return false;
    }
    /* The answer the device waited for, with the certificate. */
    ex->rsp_type = answer_type(t->req_type);
    ex->cert.der = ex->stored_cert.p;
    ex->cert.der_len = ex->stored_cert.len;
    return true;
  case CMP_TXN_REJECTED:
  case CMP_TXN_FAILED:
    cmp_srv_fail(ex, final_error(t), t->state == CMP_TXN_REJECTED ? "the request was rejected"
                                                          : "the request could not be served");
    return false;
  case CMP_TXN_EXPIRED:
    cmp_srv_fail(ex, CG_EBAD_REQUEST, "the transaction expired");
    return false;
  default:
    break;
  }
  cmp_srv_fail(ex, CG_EBAD_REQUEST, "transaction is not waiting");
  return false;
}

static int hex_value(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

void cmp_srv_verify_replay(struct cmp_exchange *ex) {
  struct cmp_txn_record *t = &ex->txn;
  if (!ex->txn_found || strcmp(ex->stored.auth_ref, ex->ref) != 0 ||
      strcmp(ex->stored.req_type, cmp_body_name(ex->msg.type)) != 0) {
    cmp_srv_fail(ex, CG_EBAD_REQUEST, "no such transaction for this sender");
    return;
  }
  if (ex->kga) {
    /* The key made for it went out in the first answer and was not kept. */
    cmp_srv_fail(ex, CG_EBAD_REQUEST,
                 "the answer carried a centrally generated key, which is not kept: send a new "
                 "request");
    return;
  }
  *t = ex->stored;
  ex->cert_req_id = t->cert_req_id;
  /* The answer carries the senderNonce the row keeps: the certConf (or a
   * CMP-level pollReq) that follows must echo it. */
  if (strlen(t->sender_nonce) != 2 * sizeof ex->sender_nonce) {
    cmp_srv_fail(ex, CG_ESTORE, "the transaction keeps no usable nonce");
    return;
  }
  for (size_t i = 0; i < sizeof ex->sender_nonce; i++) {
    int hi = hex_value(t->sender_nonce[2 * i]), lo = hex_value(t->sender_nonce[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      cmp_srv_fail(ex, CG_ESTORE, "the transaction keeps no usable nonce");
      return;
    }
    ex->sender_nonce[i] = (uint8_t)(hi << 4 | lo);
  }
  if (t->state == CMP_TXN_PENDING_APPROVAL || t->state == CMP_TXN_PENDING_CA) {
    /* Still waiting: the waiting answer again (rr: the error message). */
    ex->waiting = true;
    ex->status = CMP_WAITING;
    ex->rsp_type = strcmp(t->req_type, "rr") == 0 ? CMP_ERROR : answer_type(t->req_type);
  } else if (final_answer(ex, true)) {
    ex->status = CMP_ACCEPTED;
  } else {
    return;
  }
  cmp_srv_set_phase(ex, PH_PROTECT);
}

static void verify_poll(struct cmp_exchange *ex) {
  const struct cmp_header *h = &ex->msg.hdr;
  struct cmp_txn_record *t = &ex->txn;
  if (!ex->txn_found || strcmp(ex->stored.auth_ref, ex->ref) != 0) {
    cmp_srv_fail(ex, CG_EBAD_REQUEST, "no such transaction for this sender");
    return;
  }
  *t = ex->stored;
  char nonce_hex[2 * CMP_MAX_NONCE + 1] = "";
  if (h->recip_nonce.p != NULL && h->recip_nonce.len <= CMP_MAX_NONCE)
    cg_hex(h->recip_nonce.p, h->recip_nonce.len, nonce_hex);
  if (t->sender_nonce[0] == 0 || strcmp(nonce_hex, t->sender_nonce) != 0) {
    cmp_srv_fail(ex, CG_EBAD_RECIP_NONCE, "recipNonce does not match our senderNonce");
    return;
  }
  if (ex->msg.u.poll_req.n != 1 || ex->msg.u.poll_req.cert_req_id[0] != t->cert_req_id) {
    cmp_srv_fail(ex, CG_EBAD_CERT_ID, "certReqId does not match the request");
    return;
  }
  ex->cert_req_id = t->cert_req_id;
  /* Relaying: the CA holds the request, and the device polls it there. */
  if (t->state == CMP_TXN_PENDING_CA && cmp_srv_relay_forward(ex))
    return;
  if (t->state == CMP_TXN_PENDING_APPROVAL || t->state == CMP_TXN_PENDING_CA)
    ex->rsp_type = CMP_POLLREP;
  else if (!final_answer(ex, false))
    return;
  if (ex->rsp_type == CMP_RP) {
    /* The revocation is done: the rp the device waited for.  Nothing
     * changes in the store, so a repeated pollReq gets it again. */
    cmp_srv_set_phase(ex, PH_PROTECT);
    return;
  }
  /* Every answer carries a fresh senderNonce, which the next message
   * (pollReq or certConf) must echo: the row keeps it. */
  if (cg_random(ex->sender_nonce, sizeof ex->sender_nonce)) {
    cmp_srv_fail(ex, CG_ECRYPTO, "no randomness");
    return;
  }
  cg_hex(ex->sender_nonce, sizeof ex->sender_nonce, t->sender_nonce);
  t->prev_state = t->state; /* a refresh of the nonce, same state */
  t->updated_at = ex->now;
  cmp_srv_set_phase(ex, PH_UPDATE);
}

const char *cmp_waiting_reason(const struct cmp_exchange *ex) {
  return ex->txn.state == CMP_TXN_PENDING_APPROVAL ? "awaiting approval" : "awaiting the CA";
}

static void write_poll_rep_body(struct cmp_exchange *ex, struct der_writer *w) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_POLLREP));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t rep = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_int64(w, DER_INTEGER, ex->cert_req_id);
  cg_der_put_uint64(w, DER_INTEGER, ex->prof->check_after ? ex->prof->check_after : 5);
  size_t reason = cg_der_begin(w, DER_SEQUENCE);
  const char *why = cmp_waiting_reason(ex);
  cg_der_put_tlv(w, DER_UTF8_STRING, why, strlen(why));
  cg_der_end(w, reason);
  cg_der_end(w, rep);
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

const struct cmp_srv_kind cmp_srv_poll_kinds[] = {
    {CMP_BIT(CMP_POLLREQ), CMP_BIT(CMP_POLLREP), NULL, verify_poll, write_poll_rep_body},
    {0},
};
