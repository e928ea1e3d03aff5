/*
 * encode.h - writing CMP messages (RFC 9810 §5.1) with the one DER writer.
 * The writers append to a struct der_writer; the caller measures first (NULL
 * buffer) when it needs the exact size.
 */
#ifndef CG_CMP_ENCODE_H
#define CG_CMP_ENCODE_H

#include <stdbool.h>
#include <stdint.h>

#include "cmp/msg.h"
#include "core/der.h"

/* What goes into a PKIHeader we send.  Views with p == NULL are left out. */
struct cmp_out_header {
  uint64_t pvno;
  struct der_view sender_name; /* a Name (whole TLV), sent as directoryName; NULL: NULL-DN */
  struct der_view recipient;   /* a GeneralName (whole TLV) as is; NULL: NULL-DN */
  int64_t message_time;        /* 0: left out */
  struct der_view protection_alg; /* AlgorithmIdentifier whole TLV */
  struct der_view sender_kid, transaction_id, sender_nonce, recip_nonce;
  bool implicit_confirm;
};

void cmp_write_header(struct der_writer *w, const struct cmp_out_header *h);

/* PKIStatusInfo with an optional failInfo bit (CG_FI_NONE: none) and an
 * optional one-string statusString (NULL: none). */
void cmp_write_status_info(struct der_writer *w, int status, int fail_bit, const char *text);

/* ip / cp / kup body with one CertResponse; cert (whole TLV) left out when p
 * is NULL.  key_envelope (p NULL: none) is the EnvelopedData (a whole
 * SEQUENCE, core/cms.h) of a centrally generated key, written as
 * CertifiedKeyPair privateKey [0] EncryptedKey envelopedData [0] IMPLICIT
 * (RFC 9810 §5.2.2, RFC 9483 §4.1.6). */
void cmp_write_cert_rep_body(struct der_writer *w, int type, int64_t cert_req_id, int status,
                             int fail_bit, const char *text, struct der_view cert,
                             struct der_view key_envelope);
/* error body: ErrorMsgContent with status, failInfo bit and a text. */
void cmp_write_error_body(struct der_writer *w, int status, int fail_bit, const char *text);
/* pkiconf body: [19] NULL. */
void cmp_write_pkiconf_body(struct der_writer *w);
/* certConf body with one CertStatus accepting (or, with reject, rejecting) a
 * certificate. */
void cmp_write_cert_conf_body(struct der_writer *w, struct der_view cert_hash, int64_t cert_req_id,
                              bool reject);

/* Writes a PKIMessage from its model as cmp_msg_decode() fills it (header,
 * body, protection, extraCerts): decoding a message and encoding the result
 * gives the received octets back.  Interpreted fields are written from their
 * values, opaque ones from their views (cmp/msg.h); bodies kept undecoded
 * (p10cr, nested, genm, genp, ...) from msg->content.  Nothing is allocated;
 * msg's views must stay valid during the call.  Returns 0, CG_ESPACE (the
 * buffer is too small; a NULL buffer only measures) or CG_EINVAL when the
 * model cannot be written: header not decoded, an unknown body type, a count
 * over its cap, or fields that contradict each other (implicit_confirm
 * without its generalInfo entry or the reverse, a regToken / oldCertID /
 * reason value without its control or extension or the reverse, a time its
 * tag cannot hold).  The error is also left in w. */
int cmp_msg_encode(const struct cmp_msg *msg, struct der_writer *w);

/* The whole PKIMessage from the encoded header followed by the body (hb), the
 * protection value (BIT STRING octets; NULL: unprotected) and extraCerts
 * (whole TLVs; none when n_extra is 0). */
void cmp_write_message(struct der_writer *w, const uint8_t *hb, size_t hb_len,
                       const uint8_t *protection, size_t prot_len,
                       const struct der_view *extra, size_t n_extra);

#endif
