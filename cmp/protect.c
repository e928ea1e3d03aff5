/*
 * protect.c - PasswordBasedMac (RFC 9810 §5.1.3.1), signature verification
 * over AlgorithmIdentifiers, and the CRMF signature POP (RFC 4211 §4.1).
 */
#include "cmp/protect.h"

#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/oid.h"
#include "core/x509_verify.h"

/* An AlgorithmIdentifier for a hash: parameters absent or NULL (RFC 5754 §2). */
static int hash_alg(struct der_reader *r, enum cg_hash *h) {
  struct der_tlv t;
  struct der_view oid, params;
  if (cg_der_expect(r, DER_SEQUENCE, &t))
    return r->err;
  if (cmp_read_alg_id(t.raw, &oid, &params))
    return cg_der_fail(r, CG_EDER);
  *h = cg_oid_hash(cg_oid_lookup(oid));
  if (params.len != 0 && !(params.len == 2 && params.p[0] == DER_NULL))
    return cg_der_fail(r, CG_EBAD_ALG);
  return 0;
}

static int hmac_alg(struct der_reader *r, enum cg_hash *h) {
  struct der_tlv t;
  struct der_view oid, params;
  if (cg_der_expect(r, DER_SEQUENCE, &t))
    return r->err;
  if (cmp_read_alg_id(t.raw, &oid, &params))
    return cg_der_fail(r, CG_EDER);
  *h = cg_oid_hmac(cg_oid_lookup(oid));
  if (params.len != 0 && !(params.len == 2 && params.p[0] == DER_NULL))
    return cg_der_fail(r, CG_EBAD_ALG);
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
  cg_der_reader_view(&top, params);
  if (cg_der_enter(&top, DER_SEQUENCE, &r))
    return top.err;
  if (cg_der_expect(&r, DER_OCTET_STRING, &t) == 0) {
    if (t.val.len == 0 || t.val.len > CMP_PBM_MAX_SALT)
      cg_der_fail(&r, CG_EBAD_ALG);
    else
      memcpy(out->salt, t.val.p, out->salt_len = t.val.len);
  }
  hash_alg(&r, &out->owf);
  if (cg_der_expect(&r, DER_INTEGER, &t) == 0 && cg_der_get_uint64(t.val, &iter))
    cg_der_fail(&r, CG_EBAD_ALG);
  hmac_alg(&r, &out->mac);
  if (cg_der_leave(&top, &r) || !cg_der_at_end(&top))
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
  size_t alg = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_PBM);
  size_t prm = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_OCTET_STRING, p->salt, p->salt_len);
  size_t owf = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, cg_hash_oid(p->owf));
  cg_der_end(w, owf);
  cg_der_put_uint64(w, DER_INTEGER, p->iterations);
  size_t mac = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, cg_hmac_oid(p->mac));
  cg_der_end(w, mac);
  cg_der_end(w, prm);
  cg_der_end(w, alg);
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
    return err == CG_EBAD_KEY ? err : CG_EBAD_ALG;
  err = cg_verify(key, scheme, hash, data, n, sig.p, sig.len);
  cg_key_free(key);
  return err;
}

void cmp_write_template_spki(struct der_writer *w, const struct cmp_cert_template *t) {
  cg_der_put_tlv(w, DER_SEQUENCE, t->public_key.p, t->public_key.len);
}

int cmp_verify_pop(const struct cmp_cert_req *req, const uint8_t *spki, size_t spki_len) {
  if (req->pop != CMP_POP_SIGNATURE || req->pop_has_input)
    return CG_EBAD_POP;
  struct cg_iov iov = {req->cert_request.p, req->cert_request.len};
  struct der_view key = {spki, spki_len};
  return cmp_verify_sig(req->pop_alg, key, &iov, 1, req->pop_sig) ? CG_EBAD_POP : 0;
}

/* ---- MAC protection, both ways ------------------------------------------ */

int cmp_mac_parse(struct der_view alg, uint32_t max_iterations, struct cmp_mac *m) {
  memset(m, 0, sizeof *m);
  struct der_view oid, params;
  if (alg.p == NULL)
    return CG_EBAD_MAC;
  if (cmp_read_alg_id(alg, &oid, &params))
    return CG_EDER;
  if (cg_oid_lookup(oid) == CG_OID_PBMAC1) {
    m->is_pbmac1 = true;
    return cmp_pbmac1_parse(alg, max_iterations, &m->pbmac1);
  }
  return cmp_pbm_parse(alg, max_iterations, &m->pbm);
}

