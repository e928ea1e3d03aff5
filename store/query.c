/*
 * query.c - store/query.h on SQLite: the reads and writes of the operator
 * commands, each one SQLite transaction on the CLI's connection, and the
 * database check and online backup.
 *
 * The CLI shares the database with a running `cmpgw serve`, whose store
 * thread writes in groups.  The connection from cg_store_open() has a busy
 * timeout, so SQLite itself waits for a lock; what it does not wait for is
 * retried here: every call runs its body inside run(), which begins the
 * transaction (BEGIN IMMEDIATE for a write, so a write never has to upgrade a
 * stale read snapshot, the one BUSY SQLite does not wait for), and when any
 * step still reports CG_DB_BUSY or CG_DB_LOCKED rolls back and runs the
 * body again, until CG_QUERY_BUSY_MS have passed.  A body therefore starts
 * by resetting its outputs, and writes nothing outside the transaction.
 *
 * Statements are prepared per call: these are one-shot commands, and a
 * statement that is not kept cannot be left bound.  Every value from the
 * command line is bound; the SQL texts are constants.  Values are bound,
 * columns read and failures mapped with store/sql.h, as sqlite.c does.
 */
#include "store/query.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "store/db.h"
#include "store/internal.h"
#include "store/schema.h"
#include "store/sql.h"
#include "store/store.h"

/* A body's "the database was locked: run me again"; never leaves this file. */
#define RETRY 1

/* ---- times --------------------------------------------------------------- */

bool cg_query_time_ok(const char *s) { return cg_time_parse_iso8601(s, NULL) == 0; }

