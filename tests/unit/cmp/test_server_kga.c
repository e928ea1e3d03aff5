/*
 * test_server_kga.c - central key generation (RFC 9483 §4.1.6) in the
 * engine: a request without a public key gets a key pair made for it, the
 * certificate of that key, and the private key in an EnvelopedData for the
 * requester (the envelope's contents are opened by `openssl cms` in
 * tests/interop/test_kga.sh); and the requests it refuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_support.h"

static void raw_body(struct der_writer *w, const void *arg) {
  const struct der_view *b = arg;
  cg_der_put_raw(w, b->p, b->len);
}

static void kga_on(struct cmp_profile *p, enum cg_key_type type, unsigned bits) {
  p->kga_type = type;
  p->kga_bits = bits;
  p->kga_iterations = 1000;
}

/* An ir asking for a key of the given type (CG_KEY_NONE: no public key at
 * all), sent for profile; the answer decoded into rsp. */
static struct cmp_exchange *send_central(struct client *c, const char *profile,
                                         enum cg_key_type hint, unsigned bits,
                                         struct cmp_msg *rsp) {
  uint8_t body[4096], req[8192];
  size_t body_len, len;
  assert_int_equal(cmp_client_central_req_body(CMP_IR, 0,
                                               (struct der_view){F->dev_name, F->dev_name_len},
                                               hint, bits, (struct der_view){NULL, 0},
                                               c->hdr.reg_token, body, sizeof body, &body_len),
                   0);
  struct der_view b = {body, body_len};
  assert_int_equal(cmp_client_message(&c->mac, &c->hdr, raw_body, &b, req, sizeof req, &len), 0);
  struct cmp_exchange *ex = run(profile, req, len);
  decode_response(ex, c, rsp);
  return ex;
}

/* The certificate's key type and size. */
static void cert_key(struct der_view cert, enum cg_key_type *type, unsigned *bits) {
  struct cg_x509 x;
  const char *why;
  assert_int_equal(cg_x509_parse(cert.p, cert.len, &x), 0);
  assert_int_equal(cg_key_check_spki_size(x.spki.p, x.spki.len, type, bits, &why), 0);
}

/* privateKey [0] EncryptedKey: envelopedData [0] IMPLICIT EnvelopedData;
 * returns the tag of its one RecipientInfo and the EnvelopedData version. */
static unsigned envelope_recipient(struct der_view private_key, uint64_t *version) {
  struct der_reader r, pk, env, set;
  struct der_tlv t;
  cg_der_reader_view(&r, private_key);
  assert_int_equal(cg_der_enter(&r, DER_CTX_CONS(0), &pk), 0);
  assert_int_equal(cg_der_enter(&pk, DER_CTX_CONS(0), &env), 0);
  assert_true(cg_der_at_end(&pk));
  assert_int_equal(cg_der_expect(&env, DER_INTEGER, &t), 0);
  assert_int_equal(cg_der_get_uint64(t.val, version), 0);
  assert_int_equal(cg_der_enter(&env, DER_SET, &set), 0);
  assert_int_equal(cg_der_next(&set, &t), 0);
  assert_true(cg_der_at_end(&set)); /* one recipient */
  unsigned tag = t.tag;
  /* encryptedContentInfo: id-signedData under aes256-CBC */
  struct der_reader eci;
  assert_int_equal(cg_der_enter(&env, DER_SEQUENCE, &eci), 0);
  assert_int_equal(cg_der_expect(&eci, DER_OID, &t), 0);
  assert_true(cg_der_view_eq(t.val, cg_oid(CG_OID_CMS_SIGNED_DATA)));
  assert_true(cg_der_at_end(&env));
  return tag;
}

static void test_a_mac_protected_ir_without_a_key_gets_one_sealed_with_its_secret(void **state) {
  (void)state;
  kga_on(&F->prof_default, CG_KEY_EC, 256);
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = send_central(&c, "default", CG_KEY_NONE, 0, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  const struct cmp_cert_response *cr = &rsp.u.cert_rep.rsp[0];
  assert_int_equal(cr->status.status, CMP_ACCEPTED);
  assert_non_null(cr->cert.p);
  enum cg_key_type type;
  unsigned bits;
  cert_key(cr->cert, &type, &bits);
  assert_int_equal(type, CG_KEY_EC);
  assert_int_equal(bits, 256);
  /* a key of its own, not the device's */
  struct cg_x509 x;
  uint8_t dev_spki[256];
  size_t dev_spki_len;
  assert_int_equal(cg_x509_parse(cr->cert.p, cr->cert.len, &x), 0);
  assert_int_equal(cg_key_spki(F->dev_key, dev_spki, sizeof dev_spki, &dev_spki_len), 0);
  assert_false(cg_der_view_is(x.spki, dev_spki, dev_spki_len));
  /* PasswordRecipientInfo [3]; EnvelopedData version 3 (RFC 5652 §6.1) */
  uint64_t version;
  assert_non_null(cr->private_key.p);
  assert_int_equal(envelope_recipient(cr->private_key, &version), DER_CTX_CONS(3));
  assert_int_equal(version, 3);
  assert_int_equal(F->issued, 1);
  cmp_exchange_free(ex);
}

static void test_the_key_type_named_in_the_template_is_the_one_made(void **state) {
  (void)state;
  kga_on(&F->prof_default, CG_KEY_EC, 256);
  static const struct {
    enum cg_key_type type;
    unsigned bits;
  } asked[] = {{CG_KEY_EC, 384}, {CG_KEY_RSA, 2048}, {CG_KEY_ED25519, 256}};
  for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
    struct client c;
    struct cmp_msg rsp;
    client_init(&c, REF, SECRET);
    struct cmp_exchange *ex = send_central(&c, "default", asked[i].type, asked[i].bits, &rsp);
    assert_int_equal(rsp.type, CMP_IP);
    assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
    enum cg_key_type type;
    unsigned bits;
    cert_key(rsp.u.cert_rep.rsp[0].cert, &type, &bits);
    assert_int_equal(type, asked[i].type);
    assert_int_equal(bits, asked[i].bits);
    assert_non_null(rsp.u.cert_rep.rsp[0].private_key.p);
    cmp_exchange_free(ex);
  }
}

