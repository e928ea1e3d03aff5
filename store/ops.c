/*
 * ops.c - store/store.h on one SQL connection (store/db.h: SQLite or
 * PostgreSQL): the connection and its prepared statements, the row <->
 * record mapping, the synchronous calls, and how one group of queued
 * operations runs (the thread that feeds it is in async.c).
 *
 * The statements are written once, in the SQL both engines speak (db.h);
 * stmt_text() names the one that differs.  One connection per store.  Its
 * statements are prepared once, right after the schema is migrated, and
 * reused (reset and cleared after every use).  The
 * connection is used by one thread at a time: the caller's before
 * cg_store_start() and after the thread is joined, the store thread in
 * between; uv_thread_create() and uv_thread_join() order the hand-overs, so
 * a SQLite connection is opened without SQLite's own mutex.
 *
 * A group runs reads directly and each write in its own savepoint inside one
 * write transaction, then commits once.  Operations run in queue
 * order, so a read sees the writes queued before it, and a failing write
 * (a reused transactionID) is undone alone.
 *
 * Values are bound and columns read with store/sql.h, as query.c does: times
 * as the ISO-8601 UTC text of cg_time_iso8601(), over the years four digits
 * can show (time_ok()), read back in exactly that form; a column that does
 * not fit its record is CG_ESTORE.  Empty strings in records are stored as
 * NULL and read back as "".
 */
#include "store/store.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "store/db.h"
#include "store/internal.h"
#include "store/schema.h"
#include "store/sql.h"

static const char *const stmt_sql[S__COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT op",
    [S_RELEASE] = "RELEASE op",
    [S_ROLLBACK_TO] = "ROLLBACK TO op",
    [S_SECRET_INSERT] = "INSERT INTO secrets (reference, profile, secret_enc, created_at,"
                        " expires_at, revoked_at, challenge_enc, max_uses, note, subject, sans)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [S_SECRET_GET] = "SELECT profile, secret_enc, created_at, expires_at, revoked_at,"
                     " challenge_enc, max_uses, uses, failed_attempts, locked_until, note,"
                     " subject, sans FROM secrets WHERE reference = ?1",
    [S_SECRET_USED] = "UPDATE secrets SET uses = uses + 1, failed_attempts = 0"
                      " WHERE reference = ?1 AND revoked_at IS NULL"
                      " AND (max_uses IS NULL OR uses < max_uses)",
    /* Every lock_after-th failure locks; a locked reference is left as it
     * is (no count, no event), so refusals cannot extend the lock or grow
     * the store faster than lock_after rows per lockout. */
    [S_SECRET_FAILED] = "UPDATE secrets SET failed_attempts = failed_attempts + 1,"
                        " locked_until = CASE WHEN ?2 > 0 AND (failed_attempts + 1) % ?2 = 0"
                        " THEN ?3 ELSE locked_until END"
                        " WHERE reference = ?1 AND (locked_until IS NULL OR locked_until <= ?4)",
    [S_EVENT_INSERT] = "INSERT INTO events (at, transaction_id, kind, detail)"
                       " VALUES (?1, ?2, ?3, ?4)",
    [S_TXN_INSERT] = "INSERT INTO transactions (transaction_id, profile, auth_ref, req_type, state,"
                     " failinfo, cert_req_id, sender_nonce, cert_serial, created_at,"
                     " updated_at, request_der, poll_ref, ca_state, ca_check_at, protection,"
                     " device_nonce, updates_serial)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
                     " ?16, ?17, ?18)",
    [S_EXPIRE_EVENTS] = "INSERT INTO events (at, transaction_id, kind, detail)"
                        " SELECT CAST(?4 AS TEXT), transaction_id, 'transaction.expired',"
                        " 'was ' || state"
                        " FROM transactions WHERE profile = ?1 AND"
                        " ((state IN ('pending_approval', 'pending_ca') AND created_at < ?2)"
                        " OR (state = 'issued' AND updated_at < ?3))",
    [S_EXPIRE] = "UPDATE transactions SET state = 'expired', updated_at = ?4"
                 " WHERE profile = ?1 AND"
                 " ((state IN ('pending_approval', 'pending_ca') AND created_at < ?2)"
                 " OR (state = 'issued' AND updated_at < ?3))",
    /* Rows whose CA asked to be asked again later wait for their time. */
    [S_TXN_NEXT_APPROVED] = "SELECT transaction_id, request_der FROM transactions"
                            " WHERE state = 'pending_ca' AND request_der IS NOT NULL"
                            " AND (ca_check_at IS NULL OR ca_check_at <= ?1)"
                            " ORDER BY updated_at LIMIT 1",
    [S_TXN_BY_POLL_REF] = "SELECT transaction_id, request_der FROM transactions"
                          " WHERE poll_ref = ?1",
    [S_POLL_REF_USED] = "SELECT 1 FROM transactions WHERE poll_ref = ?1",
    /* The WHERE clause repeats the partial index transactions_waiting's. */
    [S_COUNT_WAITING] = "SELECT count(*) FROM transactions"
                        " WHERE state IN ('pending_approval', 'pending_ca') AND profile = ?1",
    [S_COUNT_WAITING_REF] = "SELECT count(*) FROM transactions"
                            " WHERE state IN ('pending_approval', 'pending_ca') AND profile = ?1"
                            " AND auth_ref = ?2",
    [S_TXN_GET] = "SELECT profile, auth_ref, req_type, state, failinfo, cert_req_id,"
                  " sender_nonce, cert_serial, created_at, updated_at, poll_ref, ca_state,"
                  " ca_check_at, protection, device_nonce FROM transactions"
                  " WHERE transaction_id = ?1",
    [S_TXN_UPDATE] = "UPDATE transactions SET state = ?1, failinfo = ?2,"
                     " sender_nonce = coalesce(?3, sender_nonce), updated_at = ?4,"
                     " cert_serial = coalesce(?5, cert_serial),"
                     " ca_state = coalesce(?8, ca_state), ca_check_at = coalesce(?9, ca_check_at)"
                     " WHERE transaction_id = ?6 AND state = ?7",
    /* A pollReq's new nonce, whatever the state became meanwhile (approved,
     * issued or revoked in the background, rejected, failed): the device
     * polls again with it and learns the outcome.  The background's ask of a
     * CA that still waits renews what its backend keeps. */
    [S_TXN_REFRESH] = "UPDATE transactions SET sender_nonce = coalesce(?1, sender_nonce),"
                      " updated_at = ?2, ca_state = coalesce(?4, ca_state),"
                      " ca_check_at = coalesce(?5, ca_check_at)"
                      " WHERE transaction_id = ?3 AND state <> 'received'",
    [S_TXN_STATE] = "SELECT state FROM transactions WHERE transaction_id = ?1",
    [S_CERT_INSERT] = "INSERT INTO certificates (serial, subject, issuer, not_before,"
                      " not_after, der, transaction_id, profile, created_at, sans, key_type,"
                      " status, key_hash)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    /* A key: reported compromised (a probe), and (?2, where the profile
     * asks) certified in a certificate in force (the first one found).  CASE,
     * not "?2 AND EXISTS": SQLite runs a subquery that depends on no row
     * once, before the AND, whatever ?2 says (a scan of the certificates at
     * every request).  Integers, not booleans, in the THEN branches: the
     * two dialects agree on those. */
    [S_KEY_CERTIFIED] = "SELECT CASE WHEN EXISTS (SELECT 1 FROM compromised_keys"
                        " WHERE key_hash = ?1) THEN 1 ELSE 0 END,"
                        " CASE WHEN ?2 <> 0 THEN CASE WHEN EXISTS (SELECT 1 FROM certificates"
                        " WHERE key_hash = ?1 AND key_hash IS NOT NULL AND status <> 'revoked')"
                        " THEN 1 ELSE 0 END ELSE 0 END",
    /* A revocation for keyCompromise (1) or cACompromise (2) reports the
     * certificate's key compromised. */
    [S_KEY_COMPROMISED] = "INSERT INTO compromised_keys (key_hash, serial, reported_at)"
                          " SELECT key_hash, serial, CAST(?2 AS TEXT) FROM certificates"
                          " WHERE serial = ?1 AND key_hash IS NOT NULL ON CONFLICT DO NOTHING",
    [S_CERT_DER] = "SELECT der FROM certificates WHERE serial = ?1",
    [S_CERT_REVOKE] = "UPDATE certificates SET status = 'revoked'"
                      " WHERE serial = ?1 AND status <> 'revoked'",
    /* certConf accepted: the certificate of the transaction is in use (found
     * through the transaction, by primary keys). */
    [S_CERT_CONFIRM] = "UPDATE certificates SET status = 'valid'"
                       " WHERE serial = (SELECT cert_serial FROM transactions"
                       " WHERE transaction_id = ?1)"
                       " AND transaction_id = ?1 AND status = 'unconfirmed'",
    [S_CERT_BY_SERIAL] = "SELECT c.der, c.status, t.auth_ref, r.reason, r.requested_by, t.req_type"
                         " FROM certificates c"
                         " LEFT JOIN transactions t ON t.transaction_id = c.transaction_id"
                         " LEFT JOIN revocations r ON r.serial = c.serial WHERE c.serial = ?1",
    [S_CERT_STATUS] = "SELECT status FROM certificates WHERE serial = ?1",
    /* The kurs of a certificate: one confirmed (it was updated), one that
     * has not ended (issued and unconfirmed, or waiting). */
    [S_CERT_UPDATES] = "SELECT coalesce(max(CASE WHEN state = 'confirmed' THEN 1 ELSE 0 END), 0),"
                       " coalesce(max(CASE WHEN state IN ('issued', 'pending_approval',"
                       " 'pending_ca') THEN 1 ELSE 0 END), 0)"
                       " FROM transactions WHERE updates_serial = ?1",
    [S_REVOCATION_INSERT] = "INSERT INTO revocations (serial, reason, revoked_at, transaction_id)"
                            " VALUES (?1, ?2, ?3, ?4)",
    /* A hold (certificateHold, 6) leaves the record; the certificate is what
     * it was before (unconfirmed while its transaction is not confirmed). */
    [S_HOLD_RELEASE] = "DELETE FROM revocations WHERE serial = ?1 AND reason = 6",
    [S_CERT_UNREVOKE] =
        "UPDATE certificates SET status = CASE WHEN EXISTS ("
        "SELECT 1 FROM transactions t WHERE t.transaction_id = certificates.transaction_id"
        " AND t.state IN ('issued', 'expired', 'failed'))"
        " THEN 'unconfirmed' ELSE 'valid' END"
        " WHERE serial = ?1 AND status = 'revoked'",
    /* A lease is taken when it is free or ran out (?4: now), renewed by its
     * holder; otherwise nothing changes (no row: another node has it). */
    [S_LEASE] = "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)"
                " ON CONFLICT (name) DO UPDATE SET holder = ?2, expires_at = ?3"
                " WHERE leases.holder = ?2 OR leases.expires_at <= ?4",
    /* SQLite's search index (schema 18): the last of the next ?1
     * certificates it does not hold, and how many they are; those added;
     * its new end.  Never run on PostgreSQL. */
    [S_SEARCH_UPTO] = "SELECT max(rowid), count(*) FROM (SELECT rowid FROM certificates"
                      " WHERE rowid > (SELECT upto FROM search_indexed) ORDER BY rowid LIMIT ?1)",
    [S_SEARCH_ADD] = "INSERT INTO certificates_search (rowid, subject, sans)"
                     " SELECT rowid, subject, sans FROM certificates"
                     " WHERE rowid > (SELECT upto FROM search_indexed) AND rowid <= ?1",
    [S_SEARCH_MARK] = "UPDATE search_indexed SET upto = ?1",
    [S_REVOCATIONS_BY_ISSUER] = "SELECT r.serial, r.reason, r.revoked_at FROM revocations r"
                                " JOIN certificates c ON c.serial = r.serial"
                                " WHERE c.issuer = ?1 ORDER BY r.revoked_at, r.serial",
};

