/*
 * p10.h - PKCS#10 certification requests (RFC 2986) as carried by p10cr
 * (RFC 9810 §5.3.4 / RFC 9483 §4.1.4): strict zero-copy decoding and the
 * check of the self-signature (the request's proof of possession).
 *
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo CertificationRequestInfo,
 *     signatureAlgorithm AlgorithmIdentifier,
 *     signature BIT STRING }
 *   CertificationRequestInfo ::= SEQUENCE {
 *     version INTEGER { v1(0) }, subject Name,
 *     subjectPKInfo SubjectPublicKeyInfo,
 *     attributes [0] IMPLICIT SET OF Attribute }
 *   Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET SIZE(1..MAX) OF ANY }
 */
#ifndef CG_CMP_P10_H
#define CG_CMP_P10_H

#include <stddef.h>
#include <stdint.h>

#include "core/der.h"

struct cmp_p10 {
  struct der_view raw;        /* the whole CertificationRequest */
  struct der_view info;       /* CertificationRequestInfo, whole TLV (what is signed) */
  struct der_view subject;    /* Name, whole TLV */
  struct der_view spki;       /* SubjectPublicKeyInfo, whole TLV */
  struct der_view attributes; /* contents of [0]; len 0 when empty */
  struct der_view sig_alg;    /* AlgorithmIdentifier, whole TLV */
  struct der_view signature;  /* BIT STRING octets */
  /* challengePassword (PKCS#9 1.2.840.113549.1.9.7): the string's octets
   * (DirectoryString: UTF8String, PrintableString, ...); p NULL when absent. */
  struct der_view challenge_password;
  /* extensionRequest (1.2.840.113549.1.9.14): contents of its Extensions
   * SEQUENCE (a run of Extension elements); p NULL when absent. */
  struct der_view extensions;
};

/* Decodes a DER CertificationRequest (exactly len octets).  0, CG_EDER
 * (malformed), CG_EBAD_DATA (version not 0, an attribute with no value or
 * given twice, challengePassword / extensionRequest with more than one value
 * or of the wrong type). */
int cmp_p10_decode(const uint8_t *p, size_t len, struct cmp_p10 *out);

/* Verifies the request's signature with its own public key.  0, or
 * CG_EBAD_POP (wrong signature, or an algorithm that does not fit the key). */
int cmp_p10_verify(const struct cmp_p10 *req);

#endif
