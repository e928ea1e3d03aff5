/*
 * client_txn.c - the client side of one CMP transaction (cmp/client_txn.h):
 * which message goes next, and whether an answer may be believed.
 *
 * The messages are written by cmp_client_write() with the transaction's
 * MAC parameters kept (one derivation serves the request, the answers the
 * server MACs with the same parameters, and our certConf and pollReqs).
 * Answers are checked in this order, each check before anything of the
 * answer is used: it decodes; a nested answer is unwrapped (the RA's
 * signature, transaction and nonce); its protection verifies; it names our
 * transactionID and, as recipNonce, the senderNonce we sent; then its body.
 * An error message is reported even when its protection does not verify,
 * marked unverified: it can only make us stop, which a network attacker
 * could do anyway.
 */
#include "cmp/client_txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/p10.h"
#include "cmp/protect.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"
#include "core/x509_verify.h"

#define NONCE_LEN 16
#define REFUSED 1 /* t->err of a refusal; the result maps its failInfo */
#define BODY_CAP 1024 /* pollReq, certConf */

enum phase { PH_REQUEST, PH_POLL, PH_CONFIRM, PH_FORWARD, PH_DONE };

struct cmp_client_txn {
  const struct cmp_client_cfg *cfg;
  enum phase phase;
  bool need_compute; /* protect the next message, or check the answer */
  bool answered;     /* an answer waits to be checked */
  bool waiting;      /* CMP_CLIENT_WAIT */
  int type;
  int64_t cert_req_id;
  uint64_t pvno;
  uint8_t txid[CMP_MAX_TXID];
  size_t txid_len;
  uint8_t nonce[CMP_MAX_NONCE]; /* senderNonce of the message in flight */
  size_t nonce_len;
  bool nonce_given;             /* the first message's, from the request */
  uint8_t recip[CMP_MAX_NONCE]; /* the server's last senderNonce: our next recipNonce */
  size_t recip_len;
  uint8_t outer_txid[NONCE_LEN], outer_nonce[NONCE_LEN]; /* of a nested wrapper */
  uint8_t *body;    /* the first request's PKIBody, or the message to forward */
  size_t body_len;
  uint8_t *spki;    /* the key the certificate must certify; NULL: any */
  size_t spki_len;
  uint8_t *out;     /* the message to send */
  size_t out_len;
  uint8_t *rsp;     /* the answer received */
  size_t rsp_len;
  struct cmp_msg msg;
  bool msg_ok;      /* msg holds the decoded answer */
  bool accepted;    /* ...and it passed every check of its header */
  uint8_t *cert;    /* the certificate of an enrolment, kept across its confirmation */
  size_t cert_len;
  uint8_t *private_key; /* its CertifiedKeyPair's privateKey [0], whole TLV; NULL: none */
  size_t private_key_len;
  struct cmp_mac mac;   /* our MAC parameters and key (MAC credentials) */
  struct cmp_mac amac;  /* an answer's, when they differ */

  int64_t now; /* when the caller last spoke: the answer's arrival, a wake-up */

  /* polling */
  int64_t poll_deadline;
  uint64_t wait_s;
  unsigned polls;

  /* the outcome */
  enum cmp_client_outcome outcome;
  int err;
  const char *detail;
  char detail_buf[320];
  struct cmp_status_info status;
  bool unverified, implicit, cert_rejected;
};

static const char *const phase_names[] = {"request", "poll", "confirm", "forward", "done"};

/* The one place the phase changes.  REQUEST -> POLL | CONFIRM | DONE,
 * POLL -> POLL | CONFIRM | DONE, CONFIRM -> DONE, FORWARD -> DONE; a
 * transaction starts in REQUEST, and one made to forward (FORWARD) or to
 * resume polling (POLL) moves there before it is handed out. */
static void set_phase(struct cmp_client_txn *t, enum phase to) {
  static const unsigned allowed[] = {
      [PH_REQUEST] = 1u << PH_POLL | 1u << PH_CONFIRM | 1u << PH_DONE | 1u << PH_FORWARD,
      [PH_POLL] = 1u << PH_POLL | 1u << PH_CONFIRM | 1u << PH_DONE,
      [PH_CONFIRM] = 1u << PH_DONE,
      [PH_FORWARD] = 1u << PH_DONE,
      [PH_DONE] = 0,
  };
  if (!(allowed[t->phase] & (1u << to)))
    abort(); /* a bug in the engine, not something a server can cause */
  t->phase = to;
}

static void end(struct cmp_client_txn *t, enum cmp_client_outcome o, int err, const char *detail) {
  t->outcome = o;
  t->err = err;
  t->detail = detail;
  t->need_compute = false;
  t->waiting = false;
  if (t->phase != PH_DONE)
    set_phase(t, PH_DONE);
}

