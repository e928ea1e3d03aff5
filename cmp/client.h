/*
 * client.h - building the requests of a CMP client (RFC 9810, RFC 9483 §4):
 * ir / cr / kur with a signature POP, p10cr, rr, genm and certConf, protected
 * with PasswordBasedMac, PBMAC1 or a signature.  Used by the tests, the fuzz
 * corpus and the load tools; sans-I/O like the server.
 */
#ifndef CG_CMP_CLIENT_H
#define CG_CMP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/protect.h"
#include "core/crypto.h"
#include "core/der.h"
#include "core/oid.h"

/* How a request is protected: a signature when key is set, else a MAC. */
struct cmp_client_cred {
  /* MAC */
  const uint8_t *secret;
  size_t secret_len;
  const uint8_t *ref; /* senderKID */
  size_t ref_len;
  uint32_t iterations;
  enum cg_hash owf, mac; /* PBM: OWF and HMAC hash; PBMAC1: PBKDF2 PRF and HMAC hash */
  bool pbmac1;
  /* signature */
  const struct cg_key *key;
  struct der_view cert;         /* the signer's certificate: extraCerts[0] */
  const struct der_view *chain; /* more extraCerts */
  size_t n_chain;
  /* senderKID to send instead of the reference or the signer's SKID (tests
   * of mismatches); p NULL: the default. */
  struct der_view sender_kid;
  /* sender (a Name, whole TLV) to send instead of the signer's subject or
   * the NULL-DN (tests of mismatches); p NULL: the default. */
  struct der_view sender_name;
};

struct cmp_client_hdr {
  struct der_view transaction_id; /* 16 octets recommended */
  struct der_view sender_nonce;
  struct der_view recip_nonce;    /* p NULL: none (first message) */
  uint64_t pvno;                  /* 0 means 2 */
  uint64_t cert_req_id;           /* ir/cr/kur: certReqId (RFC 9483 §4.1.1 wants 0) */
  bool implicit_confirm;          /* ask for implicit confirmation */
  int64_t message_time;           /* 0: now */
  struct der_view reg_token;      /* ir/cr/kur: the regToken control; p NULL: none */
  struct der_view recipient;      /* a Name (whole TLV), sent as directoryName; p NULL: NULL-DN */
};

/* Writes a protected PKIMessage with the given PKIBody (whole TLV) into a new
 * buffer (*out, malloc'ed, *len octets; the caller frees it).  For a MAC, mac
 * may carry the parameters and key of the transaction: when mac->key_len is
 * 0, fresh parameters are drawn and the key derived and kept there, else
 * they are used as they are, so that the messages of a transaction cost one
 * derivation (RFC 9810 §5.1.3.1); NULL: fresh parameters for this message
 * alone.  0, CG_ENOMEM, CG_ESPACE, CG_EINVAL (an unreadable signer
 * certificate), CG_ECRYPTO. */
int cmp_client_write(const struct cmp_client_cred *cred, struct cmp_mac *mac,
                     const struct cmp_client_hdr *hdr, struct der_view body, uint8_t **out,
                     size_t *len);

/* PKIBody writers (whole TLV into out/cap, *len octets): 0, CG_ESPACE, or the
 * errors named. */
/* ir / cr / kur (type) with one CertReqMsg: certReqId, subject (p NULL:
 * none), new_key's public key, the regToken control when reg_token.p is not
 * NULL, the oldCertID control naming old_cert (whole TLV) when its p is not
 * NULL, and a signature POP by new_key.  CG_ECRYPTO, CG_EINVAL too. */
int cmp_client_cert_req_body(int type, int64_t cert_req_id, struct der_view subject,
                             const struct cg_key *new_key, struct der_view old_cert,
                             struct der_view reg_token, uint8_t *out, size_t cap, size_t *len);
/* ir / cr / kur asking for central key generation (RFC 9483 §4.1.6): no
 * proof of possession, and a template whose publicKey is absent (key_type
 * CG_KEY_NONE) or names the key wanted (EC of bits 256/384/521, RSA,
 * Ed25519) with an empty key.  Otherwise as cmp_client_cert_req_body(). */
int cmp_client_central_req_body(int type, int64_t cert_req_id, struct der_view subject,
                                enum cg_key_type key_type, unsigned bits, struct der_view old_cert,
                                struct der_view reg_token, uint8_t *out, size_t cap, size_t *len);
