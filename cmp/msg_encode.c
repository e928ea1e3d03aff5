/*
 * msg_encode.c - writes a PKIMessage back from its model (cmp/msg.h), the
 * inverse of decode.c.  Values the gateway interprets (pvno, nonces, times,
 * certReqId, PKIStatus, failInfo bits, reason codes, regToken, oldCertID)
 * are written from their decoded values; structures it keeps opaque (names,
 * algorithm identifiers, certificates, free text, extensions) from their
 * views.  Encoding a decoded message therefore gives back the received
 * octets, and a changed field shows in the output.  Tags follow decode.c:
 * the PKIX-CMP module is EXPLICIT, CRMF (RFC 4211) IMPLICIT.  A model that
 * contradicts itself (see cmp/encode.h) sets CG_EINVAL in the writer.
 */
#include "cmp/encode.h"

#include <string.h>

#include "cmp/genm.h"
#include "core/err.h"
#include "core/oid.h"

/* Marks the model as one the writer cannot express. */
static void invalid(struct der_writer *w) {
  if (w->err == 0)
    w->err = CG_EINVAL;
}

/* A whole TLV as it is; nothing when absent. */
static void put_opt(struct der_writer *w, struct der_view v) {
  if (v.p != NULL)
    cg_der_put_raw(w, v.p, v.len);
}

/* [n] EXPLICIT around a whole TLV; nothing when absent. */
static void put_explicit(struct der_writer *w, unsigned n, struct der_view v) {
  if (v.p == NULL)
    return;
  size_t m = cg_der_begin(w, DER_CTX_CONS(n));
  cg_der_put_raw(w, v.p, v.len);
  cg_der_end(w, m);
}

/* [n] EXPLICIT OCTET STRING from its contents; nothing when absent. */
static void put_explicit_octets(struct der_writer *w, unsigned n, struct der_view v) {
  if (v.p == NULL)
    return;
  size_t m = cg_der_begin(w, DER_CTX_CONS(n));
  cg_der_put_tlv(w, DER_OCTET_STRING, v.p, v.len);
  cg_der_end(w, m);
}

/* "YYYYMMDDHHMMSSZ" for t into out[15], through cg_der_put_gentime() so that
 * there is one formatter; false (and CG_EINVAL in w) outside years 0..9999. */
static bool format_gentime(struct der_writer *w, int64_t t, uint8_t out[15]) {
  uint8_t tlv[17];
  struct der_writer tw;
  cg_der_writer_init(&tw, tlv, sizeof tlv);
  cg_der_put_gentime(&tw, DER_GENERALIZED_TIME, t);
  if (tw.err != 0 || tw.len != sizeof tlv) {
    invalid(w);
    return false;
  }
  memcpy(out, tlv + 2, 15);
  return true;
}

/* Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }
 * (RFC 5280 §4.1.2.5) in the form tag names: UTCTime holds 1950..2049. */
static void put_time(struct der_writer *w, unsigned tag, int64_t t) {
  uint8_t s[15];
  if (!format_gentime(w, t, s))
    return;
  if (tag == DER_GENERALIZED_TIME) {
    cg_der_put_tlv(w, tag, s, sizeof s);
    return;
  }
  bool utc_year =
      (s[0] == '1' && s[1] == '9' && s[2] >= '5') || (s[0] == '2' && s[1] == '0' && s[2] <= '4');
  if (tag != DER_UTC_TIME || !utc_year) {
    invalid(w);
    return;
  }
  cg_der_put_tlv(w, DER_UTC_TIME, s + 2, sizeof s - 2);
}

/* messageTime [0] GeneralizedTime: the whole seconds from message_time; the
 * fractional seconds (X.690 §11.7), when the received text had them, from
 * message_time_str. */
