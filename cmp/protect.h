/*
 * protect.h - CMP message protection (RFC 9810 §5.1.3): PasswordBasedMac
 * (§5.1.3.1) and signatures (§5.1.3.3), and the signature POP of CRMF
 * (RFC 4211 §4.1).  Pure computation: these run on threadpool workers.
 */
#ifndef CG_CMP_PROTECT_H
#define CG_CMP_PROTECT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/msg.h"
#include "cmp/pbmac1.h"
#include "core/crypto.h"
#include "core/der.h"
#include "core/limits.h"
#include "core/x509.h"
#include "core/x509_verify.h"

#define CMP_PBM_MIN_ITERATIONS 100 /* below this a MAC is refused as weak */
#define CMP_PBM_MAX_SALT CG_LIMIT_PBM_SALT

/* PBMParameter ::= SEQUENCE { salt OCTET STRING, owf AlgorithmIdentifier,
 *   iterationCount INTEGER, mac AlgorithmIdentifier } */
struct cmp_pbm_params {
  uint8_t salt[CMP_PBM_MAX_SALT];
  size_t salt_len;
  enum cg_hash owf;
  uint32_t iterations;
  enum cg_hash mac; /* HMAC with this hash */
};

/* Parses a protectionAlg AlgorithmIdentifier (whole TLV) that must be
 * PasswordBasedMac.  CG_EBAD_ALG for another algorithm, an unknown OWF or MAC,
 * or an iteration count outside [CMP_PBM_MIN_ITERATIONS, max_iterations];
 * CG_EDER / CG_EBAD_DATA when malformed. */
int cmp_pbm_parse(struct der_view alg, uint32_t max_iterations, struct cmp_pbm_params *out);
/* Writes the AlgorithmIdentifier { id-PasswordBasedMac, PBMParameter }. */
void cmp_pbm_write_alg(struct der_writer *w, const struct cmp_pbm_params *p);
/* The PBM key, OWF^iterations(secret || salt): cg_hash_size(p->owf) octets.
 * The costly part of a PBM; a transaction that keeps its parameters (RFC 9810
 * §5.1.3.1) needs it once for a request and its answer. */
int cmp_pbm_derive(const struct cmp_pbm_params *p, const uint8_t *secret, size_t secret_len,
                   uint8_t key[CG_HASH_MAX], size_t *key_len);
/* The PBM value over data: HMAC(OWF^iterations(secret || salt), data).  out
 * gets cg_hash_size(p->mac) octets (*out_len). */
int cmp_pbm_compute(const struct cmp_pbm_params *p, const uint8_t *secret, size_t secret_len,
                    const struct cg_iov *data, size_t n, uint8_t out[CG_HASH_MAX],
                    size_t *out_len);
/* Verifies the PBM protection of a received message in constant time:
 * 0, CG_EBAD_MAC (no or wrong protection), or a cmp_pbm_parse() error. */
int cmp_pbm_verify(const struct cmp_msg *msg, uint32_t max_iterations, const uint8_t *secret,
                   size_t secret_len);

/* A MAC protection, PasswordBasedMac or PBMAC1 (RFC 9481 §6.1), as a
 * protectionAlg names it, and its key once derived from the shared secret.
 * The derivation is the costly part; RFC 9810 §5.1.3.1 recommends that the
 * parameters stay the same throughout a transaction, so one derivation
 * serves every message of it, both ways.  Server and client check and make
 * MACs with these functions alone. */
struct cmp_mac {
  bool is_pbmac1;
  struct cmp_pbm_params pbm;
  struct cmp_pbmac1_params pbmac1;
  uint8_t key[CMP_PBMAC1_MAX_KEY]; /* CMP_PBMAC1_MAX_KEY >= CG_HASH_MAX */
  size_t key_len;                  /* 0 until derived */
};

/* Reads the parameters of a protectionAlg (whole TLV) that is PBM or PBMAC1,
 * the iteration count capped at max_iterations.  0; CG_EBAD_ALG for another
 * algorithm or parameters refused (cmp_pbm_parse(), cmp_pbmac1_parse());
 * CG_EBAD_MAC when alg is absent; CG_EDER / CG_EBAD_DATA when malformed. */
int cmp_mac_parse(struct der_view alg, uint32_t max_iterations, struct cmp_mac *m);
/* Fresh parameters for our own messages: a random 16-octet salt, the given
 * iteration count and hashes (PBM: OWF and HMAC hash; PBMAC1: PBKDF2 PRF and
 * HMAC hash, a 32-octet key).  0 or CG_ECRYPTO. */
int cmp_mac_init(struct cmp_mac *m, bool pbmac1, uint32_t iterations, enum cg_hash owf,
                 enum cg_hash mac);
