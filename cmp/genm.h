/*
 * genm.h - general messages (RFC 9810 §5.3.19, §5.3.20) and the support
 * messages of the Lightweight CMP Profile (RFC 9483 §4.3): get CA
 * certificates, get a root CA certificate update, get a certificate request
 * template, CRL update retrieval, and signKeyPairTypes.
 *
 * Decoding: cmp_genm_decode() reads the GenMsgContent of a received genm
 * (cmp_msg.content; cmp_msg_decode() leaves genm undecoded) into views of its
 * InfoTypeAndValue entries; the two request values that carry input
 * (id-it-rootCaCert, id-it-crlStatusList) have their own decoders.  Views
 * point into the caller's bytes, nothing is allocated.
 *
 * Writing: the genp body is [22] { SEQUENCE OF InfoTypeAndValue }: open it
 * with cmp_genp_begin(), append one InfoTypeAndValue per cmp_write_itav_*()
 * call, close it with cmp_genp_end().  Every writer appends to a struct
 * der_writer (a NULL buffer only measures) and reports through its sticky
 * error: CG_ESPACE, or CG_EINVAL for an argument the ASN.1 forbids.  Views
 * given to writers are whole TLVs copied as they are; a view whose p is NULL
 * means "absent".
 */
#ifndef CG_CMP_GENM_H
#define CG_CMP_GENM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/msg.h"
#include "core/der.h"
#include "core/limits.h"

#define CMP_GENM_MAX_ITAV CG_LIMIT_GENM_ITAV       /* InfoTypeAndValue per genm / genp */
#define CMP_GENM_MAX_CRL_STATUS CG_LIMIT_CRL_STATUS /* CRLStatus per id-it-crlStatusList */

/* GenMsgContent ::= SEQUENCE OF InfoTypeAndValue (RFC 9810 §5.3.19), and
 * GenRepContent, which has the same form (§5.3.20). */
struct cmp_genm {
  size_t n;
  struct cmp_itav itav[CMP_GENM_MAX_ITAV];
};

/* Decodes GenMsgContent (or GenRepContent): content is the SEQUENCE whole TLV,
 * as in cmp_msg.content of a genm.  An empty sequence is valid (n = 0).
 * 0, CG_EDER (malformed DER, an infoType that is not an OID, an
 * InfoTypeAndValue with more than two elements), CG_EBAD_REQUEST (more than
 * CMP_GENM_MAX_ITAV entries). */
int cmp_genm_decode(struct der_view content, struct cmp_genm *out);

/* The value of an id-it-rootCaCert InfoTypeAndValue (RFC 9483 §4.3.2): the
 * EE's current root CA certificate.  Returns 1 and *cert (the Certificate
 * whole TLV, checked with cg_x509_parse) when the value is present, 0 when it
 * is absent, CG_EDER when it is not a certificate, CG_EINVAL when itav is
 * of another type. */
int cmp_itav_root_ca_cert(const struct cmp_itav *itav, struct der_view *cert);

/* The values a client reads from a genp (RFC 9483 §4.3).  Each returns 1
 * with its output when the value is present, 0 when absent, CG_EINVAL when
 * itav is of another type, CG_EDER when malformed (a certificate or CRL that
 * is not one, more than max entries).  Views point into the itav's value. */
/* id-it-caCerts: SEQUENCE SIZE (1..MAX) OF CMPCertificate. */
int cmp_itav_ca_certs(const struct cmp_itav *itav, struct der_view *certs, size_t max,
                      size_t *n);
/* id-it-rootCaKeyUpdate: RootCaKeyUpdateContent ::= SEQUENCE { newWithNew
 * CMPCertificate, newWithOld [0] CMPCertificate OPTIONAL, oldWithNew [1]
 * CMPCertificate OPTIONAL }; out[0..2] (p NULL for an absent one). */
int cmp_itav_root_ca_key_update(const struct cmp_itav *itav, struct der_view out[3]);
/* id-it-crls: SEQUENCE SIZE (1..MAX) OF CertificateList (each a SEQUENCE:
 * its signature is for the relying party to check). */
int cmp_itav_crls(const struct cmp_itav *itav, struct der_view *crls, size_t max, size_t *n);

enum cmp_crl_source_kind { CMP_CRL_SOURCE_DPN = 0, CMP_CRL_SOURCE_ISSUER = 1 };

/* CRLStatus ::= SEQUENCE { source CRLSource, thisUpdate Time OPTIONAL }
 * CRLSource ::= CHOICE { dpn [0] DistributionPointName,
 *                        issuer [1] GeneralNames } */
struct cmp_crl_status {
  enum cmp_crl_source_kind kind;
  /* What the explicit [0] / [1] holds, whole TLV: a DistributionPointName
   * ([0] fullName GeneralNames or [1] nameRelativeToCRLIssuer) for dpn, a
   * GeneralNames SEQUENCE for issuer. */
  struct der_view source;
  bool has_this_update;
  int64_t this_update; /* the thisUpdate of the CRL the EE holds */
};

