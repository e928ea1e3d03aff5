/*
 * db_pg.c - store/db.h on PostgreSQL, with libpq's synchronous calls: the
 * store thread (and each worker's reader) owns its connection and waits for
 * each answer, as it waits for SQLite's (docs/architecture.md says why).
 *
 * A persistent statement is prepared on the server (PQprepare) at its first
 * step and run with PQexecPrepared after; any other runs with PQexecParams.
 * Values go as text, BLOBs as binary; results come as text, and a bytea
 * column is decoded (PQunescapeBytea) when it is read.
 *
 * A connection that broke (the server restarted, the network) is made again
 * by the next statement that runs outside a transaction, so that service
 * resumes by itself; the statements are then prepared again (generation).
 * What failed meanwhile failed with CG_DB_CANTOPEN.  Attempts are at least a
 * second apart, so an outage does not turn every request into a connect.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "store/db_int.h"

#define BYTEAOID 17

/* The password of [store] password_file, or NULL. */
static char *password;

struct cg_pg {
  PGconn *conn;
  unsigned gen;       /* connections made: a statement prepared in another is stale */
  unsigned next_name; /* prepared statement names */
  int64_t changes;
  int64_t retry_at_ms; /* no reconnect before (monotonic) */
  /* The connection broke inside a transaction: nothing runs (and no
   * reconnect happens, which would run the rest of the transaction's
   * statements on their own) until the caller's ROLLBACK ends it. */
  bool broken_txn;
  char err[512];
};

struct cg_pg_stmt {
  struct cg_pg *c;
  char *sql; /* with $N */
  char name[16];
  bool persistent;
  unsigned gen; /* prepared in this connection; 0: not prepared */
  int nparams;
  char **values;
  int *lengths, *formats;
  PGresult *res;
  bool ran;
  int row, nrows;
  /* bytea columns of the current row, decoded when read */
  unsigned char **blob;
  size_t *blob_len;
  int ncols_cached;
};

