/*
 * server_int.h - the inside of the CMP server engine, shared by its files:
 *   server.c        lifecycle, phases, request checks, lookups, the log summary;
 *   srv_auth.c      authentication (MAC, signature) and response protection;
 *   srv_enrol.c     ir, cr, kur, p10cr and certConf;
 *   srv_revoke.c    rr;
 *   srv_genm.c      genm;
 *   srv_template.c  what a certificate request asks for, checked when read.
 * Not for use outside cmp/.
 */
#ifndef CG_CMP_SERVER_INT_H
#define CG_CMP_SERVER_INT_H

#include "cmp/genm.h"
#include "cmp/msg.h"
#include "cmp/p10.h"
#include "cmp/pbmac1.h"
#include "cmp/protect.h"
#include "cmp/secret.h"
#include "cmp/server.h"
#include "core/arena.h"
#include "core/x509.h"

/* Phases of an exchange; cmp_srv_set_phase() is the one place that changes them.
 *
 *   LOOKUP -> VERIFY -> ISSUE -> INSERT -> PROTECT -> DONE   (ir, cr, kur, p10cr)
 *   LOOKUP -> VERIFY [-> REVOKE] -> UPDATE -> PROTECT -> DONE (certConf; REVOKE
 *                                                      when it rejects)
 *   LOOKUP -> VERIFY -> REVOKE -> INSERT -> PROTECT -> DONE  (rr)
 *   LOOKUP -> VERIFY [-> CRL] -> PROTECT -> DONE             (genm)
 *   LOOKUP -> VERIFY -> NESTED -> PROTECT -> DONE            (nested)
 *   any phase -> PROTECT (an error answer) -> DONE
 *   VERIFY/ISSUE/REVOKE -> INSERT (a rejected transaction) -> PROTECT (error)
 *   ISSUE -> UPDATE, REVOKE -> UPDATE (background exchanges)
 *   LOOKUP -> VERIFY -> FORWARD -> UPDATE -> PROTECT -> DONE (relaying
 *     profiles: certConf, and pollReq while the CA holds the request; PROTECT
 *     then sends the CA's answer as it is)
 *   VERIFY -> NOTE (a refused secret's counters and audit) -> PROTECT (error)
 * VERIFY and PROTECT are the COMPUTE steps. */
enum phase {
  PH_LOOKUP, PH_VERIFY, PH_ISSUE, PH_REVOKE, PH_FORWARD, PH_INSERT, PH_UPDATE, PH_CRL,
  PH_NESTED, PH_NOTE, PH_PROTECT, PH_DONE
};

/* AUTH_RA: an unprotected message inside a nested one whose RA signature
 * stands in for its own (RFC 9483 §5.2.2.1, the profile's nested_vouch). */