/* end() with a formatted reason. */
static void endf(struct cmp_client_txn *t, enum cmp_client_outcome o, int err, const char *fmt,
                 const char *a, const char *b) {
  snprintf(t->detail_buf, sizeof t->detail_buf, fmt, a, b);
  end(t, o, err, t->detail_buf);
}

static bool is_enrolment(int type) {
  return type == CMP_IR || type == CMP_CR || type == CMP_KUR || type == CMP_P10CR;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t len) {
  uint8_t *d = malloc(len ? len : 1);
  if (d != NULL && len)
    memcpy(d, p, len);
  return d;
}

static int open_txn(const struct cmp_client_cfg *cfg, int type, int64_t cert_req_id,
                    struct der_view spki, struct cmp_client_txn **out) {
  *out = NULL;
  if (type != CMP_IR && type != CMP_CR && type != CMP_KUR && type != CMP_P10CR &&
      type != CMP_RR && type != CMP_GENM)
    return CG_EINVAL;
  struct cmp_client_txn *t = calloc(1, sizeof *t);
  if (t == NULL)
    return CG_ENOMEM;
  t->cfg = cfg;
  t->type = type;
  t->cert_req_id = cert_req_id;
  t->pvno = cfg->pvno ? cfg->pvno : 2;
  t->status.status = -1;
  if (spki.p != NULL && (t->spki = dup_bytes(spki.p, spki.len)) == NULL) {
    free(t);
    return CG_ENOMEM;
  }
  t->spki_len = spki.p ? spki.len : 0;
  t->need_compute = true;
  if (cfg->mac_key != NULL && cfg->mac_key->key_len > 0 && cfg->cred.key == NULL)
    t->mac = *cfg->mac_key;
  *out = t;
  return 0;
}

/* The forwarded message's transactionID and senderNonce: its answer must
 * name them. */
static int take_forward_ids(struct cmp_client_txn *t) {
  struct cmp_msg m;
  if (cmp_msg_decode(t->body, t->body_len, &m) != 0 && !m.header_ok)
    return CG_EINVAL;
  const struct cmp_header *h = &m.hdr;
  if (h->transaction_id.p == NULL || h->transaction_id.len > CMP_MAX_TXID ||
      h->sender_nonce.p == NULL || h->sender_nonce.len > CMP_MAX_NONCE)
    return CG_EINVAL;
  memcpy(t->txid, h->transaction_id.p, t->txid_len = h->transaction_id.len);
  memcpy(t->nonce, h->sender_nonce.p, t->nonce_len = h->sender_nonce.len);
  t->pvno = h->pvno;
  return 0;
}

int cmp_client_txn_new(const struct cmp_client_cfg *cfg, const struct cmp_client_req *req,
                       int64_t now, struct cmp_client_txn **out) {
  (void)now;
  bool forward = req->message.p != NULL;
  if ((forward ? req->message.len : req->body.len) == 0 ||
      (req->transaction_id.p != NULL &&
       (req->transaction_id.len == 0 || req->transaction_id.len > CMP_MAX_TXID)) ||
      (req->sender_nonce.p != NULL &&
       (req->sender_nonce.len == 0 || req->sender_nonce.len > CMP_MAX_NONCE)))
    return CG_EINVAL;
  struct cmp_client_txn *t;
  int err = open_txn(cfg, req->type, req->cert_req_id, req->expect_spki, &t);
  if (err)
    return err;
  struct der_view b = forward ? req->message : req->body;
  if ((t->body = dup_bytes(b.p, b.len)) == NULL) {
    cmp_client_txn_free(t);
    return CG_ENOMEM;
  }
  t->body_len = b.len;
  if (req->pvno)
    t->pvno = req->pvno;
  if (forward) {
    set_phase(t, PH_FORWARD);
    if ((err = take_forward_ids(t)) != 0) {
      cmp_client_txn_free(t);
      return err;
    }
    *out = t;
    return 0;
  }
  if (req->transaction_id.p != NULL)
    memcpy(t->txid, req->transaction_id.p, t->txid_len = req->transaction_id.len);
  else if (cg_random(t->txid, t->txid_len = 16))
    err = CG_ECRYPTO;
  if (req->sender_nonce.p != NULL) {
    memcpy(t->nonce, req->sender_nonce.p, t->nonce_len = req->sender_nonce.len);
    t->nonce_given = true;
  }
  if (err) {
    cmp_client_txn_free(t);
    return err;
  }
  *out = t;
  return 0;
}

