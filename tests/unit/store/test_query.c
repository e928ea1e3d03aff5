/*
 * test_query.c - store/query.c, the operator commands' reads and writes:
 * secrets with limits and notes, listed and shown without their sealed
 * values, revoked with an audit event; transactions and certificates listed
 * newest first with their filters, shown with what belongs to them; the
 * operator's certificate revocation as one transaction; the database check
 * and the online backup.  Rows are written through the store's own API where
 * it has one and with plain SQL on a second connection otherwise, and that
 * second connection also checks what is really on disk and plays the other
 * writer (the daemon) holding locks.  Every test works in its own temporary
 * directory.
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

#include <cmocka.h>
#include <uv.h>

#include "cmp/records.h"
#include "core/err.h"
#include "core/time.h"
#include "db_support.h"
#include "store/db.h"
#include "store/query.h"
#include "store/schema.h"
#include "store/store.h"

#define T0 INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
#define T0_ISO "2026-01-01T00:00:00Z"

struct fixture {
  char dir[512];
  char path[1200]; /* the database's locator (db_support.h) */
  char backup[600];
  bool pg;
  struct cg_store *st;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  if (f == NULL)
    return -1;
  const char *tmp = getenv("TMPDIR");
  snprintf(f->dir, sizeof f->dir, "%s/cmpgw-query-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(f->dir) == NULL) {
    free(f);
    return -1;
  }
  tudb_make(f->dir, f->path, sizeof f->path);
  f->pg = tudb_pg();
  snprintf(f->backup, sizeof f->backup, "%s/backup.db", f->dir);
  if (cg_store_open(f->path, &f->st) != 0) {
    tudb_drop(f->path);
    rmdir(f->dir);
    free(f);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  cg_store_close(f->st);
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char p[sizeof f->path + 16];
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    if (!f->pg) {
      snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
      unlink(p);
    }
    snprintf(p, sizeof p, "%s%s", f->backup, suffixes[i]);
    unlink(p);
  }
  tudb_drop(f->path);
  int rc = rmdir(f->dir);
  free(f);
  return rc;
}

/* ---- a second connection: the daemon's, or an operator's ------------------ */

/* The daemon's connection, holding a lock. */
static struct cg_db *peer_open(const char *path) {
  struct cg_db *db = NULL;
  assert_int_equal(cg_db_open(path, CG_DB_EXISTING, &db), 0);
  return db;
}

static void peer_exec(const struct fixture *f, const char *sql) {
  if (tudb_exec(f->path, sql) != CG_DB_OK)
    fail_msg("%s failed", sql);
}

static int64_t db_int(const char *path, const char *sql) { return tudb_int(path, sql); }

static int64_t peer_int(const struct fixture *f, const char *sql) { return db_int(f->path, sql); }

/* The first column of the first row as text ("(null)" for NULL). */
static void peer_text(const struct fixture *f, const char *sql, char *out, size_t cap) {
  tudb_text(f->path, sql, out, cap);
}

/* ---- rows ------------------------------------------------------------------ */

static void insert_secret(struct fixture *f, const char *ref, const char *profile, bool challenge) {
  struct cmp_secret_record s;
  memset(&s, 0, sizeof s);
  snprintf(s.reference, sizeof s.reference, "%s", ref);
  snprintf(s.profile, sizeof s.profile, "%s", profile);
  memset(s.enc, 0xa5, 45);
  s.enc_len = 45;
  if (challenge) {
    memset(s.challenge_enc, 0x5a, 45);
    s.challenge_enc_len = 45;
  }
  s.created_at = T0;
  assert_int_equal(cg_store_secret_insert(f->st, &s), 0);
}

/* Transaction number i: txid "00..0i", created T0 + i seconds. */
static void insert_txn(struct fixture *f, unsigned i, const char *profile, const char *state,
                       int failinfo, const char *serial) {
  char sql[1024], fi[16] = "NULL", ser[64] = "NULL", at[21];
  if (failinfo >= 0)
    snprintf(fi, sizeof fi, "%d", failinfo);
  if (serial != NULL)
    snprintf(ser, sizeof ser, "'%s'", serial);
  cg_time_iso8601(T0 + i, at);
  snprintf(sql, sizeof sql,
           "INSERT INTO transactions (transaction_id, profile, auth_ref, req_type, state,"
           " failinfo, cert_req_id, sender_nonce, cert_serial, created_at, updated_at)"
           " VALUES ('%032x', '%s', 'dev-%u', 'ir', '%s', %s, 0, 'abcd', %s, '%s', '%s')",
           i, profile, i, state, fi, ser, at, at);
  peer_exec(f, sql);
}

/* A certificate issued in transaction i (NULL txid when i is 0). */
static void insert_cert(struct fixture *f, const char *serial, const char *subject, unsigned i) {
  char sql[1024], txid[40] = "NULL", at[21];
  if (i > 0)
    snprintf(txid, sizeof txid, "'%032x'", i);
  cg_time_iso8601(T0 + i, at);
  snprintf(sql, sizeof sql,
           "INSERT INTO certificates (serial, subject, issuer, not_before, not_after, der,"
           " transaction_id, profile, created_at, status, sans, key_type) VALUES ('%s', '%s',"
           " 'CN=CA', '" T0_ISO "', '2027-01-01T00:00:00Z', %s, %s, 'default', '%s',"
           " 'valid', %s, 'EC P-256')",
           serial, subject, f->pg ? "'\\x3082000101ff'::bytea" : "x'3082000101ff'", txid, at,
           i == 1 ? "'DNS:one.example, IP:192.0.2.1'" : "NULL");
  peer_exec(f, sql);
}

/* ---- times ----------------------------------------------------------------- */

static void test_time_ok_accepts_only_the_stored_form(void **state) {
  (void)state;
  assert_true(cg_query_time_ok("2026-01-31T23:59:59Z"));
  assert_true(cg_query_time_ok("2024-02-29T00:00:00Z"));
  assert_false(cg_query_time_ok("2025-02-29T00:00:00Z"));
  assert_false(cg_query_time_ok("2026-01-31"));
  assert_false(cg_query_time_ok("2026-01-31 23:59:59Z"));
  assert_false(cg_query_time_ok("2026-01-31T23:59:59+00:00"));
  assert_false(cg_query_time_ok("2026-13-01T00:00:00Z"));
  assert_false(cg_query_time_ok("2026-04-31T00:00:00Z"));
  assert_false(cg_query_time_ok("2026-01-01T24:00:00Z"));
  assert_false(cg_query_time_ok("2026-01-01T00:00:60Z"));
  assert_false(cg_query_time_ok(""));
  assert_false(cg_query_time_ok(NULL));
}

/* ---- secrets --------------------------------------------------------------- */