/* ---- times ------------------------------------------------------------- */

/* The times the store writes and reads: those its text can show, from
 * 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z.  Before 1970 included: a
 * certificate may begin before it (UTCTime 50..69 is 1950..1969, RFC 5280
 * §4.1.2.5.1); the end is RFC 5280 §4.1.2.5's "no well-defined expiration
 * date". */
static bool time_ok(int64_t t) { return t >= CG_TIME_MIN && t <= CG_TIME_MAX; }

/* ---- statements -------------------------------------------------------- */

static void stmt_done(struct cg_db_stmt *s) {
  cg_db_reset(s);
  cg_db_clear_bindings(s);
}

/* Maps a failed step to our codes (store/sql.h); the connection's errors
 * are logged through its limiter. */
static int step_error(struct cg_store *st, int rc, const char *what) {
  return cg_store_sql_error(st->db, rc, &st->errlog, what);
}

/* Steps a statement that returns no rows, then resets it. */
static int step_done(struct cg_store *st, enum stmt_id id, const char *what) {
  struct cg_db_stmt *s = st->stmt[id];
  int rc = cg_db_step(s);
  int err = rc == CG_DB_DONE ? 0 : step_error(st, rc, what);
  stmt_done(s);
  return err;
}

static int exec_stmt(struct cg_store *st, enum stmt_id id) {
  return step_done(st, id, stmt_sql[id]);
}

/* Binding fails only on out-of-memory or a programming error; report either
 * and leave the statement clean for its next use. */
static int bind_failed(struct cg_store *st, struct cg_db_stmt *s, const char *what) {
  int err = cg_store_sql_bind_failed(st->db, what);
  stmt_done(s);
  return err;
}

/* ---- record checks ----------------------------------------------------- */

static bool terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

