/*
 * msg.h - the CMP message model (RFC 9810 §5.1) as zero-copy views.
 *
 * cmp_msg_decode() checks a PKIMessage strictly (core/der.h) and fills a
 * struct cmp_msg whose views point into the caller's bytes: keep them alive as
 * long as the struct is used.  Nothing is allocated; counts above the fixed
 * caps below are rejected as badRequest.  The received header and body are
 * kept as received, so protection is verified over what arrived
 * (cmp_msg_protected_part()).
 *
 * The model is complete for the bodies decoded here: cmp_msg_encode()
 * (cmp/encode.h) writes a decoded message back byte for byte.  Fields the
 * gateway interprets (numbers, octet strings, status, failInfo bits, times,
 * reason codes, controls it reads) are held as values and written from them;
 * structures it does not interpret are held as views of their whole TLV (or
 * contents, as noted) and written back as they are.
 */
#ifndef CG_CMP_MSG_H
#define CG_CMP_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/der.h"
#include "core/limits.h"

#define CMP_MAX_ITAV CG_LIMIT_GENERAL_INFO       /* generalInfo entries */
#define CMP_MAX_EXTRA_CERTS CG_LIMIT_EXTRA_CERTS /* extraCerts / caPubs */
#define CMP_MAX_REQS CG_LIMIT_REQS        /* CertReqMsg per ir/cr/kur, CertStatus per certConf */
#define CMP_MAX_CONTROLS CG_LIMIT_CONTROLS    /* controls per CertRequest */

/* PKIBody choices, RFC 9810 §5.1.2: X(NAME, tag, name as logged).  The enum
 * and cmp_body_name() come from this table. */
#define CMP_BODY_MAP(X)             \
  X(IR, 0, "ir")              \
  X(IP, 1, "ip")              \
  X(CR, 2, "cr")              \
  X(CP, 3, "cp")              \
  X(P10CR, 4, "p10cr")        \
  X(POPDECC, 5, "popdecc")    \
  X(POPDECR, 6, "popdecr")    \
  X(KUR, 7, "kur")            \
  X(KUP, 8, "kup")            \
  X(KRR, 9, "krr")            \
  X(KRP, 10, "krp")           \
  X(RR, 11, "rr")             \
  X(RP, 12, "rp")             \
  X(CCR, 13, "ccr")           \
  X(CCP, 14, "ccp")           \
  X(CKUANN, 15, "ckuann")     \
  X(CANN, 16, "cann")         \
  X(RANN, 17, "rann")         \
  X(CRLANN, 18, "crlann")     \
  X(PKICONF, 19, "pkiconf")   \
  X(NESTED, 20, "nested")     \
  X(GENM, 21, "genm")         \
  X(GENP, 22, "genp")         \
  X(ERROR, 23, "error")       \
  X(CERTCONF, 24, "certConf") \
  X(POLLREQ, 25, "pollReq")   \
  X(POLLREP, 26, "pollRep")

enum cmp_body_type {
#define X(name, tag, text) CMP_##name = tag,
  CMP_BODY_MAP(X)
#undef X
};
/* "ir", "ip", ... ; "unknown" past the list. */
const char *cmp_body_name(int type);

/* PKIStatus, RFC 9810 §5.2.3. */
enum cmp_status {
  CMP_ACCEPTED = 0, CMP_GRANTED_WITH_MODS = 1, CMP_REJECTION = 2, CMP_WAITING = 3,
  CMP_REVOCATION_WARNING = 4, CMP_REVOCATION_NOTIFICATION = 5, CMP_KEY_UPDATE_WARNING = 6,
};

/* InfoTypeAndValue ::= SEQUENCE { infoType OBJECT IDENTIFIER,
 *                                 infoValue ANY DEFINED BY infoType OPTIONAL } */
struct cmp_itav {
  struct der_view oid;   /* OID contents */
  struct der_view value; /* infoValue whole TLV, len 0 when absent */
};

