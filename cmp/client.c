/*
 * client.c - requests of a CMP client, written with the same encoders the
 * server uses (cmp/encode.h) and protected with PBM, PBMAC1 or a signature.
 */
#include "cmp/client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp/encode.h"
#include "cmp/msg.h"
#include "cmp/pbmac1.h"
#include "cmp/protect.h"
#include "core/certbuild.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"

struct protection {
  struct cmp_pbm_params pbm;
  struct cmp_pbmac1_params pbmac1;
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
};

static int write_alg(const struct cmp_client_cred *c, struct protection *p, struct der_writer *w) {
  if (c->key != NULL) {
    cg_key_default_sig(c->key, &p->scheme, &p->hash);
    cert_write_sig_alg(w, p->scheme, p->hash);
    return 0;
  }
  if (c->pbmac1) {
    p->pbmac1.salt_len = 16;
    p->pbmac1.iterations = c->iterations;
    p->pbmac1.key_len = 32;
    p->pbmac1.prf = c->owf;
    p->pbmac1.mac = c->mac;
    if (cg_random(p->pbmac1.salt, 16))
      return CG_ECRYPTO;
    cmp_pbmac1_write_alg(w, &p->pbmac1);
    return 0;
  }
  p->pbm.salt_len = 16;
  p->pbm.owf = c->owf;
  p->pbm.mac = c->mac;
  p->pbm.iterations = c->iterations;
  if (cg_random(p->pbm.salt, 16))
    return CG_ECRYPTO;
  cmp_pbm_write_alg(w, &p->pbm);
  return 0;
}

static int compute(const struct cmp_client_cred *c, const struct protection *p,
                   const struct cg_iov *iov, uint8_t *out, size_t cap, size_t *len) {
  if (c->key != NULL)
    return cg_sign(c->key, p->scheme, p->hash, iov, 2, out, cap, len);
  if (c->pbmac1)
    return cmp_pbmac1_compute(&p->pbmac1, c->secret, c->secret_len, iov, 2, out, len);
  return cmp_pbm_compute(&p->pbm, c->secret, c->secret_len, iov, 2, out, len);
}

int cmp_client_message(const struct cmp_client_cred *c, const struct cmp_client_hdr *hdr,
                       void (*body_fn)(struct der_writer *, const void *), const void *body_arg,
                       uint8_t *out, size_t cap, size_t *len) {
  struct protection p;
  memset(&p, 0, sizeof p);
  uint8_t alg[512];
  size_t alg_len;
  struct der_writer w;
  der_writer_init(&w, alg, sizeof alg);
  int err = write_alg(c, &p, &w);
  if (err || der_writer_finish(&w, &alg_len))
    return err ? err : CG_ESPACE;

  struct cmp_out_header h = {0};
  struct cg_x509 signer;
  h.pvno = hdr->pvno ? hdr->pvno : 2;
  h.message_time = hdr->message_time ? hdr->message_time : (int64_t)time(NULL);
  h.protection_alg = (struct der_view){alg, alg_len};
  if (c->key != NULL) {
    /* RFC 9483 §3.1: sender is the signer's subject, senderKID its SKID. */
    if (cg_x509_parse(c->cert.p, c->cert.len, &signer))
      return CG_EINVAL;
    h.sender_name = signer.subject;
    if (signer.skid.len)
      h.sender_kid = signer.skid;
  } else {
    h.sender_kid = (struct der_view){c->ref, c->ref_len};
  }
  if (c->sender_kid.p != NULL)
    h.sender_kid = c->sender_kid;
  if (c->sender_name.p != NULL)
    h.sender_name = c->sender_name;
  h.transaction_id = hdr->transaction_id;
  h.sender_nonce = hdr->sender_nonce;
  h.recip_nonce = hdr->recip_nonce;
  h.implicit_confirm = hdr->implicit_confirm;

  uint8_t *hb = malloc(cap);
  if (hb == NULL)
    return CG_ENOMEM;
  der_writer_init(&w, hb, cap);
  cmp_write_header(&w, &h);
  body_fn(&w, body_arg);
  size_t hb_len;
  err = der_writer_finish(&w, &hb_len);
  if (err == 0) {
    struct cmp_msg view = {0};
    view.hdr.raw = (struct der_view){hb, hb_len};
    uint8_t seq[6], prot[1024];
    size_t prot_len;
    struct cg_iov iov[2];
    cmp_msg_protected_part(&view, seq, iov);
    err = compute(c, &p, iov, prot, sizeof prot, &prot_len);
    if (err == 0) {
      struct der_view extra[CMP_MAX_EXTRA_CERTS];
      size_t n = 0;
      if (c->key != NULL) {
        extra[n++] = c->cert;
        for (size_t i = 0; i < c->n_chain && n < CMP_MAX_EXTRA_CERTS; i++)
          extra[n++] = c->chain[i];
      }
      der_writer_init(&w, out, cap);
      cmp_write_message(&w, hb, hb_len, prot, prot_len, extra, n);
      err = der_writer_finish(&w, len);
    }
  }
  free(hb);
  return err;
}

