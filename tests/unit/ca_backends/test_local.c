/*
 * test_local.c - the embedded CA backend: what it issues (RFC 5280 fields
 * and the profile's policy), what it refuses, and how it starts, on a real
 * libuv loop with signing on the threadpool.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ca_backends/backend.h"
#include "cmp/protect.h"
#include "core/certbuild.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"
#include "testutil.h"

struct kv {
  const char *cert, *key, *delay;
};

static const char *get(const void *ctx, const char *key) {
  const struct kv *kv = ctx;
  return !strcmp(key, "cert")    ? kv->cert
         : !strcmp(key, "key")   ? kv->key
         : !strcmp(key, "delay") ? kv->delay
                                 : NULL;
}

static const char *delay_setting; /* the `delay` the next issue() configures */
static const char *extra_key;     /* a key the next issue() has besides cert, key, delay */
static bool allow_readable_keys;  /* [server] allow_readable_keys for the next issue() */

/* The keys of the section, as the configuration lists them. */
static const char *key_at(const void *ctx, size_t i) {
  const char *keys[4];
  size_t n = 0;
  keys[n++] = "cert";
  keys[n++] = "key";
  if (delay_setting != NULL)
    keys[n++] = "delay";
  if (extra_key != NULL)
    keys[n++] = extra_key;
  (void)ctx;
  return i < n ? keys[i] : NULL;
}

struct fixture {
  char dir[64];
  struct cg_key *ca_key, *dev_key;
  uint8_t ca_name[128], dev_name[128];
  size_t ca_name_len, dev_name_len;
  uint8_t ca_cert[2048];
  size_t ca_cert_len;
  uint8_t dev_spki[512];
  size_t dev_spki_len;
};

/* Writes PEM to path, which only its owner may access (as a key file must). */
static void write_pem(const char *path, const char *label, const uint8_t *der, size_t len) {
  char pem[8192];
  size_t n;
  assert_int_equal(cg_pem_encode(label, der, len, pem, sizeof pem, &n), 0);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(pem, 1, n, f), n);
  fclose(f);
  assert_int_equal(chmod(path, 0600), 0);
}

static void name(const char *cn, uint8_t *out, size_t *len) {
  enum cg_oid_id t[] = {CG_OID_AT_CN};
  const char *v[] = {cn};
  assert_int_equal(cg_cert_make_name(t, v, 1, out, 128, len), 0);
}

/* Writes ca-cert.pem / ca-key.pem for a CA valid from nb to na. */
static void make_ca(struct fixture *f, int64_t nb, int64_t na) {
  struct cert_spec s = {0};
  uint8_t spki[512], der[2048];
  size_t spki_len, der_len;
  char path[128];
  assert_int_equal(cg_key_spki(f->ca_key, spki, sizeof spki, &spki_len), 0);
  s.issuer = s.subject = (struct der_view){f->ca_name, f->ca_name_len};
  s.spki = (struct der_view){spki, spki_len};
  s.not_before = nb;
  s.not_after = na;
  s.is_ca = true;
  s.key_usage = CERT_KU_KEY_CERT_SIGN;
  assert_int_equal(cg_cert_random_serial(&s), 0);
  assert_int_equal(cg_cert_build(&s, f->ca_key, f->ca_cert, sizeof f->ca_cert, &f->ca_cert_len), 0);
  snprintf(path, sizeof path, "%s/ca-cert.pem", f->dir);
  write_pem(path, "CERTIFICATE", f->ca_cert, f->ca_cert_len);
  assert_int_equal(cg_key_private_pkcs8(f->ca_key, der, sizeof der, &der_len), 0);
  snprintf(path, sizeof path, "%s/ca-key.pem", f->dir);
  write_pem(path, "PRIVATE KEY", der, der_len);
}

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/cmpgw-test-local-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(cg_key_generate_ec(256, &f->ca_key), 0);
  assert_int_equal(cg_key_generate_ec(256, &f->dev_key), 0);
  name("local test CA", f->ca_name, &f->ca_name_len);
  name("dev", f->dev_name, &f->dev_name_len);
  assert_int_equal(cg_key_spki(f->dev_key, f->dev_spki, sizeof f->dev_spki, &f->dev_spki_len), 0);
  int64_t now = (int64_t)time(NULL);
  make_ca(f, now - 60, now + 2 * 365 * 86400LL);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  char path[128];
  snprintf(path, sizeof path, "%s/ca-cert.pem", f->dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/ca-key.pem", f->dir);
  unlink(path);
  rmdir(f->dir);
  cg_key_free(f->ca_key);
  cg_key_free(f->dev_key);
  free(f);
  return 0;
}

