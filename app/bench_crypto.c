/*
 * bench_crypto.c - `cmpgw bench crypto`: what the cryptography of one MAC ir +
 * certConf costs with the wolfSSL this binary links, measured here: the
 * floor under the server's CPU per transaction (docs/PERFORMANCE.md).
 *
 * Per transaction the server does: two PasswordBasedMac derivations (one
 * per request, ir and certConf; OpenSSL sends 500 iterations of SHA-256; an
 * answer is MAC'd with its request's key), four HMAC-SHA256 over the
 * messages, one ECDSA P-256 verification (the POP) and one ECDSA P-256
 * signature (the certificate), and hashes the certificate for certConf.
 * Each primitive is timed alone on this thread, a fixed number of times.
 */
#include <stdio.h>
#include <string.h>

#include "app/bench.h"
#include "core/crypto.h"
#include "core/err.h"

int bench_crypto(int argc, char **argv) {
  unsigned long n = 2000, iterations = 500;
  for (int i = 2; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--rounds") && bench_number(v, 10000000, &n) && n > 0)
      i++;
    else if (!strcmp(argv[i], "--iterations") && bench_number(v, 100000, &iterations) &&
             iterations > 0)
      i++;
    else {
      fprintf(stderr, "usage: cmpgw bench crypto [--rounds N] [--iterations PBM_ITERATIONS]\n");
      return 2;
    }
  }
  struct cg_key *key = NULL;
  uint8_t msg[600] = {0x30}, out[64], sig[160], salt[16] = {1};
  size_t sig_len = 0;
  struct cg_iov iov = {msg, sizeof msg};
  const uint8_t secret[] = "a shared secret of 24 ch";
  if (cg_key_generate(CG_KEY_EC, 256, &key) != 0)
    return 1;
  double t, pbm, hmac, sign, verify, hash;
  int err = 0;

  t = bench_now();
  for (unsigned long i = 0; i < n && !err; i++)
    err = cg_pbm_owf(CG_HASH_SHA256, secret, sizeof secret - 1, salt, sizeof salt,
                     (uint32_t)iterations, out);
  pbm = (bench_now() - t) / (double)n;
  t = bench_now();
  for (unsigned long i = 0; i < n && !err; i++)
    err = cg_hmac(CG_HASH_SHA256, out, 32, &iov, 1, out);
  hmac = (bench_now() - t) / (double)n;
  t = bench_now();
  for (unsigned long i = 0; i < n && !err; i++)
    err = cg_sign(key, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, sizeof sig, &sig_len);
  sign = (bench_now() - t) / (double)n;
  t = bench_now();
  for (unsigned long i = 0; i < n && !err; i++)
    err = cg_verify(key, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, sig_len);
  verify = (bench_now() - t) / (double)n;
  t = bench_now();
  for (unsigned long i = 0; i < n && !err; i++)
    err = cg_hash(CG_HASH_SHA256, &iov, 1, out);
  hash = (bench_now() - t) / (double)n;
  cg_key_free(key);
  if (err) {
    fprintf(stderr, "cmpgw bench crypto: %s\n", cg_strerror(err));
    return 1;
  }
  double floor = 2 * pbm + 4 * hmac + sign + verify + hash;
  printf("crypto: pbm_%lu_us=%.1f hmac_sha256_600B_us=%.2f ecdsa_p256_sign_us=%.1f"
         " ecdsa_p256_verify_us=%.1f sha256_600B_us=%.2f ir_certconf_floor_ms=%.3f\n",
         iterations, pbm * 1e6, hmac * 1e6, sign * 1e6, verify * 1e6, hash * 1e6, floor * 1e3);
  return 0;
}
