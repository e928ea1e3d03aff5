/*
 * schema.h - private to store/: the schema of cmpgw (SQLite's and
 * PostgreSQL's) and its migrations (documented for operators in docs/store.md).
 */
#ifndef CG_STORE_SCHEMA_H
#define CG_STORE_SCHEMA_H

struct cg_db;

/* The schema version this build writes and understands (SQLite: PRAGMA
 * user_version; PostgreSQL: the table cmpgw_schema). */
#define CG_STORE_SCHEMA_VERSION 19

/* Brings db from its PRAGMA user_version up to CG_STORE_SCHEMA_VERSION, every
 * step in one transaction, so a failure leaves the database as it was (a new
 * one is created at the current version at once).  A database already current is left untouched.  0, or
 * CG_ESTORE (logged) when a migration fails or the database was written by a
 * newer cmpgw (a version this build does not know). */
int cg_store_migrate(struct cg_db *db);
/* The same, up to version target only (<= CG_STORE_SCHEMA_VERSION); for the
 * tests that migrate from every earlier version. */
int cg_store_migrate_to(struct cg_db *db, int target);

#endif
