/*
 * client.c - requests of a CMP client, written with the same encoders the
 * server uses (cmp/encode.h) and protected with PBM, PBMAC1 or a signature.
 */
#include "cmp/client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp/encode.h"
#include "cmp/genm.h"
#include "cmp/msg.h"
#include "cmp/pbmac1.h"
#include "cmp/protect.h"
#include "core/certbuild.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"

/* The header of one of our messages, with its protection algorithm. */
static int make_header(const struct cmp_client_cred *c, const struct cmp_client_hdr *hdr,
                       struct der_view alg, uint8_t *recip_buf, size_t recip_cap,
                       struct cmp_out_header *h) {
  struct cg_x509 signer;
  memset(h, 0, sizeof *h);
  h->pvno = hdr->pvno ? hdr->pvno : 2;
  h->message_time = hdr->message_time ? hdr->message_time : (int64_t)time(NULL);
  h->protection_alg = alg;
  if (c->key != NULL) {
    /* RFC 9483 §3.1: sender is the signer's subject, senderKID its SKID. */
    if (cg_x509_parse(c->cert.p, c->cert.len, &signer))
      return CG_EINVAL;
    h->sender_name = signer.subject;
    if (signer.skid.len)
      h->sender_kid = signer.skid;
  } else {
    h->sender_kid = (struct der_view){c->ref, c->ref_len};
  }
  if (c->sender_kid.p != NULL)
    h->sender_kid = c->sender_kid;
  if (c->sender_name.p != NULL)
    h->sender_name = c->sender_name;
  if (hdr->recipient.p != NULL) {
    /* GeneralName directoryName [4] EXPLICIT Name */
    struct der_writer w;
    size_t len;
    cg_der_writer_init(&w, recip_buf, recip_cap);
    size_t dn = cg_der_begin(&w, DER_CTX_CONS(4));
    cg_der_put_raw(&w, hdr->recipient.p, hdr->recipient.len);
    cg_der_end(&w, dn);
    if (cg_der_writer_finish(&w, &len))
      return CG_ESPACE;
    h->recipient = (struct der_view){recip_buf, len};
  }
  h->transaction_id = hdr->transaction_id;
  h->sender_nonce = hdr->sender_nonce;
  h->recip_nonce = hdr->recip_nonce;
  h->implicit_confirm = hdr->implicit_confirm;
  return 0;
}

int cmp_client_write(const struct cmp_client_cred *c, struct cmp_mac *mac,
                     const struct cmp_client_hdr *hdr, struct der_view body, uint8_t **out,
                     size_t *len) {
  struct cmp_mac own;
  enum cg_sig_scheme scheme = CG_SIG_ECDSA;
  enum cg_hash hash = CG_HASH_NONE;
  uint8_t alg[512], recip[1100];
  size_t alg_len;
  int err = 0;
  *out = NULL;
  if (mac == NULL)
    mac = &own;
  if (c->key == NULL && (mac == &own || mac->key_len == 0) &&
      ((err = cmp_mac_init(mac, c->pbmac1, c->iterations, c->owf, c->mac)) != 0 ||
       (err = cmp_mac_derive(mac, c->secret, c->secret_len)) != 0))
    goto done;
  struct der_writer w;
  cg_der_writer_init(&w, alg, sizeof alg);
  if (c->key != NULL) {
    cg_key_default_sig(c->key, &scheme, &hash);
    cg_cert_write_sig_alg(&w, scheme, hash);
  } else {
    cmp_mac_write_alg(&w, mac);
  }
  if ((err = cg_der_writer_finish(&w, &alg_len)) != 0)
    goto done;
  struct cmp_out_header h;
  if ((err = make_header(c, hdr, (struct der_view){alg, alg_len}, recip, sizeof recip, &h)))
    goto done;

  /* Header and body, measured first, then written. */
  uint8_t *hb = NULL;
  size_t hb_len = 0;
  for (int pass = 0; pass < 2; pass++) {
    cg_der_writer_init(&w, hb, hb_len);
    cmp_write_header(&w, &h);
    cg_der_put_raw(&w, body.p, body.len);
    if ((err = cg_der_writer_finish(&w, &hb_len)) != 0)
      break;
    if (pass == 0 && (hb = malloc(hb_len)) == NULL)
      err = CG_ENOMEM;
    if (err)
      break;
  }
  struct cmp_msg view = {0};
  uint8_t seq[6], prot[1024];
  size_t prot_len = 0;
  struct cg_iov iov[2];
  if (err == 0) {
    view.hdr.raw = (struct der_view){hb, hb_len};
    cmp_msg_protected_part(&view, seq, iov);
    err = c->key != NULL ? cg_sign(c->key, scheme, hash, iov, 2, prot, sizeof prot, &prot_len)
                         : cmp_mac_compute(mac, iov, 2, prot, &prot_len);
  }
  struct der_view extra[CMP_MAX_EXTRA_CERTS];
  size_t n = 0;
  if (c->key != NULL) {
    extra[n++] = c->cert;
    for (size_t i = 0; i < c->n_chain && n < CMP_MAX_EXTRA_CERTS; i++)
      extra[n++] = c->chain[i];
  }
  for (int pass = 0; pass < 2 && err == 0; pass++) {
    cg_der_writer_init(&w, *out, *len);
    cmp_write_message(&w, hb, hb_len, prot, prot_len, extra, n);
    if ((err = cg_der_writer_finish(&w, len)) == 0 && pass == 0 && (*out = malloc(*len)) == NULL)
      err = CG_ENOMEM;
  }
  free(hb);
  if (err) {
    free(*out);
    *out = NULL;
  }
done:
  if (mac == &own)
    cmp_mac_wipe(&own);
  return err;
}

