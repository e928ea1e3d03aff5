/*
 * test_crypto.c - the wolfCrypt adapters of core/crypto: known-answer tests
 * for hashes, HMAC, PBKDF2, the PasswordBasedMac OWF and AES-GCM; signatures
 * made and checked in both directions against OpenSSL-made keys and
 * signatures (tests/vectors/keys, see regen.sh there); SPKI export compared
 * with OpenSSL's; PEM; and PKCS#12 written by us and read by OpenSSL and the
 * other way round.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "core/err.h"
#include "testutil.h"

/* ---------------------------------------------------------------- helpers */

static uint8_t *vec(const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/keys/%s", CG_TEST_VECTORS, name);
  uint8_t *p = tu_read_file(path, len);
  if (p == NULL)
    fail_msg("cannot read %s", path);
  return p;
}

static void assert_hex(const uint8_t *got, size_t len, const char *hex) {
  size_t n;
  uint8_t *want = tu_hex(hex, &n);
  assert_int_equal(len, n);
  assert_memory_equal(got, want, n);
  free(want);
}

/* Loads a PKCS#8 PEM private key file from the vectors. */
static struct cg_key *load_private(const char *name) {
  size_t len, der_len;
  uint8_t *pem = vec(name, &len);
  uint8_t der[4096];
  struct cg_key *k = NULL;
  assert_int_equal(cg_pem_decode("PRIVATE KEY", (const char *)pem, len, der, sizeof der,
                                 &der_len, NULL),
                   0);
  assert_int_equal(cg_key_from_private_der(der, der_len, &k), 0);
  assert_true(cg_key_is_private(k));
  free(pem);
  return k;
}

static struct cg_key *load_spki(const char *name) {
  size_t len;
  uint8_t *der = vec(name, &len);
  struct cg_key *k = NULL;
  assert_int_equal(cg_key_from_spki(der, len, &k), 0);
  assert_false(cg_key_is_private(k));
  free(der);
  return k;
}

static void assert_same_spki(const struct cg_key *a, const struct cg_key *b) {
  uint8_t x[1024], y[1024];
  size_t xl, yl;
  assert_int_equal(cg_key_spki(a, x, sizeof x, &xl), 0);
  assert_int_equal(cg_key_spki(b, y, sizeof y, &yl), 0);
  assert_int_equal(xl, yl);
  assert_memory_equal(x, y, xl);
}

static const char ABC[] = "abc";

/* ------------------------------------------------------------ hash, HMAC */