/* Lowercase hex, NUL terminated within cap, and non-empty unless allowed. */
static bool lower_hex(const char *s, size_t cap, bool empty_ok) {
  if (!terminated(s, cap))
    return false;
  if (s[0] == '\0')
    return empty_ok;
  for (; *s != '\0'; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

static bool state_ok(enum cmp_txn_state s) { return (unsigned)s < (unsigned)CMP_TXN__COUNT; }

static bool txn_insertable(const struct cmp_txn_record *r) {
  return lower_hex(r->txid, sizeof r->txid, false) && terminated(r->profile, sizeof r->profile) &&
         r->profile[0] != '\0' && terminated(r->auth_ref, sizeof r->auth_ref) &&
         terminated(r->req_type, sizeof r->req_type) && r->req_type[0] != '\0' &&
         state_ok(r->state) && lower_hex(r->sender_nonce, sizeof r->sender_nonce, true) &&
         lower_hex(r->cert_serial, sizeof r->cert_serial, true) && time_ok(r->created_at) &&
         time_ok(r->updated_at) && lower_hex(r->device_nonce, sizeof r->device_nonce, true) &&
         lower_hex(r->updates_serial, sizeof r->updates_serial, true) &&
         (r->protection[0] == '\0' || !strcmp(r->protection, "pbm") ||
          !strcmp(r->protection, "pbmac1") || !strcmp(r->protection, "signature") ||
          !strcmp(r->protection, "ra"));
}

static bool cert_insertable(const struct cmp_cert_record *c) {
  return lower_hex(c->serial, sizeof c->serial, false) && c->subject != NULL && c->issuer != NULL &&
         c->der != NULL && c->der_len > 0 && c->der_len <= INT32_MAX && time_ok(c->not_before) &&
         time_ok(c->not_after) && lower_hex(c->txid, sizeof c->txid, true) &&
         terminated(c->profile, sizeof c->profile);
}

/* ---- rows -------------------------------------------------------------- */

/* Reads the secret whose reference is the text ref[0..len); *found tells. */
static int secret_read(struct cg_store *st, const char *ref, size_t len,
                       struct cmp_secret_record *out, bool *found) {
  struct cg_db_stmt *s = st->stmt[S_SECRET_GET];
  *found = false;
  if (cg_db_bind_text(s, 1, ref, (int)len) != CG_DB_OK)
    return bind_failed(st, s, "secret reference");
  int rc = cg_db_step(s);
  int err = 0;
  if (rc == CG_DB_ROW) {
    struct cmp_secret_record r;
    memset(&r, 0, sizeof r);
    memcpy(r.reference, ref, len);
    const void *enc = cg_db_column_blob(s, 1);
    size_t n = (size_t)cg_db_column_bytes(s, 1);
    const void *chal = cg_db_column_blob(s, 5);
    size_t cn = (size_t)cg_db_column_bytes(s, 5);
    if (cg_store_sql_column_text(s, 0, r.profile, sizeof r.profile) != 0 || n > sizeof r.enc ||
        cn > sizeof r.challenge_enc || cg_store_sql_column_time(s, 2, &r.created_at) != 0 ||
        (cg_db_column_type(s, 3) != CG_DB_NULL &&
         cg_store_sql_column_time(s, 3, &r.expires_at) != 0)) {
      cg_error("store: secret row does not fit the record (corrupt or foreign)");
      err = CG_ESTORE;
    } else {
      if (n > 0)
        memcpy(r.enc, enc, n);
      r.enc_len = n;
      if (cn > 0)
        memcpy(r.challenge_enc, chal, cn);
      r.challenge_enc_len = cn;
      r.revoked = cg_db_column_type(s, 4) != CG_DB_NULL;
      r.max_uses = cg_store_sql_column_int_or(s, 6, 0);
      r.uses = cg_db_column_int64(s, 7);
      r.failed_attempts = cg_db_column_int64(s, 8);
      if ((cg_db_column_type(s, 9) != CG_DB_NULL &&
           cg_store_sql_column_time(s, 9, &r.locked_until) != 0) ||
          cg_store_sql_column_text(s, 10, r.note, sizeof r.note) != 0 ||
          cg_store_sql_column_text(s, 11, r.subject, sizeof r.subject) != 0 ||
          cg_store_sql_column_text(s, 12, r.sans, sizeof r.sans) != 0) {
        cg_error("store: secret row does not fit the record (corrupt or foreign)");
        err = CG_ESTORE;
      }
      *out = r;
      *found = true;
    }
  } else if (rc != CG_DB_DONE) {
    err = step_error(st, rc, "reading secret");
  }
  stmt_done(s);
  return err;
}

/* Reads the transaction txid into *out (untouched unless found). */
static int txn_read(struct cg_store *st, const char *txid, struct cmp_txn_record *out,
                    bool *found) {
  struct cg_db_stmt *s = st->stmt[S_TXN_GET];
  *found = false;
  if (cg_store_sql_bind_text(s, 1, txid) != CG_DB_OK)
    return bind_failed(st, s, "txid");
  int rc = cg_db_step(s);
  int err = 0;
  if (rc == CG_DB_ROW) {
    struct cmp_txn_record r;
    memset(&r, 0, sizeof r);
    memcpy(r.txid, txid, strlen(txid) + 1);
    int state = cmp_txn_state_parse((const char *)cg_db_column_text(s, 3));
    if (cg_store_sql_column_text(s, 0, r.profile, sizeof r.profile) != 0 ||
        cg_store_sql_column_text(s, 1, r.auth_ref, sizeof r.auth_ref) != 0 ||
        cg_store_sql_column_text(s, 2, r.req_type, sizeof r.req_type) != 0 || state < 0 ||
        cg_store_sql_column_text(s, 6, r.sender_nonce, sizeof r.sender_nonce) != 0 ||
        cg_store_sql_column_text(s, 7, r.cert_serial, sizeof r.cert_serial) != 0 ||
        cg_store_sql_column_time(s, 8, &r.created_at) != 0 ||
        cg_store_sql_column_time(s, 9, &r.updated_at) != 0 ||
        cg_store_sql_column_text(s, 13, r.protection, sizeof r.protection) != 0 ||
        cg_store_sql_column_text(s, 14, r.device_nonce, sizeof r.device_nonce) != 0) {
      cg_error("store: transaction %s does not fit the record (corrupt or foreign)", txid);
      err = CG_ESTORE;
    } else {
      r.state = (enum cmp_txn_state)state;
      /* A loaded record has no pending change: the row's state is the one an
       * update must find. */
      r.prev_state = r.state;
      r.failinfo = (int)cg_store_sql_column_int_or(s, 4, -1);
      r.cert_req_id = cg_db_column_int64(s, 5);
      r.poll_ref = (uint32_t)cg_db_column_int64(s, 10);
      const void *cs = cg_db_column_blob(s, 11);
      size_t cn = (size_t)cg_db_column_bytes(s, 11);
      if (cn > sizeof r.ca_state || (cg_db_column_type(s, 12) != CG_DB_NULL &&
                                     cg_store_sql_column_time(s, 12, &r.ca_check_at) != 0)) {
        cg_error("store: transaction %s does not fit the record (corrupt or foreign)", txid);
        err = CG_ESTORE;
      } else {
        if (cn > 0)
          memcpy(r.ca_state, cs, cn);
        r.ca_state_len = cn;
        *out = r;
        *found = true;
      }
    }
  } else if (rc != CG_DB_DONE) {
    err = step_error(st, rc, "reading transaction");
  }
  stmt_done(s);
  return err;
}

/* Copies the DER of certificate serial into a malloc'ed buffer (NULL when
 * there is no such certificate). */
static int cert_der_read(struct cg_store *st, const char *serial, uint8_t **der, size_t *len) {
  struct cg_db_stmt *s = st->stmt[S_CERT_DER];
  *der = NULL;
  *len = 0;
  if (cg_store_sql_bind_text(s, 1, serial) != CG_DB_OK)
    return bind_failed(st, s, "serial");
  int rc = cg_db_step(s);
  int err = 0;
  if (rc == CG_DB_ROW) {
    err = cg_store_sql_column_blob_dup(s, 0, der, len);
  } else if (rc != CG_DB_DONE) {
    err = step_error(st, rc, "reading certificate");
  }
  stmt_done(s);
  return err;
}

/* The certificate serial with its status and the auth_ref of the
 * transaction that issued it. */
static int cert_by_serial(struct cg_store *st, struct cg_store_op *op) {
  struct cg_db_stmt *s = st->stmt[S_CERT_BY_SERIAL];
  if (cg_store_sql_bind_text(s, 1, op->serial) != CG_DB_OK)
    return bind_failed(st, s, "serial");
  int rc = cg_db_step(s);
  int err = 0;
  if (rc == CG_DB_ROW) {
    const char *status = (const char *)cg_db_column_text(s, 1);
    err = cg_store_sql_column_blob_dup(s, 0, &op->serial_der, &op->serial_der_len);
    if (err == 0) {
      op->serial_found = true;
      op->serial_revoked = status == NULL || strcmp(status, "revoked") == 0;
      if (cg_store_sql_column_text(s, 2, op->serial_auth_ref, sizeof op->serial_auth_ref) != 0)
        op->serial_auth_ref[0] = 0;
      op->serial_reason = cg_db_column_type(s, 3) != CG_DB_NULL ? cg_db_column_int(s, 3) : -1;
      const char *by = (const char *)cg_db_column_text(s, 4);
      op->serial_held_by_operator =
          op->serial_reason == 6 && by != NULL && strcmp(by, "operator") == 0;
      const char *type = (const char *)cg_db_column_text(s, 5);
      op->serial_unconfirmed_kup = status != NULL && strcmp(status, "unconfirmed") == 0 &&
                                   type != NULL && strcmp(type, "kur") == 0;
    }
  } else if (rc != CG_DB_DONE) {
    err = step_error(st, rc, "reading certificate");
  }
  stmt_done(s);
  if (err != 0 || !op->serial_found)
    return err;
  s = st->stmt[S_CERT_UPDATES];
  if (cg_store_sql_bind_text(s, 1, op->serial) != CG_DB_OK)
    return bind_failed(st, s, "serial");
  if ((rc = cg_db_step(s)) == CG_DB_ROW) {
    op->serial_updated = cg_db_column_int(s, 0) != 0;
    op->serial_update_pending = cg_db_column_int(s, 1) != 0;
  } else {
    err = step_error(st, rc, "reading a certificate's updates");
  }
  stmt_done(s);
  return err;
}

/* The revocations of certificates issued by issuer, into a malloc'ed array. */
static int revocations_read(struct cg_store *st, struct cg_store_op *op) {
  struct cg_db_stmt *s = st->stmt[S_REVOCATIONS_BY_ISSUER];
  size_t cap = 0;
  if (cg_store_sql_bind_text(s, 1, op->revoked_issuer) != CG_DB_OK)
    return bind_failed(st, s, "issuer");
  int rc, err = 0;
  while ((rc = cg_db_step(s)) == CG_DB_ROW) {
    if (op->n_revoked == cap) {
      size_t ncap = cap ? 2 * cap : 64;
      struct cmp_revocation_record *p = realloc(op->revoked, ncap * sizeof *p);
      if (p == NULL) {
        err = CG_ENOMEM;
        break;
      }
      op->revoked = p;
      cap = ncap;
    }
    struct cmp_revocation_record *r = &op->revoked[op->n_revoked];
    memset(r, 0, sizeof *r);
    if (cg_store_sql_column_text(s, 0, r->serial, sizeof r->serial) != 0 ||
        cg_store_sql_column_time(s, 2, &r->revoked_at)) {
      cg_error("store: revocation row does not fit the record (corrupt or foreign)");
      err = CG_ESTORE;
      break;
    }
    r->reason = (int)cg_store_sql_column_int_or(s, 1, -1);
    op->n_revoked++;
  }
  if (err == 0 && rc != CG_DB_DONE)
    err = step_error(st, rc, "reading revocations");
  stmt_done(s);
  return err;
}

/* A secret's counters after an exchange, and the audit event of a refusal. */
static int event(struct cg_store *st, int64_t at, const char *txid, const char *kind,
                 const char *detail);

static int secret_note(struct cg_store *st, const struct cmp_secret_note *n, const char *txid) {
  struct cg_db_stmt *s;
  int err;
  if (n->used) {
    s = st->stmt[S_SECRET_USED];
    if (cg_store_sql_bind_text(s, 1, n->reference) != CG_DB_OK)
      return bind_failed(st, s, "reference");
    if ((err = step_done(st, S_SECRET_USED, "counting a secret's use")) != 0)
      return err;
    /* Used up (or revoked away) while the request was in flight. */
    if (cg_db_changes(st->db) == 0)
      return CG_EBAD_MAC;
    return 0;
  }
  s = st->stmt[S_SECRET_FAILED];
  int b = cg_store_sql_bind_text(s, 1, n->reference) | cg_db_bind_int64(s, 2, n->lock_after) |
          cg_store_sql_bind_time(s, 3, n->lock_until) | cg_store_sql_bind_time(s, 4, n->at);
  if (b != CG_DB_OK)
    return bind_failed(st, s, "secret failure");
  if ((err = step_done(st, S_SECRET_FAILED, "counting a failed MAC")) != 0)
    return err;
  if (cg_db_changes(st->db) == 0)
    return 0; /* locked (or gone): nothing to record */
  return event(st, n->at, txid, n->kind, n->detail);
}

/* One row of the audit log; txid and detail may be NULL or empty. */
static int event(struct cg_store *st, int64_t at, const char *txid, const char *kind,
                 const char *detail) {
  struct cg_db_stmt *s = st->stmt[S_EVENT_INSERT];
  int b = cg_store_sql_bind_time(s, 1, at) |
          (txid != NULL ? cg_store_sql_bind_text_or_null(s, 2, txid) : cg_db_bind_null(s, 2)) |
          cg_store_sql_bind_text(s, 3, kind) |
          (detail != NULL ? cg_store_sql_bind_text_or_null(s, 4, detail) : cg_db_bind_null(s, 4));
  if (b != CG_DB_OK)
    return bind_failed(st, s, "event");
  return step_done(st, S_EVENT_INSERT, "recording an event");
}

/* Every state a transaction enters is in the audit log: kind
 * "transaction.<state>", detail the failInfo name of a refusal. */
static int state_event(struct cg_store *st, const struct cmp_txn_record *r) {
  char kind[48];
  snprintf(kind, sizeof kind, "transaction.%s", cmp_txn_state_name(r->state));
  const char *fi = r->failinfo >= 0 ? cg_failinfo_name(r->failinfo) : NULL;
  return event(st, r->updated_at, r->txid, kind, fi);
}

/* Why a change to certificate serial touched no row: CG_ENOT_FOUND when it
 * is unknown; else CG_ECERT_REVOKED when it is revoked and not_revoked
 * otherwise. */
static int cert_unchanged(struct cg_store *st, const char *serial, int not_revoked) {
  struct cg_db_stmt *s = st->stmt[S_CERT_STATUS];
  if (cg_store_sql_bind_text(s, 1, serial) != CG_DB_OK)
    return bind_failed(st, s, "serial");
  int rc = cg_db_step(s), err;
  const char *status = rc == CG_DB_ROW ? (const char *)cg_db_column_text(s, 0) : NULL;
  err = rc == CG_DB_ROW
            ? (status != NULL && strcmp(status, "revoked") == 0 ? CG_ECERT_REVOKED : not_revoked)
        : rc == CG_DB_DONE ? CG_ENOT_FOUND
                           : step_error(st, rc, "reading certificate status");
  stmt_done(s);
  return err;
}

/* Releases a certificate from hold (an rr with removeFromCRL): its
 * revocation of reason certificateHold goes, and it leaves the CRLs.
 * CG_EBAD_CERT_ID when it is not on hold (not revoked), CG_ECERT_REVOKED
 * when it is revoked for good, CG_ENOT_FOUND when unknown. */
static int apply_release(struct cg_store *st, const struct cmp_revocation_record *r,
                         const char *txid) {
  struct cg_db_stmt *s = st->stmt[S_HOLD_RELEASE];
  if (cg_store_sql_bind_text(s, 1, r->serial) != CG_DB_OK)
    return bind_failed(st, s, "serial");
  int err = step_done(st, S_HOLD_RELEASE, "releasing a hold");
  if (err != 0)
    return err;
  if (cg_db_changes(st->db) == 0) /* not on hold */
    return cert_unchanged(st, r->serial, CG_EBAD_CERT_ID);
  s = st->stmt[S_CERT_UNREVOKE];
  if (cg_store_sql_bind_text(s, 1, r->serial) != CG_DB_OK)
    return bind_failed(st, s, "serial");
  if ((err = step_done(st, S_CERT_UNREVOKE, "releasing a certificate")) != 0)
    return err;
  char detail[2 * CMP_MAX_SERIAL + 64];
  snprintf(detail, sizeof detail, "serial=%s requested_by=device", r->serial);
  return event(st, r->revoked_at, txid, "certificate.released", detail);
}

/* Marks a certificate revoked and records why, for the transaction txid.
 * CG_ECERT_REVOKED when it is revoked already, CG_ENOT_FOUND when unknown.
 * Reason removeFromCRL (8) is no revocation: it releases a hold. */
static int apply_revocation(struct cg_store *st, const struct cmp_revocation_record *r,
                            const char *txid) {
  if (r->reason == 8)
    return apply_release(st, r, txid);
  struct cg_db_stmt *s = st->stmt[S_CERT_REVOKE];
  if (cg_store_sql_bind_text(s, 1, r->serial) != CG_DB_OK)
    return bind_failed(st, s, "serial");
  int err = step_done(st, S_CERT_REVOKE, "revoking a certificate");
  if (err != 0)
    return err;
  if (cg_db_changes(st->db) == 0) /* revoked already (it exists: CERT_REVOKE wants not) */
    return cert_unchanged(st, r->serial, CG_ECERT_REVOKED);
  if (r->reason == 1 || r->reason == 2) {
    s = st->stmt[S_KEY_COMPROMISED];
    if ((cg_store_sql_bind_text(s, 1, r->serial) | cg_store_sql_bind_time(s, 2, r->revoked_at)) !=
        CG_DB_OK)
      return bind_failed(st, s, "compromised key");
    if ((err = step_done(st, S_KEY_COMPROMISED, "reporting a key compromised")) != 0)
      return err;
  }
  s = st->stmt[S_REVOCATION_INSERT];
  int b = cg_store_sql_bind_text(s, 1, r->serial) |
          (r->reason < 0 ? cg_db_bind_null(s, 2) : cg_db_bind_int64(s, 2, r->reason)) |
          cg_store_sql_bind_time(s, 3, r->revoked_at) | cg_store_sql_bind_text_or_null(s, 4, txid);
  if (b != CG_DB_OK)
    return bind_failed(st, s, "revocation");
  return step_done(st, S_REVOCATION_INSERT, "recording a revocation");
}

/* How many requests of r's profile (and, with by_ref, of r's reference) are
 * waiting; into *n. */
static int count_waiting(struct cg_store *st, const struct cmp_txn_record *r, bool by_ref,
                         int64_t *n) {
  struct cg_db_stmt *s = st->stmt[by_ref ? S_COUNT_WAITING_REF : S_COUNT_WAITING];
  if (cg_store_sql_bind_text(s, 1, r->profile) != CG_DB_OK ||
      (by_ref && cg_store_sql_bind_text(s, 2, r->auth_ref) != CG_DB_OK))
    return bind_failed(st, s, "waiting count");
  int rc = cg_db_step(s), err = 0;
  if (rc == CG_DB_ROW)
    *n = cg_db_column_int64(s, 0);
  else
    err = step_error(st, rc, "counting waiting requests");
  stmt_done(s);
  return err;
}

/* A request about to wait must stay under its profile's caps.  Counted in
 * the writer thread, which serializes every insert, so the caps are exact. */
static int waiting_room(struct cg_store *st, const struct cg_store_op *op) {
  const struct cmp_txn_record *r = &op->txn;
  int64_t n = 0;
  int err;
  if (r->state != CMP_TXN_PENDING_APPROVAL && r->state != CMP_TXN_PENDING_CA)
    return 0;
  if (op->max_pending > 0 &&
      ((err = count_waiting(st, r, false, &n)) != 0 || n >= (int64_t)op->max_pending))
    return err != 0 ? err : CG_EPENDING_LIMIT;
  if (op->max_pending_per_ref > 0 && r->auth_ref[0] != '\0' &&
      ((err = count_waiting(st, r, true, &n)) != 0 || n >= (int64_t)op->max_pending_per_ref))
    return err != 0 ? err : CG_EPENDING_LIMIT;
  return 0;
}

/* A polling reference no transaction has: random, so that one client cannot
 * guess another's. */
static int draw_poll_ref(struct cg_store *st, uint32_t *out) {
  struct cg_db_stmt *s = st->stmt[S_POLL_REF_USED];
  for (int tries = 0; tries < 16; tries++) {
    uint32_t v;
    if (cg_random(&v, sizeof v) != 0)
      return CG_ECRYPTO;
    if (v == 0)
      continue;
    if (cg_db_bind_int64(s, 1, v) != CG_DB_OK)
      return bind_failed(st, s, "poll_ref");
    int rc = cg_db_step(s);
    stmt_done(s);
    if (rc == CG_DB_DONE) {
      *out = v;
      return 0;
    }
    if (rc != CG_DB_ROW)
      return step_error(st, rc, "reading polling references");
  }
  return CG_ESTORE;
}

/* What a transaction's CA backend keeps (NULL when it keeps nothing: an
 * update then leaves the column as it is). */
static int bind_ca_state(struct cg_db_stmt *s, int i_state, int i_at,
                         const struct cmp_txn_record *r) {
  return (r->ca_state_len > 0 ? cg_db_bind_blob(s, i_state, r->ca_state, (int)r->ca_state_len)
                              : cg_db_bind_null(s, i_state)) |
         (r->ca_check_at > 0 ? cg_store_sql_bind_time(s, i_at, r->ca_check_at)
                             : cg_db_bind_null(s, i_at));
}

/* A waiting transaction gets its polling reference here (written back into r). */
static int txn_insert(struct cg_store *st, struct cmp_txn_record *r, const uint8_t *request_der,
                      size_t request_len) {
  struct cg_db_stmt *s = st->stmt[S_TXN_INSERT];
  r->poll_ref = 0;
  if (r->state == CMP_TXN_PENDING_APPROVAL || r->state == CMP_TXN_PENDING_CA) {
    int err = draw_poll_ref(st, &r->poll_ref);
    if (err != 0)
      return err;
  }
  int b = cg_store_sql_bind_text(s, 1, r->txid) | cg_store_sql_bind_text(s, 2, r->profile) |
          cg_store_sql_bind_text_or_null(s, 3, r->auth_ref) |
          cg_store_sql_bind_text(s, 4, r->req_type) |
          cg_store_sql_bind_text(s, 5, cmp_txn_state_name(r->state)) |
          (r->failinfo < 0 ? cg_db_bind_null(s, 6) : cg_db_bind_int64(s, 6, r->failinfo)) |
          cg_db_bind_int64(s, 7, r->cert_req_id) |
          cg_store_sql_bind_text_or_null(s, 8, r->sender_nonce) |
          cg_store_sql_bind_text_or_null(s, 9, r->cert_serial) |
          cg_store_sql_bind_time(s, 10, r->created_at) |
          cg_store_sql_bind_time(s, 11, r->updated_at) |
          (request_der != NULL ? cg_db_bind_blob(s, 12, request_der, (int)request_len)
                               : cg_db_bind_null(s, 12)) |
          (r->poll_ref != 0 ? cg_db_bind_int64(s, 13, r->poll_ref) : cg_db_bind_null(s, 13)) |
          bind_ca_state(s, 14, 15, r) | cg_store_sql_bind_text_or_null(s, 16, r->protection) |
          cg_store_sql_bind_text_or_null(s, 17, r->device_nonce) |
          cg_store_sql_bind_text_or_null(s, 18, r->updates_serial);
  if (b != CG_DB_OK)
    return bind_failed(st, s, "transaction");
  return step_done(st, S_TXN_INSERT, "inserting transaction");
}

/* A certificate is unconfirmed until its certConf (valid at once with
 * implicit confirmation: its transaction is confirmed already).  Its
 * created_at is the transaction's updated_at: the store takes its times from
 * the engine, never the clock. */
static int cert_insert(struct cg_store *st, const struct cmp_cert_record *c,
                       const struct cmp_txn_record *t) {
  struct cg_db_stmt *s = st->stmt[S_CERT_INSERT];
  const char *status = t->state == CMP_TXN_CONFIRMED ? "valid" : "unconfirmed";
  int b =
      cg_store_sql_bind_text(s, 1, c->serial) | cg_store_sql_bind_text(s, 2, c->subject) |
      cg_store_sql_bind_text(s, 3, c->issuer) | cg_store_sql_bind_time(s, 4, c->not_before) |
      cg_store_sql_bind_time(s, 5, c->not_after) | cg_db_bind_blob(s, 6, c->der, (int)c->der_len) |
      cg_store_sql_bind_text_or_null(s, 7, c->txid) |
      cg_store_sql_bind_text_or_null(s, 8, c->profile) |
      cg_store_sql_bind_time(s, 9, t->updated_at) | cg_store_sql_bind_text_or_null(s, 10, c->sans) |
      cg_store_sql_bind_text_or_null(s, 11, c->key_type) | cg_store_sql_bind_text(s, 12, status) |
      cg_store_sql_bind_text_or_null(s, 13, c->key_hash);
  if (b != CG_DB_OK)
    return bind_failed(st, s, "certificate");
  return step_done(st, S_CERT_INSERT, "inserting certificate");
}

static int cert_confirmed(struct cg_store *st, const char *txid) {
  struct cg_db_stmt *s = st->stmt[S_CERT_CONFIRM];
  if (cg_store_sql_bind_text(s, 1, txid) != CG_DB_OK)
    return bind_failed(st, s, "txid");
  return step_done(st, S_CERT_CONFIRM, "confirming a certificate");
}

static int txn_update(struct cg_store *st, const struct cmp_txn_record *r) {
  bool refresh = r->state == r->prev_state;
  int which = refresh ? S_TXN_REFRESH : S_TXN_UPDATE;
  struct cg_db_stmt *s = st->stmt[which];
  int b = refresh ? cg_store_sql_bind_text_or_null(s, 1, r->sender_nonce) |
                        cg_store_sql_bind_time(s, 2, r->updated_at) |
                        cg_store_sql_bind_text(s, 3, r->txid) | bind_ca_state(s, 4, 5, r)
                  : cg_store_sql_bind_text(s, 1, cmp_txn_state_name(r->state)) |
                        (r->failinfo < 0 ? cg_db_bind_null(s, 2)
                                         : cg_db_bind_int64(s, 2, r->failinfo)) |
                        cg_store_sql_bind_text_or_null(s, 3, r->sender_nonce) |
                        cg_store_sql_bind_time(s, 4, r->updated_at) |
                        cg_store_sql_bind_text_or_null(s, 5, r->cert_serial) |
                        cg_store_sql_bind_text(s, 6, r->txid) |
                        cg_store_sql_bind_text(s, 7, cmp_txn_state_name(r->prev_state)) |
                        bind_ca_state(s, 8, 9, r);
  if (b != CG_DB_OK)
    return bind_failed(st, s, "transaction update");
  int err = step_done(st, which, "updating transaction");
  if (err != 0 || cg_db_changes(st->db) > 0)
    return err;

  /* Nothing changed: either there is no such row or it is in another state. */
  s = st->stmt[S_TXN_STATE];
  if (cg_store_sql_bind_text(s, 1, r->txid) != CG_DB_OK)
    return bind_failed(st, s, "txid");
  int rc = cg_db_step(s);
  err = rc == CG_DB_ROW    ? CG_ESTATE
        : rc == CG_DB_DONE ? CG_ENOT_FOUND
                           : step_error(st, rc, "reading transaction state");
  stmt_done(s);
  return err;
}

/* ---- operations -------------------------------------------------------- */

static int op_lookup(struct cg_store *st, struct cg_store_op *op) {
  op->secret_found = false;
  op->txn_found = false;
  op->cert_der = NULL;
  op->cert_der_len = 0;
  op->serial_found = op->serial_revoked = op->serial_held_by_operator = false;
  op->key_certified = op->key_compromised = false;
  op->serial_unconfirmed_kup = op->serial_updated = op->serial_update_pending = false;
  op->serial_reason = -1;
  op->serial_der = NULL;
  op->serial_der_len = 0;
  op->serial_auth_ref[0] = 0;
  op->revoked = NULL;
  op->n_revoked = 0;
  if (op->revoked_issuer[0] != '\0') {
    if (!terminated(op->revoked_issuer, sizeof op->revoked_issuer))
      return CG_EINVAL;
    int err = revocations_read(st, op);
    if (err != 0)
      return err;
  }
  /* A reference with a NUL cannot be a stored text reference. */
  if (op->ref_len > 0 && op->ref_len <= sizeof op->ref && memchr(op->ref, 0, op->ref_len) == NULL) {
    int err = secret_read(st, (const char *)op->ref, op->ref_len, &op->secret, &op->secret_found);
    if (err != 0)
      return err;
  }
  if (op->serial[0] != '\0') {
    if (!lower_hex(op->serial, sizeof op->serial, false))
      return CG_EINVAL;
    int err = cert_by_serial(st, op);
    if (err != 0)
      return err;
  }
  if (op->key_hash[0] != '\0') {
    if (!lower_hex(op->key_hash, sizeof op->key_hash, false))
      return CG_EINVAL;
    struct cg_db_stmt *s = st->stmt[S_KEY_CERTIFIED];
    if ((cg_store_sql_bind_text(s, 1, op->key_hash) |
         cg_db_bind_int64(s, 2, op->check_key_reuse ? 1 : 0)) != CG_DB_OK)
      return bind_failed(st, s, "key hash");
    int rc = cg_db_step(s), err = 0;
    if (rc == CG_DB_ROW) {
      op->key_compromised = cg_db_column_int(s, 0) != 0;
      op->key_certified = cg_db_column_int(s, 1) != 0;
    } else {
      err = step_error(st, rc, "reading the certificates of a key");
    }
    stmt_done(s);
    if (err != 0)
      return err;
  }
  if (op->txn.txid[0] == '\0')
    return 0;
  if (!terminated(op->txn.txid, sizeof op->txn.txid))
    return CG_EINVAL;
  int err = txn_read(st, op->txn.txid, &op->txn, &op->txn_found);
  if (err == 0 && op->txn_found && op->txn.cert_serial[0] != '\0')
    err = cert_der_read(st, op->txn.cert_serial, &op->cert_der, &op->cert_der_len);
  return err;
}

/* Transactions that waited too long become expired, each with an event. */
static int op_expire(struct cg_store *st, struct cg_store_op *op) {
  static const enum stmt_id ids[] = {S_EXPIRE_EVENTS, S_EXPIRE};
  op->expired = 0;
  if (!terminated(op->expire_profile, sizeof op->expire_profile))
    return CG_EINVAL;
  for (size_t i = 0; i < 2; i++) {
    struct cg_db_stmt *s = st->stmt[ids[i]];
    int b = cg_store_sql_bind_text(s, 1, op->expire_profile) |
            cg_store_sql_bind_time(s, 2, op->expire_pending_before) |
            cg_store_sql_bind_time(s, 3, op->expire_issued_before) |
            cg_store_sql_bind_time(s, 4, op->expire_now);
    if (b != CG_DB_OK)
      return bind_failed(st, s, "expiry");
    int err = step_done(st, ids[i], "expiring transactions");
    if (err != 0)
      return err;
  }
  op->expired = cg_db_changes(st->db);
  return 0;
}

/* The certificates written since the search index's last look, up to
 * search_batch of them, oldest first, added to it in one statement (SQLite;
 * PostgreSQL's indexes are kept by each write, so nothing is left to do). */
static int op_search_index(struct cg_store *st, struct cg_store_op *op) {
  op->search_added = 0;
  if (op->search_batch == 0)
    return CG_EINVAL;
  if (cg_db_engine(st->db) == CG_DB_POSTGRES)
    return 0;
  struct cg_db_stmt *s = st->stmt[S_SEARCH_UPTO];
  if (cg_db_bind_int64(s, 1, (int64_t)op->search_batch) != CG_DB_OK)
    return bind_failed(st, s, "search index");
  int rc = cg_db_step(s);
  if (rc != CG_DB_ROW) {
    int err = step_error(st, rc, "reading the search index's end");
    stmt_done(s);
    return err;
  }
  int64_t upto = cg_db_column_int64(s, 0), n = cg_db_column_int64(s, 1);
  stmt_done(s);
  if (n == 0)
    return 0;
  for (enum stmt_id id = S_SEARCH_ADD; id <= S_SEARCH_MARK; id++) {
    if (cg_db_bind_int64(st->stmt[id], 1, upto) != CG_DB_OK)
      return bind_failed(st, st->stmt[id], "search index");
    int err = step_done(st, id, "adding to the search index");
    if (err != 0)
      return err;
  }
  op->search_added = (size_t)n;
  return 0;
}

/* A transaction with its kept request: the oldest approved one
 * (NEXT_APPROVED), or the one of a polling reference (BY_POLL_REF). */
static int op_txn_with_request(struct cg_store *st, struct cg_store_op *op) {
  bool by_ref = op->kind == CG_STORE_OP_BY_POLL_REF;
  struct cg_db_stmt *s = st->stmt[by_ref ? S_TXN_BY_POLL_REF : S_TXN_NEXT_APPROVED];
  char txid[sizeof op->txn.txid];
  op->txn_found = false;
  op->request_out = NULL;
  op->request_der_len = 0;
  if (by_ref && cg_db_bind_int64(s, 1, op->txn.poll_ref) != CG_DB_OK)
    return bind_failed(st, s, "poll_ref");
  if (!by_ref && cg_store_sql_bind_time(s, 1, op->now) != CG_DB_OK)
    return bind_failed(st, s, "now");
  int rc = cg_db_step(s), err = 0;
  if (rc == CG_DB_ROW) {
    if (cg_store_sql_column_text(s, 0, txid, sizeof txid) != 0)
      err = CG_ESTORE;
    else
      err = cg_store_sql_column_blob_dup(s, 1, &op->request_out, &op->request_der_len);
  } else if (rc != CG_DB_DONE) {
    err = step_error(st, rc, "reading a waiting transaction");
  }
  stmt_done(s);
  if (err != 0 || rc != CG_DB_ROW)
    return err;
  return txn_read(st, txid, &op->txn, &op->txn_found);
}

static int write_checked(const struct cg_store_op *op) {
  const struct cmp_txn_record *r = &op->txn;
  if (op->cert_present && !cert_insertable(&op->cert))
    return CG_EINVAL;
  if (op->revocation_present &&
      (!lower_hex(op->revocation.serial, sizeof op->revocation.serial, false) ||
       !time_ok(op->revocation.revoked_at) || op->revocation.reason < -1 ||
       op->revocation.reason > 10 || op->revocation.reason == 7))
    return CG_EINVAL;
  if (op->kind == CG_STORE_OP_INSERT)
    return txn_insertable(r) ? 0 : CG_EINVAL;
  if (!lower_hex(r->txid, sizeof r->txid, false) || !state_ok(r->state) ||
      !state_ok(r->prev_state) || !lower_hex(r->sender_nonce, sizeof r->sender_nonce, true) ||
      !lower_hex(r->cert_serial, sizeof r->cert_serial, true) || !time_ok(r->updated_at))
    return CG_EINVAL;
  /* Same state is a refresh (a new nonce after a pollReq), anything else
   * must be a legal move. */
  if (r->state != r->prev_state && !cmp_txn_transition_ok(r->prev_state, r->state))
    return CG_ESTATE;
  return 0;
}

/* Runs one INSERT or UPDATE inside its own savepoint, so that its failure
 * undoes it alone and leaves the rest of the group intact. */
static int op_lease(struct cg_store *st, struct cg_store_op *op) {
  op->lease_held = false;
  if (!terminated(op->lease_name, sizeof op->lease_name) || op->lease_name[0] == '\0' ||
      !terminated(op->lease_holder, sizeof op->lease_holder) || op->lease_holder[0] == '\0' ||
      !time_ok(op->now) || !time_ok(op->lease_until))
    return CG_EINVAL;
  struct cg_db_stmt *s = st->stmt[S_LEASE];
  if ((cg_db_bind_text(s, 1, op->lease_name, -1) | cg_db_bind_text(s, 2, op->lease_holder, -1) |
       cg_store_sql_bind_time(s, 3, op->lease_until) | cg_store_sql_bind_time(s, 4, op->now)) !=
      CG_DB_OK)
    return bind_failed(st, s, "lease");
  int err = step_done(st, S_LEASE, "taking a lease");
  if (err == 0)
    op->lease_held = cg_db_changes(st->db) == 1;
  return err;
}

static int op_write(struct cg_store *st, struct cg_store_op *op) {
  int err = op->kind == CG_STORE_OP_SECRET_NOTE || op->kind == CG_STORE_OP_EXPIRE ||
                    op->kind == CG_STORE_OP_LEASE || op->kind == CG_STORE_OP_SEARCH_INDEX
                ? 0
                : write_checked(op);
  if (err != 0)
    return err;
  if (op->note_present && !terminated(op->note.reference, sizeof op->note.reference))
    return CG_EINVAL;
  if (st->savepoints && (err = exec_stmt(st, S_SAVEPOINT)) != 0)
    return err;
  if (op->kind == CG_STORE_OP_SECRET_NOTE)
    err = op->note_present ? 0 : CG_EINVAL; /* the note alone, below */
  else if (op->kind == CG_STORE_OP_EXPIRE)
    err = op_expire(st, op);
  else if (op->kind == CG_STORE_OP_LEASE)
    err = op_lease(st, op);
  else if (op->kind == CG_STORE_OP_SEARCH_INDEX)
    err = op_search_index(st, op);
  else if (op->kind == CG_STORE_OP_INSERT) {
    err = waiting_room(st, op); /* over a cap: nothing is written */
    if (err == 0)
      err = txn_insert(st, &op->txn, op->request_der, op->request_der_len);
    if (err == 0)
      err = state_event(st, &op->txn);
  } else {
    err = txn_update(st, &op->txn);
    if (err == 0 && op->txn.state != op->txn.prev_state)
      err = state_event(st, &op->txn);
  }
  if (err == 0 && op->cert_present) {
    err = cert_insert(st, &op->cert, &op->txn);
    if (err == CG_EEXISTS)
      err = CG_ECERT_EXISTS; /* not the transaction's: its serial */
  }
  if (err == 0 && op->kind == CG_STORE_OP_UPDATE && op->txn.state == CMP_TXN_CONFIRMED &&
      op->txn.prev_state == CMP_TXN_ISSUED)
    err = cert_confirmed(st, op->txn.txid);
  if (err == 0 && op->revocation_present) {
    err = apply_revocation(st, &op->revocation, op->txn.txid);
    /* A certificate the device rejects in certConf that an operator revoked
     * meanwhile: revoked either way, the rejection is recorded. */
    if (err == CG_ECERT_REVOKED && op->txn.state == CMP_TXN_REVOKED_ON_REJECT)
      err = 0;
  }
  if (err == 0 && op->note_present)
    err = secret_note(st, &op->note, op->kind == CG_STORE_OP_SECRET_NOTE ? "" : op->txn.txid);
  if (!st->savepoints)
    return err; /* the group runs again with savepoints when err (run_group) */
  if (err == 0 && (err = exec_stmt(st, S_RELEASE)) == 0)
    return 0;
  exec_stmt(st, S_ROLLBACK_TO);
  exec_stmt(st, S_RELEASE);
  return err;
}

bool cg_store_op_is_read(const struct cg_store_op *op) {
  return op->kind == CG_STORE_OP_LOOKUP || op->kind == CG_STORE_OP_NEXT_APPROVED ||
         op->kind == CG_STORE_OP_BY_POLL_REF;
}

/* Why a group's writes failed: the database cannot be reached now (try
 * again later), or it failed. */
static int lost_code(struct cg_store *st) {
  return cg_db_reachable(st->db) ? CG_ESTORE : CG_ESTORE_UNAVAIL;
}

/* After the group's transaction was lost, no write of it is durable. */
static void fail_writes(struct cg_store *st, struct cg_store_op *from,
                        const struct cg_store_op *to) {
  int code = lost_code(st);
  for (struct cg_store_op *op = from; op != to; op = op->next)
    if (!cg_store_op_is_read(op) && op->result == 0)
      op->result = code;
}

const uint32_t cg_store_commit_bucket_us[CG_STORE_COMMIT_BUCKETS - 1] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000};

/* A committed write group of n operations that took ns from BEGIN. */
static void count_commit(struct cg_store *st, size_t n, uint64_t ns) {
  size_t b = 0;
  while (b < CG_STORE_COMMIT_BUCKETS - 1 && ns > (uint64_t)cg_store_commit_bucket_us[b] * 1000)
    b++;
  atomic_fetch_add(&st->commits, 1);
  atomic_fetch_add(&st->write_group_ops, n);
  atomic_fetch_add(&st->commit_ns, ns);
  atomic_fetch_add(&st->commit_buckets[b], 1);
}

/* Runs the group's operations once, in the transaction begun (in_txn) or
 * not; with st->savepoints false, stops at the first write that fails and
 * returns true: the caller rolls back and runs the group again with them. */
static bool run_ops(struct cg_store *st, struct cg_store_op *group, bool in_txn, bool count,
                    size_t *n) {
  bool lost = !in_txn;
  for (struct cg_store_op *op = group; op != NULL; op = op->next) {
    if (count)
      atomic_fetch_add(&st->ops, 1);
    (*n)++;
    bool write = false;
    if (op->kind == CG_STORE_OP_LOOKUP)
      op->result = op_lookup(st, op);
    else if (op->kind == CG_STORE_OP_NEXT_APPROVED || op->kind == CG_STORE_OP_BY_POLL_REF)
      op->result = op_txn_with_request(st, op);
    else if (lost)
      op->result = lost_code(st);
    else if (op->kind == CG_STORE_OP_INSERT || op->kind == CG_STORE_OP_UPDATE ||
             op->kind == CG_STORE_OP_SECRET_NOTE || op->kind == CG_STORE_OP_EXPIRE ||
             op->kind == CG_STORE_OP_LEASE || op->kind == CG_STORE_OP_SEARCH_INDEX)
      op->result = op_write(st, op), write = true;
    else if (op->kind == CG_STORE_OP_PROBE)
      op->result = 0; /* the transaction began; the commit decides */
    else
      op->result = CG_EINVAL;
    if (write && op->result != 0 && !st->savepoints && cg_db_reachable(st->db))
      return true;
    /* SQLite rolls the whole transaction back by itself on some errors (I/O,
     * disk full), PostgreSQL aborts it on an error outside a savepoint or
     * when the connection breaks; the writes done so far are then gone. */
    if (in_txn && !lost && cg_db_txn_failed(st->db)) {
      cg_log_limited(&st->errlog, 10, CG_LOG_ERROR, "store: group transaction lost: %s",
                     cg_db_errmsg(st->db));
      fail_writes(st, group, op->next);
      atomic_fetch_add(&st->failed_groups, 1);
      if (cg_db_in_txn(st->db))
        exec_stmt(st, S_ROLLBACK);
      lost = true;
    }
  }
  return false;
}

void cg_store_run_group(struct cg_store *st, struct cg_store_op *group, bool writes) {
  /* Read-only groups need no transaction: each read sees committed data. */
  if (!writes) {
    size_t n = 0;
    st->savepoints = true;
    run_ops(st, group, false, true, &n);
    return;
  }
  /* On PostgreSQL every statement is a round trip to the server, and a
   * write's SAVEPOINT and RELEASE are two of its six or so: the group runs
   * first without them, all or nothing.  Should a write fail (a reused
   * transactionID, a state changed meanwhile: rare), the group is rolled
   * back and runs again, each write in its savepoint, so that it fails
   * alone.  SQLite's savepoints cost no round trip: it always has them. */
  st->savepoints = cg_db_engine(st->db) != CG_DB_POSTGRES;
  for (int attempt = 0;; attempt++) {
    uint64_t began = uv_hrtime();
    bool in_txn = exec_stmt(st, S_BEGIN) == 0;
    size_t n = 0;
    if (!in_txn)
      atomic_fetch_add(&st->failed_groups, 1);
    if (run_ops(st, group, in_txn, attempt == 0, &n)) {
      exec_stmt(st, S_ROLLBACK);
      for (struct cg_store_op *op = group; op != NULL; op = op->next) {
        cg_store_op_release(op); /* a read's outputs: it runs again */
        op->result = 0;
      }
      st->savepoints = true;
      continue;
    }
    if (!in_txn || !cg_db_in_txn(st->db) || cg_db_txn_failed(st->db))
      return; /* lost: every write's result says so */
    if (exec_stmt(st, S_COMMIT) == 0) {
      count_commit(st, n, uv_hrtime() - began);
      return;
    }
    atomic_fetch_add(&st->failed_groups, 1);
    if (cg_db_in_txn(st->db))
      exec_stmt(st, S_ROLLBACK);
    fail_writes(st, group, NULL);
    return;
  }
}

/* ---- public ------------------------------------------------------------ */

static int pragma(struct cg_store *st, const char *sql) {
  if (cg_db_exec(st->db, sql) == CG_DB_OK)
    return 0;
  cg_error("store: %s: %s", sql, cg_db_errmsg(st->db));
  return CG_ESTORE;
}

static int wal_mode(struct cg_store *st) {
  struct cg_db_stmt *s = NULL;
  int err = CG_ESTORE;
  if (cg_db_prepare(st->db, "PRAGMA journal_mode = WAL", false, &s) == CG_DB_OK &&
      cg_db_step(s) == CG_DB_ROW) {
    const char *mode = (const char *)cg_db_column_text(s, 0);
    /* An in-memory database (tests) has nothing to share with readers. */
    if (mode != NULL && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0))
      err = 0;
    else
      cg_error("store: cannot use WAL (journal mode stays %s)", mode ? mode : "?");
  } else {
    cg_error("store: setting WAL: %s", cg_db_errmsg(st->db));
  }
  cg_db_finalize(s);
  return err;
}

