/*
 * decode.c - strict decoding of PKIMessage, PKIHeader and the bodies the
 * gateway handles (RFC 9810 §5.1, RFC 4211), into the views of cmp/msg.h.
 * The PKIX-CMP module uses EXPLICIT tags; CRMF (RFC 4211) uses IMPLICIT tags.
 * Every element of a decoded body lands in the model (as a value or a view),
 * so that cmp/msg_encode.c can write the message back byte for byte.
 */
#include "cmp/msg.h"

#include <string.h>

#include "core/err.h"
#include "core/oid.h"

static const char *const body_names[] = {
#define X(name, tag, text) [tag] = text,
    CMP_BODY_MAP(X)
#undef X
};

const char *cmp_body_name(int type) {
  if (type < 0 || type >= (int)(sizeof body_names / sizeof body_names[0]))
    return "unknown";
  return body_names[type];
}

/* A reader error from the DER layer stays a DER error; structure problems
 * found here are CG_EBAD_DATA. */
static int bad(struct der_reader *r) { return cg_der_fail(r, CG_EBAD_DATA); }

static int read_int64(struct der_reader *r, int64_t *out) {
  struct der_tlv t;
  *out = 0; /* defined on failure too: callers check the reader's error once */
  if (cg_der_expect(r, DER_INTEGER, &t))
    return r->err;
  if (cg_der_check_integer(t.val) || t.val.len > 8)
    return cg_der_fail(r, CG_EDER);
  int64_t v = (t.val.p[0] & 0x80) ? -1 : 0;
  for (size_t i = 0; i < t.val.len; i++)
    v = (int64_t)(((uint64_t)v << 8) | t.val.p[i]);
  *out = v;
  return 0;
}

int cmp_read_alg_id(struct der_view alg, struct der_view *oid, struct der_view *params) {
  struct der_reader top, r;
  struct der_tlv t;
  cg_der_reader_view(&top, alg);
  cg_der_enter(&top, DER_SEQUENCE, &r);
  cg_der_expect(&r, DER_OID, &t);
  if (r.err == 0 && cg_der_check_oid(t.val))
    cg_der_fail(&r, CG_EDER);
  *oid = t.val;
  params->p = NULL;
  params->len = 0;
  if (!cg_der_at_end(&r) && cg_der_next(&r, &t) == 0)
    *params = t.raw;
  cg_der_leave(&top, &r);
  if (top.err == 0 && !cg_der_at_end(&top))
    cg_der_fail(&top, CG_EDER);
  return top.err;
}

/* messageTime: DER GeneralizedTime, which X.690 §11.7 lets carry fractional
 * seconds (no trailing zeros, '.' as the mark); some clients send
 * milliseconds.  The fraction is dropped. */
static int read_message_time(struct der_view v, int64_t *out) {
  uint8_t whole[15];
  if (v.len > 16 && v.p[14] == '.' && v.p[v.len - 1] == 'Z' && v.p[v.len - 2] != '0') {
    for (size_t i = 15; i < v.len - 1; i++)
      if (v.p[i] < '0' || v.p[i] > '9')
        return CG_EDER;
    memcpy(whole, v.p, 14);
    whole[14] = 'Z';
    v = (struct der_view){whole, sizeof whole};
  }
  return cg_der_get_time(DER_GENERALIZED_TIME, v, out);
}

/* GeneralName ::= CHOICE { ..., directoryName [4] Name, ... } (implicit module,
 * but Name is a CHOICE, so [4] is explicit). */
static int read_general_name(struct der_reader *r, struct der_view *whole, struct der_view *dn) {
  struct der_tlv t;
  if (cg_der_next(r, &t))
    return r->err;
  /* RFC 5280 §4.2.1.6: otherName [0], x400Address [3], directoryName [4] and
   * ediPartyName [5] are constructed; the string and octet forms primitive. */
  static const uint8_t forms[9] = {0xa0, 0x81, 0x82, 0xa3, 0xa4, 0xa5, 0x86, 0x87, 0x88};
  if ((t.tag & 0xc0) != 0x80 || (t.tag & 0x1f) > 8 || forms[t.tag & 0x1f] != t.tag)
    return bad(r);
  *whole = t.raw;
  dn->p = NULL;
  dn->len = 0;
  if (t.tag == DER_CTX_CONS(4)) {
    struct der_reader in;
    cg_der_reader_view(&in, t.val);
    in.depth = r->depth + 1;
    struct der_tlv n;
    if (cg_der_expect(&in, DER_SEQUENCE, &n) || !cg_der_at_end(&in))
      return cg_der_fail(r, CG_EDER);
    *dn = n.raw;
  }
  return 0;
}