int cmp_client_txn_resume(const struct cmp_client_cfg *cfg, const struct cmp_client_pending *p,
                          int64_t now, struct cmp_client_txn **out) {
  if (p->txid_len == 0 || p->txid_len > CMP_MAX_TXID || p->nonce_len == 0 ||
      p->nonce_len > CMP_MAX_NONCE)
    return CG_EINVAL;
  struct cmp_client_txn *t;
  int err = open_txn(cfg, p->type, p->cert_req_id, p->expect_spki, &t);
  if (err)
    return err;
  memcpy(t->txid, p->txid, t->txid_len = p->txid_len);
  memcpy(t->recip, p->nonce, t->recip_len = p->nonce_len);
  set_phase(t, PH_POLL);
  t->poll_deadline = now + (int64_t)cfg->poll_max_s;
  *out = t;
  return 0;
}

void cmp_client_txn_free(struct cmp_client_txn *t) {
  if (t == NULL)
    return;
  cmp_mac_wipe(&t->mac);
  cmp_mac_wipe(&t->amac);
  free(t->body);
  free(t->spki);
  free(t->out);
  free(t->rsp);
  free(t->cert);
  free(t->private_key);
  free(t);
}

enum cmp_client_step cmp_client_txn_step(const struct cmp_client_txn *t) {
  if (t->phase == PH_DONE)
    return CMP_CLIENT_DONE;
  if (t->waiting)
    return CMP_CLIENT_WAIT;
  return t->need_compute ? CMP_CLIENT_COMPUTE : CMP_CLIENT_SEND;
}

const char *cmp_client_txn_phase(const struct cmp_client_txn *t) { return phase_names[t->phase]; }

struct der_view cmp_client_txn_id(const struct cmp_client_txn *t) {
  return (struct der_view){t->txid, t->txid_len};
}

/* ---- our messages --------------------------------------------------------- */

/* RFC 9483 §5.2.2.2: the message goes inside a nested message that an RA
 * signs, with a transactionID and nonce of its own. */
static int wrap_nested(struct cmp_client_txn *t) {
  struct cmp_client_hdr h = {0};
  if (cg_random(t->outer_txid, sizeof t->outer_txid) ||
      cg_random(t->outer_nonce, sizeof t->outer_nonce))
    return CG_ECRYPTO;
  h.transaction_id = (struct der_view){t->outer_txid, sizeof t->outer_txid};
  h.sender_nonce = (struct der_view){t->outer_nonce, sizeof t->outer_nonce};
  h.pvno = t->pvno;
  h.recipient = t->cfg->recipient;
  struct der_view inner = {t->out, t->out_len};
  size_t len;
  /* NestedMessageContent: [20] SEQUENCE { inner } (measured first) */
  int err = cmp_client_nested_body(&inner, 1, NULL, 0, &len);
  uint8_t *body = err == 0 ? malloc(len) : NULL;
  if (body == NULL)
    return err ? err : CG_ENOMEM;
  err = cmp_client_nested_body(&inner, 1, body, len, &len);
  uint8_t *msg = NULL;
  size_t msg_len = 0;
  if (err == 0)
    err = cmp_client_write(t->cfg->nested, NULL, &h, (struct der_view){body, len}, &msg, &msg_len);
  free(body);
  if (err)
    return err;
  free(t->out);
  t->out = msg;
  t->out_len = msg_len;
  return 0;
}

/* Writes the message of the phase into t->out. */
static int build(struct cmp_client_txn *t) {
  const struct cmp_client_cfg *cfg = t->cfg;
  uint8_t buf[BODY_CAP];
  struct der_view body = {t->body, t->body_len};
  size_t len;
  int err = 0;
  free(t->out);
  t->out = NULL;
  if (t->phase == PH_FORWARD) {
    /* Sent as it is: its own protection, transaction and nonce. */
    t->out = dup_bytes(t->body, t->body_len);
    t->out_len = t->body_len;
    return t->out ? 0 : CG_ENOMEM;
  }
  if (t->phase == PH_POLL) {
    err = cmp_client_poll_req_body(t->cert_req_id, buf, sizeof buf, &len);
    body = (struct der_view){buf, len};
  } else if (t->phase == PH_CONFIRM) {
    /* RFC 9810 §5.3.18: a certificate we cannot use is rejected. */
    err = cmp_client_cert_conf_body((struct der_view){t->cert, t->cert_len}, t->cert_req_id,
                                    t->cert_rejected, buf, sizeof buf, &len);
    body = (struct der_view){buf, len};
  }
  if (err)
    return err;
  /* Every message but a forwarded request's first has a fresh senderNonce
   * (RFC 9810 §5.1.1); after the first, recipNonce is the server's last. */
  if (!(t->phase == PH_REQUEST && t->nonce_given) && cg_random(t->nonce, t->nonce_len = NONCE_LEN))
    return CG_ECRYPTO;
  struct cmp_client_hdr h = {0};
  h.transaction_id = (struct der_view){t->txid, t->txid_len};
  h.sender_nonce = (struct der_view){t->nonce, t->nonce_len};
  if (t->phase != PH_REQUEST)
    h.recip_nonce = (struct der_view){t->recip, t->recip_len};
  h.pvno = t->pvno;
  h.implicit_confirm = t->phase == PH_REQUEST && cfg->implicit_confirm && is_enrolment(t->type);
  h.recipient = cfg->recipient;
  err = cmp_client_write(&cfg->cred, &t->mac, &h, body, &t->out, &t->out_len);
  if (err == 0 && cfg->nested != NULL)
    err = wrap_nested(t);
  return err;
}

