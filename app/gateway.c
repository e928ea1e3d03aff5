/*
 * gateway.c - drives one cmp_exchange per HTTP request or TCP frame through
 * the steps the engine asks for: store writes go to the store thread, CPU
 * work to the threadpool, issuance to the CA backend, and lookups to the store
 * thread too; with `compute` inline (one CPU) the CPU work but heavy key
 * derivations, and the lookups, run here on the loop instead.
 */
#include "app/gateway.h"

#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "app/keycheck.h"
#include "app/route.h"
#include "app/setup.h"
#include "ca_backends/backend.h"
#include "cmp/msg.h"
#include "cmp/server.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "core/work.h"
#include "store/store.h"
#include "transports/admission.h"
#include "transports/guard.h"
#include "transports/http.h"
#include "transports/listen.h"
#include "transports/tcp.h"

#define MAX_ANCHORS 8

struct profile_rt {
  const struct cg_config_profile *cfg;
  struct cmp_profile cmp;
  uint8_t *anchor_der[MAX_ANCHORS]; /* trust anchors read from files */
  struct der_view anchors[MAX_ANCHORS];
  uint8_t *nested_der[MAX_ANCHORS];
  struct der_view nested[MAX_ANCHORS];
  struct ca_policy policy;
  const struct ca_backend_ops *ops;
  void *backend;
};

#define MAX_READERS 64 /* read connections for the threadpool's workers, at most */
/* Slots of the table of writes in flight (see writes_pending()). */
#define WRITE_SLOTS 65536

struct gateway {
  uv_loop_t *loop;
  struct cg_config cfg;
  struct app_ra ra;
  uint8_t master_key[32];
  struct cmp_server_cfg server;
  struct cg_store *store;
  struct cg_store *reader; /* compute inline: LOOKUPs read on the loop thread */
  bool inline_compute;     /* compute steps on the loop (but heavy ones) */
  /* threadpool: a read connection per worker, so that a LOOKUP and the
   * check after it are one job */
  struct cg_store *readers[MAX_READERS], *idle_readers[MAX_READERS];
  size_t n_readers, n_idle_readers;
  uv_mutex_t readers_mu;
  /* Writes handed to the store thread and not yet done, counted by a hash of
   * the transactionID and of the secret reference they write. */
  uint16_t *writes;
  bool store_running;
  struct cg_http_server *http;
  struct cg_tcp_server *tcp;           /* NULL: no raw TCP listener */
  struct cg_admission *admission;      /* the listeners' shared limits */
  struct guard guard;                  /* failed checks per client address */
  /* every 10 s: refusals since the last look are logged, the guard swept */
  uv_timer_t watch;
  struct cg_admission_stats seen;
  uint64_t seen_guard_refused;
  /* stopping: the deadline after which open connections are closed; its
   * own allocation, freed when its handle is closed (which may come after
   * the gateway is gone) */
  uv_timer_t *drain;
  struct profile_rt *tcp_profile;
  size_t n_backends;
  const struct ca_backend_ops *backend_ops[CG_MAX_BACKENDS];
  void *backend_state[CG_MAX_BACKENDS];
  struct profile_rt profiles[CG_MAX_PROFILES];
  size_t n_profiles;
  unsigned inflight;
  unsigned inflight_high; /* highest inflight since the last trim */
  bool stopping, http_closed, tcp_closed;
  /* approved transactions are issued one at a time, found by a timer */
  uv_timer_t approvals;
  bool issuing;
  struct cg_store_op approvals_op;
  /* transactions that waited too long expire, checked by a slower timer */
  uv_timer_t expiry;
  struct cg_store_op expire_ops[CG_MAX_PROFILES];
  bool expiring[CG_MAX_PROFILES];
  void (*on_stopped)(void *);
  void *stopped_arg;
};

/* One CMP exchange arriving over HTTP or raw TCP. */
struct request {
  struct gateway *gw;
  struct cg_http_request *http;
  struct cg_tcp_request *tcp;
  struct profile_rt *profile;
  struct cmp_exchange *ex;
  uint64_t started_ns;
  struct cg_work work;
  struct cg_store_op op;
  struct ca_call call;
  struct ca_revoke_call revoke_call;
  struct ca_forward_call forward_call;
  struct ca_crl_call crl_call;
  struct cg_addr peer; /* the client's, as the limits count it; len 0: none */
  /* issuing an approved transaction: nobody waits for an answer */
  bool background;
  bool delivered;  /* the answer went out (before the refusal note, say) */
  bool stored;     /* the last store write succeeded */
  uint32_t poll_ref; /* the transaction's raw TCP polling reference, 0 when none */
  bool ca_waiting; /* the CA answered "waiting" */
  uint32_t write_slots[2]; /* the slots a write in flight counts in */
  size_t n_write_slots;
  /* nested: an inner request answers its parent, not the peer */
  struct request *parent;
  size_t index;
  size_t children; /* inner requests still running */
};

static void drive(struct request *r);
static void maybe_finish_stop(struct gateway *gw);

/* The profile as the next exchange sees it: its backend's CA chain (and the
 * default trust anchors, its root) and announced root CA update, as the
 * backend knows them now (an upstream CA's may change while we run).  The
 * exchange keeps these views; the backend keeps every chain it gave out
 * until it is destroyed. */
static const struct cmp_profile *current(struct profile_rt *p) {
  p->ops->ca_certs(p->backend, &p->cmp.ca_chain, &p->cmp.n_ca_chain);
  if (p->cfg->trust_anchors[0] == 0) {
    p->cmp.trust_anchors =
        p->cmp.ca_chain + (p->cmp.n_ca_chain > 0 ? p->cmp.n_ca_chain - 1 : 0);
    p->cmp.n_trust_anchors = p->cmp.n_ca_chain > 0 ? 1 : 0;
  }
  if (p->ops->root_update != NULL)
    p->ops->root_update(p->backend, p->cmp.root_update);
  return &p->cmp;
}
static void look_for_approved(struct gateway *gw);

static uint32_t check_after(const struct profile_rt *p) {
  return p->cfg->check_after ? p->cfg->check_after : 5;
}

/* After a burst of this many exchanges at once, the memory they held goes
 * back to the system when the gateway is idle again; glibc keeps freed heap
 * otherwise (10,000 at once: 178 MB resident afterwards, 127 MB trimmed). */