/* The writer must be able to write: a database (or its directory, where the
 * WAL lives) that is read-only would open, and every request would then fail
 * with systemFailure.  Refused at once, saying why. */
static int check_writable(struct cg_store *st, const char *path) {
  if (sqlite3_db_readonly(cg_db_sqlite(st->db), "main") == 1) {
    cg_error("store: the database %s is read-only (its file permissions, or a read-only file "
             "system): the gateway must write it",
             path);
    return CG_ESTORE;
  }
  if (cg_db_exec(st->db, "BEGIN IMMEDIATE; ROLLBACK") != CG_DB_OK) {
    cg_error("store: the database %s cannot be written (%s): check the permissions of the file "
             "and of its directory, where the WAL and shared-memory files live",
             path, cg_db_errmsg(st->db));
    cg_db_exec(st->db, "ROLLBACK");
    return CG_ESTORE;
  }
  return 0;
}

/* SQLite's settings of a connection: temp_store: statement journals and
 * sorts in memory, not in a file created and unlinked in /var/tmp for every
 * few groups; cache_size: the pages of a large store's indexes stay in
 * memory (32 MiB at most).  The writer's: WAL, so that readers see the
 * last commit without waiting; every commit synced; foreign keys. */
static int sqlite_setup(struct cg_store *st, const char *path, bool writer) {
  if (writer && check_writable(st, path) != 0)
    return CG_ESTORE;
  if (pragma(st, "PRAGMA temp_store = MEMORY") || pragma(st, "PRAGMA cache_size = -32768"))
    return CG_ESTORE;
  if (writer && (wal_mode(st) != 0 || pragma(st, "PRAGMA synchronous = FULL") != 0 ||
                 pragma(st, "PRAGMA foreign_keys = ON") != 0))
    return CG_ESTORE;
  return 0;
}

