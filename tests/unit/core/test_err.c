/*
 * test_err.c - the error vocabulary (core/err.h): every CG_E* code of the
 * table has a name, a message and a class, and a PKIFailureInfo bit that
 * fits its class; peer errors and failInfo bits map onto each other both
 * ways; every bit RFC 9810 §5.2.3 defines has its ASN.1 name and no other
 * bit has one; the codes never collide with libuv's, whose errors keep
 * libuv's text and translate into codes of the table.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/err.h"

#define FIRST (CG_E__FIRST + 1)
#define LAST (CG_E__LAST - 1)

/* PKIFailureInfo, RFC 9810 §5.2.3, in bit order: written out here rather
 * than taken from the module, so that a shifted table shows. */
static const char *const rfc_names[] = {
    "badAlg",           "badMessageCheck",     "badRequest",         "badTime",
    "badCertId",        "badDataFormat",       "wrongAuthority",     "incorrectData",
    "missingTimeStamp", "badPOP",              "certRevoked",        "certConfirmed",
    "wrongIntegrity",   "badRecipientNonce",   "timeNotAvailable",   "unacceptedPolicy",
    "unacceptedExtension", "addInfoNotAvailable", "badSenderNonce",  "badCertTemplate",
    "signerNotTrusted", "transactionIdInUse",  "unsupportedVersion", "notAuthorized",
    "systemUnavail",    "systemFailure",       "duplicateCertReq",
};
#define N_BITS ((int)(sizeof rfc_names / sizeof rfc_names[0]))

static void test_every_code_has_a_name_a_message_and_a_class(void **state) {
  (void)state;
  assert_true(LAST >= FIRST);
  for (int e = FIRST; e <= LAST; e++) {
    const char *name = cg_err_name(e), *msg = cg_strerror(e);
    assert_non_null(name);
    assert_int_equal(strncmp(name, "CG_E", 4), 0);
    assert_true(strlen(name) > 4);
    assert_string_not_equal(name, "CG_E?");
    assert_non_null(msg);
    assert_true(msg[0] != 0);
    assert_string_not_equal(msg, "unknown error");
    enum cg_err_class c = cg_err_class(e);
    assert_true(c == CG_CLASS_PEER || c == CG_CLASS_TRANSPORT || c == CG_CLASS_INTERNAL);
    /* Names are unique: each one says which code it was. */
    for (int o = FIRST; o < e; o++)
      assert_string_not_equal(cg_err_name(o), name);
  }
  assert_string_equal(cg_err_name(CG_EBAD_MAC), "CG_EBAD_MAC");
  assert_string_equal(cg_strerror(CG_ETOO_BIG), "message exceeds the configured limit");
}

/* A peer error names the bit the peer is told; a transport error none (no
 * CMP answer goes out); an internal one systemFailure or systemUnavail. */
static void test_each_class_carries_the_failinfo_it_promises(void **state) {
  (void)state;
  for (int e = FIRST; e <= LAST; e++) {
    enum cg_failinfo fi = cg_err_failinfo(e);
    switch (cg_err_class(e)) {
    case CG_CLASS_PEER:
      assert_true(fi >= 0 && fi < N_BITS);
      assert_non_null(cg_failinfo_name(fi));
      break;
    case CG_CLASS_TRANSPORT:
      assert_int_equal(fi, CG_FI_NONE);
      break;
    case CG_CLASS_INTERNAL:
      assert_true(fi == CG_FI_SYSTEM_FAILURE || fi == CG_FI_SYSTEM_UNAVAIL);
      break;
    default:
      fail_msg("%s has no class", cg_err_name(e));
    }
  }
  assert_int_equal(cg_err_class(CG_EBAD_POP), CG_CLASS_PEER);
  assert_int_equal(cg_err_failinfo(CG_EBAD_POP), CG_FI_BAD_POP);
  assert_int_equal(cg_err_class(CG_ETIMEOUT), CG_CLASS_TRANSPORT);
  assert_int_equal(cg_err_class(CG_ENOMEM), CG_CLASS_INTERNAL);
  assert_int_equal(cg_err_failinfo(CG_EBUSY), CG_FI_SYSTEM_UNAVAIL);
}

static void test_success_is_its_own_class_with_no_failinfo(void **state) {
  (void)state;
  assert_string_equal(cg_err_name(CG_OK), "CG_OK");
  assert_string_equal(cg_strerror(0), "success");
  assert_int_equal(cg_err_class(0), CG_CLASS_OK);
  assert_int_equal(cg_err_failinfo(0), CG_FI_NONE);
}

/* Codes outside the table (the table's own bounds, positive numbers) are
 * internal failures reported as systemFailure. */
