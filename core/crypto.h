/*
 * crypto.h - every cryptographic primitive cmpgw uses, as thin adapters over
 * wolfCrypt.  This is the only header behind which wolfSSL lives: no
 * wolfSSL type appears here.
 *
 * All functions are thread-safe and may run on threadpool workers; randomness
 * comes from a per-thread DRBG seeded on first use.  Functions return 0 or a
 * negative CG_E* code (CG_ECRYPTO for library failures, CG_ESPACE for small
 * output buffers, CG_EBAD_ALG for unsupported algorithms, CG_EBAD_KEY for
 * public keys outside the accepted sizes and curves).
 */
#ifndef CG_CORE_CRYPTO_H
#define CG_CORE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"


enum cg_hash {
  CG_HASH_NONE = 0,
  CG_HASH_SHA1,
  CG_HASH_SHA224,
  CG_HASH_SHA256,
  CG_HASH_SHA384,
  CG_HASH_SHA512,
};
#define CG_HASH_MAX 64

/* Output size in octets; 0 for CG_HASH_NONE. */
size_t cg_hash_size(enum cg_hash h);
const char *cg_hash_name(enum cg_hash h);

/* A piece of a message hashed or MACed as one input. */
struct cg_iov {
  const void *p;
  size_t len;
};

/* out (cg_hash_size(h) octets) = H(concatenation of the n pieces). */
int cg_hash(enum cg_hash h, const struct cg_iov *iov, size_t n, uint8_t *out);
/* out (cg_hash_size(h) octets) = HMAC-H(key, concatenation of the pieces). */
int cg_hmac(enum cg_hash h, const uint8_t *key, size_t key_len, const struct cg_iov *iov,
            size_t n, uint8_t *out);
/* Repeated hashing for PasswordBasedMac (RFC 9810 §5.1.3.1):
 * k = H(secret || salt), then k = H(k) iterations-1 more times.
 * out gets cg_hash_size(h) octets. */
int cg_pbm_owf(enum cg_hash h, const uint8_t *secret, size_t secret_len, const uint8_t *salt,
               size_t salt_len, uint32_t iterations, uint8_t *out);
/* PBKDF2 with HMAC-H (RFC 8018), for PBMAC1. */
int cg_pbkdf2(enum cg_hash prf, const uint8_t *pass, size_t pass_len, const uint8_t *salt,
              size_t salt_len, uint32_t iterations, uint8_t *out, size_t out_len);

/* Fills out with n random octets from the thread's DRBG. */
int cg_random(void *out, size_t n);
/* Erases n octets in a way the compiler may not drop as a dead store (for
 * keys and secrets about to be released). */
void cg_wipe(void *p, size_t n); /* p may be NULL */
/* Constant-time comparison of n octets; true when equal. */
bool cg_ct_equal(const void *a, const void *b, size_t n);

/* AES-256-GCM with a 12-octet nonce and 16-octet tag.  ct and pt may alias. */
int cg_aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
                      size_t aad_len, const uint8_t *pt, size_t len, uint8_t *ct,
                      uint8_t tag[16]);
/* Returns CG_EBAD_MAC when the tag does not verify (pt is then zeroed). */
int cg_aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
                      size_t aad_len, const uint8_t *ct, size_t len, const uint8_t tag[16],
                      uint8_t *pt);

/* AES-CBC with a key of 16, 24 or 32 octets over len octets, a multiple of
 * 16, with no padding (the caller pads).  in and out may alias. */
int cg_aes_cbc_encrypt(const uint8_t *key, size_t key_len, const uint8_t iv[16], const uint8_t *in,
                       size_t len, uint8_t *out);
/* AES key wrap (RFC 3394, the default IV) of in_len octets (a multiple of 8,
 * at least 16) under a key of 16, 24 or 32 octets: out gets in_len + 8. */
int cg_aes_key_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t in_len,
                    uint8_t *out);

/* Keys. */
enum cg_key_type { CG_KEY_NONE, CG_KEY_EC, CG_KEY_RSA, CG_KEY_ED25519, CG_KEY_ED448 };
enum cg_sig_scheme { CG_SIG_NONE, CG_SIG_ECDSA, CG_SIG_RSA_PKCS1, CG_SIG_RSA_PSS, CG_SIG_EDDSA };

/* A public or private key; opaque.  Created by the functions below, released
 * with cg_key_free(). */
struct cg_key;