/* Derives the key from the secret (PBM: OWF^iterations(secret || salt);
 * PBMAC1: PBKDF2).  0 or CG_ECRYPTO. */
int cmp_mac_derive(struct cmp_mac *m, const uint8_t *secret, size_t secret_len);
/* The MAC over data with the derived key; out gets *len octets. */
int cmp_mac_compute(const struct cmp_mac *m, const struct cg_iov *data, size_t n,
                    uint8_t out[CG_HASH_MAX], size_t *len);
/* True when the protection of msg is the MAC of its ProtectedPart under the
 * derived key (compared in constant time). */
bool cmp_mac_matches(const struct cmp_mac *m, const struct cmp_msg *msg);
/* Writes the AlgorithmIdentifier of the parameters. */
void cmp_mac_write_alg(struct der_writer *w, const struct cmp_mac *m);
/* True when a and b name the same derivation (algorithm, salt, iterations,
 * hashes): a key derived for one serves the other. */
bool cmp_mac_same_key(const struct cmp_mac *a, const struct cmp_mac *b);
/* Forgets the key. */
void cmp_mac_wipe(struct cmp_mac *m);

/* The signer certificate whose path to the anchors last verified: the
 * answers of one server are all signed with the same certificate, and the
 * path need not be checked for each (a signature verification per
 * certificate in it).  An entry is trusted for CMP_PATH_CACHE_SECONDS at
 * most, never past the certificate's notAfter.  Shared by threads: the
 * caller gives it a mutex (cmp_path_cache_init()). */
#define CMP_PATH_CACHE_SECONDS 300
struct cmp_path_cache {
  pthread_mutex_t mu;
  bool valid;
  uint8_t cert_hash[32]; /* SHA-256 of the signer certificate's DER */
  const struct der_view *anchors; /* the anchors it was verified against */
  int64_t until;
};
int cmp_path_cache_init(struct cmp_path_cache *c);
void cmp_path_cache_destroy(struct cmp_path_cache *c);

/* Checks a signature-protected message the way RFC 9483 §3.2 and §3.5 ask of
 * either side: the first of extraCerts (parsed into *signer) must chain to
 * one of anchors, with the other extraCerts as intermediates, at time now;
 * it must be allowed to sign (digitalSignature, when keyUsage is present);
 * senderKID, when present, must be its subjectKeyIdentifier and a
 * directoryName sender its subject; and the signature over the ProtectedPart
 * must verify with its key.  The server checks requests with it, the client
 * answers.  0, or an error with *why a static text:
 *   CG_ENOT_TRUSTED  no valid path (*path_why says why), or no digitalSignature;
 *   CG_EBAD_MAC      no signer certificate, a signer key outside the
 *                    bounds of core/crypto.h (*why names the bound),
 *                    senderKID or sender naming another, or a signature
 *                    that does not verify;
 *   CG_EBAD_ALG      a signature algorithm that does not fit the key;
 *   CG_ENOMEM. */
int cmp_check_signed(const struct cmp_msg *msg, const struct der_view *anchors, size_t n_anchors,
                     int64_t now, struct cg_x509 *signer, enum cg_path_error *path_why,
                     const char **why);
/* The same, with the path of a signer found in cache not checked again (and
 * a signer whose path verifies put there).  cache may be NULL. */
int cmp_check_signed_cached(const struct cmp_msg *msg, const struct der_view *anchors,
                            size_t n_anchors, int64_t now, struct cmp_path_cache *cache,
                            struct cg_x509 *signer, enum cg_path_error *path_why,
                            const char **why);

/* Verifies a signature given by an AlgorithmIdentifier (whole TLV) with the
 * public key in spki (whole SubjectPublicKeyInfo TLV) over data.
 * 0, CG_EBAD_MAC (wrong signature), CG_EBAD_KEY (a key outside the bounds
 * of core/crypto.h), CG_EBAD_ALG (unsupported algorithm, or one that does
 * not fit the key). */
int cmp_verify_sig(struct der_view alg, struct der_view spki, const struct cg_iov *data, size_t n,
                   struct der_view sig);

/* Verifies the signature POP of a CertReqMsg (RFC 4211 §4.1: over the DER of
 * certReq when poposkInput is absent), using the template's public key.
 * 0 or CG_EBAD_POP. */
int cmp_verify_pop(const struct cmp_cert_req *req, const uint8_t *spki, size_t spki_len);

/* The template's public key as a SubjectPublicKeyInfo (the [6] IMPLICIT tag
 * replaced by SEQUENCE), written to w. */
void cmp_write_template_spki(struct der_writer *w, const struct cmp_cert_template *t);

#endif
