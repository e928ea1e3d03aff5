/*
 * der.h - strict DER reader and the one DER writer of cmpgw.
 *
 * Reader: a cursor over caller-owned bytes.  Every read checks the tag, that the
 * length is definite and minimally encoded (X.690 §10.1), and that the value
 * fits inside the enclosing element.  Reading never allocates and never copies:
 * results are views into the input, valid as long as the input is.  Errors are
 * sticky: after the first error every further call fails with the same code, so
 * a decoder may read a whole structure and check the error once at the end.
 * Nested elements are read with cg_der_enter()/cg_der_leave(): cg_der_leave() fails when
 * the child was not consumed exactly, and cg_der_enter() fails beyond
 * DER_MAX_DEPTH levels.  Only low tag numbers (0..30) are accepted; CMP needs
 * no other.
 *
 * Writer: appends to a caller buffer.  A constructed element is opened with
 * cg_der_begin() (which reserves one length octet) and closed with cg_der_end(),
 * which fixes the length, moving the contents when the length needs more
 * octets.  With a NULL buffer the writer only measures.  Overflow is a sticky
 * CG_ESPACE, read with cg_der_writer_finish().
 */
#ifndef CG_CORE_DER_H
#define CG_CORE_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/limits.h"


enum {
  DER_BOOLEAN = 0x01,
  DER_INTEGER = 0x02,
  DER_BIT_STRING = 0x03,
  DER_OCTET_STRING = 0x04,
  DER_NULL = 0x05,
  DER_OID = 0x06,
  DER_ENUMERATED = 0x0a,
  DER_UTF8_STRING = 0x0c,
  DER_PRINTABLE_STRING = 0x13,
  DER_T61_STRING = 0x14,
  DER_IA5_STRING = 0x16,
  DER_UTC_TIME = 0x17,
  DER_GENERALIZED_TIME = 0x18,
  DER_UNIVERSAL_STRING = 0x1c,
  DER_BMP_STRING = 0x1e,
  DER_SEQUENCE = 0x30,
  DER_SET = 0x31,
};
#define DER_CTX(n) (0x80u | (unsigned)(n))      /* [n] IMPLICIT, primitive */
#define DER_CTX_CONS(n) (0xa0u | (unsigned)(n)) /* [n] constructed / EXPLICIT */

#define DER_MAX_DEPTH CG_LIMIT_DER_DEPTH

/* A view of bytes owned by someone else. */
struct der_view {
  const uint8_t *p;
  size_t len;
};

/* One element: its tag octet, its contents, and the whole encoding (tag,
 * length and contents) as received. */
struct der_tlv {
  unsigned tag;
  struct der_view val;
  struct der_view raw;
};

struct der_reader {
  const uint8_t *p;
  const uint8_t *end;
  int err;        /* 0 or the first CG_E* met; sticky */
  unsigned depth; /* nesting level, 0 for a top-level reader */
};

void cg_der_reader_init(struct der_reader *r, const uint8_t *p, size_t len);
/* A reader over a view, at depth 0. */
void cg_der_reader_view(struct der_reader *r, struct der_view v);

/* True when nothing is left (or an error is set). */
bool cg_der_at_end(const struct der_reader *r);
/* Tag octet of the next element, or -1 at the end or after an error.  Does not
 * validate the element. */
int cg_der_peek_tag(const struct der_reader *r);

/* Reads the next element whatever its tag.  0 or CG_EDER. */
int cg_der_next(struct der_reader *r, struct der_tlv *out);
/* Reads the next element, which must carry tag.  0 or CG_EDER. */
int cg_der_expect(struct der_reader *r, unsigned tag, struct der_tlv *out);
/* Reads the next element if it carries tag: returns 1 (read), 0 (absent: at
 * end or another tag; nothing consumed) or a negative error. */
int cg_der_optional(struct der_reader *r, unsigned tag, struct der_tlv *out);

/* Reads the next element (which must carry tag, a constructed one) and points
 * child at its contents, one level deeper.  CG_EDER / CG_EDER_DEPTH. */
int cg_der_enter(struct der_reader *r, unsigned tag, struct der_reader *child);
/* Like cg_der_enter() when the next element carries tag; returns 1 when entered,
 * 0 when absent. */
