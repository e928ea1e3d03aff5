/*
 * test_reencode.c - cmp_msg_encode() against real messages: each one decodes
 * and is written back from its decoded model byte for byte, in measure mode
 * and for real.  The vectors are the OpenSSL captures (tests/vectors/cmp and
 * tests/vectors/genm) and, when present beside the project, the RFC 9483
 * reference RA's flows (shared/vectors/lightweightcmpra).  Changing a decoded
 * field changes the output, so equal bytes are not an accident of copying.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/encode.h"
#include "cmp/msg.h"
#include "core/err.h"
#include "core/oid.h"
#include "testutil.h"

/* Encodes m into a buffer of the measured size (exact, so that ASan sees an
 * overrun); returns it (malloc'ed) and its length. */
static uint8_t *encode(const struct cmp_msg *m, size_t *len) {
  struct der_writer w;
  cg_der_writer_init(&w, NULL, 0);
  assert_int_equal(cmp_msg_encode(m, &w), 0);
  assert_int_equal(cg_der_writer_finish(&w, len), 0);
  uint8_t *out = malloc(*len);
  assert_non_null(out);
  size_t n;
  cg_der_writer_init(&w, out, *len);
  assert_int_equal(cmp_msg_encode(m, &w), 0);
  assert_int_equal(cg_der_writer_finish(&w, &n), 0);
  assert_int_equal(n, *len);
  return out;
}

/* Number of octets in which a and b differ; both are n long. */
static size_t n_diff(const uint8_t *a, const uint8_t *b, size_t n) {
  size_t d = 0;
  for (size_t i = 0; i < n; i++)
    d += a[i] != b[i];
  return d;
}

/* The whole round trip for one received message: decode, measure, encode,
 * compare; a buffer one octet short is refused; and a changed pvno shows in
 * exactly one octet of the output. */
static void check_roundtrip(const char *name, const uint8_t *p, size_t len, struct cmp_msg *m) {
  if (cmp_msg_decode(p, len, m) != 0)
    fail_msg("%s does not decode", name);
  struct der_writer w;
  size_t measured = 0;
  cg_der_writer_init(&w, NULL, 0);
  if (cmp_msg_encode(m, &w) != 0 || cg_der_writer_finish(&w, &measured) != 0)
    fail_msg("%s does not encode", name);
  if (measured != len)
    fail_msg("%s: measured %zu octets, received %zu", name, measured, len);
  size_t out_len;
  uint8_t *out = encode(m, &out_len);
  if (memcmp(out, p, len) != 0) {
    size_t i = 0;
    while (out[i] == p[i])
      i++;
    fail_msg("%s: re-encoding differs from octet %zu", name, i);
  }
  free(out);

  uint8_t *short_buf = malloc(len - 1);
  cg_der_writer_init(&w, short_buf, len - 1);
  assert_int_equal(cmp_msg_encode(m, &w), CG_ESPACE);
  free(short_buf);

  struct cmp_msg changed = *m;
  changed.hdr.pvno ^= 1; /* 2 <-> 3: one octet */
  out = encode(&changed, &out_len);
  assert_int_equal(out_len, len);
  if (n_diff(out, p, len) != 1)
    fail_msg("%s: a changed pvno does not show", name);
  free(out);
}

/* Round trip of every file ending in suffix in dir; returns how many there
 * were, or -1 when dir cannot be opened.  seen[type] counts the body types. */
static int roundtrip_dir(const char *dir, const char *suffix, int seen[CMP_POLLREP + 1]) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return -1;
  int n = 0;
  struct dirent *e;
  size_t sl = strlen(suffix);
  while ((e = readdir(d)) != NULL) {
    size_t nl = strlen(e->d_name);
    if (nl <= sl || strcmp(e->d_name + nl - sl, suffix) != 0)
      continue;
    char path[2400];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    size_t len;
    uint8_t *p = tu_read_file(path, &len);
    assert_non_null(p);
    struct cmp_msg m;
    check_roundtrip(path, p, len, &m);
    seen[m.type]++;
    n++;
    free(p);
  }
  closedir(d);
  return n;
}

static uint8_t *load(const char *rel, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", CG_TEST_VECTORS, rel);
  uint8_t *p = tu_read_file(path, len);
  if (p == NULL)
    fail_msg("cannot read %s", path);
  return p;
}

static uint8_t *load_shared(const char *rel, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/lightweightcmpra/%s", CG_SHARED_VECTORS, rel);
  return tu_read_file(path, len);
}

static void test_openssl_vectors_reencode_byte_for_byte(void **state) {
  (void)state;
  int seen[CMP_POLLREP + 1] = {0};
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/cmp", CG_TEST_VECTORS);
  assert_int_equal(roundtrip_dir(dir, ".der", seen), 11);
  snprintf(dir, sizeof dir, "%s/genm", CG_TEST_VECTORS);
  assert_int_equal(roundtrip_dir(dir, ".der", seen), 8);
  assert_int_equal(seen[CMP_IR], 3);
  assert_int_equal(seen[CMP_IP], 2);
  assert_int_equal(seen[CMP_CERTCONF], 2);
  assert_int_equal(seen[CMP_PKICONF], 2);
  assert_int_equal(seen[CMP_ERROR], 2);
  assert_int_equal(seen[CMP_GENM], 4);
  assert_int_equal(seen[CMP_GENP], 4);
}

