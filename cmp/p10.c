/*
 * p10.c - PKCS#10 certification requests (RFC 2986) for p10cr (RFC 9810
 * §5.3.4, RFC 9483 §4.1.4): a strict zero-copy decoder and the check of the
 * request's self-signature.  The decoder walks the whole request with the DER
 * reader, checks the structure of the subject Name and the
 * SubjectPublicKeyInfo, and reads the attributes cmpgw acts on: the
 * challengePassword (the challenge of the profile travels in it) and the
 * extensionRequest (the extensions the device asks for, a subjectAltName
 * above all).  Other attributes are checked as DER and otherwise ignored.
 * The signature is checked over the CertificationRequestInfo octets as
 * received, never over a re-encoding.
 */
#include "cmp/p10.h"

#include <string.h>

#include "cmp/msg.h"
#include "cmp/protect.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/oid.h"

/* Requests carry a few attributes and extensions; the caps keep the
 * duplicate checks below quadratic in a small number rather than in the
 * size of the input. */
#define MAX_ATTRIBUTES CG_LIMIT_P10_ATTRIBUTES
#define MAX_EXTENSIONS CG_LIMIT_P10_EXTENSIONS

static struct der_view span(const uint8_t *start, const uint8_t *end) {
  struct der_view v = {start, (size_t)(end - start)};
  return v;
}

/* Name ::= CHOICE { rdnSequence RDNSequence }
 * RDNSequence ::= SEQUENCE OF RelativeDistinguishedName
 * RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
 * AttributeTypeAndValue ::= SEQUENCE { type AttributeType, value AttributeValue }
 * (RFC 5280 §4.1.2.4).  Checks the structure; *raw gets the whole TLV. */
static void read_name(struct der_reader *r, struct der_view *raw) {
  const uint8_t *start = r->p;
  struct der_reader seq;
  if (cg_der_enter(r, DER_SEQUENCE, &seq) < 0)
    return;
  while (!cg_der_at_end(&seq)) {
    struct der_reader rdn;
    if (cg_der_enter(&seq, DER_SET, &rdn) < 0)
      break;
    if (cg_der_at_end(&rdn))
      cg_der_fail(&rdn, CG_EDER); /* SIZE (1..MAX) */
    while (!cg_der_at_end(&rdn)) {
      struct der_reader atv;
      struct der_tlv type;
      cg_der_enter(&rdn, DER_SEQUENCE, &atv);
      if (cg_der_expect(&atv, DER_OID, &type) == 0 && cg_der_check_oid(type.val) < 0)
        cg_der_fail(&atv, CG_EDER);
      cg_der_next(&atv, NULL);
      cg_der_leave(&rdn, &atv);
    }
    cg_der_leave(&seq, &rdn);
  }
  if (cg_der_leave(r, &seq) == 0)
    *raw = span(start, r->p);
}

/* SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
 *                                     subjectPublicKey BIT STRING }
 * (RFC 5280 §4.1.2.7).  Checks the structure; *raw gets the whole TLV.  The
 * key itself is read by the crypto layer when the signature is checked. */
static void read_spki(struct der_reader *r, struct der_view *raw) {
  const uint8_t *start = r->p;
  struct der_reader seq;
  struct der_tlv alg, key;
  struct der_view oid, params;
  if (cg_der_enter(r, DER_SEQUENCE, &seq) < 0)
    return;
  if (cg_der_expect(&seq, DER_SEQUENCE, &alg) == 0 && cmp_read_alg_id(alg.raw, &oid, &params) < 0)
    cg_der_fail(&seq, CG_EDER);
  if (cg_der_expect(&seq, DER_BIT_STRING, &key) == 0 &&
      cg_der_get_bit_string(key.val, NULL, NULL) < 0)
    cg_der_fail(&seq, CG_EDER);
  if (cg_der_leave(r, &seq) == 0)
    *raw = span(start, r->p);
}

/* challengePassword (RFC 2985 §5.4.1):
 *   challengePassword ATTRIBUTE ::= {
 *     WITH SYNTAX DirectoryString {pkcs-9-ub-challengePassword}
 *     EQUALITY MATCHING RULE caseExactMatch
 *     SINGLE VALUE TRUE
 *     ID pkcs-9-at-challengePassword }
 * DirectoryString is a CHOICE of TeletexString, PrintableString,
 * UniversalString, UTF8String and BMPString (RFC 5280 §4.1.2.4).  Accepted
 * are the ones clients write, plus IA5String, which is no DirectoryString
 * but which some clients send; UniversalString is refused.  The octets are
 * compared with the expected challenge, never interpreted here, so they are
 * handed out as they are.  values is the contents of the non-empty SET. */