int cg_der_enter_optional(struct der_reader *r, unsigned tag, struct der_reader *child);
/* Ends reading child: fails (and makes parent's error sticky) when child has an
 * error or unread bytes.  Returns parent's error state. */
int cg_der_leave(struct der_reader *parent, struct der_reader *child);
/* Sets r's sticky error (if none is set yet) and returns r's error. */
int cg_der_fail(struct der_reader *r, int err);

/* Value decoders over the contents of an element.  Each checks the DER rules
 * for its type and returns 0 or CG_EDER. */
/* INTEGER that must be >= 0 and fit in 64 bits. */
int cg_der_get_uint64(struct der_view v, uint64_t *out);
/* INTEGER (any size): checks minimal encoding; returns the view unchanged. */
int cg_der_check_integer(struct der_view v);
/* BOOLEAN: 0x00 or 0xff only. */
int cg_der_get_bool(struct der_view v, bool *out);
/* BIT STRING: unused-bits octet 0..7, unused bits zero, no unused bits when
 * empty.  *bits gets the octets after the unused-bits octet. */
int cg_der_get_bit_string(struct der_view v, struct der_view *bits, unsigned *unused);
/* The named-bit value of a BIT STRING as a mask: bit n of the ASN.1 value is
 * (1u << n).  Only the first 32 bits; trailing zero bits must be trimmed
 * (X.690 §11.2.2). */
int cg_der_get_named_bits(struct der_view v, uint32_t *mask);
/* UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ, no fraction)
 * by tag, to seconds since the epoch. */
int cg_der_get_time(unsigned tag, struct der_view v, int64_t *out);
/* OID: checks base-128 subidentifiers are minimal; leaves the contents as is. */
int cg_der_check_oid(struct der_view v);

/* True when two views hold the same bytes. */
bool cg_der_view_eq(struct der_view a, struct der_view b);
/* True when v holds the same bytes as the n octets at p. */
bool cg_der_view_is(struct der_view v, const uint8_t *p, size_t n);

struct der_writer {
  uint8_t *buf; /* NULL: measure only */
  size_t cap;
  size_t len;
  int err; /* 0, CG_ESPACE, or CG_EINVAL for a time outside 0000..9999; sticky */
};

void cg_der_writer_init(struct der_writer *w, uint8_t *buf, size_t cap);
/* Opens a constructed element; returns the mark cg_der_end() needs. */
size_t cg_der_begin(struct der_writer *w, unsigned tag);
/* Closes the element opened at mark, encoding its length minimally. */
void cg_der_end(struct der_writer *w, size_t mark);
/* Appends bytes as they are (an element encoded elsewhere). */
void cg_der_put_raw(struct der_writer *w, const void *p, size_t len);
/* Appends tag, length and the given contents. */
void cg_der_put_tlv(struct der_writer *w, unsigned tag, const void *p, size_t len);
/* INTEGER from an unsigned value. */
void cg_der_put_uint64(struct der_writer *w, unsigned tag, uint64_t v);
/* INTEGER from a signed value (e.g. certReqId -1 of p10cr). */
void cg_der_put_int64(struct der_writer *w, unsigned tag, int64_t v);
/* INTEGER from a big-endian magnitude: leading zero octets are dropped and one
 * is added when the high bit is set, so the value is positive. */
void cg_der_put_uint_bytes(struct der_writer *w, unsigned tag, const uint8_t *p, size_t len);
void cg_der_put_bool(struct der_writer *w, bool v);
void cg_der_put_null(struct der_writer *w);
/* BIT STRING with no unused bits. */
void cg_der_put_bit_string(struct der_writer *w, const void *p, size_t len);
/* BIT STRING of named bits (bit n = 1u << n), trailing zero bits trimmed. */
void cg_der_put_named_bits(struct der_writer *w, unsigned tag, uint32_t mask);
/* GeneralizedTime YYYYMMDDHHMMSSZ. */
void cg_der_put_gentime(struct der_writer *w, unsigned tag, int64_t t);
/* RFC 5280 §4.1.2.5 Time: UTCTime through 2049, GeneralizedTime after. */
void cg_der_put_x509_time(struct der_writer *w, int64_t t);
/* Returns 0 and the total length, or the sticky error. */
int cg_der_writer_finish(const struct der_writer *w, size_t *len);

#endif
