/*
 * admission.h - what every listener of one gateway shares: the connections it
 * may hold (in all, and per client address) and the request octets it may
 * buffer.  One budget for HTTP and raw TCP together, so that sockets held
 * open on one listener cannot starve the other, and so that the sum of the
 * listeners' caps is what the process can afford (file descriptors, memory).
 *
 * Loop thread only.
 */
#ifndef CG_TRANSPORTS_ADMISSION_H
#define CG_TRANSPORTS_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transports/addr.h"

struct cg_admission_limits {
  unsigned max_conns;          /* open connections, every listener together */
  unsigned max_conns_per_addr; /* from one client address (addr.h); 0: no limit */
  size_t max_buffered;         /* octets of request input held; 0: no limit */
};

struct cg_admission_stats {
  unsigned conns, peak_conns;
  size_t buffered, peak_buffered;
  uint64_t refused_full;    /* connections over max_conns */
  uint64_t refused_addr;    /* connections over max_conns_per_addr */
  uint64_t refused_memory;  /* requests refused for want of buffer budget */
};

struct cg_admission;

/* NULL when out of memory. */
struct cg_admission *cg_admission_new(const struct cg_admission_limits *l);
void cg_admission_free(struct cg_admission *a);

/* True when no connection may enter now (checked before one is accepted; the
 * refusal is counted). */
bool cg_admission_refuse_full(struct cg_admission *a);
/* A connection from addr (len 0: unknown) enters: 0, and it is counted until
 * cg_admission_leave(); CG_EBUSY when the gateway is full, CG_ELIMIT when
 * this address holds its share already. */
int cg_admission_enter(struct cg_admission *a, const struct cg_addr *addr);
void cg_admission_leave(struct cg_admission *a, const struct cg_addr *addr);

/* The input one connection (or one request that outlived it) holds is now
 * `now` octets instead of *held; *held becomes now.  False when that makes
 * the octets held by everyone exceed max_buffered (the caller refuses the
 * request and lets the memory go; the count includes it until then). */
bool cg_admission_hold(struct cg_admission *a, size_t *held, size_t now);
/* Would `more` octets more fit now?  (An announced body, before it comes.) */
bool cg_admission_room(const struct cg_admission *a, size_t more);
/* A request was refused for want of buffer budget (counted). */
void cg_admission_refused_memory(struct cg_admission *a);

void cg_admission_stats(const struct cg_admission *a, struct cg_admission_stats *out);
const struct cg_admission_limits *cg_admission_limits(const struct cg_admission *a);

#endif