static void put_message_time(struct der_writer *w, const struct cmp_header *h) {
  uint8_t s[15];
  if (!format_gentime(w, h->message_time, s))
    return;
  struct der_view frac = {NULL, 0};
  struct der_view str = h->message_time_str;
  if (str.len > 16 && str.p[14] == '.' && str.p[str.len - 1] == 'Z')
    frac = (struct der_view){str.p + 14, str.len - 15}; /* ".f...", without the Z */
  size_t x = cg_der_begin(w, DER_CTX_CONS(0));
  size_t gt = cg_der_begin(w, DER_GENERALIZED_TIME);
  cg_der_put_raw(w, s, 14);
  put_opt(w, frac);
  cg_der_put_raw(w, "Z", 1);
  cg_der_end(w, gt);
  cg_der_end(w, x);
}

/* generalInfo [8] SEQUENCE SIZE (1..MAX) OF InfoTypeAndValue
 * InfoTypeAndValue ::= SEQUENCE { infoType OBJECT IDENTIFIER,
 *                                 infoValue ANY DEFINED BY infoType OPTIONAL }
 * (RFC 9810 §5.1.1, §5.3.19).  implicit_confirm must agree with the entries. */
static void put_general_info(struct der_writer *w, const struct cmp_header *h) {
  if (h->n_general_info > CMP_MAX_ITAV) {
    invalid(w);
    return;
  }
  bool confirm = false;
  for (size_t i = 0; i < h->n_general_info; i++)
    if (cg_oid_lookup(h->general_info[i].oid) == CG_OID_IMPLICIT_CONFIRM)
      confirm = true;
  if (confirm != h->implicit_confirm) {
    invalid(w);
    return;
  }
  if (h->n_general_info == 0)
    return;
  size_t x = cg_der_begin(w, DER_CTX_CONS(8));
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < h->n_general_info; i++)
    cmp_write_itav(w, h->general_info[i].oid, h->general_info[i].value);
  cg_der_end(w, seq);
  cg_der_end(w, x);
}

/* PKIHeader ::= SEQUENCE { pvno INTEGER, sender GeneralName,
 *   recipient GeneralName, messageTime [0] GeneralizedTime OPTIONAL,
 *   protectionAlg [1] AlgorithmIdentifier OPTIONAL,
 *   senderKID [2] KeyIdentifier OPTIONAL, recipKID [3] KeyIdentifier OPTIONAL,
 *   transactionID [4] OCTET STRING OPTIONAL, senderNonce [5] OCTET STRING OPTIONAL,
 *   recipNonce [6] OCTET STRING OPTIONAL, freeText [7] PKIFreeText OPTIONAL,
 *   generalInfo [8] SEQUENCE SIZE (1..MAX) OF InfoTypeAndValue OPTIONAL }
 * (RFC 9810 §5.1.1, EXPLICIT tags) */
static void put_header(struct der_writer *w, const struct cmp_header *h) {
  if (h->sender.p == NULL || h->recipient.p == NULL) {
    invalid(w);
    return;
  }
  size_t hdr = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, h->pvno);
  cg_der_put_raw(w, h->sender.p, h->sender.len);
  cg_der_put_raw(w, h->recipient.p, h->recipient.len);
  if (h->has_message_time)
    put_message_time(w, h);
  put_explicit(w, 1, h->protection_alg);
  put_explicit_octets(w, 2, h->sender_kid);
  put_explicit_octets(w, 3, h->recip_kid);
  put_explicit_octets(w, 4, h->transaction_id);
  put_explicit_octets(w, 5, h->sender_nonce);
  put_explicit_octets(w, 6, h->recip_nonce);
  put_explicit(w, 7, h->free_text);
  put_general_info(w, h);
  cg_der_end(w, hdr);
}

/* PKIStatusInfo ::= SEQUENCE { status PKIStatus, statusString PKIFreeText OPTIONAL,
 *   failInfo PKIFailureInfo OPTIONAL }                  (RFC 9810 §5.2.3)
 * PKIFailureInfo is a named-bit BIT STRING: trailing zero bits are trimmed. */
static void put_status_info(struct der_writer *w, const struct cmp_status_info *si) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_int64(w, DER_INTEGER, si->status);
  put_opt(w, si->status_string);
  if (si->has_fail_info)
    cg_der_put_named_bits(w, DER_BIT_STRING, si->fail_info);
  cg_der_end(w, m);
}