/* A body writer's output, measured and kept. */
static int body_of(void (*body_fn)(struct der_writer *, const void *), const void *arg,
                   uint8_t **out, size_t *len) {
  struct der_writer w;
  cg_der_writer_init(&w, NULL, 0);
  body_fn(&w, arg);
  if (cg_der_writer_finish(&w, len))
    return CG_ESPACE;
  if ((*out = malloc(*len ? *len : 1)) == NULL)
    return CG_ENOMEM;
  cg_der_writer_init(&w, *out, *len);
  body_fn(&w, arg);
  int err = cg_der_writer_finish(&w, len);
  if (err) {
    free(*out);
    *out = NULL;
  }
  return err;
}

int cmp_client_message(const struct cmp_client_cred *c, const struct cmp_client_hdr *hdr,
                       void (*body_fn)(struct der_writer *, const void *), const void *body_arg,
                       uint8_t *out, size_t cap, size_t *len) {
  uint8_t *body, *msg;
  size_t body_len, msg_len;
  int err = body_of(body_fn, body_arg, &body, &body_len);
  if (err)
    return err;
  err = cmp_client_write(c, NULL, hdr, (struct der_view){body, body_len}, &msg, &msg_len);
  free(body);
  if (err)
    return err;
  if (msg_len > cap)
    err = CG_ESPACE;
  else
    memcpy(out, msg, *len = msg_len);
  free(msg);
  return err;
}

/* A body already written, as a body writer. */
static void raw_body(struct der_writer *w, const void *arg) {
  const struct der_view *b = arg;
  cg_der_put_raw(w, b->p, b->len);
}

/* Finishes a body writer into out/cap. */
static int finish_body(void (*fn)(struct der_writer *, const void *), const void *arg,
                       uint8_t *out, size_t cap, size_t *len) {
  struct der_writer w;
  cg_der_writer_init(&w, out, cap);
  fn(&w, arg);
  return cg_der_writer_finish(&w, len);
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
  size_t body = cg_der_begin(w, DER_CTX_CONS(a->type));
  size_t msgs = cg_der_begin(w, DER_SEQUENCE);
  size_t msg = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_raw(w, a->cert_request, a->cert_request_len);
  cg_der_put_raw(w, a->pop, a->pop_len);
  cg_der_end(w, msg);
  cg_der_end(w, msgs);
  cg_der_end(w, body);
}

/* The oldCertID control: CertId ::= SEQUENCE { issuer GeneralName,
 * serialNumber INTEGER } of cert. */
static int write_old_cert_id(struct der_writer *w, struct der_view cert) {
  struct cg_x509 x;
  if (cg_x509_parse(cert.p, cert.len, &x))
    return CG_EINVAL;
  size_t atv = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_REG_OLD_CERT_ID);
  size_t id = cg_der_begin(w, DER_SEQUENCE);
  size_t gn = cg_der_begin(w, DER_CTX_CONS(4));
  cg_der_put_raw(w, x.issuer.p, x.issuer.len);
  cg_der_end(w, gn);
  cg_der_put_tlv(w, DER_INTEGER, x.serial.p, x.serial.len);
  cg_der_end(w, id);
  cg_der_end(w, atv);
  return 0;
}