static void test_reference_ra_flows_reencode_byte_for_byte(void **state) {
  (void)state;
  char root[1024];
  snprintf(root, sizeof root, "%s/lightweightcmpra", CG_SHARED_VECTORS);
  DIR *top = opendir(root);
  if (top == NULL)
    skip();
  int seen[CMP_POLLREP + 1] = {0}, total = 0;
  struct dirent *flow;
  while ((flow = readdir(top)) != NULL) {
    if (flow->d_name[0] == '.')
      continue;
    char dir[1400];
    snprintf(dir, sizeof dir, "%s/%s", root, flow->d_name);
    int n = roundtrip_dir(dir, ".PKI", seen);
    if (n > 0)
      total += n;
  }
  closedir(top);
  assert_int_equal(total, 36);
  /* Every body of the five flows was met. */
  static const int types[] = {CMP_IR, CMP_IP, CMP_CR, CMP_CP, CMP_KUR, CMP_KUP, CMP_RR,
                              CMP_RP, CMP_CERTCONF, CMP_PKICONF, CMP_POLLREQ, CMP_POLLREP};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (seen[types[i]] == 0)
      fail_msg("no %s among the flows", cmp_body_name(types[i]));
}

static void test_poll_bodies_decode_and_reencode_from_their_values(void **state) {
  (void)state;
  size_t len;
  uint8_t *p = load_shared("CrDelayed/downstream_POLL_REQ.PKI", &len);
  if (p == NULL)
    skip();
  struct cmp_msg m;
  check_roundtrip("pollReq", p, len, &m);
  assert_int_equal(m.type, CMP_POLLREQ);
  assert_int_equal(m.u.poll_req.n, 1);
  assert_int_equal(m.u.poll_req.cert_req_id[0], 0);
  m.u.poll_req.cert_req_id[0] = 300; /* two octets: the lengths grow */
  size_t out_len;
  uint8_t *out = encode(&m, &out_len);
  assert_int_equal(out_len, len + 1);
  struct cmp_msg again;
  assert_int_equal(cmp_msg_decode(out, out_len, &again), 0);
  assert_int_equal(again.u.poll_req.cert_req_id[0], 300);
  free(out);
  free(p);

  p = load_shared("CrDelayed/downstream_POLL_REP.PKI", &len);
  assert_non_null(p);
  check_roundtrip("pollRep", p, len, &m);
  assert_int_equal(m.type, CMP_POLLREP);
  assert_int_equal(m.u.poll_rep.n, 1);
  assert_int_equal(m.u.poll_rep.rep[0].cert_req_id, 0);
  assert_int_equal(m.u.poll_rep.rep[0].check_after, 1);
  assert_null(m.u.poll_rep.rep[0].reason.p);
  m.u.poll_rep.rep[0].check_after = 60;
  out = encode(&m, &out_len);
  assert_int_equal(out_len, len);
  assert_int_equal(n_diff(out, p, len), 1);
  assert_int_equal(cmp_msg_decode(out, out_len, &again), 0);
  assert_int_equal(again.u.poll_rep.rep[0].check_after, 60);
  free(out);
  free(p);
}

/* Each interpreted field is written from its value: change it, encode, and
 * the decoded output carries the new value. */
