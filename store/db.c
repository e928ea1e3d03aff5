/*
 * db.c - store/db.h: the SQLite side, and the dispatch to the PostgreSQL
 * side (db_pg.c) for a connection that is not SQLite's.  On SQLite every
 * call is the SQLite call of the same name; the result codes are SQLite's
 * own.
 */
#include "store/db.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/db_int.h"

_Static_assert(CG_DB_ROW == SQLITE_ROW && CG_DB_DONE == SQLITE_DONE && CG_DB_BUSY == SQLITE_BUSY &&
                   CG_DB_LOCKED == SQLITE_LOCKED && CG_DB_NOMEM == SQLITE_NOMEM &&
                   CG_DB_IOERR == SQLITE_IOERR && CG_DB_CORRUPT == SQLITE_CORRUPT &&
                   CG_DB_CANTOPEN == SQLITE_CANTOPEN && CG_DB_NOTADB == SQLITE_NOTADB &&
                   CG_DB_READONLY == SQLITE_READONLY &&
                   CG_DB_CONSTRAINT_UNIQUE == SQLITE_CONSTRAINT_UNIQUE &&
                   CG_DB_CONSTRAINT_PRIMARYKEY == SQLITE_CONSTRAINT_PRIMARYKEY &&
                   CG_DB_NULL == SQLITE_NULL,
               "store/db.h's codes are SQLite's");

bool cg_db_is_postgres(const char *locator) {
  return strncmp(locator, "postgresql://", 13) == 0 || strncmp(locator, "postgres://", 11) == 0 ||
         strchr(locator, '=') != NULL;
}

/* A database the gateway will create is made first, empty, readable by its
 * owner only: SQLite creates the WAL and shared-memory files with the
 * database's mode, and they hold the same data. */
static void create_private(const char *path) {
  if (strcmp(path, ":memory:") == 0)
    return;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0)
    close(fd);
}

int cg_db_open(const char *locator, enum cg_db_mode mode, struct cg_db **out) {
  *out = NULL;
  struct cg_db *db = calloc(1, sizeof *db);
  if (db == NULL)
    return CG_ENOMEM;
  if (cg_db_is_postgres(locator)) {
    db->engine = CG_DB_POSTGRES;
    int err = cg_pg_open(locator, mode, &db->pg);
    if (err != 0) {
      free(db);
      return err;
    }
    *out = db;
    return 0;
  }
  db->engine = CG_DB_SQLITE;
  int flags = mode == CG_DB_WRITER   ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
              : mode == CG_DB_READER ? SQLITE_OPEN_READONLY
                                     : SQLITE_OPEN_READWRITE;
  if (mode == CG_DB_WRITER)
    create_private(locator);
  /* One thread at a time uses a connection: no SQLite mutex. */
  int rc = sqlite3_open_v2(locator, &db->sq, flags | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    cg_error("store: opening %s: %s", locator,
             db->sq ? sqlite3_errmsg(db->sq) : sqlite3_errstr(rc));
    sqlite3_close(db->sq);
    free(db);
    return CG_ESTORE;
  }
  sqlite3_extended_result_codes(db->sq, 1);
  sqlite3_busy_timeout(db->sq, 5000);
  *out = db;
  return 0;
}

struct sqlite3 *cg_db_sqlite(struct cg_db *db) {
  return db->sq;
}

enum cg_db_engine cg_db_engine(const struct cg_db *db) { return db->engine; }

int cg_db_close(struct cg_db *db) {
  if (db == NULL)
    return 0;
  int rc = db->sq != NULL ? sqlite3_close(db->sq) : cg_pg_close(db->pg);
  if (rc != SQLITE_OK && db->sq != NULL) {
    cg_error("store: closing: %s", sqlite3_errmsg(db->sq));
    sqlite3_close_v2(db->sq);
  }
  free(db);
  return rc;
}

const char *cg_db_errmsg(struct cg_db *db) {
  return db->sq != NULL ? sqlite3_errmsg(db->sq) : cg_pg_errmsg(db->pg);
}

int cg_db_exec(struct cg_db *db, const char *sql) {
  return db->sq != NULL ? sqlite3_exec(db->sq, sql, NULL, NULL, NULL) : cg_pg_exec(db->pg, sql);
}

int64_t cg_db_changes(struct cg_db *db) {
  return db->sq != NULL ? sqlite3_changes64(db->sq) : cg_pg_changes(db->pg);
}

bool cg_db_in_txn(struct cg_db *db) {
  return db->sq != NULL ? !sqlite3_get_autocommit(db->sq) : cg_pg_in_txn(db->pg);
}

bool cg_db_txn_failed(struct cg_db *db) {
  /* SQLite leaves autocommit mode again when it rolled back by itself. */
  return db->sq != NULL ? sqlite3_get_autocommit(db->sq) != 0 : cg_pg_txn_failed(db->pg);
}

bool cg_db_reachable(struct cg_db *db) { return db->sq != NULL || cg_pg_reachable(db->pg); }