/* ---- checking answers ------------------------------------------------------ */

static const char *path_error_name(enum cg_path_error why) {
  switch (why) {
  case CG_PATH_OK: return "no decision";
  case CG_PATH_MALFORMED: return "a certificate is malformed";
  case CG_PATH_NO_ISSUER: return "no path to a trusted anchor";
  case CG_PATH_BAD_SIGNATURE: return "a signature in the path does not verify";
  case CG_PATH_EXPIRED: return "a certificate in the path is outside its validity";
  case CG_PATH_NOT_CA: return "an issuer is not a CA";
  case CG_PATH_PATH_LEN: return "the path is too long";
  case CG_PATH_CRITICAL_EXT: return "an unknown critical extension";
  case CG_PATH_BUDGET: return "more candidate issuers than a search may try";
  }
  return "unknown";
}

/* Returned by check_protection() for the MAC'd answer to a forwarded
 * message when we hold no secret: its sender's to check. */
static const char not_ours[] = "MAC-protected for the sender of the forwarded message";

/* NULL when the MAC of m verifies with our secret. */
static const char *check_mac(struct cmp_client_txn *t, const struct cmp_msg *m) {
  const struct cmp_client_cred *c = &t->cfg->cred;
  if (c->secret == NULL)
    return t->phase == PH_FORWARD ? not_ours
                                  : "the answer is MAC-protected and we hold no shared secret";
  uint32_t max = t->cfg->max_iterations ? t->cfg->max_iterations : 100000;
  int err = cmp_mac_parse(m->hdr.protection_alg, max, &t->amac);
  if (err)
    return "the MAC parameters are not accepted";
  /* The server kept our parameters (RFC 9810 §5.1.3.1): our key serves. */
  const struct cmp_mac *k = &t->mac;
  if (t->mac.key_len == 0 || !cmp_mac_same_key(&t->mac, &t->amac)) {
    if (cmp_mac_derive(&t->amac, c->secret, c->secret_len))
      return "the MAC cannot be computed";
    k = &t->amac;
  }
  return cmp_mac_matches(k, m) ? NULL : "the MAC does not verify";
}

/* NULL when the protection of m verifies; else why not (static or in
 * detail_buf). */
static const char *check_protection(struct cmp_client_txn *t, const struct cmp_msg *m,
                                    int64_t now) {
  if (!m->has_protection || m->hdr.protection_alg.p == NULL)
    return "it is not protected";
  enum cg_oid_id alg = cg_oid_lookup(m->hdr.protection_oid);
  if (alg == CG_OID_PBM || alg == CG_OID_PBMAC1)
    return check_mac(t, m);
  if (t->cfg->n_trusted == 0)
    return "it is signed and no trust anchors are configured";
  struct cg_x509 signer;
  enum cg_path_error path;
  const char *why;
  int err = cmp_check_signed_cached(m, t->cfg->trusted, t->cfg->n_trusted, now,
                                    t->cfg->path_cache, &signer, &path, &why);
  if (err == CG_ENOT_TRUSTED && path != CG_PATH_OK) {
    snprintf(t->detail_buf, sizeof t->detail_buf, "%s: %s", why, path_error_name(path));
    return t->detail_buf;
  }
  return err ? why : NULL;
}

/* The nested answer: the RA's signature, its transaction and nonce ours;
 * the inner answer replaces it in rsp / msg.  One request wrapped to add
 * the RA's protection (RFC 9483 §5.2.2.1) may be answered bare: the answer
 * to the inner request, checked as such by the caller.  NULL or why not. */
