/*
 * x509_verify.h - certification path validation (RFC 5280 §6, the subset an
 * RA needs to trust the signer of a CMP message).
 *
 * A path is built from the end-entity certificate upwards: the issuer of each
 * certificate is looked for among the anchors first, then among the
 * untrusted pool (extraCerts), matching issuer name to subject name and, when
 * both are present, authorityKeyIdentifier to subjectKeyIdentifier.  The path
 * is valid when it ends at a trust anchor and, at time now:
 *   - every signature verifies with the issuer's public key;
 *   - every certificate (and the anchor) is within its validity;
 *   - every issuing certificate but the anchor has basicConstraints cA TRUE
 *     and, if keyUsage is present, keyCertSign; pathLenConstraint is obeyed;
 *   - no certificate carries a critical extension we do not process
 *     (processed: basicConstraints, keyUsage, extKeyUsage, subjectAltName,
 *     nameConstraints is NOT processed and so refused when critical);
 *   - the path has at most max_depth certificates below the anchor.
 * A trust anchor is trusted by its subject and public key; an anchor may also
 * be the end-entity certificate itself.  Revocation is not checked here.
 */
#ifndef CG_CORE_X509_VERIFY_H
#define CG_CORE_X509_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/der.h"

/* Reasons a path is refused, for logs and tests (the CMP answer is
 * signerNotTrusted in every case). */
enum cg_path_error {
  CG_PATH_OK = 0,
  CG_PATH_MALFORMED,     /* a certificate does not parse */
  CG_PATH_NO_ISSUER,     /* no anchor or pool certificate issued one of them */
  CG_PATH_BAD_SIGNATURE,
  CG_PATH_EXPIRED,       /* outside validity (not yet valid included) */
  CG_PATH_NOT_CA,        /* an issuer without cA / keyCertSign */
  CG_PATH_PATH_LEN,      /* pathLenConstraint exceeded, or deeper than max_depth */
  CG_PATH_CRITICAL_EXT,  /* an unprocessed critical extension */
};

/* Validates the path from leaf (DER) to one of anchors (DER certificates),
 * using pool (DER certificates, untrusted) as intermediates.  Returns 0 when
 * valid, else CG_ENOT_TRUSTED with *why set (why may be NULL). */
int cg_x509_verify_path(struct der_view leaf, const struct der_view *pool, size_t n_pool,
                        const struct der_view *anchors, size_t n_anchors, int64_t now,
                        unsigned max_depth, enum cg_path_error *why);

/* The keyUsage bits of a certificate (bit n of the ASN.1 value = 1u << n);
 * *present false when it has no keyUsage extension.  0 or CG_EDER. */
int cg_x509_key_usage(struct der_view cert, uint32_t *bits, bool *present);

#endif
