/*
 * crypto.c - the adapters of crypto.h over wolfCrypt (wolfSSL 5.5.4 and 5.7.2).  With
 * core/token.c (PKCS#11 tokens) it is the only file of cmpgw that includes
 * wolfCrypt headers.  It holds, in order:
 * library start-up and the per-thread DRBG; hashes, HMAC, the PasswordBasedMac
 * one-way function and PBKDF2; constant-time comparison; AES-256-GCM; keys
 * (a tagged union of the four wolfCrypt key types, read from SPKI, whose key
 * is first checked against the bounds of crypto.h, and from private key DER,
 * both first read with core/der.h and the OIDs of core/oid.h, generated,
 * written back as SPKI and PKCS#8); signatures; PEM; and PKCS#12.
 * Every wolfCrypt call is mapped to a CG_E* code at the call site.
 *
 * Threads: the DRBG (and wolfCrypt's ECC point cache) are per thread and
 * released by cg_crypto_thread_cleanup() or, failing that, by a thread-exit
 * destructor.  A key may be used by many threads at once although wolfCrypt
 * key objects may not: see union wc_key.
 */
#include <wolfssl/options.h>

#include <wolfssl/wolfcrypt/settings.h>

#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/ed448.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/pkcs12.h>
#include <wolfssl/wolfcrypt/pwdbased.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/wc_port.h>

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/der.h"
#include "core/err.h"
#include "core/oid.h"

/* Largest RSA signature / modulus we handle (RSA_MAX_SIZE bits of this build). */
#define RSA_MAX_BYTES 512
/* Room for a DER RSAPrivateKey of RSA_MAX_BYTES: nine integers, each at most
 * the modulus size plus a few header octets. */
#define RSA_PRIV_DER_MAX (9 * (RSA_MAX_BYTES + 8) + 16)

/* ------------------------------------------------------------------------ */
/* Start-up, error mapping, the per-thread DRBG.                            */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;
static int init_err;

static _Thread_local WC_RNG tl_rng;
static _Thread_local bool tl_rng_ready;
static _Thread_local bool tl_registered;

static void on_thread_exit(void *unused) {
  (void)unused;
  cg_crypto_thread_cleanup();
  tl_registered = false;
}

static void init_library(void) {
  if (wolfCrypt_Init() != 0) {
    init_err = CG_ECRYPTO;
    return;
  }
  /* The key's destructor releases the per-thread state of threads that end
   * without calling cg_crypto_thread_cleanup() (libuv pool threads, say). */
  if (pthread_key_create(&thread_key, on_thread_exit) != 0)
    init_err = CG_ENOMEM;
}

/* Initialises the library once and arms the calling thread's exit
 * destructor; called before anything that creates per-thread state. */
static int thread_enter(void) {
  pthread_once(&init_once, init_library);
  if (init_err != 0)
    return init_err;
  if (!tl_registered) {
    if (pthread_setspecific(thread_key, &tl_registered) != 0)
      return CG_ENOMEM;
    tl_registered = true;
  }
  return 0;
}

int cg_crypto_init(void) {
  pthread_once(&init_once, init_library);
  return init_err;
}

static int map_err(int wc) {
  switch (wc) {
  case MEMORY_E:
    return CG_ENOMEM;
  case BUFFER_E:
  case RSA_BUFFER_E:
    return CG_ESPACE;
  default:
    return CG_ECRYPTO;
  }
}

/* The calling thread's DRBG, seeded on first use; NULL when seeding fails. */
static WC_RNG *thread_rng(void) {
  if (tl_rng_ready)
    return &tl_rng;
  if (thread_enter() != 0)
    return NULL;
  if (wc_InitRng(&tl_rng) != 0)
    return NULL;
  tl_rng_ready = true;
  return &tl_rng;
}

void cg_crypto_thread_cleanup(void) {
  if (tl_rng_ready) {
    wc_FreeRng(&tl_rng);
    tl_rng_ready = false;
  }
#ifdef FP_ECC
  /* This build keeps a per-thread fixed-point cache for ECC point
   * multiplication. */
  wc_ecc_fp_free();
#endif
}

void cg_wipe(void *p, size_t n) {
  if (p != NULL)
    explicit_bzero(p, n); /* a memset the compiler may not drop */
}

int cg_random(void *out, size_t n) {
  WC_RNG *rng = thread_rng();
  uint8_t *p = out;
  if (!rng)
    return CG_ECRYPTO;
  /* wolfCrypt caps one request (RNG_MAX_BLOCK_LEN); ask in smaller pieces. */
  while (n > 0) {
    word32 chunk = n > 0x4000 ? 0x4000 : (word32)n;
    if (wc_RNG_GenerateBlock(rng, p, chunk) != 0)
      return CG_ECRYPTO;
    p += chunk;
    n -= chunk;
  }
  return 0;
}

bool cg_ct_equal(const void *a, const void *b, size_t n) {
  const uint8_t *x = a, *y = b;
  volatile uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= (uint8_t)(x[i] ^ y[i]);
  return acc == 0;
}

/* ------------------------------------------------------------------------ */
/* Hashes, HMAC, PasswordBasedMac OWF, PBKDF2.                              */

static enum wc_HashType wc_hash_type(enum cg_hash h) {
  switch (h) {
  case CG_HASH_SHA1:
    return WC_HASH_TYPE_SHA;
  case CG_HASH_SHA224:
    return WC_HASH_TYPE_SHA224;
  case CG_HASH_SHA256:
    return WC_HASH_TYPE_SHA256;
  case CG_HASH_SHA384:
    return WC_HASH_TYPE_SHA384;
  case CG_HASH_SHA512:
    return WC_HASH_TYPE_SHA512;
  default:
    return WC_HASH_TYPE_NONE;
  }
}

size_t cg_hash_size(enum cg_hash h) {
  switch (h) {
  case CG_HASH_SHA1:
    return 20;
  case CG_HASH_SHA224:
    return 28;
  case CG_HASH_SHA256:
    return 32;
  case CG_HASH_SHA384:
    return 48;
  case CG_HASH_SHA512:
    return 64;
  default:
    return 0;
  }
}

/* The names OpenSSL uses for the digests, which operators know. */
const char *cg_hash_name(enum cg_hash h) {
  switch (h) {
  case CG_HASH_SHA1:
    return "sha1";
  case CG_HASH_SHA224:
    return "sha224";
  case CG_HASH_SHA256:
    return "sha256";
  case CG_HASH_SHA384:
    return "sha384";
  case CG_HASH_SHA512:
    return "sha512";
  default:
    return "none";
  }
}

/* Feeds one piece in word32-sized steps (wolfCrypt lengths are 32-bit). */
static int hash_feed(wc_HashAlg *st, enum wc_HashType t, const void *p, size_t len) {
  const uint8_t *b = p;
  while (len > 0) {
    word32 chunk = len > 0x40000000u ? 0x40000000u : (word32)len;
    if (wc_HashUpdate(st, t, b, chunk) != 0)
      return CG_ECRYPTO;
    b += chunk;
    len -= chunk;
  }
  return 0;
}

int cg_hash(enum cg_hash h, const struct cg_iov *iov, size_t n, uint8_t *out) {
  enum wc_HashType t = wc_hash_type(h);
  wc_HashAlg st;
  int rc = 0;
  if (t == WC_HASH_TYPE_NONE)
    return CG_EBAD_ALG;
  if ((!iov && n) || !out)
    return CG_EINVAL;
  if (wc_HashInit(&st, t) != 0)
    return CG_ECRYPTO;
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = hash_feed(&st, t, iov[i].p, iov[i].len);
  if (rc == 0 && wc_HashFinal(&st, t, out) != 0)
    rc = CG_ECRYPTO;
  wc_HashFree(&st, t);
  return rc;
}

int cg_hmac(enum cg_hash h, const uint8_t *key, size_t key_len, const struct cg_iov *iov,
            size_t n, uint8_t *out) {
  static const uint8_t empty[1];
  enum wc_HashType t = wc_hash_type(h);
  Hmac mac;
  int rc = 0;
  if (t == WC_HASH_TYPE_NONE)
    return CG_EBAD_ALG;
  if ((!iov && n) || !out || (!key && key_len) || key_len > UINT32_MAX)
    return CG_EINVAL;
  if (wc_HmacInit(&mac, NULL, INVALID_DEVID) != 0)
    return CG_ECRYPTO;
  /* wolfCrypt refuses a NULL key even when it is empty. */
  if (wc_HmacSetKey(&mac, (int)t, key ? key : empty, (word32)key_len) != 0)
    rc = CG_ECRYPTO;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const uint8_t *b = iov[i].p;
    size_t len = iov[i].len;
    while (rc == 0 && len > 0) {
      word32 chunk = len > 0x40000000u ? 0x40000000u : (word32)len;
      if (wc_HmacUpdate(&mac, b, chunk) != 0)
        rc = CG_ECRYPTO;
      b += chunk;
      len -= chunk;
    }
  }
  if (rc == 0 && wc_HmacFinal(&mac, out) != 0)
    rc = CG_ECRYPTO;
  wc_HmacFree(&mac);
  cg_wipe(&mac, sizeof mac);
  return rc;
}

