/*
 * fuzz_der.c - libFuzzer target for core/der.c, core/oid.c and core/x509.c.
 *
 * The input is walked with the DER reader, entering every constructed element
 * and decoding every primitive one with the decoder its tag calls for, and is
 * also handed to cg_x509_parse() and cg_name_to_string().  Besides crashes and
 * sanitizer reports the target checks properties that must hold for any
 * input:
 *   - DER is canonical: whatever the reader accepts as a whole, re-encoded
 *     with the writer, gives back exactly the input, and measure mode gives
 *     the same length;
 *   - a decoded time, written again and read back, is the same time;
 *   - a string from cg_name_to_string() is NUL terminated inside its buffer.
 * Build with -DCMPGW_FUZZ=ON and CC=clang; run e.g. ./fuzz_der -max_total_time=20.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/der.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/time.h"
#include "core/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok) {
  if (!ok)
    abort();
}

static void decode_time(const struct der_tlv *t) {
  int64_t v, back;
  if (cg_der_get_time(t->tag, t->val, &v) < 0)
    return;
  char iso[21];
  cg_time_iso8601(v, iso);
  require(strlen(iso) == 20);
  uint8_t buf[32];
  struct der_writer w;
  cg_der_writer_init(&w, buf, sizeof buf);
  cg_der_put_gentime(&w, DER_GENERALIZED_TIME, v);
  require(w.err == 0);
  struct der_reader r;
  struct der_tlv g;
  cg_der_reader_init(&r, buf, w.len);
  require(cg_der_next(&r, &g) == 0 && cg_der_get_time(g.tag, g.val, &back) == 0 && back == v);
  /* A GeneralizedTime read is written back byte for byte. */
  if (t->tag == DER_GENERALIZED_TIME)
    require(cg_der_view_eq(g.val, t->val));
}

static void decode_value(const struct der_tlv *t) {
  switch (t->tag) {
  case DER_INTEGER:
  case DER_ENUMERATED: {
    uint64_t v;
    int checked = cg_der_check_integer(t->val);
    if (cg_der_get_uint64(t->val, &v) == 0) {
      require(checked == 0);
      uint8_t buf[16];
      struct der_writer w;
      cg_der_writer_init(&w, buf, sizeof buf);
      cg_der_put_uint64(&w, t->tag, v);
      require(w.err == 0 && w.len == t->raw.len && memcmp(buf, t->raw.p, w.len) == 0);
    }
    break;
  }
  case DER_BOOLEAN: {
    bool b;
    (void)cg_der_get_bool(t->val, &b);
    break;
  }
  case DER_BIT_STRING: {
    struct der_view bits;
    unsigned unused;
    uint32_t mask;
    int plain = cg_der_get_bit_string(t->val, &bits, &unused);
    if (cg_der_get_named_bits(t->val, &mask) == 0) {
      require(plain == 0);
      /* Within 32 bits, named bits are written back as they came. */
      if (bits.len <= 4) {
        uint8_t buf[16];
        struct der_writer w;
        cg_der_writer_init(&w, buf, sizeof buf);
        cg_der_put_named_bits(&w, DER_BIT_STRING, mask);
        require(w.err == 0 && w.len == t->raw.len && memcmp(buf, t->raw.p, w.len) == 0);
      }
    }
    break;
  }
  case DER_UTC_TIME:
  case DER_GENERALIZED_TIME:
    decode_time(t);
    break;
  case DER_OID:
    if (cg_der_check_oid(t->val) == 0) {
      enum cg_oid_id id = cg_oid_lookup(t->val);
      if (id != CG_OID_UNKNOWN)
        require(cg_der_view_eq(cg_oid(id), t->val));
    }
    break;
  default:
    break;
  }
}

/* Reads everything in r, writing the same structure to w. */
static void walk(struct der_reader *r, struct der_writer *w) {
  while (!cg_der_at_end(r)) {
    int tag = cg_der_peek_tag(r);
    if (tag & 0x20) {
      struct der_reader child;
      if (cg_der_enter(r, (unsigned)tag, &child) == 0) {
        size_t mark = cg_der_begin(w, (unsigned)tag);
        walk(&child, w);
        cg_der_end(w, mark);
      }
      cg_der_leave(r, &child);
    } else {
      struct der_tlv t;
      if (cg_der_next(r, &t) == 0) {
        decode_value(&t);
        cg_der_put_tlv(w, t.tag, t.val.p, t.val.len);
      }
    }
  }
}

static void check_name(struct der_view name, size_t cap) {
  char *s = malloc(cap ? cap : 1);
  require(s != NULL);
  int rc = cg_name_to_string(name, cap ? s : NULL, cap);
  if (rc == 0)
    require(memchr(s, '\0', cap) != NULL);
  free(s);
}

static void check_certificate(const uint8_t *data, size_t size) {
  struct cg_x509 x;
  if (cg_x509_parse(data, size, &x) < 0)
    return;
  require(x.raw.p == data && x.raw.len == size);
  check_name(x.issuer, 1024);
  check_name(x.subject, 64);
  struct der_view v;
  bool critical;
  static const enum cg_oid_id exts[] = {CG_OID_EXT_SKID, CG_OID_EXT_KEY_USAGE,
                                        CG_OID_EXT_BASIC_CONSTRAINTS, CG_OID_EXT_SAN};
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    require(cg_x509_find_ext(x.extensions, cg_oid(exts[i]), &v, &critical) >= 0);
  char *hex = malloc(2 * x.serial.len + 1);
  require(hex != NULL);
  cg_hex(x.serial.p, x.serial.len, hex);
  free(hex);
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  (void)cg_oid_sigalg(cg_oid_lookup(x.sig_oid), &scheme, &hash);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct der_reader r;
  struct der_writer w, m;
  uint8_t *out = malloc(size ? size : 1);
  require(out != NULL);
  cg_der_reader_init(&r, data, size);
  cg_der_writer_init(&w, out, size);
  cg_der_writer_init(&m, NULL, 0);
  walk(&r, &w);
  if (r.err == 0) {
    /* Every length was minimal on the way in, so the same lengths come out. */
    struct der_reader again;
    cg_der_reader_init(&again, data, size);
    walk(&again, &m);
    size_t len, mlen;
    require(cg_der_writer_finish(&w, &len) == 0 && len == size);
    require(cg_der_writer_finish(&m, &mlen) == 0 && mlen == size);
    require(size == 0 || memcmp(out, data, size) == 0);
  }
  free(out);

  check_name((struct der_view){data, size}, 256);
  check_name((struct der_view){data, size}, 4096);
  check_certificate(data, size);
  return 0;
}