static const char *unwrap_nested(struct cmp_client_txn *t, int64_t now) {
  struct cmp_msg *m = &t->msg;
  const char *bad = check_protection(t, m, now);
  if (bad != NULL)
    return bad;
  if (m->type == CMP_ERROR)
    return NULL; /* the nested message itself was refused */
  if (m->type != CMP_NESTED)
    return NULL; /* bare: the inner request's answer */
  if (!cg_der_view_is(m->hdr.transaction_id, t->outer_txid, sizeof t->outer_txid) ||
      !cg_der_view_is(m->hdr.recip_nonce, t->outer_nonce, sizeof t->outer_nonce))
    return "the nested answer names another transaction or nonce";
  struct der_reader r, seq;
  struct der_tlv inner;
  cg_der_reader_view(&r, m->content);
  if (cg_der_enter(&r, DER_SEQUENCE, &seq) || cg_der_expect(&seq, DER_SEQUENCE, &inner))
    return "the nested answer holds no message";
  memmove(t->rsp, inner.raw.p, inner.raw.len);
  t->rsp_len = inner.raw.len;
  return cmp_msg_decode(t->rsp, t->rsp_len, m) ? "the inner answer does not decode" : NULL;
}

/* The body type that answers a request of this type. */
static int answer_type(int type) {
  switch (type) {
  case CMP_IR: return CMP_IP;
  case CMP_KUR: return CMP_KUP;
  case CMP_CR:
  case CMP_P10CR: return CMP_CP;
  case CMP_RR: return CMP_RP;
  default: return CMP_GENP;
  }
}

/* Polling: the next pollReq after `seconds`, within poll_max_s of the first
 * waiting answer; otherwise the transaction ends waiting. */
static void poll_after(struct cmp_client_txn *t, uint64_t seconds, int64_t now) {
  if (t->phase == PH_REQUEST)
    t->poll_deadline = now + (int64_t)t->cfg->poll_max_s;
  t->wait_s = seconds;
  if (t->cfg->poll_max_s == 0 || now + (int64_t)seconds > t->poll_deadline) {
    end(t, CMP_CLIENT_WAITING, 0,
        t->cfg->poll_max_s == 0 ? "the server holds the request"
                                : "the server still holds the request after polling");
    return;
  }
  if (t->phase != PH_POLL)
    set_phase(t, PH_POLL);
  t->waiting = true;
}

/* An answer that says waiting: poll with its senderNonce as recipNonce. */
static void start_polling(struct cmp_client_txn *t, const struct cmp_status_info *st,
                          uint64_t seconds, int64_t now) {
  const struct cmp_msg *m = &t->msg;
  t->status = *st;
  if (m->hdr.sender_nonce.p == NULL || m->hdr.sender_nonce.len > sizeof t->recip) {
    end(t, CMP_CLIENT_BAD_ANSWER, CG_EBAD_DATA, "the waiting answer has no usable senderNonce");
    return;
  }
  memcpy(t->recip, m->hdr.sender_nonce.p, t->recip_len = m->hdr.sender_nonce.len);
  poll_after(t, seconds, now);
}

static bool accepted(int status) { return status == CMP_ACCEPTED || status == CMP_GRANTED_WITH_MODS; }

