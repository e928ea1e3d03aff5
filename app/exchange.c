/*
 * exchange.c - drives one cmp_exchange per HTTP request, TCP frame or
 * approved transaction through the steps the engine asks for: store writes
 * go to the store thread, CPU work to the threadpool, issuance to the CA
 * backend, and lookups to a read connection (or the store thread); with
 * `compute` inline (one CPU) the CPU work but heavy key derivations, and the
 * lookups, run here on the loop instead.  Then the answer goes out and the
 * exchange is logged (app/gateway_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#include "app/gateway_int.h"
#include "cmp/msg.h"
#include "core/err.h"
#include "core/log.h"

/* The profile as the next exchange sees it: its backend's CA chain (and the
 * default trust anchors, its root) and announced root CA update, as the
 * backend knows them now (an upstream CA's may change while we run).  The
 * exchange keeps these views; the backend keeps every chain it gave out
 * until it is destroyed. */
const struct cmp_profile *gw_current(struct profile_rt *p) {
  p->ops->ca_certs(p->backend, &p->cmp.ca_chain, &p->cmp.n_ca_chain);
  if (p->cfg->trust_anchors[0] == 0) {
    p->cmp.trust_anchors = p->cmp.ca_chain + (p->cmp.n_ca_chain > 0 ? p->cmp.n_ca_chain - 1 : 0);
    p->cmp.n_trust_anchors = p->cmp.n_ca_chain > 0 ? 1 : 0;
  }
  if (p->root_update[0].p != NULL)
    memcpy(p->cmp.root_update, p->root_update, sizeof p->root_update);
  else if (p->ops->root_update != NULL)
    p->ops->root_update(p->backend, p->cmp.root_update);
  return &p->cmp;
}

uint32_t gw_check_after(const struct profile_rt *p) {
  return p->cfg->check_after ? p->cfg->check_after : 5;
}

/* After a burst of this many exchanges at once, the memory they held goes
 * back to the system when the gateway is idle again; glibc keeps freed heap
 * otherwise (10,000 at once: 178 MB resident afterwards, 127 MB trimmed). */
#define TRIM_AFTER_BURST 512

void gw_exchange_ended(struct gateway *gw, struct gw_conf *conf) {
  gw_conf_release(conf);
  /* the level before a decrement: its maximum is the peak */
  if (gw->inflight > gw->inflight_high)
    gw->inflight_high = gw->inflight;
  if (--gw->inflight == 0 && gw->inflight_high >= TRIM_AFTER_BURST) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    gw->inflight_high = 0;
  }
}

/* A check of the request's protection failed: what the failed-check budget
 * of the client's address counts (transports/guard.h). */
static bool failed_check(const struct cmp_exchange_info *info) {
  return info->fail_info == CG_FI_BAD_MESSAGE_CHECK || info->fail_info == CG_FI_SIGNER_NOT_TRUSTED;
}

/* Counts the exchange in the metrics, once: when its answer goes out (a
 * scrape after the client has it sees it), or when it ends unanswered. */
static void count(struct request *r, const struct cmp_exchange_info *info) {
  if (r->counted)
    return;
  r->counted = true;
  /* and a failed check counts against the client's address from then on */
  if (r->parent == NULL && !r->background && failed_check(info))
    cg_guard_failed(&r->gw->guard, &r->peer, uv_now(r->gw->loop));
  gw_metrics_exchange(r->gw->metrics, r->transport, r->profile->cfg->name, info->req_type,
                      info->dropped ? "none" : info->rsp_type, info->dropped ? -1 : info->status,
                      info->fail_info, (double)(uv_hrtime() - r->started_ns) / 1e9);
}