/* FIPS 180-2 appendix examples: the one-block message "abc". */
static void test_hash_abc_matches_fips180(void **state) {
  static const struct {
    enum cg_hash h;
    const char *hex;
  } kat[] = {
      {CG_HASH_SHA1, "a9993e364706816aba3e25717850c26c9cd0d89d"},
      {CG_HASH_SHA224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"},
      {CG_HASH_SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {CG_HASH_SHA384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                       "8086072ba1e7cc2358baeca134c825a7"},
      {CG_HASH_SHA512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                       "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
    uint8_t out[CG_HASH_MAX];
    struct cg_iov iov = {ABC, 3};
    assert_int_equal(cg_hash(kat[i].h, &iov, 1, out), 0);
    assert_hex(out, cg_hash_size(kat[i].h), kat[i].hex);
  }
}

static void test_hash_of_pieces_equals_hash_of_whole(void **state) {
  static const char msg[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  size_t n = strlen(msg);
  (void)state;
  for (enum cg_hash h = CG_HASH_SHA1; h <= CG_HASH_SHA512; h++) {
    uint8_t whole[CG_HASH_MAX], parts[CG_HASH_MAX];
    struct cg_iov one = {msg, n};
    struct cg_iov many[] = {{msg, 1}, {msg + 1, 0}, {msg + 1, 20}, {msg + 21, n - 21}};
    assert_int_equal(cg_hash(h, &one, 1, whole), 0);
    assert_int_equal(cg_hash(h, many, 4, parts), 0);
    assert_memory_equal(whole, parts, cg_hash_size(h));
  }
}

static void test_hash_none_is_bad_alg(void **state) {
  uint8_t out[CG_HASH_MAX];
  struct cg_iov iov = {ABC, 3};
  (void)state;
  assert_int_equal(cg_hash_size(CG_HASH_NONE), 0);
  assert_int_equal(cg_hash(CG_HASH_NONE, &iov, 1, out), CG_EBAD_ALG);
  assert_int_equal(cg_hmac(CG_HASH_NONE, (const uint8_t *)"k", 1, &iov, 1, out), CG_EBAD_ALG);
}

/* RFC 4231 test cases 1, 2 and 6 (HMAC-SHA-256). */
static void test_hmac_sha256_matches_rfc4231(void **state) {
  uint8_t key1[20], key6[131], out[32];
  (void)state;
  memset(key1, 0x0b, sizeof key1);
  memset(key6, 0xaa, sizeof key6);

  struct cg_iov c1 = {"Hi There", 8};
  assert_int_equal(cg_hmac(CG_HASH_SHA256, key1, sizeof key1, &c1, 1, out), 0);
  assert_hex(out, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

  struct cg_iov c2[] = {{"what do ya want ", 16}, {"for nothing?", 12}};
  assert_int_equal(cg_hmac(CG_HASH_SHA256, (const uint8_t *)"Jefe", 4, c2, 2, out), 0);
  assert_hex(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

  /* A key longer than the block is hashed first. */
  struct cg_iov c6 = {"Test Using Larger Than Block-Size Key - Hash Key First", 54};
  assert_int_equal(cg_hmac(CG_HASH_SHA256, key6, sizeof key6, &c6, 1, out), 0);
  assert_hex(out, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* Expected values computed independently with the OpenSSL command line:
 *   owf() {  # $1 = digest, $2 = iterations
 *     { printf 'insecure-pass'; printf '\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f'; } \
 *       | openssl dgst -$1 -binary > k.bin
 *     i=1; while [ $i -lt $2 ]; do
 *       openssl dgst -$1 -binary < k.bin > k2.bin; mv k2.bin k.bin; i=$((i+1))
 *     done; xxd -p -c 100 k.bin; }
 *   owf sha256 1; owf sha256 100; owf sha1 3; owf sha512 2
 */
static void test_pbm_owf_matches_chained_openssl_digests(void **state) {
  static const struct {
    enum cg_hash h;
    uint32_t iterations;
    const char *hex;
  } kat[] = {
      {CG_HASH_SHA256, 1, "3904558cce122c0ba07f0660145f4b63b67b0f544bcd3d00b541ac0728952dbd"},
      {CG_HASH_SHA256, 100, "37bd74c5031d339a858a439cacbc61fc8301aba3df81a75f6df2d2ea0b1bc91f"},
      {CG_HASH_SHA1, 3, "0cbfc06831340033c27b0685442a846e5b8612af"},
      {CG_HASH_SHA512, 2, "0cf04cbc6aad4a9c7e8d102f5f2430afab9a98172a0ca2079d714c6dd9075509"
                          "4d82ec4e24735619cd2bb673ccf87f811c951aa9abe8eb07d68cfee4cea13603"},
  };
  static const char secret[] = "insecure-pass";
  uint8_t salt[16];
  (void)state;
  for (size_t i = 0; i < sizeof salt; i++)
    salt[i] = (uint8_t)i;
  for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
    uint8_t out[CG_HASH_MAX];
    assert_int_equal(cg_pbm_owf(kat[i].h, (const uint8_t *)secret, strlen(secret), salt,
                                sizeof salt, kat[i].iterations, out),
                     0);
    assert_hex(out, cg_hash_size(kat[i].h), kat[i].hex);
  }
}

static void test_pbm_owf_rejects_zero_iterations(void **state) {
  uint8_t out[CG_HASH_MAX];
  (void)state;
  assert_int_equal(cg_pbm_owf(CG_HASH_SHA256, (const uint8_t *)"s", 1, (const uint8_t *)"t", 1,
                              0, out),
                   CG_EINVAL);
}

/* RFC 6070 PBKDF2-HMAC-SHA1 vectors. */
static void test_pbkdf2_sha1_matches_rfc6070(void **state) {
  uint8_t out[25];
  (void)state;
  assert_int_equal(cg_pbkdf2(CG_HASH_SHA1, (const uint8_t *)"password", 8,
                             (const uint8_t *)"salt", 4, 1, out, 20),
                   0);
  assert_hex(out, 20, "0c60c80f961f0e71f3a9b524af6012062fe037a6");
  assert_int_equal(cg_pbkdf2(CG_HASH_SHA1, (const uint8_t *)"password", 8,
                             (const uint8_t *)"salt", 4, 2, out, 20),
                   0);
  assert_hex(out, 20, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
  assert_int_equal(cg_pbkdf2(CG_HASH_SHA1, (const uint8_t *)"password", 8,
                             (const uint8_t *)"salt", 4, 4096, out, 20),
                   0);
  assert_hex(out, 20, "4b007901b765489abead49d926f721d065a429c1");
  assert_int_equal(cg_pbkdf2(CG_HASH_SHA1, (const uint8_t *)"passwordPASSWORDpassword", 24,
                             (const uint8_t *)"saltSALTsaltSALTsaltSALTsaltSALTsalt", 36, 4096,
                             out, 25),
                   0);
  assert_hex(out, 25, "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038");
  assert_int_equal(cg_pbkdf2(CG_HASH_SHA1, (const uint8_t *)"p", 1, (const uint8_t *)"s", 1, 0,
                             out, 20),
                   CG_EINVAL);
}

static void test_ct_equal_compares_every_octet(void **state) {
  uint8_t a[64], b[64];
  (void)state;
  for (size_t i = 0; i < sizeof a; i++)
    a[i] = b[i] = (uint8_t)(i * 7);
  assert_true(cg_ct_equal(a, b, sizeof a));
  for (size_t i = 0; i < sizeof a; i++) {
    b[i] ^= 0x80;
    assert_false(cg_ct_equal(a, b, sizeof a));
    b[i] ^= 0x80;
  }
  assert_true(cg_ct_equal(a, b, 0));
}

/* ------------------------------------------------------------------ AES-GCM */

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test case 14:
 * AES-256, zero key, zero IV, one zero block. */
static void test_aes256gcm_matches_gcm_spec_test_case_14(void **state) {
  uint8_t key[32] = {0}, nonce[12] = {0}, pt[16] = {0}, ct[16], tag[16];
  (void)state;
  assert_int_equal(cg_aes256gcm_seal(key, nonce, NULL, 0, pt, sizeof pt, ct, tag), 0);
  assert_hex(ct, 16, "cea7403d4d606b6e074ec5d3baf39d18");
  assert_hex(tag, 16, "d0d1c8a799996bf0265b98b5d48ab919");
}

static void test_aes256gcm_round_trip_and_tamper_is_bad_mac(void **state) {
  uint8_t key[32], nonce[12], pt[100], ct[100], back[100], tag[16];
  static const uint8_t aad[] = "secret ref 42";
  (void)state;
  assert_int_equal(cg_random(key, sizeof key), 0);
  assert_int_equal(cg_random(nonce, sizeof nonce), 0);
  for (size_t i = 0; i < sizeof pt; i++)
    pt[i] = (uint8_t)i;
  assert_int_equal(cg_aes256gcm_seal(key, nonce, aad, sizeof aad, pt, sizeof pt, ct, tag), 0);
  assert_memory_not_equal(ct, pt, sizeof pt);
  assert_int_equal(cg_aes256gcm_open(key, nonce, aad, sizeof aad, ct, sizeof ct, tag, back), 0);
  assert_memory_equal(back, pt, sizeof pt);

  uint8_t zero[100] = {0};
  ct[50] ^= 1;
  memset(back, 0x55, sizeof back);
  assert_int_equal(cg_aes256gcm_open(key, nonce, aad, sizeof aad, ct, sizeof ct, tag, back),
                   CG_EBAD_MAC);
  assert_memory_equal(back, zero, sizeof back);
  ct[50] ^= 1;

  tag[15] ^= 1;
  assert_int_equal(cg_aes256gcm_open(key, nonce, aad, sizeof aad, ct, sizeof ct, tag, back),
                   CG_EBAD_MAC);
  tag[15] ^= 1;

  assert_int_equal(cg_aes256gcm_open(key, nonce, aad, sizeof aad - 1, ct, sizeof ct, tag, back),
                   CG_EBAD_MAC);
  assert_int_equal(cg_aes256gcm_open(key, nonce, aad, sizeof aad, ct, sizeof ct, tag, back), 0);
}

static void test_aes256gcm_works_in_place(void **state) {
  uint8_t key[32] = {1}, nonce[12] = {2}, buf[77], orig[77], tag[16];
  (void)state;
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = orig[i] = (uint8_t)(3 * i);
  assert_int_equal(cg_aes256gcm_seal(key, nonce, NULL, 0, buf, sizeof buf, buf, tag), 0);
  assert_memory_not_equal(buf, orig, sizeof buf);
  assert_int_equal(cg_aes256gcm_open(key, nonce, NULL, 0, buf, sizeof buf, tag, buf), 0);
  assert_memory_equal(buf, orig, sizeof buf);
}

/* ------------------------------------------------------------------- random */

static void test_random_calls_differ(void **state) {
  uint8_t a[32], b[32];
  (void)state;
  assert_int_equal(cg_random(a, sizeof a), 0);
  assert_int_equal(cg_random(b, sizeof b), 0);
  assert_memory_not_equal(a, b, sizeof a);
}

static void test_random_fills_large_requests(void **state) {
  size_t n = 200000;
  uint8_t *p = calloc(1, n);
  size_t zeros = 0;
  (void)state;
  assert_non_null(p);
  assert_int_equal(cg_random(p, n), 0);
  /* Past any per-request cap of the DRBG the tail must be filled too. */
  for (size_t i = n - 4096; i < n; i++)
    zeros += p[i] == 0;
  assert_true(zeros < 64);
  free(p);
}

struct thread_result {
  int index;
  const struct cg_key *ec, *rsa;
  uint8_t bytes[32];
  int rc;
  int failures;
};

/* Signs and verifies with keys shared by all the threads: wolfCrypt key
 * objects carry per-operation state, which crypto.c must keep apart. */
static void *worker_thread(void *arg) {
  struct thread_result *r = arg;
  uint8_t sig[512];
  size_t sig_len;
  struct cg_iov iov = {&r->index, sizeof r->index};
  r->rc = cg_random(r->bytes, sizeof r->bytes);
  for (int i = 0; i < 20; i++) {
    if (cg_sign(r->ec, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, sizeof sig, &sig_len) != 0 ||
        cg_verify(r->ec, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, sig_len) != 0)
      r->failures++;
  }
  for (int i = 0; i < 3; i++) {
    if (cg_sign(r->rsa, CG_SIG_RSA_PSS, CG_HASH_SHA256, &iov, 1, sig, sizeof sig, &sig_len) !=
            0 ||
        cg_verify(r->rsa, CG_SIG_RSA_PSS, CG_HASH_SHA256, &iov, 1, sig, sig_len) != 0)
      r->failures++;
  }
  /* Odd threads leave their DRBG to the thread-exit destructor. */
  if (r->index % 2 == 0)
    cg_crypto_thread_cleanup();
  return NULL;
}

static void test_threads_share_keys_and_draw_distinct_randoms(void **state) {
  enum { N = 4 };
  struct cg_key *ec = NULL, *rsa = load_private("rsa2048.pem");
  struct thread_result r[N];
  pthread_t t[N];
  uint8_t mine[32];
  (void)state;
  assert_int_equal(cg_key_generate_ec(256, &ec), 0);
  memset(r, 0, sizeof r);
  for (int i = 0; i < N; i++) {
    r[i].index = i;
    r[i].ec = ec;
    r[i].rsa = rsa;
    assert_int_equal(pthread_create(&t[i], NULL, worker_thread, &r[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(r[i].rc, 0);
    assert_int_equal(r[i].failures, 0);
  }
  assert_int_equal(cg_random(mine, sizeof mine), 0);
  for (int i = 0; i < N; i++) {
    assert_memory_not_equal(r[i].bytes, mine, sizeof mine);
    for (int j = i + 1; j < N; j++)
      assert_memory_not_equal(r[i].bytes, r[j].bytes, sizeof mine);
  }
  cg_key_free(ec);
  cg_key_free(rsa);
}

/* ------------------------------------------------------------ sign / verify */

static const char MSG1[] = "protectedPart: header";
static const char MSG2[] = " || body";

/* Signs two pieces with priv, verifies with pub (and with priv), checks that
 * one flipped signature octet or message octet fails with CG_EBAD_MAC. */
static void round_trip(const struct cg_key *priv, const struct cg_key *pub,
                       enum cg_sig_scheme scheme, enum cg_hash hash) {
  uint8_t sig[1024];
  size_t sig_len = 0;
  struct cg_iov pieces[] = {{MSG1, strlen(MSG1)}, {MSG2, strlen(MSG2)}};
  char whole[64];
  snprintf(whole, sizeof whole, "%s%s", MSG1, MSG2);
  struct cg_iov one = {whole, strlen(whole)};

  assert_int_equal(cg_sign(priv, scheme, hash, pieces, 2, sig, sizeof sig, &sig_len), 0);
  assert_true(sig_len > 0);
  assert_int_equal(cg_verify(pub, scheme, hash, pieces, 2, sig, sig_len), 0);
  assert_int_equal(cg_verify(pub, scheme, hash, &one, 1, sig, sig_len), 0);
  assert_int_equal(cg_verify(priv, scheme, hash, &one, 1, sig, sig_len), 0);

  sig[sig_len / 2] ^= 0x01;
  assert_int_equal(cg_verify(pub, scheme, hash, &one, 1, sig, sig_len), CG_EBAD_MAC);
  sig[sig_len / 2] ^= 0x01;

  whole[3] ^= 0x20;
  assert_int_equal(cg_verify(pub, scheme, hash, &one, 1, sig, sig_len), CG_EBAD_MAC);

  /* Too small an output buffer is reported, not overrun. */
  assert_int_equal(cg_sign(priv, scheme, hash, pieces, 2, sig, 8, &sig_len), CG_ESPACE);
}

static struct cg_key *public_of(const struct cg_key *k) {
  uint8_t spki[1024];
  size_t len;
  struct cg_key *pub = NULL;
  assert_int_equal(cg_key_spki(k, spki, sizeof spki, &len), 0);
  assert_int_equal(cg_key_from_spki(spki, len, &pub), 0);
  return pub;
}

static void test_ecdsa_round_trips_on_generated_keys(void **state) {
  static const unsigned bits[] = {256, 384, 521};
  static const enum cg_hash want[] = {CG_HASH_SHA256, CG_HASH_SHA384, CG_HASH_SHA512};
  (void)state;
  for (size_t i = 0; i < 3; i++) {
    struct cg_key *k = NULL;
    enum cg_sig_scheme s;
    enum cg_hash h;
    assert_int_equal(cg_key_generate_ec(bits[i], &k), 0);
    assert_int_equal(cg_key_type(k), CG_KEY_EC);
    cg_key_default_sig(k, &s, &h);
    assert_int_equal(s, CG_SIG_ECDSA);
    assert_int_equal(h, want[i]);
    struct cg_key *pub = public_of(k);
    round_trip(k, pub, CG_SIG_ECDSA, h);
    round_trip(k, pub, CG_SIG_ECDSA, CG_HASH_SHA256);
    cg_key_free(pub);
    cg_key_free(k);
  }
  struct cg_key *k = NULL;
  assert_int_equal(cg_key_generate_ec(255, &k), CG_EBAD_ALG);
  assert_null(k);
}

static void test_rsa_pkcs1_and_pss_round_trip(void **state) {
  struct cg_key *k = load_private("rsa2048.pem");
  struct cg_key *pub = load_spki("rsa2048.spki.der");
  enum cg_sig_scheme s;
  enum cg_hash h;
  (void)state;
  assert_int_equal(cg_key_type(k), CG_KEY_RSA);
  cg_key_default_sig(k, &s, &h);
  assert_int_equal(s, CG_SIG_RSA_PKCS1);
  assert_int_equal(h, CG_HASH_SHA256);
  round_trip(k, pub, CG_SIG_RSA_PKCS1, CG_HASH_SHA256);
  round_trip(k, pub, CG_SIG_RSA_PKCS1, CG_HASH_SHA384);
  round_trip(k, pub, CG_SIG_RSA_PSS, CG_HASH_SHA256);
  round_trip(k, pub, CG_SIG_RSA_PSS, CG_HASH_SHA512);
  cg_key_free(pub);
  cg_key_free(k);
}

static void test_eddsa_round_trips(void **state) {
  static const char *const names[][2] = {{"ed25519.pem", "ed25519.spki.der"},
                                         {"ed448.pem", "ed448.spki.der"}};
  (void)state;
  for (size_t i = 0; i < 2; i++) {
    struct cg_key *k = load_private(names[i][0]);
    struct cg_key *pub = load_spki(names[i][1]);
    enum cg_sig_scheme s;
    enum cg_hash h;
    cg_key_default_sig(k, &s, &h);
    assert_int_equal(s, CG_SIG_EDDSA);
    assert_int_equal(h, CG_HASH_NONE);
    round_trip(k, pub, CG_SIG_EDDSA, CG_HASH_NONE);
    cg_key_free(pub);
    cg_key_free(k);
  }
}

static void test_scheme_that_does_not_fit_key_is_bad_alg(void **state) {
  struct cg_key *ec = NULL;
  struct cg_key *rsa = load_private("rsa2048.pem");
  struct cg_key *ed = load_private("ed25519.pem");
  uint8_t sig[512];
  size_t len;
  struct cg_iov iov = {ABC, 3};
  (void)state;
  assert_int_equal(cg_key_generate_ec(256, &ec), 0);
  assert_int_equal(cg_sign(ec, CG_SIG_RSA_PKCS1, CG_HASH_SHA256, &iov, 1, sig, sizeof sig, &len),
                   CG_EBAD_ALG);
  assert_int_equal(cg_sign(ec, CG_SIG_ECDSA, CG_HASH_NONE, &iov, 1, sig, sizeof sig, &len),
                   CG_EBAD_ALG);
  assert_int_equal(cg_sign(rsa, CG_SIG_EDDSA, CG_HASH_NONE, &iov, 1, sig, sizeof sig, &len),
                   CG_EBAD_ALG);
  assert_int_equal(cg_sign(rsa, CG_SIG_RSA_PSS, CG_HASH_NONE, &iov, 1, sig, sizeof sig, &len),
                   CG_EBAD_ALG);
  assert_int_equal(cg_verify(ed, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, 64), CG_EBAD_ALG);
  assert_int_equal(cg_verify(rsa, CG_SIG_NONE, CG_HASH_SHA256, &iov, 1, sig, 256), CG_EBAD_ALG);
  cg_key_free(ec);
  cg_key_free(rsa);
  cg_key_free(ed);
}

static void test_sign_with_public_key_is_refused(void **state) {
  struct cg_key *pub = load_spki("ec256.spki.der");
  uint8_t sig[256], out[256];
  size_t len;
  struct cg_iov iov = {ABC, 3};
  (void)state;
  assert_int_equal(cg_sign(pub, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, sizeof sig, &len),
                   CG_EINVAL);
  assert_int_equal(cg_key_private_pkcs8(pub, out, sizeof out, &len), CG_EINVAL);
  cg_key_free(pub);
}

/* Signatures made by `openssl dgst -sha256 -sign` / `openssl pkeyutl` over
 * msg.bin (regen.sh) verify; one flipped octet does not. */
static void test_openssl_signatures_verify_and_flipped_fail(void **state) {
  static const struct {
    const char *spki, *sig;
    enum cg_sig_scheme scheme;
    enum cg_hash hash;
  } cases[] = {
      {"ec256.spki.der", "msg.ec256.sha256.sig", CG_SIG_ECDSA, CG_HASH_SHA256},
      {"rsa2048.spki.der", "msg.rsa2048.sha256.sig", CG_SIG_RSA_PKCS1, CG_HASH_SHA256},
      {"rsa2048.spki.der", "msg.rsa2048.pss.sha256.sig", CG_SIG_RSA_PSS, CG_HASH_SHA256},
      {"ed25519.spki.der", "msg.ed25519.sig", CG_SIG_EDDSA, CG_HASH_NONE},
  };
  size_t msg_len;
  uint8_t *msg = vec("msg.bin", &msg_len);
  struct cg_iov iov = {msg, msg_len};
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t sig_len;
    uint8_t *sig = vec(cases[i].sig, &sig_len);
    struct cg_key *pub = load_spki(cases[i].spki);
    assert_int_equal(cg_verify(pub, cases[i].scheme, cases[i].hash, &iov, 1, sig, sig_len), 0);
    for (size_t at = 0; at < sig_len; at += sig_len / 4) {
      sig[at] ^= 0x04;
      assert_int_equal(cg_verify(pub, cases[i].scheme, cases[i].hash, &iov, 1, sig, sig_len),
                       CG_EBAD_MAC);
      sig[at] ^= 0x04;
    }
    assert_int_equal(cg_verify(pub, cases[i].scheme, cases[i].hash, &iov, 1, sig, sig_len - 1),
                     CG_EBAD_MAC);
    cg_key_free(pub);
    free(sig);
  }
  /* PKCS#1 v1.5 and PSS signatures are not interchangeable. */
  {
    size_t sig_len;
    uint8_t *sig = vec("msg.rsa2048.pss.sha256.sig", &sig_len);
    struct cg_key *pub = load_spki("rsa2048.spki.der");
    assert_int_equal(cg_verify(pub, CG_SIG_RSA_PKCS1, CG_HASH_SHA256, &iov, 1, sig, sig_len),
                     CG_EBAD_MAC);
    assert_int_equal(cg_verify(pub, CG_SIG_RSA_PSS, CG_HASH_SHA384, &iov, 1, sig, sig_len),
                     CG_EBAD_MAC);
    cg_key_free(pub);
    free(sig);
  }
  free(msg);
}

/* ------------------------------------------------------------------ keys */

/* Our SPKI of a private key equals `openssl pkey -pubout -outform DER`. */
static void test_spki_export_equals_openssl(void **state) {
  static const char *const names[][2] = {{"ec256.pem", "ec256.spki.der"},
                                         {"ec384.pem", "ec384.spki.der"},
                                         {"rsa2048.pem", "rsa2048.spki.der"},
                                         {"ed25519.pem", "ed25519.spki.der"},
                                         {"ed448.pem", "ed448.spki.der"}};
  (void)state;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    struct cg_key *k = load_private(names[i][0]);
    struct cg_key *pub = load_spki(names[i][1]);
    size_t want_len, len;
    uint8_t *want = vec(names[i][1], &want_len);
    uint8_t out[1024];
    assert_int_equal(cg_key_spki(k, out, sizeof out, &len), 0);
    assert_int_equal(len, want_len);
    assert_memory_equal(out, want, len);
    assert_int_equal(cg_key_spki(pub, out, sizeof out, &len), 0);
    assert_int_equal(len, want_len);
    assert_memory_equal(out, want, len);
    assert_int_equal(cg_key_type(k), cg_key_type(pub));
    assert_int_equal(cg_key_spki(k, out, want_len - 1, &len), CG_ESPACE);
    free(want);
    cg_key_free(pub);
    cg_key_free(k);
  }
}

static void test_key_on_an_unsupported_curve_is_refused(void **state) {
  size_t len, der_len;
  uint8_t *spki = vec("k256.spki.der", &len);
  uint8_t *pem = vec("k256.pem", &der_len);
  uint8_t der[1024];
  struct cg_key *k = NULL;
  const char *why = NULL;
  (void)state;
  assert_int_equal(cg_key_check_spki(spki, len, &why), CG_EBAD_KEY);
  assert_non_null(strstr(why, "P-256, P-384 or P-521"));
  assert_int_equal(cg_key_from_spki(spki, len, &k), CG_EBAD_KEY);
  assert_null(k);
  assert_int_equal(cg_pem_decode("PRIVATE KEY", (const char *)pem, der_len, der, sizeof der,
                                 &der_len, NULL),
                   0);
  assert_int_equal(cg_key_from_private_der(der, der_len, &k), CG_EBAD_KEY);
  assert_null(k);
  free(spki);
  free(pem);
}

/* The RSA bounds of crypto.h: the keys generators make pass; moduli outside
 * CG_RSA_MIN_BITS..CG_RSA_MAX_BITS or of a length that is not a whole number
 * of octets, even moduli, and exponents of 1, even or of 65 bits and more
 * (the 4088-bit exponent of a 4088-bit key made one verification as costly
 * as a private operation) are CG_EBAD_KEY with a reason, from
 * cg_key_check_spki() and cg_key_from_spki() alike. */
static void test_rsa_keys_outside_the_bounds_are_refused(void **state) {
  static const struct {
    unsigned n_bits;
    bool even_modulus;
    unsigned e_bits; /* 17: 65537; 2: 3 */
    bool even_exponent;
    const char *why; /* NULL: accepted */
  } cases[] = {
      {2048, false, 17, false, NULL},
      {3072, false, 17, false, NULL},
      {CG_RSA_MAX_BITS, false, 17, false, NULL},
      {CG_RSA_MIN_BITS, false, 2, false, NULL},
      {2048, false, CG_RSA_MAX_EXPONENT_BITS, false, NULL},
      {CG_RSA_MIN_BITS - 8, false, 17, false, "modulus"},
      {CG_RSA_MIN_BITS + 4, false, 17, false, "modulus"},
      {CG_RSA_MAX_BITS - 1, false, 17, false, "modulus"},
      {CG_RSA_MAX_BITS + 8, false, 17, false, "modulus"},
      {8192, false, 17, false, "modulus"},
      {2048, true, 17, false, "odd"},
      {2048, false, 1, false, "exponent"},
      {2048, false, 17, true, "exponent"},
      {2048, false, CG_RSA_MAX_EXPONENT_BITS + 1, false, "exponent"},
      {4088, false, 4088, false, "exponent"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t spki[2200];
    size_t len =
        tu_rsa_spki(cases[i].n_bits, cases[i].even_modulus, cases[i].e_bits, spki, sizeof spki);
    if (cases[i].even_exponent)
      spki[len - 1] ^= 1; /* the exponent comes last: 65537 -> 65536 */
    const char *why = "unset";
    struct cg_key *k = NULL;
    int want = cases[i].why ? CG_EBAD_KEY : 0;
    if (cg_key_check_spki(spki, len, &why) != want || cg_key_from_spki(spki, len, &k) != want)
      fail_msg("case %zu: modulus %u bits, exponent %u bits: not %s", i, cases[i].n_bits,
               cases[i].e_bits, want ? "refused" : "accepted");
    if (want) {
      assert_null(k);
      assert_non_null(strstr(why, cases[i].why));
    } else {
      assert_null(why);
      assert_int_equal(cg_key_type(k), CG_KEY_RSA);
      cg_key_free(k);
    }
  }
}

static void test_malformed_spki_is_rejected(void **state) {
  size_t len;
  uint8_t *spki = vec("ec256.spki.der", &len);
  uint8_t buf[256];
  struct cg_key *k = NULL;
  (void)state;
  memcpy(buf, spki, len);
  buf[len] = 0;
  assert_int_equal(cg_key_from_spki(buf, len + 1, &k), CG_EDER);
  for (size_t cut = 0; cut < len; cut++)
    assert_int_not_equal(cg_key_from_spki(spki, cut, &k), 0);
  assert_null(k);
  free(spki);
}

/* The two-octet long-form length at p, and written there. */
static size_t get_len2(const uint8_t *p) { return (size_t)p[0] << 8 | p[1]; }
static void put_len2(uint8_t *p, size_t n) {
  p[0] = (uint8_t)(n >> 8);
  p[1] = (uint8_t)n;
}

/* An rsaEncryption SPKI as tu_rsa_spki() writes it,
 *   30 82 LL LL | 30 0d <OID> 05 00 | 03 82 LL LL 00 | 30 82 LL LL <n> <e>
 * with the length at `at` (0: the SPKI's, 24: the RSAPublicKey's) written in
 * one octet more than it needs, a leading zero (BER, not DER: X.690 §10.1),
 * and the lengths around it grown to match.  Returns the new length. */
static size_t ber_length_at(const uint8_t *in, size_t len, size_t at, uint8_t *out) {
  assert_true(in[0] == 0x30 && in[1] == 0x82 && in[19] == 0x03 && in[20] == 0x82 &&
              in[24] == 0x30 && in[25] == 0x82);
  memcpy(out, in, at + 1);
  out[at + 1] = 0x83;
  out[at + 2] = 0x00;
  memcpy(out + at + 3, in + at + 2, len - at - 2);
  if (at == 24) {
    put_len2(out + 2, get_len2(in + 2) + 1);
    put_len2(out + 21, get_len2(in + 21) + 1);
  }
  return len + 1;
}

/* A key whose encoding is not DER is CG_EDER from cg_key_check_spki() as
 * from cg_key_from_spki() (whose wolfCrypt refuses it too), for the
 * SubjectPublicKeyInfo and for the RSAPublicKey inside its BIT STRING, and
 * before its bounds are looked at: the check reads keys with core/der.h. */
static void test_spki_not_in_der_is_refused_by_the_check_too(void **state) {
  static const struct {
    unsigned n_bits;
    size_t at;
  } cases[] = {{2048, 0}, {2048, 24}, {CG_RSA_MIN_BITS - 8, 0}, {CG_RSA_MIN_BITS - 8, 24}};
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t der[2200], ber[2201];
    size_t len = tu_rsa_spki(cases[i].n_bits, false, 17, der, sizeof der);
    size_t ber_len = ber_length_at(der, len, cases[i].at, ber);
    const char *why = "unset";
    struct cg_key *k = NULL;
    assert_int_equal(cg_key_check_spki(ber, ber_len, &why), CG_EDER);
    assert_null(why);
    assert_int_equal(cg_key_from_spki(ber, ber_len, &k), CG_EDER);
    assert_null(k);
    /* The same key in DER: accepted, or refused for its size. */
    int want = cases[i].n_bits < CG_RSA_MIN_BITS ? CG_EBAD_KEY : 0;
    assert_int_equal(cg_key_check_spki(der, len, &why), want);
  }
}

/* SEC1 ECPrivateKey and PKCS#1 RSAPrivateKey (openssl's "traditional"
 * forms) load as the same keys as their PKCS#8 versions. */
static void test_traditional_private_keys_load(void **state) {
  static const char *const names[][2] = {{"ec256.sec1.der", "ec256.pem"},
                                         {"rsa2048.pkcs1.der", "rsa2048.pem"}};
  (void)state;
  for (size_t i = 0; i < 2; i++) {
    size_t len;
    uint8_t *der = vec(names[i][0], &len);
    struct cg_key *k = NULL;
    struct cg_key *ref = load_private(names[i][1]);
    assert_int_equal(cg_key_from_private_der(der, len, &k), 0);
    assert_true(cg_key_is_private(k));
    assert_same_spki(k, ref);
    cg_key_free(k);
    cg_key_free(ref);
    free(der);
  }
}

static void test_pkcs8_export_reloads_as_same_key(void **state) {
  static const char *const names[] = {"ec384.pem", "rsa2048.pem", "ed25519.pem", "ed448.pem"};
  (void)state;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    struct cg_key *k = load_private(names[i]), *back = NULL;
    uint8_t der[4096];
    size_t len;
    enum cg_sig_scheme s;
    enum cg_hash h;
    assert_int_equal(cg_key_private_pkcs8(k, der, sizeof der, &len), 0);
    assert_int_equal(cg_key_from_private_der(der, len, &back), 0);
    assert_same_spki(k, back);
    cg_key_default_sig(k, &s, &h);
    round_trip(back, k, s, h);
    assert_int_equal(cg_key_private_pkcs8(k, der, 16, &len), CG_ESPACE);
    cg_key_free(back);
    cg_key_free(k);
  }
}

/* -------------------------------------------------------------------- PEM */

static void test_pem_round_trip_with_64_column_lines(void **state) {
  uint8_t der[200], back[200];
  char pem[512];
  size_t len, back_len, consumed;
  (void)state;
  for (size_t i = 0; i < sizeof der; i++)
    der[i] = (uint8_t)(255 - i);
  assert_int_equal(cg_pem_encode("CERTIFICATE", der, sizeof der, pem, sizeof pem, &len), 0);
  assert_int_equal(strlen(pem), len);
  assert_memory_equal(pem, "-----BEGIN CERTIFICATE-----\n", 28);
  assert_string_equal(pem + len - 26, "-----END CERTIFICATE-----\n");
  for (char *line = pem, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1)
    assert_true(nl - line <= 64);
  assert_int_equal(cg_pem_decode("CERTIFICATE", pem, len, back, sizeof back, &back_len, &consumed),
                   0);
  assert_int_equal(back_len, sizeof der);
  assert_memory_equal(back, der, sizeof der);
  assert_int_equal(consumed, len - 1);
  assert_int_equal(cg_pem_encode("CERTIFICATE", der, sizeof der, pem, len, &len), CG_ESPACE);
  assert_int_equal(cg_pem_decode("CERTIFICATE", pem, strlen(pem), back, 10, &back_len, NULL),
                   CG_ESPACE);
}

static void test_pem_decode_walks_a_bundle_and_skips_other_labels(void **state) {
  uint8_t a[] = {1, 2, 3, 4, 5}, b[] = {9, 8, 7};
  char one[256], two[256], key[256], bundle[1024];
  size_t l1, l2, lk, off = 0, got, consumed;
  uint8_t out[64];
  (void)state;
  assert_int_equal(cg_pem_encode("CERTIFICATE", a, sizeof a, one, sizeof one, &l1), 0);
  assert_int_equal(cg_pem_encode("PRIVATE KEY", b, sizeof b, key, sizeof key, &lk), 0);
  assert_int_equal(cg_pem_encode("CERTIFICATE", b, sizeof b, two, sizeof two, &l2), 0);
  snprintf(bundle, sizeof bundle, "subject=CN = x\r\n%s%s\nBag Attributes\n%s", one, key, two);
  size_t total = strlen(bundle);

  assert_int_equal(
      cg_pem_decode("CERTIFICATE", bundle, total, out, sizeof out, &got, &consumed), 0);
  assert_int_equal(got, sizeof a);
  assert_memory_equal(out, a, sizeof a);
  off += consumed;
  assert_int_equal(cg_pem_decode("CERTIFICATE", bundle + off, total - off, out, sizeof out, &got,
                                 &consumed),
                   0);
  assert_int_equal(got, sizeof b);
  assert_memory_equal(out, b, sizeof b);
  off += consumed;
  assert_int_equal(cg_pem_decode("CERTIFICATE", bundle + off, total - off, out, sizeof out, &got,
                                 &consumed),
                   CG_ENOT_FOUND);
  assert_int_equal(
      cg_pem_decode("PUBLIC KEY", bundle, total, out, sizeof out, &got, &consumed),
      CG_ENOT_FOUND);
}

static void test_pem_decode_rejects_broken_blocks(void **state) {
  static const char no_end[] = "-----BEGIN X-----\nAQID\n";
  static const char headers[] =
      "-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\n\nAQID\n-----END X-----\n";
  static const char bad_b64[] = "-----BEGIN X-----\nAQ!D\n-----END X-----\n";
  static const char good[] = "-----BEGIN X-----\r\nAQID\r\n-----END X-----\r\n";
  uint8_t out[16];
  size_t len;
  (void)state;
  assert_int_equal(cg_pem_decode("X", no_end, strlen(no_end), out, sizeof out, &len, NULL),
                   CG_EBAD_DATA);
  assert_int_equal(cg_pem_decode("X", headers, strlen(headers), out, sizeof out, &len, NULL),
                   CG_EBAD_DATA);
  assert_int_equal(cg_pem_decode("X", bad_b64, strlen(bad_b64), out, sizeof out, &len, NULL),
                   CG_EBAD_DATA);
  assert_int_equal(cg_pem_decode("X", good, strlen(good), out, sizeof out, &len, NULL), 0);
  assert_int_equal(len, 3);
  assert_memory_equal(out, "\x01\x02\x03", 3);
}

/* ---------------------------------------------------------------- PKCS#12 */

struct p12_parts {
  struct cg_key *key;
  uint8_t *cert;
  size_t cert_len;
  uint8_t **ca;
  size_t *ca_len;
  size_t n_ca;
};

static void p12_parts_free(struct p12_parts *p) {
  cg_key_free(p->key);
  free(p->cert);
  cg_pkcs12_free_certs(p->ca, p->ca_len, p->n_ca);
}

/* The parts of a PKCS#12 made from ec256.pem, ec256.crt.der and ca.crt.der. */
static void assert_ec256_parts(const struct p12_parts *p) {
  size_t cert_len, ca_len;
  uint8_t *cert = vec("ec256.crt.der", &cert_len);
  uint8_t *ca = vec("ca.crt.der", &ca_len);
  struct cg_key *pub = load_spki("ec256.spki.der");
  assert_true(cg_key_is_private(p->key));
  assert_same_spki(p->key, pub);
  assert_int_equal(p->cert_len, cert_len);
  assert_memory_equal(p->cert, cert, cert_len);
  assert_int_equal(p->n_ca, 1);
  assert_int_equal(p->ca_len[0], ca_len);
  assert_memory_equal(p->ca[0], ca, ca_len);
  cg_key_free(pub);
  free(cert);
  free(ca);
}

static uint8_t *make_ec256_p12(const char *password, size_t *len) {
  size_t cert_len, ca_len;
  uint8_t *cert = vec("ec256.crt.der", &cert_len);
  uint8_t *ca = vec("ca.crt.der", &ca_len);
  struct cg_key *k = load_private("ec256.pem");
  const uint8_t *cas[] = {ca};
  uint8_t *p12 = NULL;
  assert_int_equal(cg_pkcs12_create(password, k, cert, cert_len, cas, &ca_len, 1, &p12, len), 0);
  assert_non_null(p12);
  cg_key_free(k);
  free(cert);
  free(ca);
  return p12;
}

static void test_pkcs12_create_then_parse_round_trips(void **state) {
  size_t len;
  uint8_t *p12 = make_ec256_p12("s3cret", &len);
  struct p12_parts p = {0};
  (void)state;
  assert_int_equal(
      cg_pkcs12_parse(p12, len, "s3cret", &p.key, &p.cert, &p.cert_len, &p.ca, &p.ca_len, &p.n_ca),
      0);
  assert_ec256_parts(&p);
  p12_parts_free(&p);
  free(p12);
}

static void test_pkcs12_wrong_password_is_bad_mac(void **state) {
  size_t len;
  uint8_t *p12 = make_ec256_p12("s3cret", &len);
  struct p12_parts p = {0};
  (void)state;
  assert_int_equal(
      cg_pkcs12_parse(p12, len, "s3creT", &p.key, &p.cert, &p.cert_len, &p.ca, &p.ca_len, &p.n_ca),
      CG_EBAD_MAC);
  assert_null(p.key);
  assert_null(p.cert);
  assert_null(p.ca);
  free(p12);
}

static void test_pkcs12_truncated_is_rejected(void **state) {
  size_t len;
  uint8_t *p12 = make_ec256_p12("s3cret", &len);
  struct p12_parts p = {0};
  (void)state;
  for (size_t cut = 1; cut < len; cut += 97)
    assert_int_not_equal(cg_pkcs12_parse(p12, cut, "s3cret", &p.key, &p.cert, &p.cert_len, &p.ca,
                                         &p.ca_len, &p.n_ca),
                         0);
  assert_null(p.key);
  free(p12);
}

/* .p12 files made by `openssl pkcs12 -export` (regen.sh): OpenSSL 3's
 * default (PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC) and the
 * PBE-SHA1-3DES / HMAC-SHA1 variant. */
static void test_pkcs12_made_by_openssl_parses(void **state) {
  static const char *const files[] = {"ec256.p12", "ec256.3des.p12"};
  (void)state;
  for (size_t i = 0; i < 2; i++) {
    size_t len;
    uint8_t *p12 = vec(files[i], &len);
    struct p12_parts p = {0};
    assert_int_equal(cg_pkcs12_parse(p12, len, "test1234", &p.key, &p.cert, &p.cert_len, &p.ca,
                                     &p.ca_len, &p.n_ca),
                     0);
    assert_ec256_parts(&p);
    p12_parts_free(&p);
    assert_int_equal(cg_pkcs12_parse(p12, len, "test1235", &p.key, &p.cert, &p.cert_len, &p.ca,
                                     &p.ca_len, &p.n_ca),
                     CG_EBAD_MAC);
    free(p12);
  }
}

/* Our PKCS#12 read back by `openssl pkcs12` (OpenSSL 3, without -legacy):
 * the key and both certificates it prints are the ones we put in.  Skipped
 * when the openssl command is not installed. */
static void test_pkcs12_is_readable_by_openssl(void **state) {
  const char *tmp = getenv("TMPDIR");
  char in[256], out[300], cmd[1024];
  size_t len, text_len;
  uint8_t *p12, *text;
  int fd;
  (void)state;
  if (system("openssl version >/dev/null 2>&1") != 0)
    skip();
  snprintf(in, sizeof in, "%s/cg_p12_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  p12 = make_ec256_p12("pass word", &len);
  fd = mkstemp(in);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, p12, len), (ssize_t)len);
  close(fd);
  snprintf(out, sizeof out, "%s.pem", in);
  snprintf(cmd, sizeof cmd, "openssl pkcs12 -in %s -passin 'pass:pass word' -nodes -out %s 2>&1",
           in, out);
  int status = system(cmd);
  text = tu_read_file(out, &text_len);
  unlink(in);
  unlink(out);
  assert_int_equal(status, 0);
  assert_non_null(text);

  uint8_t der[2048];
  size_t der_len, consumed, off = 0;
  struct p12_parts p = {0};
  assert_int_equal(cg_pem_decode("PRIVATE KEY", (const char *)text, text_len, der, sizeof der,
                                 &der_len, NULL),
                   0);
  assert_int_equal(cg_key_from_private_der(der, der_len, &p.key), 0);
  /* OpenSSL prints the certificate that matches the key first. */
  assert_int_equal(cg_pem_decode("CERTIFICATE", (const char *)text, text_len, der, sizeof der,
                                 &der_len, &consumed),
                   0);
  p.cert = malloc(der_len);
  memcpy(p.cert, der, der_len);
  p.cert_len = der_len;
  off = consumed;
  assert_int_equal(cg_pem_decode("CERTIFICATE", (const char *)text + off, text_len - off, der,
                                 sizeof der, &der_len, NULL),
                   0);
  p.n_ca = 1;
  p.ca = malloc(sizeof *p.ca);
  p.ca_len = malloc(sizeof *p.ca_len);
  p.ca[0] = malloc(der_len);
  memcpy(p.ca[0], der, der_len);
  p.ca_len[0] = der_len;
  {
    /* Order of the two certificates in OpenSSL's output is not ours to fix:
     * swap if the end-entity certificate came second. */
    size_t ee_len;
    uint8_t *ee = vec("ec256.crt.der", &ee_len);
    if (p.cert_len != ee_len || memcmp(p.cert, ee, ee_len) != 0) {
      uint8_t *t = p.cert;
      size_t tl = p.cert_len;
      p.cert = p.ca[0];
      p.cert_len = p.ca_len[0];
      p.ca[0] = t;
      p.ca_len[0] = tl;
    }
    free(ee);
  }
  assert_ec256_parts(&p);
  p12_parts_free(&p);
  free(text);
  free(p12);
}

static int teardown_group(void **state) {
  (void)state;
  cg_crypto_thread_cleanup();
  return 0;
}

/* Every kind of key cg_key_generate() makes signs, verifies with its SPKI,
 * and comes back the same from its PKCS#8; what it cannot make is refused. */
static void test_generated_keys_sign_and_round_trip(void **state) {
  (void)state;
  static const struct {
    enum cg_key_type type;
    unsigned bits;
  } kinds[] = {{CG_KEY_EC, 256}, {CG_KEY_EC, 384}, {CG_KEY_EC, 521}, {CG_KEY_ED25519, 0},
               {CG_KEY_RSA, 2048}};
  static const char msg[] = "a message to sign";
  struct cg_iov iov = {(const uint8_t *)msg, sizeof msg - 1};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    struct cg_key *k = NULL, *pub = NULL, *back = NULL;
    uint8_t sig[1024], spki[1024], spki2[1024], p8[4096];
    size_t sig_len, spki_len, spki2_len, p8_len;
    enum cg_sig_scheme scheme;
    enum cg_hash hash;
    assert_int_equal(cg_key_generate(kinds[i].type, kinds[i].bits, &k), 0);
    assert_int_equal(cg_key_type(k), kinds[i].type);
    assert_true(cg_key_is_private(k));
    cg_key_default_sig(k, &scheme, &hash);
    assert_int_equal(cg_sign(k, scheme, hash, &iov, 1, sig, sizeof sig, &sig_len), 0);
    assert_int_equal(cg_key_spki(k, spki, sizeof spki, &spki_len), 0);
    assert_int_equal(cg_key_from_spki(spki, spki_len, &pub), 0);
    assert_int_equal(cg_verify(pub, scheme, hash, &iov, 1, sig, sig_len), 0);
    sig[sig_len / 2] ^= 1;
    assert_int_not_equal(cg_verify(pub, scheme, hash, &iov, 1, sig, sig_len), 0);
    assert_int_equal(cg_key_private_pkcs8(k, p8, sizeof p8, &p8_len), 0);
    assert_int_equal(cg_key_from_private_der(p8, p8_len, &back), 0);
    assert_int_equal(cg_key_spki(back, spki2, sizeof spki2, &spki2_len), 0);
    assert_int_equal(spki2_len, spki_len);
    assert_memory_equal(spki2, spki, spki_len);
    cg_key_free(k);
    cg_key_free(pub);
    cg_key_free(back);
  }
  struct cg_key *k = NULL;
  assert_int_equal(cg_key_generate(CG_KEY_EC, 192, &k), CG_EBAD_ALG);
  assert_int_equal(cg_key_generate(CG_KEY_RSA, 1024, &k), CG_EBAD_ALG);
  assert_int_equal(cg_key_generate(CG_KEY_ED448, 0, &k), CG_EBAD_ALG);
  assert_null(k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hash_abc_matches_fips180),
      cmocka_unit_test(test_hash_of_pieces_equals_hash_of_whole),
      cmocka_unit_test(test_hash_none_is_bad_alg),
      cmocka_unit_test(test_hmac_sha256_matches_rfc4231),
      cmocka_unit_test(test_pbm_owf_matches_chained_openssl_digests),
      cmocka_unit_test(test_pbm_owf_rejects_zero_iterations),
      cmocka_unit_test(test_pbkdf2_sha1_matches_rfc6070),
      cmocka_unit_test(test_ct_equal_compares_every_octet),
      cmocka_unit_test(test_aes256gcm_matches_gcm_spec_test_case_14),
      cmocka_unit_test(test_aes256gcm_round_trip_and_tamper_is_bad_mac),
      cmocka_unit_test(test_aes256gcm_works_in_place),
      cmocka_unit_test(test_random_calls_differ),
      cmocka_unit_test(test_random_fills_large_requests),
      cmocka_unit_test(test_threads_share_keys_and_draw_distinct_randoms),
      cmocka_unit_test(test_ecdsa_round_trips_on_generated_keys),
      cmocka_unit_test(test_rsa_pkcs1_and_pss_round_trip),
      cmocka_unit_test(test_eddsa_round_trips),
      cmocka_unit_test(test_scheme_that_does_not_fit_key_is_bad_alg),
      cmocka_unit_test(test_sign_with_public_key_is_refused),
      cmocka_unit_test(test_openssl_signatures_verify_and_flipped_fail),
      cmocka_unit_test(test_spki_export_equals_openssl),
      cmocka_unit_test(test_key_on_an_unsupported_curve_is_refused),
      cmocka_unit_test(test_rsa_keys_outside_the_bounds_are_refused),
      cmocka_unit_test(test_malformed_spki_is_rejected),
      cmocka_unit_test(test_spki_not_in_der_is_refused_by_the_check_too),
      cmocka_unit_test(test_traditional_private_keys_load),
      cmocka_unit_test(test_pkcs8_export_reloads_as_same_key),
      cmocka_unit_test(test_pem_round_trip_with_64_column_lines),
      cmocka_unit_test(test_pem_decode_walks_a_bundle_and_skips_other_labels),
      cmocka_unit_test(test_pem_decode_rejects_broken_blocks),
      cmocka_unit_test(test_pkcs12_create_then_parse_round_trips),
      cmocka_unit_test(test_pkcs12_wrong_password_is_bad_mac),
      cmocka_unit_test(test_pkcs12_truncated_is_rejected),
      cmocka_unit_test(test_pkcs12_made_by_openssl_parses),
      cmocka_unit_test(test_pkcs12_is_readable_by_openssl),
      cmocka_unit_test(test_generated_keys_sign_and_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, teardown_group);
}