/* The text of statement i on this connection's engine: SQL the two
 * dialects share, but for a write transaction's start (SQLite's IMMEDIATE
 * takes the write lock at once, so a group never upgrades a read snapshot;
 * PostgreSQL locks rows as it writes them). */
static const char *stmt_text(const struct cg_store *st, int i) {
  if (i == S_BEGIN && cg_db_engine(st->db) == CG_DB_POSTGRES)
    return "BEGIN";
  return stmt_sql[i];
}

static int open_conn(const char *path, bool writer, struct cg_store **out) {
  *out = NULL;
  struct cg_store *st = calloc(1, sizeof *st);
  if (st == NULL)
    return CG_ENOMEM;
  st->queue_tail = &st->queue;
  st->done_tail = &st->done;
  if (uv_mutex_init(&st->mu) != 0)
    goto no_mutex;
  if (uv_cond_init(&st->cv) != 0)
    goto no_cond;
  if (cg_db_open(path, writer ? CG_DB_WRITER : CG_DB_READER, &st->db) != 0)
    goto no_db;
  if (cg_db_engine(st->db) == CG_DB_SQLITE && sqlite_setup(st, path, writer) != 0)
    goto no_db;
  if (writer && cg_store_migrate(st->db) != 0)
    goto no_db;
  for (int i = 0; i < S__COUNT; i++) {
    if (cg_db_prepare(st->db, stmt_text(st, i), true, &st->stmt[i]) != CG_DB_OK) {
      cg_error("store: preparing \"%s\": %s", stmt_sql[i], cg_db_errmsg(st->db));
      goto no_stmt;
    }
  }
  *out = st;
  return 0;

no_stmt:
  for (int i = 0; i < S__COUNT; i++)
    cg_db_finalize(st->stmt[i]);
no_db:
  cg_db_close(st->db);
  uv_cond_destroy(&st->cv);
no_cond:
  uv_mutex_destroy(&st->mu);
no_mutex:
  free(st);
  return CG_ESTORE;
}

