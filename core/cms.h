/*
 * cms.h - the CMS (RFC 5652) structures of central key generation (RFC 9483
 * §4.1.6): a private key made for a device, returned to it signed by the key
 * generation authority and encrypted for it alone.
 *
 * The result is an EnvelopedData whose encrypted content is a SignedData of
 * an AsymmetricKeyPackage (RFC 5958) holding the key as OneAsymmetricKey v2
 * (with its public key).  The EnvelopedData's one recipient is either the
 * holder of a certificate (key transport to an RSA key, RFC 5652 §6.2.1, or
 * ephemeral-static ECDH to an EC key, RFC 5753) or the holder of a password
 * (PBKDF2-HMAC-SHA256, RFC 5652 §6.2.4 and RFC 8018).  The content is
 * encrypted with AES-256-CBC under a fresh content-encryption key.
 *
 * The DER is written here with core/der.h, and every primitive (signature,
 * RSA encryption, ECDH, X9.63 KDF, PBKDF2, AES-CBC, AES key wrap) is
 * wolfCrypt's through core/crypto.h.  docs/conformance.md (A18) says why
 * wolfSSL's own PKCS#7 encoders are not used.
 */
#ifndef CG_CORE_CMS_H
#define CG_CORE_CMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/der.h"

/* How the content-encryption key reaches the recipient. */
enum cg_cms_recipient_kind {
  CG_CMS_CERT,     /* the recipient certificate's key: RSA (ktri) or EC (kari) */
  CG_CMS_PASSWORD, /* a shared secret (pwri) */
};

/* For CG_CMS_PASSWORD, the key-encryption algorithm: id-alg-PWRI-KEK (RFC
 * 3211, what OpenSSL and Bouncy Castle read) wrapping with AES-256-CBC, or
 * the AES-256 key wrap (RFC 3394) itself, as RFC 9483 §4.1.6.3 writes it. */
enum cg_cms_pwri_wrap { CG_CMS_PWRI_KEK, CG_CMS_AES_WRAP };

struct cg_cms_recipient {
  enum cg_cms_recipient_kind kind;
  struct der_view cert; /* CG_CMS_CERT: the certificate, whole TLV */
  const uint8_t *password; /* CG_CMS_PASSWORD */
  size_t password_len;
  uint32_t iterations;     /* PBKDF2 iteration count */
  enum cg_cms_pwri_wrap wrap;
};

/* The signer of the key package: its key, signature scheme and hash, and its
 * certificate (first) with the chain sent along. */
struct cg_cms_signer {
  const struct cg_key *key;
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  const struct der_view *chain;
  size_t n_chain;
};

/* The EnvelopedData (a DER SEQUENCE, not wrapped in a ContentInfo) carrying
 * the private key `key` as described above; *out is malloc'ed (freed by the
 * caller).  Every intermediate copy of the key is wiped.  0; CG_EBAD_ALG (a
 * recipient key that is neither RSA nor EC, an Ed448 signer); CG_EDER (a
 * recipient certificate that does not parse); CG_EINVAL; CG_ENOMEM;
 * CG_ECRYPTO. */
int cg_cms_key_package(const struct cg_key *key, const struct cg_cms_signer *signer,
                       const struct cg_cms_recipient *to, uint8_t **out, size_t *out_len);

/* ContentInfo ::= SEQUENCE { contentType id-envelopedData, content [0]
 * EXPLICIT EnvelopedData }, as files and `openssl cms` want it; *out
 * malloc'ed. */
int cg_cms_enveloped_content_info(struct der_view enveloped, uint8_t **out, size_t *out_len);

#endif
