/*
 * pbmac1.c - PBMAC1 protection (RFC 9481 §6.1.1, RFC 8018 §7.1): reading
 * and writing its AlgorithmIdentifier, and computing the MAC, a PBKDF2 key
 * (cg_pbkdf2) followed by HMAC over the ProtectedPart (cg_hmac).  The
 * parameters are read strictly and then held to a profile: PBKDF2 only,
 * HMAC with SHA-224 or better for both the PRF and the MAC, a specified salt
 * of 8..64 octets, an explicit keyLength of 16..64 octets and an iteration
 * count in [1000, caller's cap], so that a request can neither weaken the
 * protection nor buy unbounded CPU.  Structural errors are reported before
 * policy ones: a malformed parameter set is CG_EDER even when it also names
 * a refused algorithm.
 */
#include "cmp/pbmac1.h"

#include <string.h>

#include "cmp/msg.h"
#include "core/err.h"
#include "core/oid.h"

/* RFC 8018 §4.2: "A minimum of 1000 iterations is recommended." */
#define MIN_ITERATIONS 1000
/* RFC 8018 §4.1: the salt "should be at least eight octets (64 bits) long". */
#define MIN_SALT 8
/* The derived key is an HMAC key: longer than the hash's block it would only
 * be hashed down again, and each further hLen octets cost a whole PBKDF2
 * run of iterations.  16 octets is the least that keeps 128-bit security. */
#define MIN_KEY_LEN 16
#define MAX_KEY_LEN CMP_PBMAC1_MAX_KEY

/* What the policy checks need from a structurally valid parameter set. */
struct seen {
  bool other_source; /* salt was otherSource AlgorithmIdentifier */
  bool has_key_len;
  bool bad_params;     /* an HMAC AlgorithmIdentifier with parameters not NULL */
  bool kdf_is_pbkdf2;
  uint64_t iterations; /* UINT64_MAX when negative or beyond 64 bits */
  uint64_t key_len;
  size_t salt_len;
};

/* An INTEGER read as a count: its DER is checked; a negative value or one
 * beyond 64 bits becomes UINT64_MAX, which every range check refuses. */
static void read_count(struct der_reader *r, uint64_t *out) {
  struct der_tlv t;
  if (cg_der_expect(r, DER_INTEGER, &t) < 0)
    return;
  if (cg_der_check_integer(t.val) < 0) {
    cg_der_fail(r, CG_EDER);
    return;
  }
  if (cg_der_get_uint64(t.val, out) < 0)
    *out = UINT64_MAX;
}

/* An HMAC AlgorithmIdentifier (RFC 8018 §B.1.2):
 *   hmacWithSHA256 AlgorithmIdentifier ::= { algorithm id-hmacWithSHA256,
 *                                            parameters NULL : NULL }
 * Parameters absent (as many encoders write them) or NULL are accepted.
 * *h gets the hash, CG_HASH_NONE for an OID that is no HMAC we know. */
static void read_hmac_alg(struct der_reader *r, enum cg_hash *h, struct seen *s) {
  struct der_tlv t;
  struct der_view oid, params;
  if (cg_der_expect(r, DER_SEQUENCE, &t) < 0)
    return;
  if (cmp_read_alg_id(t.raw, &oid, &params) < 0) {
    cg_der_fail(r, CG_EDER);
    return;
  }
  *h = cg_oid_hmac(cg_oid_lookup(oid));
  if (params.len != 0 && !(params.len == 2 && params.p[0] == DER_NULL && params.p[1] == 0))
    s->bad_params = true;
}

/* PBKDF2-params, RFC 8018 §A.2:
 *   PBKDF2-params ::= SEQUENCE {
 *     salt CHOICE {
 *       specified OCTET STRING,
 *       otherSource AlgorithmIdentifier {{PBKDF2-SaltSources}} },
 *     iterationCount INTEGER (1..MAX),
 *     keyLength INTEGER (1..MAX) OPTIONAL,
 *     prf AlgorithmIdentifier {{PBKDF2-PRFs}} DEFAULT algid-hmacWithSHA1 }
 * r is positioned on the SEQUENCE. */
static void read_pbkdf2_params(struct der_reader *r, struct cmp_pbmac1_params *out,
                               struct seen *s) {
  struct der_reader seq;
  struct der_tlv t;
  if (cg_der_enter(r, DER_SEQUENCE, &seq) < 0)
    return;
  if (cg_der_peek_tag(&seq) == DER_SEQUENCE) {
    s->other_source = true;
    cg_der_next(&seq, NULL);
  } else if (cg_der_expect(&seq, DER_OCTET_STRING, &t) == 0) {
    s->salt_len = t.val.len;
    if (t.val.len <= sizeof out->salt)
      memcpy(out->salt, t.val.p, t.val.len);
  }
  read_count(&seq, &s->iterations);
  if (cg_der_peek_tag(&seq) == DER_INTEGER) {
    s->has_key_len = true;
    read_count(&seq, &s->key_len);
  }
  if (cg_der_at_end(&seq))
    out->prf = CG_HASH_SHA1; /* the DEFAULT algid-hmacWithSHA1 */
  else
    read_hmac_alg(&seq, &out->prf, s);
  cg_der_leave(r, &seq);
}

/* PBMAC1-params, RFC 8018 §A.5:
 *   PBMAC1-params ::= SEQUENCE {
 *     keyDerivationFunc AlgorithmIdentifier {{PBMAC1-KDFs}},
 *     messageAuthScheme AlgorithmIdentifier {{PBMAC1-MACs}} }
 * with keyDerivationFunc = { id-PBKDF2, PBKDF2-params } (§A.2).  params is
 * the parameters element of the outer AlgorithmIdentifier, whole TLV. */