struct result {
  bool done;
  int err;
  uint8_t der[16384];
  size_t len;
  bool waiting; /* the CA answered CA_WAITING (done never runs) */
};

static void on_done(struct ca_call *call, const struct cmp_ca_answer *a) {
  struct result *r = call->arg;
  r->done = true;
  r->err = a->err;
  assert_false(a->waiting);
  if (a->err == 0) {
    assert_true(a->cert.len <= sizeof r->der);
    memcpy(r->der, a->cert.p, a->cert.len);
    r->len = a->cert.len;
  }
}

/* Starts the backend, issues one request, stops; returns the init error or
 * fills *r. */
static int issue(struct fixture *f, const struct cmp_issue_request *req,
                 const struct ca_policy *pol, struct result *r) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  const struct ca_backend_ops *ops = ca_backend_find("local");
  assert_non_null(ops);
  assert_int_equal(ops->abi, CA_BACKEND_ABI);
  void *st = calloc(1, ops->state_size);
  struct kv kv = {"ca-cert.pem", "ca-key.pem", delay_setting};
  struct ca_settings s = {.get = get,
                          .ctx = &kv,
                          .key = key_at,
                          .base_dir = f->dir,
                          .name = "test",
                          .allow_readable_keys = allow_readable_keys};
  int err = ops->init(st, &loop, &s);
  if (err == 0) {
    struct ca_call call = {0};
    call.req = req;
    call.policy = pol;
    call.done = on_done;
    call.arg = r;
    int rc = ops->issue(st, &call);
    r->waiting = rc == CA_WAITING;
    if (!r->waiting)
      assert_int_equal(rc, CA_ACCEPTED);
    while (!r->done && !r->waiting)
      assert_true(uv_run(&loop, UV_RUN_ONCE) >= 0);
  }
  ops->destroy(st);
  free(st);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
  return err;
}

/* extensions contents holding one subjectAltName with the given GeneralNames
 * contents. */
static size_t san_ext(const uint8_t *names, size_t n, uint8_t *out, size_t cap) {
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, out, cap);
  size_t ext = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, CG_OID_EXT_SAN);
  size_t val = cg_der_begin(&w, DER_OCTET_STRING);
  cg_der_put_tlv(&w, DER_SEQUENCE, names, n);
  cg_der_end(&w, val);
  cg_der_end(&w, ext);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

static const struct ca_policy policy = {30, true, false, true, 0};

static void base_request(struct fixture *f, struct cmp_issue_request *req) {
  memset(req, 0, sizeof *req);
  req->profile = "default";
  req->subject = (struct der_view){f->dev_name, f->dev_name_len};
  req->spki = (struct der_view){f->dev_spki, f->dev_spki_len};
}

