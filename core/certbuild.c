/*
 * certbuild.c - X.509 v3 certificates written with der_writer and signed
 * with core/crypto (RFC 5280 §4.1).
 *
 *   Certificate ::= SEQUENCE { tbsCertificate TBSCertificate,
 *       signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE { version [0] EXPLICIT Version DEFAULT v1,
 *       serialNumber CertificateSerialNumber, signature AlgorithmIdentifier,
 *       issuer Name, validity Validity, subject Name,
 *       subjectPublicKeyInfo SubjectPublicKeyInfo,
 *       extensions [3] EXPLICIT Extensions OPTIONAL }
 */
#include "core/certbuild.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/x509.h"

void cg_cert_write_sig_alg(struct der_writer *w, enum cg_sig_scheme scheme, enum cg_hash hash) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, cg_sigalg_oid(scheme, hash));
  if (scheme == CG_SIG_RSA_PKCS1)
    cg_der_put_null(w);
  cg_der_end(w, m);
}

static bool printable_ascii(struct der_view v) {
  for (size_t i = 0; i < v.len; i++)
    if (v.p[i] < 0x21 || v.p[i] > 0x7e)
      return false;
  return v.len > 0;
}

/* RFC 1034 §3.5 preferred name syntax, as RFC 5280 §4.2.1.6 asks. */
static bool dns_name_ok(struct der_view v) {
  size_t label = 0;
  if (v.len == 0 || v.len > 253)
    return false;
  for (size_t i = 0; i < v.len; i++) {
    uint8_t c = v.p[i];
    if (c == '.') {
      if (label == 0 || v.p[i - 1] == '-')
        return false;
      label = 0;
      continue;
    }
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && !(c == '-' && label > 0))
      return false;
    if (++label > 63)
      return false;
  }
  return label > 0 && v.p[v.len - 1] != '-';
}

/* CG_EBAD_TEMPLATE, with the sentence fmt makes written into why. */
static int refuse(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(char *why, size_t cap, const char *fmt, ...) {
  va_list ap;
  if (why != NULL && cap > 0) {
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
  }
  return CG_EBAD_TEMPLATE;
}

int cg_cert_check_subject(struct der_view name, char *why, size_t cap) {
  size_t rdns;
  if (cg_name_rdns(name, &rdns) != 0)
    return refuse(why, cap, "the subject is not a DER Name");
  if (rdns > CERT_MAX_RDNS)
    return refuse(why, cap, "the subject has %zu RDNs; at most %d", rdns, CERT_MAX_RDNS);
  if (name.len > CERT_MAX_NAME_LEN)
    return refuse(why, cap, "the subject is %zu octets long; at most %d", name.len,
                  CERT_MAX_NAME_LEN);
  return 0;
}

/* RFC 5280 §4.2.1.6: GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName.
 * The names are counted as far as they read; one that does not is
 * cg_cert_check_san()'s to refuse. */
int cg_cert_check_san_size(struct der_view value, char *why, size_t cap) {
  struct der_reader top, seq;
  size_t n = 0;
  cg_der_reader_view(&top, value);
  if (cg_der_enter(&top, DER_SEQUENCE, &seq) == 0)
    while (!cg_der_at_end(&seq) && cg_der_next(&seq, NULL) == 0)
      n++;
  if (n > CERT_MAX_SAN_NAMES)
    return refuse(why, cap, "the subjectAltName has %zu names; at most %d", n, CERT_MAX_SAN_NAMES);
  if (value.len > CERT_MAX_SAN_LEN)
    return refuse(why, cap, "the subjectAltName is %zu octets long; at most %d", value.len,
                  CERT_MAX_SAN_LEN);
  return 0;
}

int cg_cert_check_san(struct der_view value) {
  struct der_reader top, seq;
  struct der_tlv t;
  if (cg_cert_check_san_size(value, NULL, 0) != 0)
    return CG_EBAD_TEMPLATE;
  cg_der_reader_view(&top, value);
  if (cg_der_enter(&top, DER_SEQUENCE, &seq) || cg_der_at_end(&seq))
    return CG_EBAD_TEMPLATE;
  while (!cg_der_at_end(&seq)) {
    if (cg_der_next(&seq, &t))
      return CG_EBAD_TEMPLATE;
    switch (t.tag) {
    case DER_CTX(1): /* rfc822Name */
      if (!printable_ascii(t.val) || memchr(t.val.p, '@', t.val.len) == NULL)
        return CG_EBAD_TEMPLATE;
      break;
    case DER_CTX(2): /* dNSName */
      if (!dns_name_ok(t.val))
        return CG_EBAD_TEMPLATE;
      break;
    case DER_CTX(6): /* uniformResourceIdentifier */
      if (!printable_ascii(t.val))
        return CG_EBAD_TEMPLATE;
      break;
    case DER_CTX(7): /* iPAddress */
      if (t.val.len != 4 && t.val.len != 16)
        return CG_EBAD_TEMPLATE;
      break;
    default:
      return CG_EBAD_TEMPLATE;
    }
  }
  return cg_der_leave(&top, &seq) || !cg_der_at_end(&top) ? CG_EBAD_TEMPLATE : 0;
}

int cg_cert_random_serial(struct cert_spec *spec) {
  int err = cg_random(spec->serial + 6, 10);
  if (err)
    return err;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
  for (int i = 5; i >= 0; i--, ms >>= 8)
    spec->serial[i] = (uint8_t)ms;
  /* Positive and exactly 16 octets: top bits 01, never a leading zero. */
  spec->serial[0] = (uint8_t)((spec->serial[0] & 0x3f) | 0x40);
  spec->serial_len = 16;
  return 0;
}

int cg_cert_key_id(struct der_view spki, uint8_t out[20]) {
  struct der_reader top, r;
  struct der_tlv t;
  struct der_view bits;
  unsigned unused;
  cg_der_reader_view(&top, spki);
  cg_der_enter(&top, DER_SEQUENCE, &r);
  cg_der_expect(&r, DER_SEQUENCE, &t);
  if (cg_der_expect(&r, DER_BIT_STRING, &t) || cg_der_get_bit_string(t.val, &bits, &unused))
    return CG_EDER;
  struct cg_iov iov = {bits.p, bits.len};
  return cg_hash(CG_HASH_SHA1, &iov, 1, out);
}

static size_t begin_ext(struct der_writer *w, enum cg_oid_id oid, bool critical) {
  size_t ext = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, oid);
  if (critical)
    cg_der_put_bool(w, true);
  return ext;
}