int cmp_mac_init(struct cmp_mac *m, bool pbmac1, uint32_t iterations, enum cg_hash owf,
                 enum cg_hash mac) {
  memset(m, 0, sizeof *m);
  m->is_pbmac1 = pbmac1;
  if (pbmac1) {
    m->pbmac1.salt_len = 16;
    m->pbmac1.iterations = iterations;
    m->pbmac1.key_len = 32;
    m->pbmac1.prf = owf;
    m->pbmac1.mac = mac;
    return cg_random(m->pbmac1.salt, 16) ? CG_ECRYPTO : 0;
  }
  m->pbm.salt_len = 16;
  m->pbm.owf = owf;
  m->pbm.mac = mac;
  m->pbm.iterations = iterations;
  return cg_random(m->pbm.salt, 16) ? CG_ECRYPTO : 0;
}

int cmp_mac_derive(struct cmp_mac *m, const uint8_t *secret, size_t secret_len) {
  if (m->is_pbmac1) {
    m->key_len = m->pbmac1.key_len;
    return cmp_pbmac1_derive(&m->pbmac1, secret, secret_len, m->key);
  }
  return cmp_pbm_derive(&m->pbm, secret, secret_len, m->key, &m->key_len);
}

int cmp_mac_compute(const struct cmp_mac *m, const struct cg_iov *data, size_t n,
                    uint8_t out[CG_HASH_MAX], size_t *len) {
  enum cg_hash h = m->is_pbmac1 ? m->pbmac1.mac : m->pbm.mac;
  *len = cg_hash_size(h);
  return cg_hmac(h, m->key, m->key_len, data, n, out);
}

bool cmp_mac_matches(const struct cmp_mac *m, const struct cmp_msg *msg) {
  uint8_t seq[6], mac[CG_HASH_MAX];
  size_t len;
  struct cg_iov iov[2];
  cmp_msg_protected_part(msg, seq, iov);
  return msg->has_protection && cmp_mac_compute(m, iov, 2, mac, &len) == 0 &&
         msg->protection.len == len && cg_ct_equal(mac, msg->protection.p, len);
}

void cmp_mac_write_alg(struct der_writer *w, const struct cmp_mac *m) {
  if (m->is_pbmac1)
    cmp_pbmac1_write_alg(w, &m->pbmac1);
  else
    cmp_pbm_write_alg(w, &m->pbm);
}

bool cmp_mac_same_key(const struct cmp_mac *a, const struct cmp_mac *b) {
  if (a->is_pbmac1 != b->is_pbmac1)
    return false;
  if (a->is_pbmac1)
    return a->pbmac1.salt_len == b->pbmac1.salt_len &&
           !memcmp(a->pbmac1.salt, b->pbmac1.salt, a->pbmac1.salt_len) &&
           a->pbmac1.iterations == b->pbmac1.iterations &&
           a->pbmac1.key_len == b->pbmac1.key_len && a->pbmac1.prf == b->pbmac1.prf;
  return a->pbm.salt_len == b->pbm.salt_len && !memcmp(a->pbm.salt, b->pbm.salt, a->pbm.salt_len) &&
         a->pbm.iterations == b->pbm.iterations && a->pbm.owf == b->pbm.owf;
}

void cmp_mac_wipe(struct cmp_mac *m) {
  cg_wipe(m->key, sizeof m->key);
  m->key_len = 0;
}

/* ---- signature protection, both ways ------------------------------------ */

#define MAX_PATH_DEPTH CG_LIMIT_PATH_DEPTH

int cmp_path_cache_init(struct cmp_path_cache *c) {
  memset(c, 0, sizeof *c);
  return pthread_mutex_init(&c->mu, NULL) ? CG_ENOMEM : 0;
}

void cmp_path_cache_destroy(struct cmp_path_cache *c) { pthread_mutex_destroy(&c->mu); }

/* True when the signer's path verified lately (cache hit). */
static bool path_cached(struct cmp_path_cache *c, const struct der_view *anchors,
                        const uint8_t hash[32], int64_t now) {
  pthread_mutex_lock(&c->mu);
  bool hit = c->valid && c->anchors == anchors && now < c->until &&
             memcmp(c->cert_hash, hash, 32) == 0;
  pthread_mutex_unlock(&c->mu);
  return hit;
}

