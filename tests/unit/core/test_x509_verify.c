/*
 * test_x509_verify.c - certification path validation of core/x509_verify.c.
 *
 * Every certificate is made here, at a fixed "now": most with cg_cert_build()
 * of core/certbuild, the few that need what cert_spec cannot say
 * (pathLenConstraint, an unknown extension, a forged authorityKeyIdentifier,
 * an RSASSA-PSS signature) with the small TBSCertificate writer below.  Keys
 * are fresh P-256 keys, plus the RSA key of tests/vectors/keys for mixed and
 * PSS paths.  Each test builds a small PKI, hands the leaf, the pool and the
 * anchors to cg_x509_verify_path() and checks the verdict and its reason;
 * decoys in the pool (wrong key, dead-end cross-certificate, loops, a mesh
 * of certificates that all issue one another) check that the search steps
 * back, never accepts a bad candidate and always ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/certbuild.h"
#include "core/crypto.h"
#include "core/der.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"
#include "core/x509_verify.h"
#include "sigcount.h"
#include "testutil.h"

#define NOW ((int64_t)1750000000) /* 2025-06-15 */
#define DAY ((int64_t)86400)

/* ---------------------------------------------------------------- helpers */

/* One certificate holder: a key, a name, and the certificate once issued. */
struct ent {
  struct cg_key *key;
  uint8_t name[160];
  size_t name_len;
  uint8_t spki[1100];
  size_t spki_len;
  uint8_t skid[20];
  uint8_t der[3000];
  size_t len;
};

static void ent_init_key(struct ent *e, const char *cn, struct cg_key *key) {
  enum cg_oid_id type = CG_OID_AT_CN;
  memset(e, 0, sizeof *e);
  e->key = key;
  assert_int_equal(cg_cert_make_name(&type, &cn, 1, e->name, sizeof e->name, &e->name_len), 0);
  assert_int_equal(cg_key_spki(key, e->spki, sizeof e->spki, &e->spki_len), 0);
  assert_int_equal(cg_cert_key_id((struct der_view){e->spki, e->spki_len}, e->skid), 0);
}

static void ent_init(struct ent *e, const char *cn) {
  struct cg_key *key = NULL;
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  ent_init_key(e, cn, key);
}

/* A second holder under the same name with the same key (a re-issued or
 * cross-certified CA). */
static void ent_twin(struct ent *twin, const struct ent *e) {
  *twin = *e;
  twin->key = NULL; /* e owns the key */
  twin->len = 0;
}

static void ent_free(struct ent *e) {
  if (e->key != NULL)
    cg_key_free(e->key);
  e->key = NULL;
}

static struct der_view view(const struct ent *e) { return (struct der_view){e->der, e->len}; }

static struct cg_key *load_rsa(void) {
  char path[1024];
  size_t len, der_len;
  uint8_t der[4096];
  struct cg_key *k = NULL;
  snprintf(path, sizeof path, "%s/keys/rsa2048.pem", CG_TEST_VECTORS);
  uint8_t *pem = tu_read_file(path, &len);
  if (pem == NULL)
    fail_msg("cannot read %s", path);
  assert_int_equal(
      cg_pem_decode("PRIVATE KEY", (const char *)pem, len, der, sizeof der, &der_len, NULL), 0);
  assert_int_equal(cg_key_from_private_der(der, der_len, &k), 0);
  free(pem);
  return k;
}

/* What a certificate says beyond its names and key. */
struct opts {
  int64_t not_before, not_after;
  bool ca;
  int path_len;               /* -1: none (raw writer only) */
  uint32_t ku;                /* 0: no keyUsage */
  bool akid;                  /* authorityKeyIdentifier = the issuer's SKID */
  const uint8_t *forged_akid; /* 20 octets written as AKID instead (raw writer) */
  int unknown_ext;            /* 0 none, 1 non-critical, 2 critical (raw writer) */
  bool pss;                   /* RSASSA-PSS with SHA-256 (raw writer, RSA issuer) */
  uint64_t pss_salt;          /* 0: the hash length */
};

static struct opts leaf_opts(void) {
  return (struct opts){.not_before = NOW - DAY,
                       .not_after = NOW + 365 * DAY,
                       .path_len = -1,
                       .ku = CERT_KU_DIGITAL_SIGNATURE,
                       .akid = true};
}

static struct opts ca_opts(void) {
  struct opts o = leaf_opts();
  o.ca = true;
  o.ku = CERT_KU_KEY_CERT_SIGN | CERT_KU_CRL_SIGN;
  return o;
}

/* OID 1.3.6.1.4.1.55555.1, an extension nobody processes. */
static const uint8_t unknown_oid[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb2, 0x03, 0x01};

/* RSASSA-PSS-params (RFC 4055 §3.1) with the given parts; an id of
 * CG_OID_UNKNOWN leaves that part out; trailer < 0 leaves trailerField out. */
static void put_pss_params(struct der_writer *w, enum cg_oid_id hash, bool hash_null,
                           enum cg_oid_id mgf_hash, int64_t salt, int64_t trailer) {
  size_t seq = cg_der_begin(w, DER_SEQUENCE), t, a, in;
  if (hash != CG_OID_UNKNOWN) {
    t = cg_der_begin(w, DER_CTX_CONS(0));
    a = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_oid(w, hash);
    if (hash_null)
      cg_der_put_null(w);
    cg_der_end(w, a);
    cg_der_end(w, t);
  }
  if (mgf_hash != CG_OID_UNKNOWN) {
    t = cg_der_begin(w, DER_CTX_CONS(1));
    a = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_oid(w, CG_OID_MGF1);
    in = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_oid(w, mgf_hash);
    if (hash_null)
      cg_der_put_null(w);
    cg_der_end(w, in);
    cg_der_end(w, a);
    cg_der_end(w, t);
  }
  if (salt >= 0) {
    t = cg_der_begin(w, DER_CTX_CONS(2));
    cg_der_put_uint64(w, DER_INTEGER, (uint64_t)salt);
    cg_der_end(w, t);
  }
  if (trailer >= 0) {
    t = cg_der_begin(w, DER_CTX_CONS(3));
    cg_der_put_uint64(w, DER_INTEGER, (uint64_t)trailer);
    cg_der_end(w, t);
  }
  cg_der_end(w, seq);
}

static void put_sig_alg(struct der_writer *w, const struct opts *o, enum cg_sig_scheme scheme,
                        enum cg_hash hash) {
  if (!o->pss) {
    cg_cert_write_sig_alg(w, scheme, hash);
    return;
  }
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_RSASSA_PSS);
  put_pss_params(w, CG_OID_SHA256, true, CG_OID_SHA256, o->pss_salt ? (int64_t)o->pss_salt : 32,
                 -1);
  cg_der_end(w, m);
}

