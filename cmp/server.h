/*
 * server.h - the sans-I/O CMP server engine.
 *
 * One struct cmp_exchange handles one request message and produces one
 * response message.  The engine never does I/O and never blocks: the caller
 * asks it what it needs next (cmp_exchange_step()), performs that operation
 * wherever it likes, and feeds the result back:
 *
 *   CMP_STEP_LOOKUP   read what cmp_exchange_lookup() names (the secret of the
 *                     senderKID, the transaction of the transactionID, a
 *                     certificate by serial), then cmp_exchange_lookup_done();
 *   CMP_STEP_COMPUTE  run cmp_exchange_compute() - pure CPU work (MAC key
 *                     derivation, path validation, signature checks, response
 *                     protection) for a threadpool worker;
 *   CMP_STEP_ISSUE    have a CA issue cmp_exchange_issue_request(), then
 *                     cmp_exchange_issue_answer() (or _done() / _waiting());
 *   CMP_STEP_REVOKE   have the CA revoke cmp_exchange_revoke_request() (a
 *                     CA that keeps no record of its own has nothing to do),
 *                     then cmp_exchange_revoke_answer();
 *   CMP_STEP_FORWARD  (relaying profiles) send cmp_exchange_forward_request()
 *                     to the CA as it is, then cmp_exchange_forward_answer();
 *   CMP_STEP_INSERT   store cmp_exchange_txn() as a new transaction, with
 *                     cmp_exchange_cert() and cmp_exchange_revocation() when
 *                     not NULL, all or nothing; then cmp_exchange_store_done();
 *   CMP_STEP_CRL      have the profile's CA sign a CRL listing
 *                     cmp_exchange_crl_request(), then cmp_exchange_crl_done();
 *   CMP_STEP_NESTED   process each message of a nested request as a request
 *                     of its own (cmp_exchange_nested_count() / _msg()), and
 *                     hand each answer back with cmp_exchange_nested_done();
 *   CMP_STEP_NOTE     record cmp_exchange_secret_note() (a refused secret's
 *                     failure count and audit event), then
 *                     cmp_exchange_store_done(); the answer is already made
 *                     (cmp_exchange_response()) and may be sent first: a
 *                     refusal takes as long whether the reference exists or
 *                     not;
 *   CMP_STEP_UPDATE   update the stored transaction to cmp_exchange_txn()
 *                     (only if its state is txn->prev_state), then
 *                     cmp_exchange_store_done();
 *   CMP_STEP_DONE     send cmp_exchange_response().
 *
 * A response that carries a certificate or confirms a revocation is only
 * produced after the INSERT that records it succeeded.  Every failure becomes
 * a protected CMP error: MAC-protected when the request's MAC was verified,
 * otherwise signed with the RA key.  The engine is driven from one thread at a
 * time; only cmp_exchange_compute() is meant to run on another thread.
 */
#ifndef CG_CMP_SERVER_H
#define CG_CMP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/records.h"
#include "core/crypto.h"
#include "core/der.h"

/* What the engine needs to know of the gateway; all pointers are borrowed and
 * must outlive every exchange. */
struct cmp_server_cfg {
  struct der_view ra_name;      /* RA subject Name (whole TLV): sender of responses */
  const struct cg_key *ra_key;  /* RA protection key */
  enum cg_sig_scheme ra_scheme;
  enum cg_hash ra_hash;
  const struct der_view *ra_chain; /* RA certificate first, then its chain */
  size_t n_ra_chain;
  const uint8_t *master_key;    /* 32 octets, for secrets at rest */
  uint32_t pbm_max_iterations;  /* cap on PasswordBasedMac / PBMAC1 iteration counts */
  unsigned max_clock_skew;      /* seconds messageTime may differ from now; 0: unchecked */
  unsigned max_failed_macs;     /* failed MACs that lock a reference; 0: never */
  unsigned lockout_seconds;     /* how long */
};

/* The profile a request arrived for (borrowed; outlives the exchange). */
/* How a profile checks the challenge a request carries (the PKCS#10
 * challengePassword of a p10cr, the CRMF regToken control of an ir / cr). */
