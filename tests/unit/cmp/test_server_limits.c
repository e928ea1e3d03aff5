/*
 * test_server_limits.c - the bounds the engine holds requests to, in memory
 * (engine_support.c): public keys outside the sizes and curves of
 * core/crypto.h, in a template, a PKCS#10 request or a signer certificate;
 * subjects and subjectAltNames past the bounds of core/certbuild.h; and the
 * work the path of a signer may cost (core/x509_verify.h).  Such a
 * request is refused before it is authenticated (a template when it is
 * read, a signer before or while its path is built): the answer is signed
 * by the RA, its statusString names the bound, and nothing of the request is
 * stored or issued.  Work is counted in signature verifications
 * (sigcount.h), never timed.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/x509_verify.h"
#include "engine_support.h"
#include "sigcount.h"
#include "testutil.h"

/* The RSA key of tests/vectors/keys below the sizes accepted in public keys
 * (private keys are read as they are, so the tests can sign with it). */
static struct cg_key *load_key(const char *name) {
  char path[1024];
  size_t len, der_len;
  uint8_t der[2048];
  struct cg_key *k = NULL;
  snprintf(path, sizeof path, "%s/keys/%s.pem", CG_TEST_VECTORS, name);
  uint8_t *pem = tu_read_file(path, &len);
  if (pem == NULL)
    fail_msg("cannot read %s", path);
  assert_int_equal(
      cg_pem_decode("PRIVATE KEY", (const char *)pem, len, der, sizeof der, &der_len, NULL), 0);
  assert_int_equal(cg_key_from_private_der(der, der_len, &k), 0);
  free(pem);
  return k;
}

static struct cg_key *load_rsa1024(void) { return load_key("rsa1024"); }

/* A PKCS#10 request (RFC 2986) for key, signed by it: subject and, when
 * san.p is not NULL, an extensionRequest with that subjectAltName extnValue. */
static size_t make_csr(const struct cg_key *key, struct der_view subject, struct der_view san,
                       uint8_t *out, size_t cap) {
  uint8_t spki[1024], sig[1024];
  size_t info_len, spki_len, sig_len, len;
  size_t info_cap = subject.len + san.len + 2048;
  uint8_t *info = malloc(info_cap);
  struct der_writer w;
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  assert_non_null(info);
  assert_int_equal(cg_key_spki(key, spki, sizeof spki, &spki_len), 0);
  cg_der_writer_init(&w, info, info_cap);
  size_t i = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, 0);
  cg_der_put_raw(&w, subject.p, subject.len);
  cg_der_put_raw(&w, spki, spki_len);
  size_t attrs = cg_der_begin(&w, DER_CTX_CONS(0));
  if (san.p != NULL) {
    size_t attr = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_oid(&w, CG_OID_EXTENSION_REQUEST);
    size_t set = cg_der_begin(&w, DER_SET);
    size_t exts = cg_der_begin(&w, DER_SEQUENCE);
    size_t ext = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_oid(&w, CG_OID_EXT_SAN);
    cg_der_put_tlv(&w, DER_OCTET_STRING, san.p, san.len);
    cg_der_end(&w, ext);
    cg_der_end(&w, exts);
    cg_der_end(&w, set);
    cg_der_end(&w, attr);
  }
  cg_der_end(&w, attrs);
  cg_der_end(&w, i);
  assert_int_equal(cg_der_writer_finish(&w, &info_len), 0);
  cg_key_default_sig(key, &scheme, &hash);
  struct cg_iov iov = {info, info_len};
  assert_int_equal(cg_sign(key, scheme, hash, &iov, 1, sig, sizeof sig, &sig_len), 0);
  cg_der_writer_init(&w, out, cap);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_raw(&w, info, info_len);
  cg_cert_write_sig_alg(&w, scheme, hash);
  cg_der_put_bit_string(&w, sig, sig_len);
  cg_der_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  free(info);
  return len;
}

struct cert_req_msg {
  struct der_view cert_request, pop;
};

static void ir_body(struct der_writer *w, const void *arg) {
  const struct cert_req_msg *m = arg;
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_IR));
  size_t msgs = cg_der_begin(w, DER_SEQUENCE);
  size_t msg = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_raw(w, m->cert_request.p, m->cert_request.len);
  cg_der_put_raw(w, m->pop.p, m->pop.len);
  cg_der_end(w, msg);
  cg_der_end(w, msgs);
  cg_der_end(w, body);
}

