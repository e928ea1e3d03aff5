/*
 * schema.c - the schema of the cmpgw database as an ordered list of
 * migrations, and the function that applies the missing ones.
 *
 * migrations[i] takes a database from user_version i to i + 1.  A published
 * migration is never edited: a change to the schema is a new entry at the end
 * (and a new section in docs/store.md).  Each migration runs in its own
 * BEGIN IMMEDIATE transaction together with the user_version bump, and the
 * version is read again inside that transaction, so two processes opening the
 * same new database (the daemon and the CLI) cannot both apply it.
 */
#include "store/schema.h"

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"
#include "core/log.h"

static const char *const migrations[] = {
    /* 0 -> 1: secrets, transactions, certificates. */
    "CREATE TABLE secrets ("
    "  reference  TEXT PRIMARY KEY,"
    "  profile    TEXT NOT NULL,"
    "  secret_enc BLOB NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  expires_at TEXT,"
    "  revoked_at TEXT"
    ");"
    "CREATE TABLE transactions ("
    "  txid         TEXT PRIMARY KEY,"
    "  profile      TEXT NOT NULL,"
    "  auth_ref     TEXT,"
    "  req_type     TEXT NOT NULL,"
    "  state        TEXT NOT NULL CHECK (state IN ('received', 'pending_approval',"
    "                 'pending_ca', 'issued', 'confirmed', 'rejected', 'failed',"
    "                 'expired', 'revoked_on_reject')),"
    "  failinfo     INTEGER,"
    "  cert_req_id  INTEGER,"
    "  sender_nonce TEXT,"
    "  cert_serial  TEXT,"
    "  created_at   TEXT NOT NULL,"
    "  updated_at   TEXT NOT NULL"
    ");"
    "CREATE TABLE certificates ("
    "  serial     TEXT PRIMARY KEY,"
    "  subject    TEXT NOT NULL,"
    "  issuer     TEXT NOT NULL,"
    "  not_before TEXT NOT NULL,"
    "  not_after  TEXT NOT NULL,"
    "  der        BLOB NOT NULL,"
    "  txid       TEXT REFERENCES transactions(txid),"
    "  profile    TEXT,"
    "  status     TEXT NOT NULL DEFAULT 'issued',"
    "  created_at TEXT NOT NULL"
    ");"
    "CREATE INDEX certificates_txid ON certificates(txid);"
    "CREATE INDEX transactions_state ON transactions(state);",
    /* 1 -> 2: revocations (rr, and certificates rejected in certConf). */
    "CREATE TABLE revocations ("
    "  serial     TEXT PRIMARY KEY REFERENCES certificates(serial),"
    "  reason     INTEGER CHECK (reason IS NULL OR (reason BETWEEN 0 AND 10 AND reason <> 7)),"
    "  revoked_at TEXT NOT NULL,"
    "  txid       TEXT REFERENCES transactions(txid)"
    ");",
    /* 2 -> 3: the per-device challenge of profiles with challenge = random. */
    "ALTER TABLE secrets ADD COLUMN challenge_enc BLOB;",
    /* 3 -> 4: plain column names for operators, the audit log, and views. */
    "ALTER TABLE transactions RENAME COLUMN txid TO transaction_id;"
    "ALTER TABLE certificates RENAME COLUMN txid TO transaction_id;"
    "ALTER TABLE revocations RENAME COLUMN txid TO transaction_id;"
    "CREATE TABLE events ("
    "  id             INTEGER PRIMARY KEY,"
    "  at             TEXT NOT NULL,"
    "  transaction_id TEXT,"
    "  kind           TEXT NOT NULL,"
    "  detail         TEXT"
    ");"
    "CREATE INDEX events_transaction ON events(transaction_id);"
    "CREATE VIEW pending_approvals AS"
    "  SELECT transaction_id, profile, req_type, auth_ref, created_at, updated_at"
    "    FROM transactions WHERE state = 'pending_approval';"
    "CREATE VIEW expiring_certificates AS"
    "  SELECT serial, subject, issuer, not_after, profile, transaction_id"
    "    FROM certificates"
    "   WHERE status = 'issued'"
    "     AND not_after <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+30 days')"
    "     AND not_after > strftime('%Y-%m-%dT%H:%M:%SZ', 'now');"
    "CREATE VIEW recent_failures AS"
    "  SELECT transaction_id, profile, req_type, auth_ref, state, failinfo, updated_at"
    "    FROM transactions WHERE state IN ('rejected', 'failed')"
    "     AND updated_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day');"
    "CREATE VIEW device_history AS"
    "  SELECT t.auth_ref, c.subject, t.transaction_id, t.req_type, t.state, t.failinfo,"
    "         t.cert_serial AS serial, c.status AS certificate_status, t.created_at, t.updated_at"
    "    FROM transactions t LEFT JOIN certificates c ON c.serial = t.cert_serial;",
    /* 4 -> 5: the secrets lifecycle (use limits, lockout, a note) and who
     * revoked a certificate. */
    "ALTER TABLE secrets ADD COLUMN max_uses INTEGER;"
    "ALTER TABLE secrets ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE secrets ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE secrets ADD COLUMN locked_until TEXT;"
    "ALTER TABLE secrets ADD COLUMN note TEXT;"
    "ALTER TABLE revocations ADD COLUMN requested_by TEXT NOT NULL DEFAULT 'device'"
    "  CHECK (requested_by IN ('device', 'operator'));",
    /* 5 -> 6: the request a waiting transaction is issued from later. */
    "ALTER TABLE transactions ADD COLUMN request_der BLOB;",
    /* 6 -> 7: waiting requests counted per profile and reference, for the
     * max_pending caps, without reading finished transactions. */
    "CREATE INDEX transactions_waiting ON transactions(profile, auth_ref)"
    "  WHERE state IN ('pending_approval', 'pending_ca');",
};