int cg_pbm_owf(enum cg_hash h, const uint8_t *secret, size_t secret_len, const uint8_t *salt,
               size_t salt_len, uint32_t iterations, uint8_t *out) {
  enum wc_HashType t = wc_hash_type(h);
  size_t hlen = cg_hash_size(h);
  wc_HashAlg st;
  int rc;
  if (t == WC_HASH_TYPE_NONE)
    return CG_EBAD_ALG;
  if (iterations == 0 || !out || (!secret && secret_len) || (!salt && salt_len))
    return CG_EINVAL;
  if (wc_HashInit(&st, t) != 0)
    return CG_ECRYPTO;
  /* RFC 9810 §5.1.3.1: BASEKEY = H(password || salt), then hashed
   * iterationCount - 1 more times.  wolfCrypt's final step re-initialises
   * the state, so one context serves every round. */
  rc = hash_feed(&st, t, secret, secret_len);
  if (rc == 0)
    rc = hash_feed(&st, t, salt, salt_len);
  if (rc == 0 && wc_HashFinal(&st, t, out) != 0)
    rc = CG_ECRYPTO;
  for (uint32_t i = 1; i < iterations && rc == 0; i++) {
    if (wc_HashUpdate(&st, t, out, (word32)hlen) != 0 || wc_HashFinal(&st, t, out) != 0)
      rc = CG_ECRYPTO;
  }
  wc_HashFree(&st, t);
  cg_wipe(&st, sizeof st);
  if (rc != 0)
    cg_wipe(out, hlen);
  return rc;
}

int cg_pbkdf2(enum cg_hash prf, const uint8_t *pass, size_t pass_len, const uint8_t *salt,
              size_t salt_len, uint32_t iterations, uint8_t *out, size_t out_len) {
  static const uint8_t empty[1];
  enum wc_HashType t = wc_hash_type(prf);
  if (t == WC_HASH_TYPE_NONE)
    return CG_EBAD_ALG;
  if (iterations == 0 || iterations > INT_MAX || !out || out_len == 0 || out_len > INT_MAX ||
      pass_len > INT_MAX || salt_len > INT_MAX || (!pass && pass_len) || (!salt && salt_len))
    return CG_EINVAL;
  if (wc_PBKDF2(out, pass ? pass : empty, (int)pass_len, salt ? salt : empty, (int)salt_len,
                (int)iterations, (int)out_len, (int)t) != 0)
    return CG_ECRYPTO;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* AES-256-GCM.                                                             */

int cg_aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
                      size_t aad_len, const uint8_t *pt, size_t len, uint8_t *ct,
                      uint8_t tag[16]) {
  Aes aes;
  int rc = 0;
  if (!key || !nonce || !tag || (!aad && aad_len) || ((!pt || !ct) && len) ||
      len > UINT32_MAX || aad_len > UINT32_MAX)
    return CG_EINVAL;
  if (wc_AesInit(&aes, NULL, INVALID_DEVID) != 0)
    return CG_ECRYPTO;
  if (wc_AesGcmSetKey(&aes, key, 32) != 0 ||
      wc_AesGcmEncrypt(&aes, ct, pt, (word32)len, nonce, 12, tag, 16, aad, (word32)aad_len) != 0)
    rc = CG_ECRYPTO;
  wc_AesFree(&aes);
  cg_wipe(&aes, sizeof aes);
  return rc;
}

int cg_aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
                      size_t aad_len, const uint8_t *ct, size_t len, const uint8_t tag[16],
                      uint8_t *pt) {
  Aes aes;
  int rc = 0, wc;
  if (!key || !nonce || !tag || (!aad && aad_len) || ((!pt || !ct) && len) ||
      len > UINT32_MAX || aad_len > UINT32_MAX)
    return CG_EINVAL;
  if (wc_AesInit(&aes, NULL, INVALID_DEVID) != 0)
    return CG_ECRYPTO;
  wc = wc_AesGcmSetKey(&aes, key, 32);
  if (wc == 0)
    wc = wc_AesGcmDecrypt(&aes, pt, ct, (word32)len, nonce, 12, tag, 16, aad, (word32)aad_len);
  if (wc == AES_GCM_AUTH_E)
    rc = CG_EBAD_MAC;
  else if (wc != 0)
    rc = CG_ECRYPTO;
  /* Some wolfCrypt code paths decrypt before they check the tag: never hand
   * out unauthenticated plaintext. */
  if (rc != 0 && pt)
    cg_wipe(pt, len);
  wc_AesFree(&aes);
  cg_wipe(&aes, sizeof aes);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* AES-CBC and AES key wrap, for CMS (core/cms.c).                          */

static bool aes_key_size_ok(size_t n) { return n == 16 || n == 24 || n == 32; }

int cg_aes_cbc_encrypt(const uint8_t *key, size_t key_len, const uint8_t iv[16], const uint8_t *in,
                       size_t len, uint8_t *out) {
  Aes aes;
  int rc = 0;
  if (!key || !iv || !aes_key_size_ok(key_len) || len % 16 != 0 || len > UINT32_MAX ||
      ((!in || !out) && len))
    return CG_EINVAL;
  if (wc_AesInit(&aes, NULL, INVALID_DEVID) != 0)
    return CG_ECRYPTO;
  if (wc_AesSetKey(&aes, key, (word32)key_len, iv, AES_ENCRYPTION) != 0 ||
      (len > 0 && wc_AesCbcEncrypt(&aes, out, in, (word32)len) != 0))
    rc = CG_ECRYPTO;
  wc_AesFree(&aes);
  cg_wipe(&aes, sizeof aes);
  return rc;
}

int cg_aes_key_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t in_len,
                    uint8_t *out) {
  if (!kek || !in || !out || !aes_key_size_ok(kek_len) || in_len < 16 || in_len % 8 != 0 ||
      in_len > 4096)
    return CG_EINVAL;
  int wc = wc_AesKeyWrap(kek, (word32)kek_len, in, (word32)in_len, out, (word32)in_len + 8, NULL);
  return wc == (int)in_len + 8 ? 0 : CG_ECRYPTO;
}

/* ------------------------------------------------------------------------ */
/* Keys.                                                                    */

/* wolfCrypt keys keep per-operation state (ecc_key and RsaKey have a state
 * field for their asynchronous state machines), so one wolfCrypt key object
 * must not be used by two threads at once: concurrent ECDSA verifications on
 * a shared ecc_key fail at random.  Each cg_key therefore holds its wolfCrypt
 * object behind a mutex, and the DER it was made from.  An operation that
 * finds the mutex taken does not wait: it decodes a private copy from the
 * DER (a few microseconds, against tens to hundreds for the operation), so a
 * key shared by every worker, like the RA protection key, never serialises
 * them. */
union wc_key {
  ecc_key ec;
  RsaKey rsa;
  ed25519_key ed25519;
  ed448_key ed448;
};

struct cg_key {
  enum cg_key_type type;
  bool priv;
  pthread_mutex_t lock; /* held while an operation uses u */
  uint8_t *der;         /* SPKI, or the private key DER, u was decoded from */
  size_t der_len;
  /* A key held by a device (core/token.h): der is its SPKI, u a wolfCrypt
   * object that names the private key by CKA_ID or CKA_LABEL and sends its
   * operations to dev_id's callback.  dev_id INVALID_DEVID: in memory. */
  int dev_id;
  uint8_t dev_ref[CG_DEVICE_REF_MAX + 1]; /* the CKA_ID, or the label NUL-terminated */
  size_t dev_ref_len;
  bool dev_label;
  union wc_key u;
};

/* A wolfCrypt key object lent to one operation: the cg_key's own (locked)
 * or a private copy. */
struct key_use {
  union wc_key *u;
  union wc_key *copy; /* malloc'ed when the key's own object was busy */
};

/* The algorithm of a key, and what wolfCrypt must not see first, are read
 * with the DER reader of core/der.h; wolfCrypt does the rest of the parsing.
 *
 * AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER,
 *                                    parameters ANY DEFINED BY algorithm OPTIONAL }
 * (RFC 5280 §4.1.1.2). */
struct algid {
  struct der_view oid; /* contents */
  bool has_param;
  struct der_tlv param;
};

static void read_algid(struct der_reader *r, struct algid *a) {
  struct der_reader seq;
  struct der_tlv oid;
  cg_der_enter(r, DER_SEQUENCE, &seq);
  cg_der_expect(&seq, DER_OID, &oid);
  a->oid = oid.val;
  a->has_param = !cg_der_at_end(&seq) && cg_der_next(&seq, &a->param) == 0;
  cg_der_leave(r, &seq);
}

/* Whether v holds the contents of the known OID id (core/oid.h). */
static bool oid_is(struct der_view v, enum cg_oid_id id) { return cg_der_view_eq(v, cg_oid(id)); }

#define STR_(x) #x
#define STR(x) STR_(x)

_Static_assert(CG_RSA_MAX_BITS <= RSA_MAX_SIZE, "the wolfSSL build handles smaller RSA keys");
_Static_assert(CG_RSA_MIN_BITS >= 1024 && CG_RSA_MIN_BITS % 8 == 0 &&
                   CG_RSA_MIN_BITS <= CG_RSA_MAX_BITS,
               "CG_RSA_MIN_BITS: a multiple of 8 from 1024 to CG_RSA_MAX_BITS");

/* Why a key is refused (crypto.h gives the reasons for the bounds). */
static const char WHY_CURVE[] = "an EC key must be on the named curve P-256, P-384 or P-521";
static const char WHY_RSA_SIZE[] = "an RSA modulus must have " STR(CG_RSA_MIN_BITS)
    ".." STR(CG_RSA_MAX_BITS) " bits, a multiple of 8";