/* The CertReqMsg of an ir / cr / kur: the template's publicKey [6] holds
 * key_contents (the contents of a SubjectPublicKeyInfo; p NULL: absent) and
 * a signature POP by pop_key follows unless it is NULL. */
static int write_cert_req_body(int type, int64_t cert_req_id, struct der_view subject,
                               struct der_view key_contents, const struct cg_key *pop_key,
                               struct der_view old_cert, struct der_view reg_token, uint8_t *out,
                               size_t cap, size_t *len) {
  uint8_t req[8192], pop[1024], sig[1024];
  size_t req_len, pop_len = 0, sig_len;
  int err;
  if (cert_req_id < 0)
    return CG_EINVAL;
  /* CertRequest { certReqId, CertTemplate { subject [5], publicKey [6] }, controls } */
  struct der_writer w;
  cg_der_writer_init(&w, req, sizeof req);
  size_t cr = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, (uint64_t)cert_req_id);
  size_t tmpl = cg_der_begin(&w, DER_SEQUENCE);
  if (subject.p != NULL) {
    size_t subj = cg_der_begin(&w, DER_CTX_CONS(5));
    cg_der_put_raw(&w, subject.p, subject.len);
    cg_der_end(&w, subj);
  }
  if (key_contents.p != NULL)
    cg_der_put_tlv(&w, DER_CTX_CONS(6), key_contents.p, key_contents.len);
  cg_der_end(&w, tmpl);
  if (old_cert.p != NULL || reg_token.p != NULL) {
    /* Controls ::= SEQUENCE SIZE(1..MAX) OF AttributeTypeAndValue */
    size_t ctls = cg_der_begin(&w, DER_SEQUENCE);
    if (reg_token.p != NULL) {
      size_t atv = cg_der_begin(&w, DER_SEQUENCE);
      cg_der_put_oid(&w, CG_OID_REG_TOKEN);
      cg_der_put_tlv(&w, DER_UTF8_STRING, reg_token.p, reg_token.len);
      cg_der_end(&w, atv);
    }
    if (old_cert.p != NULL && (err = write_old_cert_id(&w, old_cert)))
      return err;
    cg_der_end(&w, ctls);
  }
  cg_der_end(&w, cr);
  if (cg_der_writer_finish(&w, &req_len))
    return CG_ESPACE;

  if (pop_key != NULL) {
    /* RFC 4211 §4.1: POPOSigningKey signs the DER of certReq. */
    enum cg_sig_scheme scheme;
    enum cg_hash hash;
    cg_key_default_sig(pop_key, &scheme, &hash);
    struct cg_iov iov = {req, req_len};
    if ((err = cg_sign(pop_key, scheme, hash, &iov, 1, sig, sizeof sig, &sig_len)))
      return err;
    cg_der_writer_init(&w, pop, sizeof pop);
    size_t popo = cg_der_begin(&w, DER_CTX_CONS(1));
    cg_cert_write_sig_alg(&w, scheme, hash);
    cg_der_put_bit_string(&w, sig, sig_len);
    cg_der_end(&w, popo);
    if (cg_der_writer_finish(&w, &pop_len))
      return CG_ESPACE;
  }

  struct req_arg a = {type, req, req_len, pop, pop_len};
  return finish_body(cert_req_body, &a, out, cap, len);
}

int cmp_client_cert_req_body(int type, int64_t cert_req_id, struct der_view subject,
                             const struct cg_key *new_key, struct der_view old_cert,
                             struct der_view reg_token, uint8_t *out, size_t cap, size_t *len) {
  uint8_t spki[2048];
  size_t spki_len;
  int err = cg_key_spki(new_key, spki, sizeof spki, &spki_len);
  if (err)
    return err;
  /* [6] IMPLICIT SubjectPublicKeyInfo: the SEQUENCE's contents under tag A6. */
  struct der_reader r, in;
  cg_der_reader_init(&r, spki, spki_len);
  if (cg_der_enter(&r, DER_SEQUENCE, &in))
    return CG_EDER;
  return write_cert_req_body(type, cert_req_id, subject,
                             (struct der_view){in.p, (size_t)(in.end - in.p)}, new_key, old_cert,
                             reg_token, out, cap, len);
}