static void test_codes_outside_the_table_are_internal_system_failures(void **state) {
  (void)state;
  const int outside[] = {CG_E__FIRST, CG_E__LAST, 1, 42, INT_MAX};
  for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
    assert_non_null(cg_err_name(outside[i]));
    assert_int_equal(cg_err_class(outside[i]), CG_CLASS_INTERNAL);
    assert_int_equal(cg_err_failinfo(outside[i]), CG_FI_SYSTEM_FAILURE);
  }
  assert_string_equal(cg_strerror(1), "unknown error");
  assert_string_equal(cg_strerror(INT_MAX), "unknown error");
}

static void test_every_defined_failinfo_bit_has_its_rfc_name_and_none_beyond(void **state) {
  (void)state;
  for (int bit = 0; bit < N_BITS; bit++) {
    assert_non_null(cg_failinfo_name(bit));
    assert_string_equal(cg_failinfo_name(bit), rfc_names[bit]);
  }
  assert_string_equal(cg_failinfo_name(CG_FI_BAD_MESSAGE_CHECK), "badMessageCheck");
  assert_string_equal(cg_failinfo_name(CG_FI_DUPLICATE_CERT_REQ), "duplicateCertReq");
  assert_null(cg_failinfo_name(CG_FI_NONE));
  assert_null(cg_failinfo_name(N_BITS));
  assert_null(cg_failinfo_name(31));
  assert_null(cg_failinfo_name(INT_MAX));
  assert_null(cg_failinfo_name(INT_MIN));
}

/* What a CA answers comes back as an error of ours that answers with the
 * same bit: every defined bit survives the round trip. */
static void test_every_defined_bit_round_trips_through_an_error(void **state) {
  (void)state;
  for (int bit = 0; bit < N_BITS; bit++) {
    int e = cg_err_from_failinfo(bit);
    assert_true(e >= FIRST && e <= LAST);
    assert_int_equal(cg_err_failinfo(e), bit);
    if (bit != CG_FI_SYSTEM_UNAVAIL && bit != CG_FI_SYSTEM_FAILURE)
      assert_int_equal(cg_err_class(e), CG_CLASS_PEER);
  }
  /* The first peer error of the table with the bit. */
  assert_int_equal(cg_err_from_failinfo(CG_FI_BAD_DATA_FORMAT), CG_EDER);
  assert_int_equal(cg_err_from_failinfo(CG_FI_BAD_ALG), CG_EBAD_ALG);
  assert_int_equal(cg_err_from_failinfo(CG_FI_BAD_MESSAGE_CHECK), CG_EBAD_MAC);
  assert_int_equal(cg_err_from_failinfo(CG_FI_SIGNER_NOT_TRUSTED), CG_ENOT_TRUSTED);
  /* The CA's own trouble is the CA's, not ours or the device's. */
  assert_int_equal(cg_err_from_failinfo(CG_FI_SYSTEM_UNAVAIL), CG_ECA_UNAVAILABLE);
  assert_int_equal(cg_err_from_failinfo(CG_FI_SYSTEM_FAILURE), CG_ECA_FAILURE);
  /* Bits the RFC does not define. */
  assert_int_equal(cg_err_from_failinfo(CG_FI_NONE), CG_ECA_FAILURE);
  assert_int_equal(cg_err_from_failinfo(N_BITS), CG_ECA_FAILURE);
  assert_int_equal(cg_err_from_failinfo(INT_MAX), CG_ECA_FAILURE);
}

/* Every peer error, reported to a peer and read back from it, is an error
 * of the same bit (perhaps a sibling: badAlg covers CG_EBAD_ALG and
 * CG_EBAD_KEY). */
static void test_every_peer_error_round_trips_through_its_bit(void **state) {
  (void)state;
  for (int e = FIRST; e <= LAST; e++) {
    if (cg_err_class(e) != CG_CLASS_PEER)
      continue;
    enum cg_failinfo fi = cg_err_failinfo(e);
    int back = cg_err_from_failinfo(fi);
    assert_int_equal(cg_err_failinfo(back), fi);
    if (fi != CG_FI_SYSTEM_UNAVAIL) {
      assert_int_equal(cg_err_class(back), CG_CLASS_PEER);
      assert_true(back <= e); /* the first of the table with that bit */
    }
  }
}

/* libuv's codes and ours do not overlap, so one function can name both. */
static void test_no_code_is_also_a_libuv_error(void **state) {
  (void)state;
  static const int uv_codes[] = {
#define X(name, msg) UV_##name,
      UV_ERRNO_MAP(X)
#undef X
  };
  for (size_t i = 0; i < sizeof uv_codes / sizeof uv_codes[0]; i++)
    assert_false(uv_codes[i] >= (int)CG_E__FIRST && uv_codes[i] <= (int)CG_E__LAST);
}