enum cmp_challenge {
  CMP_CHALLENGE_NONE = 0,
  CMP_CHALLENGE_FIXED = 1,  /* one value for the profile */
  CMP_CHALLENGE_RANDOM = 2, /* one value per device, made with its secret */
};

struct cmp_profile {
  const char *name;
  enum cmp_challenge challenge;
  const char *challenge_value; /* CMP_CHALLENGE_FIXED */
  /* The issuing CA's chain, sent with issued certificates, and the anchors
   * signature-protected requests must chain to.  Read when an exchange
   * starts (on the caller's thread), so the caller may replace them between
   * exchanges while earlier ones still use the old views. */
  const struct der_view *ca_chain;
  size_t n_ca_chain;
  const struct der_view *trust_anchors;
  size_t n_trust_anchors;
  /* A root CA key update the CA announces (RFC 9483 §4.3.2): newWithNew,
   * newWithOld, oldWithNew (whole TLVs; p NULL when absent, all three when
   * none is announced).  Read when an exchange starts, as above. */
  struct der_view root_update[3];
  /* RAs whose nested messages (RFC 9483 §5.2.2) are accepted: their
   * signature must chain to these; none: nested messages are refused. */
  const struct der_view *nested_anchors;
  size_t n_nested_anchors;
  /* RFC 9483 §5.2.2.1: the signature of an RA of nested_anchors stands in
   * for the protection of an inner message that has none. */
  bool nested_vouch;
  /* RFC 9483 §5.3, §5.3.2: RAs and operators acting for others.  A signer
   * whose certificate chains to one of these (or is one) may revoke and
   * update any certificate of the profile; none: only the certificate
   * itself (and on_behalf, its enroller) may. */
  const struct der_view *ra_anchors;
  size_t n_ra_anchors;
  bool allow_mac;          /* MAC-protected requests (PBM, PBMAC1) */
  bool allow_sig;          /* signature-protected requests */
  bool allow_sha1_signatures; /* signature protection with SHA-1 (refused by default) */
  bool implicit_confirm;   /* grant implicitConfirm when asked */
  bool allow_ra_verified;  /* accept the raVerified POP */
  /* RFC 9483 §4.4: certificate requests wait for an operator's approval;
   * the device polls every check_after seconds. */
  bool manual_approval;
  /* RFC 9483 §4.4 (generalized delayed delivery): revocation requests wait
   * for an operator too, answered by an error message with status waiting. */
  bool manual_revocation;
  /* RFC 9483 §5.2.1: the CA's answers go to the device as they are, from a
   * backend that forwards the device's messages unchanged.  The device's
   * certConf and pollReq are forwarded too (CMP_STEP_FORWARD) once they
   * passed the gateway's own checks; its answers carry the CA's nonces. */
  bool relay;
  /* RFC 9483 §5.3: the credential (secret or signer certificate) that
   * enrolled a certificate may also update it (kur naming it in oldCertId):
   * an RA in front of the gateway acts for its devices so. */
  bool on_behalf;
  /* RFC 9483 §4.1.3: a kur certifies a new key; true lets it keep the old
   * one (badCertTemplate otherwise). */
  bool kur_same_key;
  /* A key certified in a certificate still in force may be certified again
   * (ir, cr, p10cr, kur); false: badCertTemplate.  A key reported
   * compromised never is. */
  bool key_reuse;
  unsigned check_after;
  /* Whose names a request may ask for (cmp/srv_names.c): the subjectAltName
   * types allowed (CMP_SAN_* bits), a glob the subject must match and
   * comma-separated globs each "type:value" subjectAltName must match (NULL
   * or "": any), and whether a kur may change the identity it updates. */
  unsigned san_types;
  const char *subject_pattern;
  const char *san_patterns;
  bool kur_new_identity;
  /* The public keys it certifies (RFC 9483 §4.1.1: the CA's policy): CMP_KEYT_*
   * bits (0: every type core/crypto.h accepts) and the smallest RSA modulus
   * (0: the bound of core/crypto.h).  Anything else is refused with
   * badCertTemplate when the request is read. */
  unsigned key_types;
  unsigned rsa_min_bits;
  /* RFC 9483 §4.1.6 central key generation: a template whose public key is
   * absent (or an AlgorithmIdentifier with an empty key) gets a key pair made
   * by the gateway, of the type it names or else kga_type / kga_bits
   * (CG_KEY_NONE: not offered, badCertTemplate).  The private key goes back
   * signed by the RA and encrypted for the device (core/cms.h): to a
   * MAC-protected device with its shared secret (PBKDF2 with kga_iterations;
   * id-alg-PWRI-KEK, or the AES key wrap where kga_aes_wrap), to a
   * signature-protected one for its protection certificate's key. */
  enum cg_key_type kga_type;
  unsigned kga_bits;
  uint32_t kga_iterations;
  bool kga_aes_wrap;
  /* Binding to the TLS client certificate (cmp_exchange_set_tls_client()):
   * a signature-protected request's signer must be it (tls_signer); a
   * MAC-protected request must come over a TLS session with one
   * (tls_mac).  Otherwise notAuthorized. */
  bool tls_signer, tls_mac;
};