/* An ip / cp / kup: the certificate, then its confirmation (or not). */
static void take_cert_rep(struct cmp_client_txn *t, int64_t now) {
  const struct cmp_msg *m = &t->msg;
  if (m->u.cert_rep.n != 1 || m->u.cert_rep.rsp[0].cert_req_id != t->cert_req_id) {
    end(t, CMP_CLIENT_BAD_ANSWER, CG_EBAD_CERT_ID,
        "the answer does not hold one response for our certReqId");
    return;
  }
  const struct cmp_cert_response *r = &m->u.cert_rep.rsp[0];
  if (r->status.status == CMP_WAITING) {
    /* Waiting again after a poll (it should have been a pollRep): the usual
     * interval rather than at once. */
    start_polling(t, &r->status, t->phase == PH_REQUEST ? 0 : 5, now);
    return;
  }
  t->status = r->status;
  if (!accepted(r->status.status)) {
    end(t, CMP_CLIENT_REFUSED, REFUSED, "the server refused the request");
    return;
  }
  struct cg_x509 x;
  if (r->cert.p == NULL || cg_x509_parse(r->cert.p, r->cert.len, &x)) {
    end(t, CMP_CLIENT_BAD_ANSWER, CG_EBAD_DATA,
        "the answer accepts the request but holds no readable certificate");
    return;
  }
  free(t->cert);
  if ((t->cert = dup_bytes(r->cert.p, r->cert.len)) == NULL) {
    end(t, CMP_CLIENT_LOCAL, CG_ENOMEM, "out of memory");
    return;
  }
  t->cert_len = r->cert.len;
  /* A key made by the server for us (RFC 9483 §4.1.6), still encrypted. */
  free(t->private_key);
  t->private_key = NULL;
  t->private_key_len = 0;
  if (r->private_key.p != NULL) {
    if ((t->private_key = dup_bytes(r->private_key.p, r->private_key.len)) == NULL) {
      end(t, CMP_CLIENT_LOCAL, CG_ENOMEM, "out of memory");
      return;
    }
    t->private_key_len = r->private_key.len;
  }
  /* The certificate must hold the key we asked for. */
  t->cert_rejected = t->spki != NULL && !cg_der_view_is(x.spki, t->spki, t->spki_len);
  /* RFC 9810 §5.1.1.1: implicitConfirm granted only when we asked. */
  if (!t->cert_rejected && t->cfg->implicit_confirm && m->hdr.implicit_confirm) {
    t->implicit = true;
    end(t, CMP_CLIENT_OK, 0, NULL);
    return;
  }
  if (m->hdr.sender_nonce.p == NULL || m->hdr.sender_nonce.len > sizeof t->recip) {
    end(t, CMP_CLIENT_BAD_ANSWER, CG_EBAD_DATA, "the answer has no senderNonce to confirm");
    return;
  }
  memcpy(t->recip, m->hdr.sender_nonce.p, t->recip_len = m->hdr.sender_nonce.len);
  set_phase(t, PH_CONFIRM);
  int err = build(t);
  if (err)
    end(t, CMP_CLIENT_LOCAL, err, "cannot write the certConf");
}

static void take_poll_rep(struct cmp_client_txn *t, int64_t now) {
  const struct cmp_msg *m = &t->msg;
  const struct cmp_poll_rep *pr = &m->u.poll_rep.rep[0];
  if (m->u.poll_rep.n != 1 || pr->cert_req_id != t->cert_req_id) {
    end(t, CMP_CLIENT_BAD_ANSWER, CG_EBAD_CERT_ID, "the pollRep does not answer our certReqId");
    return;
  }
  struct cmp_status_info st = {.status = CMP_WAITING, .status_string = pr->reason};
  start_polling(t, &st, pr->check_after > 0 ? (uint64_t)pr->check_after : 0, now);
}

/* Checks the answer in t->rsp and decides what comes next. */
static void take_answer(struct cmp_client_txn *t, int64_t now) {
  struct cmp_msg *m = &t->msg;
  int err = cmp_msg_decode(t->rsp, t->rsp_len, m);
  t->msg_ok = err == 0;
  if (err) {
    endf(t, CMP_CLIENT_BAD_ANSWER, err, "the answer is not a valid PKIMessage (%s)%s",
         cg_strerror(err), "");
    return;
  }
  const char *bad = NULL;
  if (t->cfg->nested != NULL && t->phase != PH_FORWARD && (bad = unwrap_nested(t, now)) != NULL) {
    t->msg_ok = false;
    endf(t, CMP_CLIENT_BAD_ANSWER, CG_EBAD_MAC, "%s%s", bad, "");
    return;
  }
  if (!t->cfg->unchecked)
    bad = check_protection(t, m, now);
  if (bad == not_ours) {
    t->unverified = true;
    bad = NULL;
  }
  if (bad == NULL && !cg_der_view_is(m->hdr.transaction_id, t->txid, t->txid_len))
    bad = "it names another transactionID";
  /* RFC 9810 §5.1.1: recipNonce is the senderNonce of the message answered. */
  if (bad == NULL && !cg_der_view_is(m->hdr.recip_nonce, t->nonce, t->nonce_len))
    bad = "its recipNonce is not our senderNonce";
  t->accepted = bad == NULL;
  if (m->type == CMP_ERROR) {
    t->status = m->u.error.status;
    /* RFC 9483 §4.4: an error message with status waiting is no error. */
    if (bad == NULL && t->status.status == CMP_WAITING && t->phase != PH_FORWARD &&
        t->phase != PH_CONFIRM) {
      start_polling(t, &m->u.error.status, t->phase == PH_REQUEST ? 0 : 5, now);
      return;
    }
    t->unverified = bad != NULL;
    if (bad != NULL && bad != t->detail_buf)
      snprintf(t->detail_buf, sizeof t->detail_buf, "%s", bad);
    /* an unverified error's reason is why it is not believed */
    end(t, CMP_CLIENT_REFUSED, REFUSED,
        bad != NULL ? t->detail_buf : "the server answered with an error message");
    return;
  }
  if (bad != NULL) {
    if (bad != t->detail_buf) /* a static reason: room to say which answer */
      endf(t, CMP_CLIENT_BAD_ANSWER, CG_EBAD_MAC, "the %s answer is refused: %s",
           cmp_body_name(m->type), bad);
    else
      end(t, CMP_CLIENT_BAD_ANSWER, CG_ENOT_TRUSTED, t->detail_buf);
    return;
  }
  if (t->phase == PH_FORWARD) {
    /* The sender of the forwarded message reads the rest. */
    end(t, CMP_CLIENT_OK, 0, NULL);
    return;
  }
  int want = t->phase == PH_CONFIRM ? CMP_PKICONF : answer_type(t->type);
  if (t->phase == PH_POLL && m->type == CMP_POLLREP) {
    take_poll_rep(t, now);
    return;
  }
  if (m->type != want) {
    endf(t, CMP_CLIENT_BAD_ANSWER, CG_EBAD_DATA, "the server answered with %s, expected %s",
         cmp_body_name(m->type), cmp_body_name(want));
    return;
  }
  switch (m->type) {
  case CMP_IP:
  case CMP_CP:
  case CMP_KUP:
    take_cert_rep(t, now);
    return;
  case CMP_RP:
    if (m->u.rev_rep.n < 1) {
      end(t, CMP_CLIENT_BAD_ANSWER, CG_EBAD_DATA, "the rp holds no status");
      return;
    }
    t->status = m->u.rev_rep.status[0];
    if (t->status.status == CMP_WAITING) {
      start_polling(t, &t->status, t->phase == PH_REQUEST ? 0 : 5, now);
      return;
    }
    if (accepted(t->status.status))
      end(t, CMP_CLIENT_OK, 0, NULL);
    else
      end(t, CMP_CLIENT_REFUSED, REFUSED, "the server refused the revocation");
    return;
  case CMP_PKICONF:
    if (t->cert_rejected)
      end(t, CMP_CLIENT_REFUSED, CG_EBAD_TEMPLATE,
          "the certificate does not hold the key asked for: rejected in certConf");
    else
      end(t, CMP_CLIENT_OK, 0, NULL);
    return;
  default: /* genp */
    end(t, CMP_CLIENT_OK, 0, NULL);
    return;
  }
}