static void test_libuv_errors_keep_libuv_text(void **state) {
  (void)state;
  assert_string_equal(cg_strerror(UV_ECONNREFUSED), "connection refused");
  assert_string_equal(cg_strerror(UV_ECONNREFUSED), uv_strerror(UV_ECONNREFUSED));
  assert_string_equal(cg_strerror(UV_EOF), uv_strerror(UV_EOF));
  assert_string_equal(cg_strerror(UV_EMFILE), uv_strerror(UV_EMFILE));
  assert_string_equal(cg_strerror(UV_EAI_NONAME), uv_strerror(UV_EAI_NONAME));
}

/* What the transports hand upwards: a code of the table for every libuv
 * error, the ones a caller acts on by name, and CG_EIO for the rest. */
static void test_every_libuv_error_becomes_a_code_of_the_table(void **state) {
  (void)state;
  static const int uv_codes[] = {
#define X(name, msg) UV_##name,
      UV_ERRNO_MAP(X)
#undef X
  };
  for (size_t i = 0; i < sizeof uv_codes / sizeof uv_codes[0]; i++) {
    int e = cg_err_from_uv(uv_codes[i]);
    assert_true(e >= FIRST && e <= LAST);
  }
  assert_int_equal(cg_err_from_uv(UV_EADDRINUSE), CG_EADDR_IN_USE);
  assert_int_equal(cg_err_from_uv(UV_EACCES), CG_EACCESS);
  assert_int_equal(cg_err_from_uv(UV_EPERM), CG_EACCESS);
  assert_int_equal(cg_err_from_uv(UV_EADDRNOTAVAIL), CG_EADDR_NOT_AVAIL);
  assert_int_equal(cg_err_from_uv(UV_ENOMEM), CG_ENOMEM);
  assert_int_equal(cg_err_from_uv(UV_ENOBUFS), CG_ENOMEM);
  assert_int_equal(cg_err_from_uv(UV_ECONNREFUSED), CG_ECONNECT);
  assert_int_equal(cg_err_from_uv(UV_ENETUNREACH), CG_ECONNECT);
  assert_int_equal(cg_err_from_uv(UV_EHOSTUNREACH), CG_ECONNECT);
  assert_int_equal(cg_err_from_uv(UV_ETIMEDOUT), CG_ETIMEOUT);
  assert_int_equal(cg_err_from_uv(UV_ECONNRESET), CG_ECLOSED);
  assert_int_equal(cg_err_from_uv(UV_EPIPE), CG_ECLOSED);
  assert_int_equal(cg_err_from_uv(UV_EOF), CG_ECLOSED);
  assert_int_equal(cg_err_from_uv(UV_EINVAL), CG_EINVAL);
  assert_int_equal(cg_err_from_uv(UV_EPROTO), CG_EIO);
  assert_int_equal(cg_err_from_uv(UV_EMFILE), CG_EIO);
}

static void test_success_and_our_own_codes_pass_through_unchanged(void **state) {
  (void)state;
  assert_int_equal(cg_err_from_uv(0), 0);
  for (int e = FIRST; e <= LAST; e++)
    assert_int_equal(cg_err_from_uv(e), e);
}

/* A negative code that is neither ours nor libuv's is "unknown error" too,
 * and naming it allocates nothing (uv_strerror() of such a code returns a
 * string it made and nobody frees: logging it would leak each time). */
static void test_a_negative_code_nobody_defines_is_unknown_and_costs_nothing(void **state) {
  (void)state;
  const int nobody[] = {CG_E__FIRST, CG_E__LAST, -1234, -5000, INT_MIN};
  for (size_t i = 0; i < sizeof nobody / sizeof nobody[0]; i++)
    for (int k = 0; k < 1000; k++)
      assert_string_equal(cg_strerror(nobody[i]), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code_has_a_name_a_message_and_a_class),
      cmocka_unit_test(test_each_class_carries_the_failinfo_it_promises),
      cmocka_unit_test(test_success_is_its_own_class_with_no_failinfo),
      cmocka_unit_test(test_codes_outside_the_table_are_internal_system_failures),
      cmocka_unit_test(test_every_defined_failinfo_bit_has_its_rfc_name_and_none_beyond),
      cmocka_unit_test(test_every_defined_bit_round_trips_through_an_error),
      cmocka_unit_test(test_every_peer_error_round_trips_through_its_bit),
      cmocka_unit_test(test_no_code_is_also_a_libuv_error),
      cmocka_unit_test(test_libuv_errors_keep_libuv_text),
      cmocka_unit_test(test_every_libuv_error_becomes_a_code_of_the_table),
      cmocka_unit_test(test_success_and_our_own_codes_pass_through_unchanged),
      cmocka_unit_test(test_a_negative_code_nobody_defines_is_unknown_and_costs_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
