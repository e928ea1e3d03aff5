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
 *
 * A migration that rebuilds a table (SQLite cannot change a column's
 * constraints in place) follows SQLite's own procedure: foreign keys off for
 * the duration, PRAGMA foreign_key_check before the commit.  A migration
 * may also fill new columns from the stored DER (fill), in the same
 * transaction.
 */
#include "store/schema.h"

#include <sqlite3.h>

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"
#include "core/log.h"
#include "core/x509.h"
#include "store/db.h"

static int fill_certificate_details(sqlite3 *db);
static int fill_key_hashes(sqlite3 *db);

static const struct migration {
  const char *sql;
  int (*fill)(sqlite3 *db);
} migrations[] = {
    /* 0 -> 1: secrets, transactions, certificates. */
    {"CREATE TABLE secrets ("
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
     NULL},
    /* 1 -> 2: revocations (rr, and certificates rejected in certConf). */
    {"CREATE TABLE revocations ("
    "  serial     TEXT PRIMARY KEY REFERENCES certificates(serial),"
    "  reason     INTEGER CHECK (reason IS NULL OR (reason BETWEEN 0 AND 10 AND reason <> 7)),"
    "  revoked_at TEXT NOT NULL,"
    "  txid       TEXT REFERENCES transactions(txid)"
    ");",
     NULL},
    /* 2 -> 3: the per-device challenge of profiles with challenge = random. */
    {"ALTER TABLE secrets ADD COLUMN challenge_enc BLOB;",
     NULL},
    /* 3 -> 4: plain column names for operators, the audit log, and views. */
    {"ALTER TABLE transactions RENAME COLUMN txid TO transaction_id;"
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
     NULL},
    /* 4 -> 5: the secrets lifecycle (use limits, lockout, a note) and who
     * revoked a certificate. */
    {"ALTER TABLE secrets ADD COLUMN max_uses INTEGER;"
    "ALTER TABLE secrets ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE secrets ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE secrets ADD COLUMN locked_until TEXT;"
    "ALTER TABLE secrets ADD COLUMN note TEXT;"
    "ALTER TABLE revocations ADD COLUMN requested_by TEXT NOT NULL DEFAULT 'device'"
    "  CHECK (requested_by IN ('device', 'operator'));",
     NULL},
    /* 5 -> 6: the request a waiting transaction is issued from later. */
    {"ALTER TABLE transactions ADD COLUMN request_der BLOB;",
     NULL},
    /* 6 -> 7: waiting requests counted per profile and reference, for the
     * max_pending caps, without reading finished transactions. */
    {"CREATE INDEX transactions_waiting ON transactions(profile, auth_ref)"
    "  WHERE state IN ('pending_approval', 'pending_ca');",
     NULL},
    /* 7 -> 8: certificates get their subjectAltNames and key type, and a
     * status that says whether the device confirmed them: valid,
     * unconfirmed (issued, no certConf yet or never) or revoked.  The table
     * is rebuilt for the new CHECK; the views over it are made again. */
    {"DROP VIEW expiring_certificates;"
     "DROP VIEW device_history;"
     "CREATE TABLE certificates_v8 ("
     "  serial         TEXT PRIMARY KEY,"
     "  subject        TEXT NOT NULL,"
     "  issuer         TEXT NOT NULL,"
     "  sans           TEXT,"
     "  key_type       TEXT,"
     "  not_before     TEXT NOT NULL,"
     "  not_after      TEXT NOT NULL,"
     "  status         TEXT NOT NULL CHECK (status IN ('valid', 'unconfirmed', 'revoked')),"
     "  transaction_id TEXT REFERENCES transactions(transaction_id),"
     "  profile        TEXT,"
     "  created_at     TEXT NOT NULL,"
     "  der            BLOB NOT NULL"
     ");"
     "INSERT INTO certificates_v8 (serial, subject, issuer, not_before, not_after, status,"
     "                             transaction_id, profile, created_at, der)"
     "  SELECT c.serial, c.subject, c.issuer, c.not_before, c.not_after,"
     "         CASE WHEN c.status = 'revoked' THEN 'revoked'"
     "              WHEN t.state IN ('issued', 'expired', 'failed') THEN 'unconfirmed'"
     "              ELSE 'valid' END,"
     "         c.transaction_id, c.profile, c.created_at, c.der"
     "    FROM certificates c LEFT JOIN transactions t ON t.transaction_id = c.transaction_id;"
     "DROP TABLE certificates;"
     "ALTER TABLE certificates_v8 RENAME TO certificates;"
     "CREATE INDEX certificates_txid ON certificates(transaction_id);"
     "CREATE INDEX certificates_subject ON certificates(subject);"
     "CREATE VIEW expiring_certificates AS"
     "  SELECT serial, subject, sans, issuer, not_after, profile, transaction_id"
     "    FROM certificates"
     "   WHERE status = 'valid'"
     "     AND not_after <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+30 days')"
     "     AND not_after > strftime('%Y-%m-%dT%H:%M:%SZ', 'now');"
     "CREATE VIEW device_history AS"
     "  SELECT t.auth_ref, c.subject, t.transaction_id, t.req_type, t.state, t.failinfo,"
     "         t.cert_serial AS serial, c.status AS certificate_status, t.created_at,"
     "         t.updated_at"
     "    FROM transactions t LEFT JOIN certificates c ON c.serial = t.cert_serial;",
     fill_certificate_details},
    /* 8 -> 9: the polling reference a raw TCP client polls a waiting
     * transaction by (TCP pollReq), unique while it is set. */
    {"ALTER TABLE transactions ADD COLUMN poll_ref INTEGER;"
     "CREATE UNIQUE INDEX transactions_poll_ref ON transactions(poll_ref)"
     "  WHERE poll_ref IS NOT NULL;",
     NULL},
    /* 9 -> 10: no index of certificates by transaction.  A transaction names
     * its certificate (transactions.cert_serial, through the primary keys);
     * the index only cost every enrolment a leaf page at a random place
     * (transaction IDs are the clients'). */
    {"DROP INDEX certificates_txid;",
     NULL},
    /* 10 -> 11: a transaction waiting at an upstream CA (pending_ca) keeps
     * what its backend needs to ask again (ca_state, opaque) and when to ask
     * (ca_check_at; NULL: at once). */
    {"ALTER TABLE transactions ADD COLUMN ca_state BLOB;"
     "ALTER TABLE transactions ADD COLUMN ca_check_at TEXT;",
     NULL},
    /* 11 -> 12: values the gateway keeps about itself; the first is the
     * master key's check value (a known text sealed with it), so that a
     * daemon started with another key refuses to start instead of failing
     * every device's MAC. */
    {"CREATE TABLE settings ("
     "  name TEXT PRIMARY KEY,"
     "  value BLOB NOT NULL,"
     "  updated_at TEXT NOT NULL"
     ");",
     NULL},
    /* 12 -> 13: the identity a secret may enrol (NULL: the profile's name
     * policy alone decides): its subject (RFC 4514 text) and subjectAltNames
     * ("dns:a.example, ip:192.0.2.1", in order). */
    {"ALTER TABLE secrets ADD COLUMN subject TEXT;"
     "ALTER TABLE secrets ADD COLUMN sans TEXT;",
     NULL},
    /* 13 -> 14: how the device protected the transaction's first message
     * ('pbm', 'pbmac1', 'signature') and its senderNonce: a certConf must
     * keep the one and not reuse the other (NULL for older rows: not
     * checked); and the certificate a kur updates, so that one is updated
     * once, a confirmation at a time. */
    {"ALTER TABLE transactions ADD COLUMN protection TEXT"
     "  CHECK (protection IS NULL OR protection IN ('pbm', 'pbmac1', 'signature', 'ra'));"
     "ALTER TABLE transactions ADD COLUMN device_nonce TEXT;"
     "ALTER TABLE transactions ADD COLUMN updates_serial TEXT;"
     "CREATE INDEX transactions_updates ON transactions(updates_serial)"
     "  WHERE updates_serial IS NOT NULL;"
     /* and the key a certificate certifies (SHA-256 of its SPKI, hex): a key
      * reported compromised is never certified again, and a profile may
      * refuse a key certified before */
     "ALTER TABLE certificates ADD COLUMN key_hash TEXT;"
     /* the keys reported compromised: one probe per request, however many
      * certificates a key has */
     "CREATE TABLE compromised_keys ("
     "  key_hash    TEXT PRIMARY KEY,"
     "  serial      TEXT NOT NULL,"
     "  reported_at TEXT NOT NULL"
     ");",
     fill_key_hashes},
    /* 14 -> 15: leases, so that of several nodes sharing one database one
     * does the background work (issuing approved requests, expiry): the
     * holder renews its lease; another takes it once it ran out. */
    {"CREATE TABLE leases ("
     "  name       TEXT PRIMARY KEY,"
     "  holder     TEXT NOT NULL,"
     "  expires_at TEXT NOT NULL"
     ");",
     NULL},
    /* 15 -> 16: the web console's operators (app/console.c): a salted,
     * slow hash of each one's password (core/password.h), a role, and the
     * failed logins that lock an operator out for a while */
    {"CREATE TABLE operators ("
     "  name            TEXT PRIMARY KEY,"
     "  role            TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),"
     "  password_hash   TEXT NOT NULL,"
     "  created_at      TEXT NOT NULL,"
     "  failed_attempts INTEGER NOT NULL DEFAULT 0,"
     "  locked_until    TEXT,"
     "  last_login_at   TEXT"
     ");",
     NULL},
    /* 16 -> 17: the transactions of the last day found without reading
     * older ones (the console's dashboard); rows come in time order, so
     * each insert lands at the index's end */
    {"CREATE INDEX transactions_created ON transactions(created_at);", NULL},
    /* 17 -> 18: the console's searches without reading every row.  Parts
     * of subjects and SANs through a trigram index (FTS5's trigram
     * tokenizer; detail=none keeps it small, and store/query.c checks each
     * row it finds with instr()) over the certificates' rowids (never VACUUM
     * without rebuilding it: docs/store.md).  The store thread adds the
     * certificates written since its last look in batches
     * (CG_STORE_OP_SEARCH_INDEX), up to search_indexed.upto: a trigger per
     * enrolment cost it a quarter of its CPU, batches a fiftieth of that;
     * a search reads the rows past upto itself.  The triggers keep rows the
     * index holds in step when they change or go.  And the certificates of
     * a secret through its transactions' reference. */
    {"CREATE VIRTUAL TABLE certificates_search USING fts5(subject, sans, content = 'certificates',"
     "  tokenize = 'trigram', detail = 'none');"
     "INSERT INTO certificates_search (certificates_search) VALUES ('rebuild');"
     "CREATE TABLE search_indexed (upto INTEGER NOT NULL);"
     "INSERT INTO search_indexed SELECT coalesce(max(rowid), 0) FROM certificates;"
     "CREATE TRIGGER certificates_search_insert AFTER INSERT ON certificates"
     "  WHEN new.rowid <= (SELECT upto FROM search_indexed) BEGIN"
     "  INSERT INTO certificates_search (rowid, subject, sans)"
     "    VALUES (new.rowid, new.subject, new.sans);"
     "END;"
     "CREATE TRIGGER certificates_search_delete AFTER DELETE ON certificates"
     "  WHEN old.rowid <= (SELECT upto FROM search_indexed) BEGIN"
     "  INSERT INTO certificates_search (certificates_search, rowid, subject, sans)"
     "    VALUES ('delete', old.rowid, old.subject, old.sans);"
     "END;"
     "CREATE TRIGGER certificates_search_update AFTER UPDATE OF subject, sans ON certificates"
     "  WHEN old.rowid <= (SELECT upto FROM search_indexed) BEGIN"
     "  INSERT INTO certificates_search (certificates_search, rowid, subject, sans)"
     "    VALUES ('delete', old.rowid, old.subject, old.sans);"
     "  INSERT INTO certificates_search (rowid, subject, sans)"
     "    VALUES (new.rowid, new.subject, new.sans);"
     "END;"
     "CREATE INDEX transactions_reference ON transactions(auth_ref);",
     NULL},
    /* 18 -> 19: the dashboard's transactions per hour, counted as they are
     * written (by any writer: the daemon, the CLI, the console) instead of
     * read back from the transactions of the last day, which at 1,000 a
     * second are 86 million.  failinfo -1: begun (at created_at); -2:
     * failed without a failInfo, N: with bit N (at updated_at, once, when
     * the state becomes rejected or failed).  writer: 0 here; on
     * PostgreSQL each connection's own rows (its backend PID), so that
     * nodes never wait on one another's counter.  The last two days are
     * counted from the transactions at once. */
    {"CREATE TABLE transactions_hourly ("
     "  hour     TEXT NOT NULL,"
     "  profile  TEXT NOT NULL,"
     "  req_type TEXT NOT NULL,"
     "  failinfo INTEGER NOT NULL,"
     "  writer   INTEGER NOT NULL,"
     "  n        INTEGER NOT NULL,"
     "  PRIMARY KEY (hour, profile, req_type, failinfo, writer)"
     ");"
     "INSERT INTO transactions_hourly"
     "  SELECT substr(created_at, 1, 13), profile, req_type, -1, 0, count(*) FROM transactions"
     "   WHERE created_at >= strftime('%Y-%m-%dT%H', 'now', '-2 days')"
     "   GROUP BY 1, 2, 3;"
     "INSERT INTO transactions_hourly"
     "  SELECT substr(updated_at, 1, 13), profile, req_type, coalesce(failinfo, -2), 0, count(*)"
     "    FROM transactions"
     "   WHERE created_at >= strftime('%Y-%m-%dT%H', 'now', '-2 days')"
     "     AND state IN ('rejected', 'failed')"
     "   GROUP BY 1, 2, 3, 4;"
     "CREATE TRIGGER transactions_hourly_begun AFTER INSERT ON transactions BEGIN"
     "  INSERT INTO transactions_hourly VALUES"
     "    (substr(new.created_at, 1, 13), new.profile, new.req_type, -1, 0, 1)"
     "    ON CONFLICT (hour, profile, req_type, failinfo, writer) DO UPDATE SET n = n + 1;"
     "END;"
     "CREATE TRIGGER transactions_hourly_failed_at_once AFTER INSERT ON transactions"
     "  WHEN new.state IN ('rejected', 'failed') BEGIN"
     "  INSERT INTO transactions_hourly VALUES (substr(new.updated_at, 1, 13), new.profile,"
     "    new.req_type, coalesce(new.failinfo, -2), 0, 1)"
     "    ON CONFLICT (hour, profile, req_type, failinfo, writer) DO UPDATE SET n = n + 1;"
     "END;"
     "CREATE TRIGGER transactions_hourly_failed AFTER UPDATE OF state ON transactions"
     "  WHEN new.state IN ('rejected', 'failed') AND old.state NOT IN ('rejected', 'failed') BEGIN"
     "  INSERT INTO transactions_hourly VALUES (substr(new.updated_at, 1, 13), new.profile,"
     "    new.req_type, coalesce(new.failinfo, -2), 0, 1)"
     "    ON CONFLICT (hour, profile, req_type, failinfo, writer) DO UPDATE SET n = n + 1;"
     "END;",
     NULL},
};