static void read_challenge_password(struct der_reader *values, struct cmp_p10 *out) {
  struct der_tlv t;
  if (cg_der_next(values, &t) < 0)
    return;
  switch (t.tag) {
  case DER_UTF8_STRING:
  case DER_PRINTABLE_STRING:
  case DER_IA5_STRING:
  case DER_T61_STRING:
  case DER_BMP_STRING:
    break;
  default:
    cg_der_fail(values, CG_EBAD_DATA);
    return;
  }
  /* SINGLE VALUE TRUE; DirectoryString is SIZE (1..MAX). */
  if (!cg_der_at_end(values) || t.val.len == 0) {
    cg_der_fail(values, CG_EBAD_DATA);
    return;
  }
  out->challenge_password = t.val;
}

/* Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER,
 *                          critical BOOLEAN DEFAULT FALSE,
 *                          extnValue OCTET STRING }   (RFC 5280 §4.1)
 * Reads one; *oid gets the extnID contents. */
static void read_extension(struct der_reader *r, struct der_view *oid) {
  struct der_reader e;
  struct der_tlv id, crit, value;
  bool critical;
  if (cg_der_enter(r, DER_SEQUENCE, &e) < 0)
    return;
  if (cg_der_expect(&e, DER_OID, &id) == 0 && cg_der_check_oid(id.val) < 0)
    cg_der_fail(&e, CG_EDER);
  if (cg_der_optional(&e, DER_BOOLEAN, &crit) == 1) {
    /* X.690 §11.5: a value equal to the DEFAULT is not encoded, so a
     * present FALSE is BER, not DER. */
    if (cg_der_get_bool(crit.val, &critical) < 0 || !critical)
      cg_der_fail(&e, CG_EDER);
  }
  cg_der_expect(&e, DER_OCTET_STRING, &value);
  if (cg_der_leave(r, &e) == 0)
    *oid = id.val;
}

/* extensionRequest (RFC 2985 §5.4.2):
 *   extensionRequest ATTRIBUTE ::= {
 *     WITH SYNTAX ExtensionRequest
 *     SINGLE VALUE TRUE
 *     ID pkcs-9-at-extensionRequest }
 *   ExtensionRequest ::= Extensions
 *   Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension   (RFC 5280 §4.1)
 * An empty Extensions is accepted: older OpenSSL writes one when a request
 * asks for no extension, and it asks for nothing.  An extension named twice
 * is refused (RFC 5280 §4.2 allows one instance in a certificate; the RA
 * would have to guess which one the device meant).  values is the contents
 * of the non-empty SET. */
static void read_extension_request(struct der_reader *values, struct cmp_p10 *out) {
  struct der_view seen[MAX_EXTENSIONS];
  struct der_reader exts;
  size_t n = 0;
  if (cg_der_peek_tag(values) != DER_SEQUENCE) {
    cg_der_fail(values, CG_EBAD_DATA);
    return;
  }
  if (cg_der_enter(values, DER_SEQUENCE, &exts) < 0)
    return;
  struct der_view contents = span(exts.p, exts.end);
  while (!cg_der_at_end(&exts)) {
    struct der_view oid = {NULL, 0};
    read_extension(&exts, &oid);
    if (exts.err != 0)
      break;
    for (size_t i = 0; i < n; i++)
      if (cg_der_view_eq(seen[i], oid))
        cg_der_fail(&exts, CG_EBAD_DATA);
    if (n == MAX_EXTENSIONS)
      cg_der_fail(&exts, CG_EBAD_DATA);
    else
      seen[n++] = oid;
  }
  cg_der_leave(values, &exts);
  if (values->err == 0 && !cg_der_at_end(values))
    cg_der_fail(values, CG_EBAD_DATA); /* SINGLE VALUE TRUE */
  if (values->err == 0)
    out->extensions = contents;
}

/* RFC 2986 §4.1:
 *   attributes [0] Attributes{{ CRIAttributes }}
 *   Attributes { ATTRIBUTE:IOSet } ::= SET OF Attribute{{ IOSet }}
 *   Attribute { ATTRIBUTE:IOSet } ::= SEQUENCE {
 *     type   ATTRIBUTE.&id({IOSet}),
 *     values SET SIZE(1..MAX) OF ATTRIBUTE.&Type({IOSet}{@type}) }
 * The [0] is IMPLICIT (the module has IMPLICIT TAGS), so it replaces the SET
 * tag and is constructed: 0xa0.  It is not OPTIONAL; an empty one is the
 * usual "no attributes".  An attribute type given twice is refused: the
 * challenge or the extensions would be ambiguous. */
