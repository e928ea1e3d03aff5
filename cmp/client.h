/*
 * client.h - building the requests of a CMP client (RFC 9810, RFC 9483
 * §4.1.1): a MAC-protected ir with a signature POP, and its certConf.  Used
 * by the tests, the fuzz corpus and the load tools; sans-I/O like the server.
 */
#ifndef CG_CMP_CLIENT_H
#define CG_CMP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/der.h"

struct cmp_client_mac {
  const uint8_t *secret;
  size_t secret_len;
  const uint8_t *ref; /* senderKID */
  size_t ref_len;
  uint32_t iterations;
  enum cg_hash owf, mac;
};

struct cmp_client_hdr {
  struct der_view transaction_id; /* 16 octets recommended */
  struct der_view sender_nonce;
  struct der_view recip_nonce;    /* p NULL: none (first message) */
  uint64_t pvno;                  /* 0 means 2 */
  uint64_t cert_req_id;           /* ir: certReqId (RFC 9483 §4.1.1 wants 0) */
};

/* A PBM-protected ir requesting a certificate for subject (Name, whole TLV)
 * and key's public key, with a signature POP by key.  0, CG_ESPACE, CG_ECRYPTO. */
int cmp_client_ir(const struct cmp_client_mac *mac, const struct cmp_client_hdr *hdr,
                  struct der_view subject, const struct cg_key *key, uint8_t *out, size_t cap,
                  size_t *len);
/* A PBM-protected certConf accepting (or rejecting) cert, hashed with the
 * hash of its signature algorithm. */
int cmp_client_cert_conf(const struct cmp_client_mac *mac, const struct cmp_client_hdr *hdr,
                         struct der_view cert, int64_t cert_req_id, bool reject, uint8_t *out,
                         size_t cap, size_t *len);

#endif