static void test_changed_fields_show_in_the_output(void **state) {
  (void)state;
  size_t len, out_len;
  struct cmp_msg m, again;
  uint8_t *out;

  uint8_t *p = load("cmp/ir.der", &len);
  assert_int_equal(cmp_msg_decode(p, len, &m), 0);
  struct cmp_msg changed = m;
  changed.u.cert_req.req[0].cert_req_id = 7;
  changed.hdr.message_time += 61;
  static const uint8_t nonce[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  changed.hdr.sender_nonce = (struct der_view){nonce, sizeof nonce};
  out = encode(&changed, &out_len);
  assert_int_equal(out_len, len);
  assert_int_equal(cmp_msg_decode(out, out_len, &again), 0);
  assert_int_equal(again.u.cert_req.req[0].cert_req_id, 7);
  assert_int_equal(again.hdr.message_time, m.hdr.message_time + 61);
  assert_true(cg_der_view_is(again.hdr.sender_nonce, nonce, sizeof nonce));
  free(out);
  free(p);

  p = load("cmp/error.der", &len);
  assert_int_equal(cmp_msg_decode(p, len, &m), 0);
  assert_true(m.u.error.status.has_fail_info);
  changed = m;
  changed.u.error.status.fail_info = (1u << 2) | (1u << 25);
  changed.u.error.status.status = CMP_WAITING;
  out = encode(&changed, &out_len);
  assert_int_equal(cmp_msg_decode(out, out_len, &again), 0);
  assert_int_equal(again.u.error.status.fail_info, (1u << 2) | (1u << 25));
  assert_int_equal(again.u.error.status.status, CMP_WAITING);
  free(out);
  free(p);
}

/* The reason code of an rr and the oldCertID of a kur, in the reference RA's
 * messages. */
static void test_changed_reason_and_old_cert_id_show_in_the_output(void **state) {
  (void)state;
  size_t len, out_len;
  struct cmp_msg m, again, changed;
  uint8_t *out;
  uint8_t *p = load_shared("Rr/downstream_REVOCATION_REQ.PKI", &len);
  if (p == NULL)
    skip();
  assert_int_equal(cmp_msg_decode(p, len, &m), 0);
  assert_int_equal(m.u.rev_req.rd[0].reason, 0);
  changed = m;
  changed.u.rev_req.rd[0].reason = 4; /* superseded */
  out = encode(&changed, &out_len);
  assert_int_equal(out_len, len);
  assert_int_equal(n_diff(out, p, len), 1);
  assert_int_equal(cmp_msg_decode(out, out_len, &again), 0);
  assert_int_equal(again.u.rev_req.rd[0].reason, 4);
  free(out);
  free(p);

  /* oldCertID of a kur is written from old_cert_serial. */
  p = load_shared("Kur/downstream_KEY_UPDATE_REQ.PKI", &len);
  assert_non_null(p);
  assert_int_equal(cmp_msg_decode(p, len, &m), 0);
  assert_non_null(m.u.cert_req.req[0].old_cert_serial.p);
  changed = m;
  static const uint8_t serial[] = {0x01, 0x02};
  changed.u.cert_req.req[0].old_cert_serial = (struct der_view){serial, sizeof serial};
  out = encode(&changed, &out_len);
  assert_int_equal(cmp_msg_decode(out, out_len, &again), 0);
  assert_true(cg_der_view_is(again.u.cert_req.req[0].old_cert_serial, serial, sizeof serial));
  free(out);
  free(p);
}

/* A pkiconf whose messageTime has the given GeneralizedTime text. */
static size_t build_pkiconf(uint8_t *out, size_t cap, const char *time) {
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, out, cap);
  size_t msg = cg_der_begin(&w, DER_SEQUENCE);
  size_t hdr = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, 2);
  for (int i = 0; i < 2; i++) {
    size_t dn = cg_der_begin(&w, DER_CTX_CONS(4));
    cg_der_put_tlv(&w, DER_SEQUENCE, NULL, 0);
    cg_der_end(&w, dn);
  }
  size_t t = cg_der_begin(&w, DER_CTX_CONS(0));
  cg_der_put_tlv(&w, DER_GENERALIZED_TIME, time, strlen(time));
  cg_der_end(&w, t);
  cg_der_end(&w, hdr);
  cmp_write_pkiconf_body(&w);
  cg_der_end(&w, msg);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

static void test_fractional_message_time_survives(void **state) {
  (void)state;
  uint8_t buf[128];
  size_t len = build_pkiconf(buf, sizeof buf, "20250101120000.123Z");
  struct cmp_msg m, again;
  check_roundtrip("fractional messageTime", buf, len, &m);
  m.hdr.message_time += 61;
  size_t out_len;
  uint8_t *out = encode(&m, &out_len);
  assert_int_equal(cmp_msg_decode(out, out_len, &again), 0);
  assert_int_equal(again.hdr.message_time, 1735732800 + 61);
  assert_true(
      cg_der_view_is(again.hdr.message_time_str, (const uint8_t *)"20250101120101.123Z", 19));
  free(out);
}

/* A nested message (RFC 9810 §5.1.3.4) is written from its content; each
 * inner PKIMessage re-encodes on its own too. */
static void test_nested_message_and_its_inner_messages_reencode(void **state) {
  (void)state;
  size_t ir_len, conf_len, hdr_len;
  uint8_t *ir = load("cmp/ir.der", &ir_len);
  uint8_t *conf = load("cmp/certConf.der", &conf_len);
  uint8_t *outer = load("cmp/pkiConf.der", &hdr_len);
  struct cmp_msg hm;
  assert_int_equal(cmp_msg_decode(outer, hdr_len, &hm), 0);

  uint8_t buf[8192];
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, buf, sizeof buf);
  size_t msg = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_raw(&w, hm.hdr.raw.p, hm.hdr.raw.len);
  size_t body = cg_der_begin(&w, DER_CTX_CONS(CMP_NESTED));
  size_t seq = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_raw(&w, ir, ir_len);
  cg_der_put_raw(&w, conf, conf_len);
  cg_der_end(&w, seq);
  cg_der_end(&w, body);
  cg_der_end(&w, msg);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);

  struct cmp_msg m;
  check_roundtrip("nested", buf, len, &m);
  assert_int_equal(m.type, CMP_NESTED);
  struct der_reader top, in;
  cg_der_reader_view(&top, m.content);
  assert_int_equal(cg_der_enter(&top, DER_SEQUENCE, &in), 0);
  int n = 0;
  while (!cg_der_at_end(&in)) {
    struct der_tlv t;
    assert_int_equal(cg_der_next(&in, &t), 0);
    struct cmp_msg inner;
    check_roundtrip("nested inner", t.raw.p, t.raw.len, &inner);
    n++;
  }
  assert_int_equal(cg_der_leave(&top, &in), 0);
  assert_int_equal(n, 2);
  free(ir);
  free(conf);
  free(outer);
}

