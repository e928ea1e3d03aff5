/*
 * fuzz_p10.c - libFuzzer target for PKCS#10 requests (cmp/p10.c) and what
 * the gateway does with one.  Each input is decoded as a
 * CertificationRequest; whatever decodes must hold together:
 *   - every view lies inside the input, in the order RFC 2986 gives, and
 *     the whole input is the request;
 *   - its subject is a Name whose RDNs can be counted and whose RFC 4514
 *     text fits 4 characters per octet (core/x509.h);
 *   - when the subject and subjectAltName are within the bounds of
 *     core/certbuild.h and the key can be read, a certificate built for it
 *     the local CA's way fits the local CA's 16 KB and reads back.
 * The input is also sent to the server engine as a p10cr, MAC-protected
 * with a secret the engine knows, so that it is read, authenticated, its
 * signature checked as the proof of possession and, for the requests that
 * pass, issued and recorded; every exchange must end in a protected answer
 * that decodes, a cp or an error.
 * Build with -DCMPGW_FUZZ=ON and CC=clang; run e.g.
 * ./fuzz_p10 -max_total_time=60 tests/vectors/p10.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/client.h"
#include "cmp/msg.h"
#include "cmp/p10.h"
#include "cmp/secret.h"
#include "cmp/server.h"
#include "core/certbuild.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CERT 16384 /* the local CA's buffer (ca_backends/local.c) */
#define REF "fuzz-ref"
#define SECRET "fuzz secret"

static struct cmp_server_cfg cfg;
static struct cmp_secret_record secret;
static struct cg_key *ca_key;
static uint8_t ca_name[64], ra_name[64], master[32];
static size_t ca_name_len;

static void require(bool ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "fuzz_p10: %s\n", what);
    abort();
  }
}

static void setup(void) {
  static struct cg_key *ra_key;
  enum cg_oid_id t[] = {CG_OID_AT_CN};
  const char *ca[] = {"fuzz CA"}, *ra[] = {"fuzz RA"};
  size_t ra_len;
  if (ra_key != NULL)
    return;
  require(cg_key_generate_ec(256, &ca_key) == 0 && cg_key_generate_ec(256, &ra_key) == 0 &&
              cg_cert_make_name(t, ca, 1, ca_name, sizeof ca_name, &ca_name_len) == 0 &&
              cg_cert_make_name(t, ra, 1, ra_name, sizeof ra_name, &ra_len) == 0,
          "setup");
  cfg.ra_name = (struct der_view){ra_name, ra_len};
  cfg.ra_key = ra_key;
  cg_key_default_sig(ra_key, &cfg.ra_scheme, &cfg.ra_hash);
  cfg.master_key = master;
  cfg.pbm_max_iterations = 1000; /* keep each input cheap */
  snprintf(secret.reference, sizeof secret.reference, "%s", REF);
  snprintf(secret.profile, sizeof secret.profile, "%s", "default");
  require(cmp_secret_seal(master, REF, (const uint8_t *)SECRET, strlen(SECRET), secret.enc,
                          sizeof secret.enc, &secret.enc_len) == 0,
          "seal");
}

static bool inside(struct der_view v, const uint8_t *data, size_t size) {
  return v.p == NULL || (v.p >= data && v.len <= size && (size_t)(v.p - data) <= size - v.len);
}

/* The subject's text never needs more than 4 characters per octet. */
static void check_name_text(struct der_view name) {
  size_t rdns, cap = 4 * name.len + 1;
  char *s = malloc(cap);
  require(s != NULL, "out of memory");
  require(cg_name_rdns(name, &rdns) == 0, "a decoded subject is not a Name");
  require(cg_name_to_string(name, s, cap) == 0, "a Name's text needs more than 4 per octet");
  require(strlen(s) < cap, "text not terminated inside its buffer");
  free(s);
}

/* What the local CA does with a request (ca_backends/local.c issue_run):
 * the key read, the subject and subjectAltName within their bounds, a
 * certificate built.  0 and the certificate in out, or the refusal. */
static int build_as_local_ca(struct der_view subject, struct der_view spki,
                             struct der_view extensions, uint8_t *out, size_t *len) {
  struct cg_key *key;
  struct cert_spec spec = {0};
  bool critical;
  int err = cg_key_from_spki(spki.p, spki.len, &key);
  if (err)
    return err;
  cg_key_free(key);
  if (cg_cert_check_subject(subject, NULL, 0) != 0)
    return CG_EBAD_TEMPLATE;
  if (extensions.p != NULL &&
      (cg_x509_find_ext(extensions, cg_oid(CG_OID_EXT_SAN), &spec.san, &critical) < 0 ||
       (spec.san.p != NULL && cg_cert_check_san(spec.san) != 0)))
    return CG_EBAD_TEMPLATE;
  spec.issuer = (struct der_view){ca_name, ca_name_len};
  spec.subject = subject;
  spec.spki = spki;
  spec.not_before = 1700000000;
  spec.not_after = spec.not_before + 86400;
  spec.key_usage = CERT_KU_DIGITAL_SIGNATURE | CERT_KU_KEY_ENCIPHERMENT;
  spec.eku[spec.n_eku++] = CG_OID_KP_CLIENT_AUTH;
  uint8_t skid[20] = {0};
  spec.issuer_skid = (struct der_view){skid, sizeof skid};
  require(cg_cert_random_serial(&spec) == 0, "serial");
  err = cg_cert_build(&spec, ca_key, out, MAX_CERT, len);
  /* Within the bounds a certificate always fits, and reads back. */
  require(err != CG_ESPACE, "a certificate within the bounds does not fit 16 KB");
  if (err == 0) {
    struct cg_x509 x;
    require(cg_x509_parse(out, *len, &x) == 0, "a built certificate does not parse");
    require(cg_der_view_eq(x.subject, subject), "a built certificate has another subject");
    check_name_text(x.subject);
  }
  return err;
}