enum {
  CMP_KEYT_RSA = 1u << 0,
  CMP_KEYT_P256 = 1u << 1,
  CMP_KEYT_P384 = 1u << 2,
  CMP_KEYT_P521 = 1u << 3,
  CMP_KEYT_ED25519 = 1u << 4,
  CMP_KEYT_ED448 = 1u << 5,
};

enum {
  CMP_SAN_DNS = 1u << 0,
  CMP_SAN_IP = 1u << 1,
  CMP_SAN_URI = 1u << 2,
  CMP_SAN_EMAIL = 1u << 3,
  CMP_SAN_DIRNAME = 1u << 4,
  CMP_SAN_OTHER = 1u << 5, /* otherName, x400Address, ...: never allowed */
};


/* What a CA is asked to certify (views into the exchange; valid until it is freed). */
struct cmp_issue_request {
  const char *profile;
  /* The request as it arrived (an approved one: as it was kept), for a CA
   * that is asked over CMP: the whole PKIMessage, its PKIBody, and the header
   * fields a forwarding RA keeps (RFC 9483 §5.2.3). */
  int type;             /* CMP_IR, CMP_CR, CMP_KUR, CMP_P10CR */
  struct der_view message, body;
  struct der_view transaction_id, sender_nonce; /* octets */
  uint64_t pvno;
  int64_t cert_req_id;
  /* What the backend kept when it last answered "waiting" for this request
   * (p NULL: asked for the first time). */
  struct der_view ca_state;
  /* The shared secret of a MAC-protected request (p NULL otherwise), for a
   * relaying backend that checks the CA's answers MAC'd for the device. */
  struct der_view secret;
  struct der_view subject;    /* Name, whole TLV */
  struct der_view spki;       /* SubjectPublicKeyInfo, whole TLV */
  struct der_view extensions; /* requested Extension elements (contents); p NULL when none */
  bool has_not_before, has_not_after;
  int64_t not_before, not_after;
  int64_t received_at; /* when the request arrived (an approved one: maybe days ago) */
};

/* What a CA answered to an issue or revoke call. */
struct cmp_ca_answer {
  /* 0, or why not: an error of the peer class is the device's own fault as
   * the CA reports it (badCertTemplate, badPOP, ...: passed on); any other
   * is the CA's or the way to it (systemUnavail, systemFailure). */
  int err;
  const char *detail; /* a statusString for the device and the log; NULL: none */
  /* The CA holds the request: ask again (with ca_state, kept with the
   * transaction) in check_after seconds. */
  bool waiting;
  unsigned check_after;
  struct der_view ca_state; /* at most CMP_MAX_CA_STATE octets; p NULL: none */
  struct der_view cert;     /* issue: the certificate (whole TLV) */
  /* Relaying profiles: the CA's answer, a whole PKIMessage to send to the
   * device as it is (p NULL: none came, the gateway answers itself). */
  struct der_view answer;
};

/* A device's message a relaying profile forwards as it is (views valid until
 * the exchange is freed). */