int cmp_client_central_req_body(int type, int64_t cert_req_id, struct der_view subject,
                                enum cg_key_type key_type, unsigned bits, struct der_view old_cert,
                                struct der_view reg_token, uint8_t *out, size_t cap, size_t *len) {
  uint8_t key[64];
  size_t key_len = 0;
  if (key_type != CG_KEY_NONE) {
    /* AlgorithmIdentifier and an empty BIT STRING (only its unused-bits octet). */
    struct der_writer w;
    cg_der_writer_init(&w, key, sizeof key);
    size_t alg = cg_der_begin(&w, DER_SEQUENCE);
    switch (key_type) {
    case CG_KEY_EC:
      cg_der_put_oid(&w, CG_OID_EC_PUBLIC_KEY);
      cg_der_put_oid(&w, bits == 384 ? CG_OID_P384 : bits == 521 ? CG_OID_P521 : CG_OID_P256);
      break;
    case CG_KEY_RSA:
      cg_der_put_oid(&w, CG_OID_RSA_ENCRYPTION);
      cg_der_put_null(&w);
      break;
    case CG_KEY_ED25519:
      cg_der_put_oid(&w, CG_OID_ED25519);
      break;
    default:
      return CG_EBAD_ALG;
    }
    cg_der_end(&w, alg);
    cg_der_put_tlv(&w, DER_BIT_STRING, (const uint8_t *)"", 1);
    if (cg_der_writer_finish(&w, &key_len))
      return CG_ESPACE;
  }
  return write_cert_req_body(type, cert_req_id, subject,
                             (struct der_view){key_len ? key : NULL, key_len}, NULL, old_cert,
                             reg_token, out, cap, len);
}

/* The message of a body written into a buffer of its own first. */
static int message_of(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                      const uint8_t *body, size_t body_len, uint8_t *out, size_t cap,
                      size_t *len) {
  struct der_view b = {body, body_len};
  return cmp_client_message(cred, hdr, raw_body, &b, out, cap, len);
}

#define BODY_CAP 16384

int cmp_client_cert_req(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                        int type, struct der_view subject, const struct cg_key *new_key,
                        struct der_view old_cert, uint8_t *out, size_t cap, size_t *len) {
  uint8_t body[BODY_CAP];
  size_t body_len;
  int err = cmp_client_cert_req_body(type, (int64_t)hdr->cert_req_id, subject, new_key, old_cert,
                                     hdr->reg_token, body, sizeof body, &body_len);
  return err ? err : message_of(cred, hdr, body, body_len, out, cap, len);
}

int cmp_client_ir(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                  struct der_view subject, const struct cg_key *key, uint8_t *out, size_t cap,
                  size_t *len) {
  return cmp_client_cert_req(cred, hdr, CMP_IR, subject, key, (struct der_view){NULL, 0}, out,
                             cap, len);
}

static void p10cr_body(struct der_writer *w, const void *arg) {
  const struct der_view *csr = arg;
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_P10CR));
  cg_der_put_raw(w, csr->p, csr->len);
  cg_der_end(w, body);
}

int cmp_client_p10cr_body(struct der_view csr, uint8_t *out, size_t cap, size_t *len) {
  return finish_body(p10cr_body, &csr, out, cap, len);
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
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_RR));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t rd = cg_der_begin(w, DER_SEQUENCE);
  size_t tmpl = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_CTX(1), a->serial.p, a->serial.len);
  size_t iss = cg_der_begin(w, DER_CTX_CONS(3));
  cg_der_put_raw(w, a->issuer.p, a->issuer.len);
  cg_der_end(w, iss);
  cg_der_end(w, tmpl);
  if (a->reason >= 0) {
    size_t exts = cg_der_begin(w, DER_SEQUENCE);
    size_t ext = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_oid(w, CG_OID_EXT_CRL_REASON);
    size_t val = cg_der_begin(w, DER_OCTET_STRING);
    cg_der_put_uint64(w, DER_ENUMERATED, (uint64_t)a->reason);
    cg_der_end(w, val);
    cg_der_end(w, ext);
    cg_der_end(w, exts);
  }
  cg_der_end(w, rd);
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

int cmp_client_rr_body(struct der_view issuer, struct der_view serial, int reason, uint8_t *out,
                       size_t cap, size_t *len) {
  struct rr_arg a = {issuer, serial, reason};
  return finish_body(rr_body, &a, out, cap, len);
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
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_GENM));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < a->n; i++) {
    size_t itav = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_tlv(w, DER_OID, a->types[i].p, a->types[i].len);
    cg_der_end(w, itav);
  }
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