/* ---- Hand-built messages with every optional element the vectors lack. */

static void put_oid_bytes(struct der_writer *w, const char *bytes, size_t n) {
  cg_der_put_tlv(w, DER_OID, bytes, n);
}

/* Name ::= SEQUENCE { SET { SEQUENCE { id-at-commonName, UTF8String cn } } } */
static void put_name(struct der_writer *w, const char *cn) {
  size_t n = cg_der_begin(w, DER_SEQUENCE);
  size_t set = cg_der_begin(w, DER_SET);
  size_t atv = cg_der_begin(w, DER_SEQUENCE);
  put_oid_bytes(w, "\x55\x04\x03", 3);
  cg_der_put_tlv(w, DER_UTF8_STRING, cn, strlen(cn));
  cg_der_end(w, atv);
  cg_der_end(w, set);
  cg_der_end(w, n);
}

static void put_alg(struct der_writer *w, enum cg_oid_id id) {
  size_t a = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, id);
  cg_der_end(w, a);
}

static void put_text(struct der_writer *w, const char *a, const char *b) {
  size_t t = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_UTF8_STRING, a, strlen(a));
  if (b != NULL)
    cg_der_put_tlv(w, DER_UTF8_STRING, b, strlen(b));
  cg_der_end(w, t);
}

static void put_octets_in(struct der_writer *w, unsigned n, const char *v) {
  size_t x = cg_der_begin(w, DER_CTX_CONS(n));
  cg_der_put_tlv(w, DER_OCTET_STRING, v, strlen(v));
  cg_der_end(w, x);
}

/* A PKIHeader with every field: pvno 3, a directoryName sender, a dNSName
 * recipient, a fractional messageTime, all five octet strings, freeText and
 * three generalInfo entries (implicitConfirm, certProfile, one without
 * value). */
static void put_full_header(struct der_writer *w) {
  size_t h = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 3);
  size_t s = cg_der_begin(w, DER_CTX_CONS(4));
  put_name(w, "sender");
  cg_der_end(w, s);
  cg_der_put_tlv(w, DER_CTX(2), "ra.example", 10);
  size_t t = cg_der_begin(w, DER_CTX_CONS(0));
  cg_der_put_tlv(w, DER_GENERALIZED_TIME, "20250101120000.5Z", 17);
  cg_der_end(w, t);
  size_t a = cg_der_begin(w, DER_CTX_CONS(1));
  put_alg(w, CG_OID_ECDSA_SHA256);
  cg_der_end(w, a);
  put_octets_in(w, 2, "sender-kid");
  put_octets_in(w, 3, "recip-kid");
  put_octets_in(w, 4, "0123456789abcdef");
  put_octets_in(w, 5, "fedcba9876543210");
  put_octets_in(w, 6, "recip-nonce-0123");
  size_t f = cg_der_begin(w, DER_CTX_CONS(7));
  put_text(w, "free", "text");
  cg_der_end(w, f);
  size_t g = cg_der_begin(w, DER_CTX_CONS(8));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t i1 = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_IMPLICIT_CONFIRM);
  cg_der_put_null(w);
  cg_der_end(w, i1);
  size_t i2 = cg_der_begin(w, DER_SEQUENCE);
  put_oid_bytes(w, "\x2b\x06\x01\x05\x05\x07\x04\x15", 8); /* id-it-certProfile */
  put_text(w, "profile", NULL);
  cg_der_end(w, i2);
  size_t i3 = cg_der_begin(w, DER_SEQUENCE);
  put_oid_bytes(w, "\x2b\x06\x01\x05\x05\x07\x04\x11", 8); /* id-it-caCerts, no value */
  cg_der_end(w, i3);
  cg_der_end(w, seq);
  cg_der_end(w, g);
  cg_der_end(w, h);
}

static void put_spki(struct der_writer *w) {
  size_t a = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_EC_PUBLIC_KEY);
  cg_der_put_oid(w, CG_OID_P256);
  cg_der_end(w, a);
  uint8_t point[65] = {0x04, 1, 2, 3};
  cg_der_put_bit_string(w, point, sizeof point);
}

/* A CertTemplate with all ten fields; validity holds a UTCTime and a
 * GeneralizedTime. */
