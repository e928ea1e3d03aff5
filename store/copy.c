/*
 * copy.c - store/query.h's cg_query_copy(): a SQLite deployment's state
 * moved into a PostgreSQL database (`cmpgw db migrate-to-postgres`), then
 * checked there: the counts of every table, and a sample of rows compared
 * column by column with the source.
 *
 * The source is read in one snapshot; the destination, brought to the
 * current schema first, must hold none of cmpgw's rows, and is written in
 * one transaction: a copy that fails leaves it as empty as it was.  Rows go
 * in the order they were written (rowid), so the order of `tx list` and
 * `certs list` survives, and events keep their ids (the identity then
 * continues after the highest).  Values are copied as they are stored: the
 * store's own checks ran when they were written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/db.h"
#include "store/query.h"
#include "store/schema.h"
#include "store/store.h"

/* The tables, parents before children, with the key a sample is found by
 * and the order rows are read in.  leases are not copied: they are the
 * running nodes'. */
static const struct table {
  const char *name, *columns, *key, *order;
} tables[] = {
    {"settings", "name, value, updated_at", "name", "name"},
    {"secrets",
     "reference, profile, secret_enc, created_at, expires_at, revoked_at, challenge_enc,"
     " max_uses, uses, failed_attempts, locked_until, note, subject, sans",
     "reference", "rowid"},
    {"transactions",
     "transaction_id, profile, auth_ref, req_type, state, failinfo, cert_req_id, sender_nonce,"
     " cert_serial, created_at, updated_at, request_der, poll_ref, ca_state, ca_check_at,"
     " protection, device_nonce, updates_serial",
     "transaction_id", "rowid"},
    {"certificates",
     "serial, subject, issuer, sans, key_type, not_before, not_after, status, transaction_id,"
     " profile, created_at, der, key_hash",
     "serial", "rowid"},
    {"revocations", "serial, reason, revoked_at, transaction_id, requested_by", "serial", "rowid"},
    {"compromised_keys", "key_hash, serial, reported_at", "key_hash", "rowid"},
    {"events", "id, at, transaction_id, kind, detail", "id", "id"},
    {"operators",
     "name, role, password_hash, created_at, failed_attempts, locked_until, last_login_at", "name",
     "name"},
};
#define N_TABLES (sizeof tables / sizeof tables[0])

static int failed(struct cg_db *db, int rc, const char *what, const char *table) {
  cg_error("store: copy: %s %s: %s", what, table, cg_db_errmsg(db));
  return (rc & 0xff) == CG_DB_NOMEM ? CG_ENOMEM : CG_ESTORE;
}

/* Binds the current row's column col of s as parameter col + 1 of d, as the
 * type it has. */
static int bind_like(struct cg_db_stmt *d, struct cg_db_stmt *s, int col) {
  int t = cg_db_column_type(s, col);
  if (t == CG_DB_NULL)
    return cg_db_bind_null(d, col + 1);
  if (t == 1) /* SQLITE_INTEGER */
    return cg_db_bind_int64(d, col + 1, cg_db_column_int64(s, col));
  if (t == 4) { /* SQLITE_BLOB */
    const void *p = cg_db_column_blob(s, col);
    return cg_db_bind_blob(d, col + 1, p, cg_db_column_bytes(s, col));
  }
  const unsigned char *v = cg_db_column_text(s, col);
  return cg_db_bind_text(d, col + 1, (const char *)v, cg_db_column_bytes(s, col));
}

static int ncolumns(const char *columns) {
  int n = 1;
  for (const char *p = columns; *p != '\0'; p++)
    n += *p == ',';
  return n;
}

