/*
 * x509_verify.h - certification path validation (RFC 5280 §6, the subset an
 * RA needs to trust the signer of a CMP message).
 *
 * A path is built from the end-entity certificate upwards: the issuer of each
 * certificate is looked for among the anchors first, then among the
 * untrusted pool (extraCerts), matching issuer name to subject name (byte for
 * byte) and, when both are present, authorityKeyIdentifier to
 * subjectKeyIdentifier.  A candidate that fails a check is set aside and the
 * next one is tried, so decoys in the pool (a certificate with the right name
 * but the wrong key, a cross-certificate that leads nowhere) do not hide a
 * good path; a pool certificate is used at most once in a path, so loops end.
 * The path is valid when it ends at a trust anchor and, at time now:
 *   - every signature verifies with the issuer's public key;
 *   - every certificate (and the anchor) is within its validity;
 *   - every issuing certificate but the anchor has basicConstraints cA TRUE
 *     and, if keyUsage is present, keyCertSign; pathLenConstraint is obeyed,
 *     the anchor's included, self-issued intermediates not counted;
 *   - no certificate but the anchor carries a critical extension we do not
 *     process (processed: basicConstraints, keyUsage, extKeyUsage,
 *     subjectAltName; nameConstraints, certificatePolicies and the rest are
 *     NOT processed and so refused when critical);
 *   - the path has at most max_depth certificates below the anchor (the
 *     end-entity certificate included: max_depth 1 allows only certificates
 *     issued by an anchor, 0 only an end-entity certificate that is itself
 *     an anchor).
 * A trust anchor is trusted by its subject and public key; an anchor may also
 * be the end-entity certificate itself (byte for byte), which is then valid
 * when within its validity.  Signatures: ECDSA, RSA PKCS#1 v1.5, RSASSA-PSS
 * (the parameters cg_pss_params_parse() accepts) and EdDSA.  Revocation is
 * not checked here.
 *
 * The search is bounded: at most CG_X509_VERIFY_MAX_POOL pool certificates,
 * at most CG_X509_VERIFY_MAX_CANDIDATES candidates (anchors and pool
 * certificates) tried for the issuer of any one certificate, at most
 * CG_X509_VERIFY_MAX_SIGNATURES signature checks and a fixed number of
 * search steps; a search that would go beyond them stops and the path is
 * refused (CG_PATH_BUDGET).  A legitimate path never comes near them.
 */
#ifndef CG_CORE_X509_VERIFY_H
#define CG_CORE_X509_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/der.h"
#include "core/limits.h"

/* The most untrusted certificates one validation considers (a CMP message
 * carries at most 8 extraCerts, cmp/msg.h). */
#define CG_X509_VERIFY_MAX_POOL CG_LIMIT_PATH_POOL
/* The work one validation may do.  A CA has one certificate per key, and
 * the root CA key update of RFC 9810 gives its name four at most (old and
 * new key, each self-signed and certified by the other), so 8 candidates
 * for one issuer is twice what a real PKI shows.  The longest path the pool can
 * hold needs 9 signature checks (8 intermediates and the anchor's); 16
 * leaves room for 7 failed candidates besides.  Each check is with a key
 * within the bounds of core/crypto.h, so a request that makes a validation
 * exhaust the budget costs at most 16 such verifications. */
#define CG_X509_VERIFY_MAX_CANDIDATES CG_LIMIT_PATH_CANDIDATES
#define CG_X509_VERIFY_MAX_SIGNATURES CG_LIMIT_PATH_SIGNATURES

/* Reasons a path is refused, for logs and tests (the CMP answer is
 * signerNotTrusted in every case).  When several candidate paths fail, the
 * reason is the one of the candidate that came furthest: the deepest, and at
 * one depth a candidate whose signature verified before one whose did not. */
enum cg_path_error {
  CG_PATH_OK = 0,
  CG_PATH_MALFORMED,     /* a certificate (or one of its extensions) does not parse */
  CG_PATH_NO_ISSUER,     /* no anchor or pool certificate issued one of them */
  CG_PATH_BAD_SIGNATURE, /* includes an unsupported signature algorithm or key */
  CG_PATH_EXPIRED,       /* outside validity (not yet valid included) */
  CG_PATH_NOT_CA,        /* an issuer without cA / keyCertSign */
  CG_PATH_PATH_LEN,      /* pathLenConstraint exceeded, or deeper than max_depth */
  CG_PATH_CRITICAL_EXT,  /* an unprocessed critical extension */
  CG_PATH_BUDGET,        /* the search would exceed its bounds: too many candidates */
};

/* Validates the path from leaf (DER) to one of anchors (DER certificates),
 * using pool (DER certificates, untrusted; copies of the leaf or of one
 * another are harmless) as intermediates.  Nothing is kept: the views need
 * only last for the call.  Returns 0 when valid, else CG_ENOT_TRUSTED with
 * *why set (why may be NULL); CG_EINVAL when n_pool exceeds
 * CG_X509_VERIFY_MAX_POOL and CG_ENOMEM when memory ran out (*why is then
 * CG_PATH_OK: nothing was decided about the path). */
int cg_x509_verify_path(struct der_view leaf, const struct der_view *pool, size_t n_pool,
                        const struct der_view *anchors, size_t n_anchors, int64_t now,
                        unsigned max_depth, enum cg_path_error *why);

/* The keyUsage bits of a certificate (bit n of the ASN.1 value = 1u << n);
 * *present false (and *bits 0) when it has no keyUsage extension.  0 or
 * CG_EDER (a certificate that does not parse, or a keyUsage that is not a
 * DER BIT STRING with at least one bit set, RFC 5280 §4.2.1.3). */
int cg_x509_key_usage(struct der_view cert, uint32_t *bits, bool *present);

/* The signature scheme and hash of a signature AlgorithmIdentifier (whole
 * TLV, as cg_x509.sig_alg), with its parameters checked: absent for ECDSA
 * (RFC 5758 §3.2) and EdDSA (RFC 8410 §3); NULL or absent for RSA PKCS#1 v1.5
 * (RFC 4055 §5); for RSASSA-PSS those cg_pss_params_parse() accepts.  EdDSA
 * gives CG_HASH_NONE.  0, CG_EDER (not an AlgorithmIdentifier) or CG_EBAD_ALG
 * (an algorithm or parameters cmpgw does not support). */
int cg_sig_alg_parse(struct der_view alg_id, enum cg_sig_scheme *scheme, enum cg_hash *hash);

/* The parameters of an RSASSA-PSS AlgorithmIdentifier (params: the whole
 * RSASSA-PSS-params TLV, RFC 4055 §3.1).  Only what RFC 9481 §3.1 and the
 * verifier of core/crypto support is accepted: hashAlgorithm SHA-256, SHA-384
 * or SHA-512 (parameters NULL or absent), maskGenAlgorithm MGF1 with that
 * same hash, saltLength equal to the hash length, and trailerField absent
 * (its DEFAULT 1: DER does not encode a default).  *hash gets the hash.
 * 0, CG_EDER (not DER of that type) or CG_EBAD_ALG (other values). */
int cg_pss_params_parse(struct der_view params, enum cg_hash *hash);

#endif
