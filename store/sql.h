/*
 * sql.h - private to store/: the helpers the gateway's side (ops.c)
 * and the operator's (query.c) share, so that a value is bound, a column read
 * and a failure mapped the one way whichever side does it.
 *
 * The rules they hold:
 *  - Text is bound as the caller's NUL-terminated string, not copied; it must
 *    stay as it is until the statement is reset or finalized.  Times are
 *    bound as cg_time_iso8601() text.
 *  - A column read into a record either fits or is CG_ESTORE, which the
 *    caller reports as a row that does not fit (corrupt, or written by
 *    someone else): text longer than its field, text holding a NUL (its copy
 *    would read as another value, cut at the NUL), a time in any form but
 *    the stored one.  SQL NULL reads as "" into a field, as NULL into a
 *    malloc'ed copy.  The helpers do not log; the caller knows the row.
 *  - A failed step: a PRIMARY KEY or UNIQUE constraint is CG_EEXISTS, not
 *    logged (a reused transactionID, a serial issued twice: the caller's
 *    business).  Any other constraint (CHECK, NOT NULL, FOREIGN KEY) is a
 *    logged CG_ESTORE like every other failure: records are checked before
 *    they are written, so a row the schema still refuses is a defect (the
 *    checks and the schema disagree), or a reference to a row that is not
 *    there, which the caller cannot tell apart from a store failure either.
 *    Out of memory is CG_ENOMEM; a database that cannot be reached (a
 *    PostgreSQL server down or its connection lost) CG_ESTORE_UNAVAIL,
 *    which devices are told as systemUnavail: try again later.  Waiting for a lock is the caller's policy
 *    (query.c retries before it asks here).
 *
 * Every connection of the store has extended result codes on
 * (sqlite3_extended_result_codes()).
 */
#ifndef CG_STORE_SQL_H
#define CG_STORE_SQL_H

#include "store/db.h"
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

/* Binds text v, or SQL NULL when v is NULL.  SQLite's result code. */
int cg_store_sql_bind_text(struct cg_db_stmt *s, int i, const char *v);
/* Binds text v, or SQL NULL when v is NULL or "" (docs/store.md: an absent
 * value is NULL, never an empty string).  SQLite's result code. */
int cg_store_sql_bind_text_or_null(struct cg_db_stmt *s, int i, const char *v);
/* Binds t as "YYYY-MM-DDTHH:MM:SSZ" (copied).  SQLite's result code. */
int cg_store_sql_bind_time(struct cg_db_stmt *s, int i, int64_t t);
/* Logs that binding `what` failed (out of memory, or a programming error)
 * and returns CG_ESTORE. */
int cg_store_sql_bind_failed(struct cg_db *db, const char *what);

/* Copies text column col into dst[cap] with its NUL; SQL NULL reads as "".
 * 0, or CG_ESTORE when it does not fit (dst is then ""). */
int cg_store_sql_column_text(struct cg_db_stmt *s, int col, char *dst, size_t cap);
/* A malloc'ed copy of text column col, NULL for SQL NULL.  On failure it
 * returns NULL and sets *err, unless *err is set already (so several columns
 * may be read before one check): CG_ESTORE when the text does not fit (holds
 * a NUL), CG_ENOMEM. */
char *cg_store_sql_column_dup(struct cg_db_stmt *s, int col, int *err);
/* A malloc'ed copy of BLOB column col into *out (never NULL on success, even
 * for an empty or NULL value) and its length.  0 or CG_ENOMEM. */
int cg_store_sql_column_blob_dup(struct cg_db_stmt *s, int col, uint8_t **out, size_t *len);
/* Time column col, stored as cg_time_iso8601() writes it, into *out.  0, or
 * CG_ESTORE for SQL NULL or any other text (*out untouched). */
int cg_store_sql_column_time(struct cg_db_stmt *s, int col, int64_t *out);
/* INTEGER column col, or none for SQL NULL. */
int64_t cg_store_sql_column_int_or(struct cg_db_stmt *s, int col, int64_t none);

/* The CG_E* code of rc, a failed step (or prepare, or exec) on db, for the
 * caller doing `what`: CG_EEXISTS, CG_ENOMEM or CG_ESTORE (see above).  The
 * failure is logged with SQLite's message, at most every 10 s through limit
 * when it is not NULL (errors of a kind come in floods: a full disk fails
 * every commit). */
int cg_store_sql_error(struct cg_db *db, int rc, struct cg_log_limit *limit, const char *what);

#endif
