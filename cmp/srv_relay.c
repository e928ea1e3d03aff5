/*
 * srv_relay.c - profiles whose CA's answers go to the device as they are
 * (cmp_profile.relay: a backend that forwards the device's messages
 * unchanged, RFC 9483 §5.2.1).
 *
 * The gateway still checks everything it checks elsewhere (authentication,
 * policy, transaction, nonces, certHash) and records every transaction;
 * what changes is who answers.  The request goes to the CA unchanged
 * (ISSUE, REVOKE), and so do the device's certConf and its pollReqs while
 * the CA holds the request (FORWARD); the CA's answer is sent back as it
 * is, so the transaction's nonces are the device's and the CA's: the row
 * keeps the CA's last senderNonce, which the device echoes next.  The
 * gateway answers itself only where it refuses first, or when the CA gave
 * no answer it can pass on.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "cmp/server_int.h"
#include "core/err.h"

void cmp_srv_relay_take(struct cmp_exchange *ex, const struct cmp_ca_answer *a) {
  if (!ex->prof->relay || a->answer.p == NULL || a->answer.len == 0)
    return;
  uint8_t *copy = cg_arena_dup(ex->arena, a->answer.p, a->answer.len);
  struct cmp_msg m;
  if (copy == NULL || cmp_msg_decode(copy, a->answer.len, &m) != 0 || !m.header_ok) {
    /* The backend checked it; one that does not decode here is not sent. */
    return;
  }
  ex->relayed = (struct der_view){copy, a->answer.len};
  /* The device's next message echoes the CA's nonce, not one of ours. */
  const struct der_view n = m.hdr.sender_nonce;
  if (n.p != NULL && n.len <= CMP_MAX_NONCE)
    cg_hex(n.p, n.len, ex->txn.sender_nonce);
}

bool cmp_srv_relay_forward(struct cmp_exchange *ex) {
  if (!ex->prof->relay)
    return false;
  struct cmp_forward_request *f = &ex->forward;
  f->profile = ex->profile;
  f->type = ex->msg.type;
  int rt = -1;
  static const struct {
    const char *name;
    int type;
  } types[] = {{"ir", CMP_IR}, {"cr", CMP_CR}, {"kur", CMP_KUR}, {"p10cr", CMP_P10CR},
               {"rr", CMP_RR}};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (!strcmp(ex->txn.req_type, types[i].name))
      rt = types[i].type;
  f->request_type = rt;
  f->message = (struct der_view){ex->req, ex->req_len};
  if (ex->mac_ok)
    f->secret = (struct der_view){ex->secret_plain, ex->secret_len};
  cmp_srv_set_phase(ex, PH_FORWARD);
  return true;
}

const struct cmp_forward_request *cmp_exchange_forward_request(const struct cmp_exchange *ex) {
  return &ex->forward;
}

void cmp_exchange_forward_answer(struct cmp_exchange *ex, const struct cmp_ca_answer *a) {
  assert(ex->phase == PH_FORWARD);
  if (ex->phase != PH_FORWARD)
    return;
  struct cmp_txn_record *t = &ex->txn;
  if (a->err) {
    /* The CA refused the certConf or the pollReq (or could not be asked):
     * the transaction stays as it is; the device hears the CA's answer
     * when there is one. */
    cmp_srv_fail(ex, a->err, a->detail != NULL && a->detail[0] ? a->detail : cg_strerror(a->err));
    cmp_srv_relay_take(ex, a);
    return;
  }
  if (ex->msg.type == CMP_CERTCONF) {
    /* pkiConf: cmp_srv_verify_cert_conf() prepared the row's change. */
    cmp_srv_relay_take(ex, a);
    cmp_srv_set_phase(ex, PH_UPDATE);
    return;
  }
  /* A pollReq: the CA still holds the request (its pollRep), or the
   * certificate came. */
  if (a->waiting) {
    t->prev_state = t->state;
    t->updated_at = ex->now;
    cmp_srv_relay_take(ex, a);
    cmp_srv_set_phase(ex, PH_UPDATE);
    return;
  }
  if (a->cert.p == NULL || !cmp_srv_take_cert(ex, a->cert.p, a->cert.len))
    return;
  t->updated_at = ex->now;
  struct cmp_msg m;
  bool implicit = a->answer.p != NULL && cmp_msg_decode(a->answer.p, a->answer.len, &m) == 0 &&
                  m.hdr.implicit_confirm;
  if (cmp_txn_set_state(t, implicit ? CMP_TXN_CONFIRMED : CMP_TXN_ISSUED)) {
    cmp_srv_fail(ex, CG_ESTATE, "illegal state change");
    return;
  }
  cmp_srv_relay_take(ex, a);
  cmp_srv_set_phase(ex, PH_UPDATE);
}
