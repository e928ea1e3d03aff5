/*
 * x509_verify.c - certification path validation after RFC 5280 §6.1, the
 * subset an RA needs to decide whether the certificate that signed a CMP
 * message chains to one of its trust anchors.  It holds the readers of the
 * extensions validation acts on (basicConstraints, keyUsage,
 * authorityKeyIdentifier), the reader of signature AlgorithmIdentifiers with
 * the RSASSA-PSS parameters, and the path search: a depth-first walk from the
 * end-entity certificate towards the anchors that tries the anchors first,
 * then the untrusted pool, and steps back to the next candidate when one
 * fails.  Every pool certificate is parsed once, up front, into a `node`
 * holding the facts validation needs; signature results between pool
 * certificates are cached, and fixed budgets of candidates per issuer,
 * signature checks and search steps bound the work a hostile pool can
 * cause.  Signatures are verified through core/crypto; nothing here
 * allocates.
 */
#include "core/x509_verify.h"

#include <limits.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/oid.h"
#include "core/x509.h"

/* A legitimate path of at most 1 + CG_X509_VERIFY_MAX_POOL certificates
 * needs one signature check and one search step (a call of extend()) per
 * certificate, and a few more for decoys; the budgets (x509_verify.h says
 * why these numbers) are above that and far below what would let a pool of
 * decoys named like the issuer, or of cross-signed certificates walked in
 * every order, cost noticeable CPU.  A search that would go beyond a budget
 * stops, and the path is refused with CG_PATH_BUDGET. */
#define MAX_SIG_CHECKS CG_X509_VERIFY_MAX_SIGNATURES
#define MAX_CANDIDATES CG_X509_VERIFY_MAX_CANDIDATES
#define MAX_EXTEND_CALLS CG_LIMIT_PATH_STEPS

/* ------------------------------------------------------------------------ */
/* Signature algorithms                                                      */
/* ------------------------------------------------------------------------ */

/* AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER,
 *                                    parameters ANY OPTIONAL }
 * read from r: *oid gets the OID contents, *params the parameters' whole TLV
 * (len 0 when absent). */
static int read_algid(struct der_reader *r, struct der_view *oid, struct der_view *params) {
  struct der_reader a;
  struct der_tlv t, p = {0};
  cg_der_enter(r, DER_SEQUENCE, &a);
  cg_der_expect(&a, DER_OID, &t);
  if (a.err == 0 && cg_der_check_oid(t.val) < 0)
    cg_der_fail(&a, CG_EDER);
  if (!cg_der_at_end(&a))
    cg_der_next(&a, &p);
  if (cg_der_leave(r, &a) < 0)
    return CG_EDER;
  *oid = t.val;
  *params = p.raw;
  return 0;
}

/* The parameters of a hash AlgorithmIdentifier "MUST accept both NULL and
 * absent parameters as legal and equivalent encodings" (RFC 4055 §2.1). */
static bool null_or_absent(struct der_view params) {
  static const uint8_t der_null[] = {DER_NULL, 0x00};
  return params.len == 0 || cg_der_view_is(params, der_null, sizeof der_null);
}

/* HashAlgorithm ::= AlgorithmIdentifier, one of the three PSS may use. */
static int read_pss_hash(struct der_reader *r, enum cg_hash *hash) {
  struct der_view oid, params;
  if (read_algid(r, &oid, &params) < 0)
    return cg_der_fail(r, CG_EDER);
  enum cg_hash h = cg_oid_hash(cg_oid_lookup(oid));
  if (h != CG_HASH_SHA256 && h != CG_HASH_SHA384 && h != CG_HASH_SHA512)
    return CG_EBAD_ALG;
  if (!null_or_absent(params))
    return CG_EBAD_ALG;
  *hash = h;
  return 0;
}