enum auth_kind { AUTH_NONE, AUTH_PBM, AUTH_PBMAC1, AUTH_SIG, AUTH_RA };

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
  /* The profile's CA chain and trust anchors as they were when the
   * exchange started (cmp_profile says why). */
  const struct der_view *ca_chain, *trust_anchors;
  size_t n_ca_chain, n_trust_anchors;
  struct der_view root_update[3];
  bool decoded; /* the whole header decoded: an error can name the transaction */
  char txid_hex[2 * CMP_MAX_TXID + 1];
  char ref[2 * CMP_MAX_REF + 1]; /* who authenticates: senderKID text or "cert:<serial>" */
  enum auth_kind auth;
  struct cg_x509 signer;         /* AUTH_SIG: extraCerts[0] */
  bool acts_for_others;          /* AUTH_SIG: the signer chains to the profile's ra_anchors */
  char vouch_ref[2 * CMP_MAX_REF + 1]; /* the vouching RA's reference ("cert:SERIAL"); "": none */
  char signer_serial[2 * CMP_MAX_SERIAL + 1];
  struct cmp_p10 p10;            /* p10cr */
  struct cmp_genm genm;          /* genm */
  bool want_crl;                 /* genm asks for CRLs */
  char ca_issuer[512];           /* the profile CA's subject, RFC 4514 */
  struct cmp_revocation_record *revoked;
  size_t n_revoked;
  struct der_view crl;           /* the signed CRL; p NULL: none */
  size_t n_inner, inner_done;    /* nested: inner requests, answers received */
  struct der_view inner[CMP_MAX_REQS];
  struct der_view inner_rsp[CMP_MAX_REQS];
  char subject_serial[2 * CMP_MAX_SERIAL + 1]; /* kur, rr: the certificate acted on */

  /* LOOKUP results */
  bool secret_found, txn_found, cert_found, cert_revoked;
  int cert_reason;            /* of the certificate found: its revocation's CRLReason, or -1 */
  bool cert_held_by_operator; /* on hold at an operator's request */
  bool cert_unconfirmed_kup, cert_updated, cert_update_pending; /* as cmp_lookup_res says */
  char key_hash[65];                   /* the key asked for; "": none (cg_spki_hash_hex()) */
  struct der_view req_spki;            /* ir/cr/kur/p10cr: the key asked for; p NULL: none */
  /* Central key generation (srv_template.c reads it, srv_enrol.c makes the
   * key): the key type and size to make, and the EnvelopedData of the key
   * made (core/cms.h) that goes into the answer; p NULL: none. */
  struct der_view tls_client; /* the request's TLS client certificate; p NULL: none */
  bool kga;
  enum cg_key_type kga_type;
  unsigned kga_bits;
  struct der_view key_envelope;
  bool key_certified, key_compromised; /* as cmp_lookup_res says */
  struct cmp_secret_record secret;
  struct cmp_txn_record stored; /* the transaction as stored */
  struct der_view stored_cert;  /* its certificate */
  struct der_view found_cert;   /* the certificate named by subject_serial */
  char found_cert_auth_ref[2 * CMP_MAX_REF + 1];

  /* VERIFY results */
  bool secret_row;    /* the reference exists (usable or not) */
  bool has_note;
  struct cmp_secret_note note;
  bool authenticated; /* the protection verified */
  /* The checks under way are of what the request asks for, not of its
   * header or protection: a refusal of an ir/cr/kur/p10cr/rr then goes in
   * its own answer type with status rejection (cmp_srv_fail()). */
  bool checking_body;
  bool mac_ok;        /* ...and it was a MAC: answers are MAC-protected */
  uint8_t secret_plain[CMP_SECRET_MAX];
  size_t secret_len;
  /* The request's MAC parameters and the key derived from the secret once:
   * it checks the request and protects the answer. */
  struct cmp_mac mac;
  struct cmp_issue_request issue;
  struct cmp_revoke_request revoke;
  struct cmp_forward_request forward;
  /* Relaying profiles: the CA's answer to send as it is (arena); p NULL:
   * none (the gateway answers itself: cmp_srv_fail() clears it). */
  struct der_view relayed;
  int64_t cert_req_id;
  bool implicit_confirm; /* granted */
  bool waiting;          /* the answer says waiting: the request awaits approval */
  /* A background exchange: a stored transaction (approved by an operator, or
   * waiting at the CA) taken up again with no peer waiting and no answer
   * (cmp_exchange_new_background()).  The gateway's struct request says
   * `background` too. */
  bool background;
  bool replay;           /* answering a kept request again (raw TCP pollReq) */
  bool dropped;          /* abandoned before its check: the peer was gone */
  bool note_after;       /* the refusal note is written after the answer is made */
  bool secret_broken;    /* the reference's stored secret does not decrypt */

  /* what to store */
  struct cmp_txn_record txn;
  bool has_cert;
  struct cmp_cert_record cert;
  struct der_view cert_extensions; /* of cert, as cmp_srv_take_cert() read it */
  bool has_revocation;
  struct cmp_revocation_record revocation;
  uint8_t sender_nonce[16];

  /* the outcome */
  int err;            /* 0, or the error answered */
  const char *detail; /* why, for the error text and log */
  int rsp_type;
  int status;
  const uint8_t *rsp;
  size_t rsp_len;
};

/* What the engine does with a kind of request, one table per srv_*.c (the
 * rows end with one whose requests is 0): the checks of its body, made with
 * the request checks before anything is looked up (read; NULL: none), the
 * verify step once the store's lookup is back, and the body of each answer
 * it writes.  server.c finds a row by the request's type, srv_auth.c by the
 * answer's (an error body is written by srv_auth.c itself). */
#define CMP_BIT(type) (1u << (type))
struct cmp_srv_kind {
  uint32_t requests; /* CMP_BIT() of the request bodies it handles */
  uint32_t answers;  /* CMP_BIT() of the answer bodies it writes */
  int (*read)(struct cmp_exchange *ex); /* 0, or an error with ex->detail */
  void (*verify)(struct cmp_exchange *ex);
  void (*write_body)(struct cmp_exchange *ex, struct der_writer *w);
};
extern const struct cmp_srv_kind cmp_srv_enrol_kinds[]; /* ir cr kur p10cr, certConf */
extern const struct cmp_srv_kind cmp_srv_revoke_kinds[]; /* rr */
extern const struct cmp_srv_kind cmp_srv_genm_kinds[];   /* genm */
extern const struct cmp_srv_kind cmp_srv_nested_kinds[]; /* nested */
extern const struct cmp_srv_kind cmp_srv_poll_kinds[];   /* pollReq */
/* The row handling request body type (answer false) or writing answer body
 * type (answer true); NULL when none does. */
