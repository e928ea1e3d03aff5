/*
 * test_crlbuild.c - the v2 CRL builder of core/crlbuild.c.
 *
 * A CA is made with core/certbuild for each key type; CRLs with no, one and
 * three revoked certificates are walked field by field with the strict DER
 * reader and their signatures checked with the CA's public key.  When the
 * openssl command is installed it reads the same CRLs (`openssl crl -text`)
 * and verifies them against the CA certificate.  Invalid specs are refused
 * and every allocation is made to fail in turn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/certbuild.h"
#include "core/crlbuild.h"
#include "core/crypto.h"
#include "core/der.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"
#include "failalloc.h"
#include "testutil.h"

#define T2024 1704067200 /* 2024-01-01T00:00:00Z */
#define DAY 86400

struct ca {
  struct cg_key *key;
  uint8_t name[128];
  size_t name_len;
  uint8_t cert[4096];
  size_t cert_len;
  uint8_t skid[20];
};

static struct cg_key *load_private(const char *file) {
  char path[512];
  size_t text_len, der_len, used;
  uint8_t der[4096];
  struct cg_key *key = NULL;
  snprintf(path, sizeof path, "%s/keys/%s", CG_TEST_VECTORS, file);
  uint8_t *text = tu_read_file(path, &text_len);
  if (text == NULL)
    fail_msg("cannot read %s", path);
  assert_int_equal(cg_pem_decode("PRIVATE KEY", (const char *)text, text_len, der, sizeof der,
                                 &der_len, &used),
                   0);
  assert_int_equal(cg_key_from_private_der(der, der_len, &key), 0);
  free(text);
  return key;
}

/* A self-signed CA certificate (keyCertSign, cRLSign) for key. */
static void make_ca(struct ca *ca, struct cg_key *key) {
  enum cg_oid_id t[] = {CG_OID_AT_CN};
  const char *v[] = {"cmpgw CRL test CA"};
  uint8_t spki[1024];
  size_t spki_len;
  struct cert_spec s;

  memset(ca, 0, sizeof *ca);
  ca->key = key;
  assert_int_equal(cg_cert_make_name(t, v, 1, ca->name, sizeof ca->name, &ca->name_len), 0);
  assert_int_equal(cg_key_spki(key, spki, sizeof spki, &spki_len), 0);
  memset(&s, 0, sizeof s);
  assert_int_equal(cg_cert_random_serial(&s), 0);
  s.issuer = (struct der_view){ca->name, ca->name_len};
  s.subject = s.issuer;
  s.not_before = T2024 - DAY;
  s.not_after = T2024 + 3650 * (int64_t)DAY;
  s.spki = (struct der_view){spki, spki_len};
  s.is_ca = true;
  s.key_usage = CERT_KU_KEY_CERT_SIGN | CERT_KU_CRL_SIGN;
  assert_int_equal(cg_cert_key_id(s.spki, ca->skid), 0);
  s.issuer_skid = (struct der_view){ca->skid, sizeof ca->skid};
  assert_int_equal(cg_cert_build(&s, key, ca->cert, sizeof ca->cert, &ca->cert_len), 0);
}

static struct crl_spec base_spec(const struct ca *ca) {
  struct crl_spec s;
  memset(&s, 0, sizeof s);
  s.issuer = (struct der_view){ca->name, ca->name_len};
  s.this_update = T2024;
  s.next_update = T2024 + 7 * DAY;
  s.crl_number = 4242;
  s.issuer_key_id = (struct der_view){ca->skid, sizeof ca->skid};
  return s;
}

/* Three entries: no reason, keyCompromise, aACompromise; the second serial
 * has its high bit set, so it is written with a leading zero octet. */
static const struct crl_entry three[] = {
    {{0x01, 0x02, 0x03, 0x04}, 4, T2024 - 3 * DAY, CRL_REASON_NONE},
    {{0x8a, 0xbc, 0xde, 0xf0, 0x11}, 5, T2024 - 2 * DAY, CRL_REASON_KEY_COMPROMISE},
    {{0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x2a},
     20, T2024 - DAY, CRL_REASON_AA_COMPROMISE},
};

/* ---------------------------------------------------------------- the reader */

#define MAX_ENTRIES 8

struct parsed {
  struct der_view tbs, tbs_sig_alg, sig_alg, issuer, signature;
  unsigned this_tag, next_tag;
  int64_t this_update, next_update;
  bool has_list;
  size_t n;
  struct {
    struct der_view serial; /* INTEGER contents */
    int64_t date;
    int reason; /* -1: no extension */
  } e[MAX_ENTRIES];
  struct der_view akid_key_id;
  bool has_crl_number;
  uint64_t crl_number;
};

static void read_time(struct der_reader *r, unsigned *tag, int64_t *t) {
  struct der_tlv v;
  assert_int_equal(cg_der_next(r, &v), 0);
  assert_int_equal(cg_der_get_time(v.tag, v.val, t), 0);
  *tag = v.tag;
}

/* Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }:
 * every extension the builder writes is non-critical, so critical must be
 * absent (DER). */
static struct der_view read_ext(struct der_reader *exts, struct der_view *oid) {
  struct der_reader ext;
  struct der_tlv t;
  assert_int_equal(cg_der_enter(exts, DER_SEQUENCE, &ext), 0);
  assert_int_equal(cg_der_expect(&ext, DER_OID, &t), 0);
  *oid = t.val;
  assert_int_equal(cg_der_expect(&ext, DER_OCTET_STRING, &t), 0);
  assert_int_equal(cg_der_leave(exts, &ext), 0);
  return t.val;
}

static void read_entry(struct der_reader *list, struct parsed *p) {
  struct der_reader ent, exts, in;
  struct der_tlv t;
  unsigned tag;
  assert_true(p->n < MAX_ENTRIES);
  assert_int_equal(cg_der_enter(list, DER_SEQUENCE, &ent), 0);
  assert_int_equal(cg_der_expect(&ent, DER_INTEGER, &t), 0);
  assert_int_equal(cg_der_check_integer(t.val), 0);
  p->e[p->n].serial = t.val;
  read_time(&ent, &tag, &p->e[p->n].date);
  p->e[p->n].reason = -1;
  if (cg_der_enter_optional(&ent, DER_SEQUENCE, &exts) == 1) {
    struct der_view oid, val = read_ext(&exts, &oid);
    uint64_t reason;
    assert_true(cg_der_view_eq(oid, cg_oid(CG_OID_EXT_CRL_REASON)));
    cg_der_reader_view(&in, val);
    assert_int_equal(cg_der_expect(&in, DER_ENUMERATED, &t), 0);
    assert_int_equal(cg_der_get_uint64(t.val, &reason), 0);
    assert_true(cg_der_at_end(&in));
    p->e[p->n].reason = (int)reason;
    assert_true(cg_der_at_end(&exts));
    assert_int_equal(cg_der_leave(&ent, &exts), 0);
  }
  assert_int_equal(cg_der_leave(list, &ent), 0);
  p->n++;
}

static void read_crl_extensions(struct der_reader *tbs, struct parsed *p) {
  struct der_reader tag, exts, akid, num;
  struct der_tlv t;
  struct der_view oid, val;
  assert_int_equal(cg_der_enter(tbs, DER_CTX_CONS(0), &tag), 0);
  assert_int_equal(cg_der_enter(&tag, DER_SEQUENCE, &exts), 0);
  while (!cg_der_at_end(&exts)) {
    val = read_ext(&exts, &oid);
    if (cg_der_view_eq(oid, cg_oid(CG_OID_EXT_AKID))) {
      struct der_reader top;
      cg_der_reader_view(&top, val);
      assert_int_equal(cg_der_enter(&top, DER_SEQUENCE, &akid), 0);
      assert_int_equal(cg_der_expect(&akid, DER_CTX(0), &t), 0);
      p->akid_key_id = t.val;
      assert_int_equal(cg_der_leave(&top, &akid), 0);
      assert_true(cg_der_at_end(&top));
    } else if (cg_der_view_eq(oid, cg_oid(CG_OID_EXT_CRL_NUMBER))) {
      cg_der_reader_view(&num, val);
      assert_int_equal(cg_der_expect(&num, DER_INTEGER, &t), 0);
      assert_int_equal(cg_der_get_uint64(t.val, &p->crl_number), 0);
      assert_true(cg_der_at_end(&num));
      p->has_crl_number = true;
    } else {
      fail_msg("unexpected CRL extension");
    }
  }
  assert_int_equal(cg_der_leave(&tag, &exts), 0);
  assert_int_equal(cg_der_leave(tbs, &tag), 0);
}

/* Walks a CertificateList strictly; every element must be consumed. */
static void parse_crl(const uint8_t *der, size_t len, struct parsed *p) {
  struct der_reader top, crl, tbs, list;
  struct der_tlv t;
  uint64_t version;
  unsigned unused;
  memset(p, 0, sizeof *p);
  cg_der_reader_init(&top, der, len);
  assert_int_equal(cg_der_enter(&top, DER_SEQUENCE, &crl), 0);
  assert_true(cg_der_at_end(&top));
  assert_int_equal(cg_der_peek_tag(&crl), DER_SEQUENCE);
  {
    struct der_reader peek = crl;
    cg_der_next(&peek, &t);
    p->tbs = t.raw;
  }
  assert_int_equal(cg_der_enter(&crl, DER_SEQUENCE, &tbs), 0);
  assert_int_equal(cg_der_expect(&tbs, DER_INTEGER, &t), 0);
  assert_int_equal(cg_der_get_uint64(t.val, &version), 0);
  assert_int_equal(version, 1); /* v2 */
  assert_int_equal(cg_der_expect(&tbs, DER_SEQUENCE, &t), 0);
  p->tbs_sig_alg = t.raw;
  assert_int_equal(cg_der_expect(&tbs, DER_SEQUENCE, &t), 0);
  p->issuer = t.raw;
  read_time(&tbs, &p->this_tag, &p->this_update);
  read_time(&tbs, &p->next_tag, &p->next_update);
  if (cg_der_enter_optional(&tbs, DER_SEQUENCE, &list) == 1) {
    p->has_list = true;
    while (!cg_der_at_end(&list))
      read_entry(&list, p);
    assert_int_equal(cg_der_leave(&tbs, &list), 0);
  }
  read_crl_extensions(&tbs, p);
  assert_int_equal(cg_der_leave(&crl, &tbs), 0);
  assert_int_equal(cg_der_expect(&crl, DER_SEQUENCE, &t), 0);
  p->sig_alg = t.raw;
  assert_int_equal(cg_der_expect(&crl, DER_BIT_STRING, &t), 0);
  assert_int_equal(cg_der_get_bit_string(t.val, &p->signature, &unused), 0);
  assert_int_equal(unused, 0);
  assert_int_equal(cg_der_leave(&top, &crl), 0);
}

/* The signature over tbsCertList verifies with the CA certificate's key. */
static void assert_signed_by(const struct parsed *p, const struct ca *ca) {
  struct cg_x509 x;
  struct cg_key *pub;
  struct der_view oid, rest;
  struct der_reader top, alg;
  struct der_tlv t;
  enum cg_sig_scheme scheme;
  enum cg_hash hash;

  assert_int_equal(cg_x509_parse(ca->cert, ca->cert_len, &x), 0);
  assert_int_equal(cg_key_from_spki(x.spki.p, x.spki.len, &pub), 0);
  /* Both AlgorithmIdentifiers are those of the CA's own certificate, which
   * certbuild wrote with the same writer. */
  assert_true(cg_der_view_eq(p->sig_alg, p->tbs_sig_alg));
  assert_true(cg_der_view_eq(p->sig_alg, x.sig_alg));
  cg_der_reader_view(&top, p->sig_alg);
  assert_int_equal(cg_der_enter(&top, DER_SEQUENCE, &alg), 0);
  assert_int_equal(cg_der_expect(&alg, DER_OID, &t), 0);
  oid = t.val;
  rest.len = (size_t)(alg.end - alg.p);
  assert_int_equal(cg_oid_sigalg(cg_oid_lookup(oid), &scheme, &hash), 0);
  if (scheme == CG_SIG_RSA_PKCS1)
    assert_int_equal(rest.len, 2); /* NULL parameters, RFC 4055 §5 */
  else
    assert_int_equal(rest.len, 0);

  struct cg_iov iov = {p->tbs.p, p->tbs.len};
  assert_int_equal(cg_verify(pub, scheme, hash, &iov, 1, p->signature.p, p->signature.len), 0);
  /* One flipped octet of the signed part and the signature fails. */
  uint8_t *copy = malloc(p->tbs.len);
  memcpy(copy, p->tbs.p, p->tbs.len);
  copy[p->tbs.len - 1] ^= 1;
  iov.p = copy;
  assert_int_equal(cg_verify(pub, scheme, hash, &iov, 1, p->signature.p, p->signature.len),
                   CG_EBAD_MAC);
  free(copy);
  cg_key_free(pub);
}

/* ---------------------------------------------------------------- openssl */

static bool have_openssl(void) {
  return system("openssl version >/dev/null 2>&1") == 0;
}

struct tmpdir {
  char path[64];
};

static void tmpdir_make(struct tmpdir *d) {
  snprintf(d->path, sizeof d->path, "/tmp/cg-crlbuild-XXXXXX");
  assert_non_null(mkdtemp(d->path));
}

static void tmpdir_file(const struct tmpdir *d, const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", d->path, name);
}

static void write_file(const char *path, const void *p, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

/* Runs cmd (stderr joined to stdout) and returns its output, NUL terminated. */
static char *run(const char *cmd, int *status) {
  size_t cap = 1 << 16, n = 0, r;
  char *out = malloc(cap);
  FILE *f = popen(cmd, "r");
  assert_non_null(f);
  while ((r = fread(out + n, 1, cap - 1 - n, f)) > 0)
    n += r;
  out[n] = '\0';
  *status = pclose(f);
  return out;
}

/* openssl reads crl (DER) and verifies it with the CA certificate; returns
 * the `-text` output, which the caller frees. */
static char *openssl_check(const struct ca *ca, const uint8_t *crl, size_t crl_len) {
  struct tmpdir d;
  char crl_path[128], ca_path[128], cmd[512], pem[8192];
  size_t pem_len;
  int status, text_status;

  tmpdir_make(&d);
  tmpdir_file(&d, "crl.der", crl_path, sizeof crl_path);
  tmpdir_file(&d, "ca.pem", ca_path, sizeof ca_path);
  write_file(crl_path, crl, crl_len);
  assert_int_equal(
      cg_pem_encode("CERTIFICATE", ca->cert, ca->cert_len, pem, sizeof pem, &pem_len), 0);
  write_file(ca_path, pem, pem_len);

  snprintf(cmd, sizeof cmd, "openssl crl -inform DER -in %s -noout -text 2>&1", crl_path);
  char *text = run(cmd, &text_status);
  snprintf(cmd, sizeof cmd, "openssl crl -inform DER -in %s -CAfile %s -noout 2>&1", crl_path,
           ca_path);
  char *verify = run(cmd, &status);
  /* Clean up before checking: a failed check does not return. */
  assert_int_equal(unlink(crl_path), 0);
  assert_int_equal(unlink(ca_path), 0);
  assert_int_equal(rmdir(d.path), 0);

  if (text_status != 0)
    fail_msg("openssl crl -text failed:\n%s", text);
  if (status != 0 || strstr(verify, "verify OK") == NULL)
    fail_msg("openssl did not verify the CRL:\n%s", verify);
  free(verify);
  return text;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *s = strstr(hay, needle); s != NULL; s = strstr(s + 1, needle))
    n++;
  return n;
}

/* ---------------------------------------------------------------- tests */

static void build(const struct crl_spec *s, const struct ca *ca, uint8_t **der, size_t *len) {
  assert_int_equal(cg_crl_build(s, ca->key, der, len), 0);
  assert_non_null(*der);
}

static void crl_without_entries_has_no_revoked_list(void **state) {
  struct ca ca;
  struct parsed p;
  uint8_t *der;
  size_t len;
  struct cg_key *key;
  (void)state;
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  make_ca(&ca, key);
  struct crl_spec s = base_spec(&ca);
  build(&s, &ca, &der, &len);
  parse_crl(der, len, &p);
  assert_false(p.has_list);
  assert_int_equal(p.n, 0);
  assert_true(cg_der_view_is(p.issuer, ca.name, ca.name_len));
  assert_int_equal(p.this_update, T2024);
  assert_int_equal(p.next_update, T2024 + 7 * DAY);
  assert_int_equal(p.this_tag, DER_UTC_TIME);
  assert_int_equal(p.next_tag, DER_UTC_TIME);
  assert_true(cg_der_view_is(p.akid_key_id, ca.skid, sizeof ca.skid));
  assert_true(p.has_crl_number);
  assert_int_equal(p.crl_number, 4242);
  assert_signed_by(&p, &ca);
  free(der);
  cg_key_free(key);
}

static void crl_entries_carry_serials_dates_and_reasons(void **state) {
  struct ca ca;
  struct parsed p;
  uint8_t *der;
  size_t len;
  struct cg_key *key;
  (void)state;
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  make_ca(&ca, key);
  struct crl_spec s = base_spec(&ca);

  s.entries = &three[1];
  s.n_entries = 1;
  build(&s, &ca, &der, &len);
  parse_crl(der, len, &p);
  assert_true(p.has_list);
  assert_int_equal(p.n, 1);
  assert_true(cg_der_view_is(p.e[0].serial, (const uint8_t *)"\x00\x8a\xbc\xde\xf0\x11", 6));
  assert_int_equal(p.e[0].date, T2024 - 2 * DAY);
  assert_int_equal(p.e[0].reason, CRL_REASON_KEY_COMPROMISE);
  assert_signed_by(&p, &ca);
  free(der);

  s.entries = three;
  s.n_entries = 3;
  s.crl_number = 0; /* INTEGER 0 is one zero octet */
  build(&s, &ca, &der, &len);
  parse_crl(der, len, &p);
  assert_int_equal(p.n, 3);
  assert_true(cg_der_view_is(p.e[0].serial, three[0].serial, 4));
  assert_int_equal(p.e[0].reason, -1);
  assert_true(cg_der_view_is(p.e[2].serial, three[2].serial, 20));
  assert_int_equal(p.e[2].reason, CRL_REASON_AA_COMPROMISE);
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(p.e[i].date, three[i].revoked_at);
  assert_int_equal(p.crl_number, 0);
  assert_signed_by(&p, &ca);
  free(der);
  cg_key_free(key);
}

/* RFC 5280 §5.3.1: unspecified (0) is expressed by leaving the extension out;
 * every other code is written as given. */
static void reason_unspecified_is_written_without_extension(void **state) {
  static const int reasons[] = {0, 1, 2, 3, 4, 5, 6, 8, 9, 10};
  struct crl_entry e[10];
  struct ca ca;
  struct parsed p;
  uint8_t *der;
  size_t len;
  struct cg_key *key;
  (void)state;
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  make_ca(&ca, key);
  memset(e, 0, sizeof e);
  for (size_t i = 0; i < 10; i++) {
    e[i].serial[0] = (uint8_t)(i + 1);
    e[i].serial_len = 1;
    e[i].revoked_at = T2024;
    e[i].reason = reasons[i];
  }
  struct crl_spec s = base_spec(&ca);
  s.entries = e;
  s.n_entries = 8; /* the parser's cap */
  build(&s, &ca, &der, &len);
  parse_crl(der, len, &p);
  assert_int_equal(p.n, 8);
  assert_int_equal(p.e[0].reason, -1);
  for (size_t i = 1; i < 8; i++)
    assert_int_equal(p.e[i].reason, reasons[i]);
  free(der);
  cg_key_free(key);
}

/* RFC 5280 §5.1.2.4-5 and §4.1.2.5: UTCTime through 2049, GeneralizedTime
 * from 2050 on. */
static void times_from_2050_are_generalized_time(void **state) {
  struct ca ca;
  struct parsed p;
  uint8_t *der;
  size_t len;
  struct cg_key *key;
  (void)state;
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  make_ca(&ca, key);
  struct crl_spec s = base_spec(&ca);
  s.this_update = 2524607999;  /* 2049-12-31T23:59:59Z */
  s.next_update = 2524608000;  /* 2050-01-01T00:00:00Z */
  build(&s, &ca, &der, &len);
  parse_crl(der, len, &p);
  assert_int_equal(p.this_tag, DER_UTC_TIME);
  assert_int_equal(p.next_tag, DER_GENERALIZED_TIME);
  assert_int_equal(p.this_update, 2524607999);
  assert_int_equal(p.next_update, 2524608000);
  free(der);
  cg_key_free(key);
}

static void invalid_specs_are_refused(void **state) {
  struct ca ca;
  struct cg_key *key;
  uint8_t *der = (uint8_t *)"x";
  size_t len = 99;
  struct crl_entry e = three[0];
  (void)state;
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  make_ca(&ca, key);
  struct crl_spec s = base_spec(&ca);
  s.entries = &e;
  s.n_entries = 1;

  static const int bad_reasons[] = {7, 11, -2, 100};
  for (size_t i = 0; i < sizeof bad_reasons / sizeof bad_reasons[0]; i++) {
    e.reason = bad_reasons[i];
    assert_int_equal(cg_crl_build(&s, key, &der, &len), CG_EINVAL);
    assert_null(der);
    assert_int_equal(len, 0);
  }
  e.reason = CRL_REASON_NONE;
  e.serial_len = 0;
  assert_int_equal(cg_crl_build(&s, key, &der, &len), CG_EINVAL);
  e.serial_len = 21;
  assert_int_equal(cg_crl_build(&s, key, &der, &len), CG_EINVAL);
  e.serial_len = 4;
  assert_int_equal(cg_crl_build(&s, key, &der, &len), 0);
  free(der);

  struct crl_spec b = s;
  b.next_update = b.this_update - 1;
  assert_int_equal(cg_crl_build(&b, key, &der, &len), CG_EINVAL);
  b = s;
  b.issuer_key_id = (struct der_view){NULL, 0};
  assert_int_equal(cg_crl_build(&b, key, &der, &len), CG_EINVAL);
  b = s;
  b.issuer = (struct der_view){NULL, 0};
  assert_int_equal(cg_crl_build(&b, key, &der, &len), CG_EINVAL);
  b = s;
  b.entries = NULL;
  assert_int_equal(cg_crl_build(&b, key, &der, &len), CG_EINVAL);
  /* A public key cannot sign: the error is passed on, nothing is kept. */
  uint8_t spki[256];
  size_t spki_len;
  struct cg_key *pub;
  assert_int_equal(cg_key_spki(key, spki, sizeof spki, &spki_len), 0);
  assert_int_equal(cg_key_from_spki(spki, spki_len, &pub), 0);
  assert_int_not_equal(cg_crl_build(&s, pub, &der, &len), 0);
  assert_null(der);
  cg_key_free(pub);
  /* Year 10000 cannot be written as a Time. */
  b = s;
  b.next_update = 253402300800; /* 10000-01-01T00:00:00Z */
  assert_int_equal(cg_crl_build(&b, key, &der, &len), CG_EINVAL);
  assert_null(der);
  cg_key_free(key);
}

/* ECDSA P-384, RSA PKCS#1 v1.5 (NULL parameters) and Ed25519 issuers: the
 * signature algorithm follows the key, and the CRL verifies. */
static void crl_signed_by_each_key_type_verifies(void **state) {
  static const char *const files[] = {"ec384.pem", "rsa2048.pem", "ed25519.pem"};
  (void)state;
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    struct ca ca;
    struct parsed p;
    uint8_t *der;
    size_t len;
    struct cg_key *key = load_private(files[i]);
    make_ca(&ca, key);
    struct crl_spec s = base_spec(&ca);
    s.entries = three;
    s.n_entries = 3;
    build(&s, &ca, &der, &len);
    parse_crl(der, len, &p);
    assert_int_equal(p.n, 3);
    assert_signed_by(&p, &ca);
    if (have_openssl())
      free(openssl_check(&ca, der, len));
    free(der);
    cg_key_free(key);
  }
}

/* `openssl crl -text` shows what was written, and `-CAfile` verifies it. */
static void openssl_reads_and_verifies_crls(void **state) {
  struct ca ca;
  struct cg_key *key;
  uint8_t *der;
  size_t len;
  (void)state;
  if (!have_openssl())
    skip();
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  make_ca(&ca, key);
  struct crl_spec s = base_spec(&ca);

  build(&s, &ca, &der, &len);
  char *text = openssl_check(&ca, der, len);
  assert_non_null(strstr(text, "No Revoked Certificates."));
  assert_non_null(strstr(text, "X509v3 CRL Number:"));
  assert_non_null(strstr(text, "4242"));
  assert_non_null(strstr(text, "Last Update: Jan  1 00:00:00 2024 GMT"));
  assert_non_null(strstr(text, "Next Update: Jan  8 00:00:00 2024 GMT"));
  assert_non_null(strstr(text, "Issuer: CN = cmpgw CRL test CA"));
  assert_non_null(strstr(text, "X509v3 Authority Key Identifier:"));
  assert_non_null(strstr(text, "Version 2 (0x1)"));
  free(text);
  free(der);

  s.entries = &three[1];
  s.n_entries = 1;
  s.crl_number = 7;
  build(&s, &ca, &der, &len);
  text = openssl_check(&ca, der, len);
  assert_non_null(strstr(text, "Serial Number: 8ABCDEF011"));
  assert_non_null(strstr(text, "Key Compromise"));
  assert_int_equal(count(text, "Serial Number:"), 1);
  free(text);
  free(der);

  s.entries = three;
  s.n_entries = 3;
  build(&s, &ca, &der, &len);
  text = openssl_check(&ca, der, len);
  assert_non_null(strstr(text, "Serial Number: 01020304"));
  assert_non_null(strstr(text, "Serial Number: 8ABCDEF011"));
  assert_non_null(strstr(text, "Serial Number: 7F0000000000000000000000000000000000002A"));
  assert_non_null(strstr(text, "Revocation Date: Dec 29 00:00:00 2023 GMT"));
  assert_non_null(strstr(text, "Key Compromise"));
  assert_non_null(strstr(text, "AA Compromise"));
  assert_int_equal(count(text, "Serial Number:"), 3);
  assert_int_equal(count(text, "X509v3 CRL Reason Code:"), 2);
  free(text);
  free(der);
  cg_key_free(key);
}

static void every_allocation_failure_is_reported(void **state) {
  struct ca ca;
  struct cg_key *key;
  uint8_t *der;
  size_t len;
  (void)state;
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  make_ca(&ca, key);
  struct crl_spec s = base_spec(&ca);
  s.entries = three;
  s.n_entries = 3;
  for (unsigned n = 1;; n++) {
    failalloc_arm(n);
    int rc = cg_crl_build(&s, key, &der, &len);
    bool fired = failalloc_fired();
    failalloc_disarm();
    if (!fired) {
      struct parsed p;
      assert_int_equal(rc, 0);
      parse_crl(der, len, &p);
      assert_int_equal(p.n, 3);
      free(der);
      assert_true(n > 2); /* the TBSCertList and the CertificateList */
      break;
    }
    assert_int_not_equal(rc, 0);
    assert_null(der);
  }
  cg_key_free(key);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(crl_without_entries_has_no_revoked_list),
      cmocka_unit_test(crl_entries_carry_serials_dates_and_reasons),
      cmocka_unit_test(reason_unspecified_is_written_without_extension),
      cmocka_unit_test(times_from_2050_are_generalized_time),
      cmocka_unit_test(invalid_specs_are_refused),
      cmocka_unit_test(crl_signed_by_each_key_type_verifies),
      cmocka_unit_test(openssl_reads_and_verifies_crls),
      cmocka_unit_test(every_allocation_failure_is_reported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