static void path_remember(struct cmp_path_cache *c, const struct der_view *anchors,
                          const uint8_t hash[32], int64_t now, int64_t not_after) {
  pthread_mutex_lock(&c->mu);
  memcpy(c->cert_hash, hash, 32);
  c->anchors = anchors;
  c->until = now + CMP_PATH_CACHE_SECONDS < not_after ? now + CMP_PATH_CACHE_SECONDS : not_after;
  c->valid = true;
  pthread_mutex_unlock(&c->mu);
}

int cmp_check_signed(const struct cmp_msg *msg, const struct der_view *anchors, size_t n_anchors,
                     int64_t now, struct cg_x509 *signer, enum cg_path_error *path_why,
                     const char **why) {
  return cmp_check_signed_cached(msg, anchors, n_anchors, now, NULL, signer, path_why, why);
}

int cmp_check_signed_cached(const struct cmp_msg *msg, const struct der_view *anchors,
                            size_t n_anchors, int64_t now, struct cmp_path_cache *cache,
                            struct cg_x509 *signer, enum cg_path_error *path_why,
                            const char **why) {
  const struct cmp_header *h = &msg->hdr;
  *path_why = CG_PATH_OK;
  if (msg->n_extra_certs == 0 ||
      cg_x509_parse(msg->extra_certs[0].p, msg->extra_certs[0].len, signer)) {
    *why = "signature protection without a usable signer certificate in extraCerts";
    return CG_EBAD_MAC;
  }
  /* A signer key outside the bounds of core/crypto.h is refused before its
   * path costs any work: it could never verify the message for us. */
  const char *key_why;
  if (cg_key_check_spki(signer->spki.p, signer->spki.len, &key_why) == CG_EBAD_KEY) {
    *why = key_why;
    return CG_EBAD_MAC;
  }
  uint8_t hash[32];
  struct cg_iov cert_iov = {msg->extra_certs[0].p, msg->extra_certs[0].len};
  bool known = cache != NULL && cg_hash(CG_HASH_SHA256, &cert_iov, 1, hash) == 0 &&
               now >= signer->not_before && now < signer->not_after &&
               path_cached(cache, anchors, hash, now);
  /* RFC 9483 §3.5: the signer's certificate must chain to a trust anchor;
   * the other extraCerts may serve as intermediates. */
  size_t n_pool = msg->n_extra_certs - 1;
  if (n_pool > CG_X509_VERIFY_MAX_POOL)
    n_pool = CG_X509_VERIFY_MAX_POOL;
  int err = known ? 0
                  : cg_x509_verify_path(msg->extra_certs[0], msg->extra_certs + 1, n_pool,
                                        anchors, n_anchors, now, MAX_PATH_DEPTH, path_why);
  if (err == CG_ENOMEM) {
    *why = "out of memory";
    return err;
  }
  if (err) {
    *why = *path_why == CG_PATH_BUDGET
               ? "the signer certificate is not trusted: its path needs more candidate "
                 "issuers or signature checks than a search may try"
               : "the signer certificate is not trusted";
    return CG_ENOT_TRUSTED;
  }
  uint32_t ku;
  bool has_ku;
  if (cg_x509_key_usage(msg->extra_certs[0], &ku, &has_ku) ||
      (has_ku && !(ku & 1u))) { /* digitalSignature */
    *why = "the signer certificate may not sign (keyUsage)";
    return CG_ENOT_TRUSTED;
  }
  /* RFC 9483 §3.1: senderKID, when present, is the signer's SKID, and the
   * sender is the signer's subject. */
  if (h->sender_kid.p != NULL && !cg_der_view_eq(h->sender_kid, signer->skid)) {
    *why = "senderKID does not identify the signer certificate";
    return CG_EBAD_MAC;
  }
  if (h->sender_dn.p != NULL && !cg_der_view_eq(h->sender_dn, signer->subject)) {
    *why = "sender is not the subject of the signer certificate";
    return CG_EBAD_MAC;
  }
  uint8_t seq[6];
  struct cg_iov iov[2];
  cmp_msg_protected_part(msg, seq, iov);
  err = cmp_verify_sig(h->protection_alg, signer->spki, iov, 2, msg->protection);
  if (err) {
    *why = err == CG_EBAD_ALG ? "signature algorithm not supported for this key"
                              : "message signature does not verify";
    return err == CG_EBAD_ALG ? err : CG_EBAD_MAC;
  }
  /* Remembered only once the whole message checked out. */
  if (cache != NULL && !known)
    path_remember(cache, anchors, hash, now, signer->not_after);
  return 0;
}