#define TRIM_AFTER_BURST 512

static void exchange_ended(struct gateway *gw) {
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
  if (r->parent != NULL)
    cmp_exchange_nested_done(r->parent->ex, r->index, rsp, len);
  else if (r->tcp != NULL && rsp != NULL && info.status == CMP_WAITING && r->poll_ref != 0 &&
           !gw->cfg.tcp_cmp_polling)
    /* The client is told to come back at the transport level: a TCP pollRep
     * naming the transaction, instead of the CMP waiting answer. */
    cg_tcp_respond_poll(r->tcp, r->poll_ref, check_after(r->profile));
  else if (r->tcp != NULL && rsp != NULL)
    cg_tcp_respond(r->tcp, rsp, len);
  else if (r->tcp != NULL)
    cg_tcp_respond_error(r->tcp, CG_TCP_ERR_SERVER, "internal error: could not build a CMP response");
  else if (rsp != NULL)
    cg_http_respond(r->http, rsp, len);
  else
    cg_http_respond_status(r->http, 500, "internal error: could not build a CMP response\n");
  r->http = NULL; /* the transport's, and answered: gone with the answer */
  r->tcp = NULL;
}

static void finish(struct request *r) {
  struct gateway *gw = r->gw;
  struct cmp_exchange_info info;
  cmp_exchange_info(r->ex, &info);
  if (r->background)
    r->gw->issuing = false; /* the next approved transaction may go */
  deliver(r);
  double ms = (double)(uv_hrtime() - r->started_ns) / 1e6;
  /* What the peer chose (its reference, and the words of a CA passed on in
   * the detail) is quoted and escaped: it cannot forge a field or a line. */
  char ref[CG_LOG_VALUE_MAX], detail[CG_LOG_VALUE_MAX];
  cg_log_value(ref, info.ref);
  cg_log_value(detail, info.detail);
  if (r->parent == NULL && !r->background && failed_check(&info))
    guard_failed(&gw->guard, &r->peer, uv_now(gw->loop));
  if (info.dropped) {
    cg_info("cmp %s profile=%s ref=%s txid=%s -> dropped: %s %.1fms", info.req_type,
            r->profile->cfg->name, ref, info.txid, detail, ms);
  } else if (r->background) {
    bool rr = strcmp(info.req_type, "rr") == 0, done = info.serial[0] && info.fail_info < 0;
    cg_info("cmp approved %s profile=%s txid=%s -> %s%s %.1fms", info.req_type,
            r->profile->cfg->name, info.txid,
            done ? (rr ? "revoked serial=" : "issued serial=")
            : r->ca_waiting ? "still waiting at the CA" : "failed ",
            done || r->ca_waiting ? info.serial : detail, ms);
    /* Approvals come in batches: the next one at once after a written
     * outcome (a store that fails waits for the timer rather than spin). */
    if (r->stored && !r->ca_waiting)
      look_for_approved(gw);
  }
  else if (info.fail_info >= 0)
    /* systemFailure is the gateway's own fault: an error for the operator. */
    cg_log(info.fail_info == CG_FI_SYSTEM_FAILURE ? CG_LOG_ERROR : CG_LOG_INFO,
           "cmp %s profile=%s ref=%s txid=%s -> %s status=%d failInfo=%d detail=%s %.1fms",
            info.req_type, r->profile->cfg->name, ref, info.txid, info.rsp_type, info.status,
            info.fail_info, detail, ms);
  else
    cg_info("cmp %s profile=%s ref=%s txid=%s -> %s status=%d%s%s %.1fms", info.req_type,
            r->profile->cfg->name, ref, info.txid, info.rsp_type, info.status,
            info.serial[0] ? " serial=" : "", info.serial, ms);
  struct request *parent = r->parent;
  cmp_exchange_free(r->ex);
  free(r);
  exchange_ended(gw);
  if (parent != NULL && --parent->children == 0)
    drive(parent);
  maybe_finish_stop(gw);
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
    if (c == NULL || (c->ex = cmp_exchange_new(&gw->server, current(r->profile), m.p, m.len,
                                               (int64_t)time(NULL))) == NULL) {
      free(c);
      cmp_exchange_nested_done(r->ex, i, NULL, 0);
      if (--r->children == 0)
        drive(r);
      continue;
    }
    c->gw = gw;
    c->profile = r->profile;
    c->peer = r->peer;
    c->parent = r;
    c->index = i;
    c->started_ns = uv_hrtime();
    gw->inflight++;
    drive(c);
  }
}

/* The client the request came from has gone away (its connection closed
 * while the request waited).  Any thread. */
static bool peer_gone(const struct request *r) {
  while (r->parent != NULL)
    r = r->parent;
  return r->http != NULL ? cg_http_request_gone(r->http)
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
  drive(r);
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
    r->write_slots[r->n_write_slots++] =
        write_slot(op->note.reference, strlen(op->note.reference));
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
  drive(r);
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
  drive(w->arg);
}

static void on_issued(struct ca_call *call, const struct cmp_ca_answer *a) {
  struct request *r = call->arg;
  r->ca_waiting = a->waiting;
  cmp_exchange_issue_answer(r->ex, a);
  drive(r);
}

static void on_forwarded(struct ca_forward_call *call, const struct cmp_ca_answer *a) {
  struct request *r = call->arg;
  cmp_exchange_forward_answer(r->ex, a);
  drive(r);
}

static void on_revoked(struct ca_revoke_call *call, const struct cmp_ca_answer *a) {
  struct request *r = call->arg;
  r->ca_waiting = a->waiting;
  cmp_exchange_revoke_answer(r->ex, a);
  drive(r);
}