static int read_status_info(struct der_reader *r, struct cmp_status_info *si) {
  struct der_reader s;
  struct der_tlv t;
  int64_t status;
  memset(si, 0, sizeof *si);
  if (cg_der_enter(r, DER_SEQUENCE, &s))
    return r->err;
  read_int64(&s, &status);
  si->status = (int)status;
  if (s.err == 0 && (status < 0 || status > 6))
    bad(&s);
  if (cg_der_optional(&s, DER_SEQUENCE, &t) == 1)
    si->status_string = t.raw;
  if (cg_der_optional(&s, DER_BIT_STRING, &t) == 1) {
    si->has_fail_info = true;
    /* RFC 9810 §5.2.3 defines bits 0..26; DER trims trailing zero bits, so
     * more than 4 value octets means a bit beyond what the model keeps. */
    if (cg_der_get_named_bits(t.val, &si->fail_info))
      cg_der_fail(&s, CG_EDER);
    else if (t.val.len > 5)
      bad(&s);
  }
  return cg_der_leave(r, &s);
}

static int read_header(struct der_reader *r, struct cmp_header *h) {
  struct der_reader hr, x;
  struct der_tlv t;
  if (cg_der_expect(r, DER_SEQUENCE, &t))
    return r->err;
  h->raw = t.raw;
  cg_der_reader_view(&hr, t.val);
  hr.depth = r->depth + 1;

  cg_der_expect(&hr, DER_INTEGER, &t);
  if (hr.err == 0 && cg_der_get_uint64(t.val, &h->pvno))
    cg_der_fail(&hr, CG_EDER);
  read_general_name(&hr, &h->sender, &h->sender_dn);
  read_general_name(&hr, &h->recipient, &h->recipient_dn);

  if (cg_der_enter_optional(&hr, DER_CTX_CONS(0), &x) == 1) {
    if (cg_der_expect(&x, DER_GENERALIZED_TIME, &t) == 0 &&
        read_message_time(t.val, &h->message_time))
      cg_der_fail(&x, CG_EDER);
    h->message_time_str = t.val;
    h->has_message_time = x.err == 0;
    cg_der_leave(&hr, &x);
  }
  if (cg_der_enter_optional(&hr, DER_CTX_CONS(1), &x) == 1) {
    struct der_view params;
    if (cg_der_expect(&x, DER_SEQUENCE, &t) == 0) {
      h->protection_alg = t.raw;
      if (cmp_read_alg_id(t.raw, &h->protection_oid, &params))
        cg_der_fail(&x, CG_EDER);
    }
    cg_der_leave(&hr, &x);
  }
  struct der_view *octets[] = {&h->sender_kid, &h->recip_kid, &h->transaction_id,
                               &h->sender_nonce, &h->recip_nonce};
  for (unsigned i = 0; i < 5; i++) {
    if (cg_der_enter_optional(&hr, DER_CTX_CONS(2 + i), &x) == 1) {
      if (cg_der_expect(&x, DER_OCTET_STRING, &t) == 0)
        *octets[i] = t.val;
      cg_der_leave(&hr, &x);
    }
  }
  if (cg_der_enter_optional(&hr, DER_CTX_CONS(7), &x) == 1) {
    if (cg_der_expect(&x, DER_SEQUENCE, &t) == 0)
      h->free_text = t.raw;
    cg_der_leave(&hr, &x);
  }
  if (cg_der_enter_optional(&hr, DER_CTX_CONS(8), &x) == 1) {
    struct der_reader seq;
    if (cg_der_enter(&x, DER_SEQUENCE, &seq) == 0) {
      if (cg_der_at_end(&seq))
        bad(&seq); /* SIZE (1..MAX) */
      while (seq.err == 0 && !cg_der_at_end(&seq)) {
        struct der_reader itav;
        if (h->n_general_info == CMP_MAX_ITAV) {
          cg_der_fail(&seq, CG_EBAD_REQUEST);
          break;
        }
        struct cmp_itav *it = &h->general_info[h->n_general_info++];
        if (cg_der_enter(&seq, DER_SEQUENCE, &itav))
          break;
        if (cg_der_expect(&itav, DER_OID, &t) == 0) {
          if (cg_der_check_oid(t.val))
            cg_der_fail(&itav, CG_EDER);
          it->oid = t.val;
        }
        if (!cg_der_at_end(&itav) && cg_der_next(&itav, &t) == 0)
          it->value = t.raw;
        cg_der_leave(&seq, &itav);
        enum cg_oid_id id = cg_oid_lookup(it->oid);
        if (id == CG_OID_IMPLICIT_CONFIRM) {
          /* RFC 9810 §5.1.1.1: ImplicitConfirmValue ::= NULL. */
          if (it->value.p != NULL && !(it->value.len == 2 && it->value.p[0] == DER_NULL &&
                                       it->value.p[1] == 0))
            cg_der_fail(&seq, CG_EBAD_DATA);
          h->implicit_confirm = true;
        } else if (id == CG_OID_CONFIRM_WAIT_TIME) {
          /* RFC 9810 §5.1.1.2: ConfirmWaitTimeValue ::= GeneralizedTime. */
          struct der_reader v;
          struct der_tlv gt;
          int64_t when;
          cg_der_reader_view(&v, it->value);
          if (it->value.p == NULL || cg_der_expect(&v, DER_GENERALIZED_TIME, &gt) != 0 ||
              !cg_der_at_end(&v) || cg_der_get_time(DER_GENERALIZED_TIME, gt.val, &when) != 0)
            cg_der_fail(&seq, CG_EBAD_DATA);
        }
      }
      cg_der_leave(&x, &seq);
    }
    cg_der_leave(&hr, &x);
  }
  return cg_der_leave(r, &hr);
}