/* The public keys cmpgw accepts from outside (every key it reads from a
 * SubjectPublicKeyInfo: signers and intermediates in extraCerts, trust
 * anchors, the keys of certificate templates and PKCS#10 requests).  The
 * cost of checking a signature grows with the modulus and, for RSA, with
 * the public exponent: a 4088-bit exponent makes one verification as costly
 * as an RSA private operation.  So a key is refused, before any arithmetic
 * is done with it, unless it is:
 *   - RSA with a modulus of CG_RSA_MIN_BITS..CG_RSA_MAX_BITS bits, a whole
 *     number of octets (every generator in use makes those; it also keeps
 *     RSASSA-PSS off its rarely used short-encoding case), odd; and a public
 *     exponent that is odd, at least 3 and below 2^64 (OpenSSL's limit for
 *     moduli over 3072 bits; keys use 65537);
 *   - EC on a named curve P-256, P-384 or P-521 (RFC 5480 §2.1.1);
 *   - Ed25519 or Ed448.
 * CG_RSA_MAX_BITS is the largest modulus the wolfSSL build handles
 * (RSA_MAX_SIZE).  CG_RSA_MIN_BITS may be lowered at build time (CMake
 * CMPGW_RSA_MIN_BITS, a multiple of 8, at least 1024) for devices that
 * still hold smaller keys.  Private keys (the RA's, the CA's, a client's)
 * are the operator's and are read as they are. */
#ifndef CG_RSA_MIN_BITS
#define CG_RSA_MIN_BITS 2048
#endif
#define CG_RSA_MAX_BITS CG_LIMIT_RSA_MAX_BITS
#define CG_RSA_MAX_EXPONENT_BITS CG_LIMIT_RSA_MAX_EXPONENT_BITS

/* Checks a DER SubjectPublicKeyInfo against the bounds above without
 * making a key.  0; CG_EBAD_KEY (outside the bounds: *why, when why is not
 * NULL, gets a static sentence naming the bound); CG_EBAD_ALG (an algorithm
 * cmpgw does not know); CG_EDER (not DER of that shape). */
int cg_key_check_spki(const uint8_t *spki, size_t len, const char **why);
/* cg_key_check_spki(), and of a key it accepts: its type and size in bits
 * (the RSA modulus; the EC curve: 256, 384, 521; 256 for Ed25519, 456 for
 * Ed448). */
int cg_key_check_spki_size(const uint8_t *spki, size_t len, enum cg_key_type *type,
                           unsigned *bits, const char **why);
/* From a DER SubjectPublicKeyInfo: the keys cg_key_check_spki() accepts;
 * its errors otherwise. */
int cg_key_from_spki(const uint8_t *spki, size_t len, struct cg_key **out);
/* From a DER private key: PKCS#8, SEC1 ECPrivateKey or PKCS#1 RSAPrivateKey
 * (EC keys on P-256, P-384 or P-521 only: CG_EBAD_KEY otherwise). */
int cg_key_from_private_der(const uint8_t *der, size_t len, struct cg_key **out);
/* New EC key on P-256 (bits 256), P-384 or P-521. */
int cg_key_generate_ec(unsigned bits, struct cg_key **out);
/* A new private key: EC (bits 256, 384, 521), RSA (bits 2048..4096, e =
 * 65537) or Ed25519 (bits ignored).  0, CG_EBAD_ALG, CG_ECRYPTO, CG_ENOMEM. */
int cg_key_generate(enum cg_key_type type, unsigned bits, struct cg_key **out);
void cg_key_free(struct cg_key *key);
enum cg_key_type cg_key_type(const struct cg_key *key);
bool cg_key_is_private(const struct cg_key *key);
/* A private key that stays in a device (a PKCS#11 token, core/token.h):
 * wolfCrypt sends its signatures to the crypto callback registered as
 * dev_id, naming the key by ref, its CKA_ID (is_label false) or its
 * CKA_LABEL (true; ref without a NUL).  spki is its public key (from its
 * certificate), checked as cg_key_from_spki() checks.  EC and RSA keys
 * only: CG_EBAD_ALG otherwise.  Such a key signs and gives its SPKI; it is
 * never written out (cg_key_private_pkcs8(), cg_pkcs12_create(): CG_EINVAL). */
#define CG_DEVICE_REF_MAX 64
int cg_key_from_device(int dev_id, const uint8_t *ref, size_t ref_len, bool is_label,
                       const uint8_t *spki, size_t spki_len, struct cg_key **out);
/* Whether key is a device key, and which (for a TLS context that must name
 * the same key to wolfSSL). */
bool cg_key_device(const struct cg_key *key, int *dev_id, const uint8_t **ref, size_t *ref_len,
                   bool *is_label);
/* The DER SubjectPublicKeyInfo of key.  *len gets the size; CG_ESPACE when cap
 * is too small. */