static void put_ext_start(struct der_writer *w, size_t *ext, size_t *val, const uint8_t *oid,
                          size_t oid_len, bool critical) {
  *ext = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_OID, oid, oid_len);
  if (critical)
    cg_der_put_bool(w, true);
  *val = cg_der_begin(w, DER_OCTET_STRING);
}

static void put_ext_end(struct der_writer *w, size_t ext, size_t val) {
  cg_der_end(w, val);
  cg_der_end(w, ext);
}

/* The TBSCertificate writer for what cert_spec cannot express (RFC 5280
 * §4.1), signed by iss (subj itself when iss is NULL). */
static void raw_issue(struct ent *subj, const struct ent *iss, const struct opts *o) {
  uint8_t tbs[3000], serial[16], sig[600];
  size_t tbs_len, sig_len, ext, val, in;
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  struct der_writer w;
  struct der_view oid;
  if (iss == NULL)
    iss = subj;
  cg_key_default_sig(iss->key, &scheme, &hash);
  if (o->pss) {
    scheme = CG_SIG_RSA_PSS;
    hash = CG_HASH_SHA256;
  }
  assert_int_equal(cg_random(serial, sizeof serial), 0);
  serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40);

  cg_der_writer_init(&w, tbs, sizeof tbs);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  size_t v = cg_der_begin(&w, DER_CTX_CONS(0));
  cg_der_put_uint64(&w, DER_INTEGER, 2);
  cg_der_end(&w, v);
  cg_der_put_uint_bytes(&w, DER_INTEGER, serial, sizeof serial);
  put_sig_alg(&w, o, scheme, hash);
  cg_der_put_raw(&w, iss->name, iss->name_len);
  v = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_x509_time(&w, o->not_before);
  cg_der_put_x509_time(&w, o->not_after);
  cg_der_end(&w, v);
  cg_der_put_raw(&w, subj->name, subj->name_len);
  cg_der_put_raw(&w, subj->spki, subj->spki_len);

  size_t x3 = cg_der_begin(&w, DER_CTX_CONS(3));
  size_t exts = cg_der_begin(&w, DER_SEQUENCE);
  if (o->ca || o->path_len >= 0) {
    oid = cg_oid(CG_OID_EXT_BASIC_CONSTRAINTS);
    put_ext_start(&w, &ext, &val, oid.p, oid.len, true);
    in = cg_der_begin(&w, DER_SEQUENCE);
    if (o->ca)
      cg_der_put_bool(&w, true);
    if (o->path_len >= 0)
      cg_der_put_uint64(&w, DER_INTEGER, (uint64_t)o->path_len);
    cg_der_end(&w, in);
    put_ext_end(&w, ext, val);
  }
  if (o->ku) {
    oid = cg_oid(CG_OID_EXT_KEY_USAGE);
    put_ext_start(&w, &ext, &val, oid.p, oid.len, true);
    cg_der_put_named_bits(&w, DER_BIT_STRING, o->ku);
    put_ext_end(&w, ext, val);
  }
  oid = cg_oid(CG_OID_EXT_SKID);
  put_ext_start(&w, &ext, &val, oid.p, oid.len, false);
  cg_der_put_tlv(&w, DER_OCTET_STRING, subj->skid, sizeof subj->skid);
  put_ext_end(&w, ext, val);
  if (o->forged_akid != NULL || (o->akid && iss != subj)) {
    oid = cg_oid(CG_OID_EXT_AKID);
    put_ext_start(&w, &ext, &val, oid.p, oid.len, false);
    in = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_tlv(&w, DER_CTX(0), o->forged_akid ? o->forged_akid : iss->skid, 20);
    cg_der_end(&w, in);
    put_ext_end(&w, ext, val);
  }
  if (o->unknown_ext) {
    put_ext_start(&w, &ext, &val, unknown_oid, sizeof unknown_oid, o->unknown_ext == 2);
    cg_der_put_null(&w);
    put_ext_end(&w, ext, val);
  }
  cg_der_end(&w, exts);
  cg_der_end(&w, x3);
  cg_der_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &tbs_len), 0);

  struct cg_iov iov = {tbs, tbs_len};
  assert_int_equal(cg_sign(iss->key, scheme, hash, &iov, 1, sig, sizeof sig, &sig_len), 0);
  cg_der_writer_init(&w, subj->der, sizeof subj->der);
  m = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_raw(&w, tbs, tbs_len);
  put_sig_alg(&w, o, scheme, hash);
  cg_der_put_bit_string(&w, sig, sig_len);
  cg_der_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &subj->len), 0);
}

/* Issues subj's certificate, signed by iss (self-signed when NULL): with
 * cg_cert_build() when it can say everything asked, else with raw_issue(). */
static void issue(struct ent *subj, const struct ent *iss, const struct opts *o) {
  if (o->path_len >= 0 || o->forged_akid != NULL || o->unknown_ext || o->pss) {
    raw_issue(subj, iss, o);
    return;
  }
  const struct ent *signer = iss != NULL ? iss : subj;
  struct cert_spec spec;
  memset(&spec, 0, sizeof spec);
  assert_int_equal(cg_cert_random_serial(&spec), 0);
  spec.issuer = (struct der_view){signer->name, signer->name_len};
  spec.subject = (struct der_view){subj->name, subj->name_len};
  spec.not_before = o->not_before;
  spec.not_after = o->not_after;
  spec.spki = (struct der_view){subj->spki, subj->spki_len};
  spec.is_ca = o->ca;
  spec.key_usage = o->ku;
  if (o->akid && iss != NULL)
    spec.issuer_skid = (struct der_view){iss->skid, sizeof iss->skid};
  assert_int_equal(cg_cert_build(&spec, signer->key, subj->der, sizeof subj->der, &subj->len), 0);
}

/* Validates with max_depth 8; returns the reason (CG_PATH_OK when valid)
 * after checking the return code agrees with it. */
static enum cg_path_error verify_depth(const struct ent *leaf, const struct ent *const *pool,
                                       size_t n_pool, const struct ent *const *anchors,
                                       size_t n_anchors, unsigned max_depth) {
  struct der_view p[CG_X509_VERIFY_MAX_POOL], a[4];
  enum cg_path_error why = CG_PATH_MALFORMED;
  assert_true(n_pool <= CG_X509_VERIFY_MAX_POOL && n_anchors <= 4);
  for (size_t i = 0; i < n_pool; i++)
    p[i] = view(pool[i]);
  for (size_t i = 0; i < n_anchors; i++)
    a[i] = view(anchors[i]);
  int rc = cg_x509_verify_path(view(leaf), p, n_pool, a, n_anchors, NOW, max_depth, &why);
  assert_int_equal(rc, why == CG_PATH_OK ? 0 : CG_ENOT_TRUSTED);
  return why;
}

