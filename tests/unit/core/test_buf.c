/*
 * test_buf.c - the bounded buffer (core/buf.h): appends and reservations up
 * to the limit and never past it, a refused append or reservation leaving
 * the buffer exactly as it was (contents, length, memory), growth that keeps
 * what was written and never allocates beyond the limit, reset and free.
 * Allocations are made to fail (failalloc.h): a failed growth is
 * CG_ENOMEM or NULL and loses nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "failalloc.h"

/* What a buffer looked like, to check that a refusal changed nothing. */
struct snap {
  uint8_t *data;
  size_t len, cap, limit;
  uint8_t contents[4096];
};

static void take(const struct cg_buf *b, struct snap *s) {
  s->data = b->data;
  s->len = b->len;
  s->cap = b->cap;
  s->limit = b->limit;
  assert_true(b->len <= sizeof s->contents);
  if (b->len)
    memcpy(s->contents, b->data, b->len);
}

static void assert_unchanged(const struct cg_buf *b, const struct snap *s) {
  assert_ptr_equal(b->data, s->data);
  assert_int_equal(b->len, s->len);
  assert_int_equal(b->cap, s->cap);
  assert_int_equal(b->limit, s->limit);
  if (b->len)
    assert_memory_equal(b->data, s->contents, b->len);
}

static void fill(uint8_t *p, size_t n, size_t from) {
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(from + i);
}

static void assert_filled(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (uint8_t)i)
      fail_msg("octet %zu is %u, expected %u", i, p[i], (unsigned)(uint8_t)i);
}

static void test_a_new_buffer_is_empty_and_holds_no_memory(void **state) {
  (void)state;
  struct cg_buf b;
  cg_buf_init(&b, 100);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
  assert_int_equal(b.limit, 100);
  cg_buf_free(&b); /* nothing to release */
  assert_null(b.data);
}

static void test_appends_up_to_the_limit_are_kept_in_order(void **state) {
  (void)state;
  struct cg_buf b;
  cg_buf_init(&b, 10);
  assert_int_equal(cg_buf_append(&b, "abc", 3), 0);
  assert_int_equal(cg_buf_append(&b, "defg", 4), 0);
  assert_int_equal(cg_buf_append(&b, "hij", 3), 0); /* exactly the limit */
  assert_int_equal(b.len, 10);
  assert_memory_equal(b.data, "abcdefghij", 10);
  assert_true(b.cap >= b.len && b.cap <= b.limit);
  cg_buf_free(&b);
}

static void test_an_append_past_the_limit_fails_and_leaves_the_buffer_as_it_was(void **state) {
  (void)state;
  struct cg_buf b;
  struct snap s;
  cg_buf_init(&b, 10);
  assert_int_equal(cg_buf_append(&b, "abcdefgh", 8), 0);
  take(&b, &s);
  assert_int_equal(cg_buf_append(&b, "xyz", 3), CG_ETOO_BIG);
  assert_unchanged(&b, &s);
  /* Sizes that would wrap around when added to the length. */
  assert_int_equal(cg_buf_append(&b, "x", SIZE_MAX), CG_ETOO_BIG);
  assert_int_equal(cg_buf_append(&b, "x", SIZE_MAX - 7), CG_ETOO_BIG);
  assert_unchanged(&b, &s);
  /* What still fits goes in. */
  assert_int_equal(cg_buf_append(&b, "ij", 2), 0);
  assert_memory_equal(b.data, "abcdefghij", 10);
  assert_int_equal(cg_buf_append(&b, "k", 1), CG_ETOO_BIG);
  cg_buf_free(&b);
}

static void test_an_append_larger_than_the_limit_fails_on_an_empty_buffer(void **state) {
  (void)state;
  struct cg_buf b;
  uint8_t big[11] = {0};
  cg_buf_init(&b, 10);
  assert_int_equal(cg_buf_append(&b, big, sizeof big), CG_ETOO_BIG);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  /* A limit of nothing takes nothing. */
  cg_buf_init(&b, 0);
  assert_int_equal(cg_buf_append(&b, "a", 1), CG_ETOO_BIG);
  assert_null(b.data);
}

static void test_an_empty_append_succeeds_and_changes_nothing(void **state) {
  (void)state;
  struct cg_buf b;
  struct snap s;
  cg_buf_init(&b, 4);
  assert_int_equal(cg_buf_append(&b, NULL, 0), 0);
  assert_null(b.data);
  assert_int_equal(cg_buf_append(&b, "abcd", 4), 0);
  take(&b, &s);
  assert_int_equal(cg_buf_append(&b, NULL, 0), 0); /* full, and still fine */
  assert_unchanged(&b, &s);
  cg_buf_free(&b);
}

