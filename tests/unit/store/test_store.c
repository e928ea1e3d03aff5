/*
 * test_store.c - the SQLite store: schema creation and migration, the
 * synchronous secret calls, and the store thread driven by a real libuv loop
 * (group commit, per-operation savepoints, state-checked updates, draining on
 * stop).  A second, independent connection checks what is really on
 * disk.  Every test works in its own temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "cmp/records.h"
#include "core/err.h"
#include "db_support.h"
#include "store/db.h"
#include "store/schema.h"
#include "store/store.h"
#include "testutil.h"

#define MAX_TIME INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define MIN_TIME INT64_C(-62167219200) /* 0000-01-01T00:00:00Z */
#define T0 INT64_C(1767225600)         /* 2026-01-01T00:00:00Z */

struct fixture {
  char dir[512];
  char path[1200]; /* the database's locator (db_support.h) */
  bool pg;
  uv_loop_t loop;
  bool loop_closed;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  if (f == NULL)
    return -1;
  const char *tmp = getenv("TMPDIR");
  snprintf(f->dir, sizeof f->dir, "%s/cmpgw-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(f->dir) == NULL || uv_loop_init(&f->loop) != 0) {
    free(f);
    return -1;
  }
  tudb_make(f->dir, f->path, sizeof f->path);
  f->pg = tudb_pg();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char p[sizeof f->path + 16];
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0] && !f->pg; i++) {
    snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
    unlink(p);
  }
  tudb_drop(f->path);
  int rc = rmdir(f->dir);
  /* A test that failed half-way may leave a store thread running on this
   * loop: then the fixture is left alone (running the loop could wait
   * forever), and the failure is already reported. */
  if (!f->loop_closed && !uv_loop_alive(&f->loop))
    f->loop_closed = uv_loop_close(&f->loop) == 0;
  if (f->loop_closed)
    free(f);
  return rc;
}

/* ---- a second connection, to see what is really stored ---------------- */

static int64_t peer_int(const struct fixture *f, const char *sql) { return tudb_int(f->path, sql); }

/* Copies the first column of the first row into out (at most cap - 1 bytes). */
static void peer_text(const struct fixture *f, const char *sql, char *out, size_t cap) {
  tudb_text(f->path, sql, out, cap);
}

static int peer_exec_rc(const struct fixture *f, const char *sql) {
  return tudb_exec(f->path, sql);
}

static void peer_exec(const struct fixture *f, const char *sql) {
  assert_int_equal(peer_exec_rc(f, sql), CG_DB_OK);
}

/* ---- records ------------------------------------------------------------ */

static void make_txn(struct cmp_txn_record *r, unsigned i) {
  memset(r, 0, sizeof *r);
  snprintf(r->txid, sizeof r->txid, "%032x", i + 0xa0000000u);
  strcpy(r->profile, "default");
  snprintf(r->auth_ref, sizeof r->auth_ref, "dev-%u", i);
  strcpy(r->req_type, "ir");
  r->state = CMP_TXN_RECEIVED;
  r->prev_state = CMP_TXN_RECEIVED;
  r->failinfo = -1;
  r->cert_req_id = 0;
  snprintf(r->sender_nonce, sizeof r->sender_nonce, "%032x", i * 7919u);
  r->created_at = T0 + i;
  r->updated_at = T0 + i + 1;
}

/* DER stand-in: the store keeps it opaque, zeros included. */
static uint8_t fake_der[300];

static void fill_fake_der(void) {
  for (size_t i = 0; i < sizeof fake_der; i++)
    fake_der[i] = (uint8_t)(i * 31u);
}

static void make_cert(struct cmp_cert_record *c, unsigned i, const char *txid) {
  memset(c, 0, sizeof *c);
  snprintf(c->serial, sizeof c->serial, "%032x", i + 0x5e000000u);
  c->subject = "CN=device";
  c->issuer = "CN=Issuing CA,O=Example";
  c->not_before = T0;
  c->not_after = T0 + 365 * 86400;
  c->der = fake_der;
  c->der_len = sizeof fake_der;
  snprintf(c->txid, sizeof c->txid, "%s", txid);
  strcpy(c->profile, "default");
}

static void make_insert(struct cg_store_op *op, unsigned i, bool with_cert) {
  memset(op, 0, sizeof *op);
  op->kind = CG_STORE_OP_INSERT;
  make_txn(&op->txn, i);
  if (with_cert) {
    op->cert_present = true;
    make_cert(&op->cert, i, op->txn.txid);
    snprintf(op->txn.cert_serial, sizeof op->txn.cert_serial, "%s", op->cert.serial);
    op->txn.state = CMP_TXN_ISSUED;
  }
}

static void make_lookup(struct cg_store_op *op, const char *ref, const char *txid) {
  memset(op, 0, sizeof *op);
  op->kind = CG_STORE_OP_LOOKUP;
  if (ref != NULL) {
    op->ref_len = strlen(ref);
    memcpy(op->ref, ref, op->ref_len);
  }
  if (txid != NULL)
    snprintf(op->txn.txid, sizeof op->txn.txid, "%s", txid);
}

static void make_secret(struct cmp_secret_record *s, const char *ref) {
  memset(s, 0, sizeof *s);
  snprintf(s->reference, sizeof s->reference, "%s", ref);
  strcpy(s->profile, "default");
  for (size_t i = 0; i < 60; i++)
    s->enc[i] = (uint8_t)(255 - i);
  s->enc_len = 60;
  s->created_at = T0;
  s->expires_at = T0 + 86400;
}

/* ---- driving the loop ------------------------------------------------- */

/* Callbacks count completions, and remember the order they ran in. */
struct tally {
  int done;
  int order[512];
};

static struct tally tally;

static void on_op(struct cg_store_op *op) {
  int *slot = op->arg;
  if (tally.done < (int)(sizeof tally.order / sizeof tally.order[0]))
    tally.order[tally.done] = slot != NULL ? *slot : -1;
  tally.done++;
}

static void on_watchdog(uv_timer_t *t) { *(bool *)t->data = true; }

/* Runs the loop until *flag reaches want.  The watchdog only bounds a broken
 * run; the condition, not the time, ends a passing one. */
static void run_until(uv_loop_t *loop, const int *flag, int want) {
  uv_timer_t dog;
  bool expired = false;
  uv_timer_init(loop, &dog);
  dog.data = &expired;
  uv_timer_start(&dog, on_watchdog, 60000, 0);
  while (*flag < want && !expired)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&dog, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  assert_false(expired);
  assert_int_equal(*flag, want);
}

static int stopped;

/* Every handle must be closed by now: the loop ends and closes cleanly. */
static void close_loop(struct fixture *f) {
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  f->loop_closed = true;
}

static void on_stopped(void *arg) {
  (void)arg;
  stopped++;
}

/* Stops the store, lets the loop finish, and checks nothing stays open. */
static void stop_and_close(struct fixture *f, struct cg_store *st) {
  stopped = 0;
  cg_store_stop(st, on_stopped, NULL);
  run_until(&f->loop, &stopped, 1);
  close_loop(f);
  cg_store_close(st);
}

static struct cg_store *open_started(struct fixture *f) {
  struct cg_store *st = NULL;
  assert_int_equal(cg_store_open(f->path, &st), 0);
  assert_int_equal(cg_store_start(st, &f->loop), 0);
  memset(&tally, 0, sizeof tally);
  return st;
}

static void submit(struct cg_store *st, struct cg_store_op *op, int *id) {
  op->cb = on_op;
  op->arg = id;
  assert_int_equal(cg_store_submit(st, op), 0);
}

/* ---- schema ------------------------------------------------------------ */

static void test_open_creates_the_current_schema_in_wal_mode(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = NULL;
  assert_int_equal(cg_store_open(f->path, &st), 0);
  assert_non_null(st);
  if (f->pg) {
    cg_store_close(st);
    assert_int_equal(peer_int(f, "SELECT version FROM cmpgw_schema"), CG_STORE_SCHEMA_VERSION);
    assert_int_equal(peer_int(f, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND"
                                 " tablename IN ('secrets', 'transactions', 'certificates',"
                                 " 'revocations')"),
                     4);
    assert_int_equal(peer_int(f, "SELECT count(*) FROM pg_indexes WHERE indexname IN"
                                 " ('certificates_subject', 'transactions_state')"),
                     2);
    return;
  }
  char mode[16];
  peer_text(f, "PRAGMA journal_mode", mode, sizeof mode);
  assert_string_equal(mode, "wal");
  cg_store_close(st);
  assert_int_equal(peer_int(f, "PRAGMA user_version"), CG_STORE_SCHEMA_VERSION);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND"
                               " name IN ('secrets', 'transactions', 'certificates',"
                               " 'revocations')"),
                   4);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND"
                               " name IN ('certificates_subject', 'transactions_state')"),
                   2);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM sqlite_schema WHERE"
                               " name = 'certificates_txid'"),
                   0);
}

/* A new database, and the WAL and shared-memory files beside it, are for
 * the gateway's user only: they hold the sealed secrets and every request. */
