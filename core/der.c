/*
 * der.c - the strict DER reader, the value decoders and the one DER writer of
 * cmpgw (see der.h for the contracts).  The reader accepts only what X.690
 * §10/§11 (DER) allows: definite, minimally encoded lengths of at most four
 * octets, low tag numbers, primitive strings, constructed SEQUENCE and SET,
 * and elements that fit inside their parent.  Times are converted by
 * core/time.h, so nothing depends on the process time zone or on the range of
 * time_t.
 */
#include "core/der.h"

#include <assert.h>
#include <string.h>

#include "core/err.h"
#include "core/time.h"

/* ------------------------------------------------------------------------ */
/* Reader                                                                    */
/* ------------------------------------------------------------------------ */

void cg_der_reader_init(struct der_reader *r, const uint8_t *p, size_t len) {
  r->p = p;
  r->end = len ? p + len : p; /* NULL + 0 is not defined C */
  r->err = 0;
  r->depth = 0;
}

void cg_der_reader_view(struct der_reader *r, struct der_view v) {
  cg_der_reader_init(r, v.p, v.len);
}

bool cg_der_at_end(const struct der_reader *r) { return r->err != 0 || r->p >= r->end; }

int cg_der_peek_tag(const struct der_reader *r) { return cg_der_at_end(r) ? -1 : r->p[0]; }

int cg_der_fail(struct der_reader *r, int err) {
  if (r->err == 0)
    r->err = err;
  return r->err;
}

/* Whether the constructed bit of a universal tag is the one DER demands:
 * SEQUENCE and SET are constructed (X.690 §8.9.1, §8.11.1), so are EXTERNAL,
 * EMBEDDED PDV and CHARACTER STRING; every other universal type is primitive,
 * strings included (X.690 §10.2).  Universal 0 is end-of-contents, which only
 * the indefinite form uses (X.690 §8.1.5). */
static bool universal_form_ok(unsigned tag) {
  if ((tag & 0xc0) != 0)
    return true;
  unsigned num = tag & 0x1f;
  bool constructed = (tag & 0x20) != 0;
  if (num == 0)
    return false;
  if (num == 8 || num == 11 || num == 16 || num == 17 || num == 29)
    return constructed;
  return !constructed;
}

/* Decodes the element at r->p into out and advances past it; r is left alone
 * on failure. */
static int read_element(struct der_reader *r, struct der_tlv *out) {
  const uint8_t *p = r->p;
  size_t avail = (size_t)(r->end - p);
  if (avail < 2)
    return CG_EDER;
  unsigned tag = p[0];
  /* X.690 §8.1.2.4: 0x1f announces the high-tag-number form; CMP uses none,
   * so it is refused rather than decoded (no tag value can overflow). */
  if ((tag & 0x1f) == 0x1f || !universal_form_ok(tag))
    return CG_EDER;

  size_t len, hdr;
  if (p[1] < 0x80) {
    len = p[1];
    hdr = 2;
  } else {
    size_t n = p[1] & 0x7f;
    /* X.690 §10.1: definite form only (0x80 is indefinite); more than four
     * length octets would describe more than any input we accept, and 0xff is
     * reserved (X.690 §8.1.3.5 c). */
    if (n == 0 || n > 4 || avail - 2 < n)
      return CG_EDER;
    /* X.690 §10.1: the minimum number of octets: no leading zero octet, and
     * the long form only for lengths of 128 and more. */
    if (p[2] == 0)
      return CG_EDER;
    len = 0;
    for (size_t i = 0; i < n; i++)
      len = len << 8 | p[2 + i];
    if (len < 0x80)
      return CG_EDER;
    hdr = 2 + n;
  }
  if (len > avail - hdr)
    return CG_EDER;

  out->tag = tag;
  out->val.p = p + hdr;
  out->val.len = len;
  out->raw.p = p;
  out->raw.len = hdr + len;
  r->p = p + hdr + len;
  return 0;
}

int cg_der_next(struct der_reader *r, struct der_tlv *out) {
  struct der_tlv tlv = {0};
  int rc = r->err;
  if (rc == 0)
    rc = read_element(r, &tlv);
  if (out != NULL)
    *out = rc == 0 ? tlv : (struct der_tlv){0};
  return rc == 0 ? 0 : cg_der_fail(r, rc);
}