static const char WHY_RSA_ODD[] = "an RSA modulus must be odd";
static const char WHY_RSA_EXPONENT[] =
    "an RSA public exponent must be odd, at least 3 and below 2^" STR(CG_RSA_MAX_EXPONENT_BITS);

/* The key type an AlgorithmIdentifier names.  0; CG_EBAD_ALG when it names
 * no algorithm we know (or EdDSA with parameters, which RFC 8410 §3 forbids);
 * CG_EBAD_KEY for an EC key on a curve other than P-256/384/521 or with
 * explicit parameters (RFC 5480 §2.1.1: namedCurve only). */
static int algid_key_type(const struct algid *a, enum cg_key_type *type, const char **why) {
  if (oid_is(a->oid, CG_OID_EC_PUBLIC_KEY)) {
    if (a->has_param && a->param.tag == DER_OID &&
        (oid_is(a->param.val, CG_OID_P256) || oid_is(a->param.val, CG_OID_P384) ||
         oid_is(a->param.val, CG_OID_P521))) {
      *type = CG_KEY_EC;
      return 0;
    }
    *why = WHY_CURVE;
    return CG_EBAD_KEY;
  }
  if (oid_is(a->oid, CG_OID_RSA_ENCRYPTION))
    *type = CG_KEY_RSA;
  else if (oid_is(a->oid, CG_OID_ED25519) && !a->has_param)
    *type = CG_KEY_ED25519;
  else if (oid_is(a->oid, CG_OID_ED448) && !a->has_param)
    *type = CG_KEY_ED448;
  else
    return CG_EBAD_ALG;
  return 0;
}

/* Reads a DER INTEGER from r; *mag gets its magnitude without the sign
 * octet.  0, CG_EBAD_KEY (negative: no RSA modulus or exponent is) or CG_EDER
 * (no INTEGER, or not a minimal one). */
static int read_magnitude(struct der_reader *r, struct der_view *mag) {
  struct der_tlv t;
  if (cg_der_expect(r, DER_INTEGER, &t) != 0)
    return CG_EDER;
  if (t.val.len > 0 && (t.val.p[0] & 0x80))
    return CG_EBAD_KEY;
  if (cg_der_check_integer(t.val) != 0)
    return CG_EDER; /* X.690 §8.3: empty, or a leading zero octet beyond the sign */
  *mag = t.val;
  if (mag->p[0] == 0x00) {
    mag->p++;
    mag->len--;
  }
  return 0;
}

/* The bit length of a big-endian magnitude without leading zero octets. */
static size_t bit_length(const uint8_t *mag, size_t len) {
  size_t bits = len * 8;
  if (len == 0)
    return 0;
  for (uint8_t top = mag[0]; !(top & 0x80); top <<= 1)
    bits--;
  return bits;
}

/* The subjectPublicKey of an rsaEncryption key (bits: the BIT STRING
 * contents, unused-bits octet first) against the bounds of crypto.h:
 *   RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
 * (RFC 8017 §A.1.1).  Only octets are looked at: wolfCrypt has not seen the
 * key yet.  0, CG_EDER or CG_EBAD_KEY with *why. */
static int rsa_public_check(struct der_view bits, unsigned *modulus_bits, const char **why) {
  struct der_reader top, seq;
  struct der_view n, e;
  size_t n_bits;
  int rc;
  if (bits.len < 1 || bits.p[0] != 0)
    return CG_EDER;
  cg_der_reader_init(&top, bits.p + 1, bits.len - 1);
  if (cg_der_enter(&top, DER_SEQUENCE, &seq) != 0 || !cg_der_at_end(&top))
    return CG_EDER;
  *why = WHY_RSA_SIZE;
  if ((rc = read_magnitude(&seq, &n)) != 0)
    return rc;
  *why = WHY_RSA_EXPONENT;
  if ((rc = read_magnitude(&seq, &e)) != 0)
    return rc;
  if (cg_der_leave(&top, &seq) != 0)
    return CG_EDER;
  n_bits = bit_length(n.p, n.len);
  *modulus_bits = (unsigned)n_bits;
  if (n_bits < CG_RSA_MIN_BITS || n_bits > CG_RSA_MAX_BITS || n_bits % 8 != 0) {
    *why = WHY_RSA_SIZE;
    return CG_EBAD_KEY;
  }
  if (!(n.p[n.len - 1] & 1)) {
    *why = WHY_RSA_ODD;
    return CG_EBAD_KEY;
  }
  /* An exponent of 1 would make any "signature" verify: s^1 = s. */
  if (bit_length(e.p, e.len) > CG_RSA_MAX_EXPONENT_BITS || !(e.p[e.len - 1] & 1) ||
      (e.len == 1 && e.p[0] < 3))
    return CG_EBAD_KEY;
  return 0;
}

/* Reads a SubjectPublicKeyInfo and checks its key against the bounds;
 * *type gets the key type.  The errors of cg_key_check_spki(). */
static int spki_check(const uint8_t *spki, size_t len, enum cg_key_type *type, unsigned *size,
                      const char **why) {
  struct der_reader top, seq;
  struct algid alg;
  struct der_tlv bits;
  int rc;
  /* RFC 5280 §4.1:
   * SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
   *                                     subjectPublicKey BIT STRING } */
  cg_der_reader_init(&top, spki, len);
  cg_der_enter(&top, DER_SEQUENCE, &seq);
  read_algid(&seq, &alg);
  cg_der_expect(&seq, DER_BIT_STRING, &bits);
  if (cg_der_leave(&top, &seq) != 0 || !cg_der_at_end(&top))
    return CG_EDER;
  if ((rc = algid_key_type(&alg, type, why)) != 0)
    return rc;
  switch (*type) {
  case CG_KEY_RSA:
    return rsa_public_check(bits.val, size, why);
  case CG_KEY_EC:
    *size = oid_is(alg.param.val, CG_OID_P256)   ? 256
            : oid_is(alg.param.val, CG_OID_P384) ? 384
                                                 : 521;
    return 0;
  case CG_KEY_ED25519:
    *size = 256;
    return 0;
  case CG_KEY_ED448:
    *size = 456;
    return 0;
  case CG_KEY_NONE:
    break;
  }
  return CG_EBAD_ALG;
}

static bool ec_curve_supported(const ecc_key *k) {
  int id = k->dp ? k->dp->id : ECC_CURVE_INVALID;
  return id == ECC_SECP256R1 || id == ECC_SECP384R1 || id == ECC_SECP521R1;
}

static int wc_key_init(enum cg_key_type type, const struct cg_key *dev, union wc_key *u) {
  int wc;
  if (dev != NULL && dev->dev_id != INVALID_DEVID) {
    /* A device key: wolfCrypt names it to the device by id or label. */
    const char *label = (const char *)dev->dev_ref;
    int n = (int)dev->dev_ref_len;
    if (type == CG_KEY_EC)
      wc = dev->dev_label ? wc_ecc_init_label(&u->ec, label, NULL, dev->dev_id)
                          : wc_ecc_init_id(&u->ec, (unsigned char *)dev->dev_ref, n, NULL,
                                           dev->dev_id);
    else if (type == CG_KEY_RSA)
      wc = dev->dev_label ? wc_InitRsaKey_Label(&u->rsa, label, NULL, dev->dev_id)
                          : wc_InitRsaKey_Id(&u->rsa, (unsigned char *)dev->dev_ref, n, NULL,
                                             dev->dev_id);
    else
      return CG_EBAD_ALG;
    return wc == 0 ? 0 : map_err(wc);
  }
  switch (type) {
  case CG_KEY_EC:
    wc = wc_ecc_init(&u->ec);
    break;
  case CG_KEY_RSA:
    wc = wc_InitRsaKey(&u->rsa, NULL);
    break;
  case CG_KEY_ED25519:
    wc = wc_ed25519_init(&u->ed25519);
    break;
  case CG_KEY_ED448:
    wc = wc_ed448_init(&u->ed448);
    break;
  default:
    return CG_EBAD_ALG;
  }
  return wc == 0 ? 0 : map_err(wc);
}

/* Frees the key and wipes the member in use (the union is as large as an
 * RSA key: 8.7 KB, against 4.4 KB for an EC key and 376 bytes for Ed25519). */
static void wc_key_free(enum cg_key_type type, union wc_key *u) {
  switch (type) {
  case CG_KEY_EC:
    wc_ecc_free(&u->ec);
    cg_wipe(&u->ec, sizeof u->ec);
    break;
  case CG_KEY_RSA:
    wc_FreeRsaKey(&u->rsa);
    cg_wipe(&u->rsa, sizeof u->rsa);
    break;
  case CG_KEY_ED25519:
    wc_ed25519_free(&u->ed25519);
    cg_wipe(&u->ed25519, sizeof u->ed25519);
    break;
  case CG_KEY_ED448:
    wc_ed448_free(&u->ed448);
    cg_wipe(&u->ed448, sizeof u->ed448);
    break;
  default:
    cg_wipe(u, sizeof *u);
    break;
  }
}

/* Completes a private EdDSA key read without its public half (RFC 8410
 * PKCS#8 v1, as OpenSSL writes it): wolfCrypt signs only with both. */