struct cmp_forward_request {
  const char *profile;
  int type;               /* CMP_CERTCONF, CMP_POLLREQ */
  int request_type;       /* of the transaction: CMP_IR, ..., CMP_RR */
  struct der_view message;
  struct der_view secret; /* see cmp_issue_request */
};

/* What a CA is asked to revoke (views valid until the exchange is freed). */
struct cmp_revoke_request {
  const char *profile;
  /* the certificate, whole TLV; p NULL for an approved rr revoked in the
   * background (its body names issuer and serial) */
  struct der_view cert;
  int reason;           /* CRLReason, -1: none */
  /* The device's rr as it arrived (p NULL when the revocation follows a
   * certificate the device rejected in certConf), with the header fields a
   * forwarding RA keeps. */
  struct der_view message, body;
  struct der_view transaction_id, sender_nonce;
  uint64_t pvno;
  struct der_view ca_state; /* see cmp_issue_request */
  struct der_view secret;   /* see cmp_issue_request */
};

enum cmp_step {
  CMP_STEP_LOOKUP,
  CMP_STEP_COMPUTE,
  CMP_STEP_ISSUE,
  CMP_STEP_REVOKE,
  CMP_STEP_FORWARD,
  CMP_STEP_INSERT,
  CMP_STEP_UPDATE,
  CMP_STEP_CRL,
  CMP_STEP_NESTED,
  CMP_STEP_NOTE,
  CMP_STEP_DONE,
};

/* What to read for CMP_STEP_LOOKUP; empty fields are not wanted. */
struct cmp_lookup_req {
  const uint8_t *ref; /* senderKID octets of a MAC-protected request */
  size_t ref_len;
  const char *txid;   /* lowercase hex */
  const char *serial; /* lowercase hex serial of a certificate we issued */
  const char *revoked_issuer; /* list the revocations of this issuer (RFC 4514 text) */
  const char *key_hash;       /* the key asked for (cg_spki_hash_hex()); "": none */
  bool check_key_reuse;       /* and whether it is certified in force (key_reuse false) */
};

/* What was found (borrowed for the duration of cmp_exchange_lookup_done()). */
struct cmp_lookup_res {
  int err;                                /* 0 or a store error */
  const struct cmp_secret_record *secret; /* NULL: not found */
  const struct cmp_txn_record *txn;       /* NULL: not found */
  struct der_view txn_cert;               /* certificate of that transaction; p NULL: none */
  bool cert_found;                        /* the certificate named by serial */
  struct der_view cert;
  bool cert_revoked;
  int cert_reason;                        /* its revocation's CRLReason; -1: none (given) */
  bool cert_held_by_operator;             /* on hold (reason 6) at an operator's request */
  bool cert_unconfirmed_kup;              /* issued by a kur, its certConf not come */
  bool cert_updated;                      /* a kur of it was confirmed */
  bool cert_update_pending;               /* a kur of it has not ended */
  bool key_certified;   /* key_hash, check_key_reuse: a certificate of it is in force */
  bool key_compromised; /* key_hash: one was revoked for keyCompromise or cACompromise */
  const char *cert_auth_ref;              /* auth_ref of the transaction that issued it */
  const struct cmp_revocation_record *revoked; /* of revoked_issuer */
  size_t n_revoked;
};

struct cmp_exchange;

/* A background exchange: it issues the certificate of an approved
 * transaction (state pending_ca) from its stored request, or asks the CA
 * again about one it holds, with no peer waiting: it goes
 * ISSUE -> UPDATE (pending_ca -> issued, with the certificate) -> DONE with no
 * response.  The request was authenticated when it arrived.  NULL only when
 * out of memory. */
struct cmp_exchange *cmp_exchange_new_background(const struct cmp_server_cfg *cfg,
                                               const struct cmp_profile *profile,
                                               const struct cmp_txn_record *txn,
                                               const uint8_t *req, size_t len, int64_t now);
/* For CMP_STEP_INSERT: the request to keep with a transaction that waits
 * (p NULL otherwise). */
struct der_view cmp_exchange_request_to_keep(const struct cmp_exchange *ex);