static enum cg_path_error verify(const struct ent *leaf, const struct ent *const *pool,
                                 size_t n_pool, const struct ent *const *anchors,
                                 size_t n_anchors) {
  return verify_depth(leaf, pool, n_pool, anchors, n_anchors, 8);
}

/* A root, an intermediate under it and a leaf under that, the usual way. */
struct pki {
  struct ent root, inter, leaf;
};

static void pki_init(struct pki *k) {
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init(&k->root, "Test Root");
  ent_init(&k->inter, "Test Intermediate");
  ent_init(&k->leaf, "Test Device");
  issue(&k->root, NULL, &ca);
  issue(&k->inter, &k->root, &ca);
  issue(&k->leaf, &k->inter, &ee);
}

static void pki_free(struct pki *k) {
  ent_free(&k->root);
  ent_free(&k->inter);
  ent_free(&k->leaf);
}

/* ---------------------------------------------------------- valid paths */

static void leaf_issued_by_anchor_is_valid(void **state) {
  (void)state;
  struct ent root, leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init(&root, "Root");
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  issue(&leaf, &root, &ee);
  const struct ent *anchors[] = {&root};
  assert_int_equal(verify(&leaf, NULL, 0, anchors, 1), CG_PATH_OK);
  /* The why pointer is optional. */
  struct der_view a = view(&root);
  assert_int_equal(cg_x509_verify_path(view(&leaf), NULL, 0, &a, 1, NOW, 8, NULL), 0);
  ent_free(&root);
  ent_free(&leaf);
}

static void intermediate_is_found_in_the_pool(void **state) {
  (void)state;
  struct pki k;
  pki_init(&k);
  const struct ent *pool[] = {&k.inter};
  const struct ent *anchors[] = {&k.root};
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_OK);
  /* An intermediate that is itself an anchor ends the path there. */
  const struct ent *both[] = {&k.root, &k.inter};
  assert_int_equal(verify(&k.leaf, NULL, 0, both, 2), CG_PATH_OK);
  pki_free(&k);
}

static void copies_of_the_leaf_and_intermediate_in_the_pool_are_harmless(void **state) {
  (void)state;
  struct pki k;
  pki_init(&k);
  /* extraCerts usually starts with the signer's own certificate, and may
   * carry the whole chain, root included. */
  const struct ent *pool[] = {&k.leaf, &k.inter, &k.inter, &k.root};
  const struct ent *anchors[] = {&k.root};
  assert_int_equal(verify(&k.leaf, pool, 4, anchors, 1), CG_PATH_OK);
  pki_free(&k);
}

static void leaf_that_is_an_anchor_is_valid_within_its_validity(void **state) {
  (void)state;
  struct ent self, other;
  struct opts ee = leaf_opts();
  ent_init(&self, "Pinned Device");
  ent_init(&other, "Other Root");
  issue(&self, NULL, &ee);
  issue(&other, NULL, &ee);
  const struct ent *anchors[] = {&other, &self};
  assert_int_equal(verify(&self, NULL, 0, anchors, 2), CG_PATH_OK);
  /* Even with max_depth 0: no certificate lies below the anchor. */
  assert_int_equal(verify_depth(&self, NULL, 0, anchors, 2, 0), CG_PATH_OK);
  /* A self-signed leaf that is not an anchor is not trusted. */
  const struct ent *only_other[] = {&other};
  assert_int_equal(verify(&self, NULL, 0, only_other, 1), CG_PATH_NO_ISSUER);

  ee.not_after = NOW - 1;
  issue(&self, NULL, &ee);
  assert_int_equal(verify(&self, NULL, 0, anchors, 2), CG_PATH_EXPIRED);
  ent_free(&self);
  ent_free(&other);
}

static void validity_bounds_are_inclusive(void **state) {
  (void)state;
  struct ent root, leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init(&root, "Root");
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  const struct ent *anchors[] = {&root};
  /* RFC 5280 §4.1.2.5: notBefore through notAfter, both included. */
  ee.not_before = NOW;
  ee.not_after = NOW;
  issue(&leaf, &root, &ee);
  assert_int_equal(verify(&leaf, NULL, 0, anchors, 1), CG_PATH_OK);
  ent_free(&root);
  ent_free(&leaf);
}

static void intermediate_without_key_usage_may_issue(void **state) {
  (void)state;
  struct ent root, inter, leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init(&root, "Root");
  ent_init(&inter, "Intermediate");
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  ca.ku = 0; /* basicConstraints cA alone is enough (RFC 5280 §6.1.4 (n)) */
  issue(&inter, &root, &ca);
  issue(&leaf, &inter, &ee);
  const struct ent *pool[] = {&inter};
  const struct ent *anchors[] = {&root};
  assert_int_equal(verify(&leaf, pool, 1, anchors, 1), CG_PATH_OK);
  ent_free(&root);
  ent_free(&inter);
  ent_free(&leaf);
}

static void leaf_without_key_identifiers_is_matched_by_name(void **state) {
  (void)state;
  struct ent root, leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init(&root, "Root");
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  ee.akid = false;
  issue(&leaf, &root, &ee);
  const struct ent *anchors[] = {&root};
  assert_int_equal(verify(&leaf, NULL, 0, anchors, 1), CG_PATH_OK);
  ent_free(&root);
  ent_free(&leaf);
}

/* ---------------------------------------------------------- no issuer */

static void longest_chain_the_pool_can_hold_is_valid_in_any_order(void **state) {
  (void)state;
  /* Root -> 8 intermediates -> leaf, the pool given backwards and shuffled:
   * the budgets of the search leave room for the longest legitimate path. */
  enum { N = CG_X509_VERIFY_MAX_POOL };
  struct ent root, inter[N], leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  const struct ent *backwards[N], *shuffled[N];
  char cn[32];
  ent_init(&root, "Root");
  issue(&root, NULL, &ca);
  for (size_t i = 0; i < N; i++) {
    snprintf(cn, sizeof cn, "Intermediate %zu", i);
    ent_init(&inter[i], cn);
    issue(&inter[i], i == 0 ? &root : &inter[i - 1], &ca);
    backwards[i] = &inter[N - 1 - i];
    shuffled[i] = &inter[(i * 5 + 3) % N];
  }
  ent_init(&leaf, "Device");
  issue(&leaf, &inter[N - 1], &ee);
  const struct ent *anchors[] = {&root};
  assert_int_equal(verify_depth(&leaf, backwards, N, anchors, 1, N + 1), CG_PATH_OK);
  assert_int_equal(verify_depth(&leaf, shuffled, N, anchors, 1, N + 1), CG_PATH_OK);
  assert_int_equal(verify_depth(&leaf, shuffled, N, anchors, 1, N), CG_PATH_PATH_LEN);
  ent_free(&root);
  for (size_t i = 0; i < N; i++)
    ent_free(&inter[i]);
  ent_free(&leaf);
}

static void missing_intermediate_gives_no_issuer(void **state) {
  (void)state;
  struct pki k;
  pki_init(&k);
  const struct ent *anchors[] = {&k.root};
  assert_int_equal(verify(&k.leaf, NULL, 0, anchors, 1), CG_PATH_NO_ISSUER);
  /* An intermediate alone does not make a path without its anchor. */
  const struct ent *pool[] = {&k.inter};
  assert_int_equal(verify(&k.leaf, pool, 1, NULL, 0), CG_PATH_NO_ISSUER);
  pki_free(&k);
}

static void loop_in_the_pool_ends_with_no_issuer(void **state) {
  (void)state;
  struct ent root, a, b, leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init(&root, "Root");
  ent_init(&a, "Loop A");
  ent_init(&b, "Loop B");
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  issue(&a, &b, &ca); /* A issued by B */
  issue(&b, &a, &ca); /* B issued by A */
  issue(&leaf, &a, &ee);
  const struct ent *pool[] = {&a, &b};
  const struct ent *anchors[] = {&root};
  assert_int_equal(verify(&leaf, pool, 2, anchors, 1), CG_PATH_NO_ISSUER);
  ent_free(&root);
  ent_free(&a);
  ent_free(&b);
  ent_free(&leaf);
}

static void mesh_of_mutually_issuing_certificates_is_searched_within_bounds(void **state) {
  (void)state;
  /* Eight certificates of one name and one key, each issued by that key:
   * every one verifies every other, so without loop checks and budgets the
   * search would walk 8! orders.  It stops at its signature budget, and
   * says so. */
  struct ent root, mesh, copies[CG_X509_VERIFY_MAX_POOL], leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  const struct ent *pool[CG_X509_VERIFY_MAX_POOL];
  ent_init(&root, "Root");
  ent_init(&mesh, "Mesh");
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  for (size_t i = 0; i < CG_X509_VERIFY_MAX_POOL; i++) {
    ent_twin(&copies[i], &mesh);
    ca.not_after = NOW + (int64_t)(i + 1) * DAY; /* distinct certificates */
    issue(&copies[i], &mesh, &ca);
    pool[i] = &copies[i];
  }
  issue(&leaf, &mesh, &ee);
  const struct ent *anchors[] = {&root};
  sigcount_reset();
  assert_int_equal(verify_depth(&leaf, pool, CG_X509_VERIFY_MAX_POOL, anchors, 1, 16),
                   CG_PATH_BUDGET);
  assert_int_equal(sigcount_verifications(), CG_X509_VERIFY_MAX_SIGNATURES);
  ent_free(&root);
  ent_free(&mesh);
  ent_free(&leaf);
}

/* Fake CAs named like the issuer, each with a key of its own, and a leaf
 * that names the anchor as its issuer without a key identifier: every fake
 * is a candidate.  With CG_X509_VERIFY_MAX_CANDIDATES of them (the anchor
 * and seven fakes) each one is tried; one more and the search stops at the
 * limit, before the extra candidate's signature is checked. */
static void fake_issuers_beyond_the_candidate_limit_stop_the_search(void **state) {
  (void)state;
  enum { FAKES = CG_X509_VERIFY_MAX_POOL };
  struct ent root, signer, fakes[FAKES], leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  const struct ent *pool[FAKES];
  ent_init(&root, "Root");
  issue(&root, NULL, &ca);
  ent_init(&signer, "Root");
  ent_init(&leaf, "Device");
  ee.akid = false;
  issue(&leaf, &signer, &ee);
  for (size_t i = 0; i < FAKES; i++) {
    ent_init(&fakes[i], "Root");
    issue(&fakes[i], NULL, &ca);
    pool[i] = &fakes[i];
  }
  const struct ent *anchors[] = {&root};
  sigcount_reset();
  assert_int_equal(verify(&leaf, pool, CG_X509_VERIFY_MAX_CANDIDATES - 1, anchors, 1),
                   CG_PATH_BAD_SIGNATURE);
  assert_int_equal(sigcount_verifications(), CG_X509_VERIFY_MAX_CANDIDATES);
  sigcount_reset();
  assert_int_equal(verify(&leaf, pool, FAKES, anchors, 1), CG_PATH_BUDGET);
  assert_int_equal(sigcount_verifications(), CG_X509_VERIFY_MAX_CANDIDATES);
  ent_free(&root);
  ent_free(&signer);
  for (size_t i = 0; i < FAKES; i++)
    ent_free(&fakes[i]);
  ent_free(&leaf);
}

/* ---------------------------------------------------------- signatures */

static void leaf_signed_by_another_key_under_the_anchor_name_is_refused(void **state) {
  (void)state;
  struct ent root, impostor, leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init(&root, "Root");
  ent_init(&impostor, "Root"); /* same name, its own key */
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  issue(&impostor, NULL, &ca);
  const struct ent *anchors[] = {&root};

  /* Without a key identifier, and with one forged to name the real root. */
  ee.akid = false;
  issue(&leaf, &impostor, &ee);
  assert_int_equal(verify(&leaf, NULL, 0, anchors, 1), CG_PATH_BAD_SIGNATURE);
  ee.forged_akid = root.skid;
  issue(&leaf, &impostor, &ee);
  assert_int_equal(verify(&leaf, NULL, 0, anchors, 1), CG_PATH_BAD_SIGNATURE);

  /* With an honest key identifier the anchor is not even a candidate. */
  ee.forged_akid = NULL;
  ee.akid = true;
  issue(&leaf, &impostor, &ee);
  assert_int_equal(verify(&leaf, NULL, 0, anchors, 1), CG_PATH_NO_ISSUER);

  /* With the impostor's own certificate offered in the pool: it verifies the
   * leaf, but the anchor did not sign it. */
  const struct ent *pool[] = {&impostor};
  assert_int_equal(verify(&leaf, pool, 1, anchors, 1), CG_PATH_BAD_SIGNATURE);
  ent_free(&root);
  ent_free(&impostor);
  ent_free(&leaf);
}

/* A holder under the name cn whose public key is given (one outside the
 * bounds of core/crypto.h, say), with the signing key of another. */
static void ent_init_spki(struct ent *e, const char *cn, const uint8_t *spki, size_t len) {
  ent_init(e, cn);
  assert_true(len <= sizeof e->spki);
  memcpy(e->spki, spki, len);
  e->spki_len = len;
  assert_int_equal(cg_cert_key_id((struct der_view){e->spki, e->spki_len}, e->skid), 0);
}