static int ed25519_complete(ed25519_key *k) {
  uint8_t priv[ED25519_KEY_SIZE], pub[ED25519_PUB_KEY_SIZE];
  word32 priv_len = sizeof priv;
  int wc;
  if (k->pubKeySet)
    return 0;
  wc = wc_ed25519_export_private_only(k, priv, &priv_len);
  if (wc == 0)
    wc = wc_ed25519_make_public(k, pub, sizeof pub);
  if (wc == 0)
    wc = wc_ed25519_import_private_key(priv, priv_len, pub, sizeof pub, k);
  cg_wipe(priv, sizeof priv);
  return wc;
}

static int ed448_complete(ed448_key *k) {
  uint8_t priv[ED448_KEY_SIZE], pub[ED448_PUB_KEY_SIZE];
  word32 priv_len = sizeof priv;
  int wc;
  if (k->pubKeySet)
    return 0;
  wc = wc_ed448_export_private_only(k, priv, &priv_len);
  if (wc == 0)
    wc = wc_ed448_make_public(k, pub, sizeof pub);
  if (wc == 0)
    wc = wc_ed448_import_private_key(priv, priv_len, pub, sizeof pub, k);
  cg_wipe(priv, sizeof priv);
  return wc;
}

/* EC private keys may come without their public point (SEC1 makes it
 * optional); SPKI export needs it. */
static int ec_complete(ecc_key *k) {
  WC_RNG *rng;
  if (k->type != ECC_PRIVATEKEY_ONLY)
    return 0;
  rng = thread_rng();
  if (!rng)
    return RNG_FAILURE_E;
  return wc_ecc_make_pub_ex(k, NULL, rng);
}

/* Decodes der (an SPKI, or a private key in one of the forms
 * cg_key_from_private_der() accepts) of the given type into a fresh u.  On
 * failure u needs no freeing.  The caller has checked that der is exactly one
 * element, so wolfCrypt's end index is not checked (it stops short of the
 * end for EdDSA public keys). */
static int wc_key_decode(enum cg_key_type type, bool priv, const uint8_t *der, size_t len,
                         const struct cg_key *dev, union wc_key *u) {
  word32 idx = 0, n = (word32)len;
  int rc, wc;
  if ((rc = wc_key_init(type, dev, u)) != 0)
    return rc;
  switch (type) {
  case CG_KEY_EC:
    wc = priv ? wc_EccPrivateKeyDecode(der, &idx, &u->ec, n)
              : wc_EccPublicKeyDecode(der, &idx, &u->ec, n);
    if (wc == 0 && !ec_curve_supported(&u->ec)) {
      wc_key_free(type, u);
      return CG_EBAD_KEY;
    }
    if (wc == 0 && priv)
      wc = ec_complete(&u->ec);
    break;
  case CG_KEY_RSA:
    wc = priv ? wc_RsaPrivateKeyDecode(der, &idx, &u->rsa, n)
              : wc_RsaPublicKeyDecode(der, &idx, &u->rsa, n);
    break;
  case CG_KEY_ED25519:
    wc = priv ? wc_Ed25519PrivateKeyDecode(der, &idx, &u->ed25519, n)
              : wc_Ed25519PublicKeyDecode(der, &idx, &u->ed25519, n);
    if (wc == 0 && priv)
      wc = ed25519_complete(&u->ed25519);
    break;
  default:
    wc = priv ? wc_Ed448PrivateKeyDecode(der, &idx, &u->ed448, n)
              : wc_Ed448PublicKeyDecode(der, &idx, &u->ed448, n);
    if (wc == 0 && priv)
      wc = ed448_complete(&u->ed448);
    break;
  }
  if (wc != 0) {
    wc_key_free(type, u);
    return wc == MEMORY_E ? CG_ENOMEM : CG_EDER;
  }
  return 0;
}

/* A cg_key without its wolfCrypt object yet, holding a copy of der (when
 * given). */
static int key_shell(enum cg_key_type type, bool priv, const uint8_t *der, size_t len,
                     struct cg_key **out) {
  struct cg_key *k = calloc(1, sizeof *k);
  if (!k)
    return CG_ENOMEM;
  if (der) {
    k->der = malloc(len ? len : 1);
    if (!k->der) {
      free(k);
      return CG_ENOMEM;
    }
    memcpy(k->der, der, len);
    k->der_len = len;
  }
  if (pthread_mutex_init(&k->lock, NULL) != 0) {
    free(k->der);
    free(k);
    return CG_ENOMEM;
  }
  k->type = type;
  k->priv = priv;
  k->dev_id = INVALID_DEVID;
  *out = k;
  return 0;
}

/* Whether k->der is a private key (a device key's is its SPKI). */
static bool der_is_private(const struct cg_key *k) {
  return k->priv && k->dev_id == INVALID_DEVID;
}

/* Frees what key_shell() made; u must hold nothing. */
static void key_shell_free(struct cg_key *k) {
  pthread_mutex_destroy(&k->lock);
  if (k->der) {
    cg_wipe(k->der, k->der_len);
    free(k->der);
  }
  free(k);
}

/* The wolfCrypt object is decoded in place: wolfCrypt structures are not
 * copied once made. */
static int key_from_der(enum cg_key_type type, bool priv, const uint8_t *der, size_t len,
                        struct cg_key **out) {
  struct cg_key *k;
  int rc = key_shell(type, priv, der, len, &k);
  if (rc != 0)
    return rc;
  if ((rc = wc_key_decode(type, priv, der, len, NULL, &k->u)) != 0) {
    key_shell_free(k);
    return rc;
  }
  *out = k;
  return 0;
}

int cg_key_from_device(int dev_id, const uint8_t *ref, size_t ref_len, bool is_label,
                       const uint8_t *spki, size_t spki_len, struct cg_key **out) {
  enum cg_key_type type;
  unsigned bits;
  const char *why;
  struct cg_key *k;
  int rc;
  if (!ref || ref_len == 0 || ref_len > CG_DEVICE_REF_MAX || !spki || !out ||
      spki_len > UINT32_MAX || dev_id == INVALID_DEVID)
    return CG_EINVAL;
  *out = NULL;
  if ((rc = spki_check(spki, spki_len, &type, &bits, &why)) != 0)
    return rc;
  if (type != CG_KEY_EC && type != CG_KEY_RSA)
    return CG_EBAD_ALG;
  if ((rc = key_shell(type, true, spki, spki_len, &k)) != 0)
    return rc;
  k->dev_id = dev_id;
  memcpy(k->dev_ref, ref, ref_len);
  k->dev_ref[ref_len] = 0;
  k->dev_ref_len = ref_len;
  k->dev_label = is_label;
  if ((rc = wc_key_decode(type, false, spki, spki_len, k, &k->u)) != 0) {
    key_shell_free(k);
    return rc;
  }
  *out = k;
  return 0;
}

bool cg_key_device(const struct cg_key *key, int *dev_id, const uint8_t **ref, size_t *ref_len,
                   bool *is_label) {
  if (!key || key->dev_id == INVALID_DEVID)
    return false;
  *dev_id = key->dev_id;
  *ref = key->dev_ref;
  *ref_len = key->dev_ref_len;
  *is_label = key->dev_label;
  return true;
}

/* Lends the key's wolfCrypt object to one operation; see union wc_key. */
static int key_acquire(const struct cg_key *key, struct key_use *use) {
  struct cg_key *k = (struct cg_key *)key;
  int rc;
  use->copy = NULL;
  /* ECC operations fill the thread's point cache. */
  if ((rc = thread_enter()) != 0)
    return rc;
  if (pthread_mutex_trylock(&k->lock) == 0) {
    use->u = &k->u;
    return 0;
  }
  use->copy = malloc(sizeof *use->copy);
  if (!use->copy)
    return CG_ENOMEM;
  rc = wc_key_decode(k->type, der_is_private(k), k->der, k->der_len, k, use->copy);
  if (rc != 0) {
    free(use->copy);
    return rc;
  }
  use->u = use->copy;
  return 0;
}

static void key_release(const struct cg_key *key, struct key_use *use) {
  struct cg_key *k = (struct cg_key *)key;
  if (use->copy) {
    wc_key_free(k->type, use->copy);
    free(use->copy);
  } else {
    pthread_mutex_unlock(&k->lock);
  }
}

void cg_key_free(struct cg_key *key) {
  if (!key)
    return;
  wc_key_free(key->type, &key->u);
  key_shell_free(key);
}

enum cg_key_type cg_key_type(const struct cg_key *key) {
  return key ? key->type : CG_KEY_NONE;
}

bool cg_key_is_private(const struct cg_key *key) {
  return key && key->priv;
}

int cg_key_check_spki_size(const uint8_t *spki, size_t len, enum cg_key_type *type,
                           unsigned *bits, const char **why) {
  const char *reason = NULL;
  int rc;
  *type = CG_KEY_NONE;
  *bits = 0;
  if (!spki || len > UINT32_MAX)
    return CG_EINVAL;
  rc = spki_check(spki, len, type, bits, &reason);
  if (why)
    *why = rc == CG_EBAD_KEY ? reason : NULL;
  if (rc != 0) {
    *type = CG_KEY_NONE;
    *bits = 0;
  }
  return rc;
}

int cg_key_check_spki(const uint8_t *spki, size_t len, const char **why) {
  enum cg_key_type type;
  unsigned bits;
  return cg_key_check_spki_size(spki, len, &type, &bits, why);
}