static void test_issues_a_certificate_by_the_profile_policy(void **state) {
  struct fixture *f = *state;
  static const uint8_t names[] = {0x82, 0x0b, 'd', 'e', 'v', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'};
  uint8_t exts[128];
  struct cmp_issue_request req;
  base_request(f, &req);
  req.extensions = (struct der_view){exts, san_ext(names, sizeof names, exts, sizeof exts)};
  struct result *r = calloc(1, sizeof *r);
  assert_int_equal(issue(f, &req, &policy, r), 0);
  assert_int_equal(r->err, 0);

  struct cg_x509 c, ca;
  assert_int_equal(cg_x509_parse(r->der, r->len, &c), 0);
  assert_int_equal(cg_x509_parse(f->ca_cert, f->ca_cert_len, &ca), 0);
  assert_int_equal(c.version, 2);
  assert_true(cg_der_view_eq(c.issuer, ca.subject));
  assert_true(cg_der_view_is(c.subject, f->dev_name, f->dev_name_len));
  assert_true(cg_der_view_is(c.spki, f->dev_spki, f->dev_spki_len));
  assert_int_equal(c.not_after - c.not_before, 30 * 86400);
  /* RFC 5280 §4.1.2.2: positive, at most 20 octets. */
  assert_true(c.serial.len >= 1 && c.serial.len <= 20 && (c.serial.p[0] & 0x80) == 0);

  struct der_view v;
  bool critical;
  assert_int_equal(cg_x509_find_ext(c.extensions, cg_oid(CG_OID_EXT_SAN), &v, &critical), 1);
  assert_int_equal(v.len, 2 + sizeof names);
  assert_memory_equal(v.p + 2, names, sizeof names);
  assert_int_equal(cg_x509_find_ext(c.extensions, cg_oid(CG_OID_EXT_KEY_USAGE), &v, &critical), 1);
  assert_true(critical);
  assert_int_equal(cg_x509_find_ext(c.extensions, cg_oid(CG_OID_EXT_EKU), &v, &critical), 1);
  assert_non_null(memmem(v.p, v.len, cg_oid(CG_OID_KP_CLIENT_AUTH).p, cg_oid(CG_OID_KP_CLIENT_AUTH).len));
  assert_int_equal(cg_x509_find_ext(c.extensions, cg_oid(CG_OID_EXT_AKID), &v, &critical), 1);
  assert_non_null(memmem(v.p, v.len, ca.skid.p, ca.skid.len));
  assert_int_equal(cg_x509_find_ext(c.extensions, cg_oid(CG_OID_EXT_BASIC_CONSTRAINTS), NULL, NULL), 0);

  /* Signed by the CA key. */
  struct cg_iov iov = {c.tbs.p, c.tbs.len};
  assert_int_equal(cmp_verify_sig(c.sig_alg, ca.spki, &iov, 1, c.signature), 0);
  free(r);
}

/* keyUsage follows the key (RFC 5280 §4.2.1.3): an EC key signs and agrees
 * on keys, an RSA key signs and receives them, an EdDSA key only signs; a
 * profile's key_usage replaces that. */
static uint32_t issued_key_usage(struct fixture *f, struct cg_key *key, uint32_t profile_bits) {
  uint8_t spki[1200];
  size_t spki_len;
  assert_int_equal(cg_key_spki(key, spki, sizeof spki, &spki_len), 0);
  struct cmp_issue_request req;
  base_request(f, &req);
  req.spki = (struct der_view){spki, spki_len};
  struct ca_policy pol = policy;
  pol.key_usage = profile_bits;
  struct result *r = calloc(1, sizeof *r);
  assert_int_equal(issue(f, &req, &pol, r), 0);
  assert_int_equal(r->err, 0);
  struct cg_x509 c;
  struct der_view v;
  bool critical;
  uint32_t bits = 0;
  assert_int_equal(cg_x509_parse(r->der, r->len, &c), 0);
  assert_int_equal(cg_x509_find_ext(c.extensions, cg_oid(CG_OID_EXT_KEY_USAGE), &v, &critical), 1);
  assert_int_equal(cg_der_get_named_bits((struct der_view){v.p + 2, v.len - 2}, &bits), 0);
  free(r);
  return bits;
}

static void test_key_usage_follows_the_key_type_unless_the_profile_sets_it(void **state) {
  struct fixture *f = *state;
  struct cg_key *rsa = NULL, *ed = NULL;
  assert_int_equal(cg_key_generate(CG_KEY_RSA, 2048, &rsa), 0);
  assert_int_equal(cg_key_generate(CG_KEY_ED25519, 0, &ed), 0);
  assert_int_equal(issued_key_usage(f, f->dev_key, 0),
                   CERT_KU_DIGITAL_SIGNATURE | CERT_KU_KEY_AGREEMENT);
  assert_int_equal(issued_key_usage(f, rsa, 0),
                   CERT_KU_DIGITAL_SIGNATURE | CERT_KU_KEY_ENCIPHERMENT);
  assert_int_equal(issued_key_usage(f, ed, 0), CERT_KU_DIGITAL_SIGNATURE);
  assert_int_equal(issued_key_usage(f, rsa, CERT_KU_DIGITAL_SIGNATURE), CERT_KU_DIGITAL_SIGNATURE);
  cg_key_free(rsa);
  cg_key_free(ed);
}

static void test_requested_validity_may_shorten_never_lengthen(void **state) {
  struct fixture *f = *state;
  struct cmp_issue_request req;
  struct result *r = calloc(1, sizeof *r);
  struct cg_x509 c;
  int64_t now = (int64_t)time(NULL);
  base_request(f, &req);
  req.has_not_after = true;
  req.not_after = now + 86400;
  assert_int_equal(issue(f, &req, &policy, r), 0);
  assert_int_equal(cg_x509_parse(r->der, r->len, &c), 0);
  assert_int_equal(c.not_after, now + 86400);

  memset(r, 0, sizeof *r);
  req.not_after = now + 400 * 86400LL;
  assert_int_equal(issue(f, &req, &policy, r), 0);
  assert_int_equal(cg_x509_parse(r->der, r->len, &c), 0);
  assert_int_equal(c.not_after - c.not_before, 30 * 86400);
  free(r);
}

static void test_unsafe_or_malformed_san_is_bad_template(void **state) {
  struct fixture *f = *state;
  static const uint8_t wildcard[] = {0x82, 0x0a, '*', '.', 'b', 'a', 'n', 'k', '.', 'c', 'o', 'm'};
  static const uint8_t other_name[] = {0xa0, 0x03, 0x06, 0x01, 0x2a};
  static const uint8_t bad_ip[] = {0x87, 0x03, 1, 2, 3};
  static const uint8_t not_der[] = {0x82, 0x05, 'a'};
  const uint8_t *cases[] = {wildcard, other_name, bad_ip, not_der};
  size_t lens[] = {sizeof wildcard, sizeof other_name, sizeof bad_ip, sizeof not_der};
  for (size_t i = 0; i < 4; i++) {
    uint8_t exts[128];
    struct cmp_issue_request req;
    struct result *r = calloc(1, sizeof *r);
    base_request(f, &req);
    req.extensions = (struct der_view){exts, san_ext(cases[i], lens[i], exts, sizeof exts)};
    assert_int_equal(issue(f, &req, &policy, r), 0);
    assert_true(r->done);
    assert_int_equal(r->err, CG_EBAD_TEMPLATE);
    free(r);
  }
}

/* A public key outside the bounds of core/crypto.h (too small a modulus; a
 * 2048-bit exponent) is badAlg, as the engine answers it. */
static void test_a_key_outside_the_bounds_is_bad_alg(void **state) {
  struct fixture *f = *state;
  static const unsigned bits[][2] = {{CG_RSA_MIN_BITS - 8, 17}, {2048, 2048}};
  for (size_t i = 0; i < 2; i++) {
    uint8_t spki[1100];
    struct cmp_issue_request req;
    struct result *r = calloc(1, sizeof *r);
    base_request(f, &req);
    req.spki =
        (struct der_view){spki, tu_rsa_spki(bits[i][0], false, bits[i][1], spki, sizeof spki)};
    assert_int_equal(issue(f, &req, &policy, r), 0);
    assert_true(r->done);
    assert_int_equal(r->err, CG_EBAD_KEY);
    free(r);
  }
}

/* extensions contents holding the subjectAltName whose GeneralNames are
 * given whole; malloc'ed. */
static uint8_t *san_ext_of(const uint8_t *names, size_t n, size_t *len) {
  size_t cap = n + 64;
  uint8_t *out = malloc(cap);
  struct der_writer w;
  assert_non_null(out);
  cg_der_writer_init(&w, out, cap);
  size_t ext = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, CG_OID_EXT_SAN);
  cg_der_put_tlv(&w, DER_OCTET_STRING, names, n);
  cg_der_end(&w, ext);
  assert_int_equal(cg_der_writer_finish(&w, len), 0);
  return out;
}