/* CertTemplate ::= SEQUENCE { version [0] Version OPTIONAL, serialNumber [1] INTEGER OPTIONAL,
 *   signingAlg [2] AlgorithmIdentifier OPTIONAL, issuer [3] Name OPTIONAL,
 *   validity [4] OptionalValidity OPTIONAL, subject [5] Name OPTIONAL,
 *   publicKey [6] SubjectPublicKeyInfo OPTIONAL, issuerUID [7] UniqueIdentifier OPTIONAL,
 *   subjectUID [8] UniqueIdentifier OPTIONAL, extensions [9] Extensions OPTIONAL }
 * OptionalValidity ::= SEQUENCE { notBefore [0] Time OPTIONAL, notAfter [1] Time OPTIONAL }
 * (RFC 4211 §5, IMPLICIT tags; Name and Time are CHOICEs, so [3], [5] and the
 * validity's [0] and [1] are explicit.) */
static void put_template(struct der_writer *w, const struct cmp_cert_template *ct) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  if (ct->version >= 0)
    cg_der_put_uint64(w, DER_CTX(0), (uint64_t)ct->version);
  if (ct->serial.p != NULL)
    cg_der_put_tlv(w, DER_CTX(1), ct->serial.p, ct->serial.len);
  put_opt(w, ct->signing_alg);
  put_explicit(w, 3, ct->issuer);
  if (ct->has_validity) {
    size_t v = cg_der_begin(w, DER_CTX_CONS(4));
    if (ct->has_not_before) {
      size_t x = cg_der_begin(w, DER_CTX_CONS(0));
      put_time(w, ct->not_before_tag, ct->not_before);
      cg_der_end(w, x);
    }
    if (ct->has_not_after) {
      size_t x = cg_der_begin(w, DER_CTX_CONS(1));
      put_time(w, ct->not_after_tag, ct->not_after);
      cg_der_end(w, x);
    }
    cg_der_end(w, v);
  } else if (ct->has_not_before || ct->has_not_after) {
    invalid(w);
  }
  put_explicit(w, 5, ct->subject);
  if (ct->public_key.p != NULL)
    cg_der_put_tlv(w, DER_CTX_CONS(6), ct->public_key.p, ct->public_key.len);
  if (ct->issuer_uid.p != NULL)
    cg_der_put_tlv(w, DER_CTX(7), ct->issuer_uid.p, ct->issuer_uid.len);
  if (ct->subject_uid.p != NULL)
    cg_der_put_tlv(w, DER_CTX(8), ct->subject_uid.p, ct->subject_uid.len);
  if (ct->extensions.p != NULL)
    cg_der_put_tlv(w, DER_CTX_CONS(9), ct->extensions.p, ct->extensions.len);
  cg_der_end(w, m);
}

/* Controls ::= SEQUENCE SIZE(1..MAX) OF AttributeTypeAndValue
 * AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
 * regToken ::= UTF8String (RFC 4211 §6.1);
 * oldCertID: CertId ::= SEQUENCE { issuer GeneralName, serialNumber INTEGER } (§6.5).
 * The entry list says which controls there are; regToken and oldCertID take
 * their values from the decoded fields, which must exist exactly when the
 * entry does. */