static void test_a_new_database_is_readable_by_its_owner_only(void **state) {
  struct fixture *f = *state;
  if (f->pg)
    skip(); /* files: SQLite's */
  struct cg_store *st = NULL;
  struct stat sb;
  char p[sizeof f->path + 16];
  assert_int_equal(cg_store_open(f->path, &st), 0);
  assert_int_equal(cg_store_setting_put(st, "x", (const uint8_t *)"1", 1, T0), 0);
  assert_int_equal(stat(f->path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  snprintf(p, sizeof p, "%s-wal", f->path);
  assert_int_equal(stat(p, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  cg_store_close(st);
}

/* Settings: absent, set, replaced; a value that does not fit is refused. */
static void test_settings_round_trip(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = NULL;
  uint8_t v[8];
  size_t len = 0;
  assert_int_equal(cg_store_open(f->path, &st), 0);
  assert_int_equal(cg_store_setting_get(st, "k", v, sizeof v, &len), CG_ENOT_FOUND);
  assert_int_equal(cg_store_setting_put(st, "k", (const uint8_t *)"abc", 3, T0), 0);
  assert_int_equal(cg_store_setting_put(st, "k", (const uint8_t *)"defg", 4, T0 + 1), 0);
  assert_int_equal(cg_store_setting_get(st, "k", v, sizeof v, &len), 0);
  assert_int_equal(len, 4);
  assert_memory_equal(v, "defg", 4);
  assert_int_equal(cg_store_setting_get(st, "k", v, 2, &len), CG_ESPACE);
  cg_store_close(st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM settings"), 1);
}

static void test_open_twice_keeps_schema_and_data(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = NULL;
  struct cmp_secret_record s, got;
  make_secret(&s, "dev-1");
  assert_int_equal(cg_store_open(f->path, &st), 0);
  assert_int_equal(cg_store_secret_insert(st, &s), 0);
  cg_store_close(st);

  assert_int_equal(cg_store_open(f->path, &st), 0);
  assert_int_equal(cg_store_secret_get(st, "dev-1", &got), 0);
  cg_store_close(st);
  assert_int_equal(peer_int(f, f->pg ? "SELECT version FROM cmpgw_schema" : "PRAGMA user_version"),
                   CG_STORE_SCHEMA_VERSION);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM secrets"), 1);
}

/* The migrations to 18 and 19 take in what a grown store holds: the search
 * index gets every certificate there is, and the last two days'
 * transactions are counted per hour (older ones are not). */
static void test_migration_indexes_and_counts_what_is_there(void **state) {
  struct fixture *f = *state;
  if (f->pg)
    skip(); /* made at the current version: nothing to take in */
  struct cg_db *conn = NULL;
  unlink(f->path);
  assert_int_equal(cg_db_open(f->path, CG_DB_WRITER, &conn), 0);
  assert_int_equal(cg_store_migrate_to(conn, 17), 0);
  static const char rows[] =
      "INSERT INTO transactions (transaction_id, profile, req_type, state, failinfo, cert_serial,"
      " created_at, updated_at) VALUES"
      " ('c1', 'default', 'ir', 'confirmed', NULL, 'ab01',"
      "  strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 hour'),"
      "  strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 hour')),"
      " ('c2', 'default', 'ir', 'failed', 9, NULL,"
      "  strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 hour'),"
      "  strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-30 minutes')),"
      " ('c3', 'default', 'ir', 'failed', 9, NULL,"
      "  strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-5 days'),"
      "  strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-5 days'));"
      "INSERT INTO certificates (serial, subject, issuer, not_before, not_after, der,"
      " transaction_id, created_at, status) VALUES ('ab01', 'CN=old-device', 'CN=ca',"
      " '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', x'3000', 'c1', '2026-01-01T00:00:00Z',"
      " 'valid');";
  assert_int_equal(sqlite3_exec(cg_db_sqlite(conn), rows, NULL, NULL, NULL), SQLITE_OK);
  cg_db_close(conn);
  struct cg_store *st = NULL;
  assert_int_equal(cg_store_open(f->path, &st), 0);
  cg_store_close(st);
  assert_int_equal(peer_int(f, "SELECT upto FROM search_indexed"),
                   peer_int(f, "SELECT max(rowid) FROM certificates"));
  assert_int_equal(
      peer_int(f, "SELECT count(*) FROM certificates_search WHERE subject LIKE '%old-dev%'"), 1);
  assert_int_equal(peer_int(f, "SELECT sum(n) FROM transactions_hourly WHERE failinfo = -1"), 2);
  assert_int_equal(peer_int(f, "SELECT sum(n) FROM transactions_hourly WHERE failinfo = 9"), 1);
}

/* A database of every earlier version, with rows in it, is brought to the
 * current one by cg_store_open() without losing them. */
static void test_every_earlier_version_migrates_with_its_data(void **state) {
  struct fixture *f = *state;
  if (f->pg)
    skip(); /* PostgreSQL databases begin at version 14 */
  for (int from = 1; from < CG_STORE_SCHEMA_VERSION; from++) {
    struct cg_db *conn = NULL;
    unlink(f->path);
    assert_int_equal(cg_db_open(f->path, CG_DB_WRITER, &conn), 0);
    sqlite3 *db = cg_db_sqlite(conn);
    assert_int_equal(cg_store_migrate_to(conn, from), 0);
    /* Rows as that version wrote them: txid was renamed in version 4. */
    const char *col = from < 4 ? "txid" : "transaction_id";
    /* From version 8 on a certificate names its status. */
    const char *st_col = from < 8 ? "" : ", status";
    const char *valid = from < 8 ? "" : ", 'valid'",
               *unconfirmed = from < 8 ? "" : ", 'unconfirmed'";
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO secrets (reference, profile, secret_enc, created_at)"
             " VALUES ('old-ref', 'default', x'01', '2026-01-01T00:00:00Z');"
             "INSERT INTO transactions (%s, profile, req_type, state, cert_serial, created_at,"
             " updated_at) VALUES ('0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a', 'default', 'ir',"
             " 'confirmed', 'abcd', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');"
             "INSERT INTO certificates (serial, subject, issuer, not_before, not_after, der, %s,"
             " created_at%s) VALUES ('abcd', 'CN=old', 'CN=ca', '2026-01-01T00:00:00Z',"
             " '2027-01-01T00:00:00Z', x'3000', '0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a',"
             " '2026-01-01T00:00:00Z'%s);",
             col, col, st_col, valid);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    /* Before version 8: a certificate still waiting for its certConf, with a
     * real DER (EC P-256) whose details version 8 reads. */
    snprintf(sql, sizeof sql,
             "INSERT INTO transactions (%s, profile, req_type, state, cert_serial, created_at,"
             " updated_at) VALUES ('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b', 'default', 'ir',"
             " 'issued', 'abce', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');"
             "INSERT INTO certificates (serial, subject, issuer, not_before, not_after, der, %s,"
             " created_at%s) VALUES ('abce', 'CN=waiting', 'CN=ca', '2026-01-01T00:00:00Z',"
             " '2027-01-01T00:00:00Z', ?1, '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',"
             " '2026-01-01T00:00:00Z'%s);",
             col, col, st_col, unconfirmed);
    sqlite3_stmt *ins;
    const char *tail = sql;
    size_t ec_len;
    uint8_t *ec = tu_read_file(CG_TEST_VECTORS "/x509/ec.der", &ec_len);
    assert_non_null(ec);
    while (*tail != '\0') {
      assert_int_equal(sqlite3_prepare_v2(db, tail, -1, &ins, &tail), SQLITE_OK);
      if (ins == NULL)
        break;
      if (sqlite3_bind_parameter_count(ins) > 0)
        sqlite3_bind_blob(ins, 1, ec, (int)ec_len, SQLITE_STATIC);
      assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
      sqlite3_finalize(ins);
    }
    free(ec);
    if (from >= 2) { /* revoked, by the rr of another transaction */
      snprintf(sql, sizeof sql,
               "UPDATE certificates SET status = 'revoked' WHERE serial = 'abcd';"
               "INSERT INTO revocations (serial, reason, revoked_at, %s) VALUES"
               " ('abcd', 1, '2026-01-02T00:00:00Z', '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b');",
               col);
      assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    cg_db_close(conn);

    struct cg_store *st = NULL;
    assert_int_equal(cg_store_open(f->path, &st), 0);
    struct cmp_secret_record s;
    assert_int_equal(cg_store_secret_get(st, "old-ref", &s), 0);
    assert_int_equal(s.uses, 0);
    cg_store_close(st);
    assert_int_equal(peer_int(f, "PRAGMA user_version"), CG_STORE_SCHEMA_VERSION);
    assert_int_equal(peer_int(f, "SELECT count(*) FROM certificates c JOIN transactions t"
                                 " ON t.transaction_id = c.transaction_id WHERE c.serial = 'abcd'"),
                     1);
    assert_int_equal(peer_int(f, "SELECT count(*) FROM device_history WHERE serial = 'abcd'"), 1);
    /* Version 8's status from the transaction, and details from the DER. */
    char text[128];
    peer_text(f,
              "SELECT group_concat(serial || ':' || status || ':' || coalesce(key_type, '-'))"
              " FROM (SELECT * FROM certificates ORDER BY serial)",
              text, sizeof text);
    /* (version 8 reads the details of what was stored before it) */
    snprintf(sql, sizeof sql, "abcd:%s:-,abce:unconfirmed:%s", from >= 2 ? "revoked" : "valid",
             from < 8 ? "EC P-256" : "-");
    assert_string_equal(text, sql);
    /* the rebuilt table is still what revocations refer to */
    assert_int_equal(peer_int(f, "SELECT count(*) FROM revocations r JOIN certificates c"
                                 " ON c.serial = r.serial"),
                     from >= 2 ? 1 : 0);
    assert_int_equal(peer_int(f, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    /* Version 14's key hash, from the DER of what was stored before it: the
     * SHA-256 of the EC certificate's SPKI (a DER that does not parse: none). */
    peer_text(f, "SELECT coalesce(key_hash, '-') FROM certificates WHERE serial = 'abce'", text,
              sizeof text);
    assert_int_equal(strlen(text), from < 14 ? 64 : 1); /* (a row of 14 written without) */
    /* Version 15's leases, empty. */
    assert_int_equal(peer_int(f, "SELECT count(*) FROM leases"), 0);
    peer_text(f, "SELECT coalesce(key_hash, '-') FROM certificates WHERE serial = 'abcd'", text,
              sizeof text);
    assert_string_equal(text, "-");
  }
}

static void test_open_refuses_a_newer_schema(void **state) {
  struct fixture *f = *state;
  const char *version = f->pg ? "SELECT version FROM cmpgw_schema" : "PRAGMA user_version";
  if (f->pg) {
    struct cg_store *made = NULL;
    assert_int_equal(cg_store_open(f->path, &made), 0);
    cg_store_close(made);
    peer_exec(f, "UPDATE cmpgw_schema SET version = 99");
  } else {
    peer_exec(f, "PRAGMA user_version = 99");
  }
  struct cg_store *st = (struct cg_store *)1;
  assert_int_equal(cg_store_open(f->path, &st), CG_ESTORE);
  assert_null(st);
  assert_int_equal(peer_int(f, version), 99);
}

/* ---- secrets ----------------------------------------------------------- */

static void test_secret_round_trips_every_field(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = NULL;
  struct cmp_secret_record s, got;
  assert_int_equal(cg_store_open(f->path, &st), 0);

  make_secret(&s, "dev-1");
  assert_int_equal(cg_store_secret_insert(st, &s), 0);
  memset(&got, 0x55, sizeof got);
  assert_int_equal(cg_store_secret_get(st, "dev-1", &got), 0);
  assert_string_equal(got.reference, "dev-1");
  assert_string_equal(got.profile, "default");
  assert_int_equal(got.enc_len, s.enc_len);
  assert_memory_equal(got.enc, s.enc, s.enc_len);
  assert_int_equal(got.created_at, T0);
  assert_int_equal(got.expires_at, T0 + 86400);
  assert_false(got.revoked);
  assert_int_equal(got.challenge_enc_len, 0);

  make_secret(&s, "dev-2");
  s.expires_at = 0;
  s.revoked = true;
  memset(s.challenge_enc, 0xc5, 40);
  s.challenge_enc_len = 40;
  assert_int_equal(cg_store_secret_insert(st, &s), 0);
  assert_int_equal(cg_store_secret_get(st, "dev-2", &got), 0);
  assert_int_equal(got.expires_at, 0);
  assert_true(got.revoked);
  assert_int_equal(got.challenge_enc_len, 40);
  assert_memory_equal(got.challenge_enc, s.challenge_enc, 40);
  cg_store_close(st);

  assert_int_equal(peer_int(f, "SELECT expires_at IS NULL AND revoked_at IS NOT NULL"
                               " FROM secrets WHERE reference = 'dev-2'"),
                   1);
  char text[32];
  peer_text(f, "SELECT created_at FROM secrets WHERE reference = 'dev-1'", text, sizeof text);
  assert_string_equal(text, "2026-01-01T00:00:00Z");
}

static void test_secret_duplicate_reference_is_eexists(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = NULL;
  struct cmp_secret_record s, got;
  assert_int_equal(cg_store_open(f->path, &st), 0);
  make_secret(&s, "dev-1");
  assert_int_equal(cg_store_secret_insert(st, &s), 0);
  strcpy(s.profile, "other");
  assert_int_equal(cg_store_secret_insert(st, &s), CG_EEXISTS);
  assert_int_equal(cg_store_secret_get(st, "dev-1", &got), 0);
  assert_string_equal(got.profile, "default");
  cg_store_close(st);
}

static void test_secret_get_unknown_is_enot_found(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = NULL;
  struct cmp_secret_record got;
  assert_int_equal(cg_store_open(f->path, &st), 0);
  assert_int_equal(cg_store_secret_get(st, "nobody", &got), CG_ENOT_FOUND);
  assert_int_equal(cg_store_secret_get(st, "", &got), CG_ENOT_FOUND);
  cg_store_close(st);
}

/* ---- asynchronous operations ------------------------------------------- */

#define N_GROUP 200

static void test_inserts_queued_in_one_turn_share_commits(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op *ops = calloc(N_GROUP, sizeof *ops);
  assert_non_null(ops);
  fill_fake_der();
  for (unsigned i = 0; i < N_GROUP; i++) {
    make_insert(&ops[i], i, i % 2 == 0);
    ops[i].result = 12345;
    submit(st, &ops[i], NULL);
  }
  run_until(&f->loop, &tally.done, N_GROUP);
  for (unsigned i = 0; i < N_GROUP; i++)
    assert_int_equal(ops[i].result, 0);
  struct cg_store_counters n;
  cg_store_stats(st, &n);
  assert_int_equal(n.ops, N_GROUP);
  assert_true(n.commits >= 1);
  assert_true(n.commits < N_GROUP);
  assert_int_equal(n.held, 0); /* no pacing unless asked for */

  struct cg_store_op look;
  make_lookup(&look, NULL, ops[42].txn.txid);
  submit(st, &look, NULL);
  run_until(&f->loop, &tally.done, N_GROUP + 1);
  assert_int_equal(look.result, 0);
  assert_true(look.txn_found);
  assert_false(look.secret_found);
  assert_string_equal(look.txn.cert_serial, ops[42].cert.serial);
  assert_int_equal(look.cert_der_len, sizeof fake_der);
  assert_memory_equal(look.cert_der, fake_der, sizeof fake_der);
  cg_store_op_release(&look);
  assert_null(look.cert_der);

  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), N_GROUP);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM certificates"), N_GROUP / 2);
  free(ops);
}

static struct cg_store *open_paced(struct fixture *f, uint32_t interval_us) {
  struct cg_store *st = NULL;
  assert_int_equal(cg_store_open(f->path, &st), 0);
  cg_store_set_commit_interval(st, interval_us);
  assert_int_equal(cg_store_start(st, &f->loop), 0);
  memset(&tally, 0, sizeof tally);
  return st;
}

/* Runs the loop, one turn at a time, until the store holds `want` groups. */
static void run_until_held(uv_loop_t *loop, struct cg_store *st, uint64_t want) {
  struct cg_store_counters n;
  for (int i = 0; i < 600000; i++) {
    cg_store_stats(st, &n);
    if (n.held >= want)
      return;
    uv_run(loop, UV_RUN_NOWAIT);
    struct timespec pause = {0, 100000};
    nanosleep(&pause, NULL);
  }
  fail_msg("the store never held %llu group(s)", (unsigned long long)want);
}

/* A write that follows a commit within the interval waits, and the writes
 * queued while it waits share its commit; stopping ends the wait. */
static void test_pacing_holds_a_write_for_the_ones_that_follow(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_paced(f, 600u * 1000000u);
  struct cg_store_op ops[4];
  make_insert(&ops[0], 0, false);
  submit(st, &ops[0], NULL); /* the first write has no commit to follow */
  run_until(&f->loop, &tally.done, 1);
  make_insert(&ops[1], 1, false);
  submit(st, &ops[1], NULL);
  run_until_held(&f->loop, st, 1);
  for (unsigned i = 2; i < 4; i++) {
    make_insert(&ops[i], i, true);
    submit(st, &ops[i], NULL);
  }
  uv_run(&f->loop, UV_RUN_NOWAIT); /* handed over; still held */
  assert_int_equal(tally.done, 1);

  stopped = 0;
  cg_store_stop(st, on_stopped, NULL);
  run_until(&f->loop, &stopped, 1);
  assert_int_equal(tally.done, 4);
  for (unsigned i = 0; i < 4; i++)
    assert_int_equal(ops[i].result, 0);
  struct cg_store_counters n;
  cg_store_stats(st, &n);
  assert_int_equal(n.commits, 2);
  assert_int_equal(n.held, 1);
  close_loop(f);
  cg_store_close(st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 4);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM certificates"), 2);
}

/* One writer at a time (each write waits for the one before): holding its
 * writes gathers nothing, and the store soon stops holding them. */
static void test_pacing_stops_for_a_lone_writer(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_paced(f, 20000);
  enum { N = 60 };
  struct cg_store_op ops[N];
  for (unsigned i = 0; i < N; i++) {
    make_insert(&ops[i], i, false);
    submit(st, &ops[i], NULL);
    run_until(&f->loop, &tally.done, (int)i + 1);
    assert_int_equal(ops[i].result, 0);
  }
  struct cg_store_counters n;
  cg_store_stats(st, &n);
  assert_int_equal(n.commits, N);
  /* at most the waits before pacing gives up, and no probe yet (one comes
   * every 64 write groups) */
  assert_true(n.held <= 16);
  stop_and_close(f, st);
}

static void test_lookup_returns_secret_txn_and_cert_as_written(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = NULL;
  struct cmp_secret_record s;
  fill_fake_der();
  assert_int_equal(cg_store_open(f->path, &st), 0);
  make_secret(&s, "dev-7");
  assert_int_equal(cg_store_secret_insert(st, &s), 0);
  assert_int_equal(cg_store_start(st, &f->loop), 0);
  memset(&tally, 0, sizeof tally);

  struct cg_store_op ins, look, nul_ref, unknown;
  make_insert(&ins, 7, true);
  ins.txn.auth_ref[0] = '\0';
  ins.txn.failinfo = 9;
  ins.txn.cert_req_id = -1;
  make_lookup(&look, "dev-7", ins.txn.txid);
  make_lookup(&nul_ref, NULL, NULL);
  memcpy(nul_ref.ref, "dev-7\0x", 7);
  nul_ref.ref_len = 7;
  make_lookup(&unknown, "dev-8", "00112233445566778899aabbccddeeff");
  int ids[4] = {0, 1, 2, 3};
  /* Queue order is execution order: the lookup sees the insert before it. */
  submit(st, &ins, &ids[0]);
  submit(st, &look, &ids[1]);
  submit(st, &nul_ref, &ids[2]);
  submit(st, &unknown, &ids[3]);
  run_until(&f->loop, &tally.done, 4);
  for (int i = 0; i < 4; i++)
    assert_int_equal(tally.order[i], i);

  assert_int_equal(ins.result, 0);
  assert_int_equal(look.result, 0);
  assert_true(look.secret_found);
  assert_string_equal(look.secret.reference, "dev-7");
  assert_int_equal(look.secret.enc_len, s.enc_len);
  assert_memory_equal(look.secret.enc, s.enc, s.enc_len);
  assert_true(look.txn_found);
  assert_string_equal(look.txn.txid, ins.txn.txid);
  assert_string_equal(look.txn.profile, "default");
  assert_string_equal(look.txn.auth_ref, "");
  assert_string_equal(look.txn.req_type, "ir");
  assert_int_equal(look.txn.state, CMP_TXN_ISSUED);
  assert_int_equal(look.txn.failinfo, 9);
  assert_int_equal(look.txn.cert_req_id, -1);
  assert_string_equal(look.txn.sender_nonce, ins.txn.sender_nonce);
  assert_string_equal(look.txn.cert_serial, ins.cert.serial);
  assert_int_equal(look.txn.created_at, ins.txn.created_at);
  assert_int_equal(look.txn.updated_at, ins.txn.updated_at);
  assert_int_equal(look.cert_der_len, sizeof fake_der);
  assert_memory_equal(look.cert_der, fake_der, sizeof fake_der);

  assert_int_equal(nul_ref.result, 0);
  assert_false(nul_ref.secret_found);
  assert_int_equal(unknown.result, 0);
  assert_false(unknown.secret_found);
  assert_false(unknown.txn_found);
  assert_null(unknown.cert_der);

  cg_store_op_release(&look);
  cg_store_op_release(&unknown);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT auth_ref IS NULL FROM transactions"), 1);
}

/* A reader connection sees what the store thread committed, at once and on
 * the calling thread; it cannot write and does only LOOKUPs. */
static void test_reader_reads_what_the_writer_committed(void **state) {
  struct fixture *f = *state;
  struct cg_store *reader = NULL;
  /* Read-only: it never creates a database (a SQLite file; a PostgreSQL
   * database is the administrator's to create). */
  if (!f->pg) {
    assert_int_equal(cg_store_open_reader(f->path, &reader), CG_ESTORE);
    assert_null(reader);
  }
  struct cg_store *st = open_started(f);
  assert_int_equal(cg_store_open_reader(f->path, &reader), 0);

  struct cg_store_op look;
  make_lookup(&look, NULL, "a0000005000000000000000000000000");
  cg_store_read_now(reader, &look);
  assert_int_equal(look.result, 0);
  assert_false(look.txn_found);

  fill_fake_der();
  struct cg_store_op ins;
  int id = 0;
  make_insert(&ins, 5, true);
  submit(st, &ins, &id);
  run_until(&f->loop, &tally.done, 1);
  assert_int_equal(ins.result, 0);

  make_lookup(&look, NULL, ins.txn.txid);
  look.cb = on_op; /* not called: the read is done when read_now returns */
  cg_store_read_now(reader, &look);
  assert_int_equal(tally.done, 1);
  assert_int_equal(look.result, 0);
  assert_true(look.txn_found);
  assert_int_equal(look.txn.state, CMP_TXN_ISSUED);
  assert_int_equal(look.cert_der_len, sizeof fake_der);
  assert_memory_equal(look.cert_der, fake_der, sizeof fake_der);
  cg_store_op_release(&look);

  struct cg_store_op write;
  make_insert(&write, 6, false);
  cg_store_read_now(reader, &write);
  assert_int_equal(write.result, CG_EINVAL);
  cg_store_close(reader);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 1);
}

/* The times of a transaction and of its certificate, and the text each is
 * stored as. */
struct stored_times {
  int64_t created_at, updated_at, not_before, not_after;
  const char *text[4];
};

/* Inserts a transaction and its certificate with the times t, reads the
 * transaction back, and checks what the four columns hold. */
static void times_round_trip(struct fixture *f, const struct stored_times *t) {
  static const char *const sql[4] = {
      "SELECT created_at FROM transactions", "SELECT updated_at FROM transactions",
      "SELECT not_before FROM certificates", "SELECT not_after FROM certificates"};
  struct cg_store *st = open_started(f);
  fill_fake_der();
  struct cg_store_op ins, look;
  make_insert(&ins, 1, true);
  ins.txn.created_at = t->created_at;
  ins.txn.updated_at = t->updated_at;
  ins.cert.not_before = t->not_before;
  ins.cert.not_after = t->not_after;
  make_lookup(&look, NULL, ins.txn.txid);
  submit(st, &ins, NULL);
  submit(st, &look, NULL);
  run_until(&f->loop, &tally.done, 2);
  assert_int_equal(ins.result, 0);
  assert_int_equal(look.result, 0);
  assert_true(look.txn_found);
  assert_int_equal(look.txn.created_at, t->created_at);
  assert_int_equal(look.txn.updated_at, t->updated_at);
  cg_store_op_release(&look);
  stop_and_close(f, st);

  char text[32];
  for (size_t i = 0; i < 4; i++) {
    peer_text(f, sql[i], text, sizeof text);
    assert_string_equal(text, t->text[i]);
  }
}

static void test_times_are_iso_text_and_round_trip(void **state) {
  static const struct stored_times t = {
      .created_at = 0,
      .updated_at = MAX_TIME,
      .not_before = INT64_C(951782400), /* 2000-02-29T00:00:00Z */
      .not_after = INT64_C(4107542399), /* 2100-02-28T23:59:59Z */
      .text = {"1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2000-02-29T00:00:00Z",
               "2100-02-28T23:59:59Z"},
  };
  times_round_trip(*state, &t);
}

/* A certificate may begin before 1970 (UTCTime 50..69 is 1950..1969): an
 * upstream CA's certificate whose validity lies before 1970 is recorded like
 * any other, and a transaction's times before 1970 read back as written. */
static void test_times_before_1970_are_stored_and_read_back(void **state) {
  static const struct stored_times t = {
      .created_at = -1,
      .updated_at = 0,
      .not_before = INT64_C(-631152000), /* 1950-01-01T00:00:00Z */
      .not_after = INT64_C(-2203891200), /* 1900-03-01T00:00:00Z */
      .text = {"1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "1950-01-01T00:00:00Z",
               "1900-03-01T00:00:00Z"},
  };
  times_round_trip(*state, &t);
}

static void test_lookup_refuses_times_not_written_by_us(void **state) {
  struct fixture *f = *state;
  static const char *const bad[] = {
      "2026-01-01 00:00:00",  "2026-01-01T00:00:00",   "2026-01-01T00:00:00.5Z",
      "2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z",  "2026-01-01T24:00:00Z",
      "2026-01-01T00:00:60Z", "10000-01-01T00:00:00Z", "2026-1-01T00:00:00Z ",
  };
  struct cg_store *st = NULL;
  assert_int_equal(cg_store_open(f->path, &st), 0);
  cg_store_close(st);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char sql[300];
    snprintf(sql, sizeof sql,
             "INSERT INTO transactions (transaction_id, profile, req_type, state, created_at,"
             " updated_at) VALUES ('%02zx', 'default', 'ir', 'received', '%s',"
             " '2026-01-01T00:00:00Z')",
             i, bad[i]);
    peer_exec(f, sql);
  }
  st = open_started(f);
  struct cg_store_op look[sizeof bad / sizeof bad[0]];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char txid[8];
    snprintf(txid, sizeof txid, "%02zx", i);
    make_lookup(&look[i], NULL, txid);
    submit(st, &look[i], NULL);
  }
  run_until(&f->loop, &tally.done, (int)(sizeof bad / sizeof bad[0]));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (look[i].result != CG_ESTORE)
      fail_msg("time \"%s\" accepted", bad[i]);
    assert_false(look[i].txn_found);
  }
  stop_and_close(f, st);
}

/* A text value holding a NUL was not written by the store, and copied into a
 * record it would read as another value, cut at the NUL: a secret of profile
 * "default\0x" as one of "default", the enroller "dev-1\0x" of a certificate
 * as "dev-1", who may then revoke it.  Such a row does not fit its record
 * (CG_ESTORE); a certificate's enroller that does not fit is nobody. */
static void test_text_holding_a_nul_does_not_fit(void **state) {
  struct fixture *f = *state;
  if (f->pg)
    skip(); /* PostgreSQL's text cannot hold a NUL */
  struct cg_store *st = NULL;
  static const char *const refs[] = {"dev-1", "dev-2", "dev-3"};
  struct cmp_secret_record sec;
  fill_fake_der();
  assert_int_equal(cg_store_open(f->path, &st), 0);
  for (size_t i = 0; i < 3; i++) {
    make_secret(&sec, refs[i]);
    assert_int_equal(cg_store_secret_insert(st, &sec), 0);
  }
  assert_int_equal(cg_store_start(st, &f->loop), 0);
  memset(&tally, 0, sizeof tally);
  struct cg_store_op ins;
  make_insert(&ins, 1, true); /* auth_ref "dev-1" */
  submit(st, &ins, NULL);
  run_until(&f->loop, &tally.done, 1);
  assert_int_equal(ins.result, 0);
  stop_and_close(f, st);
  peer_exec(f, "UPDATE secrets SET profile = 'default' || char(0) || 'x'"
               " WHERE reference = 'dev-1'");
  peer_exec(f, "UPDATE secrets SET note = 'a' || char(0) || 'b' WHERE reference = 'dev-2'");
  /* A time followed by a NUL: not what bind_time() wrote either. */
  peer_exec(f, "UPDATE secrets SET created_at = created_at || char(0) WHERE reference = 'dev-3'");
  peer_exec(f, "UPDATE transactions SET auth_ref = 'dev-1' || char(0) || 'x'");

  struct cg_store *reader = NULL;
  assert_int_equal(cg_store_open_reader(f->path, &reader), 0);
  struct cg_store_op look;
  for (size_t i = 0; i < 3; i++) {
    make_lookup(&look, refs[i], NULL);
    cg_store_read_now(reader, &look);
    assert_int_equal(look.result, CG_ESTORE);
  }
  make_lookup(&look, NULL, ins.txn.txid);
  cg_store_read_now(reader, &look);
  assert_int_equal(look.result, CG_ESTORE);
  assert_false(look.txn_found);
  make_lookup(&look, NULL, NULL);
  snprintf(look.serial, sizeof look.serial, "%s", ins.cert.serial);
  cg_store_read_now(reader, &look);
  assert_int_equal(look.result, 0);
  assert_true(look.serial_found);
  assert_string_equal(look.serial_auth_ref, "");
  cg_store_op_release(&look);
  cg_store_close(reader);
}

static void test_duplicate_txid_fails_alone_in_its_group(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op a, b, dup, c, dup_serial;
  fill_fake_der();
  make_insert(&a, 1, false);
  make_insert(&b, 2, true);
  make_insert(&dup, 1, false);
  strcpy(dup.txn.profile, "intruder");
  make_insert(&c, 3, false);
  /* A new transaction whose certificate serial is taken: both rows go. */
  make_insert(&dup_serial, 4, true);
  snprintf(dup_serial.cert.serial, sizeof dup_serial.cert.serial, "%s", b.cert.serial);
  submit(st, &a, NULL);
  submit(st, &b, NULL);
  submit(st, &dup, NULL);
  submit(st, &c, NULL);
  submit(st, &dup_serial, NULL);
  run_until(&f->loop, &tally.done, 5);
  assert_int_equal(a.result, 0);
  assert_int_equal(b.result, 0);
  assert_int_equal(dup.result, CG_EEXISTS);
  assert_int_equal(c.result, 0);
  assert_int_equal(dup_serial.result, CG_ECERT_EXISTS); /* the serial, not the transaction */
  stop_and_close(f, st);

  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 3);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions WHERE profile = 'intruder'"), 0);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM certificates"), 1);
}