/* PKIHeader, RFC 9810 §5.1.1 (module with EXPLICIT tags):
 *   PKIHeader ::= SEQUENCE {
 *     pvno INTEGER { cmp1999(1), cmp2000(2), cmp2021(3) },
 *     sender GeneralName, recipient GeneralName,
 *     messageTime [0] GeneralizedTime OPTIONAL,
 *     protectionAlg [1] AlgorithmIdentifier OPTIONAL,
 *     senderKID [2] KeyIdentifier OPTIONAL, recipKID [3] KeyIdentifier OPTIONAL,
 *     transactionID [4] OCTET STRING OPTIONAL,
 *     senderNonce [5] OCTET STRING OPTIONAL, recipNonce [6] OCTET STRING OPTIONAL,
 *     freeText [7] PKIFreeText OPTIONAL,
 *     generalInfo [8] SEQUENCE SIZE (1..MAX) OF InfoTypeAndValue OPTIONAL } */
struct cmp_header {
  struct der_view raw; /* the whole PKIHeader as received */
  uint64_t pvno;
  struct der_view sender, recipient; /* GeneralName, whole TLV */
  struct der_view sender_dn;         /* the Name inside a directoryName sender, else len 0 */
  struct der_view recipient_dn;      /* the same of the recipient */
  bool has_message_time;
  int64_t message_time;
  /* The GeneralizedTime contents as received ("YYYYMMDDHHMMSS[.f]Z"): the
   * encoder writes the whole seconds from message_time and only the fraction
   * (when there is one) from here. */
  struct der_view message_time_str;
  struct der_view protection_alg; /* AlgorithmIdentifier whole TLV; p NULL when absent */
  struct der_view protection_oid; /* its algorithm OID contents */
  /* OCTET STRING contents; p NULL when absent. */
  struct der_view sender_kid, recip_kid, transaction_id, sender_nonce, recip_nonce;
  struct der_view free_text; /* PKIFreeText whole TLV; p NULL when absent */
  size_t n_general_info;     /* every entry, in order; 0 when generalInfo is absent */
  struct cmp_itav general_info[CMP_MAX_ITAV];
  bool implicit_confirm; /* generalInfo carries id-it-implicitConfirm */
};

/* CertTemplate, RFC 4211 §5 (module with IMPLICIT tags; Name is a CHOICE so
 * issuer [3] and subject [5] are explicit). */
struct cmp_cert_template {
  struct der_view raw;
  int version;                 /* -1 when absent */
  struct der_view serial;      /* INTEGER contents; p NULL when absent */
  struct der_view signing_alg; /* whole TLV as received ([2]); p NULL when absent */
  struct der_view issuer;      /* Name whole TLV; p NULL when absent */
  struct der_view subject;     /* Name whole TLV; p NULL when absent */
  /* validity [4] OptionalValidity: present (perhaps empty) when has_validity;
   * each Time keeps its tag, DER_UTC_TIME or DER_GENERALIZED_TIME. */
  bool has_validity;
  bool has_not_before, has_not_after;
  int64_t not_before, not_after;
  unsigned not_before_tag, not_after_tag;
  struct der_view public_key; /* [6] contents: AlgorithmIdentifier + BIT STRING; p NULL when absent */
  /* issuerUID [7] / subjectUID [8] UniqueIdentifier ::= BIT STRING: the
   * contents (unused-bits octet first); p NULL when absent. */
  struct der_view issuer_uid, subject_uid;
  struct der_view extensions; /* [9] contents (a sequence of Extension); p NULL when absent */
};

enum cmp_pop_type { CMP_POP_NONE = -1, CMP_POP_RA_VERIFIED = 0, CMP_POP_SIGNATURE = 1,
                    CMP_POP_KEY_ENC = 2, CMP_POP_KEY_AGREE = 3 };

/* CertReqMsg ::= SEQUENCE { certReq CertRequest, popo ProofOfPossession OPTIONAL,
 *                           regInfo SEQUENCE SIZE(1..MAX) OF AttributeTypeAndValue OPTIONAL }
 * CertRequest ::= SEQUENCE { certReqId INTEGER, certTemplate CertTemplate,
 *                            controls Controls OPTIONAL } */