static void put_controls(struct der_writer *w, const struct cmp_cert_req *cr) {
  bool has_token = false, has_old = false;
  if (cr->controls.p == NULL) {
    if (cr->n_controls != 0 || cr->reg_token.p != NULL || cr->old_cert_issuer.p != NULL)
      invalid(w);
    return;
  }
  if (cr->n_controls > CMP_MAX_CONTROLS) {
    invalid(w);
    return;
  }
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < cr->n_controls; i++) {
    const struct cmp_itav *c = &cr->control[i];
    enum cg_oid_id id = cg_oid_lookup(c->oid);
    size_t atv = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_tlv(w, DER_OID, c->oid.p, c->oid.len);
    if (id == CG_OID_REG_TOKEN) {
      if (has_token || cr->reg_token.p == NULL)
        invalid(w);
      has_token = true;
      cg_der_put_tlv(w, DER_UTF8_STRING, cr->reg_token.p, cr->reg_token.len);
    } else if (id == CG_OID_REG_OLD_CERT_ID) {
      if (has_old || cr->old_cert_issuer.p == NULL || cr->old_cert_serial.p == NULL)
        invalid(w);
      has_old = true;
      size_t cid = cg_der_begin(w, DER_SEQUENCE);
      put_opt(w, cr->old_cert_issuer);
      cg_der_put_tlv(w, DER_INTEGER, cr->old_cert_serial.p, cr->old_cert_serial.len);
      cg_der_end(w, cid);
    } else {
      if (c->value.p == NULL)
        invalid(w); /* value is not OPTIONAL */
      put_opt(w, c->value);
    }
    cg_der_end(w, atv);
  }
  if (has_token != (cr->reg_token.p != NULL) || has_old != (cr->old_cert_issuer.p != NULL))
    invalid(w);
  cg_der_end(w, m);
}

/* ProofOfPossession ::= CHOICE { raVerified [0] NULL, signature [1] POPOSigningKey,
 *   keyEncipherment [2] POPOPrivKey, keyAgreement [3] POPOPrivKey }
 * POPOSigningKey ::= SEQUENCE { poposkInput [0] POPOSigningKeyInput OPTIONAL,
 *   algorithmIdentifier AlgorithmIdentifier, signature BIT STRING }
 * (RFC 4211 §4, IMPLICIT tags; POPOPrivKey is a CHOICE, so [2] and [3] are
 * explicit.) */
static void put_pop(struct der_writer *w, const struct cmp_cert_req *cr) {
  switch (cr->pop) {
  case CMP_POP_NONE:
    return;
  case CMP_POP_RA_VERIFIED:
    cg_der_put_tlv(w, DER_CTX(0), NULL, 0);
    return;
  case CMP_POP_SIGNATURE: {
    if (cr->pop_alg.p == NULL || (cr->pop_has_input && cr->pop_input.p == NULL)) {
      invalid(w);
      return;
    }
    size_t m = cg_der_begin(w, DER_CTX_CONS(1));
    if (cr->pop_has_input)
      put_opt(w, cr->pop_input);
    cg_der_put_raw(w, cr->pop_alg.p, cr->pop_alg.len);
    cg_der_put_bit_string(w, cr->pop_sig.p, cr->pop_sig.len);
    cg_der_end(w, m);
    return;
  }
  case CMP_POP_KEY_ENC:
  case CMP_POP_KEY_AGREE:
    if (cr->pop_priv_key.p == NULL) {
      invalid(w);
      return;
    }
    put_explicit(w, cr->pop == CMP_POP_KEY_ENC ? 2 : 3, cr->pop_priv_key);
    return;
  }
  invalid(w);
}

/* CertReqMessages ::= SEQUENCE SIZE (1..MAX) OF CertReqMsg
 * CertReqMsg ::= SEQUENCE { certReq CertRequest, popo ProofOfPossession OPTIONAL,
 *   regInfo SEQUENCE SIZE(1..MAX) OF AttributeTypeAndValue OPTIONAL }
 * CertRequest ::= SEQUENCE { certReqId INTEGER, certTemplate CertTemplate,
 *   controls Controls OPTIONAL }                         (RFC 4211 §3, §5) */
static void put_cert_reqs(struct der_writer *w, const struct cmp_msg *msg) {
  if (msg->u.cert_req.n > CMP_MAX_REQS) {
    invalid(w);
    return;
  }
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < msg->u.cert_req.n; i++) {
    const struct cmp_cert_req *cr = &msg->u.cert_req.req[i];
    size_t m = cg_der_begin(w, DER_SEQUENCE);
    size_t req = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_int64(w, DER_INTEGER, cr->cert_req_id);
    put_template(w, &cr->tmpl);
    put_controls(w, cr);
    cg_der_end(w, req);
    put_pop(w, cr);
    if (cr->reg_info.p != NULL)
      cg_der_put_tlv(w, DER_SEQUENCE, cr->reg_info.p, cr->reg_info.len);
    cg_der_end(w, m);
  }
  cg_der_end(w, seq);
}

