/*
 * crlbuild.c - X.509 v2 certificate revocation lists written with der_writer
 * and signed with core/crypto (RFC 5280 §5).  The TBSCertList is measured,
 * written into an exact-size buffer and signed; the CertificateList around
 * it is measured and written the same way, so nothing is guessed about sizes.
 *
 *   CertificateList ::= SEQUENCE { tbsCertList TBSCertList,
 *       signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
 *   TBSCertList ::= SEQUENCE {
 *       version              Version OPTIONAL,  -- if present, MUST be v2 (1)
 *       signature            AlgorithmIdentifier,
 *       issuer               Name,
 *       thisUpdate           Time,
 *       nextUpdate           Time OPTIONAL,
 *       revokedCertificates  SEQUENCE OF SEQUENCE {
 *           userCertificate     CertificateSerialNumber,
 *           revocationDate      Time,
 *           crlEntryExtensions  Extensions OPTIONAL } OPTIONAL,
 *       crlExtensions        [0] EXPLICIT Extensions OPTIONAL }
 *
 * The PKIX1Explicit88 module uses explicit tags: [0] wraps the Extensions
 * SEQUENCE.  Version is an untagged INTEGER here, unlike in TBSCertificate.
 */
#include "core/crlbuild.h"

#include <stdbool.h>
#include <stdlib.h>

#include "core/certbuild.h"
#include "core/err.h"
#include "core/oid.h"

static bool reason_ok(int reason) {
  return reason >= CRL_REASON_NONE && reason <= CRL_REASON_AA_COMPROMISE && reason != 7;
}

static int check_spec(const struct crl_spec *s) {
  if (s->issuer.p == NULL || s->issuer.len == 0 || s->issuer_key_id.p == NULL ||
      s->issuer_key_id.len == 0 || s->next_update < s->this_update ||
      (s->n_entries > 0 && s->entries == NULL))
    return CG_EINVAL;
  for (size_t i = 0; i < s->n_entries; i++) {
    const struct crl_entry *e = &s->entries[i];
    if (e->serial_len == 0 || e->serial_len > sizeof e->serial || !reason_ok(e->reason))
      return CG_EINVAL;
  }
  return 0;
}

/* Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER,
 *     critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 * Every extension written here is non-critical, so critical is left out
 * (DER leaves out a value equal to its DEFAULT).  Returns the marks of the
 * Extension and of its extnValue, closed by end_ext(). */
static void begin_ext(struct der_writer *w, enum cg_oid_id oid, size_t marks[2]) {
  marks[0] = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, oid);
  marks[1] = cg_der_begin(w, DER_OCTET_STRING);
}

static void end_ext(struct der_writer *w, const size_t marks[2]) {
  cg_der_end(w, marks[1]);
  cg_der_end(w, marks[0]);
}

/* One revokedCertificates entry.  RFC 5280 §5.3.1:
 *   id-ce-cRLReasons OBJECT IDENTIFIER ::= { id-ce 21 }
 *   CRLReason ::= ENUMERATED { unspecified (0), keyCompromise (1), ...,
 *       removeFromCRL (8), privilegeWithdrawn (9), aACompromise (10) }
 * "the reason code CRL entry extension SHOULD be absent instead of using the
 * unspecified (0) reasonCode value", so 0 is written like -1. */
static void write_entry(struct der_writer *w, const struct crl_entry *e) {
  size_t ent = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint_bytes(w, DER_INTEGER, e->serial, e->serial_len);
  cg_der_put_x509_time(w, e->revoked_at);
  if (e->reason > CRL_REASON_UNSPECIFIED) {
    size_t exts = cg_der_begin(w, DER_SEQUENCE);
    size_t ext[2];
    begin_ext(w, CG_OID_EXT_CRL_REASON, ext);
    cg_der_put_uint64(w, DER_ENUMERATED, (uint64_t)e->reason);
    end_ext(w, ext);
    cg_der_end(w, exts);
  }
  cg_der_end(w, ent);
}

/* crlExtensions.  RFC 5280 §5.2.1: AuthorityKeyIdentifier ::= SEQUENCE {
 * keyIdentifier [0] KeyIdentifier OPTIONAL, ... } (the PKIX1Implicit88 module:
 * [0] is implicit, a primitive OCTET STRING).  §5.2.3: CRLNumber ::= INTEGER
 * (0..MAX), non-critical. */