/* Sends the exchange's answer to whoever waits for it, once. */
static void deliver(struct request *r) {
  struct gateway *gw = r->gw;
  const uint8_t *rsp;
  size_t len;
  struct cmp_exchange_info info;
  if (r->delivered || r->background)
    return;
  r->delivered = true;
  cmp_exchange_response(r->ex, &rsp, &len);
  cmp_exchange_info(r->ex, &info);
  count(r, &info);
  if (r->parent != NULL)
    cmp_exchange_nested_done(r->parent->ex, r->index, rsp, len);
  else if (r->tcp != NULL && rsp != NULL && info.status == CMP_WAITING && r->poll_ref != 0 &&
           !gw->cfg.tcp_cmp_polling)
    /* The client is told to come back at the transport level: a TCP pollRep
     * naming the transaction, instead of the CMP waiting answer. */
    cg_tcp_respond_poll(r->tcp, r->poll_ref, gw_check_after(r->profile));
  else if (r->tcp != NULL && rsp != NULL)
    cg_tcp_respond(r->tcp, rsp, len);
  else if (r->tcp != NULL)
    cg_tcp_respond_error(r->tcp, CG_TCP_ERR_SERVER,
                         "internal error: could not build a CMP response");
  else if (r->coap != NULL && rsp != NULL)
    cg_coap_respond(r->coap, rsp, len);
  else if (r->coap != NULL)
    cg_coap_respond_error(r->coap, 500, "internal error: could not build a CMP response");
  else if (rsp != NULL)
    cg_http_respond(r->http, rsp, len);
  else
    cg_http_respond_status(r->http, 500, "internal error: could not build a CMP response\n");
  r->http = NULL; /* the transport's, and answered: gone with the answer */
  r->tcp = NULL;
  r->coap = NULL;
}

static void finish(struct request *r) {
  struct gateway *gw = r->gw;
  struct cmp_exchange_info info;
  cmp_exchange_info(r->ex, &info);
  if (r->background)
    r->gw->issuing = false; /* the next approved transaction may go */
  deliver(r);
  double ms = (double)(uv_hrtime() - r->started_ns) / 1e6;
  count(r, &info);
  /* What the peer chose (its reference, and the words of a CA passed on in
   * the detail) is quoted and escaped: it cannot forge a field or a line. */
  char ref[CG_LOG_VALUE_MAX], detail[CG_LOG_VALUE_MAX];
  cg_log_value(ref, info.ref);
  cg_log_value(detail, info.detail);
  /* The record's fields, for the JSON log (docs/operations.md, "Logs"); the
   * text line says the same. */
  char peer[CG_ADDR_TEXT] = "";
  if (r->peer.len > 0)
    cg_addr_text(&r->peer, peer);
  const char *fi = info.fail_info >= 0 ? cg_failinfo_name(info.fail_info) : NULL;
  const char *outcome = info.dropped ? "dropped" : info.rsp_type;
  struct cg_log_field f[] = {
      {"event", r->background ? "approved" : "exchange", 0},
      {"transport", gw_transport_name(r->transport), 0},
      {"peer", peer, 0},
      {"profile", r->profile->cfg->name, 0},
      {"request", info.req_type, 0},
      {"ref", info.ref, 0},
      {"txid", info.txid, 0},
      {"answer", outcome, 0},
      {"status", NULL, info.status},
      {"failinfo", fi != NULL ? fi : "", 0},
      {"detail", info.detail, 0},
      {"serial", info.serial, 0},
      {"ms", NULL, ms},
  };
  size_t nf = sizeof f / sizeof f[0];
  char where[CG_ADDR_TEXT + 32] = "";
  if (peer[0] != 0)
    snprintf(where, sizeof where, " peer=%s transport=%s", peer, gw_transport_name(r->transport));
  if (info.dropped) {
    cg_log_fields(CG_LOG_INFO, f, nf, "cmp %s profile=%s ref=%s txid=%s -> dropped: %s %.1fms%s",
                  info.req_type, r->profile->cfg->name, ref, info.txid, detail, ms, where);
  } else if (r->background) {
    bool rr = strcmp(info.req_type, "rr") == 0, done = info.serial[0] && info.fail_info < 0;
    cg_log_fields(CG_LOG_INFO, f, nf, "cmp approved %s profile=%s txid=%s -> %s%s %.1fms",
                  info.req_type, r->profile->cfg->name, info.txid,
                  done            ? (rr ? "revoked serial=" : "issued serial=")
                  : r->ca_waiting ? "still waiting at the CA"
                                  : "failed ",
                  done || r->ca_waiting ? info.serial : detail, ms);
    /* Approvals come in batches: the next one at once after a written
     * outcome (a store that fails waits for the timer rather than spin). */
    if (r->stored && !r->ca_waiting)
      gw_look_for_approved(gw);
  } else if (info.fail_info >= 0)
    /* systemFailure is the gateway's own fault: an error for the operator. */
    cg_log_fields(info.fail_info == CG_FI_SYSTEM_FAILURE ? CG_LOG_ERROR : CG_LOG_INFO, f, nf,
                  "cmp %s profile=%s ref=%s txid=%s -> %s status=%d failInfo=%d detail=%s "
                  "%.1fms%s",
                  info.req_type, r->profile->cfg->name, ref, info.txid, info.rsp_type, info.status,
                  info.fail_info, detail, ms, where);
  else
    cg_log_fields(CG_LOG_INFO, f, nf,
                  "cmp %s profile=%s ref=%s txid=%s -> %s status=%d%s%s %.1fms%s", info.req_type,
                  r->profile->cfg->name, ref, info.txid, info.rsp_type, info.status,
                  info.serial[0] ? " serial=" : "", info.serial, ms, where);
  struct request *parent = r->parent;
  struct gw_conf *conf = r->conf;
  cmp_exchange_free(r->ex);
  free(r);
  gw_exchange_ended(gw, conf);
  if (parent != NULL && --parent->children == 0)
    gw_drive(parent);
  gw_maybe_finish_stop(gw);
}

