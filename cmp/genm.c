/*
 * genm.c - the general message family: decoding GenMsgContent and the two
 * request values that carry input (id-it-rootCaCert, id-it-crlStatusList),
 * and writing genm and genp bodies with the InfoTypeAndValue of the RFC 9483
 * §4.3 support messages.  The values are in the PKIXCMP-2023 module of
 * RFC 9810 Appendix F, which has EXPLICIT TAGS: every [n] below wraps a
 * whole element, except where a type from an IMPLICIT module (RFC 5280's
 * PKIX1Implicit88, RFC 4211's CRMF) says otherwise.
 *
 * The two registration control OIDs of a certificate request template's
 * keySpec (RFC 9810 §5.3.19.16) live in a small table here: nothing else
 * uses them.
 */
#include "cmp/genm.h"

#include <string.h>

#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"

/* id-regCtrl-algId 1.3.6.1.5.5.7.5.1.11, id-regCtrl-rsaKeyLen 1.3.6.1.5.5.7.5.1.12
 * (RFC 9810 §5.3.19.16), as DER contents. */
static const uint8_t oid_reg_ctrl_alg_id[] = {0x2b, 0x06, 0x01, 0x05, 0x05,
                                              0x07, 0x05, 0x01, 0x0b};
static const uint8_t oid_reg_ctrl_rsa_key_len[] = {0x2b, 0x06, 0x01, 0x05, 0x05,
                                                   0x07, 0x05, 0x01, 0x0c};

/* Makes the writer's sticky error CG_EINVAL (unless it already failed). */
static void invalid(struct der_writer *w) {
  if (w->err == 0)
    w->err = CG_EINVAL;
}

static bool present(struct der_view v) { return v.p != NULL; }

/* ------------------------------------------------------------ decoding */

/* InfoTypeAndValue ::= SEQUENCE { infoType OBJECT IDENTIFIER,
 *     infoValue ANY DEFINED BY infoType OPTIONAL }   (RFC 9810 §5.3.19)
 * GenMsgContent ::= SEQUENCE OF InfoTypeAndValue
 * GenRepContent ::= SEQUENCE OF InfoTypeAndValue     (§5.3.20) */
int cmp_genm_decode(struct der_view content, struct cmp_genm *out) {
  struct der_reader top, seq, itav;
  struct der_tlv t;
  memset(out, 0, sizeof *out);
  cg_der_reader_view(&top, content);
  if (cg_der_enter(&top, DER_SEQUENCE, &seq))
    return top.err;
  while (!cg_der_at_end(&seq)) {
    if (out->n == CMP_GENM_MAX_ITAV) {
      cg_der_fail(&seq, CG_EBAD_REQUEST);
      break;
    }
    struct cmp_itav *it = &out->itav[out->n];
    if (cg_der_enter(&seq, DER_SEQUENCE, &itav))
      break;
    if (cg_der_expect(&itav, DER_OID, &t) == 0 && cg_der_check_oid(t.val))
      cg_der_fail(&itav, CG_EDER);
    it->oid = t.val;
    if (!cg_der_at_end(&itav) && cg_der_next(&itav, &t) == 0)
      it->value = t.raw;
    if (cg_der_leave(&seq, &itav))
      break;
    out->n++;
  }
  if (cg_der_leave(&top, &seq) == 0 && !cg_der_at_end(&top))
    cg_der_fail(&top, CG_EDER);
  if (top.err)
    out->n = 0;
  return top.err;
}

static bool itav_is(const struct cmp_itav *itav, enum cg_oid_id id) {
  return cg_der_view_eq(itav->oid, cg_oid(id));
}

/* RootCaCertValue ::= CMPCertificate   (RFC 9810 §5.3.19.15)
 * CMPCertificate ::= CHOICE { x509v3PKCert Certificate, ... } */
int cmp_itav_root_ca_cert(const struct cmp_itav *itav, struct der_view *cert) {
  struct cg_x509 x;
  *cert = (struct der_view){NULL, 0};
  if (!itav_is(itav, CG_OID_IT_ROOT_CA_CERT))
    return CG_EINVAL;
  if (itav->value.len == 0)
    return 0;
  if (cg_x509_parse(itav->value.p, itav->value.len, &x))
    return CG_EDER;
  *cert = itav->value;
  return 1;
}