static void test_certificate_of_unknown_transaction_writes_nothing(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op ins;
  fill_fake_der();
  make_insert(&ins, 1, true);
  /* The certificate names a transaction that does not exist. */
  snprintf(ins.cert.txid, sizeof ins.cert.txid, "%s", "deadbeefdeadbeefdeadbeefdeadbeef");
  submit(st, &ins, NULL);
  run_until(&f->loop, &tally.done, 1);
  assert_int_equal(ins.result, CG_ESTORE);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 0);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM certificates"), 0);
}

/* An rr transaction for serial with reason, numbered i. */
static void make_rr(struct cg_store_op *op, unsigned i, const char *serial, int reason) {
  make_insert(op, i, false);
  op->txn.state = op->txn.prev_state = CMP_TXN_CONFIRMED;
  op->revocation_present = true;
  snprintf(op->revocation.serial, sizeof op->revocation.serial, "%s", serial);
  op->revocation.reason = reason;
  op->revocation.revoked_at = T0 + 100 + i;
}

/* certificateHold (6) then removeFromCRL (8): the hold leaves the record and
 * the certificate is as before it; a certificate revoked for good, or one
 * that is not on hold, is not released (nothing written for it); the
 * lookup says how a certificate is revoked. */
static void test_a_hold_is_released_and_leaves_the_revocations(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op a, b, hold_a, revoke_b, release_a, release_b, again_a;
  fill_fake_der();
  make_insert(&a, 1, true);
  make_insert(&b, 2, true);
  a.txn.state = a.txn.prev_state = CMP_TXN_CONFIRMED;
  b.txn.state = b.txn.prev_state = CMP_TXN_CONFIRMED;
  make_rr(&hold_a, 3, a.cert.serial, 6);
  make_rr(&revoke_b, 4, b.cert.serial, 1);
  submit(st, &a, NULL);
  submit(st, &b, NULL);
  submit(st, &hold_a, NULL);
  submit(st, &revoke_b, NULL);
  run_until(&f->loop, &tally.done, 4);
  assert_int_equal(hold_a.result, 0);
  assert_int_equal(revoke_b.result, 0);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM revocations"), 2);

  struct cg_store *reader;
  struct cg_store_op look;
  assert_int_equal(cg_store_open_reader(f->path, &reader), 0);
  make_lookup(&look, NULL, NULL);
  snprintf(look.serial, sizeof look.serial, "%s", a.cert.serial);
  cg_store_read_now(reader, &look);
  assert_int_equal(look.result, 0);
  assert_true(look.serial_revoked);
  assert_int_equal(look.serial_reason, 6);
  assert_false(look.serial_held_by_operator); /* a device's rr */
  cg_store_op_release(&look);

  make_rr(&release_a, 5, a.cert.serial, 8);
  make_rr(&release_b, 6, b.cert.serial, 8);
  make_rr(&again_a, 7, a.cert.serial, 8);
  submit(st, &release_a, NULL);
  submit(st, &release_b, NULL);
  submit(st, &again_a, NULL);
  run_until(&f->loop, &tally.done, 7);
  assert_int_equal(release_a.result, 0);
  assert_int_equal(release_b.result, CG_ECERT_REVOKED); /* for good */
  assert_int_equal(again_a.result, CG_EBAD_CERT_ID);    /* not on hold any more */

  make_lookup(&look, NULL, NULL);
  snprintf(look.serial, sizeof look.serial, "%s", a.cert.serial);
  cg_store_read_now(reader, &look);
  assert_true(look.serial_found);
  assert_false(look.serial_revoked);
  assert_int_equal(look.serial_reason, -1);
  cg_store_op_release(&look);
  cg_store_close(reader);
  stop_and_close(f, st);

  char sql[256];
  snprintf(sql, sizeof sql, "SELECT status FROM certificates WHERE serial = '%s'", a.cert.serial);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM revocations"), 1);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM revocations WHERE reason = 1"), 1);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM certificates WHERE status = 'valid'"), 1);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events WHERE kind = 'certificate.released'"),
                   1);
  /* The refused releases left no transaction behind. */
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 5);
}