/* Starts one exchange per inner message of a nested request; the parent
 * goes on when the last one has answered. */
static void start_nested(struct request *r) {
  struct gateway *gw = r->gw;
  size_t n = cmp_exchange_nested_count(r->ex);
  r->children = n;
  for (size_t i = 0; i < n; i++) {
    struct der_view m = cmp_exchange_nested_msg(r->ex, i);
    struct request *c = calloc(1, sizeof *c);
    if (c == NULL || (c->ex = cmp_exchange_new_inner(&r->conf->server, gw_current(r->profile), r->ex,
                                                     m.p, m.len, (int64_t)time(NULL))) == NULL) {
      free(c);
      cmp_exchange_nested_done(r->ex, i, NULL, 0);
      if (--r->children == 0)
        gw_drive(r);
      continue;
    }
    c->gw = gw;
    c->profile = r->profile;
    c->peer = r->peer;
    c->parent = r;
    c->conf = gw_conf_hold(r->conf);
    c->transport = r->transport;
    c->index = i;
    c->started_ns = uv_hrtime();
    gw->inflight++;
    gw_drive(c);
  }
}

/* The client the request came from has gone away (its connection closed
 * while the request waited).  Any thread. */
static bool peer_gone(const struct request *r) {
  while (r->parent != NULL)
    r = r->parent;
  return r->http != NULL  ? cg_http_request_gone(r->http)
         : r->tcp != NULL ? cg_tcp_request_gone(r->tcp)
                          : false;
}

/* The CPU work of a step, unless it is the check of a request whose client
 * has gone: that is dropped before it starts (300 requests sent and
 * abandoned at once must not cost their key derivations after). */
static void compute(struct request *r) {
  if (peer_gone(r) && cmp_exchange_abandon(r->ex))
    return;
  cmp_exchange_compute(r->ex);
}

static void on_work_done(struct cg_work *w, int status) {
  struct request *r = w->arg;
  if (status != 0) /* cancelled: only when the loop is torn down; finish inline */
    compute(r);
  gw_drive(r);
}

