/*
 * db_int.h - private to db.c and db_pg.c: the connection and statement
 * objects of store/db.h, and the PostgreSQL side's entry points, which db.c
 * calls for a connection that is not SQLite's.
 */
#ifndef CG_STORE_DB_INT_H
#define CG_STORE_DB_INT_H

#include <sqlite3.h>

#include "store/db.h"

struct cg_pg;
struct cg_pg_stmt;

struct cg_db {
  enum cg_db_engine engine;
  sqlite3 *sq;       /* CG_DB_SQLITE */
  struct cg_pg *pg;  /* CG_DB_POSTGRES */
};

struct cg_db_stmt {
  struct cg_db *db;
  sqlite3_stmt *sq;
  struct cg_pg_stmt *pg;
};

int cg_pg_open(const char *locator, enum cg_db_mode mode, struct cg_pg **out);
int cg_pg_close(struct cg_pg *c);
const char *cg_pg_errmsg(struct cg_pg *c);
int cg_pg_exec(struct cg_pg *c, const char *sql);
int64_t cg_pg_changes(struct cg_pg *c);
bool cg_pg_in_txn(struct cg_pg *c);
bool cg_pg_txn_failed(struct cg_pg *c);
bool cg_pg_reachable(struct cg_pg *c);

int cg_pg_prepare(struct cg_pg *c, const char *sql, bool persistent, struct cg_pg_stmt **out);
void cg_pg_finalize(struct cg_pg_stmt *s);
void cg_pg_reset(struct cg_pg_stmt *s);
void cg_pg_clear_bindings(struct cg_pg_stmt *s);
int cg_pg_param_count(struct cg_pg_stmt *s);
/* format 0: text (v NUL terminated after len octets are copied), 1: binary;
 * v NULL: SQL NULL. */
int cg_pg_bind(struct cg_pg_stmt *s, int i, const void *v, size_t len, int format);
int cg_pg_step(struct cg_pg_stmt *s);
bool cg_pg_column_null(struct cg_pg_stmt *s, int col);
const void *cg_pg_column(struct cg_pg_stmt *s, int col, int *len);

#endif