struct cmp_cert_req {
  struct der_view cert_request; /* CertRequest whole TLV: what a signature POP signs */
  int64_t cert_req_id;
  struct cmp_cert_template tmpl;
  /* Controls ::= SEQUENCE SIZE(1..MAX) OF AttributeTypeAndValue: contents, p
   * NULL when absent; and each entry in order (type OID contents, value whole
   * TLV).  At most one regToken and one oldCertID; their values are written
   * from reg_token and old_cert_* below, the others as they are. */
  struct der_view controls;
  size_t n_controls;
  struct cmp_itav control[CMP_MAX_CONTROLS];
  struct der_view reg_token; /* regToken UTF8String contents; p NULL when absent */
  /* oldCertID control (RFC 4211 §6.5): CertId ::= SEQUENCE { issuer GeneralName,
   * serialNumber INTEGER }; p NULL when absent. */
  struct der_view old_cert_issuer; /* GeneralName whole TLV */
  struct der_view old_cert_serial; /* INTEGER contents */
  enum cmp_pop_type pop;
  /* POPOSigningKey ::= SEQUENCE { poposkInput [0] POPOSigningKeyInput OPTIONAL,
   *   algorithmIdentifier AlgorithmIdentifier, signature BIT STRING } */
  bool pop_has_input;
  struct der_view pop_input;   /* [0] whole TLV, kept as received */
  struct der_view pop_alg;     /* AlgorithmIdentifier whole TLV */
  struct der_view pop_alg_oid; /* its OID contents */
  struct der_view pop_alg_params; /* parameters whole TLV, len 0 when absent */
  struct der_view pop_sig;     /* signature octets */
  /* keyEncipherment [2] / keyAgreement [3] POPOPrivKey (a CHOICE, so the tag
   * is explicit): the POPOPrivKey whole TLV inside it. */
  struct der_view pop_priv_key;
  struct der_view reg_info;    /* contents; p NULL when absent */
};

/* PKIStatusInfo ::= SEQUENCE { status PKIStatus, statusString PKIFreeText OPTIONAL,
 *                              failInfo PKIFailureInfo OPTIONAL } */
struct cmp_status_info {
  int status;
  struct der_view status_string; /* PKIFreeText whole TLV; p NULL when absent */
  bool has_fail_info;
  /* bit n = 1u << n.  PKIFailureInfo names bits 0..26; a bit past 31 would be
   * dropped here, and such a failInfo would not re-encode as received. */
  uint32_t fail_info;
};

/* CertStatus ::= SEQUENCE { certHash OCTET STRING, certReqId INTEGER,
 *   statusInfo PKIStatusInfo OPTIONAL, hashAlg [0] AlgorithmIdentifier OPTIONAL } */
struct cmp_cert_status {
  struct der_view cert_hash;
  int64_t cert_req_id;
  bool has_status;
  struct cmp_status_info status;
  struct der_view hash_alg;     /* AlgorithmIdentifier whole TLV; p NULL when absent */
  struct der_view hash_alg_oid; /* its OID contents; p NULL when absent */
};

/* CertResponse ::= SEQUENCE { certReqId INTEGER, status PKIStatusInfo,
 *   certifiedKeyPair CertifiedKeyPair OPTIONAL, rspInfo OCTET STRING OPTIONAL }
 * CertifiedKeyPair ::= SEQUENCE { certOrEncCert CertOrEncCert,
 *   privateKey [0] EncryptedKey OPTIONAL, publicationInfo [1] PKIPublicationInfo OPTIONAL }
 * CertOrEncCert ::= CHOICE { certificate [0] CMPCertificate, encryptedCert [1] EncryptedKey }
 * certifiedKeyPair is present when cert or enc_cert is. */
struct cmp_cert_response {
  int64_t cert_req_id;
  struct cmp_status_info status;
  struct der_view cert;     /* the certificate whole TLV; p NULL when absent */
  struct der_view enc_cert; /* the EncryptedKey whole TLV inside [1]; p NULL when absent */
  /* privateKey [0] and publicationInfo [1], whole TLVs with their tags; p NULL
   * when absent. */
  struct der_view private_key, publication_info;
  struct der_view rsp_info; /* OCTET STRING contents; p NULL when absent */
};

/* RevDetails ::= SEQUENCE { certDetails CertTemplate,
 *                           crlEntryDetails Extensions OPTIONAL }   (RFC 9810 §5.3.9) */
struct cmp_rev_details {
  struct cmp_cert_template tmpl; /* issuer and serialNumber identify the certificate */
  struct der_view crl_entry_details; /* Extensions contents; p NULL when absent */
  int reason;                        /* CRLReason from crlEntryDetails; -1 when absent */
  /* The reasonCode Extension whole TLV inside crl_entry_details (p NULL when
   * absent; present exactly when reason >= 0) and its critical flag: the
   * encoder rebuilds this one from reason and copies the others. */
  struct der_view reason_ext;
  bool reason_critical;
};