/* An ir of c (RFC 4211 CertReqMsg) asking for subject and, when san.p is
 * not NULL, that subjectAltName, for the device key with its signature POP.
 * Malloc'ed; *len gets its size. */
static uint8_t *make_ir_asking(struct client *c, struct der_view subject, struct der_view san,
                               size_t *len) {
  uint8_t spki[512], sig[512], pop[600];
  size_t spki_len, sig_len, pop_len, req_len;
  size_t cap = subject.len + san.len + 4096;
  uint8_t *req = malloc(cap), *out = malloc(cap + 4096);
  struct der_writer w;
  struct der_reader r, in;
  assert_non_null(req);
  assert_non_null(out);
  assert_int_equal(cg_key_spki(F->dev_key, spki, sizeof spki, &spki_len), 0);
  /* CertRequest { certReqId 0, CertTemplate { subject [5], publicKey [6],
   * extensions [9] } } */
  cg_der_writer_init(&w, req, cap);
  size_t cr = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, 0);
  size_t tmpl = cg_der_begin(&w, DER_SEQUENCE);
  size_t subj = cg_der_begin(&w, DER_CTX_CONS(5));
  cg_der_put_raw(&w, subject.p, subject.len);
  cg_der_end(&w, subj);
  cg_der_reader_init(&r, spki, spki_len);
  assert_int_equal(cg_der_enter(&r, DER_SEQUENCE, &in), 0);
  cg_der_put_tlv(&w, DER_CTX_CONS(6), in.p, (size_t)(in.end - in.p));
  if (san.p != NULL) {
    size_t exts = cg_der_begin(&w, DER_CTX_CONS(9));
    size_t ext = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_oid(&w, CG_OID_EXT_SAN);
    cg_der_put_tlv(&w, DER_OCTET_STRING, san.p, san.len);
    cg_der_end(&w, ext);
    cg_der_end(&w, exts);
  }
  cg_der_end(&w, tmpl);
  cg_der_end(&w, cr);
  assert_int_equal(cg_der_writer_finish(&w, &req_len), 0);
  /* RFC 4211 §4.1: POPOSigningKey over the DER of certReq. */
  struct cg_iov iov = {req, req_len};
  assert_int_equal(
      cg_sign(F->dev_key, CG_SIG_ECDSA, CG_HASH_SHA256, &iov, 1, sig, sizeof sig, &sig_len), 0);
  cg_der_writer_init(&w, pop, sizeof pop);
  size_t popo = cg_der_begin(&w, DER_CTX_CONS(1));
  cg_cert_write_sig_alg(&w, CG_SIG_ECDSA, CG_HASH_SHA256);
  cg_der_put_bit_string(&w, sig, sig_len);
  cg_der_end(&w, popo);
  assert_int_equal(cg_der_writer_finish(&w, &pop_len), 0);
  struct cert_req_msg m = {{req, req_len}, {pop, pop_len}};
  assert_int_equal(cmp_client_message(&c->mac, &c->hdr, ir_body, &m, out, cap + 4096, len), 0);
  free(req);
  return out;
}

/* Runs req on the default profile and checks the refusal every test here
 * expects: an error with fail_bit, signed by the RA (the request was not
 * authenticated), whose statusString holds words; and nothing stored or
 * issued for it.  Returns the signature verifications the engine made. */
static unsigned assert_refused_and_nothing_kept(const struct client *c, const uint8_t *req,
                                                size_t len, int fail_bit, const char *words) {
  size_t txns = F->n_txns, issued = F->issued;
  struct cmp_msg rsp;
  char text[256];
  unsigned before = sigcount_verifications();
  struct cmp_exchange *ex = run("default", req, len);
  unsigned verifications = sigcount_verifications() - before;
  decode_response(ex, c, &rsp);
  assert_refused(&rsp, fail_bit);
  assert_signed_by_ra(&rsp);
  status_text(&rsp, text, sizeof text);
  if (strstr(text, words) == NULL)
    fail_msg("statusString \"%s\" does not say \"%s\"", text, words);
  assert_int_equal(F->n_txns, txns);
  assert_int_equal(F->issued, issued);
  cmp_exchange_free(ex);
  return verifications;
}

