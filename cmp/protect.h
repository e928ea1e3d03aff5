/*
 * protect.h - CMP message protection (RFC 9810 §5.1.3): PasswordBasedMac
 * (§5.1.3.1) and signatures (§5.1.3.3), and the signature POP of CRMF
 * (RFC 4211 §4.1).  Pure computation: these run on threadpool workers.
 */
#ifndef CG_CMP_PROTECT_H
#define CG_CMP_PROTECT_H

#include <stddef.h>
#include <stdint.h>

#include "cmp/msg.h"
#include "core/crypto.h"
#include "core/der.h"

#define CMP_PBM_MIN_ITERATIONS 100 /* below this a MAC is refused as weak */
#define CMP_PBM_MAX_SALT 64

/* PBMParameter ::= SEQUENCE { salt OCTET STRING, owf AlgorithmIdentifier,
 *   iterationCount INTEGER, mac AlgorithmIdentifier } */
struct cmp_pbm_params {
  uint8_t salt[CMP_PBM_MAX_SALT];
  size_t salt_len;
  enum cg_hash owf;
  uint32_t iterations;
  enum cg_hash mac; /* HMAC with this hash */
};

/* Parses a protectionAlg AlgorithmIdentifier (whole TLV) that must be
 * PasswordBasedMac.  CG_EBAD_ALG for another algorithm, an unknown OWF or MAC,
 * or an iteration count outside [CMP_PBM_MIN_ITERATIONS, max_iterations];
 * CG_EDER / CG_EBAD_DATA when malformed. */
int cmp_pbm_parse(struct der_view alg, uint32_t max_iterations, struct cmp_pbm_params *out);
/* Writes the AlgorithmIdentifier { id-PasswordBasedMac, PBMParameter }. */
void cmp_pbm_write_alg(struct der_writer *w, const struct cmp_pbm_params *p);
/* The PBM key, OWF^iterations(secret || salt): cg_hash_size(p->owf) octets.
 * The costly part of a PBM; a transaction that keeps its parameters (RFC 9810
 * §5.1.3.1) needs it once for a request and its answer. */
int cmp_pbm_derive(const struct cmp_pbm_params *p, const uint8_t *secret, size_t secret_len,
                   uint8_t key[CG_HASH_MAX], size_t *key_len);
/* The PBM value over data: HMAC(OWF^iterations(secret || salt), data).  out
 * gets cg_hash_size(p->mac) octets (*out_len). */
int cmp_pbm_compute(const struct cmp_pbm_params *p, const uint8_t *secret, size_t secret_len,
                    const struct cg_iov *data, size_t n, uint8_t out[CG_HASH_MAX],
                    size_t *out_len);
/* Verifies the PBM protection of a received message in constant time:
 * 0, CG_EBAD_MAC (no or wrong protection), or a cmp_pbm_parse() error. */
int cmp_pbm_verify(const struct cmp_msg *msg, uint32_t max_iterations, const uint8_t *secret,
                   size_t secret_len);

/* Verifies a signature given by an AlgorithmIdentifier (whole TLV) with the
 * public key in spki (whole SubjectPublicKeyInfo TLV) over data.
 * 0, CG_EBAD_MAC (wrong signature), CG_EBAD_ALG (unsupported algorithm, or
 * one that does not fit the key). */
int cmp_verify_sig(struct der_view alg, struct der_view spki, const struct cg_iov *data, size_t n,
                   struct der_view sig);

/* Verifies the signature POP of a CertReqMsg (RFC 4211 §4.1: over the DER of
 * certReq when poposkInput is absent), using the template's public key.
 * 0 or CG_EBAD_POP. */
int cmp_verify_pop(const struct cmp_cert_req *req, const uint8_t *spki, size_t spki_len);

/* The template's public key as a SubjectPublicKeyInfo (the [6] IMPLICIT tag
 * replaced by SEQUENCE), written to w. */
void cmp_write_template_spki(struct der_writer *w, const struct cmp_cert_template *t);

#endif