/* RFC 4055 §3.1 (module with EXPLICIT TAGS):
 *   RSASSA-PSS-params ::= SEQUENCE {
 *     hashAlgorithm     [0] HashAlgorithm    DEFAULT sha1Identifier,
 *     maskGenAlgorithm  [1] MaskGenAlgorithm DEFAULT mgf1SHA1Identifier,
 *     saltLength        [2] INTEGER          DEFAULT 20,
 *     trailerField      [3] INTEGER          DEFAULT trailerFieldBC }
 *   MaskGenAlgorithm ::= AlgorithmIdentifier  -- id-mgf1 with a HashAlgorithm
 * The defaults (SHA-1, salt 20) are not supported, so [0], [1] and [2] must
 * be present; [3] must be absent, its only supported value being the
 * default.  A structural error is CG_EDER; an unsupported value CG_EBAD_ALG,
 * returned only once the whole structure has been read. */
int cg_pss_params_parse(struct der_view params, enum cg_hash *hash) {
  struct der_reader top, seq, h0, m1, mgf, s2, t3;
  struct der_tlv t;
  enum cg_hash h = CG_HASH_NONE, mh = CG_HASH_NONE;
  int bad = 0, rc;
  uint64_t salt = 0;

  cg_der_reader_view(&top, params);
  cg_der_enter(&top, DER_SEQUENCE, &seq);

  if (cg_der_enter_optional(&seq, DER_CTX_CONS(0), &h0) == 1) {
    if ((rc = read_pss_hash(&h0, &h)) == CG_EBAD_ALG)
      bad = rc;
    cg_der_leave(&seq, &h0);
  } else {
    bad = CG_EBAD_ALG; /* SHA-1 */
  }

  if (cg_der_enter_optional(&seq, DER_CTX_CONS(1), &m1) == 1) {
    struct der_tlv oid;
    cg_der_enter(&m1, DER_SEQUENCE, &mgf);
    cg_der_expect(&mgf, DER_OID, &oid);
    if (mgf.err == 0 && !cg_der_view_eq(oid.val, cg_oid(CG_OID_MGF1)))
      bad = CG_EBAD_ALG;
    if (mgf.err == 0 && !bad && (rc = read_pss_hash(&mgf, &mh)) == CG_EBAD_ALG)
      bad = rc;
    else if (mgf.err == 0 && bad && !cg_der_at_end(&mgf))
      cg_der_next(&mgf, NULL); /* parameters not worth reading: refused anyway */
    cg_der_leave(&m1, &mgf);
    cg_der_leave(&seq, &m1);
  } else {
    bad = CG_EBAD_ALG; /* MGF1 with SHA-1 */
  }

  if (cg_der_enter_optional(&seq, DER_CTX_CONS(2), &s2) == 1) {
    cg_der_expect(&s2, DER_INTEGER, &t);
    if (s2.err == 0 && cg_der_check_integer(t.val) < 0)
      cg_der_fail(&s2, CG_EDER);
    if (s2.err == 0 && cg_der_get_uint64(t.val, &salt) < 0)
      bad = CG_EBAD_ALG; /* negative or huge */
    cg_der_leave(&seq, &s2);
  } else {
    salt = 20;
  }

  if (cg_der_enter_optional(&seq, DER_CTX_CONS(3), &t3) == 1) {
    uint64_t trailer = 0;
    cg_der_expect(&t3, DER_INTEGER, &t);
    if (t3.err == 0 && cg_der_get_uint64(t.val, &trailer) == 0 && trailer == 1)
      cg_der_fail(&t3, CG_EDER); /* X.690 §11.5: a DEFAULT value is not encoded */
    else
      bad = CG_EBAD_ALG;
    cg_der_leave(&seq, &t3);
  }

  cg_der_leave(&top, &seq);
  if (top.err == 0 && !cg_der_at_end(&top))
    cg_der_fail(&top, CG_EDER);
  if (top.err != 0)
    return CG_EDER;
  if (bad || mh != h || salt != cg_hash_size(h))
    return CG_EBAD_ALG;
  *hash = h;
  return 0;
}

