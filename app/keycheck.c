/*
 * keycheck.c - the master key's check value (app/keycheck.h).
 */
#include "app/keycheck.h"

#include <string.h>
#include <time.h>

#include "cmp/secret.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"

#define CHECK_NAME "master_key_check"
/* What is sealed: the reference of the seal is CHECK_NAME (secret.h binds a
 * ciphertext to its reference). */
static const char known[] = "cmpgw master key check v1";

static void refuse(const char *key_file, const char *what) {
  cg_error("the master key in %s is not the one %s was sealed with: refusing to start (every "
           "device's MAC would fail and lock it out); use the key the database was made with",
           key_file, what);
}

int app_check_master_key(struct cg_store *st, const uint8_t key[32], const char *key_file) {
  uint8_t blob[256], plain[64];
  size_t len = 0, plain_len = 0;
  int err = cg_store_setting_get(st, CHECK_NAME, blob, sizeof blob, &len);
  if (err == 0) {
    bool same = cmp_secret_open(key, CHECK_NAME, blob, len, plain, sizeof plain, &plain_len) == 0 &&
                plain_len == sizeof known - 1 && memcmp(plain, known, plain_len) == 0;
    cg_wipe(plain, sizeof plain);
    if (!same) {
      refuse(key_file, "this database's check value");
      return CG_ECONFIG;
    }
    return 0;
  }
  if (err != CG_ENOT_FOUND)
    return err;
  /* No check value yet: the stored secrets say which key is right. */
  char ref[CMP_MAX_REF + 1];
  uint8_t secret[CMP_SECRET_MAX];
  err = cg_store_secret_any(st, ref, blob, sizeof blob, &len);
  if (err == 0) {
    size_t n;
    err = cmp_secret_open(key, ref, blob, len, secret, sizeof secret, &n);
    cg_wipe(secret, sizeof secret);
    if (err != 0) {
      refuse(key_file, "the secrets stored in this database");
      return CG_ECONFIG;
    }
  } else if (err != CG_ENOT_FOUND) {
    return err;
  }
  if ((err = cmp_secret_seal(key, CHECK_NAME, (const uint8_t *)known, sizeof known - 1, blob,
                             sizeof blob, &len)) != 0 ||
      (err = cg_store_setting_put(st, CHECK_NAME, blob, len, (int64_t)time(NULL))) != 0)
    return err;
  cg_info("store: the master key's check value is recorded");
  return 0;
}