/* OptionalValidity ::= SEQUENCE { notBefore [0] Time OPTIONAL, notAfter [1] Time OPTIONAL }
 * Time is a CHOICE, so [0] and [1] are explicit. */
static void read_optional_validity(struct der_reader *v, struct cmp_cert_template *ct) {
  struct der_reader x;
  struct der_tlv t;
  for (unsigned i = 0; i < 2; i++) {
    if (cg_der_enter_optional(v, DER_CTX_CONS(i), &x) == 1) {
      int64_t when = 0;
      if (cg_der_next(&x, &t) == 0 &&
          ((t.tag != DER_UTC_TIME && t.tag != DER_GENERALIZED_TIME) ||
           cg_der_get_time(t.tag, t.val, &when)))
        cg_der_fail(&x, CG_EDER);
      if (i == 0) {
        ct->has_not_before = true;
        ct->not_before = when;
        ct->not_before_tag = t.tag;
      } else {
        ct->has_not_after = true;
        ct->not_after = when;
        ct->not_after_tag = t.tag;
      }
      cg_der_leave(v, &x);
    }
  }
}

/* CertTemplate ::= SEQUENCE { version [0] Version OPTIONAL, serialNumber [1] INTEGER OPTIONAL,
 *   signingAlg [2] AlgorithmIdentifier OPTIONAL, issuer [3] Name OPTIONAL,
 *   validity [4] OptionalValidity OPTIONAL, subject [5] Name OPTIONAL,
 *   publicKey [6] SubjectPublicKeyInfo OPTIONAL, issuerUID [7] UniqueIdentifier OPTIONAL,
 *   subjectUID [8] UniqueIdentifier OPTIONAL, extensions [9] Extensions OPTIONAL } */
static int read_template(struct der_reader *r, struct cmp_cert_template *ct) {
  struct der_reader tr, x;
  struct der_tlv t;
  if (cg_der_expect(r, DER_SEQUENCE, &t))
    return r->err;
  ct->raw = t.raw;
  ct->version = -1;
  cg_der_reader_view(&tr, t.val);
  tr.depth = r->depth + 1;
  uint64_t v;
  if (cg_der_optional(&tr, DER_CTX(0), &t) == 1) {
    if (cg_der_get_uint64(t.val, &v) || v > 2)
      cg_der_fail(&tr, CG_EDER);
    ct->version = (int)v;
  }
  if (cg_der_optional(&tr, DER_CTX(1), &t) == 1) {
    if (cg_der_check_integer(t.val))
      cg_der_fail(&tr, CG_EDER);
    ct->serial = t.val;
  }
  if (cg_der_optional(&tr, DER_CTX_CONS(2), &t) == 1)
    ct->signing_alg = t.raw;
  if (cg_der_enter_optional(&tr, DER_CTX_CONS(3), &x) == 1) {
    if (cg_der_expect(&x, DER_SEQUENCE, &t) == 0)
      ct->issuer = t.raw;
    cg_der_leave(&tr, &x);
  }
  if (cg_der_enter_optional(&tr, DER_CTX_CONS(4), &x) == 1) {
    ct->has_validity = true;
    read_optional_validity(&x, ct);
    cg_der_leave(&tr, &x);
  }
  if (cg_der_enter_optional(&tr, DER_CTX_CONS(5), &x) == 1) {
    if (cg_der_expect(&x, DER_SEQUENCE, &t) == 0)
      ct->subject = t.raw;
    cg_der_leave(&tr, &x);
  }
  if (cg_der_enter_optional(&tr, DER_CTX_CONS(6), &x) == 1) {
    /* SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
     *                                     subjectPublicKey BIT STRING } */
    ct->public_key.p = x.p;
    ct->public_key.len = (size_t)(x.end - x.p);
    struct der_view bits;
    unsigned unused;
    cg_der_expect(&x, DER_SEQUENCE, &t);
    if (cg_der_expect(&x, DER_BIT_STRING, &t) == 0 && cg_der_get_bit_string(t.val, &bits, &unused))
      cg_der_fail(&x, CG_EDER);
    cg_der_leave(&tr, &x);
  }
  /* UniqueIdentifier ::= BIT STRING (RFC 5280 §4.1.2.8) */
  struct der_view *uids[] = {&ct->issuer_uid, &ct->subject_uid};
  for (unsigned i = 0; i < 2; i++) {
    if (cg_der_optional(&tr, DER_CTX(7 + i), &t) == 1) {
      struct der_view bits;
      unsigned unused;
      if (cg_der_get_bit_string(t.val, &bits, &unused))
        cg_der_fail(&tr, CG_EDER);
      *uids[i] = t.val;
    }
  }
  if (cg_der_enter_optional(&tr, DER_CTX_CONS(9), &x) == 1) {
    ct->extensions.p = x.p;
    ct->extensions.len = (size_t)(x.end - x.p);
    while (x.err == 0 && !cg_der_at_end(&x))
      cg_der_expect(&x, DER_SEQUENCE, &t);
    cg_der_leave(&tr, &x);
  }
  return cg_der_leave(r, &tr);
}