static void test_secret_insert_sets_limit_and_note_with_the_row(void **state) {
  struct fixture *f = *state;
  struct cmp_secret_record s;
  memset(&s, 0, sizeof s);
  strcpy(s.reference, "dev-a");
  strcpy(s.profile, "default");
  memset(s.enc, 1, 40);
  s.enc_len = 40;
  s.created_at = T0;
  s.expires_at = T0 + 7 * 86400;
  assert_int_equal(cg_query_secret_insert(f->st, &s, 5, "rack 4, \"lab\""), 0);
  char text[128];
  peer_text(f, "SELECT max_uses || '|' || note || '|' || expires_at FROM secrets", text,
            sizeof text);
  assert_string_equal(text, "5|rack 4, \"lab\"|2026-01-08T00:00:00Z");

  /* A taken reference writes nothing, not even the note. */
  assert_int_equal(cg_query_secret_insert(f->st, &s, 9, "other"), CG_EEXISTS);
  peer_text(f, "SELECT max_uses || '|' || note FROM secrets", text, sizeof text);
  assert_string_equal(text, "5|rack 4, \"lab\"");

  /* No limit and no note are NULL. */
  strcpy(s.reference, "dev-b");
  assert_int_equal(cg_query_secret_insert(f->st, &s, 0, NULL), 0);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM secrets WHERE reference = 'dev-b'"
                               " AND max_uses IS NULL AND note IS NULL"),
                   1);
}

