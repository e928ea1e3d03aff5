/*
 * test_x509.c - the certificate reader and RFC 4514 names of core/x509.c.
 *
 * Two certificates made by OpenSSL (tests/vectors/x509/regen.sh) are checked
 * field by field against what `openssl x509 -text` printed for them, as every
 * prefix and with a trailing octet.  Certificates and names built here with
 * the DER writer pin each RFC 5280 rule the reader enforces and each RFC 4514
 * escape, string type and fallback of the name printer.
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

#include "core/certbuild.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"
#include "testutil.h"

static uint8_t *load(const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/x509/%s", CG_TEST_VECTORS, name);
  uint8_t *p = tu_read_file(path, len);
  if (p == NULL)
    fail_msg("cannot read %s", path);
  return p;
}

static void assert_view_hex(struct der_view v, const char *hex) {
  size_t n;
  uint8_t *want = tu_hex(hex, &n);
  if (!cg_der_view_is(v, want, n)) {
    char got[4096];
    cg_hex(v.p, v.len < 2000 ? v.len : 2000, got);
    fail_msg("got %s, want %s", got, hex);
  }
  free(want);
}

static void assert_name(struct der_view name, const char *want) {
  char s[1024];
  assert_int_equal(cg_name_to_string(name, s, sizeof s), 0);
  assert_string_equal(s, want);
}

/* Parses an exact-size heap copy, so the sanitizers catch reads past it. */
static int parse_copy(const uint8_t *p, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  assert_non_null(copy);
  if (len > 0)
    memcpy(copy, p, len);
  struct cg_x509 x;
  int rc = cg_x509_parse(len ? copy : NULL, len, &x);
  if (rc == 0) {
    char s[2048];
    cg_name_to_string(x.subject, s, sizeof s);
  }
  free(copy);
  return rc;
}

static void check_prefixes_and_trailer(const uint8_t *v, size_t len) {
  assert_int_equal(parse_copy(v, len), 0);
  for (size_t k = 0; k < len; k++)
    if (parse_copy(v, k) != CG_EDER)
      fail_msg("prefix of %zu/%zu octets was not rejected", k, len);
  uint8_t *longer = malloc(len + 1);
  memcpy(longer, v, len);
  longer[len] = 0x00;
  assert_int_equal(parse_copy(longer, len + 1), CG_EDER);
  free(longer);
}

/* Values from `openssl x509 -inform DER -in ec.der -noout -text`. */
static const char ec_subject[] =
    "emailAddress=pki@example.com,"
    "CN=\\#1 \\\"M\xc3\xbcller\\\" \\<a\\>\\;b\\\\c\\+d=e\\ ,"
    "OU=R&D+L=Berlin,O=Example\\, Inc.,C=DE,DC=com,DC=example";