/* CertRepMessage ::= SEQUENCE { caPubs [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate
 *   OPTIONAL, response SEQUENCE OF CertResponse }
 * CertResponse ::= SEQUENCE { certReqId INTEGER, status PKIStatusInfo,
 *   certifiedKeyPair CertifiedKeyPair OPTIONAL, rspInfo OCTET STRING OPTIONAL }
 * CertifiedKeyPair ::= SEQUENCE { certOrEncCert CertOrEncCert,
 *   privateKey [0] EncryptedKey OPTIONAL, publicationInfo [1] PKIPublicationInfo OPTIONAL }
 * CertOrEncCert ::= CHOICE { certificate [0] CMPCertificate, encryptedCert [1] EncryptedKey }
 * (RFC 9810 §5.3.4, EXPLICIT tags) */
static void put_cert_rep(struct der_writer *w, const struct cmp_msg *msg) {
  if (msg->u.cert_rep.n > CMP_MAX_REQS || msg->u.cert_rep.n_ca_pubs > CMP_MAX_EXTRA_CERTS) {
    invalid(w);
    return;
  }
  size_t rep = cg_der_begin(w, DER_SEQUENCE);
  if (msg->u.cert_rep.n_ca_pubs > 0) {
    size_t x = cg_der_begin(w, DER_CTX_CONS(1));
    size_t seq = cg_der_begin(w, DER_SEQUENCE);
    for (size_t i = 0; i < msg->u.cert_rep.n_ca_pubs; i++)
      put_opt(w, msg->u.cert_rep.ca_pubs[i]);
    cg_der_end(w, seq);
    cg_der_end(w, x);
  }
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < msg->u.cert_rep.n; i++) {
    const struct cmp_cert_response *cr = &msg->u.cert_rep.rsp[i];
    size_t m = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_int64(w, DER_INTEGER, cr->cert_req_id);
    put_status_info(w, &cr->status);
    if (cr->cert.p != NULL && cr->enc_cert.p != NULL) {
      invalid(w);
    } else if (cr->cert.p != NULL || cr->enc_cert.p != NULL) {
      size_t ckp = cg_der_begin(w, DER_SEQUENCE);
      put_explicit(w, 0, cr->cert);
      put_explicit(w, 1, cr->enc_cert);
      put_opt(w, cr->private_key);
      put_opt(w, cr->publication_info);
      cg_der_end(w, ckp);
    } else if (cr->private_key.p != NULL || cr->publication_info.p != NULL) {
      invalid(w);
    }
    if (cr->rsp_info.p != NULL)
      cg_der_put_tlv(w, DER_OCTET_STRING, cr->rsp_info.p, cr->rsp_info.len);
    cg_der_end(w, m);
  }
  cg_der_end(w, seq);
  cg_der_end(w, rep);
}

/* CertConfirmContent ::= SEQUENCE OF CertStatus
 * CertStatus ::= SEQUENCE { certHash OCTET STRING, certReqId INTEGER,
 *   statusInfo PKIStatusInfo OPTIONAL, hashAlg [0] AlgorithmIdentifier OPTIONAL }
 * (RFC 9810 §5.3.18) */
static void put_cert_conf(struct der_writer *w, const struct cmp_msg *msg) {
  if (msg->u.cert_conf.n > CMP_MAX_REQS) {
    invalid(w);
    return;
  }
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < msg->u.cert_conf.n; i++) {
    const struct cmp_cert_status *st = &msg->u.cert_conf.st[i];
    size_t m = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_tlv(w, DER_OCTET_STRING, st->cert_hash.p, st->cert_hash.len);
    cg_der_put_int64(w, DER_INTEGER, st->cert_req_id);
    if (st->has_status)
      put_status_info(w, &st->status);
    put_explicit(w, 0, st->hash_alg);
    cg_der_end(w, m);
  }
  cg_der_end(w, seq);
}