/* Fake CAs named like the issuer whose RSA keys have a 2048-bit public
 * exponent (a verification with one costs as much as an RSA private
 * operation) are set aside without a verification: the key is refused when
 * it is read, so only the anchor's key is ever used.  An anchor with such a
 * key verifies nothing either. */
static void issuers_with_keys_outside_the_bounds_are_never_used(void **state) {
  (void)state;
  enum { FAKES = CG_X509_VERIFY_MAX_POOL - 1 };
  struct ent root, signer, fakes[FAKES], leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  const struct ent *pool[FAKES];
  ent_init(&root, "Root");
  issue(&root, NULL, &ca);
  /* The leaf names the root as its issuer but is signed by another RSA key,
   * with no key identifier to tell the candidates apart. */
  ent_init_key(&signer, "Root", load_rsa());
  ent_init(&leaf, "Device");
  ee.akid = false;
  issue(&leaf, &signer, &ee);
  for (size_t i = 0; i < FAKES; i++) {
    uint8_t spki[1100];
    size_t len = tu_rsa_spki(2048, false, 2048, spki, sizeof spki);
    ent_init_spki(&fakes[i], "Root", spki, len);
    issue(&fakes[i], &signer, &ca);
    pool[i] = &fakes[i];
  }
  const struct ent *anchors[] = {&root};
  sigcount_reset();
  assert_int_equal(verify(&leaf, pool, FAKES, anchors, 1), CG_PATH_BAD_SIGNATURE);
  assert_int_equal(sigcount_verifications(), 1);
  sigcount_reset();
  assert_int_equal(verify(&leaf, NULL, 0, pool, 1), CG_PATH_BAD_SIGNATURE);
  assert_int_equal(sigcount_verifications(), 0);
  ent_free(&root);
  ent_free(&signer);
  for (size_t i = 0; i < FAKES; i++)
    ent_free(&fakes[i]);
  ent_free(&leaf);
}

static void tampered_leaf_gives_bad_signature(void **state) {
  (void)state;
  struct pki k;
  pki_init(&k);
  const struct ent *pool[] = {&k.inter};
  const struct ent *anchors[] = {&k.root};
  k.leaf.der[k.leaf.len - 1] ^= 0x01; /* last octet of the signature */
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_BAD_SIGNATURE);
  pki_free(&k);
}

static void right_issuer_is_found_among_same_name_decoys(void **state) {
  (void)state;
  struct ent root, inter, decoy, leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init(&root, "Root");
  ent_init(&inter, "Issuing CA");
  ent_init(&decoy, "Issuing CA"); /* same name, wrong key, validly issued */
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  issue(&inter, &root, &ca);
  issue(&decoy, &root, &ca);
  ee.akid = false; /* so the decoy is not ruled out by its key identifier */
  issue(&leaf, &inter, &ee);
  const struct ent *anchors[] = {&root};
  const struct ent *decoy_first[] = {&decoy, &inter};
  assert_int_equal(verify(&leaf, decoy_first, 2, anchors, 1), CG_PATH_OK);
  const struct ent *decoy_last[] = {&inter, &decoy};
  assert_int_equal(verify(&leaf, decoy_last, 2, anchors, 1), CG_PATH_OK);
  /* The decoy alone does not do. */
  const struct ent *decoy_only[] = {&decoy};
  assert_int_equal(verify(&leaf, decoy_only, 1, anchors, 1), CG_PATH_BAD_SIGNATURE);
  ent_free(&root);
  ent_free(&inter);
  ent_free(&decoy);
  ent_free(&leaf);
}

static void search_steps_back_from_a_dead_end_cross_certificate(void **state) {
  (void)state;
  /* Two certificates for the same CA key: one issued by a CA we do not know
   * (a dead end), one by our root.  The first verifies the leaf; the search
   * must leave it for the second. */
  struct ent root, stranger, inter, cross, leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init(&root, "Root");
  ent_init(&stranger, "Stranger Root");
  ent_init(&inter, "Issuing CA");
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  issue(&stranger, NULL, &ca);
  ent_twin(&cross, &inter);
  issue(&cross, &stranger, &ca);
  issue(&inter, &root, &ca);
  issue(&leaf, &inter, &ee);
  const struct ent *pool[] = {&cross, &inter};
  const struct ent *anchors[] = {&root};
  assert_int_equal(verify(&leaf, pool, 2, anchors, 1), CG_PATH_OK);
  /* With the dead end only, the reason is the missing stranger. */
  const struct ent *cross_only[] = {&cross};
  assert_int_equal(verify(&leaf, cross_only, 1, anchors, 1), CG_PATH_NO_ISSUER);
  ent_free(&root);
  ent_free(&stranger);
  ent_free(&inter);
  ent_free(&leaf);
}

/* ---------------------------------------------------------- validity */

static void expired_or_not_yet_valid_certificates_give_expired(void **state) {
  (void)state;
  struct pki k;
  struct opts ca = ca_opts(), ee = leaf_opts();
  pki_init(&k);
  const struct ent *pool[] = {&k.inter};
  const struct ent *anchors[] = {&k.root};

  ee.not_after = NOW - 1; /* leaf expired */
  issue(&k.leaf, &k.inter, &ee);
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_EXPIRED);
  ee = leaf_opts();
  ee.not_before = NOW + 1; /* leaf not yet valid */
  issue(&k.leaf, &k.inter, &ee);
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_EXPIRED);
  ee = leaf_opts();
  issue(&k.leaf, &k.inter, &ee);
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_OK);

  ca.not_after = NOW - DAY; /* intermediate expired */
  issue(&k.inter, &k.root, &ca);
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_EXPIRED);
  ca = ca_opts();
  issue(&k.inter, &k.root, &ca);

  ca.not_after = NOW - DAY; /* anchor expired */
  issue(&k.root, NULL, &ca);
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_EXPIRED);
  ca = ca_opts();
  ca.not_before = NOW + DAY; /* anchor not yet valid */
  issue(&k.root, NULL, &ca);
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_EXPIRED);
  pki_free(&k);
}

/* ---------------------------------------------------------- CA checks */

static void intermediate_without_ca_flag_gives_not_ca(void **state) {
  (void)state;
  struct pki k;
  struct opts o = ca_opts();
  pki_init(&k);
  o.ca = false; /* keyCertSign without basicConstraints cA */
  issue(&k.inter, &k.root, &o);
  const struct ent *pool[] = {&k.inter};
  const struct ent *anchors[] = {&k.root};
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_NOT_CA);
  pki_free(&k);
}

static void intermediate_without_key_cert_sign_gives_not_ca(void **state) {
  (void)state;
  struct pki k;
  struct opts o = ca_opts();
  pki_init(&k);
  o.ku = CERT_KU_DIGITAL_SIGNATURE | CERT_KU_CRL_SIGN;
  issue(&k.inter, &k.root, &o);
  const struct ent *pool[] = {&k.inter};
  const struct ent *anchors[] = {&k.root};
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_NOT_CA);
  pki_free(&k);
}