/* Version 8's sans and key_type of the certificates stored before it, read
 * from their DER (a DER that does not parse leaves them NULL). */
static int fill_certificate_details(sqlite3 *db) {
  sqlite3_stmt *sel = NULL, *upd = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT serial, der FROM certificates WHERE key_type IS NULL",
                              -1, &sel, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db, "UPDATE certificates SET sans = ?1, key_type = ?2 WHERE serial = ?3",
                            -1, &upd, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
    struct cg_x509 x;
    char sans[1024], key_type[64];
    const void *der = sqlite3_column_blob(sel, 1);
    int len = sqlite3_column_bytes(sel, 1);
    if (der == NULL || cg_x509_parse(der, (size_t)len, &x) ||
        cg_spki_describe(x.spki, key_type, sizeof key_type) ||
        cg_x509_san_string(x.extensions, sans, sizeof sans) == CG_EDER) {
      rc = SQLITE_OK;
      continue;
    }
    rc = sqlite3_bind_text(upd, 1, sans, -1, SQLITE_STATIC) |
         sqlite3_bind_text(upd, 2, key_type, -1, SQLITE_STATIC) |
         sqlite3_bind_value(upd, 3, sqlite3_column_value(sel, 0));
    if (rc == SQLITE_OK && (rc = sqlite3_step(upd)) == SQLITE_DONE)
      rc = SQLITE_OK;
    sqlite3_reset(upd);
  }
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  return rc == SQLITE_DONE ? 0 : CG_ESTORE;
}