int cg_db_password_file(const char *path) {
  free(password);
  password = NULL;
  if (path == NULL || path[0] == '\0')
    return 0;
  FILE *f = fopen(path, "re");
  char line[1024];
  if (f == NULL || fgets(line, sizeof line, f) == NULL) {
    cg_error("store: reading the database password from %s: %s", path,
             f == NULL ? "cannot open it" : "it is empty");
    if (f != NULL)
      fclose(f);
    return CG_ESTORE;
  }
  fclose(f);
  line[strcspn(line, "\r\n")] = '\0';
  password = strdup(line);
  explicit_bzero(line, sizeof line);
  return password != NULL ? 0 : CG_ESTORE;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libpq's messages end in a newline; ours do not. */
static void keep_error(struct cg_pg *c, const char *msg) {
  snprintf(c->err, sizeof c->err, "%s", msg != NULL && msg[0] != '\0' ? msg : "unknown error");
  size_t n = strlen(c->err);
  while (n > 0 && (c->err[n - 1] == '\n' || c->err[n - 1] == ' '))
    c->err[--n] = '\0';
}

static PGconn *connect_to(const char *locator) {
  /* Ours first: the locator's own words (expand_dbname) override them. */
  const char *keys[] = {"connect_timeout", "application_name", "password", "dbname", NULL};
  const char *vals[] = {"5", "cmpgw", password, locator, NULL};
  if (password == NULL) {
    keys[2] = "dbname";
    vals[2] = locator;
    keys[3] = vals[3] = NULL;
  }
  return PQconnectdbParams(keys, vals, 1);
}

/* Settings every session of the store has: UTF-8, and a lock or statement
 * that waits longer than a client would is an error the store reports,
 * not a request that hangs. */
static const char session_sql[] = "SET client_encoding = 'UTF8';"
                                  "SET statement_timeout = '30s';"
                                  "SET lock_timeout = '5s';"
                                  "SET idle_in_transaction_session_timeout = '60s'";

int cg_pg_open(const char *locator, enum cg_db_mode mode, struct cg_pg **out) {
  *out = NULL;
  struct cg_pg *c = calloc(1, sizeof *c);
  if (c == NULL)
    return CG_ENOMEM;
  c->conn = connect_to(locator);
  if (c->conn == NULL) {
    free(c);
    return CG_ENOMEM;
  }
  if (PQstatus(c->conn) != CONNECTION_OK) {
    keep_error(c, PQerrorMessage(c->conn));
    cg_error("store: connecting to PostgreSQL: %s", c->err);
    PQfinish(c->conn);
    free(c);
    return CG_ESTORE;
  }
  c->gen = 1;
  char sql[sizeof session_sql + 64];
  snprintf(sql, sizeof sql, "%s%s", session_sql,
           mode == CG_DB_READER ? ";SET default_transaction_read_only = on" : "");
  if (cg_pg_exec(c, sql) != CG_DB_OK) {
    cg_error("store: setting up the PostgreSQL session: %s", c->err);
    PQfinish(c->conn);
    free(c);
    return CG_ESTORE;
  }
  *out = c;
  return 0;
}

int cg_pg_close(struct cg_pg *c) {
  if (c != NULL) {
    PQfinish(c->conn);
    free(c);
  }
  return 0;
}

const char *cg_pg_errmsg(struct cg_pg *c) { return c->err; }

int64_t cg_pg_changes(struct cg_pg *c) { return c->changes; }

bool cg_pg_in_txn(struct cg_pg *c) {
  PGTransactionStatusType t = PQtransactionStatus(c->conn);
  return c->broken_txn || t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

bool cg_pg_reachable(struct cg_pg *c) {
  return !c->broken_txn && PQstatus(c->conn) == CONNECTION_OK;
}

bool cg_pg_txn_failed(struct cg_pg *c) {
  return c->broken_txn || PQtransactionStatus(c->conn) != PQTRANS_INTRANS;
}

/* A broken connection, outside a transaction: made again (at most once a
 * second).  CG_DB_OK when the connection is usable. */
static int usable(struct cg_pg *c) {
  if (PQstatus(c->conn) == CONNECTION_OK)
    return CG_DB_OK;
  int64_t t = now_ms();
  if (t < c->retry_at_ms) {
    keep_error(c, "the connection to PostgreSQL is lost; trying again shortly");
    return CG_DB_CANTOPEN;
  }
  c->retry_at_ms = t + 1000;
  PQreset(c->conn);
  if (PQstatus(c->conn) != CONNECTION_OK) {
    keep_error(c, PQerrorMessage(c->conn));
    return CG_DB_CANTOPEN;
  }
  c->gen++;
  if (cg_pg_exec(c, session_sql) != CG_DB_OK)
    return CG_DB_CANTOPEN;
  cg_info("store: connected to PostgreSQL again");
  return CG_DB_OK;
}

/* The code of a failed result (store/db.h's mapping of SQLSTATEs);
 * in_txn: whether a transaction was open when it ran. */
static int failure(struct cg_pg *c, const PGresult *res, bool in_txn) {
  if (PQstatus(c->conn) != CONNECTION_OK && in_txn)
    c->broken_txn = true;
  const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  keep_error(c, res != NULL && PQresultErrorMessage(res)[0] != '\0' ? PQresultErrorMessage(res)
                                                                    : PQerrorMessage(c->conn));
  if (state == NULL || PQstatus(c->conn) != CONNECTION_OK || !strncmp(state, "08", 2) ||
      !strcmp(state, "57P01") || !strcmp(state, "57P02") || !strcmp(state, "57P03"))
    return CG_DB_CANTOPEN; /* no connection, or the server is going down */
  if (strcmp(state, "23505") == 0)
    return CG_DB_CONSTRAINT_UNIQUE;
  if (strncmp(state, "23", 2) == 0)
    return CG_DB_CONSTRAINT;
  if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
    return CG_DB_BUSY;
  if (!strcmp(state, "53200"))
    return CG_DB_NOMEM;
  if (!strncmp(state, "08", 2) || !strncmp(state, "53", 2) || !strncmp(state, "57", 2) ||
      !strncmp(state, "58", 2))
    return CG_DB_IOERR;
  if (!strcmp(state, "25006"))
    return CG_DB_READONLY;
  return CG_DB_ERROR;
}

/* Whether sql ends a transaction by rolling it back (not ROLLBACK TO). */
static bool is_rollback(const char *sql) {
  if (strncasecmp(sql, "ROLLBACK", 8) != 0)
    return false;
  sql += 8;
  while (*sql == ' ')
    sql++;
  return strncasecmp(sql, "TO", 2) != 0;
}

/* Before sql runs: CG_DB_OK to run it, CG_DB_DONE when there is nothing
 * to run (the ROLLBACK of a transaction the broken connection ended), or
 * the failure. */
static int before(struct cg_pg *c, const char *sql) {
  if (c->broken_txn) {
    if (!is_rollback(sql)) {
      keep_error(c, "the connection to PostgreSQL broke during the transaction");
      return CG_DB_CANTOPEN;
    }
    c->broken_txn = false;
    return CG_DB_DONE;
  }
  return PQstatus(c->conn) == CONNECTION_OK ? CG_DB_OK : usable(c);
}

int cg_pg_exec(struct cg_pg *c, const char *sql) {
  int rc = before(c, sql);
  if (rc != CG_DB_OK)
    return rc == CG_DB_DONE ? CG_DB_OK : rc;
  bool in_txn = cg_pg_in_txn(c);
  PGresult *res = PQexec(c->conn, sql);
  ExecStatusType st = PQresultStatus(res);
  rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? CG_DB_OK : failure(c, res, in_txn);
  PQclear(res);
  return rc;
}

/* ---- statements ---------------------------------------------------------- */

/* sql with each ?N made $N (outside quotes); *n gets the largest N.  NULL
 * when out of memory or a ? has no number. */
static char *dollars(const char *sql, int *n) {
  size_t len = strlen(sql);
  char *out = malloc(len + 1);
  if (out == NULL)
    return NULL;
  char quote = 0;
  size_t j = 0;
  *n = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = sql[i];
    if (quote != 0) {
      if (ch == quote)
        quote = 0;
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
    } else if (ch == '?') {
      if (sql[i + 1] < '0' || sql[i + 1] > '9') {
        free(out);
        return NULL;
      }
      int v = atoi(sql + i + 1);
      if (v > *n)
        *n = v;
      ch = '$';
    }
    out[j++] = ch;
  }
  out[j] = '\0';
  return out;
}

int cg_pg_prepare(struct cg_pg *c, const char *sql, bool persistent, struct cg_pg_stmt **out) {
  *out = NULL;
  struct cg_pg_stmt *s = calloc(1, sizeof *s);
  if (s == NULL)
    return CG_DB_NOMEM;
  s->c = c;
  s->persistent = persistent;
  s->sql = dollars(sql, &s->nparams);
  if (s->sql == NULL) {
    free(s);
    keep_error(c, "a parameter without its number");
    return CG_DB_ERROR;
  }
  if (s->nparams > 0) {
    s->values = calloc((size_t)s->nparams, sizeof *s->values);
    s->lengths = calloc((size_t)s->nparams, sizeof *s->lengths);
    s->formats = calloc((size_t)s->nparams, sizeof *s->formats);
    if (s->values == NULL || s->lengths == NULL || s->formats == NULL) {
      cg_pg_finalize(s);
      return CG_DB_NOMEM;
    }
  }
  snprintf(s->name, sizeof s->name, "cg%u", ++c->next_name);
  *out = s;
  return CG_DB_OK;
}

static void forget_blobs(struct cg_pg_stmt *s) {
  for (int i = 0; i < s->ncols_cached; i++) {
    PQfreemem(s->blob[i]);
    s->blob[i] = NULL;
  }
}

void cg_pg_reset(struct cg_pg_stmt *s) {
  forget_blobs(s);
  PQclear(s->res);
  s->res = NULL;
  s->ran = false;
  s->row = s->nrows = 0;
}

void cg_pg_clear_bindings(struct cg_pg_stmt *s) {
  for (int i = 0; i < s->nparams; i++) {
    free(s->values[i]);
    s->values[i] = NULL;
  }
}

void cg_pg_finalize(struct cg_pg_stmt *s) {
  if (s == NULL)
    return;
  cg_pg_reset(s);
  if (s->values != NULL)
    cg_pg_clear_bindings(s);
  /* A server-side statement goes with its connection (the store's
   * statements live as long as it does). */
  free(s->values);
  free(s->lengths);
  free(s->formats);
  free(s->blob);
  free(s->blob_len);
  free(s->sql);
  free(s);
}

int cg_pg_param_count(struct cg_pg_stmt *s) { return s->nparams; }

int cg_pg_bind(struct cg_pg_stmt *s, int i, const void *v, size_t len, int format) {
  if (i < 1 || i > s->nparams)
    return 25; /* SQLITE_RANGE */
  char *copy = NULL;
  if (v != NULL) {
    if (len > INT32_MAX || (copy = malloc(len + 1)) == NULL)
      return CG_DB_NOMEM;
    memcpy(copy, v, len);
    copy[len] = '\0';
  }
  free(s->values[i - 1]);
  s->values[i - 1] = copy;
  s->lengths[i - 1] = (int)len;
  s->formats[i - 1] = format;
  return CG_DB_OK;
}

static int run(struct cg_pg_stmt *s) {
  struct cg_pg *c = s->c;
  int rc = before(c, s->sql);
  if (rc == CG_DB_DONE) {
    s->ran = true;
    s->row = s->nrows = 0;
  }
  if (rc != CG_DB_OK)
    return rc;
  bool in_txn = cg_pg_in_txn(c);
  if (s->persistent && s->gen != c->gen) {
    PGresult *p = PQprepare(c->conn, s->name, s->sql, s->nparams, NULL);
    rc = PQresultStatus(p) == PGRES_COMMAND_OK ? CG_DB_OK : failure(c, p, in_txn);
    PQclear(p);
    if (rc != CG_DB_OK)
      return rc;
    s->gen = c->gen;
  }
  const char *const *values = (const char *const *)s->values;
  s->res = s->persistent
               ? PQexecPrepared(c->conn, s->name, s->nparams, values, s->lengths, s->formats, 0)
               : PQexecParams(c->conn, s->sql, s->nparams, NULL, values, s->lengths, s->formats, 0);
  ExecStatusType st = PQresultStatus(s->res);
  if (st == PGRES_TUPLES_OK) {
    s->nrows = PQntuples(s->res);
    int ncols = PQnfields(s->res);
    if (ncols > s->ncols_cached) {
      unsigned char **b = realloc(s->blob, (size_t)ncols * sizeof *b);
      if (b == NULL)
        return CG_DB_NOMEM;
      s->blob = b;
      size_t *l = realloc(s->blob_len, (size_t)ncols * sizeof *l);
      if (l == NULL)
        return CG_DB_NOMEM;
      s->blob_len = l;
      for (int i = s->ncols_cached; i < ncols; i++)
        s->blob[i] = NULL;
      s->ncols_cached = ncols;
    }
  } else if (st == PGRES_COMMAND_OK) {
    s->nrows = 0;
    c->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
  } else {
    rc = failure(c, s->res, in_txn);
    PQclear(s->res);
    s->res = NULL;
    return rc;
  }
  s->ran = true;
  s->row = -1;
  return CG_DB_OK;
}

int cg_pg_step(struct cg_pg_stmt *s) {
  if (!s->ran) {
    int rc = run(s); /* CG_DB_DONE: a ROLLBACK the broken connection made for us */
    if (rc != CG_DB_OK)
      return rc;
  }
  forget_blobs(s);
  if (s->row < s->nrows)
    s->row++;
  return s->row < s->nrows ? CG_DB_ROW : CG_DB_DONE;
}

bool cg_pg_column_null(struct cg_pg_stmt *s, int col) {
  return s->res == NULL || s->row < 0 || s->row >= s->nrows || col < 0 ||
         col >= PQnfields(s->res) || PQgetisnull(s->res, s->row, col);
}

const void *cg_pg_column(struct cg_pg_stmt *s, int col, int *len) {
  if (PQftype(s->res, col) != BYTEAOID) {
    *len = PQgetlength(s->res, s->row, col);
    return PQgetvalue(s->res, s->row, col);
  }
  if (s->blob[col] == NULL) {
    s->blob[col] =
        PQunescapeBytea((const unsigned char *)PQgetvalue(s->res, s->row, col), &s->blob_len[col]);
    if (s->blob[col] == NULL) {
      *len = 0;
      return NULL;
    }
  }
  *len = (int)s->blob_len[col];
  return s->blob[col];
}