/* RFC 9810 §5.3.18: a certificate rejected in certConf is revoked together
 * with the state change; the certificates of other transactions stay. */
static void test_reject_in_cert_conf_revokes_the_certificate(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op a, b, rej;
  char sql_b[256];
  fill_fake_der();
  make_insert(&a, 1, true);
  make_insert(&b, 2, true);
  a.txn.state = a.txn.prev_state = CMP_TXN_ISSUED;
  b.txn.state = b.txn.prev_state = CMP_TXN_ISSUED;
  submit(st, &a, NULL);
  submit(st, &b, NULL);
  run_until(&f->loop, &tally.done, 2);
  assert_int_equal(a.result, 0);
  assert_int_equal(b.result, 0);
  rej = a;
  rej.kind = CG_STORE_OP_UPDATE;
  rej.cert_present = false;
  assert_int_equal(cmp_txn_set_state(&rej.txn, CMP_TXN_REVOKED_ON_REJECT), 0);
  rej.revocation_present = true;
  memcpy(rej.revocation.serial, a.cert.serial, sizeof rej.revocation.serial);
  rej.revocation.reason = -1;
  rej.revocation.revoked_at = T0 + 300;
  struct cg_store_op again = rej; /* revoking twice fails alone */
  again.txn = b.txn;
  again.kind = CG_STORE_OP_INSERT;
  snprintf(again.txn.txid, sizeof again.txn.txid, "%s", "abcdef0123456789abcdef0123456789");
  /* b is revoked (by an rr) before its device rejects it in certConf: the
   * rejection is still recorded, with the one revocation. */
  struct cg_store_op rr_b = again, rej_b = rej;
  snprintf(rr_b.txn.txid, sizeof rr_b.txn.txid, "%s", "bbcdef0123456789abcdef0123456789");
  rr_b.txn.state = rr_b.txn.prev_state = CMP_TXN_CONFIRMED;
  memcpy(rr_b.revocation.serial, b.cert.serial, sizeof rr_b.revocation.serial);
  rr_b.revocation.reason = 1;
  rej_b.txn = b.txn;
  assert_int_equal(cmp_txn_set_state(&rej_b.txn, CMP_TXN_REVOKED_ON_REJECT), 0);
  memcpy(rej_b.revocation.serial, b.cert.serial, sizeof rej_b.revocation.serial);
  submit(st, &rej, NULL);
  submit(st, &again, NULL);
  submit(st, &rr_b, NULL);
  submit(st, &rej_b, NULL);
  run_until(&f->loop, &tally.done, 6);
  assert_int_equal(rej.result, 0);
  assert_int_equal(again.result, CG_ECERT_REVOKED);
  assert_int_equal(rr_b.result, 0);
  assert_int_equal(rej_b.result, 0);
  stop_and_close(f, st);
  snprintf(sql_b, sizeof sql_b,
           "SELECT state = 'revoked_on_reject' FROM transactions WHERE transaction_id = '%s'",
           b.txn.txid);
  assert_int_equal(peer_int(f, sql_b), 1);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM revocations WHERE reason = 1"), 1);
  /* every state entered is in the audit log, with the transaction */
  assert_int_equal(
      peer_int(f, "SELECT count(*) FROM events WHERE kind = 'transaction.revoked_on_reject'"
                  " AND transaction_id IS NOT NULL"),
      2);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events WHERE kind = 'transaction.issued'"), 2);
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM certificates WHERE transaction_id = '%s' AND status = 'revoked'",
           a.txn.txid);
  assert_int_equal(peer_int(f, sql), 1);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM certificates WHERE status <> 'revoked'"), 0);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM revocations WHERE reason IS NULL"), 1);
  /* The failed second revocation left no transaction behind. */
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions WHERE transaction_id ="
                               " 'abcdef0123456789abcdef0123456789'"),
                   0);
}