/* Copies one table; *rows gets how many. */
static int copy_table(struct cg_db *from, struct cg_db *to, const struct table *t, int64_t *rows) {
  char sql[1024], values[512] = "";
  int n = ncolumns(t->columns);
  size_t len = 0;
  for (int i = 1; i <= n; i++)
    len += (size_t)snprintf(values + len, sizeof values - len, "%s?%d", i > 1 ? ", " : "", i);
  struct cg_db_stmt *s = NULL, *d = NULL;
  snprintf(sql, sizeof sql, "SELECT %s FROM %s ORDER BY %s", t->columns, t->name, t->order);
  int rc = cg_db_prepare(from, sql, false, &s);
  if (rc != CG_DB_OK)
    return failed(from, rc, "reading", t->name);
  snprintf(sql, sizeof sql, "INSERT INTO %s (%s) VALUES (%s)", t->name, t->columns, values);
  if ((rc = cg_db_prepare(to, sql, true, &d)) != CG_DB_OK) {
    cg_db_finalize(s);
    return failed(to, rc, "writing", t->name);
  }
  int err = 0;
  *rows = 0;
  while (err == 0 && (rc = cg_db_step(s)) == CG_DB_ROW) {
    for (int c = 0; c < n && err == 0; c++)
      if (bind_like(d, s, c) != CG_DB_OK)
        err = failed(to, CG_DB_ERROR, "binding a row of", t->name);
    if (err == 0 && (rc = cg_db_step(d)) != CG_DB_DONE)
      err = failed(to, rc, "writing", t->name);
    cg_db_reset(d);
    cg_db_clear_bindings(d);
    (*rows)++;
  }
  if (err == 0 && rc != CG_DB_DONE)
    err = failed(from, rc, "reading", t->name);
  cg_db_finalize(s);
  cg_db_finalize(d);
  return err;
}

static int count_rows(struct cg_db *db, const char *table, int64_t *out) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
  struct cg_db_stmt *s = NULL;
  int rc = cg_db_prepare(db, sql, false, &s);
  if (rc == CG_DB_OK && (rc = cg_db_step(s)) == CG_DB_ROW)
    *out = cg_db_column_int64(s, 0);
  cg_db_finalize(s);
  return rc == CG_DB_ROW ? 0 : failed(db, rc, "counting", table);
}

/* Compares the current rows of a and b, column by column, as octets (a
 * BLOB's and a bytea's; an integer's decimal text). */
static bool same_row(struct cg_db_stmt *a, struct cg_db_stmt *b, int n) {
  for (int c = 0; c < n; c++) {
    bool na = cg_db_column_type(a, c) == CG_DB_NULL, nb = cg_db_column_type(b, c) == CG_DB_NULL;
    if (na || nb) {
      if (na != nb)
        return false;
      continue;
    }
    int ta = cg_db_column_type(a, c);
    if (ta == 1) { /* integers: as numbers */
      if (cg_db_column_int64(a, c) != cg_db_column_int64(b, c))
        return false;
      continue;
    }
    const void *pa = ta == 4 ? cg_db_column_blob(a, c) : (const void *)cg_db_column_text(a, c);
    int la = cg_db_column_bytes(a, c);
    const void *pb = cg_db_column_blob(b, c);
    int lb = cg_db_column_bytes(b, c);
    if (la != lb || (la > 0 && memcmp(pa, pb, (size_t)la) != 0))
      return false;
  }
  return true;
}

/* Every step-th row of the table (at most `want` of them), read again from
 * both databases by its key and compared.  *sampled gets how many. */
static int sample_table(struct cg_db *from, struct cg_db *to, const struct table *t, int64_t rows,
                        int want, int64_t *sampled) {
  char sql[1024];
  int n = ncolumns(t->columns);
  int64_t step = rows / want + 1;
  struct cg_db_stmt *s = NULL, *d = NULL;
  snprintf(sql, sizeof sql, "SELECT %s FROM %s ORDER BY %s", t->columns, t->name, t->order);
  int rc = cg_db_prepare(from, sql, false, &s);
  if (rc != CG_DB_OK)
    return failed(from, rc, "reading", t->name);
  snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE %s = ?1", t->columns, t->name, t->key);
  if ((rc = cg_db_prepare(to, sql, true, &d)) != CG_DB_OK) {
    cg_db_finalize(s);
    return failed(to, rc, "reading", t->name);
  }
  int err = 0;
  int64_t i = 0;
  *sampled = 0;
  while (err == 0 && (rc = cg_db_step(s)) == CG_DB_ROW) {
    if (i++ % step != 0)
      continue;
    bind_like(d, s, 0); /* the key is the first column */
    if ((rc = cg_db_step(d)) != CG_DB_ROW || !same_row(s, d, n)) {
      cg_error("store: copy: a row of %s differs in the copy (or is missing)", t->name);
      err = CG_ESTATE;
    }
    cg_db_reset(d);
    cg_db_clear_bindings(d);
    (*sampled)++;
  }
  if (err == 0 && rc != CG_DB_DONE)
    err = failed(from, rc, "reading", t->name);
  cg_db_finalize(s);
  cg_db_finalize(d);
  return err;
}