static void check_decoded(const struct cmp_p10 *r, const uint8_t *data, size_t size) {
  require(r->raw.p == data && r->raw.len == size, "raw is not the input");
  require(inside(r->info, data, size) && inside(r->subject, r->info.p, r->info.len) &&
              inside(r->spki, r->info.p, r->info.len) &&
              inside(r->attributes, r->info.p, r->info.len) &&
              inside(r->challenge_password, r->info.p, r->info.len) &&
              inside(r->extensions, r->info.p, r->info.len) && inside(r->sig_alg, data, size) &&
              inside(r->signature, data, size),
          "a view outside the request");
  require(r->subject.p < r->spki.p && r->info.p + r->info.len <= r->sig_alg.p &&
              r->sig_alg.p < r->signature.p,
          "views out of order");
  struct cmp_p10 again;
  require(cmp_p10_decode(data, size, &again) == 0 && memcmp(&again, r, sizeof again) == 0,
          "decoding twice differs");
  check_name_text(r->subject);
  const char *why;
  (void)cg_key_check_spki(r->spki.p, r->spki.len, &why);
  char text[256];
  (void)cg_spki_describe(r->spki, text, sizeof text);
  if (r->extensions.p != NULL)
    (void)cg_x509_san_string(r->extensions, text, sizeof text);
  uint8_t *cert = malloc(MAX_CERT);
  size_t len;
  require(cert != NULL, "out of memory");
  build_as_local_ca(r->subject, r->spki, r->extensions, cert, &len);
  free(cert);
}

/* Plays store and CA for the exchange of a p10cr. */
static void run_exchange(struct cmp_exchange *ex) {
  uint8_t *cert = malloc(MAX_CERT);
  require(cert != NULL, "out of memory");
  for (int steps = 0; steps < 12; steps++) {
    switch (cmp_exchange_step(ex)) {
    case CMP_STEP_DONE:
      free(cert);
      return;
    case CMP_STEP_LOOKUP: {
      struct cmp_lookup_req q;
      cmp_exchange_lookup(ex, &q);
      struct cmp_lookup_res res = {0};
      if (q.ref_len == strlen(REF) && memcmp(q.ref, REF, q.ref_len) == 0)
        res.secret = &secret;
      cmp_exchange_lookup_done(ex, &res);
      break;
    }
    case CMP_STEP_COMPUTE:
      cmp_exchange_compute(ex);
      break;
    case CMP_STEP_ISSUE: {
      const struct cmp_issue_request *r = cmp_exchange_issue_request(ex);
      size_t len = 0;
      int err = build_as_local_ca(r->subject, r->spki, r->extensions, cert, &len);
      cmp_exchange_issue_done(ex, err, cert, len);
      break;
    }
    case CMP_STEP_INSERT:
    case CMP_STEP_NOTE:
      cmp_exchange_store_done(ex, 0);
      break;
    default:
      require(false, "a p10cr took a step it has no use for");
    }
  }
  require(false, "the exchange did not end");
}

/* The input as the PKCS#10 request of a p10cr MAC-protected with the
 * secret: the engine reads, authenticates and (when the signature holds)
 * issues it, and must always answer. */
static void check_through_engine(const uint8_t *data, size_t size) {
  static const uint8_t txid[16] = "fuzz-p10-txn-id!", nonce[16] = "fuzz-p10-nonce!!";
  struct cmp_client_cred cred = {.secret = (const uint8_t *)SECRET,
                                 .secret_len = strlen(SECRET),
                                 .ref = (const uint8_t *)REF,
                                 .ref_len = strlen(REF),
                                 .iterations = 100,
                                 .owf = CG_HASH_SHA256,
                                 .mac = CG_HASH_SHA256};
  struct cmp_client_hdr hdr = {.transaction_id = {txid, sizeof txid},
                               .sender_nonce = {nonce, sizeof nonce}};
  size_t cap = size + 2048, len;
  uint8_t *req = malloc(cap);
  require(req != NULL, "out of memory");
  if (cmp_client_p10cr(&cred, &hdr, (struct der_view){data, size}, req, cap, &len) != 0) {
    free(req);
    return;
  }
  static const struct cmp_profile profile = {.name = "default", .allow_mac = true};
  struct cmp_exchange *ex = cmp_exchange_new(&cfg, &profile, req, len, 1700000000);
  require(ex != NULL, "out of memory");
  run_exchange(ex);
  const uint8_t *rsp;
  size_t rsp_len;
  struct cmp_msg m;
  cmp_exchange_response(ex, &rsp, &rsp_len);
  require(rsp != NULL && cmp_msg_decode(rsp, rsp_len, &m) == 0 && m.has_protection &&
              (m.type == CMP_CP || m.type == CMP_ERROR),
          "no protected cp or error for a p10cr");
  cmp_exchange_free(ex);
  free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct cmp_p10 r;
  setup();
  if (cmp_p10_decode(data, size, &r) == 0)
    check_decoded(&r, data, size);
  check_through_engine(data, size);
  return 0;
}