/* A secret's use is counted with the transaction it authenticated, all or
 * nothing; refusals count failures, lock the reference and are audited. */
static void test_secret_uses_and_failures_are_counted(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = NULL;
  struct cmp_secret_record s;
  assert_int_equal(cg_store_open(f->path, &st), 0);
  make_secret(&s, "dev-once");
  s.max_uses = 1;
  strcpy(s.note, "line 3, cabinet 7");
  assert_int_equal(cg_store_secret_insert(st, &s), 0);
  cg_store_close(st);
  st = open_started(f);

  struct cg_store_op first, second, fail1, fail2, while_locked, after_lock;
  make_insert(&first, 1, false);
  make_insert(&second, 2, false);
  for (struct cg_store_op *op = &first; op; op = op == &first ? &second : NULL) {
    op->note_present = true;
    strcpy(op->note.reference, "dev-once");
    op->note.used = true;
    op->note.at = T0;
  }
  memset(&fail1, 0, sizeof fail1);
  fail1.kind = CG_STORE_OP_SECRET_NOTE;
  fail1.note_present = true;
  strcpy(fail1.note.reference, "dev-once");
  fail1.note.failed = true;
  fail1.note.lock_after = 2;
  fail1.note.lock_until = T0 + 900;
  fail1.note.at = T0;
  strcpy(fail1.note.kind, "secret.refused");
  strcpy(fail1.note.detail, "wrong MAC");
  fail2 = fail1;
  /* Refused while locked: neither counted nor recorded, the lock not moved. */
  while_locked = fail1;
  while_locked.note.at = T0 + 10;
  while_locked.note.lock_until = T0 + 910;
  /* After the lock: counted again, and the next lock only after 2 more. */
  after_lock = fail1;
  after_lock.note.at = T0 + 1000;
  after_lock.note.lock_until = T0 + 1900;
  submit(st, &first, NULL);
  submit(st, &second, NULL);
  submit(st, &fail1, NULL);
  submit(st, &fail2, NULL);
  submit(st, &while_locked, NULL);
  submit(st, &after_lock, NULL);
  run_until(&f->loop, &tally.done, 6);
  assert_int_equal(while_locked.result, 0);
  assert_int_equal(after_lock.result, 0);
  assert_int_equal(first.result, 0);
  assert_int_equal(second.result, CG_EBAD_MAC); /* used up: the transaction is undone too */
  assert_int_equal(fail1.result, 0);
  assert_int_equal(fail2.result, 0);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT uses FROM secrets WHERE reference = 'dev-once'"), 1);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 1);
  assert_int_equal(peer_int(f, "SELECT failed_attempts FROM secrets WHERE reference = 'dev-once'"),
                   3);
  assert_int_equal(peer_int(f, "SELECT locked_until = '2026-01-01T00:15:00Z' FROM secrets"
                               " WHERE reference = 'dev-once'"),
                   1);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events WHERE kind = 'secret.refused'"
                               " AND detail = 'wrong MAC'"),
                   3);
  assert_int_equal(peer_int(f, "SELECT note = 'line 3, cabinet 7' FROM secrets"
                               " WHERE reference = 'dev-once'"),
                   1);
}

/* The caps on waiting requests: per reference within a profile, then per
 * profile; a request over a cap is not written, one that does not wait is
 * never capped. */
