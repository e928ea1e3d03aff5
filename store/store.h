/*
 * store.h - the persistent state of cmpgw, in SQLite (the default, embedded)
 * or PostgreSQL (several nodes sharing one database); schema: docs/store.md.
 *
 * Two ways in:
 *  - synchronous calls for the CLI and `init` (cg_store_open() ... close), on
 *    the calling thread;
 *  - asynchronous operations for the daemon: cg_store_start() starts one store
 *    thread that owns the connection.  The loop queues operations with
 *    cg_store_submit(); the store thread takes every queued operation at once,
 *    runs the reads, runs all writes inside one transaction (one savepoint per
 *    operation, so one failing write does not undo the others), commits once
 *    (one fsync for the group), and hands the completed operations back to the
 *    loop through a uv_async_t, where each op's callback runs.
 *
 * A SQLite database is opened in WAL mode with synchronous=FULL, foreign keys
 * on and a busy timeout, so operators may read it live with sqlite3.  A
 * PostgreSQL database is driven the same way, from the same threads, with
 * libpq (store/db.h).
 */
#ifndef CG_STORE_STORE_H
#define CG_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cmp/records.h"

struct cg_store;
struct cg_store_op;

/* Whether locator names a PostgreSQL database ([store] url: a libpq URI
 * or key=value words) rather than a SQLite file. */
bool cg_store_is_postgres(const char *locator);
/* The PostgreSQL password of the connections opened after: the first line
 * of the file path ([store] password_file); NULL: libpq's own (PGPASSWORD,
 * ~/.pgpass).  Call before the first open, on one thread.  0 or CG_ESTORE
 * (logged). */
int cg_store_password_file(const char *path);

/* Opens the database locator names (a SQLite file, created if needed, or a
 * PostgreSQL database, which must exist) and brings the schema to the
 * current version.  0, CG_ESTORE. */
int cg_store_open(const char *path, struct cg_store **out);
/* The index of certificates by key (certificates_key_hash), which the
 * check of a profile with key_reuse = false needs: made when it is not
 * there yet (before the thread starts).  Only then: a key hash is random, so
 * its index dirties a page of its own with every certificate written.
 * 0, CG_ESTORE. */
int cg_store_index_keys(struct cg_store *st);
/* Closes the database; stops the thread first if it runs (blocking). */
void cg_store_close(struct cg_store *st);

/* A second, read-only connection to a database cg_store_open() brought to
 * the current schema, for LOOKUPs done at once by the thread that owns it
 * (cg_store_read_now()) instead of by the store thread.  With WAL a read
 * sees the last commit without waiting for the writer.  Closed with
 * cg_store_close().  0, CG_ESTORE. */
int cg_store_open_reader(const char *path, struct cg_store **out);
/* Runs a CG_STORE_OP_LOOKUP on a reader now and sets op->result (the
 * callback is not called); other kinds get CG_EINVAL. */
void cg_store_read_now(struct cg_store *reader, struct cg_store_op *op);

/* Synchronous calls (CLI, init, tests).  Not to be used while the thread runs. */
/* Inserts a secret; CG_EEXISTS when the reference is taken. */
int cg_store_secret_insert(struct cg_store *st, const struct cmp_secret_record *rec);
/* Reads a secret by reference; CG_ENOT_FOUND when absent. */
int cg_store_secret_get(struct cg_store *st, const char *reference, struct cmp_secret_record *out);

/* The value of the setting `name` (docs/store.md, table settings) into out;
 * CG_ENOT_FOUND when it is not set, CG_ESPACE when it does not fit. */
int cg_store_setting_get(struct cg_store *st, const char *name, uint8_t *out, size_t cap,
                         size_t *len);
/* Sets (or replaces) the setting `name`. */
int cg_store_setting_put(struct cg_store *st, const char *name, const uint8_t *value, size_t len,
                         int64_t now);
/* The reference and sealed secret of one stored secret, any; CG_ENOT_FOUND
 * when there is none. */
int cg_store_secret_any(struct cg_store *st, char reference[CMP_MAX_REF + 1], uint8_t *enc,
                        size_t cap, size_t *len);

/* An operator's decision on a transaction awaiting approval: approve moves it
 * to pending_ca (the daemon then issues), reject to rejected (failInfo
 * badRequest, the reason kept in events).  0, CG_ENOT_FOUND, CG_ESTATE (not
 * pending_approval), CG_ESTORE.  Safe while the daemon runs (WAL). */
int cg_store_txn_decide(struct cg_store *st, const char *txid, bool approve, const char *reason,
                        int64_t now);