static void put_full_template(struct der_writer *w) {
  size_t t = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_CTX(0), 2);
  cg_der_put_tlv(w, DER_CTX(1), "\x00\x80\x01", 3);
  size_t sa = cg_der_begin(w, DER_CTX_CONS(2));
  cg_der_put_oid(w, CG_OID_ECDSA_SHA256);
  cg_der_end(w, sa);
  size_t is = cg_der_begin(w, DER_CTX_CONS(3));
  put_name(w, "issuer");
  cg_der_end(w, is);
  size_t v = cg_der_begin(w, DER_CTX_CONS(4));
  size_t nb = cg_der_begin(w, DER_CTX_CONS(0));
  cg_der_put_tlv(w, DER_UTC_TIME, "250101000000Z", 13);
  cg_der_end(w, nb);
  size_t na = cg_der_begin(w, DER_CTX_CONS(1));
  cg_der_put_tlv(w, DER_GENERALIZED_TIME, "20300101000000Z", 15);
  cg_der_end(w, na);
  cg_der_end(w, v);
  size_t su = cg_der_begin(w, DER_CTX_CONS(5));
  put_name(w, "subject");
  cg_der_end(w, su);
  size_t pk = cg_der_begin(w, DER_CTX_CONS(6));
  put_spki(w);
  cg_der_end(w, pk);
  cg_der_put_tlv(w, DER_CTX(7), "\x00\xaa", 2);
  cg_der_put_tlv(w, DER_CTX(8), "\x04\xb0", 2);
  size_t ex = cg_der_begin(w, DER_CTX_CONS(9));
  size_t e = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_EXT_KEY_USAGE);
  cg_der_put_bool(w, true);
  cg_der_put_tlv(w, DER_OCTET_STRING, "\x03\x02\x07\x80", 4);
  cg_der_end(w, e);
  cg_der_end(w, ex);
  cg_der_end(w, t);
}

/* ir with three CertReqMsg: the full template with three controls, a
 * signature POP with poposkInput and regInfo; raVerified with an empty
 * validity; keyEncipherment. */
static void put_ir_body(struct der_writer *w) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_IR));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);

  size_t m = cg_der_begin(w, DER_SEQUENCE);
  size_t req = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 0);
  put_full_template(w);
  size_t ctl = cg_der_begin(w, DER_SEQUENCE);
  size_t c1 = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_REG_TOKEN);
  cg_der_put_tlv(w, DER_UTF8_STRING, "token", 5);
  cg_der_end(w, c1);
  size_t c2 = cg_der_begin(w, DER_SEQUENCE);
  put_oid_bytes(w, "\x2b\x06\x01\x05\x05\x07\x05\x01\x02", 9); /* id-regCtrl-authenticator */
  cg_der_put_tlv(w, DER_UTF8_STRING, "auth", 4);
  cg_der_end(w, c2);
  size_t c3 = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_REG_OLD_CERT_ID);
  size_t cid = cg_der_begin(w, DER_SEQUENCE);
  size_t gn = cg_der_begin(w, DER_CTX_CONS(4));
  put_name(w, "old-issuer");
  cg_der_end(w, gn);
  cg_der_put_tlv(w, DER_INTEGER, "\x05", 1);
  cg_der_end(w, cid);
  cg_der_end(w, c3);
  cg_der_end(w, ctl);
  cg_der_end(w, req);
  size_t pop = cg_der_begin(w, DER_CTX_CONS(1));
  size_t in = cg_der_begin(w, DER_CTX_CONS(0));
  size_t sn = cg_der_begin(w, DER_CTX_CONS(0));
  put_name(w, "poposk-sender");
  cg_der_end(w, sn);
  put_spki(w);
  cg_der_end(w, in);
  put_alg(w, CG_OID_ECDSA_SHA256);
  cg_der_put_bit_string(w, "sig", 3);
  cg_der_end(w, pop);
  size_t ri = cg_der_begin(w, DER_SEQUENCE);
  size_t r1 = cg_der_begin(w, DER_SEQUENCE);
  put_oid_bytes(w, "\x2b\x06\x01\x05\x05\x07\x05\x02\x01", 9); /* id-regInfo-utf8Pairs */
  cg_der_put_tlv(w, DER_UTF8_STRING, "a?b%", 4);
  cg_der_end(w, r1);
  cg_der_end(w, ri);
  cg_der_end(w, m);

  m = cg_der_begin(w, DER_SEQUENCE);
  req = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 1);
  size_t t = cg_der_begin(w, DER_SEQUENCE);
  size_t v = cg_der_begin(w, DER_CTX_CONS(4));
  cg_der_end(w, v);
  cg_der_end(w, t);
  cg_der_end(w, req);
  cg_der_put_tlv(w, DER_CTX(0), NULL, 0);
  cg_der_end(w, m);

  m = cg_der_begin(w, DER_SEQUENCE);
  req = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_int64(w, DER_INTEGER, -1);
  t = cg_der_begin(w, DER_SEQUENCE);
  cg_der_end(w, t);
  cg_der_end(w, req);
  size_t ke = cg_der_begin(w, DER_CTX_CONS(2));
  cg_der_put_tlv(w, DER_CTX(1), "\x02\x00", 2); /* subsequentMessage challengeResp */
  cg_der_end(w, ke);
  cg_der_end(w, m);

  cg_der_end(w, seq);
  cg_der_end(w, body);
}

static void put_fake_cert(struct der_writer *w, const char *tag) {
  size_t c = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_UTF8_STRING, tag, strlen(tag));
  cg_der_end(w, c);
}

/* ip: caPubs; a response with certificate, privateKey, publicationInfo and
 * rspInfo; one with encryptedCert; one rejection with text and failInfo. */