/* ProofOfPossession ::= CHOICE { raVerified [0] NULL, signature [1] POPOSigningKey,
 *   keyEncipherment [2] POPOPrivKey, keyAgreement [3] POPOPrivKey } */
static int read_pop(struct der_reader *r, struct cmp_cert_req *cr) {
  struct der_tlv t;
  if (cg_der_next(r, &t))
    return r->err;
  switch (t.tag) {
  case DER_CTX(0):
    cr->pop = CMP_POP_RA_VERIFIED;
    return t.val.len == 0 ? 0 : cg_der_fail(r, CG_EDER);
  case DER_CTX_CONS(1): {
    struct der_reader s;
    cg_der_reader_view(&s, t.val);
    s.depth = r->depth + 1;
    cr->pop = CMP_POP_SIGNATURE;
    if (cg_der_optional(&s, DER_CTX_CONS(0), &t) == 1) {
      cr->pop_has_input = true;
      cr->pop_input = t.raw;
    }
    if (cg_der_expect(&s, DER_SEQUENCE, &t) == 0) {
      cr->pop_alg = t.raw;
      if (cmp_read_alg_id(t.raw, &cr->pop_alg_oid, &cr->pop_alg_params))
        cg_der_fail(&s, CG_EDER);
    }
    unsigned unused;
    if (cg_der_expect(&s, DER_BIT_STRING, &t) == 0 &&
        (cg_der_get_bit_string(t.val, &cr->pop_sig, &unused) || unused != 0))
      cg_der_fail(&s, CG_EDER);
    return cg_der_leave(r, &s);
  }
  case DER_CTX_CONS(2):
  case DER_CTX_CONS(3): {
    /* POPOPrivKey is a CHOICE: the tag is explicit around one element. */
    struct der_reader k;
    struct der_tlv in;
    cg_der_reader_view(&k, t.val);
    k.depth = r->depth + 1;
    cr->pop = t.tag == DER_CTX_CONS(2) ? CMP_POP_KEY_ENC : CMP_POP_KEY_AGREE;
    if (cg_der_next(&k, &in) == 0)
      cr->pop_priv_key = in.raw;
    if (k.err == 0 && !cg_der_at_end(&k))
      cg_der_fail(&k, CG_EDER);
    return k.err ? cg_der_fail(r, k.err) : 0;
  }
  default:
    return bad(r);
  }
}

static int read_cert_req_msg(struct der_reader *r, struct cmp_cert_req *cr) {
  struct der_reader m, req, ctl;
  struct der_tlv t;
  memset(cr, 0, sizeof *cr);
  cr->pop = CMP_POP_NONE;
  if (cg_der_enter(r, DER_SEQUENCE, &m))
    return r->err;
  if (cg_der_expect(&m, DER_SEQUENCE, &t) == 0) {
    cr->cert_request = t.raw;
    cg_der_reader_view(&req, t.val);
    req.depth = m.depth + 1;
    read_int64(&req, &cr->cert_req_id);
    read_template(&req, &cr->tmpl);
    if (cg_der_enter_optional(&req, DER_SEQUENCE, &ctl) == 1) {
      cr->controls.p = ctl.p;
      cr->controls.len = (size_t)(ctl.end - ctl.p);
      /* Controls ::= SEQUENCE SIZE(1..MAX) OF AttributeTypeAndValue
       * AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
       * A control the gateway reads may appear once: two regTokens would leave
       * it unclear which one was checked. */
      if (cg_der_at_end(&ctl))
        bad(&ctl);
      while (ctl.err == 0 && !cg_der_at_end(&ctl)) {
        struct der_reader atv;
        if (cr->n_controls == CMP_MAX_CONTROLS) {
          cg_der_fail(&ctl, CG_EBAD_REQUEST);
          break;
        }
        struct cmp_itav *c = &cr->control[cr->n_controls++];
        if (cg_der_enter(&ctl, DER_SEQUENCE, &atv))
          break;
        if (cg_der_expect(&atv, DER_OID, &t) == 0 && cg_der_check_oid(t.val))
          cg_der_fail(&atv, CG_EDER);
        c->oid = t.val;
        /* RFC 4211 §6: each control says one thing; one given twice
         * (regToken, authenticator, publicationInfo, ...) is ambiguous. */
        for (size_t k = 0; atv.err == 0 && k + 1 < cr->n_controls; k++)
          if (cg_der_view_eq(cr->control[k].oid, c->oid))
            bad(&atv);
        enum cg_oid_id ctl_id = atv.err == 0 ? cg_oid_lookup(t.val) : CG_OID_UNKNOWN;
        if (cg_der_next(&atv, &t) == 0)
          c->value = t.raw;
        if (atv.err == 0 && ctl_id == CG_OID_REG_TOKEN) {
          if (t.tag != DER_UTF8_STRING || cr->reg_token.p != NULL)
            bad(&atv);
          cr->reg_token = t.val;
        } else if (atv.err == 0 && ctl_id == CG_OID_REG_OLD_CERT_ID) {
          if (cr->old_cert_issuer.p != NULL)
            bad(&atv);
          struct der_reader id;
          struct der_view dn;
          cg_der_reader_view(&id, t.raw);
          id.depth = atv.depth + 1;
          struct der_reader in;
          if (cg_der_enter(&id, DER_SEQUENCE, &in) == 0) {
            read_general_name(&in, &cr->old_cert_issuer, &dn);
            if (cg_der_expect(&in, DER_INTEGER, &t) == 0) {
              if (cg_der_check_integer(t.val))
                cg_der_fail(&in, CG_EDER);
              cr->old_cert_serial = t.val;
            }
            cg_der_leave(&id, &in);
          }
          if (id.err)
            cg_der_fail(&atv, id.err);
        }
        cg_der_leave(&ctl, &atv);
      }
      cg_der_leave(&req, &ctl);
    }
    cg_der_leave(&m, &req);
  }
  if (m.err == 0 && !cg_der_at_end(&m) && cg_der_peek_tag(&m) != DER_SEQUENCE)
    read_pop(&m, cr);
  if (cg_der_optional(&m, DER_SEQUENCE, &t) == 1)
    cr->reg_info = t.val;
  return cg_der_leave(r, &m);
}