bool cg_store_is_postgres(const char *locator) { return cg_db_is_postgres(locator); }

int cg_store_password_file(const char *path) { return cg_db_password_file(path); }

int cg_store_open(const char *path, struct cg_store **out) { return open_conn(path, true, out); }

int cg_store_index_keys(struct cg_store *st) {
  if (cg_db_exec(st->db, "CREATE INDEX IF NOT EXISTS certificates_key_hash"
                         " ON certificates(key_hash) WHERE key_hash IS NOT NULL") == CG_DB_OK)
    return 0;
  cg_error("store: indexing certificates by key: %s", cg_db_errmsg(st->db));
  return CG_ESTORE;
}

int cg_store_open_reader(const char *path, struct cg_store **out) {
  return open_conn(path, false, out);
}

void cg_store_read_now(struct cg_store *reader, struct cg_store_op *op) {
  atomic_fetch_add(&reader->ops, 1);
  op->result = op->kind == CG_STORE_OP_LOOKUP ? op_lookup(reader, op) : CG_EINVAL;
}

void cg_store_close(struct cg_store *st) {
  if (st == NULL)
    return;
  cg_store_thread_halt(st);
  for (int i = 0; i < S__COUNT; i++)
    cg_db_finalize(st->stmt[i]);
  cg_db_close(st->db);
  uv_cond_destroy(&st->cv);
  uv_mutex_destroy(&st->mu);
  free(st);
}