/* RevRepContent ::= SEQUENCE { status SEQUENCE SIZE (1..MAX) OF PKIStatusInfo,
 *   revCerts [0] SEQUENCE SIZE (1..MAX) OF CertId OPTIONAL,
 *   crls [1] SEQUENCE SIZE (1..MAX) OF CertificateList OPTIONAL } */
struct cmp_rev_rep {
  size_t n;
  struct cmp_status_info status[CMP_MAX_REQS];
  struct der_view rev_certs, crls; /* [0] / [1] whole TLVs; p NULL when absent */
};

/* PollRepContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER,
 *   checkAfter INTEGER, reason PKIFreeText OPTIONAL }     (RFC 9810 §5.3.22) */
struct cmp_poll_rep {
  int64_t cert_req_id;
  int64_t check_after;    /* seconds, >= 0 */
  struct der_view reason; /* PKIFreeText whole TLV; p NULL when absent */
};

struct cmp_msg {
  struct der_view raw;
  bool header_ok;            /* the whole PKIHeader decoded: its fields may be used */
  struct cmp_header hdr;
  int type;                  /* enum cmp_body_type */
  struct der_view body;      /* PKIBody whole TLV ([type] EXPLICIT ...) */
  /* The element inside the body tag, whole TLV: all there is of the bodies
   * not decoded into u (p10cr, nested, genm, genp, ...). */
  struct der_view content;
  bool has_protection;
  struct der_view protection; /* BIT STRING octets */
  size_t n_extra_certs;
  struct der_view extra_certs[CMP_MAX_EXTRA_CERTS]; /* whole TLVs */
  union {
    struct { size_t n; struct cmp_cert_req req[CMP_MAX_REQS]; } cert_req;       /* ir, cr, kur */
    struct { size_t n; struct cmp_cert_status st[CMP_MAX_REQS]; } cert_conf;    /* certConf */
    /* caPubs is present when n_ca_pubs > 0 (SIZE (1..MAX)). */
    struct { size_t n_ca_pubs; struct der_view ca_pubs[CMP_MAX_EXTRA_CERTS];
             size_t n; struct cmp_cert_response rsp[CMP_MAX_REQS]; } cert_rep;  /* ip, cp, kup */
    /* details: errorDetails PKIFreeText whole TLV; p NULL when absent */
    struct { struct cmp_status_info status; bool has_error_code; int64_t error_code;
             struct der_view details; } error;                                  /* error */
    struct { size_t n; struct cmp_rev_details rd[CMP_MAX_REQS]; } rev_req;     /* rr */
    struct cmp_rev_rep rev_rep;                                                 /* rp */
    /* PollReqContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER } (§5.3.22) */
    struct { size_t n; int64_t cert_req_id[CMP_MAX_REQS]; } poll_req;         /* pollReq */
    struct { size_t n; struct cmp_poll_rep rep[CMP_MAX_REQS]; } poll_rep;      /* pollRep */
  } u;
};

/* Decodes a PKIMessage.  0, CG_EDER / CG_EDER_DEPTH (malformed DER),
 * CG_EBAD_DATA (well-formed DER that is not a valid PKIMessage),
 * CG_EBAD_REQUEST (a body we do not decode, or over a cap).  On error *msg
 * holds what was decoded so far; header_ok tells whether the whole header
 * decoded, so that an error answer can still name the transaction. */
int cmp_msg_decode(const uint8_t *p, size_t len, struct cmp_msg *msg);

/* The ProtectedPart (RFC 9810 §5.1.3) of a received message as two pieces: a
 * SEQUENCE tag and length made in seq_hdr, and the received header and body
 * octets.  Fills iov[0..1]. */
void cmp_msg_protected_part(const struct cmp_msg *msg, uint8_t seq_hdr[6], struct cg_iov iov[2]);

/* Reads an AlgorithmIdentifier (whole TLV) into its OID contents and
 * parameters (whole TLV, len 0 when absent).  0 or CG_EDER. */
int cmp_read_alg_id(struct der_view alg, struct der_view *oid, struct der_view *params);

#endif