enum cg_store_op_kind {
  /* Reads the secret named by `ref` (if ref_len > 0), the transaction
   * `txid` (if non-empty) with its certificate, and the certificate `serial`
   * (if non-empty) with its status and the auth_ref of its transaction. */
  CG_STORE_OP_LOOKUP,
  /* Inserts `txn` (and `cert` when cert_present, and applies `revocation`
   * when revocation_present) in one savepoint.  CG_EEXISTS when the txid
   * exists, CG_ECERT_EXISTS when the certificate's serial does (UPDATE too);
   * with a revocation CG_ECERT_REVOKED when the certificate is revoked
   * already, CG_ENOT_FOUND when there is no such certificate. */
  CG_STORE_OP_INSERT,
  /* Updates the row txn.txid to txn.state/failinfo/updated_at (and
   * sender_nonce and cert_serial when non-empty; `cert` is inserted and
   * `revocation` applied in the same savepoint when present), only if its
   * state is txn.prev_state: CG_ESTATE otherwise, CG_ENOT_FOUND when there is
   * no such row.  state == prev_state is a pollReq's refresh: only
   * sender_nonce and updated_at change, in any waiting or issued state. */
  CG_STORE_OP_UPDATE,
  /* Applies `note` to a secret's counters and writes its audit event. */
  CG_STORE_OP_SECRET_NOTE,
  /* Reads the oldest approved transaction (state pending_ca) whose CA may be
   * asked again at `now` (ca_check_at unset or past) with its kept request
   * into txn / request_der (txn_found false when there is none). */
  CG_STORE_OP_NEXT_APPROVED,
  /* Reads the transaction whose polling reference is txn.poll_ref, with its
   * kept request, the same way (txn_found false when there is none). */
  CG_STORE_OP_BY_POLL_REF,
  /* Expires the transactions of `expire_profile` that waited too long:
   * pending_approval / pending_ca created before expire_pending_before, and
   * issued (unconfirmed) ones last answered before expire_issued_before; an
   * events row for each.  expired gets how many. */
  CG_STORE_OP_EXPIRE,
  /* Writes nothing, in a write group: 0 when the group's transaction began
   * and committed, CG_ESTORE otherwise (the database cannot be written: its
   * file, its disk, or another process holding the write lock past the busy
   * timeout).  The admin listener's /readyz. */
  CG_STORE_OP_PROBE,
  /* Takes or renews the lease `lease_name` for `lease_holder` until
   * `lease_until`, when it is free, ran out by `now`, or is the holder's
   * already; lease_held tells whether the holder has it now.  One of
   * several nodes on one database does the background work (docs/store.md,
   * table leases). */
  CG_STORE_OP_LEASE,
  /* Adds to the search index of subjects and SANs (SQLite's
   * certificates_search, docs/store.md) up to search_batch of the
   * certificates written since it last caught up; search_added gets how
   * many (fewer than search_batch: it is up to date).  A search reads the
   * rows the index lacks one by one, so this only keeps searches quick.
   * Nothing on PostgreSQL, whose indexes each write keeps. */
  CG_STORE_OP_SEARCH_INDEX,
};

struct cg_store_op {
  enum cg_store_op_kind kind;
  /* Runs on the loop thread when the op completed; result is set. */
  void (*cb)(struct cg_store_op *op);
  void *arg;
  int result; /* 0 or CG_E* */

  /* CG_STORE_OP_LOOKUP input */
  uint8_t ref[CMP_MAX_REF];
  size_t ref_len;
  /* LOOKUP input (txid only) / INSERT, UPDATE input; INSERT writes back the
   * polling reference it drew for a waiting transaction */
  struct cmp_txn_record txn;
  /* INSERT input: the certificate issued in this transaction */
  bool cert_present;
  struct cmp_cert_record cert;
  /* INSERT / UPDATE input: a certificate revoked in this transaction (reason
   * removeFromCRL, 8: released from hold, its certificateHold revocation
   * removed; CG_EBAD_CERT_ID when it is not on hold, CG_ECERT_REVOKED when it
   * is revoked for good) */
  bool revocation_present;
  struct cmp_revocation_record revocation;
  /* INSERT input: the secret that authenticated it (its use is counted in
   * the same savepoint; CG_EBAD_MAC when it is used up meanwhile);
   * SECRET_NOTE input */
  bool note_present;
  struct cmp_secret_note note;
  /* INSERT input: the request kept with a waiting transaction (borrowed);
   * NEXT_APPROVED output (malloc'ed, freed by cg_store_op_release) */
  const uint8_t *request_der;
  size_t request_der_len;
  uint8_t *request_out;
  /* INSERT input: caps on waiting requests (pending_approval, pending_ca) of
   * txn.profile and of txn.auth_ref within it, 0 = none; a waiting
   * transaction over either is not inserted: CG_EPENDING_LIMIT. */
  unsigned max_pending, max_pending_per_ref;
  /* NEXT_APPROVED, LEASE input */
  int64_t now;
  /* LEASE input and output */
  char lease_name[32];
  char lease_holder[96];
  int64_t lease_until;
  bool lease_held;
  /* SEARCH_INDEX input and output */
  size_t search_batch, search_added;
  /* EXPIRE input and output */
  char expire_profile[CMP_MAX_PROFILE + 1];
  int64_t expire_pending_before, expire_issued_before, expire_now;
  int expired;
  /* LOOKUP input: a certificate by lowercase hex serial ("" = none) */
  char serial[2 * CMP_MAX_SERIAL + 1];
  char key_hash[65]; /* a public key asked for (cg_spki_hash_hex()); "": none */
  bool check_key_reuse; /* and whether it is certified in force is asked too */
  /* LOOKUP input: list the revocations of certificates of this issuer
   * (RFC 4514 text as in certificates.issuer; "" = none) */
  char revoked_issuer[512];