static void on_crl(struct ca_crl_call *call, int err, const uint8_t *der, size_t len) {
  struct request *r = call->arg;
  cmp_exchange_crl_done(r->ex, err, der, len);
  drive(r);
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
static void drive(struct request *r) {
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
      drive(r);
      return;
    }
    r->work.run = on_work;
    r->work.done = on_work_done;
    r->work.arg = r;
    if (cg_work_submit_pool(r->gw->loop, &r->work) != 0) {
      cmp_exchange_compute(r->ex);
      drive(r);
    }
    return;
  case CMP_STEP_ISSUE: {
    memset(&r->call, 0, sizeof r->call);
    r->call.req = cmp_exchange_issue_request(r->ex);
    r->call.policy = &r->profile->policy;
    r->call.done = on_issued;
    r->call.arg = r;
    int rc = r->profile->ops->issue(r->profile->backend, &r->call);
    if (rc < 0) {
      cmp_exchange_issue_done(r->ex, rc, NULL, 0);
      drive(r);
    } else if (rc == CA_WAITING) {
      r->ca_waiting = true;
      cmp_exchange_issue_waiting(r->ex);
      drive(r);
    }
    return;
  }
  case CMP_STEP_FORWARD: {
    memset(&r->forward_call, 0, sizeof r->forward_call);
    r->forward_call.req = cmp_exchange_forward_request(r->ex);
    r->forward_call.done = on_forwarded;
    r->forward_call.arg = r;
    int rc = r->profile->ops->forward != NULL
                 ? r->profile->ops->forward(r->profile->backend, &r->forward_call)
                 : CG_ECA_FAILURE;
    if (rc < 0) {
      struct cmp_ca_answer a = {.err = rc};
      cmp_exchange_forward_answer(r->ex, &a);
      drive(r);
    }
    return;
  }
  case CMP_STEP_REVOKE: {
    memset(&r->revoke_call, 0, sizeof r->revoke_call);
    r->revoke_call.req = cmp_exchange_revoke_request(r->ex);
    r->revoke_call.done = on_revoked;
    r->revoke_call.arg = r;
    /* A CA without records of its own: the store's revocation is the one. */
    int rc = r->profile->ops->revoke != NULL
                 ? r->profile->ops->revoke(r->profile->backend, &r->revoke_call)
                 : 0;
    if (r->profile->ops->revoke == NULL || rc < 0) {
      struct cmp_ca_answer a = {.err = rc};
      cmp_exchange_revoke_answer(r->ex, &a);
      drive(r);
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
    int rc = r->profile->ops->crl ? r->profile->ops->crl(r->profile->backend, &r->crl_call)
                                  : CG_EBAD_REQUEST;
    if (rc < 0) {
      cmp_exchange_crl_done(r->ex, rc, NULL, 0);
      drive(r);
    }
    return;
  }
  case CMP_STEP_INSERT:
  case CMP_STEP_UPDATE: {
    const struct cmp_cert_record *cert = cmp_exchange_cert(r->ex);
    const struct cmp_revocation_record *rev = cmp_exchange_revocation(r->ex);
    memset(&r->op, 0, sizeof r->op);
    r->op.kind = cmp_exchange_step(r->ex) == CMP_STEP_INSERT ? CG_STORE_OP_INSERT
                                                               : CG_STORE_OP_UPDATE;
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

static struct profile_rt *profile_named(struct gateway *gw, const char *name, size_t n) {
  int i = app_profile_index(&gw->cfg, name, n);
  return i >= 0 ? &gw->profiles[i] : NULL;
}

static void on_http_request(void *arg, struct cg_http_request *req, const char *path,
                            const uint8_t *body, size_t len) {
  struct gateway *gw = arg;
  uint32_t bodies;
  int index = app_route(&gw->cfg, path, &bodies);
  if (index < 0) {
    char text[2048];
    app_route_help(&gw->cfg, path, text, sizeof text);
    cg_http_respond_status(req, 404, text);
    return;
  }
  struct profile_rt *p = &gw->profiles[index];
  if (gw->stopping) {
    cg_http_respond_status(req, 503, "shutting down\n");
    return;
  }
  unsigned retry;
  if (!guard_admits(&gw->guard, cg_http_request_peer(req), uv_now(gw->loop), &retry)) {
    cg_http_respond_retry(req, 503, retry,
                          "too many failed checks from this address; try again later\n");
    return;
  }
  struct request *r = calloc(1, sizeof *r);
  if (r == NULL || (r->ex = cmp_exchange_new(&gw->server, current(p), body, len,
                                             (int64_t)time(NULL))) == NULL) {
    free(r);
    cg_http_respond_status(req, 503, "out of memory\n");
    return;
  }
  cmp_exchange_restrict(r->ex, bodies);
  r->gw = gw;
  r->http = req;
  r->peer = *cg_http_request_peer(req);
  r->profile = p;
  r->started_ns = uv_hrtime();
  gw->inflight++;
  drive(r);
}

static struct profile_rt *profile_by_name(struct gateway *gw, const char *name);

/* The transaction of a TCP pollReq was read: still waiting, another TCP
 * pollRep; otherwise its kept request is answered again from the stored
 * outcome (cmp_exchange_new_replay(): the certificate, the rp or the
 * rejection), nothing written. */
/* A TCP pollReq answered without the engine: the request is done. */
static void poll_answered(struct request *r) {
  struct gateway *gw = r->gw;
  free(r);
  exchange_ended(gw);
  maybe_finish_stop(gw);
}

static void on_poll_ref(struct cg_store_op *op) {
  struct request *r = op->arg;
  struct gateway *gw = r->gw;
  struct profile_rt *p = op->result == 0 && op->txn_found ? profile_by_name(gw, op->txn.profile)
                                                          : NULL;
  if (p == NULL || op->request_out == NULL || gw->stopping) {
    const char *why = op->result != 0   ? "store unavailable"
                      : !op->txn_found  ? "unknown polling reference"
                      : gw->stopping    ? "shutting down"
                                        : "the transaction cannot be answered";
    unsigned code = op->result == 0 && !op->txn_found ? CG_TCP_ERR_CLIENT : CG_TCP_ERR_SERVER;
    cg_store_op_release(op);
    cg_tcp_respond_error(r->tcp, code, why);
    poll_answered(r);
    return;
  }
  if (op->txn.state == CMP_TXN_PENDING_APPROVAL || op->txn.state == CMP_TXN_PENDING_CA) {
    cg_info("tcp pollReq ref=%08x txid=%s -> pollRep (%s)", r->poll_ref, op->txn.txid,
            cmp_txn_state_name(op->txn.state));
    cg_store_op_release(op);
    cg_tcp_respond_poll(r->tcp, r->poll_ref, check_after(p));
    poll_answered(r);
    return;
  }
  r->ex = cmp_exchange_new_replay(&gw->server, current(p), op->request_out, op->request_der_len,
                                  (int64_t)time(NULL));
  cg_store_op_release(op);
  if (r->ex == NULL) {
    cg_tcp_respond_error(r->tcp, CG_TCP_ERR_SERVER, "out of memory");
    poll_answered(r);
    return;
  }
  r->profile = p;
  drive(r);
}

/* A TCP pollReq: the transaction is found by its polling reference. */
static void tcp_poll(struct gateway *gw, struct cg_tcp_request *req, uint32_t ref) {
  struct request *r = calloc(1, sizeof *r);
  if (r == NULL) {
    cg_tcp_respond_error(req, CG_TCP_ERR_SERVER, "out of memory");
    return;
  }
  r->gw = gw;
  r->tcp = req;
  r->poll_ref = ref;
  r->started_ns = uv_hrtime();
  r->op.kind = CG_STORE_OP_BY_POLL_REF;
  r->op.cb = on_poll_ref;
  r->op.arg = r;
  r->op.txn.poll_ref = ref;
  gw->inflight++;
  if (cg_store_submit(gw->store, &r->op) != 0) {
    r->op.result = CG_ESTORE;
    on_poll_ref(&r->op);
  }
}

/* A frame from the raw TCP listener: a PKIMessage goes to the engine like
 * an HTTP body, for the profile [server] tcp_profile names. */
static void on_tcp_request(void *arg, struct cg_tcp_request *req, const struct cg_tcp_frame *f) {
  struct gateway *gw = arg;
  if (gw->stopping) {
    cg_tcp_respond_error(req, CG_TCP_ERR_SERVER, "shutting down");
    return;
  }
  if (f->is_poll) {
    tcp_poll(gw, req, f->poll_ref);
    return;
  }
  unsigned retry;
  if (!guard_admits(&gw->guard, cg_tcp_request_peer(req), uv_now(gw->loop), &retry)) {
    char text[96];
    snprintf(text, sizeof text, "too many failed checks from this address; try again in %u s",
             retry);
    cg_tcp_respond_error(req, CG_TCP_ERR_SERVER, text);
    return;
  }
  struct profile_rt *p = gw->tcp_profile;
  struct request *r = calloc(1, sizeof *r);
  if (r == NULL ||
      (r->ex = cmp_exchange_new(&gw->server, current(p), f->msg, f->len, (int64_t)time(NULL))) == NULL) {
    free(r);
    cg_tcp_respond_error(req, CG_TCP_ERR_SERVER, "out of memory");
    return;
  }
  r->gw = gw;
  r->tcp = req;
  r->peer = *cg_tcp_request_peer(req);
  r->profile = p;
  r->started_ns = uv_hrtime();
  gw->inflight++;
  drive(r);
}

/* Reads the PEM bundle of trust anchors that key of a profile names (a file
 * relative to the configuration) into der/views. */
static int load_pem_certs(struct gateway *gw, const char *profile, const char *key,
                          const char *file, uint8_t **der, struct der_view *views, size_t *n) {
  char path[CG_PATH_MAX], section[CG_NAME_MAX + 9];
  uint8_t *text;
  size_t len;
  snprintf(section, sizeof section, "profile %s", profile);
  int err = cg_config_resolve(&gw->cfg, file, path, sizeof path);
  if (err == 0)
    err = cg_read_file(path, &text, &len);
  if (err)
    return cg_config_error(&gw->cfg, section, key, "cannot read %s: %s", path,
                           cg_file_strerror(err));
  err = cg_x509_pem_bundle((const char *)text, len, der, views, MAX_ANCHORS, n);
  free(text);
  if (err || *n == 0)
    return cg_config_error(&gw->cfg, section, key, "%s holds no usable certificate", path);
  return 0;
}

/* ---- approved transactions ---------------------------------------------- */

static struct profile_rt *profile_by_name(struct gateway *gw, const char *name) {
  return profile_named(gw, name, strlen(name));
}

static void on_orphan_failed(struct cg_store_op *op) {
  struct gateway *gw = op->arg;
  if (op->result != 0)
    cg_warn("approved transaction %s: cannot mark it failed: %s", op->txn.txid,
            cg_strerror(op->result));
  gw->issuing = false;
}

/* An approved transaction of a profile no longer configured cannot be
 * issued: it fails (the device learns it at its next poll) instead of
 * blocking the queue. */
static void fail_orphan(struct gateway *gw, struct cg_store_op *op) {
  struct cmp_txn_record t = op->txn;
  cg_store_op_release(op);
  cg_warn("approved transaction %s: profile %s is not configured; it fails", t.txid, t.profile);
  t.failinfo = CG_FI_SYSTEM_UNAVAIL;
  t.updated_at = (int64_t)time(NULL);
  memset(op, 0, sizeof *op);
  op->kind = CG_STORE_OP_UPDATE;
  op->cb = on_orphan_failed;
  op->arg = gw;
  op->txn = t;
  if (cmp_txn_set_state(&op->txn, CMP_TXN_FAILED) != 0 || cg_store_submit(gw->store, op) != 0)
    gw->issuing = false;
}

static void on_next_approved(struct cg_store_op *op) {
  struct gateway *gw = op->arg;
  struct profile_rt *p = op->result == 0 && op->txn_found ? profile_by_name(gw, op->txn.profile)
                                                          : NULL;
  if (op->result == 0 && op->txn_found && p == NULL && !gw->stopping) {
    fail_orphan(gw, op);
    return;
  }
  struct request *r = p && !gw->stopping ? calloc(1, sizeof *r) : NULL;
  if (r != NULL)
    r->ex = cmp_exchange_new_approved(&gw->server, current(p), &op->txn, op->request_out,
                                      op->request_der_len, (int64_t)time(NULL));
  cg_store_op_release(op);
  if (r == NULL || r->ex == NULL) {
    free(r);
    gw->issuing = false;
    return;
  }
  r->gw = gw;
  r->profile = p;
  r->background = true;
  r->started_ns = uv_hrtime();
  gw->inflight++;
  drive(r);
}

/* Every second: is there an approved transaction to issue?  (Approvals are
 * written by `cmpgw approve` into the database; the daemon finds them here,
 * issues at once, and the device gets the certificate at its next poll.) */
static void on_approvals_timer(uv_timer_t *t) { look_for_approved(t->data); }

static void look_for_approved(struct gateway *gw) {
  if (gw->issuing || gw->stopping)
    return;
  memset(&gw->approvals_op, 0, sizeof gw->approvals_op);
  gw->approvals_op.kind = CG_STORE_OP_NEXT_APPROVED;
  gw->approvals_op.now = (int64_t)time(NULL);
  gw->approvals_op.cb = on_next_approved;
  gw->approvals_op.arg = gw;
  gw->issuing = true;
  if (cg_store_submit(gw->store, &gw->approvals_op) != 0)
    gw->issuing = false;
}

static void on_expired(struct cg_store_op *op) {
  struct gateway *gw = op->arg;
  size_t i = (size_t)(op - gw->expire_ops);
  gw->expiring[i] = false;
  if (op->result != 0)
    cg_warn("expiry of profile %s failed: %s", op->expire_profile, cg_strerror(op->result));
  else if (op->expired > 0)
    cg_info("expired %d transaction(s) of profile %s (pending_lifetime / confirm_wait)",
            op->expired, op->expire_profile);
}

/* Pending requests past the profile's pending_lifetime, and certificates not
 * confirmed within confirm_wait, expire (RFC 9483 §4.4, RFC 9810 §5.3.18). */
static void on_expiry_timer(uv_timer_t *t) {
  struct gateway *gw = t->data;
  int64_t now = (int64_t)time(NULL);
  for (size_t i = 0; i < gw->n_profiles && !gw->stopping; i++) {
    const struct cg_config_profile *pc = gw->profiles[i].cfg;
    struct cg_store_op *op = &gw->expire_ops[i];
    if (gw->expiring[i])
      continue;
    memset(op, 0, sizeof *op);
    op->kind = CG_STORE_OP_EXPIRE;
    op->cb = on_expired;
    op->arg = gw;
    snprintf(op->expire_profile, sizeof op->expire_profile, "%s", pc->name);
    op->expire_pending_before = now - pc->pending_lifetime;
    op->expire_issued_before = now - pc->confirm_wait;
    op->expire_now = now;
    gw->expiring[i] = cg_store_submit(gw->store, op) == 0;
  }
}

_Static_assert((int)CG_SAN_DNS == (int)CMP_SAN_DNS && (int)CG_SAN_IP == (int)CMP_SAN_IP &&
                   (int)CG_SAN_URI == (int)CMP_SAN_URI && (int)CG_SAN_EMAIL == (int)CMP_SAN_EMAIL &&
                   (int)CG_SAN_DIRNAME == (int)CMP_SAN_DIRNAME,
               "the configuration's san_types bits are the engine's");

static int start_backends(struct gateway *gw) {
  const struct cg_config *cfg = &gw->cfg;
  for (size_t i = 0; i < cfg->n_backends; i++) {
    const struct cg_config_backend *b = &cfg->backends[i];
    const struct ca_backend_ops *ops = ca_backend_find(b->type);
    if (ops == NULL || ops->abi != CA_BACKEND_ABI) {
      char section[CG_NAME_MAX + 9];
      snprintf(section, sizeof section, "backend %s", b->name);
      return cg_config_error(cfg, section, "type", "\"%s\" is not local or cmp", b->type);
    }
    void *state = calloc(1, ops->state_size);
    if (state == NULL)
      return CG_ENOMEM;
    struct ca_settings s = {.get = cg_config_backend_get,
                            .ctx = b,
                            .key = cg_config_backend_key,
                            .base_dir = cfg->dir,
                            .name = b->name,
                            .ra_key = gw->ra.key,
                            .ra_chain = gw->ra.chain,
                            .n_ra_chain = gw->ra.n_chain,
                            .config = cfg,
                            .allow_readable_keys = cfg->allow_readable_keys};
    int err = ops->init(state, gw->loop, &s);
    if (err) {
      ops->destroy(state); /* init may have loaded part of its state */
      free(state);
      cg_error("backend %s: cannot start", b->name);
      return err;
    }
    gw->backend_ops[gw->n_backends] = ops;
    gw->backend_state[gw->n_backends++] = state;
  }
  for (size_t i = 0; i < cfg->n_profiles; i++) {
    const struct cg_config_profile *pc = &cfg->profiles[i];
    struct profile_rt *p = &gw->profiles[gw->n_profiles++];
    p->cfg = pc;
    p->policy.validity_days = pc->validity_days;
    p->policy.eku_client_auth = pc->eku_client_auth;
    p->policy.eku_server_auth = pc->eku_server_auth;
    p->policy.copy_san = pc->copy_san;
    for (size_t j = 0; j < cfg->n_backends; j++)
      if (!strcmp(cfg->backends[j].name, pc->backend)) {
        p->ops = gw->backend_ops[j];
        p->backend = gw->backend_state[j];
      }
    p->cmp.name = pc->name;
    p->cmp.allow_mac = pc->allow_mac;
    p->cmp.allow_sig = pc->allow_sig;
    p->cmp.implicit_confirm = pc->implicit_confirm;
    p->cmp.allow_ra_verified = pc->ra_verified;
    p->cmp.challenge = (enum cmp_challenge)pc->challenge;
    p->cmp.manual_approval = pc->manual_approval;
    p->cmp.manual_revocation = pc->manual_revocation;
    p->cmp.on_behalf = pc->on_behalf;
    p->cmp.san_types = pc->san_types; /* CG_SAN_* and CMP_SAN_* are the same bits */
    p->cmp.subject_pattern = pc->subject_pattern;
    p->cmp.san_patterns = pc->san_patterns;
    p->cmp.kur_new_identity = pc->kur_new_identity;
    p->cmp.relay = p->ops->relays != NULL && p->ops->relays(p->backend);
    if (p->cmp.relay && (pc->manual_approval || pc->manual_revocation)) {
      /* The CA's answers go to the device as they are, with the nonces of
       * the device's messages: one answer to a request approved later has
       * nobody to go to. */
      char section[CG_NAME_MAX + 9];
      snprintf(section, sizeof section, "profile %s", pc->name);
      return cg_config_error(cfg, section,
                             pc->manual_approval ? "approval" : "revocation_approval",
                             "manual does not go with a backend that relays (backend %s has "
                             "protection = passthrough)", pc->backend);
    }
    p->cmp.check_after = pc->check_after;
    if (pc->nested_trust_anchors[0] != 0) {
      int err = load_pem_certs(gw, pc->name, "nested_trust_anchors", pc->nested_trust_anchors,
                               p->nested_der, p->nested, &p->cmp.n_nested_anchors);
      if (err)
        return err;
      p->cmp.nested_anchors = p->nested;
    }
    p->cmp.challenge_value = pc->challenge_value;
    /* Signed requests are trusted when they chain to the configured anchors,
     * by default to the profile's own CA. */
    if (pc->trust_anchors[0] != 0) {
      int err = load_pem_certs(gw, pc->name, "trust_anchors", pc->trust_anchors, p->anchor_der,
                               p->anchors, &p->cmp.n_trust_anchors);
      if (err)
        return err;
      p->cmp.trust_anchors = p->anchors;
    }
    current(p); /* the backend's chain, and by default its root as the anchor */
  }
  return 0;
}

static void destroy(struct gateway *gw) {
  for (size_t i = 0; i < gw->n_profiles; i++)
    for (size_t j = 0; j < MAX_ANCHORS; j++) {
      free(gw->profiles[i].anchor_der[j]);
      free(gw->profiles[i].nested_der[j]);
    }
  for (size_t i = 0; i < gw->n_backends; i++) {
    gw->backend_ops[i]->destroy(gw->backend_state[i]);
    free(gw->backend_state[i]);
  }
  cg_store_close(gw->reader); /* NULL: nothing */
  free(gw->writes);
  for (size_t i = 0; i < gw->n_readers; i++)
    cg_store_close(gw->readers[i]);
  if (gw->n_readers > 0)
    uv_mutex_destroy(&gw->readers_mu);
  if (gw->store != NULL)
    cg_store_close(gw->store);
  app_free_ra(&gw->ra);
  cg_wipe(gw->master_key, sizeof gw->master_key);
  cg_admission_free(gw->admission);
  guard_free(&gw->guard);
  free(gw);
}

/* host as the numeric address a listener binds: a name is resolved once,
 * here, and the address it gave is logged. */
static int listen_address(const struct cg_config *cfg, const char *key, char *host,
                          size_t cap) {
  char numeric[64];
  const char *why;
  if (cg_listen_resolve(host, numeric, sizeof numeric, &why) != 0)
    return cg_config_error(cfg, "server", key, "cannot listen on \"%s\": not a numeric address, "
                           "and the name does not resolve (%s)", host, why);
  if (strcmp(numeric, host) != 0) {
    cg_info("[server] %s: %s resolves to %s", key, host, numeric);
    snprintf(host, cap, "%s", numeric);
  }
  return 0;
}

/* The raw TCP listener of [server] tcp, serving [server] tcp_profile. */
static int start_tcp(struct gateway *gw) {
  char host[128];
  int port;
  if (cg_parse_hostport(gw->cfg.tcp, host, sizeof host, &port))
    return cg_config_error(&gw->cfg, "server", "tcp", "\"%s\" is not HOST:PORT", gw->cfg.tcp);
  if (listen_address(&gw->cfg, "tcp", host, sizeof host) != 0)
    return CG_ECONFIG;
  gw->tcp_profile = profile_named(gw, gw->cfg.tcp_profile, strlen(gw->cfg.tcp_profile));
  if (gw->tcp_profile == NULL)
    return cg_config_error(&gw->cfg, "server", "tcp_profile",
                           "\"%s\" is not a configured profile (a [profile %s] with a key)",
                           gw->cfg.tcp_profile, gw->cfg.tcp_profile);
  struct cg_tcp_limits lim;
  cg_tcp_limits_default(&lim);
  lim.max_frame = gw->cfg.max_message;
  lim.max_conns = gw->cfg.max_connections;
  lim.admission = gw->admission;
  lim.first_timeout_ms = gw->cfg.header_timeout_ms;
  lim.read_timeout_ms = gw->cfg.body_timeout_ms;
  lim.idle_timeout_ms = gw->cfg.idle_timeout_ms;
  int err = cg_tcp_server_start(gw->loop, host, port, &lim, on_tcp_request, gw, &gw->tcp);
  if (err) {
    cg_error("cannot listen on tcp %s: %s", gw->cfg.tcp,
             cg_strerror(err));
    return err;
  }
  gw->tcp_closed = false;
  cg_info("listening tcp %s:%d (profile %s; RFC 2510 and version 10 framing)", host,
          cg_tcp_server_port(gw->tcp), gw->tcp_profile->cfg->name);
  return 0;
}

/* The threadpool's size, as libuv reads it (UV_THREADPOOL_SIZE, default 4). */
static size_t pool_size(void) {
  const char *v = getenv("UV_THREADPOOL_SIZE");
  long n = v != NULL ? strtol(v, NULL, 10) : 0;
  return n > 0 ? (size_t)n : 4;
}

/* A read connection for each worker; none (reads on the store thread) if
 * one cannot be had. */
static void open_readers(struct gateway *gw, const char *db) {
  size_t want = pool_size();
  if (want > MAX_READERS || uv_mutex_init(&gw->readers_mu) != 0) {
    cg_warn("threadpool of %zu: reads stay on the store thread", want);
    return;
  }
  for (size_t i = 0; i < want; i++) {
    if (cg_store_open_reader(db, &gw->readers[i]) != 0) {
      cg_warn("no read connection for the workers; reads stay on the store thread");
      for (size_t j = 0; j < i; j++)
        cg_store_close(gw->readers[j]);
      uv_mutex_destroy(&gw->readers_mu);
      return;
    }
    gw->idle_readers[i] = gw->readers[i];
  }
  gw->n_readers = gw->n_idle_readers = want;
}

/* File descriptors the gateway keeps for itself: stdio, the database (and
 * its WAL and shared memory) for each connection to it, libuv's own, the
 * listeners, and each upstream CA's connections. */
static unsigned own_fds(const struct gateway *gw) {
  unsigned n = 64 + 3 * (unsigned)(gw->n_readers + 2);
  for (size_t i = 0; i < gw->cfg.n_backends; i++) {
    const char *m = cg_config_backend_get(&gw->cfg.backends[i], "max_connections");
    n += m != NULL ? (unsigned)strtoul(m, NULL, 10) : 8;
  }
  return n;
}

/* Raises the open-file limit to the hard limit and sizes max_connections
 * to what it allows: a gateway that promises more connections than it has
 * descriptors fails every request once they run out, HTTP and TCP alike. */
static int size_connections(struct gateway *gw) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit want = {rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max,
                          rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &want) == 0)
      rl.rlim_cur = want.rlim_cur;
  }
  unsigned own = own_fds(gw);
  unsigned long files = rl.rlim_cur == RLIM_INFINITY ? 1ul << 20 : (unsigned long)rl.rlim_cur;
  if (files < own + 16) {
    cg_error("the open-file limit is %lu; the gateway needs at least %u (ulimit -n)", files,
             own + 16);
    return CG_ECONFIG;
  }
  if (gw->cfg.max_connections > files - own) {
    cg_warn("[server] max_connections %u is more than the open-file limit (%lu) allows; "
            "serving at most %lu connections (raise the limit: ulimit -n, or LimitNOFILE= "
            "under systemd)", gw->cfg.max_connections, files, files - own);
    gw->cfg.max_connections = (unsigned)(files - own);
  }
  return 0;
}

