/*
 * sql.c - the SQLite helpers of store/sql.h, shared by sqlite.c and query.c:
 * binding text and times, reading text, BLOB, time and INTEGER columns into
 * records, and mapping a failed step to a CG_E* code.  sql.h states the rules
 * they hold.
 */
#include "store/sql.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/time.h"

int cg_store_sql_bind_text(struct cg_db_stmt *s, int i, const char *v) {
  return v != NULL ? cg_db_bind_text(s, i, v, -1) : cg_db_bind_null(s, i);
}

int cg_store_sql_bind_text_or_null(struct cg_db_stmt *s, int i, const char *v) {
  return v != NULL && v[0] != '\0' ? cg_store_sql_bind_text(s, i, v) : cg_db_bind_null(s, i);
}

int cg_store_sql_bind_time(struct cg_db_stmt *s, int i, int64_t t) {
  char buf[CG_TIME_ISO8601_SIZE];
  cg_time_iso8601(t, buf);
  return cg_db_bind_text_copy(s, i, buf);
}

int cg_store_sql_bind_failed(struct cg_db *db, const char *what) {
  cg_error("store: binding %s: %s", what, cg_db_errmsg(db));
  return CG_ESTORE;
}

int cg_store_sql_column_text(struct cg_db_stmt *s, int col, char *dst, size_t cap) {
  const unsigned char *v = cg_db_column_text(s, col);
  size_t n = (size_t)cg_db_column_bytes(s, col);
  dst[0] = '\0';
  if (v == NULL)
    return 0;
  if (n >= cap || memchr(v, '\0', n) != NULL)
    return CG_ESTORE;
  memcpy(dst, v, n + 1);
  return 0;
}

char *cg_store_sql_column_dup(struct cg_db_stmt *s, int col, int *err) {
  const unsigned char *v = cg_db_column_text(s, col);
  int e = 0;
  char *p = NULL;
  size_t n = (size_t)cg_db_column_bytes(s, col);
  if (v == NULL)
    /* NULL text of a value that is not SQL NULL: SQLite could not make it. */
    e = cg_db_column_type(s, col) != CG_DB_NULL ? CG_ENOMEM : 0;
  else if (memchr(v, '\0', n) != NULL)
    e = CG_ESTORE;
  else if ((p = malloc(n + 1)) == NULL)
    e = CG_ENOMEM;
  else
    memcpy(p, v, n + 1);
  if (e != 0 && *err == 0)
    *err = e;
  return p;
}

int cg_store_sql_column_blob_dup(struct cg_db_stmt *s, int col, uint8_t **out, size_t *len) {
  const void *p = cg_db_column_blob(s, col);
  size_t n = (size_t)cg_db_column_bytes(s, col);
  *out = malloc(n > 0 ? n : 1);
  if (*out == NULL)
    return CG_ENOMEM;
  if (n > 0)
    memcpy(*out, p, n);
  *len = n;
  return 0;
}

int cg_store_sql_column_time(struct cg_db_stmt *s, int col, int64_t *out) {
  /* Copied first, so that a time followed by a NUL does not fit either. */
  char text[CG_TIME_ISO8601_SIZE];
  if (cg_db_column_type(s, col) == CG_DB_NULL ||
      cg_store_sql_column_text(s, col, text, sizeof text) != 0 ||
      cg_time_parse_iso8601(text, out) != 0)
    return CG_ESTORE;
  return 0;
}

int64_t cg_store_sql_column_int_or(struct cg_db_stmt *s, int col, int64_t none) {
  return cg_db_column_type(s, col) == CG_DB_NULL ? none : cg_db_column_int64(s, col);
}

int cg_store_sql_error(struct cg_db *db, int rc, struct cg_log_limit *limit, const char *what) {
  if (rc == CG_DB_CONSTRAINT_PRIMARYKEY || rc == CG_DB_CONSTRAINT_UNIQUE)
    return CG_EEXISTS;
  if (limit != NULL)
    cg_log_limited(limit, 10, CG_LOG_ERROR, "store: %s: %s", what, cg_db_errmsg(db));
  else
    cg_error("store: %s: %s", what, cg_db_errmsg(db));
  return (rc & 0xff) == CG_DB_NOMEM     ? CG_ENOMEM
         : (rc & 0xff) == CG_DB_CANTOPEN ? CG_ESTORE_UNAVAIL
                                         : CG_ESTORE;
}