static void write_extensions(struct der_writer *w, const struct cert_spec *s, const uint8_t *skid) {
  size_t exts = cg_der_begin(w, DER_CTX_CONS(3));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t ext, val, in;

  /* RFC 5280 §4.2.1.9: basicConstraints, critical in CA certificates. */
  if (s->is_ca) {
    ext = begin_ext(w, CG_OID_EXT_BASIC_CONSTRAINTS, true);
    val = cg_der_begin(w, DER_OCTET_STRING);
    in = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_bool(w, true);
    cg_der_end(w, in);
    cg_der_end(w, val);
    cg_der_end(w, ext);
  }
  if (s->key_usage) {
    ext = begin_ext(w, CG_OID_EXT_KEY_USAGE, true);
    val = cg_der_begin(w, DER_OCTET_STRING);
    cg_der_put_named_bits(w, DER_BIT_STRING, s->key_usage);
    cg_der_end(w, val);
    cg_der_end(w, ext);
  }
  if (s->n_eku) {
    ext = begin_ext(w, CG_OID_EXT_EKU, false);
    val = cg_der_begin(w, DER_OCTET_STRING);
    in = cg_der_begin(w, DER_SEQUENCE);
    for (size_t i = 0; i < s->n_eku; i++)
      cg_der_put_oid(w, s->eku[i]);
    cg_der_end(w, in);
    cg_der_end(w, val);
    cg_der_end(w, ext);
  }
  if (s->san.p != NULL) {
    ext = begin_ext(w, CG_OID_EXT_SAN, false);
    cg_der_put_tlv(w, DER_OCTET_STRING, s->san.p, s->san.len);
    cg_der_end(w, ext);
  }
  ext = begin_ext(w, CG_OID_EXT_SKID, false);
  val = cg_der_begin(w, DER_OCTET_STRING);
  cg_der_put_tlv(w, DER_OCTET_STRING, skid, 20);
  cg_der_end(w, val);
  cg_der_end(w, ext);
  if (s->issuer_skid.p != NULL) {
    /* AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT ... } */
    ext = begin_ext(w, CG_OID_EXT_AKID, false);
    val = cg_der_begin(w, DER_OCTET_STRING);
    in = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_tlv(w, DER_CTX(0), s->issuer_skid.p, s->issuer_skid.len);
    cg_der_end(w, in);
    cg_der_end(w, val);
    cg_der_end(w, ext);
  }
  cg_der_end(w, seq);
  cg_der_end(w, exts);
}

static void write_tbs(struct der_writer *w, const struct cert_spec *s, enum cg_sig_scheme scheme,
                      enum cg_hash hash, const uint8_t *skid) {
  size_t tbs = cg_der_begin(w, DER_SEQUENCE);
  size_t v = cg_der_begin(w, DER_CTX_CONS(0));
  cg_der_put_uint64(w, DER_INTEGER, 2); /* v3 */
  cg_der_end(w, v);
  cg_der_put_uint_bytes(w, DER_INTEGER, s->serial, s->serial_len);
  cg_cert_write_sig_alg(w, scheme, hash);
  cg_der_put_raw(w, s->issuer.p, s->issuer.len);
  size_t val = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_x509_time(w, s->not_before);
  cg_der_put_x509_time(w, s->not_after);
  cg_der_end(w, val);
  cg_der_put_raw(w, s->subject.p, s->subject.len);
  cg_der_put_raw(w, s->spki.p, s->spki.len);
  write_extensions(w, s, skid);
  cg_der_end(w, tbs);
}