static void test_waiting_requests_are_capped(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op op[6];
  for (unsigned i = 0; i < 6; i++) {
    make_insert(&op[i], i + 1, false);
    op[i].txn.state = CMP_TXN_PENDING_APPROVAL;
    op[i].max_pending = 3;
    op[i].max_pending_per_ref = 1;
  }
  strcpy(op[1].txn.auth_ref, op[0].txn.auth_ref); /* same device: over its cap */
  op[2].txn.state = CMP_TXN_REJECTED;             /* not waiting: never capped */
  strcpy(op[2].txn.auth_ref, op[0].txn.auth_ref);
  strcpy(op[5].txn.profile, "other"); /* another profile's own count */
  for (unsigned i = 0; i < 6; i++)
    submit(st, &op[i], NULL);
  run_until(&f->loop, &tally.done, 6);
  assert_int_equal(op[0].result, 0);
  assert_int_equal(op[1].result, CG_EPENDING_LIMIT);
  assert_int_equal(op[2].result, 0);
  assert_int_equal(op[3].result, 0);
  assert_int_equal(op[4].result, 0);
  assert_int_equal(op[5].result, 0);
  /* default now holds 3 waiting (op 0, 3, 4): the profile is full. */
  struct cg_store_op more;
  make_insert(&more, 7, false);
  more.txn.state = CMP_TXN_PENDING_APPROVAL;
  more.max_pending = 3;
  submit(st, &more, NULL);
  run_until(&f->loop, &tally.done, 7);
  assert_int_equal(more.result, CG_EPENDING_LIMIT);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 5);
  assert_int_equal(
      peer_int(f, "SELECT count(*) FROM transactions WHERE transaction_id IN"
                  " ('000000000000000000000000a0000002', '000000000000000000000000a0000007')"),
      0);
}

/* A pollReq read a waiting transaction and refreshes its nonce; meanwhile
 * it was finished (here an operator rejected it; the background's approved
 * rr that revoked did the same in a live run): the refresh still lands,
 * whatever the state became, so that the device's next pollReq, with that
 * nonce, learns the outcome. */
static void test_a_poll_refresh_lands_after_the_background_finished(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op ins, approved, poll;
  make_insert(&ins, 1, false);
  strcpy(ins.txn.req_type, "rr");
  ins.txn.state = ins.txn.prev_state = CMP_TXN_PENDING_APPROVAL;
  submit(st, &ins, NULL);
  run_until(&f->loop, &tally.done, 1);
  assert_int_equal(ins.result, 0);
  approved = ins;
  approved.kind = CG_STORE_OP_UPDATE;
  approved.txn.prev_state = CMP_TXN_PENDING_APPROVAL;
  approved.txn.state = CMP_TXN_REJECTED;
  approved.txn.failinfo = CG_FI_BAD_REQUEST;
  approved.txn.sender_nonce[0] = '\0';
  poll = ins;
  poll.kind = CG_STORE_OP_UPDATE;
  snprintf(poll.txn.sender_nonce, sizeof poll.txn.sender_nonce, "%032x", 0xfeedu);
  submit(st, &approved, NULL);
  submit(st, &poll, NULL);
  run_until(&f->loop, &tally.done, 3);
  assert_int_equal(approved.result, 0);
  assert_int_equal(poll.result, 0);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions WHERE state = 'rejected'"
                               " AND sender_nonce = '0000000000000000000000000000feed'"),
                   1);
}

/* A waiting transaction gets a polling reference of its own, by which it is
 * found with its kept request; others get none. */
static void test_waiting_transactions_get_a_polling_reference(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  static const uint8_t kept[] = {0x30, 0x03, 0x02, 0x01, 0x07};
  struct cg_store_op a, b, done, by_a, by_none;
  make_insert(&a, 1, false);
  a.txn.state = CMP_TXN_PENDING_APPROVAL;
  a.request_der = kept;
  a.request_der_len = sizeof kept;
  make_insert(&b, 2, false);
  b.txn.state = CMP_TXN_PENDING_CA;
  make_insert(&done, 3, false);
  done.txn.state = CMP_TXN_CONFIRMED;
  done.txn.poll_ref = 77; /* not the caller's to choose */
  submit(st, &a, NULL);
  submit(st, &b, NULL);
  submit(st, &done, NULL);
  run_until(&f->loop, &tally.done, 3);
  assert_int_equal(a.result | b.result | done.result, 0);
  assert_int_not_equal(a.txn.poll_ref, 0);
  assert_int_not_equal(b.txn.poll_ref, 0);
  assert_int_not_equal(a.txn.poll_ref, b.txn.poll_ref);
  assert_int_equal(done.txn.poll_ref, 0);

  memset(&by_a, 0, sizeof by_a);
  by_a.kind = CG_STORE_OP_BY_POLL_REF;
  by_a.txn.poll_ref = a.txn.poll_ref;
  by_none = by_a;
  by_none.txn.poll_ref = a.txn.poll_ref ^ b.txn.poll_ref ^ 1u;
  submit(st, &by_a, NULL);
  submit(st, &by_none, NULL);
  run_until(&f->loop, &tally.done, 5);
  assert_int_equal(by_a.result, 0);
  assert_true(by_a.txn_found);
  assert_string_equal(by_a.txn.txid, a.txn.txid);
  assert_int_equal(by_a.txn.poll_ref, a.txn.poll_ref);
  assert_int_equal(by_a.txn.state, CMP_TXN_PENDING_APPROVAL);
  assert_int_equal(by_a.request_der_len, sizeof kept);
  assert_memory_equal(by_a.request_out, kept, sizeof kept);
  assert_int_equal(by_none.result, 0);
  assert_false(by_none.txn_found);
  cg_store_op_release(&by_a);
  cg_store_op_release(&by_none);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions WHERE poll_ref IS NOT NULL"), 2);
}

/* Waiting and unconfirmed transactions older than their limits expire, with
 * an event each; others and other profiles are left alone. */
static void test_expiry_ends_old_waiting_and_unconfirmed_transactions(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op a, b, c, d, exp;
  make_insert(&a, 1, false); /* pending_approval, old */
  make_insert(&b, 2, false); /* pending_approval, recent */
  make_insert(&c, 3, false); /* issued, old */
  make_insert(&d, 4, false); /* pending_approval, old, another profile */
  a.txn.state = b.txn.state = d.txn.state = CMP_TXN_PENDING_APPROVAL;
  c.txn.state = CMP_TXN_ISSUED;
  b.txn.created_at = b.txn.updated_at = T0 + 5000;
  strcpy(d.txn.profile, "other");
  memset(&exp, 0, sizeof exp);
  exp.kind = CG_STORE_OP_EXPIRE;
  strcpy(exp.expire_profile, "default");
  exp.expire_pending_before = T0 + 1000;
  exp.expire_issued_before = T0 + 1000;
  exp.expire_now = T0 + 6000;
  submit(st, &a, NULL);
  submit(st, &b, NULL);
  submit(st, &c, NULL);
  submit(st, &d, NULL);
  submit(st, &exp, NULL);
  run_until(&f->loop, &tally.done, 5);
  assert_int_equal(exp.result, 0);
  assert_int_equal(exp.expired, 2);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions WHERE state = 'expired'"), 2);
  assert_int_equal(
      peer_int(f, "SELECT count(*) FROM transactions WHERE state = 'pending_approval'"), 2);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events WHERE kind = 'transaction.expired'"),
                   2);
}

/* One lease, two nodes: the first takes it, the second is refused while it
 * runs, the holder renews it, and once it ran out the second takes it and
 * the first is refused.  Several asks in one group see each other. */
static void lease(struct cg_store_op *op, const char *holder, int64_t now) {
  memset(op, 0, sizeof *op);
  op->kind = CG_STORE_OP_LEASE;
  strcpy(op->lease_name, "background");
  strcpy(op->lease_holder, holder);
  op->now = now;
  op->lease_until = now + 30;
}

static void test_a_lease_has_one_holder_until_it_runs_out(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op op[6];
  lease(&op[0], "node-a", T0);      /* free: taken */
  lease(&op[1], "node-b", T0 + 1);  /* held by a */
  lease(&op[2], "node-a", T0 + 10); /* renewed, to T0 + 40 */
  lease(&op[3], "node-b", T0 + 35); /* still a's */
  lease(&op[4], "node-b", T0 + 40); /* ran out: b's */
  lease(&op[5], "node-a", T0 + 41); /* b's */
  for (int i = 0; i < 6; i++)
    submit(st, &op[i], NULL);
  run_until(&f->loop, &tally.done, 6);
  static const bool held[] = {true, false, true, false, true, false};
  for (int i = 0; i < 6; i++) {
    assert_int_equal(op[i].result, 0);
    if (op[i].lease_held != held[i])
      fail_msg("lease ask %d: held %d", i, op[i].lease_held);
  }
  struct cg_store_op bad;
  lease(&bad, "", T0);
  submit(st, &bad, NULL);
  run_until(&f->loop, &tally.done, 7);
  assert_int_equal(bad.result, CG_EINVAL);
  stop_and_close(f, st);
  char text[128];
  peer_text(f, "SELECT holder || ' ' || expires_at FROM leases", text, sizeof text);
  assert_string_equal(text, "node-b 2026-01-01T00:01:10Z");
}

/* SQLite's search index takes the certificates written since its last look
 * in batches, oldest first, and is whole once a batch comes back short;
 * PostgreSQL has nothing to do. */
static size_t index_batch(struct fixture *f, struct cg_store *st, size_t batch, int *done) {
  struct cg_store_op op;
  memset(&op, 0, sizeof op);
  op.kind = CG_STORE_OP_SEARCH_INDEX;
  op.search_batch = batch;
  submit(st, &op, NULL);
  run_until(&f->loop, &tally.done, ++*done);
  assert_int_equal(op.result, batch == 0 ? CG_EINVAL : 0);
  return op.search_added;
}

static void add_certs(struct fixture *f, unsigned from, unsigned to) {
  for (unsigned i = from; i < to; i++) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO certificates (serial, subject, issuer, not_before, not_after, der,"
             " created_at, status) VALUES ('%04x', 'CN=unit-%u', 'CN=CA', '2026-01-01T00:00:00Z',"
             " '2027-01-01T00:00:00Z', %s, '2026-01-01T00:00:00Z', 'valid')",
             i, i, f->pg ? "'\\x00'::bytea" : "x'00'");
    peer_exec(f, sql);
  }
}