static void ec_certificate_fields_match_openssl(void **state) {
  size_t len;
  uint8_t *der = load("ec.der", &len);
  struct cg_x509 x;
  assert_int_equal(cg_x509_parse(der, len, &x), 0);
  assert_ptr_equal(x.raw.p, der);
  assert_int_equal(x.raw.len, len);
  assert_int_equal(x.version, 2);
  /* Serial 88:77:...:0b has its top bit set: 21 octets with the 0x00. */
  assert_view_hex(x.serial, "00 88 77 66 55 44 33 22 11 00 01 02 03 04 05 06 07 08 09 0a 0b");
  char hex[64];
  cg_hex(x.serial.p, x.serial.len, hex);
  assert_string_equal(hex, "008877665544332211000102030405060708090a0b");
  assert_int_equal(cg_oid_lookup(x.sig_oid), CG_OID_ECDSA_SHA256);
  assert_view_hex(x.sig_alg, "30 0a 06 08 2a 86 48 ce 3d 04 03 02");
  assert_true(cg_der_view_eq(x.issuer, x.subject));
  assert_name(x.subject, ec_subject);
  assert_int_equal(x.not_before, 946684799);  /* 1999-12-31T23:59:59Z, UTCTime */
  assert_int_equal(x.not_after, 2524608000);  /* 2050-01-01T00:00:00Z, GeneralizedTime */
  assert_view_hex(x.skid, "f0 81 26 de 90 46 d8 c6 da 37 78 e2 1a 58 35 3f 25 02 4a 65");
  /* SubjectPublicKeyInfo of a P-256 key: 91 octets, id-ecPublicKey, prime256v1. */
  assert_int_equal(x.spki.len, 91);
  static const uint8_t spki_head[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86,
                                      0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
                                      0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  assert_memory_equal(x.spki.p, spki_head, sizeof spki_head);
  /* The TBSCertificate is the first element inside the 4-octet header. */
  assert_ptr_equal(x.tbs.p, der + 4);
  assert_int_equal(x.tbs.len, 4 + 599);
  /* An ECDSA signature is a DER SEQUENCE of two INTEGERs. */
  assert_true(x.signature.len > 8);
  assert_int_equal(x.signature.p[0], 0x30);
  assert_ptr_equal(x.signature.p + x.signature.len, der + len);
  free(der);
}

static const char rsa_subject[] = "2.5.4.12=#130344722e,UID=u1,serialNumber=1234,"
                                  "OU=\xf0\x9f\x98\x80,"          /* UTF8String, U+1F600 */
                                  "CN=\\ M\xc3\xbcller,"          /* T61String, leading space */
                                  "O=\xe6\x97\xa5\xe6\x9c\xac,C=JP"; /* BMPString */

static void rsa_certificate_fields_match_openssl(void **state) {
  size_t len;
  uint8_t *der = load("rsa.der", &len);
  struct cg_x509 x;
  assert_int_equal(cg_x509_parse(der, len, &x), 0);
  assert_int_equal(x.version, 2);
  assert_view_hex(x.serial, "30 39"); /* 12345 */
  assert_int_equal(cg_oid_lookup(x.sig_oid), CG_OID_RSA_SHA256);
  assert_view_hex(x.sig_alg, "30 0d 06 09 2a 86 48 86 f7 0d 01 01 0b 05 00");
  assert_name(x.subject, rsa_subject);
  assert_name(x.issuer, rsa_subject);
  assert_int_equal(x.not_before, 1735787045); /* 2025-01-02T03:04:05Z */
  assert_int_equal(x.not_after, 2524607999);  /* 2049-12-31T23:59:59Z */
  assert_view_hex(x.skid, "47 62 f5 0a 54 ff 8d 0c 26 f0 f1 73 79 d9 15 c3 3f bf 3f f1");
  assert_int_equal(x.signature.len, 256); /* RSA-2048 */
  free(der);
}

static void extensions_are_found_with_their_criticality(void **state) {
  size_t len;
  uint8_t *der = load("ec.der", &len);
  struct cg_x509 x;
  struct der_view v;
  bool critical = true;
  assert_int_equal(cg_x509_parse(der, len, &x), 0);
  assert_int_equal(cg_x509_find_ext(x.extensions, cg_oid(CG_OID_EXT_SKID), &v, &critical), 1);
  assert_false(critical);
  assert_int_equal(v.len, 22);
  assert_true(cg_der_view_eq((struct der_view){v.p + 2, 20}, x.skid));
  assert_int_equal(
      cg_x509_find_ext(x.extensions, cg_oid(CG_OID_EXT_BASIC_CONSTRAINTS), &v, &critical), 1);
  assert_true(critical);
  assert_view_hex(v, "30 03 01 01 ff"); /* CA:TRUE */
  assert_int_equal(cg_x509_find_ext(x.extensions, cg_oid(CG_OID_EXT_KEY_USAGE), &v, &critical),
                   1);
  assert_true(critical);
  assert_view_hex(v, "03 02 01 86"); /* digitalSignature, keyCertSign, cRLSign */
  assert_int_equal(cg_x509_find_ext(x.extensions, cg_oid(CG_OID_EXT_SAN), &v, &critical), 0);
  /* Malformed contents are an error, not "absent". */
  static const uint8_t junk[] = {0x30, 0x03, 0x06, 0x01};
  assert_int_equal(cg_x509_find_ext((struct der_view){junk, sizeof junk},
                                    cg_oid(CG_OID_EXT_SAN), &v, &critical),
                   CG_EDER);
  free(der);
}

static void openssl_certificates_fail_as_every_prefix_and_with_a_trailer(void **state) {
  const char *names[] = {"ec.der", "rsa.der"};
  for (size_t i = 0; i < 2; i++) {
    size_t len;
    uint8_t *der = load(names[i], &len);
    check_prefixes_and_trailer(der, len);
    free(der);
  }
}

/* ---- certificates built here ---- */

/* What to put in, or get wrong in, a built certificate. */
struct build {
  int version;            /* -1: field absent; else the explicit value */
  const char *serial_hex; /* INTEGER contents; NULL: 01 */
  bool empty_issuer;
  bool empty_subject;
  bool issuer_unique_id;
  bool no_extensions;
  bool empty_extensions;
  bool critical_false;    /* an extension with critical FALSE encoded */
  bool critical_true;     /* keyUsage marked critical */
  bool duplicate;         /* keyUsage twice */
  const char *skid_value; /* extnValue of SKID in hex; NULL: 04 04 01 02 03 04 */
  bool other_outer_alg;   /* signatureAlgorithm differs from signature */
  bool unused_sig_bits;   /* signature BIT STRING with unused bits */
  bool bad_time;          /* notAfter 20250230000000Z */
  bool empty_rdn;         /* an RDN that is an empty SET */
};

static void put_hex(struct der_writer *w, unsigned tag, const char *hex) {
  size_t n;
  uint8_t *p = tu_hex(hex, &n);
  cg_der_put_tlv(w, tag, p, n);
  free(p);
}

static void put_algid(struct der_writer *w, enum cg_oid_id id) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, id);
  cg_der_end(w, m);
}

static void put_cn_name(struct der_writer *w, const char *cn, bool empty_rdn) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  if (cn != NULL) {
    size_t s = cg_der_begin(w, DER_SET);
    size_t a = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_oid(w, CG_OID_AT_CN);
    cg_der_put_tlv(w, DER_UTF8_STRING, cn, strlen(cn));
    cg_der_end(w, a);
    cg_der_end(w, s);
  }
  if (empty_rdn)
    cg_der_end(w, cg_der_begin(w, DER_SET));
  cg_der_end(w, m);
}

static void put_extension(struct der_writer *w, enum cg_oid_id id, int critical,
                          const char *value_hex) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, id);
  if (critical >= 0)
    cg_der_put_bool(w, critical != 0);
  put_hex(w, DER_OCTET_STRING, value_hex);
  cg_der_end(w, m);
}