static int read_cert_req_messages(struct der_reader *r, struct cmp_msg *msg) {
  struct der_reader seq;
  if (cg_der_enter(r, DER_SEQUENCE, &seq))
    return r->err;
  if (cg_der_at_end(&seq))
    bad(&seq);
  while (seq.err == 0 && !cg_der_at_end(&seq)) {
    if (msg->u.cert_req.n == CMP_MAX_REQS)
      return cg_der_fail(r, cg_der_fail(&seq, CG_EBAD_REQUEST));
    read_cert_req_msg(&seq, &msg->u.cert_req.req[msg->u.cert_req.n++]);
  }
  return cg_der_leave(r, &seq);
}

static int read_cert_conf(struct der_reader *r, struct cmp_msg *msg) {
  struct der_reader seq, cs, x;
  struct der_tlv t;
  if (cg_der_enter(r, DER_SEQUENCE, &seq))
    return r->err;
  /* CertConfirmContent ::= SEQUENCE OF CertStatus (may be empty: all rejected) */
  while (seq.err == 0 && !cg_der_at_end(&seq)) {
    if (msg->u.cert_conf.n == CMP_MAX_REQS)
      return cg_der_fail(r, cg_der_fail(&seq, CG_EBAD_REQUEST));
    struct cmp_cert_status *st = &msg->u.cert_conf.st[msg->u.cert_conf.n++];
    if (cg_der_enter(&seq, DER_SEQUENCE, &cs))
      break;
    if (cg_der_expect(&cs, DER_OCTET_STRING, &t) == 0)
      st->cert_hash = t.val;
    read_int64(&cs, &st->cert_req_id);
    if (cs.err == 0 && cg_der_peek_tag(&cs) == DER_SEQUENCE) {
      st->has_status = true;
      read_status_info(&cs, &st->status);
    }
    if (cg_der_enter_optional(&cs, DER_CTX_CONS(0), &x) == 1) {
      struct der_view params;
      if (cg_der_expect(&x, DER_SEQUENCE, &t) == 0) {
        st->hash_alg = t.raw;
        if (cmp_read_alg_id(t.raw, &st->hash_alg_oid, &params))
          cg_der_fail(&x, CG_EDER);
      }
      cg_der_leave(&cs, &x);
    }
    cg_der_leave(&seq, &cs);
  }
  return cg_der_leave(r, &seq);
}

/* CertifiedKeyPair ::= SEQUENCE { certOrEncCert CertOrEncCert,
 *   privateKey [0] EncryptedKey OPTIONAL, publicationInfo [1] PKIPublicationInfo OPTIONAL }
 * CertOrEncCert ::= CHOICE { certificate [0] CMPCertificate, encryptedCert [1] EncryptedKey }
 * (RFC 9810 §5.3.4, explicit tags: each [n] holds one element.) */
static int read_cert_key_pair(struct der_reader *r, struct cmp_cert_response *cr) {
  struct der_reader ckp, c;
  struct der_tlv t;
  if (cg_der_enter(r, DER_SEQUENCE, &ckp))
    return r->err;
  if (cg_der_enter_optional(&ckp, DER_CTX_CONS(0), &c) == 1) {
    if (cg_der_expect(&c, DER_SEQUENCE, &t) == 0)
      cr->cert = t.raw;
    cg_der_leave(&ckp, &c);
  } else if (cg_der_enter_optional(&ckp, DER_CTX_CONS(1), &c) == 1) {
    if (cg_der_next(&c, &t) == 0)
      cr->enc_cert = t.raw;
    cg_der_leave(&ckp, &c);
  } else {
    bad(&ckp);
  }
  if (cg_der_optional(&ckp, DER_CTX_CONS(0), &t) == 1)
    cr->private_key = t.raw;
  if (cg_der_optional(&ckp, DER_CTX_CONS(1), &t) == 1)
    cr->publication_info = t.raw;
  return cg_der_leave(r, &ckp);
}

