/*
 * fuzz_client_response.c - libFuzzer target for the answers the client
 * engine (cmp/client_txn.h) parses: what `cmpgw client` and the upstream CMP
 * backend take from a server.  The first octet picks the transaction (ir,
 * rr, genm, a resumed poll, a forwarded message) and whether the answer is
 * taken as it is or, when it decodes, rewritten to name our transaction and
 * nonce with its protection unchecked, so that the fuzzer reaches the bodies
 * past the header checks.  The same answer is fed for every message the
 * transaction sends; it must end, and every result it gives must be sound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/client.h"
#include "cmp/client_txn.h"
#include "cmp/encode.h"
#include "cmp/msg.h"
#include "core/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t txid[16] = "fuzz-transaction";
static const uint8_t secret[] = "fuzz secret";

/* The answer for the message in flight: data as it is, or rewritten to
 * name our transaction and the message's nonce. */
static uint8_t *answer_for(struct cmp_client_txn *t, const uint8_t *data, size_t size, bool patch,
                           size_t *len) {
  uint8_t *out = malloc(size + 256);
  if (out == NULL)
    return NULL;
  memcpy(out, data, size);
  *len = size;
  struct cmp_msg m, sent;
  const uint8_t *msg;
  size_t msg_len;
  cmp_client_txn_message(t, &msg, &msg_len);
  if (!patch || cmp_msg_decode(data, size, &m) != 0 || cmp_msg_decode(msg, msg_len, &sent) != 0)
    return out;
  m.hdr.transaction_id = sent.hdr.transaction_id;
  m.hdr.recip_nonce = sent.hdr.sender_nonce;
  struct der_writer w;
  cg_der_writer_init(&w, out, size + 256);
  if (cmp_msg_encode(&m, &w) || cg_der_writer_finish(&w, len))
    memcpy(out, data, *len = size);
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint8_t mode = data[0];
  data++;
  size--;
  bool patch = mode & 0x80;
  struct cmp_client_cfg cfg = {
      .cred = {.secret = secret,
               .secret_len = sizeof secret - 1,
               .ref = (const uint8_t *)"fuzz",
               .ref_len = 4,
               .iterations = 100,
               .owf = CG_HASH_SHA256,
               .mac = CG_HASH_SHA256},
      .implicit_confirm = mode & 0x40,
      .poll_max_s = mode & 0x20 ? 60 : 0,
      .max_iterations = 1000, /* keep each input cheap */
      .unchecked = patch,
  };
  /* A body is only sent, never checked by the engine: any will do. */
  static const uint8_t body[] = {0xa0, 0x02, 0x30, 0x00};
  static const uint8_t forward[] = {
      0x30, 0x39, 0x30, 0x33, 0x02, 0x01, 0x02, 0xa4, 0x02, 0x30, 0x00, 0xa4, 0x02, 0x30,
      0x00, 0xa4, 0x12, 0x04, 0x10, 'f', 'u', 'z', 'z', '-', 't', 'r', 'a', 'n',
      's', 'a', 'c', 't', 'i', 'o', 'n', 0xa5, 0x12, 0x04, 0x10, 'n', 'o', 'n',
      'c', 'e', '-', 'o', 'f', '-', 'f', 'u', 'z', 'z', '!', '!', '!', 0xa0,
      0x02, 0x30, 0x00};
  static const int types[] = {CMP_IR, CMP_P10CR, CMP_RR, CMP_GENM};
  struct cmp_client_txn *t = NULL;
  int kind = mode & 7;
  if (kind < 4) {
    struct cmp_client_req req = {.type = types[kind],
                                 .body = {body, sizeof body},
                                 .cert_req_id = kind == 0 ? 0 : -1,
                                 .transaction_id = {txid, sizeof txid}};
    if (cmp_client_txn_new(&cfg, &req, 1700000000, &t))
      return 0;
  } else if (kind < 6) {
    struct cmp_client_pending p = {.type = kind == 4 ? CMP_IR : CMP_RR,
                                   .cert_req_id = kind == 4 ? 0 : -1,
                                   .txid_len = sizeof txid,
                                   .nonce_len = 16};
    memcpy(p.txid, txid, sizeof txid);
    memset(p.nonce, 7, 16);
    if (cmp_client_txn_resume(&cfg, &p, 1700000000, &t))
      return 0;
  } else {
    struct cmp_client_req req = {.type = CMP_IR, .message = {forward, sizeof forward}};
    if (cmp_client_txn_new(&cfg, &req, 1700000000, &t))
      abort(); /* the message above has a readable header */
  }
  for (int steps = 0; steps < 32; steps++) {
    enum cmp_client_step s = cmp_client_txn_step(t);
    if (s == CMP_CLIENT_DONE)
      break;
    if (s == CMP_CLIENT_COMPUTE) {
      cmp_client_txn_compute(t);
    } else if (s == CMP_CLIENT_WAIT) {
      cmp_client_txn_wake(t, 1700000000 + (int64_t)cmp_client_txn_wait(t));
    } else {
      size_t len;
      uint8_t *a = answer_for(t, data, size, patch, &len);
      if (a == NULL)
        break;
      cmp_client_txn_received(t, a, len, 1700000000);
      free(a);
    }
  }
  struct cmp_client_result r;
  cmp_client_txn_result(t, &r);
  /* Whatever the outcome, what it reports holds together. */
  if (cmp_client_txn_step(t) == CMP_CLIENT_DONE) {
    if (r.outcome == CMP_CLIENT_OK && (r.err != 0 || r.detail != NULL))
      abort();
    if (r.outcome != CMP_CLIENT_OK && r.outcome != CMP_CLIENT_WAITING &&
        (r.err == 0 || r.detail == NULL))
      abort();
    struct cg_x509 x;
    if (r.cert.p != NULL && cg_x509_parse(r.cert.p, r.cert.len, &x) != 0)
      abort();
    struct cmp_client_pending p;
    int perr = cmp_client_txn_pending(t, &p);
    if (r.outcome == CMP_CLIENT_WAITING ? perr != 0 || p.nonce_len == 0 : perr == 0)
      abort();
  }
  cmp_client_txn_free(t);
  return 0;
}