/* Every 10 s: what the limits refused since the last look, in one line. */
static void on_watch_timer(uv_timer_t *t) {
  struct gateway *gw = t->data;
  struct cg_admission_stats now;
  cg_admission_stats(gw->admission, &now);
  uint64_t full = now.refused_full - gw->seen.refused_full;
  uint64_t addr = now.refused_addr - gw->seen.refused_addr;
  uint64_t mem = now.refused_memory - gw->seen.refused_memory;
  uint64_t checks = gw->guard.refused - gw->seen_guard_refused;
  if (full || addr || mem || checks) {
    char last[CG_ADDR_TEXT] = "";
    if (checks)
      cg_addr_text(&gw->guard.last_refused, last);
    cg_warn("refused in the last 10 s: %llu connection(s) over max_connections (%u open), "
            "%llu over max_connections_per_address, %llu request(s) over max_buffered "
            "(%zu octets buffered), %llu over the failed-check budget%s%s",
            (unsigned long long)full, now.conns, (unsigned long long)addr,
            (unsigned long long)mem, now.buffered, (unsigned long long)checks,
            checks ? ", last from " : "", last);
  }
  gw->seen = now;
  gw->seen_guard_refused = gw->guard.refused;
  guard_sweep(&gw->guard, uv_now(gw->loop));
}