static void put_ip_body(struct der_writer *w) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_IP));
  size_t rep = cg_der_begin(w, DER_SEQUENCE);
  size_t cp = cg_der_begin(w, DER_CTX_CONS(1));
  size_t cps = cg_der_begin(w, DER_SEQUENCE);
  put_fake_cert(w, "ca1");
  put_fake_cert(w, "ca2");
  cg_der_end(w, cps);
  cg_der_end(w, cp);
  size_t rsps = cg_der_begin(w, DER_SEQUENCE);

  size_t r = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 0);
  cmp_write_status_info(w, CMP_GRANTED_WITH_MODS, -1, "mods");
  size_t ckp = cg_der_begin(w, DER_SEQUENCE);
  size_t c = cg_der_begin(w, DER_CTX_CONS(0));
  put_fake_cert(w, "ee");
  cg_der_end(w, c);
  size_t k = cg_der_begin(w, DER_CTX_CONS(0));
  put_fake_cert(w, "encrypted-key");
  cg_der_end(w, k);
  size_t pi = cg_der_begin(w, DER_CTX_CONS(1));
  size_t pis = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 0);
  cg_der_end(w, pis);
  cg_der_end(w, pi);
  cg_der_end(w, ckp);
  cg_der_put_tlv(w, DER_OCTET_STRING, "info", 4);
  cg_der_end(w, r);

  r = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 1);
  cmp_write_status_info(w, CMP_ACCEPTED, -1, NULL);
  ckp = cg_der_begin(w, DER_SEQUENCE);
  c = cg_der_begin(w, DER_CTX_CONS(1));
  put_fake_cert(w, "encrypted-cert");
  cg_der_end(w, c);
  cg_der_end(w, ckp);
  cg_der_end(w, r);

  r = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 2);
  cmp_write_status_info(w, CMP_REJECTION, CG_FI_BAD_CERT_TEMPLATE, "no");
  cg_der_end(w, r);

  cg_der_end(w, rsps);
  cg_der_end(w, rep);
  cg_der_end(w, body);
}

/* certConf: one CertStatus with statusInfo and hashAlg, one bare. */
static void put_cert_conf_body(struct der_writer *w) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_CERTCONF));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t st = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_OCTET_STRING, "hash", 4);
  cg_der_put_uint64(w, DER_INTEGER, 0);
  cmp_write_status_info(w, CMP_REJECTION, CG_FI_BAD_POP, "bad");
  size_t ha = cg_der_begin(w, DER_CTX_CONS(0));
  put_alg(w, CG_OID_ECDSA_SHA256);
  cg_der_end(w, ha);
  cg_der_end(w, st);
  st = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_OCTET_STRING, "hash", 4);
  cg_der_put_uint64(w, DER_INTEGER, 1);
  cg_der_end(w, st);
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

/* rr: crlEntryDetails with an extension before and after a critical
 * reasonCode. */
static void put_rr_body(struct der_writer *w) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_RR));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t rd = cg_der_begin(w, DER_SEQUENCE);
  put_full_template(w);
  size_t ced = cg_der_begin(w, DER_SEQUENCE);
  size_t e = cg_der_begin(w, DER_SEQUENCE);
  put_oid_bytes(w, "\x55\x1d\x18", 3); /* invalidityDate */
  size_t o = cg_der_begin(w, DER_OCTET_STRING);
  cg_der_put_tlv(w, DER_GENERALIZED_TIME, "20250101000000Z", 15);
  cg_der_end(w, o);
  cg_der_end(w, e);
  e = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_EXT_CRL_REASON);
  cg_der_put_bool(w, true);
  o = cg_der_begin(w, DER_OCTET_STRING);
  cg_der_put_uint64(w, DER_ENUMERATED, 1); /* keyCompromise */
  cg_der_end(w, o);
  cg_der_end(w, e);
  e = cg_der_begin(w, DER_SEQUENCE);
  put_oid_bytes(w, "\x55\x1d\x1d", 3); /* certificateIssuer */
  cg_der_put_bool(w, true);
  o = cg_der_begin(w, DER_OCTET_STRING);
  cg_der_put_tlv(w, DER_SEQUENCE, NULL, 0);
  cg_der_end(w, o);
  cg_der_end(w, e);
  cg_der_end(w, ced);
  cg_der_end(w, rd);
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

/* rp with revCerts and crls. */
static void put_rp_body(struct der_writer *w) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_RP));
  size_t rep = cg_der_begin(w, DER_SEQUENCE);
  size_t st = cg_der_begin(w, DER_SEQUENCE);
  cmp_write_status_info(w, CMP_ACCEPTED, -1, NULL);
  cmp_write_status_info(w, CMP_REJECTION, CG_FI_BAD_CERT_ID, "unknown");
  cg_der_end(w, st);
  size_t rc = cg_der_begin(w, DER_CTX_CONS(0));
  size_t ids = cg_der_begin(w, DER_SEQUENCE);
  size_t id = cg_der_begin(w, DER_SEQUENCE);
  size_t gn = cg_der_begin(w, DER_CTX_CONS(4));
  put_name(w, "ca");
  cg_der_end(w, gn);
  cg_der_put_uint64(w, DER_INTEGER, 77);
  cg_der_end(w, id);
  cg_der_end(w, ids);
  cg_der_end(w, rc);
  size_t cr = cg_der_begin(w, DER_CTX_CONS(1));
  size_t crls = cg_der_begin(w, DER_SEQUENCE);
  put_fake_cert(w, "crl");
  cg_der_end(w, crls);
  cg_der_end(w, cr);
  cg_der_end(w, rep);
  cg_der_end(w, body);
}