static void anchor_needs_no_ca_flag(void **state) {
  (void)state;
  /* A trust anchor is trusted by its name and key alone. */
  struct ent root, leaf;
  struct opts o = leaf_opts();
  ent_init(&root, "Plain Anchor");
  ent_init(&leaf, "Device");
  issue(&root, NULL, &o);
  issue(&leaf, &root, &o);
  const struct ent *anchors[] = {&root};
  assert_int_equal(verify(&leaf, NULL, 0, anchors, 1), CG_PATH_OK);
  ent_free(&root);
  ent_free(&leaf);
}

/* ---------------------------------------------------------- path length */

static void path_len_zero_refuses_an_intermediate_below(void **state) {
  (void)state;
  struct ent root, i1, i2, leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init(&root, "Root");
  ent_init(&i1, "Intermediate 1");
  ent_init(&i2, "Intermediate 2");
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  struct opts zero = ca_opts();
  zero.path_len = 0;
  issue(&i1, &root, &zero);
  issue(&i2, &i1, &ca);
  issue(&leaf, &i2, &ee);
  const struct ent *pool[] = {&i1, &i2};
  const struct ent *anchors[] = {&root};
  assert_int_equal(verify(&leaf, pool, 2, anchors, 1), CG_PATH_PATH_LEN);

  /* pathLenConstraint 1 allows it; 0 allows a leaf right below. */
  struct opts one = ca_opts();
  one.path_len = 1;
  issue(&i1, &root, &one);
  assert_int_equal(verify(&leaf, pool, 2, anchors, 1), CG_PATH_OK);
  issue(&i1, &root, &zero);
  issue(&leaf, &i1, &ee);
  assert_int_equal(verify(&leaf, pool, 2, anchors, 1), CG_PATH_OK);
  ent_free(&root);
  ent_free(&i1);
  ent_free(&i2);
  ent_free(&leaf);
}

static void self_issued_intermediate_is_not_counted_by_path_len(void **state) {
  (void)state;
  /* RFC 5280 §4.2.1.9 counts non-self-issued intermediates only: a CA that
   * rolled over its key (new key, same name, certified by the old one)
   * stays within pathLenConstraint 0. */
  struct ent root, old_ca, new_ca, leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init(&root, "Root");
  ent_init(&old_ca, "Issuing CA");
  ent_init(&new_ca, "Issuing CA");
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  struct opts zero = ca_opts();
  zero.path_len = 0;
  issue(&old_ca, &root, &zero);
  issue(&new_ca, &old_ca, &ca);
  issue(&leaf, &new_ca, &ee);
  const struct ent *pool[] = {&old_ca, &new_ca};
  const struct ent *anchors[] = {&root};
  assert_int_equal(verify(&leaf, pool, 2, anchors, 1), CG_PATH_OK);
  ent_free(&root);
  ent_free(&old_ca);
  ent_free(&new_ca);
  ent_free(&leaf);
}

static void anchor_path_len_is_obeyed(void **state) {
  (void)state;
  struct pki k;
  struct opts zero = ca_opts();
  pki_init(&k);
  zero.path_len = 0;
  issue(&k.root, NULL, &zero);
  const struct ent *pool[] = {&k.inter};
  const struct ent *anchors[] = {&k.root};
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_PATH_LEN);
  pki_free(&k);
}

static void path_longer_than_max_depth_gives_path_len(void **state) {
  (void)state;
  struct pki k;
  pki_init(&k);
  const struct ent *pool[] = {&k.inter};
  const struct ent *anchors[] = {&k.root};
  /* Two certificates below the anchor: the leaf and the intermediate. */
  assert_int_equal(verify_depth(&k.leaf, pool, 1, anchors, 1, 2), CG_PATH_OK);
  assert_int_equal(verify_depth(&k.leaf, pool, 1, anchors, 1, 1), CG_PATH_PATH_LEN);
  assert_int_equal(verify_depth(&k.leaf, pool, 1, anchors, 1, 0), CG_PATH_PATH_LEN);
  pki_free(&k);
}

/* ---------------------------------------------------------- extensions */

static void unknown_critical_extension_is_refused(void **state) {
  (void)state;
  struct pki k;
  struct opts ee = leaf_opts(), ca = ca_opts();
  pki_init(&k);
  const struct ent *pool[] = {&k.inter};
  const struct ent *anchors[] = {&k.root};

  ee.unknown_ext = 2;
  issue(&k.leaf, &k.inter, &ee);
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_CRITICAL_EXT);
  ee.unknown_ext = 1; /* non-critical: may be ignored (RFC 5280 §4.2) */
  issue(&k.leaf, &k.inter, &ee);
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_OK);

  ca.unknown_ext = 2; /* in the intermediate */
  issue(&k.inter, &k.root, &ca);
  assert_int_equal(verify(&k.leaf, pool, 1, anchors, 1), CG_PATH_CRITICAL_EXT);
  pki_free(&k);
}

static void malformed_certificates_give_malformed(void **state) {
  (void)state;
  struct pki k;
  pki_init(&k);
  uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
  struct der_view pool[] = {view(&k.inter)}, anchors[] = {view(&k.root)};
  struct der_view bad = {junk, sizeof junk};
  struct der_view short_leaf = {k.leaf.der, k.leaf.len - 1};
  enum cg_path_error why = CG_PATH_OK;

  assert_int_equal(cg_x509_verify_path(short_leaf, pool, 1, anchors, 1, NOW, 8, &why),
                   CG_ENOT_TRUSTED);
  assert_int_equal(why, CG_PATH_MALFORMED);
  assert_int_equal(cg_x509_verify_path(view(&k.leaf), &bad, 1, anchors, 1, NOW, 8, &why),
                   CG_ENOT_TRUSTED);
  assert_int_equal(why, CG_PATH_MALFORMED);
  assert_int_equal(cg_x509_verify_path(view(&k.leaf), pool, 1, &bad, 1, NOW, 8, &why),
                   CG_ENOT_TRUSTED);
  assert_int_equal(why, CG_PATH_MALFORMED);
  assert_int_equal(
      cg_x509_verify_path((struct der_view){NULL, 0}, pool, 1, anchors, 1, NOW, 8, &why),
      CG_ENOT_TRUSTED);
  assert_int_equal(why, CG_PATH_MALFORMED);
  pki_free(&k);
}

