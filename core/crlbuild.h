/*
 * crlbuild.h - building and signing X.509 v2 CRLs (RFC 5280 §5) with the DER
 * writer and core/crypto, for the local CA's revocation list and for the
 * CMP crls general message (RFC 9483 §4.3.4).
 */
#ifndef CG_CORE_CRLBUILD_H
#define CG_CORE_CRLBUILD_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/der.h"

/* CRLReason, RFC 5280 §5.3.1 (value 7 is not used). */
enum crl_reason {
  CRL_REASON_NONE = -1, /* no reasonCode entry extension */
  CRL_REASON_UNSPECIFIED = 0,
  CRL_REASON_KEY_COMPROMISE = 1,
  CRL_REASON_CA_COMPROMISE = 2,
  CRL_REASON_AFFILIATION_CHANGED = 3,
  CRL_REASON_SUPERSEDED = 4,
  CRL_REASON_CESSATION_OF_OPERATION = 5,
  CRL_REASON_CERTIFICATE_HOLD = 6,
  CRL_REASON_REMOVE_FROM_CRL = 8,
  CRL_REASON_PRIVILEGE_WITHDRAWN = 9,
  CRL_REASON_AA_COMPROMISE = 10,
};

/* One revoked certificate. */
struct crl_entry {
  uint8_t serial[20]; /* positive big-endian magnitude, 1..20 octets */
  size_t serial_len;
  int64_t revoked_at; /* revocationDate, seconds since the epoch */
  /* enum crl_reason: 0..10 except 7, or -1 for no reasonCode entry
   * extension.  Reason 0 (unspecified) is written without the extension too:
   * RFC 5280 §5.3.1 says the unspecified code SHOULD NOT be used. */
  int reason;
};

struct crl_spec {
  struct der_view issuer; /* Name, whole TLV: the CA's subject */
  int64_t this_update, next_update;
  uint64_t crl_number;           /* cRLNumber, monotonically increasing per CA */
  struct der_view issuer_key_id; /* the CA's SKID: AKID keyIdentifier (required) */
  const struct crl_entry *entries;
  size_t n_entries;
};

/* Builds the CertificateList and signs it with issuer_key under its default
 * scheme (cg_key_default_sig()).  The CRL is v2 with the non-critical
 * crlExtensions authorityKeyIdentifier and cRLNumber (RFC 5280 §5.2.1,
 * §5.2.3); revokedCertificates is left out when there are no entries.
 * On success *out is a malloc'ed DER the caller frees and *len its size.
 * 0, CG_EINVAL (a serial of 0 or more than 20 octets, a reason outside the
 * list, no key identifier, nextUpdate before thisUpdate, or a time outside
 * years 0000..9999), CG_ENOMEM, CG_ECRYPTO or CG_EBAD_ALG. */
int cg_crl_build(const struct crl_spec *spec, const struct cg_key *issuer_key, uint8_t **out,
              size_t *len);

#endif
