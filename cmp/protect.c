/*
 * protect.c - PasswordBasedMac (RFC 9810 §5.1.3.1), signature verification
 * over AlgorithmIdentifiers, and the CRMF signature POP (RFC 4211 §4.1).
 */
#include "cmp/protect.h"

#include <string.h>

#include "core/err.h"
#include "core/oid.h"
#include "core/x509_verify.h"

/* An AlgorithmIdentifier for a hash: parameters absent or NULL (RFC 5754 §2). */
static int hash_alg(struct der_reader *r, enum cg_hash *h) {
  struct der_tlv t;
  struct der_view oid, params;
  if (der_expect(r, DER_SEQUENCE, &t))
    return r->err;
  if (cmp_read_alg_id(t.raw, &oid, &params))
    return der_fail(r, CG_EDER);
  *h = cg_oid_hash(cg_oid_lookup(oid));
  if (params.len != 0 && !(params.len == 2 && params.p[0] == DER_NULL))
    return der_fail(r, CG_EBAD_ALG);
  return 0;
}

static int hmac_alg(struct der_reader *r, enum cg_hash *h) {
  struct der_tlv t;
  struct der_view oid, params;
  if (der_expect(r, DER_SEQUENCE, &t))
    return r->err;
  if (cmp_read_alg_id(t.raw, &oid, &params))
    return der_fail(r, CG_EDER);
  *h = cg_oid_hmac(cg_oid_lookup(oid));
  if (params.len != 0 && !(params.len == 2 && params.p[0] == DER_NULL))
    return der_fail(r, CG_EBAD_ALG);
  return 0;
}

int cmp_pbm_parse(struct der_view alg, uint32_t max_iterations, struct cmp_pbm_params *out) {
  struct der_view oid, params;
  struct der_reader top, r;
  struct der_tlv t;
  uint64_t iter = 0;
  memset(out, 0, sizeof *out);
  if (alg.p == NULL)
    return CG_EBAD_MAC;
  if (cmp_read_alg_id(alg, &oid, &params))
    return CG_EDER;
  if (cg_oid_lookup(oid) != CG_OID_PBM)
    return CG_EBAD_ALG;
  der_reader_view(&top, params);
  if (der_enter(&top, DER_SEQUENCE, &r))
    return top.err;
  if (der_expect(&r, DER_OCTET_STRING, &t) == 0) {
    if (t.val.len == 0 || t.val.len > CMP_PBM_MAX_SALT)
      der_fail(&r, CG_EBAD_ALG);
    else
      memcpy(out->salt, t.val.p, out->salt_len = t.val.len);
  }
  hash_alg(&r, &out->owf);
  if (der_expect(&r, DER_INTEGER, &t) == 0 && der_get_uint64(t.val, &iter))
    der_fail(&r, CG_EBAD_ALG);
  hmac_alg(&r, &out->mac);
  if (der_leave(&top, &r) || !der_at_end(&top))
    return top.err ? top.err : CG_EDER;
  /* RFC 9810 §5.1.3.1: the iteration count is bounded so that a request
   * cannot buy unbounded CPU; OpenSSL refuses below 100 too. */
  if (out->owf == CG_HASH_NONE || out->mac == CG_HASH_NONE || iter < CMP_PBM_MIN_ITERATIONS ||
      iter > max_iterations)
    return CG_EBAD_ALG;
  out->iterations = (uint32_t)iter;
  return 0;
}

void cmp_pbm_write_alg(struct der_writer *w, const struct cmp_pbm_params *p) {
  size_t alg = der_begin(w, DER_SEQUENCE);
  der_put_oid(w, CG_OID_PBM);
  size_t prm = der_begin(w, DER_SEQUENCE);
  der_put_tlv(w, DER_OCTET_STRING, p->salt, p->salt_len);
  size_t owf = der_begin(w, DER_SEQUENCE);
  der_put_oid(w, cg_hash_oid(p->owf));
  der_end(w, owf);
  der_put_uint64(w, DER_INTEGER, p->iterations);
  size_t mac = der_begin(w, DER_SEQUENCE);
  der_put_oid(w, cg_hmac_oid(p->mac));
  der_end(w, mac);
  der_end(w, prm);
  der_end(w, alg);
}

int cmp_pbm_derive(const struct cmp_pbm_params *p, const uint8_t *secret, size_t secret_len,
                   uint8_t key[CG_HASH_MAX], size_t *key_len) {
  *key_len = cg_hash_size(p->owf);
  return cg_pbm_owf(p->owf, secret, secret_len, p->salt, p->salt_len, p->iterations, key);
}

int cmp_pbm_compute(const struct cmp_pbm_params *p, const uint8_t *secret, size_t secret_len,
                    const struct cg_iov *data, size_t n, uint8_t out[CG_HASH_MAX],
                    size_t *out_len) {
  uint8_t key[CG_HASH_MAX];
  size_t key_len;
  int err = cmp_pbm_derive(p, secret, secret_len, key, &key_len);
  if (err == 0)
    err = cg_hmac(p->mac, key, key_len, data, n, out);
  cg_wipe(key, sizeof key);
  *out_len = cg_hash_size(p->mac);
  return err;
}

int cmp_pbm_verify(const struct cmp_msg *msg, uint32_t max_iterations, const uint8_t *secret,
                   size_t secret_len) {
  struct cmp_pbm_params p;
  int err = cmp_pbm_parse(msg->hdr.protection_alg, max_iterations, &p);
  if (err)
    return err;
  if (!msg->has_protection)
    return CG_EBAD_MAC;
  uint8_t seq[6], mac[CG_HASH_MAX];
  struct cg_iov iov[2];
  size_t mac_len;
  cmp_msg_protected_part(msg, seq, iov);
  err = cmp_pbm_compute(&p, secret, secret_len, iov, 2, mac, &mac_len);
  if (err)
    return err;
  if (msg->protection.len != mac_len || !cg_ct_equal(mac, msg->protection.p, mac_len))
    return CG_EBAD_MAC;
  return 0;
}

int cmp_verify_sig(struct der_view alg, struct der_view spki, const struct cg_iov *data, size_t n,
                   struct der_view sig) {
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  /* One reading of signature AlgorithmIdentifiers for certificates and CMP
   * alike, parameters checked (RSASSA-PSS included, RFC 9481 §3.1). */
  if (cg_sig_alg_parse(alg, &scheme, &hash))
    return CG_EBAD_ALG;
  struct cg_key *key;
  int err = cg_key_from_spki(spki.p, spki.len, &key);
  if (err)
    return err == CG_EBAD_ALG ? err : CG_EBAD_ALG;
  err = cg_verify(key, scheme, hash, data, n, sig.p, sig.len);
  cg_key_free(key);
  return err;
}

void cmp_write_template_spki(struct der_writer *w, const struct cmp_cert_template *t) {
  der_put_tlv(w, DER_SEQUENCE, t->public_key.p, t->public_key.len);
}

int cmp_verify_pop(const struct cmp_cert_req *req, const uint8_t *spki, size_t spki_len) {
  if (req->pop != CMP_POP_SIGNATURE || req->pop_has_input)
    return CG_EBAD_POP;
  struct cg_iov iov = {req->cert_request.p, req->cert_request.len};
  struct der_view key = {spki, spki_len};
  return cmp_verify_sig(req->pop_alg, key, &iov, 1, req->pop_sig) ? CG_EBAD_POP : 0;
}