/* A SEQUENCE SIZE (1..MAX) OF SEQUENCE (certificates, CRLs) into views;
 * certificates are parsed. */
static int read_sequence_of(struct der_view value, bool certs, struct der_view *out, size_t max,
                            size_t *n) {
  struct der_reader r, seq;
  struct der_tlv t;
  *n = 0;
  cg_der_reader_view(&r, value);
  if (cg_der_enter(&r, DER_SEQUENCE, &seq) || !cg_der_at_end(&r) || cg_der_at_end(&seq))
    return CG_EDER;
  while (!cg_der_at_end(&seq)) {
    struct cg_x509 x;
    if (cg_der_expect(&seq, DER_SEQUENCE, &t) || *n == max ||
        (certs && cg_x509_parse(t.raw.p, t.raw.len, &x)))
      return CG_EDER;
    out[(*n)++] = t.raw;
  }
  return 1;
}

int cmp_itav_ca_certs(const struct cmp_itav *itav, struct der_view *certs, size_t max,
                      size_t *n) {
  *n = 0;
  if (!itav_is(itav, CG_OID_IT_CA_CERTS))
    return CG_EINVAL;
  return itav->value.len == 0 ? 0 : read_sequence_of(itav->value, true, certs, max, n);
}

int cmp_itav_crls(const struct cmp_itav *itav, struct der_view *crls, size_t max, size_t *n) {
  *n = 0;
  if (!itav_is(itav, CG_OID_IT_CRLS))
    return CG_EINVAL;
  return itav->value.len == 0 ? 0 : read_sequence_of(itav->value, false, crls, max, n);
}

int cmp_itav_root_ca_key_update(const struct cmp_itav *itav, struct der_view out[3]) {
  memset(out, 0, 3 * sizeof *out);
  if (!itav_is(itav, CG_OID_IT_ROOT_CA_KEY_UPDATE))
    return CG_EINVAL;
  if (itav->value.len == 0)
    return 0;
  struct der_reader r, seq, in;
  struct der_tlv t;
  struct cg_x509 x;
  cg_der_reader_view(&r, itav->value);
  if (cg_der_enter(&r, DER_SEQUENCE, &seq) || !cg_der_at_end(&r) ||
      cg_der_expect(&seq, DER_SEQUENCE, &t) || cg_x509_parse(t.raw.p, t.raw.len, &x))
    return CG_EDER;
  out[0] = t.raw;
  for (unsigned tag = 0; tag < 2 && !cg_der_at_end(&seq); tag++) {
    /* [0] and [1] are optional, in order */
    if (cg_der_peek_tag(&seq) != (int)DER_CTX_CONS(tag))
      continue;
    if (cg_der_enter(&seq, DER_CTX_CONS(tag), &in) || cg_der_expect(&in, DER_SEQUENCE, &t) ||
        !cg_der_at_end(&in) || cg_x509_parse(t.raw.p, t.raw.len, &x))
      return CG_EDER;
    out[1 + tag] = t.raw;
  }
  return cg_der_at_end(&seq) && seq.err == 0 ? 1 : CG_EDER;
}

/* GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName (RFC 5280 §4.2.1.6,
 * implicit module): each a context-specific [0]..[8] element.  r reads the
 * names. */
static int read_general_names(struct der_reader *r) {
  struct der_tlv t;
  if (cg_der_at_end(r))
    return cg_der_fail(r, CG_EBAD_DATA);
  while (!cg_der_at_end(r)) {
    if (cg_der_next(r, &t))
      break;
    if ((t.tag & 0xc0) != 0x80 || (t.tag & 0x1f) > 8)
      return cg_der_fail(r, CG_EDER);
  }
  return r->err;
}

/* DistributionPointName ::= CHOICE {   (RFC 5280 §4.2.1.13, implicit module)
 *     fullName                [0] GeneralNames,
 *     nameRelativeToCRLIssuer [1] RelativeDistinguishedName }
 * RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue */
static int read_dpn(struct der_reader *r) {
  struct der_reader in;
  struct der_tlv t;
  if (cg_der_enter_optional(r, DER_CTX_CONS(0), &in) == 1) {
    read_general_names(&in);
    return cg_der_leave(r, &in);
  }
  if (cg_der_enter(r, DER_CTX_CONS(1), &in))
    return r->err;
  if (cg_der_at_end(&in))
    cg_der_fail(&in, CG_EBAD_DATA);
  while (!cg_der_at_end(&in))
    cg_der_expect(&in, DER_SEQUENCE, &t);
  return cg_der_leave(r, &in);
}

