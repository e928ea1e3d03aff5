/*
 * test_records.c - the transaction state machine: every (from, to) pair of
 * states against the expected transition matrix, cmp_txn_set_state() on legal
 * and illegal moves, and the state names round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/records.h"
#include "core/err.h"

enum { R, PA, PC, IS, CO, RJ, FA, EX, RV }; /* row/column order of the matrix */

/* expected[from][to]: 1 when legal (DESIGN.md, "Transactions"). */
static const int expected[CMP_TXN__COUNT][CMP_TXN__COUNT] = {
    /*             R  PA PC IS CO RJ FA EX RV */
    [R] = /*    */ {0, 1, 1, 1, 1, 1, 1, 0, 0},
    [PA] = /*   */ {0, 0, 1, 1, 0, 1, 1, 1, 0},
    [PC] = /*   */ {0, 0, 0, 1, 1, 1, 1, 1, 0}, /* -> CO: an approved rr */
    [IS] = /*   */ {0, 0, 0, 0, 1, 0, 1, 1, 1},
    [CO] = /*   */ {0, 0, 0, 0, 0, 0, 0, 0, 0},
    [RJ] = /*   */ {0, 0, 0, 0, 0, 0, 0, 0, 0},
    [FA] = /*   */ {0, 0, 0, 0, 0, 0, 0, 0, 0},
    [EX] = /*   */ {0, 0, 0, 0, 0, 0, 0, 0, 0},
    [RV] = /*   */ {0, 0, 0, 0, 0, 0, 0, 0, 0},
};

static const char *const names[CMP_TXN__COUNT] = {
    "received", "pending_approval", "pending_ca", "issued", "confirmed",
    "rejected", "failed",           "expired",    "revoked_on_reject",
};

static void test_matrix_enum_order_matches_header(void **state) {
  (void)state;
  assert_int_equal(CMP_TXN_RECEIVED, R);
  assert_int_equal(CMP_TXN_PENDING_APPROVAL, PA);
  assert_int_equal(CMP_TXN_PENDING_CA, PC);
  assert_int_equal(CMP_TXN_ISSUED, IS);
  assert_int_equal(CMP_TXN_CONFIRMED, CO);
  assert_int_equal(CMP_TXN_REJECTED, RJ);
  assert_int_equal(CMP_TXN_FAILED, FA);
  assert_int_equal(CMP_TXN_EXPIRED, EX);
  assert_int_equal(CMP_TXN_REVOKED_ON_REJECT, RV);
}

static void test_transition_ok_matches_matrix_for_every_pair(void **state) {
  (void)state;
  for (int from = 0; from < CMP_TXN__COUNT; from++)
    for (int to = 0; to < CMP_TXN__COUNT; to++) {
      bool ok = cmp_txn_transition_ok((enum cmp_txn_state)from, (enum cmp_txn_state)to);
      if (ok != (expected[from][to] != 0))
        fail_msg("%s -> %s: got %d, want %d", names[from], names[to], ok, expected[from][to]);
    }
}

static void test_set_state_applies_legal_and_refuses_illegal(void **state) {
  (void)state;
  for (int from = 0; from < CMP_TXN__COUNT; from++)
    for (int to = 0; to < CMP_TXN__COUNT; to++) {
      struct cmp_txn_record r;
      memset(&r, 0, sizeof r);
      r.state = (enum cmp_txn_state)from;
      r.prev_state = CMP_TXN_FAILED; /* a marker the call must overwrite or keep */
      int rc = cmp_txn_set_state(&r, (enum cmp_txn_state)to);
      if (expected[from][to]) {
        assert_int_equal(rc, 0);
        assert_int_equal(r.state, to);
        assert_int_equal(r.prev_state, from);
      } else {
        assert_int_equal(rc, CG_ESTATE);
        assert_int_equal(r.state, from);
        assert_int_equal(r.prev_state, CMP_TXN_FAILED);
      }
    }
}

static void test_final_states_have_no_exit(void **state) {
  (void)state;
  const int finals[] = {CO, RJ, FA, EX, RV};
  for (size_t i = 0; i < sizeof finals / sizeof finals[0]; i++)
    for (int to = 0; to < CMP_TXN__COUNT; to++)
      assert_false(cmp_txn_transition_ok((enum cmp_txn_state)finals[i], (enum cmp_txn_state)to));
}

static void test_out_of_range_states_are_refused(void **state) {
  (void)state;
  assert_false(cmp_txn_transition_ok(CMP_TXN__COUNT, CMP_TXN_FAILED));
  assert_false(cmp_txn_transition_ok(CMP_TXN_RECEIVED, CMP_TXN__COUNT));
  assert_false(cmp_txn_transition_ok((enum cmp_txn_state)-1, CMP_TXN_FAILED));
}

static void test_state_names_round_trip(void **state) {
  (void)state;
  for (int s = 0; s < CMP_TXN__COUNT; s++) {
    assert_string_equal(cmp_txn_state_name((enum cmp_txn_state)s), names[s]);
    assert_int_equal(cmp_txn_state_parse(names[s]), s);
  }
}

static void test_state_parse_rejects_unknown_names(void **state) {
  (void)state;
  assert_int_equal(cmp_txn_state_parse(""), -1);
  assert_int_equal(cmp_txn_state_parse("Received"), -1);
  assert_int_equal(cmp_txn_state_parse("issued "), -1);
  assert_int_equal(cmp_txn_state_parse("pending"), -1);
  assert_int_equal(cmp_txn_state_parse(NULL), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matrix_enum_order_matches_header),
      cmocka_unit_test(test_transition_ok_matches_matrix_for_every_pair),
      cmocka_unit_test(test_set_state_applies_legal_and_refuses_illegal),
      cmocka_unit_test(test_final_states_have_no_exit),
      cmocka_unit_test(test_out_of_range_states_are_refused),
      cmocka_unit_test(test_state_names_round_trip),
      cmocka_unit_test(test_state_parse_rejects_unknown_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
