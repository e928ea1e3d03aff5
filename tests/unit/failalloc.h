/*
 * failalloc.h - making allocations fail in turn ("torture" tests).  A test
 * that includes this header is linked with the allocator of the project's
 * code wrapped: after failalloc_arm(n) the n-th allocation from then on fails
 * (returns NULL), once; failalloc_disarm() stops it.  Allocations made inside
 * shared libraries (wolfSSL, SQLite, libuv) are not affected.
 */
#ifndef CG_FAILALLOC_H
#define CG_FAILALLOC_H

#include <stdbool.h>

void failalloc_arm(unsigned n);
void failalloc_disarm(void);
/* Stops counting (allocations succeed) and returns how many were left
 * before the failure; failalloc_resume() counts on from there.  For tests
 * where only one party's allocations are to fail. */
unsigned failalloc_pause(void);
void failalloc_resume(unsigned left);
/* True when the armed failure has happened. */
bool failalloc_fired(void);

#endif