static void on_work(struct cg_work *w) { compute(w->arg); }

/* ---- reads off the store thread ----------------------------------------
 * A read connection sees the last commit, not a write still queued for the
 * store thread; the store thread runs its queue in order, so a read queued
 * there sees every write queued before it.  A LOOKUP goes to a read
 * connection unless a write of its transaction or its secret reference is in
 * flight (a poll while the approved certificate is being stored, a request
 * right after a refused MAC is counted towards lockout): then it waits behind
 * that write on the store thread, as every read did before. */

static uint32_t write_slot(const char *key, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t)key[i]) * 16777619u;
  return h % WRITE_SLOTS;
}

/* Counts r's write in flight: its transaction, and the reference of a refused
 * MAC it counts towards lockout.  (A use counted against max_uses is checked
 * where it is written: a read that misses it is harmless.) */
static void write_started(struct request *r) {
  struct cg_store_op *op = &r->op;
  r->n_write_slots = 0;
  if (r->gw->writes == NULL)
    return;
  if (op->kind != CG_STORE_OP_SECRET_NOTE && op->txn.txid[0])
    r->write_slots[r->n_write_slots++] = write_slot(op->txn.txid, strlen(op->txn.txid));
  if (op->note_present && op->note.failed && op->note.reference[0])
    r->write_slots[r->n_write_slots++] = write_slot(op->note.reference, strlen(op->note.reference));
  for (size_t i = 0; i < r->n_write_slots; i++)
    r->gw->writes[r->write_slots[i]]++;
}

static void write_done(struct request *r) {
  for (size_t i = 0; i < r->n_write_slots; i++)
    r->gw->writes[r->write_slots[i]]--;
  r->n_write_slots = 0;
}

/* A write of this LOOKUP's transaction or reference is in flight (or one of
 * another key in the same slot: then it waits needlessly, never wrongly). */
static bool writes_pending(const struct gateway *gw, const struct cg_store_op *op) {
  if (gw->writes == NULL)
    return true;
  return (op->txn.txid[0] && gw->writes[write_slot(op->txn.txid, strlen(op->txn.txid))]) ||
         (op->ref_len > 0 && gw->writes[write_slot((const char *)op->ref, op->ref_len)]);
}

/* A LOOKUP's result to the engine: on the loop, or on the worker that read it. */
static void lookup_to_engine(struct request *r) {
  struct cg_store_op *op = &r->op;
  struct cmp_lookup_res res = {
      .err = op->result,
      .secret = op->secret_found ? &op->secret : NULL,
      .txn = op->txn_found ? &op->txn : NULL,
      .txn_cert = {op->cert_der, op->cert_der_len},
      .cert_found = op->serial_found,
      .cert = {op->serial_der, op->serial_der_len},
      .cert_revoked = op->serial_revoked,
      .cert_reason = op->serial_reason,
      .cert_held_by_operator = op->serial_held_by_operator,
      .cert_unconfirmed_kup = op->serial_unconfirmed_kup,
      .cert_updated = op->serial_updated,
      .cert_update_pending = op->serial_update_pending,
      .key_certified = op->key_certified,
      .key_compromised = op->key_compromised,
      .cert_auth_ref = op->serial_auth_ref,
      .revoked = op->revoked,
      .n_revoked = op->n_revoked,
  };
  cmp_exchange_lookup_done(r->ex, &res);
  cg_store_op_release(op);
}

static void on_store_done(struct cg_store_op *op) {
  struct request *r = op->arg;
  if (op->kind == CG_STORE_OP_LOOKUP) {
    lookup_to_engine(r);
  } else {
    write_done(r);
    r->stored = op->result == 0;
    if (op->kind == CG_STORE_OP_INSERT && op->result == 0)
      r->poll_ref = op->txn.poll_ref;
    cmp_exchange_store_done(r->ex, op->result);
  }
  gw_drive(r);
}