int gateway_start(uv_loop_t *loop, const struct cg_config *cfg, struct gateway **out) {
  struct gateway *gw = calloc(1, sizeof *gw);
  if (gw == NULL)
    return CG_ENOMEM;
  gw->loop = loop;
  gw->cfg = *cfg;
  char db[CG_PATH_MAX], host[128];
  int port, err;
  if ((err = app_load_master_key(&gw->cfg, gw->master_key)) || (err = app_load_ra(&gw->cfg, &gw->ra)))
    goto fail;
  if ((err = start_backends(gw)))
    goto fail;
  if (gw->n_profiles == 0) {
    cg_error("config %s: no [profile NAME] section with a key: nothing to serve", gw->cfg.path);
    err = CG_ECONFIG;
    goto fail;
  }

  struct cmp_server_cfg *s = &gw->server;
  s->ra_name = gw->ra.x509.subject;
  s->ra_key = gw->ra.key;
  cg_key_default_sig(gw->ra.key, &s->ra_scheme, &s->ra_hash);
  s->ra_chain = gw->ra.chain;
  s->n_ra_chain = gw->ra.n_chain;
  s->master_key = gw->master_key;
  s->pbm_max_iterations = gw->cfg.pbm_max_iterations;
  s->max_clock_skew = gw->cfg.max_clock_skew;
  s->max_failed_macs = gw->cfg.max_failed_macs;
  s->lockout_seconds = gw->cfg.lockout_seconds;

  if ((err = cg_config_resolve(&gw->cfg, gw->cfg.database, db, sizeof db)) ||
      (err = cg_store_open(db, &gw->store))) {
    cg_error("cannot open the database %s", gw->cfg.database);
    goto fail;
  }
  if ((err = app_check_master_key(gw->store, gw->master_key, gw->cfg.master_key)))
    goto fail;
  cg_store_set_commit_interval(gw->store, gw->cfg.commit_interval_us);
  if ((err = cg_store_start(gw->store, loop)))
    goto fail;
  gw->store_running = true;
  int cpus = cg_work_usable_cpus();
  bool inline_compute = gw->cfg.compute == CG_COMPUTE_INLINE ||
                        (gw->cfg.compute == CG_COMPUTE_AUTO && cpus == 1);
  gw->inline_compute = inline_compute;
  cg_work_set_inline(inline_compute); /* the local CA's signing jobs */
  /* With the compute inline, the loop reads too (one CPU: the store thread
   * would only take turns with it); the store thread keeps the writes. */
  if (inline_compute && strcmp(db, ":memory:") != 0 && cg_store_open_reader(db, &gw->reader))
    cg_warn("compute inline: no read connection; reads stay on the store thread");
  if (!inline_compute && strcmp(db, ":memory:") != 0)
    open_readers(gw, db);
  if ((gw->reader != NULL || gw->n_readers > 0) &&
      (gw->writes = calloc(WRITE_SLOTS, sizeof *gw->writes)) == NULL)
    cg_warn("out of memory: reads stay on the store thread");
  cg_info("compute: %s (%d usable CPU%s)",
          !inline_compute  ? (gw->n_readers ? "threadpool, reads too" : "threadpool")
          : gw->reader     ? "inline on the loop, reads too"
                           : "inline on the loop",
          cpus, cpus == 1 ? "" : "s");

  if ((err = size_connections(gw)) != 0)
    goto fail_running;
  gw->admission = cg_admission_new(&(struct cg_admission_limits){
      .max_conns = gw->cfg.max_connections,
      .max_conns_per_addr = gw->cfg.max_connections_per_address,
      .max_buffered = gw->cfg.max_buffered});
  if (gw->admission == NULL ||
      guard_init(&gw->guard, gw->cfg.failed_check_burst, gw->cfg.failed_check_interval_ms) != 0) {
    err = CG_ENOMEM;
    goto fail_running;
  }
  gw->tcp_closed = true;
  if (gw->cfg.tcp[0] && (err = start_tcp(gw)) != 0)
    goto fail_running;
  if (cg_parse_hostport(gw->cfg.http, host, sizeof host, &port)) {
    err = cg_config_error(&gw->cfg, "server", "http", "\"%s\" is not HOST:PORT", gw->cfg.http);
    goto fail_running;
  }
  if (listen_address(&gw->cfg, "http", host, sizeof host) != 0) {
    err = CG_ECONFIG;
    goto fail_running;
  }
  struct cg_http_limits lim;
  cg_http_limits_default(&lim);
  lim.max_body = gw->cfg.max_message;
  lim.max_header = gw->cfg.max_header;
  lim.max_conns = gw->cfg.max_connections;
  lim.admission = gw->admission;
  lim.header_timeout_ms = gw->cfg.header_timeout_ms;
  lim.body_timeout_ms = gw->cfg.body_timeout_ms;
  lim.idle_timeout_ms = gw->cfg.idle_timeout_ms;
  err = cg_http_server_start(loop, host, port, &lim, on_http_request, gw, &gw->http);
  if (err) {
    cg_error("cannot listen on http %s: %s", gw->cfg.http,
             cg_strerror(err));
    goto fail_running;
  }
  cg_info("listening http %s:%d", host, cg_http_server_port(gw->http));
  uv_timer_init(loop, &gw->approvals);
  gw->approvals.data = gw;
  uv_timer_start(&gw->approvals, on_approvals_timer, 1000, 1000);
  uv_timer_init(loop, &gw->expiry);
  gw->expiry.data = gw;
  uv_timer_start(&gw->expiry, on_expiry_timer, 0, 30000);
  uv_timer_init(loop, &gw->watch);
  gw->watch.data = gw;
  uv_timer_start(&gw->watch, on_watch_timer, 10000, 10000);
  cg_info("limits: %u connections (%u per address), %zu octets of buffered requests, "
          "%u failed checks per address then one per %u ms", gw->cfg.max_connections,
          gw->cfg.max_connections_per_address, gw->cfg.max_buffered,
          gw->cfg.failed_check_burst, gw->cfg.failed_check_interval_ms);
  *out = gw;
  return 0;

fail_running:
  if (gw->tcp != NULL) /* nothing connected yet: it closes on its own */
    cg_tcp_server_stop(gw->tcp, NULL, NULL);
  /* The store thread is running: stop it synchronously through close. */
  gw->store_running = false;
fail:
  destroy(gw);
  return err ? err : CG_ECONFIG;
}