/* Version 14's key_hash of the certificates stored before it, from their
 * DER (a DER that does not parse leaves it NULL). */
static int fill_key_hashes(sqlite3 *db) {
  sqlite3_stmt *sel = NULL, *upd = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT serial, der FROM certificates WHERE key_hash IS NULL",
                              -1, &sel, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db, "UPDATE certificates SET key_hash = ?1 WHERE serial = ?2", -1,
                            &upd, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
    struct cg_x509 x;
    char hex[65];
    const void *der = sqlite3_column_blob(sel, 1);
    int len = sqlite3_column_bytes(sel, 1);
    if (der == NULL || cg_x509_parse(der, (size_t)len, &x) || cg_spki_hash_hex(x.spki, hex)) {
      rc = SQLITE_OK;
      continue;
    }
    rc = sqlite3_bind_text(upd, 1, hex, -1, SQLITE_STATIC) |
         sqlite3_bind_value(upd, 2, sqlite3_column_value(sel, 0));
    if (rc == SQLITE_OK && (rc = sqlite3_step(upd)) == SQLITE_DONE)
      rc = SQLITE_OK;
    sqlite3_reset(upd);
  }
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  if (rc != SQLITE_DONE)
    return CG_ESTORE;
  /* The keys of certificates revoked for keyCompromise or cACompromise. */
  rc = sqlite3_exec(db,
                    "INSERT OR IGNORE INTO compromised_keys (key_hash, serial, reported_at)"
                    " SELECT c.key_hash, c.serial, r.revoked_at FROM revocations r"
                    " JOIN certificates c ON c.serial = r.serial"
                    " WHERE r.reason IN (1, 2) AND c.key_hash IS NOT NULL",
                    NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : CG_ESTORE;
}