int cg_der_expect(struct der_reader *r, unsigned tag, struct der_tlv *out) {
  struct der_tlv tlv;
  int rc = cg_der_next(r, &tlv);
  if (rc == 0 && tlv.tag != tag)
    rc = cg_der_fail(r, CG_EDER);
  if (out != NULL)
    *out = rc == 0 ? tlv : (struct der_tlv){0};
  return rc;
}

int cg_der_optional(struct der_reader *r, unsigned tag, struct der_tlv *out) {
  if (r->err != 0 || cg_der_at_end(r) || cg_der_peek_tag(r) != (int)tag) {
    if (out != NULL)
      *out = (struct der_tlv){0};
    return r->err;
  }
  int rc = cg_der_expect(r, tag, out);
  return rc < 0 ? rc : 1;
}

/* A child that reads nothing: empty, or failed with err. */
static void child_empty(const struct der_reader *r, struct der_reader *child, int err) {
  child->p = r->p;
  child->end = r->p;
  child->err = err;
  child->depth = r->depth + 1;
}

int cg_der_enter(struct der_reader *r, unsigned tag, struct der_reader *child) {
  if (r->err == 0 && r->depth >= DER_MAX_DEPTH)
    cg_der_fail(r, CG_EDER_DEPTH);
  struct der_tlv tlv;
  if (cg_der_expect(r, tag, &tlv) < 0) {
    child_empty(r, child, r->err);
    return r->err;
  }
  cg_der_reader_view(child, tlv.val);
  child->depth = r->depth + 1;
  return 0;
}

int cg_der_enter_optional(struct der_reader *r, unsigned tag, struct der_reader *child) {
  if (r->err != 0 || cg_der_at_end(r) || cg_der_peek_tag(r) != (int)tag) {
    child_empty(r, child, r->err);
    return r->err;
  }
  int rc = cg_der_enter(r, tag, child);
  return rc < 0 ? rc : 1;
}

int cg_der_leave(struct der_reader *parent, struct der_reader *child) {
  if (child->err != 0)
    cg_der_fail(parent, child->err);
  else if (child->p != child->end)
    cg_der_fail(parent, CG_EDER);
  return parent->err;
}

/* ------------------------------------------------------------------------ */
/* Value decoders                                                            */
/* ------------------------------------------------------------------------ */

int cg_der_check_integer(struct der_view v) {
  /* X.690 §8.3.1: at least one contents octet. */
  if (v.len == 0)
    return CG_EDER;
  /* X.690 §8.3.2: the first nine bits are neither all zero nor all one. */
  if (v.len > 1 && ((v.p[0] == 0x00 && v.p[1] < 0x80) || (v.p[0] == 0xff && v.p[1] >= 0x80)))
    return CG_EDER;
  return 0;
}

int cg_der_get_uint64(struct der_view v, uint64_t *out) {
  if (cg_der_check_integer(v) < 0 || (v.p[0] & 0x80) != 0)
    return CG_EDER;
  size_t i = v.p[0] == 0 ? 1 : 0;
  if (v.len - i > 8)
    return CG_EDER;
  uint64_t x = 0;
  for (; i < v.len; i++)
    x = x << 8 | v.p[i];
  *out = x;
  return 0;
}

int cg_der_get_bool(struct der_view v, bool *out) {
  /* X.690 §8.2.1 one octet; §11.1: TRUE is 0xff in DER. */
  if (v.len != 1 || (v.p[0] != 0x00 && v.p[0] != 0xff))
    return CG_EDER;
  *out = v.p[0] != 0;
  return 0;
}

int cg_der_get_bit_string(struct der_view v, struct der_view *bits, unsigned *unused) {
  /* X.690 §8.6.2.2: an initial octet 0..7; §8.6.2.3: zero when no bits
   * follow; §11.2.1: the unused bits of the last octet are zero. */
  if (v.len == 0 || v.p[0] > 7 || (v.len == 1 && v.p[0] != 0))
    return CG_EDER;
  unsigned u = v.p[0];
  if (v.len > 1 && (v.p[v.len - 1] & ((1u << u) - 1)) != 0)
    return CG_EDER;
  if (bits != NULL) {
    bits->p = v.p + 1;
    bits->len = v.len - 1;
  }
  if (unused != NULL)
    *unused = u;
  return 0;
}