static void read_attributes(struct der_reader *info, struct cmp_p10 *out) {
  struct der_view seen[MAX_ATTRIBUTES];
  struct der_reader set;
  size_t n = 0;
  if (cg_der_enter(info, DER_CTX_CONS(0), &set) < 0)
    return;
  out->attributes = span(set.p, set.end);
  while (!cg_der_at_end(&set)) {
    struct der_reader attr, values;
    struct der_tlv type;
    if (cg_der_enter(&set, DER_SEQUENCE, &attr) < 0)
      break;
    if (cg_der_expect(&attr, DER_OID, &type) == 0 && cg_der_check_oid(type.val) < 0)
      cg_der_fail(&attr, CG_EDER);
    if (cg_der_enter(&attr, DER_SET, &values) == 0) {
      for (size_t i = 0; i < n; i++)
        if (cg_der_view_eq(seen[i], type.val))
          cg_der_fail(&values, CG_EBAD_DATA);
      if (n == MAX_ATTRIBUTES)
        cg_der_fail(&values, CG_EBAD_DATA);
      else
        seen[n++] = type.val;
      if (cg_der_at_end(&values))
        cg_der_fail(&values, CG_EBAD_DATA); /* SIZE(1..MAX) */
      switch (cg_oid_lookup(type.val)) {
      case CG_OID_CHALLENGE_PASSWORD:
        read_challenge_password(&values, out);
        break;
      case CG_OID_EXTENSION_REQUEST:
        read_extension_request(&values, out);
        break;
      default:
        while (!cg_der_at_end(&values))
          cg_der_next(&values, NULL);
        break;
      }
      cg_der_leave(&attr, &values);
    }
    cg_der_leave(&set, &attr);
  }
  cg_der_leave(info, &set);
}

/* RFC 2986 §4.1:
 *   CertificationRequestInfo ::= SEQUENCE {
 *     version       INTEGER { v1(0) } (v1,...),
 *     subject       Name,
 *     subjectPKInfo SubjectPublicKeyInfo{{ PKInfoAlgorithms }},
 *     attributes    [0] Attributes{{ CRIAttributes }} }
 * info is the reader over its contents. */
static void read_info(struct der_reader *info, struct cmp_p10 *out) {
  struct der_tlv version;
  if (cg_der_expect(info, DER_INTEGER, &version) == 0) {
    if (cg_der_check_integer(version.val) < 0)
      cg_der_fail(info, CG_EDER);
    else if (version.val.len != 1 || version.val.p[0] != 0)
      cg_der_fail(info, CG_EBAD_DATA); /* only v1(0) is defined */
  }
  read_name(info, &out->subject);
  read_spki(info, &out->spki);
  read_attributes(info, out);
}

/* RFC 2986 §4.2:
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo CertificationRequestInfo,
 *     signatureAlgorithm AlgorithmIdentifier{{ SignatureAlgorithms }},
 *     signature          BIT STRING }
 * The signature of every algorithm cmpgw knows is a whole number of octets,
 * so the BIT STRING must have no unused bits. */
int cmp_p10_decode(const uint8_t *p, size_t len, struct cmp_p10 *out) {
  struct der_reader top, req, info;
  struct der_tlv t;
  struct der_view oid, params;
  memset(out, 0, sizeof *out);
  cg_der_reader_init(&top, p, len);
  if (cg_der_enter(&top, DER_SEQUENCE, &req) == 0) {
    const uint8_t *info_start = req.p;
    if (cg_der_enter(&req, DER_SEQUENCE, &info) == 0) {
      out->info = span(info_start, req.p);
      read_info(&info, out);
      cg_der_leave(&req, &info);
    }
    if (cg_der_expect(&req, DER_SEQUENCE, &t) == 0) {
      out->sig_alg = t.raw;
      if (cmp_read_alg_id(t.raw, &oid, &params) < 0)
        cg_der_fail(&req, CG_EDER);
    }
    if (cg_der_expect(&req, DER_BIT_STRING, &t) == 0) {
      unsigned unused;
      if (cg_der_get_bit_string(t.val, &out->signature, &unused) < 0)
        cg_der_fail(&req, CG_EDER);
      else if (unused != 0)
        cg_der_fail(&req, CG_EBAD_DATA);
    }
    cg_der_leave(&top, &req);
  }
  if (top.err == 0 && !cg_der_at_end(&top))
    cg_der_fail(&top, CG_EDER);
  if (top.err != 0) {
    memset(out, 0, sizeof *out);
    return top.err;
  }
  out->raw.p = p;
  out->raw.len = len;
  return 0;
}

int cmp_p10_verify(const struct cmp_p10 *req) {
  struct cg_iov iov = {req->info.p, req->info.len};
  int err = cmp_verify_sig(req->sig_alg, req->spki, &iov, 1, req->signature);
  /* Running out of memory is ours, not the device's fault; every other
   * failure (wrong signature, algorithm that does not fit the key, a key
   * the crypto layer cannot read) is a failed proof of possession. */
  if (err == CG_ENOMEM)
    return err;
  return err == 0 ? 0 : CG_EBAD_POP;
}