int cg_sig_alg_parse(struct der_view alg_id, enum cg_sig_scheme *scheme, enum cg_hash *hash) {
  struct der_reader r;
  struct der_view oid, params;
  enum cg_sig_scheme s;
  enum cg_hash h;
  cg_der_reader_view(&r, alg_id);
  if (read_algid(&r, &oid, &params) < 0 || !cg_der_at_end(&r))
    return CG_EDER;
  if (cg_oid_sigalg(cg_oid_lookup(oid), &s, &h) < 0)
    return CG_EBAD_ALG;
  switch (s) {
  case CG_SIG_RSA_PSS: {
    int rc = cg_pss_params_parse(params, &h);
    if (rc < 0)
      return rc == CG_EDER && params.len == 0 ? CG_EBAD_ALG : rc;
    break;
  }
  case CG_SIG_RSA_PKCS1:
    /* RFC 4055 §5: the parameters "MUST be NULL.  Implementations MUST
     * accept the parameters being absent as well as present." */
    if (!null_or_absent(params))
      return CG_EBAD_ALG;
    break;
  default:
    /* RFC 5758 §3.2 (ECDSA) and RFC 8410 §3 (EdDSA): parameters absent. */
    if (params.len != 0)
      return CG_EBAD_ALG;
    break;
  }
  *scheme = s;
  *hash = h;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Extensions                                                                */
/* ------------------------------------------------------------------------ */

/* The facts path validation needs about one certificate. */
struct node {
  struct cg_x509 x;
  struct der_view akid; /* authorityKeyIdentifier keyIdentifier; len 0 if none */
  bool is_ca;           /* basicConstraints cA */
  bool has_path_len;
  unsigned path_len; /* pathLenConstraint, when has_path_len */
  bool has_ku;
  uint32_t ku;           /* keyUsage bits, when has_ku */
  bool unknown_critical; /* a critical extension we do not process */
  bool self_issued;      /* subject and issuer are the same name */
};

/* keyUsage extnValue: KeyUsage ::= BIT STRING, at least one bit set (RFC
 * 5280 §4.2.1.3: "When the keyUsage extension appears in a certificate, at
 * least one of the bits MUST be set to 1"). */
static int read_key_usage(struct der_view value, uint32_t *bits) {
  struct der_reader r;
  struct der_tlv t;
  uint32_t mask = 0;
  cg_der_reader_view(&r, value);
  if (cg_der_expect(&r, DER_BIT_STRING, &t) < 0 || !cg_der_at_end(&r))
    return CG_EDER;
  if (cg_der_get_named_bits(t.val, &mask) < 0 || mask == 0)
    return CG_EDER;
  *bits = mask;
  return 0;
}

/* RFC 5280 §4.2.1.9:
 *   BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE,
 *                                   pathLenConstraint INTEGER (0..MAX) OPTIONAL } */
static int read_basic_constraints(struct der_view value, struct node *n) {
  struct der_reader top, seq;
  struct der_tlv t;
  bool ca = false;
  uint64_t len = 0;
  cg_der_reader_view(&top, value);
  cg_der_enter(&top, DER_SEQUENCE, &seq);
  if (cg_der_optional(&seq, DER_BOOLEAN, &t) == 1) {
    /* X.690 §11.5: an encoded FALSE would be the DEFAULT, which DER omits. */
    if (cg_der_get_bool(t.val, &ca) < 0 || !ca)
      cg_der_fail(&seq, CG_EDER);
  }
  if (cg_der_optional(&seq, DER_INTEGER, &t) == 1) {
    if (cg_der_get_uint64(t.val, &len) < 0)
      cg_der_fail(&seq, CG_EDER);
    n->has_path_len = true;
    n->path_len = len > UINT_MAX ? UINT_MAX : (unsigned)len;
  }
  cg_der_leave(&top, &seq);
  if (top.err != 0 || !cg_der_at_end(&top))
    return CG_EDER;
  n->is_ca = ca;
  return 0;
}

/* RFC 5280 §4.2.1.1 (IMPLICIT tags):
 *   AuthorityKeyIdentifier ::= SEQUENCE {
 *     keyIdentifier             [0] KeyIdentifier           OPTIONAL,
 *     authorityCertIssuer       [1] GeneralNames            OPTIONAL,
 *     authorityCertSerialNumber [2] CertificateSerialNumber OPTIONAL } */
static int read_akid(struct der_view value, struct der_view *key_id) {
  struct der_reader top, seq;
  struct der_tlv t;
  cg_der_reader_view(&top, value);
  cg_der_enter(&top, DER_SEQUENCE, &seq);
  if (cg_der_optional(&seq, DER_CTX(0), &t) == 1)
    *key_id = t.val;
  cg_der_optional(&seq, DER_CTX_CONS(1), NULL);
  if (cg_der_optional(&seq, DER_CTX(2), &t) == 1 && cg_der_check_integer(t.val) < 0)
    cg_der_fail(&seq, CG_EDER);
  cg_der_leave(&top, &seq);
  return top.err != 0 || !cg_der_at_end(&top) ? CG_EDER : 0;
}

/* RFC 5280 §4.2: "A certificate-using system MUST reject the certificate if
 * it encounters a critical extension it does not recognize or a critical
 * extension that contains information that it cannot process." */
static bool processed(struct der_view oid) {
  static const enum cg_oid_id known[] = {CG_OID_EXT_BASIC_CONSTRAINTS, CG_OID_EXT_KEY_USAGE,
                                         CG_OID_EXT_EKU, CG_OID_EXT_SAN};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (cg_der_view_eq(oid, cg_oid(known[i])))
      return true;
  return false;
}

/* Whether the Extensions contents (checked by cg_x509_parse) hold a
 * critical extension that is not processed. */
static bool has_unknown_critical(struct der_view extensions) {
  struct der_reader r;
  cg_der_reader_view(&r, extensions);
  while (!cg_der_at_end(&r)) {
    struct der_reader e;
    struct der_tlv oid, crit;
    bool critical = false;
    cg_der_enter(&r, DER_SEQUENCE, &e);
    cg_der_expect(&e, DER_OID, &oid);
    if (cg_der_optional(&e, DER_BOOLEAN, &crit) == 1 && cg_der_get_bool(crit.val, &critical) < 0)
      cg_der_fail(&e, CG_EDER);
    cg_der_expect(&e, DER_OCTET_STRING, NULL);
    if (cg_der_leave(&r, &e) < 0)
      return true; /* cannot happen after cg_x509_parse; refuse if it does */
    if (critical && !processed(oid.val))
      return true;
  }
  return false;
}

/* Parses a certificate and the extensions validation acts on.  0 or
 * CG_EDER. */
static int load_node(struct der_view der, struct node *n) {
  struct der_view v;
  bool crit;
  int rc;
  memset(n, 0, sizeof *n);
  if (cg_x509_parse(der.p, der.len, &n->x) < 0)
    return CG_EDER;
  rc = cg_x509_find_ext(n->x.extensions, cg_oid(CG_OID_EXT_BASIC_CONSTRAINTS), &v, &crit);
  if (rc < 0 || (rc == 1 && read_basic_constraints(v, n) < 0))
    return CG_EDER;
  rc = cg_x509_find_ext(n->x.extensions, cg_oid(CG_OID_EXT_KEY_USAGE), &v, &crit);
  if (rc < 0 || (rc == 1 && read_key_usage(v, &n->ku) < 0))
    return CG_EDER;
  n->has_ku = rc == 1;
  rc = cg_x509_find_ext(n->x.extensions, cg_oid(CG_OID_EXT_AKID), &v, &crit);
  if (rc < 0 || (rc == 1 && read_akid(v, &n->akid) < 0))
    return CG_EDER;
  n->unknown_critical = has_unknown_critical(n->x.extensions);
  n->self_issued = cg_der_view_eq(n->x.subject, n->x.issuer);
  return 0;
}

int cg_x509_key_usage(struct der_view cert, uint32_t *bits, bool *present) {
  struct cg_x509 x;
  struct der_view v;
  bool crit;
  *bits = 0;
  *present = false;
  if (cg_x509_parse(cert.p, cert.len, &x) < 0)
    return CG_EDER;
  int rc = cg_x509_find_ext(x.extensions, cg_oid(CG_OID_EXT_KEY_USAGE), &v, &crit);
  if (rc <= 0)
    return rc < 0 ? CG_EDER : 0;
  if (read_key_usage(v, bits) < 0)
    return CG_EDER;
  *present = true;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Path search                                                               */
/* ------------------------------------------------------------------------ */

/* Node indices: 0 is the leaf, 1 + i is pool certificate i. */
#define MAX_NODES (1 + CG_X509_VERIFY_MAX_POOL)

struct search {
  const struct der_view *anchors;
  size_t n_anchors;
  int64_t now;
  unsigned max_depth;
  struct node nodes[MAX_NODES];
  size_t n_nodes;
  bool usable[MAX_NODES]; /* false: a copy of the leaf or of an earlier pool cert */
  bool in_path[MAX_NODES];
  size_t path[MAX_NODES]; /* path[0] = 0 (the leaf), upwards */
  size_t depth;           /* certificates in path */
  /* sig[c][i]: the signature of node c checked with the key of node i;
   * 0 not yet checked, 1 valid, -1 not. */
  signed char sig[MAX_NODES][MAX_NODES];
  unsigned sig_checks, calls;
  bool exhausted;         /* a budget ran out: the search stops */
  enum cg_path_error why; /* the reason of the candidate that came furthest */
  unsigned why_rank;
  int fatal; /* CG_ENOMEM: the search stops, nothing decided */
};

/* How far a failed candidate came: deeper beats shallower; at one depth, a
 * candidate that failed after its signature verified beats one whose
 * signature did not, which beats having no candidate at all. */
enum stage { STAGE_NO_ISSUER = 1, STAGE_SIGNATURE, STAGE_CHECKS };

static void note(struct search *s, enum cg_path_error why, enum stage stage) {
  unsigned rank = (unsigned)s->depth * 4 + (unsigned)stage;
  if (rank > s->why_rank) {
    s->why_rank = rank;
    s->why = why;
  }
}

/* RFC 5280 §6.1.3 (a)(2): "The certificate validity period includes the
 * current time"; §4.1.2.5: the period runs from notBefore through notAfter,
 * both inclusive. */
static bool within_validity(const struct cg_x509 *x, int64_t now) {
  return x->not_before <= now && now <= x->not_after;
}

/* RFC 5280 §6.1.3 (a)(4): the issuer name of the certificate is the subject
 * name of the next one up.  Names are compared byte for byte: §4.1.2.6 asks
 * a CA to encode its subject name "in the same way as it is encoded in the
 * issuer field ... in all certificates issued by the subject CA".  The key
 * identifiers, when both are present, must agree (§4.2.1.1: the
 * authorityKeyIdentifier names the issuer's key by its
 * subjectKeyIdentifier). */
static bool may_have_issued(const struct node *issuer, const struct node *child) {
  if (!cg_der_view_eq(child->x.issuer, issuer->x.subject))
    return false;
  return child->akid.len == 0 || issuer->x.skid.len == 0 ||
         cg_der_view_eq(child->akid, issuer->x.skid);
}

/* RFC 5280 §6.1.3 (a)(1): the signature of child verifies with the public
 * key of issuer, using the algorithm child names.  0, CG_EBAD_MAC (any
 * reason it does not, an unsupported algorithm or key included) or
 * CG_ENOMEM. */
static int check_signature(struct search *s, const struct node *child, const struct node *issuer) {
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  struct cg_key *key = NULL;
  s->sig_checks++;
  if (cg_sig_alg_parse(child->x.sig_alg, &scheme, &hash) < 0)
    return CG_EBAD_MAC;
  int rc = cg_key_from_spki(issuer->x.spki.p, issuer->x.spki.len, &key);
  if (rc == 0) {
    struct cg_iov tbs = {child->x.tbs.p, child->x.tbs.len};
    rc = cg_verify(key, scheme, hash, &tbs, 1, child->x.signature.p, child->x.signature.len);
    cg_key_free(key);
  }
  if (rc == CG_ENOMEM)
    return rc;
  return rc == 0 ? 0 : CG_EBAD_MAC;
}

/* RFC 5280 §6.1.4 (l), (m): the non-self-issued intermediates below the
 * certificate about to be added to the path (the leaf is not one). */
static unsigned intermediates_below(const struct search *s) {
  unsigned n = 0;
  for (size_t i = 1; i < s->depth; i++)
    if (!s->nodes[s->path[i]].self_issued)
      n++;
  return n;
}

/* RFC 5280 §4.2.1.9: pathLenConstraint "gives the maximum number of
 * non-self-issued intermediate certificates that may follow this
 * certificate in a valid certification path". */
static bool path_len_ok(const struct search *s, const struct node *ca) {
  return !ca->has_path_len || intermediates_below(s) <= ca->path_len;
}

/* Counts one more candidate for the issuer of the certificate being
 * extended; false (and the search stops) past MAX_CANDIDATES. */
static bool take_candidate(struct search *s, unsigned *tried) {
  if (++*tried > MAX_CANDIDATES) {
    s->exhausted = true;
    return false;
  }
  return true;
}

/* Whether anchor a, which may have issued top, completes the path whose
 * top is node top. */
static bool try_anchor(struct search *s, const struct node *top, const struct node *a) {
  if (s->sig_checks >= MAX_SIG_CHECKS) {
    s->exhausted = true;
    return false;
  }
  int rc = check_signature(s, top, a);
  if (rc == CG_ENOMEM) {
    s->fatal = rc;
    return false;
  }
  if (rc < 0) {
    note(s, CG_PATH_BAD_SIGNATURE, STAGE_SIGNATURE);
    return false;
  }
  /* The anchor's own extensions are not checked: it is trusted by its name
   * and key (RFC 5280 §6.1.1 (d)).  Its validity and pathLenConstraint
   * are, as RFC 5937 lets a relying party do. */
  if (!within_validity(&a->x, s->now)) {
    note(s, CG_PATH_EXPIRED, STAGE_CHECKS);
    return false;
  }
  if (!path_len_ok(s, a)) {
    note(s, CG_PATH_PATH_LEN, STAGE_CHECKS);
    return false;
  }
  return true;
}

/* RFC 5280 §6.1.4: what an intermediate must satisfy to certify the
 * certificate below it; CG_PATH_OK or the reason it does not. */
static enum cg_path_error check_intermediate(const struct search *s, const struct node *n) {
  if (!within_validity(&n->x, s->now))
    return CG_PATH_EXPIRED;
  /* §6.1.4 (o) */
  if (n->unknown_critical)
    return CG_PATH_CRITICAL_EXT;
  /* §6.1.4 (k): "verify that the certificate is a CA certificate (as
   * specified in a basicConstraints extension with the cA field set to
   * TRUE)"; a v1 or v2 certificate, lacking extensions, is not one. */
  if (!n->is_ca)
    return CG_PATH_NOT_CA;
  /* §6.1.4 (n): "If a key usage extension is present, verify that the
   * keyCertSign bit is set." */
  if (n->has_ku && !(n->ku & (1u << 5)))
    return CG_PATH_NOT_CA;
  /* The path would hold depth + 1 certificates below the anchor. */
  if (s->depth + 1 > s->max_depth)
    return CG_PATH_PATH_LEN;
  if (!path_len_ok(s, n))
    return CG_PATH_PATH_LEN;
  return CG_PATH_OK;
}

/* Extends the path (whose top certificate is path[depth - 1]) up to an
 * anchor: depth first, anchors before pool certificates, the next
 * candidate after a failure.  True when a valid path was found. */
static bool extend(struct search *s) {
  size_t top = s->path[s->depth - 1];
  const struct node *t = &s->nodes[top];
  bool candidate = false;
  unsigned tried = 0; /* candidates for the issuer of t */

  if (++s->calls > MAX_EXTEND_CALLS)
    s->exhausted = true;
  for (size_t i = 0; i < s->n_anchors; i++) {
    struct node a;
    if (s->fatal || s->exhausted)
      return false;
    if (load_node(s->anchors[i], &a) < 0 || !may_have_issued(&a, t))
      continue;
    if (!take_candidate(s, &tried))
      return false;
    if (try_anchor(s, t, &a))
      return true;
  }
  for (size_t c = 1; c < s->n_nodes; c++) {
    const struct node *n = &s->nodes[c];
    if (s->fatal || s->exhausted)
      return false;
    /* A certificate already in the path would make a loop. */
    if (!s->usable[c] || s->in_path[c] || !may_have_issued(n, t))
      continue;
    if (!take_candidate(s, &tried))
      return false;
    candidate = true;
    if (s->sig[top][c] == 0) {
      if (s->sig_checks >= MAX_SIG_CHECKS) {
        s->exhausted = true;
        return false;
      }
      int rc = check_signature(s, t, n);
      if (rc == CG_ENOMEM) {
        s->fatal = rc;
        return false;
      }
      s->sig[top][c] = rc == 0 ? 1 : -1;
    }
    if (s->sig[top][c] < 0) {
      note(s, CG_PATH_BAD_SIGNATURE, STAGE_SIGNATURE);
      continue;
    }
    enum cg_path_error why = check_intermediate(s, n);
    if (why != CG_PATH_OK) {
      note(s, why, STAGE_CHECKS);
      continue;
    }
    s->path[s->depth++] = c;
    s->in_path[c] = true;
    if (extend(s))
      return true;
    s->in_path[c] = false;
    s->depth--;
  }
  if (!candidate && !s->exhausted)
    note(s, CG_PATH_NO_ISSUER, STAGE_NO_ISSUER);
  return false;
}

/* Loads the leaf and the pool, marking copies unusable.  CG_PATH_OK or
 * CG_PATH_MALFORMED. */
static enum cg_path_error load_all(struct search *s, struct der_view leaf,
                                   const struct der_view *pool, size_t n_pool) {
  if (load_node(leaf, &s->nodes[0]) < 0)
    return CG_PATH_MALFORMED;
  s->usable[0] = false; /* the leaf never issues in its own path */
  for (size_t i = 0; i < n_pool; i++) {
    struct node *n = &s->nodes[1 + i];
    if (load_node(pool[i], n) < 0)
      return CG_PATH_MALFORMED;
    s->usable[1 + i] = true;
    for (size_t j = 0; j <= i; j++)
      if (cg_der_view_eq(n->x.raw, s->nodes[j].x.raw))
        s->usable[1 + i] = false;
  }
  s->n_nodes = 1 + n_pool;
  return CG_PATH_OK;
}

static enum cg_path_error validate(struct search *s, struct der_view leaf,
                                   const struct der_view *pool, size_t n_pool) {
  enum cg_path_error why = load_all(s, leaf, pool, n_pool);
  if (why != CG_PATH_OK)
    return why;
  /* Anchors are configuration, checked when loaded; one that does not
   * parse here is refused all the same rather than skipped. */
  for (size_t i = 0; i < s->n_anchors; i++) {
    struct node a;
    if (load_node(s->anchors[i], &a) < 0)
      return CG_PATH_MALFORMED;
  }

  const struct node *l = &s->nodes[0];
  if (!within_validity(&l->x, s->now))
    return CG_PATH_EXPIRED;
  for (size_t i = 0; i < s->n_anchors; i++)
    if (cg_der_view_eq(l->x.raw, s->anchors[i]))
      return CG_PATH_OK; /* trusted as it is, and within validity */
  /* RFC 5280 §6.1.5 (f): the end-entity certificate's critical extensions. */
  if (l->unknown_critical)
    return CG_PATH_CRITICAL_EXT;
  if (s->max_depth == 0)
    return CG_PATH_PATH_LEN;

  s->path[0] = 0;
  s->depth = 1;
  s->in_path[0] = true;
  s->why = CG_PATH_NO_ISSUER;
  s->why_rank = 0;
  if (extend(s))
    return CG_PATH_OK;
  /* A search cut short decided nothing about the candidates it left. */
  return s->exhausted ? CG_PATH_BUDGET : s->why;
}

int cg_x509_verify_path(struct der_view leaf, const struct der_view *pool, size_t n_pool,
                        const struct der_view *anchors, size_t n_anchors, int64_t now,
                        unsigned max_depth, enum cg_path_error *why) {
  struct search s;
  enum cg_path_error result;
  if (why != NULL)
    *why = CG_PATH_OK;
  if (n_pool > CG_X509_VERIFY_MAX_POOL || (n_pool > 0 && pool == NULL) ||
      (n_anchors > 0 && anchors == NULL))
    return CG_EINVAL;
  memset(&s, 0, sizeof s);
  s.anchors = anchors;
  s.n_anchors = n_anchors;
  s.now = now;
  s.max_depth = max_depth;
  result = validate(&s, leaf, pool, n_pool);
  if (s.fatal != 0)
    return s.fatal;
  if (why != NULL)
    *why = result;
  return result == CG_PATH_OK ? 0 : CG_ENOT_TRUSTED;
}