/* What core/certbuild.h bounds: a subject of 3000 RDNs (which made the
 * certificate too large for the CA's buffer: "output buffer too small") and
 * a subjectAltName of 65 names are the requester's fault; at the limits (64
 * RDNs, 64 names in 3972 octets) a certificate is made. */
static void test_subject_and_subject_alt_name_past_their_limits_are_bad_template(void **state) {
  struct fixture *f = *state;
  struct cmp_issue_request req;
  struct result *r = calloc(1, sizeof *r);
  size_t subject_len, names_len, ext_len;
  uint8_t *subject = tu_name(3000, 4, false, &subject_len);
  base_request(f, &req);
  req.subject = (struct der_view){subject, subject_len};
  assert_int_equal(issue(f, &req, &policy, r), 0);
  assert_int_equal(r->err, CG_EBAD_TEMPLATE);
  free(subject);

  uint8_t *names = tu_dns_names(CERT_MAX_SAN_NAMES + 1, 20, &names_len);
  uint8_t *ext = san_ext_of(names, names_len, &ext_len);
  memset(r, 0, sizeof *r);
  base_request(f, &req);
  req.extensions = (struct der_view){ext, ext_len};
  assert_int_equal(issue(f, &req, &policy, r), 0);
  assert_int_equal(r->err, CG_EBAD_TEMPLATE);
  free(names);
  free(ext);

  subject = tu_name(CERT_MAX_RDNS, 4, true, &subject_len);
  names = tu_dns_names(CERT_MAX_SAN_NAMES, 60, &names_len);
  ext = san_ext_of(names, names_len, &ext_len);
  memset(r, 0, sizeof *r);
  base_request(f, &req);
  req.subject = (struct der_view){subject, subject_len};
  req.extensions = (struct der_view){ext, ext_len};
  assert_int_equal(issue(f, &req, &policy, r), 0);
  assert_int_equal(r->err, 0);
  struct cg_x509 c;
  assert_int_equal(cg_x509_parse(r->der, r->len, &c), 0);
  assert_true(cg_der_view_is(c.subject, subject, subject_len));
  free(subject);
  free(names);
  free(ext);
  free(r);
}