#define MIGRATION_COUNT ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(MIGRATION_COUNT == CG_STORE_SCHEMA_VERSION,
               "one migration per schema version");

static int user_version(sqlite3 *db, int *out) {
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
    return CG_ESTORE;
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  return rc == SQLITE_ROW ? 0 : CG_ESTORE;
}

/* Applies migrations[from] and bumps user_version, all in one transaction.
 * Returns 0 without change when another process migrated first; the caller
 * reads the version again either way. */
static int apply(sqlite3 *db, int from) {
  char *msg = NULL;
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
    cg_error("store: migration %d: %s", from + 1, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return CG_ESTORE;
  }
  int v = 0;
  if (user_version(db, &v) != 0)
    goto failed;
  if (v != from) {
    /* Someone else migrated between our read and our lock; start over. */
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return 0;
  }
  if (sqlite3_exec(db, migrations[from], NULL, NULL, &msg) != SQLITE_OK)
    goto failed;
  char bump[48];
  snprintf(bump, sizeof bump, "PRAGMA user_version = %d", from + 1);
  if (sqlite3_exec(db, bump, NULL, NULL, &msg) != SQLITE_OK)
    goto failed;
  if (sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
    goto failed;
  cg_info("store: schema migrated to version %d", from + 1);
  return 0;

failed:
  cg_error("store: migration %d: %s", from + 1, msg ? msg : sqlite3_errmsg(db));
  sqlite3_free(msg);
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return CG_ESTORE;
}

int cg_store_migrate(sqlite3 *db) { return cg_store_migrate_to(db, CG_STORE_SCHEMA_VERSION); }

int cg_store_migrate_to(sqlite3 *db, int target) {
  for (;;) {
    int v = 0;
    if (user_version(db, &v) != 0) {
      cg_error("store: reading user_version: %s", sqlite3_errmsg(db));
      return CG_ESTORE;
    }
    if (v == target)
      return 0;
    if (v < 0 || v > CG_STORE_SCHEMA_VERSION || v > target) {
      cg_error("store: schema version %d is not known to this cmpgw (knows up to %d)", v,
               CG_STORE_SCHEMA_VERSION);
      return CG_ESTORE;
    }
    int rc = apply(db, v);
    if (rc != 0)
      return rc;
  }
}
