/*
 * query.h - what the operator commands read from and write to the database
 * (`cmpgw secret list|show|revoke`, `tx`, `certs`, `revoke`, `db`): rows as
 * plain structs, the operator's writes as one SQLite transaction each, and
 * the database checks and backup.
 *
 * These calls run on the caller's thread with a store opened by
 * cg_store_open() and not started (the CLI), while `cmpgw serve` may be
 * writing the same file from its own process.  Each call is one SQLite
 * transaction (a read snapshot, or BEGIN IMMEDIATE for a write); when the
 * other writer keeps the database locked the call waits, and a SQLITE_BUSY is
 * retried until CG_QUERY_BUSY_MS have passed.  Only then does it fail, with
 * CG_EBUSY.
 *
 * Text fields are NUL terminated; "" stands for SQL NULL (docs/store.md: an
 * absent value is NULL, never an empty string).  Times are the stored
 * ISO-8601 text ("YYYY-MM-DDTHH:MM:SSZ"); a row holding a time in any other
 * form, or a value too long for its field, is reported as CG_ESTORE.
 */
#ifndef CG_STORE_QUERY_H
#define CG_STORE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/records.h"

struct cg_store;

/* How long a call keeps retrying while another connection holds the lock. */
#define CG_QUERY_BUSY_MS 5000

/* "YYYY-MM-DDTHH:MM:SSZ" and its NUL. */
#define CG_QUERY_TIME 21

/* True when s is exactly "YYYY-MM-DDTHH:MM:SSZ" with a plausible date and
 * time (the only form the database holds). */
bool cg_query_time_ok(const char *s);

/* ---- secrets ------------------------------------------------------------- */

/* One row of `secrets`, without the sealed secret and challenge. */
struct cg_query_secret {
  char reference[CMP_MAX_REF + 1];
  char profile[CMP_MAX_PROFILE + 1];
  char created_at[CG_QUERY_TIME];
  char expires_at[CG_QUERY_TIME];   /* "": never */
  char revoked_at[CG_QUERY_TIME];   /* "": not revoked */
  char locked_until[CG_QUERY_TIME]; /* "": not locked */
  int64_t max_uses;                 /* 0: no limit (as in cmp_secret_record) */
  int64_t uses;
  int64_t failed_attempts;
  bool has_challenge; /* challenge_enc is present */
  char *note;         /* malloc'ed; NULL: none */
  char *subject;      /* the bound identity (malloc'ed; NULL: not bound) */
  char *sans;
};

/* Inserts rec (cg_store_secret_insert()) and sets its max_uses (0: no limit)
 * and note (NULL: none) in the same transaction.  0, CG_EEXISTS when the
 * reference is taken, CG_EINVAL for a record the store refuses, CG_EBUSY,
 * CG_ESTORE. */
int cg_query_secret_insert(struct cg_store *st, const struct cmp_secret_record *rec,
                           int64_t max_uses, const char *note);

/* Every secret (of profile, unless NULL), ordered by reference, into a
 * malloc'ed array (*out NULL when there is none) the caller frees with
 * cg_query_secrets_free().  0, CG_ENOMEM, CG_EBUSY, CG_ESTORE. */
int cg_query_secrets(struct cg_store *st, const char *profile, struct cg_query_secret **out,
                     size_t *n);
void cg_query_secrets_free(struct cg_query_secret *v, size_t n);

/* The secret named reference into *out (free its note with
 * cg_query_secret_clear()).  0, CG_ENOT_FOUND, CG_ENOMEM, CG_EBUSY, CG_ESTORE. */
int cg_query_secret(struct cg_store *st, const char *reference, struct cg_query_secret *out);
void cg_query_secret_clear(struct cg_query_secret *s);

/* Revokes the secret named reference as of now (its revoked_at) and records
 * an `events` row of kind "secret.revoked", in one transaction.  revoked_at
 * gets the time the secret is revoked since: now, or the earlier time when it
 * was revoked already (then CG_ESTATE, and nothing is written).  0,
 * CG_ENOT_FOUND, CG_ESTATE, CG_EBUSY, CG_ESTORE. */
int cg_query_secret_revoke(struct cg_store *st, const char *reference, int64_t now,
                           char revoked_at[CG_QUERY_TIME]);

/* ---- transactions -------------------------------------------------------- */

/* One row of `transactions`. */
struct cg_query_txn {
  char transaction_id[2 * CMP_MAX_TXID + 1];
  char profile[CMP_MAX_PROFILE + 1];
  char auth_ref[2 * CMP_MAX_REF + 1];
  char req_type[12];
  char state[24];
  int failinfo;        /* PKIFailureInfo bit; -1: none */
  bool has_cert_req_id;
  int64_t cert_req_id;
  char sender_nonce[2 * CMP_MAX_NONCE + 1];
  char cert_serial[2 * CMP_MAX_SERIAL + 1];
  char created_at[CG_QUERY_TIME];
  char updated_at[CG_QUERY_TIME];
};