int cg_store_secret_insert(struct cg_store *st, const struct cmp_secret_record *rec) {
  if (st->thread_running)
    return CG_EBUSY;
  if (!terminated(rec->reference, sizeof rec->reference) || rec->reference[0] == '\0' ||
      !terminated(rec->profile, sizeof rec->profile) || rec->profile[0] == '\0' ||
      !terminated(rec->note, sizeof rec->note) || rec->max_uses < 0 || rec->enc_len == 0 ||
      rec->enc_len > sizeof rec->enc || rec->challenge_enc_len > sizeof rec->challenge_enc ||
      !time_ok(rec->created_at) || (rec->expires_at != 0 && !time_ok(rec->expires_at)))
    return CG_EINVAL;
  struct cg_db_stmt *s = st->stmt[S_SECRET_INSERT];
  /* The record says only whether the secret is revoked; a revoked secret
   * inserted as such is revoked from now on. */
  int b =
      cg_store_sql_bind_text(s, 1, rec->reference) | cg_store_sql_bind_text(s, 2, rec->profile) |
      cg_db_bind_blob(s, 3, rec->enc, (int)rec->enc_len) |
      cg_store_sql_bind_time(s, 4, rec->created_at) |
      (rec->expires_at != 0 ? cg_store_sql_bind_time(s, 5, rec->expires_at)
                            : cg_db_bind_null(s, 5)) |
      (rec->revoked ? cg_store_sql_bind_time(s, 6, (int64_t)time(NULL)) : cg_db_bind_null(s, 6)) |
      (rec->challenge_enc_len > 0
           ? cg_db_bind_blob(s, 7, rec->challenge_enc, (int)rec->challenge_enc_len)
           : cg_db_bind_null(s, 7)) |
      (rec->max_uses > 0 ? cg_db_bind_int64(s, 8, rec->max_uses) : cg_db_bind_null(s, 8)) |
      cg_store_sql_bind_text_or_null(s, 9, rec->note) |
      cg_store_sql_bind_text_or_null(s, 10, rec->subject) |
      cg_store_sql_bind_text_or_null(s, 11, rec->sans);
  if (b != CG_DB_OK)
    return bind_failed(st, s, "secret");
  return step_done(st, S_SECRET_INSERT, "inserting secret");
}

