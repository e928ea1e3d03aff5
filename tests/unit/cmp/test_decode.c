/*
 * test_decode.c - PKIMessage decoding rules pinned on small hand-built
 * messages (the vectors test covers whole real messages).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/msg.h"
#include "core/err.h"
#include "core/oid.h"

/* A pkiconf message whose header has the given sender (whole TLV) and, when
 * time is not NULL, a messageTime with that GeneralizedTime text. */
static size_t build(uint8_t *out, size_t cap, const uint8_t *sender, size_t sender_len,
                    const char *time) {
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, out, cap);
  size_t msg = cg_der_begin(&w, DER_SEQUENCE);
  size_t hdr = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, 2);
  cg_der_put_raw(&w, sender, sender_len);
  size_t rcp = cg_der_begin(&w, DER_CTX_CONS(4));
  cg_der_put_tlv(&w, DER_SEQUENCE, NULL, 0);
  cg_der_end(&w, rcp);
  if (time != NULL) {
    size_t t = cg_der_begin(&w, DER_CTX_CONS(0));
    cg_der_put_tlv(&w, DER_GENERALIZED_TIME, time, strlen(time));
    cg_der_end(&w, t);
  }
  cg_der_end(&w, hdr);
  size_t body = cg_der_begin(&w, DER_CTX_CONS(CMP_PKICONF));
  cg_der_put_null(&w);
  cg_der_end(&w, body);
  cg_der_end(&w, msg);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

static const uint8_t null_dn[] = {0xa4, 0x02, 0x30, 0x00};

/* A pkiconf message whose header's generalInfo holds one InfoTypeAndValue
 * of type oid with value (whole TLV; NULL: absent). */
static size_t build_general_info(uint8_t *out, size_t cap, enum cg_oid_id oid,
                                 const uint8_t *value, size_t value_len) {
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, out, cap);
  size_t msg = cg_der_begin(&w, DER_SEQUENCE);
  size_t hdr = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, 2);
  cg_der_put_raw(&w, null_dn, sizeof null_dn);
  cg_der_put_raw(&w, null_dn, sizeof null_dn);
  size_t gi = cg_der_begin(&w, DER_CTX_CONS(8));
  size_t seq = cg_der_begin(&w, DER_SEQUENCE);
  size_t itav = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, oid);
  if (value != NULL)
    cg_der_put_raw(&w, value, value_len);
  cg_der_end(&w, itav);
  cg_der_end(&w, seq);
  cg_der_end(&w, gi);
  cg_der_end(&w, hdr);
  size_t body = cg_der_begin(&w, DER_CTX_CONS(CMP_PKICONF));
  cg_der_put_null(&w);
  cg_der_end(&w, body);
  cg_der_end(&w, msg);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

/* An ir of one CertReqMsg with an empty template and the controls given as
 * (OID contents, UTF8String) pairs. */
static size_t build_ir_with_controls(uint8_t *out, size_t cap, const uint8_t *const *oids,
                                     const size_t *oid_lens, size_t n) {
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, out, cap);
  size_t msg = cg_der_begin(&w, DER_SEQUENCE);
  size_t hdr = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, 2);
  cg_der_put_raw(&w, null_dn, sizeof null_dn);
  cg_der_put_raw(&w, null_dn, sizeof null_dn);
  cg_der_end(&w, hdr);
  size_t body = cg_der_begin(&w, DER_CTX_CONS(CMP_IR));
  size_t reqs = cg_der_begin(&w, DER_SEQUENCE);
  size_t msgr = cg_der_begin(&w, DER_SEQUENCE);
  size_t cr = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, 0);
  cg_der_put_tlv(&w, DER_SEQUENCE, NULL, 0);
  size_t ctl = cg_der_begin(&w, DER_SEQUENCE);
  for (size_t i = 0; i < n; i++) {
    size_t atv = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_tlv(&w, DER_OID, oids[i], oid_lens[i]);
    cg_der_put_tlv(&w, DER_UTF8_STRING, "x", 1);
    cg_der_end(&w, atv);
  }
  cg_der_end(&w, ctl);
  cg_der_end(&w, cr);
  cg_der_end(&w, msgr);
  cg_der_end(&w, reqs);
  cg_der_end(&w, body);
  cg_der_end(&w, msg);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

/* RFC 4211 §6: a control given twice (authenticator here; regToken too) is
 * ambiguous: badDataFormat.  Two different ones are fine. */
static void test_a_control_given_twice_is_refused(void **state) {
  (void)state;
  static const uint8_t authenticator[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x05, 0x01, 0x02},
                       reg_token[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x05, 0x01, 0x01};
  const uint8_t *twice[] = {authenticator, authenticator}, *two[] = {authenticator, reg_token};
  const size_t lens[] = {sizeof authenticator, sizeof reg_token};
  const size_t same_lens[] = {sizeof authenticator, sizeof authenticator};
  uint8_t buf[512];
  struct cmp_msg m;
  size_t len = build_ir_with_controls(buf, sizeof buf, two, lens, 2);
  assert_int_equal(cmp_msg_decode(buf, len, &m), 0);
  assert_int_equal(m.u.cert_req.req[0].n_controls, 2);
  len = build_ir_with_controls(buf, sizeof buf, twice, same_lens, 2);
  assert_int_equal(cmp_msg_decode(buf, len, &m), CG_EBAD_DATA);
}

