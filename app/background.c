/*
 * background.c - the gateway's work that no request asks for
 * (app/gateway_int.h): transactions an operator approved are issued, one at
 * a time, found by a timer; transactions that waited too long expire (both
 * by the node holding the lease, of several on one database); SQLite's
 * search index takes the certificates written meanwhile; and every 10 s
 * what the limits refused is logged in one line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "app/gateway_int.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"

/* ---- the lease of the background work ------------------------------------ */

/* Several nodes may share one database (PostgreSQL): one of them, the
 * holder of this lease, issues approved transactions and expires old ones,
 * so that a CA is never asked twice for one approval.  The holder renews
 * it every LEASE_RENEW_MS for LEASE_TTL_S; a node that stops or dies stops
 * renewing, and another takes the lease once it ran out.  A holder trusts
 * its lease until LEASE_MARGIN_S before it runs out, so that two nodes
 * never both work even when a renewal is late. */
#define LEASE_NAME "background"
#define LEASE_TTL_S 30
#define LEASE_MARGIN_S 10

void gw_lease_init(struct gateway *gw) {
  char host[64] = "localhost";
  uint32_t nonce = 0;
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  (void)cg_random(&nonce, sizeof nonce);
  snprintf(gw->node_id, sizeof gw->node_id, "%s/%ld/%08x", host, (long)getpid(),
           (unsigned)nonce);
}

/* Whether this node does the background work now. */
static bool lease_ok(const struct gateway *gw) {
  return gw->lease_held && (int64_t)time(NULL) < gw->lease_trusted_until;
}

static void on_lease(struct cg_store_op *op) {
  struct gateway *gw = op->arg;
  gw->leasing = false;
  bool held = op->result == 0 && op->lease_held;
  if (op->result != 0)
    cg_warn("background work: cannot renew the lease: %s", cg_strerror(op->result));
  if (held != gw->lease_held)
    cg_info(held ? "background work: this node (%s) does it"
                 : "background work: another node does it (not %s)",
            gw->node_id);
  gw->lease_held = held;
  if (held)
    gw->lease_trusted_until = op->lease_until - LEASE_MARGIN_S;
}

void gw_on_lease_timer(uv_timer_t *t) {
  struct gateway *gw = t->data;
  if (gw->leasing || gw->stopping)
    return;
  struct cg_store_op *op = &gw->lease_op;
  memset(op, 0, sizeof *op);
  op->kind = CG_STORE_OP_LEASE;
  op->cb = on_lease;
  op->arg = gw;
  snprintf(op->lease_name, sizeof op->lease_name, "%s", LEASE_NAME);
  snprintf(op->lease_holder, sizeof op->lease_holder, "%s", gw->node_id);
  op->now = (int64_t)time(NULL);
  op->lease_until = op->now + LEASE_TTL_S;
  gw->leasing = cg_store_submit(gw->store, op) == 0;
}

/* ---- approved transactions ---------------------------------------------- */

struct profile_rt *gw_profile_by_name(struct gw_conf *c, const char *name) {
  return gw_profile_named(c, name, strlen(name));
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
  struct profile_rt *p =
      op->result == 0 && op->txn_found ? gw_profile_by_name(gw->conf, op->txn.profile) : NULL;
  if (op->result == 0 && op->txn_found && p == NULL && !gw->stopping) {
    fail_orphan(gw, op);
    return;
  }
  struct request *r = p && !gw->stopping ? calloc(1, sizeof *r) : NULL;
  if (r != NULL)
    r->ex = cmp_exchange_new_background(&gw->conf->server, gw_current(p), &op->txn, op->request_out,
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
  r->transport = GW_APPROVAL;
  r->started_ns = uv_hrtime();
  r->conf = gw_conf_hold(gw->conf);
  gw->inflight++;
  gw_drive(r);
}

/* Every second: is there an approved transaction to issue?  (Approvals are
 * written by `cmpgw approve` into the database; the daemon finds them here,
 * issues at once, and the device gets the certificate at its next poll.) */
void gw_on_approvals_timer(uv_timer_t *t) { gw_look_for_approved(t->data); }

void gw_look_for_approved(struct gateway *gw) {
  if (gw->issuing || gw->stopping || !lease_ok(gw))
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
void gw_on_expiry_timer(uv_timer_t *t) {
  struct gateway *gw = t->data;
  int64_t now = (int64_t)time(NULL);
  if (!lease_ok(gw))
    return;
  for (size_t i = 0; i < gw->conf->n_profiles && !gw->stopping; i++) {
    const struct cg_config_profile *pc = gw->conf->profiles[i].cfg;
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

/* ---- the search index -------------------------------------------------- */

/* SQLite's index of subjects and SANs (docs/store.md, "Searching
 * certificates") takes the certificates written since its last look every
 * second, up to SEARCH_BATCH of them: in batches it costs the store thread
 * a small part of what a trigger on every certificate did.  One batch a
 * second at most, so that a backlog (a store filled by other means) is
 * worked off beside enrolment, not instead of it; it keeps up with 8,192
 * certificates a second, and searches read what it has not reached. */
#define SEARCH_BATCH 8192

static void on_search_indexed(struct cg_store_op *op) {
  struct gateway *gw = op->arg;
  gw->indexing = false;
  if ((op->result != 0) != gw->search_failing) {
    if (op->result != 0)
      cg_warn("search index: cannot add certificates: %s (searches read them one by one)",
              cg_strerror(op->result));
    else
      cg_info("search index: adding certificates again");
  }
  gw->search_failing = op->result != 0;
}

static void index_next(struct gateway *gw) {
  if (gw->indexing || gw->stopping)
    return;
  memset(&gw->search_op, 0, sizeof gw->search_op);
  gw->search_op.kind = CG_STORE_OP_SEARCH_INDEX;
  gw->search_op.search_batch = SEARCH_BATCH;
  gw->search_op.cb = on_search_indexed;
  gw->search_op.arg = gw;
  gw->indexing = cg_store_submit(gw->store, &gw->search_op) == 0;
}

void gw_on_search_timer(uv_timer_t *t) { index_next(t->data); }

/* Every 10 s: what the limits refused since the last look, in one line. */
void gw_on_watch_timer(uv_timer_t *t) {
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
            (unsigned long long)full, now.conns, (unsigned long long)addr, (unsigned long long)mem,
            now.buffered, (unsigned long long)checks, checks ? ", last from " : "", last);
  }
  gw->seen = now;
  gw->seen_guard_refused = gw->guard.refused;
  cg_guard_sweep(&gw->guard, uv_now(gw->loop));
}