/* ---- SQLite plumbing ----------------------------------------------------- */

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms) {
  struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static bool is_busy(int rc) {
  rc &= 0xff;
  return rc == CG_DB_BUSY || rc == CG_DB_LOCKED;
}

/* What a failed SQLite call means for the caller: RETRY when the database
 * was locked, otherwise what store/sql.h makes of it (logged). */
static int sql_failed(struct cg_db *db, int rc, const char *what) {
  return is_busy(rc) ? RETRY : cg_store_sql_error(db, rc, NULL, what);
}

static int prepare(struct cg_db *db, const char *sql, struct cg_db_stmt **s) {
  *s = NULL;
  int rc = cg_db_prepare(db, sql, false, s);
  return rc == CG_DB_OK ? 0 : sql_failed(db, rc, "preparing a query");
}

static int exec(struct cg_db *db, const char *sql) {
  int rc = cg_db_exec(db, sql);
  return rc == CG_DB_OK ? 0 : sql_failed(db, rc, sql);
}

/* The start of a body's transaction.  SQLite: BEGIN IMMEDIATE takes the
 * write lock at once, and a read transaction is one snapshot.  PostgreSQL:
 * a write is SERIALIZABLE, so a body that reads and then writes (is the
 * secret revoked already?) holds against the daemon and other operators as
 * under SQLite's one writer (a conflict is a serialization failure, which
 * is retried like a lock); a read is one REPEATABLE READ snapshot. */
static const char *begin_sql(struct cg_db *db, bool write) {
  if (cg_db_engine(db) == CG_DB_POSTGRES)
    return write ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                 : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
  return write ? "BEGIN IMMEDIATE" : "BEGIN";
}

/* Steps a statement that returns no row. */
static int step_done(struct cg_db *db, struct cg_db_stmt *s, const char *what) {
  int rc = cg_db_step(s);
  return rc == CG_DB_DONE ? 0 : sql_failed(db, rc, what);
}

typedef int (*body_fn)(struct cg_db *db, void *arg);

/* Runs body(db, arg) in one transaction, committed when it returns 0 and
 * rolled back otherwise, and again while it (or BEGIN, or COMMIT) finds the
 * database locked, for up to CG_QUERY_BUSY_MS. */
static int run(struct cg_db *db, bool write, body_fn body, void *arg) {
  int64_t deadline = monotonic_ms() + CG_QUERY_BUSY_MS;
  for (;;) {
    int err = exec(db, begin_sql(db, write));
    if (err == 0) {
      err = body(db, arg);
      if (err == 0)
        err = exec(db, "COMMIT");
      if (err != 0 && cg_db_in_txn(db))
        cg_db_exec(db, "ROLLBACK");
    }
    if (err != RETRY)
      return err;
    if (monotonic_ms() >= deadline) {
      cg_error("store: the database stayed locked for %d ms", CG_QUERY_BUSY_MS);
      return CG_EBUSY;
    }
    pause_ms(10);
  }
}

/* ---- columns ------------------------------------------------------------- */

static int not_fitting(const char *what) {
  cg_error("store: a row of %s does not fit (corrupt or foreign)", what);
  return CG_ESTORE;
}

/* A time column in the stored form; NULL reads as "" only when nullable. */
static int col_time(struct cg_db_stmt *s, int col, char dst[CG_QUERY_TIME], bool nullable) {
  if (cg_db_column_type(s, col) == CG_DB_NULL) {
    dst[0] = '\0';
    return nullable ? 0 : CG_ESTORE;
  }
  if (cg_store_sql_column_text(s, col, dst, CG_QUERY_TIME) != 0 || !cg_query_time_ok(dst))
    return CG_ESTORE;
  return 0;
}

/* Makes room for one more element of size elem in *v (capacity *cap). */
static int grow(void **v, size_t *cap, size_t n, size_t elem) {
  if (n < *cap)
    return 0;
  size_t ncap = *cap ? 2 * *cap : 16;
  void *p = realloc(*v, ncap * elem);
  if (p == NULL)
    return CG_ENOMEM;
  *v = p;
  *cap = ncap;
  return 0;
}

/* Limits from the filters: "all" is the largest limit (SQLite's -1 is an
 * error on PostgreSQL). */
static int64_t sql_limit(size_t limit) {
  return limit == 0 || limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
}

/* ---- secrets ------------------------------------------------------------- */

#define SECRET_COLUMNS                                                                             \
  "SELECT reference, profile, created_at, expires_at, revoked_at, locked_until, max_uses,"         \
  " uses, failed_attempts, challenge_enc IS NOT NULL, note, subject, sans FROM secrets"

static int secret_row(struct cg_db_stmt *s, struct cg_query_secret *r) {
  memset(r, 0, sizeof *r);
  int bad = 0;
  if (cg_store_sql_column_text(s, 0, r->reference, sizeof r->reference) != 0 ||
      cg_store_sql_column_text(s, 1, r->profile, sizeof r->profile) != 0 ||
      col_time(s, 2, r->created_at, false) != 0 || col_time(s, 3, r->expires_at, true) != 0 ||
      col_time(s, 4, r->revoked_at, true) != 0 || col_time(s, 5, r->locked_until, true) != 0)
    return not_fitting("secrets");
  r->max_uses = cg_store_sql_column_int_or(s, 6, 0);
  r->uses = cg_db_column_int64(s, 7);
  r->failed_attempts = cg_db_column_int64(s, 8);
  r->has_challenge = cg_db_column_int(s, 9) != 0;
  r->note = cg_store_sql_column_dup(s, 10, &bad);
  r->subject = cg_store_sql_column_dup(s, 11, &bad);
  r->sans = cg_store_sql_column_dup(s, 12, &bad);
  return bad == CG_ESTORE ? not_fitting("secrets") : bad;
}

void cg_query_secret_clear(struct cg_query_secret *s) {
  free(s->note);
  free(s->subject);
  free(s->sans);
  s->note = s->subject = s->sans = NULL;
}

void cg_query_secrets_free(struct cg_query_secret *v, size_t n) {
  for (size_t i = 0; v != NULL && i < n; i++)
    cg_query_secret_clear(&v[i]);
  free(v);
}

struct secrets_arg {
  const char *profile;
  struct cg_query_secret *v;
  size_t n, cap;
  /* cg_query_secrets_page(): references from low, below high; a page */
  const char *low, *high;
  size_t offset, limit;
  bool paged;
};

static int secrets_body(struct cg_db *db, void *arg) {
  struct secrets_arg *a = arg;
  cg_query_secrets_free(a->v, a->n);
  a->v = NULL;
  a->n = a->cap = 0;
  struct cg_db_stmt *s;
  int err = prepare(db,
                    a->paged ? SECRET_COLUMNS " WHERE (CAST(?1 AS TEXT) IS NULL OR reference >= ?1)"
                                              " AND (CAST(?2 AS TEXT) IS NULL OR reference < ?2)"
                                              " ORDER BY reference LIMIT ?3 OFFSET ?4"
                             : SECRET_COLUMNS " WHERE (CAST(?1 AS TEXT) IS NULL OR profile = ?1)"
                                              " ORDER BY reference",
                    &s);
  if (err != 0)
    return err;
  if (a->paged
          ? (cg_store_sql_bind_text(s, 1, a->low) | cg_store_sql_bind_text(s, 2, a->high) |
             cg_db_bind_int64(s, 3, sql_limit(a->limit)) |
             cg_db_bind_int64(s, 4, a->offset > (size_t)INT64_MAX ? INT64_MAX
                                                                  : (int64_t)a->offset)) !=
                CG_DB_OK
          : cg_store_sql_bind_text(s, 1, a->profile) != CG_DB_OK)
    err = cg_store_sql_bind_failed(db, "secret filter");
  int rc = CG_DB_DONE;
  while (err == 0 && (rc = cg_db_step(s)) == CG_DB_ROW) {
    if ((err = grow((void **)&a->v, &a->cap, a->n, sizeof *a->v)) != 0)
      break;
    err = secret_row(s, &a->v[a->n]);
    a->n++; /* counted even when half read: its note is freed with the rest */
  }
  if (err == 0 && rc != CG_DB_DONE)
    err = sql_failed(db, rc, "reading secrets");
  cg_db_finalize(s);
  return err;
}

int cg_query_secrets(struct cg_store *st, const char *profile, struct cg_query_secret **out,
                     size_t *n) {
  struct secrets_arg a = {.profile = profile};
  int err = run(st->db, false, secrets_body, &a);
  if (err != 0) {
    cg_query_secrets_free(a.v, a.n);
    return err;
  }
  *out = a.v;
  *n = a.n;
  return 0;
}

struct secret_arg {
  const char *reference;
  struct cg_query_secret *out;
};

static int secret_body(struct cg_db *db, void *arg) {
  struct secret_arg *a = arg;
  cg_query_secret_clear(a->out);
  struct cg_db_stmt *s;
  int err = prepare(db, SECRET_COLUMNS " WHERE reference = ?1", &s);
  if (err != 0)
    return err;
  if (cg_store_sql_bind_text(s, 1, a->reference) != CG_DB_OK) {
    err = cg_store_sql_bind_failed(db, "reference");
  } else {
    int rc = cg_db_step(s);
    err = rc == CG_DB_ROW    ? secret_row(s, a->out)
          : rc == CG_DB_DONE ? CG_ENOT_FOUND
                             : sql_failed(db, rc, "reading a secret");
  }
  cg_db_finalize(s);
  return err;
}

int cg_query_secrets_page(struct cg_store *st, const char *prefix, size_t offset, size_t limit,
                          struct cg_query_secret **out, size_t *n) {
  /* References are printable ASCII (0x21..0x7e): those beginning with the
   * prefix lie between it and it followed by 0x7f, an index range. */
  char high[CMP_MAX_REF + 2];
  bool any = prefix != NULL && prefix[0] != '\0' && strlen(prefix) <= CMP_MAX_REF;
  if (any)
    snprintf(high, sizeof high, "%s\x7f", prefix);
  struct secrets_arg a = {.paged = true,
                          .low = any ? prefix : NULL,
                          .high = any ? high : NULL,
                          .offset = offset,
                          .limit = limit};
  int err = run(st->db, false, secrets_body, &a);
  if (err != 0) {
    cg_query_secrets_free(a.v, a.n);
    a.v = NULL;
    a.n = 0;
  }
  *out = a.v;
  *n = a.n;
  return err;
}

int cg_query_secret(struct cg_store *st, const char *reference, struct cg_query_secret *out) {
  memset(out, 0, sizeof *out);
  struct secret_arg a = {.reference = reference, .out = out};
  int err = run(st->db, false, secret_body, &a);
  if (err != 0)
    cg_query_secret_clear(out);
  return err;
}

struct secret_insert_arg {
  struct cg_store *st;
  const struct cmp_secret_record *rec;
  int64_t max_uses;
  const char *note;
};

static int secret_insert_body(struct cg_db *db, void *arg) {
  struct secret_insert_arg *a = arg;
  /* We hold the write lock: the insert cannot find the database locked. */
  int err = cg_store_secret_insert(a->st, a->rec);
  if (err != 0)
    return err;
  struct cg_db_stmt *s;
  if ((err = prepare(db, "UPDATE secrets SET max_uses = ?1, note = ?2 WHERE reference = ?3", &s)) !=
      0)
    return err;
  int b = (a->max_uses <= 0 ? cg_db_bind_null(s, 1) : cg_db_bind_int64(s, 1, a->max_uses)) |
          cg_store_sql_bind_text(s, 2, a->note) | cg_store_sql_bind_text(s, 3, a->rec->reference);
  err = b != CG_DB_OK ? cg_store_sql_bind_failed(db, "secret limits")
                      : step_done(db, s, "setting secret limits");
  cg_db_finalize(s);
  return err;
}

int cg_query_secret_insert(struct cg_store *st, const struct cmp_secret_record *rec,
                           int64_t max_uses, const char *note) {
  struct secret_insert_arg a = {.st = st, .rec = rec, .max_uses = max_uses, .note = note};
  return run(st->db, true, secret_insert_body, &a);
}

struct secret_revoke_arg {
  const char *reference;
  char now[CG_QUERY_TIME];
  char *revoked_at;
};

/* An `events` row in the transaction of db. */
static int event_row(struct cg_db *db, const char *at, const char *txid, const char *kind,
                     const char *detail) {
  struct cg_db_stmt *s;
  int err = prepare(db,
                    "INSERT INTO events (at, transaction_id, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                    &s);
  if (err != 0)
    return err;
  if ((cg_store_sql_bind_text(s, 1, at) | cg_store_sql_bind_text_or_null(s, 2, txid) |
       cg_store_sql_bind_text(s, 3, kind) | cg_store_sql_bind_text_or_null(s, 4, detail)) !=
      CG_DB_OK)
    err = cg_store_sql_bind_failed(db, "event");
  else
    err = step_done(db, s, "recording an event");
  cg_db_finalize(s);
  return err;
}

static int secret_revoke_body(struct cg_db *db, void *arg) {
  struct secret_revoke_arg *a = arg;
  struct cg_db_stmt *s;
  int err = prepare(db, "SELECT revoked_at FROM secrets WHERE reference = ?1", &s);
  if (err != 0)
    return err;
  if (cg_store_sql_bind_text(s, 1, a->reference) != CG_DB_OK) {
    err = cg_store_sql_bind_failed(db, "reference");
  } else {
    int rc = cg_db_step(s);
    if (rc == CG_DB_DONE)
      err = CG_ENOT_FOUND;
    else if (rc != CG_DB_ROW)
      err = sql_failed(db, rc, "reading a secret");
    else if (cg_db_column_type(s, 0) != CG_DB_NULL)
      err = col_time(s, 0, a->revoked_at, false) != 0 ? not_fitting("secrets") : CG_ESTATE;
  }
  cg_db_finalize(s);
  if (err != 0)
    return err;

  if ((err = prepare(db,
                     "UPDATE secrets SET revoked_at = ?1"
                     " WHERE reference = ?2 AND revoked_at IS NULL",
                     &s)) != 0)
    return err;
  if ((cg_store_sql_bind_text(s, 1, a->now) | cg_store_sql_bind_text(s, 2, a->reference)) !=
      CG_DB_OK)
    err = cg_store_sql_bind_failed(db, "secret revocation");
  else
    err = step_done(db, s, "revoking a secret");
  cg_db_finalize(s);
  if (err != 0)
    return err;

  char detail[CMP_MAX_REF + 16];
  snprintf(detail, sizeof detail, "reference=%s", a->reference);
  err = event_row(db, a->now, NULL, "secret.revoked", detail);
  if (err == 0)
    memcpy(a->revoked_at, a->now, CG_QUERY_TIME);
  return err;
}

int cg_query_secret_revoke(struct cg_store *st, const char *reference, int64_t now,
                           char revoked_at[CG_QUERY_TIME]) {
  revoked_at[0] = '\0';
  if (strlen(reference) > CMP_MAX_REF)
    return CG_ENOT_FOUND;
  struct secret_revoke_arg a = {.reference = reference, .revoked_at = revoked_at};
  cg_time_iso8601(now, a.now);
  return run(st->db, true, secret_revoke_body, &a);
}

/* ---- transactions -------------------------------------------------------- */

#define TXN_COLUMNS                                                                                \
  "SELECT transaction_id, profile, auth_ref, req_type, state, failinfo, cert_req_id,"              \
  " sender_nonce, cert_serial, created_at, updated_at FROM transactions"

static int txn_row(struct cg_db_stmt *s, struct cg_query_txn *r) {
  memset(r, 0, sizeof *r);
  if (cg_store_sql_column_text(s, 0, r->transaction_id, sizeof r->transaction_id) != 0 ||
      cg_store_sql_column_text(s, 1, r->profile, sizeof r->profile) != 0 ||
      cg_store_sql_column_text(s, 2, r->auth_ref, sizeof r->auth_ref) != 0 ||
      cg_store_sql_column_text(s, 3, r->req_type, sizeof r->req_type) != 0 ||
      cg_store_sql_column_text(s, 4, r->state, sizeof r->state) != 0 ||
      cg_store_sql_column_text(s, 7, r->sender_nonce, sizeof r->sender_nonce) != 0 ||
      cg_store_sql_column_text(s, 8, r->cert_serial, sizeof r->cert_serial) != 0 ||
      col_time(s, 9, r->created_at, false) != 0 || col_time(s, 10, r->updated_at, false) != 0)
    return not_fitting("transactions");
  int64_t fi = cg_store_sql_column_int_or(s, 5, -1);
  r->failinfo = fi >= 0 && fi < 64 ? (int)fi : -1;
  r->has_cert_req_id = cg_db_column_type(s, 6) != CG_DB_NULL;
  r->cert_req_id = cg_db_column_int64(s, 6);
  return 0;
}

struct txns_arg {
  const struct cg_query_txn_filter *f;
  struct cg_query_txn *v;
  size_t n, cap;
};

static int txns_body(struct cg_db *db, void *arg) {
  struct txns_arg *a = arg;
  free(a->v);
  a->v = NULL;
  a->n = a->cap = 0;
  struct cg_db_stmt *s;
  /* rowid order is the order the rows were written: newest first without
   * sorting the table (on PostgreSQL, rowid is an identity column). */
  int err = prepare(db,
                    TXN_COLUMNS " WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1)"
                                " AND (CAST(?2 AS TEXT) IS NULL OR profile = ?2)"
                                " AND (CAST(?3 AS TEXT) IS NULL OR created_at >= ?3)"
                                " ORDER BY rowid DESC LIMIT ?4",
                    &s);
  if (err != 0)
    return err;
  if ((cg_store_sql_bind_text(s, 1, a->f->state) | cg_store_sql_bind_text(s, 2, a->f->profile) |
       cg_store_sql_bind_text(s, 3, a->f->since) |
       cg_db_bind_int64(s, 4, sql_limit(a->f->limit))) != CG_DB_OK)
    err = cg_store_sql_bind_failed(db, "transaction filter");
  int rc = CG_DB_DONE;
  while (err == 0 && (rc = cg_db_step(s)) == CG_DB_ROW) {
    if ((err = grow((void **)&a->v, &a->cap, a->n, sizeof *a->v)) != 0 ||
        (err = txn_row(s, &a->v[a->n])) != 0)
      break;
    a->n++;
  }
  if (err == 0 && rc != CG_DB_DONE)
    err = sql_failed(db, rc, "reading transactions");
  cg_db_finalize(s);
  return err;
}

int cg_query_txns(struct cg_store *st, const struct cg_query_txn_filter *f,
                  struct cg_query_txn **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (f->since != NULL && !cg_query_time_ok(f->since))
    return CG_EINVAL;
  struct txns_arg a = {.f = f};
  int err = run(st->db, false, txns_body, &a);
  if (err != 0) {
    free(a.v);
    return err;
  }
  *out = a.v;
  *n = a.n;
  return 0;
}

static void events_free(struct cg_query_event *v, size_t n) {
  for (size_t i = 0; v != NULL && i < n; i++) {
    free(v[i].kind);
    free(v[i].detail);
  }
  free(v);
}

void cg_query_txn_detail_clear(struct cg_query_txn_detail *d) {
  free(d->cert_subject);
  events_free(d->events, d->n_events);
  memset(d, 0, sizeof *d);
}

struct txn_arg {
  char txid[2 * CMP_MAX_TXID + 1];
  struct cg_query_txn_detail *d;
  size_t cap;
};

static int txn_cert(struct cg_db *db, struct cg_query_txn_detail *d) {
  struct cg_db_stmt *s;
  int err = prepare(db, "SELECT status, subject FROM certificates WHERE serial = ?1", &s);
  if (err != 0)
    return err;
  if (cg_store_sql_bind_text(s, 1, d->txn.cert_serial) != CG_DB_OK) {
    err = cg_store_sql_bind_failed(db, "serial");
  } else {
    int rc = cg_db_step(s);
    if (rc == CG_DB_ROW) {
      if (cg_store_sql_column_text(s, 0, d->cert_status, sizeof d->cert_status) != 0) {
        err = not_fitting("certificates");
      } else {
        d->cert_subject = cg_store_sql_column_dup(s, 1, &err);
        if (err == CG_ESTORE)
          err = not_fitting("certificates");
        d->cert_found = err == 0;
      }
    } else if (rc != CG_DB_DONE) {
      err = sql_failed(db, rc, "reading a certificate");
    }
  }
  cg_db_finalize(s);
  return err;
}

static int txn_events(struct cg_db *db, struct txn_arg *a) {
  struct cg_query_txn_detail *d = a->d;
  struct cg_db_stmt *s;
  int err = prepare(db,
                    "SELECT id, at, transaction_id, kind, detail FROM events"
                    " WHERE transaction_id = ?1 ORDER BY id",
                    &s);
  if (err != 0)
    return err;
  if (cg_store_sql_bind_text(s, 1, a->txid) != CG_DB_OK)
    err = cg_store_sql_bind_failed(db, "txid");
  int rc = CG_DB_DONE;
  while (err == 0 && (rc = cg_db_step(s)) == CG_DB_ROW) {
    if ((err = grow((void **)&d->events, &a->cap, d->n_events, sizeof *d->events)) != 0)
      break;
    struct cg_query_event *e = &d->events[d->n_events++];
    memset(e, 0, sizeof *e);
    e->id = cg_db_column_int64(s, 0);
    if (col_time(s, 1, e->at, false) != 0 ||
        cg_store_sql_column_text(s, 2, e->transaction_id, sizeof e->transaction_id) != 0) {
      err = not_fitting("events");
      break;
    }
    e->kind = cg_store_sql_column_dup(s, 3, &err);
    e->detail = cg_store_sql_column_dup(s, 4, &err);
    if (err == CG_ESTORE || (err == 0 && e->kind == NULL))
      err = not_fitting("events");
  }
  if (err == 0 && rc != CG_DB_DONE)
    err = sql_failed(db, rc, "reading events");
  cg_db_finalize(s);
  return err;
}

static int txn_body(struct cg_db *db, void *arg) {
  struct txn_arg *a = arg;
  cg_query_txn_detail_clear(a->d);
  a->cap = 0;
  struct cg_db_stmt *s;
  int err = prepare(db, TXN_COLUMNS " WHERE transaction_id = ?1", &s);
  if (err != 0)
    return err;
  if (cg_store_sql_bind_text(s, 1, a->txid) != CG_DB_OK) {
    err = cg_store_sql_bind_failed(db, "txid");
  } else {
    int rc = cg_db_step(s);
    err = rc == CG_DB_ROW    ? txn_row(s, &a->d->txn)
          : rc == CG_DB_DONE ? CG_ENOT_FOUND
                             : sql_failed(db, rc, "reading a transaction");
  }
  cg_db_finalize(s);
  if (err == 0 && a->d->txn.cert_serial[0] != '\0')
    err = txn_cert(db, a->d);
  if (err == 0)
    err = txn_events(db, a);
  return err;
}

int cg_query_txn(struct cg_store *st, const char *txid, struct cg_query_txn_detail *out) {
  memset(out, 0, sizeof *out);
  struct txn_arg a = {.d = out};
  if (!cg_store_id_lower(txid, a.txid, sizeof a.txid))
    return CG_ENOT_FOUND;
  int err = run(st->db, false, txn_body, &a);
  if (err != 0)
    cg_query_txn_detail_clear(out);
  return err;
}

/* ---- certificates -------------------------------------------------------- */

#define CERT_COLUMNS                                                                               \
  "SELECT c.serial, c.subject, c.issuer, c.not_before, c.not_after, c.status, c.profile,"          \
  " c.transaction_id, c.created_at, r.serial IS NOT NULL, r.reason, r.revoked_at,"                 \
  " r.requested_by, r.transaction_id, c.sans, c.key_type"
#define CERT_NCOLS 16 /* the columns above; a query adds its own after them */

static int cert_row(struct cg_db_stmt *s, struct cg_query_cert *c) {
  memset(c, 0, sizeof *c);
  c->reason = -1;
  int bad = 0;
  if (cg_store_sql_column_text(s, 0, c->serial, sizeof c->serial) != 0 ||
      col_time(s, 3, c->not_before, false) != 0 || col_time(s, 4, c->not_after, false) != 0 ||
      cg_store_sql_column_text(s, 5, c->status, sizeof c->status) != 0 ||
      cg_store_sql_column_text(s, 6, c->profile, sizeof c->profile) != 0 ||
      cg_store_sql_column_text(s, 7, c->transaction_id, sizeof c->transaction_id) != 0 ||
      col_time(s, 8, c->created_at, false) != 0)
    return not_fitting("certificates");
  c->revoked = cg_db_column_int(s, 9) != 0;
  if (c->revoked) {
    int64_t reason = cg_store_sql_column_int_or(s, 10, -1);
    c->reason = reason >= 0 && reason <= 10 ? (int)reason : -1;
    if (col_time(s, 11, c->revoked_at, false) != 0 ||
        cg_store_sql_column_text(s, 12, c->requested_by, sizeof c->requested_by) != 0 ||
        cg_store_sql_column_text(s, 13, c->revoked_by_txn, sizeof c->revoked_by_txn) != 0)
      return not_fitting("revocations");
  }
  if (cg_store_sql_column_text(s, 15, c->key_type, sizeof c->key_type) != 0)
    return not_fitting("certificates");
  c->subject = cg_store_sql_column_dup(s, 1, &bad);
  c->issuer = cg_store_sql_column_dup(s, 2, &bad);
  c->sans =
      cg_db_column_type(s, 14) == CG_DB_NULL ? calloc(1, 1) : cg_store_sql_column_dup(s, 14, &bad);
  if (bad == CG_ESTORE ||
      (bad == 0 && (c->subject == NULL || c->issuer == NULL || c->sans == NULL)))
    bad = not_fitting("certificates");
  return bad;
}

void cg_query_cert_clear(struct cg_query_cert *c) {
  free(c->subject);
  free(c->issuer);
  free(c->sans);
  free(c->der);
  c->subject = c->issuer = c->sans = NULL;
  c->der = NULL;
  c->der_len = 0;
}

void cg_query_certs_free(struct cg_query_cert *v, size_t n) {
  for (size_t i = 0; v != NULL && i < n; i++)
    cg_query_cert_clear(&v[i]);
  free(v);
}

struct certs_arg {
  const struct cg_query_cert_filter *f;
  struct cg_query_cert *v;
  size_t n, cap;
};

/* Whether a substring has the three characters (code points) a trigram
 * index needs to find it; a shorter one is looked for by reading every row. */
static bool trigram_able(const char *part) {
  size_t chars = 0;
  for (const unsigned char *p = (const unsigned char *)part; p != NULL && *p != 0; p++)
    chars += (*p & 0xc0) != 0x80;
  return chars >= 3;
}

/* A part of a subject (?1) or of the SANs (?5), in any case.  SQLite:
 * instr() says exactly; the FTS5 trigram index (certificates_search, schema
 * 18) is read first when a part is long enough, through LIKE, where a % or _
 * typed only widens what instr() then narrows, and the certificates written
 * since it was last brought up to date (CG_STORE_OP_SEARCH_INDEX) are read
 * one by one.  PostgreSQL: LIKE with the part's own %, _ and \ escaped,
 * which pg_trgm's indexes serve (the pattern is a constant once the
 * parameters are bound: PQexecParams plans with them). */
#define SQLITE_PART(col, p) "instr(lower(" col "), lower(" p ")) > 0"
#define PG_PART(col, p)                                                                            \
  "lower(" col ") LIKE '%' || replace(replace(replace(lower(" p "), '\\', '\\\\'),"                  \
  " '%', '\\%'), '_', '\\_') || '%'"
#define CERT_FILTERS(PART)                                                                         \
  " (CAST(?1 AS TEXT) IS NULL OR " PART("c.subject", "?1") ")"                                     \
  " AND (CAST(?5 AS TEXT) IS NULL OR " PART("c.sans", "?5") ")"                                    \
  " AND (CAST(?2 AS TEXT) IS NULL OR c.status = ?2)"                                               \
  " AND (CAST(?6 AS TEXT) IS NULL OR c.transaction_id IN"                                          \
  "      (SELECT transaction_id FROM transactions WHERE auth_ref = ?6))"                          \
  " AND (CAST(?7 AS TEXT) IS NULL OR c.created_at >= ?7)"                                          \
  " AND (CAST(?8 AS TEXT) IS NULL OR c.created_at < ?8)"

/* The certificates of a secret's transactions by their primary key (no
 * index reads certificates by transaction): a superset (an rr names the
 * certificate it revokes) that CERT_FILTERS' own condition narrows. */
#define REFERENCE_SERIALS "SELECT cert_serial FROM transactions WHERE auth_ref = ?6"

static int certs_body(struct cg_db *db, void *arg) {
  struct certs_arg *a = arg;
  cg_query_certs_free(a->v, a->n);
  a->v = NULL;
  a->n = a->cap = 0;
  bool by_subject = trigram_able(a->f->subject), by_sans = trigram_able(a->f->sans);
  bool by_reference = a->f->reference != NULL && !by_subject && !by_sans;
  char buf[4096];
  const char *sql = buf;
  int len = 0;
  if (cg_db_engine(db) == CG_DB_POSTGRES) /* each present filter left alone once planned */
    sql = CERT_COLUMNS " FROM certificates c LEFT JOIN revocations r ON r.serial = c.serial"
                       " WHERE" CERT_FILTERS(PG_PART) " AND (CAST(?6 AS TEXT) IS NULL OR"
                       " c.serial IN (" REFERENCE_SERIALS ")) ORDER BY c.rowid DESC"
                       " LIMIT ?3 OFFSET ?4";
  else if (!by_subject && !by_sans) /* newest first, or a secret's few certificates */
    len = snprintf(buf, sizeof buf,
                   CERT_COLUMNS " FROM certificates c"
                                " LEFT JOIN revocations r ON r.serial = c.serial"
                                " WHERE%s" CERT_FILTERS(SQLITE_PART) " ORDER BY c.rowid DESC"
                                " LIMIT ?3 OFFSET ?4",
                   by_reference ? " c.serial IN (" REFERENCE_SERIALS ") AND" : "");
  else /* the rows the index does not hold yet, then those it finds; each
          part newest first, merged as they come: LIMIT ends the reading */
    len = snprintf(buf, sizeof buf,
                   CERT_COLUMNS ", c.rowid FROM certificates c"
                                " LEFT JOIN revocations r ON r.serial = c.serial"
                                " WHERE c.rowid > (SELECT upto FROM search_indexed) AND"
                                CERT_FILTERS(SQLITE_PART) " UNION ALL "
                   CERT_COLUMNS ", f.rowid FROM certificates_search f"
                                " JOIN certificates c ON c.rowid = f.rowid"
                                " LEFT JOIN revocations r ON r.serial = c.serial WHERE%s%s"
                                CERT_FILTERS(SQLITE_PART) " ORDER BY %d DESC LIMIT ?3 OFFSET ?4",
                   by_subject ? " f.subject LIKE '%' || ?1 || '%' AND" : "",
                   by_sans ? " f.sans LIKE '%' || ?5 || '%' AND" : "", CERT_NCOLS + 1);
  if (len < 0 || (size_t)len >= sizeof buf) {
    cg_error("store: the certificate query does not fit its buffer");
    return CG_EINVAL;
  }
  struct cg_db_stmt *s;
  int err = prepare(db, sql, &s);
  if (err != 0)
    return err;
  if ((cg_store_sql_bind_text(s, 1, a->f->subject) | cg_store_sql_bind_text(s, 2, a->f->status) |
       cg_db_bind_int64(s, 3, sql_limit(a->f->limit)) |
       cg_db_bind_int64(s, 4, a->f->offset > (size_t)INT64_MAX ? INT64_MAX : (int64_t)a->f->offset) |
       cg_store_sql_bind_text(s, 5, a->f->sans) | cg_store_sql_bind_text(s, 6, a->f->reference) |
       cg_store_sql_bind_text(s, 7, a->f->since) | cg_store_sql_bind_text(s, 8, a->f->until)) !=
      CG_DB_OK)
    err = cg_store_sql_bind_failed(db, "certificate filter");
  int rc = CG_DB_DONE;
  while (err == 0 && (rc = cg_db_step(s)) == CG_DB_ROW) {
    if ((err = grow((void **)&a->v, &a->cap, a->n, sizeof *a->v)) != 0)
      break;
    err = cert_row(s, &a->v[a->n]);
    a->n++; /* counted even when half read: what it holds is freed with the rest */
  }
  if (err == 0 && rc != CG_DB_DONE)
    err = sql_failed(db, rc, "reading certificates");
  cg_db_finalize(s);
  return err;
}

int cg_query_certs(struct cg_store *st, const struct cg_query_cert_filter *f,
                   struct cg_query_cert **out, size_t *n) {
  *out = NULL;
  *n = 0;
  struct certs_arg a = {.f = f};
  int err = run(st->db, false, certs_body, &a);
  if (err != 0) {
    cg_query_certs_free(a.v, a.n);
    return err;
  }
  *out = a.v;
  *n = a.n;
  return 0;
}

struct cert_arg {
  char serial[2 * CMP_MAX_SERIAL + 8]; /* normalized input */
  struct cg_query_cert *out;
};

/* Reads the certificate stored exactly as serial; CG_ENOT_FOUND when none. */
static int cert_exact(struct cg_db *db, const char *serial, struct cg_query_cert *c) {
  struct cg_db_stmt *s;
  int err = prepare(db,
                    CERT_COLUMNS ", c.der, t.transaction_id IS NOT NULL, t.state,"
                                 " t.req_type, t.auth_ref FROM certificates c"
                                 " LEFT JOIN revocations r ON r.serial = c.serial"
                                 " LEFT JOIN transactions t"
                                 " ON t.transaction_id = c.transaction_id"
                                 " WHERE c.serial = ?1",
                    &s);
  if (err != 0)
    return err;
  if (cg_store_sql_bind_text(s, 1, serial) != CG_DB_OK) {
    err = cg_store_sql_bind_failed(db, "serial");
  } else {
    int rc = cg_db_step(s);
    if (rc == CG_DB_DONE) {
      err = CG_ENOT_FOUND;
    } else if (rc != CG_DB_ROW) {
      err = sql_failed(db, rc, "reading a certificate");
    } else if ((err = cert_row(s, c)) == 0 &&
               (err = cg_store_sql_column_blob_dup(s, CERT_NCOLS, &c->der, &c->der_len)) == 0) {
      c->txn_found = cg_db_column_int(s, CERT_NCOLS + 1) != 0;
      if (c->txn_found &&
          (cg_store_sql_column_text(s, CERT_NCOLS + 2, c->txn_state, sizeof c->txn_state) != 0 ||
           cg_store_sql_column_text(s, CERT_NCOLS + 3, c->txn_req_type, sizeof c->txn_req_type) !=
               0 ||
           cg_store_sql_column_text(s, CERT_NCOLS + 4, c->txn_auth_ref, sizeof c->txn_auth_ref) !=
               0))
        err = not_fitting("transactions");
    }
  }
  cg_db_finalize(s);
  return err;
}

static int cert_body(struct cg_db *db, void *arg) {
  struct cert_arg *a = arg;
  cg_query_cert_clear(a->out);
  int err = cert_exact(db, a->serial, a->out);
  if (err != CG_ENOT_FOUND)
    return err;
  cg_query_cert_clear(a->out);
  /* Not as typed: the same number with leading zeros added or left out
   * (openssl prints "0A1B", a person may type "a1b"). */
  const char *digits = a->serial + strspn(a->serial, "0");
  struct cg_db_stmt *s;
  if ((err = prepare(db,
                     "SELECT serial FROM certificates WHERE ltrim(serial, '0') = ?1"
                     " LIMIT 2",
                     &s)) != 0)
    return err;
  char found[2 * CMP_MAX_SERIAL + 1] = "";
  int matches = 0, rc = CG_DB_DONE;
  if (cg_store_sql_bind_text(s, 1, digits) != CG_DB_OK)
    err = cg_store_sql_bind_failed(db, "serial");
  while (err == 0 && (rc = cg_db_step(s)) == CG_DB_ROW) {
    if (matches++ == 0 && cg_store_sql_column_text(s, 0, found, sizeof found) != 0)
      err = not_fitting("certificates");
  }
  if (err == 0 && rc != CG_DB_DONE)
    err = sql_failed(db, rc, "reading certificates");
  cg_db_finalize(s);
  if (err != 0)
    return err;
  if (matches == 0)
    return CG_ENOT_FOUND;
  if (matches > 1)
    return CG_EEXISTS;
  return cert_exact(db, found, a->out);
}

int cg_query_cert(struct cg_store *st, const char *serial, struct cg_query_cert *out) {
  memset(out, 0, sizeof *out);
  out->reason = -1;
  struct cert_arg a = {.out = out};
  size_t n = 0;
  for (const char *p = serial; *p != '\0'; p++) {
    char ch = *p;
    if (ch == ':')
      continue;
    if (ch >= 'A' && ch <= 'F')
      ch = (char)(ch - 'A' + 'a');
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')) || n + 1 >= sizeof a.serial)
      return CG_ENOT_FOUND;
    a.serial[n++] = ch;
  }
  if (n == 0)
    return CG_ENOT_FOUND;
  a.serial[n] = '\0';
  int err = run(st->db, false, cert_body, &a);
  if (err != 0)
    cg_query_cert_clear(out);
  return err;
}

struct cert_revoke_arg {
  const char *serial;
  int reason;
  char now[CG_QUERY_TIME];
};

/* A one-row statement: prepare, bind the texts given (NULL ends them), step. */
static int exec_texts(struct cg_db *db, const char *sql, const char *what, ...) {
  struct cg_db_stmt *s;
  int err = prepare(db, sql, &s);
  if (err != 0)
    return err;
  va_list ap;
  va_start(ap, what);
  int b = CG_DB_OK, i = 1;
  for (const char *t; (t = va_arg(ap, const char *)) != NULL;)
    b |= cg_store_sql_bind_text(s, i++, t);
  va_end(ap);
  err = b != CG_DB_OK ? cg_store_sql_bind_failed(db, what) : step_done(db, s, what);
  cg_db_finalize(s);
  return err;
}

/* An operator's action on the certificate serial, in the audit log with the
 * transaction that issued it. */
static int cert_event(struct cg_db *db, const char *now, const char *kind, const char *detail,
                      const char *serial) {
  return exec_texts(db,
                    "INSERT INTO events (at, transaction_id, kind, detail)"
                    " SELECT CAST(?1 AS TEXT), transaction_id, CAST(?2 AS TEXT), CAST(?3 AS TEXT)"
                    " FROM certificates WHERE serial = ?4",
                    "recording an event", now, kind, detail, serial, (const char *)NULL);
}

static int cert_revoke_body(struct cg_db *db, void *arg) {
  struct cert_revoke_arg *a = arg;
  struct cg_db_stmt *s;
  int err = exec_texts(db,
                       "UPDATE certificates SET status = 'revoked'"
                       " WHERE serial = ?1 AND status <> 'revoked'",
                       "revoking a certificate", a->serial, (const char *)NULL);
  if (err != 0)
    return err;
  if (cg_db_changes(db) == 0) {
    /* Nothing changed: no such certificate, or it is revoked already. */
    if ((err = prepare(db, "SELECT 1 FROM certificates WHERE serial = ?1", &s)) != 0)
      return err;
    if (cg_store_sql_bind_text(s, 1, a->serial) != CG_DB_OK) {
      err = cg_store_sql_bind_failed(db, "serial");
    } else {
      int rc = cg_db_step(s);
      err = rc == CG_DB_ROW    ? CG_ECERT_REVOKED
            : rc == CG_DB_DONE ? CG_ENOT_FOUND
                               : sql_failed(db, rc, "reading a certificate");
    }
    cg_db_finalize(s);
    return err;
  }

  if ((err = prepare(db,
                     "INSERT INTO revocations (serial, reason, revoked_at, transaction_id,"
                     " requested_by) VALUES (?1, ?2, ?3, NULL, 'operator')",
                     &s)) != 0)
    return err;
  if ((cg_store_sql_bind_text(s, 1, a->serial) | cg_db_bind_int64(s, 2, a->reason) |
       cg_store_sql_bind_text(s, 3, a->now)) != CG_DB_OK)
    err = cg_store_sql_bind_failed(db, "revocation");
  else
    err = step_done(db, s, "recording a revocation");
  cg_db_finalize(s);
  /* A revocation is on record for a certificate whose status says otherwise
   * (written by hand): it is revoked already, and on the CRL. */
  if (err == CG_EEXISTS)
    return CG_ECERT_REVOKED;
  if (err != 0)
    return err;

  if (a->reason == 1 || a->reason == 2) {
    /* keyCompromise, cACompromise: the key is never certified again. */
    if ((err = exec_texts(db,
                          "INSERT INTO compromised_keys (key_hash, serial, reported_at)"
                          " SELECT key_hash, serial, CAST(?2 AS TEXT) FROM certificates"
                          " WHERE serial = ?1 AND key_hash IS NOT NULL ON CONFLICT DO NOTHING",
                          "reporting a key compromised", a->serial, a->now, (const char *)NULL)) !=
        0)
      return err;
  }
  char detail[2 * CMP_MAX_SERIAL + 64];
  snprintf(detail, sizeof detail, "serial=%s reason=%d requested_by=operator", a->serial,
           a->reason);
  return cert_event(db, a->now, "certificate.revoked", detail, a->serial);
}

static int cert_release_body(struct cg_db *db, void *arg) {
  struct cert_revoke_arg *a = arg;
  int err = exec_texts(db, "DELETE FROM revocations WHERE serial = ?1 AND reason = 6",
                       "releasing a hold", a->serial, (const char *)NULL);
  if (err != 0)
    return err;
  if (cg_db_changes(db) == 0) {
    /* Not on hold: unknown, revoked for good, or not revoked at all. */
    struct cg_db_stmt *s;
    if ((err = prepare(db,
                       "SELECT CASE WHEN status = 'revoked' THEN 1 ELSE 0 END FROM certificates "
                       "WHERE serial = ?1",
                       &s)) != 0)
      return err;
    if (cg_store_sql_bind_text(s, 1, a->serial) != CG_DB_OK) {
      err = cg_store_sql_bind_failed(db, "serial");
    } else {
      int rc = cg_db_step(s);
      err = rc == CG_DB_ROW    ? (cg_db_column_int(s, 0) ? CG_ECERT_REVOKED : CG_EBAD_CERT_ID)
            : rc == CG_DB_DONE ? CG_ENOT_FOUND
                               : sql_failed(db, rc, "reading a certificate");
    }
    cg_db_finalize(s);
    return err;
  }
  /* As before the hold: unconfirmed while its transaction is not confirmed. */
  err = exec_texts(db,
                   "UPDATE certificates SET status = CASE WHEN EXISTS (SELECT 1 FROM transactions t"
                   " WHERE t.transaction_id = certificates.transaction_id"
                   " AND t.state IN ('issued', 'expired', 'failed')) THEN 'unconfirmed'"
                   " ELSE 'valid' END WHERE serial = ?1",
                   "releasing a certificate", a->serial, (const char *)NULL);
  if (err != 0)
    return err;
  char detail[2 * CMP_MAX_SERIAL + 64];
  snprintf(detail, sizeof detail, "serial=%s requested_by=operator", a->serial);
  return cert_event(db, a->now, "certificate.released", detail, a->serial);
}

int cg_query_cert_release(struct cg_store *st, const char *serial, int64_t now) {
  if (strlen(serial) > 2 * CMP_MAX_SERIAL)
    return CG_ENOT_FOUND;
  struct cert_revoke_arg a = {.serial = serial, .reason = 8};
  cg_time_iso8601(now, a.now);
  return run(st->db, true, cert_release_body, &a);
}

int cg_query_cert_revoke(struct cg_store *st, const char *serial, int reason, int64_t now) {
  if (reason < 0 || reason > 10 || reason == 7 || reason == 8)
    return CG_EINVAL;
  if (strlen(serial) > 2 * CMP_MAX_SERIAL)
    return CG_ENOT_FOUND;
  struct cert_revoke_arg a = {.serial = serial, .reason = reason};
  cg_time_iso8601(now, a.now);
  return run(st->db, true, cert_revoke_body, &a);
}

/* ---- the database -------------------------------------------------------- */

void cg_query_check_clear(struct cg_query_check *c) {
  for (size_t i = 0; c->problems != NULL && i < c->n_problems; i++)
    free(c->problems[i]);
  free(c->problems);
  c->problems = NULL;
  c->n_problems = 0;
}

struct check_arg {
  struct cg_query_check *c;
  size_t cap;
};

static int add_problem(struct check_arg *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int add_problem(struct check_arg *a, const char *fmt, ...) {
  struct cg_query_check *c = a->c;
  if (grow((void **)&c->problems, &a->cap, c->n_problems, sizeof *c->problems) != 0)
    return CG_ENOMEM;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char *p = strdup(buf);
  if (p == NULL)
    return CG_ENOMEM;
  c->problems[c->n_problems++] = p;
  return 0;
}

/* The file is not a database, or its pages are damaged beyond reading: that
 * is what the check is for, not a failure of the check. */
static bool is_damage(int rc) {
  rc &= 0xff;
  return rc == CG_DB_NOTADB || rc == CG_DB_CORRUPT;
}

static const char *text_or(struct cg_db_stmt *s, int col, const char *none) {
  const char *v = (const char *)cg_db_column_text(s, col);
  return v != NULL ? v : none;
}

static int check_body(struct cg_db *db, void *arg) {
  struct check_arg *a = arg;
  struct cg_query_check *c = a->c;
  cg_query_check_clear(c);
  a->cap = 0;
  c->integrity_ok = false;
  c->n_fk = 0;
  c->user_version = -1;
  c->expected_version = CG_STORE_SCHEMA_VERSION;

  static const char *const sqlite_sql[] = {"PRAGMA user_version", "PRAGMA integrity_check",
                                           "PRAGMA foreign_key_check"};
  /* PostgreSQL checks its pages and enforces foreign keys itself; what is
   * left to see is the schema version, indexes a failed build left invalid,
   * and constraints added without validating the rows (NOT VALID). */
  static const char *const pg_sql[] = {
      "SELECT version FROM cmpgw_schema",
      "SELECT CASE WHEN count(*) = 0 THEN 'ok' ELSE 'invalid indexes (REINDEX them): '"
      " || string_agg(i.indexrelid::regclass::text, ', ') END FROM pg_index i"
      " JOIN pg_class c ON c.oid = i.indrelid"
      " WHERE c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid",
      "SELECT conrelid::regclass::text || ' (' || conname || ')', 0, 'its references'"
      " FROM pg_constraint WHERE connamespace = current_schema()::regnamespace"
      " AND NOT convalidated"};
  const char *const *sql = cg_db_engine(db) == CG_DB_POSTGRES ? pg_sql : sqlite_sql;
  for (size_t q = 0; q < 3; q++) {
    struct cg_db_stmt *s = NULL;
    int rc = cg_db_prepare(db, sql[q], false, &s);
    int err = 0;
    size_t rows = 0;
    while (rc == CG_DB_OK && err == 0 && (rc = cg_db_step(s)) == CG_DB_ROW) {
      rows++;
      if (q == 0) {
        c->user_version = cg_db_column_int(s, 0);
      } else if (q == 1) {
        const char *msg = text_or(s, 0, "?");
        if (rows == 1 && strcmp(msg, "ok") == 0)
          c->integrity_ok = true;
        else
          err = add_problem(a, "integrity_check: %s", msg);
      } else {
        c->n_fk++;
        err = add_problem(a, "foreign_key_check: %s row %lld refers to a missing row of %s",
                          text_or(s, 0, "?"), (long long)cg_db_column_int64(s, 1),
                          text_or(s, 2, "?"));
      }
    }
    if (rc == CG_DB_ROW || rc == CG_DB_OK)
      rc = CG_DB_DONE; /* stopped by err */
    if (err == 0 && rc != CG_DB_DONE) {
      if (is_damage(rc))
        err = add_problem(a, "%s: %s", sql[q], cg_db_errmsg(db));
      else
        err = sql_failed(db, rc, sql[q]);
    }
    cg_db_finalize(s);
    if (err != 0)
      return err;
    if (q == 0 && c->user_version < 0)
      return 0; /* unreadable: the problem says why; nothing more to learn */
  }
  if (c->user_version != c->expected_version)
    return add_problem(a,
                       c->user_version < c->expected_version
                           ? "schema version %d, this cmpgw uses %d: any cmpgw command "
                             "migrates it on open"
                           : "schema version %d, this cmpgw knows only up to %d: written by a "
                             "newer cmpgw",
                       c->user_version, c->expected_version);
  return 0;
}

int cg_query_check_file(const char *path, struct cg_query_check *out) {
  memset(out, 0, sizeof *out);
  struct stat sb;
  bool pg = cg_db_is_postgres(path);
  if (!pg && stat(path, &sb) != 0)
    return errno == ENOENT ? CG_ENOT_FOUND : CG_ESTORE;
  /* Read-write so that a WAL database can be read while its writer runs
   * (readers need the shared-memory index), but never created. */
  struct cg_db *db = NULL;
  if (cg_db_open(path, CG_DB_EXISTING, &db) != 0)
    return CG_ESTORE;
  struct check_arg a = {.c = out};
  int err = run(db, false, check_body, &a);
  /* BEGIN on a file that is not a database fails before the body runs. */
  if (!pg && err == CG_ESTORE && out->n_problems == 0 &&
      is_damage(sqlite3_extended_errcode(cg_db_sqlite(db)))) {
    out->user_version = -1;
    out->expected_version = CG_STORE_SCHEMA_VERSION;
    err = add_problem(&a, "%s", cg_db_errmsg(db));
  }
  cg_db_close(db);
  if (err != 0)
    cg_query_check_clear(out);
  return err;
}

int cg_query_backup(struct cg_store *st, const char *dest, int *pages) {
  *pages = 0;
  if (cg_db_engine(st->db) != CG_DB_SQLITE)
    return CG_EINVAL;
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(dest, &db, SQLITE_OPEN_READWRITE, NULL);
  if (rc != CG_DB_OK) {
    cg_error("store: opening %s: %s", dest, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return CG_ESTORE;
  }
  sqlite3_busy_timeout(db, CG_QUERY_BUSY_MS);
  sqlite3_backup *b = sqlite3_backup_init(db, "main", cg_db_sqlite(st->db), "main");
  if (b == NULL) {
    cg_error("store: starting the backup: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return CG_ESTORE;
  }
  /* All pages in one step: one read snapshot of the source, which in WAL
   * mode never blocks its writer. */
  int64_t deadline = monotonic_ms() + CG_QUERY_BUSY_MS;
  while ((rc = sqlite3_backup_step(b, -1)) != CG_DB_DONE) {
    if (!is_busy(rc) || monotonic_ms() >= deadline)
      break;
    pause_ms(10);
  }
  *pages = sqlite3_backup_pagecount(b);
  int frc = sqlite3_backup_finish(b);
  int err = 0;
  if (rc != CG_DB_DONE || frc != CG_DB_OK) {
    cg_error("store: backup to %s: %s", dest, sqlite3_errstr(rc != CG_DB_DONE ? rc : frc));
    err = is_busy(rc) ? CG_EBUSY : CG_ESTORE;
  }
  if (sqlite3_close(db) != CG_DB_OK && err == 0) {
    cg_error("store: closing %s: %s", dest, sqlite3_errmsg(db));
    err = CG_ESTORE;
  }
  return err;
}

/* ---- operators of the web console ---------------------------------------- */

bool cg_query_operator_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > CG_OPERATOR_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

bool cg_query_operator_role_ok(const char *role) {
  return !strcmp(role, "viewer") || !strcmp(role, "operator") || !strcmp(role, "admin");
}

#define OPERATOR_COLUMNS                                                                           \
  "SELECT name, role, password_hash, created_at, failed_attempts, locked_until, last_login_at"     \
  " FROM operators"

static int operator_row(struct cg_db_stmt *s, struct cg_query_operator *r) {
  memset(r, 0, sizeof *r);
  if (cg_store_sql_column_text(s, 0, r->name, sizeof r->name) != 0 ||
      cg_store_sql_column_text(s, 1, r->role, sizeof r->role) != 0 ||
      cg_store_sql_column_text(s, 2, r->password_hash, sizeof r->password_hash) != 0 ||
      col_time(s, 3, r->created_at, false) != 0 || col_time(s, 5, r->locked_until, true) != 0 ||
      col_time(s, 6, r->last_login_at, true) != 0)
    return not_fitting("operators");
  r->failed_attempts = cg_db_column_int64(s, 4);
  return 0;
}

struct operator_arg {
  const char *name, *role, *hash;
  char now[CG_QUERY_TIME];
  struct cg_query_operator *v;
  size_t n, cap;
  bool good, locked;
  unsigned max_failures, lock_s;
  int64_t now_s;
  const char *txid, *kind, *detail;
};

static int operator_add_body(struct cg_db *db, void *arg) {
  struct operator_arg *a = arg;
  char detail[CG_OPERATOR_NAME_MAX + 32];
  int err = exec_texts(db,
                       "INSERT INTO operators (name, role, password_hash, created_at)"
                       " VALUES (?1, ?2, ?3, ?4)",
                       "adding an operator", a->name, a->role, a->hash, a->now, NULL);
  snprintf(detail, sizeof detail, "operator=%s role=%s", a->name, a->role);
  return err != 0 ? err : event_row(db, a->now, NULL, "operator.added", detail);
}

int cg_query_operator_add(struct cg_store *st, const char *name, const char *role,
                          const char *password_hash, int64_t now) {
  if (!cg_query_operator_name_ok(name) || !cg_query_operator_role_ok(role))
    return CG_EINVAL;
  struct operator_arg a = {.name = name, .role = role, .hash = password_hash};
  cg_time_iso8601(now, a.now);
  return run(st->db, true, operator_add_body, &a);
}

static int operators_body(struct cg_db *db, void *arg) {
  struct operator_arg *a = arg;
  free(a->v);
  a->v = NULL;
  a->n = a->cap = 0;
  struct cg_db_stmt *s;
  int err = prepare(db,
                    a->name != NULL ? OPERATOR_COLUMNS " WHERE name = ?1"
                                    : OPERATOR_COLUMNS " ORDER BY name",
                    &s);
  if (err != 0)
    return err;
  if (a->name != NULL && cg_store_sql_bind_text(s, 1, a->name) != CG_DB_OK)
    err = cg_store_sql_bind_failed(db, "operator name");
  int rc = CG_DB_DONE;
  while (err == 0 && (rc = cg_db_step(s)) == CG_DB_ROW) {
    if ((err = grow((void **)&a->v, &a->cap, a->n, sizeof *a->v)) != 0 ||
        (err = operator_row(s, &a->v[a->n])) != 0)
      break;
    a->n++;
  }
  if (err == 0 && rc != CG_DB_DONE)
    err = sql_failed(db, rc, "reading operators");
  cg_db_finalize(s);
  return err;
}

int cg_query_operators(struct cg_store *st, struct cg_query_operator **out, size_t *n) {
  struct operator_arg a = {0};
  int err = run(st->db, false, operators_body, &a);
  if (err != 0) {
    free(a.v);
    a.v = NULL;
    a.n = 0;
  }
  *out = a.v;
  *n = a.n;
  return err;
}

int cg_query_operator(struct cg_store *st, const char *name, struct cg_query_operator *out) {
  memset(out, 0, sizeof *out);
  if (!cg_query_operator_name_ok(name))
    return CG_ENOT_FOUND;
  struct operator_arg a = {.name = name};
  int err = run(st->db, false, operators_body, &a);
  if (err == 0 && a.n == 0)
    err = CG_ENOT_FOUND;
  if (err == 0)
    *out = a.v[0];
  free(a.v);
  return err;
}

static int operator_remove_body(struct cg_db *db, void *arg) {
  struct operator_arg *a = arg;
  char detail[CG_OPERATOR_NAME_MAX + 16];
  int err = exec_texts(db, "DELETE FROM operators WHERE name = ?1", "removing an operator",
                       a->name, NULL);
  if (err == 0 && cg_db_changes(db) == 0)
    return CG_ENOT_FOUND;
  snprintf(detail, sizeof detail, "operator=%s", a->name);
  return err != 0 ? err : event_row(db, a->now, NULL, "operator.removed", detail);
}

int cg_query_operator_remove(struct cg_store *st, const char *name, int64_t now) {
  if (!cg_query_operator_name_ok(name))
    return CG_ENOT_FOUND;
  struct operator_arg a = {.name = name};
  cg_time_iso8601(now, a.now);
  return run(st->db, true, operator_remove_body, &a);
}

static int operator_passwd_body(struct cg_db *db, void *arg) {
  struct operator_arg *a = arg;
  char detail[CG_OPERATOR_NAME_MAX + 16];
  int err = exec_texts(db,
                       "UPDATE operators SET password_hash = ?2, failed_attempts = 0,"
                       " locked_until = NULL WHERE name = ?1",
                       "setting a password", a->name, a->hash, NULL);
  if (err == 0 && cg_db_changes(db) == 0)
    return CG_ENOT_FOUND;
  snprintf(detail, sizeof detail, "operator=%s", a->name);
  return err != 0 ? err : event_row(db, a->now, NULL, "operator.password", detail);
}

int cg_query_operator_passwd(struct cg_store *st, const char *name, const char *password_hash,
                             int64_t now) {
  if (!cg_query_operator_name_ok(name))
    return CG_ENOT_FOUND;
  struct operator_arg a = {.name = name, .hash = password_hash};
  cg_time_iso8601(now, a.now);
  return run(st->db, true, operator_passwd_body, &a);
}

static int operator_login_body(struct cg_db *db, void *arg) {
  struct operator_arg *a = arg;
  char detail[CG_OPERATOR_NAME_MAX + 16], until[CG_QUERY_TIME];
  snprintf(detail, sizeof detail, "operator=%s", a->name);
  a->locked = false;
  int err;
  if (a->good) {
    err = exec_texts(db,
                     "UPDATE operators SET failed_attempts = 0, locked_until = NULL,"
                     " last_login_at = ?2 WHERE name = ?1",
                     "recording a login", a->name, a->now, NULL);
    if (err == 0 && cg_db_changes(db) == 0)
      return CG_ENOT_FOUND;
    return err != 0 ? err : event_row(db, a->now, NULL, "operator.login", detail);
  }
  struct cg_db_stmt *s;
  if ((err = prepare(db,
                     "UPDATE operators SET failed_attempts = failed_attempts + 1 WHERE name = ?1"
                     " RETURNING failed_attempts",
                     &s)) != 0)
    return err;
  int64_t failures = -1;
  int rc = cg_store_sql_bind_text(s, 1, a->name) != CG_DB_OK ? CG_DB_ERROR : cg_db_step(s);
  if (rc == CG_DB_ROW) {
    failures = cg_db_column_int64(s, 0);
    rc = cg_db_step(s);
  }
  cg_db_finalize(s);
  if (rc != CG_DB_DONE)
    return sql_failed(db, rc, "counting a failed login");
  if (failures < 0)
    return CG_ENOT_FOUND;
  if ((err = event_row(db, a->now, NULL, "operator.login_failed", detail)) != 0)
    return err;
  if (a->max_failures == 0 || failures < (int64_t)a->max_failures)
    return 0;
  cg_time_iso8601(a->now_s + (int64_t)a->lock_s, until);
  if ((err = exec_texts(db,
                        "UPDATE operators SET failed_attempts = 0, locked_until = ?2"
                        " WHERE name = ?1",
                        "locking an operator", a->name, until, NULL)) != 0)
    return err;
  a->locked = true;
  return event_row(db, a->now, NULL, "operator.locked", detail);
}

int cg_query_operator_login(struct cg_store *st, const char *name, bool good, int64_t now,
                            unsigned max_failures, unsigned lock_s, bool *locked) {
  *locked = false;
  if (!cg_query_operator_name_ok(name))
    return CG_ENOT_FOUND;
  struct operator_arg a = {
      .name = name, .good = good, .max_failures = max_failures, .lock_s = lock_s, .now_s = now};
  cg_time_iso8601(now, a.now);
  int err = run(st->db, true, operator_login_body, &a);
  *locked = err == 0 && a.locked;
  return err;
}

static int event_add_body(struct cg_db *db, void *arg) {
  struct operator_arg *a = arg;
  return event_row(db, a->now, a->txid, a->kind, a->detail);
}

int cg_query_event_add(struct cg_store *st, int64_t now, const char *txid, const char *kind,
                       const char *detail) {
  struct operator_arg a = {.txid = txid, .kind = kind, .detail = detail};
  cg_time_iso8601(now, a.now);
  return run(st->db, true, event_add_body, &a);
}

/* ---- the web console's reads --------------------------------------------- */

void cg_query_pending_free(struct cg_query_pending *v, size_t n) {
  for (size_t i = 0; v != NULL && i < n; i++)
    free(v[i].request_der);
  free(v);
}

struct pending_arg {
  size_t offset, limit;
  struct cg_query_pending *v;
  size_t n, cap;
  int64_t total;
};

/* One integer a query without parameters returns. */
static int count_of(struct cg_db *db, const char *sql, const char *text, int64_t *out) {
  struct cg_db_stmt *s;
  int err = prepare(db, sql, &s);
  if (err != 0)
    return err;
  if (text != NULL && cg_store_sql_bind_text(s, 1, text) != CG_DB_OK) {
    cg_db_finalize(s);
    return cg_store_sql_bind_failed(db, "count");
  }
  int rc = cg_db_step(s);
  if (rc == CG_DB_ROW) {
    *out = cg_db_column_int64(s, 0);
    rc = cg_db_step(s);
  }
  cg_db_finalize(s);
  return rc == CG_DB_DONE ? 0 : sql_failed(db, rc, "counting");
}

static int pending_body(struct cg_db *db, void *arg) {
  struct pending_arg *a = arg;
  cg_query_pending_free(a->v, a->n);
  a->v = NULL;
  a->n = a->cap = 0;
  int err = count_of(db, "SELECT count(*) FROM transactions WHERE state = 'pending_approval'",
                     NULL, &a->total);
  struct cg_db_stmt *s;
  if (err != 0 ||
      (err = prepare(db,
                     "SELECT transaction_id, profile, auth_ref, req_type, state, failinfo,"
                     " cert_req_id, sender_nonce, cert_serial, created_at, updated_at, request_der"
                     " FROM transactions WHERE state = 'pending_approval'"
                     " ORDER BY rowid LIMIT ?1 OFFSET ?2",
                     &s)) != 0)
    return err;
  if ((cg_db_bind_int64(s, 1, sql_limit(a->limit)) |
       cg_db_bind_int64(s, 2, a->offset > (size_t)INT64_MAX ? INT64_MAX : (int64_t)a->offset)) !=
      CG_DB_OK)
    err = cg_store_sql_bind_failed(db, "page");
  int rc = CG_DB_DONE;
  while (err == 0 && (rc = cg_db_step(s)) == CG_DB_ROW) {
    if ((err = grow((void **)&a->v, &a->cap, a->n, sizeof *a->v)) != 0)
      break;
    struct cg_query_pending *p = &a->v[a->n];
    memset(p, 0, sizeof *p);
    a->n++;
    if ((err = txn_row(s, &p->txn)) != 0)
      break;
    const void *der = cg_db_column_blob(s, 11);
    int len = cg_db_column_bytes(s, 11);
    if (der != NULL && len > 0) {
      if ((p->request_der = malloc((size_t)len)) == NULL) {
        err = CG_ENOMEM;
        break;
      }
      memcpy(p->request_der, der, (size_t)len);
      p->request_der_len = (size_t)len;
    }
  }
  if (err == 0 && rc != CG_DB_DONE)
    err = sql_failed(db, rc, "reading waiting transactions");
  cg_db_finalize(s);
  return err;
}

int cg_query_pending(struct cg_store *st, size_t offset, size_t limit,
                     struct cg_query_pending **out, size_t *n, int64_t *total) {
  struct pending_arg a = {.offset = offset, .limit = limit};
  int err = run(st->db, false, pending_body, &a);
  if (err != 0) {
    cg_query_pending_free(a.v, a.n);
    a.v = NULL;
    a.n = 0;
    a.total = 0;
  }
  *out = a.v;
  *n = a.n;
  *total = a.total;
  return err;
}

struct dashboard_arg {
  int64_t now;
  struct cg_query_dashboard *d;
};

static int dashboard_body(struct cg_db *db, void *arg) {
  struct dashboard_arg *a = arg;
  struct cg_query_dashboard *d = a->d;
  memset(d, 0, sizeof *d);
  char now[CG_QUERY_TIME], in30[CG_QUERY_TIME], since[CG_QUERY_TIME];
  cg_time_iso8601(a->now, now);
  cg_time_iso8601(a->now + 30 * 86400, in30);
  int64_t first_hour = a->now / 3600 * 3600 - (CG_QUERY_HOURS - 1) * 3600;
  cg_time_iso8601(first_hour, since);
  int err = 0;
  /* The waiting ones through the index transactions_state. */
  static const struct {
    const char *sql;
    size_t off;
  } counts[] = {
      {"SELECT count(*) FROM transactions WHERE state = 'pending_approval'",
       offsetof(struct cg_query_dashboard, pending_approval)},
      {"SELECT count(*) FROM transactions WHERE state = 'pending_ca'",
       offsetof(struct cg_query_dashboard, pending_ca)},
  };
  for (size_t i = 0; err == 0 && i < sizeof counts / sizeof counts[0]; i++)
    err = count_of(db, counts[i].sql, NULL, (int64_t *)((char *)d + counts[i].off));
  if (err == 0)
    err = count_of(db, "SELECT count(*) FROM secrets WHERE locked_until > ?1", now,
                   &d->secrets_locked);
  if (err == 0)
    err = count_of(db,
                   "SELECT count(*) FROM secrets WHERE revoked_at IS NULL"
                   " AND (expires_at IS NULL OR expires_at > ?1)",
                   now, &d->secrets_active);
  /* The certificates in one pass over the table (no index serves these
   * counts; the console keeps the result a few seconds). */
  struct cg_db_stmt *s = NULL;
  if (err == 0)
    err = prepare(db,
                  "SELECT coalesce(sum(CASE WHEN status = 'valid' THEN 1 ELSE 0 END), 0),"
                  " coalesce(sum(CASE WHEN status = 'unconfirmed' THEN 1 ELSE 0 END), 0),"
                  " coalesce(sum(CASE WHEN status = 'revoked' THEN 1 ELSE 0 END), 0),"
                  " coalesce(sum(CASE WHEN status = 'valid' AND not_after > ?1"
                  "                    AND not_after <= ?2 THEN 1 ELSE 0 END), 0)"
                  " FROM certificates",
                  &s);
  if (err == 0) {
    int rc = (cg_store_sql_bind_text(s, 1, now) | cg_store_sql_bind_text(s, 2, in30)) != CG_DB_OK
                 ? CG_DB_ERROR
                 : cg_db_step(s);
    if (rc == CG_DB_ROW) {
      d->certs_valid = cg_db_column_int64(s, 0);
      d->certs_unconfirmed = cg_db_column_int64(s, 1);
      d->certs_revoked = cg_db_column_int64(s, 2);
      d->expiring_30d = cg_db_column_int64(s, 3);
      rc = cg_db_step(s);
    }
    err = rc == CG_DB_DONE ? 0 : sql_failed(db, rc, "counting certificates");
    cg_db_finalize(s);
  }
  /* The last day's transactions, by hour and kind, and their failures:
   * counted as they were written (transactions_hourly, schema 19). */
  if (err == 0)
    err = prepare(db,
                  "SELECT hour, req_type, failinfo, profile, sum(n) FROM transactions_hourly"
                  " WHERE hour >= ?1 GROUP BY hour, req_type, failinfo, profile",
                  &s);
  if (err != 0)
    return err;
  since[13] = '\0'; /* YYYY-MM-DDTHH */
  int rc = cg_store_sql_bind_text(s, 1, since) != CG_DB_OK ? CG_DB_ERROR : CG_DB_OK;
  while (rc == CG_DB_OK || rc == CG_DB_ROW) {
    if ((rc = cg_db_step(s)) != CG_DB_ROW)
      break;
    char hour[16], type[12], profile[CMP_MAX_PROFILE + 1], iso[32];
    if (cg_store_sql_column_text(s, 0, hour, sizeof hour) != 0 ||
        cg_store_sql_column_text(s, 1, type, sizeof type) != 0 ||
        cg_store_sql_column_text(s, 3, profile, sizeof profile) != 0 || strlen(hour) != 13)
      continue;
    snprintf(iso, sizeof iso, "%s:00:00Z", hour);
    int64_t t;
    if (cg_time_parse_iso8601(iso, &t) != 0 || t < first_hour)
      continue;
    size_t h = (size_t)((t - first_hour) / 3600);
    if (h >= CG_QUERY_HOURS)
      continue;
    int64_t fi = cg_db_column_int64(s, 2), n = cg_db_column_int64(s, 4);
    bool failed = fi != -1; /* -1: begun; -2: failed without a failInfo */
    if (failed) {
      d->failures[h] += n;
      d->by_failinfo[fi >= 0 && fi < CG_QUERY_FAILINFO_BITS ? fi : CG_QUERY_FAILINFO_BITS] += n;
    } else if (!strcmp(type, "kur"))
      d->renewals[h] += n;
    else if (!strcmp(type, "rr"))
      d->revocations[h] += n;
    else if (!strcmp(type, "ir") || !strcmp(type, "cr") || !strcmp(type, "p10cr"))
      d->enrolments[h] += n;
    size_t k = 0;
    while (k < d->n_profiles && strcmp(d->profile[k], profile) != 0)
      k++;
    if (k == d->n_profiles && k < 10) {
      memcpy(d->profile[k], profile, sizeof d->profile[k]);
      d->n_profiles++;
    }
    if (k < 10) {
      d->profile_total[k] += failed ? 0 : n;
      d->profile_failed[k] += failed ? n : 0;
    }
  }
  cg_db_finalize(s);
  return rc == CG_DB_DONE ? 0 : sql_failed(db, rc, "reading the last day's transactions");
}

int cg_query_dashboard(struct cg_store *st, int64_t now, struct cg_query_dashboard *out) {
  struct dashboard_arg a = {.now = now, .d = out};
  return run(st->db, false, dashboard_body, &a);
}