struct req_arg {
  int type;
  const uint8_t *cert_request;
  size_t cert_request_len;
  const uint8_t *pop;
  size_t pop_len;
};

static void cert_req_body(struct der_writer *w, const void *arg) {
  const struct req_arg *a = arg;
  size_t body = der_begin(w, DER_CTX_CONS(a->type));
  size_t msgs = der_begin(w, DER_SEQUENCE);
  size_t msg = der_begin(w, DER_SEQUENCE);
  der_put_raw(w, a->cert_request, a->cert_request_len);
  der_put_raw(w, a->pop, a->pop_len);
  der_end(w, msg);
  der_end(w, msgs);
  der_end(w, body);
}

/* The oldCertID control: CertId ::= SEQUENCE { issuer GeneralName,
 * serialNumber INTEGER } of cert. */
static int write_old_cert_id(struct der_writer *w, struct der_view cert) {
  struct cg_x509 x;
  if (cg_x509_parse(cert.p, cert.len, &x))
    return CG_EINVAL;
  size_t atv = der_begin(w, DER_SEQUENCE);
  der_put_oid(w, CG_OID_REG_OLD_CERT_ID);
  size_t id = der_begin(w, DER_SEQUENCE);
  size_t gn = der_begin(w, DER_CTX_CONS(4));
  der_put_raw(w, x.issuer.p, x.issuer.len);
  der_end(w, gn);
  der_put_tlv(w, DER_INTEGER, x.serial.p, x.serial.len);
  der_end(w, id);
  der_end(w, atv);
  return 0;
}

int cmp_client_cert_req(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                        int type, struct der_view subject, const struct cg_key *new_key,
                        struct der_view old_cert, uint8_t *out, size_t cap, size_t *len) {
  uint8_t spki[2048], req[8192], pop[1024], sig[1024];
  size_t spki_len, req_len, pop_len, sig_len;
  int err = cg_key_spki(new_key, spki, sizeof spki, &spki_len);
  if (err)
    return err;
  /* CertRequest { certReqId, CertTemplate { subject [5], publicKey [6] }, controls } */
  struct der_writer w;
  der_writer_init(&w, req, sizeof req);
  size_t cr = der_begin(&w, DER_SEQUENCE);
  der_put_uint64(&w, DER_INTEGER, hdr->cert_req_id);
  size_t tmpl = der_begin(&w, DER_SEQUENCE);
  if (subject.p != NULL) {
    size_t subj = der_begin(&w, DER_CTX_CONS(5));
    der_put_raw(&w, subject.p, subject.len);
    der_end(&w, subj);
  }
  /* [6] IMPLICIT SubjectPublicKeyInfo: the SEQUENCE's contents under tag A6. */
  struct der_reader r, in;
  der_reader_init(&r, spki, spki_len);
  if (der_enter(&r, DER_SEQUENCE, &in))
    return CG_EDER;
  der_put_tlv(&w, DER_CTX_CONS(6), in.p, (size_t)(in.end - in.p));
  der_end(&w, tmpl);
  if (old_cert.p != NULL || hdr->reg_token.p != NULL) {
    /* Controls ::= SEQUENCE SIZE(1..MAX) OF AttributeTypeAndValue */
    size_t ctls = der_begin(&w, DER_SEQUENCE);
    if (hdr->reg_token.p != NULL) {
      size_t atv = der_begin(&w, DER_SEQUENCE);
      der_put_oid(&w, CG_OID_REG_TOKEN);
      der_put_tlv(&w, DER_UTF8_STRING, hdr->reg_token.p, hdr->reg_token.len);
      der_end(&w, atv);
    }
    if (old_cert.p != NULL && (err = write_old_cert_id(&w, old_cert)))
      return err;
    der_end(&w, ctls);
  }
  der_end(&w, cr);
  if (der_writer_finish(&w, &req_len))
    return CG_ESPACE;

  /* RFC 4211 §4.1: POPOSigningKey signs the DER of certReq. */
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  cg_key_default_sig(new_key, &scheme, &hash);
  struct cg_iov iov = {req, req_len};
  if ((err = cg_sign(new_key, scheme, hash, &iov, 1, sig, sizeof sig, &sig_len)))
    return err;
  der_writer_init(&w, pop, sizeof pop);
  size_t popo = der_begin(&w, DER_CTX_CONS(1));
  cert_write_sig_alg(&w, scheme, hash);
  der_put_bit_string(&w, sig, sig_len);
  der_end(&w, popo);
  if (der_writer_finish(&w, &pop_len))
    return CG_ESPACE;

  struct req_arg a = {type, req, req_len, pop, pop_len};
  return cmp_client_message(cred, hdr, cert_req_body, &a, out, cap, len);
}