  /* LOOKUP output */
  bool secret_found;
  struct cmp_secret_record secret;
  bool txn_found; /* txn is then overwritten with the row */
  uint8_t *cert_der; /* malloc'ed DER of the transaction's certificate, or NULL */
  size_t cert_der_len;
  bool serial_found;      /* the certificate `serial` */
  bool serial_revoked;
  int serial_reason;           /* its revocation's CRLReason; -1: none given, or not revoked */
  bool serial_held_by_operator; /* on hold (reason 6) at an operator's request */
  bool serial_unconfirmed_kup;  /* issued by a kur, its certConf not come */
  bool serial_updated;          /* a kur of it was confirmed */
  bool serial_update_pending;   /* a kur of it has not ended (unconfirmed or waiting) */
  bool key_certified;   /* key_hash, check_key_reuse: a certificate of it is in force */
  bool key_compromised; /* key_hash: a certificate of it was revoked for keyCompromise */
  uint8_t *serial_der;    /* malloc'ed, or NULL */
  size_t serial_der_len;
  char serial_auth_ref[2 * CMP_MAX_REF + 1]; /* of its transaction; "" when none */
  struct cmp_revocation_record *revoked; /* malloc'ed, oldest first */
  size_t n_revoked;

  struct cg_store_op *next; /* queue link, the store's */
};

/* Frees what a completed LOOKUP returned (cert_der, serial_der, revoked);
 * safe on any op. */
void cg_store_op_release(struct cg_store_op *op);

/* Starts the store thread, completing on loop.  0 or CG_ESTORE. */
int cg_store_start(struct cg_store *st, uv_loop_t *loop);
/* Group commit pacing: a write that comes less than interval_us
 * microseconds after the last commit began may wait for the rest of the
 * interval, with everything queued meanwhile (or until 512 operations are
 * queued, or the store stops): fewer, larger commits.  The thread learns
 * whether waiting pays: after a few waits that nobody joined (a lone client,
 * whose next write needs this one's answer) it commits at once again, trying
 * a wait now and then.  Writes further apart than the interval never wait.
 * 0, the default, commits as soon as the thread is free.  Call before
 * cg_store_start(). */
void cg_store_set_commit_interval(struct cg_store *st, uint32_t interval_us);
/* Queues op; its cb runs on the loop later.  CG_EBUSY when stopping (cb is
 * then not called).  Called on the loop thread only. */
int cg_store_submit(struct cg_store *st, struct cg_store_op *op);
/* Finishes every queued op (their callbacks still run), then stops the thread
 * and closes the async handle; on_stopped(arg) runs on the loop when all is
 * done.  The database stays open until cg_store_close(). */
void cg_store_stop(struct cg_store *st, void (*on_stopped)(void *arg), void *arg);

/* Counters for metrics and benchmarks, since the store was opened. */
#define CG_STORE_COMMIT_BUCKETS 10
/* Upper bounds of the commit-time buckets, in microseconds (the last is
 * infinite). */
extern const uint32_t cg_store_commit_bucket_us[CG_STORE_COMMIT_BUCKETS - 1];
struct cg_store_counters {
  uint64_t ops;     /* operations run */
  uint64_t commits; /* write groups committed */
  uint64_t held;    /* write groups held back by commit pacing */
  uint64_t queued;  /* operations submitted and not yet completed (now) */
  uint64_t write_group_ops; /* operations in committed write groups, all together */
  uint64_t commit_ns;       /* time from BEGIN to COMMIT of committed groups, together */
  uint64_t commit_buckets[CG_STORE_COMMIT_BUCKETS]; /* committed groups by that time */
  uint64_t failed_groups;   /* write groups whose transaction was lost or not committed */
};
void cg_store_stats(const struct cg_store *st, struct cg_store_counters *out);

/* What the database holds now, for metrics: secrets locked at `now`,
 * transactions waiting for an operator and for the CA.  One read
 * transaction, on a reader (cg_store_open_reader()) from any one thread at a
 * time.  0 or CG_ESTORE. */
struct cg_store_gauges {
  uint64_t locked_secrets;
  uint64_t pending_approvals;
  uint64_t pending_ca;
};
int cg_store_gauges(struct cg_store *st, int64_t now, struct cg_store_gauges *out);

#endif
