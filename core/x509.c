/*
 * x509.c - a strict, zero-copy reader of X.509 certificates (RFC 5280 §4.1)
 * and the RFC 4514 string form of distinguished names.  The parser walks the
 * whole certificate with the DER reader of der.c, checks the rules of RFC
 * 5280 that concern the encoding (version, serial length, unique IDs and
 * extensions only where the version allows them, one instance of each
 * extension, matching signature algorithms) and records views of the fields
 * later layers need.  It checks no signature and no validity period: that is
 * chain verification's job.
 */
#include "core/x509.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/oid.h"

/* Makes rc the sticky error of r when it is an error code. */
static void check(struct der_reader *r, int rc) {
  if (rc < 0)
    cg_der_fail(r, rc);
}

static struct der_view span(const uint8_t *start, const uint8_t *end) {
  struct der_view v = {start, (size_t)(end - start)};
  return v;
}

/* AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER,
 *                                    parameters ANY DEFINED BY algorithm OPTIONAL }
 * (RFC 5280 §4.1.1.2).  raw gets the whole TLV, oid the OID contents. */
static int read_algid(struct der_reader *r, struct der_view *raw, struct der_view *oid) {
  const uint8_t *start = r->p;
  struct der_reader a;
  struct der_tlv t;
  cg_der_enter(r, DER_SEQUENCE, &a);
  cg_der_expect(&a, DER_OID, &t);
  check(&a, cg_der_check_oid(t.val));
  if (!cg_der_at_end(&a))
    cg_der_next(&a, NULL);
  if (cg_der_leave(r, &a) < 0)
    return r->err;
  *raw = span(start, r->p);
  *oid = t.val;
  return 0;
}

/* Name ::= CHOICE { rdnSequence RDNSequence }
 * RDNSequence ::= SEQUENCE OF RelativeDistinguishedName
 * RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
 * AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
 * (RFC 5280 §4.1.2.4).  Reads one RDN; each attribute is handed to fn (when
 * not NULL) with its index in the RDN. */
typedef void atv_fn(void *ctx, size_t index, struct der_view type, const struct der_tlv *value);

static int read_rdn(struct der_reader *r, atv_fn *fn, void *ctx) {
  struct der_reader set;
  cg_der_enter(r, DER_SET, &set);
  if (cg_der_at_end(&set))
    cg_der_fail(&set, CG_EDER); /* SIZE (1..MAX) */
  for (size_t i = 0; !cg_der_at_end(&set); i++) {
    struct der_reader atv;
    struct der_tlv type, value;
    cg_der_enter(&set, DER_SEQUENCE, &atv);
    cg_der_expect(&atv, DER_OID, &type);
    check(&atv, cg_der_check_oid(type.val));
    cg_der_next(&atv, &value);
    if (cg_der_leave(&set, &atv) == 0 && fn != NULL)
      fn(ctx, i, type.val, &value);
  }
  return cg_der_leave(r, &set);
}

/* Reads a Name; raw gets the whole TLV and *rdns the number of RDNs. */
static int read_name(struct der_reader *r, struct der_view *raw, size_t *rdns) {
  const uint8_t *start = r->p;
  struct der_reader seq;
  size_t n = 0;
  cg_der_enter(r, DER_SEQUENCE, &seq);
  while (!cg_der_at_end(&seq) && read_rdn(&seq, NULL, NULL) == 0)
    n++;
  if (cg_der_leave(r, &seq) < 0)
    return r->err;
  *raw = span(start, r->p);
  *rdns = n;
  return 0;
}

/* Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER,
 *                          critical BOOLEAN DEFAULT FALSE,
 *                          extnValue OCTET STRING }   (RFC 5280 §4.1) */
