/*
 * x509.h - a strict, zero-copy reader of X.509 certificates (RFC 5280) and
 * names, on top of der.h.  Views point into the caller's DER.
 */
#ifndef CG_CORE_X509_H
#define CG_CORE_X509_H

#include "core/der.h"

/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
 * TBSCertificate ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, serialNumber,
 *   signature AlgorithmIdentifier, issuer Name, validity, subject Name,
 *   subjectPublicKeyInfo, issuerUniqueID [1] IMPLICIT OPTIONAL,
 *   subjectUniqueID [2] IMPLICIT OPTIONAL, extensions [3] EXPLICIT OPTIONAL } */
struct cg_x509 {
  struct der_view raw;       /* the whole Certificate */
  struct der_view tbs;       /* TBSCertificate, whole TLV (what is signed) */
  unsigned version;          /* 0 = v1, 2 = v3 */
  struct der_view serial;    /* INTEGER contents */
  struct der_view sig_alg;   /* outer AlgorithmIdentifier, whole TLV */
  struct der_view sig_oid;   /* its OID contents */
  struct der_view issuer;    /* Name, whole TLV */
  struct der_view subject;   /* Name, whole TLV */
  int64_t not_before, not_after;
  struct der_view spki;      /* SubjectPublicKeyInfo, whole TLV */
  struct der_view extensions; /* contents of the Extensions SEQUENCE; len 0 if none */
  struct der_view skid;      /* SubjectKeyIdentifier octets; len 0 if none */
  struct der_view signature; /* signature BIT STRING octets (after unused-bits octet) */
};

/* Parses a DER certificate.  0 or CG_EDER. */
int cg_x509_parse(const uint8_t *der, size_t len, struct cg_x509 *out);

/* Finds an extension by OID in the contents of an Extensions SEQUENCE;
 * 1 and *value (the extnValue OCTET STRING contents) and *critical when found,
 * 0 when absent, CG_EDER when malformed. */
int cg_x509_find_ext(struct der_view extensions, struct der_view oid, struct der_view *value,
                     bool *critical);

/* The number of RDNs of a DER Name (whole TLV, exactly): 0, or CG_EDER when
 * it is not a Name (RFC 5280 §4.1.2.4: a SEQUENCE of non-empty SETs of
 * AttributeTypeAndValue). */
int cg_name_rdns(struct der_view name, size_t *rdns);

/* Writes the RFC 4514 string of a DER Name (whole TLV) into out (NUL
 * terminated): RDNs in reverse order, known attribute types by short name
 * (CN, O, OU, C, L, ST, street, serialNumber, emailAddress, DC, UID), others as
 * dotted OIDs with #hex values; special characters escaped.  An empty Name
 * gives "".  The string is never longer than 4 characters per octet of the
 * Name (an escaped control character is 3 for 1; a dotted OID at most 4 per
 * octet of its encoding; a #hex value 2 per octet), so 4 * name.len + 1
 * octets always suffice.  0, CG_EDER or CG_ESPACE. */
int cg_name_to_string(struct der_view name, char *out, size_t cap);

/* Reads up to max PEM "CERTIFICATE" blocks from text into malloc'ed DER
 * buffers der[i] (the caller frees them) with views[i] over them; each must
 * parse as a certificate.  *n gets the count (0 is not an error).
 * 0, CG_EDER (a block that is not a certificate; nothing is returned) or
 * CG_ENOMEM. */
int cg_x509_pem_bundle(const char *text, size_t len, uint8_t **der, struct der_view *views,
                       size_t max, size_t *n);

/* A SubjectPublicKeyInfo (whole TLV) for people: "EC P-256", "EC P-384",
 * "EC P-521", "RSA 2048", "RSA-PSS 3072", "Ed25519", "Ed448"; another
 * algorithm as "oid:" and its OID's hex.  0, CG_EDER or CG_ESPACE. */
int cg_spki_describe(struct der_view spki, char *out, size_t cap);
/* The key's identity as the store keeps it: SHA-256 of the whole
 * SubjectPublicKeyInfo DER, lowercase hex (64 characters and a NUL).  0 or
 * CG_EINVAL (no SPKI) / CG_ECRYPTO. */
int cg_spki_hash_hex(struct der_view spki, char out[65]);

/* The subjectAltName in the contents of an Extensions SEQUENCE as
 * "DNS:a.example, IP:192.0.2.1, email:a@b.example, URI:https://x,
 * DirName:CN=x" (other kinds as "other[N]"); "" when there is none.
 * Unprintable octets show as '?'.  0, CG_EDER or CG_ESPACE. */
int cg_x509_san_string(struct der_view extensions, char *out, size_t cap);

/* Hex of bytes, lowercase, NUL terminated; out needs 2*len+1.  For serials
 * and transaction IDs. */
void cg_hex(const uint8_t *p, size_t len, char *out);
/* n octets from the 2n lowercase hex digits at s, as cg_hex() writes them;
 * false for anything else (uppercase too). */
bool cg_unhex(const char *s, size_t n, uint8_t *out);
/* The value of one hex digit of either case; -1 when c is none. */
int cg_hex_digit(int c);

#endif