/* Filters of cg_query_txns(); NULL or 0 fields do not filter. */
struct cg_query_txn_filter {
  const char *state;   /* transactions.state equal to this */
  const char *profile; /* transactions.profile equal to this */
  const char *since;   /* created_at at or after this time (stored form) */
  size_t limit;        /* at most this many rows; 0: all */
};

/* The transactions matching f, newest first (in the order their rows were
 * written), into a malloc'ed array freed with free().  0, CG_EINVAL (since is
 * not a stored time), CG_ENOMEM, CG_EBUSY, CG_ESTORE. */
int cg_query_txns(struct cg_store *st, const struct cg_query_txn_filter *f,
                  struct cg_query_txn **out, size_t *n);

/* One row of `events`. */
struct cg_query_event {
  int64_t id;
  char at[CG_QUERY_TIME];
  char transaction_id[2 * CMP_MAX_TXID + 1]; /* "": none */
  char *kind;   /* malloc'ed */
  char *detail; /* malloc'ed; NULL: none */
};

/* A transaction with the certificate named by its cert_serial and its events. */
struct cg_query_txn_detail {
  struct cg_query_txn txn;
  bool cert_found;
  char cert_status[16];
  char *cert_subject;           /* malloc'ed when cert_found */
  struct cg_query_event *events; /* malloc'ed, oldest first */
  size_t n_events;
};

/* The transaction txid, read in one snapshot.  Free with
 * cg_query_txn_detail_clear().  0, CG_ENOT_FOUND, CG_ENOMEM, CG_EBUSY,
 * CG_ESTORE. */
int cg_query_txn(struct cg_store *st, const char *txid, struct cg_query_txn_detail *out);
void cg_query_txn_detail_clear(struct cg_query_txn_detail *d);

/* ---- certificates -------------------------------------------------------- */

/* One row of `certificates`, with its revocation when there is one and, from
 * cg_query_cert(), its DER and the transaction that issued it. */
struct cg_query_cert {
  char serial[2 * CMP_MAX_SERIAL + 1];
  char *subject; /* malloc'ed */
  char *issuer;  /* malloc'ed */
  char *sans;    /* malloc'ed; "" when none (or not known: stored before schema 8) */
  char key_type[32]; /* "EC P-256", "RSA 2048", "Ed25519"...; "" when not known */
  char not_before[CG_QUERY_TIME];
  char not_after[CG_QUERY_TIME];
  char status[16]; /* "valid", "unconfirmed", "revoked" */
  char profile[CMP_MAX_PROFILE + 1];
  char transaction_id[2 * CMP_MAX_TXID + 1]; /* "": issued outside CMP */
  char created_at[CG_QUERY_TIME];

  bool revoked; /* a `revocations` row exists */
  int reason;   /* CRLReason; -1: none given */
  char revoked_at[CG_QUERY_TIME];
  char requested_by[16];                        /* "device", "operator" */
  char revoked_by_txn[2 * CMP_MAX_TXID + 1];    /* "": none (operator) */

  /* cg_query_cert() only */
  uint8_t *der; /* malloc'ed */
  size_t der_len;
  bool txn_found;
  char txn_state[24];
  char txn_req_type[12];
  char txn_auth_ref[2 * CMP_MAX_REF + 1];
};

/* Filters of cg_query_certs(); NULL or 0 fields do not filter. */
struct cg_query_cert_filter {
  const char *subject; /* the subject contains this, ASCII letters in any case */
  const char *status;  /* certificates.status equal to this */
  size_t limit;        /* at most this many rows; 0: all */
  size_t offset;       /* the first this many matching rows skipped (a page) */
  const char *sans;      /* the SANs contain this, ASCII letters in any case */
  const char *reference; /* issued to a transaction of this auth_ref (a secret's reference) */
  const char *since, *until; /* created at or after / before these stored times */
};

/* The certificates matching f, newest first, into a malloc'ed array freed with
 * cg_query_certs_free().  0, CG_ENOMEM, CG_EBUSY, CG_ESTORE. */
int cg_query_certs(struct cg_store *st, const struct cg_query_cert_filter *f,
                   struct cg_query_cert **out, size_t *n);
void cg_query_certs_free(struct cg_query_cert *v, size_t n);

/* The certificate serial: lowercase hex as stored, or as a person types it
 * (any case, ':' separators, leading zeros added or left out).  Free with
 * cg_query_cert_clear().  0, CG_ENOT_FOUND (also for text that is not a
 * serial), CG_EEXISTS (leading zeros left out and two certificates match),
 * CG_ENOMEM, CG_EBUSY, CG_ESTORE. */