#define MIGRATION_COUNT ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(MIGRATION_COUNT == CG_STORE_SCHEMA_VERSION,
               "one migration per schema version");

static int pragma_int(sqlite3 *db, const char *sql, int *out);

static int user_version(sqlite3 *db, int *out) { return pragma_int(db, "PRAGMA user_version", out); }

/* PRAGMA foreign_key_check finds nothing. */
static bool foreign_keys_hold(sqlite3 *db) {
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &s, NULL) != SQLITE_OK)
    return false;
  int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc == SQLITE_ROW)
    cg_error("store: a migration would break foreign keys");
  return rc == SQLITE_DONE;
}

static int pragma_int(sqlite3 *db, const char *sql, int *out) {
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
    return CG_ESTORE;
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  return rc == SQLITE_ROW ? 0 : CG_ESTORE;
}

/* Applies migrations[from] .. migrations[to - 1] and bumps user_version to
 * `to`, all in one transaction (a new database is created at the current
 * version at once), with foreign keys off (restored after).  Returns 0
 * without change when another process migrated first; the caller reads the
 * version again either way. */
static int apply_locked(sqlite3 *db, int from, int to);

static int apply(sqlite3 *db, int from, int to) {
  int fk = 0;
  if (pragma_int(db, "PRAGMA foreign_keys", &fk) != 0 ||
      sqlite3_exec(db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL) != SQLITE_OK)
    return CG_ESTORE;
  int err = apply_locked(db, from, to);
  if (fk && sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK)
    err = CG_ESTORE;
  return err;
}