static void test_an_expired_ca_does_not_issue(void **state) {
  struct fixture *f = *state;
  int64_t now = (int64_t)time(NULL);
  struct cmp_issue_request req;
  struct result *r = calloc(1, sizeof *r);
  make_ca(f, now - 10 * 86400, now - 86400);
  base_request(f, &req);
  assert_int_equal(issue(f, &req, &policy, r), 0);
  assert_int_equal(r->err, CG_ECA_UNAVAILABLE);
  free(r);
  make_ca(f, now - 60, now + 2 * 365 * 86400LL);
}

/* delay = N: "waiting" until the request is N seconds old, then issued. */
static void test_delay_answers_waiting_until_the_request_is_old_enough(void **state) {
  struct fixture *f = *state;
  int64_t now = (int64_t)time(NULL);
  struct cmp_issue_request req;
  struct result *r = calloc(1, sizeof *r);
  base_request(f, &req);
  delay_setting = "3600";
  req.received_at = now;
  assert_int_equal(issue(f, &req, &policy, r), 0);
  assert_true(r->waiting);
  assert_false(r->done);
  memset(r, 0, sizeof *r);
  req.received_at = now - 3601;
  assert_int_equal(issue(f, &req, &policy, r), 0);
  assert_false(r->waiting);
  assert_int_equal(r->err, 0);
  assert_true(r->len > 0);
  memset(r, 0, sizeof *r);
  delay_setting = "soon";
  assert_int_equal(issue(f, &req, &policy, r), CG_ECONFIG);
  delay_setting = NULL;
  free(r);
}

