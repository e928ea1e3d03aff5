/*
 * encode.c - the CMP structures the gateway sends, written with der_writer.
 * The ASN.1 of each structure is in cmp/msg.h beside its decoded form.
 */
#include "cmp/encode.h"

#include <string.h>

#include "core/err.h"
#include "core/oid.h"

static void put_explicit_octets(struct der_writer *w, unsigned n, struct der_view v) {
  if (v.p == NULL)
    return;
  size_t m = cg_der_begin(w, DER_CTX_CONS(n));
  cg_der_put_tlv(w, DER_OCTET_STRING, v.p, v.len);
  cg_der_end(w, m);
}

/* GeneralName directoryName [4] Name; the NULL-DN is an empty SEQUENCE. */
static void put_directory_name(struct der_writer *w, struct der_view name) {
  size_t m = cg_der_begin(w, DER_CTX_CONS(4));
  if (name.p != NULL)
    cg_der_put_raw(w, name.p, name.len);
  else
    cg_der_put_tlv(w, DER_SEQUENCE, NULL, 0);
  cg_der_end(w, m);
}

void cmp_write_header(struct der_writer *w, const struct cmp_out_header *h) {
  size_t hdr = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, h->pvno);
  put_directory_name(w, h->sender_name);
  if (h->recipient.p != NULL)
    cg_der_put_raw(w, h->recipient.p, h->recipient.len);
  else
    put_directory_name(w, h->recipient);
  if (h->message_time != 0) {
    size_t m = cg_der_begin(w, DER_CTX_CONS(0));
    cg_der_put_gentime(w, DER_GENERALIZED_TIME, h->message_time);
    cg_der_end(w, m);
  }
  if (h->protection_alg.p != NULL) {
    size_t m = cg_der_begin(w, DER_CTX_CONS(1));
    cg_der_put_raw(w, h->protection_alg.p, h->protection_alg.len);
    cg_der_end(w, m);
  }
  put_explicit_octets(w, 2, h->sender_kid);
  put_explicit_octets(w, 4, h->transaction_id);
  put_explicit_octets(w, 5, h->sender_nonce);
  put_explicit_octets(w, 6, h->recip_nonce);
  if (h->implicit_confirm) {
    /* RFC 9810 §5.1.1.1: ImplicitConfirmValue ::= NULL */
    size_t gi = cg_der_begin(w, DER_CTX_CONS(8));
    size_t seq = cg_der_begin(w, DER_SEQUENCE);
    size_t itav = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_oid(w, CG_OID_IMPLICIT_CONFIRM);
    cg_der_put_null(w);
    cg_der_end(w, itav);
    cg_der_end(w, seq);
    cg_der_end(w, gi);
  }
  cg_der_end(w, hdr);
}

static void put_free_text(struct der_writer *w, const char *text) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_UTF8_STRING, text, strlen(text));
  cg_der_end(w, m);
}

void cmp_write_status_info(struct der_writer *w, int status, int fail_bit, const char *text) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, (uint64_t)status);
  if (text != NULL)
    put_free_text(w, text);
  if (fail_bit >= 0)
    cg_der_put_named_bits(w, DER_BIT_STRING, 1u << fail_bit);
  cg_der_end(w, m);
}

void cmp_write_cert_rep_body(struct der_writer *w, int type, int64_t cert_req_id, int status,
                             int fail_bit, const char *text, struct der_view cert,
                             struct der_view key_envelope) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(type));
  size_t rep = cg_der_begin(w, DER_SEQUENCE);
  size_t rsps = cg_der_begin(w, DER_SEQUENCE);
  size_t rsp = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_int64(w, DER_INTEGER, cert_req_id);
  cmp_write_status_info(w, status, fail_bit, text);
  if (cert.p != NULL) {
    size_t ckp = cg_der_begin(w, DER_SEQUENCE);
    size_t coc = cg_der_begin(w, DER_CTX_CONS(0));
    cg_der_put_raw(w, cert.p, cert.len);
    cg_der_end(w, coc);
    struct der_reader r;
    struct der_tlv env;
    cg_der_reader_view(&r, key_envelope);
    if (key_envelope.p != NULL && cg_der_expect(&r, DER_SEQUENCE, &env) == 0) {
      size_t pk = cg_der_begin(w, DER_CTX_CONS(0));
      cg_der_put_tlv(w, DER_CTX_CONS(0), env.val.p, env.val.len);
      cg_der_end(w, pk);
    }
    cg_der_end(w, ckp);
  }
  cg_der_end(w, rsp);
  cg_der_end(w, rsps);
  cg_der_end(w, rep);
  cg_der_end(w, body);
}

void cmp_write_error_body(struct der_writer *w, int status, int fail_bit, const char *text) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_ERROR));
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cmp_write_status_info(w, status, fail_bit, text);
  cg_der_end(w, m);
  cg_der_end(w, body);
}

void cmp_write_pkiconf_body(struct der_writer *w) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_PKICONF));
  cg_der_put_null(w);
  cg_der_end(w, body);
}

void cmp_write_cert_conf_body(struct der_writer *w, struct der_view cert_hash, int64_t cert_req_id,
                              bool reject) {
  size_t body = cg_der_begin(w, DER_CTX_CONS(CMP_CERTCONF));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  size_t st = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_OCTET_STRING, cert_hash.p, cert_hash.len);
  cg_der_put_int64(w, DER_INTEGER, cert_req_id);
  if (reject)
    cmp_write_status_info(w, CMP_REJECTION, CG_FI_BAD_CERT_TEMPLATE, "certificate rejected");
  cg_der_end(w, st);
  cg_der_end(w, seq);
  cg_der_end(w, body);
}

void cmp_write_message(struct der_writer *w, const uint8_t *hb, size_t hb_len,
                       const uint8_t *protection, size_t prot_len,
                       const struct der_view *extra, size_t n_extra) {
  size_t msg = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_raw(w, hb, hb_len);
  if (protection != NULL) {
    size_t p = cg_der_begin(w, DER_CTX_CONS(0));
    cg_der_put_bit_string(w, protection, prot_len);
    cg_der_end(w, p);
  }
  if (n_extra > 0) {
    size_t x = cg_der_begin(w, DER_CTX_CONS(1));
    size_t seq = cg_der_begin(w, DER_SEQUENCE);
    for (size_t i = 0; i < n_extra; i++)
      cg_der_put_raw(w, extra[i].p, extra[i].len);
    cg_der_end(w, seq);
    cg_der_end(w, x);
  }
  cg_der_end(w, msg);
}