static int apply_locked(sqlite3 *db, int from, int to) {
  char *msg = NULL;
  int step = from;
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
  for (; step < to; step++) {
    if (sqlite3_exec(db, migrations[step].sql, NULL, NULL, &msg) != SQLITE_OK)
      goto failed;
    if (migrations[step].fill != NULL && migrations[step].fill(db) != 0)
      goto failed;
  }
  step = to - 1; /* failures below are the whole migration's */
  if (!foreign_keys_hold(db))
    goto failed;
  char bump[48];
  snprintf(bump, sizeof bump, "PRAGMA user_version = %d", to);
  if (sqlite3_exec(db, bump, NULL, NULL, &msg) != SQLITE_OK)
    goto failed;
  if (sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
    goto failed;
  if (from == 0)
    cg_info("store: database created (schema version %d)", to);
  else
    cg_info("store: schema migrated from version %d to %d", from, to);
  return 0;

failed:
  cg_error("store: migration %d: %s", step + 1, msg ? msg : sqlite3_errmsg(db));
  sqlite3_free(msg);
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return CG_ESTORE;
}

/* ---- PostgreSQL ---------------------------------------------------------- */

/* Text compared byte by byte, whatever the database's locale: times,
 * serials and identifiers sort as they do in SQLite. */
#define CTEXT "text COLLATE \"C\""

/* The hour `ago` before now, in the form of transactions_hourly.hour
 * (YYYY-MM-DDTHH), which compares with the stored times as text. */
#define PG_NOW_MINUS(ago)                                                                         \
  "to_char(now() AT TIME ZONE 'UTC' - interval '" ago "', 'YYYY-MM-DD\"T\"HH24')"

/* The first PostgreSQL schema is SQLite's version PG_FIRST, made at once;
 * pg_migrations[i] (i > 0) takes version PG_FIRST + i - 1 to PG_FIRST + i,
 * as migrations[PG_FIRST + i - 1] does for SQLite.  The types are SQLite's
 * mapped (INTEGER: bigint, BLOB: bytea, TEXT: text in the C collation);
 * transactions and certificates get the rowid SQLite gives every row
 * (identity columns: the order rows were written); SQLite's instr() is
 * made for the queries both engines share. */
#define PG_FIRST 14
static const char *const pg_migrations[] = {
    /* 0 -> 14 */
    "CREATE FUNCTION instr(text, text) RETURNS integer LANGUAGE sql IMMUTABLE"
    "  AS 'SELECT strpos($1, $2)';"
    "CREATE TABLE secrets ("
    "  reference       " CTEXT " PRIMARY KEY,"
    "  profile         " CTEXT " NOT NULL,"
    "  secret_enc      bytea NOT NULL,"
    "  created_at      " CTEXT " NOT NULL,"
    "  expires_at      " CTEXT ","
    "  revoked_at      " CTEXT ","
    "  challenge_enc   bytea,"
    "  max_uses        bigint,"
    "  uses            bigint NOT NULL DEFAULT 0,"
    "  failed_attempts bigint NOT NULL DEFAULT 0,"
    "  locked_until    " CTEXT ","
    "  note            text,"
    "  subject         text,"
    "  sans            text"
    ");"
    "CREATE TABLE transactions ("
    "  rowid          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
    "  transaction_id " CTEXT " PRIMARY KEY,"
    "  profile        " CTEXT " NOT NULL,"
    "  auth_ref       " CTEXT ","
    "  req_type       " CTEXT " NOT NULL,"
    "  state          " CTEXT " NOT NULL CHECK (state IN ('received', 'pending_approval',"
    "                   'pending_ca', 'issued', 'confirmed', 'rejected', 'failed',"
    "                   'expired', 'revoked_on_reject')),"
    "  failinfo       bigint,"
    "  cert_req_id    bigint,"
    "  sender_nonce   " CTEXT ","
    "  cert_serial    " CTEXT ","
    "  created_at     " CTEXT " NOT NULL,"
    "  updated_at     " CTEXT " NOT NULL,"
    "  request_der    bytea,"
    "  poll_ref       bigint,"
    "  ca_state       bytea,"
    "  ca_check_at    " CTEXT ","
    "  protection     " CTEXT
    "    CHECK (protection IS NULL OR protection IN ('pbm', 'pbmac1', 'signature', 'ra')),"
    "  device_nonce   " CTEXT ","
    "  updates_serial " CTEXT
    ");"
    "CREATE INDEX transactions_state ON transactions(state);"
    "CREATE INDEX transactions_waiting ON transactions(profile, auth_ref)"
    "  WHERE state IN ('pending_approval', 'pending_ca');"
    "CREATE UNIQUE INDEX transactions_poll_ref ON transactions(poll_ref)"
    "  WHERE poll_ref IS NOT NULL;"
    "CREATE INDEX transactions_updates ON transactions(updates_serial)"
    "  WHERE updates_serial IS NOT NULL;"
    "CREATE TABLE certificates ("
    "  rowid          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
    "  serial         " CTEXT " PRIMARY KEY,"
    "  subject        text NOT NULL,"
    "  issuer         text NOT NULL,"
    "  sans           text,"
    "  key_type       text,"
    "  not_before     " CTEXT " NOT NULL,"
    "  not_after      " CTEXT " NOT NULL,"
    "  status         " CTEXT " NOT NULL CHECK (status IN ('valid', 'unconfirmed', 'revoked')),"
    "  transaction_id " CTEXT " REFERENCES transactions(transaction_id),"
    "  profile        " CTEXT ","
    "  created_at     " CTEXT " NOT NULL,"
    "  der            bytea NOT NULL,"
    "  key_hash       " CTEXT
    ");"
    "CREATE INDEX certificates_subject ON certificates(subject);"
    "CREATE TABLE revocations ("
    "  serial         " CTEXT " PRIMARY KEY REFERENCES certificates(serial),"
    "  reason         bigint"
    "    CHECK (reason IS NULL OR (reason BETWEEN 0 AND 10 AND reason <> 7)),"
    "  revoked_at     " CTEXT " NOT NULL,"
    "  transaction_id " CTEXT " REFERENCES transactions(transaction_id),"
    "  requested_by   " CTEXT " NOT NULL DEFAULT 'device'"
    "    CHECK (requested_by IN ('device', 'operator'))"
    ");"
    "CREATE TABLE events ("
    "  id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  at             " CTEXT " NOT NULL,"
    "  transaction_id " CTEXT ","
    "  kind           " CTEXT " NOT NULL,"
    "  detail         text"
    ");"
    "CREATE INDEX events_transaction ON events(transaction_id);"
    "CREATE TABLE settings ("
    "  name       " CTEXT " PRIMARY KEY,"
    "  value      bytea NOT NULL,"
    "  updated_at " CTEXT " NOT NULL"
    ");"
    "CREATE TABLE compromised_keys ("
    "  key_hash    " CTEXT " PRIMARY KEY,"
    "  serial      " CTEXT " NOT NULL,"
    "  reported_at " CTEXT " NOT NULL"
    ");"
    "CREATE VIEW pending_approvals AS"
    "  SELECT transaction_id, profile, req_type, auth_ref, created_at, updated_at"
    "    FROM transactions WHERE state = 'pending_approval';"
    "CREATE VIEW expiring_certificates AS"
    "  SELECT serial, subject, sans, issuer, not_after, profile, transaction_id"
    "    FROM certificates"
    "   WHERE status = 'valid'"
    "     AND not_after <= to_char(now() AT TIME ZONE 'UTC' + interval '30 days',"
    "                              'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    "     AND not_after > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"');"
    "CREATE VIEW recent_failures AS"
    "  SELECT transaction_id, profile, req_type, auth_ref, state, failinfo, updated_at"
    "    FROM transactions WHERE state IN ('rejected', 'failed')"
    "     AND updated_at > to_char(now() AT TIME ZONE 'UTC' - interval '1 day',"
    "                              'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"');"
    "CREATE VIEW device_history AS"
    "  SELECT t.auth_ref, c.subject, t.transaction_id, t.req_type, t.state, t.failinfo,"
    "         t.cert_serial AS serial, c.status AS certificate_status, t.created_at,"
    "         t.updated_at"
    "    FROM transactions t LEFT JOIN certificates c ON c.serial = t.cert_serial;",
    /* 14 -> 15 */
    "CREATE TABLE leases ("
    "  name       " CTEXT " PRIMARY KEY,"
    "  holder     " CTEXT " NOT NULL,"
    "  expires_at " CTEXT " NOT NULL"
    ");",
    /* 15 -> 16 */
    "CREATE TABLE operators ("
    "  name            " CTEXT " PRIMARY KEY,"
    "  role            " CTEXT " NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),"
    "  password_hash   " CTEXT " NOT NULL,"
    "  created_at      " CTEXT " NOT NULL,"
    "  failed_attempts bigint NOT NULL DEFAULT 0,"
    "  locked_until    " CTEXT ","
    "  last_login_at   " CTEXT
    ");",
    /* 16 -> 17 */
    "CREATE INDEX transactions_created ON transactions(created_at);",
    /* 17 -> 18: pg_trgm's indexes for LIKE '%part%' on the lower-cased
     * subject and SANs.  Creating the extension needs CREATE on the
     * database (pg_trgm is a trusted extension); where the role lacks it,
     * or the server has no pg_trgm, the searches read every row instead,
     * and pg_migrate_to says so. */
    "CREATE INDEX transactions_reference ON transactions(auth_ref);"
    "DO $$ BEGIN"
    "  CREATE EXTENSION IF NOT EXISTS pg_trgm;"
    "  CREATE INDEX certificates_subject_part ON certificates"
    "    USING gin (lower(subject) gin_trgm_ops);"
    "  CREATE INDEX certificates_sans_part ON certificates USING gin (lower(sans) gin_trgm_ops);"
    "EXCEPTION WHEN OTHERS THEN NULL;"
    "END $$;",
    /* 18 -> 19: as SQLite's, with one function for the three triggers */
    "CREATE TABLE transactions_hourly ("
    "  hour     " CTEXT " NOT NULL,"
    "  profile  " CTEXT " NOT NULL,"
    "  req_type " CTEXT " NOT NULL,"
    "  failinfo bigint NOT NULL,"
    "  writer   bigint NOT NULL,"
    "  n        bigint NOT NULL,"
    "  PRIMARY KEY (hour, profile, req_type, failinfo, writer)"
    ");"
    "INSERT INTO transactions_hourly"
    "  SELECT substr(created_at, 1, 13), profile, req_type, -1, 0, count(*) FROM transactions"
    "   WHERE created_at >= " PG_NOW_MINUS("2 days") " GROUP BY 1, 2, 3;"
    "INSERT INTO transactions_hourly"
    "  SELECT substr(updated_at, 1, 13), profile, req_type, coalesce(failinfo, -2), 0, count(*)"
    "    FROM transactions WHERE created_at >= " PG_NOW_MINUS("2 days")
    "     AND state IN ('rejected', 'failed') GROUP BY 1, 2, 3, 4;"
    "CREATE FUNCTION transactions_hourly_count() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN"
    "  IF TG_OP = 'INSERT' THEN"
    "    INSERT INTO transactions_hourly VALUES (substr(NEW.created_at, 1, 13), NEW.profile,"
    "      NEW.req_type, -1, pg_backend_pid(), 1)"
    "      ON CONFLICT (hour, profile, req_type, failinfo, writer)"
    "      DO UPDATE SET n = transactions_hourly.n + 1;"
    "  END IF;"
    "  IF NEW.state IN ('rejected', 'failed')"
    "     AND (TG_OP = 'INSERT' OR OLD.state NOT IN ('rejected', 'failed')) THEN"
    "    INSERT INTO transactions_hourly VALUES (substr(NEW.updated_at, 1, 13), NEW.profile,"
    "      NEW.req_type, coalesce(NEW.failinfo, -2), pg_backend_pid(), 1)"
    "      ON CONFLICT (hour, profile, req_type, failinfo, writer)"
    "      DO UPDATE SET n = transactions_hourly.n + 1;"
    "  END IF;"
    "  RETURN NULL;"
    "END $$;"
    "CREATE TRIGGER transactions_hourly AFTER INSERT OR UPDATE OF state ON transactions"
    "  FOR EACH ROW EXECUTE FUNCTION transactions_hourly_count();",
};

#define PG_COUNT ((int)(sizeof pg_migrations / sizeof pg_migrations[0]))

_Static_assert(PG_FIRST + PG_COUNT - 1 == CG_STORE_SCHEMA_VERSION,
               "one PostgreSQL migration per schema version after the first");

/* Two processes opening a new database (two nodes starting) take turns:
 * the key of the advisory lock they migrate under. */
#define PG_MIGRATION_LOCK "7306720001"

/* The version of a PostgreSQL database: 0 when it has no cmpgw_schema
 * table yet. */
static int pg_int(struct cg_db *db, const char *sql, int *out) {
  struct cg_db_stmt *s = NULL;
  int rc = cg_db_prepare(db, sql, false, &s);
  if (rc == CG_DB_OK && (rc = cg_db_step(s)) == CG_DB_ROW)
    *out = cg_db_column_int(s, 0);
  cg_db_finalize(s);
  return rc == CG_DB_ROW ? 0 : CG_ESTORE;
}

static int pg_version(struct cg_db *db, int *out) {
  int exists = 0;
  *out = 0;
  if (pg_int(db, "SELECT CASE WHEN to_regclass('cmpgw_schema') IS NULL THEN 0 ELSE 1 END",
             &exists) != 0)
    return CG_ESTORE;
  return exists ? pg_int(db, "SELECT version FROM cmpgw_schema", out) : 0;
}

static int pg_migrate_to(struct cg_db *db, int target) {
  if (target != CG_STORE_SCHEMA_VERSION) {
    cg_error("store: a PostgreSQL database is made at version %d", CG_STORE_SCHEMA_VERSION);
    return CG_ESTORE;
  }
  int v = 0;
  if (cg_db_exec(db, "BEGIN") != CG_DB_OK ||
      cg_db_exec(db, "SELECT pg_advisory_xact_lock(" PG_MIGRATION_LOCK ")") != CG_DB_OK ||
      pg_version(db, &v) != 0)
    goto failed;
  if (v == target)
    return cg_db_exec(db, "COMMIT") == CG_DB_OK ? 0 : CG_ESTORE;
  if ((v != 0 && v < PG_FIRST) || v > CG_STORE_SCHEMA_VERSION) {
    cg_error("store: schema version %d is not known to this cmpgw (knows up to %d)", v,
             CG_STORE_SCHEMA_VERSION);
    cg_db_exec(db, "ROLLBACK");
    return CG_ESTORE;
  }
  if (v == 0 && cg_db_exec(db, "CREATE TABLE cmpgw_schema (version integer NOT NULL);"
                               "INSERT INTO cmpgw_schema VALUES (0)") != CG_DB_OK)
    goto failed;
  for (int i = v == 0 ? 0 : v - PG_FIRST + 1; i < PG_COUNT; i++)
    if (cg_db_exec(db, pg_migrations[i]) != CG_DB_OK)
      goto failed;
  char bump[64];
  snprintf(bump, sizeof bump, "UPDATE cmpgw_schema SET version = %d", target);
  if (cg_db_exec(db, bump) != CG_DB_OK || cg_db_exec(db, "COMMIT") != CG_DB_OK)
    goto failed;
  if (v == 0)
    cg_info("store: PostgreSQL database created (schema version %d)", target);
  else
    cg_info("store: schema migrated from version %d to %d", v, target);
  int trgm = 0;
  if (v < 18 && pg_int(db,
                       "SELECT CASE WHEN to_regclass('certificates_subject_part') IS NULL"
                       " THEN 0 ELSE 1 END",
                       &trgm) == 0 && !trgm)
    cg_warn("store: no pg_trgm (the extension is missing, or this role may not create it):"
            " searching certificates by part of a subject or SAN reads every row;"
            " docs/store.md says how to add its indexes");
  return 0;

failed:
  cg_error("store: PostgreSQL migration to version %d: %s", target, cg_db_errmsg(db));
  if (cg_db_in_txn(db))
    cg_db_exec(db, "ROLLBACK");
  return CG_ESTORE;
}

int cg_store_migrate(struct cg_db *db) { return cg_store_migrate_to(db, CG_STORE_SCHEMA_VERSION); }

int cg_store_migrate_to(struct cg_db *conn, int target) {
  if (cg_db_engine(conn) == CG_DB_POSTGRES)
    return pg_migrate_to(conn, target);
  sqlite3 *db = cg_db_sqlite(conn);
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
    int rc = apply(db, v, target);
    if (rc != 0)
      return rc;
  }
}
