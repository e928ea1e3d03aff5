/*
 * test_arena.c - the request arena (core/arena.h): every allocation is
 * aligned for any type, zeroed and apart from the others; an allocation
 * larger than a chunk is whole; copies end with a NUL; sizes that cannot be
 * had are refused without harm; cleanup hooks run once each, newest first,
 * when the arena is freed.  Allocations are made to fail in turn
 * (failalloc.h): each failure is NULL or CG_ENOMEM, a hook whose
 * registration failed runs at once, and nothing leaks.
 */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/err.h"
#include "failalloc.h"

static bool aligned(const void *p) { return (uintptr_t)p % alignof(max_align_t) == 0; }

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

static void test_allocations_are_aligned_zeroed_and_apart(void **state) {
  (void)state;
  struct cg_arena *a = cg_arena_new(256);
  assert_non_null(a);
  uint8_t *p[200];
  size_t n[200];
  for (size_t i = 0; i < 200; i++) {
    n[i] = 1 + (i * 7) % 150; /* odd sizes, filling and spilling chunks */
    p[i] = cg_arena_alloc(a, n[i]);
    assert_non_null(p[i]);
    assert_true(aligned(p[i]));
    assert_true(all_zero(p[i], n[i]));
    memset(p[i], (int)(i + 1), n[i]);
  }
  /* No allocation overlaps another: each still holds its own pattern. */
  for (size_t i = 0; i < 200; i++)
    for (size_t k = 0; k < n[i]; k++)
      if (p[i][k] != (uint8_t)(i + 1))
        fail_msg("allocation %zu was overwritten at octet %zu", i, k);
  cg_arena_free(a);
}

/* An allocation larger than the chunk size gets memory of its own, whole,
 * and the chunk in use keeps serving the small ones around it. */
static void test_a_large_allocation_is_whole_and_the_small_ones_go_on(void **state) {
  (void)state;
  struct cg_arena *a = cg_arena_new(512);
  assert_non_null(a);
  uint8_t *small = cg_arena_alloc(a, 16);
  assert_non_null(small);
  memset(small, 0xaa, 16);
  const size_t big_n = 1 << 20;
  uint8_t *big = cg_arena_alloc(a, big_n);
  assert_non_null(big);
  assert_true(aligned(big));
  assert_true(all_zero(big, big_n));
  memset(big, 0x55, big_n);
  uint8_t *next = cg_arena_alloc(a, 16);
  assert_non_null(next);
  assert_true(aligned(next));
  /* arena.c: the large object's chunk goes behind the current one, whose
   * free space stays in use: the next small allocation follows the last. */
  assert_ptr_equal(next, small + 16);
  assert_true(all_zero(next, 16));
  for (size_t i = 0; i < 16; i++)
    assert_int_equal(small[i], 0xaa);
  for (size_t i = 0; i < big_n; i += 4093)
    assert_int_equal(big[i], 0x55);
  assert_int_equal(big[big_n - 1], 0x55);
  cg_arena_free(a);
}

/* A chunk size below the floor still serves allocations of any size. */
static void test_a_tiny_chunk_size_still_serves_every_size(void **state) {
  (void)state;
  struct cg_arena *a = cg_arena_new(0);
  assert_non_null(a);
  for (size_t n = 1; n <= 4096; n *= 2) {
    uint8_t *p = cg_arena_alloc(a, n);
    assert_non_null(p);
    assert_true(aligned(p));
    assert_true(all_zero(p, n));
    memset(p, 1, n);
  }
  cg_arena_free(a);
}

/* Sizes whose rounding or chunk header would wrap around are refused, and
 * the arena goes on working. */
static void test_sizes_that_cannot_be_had_are_null_and_harmless(void **state) {
  (void)state;
  struct cg_arena *a = cg_arena_new(256);
  assert_non_null(a);
  assert_null(cg_arena_alloc(a, SIZE_MAX));
  assert_null(cg_arena_alloc(a, SIZE_MAX - 1));
  assert_null(cg_arena_alloc(a, SIZE_MAX - alignof(max_align_t)));
  assert_null(cg_arena_dup(a, "x", SIZE_MAX));
  uint8_t *p = cg_arena_alloc(a, 32);
  assert_non_null(p);
  assert_true(all_zero(p, 32));
  cg_arena_free(a);
}

