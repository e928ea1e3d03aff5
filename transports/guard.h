/*
 * guard.h - the budget of failed checks per client address.
 *
 * A request whose MAC or signature does not verify has cost the gateway a
 * key derivation or a signature verification and bought the sender nothing;
 * one client address may fail `burst` checks in a row, then one more per
 * `interval_ms`.  An address over its budget is refused before anything of
 * its request is looked at (HTTP 503 with Retry-After; a raw TCP errorMsgRep).
 * Checks that succeed cost nothing, so real devices, however many share one
 * address behind a NAT, and load tests are never throttled; only failures
 * are counted.
 *
 * The table holds at most CG_GUARD_MAX_ADDRS addresses; when it is full, the
 * addresses without an entry share one budget (an attacker spraying
 * addresses throttles only other newcomers, never the table's memory).
 * Loop thread only.
 */
#ifndef CG_TRANSPORTS_GUARD_H
#define CG_TRANSPORTS_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/limits.h"
#include "transports/addr.h"

#define CG_GUARD_MAX_ADDRS CG_LIMIT_GUARD_ADDRESSES

struct cg_guard {
  unsigned burst;       /* 0: no budget, nothing refused */
  uint64_t interval_ms;
  struct cg_addr_table table; /* v[0]: failures owed (x interval), v[1]: when (ms) */
  uint64_t shared[2];         /* the budget of addresses the table has no room for */
  uint64_t refused, failed;   /* since start */
  struct cg_addr last_refused;
};

/* 0 or CG_ENOMEM. */
int cg_guard_init(struct cg_guard *g, unsigned burst, unsigned interval_ms);
void cg_guard_free(struct cg_guard *g);
/* May a request from addr be served now?  When not, *retry_s is the number
 * of seconds until it may, and the refusal is counted. */
bool cg_guard_admits(struct cg_guard *g, const struct cg_addr *addr, uint64_t now_ms,
                  unsigned *retry_s);
/* A check of a request from addr failed. */
void cg_guard_failed(struct cg_guard *g, const struct cg_addr *addr, uint64_t now_ms);
/* Forgets addresses whose budget is whole again. */
void cg_guard_sweep(struct cg_guard *g, uint64_t now_ms);

#endif