/* Starts an exchange for the request bytes (copied) arriving for profile at
 * time now.  NULL only when out of memory. */
struct cmp_exchange *cmp_exchange_new(const struct cmp_server_cfg *cfg,
                                      const struct cmp_profile *profile, const uint8_t *req,
                                      size_t len, int64_t now);
void cmp_exchange_free(struct cmp_exchange *ex);
/* The TLS client certificate (DER, copied) the request came with; none
 * (p NULL) for plain HTTP or TCP, or TLS without one.  Call right after
 * cmp_exchange_new(). */
void cmp_exchange_set_tls_client(struct cmp_exchange *ex, struct der_view cert);
/* Limits the request to the body types in mask (bit n = body type n), as an
 * operation path does (RFC 9483 §6.1); follow-up messages of a transaction
 * (certConf, pollReq, error) are always allowed.  A request of another type
 * is answered badRequest.  Call right after cmp_exchange_new(). */
void cmp_exchange_restrict(struct cmp_exchange *ex, uint32_t mask);

enum cmp_step cmp_exchange_step(const struct cmp_exchange *ex);

/* CMP_STEP_LOOKUP */
void cmp_exchange_lookup(const struct cmp_exchange *ex, struct cmp_lookup_req *req);
void cmp_exchange_lookup_done(struct cmp_exchange *ex, const struct cmp_lookup_res *res);

/* CMP_STEP_COMPUTE: the CPU-bound part of the current phase. */
void cmp_exchange_compute(struct cmp_exchange *ex);
/* True when the compute step at hand costs a few microseconds (writing an
 * answer MAC'd with the key already derived): the caller may run it inline
 * rather than hand it to another thread, whose round trip costs more. */
bool cmp_exchange_compute_is_light(const struct cmp_exchange *ex);
/* True when the compute step at hand derives a MAC key with more than
 * CMP_HEAVY_ITERATIONS iterations (the request chooses them, up to
 * pbm_max_iterations): most of a millisecond or more.  A caller that runs
 * compute steps on its event loop hands such a step to a worker all the same,
 * so that no request holds the loop that long. */
#define CMP_HEAVY_ITERATIONS 5000
bool cmp_exchange_compute_is_heavy(const struct cmp_exchange *ex);

/* CMP_STEP_ISSUE */
const struct cmp_issue_request *cmp_exchange_issue_request(const struct cmp_exchange *ex);
/* err 0 and the certificate DER (copied), or the CA's error. */
void cmp_exchange_issue_done(struct cmp_exchange *ex, int err, const uint8_t *cert, size_t len);
/* The CA answered CA_WAITING: the request waits (pending_ca) and the device
 * polls; the daemon's background issuer asks the CA again. */
void cmp_exchange_issue_waiting(struct cmp_exchange *ex);
/* The CA's whole answer (views copied): a certificate, waiting (what to
 * keep, when to ask again), or a refusal or failure (with the CA's words). */
void cmp_exchange_issue_answer(struct cmp_exchange *ex, const struct cmp_ca_answer *a);

/* CMP_STEP_REVOKE */
const struct cmp_revoke_request *cmp_exchange_revoke_request(const struct cmp_exchange *ex);
/* The CA revoked (err 0), holds the revocation (waiting), or refused or
 * failed.  A revocation the device asked for (rr) is recorded only after the
 * CA revoked; the one of a certificate rejected in certConf is recorded
 * whatever the CA said (the device's rejection stands; a CA that could not
 * revoke is in the log and the answer's statusString). */
void cmp_exchange_revoke_answer(struct cmp_exchange *ex, const struct cmp_ca_answer *a);

/* CMP_STEP_FORWARD: the device's message, and the CA's answer to it (a->answer
 * is sent to the device; a->cert, a->waiting and a->err say what the answer
 * means for the transaction). */
const struct cmp_forward_request *cmp_exchange_forward_request(const struct cmp_exchange *ex);
void cmp_exchange_forward_answer(struct cmp_exchange *ex, const struct cmp_ca_answer *a);