int cg_key_spki(const struct cg_key *key, uint8_t *out, size_t cap, size_t *len);
/* The DER PKCS#8 PrivateKeyInfo of a private key. */
int cg_key_private_pkcs8(const struct cg_key *key, uint8_t *out, size_t cap, size_t *len);
/* The default signature scheme and hash for a key: ECDSA with SHA-256/384/512 by
 * curve size, RSA PKCS#1 v1.5 with SHA-256, EdDSA with no hash. */
void cg_key_default_sig(const struct cg_key *key, enum cg_sig_scheme *scheme, enum cg_hash *hash);

/* Signs data.  ECDSA signatures are DER Ecdsa-Sig-Value (what goes inside the
 * BIT STRING); RSA and EdDSA signatures are raw.  hash is ignored for EdDSA. */
int cg_sign(const struct cg_key *key, enum cg_sig_scheme scheme, enum cg_hash hash,
            const struct cg_iov *data, size_t n, uint8_t *sig, size_t cap, size_t *sig_len);
/* Verifies a signature over data; 0 when valid; returns
 * CG_EBAD_MAC when the signature does not verify, CG_EBAD_ALG when scheme and
 * key do not match. */
int cg_verify(const struct cg_key *key, enum cg_sig_scheme scheme, enum cg_hash hash,
              const struct cg_iov *data, size_t n, const uint8_t *sig, size_t sig_len);

/* Key establishment, for CMS recipients (core/cms.c).
 * RSAES-PKCS1-v1_5 encryption of len octets to an RSA public key: *out_len
 * gets the modulus size. */
int cg_rsa_encrypt(const struct cg_key *pub, const uint8_t *in, size_t len, uint8_t *out,
                   size_t cap, size_t *out_len);
/* Elliptic-curve Diffie-Hellman: the shared secret (the x-coordinate) of a
 * private EC key and a public EC key on the same curve.  CG_EBAD_KEY when
 * the curves differ. */
int cg_ecdh(const struct cg_key *priv, const struct cg_key *pub, uint8_t *out, size_t cap,
            size_t *len);
/* The ANSI X9.63 key derivation function with hash h (RFC 5753 §7.2). */
int cg_x963_kdf(enum cg_hash h, const uint8_t *z, size_t z_len, const uint8_t *info,
                size_t info_len, uint8_t *out, size_t out_len);
/* The size in bits of an EC key's curve (256, 384, 521); 0 for another key. */
unsigned cg_key_ec_bits(const struct cg_key *key);

/* PEM.  label is e.g. "CERTIFICATE", "PRIVATE KEY".  cg_pem_encode writes a
 * NUL-terminated text; *len excludes the NUL. */
int cg_pem_encode(const char *label, const uint8_t *der, size_t der_len, char *out, size_t cap,
                  size_t *len);
/* Decodes the first PEM block with the given label found in text (which need
 * not be NUL-terminated).  *consumed gets the offset just after that block, so
 * a caller can loop over a bundle.  CG_ENOT_FOUND when there is none. */
int cg_pem_decode(const char *label, const char *text, size_t text_len, uint8_t *out, size_t cap,
                  size_t *len, size_t *consumed);

/* PKCS#12: a key, its certificate and optional CA certificates, protected with
 * a password (PBE-SHA1-3DES for the key and certificates, HMAC-SHA256 MAC, as
 * wolfCrypt creates them; readable by OpenSSL).  The result is malloc'ed; the
 * caller frees it with free(). */
int cg_pkcs12_create(const char *password, const struct cg_key *key, const uint8_t *cert,
                     size_t cert_len, const uint8_t *const *ca, const size_t *ca_len, size_t n_ca,
                     uint8_t **out, size_t *out_len);
/* Parses a PKCS#12.  *key gets the private key, *cert (malloc'ed) its
 * certificate; *ca and *ca_len (malloc'ed arrays of malloc'ed DER) the other
 * certificates; all to be freed by the caller (cg_pkcs12_free_certs()).
 * CG_EBAD_MAC for a wrong password. */
int cg_pkcs12_parse(const uint8_t *der, size_t len, const char *password, struct cg_key **key,
                    uint8_t **cert, size_t *cert_len, uint8_t ***ca, size_t **ca_len, size_t *n_ca);
void cg_pkcs12_free_certs(uint8_t **ca, size_t *ca_len, size_t n_ca);

/* Starts wolfCrypt (done by the first function that needs it; needed
 * before a device is registered, core/token.c).  0 or CG_ECRYPTO. */
int cg_crypto_init(void);
/* Releases the thread's DRBG (call before a thread ends; optional). */
void cg_crypto_thread_cleanup(void);

#endif
