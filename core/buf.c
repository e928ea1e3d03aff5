/*
 * buf.c - growable byte buffer with a hard limit.
 */
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void cg_buf_init(struct cg_buf *b, size_t limit) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->limit = limit;
}

uint8_t *cg_buf_reserve(struct cg_buf *b, size_t n) {
  if (n > b->limit || b->len > b->limit - n)
    return NULL;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
      cap *= 2;
    if (cap > b->limit)
      cap = b->limit;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
      return NULL;
    b->data = p;
    b->cap = cap;
  }
  return b->data + b->len;
}

int cg_buf_append(struct cg_buf *b, const void *p, size_t n) {
  if (n > b->limit || b->len > b->limit - n)
    return CG_ETOO_BIG;
  if (n == 0)
    return 0;
  uint8_t *dst = cg_buf_reserve(b, n);
  if (dst == NULL)
    return CG_ENOMEM;
  memcpy(dst, p, n);
  b->len += n;
  return 0;
}

void cg_buf_reset(struct cg_buf *b) { b->len = 0; }

void cg_buf_free(struct cg_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