/* CertRepMessage ::= SEQUENCE { caPubs [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate
 *   OPTIONAL, response SEQUENCE OF CertResponse }
 * CertResponse ::= SEQUENCE { certReqId INTEGER, status PKIStatusInfo,
 *   certifiedKeyPair CertifiedKeyPair OPTIONAL, rspInfo OCTET STRING OPTIONAL }
 * (RFC 9810 §5.3.4) */
static int read_cert_rep(struct der_reader *r, struct cmp_msg *msg) {
  struct der_reader rep, x, seq, rsp;
  struct der_tlv t;
  if (cg_der_enter(r, DER_SEQUENCE, &rep))
    return r->err;
  if (cg_der_enter_optional(&rep, DER_CTX_CONS(1), &x) == 1) {
    if (cg_der_enter(&x, DER_SEQUENCE, &seq) == 0) {
      if (cg_der_at_end(&seq))
        bad(&seq);
      while (seq.err == 0 && !cg_der_at_end(&seq)) {
        if (msg->u.cert_rep.n_ca_pubs == CMP_MAX_EXTRA_CERTS) {
          cg_der_fail(&seq, CG_EBAD_REQUEST);
          break;
        }
        if (cg_der_expect(&seq, DER_SEQUENCE, &t) == 0)
          msg->u.cert_rep.ca_pubs[msg->u.cert_rep.n_ca_pubs++] = t.raw;
      }
      cg_der_leave(&x, &seq);
    }
    cg_der_leave(&rep, &x);
  }
  if (cg_der_enter(&rep, DER_SEQUENCE, &seq) == 0) {
    while (seq.err == 0 && !cg_der_at_end(&seq)) {
      if (msg->u.cert_rep.n == CMP_MAX_REQS) {
        cg_der_fail(&seq, CG_EBAD_REQUEST);
        break;
      }
      struct cmp_cert_response *cr = &msg->u.cert_rep.rsp[msg->u.cert_rep.n++];
      if (cg_der_enter(&seq, DER_SEQUENCE, &rsp))
        break;
      read_int64(&rsp, &cr->cert_req_id);
      read_status_info(&rsp, &cr->status);
      if (rsp.err == 0 && cg_der_peek_tag(&rsp) == DER_SEQUENCE)
        read_cert_key_pair(&rsp, cr);
      if (cg_der_optional(&rsp, DER_OCTET_STRING, &t) == 1)
        cr->rsp_info = t.val;
      cg_der_leave(&seq, &rsp);
    }
    cg_der_leave(&rep, &seq);
  }
  return cg_der_leave(r, &rep);
}

/* ErrorMsgContent ::= SEQUENCE { pKIStatusInfo PKIStatusInfo,
 *   errorCode INTEGER OPTIONAL, errorDetails PKIFreeText OPTIONAL } */
static int read_error(struct der_reader *r, struct cmp_msg *msg) {
  struct der_reader e;
  struct der_tlv t;
  if (cg_der_enter(r, DER_SEQUENCE, &e))
    return r->err;
  read_status_info(&e, &msg->u.error.status);
  if (e.err == 0 && cg_der_peek_tag(&e) == DER_INTEGER) {
    msg->u.error.has_error_code = true;
    read_int64(&e, &msg->u.error.error_code);
  }
  if (cg_der_optional(&e, DER_SEQUENCE, &t) == 1)
    msg->u.error.details = t.raw;
  return cg_der_leave(r, &e);
}

/* The CRLReason of crlEntryDetails (RFC 5280 §5.3.1: reasonCode ::=
 * ENUMERATED, in an OCTET STRING); d->reason -1 when absent.
 *   Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension
 *   Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER,
 *     critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 * DER leaves a FALSE critical out (X.690 §11.5), and an extension appears
 * once at most (RFC 5280 §4.2). */