/* CRLStatusListValue ::= SEQUENCE SIZE (1..MAX) OF CRLStatus
 *                                        (RFC 9810 §5.3.19.17)
 * CRLStatus ::= SEQUENCE { source CRLSource, thisUpdate Time OPTIONAL }
 * CRLSource ::= CHOICE { dpn [0] DistributionPointName,
 *                        issuer [1] GeneralNames }
 * Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }
 * Both CRLSource tags are explicit (the CHOICE dpn would need it anyway). */
static int read_crl_status(struct der_reader *list, struct cmp_crl_status *st) {
  struct der_reader cs, src, names;
  struct der_tlv t;
  if (cg_der_enter(list, DER_SEQUENCE, &cs))
    return list->err;
  int tag = cg_der_peek_tag(&cs);
  if (tag == (int)DER_CTX_CONS(0) || tag == (int)DER_CTX_CONS(1)) {
    st->kind = tag == (int)DER_CTX_CONS(0) ? CMP_CRL_SOURCE_DPN : CMP_CRL_SOURCE_ISSUER;
    cg_der_enter(&cs, (unsigned)tag, &src);
    struct der_reader peek = src;
    if (cg_der_next(&peek, &t) == 0)
      st->source = t.raw;
    if (st->kind == CMP_CRL_SOURCE_DPN) {
      read_dpn(&src);
    } else if (cg_der_enter(&src, DER_SEQUENCE, &names) == 0) {
      read_general_names(&names);
      cg_der_leave(&src, &names);
    }
    cg_der_leave(&cs, &src);
  } else {
    cg_der_fail(&cs, CG_EDER);
  }
  tag = cg_der_peek_tag(&cs);
  if (cs.err == 0 && (tag == DER_UTC_TIME || tag == DER_GENERALIZED_TIME)) {
    cg_der_next(&cs, &t);
    if (cg_der_get_time(t.tag, t.val, &st->this_update))
      cg_der_fail(&cs, CG_EDER);
    st->has_this_update = cs.err == 0;
  }
  return cg_der_leave(list, &cs);
}

int cmp_itav_crl_status_list(const struct cmp_itav *itav, struct cmp_crl_status_list *out) {
  struct der_reader top, list;
  memset(out, 0, sizeof *out);
  if (!itav_is(itav, CG_OID_IT_CRL_STATUS_LIST))
    return CG_EINVAL;
  /* RFC 9483 §4.3.4: the request names at least one CRL it wants updated. */
  if (itav->value.len == 0)
    return CG_EBAD_DATA;
  cg_der_reader_view(&top, itav->value);
  if (cg_der_enter(&top, DER_SEQUENCE, &list))
    return top.err;
  if (cg_der_at_end(&list))
    cg_der_fail(&list, CG_EBAD_DATA);
  while (!cg_der_at_end(&list)) {
    if (out->n == CMP_GENM_MAX_CRL_STATUS) {
      cg_der_fail(&list, CG_EBAD_REQUEST);
      break;
    }
    if (read_crl_status(&list, &out->st[out->n]))
      break;
    out->n++;
  }
  if (cg_der_leave(&top, &list) == 0 && !cg_der_at_end(&top))
    cg_der_fail(&top, CG_EDER);
  if (top.err)
    memset(out, 0, sizeof *out);
  return top.err;
}

/* ------------------------------------------------------------ writing */

/* Opens body tag [type] and the SEQUENCE OF inside it.  Nothing is written
 * between the two, so the SEQUENCE's mark is always the body's mark plus two
 * (one tag octet, one reserved length octet), and it stays there while the
 * SEQUENCE is open: cg_der_end() moves only what follows a mark. */
static size_t begin_body(struct der_writer *w, unsigned type) {
  size_t mark = cg_der_begin(w, DER_CTX_CONS(type));
  cg_der_begin(w, DER_SEQUENCE);
  return mark;
}

static void end_body(struct der_writer *w, size_t mark) {
  cg_der_end(w, mark + 2);
  cg_der_end(w, mark);
}