int cg_query_cert(struct cg_store *st, const char *serial, struct cg_query_cert *out);
void cg_query_cert_clear(struct cg_query_cert *c);

/* The operator revokes the certificate serial (exactly as stored) for reason
 * (CRLReason 0..10 except 7) as of now: in one transaction its status goes
 * from 'valid' or 'unconfirmed' to 'revoked', a `revocations` row is written (no transaction,
 * requested_by 'operator') and an `events` row of kind "certificate.revoked"
 * (with the transaction that issued it).  0, CG_ENOT_FOUND, CG_ECERT_REVOKED
 * (revoked already: nothing is written), CG_EINVAL (reason), CG_EBUSY,
 * CG_ESTORE. */
int cg_query_cert_revoke(struct cg_store *st, const char *serial, int reason, int64_t now);
/* The operator releases the certificate serial from hold (RFC 5280 §5.3.1:
 * certificateHold, then removeFromCRL): in one transaction its revocation
 * of reason certificateHold goes (it leaves the next CRL), its status is
 * what it was ('valid', or 'unconfirmed' while its transaction is not
 * confirmed), and an `events` row of kind "certificate.released" is
 * written.  removeFromCRL is no reason to revoke with: cg_query_cert_revoke()
 * refuses it (CG_EINVAL).  0, CG_ENOT_FOUND, CG_EBAD_CERT_ID (not revoked:
 * nothing to release), CG_ECERT_REVOKED (revoked for good), CG_EBUSY,
 * CG_ESTORE. */
int cg_query_cert_release(struct cg_store *st, const char *serial, int64_t now);

/* ---- operators of the web console ---------------------------------------- */

#define CG_OPERATOR_NAME_MAX 64

/* One row of `operators` (docs/store.md). */
struct cg_query_operator {
  char name[CG_OPERATOR_NAME_MAX + 1];
  char role[16]; /* "viewer", "operator", "admin" */
  char password_hash[128];
  char created_at[CG_QUERY_TIME];
  int64_t failed_attempts;
  char locked_until[CG_QUERY_TIME];  /* "": not locked */
  char last_login_at[CG_QUERY_TIME]; /* "": never */
};

/* 1-64 of A-Z a-z 0-9 . _ - */
bool cg_query_operator_name_ok(const char *name);
/* "viewer", "operator" or "admin". */
bool cg_query_operator_role_ok(const char *role);

/* Adds an operator and an `events` row "operator.added", in one
 * transaction.  0, CG_EEXISTS, CG_EINVAL (name or role), CG_EBUSY, CG_ESTORE. */
int cg_query_operator_add(struct cg_store *st, const char *name, const char *role,
                          const char *password_hash, int64_t now);
/* Every operator, ordered by name, into a malloc'ed array freed with free(). */
int cg_query_operators(struct cg_store *st, struct cg_query_operator **out, size_t *n);
/* The operator name.  0, CG_ENOT_FOUND, CG_EBUSY, CG_ESTORE. */
int cg_query_operator(struct cg_store *st, const char *name, struct cg_query_operator *out);
/* Removes the operator ("operator.removed").  0, CG_ENOT_FOUND, CG_EBUSY, CG_ESTORE. */
int cg_query_operator_remove(struct cg_store *st, const char *name, int64_t now);
/* Sets the operator's password, and unlocks it ("operator.password").  0,
 * CG_ENOT_FOUND, CG_EBUSY, CG_ESTORE. */
int cg_query_operator_passwd(struct cg_store *st, const char *name, const char *password_hash,
                             int64_t now);
/* Records a login: good, the failures are forgotten and last_login_at is
 * now ("operator.login"); bad, one more failure ("operator.login_failed"),
 * and the max_failures-th locks the operator until now + lock_s and counts
 * from 0 again (*locked set, "operator.locked").  0, CG_ENOT_FOUND, CG_EBUSY,
 * CG_ESTORE. */
int cg_query_operator_login(struct cg_store *st, const char *name, bool good, int64_t now,
                            unsigned max_failures, unsigned lock_s, bool *locked);
/* An `events` row: what an operator did (kind "console.*", detail naming
 * the operator), with the transaction it concerns (NULL: none).  0,
 * CG_EBUSY, CG_ESTORE. */
int cg_query_event_add(struct cg_store *st, int64_t now, const char *txid, const char *kind,
                       const char *detail);

/* ---- the web console's reads --------------------------------------------- */

/* A transaction waiting for an operator, with the request it waits with. */
struct cg_query_pending {
  struct cg_query_txn txn;
  uint8_t *request_der; /* malloc'ed; NULL when none is kept */
  size_t request_der_len;
};
/* The transactions in pending_approval, oldest first, a page of them
 * (offset, limit), into a malloc'ed array freed with
 * cg_query_pending_free().  *total gets how many there are in all. */