static int read_reason(struct der_view exts, struct cmp_rev_details *d) {
  struct der_reader r, ext, val;
  struct der_tlv t, whole;
  d->reason = -1;
  cg_der_reader_view(&r, exts);
  if (cg_der_at_end(&r))
    bad(&r);
  while (r.err == 0 && !cg_der_at_end(&r)) {
    struct der_reader peek = r;
    cg_der_next(&peek, &whole);
    if (cg_der_enter(&r, DER_SEQUENCE, &ext))
      break;
    cg_der_expect(&ext, DER_OID, &t);
    bool is_reason = ext.err == 0 && cg_oid_lookup(t.val) == CG_OID_EXT_CRL_REASON;
    bool critical = false;
    if (cg_der_optional(&ext, DER_BOOLEAN, &t) == 1 &&
        (cg_der_get_bool(t.val, &critical) || !critical))
      cg_der_fail(&ext, CG_EDER);
    if (cg_der_expect(&ext, DER_OCTET_STRING, &t) == 0 && is_reason) {
      uint64_t v;
      cg_der_reader_view(&val, t.val);
      if (cg_der_expect(&val, DER_ENUMERATED, &t) || !cg_der_at_end(&val) ||
          cg_der_get_uint64(t.val, &v) || v > 100 || d->reason_ext.p != NULL) {
        cg_der_fail(&ext, CG_EDER);
      } else {
        d->reason = (int)v;
        d->reason_critical = critical;
        d->reason_ext = whole.raw;
      }
    }
    cg_der_leave(&r, &ext);
  }
  return r.err;
}

static int read_rev_req(struct der_reader *r, struct cmp_msg *msg) {
  struct der_reader seq, rd;
  struct der_tlv t;
  if (cg_der_enter(r, DER_SEQUENCE, &seq))
    return r->err;
  if (cg_der_at_end(&seq))
    bad(&seq);
  while (seq.err == 0 && !cg_der_at_end(&seq)) {
    if (msg->u.rev_req.n == CMP_MAX_REQS)
      return cg_der_fail(r, cg_der_fail(&seq, CG_EBAD_REQUEST));
    struct cmp_rev_details *d = &msg->u.rev_req.rd[msg->u.rev_req.n++];
    d->reason = -1;
    if (cg_der_enter(&seq, DER_SEQUENCE, &rd))
      break;
    read_template(&rd, &d->tmpl);
    if (cg_der_optional(&rd, DER_SEQUENCE, &t) == 1) {
      d->crl_entry_details = t.val;
      int err = read_reason(t.val, d);
      if (err)
        cg_der_fail(&rd, err == CG_EBAD_DATA ? err : CG_EDER);
    }
    cg_der_leave(&seq, &rd);
  }
  return cg_der_leave(r, &seq);
}

static int read_rev_rep(struct der_reader *r, struct cmp_msg *msg) {
  struct der_reader rep, seq;
  struct der_tlv t;
  if (cg_der_enter(r, DER_SEQUENCE, &rep))
    return r->err;
  if (cg_der_enter(&rep, DER_SEQUENCE, &seq) == 0) {
    while (seq.err == 0 && !cg_der_at_end(&seq)) {
      if (msg->u.rev_rep.n == CMP_MAX_REQS) {
        cg_der_fail(&seq, CG_EBAD_REQUEST);
        break;
      }
      read_status_info(&seq, &msg->u.rev_rep.status[msg->u.rev_rep.n++]);
    }
    cg_der_leave(&rep, &seq);
  }
  if (cg_der_optional(&rep, DER_CTX_CONS(0), &t) == 1)
    msg->u.rev_rep.rev_certs = t.raw;
  if (cg_der_optional(&rep, DER_CTX_CONS(1), &t) == 1)
    msg->u.rev_rep.crls = t.raw;
  return cg_der_leave(r, &rep);
}

/* PollReqContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER }
 * (RFC 9810 §5.3.22) */
static int read_poll_req(struct der_reader *r, struct cmp_msg *msg) {
  struct der_reader seq, one;
  if (cg_der_enter(r, DER_SEQUENCE, &seq))
    return r->err;
  while (seq.err == 0 && !cg_der_at_end(&seq)) {
    if (msg->u.poll_req.n == CMP_MAX_REQS)
      return cg_der_fail(r, cg_der_fail(&seq, CG_EBAD_REQUEST));
    if (cg_der_enter(&seq, DER_SEQUENCE, &one))
      break;
    read_int64(&one, &msg->u.poll_req.cert_req_id[msg->u.poll_req.n++]);
    cg_der_leave(&seq, &one);
  }
  return cg_der_leave(r, &seq);
}

/* PollRepContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER,
 *   checkAfter INTEGER, -- time in seconds
 *   reason PKIFreeText OPTIONAL }                      (RFC 9810 §5.3.22) */
static int read_poll_rep(struct der_reader *r, struct cmp_msg *msg) {
  struct der_reader seq, one;
  struct der_tlv t;
  if (cg_der_enter(r, DER_SEQUENCE, &seq))
    return r->err;
  while (seq.err == 0 && !cg_der_at_end(&seq)) {
    if (msg->u.poll_rep.n == CMP_MAX_REQS)
      return cg_der_fail(r, cg_der_fail(&seq, CG_EBAD_REQUEST));
    struct cmp_poll_rep *pr = &msg->u.poll_rep.rep[msg->u.poll_rep.n++];
    if (cg_der_enter(&seq, DER_SEQUENCE, &one))
      break;
    read_int64(&one, &pr->cert_req_id);
    if (read_int64(&one, &pr->check_after) == 0 && pr->check_after < 0)
      bad(&one);
    if (cg_der_optional(&one, DER_SEQUENCE, &t) == 1)
      pr->reason = t.raw;
    cg_der_leave(&seq, &one);
  }
  return cg_der_leave(r, &seq);
}