int cg_der_get_named_bits(struct der_view v, uint32_t *mask) {
  struct der_view bits;
  unsigned unused;
  if (cg_der_get_bit_string(v, &bits, &unused) < 0)
    return CG_EDER;
  /* X.690 §11.2.2: trailing zero bits are removed, so the last used bit of a
   * non-empty value is a one. */
  if (bits.len > 0 && ((bits.p[bits.len - 1] >> unused) & 1) == 0)
    return CG_EDER;
  uint32_t m = 0;
  /* Bits past 31 name nothing cmpgw knows; they are left out of the mask. */
  for (size_t i = 0; i < bits.len && i < 4; i++)
    for (unsigned j = 0; j < 8; j++)
      if (bits.p[i] & (0x80u >> j))
        m |= 1u << (i * 8 + j);
  *mask = m;
  return 0;
}

/* n decimal digits at p; -1 when one is not a digit. */
static int64_t get_digits(const uint8_t *p, size_t n) {
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

int cg_der_get_time(unsigned tag, struct der_view v, int64_t *out) {
  int64_t year;
  const uint8_t *rest;
  if (tag == DER_UTC_TIME) {
    /* RFC 5280 §4.1.2.5.1: YYMMDDHHMMSSZ, seconds and 'Z' mandatory. */
    if (v.len != 13 || v.p[12] != 'Z')
      return CG_EDER;
    int64_t yy = get_digits(v.p, 2);
    if (yy < 0)
      return CG_EDER;
    /* RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, YY < 50 is 20YY. */
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = v.p + 2;
  } else if (tag == DER_GENERALIZED_TIME) {
    /* RFC 5280 §4.1.2.5.2: YYYYMMDDHHMMSSZ, no fractional seconds. */
    if (v.len != 15 || v.p[14] != 'Z')
      return CG_EDER;
    year = get_digits(v.p, 4);
    if (year < 0)
      return CG_EDER;
    rest = v.p + 4;
  } else {
    return CG_EDER;
  }
  int64_t mon = get_digits(rest, 2), day = get_digits(rest + 2, 2);
  int64_t hour = get_digits(rest + 4, 2), min = get_digits(rest + 6, 2);
  int64_t sec = get_digits(rest + 8, 2);
  if (mon < 0 || day < 0 || hour < 0 || min < 0 || sec < 0)
    return CG_EDER;
  /* cg_time_from_utc() checks the ranges: month, day of that month, time of
   * day without a leap second. */
  struct cg_utc u = {.year = year, .month = (unsigned)mon, .day = (unsigned)day,
                     .hour = (unsigned)hour, .min = (unsigned)min, .sec = (unsigned)sec};
  return cg_time_from_utc(&u, out) == 0 ? 0 : CG_EDER;
}

int cg_der_check_oid(struct der_view v) {
  /* X.690 §8.19.2: at least one subidentifier, each ending with an octet
   * whose top bit is clear and not starting with 0x80 (no padding). */
  if (v.len == 0 || (v.p[v.len - 1] & 0x80) != 0)
    return CG_EDER;
  bool start = true;
  for (size_t i = 0; i < v.len; i++) {
    if (start && v.p[i] == 0x80)
      return CG_EDER;
    start = (v.p[i] & 0x80) == 0;
  }
  return 0;
}

bool cg_der_view_eq(struct der_view a, struct der_view b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool cg_der_view_is(struct der_view v, const uint8_t *p, size_t n) {
  return v.len == n && (n == 0 || memcmp(v.p, p, n) == 0);
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */
/* ------------------------------------------------------------------------ */

void cg_der_writer_init(struct der_writer *w, uint8_t *buf, size_t cap) {
  w->buf = buf;
  w->cap = buf != NULL ? cap : 0;
  w->len = 0;
  w->err = 0;
}

static void put(struct der_writer *w, const void *p, size_t n) {
  if (w->err != 0)
    return;
  if (w->buf != NULL) {
    if (n > w->cap - w->len) {
      w->err = CG_ESPACE;
      return;
    }
    if (n > 0)
      memcpy(w->buf + w->len, p, n);
  }
  w->len += n;
}

static void put_byte(struct der_writer *w, uint8_t b) { put(w, &b, 1); }

/* Octets after the first length octet that len needs (X.690 §8.1.3.5). */
static unsigned long_len_octets(size_t len) {
  unsigned k = 0;
  if (len >= 0x80)
    for (uint64_t l = len; l != 0; l >>= 8)
      k++;
  return k;
}

static void put_header(struct der_writer *w, unsigned tag, size_t len) {
  assert(tag <= 0xff && (tag & 0x1f) != 0x1f);
  unsigned k = long_len_octets(len);
  if (k > 4) {
    /* The reader takes at most four length octets; refuse to write more. */
    if (w->err == 0)
      w->err = CG_ESPACE;
    return;
  }
  uint8_t hdr[6];
  hdr[0] = (uint8_t)tag;
  if (k == 0) {
    hdr[1] = (uint8_t)len;
  } else {
    hdr[1] = (uint8_t)(0x80 | k);
    for (unsigned i = 0; i < k; i++)
      hdr[2 + i] = (uint8_t)(len >> (8 * (k - 1 - i)));
  }
  put(w, hdr, 2 + k);
}

size_t cg_der_begin(struct der_writer *w, unsigned tag) {
  /* One length octet is reserved; cg_der_end() makes room if it needs more. */
  put_header(w, tag, 0);
  return w->len;
}

void cg_der_end(struct der_writer *w, size_t mark) {
  if (w->err != 0)
    return;
  assert(mark >= 2 && mark <= w->len);
  size_t n = w->len - mark;
  unsigned k = long_len_octets(n);
  if (k > 4) {
    w->err = CG_ESPACE;
    return;
  }
  if (w->buf != NULL) {
    if (k > w->cap - w->len) {
      w->err = CG_ESPACE;
      return;
    }
    if (k == 0) {
      w->buf[mark - 1] = (uint8_t)n;
      return;
    }
    memmove(w->buf + mark + k, w->buf + mark, n);
    w->buf[mark - 1] = (uint8_t)(0x80 | k);
    for (unsigned i = 0; i < k; i++)
      w->buf[mark + i] = (uint8_t)(n >> (8 * (k - 1 - i)));
  }
  w->len += k;
}

void cg_der_put_raw(struct der_writer *w, const void *p, size_t len) { put(w, p, len); }

void cg_der_put_tlv(struct der_writer *w, unsigned tag, const void *p, size_t len) {
  put_header(w, tag, len);
  put(w, p, len);
}

void cg_der_put_uint64(struct der_writer *w, unsigned tag, uint64_t v) {
  uint8_t be[8];
  for (unsigned i = 0; i < 8; i++)
    be[i] = (uint8_t)(v >> (8 * (7 - i)));
  cg_der_put_uint_bytes(w, tag, be, sizeof be);
}

void cg_der_put_int64(struct der_writer *w, unsigned tag, int64_t v) {
  uint8_t be[8];
  for (unsigned i = 0; i < 8; i++)
    be[i] = (uint8_t)((uint64_t)v >> (8 * (7 - i)));
  /* X.690 §8.3.2: two's complement in the fewest octets: drop a leading
   * octet while it only repeats the sign of the next one. */
  size_t skip = 0;
  while (skip < 7 && ((be[skip] == 0x00 && !(be[skip + 1] & 0x80)) ||
                      (be[skip] == 0xff && (be[skip + 1] & 0x80))))
    skip++;
  cg_der_put_tlv(w, tag, be + skip, 8 - skip);
}

void cg_der_put_uint_bytes(struct der_writer *w, unsigned tag, const uint8_t *p, size_t len) {
  while (len > 0 && p[0] == 0) {
    p++;
    len--;
  }
  /* X.690 §8.3.2: zero is one 0x00 octet; a set top bit would read as a
   * negative number, so a 0x00 goes in front of it. */
  bool pad = len == 0 || (p[0] & 0x80) != 0;
  put_header(w, tag, len + pad);
  if (pad)
    put_byte(w, 0);
  put(w, p, len);
}

void cg_der_put_bool(struct der_writer *w, bool v) {
  uint8_t b = v ? 0xff : 0x00; /* X.690 §11.1 */
  cg_der_put_tlv(w, DER_BOOLEAN, &b, 1);
}

void cg_der_put_null(struct der_writer *w) { cg_der_put_tlv(w, DER_NULL, NULL, 0); }

void cg_der_put_bit_string(struct der_writer *w, const void *p, size_t len) {
  put_header(w, DER_BIT_STRING, len + 1);
  put_byte(w, 0);
  put(w, p, len);
}

void cg_der_put_named_bits(struct der_writer *w, unsigned tag, uint32_t mask) {
  uint8_t v[5] = {0};
  size_t nbits = 0;
  for (unsigned n = 0; n < 32; n++)
    if (mask & (1u << n))
      nbits = n + 1;
  /* X.690 §11.2.2: trailing zero bits dropped; the first octet counts the
   * unused bits of the last (§8.6.2.2). */
  size_t nbytes = (nbits + 7) / 8;
  v[0] = (uint8_t)(nbytes * 8 - nbits);
  for (unsigned n = 0; n < nbits; n++)
    if (mask & (1u << n))
      v[1 + n / 8] |= (uint8_t)(0x80u >> (n % 8));
  cg_der_put_tlv(w, tag, v, 1 + nbytes);
}

/* Writes v as n decimal digits at out. */
static void format_digits(char *out, unsigned v, unsigned n) {
  while (n-- > 0) {
    out[n] = (char)('0' + v % 10);
    v /= 10;
  }
}

/* YYYYMMDDHHMMSSZ (four_digit_year) or YYMMDDHHMMSSZ into out; returns the
 * length. */
static size_t format_time(const struct cg_utc *u, bool four_digit_year, char *out) {
  size_t o = 0;
  if (four_digit_year) {
    format_digits(out, (unsigned)u->year, 4);
    o = 4;
  } else {
    format_digits(out, (unsigned)(u->year % 100), 2);
    o = 2;
  }
  format_digits(out + o, u->month, 2);
  format_digits(out + o + 2, u->day, 2);
  format_digits(out + o + 4, u->hour, 2);
  format_digits(out + o + 6, u->min, 2);
  format_digits(out + o + 8, u->sec, 2);
  out[o + 10] = 'Z';
  return o + 11;
}

/* GeneralizedTime has four year digits: a time outside years 0..9999 cannot
 * be written, which is the caller's bug (CG_EINVAL). */
static bool time_writable(struct der_writer *w, int64_t t) {
  if (t >= CG_TIME_MIN && t <= CG_TIME_MAX)
    return true;
  if (w->err == 0)
    w->err = CG_EINVAL;
  return false;
}

void cg_der_put_gentime(struct der_writer *w, unsigned tag, int64_t t) {
  if (!time_writable(w, t))
    return;
  struct cg_utc u;
  cg_time_to_utc(t, &u);
  char s[16];
  size_t n = format_time(&u, true, s);
  cg_der_put_tlv(w, tag, s, n);
}

void cg_der_put_x509_time(struct der_writer *w, int64_t t) {
  if (!time_writable(w, t))
    return;
  struct cg_utc u;
  cg_time_to_utc(t, &u);
  char s[16];
  /* RFC 5280 §4.1.2.5: UTCTime for 1950 through 2049, GeneralizedTime for
   * every other year. */
  bool utc = u.year >= 1950 && u.year <= 2049;
  size_t n = format_time(&u, !utc, s);
  cg_der_put_tlv(w, utc ? DER_UTC_TIME : DER_GENERALIZED_TIME, s, n);
}

int cg_der_writer_finish(const struct der_writer *w, size_t *len) {
  if (w->err != 0)
    return w->err;
  if (len != NULL)
    *len = w->len;
  return 0;
}