static void test_template_key_outside_the_bounds_is_bad_alg_and_stores_nothing(void **state) {
  (void)state;
  struct cg_key *small = load_rsa1024();
  struct client c;
  uint8_t req[8192];
  size_t len;
  client_init(&c, REF, SECRET);
  assert_int_equal(cmp_client_cert_req(&c.mac, &c.hdr, CMP_IR,
                                       (struct der_view){F->dev_name, F->dev_name_len}, small,
                                       (struct der_view){NULL, 0}, req, sizeof req, &len),
                   0);
  assert_refused_and_nothing_kept(&c, req, len, CG_FI_BAD_ALG, "RSA modulus");
  cg_key_free(small);
}

/* The profile's policy (key_types, rsa_min_bits): a key within the bounds
 * that the profile does not certify is badCertTemplate, refused as the
 * request is read; one it certifies is issued. */
static void test_a_key_the_profile_does_not_certify_is_bad_cert_template(void **state) {
  (void)state;
  struct cg_key *rsa = load_key("rsa2048");
  struct client c;
  uint8_t req[8192];
  size_t len;
  struct der_view subject = {F->dev_name, F->dev_name_len}, none = {NULL, 0};
  client_init(&c, REF, SECRET);
  F->prof_default.key_types = CMP_KEYT_RSA | CMP_KEYT_P384;
  assert_int_equal(
      cmp_client_cert_req(&c.mac, &c.hdr, CMP_IR, subject, F->dev_key, none, req, sizeof req, &len),
      0);
  assert_refused_and_nothing_kept(&c, req, len, CG_FI_BAD_CERT_TEMPLATE,
                                  "does not certify EC P-256 keys");
  /* RSA-2048 under rsa_min_bits 3072. */
  F->prof_default.rsa_min_bits = 3072;
  client_init(&c, REF, SECRET);
  assert_int_equal(
      cmp_client_cert_req(&c.mac, &c.hdr, CMP_IR, subject, rsa, none, req, sizeof req, &len), 0);
  assert_refused_and_nothing_kept(&c, req, len, CG_FI_BAD_CERT_TEMPLATE,
                                  "2048 bits; at least 3072");
  /* At 2048 the same key is certified. */
  F->prof_default.rsa_min_bits = 2048;
  client_init(&c, REF, SECRET);
  assert_int_equal(
      cmp_client_cert_req(&c.mac, &c.hdr, CMP_IR, subject, rsa, none, req, sizeof req, &len), 0);
  size_t issued = F->issued;
  struct cmp_msg rsp;
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_int_equal(F->issued, issued + 1);
  cmp_exchange_free(ex);
  F->prof_default.key_types = 0;
  F->prof_default.rsa_min_bits = 0;
  cg_key_free(rsa);
}

static void test_p10cr_key_outside_the_bounds_is_bad_alg(void **state) {
  (void)state;
  struct cg_key *small = load_rsa1024();
  struct client c;
  uint8_t csr[2048], req[8192];
  size_t len;
  size_t csr_len = make_csr(small, (struct der_view){F->dev_name, F->dev_name_len},
                            (struct der_view){NULL, 0}, csr, sizeof csr);
  client_init(&c, REF, SECRET);
  assert_int_equal(
      cmp_client_p10cr(&c.mac, &c.hdr, (struct der_view){csr, csr_len}, req, sizeof req, &len), 0);
  assert_refused_and_nothing_kept(&c, req, len, CG_FI_BAD_ALG, "RSA modulus");
  cg_key_free(small);
}

/* A signer certificate the CA issued for a key outside the bounds: the
 * signature over the message is right, and refused all the same
 * (badMessageCheck), before its path is built. */
static void test_signer_key_outside_the_bounds_is_bad_message_check(void **state) {
  (void)state;
  struct cg_key *small = load_rsa1024();
  uint8_t cert[2048], req[8192];
  size_t cert_len, len;
  struct cert_spec s = {0};
  s.issuer = (struct der_view){F->ca_name, F->ca_name_len};
  s.subject = (struct der_view){F->dev_name, F->dev_name_len};
  s.not_before = (int64_t)time(NULL) - 60;
  s.not_after = s.not_before + 3600;
  s.key_usage = CERT_KU_DIGITAL_SIGNATURE;
  make_cert(&s, small, F->ca_key, cert, sizeof cert, &cert_len);
  struct client c;
  client_init(&c, "", "");
  c.mac.key = small;
  c.mac.cert = (struct der_view){cert, cert_len};
  assert_int_equal(cmp_client_cert_req(&c.mac, &c.hdr, CMP_CR,
                                       (struct der_view){F->dev_name, F->dev_name_len}, F->dev_key,
                                       (struct der_view){NULL, 0}, req, sizeof req, &len),
                   0);
  assert_refused_and_nothing_kept(&c, req, len, CG_FI_BAD_MESSAGE_CHECK, "RSA modulus");
  cg_key_free(small);
}