/* PKIMessage ::= SEQUENCE { header PKIHeader, body PKIBody,
 *   protection [0] PKIProtection OPTIONAL,
 *   extraCerts [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL } */
int cmp_msg_decode(const uint8_t *p, size_t len, struct cmp_msg *msg) {
  struct der_reader top, m, b, x, seq;
  struct der_tlv t;
  memset(msg, 0, sizeof *msg);
  msg->type = -1;
  cg_der_reader_init(&top, p, len);
  if (cg_der_enter(&top, DER_SEQUENCE, &m))
    return top.err;
  if (!cg_der_at_end(&top))
    return cg_der_fail(&top, CG_EDER);
  msg->raw.p = p;
  msg->raw.len = len;
  if (read_header(&m, &msg->hdr))
    return m.err;
  msg->header_ok = true;

  if (cg_der_next(&m, &t))
    return m.err;
  if ((t.tag & 0xe0) != 0xa0 || (t.tag & 0x1f) > CMP_POLLREP)
    return bad(&m);
  msg->type = (int)(t.tag & 0x1f);
  msg->body = t.raw;
  cg_der_reader_view(&b, t.val);
  b.depth = m.depth + 1;
  if (cg_der_peek_tag(&b) < 0)
    return cg_der_fail(&m, CG_EDER);
  {
    struct der_reader peek = b;
    cg_der_next(&peek, &t);
    msg->content = t.raw;
  }
  switch (msg->type) {
  case CMP_IR:
  case CMP_CR:
  case CMP_KUR:
    read_cert_req_messages(&b, msg);
    break;
  case CMP_IP:
  case CMP_CP:
  case CMP_KUP:
    read_cert_rep(&b, msg);
    break;
  case CMP_CERTCONF:
    read_cert_conf(&b, msg);
    break;
  case CMP_ERROR:
    read_error(&b, msg);
    break;
  case CMP_RR:
    read_rev_req(&b, msg);
    break;
  case CMP_RP:
    read_rev_rep(&b, msg);
    break;
  case CMP_POLLREQ:
    read_poll_req(&b, msg);
    break;
  case CMP_POLLREP:
    read_poll_rep(&b, msg);
    break;
  case CMP_PKICONF:
    cg_der_expect(&b, DER_NULL, &t);
    if (b.err == 0 && t.val.len != 0)
      cg_der_fail(&b, CG_EDER);
    break;
  default:
    /* Other bodies are checked to be one element and left undecoded. */
    cg_der_next(&b, &t);
    break;
  }
  if (cg_der_leave(&m, &b))
    return m.err;

  if (cg_der_optional(&m, DER_CTX_CONS(0), &t) == 1) {
    struct der_reader pr;
    unsigned unused;
    cg_der_reader_view(&pr, t.val);
    if (cg_der_expect(&pr, DER_BIT_STRING, &t) == 0 &&
        (cg_der_get_bit_string(t.val, &msg->protection, &unused) || unused != 0))
      cg_der_fail(&pr, CG_EDER);
    if (pr.err == 0 && !cg_der_at_end(&pr))
      cg_der_fail(&pr, CG_EDER);
    if (pr.err)
      return cg_der_fail(&m, pr.err);
    msg->has_protection = true;
  }
  if (cg_der_enter_optional(&m, DER_CTX_CONS(1), &x) == 1) {
    if (cg_der_enter(&x, DER_SEQUENCE, &seq) == 0) {
      if (cg_der_at_end(&seq))
        bad(&seq);
      while (seq.err == 0 && !cg_der_at_end(&seq)) {
        if (msg->n_extra_certs == CMP_MAX_EXTRA_CERTS) {
          cg_der_fail(&seq, CG_EBAD_REQUEST);
          break;
        }
        if (cg_der_expect(&seq, DER_SEQUENCE, &t) == 0)
          msg->extra_certs[msg->n_extra_certs++] = t.raw;
      }
      cg_der_leave(&x, &seq);
    }
    cg_der_leave(&m, &x);
  }
  cg_der_leave(&top, &m);
  return top.err;
}

void cmp_msg_protected_part(const struct cmp_msg *msg, uint8_t seq_hdr[6], struct cg_iov iov[2]) {
  size_t n = msg->hdr.raw.len + msg->body.len;
  size_t h = 0;
  seq_hdr[h++] = DER_SEQUENCE;
  if (n < 0x80) {
    seq_hdr[h++] = (uint8_t)n;
  } else {
    unsigned octets = n > 0xffffff ? 4 : n > 0xffff ? 3 : n > 0xff ? 2 : 1;
    seq_hdr[h++] = (uint8_t)(0x80 | octets);
    for (unsigned i = octets; i-- > 0;)
      seq_hdr[h++] = (uint8_t)(n >> (8 * i));
  }
  iov[0].p = seq_hdr;
  iov[0].len = h;
  /* Header and body are adjacent in the received message. */
  iov[1].p = msg->hdr.raw.p;
  iov[1].len = n;
}