void cmp_client_txn_compute(struct cmp_client_txn *t) {
  if (t->phase == PH_DONE || !t->need_compute)
    return;
  t->need_compute = false;
  t->accepted = false; /* set again by the check of a new answer */
  if (!t->answered) {
    int err = build(t);
    if (err)
      endf(t, CMP_CLIENT_LOCAL, err, "cannot write the %s: %s",
           t->phase == PH_POLL ? "pollReq" : t->phase == PH_CONFIRM ? "certConf"
                                                                    : cmp_body_name(t->type),
           cg_strerror(err));
    return;
  }
  t->answered = false;
  take_answer(t, t->now);
}

const struct cmp_msg *cmp_client_txn_accepted(const struct cmp_client_txn *t) {
  return t->msg_ok && t->accepted && !t->answered ? &t->msg : NULL;
}

void cmp_client_txn_message(const struct cmp_client_txn *t, const uint8_t **p, size_t *len) {
  *p = t->out;
  *len = t->out_len;
}

void cmp_client_txn_received(struct cmp_client_txn *t, const uint8_t *p, size_t len,
                             int64_t now) {
  if (cmp_client_txn_step(t) != CMP_CLIENT_SEND)
    return;
  free(t->rsp);
  t->msg_ok = t->accepted = false;
  if ((t->rsp = dup_bytes(p, len)) == NULL) {
    end(t, CMP_CLIENT_LOCAL, CG_ENOMEM, "out of memory");
    return;
  }
  t->rsp_len = len;
  t->now = now;
  t->answered = true;
  t->need_compute = true;
}

void cmp_client_txn_failed(struct cmp_client_txn *t, int err, const char *detail, int64_t now) {
  if (cmp_client_txn_step(t) != CMP_CLIENT_SEND)
    return;
  t->now = now;
  /* A poll that did not get through (the server restarting, say) is tried
   * again after the same wait, while polling lasts. */
  if (t->phase == PH_POLL && t->cfg->poll_max_s > 0 && now + (int64_t)t->wait_s <= t->poll_deadline) {
    t->wait_s = t->wait_s ? t->wait_s : 1;
    t->waiting = true;
    return;
  }
  if (detail == NULL || detail[0] == '\0')
    detail = cg_strerror(err);
  endf(t, CMP_CLIENT_TRANSPORT, err ? err : CG_EIO, "%s%s", detail, "");
}

uint64_t cmp_client_txn_wait(const struct cmp_client_txn *t) { return t->wait_s; }