static void test_the_search_index_takes_new_certificates_in_batches(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  int done = 0;
  add_certs(f, 0, 10);
  static const size_t want[] = {4, 4, 2, 0};
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(index_batch(f, st, 4, &done), f->pg ? 0 : want[i]);
  assert_int_equal(index_batch(f, st, 0, &done), 0);
  if (!f->pg) { /* what the index finds (LIKE on the FTS5 table reads it) */
    const char *found = "SELECT count(*) FROM certificates_search WHERE subject LIKE '%unit-1%'";
    assert_int_equal(peer_int(f, "SELECT upto FROM search_indexed"),
                     peer_int(f, "SELECT max(rowid) FROM certificates"));
    assert_int_equal(peer_int(f, found), 1); /* unit-1 */
    add_certs(f, 10, 12);
    assert_int_equal(peer_int(f, found), 1); /* unit-10 and unit-11 not yet */
    assert_int_equal(index_batch(f, st, 4, &done), 2);
    assert_int_equal(peer_int(f, found), 3);
    peer_exec(f, "INSERT INTO certificates_search (certificates_search) VALUES ('integrity-check')");
  }
  stop_and_close(f, st);
}

/* Two stores on one database, as two nodes: both insert the same
 * transactionID at once; the database lets one win, the other is
 * CG_EEXISTS (transactionIdInUse for its device), and one row is written. */
static void test_two_stores_racing_on_one_transaction_id_one_wins(void **state) {
  struct fixture *f = *state;
  struct cg_store *a = open_started(f), *b = NULL;
  assert_int_equal(cg_store_open(f->path, &b), 0);
  assert_int_equal(cg_store_start(b, &f->loop), 0);
  struct cg_store_op x, y;
  make_insert(&x, 7, true);
  make_insert(&y, 7, false);
  submit(a, &x, NULL);
  submit(b, &y, NULL);
  run_until(&f->loop, &tally.done, 2);
  assert_true((x.result == 0 && y.result == CG_EEXISTS) ||
              (x.result == CG_EEXISTS && y.result == 0));
  stopped = 0;
  cg_store_stop(b, on_stopped, NULL);
  run_until(&f->loop, &stopped, 1);
  cg_store_close(b);
  stop_and_close(f, a);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 1);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM certificates"), x.result == 0 ? 1 : 0);
}

/* PostgreSQL: the server ends the store's connection (a restart, an
 * administrator): the next group fails as "cannot be reached" (the device
 * hears systemUnavail) and wrote nothing; the one after connects again and
 * succeeds, its statements prepared again on the new connection. */
static void test_a_lost_connection_fails_one_group_and_comes_back(void **state) {
  struct fixture *f = *state;
  if (!f->pg)
    skip(); /* a SQLite file has no connection to lose */
  struct cg_store *st = open_started(f);
  struct cg_store_op a, b, c, look;
  make_insert(&a, 1, true);
  submit(st, &a, NULL);
  run_until(&f->loop, &tally.done, 1);
  assert_int_equal(a.result, 0);
  peer_exec(f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
               " WHERE datname = current_database() AND pid <> pg_backend_pid()");
  make_insert(&b, 2, true);
  submit(st, &b, NULL);
  run_until(&f->loop, &tally.done, 2);
  assert_int_equal(b.result, CG_ESTORE_UNAVAIL);
  make_insert(&c, 3, true);
  submit(st, &c, NULL);
  make_lookup(&look, NULL, c.txn.txid);
  submit(st, &look, NULL);
  run_until(&f->loop, &tally.done, 4);
  assert_int_equal(c.result, 0);
  assert_int_equal(look.result, 0);
  assert_true(look.txn_found);
  cg_store_op_release(&look);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 2);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM certificates"), 2);
}

/* A pollReq renews the nonce whatever the state became meanwhile, and the
 * background approval and issue leave the nonce alone: neither undoes the
 * other, whichever commits first. */
static void test_poll_refresh_and_background_issue_keep_each_others_nonce(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  fill_fake_der();
  struct cg_store_op ins, approve, refresh, issue;
  make_insert(&ins, 1, false);
  ins.txn.state = CMP_TXN_PENDING_APPROVAL;
  approve = ins;
  approve.kind = CG_STORE_OP_UPDATE;
  approve.txn.prev_state = CMP_TXN_PENDING_APPROVAL;
  approve.txn.state = CMP_TXN_PENDING_CA;
  approve.txn.sender_nonce[0] = '\0';
  /* read while pending_approval, committed after the approval */
  refresh = ins;
  refresh.kind = CG_STORE_OP_UPDATE;
  refresh.txn.prev_state = refresh.txn.state = CMP_TXN_PENDING_APPROVAL;
  strcpy(refresh.txn.sender_nonce, "feedfacefeedfacefeedfacefeedface");
  refresh.txn.updated_at = T0 + 50;
  issue = approve;
  issue.txn.prev_state = CMP_TXN_PENDING_CA;
  issue.txn.state = CMP_TXN_ISSUED;
  issue.cert_present = true;
  make_cert(&issue.cert, 1, issue.txn.txid);
  snprintf(issue.txn.cert_serial, sizeof issue.txn.cert_serial, "%s", issue.cert.serial);
  issue.txn.updated_at = T0 + 60;
  submit(st, &ins, NULL);
  submit(st, &approve, NULL);
  submit(st, &refresh, NULL);
  submit(st, &issue, NULL);
  run_until(&f->loop, &tally.done, 4);
  assert_int_equal(ins.result, 0);
  assert_int_equal(approve.result, 0);
  assert_int_equal(refresh.result, 0);
  assert_int_equal(issue.result, 0);
  stop_and_close(f, st);
  char got[80];
  peer_text(f, "SELECT state || ' ' || sender_nonce FROM transactions", got, sizeof got);
  assert_string_equal(got, "issued feedfacefeedfacefeedfacefeedface");
}

/* A transaction waiting at an upstream CA keeps what its backend needs to
 * ask again and when: the background issuer does not take it before then,
 * a device's poll leaves both as they are, and the next ask renews them. */
static void test_a_row_waiting_at_the_ca_keeps_its_state_and_time(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op ins, early, poll, again, late, look;
  make_insert(&ins, 1, false);
  ins.txn.state = CMP_TXN_PENDING_CA;
  memcpy(ins.txn.ca_state, "state-one", ins.txn.ca_state_len = 9);
  ins.txn.ca_check_at = T0 + 100;
  static const uint8_t request[] = {0x30, 0x00};
  ins.request_der = request;
  ins.request_der_len = sizeof request;
  memset(&early, 0, sizeof early);
  early.kind = CG_STORE_OP_NEXT_APPROVED;
  early.now = T0 + 99;
  /* a device's pollReq: a new nonce, nothing of the CA's */
  poll = ins;
  poll.kind = CG_STORE_OP_UPDATE;
  poll.txn.prev_state = poll.txn.state;
  poll.txn.ca_state_len = 0;
  poll.txn.ca_check_at = 0;
  strcpy(poll.txn.sender_nonce, "0123456789abcdef0123456789abcdef");
  poll.txn.updated_at = T0 + 20;
  /* the background ask: the CA still waits, with new state */
  again = poll;
  again.txn.sender_nonce[0] = '\0';
  memcpy(again.txn.ca_state, "state-two!", again.txn.ca_state_len = 10);
  again.txn.ca_check_at = T0 + 200;
  again.txn.updated_at = T0 + 101;
  memset(&late, 0, sizeof late);
  late.kind = CG_STORE_OP_NEXT_APPROVED;
  late.now = T0 + 200;
  make_lookup(&look, NULL, ins.txn.txid);
  submit(st, &ins, NULL);
  submit(st, &early, NULL);
  submit(st, &poll, NULL);
  submit(st, &again, NULL);
  submit(st, &late, NULL);
  submit(st, &look, NULL);
  run_until(&f->loop, &tally.done, 6);
  assert_int_equal(ins.result, 0);
  assert_int_equal(early.result, 0);
  assert_false(early.txn_found);
  assert_int_equal(poll.result, 0);
  assert_int_equal(again.result, 0);
  assert_int_equal(late.result, 0);
  assert_true(late.txn_found);
  assert_int_equal(late.txn.ca_state_len, 10);
  assert_memory_equal(late.txn.ca_state, "state-two!", 10);
  assert_int_equal(late.txn.ca_check_at, T0 + 200);
  assert_int_equal(look.result, 0);
  assert_true(look.txn_found);
  assert_string_equal(look.txn.sender_nonce, "0123456789abcdef0123456789abcdef");
  cg_store_op_release(&early);
  cg_store_op_release(&late);
  cg_store_op_release(&look);
  stop_and_close(f, st);
  char got[80];
  peer_text(f,
            f->pg ? "SELECT upper(encode(ca_state, 'hex')) || ' ' || ca_check_at FROM transactions"
                  : "SELECT hex(ca_state) || ' ' || ca_check_at FROM transactions",
            got, sizeof got);
  assert_string_equal(got, "73746174652D74776F21 2026-01-01T00:03:20Z");
}

static void test_update_applies_only_from_the_expected_state(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  fill_fake_der();
  struct cg_store_op ins, to_ca, wrong_prev, illegal, unknown, issue, look;
  make_insert(&ins, 1, false);

  to_ca = ins;
  to_ca.kind = CG_STORE_OP_UPDATE;
  assert_int_equal(cmp_txn_set_state(&to_ca.txn, CMP_TXN_PENDING_CA), 0);
  to_ca.txn.updated_at = T0 + 100;
  strcpy(to_ca.txn.sender_nonce, "0123456789abcdef0123456789abcdef");

  /* Claims the row is still `received`; it is `pending_ca` by then. */
  wrong_prev = ins;
  wrong_prev.kind = CG_STORE_OP_UPDATE;
  assert_int_equal(cmp_txn_set_state(&wrong_prev.txn, CMP_TXN_REJECTED), 0);

  illegal = to_ca;
  illegal.txn.prev_state = CMP_TXN_PENDING_CA;
  illegal.txn.state = CMP_TXN_RECEIVED;

  unknown = to_ca;
  strcpy(unknown.txn.txid, "00000000000000000000000000000000");

  issue = to_ca;
  assert_int_equal(cmp_txn_set_state(&issue.txn, CMP_TXN_ISSUED), 0);
  issue.cert_present = true;
  make_cert(&issue.cert, 1, issue.txn.txid);
  snprintf(issue.txn.cert_serial, sizeof issue.txn.cert_serial, "%s", issue.cert.serial);
  issue.txn.updated_at = T0 + 200;

  make_lookup(&look, NULL, ins.txn.txid);
  submit(st, &ins, NULL);
  submit(st, &to_ca, NULL);
  submit(st, &wrong_prev, NULL);
  submit(st, &illegal, NULL);
  submit(st, &unknown, NULL);
  submit(st, &issue, NULL);
  submit(st, &look, NULL);
  run_until(&f->loop, &tally.done, 7);
  assert_int_equal(ins.result, 0);
  assert_int_equal(to_ca.result, 0);
  assert_int_equal(wrong_prev.result, CG_ESTATE);
  assert_int_equal(illegal.result, CG_ESTATE);
  assert_int_equal(unknown.result, CG_ENOT_FOUND);
  assert_int_equal(issue.result, 0);
  assert_int_equal(look.result, 0);
  assert_true(look.txn_found);
  assert_int_equal(look.txn.state, CMP_TXN_ISSUED);
  assert_int_equal(look.txn.updated_at, T0 + 200);
  assert_string_equal(look.txn.sender_nonce, "0123456789abcdef0123456789abcdef");
  assert_string_equal(look.txn.cert_serial, issue.cert.serial);
  assert_int_equal(look.cert_der_len, sizeof fake_der);
  assert_memory_equal(look.cert_der, fake_der, sizeof fake_der);
  cg_store_op_release(&look);
  stop_and_close(f, st);
}

