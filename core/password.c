/*
 * password.c - core/password.h on core/crypto.h's PBKDF2.
 */
#include "core/password.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/x509.h"

#define SALT 16
#define HASH 32
#define PREFIX "pbkdf2-sha256$"
/* A stored count above this is refused rather than spent (a row that would
 * make one login take minutes). */
#define MAX_ITERATIONS 100000000u

static int derive(const char *pass, size_t len, const uint8_t salt[SALT], uint32_t iterations,
                  uint8_t out[HASH]) {
  return cg_pbkdf2(CG_HASH_SHA256, (const uint8_t *)pass, len, salt, SALT, iterations, out, HASH);
}

int cg_password_hash(const char *pass, size_t len, uint32_t iterations,
                     char out[CG_PASSWORD_HASH_MAX]) {
  if (len < CG_PASSWORD_MIN || len > CG_PASSWORD_MAX || iterations > MAX_ITERATIONS)
    return CG_EINVAL;
  if (iterations == 0)
    iterations = CG_PASSWORD_ITERATIONS;
  uint8_t salt[SALT], hash[HASH];
  char salt_hex[2 * SALT + 1], hash_hex[2 * HASH + 1];
  if (cg_random(salt, sizeof salt) != 0 || derive(pass, len, salt, iterations, hash) != 0)
    return CG_ECRYPTO;
  cg_hex(salt, SALT, salt_hex);
  cg_hex(hash, HASH, hash_hex);
  snprintf(out, CG_PASSWORD_HASH_MAX, PREFIX "%u$%s$%s", (unsigned)iterations, salt_hex, hash_hex);
  cg_wipe(hash, sizeof hash);
  return 0;
}

bool cg_password_verify(const char *pass, size_t len, const char *stored) {
  if (stored == NULL || strncmp(stored, PREFIX, sizeof PREFIX - 1) != 0 || len > CG_PASSWORD_MAX)
    return false;
  const char *p = stored + sizeof PREFIX - 1;
  char *end;
  unsigned long iterations = strtoul(p, &end, 10);
  if (end == p || *end != '$' || iterations == 0 || iterations > MAX_ITERATIONS)
    return false;
  p = end + 1;
  uint8_t salt[SALT], want[HASH], got[HASH];
  if (strlen(p) != 2 * SALT + 1 + 2 * HASH || p[2 * SALT] != '$' || !cg_unhex(p, SALT, salt) ||
      !cg_unhex(p + 2 * SALT + 1, HASH, want))
    return false;
  if (derive(pass, len, salt, (uint32_t)iterations, got) != 0)
    return false;
  bool ok = cg_ct_equal(got, want, HASH);
  cg_wipe(got, sizeof got);
  return ok;
}