/* p10cr carrying a DER PKCS#10 request. */
int cmp_client_p10cr_body(struct der_view csr, uint8_t *out, size_t cap, size_t *len);
/* rr for the certificate with that issuer (Name TLV) and serial (INTEGER
 * contents), with a reasonCode unless reason is -1. */
int cmp_client_rr_body(struct der_view issuer, struct der_view serial, int reason, uint8_t *out,
                       size_t cap, size_t *len);
/* genm asking for the given infoTypes (OIDs as contents), values absent. */
int cmp_client_genm_body(const struct der_view *types, size_t n, uint8_t *out, size_t cap,
                         size_t *len);
/* genm asking for the given infoTypes as RFC 9483 §4.3 asks for them, with
 * anchor (a root certificate; p NULL: none): crlStatusList names the CA of
 * anchor (§4.3.4) and rootCaKeyUpdate goes as id-it-rootCaCert carrying it
 * (§4.3.2); without anchor they go as id-it-crls and id-it-rootCaCert with
 * absent values; any other with an absent value. */
int cmp_client_genm_ask_body(const enum cg_oid_id *types, size_t n, struct der_view anchor,
                             uint8_t *out, size_t cap, size_t *len);
/* pollReq for certReqId. */
int cmp_client_poll_req_body(int64_t cert_req_id, uint8_t *out, size_t cap, size_t *len);
/* certConf accepting (or rejecting) cert, hashed as RFC 9810 §5.3.18 says
 * (the hash of its signature algorithm; SHA-512 for Ed25519).  CG_EBAD_ALG
 * when it cannot be hashed. */
int cmp_client_cert_conf_body(struct der_view cert, int64_t cert_req_id, bool reject, uint8_t *out,
                              size_t cap, size_t *len);
/* nested batching the given PKIMessages (whole TLVs). */
int cmp_client_nested_body(const struct der_view *msgs, size_t n, uint8_t *out, size_t cap,
                           size_t *len);

/* Any request: body(w, arg) writes the PKIBody; the header is made from
 * cred and hdr and the message protected with cred.  The builders below are
 * made with it. */
int cmp_client_message(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                       void (*body)(struct der_writer *w, const void *arg), const void *arg,
                       uint8_t *out, size_t cap, size_t *len);

/* An ir, cr or kur (type CMP_IR, CMP_CR, CMP_KUR) requesting a certificate
 * for subject (Name, whole TLV; p NULL: none) and new_key's public key, with a
 * signature POP by new_key.  For a kur, old_cert (whole TLV) is named in the
 * oldCertID control when p is not NULL.  0, CG_ESPACE, CG_ECRYPTO. */
int cmp_client_cert_req(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                        int type, struct der_view subject, const struct cg_key *new_key,
                        struct der_view old_cert, uint8_t *out, size_t cap, size_t *len);
/* The ir of cmp_client_cert_req(). */
int cmp_client_ir(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                  struct der_view subject, const struct cg_key *key, uint8_t *out, size_t cap,
                  size_t *len);
/* A p10cr carrying a DER PKCS#10 request. */
int cmp_client_p10cr(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                     struct der_view csr, uint8_t *out, size_t cap, size_t *len);
/* An rr for the certificate with that issuer (Name TLV) and serial
 * (INTEGER contents), with a reasonCode unless reason is -1. */
int cmp_client_rr(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                  struct der_view issuer, struct der_view serial, int reason, uint8_t *out,
                  size_t cap, size_t *len);
/* A genm asking for the given infoTypes (OIDs as contents), values absent. */
int cmp_client_genm(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                    const struct der_view *types, size_t n, uint8_t *out, size_t cap,
                    size_t *len);
/* A nested message (RFC 9483 §5.2.2.2) batching the given PKIMessages
 * (whole TLVs), protected as an RA would: cred should be a signature. */
int cmp_client_nested(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                      const struct der_view *msgs, size_t n, uint8_t *out, size_t cap,
                      size_t *len);
/* A pollReq for certReqId (RFC 9810 §5.3.22). */
int cmp_client_poll_req(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                        int64_t cert_req_id, uint8_t *out, size_t cap, size_t *len);
/* A certConf accepting (or rejecting) cert, hashed with the hash of its
 * signature algorithm. */
int cmp_client_cert_conf(const struct cmp_client_cred *cred, const struct cmp_client_hdr *hdr,
                         struct der_view cert, int64_t cert_req_id, bool reject, uint8_t *out,
                         size_t cap, size_t *len);

#endif