/* PKIBody ::= CHOICE { ..., genm [21] GenMsgContent, genp [22] GenRepContent, ... } */
size_t cmp_genm_begin(struct der_writer *w) { return begin_body(w, CMP_GENM); }
void cmp_genm_end(struct der_writer *w, size_t mark) { end_body(w, mark); }
size_t cmp_genp_begin(struct der_writer *w) { return begin_body(w, CMP_GENP); }
void cmp_genp_end(struct der_writer *w, size_t mark) { end_body(w, mark); }

void cmp_write_itav(struct der_writer *w, struct der_view oid, struct der_view value) {
  if (!present(oid) || oid.len == 0) {
    invalid(w);
    return;
  }
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_tlv(w, DER_OID, oid.p, oid.len);
  if (present(value))
    cg_der_put_raw(w, value.p, value.len);
  cg_der_end(w, m);
}

void cmp_genm_write_body(struct der_writer *w, const struct cmp_itav *itav, size_t n) {
  size_t m = cmp_genm_begin(w);
  for (size_t i = 0; i < n; i++)
    cmp_write_itav(w, itav[i].oid,
                   itav[i].value.len > 0 ? itav[i].value : (struct der_view){NULL, 0});
  cmp_genm_end(w, m);
}

void cmp_write_itav_absent(struct der_writer *w, struct der_view oid) {
  cmp_write_itav(w, oid, (struct der_view){NULL, 0});
}

/* Opens InfoTypeAndValue { infoType id, infoValue ... }; close with cg_der_end(). */
static size_t begin_itav(struct der_writer *w, enum cg_oid_id id) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, id);
  return m;
}

/* SEQUENCE SIZE (1..MAX) OF <type>, from whole TLVs; n == 0: value absent. */
static void write_seq_value(struct der_writer *w, enum cg_oid_id id, const struct der_view *v,
                            size_t n) {
  size_t m = begin_itav(w, id);
  if (n > 0) {
    size_t seq = cg_der_begin(w, DER_SEQUENCE);
    for (size_t i = 0; i < n; i++) {
      if (!present(v[i]) || v[i].len == 0)
        invalid(w);
      else
        cg_der_put_raw(w, v[i].p, v[i].len);
    }
    cg_der_end(w, seq);
  }
  cg_der_end(w, m);
}

/* RootCaCertValue ::= CMPCertificate   (RFC 9810 §5.3.19.15; in a genm) */
void cmp_write_itav_root_ca_cert(struct der_writer *w, struct der_view cert) {
  size_t m = begin_itav(w, CG_OID_IT_ROOT_CA_CERT);
  if (present(cert))
    cg_der_put_raw(w, cert.p, cert.len);
  cg_der_end(w, m);
}

/* CRLStatusListValue ::= SEQUENCE SIZE (1..MAX) OF CRLStatus (see
 * read_crl_status() for the types; both CRLSource tags explicit). */
void cmp_write_itav_crl_status_list(struct der_writer *w, const struct cmp_crl_status *st,
                                    size_t n) {
  if (n == 0) {
    invalid(w);
    return;
  }
  size_t m = begin_itav(w, CG_OID_IT_CRL_STATUS_LIST);
  size_t list = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < n; i++) {
    if (!present(st[i].source) || st[i].source.len == 0) {
      invalid(w);
      break;
    }
    size_t cs = cg_der_begin(w, DER_SEQUENCE);
    size_t src = cg_der_begin(w, DER_CTX_CONS(st[i].kind == CMP_CRL_SOURCE_DPN ? 0 : 1));
    cg_der_put_raw(w, st[i].source.p, st[i].source.len);
    cg_der_end(w, src);
    if (st[i].has_this_update)
      cg_der_put_x509_time(w, st[i].this_update);
    cg_der_end(w, cs);
  }
  cg_der_end(w, list);
  cg_der_end(w, m);
}

/* CaCertsValue ::= SEQUENCE SIZE (1..MAX) OF CMPCertificate
 *                                           (RFC 9810 §5.3.19.14) */
void cmp_write_itav_ca_certs(struct der_writer *w, const struct der_view *certs, size_t n) {
  write_seq_value(w, CG_OID_IT_CA_CERTS, certs, n);
}

