/*
 * certbuild.h - building and signing X.509 v3 certificates (RFC 5280 §4.1)
 * with the DER writer and core/crypto.  Used by the local CA backend and by
 * `cmpgw init` for the demo PKI.  cg_cert_write_sig_alg() is the one writer of
 * signature AlgorithmIdentifiers.
 */
#ifndef CG_CORE_CERTBUILD_H
#define CG_CORE_CERTBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/der.h"
#include "core/limits.h"
#include "core/oid.h"

/* KeyUsage bits, RFC 5280 §4.2.1.3. */
enum {
  CERT_KU_DIGITAL_SIGNATURE = 1u << 0,
  CERT_KU_NON_REPUDIATION = 1u << 1,
  CERT_KU_KEY_ENCIPHERMENT = 1u << 2,
  CERT_KU_KEY_AGREEMENT = 1u << 4,
  CERT_KU_KEY_CERT_SIGN = 1u << 5,
  CERT_KU_CRL_SIGN = 1u << 6,
};

#define CERT_MAX_EKU 4

struct cert_spec {
  uint8_t serial[20]; /* positive big-endian magnitude */
  size_t serial_len;
  struct der_view issuer;  /* Name, whole TLV */
  struct der_view subject; /* Name, whole TLV */
  int64_t not_before, not_after;
  struct der_view spki;    /* SubjectPublicKeyInfo, whole TLV */
  bool is_ca;              /* basicConstraints cA (critical) */
  uint32_t key_usage;      /* 0: no keyUsage extension (critical otherwise) */
  enum cg_oid_id eku[CERT_MAX_EKU];
  size_t n_eku;
  struct der_view issuer_skid; /* authorityKeyIdentifier keyIdentifier; p NULL: none */
  struct der_view san;         /* subjectAltName extnValue contents to copy; p NULL: none */
};

/* What a request may ask to be written into a certificate: its subject (at
 * most CERT_MAX_RDNS RDNs and CERT_MAX_NAME_LEN octets) and its
 * subjectAltName (at most CERT_MAX_SAN_NAMES names and CERT_MAX_SAN_LEN
 * octets).  Real devices ask for a few RDNs (X.520 bounds each value: 64
 * characters for a common name, 128 for a locality) and a handful of names.
 * Within these bounds every certificate the local CA builds fits its 16 KB
 * buffer, so a request too large is refused as the requester's fault
 * (badCertTemplate) when it is read, and never fails later as ours. */
#define CERT_MAX_RDNS CG_LIMIT_NAME_RDNS
#define CERT_MAX_NAME_LEN CG_LIMIT_NAME_OCTETS
#define CERT_MAX_SAN_NAMES CG_LIMIT_SAN_NAMES
#define CERT_MAX_SAN_LEN CG_LIMIT_SAN_OCTETS

/* Checks a requested subject (a Name, whole TLV) against CERT_MAX_RDNS and
 * CERT_MAX_NAME_LEN.  0, or CG_EBAD_TEMPLATE (also when it is not a DER
 * Name) with a sentence naming the limit written into why (cap octets, NUL
 * terminated; why may be NULL). */
int cg_cert_check_subject(struct der_view name, char *why, size_t cap);
/* Checks a requested subjectAltName extnValue (GeneralNames) against
 * CERT_MAX_SAN_NAMES and CERT_MAX_SAN_LEN; what the names are is
 * cg_cert_check_san()'s business.  0 or CG_EBAD_TEMPLATE with why as above. */
int cg_cert_check_san_size(struct der_view value, char *why, size_t cap);

/* AlgorithmIdentifier of a signature: no parameters for ECDSA and EdDSA
 * (RFC 5758 §3.2, RFC 8410 §3), NULL parameters for RSA PKCS#1 v1.5
 * (RFC 4055 §5). */
void cg_cert_write_sig_alg(struct der_writer *w, enum cg_sig_scheme scheme, enum cg_hash hash);

/* Checks a requested subjectAltName extnValue (GeneralNames, RFC 5280
 * §4.2.1.6) before it is copied into a certificate: well-formed DER, within
 * cg_cert_check_san_size(), and only rfc822Name, dNSName (letters, digits,
 * hyphens and dots; no wildcard), URI (printable ASCII) and iPAddress (4 or
 * 16 octets).  0 or CG_EBAD_TEMPLATE. */
int cg_cert_check_san(struct der_view value);

/* A positive serial of 16 octets (RFC 5280 §4.1.2.2: at most 20): the bits
 * 01, the time in milliseconds (46 bits), then 80 bits from the CSPRNG (the
 * CA/Browser Forum asks for at least 64).  Serials grow with time, so the
 * store's index of them is written at its end, not at a random page (a
 * random serial cost each enrolment a page write of its own on a grown store). */
int cg_cert_random_serial(struct cert_spec *spec);
/* The RFC 5280 §4.2.1.2 method-1 key identifier: SHA-1 of the subjectPublicKey
 * bits of spki.  0 or CG_EDER. */
int cg_cert_key_id(struct der_view spki, uint8_t out[20]);
/* Builds the certificate and signs it with issuer_key (its default scheme).
 * out gets the DER; *len its size.  0, CG_ESPACE, CG_EDER, CG_ECRYPTO. */
int cg_cert_build(const struct cert_spec *spec, const struct cg_key *issuer_key, uint8_t *out,
               size_t cap, size_t *len);

/* A Name of the given (type, value) RDNs, first = most significant, values as
 * UTF8String (PrintableString for C).  0 or CG_ESPACE. */
int cg_cert_make_name(const enum cg_oid_id *types, const char *const *values, size_t n,
                   uint8_t *out, size_t cap, size_t *len);
/* A Name from OpenSSL's one-line form, "/CN=name/O=org" (a backslash escapes
 * the next character; attributes CN O OU C L ST emailAddress serialNumber
 * street DC UID), through cg_cert_make_name().  0, CG_EINVAL (not that form, an
 * unknown attribute, an empty value, over 16 attributes) or CG_ESPACE. */
int cg_cert_name_from_text(const char *s, uint8_t *out, size_t cap, size_t *len);

#endif
