/*
 * srv_nested.c - nested messages (RFC 9810 §5.1.3.4, RFC 9483 §5.2.2): an RA
 * in front of the gateway batches requests into one PKIMessage it signs.
 * The outer signature must chain to the profile's nested_trust_anchors; each
 * inner message is then a request of its own, with its own protection, and
 * the answers go back nested, signed with the RA key.
 *
 *   NestedMessageContent ::= PKIMessages
 *   PKIMessages ::= SEQUENCE SIZE (1..MAX) OF PKIMessage
 */
#include "cmp/server_int.h"
#include "core/err.h"

static int read_nested(struct cmp_exchange *ex) {
  struct der_reader top, seq;
  struct der_tlv t;
  if (ex->auth != AUTH_SIG) {
    ex->detail = "a nested message must be signed by an RA";
    return CG_EWRONG_INTEGRITY;
  }
  if (ex->prof->n_nested_anchors == 0) {
    ex->detail = "nested messages are not accepted for this profile";
    return CG_ENOT_AUTHORIZED;
  }
  cg_der_reader_view(&top, ex->msg.content);
  if (cg_der_enter(&top, DER_SEQUENCE, &seq) || cg_der_at_end(&seq)) {
    ex->detail = "the nested content is malformed";
    return CG_EBAD_DATA;
  }
  while (!cg_der_at_end(&seq)) {
    if (ex->n_inner == CMP_MAX_REQS) {
      ex->detail = "too many nested messages";
      return CG_EBAD_REQUEST;
    }
    if (cg_der_expect(&seq, DER_SEQUENCE, &t)) {
      ex->detail = "the nested content is malformed";
      return CG_EBAD_DATA;
    }
    ex->inner[ex->n_inner++] = t.raw;
  }
  return cg_der_leave(&top, &seq) ? CG_EBAD_DATA : 0;
}

static void verify_nested(struct cmp_exchange *ex) {
  ex->rsp_type = CMP_NESTED;
  ex->status = CMP_ACCEPTED;
  cmp_srv_set_phase(ex, PH_NESTED);
}

static void write_nested_body(struct cmp_exchange *ex, struct der_writer *w) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_NESTED));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < ex->n_inner; i++)
    if (ex->inner_rsp[i].p != NULL)
      cg_der_put_raw(w, ex->inner_rsp[i].p, ex->inner_rsp[i].len);
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

const struct cmp_srv_kind cmp_srv_nested_kinds[] = {
    {CMP_BIT(CMP_NESTED), CMP_BIT(CMP_NESTED), read_nested, verify_nested, write_nested_body},
    {0},
};