int cg_db_prepare(struct cg_db *db, const char *sql, bool persistent, struct cg_db_stmt **out) {
  *out = NULL;
  struct cg_db_stmt *s = calloc(1, sizeof *s);
  if (s == NULL)
    return CG_DB_NOMEM;
  s->db = db;
  int rc = db->sq != NULL
               ? sqlite3_prepare_v3(db->sq, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0,
                                    &s->sq, NULL)
               : cg_pg_prepare(db->pg, sql, persistent, &s->pg);
  if (rc != SQLITE_OK) {
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void cg_db_finalize(struct cg_db_stmt *s) {
  if (s == NULL)
    return;
  if (s->sq != NULL)
    sqlite3_finalize(s->sq);
  else
    cg_pg_finalize(s->pg);
  free(s);
}

int cg_db_reset(struct cg_db_stmt *s) {
  if (s->sq != NULL)
    return sqlite3_reset(s->sq);
  cg_pg_reset(s->pg);
  return 0;
}

int cg_db_clear_bindings(struct cg_db_stmt *s) {
  if (s->sq != NULL)
    return sqlite3_clear_bindings(s->sq);
  cg_pg_clear_bindings(s->pg);
  return 0;
}

int cg_db_param_count(struct cg_db_stmt *s) {
  return s->sq != NULL ? sqlite3_bind_parameter_count(s->sq) : cg_pg_param_count(s->pg);
}

int cg_db_bind_text(struct cg_db_stmt *s, int i, const char *v, int len) {
  if (s->sq != NULL)
    return sqlite3_bind_text(s->sq, i, v, len, SQLITE_STATIC);
  return cg_pg_bind(s->pg, i, v, v == NULL ? 0 : len < 0 ? strlen(v) : (size_t)len, 0);
}

int cg_db_bind_text_copy(struct cg_db_stmt *s, int i, const char *v) {
  if (s->sq != NULL)
    return sqlite3_bind_text(s->sq, i, v, -1, SQLITE_TRANSIENT);
  return cg_pg_bind(s->pg, i, v, v == NULL ? 0 : strlen(v), 0);
}

int cg_db_bind_blob(struct cg_db_stmt *s, int i, const void *v, int len) {
  if (s->sq != NULL)
    return sqlite3_bind_blob(s->sq, i, v, len, SQLITE_STATIC);
  /* An empty BLOB is a value, not NULL. */
  return cg_pg_bind(s->pg, i, v != NULL ? v : "", (size_t)len, 1);
}

int cg_db_bind_int64(struct cg_db_stmt *s, int i, int64_t v) {
  if (s->sq != NULL)
    return sqlite3_bind_int64(s->sq, i, (sqlite3_int64)v);
  char text[24];
  int n = snprintf(text, sizeof text, "%lld", (long long)v);
  return cg_pg_bind(s->pg, i, text, (size_t)n, 0);
}

int cg_db_bind_null(struct cg_db_stmt *s, int i) {
  return s->sq != NULL ? sqlite3_bind_null(s->sq, i) : cg_pg_bind(s->pg, i, NULL, 0, 0);
}

int cg_db_step(struct cg_db_stmt *s) {
  return s->sq != NULL ? sqlite3_step(s->sq) : cg_pg_step(s->pg);
}

int cg_db_column_type(struct cg_db_stmt *s, int col) {
  if (s->sq != NULL)
    return sqlite3_column_type(s->sq, col);
  return cg_pg_column_null(s->pg, col) ? CG_DB_NULL : SQLITE_TEXT;
}

const unsigned char *cg_db_column_text(struct cg_db_stmt *s, int col) {
  if (s->sq != NULL)
    return sqlite3_column_text(s->sq, col);
  int len = 0;
  return cg_pg_column_null(s->pg, col) ? NULL : cg_pg_column(s->pg, col, &len);
}

const void *cg_db_column_blob(struct cg_db_stmt *s, int col) {
  if (s->sq != NULL)
    return sqlite3_column_blob(s->sq, col);
  int len = 0;
  return cg_pg_column_null(s->pg, col) ? NULL : cg_pg_column(s->pg, col, &len);
}

int cg_db_column_bytes(struct cg_db_stmt *s, int col) {
  if (s->sq != NULL)
    return sqlite3_column_bytes(s->sq, col);
  int len = 0;
  if (!cg_pg_column_null(s->pg, col))
    cg_pg_column(s->pg, col, &len);
  return len;
}

int64_t cg_db_column_int64(struct cg_db_stmt *s, int col) {
  if (s->sq != NULL)
    return sqlite3_column_int64(s->sq, col);
  int len = 0;
  const char *v = cg_pg_column_null(s->pg, col) ? NULL : cg_pg_column(s->pg, col, &len);
  if (v == NULL)
    return 0;
  if (strcmp(v, "t") == 0)
    return 1;
  if (strcmp(v, "f") == 0)
    return 0;
  return strtoll(v, NULL, 10);
}

int cg_db_column_int(struct cg_db_stmt *s, int col) { return (int)cg_db_column_int64(s, col); }
