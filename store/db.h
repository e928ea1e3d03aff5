/*
 * db.h - private to store/: one SQL connection, SQLite's or PostgreSQL's,
 * behind the calls the store makes of it (prepare, bind, step, read a column,
 * exec, the transaction's state).  The store's logic (ops.c, query.c) is
 * written once against these; db.c holds the SQLite side, db_pg.c the
 * PostgreSQL side (libpq).
 *
 * The shape is SQLite's, which the store was first written for:
 *  - result codes have SQLite's values (CG_DB_OK, CG_DB_ROW, CG_DB_DONE,
 *    CG_DB_CONSTRAINT_UNIQUE, ...); PostgreSQL's SQLSTATEs are mapped onto
 *    them (23505 unique_violation is CG_DB_CONSTRAINT_UNIQUE, another class
 *    23 code CG_DB_CONSTRAINT, 40001/40P01/55P03 CG_DB_BUSY, a server that
 *    cannot be reached, or a connection lost, CG_DB_CANTOPEN);
 *  - SQL is written with ?N parameters, which the PostgreSQL side rewrites
 *    to $N; a parameter left unbound is NULL on both;
 *  - a statement is stepped row by row (CG_DB_ROW, then CG_DB_DONE), reset
 *    and used again.  On PostgreSQL the first step runs the prepared
 *    statement and keeps its result; the rows are then read from it.
 *
 * The SQL the store sends is the part of the two dialects they share
 * (CAST, coalesce, CASE, ON CONFLICT DO NOTHING); where they differ the
 * caller picks a text by cg_db_engine().  Booleans come back from
 * PostgreSQL as "t"/"f": cg_db_column_int64() reads them as 1/0, as SQLite
 * stores them.
 *
 * A connection is used by one thread at a time.
 */
#ifndef CG_STORE_DB_H
#define CG_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cg_db;
struct cg_db_stmt;

enum cg_db_engine { CG_DB_SQLITE, CG_DB_POSTGRES };

/* Result codes (SQLite's values). */
#define CG_DB_OK 0
#define CG_DB_ERROR 1
#define CG_DB_BUSY 5
#define CG_DB_LOCKED 6
#define CG_DB_NOMEM 7
#define CG_DB_READONLY 8
#define CG_DB_IOERR 10
#define CG_DB_CORRUPT 11
#define CG_DB_CANTOPEN 14
#define CG_DB_CONSTRAINT 19
#define CG_DB_NOTADB 26
#define CG_DB_ROW 100
#define CG_DB_DONE 101
#define CG_DB_CONSTRAINT_PRIMARYKEY (CG_DB_CONSTRAINT | (6 << 8))
#define CG_DB_CONSTRAINT_UNIQUE (CG_DB_CONSTRAINT | (8 << 8))

/* Column types: NULL or not (what the store asks). */
#define CG_DB_NULL 5

/* Whether locator names a PostgreSQL database ("postgresql://...",
 * "postgres://...", or libpq "key=value" words) rather than a SQLite file. */
bool cg_db_is_postgres(const char *locator);

/* How a connection is opened. */
enum cg_db_mode {
  CG_DB_WRITER, /* read-write; a SQLite file is created when missing */
  CG_DB_READER, /* reads only */
  CG_DB_EXISTING /* read-write, never created (checks, backups) */
};

/* Opens the database locator names.  The failure is logged.  0, CG_ESTORE,
 * CG_ENOMEM. */
int cg_db_open(const char *locator, enum cg_db_mode mode, struct cg_db **out);
/* The PostgreSQL password of every later connection, read from the file
 * path ([store] password_file; its first line); NULL: libpq's own
 * (PGPASSWORD, ~/.pgpass, passfile=).  Called before connections are
 * opened, on one thread.  0, or CG_ESTORE (logged) when it cannot be read. */
int cg_db_password_file(const char *path);
/* SQLite only: the handle under it (PRAGMAs, backup, migration), NULL on
 * PostgreSQL. */
struct sqlite3 *cg_db_sqlite(struct cg_db *db);
/* Closes it; 0 or the failing code. */
int cg_db_close(struct cg_db *db);
enum cg_db_engine cg_db_engine(const struct cg_db *db);

/* The message of the last failure on db. */
const char *cg_db_errmsg(struct cg_db *db);
/* Runs sql (several statements, separated by ';', none with parameters). */
int cg_db_exec(struct cg_db *db, const char *sql);
/* Rows changed by the last INSERT, UPDATE or DELETE stepped on db. */
int64_t cg_db_changes(struct cg_db *db);
/* Whether a transaction is open (BEGIN ran, no COMMIT or ROLLBACK yet),
 * and whether it failed: SQLite rolled it back by itself (I/O, disk full),
 * or PostgreSQL aborted it (an error outside a savepoint, a lost
 * connection).  A failed transaction still wants its ROLLBACK. */
bool cg_db_in_txn(struct cg_db *db);
bool cg_db_txn_failed(struct cg_db *db);
/* False when the server cannot be reached now (PostgreSQL: the connection
 * is lost and not made again yet); SQLite's file is always there. */
bool cg_db_reachable(struct cg_db *db);

/* Prepares sql.  persistent: kept for the connection's life (the
 * gateway's statements).  0 or a code. */
int cg_db_prepare(struct cg_db *db, const char *sql, bool persistent, struct cg_db_stmt **out);
void cg_db_finalize(struct cg_db_stmt *s);
/* Ends a step sequence (the next step runs the statement again) and, for
 * clear, forgets the bound values. */
int cg_db_reset(struct cg_db_stmt *s);
int cg_db_clear_bindings(struct cg_db_stmt *s);
/* The number of the last ?N parameter. */
int cg_db_param_count(struct cg_db_stmt *s);

/* Binding.  Text and BLOBs are copied on PostgreSQL; on SQLite they are
 * borrowed until the statement is reset or cleared (as SQLITE_STATIC).
 * len < 0: v is NUL terminated. */
int cg_db_bind_text(struct cg_db_stmt *s, int i, const char *v, int len);
int cg_db_bind_blob(struct cg_db_stmt *s, int i, const void *v, int len);
int cg_db_bind_int64(struct cg_db_stmt *s, int i, int64_t v);
int cg_db_bind_null(struct cg_db_stmt *s, int i);
/* Text copied at once (a temporary). */
int cg_db_bind_text_copy(struct cg_db_stmt *s, int i, const char *v);

/* CG_DB_ROW, CG_DB_DONE or a failure code. */
int cg_db_step(struct cg_db_stmt *s);

/* The current row's columns.  Pointers stay valid until the next step or
 * reset.  column_bytes is the length of what column_text or column_blob
 * gives for that column. */
int cg_db_column_type(struct cg_db_stmt *s, int col);
const unsigned char *cg_db_column_text(struct cg_db_stmt *s, int col);
const void *cg_db_column_blob(struct cg_db_stmt *s, int col);
int cg_db_column_bytes(struct cg_db_stmt *s, int col);
int64_t cg_db_column_int64(struct cg_db_stmt *s, int col);
int cg_db_column_int(struct cg_db_stmt *s, int col);

#endif