static size_t build_cert(const struct build *b, uint8_t *buf, size_t cap) {
  struct der_writer w;
  cg_der_writer_init(&w, buf, cap);
  size_t cert = cg_der_begin(&w, DER_SEQUENCE);
  size_t tbs = cg_der_begin(&w, DER_SEQUENCE);
  if (b->version >= 0) {
    size_t v = cg_der_begin(&w, DER_CTX_CONS(0));
    cg_der_put_uint64(&w, DER_INTEGER, (uint64_t)b->version);
    cg_der_end(&w, v);
  }
  put_hex(&w, DER_INTEGER, b->serial_hex ? b->serial_hex : "01");
  put_algid(&w, CG_OID_ECDSA_SHA256);
  put_cn_name(&w, b->empty_issuer ? NULL : "issuer", false);
  size_t val = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_x509_time(&w, 1700000000);
  if (b->bad_time)
    cg_der_put_tlv(&w, DER_GENERALIZED_TIME, "20250230000000Z", 15);
  else
    cg_der_put_x509_time(&w, 2600000000);
  cg_der_end(&w, val);
  put_cn_name(&w, b->empty_subject ? NULL : "subject", b->empty_rdn);
  size_t spki = cg_der_begin(&w, DER_SEQUENCE);
  size_t alg = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, CG_OID_EC_PUBLIC_KEY);
  cg_der_put_oid(&w, CG_OID_P256);
  cg_der_end(&w, alg);
  uint8_t point[65] = {0x04};
  cg_der_put_bit_string(&w, point, sizeof point);
  cg_der_end(&w, spki);
  if (b->issuer_unique_id)
    cg_der_put_tlv(&w, DER_CTX(1), "\x00\xab", 2);
  if (!b->no_extensions) {
    size_t e3 = cg_der_begin(&w, DER_CTX_CONS(3));
    size_t exts = cg_der_begin(&w, DER_SEQUENCE);
    if (!b->empty_extensions) {
      put_extension(&w, CG_OID_EXT_SKID, -1, b->skid_value ? b->skid_value : "04 04 01 02 03 04");
      put_extension(&w, CG_OID_EXT_KEY_USAGE, b->critical_true ? 1 : -1, "03 02 07 80");
      if (b->critical_false)
        put_extension(&w, CG_OID_EXT_BASIC_CONSTRAINTS, 0, "30 00");
      if (b->duplicate)
        put_extension(&w, CG_OID_EXT_KEY_USAGE, -1, "03 02 07 80");
    }
    cg_der_end(&w, exts);
    cg_der_end(&w, e3);
  }
  cg_der_end(&w, tbs);
  put_algid(&w, b->other_outer_alg ? CG_OID_ECDSA_SHA384 : CG_OID_ECDSA_SHA256);
  if (b->unused_sig_bits)
    cg_der_put_tlv(&w, DER_BIT_STRING, "\x01\x30\x00", 3);
  else
    cg_der_put_bit_string(&w, "\x30\x06\x02\x01\x01\x02\x01\x01", 8);
  cg_der_end(&w, cert);
  size_t len;
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

static int parse_built(const struct build *b, struct cg_x509 *x) {
  uint8_t buf[1024];
  size_t len = build_cert(b, buf, sizeof buf);
  uint8_t *copy = malloc(len);
  memcpy(copy, buf, len);
  int rc = cg_x509_parse(copy, len, x);
  free(copy);
  return rc;
}

static int built_rc(const struct build *b) {
  struct cg_x509 x;
  return parse_built(b, &x);
}

static void built_v3_certificate_parses(void **state) {
  struct build b = {.version = 2};
  uint8_t buf[1024];
  size_t len = build_cert(&b, buf, sizeof buf);
  struct cg_x509 x;
  assert_int_equal(cg_x509_parse(buf, len, &x), 0);
  assert_int_equal(x.version, 2);
  assert_view_hex(x.serial, "01");
  assert_view_hex(x.skid, "01 02 03 04");
  assert_int_equal(x.not_before, 1700000000);
  assert_int_equal(x.not_after, 2600000000); /* after 2049: GeneralizedTime */
  assert_name(x.issuer, "CN=issuer");
  assert_name(x.subject, "CN=subject");
  assert_int_equal(x.signature.len, 8);
  check_prefixes_and_trailer(buf, len);
}

static void v1_certificate_without_version_field_parses(void **state) {
  struct build b = {.version = -1, .no_extensions = true};
  struct cg_x509 x;
  assert_int_equal(parse_built(&b, &x), 0);
  assert_int_equal(x.version, 0);
  assert_int_equal(x.extensions.len, 0);
  assert_int_equal(x.skid.len, 0);
}

static void versions_beyond_v3_are_rejected(void **state) {
  struct build b = {.version = 3};
  assert_int_equal(built_rc(&b), CG_EDER);
  b.version = 2;
  assert_int_equal(built_rc(&b), 0);
}

static void extensions_need_version_3(void **state) {
  struct build b = {.version = 1};
  assert_int_equal(built_rc(&b), CG_EDER);
  b.version = -1;
  assert_int_equal(built_rc(&b), CG_EDER);
}

static void unique_ids_need_version_2_or_3(void **state) {
  struct build b = {.version = -1, .no_extensions = true, .issuer_unique_id = true};
  assert_int_equal(built_rc(&b), CG_EDER);
  b.version = 1;
  assert_int_equal(built_rc(&b), 0);
  b.version = 2;
  b.no_extensions = false;
  assert_int_equal(built_rc(&b), 0);
}

static void explicit_critical_false_is_rejected(void **state) {
  struct build b = {.version = 2, .critical_false = true};
  assert_int_equal(built_rc(&b), CG_EDER);
}