static int read_extension(struct der_reader *r, struct der_view *oid, bool *critical,
                          struct der_view *value) {
  struct der_reader e;
  struct der_tlv id, crit, val;
  bool c = false;
  cg_der_enter(r, DER_SEQUENCE, &e);
  cg_der_expect(&e, DER_OID, &id);
  check(&e, cg_der_check_oid(id.val));
  if (cg_der_optional(&e, DER_BOOLEAN, &crit) == 1) {
    check(&e, cg_der_get_bool(crit.val, &c));
    /* X.690 §11.5: a value equal to the DEFAULT is not encoded, so a
     * present FALSE is BER, not DER. */
    if (!c)
      cg_der_fail(&e, CG_EDER);
  }
  cg_der_expect(&e, DER_OCTET_STRING, &val);
  if (cg_der_leave(r, &e) < 0)
    return r->err;
  *oid = id.val;
  *critical = c;
  *value = val.val;
  return 0;
}

/* Certificates carry a handful of extensions; the cap keeps the duplicate
 * check below quadratic in a small number rather than in the input size. */
#define MAX_EXTENSIONS CG_LIMIT_X509_EXTENSIONS

/* Whether an extension before `end` in the Extensions contents starting at
 * `start` (all checked already) has the OID oid. */
static bool seen_before(const uint8_t *start, const uint8_t *end, struct der_view oid) {
  struct der_reader prev;
  cg_der_reader_view(&prev, span(start, end));
  while (!cg_der_at_end(&prev)) {
    struct der_view o, v;
    bool c;
    if (read_extension(&prev, &o, &c, &v) < 0)
      return false;
    if (cg_der_view_eq(o, oid))
      return true;
  }
  return false;
}

/* Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, read from its contents
 * r.  Checks every extension, that none appears twice (RFC 5280 §4.2: "MUST
 * NOT include more than one instance of a particular extension") and extracts
 * the SubjectKeyIdentifier (RFC 5280 §4.2.1.2: KeyIdentifier ::= OCTET
 * STRING, carried in extnValue). */
static int read_extensions(struct der_reader *r, struct der_view *skid) {
  const uint8_t *first = r->p;
  size_t n = 0;
  if (cg_der_at_end(r))
    return cg_der_fail(r, CG_EDER);
  while (!cg_der_at_end(r)) {
    const uint8_t *start = r->p;
    struct der_view oid, value;
    bool critical;
    if (read_extension(r, &oid, &critical, &value) < 0)
      return r->err;
    if (++n > MAX_EXTENSIONS || seen_before(first, start, oid))
      return cg_der_fail(r, CG_EDER);
    struct der_view skid_oid = cg_oid(CG_OID_EXT_SKID);
    if (cg_der_view_eq(oid, skid_oid)) {
      struct der_reader inner;
      struct der_tlv id;
      cg_der_reader_view(&inner, value);
      cg_der_expect(&inner, DER_OCTET_STRING, &id);
      if (!cg_der_at_end(&inner))
        cg_der_fail(&inner, CG_EDER);
      if (inner.err != 0)
        return cg_der_fail(r, inner.err);
      *skid = id.val;
    }
  }
  return r->err;
}