static void put_error_body(struct der_writer *w) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_ERROR));
  size_t e = cg_der_begin(w, DER_SEQUENCE);
  cmp_write_status_info(w, CMP_REJECTION, CG_FI_SYSTEM_FAILURE, "down");
  cg_der_put_int64(w, DER_INTEGER, -42);
  put_text(w, "details", "more");
  cg_der_end(w, e);
  cg_der_end(w, body);
}

static void put_poll_rep_body(struct der_writer *w) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_POLLREP));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t r = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 0);
  cg_der_put_uint64(w, DER_INTEGER, 3600);
  put_text(w, "later", NULL);
  cg_der_end(w, r);
  r = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 1);
  cg_der_put_uint64(w, DER_INTEGER, 0);
  cg_der_end(w, r);
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

/* The full header, the body, a protection and two extraCerts. */
static size_t build_full(uint8_t *out, size_t cap, void (*body)(struct der_writer *)) {
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, out, cap);
  size_t msg = cg_der_begin(&w, DER_SEQUENCE);
  put_full_header(&w);
  body(&w);
  size_t p = cg_der_begin(&w, DER_CTX_CONS(0));
  cg_der_put_bit_string(&w, "protection", 10);
  cg_der_end(&w, p);
  size_t x = cg_der_begin(&w, DER_CTX_CONS(1));
  size_t seq = cg_der_begin(&w, DER_SEQUENCE);
  put_fake_cert(&w, "extra1");
  put_fake_cert(&w, "extra2");
  cg_der_end(&w, seq);
  cg_der_end(&w, x);
  cg_der_end(&w, msg);
  assert_int_equal(cg_der_writer_finish(&w, &len), 0);
  return len;
}

static void test_every_optional_element_reencodes(void **state) {
  (void)state;
  uint8_t buf[4096];
  struct cmp_msg m;

  size_t len = build_full(buf, sizeof buf, put_ir_body);
  check_roundtrip("full ir", buf, len, &m);
  assert_int_equal(m.hdr.pvno, 3);
  assert_true(cg_der_view_is(m.hdr.recip_kid, (const uint8_t *)"recip-kid", 9));
  assert_non_null(m.hdr.free_text.p);
  assert_int_equal(m.hdr.n_general_info, 3);
  assert_true(m.hdr.implicit_confirm);
  assert_int_equal(m.u.cert_req.n, 3);
  const struct cmp_cert_req *cr = &m.u.cert_req.req[0];
  assert_int_equal(cr->tmpl.version, 2);
  assert_int_equal(cr->tmpl.not_before_tag, DER_UTC_TIME);
  assert_int_equal(cr->tmpl.not_after_tag, DER_GENERALIZED_TIME);
  assert_non_null(cr->tmpl.issuer_uid.p);
  assert_non_null(cr->tmpl.subject_uid.p);
  assert_int_equal(cr->n_controls, 3);
  assert_true(cg_der_view_is(cr->reg_token, (const uint8_t *)"token", 5));
  assert_true(cg_der_view_is(cr->old_cert_serial, (const uint8_t *)"\x05", 1));
  assert_true(cr->pop_has_input);
  assert_non_null(cr->reg_info.p);
  assert_int_equal(m.u.cert_req.req[1].pop, CMP_POP_RA_VERIFIED);
  assert_true(m.u.cert_req.req[1].tmpl.has_validity);
  assert_int_equal(m.u.cert_req.req[2].pop, CMP_POP_KEY_ENC);
  assert_int_equal(m.u.cert_req.req[2].cert_req_id, -1);
  /* regToken is written from its value. */
  struct cmp_msg changed = m, again;
  changed.u.cert_req.req[0].reg_token = (struct der_view){(const uint8_t *)"TOKEN", 5};
  size_t out_len;
  uint8_t *out = encode(&changed, &out_len);
  assert_int_equal(n_diff(out, buf, len), 5);
  assert_int_equal(cmp_msg_decode(out, out_len, &again), 0);
  assert_true(cg_der_view_is(again.u.cert_req.req[0].reg_token, (const uint8_t *)"TOKEN", 5));
  free(out);

  len = build_full(buf, sizeof buf, put_ip_body);
  check_roundtrip("full ip", buf, len, &m);
  assert_int_equal(m.u.cert_rep.n_ca_pubs, 2);
  assert_int_equal(m.u.cert_rep.n, 3);
  assert_non_null(m.u.cert_rep.rsp[0].private_key.p);
  assert_non_null(m.u.cert_rep.rsp[0].publication_info.p);
  assert_true(cg_der_view_is(m.u.cert_rep.rsp[0].rsp_info, (const uint8_t *)"info", 4));
  assert_null(m.u.cert_rep.rsp[1].cert.p);
  assert_non_null(m.u.cert_rep.rsp[1].enc_cert.p);
  assert_int_equal(m.u.cert_rep.rsp[2].status.fail_info, 1u << CG_FI_BAD_CERT_TEMPLATE);

  len = build_full(buf, sizeof buf, put_cert_conf_body);
  check_roundtrip("full certConf", buf, len, &m);
  assert_non_null(m.u.cert_conf.st[0].hash_alg.p);
  assert_false(m.u.cert_conf.st[1].has_status);

  len = build_full(buf, sizeof buf, put_rr_body);
  check_roundtrip("full rr", buf, len, &m);
  assert_int_equal(m.u.rev_req.rd[0].reason, 1);
  assert_true(m.u.rev_req.rd[0].reason_critical);
  changed = m;
  changed.u.rev_req.rd[0].reason = 5;
  changed.u.rev_req.rd[0].reason_critical = false; /* three octets fewer */
  out = encode(&changed, &out_len);
  assert_int_equal(out_len, len - 3);
  assert_int_equal(cmp_msg_decode(out, out_len, &again), 0);
  assert_int_equal(again.u.rev_req.rd[0].reason, 5);
  assert_false(again.u.rev_req.rd[0].reason_critical);
  free(out);

  len = build_full(buf, sizeof buf, put_rp_body);
  check_roundtrip("full rp", buf, len, &m);
  assert_int_equal(m.u.rev_rep.n, 2);
  assert_non_null(m.u.rev_rep.rev_certs.p);
  assert_non_null(m.u.rev_rep.crls.p);

  len = build_full(buf, sizeof buf, put_error_body);
  check_roundtrip("full error", buf, len, &m);
  assert_int_equal(m.u.error.error_code, -42);
  assert_non_null(m.u.error.details.p);

  len = build_full(buf, sizeof buf, put_poll_rep_body);
  check_roundtrip("full pollRep", buf, len, &m);
  assert_int_equal(m.u.poll_rep.n, 2);
  assert_int_equal(m.u.poll_rep.rep[0].check_after, 3600);
  assert_non_null(m.u.poll_rep.rep[0].reason.p);
}