static void critical_true_is_reported(void **state) {
  struct build b = {.version = 2, .critical_true = true};
  struct cg_x509 x;
  struct der_view v;
  bool critical = false;
  uint8_t buf[1024];
  size_t len = build_cert(&b, buf, sizeof buf);
  assert_int_equal(cg_x509_parse(buf, len, &x), 0);
  assert_int_equal(cg_x509_find_ext(x.extensions, cg_oid(CG_OID_EXT_KEY_USAGE), &v, &critical),
                   1);
  assert_true(critical);
}

static void duplicate_extensions_are_rejected(void **state) {
  struct build b = {.version = 2, .duplicate = true};
  assert_int_equal(built_rc(&b), CG_EDER);
}

static void empty_extensions_sequence_is_rejected(void **state) {
  struct build b = {.version = 2, .empty_extensions = true};
  assert_int_equal(built_rc(&b), CG_EDER);
}

static void skid_must_be_exactly_one_octet_string(void **state) {
  struct build b = {.version = 2, .skid_value = "30 00"};
  assert_int_equal(built_rc(&b), CG_EDER);
  b.skid_value = "04 01 01 00";
  assert_int_equal(built_rc(&b), CG_EDER);
  b.skid_value = "04 02 ab cd";
  struct cg_x509 x;
  uint8_t buf[1024];
  size_t len = build_cert(&b, buf, sizeof buf);
  assert_int_equal(cg_x509_parse(buf, len, &x), 0);
  assert_view_hex(x.skid, "ab cd");
}

static void serials_longer_than_20_octets_are_rejected(void **state) {
  struct build b = {.version = 2,
                    .serial_hex = "7f 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19"};
  assert_int_equal(built_rc(&b), 0);
  /* 20 octets with the top bit set, and the 0x00 that keeps them positive. */
  b.serial_hex = "00 ff 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19";
  assert_int_equal(built_rc(&b), 0);
  /* 21 octets of value. */
  b.serial_hex = "01 00 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19";
  assert_int_equal(built_rc(&b), CG_EDER);
  b.serial_hex = "00 ff 00 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19";
  assert_int_equal(built_rc(&b), CG_EDER);
}

static void non_minimal_serial_is_rejected(void **state) {
  struct build b = {.version = 2, .serial_hex = "00 01"};
  assert_int_equal(built_rc(&b), CG_EDER);
  b.serial_hex = "";
  assert_int_equal(built_rc(&b), CG_EDER);
}

static void signature_algorithms_must_match(void **state) {
  struct build b = {.version = 2, .other_outer_alg = true};
  assert_int_equal(built_rc(&b), CG_EDER);
}

static void signature_with_unused_bits_is_rejected(void **state) {
  struct build b = {.version = 2, .unused_sig_bits = true};
  assert_int_equal(built_rc(&b), CG_EDER);
}

static void empty_issuer_is_rejected_but_empty_subject_is_not(void **state) {
  struct build b = {.version = 2, .empty_issuer = true};
  assert_int_equal(built_rc(&b), CG_EDER);
  b.empty_issuer = false;
  b.empty_subject = true;
  assert_int_equal(built_rc(&b), 0);
}

static void invalid_validity_time_is_rejected(void **state) {
  struct build b = {.version = 2, .bad_time = true};
  assert_int_equal(built_rc(&b), CG_EDER);
}

static void empty_rdn_is_rejected(void **state) {
  struct build b = {.version = 2, .empty_rdn = true};
  assert_int_equal(built_rc(&b), CG_EDER);
}

/* ---- names built here ---- */

struct atv {
  unsigned rdn;        /* attributes with the same number share an RDN */
  const char *oid_hex; /* type; NULL: CN */
  unsigned tag;
  const char *value; /* contents */
  size_t len;        /* 0: strlen(value) */
};

