/*
 * client_txn.h - the client side of one CMP transaction, sans I/O: what
 * `cmpgw client`, `cmpgw bench cmp`, the upstream CMP backend and the tests
 * all drive.
 *
 * A transaction is ir, cr, kur or p10cr (then certConf / pkiConf unless
 * implicit confirmation was granted), rr, or genm (RFC 9483 §4), with
 * delayed delivery (RFC 9810 §5.3.22, RFC 9483 §4.4): an answer that says
 * waiting makes the client poll (pollReq; pollRep's checkAfter honoured).
 * The engine owns the transactionID, the nonces, the certReqId and every
 * check of an answer: protection (cmp_check_signed() / cmp_mac_matches(), the
 * functions the server checks requests with), transactionID, recipNonce,
 * body type, certReqId, PKIStatus, and that a certificate holds the key asked
 * for.  The caller owns the I/O and the clock:
 *
 *   CMP_CLIENT_COMPUTE  run cmp_client_txn_compute(): protect the next
 *                       message, or check the answer just received (CPU
 *                       only: signatures, MAC derivations; any thread);
 *   CMP_CLIENT_SEND     send cmp_client_txn_message(), then hand the answer
 *                       to cmp_client_txn_received(), or the transport's
 *                       failure to cmp_client_txn_failed();
 *   CMP_CLIENT_WAIT     the server asks us to come back: after
 *                       cmp_client_txn_wait() seconds call
 *                       cmp_client_txn_wake();
 *   CMP_CLIENT_DONE     read cmp_client_txn_result().
 *
 * Phases (set_phase() is the one place that changes them):
 *   REQUEST -> [POLL ->]* CONFIRM -> DONE      (ir, cr, kur, p10cr)
 *   REQUEST -> [POLL ->]* DONE                 (rr, genm; enrolments with
 *                                               implicit confirmation)
 *   FORWARD -> DONE                            (a whole message given)
 * Each phase sends one message and takes its answer; a failure at any point
 * ends in DONE with the reason.
 *
 * A transaction that still waits when polling stops (poll_max_s is 0, or
 * passed) ends in DONE with CMP_CLIENT_WAITING; cmp_client_txn_pending()
 * then gives what resuming it needs (the upstream CMP backend keeps that in
 * its store and polls again later, after a restart too), and
 * cmp_client_txn_resume() starts from there with a pollReq.
 */
#ifndef CG_CMP_CLIENT_TXN_H
#define CG_CMP_CLIENT_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/client.h"
#include "cmp/msg.h"
#include "cmp/records.h"
#include "core/der.h"

/* How the client protects its messages and checks the answers.  Everything
 * is borrowed and must outlive the transactions that use it. */
struct cmp_client_cfg {
  /* Protection of our messages: a signature when cred.key is set, else a MAC
   * with cred.secret under cred.ref (which also checks MAC'd answers). */
  struct cmp_client_cred cred;
  /* MAC parameters with their key already derived from cred.secret, copied
   * by every transaction that starts (NULL: each transaction draws its own
   * salt and derives): a client sending many transactions under one secret
   * (an RA to its CA) pays the derivation once for all of them. */
  const struct cmp_mac *mac_key;
  /* What signed answers must chain to (RFC 9483 §3.5), and where the path
   * of the server's signer is remembered (NULL: checked for every answer). */
  const struct der_view *trusted;
  size_t n_trusted;
  struct cmp_path_cache *path_cache;
  /* The server's name (a Name, whole TLV), sent as the recipient; p NULL:
   * the NULL-DN. */
  struct der_view recipient;
  uint64_t pvno;           /* 0 means 2 */
  bool implicit_confirm;   /* ask for implicit confirmation */
  /* Seconds to keep polling a request the server makes wait, from its first
   * waiting answer; 0: do not poll (the transaction ends CMP_CLIENT_WAITING). */
  uint64_t poll_max_s;
  /* The highest iteration count a MAC'd answer may make us derive with. */
  uint32_t max_iterations;
  /* Answers are taken without checking their protection: for load
   * generation only, where the client's CPU must go to the requests. */
  bool unchecked;
  /* Send each message inside a nested message (RFC 9483 §5.2.2.2) protected
   * with this signature, as an RA would; NULL: not nested. */
  const struct cmp_client_cred *nested;
};