static void on_store_stopped(void *arg) {
  struct gateway *gw = arg;
  struct cg_store_counters n;
  cg_store_stats(gw->store, &n);
  cg_info("store: %llu operations in %llu commits (%llu held for group commit)",
          (unsigned long long)n.ops, (unsigned long long)n.commits, (unsigned long long)n.held);
  struct cg_admission_stats a;
  cg_admission_stats(gw->admission, &a);
  cg_info("connections: %u at most at once, %zu octets of requests buffered at most; refused "
          "%llu over max_connections, %llu over max_connections_per_address, %llu requests over "
          "max_buffered, %llu over the failed-check budget (%llu failed checks)",
          a.peak_conns, a.peak_buffered, (unsigned long long)a.refused_full,
          (unsigned long long)a.refused_addr, (unsigned long long)a.refused_memory,
          (unsigned long long)gw->guard.refused, (unsigned long long)gw->guard.failed);
  void (*cb)(void *) = gw->on_stopped;
  void *cb_arg = gw->stopped_arg;
  gw->store_running = false;
  destroy(gw);
  cg_info("stopped");
  cb(cb_arg);
}

static void free_handle(uv_handle_t *h) { free(h); }

static void maybe_finish_stop(struct gateway *gw) {
  if (!gw->stopping || !gw->http_closed || !gw->tcp_closed || gw->inflight > 0 ||
      !gw->store_running)
    return;
  if (gw->drain != NULL) {
    uv_timer_stop(gw->drain);
    uv_close((uv_handle_t *)gw->drain, free_handle);
    gw->drain = NULL;
  }
  cg_store_stop(gw->store, on_store_stopped, gw);
}

