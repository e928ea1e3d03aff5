/*
 * test_der.c - the strict DER reader, the value decoders and the writer of
 * core/der.c: vectors read whole and as every truncated prefix (each in an
 * exact-size heap copy, so the sanitizers see any read past the end) and with
 * a trailing octet; every non-DER length form; the depth limit; sticky errors;
 * INTEGER, BOOLEAN, BIT STRING, time and OID rules; writer lengths across the
 * short/long form boundaries, measure mode and sticky CG_ESPACE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/der.h"
#include "core/err.h"
#include "testutil.h"

typedef int parse_fn(const uint8_t *p, size_t len);

/* Runs parse on an exact-size heap copy of p[0..len). */
static int parse_copy(parse_fn *parse, const uint8_t *p, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  assert_non_null(copy);
  if (len > 0)
    memcpy(copy, p, len);
  int rc = parse(len ? copy : NULL, len);
  free(copy);
  return rc;
}

/* The vector parses whole, every shorter prefix fails, and so does the
 * vector with one octet appended. */
static void check_prefixes_and_trailer(parse_fn *parse, const uint8_t *v, size_t len) {
  assert_int_equal(parse_copy(parse, v, len), 0);
  for (size_t k = 0; k < len; k++) {
    int rc = parse_copy(parse, v, k);
    if (rc >= 0)
      fail_msg("prefix of %zu/%zu octets parsed", k, len);
  }
  uint8_t *longer = malloc(len + 1);
  assert_non_null(longer);
  memcpy(longer, v, len);
  longer[len] = 0x00;
  assert_true(parse_copy(parse, longer, len + 1) < 0);
  free(longer);
}

/* Walks every element, entering constructed ones; the input must be exactly
 * one element. */
static int walk(struct der_reader *r) {
  while (!cg_der_at_end(r)) {
    int tag = cg_der_peek_tag(r);
    if (tag & 0x20) {
      struct der_reader child;
      if (cg_der_enter(r, (unsigned)tag, &child) == 0)
        walk(&child);
      cg_der_leave(r, &child);
    } else {
      cg_der_next(r, NULL);
    }
  }
  return r->err;
}

static int walk_one(const uint8_t *p, size_t len) {
  struct der_reader r, top;
  cg_der_reader_init(&top, p, len);
  struct der_tlv t;
  if (cg_der_next(&top, &t) < 0 || !cg_der_at_end(&top))
    return CG_EDER;
  cg_der_reader_init(&r, p, len);
  return walk(&r);
}

/* The sample vector:
 *   SEQUENCE {
 *     INTEGER 256,
 *     BOOLEAN TRUE,
 *     [0] EXPLICIT OCTET STRING "ab",
 *     BIT STRING named bits 0 and 5 (2 unused bits),
 *     UTCTime 250101000000Z,
 *     OBJECT IDENTIFIER 1.2.840.10045.2.1,
 *     SEQUENCE { NULL } } */
static const char sample_hex[] = "30 2d"
                                 " 02 02 01 00"
                                 " 01 01 ff"
                                 " a0 04 04 02 61 62"
                                 " 03 02 02 84"
                                 " 17 0d 32 35 30 31 30 31 30 30 30 30 30 30 5a"
                                 " 06 07 2a 86 48 ce 3d 02 01"
                                 " 30 02 05 00";

struct sample {
  uint64_t n;
  bool flag;
  struct der_view octets;
  uint32_t bits;
  int64_t time;
  struct der_view oid;
};

static int decode_sample(const uint8_t *p, size_t len, struct sample *s) {
  struct der_reader top, seq, ctx, inner;
  struct der_tlv t;
  cg_der_reader_init(&top, p, len);
  cg_der_enter(&top, DER_SEQUENCE, &seq);
  if (cg_der_expect(&seq, DER_INTEGER, &t) == 0 && cg_der_get_uint64(t.val, &s->n) < 0)
    cg_der_fail(&seq, CG_EDER);
  if (cg_der_expect(&seq, DER_BOOLEAN, &t) == 0 && cg_der_get_bool(t.val, &s->flag) < 0)
    cg_der_fail(&seq, CG_EDER);
  cg_der_enter(&seq, DER_CTX_CONS(0), &ctx);
  cg_der_expect(&ctx, DER_OCTET_STRING, &t);
  s->octets = t.val;
  cg_der_leave(&seq, &ctx);
  if (cg_der_expect(&seq, DER_BIT_STRING, &t) == 0 && cg_der_get_named_bits(t.val, &s->bits) < 0)
    cg_der_fail(&seq, CG_EDER);
  if (cg_der_expect(&seq, DER_UTC_TIME, &t) == 0 && cg_der_get_time(t.tag, t.val, &s->time) < 0)
    cg_der_fail(&seq, CG_EDER);
  if (cg_der_expect(&seq, DER_OID, &t) == 0 && cg_der_check_oid(t.val) < 0)
    cg_der_fail(&seq, CG_EDER);
  s->oid = t.val;
  cg_der_enter(&seq, DER_SEQUENCE, &inner);
  cg_der_expect(&inner, DER_NULL, &t);
  cg_der_leave(&seq, &inner);
  cg_der_leave(&top, &seq);
  if (top.err == 0 && !cg_der_at_end(&top))
    cg_der_fail(&top, CG_EDER);
  return top.err;
}

static int parse_sample(const uint8_t *p, size_t len) {
  struct sample s;
  return decode_sample(p, len, &s);
}