int cg_key_from_spki(const uint8_t *spki, size_t len, struct cg_key **out) {
  enum cg_key_type type;
  unsigned bits;
  const char *why;
  int rc;
  if (!spki || !out || len > UINT32_MAX)
    return CG_EINVAL;
  *out = NULL;
  if ((rc = spki_check(spki, len, &type, &bits, &why)) != 0)
    return rc;
  return key_from_der(type, false, spki, len, out);
}

int cg_key_from_private_der(const uint8_t *der, size_t len, struct cg_key **out) {
  struct der_reader top, seq;
  struct algid alg;
  enum cg_key_type type;

  if (!der || !out || len > UINT32_MAX)
    return CG_EINVAL;
  *out = NULL;
  cg_der_reader_init(&top, der, len);
  if (cg_der_enter(&top, DER_SEQUENCE, &seq) != 0 || !cg_der_at_end(&top) ||
      cg_der_expect(&seq, DER_INTEGER, NULL) != 0)
    return CG_EDER;
  /* The element after the version tells the three forms apart:
   * PKCS#8 (RFC 5958) has an AlgorithmIdentifier, SEC1 ECPrivateKey
   * (RFC 5915) an OCTET STRING, PKCS#1 RSAPrivateKey (RFC 8017) an INTEGER. */
  switch (cg_der_peek_tag(&seq)) {
  case DER_SEQUENCE: {
    const char *why;
    int rc;
    read_algid(&seq, &alg);
    if (seq.err != 0)
      return CG_EDER;
    if ((rc = algid_key_type(&alg, &type, &why)) != 0)
      return rc;
    break;
  }
  case DER_OCTET_STRING:
    type = CG_KEY_EC;
    break;
  case DER_INTEGER:
    type = CG_KEY_RSA;
    break;
  default:
    return CG_EDER;
  }
  return key_from_der(type, true, der, len, out);
}

int cg_key_generate_ec(unsigned bits, struct cg_key **out) {
  return cg_key_generate(CG_KEY_EC, bits, out);
}

/* A new key: made in a wolfCrypt object of its own, written as DER and read
 * back like any private key, so that a generated key is built the one way
 * every key is. */
int cg_key_generate(enum cg_key_type type, unsigned bits, struct cg_key **out) {
  int curve = 0, size = 0, rc, wc;
  uint8_t der[4096]; /* PKCS#1 RSA-4096 fits */
  union wc_key u;
  WC_RNG *rng;
  if (!out)
    return CG_EINVAL;
  *out = NULL;
  if (type == CG_KEY_EC) {
    switch (bits) {
    case 256:
      curve = ECC_SECP256R1, size = 32;
      break;
    case 384:
      curve = ECC_SECP384R1, size = 48;
      break;
    case 521:
      curve = ECC_SECP521R1, size = 66;
      break;
    default:
      return CG_EBAD_ALG;
    }
  } else if (!(type == CG_KEY_ED25519 ||
               (type == CG_KEY_RSA && bits >= 2048 && bits <= 4096 && bits % 8 == 0))) {
    return CG_EBAD_ALG;
  }
  if (!(rng = thread_rng()))
    return CG_ECRYPTO;
  if ((rc = wc_key_init(type, NULL, &u)) != 0)
    return rc;
  switch (type) {
  case CG_KEY_EC:
    wc = wc_ecc_make_key_ex(rng, size, &u.ec, curve);
    if (wc == 0)
      wc = wc_EccPrivateKeyToDer(&u.ec, der, sizeof der);
    break;
  case CG_KEY_RSA:
    wc = wc_MakeRsaKey(&u.rsa, (int)bits, WC_RSA_EXPONENT, rng);
    if (wc == 0)
      wc = wc_RsaKeyToDer(&u.rsa, der, sizeof der);
    break;
  default:
    wc = wc_ed25519_make_key(rng, ED25519_KEY_SIZE, &u.ed25519);
    if (wc == 0)
      wc = wc_Ed25519PrivateKeyToDer(&u.ed25519, der, sizeof der);
    break;
  }
  wc_key_free(type, &u);
  rc = wc < 0 ? map_err(wc) : key_from_der(type, true, der, (size_t)wc, out);
  cg_wipe(der, sizeof der);
  return rc;
}

/* Copies a wolfCrypt length-or-error result from tmp into out when it fits. */
static int copy_out(int wc, const uint8_t *tmp, uint8_t *out, size_t cap, size_t *len) {
  if (wc < 0)
    return map_err(wc);
  if ((size_t)wc > cap)
    return CG_ESPACE;
  memcpy(out, tmp, (size_t)wc);
  *len = (size_t)wc;
  return 0;
}

int cg_key_spki(const struct cg_key *key, uint8_t *out, size_t cap, size_t *len) {
  struct key_use use;
  word32 c = cap > UINT32_MAX ? UINT32_MAX : (word32)cap;
  int rc, wc;
  if (!key || !out || !len)
    return CG_EINVAL;
  if ((rc = key_acquire(key, &use)) != 0)
    return rc;
  switch (key->type) {
  case CG_KEY_EC:
    wc = wc_EccPublicKeyToDer(&use.u->ec, out, c, 1);
    rc = wc < 0 ? map_err(wc) : (*len = (size_t)wc, 0);
    break;
  case CG_KEY_RSA:
    wc = wc_RsaKeyToPublicDer(&use.u->rsa, out, c);
    rc = wc < 0 ? map_err(wc) : (*len = (size_t)wc, 0);
    break;
  default: {
    /* wolfCrypt reports a short buffer for EdDSA keys as a bad argument;
     * write to a buffer of the largest size and copy. */
    uint8_t tmp[128];
    wc = key->type == CG_KEY_ED25519
             ? wc_Ed25519PublicKeyToDer(&use.u->ed25519, tmp, sizeof tmp, 1)
             : wc_Ed448PublicKeyToDer(&use.u->ed448, tmp, sizeof tmp, 1);
    rc = copy_out(wc, tmp, out, cap, len);
    break;
  }
  }
  key_release(key, &use);
  return rc;
}

/* PKCS#8 of a private key held in u. */
/* Every key is written into a buffer of the largest size first and copied
 * out when it fits: wolfSSL 5.7.2's wc_EccKeyToPKCS8 writes past a short
 * output buffer instead of reporting it. */
static int pkcs8_of(enum cg_key_type type, union wc_key *u, uint8_t *out, size_t cap,
                    size_t *len) {
  uint8_t tmp[512]; /* P-521 PKCS#8 with its public key: about 240 to 290 octets */
  word32 c = sizeof tmp;
  int wc, rc;
  switch (type) {
  case CG_KEY_EC:
    wc = wc_EccKeyToPKCS8(&u->ec, tmp, &c);
    rc = copy_out(wc < 0 ? wc : (int)c, tmp, out, cap, len);
    cg_wipe(tmp, sizeof tmp);
    return rc;
  case CG_KEY_RSA: {
    /* wolfCrypt writes PKCS#1; wrap it in a PrivateKeyInfo. */
    uint8_t *der = malloc(2 * RSA_PRIV_DER_MAX);
    if (!der)
      return CG_ENOMEM;
    uint8_t *p8 = der + RSA_PRIV_DER_MAX;
    c = RSA_PRIV_DER_MAX;
    wc = wc_RsaKeyToDer(&u->rsa, der, RSA_PRIV_DER_MAX);
    if (wc > 0)
      wc = wc_CreatePKCS8Key(p8, &c, der, (word32)wc, RSAk, NULL, 0);
    rc = copy_out(wc < 0 ? wc : (int)c, p8, out, cap, len);
    cg_wipe(der, 2 * RSA_PRIV_DER_MAX);
    free(der);
    return rc;
  }
  default:
    /* As for the SPKI: short buffers are reported as bad arguments. */
    wc = type == CG_KEY_ED25519 ? wc_Ed25519PrivateKeyToDer(&u->ed25519, tmp, sizeof tmp)
                                : wc_Ed448PrivateKeyToDer(&u->ed448, tmp, sizeof tmp);
    rc = copy_out(wc, tmp, out, cap, len);
    cg_wipe(tmp, sizeof tmp);
    return rc;
  }
}

int cg_key_private_pkcs8(const struct cg_key *key, uint8_t *out, size_t cap, size_t *len) {
  struct key_use use;
  int rc;
  if (!key || !out || !len || !der_is_private(key))
    return CG_EINVAL; /* a device key does not leave its device */
  if ((rc = key_acquire(key, &use)) != 0)
    return rc;
  rc = pkcs8_of(key->type, use.u, out, cap, len);
  key_release(key, &use);
  return rc;
}

void cg_key_default_sig(const struct cg_key *key, enum cg_sig_scheme *scheme, enum cg_hash *hash) {
  enum cg_sig_scheme s = CG_SIG_NONE;
  enum cg_hash h = CG_HASH_NONE;
  if (key) {
    switch (key->type) {
    case CG_KEY_EC: {
      /* The curve never changes after creation: no lock needed to read it. */
      int size = key->u.ec.dp ? key->u.ec.dp->size : 0;
      s = CG_SIG_ECDSA;
      h = size <= 32 ? CG_HASH_SHA256 : size <= 48 ? CG_HASH_SHA384 : CG_HASH_SHA512;
      break;
    }
    case CG_KEY_RSA:
      s = CG_SIG_RSA_PKCS1;
      h = CG_HASH_SHA256;
      break;
    case CG_KEY_ED25519:
    case CG_KEY_ED448:
      s = CG_SIG_EDDSA;
      break;
    default:
      break;
    }
  }
  if (scheme)
    *scheme = s;
  if (hash)
    *hash = h;
}