int cg_store_secret_get(struct cg_store *st, const char *reference, struct cmp_secret_record *out) {
  if (st->thread_running)
    return CG_EBUSY;
  size_t len = strlen(reference);
  if (len == 0 || len > CMP_MAX_REF)
    return CG_ENOT_FOUND;
  bool found;
  int err = secret_read(st, reference, len, out, &found);
  return err != 0 ? err : found ? 0 : CG_ENOT_FOUND;
}

int cg_store_setting_get(struct cg_store *st, const char *name, uint8_t *out, size_t cap,
                         size_t *len) {
  if (st->thread_running)
    return CG_EBUSY;
  struct cg_db_stmt *s = NULL;
  if (cg_db_prepare(st->db, "SELECT value FROM settings WHERE name = ?1", false, &s) != CG_DB_OK)
    return step_error(st, CG_DB_ERROR, "preparing");
  cg_db_bind_text(s, 1, name, -1);
  int rc = cg_db_step(s), err = 0;
  if (rc == CG_DB_ROW) {
    size_t n = (size_t)cg_db_column_bytes(s, 0);
    if (n > cap)
      err = CG_ESPACE;
    else if (n > 0)
      memcpy(out, cg_db_column_blob(s, 0), n);
    *len = n;
  } else {
    err = rc == CG_DB_DONE ? CG_ENOT_FOUND : step_error(st, rc, "reading a setting");
  }
  cg_db_finalize(s);
  return err;
}

int cg_store_setting_put(struct cg_store *st, const char *name, const uint8_t *value, size_t len,
                         int64_t now) {
  if (st->thread_running)
    return CG_EBUSY;
  struct cg_db_stmt *s = NULL;
  char at[21];
  cg_time_iso8601(now, at);
  if (cg_db_prepare(st->db,
                    "INSERT INTO settings (name, value, updated_at) VALUES (?1, ?2, ?3)"
                    " ON CONFLICT (name) DO UPDATE SET value = ?2, updated_at = ?3",
                    false, &s) != CG_DB_OK)
    return step_error(st, CG_DB_ERROR, "preparing");
  cg_db_bind_text(s, 1, name, -1);
  cg_db_bind_blob(s, 2, value, (int)len);
  cg_db_bind_text(s, 3, at, -1);
  int rc = cg_db_step(s);
  cg_db_finalize(s);
  return rc == CG_DB_DONE ? 0 : step_error(st, rc, "writing a setting");
}

int cg_store_secret_any(struct cg_store *st, char reference[CMP_MAX_REF + 1], uint8_t *enc,
                        size_t cap, size_t *len) {
  if (st->thread_running)
    return CG_EBUSY;
  struct cg_db_stmt *s = NULL;
  if (cg_db_prepare(st->db, "SELECT reference, secret_enc FROM secrets LIMIT 1", false, &s) !=
      CG_DB_OK)
    return step_error(st, CG_DB_ERROR, "preparing");
  int rc = cg_db_step(s), err = 0;
  if (rc == CG_DB_ROW) {
    size_t n = (size_t)cg_db_column_bytes(s, 1);
    if (cg_db_column_type(s, 0) == CG_DB_NULL ||
        cg_store_sql_column_text(s, 0, reference, CMP_MAX_REF + 1) != 0 || n > cap) {
      err = CG_ESPACE;
    } else {
      memcpy(enc, cg_db_column_blob(s, 1), n);
      *len = n;
    }
  } else {
    err = rc == CG_DB_DONE ? CG_ENOT_FOUND : step_error(st, rc, "reading a secret");
  }
  cg_db_finalize(s);
  return err;
}

void cg_store_op_release(struct cg_store_op *op) {
  free(op->cert_der);
  op->cert_der = NULL;
  op->cert_der_len = 0;
  free(op->serial_der);
  op->serial_der = NULL;
  op->serial_der_len = 0;
  free(op->revoked);
  op->revoked = NULL;
  op->n_revoked = 0;
  free(op->request_out);
  op->request_out = NULL;
}

/* One statement on the CLI's connection, parameters bound as text (times
 * already formatted). */
static int exec_bound(struct cg_store *st, const char *sql, const char *const *args, int n,
                      int *changes) {
  struct cg_db_stmt *s = NULL;
  if (cg_db_prepare(st->db, sql, false, &s) != CG_DB_OK)
    return step_error(st, CG_DB_ERROR, "preparing");
  for (int i = 0; i < n; i++)
    if (args[i] != NULL)
      cg_db_bind_text(s, i + 1, args[i], -1);
  int rc = cg_db_step(s);
  int err = rc == CG_DB_DONE || rc == CG_DB_ROW ? 0 : step_error(st, rc, "deciding");
  if (changes != NULL)
    *changes = rc == CG_DB_ROW ? 1 : cg_db_changes(st->db);
  cg_db_finalize(s);
  return err;
}

bool cg_store_id_lower(const char *in, char *out, size_t cap) {
  size_t n = strlen(in);
  if (n == 0 || n >= cap)
    return false;
  for (size_t i = 0; i <= n; i++)
    out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] - 'A' + 'a') : in[i];
  return true;
}

int cg_store_txn_decide(struct cg_store *st, const char *typed_txid, bool approve,
                        const char *reason, int64_t now) {
  if (st->thread_running)
    return CG_EBUSY;
  char txid[2 * CMP_MAX_TXID + 1];
  if (!cg_store_id_lower(typed_txid, txid, sizeof txid))
    return CG_ENOT_FOUND;
  char at[21], fi[8];
  cg_time_iso8601(now, at);
  snprintf(fi, sizeof fi, "%d", CG_FI_BAD_REQUEST);
  if (exec_stmt(st, S_BEGIN) != 0)
    return CG_ESTORE;
  int changes = 0;
  const char *upd[] = {approve ? "pending_ca" : "rejected", approve ? NULL : fi, at, txid};
  int err = exec_bound(st,
                       "UPDATE transactions SET state = ?1, failinfo = ?2, updated_at = ?3"
                       " WHERE transaction_id = ?4 AND state = 'pending_approval'",
                       upd, 4, &changes);
  if (err == 0 && changes == 0) {
    const char *q[] = {txid};
    int found = 0;
    err = exec_bound(st, "SELECT 1 FROM transactions WHERE transaction_id = ?1", q, 1, &found);
    if (err == 0)
      err = found ? CG_ESTATE : CG_ENOT_FOUND;
  }
  if (err == 0)
    err = event(st, now, txid, approve ? "transaction.approved" : "transaction.rejected", reason);
  if (err == 0 && exec_stmt(st, S_COMMIT) == 0)
    return 0;
  exec_stmt(st, S_ROLLBACK);
  return err ? err : CG_ESTORE;
}

/* One count(*) query with an optional text parameter. */
static int count_of(struct cg_store *st, const char *sql, const char *param, uint64_t *out) {
  struct cg_db_stmt *s = NULL;
  if (cg_db_prepare(st->db, sql, false, &s) != CG_DB_OK)
    return step_error(st, CG_DB_ERROR, "preparing a count");
  if (param != NULL)
    cg_db_bind_text(s, 1, param, -1);
  int rc = cg_db_step(s), err = 0;
  if (rc == CG_DB_ROW)
    *out = (uint64_t)cg_db_column_int64(s, 0);
  else
    err = step_error(st, rc, "counting");
  cg_db_finalize(s);
  return err;
}

int cg_store_gauges(struct cg_store *st, int64_t now, struct cg_store_gauges *out) {
  char at[CG_TIME_ISO8601_SIZE];
  cg_time_iso8601(now, at);
  memset(out, 0, sizeof *out);
  /* The three counts from one snapshot. */
  int err = cg_db_exec(st->db, "BEGIN") == CG_DB_OK ? 0 : CG_ESTORE;
  if (err == 0) {
    if ((err = count_of(st, "SELECT count(*) FROM secrets WHERE locked_until > ?1", at,
                        &out->locked_secrets)) == 0 &&
        (err = count_of(st, "SELECT count(*) FROM transactions WHERE state = 'pending_approval'",
                        NULL, &out->pending_approvals)) == 0)
      err = count_of(st, "SELECT count(*) FROM transactions WHERE state = 'pending_ca'", NULL,
                     &out->pending_ca);
    (void)cg_db_exec(st->db, err == 0 ? "COMMIT" : "ROLLBACK");
  }
  return err;
}
