/*
 * guard.c - failed checks per client address (transports/guard.h), as a debt that
 * pays itself off: each failure adds interval_ms, time takes it away, and an
 * address is served while one more failure would keep its debt within
 * burst x interval_ms.
 */
#include "transports/guard.h"

#include <string.h>

int cg_guard_init(struct cg_guard *g, unsigned burst, unsigned interval_ms) {
  memset(g, 0, sizeof *g);
  g->burst = burst;
  g->interval_ms = interval_ms > 0 ? interval_ms : 1;
  return burst > 0 ? cg_addr_table_init(&g->table, CG_GUARD_MAX_ADDRS) : 0;
}

void cg_guard_free(struct cg_guard *g) { cg_addr_table_free(&g->table); }

/* What v owes now. */
static uint64_t owed(const uint64_t v[2], uint64_t now_ms) {
  uint64_t paid = now_ms > v[1] ? now_ms - v[1] : 0;
  return v[0] > paid ? v[0] - paid : 0;
}

/* The budget addr draws on: its entry, or the shared one. */
static uint64_t *budget(struct cg_guard *g, const struct cg_addr *addr, bool add) {
  struct cg_addr_entry *e = cg_addr_table_get(&g->table, addr, add);
  if (e != NULL)
    return e->v;
  return add || g->table.n >= g->table.max ? g->shared : NULL;
}

bool cg_guard_admits(struct cg_guard *g, const struct cg_addr *addr, uint64_t now_ms,
                  unsigned *retry_s) {
  if (g->burst == 0 || addr->len == 0)
    return true;
  uint64_t *v = budget(g, addr, false);
  uint64_t limit = (uint64_t)g->burst * g->interval_ms;
  uint64_t debt = v != NULL ? owed(v, now_ms) : 0;
  /* Admitted while one more failure would still fit the budget. */
  if (debt + g->interval_ms <= limit)
    return true;
  *retry_s = (unsigned)((debt + g->interval_ms - limit + 999) / 1000);
  g->refused++;
  g->last_refused = *addr;
  return false;
}

void cg_guard_failed(struct cg_guard *g, const struct cg_addr *addr, uint64_t now_ms) {
  if (g->burst == 0 || addr->len == 0)
    return;
  g->failed++;
  uint64_t *v = budget(g, addr, true);
  v[0] = owed(v, now_ms) + g->interval_ms;
  v[1] = now_ms;
}

static bool paid_off(struct cg_addr_entry *e, void *now_ms) {
  return owed(e->v, *(uint64_t *)now_ms) == 0;
}

void cg_guard_sweep(struct cg_guard *g, uint64_t now_ms) {
  if (g->burst > 0)
    cg_addr_table_sweep(&g->table, paid_off, &now_ms);
}