static void test_encoder_refuses_a_model_that_contradicts_itself(void **state) {
  (void)state;
  size_t len;
  uint8_t *p = load("cmp/ir.der", &len);
  struct cmp_msg m, bad;
  assert_int_equal(cmp_msg_decode(p, len, &m), 0);
  struct der_writer w;

  bad = m;
  bad.header_ok = false;
  cg_der_writer_init(&w, NULL, 0);
  assert_int_equal(cmp_msg_encode(&bad, &w), CG_EINVAL);

  bad = m;
  bad.type = CMP_POLLREP + 1;
  cg_der_writer_init(&w, NULL, 0);
  assert_int_equal(cmp_msg_encode(&bad, &w), CG_EINVAL);

  bad = m;
  bad.u.cert_req.n = CMP_MAX_REQS + 1;
  cg_der_writer_init(&w, NULL, 0);
  assert_int_equal(cmp_msg_encode(&bad, &w), CG_EINVAL);

  /* implicitConfirm claimed without its generalInfo entry. */
  bad = m;
  assert_false(bad.hdr.implicit_confirm);
  bad.hdr.implicit_confirm = true;
  cg_der_writer_init(&w, NULL, 0);
  assert_int_equal(cmp_msg_encode(&bad, &w), CG_EINVAL);

  /* A regToken value without its control. */
  bad = m;
  assert_null(bad.u.cert_req.req[0].reg_token.p);
  bad.u.cert_req.req[0].reg_token = (struct der_view){(const uint8_t *)"x", 1};
  cg_der_writer_init(&w, NULL, 0);
  assert_int_equal(cmp_msg_encode(&bad, &w), CG_EINVAL);

  /* A UTCTime past 2049. */
  bad = m;
  bad.u.cert_req.req[0].tmpl.has_validity = true;
  bad.u.cert_req.req[0].tmpl.has_not_after = true;
  bad.u.cert_req.req[0].tmpl.not_after_tag = DER_UTC_TIME;
  bad.u.cert_req.req[0].tmpl.not_after = 2524608000; /* 2050-01-01 */
  cg_der_writer_init(&w, NULL, 0);
  assert_int_equal(cmp_msg_encode(&bad, &w), CG_EINVAL);
  bad.u.cert_req.req[0].tmpl.not_after_tag = DER_GENERALIZED_TIME;
  cg_der_writer_init(&w, NULL, 0);
  assert_int_equal(cmp_msg_encode(&bad, &w), 0);
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_openssl_vectors_reencode_byte_for_byte),
      cmocka_unit_test(test_reference_ra_flows_reencode_byte_for_byte),
      cmocka_unit_test(test_poll_bodies_decode_and_reencode_from_their_values),
      cmocka_unit_test(test_changed_fields_show_in_the_output),
      cmocka_unit_test(test_changed_reason_and_old_cert_id_show_in_the_output),
      cmocka_unit_test(test_fractional_message_time_survives),
      cmocka_unit_test(test_nested_message_and_its_inner_messages_reencode),
      cmocka_unit_test(test_every_optional_element_reencodes),
      cmocka_unit_test(test_encoder_refuses_a_model_that_contradicts_itself),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
