/*
 * secret.c - sealing, opening and generating shared secrets (cmp/secret.h).
 */
#include "cmp/secret.h"

#include <string.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/x509.h"

#define AAD_PREFIX "cmpgw-secret-v1:"
#define VERSION 1
#define OVERHEAD (1 + 12 + 16)

static size_t make_aad(const char *ref, uint8_t *aad, size_t cap) {
  size_t p = strlen(AAD_PREFIX), r = strlen(ref);
  if (p + r > cap)
    r = cap - p;
  memcpy(aad, AAD_PREFIX, p);
  memcpy(aad + p, ref, r);
  return p + r;
}

int cmp_secret_seal(const uint8_t master[CMP_MASTER_KEY_LEN], const char *ref,
                    const uint8_t *secret, size_t len, uint8_t *out, size_t cap, size_t *out_len) {
  uint8_t aad[256];
  if (len == 0 || len > CMP_SECRET_MAX || strlen(ref) > 200)
    return CG_EINVAL;
  if (cap < len + OVERHEAD)
    return CG_ESPACE;
  out[0] = VERSION;
  int err = cg_random(out + 1, 12);
  if (err)
    return err;
  size_t aad_len = make_aad(ref, aad, sizeof aad);
  err = cg_aes256gcm_seal(master, out + 1, aad, aad_len, secret, len, out + 13, out + 13 + len);
  if (err)
    return err;
  *out_len = len + OVERHEAD;
  return 0;
}

int cmp_secret_open(const uint8_t master[CMP_MASTER_KEY_LEN], const char *ref, const uint8_t *enc,
                    size_t enc_len, uint8_t *out, size_t cap, size_t *len) {
  uint8_t aad[256];
  if (enc_len <= OVERHEAD || enc[0] != VERSION || strlen(ref) > 200)
    return CG_EBAD_DATA;
  size_t n = enc_len - OVERHEAD;
  if (n > cap)
    return CG_ESPACE;
  size_t aad_len = make_aad(ref, aad, sizeof aad);
  int err = cg_aes256gcm_open(master, enc + 1, aad, aad_len, enc + 13, n, enc + 13 + n, out);
  if (err)
    return err;
  *len = n;
  return 0;
}

int cmp_secret_generate(char out[CMP_SECRET_GEN_LEN + 1]) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  size_t n = 0;
  while (n < CMP_SECRET_GEN_LEN) {
    uint8_t b[32];
    int err = cg_random(b, sizeof b);
    if (err)
      return err;
    /* Rejection sampling: 248 = 4 * 62 keeps every character equally likely. */
    for (size_t i = 0; i < sizeof b && n < CMP_SECRET_GEN_LEN; i++)
      if (b[i] < 248)
        out[n++] = alphabet[b[i] % 62];
  }
  out[n] = 0;
  return 0;
}

int cmp_reference_generate(char out[CMP_REF_GEN_LEN + 1]) {
  uint8_t b[CMP_REF_GEN_LEN / 2];
  int err = cg_random(b, sizeof b);
  if (err)
    return err;
  cg_hex(b, sizeof b, out);
  return 0;
}