static void sample_decodes_every_field(void **state) {
  size_t len;
  uint8_t *v = tu_hex(sample_hex, &len);
  struct sample s;
  memset(&s, 0, sizeof s);
  assert_int_equal(decode_sample(v, len, &s), 0);
  assert_int_equal(s.n, 256);
  assert_true(s.flag);
  assert_true(cg_der_view_is(s.octets, (const uint8_t *)"ab", 2));
  assert_int_equal(s.bits, (1u << 0) | (1u << 5));
  assert_int_equal(s.time, 1735689600); /* 2025-01-01T00:00:00Z */
  static const uint8_t ec_oid[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
  assert_true(cg_der_view_is(s.oid, ec_oid, sizeof ec_oid));
  free(v);
}

static void sample_prefixes_and_trailing_octet_fail(void **state) {
  size_t len;
  uint8_t *v = tu_hex(sample_hex, &len);
  check_prefixes_and_trailer(parse_sample, v, len);
  check_prefixes_and_trailer(walk_one, v, len);
  free(v);
}

/* Reads exactly one element from hex and returns the reader's result. */
static int read_one_hex(const char *hex, struct der_tlv *out) {
  size_t len;
  uint8_t *v = tu_hex(hex, &len);
  uint8_t *copy = malloc(len ? len : 1);
  memcpy(copy, v, len);
  struct der_reader r;
  struct der_tlv t;
  cg_der_reader_init(&r, copy, len);
  int rc = cg_der_next(&r, &t);
  if (rc == 0 && out != NULL) {
    out->tag = t.tag;
    out->val.len = t.val.len;
    out->raw.len = t.raw.len;
  }
  free(copy);
  free(v);
  return rc;
}

static void lengths_in_minimal_form_are_accepted(void **state) {
  struct der_tlv t;
  assert_int_equal(read_one_hex("04 00", &t), 0);
  assert_int_equal(t.val.len, 0);
  char hex[3 * 300 + 16];
  /* 127 in the short form, 128 in the long form with one octet, 256 with two. */
  size_t o = (size_t)sprintf(hex, "04 7f");
  for (int i = 0; i < 127; i++)
    o += (size_t)sprintf(hex + o, " 00");
  assert_int_equal(read_one_hex(hex, &t), 0);
  assert_int_equal(t.val.len, 127);
  assert_int_equal(t.raw.len, 129);
  o = (size_t)sprintf(hex, "04 81 80");
  for (int i = 0; i < 128; i++)
    o += (size_t)sprintf(hex + o, " 00");
  assert_int_equal(read_one_hex(hex, &t), 0);
  assert_int_equal(t.val.len, 128);
  assert_int_equal(t.raw.len, 131);
  o = (size_t)sprintf(hex, "04 82 01 00");
  for (int i = 0; i < 256; i++)
    o += (size_t)sprintf(hex + o, " 00");
  assert_int_equal(read_one_hex(hex, &t), 0);
  assert_int_equal(t.val.len, 256);
}

static void long_form_for_short_length_is_rejected(void **state) {
  assert_int_equal(read_one_hex("04 81 05 01 02 03 04 05", NULL), CG_EDER);
  assert_int_equal(read_one_hex("04 81 7f", NULL), CG_EDER);
}

static void length_with_leading_zero_octet_is_rejected(void **state) {
  char hex[3 * 200 + 16];
  size_t o = (size_t)sprintf(hex, "04 82 00 80");
  for (int i = 0; i < 128; i++)
    o += (size_t)sprintf(hex + o, " 00");
  assert_int_equal(read_one_hex(hex, NULL), CG_EDER);
}

static void indefinite_length_is_rejected(void **state) {
  assert_int_equal(read_one_hex("30 80 05 00 00 00", NULL), CG_EDER);
}

static void more_than_four_length_octets_are_rejected(void **state) {
  assert_int_equal(read_one_hex("04 85 01 00 00 00 00", NULL), CG_EDER);
  assert_int_equal(read_one_hex("04 ff", NULL), CG_EDER);
}

static void length_past_the_end_is_rejected(void **state) {
  assert_int_equal(read_one_hex("04 03 01 02", NULL), CG_EDER);
  assert_int_equal(read_one_hex("04 84 7f ff ff ff 00", NULL), CG_EDER);
  assert_int_equal(read_one_hex("04", NULL), CG_EDER);
  assert_int_equal(read_one_hex("04 82 01", NULL), CG_EDER);
}

static void element_running_past_its_parent_is_rejected(void **state) {
  /* The OCTET STRING claims 5 octets but its SEQUENCE holds 3; the input
   * itself has enough octets after it. */
  size_t len;
  uint8_t *v = tu_hex("30 03 04 05 aa bb cc dd ee", &len);
  struct der_reader r, c;
  struct der_tlv t;
  cg_der_reader_init(&r, v, len);
  assert_int_equal(cg_der_enter(&r, DER_SEQUENCE, &c), 0);
  assert_int_equal(cg_der_next(&c, &t), CG_EDER);
  assert_int_equal(cg_der_leave(&r, &c), CG_EDER);
  free(v);
}

static void high_tag_number_form_is_rejected(void **state) {
  assert_int_equal(read_one_hex("1f 81 00 00", NULL), CG_EDER);
  assert_int_equal(read_one_hex("9f 1f 01 00", NULL), CG_EDER);
  assert_int_equal(read_one_hex("bf 8f ff ff ff 7f 00", NULL), CG_EDER);
}

static void non_der_forms_of_universal_tags_are_rejected(void **state) {
  /* X.690 §10.2: constructed strings are BER only. */
  assert_int_equal(read_one_hex("24 04 04 02 61 62", NULL), CG_EDER);
  assert_int_equal(read_one_hex("23 03 03 01 00", NULL), CG_EDER);
  /* SEQUENCE and SET are always constructed. */
  assert_int_equal(read_one_hex("10 00", NULL), CG_EDER);
  assert_int_equal(read_one_hex("11 00", NULL), CG_EDER);
  /* End-of-contents belongs to the indefinite form. */
  assert_int_equal(read_one_hex("00 00", NULL), CG_EDER);
  /* Context and application tags may be either. */
  assert_int_equal(read_one_hex("80 00", NULL), 0);
  assert_int_equal(read_one_hex("a0 00", NULL), 0);
  assert_int_equal(read_one_hex("61 00", NULL), 0);
}

/* n nested SEQUENCEs around a NULL, written with the writer. */
static uint8_t *nested(unsigned n, size_t *len) {
  uint8_t *buf = malloc(4 * n + 16);
  struct der_writer w;
  size_t marks[64];
  cg_der_writer_init(&w, buf, 4 * n + 16);
  for (unsigned i = 0; i < n; i++)
    marks[i] = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_null(&w);
  for (unsigned i = n; i-- > 0;)
    cg_der_end(&w, marks[i]);
  assert_int_equal(cg_der_writer_finish(&w, len), 0);
  return buf;
}

static void depth_limit_is_reached_but_not_exceeded(void **state) {
  size_t len;
  uint8_t *v = nested(DER_MAX_DEPTH, &len);
  struct der_reader r;
  cg_der_reader_init(&r, v, len);
  assert_int_equal(walk(&r), 0);
  free(v);
}

static void nesting_beyond_the_limit_fails_with_depth_error(void **state) {
  size_t len;
  uint8_t *v = nested(DER_MAX_DEPTH + 1, &len);
  struct der_reader r;
  cg_der_reader_init(&r, v, len);
  assert_int_equal(walk(&r), CG_EDER_DEPTH);
  free(v);
}

static void errors_are_sticky(void **state) {
  size_t len;
  uint8_t *v = tu_hex("04 81 05 01 02 03 04 05 05 00 05 00", &len);
  struct der_reader r, c;
  struct der_tlv t;
  cg_der_reader_init(&r, v, len);
  assert_int_equal(cg_der_next(&r, &t), CG_EDER);
  assert_int_equal(t.raw.len, 0);
  /* Well-formed elements follow, but the reader stays failed. */
  assert_true(cg_der_at_end(&r));
  assert_int_equal(cg_der_peek_tag(&r), -1);
  assert_int_equal(cg_der_next(&r, &t), CG_EDER);
  assert_int_equal(cg_der_expect(&r, DER_NULL, &t), CG_EDER);
  assert_int_equal(cg_der_optional(&r, DER_NULL, &t), CG_EDER);
  assert_int_equal(cg_der_enter(&r, DER_SEQUENCE, &c), CG_EDER);
  assert_int_equal(cg_der_enter_optional(&r, DER_SEQUENCE, &c), CG_EDER);
  /* The first error is the one kept. */
  assert_int_equal(cg_der_fail(&r, CG_EDER_DEPTH), CG_EDER);
  free(v);
}

static void expect_fails_on_another_tag(void **state) {
  size_t len;
  uint8_t *v = tu_hex("05 00", &len);
  struct der_reader r;
  struct der_tlv t;
  cg_der_reader_init(&r, v, len);
  assert_int_equal(cg_der_expect(&r, DER_INTEGER, &t), CG_EDER);
  assert_int_equal(r.err, CG_EDER);
  free(v);
}

static void optional_reads_only_a_matching_tag(void **state) {
  size_t len;
  uint8_t *v = tu_hex("05 00 a1 02 05 00", &len);
  struct der_reader r, c;
  struct der_tlv t;
  cg_der_reader_init(&r, v, len);
  assert_int_equal(cg_der_optional(&r, DER_INTEGER, &t), 0);
  assert_int_equal(cg_der_peek_tag(&r), DER_NULL);
  assert_int_equal(cg_der_optional(&r, DER_NULL, &t), 1);
  assert_int_equal(t.tag, DER_NULL);
  assert_int_equal(cg_der_enter_optional(&r, DER_CTX_CONS(0), &c), 0);
  assert_true(cg_der_at_end(&c));
  assert_int_equal(cg_der_enter_optional(&r, DER_CTX_CONS(1), &c), 1);
  assert_int_equal(cg_der_expect(&c, DER_NULL, &t), 0);
  assert_int_equal(cg_der_leave(&r, &c), 0);
  /* At the end, optional elements are absent, not errors. */
  assert_int_equal(cg_der_optional(&r, DER_NULL, &t), 0);
  assert_int_equal(cg_der_enter_optional(&r, DER_SEQUENCE, &c), 0);
  assert_int_equal(r.err, 0);
  /* A required element at the end is an error. */
  assert_int_equal(cg_der_next(&r, &t), CG_EDER);
  free(v);
}

static void leave_fails_on_unread_contents(void **state) {
  size_t len;
  uint8_t *v = tu_hex("30 04 05 00 05 00", &len);
  struct der_reader r, c;
  struct der_tlv t;
  cg_der_reader_init(&r, v, len);
  assert_int_equal(cg_der_enter(&r, DER_SEQUENCE, &c), 0);
  assert_int_equal(cg_der_expect(&c, DER_NULL, &t), 0);
  assert_int_equal(cg_der_leave(&r, &c), CG_EDER);
  free(v);
}

static void leave_passes_the_child_error_up(void **state) {
  size_t len;
  uint8_t *v = tu_hex("30 02 04 81", &len);
  struct der_reader r, c;
  cg_der_reader_init(&r, v, len);
  assert_int_equal(cg_der_enter(&r, DER_SEQUENCE, &c), 0);
  assert_int_equal(cg_der_fail(&c, CG_EDER_DEPTH), CG_EDER_DEPTH);
  assert_int_equal(cg_der_leave(&r, &c), CG_EDER_DEPTH);
  assert_int_equal(r.err, CG_EDER_DEPTH);
  free(v);
}

static struct der_view hexview(const char *hex, uint8_t **keep) {
  size_t len;
  *keep = tu_hex(hex, &len);
  struct der_view v = {*keep, len};
  return v;
}

static int check_integer_hex(const char *hex) {
  uint8_t *k;
  int rc = cg_der_check_integer(hexview(hex, &k));
  free(k);
  return rc;
}

static void integers_must_be_minimal_and_non_empty(void **state) {
  assert_int_equal(check_integer_hex("00"), 0);
  assert_int_equal(check_integer_hex("7f"), 0);
  assert_int_equal(check_integer_hex("00 80"), 0);
  assert_int_equal(check_integer_hex("ff"), 0);
  assert_int_equal(check_integer_hex("80"), 0);
  assert_int_equal(check_integer_hex("ff 7f"), 0);
  assert_int_equal(check_integer_hex(""), CG_EDER);
  assert_int_equal(check_integer_hex("00 00"), CG_EDER);
  assert_int_equal(check_integer_hex("00 7f"), CG_EDER);
  assert_int_equal(check_integer_hex("ff ff"), CG_EDER);
  assert_int_equal(check_integer_hex("ff 80"), CG_EDER);
}

static int get_uint64_hex(const char *hex, uint64_t *out) {
  uint8_t *k;
  int rc = cg_der_get_uint64(hexview(hex, &k), out);
  free(k);
  return rc;
}

static void uint64_decodes_non_negative_values_up_to_64_bits(void **state) {
  uint64_t v;
  assert_int_equal(get_uint64_hex("00", &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(get_uint64_hex("7f", &v), 0);
  assert_int_equal(v, 127);
  assert_int_equal(get_uint64_hex("00 80", &v), 0);
  assert_int_equal(v, 128);
  assert_int_equal(get_uint64_hex("00 ff ff ff ff ff ff ff ff", &v), 0);
  assert_true(v == UINT64_MAX);
  assert_int_equal(get_uint64_hex("7f ff ff ff ff ff ff ff", &v), 0);
  assert_true(v == INT64_MAX);
  /* 2^64 needs 65 bits; negatives are not unsigned. */
  assert_int_equal(get_uint64_hex("01 00 00 00 00 00 00 00 00", &v), CG_EDER);
  assert_int_equal(get_uint64_hex("80", &v), CG_EDER);
  assert_int_equal(get_uint64_hex("ff", &v), CG_EDER);
  assert_int_equal(get_uint64_hex("00 00 80", &v), CG_EDER);
  assert_int_equal(get_uint64_hex("", &v), CG_EDER);
}

static int get_bool_hex(const char *hex, bool *out) {
  uint8_t *k;
  int rc = cg_der_get_bool(hexview(hex, &k), out);
  free(k);
  return rc;
}

static void booleans_are_00_or_ff(void **state) {
  bool b = true;
  assert_int_equal(get_bool_hex("00", &b), 0);
  assert_false(b);
  assert_int_equal(get_bool_hex("ff", &b), 0);
  assert_true(b);
  assert_int_equal(get_bool_hex("01", &b), CG_EDER);
  assert_int_equal(get_bool_hex("", &b), CG_EDER);
  assert_int_equal(get_bool_hex("ff ff", &b), CG_EDER);
}

static int bit_string_hex(const char *hex, size_t *nbits, unsigned *unused) {
  uint8_t *k;
  struct der_view bits = {0};
  int rc = cg_der_get_bit_string(hexview(hex, &k), &bits, unused);
  *nbits = bits.len;
  free(k);
  return rc;
}

static void bit_strings_follow_the_unused_bits_rules(void **state) {
  size_t n;
  unsigned u = 99;
  assert_int_equal(bit_string_hex("00", &n, &u), 0);
  assert_int_equal(n, 0);
  assert_int_equal(u, 0);
  assert_int_equal(bit_string_hex("03 f8", &n, &u), 0);
  assert_int_equal(n, 1);
  assert_int_equal(u, 3);
  assert_int_equal(bit_string_hex("00 ab cd", &n, &u), 0);
  assert_int_equal(n, 2);
  assert_int_equal(bit_string_hex("", &n, &u), CG_EDER);
  assert_int_equal(bit_string_hex("01", &n, &u), CG_EDER);    /* unused bits, no octet */
  assert_int_equal(bit_string_hex("08 00", &n, &u), CG_EDER); /* more than 7 */
  assert_int_equal(bit_string_hex("03 f9", &n, &u), CG_EDER); /* unused bit set */
  assert_int_equal(bit_string_hex("01 01", &n, &u), CG_EDER);
}

static int named_bits_hex(const char *hex, uint32_t *mask) {
  uint8_t *k;
  int rc = cg_der_get_named_bits(hexview(hex, &k), mask);
  free(k);
  return rc;
}

static void named_bits_map_bit_n_to_mask_bit_n(void **state) {
  uint32_t m;
  assert_int_equal(named_bits_hex("00", &m), 0);
  assert_int_equal(m, 0);
  assert_int_equal(named_bits_hex("07 80", &m), 0); /* digitalSignature */
  assert_int_equal(m, 1u);
  assert_int_equal(named_bits_hex("01 06", &m), 0); /* keyCertSign, cRLSign */
  assert_int_equal(m, (1u << 5) | (1u << 6));
  assert_int_equal(named_bits_hex("07 00 80", &m), 0); /* decipherOnly */
  assert_int_equal(m, 1u << 8);
  assert_int_equal(named_bits_hex("00 80 00 00 01", &m), 0);
  assert_int_equal(m, 1u | (1u << 31));
  /* Bits past 31 are left out of the mask. */
  assert_int_equal(named_bits_hex("07 00 00 00 00 80", &m), 0);
  assert_int_equal(m, 0);
}

static void named_bits_with_trailing_zero_bits_are_rejected(void **state) {
  uint32_t m;
  assert_int_equal(named_bits_hex("00 80", &m), CG_EDER);    /* 7 zero bits kept */
  assert_int_equal(named_bits_hex("06 80", &m), CG_EDER);    /* last used bit zero */
  assert_int_equal(named_bits_hex("07 80 00", &m), CG_EDER); /* zero octet at the end */
  assert_int_equal(named_bits_hex("00 00", &m), CG_EDER);
}

static int time_str(unsigned tag, const char *s, int64_t *out) {
  size_t n = strlen(s);
  uint8_t *copy = malloc(n ? n : 1);
  memcpy(copy, s, n);
  struct der_view v = {copy, n};
  int rc = cg_der_get_time(tag, v, out);
  free(copy);
  return rc;
}

static void times_decode_to_epoch_seconds(void **state) {
  int64_t t;
  assert_int_equal(time_str(DER_UTC_TIME, "700101000000Z", &t), 0);
  assert_int_equal(t, 0);
  assert_int_equal(time_str(DER_UTC_TIME, "991231235959Z", &t), 0);
  assert_int_equal(t, 946684799);
  assert_int_equal(time_str(DER_GENERALIZED_TIME, "20500101000000Z", &t), 0);
  assert_int_equal(t, 2524608000);
  assert_int_equal(time_str(DER_GENERALIZED_TIME, "19691231235959Z", &t), 0);
  assert_int_equal(t, -1);
  assert_int_equal(time_str(DER_GENERALIZED_TIME, "00000101000000Z", &t), 0);
  assert_int_equal(t, -62167219200);
  assert_int_equal(time_str(DER_GENERALIZED_TIME, "99991231235959Z", &t), 0);
  assert_int_equal(t, 253402300799);
}

static void utctime_two_digit_years_pivot_at_50(void **state) {
  int64_t t;
  /* RFC 5280 §4.1.2.5.1: 49 is 2049, 50 is 1950. */
  assert_int_equal(time_str(DER_UTC_TIME, "491231235959Z", &t), 0);
  assert_int_equal(t, 2524607999);
  assert_int_equal(time_str(DER_UTC_TIME, "500101000000Z", &t), 0);
  assert_int_equal(t, -631152000);
}

static void february_29_only_in_leap_years(void **state) {
  int64_t t, before;
  assert_int_equal(time_str(DER_UTC_TIME, "240228120000Z", &before), 0);
  assert_int_equal(time_str(DER_UTC_TIME, "240229120000Z", &t), 0);
  assert_int_equal(t, before + 86400);
  assert_int_equal(time_str(DER_GENERALIZED_TIME, "20000229000000Z", &t), 0);
  assert_int_equal(t, 951782400);
  assert_int_equal(time_str(DER_UTC_TIME, "230229120000Z", &t), CG_EDER);
  assert_int_equal(time_str(DER_GENERALIZED_TIME, "21000229000000Z", &t), CG_EDER);
  assert_int_equal(time_str(DER_GENERALIZED_TIME, "19000229000000Z", &t), CG_EDER);
}

static void malformed_times_are_rejected(void **state) {
  int64_t t;
  static const struct {
    unsigned tag;
    const char *s;
  } bad[] = {
      {DER_UTC_TIME, "250101000000"},        /* no Z */
      {DER_UTC_TIME, "2501010000000"},       /* Z replaced by a digit */
      {DER_UTC_TIME, "2501010000Z"},         /* no seconds */
      {DER_UTC_TIME, "250101000000+0100"},   /* offset */
      {DER_UTC_TIME, "250101000000z"},       /* lower-case z */
      {DER_UTC_TIME, "2501010000 0Z"},       /* not a digit */
      {DER_UTC_TIME, "25-101000000Z"},       /* sign */
      {DER_UTC_TIME, "251301000000Z"},       /* month 13 */
      {DER_UTC_TIME, "250001000000Z"},       /* month 0 */
      {DER_UTC_TIME, "250100000000Z"},       /* day 0 */
      {DER_UTC_TIME, "250132000000Z"},       /* day 32 */
      {DER_UTC_TIME, "250431000000Z"},       /* April 31 */
      {DER_UTC_TIME, "250101240000Z"},       /* hour 24 */
      {DER_UTC_TIME, "250101006000Z"},       /* minute 60 */
      {DER_UTC_TIME, "250101000060Z"},       /* second 60 */
      {DER_UTC_TIME, "20250101000000Z"},     /* four-digit year in UTCTime */
      {DER_GENERALIZED_TIME, "250101000000Z"},
      {DER_GENERALIZED_TIME, "20250101000000"},
      {DER_GENERALIZED_TIME, "20250101000000.5Z"}, /* fraction */
      {DER_GENERALIZED_TIME, "202501010000Z"},
      {DER_GENERALIZED_TIME, ""},
      {DER_OCTET_STRING, "250101000000Z"}, /* not a time tag */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (time_str(bad[i].tag, bad[i].s, &t) != CG_EDER)
      fail_msg("accepted %s", bad[i].s);
}

static int check_oid_hex(const char *hex) {
  uint8_t *k;
  int rc = cg_der_check_oid(hexview(hex, &k));
  free(k);
  return rc;
}

static void oids_need_minimal_complete_subidentifiers(void **state) {
  assert_int_equal(check_oid_hex("2a 86 48 ce 3d 02 01"), 0);
  assert_int_equal(check_oid_hex("00"), 0);
  assert_int_equal(check_oid_hex(""), CG_EDER);
  assert_int_equal(check_oid_hex("80 01"), CG_EDER);       /* leading 0x80 padding */
  assert_int_equal(check_oid_hex("2a 80 86 48"), CG_EDER); /* same, later */
  assert_int_equal(check_oid_hex("2a 86"), CG_EDER);       /* last octet continues */
}

static void views_compare_by_contents(void **state) {
  static const uint8_t a[] = {1, 2, 3}, b[] = {1, 2, 3}, c[] = {1, 2, 4};
  struct der_view va = {a, 3}, vb = {b, 3}, vc = {c, 3}, shorter = {a, 2}, empty = {NULL, 0};
  assert_true(cg_der_view_eq(va, vb));
  assert_false(cg_der_view_eq(va, vc));
  assert_false(cg_der_view_eq(va, shorter));
  assert_true(cg_der_view_eq(empty, (struct der_view){a, 0}));
  assert_true(cg_der_view_is(va, b, 3));
  assert_false(cg_der_view_is(va, c, 3));
  assert_false(cg_der_view_is(va, b, 2));
}

/* ---- writer ---- */

static void assert_bytes(const uint8_t *got, size_t got_len, const char *hex) {
  size_t len;
  uint8_t *want = tu_hex(hex, &len);
  assert_int_equal(got_len, len);
  assert_memory_equal(got, want, len);
  free(want);
}

/* Writes SEQUENCE { OCTET STRING of n octets, raw n octets } into w. */
static void write_nested(struct der_writer *w, size_t n, const uint8_t *content) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_OCTET_STRING, content, n);
  size_t m2 = cg_der_begin(w, DER_CTX_CONS(1));
  cg_der_put_raw(w, content, n);
  cg_der_end(w, m2);
  cg_der_end(w, m);
}

static void lengths_across_form_boundaries_round_trip(void **state) {
  static const struct {
    size_t n;
    const char *hdr; /* of an element with n content octets */
  } cases[] = {
      {0, "00"},          {1, "01"},          {127, "7f"},         {128, "81 80"},
      {255, "81 ff"},     {256, "82 01 00"},  {65535, "82 ff ff"}, {65536, "83 01 00 00"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = cases[i].n, hl;
    uint8_t *hdr = tu_hex(cases[i].hdr, &hl);
    uint8_t *content = malloc(n + 1);
    for (size_t k = 0; k < n; k++)
      content[k] = (uint8_t)(k * 7 + 3);
    /* The SEQUENCE holds two elements of 1 + hl + n octets each. */
    size_t inner_total = 2 * (1 + hl + n);

    /* Measure first, then write into a buffer of exactly that size. */
    struct der_writer mw;
    cg_der_writer_init(&mw, NULL, 0);
    write_nested(&mw, n, content);
    size_t measured;
    assert_int_equal(cg_der_writer_finish(&mw, &measured), 0);
    uint8_t *buf = malloc(measured);
    struct der_writer w;
    cg_der_writer_init(&w, buf, measured);
    write_nested(&w, n, content);
    size_t len;
    assert_int_equal(cg_der_writer_finish(&w, &len), 0);
    assert_int_equal(len, measured);

    /* Read it back: the headers are the minimal ones and the contents survived
     * the moves cg_der_end() made. */
    struct der_reader r, seq, ctx;
    struct der_tlv t;
    cg_der_reader_init(&r, buf, len);
    assert_int_equal(cg_der_next(&r, &t), 0);
    assert_int_equal(t.val.len, inner_total);
    cg_der_reader_init(&r, buf, len);
    assert_int_equal(cg_der_enter(&r, DER_SEQUENCE, &seq), 0);
    assert_int_equal(cg_der_expect(&seq, DER_OCTET_STRING, &t), 0);
    assert_int_equal(t.raw.len, 1 + hl + n);
    assert_memory_equal(t.raw.p + 1, hdr, hl);
    assert_true(cg_der_view_is(t.val, content, n));
    assert_int_equal(cg_der_enter(&seq, DER_CTX_CONS(1), &ctx), 0);
    assert_true(n == 0 || memcmp(ctx.p, content, n) == 0);
    assert_int_equal((size_t)(ctx.end - ctx.p), n);
    ctx.p = ctx.end;
    assert_int_equal(cg_der_leave(&seq, &ctx), 0);
    assert_int_equal(cg_der_leave(&r, &seq), 0);
    assert_true(cg_der_at_end(&r));

    /* One octet less and the writer reports CG_ESPACE without overrunning. */
    uint8_t *small = malloc(measured - 1);
    cg_der_writer_init(&w, small, measured - 1);
    write_nested(&w, n, content);
    assert_int_equal(cg_der_writer_finish(&w, &len), CG_ESPACE);
    free(small);
    free(buf);
    free(content);
    free(hdr);
  }
}

static void end_reports_espace_when_the_long_length_does_not_fit(void **state) {
  /* Tag, one reserved length octet and 128 content octets fit; the second
   * length octet cg_der_end() needs does not. */
  uint8_t *buf = malloc(130);
  uint8_t content[128] = {0};
  struct der_writer w;
  cg_der_writer_init(&w, buf, 130);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_raw(&w, content, sizeof content);
  assert_int_equal(cg_der_writer_finish(&w, NULL), 0);
  cg_der_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, NULL), CG_ESPACE);
  free(buf);
}

static void espace_is_sticky(void **state) {
  uint8_t *buf = malloc(4);
  struct der_writer w;
  size_t len = 99;
  cg_der_writer_init(&w, buf, 4);
  cg_der_put_tlv(&w, DER_OCTET_STRING, "abc", 3);
  assert_int_equal(cg_der_writer_finish(&w, &len), CG_ESPACE);
  assert_int_equal(len, 99);
  /* A NULL would fit in what is left, but the writer stays failed. */
  cg_der_put_null(&w);
  assert_int_equal(cg_der_writer_finish(&w, &len), CG_ESPACE);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_end(&w, m);
  assert_int_equal(w.err, CG_ESPACE);
  free(buf);
}

static void write_hex_check(void (*fn)(struct der_writer *, const void *), const void *arg,
                            const char *hex) {
  uint8_t buf[64];
  struct der_writer w, mw;
  size_t len, mlen;
  cg_der_writer_init(&w, buf, sizeof buf);
  fn(&w, arg);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  assert_bytes(buf, len, hex);
  cg_der_writer_init(&mw, NULL, 0);
  fn(&mw, arg);
  assert_int_equal(cg_der_writer_finish(&mw, &mlen), 0);
  assert_int_equal(mlen, len);
}

static void put_u64(struct der_writer *w, const void *arg) {
  cg_der_put_uint64(w, DER_INTEGER, *(const uint64_t *)arg);
}

static void uint64_is_written_minimally_and_positive(void **state) {
  static const struct {
    uint64_t v;
    const char *hex;
  } cases[] = {
      {0, "02 01 00"},
      {127, "02 01 7f"},
      {128, "02 02 00 80"},
      {256, "02 02 01 00"},
      {0x7fffffffffffffffull, "02 08 7f ff ff ff ff ff ff ff"},
      {UINT64_MAX, "02 09 00 ff ff ff ff ff ff ff ff"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_hex_check(put_u64, &cases[i].v, cases[i].hex);
    /* And it reads back. */
    uint8_t buf[16];
    struct der_writer w;
    cg_der_writer_init(&w, buf, sizeof buf);
    cg_der_put_uint64(&w, DER_INTEGER, cases[i].v);
    struct der_reader r;
    struct der_tlv t;
    uint64_t back;
    cg_der_reader_init(&r, buf, w.len);
    assert_int_equal(cg_der_expect(&r, DER_INTEGER, &t), 0);
    assert_int_equal(cg_der_get_uint64(t.val, &back), 0);
    assert_true(back == cases[i].v);
  }
}

struct bytes_arg {
  const char *hex;
};

static void put_ubytes(struct der_writer *w, const void *arg) {
  size_t n;
  uint8_t *p = tu_hex(((const struct bytes_arg *)arg)->hex, &n);
  cg_der_put_uint_bytes(w, DER_INTEGER, p, n);
  free(p);
}

static void uint_bytes_drop_leading_zeros_and_keep_the_sign(void **state) {
  struct bytes_arg a1 = {"00 00 01"}, a2 = {"80"}, a3 = {""}, a4 = {"00"}, a5 = {"00 00 ff 01"};
  write_hex_check(put_ubytes, &a1, "02 01 01");
  write_hex_check(put_ubytes, &a2, "02 02 00 80");
  write_hex_check(put_ubytes, &a3, "02 01 00");
  write_hex_check(put_ubytes, &a4, "02 01 00");
  write_hex_check(put_ubytes, &a5, "02 03 00 ff 01");
}

static void put_small(struct der_writer *w, const void *arg) {
  cg_der_put_bool(w, true);
  cg_der_put_bool(w, false);
  cg_der_put_null(w);
  cg_der_put_bit_string(w, "\xab", 1);
  cg_der_put_tlv(w, DER_CTX(2), "x", 1);
}

static void simple_values_have_their_der_encodings(void **state) {
  write_hex_check(put_small, NULL, "01 01 ff 01 01 00 05 00 03 02 00 ab 82 01 78");
}

static void put_bits(struct der_writer *w, const void *arg) {
  cg_der_put_named_bits(w, DER_BIT_STRING, *(const uint32_t *)arg);
}

static void named_bits_are_trimmed_when_written(void **state) {
  static const struct {
    uint32_t mask;
    const char *hex;
  } cases[] = {
      {0, "03 01 00"},
      {1u, "03 02 07 80"},
      {(1u << 5) | (1u << 6), "03 02 01 06"},
      {1u << 7, "03 02 00 01"},
      {1u << 8, "03 03 07 00 80"},
      {1u << 31, "03 05 00 00 00 00 01"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    write_hex_check(put_bits, &cases[i].mask, cases[i].hex);
  /* Every single bit and a few mixtures read back as written. */
  for (unsigned n = 0; n < 40; n++) {
    uint32_t mask = n < 32 ? 1u << n : (uint32_t)(0x9e3779b9u * n);
    uint8_t buf[16];
    struct der_writer w;
    cg_der_writer_init(&w, buf, sizeof buf);
    cg_der_put_named_bits(&w, DER_BIT_STRING, mask);
    struct der_reader r;
    struct der_tlv t;
    uint32_t back;
    cg_der_reader_init(&r, buf, w.len);
    assert_int_equal(cg_der_expect(&r, DER_BIT_STRING, &t), 0);
    assert_int_equal(cg_der_get_named_bits(t.val, &back), 0);
    assert_int_equal(back, mask);
  }
}

static void put_x509(struct der_writer *w, const void *arg) {
  cg_der_put_x509_time(w, *(const int64_t *)arg);
}

static void put_gen(struct der_writer *w, const void *arg) {
  cg_der_put_gentime(w, DER_GENERALIZED_TIME, *(const int64_t *)arg);
}

static void x509_time_switches_to_generalized_time_in_2050(void **state) {
  int64_t t = 2524607999; /* 2049-12-31T23:59:59Z */
  write_hex_check(put_x509, &t, "17 0d 34 39 31 32 33 31 32 33 35 39 35 39 5a");
  t = 2524608000; /* 2050-01-01T00:00:00Z */
  write_hex_check(put_x509, &t, "18 0f 32 30 35 30 30 31 30 31 30 30 30 30 30 30 5a");
  t = -631152000; /* 1950-01-01T00:00:00Z */
  write_hex_check(put_x509, &t, "17 0d 35 30 30 31 30 31 30 30 30 30 30 30 5a");
  t = -631152001; /* 1949-12-31T23:59:59Z */
  write_hex_check(put_x509, &t, "18 0f 31 39 34 39 31 32 33 31 32 33 35 39 35 39 5a");
  t = 1709208000; /* 2024-02-29T12:00:00Z */
  write_hex_check(put_gen, &t, "18 0f 32 30 32 34 30 32 32 39 31 32 30 30 30 30 5a");
}

static void time_outside_four_digit_years_is_not_written(void **state) {
  uint8_t buf[32];
  struct der_writer w;
  cg_der_writer_init(&w, buf, sizeof buf);
  cg_der_put_gentime(&w, DER_GENERALIZED_TIME, 253402300800); /* year 10000 */
  assert_int_equal(cg_der_writer_finish(&w, NULL), CG_EINVAL);
  cg_der_writer_init(&w, buf, sizeof buf);
  cg_der_put_x509_time(&w, -62167219201); /* year -1 */
  assert_int_equal(cg_der_writer_finish(&w, NULL), CG_EINVAL);
}

/* Times written and read back, and the GeneralizedTime text checked against
 * the C library's own calendar, over 1950..2100 in steps that hit every
 * month, day of the week and time of day. */
static void times_round_trip_and_agree_with_gmtime(void **state) {
  for (int64_t t = -631152000; t < 4102444800; t += 86400 * 3 + 3607) {
    uint8_t buf[64];
    struct der_writer w;
    cg_der_writer_init(&w, buf, sizeof buf);
    cg_der_put_x509_time(&w, t);
    cg_der_put_gentime(&w, DER_GENERALIZED_TIME, t);
    assert_int_equal(w.err, 0);
    struct der_reader r;
    struct der_tlv t1, t2;
    int64_t b1, b2;
    cg_der_reader_init(&r, buf, w.len);
    assert_int_equal(cg_der_next(&r, &t1), 0);
    assert_int_equal(cg_der_next(&r, &t2), 0);
    assert_int_equal(cg_der_get_time(t1.tag, t1.val, &b1), 0);
    assert_int_equal(cg_der_get_time(t2.tag, t2.val, &b2), 0);
    assert_int_equal(b1, t);
    assert_int_equal(b2, t);

    char got[16], want[32];
    time_t tt = (time_t)t;
    struct tm tm;
    assert_non_null(gmtime_r(&tt, &tm));
    strftime(want, sizeof want, "%Y%m%d%H%M%SZ", &tm);
    assert_int_equal(t2.val.len, 15);
    memcpy(got, t2.val.p, 15);
    got[15] = '\0';
    assert_string_equal(got, want);
  }
}

static void int64_is_written_in_minimal_twos_complement(void **state) {
  (void)state;
  static const struct {
    int64_t v;
    const char *hex;
  } cases[] = {
      {0, "020100"},          {-1, "0201ff"},          {127, "02017f"},
      {128, "02020080"},      {-128, "020180"},        {-129, "0202ff7f"},
      {256, "02020100"},      {INT64_MIN, "02088000000000000000"},
      {INT64_MAX, "02087fffffffffffffff"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t buf[16];
    size_t len, want_len;
    struct der_writer w;
    cg_der_writer_init(&w, buf, sizeof buf);
    cg_der_put_int64(&w, DER_INTEGER, cases[i].v);
    assert_int_equal(cg_der_writer_finish(&w, &len), 0);
    uint8_t *want = tu_hex(cases[i].hex, &want_len);
    assert_int_equal(len, want_len);
    assert_memory_equal(buf, want, len);
    assert_int_equal(cg_der_check_integer((struct der_view){buf + 2, len - 2}), 0);
    free(want);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sample_decodes_every_field),
      cmocka_unit_test(sample_prefixes_and_trailing_octet_fail),
      cmocka_unit_test(lengths_in_minimal_form_are_accepted),
      cmocka_unit_test(long_form_for_short_length_is_rejected),
      cmocka_unit_test(length_with_leading_zero_octet_is_rejected),
      cmocka_unit_test(indefinite_length_is_rejected),
      cmocka_unit_test(more_than_four_length_octets_are_rejected),
      cmocka_unit_test(length_past_the_end_is_rejected),
      cmocka_unit_test(element_running_past_its_parent_is_rejected),
      cmocka_unit_test(high_tag_number_form_is_rejected),
      cmocka_unit_test(non_der_forms_of_universal_tags_are_rejected),
      cmocka_unit_test(depth_limit_is_reached_but_not_exceeded),
      cmocka_unit_test(nesting_beyond_the_limit_fails_with_depth_error),
      cmocka_unit_test(errors_are_sticky),
      cmocka_unit_test(expect_fails_on_another_tag),
      cmocka_unit_test(optional_reads_only_a_matching_tag),
      cmocka_unit_test(leave_fails_on_unread_contents),
      cmocka_unit_test(leave_passes_the_child_error_up),
      cmocka_unit_test(integers_must_be_minimal_and_non_empty),
      cmocka_unit_test(uint64_decodes_non_negative_values_up_to_64_bits),
      cmocka_unit_test(booleans_are_00_or_ff),
      cmocka_unit_test(bit_strings_follow_the_unused_bits_rules),
      cmocka_unit_test(named_bits_map_bit_n_to_mask_bit_n),
      cmocka_unit_test(named_bits_with_trailing_zero_bits_are_rejected),
      cmocka_unit_test(times_decode_to_epoch_seconds),
      cmocka_unit_test(utctime_two_digit_years_pivot_at_50),
      cmocka_unit_test(february_29_only_in_leap_years),
      cmocka_unit_test(malformed_times_are_rejected),
      cmocka_unit_test(oids_need_minimal_complete_subidentifiers),
      cmocka_unit_test(views_compare_by_contents),
      cmocka_unit_test(lengths_across_form_boundaries_round_trip),
      cmocka_unit_test(end_reports_espace_when_the_long_length_does_not_fit),
      cmocka_unit_test(espace_is_sticky),
      cmocka_unit_test(uint64_is_written_minimally_and_positive),
      cmocka_unit_test(int64_is_written_in_minimal_twos_complement),
      cmocka_unit_test(uint_bytes_drop_leading_zeros_and_keep_the_sign),
      cmocka_unit_test(simple_values_have_their_der_encodings),
      cmocka_unit_test(named_bits_are_trimmed_when_written),
      cmocka_unit_test(x509_time_switches_to_generalized_time_in_2050),
      cmocka_unit_test(time_outside_four_digit_years_is_not_written),
      cmocka_unit_test(times_round_trip_and_agree_with_gmtime),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
