/*
 * srv_genm.c - general messages (genm / genp, RFC 9483 §4.3), answered by
 * the gateway itself from the profile: the CA certificates, root CA key
 * update (none is announced), a certificate request template, the signature
 * algorithms accepted for proofs of possession.  Every infoType asked for is
 * answered; one we have nothing for gets an absent value, not an error.
 */
#include "cmp/encode.h"
#include "cmp/server_int.h"
#include "core/certbuild.h"
#include "core/err.h"
#include "core/oid.h"

/* The genm content, decoded with the request checks so that the lookup can
 * fetch the revocations a CRL needs. */
static int read_genm(struct cmp_exchange *ex) {
  int gerr = cmp_genm_decode(ex->msg.content, &ex->genm);
  if (gerr) {
    ex->detail = "the genm content is malformed";
    return gerr == CG_EBAD_REQUEST ? gerr : CG_EBAD_DATA;
  }
  /* RFC 9483 §4.3.1, §4.3.3 (and RFC 9810 §5.3.19.2): caCerts,
   * certReqTemplate, signKeyPairTypes and rootCaKeyUpdate are asked for with
   * an absent value; one given is not understood. */
  for (size_t i = 0; i < ex->genm.n; i++) {
    enum cg_oid_id t = cg_oid_lookup(ex->genm.itav[i].oid);
    if ((t == CG_OID_IT_CA_CERTS || t == CG_OID_IT_CERT_REQ_TEMPLATE ||
         t == CG_OID_IT_SIGN_KEY_PAIR_TYPES || t == CG_OID_IT_ROOT_CA_KEY_UPDATE) &&
        ex->genm.itav[i].value.p != NULL) {
      ex->detail = "a genm asks for caCerts, certReqTemplate, signKeyPairTypes or "
                   "rootCaKeyUpdate with no value";
      return CG_EBAD_DATA;
    }
  }
  /* RFC 9483 §4.3.4: CRLs are asked for with crlStatusList (or crls). */
  for (size_t i = 0; i < ex->genm.n; i++) {
    enum cg_oid_id t = cg_oid_lookup(ex->genm.itav[i].oid);
    if (t == CG_OID_IT_CRL_STATUS_LIST || t == CG_OID_IT_CRLS)
      ex->want_crl = true;
  }
  struct cg_x509 ca;
  if (ex->want_crl && (ex->n_ca_chain == 0 ||
                       cg_x509_parse(ex->ca_chain[0].p, ex->ca_chain[0].len, &ca) ||
                       cg_name_to_string(ca.subject, ex->ca_issuer, sizeof ex->ca_issuer)))
    ex->want_crl = false;
  return 0;
}

static void verify_genm(struct cmp_exchange *ex) {
  ex->rsp_type = CMP_GENP;
  ex->status = CMP_ACCEPTED;
  cmp_srv_set_phase(ex, ex->want_crl ? PH_CRL : PH_PROTECT);
}

/* The algorithms whose signatures the gateway verifies as proof of possession
 * (RFC 9810 §5.3.19.2), as AlgorithmIdentifier encodings. */
static void sign_key_pair_types(struct der_writer *w) {
  static const struct {
    enum cg_sig_scheme scheme;
    enum cg_hash hash;
  } algs[] = {
      {CG_SIG_ECDSA, CG_HASH_SHA256},    {CG_SIG_ECDSA, CG_HASH_SHA384},
      {CG_SIG_ECDSA, CG_HASH_SHA512},    {CG_SIG_RSA_PKCS1, CG_HASH_SHA256},
      {CG_SIG_RSA_PKCS1, CG_HASH_SHA384}, {CG_SIG_RSA_PKCS1, CG_HASH_SHA512},
      {CG_SIG_EDDSA, CG_HASH_NONE},
  };
  uint8_t buf[sizeof algs / sizeof algs[0]][32];
  struct der_view views[sizeof algs / sizeof algs[0]];
  size_t n = 0;
  for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
    struct der_writer a;
    cg_der_writer_init(&a, buf[n], sizeof buf[n]);
    cg_cert_write_sig_alg(&a, algs[i].scheme, algs[i].hash);
    if (cg_der_writer_finish(&a, &views[n].len) == 0) {
      views[n].p = buf[n];
      n++;
    }
  }
  cmp_write_itav_sign_key_pair_types(w, views, n);
}

