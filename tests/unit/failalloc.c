/*
 * failalloc.c - the wrapped allocator behind failalloc.h.
 */
#include "failalloc.h"

#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static unsigned countdown;
static bool fired;

void failalloc_arm(unsigned n) {
  countdown = n;
  fired = false;
}

void failalloc_disarm(void) { countdown = 0; }

bool failalloc_fired(void) { return fired; }

unsigned failalloc_pause(void) {
  unsigned left = countdown;
  countdown = 0;
  return left;
}

void failalloc_resume(unsigned left) { countdown = left; }

static bool fail_now(void) {
  if (countdown == 0)
    return false;
  if (--countdown > 0)
    return false;
  fired = true;
  return true;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { return fail_now() ? NULL : __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }
