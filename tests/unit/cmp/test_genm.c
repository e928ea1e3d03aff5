/*
 * test_genm.c - general messages (cmp/genm.c): GenMsgContent decoding and
 * its caps, the id-it-rootCaCert and id-it-crlStatusList request values, and
 * every genm and genp writer, each read back through the decoders and a
 * strict walk of the value's ASN.1 (RFC 9810 §5.3.19, RFC 9483 §4.3).
 * Interop: the genm requests and genp answers OpenSSL 3.0 made
 * (tests/vectors/genm, see its README.md) decode, and their MACs verify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/client.h"
#include "cmp/encode.h"
#include "cmp/genm.h"
#include "cmp/msg.h"
#include "cmp/protect.h"
#include "core/certbuild.h"
#include "core/crlbuild.h"
#include "core/crypto.h"
#include "core/der.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"
#include "testutil.h"

#define T2024 1704067200 /* 2024-01-01T00:00:00Z */
#define SECRET "vector-secret-1234"

static const uint8_t oid_reg_ctrl_alg_id[] = {0x2b, 0x06, 0x01, 0x05, 0x05,
                                              0x07, 0x05, 0x01, 0x0b};
static const uint8_t oid_reg_ctrl_rsa_key_len[] = {0x2b, 0x06, 0x01, 0x05, 0x05,
                                                   0x07, 0x05, 0x01, 0x0c};
/* 1.3.6.1.4.1.99999.1: an info type nobody knows. */
static const uint8_t oid_unknown[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01};

static struct der_view oid_view(enum cg_oid_id id) { return cg_oid(id); }
static struct der_view view(const uint8_t *p, size_t len) { return (struct der_view){p, len}; }
static const struct der_view none = {NULL, 0};

/* ---------------------------------------------------------------- fixtures */

struct blob {
  uint8_t p[2048];
  size_t len;
};

static void make_name(const char *cn, struct blob *out) {
  enum cg_oid_id t[] = {CG_OID_AT_CN};
  const char *v[] = {cn};
  assert_int_equal(cg_cert_make_name(t, v, 1, out->p, sizeof out->p, &out->len), 0);
}

/* A self-signed certificate for a new P-256 key named cn. */
static void make_cert(const char *cn, struct blob *out, struct cg_key **key_out) {
  struct cg_key *key;
  struct blob name;
  uint8_t spki[256];
  size_t spki_len;
  struct cert_spec s;
  assert_int_equal(cg_key_generate_ec(256, &key), 0);
  assert_int_equal(cg_key_spki(key, spki, sizeof spki, &spki_len), 0);
  make_name(cn, &name);
  memset(&s, 0, sizeof s);
  assert_int_equal(cg_cert_random_serial(&s), 0);
  s.issuer = view(name.p, name.len);
  s.subject = s.issuer;
  s.not_before = T2024;
  s.not_after = T2024 + 86400 * 365;
  s.spki = view(spki, spki_len);
  s.is_ca = true;
  s.key_usage = CERT_KU_KEY_CERT_SIGN | CERT_KU_CRL_SIGN;
  assert_int_equal(cg_cert_build(&s, key, out->p, sizeof out->p, &out->len), 0);
  if (key_out != NULL)
    *key_out = key;
  else
    cg_key_free(key);
}

/* AlgorithmIdentifier { id-ecPublicKey, curve } or { oid } without parameters. */
static void make_alg(enum cg_oid_id oid, enum cg_oid_id param, struct blob *out) {
  struct der_writer w;
  cg_der_writer_init(&w, out->p, sizeof out->p);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, oid);
  if (param != CG_OID_UNKNOWN)
    cg_der_put_oid(&w, param);
  cg_der_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &out->len), 0);
}

/* ---------------------------------------------------------------- reading helpers */

/* Reads a body [tag] { SEQUENCE } and decodes the SEQUENCE as GenMsgContent. */
static void decode_body(const uint8_t *p, size_t len, unsigned tag, struct cmp_genm *g) {
  struct der_reader top;
  struct der_tlv body, content;
  cg_der_reader_init(&top, p, len);
  assert_int_equal(cg_der_expect(&top, DER_CTX_CONS(tag), &body), 0);
  assert_true(cg_der_at_end(&top));
  struct der_reader in;
  cg_der_reader_view(&in, body.val);
  assert_int_equal(cg_der_expect(&in, DER_SEQUENCE, &content), 0);
  assert_true(cg_der_at_end(&in));
  assert_int_equal(cmp_genm_decode(content.raw, g), 0);
}

/* Enters the SEQUENCE that is the whole of v. */
static void enter_value(struct der_view v, struct der_reader *top, struct der_reader *seq) {
  cg_der_reader_view(top, v);
  assert_int_equal(cg_der_enter(top, DER_SEQUENCE, seq), 0);
  assert_true(cg_der_at_end(top));
}

/* The next element of r is exactly the bytes of want. */
static void expect_raw(struct der_reader *r, struct der_view want) {
  struct der_tlv t;
  assert_int_equal(cg_der_next(r, &t), 0);
  assert_true(cg_der_view_eq(t.raw, want));
}

/* The next element of r is [n] EXPLICIT around exactly want. */
static void expect_explicit(struct der_reader *r, unsigned n, struct der_view want) {
  struct der_reader in;
  assert_int_equal(cg_der_enter(r, DER_CTX_CONS(n), &in), 0);
  expect_raw(&in, want);
  assert_int_equal(cg_der_leave(r, &in), 0);
}

static void assert_leave(struct der_reader *top, struct der_reader *seq) {
  assert_true(cg_der_at_end(seq));
  assert_int_equal(cg_der_leave(top, seq), 0);
}

/* ---------------------------------------------------------------- genm */

static size_t write_into(void (*fn)(struct der_writer *, void *), void *arg, uint8_t *buf,
                         size_t cap) {
  struct der_writer w;
  size_t len, measured;
  cg_der_writer_init(&w, NULL, 0);
  fn(&w, arg);
  assert_int_equal(cg_der_writer_finish(&w, &measured), 0);
  cg_der_writer_init(&w, buf, cap);
  fn(&w, arg);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  /* Measuring gives the exact size. */
  assert_int_equal(len, measured);
  return len;
}

struct itav_list {
  const struct cmp_itav *itav;
  size_t n;
};

static void write_genm_list(struct der_writer *w, void *arg) {
  const struct itav_list *l = arg;
  cmp_genm_write_body(w, l->itav, l->n);
}

static void genm_body_round_trips_through_decode(void **state) {
  static const uint8_t int_value[] = {0x02, 0x01, 0x05};
  struct blob cert;
  uint8_t buf[4096];
  struct cmp_genm g;
  (void)state;
  make_cert("root", &cert, NULL);
  const struct cmp_itav in[] = {
      {oid_view(CG_OID_IT_CA_CERTS), none},
      {oid_view(CG_OID_IT_ROOT_CA_CERT), view(cert.p, cert.len)},
      {view(oid_unknown, sizeof oid_unknown), view(int_value, sizeof int_value)},
  };
  struct itav_list l = {in, 3};
  size_t len = write_into(write_genm_list, &l, buf, sizeof buf);
  assert_int_equal(buf[0], 0xb5); /* [21] constructed */
  decode_body(buf, len, CMP_GENM, &g);
  assert_int_equal(g.n, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_true(cg_der_view_eq(g.itav[i].oid, in[i].oid));
    assert_int_equal(g.itav[i].value.len, in[i].value.len);
    if (in[i].value.len)
      assert_true(cg_der_view_eq(g.itav[i].value, in[i].value));
  }
  struct der_view c;
  assert_int_equal(cmp_itav_root_ca_cert(&g.itav[1], &c), 1);
  assert_true(cg_der_view_is(c, cert.p, cert.len));
}

static void genm_without_entries_is_allowed(void **state) {
  uint8_t buf[16];
  struct cmp_genm g;
  (void)state;
  struct itav_list l = {NULL, 0};
  size_t len = write_into(write_genm_list, &l, buf, sizeof buf);
  assert_int_equal(len, 4);
  assert_memory_equal(buf, "\xb5\x02\x30\x00", 4);
  decode_body(buf, len, CMP_GENM, &g);
  assert_int_equal(g.n, 0);
}

/* A genm built with the writer, wrapped in a whole PKIMessage, is read by
 * cmp_msg_decode() as body 21 and its content by cmp_genm_decode(). */
static void genm_message_decodes_as_body_21(void **state) {
  uint8_t hb[1024], msg[1024], tid[16], nonce[16];
  struct der_writer w;
  size_t hb_len, len;
  struct cmp_msg m;
  struct cmp_genm g;
  (void)state;
  memset(tid, 0x11, sizeof tid);
  memset(nonce, 0x22, sizeof nonce);
  struct cmp_out_header h = {.pvno = 2,
                             .transaction_id = view(tid, sizeof tid),
                             .sender_nonce = view(nonce, sizeof nonce)};
  cg_der_writer_init(&w, hb, sizeof hb);
  cmp_write_header(&w, &h);
  size_t body = cmp_genm_begin(&w);
  cmp_write_itav_absent(&w, oid_view(CG_OID_IT_CA_CERTS));
  cmp_write_itav_absent(&w, oid_view(CG_OID_IT_CERT_REQ_TEMPLATE));
  cmp_genm_end(&w, body);
  assert_int_equal(cg_der_writer_finish(&w, &hb_len), 0);
  cg_der_writer_init(&w, msg, sizeof msg);
  cmp_write_message(&w, hb, hb_len, NULL, 0, NULL, 0);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);

  assert_int_equal(cmp_msg_decode(msg, len, &m), 0);
  assert_int_equal(m.type, CMP_GENM);
  assert_int_equal(cmp_genm_decode(m.content, &g), 0);
  assert_int_equal(g.n, 2);
  assert_true(cg_der_view_eq(g.itav[0].oid, cg_oid(CG_OID_IT_CA_CERTS)));
  assert_true(cg_der_view_eq(g.itav[1].oid, cg_oid(CG_OID_IT_CERT_REQ_TEMPLATE)));
  assert_int_equal(g.itav[0].value.len, 0);
}

/* GenMsgContent of n entries, each InfoTypeAndValue { unknown OID }. */
static size_t content_of(size_t n, uint8_t *buf, size_t cap) {
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, buf, cap);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  for (size_t i = 0; i < n; i++)
    cmp_write_itav_absent(&w, view(oid_unknown, sizeof oid_unknown));
  cg_der_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

static void genm_over_eight_entries_is_bad_request(void **state) {
  uint8_t buf[512];
  struct cmp_genm g;
  (void)state;
  size_t len = content_of(CMP_GENM_MAX_ITAV, buf, sizeof buf);
  assert_int_equal(cmp_genm_decode(view(buf, len), &g), 0);
  assert_int_equal(g.n, CMP_GENM_MAX_ITAV);
  len = content_of(CMP_GENM_MAX_ITAV + 1, buf, sizeof buf);
  assert_int_equal(cmp_genm_decode(view(buf, len), &g), CG_EBAD_REQUEST);
  assert_int_equal(g.n, 0);
}

static int decode_hex(const char *hex) {
  size_t n;
  uint8_t *p = tu_hex(hex, &n);
  struct cmp_genm g;
  int rc = cmp_genm_decode(view(p, n), &g);
  free(p);
  return rc;
}

static void malformed_genm_content_is_refused(void **state) {
  (void)state;
  /* The reference: one InfoTypeAndValue { 1.3.6.1.5.5.7.4.17 }. */
  assert_int_equal(decode_hex("300c 300a 0608 2b06010505070411"), 0);
  /* Value present: one element after the OID. */
  assert_int_equal(decode_hex("300e 300c 0608 2b06010505070411 0500"), 0);
  /* Not a SEQUENCE. */
  assert_int_equal(decode_hex("310c 300a 0608 2b06010505070411"), CG_EDER);
  /* infoType not an OID. */
  assert_int_equal(decode_hex("300c 300a 0408 2b06010505070411"), CG_EDER);
  /* An OID with a non-minimal subidentifier. */
  assert_int_equal(decode_hex("300d 300b 0609 2b0601050507048011"), CG_EDER);
  /* An empty InfoTypeAndValue. */
  assert_int_equal(decode_hex("3002 3000"), CG_EDER);
  /* Two elements after the OID. */
  assert_int_equal(decode_hex("3010 300e 0608 2b06010505070411 0500 0500"), CG_EDER);
  /* An entry that is not a SEQUENCE. */
  assert_int_equal(decode_hex("300c 310a 0608 2b06010505070411"), CG_EDER);
  /* A trailing octet after the content. */
  assert_int_equal(decode_hex("300c 300a 0608 2b06010505070411 00"), CG_EDER);
  /* A non-minimal length. */
  assert_int_equal(decode_hex("30810c 300a 0608 2b06010505070411"), CG_EDER);

  /* Every prefix of a valid content is refused (exact-size copies). */
  size_t n;
  uint8_t *p = tu_hex("300e 300c 0608 2b06010505070411 0500", &n);
  for (size_t k = 0; k < n; k++) {
    uint8_t *copy = malloc(k ? k : 1);
    memcpy(copy, p, k);
    struct cmp_genm g;
    assert_int_equal(cmp_genm_decode(view(k ? copy : NULL, k), &g), CG_EDER);
    free(copy);
  }
  free(p);
}

/* ---------------------------------------------------------------- request values */

static void root_ca_cert_value_is_read(void **state) {
  struct blob cert;
  uint8_t buf[4096];
  struct der_writer w;
  size_t len;
  struct cmp_genm g;
  struct der_view c;
  (void)state;
  make_cert("current root", &cert, NULL);
  cg_der_writer_init(&w, buf, sizeof buf);
  size_t m = cmp_genm_begin(&w);
  cmp_write_itav_root_ca_cert(&w, view(cert.p, cert.len));
  cmp_write_itav_root_ca_cert(&w, none);
  cmp_genm_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  decode_body(buf, len, CMP_GENM, &g);
  assert_int_equal(g.n, 2);
  assert_int_equal(cmp_itav_root_ca_cert(&g.itav[0], &c), 1);
  assert_true(cg_der_view_is(c, cert.p, cert.len));
  assert_int_equal(cmp_itav_root_ca_cert(&g.itav[1], &c), 0);
  assert_null(c.p);

  /* A value that is not a certificate, and an itav of another type. */
  static const uint8_t not_cert[] = {0x30, 0x03, 0x02, 0x01, 0x01};
  struct cmp_itav bad = {cg_oid(CG_OID_IT_ROOT_CA_CERT), view(not_cert, sizeof not_cert)};
  assert_int_equal(cmp_itav_root_ca_cert(&bad, &c), CG_EDER);
  bad.oid = cg_oid(CG_OID_IT_CA_CERTS);
  assert_int_equal(cmp_itav_root_ca_cert(&bad, &c), CG_EINVAL);
}

/* The client's genm (cmp_client_genm_ask_body()): with a root, crlStatusList
 * names its CA as issuer and rootCaKeyUpdate carries it as id-it-rootCaCert;
 * without one, they go as id-it-crls and an absent id-it-rootCaCert. */
static void client_genm_asks_as_rfc9483_says(void **state) {
  (void)state;
  struct blob cert;
  make_cert("current root", &cert, NULL);
  struct cg_x509 x;
  assert_int_equal(cg_x509_parse(cert.p, cert.len, &x), 0);
  const enum cg_oid_id types[] = {CG_OID_IT_CRL_STATUS_LIST, CG_OID_IT_ROOT_CA_KEY_UPDATE,
                                  CG_OID_IT_CA_CERTS};
  uint8_t buf[4096];
  size_t len;
  struct cmp_genm g;
  struct cmp_crl_status_list l;
  struct der_view c;
  assert_int_equal(
      cmp_client_genm_ask_body(types, 3, view(cert.p, cert.len), buf, sizeof buf, &len), 0);
  decode_body(buf, len, CMP_GENM, &g);
  assert_int_equal(g.n, 3);
  assert_int_equal(cmp_itav_crl_status_list(&g.itav[0], &l), 0);
  assert_int_equal(l.n, 1);
  assert_int_equal(l.st[0].kind, CMP_CRL_SOURCE_ISSUER);
  /* GeneralNames { directoryName [4] { the root's subject } } */
  assert_true(l.st[0].source.len > x.subject.len);
  assert_memory_equal(l.st[0].source.p + l.st[0].source.len - x.subject.len, x.subject.p,
                      x.subject.len);
  assert_int_equal(cmp_itav_root_ca_cert(&g.itav[1], &c), 1);
  assert_true(cg_der_view_is(c, cert.p, cert.len));
  assert_int_equal(cg_oid_lookup(g.itav[2].oid), CG_OID_IT_CA_CERTS);
  assert_int_equal(g.itav[2].value.len, 0);

  assert_int_equal(cmp_client_genm_ask_body(types, 2, none, buf, sizeof buf, &len), 0);
  decode_body(buf, len, CMP_GENM, &g);
  assert_int_equal(g.n, 2);
  assert_int_equal(cg_oid_lookup(g.itav[0].oid), CG_OID_IT_CRLS);
  assert_int_equal(g.itav[0].value.len, 0);
  assert_int_equal(cmp_itav_root_ca_cert(&g.itav[1], &c), 0);
  /* No room: refused, not cut. */
  assert_int_equal(cmp_client_genm_ask_body(types, 3, view(cert.p, cert.len), buf, 64, &len),
                   CG_ESPACE);
}

/* GeneralNames { uniformResourceIdentifier uri }. */
static void general_names_uri(const char *uri, unsigned outer_tag, struct blob *out) {
  struct der_writer w;
  cg_der_writer_init(&w, out->p, sizeof out->p);
  size_t m = cg_der_begin(&w, outer_tag);
  cg_der_put_tlv(&w, DER_CTX(6), uri, strlen(uri));
  cg_der_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &out->len), 0);
}

static void crl_status_list_round_trips(void **state) {
  struct blob full, rdn, issuer, name;
  uint8_t buf[4096];
  struct der_writer w;
  size_t len;
  struct cmp_genm g;
  struct cmp_crl_status_list l;
  (void)state;
  /* dpn [0] fullName: DistributionPointName's [0] is implicit over
   * GeneralNames, so it holds the GeneralName elements directly. */
  general_names_uri("http://crl.example/ca.crl", DER_CTX_CONS(0), &full);
  /* dpn [1] nameRelativeToCRLIssuer: an RDN (SET OF AttributeTypeAndValue,
   * implicitly [1]): take the inner of a one-RDN Name and retag it. */
  make_name("CRL partition 7", &name);
  memcpy(rdn.p, name.p + 2, name.len - 2);
  rdn.len = name.len - 2;
  rdn.p[0] = DER_CTX_CONS(1);
  /* issuer [1] GeneralNames { directoryName [4] Name } ([4] explicit: Name
   * is a CHOICE). */
  cg_der_writer_init(&w, issuer.p, sizeof issuer.p);
  size_t gn = cg_der_begin(&w, DER_SEQUENCE);
  size_t dn = cg_der_begin(&w, DER_CTX_CONS(4));
  cg_der_put_raw(&w, name.p, name.len);
  cg_der_end(&w, dn);
  cg_der_end(&w, gn);
  assert_int_equal(cg_der_writer_finish(&w, &issuer.len), 0);

  const struct cmp_crl_status st[] = {
      {CMP_CRL_SOURCE_DPN, view(full.p, full.len), true, T2024},
      {CMP_CRL_SOURCE_DPN, view(rdn.p, rdn.len), false, 0},
      {CMP_CRL_SOURCE_ISSUER, view(issuer.p, issuer.len), true, 2556144000 /* 2051 */},
  };
  cg_der_writer_init(&w, buf, sizeof buf);
  size_t m = cmp_genm_begin(&w);
  cmp_write_itav_crl_status_list(&w, st, 3);
  cmp_genm_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  decode_body(buf, len, CMP_GENM, &g);
  assert_int_equal(g.n, 1);
  assert_int_equal(cmp_itav_crl_status_list(&g.itav[0], &l), 0);
  assert_int_equal(l.n, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(l.st[i].kind, st[i].kind);
    assert_true(cg_der_view_eq(l.st[i].source, st[i].source));
    assert_int_equal(l.st[i].has_this_update, st[i].has_this_update);
    assert_int_equal(l.st[i].this_update, st[i].this_update);
  }
  /* The encoding: [0] and [1] explicit around the source; times by year. */
  struct der_reader top, list, cs, src;
  struct der_tlv t;
  enter_value(g.itav[0].value, &top, &list);
  assert_int_equal(cg_der_enter(&list, DER_SEQUENCE, &cs), 0);
  assert_int_equal(cg_der_enter(&cs, DER_CTX_CONS(0), &src), 0);
  expect_raw(&src, st[0].source);
  assert_leave(&cs, &src);
  assert_int_equal(cg_der_expect(&cs, DER_UTC_TIME, &t), 0);
  assert_leave(&list, &cs);
  assert_int_equal(cg_der_expect(&list, DER_SEQUENCE, &t), 0);
  assert_int_equal(cg_der_enter(&list, DER_SEQUENCE, &cs), 0);
  expect_explicit(&cs, 1, st[2].source);
  assert_int_equal(cg_der_expect(&cs, DER_GENERALIZED_TIME, &t), 0);
  assert_leave(&list, &cs);
  assert_leave(&top, &list);
}

static int crl_status_hex(const char *hex, struct cmp_crl_status_list *l) {
  size_t n;
  uint8_t *p = tu_hex(hex, &n);
  struct cmp_itav it = {cg_oid(CG_OID_IT_CRL_STATUS_LIST), view(p, n)};
  int rc = cmp_itav_crl_status_list(&it, l);
  free(p);
  return rc;
}

static void malformed_crl_status_lists_are_refused(void **state) {
  struct cmp_crl_status_list l;
  (void)state;
  /* Reference: { { issuer [1] { GeneralNames { dNSName "a" } } } }. */
  assert_int_equal(crl_status_hex("3009 3007 a105 3003 820161", &l), 0);
  assert_int_equal(l.n, 1);
  assert_int_equal(l.st[0].kind, CMP_CRL_SOURCE_ISSUER);
  assert_false(l.st[0].has_this_update);
  /* ... with thisUpdate as UTCTime. */
  assert_int_equal(crl_status_hex("3018 3016 a105 3003 820161 170d 3234303130313030303030305a", &l),
                   0);
  assert_true(l.st[0].has_this_update);
  assert_int_equal(l.st[0].this_update, T2024);
  /* Empty list: SIZE (1..MAX). */
  assert_int_equal(crl_status_hex("3000", &l), CG_EBAD_DATA);
  /* Empty GeneralNames. */
  assert_int_equal(crl_status_hex("3006 3004 a102 3000", &l), CG_EBAD_DATA);
  /* Empty fullName and empty RDN. */
  assert_int_equal(crl_status_hex("3006 3004 a002 a000", &l), CG_EBAD_DATA);
  assert_int_equal(crl_status_hex("3006 3004 a002 a100", &l), CG_EBAD_DATA);
  /* A GeneralName of universal class. */
  assert_int_equal(crl_status_hex("3009 3007 a105 3003 160161", &l), CG_EDER);
  /* CRLSource with tag [2]. */
  assert_int_equal(crl_status_hex("3009 3007 a205 3003 820161", &l), CG_EDER);
  /* CRLSource [1] implicit (no GeneralNames SEQUENCE inside). */
  assert_int_equal(crl_status_hex("3007 3005 a103 820161", &l), CG_EDER);
  /* Two elements inside the explicit tag. */
  assert_int_equal(crl_status_hex("300e 300c a10a 3003820161 3003820162", &l), CG_EDER);
  /* Something after thisUpdate. */
  assert_int_equal(
      crl_status_hex("301a 3018 a105 3003 820161 170d 3234303130313030303030305a 0500", &l),
      CG_EDER);
  /* A time that is not a time. */
  assert_int_equal(crl_status_hex("3018 3016 a105 3003 820161 170d 3234313330313030303030305a", &l),
                   CG_EDER);
  /* A DistributionPointName of tag [2]. */
  assert_int_equal(crl_status_hex("3006 3004 a002 a200", &l), CG_EDER);
  /* A GeneralName whose length runs past its GeneralNames. */
  assert_int_equal(crl_status_hex("3009 3007 a105 3003 820561", &l), CG_EDER);
  /* An entry that is not a SEQUENCE, a value that is not a SEQUENCE. */
  assert_int_equal(crl_status_hex("3002 0500", &l), CG_EDER);
  assert_int_equal(crl_status_hex("0500", &l), CG_EDER);
  /* Trailing octet after the list. */
  assert_int_equal(crl_status_hex("3009 3007 a105 3003 820161 00", &l), CG_EDER);
  assert_int_equal(l.n, 0);

  /* Nine entries: over the cap. */
  uint8_t buf[256];
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, buf, sizeof buf);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  for (int i = 0; i < CMP_GENM_MAX_CRL_STATUS + 1; i++)
    cg_der_put_raw(&w, "\x30\x07\xa1\x05\x30\x03\x82\x01\x61", 9);
  cg_der_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  struct cmp_itav it = {cg_oid(CG_OID_IT_CRL_STATUS_LIST), view(buf, len)};
  assert_int_equal(cmp_itav_crl_status_list(&it, &l), CG_EBAD_REQUEST);
  /* Absent value, and an itav of another type. */
  it.value = none;
  assert_int_equal(cmp_itav_crl_status_list(&it, &l), CG_EBAD_DATA);
  it.oid = cg_oid(CG_OID_IT_CRLS);
  assert_int_equal(cmp_itav_crl_status_list(&it, &l), CG_EINVAL);
}

/* ---------------------------------------------------------------- genp */

struct genp_fixture {
  struct blob cert_a, cert_b, cert_c, subject, tmpl, alg_ec, alg_ed;
  uint8_t *crl;
  size_t crl_len;
};

static void genp_fixture_make(struct genp_fixture *f) {
  struct cg_key *ca_key;
  struct der_writer w;
  memset(f, 0, sizeof *f);
  make_cert("new with new", &f->cert_a, &ca_key);
  make_cert("new with old", &f->cert_b, NULL);
  make_cert("old with new", &f->cert_c, NULL);
  /* CertTemplate ::= SEQUENCE { ..., subject [5] Name, ... } ([5] explicit:
   * Name is a CHOICE). */
  make_name("device-template", &f->subject);
  cg_der_writer_init(&w, f->tmpl.p, sizeof f->tmpl.p);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  size_t s = cg_der_begin(&w, DER_CTX_CONS(5));
  cg_der_put_raw(&w, f->subject.p, f->subject.len);
  cg_der_end(&w, s);
  cg_der_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &f->tmpl.len), 0);
  make_alg(CG_OID_EC_PUBLIC_KEY, CG_OID_P256, &f->alg_ec);
  make_alg(CG_OID_ED25519, CG_OID_UNKNOWN, &f->alg_ed);

  /* A CRL signed by the first certificate's key. */
  struct blob ca_name;
  uint8_t skid[20] = {1, 2, 3};
  make_name("new with new", &ca_name);
  struct crl_spec cs = {.issuer = view(ca_name.p, ca_name.len),
                        .this_update = T2024,
                        .next_update = T2024 + 86400,
                        .crl_number = 3,
                        .issuer_key_id = view(skid, sizeof skid)};
  assert_int_equal(cg_crl_build(&cs, ca_key, &f->crl, &f->crl_len), 0);
  cg_key_free(ca_key);
}

static void write_all_genp(struct der_writer *w, void *arg) {
  const struct genp_fixture *f = arg;
  const struct der_view certs[] = {view(f->cert_a.p, f->cert_a.len),
                                   view(f->cert_b.p, f->cert_b.len)};
  const struct der_view algs[] = {view(f->alg_ec.p, f->alg_ec.len),
                                  view(f->alg_ed.p, f->alg_ed.len)};
  const struct cmp_key_spec spec[] = {
      {CMP_KEY_SPEC_ALG_ID, view(f->alg_ec.p, f->alg_ec.len), 0},
      {CMP_KEY_SPEC_RSA_KEY_LEN, none, 3072},
  };
  const struct der_view crl = view(f->crl, f->crl_len);

  size_t m = cmp_genp_begin(w);
  cmp_write_itav_ca_certs(w, certs, 2);                                        /* 0 */
  cmp_write_itav_ca_certs(w, NULL, 0);                                         /* 1 */
  cmp_write_itav_root_ca_key_update(w, certs[0], certs[1],
                                    view(f->cert_c.p, f->cert_c.len));         /* 2 */
  cmp_write_itav_root_ca_key_update(w, certs[0], certs[1], none);              /* 3 */
  cmp_write_itav_root_ca_key_update(w, none, certs[1], none);                  /* 4 */
  cmp_write_itav_cert_req_template(w, view(f->tmpl.p, f->tmpl.len), spec, 2);  /* 5 */
  cmp_write_itav_cert_req_template(w, view(f->tmpl.p, f->tmpl.len), NULL, 0);  /* 6 */
  cmp_write_itav_cert_req_template(w, none, spec, 2);                          /* 7 */
  cmp_genp_end(w, m);
  /* A second body in the same writer, to pin that marks are relative. */
  m = cmp_genp_begin(w);
  cmp_write_itav_sign_key_pair_types(w, algs, 2);                               /* 0 */
  cmp_write_itav_sign_key_pair_types(w, NULL, 0);                               /* 1 */
  cmp_write_itav_crls(w, &crl, 1);                                              /* 2 */
  cmp_write_itav_crls(w, NULL, 0);                                              /* 3 */
  cmp_write_itav_absent(w, view(oid_unknown, sizeof oid_unknown));              /* 4 */
  cmp_genp_end(w, m);
}

static void assert_itav(const struct cmp_itav *it, enum cg_oid_id id, bool has_value) {
  assert_true(cg_der_view_eq(it->oid, cg_oid(id)));
  assert_int_equal(it->value.len > 0, has_value);
}

static void check_first_genp(const struct cmp_genm *g, const struct genp_fixture *f) {
  struct der_reader top, seq, in, ctrl;
  struct der_tlv t;
  assert_int_equal(g->n, 8);
  /* caCerts: SEQUENCE OF Certificate, in order; none: value absent. */
  assert_itav(&g->itav[0], CG_OID_IT_CA_CERTS, true);
  enter_value(g->itav[0].value, &top, &seq);
  expect_raw(&seq, view(f->cert_a.p, f->cert_a.len));
  expect_raw(&seq, view(f->cert_b.p, f->cert_b.len));
  assert_leave(&top, &seq);
  assert_itav(&g->itav[1], CG_OID_IT_CA_CERTS, false);
  /* rootCaKeyUpdate: newWithNew, [0] EXPLICIT newWithOld, [1] EXPLICIT oldWithNew. */
  assert_itav(&g->itav[2], CG_OID_IT_ROOT_CA_KEY_UPDATE, true);
  enter_value(g->itav[2].value, &top, &seq);
  expect_raw(&seq, view(f->cert_a.p, f->cert_a.len));
  expect_explicit(&seq, 0, view(f->cert_b.p, f->cert_b.len));
  expect_explicit(&seq, 1, view(f->cert_c.p, f->cert_c.len));
  assert_leave(&top, &seq);
  assert_itav(&g->itav[3], CG_OID_IT_ROOT_CA_KEY_UPDATE, true);
  enter_value(g->itav[3].value, &top, &seq);
  expect_raw(&seq, view(f->cert_a.p, f->cert_a.len));
  expect_explicit(&seq, 0, view(f->cert_b.p, f->cert_b.len));
  assert_leave(&top, &seq);
  assert_itav(&g->itav[4], CG_OID_IT_ROOT_CA_KEY_UPDATE, false);
  /* certReqTemplate: { CertTemplate, keySpec Controls { {algId, AlgId},
   * {rsaKeyLen, INTEGER} } }. */
  assert_itav(&g->itav[5], CG_OID_IT_CERT_REQ_TEMPLATE, true);
  enter_value(g->itav[5].value, &top, &seq);
  expect_raw(&seq, view(f->tmpl.p, f->tmpl.len));
  assert_int_equal(cg_der_enter(&seq, DER_SEQUENCE, &in), 0);
  assert_int_equal(cg_der_enter(&in, DER_SEQUENCE, &ctrl), 0);
  assert_int_equal(cg_der_expect(&ctrl, DER_OID, &t), 0);
  assert_true(cg_der_view_is(t.val, oid_reg_ctrl_alg_id, sizeof oid_reg_ctrl_alg_id));
  expect_raw(&ctrl, view(f->alg_ec.p, f->alg_ec.len));
  assert_leave(&in, &ctrl);
  assert_int_equal(cg_der_enter(&in, DER_SEQUENCE, &ctrl), 0);
  assert_int_equal(cg_der_expect(&ctrl, DER_OID, &t), 0);
  assert_true(cg_der_view_is(t.val, oid_reg_ctrl_rsa_key_len, sizeof oid_reg_ctrl_rsa_key_len));
  uint64_t bits;
  assert_int_equal(cg_der_expect(&ctrl, DER_INTEGER, &t), 0);
  assert_int_equal(cg_der_get_uint64(t.val, &bits), 0);
  assert_int_equal(bits, 3072);
  assert_leave(&in, &ctrl);
  assert_leave(&seq, &in);
  assert_leave(&top, &seq);
  /* Without keySpec the field is left out; without a template the value. */
  assert_itav(&g->itav[6], CG_OID_IT_CERT_REQ_TEMPLATE, true);
  enter_value(g->itav[6].value, &top, &seq);
  expect_raw(&seq, view(f->tmpl.p, f->tmpl.len));
  assert_leave(&top, &seq);
  assert_itav(&g->itav[7], CG_OID_IT_CERT_REQ_TEMPLATE, false);

  /* The readers a client uses give the same back. */
  struct der_view got[4], upd[3];
  size_t n;
  assert_int_equal(cmp_itav_ca_certs(&g->itav[0], got, 4, &n), 1);
  assert_int_equal(n, 2);
  assert_true(cg_der_view_is(got[0], f->cert_a.p, f->cert_a.len));
  assert_true(cg_der_view_is(got[1], f->cert_b.p, f->cert_b.len));
  assert_int_equal(cmp_itav_ca_certs(&g->itav[0], got, 1, &n), CG_EDER); /* over max */
  assert_int_equal(cmp_itav_ca_certs(&g->itav[1], got, 4, &n), 0);
  assert_int_equal(cmp_itav_ca_certs(&g->itav[2], got, 4, &n), CG_EINVAL);
  assert_int_equal(cmp_itav_root_ca_key_update(&g->itav[2], upd), 1);
  assert_true(cg_der_view_is(upd[0], f->cert_a.p, f->cert_a.len));
  assert_true(cg_der_view_is(upd[1], f->cert_b.p, f->cert_b.len));
  assert_true(cg_der_view_is(upd[2], f->cert_c.p, f->cert_c.len));
  assert_int_equal(cmp_itav_root_ca_key_update(&g->itav[3], upd), 1);
  assert_null(upd[2].p);
  assert_int_equal(cmp_itav_root_ca_key_update(&g->itav[4], upd), 0);
  assert_null(upd[0].p);
}

static void check_second_genp(const struct cmp_genm *g, const struct genp_fixture *f) {
  struct der_reader top, seq;
  assert_int_equal(g->n, 5);
  assert_itav(&g->itav[0], CG_OID_IT_SIGN_KEY_PAIR_TYPES, true);
  enter_value(g->itav[0].value, &top, &seq);
  expect_raw(&seq, view(f->alg_ec.p, f->alg_ec.len));
  expect_raw(&seq, view(f->alg_ed.p, f->alg_ed.len));
  assert_leave(&top, &seq);
  assert_itav(&g->itav[1], CG_OID_IT_SIGN_KEY_PAIR_TYPES, false);
  assert_itav(&g->itav[2], CG_OID_IT_CRLS, true);
  enter_value(g->itav[2].value, &top, &seq);
  expect_raw(&seq, view(f->crl, f->crl_len));
  assert_leave(&top, &seq);
  assert_itav(&g->itav[3], CG_OID_IT_CRLS, false);
  struct der_view crls[2];
  size_t n;
  assert_int_equal(cmp_itav_crls(&g->itav[2], crls, 2, &n), 1);
  assert_int_equal(n, 1);
  assert_true(cg_der_view_is(crls[0], f->crl, f->crl_len));
  assert_int_equal(cmp_itav_crls(&g->itav[3], crls, 2, &n), 0);
  /* a value that is not a SEQUENCE OF certificates is refused */
  assert_int_equal(cmp_itav_ca_certs(&(struct cmp_itav){cg_oid(CG_OID_IT_CA_CERTS), g->itav[2].value},
                                     crls, 2, &n),
                   CG_EDER);
  assert_true(cg_der_view_is(g->itav[4].oid, oid_unknown, sizeof oid_unknown));
  assert_int_equal(g->itav[4].value.len, 0);
}

static void genp_writers_round_trip(void **state) {
  struct genp_fixture f;
  uint8_t buf[16384];
  struct cmp_genm g;
  struct der_reader top;
  struct der_tlv b1, b2;
  (void)state;
  genp_fixture_make(&f);
  size_t len = write_into(write_all_genp, &f, buf, sizeof buf);
  cg_der_reader_init(&top, buf, len);
  assert_int_equal(cg_der_expect(&top, DER_CTX_CONS(CMP_GENP), &b1), 0);
  assert_int_equal(cg_der_expect(&top, DER_CTX_CONS(CMP_GENP), &b2), 0);
  assert_true(cg_der_at_end(&top));
  decode_body(b1.raw.p, b1.raw.len, CMP_GENP, &g);
  check_first_genp(&g, &f);
  decode_body(b2.raw.p, b2.raw.len, CMP_GENP, &g);
  check_second_genp(&g, &f);
  free(f.crl);
}

/* Every buffer short of the size is refused with CG_ESPACE, never overrun. */
static void genp_writers_report_short_buffers(void **state) {
  struct genp_fixture f;
  struct der_writer w;
  size_t need, got;
  (void)state;
  genp_fixture_make(&f);
  cg_der_writer_init(&w, NULL, 0);
  write_all_genp(&w, &f);
  assert_int_equal(cg_der_writer_finish(&w, &need), 0);
  for (size_t cap = 0; cap < need; cap += (cap < 64 ? 1 : 37)) {
    uint8_t *buf = malloc(cap ? cap : 1);
    cg_der_writer_init(&w, buf, cap);
    write_all_genp(&w, &f);
    assert_int_equal(cg_der_writer_finish(&w, &got), CG_ESPACE);
    free(buf);
  }
  free(f.crl);
}

static void writers_refuse_what_the_asn1_forbids(void **state) {
  uint8_t buf[512];
  struct der_writer w;
  struct blob tmpl = {{0x30, 0x00}, 2};
  (void)state;
  /* RsaKeyLenCtrl ::= INTEGER (1..MAX). */
  const struct cmp_key_spec zero = {CMP_KEY_SPEC_RSA_KEY_LEN, none, 0};
  cg_der_writer_init(&w, buf, sizeof buf);
  cmp_write_itav_cert_req_template(&w, view(tmpl.p, tmpl.len), &zero, 1);
  assert_int_equal(cg_der_writer_finish(&w, NULL), CG_EINVAL);
  /* An algId control without an AlgorithmIdentifier. */
  const struct cmp_key_spec no_alg = {CMP_KEY_SPEC_ALG_ID, none, 0};
  cg_der_writer_init(&w, buf, sizeof buf);
  cmp_write_itav_cert_req_template(&w, view(tmpl.p, tmpl.len), &no_alg, 1);
  assert_int_equal(cg_der_writer_finish(&w, NULL), CG_EINVAL);
  /* CRLStatusListValue is SIZE (1..MAX); a source must be given. */
  cg_der_writer_init(&w, buf, sizeof buf);
  cmp_write_itav_crl_status_list(&w, NULL, 0);
  assert_int_equal(cg_der_writer_finish(&w, NULL), CG_EINVAL);
  const struct cmp_crl_status no_src = {CMP_CRL_SOURCE_DPN, none, false, 0};
  cg_der_writer_init(&w, buf, sizeof buf);
  cmp_write_itav_crl_status_list(&w, &no_src, 1);
  assert_int_equal(cg_der_writer_finish(&w, NULL), CG_EINVAL);
  /* An InfoTypeAndValue needs an infoType. */
  cg_der_writer_init(&w, buf, sizeof buf);
  cmp_write_itav_absent(&w, none);
  assert_int_equal(cg_der_writer_finish(&w, NULL), CG_EINVAL);
  /* A missing certificate in a list. */
  const struct der_view certs[] = {view(tmpl.p, tmpl.len), none};
  cg_der_writer_init(&w, buf, sizeof buf);
  cmp_write_itav_ca_certs(&w, certs, 2);
  assert_int_equal(cg_der_writer_finish(&w, NULL), CG_EINVAL);
  /* The error is sticky: what follows does not clear it. */
  cmp_write_itav_absent(&w, cg_oid(CG_OID_IT_CA_CERTS));
  assert_int_equal(cg_der_writer_finish(&w, NULL), CG_EINVAL);
}

