/*
 * addr.c - client addresses and the table keyed by them (transports/addr.h).
 * Linear probing with backward-shift deletion: no tombstones, so a table
 * whose entries come and go (connections) never degrades.
 */
#include "transports/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/err.h"

int cg_addr_of(const struct sockaddr *sa, struct cg_addr *out) {
  memset(out, 0, sizeof *out);
  if (sa->sa_family == AF_INET) {
    memcpy(out->b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    out->len = 4;
    return 0;
  }
  if (sa->sa_family != AF_INET6)
    return CG_EINVAL;
  const uint8_t *a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(a, mapped, sizeof mapped) == 0) {
    memcpy(out->b, a + 12, 4);
    out->len = 4;
  } else {
    memcpy(out->b, a, 8);
    out->len = 8;
  }
  return 0;
}

void cg_addr_text(const struct cg_addr *a, char out[CG_ADDR_TEXT]) {
  if (a->len == 4) {
    inet_ntop(AF_INET, a->b, out, CG_ADDR_TEXT);
  } else if (a->len == 8) {
    uint8_t full[16] = {0};
    memcpy(full, a->b, 8);
    char t[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, full, t, sizeof t);
    snprintf(out, CG_ADDR_TEXT, "%s/64", t);
  } else {
    snprintf(out, CG_ADDR_TEXT, "?");
  }
}

static uint64_t hash(const struct cg_addr_table *t, const struct cg_addr *k) {
  uint64_t h = t->seed ^ k->len;
  for (size_t i = 0; i < k->len; i++) {
    h ^= k->b[i];
    h *= 0x100000001b3ull; /* FNV-1a, seeded */
  }
  return h ^ (h >> 29);
}

static bool same(const struct cg_addr *a, const struct cg_addr *b) {
  return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

int cg_addr_table_init(struct cg_addr_table *t, size_t max) {
  memset(t, 0, sizeof *t);
  t->max = max;
  t->cap = 64;
  t->slots = calloc(t->cap, sizeof *t->slots);
  if (t->slots == NULL)
    return CG_ENOMEM;
  if (cg_random(&t->seed, sizeof t->seed) != 0)
    t->seed = 0xcbf29ce484222325ull; /* unkeyed, still correct */
  return 0;
}

void cg_addr_table_free(struct cg_addr_table *t) {
  free(t->slots);
  memset(t, 0, sizeof *t);
}

static struct cg_addr_entry *probe(const struct cg_addr_table *t, const struct cg_addr *k) {
  size_t mask = t->cap - 1;
  for (size_t i = hash(t, k) & mask;; i = (i + 1) & mask) {
    struct cg_addr_entry *e = &t->slots[i];
    if (e->key.len == 0 || same(&e->key, k))
      return e;
  }
}

/* Doubles the table (kept at most half full, so probes stay short). */
static int grow(struct cg_addr_table *t) {
  struct cg_addr_table bigger = *t;
  bigger.cap = t->cap * 2;
  bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
  if (bigger.slots == NULL)
    return CG_ENOMEM;
  for (size_t i = 0; i < t->cap; i++)
    if (t->slots[i].key.len != 0)
      *probe(&bigger, &t->slots[i].key) = t->slots[i];
  free(t->slots);
  *t = bigger;
  return 0;
}

struct cg_addr_entry *cg_addr_table_get(struct cg_addr_table *t, const struct cg_addr *key,
                                        bool add) {
  if (t->slots == NULL || key->len == 0)
    return NULL;
  struct cg_addr_entry *e = probe(t, key);
  if (e->key.len != 0 || !add)
    return e->key.len != 0 ? e : NULL;
  if (t->max > 0 && t->n >= t->max)
    return NULL;
  if (2 * (t->n + 1) > t->cap) {
    if (grow(t) != 0)
      return NULL;
    e = probe(t, key);
  }
  memset(e, 0, sizeof *e);
  e->key = *key;
  t->n++;
  return e;
}

void cg_addr_table_remove(struct cg_addr_table *t, struct cg_addr_entry *e) {
  size_t mask = t->cap - 1;
  size_t hole = (size_t)(e - t->slots);
  memset(&t->slots[hole], 0, sizeof t->slots[hole]);
  t->n--;
  /* Moves back each following entry of the run that may sit in the hole
   * (its home slot is not cyclically between the hole and itself). */
  for (size_t i = (hole + 1) & mask; t->slots[i].key.len != 0; i = (i + 1) & mask) {
    size_t home = hash(t, &t->slots[i].key) & mask;
    bool stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
    if (stays)
      continue;
    t->slots[hole] = t->slots[i];
    memset(&t->slots[i], 0, sizeof t->slots[i]);
    hole = i;
  }
}

void cg_addr_table_sweep(struct cg_addr_table *t, bool (*drop)(struct cg_addr_entry *e, void *arg),
                         void *arg) {
  /* Rebuilt in place: survivors are re-inserted into a fresh array. */
  struct cg_addr_entry *old = t->slots;
  struct cg_addr_entry *fresh = calloc(t->cap, sizeof *fresh);
  if (fresh == NULL) {
    /* No memory for the rebuild: remove one by one (slower, same result). */
    for (size_t i = 0; i < t->cap;)
      if (t->slots[i].key.len != 0 && drop(&t->slots[i], arg))
        cg_addr_table_remove(t, &t->slots[i]); /* a later entry may move here */
      else
        i++;
    return;
  }
  size_t cap = t->cap;
  t->slots = fresh;
  t->n = 0;
  for (size_t i = 0; i < cap; i++)
    if (old[i].key.len != 0 && !drop(&old[i], arg)) {
      *probe(t, &old[i].key) = old[i];
      t->n++;
    }
  free(old);
}