/* ------------------------------------------------------------------------ */
/* Signatures.                                                              */

static bool scheme_fits(enum cg_key_type type, enum cg_sig_scheme scheme, enum cg_hash hash) {
  switch (scheme) {
  case CG_SIG_ECDSA:
    return type == CG_KEY_EC && hash != CG_HASH_NONE;
  case CG_SIG_RSA_PKCS1:
  case CG_SIG_RSA_PSS:
    return type == CG_KEY_RSA && hash != CG_HASH_NONE;
  case CG_SIG_EDDSA:
    return type == CG_KEY_ED25519 || type == CG_KEY_ED448;
  default:
    return false;
  }
}

static int mgf1_of(enum cg_hash h) {
  switch (h) {
  case CG_HASH_SHA1:
    return WC_MGF1SHA1;
  case CG_HASH_SHA224:
    return WC_MGF1SHA224;
  case CG_HASH_SHA256:
    return WC_MGF1SHA256;
  case CG_HASH_SHA384:
    return WC_MGF1SHA384;
  default:
    return WC_MGF1SHA512;
  }
}

/* EdDSA signs the message itself: the pieces are joined, or used in place
 * when there is only one.  *owned is what the caller frees. */
static int join_pieces(const struct cg_iov *iov, size_t n, const uint8_t **msg, size_t *len,
                       uint8_t **owned) {
  size_t total = 0, off = 0;
  *owned = NULL;
  if (n == 1) {
    *msg = iov[0].p;
    *len = iov[0].len;
    return *len > UINT32_MAX ? CG_EINVAL : 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (iov[i].len > UINT32_MAX - total)
      return CG_EINVAL;
    total += iov[i].len;
  }
  *owned = malloc(total ? total : 1);
  if (!*owned)
    return CG_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (iov[i].len)
      memcpy(*owned + off, iov[i].p, iov[i].len);
    off += iov[i].len;
  }
  *msg = *owned;
  *len = total;
  return 0;
}

/* DigestInfo (RFC 8017 §9.2 step 2) of a digest, for PKCS#1 v1.5. */
static int digest_info(enum cg_hash hash, const uint8_t *digest, uint8_t *out, word32 *len) {
  int oid = wc_HashGetOID(wc_hash_type(hash));
  if (oid <= 0)
    return CG_EBAD_ALG;
  *len = wc_EncodeSignature(out, digest, (word32)cg_hash_size(hash), oid);
  return *len > 0 ? 0 : CG_ECRYPTO;
}

/* Signs with the wolfCrypt key u; the scheme fits the key. */
static int sign_with(enum cg_key_type type, union wc_key *u, enum cg_sig_scheme scheme,
                     enum cg_hash hash, const struct cg_iov *data, size_t n, WC_RNG *rng,
                     uint8_t *sig, size_t cap, size_t *sig_len) {
  uint8_t digest[CG_HASH_MAX];
  size_t dlen = cg_hash_size(hash);
  word32 out_len;
  int rc, wc;

  if (scheme == CG_SIG_EDDSA) {
    const uint8_t *msg;
    size_t len;
    uint8_t *owned;
    if (cap < (type == CG_KEY_ED25519 ? ED25519_SIG_SIZE : ED448_SIG_SIZE))
      return CG_ESPACE;
    if ((rc = join_pieces(data, n, &msg, &len, &owned)) != 0)
      return rc;
    out_len = cap > UINT32_MAX ? UINT32_MAX : (word32)cap;
    if (type == CG_KEY_ED25519)
      wc = wc_ed25519_sign_msg(msg, (word32)len, sig, &out_len, &u->ed25519);
    else
      wc = wc_ed448_sign_msg(msg, (word32)len, sig, &out_len, &u->ed448, NULL, 0);
    free(owned);
    if (wc != 0)
      return map_err(wc);
    *sig_len = out_len;
    return 0;
  }
  if ((rc = cg_hash(hash, data, n, digest)) != 0)
    return rc;
  switch (scheme) {
  case CG_SIG_ECDSA: {
    uint8_t buf[ECC_MAX_SIG_SIZE];
    out_len = sizeof buf;
    wc = wc_ecc_sign_hash(digest, (word32)dlen, buf, &out_len, rng, &u->ec);
    if (wc != 0)
      return map_err(wc);
    if (out_len > cap)
      return CG_ESPACE;
    memcpy(sig, buf, out_len);
    *sig_len = out_len;
    return 0;
  }
  case CG_SIG_RSA_PKCS1: {
    uint8_t info[MAX_ENCODED_SIG_SZ];
    word32 info_len;
    if ((size_t)wc_RsaEncryptSize(&u->rsa) > cap)
      return CG_ESPACE;
    if ((rc = digest_info(hash, digest, info, &info_len)) != 0)
      return rc;
    wc = wc_RsaSSL_Sign(info, info_len, sig, (word32)cap, &u->rsa, rng);
    break;
  }
  default: /* CG_SIG_RSA_PSS */
    if ((size_t)wc_RsaEncryptSize(&u->rsa) > cap)
      return CG_ESPACE;
    /* RFC 9481 §3.2 (RFC 4056): MGF1 with the message hash, salt as long
     * as the hash. */
    wc = wc_RsaPSS_Sign_ex(digest, (word32)dlen, sig, (word32)cap, wc_hash_type(hash),
                           mgf1_of(hash), (int)dlen, &u->rsa, rng);
    break;
  }
  if (wc < 0)
    return map_err(wc);
  *sig_len = (size_t)wc;
  return 0;
}

int cg_sign(const struct cg_key *key, enum cg_sig_scheme scheme, enum cg_hash hash,
            const struct cg_iov *data, size_t n, uint8_t *sig, size_t cap, size_t *sig_len) {
  struct key_use use;
  WC_RNG *rng;
  int rc;
  if (!key || (!data && n) || !sig || !sig_len || !key->priv)
    return CG_EINVAL;
  if (!scheme_fits(key->type, scheme, hash))
    return CG_EBAD_ALG;
  if (!(rng = thread_rng()))
    return CG_ECRYPTO;
  if ((rc = key_acquire(key, &use)) != 0)
    return rc;
  rc = sign_with(key->type, use.u, scheme, hash, data, n, rng, sig, cap, sig_len);
  key_release(key, &use);
  return rc;
}

/* Verifies with the wolfCrypt key u; the scheme fits the key.  Every
 * failure of the signature itself is CG_EBAD_MAC. */
static int verify_with(enum cg_key_type type, union wc_key *u, enum cg_sig_scheme scheme,
                       enum cg_hash hash, const struct cg_iov *data, size_t n,
                       const uint8_t *sig, size_t sig_len) {
  uint8_t digest[CG_HASH_MAX];
  size_t dlen = cg_hash_size(hash);
  int rc, wc, res = 0;

  if (scheme == CG_SIG_EDDSA) {
    const uint8_t *msg;
    size_t len;
    uint8_t *owned;
    if (sig_len > UINT32_MAX)
      return CG_EBAD_MAC;
    if ((rc = join_pieces(data, n, &msg, &len, &owned)) != 0)
      return rc;
    if (type == CG_KEY_ED25519)
      wc = wc_ed25519_verify_msg(sig, (word32)sig_len, msg, (word32)len, &res, &u->ed25519);
    else
      wc = wc_ed448_verify_msg(sig, (word32)sig_len, msg, (word32)len, &res, &u->ed448, NULL,
                               0);
    free(owned);
    if (wc == MEMORY_E)
      return CG_ENOMEM;
    return wc == 0 && res == 1 ? 0 : CG_EBAD_MAC;
  }
  if ((rc = cg_hash(hash, data, n, digest)) != 0)
    return rc;
  switch (scheme) {
  case CG_SIG_ECDSA:
    if (sig_len > ECC_MAX_SIG_SIZE)
      return CG_EBAD_MAC;
    wc = wc_ecc_verify_hash(sig, (word32)sig_len, digest, (word32)dlen, &res, &u->ec);
    if (wc == MEMORY_E)
      return CG_ENOMEM;
    return wc == 0 && res == 1 ? 0 : CG_EBAD_MAC;
  case CG_SIG_RSA_PKCS1: {
    uint8_t info[MAX_ENCODED_SIG_SZ], dec[RSA_MAX_BYTES];
    word32 info_len;
    if (sig_len != (size_t)wc_RsaEncryptSize(&u->rsa) || sig_len > RSA_MAX_BYTES)
      return CG_EBAD_MAC;
    if ((rc = digest_info(hash, digest, info, &info_len)) != 0)
      return rc;
    wc = wc_RsaSSL_Verify(sig, (word32)sig_len, dec, sizeof dec, &u->rsa);
    if (wc == MEMORY_E)
      return CG_ENOMEM;
    if (wc < 0 || (word32)wc != info_len)
      return CG_EBAD_MAC;
    return cg_ct_equal(dec, info, info_len) ? 0 : CG_EBAD_MAC;
  }
  default: { /* CG_SIG_RSA_PSS */
    uint8_t in[RSA_MAX_BYTES], dec[RSA_MAX_BYTES];
    if (sig_len != (size_t)wc_RsaEncryptSize(&u->rsa) || sig_len > RSA_MAX_BYTES)
      return CG_EBAD_MAC;
    /* wolfCrypt's PSS verify takes a writable input. */
    memcpy(in, sig, sig_len);
    wc = wc_RsaPSS_Verify_ex(in, (word32)sig_len, dec, sizeof dec, wc_hash_type(hash),
                             mgf1_of(hash), (int)dlen, &u->rsa);
    if (wc == MEMORY_E)
      return CG_ENOMEM;
    if (wc < 0)
      return CG_EBAD_MAC;
    wc = wc_RsaPSS_CheckPadding_ex(digest, (word32)dlen, dec, (word32)wc, wc_hash_type(hash),
                                   (int)dlen, wc_RsaEncryptSize(&u->rsa) * 8);
    return wc == 0 ? 0 : CG_EBAD_MAC;
  }
  }
}