void cmp_client_txn_wake(struct cmp_client_txn *t, int64_t now) {
  if (!t->waiting)
    return;
  t->waiting = false;
  t->now = now;
  t->polls++;
  t->need_compute = true; /* the pollReq */
}

static int lowest_bit(uint32_t v) {
  for (int b = 0; b < 32; b++)
    if (v & (1u << b))
      return b;
  return -1;
}

void cmp_client_txn_result(const struct cmp_client_txn *t, struct cmp_client_result *r) {
  memset(r, 0, sizeof *r);
  r->outcome = t->outcome;
  r->err = t->err;
  /* A refusal is reported as the error its (first) failInfo bit names. */
  if (t->outcome == CMP_CLIENT_REFUSED && t->err == REFUSED) {
    int bit = t->status.has_fail_info ? lowest_bit(t->status.fail_info) : -1;
    r->err = bit >= 0 ? cg_err_from_failinfo(bit) : CG_EBAD_REQUEST;
  }
  r->detail = t->detail;
  r->answer = t->msg_ok ? &t->msg : NULL;
  r->status = t->status;
  r->unverified = t->unverified;
  if (t->cert != NULL && (t->outcome == CMP_CLIENT_OK || t->cert_rejected))
    r->cert = (struct der_view){t->cert, t->cert_len};
  if (t->private_key != NULL && t->outcome == CMP_CLIENT_OK)
    r->private_key = (struct der_view){t->private_key, t->private_key_len};
  r->implicit_confirm = t->implicit;
  r->cert_rejected = t->cert_rejected;
  r->polls = t->polls;
  r->check_after = t->outcome == CMP_CLIENT_WAITING ? t->wait_s : 0;
}

int cmp_client_txn_pending(const struct cmp_client_txn *t, struct cmp_client_pending *out) {
  if (t->outcome != CMP_CLIENT_WAITING || t->phase != PH_DONE || t->recip_len == 0)
    return CG_ESTATE;
  memset(out, 0, sizeof *out);
  out->type = t->type;
  out->cert_req_id = t->cert_req_id;
  memcpy(out->txid, t->txid, out->txid_len = t->txid_len);
  memcpy(out->nonce, t->recip, out->nonce_len = t->recip_len);
  out->expect_spki = (struct der_view){t->spki, t->spki_len};
  return 0;
}

/* ---- printing --------------------------------------------------------------- */

const char *cmp_status_name(int status) {
  static const char *const names[] = {"accepted", "grantedWithMods", "rejection", "waiting",
                                      "revocationWarning", "revocationNotification",
                                      "keyUpdateWarning"};
  return status >= 0 && status < (int)(sizeof names / sizeof names[0]) ? names[status]
                                                                       : "unknown";
}

void cmp_free_text(struct der_view text, char *out, size_t cap) {
  struct der_reader r, seq;
  struct der_tlv t;
  size_t n = 0;
  out[0] = '\0';
  cg_der_reader_view(&r, text);
  if (cap < 16 || cg_der_enter(&r, DER_SEQUENCE, &seq))
    return;
  while (!cg_der_at_end(&seq) && cg_der_next(&seq, &t) == 0 && n + 8 < cap) {
    if (n > 0) {
      memcpy(out + n, ", ", 2);
      n += 2;
    }
    out[n++] = '"';
    for (size_t i = 0; i < t.val.len && n + 3 < cap; i++) {
      uint8_t ch = t.val.p[i];
      out[n++] = ch >= 0x20 && ch < 0x7f && ch != '"' ? (char)ch : '?';
    }
    out[n++] = '"';
  }
  out[n] = '\0';
}

void cmp_status_line(const struct cmp_status_info *st, char *out, size_t cap) {
  int n = snprintf(out, cap, "PKIStatus %s", cmp_status_name(st->status));
  if (st->has_fail_info && st->fail_info != 0 && n > 0 && (size_t)n < cap) {
    n += snprintf(out + n, cap - (size_t)n, ", failInfo ");
    bool first = true;
    for (unsigned b = 0; b < 32 && n > 0 && (size_t)n < cap; b++) {
      if (!(st->fail_info & (1u << b)))
        continue;
      const char *name = cg_failinfo_name((int)b);
      n += snprintf(out + n, cap - (size_t)n, "%s%s", first ? "" : ",", name ? name : "unknownBit");
      first = false;
    }
  }
  if (st->status_string.p != NULL && n > 0 && (size_t)n < cap) {
    char text[512];
    cmp_free_text(st->status_string, text, sizeof text);
    snprintf(out + n, cap - (size_t)n, ", statusString %s", text);
  }
}