static struct cg_store *take_reader(struct gateway *gw) {
  uv_mutex_lock(&gw->readers_mu);
  struct cg_store *rd = gw->n_idle_readers ? gw->idle_readers[--gw->n_idle_readers] : NULL;
  uv_mutex_unlock(&gw->readers_mu);
  return rd;
}

static void give_reader(struct gateway *gw, struct cg_store *rd) {
  uv_mutex_lock(&gw->readers_mu);
  gw->idle_readers[gw->n_idle_readers++] = rd;
  uv_mutex_unlock(&gw->readers_mu);
}

/* On a worker: the LOOKUP, through a read connection of the pool, and the
 * check that follows it (MAC or signature, POP): one hand-over for both. */
static void on_lookup_work(struct cg_work *w) {
  struct request *r = w->arg;
  struct cg_store *rd = take_reader(r->gw);
  if (rd == NULL) {
    r->op.result = CG_ESTORE; /* more workers than connections: cannot happen */
  } else {
    cg_store_read_now(rd, &r->op);
    give_reader(r->gw, rd);
  }
  lookup_to_engine(r);
  if (cmp_exchange_step(r->ex) == CMP_STEP_COMPUTE && !cmp_exchange_compute_is_light(r->ex))
    compute(r);
}

static void on_lookup_work_done(struct cg_work *w, int status) {
  if (status != 0) /* cancelled: only when the loop is torn down; finish inline */
    on_lookup_work(w);
  gw_drive(w->arg);
}

/* A backend call of r ended (err: the answer's; CG_ECA_* and other
 * internal errors are the CA's or the way to it failing). */
static void backend_ended(struct request *r, const char *op, int err, bool waiting) {
  struct gateway *gw = r->gw;
  size_t b = r->profile->backend_index;
  bool failed = err != 0 && cg_err_class(err) != CG_CLASS_PEER;
  const char *outcome = failed ? "error" : err != 0 ? "refused" : waiting ? "waiting" : "ok";
  gw_metrics_backend(gw->metrics, gw->cfg.backends[b].name, op, outcome,
                     (double)(uv_hrtime() - r->ca_started_ns) / 1e9);
  if (failed)
    gw->backend_failed_at[b] = uv_now(gw->loop);
  else
    gw->backend_ok_at[b] = uv_now(gw->loop);
}

static void on_issued(struct ca_call *call, const struct cmp_ca_answer *a) {
  struct request *r = call->arg;
  backend_ended(r, "issue", a->err, a->waiting);
  r->ca_waiting = a->waiting;
  cmp_exchange_issue_answer(r->ex, a);
  gw_drive(r);
}

static void on_forwarded(struct ca_forward_call *call, const struct cmp_ca_answer *a) {
  struct request *r = call->arg;
  backend_ended(r, "forward", a->err, a->waiting);
  cmp_exchange_forward_answer(r->ex, a);
  gw_drive(r);
}

static void on_revoked(struct ca_revoke_call *call, const struct cmp_ca_answer *a) {
  struct request *r = call->arg;
  backend_ended(r, "revoke", a->err, a->waiting);
  r->ca_waiting = a->waiting;
  cmp_exchange_revoke_answer(r->ex, a);
  gw_drive(r);
}

static void on_crl(struct ca_crl_call *call, int err, const uint8_t *der, size_t len) {
  struct request *r = call->arg;
  backend_ended(r, "crl", err, false);
  cmp_exchange_crl_done(r->ex, err, der, len);
  gw_drive(r);
}

static void submit_store(struct request *r) {
  int err = cg_store_submit(r->gw->store, &r->op);
  if (err) {
    /* The store refuses only while stopping: fail this step like a store error. */
    r->op.result = err;
    on_store_done(&r->op);
  }
}