/* A certificate is unconfirmed until its certConf, valid at once with
 * implicit confirmation; its subjectAltNames and key type are kept. */
static void test_certificate_status_follows_its_confirmation(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  fill_fake_der();
  struct cg_store_op a, b, conf;
  make_insert(&a, 1, true); /* issued: waits for certConf */
  a.cert.sans = "DNS:a.example";
  a.cert.key_type = "EC P-256";
  make_insert(&b, 2, true);
  assert_int_equal(cmp_txn_set_state(&b.txn, CMP_TXN_CONFIRMED), 0); /* implicit confirmation */
  submit(st, &a, NULL);
  submit(st, &b, NULL);
  run_until(&f->loop, &tally.done, 2);
  assert_int_equal(a.result, 0);
  assert_int_equal(b.result, 0);
  char sql[256], text[64];
  snprintf(sql, sizeof sql, "SELECT status FROM certificates WHERE serial = '%s'", a.cert.serial);
  peer_text(f, sql, text, sizeof text);
  assert_string_equal(text, "unconfirmed");
  snprintf(sql, sizeof sql,
           "SELECT sans || ' / ' || key_type FROM certificates WHERE serial = '%s'", a.cert.serial);
  peer_text(f, sql, text, sizeof text);
  assert_string_equal(text, "DNS:a.example / EC P-256");
  snprintf(sql, sizeof sql, "SELECT status FROM certificates WHERE serial = '%s'", b.cert.serial);
  peer_text(f, sql, text, sizeof text);
  assert_string_equal(text, "valid");

  conf = a;
  conf.kind = CG_STORE_OP_UPDATE;
  conf.cert_present = false;
  assert_int_equal(cmp_txn_set_state(&conf.txn, CMP_TXN_CONFIRMED), 0);
  memset(&tally, 0, sizeof tally);
  submit(st, &conf, NULL);
  run_until(&f->loop, &tally.done, 1);
  assert_int_equal(conf.result, 0);
  snprintf(sql, sizeof sql, "SELECT status FROM certificates WHERE serial = '%s'", a.cert.serial);
  peer_text(f, sql, text, sizeof text);
  assert_string_equal(text, "valid");
  stop_and_close(f, st);
  /* the schema refuses any other status */
  assert_int_not_equal(peer_exec_rc(f, "UPDATE certificates SET status = 'issued'"), CG_DB_OK);
}

static void test_every_state_name_passes_the_schema_check(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op ops[CMP_TXN__COUNT];
  for (int s = 0; s < CMP_TXN__COUNT; s++) {
    make_insert(&ops[s], (unsigned)s, false);
    ops[s].txn.state = (enum cmp_txn_state)s;
    submit(st, &ops[s], NULL);
  }
  run_until(&f->loop, &tally.done, CMP_TXN__COUNT);
  for (int s = 0; s < CMP_TXN__COUNT; s++)
    assert_int_equal(ops[s].result, 0);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT count(DISTINCT state) FROM transactions"), CMP_TXN__COUNT);
}

static void test_malformed_records_are_einval_and_not_written(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op upper, empty, bad_state, late, early;
  make_insert(&upper, 1, false);
  upper.txn.txid[0] = 'A';
  make_insert(&empty, 2, false);
  empty.txn.txid[0] = '\0';
  make_insert(&bad_state, 3, false);
  bad_state.txn.state = CMP_TXN__COUNT;
  make_insert(&late, 4, false);
  late.txn.updated_at = MAX_TIME + 1;
  make_insert(&early, 5, false);
  early.txn.created_at = MIN_TIME - 1; /* year -1: no four digits show it */
  submit(st, &upper, NULL);
  submit(st, &empty, NULL);
  submit(st, &bad_state, NULL);
  submit(st, &late, NULL);
  submit(st, &early, NULL);
  run_until(&f->loop, &tally.done, 5);
  assert_int_equal(upper.result, CG_EINVAL);
  assert_int_equal(empty.result, CG_EINVAL);
  assert_int_equal(bad_state.result, CG_EINVAL);
  assert_int_equal(late.result, CG_EINVAL);
  assert_int_equal(early.result, CG_EINVAL);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 0);
}

#define N_DRAIN 50

static int done_at_stop;

static void on_stopped_count(void *arg) {
  (void)arg;
  done_at_stop = tally.done;
  stopped++;
}

static void test_stop_drains_queued_ops_and_refuses_new_ones(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op ops[N_DRAIN + 1];
  for (unsigned i = 0; i < N_DRAIN; i++) {
    make_insert(&ops[i], i, false);
    submit(st, &ops[i], NULL);
  }
  stopped = 0;
  done_at_stop = -1;
  cg_store_stop(st, on_stopped_count, NULL);
  make_insert(&ops[N_DRAIN], N_DRAIN, false);
  ops[N_DRAIN].cb = on_op;
  assert_int_equal(cg_store_submit(st, &ops[N_DRAIN]), CG_EBUSY);

  run_until(&f->loop, &stopped, 1);
  assert_int_equal(done_at_stop, N_DRAIN);
  assert_int_equal(tally.done, N_DRAIN);
  for (unsigned i = 0; i < N_DRAIN; i++)
    assert_int_equal(ops[i].result, 0);
  close_loop(f);
  assert_int_equal(cg_store_submit(st, &ops[N_DRAIN]), CG_EBUSY);
  cg_store_close(st);
  assert_int_equal(tally.done, N_DRAIN);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), N_DRAIN);
}

static void test_close_while_running_completes_queued_ops(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op ops[10];
  for (unsigned i = 0; i < 10; i++) {
    make_insert(&ops[i], i, false);
    submit(st, &ops[i], NULL);
  }
  cg_store_close(st);
  assert_int_equal(tally.done, 10);
  for (unsigned i = 0; i < 10; i++)
    assert_int_equal(ops[i].result, 0);
  close_loop(f);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 10);
}

static void test_store_restarts_after_stop(void **state) {
  struct fixture *f = *state;
  struct cg_store *st = open_started(f);
  struct cg_store_op a, b;
  make_insert(&a, 1, false);
  submit(st, &a, NULL);
  stopped = 0;
  cg_store_stop(st, on_stopped, NULL);
  run_until(&f->loop, &stopped, 1);
  /* Synchronous calls are allowed again once the thread is gone. */
  struct cmp_secret_record s;
  make_secret(&s, "dev-1");
  assert_int_equal(cg_store_secret_insert(st, &s), 0);

  assert_int_equal(cg_store_start(st, &f->loop), 0);
  make_insert(&b, 2, false);
  submit(st, &b, NULL);
  run_until(&f->loop, &tally.done, 2);
  assert_int_equal(a.result, 0);
  assert_int_equal(b.result, 0);
  stop_and_close(f, st);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM transactions"), 2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  int skip_all = tudb_init();
  if (skip_all != 0)
    return skip_all;
  const struct CMUnitTest tests[] = {
      T(test_open_creates_the_current_schema_in_wal_mode),
      T(test_a_new_database_is_readable_by_its_owner_only),
      T(test_settings_round_trip),
      T(test_open_twice_keeps_schema_and_data),
      T(test_every_earlier_version_migrates_with_its_data),
      T(test_migration_indexes_and_counts_what_is_there),
      T(test_open_refuses_a_newer_schema),
      T(test_secret_round_trips_every_field),
      T(test_secret_duplicate_reference_is_eexists),
      T(test_secret_get_unknown_is_enot_found),
      T(test_inserts_queued_in_one_turn_share_commits),
      T(test_pacing_holds_a_write_for_the_ones_that_follow),
      T(test_pacing_stops_for_a_lone_writer),
      T(test_lookup_returns_secret_txn_and_cert_as_written),
      T(test_reader_reads_what_the_writer_committed),
      T(test_times_are_iso_text_and_round_trip),
      T(test_times_before_1970_are_stored_and_read_back),
      T(test_lookup_refuses_times_not_written_by_us),
      T(test_text_holding_a_nul_does_not_fit),
      T(test_duplicate_txid_fails_alone_in_its_group),
      T(test_certificate_of_unknown_transaction_writes_nothing),
      T(test_a_hold_is_released_and_leaves_the_revocations),
      T(test_a_poll_refresh_lands_after_the_background_finished),
      T(test_reject_in_cert_conf_revokes_the_certificate),
      T(test_secret_uses_and_failures_are_counted),
      T(test_waiting_requests_are_capped),
      T(test_poll_refresh_and_background_issue_keep_each_others_nonce),
      T(test_expiry_ends_old_waiting_and_unconfirmed_transactions),
      T(test_a_lease_has_one_holder_until_it_runs_out),
      T(test_the_search_index_takes_new_certificates_in_batches),
      T(test_a_lost_connection_fails_one_group_and_comes_back),
      T(test_two_stores_racing_on_one_transaction_id_one_wins),
      T(test_a_row_waiting_at_the_ca_keeps_its_state_and_time),
      T(test_update_applies_only_from_the_expected_state),
      T(test_certificate_status_follows_its_confirmation),
      T(test_waiting_transactions_get_a_polling_reference),
      T(test_every_state_name_passes_the_schema_check),
      T(test_malformed_records_are_einval_and_not_written),
      T(test_stop_drains_queued_ops_and_refuses_new_ones),
      T(test_close_while_running_completes_queued_ops),
      T(test_store_restarts_after_stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