/* ErrorMsgContent ::= SEQUENCE { pKIStatusInfo PKIStatusInfo,
 *   errorCode INTEGER OPTIONAL, errorDetails PKIFreeText OPTIONAL } (RFC 9810 §5.3.21) */
static void put_error(struct der_writer *w, const struct cmp_msg *msg) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  put_status_info(w, &msg->u.error.status);
  if (msg->u.error.has_error_code)
    cg_der_put_int64(w, DER_INTEGER, msg->u.error.error_code);
  put_opt(w, msg->u.error.details);
  cg_der_end(w, m);
}

/* crlEntryDetails Extensions: the received run, with the reasonCode
 * Extension rebuilt from d->reason:
 *   Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER,
 *     critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 *   reasonCode ::= { CRLReason } ; CRLReason ::= ENUMERATED   (RFC 5280 §5.3.1) */
static void put_crl_entry_details(struct der_writer *w, const struct cmp_rev_details *d) {
  struct der_view all = d->crl_entry_details, ext = d->reason_ext;
  if (all.p == NULL) {
    if (d->reason >= 0 || ext.p != NULL)
      invalid(w);
    return;
  }
  /* reason_ext must lie inside crl_entry_details: compared as addresses,
   * since a hand-made model may point anywhere. */
  uintptr_t start = (uintptr_t)all.p, at = (uintptr_t)ext.p;
  if ((ext.p != NULL) != (d->reason >= 0) ||
      (ext.p != NULL &&
       (at < start || ext.len > all.len || at - start > all.len - ext.len))) {
    invalid(w);
    return;
  }
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  if (ext.p == NULL) {
    cg_der_put_raw(w, all.p, all.len);
  } else {
    size_t before = (size_t)(ext.p - all.p);
    cg_der_put_raw(w, all.p, before);
    size_t e = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_oid(w, CG_OID_EXT_CRL_REASON);
    if (d->reason_critical)
      cg_der_put_bool(w, true);
    size_t o = cg_der_begin(w, DER_OCTET_STRING);
    cg_der_put_uint64(w, DER_ENUMERATED, (uint64_t)d->reason);
    cg_der_end(w, o);
    cg_der_end(w, e);
    cg_der_put_raw(w, ext.p + ext.len, all.len - before - ext.len);
  }
  cg_der_end(w, m);
}

/* RevReqContent ::= SEQUENCE OF RevDetails
 * RevDetails ::= SEQUENCE { certDetails CertTemplate,
 *   crlEntryDetails Extensions OPTIONAL }                 (RFC 9810 §5.3.9) */
static void put_rev_req(struct der_writer *w, const struct cmp_msg *msg) {
  if (msg->u.rev_req.n > CMP_MAX_REQS) {
    invalid(w);
    return;
  }
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < msg->u.rev_req.n; i++) {
    const struct cmp_rev_details *d = &msg->u.rev_req.rd[i];
    size_t m = cg_der_begin(w, DER_SEQUENCE);
    put_template(w, &d->tmpl);
    put_crl_entry_details(w, d);
    cg_der_end(w, m);
  }
  cg_der_end(w, seq);
}

/* RevRepContent ::= SEQUENCE { status SEQUENCE SIZE (1..MAX) OF PKIStatusInfo,
 *   revCerts [0] SEQUENCE SIZE (1..MAX) OF CertId OPTIONAL,
 *   crls [1] SEQUENCE SIZE (1..MAX) OF CertificateList OPTIONAL } (RFC 9810 §5.3.10) */
static void put_rev_rep(struct der_writer *w, const struct cmp_msg *msg) {
  if (msg->u.rev_rep.n > CMP_MAX_REQS) {
    invalid(w);
    return;
  }
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < msg->u.rev_rep.n; i++)
    put_status_info(w, &msg->u.rev_rep.status[i]);
  cg_der_end(w, seq);
  put_opt(w, msg->u.rev_rep.rev_certs);
  put_opt(w, msg->u.rev_rep.crls);
  cg_der_end(w, m);
}

/* PollReqContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER }
 * PollRepContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER,
 *   checkAfter INTEGER, reason PKIFreeText OPTIONAL }     (RFC 9810 §5.3.22) */