/* Performs what the engine needs next; returns when an asynchronous step is
 * under way or the exchange is finished. */
void gw_drive(struct request *r) {
  switch (cmp_exchange_step(r->ex)) {
  case CMP_STEP_LOOKUP: {
    struct cmp_lookup_req q;
    memset(&r->op, 0, sizeof r->op);
    r->op.kind = CG_STORE_OP_LOOKUP;
    r->op.cb = on_store_done;
    r->op.arg = r;
    cmp_exchange_lookup(r->ex, &q);
    if (q.ref != NULL && q.ref_len <= sizeof r->op.ref) {
      memcpy(r->op.ref, q.ref, q.ref_len);
      r->op.ref_len = q.ref_len;
    }
    snprintf(r->op.txn.txid, sizeof r->op.txn.txid, "%s", q.txid ? q.txid : "");
    snprintf(r->op.serial, sizeof r->op.serial, "%s", q.serial ? q.serial : "");
    snprintf(r->op.revoked_issuer, sizeof r->op.revoked_issuer, "%s",
             q.revoked_issuer ? q.revoked_issuer : "");
    snprintf(r->op.key_hash, sizeof r->op.key_hash, "%s", q.key_hash ? q.key_hash : "");
    r->op.check_key_reuse = q.check_key_reuse;
    if (writes_pending(r->gw, &r->op)) {
      submit_store(r);
      return;
    }
    if (r->gw->reader != NULL) {
      cg_store_read_now(r->gw->reader, &r->op);
      on_store_done(&r->op);
      return;
    }
    if (r->gw->n_readers > 0) {
      r->work.run = on_lookup_work;
      r->work.done = on_lookup_work_done;
      r->work.arg = r;
      if (cg_work_submit_pool(r->gw->loop, &r->work) == 0)
        return;
    }
    submit_store(r);
    return;
  }
  case CMP_STEP_COMPUTE:
    /* Inline: cheap always, and everything but a heavy key derivation when
     * the compute runs on the loop (one CPU). */
    if (cmp_exchange_compute_is_light(r->ex) ||
        (r->gw->inline_compute && !cmp_exchange_compute_is_heavy(r->ex))) {
      cmp_exchange_compute(r->ex);
      gw_drive(r);
      return;
    }
    r->work.run = on_work;
    r->work.done = on_work_done;
    r->work.arg = r;
    if (cg_work_submit_pool(r->gw->loop, &r->work) != 0) {
      cmp_exchange_compute(r->ex);
      gw_drive(r);
    }
    return;
  case CMP_STEP_ISSUE: {
    memset(&r->call, 0, sizeof r->call);
    r->call.req = cmp_exchange_issue_request(r->ex);
    r->call.policy = &r->profile->policy;
    r->call.done = on_issued;
    r->call.arg = r;
    r->ca_started_ns = uv_hrtime();
    int rc = r->profile->ops->issue(r->profile->backend, &r->call);
    if (rc < 0) {
      backend_ended(r, "issue", rc, false);
      cmp_exchange_issue_done(r->ex, rc, NULL, 0);
      gw_drive(r);
    } else if (rc == CA_WAITING) {
      backend_ended(r, "issue", 0, true);
      r->ca_waiting = true;
      cmp_exchange_issue_waiting(r->ex);
      gw_drive(r);
    }
    return;
  }
  case CMP_STEP_FORWARD: {
    memset(&r->forward_call, 0, sizeof r->forward_call);
    r->forward_call.req = cmp_exchange_forward_request(r->ex);
    r->forward_call.done = on_forwarded;
    r->forward_call.arg = r;
    r->ca_started_ns = uv_hrtime();
    int rc = r->profile->ops->forward != NULL
                 ? r->profile->ops->forward(r->profile->backend, &r->forward_call)
                 : CG_ECA_FAILURE;
    if (rc < 0) {
      struct cmp_ca_answer a = {.err = rc};
      if (r->profile->ops->forward != NULL)
        backend_ended(r, "forward", rc, false);
      cmp_exchange_forward_answer(r->ex, &a);
      gw_drive(r);
    }
    return;
  }
  case CMP_STEP_REVOKE: {
    memset(&r->revoke_call, 0, sizeof r->revoke_call);
    r->revoke_call.req = cmp_exchange_revoke_request(r->ex);
    r->revoke_call.done = on_revoked;
    r->revoke_call.arg = r;
    r->ca_started_ns = uv_hrtime();
    /* A CA without records of its own: the store's revocation is the one. */
    int rc = r->profile->ops->revoke != NULL
                 ? r->profile->ops->revoke(r->profile->backend, &r->revoke_call)
                 : 0;
    if (r->profile->ops->revoke == NULL || rc < 0) {
      struct cmp_ca_answer a = {.err = rc};
      if (r->profile->ops->revoke != NULL)
        backend_ended(r, "revoke", rc, false);
      cmp_exchange_revoke_answer(r->ex, &a);
      gw_drive(r);
    }
    return;
  }
  case CMP_STEP_NESTED:
    start_nested(r);
    return;
  case CMP_STEP_NOTE:
    memset(&r->op, 0, sizeof r->op);
    r->op.kind = CG_STORE_OP_SECRET_NOTE;
    r->op.cb = on_store_done;
    r->op.arg = r;
    r->op.note_present = true;
    r->op.note = *cmp_exchange_secret_note(r->ex);
    /* Counted as in flight before the answer goes: the client's next request
     * for this reference reads after the note (writes_pending()). */
    write_started(r);
    deliver(r);
    submit_store(r);
    return;
  case CMP_STEP_CRL: {
    memset(&r->crl_call, 0, sizeof r->crl_call);
    cmp_exchange_crl_request(r->ex, &r->crl_call.revoked, &r->crl_call.n_revoked);
    r->crl_call.done = on_crl;
    r->crl_call.arg = r;
    r->ca_started_ns = uv_hrtime();
    int rc = r->profile->ops->crl ? r->profile->ops->crl(r->profile->backend, &r->crl_call)
                                  : CG_EBAD_REQUEST;
    if (rc < 0) {
      if (r->profile->ops->crl != NULL)
        backend_ended(r, "crl", rc, false);
      cmp_exchange_crl_done(r->ex, rc, NULL, 0);
      gw_drive(r);
    }
    return;
  }
  case CMP_STEP_INSERT:
  case CMP_STEP_UPDATE: {
    const struct cmp_cert_record *cert = cmp_exchange_cert(r->ex);
    const struct cmp_revocation_record *rev = cmp_exchange_revocation(r->ex);
    memset(&r->op, 0, sizeof r->op);
    r->op.kind =
        cmp_exchange_step(r->ex) == CMP_STEP_INSERT ? CG_STORE_OP_INSERT : CG_STORE_OP_UPDATE;
    r->op.cb = on_store_done;
    r->op.arg = r;
    r->op.txn = *cmp_exchange_txn(r->ex);
    if (cert != NULL) {
      r->op.cert_present = true;
      r->op.cert = *cert;
    }
    if (rev != NULL) {
      r->op.revocation_present = true;
      r->op.revocation = *rev;
    }
    struct der_view keep = cmp_exchange_request_to_keep(r->ex);
    r->op.request_der = keep.p;
    r->op.request_der_len = keep.len;
    r->op.max_pending = r->profile->cfg->max_pending;
    r->op.max_pending_per_ref = r->profile->cfg->max_pending_per_ref;
    const struct cmp_secret_note *note = cmp_exchange_secret_note(r->ex);
    if (note != NULL && note->used) {
      r->op.note_present = true;
      r->op.note = *note;
    }
    write_started(r);
    submit_store(r);
    return;
  }
  case CMP_STEP_DONE:
    finish(r);
    return;
  }
}