int cg_cert_build(const struct cert_spec *spec, const struct cg_key *issuer_key, uint8_t *out,
               size_t cap, size_t *len) {
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  uint8_t skid[20];
  uint8_t sig[1024];
  size_t sig_len, tbs_len;
  int err = cg_cert_key_id(spec->spki, skid);
  if (err)
    return err;
  cg_key_default_sig(issuer_key, &scheme, &hash);

  uint8_t *tbs = malloc(cap);
  if (tbs == NULL)
    return CG_ENOMEM;
  struct der_writer w;
  cg_der_writer_init(&w, tbs, cap);
  write_tbs(&w, spec, scheme, hash, skid);
  err = cg_der_writer_finish(&w, &tbs_len) ? CG_ESPACE : 0;
  struct cg_iov iov = {tbs, tbs_len};
  if (err == 0)
    err = cg_sign(issuer_key, scheme, hash, &iov, 1, sig, sizeof sig, &sig_len);
  if (err == 0) {
    cg_der_writer_init(&w, out, cap);
    size_t m = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_raw(&w, tbs, tbs_len);
    cg_cert_write_sig_alg(&w, scheme, hash);
    cg_der_put_bit_string(&w, sig, sig_len);
    cg_der_end(&w, m);
    err = cg_der_writer_finish(&w, len) ? CG_ESPACE : 0;
  }
  free(tbs);
  return err;
}

int cg_cert_make_name(const enum cg_oid_id *types, const char *const *values, size_t n,
                   uint8_t *out, size_t cap, size_t *len) {
  struct der_writer w;
  cg_der_writer_init(&w, out, cap);
  size_t name = cg_der_begin(&w, DER_SEQUENCE);
  for (size_t i = 0; i < n; i++) {
    size_t set = cg_der_begin(&w, DER_SET);
    size_t atv = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_oid(&w, types[i]);
    unsigned tag = types[i] == CG_OID_AT_C ? DER_PRINTABLE_STRING : DER_UTF8_STRING;
    cg_der_put_tlv(&w, tag, values[i], strlen(values[i]));
    cg_der_end(&w, atv);
    cg_der_end(&w, set);
  }
  cg_der_end(&w, name);
  return cg_der_writer_finish(&w, len) ? CG_ESPACE : 0;
}

#define MAX_RDNS 16

int cg_cert_name_from_text(const char *s, uint8_t *out, size_t cap, size_t *len) {
  static const struct {
    const char *name;
    enum cg_oid_id oid;
  } attrs[] = {{"CN", CG_OID_AT_CN},           {"O", CG_OID_AT_O},
               {"OU", CG_OID_AT_OU},           {"C", CG_OID_AT_C},
               {"L", CG_OID_AT_L},             {"ST", CG_OID_AT_ST},
               {"emailAddress", CG_OID_AT_EMAIL}, {"serialNumber", CG_OID_AT_SERIAL},
               {"street", CG_OID_AT_STREET},   {"DC", CG_OID_AT_DC},
               {"UID", CG_OID_AT_UID}};
  char buf[1024];
  enum cg_oid_id types[MAX_RDNS];
  const char *values[MAX_RDNS];
  size_t n = 0, k = 0;
  if (*s != '/' || strlen(s) >= sizeof buf)
    return CG_EINVAL;
  s++;
  while (*s != '\0') {
    /* one "A=B": the name up to '=', the value up to an unescaped '/' */
    const char *eq = strchr(s, '=');
    if (eq == NULL || eq == s || n == MAX_RDNS)
      return CG_EINVAL;
    size_t a = 0;
    while (a < sizeof attrs / sizeof attrs[0] &&
           (strlen(attrs[a].name) != (size_t)(eq - s) ||
            strncmp(attrs[a].name, s, (size_t)(eq - s)) != 0))
      a++;
    if (a == sizeof attrs / sizeof attrs[0])
      return CG_EINVAL;
    types[n] = attrs[a].oid;
    values[n] = buf + k;
    for (s = eq + 1; *s != '\0' && *s != '/'; s++) {
      if (*s == '\\' && s[1] != '\0')
        s++;
      buf[k++] = *s;
    }
    if (buf + k == values[n])
      return CG_EINVAL;
    buf[k++] = '\0';
    n++;
    if (*s == '/')
      s++;
  }
  return cg_cert_make_name(types, values, n, out, cap, len);
}