int cmp_client_genm_body(const struct der_view *types, size_t n, uint8_t *out, size_t cap,
                         size_t *len) {
  struct genm_arg a = {types, n};
  return finish_body(genm_body, &a, out, cap, len);
}

struct genm_ask_arg {
  const enum cg_oid_id *types;
  size_t n;
  struct der_view anchor;
};

static void genm_ask_body(struct der_writer *w, const void *arg) {
  const struct genm_ask_arg *a = arg;
  size_t body = cmp_genm_begin(w);
  for (size_t i = 0; i < a->n; i++) {
    enum cg_oid_id t = a->types[i];
    struct cg_x509 ca;
    if (t == CG_OID_IT_CRL_STATUS_LIST && a->anchor.p != NULL &&
        cg_x509_parse(a->anchor.p, a->anchor.len, &ca) == 0) {
      /* CRLSource issuer [1] GeneralNames: SEQUENCE { directoryName [4] Name } */
      uint8_t names[1100];
      struct der_writer g;
      size_t names_len;
      cg_der_writer_init(&g, names, sizeof names);
      size_t seq = cg_der_begin(&g, DER_SEQUENCE);
      size_t dn = cg_der_begin(&g, DER_CTX_CONS(4));
      cg_der_put_raw(&g, ca.subject.p, ca.subject.len);
      cg_der_end(&g, dn);
      cg_der_end(&g, seq);
      if (cg_der_writer_finish(&g, &names_len)) {
        w->err = CG_ESPACE;
        return;
      }
      struct cmp_crl_status st = {.kind = CMP_CRL_SOURCE_ISSUER, .source = {names, names_len}};
      cmp_write_itav_crl_status_list(w, &st, 1);
    } else if (t == CG_OID_IT_CRL_STATUS_LIST) {
      cmp_write_itav(w, cg_oid(CG_OID_IT_CRLS), (struct der_view){NULL, 0});
    } else if (t == CG_OID_IT_ROOT_CA_KEY_UPDATE || t == CG_OID_IT_ROOT_CA_CERT) {
      cmp_write_itav_root_ca_cert(w, a->anchor);
    } else {
      cmp_write_itav(w, cg_oid(t), (struct der_view){NULL, 0});
    }
  }
  cmp_genm_end(w, body);
}

int cmp_client_genm_ask_body(const enum cg_oid_id *types, size_t n, struct der_view anchor,
                             uint8_t *out, size_t cap, size_t *len) {
  struct genm_ask_arg a = {types, n, anchor};
  return finish_body(genm_ask_body, &a, out, cap, len);
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
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_NESTED));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < a->n; i++)
    cg_der_put_raw(w, a->msgs[i].p, a->msgs[i].len);
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

int cmp_client_nested_body(const struct der_view *msgs, size_t n, uint8_t *out, size_t cap,
                           size_t *len) {
  struct nested_arg a = {msgs, n};
  return finish_body(nested_body, &a, out, cap, len);
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
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_POLLREQ));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t one = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_int64(w, DER_INTEGER, *id);
  cg_der_end(w, one);
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

int cmp_client_poll_req_body(int64_t cert_req_id, uint8_t *out, size_t cap, size_t *len) {
  return finish_body(poll_req_body, &cert_req_id, out, cap, len);
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

int cmp_client_cert_conf_body(struct der_view cert, int64_t cert_req_id, bool reject, uint8_t *out,
                              size_t cap, size_t *len) {
  struct cg_x509 x;
  enum cg_sig_scheme scheme;
  enum cg_hash h;
  if (cg_x509_parse(cert.p, cert.len, &x) || cg_oid_sigalg(cg_oid_lookup(x.sig_oid), &scheme, &h))
    return CG_EBAD_ALG;
  /* RFC 9481 §3.3: certHash of an Ed25519-signed certificate is SHA-512. */
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
  return finish_body(conf_body, &a, out, cap, len);
}

int cmp_client_cert_conf(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                         struct der_view cert, int64_t cert_req_id, bool reject, uint8_t *out,
                         size_t cap, size_t *len) {
  uint8_t body[1024];
  size_t body_len;
  int err = cmp_client_cert_conf_body(cert, cert_req_id, reject, body, sizeof body, &body_len);
  return err ? err : message_of(cred, hdr, body, body_len, out, cap, len);
}
