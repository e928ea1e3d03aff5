/*
 * client.c - requests of a CMP client, written with the same encoders the
 * server uses (cmp/encode.h) and protected with PasswordBasedMac.
 */
#include "cmp/client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp/encode.h"
#include "core/certbuild.h"
#include "cmp/msg.h"
#include "cmp/protect.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"

/* Writes header and body with body_fn, protects them with the MAC, and
 * writes the message to out. */
static int finish(const struct cmp_client_mac *mac, const struct cmp_client_hdr *hdr,
                  void (*body_fn)(struct der_writer *, const void *), const void *body_arg,
                  uint8_t *out, size_t cap, size_t *len) {
  struct cmp_pbm_params p = {0};
  p.salt_len = 16;
  p.owf = mac->owf;
  p.mac = mac->mac;
  p.iterations = mac->iterations;
  if (cg_random(p.salt, p.salt_len))
    return CG_ECRYPTO;
  uint8_t alg[256];
  size_t alg_len;
  struct der_writer w;
  der_writer_init(&w, alg, sizeof alg);
  cmp_pbm_write_alg(&w, &p);
  if (der_writer_finish(&w, &alg_len))
    return CG_ESPACE;

  struct cmp_out_header h = {0};
  h.pvno = hdr->pvno ? hdr->pvno : 2;
  h.message_time = (int64_t)time(NULL);
  h.protection_alg = (struct der_view){alg, alg_len};
  h.sender_kid = (struct der_view){mac->ref, mac->ref_len};
  h.transaction_id = hdr->transaction_id;
  h.sender_nonce = hdr->sender_nonce;
  h.recip_nonce = hdr->recip_nonce;

  uint8_t *hb = malloc(cap);
  if (hb == NULL)
    return CG_ENOMEM;
  der_writer_init(&w, hb, cap);
  cmp_write_header(&w, &h);
  body_fn(&w, body_arg);
  size_t hb_len;
  int err = der_writer_finish(&w, &hb_len);
  if (err == 0) {
    struct cmp_msg view = {0};
    view.hdr.raw = (struct der_view){hb, hb_len};
    uint8_t seq[6], prot[CG_HASH_MAX];
    size_t prot_len;
    struct cg_iov iov[2];
    cmp_msg_protected_part(&view, seq, iov);
    err = cmp_pbm_compute(&p, mac->secret, mac->secret_len, iov, 2, prot, &prot_len);
    if (err == 0) {
      der_writer_init(&w, out, cap);
      cmp_write_message(&w, hb, hb_len, prot, prot_len, NULL, 0);
      err = der_writer_finish(&w, len);
    }
  }
  free(hb);
  return err;
}

struct ir_arg {
  const uint8_t *cert_request;
  size_t cert_request_len;
  const uint8_t *pop;
  size_t pop_len;
};

static void ir_body(struct der_writer *w, const void *arg) {
  const struct ir_arg *a = arg;
  size_t body = der_begin(w, DER_CTX_CONS(CMP_IR));
  size_t msgs = der_begin(w, DER_SEQUENCE);
  size_t msg = der_begin(w, DER_SEQUENCE);
  der_put_raw(w, a->cert_request, a->cert_request_len);
  der_put_raw(w, a->pop, a->pop_len);
  der_end(w, msg);
  der_end(w, msgs);
  der_end(w, body);
}

int cmp_client_ir(const struct cmp_client_mac *mac, const struct cmp_client_hdr *hdr,
                  struct der_view subject, const struct cg_key *key, uint8_t *out, size_t cap,
                  size_t *len) {
  uint8_t spki[2048], req[4096], pop[1024], sig[1024];
  size_t spki_len, req_len, pop_len, sig_len;
  int err = cg_key_spki(key, spki, sizeof spki, &spki_len);
  if (err)
    return err;
  /* CertRequest { certReqId 0, CertTemplate { subject [5], publicKey [6] } } */
  struct der_writer w;
  der_writer_init(&w, req, sizeof req);
  size_t cr = der_begin(&w, DER_SEQUENCE);
  der_put_uint64(&w, DER_INTEGER, hdr->cert_req_id);
  size_t tmpl = der_begin(&w, DER_SEQUENCE);
  size_t subj = der_begin(&w, DER_CTX_CONS(5));
  der_put_raw(&w, subject.p, subject.len);
  der_end(&w, subj);
  /* [6] IMPLICIT SubjectPublicKeyInfo: the SEQUENCE's contents under tag A6. */
  struct der_reader r, in;
  der_reader_init(&r, spki, spki_len);
  if (der_enter(&r, DER_SEQUENCE, &in))
    return CG_EDER;
  der_put_tlv(&w, DER_CTX_CONS(6), in.p, (size_t)(in.end - in.p));
  der_end(&w, tmpl);
  der_end(&w, cr);
  if (der_writer_finish(&w, &req_len))
    return CG_ESPACE;

  /* RFC 4211 §4.1: POPOSigningKey signs the DER of certReq. */
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  cg_key_default_sig(key, &scheme, &hash);
  struct cg_iov iov = {req, req_len};
  if ((err = cg_sign(key, scheme, hash, &iov, 1, sig, sizeof sig, &sig_len)))
    return err;
  der_writer_init(&w, pop, sizeof pop);
  size_t popo = der_begin(&w, DER_CTX_CONS(1));
  cert_write_sig_alg(&w, scheme, hash);
  der_put_bit_string(&w, sig, sig_len);
  der_end(&w, popo);
  if (der_writer_finish(&w, &pop_len))
    return CG_ESPACE;

  struct ir_arg a = {req, req_len, pop, pop_len};
  return finish(mac, hdr, ir_body, &a, out, cap, len);
}

struct conf_arg {
  struct der_view hash;
  int64_t cert_req_id;
  bool reject;
};

static void conf_body(struct der_writer *w, const void *arg) {
  const struct conf_arg *a = arg;
  cmp_write_cert_conf_body(w, a->hash, a->cert_req_id, a->reject);
}

int cmp_client_cert_conf(const struct cmp_client_mac *mac, const struct cmp_client_hdr *hdr,
                         struct der_view cert, int64_t cert_req_id, bool reject, uint8_t *out,
                         size_t cap, size_t *len) {
  struct cg_x509 x;
  enum cg_sig_scheme scheme;
  enum cg_hash h;
  if (cg_x509_parse(cert.p, cert.len, &x) || cg_oid_sigalg(cg_oid_lookup(x.sig_oid), &scheme, &h))
    return CG_EBAD_ALG;
  if (h == CG_HASH_NONE && cg_oid_lookup(x.sig_oid) == CG_OID_ED25519)
    h = CG_HASH_SHA512;
  if (h == CG_HASH_NONE)
    return CG_EBAD_ALG;
  uint8_t hash[CG_HASH_MAX];
  struct cg_iov iov = {cert.p, cert.len};
  int err = cg_hash(h, &iov, 1, hash);
  if (err)
    return err;
  struct conf_arg a = {{hash, cg_hash_size(h)}, cert_req_id, reject};
  return finish(mac, hdr, conf_body, &a, out, cap, len);
}