/* A signer whose issuer is named by seven certificates in extraCerts that
 * all issue one another (one key, one name): the search for a path walks
 * them in many orders, each step a signature check, until its budget is
 * spent.  signerNotTrusted, and no more verifications than the budget. */
static void test_signer_path_through_a_mesh_of_issuers_stops_at_its_budget(void **state) {
  (void)state;
  enum { MESH = CMP_MAX_EXTRA_CERTS - 1 };
  struct cg_key *mesh_key;
  uint8_t mesh_name[128], mesh[MESH][1024], cert[2048], req[16384];
  size_t mesh_name_len, mesh_len[MESH], cert_len, len;
  struct der_view chain[MESH];
  assert_int_equal(cg_key_generate_ec(256, &mesh_key), 0);
  make_name("Mesh CA", mesh_name, &mesh_name_len);
  for (size_t i = 0; i < MESH; i++) {
    struct cert_spec s = {0};
    s.issuer = s.subject = (struct der_view){mesh_name, mesh_name_len};
    s.not_before = (int64_t)time(NULL) - 60;
    s.not_after = s.not_before + 3600;
    s.is_ca = true;
    s.key_usage = CERT_KU_KEY_CERT_SIGN;
    make_cert(&s, mesh_key, mesh_key, mesh[i], sizeof mesh[i], &mesh_len[i]);
    chain[i] = (struct der_view){mesh[i], mesh_len[i]};
  }
  struct cert_spec s = {0};
  s.issuer = (struct der_view){mesh_name, mesh_name_len};
  s.subject = (struct der_view){F->dev_name, F->dev_name_len};
  s.not_before = (int64_t)time(NULL) - 60;
  s.not_after = s.not_before + 3600;
  s.key_usage = CERT_KU_DIGITAL_SIGNATURE;
  make_cert(&s, F->dev_key, mesh_key, cert, sizeof cert, &cert_len);
  struct client c;
  client_init(&c, "", "");
  c.mac.key = F->dev_key;
  c.mac.cert = (struct der_view){cert, cert_len};
  c.mac.chain = chain;
  c.mac.n_chain = MESH;
  assert_int_equal(cmp_client_cert_req(&c.mac, &c.hdr, CMP_CR,
                                       (struct der_view){F->dev_name, F->dev_name_len}, F->dev_key,
                                       (struct der_view){NULL, 0}, req, sizeof req, &len),
                   0);
  unsigned n = assert_refused_and_nothing_kept(&c, req, len, CG_FI_SIGNER_NOT_TRUSTED,
                                               "more candidate issuers or signature checks");
  if (n > CG_X509_VERIFY_MAX_SIGNATURES)
    fail_msg("%u signature verifications for one request", n);
  cg_key_free(mesh_key);
}

/* Asks for subject and san (p NULL: none) in an ir and expects the refusal
 * saying words. */
static void assert_ir_refused(struct der_view subject, struct der_view san, const char *words) {
  struct client c;
  size_t len;
  client_init(&c, REF, SECRET);
  uint8_t *req = make_ir_asking(&c, subject, san, &len);
  assert_refused_and_nothing_kept(&c, req, len, CG_FI_BAD_CERT_TEMPLATE, words);
  free(req);
}

/* A subject of 3000 RDNs made the certificate too large for the CA's buffer
 * (systemFailure, "output buffer too small"); it is the requester's fault. */
static void test_subject_of_too_many_rdns_is_bad_cert_template_and_stores_nothing(void **state) {
  (void)state;
  size_t len;
  uint8_t *subject = tu_name(3000, 4, false, &len);
  assert_ir_refused((struct der_view){subject, len}, (struct der_view){NULL, 0},
                    "the subject has 3000 RDNs; at most 64");
  free(subject);
}