/* ---------------------------------------------------------------- OpenSSL 3.0 */

static const struct {
  const char *name;
  enum cg_oid_id oid;
} openssl_types[] = {
    {"caCerts", CG_OID_IT_CA_CERTS},
    {"signKeyPairTypes", CG_OID_IT_SIGN_KEY_PAIR_TYPES},
    {"rootCaKeyUpdate", CG_OID_IT_ROOT_CA_KEY_UPDATE},
    {"certReqTemplate", CG_OID_IT_CERT_REQ_TEMPLATE},
};

static uint8_t *load_vector(const char *prefix, const char *type, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/genm/%s-%s.der", CG_TEST_VECTORS, prefix, type);
  uint8_t *p = tu_read_file(path, len);
  if (p == NULL)
    fail_msg("cannot read %s", path);
  return p;
}

/* A message from OpenSSL: decodes with the expected body, the MAC verifies
 * with the vector secret, and its content holds one InfoTypeAndValue of the
 * requested type with the value absent. */
static void check_openssl_message(const char *prefix, int type, size_t i) {
  size_t len;
  uint8_t *p = load_vector(prefix, openssl_types[i].name, &len);
  struct cmp_msg m;
  struct cmp_genm g;
  assert_int_equal(cmp_msg_decode(p, len, &m), 0);
  assert_int_equal(m.type, type);
  assert_int_equal(m.hdr.pvno, 2);
  assert_int_equal(cmp_pbm_verify(&m, 100000, (const uint8_t *)SECRET, strlen(SECRET)), 0);
  assert_int_equal(cmp_genm_decode(m.content, &g), 0);
  assert_int_equal(g.n, 1);
  assert_itav(&g.itav[0], openssl_types[i].oid, false);
  /* The content read alone, from an exact-size copy, as every prefix. */
  for (size_t k = 0; k <= m.content.len; k++) {
    uint8_t *copy = malloc(k ? k : 1);
    memcpy(copy, m.content.p, k);
    int rc = cmp_genm_decode(view(k ? copy : NULL, k), &g);
    assert_int_equal(rc, k == m.content.len ? 0 : CG_EDER);
    free(copy);
  }
  free(p);
}

static void openssl_genm_requests_decode(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof openssl_types / sizeof openssl_types[0]; i++)
    check_openssl_message("genm", CMP_GENM, i);
}

static void openssl_genp_answers_decode(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof openssl_types / sizeof openssl_types[0]; i++)
    check_openssl_message("genp", CMP_GENP, i);
}

/* Our genp body for each type OpenSSL asked for, with the same header
 * octets, decodes as a PKIMessage of body 22. */
static void genp_answer_to_openssl_request_decodes(void **state) {
  struct genp_fixture f;
  uint8_t hb[16384], msg[16384];
  struct der_writer w;
  size_t len, hb_len;
  struct cmp_msg req, rsp;
  struct cmp_genm g;
  (void)state;
  genp_fixture_make(&f);
  uint8_t *p = load_vector("genm", "caCerts", &len);
  assert_int_equal(cmp_msg_decode(p, len, &req), 0);
  assert_int_equal(cmp_genm_decode(req.content, &g), 0);
  cg_der_writer_init(&w, hb, sizeof hb);
  cg_der_put_raw(&w, req.hdr.raw.p, req.hdr.raw.len);
  size_t m = cmp_genp_begin(&w);
  const struct der_view certs[] = {view(f.cert_a.p, f.cert_a.len)};
  assert_itav(&g.itav[0], CG_OID_IT_CA_CERTS, false);
  cmp_write_itav_ca_certs(&w, certs, 1);
  cmp_genp_end(&w, m);
  assert_int_equal(cg_der_writer_finish(&w, &hb_len), 0);
  cg_der_writer_init(&w, msg, sizeof msg);
  cmp_write_message(&w, hb, hb_len, NULL, 0, NULL, 0);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  assert_int_equal(cmp_msg_decode(msg, len, &rsp), 0);
  assert_int_equal(rsp.type, CMP_GENP);
  assert_int_equal(cmp_genm_decode(rsp.content, &g), 0);
  assert_int_equal(g.n, 1);
  assert_itav(&g.itav[0], CG_OID_IT_CA_CERTS, true);
  free(p);
  free(f.crl);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(genm_body_round_trips_through_decode),
      cmocka_unit_test(genm_without_entries_is_allowed),
      cmocka_unit_test(genm_message_decodes_as_body_21),
      cmocka_unit_test(genm_over_eight_entries_is_bad_request),
      cmocka_unit_test(malformed_genm_content_is_refused),
      cmocka_unit_test(root_ca_cert_value_is_read),
      cmocka_unit_test(crl_status_list_round_trips),
      cmocka_unit_test(client_genm_asks_as_rfc9483_says),
      cmocka_unit_test(malformed_crl_status_lists_are_refused),
      cmocka_unit_test(genp_writers_round_trip),
      cmocka_unit_test(genp_writers_report_short_buffers),
      cmocka_unit_test(writers_refuse_what_the_asn1_forbids),
      cmocka_unit_test(openssl_genm_requests_decode),
      cmocka_unit_test(openssl_genp_answers_decode),
      cmocka_unit_test(genp_answer_to_openssl_request_decodes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
