/*
 * support_db.c - db_support.h: each test's database, a SQLite file or a
 * PostgreSQL database of its own.
 */
#include "db_support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/db.h"

/* The maintenance database's connection string, when on PostgreSQL. */
static char admin[1024];
static unsigned made;

int tudb_init(void) {
  const char *file = getenv("CMPGW_TEST_PG_FILE");
  if (file == NULL || file[0] == '\0')
    return 0;
  FILE *f = fopen(file, "r");
  if (f == NULL || fgets(admin, sizeof admin, f) == NULL) {
    fprintf(stderr, "no PostgreSQL to test on (%s): skipped\n", file);
    if (f != NULL)
      fclose(f);
    return 77;
  }
  fclose(f);
  admin[strcspn(admin, "\r\n")] = '\0';
  return 0;
}

bool tudb_pg(void) { return admin[0] != '\0'; }

/* Runs sql on the maintenance database; aborts the test run when it fails. */
static void admin_exec(const char *sql) {
  struct cg_db *db = NULL;
  if (cg_db_open(admin, CG_DB_EXISTING, &db) != 0 || cg_db_exec(db, sql) != CG_DB_OK) {
    fprintf(stderr, "PostgreSQL: %s: %s\n", sql, db != NULL ? cg_db_errmsg(db) : "no connection");
    abort();
  }
  cg_db_close(db);
}

void tudb_make(const char *dir, char *locator, size_t cap) {
  if (!tudb_pg()) {
    snprintf(locator, cap, "%s/cmpgw.db", dir);
    return;
  }
  char name[64], sql[128];
  snprintf(name, sizeof name, "cmpgw_t_%ld_%u", (long)getpid(), ++made);
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
  admin_exec(sql);
  /* The last dbname= of a connection string is the one used. */
  snprintf(locator, cap, "%s dbname=%s", admin, name);
}

void tudb_drop(const char *locator) {
  if (!tudb_pg())
    return;
  const char *name = strrchr(locator, '=');
  char sql[128];
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name + 1);
  admin_exec(sql);
}

static struct cg_db *peer_open(const char *locator) {
  struct cg_db *db = NULL;
  if (cg_db_open(locator, CG_DB_WRITER, &db) != 0)
    fail_msg("cannot open a second connection to the test's database");
  return db;
}

/* The first row of sql stepped on a new connection (*db). */
static struct cg_db_stmt *first_row(const char *locator, const char *sql, struct cg_db **db) {
  *db = peer_open(locator);
  struct cg_db_stmt *s = NULL;
  if (cg_db_prepare(*db, sql, false, &s) != CG_DB_OK || cg_db_step(s) != CG_DB_ROW)
    fail_msg("%s: %s", sql, cg_db_errmsg(*db));
  return s;
}

int64_t tudb_int(const char *locator, const char *sql) {
  struct cg_db *db;
  struct cg_db_stmt *s = first_row(locator, sql, &db);
  int64_t v = cg_db_column_int64(s, 0);
  cg_db_finalize(s);
  cg_db_close(db);
  return v;
}

void tudb_text(const char *locator, const char *sql, char *out, size_t cap) {
  struct cg_db *db;
  struct cg_db_stmt *s = first_row(locator, sql, &db);
  const char *v = (const char *)cg_db_column_text(s, 0);
  snprintf(out, cap, "%s", v ? v : "(null)");
  cg_db_finalize(s);
  cg_db_close(db);
}

int tudb_exec(const char *locator, const char *sql) {
  struct cg_db *db = peer_open(locator);
  int rc = cg_db_exec(db, sql);
  cg_db_close(db);
  return rc;
}