static void test_dup_copies_and_ends_with_a_nul(void **state) {
  (void)state;
  struct cg_arena *a = cg_arena_new(256);
  assert_non_null(a);
  const uint8_t bin[] = {0x00, 0xff, 0x10, 0x00, 0x7f};
  uint8_t *d = cg_arena_dup(a, bin, sizeof bin);
  assert_non_null(d);
  assert_ptr_not_equal(d, bin);
  assert_memory_equal(d, bin, sizeof bin);
  assert_int_equal(d[sizeof bin], 0);
  char *s = cg_arena_dup(a, "device-0001 and more", 11);
  assert_string_equal(s, "device-0001");
  /* Nothing copied is still a string. */
  char *e = cg_arena_dup(a, NULL, 0);
  assert_non_null(e);
  assert_string_equal(e, "");
  /* A copy larger than a chunk. */
  uint8_t big[3000];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)(i * 31);
  uint8_t *db = cg_arena_dup(a, big, sizeof big);
  assert_non_null(db);
  assert_memory_equal(db, big, sizeof big);
  assert_int_equal(db[sizeof big], 0);
  cg_arena_free(a);
}

/* ---- cleanup hooks ---------------------------------------------------- */

#define TRACE_MAX 64
struct trace {
  int order[TRACE_MAX];
  int n;
};

struct hook_arg {
  struct trace *t;
  int id;
};

static void record(void *arg) {
  struct hook_arg *h = arg;
  assert_true(h->t->n < TRACE_MAX);
  h->t->order[h->t->n++] = h->id;
}

static void test_hooks_run_once_each_newest_first_when_the_arena_is_freed(void **state) {
  (void)state;
  struct trace t = {0};
  struct hook_arg args[5];
  struct cg_arena *a = cg_arena_new(256);
  assert_non_null(a);
  for (int i = 0; i < 5; i++) {
    args[i] = (struct hook_arg){&t, i};
    assert_int_equal(cg_arena_on_free(a, record, &args[i]), 0);
    /* allocations between hooks, a chunk's worth and more */
    assert_non_null(cg_arena_alloc(a, 200));
  }
  assert_int_equal(t.n, 0); /* nothing runs before the free */
  cg_arena_free(a);
  assert_int_equal(t.n, 5);
  for (int i = 0; i < 5; i++)
    assert_int_equal(t.order[i], 4 - i);
}

/* A hook may still read what the arena holds: all hooks run before any
 * memory is released. */
static void check_alive(void *arg) {
  const char *s = arg;
  assert_string_equal(s, "still here");
}

static void test_hooks_run_while_the_arena_memory_is_still_there(void **state) {
  (void)state;
  struct cg_arena *a = cg_arena_new(256);
  assert_non_null(a);
  char *s = cg_arena_dup(a, "still here", 10);
  assert_non_null(s);
  assert_int_equal(cg_arena_on_free(a, check_alive, s), 0);
  for (int i = 0; i < 20; i++)
    assert_non_null(cg_arena_alloc(a, 100));
  assert_int_equal(cg_arena_on_free(a, check_alive, s), 0);
  cg_arena_free(a);
}

static void test_freeing_null_does_nothing(void **state) {
  (void)state;
  cg_arena_free(NULL);
}

/* ---- allocation failures ---------------------------------------------- */

static void test_a_failed_chunk_is_null_and_the_arena_goes_on(void **state) {
  (void)state;
  failalloc_arm(1);
  assert_null(cg_arena_new(256));
  assert_true(failalloc_fired());
  failalloc_disarm();

  struct cg_arena *a = cg_arena_new(256);
  assert_non_null(a);
  char *first = cg_arena_dup(a, "first", 5);
  assert_non_null(first);
  failalloc_arm(1);
  assert_null(cg_arena_alloc(a, 4096)); /* needs a chunk of its own */
  assert_true(failalloc_fired());
  failalloc_disarm();
  assert_string_equal(first, "first");
  assert_non_null(cg_arena_alloc(a, 4096));
  cg_arena_free(a);
}