int cg_x509_parse(const uint8_t *der, size_t len, struct cg_x509 *out) {
  struct der_reader top, cert, tbs;
  struct der_tlv t;
  struct cg_x509 x;
  size_t rdns = 0;
  memset(&x, 0, sizeof x);
  memset(out, 0, sizeof *out);
  if (der == NULL || len == 0)
    return CG_EDER;
  cg_der_reader_init(&top, der, len);

  /* Certificate ::= SEQUENCE { tbsCertificate TBSCertificate,
   *   signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING } */
  cg_der_enter(&top, DER_SEQUENCE, &cert);

  const uint8_t *tbs_start = cert.p;
  cg_der_enter(&cert, DER_SEQUENCE, &tbs);
  x.tbs = span(tbs_start, cert.p);

  /* version [0] EXPLICIT Version DEFAULT v1; Version ::= INTEGER { v1(0),
   * v2(1), v3(2) } (RFC 5280 §4.1.2.1). */
  struct der_reader ver;
  if (cg_der_enter_optional(&tbs, DER_CTX_CONS(0), &ver) == 1) {
    uint64_t v = 0;
    cg_der_expect(&ver, DER_INTEGER, &t);
    if (ver.err == 0 && (cg_der_get_uint64(t.val, &v) < 0 || v > 2))
      cg_der_fail(&ver, CG_EDER);
    x.version = (unsigned)v;
    cg_der_leave(&tbs, &ver);
  }

  /* RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets; the 0x00
   * that keeps a 20-octet value positive makes 21. */
  cg_der_expect(&tbs, DER_INTEGER, &t);
  if (tbs.err == 0) {
    check(&tbs, cg_der_check_integer(t.val));
    if (t.val.len > 21 || (t.val.len == 21 && t.val.p[0] != 0))
      cg_der_fail(&tbs, CG_EDER);
    x.serial = t.val;
  }

  struct der_view inner_alg = {0}, inner_oid = {0}, issuer_raw = {0};
  read_algid(&tbs, &inner_alg, &inner_oid);
  read_name(&tbs, &issuer_raw, &rdns);
  /* RFC 5280 §4.1.2.4: the issuer is a non-empty distinguished name. */
  if (tbs.err == 0 && rdns == 0)
    cg_der_fail(&tbs, CG_EDER);
  x.issuer = issuer_raw;

  /* Validity ::= SEQUENCE { notBefore Time, notAfter Time }
   * Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }
   * (RFC 5280 §4.1.2.5). */
  struct der_reader val;
  cg_der_enter(&tbs, DER_SEQUENCE, &val);
  cg_der_next(&val, &t);
  if (val.err == 0)
    check(&val, cg_der_get_time(t.tag, t.val, &x.not_before));
  cg_der_next(&val, &t);
  if (val.err == 0)
    check(&val, cg_der_get_time(t.tag, t.val, &x.not_after));
  cg_der_leave(&tbs, &val);

  read_name(&tbs, &x.subject, &rdns);

  /* SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
   *   subjectPublicKey BIT STRING } (RFC 5280 §4.1.2.7). */
  const uint8_t *spki_start = tbs.p;
  struct der_reader spki;
  struct der_view key_alg = {0}, key_oid = {0};
  cg_der_enter(&tbs, DER_SEQUENCE, &spki);
  x.spki = span(spki_start, tbs.p);
  read_algid(&spki, &key_alg, &key_oid);
  cg_der_expect(&spki, DER_BIT_STRING, &t);
  if (spki.err == 0)
    check(&spki, cg_der_get_bit_string(t.val, NULL, NULL));
  cg_der_leave(&tbs, &spki);

  /* issuerUniqueID [1] IMPLICIT UniqueIdentifier OPTIONAL,
   * subjectUniqueID [2] IMPLICIT UniqueIdentifier OPTIONAL, both BIT
   * STRINGs that "MUST only appear if the version is 2 or 3" (RFC 5280
   * §4.1.2.8). */
  for (unsigned n = 1; n <= 2; n++) {
    if (cg_der_optional(&tbs, DER_CTX(n), &t) == 1) {
      check(&tbs, cg_der_get_bit_string(t.val, NULL, NULL));
      if (x.version < 1)
        cg_der_fail(&tbs, CG_EDER);
    }
  }

  /* extensions [3] EXPLICIT Extensions OPTIONAL, "MUST only appear if the
   * version is 3" (RFC 5280 §4.1.2.9). */
  struct der_reader ext3, exts;
  if (cg_der_enter_optional(&tbs, DER_CTX_CONS(3), &ext3) == 1) {
    if (x.version != 2)
      cg_der_fail(&ext3, CG_EDER);
    cg_der_enter(&ext3, DER_SEQUENCE, &exts);
    x.extensions = span(exts.p, exts.end);
    read_extensions(&exts, &x.skid);
    cg_der_leave(&ext3, &exts);
    cg_der_leave(&tbs, &ext3);
  }
  cg_der_leave(&cert, &tbs);

  read_algid(&cert, &x.sig_alg, &x.sig_oid);
  /* RFC 5280 §4.1.1.2: signatureAlgorithm "MUST contain the same algorithm
   * identifier as the signature field in the sequence tbsCertificate". */
  if (cert.err == 0 && !cg_der_view_eq(inner_alg, x.sig_alg))
    cg_der_fail(&cert, CG_EDER);

  /* Every signature algorithm cmpgw knows yields whole octets. */
  unsigned unused = 0;
  cg_der_expect(&cert, DER_BIT_STRING, &t);
  if (cert.err == 0 && (cg_der_get_bit_string(t.val, &x.signature, &unused) < 0 || unused != 0))
    cg_der_fail(&cert, CG_EDER);
  cg_der_leave(&top, &cert);

  if (top.err == 0 && top.p != top.end)
    cg_der_fail(&top, CG_EDER);
  if (top.err != 0)
    return CG_EDER;
  x.raw = span(der, top.p);
  *out = x;
  return 0;
}