static void too_large_a_pool_is_an_invalid_argument(void **state) {
  (void)state;
  struct pki k;
  pki_init(&k);
  struct der_view pool[CG_X509_VERIFY_MAX_POOL + 1], anchors[] = {view(&k.root)};
  for (size_t i = 0; i <= CG_X509_VERIFY_MAX_POOL; i++)
    pool[i] = view(&k.inter);
  enum cg_path_error why = CG_PATH_NO_ISSUER;
  assert_int_equal(cg_x509_verify_path(view(&k.leaf), pool, CG_X509_VERIFY_MAX_POOL + 1, anchors, 1,
                                       NOW, 8, &why),
                   CG_EINVAL);
  assert_int_equal(why, CG_PATH_OK);
  assert_int_equal(
      cg_x509_verify_path(view(&k.leaf), pool, CG_X509_VERIFY_MAX_POOL, anchors, 1, NOW, 8, &why),
      0);
  pki_free(&k);
}

/* ---------------------------------------------------------- RSA and PSS */

static void rsa_and_ec_certificates_mix_in_one_path(void **state) {
  (void)state;
  struct ent rsa_root, ec_inter, leaf, ec_root, rsa_leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init_key(&rsa_root, "RSA Root", load_rsa());
  ent_init(&ec_inter, "EC Intermediate");
  ent_init(&leaf, "Device");
  issue(&rsa_root, NULL, &ca);      /* sha256WithRSAEncryption */
  issue(&ec_inter, &rsa_root, &ca); /* RSA signs an EC key */
  issue(&leaf, &ec_inter, &ee);     /* ecdsa-with-SHA256 */
  const struct ent *pool[] = {&ec_inter};
  const struct ent *anchors[] = {&rsa_root};
  assert_int_equal(verify(&leaf, pool, 1, anchors, 1), CG_PATH_OK);

  /* And an EC root over an RSA end entity. */
  ent_init(&ec_root, "EC Root");
  ent_init_key(&rsa_leaf, "RSA Device", load_rsa());
  issue(&ec_root, NULL, &ca);
  issue(&rsa_leaf, &ec_root, &ee);
  const struct ent *ec_anchor[] = {&ec_root};
  assert_int_equal(verify(&rsa_leaf, NULL, 0, ec_anchor, 1), CG_PATH_OK);
  ent_free(&rsa_root);
  ent_free(&ec_inter);
  ent_free(&leaf);
  ent_free(&ec_root);
  ent_free(&rsa_leaf);
}

static void rsa_pss_signed_intermediate_is_verified(void **state) {
  (void)state;
  struct ent root, inter, leaf;
  struct opts ca = ca_opts(), ee = leaf_opts();
  ent_init_key(&root, "RSA Root", load_rsa());
  ent_init(&inter, "EC Intermediate");
  ent_init(&leaf, "Device");
  issue(&root, NULL, &ca);
  ca.pss = true;
  issue(&inter, &root, &ca);
  issue(&leaf, &inter, &ee);
  const struct ent *pool[] = {&inter};
  const struct ent *anchors[] = {&root};
  assert_int_equal(verify(&leaf, pool, 1, anchors, 1), CG_PATH_OK);

  /* Parameters we do not support: the signature is not even tried. */
  ca.pss_salt = 20;
  issue(&inter, &root, &ca);
  assert_int_equal(verify(&leaf, pool, 1, anchors, 1), CG_PATH_BAD_SIGNATURE);
  ent_free(&root);
  ent_free(&inter);
  ent_free(&leaf);
}

/* Writes RSASSA-PSS-params and parses them back. */
static int parse_pss(enum cg_oid_id hash, bool hash_null, enum cg_oid_id mgf_hash, int64_t salt,
                     int64_t trailer, enum cg_hash *out) {
  uint8_t buf[128];
  size_t len;
  struct der_writer w;
  cg_der_writer_init(&w, buf, sizeof buf);
  put_pss_params(&w, hash, hash_null, mgf_hash, salt, trailer);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return cg_pss_params_parse((struct der_view){buf, len}, out);
}

static void pss_params_accept_only_matching_hash_mgf_and_salt(void **state) {
  (void)state;
  enum cg_hash h = CG_HASH_NONE;
  assert_int_equal(parse_pss(CG_OID_SHA256, true, CG_OID_SHA256, 32, -1, &h), 0);
  assert_int_equal(h, CG_HASH_SHA256);
  assert_int_equal(parse_pss(CG_OID_SHA384, false, CG_OID_SHA384, 48, -1, &h), 0);
  assert_int_equal(h, CG_HASH_SHA384);
  assert_int_equal(parse_pss(CG_OID_SHA512, true, CG_OID_SHA512, 64, -1, &h), 0);
  assert_int_equal(h, CG_HASH_SHA512);

  h = CG_HASH_NONE;
  /* MGF1 over another hash, another salt length, SHA-1 or its default. */
  assert_int_equal(parse_pss(CG_OID_SHA256, true, CG_OID_SHA384, 32, -1, &h), CG_EBAD_ALG);
  assert_int_equal(parse_pss(CG_OID_SHA256, true, CG_OID_SHA256, 20, -1, &h), CG_EBAD_ALG);
  assert_int_equal(parse_pss(CG_OID_SHA256, true, CG_OID_SHA256, -1, -1, &h), CG_EBAD_ALG);
  assert_int_equal(parse_pss(CG_OID_SHA1, true, CG_OID_SHA1, 20, -1, &h), CG_EBAD_ALG);
  assert_int_equal(parse_pss(CG_OID_UNKNOWN, true, CG_OID_UNKNOWN, -1, -1, &h), CG_EBAD_ALG);
  assert_int_equal(parse_pss(CG_OID_SHA256, true, CG_OID_UNKNOWN, 32, -1, &h), CG_EBAD_ALG);
  /* trailerField: its default is not encoded in DER; no other is known. */
  assert_int_equal(parse_pss(CG_OID_SHA256, true, CG_OID_SHA256, 32, 1, &h), CG_EDER);
  assert_int_equal(parse_pss(CG_OID_SHA256, true, CG_OID_SHA256, 32, 2, &h), CG_EBAD_ALG);
  assert_int_equal(h, CG_HASH_NONE);

  /* Not DER of RSASSA-PSS-params at all. */
  static const uint8_t trailing[] = {0x30, 0x00, 0x00};
  static const uint8_t not_seq[] = {0x05, 0x00};
  assert_int_equal(cg_pss_params_parse((struct der_view){trailing, sizeof trailing}, &h), CG_EDER);
  assert_int_equal(cg_pss_params_parse((struct der_view){not_seq, sizeof not_seq}, &h), CG_EDER);
  assert_int_equal(cg_pss_params_parse((struct der_view){NULL, 0}, &h), CG_EDER);
}