static void write_crl_extensions(struct der_writer *w, const struct crl_spec *s) {
  size_t tag = cg_der_begin(w, DER_CTX_CONS(0));
  size_t exts = cg_der_begin(w, DER_SEQUENCE);
  size_t ext[2];

  begin_ext(w, CG_OID_EXT_AKID, ext);
  size_t akid = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_CTX(0), s->issuer_key_id.p, s->issuer_key_id.len);
  cg_der_end(w, akid);
  end_ext(w, ext);

  begin_ext(w, CG_OID_EXT_CRL_NUMBER, ext);
  cg_der_put_uint64(w, DER_INTEGER, s->crl_number);
  end_ext(w, ext);

  cg_der_end(w, exts);
  cg_der_end(w, tag);
}

static void write_tbs(struct der_writer *w, const struct crl_spec *s, enum cg_sig_scheme scheme,
                      enum cg_hash hash) {
  size_t tbs = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 1); /* v2: crlExtensions are present */
  cg_cert_write_sig_alg(w, scheme, hash);
  cg_der_put_raw(w, s->issuer.p, s->issuer.len);
  cg_der_put_x509_time(w, s->this_update);
  /* RFC 5280 §5.1.2.5: conforming CRL issuers MUST include nextUpdate. */
  cg_der_put_x509_time(w, s->next_update);
  /* RFC 5280 §5.1.2.6: with no revoked certificates the list MUST be absent,
   * not an empty SEQUENCE. */
  if (s->n_entries > 0) {
    size_t list = cg_der_begin(w, DER_SEQUENCE);
    for (size_t i = 0; i < s->n_entries; i++)
      write_entry(w, &s->entries[i]);
    cg_der_end(w, list);
  }
  write_crl_extensions(w, s);
  cg_der_end(w, tbs);
}

static void write_crl(struct der_writer *w, const uint8_t *tbs, size_t tbs_len,
                      enum cg_sig_scheme scheme, enum cg_hash hash, const uint8_t *sig,
                      size_t sig_len) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_raw(w, tbs, tbs_len);
  cg_cert_write_sig_alg(w, scheme, hash);
  cg_der_put_bit_string(w, sig, sig_len);
  cg_der_end(w, m);
}

int cg_crl_build(const struct crl_spec *spec, const struct cg_key *issuer_key, uint8_t **out,
              size_t *len) {
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  uint8_t sig[1024];
  size_t sig_len = 0, tbs_len, crl_len;
  struct der_writer w;
  uint8_t *tbs = NULL, *crl = NULL;

  *out = NULL;
  *len = 0;
  int err = check_spec(spec);
  if (err)
    return err;
  cg_key_default_sig(issuer_key, &scheme, &hash);

  cg_der_writer_init(&w, NULL, 0);
  write_tbs(&w, spec, scheme, hash);
  err = cg_der_writer_finish(&w, &tbs_len);
  if (err)
    return err;
  tbs = malloc(tbs_len);
  if (tbs == NULL)
    return CG_ENOMEM;
  cg_der_writer_init(&w, tbs, tbs_len);
  write_tbs(&w, spec, scheme, hash);
  err = cg_der_writer_finish(&w, NULL);
  if (err)
    goto fail_tbs;

  struct cg_iov iov = {tbs, tbs_len};
  err = cg_sign(issuer_key, scheme, hash, &iov, 1, sig, sizeof sig, &sig_len);
  if (err)
    goto fail_tbs;

  cg_der_writer_init(&w, NULL, 0);
  write_crl(&w, tbs, tbs_len, scheme, hash, sig, sig_len);
  err = cg_der_writer_finish(&w, &crl_len);
  if (err)
    goto fail_tbs;
  crl = malloc(crl_len);
  if (crl == NULL) {
    err = CG_ENOMEM;
    goto fail_tbs;
  }
  cg_der_writer_init(&w, crl, crl_len);
  write_crl(&w, tbs, tbs_len, scheme, hash, sig, sig_len);
  err = cg_der_writer_finish(&w, NULL);
  if (err)
    goto fail_crl;

  free(tbs);
  *out = crl;
  *len = crl_len;
  return 0;

fail_crl:
  free(crl);
fail_tbs:
  free(tbs);
  return err;
}
