/*
 * arena.c - chunked bump allocator with cleanup hooks.  Large requests get a
 * chunk of their own, so a chunk size never caps an allocation.
 */
#include "core/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

struct chunk {
  struct chunk *next;
  size_t used, size;
  alignas(max_align_t) unsigned char data[];
};

struct hook {
  struct hook *next;
  void (*fn)(void *);
  void *arg;
};

struct cg_arena {
  struct chunk *head;
  struct hook *hooks;
  size_t chunk;
};

struct cg_arena *cg_arena_new(size_t chunk) {
  struct cg_arena *a = calloc(1, sizeof *a);
  if (a == NULL)
    return NULL;
  a->chunk = chunk < 256 ? 256 : chunk;
  return a;
}

void *cg_arena_alloc(struct cg_arena *a, size_t n) {
  const size_t align = alignof(max_align_t);
  size_t need = (n + align - 1) & ~(align - 1);
  if (need < n)
    return NULL;
  struct chunk *c = a->head;
  if (c == NULL || c->size - c->used < need) {
    size_t size = need > a->chunk ? need : a->chunk;
    if (size > SIZE_MAX - sizeof *c)
      return NULL;
    c = malloc(sizeof *c + size);
    if (c == NULL)
      return NULL;
    c->size = size;
    c->used = 0;
    /* A chunk made for one large object goes behind the current one so the
     * current chunk's free space stays in use. */
    if (need > a->chunk && a->head != NULL) {
      c->next = a->head->next;
      a->head->next = c;
    } else {
      c->next = a->head;
      a->head = c;
    }
  }
  void *p = c->data + c->used;
  c->used += need;
  memset(p, 0, n);
  return p;
}

void *cg_arena_dup(struct cg_arena *a, const void *p, size_t n) {
  if (n == SIZE_MAX)
    return NULL;
  unsigned char *d = cg_arena_alloc(a, n + 1);
  if (d == NULL)
    return NULL;
  if (n)
    memcpy(d, p, n);
  d[n] = 0;
  return d;
}

int cg_arena_on_free(struct cg_arena *a, void (*fn)(void *), void *arg) {
  struct hook *h = cg_arena_alloc(a, sizeof *h);
  if (h == NULL) {
    fn(arg);
    return CG_ENOMEM;
  }
  h->fn = fn;
  h->arg = arg;
  h->next = a->hooks;
  a->hooks = h;
  return 0;
}

void cg_arena_free(struct cg_arena *a) {
  if (a == NULL)
    return;
  /* Hooks live in the chunks: run them all before any chunk is released. */
  for (struct hook *h = a->hooks; h != NULL; h = h->next)
    h->fn(h->arg);
  struct chunk *c = a->head;
  while (c != NULL) {
    struct chunk *next = c->next;
    free(c);
    c = next;
  }
  free(a);
}