/* Many small appends: the memory grows as needed, what was written moves
 * with it, and the buffer never holds more memory than its limit. */
static void test_growth_keeps_the_contents_and_never_allocates_past_the_limit(void **state) {
  (void)state;
  struct cg_buf b;
  uint8_t chunk[37];
  const size_t limit = 3000;
  cg_buf_init(&b, limit);
  size_t total = 0, grew = 0, last_cap = 0;
  while (total + sizeof chunk <= limit) {
    fill(chunk, sizeof chunk, total);
    assert_int_equal(cg_buf_append(&b, chunk, sizeof chunk), 0);
    total += sizeof chunk;
    assert_int_equal(b.len, total);
    assert_true(b.cap >= b.len);
    assert_true(b.cap <= limit);
    if (b.cap != last_cap)
      grew++;
    last_cap = b.cap;
  }
  assert_true(grew > 1); /* it did grow, more than once */
  assert_filled(b.data, b.len);
  /* The rest up to the limit fits, the memory now exactly the limit. */
  size_t rest = limit - total;
  fill(chunk, rest, total);
  assert_int_equal(cg_buf_append(&b, chunk, rest), 0);
  assert_int_equal(b.len, limit);
  assert_int_equal(b.cap, limit);
  assert_filled(b.data, b.len);
  cg_buf_free(&b);
}

/* A small limit: the first growth is to the limit, not beyond. */
static void test_a_limit_below_the_first_allocation_caps_the_memory(void **state) {
  (void)state;
  struct cg_buf b;
  cg_buf_init(&b, 5);
  assert_int_equal(cg_buf_append(&b, "a", 1), 0);
  assert_int_equal(b.cap, 5);
  assert_int_equal(cg_buf_append(&b, "bcde", 4), 0);
  assert_int_equal(b.cap, 5);
  assert_memory_equal(b.data, "abcde", 5);
  cg_buf_free(&b);
}

/* A reservation makes room without counting it; the caller writes and
 * counts what it wrote. */
static void test_a_reservation_makes_room_that_counts_only_once_written(void **state) {
  (void)state;
  struct cg_buf b;
  cg_buf_init(&b, 1000);
  assert_int_equal(cg_buf_append(&b, "head", 4), 0);
  uint8_t *p = cg_buf_reserve(&b, 600);
  assert_non_null(p);
  assert_ptr_equal(p, b.data + 4);
  assert_int_equal(b.len, 4);
  assert_true(b.cap >= 604);
  memcpy(p, "body", 4);
  b.len += 4;
  assert_memory_equal(b.data, "headbody", 8);
  /* A reservation of what was already made room for does not move it. */
  uint8_t *q = cg_buf_reserve(&b, 100);
  assert_ptr_equal(q, b.data + 8);
  cg_buf_free(&b);
}

static void test_a_reservation_past_the_limit_is_null_and_leaves_the_buffer_as_it_was(
    void **state) {
  (void)state;
  struct cg_buf b;
  struct snap s;
  cg_buf_init(&b, 100);
  assert_int_equal(cg_buf_append(&b, "0123456789", 10), 0);
  take(&b, &s);
  assert_null(cg_buf_reserve(&b, 91));
  assert_null(cg_buf_reserve(&b, SIZE_MAX));
  assert_null(cg_buf_reserve(&b, SIZE_MAX - 9));
  assert_unchanged(&b, &s);
  /* Up to the limit exactly is fine. */
  uint8_t *p = cg_buf_reserve(&b, 90);
  assert_non_null(p);
  assert_int_equal(b.cap, 100);
  assert_memory_equal(b.data, "0123456789", 10);
  cg_buf_free(&b);
}

static void test_reset_empties_the_buffer_and_keeps_its_memory(void **state) {
  (void)state;
  struct cg_buf b;
  cg_buf_init(&b, 512);
  assert_int_equal(cg_buf_append(&b, "first message", 13), 0);
  uint8_t *data = b.data;
  size_t cap = b.cap;
  cg_buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_ptr_equal(b.data, data);
  assert_int_equal(b.cap, cap);
  assert_int_equal(b.limit, 512);
  /* The whole limit is available again, in the same memory while it fits. */
  assert_int_equal(cg_buf_append(&b, "second", 6), 0);
  assert_ptr_equal(b.data, data);
  assert_memory_equal(b.data, "second", 6);
  cg_buf_free(&b);
}