static void test_subject_too_long_is_bad_cert_template(void **state) {
  (void)state;
  size_t len;
  uint8_t *subject = tu_name(1, CERT_MAX_NAME_LEN, false, &len);
  char words[64];
  snprintf(words, sizeof words, "the subject is %zu octets long; at most 1024", len);
  assert_ir_refused((struct der_view){subject, len}, (struct der_view){NULL, 0}, words);
  free(subject);
}

static void test_subject_alt_name_past_its_limits_is_bad_cert_template(void **state) {
  (void)state;
  size_t san_len;
  struct der_view subject = {F->dev_name, F->dev_name_len};
  uint8_t *san = tu_dns_names(CERT_MAX_SAN_NAMES + 1, 20, &san_len);
  assert_ir_refused(subject, (struct der_view){san, san_len},
                    "the subjectAltName has 65 names; at most 64");
  free(san);
  /* Few enough names, too many octets. */
  san = tu_dns_names(CERT_MAX_SAN_NAMES, 71, &san_len);
  assert_true(san_len > CERT_MAX_SAN_LEN);
  assert_ir_refused(subject, (struct der_view){san, san_len}, "octets long; at most 4096");
  free(san);
}

static void test_p10cr_subject_alt_name_past_its_limits_is_bad_cert_template(void **state) {
  (void)state;
  size_t san_len, len;
  uint8_t *san = tu_dns_names(CERT_MAX_SAN_NAMES + 1, 20, &san_len);
  uint8_t csr[8192], req[16384];
  size_t csr_len = make_csr(F->dev_key, (struct der_view){F->dev_name, F->dev_name_len},
                            (struct der_view){san, san_len}, csr, sizeof csr);
  struct client c;
  client_init(&c, REF, SECRET);
  assert_int_equal(
      cmp_client_p10cr(&c.mac, &c.hdr, (struct der_view){csr, csr_len}, req, sizeof req, &len), 0);
  assert_refused_and_nothing_kept(&c, req, len, CG_FI_BAD_CERT_TEMPLATE,
                                  "the subjectAltName has 65 names; at most 64");
  free(san);
}

/* At the limits a request is served: 64 RDNs in 964 octets, whose RFC 4514
 * text (1663 characters) did not fit the 1024-octet buffer the
 * certificate's record was written to, which failed the request after the
 * CA had signed; and 64 names in 3972 octets. */
static void test_subject_and_subject_alt_name_at_their_limits_are_served(void **state) {
  (void)state;
  size_t subject_len, san_len, len;
  uint8_t *subject = tu_name(CERT_MAX_RDNS, 4, true, &subject_len);
  uint8_t *san = tu_dns_names(CERT_MAX_SAN_NAMES, 60, &san_len);
  assert_true(subject_len <= CERT_MAX_NAME_LEN && san_len <= CERT_MAX_SAN_LEN);
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  uint8_t *req = make_ir_asking(&c, (struct der_view){subject, subject_len},
                                (struct der_view){san, san_len}, &len);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, &c, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  /* The fixture's CA copies no subjectAltName: the answer says so. */
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_GRANTED_WITH_MODS);
  struct der_view text = rsp.u.cert_rep.rsp[0].status.status_string;
  assert_non_null(memmem(text.p, text.len, "subjectAltName", 14));
  assert_int_equal(strlen(cmp_exchange_cert(ex)->subject), 64 * 25 + 63);
  cmp_exchange_free(ex);
  free(req);
  free(subject);
  free(san);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_template_key_outside_the_bounds_is_bad_alg_and_stores_nothing),
      cmocka_unit_test(test_p10cr_key_outside_the_bounds_is_bad_alg),
      cmocka_unit_test(test_a_key_the_profile_does_not_certify_is_bad_cert_template),
      cmocka_unit_test(test_signer_key_outside_the_bounds_is_bad_message_check),
      cmocka_unit_test(test_signer_path_through_a_mesh_of_issuers_stops_at_its_budget),
      cmocka_unit_test(test_subject_of_too_many_rdns_is_bad_cert_template_and_stores_nothing),
      cmocka_unit_test(test_subject_too_long_is_bad_cert_template),
      cmocka_unit_test(test_subject_alt_name_past_its_limits_is_bad_cert_template),
      cmocka_unit_test(test_p10cr_subject_alt_name_past_its_limits_is_bad_cert_template),
      cmocka_unit_test(test_subject_and_subject_alt_name_at_their_limits_are_served),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