/* The drain took longer than drain_timeout_ms: the connections still open
 * (a client that does not read its answer, one mid-request) are closed; the
 * exchanges in flight finish and are recorded, their answers dropped. */
static void on_drain_timer(uv_timer_t *t) {
  struct gateway *gw = t->data;
  cg_warn("stopping: drain_timeout_ms (%u) passed with %u exchange(s) in flight; closing "
          "every connection", gw->cfg.drain_timeout_ms, gw->inflight);
  if (gw->http != NULL)
    cg_http_server_close_all(gw->http);
  if (gw->tcp != NULL)
    cg_tcp_server_close_all(gw->tcp);
}

static void on_http_closed(void *arg) {
  struct gateway *gw = arg;
  gw->http_closed = true;
  gw->http = NULL;
  maybe_finish_stop(gw);
}

static void on_tcp_closed(void *arg) {
  struct gateway *gw = arg;
  gw->tcp_closed = true;
  gw->tcp = NULL;
  maybe_finish_stop(gw);
}

void gateway_stop(struct gateway *gw, void (*on_stopped)(void *arg), void *arg) {
  if (gw->stopping)
    return;
  gw->stopping = true;
  gw->on_stopped = on_stopped;
  gw->stopped_arg = arg;
  cg_info("stopping: %u exchange(s) in flight", gw->inflight);
  uv_timer_stop(&gw->approvals);
  uv_close((uv_handle_t *)&gw->approvals, NULL);
  /* Calls waiting on a CA end now, so their exchanges can answer and end. */
  for (size_t i = 0; i < gw->n_backends; i++)
    if (gw->backend_ops[i]->stop != NULL)
      gw->backend_ops[i]->stop(gw->backend_state[i]);
  uv_timer_stop(&gw->expiry);
  uv_close((uv_handle_t *)&gw->expiry, NULL);
  uv_timer_stop(&gw->watch);
  uv_close((uv_handle_t *)&gw->watch, NULL);
  if (gw->cfg.drain_timeout_ms > 0 && (gw->drain = malloc(sizeof *gw->drain)) != NULL) {
    uv_timer_init(gw->loop, gw->drain);
    gw->drain->data = gw;
    uv_timer_start(gw->drain, on_drain_timer, gw->cfg.drain_timeout_ms, 0);
  }
  if (gw->tcp != NULL)
    cg_tcp_server_stop(gw->tcp, on_tcp_closed, gw);
  cg_http_server_stop(gw->http, on_http_closed, gw);
}