static void test_free_releases_the_memory_and_the_buffer_is_reusable_after_init(void **state) {
  (void)state;
  struct cg_buf b;
  cg_buf_init(&b, 64);
  assert_int_equal(cg_buf_append(&b, "abc", 3), 0);
  cg_buf_free(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
  cg_buf_free(&b); /* twice is harmless */
  cg_buf_init(&b, 8);
  assert_int_equal(cg_buf_append(&b, "12345678", 8), 0);
  assert_int_equal(cg_buf_append(&b, "9", 1), CG_ETOO_BIG);
  assert_memory_equal(b.data, "12345678", 8);
  cg_buf_free(&b);
}

/* ---- allocation failures ---------------------------------------------- */

static void test_a_failed_growth_is_enomem_and_leaves_the_buffer_as_it_was(void **state) {
  (void)state;
  struct cg_buf b;
  struct snap s;
  uint8_t more[300];
  cg_buf_init(&b, 4096);
  /* The first allocation. */
  failalloc_arm(1);
  assert_int_equal(cg_buf_append(&b, "abc", 3), CG_ENOMEM);
  assert_true(failalloc_fired());
  failalloc_disarm();
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
  /* A later growth. */
  assert_int_equal(cg_buf_append(&b, "abc", 3), 0);
  take(&b, &s);
  fill(more, sizeof more, 0);
  failalloc_arm(1);
  assert_int_equal(cg_buf_append(&b, more, sizeof more), CG_ENOMEM);
  assert_true(failalloc_fired());
  failalloc_disarm();
  assert_unchanged(&b, &s);
  failalloc_arm(1);
  assert_null(cg_buf_reserve(&b, sizeof more));
  assert_true(failalloc_fired());
  failalloc_disarm();
  assert_unchanged(&b, &s);
  /* With memory back, the same append succeeds. */
  assert_int_equal(cg_buf_append(&b, more, sizeof more), 0);
  assert_memory_equal(b.data, "abc", 3);
  assert_memory_equal(b.data + 3, more, sizeof more);
  cg_buf_free(&b);
}

/* A buffer grown by appends, with each of its allocations failing in turn:
 * the failed append is CG_ENOMEM, loses nothing, and the same append
 * succeeds afterwards; the contents come out whole every time. */
static void test_every_growth_failing_in_turn_loses_nothing(void **state) {
  (void)state;
  uint8_t chunk[100];
  for (unsigned n = 1;; n++) {
    struct cg_buf b;
    struct snap s;
    cg_buf_init(&b, 4000);
    failalloc_arm(n);
    size_t total = 0;
    bool failed = false;
    while (total + sizeof chunk <= 4000) {
      fill(chunk, sizeof chunk, total);
      take(&b, &s);
      int err = cg_buf_append(&b, chunk, sizeof chunk);
      if (err != 0) {
        assert_int_equal(err, CG_ENOMEM);
        assert_false(failed);
        failed = true;
        assert_unchanged(&b, &s);
        assert_int_equal(cg_buf_append(&b, chunk, sizeof chunk), 0);
      }
      total += sizeof chunk;
    }
    bool fired = failalloc_fired();
    failalloc_disarm();
    assert_int_equal(failed, fired);
    assert_int_equal(b.len, total);
    assert_filled(b.data, b.len);
    cg_buf_free(&b);
    if (!fired)
      break; /* past the last growth */
    assert_true(n < 100);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_new_buffer_is_empty_and_holds_no_memory),
      cmocka_unit_test(test_appends_up_to_the_limit_are_kept_in_order),
      cmocka_unit_test(test_an_append_past_the_limit_fails_and_leaves_the_buffer_as_it_was),
      cmocka_unit_test(test_an_append_larger_than_the_limit_fails_on_an_empty_buffer),
      cmocka_unit_test(test_an_empty_append_succeeds_and_changes_nothing),
      cmocka_unit_test(test_growth_keeps_the_contents_and_never_allocates_past_the_limit),
      cmocka_unit_test(test_a_limit_below_the_first_allocation_caps_the_memory),
      cmocka_unit_test(test_a_reservation_makes_room_that_counts_only_once_written),
      cmocka_unit_test(
          test_a_reservation_past_the_limit_is_null_and_leaves_the_buffer_as_it_was),
      cmocka_unit_test(test_reset_empties_the_buffer_and_keeps_its_memory),
      cmocka_unit_test(test_free_releases_the_memory_and_the_buffer_is_reusable_after_init),
      cmocka_unit_test(test_a_failed_growth_is_enomem_and_leaves_the_buffer_as_it_was),
      cmocka_unit_test(test_every_growth_failing_in_turn_loses_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