int cmp_client_ir(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                  struct der_view subject, const struct cg_key *key, uint8_t *out, size_t cap,
                  size_t *len) {
  return cmp_client_cert_req(cred, hdr, CMP_IR, subject, key, (struct der_view){NULL, 0}, out,
                             cap, len);
}

static void p10cr_body(struct der_writer *w, const void *arg) {
  const struct der_view *csr = arg;
  size_t body = der_begin(w, DER_CTX_CONS(CMP_P10CR));
  der_put_raw(w, csr->p, csr->len);
  der_end(w, body);
}

int cmp_client_p10cr(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                     struct der_view csr, uint8_t *out, size_t cap, size_t *len) {
  return cmp_client_message(cred, hdr, p10cr_body, &csr, out, cap, len);
}

struct rr_arg {
  struct der_view issuer, serial;
  int reason;
};

/* RevReqContent ::= SEQUENCE OF RevDetails; RevDetails ::= SEQUENCE {
 *   certDetails CertTemplate, crlEntryDetails Extensions OPTIONAL } */
static void rr_body(struct der_writer *w, const void *arg) {
  const struct rr_arg *a = arg;
  size_t body = der_begin(w, DER_CTX_CONS(CMP_RR));
  size_t seq = der_begin(w, DER_SEQUENCE);
  size_t rd = der_begin(w, DER_SEQUENCE);
  size_t tmpl = der_begin(w, DER_SEQUENCE);
  der_put_tlv(w, DER_CTX(1), a->serial.p, a->serial.len);
  size_t iss = der_begin(w, DER_CTX_CONS(3));
  der_put_raw(w, a->issuer.p, a->issuer.len);
  der_end(w, iss);
  der_end(w, tmpl);
  if (a->reason >= 0) {
    size_t exts = der_begin(w, DER_SEQUENCE);
    size_t ext = der_begin(w, DER_SEQUENCE);
    der_put_oid(w, CG_OID_EXT_CRL_REASON);
    size_t val = der_begin(w, DER_OCTET_STRING);
    der_put_uint64(w, DER_ENUMERATED, (uint64_t)a->reason);
    der_end(w, val);
    der_end(w, ext);
    der_end(w, exts);
  }
  der_end(w, rd);
  der_end(w, seq);
  der_end(w, body);
}

int cmp_client_rr(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                  struct der_view issuer, struct der_view serial, int reason, uint8_t *out,
                  size_t cap, size_t *len) {
  struct rr_arg a = {issuer, serial, reason};
  return cmp_client_message(cred, hdr, rr_body, &a, out, cap, len);
}

struct genm_arg {
  const struct der_view *types;
  size_t n;
};

static void genm_body(struct der_writer *w, const void *arg) {
  const struct genm_arg *a = arg;
  size_t body = der_begin(w, DER_CTX_CONS(CMP_GENM));
  size_t seq = der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < a->n; i++) {
    size_t itav = der_begin(w, DER_SEQUENCE);
    der_put_tlv(w, DER_OID, a->types[i].p, a->types[i].len);
    der_end(w, itav);
  }
  der_end(w, seq);
  der_end(w, body);
}

int cmp_client_genm(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                    const struct der_view *types, size_t n, uint8_t *out, size_t cap,
                    size_t *len) {
  struct genm_arg a = {types, n};
  return cmp_client_message(cred, hdr, genm_body, &a, out, cap, len);
}

struct nested_arg {
  const struct der_view *msgs;
  size_t n;
};

static void nested_body(struct der_writer *w, const void *arg) {
  const struct nested_arg *a = arg;
  size_t body = der_begin(w, DER_CTX_CONS(CMP_NESTED));
  size_t seq = der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < a->n; i++)
    der_put_raw(w, a->msgs[i].p, a->msgs[i].len);
  der_end(w, seq);
  der_end(w, body);
}

int cmp_client_nested(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                      const struct der_view *msgs, size_t n, uint8_t *out, size_t cap,
                      size_t *len) {
  struct nested_arg a = {msgs, n};
  return cmp_client_message(cred, hdr, nested_body, &a, out, cap, len);
}

/* PollReqContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER } */
static void poll_req_body(struct der_writer *w, const void *arg) {
  const int64_t *id = arg;
  size_t body = der_begin(w, DER_CTX_CONS(CMP_POLLREQ));
  size_t seq = der_begin(w, DER_SEQUENCE);
  size_t one = der_begin(w, DER_SEQUENCE);
  der_put_int64(w, DER_INTEGER, *id);
  der_end(w, one);
  der_end(w, seq);
  der_end(w, body);
}

int cmp_client_poll_req(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                        int64_t cert_req_id, uint8_t *out, size_t cap, size_t *len) {
  return cmp_client_message(cred, hdr, poll_req_body, &cert_req_id, out, cap, len);
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

int cmp_client_cert_conf(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
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
  return cmp_client_message(cred, hdr, conf_body, &a, out, cap, len);
}