const struct cmp_srv_kind *cmp_srv_kind(int type, bool answer);

/* server.c */
/* The answer type of a certificate or revocation request (ip, cp, kup, rp);
 * CMP_ERROR for another. */
int cmp_srv_answer_type(int request_type);
void cmp_srv_set_phase(struct cmp_exchange *ex, enum phase to);
/* Ends the exchange with an error answer (see server.c). */
void cmp_srv_fail(struct cmp_exchange *ex, int err, const char *detail);
/* The transaction record of a new request, in state received. */
void cmp_srv_init_txn(struct cmp_exchange *ex);
/* The request's protection as the transaction records it: "pbm", "pbmac1",
 * "signature" ("" for none). */
const char *cmp_srv_protection_name(const struct cmp_exchange *ex);
/* RFC 9483 §4.4: the request waits, for an operator (pending_approval) or
 * for the CA (pending_ca); the answer says waiting, and the device polls
 * with the fresh senderNonce this draws.  The request is kept to serve
 * later (cmp_exchange_request_to_keep()).  False after cmp_srv_fail(). */
bool cmp_srv_enter_waiting(struct cmp_exchange *ex, enum cmp_txn_state state);

/* srv_auth.c */
/* Checks the request's protection; on success sets authenticated (and
 * mac_ok, the secret and MAC parameters for a MAC).  On failure calls cmp_srv_fail(). */
bool cmp_srv_authenticate(struct cmp_exchange *ex);
/* Writes the response (ex->rsp) for ex->rsp_type, protected. */
int cmp_srv_protect(struct cmp_exchange *ex);

/* Prepares the update of a background exchange, which answers nobody: a
 * new updated_at, and an empty nonce, so that the row keeps the nonce of the
 * device's last pollRep (which a poll may be renewing meanwhile). */
void cmp_srv_touch_background(struct cmp_exchange *ex);

/* srv_enrol.c */
void cmp_srv_issued(struct cmp_exchange *ex, const uint8_t *cert, size_t len);
/* The certificate record of the transaction from the CA's DER (arena copy,
 * names for operators).  False after cmp_srv_fail(). */
bool cmp_srv_take_cert(struct cmp_exchange *ex, const uint8_t *cert, size_t len);
/* The CA answered "waiting": the device is told to poll (or, for an
 * approved request, the row waits for the next try). */
void cmp_srv_ca_waiting(struct cmp_exchange *ex);

/* srv_poll.c */
/* The statusString of a waiting answer: what the request waits for. */
const char *cmp_waiting_reason(const struct cmp_exchange *ex);
/* The answer a kept request has now, from its stored transaction, for a
 * raw TCP pollReq: nothing changes in the store. */
void cmp_srv_verify_replay(struct cmp_exchange *ex);
/* srv_enrol.c: the certificate request of ex from its message, without
 * authentication or POP (for an approved request). */
/* The names the request asks for are allowed (cmp/srv_names.c); fails the
 * exchange with badCertTemplate otherwise. */
bool cmp_srv_check_names(struct cmp_exchange *ex);
bool cmp_srv_build_issue_request(struct cmp_exchange *ex);

/* srv_template.c */
/* The template's public key as a SubjectPublicKeyInfo in the arena; false
 * when memory ran out. */
bool cmp_srv_template_spki(struct cmp_exchange *ex, const struct cmp_cert_template *t,
                   struct der_view *out);
/* The checks of what an ir, cr, kur or p10cr asks for, made when it is read
 * (before any lookup): 0, or an error with ex->detail saying why. */
int cmp_srv_check_template(struct cmp_exchange *ex);

/* srv_revoke.c */
/* Prepares the CA's part of revoking cert (with the request of the exchange
 * when with_request) and goes to REVOKE. */
void cmp_srv_prepare_revoke(struct cmp_exchange *ex, struct der_view cert, int reason,
                            bool with_request);
/* An approved rr: the revocation, written in the background. */
void cmp_srv_revoke_approved(struct cmp_exchange *ex);

/* srv_relay.c */
/* Keeps the CA's answer of a (for a relaying profile) to send it on, and
 * takes from it what the transaction must remember: the senderNonce the
 * device will echo, and whether the CA granted implicit confirmation.  Call
 * after the state change the answer made. */
void cmp_srv_relay_take(struct cmp_exchange *ex, const struct cmp_ca_answer *a);
/* For a relaying profile: a certConf or pollReq that passed the checks goes
 * to the CA (FORWARD); true when it does. */
bool cmp_srv_relay_forward(struct cmp_exchange *ex);

#endif
