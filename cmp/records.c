/*
 * records.c - the transaction state machine of cmp/records.h: the names the
 * states carry in the store, and the one table of legal transitions that
 * cmp_txn_set_state() enforces.
 *
 * The machine (docs/store.md, "Transaction states"):
 *
 *   received -> pending_approval | pending_ca | issued | rejected | failed
 *   pending_approval -> pending_ca | issued | rejected | failed | expired
 *   pending_ca -> issued | rejected | failed | expired
 *   issued -> confirmed | revoked_on_reject | expired | failed
 *
 * confirmed, rejected, failed, expired and revoked_on_reject are final: no
 * transition leaves them.  A state never transitions to itself; an update that
 * keeps the state (a new nonce after a pollReq) does not go through here.
 */
#include "cmp/records.h"

#include <string.h>

#include "core/err.h"

static const char *const state_names[CMP_TXN__COUNT] = {
    [CMP_TXN_RECEIVED] = "received",
    [CMP_TXN_PENDING_APPROVAL] = "pending_approval",
    [CMP_TXN_PENDING_CA] = "pending_ca",
    [CMP_TXN_ISSUED] = "issued",
    [CMP_TXN_CONFIRMED] = "confirmed",
    [CMP_TXN_REJECTED] = "rejected",
    [CMP_TXN_FAILED] = "failed",
    [CMP_TXN_EXPIRED] = "expired",
    [CMP_TXN_REVOKED_ON_REJECT] = "revoked_on_reject",
};

#define BIT(s) (1u << (s))

/* For each state, the set of states it may move to. */
static const unsigned legal_next[CMP_TXN__COUNT] = {
    /* received -> confirmed: a transaction that completes with one answer
     * (implicit confirmation, revocation); pending_ca -> confirmed: an
     * approved revocation, written in the background. */
    [CMP_TXN_RECEIVED] = BIT(CMP_TXN_PENDING_APPROVAL) | BIT(CMP_TXN_PENDING_CA) |
                         BIT(CMP_TXN_ISSUED) | BIT(CMP_TXN_CONFIRMED) | BIT(CMP_TXN_REJECTED) |
                         BIT(CMP_TXN_FAILED),
    [CMP_TXN_PENDING_APPROVAL] = BIT(CMP_TXN_PENDING_CA) | BIT(CMP_TXN_ISSUED) |
                                 BIT(CMP_TXN_REJECTED) | BIT(CMP_TXN_FAILED) |
                                 BIT(CMP_TXN_EXPIRED),
    [CMP_TXN_PENDING_CA] = BIT(CMP_TXN_ISSUED) | BIT(CMP_TXN_CONFIRMED) |
                           BIT(CMP_TXN_REJECTED) | BIT(CMP_TXN_FAILED) | BIT(CMP_TXN_EXPIRED),
    [CMP_TXN_ISSUED] = BIT(CMP_TXN_CONFIRMED) | BIT(CMP_TXN_REVOKED_ON_REJECT) |
                       BIT(CMP_TXN_EXPIRED) | BIT(CMP_TXN_FAILED),
    /* The final states map to the empty set. */
};

static bool state_valid(enum cmp_txn_state s) {
  return (unsigned)s < (unsigned)CMP_TXN__COUNT;
}

const char *cmp_txn_state_name(enum cmp_txn_state s) {
  return state_valid(s) ? state_names[s] : "unknown";
}

int cmp_txn_state_parse(const char *s) {
  if (s == NULL)
    return -1;
  for (int i = 0; i < CMP_TXN__COUNT; i++)
    if (strcmp(s, state_names[i]) == 0)
      return i;
  return -1;
}

bool cmp_txn_transition_ok(enum cmp_txn_state from, enum cmp_txn_state to) {
  if (!state_valid(from) || !state_valid(to))
    return false;
  return (legal_next[from] & BIT(to)) != 0;
}

int cmp_txn_set_state(struct cmp_txn_record *r, enum cmp_txn_state to) {
  if (!cmp_txn_transition_ok(r->state, to))
    return CG_ESTATE;
  r->prev_state = r->state;
  r->state = to;
  return 0;
}
