/*
 * buf.h - a growable byte buffer with a hard limit.  The cap lives in the
 * buffer (set from configuration when it is made), so readers append without
 * checking sizes themselves: an append past the limit fails with CG_ETOO_BIG
 * and leaves the buffer as it was.
 */
#ifndef CG_CORE_BUF_H
#define CG_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct cg_buf {
  uint8_t *data;
  size_t len;
  size_t cap;   /* allocated */
  size_t limit; /* never grows beyond this many octets */
};

void cg_buf_init(struct cg_buf *b, size_t limit);
/* 0, CG_ETOO_BIG or CG_ENOMEM. */
int cg_buf_append(struct cg_buf *b, const void *p, size_t n);
/* Makes room for n more octets and returns a pointer to them (not yet counted in
 * len; the caller adds what it wrote).  NULL when over the limit or out of memory. */
uint8_t *cg_buf_reserve(struct cg_buf *b, size_t n);
void cg_buf_reset(struct cg_buf *b);  /* len = 0, memory kept */
void cg_buf_free(struct cg_buf *b);   /* releases memory; reusable after init */

#endif