static void test_secrets_list_by_reference_and_filter_by_profile(void **state) {
  struct fixture *f = *state;
  insert_secret(f, "zeta", "default", false);
  insert_secret(f, "alpha", "default", true);
  insert_secret(f, "mid", "other", false);
  peer_exec(f, "UPDATE secrets SET uses = 2, failed_attempts = 3, max_uses = 4,"
               " locked_until = '2026-02-01T00:00:00Z', note = 'n' WHERE reference = 'zeta'");

  struct cg_query_secret *v;
  size_t n;
  assert_int_equal(cg_query_secrets(f->st, NULL, &v, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(v[0].reference, "alpha");
  assert_string_equal(v[1].reference, "mid");
  assert_string_equal(v[2].reference, "zeta");
  assert_true(v[0].has_challenge);
  assert_false(v[2].has_challenge);
  assert_string_equal(v[0].created_at, T0_ISO);
  assert_string_equal(v[0].expires_at, "");
  assert_string_equal(v[0].revoked_at, "");
  assert_int_equal(v[0].max_uses, 0);
  assert_null(v[0].note);
  assert_int_equal(v[2].uses, 2);
  assert_int_equal(v[2].failed_attempts, 3);
  assert_int_equal(v[2].max_uses, 4);
  assert_string_equal(v[2].locked_until, "2026-02-01T00:00:00Z");
  assert_string_equal(v[2].note, "n");
  cg_query_secrets_free(v, n);

  assert_int_equal(cg_query_secrets(f->st, "other", &v, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(v[0].reference, "mid");
  assert_string_equal(v[0].profile, "other");
  cg_query_secrets_free(v, n);

  assert_int_equal(cg_query_secrets(f->st, "nobody", &v, &n), 0);
  assert_int_equal(n, 0);
  assert_null(v);
}

static void test_secret_show_reads_one_and_unknown_is_not_found(void **state) {
  struct fixture *f = *state;
  insert_secret(f, "dev-1", "default", true);
  struct cg_query_secret s;
  assert_int_equal(cg_query_secret(f->st, "dev-1", &s), 0);
  assert_string_equal(s.reference, "dev-1");
  assert_true(s.has_challenge);
  cg_query_secret_clear(&s);
  assert_int_equal(cg_query_secret(f->st, "dev-2", &s), CG_ENOT_FOUND);
}

static void test_secret_time_in_another_form_is_a_store_error(void **state) {
  struct fixture *f = *state;
  insert_secret(f, "dev-1", "default", false);
  peer_exec(f, "UPDATE secrets SET expires_at = '2026-01-01 00:00:00' WHERE reference = 'dev-1'");
  struct cg_query_secret s;
  assert_int_equal(cg_query_secret(f->st, "dev-1", &s), CG_ESTORE);
  struct cg_query_secret *v;
  size_t n;
  assert_int_equal(cg_query_secrets(f->st, NULL, &v, &n), CG_ESTORE);
}

/* A text value holding a NUL is not what the store wrote, and its copy would
 * read as another value, cut at the NUL: the row does not fit, for the
 * fields copied into the row's struct and for the malloc'ed ones alike (as
 * the gateway's reads find, test_store.c). */
static void test_text_holding_a_nul_does_not_fit(void **state) {
  struct fixture *f = *state;
  if (f->pg)
    skip(); /* PostgreSQL's text cannot hold a NUL */
  insert_secret(f, "dev-1", "default", false);
  insert_secret(f, "dev-2", "default", false);
  peer_exec(f, "UPDATE secrets SET profile = 'default' || char(0) || 'x'"
               " WHERE reference = 'dev-1'");
  peer_exec(f, "UPDATE secrets SET note = 'a' || char(0) || 'b' WHERE reference = 'dev-2'");
  insert_secret(f, "dev-3", "default", false);
  peer_exec(f, "UPDATE secrets SET created_at = created_at || char(0) WHERE reference = 'dev-3'");
  struct cg_query_secret sec;
  assert_int_equal(cg_query_secret(f->st, "dev-1", &sec), CG_ESTORE);
  assert_int_equal(cg_query_secret(f->st, "dev-2", &sec), CG_ESTORE);
  assert_int_equal(cg_query_secret(f->st, "dev-3", &sec), CG_ESTORE);
  struct cg_query_secret *v;
  size_t n;
  assert_int_equal(cg_query_secrets(f->st, NULL, &v, &n), CG_ESTORE);

  insert_txn(f, 1, "default", "confirmed", -1, "0a01");
  insert_cert(f, "0a01", "CN=one", 1);
  peer_exec(f, "UPDATE certificates SET subject = 'CN=one' || char(0) || 'x'");
  struct cg_query_cert c;
  assert_int_equal(cg_query_cert(f->st, "0a01", &c), CG_ESTORE);
  struct cg_query_cert *cv;
  assert_int_equal(cg_query_certs(f->st, &(struct cg_query_cert_filter){0}, &cv, &n), CG_ESTORE);
  struct cg_query_txn_detail d;
  assert_int_equal(cg_query_txn(f->st, "00000000000000000000000000000001", &d), CG_ESTORE);
  peer_exec(f, "UPDATE certificates SET subject = 'CN=one'");
  peer_exec(f, "INSERT INTO events (at, transaction_id, kind, detail) VALUES ('" T0_ISO "',"
               " '00000000000000000000000000000001', 'a.kind', 'x' || char(0) || 'y')");
  assert_int_equal(cg_query_txn(f->st, "00000000000000000000000000000001", &d), CG_ESTORE);
}

static void test_secret_revoke_sets_time_and_records_one_event(void **state) {
  struct fixture *f = *state;
  insert_secret(f, "dev-1", "default", false);
  char at[CG_QUERY_TIME];
  assert_int_equal(cg_query_secret_revoke(f->st, "dev-1", T0 + 60, at), 0);
  assert_string_equal(at, "2026-01-01T00:01:00Z");
  char text[256];
  peer_text(f, "SELECT revoked_at FROM secrets WHERE reference = 'dev-1'", text, sizeof text);
  assert_string_equal(text, "2026-01-01T00:01:00Z");
  peer_text(f,
            "SELECT at || '|' || coalesce(transaction_id, 'NULL') || '|' || kind || '|' || detail"
            " FROM events",
            text, sizeof text);
  assert_string_equal(text, "2026-01-01T00:01:00Z|NULL|secret.revoked|reference=dev-1");

  /* Again: refused with the first time, nothing more written. */
  assert_int_equal(cg_query_secret_revoke(f->st, "dev-1", T0 + 120, at), CG_ESTATE);
  assert_string_equal(at, "2026-01-01T00:01:00Z");
  peer_text(f, "SELECT revoked_at FROM secrets WHERE reference = 'dev-1'", text, sizeof text);
  assert_string_equal(text, "2026-01-01T00:01:00Z");
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events"), 1);

  assert_int_equal(cg_query_secret_revoke(f->st, "dev-2", T0, at), CG_ENOT_FOUND);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events"), 1);
}

/* ---- operators ------------------------------------------------------------- */

static void test_operators_add_list_passwd_remove_with_events(void **state) {
  struct fixture *f = *state;
  assert_int_equal(cg_query_operator_add(f->st, "bob", "viewer", "pbkdf2-sha256$1$a$b", T0), 0);
  assert_int_equal(cg_query_operator_add(f->st, "alice", "admin", "h1", T0 + 1), 0);
  assert_int_equal(cg_query_operator_add(f->st, "alice", "viewer", "h2", T0), CG_EEXISTS);
  assert_int_equal(cg_query_operator_add(f->st, "eve<x>", "viewer", "h", T0), CG_EINVAL);
  assert_int_equal(cg_query_operator_add(f->st, "eve", "root", "h", T0), CG_EINVAL);
  struct cg_query_operator *v;
  size_t n;
  assert_int_equal(cg_query_operators(f->st, &v, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(v[0].name, "alice");
  assert_string_equal(v[0].role, "admin");
  assert_string_equal(v[0].password_hash, "h1");
  assert_string_equal(v[0].created_at, "2026-01-01T00:00:01Z");
  assert_string_equal(v[1].name, "bob");
  assert_string_equal(v[1].last_login_at, "");
  free(v);

  assert_int_equal(cg_query_operator_passwd(f->st, "alice", "h3", T0 + 2), 0);
  struct cg_query_operator o;
  assert_int_equal(cg_query_operator(f->st, "alice", &o), 0);
  assert_string_equal(o.password_hash, "h3");
  assert_int_equal(cg_query_operator_passwd(f->st, "carol", "h", T0), CG_ENOT_FOUND);
  assert_int_equal(cg_query_operator_remove(f->st, "bob", T0 + 3), 0);
  assert_int_equal(cg_query_operator(f->st, "bob", &o), CG_ENOT_FOUND);
  assert_int_equal(cg_query_operator_remove(f->st, "bob", T0 + 3), CG_ENOT_FOUND);
  char text[512];
  peer_text(f, "SELECT detail FROM events WHERE kind = 'operator.added' ORDER BY id LIMIT 1", text,
            sizeof text);
  assert_string_equal(text, "operator=bob role=viewer");
  peer_text(f, "SELECT detail FROM events WHERE kind = 'operator.password'", text, sizeof text);
  assert_string_equal(text, "operator=alice");
  peer_text(f, "SELECT detail FROM events WHERE kind = 'operator.removed'", text, sizeof text);
  assert_string_equal(text, "operator=bob");
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events"), 4);
}

static void test_operator_failed_logins_lock_and_a_good_one_forgets(void **state) {
  struct fixture *f = *state;
  assert_int_equal(cg_query_operator_add(f->st, "op", "operator", "h", T0), 0);
  bool locked = true;
  struct cg_query_operator o;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(cg_query_operator_login(f->st, "op", false, T0 + i, 3, 900, &locked), 0);
    assert_false(locked);
  }
  assert_int_equal(cg_query_operator(f->st, "op", &o), 0);
  assert_int_equal(o.failed_attempts, 2);
  assert_int_equal(cg_query_operator_login(f->st, "op", true, T0 + 10, 3, 900, &locked), 0);
  assert_int_equal(cg_query_operator(f->st, "op", &o), 0);
  assert_int_equal(o.failed_attempts, 0);
  assert_string_equal(o.last_login_at, "2026-01-01T00:00:10Z");
  for (int i = 0; i < 3; i++)
    assert_int_equal(cg_query_operator_login(f->st, "op", false, T0 + 20, 3, 900, &locked), 0);
  assert_true(locked);
  assert_int_equal(cg_query_operator(f->st, "op", &o), 0);
  assert_string_equal(o.locked_until, "2026-01-01T00:15:20Z");
  assert_int_equal(o.failed_attempts, 0);
  /* A new password unlocks. */
  assert_int_equal(cg_query_operator_passwd(f->st, "op", "h2", T0 + 30), 0);
  assert_int_equal(cg_query_operator(f->st, "op", &o), 0);
  assert_string_equal(o.locked_until, "");
  assert_int_equal(cg_query_operator_login(f->st, "nobody", false, T0, 3, 900, &locked),
                   CG_ENOT_FOUND);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events WHERE kind = 'operator.locked'"), 1);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events WHERE kind = 'operator.login_failed'"),
                   5);
  assert_int_equal(cg_query_event_add(f->st, T0, NULL, "console.approve", "operator=op"), 0);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events WHERE kind = 'console.approve'"), 1);
}

/* ---- transactions ---------------------------------------------------------- */

static void test_txns_newest_first_with_each_filter(void **state) {
  struct fixture *f = *state;
  insert_txn(f, 1, "default", "confirmed", -1, NULL);
  insert_txn(f, 2, "other", "rejected", 9, NULL);
  insert_txn(f, 3, "default", "rejected", 1, NULL);
  insert_txn(f, 4, "default", "confirmed", -1, NULL);

  struct cg_query_txn *v;
  size_t n;
  struct cg_query_txn_filter all = {0};
  assert_int_equal(cg_query_txns(f->st, &all, &v, &n), 0);
  assert_int_equal(n, 4);
  assert_string_equal(v[0].transaction_id, "00000000000000000000000000000004");
  assert_string_equal(v[3].transaction_id, "00000000000000000000000000000001");
  assert_int_equal(v[0].failinfo, -1);
  assert_true(v[0].has_cert_req_id);
  assert_string_equal(v[0].auth_ref, "dev-4");
  assert_string_equal(v[0].req_type, "ir");
  assert_string_equal(v[0].sender_nonce, "abcd");
  assert_string_equal(v[0].cert_serial, "");
  assert_string_equal(v[0].created_at, "2026-01-01T00:00:04Z");
  free(v);

  struct cg_query_txn_filter rejected = {.state = "rejected"};
  assert_int_equal(cg_query_txns(f->st, &rejected, &v, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(v[0].transaction_id, "00000000000000000000000000000003");
  assert_int_equal(v[0].failinfo, 1);
  assert_int_equal(v[1].failinfo, 9);
  free(v);

  struct cg_query_txn_filter both = {.state = "rejected", .profile = "default"};
  assert_int_equal(cg_query_txns(f->st, &both, &v, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(v[0].transaction_id, "00000000000000000000000000000003");
  free(v);

  struct cg_query_txn_filter since = {.since = "2026-01-01T00:00:03Z"};
  assert_int_equal(cg_query_txns(f->st, &since, &v, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(v[1].transaction_id, "00000000000000000000000000000003");
  free(v);

  struct cg_query_txn_filter two = {.limit = 2};
  assert_int_equal(cg_query_txns(f->st, &two, &v, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(v[1].transaction_id, "00000000000000000000000000000003");
  free(v);

  struct cg_query_txn_filter bad = {.since = "yesterday"};
  assert_int_equal(cg_query_txns(f->st, &bad, &v, &n), CG_EINVAL);
  assert_null(v);
}

static void test_txn_show_has_its_certificate_and_events(void **state) {
  struct fixture *f = *state;
  insert_txn(f, 7, "default", "confirmed", -1, "5e01");
  insert_txn(f, 8, "default", "confirmed", -1, NULL);
  insert_cert(f, "5e01", "CN=dev7", 7);
  peer_exec(f, "INSERT INTO events (at, transaction_id, kind, detail) VALUES"
               " ('" T0_ISO "', '00000000000000000000000000000007', 'a.first', 'one'),"
               " ('" T0_ISO "', '00000000000000000000000000000008', 'b.other', NULL),"
               " ('2026-01-02T00:00:00Z', '00000000000000000000000000000007', 'c.second', NULL)");

  struct cg_query_txn_detail d;
  assert_int_equal(cg_query_txn(f->st, "00000000000000000000000000000007", &d), 0);
  assert_string_equal(d.txn.state, "confirmed");
  assert_true(d.cert_found);
  assert_string_equal(d.cert_status, "valid");
  assert_string_equal(d.cert_subject, "CN=dev7");
  assert_int_equal(d.n_events, 2);
  assert_string_equal(d.events[0].kind, "a.first");
  assert_string_equal(d.events[0].detail, "one");
  assert_string_equal(d.events[1].kind, "c.second");
  assert_null(d.events[1].detail);
  assert_string_equal(d.events[1].at, "2026-01-02T00:00:00Z");
  cg_query_txn_detail_clear(&d);

  /* A transaction without certificate or events, its id pasted in capitals. */
  peer_exec(f, "UPDATE transactions SET transaction_id = '00000000000000000000000000abcdef'"
               " WHERE transaction_id = '00000000000000000000000000000008'");
  assert_int_equal(cg_query_txn(f->st, "00000000000000000000000000ABCDEF", &d), 0);
  assert_false(d.cert_found);
  assert_null(d.cert_subject);
  assert_int_equal(d.n_events, 0);
  cg_query_txn_detail_clear(&d);

  assert_int_equal(cg_query_txn(f->st, "ffff", &d), CG_ENOT_FOUND);
}

/* ---- the dashboard ------------------------------------------------------- */

/* A transaction written by hand (as the CLI or another node would), at
 * T0 + created and T0 + updated. */
static void txn_at(struct fixture *f, const char *id, const char *profile, const char *type,
                   const char *state, int failinfo, int64_t created, int64_t updated) {
  char sql[1024], c[21], u[21], fi[16] = "NULL";
  cg_time_iso8601(T0 + created, c);
  cg_time_iso8601(T0 + updated, u);
  if (failinfo >= 0)
    snprintf(fi, sizeof fi, "%d", failinfo);
  snprintf(sql, sizeof sql,
           "INSERT INTO transactions (transaction_id, profile, auth_ref, req_type, state,"
           " failinfo, cert_req_id, sender_nonce, created_at, updated_at)"
           " VALUES ('%s', '%s', 'dev', '%s', '%s', %s, 0, 'abcd', '%s', '%s')",
           id, profile, type, state, fi, c, u);
  peer_exec(f, sql);
}

/* Each hour's transactions are counted as they are written, whoever writes
 * them: begun at their creation, failed once, when they become rejected or
 * failed; the dashboard reads the last 24 hours of those counts. */
static void test_dashboard_counts_each_hour_as_written(void **state) {
  struct fixture *f = *state;
  txn_at(f, "aa01", "default", "ir", "confirmed", -1, 60, 61);          /* hour 0 */
  txn_at(f, "aa02", "default", "kur", "confirmed", -1, 3605, 3606);     /* hour 1 */
  txn_at(f, "aa03", "default", "rr", "confirmed", -1, 3607, 3608);      /* hour 1 */
  txn_at(f, "aa04", "fleet", "ir", "failed", 9, 3610, 3610);            /* failed at once */
  txn_at(f, "aa05", "default", "p10cr", "pending_approval", -1, 120, 120);
  txn_at(f, "aa07", "default", "ir", "failed", -1, 7201, 7201);         /* no failInfo */
  txn_at(f, "aa06", "default", "ir", "confirmed", -1, -3 * 86400, -3 * 86400); /* too old */
  /* rejected by an operator in hour 2; its later change counts nothing */
  peer_exec(f, "UPDATE transactions SET state = 'rejected', failinfo = 2,"
               " updated_at = '2026-01-01T02:00:01Z' WHERE transaction_id = 'aa05'");
  peer_exec(f, "UPDATE transactions SET state = 'rejected', updated_at = '2026-01-01T02:00:09Z'"
               " WHERE transaction_id = 'aa05'");

  struct cg_query_dashboard d;
  assert_int_equal(cg_query_dashboard(f->st, T0 + 7230, &d), 0);
  const size_t h0 = CG_QUERY_HOURS - 3, h1 = h0 + 1, h2 = h0 + 2; /* h2: the hour running */
  assert_int_equal(d.enrolments[h0], 2); /* aa01, aa05 */
  assert_int_equal(d.enrolments[h1], 1);
  assert_int_equal(d.enrolments[h2], 1);
  assert_int_equal(d.renewals[h1], 1);
  assert_int_equal(d.revocations[h1], 1);
  assert_int_equal(d.failures[h0], 0);
  assert_int_equal(d.failures[h1], 1);
  assert_int_equal(d.failures[h2], 2);
  int64_t all = 0;
  for (size_t h = 0; h < CG_QUERY_HOURS; h++)
    all += d.enrolments[h] + d.renewals[h] + d.revocations[h];
  assert_int_equal(all, 6); /* not aa06 */
  assert_int_equal(d.by_failinfo[9], 1);
  assert_int_equal(d.by_failinfo[2], 1);
  assert_int_equal(d.by_failinfo[CG_QUERY_FAILINFO_BITS], 1);
  assert_int_equal(d.n_profiles, 2);
  size_t k = strcmp(d.profile[0], "default") == 0 ? 0 : 1;
  assert_string_equal(d.profile[k], "default");
  assert_int_equal(d.profile_total[k], 5);
  assert_int_equal(d.profile_failed[k], 2);
  assert_string_equal(d.profile[1 - k], "fleet");
  assert_int_equal(d.profile_total[1 - k], 1);
  assert_int_equal(d.profile_failed[1 - k], 1);
  assert_int_equal(d.pending_approval, 0);
}

/* ---- certificates ---------------------------------------------------------- */

static void test_certs_newest_first_with_each_filter(void **state) {
  struct fixture *f = *state;
  insert_txn(f, 1, "default", "confirmed", -1, "0a01");
  insert_txn(f, 2, "default", "confirmed", -1, "0a02");
  insert_cert(f, "0a01", "CN=Sensor 1,O=Plant", 1);
  insert_cert(f, "0a02", "CN=gateway,O=plant", 2);
  insert_cert(f, "0a03", "CN=outside", 0);
  peer_exec(f, "UPDATE certificates SET status = 'revoked' WHERE serial = '0a01';"
               "INSERT INTO revocations (serial, reason, revoked_at, transaction_id)"
               " VALUES ('0a01', 1, '2026-01-05T00:00:00Z', NULL)");

  struct cg_query_cert *v;
  size_t n;
  struct cg_query_cert_filter all = {0};
  assert_int_equal(cg_query_certs(f->st, &all, &v, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(v[0].serial, "0a03");
  assert_string_equal(v[0].transaction_id, "");
  assert_false(v[0].revoked);
  assert_string_equal(v[2].serial, "0a01");
  assert_true(v[2].revoked);
  assert_int_equal(v[2].reason, 1);
  assert_string_equal(v[2].revoked_at, "2026-01-05T00:00:00Z");
  assert_string_equal(v[2].requested_by, "device");
  assert_string_equal(v[2].issuer, "CN=CA");
  assert_string_equal(v[2].sans, "DNS:one.example, IP:192.0.2.1");
  assert_string_equal(v[2].key_type, "EC P-256");
  assert_string_equal(v[1].sans, ""); /* none */
  assert_null(v[2].der);              /* lists carry no DER */
  cg_query_certs_free(v, n);

  /* "plant" in any case. */
  struct cg_query_cert_filter plant = {.subject = "PLANT"};
  assert_int_equal(cg_query_certs(f->st, &plant, &v, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(v[0].serial, "0a02");
  cg_query_certs_free(v, n);

  struct cg_query_cert_filter revoked = {.status = "revoked"};
  assert_int_equal(cg_query_certs(f->st, &revoked, &v, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(v[0].serial, "0a01");
  cg_query_certs_free(v, n);

  peer_exec(f, "UPDATE certificates SET status = 'unconfirmed' WHERE serial = '0a02'");
  struct cg_query_cert_filter unconfirmed = {.status = "unconfirmed"};
  assert_int_equal(cg_query_certs(f->st, &unconfirmed, &v, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(v[0].serial, "0a02");
  cg_query_certs_free(v, n);

  struct cg_query_cert_filter one = {.status = "valid", .limit = 1};
  assert_int_equal(cg_query_certs(f->st, &one, &v, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(v[0].serial, "0a03");
  cg_query_certs_free(v, n);
}

/* The serials a filter finds, newest first, joined by spaces. */
static void found(struct fixture *f, struct cg_query_cert_filter flt, char *out, size_t cap) {
  struct cg_query_cert *v;
  size_t n;
  assert_int_equal(cg_query_certs(f->st, &flt, &v, &n), 0);
  out[0] = 0;
  for (size_t i = 0; i < n; i++)
    snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", v[i].serial);
  cg_query_certs_free(v, n);
}

#define FOUND(...) (found(f, (struct cg_query_cert_filter){__VA_ARGS__}, got, sizeof got), got)

/* What every search of the test below finds, however the rows are read. */
static void parts_found(struct fixture *f) {
  char got[256];
  /* Long enough for the trigram index, and short: the same answers; a
   * typed % or _ is a character, not a wildcard, and case does not count. */
  assert_string_equal(FOUND(.subject = "sensor_1"), "0b01");
  assert_string_equal(FOUND(.subject = "_1"), "0b01");
  assert_string_equal(FOUND(.subject = "100%"), "0b03");
  assert_string_equal(FOUND(.subject = "0%"), "0b03");
  assert_string_equal(FOUND(.subject = "SENSOR"), "0b03 0b02 0b01");
  assert_string_equal(FOUND(.subject = "r-1"), "0b02");
  assert_string_equal(FOUND(.subject = "k\\s"), "0b04");
  assert_string_equal(FOUND(.subject = "%"), "0b03");
  assert_string_equal(FOUND(.subject = "nothing"), "");
  assert_string_equal(FOUND(.sans = "ONE.example"), "0b01");
  assert_string_equal(FOUND(.sans = "e.e"), "0b01");
  assert_string_equal(FOUND(.subject = "sensor", .sans = "192.0.2"), "0b01");
  assert_string_equal(FOUND(.subject = "sensor", .offset = 1, .limit = 1), "0b02");
  assert_string_equal(FOUND(.subject = "sensor", .offset = 2), "0b01");
  /* By the secret's reference: the certificates its transactions issued,
   * not one that a transaction of the same reference only names (an rr). */
  assert_string_equal(FOUND(.reference = "dev-1"), "0b01");
  assert_string_equal(FOUND(.reference = "dev-1", .subject = "sensor"), "0b01");
  assert_string_equal(FOUND(.reference = "dev-1", .subject = "1"), "0b01");
  assert_string_equal(FOUND(.reference = "dev-2"), "");
}

/* SQLite's search index brought up to date as the daemon does it
 * (CG_STORE_OP_SEARCH_INDEX, tested in test_store). */
static void index_all(struct fixture *f) {
  peer_exec(f, "INSERT INTO certificates_search (rowid, subject, sans)"
               " SELECT rowid, subject, sans FROM certificates"
               " WHERE rowid > (SELECT upto FROM search_indexed);"
               "UPDATE search_indexed SET upto = (SELECT max(rowid) FROM certificates)");
}

static void test_certs_found_by_part_of_subject_or_sans_exactly(void **state) {
  struct fixture *f = *state;
  insert_txn(f, 1, "default", "confirmed", -1, "0b01");
  insert_txn(f, 2, "default", "confirmed", -1, "0b02");
  peer_exec(f, "UPDATE transactions SET auth_ref = 'dev-1', req_type = 'rr'"
               " WHERE cert_serial = '0b02'");
  insert_cert(f, "0b01", "CN=Sensor_1", 1); /* DNS:one.example, IP:192.0.2.1 */
  insert_cert(f, "0b02", "CN=Sensor-1", 0);
  insert_cert(f, "0b03", "CN=SensorX1 100%", 0);
  insert_cert(f, "0b04", "CN=back\\slash", 0);
  char got[256];
  parts_found(f); /* SQLite: none in the index yet, each row read */
  if (f->pg) {  /* pg_trgm's indexes exist (the test's role owns its server) */
    assert_int_equal(peer_int(f, "SELECT count(*) FROM pg_indexes WHERE indexname IN"
                                 " ('certificates_subject_part', 'certificates_sans_part')"),
                     2);
    return;
  }
  index_all(f);
  parts_found(f); /* all through the index */
  insert_cert(f, "0b05", "CN=sensor_1 again", 0);
  assert_string_equal(FOUND(.subject = "sensor_1"), "0b05 0b01"); /* one of each */

  /* A subject changed by hand is found by its new text only, in the index
   * or not. */
  peer_exec(f, "UPDATE certificates SET subject = 'CN=renamed' WHERE serial IN ('0b02', '0b05')");
  assert_string_equal(FOUND(.subject = "renamed"), "0b05 0b02");
  assert_string_equal(FOUND(.subject = "r-1"), "");
  assert_string_equal(FOUND(.subject = "again"), "");
  peer_exec(f, "UPDATE certificates SET subject = 'CN=Sensor-1' WHERE serial = '0b02'");

  /* The index is read for three characters or more: a row taken out of it
   * is not found that way, but is by a shorter part, which reads every row;
   * 'rebuild' (docs/store.md) puts it back. */
  peer_exec(f, "INSERT INTO certificates_search (certificates_search, rowid, subject, sans)"
               " SELECT 'delete', rowid, subject, sans FROM certificates WHERE serial = '0b03'");
  assert_string_equal(FOUND(.subject = "100%"), "");
  assert_string_equal(FOUND(.subject = "0%"), "0b03");
  peer_exec(f, "BEGIN; INSERT INTO certificates_search (certificates_search) VALUES ('rebuild');"
               "UPDATE search_indexed SET upto = (SELECT max(rowid) FROM certificates); COMMIT");
  assert_string_equal(FOUND(.subject = "100%"), "0b03");
  parts_found(f);
}
#undef FOUND

static void test_cert_show_finds_the_serial_as_people_type_it(void **state) {
  struct fixture *f = *state;
  insert_txn(f, 1, "default", "confirmed", -1, "00c1d2");
  insert_cert(f, "00c1d2", "CN=one", 1);
  insert_cert(f, "7f", "CN=two", 0);

  static const char *const forms[] = {"00c1d2", "00C1D2", "c1d2", "0c1d2", "00:c1:d2", "C1:D2"};
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    struct cg_query_cert c;
    assert_int_equal(cg_query_cert(f->st, forms[i], &c), 0);
    assert_string_equal(c.serial, "00c1d2");
    assert_string_equal(c.subject, "CN=one");
    assert_int_equal(c.der_len, 6);
    assert_memory_equal(c.der, "\x30\x82\x00\x01\x01\xff", 6);
    assert_true(c.txn_found);
    assert_string_equal(c.txn_state, "confirmed");
    assert_string_equal(c.txn_req_type, "ir");
    assert_string_equal(c.txn_auth_ref, "dev-1");
    cg_query_cert_clear(&c);
  }
  struct cg_query_cert c;
  assert_int_equal(cg_query_cert(f->st, "007f", &c), 0);
  assert_string_equal(c.serial, "7f");
  assert_false(c.txn_found);
  cg_query_cert_clear(&c);

  assert_int_equal(cg_query_cert(f->st, "c1d3", &c), CG_ENOT_FOUND);
  assert_int_equal(cg_query_cert(f->st, "xyz", &c), CG_ENOT_FOUND);
  assert_int_equal(cg_query_cert(f->st, "' OR 1=1 --", &c), CG_ENOT_FOUND);
  assert_int_equal(cg_query_cert(f->st, "", &c), CG_ENOT_FOUND);

  /* Without its leading zeros a serial may name two rows: refused. */
  insert_cert(f, "0000c1d2", "CN=three", 0);
  assert_int_equal(cg_query_cert(f->st, "c1d2", &c), CG_EEXISTS);
  assert_int_equal(cg_query_cert(f->st, "0000c1d2", &c), 0);
  assert_string_equal(c.subject, "CN=three");
  cg_query_cert_clear(&c);
}

static void test_cert_revoke_writes_status_revocation_and_event_once(void **state) {
  struct fixture *f = *state;
  insert_txn(f, 3, "default", "confirmed", -1, "5e03");
  insert_cert(f, "5e03", "CN=dev3", 3);
  assert_int_equal(cg_query_cert_revoke(f->st, "5e03", 1, T0 + 3600), 0);

  char text[256];
  peer_text(f, "SELECT status FROM certificates WHERE serial = '5e03'", text, sizeof text);
  assert_string_equal(text, "revoked");
  peer_text(f,
            "SELECT reason || '|' || revoked_at || '|' || coalesce(transaction_id, 'NULL') || '|'"
            " || requested_by FROM revocations",
            text, sizeof text);
  assert_string_equal(text, "1|2026-01-01T01:00:00Z|NULL|operator");
  peer_text(f, "SELECT at || '|' || transaction_id || '|' || kind || '|' || detail FROM events",
            text, sizeof text);
  assert_string_equal(text, "2026-01-01T01:00:00Z|00000000000000000000000000000003|"
                            "certificate.revoked|serial=5e03 reason=1 requested_by=operator");

  /* Read back through the query side as well. */
  struct cg_query_cert c;
  assert_int_equal(cg_query_cert(f->st, "5e03", &c), 0);
  assert_string_equal(c.status, "revoked");
  assert_true(c.revoked);
  assert_string_equal(c.requested_by, "operator");
  assert_string_equal(c.revoked_by_txn, "");
  cg_query_cert_clear(&c);

  /* A second time: refused, and nothing more is written. */
  assert_int_equal(cg_query_cert_revoke(f->st, "5e03", 4, T0 + 7200), CG_ECERT_REVOKED);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM revocations"), 1);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events"), 1);
  assert_int_equal(peer_int(f, "SELECT reason FROM revocations"), 1);

  assert_int_equal(cg_query_cert_revoke(f->st, "5e04", 1, T0), CG_ENOT_FOUND);
  assert_int_equal(cg_query_cert_revoke(f->st, "5e03", 7, T0), CG_EINVAL);
  assert_int_equal(cg_query_cert_revoke(f->st, "5e03", 11, T0), CG_EINVAL);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events"), 1);

  /* Issued outside CMP: the event names no transaction. */
  insert_cert(f, "5e05", "CN=outside", 0);
  assert_int_equal(cg_query_cert_revoke(f->st, "5e05", 0, T0), 0);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events WHERE transaction_id IS NULL"), 1);
}

/* A key that is taken is CG_EEXISTS on this side too, as on the gateway's:
 * a revocation on record for a certificate whose status says valid (a row
 * written by hand) makes the operator's revoke find it revoked already,
 * and nothing is written. */
static void test_cert_revoke_of_a_certificate_with_a_revocation_on_record_is_revoked(void **state) {
  struct fixture *f = *state;
  insert_txn(f, 3, "default", "confirmed", -1, "5e03");
  insert_cert(f, "5e03", "CN=dev3", 3);
  peer_exec(f, "INSERT INTO revocations (serial, reason, revoked_at, requested_by)"
               " VALUES ('5e03', 1, '" T0_ISO "', 'operator')");
  assert_int_equal(cg_query_cert_revoke(f->st, "5e03", 4, T0 + 60), CG_ECERT_REVOKED);
  char text[64];
  peer_text(f, "SELECT status FROM certificates", text, sizeof text);
  assert_string_equal(text, "valid");
  assert_int_equal(peer_int(f, "SELECT reason FROM revocations"), 1);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events"), 0);
}

/* ---- another writer -------------------------------------------------------- */

static void test_reads_see_committed_rows_while_another_writer_holds_the_lock(void **state) {
  struct fixture *f = *state;
  insert_txn(f, 1, "default", "confirmed", -1, NULL);
  struct cg_db *daemon = peer_open(f->path);
  assert_int_equal(cg_db_exec(daemon, f->pg ? "BEGIN" : "BEGIN IMMEDIATE"), CG_DB_OK);
  assert_int_equal(cg_db_exec(daemon, "INSERT INTO transactions (transaction_id, profile, req_type,"
                                      " state, created_at, updated_at) VALUES ('ff', 'default',"
                                      " 'ir', 'received', '" T0_ISO "', '" T0_ISO "')"),
                   CG_DB_OK);
  struct cg_query_txn *v;
  size_t n;
  struct cg_query_txn_filter all = {0};
  assert_int_equal(cg_query_txns(f->st, &all, &v, &n), 0);
  assert_int_equal(n, 1); /* the uncommitted row is not seen */
  free(v);
  if (!f->pg) {
    /* The backup copies the committed state without waiting for the writer. */
    FILE *dest = fopen(f->backup, "wb");
    assert_non_null(dest);
    fclose(dest);
    int pages = 0;
    assert_int_equal(cg_query_backup(f->st, f->backup, &pages), 0);
    assert_true(pages > 0);
  }
  assert_int_equal(cg_db_exec(daemon, "COMMIT"), CG_DB_OK);
  cg_db_close(daemon);
  if (!f->pg)
    assert_int_equal(db_int(f->backup, "SELECT count(*) FROM transactions"), 1);
  assert_int_equal(cg_query_txns(f->st, &all, &v, &n), 0);
  assert_int_equal(n, 2);
  free(v);
}

struct holder {
  const char *path;
  bool pg;
  uv_sem_t locked;
};

/* Plays the daemon's store thread: takes the write lock (SQLite's, or on
 * PostgreSQL the lock of the row the operator writes), writes, and commits
 * a moment later. */
static void hold_lock(void *arg) {
  struct holder *h = arg;
  struct cg_db *db = NULL;
  int rc = cg_db_open(h->path, CG_DB_EXISTING, &db);
  if (rc == 0)
    rc = cg_db_exec(db,
                    h->pg ? "BEGIN; SELECT 1 FROM secrets WHERE reference = 'dev-1' FOR UPDATE;"
                            "INSERT INTO events (at, kind) VALUES ('" T0_ISO "', 'daemon.wrote')"
                          : "BEGIN IMMEDIATE;"
                            "INSERT INTO events (at, kind) VALUES ('" T0_ISO "', 'daemon.wrote')");
  uv_sem_post(&h->locked);
  if (rc == CG_DB_OK) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 300 * 1000000L};
    nanosleep(&ts, NULL);
    cg_db_exec(db, "COMMIT");
  }
  cg_db_close(db);
}

static void test_a_write_waits_for_the_other_writer_instead_of_failing(void **state) {
  struct fixture *f = *state;
  insert_secret(f, "dev-1", "default", false);
  struct holder h = {.path = f->path, .pg = f->pg};
  assert_int_equal(uv_sem_init(&h.locked, 0), 0);
  uv_thread_t t;
  assert_int_equal(uv_thread_create(&t, hold_lock, &h), 0);
  uv_sem_wait(&h.locked); /* the other writer holds the lock from here on */
  char at[CG_QUERY_TIME];
  assert_int_equal(cg_query_secret_revoke(f->st, "dev-1", T0, at), 0);
  assert_int_equal(uv_thread_join(&t), 0);
  uv_sem_destroy(&h.locked);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM events"), 2);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM secrets WHERE revoked_at IS NOT NULL"), 1);
}

static void test_a_lock_held_past_the_busy_timeout_is_ebusy_and_writes_nothing(void **state) {
  struct fixture *f = *state;
  insert_txn(f, 1, "default", "confirmed", -1, "5e01");
  insert_cert(f, "5e01", "CN=dev1", 1);
  struct cg_db *daemon = peer_open(f->path);
  assert_int_equal(cg_db_exec(daemon, f->pg ? "BEGIN; SELECT 1 FROM certificates FOR UPDATE"
                                            : "BEGIN IMMEDIATE"),
                   CG_DB_OK);
  assert_int_equal(cg_query_cert_revoke(f->st, "5e01", 1, T0), CG_EBUSY);
  assert_int_equal(cg_db_exec(daemon, "ROLLBACK"), CG_DB_OK);
  cg_db_close(daemon);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM revocations"), 0);
  assert_int_equal(peer_int(f, "SELECT count(*) FROM certificates WHERE status = 'valid'"), 1);
  /* Once the lock is free, the same call goes through. */
  assert_int_equal(cg_query_cert_revoke(f->st, "5e01", 1, T0), 0);
}

/* ---- the database ---------------------------------------------------------- */

static void test_check_of_a_sound_database_finds_nothing(void **state) {
  struct fixture *f = *state;
  insert_txn(f, 1, "default", "confirmed", -1, "5e01");
  insert_cert(f, "5e01", "CN=dev1", 1);
  struct cg_query_check c;
  assert_int_equal(cg_query_check_file(f->path, &c), 0);
  assert_int_equal(c.n_problems, 0);
  assert_true(c.integrity_ok);
  assert_int_equal(c.n_fk, 0);
  assert_int_equal(c.user_version, CG_STORE_SCHEMA_VERSION);
  assert_int_equal(c.expected_version, CG_STORE_SCHEMA_VERSION);
  cg_query_check_clear(&c);
}

static void test_check_reports_foreign_keys_and_version(void **state) {
  struct fixture *f = *state;
  if (f->pg) /* a foreign key put back without checking the rows (NOT VALID) */
    peer_exec(f, "ALTER TABLE revocations DROP CONSTRAINT revocations_serial_fkey;"
                 "INSERT INTO revocations (serial, reason, revoked_at) VALUES"
                 " ('dead', 1, '" T0_ISO "');"
                 "ALTER TABLE revocations ADD CONSTRAINT revocations_serial_fkey"
                 " FOREIGN KEY (serial) REFERENCES certificates(serial) NOT VALID;"
                 "UPDATE cmpgw_schema SET version = 99");
  else
    peer_exec(f, "PRAGMA foreign_keys = OFF;"
                 "INSERT INTO revocations (serial, reason, revoked_at) VALUES"
                 " ('dead', 1, '" T0_ISO "');"
                 "PRAGMA user_version = 99");
  struct cg_query_check c;
  assert_int_equal(cg_query_check_file(f->path, &c), 0);
  assert_true(c.integrity_ok);
  assert_int_equal(c.n_fk, 1);
  assert_int_equal(c.user_version, 99);
  assert_int_equal(c.n_problems, 2);
  assert_non_null(strstr(c.problems[0], "revocations"));
  assert_non_null(strstr(c.problems[1], "99"));
  cg_query_check_clear(&c);
  /* The check changed nothing (no migration, no repair). */
  assert_int_equal(peer_int(f, f->pg ? "SELECT version FROM cmpgw_schema" : "PRAGMA user_version"),
                   99);
}

static void test_check_of_a_file_that_is_no_database_reports_it(void **state) {
  struct fixture *f = *state;
  FILE *fp = fopen(f->backup, "wb");
  assert_non_null(fp);
  for (int i = 0; i < 4096; i++)
    fputc('x', fp);
  fclose(fp);
  struct cg_query_check c;
  assert_int_equal(cg_query_check_file(f->backup, &c), 0);
  assert_true(c.n_problems >= 1);
  assert_false(c.integrity_ok);
  cg_query_check_clear(&c);

  char missing[700];
  snprintf(missing, sizeof missing, "%s/none.db", f->dir);
  assert_int_equal(cg_query_check_file(missing, &c), CG_ENOT_FOUND);
  assert_int_equal(access(missing, F_OK), -1); /* not created either */
}

static void test_backup_copies_every_table_and_checks_sound(void **state) {
  struct fixture *f = *state;
  insert_secret(f, "dev-1", "default", true);
  insert_txn(f, 1, "default", "confirmed", -1, "5e01");
  insert_cert(f, "5e01", "CN=dev1", 1);
  assert_int_equal(cg_query_cert_revoke(f->st, "5e01", 4, T0), 0);
  FILE *dest = fopen(f->backup, "wb");
  assert_non_null(dest);
  fclose(dest);
  int pages = 0;
  if (f->pg) { /* pg_dump's work, not cmpgw's */
    assert_int_equal(cg_query_backup(f->st, f->backup, &pages), CG_EINVAL);
    return;
  }
  assert_int_equal(cg_query_backup(f->st, f->backup, &pages), 0);
  assert_true(pages > 0);
  assert_int_equal(db_int(f->backup, "SELECT count(*) FROM secrets"), 1);
  assert_int_equal(db_int(f->backup, "SELECT count(*) FROM transactions"), 1);
  assert_int_equal(
      db_int(f->backup, "SELECT count(*) FROM certificates WHERE der = x'3082000101ff'"), 1);
  assert_int_equal(db_int(f->backup, "SELECT reason FROM revocations"), 4);
  assert_int_equal(db_int(f->backup, "SELECT count(*) FROM events"), 1);
  struct cg_query_check c;
  assert_int_equal(cg_query_check_file(f->backup, &c), 0);
  assert_int_equal(c.n_problems, 0);
  cg_query_check_clear(&c);
}

static void test_backup_needs_its_file_to_exist(void **state) {
  struct fixture *f = *state;
  int pages;
  assert_int_equal(cg_query_backup(f->st, f->backup, &pages), f->pg ? CG_EINVAL : CG_ESTORE);
  assert_int_equal(access(f->backup, F_OK), -1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  int skip_all = tudb_init();
  if (skip_all != 0)
    return skip_all;
  const struct CMUnitTest tests[] = {
      T(test_time_ok_accepts_only_the_stored_form),
      T(test_secret_insert_sets_limit_and_note_with_the_row),
      T(test_secrets_list_by_reference_and_filter_by_profile),
      T(test_secret_show_reads_one_and_unknown_is_not_found),
      T(test_secret_time_in_another_form_is_a_store_error),
      T(test_text_holding_a_nul_does_not_fit),
      T(test_secret_revoke_sets_time_and_records_one_event),
      T(test_operators_add_list_passwd_remove_with_events),
      T(test_operator_failed_logins_lock_and_a_good_one_forgets),
      T(test_txns_newest_first_with_each_filter),
      T(test_txn_show_has_its_certificate_and_events),
      T(test_dashboard_counts_each_hour_as_written),
      T(test_certs_newest_first_with_each_filter),
      T(test_certs_found_by_part_of_subject_or_sans_exactly),
      T(test_cert_show_finds_the_serial_as_people_type_it),
      T(test_cert_revoke_writes_status_revocation_and_event_once),
      T(test_cert_revoke_of_a_certificate_with_a_revocation_on_record_is_revoked),
      T(test_reads_see_committed_rows_while_another_writer_holds_the_lock),
      T(test_a_write_waits_for_the_other_writer_instead_of_failing),
      T(test_a_lock_held_past_the_busy_timeout_is_ebusy_and_writes_nothing),
      T(test_check_of_a_sound_database_finds_nothing),
      T(test_check_reports_foreign_keys_and_version),
      T(test_check_of_a_file_that_is_no_database_reports_it),
      T(test_backup_copies_every_table_and_checks_sound),
      T(test_backup_needs_its_file_to_exist),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