/* RootCaKeyUpdateValue ::= RootCaKeyUpdateContent   (RFC 9810 §5.3.19.15)
 * RootCaKeyUpdateContent ::= SEQUENCE {
 *     newWithNew       CMPCertificate,
 *     newWithOld   [0] CMPCertificate OPTIONAL,
 *     oldWithNew   [1] CMPCertificate OPTIONAL }
 * [0] and [1] are explicit (EXPLICIT TAGS module; CMPCertificate is a CHOICE
 * too): A0 { Certificate }, A1 { Certificate }. */
void cmp_write_itav_root_ca_key_update(struct der_writer *w, struct der_view new_with_new,
                                       struct der_view new_with_old,
                                       struct der_view old_with_new) {
  size_t m = begin_itav(w, CG_OID_IT_ROOT_CA_KEY_UPDATE);
  if (present(new_with_new)) {
    size_t seq = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_raw(w, new_with_new.p, new_with_new.len);
    if (present(new_with_old)) {
      size_t t = cg_der_begin(w, DER_CTX_CONS(0));
      cg_der_put_raw(w, new_with_old.p, new_with_old.len);
      cg_der_end(w, t);
    }
    if (present(old_with_new)) {
      size_t t = cg_der_begin(w, DER_CTX_CONS(1));
      cg_der_put_raw(w, old_with_new.p, old_with_new.len);
      cg_der_end(w, t);
    }
    cg_der_end(w, seq);
  }
  cg_der_end(w, m);
}

/* CertReqTemplateValue ::= CertReqTemplateContent   (RFC 9810 §5.3.19.16)
 * CertReqTemplateContent ::= SEQUENCE {
 *     certTemplate           CertTemplate,
 *     keySpec                Controls OPTIONAL }
 * Controls ::= SEQUENCE SIZE (1..MAX) OF AttributeTypeAndValue   (RFC 4211)
 * AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
 * id-regCtrl-algId:     AlgIdCtrl ::= AlgorithmIdentifier
 * id-regCtrl-rsaKeyLen: RsaKeyLenCtrl ::= INTEGER (1..MAX) */
void cmp_write_itav_cert_req_template(struct der_writer *w, struct der_view cert_template,
                                      const struct cmp_key_spec *key_spec, size_t n) {
  size_t m = begin_itav(w, CG_OID_IT_CERT_REQ_TEMPLATE);
  if (present(cert_template)) {
    size_t seq = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_raw(w, cert_template.p, cert_template.len);
    if (n > 0) {
      size_t ctrls = cg_der_begin(w, DER_SEQUENCE);
      for (size_t i = 0; i < n; i++) {
        const struct cmp_key_spec *k = &key_spec[i];
        size_t atv = cg_der_begin(w, DER_SEQUENCE);
        if (k->kind == CMP_KEY_SPEC_ALG_ID && present(k->alg_id) && k->alg_id.len > 0) {
          cg_der_put_tlv(w, DER_OID, oid_reg_ctrl_alg_id, sizeof oid_reg_ctrl_alg_id);
          cg_der_put_raw(w, k->alg_id.p, k->alg_id.len);
        } else if (k->kind == CMP_KEY_SPEC_RSA_KEY_LEN && k->rsa_key_len > 0) {
          cg_der_put_tlv(w, DER_OID, oid_reg_ctrl_rsa_key_len, sizeof oid_reg_ctrl_rsa_key_len);
          cg_der_put_uint64(w, DER_INTEGER, k->rsa_key_len);
        } else {
          invalid(w);
        }
        cg_der_end(w, atv);
      }
      cg_der_end(w, ctrls);
    }
    cg_der_end(w, seq);
  }
  cg_der_end(w, m);
}

/* SignKeyPairTypesValue ::= SEQUENCE SIZE (1..MAX) OF AlgorithmIdentifier
 *                                           (RFC 9810 §5.3.19.2) */
void cmp_write_itav_sign_key_pair_types(struct der_writer *w, const struct der_view *algs,
                                        size_t n) {
  write_seq_value(w, CG_OID_IT_SIGN_KEY_PAIR_TYPES, algs, n);
}

/* CRLsValue ::= SEQUENCE SIZE (1..MAX) OF CertificateList
 *                                           (RFC 9810 §5.3.19.17) */
void cmp_write_itav_crls(struct der_writer *w, const struct der_view *crls, size_t n) {
  write_seq_value(w, CG_OID_IT_CRLS, crls, n);
}
