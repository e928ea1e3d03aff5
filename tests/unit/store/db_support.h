/*
 * db_support.h - the database a store test runs on, so that one suite
 * covers both engines.
 *
 * By default a SQLite file in the test's own directory.  When the
 * environment names CMPGW_TEST_PG_FILE, a file holding the libpq connection
 * string of a PostgreSQL server's maintenance database (tests/pg.sh writes
 * it), each test gets a new database of its own on that server instead,
 * dropped after it.
 */
#ifndef CG_TEST_DB_SUPPORT_H
#define CG_TEST_DB_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* For main(): 0, or 77 (ctest's "skipped") when PostgreSQL is asked for and
 * its connection file is not there (the server did not start). */
int tudb_init(void);
/* Whether the tests run on PostgreSQL. */
bool tudb_pg(void);
/* A new, empty database: its locator (what cg_store_open() takes) into
 * locator[cap].  SQLite: dir/cmpgw.db, not yet created. */
void tudb_make(const char *dir, char *locator, size_t cap);
/* Drops the database tudb_make() made (PostgreSQL; SQLite's files are the
 * test's to remove). */
void tudb_drop(const char *locator);

/* A second connection to the database at locator (a SQLite file is created
 * when missing), opened for one query: the first column of its first row as
 * an integer, or as text into out[cap] ("(null)" for NULL); or the code of
 * running sql.  The test fails when the query does. */
int64_t tudb_int(const char *locator, const char *sql);
void tudb_text(const char *locator, const char *sql, char *out, size_t cap);
int tudb_exec(const char *locator, const char *sql);

#endif
