/*
 * keycheck.h - is the master key the one the database's secrets were sealed
 * with?  A gateway started with another key would fail every device's MAC
 * and lock the fleet out; it refuses to start instead.
 */
#ifndef CG_APP_KEYCHECK_H
#define CG_APP_KEYCHECK_H

#include <stdint.h>

#include "store/store.h"

/* Checks key against the database's key check value (setting
 * "master_key_check": a known text sealed with the key).  A database without
 * one gets it now, once the key is shown to open a stored secret (a
 * database made before check values existed) or when it holds none.  0, or
 * CG_ECONFIG (logged: another key) or the store's error.  Synchronous: before
 * the store thread starts. */
int app_check_master_key(struct cg_store *st, const uint8_t key[32], const char *key_file);

#endif