/* A hook that cannot be registered runs at once: the object it releases
 * is never leaked, and it does not run again at the free.  Hooks are
 * registered, each with its allocation armed to fail, until one needs a
 * new chunk. */
static void test_a_hook_that_cannot_be_registered_runs_at_once(void **state) {
  (void)state;
  struct trace t = {0};
  struct hook_arg args[TRACE_MAX];
  struct cg_arena *a = cg_arena_new(256);
  assert_non_null(a);
  assert_non_null(cg_arena_alloc(a, 8)); /* a chunk is in use */
  int i;
  for (i = 0; i < TRACE_MAX - 1; i++) {
    args[i] = (struct hook_arg){&t, i};
    failalloc_arm(1);
    int err = cg_arena_on_free(a, record, &args[i]);
    bool fired = failalloc_fired();
    failalloc_disarm();
    if (fired) {
      assert_int_equal(err, CG_ENOMEM);
      assert_int_equal(t.n, 1);
      assert_int_equal(t.order[0], i);
      break;
    }
    assert_int_equal(err, 0); /* it fitted in the chunk */
    assert_int_equal(t.n, 0);
  }
  assert_true(i > 0 && i < TRACE_MAX - 1);
  cg_arena_free(a);
  /* At the free: the i hooks registered, newest first, and not the one
   * that ran at once. */
  assert_int_equal(t.n, 1 + i);
  for (int k = 1; k <= i; k++)
    assert_int_equal(t.order[k], i - k);
}

/* An arena's life (allocations small and large, copies, hooks) with each
 * allocation failing in turn: every failure is reported, every hook runs
 * exactly once, and nothing leaks (the sanitizers watch). */
static void count_hook(void *arg) { (*(int *)arg)++; }

static void test_every_allocation_failing_in_turn_leaks_nothing(void **state) {
  (void)state;
  for (unsigned n = 1;; n++) {
    int runs[6] = {0};
    int registered = 0;
    failalloc_arm(n);
    struct cg_arena *a = cg_arena_new(256);
    if (a != NULL) {
      for (int i = 0; i < 6; i++) {
        uint8_t *p = cg_arena_alloc(a, i % 2 ? 100 : 1000);
        if (p != NULL)
          assert_true(all_zero(p, i % 2 ? 100 : 1000));
        (void)cg_arena_dup(a, "some text", 9);
        int err = cg_arena_on_free(a, count_hook, &runs[i]);
        assert_true(err == 0 || err == CG_ENOMEM);
        if (err == CG_ENOMEM)
          assert_int_equal(runs[i], 1); /* ran at once */
        else
          registered++;
      }
    }
    bool fired = failalloc_fired();
    failalloc_disarm();
    cg_arena_free(a);
    if (a != NULL)
      for (int i = 0; i < 6; i++)
        assert_int_equal(runs[i], 1);
    if (!fired) {
      assert_int_equal(registered, 6);
      break;
    }
    assert_true(n < 200);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_allocations_are_aligned_zeroed_and_apart),
      cmocka_unit_test(test_a_large_allocation_is_whole_and_the_small_ones_go_on),
      cmocka_unit_test(test_a_tiny_chunk_size_still_serves_every_size),
      cmocka_unit_test(test_sizes_that_cannot_be_had_are_null_and_harmless),
      cmocka_unit_test(test_dup_copies_and_ends_with_a_nul),
      cmocka_unit_test(test_hooks_run_once_each_newest_first_when_the_arena_is_freed),
      cmocka_unit_test(test_hooks_run_while_the_arena_memory_is_still_there),
      cmocka_unit_test(test_freeing_null_does_nothing),
      cmocka_unit_test(test_a_failed_chunk_is_null_and_the_arena_goes_on),
      cmocka_unit_test(test_a_hook_that_cannot_be_registered_runs_at_once),
      cmocka_unit_test(test_every_allocation_failing_in_turn_leaks_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
