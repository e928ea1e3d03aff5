/*
 * admission.c - the connection and buffer budget the listeners share
 * (transports/admission.h).
 */
#include "transports/admission.h"

#include <stdlib.h>

#include "core/err.h"

struct cg_admission {
  struct cg_admission_limits limits;
  struct cg_admission_stats stats;
  struct cg_addr_table per_addr; /* v[0]: connections of the address */
};

struct cg_admission *cg_admission_new(const struct cg_admission_limits *l) {
  struct cg_admission *a = calloc(1, sizeof *a);
  if (a == NULL)
    return NULL;
  a->limits = *l;
  /* At most one entry per open connection: the table needs no cap of its own. */
  if (l->max_conns_per_addr > 0 && cg_addr_table_init(&a->per_addr, 0) != 0) {
    free(a);
    return NULL;
  }
  return a;
}

void cg_admission_free(struct cg_admission *a) {
  if (a == NULL)
    return;
  cg_addr_table_free(&a->per_addr);
  free(a);
}

bool cg_admission_refuse_full(struct cg_admission *a) {
  if (a->stats.conns < a->limits.max_conns)
    return false;
  a->stats.refused_full++;
  return true;
}

int cg_admission_enter(struct cg_admission *a, const struct cg_addr *addr) {
  if (cg_admission_refuse_full(a))
    return CG_EBUSY;
  if (a->limits.max_conns_per_addr > 0 && addr->len != 0) {
    struct cg_addr_entry *e = cg_addr_table_get(&a->per_addr, addr, true);
    if (e == NULL)
      return CG_ENOMEM;
    if (e->v[0] >= a->limits.max_conns_per_addr) {
      a->stats.refused_addr++;
      return CG_EADDR_LIMIT;
    }
    e->v[0]++;
  }
  if (++a->stats.conns > a->stats.peak_conns)
    a->stats.peak_conns = a->stats.conns;
  return 0;
}

void cg_admission_leave(struct cg_admission *a, const struct cg_addr *addr) {
  a->stats.conns--;
  if (a->limits.max_conns_per_addr == 0 || addr->len == 0)
    return;
  struct cg_addr_entry *e = cg_addr_table_get(&a->per_addr, addr, false);
  if (e != NULL && --e->v[0] == 0)
    cg_addr_table_remove(&a->per_addr, e);
}

bool cg_admission_hold(struct cg_admission *a, size_t *held, size_t now) {
  size_t before = *held;
  a->stats.buffered = a->stats.buffered - before + now;
  *held = now;
  if (a->stats.buffered > a->stats.peak_buffered)
    a->stats.peak_buffered = a->stats.buffered;
  return now <= before || a->limits.max_buffered == 0 ||
         a->stats.buffered <= a->limits.max_buffered;
}

bool cg_admission_room(const struct cg_admission *a, size_t more) {
  return a->limits.max_buffered == 0 ||
         (a->stats.buffered <= a->limits.max_buffered &&
          more <= a->limits.max_buffered - a->stats.buffered);
}

void cg_admission_refused_memory(struct cg_admission *a) { a->stats.refused_memory++; }

void cg_admission_stats(const struct cg_admission *a, struct cg_admission_stats *out) {
  *out = a->stats;
}

const struct cg_admission_limits *cg_admission_limits(const struct cg_admission *a) {
  return &a->limits;
}
