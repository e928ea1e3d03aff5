/*
 * pbmac1.h - PBMAC1 message protection (RFC 9481 §6.1.1, RFC 8018 §7.1):
 * a key derived from the shared secret with PBKDF2, then HMAC over the
 * ProtectedPart.
 *
 *   id-PBMAC1 OBJECT IDENTIFIER ::= { 1 2 840 113549 1 5 14 }
 *   PBMAC1-params ::= SEQUENCE {
 *     keyDerivationFunc AlgorithmIdentifier {{PBMAC1-KDFs}},   -- id-PBKDF2
 *     messageAuthScheme AlgorithmIdentifier {{PBMAC1-MACs}} }  -- hmacWithSHA*
 *   PBKDF2-params ::= SEQUENCE {
 *     salt CHOICE { specified OCTET STRING, otherSource AlgorithmIdentifier },
 *     iterationCount INTEGER (1..MAX),
 *     keyLength INTEGER (1..MAX) OPTIONAL,
 *     prf AlgorithmIdentifier DEFAULT algid-hmacWithSHA1 }
 */
#ifndef CG_CMP_PBMAC1_H
#define CG_CMP_PBMAC1_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/der.h"

#define CMP_PBMAC1_MAX_SALT 64
#define CMP_PBMAC1_MAX_KEY 64 /* keyLength accepted: 16..64 octets */

struct cmp_pbmac1_params {
  uint8_t salt[CMP_PBMAC1_MAX_SALT];
  size_t salt_len;
  uint32_t iterations;
  size_t key_len;     /* octets of the derived key; RFC 9481 requires keyLength */
  enum cg_hash prf;   /* PBKDF2 PRF: HMAC with this hash */
  enum cg_hash mac;   /* messageAuthScheme: HMAC with this hash */
};

/* Parses a protectionAlg AlgorithmIdentifier (whole TLV) that must be
 * id-PBMAC1.  CG_EBAD_ALG for another algorithm, an unsupported PRF or MAC
 * (SHA-1 is refused for both, RFC 9481 §6.1.1 wants SHA-256 or better), a
 * salt of otherSource or longer than CMP_PBMAC1_MAX_SALT or shorter than 8
 * octets, keyLength absent or outside 16..64, or an iteration count outside
 * [1000, max_iterations] (RFC 8018 §4.2 recommends at least 1000);
 * CG_EDER / CG_EBAD_DATA when malformed. */
int cmp_pbmac1_parse(struct der_view alg, uint32_t max_iterations, struct cmp_pbmac1_params *out);
/* Writes AlgorithmIdentifier { id-PBMAC1, PBMAC1-params } with keyLength and
 * an explicit prf (never the SHA-1 default). */
void cmp_pbmac1_write_alg(struct der_writer *w, const struct cmp_pbmac1_params *p);
/* The derived key, PBKDF2(secret, salt, iterations, key_len, prf): p->key_len
 * octets.  The costly part; see cmp_pbm_derive(). */
int cmp_pbmac1_derive(const struct cmp_pbmac1_params *p, const uint8_t *secret,
                      size_t secret_len, uint8_t key[CMP_PBMAC1_MAX_KEY]);
/* HMAC-mac(PBKDF2(secret, salt, iterations, key_len, prf), data); out gets
 * cg_hash_size(p->mac) octets (*out_len). */
int cmp_pbmac1_compute(const struct cmp_pbmac1_params *p, const uint8_t *secret,
                       size_t secret_len, const struct cg_iov *data, size_t n,
                       uint8_t out[CG_HASH_MAX], size_t *out_len);

#endif