static void put_poll_req(struct der_writer *w, const struct cmp_msg *msg) {
  if (msg->u.poll_req.n > CMP_MAX_REQS) {
    invalid(w);
    return;
  }
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < msg->u.poll_req.n; i++) {
    size_t m = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_int64(w, DER_INTEGER, msg->u.poll_req.cert_req_id[i]);
    cg_der_end(w, m);
  }
  cg_der_end(w, seq);
}

static void put_poll_rep(struct der_writer *w, const struct cmp_msg *msg) {
  if (msg->u.poll_rep.n > CMP_MAX_REQS) {
    invalid(w);
    return;
  }
  size_t seq = cg_der_begin(w, DER_SEQUENCE);
  for (size_t i = 0; i < msg->u.poll_rep.n; i++) {
    const struct cmp_poll_rep *pr = &msg->u.poll_rep.rep[i];
    size_t m = cg_der_begin(w, DER_SEQUENCE);
    cg_der_put_int64(w, DER_INTEGER, pr->cert_req_id);
    cg_der_put_int64(w, DER_INTEGER, pr->check_after);
    put_opt(w, pr->reason);
    cg_der_end(w, m);
  }
  cg_der_end(w, seq);
}

/* PKIBody ::= CHOICE { ir [0] CertReqMessages, ... } (RFC 9810 §5.1.2): each
 * alternative explicitly tagged with its number.  Bodies the decoder leaves
 * undecoded (p10cr, nested, genm, genp, ...) are written from content. */
static void put_body(struct der_writer *w, const struct cmp_msg *msg) {
  if (msg->type == CMP_PKICONF) {
    cmp_write_pkiconf_body(w);
    return;
  }
  size_t body = cg_der_begin(w, DER_CTX_CONS((unsigned)msg->type));
  switch (msg->type) {
  case CMP_IR:
  case CMP_CR:
  case CMP_KUR:
    put_cert_reqs(w, msg);
    break;
  case CMP_IP:
  case CMP_CP:
  case CMP_KUP:
    put_cert_rep(w, msg);
    break;
  case CMP_CERTCONF:
    put_cert_conf(w, msg);
    break;
  case CMP_ERROR:
    put_error(w, msg);
    break;
  case CMP_RR:
    put_rev_req(w, msg);
    break;
  case CMP_RP:
    put_rev_rep(w, msg);
    break;
  case CMP_POLLREQ:
    put_poll_req(w, msg);
    break;
  case CMP_POLLREP:
    put_poll_rep(w, msg);
    break;
  default:
    if (msg->content.p == NULL)
      invalid(w);
    put_opt(w, msg->content);
    break;
  }
  cg_der_end(w, body);
}

/* PKIMessage ::= SEQUENCE { header PKIHeader, body PKIBody,
 *   protection [0] PKIProtection OPTIONAL,
 *   extraCerts [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL }
 * PKIProtection ::= BIT STRING                            (RFC 9810 §5.1) */
int cmp_msg_encode(const struct cmp_msg *msg, struct der_writer *w) {
  if (!msg->header_ok || msg->type < CMP_IR || msg->type > CMP_POLLREP ||
      msg->n_extra_certs > CMP_MAX_EXTRA_CERTS) {
    invalid(w);
    return w->err;
  }
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  put_header(w, &msg->hdr);
  put_body(w, msg);
  if (msg->has_protection) {
    size_t p = cg_der_begin(w, DER_CTX_CONS(0));
    cg_der_put_bit_string(w, msg->protection.p, msg->protection.len);
    cg_der_end(w, p);
  }
  if (msg->n_extra_certs > 0) {
    size_t x = cg_der_begin(w, DER_CTX_CONS(1));
    size_t seq = cg_der_begin(w, DER_SEQUENCE);
    for (size_t i = 0; i < msg->n_extra_certs; i++)
      put_opt(w, msg->extra_certs[i]);
    cg_der_end(w, seq);
    cg_der_end(w, x);
  }
  cg_der_end(w, m);
  return cg_der_writer_finish(w, NULL);
}