struct cmp_crl_status_list {
  size_t n;
  struct cmp_crl_status st[CMP_GENM_MAX_CRL_STATUS];
};

/* The value of an id-it-crlStatusList InfoTypeAndValue (RFC 9483 §4.3.4):
 * SEQUENCE SIZE (1..MAX) OF CRLStatus.  0, CG_EDER (malformed DER, a wrong
 * tag), CG_EBAD_DATA (value absent, an empty list, an empty GeneralNames),
 * CG_EBAD_REQUEST (more than CMP_GENM_MAX_CRL_STATUS entries), CG_EINVAL
 * (itav of another type). */
int cmp_itav_crl_status_list(const struct cmp_itav *itav, struct cmp_crl_status_list *out);

/* ------------------------------------------------------------ genm (requests) */

/* Opens a genm body, [21] { GenMsgContent }; returns the mark for
 * cmp_genm_end().  InfoTypeAndValue writers go in between. */
size_t cmp_genm_begin(struct der_writer *w);
void cmp_genm_end(struct der_writer *w, size_t mark);
/* A whole genm body of n InfoTypeAndValue given as views (oid: OID contents;
 * value: whole TLV, left out when p is NULL).  n may be 0. */
void cmp_genm_write_body(struct der_writer *w, const struct cmp_itav *itav, size_t n);

/* id-it-rootCaCert with the EE's root CA certificate (p NULL: no value). */
void cmp_write_itav_root_ca_cert(struct der_writer *w, struct der_view cert);
/* id-it-crlStatusList with n (1..) CRLStatus; source is written inside the
 * explicit tag of its kind, thisUpdate as an RFC 5280 Time. */
void cmp_write_itav_crl_status_list(struct der_writer *w, const struct cmp_crl_status *st,
                                    size_t n);

/* ------------------------------------------------------------ genp (responses) */

/* Opens a genp body, [22] { GenRepContent }; returns the mark for
 * cmp_genp_end(). */
size_t cmp_genp_begin(struct der_writer *w);
void cmp_genp_end(struct der_writer *w, size_t mark);

/* Any InfoTypeAndValue: oid is OID contents, value a whole TLV (p NULL:
 * absent). */
void cmp_write_itav(struct der_writer *w, struct der_view oid, struct der_view value);
/* infoType with the infoValue absent: the answer to an infoType the server
 * does not support or has nothing for (RFC 9483 §4.3).  oid: OID contents,
 * e.g. the received one. */
void cmp_write_itav_absent(struct der_writer *w, struct der_view oid);

/* id-it-caCerts (RFC 9483 §4.3.1): SEQUENCE SIZE (1..MAX) OF CMPCertificate;
 * n == 0 leaves the value absent. */
void cmp_write_itav_ca_certs(struct der_writer *w, const struct der_view *certs, size_t n);

/* id-it-rootCaKeyUpdate (RFC 9483 §4.3.2): RootCaKeyUpdateContent.  A NULL
 * new_with_new leaves the value absent ("no update available"); a NULL
 * new_with_old or old_with_new leaves that field out. */
void cmp_write_itav_root_ca_key_update(struct der_writer *w, struct der_view new_with_new,
                                       struct der_view new_with_old,
                                       struct der_view old_with_new);

/* One keySpec control of a certificate request template (RFC 9483 §4.3.3). */
enum cmp_key_spec_kind {
  CMP_KEY_SPEC_ALG_ID,      /* id-regCtrl-algId: the key algorithm (and curve) */
  CMP_KEY_SPEC_RSA_KEY_LEN, /* id-regCtrl-rsaKeyLen: the RSA modulus size */
};
struct cmp_key_spec {
  enum cmp_key_spec_kind kind;
  struct der_view alg_id; /* ALG_ID: AlgorithmIdentifier whole TLV */
  uint64_t rsa_key_len;   /* RSA_KEY_LEN: 1.. */
};

/* id-it-certReqTemplate (RFC 9483 §4.3.3): CertReqTemplateContent with the
 * caller-written CertTemplate (whole TLV) and n keySpec controls (none: the
 * keySpec field is left out).  A NULL template leaves the value absent ("no
 * template"). */
void cmp_write_itav_cert_req_template(struct der_writer *w, struct der_view cert_template,
                                      const struct cmp_key_spec *key_spec, size_t n);

/* id-it-signKeyPairTypes (RFC 9810 §5.3.19.2): SEQUENCE SIZE (1..MAX) OF
 * AlgorithmIdentifier (whole TLVs); n == 0 leaves the value absent. */
void cmp_write_itav_sign_key_pair_types(struct der_writer *w, const struct der_view *algs,
                                        size_t n);

/* id-it-crls (RFC 9483 §4.3.4): SEQUENCE SIZE (1..MAX) OF CertificateList
 * (whole TLVs); n == 0 leaves the value absent (no newer CRL). */
void cmp_write_itav_crls(struct der_writer *w, const struct der_view *crls, size_t n);

#endif
