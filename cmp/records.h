/*
 * records.h - what the CMP engine persists and reads back: transaction,
 * certificate and shared-secret records, and the transaction state machine.
 *
 * These are plain data.  The engine fills them and asks its caller to store or
 * look them up; store/ maps them onto SQLite rows (docs/store.md).
 */
#ifndef CG_CMP_RECORDS_H
#define CG_CMP_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"


#define CMP_MAX_TXID CG_LIMIT_TXID      /* octets of a transactionID we accept */
#define CMP_MAX_NONCE CG_LIMIT_NONCE     /* octets of a nonce we accept */
#define CMP_MAX_REF CG_LIMIT_REF      /* octets of a secret reference (senderKID) */
#define CMP_MAX_NAME_TEXT CG_LIMIT_NAME_TEXT /* a bound subject or SAN list, as text */
#define CMP_MAX_PROFILE 64   /* characters of a profile name */
#define CMP_MAX_SERIAL CG_LIMIT_SERIAL    /* octets of a certificate serial (RFC 5280) */
#define CMP_MAX_SECRET_ENC CG_LIMIT_SECRET_SEALED
#define CMP_MAX_CA_STATE CG_LIMIT_CA_STATE /* octets a CA backend keeps with a waiting transaction */

/* Transaction states (docs/architecture.md, "Transactions").  Every change goes
 * through cmp_txn_set_state(), which refuses illegal transitions. */
enum cmp_txn_state {
  CMP_TXN_RECEIVED = 0,
  CMP_TXN_PENDING_APPROVAL,
  CMP_TXN_PENDING_CA,
  CMP_TXN_ISSUED, /* certificate issued, awaiting certConf */
  CMP_TXN_CONFIRMED,
  CMP_TXN_REJECTED,
  CMP_TXN_FAILED,
  CMP_TXN_EXPIRED,
  CMP_TXN_REVOKED_ON_REJECT,
  CMP_TXN__COUNT
};

/* "received", "pending_approval", ... as stored in transactions.state. */
const char *cmp_txn_state_name(enum cmp_txn_state s);
/* The state named s; -1 when unknown. */
int cmp_txn_state_parse(const char *s);
/* True when from -> to is a legal transition. */
bool cmp_txn_transition_ok(enum cmp_txn_state from, enum cmp_txn_state to);

/* One row of `transactions`.  Hex fields are lowercase and NUL terminated. */
struct cmp_txn_record {
  char txid[2 * CMP_MAX_TXID + 1];
  char profile[CMP_MAX_PROFILE + 1];
  char auth_ref[2 * CMP_MAX_REF + 1]; /* secret reference (text as sent) */
  char req_type[12];                  /* "ir", "cr", ... */
  enum cmp_txn_state state;
  enum cmp_txn_state prev_state;      /* for updates: the state the row must have */
  int failinfo;                       /* -1 none, else a PKIFailureInfo bit */
  int64_t cert_req_id;
  char sender_nonce[2 * CMP_MAX_NONCE + 1]; /* the nonce of our last response */
  /* The first message of the transaction: its protection ("pbm", "pbmac1",
   * "signature") and its senderNonce (hex); "" when not known.  Written at
   * insert only. */
  char protection[12];
  char device_nonce[2 * CMP_MAX_NONCE + 1];
  /* A kur: the serial of the certificate it updates; "" otherwise.  Written
   * at insert only. */
  char updates_serial[2 * CMP_MAX_SERIAL + 1];
  char cert_serial[2 * CMP_MAX_SERIAL + 1]; /* "" when none */
  int64_t created_at, updated_at;           /* seconds since the epoch */
  /* The raw TCP polling reference of a waiting transaction (drawn by the
   * store when it inserts one); 0 when none. */
  uint32_t poll_ref;
  /* A transaction waiting at an upstream CA (pending_ca): what its backend
   * needs to ask again (opaque to the engine and the store; written when
   * ca_state_len > 0, kept otherwise), and when to ask (0: at once; written
   * when not 0). */
  uint8_t ca_state[CMP_MAX_CA_STATE];
  size_t ca_state_len;
  int64_t ca_check_at;
};

/* Changes r->state to `to`, remembering the old one in prev_state.  0, or
 * CG_ESTATE (r unchanged) when the transition is illegal. */
int cmp_txn_set_state(struct cmp_txn_record *r, enum cmp_txn_state to);

/* One row of `certificates`.  Pointers are owned by whoever made the record. */
struct cmp_cert_record {
  char serial[2 * CMP_MAX_SERIAL + 1];
  const char *subject; /* RFC 4514 */
  const char *issuer;  /* RFC 4514 */
  const char *sans;    /* cg_x509_san_string(); "" when none */
  const char *key_type; /* cg_spki_describe() */
  char key_hash[65];    /* SHA-256 of its SubjectPublicKeyInfo, lowercase hex; "": unknown */
  int64_t not_before, not_after;
  const uint8_t *der;
  size_t der_len;
  char txid[2 * CMP_MAX_TXID + 1];
  char profile[CMP_MAX_PROFILE + 1];
};

/* A revocation recorded with its transaction (rr, or a rejecting certConf). */
struct cmp_revocation_record {
  char serial[2 * CMP_MAX_SERIAL + 1];
  int reason;          /* CRLReason (RFC 5280 §5.3.1), -1 when none was given */
  int64_t revoked_at;
};

/* One row of `secrets`: the secret itself only encrypted (cmp/secret.h). */
struct cmp_secret_record {
  char reference[CMP_MAX_REF + 1];
  char profile[CMP_MAX_PROFILE + 1];
  uint8_t enc[CMP_MAX_SECRET_ENC];
  size_t enc_len;
  /* The device's challenge (profiles with challenge = random), sealed like
   * the secret under the reference "challenge:" + reference; len 0: none. */
  uint8_t challenge_enc[CMP_MAX_SECRET_ENC];
  size_t challenge_enc_len;
  int64_t created_at;
  int64_t expires_at; /* 0: never */
  bool revoked;
  int64_t max_uses;        /* 0: no limit */
  int64_t uses;            /* certificate requests authenticated so far */
  int64_t failed_attempts; /* failed MACs since the last success */
  int64_t locked_until;    /* 0: not locked */
  char note[128];          /* the operator's note; "" when none */
  /* The identity the secret may enrol; "" when not bound (cmp/srv_names.c):
   * the subject as RFC 4514 text, and the subjectAltNames as "dns:a.example,
   * ip:192.0.2.1" (types lowercase, in the order given). */
  char subject[CMP_MAX_NAME_TEXT];
  char sans[CMP_MAX_NAME_TEXT];
};

/* What happened to a secret in an exchange, for its counters and the audit
 * log (store: secrets + events). */
struct cmp_secret_note {
  char reference[CMP_MAX_REF + 1];
  bool used;          /* authenticated a certificate request: uses + 1, failures reset */
  bool failed;        /* a MAC failed or the secret was refused: failures + 1 */
  int64_t lock_after; /* failures that lock the reference (0: never) */
  int64_t lock_until; /* until when, if this failure locks it */
  int64_t at;
  char kind[32];      /* events.kind, e.g. "secret.refused" */
  char detail[96];    /* events.detail: the real reason */
};

#endif