static int read_pbmac1_params(struct der_view params, struct cmp_pbmac1_params *out,
                              struct seen *s) {
  struct der_reader top, seq, kdf;
  struct der_tlv oid;
  cg_der_reader_view(&top, params);
  if (cg_der_enter(&top, DER_SEQUENCE, &seq) < 0)
    return top.err;
  if (cg_der_enter(&seq, DER_SEQUENCE, &kdf) == 0) {
    if (cg_der_expect(&kdf, DER_OID, &oid) == 0 && cg_der_check_oid(oid.val) < 0)
      cg_der_fail(&kdf, CG_EDER);
    if (kdf.err == 0 && cg_oid_lookup(oid.val) == CG_OID_PBKDF2) {
      s->kdf_is_pbkdf2 = true;
      read_pbkdf2_params(&kdf, out, s);
    } else if (!cg_der_at_end(&kdf)) {
      cg_der_next(&kdf, NULL); /* another KDF's parameters: refused below */
    }
    cg_der_leave(&seq, &kdf);
  }
  read_hmac_alg(&seq, &out->mac, s);
  cg_der_leave(&top, &seq);
  if (top.err == 0 && !cg_der_at_end(&top))
    cg_der_fail(&top, CG_EDER);
  return top.err;
}

int cmp_pbmac1_parse(struct der_view alg, uint32_t max_iterations, struct cmp_pbmac1_params *out) {
  struct der_view oid, params;
  struct seen s = {0};
  memset(out, 0, sizeof *out);
  /* No protectionAlg at all: as cmp_pbm_parse(), a missing protection. */
  if (alg.p == NULL)
    return CG_EBAD_MAC;
  if (cmp_read_alg_id(alg, &oid, &params) < 0)
    return CG_EDER;
  if (cg_oid_lookup(oid) != CG_OID_PBMAC1)
    return CG_EBAD_ALG;
  int err = read_pbmac1_params(params, out, &s);
  if (err < 0) {
    memset(out, 0, sizeof *out);
    return err;
  }
  /* RFC 9481 §6.1.1: no SHA-1, neither as PRF nor as MAC, and the
   * keyLength given (the derived key must not depend on a default).  The
   * salt's otherSource is defined for no PBMAC1 use.  The bounds of the
   * other values are explained at their definitions above. */
  bool ok = s.kdf_is_pbkdf2 && !s.other_source && !s.bad_params;
  ok = ok && out->prf != CG_HASH_NONE && out->prf != CG_HASH_SHA1;
  ok = ok && out->mac != CG_HASH_NONE && out->mac != CG_HASH_SHA1;
  ok = ok && s.salt_len >= MIN_SALT && s.salt_len <= CMP_PBMAC1_MAX_SALT;
  ok = ok && s.has_key_len && s.key_len >= MIN_KEY_LEN && s.key_len <= MAX_KEY_LEN;
  ok = ok && s.iterations >= MIN_ITERATIONS && s.iterations <= max_iterations;
  if (!ok) {
    memset(out, 0, sizeof *out);
    return CG_EBAD_ALG;
  }
  out->salt_len = s.salt_len;
  out->iterations = (uint32_t)s.iterations;
  out->key_len = (size_t)s.key_len;
  return 0;
}

/* One HMAC AlgorithmIdentifier with NULL parameters, as RFC 8018 §B.1.2
 * defines them. */
static void write_hmac_alg(struct der_writer *w, enum cg_hash h) {
  size_t a = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, cg_hmac_oid(h));
  cg_der_put_null(w);
  cg_der_end(w, a);
}

void cmp_pbmac1_write_alg(struct der_writer *w, const struct cmp_pbmac1_params *p) {
  size_t alg = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_PBMAC1);
  size_t prm = cg_der_begin(w, DER_SEQUENCE);
  size_t kdf = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_PBKDF2);
  size_t kp = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_OCTET_STRING, p->salt, p->salt_len);
  cg_der_put_uint64(w, DER_INTEGER, p->iterations);
  cg_der_put_uint64(w, DER_INTEGER, p->key_len);
  write_hmac_alg(w, p->prf);
  cg_der_end(w, kp);
  cg_der_end(w, kdf);
  write_hmac_alg(w, p->mac);
  cg_der_end(w, prm);
  cg_der_end(w, alg);
}

int cmp_pbmac1_derive(const struct cmp_pbmac1_params *p, const uint8_t *secret,
                      size_t secret_len, uint8_t key[CMP_PBMAC1_MAX_KEY]) {
  if (p->key_len == 0 || p->key_len > MAX_KEY_LEN || p->salt_len > sizeof p->salt)
    return CG_EINVAL;
  return cg_pbkdf2(p->prf, secret, secret_len, p->salt, p->salt_len, p->iterations, key,
                   p->key_len);
}

int cmp_pbmac1_compute(const struct cmp_pbmac1_params *p, const uint8_t *secret,
                       size_t secret_len, const struct cg_iov *data, size_t n,
                       uint8_t out[CG_HASH_MAX], size_t *out_len) {
  uint8_t key[MAX_KEY_LEN];
  *out_len = 0;
  int err = cmp_pbmac1_derive(p, secret, secret_len, key);
  if (err == 0)
    err = cg_hmac(p->mac, key, p->key_len, data, n, out);
  cg_wipe(key, sizeof key);
  if (err == 0)
    *out_len = cg_hash_size(p->mac);
  return err;
}