static int parse_alg(enum cg_oid_id oid, const uint8_t *params, size_t params_len,
                     enum cg_sig_scheme *scheme, enum cg_hash *hash) {
  uint8_t buf[128];
  size_t len;
  struct der_writer w;
  cg_der_writer_init(&w, buf, sizeof buf);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, oid);
  if (params_len > 0)
    cg_der_put_raw(&w, params, params_len);
  cg_der_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return cg_sig_alg_parse((struct der_view){buf, len}, scheme, hash);
}

static void signature_algorithm_parameters_are_checked(void **state) {
  (void)state;
  static const uint8_t null[] = {0x05, 0x00};
  enum cg_sig_scheme s;
  enum cg_hash h;
  assert_int_equal(parse_alg(CG_OID_ECDSA_SHA384, NULL, 0, &s, &h), 0);
  assert_int_equal(s, CG_SIG_ECDSA);
  assert_int_equal(h, CG_HASH_SHA384);
  assert_int_equal(parse_alg(CG_OID_ECDSA_SHA256, null, 2, &s, &h), CG_EBAD_ALG);
  assert_int_equal(parse_alg(CG_OID_RSA_SHA256, null, 2, &s, &h), 0);
  assert_int_equal(s, CG_SIG_RSA_PKCS1);
  assert_int_equal(h, CG_HASH_SHA256);
  assert_int_equal(parse_alg(CG_OID_RSA_SHA512, NULL, 0, &s, &h), 0);
  assert_int_equal(h, CG_HASH_SHA512);
  assert_int_equal(parse_alg(CG_OID_ED25519, NULL, 0, &s, &h), 0);
  assert_int_equal(s, CG_SIG_EDDSA);
  assert_int_equal(h, CG_HASH_NONE);
  assert_int_equal(parse_alg(CG_OID_ED25519, null, 2, &s, &h), CG_EBAD_ALG);
  /* PSS needs its parameters; a hash OID is no signature algorithm. */
  assert_int_equal(parse_alg(CG_OID_RSASSA_PSS, NULL, 0, &s, &h), CG_EBAD_ALG);
  assert_int_equal(parse_alg(CG_OID_SHA256, NULL, 0, &s, &h), CG_EBAD_ALG);

  uint8_t pss[128];
  size_t pss_len;
  struct der_writer w;
  cg_der_writer_init(&w, pss, sizeof pss);
  put_pss_params(&w, CG_OID_SHA512, false, CG_OID_SHA512, 64, -1);
  assert_int_equal(cg_der_writer_finish(&w, &pss_len), 0);
  assert_int_equal(parse_alg(CG_OID_RSASSA_PSS, pss, pss_len, &s, &h), 0);
  assert_int_equal(s, CG_SIG_RSA_PSS);
  assert_int_equal(h, CG_HASH_SHA512);

  static const uint8_t junk[] = {0x30, 0x02, 0x05, 0x00};
  assert_int_equal(cg_sig_alg_parse((struct der_view){junk, sizeof junk}, &s, &h), CG_EDER);
}

/* ---------------------------------------------------------- keyUsage */

static void key_usage_bits_are_read(void **state) {
  (void)state;
  struct pki k;
  struct opts none = leaf_opts();
  uint32_t bits = 99;
  bool present = false;
  pki_init(&k);
  assert_int_equal(cg_x509_key_usage(view(&k.leaf), &bits, &present), 0);
  assert_true(present);
  assert_int_equal(bits, CERT_KU_DIGITAL_SIGNATURE);
  assert_int_equal(cg_x509_key_usage(view(&k.inter), &bits, &present), 0);
  assert_true(present);
  assert_int_equal(bits, CERT_KU_KEY_CERT_SIGN | CERT_KU_CRL_SIGN);

  none.ku = 0;
  issue(&k.leaf, &k.inter, &none);
  assert_int_equal(cg_x509_key_usage(view(&k.leaf), &bits, &present), 0);
  assert_false(present);
  assert_int_equal(bits, 0);

  struct der_view truncated = {k.inter.der, k.inter.len - 1};
  assert_int_equal(cg_x509_key_usage(truncated, &bits, &present), CG_EDER);
  assert_false(present);
  pki_free(&k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(leaf_issued_by_anchor_is_valid),
      cmocka_unit_test(intermediate_is_found_in_the_pool),
      cmocka_unit_test(copies_of_the_leaf_and_intermediate_in_the_pool_are_harmless),
      cmocka_unit_test(leaf_that_is_an_anchor_is_valid_within_its_validity),
      cmocka_unit_test(validity_bounds_are_inclusive),
      cmocka_unit_test(intermediate_without_key_usage_may_issue),
      cmocka_unit_test(leaf_without_key_identifiers_is_matched_by_name),
      cmocka_unit_test(longest_chain_the_pool_can_hold_is_valid_in_any_order),
      cmocka_unit_test(missing_intermediate_gives_no_issuer),
      cmocka_unit_test(loop_in_the_pool_ends_with_no_issuer),
      cmocka_unit_test(mesh_of_mutually_issuing_certificates_is_searched_within_bounds),
      cmocka_unit_test(fake_issuers_beyond_the_candidate_limit_stop_the_search),
      cmocka_unit_test(leaf_signed_by_another_key_under_the_anchor_name_is_refused),
      cmocka_unit_test(issuers_with_keys_outside_the_bounds_are_never_used),
      cmocka_unit_test(tampered_leaf_gives_bad_signature),
      cmocka_unit_test(right_issuer_is_found_among_same_name_decoys),
      cmocka_unit_test(search_steps_back_from_a_dead_end_cross_certificate),
      cmocka_unit_test(expired_or_not_yet_valid_certificates_give_expired),
      cmocka_unit_test(intermediate_without_ca_flag_gives_not_ca),
      cmocka_unit_test(intermediate_without_key_cert_sign_gives_not_ca),
      cmocka_unit_test(anchor_needs_no_ca_flag),
      cmocka_unit_test(path_len_zero_refuses_an_intermediate_below),
      cmocka_unit_test(self_issued_intermediate_is_not_counted_by_path_len),
      cmocka_unit_test(anchor_path_len_is_obeyed),
      cmocka_unit_test(path_longer_than_max_depth_gives_path_len),
      cmocka_unit_test(unknown_critical_extension_is_refused),
      cmocka_unit_test(malformed_certificates_give_malformed),
      cmocka_unit_test(too_large_a_pool_is_an_invalid_argument),
      cmocka_unit_test(rsa_and_ec_certificates_mix_in_one_path),
      cmocka_unit_test(rsa_pss_signed_intermediate_is_verified),
      cmocka_unit_test(pss_params_accept_only_matching_hash_mgf_and_salt),
      cmocka_unit_test(signature_algorithm_parameters_are_checked),
      cmocka_unit_test(key_usage_bits_are_read),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  cg_crypto_thread_cleanup();
  return rc;
}