/* RFC 9810 §5.1.1.1 ImplicitConfirmValue ::= NULL; §5.1.1.2
 * ConfirmWaitTimeValue ::= GeneralizedTime.  Another value is badDataFormat. */
static void test_general_info_values_are_checked(void **state) {
  (void)state;
  static const uint8_t null[] = {0x05, 0x00}, integer[] = {0x02, 0x01, 0x00},
                       gtime[] = {0x18, 0x0f, '2', '0', '2', '6', '0', '1', '0', '1',
                                  '1', '2', '0', '0', '0', '0', 'Z'},
                       utime[] = {0x17, 0x0d, '2', '6', '0', '1', '0', '1', '1',
                                  '2', '0', '0', '0', '0', 'Z'};
  uint8_t buf[256];
  struct cmp_msg m;
  size_t len = build_general_info(buf, sizeof buf, CG_OID_IMPLICIT_CONFIRM, null, sizeof null);
  assert_int_equal(cmp_msg_decode(buf, len, &m), 0);
  assert_true(m.hdr.implicit_confirm);
  len = build_general_info(buf, sizeof buf, CG_OID_IMPLICIT_CONFIRM, NULL, 0);
  assert_int_equal(cmp_msg_decode(buf, len, &m), 0); /* absent: tolerated */
  assert_true(m.hdr.implicit_confirm);
  len = build_general_info(buf, sizeof buf, CG_OID_IMPLICIT_CONFIRM, integer, sizeof integer);
  assert_int_equal(cmp_msg_decode(buf, len, &m), CG_EBAD_DATA);
  len = build_general_info(buf, sizeof buf, CG_OID_CONFIRM_WAIT_TIME, gtime, sizeof gtime);
  assert_int_equal(cmp_msg_decode(buf, len, &m), 0);
  len = build_general_info(buf, sizeof buf, CG_OID_CONFIRM_WAIT_TIME, utime, sizeof utime);
  assert_int_equal(cmp_msg_decode(buf, len, &m), CG_EBAD_DATA);
  len = build_general_info(buf, sizeof buf, CG_OID_CONFIRM_WAIT_TIME, NULL, 0);
  assert_int_equal(cmp_msg_decode(buf, len, &m), CG_EBAD_DATA);
}

static void test_message_time_with_fractional_seconds_is_accepted(void **state) {
  (void)state;
  uint8_t buf[256];
  struct cmp_msg m;
  size_t len = build(buf, sizeof buf, null_dn, sizeof null_dn, "20250101120000.123Z");
  assert_int_equal(cmp_msg_decode(buf, len, &m), 0);
  assert_true(m.hdr.has_message_time);
  assert_int_equal(m.hdr.message_time, 1735732800); /* 2025-01-01T12:00:00Z */
  len = build(buf, sizeof buf, null_dn, sizeof null_dn, "20250101120000Z");
  assert_int_equal(cmp_msg_decode(buf, len, &m), 0);
  assert_int_equal(m.hdr.message_time, 1735732800);
}

static void test_message_time_that_is_not_der_is_refused(void **state) {
  (void)state;
  static const char *const bad[] = {
      "20250101120000.120Z", /* X.690 §11.7.3: no trailing zero */
      "20250101120000.Z",    /* a mark without digits */
      "20250101120000,5Z",   /* ',' is not the DER mark */
      "20250101120000.5",    /* no Z */
      "202501011200Z",       /* no seconds */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint8_t buf[256];
    struct cmp_msg m;
    size_t len = build(buf, sizeof buf, null_dn, sizeof null_dn, bad[i]);
    assert_int_not_equal(cmp_msg_decode(buf, len, &m), 0);
    assert_false(m.header_ok);
  }
}

static void test_general_name_forms_are_checked(void **state) {
  (void)state;
  uint8_t buf[256];
  struct cmp_msg m;
  /* directoryName must be constructed; dNSName primitive. */
  static const uint8_t prim_dir[] = {0x84, 0x00};
  static const uint8_t cons_dns[] = {0xa2, 0x00};
  static const uint8_t dns[] = {0x82, 0x01, 'a'};
  static const uint8_t registered_id_9[] = {0x89, 0x01, 0x00};
  size_t len = build(buf, sizeof buf, prim_dir, sizeof prim_dir, NULL);
  assert_int_not_equal(cmp_msg_decode(buf, len, &m), 0);
  len = build(buf, sizeof buf, cons_dns, sizeof cons_dns, NULL);
  assert_int_not_equal(cmp_msg_decode(buf, len, &m), 0);
  len = build(buf, sizeof buf, registered_id_9, sizeof registered_id_9, NULL);
  assert_int_not_equal(cmp_msg_decode(buf, len, &m), 0);
  len = build(buf, sizeof buf, dns, sizeof dns, NULL);
  assert_int_equal(cmp_msg_decode(buf, len, &m), 0);
  assert_null(m.hdr.sender_dn.p);
  len = build(buf, sizeof buf, null_dn, sizeof null_dn, NULL);
  assert_int_equal(cmp_msg_decode(buf, len, &m), 0);
  assert_int_equal(m.hdr.sender_dn.len, 2);
  assert_int_equal(m.type, CMP_PKICONF);
  assert_true(m.header_ok);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_message_time_with_fractional_seconds_is_accepted),
      cmocka_unit_test(test_message_time_that_is_not_der_is_refused),
      cmocka_unit_test(test_general_name_forms_are_checked),
      cmocka_unit_test(test_general_info_values_are_checked),
      cmocka_unit_test(test_a_control_given_twice_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