static size_t build_name(const struct atv *a, size_t n, uint8_t *buf, size_t cap) {
  struct der_writer w;
  cg_der_writer_init(&w, buf, cap);
  size_t name = cg_der_begin(&w, DER_SEQUENCE);
  for (size_t i = 0; i < n;) {
    size_t set = cg_der_begin(&w, DER_SET);
    unsigned rdn = a[i].rdn;
    for (; i < n && a[i].rdn == rdn; i++) {
      size_t s = cg_der_begin(&w, DER_SEQUENCE);
      if (a[i].oid_hex != NULL)
        put_hex(&w, DER_OID, a[i].oid_hex);
      else
        cg_der_put_oid(&w, CG_OID_AT_CN);
      cg_der_put_tlv(&w, a[i].tag, a[i].value, a[i].len ? a[i].len : strlen(a[i].value));
      cg_der_end(&w, s);
    }
    cg_der_end(&w, set);
  }
  cg_der_end(&w, name);
  size_t len;
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

static void assert_built_name(const struct atv *a, size_t n, const char *want) {
  uint8_t buf[512];
  size_t len = build_name(a, n, buf, sizeof buf);
  assert_name((struct der_view){buf, len}, want);
}

#define ONE(tag, s) ((struct atv[]){{0, NULL, tag, s, 0}}), 1

static void special_characters_are_escaped(void **state) {
  assert_built_name(ONE(DER_UTF8_STRING, "a,b+c\"d\\e<f>g;h"),
                    "CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h");
  /* '=' and a '#' or space inside the value need no escape. */
  assert_built_name(ONE(DER_UTF8_STRING, "a=b #c d"), "CN=a=b #c d");
}

static void leading_and_trailing_specials_are_escaped(void **state) {
  assert_built_name(ONE(DER_UTF8_STRING, "#x"), "CN=\\#x");
  assert_built_name(ONE(DER_UTF8_STRING, " x"), "CN=\\ x");
  assert_built_name(ONE(DER_UTF8_STRING, "x "), "CN=x\\ ");
  assert_built_name(ONE(DER_UTF8_STRING, " "), "CN=\\ ");
  assert_built_name(ONE(DER_UTF8_STRING, " # "), "CN=\\ #\\ ");
  assert_built_name(ONE(DER_UTF8_STRING, "x#"), "CN=x#");
  assert_built_name(ONE(DER_UTF8_STRING, ""), "CN=");
}

static void control_characters_are_escaped_as_hex(void **state) {
  struct atv nul[] = {{0, NULL, DER_UTF8_STRING, "a\0b", 3}};
  assert_built_name(nul, 1, "CN=a\\00b");
  assert_built_name(ONE(DER_UTF8_STRING, "a\nb\x7f"), "CN=a\\0Ab\\7F");
  assert_built_name(ONE(DER_IA5_STRING, "\x1f"), "CN=\\1F");
}

static void rdns_print_last_first_and_multi_values_joined_by_plus(void **state) {
  struct atv a[] = {
      {0, "55 04 06", DER_PRINTABLE_STRING, "DE", 0},
      {1, "55 04 0a", DER_UTF8_STRING, "Org", 0},
      {2, "55 04 0b", DER_UTF8_STRING, "Unit", 0},
      {2, "55 04 07", DER_UTF8_STRING, "City", 0},
      {2, "55 04 08", DER_UTF8_STRING, "State", 0},
      {3, NULL, DER_UTF8_STRING, "Name", 0},
  };
  assert_built_name(a, 6, "CN=Name,OU=Unit+L=City+ST=State,O=Org,C=DE");
}

static void all_short_names_are_used(void **state) {
  struct atv a[] = {
      {0, "09 92 26 89 93 f2 2c 64 01 19", DER_IA5_STRING, "dc", 0},
      {1, "09 92 26 89 93 f2 2c 64 01 01", DER_UTF8_STRING, "uid", 0},
      {2, "2a 86 48 86 f7 0d 01 09 01", DER_IA5_STRING, "e@x", 0},
      {3, "55 04 09", DER_UTF8_STRING, "st", 0},
      {4, "55 04 05", DER_PRINTABLE_STRING, "42", 0},
  };
  assert_built_name(a, 5, "serialNumber=42,street=st,emailAddress=e@x,UID=uid,DC=dc");
}

static void unknown_types_print_as_dotted_oid_and_hex(void **state) {
  /* 2.5.4.12 (title), whose value's whole TLV is printed. */
  struct atv title[] = {{0, "55 04 0c", DER_UTF8_STRING, "Dr", 0}};
  assert_built_name(title, 1, "2.5.4.12=#0c024472");
  /* First arcs 0 and 1. */
  struct atv zero[] = {{0, "02 82 06 01", DER_UTF8_STRING, "x", 0}};
  assert_built_name(zero, 1, "0.2.262.1=#0c0178");
  struct atv one[] = {{0, "2b 06 01 04 01 82 37 3c 02 01 03", DER_PRINTABLE_STRING, "DE", 0}};
  assert_built_name(one, 1, "1.3.6.1.4.1.311.60.2.1.3=#13024445");
  /* 2.999: the first subidentifier (1079) takes two octets. */
  struct atv big_first[] = {{0, "88 37 01", DER_UTF8_STRING, "x", 0}};
  assert_built_name(big_first, 1, "2.999.1=#0c0178");
  /* 2.25.2^100: an arc wider than 64 bits. */
  struct atv wide[] = {{0, "69 84 80 80 80 80 80 80 80 80 80 80 80 80 80 00", DER_UTF8_STRING,
                        "x", 0}};
  assert_built_name(wide, 1, "2.25.1267650600228229401496703205376=#0c0178");
}

static void non_string_values_print_as_hex(void **state) {
  /* A known type whose value is not a string, or a string type not printed
   * as text, falls back to the dotted form too. */
  assert_built_name(ONE(DER_INTEGER, "\x05"), "2.5.4.3=#020105");
  struct atv ucs4[] = {{0, NULL, DER_UNIVERSAL_STRING, "\0\0\0A", 4}};
  assert_built_name(ucs4, 1, "2.5.4.3=#1c0400000041");
}

static void invalid_strings_print_as_hex(void **state) {
  assert_built_name(ONE(DER_UTF8_STRING, "\xc3\x28"), "2.5.4.3=#0c02c328");   /* bad trail */
  assert_built_name(ONE(DER_UTF8_STRING, "\xc0\x80"), "2.5.4.3=#0c02c080");   /* overlong */
  assert_built_name(ONE(DER_UTF8_STRING, "\xed\xa0\x80"), "2.5.4.3=#0c03eda080"); /* surrogate */
  assert_built_name(ONE(DER_UTF8_STRING, "\xf4\x90\x80\x80"),
                    "2.5.4.3=#0c04f4908080"); /* past U+10FFFF */
  assert_built_name(ONE(DER_UTF8_STRING, "\xe2\x82"), "2.5.4.3=#0c02e282"); /* truncated */
  assert_built_name(ONE(DER_PRINTABLE_STRING, "\x80"), "2.5.4.3=#130180");
  assert_built_name(ONE(DER_IA5_STRING, "\xff"), "2.5.4.3=#1601ff");
  struct atv odd[] = {{0, NULL, DER_BMP_STRING, "\x00\x41\x00", 3}};
  assert_built_name(odd, 1, "2.5.4.3=#1e03004100");
  struct atv surrogates[] = {{0, NULL, DER_BMP_STRING, "\xd8\x3d\xde\x00", 4}};
  assert_built_name(surrogates, 1, "2.5.4.3=#1e04d83dde00");
}

static void string_types_convert_to_utf8(void **state) {
  assert_built_name(ONE(DER_T61_STRING, "caf\xe9"), "CN=caf\xc3\xa9");
  struct atv bmp[] = {{0, NULL, DER_BMP_STRING, "\x00\x41\x20\xac\x00\x2c", 6}};
  assert_built_name(bmp, 1, "CN=A\xe2\x82\xac\\,");
  assert_built_name(ONE(DER_UTF8_STRING, "\xf0\x9f\x98\x80"), "CN=\xf0\x9f\x98\x80");
}

static void empty_name_gives_empty_string(void **state) {
  static const uint8_t empty[] = {0x30, 0x00};
  char s[4] = "xyz";
  assert_int_equal(cg_name_to_string((struct der_view){empty, 2}, s, sizeof s), 0);
  assert_string_equal(s, "");
  assert_int_equal(cg_name_to_string((struct der_view){empty, 2}, s, 1), 0);
  assert_int_equal(cg_name_to_string((struct der_view){empty, 2}, s, 0), CG_ESPACE);
}

static void small_buffers_give_espace_and_stay_in_bounds(void **state) {
  size_t len;
  uint8_t *der = load("ec.der", &len);
  struct cg_x509 x;
  assert_int_equal(cg_x509_parse(der, len, &x), 0);
  size_t need = strlen(ec_subject) + 1;
  for (size_t cap = 0; cap <= need; cap++) {
    char *s = malloc(cap ? cap : 1);
    int rc = cg_name_to_string(x.subject, cap ? s : NULL, cap);
    if (cap < need) {
      assert_int_equal(rc, CG_ESPACE);
      if (cap > 0)
        assert_int_equal(s[0], '\0');
    } else {
      assert_int_equal(rc, 0);
      assert_string_equal(s, ec_subject);
    }
    free(s);
  }
  /* An OID arc printed straight into the buffer runs out of room too. */
  struct atv wide[] = {{0, "69 84 80 80 80 80 80 80 80 80 80 80 80 80 80 00", DER_UTF8_STRING,
                        "x", 0}};
  uint8_t buf[64];
  size_t n = build_name(wide, 1, buf, sizeof buf);
  char s[20];
  assert_int_equal(cg_name_to_string((struct der_view){buf, n}, s, sizeof s), CG_ESPACE);
  free(der);
}

/* The text of a Name is at most 4 characters per octet (x509.h): control
 * characters (3 for 1), BMP characters above U+07FF (3 for 2), a dotted OID
 * of one-octet arcs (4 for 1, "127."), a #hex value (2 for 1), several
 * values in one RDN. */
static void name_text_takes_at_most_four_characters_per_octet(void **state) {
  static const char ctl[] = "\x01\x02\x1f\x7f\x01\x02";
  static const char bmp[] = "\x08\x00\xff\xfd\x30\x42";
  struct atv worst[] = {
      {0, "55 04 05", DER_UTF8_STRING, ctl, sizeof ctl - 1},
      {1, "2a 7f 7f 7f 7f 7f 7f 7f 7f 7f 7f", DER_OCTET_STRING, "\x00", 1},
      {1, NULL, DER_BMP_STRING, bmp, sizeof bmp - 1},
      {2, "7f 7f 7f", DER_NULL, "", 0},
  };
  for (size_t n = 1; n <= sizeof worst / sizeof worst[0]; n++) {
    uint8_t buf[256];
    char s[4 * sizeof buf + 1];
    size_t len = build_name(worst, n, buf, sizeof buf);
    assert_int_equal(cg_name_to_string((struct der_view){buf, len}, s, 4 * len + 1), 0);
    assert_true(strlen(s) <= 4 * len);
  }
}

/* cg_name_rdns() counts the RDNs of what cg_name_to_string() reads. */
static void rdns_are_counted(void **state) {
  static const struct atv three[] = {{0, NULL, DER_UTF8_STRING, "a", 0},
                                     {0, NULL, DER_UTF8_STRING, "b", 0},
                                     {1, NULL, DER_UTF8_STRING, "c", 0},
                                     {2, NULL, DER_UTF8_STRING, "d", 0}};
  static const uint8_t empty[] = {0x30, 0x00}, empty_rdn[] = {0x30, 0x02, 0x31, 0x00};
  uint8_t buf[128];
  size_t n = 99, len = build_name(three, 4, buf, sizeof buf);
  assert_int_equal(cg_name_rdns((struct der_view){buf, len}, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(cg_name_rdns((struct der_view){empty, sizeof empty}, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(cg_name_rdns((struct der_view){empty_rdn, sizeof empty_rdn}, &n), CG_EDER);
  assert_int_equal(cg_name_rdns((struct der_view){buf, len - 1}, &n), CG_EDER);
}

static int name_rc(const char *hex) {
  size_t n;
  uint8_t *p = tu_hex(hex, &n);
  uint8_t *copy = malloc(n ? n : 1);
  memcpy(copy, p, n);
  char s[256];
  int rc = cg_name_to_string((struct der_view){copy, n}, s, sizeof s);
  free(copy);
  free(p);
  return rc;
}

static void malformed_names_are_rejected(void **state) {
  assert_int_equal(name_rc("30 02 31 00"), CG_EDER);                      /* empty RDN */
  assert_int_equal(name_rc("30 07 31 05 30 03 06 01 55"), CG_EDER);       /* no value */
  assert_int_equal(name_rc("30 09 31 07 30 05 04 01 55 05 00"), CG_EDER); /* type not OID */
  assert_int_equal(name_rc("30 09 31 07 30 05 06 01 80 05 00"), CG_EDER); /* bad OID */
  assert_int_equal(name_rc("30 0b 31 09 30 07 06 01 55 05 00 05 00"), CG_EDER); /* 3 fields */
  assert_int_equal(name_rc("30 00 00"), CG_EDER);                         /* trailing */
  assert_int_equal(name_rc("31 00"), CG_EDER);                            /* not a SEQUENCE */
  assert_int_equal(name_rc(""), CG_EDER);
  assert_int_equal(name_rc("30 09 31 07 30 05 06 01 55 05 00"), 0);
}

static void name_prefixes_are_rejected(void **state) {
  size_t len;
  uint8_t *der = load("rsa.der", &len);
  struct cg_x509 x;
  assert_int_equal(cg_x509_parse(der, len, &x), 0);
  for (size_t k = 0; k < x.subject.len; k++) {
    uint8_t *copy = malloc(k ? k : 1);
    memcpy(copy, x.subject.p, k);
    char s[512];
    assert_int_equal(cg_name_to_string((struct der_view){k ? copy : NULL, k}, s, sizeof s),
                     CG_EDER);
    free(copy);
  }
  free(der);
}

static uint64_t serial_ms(const struct cert_spec *s) {
  uint64_t ms = s->serial[0] & 0x3f;
  for (int i = 1; i < 6; i++)
    ms = ms << 8 | s->serial[i];
  return ms;
}

/* 16 octets, positive without a leading zero, the issuing millisecond first
 * (so serials sort by time), 80 random bits after it. */
static void serials_carry_the_time_then_random_bits(void **state) {
  (void)state;
  struct cert_spec a, b;
  struct timespec t0, t1;
  clock_gettime(CLOCK_REALTIME, &t0);
  assert_int_equal(cg_cert_random_serial(&a), 0);
  /* the next millisecond, whatever the machine's speed */
  do {
    assert_int_equal(cg_cert_random_serial(&b), 0);
  } while (serial_ms(&b) == serial_ms(&a));
  clock_gettime(CLOCK_REALTIME, &t1);
  assert_int_equal(a.serial_len, 16);
  assert_int_equal(b.serial_len, 16);
  assert_int_equal(a.serial[0] & 0xc0, 0x40);
  uint64_t lo = (uint64_t)t0.tv_sec * 1000 + (uint64_t)t0.tv_nsec / 1000000;
  uint64_t hi = (uint64_t)t1.tv_sec * 1000 + (uint64_t)t1.tv_nsec / 1000000;
  assert_true(serial_ms(&a) >= lo && serial_ms(&a) <= hi);
  assert_true(serial_ms(&b) > serial_ms(&a) && serial_ms(&b) <= hi);
  assert_true(memcmp(b.serial, a.serial, 16) > 0); /* later sorts after */
  /* the random part: two serials of the same millisecond still differ */
  struct cert_spec c, d;
  do {
    assert_int_equal(cg_cert_random_serial(&c), 0);
    assert_int_equal(cg_cert_random_serial(&d), 0);
  } while (serial_ms(&c) != serial_ms(&d));
  assert_memory_not_equal(c.serial + 6, d.serial + 6, 10);
}

static void hex_is_lowercase_and_terminated(void **state) {
  static const uint8_t b[] = {0x00, 0x0f, 0xa5, 0xff};
  char s[9];
  memset(s, 'x', sizeof s);
  cg_hex(b, sizeof b, s);
  assert_string_equal(s, "000fa5ff");
  cg_hex(b, 0, s);
  assert_string_equal(s, "");
}

/* ---- descriptions for operators ---------------------------------------------- */

static void assert_spki(const char *file, const char *want) {
  char path[512], got[64];
  size_t len;
  snprintf(path, sizeof path, "%s/keys/%s", CG_TEST_VECTORS, file);
  uint8_t *der = tu_read_file(path, &len);
  assert_non_null(der);
  assert_int_equal(cg_spki_describe((struct der_view){der, len}, got, sizeof got), 0);
  assert_string_equal(got, want);
  /* too small for the words: an error, never a cut name */
  assert_int_equal(cg_spki_describe((struct der_view){der, len}, got, strlen(want)), CG_ESPACE);
  assert_int_equal(cg_spki_describe((struct der_view){der, len - 1}, got, sizeof got), CG_EDER);
  free(der);
}

static void spki_is_described_by_algorithm_and_size(void **state) {
  (void)state;
  assert_spki("ec256.spki.der", "EC P-256");
  assert_spki("ec384.spki.der", "EC P-384");
  assert_spki("rsa2048.spki.der", "RSA 2048");
  assert_spki("ed25519.spki.der", "Ed25519");
  assert_spki("ed448.spki.der", "Ed448");
  assert_spki("k256.spki.der", "EC"); /* a curve without a name here */
}

/* A certificate with every GeneralName kind the printer knows, and one it
 * does not (registeredID [8]). */
static void san_lists_every_name(void **state) {
  (void)state;
  static const uint8_t san[] = {
      0x30, 0x51,
      0x82, 0x0b, 'a', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'o',       /* dNSName */
      0x87, 0x04, 192, 0, 2, 1,                                               /* iPAddress v4 */
      0x87, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* v6 */
      0x81, 0x09, 'a', '@', 'b', '.', 'e', 'x', 'a', 'm', 'p',                /* rfc822Name */
      0x86, 0x09, 'u', 'r', 'n', ':', 'x', '\n', 'y', 'z', 'w',              /* URI */
      0xa4, 0x0f, 0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, /* dirName */
      0x0c, 0x02, 'h', 'i',
      0x88, 0x03, 0x2a, 0x03, 0x04,                                           /* registeredID */
  };
  char path[512];
  size_t spki_len;
  snprintf(path, sizeof path, "%s/keys/ec256.spki.der", CG_TEST_VECTORS);
  uint8_t *spki = tu_read_file(path, &spki_len);
  struct cg_key *key = NULL;
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  uint8_t name[] = {0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, 'c', 'a'};
  struct cert_spec s = {.issuer = {name, sizeof name}, .subject = {name, sizeof name},
                        .not_before = 1767225600, .not_after = 1798761600,
                        .spki = {spki, spki_len}, .san = {san, sizeof san}};
  assert_int_equal(cg_cert_random_serial(&s), 0);
  uint8_t der[2048];
  size_t len;
  assert_int_equal(cg_cert_build(&s, key, der, sizeof der, &len), 0);
  struct cg_x509 x;
  assert_int_equal(cg_x509_parse(der, len, &x), 0);
  char out[512];
  assert_int_equal(cg_x509_san_string(x.extensions, out, sizeof out), 0);
  assert_string_equal(out, "DNS:a.example.o, IP:192.0.2.1, IP:2001:db8::1, email:a@b.examp, "
                           "URI:urn:x?yzw, DirName:CN=hi, other[8]");
  /* cut at a name that does not fit, never inside one */
  assert_int_equal(cg_x509_san_string(x.extensions, out, 40), CG_ESPACE);
  assert_string_equal(out, "DNS:a.example.o, IP:192.0.2.1");
  /* no subjectAltName: "" */
  s.san = (struct der_view){NULL, 0};
  assert_int_equal(cg_cert_build(&s, key, der, sizeof der, &len), 0);
  assert_int_equal(cg_x509_parse(der, len, &x), 0);
  assert_int_equal(cg_x509_san_string(x.extensions, out, sizeof out), 0);
  assert_string_equal(out, "");
  cg_key_free(key);
  free(spki);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ec_certificate_fields_match_openssl),
      cmocka_unit_test(rsa_certificate_fields_match_openssl),
      cmocka_unit_test(extensions_are_found_with_their_criticality),
      cmocka_unit_test(openssl_certificates_fail_as_every_prefix_and_with_a_trailer),
      cmocka_unit_test(built_v3_certificate_parses),
      cmocka_unit_test(v1_certificate_without_version_field_parses),
      cmocka_unit_test(versions_beyond_v3_are_rejected),
      cmocka_unit_test(extensions_need_version_3),
      cmocka_unit_test(unique_ids_need_version_2_or_3),
      cmocka_unit_test(explicit_critical_false_is_rejected),
      cmocka_unit_test(critical_true_is_reported),
      cmocka_unit_test(duplicate_extensions_are_rejected),
      cmocka_unit_test(empty_extensions_sequence_is_rejected),
      cmocka_unit_test(skid_must_be_exactly_one_octet_string),
      cmocka_unit_test(serials_longer_than_20_octets_are_rejected),
      cmocka_unit_test(non_minimal_serial_is_rejected),
      cmocka_unit_test(signature_algorithms_must_match),
      cmocka_unit_test(signature_with_unused_bits_is_rejected),
      cmocka_unit_test(empty_issuer_is_rejected_but_empty_subject_is_not),
      cmocka_unit_test(invalid_validity_time_is_rejected),
      cmocka_unit_test(empty_rdn_is_rejected),
      cmocka_unit_test(special_characters_are_escaped),
      cmocka_unit_test(leading_and_trailing_specials_are_escaped),
      cmocka_unit_test(control_characters_are_escaped_as_hex),
      cmocka_unit_test(rdns_print_last_first_and_multi_values_joined_by_plus),
      cmocka_unit_test(all_short_names_are_used),
      cmocka_unit_test(unknown_types_print_as_dotted_oid_and_hex),
      cmocka_unit_test(non_string_values_print_as_hex),
      cmocka_unit_test(invalid_strings_print_as_hex),
      cmocka_unit_test(string_types_convert_to_utf8),
      cmocka_unit_test(empty_name_gives_empty_string),
      cmocka_unit_test(small_buffers_give_espace_and_stay_in_bounds),
      cmocka_unit_test(name_text_takes_at_most_four_characters_per_octet),
      cmocka_unit_test(rdns_are_counted),
      cmocka_unit_test(malformed_names_are_rejected),
      cmocka_unit_test(name_prefixes_are_rejected),
      cmocka_unit_test(hex_is_lowercase_and_terminated),
      cmocka_unit_test(serials_carry_the_time_then_random_bits),
      cmocka_unit_test(spki_is_described_by_algorithm_and_size),
      cmocka_unit_test(san_lists_every_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