int cg_query_copy(const char *from_path, const char *to_locator, int sample,
                  struct cg_query_copy_report *out) {
  memset(out, 0, sizeof *out);
  if (cg_db_is_postgres(from_path) || !cg_db_is_postgres(to_locator))
    return CG_EINVAL;
  /* Both at the current schema: the store's own open migrates them. */
  struct cg_store *st = NULL;
  int err = cg_store_open(from_path, &st);
  cg_store_close(st);
  if (err == 0) {
    st = NULL;
    err = cg_store_open(to_locator, &st);
    cg_store_close(st);
  }
  if (err != 0)
    return CG_ESTORE;
  struct cg_db *from = NULL, *to = NULL;
  if (cg_db_open(from_path, CG_DB_EXISTING, &from) != 0 ||
      cg_db_open(to_locator, CG_DB_EXISTING, &to) != 0) {
    cg_db_close(from);
    return CG_ESTORE;
  }
  err = cg_db_exec(from, "BEGIN") == CG_DB_OK ? 0 : failed(from, CG_DB_ERROR, "reading", "");
  if (err == 0 && cg_db_exec(to, "BEGIN ISOLATION LEVEL SERIALIZABLE") != CG_DB_OK)
    err = failed(to, CG_DB_ERROR, "writing", "");
  /* The destination holds nothing of cmpgw's yet. */
  for (size_t i = 0; i < N_TABLES && err == 0; i++) {
    int64_t n = 0;
    if ((err = count_rows(to, tables[i].name, &n)) == 0 && n > 0) {
      cg_error("store: copy: the PostgreSQL database has rows in %s already: nothing copied",
               tables[i].name);
      err = CG_EEXISTS;
    }
  }
  for (size_t i = 0; i < N_TABLES && err == 0; i++) {
    err = copy_table(from, to, &tables[i], &out->rows[i]);
    out->tables[i] = tables[i].name;
  }
  out->n_tables = N_TABLES;
  if (err == 0 &&
      cg_db_exec(to, "SELECT setval(pg_get_serial_sequence('events', 'id'),"
                     " coalesce((SELECT max(id) FROM events), 0) + 1, false)") != CG_DB_OK)
    err = failed(to, CG_DB_ERROR, "continuing the ids of", "events");
  if (err == 0 && cg_db_exec(to, "COMMIT") != CG_DB_OK)
    err = failed(to, CG_DB_ERROR, "committing", "the copy");
  if (err != 0 && cg_db_in_txn(to))
    cg_db_exec(to, "ROLLBACK");
  /* Checked against the committed copy, from the same source snapshot. */
  for (size_t i = 0; i < N_TABLES && err == 0; i++) {
    int64_t n = -1;
    if ((err = count_rows(to, tables[i].name, &n)) == 0 && n != out->rows[i]) {
      cg_error("store: copy: %s has %lld rows in the copy, %lld in the source", tables[i].name,
               (long long)n, (long long)out->rows[i]);
      err = CG_ESTATE;
    }
    if (err == 0)
      err = sample_table(from, to, &tables[i], out->rows[i], sample, &out->sampled[i]);
  }
  cg_db_exec(from, "COMMIT");
  cg_db_close(from);
  cg_db_close(to);
  return err;
}