int cg_query_pending(struct cg_store *st, size_t offset, size_t limit,
                     struct cg_query_pending **out, size_t *n, int64_t *total);
void cg_query_pending_free(struct cg_query_pending *v, size_t n);

/* What the console's dashboard shows, as of now. */
#define CG_QUERY_HOURS 24
#define CG_QUERY_FAILINFO_BITS 27
struct cg_query_dashboard {
  int64_t pending_approval, pending_ca;
  int64_t secrets_locked, secrets_active;
  int64_t certs_valid, certs_unconfirmed, certs_revoked;
  int64_t expiring_30d;
  /* The last CG_QUERY_HOURS hours, oldest first ([CG_QUERY_HOURS - 1]: the
   * hour now running): transactions begun, by what they asked. */
  int64_t enrolments[CG_QUERY_HOURS]; /* ir, cr, p10cr */
  int64_t renewals[CG_QUERY_HOURS];   /* kur */
  int64_t revocations[CG_QUERY_HOURS]; /* rr */
  int64_t failures[CG_QUERY_HOURS];   /* transactions that became rejected or failed */
  /* failures of the last CG_QUERY_HOURS hours by failInfo bit; [27]: none */
  int64_t by_failinfo[CG_QUERY_FAILINFO_BITS + 1];
  /* and by profile (the first ten met), transactions and failures */
  size_t n_profiles;
  char profile[10][CMP_MAX_PROFILE + 1];
  int64_t profile_total[10], profile_failed[10];
};
/* Reads the dashboard in one snapshot: the hours from transactions_hourly
 * (counted as transactions are written), the rest counted now.  0,
 * CG_EBUSY, CG_ESTORE. */
int cg_query_dashboard(struct cg_store *st, int64_t now, struct cg_query_dashboard *out);

/* The secrets whose reference begins with prefix (NULL or "": all), ordered
 * by reference, a page of them (offset, limit), as cg_query_secrets(). */
int cg_query_secrets_page(struct cg_store *st, const char *prefix, size_t offset, size_t limit,
                          struct cg_query_secret **out, size_t *n);

/* ---- the database -------------------------------------------------------- */

/* What `cmpgw db check` found. */
struct cg_query_check {
  int user_version;     /* PRAGMA user_version */
  int expected_version; /* CG_STORE_SCHEMA_VERSION of this build */
  bool integrity_ok;    /* PRAGMA integrity_check said "ok" */
  size_t n_fk;          /* rows of PRAGMA foreign_key_check */
  char **problems;      /* malloc'ed strings: what is wrong, in words */
  size_t n_problems;
};

/* Checks the database file at path without changing it (no migration): PRAGMA
 * integrity_check, PRAGMA foreign_key_check and user_version against
 * CG_STORE_SCHEMA_VERSION.  Safe while `cmpgw serve` writes.  Free with
 * cg_query_check_clear().  0 (read out->n_problems: 0 means sound),
 * CG_ENOT_FOUND (no such file), CG_ENOMEM, CG_EBUSY, CG_ESTORE (not a
 * database, or it cannot be read). */
int cg_query_check_file(const char *path, struct cg_query_check *out);
void cg_query_check_clear(struct cg_query_check *c);

/* Copies the whole database, as of one snapshot, into the file dest with
 * SQLite's online backup: dest must exist and be empty (the caller creates it
 * exclusively, so nothing is overwritten).  *pages gets the page count.  The
 * other writer is never blocked.  0, CG_EBUSY, CG_ESTORE. */
int cg_query_backup(struct cg_store *st, const char *dest, int *pages);

/* What cg_query_copy() copied: each table's rows, and how many of them were
 * read back and compared. */
#define CG_QUERY_COPY_TABLES 8
struct cg_query_copy_report {
  const char *tables[CG_QUERY_COPY_TABLES];
  int64_t rows[CG_QUERY_COPY_TABLES];
  int64_t sampled[CG_QUERY_COPY_TABLES];
  size_t n_tables;
};

/* `cmpgw db migrate-to-postgres`: copies the SQLite database at from_path
 * (one snapshot; stop the daemon first, or later writes stay behind) into
 * the PostgreSQL database to_locator, which is brought to the current
 * schema and must hold no cmpgw rows (CG_EEXISTS, nothing written), in one
 * transaction; then checks the copy: every table's count, and up to
 * `sample` rows of each (spread over it) read back and compared column by
 * column (CG_ESTATE when one differs).  0, CG_EINVAL (not SQLite to
 * PostgreSQL), CG_EEXISTS, CG_ESTATE, CG_ENOMEM, CG_ESTORE; logged. */
int cg_query_copy(const char *from_path, const char *to_locator, int sample,
                  struct cg_query_copy_report *out);

#endif