/* CMP_STEP_CRL: the revocations to list (valid until the exchange is freed). */
void cmp_exchange_crl_request(const struct cmp_exchange *ex,
                              const struct cmp_revocation_record **revoked, size_t *n);
/* err 0 and the signed CRL (copied), or the CA's error (the answer then
 * carries no CRL). */
void cmp_exchange_crl_done(struct cmp_exchange *ex, int err, const uint8_t *crl, size_t len);

/* CMP_STEP_NESTED: the inner messages (whole PKIMessage TLVs, valid until
 * the exchange is freed), and their answers, in any order (copied; NULL when
 * an inner exchange produced none).  After the last one the exchange goes on
 * to protect the nested answer. */
size_t cmp_exchange_nested_count(const struct cmp_exchange *ex);
struct der_view cmp_exchange_nested_msg(const struct cmp_exchange *ex, size_t i);
void cmp_exchange_nested_done(struct cmp_exchange *ex, size_t i, const uint8_t *rsp, size_t len);

/* The secret note of the exchange: for CMP_STEP_INSERT (counted with the
 * transaction) and CMP_STEP_NOTE (a refusal, on its own); NULL when none. */
const struct cmp_secret_note *cmp_exchange_secret_note(const struct cmp_exchange *ex);

/* CMP_STEP_INSERT / CMP_STEP_UPDATE */
const struct cmp_txn_record *cmp_exchange_txn(const struct cmp_exchange *ex);
const struct cmp_cert_record *cmp_exchange_cert(const struct cmp_exchange *ex);
const struct cmp_revocation_record *cmp_exchange_revocation(const struct cmp_exchange *ex);
void cmp_exchange_store_done(struct cmp_exchange *ex, int err);

/* An exchange that answers req, a request kept with its waiting transaction,
 * again: from the transaction as stored now (ip/cp/kup with the certificate,
 * rp, the rejection, or the waiting answer while it still waits), with the
 * same senderNonce the stored row expects next; nothing is written.  For
 * raw TCP clients that poll at the transport level.  NULL when out of
 * memory. */
/* An inner message of the nested request outer (its CMP_STEP_NESTED): like
 * cmp_exchange_new(), and where the profile has nested_vouch and outer's
 * RA signature verified, an inner message without protection of its own is
 * taken as the RA's (RFC 9483 §5.2.2.1): its sender is the RA ("cert:SERIAL"
 * of the RA's certificate), its answer signed by the gateway's RA key. */
struct cmp_exchange *cmp_exchange_new_inner(const struct cmp_server_cfg *cfg,
                                            const struct cmp_profile *profile,
                                            const struct cmp_exchange *outer, const uint8_t *req,
                                            size_t len, int64_t now);
struct cmp_exchange *cmp_exchange_new_replay(const struct cmp_server_cfg *cfg,
                                             const struct cmp_profile *profile,
                                             const uint8_t *req, size_t len, int64_t now);

/* CMP_STEP_DONE: the response, valid until the exchange is freed. */
/* The peer is gone: an exchange whose next step is the check of its request
 * (nothing looked at but the lookup, nothing written) ends at once, with no
 * answer; true when it did.  Later steps go on (what was begun is
 * finished and recorded). */
bool cmp_exchange_abandon(struct cmp_exchange *ex);
void cmp_exchange_response(const struct cmp_exchange *ex, const uint8_t **p, size_t *len);

/* A summary for the log line of the exchange. */
struct cmp_exchange_info {
  const char *req_type;  /* "ir", ... or "?" when undecodable */
  const char *rsp_type;  /* "ip", "error", ... */
  const char *txid;      /* hex, "" when none */
  const char *ref;       /* senderKID as text, the signer's serial, or "" */
  int status;            /* PKIStatus sent */
  int fail_info;         /* CG_FI_* bit sent, CG_FI_NONE when none */
  const char *detail;    /* why, for failures; "" otherwise */
  const char *serial;    /* hex serial of an issued or revoked certificate, "" when none */
  bool dropped;          /* abandoned unanswered (cmp_exchange_abandon) */
};
void cmp_exchange_info(const struct cmp_exchange *ex, struct cmp_exchange_info *info);

#endif