int cg_verify(const struct cg_key *key, enum cg_sig_scheme scheme, enum cg_hash hash,
              const struct cg_iov *data, size_t n, const uint8_t *sig, size_t sig_len) {
  struct key_use use;
  int rc;
  if (!key || (!data && n) || (!sig && sig_len))
    return CG_EINVAL;
  if (!scheme_fits(key->type, scheme, hash))
    return CG_EBAD_ALG;
  if ((rc = key_acquire(key, &use)) != 0)
    return rc;
  rc = verify_with(key->type, use.u, scheme, hash, data, n, sig, sig_len);
  key_release(key, &use);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Key establishment, for CMS recipients (core/cms.c).                      */

int cg_rsa_encrypt(const struct cg_key *pub, const uint8_t *in, size_t len, uint8_t *out,
                   size_t cap, size_t *out_len) {
  struct key_use use;
  WC_RNG *rng;
  int rc, wc;
  if (!pub || !in || !out || !out_len || pub->type != CG_KEY_RSA || len > RSA_MAX_BYTES)
    return CG_EINVAL;
  if (!(rng = thread_rng()))
    return CG_ECRYPTO;
  if ((rc = key_acquire(pub, &use)) != 0)
    return rc;
  wc = wc_RsaPublicEncrypt(in, (word32)len, out, cap > UINT32_MAX ? UINT32_MAX : (word32)cap,
                           &use.u->rsa, rng);
  key_release(pub, &use);
  if (wc == RSA_BUFFER_E || wc == BUFFER_E)
    return CG_ESPACE;
  if (wc < 0)
    return map_err(wc);
  *out_len = (size_t)wc;
  return 0;
}

unsigned cg_key_ec_bits(const struct cg_key *key) {
  if (!key || key->type != CG_KEY_EC)
    return 0;
  struct key_use use;
  if (key_acquire(key, &use) != 0)
    return 0;
  int size = wc_ecc_size(&use.u->ec);
  key_release(key, &use);
  return size == 32 ? 256 : size == 48 ? 384 : size == 66 ? 521 : 0;
}

int cg_ecdh(const struct cg_key *priv, const struct cg_key *pub, uint8_t *out, size_t cap,
            size_t *len) {
  struct key_use a, b;
  WC_RNG *rng;
  int rc, wc;
  if (!priv || !pub || !out || !len || priv->type != CG_KEY_EC || pub->type != CG_KEY_EC ||
      !priv->priv || priv == pub)
    return CG_EINVAL;
  if (!(rng = thread_rng()))
    return CG_ECRYPTO;
  if ((rc = key_acquire(priv, &a)) != 0)
    return rc;
  if ((rc = key_acquire(pub, &b)) != 0) {
    key_release(priv, &a);
    return rc;
  }
  if (wc_ecc_get_curve_id(a.u->ec.idx) != wc_ecc_get_curve_id(b.u->ec.idx)) {
    rc = CG_EBAD_KEY;
  } else {
    word32 n = cap > UINT32_MAX ? UINT32_MAX : (word32)cap;
    /* A timing-resistant build blinds the private key with the RNG. */
    wc = wc_ecc_set_rng(&a.u->ec, rng);
    if (wc == 0)
      wc = wc_ecc_shared_secret(&a.u->ec, &b.u->ec, out, &n);
    wc_ecc_set_rng(&a.u->ec, NULL);
    rc = wc == BUFFER_E ? CG_ESPACE : wc != 0 ? map_err(wc) : (*len = n, 0);
  }
  key_release(pub, &b);
  key_release(priv, &a);
  return rc;
}

int cg_x963_kdf(enum cg_hash h, const uint8_t *z, size_t z_len, const uint8_t *info,
                size_t info_len, uint8_t *out, size_t out_len) {
  if (!z || !out || (!info && info_len) || h == CG_HASH_NONE || z_len > UINT32_MAX ||
      info_len > UINT32_MAX || out_len > UINT32_MAX)
    return CG_EINVAL;
  int wc = wc_X963_KDF(wc_hash_type(h), z, (word32)z_len, info, (word32)info_len, out,
                       (word32)out_len);
  return wc == 0 ? 0 : map_err(wc);
}

/* ------------------------------------------------------------------------ */
/* PEM (RFC 7468).                                                          */

static const char PEM_DASHES[] = "-----";

/* memmem without relying on GNU extensions. */
static const char *find(const char *hay, size_t hay_len, const char *needle, size_t n) {
  if (n == 0 || hay_len < n)
    return NULL;
  for (size_t i = 0; i + n <= hay_len; i++) {
    if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
      return hay + i;
  }
  return NULL;
}

/* Writes "-----<kind> <label>-----" into buf (cap octets); length or -1. */
static int pem_marker(char *buf, size_t cap, const char *kind, const char *label) {
  size_t a = strlen(kind), b = strlen(label), need = 5 + a + 1 + b + 5;
  if (need >= cap)
    return -1;
  memcpy(buf, PEM_DASHES, 5);
  memcpy(buf + 5, kind, a);
  buf[5 + a] = ' ';
  memcpy(buf + 6 + a, label, b);
  memcpy(buf + 6 + a + b, PEM_DASHES, 5);
  buf[need] = '\0';
  return (int)need;
}

int cg_pem_encode(const char *label, const uint8_t *der, size_t der_len, char *out, size_t cap,
                  size_t *len) {
  char begin[128], end[128];
  int blen, elen;
  word32 b64_len;
  size_t off;
  if (!label || !der || der_len == 0 || der_len > UINT32_MAX / 2 || !out || !len)
    return CG_EINVAL;
  blen = pem_marker(begin, sizeof begin, "BEGIN", label);
  elen = pem_marker(end, sizeof end, "END", label);
  if (blen < 0 || elen < 0)
    return CG_EINVAL;
  /* begin line, base64 lines, end line, NUL */
  if (cap < (size_t)blen + 1 + (size_t)elen + 2)
    return CG_ESPACE;
  memcpy(out, begin, (size_t)blen);
  out[blen] = '\n';
  off = (size_t)blen + 1;
  b64_len = (word32)(cap - off - (size_t)elen - 2 > UINT32_MAX ? UINT32_MAX
                                                               : cap - off - (size_t)elen - 2);
  /* Base64_Encode writes 64-character lines, each ending in '\n'. */
  if (Base64_Encode(der, (word32)der_len, (byte *)out + off, &b64_len) != 0)
    return CG_ESPACE;
  off += b64_len;
  if (out[off - 1] != '\n')
    out[off++] = '\n'; /* within cap: elen + 2 octets were held back */
  if (off + (size_t)elen + 2 > cap)
    return CG_ESPACE;
  memcpy(out + off, end, (size_t)elen);
  off += (size_t)elen;
  out[off++] = '\n';
  out[off] = '\0';
  *len = off;
  return 0;
}

int cg_pem_decode(const char *label, const char *text, size_t text_len, uint8_t *out, size_t cap,
                  size_t *len, size_t *consumed) {
  char begin[128], end[128];
  int blen, elen;
  const char *b, *body, *e;
  char *clean;
  size_t body_len, clean_len = 0, need;
  word32 out_len;
  int wc;

  if (!label || (!text && text_len) || !out || !len)
    return CG_EINVAL;
  blen = pem_marker(begin, sizeof begin, "BEGIN", label);
  elen = pem_marker(end, sizeof end, "END", label);
  if (blen < 0 || elen < 0)
    return CG_EINVAL;
  b = find(text, text_len, begin, (size_t)blen);
  if (!b)
    return CG_ENOT_FOUND;
  body = b + blen;
  e = find(body, text_len - (size_t)(body - text), end, (size_t)elen);
  if (!e)
    return CG_EBAD_DATA;
  body_len = (size_t)(e - body);
  if (body_len > UINT32_MAX)
    return CG_EBAD_DATA;
  /* Drop line breaks and blanks; any other text (RFC 1421 encapsulated
   * headers of an encrypted key, say) makes the decode fail as it should. */
  clean = malloc(body_len ? body_len : 1);
  if (!clean)
    return CG_ENOMEM;
  for (size_t i = 0; i < body_len; i++) {
    char c = body[i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
      clean[clean_len++] = c;
  }
  /* Base64_Decode reports a short output as a bad argument, so the size is
   * checked here: 3 octets per 4 characters, less the padding. */
  if (clean_len == 0 || clean_len % 4 != 0) {
    free(clean);
    return CG_EBAD_DATA;
  }
  need = clean_len / 4 * 3 - (clean[clean_len - 1] == '=') - (clean[clean_len - 2] == '=');
  if (need > cap) {
    free(clean);
    return CG_ESPACE;
  }
  out_len = cap > UINT32_MAX ? UINT32_MAX : (word32)cap;
  wc = Base64_Decode((const byte *)clean, (word32)clean_len, out, &out_len);
  free(clean);
  if (wc != 0)
    return CG_EBAD_DATA;
  *len = out_len;
  if (consumed)
    *consumed = (size_t)(e - text) + (size_t)elen;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* PKCS#12 (RFC 7292).                                                      */

/* The traditional private key encoding (SEC1 or PKCS#1) wc_PKCS12_create()
 * expects; malloc'ed. */
static int traditional_der(const struct cg_key *key, uint8_t **der, word32 *der_len) {
  struct key_use use;
  uint8_t *buf;
  int wc, rc;
  /* wolfCrypt 5.5 builds PKCS#12 key bags for RSA and EC keys only. */
  if (key->type != CG_KEY_EC && key->type != CG_KEY_RSA)
    return CG_EBAD_ALG;
  if (!der_is_private(key))
    return CG_EINVAL;
  if (!(buf = malloc(RSA_PRIV_DER_MAX)))
    return CG_ENOMEM;
  if ((rc = key_acquire(key, &use)) != 0) {
    free(buf);
    return rc;
  }
  if (key->type == CG_KEY_EC)
    wc = wc_EccKeyToDer(&use.u->ec, buf, RSA_PRIV_DER_MAX);
  else
    wc = wc_RsaKeyToDer(&use.u->rsa, buf, RSA_PRIV_DER_MAX);
  key_release(key, &use);
  if (wc <= 0) {
    cg_wipe(buf, RSA_PRIV_DER_MAX);
    free(buf);
    return wc == 0 ? CG_ECRYPTO : map_err(wc);
  }
  *der = buf;
  *der_len = (word32)wc;
  return 0;
}

int cg_pkcs12_create(const char *password, const struct cg_key *key, const uint8_t *cert,
                     size_t cert_len, const uint8_t *const *ca, const size_t *ca_len, size_t n_ca,
                     uint8_t **out, size_t *out_len) {
  WC_DerCertList *list = NULL;
  WC_PKCS12 *p12 = NULL;
  uint8_t *kder = NULL, *buf = NULL;
  word32 kder_len = 0;
  int size = 0, wc, rc;

  if (!password || !key || !cert || cert_len == 0 || cert_len > UINT32_MAX ||
      (n_ca && (!ca || !ca_len)) || !out || !out_len)
    return CG_EINVAL;
  if (!key->priv)
    return CG_EINVAL;
  if (strlen(password) > UINT32_MAX)
    return CG_EINVAL;
  if ((rc = thread_enter()) != 0)
    return rc;
  if ((rc = traditional_der(key, &kder, &kder_len)) != 0)
    return rc;
  if (n_ca) {
    list = calloc(n_ca, sizeof *list);
    if (!list) {
      rc = CG_ENOMEM;
      goto done;
    }
    for (size_t i = 0; i < n_ca; i++) {
      if (!ca[i] || ca_len[i] == 0 || ca_len[i] > UINT32_MAX) {
        rc = CG_EINVAL;
        goto done;
      }
      /* wolfCrypt only reads the certificates; its list type is not const. */
      list[i].buffer = (byte *)ca[i];
      list[i].bufferSz = (word32)ca_len[i];
      list[i].next = i + 1 < n_ca ? &list[i + 1] : NULL;
    }
  }
  /* PBE-SHA1-3DES for key and certificates (RFC 7292 appendix C), 2048
   * iterations each for encryption and MAC (wolfCrypt picks HMAC-SHA256); no
   * friendlyName.  wolfCrypt 5.5 creates no PBES2/AES bags; OpenSSL 3 reads
   * 3DES ones without -legacy. */
  p12 = wc_PKCS12_create((char *)password, (word32)strlen(password), NULL, kder, kder_len,
                         (byte *)cert, (word32)cert_len, list, PBE_SHA1_DES3, PBE_SHA1_DES3,
                         2048, 2048, 0, NULL);
  if (!p12) {
    rc = CG_ECRYPTO;
    goto done;
  }
  wc = wc_i2d_PKCS12(p12, NULL, &size);
  if (wc != LENGTH_ONLY_E || size <= 0) {
    rc = CG_ECRYPTO;
    goto done;
  }
  buf = malloc((size_t)size);
  if (!buf) {
    rc = CG_ENOMEM;
    goto done;
  }
  {
    /* wc_i2d_PKCS12 advances the pointer it is given past what it wrote. */
    byte *w = buf;
    wc = wc_i2d_PKCS12(p12, &w, &size);
  }
  if (wc <= 0) {
    rc = map_err(wc);
    free(buf);
    goto done;
  }
  *out = buf;
  *out_len = (size_t)wc;
  rc = 0;
done:
  wc_PKCS12_free(p12);
  free(list);
  cg_wipe(kder, kder_len);
  free(kder);
  return rc;
}

static void free_wc_list(WC_DerCertList *l) {
  while (l) {
    WC_DerCertList *next = l->next;
    XFREE(l->buffer, NULL, DYNAMIC_TYPE_PKCS);
    XFREE(l, NULL, DYNAMIC_TYPE_PKCS);
    l = next;
  }
}

void cg_pkcs12_free_certs(uint8_t **ca, size_t *ca_len, size_t n_ca) {
  if (ca) {
    for (size_t i = 0; i < n_ca; i++)
      free(ca[i]);
  }
  free(ca);
  free(ca_len);
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n) {
  uint8_t *d = malloc(n ? n : 1);
  if (d && n)
    memcpy(d, p, n);
  return d;
}

/* Copies wolfCrypt's CA list into the arrays of our interface. */
static int take_ca_list(const WC_DerCertList *l, uint8_t ***ca, size_t **ca_len, size_t *n_ca) {
  size_t n = 0, i = 0;
  uint8_t **certs;
  size_t *lens;
  for (const WC_DerCertList *c = l; c; c = c->next)
    n++;
  *ca = NULL;
  *ca_len = NULL;
  *n_ca = 0;
  if (n == 0)
    return 0;
  certs = calloc(n, sizeof *certs);
  lens = calloc(n, sizeof *lens);
  if (!certs || !lens) {
    free(certs);
    free(lens);
    return CG_ENOMEM;
  }
  for (const WC_DerCertList *c = l; c; c = c->next, i++) {
    certs[i] = dup_bytes(c->buffer, c->bufferSz);
    lens[i] = c->bufferSz;
    if (!certs[i]) {
      cg_pkcs12_free_certs(certs, lens, i);
      return CG_ENOMEM;
    }
  }
  *ca = certs;
  *ca_len = lens;
  *n_ca = n;
  return 0;
}

int cg_pkcs12_parse(const uint8_t *der, size_t len, const char *password, struct cg_key **key,
                    uint8_t **cert, size_t *cert_len, uint8_t ***ca, size_t **ca_len, size_t *n_ca) {
  WC_PKCS12 *p12;
  byte *pkey = NULL, *wcert = NULL;
  word32 pkey_len = 0, wcert_len = 0;
  WC_DerCertList *list = NULL;
  struct cg_key *k = NULL;
  uint8_t *c = NULL;
  int wc, rc;

  if (!der || len == 0 || len > UINT32_MAX || !password || !key || !cert || !cert_len || !ca ||
      !ca_len || !n_ca)
    return CG_EINVAL;
  *key = NULL;
  *cert = NULL;
  *cert_len = 0;
  *ca = NULL;
  *ca_len = NULL;
  *n_ca = 0;
  if ((rc = thread_enter()) != 0)
    return rc;
  p12 = wc_PKCS12_new();
  if (!p12)
    return CG_ENOMEM;
  wc = wc_d2i_PKCS12(der, (word32)len, p12);
  if (wc != 0) {
    rc = wc == MEMORY_E ? CG_ENOMEM : CG_EBAD_DATA;
    goto done;
  }
  wc = wc_PKCS12_parse(p12, password, &pkey, &pkey_len, &wcert, &wcert_len, &list);
  if (wc != 0) {
    rc = wc == MAC_CMP_FAILED_E ? CG_EBAD_MAC : wc == MEMORY_E ? CG_ENOMEM : CG_EBAD_DATA;
    goto done;
  }
  if (!pkey || !wcert) {
    rc = CG_ENOT_FOUND;
    goto done;
  }
  if ((rc = cg_key_from_private_der(pkey, pkey_len, &k)) != 0)
    goto done;
  c = dup_bytes(wcert, wcert_len);
  if (!c) {
    rc = CG_ENOMEM;
    goto done;
  }
  if ((rc = take_ca_list(list, ca, ca_len, n_ca)) != 0)
    goto done;
  *key = k;
  *cert = c;
  *cert_len = wcert_len;
  k = NULL;
  c = NULL;
done:
  cg_key_free(k);
  free(c);
  if (pkey) {
    cg_wipe(pkey, pkey_len);
    XFREE(pkey, NULL, DYNAMIC_TYPE_PUBLIC_KEY);
  }
  XFREE(wcert, NULL, DYNAMIC_TYPE_PKCS);
  free_wc_list(list);
  wc_PKCS12_free(p12);
  return rc;
}