int cg_x509_find_ext(struct der_view extensions, struct der_view oid, struct der_view *value,
                     bool *critical) {
  struct der_reader r;
  cg_der_reader_view(&r, extensions);
  while (!cg_der_at_end(&r)) {
    struct der_view o, v;
    bool c;
    if (read_extension(&r, &o, &c, &v) < 0)
      return CG_EDER;
    if (cg_der_view_eq(o, oid)) {
      if (value != NULL)
        *value = v;
      if (critical != NULL)
        *critical = c;
      return 1;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* RFC 4514 strings                                                          */
/* ------------------------------------------------------------------------ */

/* Output into a caller buffer that always keeps room for the NUL; overflow
 * is sticky. */
struct sout {
  char *p;
  size_t cap;
  size_t len;
  int err;
};

static size_t room(const struct sout *o) { return o->cap > o->len ? o->cap - o->len - 1 : 0; }

static void out_bytes(struct sout *o, const void *p, size_t n) {
  if (o->err != 0)
    return;
  if (n > room(o)) {
    o->err = CG_ESPACE;
    return;
  }
  memcpy(o->p + o->len, p, n);
  o->len += n;
}

static void out_char(struct sout *o, char c) { out_bytes(o, &c, 1); }

static const char hexdigits[] = "0123456789abcdef";
static const char hexdigits_upper[] = "0123456789ABCDEF";

static void out_hex(struct sout *o, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n && o->err == 0; i++) {
    char h[2] = {hexdigits[p[i] >> 4], hexdigits[p[i] & 15]};
    out_bytes(o, h, 2);
  }
}

/* Appends in decimal the value of the base-128 digits p[0..n) minus sub
 * (which the value is known to reach).  Subidentifiers have no size limit,
 * so the number is built as decimal digits, least significant first, right in
 * the output, and reversed at the end. */
static void out_subid(struct sout *o, const uint8_t *p, size_t n, unsigned sub) {
  if (o->err != 0)
    return;
  size_t avail = room(o);
  char *d = o->p + o->len;
  size_t nd = 1;
  if (avail == 0) {
    o->err = CG_ESPACE;
    return;
  }
  d[0] = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned carry = p[i] & 0x7f;
    for (size_t j = 0; j < nd; j++) {
      unsigned v = (unsigned)d[j] * 128 + carry;
      d[j] = (char)(v % 10);
      carry = v / 10;
    }
    while (carry != 0) {
      if (nd == avail) {
        o->err = CG_ESPACE;
        return;
      }
      d[nd++] = (char)(carry % 10);
      carry /= 10;
    }
  }
  int borrow = 0;
  for (size_t j = 0; j < nd && (sub != 0 || borrow != 0); j++) {
    int v = d[j] - (int)(sub % 10) - borrow;
    sub /= 10;
    borrow = v < 0;
    d[j] = (char)(v < 0 ? v + 10 : v);
  }
  while (nd > 1 && d[nd - 1] == 0)
    nd--;
  for (size_t j = 0; j < nd / 2; j++) {
    char tmp = d[j];
    d[j] = d[nd - 1 - j];
    d[nd - 1 - j] = tmp;
  }
  for (size_t j = 0; j < nd; j++)
    d[j] = (char)('0' + d[j]);
  o->len += nd;
}

/* The dotted form of checked OID contents (X.690 §8.19.4: the first
 * subidentifier is 40 * first arc + second arc, the first arc being 0..2). */
static void out_oid(struct sout *o, struct der_view oid) {
  size_t start = 0;
  for (size_t i = 0; i < oid.len; i++) {
    if (oid.p[i] & 0x80)
      continue;
    if (start == 0) {
      unsigned first = 2;
      if (i == 0 && oid.p[0] < 80)
        first = oid.p[0] / 40;
      out_char(o, (char)('0' + first));
      out_char(o, '.');
      out_subid(o, oid.p, i + 1, first * 40);
    } else {
      out_char(o, '.');
      out_subid(o, oid.p + start, i + 1 - start, 0);
    }
    start = i + 1;
  }
}

/* Short names of RFC 4514 §3 and the ones in common use. */
static const char *short_name(enum cg_oid_id id) {
  switch (id) {
  case CG_OID_AT_CN: return "CN";
  case CG_OID_AT_SERIAL: return "serialNumber";
  case CG_OID_AT_C: return "C";
  case CG_OID_AT_L: return "L";
  case CG_OID_AT_ST: return "ST";
  case CG_OID_AT_STREET: return "street";
  case CG_OID_AT_O: return "O";
  case CG_OID_AT_OU: return "OU";
  case CG_OID_AT_EMAIL: return "emailAddress";
  case CG_OID_AT_DC: return "DC";
  case CG_OID_AT_UID: return "UID";
  default: return NULL;
  }
}

/* The next character of a string of type tag at *i, as a code point; -1 when
 * the bytes are not a valid string of that type. */
static int32_t next_char(unsigned tag, struct der_view v, size_t *i) {
  const uint8_t *p = v.p + *i;
  size_t left = v.len - *i;
  switch (tag) {
  case DER_PRINTABLE_STRING:
  case DER_IA5_STRING:
    *i += 1;
    return p[0] < 0x80 ? p[0] : -1;
  case DER_T61_STRING:
    /* Read as Latin-1, which is what T61String holds in practice. */
    *i += 1;
    return p[0];
  case DER_BMP_STRING: {
    if (left < 2)
      return -1;
    *i += 2;
    int32_t c = p[0] << 8 | p[1];
    return c >= 0xd800 && c <= 0xdfff ? -1 : c; /* UCS-2 has no surrogates */
  }
  case DER_UTF8_STRING: {
    /* RFC 3629 §4: no overlong forms, no surrogates, nothing past U+10FFFF. */
    size_t n;
    int32_t c, min;
    if (p[0] < 0x80)
      n = 1, c = p[0], min = 0;
    else if ((p[0] & 0xe0) == 0xc0)
      n = 2, c = p[0] & 0x1f, min = 0x80;
    else if ((p[0] & 0xf0) == 0xe0)
      n = 3, c = p[0] & 0x0f, min = 0x800;
    else if ((p[0] & 0xf8) == 0xf0)
      n = 4, c = p[0] & 0x07, min = 0x10000;
    else
      return -1;
    if (left < n)
      return -1;
    for (size_t k = 1; k < n; k++) {
      if ((p[k] & 0xc0) != 0x80)
        return -1;
      c = c << 6 | (p[k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
      return -1;
    *i += n;
    return c;
  }
  default:
    return -1;
  }
}

/* Whether the value is one of the string types rendered as text, holding
 * valid characters; *count gets the number of characters. */
static bool text_value(const struct der_tlv *value, size_t *count) {
  switch (value->tag) {
  case DER_UTF8_STRING:
  case DER_PRINTABLE_STRING:
  case DER_T61_STRING:
  case DER_IA5_STRING:
  case DER_BMP_STRING:
    break;
  default:
    return false;
  }
  size_t n = 0;
  for (size_t i = 0; i < value->val.len; n++)
    if (next_char(value->tag, value->val, &i) < 0)
      return false;
  *count = n;
  return true;
}

static void out_utf8(struct sout *o, int32_t c) {
  char b[4];
  size_t n;
  if (c < 0x80) {
    b[0] = (char)c;
    n = 1;
  } else if (c < 0x800) {
    b[0] = (char)(0xc0 | c >> 6);
    b[1] = (char)(0x80 | (c & 0x3f));
    n = 2;
  } else if (c < 0x10000) {
    b[0] = (char)(0xe0 | c >> 12);
    b[1] = (char)(0x80 | (c >> 6 & 0x3f));
    b[2] = (char)(0x80 | (c & 0x3f));
    n = 3;
  } else {
    b[0] = (char)(0xf0 | c >> 18);
    b[1] = (char)(0x80 | (c >> 12 & 0x3f));
    b[2] = (char)(0x80 | (c >> 6 & 0x3f));
    b[3] = (char)(0x80 | (c & 0x3f));
    n = 4;
  }
  out_bytes(o, b, n);
}

/* A string value with the escapes of RFC 4514 §2.4. */
static void out_escaped(struct sout *o, const struct der_tlv *value, size_t count) {
  size_t i = 0;
  for (size_t k = 0; k < count && o->err == 0; k++) {
    int32_t c = next_char(value->tag, value->val, &i);
    bool special = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' ||
                   c == ';' || (k == 0 && (c == '#' || c == ' ')) ||
                   (k == count - 1 && c == ' ');
    if (c < 0x20 || c == 0x7f) {
      /* RFC 4514 §2.4: NUL must, other control characters may, be escaped
       * as a backslash and two hex digits. */
      char h[3] = {'\\', hexdigits_upper[c >> 4], hexdigits_upper[c & 15]};
      out_bytes(o, h, 3);
    } else if (special) {
      out_char(o, '\\');
      out_char(o, (char)c);
    } else {
      out_utf8(o, c);
    }
  }
}

/* One AttributeTypeAndValue (RFC 4514 §2.3): "short=value" for known
 * attribute types with string values, "dotted.oid=#hex of the whole value
 * encoding" otherwise. */
static void out_atv(void *ctx, size_t index, struct der_view type, const struct der_tlv *value) {
  struct sout *o = ctx;
  const char *name = short_name(cg_oid_lookup(type));
  size_t count;
  if (index > 0)
    out_char(o, '+'); /* RFC 4514 §2.2: multi-valued RDN */
  if (name != NULL && text_value(value, &count)) {
    out_bytes(o, name, strlen(name));
    out_char(o, '=');
    out_escaped(o, value, count);
  } else {
    out_oid(o, type);
    out_char(o, '=');
    out_char(o, '#');
    out_hex(o, value->raw.p, value->raw.len);
  }
}

int cg_name_rdns(struct der_view name, size_t *rdns) {
  struct der_reader top;
  struct der_view raw;
  cg_der_reader_view(&top, name);
  if (read_name(&top, &raw, rdns) < 0 || top.p != top.end)
    return CG_EDER;
  return 0;
}

int cg_name_to_string(struct der_view name, char *out, size_t cap) {
  struct sout o = {out, cap, 0, 0};
  struct der_reader top, rdns;
  struct der_view raw;
  size_t n = 0;
  if (cap > 0)
    out[0] = '\0';

  cg_der_reader_view(&top, name);
  if (read_name(&top, &raw, &n) < 0 || top.p != top.end)
    return CG_EDER;
  /* Every RDN takes at least two characters ("C=") and a separator, and the
   * NUL needs one more: failing early here also bounds the quadratic walk
   * below by the output size. */
  if (cap == 0 || n > cap / 3)
    return CG_ESPACE;

  /* RFC 4514 §2.1: the RDNs from the last one of the sequence to the first,
   * separated by commas.  A Name cannot be walked backwards, so each RDN is
   * found again from the start. */
  for (size_t i = n; i-- > 0 && o.err == 0;) {
    cg_der_reader_view(&top, name);
    cg_der_enter(&top, DER_SEQUENCE, &rdns);
    for (size_t k = 0; k < i; k++)
      cg_der_next(&rdns, NULL);
    if (i != n - 1)
      out_char(&o, ',');
    read_rdn(&rdns, out_atv, &o);
  }
  if (o.err != 0) {
    out[0] = '\0';
    return o.err;
  }
  out[o.len] = '\0';
  return 0;
}

void cg_hex(const uint8_t *p, size_t len, char *out) {
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = hexdigits[p[i] >> 4];
    out[2 * i + 1] = hexdigits[p[i] & 15];
  }
  out[2 * len] = '\0';
}

int cg_hex_digit(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

bool cg_unhex(const char *s, size_t n, uint8_t *out) {
  for (size_t i = 0; i < 2 * n; i++) {
    int v = s[i] >= 'A' && s[i] <= 'F' ? -1 : cg_hex_digit((unsigned char)s[i]);
    if (v < 0)
      return false;
    out[i / 2] = i % 2 == 0 ? (uint8_t)(v << 4) : (uint8_t)(out[i / 2] | v);
  }
  return true;
}

int cg_x509_pem_bundle(const char *text, size_t len, uint8_t **der, struct der_view *views,
                       size_t max, size_t *n) {
  enum { MAX_CERT = 16384 };
  size_t off = 0, used, der_len;
  *n = 0;
  while (*n < max) {
    uint8_t *d = malloc(MAX_CERT);
    if (d == NULL)
      goto nomem;
    if (cg_pem_decode("CERTIFICATE", text + off, len - off, d, MAX_CERT, &der_len, &used)) {
      free(d);
      break;
    }
    off += used;
    struct cg_x509 x;
    der[*n] = d;
    views[*n] = (struct der_view){d, der_len};
    (*n)++;
    if (cg_x509_parse(d, der_len, &x)) {
      while (*n > 0) {
        free(der[--*n]);
        der[*n] = NULL; /* the caller may free what der holds */
      }
      return CG_EDER;
    }
  }
  return 0;
nomem:
  while (*n > 0) {
    free(der[--*n]);
    der[*n] = NULL;
  }
  return CG_ENOMEM;
}

/* ---- descriptions for operators ------------------------------------------ */

/* Appends text to out[*n..cap), NUL terminated; CG_ESPACE when it does not fit. */
static int append(char *out, size_t cap, size_t *n, const char *text, size_t len) {
  if (*n + len + 1 > cap)
    return CG_ESPACE;
  memcpy(out + *n, text, len);
  *n += len;
  out[*n] = '\0';
  return 0;
}

int cg_spki_hash_hex(struct der_view spki, char out[65]) {
  uint8_t h[32];
  struct cg_iov iov = {spki.p, spki.len};
  out[0] = '\0';
  if (spki.p == NULL || spki.len == 0)
    return CG_EINVAL;
  if (cg_hash(CG_HASH_SHA256, &iov, 1, h) != 0)
    return CG_ECRYPTO;
  cg_hex(h, sizeof h, out);
  return 0;
}

int cg_spki_describe(struct der_view spki, char *out, size_t cap) {
  struct der_reader top, r, alg;
  struct der_tlv oid, param, bits_tlv;
  if (cap == 0)
    return CG_ESPACE;
  out[0] = '\0';
  cg_der_reader_view(&top, spki);
  if (cg_der_enter(&top, DER_SEQUENCE, &r) || cg_der_enter(&r, DER_SEQUENCE, &alg) ||
      cg_der_expect(&alg, DER_OID, &oid) || cg_der_expect(&r, DER_BIT_STRING, &bits_tlv))
    return CG_EDER;
  const char *name = NULL;
  char buf[32];
  switch (cg_oid_lookup(oid.val)) {
  case CG_OID_EC_PUBLIC_KEY:
    if (cg_der_expect(&alg, DER_OID, &param))
      return CG_EDER;
    switch (cg_oid_lookup(param.val)) {
    case CG_OID_P256: name = "EC P-256"; break;
    case CG_OID_P384: name = "EC P-384"; break;
    case CG_OID_P521: name = "EC P-521"; break;
    default: name = "EC"; break;
    }
    break;
  case CG_OID_RSA_ENCRYPTION:
  case CG_OID_RSASSA_PSS: {
    /* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } */
    struct der_view bits;
    unsigned unused;
    struct der_reader k, seq;
    struct der_tlv n;
    if (cg_der_get_bit_string(bits_tlv.val, &bits, &unused) || unused != 0)
      return CG_EDER;
    cg_der_reader_view(&k, bits);
    if (cg_der_enter(&k, DER_SEQUENCE, &seq) || cg_der_expect(&seq, DER_INTEGER, &n) ||
        n.val.len == 0)
      return CG_EDER;
    const uint8_t *p = n.val.p;
    size_t len = n.val.len;
    while (len > 1 && *p == 0) {
      p++;
      len--;
    }
    unsigned size = (unsigned)len * 8;
    for (uint8_t top_byte = *p; size > 0 && !(top_byte & 0x80); top_byte = (uint8_t)(top_byte << 1))
      size--;
    snprintf(buf, sizeof buf, "%s %u",
             cg_oid_lookup(oid.val) == CG_OID_RSASSA_PSS ? "RSA-PSS" : "RSA", size);
    name = buf;
    break;
  }
  case CG_OID_ED25519: name = "Ed25519"; break;
  case CG_OID_ED448: name = "Ed448"; break;
  default: {
    /* An algorithm we do not name: its OID in hex. */
    if (oid.val.len * 2 + 5 > cap)
      return CG_ESPACE;
    memcpy(out, "oid:", 4);
    cg_hex(oid.val.p, oid.val.len, out + 4);
    return 0;
  }
  }
  size_t n = 0;
  return append(out, cap, &n, name, strlen(name));
}

/* One GeneralName as "DNS:a.example", "IP:192.0.2.1", "email:a@b", "URI:u",
 * "DirName:CN=x" or "other[N]". */
static int general_name(const struct der_tlv *t, char *out, size_t cap, size_t *n) {
  char buf[INET6_ADDRSTRLEN + 4];
  const char *prefix = NULL;
  switch (t->tag) {
  case DER_CTX(1): prefix = "email:"; break;
  case DER_CTX(2): prefix = "DNS:"; break;
  case DER_CTX(6): prefix = "URI:"; break;
  case DER_CTX(7):
    if ((t->val.len != 4 && t->val.len != 16) ||
        inet_ntop(t->val.len == 4 ? AF_INET : AF_INET6, t->val.p, buf, sizeof buf) == NULL)
      return append(out, cap, n, "IP:?", 4);
    return append(out, cap, n, "IP:", 3) || append(out, cap, n, buf, strlen(buf)) ? CG_ESPACE : 0;
  case DER_CTX_CONS(4): {
    char dn[512];
    if (cg_name_to_string(t->val, dn, sizeof dn))
      return append(out, cap, n, "DirName:?", 9);
    return append(out, cap, n, "DirName:", 8) || append(out, cap, n, dn, strlen(dn)) ? CG_ESPACE
                                                                                     : 0;
  }
  default:
    snprintf(buf, sizeof buf, "other[%u]", t->tag & 0x1f);
    return append(out, cap, n, buf, strlen(buf));
  }
  if (append(out, cap, n, prefix, strlen(prefix)))
    return CG_ESPACE;
  for (size_t i = 0; i < t->val.len; i++) {
    char ch = t->val.p[i] >= 0x20 && t->val.p[i] < 0x7f ? (char)t->val.p[i] : '?';
    if (append(out, cap, n, &ch, 1))
      return CG_ESPACE;
  }
  return 0;
}

int cg_x509_san_string(struct der_view extensions, char *out, size_t cap) {
  struct der_view value;
  bool critical;
  if (cap == 0)
    return CG_ESPACE;
  out[0] = '\0';
  int found = cg_x509_find_ext(extensions, cg_oid(CG_OID_EXT_SAN), &value, &critical);
  if (found <= 0)
    return found;
  struct der_reader top, seq;
  struct der_tlv t;
  size_t n = 0;
  cg_der_reader_view(&top, value);
  if (cg_der_enter(&top, DER_SEQUENCE, &seq))
    return CG_EDER;
  while (!cg_der_at_end(&seq)) {
    if (cg_der_next(&seq, &t))
      return CG_EDER;
    size_t mark = n; /* a name that does not fit is left out whole */
    if ((n > 0 && append(out, cap, &n, ", ", 2)) || general_name(&t, out, cap, &n)) {
      out[mark] = '\0';
      return CG_ESPACE;
    }
  }
  return 0;
}