static void test_a_signed_ir_gets_the_key_for_its_certificates_key(void **state) {
  (void)state;
  /* the device's certificate (EC) first, with the MAC */
  struct client c;
  struct cmp_msg ip;
  struct cmp_exchange *ex;
  uint8_t cert[2048];
  client_init(&c, REF, SECRET);
  enrol(&c, &ip, &ex);
  assert_int_equal(ip.type, CMP_IP);
  size_t cert_len = ip.u.cert_rep.rsp[0].cert.len;
  memcpy(cert, ip.u.cert_rep.rsp[0].cert.p, cert_len);
  cmp_exchange_free(ex);

  kga_on(&F->prof_default, CG_KEY_RSA, 2048);
  struct cmp_msg rsp;
  client_init(&c, "", "");
  c.mac.key = F->dev_key;
  c.mac.cert = (struct der_view){cert, cert_len};
  ex = send_central(&c, "default", CG_KEY_NONE, 0, &rsp);
  assert_int_equal(rsp.type, CMP_IP);
  assert_int_equal(rsp.u.cert_rep.rsp[0].status.status, CMP_ACCEPTED);
  assert_signed_by_ra(&rsp);
  enum cg_key_type type;
  unsigned bits;
  cert_key(rsp.u.cert_rep.rsp[0].cert, &type, &bits);
  assert_int_equal(type, CG_KEY_RSA); /* the profile's, whatever the device's is */
  /* KeyAgreeRecipientInfo [1] for the device's EC key; version 2 */
  uint64_t version;
  assert_int_equal(envelope_recipient(rsp.u.cert_rep.rsp[0].private_key, &version),
                   DER_CTX_CONS(1));
  assert_int_equal(version, 2);
  cmp_exchange_free(ex);
}

static void test_central_key_generation_off_is_bad_cert_template(void **state) {
  (void)state;
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = send_central(&c, "default", CG_KEY_NONE, 0, &rsp);
  assert_rejected_in(&rsp, CMP_IP, CG_FI_BAD_CERT_TEMPLATE);
  char text[256];
  status_text(&rsp, text, sizeof text);
  assert_non_null(strstr(text, "central_keygen = off"));
  assert_null(rsp.u.cert_rep.rsp[0].private_key.p);
  assert_int_equal(F->issued, 0);
  cmp_exchange_free(ex);
}

static void test_a_key_type_the_profile_does_not_certify_is_bad_cert_template(void **state) {
  (void)state;
  kga_on(&F->prof_default, CG_KEY_RSA, 2048);
  F->prof_default.key_types = CMP_KEYT_RSA;
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = send_central(&c, "default", CG_KEY_EC, 384, &rsp);
  assert_rejected_in(&rsp, CMP_IP, CG_FI_BAD_CERT_TEMPLATE);
  assert_int_equal(F->issued, 0);
  cmp_exchange_free(ex);
}

static void test_a_request_that_waits_for_approval_cannot_have_a_central_key(void **state) {
  (void)state;
  kga_on(&F->prof_manual, CG_KEY_EC, 256);
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = send_central(&c, "manual", CG_KEY_NONE, 0, &rsp);
  assert_rejected_in(&rsp, CMP_IP, CG_FI_BAD_CERT_TEMPLATE);
  assert_int_equal(F->n_txns, 0);
  cmp_exchange_free(ex);
}

static void test_a_ca_that_holds_the_request_fails_it_rather_than_lose_the_key(void **state) {
  (void)state;
  kga_on(&F->prof_default, CG_KEY_EC, 256);
  F->ca_waits = true;
  struct client c;
  struct cmp_msg rsp;
  client_init(&c, REF, SECRET);
  struct cmp_exchange *ex = send_central(&c, "default", CG_KEY_NONE, 0, &rsp);
  assert_false(rsp.type == CMP_IP && rsp.u.cert_rep.rsp[0].status.status == CMP_WAITING);
  const struct cmp_status_info *st = refusal_status(&rsp);
  assert_int_equal(st->status, CMP_REJECTION);
  cmp_exchange_free(ex);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_a_mac_protected_ir_without_a_key_gets_one_sealed_with_its_secret, setup, teardown),
      cmocka_unit_test_setup_teardown(test_the_key_type_named_in_the_template_is_the_one_made,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_signed_ir_gets_the_key_for_its_certificates_key,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_central_key_generation_off_is_bad_cert_template, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_a_key_type_the_profile_does_not_certify_is_bad_cert_template, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_a_request_that_waits_for_approval_cannot_have_a_central_key, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_a_ca_that_holds_the_request_fails_it_rather_than_lose_the_key, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