static void test_a_key_that_is_not_the_certificates_is_refused_at_start(void **state) {
  struct fixture *f = *state;
  struct cg_key *other;
  uint8_t der[1024];
  size_t len;
  char path[128];
  assert_int_equal(cg_key_generate_ec(256, &other), 0);
  assert_int_equal(cg_key_private_pkcs8(other, der, sizeof der, &len), 0);
  cg_key_free(other);
  snprintf(path, sizeof path, "%s/ca-key.pem", f->dir);
  unlink(path);
  write_pem(path, "PRIVATE KEY", der, len);
  struct cmp_issue_request req;
  struct result *r = calloc(1, sizeof *r);
  base_request(f, &req);
  assert_int_equal(issue(f, &req, &policy, r), CG_ECONFIG);
  assert_false(r->done);
  free(r);
  int64_t now = (int64_t)time(NULL);
  make_ca(f, now - 60, now + 2 * 365 * 86400LL);
}

/* A key the backend does not know (a typo) is refused, not ignored. */
static void test_an_unknown_setting_is_refused_at_start(void **state) {
  struct fixture *f = *state;
  struct cmp_issue_request req;
  struct result *r = calloc(1, sizeof *r);
  base_request(f, &req);
  extra_key = "dealy";
  assert_int_equal(issue(f, &req, &policy, r), CG_ECONFIG);
  assert_false(r->done);
  extra_key = NULL;
  assert_int_equal(issue(f, &req, &policy, r), 0);
  assert_int_equal(r->err, 0);
  free(r);
}

/* The CA key is refused when group or others can access its file, as sshd
 * refuses such a key, unless the configuration allows it. */
static void test_a_ca_key_others_can_read_is_refused_unless_allowed(void **state) {
  struct fixture *f = *state;
  char path[128];
  snprintf(path, sizeof path, "%s/ca-key.pem", f->dir);
  assert_int_equal(chmod(path, 0644), 0);
  struct cmp_issue_request req;
  struct result *r = calloc(1, sizeof *r);
  base_request(f, &req);
  assert_int_equal(issue(f, &req, &policy, r), CG_ECONFIG);
  assert_false(r->done);
  allow_readable_keys = true;
  assert_int_equal(issue(f, &req, &policy, r), 0);
  assert_int_equal(r->err, 0);
  allow_readable_keys = false;
  assert_int_equal(chmod(path, 0600), 0);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_issues_a_certificate_by_the_profile_policy),
      cmocka_unit_test(test_key_usage_follows_the_key_type_unless_the_profile_sets_it),
      cmocka_unit_test(test_delay_answers_waiting_until_the_request_is_old_enough),
      cmocka_unit_test(test_requested_validity_may_shorten_never_lengthen),
      cmocka_unit_test(test_unsafe_or_malformed_san_is_bad_template),
      cmocka_unit_test(test_a_key_outside_the_bounds_is_bad_alg),
      cmocka_unit_test(test_subject_and_subject_alt_name_past_their_limits_are_bad_template),
      cmocka_unit_test(test_an_expired_ca_does_not_issue),
      cmocka_unit_test(test_a_key_that_is_not_the_certificates_is_refused_at_start),
      cmocka_unit_test(test_an_unknown_setting_is_refused_at_start),
      cmocka_unit_test(test_a_ca_key_others_can_read_is_refused_unless_allowed),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