/* What to ask for. */
struct cmp_client_req {
  int type; /* CMP_IR, CMP_CR, CMP_KUR, CMP_P10CR, CMP_RR or CMP_GENM */
  /* The PKIBody (whole TLV, copied): cmp/client.h writes them
   * (cmp_client_cert_req_body(), ...); an RA passes the body of the request
   * it forwards. */
  struct der_view body;
  /* The certReqId answers and polls name: 0 for ir, cr and kur (RFC 9483
   * §4.1.1), -1 for p10cr, rr and genm (§4.1.4, §4.4). */
  int64_t cert_req_id;
  /* The SubjectPublicKeyInfo (whole TLV) the certificate must certify; a
   * certificate for another key is rejected in certConf.  p NULL: any. */
  struct der_view expect_spki;
  /* The transactionID (16..64 octets) and the senderNonce of the first
   * message; p NULL: 16 random octets each.  An RA that replaces the
   * protection of a request it forwards keeps both (RFC 9483 §5.2.3). */
  struct der_view transaction_id, sender_nonce;
  uint64_t pvno; /* of the messages; 0: cfg's */
  /* Instead of body: a whole PKIMessage, sent unchanged (a request of
   * another entity that an RA forwards, RFC 9483 §5.2.1).  Its answer is
   * checked against the message's transactionID and senderNonce, and the
   * transaction ends with it (FORWARD -> DONE): the sender of the message is
   * the one to confirm or poll. */
  struct der_view message;
};

enum cmp_client_step { CMP_CLIENT_COMPUTE, CMP_CLIENT_SEND, CMP_CLIENT_WAIT, CMP_CLIENT_DONE };

/* How a transaction ended. */
enum cmp_client_outcome {
  CMP_CLIENT_OK = 0,     /* done: the certificate, rp, genp or pkiConf */
  CMP_CLIENT_REFUSED,    /* the server refused (PKIStatus rejection, or an error message) */
  CMP_CLIENT_WAITING,    /* the server holds the request and we stopped polling */
  CMP_CLIENT_BAD_ANSWER, /* an answer that cannot be accepted (protection,
                          * transaction, nonce, type, malformed) */
  CMP_CLIENT_TRANSPORT,  /* the message did not get through, or no answer */
  CMP_CLIENT_LOCAL,      /* we could not write a message (memory, keys) */
};

struct cmp_client_result {
  enum cmp_client_outcome outcome;
  int err;            /* CG_E* for every outcome but OK and WAITING; 0 then */
  const char *detail; /* why, for the outcomes but OK: static, or text in the transaction */
  /* The last answer received, decoded (views into the transaction: valid
   * until it is freed); NULL when none was accepted far enough to decode. */
  const struct cmp_msg *answer;
  /* The PKIStatusInfo the outcome rests on (the CertResponse's, the rp's, the
   * error message's); status -1 when there was none. */
  struct cmp_status_info status;
  /* REFUSED by an error message whose protection did not verify (or was not
   * checked): report it, believe nothing else in it.  Also set for the
   * answer to a forwarded message that is MAC-protected for its sender,
   * whose secret the engine does not hold: the caller checks what it uses
   * of it by other means (an issued certificate's path, say). */
  bool unverified;
  struct der_view cert;     /* the certificate (whole TLV) of an enrolment; p NULL: none */
  /* the privateKey [0] (whole TLV) that came with it: a key the server made
   * (RFC 9483 §4.1.6), encrypted for us; p NULL: none */
  struct der_view private_key;
  bool implicit_confirm;    /* granted: no certConf was sent */
  bool cert_rejected;       /* our certConf rejected it (not the key asked for) */
  unsigned polls;           /* pollReqs sent */
  uint64_t check_after;     /* WAITING: seconds the server asked us to wait */
};