/* RFC 9483 §4.3.3: an empty CertTemplate (the profile sets subject and
 * extensions) and, as keySpec, the keys the profile certifies (key_types,
 * rsa_min_bits: cmp/server.h): an id-regCtrl-algId per curve or EdDSA
 * algorithm, and id-regCtrl-rsaKeyLen with the smallest RSA modulus. */
static void cert_req_template(const struct cmp_exchange *ex, struct der_writer *w) {
  static const uint8_t empty_template[] = {0x30, 0x00};
  static const struct {
    unsigned bit;
    enum cg_oid_id alg, curve; /* curve: CG_OID_UNKNOWN for none */
  } algs[] = {
      {CMP_KEYT_P256, CG_OID_EC_PUBLIC_KEY, CG_OID_P256},
      {CMP_KEYT_P384, CG_OID_EC_PUBLIC_KEY, CG_OID_P384},
      {CMP_KEYT_P521, CG_OID_EC_PUBLIC_KEY, CG_OID_P521},
      {CMP_KEYT_ED25519, CG_OID_ED25519, CG_OID_UNKNOWN},
      {CMP_KEYT_ED448, CG_OID_ED448, CG_OID_UNKNOWN},
  };
  enum { N = sizeof algs / sizeof algs[0] };
  unsigned types = ex->prof->key_types != 0 ? ex->prof->key_types : ~0u;
  uint8_t buf[N][32];
  struct cmp_key_spec spec[N + 1];
  size_t n = 0;
  for (size_t i = 0; i < N; i++) {
    if (!(types & algs[i].bit))
      continue;
    struct der_writer a;
    size_t len;
    cg_der_writer_init(&a, buf[n], sizeof buf[n]);
    size_t m = cg_der_begin(&a, DER_SEQUENCE);
    cg_der_put_oid(&a, algs[i].alg);
    if (algs[i].curve != CG_OID_UNKNOWN)
      cg_der_put_oid(&a, algs[i].curve);
    cg_der_end(&a, m);
    if (cg_der_writer_finish(&a, &len) == 0) {
      spec[n] = (struct cmp_key_spec){.kind = CMP_KEY_SPEC_ALG_ID, .alg_id = {buf[n], len}};
      n++;
    }
  }
  if (types & CMP_KEYT_RSA)
    spec[n++] = (struct cmp_key_spec){
        .kind = CMP_KEY_SPEC_RSA_KEY_LEN,
        .rsa_key_len = ex->prof->rsa_min_bits > CG_RSA_MIN_BITS ? ex->prof->rsa_min_bits
                                                                : CG_RSA_MIN_BITS};
  cmp_write_itav_cert_req_template(w, (struct der_view){empty_template, 2}, spec, n);
}

static void write_genp_body(struct cmp_exchange *ex, struct der_writer *w) {
  size_t body = cmp_genp_begin(w);
  for (size_t i = 0; i < ex->genm.n; i++) {
    struct der_view type = ex->genm.itav[i].oid;
    switch (cg_oid_lookup(type)) {
    case CG_OID_IT_CA_CERTS:
      cmp_write_itav_ca_certs(w, ex->ca_chain, ex->n_ca_chain);
      break;
    case CG_OID_IT_ROOT_CA_CERT:
    case CG_OID_IT_ROOT_CA_KEY_UPDATE:
      /* The update the CA announces; none known: the absent value says so. */
      cmp_write_itav_root_ca_key_update(w, ex->root_update[0], ex->root_update[1],
                                        ex->root_update[2]);
      break;
    case CG_OID_IT_CERT_REQ_TEMPLATE:
      cert_req_template(ex, w);
      break;
    case CG_OID_IT_SIGN_KEY_PAIR_TYPES:
      sign_key_pair_types(w);
      break;
    case CG_OID_IT_CRL_STATUS_LIST:
    case CG_OID_IT_CRLS:
      /* RFC 9483 §4.3.4: answered with id-it-crls; the CRL is made now, so
       * it is newer than any the device holds. */
      cmp_write_itav_crls(w, &ex->crl, ex->crl.p != NULL ? 1 : 0);
      break;
    default:
      /* RFC 9483 §4.3: what we have nothing for is answered empty. */
      cmp_write_itav_absent(w, type);
      break;
    }
  }
  cmp_genp_end(w, body);
}

const struct cmp_srv_kind cmp_srv_genm_kinds[] = {
    {CMP_BIT(CMP_GENM), CMP_BIT(CMP_GENP), read_genm, verify_genm, write_genp_body},
    {0},
};
