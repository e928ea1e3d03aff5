/*
 * schema.h - private to store/: the SQLite schema of cmpgw and its
 * migrations (documented for operators in docs/store.md).
 */
#ifndef CG_STORE_SCHEMA_H
#define CG_STORE_SCHEMA_H

#include <sqlite3.h>

/* The schema version this build writes and understands (PRAGMA user_version). */
#define CG_STORE_SCHEMA_VERSION 14

/* Brings db from its PRAGMA user_version up to CG_STORE_SCHEMA_VERSION, every
 * step in one transaction, so a failure leaves the database as it was (a new
 * one is created at the current version at once).  A database already current is left untouched.  0, or
 * CG_ESTORE (logged) when a migration fails or the database was written by a
 * newer cmpgw (a version this build does not know). */
int cg_store_migrate(sqlite3 *db);
/* The same, up to version target only (<= CG_STORE_SCHEMA_VERSION); for the
 * tests that migrate from every earlier version. */
int cg_store_migrate_to(sqlite3 *db, int target);

#endif