/* What resuming a waiting transaction needs (see cmp_client_txn_pending()). */
struct cmp_client_pending {
  int type;
  int64_t cert_req_id;
  uint8_t txid[CMP_MAX_TXID];
  size_t txid_len;
  uint8_t nonce[CMP_MAX_NONCE]; /* the server's last senderNonce: our next recipNonce */
  size_t nonce_len;
  struct der_view expect_spki;  /* borrowed from the caller on resume */
};

struct cmp_client_txn;

/* Starts a transaction at time now (the first message is written at the
 * first COMPUTE step).  0, CG_ENOMEM, CG_EINVAL (a request the engine cannot
 * run). */
int cmp_client_txn_new(const struct cmp_client_cfg *cfg, const struct cmp_client_req *req,
                       int64_t now, struct cmp_client_txn **out);
/* Starts from a transaction that waits (see cmp_client_txn_pending()): the
 * first message is a pollReq.  0, CG_ENOMEM, CG_EINVAL. */
int cmp_client_txn_resume(const struct cmp_client_cfg *cfg, const struct cmp_client_pending *p,
                          int64_t now, struct cmp_client_txn **out);
void cmp_client_txn_free(struct cmp_client_txn *t);

enum cmp_client_step cmp_client_txn_step(const struct cmp_client_txn *t);
/* CMP_CLIENT_COMPUTE */
void cmp_client_txn_compute(struct cmp_client_txn *t);
/* CMP_CLIENT_SEND: the message to send (valid until the next call). */
void cmp_client_txn_message(const struct cmp_client_txn *t, const uint8_t **p, size_t *len);
/* The answer to the message sent (copied), received at time now. */
void cmp_client_txn_received(struct cmp_client_txn *t, const uint8_t *p, size_t len, int64_t now);
/* The message did not get through or got no answer: err (CG_EIO,
 * CG_ETIMEOUT, ...) and a text saying more (copied; may be "").  A failed
 * pollReq is tried again after the last wait while polling lasts. */
void cmp_client_txn_failed(struct cmp_client_txn *t, int err, const char *detail, int64_t now);
/* CMP_CLIENT_WAIT: seconds to wait before cmp_client_txn_wake(). */
uint64_t cmp_client_txn_wait(const struct cmp_client_txn *t);
void cmp_client_txn_wake(struct cmp_client_txn *t, int64_t now);

/* The phase just entered or being run, for progress lines: "request",
 * "poll", "confirm", "forward", "done". */
const char *cmp_client_txn_phase(const struct cmp_client_txn *t);
/* The transactionID (our own, or the forwarded message's). */
struct der_view cmp_client_txn_id(const struct cmp_client_txn *t);

/* The answer the last COMPUTE step accepted (decoded; its protection,
 * transaction and nonce checked), or NULL when that step wrote a message or
 * refused the answer; valid until the next cmp_client_txn_received().  For
 * progress lines ("waiting", "pollRep ...") while the transaction goes on. */
const struct cmp_msg *cmp_client_txn_accepted(const struct cmp_client_txn *t);

/* CMP_CLIENT_DONE */
void cmp_client_txn_result(const struct cmp_client_txn *t, struct cmp_client_result *r);
/* After an outcome WAITING: what resuming needs.  0, or CG_ESTATE. */
int cmp_client_txn_pending(const struct cmp_client_txn *t, struct cmp_client_pending *out);

/* "accepted", "rejection", ... for a PKIStatus. */
const char *cmp_status_name(int status);
/* One line for a PKIStatusInfo: "PKIStatus rejection, failInfo badPOP,
 * statusString "..."", anything unprintable as '?'. */
void cmp_status_line(const struct cmp_status_info *st, char *out, size_t cap);
/* PKIFreeText as "a", "b" (unprintable as '?'). */
void cmp_free_text(struct der_view text, char *out, size_t cap);

#endif
