/*
 * cms.c - the key package of central key generation (cms.h): OneAsymmetricKey
 * in an AsymmetricKeyPackage, signed (SignedData), encrypted (EnvelopedData)
 * for one recipient.  Each structure is written twice by one function, first
 * into a measuring writer, then into a buffer of the measured size.
 *
 * Copies of the private key (its PKCS#8, the key package, the SignedData
 * holding it, the content-encryption key, the key-encryption key) are wiped
 * before they are freed.
 */
#include <stdlib.h>
#include <string.h>

#include "core/certbuild.h"
#include "core/cms.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"

enum { CEK_LEN = 32, IV_LEN = 16, SALT_LEN = 16, UKM_LEN = 16 };

/* A malloc'ed DER buffer that is wiped when released. */
struct secret_der {
  uint8_t *p;
  size_t len;
};

static void secret_free(struct secret_der *d) {
  if (d->p != NULL) {
    cg_wipe(d->p, d->len);
    free(d->p);
  }
  d->p = NULL;
  d->len = 0;
}

/* Runs write(w, ctx) once to measure and once into a buffer of that size. */
typedef void write_fn(struct der_writer *w, const void *ctx);
static int emit(write_fn *write, const void *ctx, struct secret_der *out) {
  struct der_writer w;
  size_t len;
  cg_der_writer_init(&w, NULL, 0);
  write(&w, ctx);
  int rc = cg_der_writer_finish(&w, &len);
  if (rc != 0)
    return rc;
  out->p = malloc(len ? len : 1);
  if (out->p == NULL)
    return CG_ENOMEM;
  out->len = len;
  cg_der_writer_init(&w, out->p, len);
  write(&w, ctx);
  rc = cg_der_writer_finish(&w, &len);
  if (rc != 0)
    secret_free(out);
  return rc;
}

static void put_algid(struct der_writer *w, enum cg_oid_id oid, bool null_params) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, oid);
  if (null_params)
    cg_der_put_null(w);
  cg_der_end(w, m);
}

/* ------------------------------------------------------------------------ */
/* AsymmetricKeyPackage ::= SEQUENCE SIZE (1..MAX) OF OneAsymmetricKey
 * OneAsymmetricKey ::= SEQUENCE { version Version (v2 = 1),
 *   privateKeyAlgorithm AlgorithmIdentifier, privateKey OCTET STRING,
 *   attributes [0] Attributes OPTIONAL, publicKey [1] BIT STRING OPTIONAL }
 * (RFC 5958 §2), made from the key's PKCS#8 (v1) with its public key added. */

struct package_in {
  struct der_view alg, priv, attrs, pub; /* whole TLVs but pub: BIT STRING contents */
};

static void write_package(struct der_writer *w, const void *ctx) {
  const struct package_in *in = ctx;
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  size_t k = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 1);
  cg_der_put_raw(w, in->alg.p, in->alg.len);
  cg_der_put_raw(w, in->priv.p, in->priv.len);
  if (in->attrs.p != NULL)
    cg_der_put_raw(w, in->attrs.p, in->attrs.len);
  cg_der_put_tlv(w, DER_CTX(1), in->pub.p, in->pub.len);
  cg_der_end(w, k);
  cg_der_end(w, m);
}

static int key_package(const struct cg_key *key, struct secret_der *out) {
  uint8_t spki[1024];
  size_t spki_len;
  struct secret_der p8 = {malloc(8192), 0};
  struct package_in in = {{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};
  struct der_reader r, seq, s;
  struct der_tlv t;
  if (p8.p == NULL)
    return CG_ENOMEM;
  int rc = cg_key_spki(key, spki, sizeof spki, &spki_len);
  if (rc == 0) {
    rc = cg_key_private_pkcs8(key, p8.p, 8192, &p8.len);
    if (rc != 0)
      p8.len = 8192; /* wipe it all */
  }
  if (rc == 0) {
    /* PrivateKeyInfo: version, algorithm, privateKey, [0] attributes; the
     * public key is the SPKI's BIT STRING. */
    rc = CG_EDER;
    cg_der_reader_init(&r, p8.p, p8.len);
    if (cg_der_enter(&r, DER_SEQUENCE, &seq) == 0 && cg_der_expect(&seq, DER_INTEGER, &t) == 0 &&
        cg_der_expect(&seq, DER_SEQUENCE, &t) == 0) {
      in.alg = t.raw;
      if (cg_der_expect(&seq, DER_OCTET_STRING, &t) == 0) {
        in.priv = t.raw;
        if (cg_der_optional(&seq, DER_CTX_CONS(0), &t) == 1)
          in.attrs = t.raw;
        cg_der_reader_init(&r, spki, spki_len);
        if (cg_der_enter(&r, DER_SEQUENCE, &s) == 0 && cg_der_expect(&s, DER_SEQUENCE, &t) == 0 &&
            cg_der_expect(&s, DER_BIT_STRING, &t) == 0) {
          in.pub = t.val;
          rc = 0;
        }
      }
    }
  }
  if (rc == 0)
    rc = emit(write_package, &in, out);
  secret_free(&p8);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* SignedData (RFC 5652 §5; RFC 9483 §4.1.6: version 3, one digest
 * algorithm, one SignerInfo identified by the signer's subjectKeyIdentifier
 * where its certificate has one):
 *   SignedData ::= SEQUENCE { version, digestAlgorithms SET OF AlgorithmIdentifier,
 *     encapContentInfo SEQUENCE { eContentType, eContent [0] EXPLICIT OCTET STRING },
 *     certificates [0] IMPLICIT SET OF Certificate, signerInfos SET OF SignerInfo }
 *   SignerInfo ::= SEQUENCE { version (3: sid is a subjectKeyIdentifier, 1: an
 *     IssuerAndSerialNumber), sid, digestAlgorithm, signedAttrs [0] IMPLICIT SET OF
 *     Attribute, signatureAlgorithm, signature OCTET STRING }
 * The signature covers the DER of signedAttrs with the SET OF tag (§5.4);
 * they are contentType and messageDigest, in DER order (the shorter
 * contentType attribute sorts first). */

struct signed_in {
  struct der_view content;
  const struct cg_cms_signer *signer;
  struct cg_x509 cert;
  enum cg_hash digest_hash; /* of the content: the signature's, SHA-512 for EdDSA */
  uint8_t digest[CG_HASH_MAX];
  const uint8_t *sig;
  size_t sig_len;
};

static void write_signed_attrs(struct der_writer *w, const void *ctx) {
  const struct signed_in *in = ctx;
  size_t set = cg_der_begin(w, DER_SET);
  size_t a = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_CMS_CONTENT_TYPE);
  size_t v = cg_der_begin(w, DER_SET);
  cg_der_put_oid(w, CG_OID_CT_KEY_PACKAGE);
  cg_der_end(w, v);
  cg_der_end(w, a);
  a = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_CMS_MESSAGE_DIGEST);
  v = cg_der_begin(w, DER_SET);
  cg_der_put_tlv(w, DER_OCTET_STRING, in->digest, cg_hash_size(in->digest_hash));
  cg_der_end(w, v);
  cg_der_end(w, a);
  cg_der_end(w, set);
}

static void put_issuer_serial(struct der_writer *w, const struct cg_x509 *c) {
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_raw(w, c->issuer.p, c->issuer.len);
  cg_der_put_tlv(w, DER_INTEGER, c->serial.p, c->serial.len);
  cg_der_end(w, m);
}

static void write_signed(struct der_writer *w, const void *ctx) {
  const struct signed_in *in = ctx;
  const struct cg_cms_signer *s = in->signer;
  bool by_skid = in->cert.skid.len > 0;
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, 3);
  size_t set = cg_der_begin(w, DER_SET);
  put_algid(w, cg_hash_oid(in->digest_hash), false);
  cg_der_end(w, set);
  size_t eci = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_CT_KEY_PACKAGE);
  size_t e = cg_der_begin(w, DER_CTX_CONS(0));
  cg_der_put_tlv(w, DER_OCTET_STRING, in->content.p, in->content.len);
  cg_der_end(w, e);
  cg_der_end(w, eci);
  size_t certs = cg_der_begin(w, DER_CTX_CONS(0));
  for (size_t i = 0; i < s->n_chain; i++)
    cg_der_put_raw(w, s->chain[i].p, s->chain[i].len);
  cg_der_end(w, certs);
  set = cg_der_begin(w, DER_SET);
  size_t si = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, by_skid ? 3 : 1);
  if (by_skid)
    cg_der_put_tlv(w, DER_CTX(0), in->cert.skid.p, in->cert.skid.len);
  else
    put_issuer_serial(w, &in->cert);
  put_algid(w, cg_hash_oid(in->digest_hash), false);
  /* signedAttrs as [0] IMPLICIT: the same contents under another tag */
  struct der_writer attrs;
  uint8_t buf[160];
  size_t attrs_len;
  cg_der_writer_init(&attrs, buf, sizeof buf);
  write_signed_attrs(&attrs, in);
  if (cg_der_writer_finish(&attrs, &attrs_len) == 0) {
    size_t hdr = attrs_len > 2 + 127 ? 3 : 2; /* at most 255 octets of contents */
    cg_der_put_tlv(w, DER_CTX_CONS(0), buf + hdr, attrs_len - hdr);
  } else {
    w->err = CG_ESPACE;
  }
  cg_cert_write_sig_alg(w, s->scheme, s->hash);
  cg_der_put_tlv(w, DER_OCTET_STRING, in->sig, in->sig_len);
  cg_der_end(w, si);
  cg_der_end(w, set);
  cg_der_end(w, m);
}

static int sign_package(struct der_view package, const struct cg_cms_signer *s,
                        struct secret_der *out) {
  struct signed_in in;
  memset(&in, 0, sizeof in);
  in.content = package;
  in.signer = s;
  if (s->key == NULL || s->n_chain == 0 || cg_x509_parse(s->chain[0].p, s->chain[0].len, &in.cert))
    return CG_EINVAL;
  /* RFC 8419 §2.3: Ed25519 with signed attributes digests with SHA-512. */
  in.digest_hash = s->scheme == CG_SIG_EDDSA ? CG_HASH_SHA512 : s->hash;
  if (s->scheme == CG_SIG_EDDSA && cg_key_type(s->key) != CG_KEY_ED25519)
    return CG_EBAD_ALG; /* Ed448 would digest with SHAKE256 */
  struct cg_iov iov = {package.p, package.len};
  int rc = cg_hash(in.digest_hash, &iov, 1, in.digest);
  if (rc != 0)
    return rc;
  uint8_t attrs[160], sig[1024];
  size_t attrs_len, sig_len;
  struct der_writer w;
  cg_der_writer_init(&w, attrs, sizeof attrs);
  write_signed_attrs(&w, &in);
  if ((rc = cg_der_writer_finish(&w, &attrs_len)) != 0)
    return rc;
  struct cg_iov a = {attrs, attrs_len};
  if ((rc = cg_sign(s->key, s->scheme, s->hash, &a, 1, sig, sizeof sig, &sig_len)) != 0)
    return rc;
  in.sig = sig;
  in.sig_len = sig_len;
  return emit(write_signed, &in, out);
}

/* ------------------------------------------------------------------------ */
/* RecipientInfo (RFC 5652 §6.2), written into a buffer of its own.         */

struct recip_out {
  uint8_t buf[2048];
  size_t len;
  unsigned env_version; /* the EnvelopedData version it calls for (§6.1) */
};

static int finish_recip(struct der_writer *w, struct recip_out *r) {
  return cg_der_writer_finish(w, &r->len);
}

/* KeyTransRecipientInfo ::= SEQUENCE { version (2: rid is a
 * subjectKeyIdentifier [0], 0: an IssuerAndSerialNumber), rid,
 * keyEncryptionAlgorithm rsaEncryption, encryptedKey OCTET STRING } */
static int ktri(const struct cg_x509 *c, const struct cg_key *pub, const uint8_t *cek,
                struct recip_out *r) {
  uint8_t ek[CG_RSA_MAX_BITS / 8];
  size_t ek_len;
  int rc = cg_rsa_encrypt(pub, cek, CEK_LEN, ek, sizeof ek, &ek_len);
  if (rc != 0)
    return rc;
  bool by_skid = c->skid.len > 0;
  struct der_writer w;
  cg_der_writer_init(&w, r->buf, sizeof r->buf);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint64(&w, DER_INTEGER, by_skid ? 2 : 0);
  if (by_skid)
    cg_der_put_tlv(&w, DER_CTX(0), c->skid.p, c->skid.len);
  else
    put_issuer_serial(&w, c);
  put_algid(&w, CG_OID_RSA_ENCRYPTION, true);
  cg_der_put_tlv(&w, DER_OCTET_STRING, ek, ek_len);
  cg_der_end(&w, m);
  r->env_version = by_skid ? 2 : 0;
  return finish_recip(&w, r);
}

/* KeyAgreeRecipientInfo (RFC 5652 §6.2.2) with ephemeral-static ECDH (RFC
 * 5753 §3.1.1): [1] IMPLICIT SEQUENCE { version 3,
 *   originator [0] EXPLICIT originatorKey [1] IMPLICIT SEQUENCE {
 *     algorithm id-ecPublicKey (parameters absent), publicKey BIT STRING },
 *   ukm [1] EXPLICIT OCTET STRING, keyEncryptionAlgorithm
 *   dhSinglePass-stdDH-shaNNNkdf-scheme { id-aes256-wrap },
 *   recipientEncryptedKeys SEQUENCE OF SEQUENCE { rid (rKeyId [0] IMPLICIT
 *     SEQUENCE { subjectKeyIdentifier } or IssuerAndSerialNumber),
 *     encryptedKey OCTET STRING } }
 * The key-encryption key is X9.63-KDF(Z, ECC-CMS-SharedInfo { keyInfo
 * id-aes256-wrap, entityUInfo [0] EXPLICIT ukm, suppPubInfo [2] EXPLICIT
 * 256 as four octets }) (RFC 5753 §7.2). */
static int kari(const struct cg_x509 *c, const struct cg_key *pub, const uint8_t *cek,
                struct recip_out *r) {
  unsigned bits = cg_key_ec_bits(pub);
  enum cg_oid_id scheme = bits == 256   ? CG_OID_ECDH_SHA256_KDF
                          : bits == 384 ? CG_OID_ECDH_SHA384_KDF
                                        : CG_OID_ECDH_SHA512_KDF;
  enum cg_hash kdf_hash = bits == 256 ? CG_HASH_SHA256 : bits == 384 ? CG_HASH_SHA384
                                                                     : CG_HASH_SHA512;
  struct cg_key *eph = NULL;
  uint8_t z[72], kek[32], ukm[UKM_LEN], info[64], eph_spki[256], wrapped[CEK_LEN + 8];
  size_t z_len = 0, info_len, eph_len;
  int rc = bits == 0 ? CG_EBAD_ALG : cg_key_generate_ec(bits, &eph);
  if (rc == 0)
    rc = cg_ecdh(eph, pub, z, sizeof z, &z_len);
  if (rc == 0)
    rc = cg_key_spki(eph, eph_spki, sizeof eph_spki, &eph_len);
  if (rc == 0)
    rc = cg_random(ukm, sizeof ukm);
  if (rc == 0) {
    static const uint8_t keylen_bits[4] = {0, 0, 1, 0}; /* 256 */
    struct der_writer w;
    cg_der_writer_init(&w, info, sizeof info);
    size_t m = cg_der_begin(&w, DER_SEQUENCE);
    put_algid(&w, CG_OID_AES256_WRAP, false);
    size_t e = cg_der_begin(&w, DER_CTX_CONS(0));
    cg_der_put_tlv(&w, DER_OCTET_STRING, ukm, sizeof ukm);
    cg_der_end(&w, e);
    e = cg_der_begin(&w, DER_CTX_CONS(2));
    cg_der_put_tlv(&w, DER_OCTET_STRING, keylen_bits, sizeof keylen_bits);
    cg_der_end(&w, e);
    cg_der_end(&w, m);
    rc = cg_der_writer_finish(&w, &info_len);
  }
  if (rc == 0)
    rc = cg_x963_kdf(kdf_hash, z, z_len, info, info_len, kek, sizeof kek);
  if (rc == 0)
    rc = cg_aes_key_wrap(kek, sizeof kek, cek, CEK_LEN, wrapped);
  cg_wipe(z, sizeof z);
  cg_wipe(kek, sizeof kek);
  cg_key_free(eph); /* the ephemeral private key is not needed again */
  if (rc != 0)
    return rc;
  /* The ephemeral public key: the SPKI's BIT STRING. */
  struct der_reader rd, spki;
  struct der_tlv alg, bits_tlv;
  cg_der_reader_init(&rd, eph_spki, eph_len);
  if (cg_der_enter(&rd, DER_SEQUENCE, &spki) != 0 || cg_der_expect(&spki, DER_SEQUENCE, &alg) != 0 ||
      cg_der_expect(&spki, DER_BIT_STRING, &bits_tlv) != 0)
    return CG_ECRYPTO;
  bool by_skid = c->skid.len > 0;
  struct der_writer w;
  cg_der_writer_init(&w, r->buf, sizeof r->buf);
  size_t m = cg_der_begin(&w, DER_CTX_CONS(1));
  cg_der_put_uint64(&w, DER_INTEGER, 3);
  size_t o = cg_der_begin(&w, DER_CTX_CONS(0));
  size_t ok = cg_der_begin(&w, DER_CTX_CONS(1));
  put_algid(&w, CG_OID_EC_PUBLIC_KEY, false);
  cg_der_put_raw(&w, bits_tlv.raw.p, bits_tlv.raw.len);
  cg_der_end(&w, ok);
  cg_der_end(&w, o);
  size_t u = cg_der_begin(&w, DER_CTX_CONS(1));
  cg_der_put_tlv(&w, DER_OCTET_STRING, ukm, sizeof ukm);
  cg_der_end(&w, u);
  size_t kea = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, scheme);
  put_algid(&w, CG_OID_AES256_WRAP, false);
  cg_der_end(&w, kea);
  size_t reks = cg_der_begin(&w, DER_SEQUENCE);
  size_t rek = cg_der_begin(&w, DER_SEQUENCE);
  if (by_skid) {
    size_t rk = cg_der_begin(&w, DER_CTX_CONS(0));
    cg_der_put_tlv(&w, DER_OCTET_STRING, c->skid.p, c->skid.len);
    cg_der_end(&w, rk);
  } else {
    put_issuer_serial(&w, c);
  }
  cg_der_put_tlv(&w, DER_OCTET_STRING, wrapped, sizeof wrapped);
  cg_der_end(&w, rek);
  cg_der_end(&w, reks);
  cg_der_end(&w, m);
  r->env_version = 2;
  return finish_recip(&w, r);
}

/* PasswordRecipientInfo (RFC 5652 §6.2.4): [3] IMPLICIT SEQUENCE { version 0,
 *   keyDerivationAlgorithm [0] IMPLICIT SEQUENCE { id-PBKDF2, PBKDF2-params {
 *     salt OCTET STRING, iterationCount, keyLength 32, prf hmacWithSHA256 } },
 *   keyEncryptionAlgorithm, encryptedKey OCTET STRING }
 * The key-encryption algorithm is id-alg-PWRI-KEK { aes256-CBC iv } (RFC 3211
 * §2.3: the content-encryption key, prefixed by its length and the
 * complement of its first three octets and padded with random octets to two
 * blocks at least, encrypted twice in CBC mode, the second pass chained on
 * from the first) or id-aes256-wrap (RFC 3394). */
static int pwri(const struct cg_cms_recipient *to, const uint8_t *cek, struct recip_out *r) {
  uint8_t salt[SALT_LEN], kek[32], iv[IV_LEN], ek[48];
  size_t ek_len;
  int rc = to->iterations == 0 ? CG_EINVAL : cg_random(salt, sizeof salt);
  if (rc == 0)
    rc = cg_pbkdf2(CG_HASH_SHA256, to->password, to->password_len, salt, sizeof salt,
                   to->iterations, kek, sizeof kek);
  if (rc == 0 && to->wrap == CG_CMS_AES_WRAP) {
    rc = cg_aes_key_wrap(kek, sizeof kek, cek, CEK_LEN, ek);
    ek_len = CEK_LEN + 8;
  } else if (rc == 0) {
    ek[0] = CEK_LEN;
    ek[1] = (uint8_t)~cek[0];
    ek[2] = (uint8_t)~cek[1];
    ek[3] = (uint8_t)~cek[2];
    memcpy(ek + 4, cek, CEK_LEN);
    ek_len = sizeof ek; /* 4 + 32 rounded up to whole blocks */
    rc = cg_random(ek + 4 + CEK_LEN, ek_len - 4 - CEK_LEN);
    if (rc == 0)
      rc = cg_random(iv, sizeof iv);
    if (rc == 0)
      rc = cg_aes_cbc_encrypt(kek, sizeof kek, iv, ek, ek_len, ek);
    if (rc == 0)
      rc = cg_aes_cbc_encrypt(kek, sizeof kek, ek + ek_len - IV_LEN, ek, ek_len, ek);
  }
  cg_wipe(kek, sizeof kek);
  if (rc != 0) {
    cg_wipe(ek, sizeof ek);
    return rc;
  }
  struct der_writer w;
  cg_der_writer_init(&w, r->buf, sizeof r->buf);
  size_t m = cg_der_begin(&w, DER_CTX_CONS(3));
  cg_der_put_uint64(&w, DER_INTEGER, 0);
  size_t kda = cg_der_begin(&w, DER_CTX_CONS(0));
  cg_der_put_oid(&w, CG_OID_PBKDF2);
  size_t prm = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_tlv(&w, DER_OCTET_STRING, salt, sizeof salt);
  cg_der_put_uint64(&w, DER_INTEGER, to->iterations);
  cg_der_put_uint64(&w, DER_INTEGER, 32);
  put_algid(&w, CG_OID_HMAC_SHA256, true);
  cg_der_end(&w, prm);
  cg_der_end(&w, kda);
  if (to->wrap == CG_CMS_AES_WRAP) {
    put_algid(&w, CG_OID_AES256_WRAP, false);
  } else {
    size_t kea = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_oid(&w, CG_OID_PWRI_KEK);
    size_t inner = cg_der_begin(&w, DER_SEQUENCE);
    cg_der_put_oid(&w, CG_OID_AES256_CBC);
    cg_der_put_tlv(&w, DER_OCTET_STRING, iv, sizeof iv);
    cg_der_end(&w, inner);
    cg_der_end(&w, kea);
  }
  cg_der_put_tlv(&w, DER_OCTET_STRING, ek, ek_len);
  cg_der_end(&w, m);
  r->env_version = 3;
  return finish_recip(&w, r);
}

static int recipient(const struct cg_cms_recipient *to, const uint8_t *cek, struct recip_out *r) {
  if (to->kind == CG_CMS_PASSWORD)
    return to->password == NULL ? CG_EINVAL : pwri(to, cek, r);
  struct cg_x509 c;
  struct cg_key *pub = NULL;
  if (to->cert.p == NULL || cg_x509_parse(to->cert.p, to->cert.len, &c) != 0)
    return CG_EDER;
  int rc = cg_key_from_spki(c.spki.p, c.spki.len, &pub);
  if (rc == 0) {
    switch (cg_key_type(pub)) {
    case CG_KEY_RSA:
      rc = ktri(&c, pub, cek, r);
      break;
    case CG_KEY_EC:
      rc = kari(&c, pub, cek, r);
      break;
    default:
      rc = CG_EBAD_ALG;
      break;
    }
  }
  cg_key_free(pub);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* EnvelopedData ::= SEQUENCE { version, recipientInfos SET OF RecipientInfo,
 *   encryptedContentInfo SEQUENCE { contentType id-signedData,
 *     contentEncryptionAlgorithm aes256-CBC { iv OCTET STRING },
 *     encryptedContent [0] IMPLICIT OCTET STRING } }                       */

struct enveloped_in {
  const struct recip_out *recip;
  uint8_t iv[IV_LEN];
  struct der_view ciphertext;
};

static void write_enveloped(struct der_writer *w, const void *ctx) {
  const struct enveloped_in *in = ctx;
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_uint64(w, DER_INTEGER, in->recip->env_version);
  size_t set = cg_der_begin(w, DER_SET);
  cg_der_put_raw(w, in->recip->buf, in->recip->len);
  cg_der_end(w, set);
  size_t eci = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_CMS_SIGNED_DATA);
  size_t alg = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_AES256_CBC);
  cg_der_put_tlv(w, DER_OCTET_STRING, in->iv, sizeof in->iv);
  cg_der_end(w, alg);
  cg_der_put_tlv(w, DER_CTX(0), in->ciphertext.p, in->ciphertext.len);
  cg_der_end(w, eci);
  cg_der_end(w, m);
}

int cg_cms_key_package(const struct cg_key *key, const struct cg_cms_signer *signer,
                       const struct cg_cms_recipient *to, uint8_t **out, size_t *out_len) {
  struct secret_der package = {NULL, 0}, sd = {NULL, 0}, ct = {NULL, 0}, env = {NULL, 0};
  struct recip_out *r = calloc(1, sizeof *r);
  struct enveloped_in in;
  uint8_t cek[CEK_LEN];
  if (r == NULL)
    return CG_ENOMEM;
  if (key == NULL || !cg_key_is_private(key) || signer == NULL || to == NULL || out == NULL ||
      out_len == NULL) {
    free(r);
    return CG_EINVAL;
  }
  int rc = key_package(key, &package);
  if (rc == 0)
    rc = sign_package((struct der_view){package.p, package.len}, signer, &sd);
  secret_free(&package);
  if (rc == 0)
    rc = cg_random(cek, sizeof cek);
  if (rc == 0)
    rc = cg_random(in.iv, sizeof in.iv);
  if (rc == 0)
    rc = recipient(to, cek, r);
  if (rc == 0) {
    /* PKCS#7 padding (RFC 5652 §6.3): 1 to 16 octets, each the count. */
    size_t pad = IV_LEN - sd.len % IV_LEN;
    ct.len = sd.len + pad;
    ct.p = malloc(ct.len);
    if (ct.p == NULL) {
      rc = CG_ENOMEM;
    } else {
      memcpy(ct.p, sd.p, sd.len);
      memset(ct.p + sd.len, (int)pad, pad);
      rc = cg_aes_cbc_encrypt(cek, sizeof cek, in.iv, ct.p, ct.len, ct.p);
    }
  }
  cg_wipe(cek, sizeof cek);
  secret_free(&sd);
  if (rc == 0) {
    in.recip = r;
    in.ciphertext = (struct der_view){ct.p, ct.len};
    rc = emit(write_enveloped, &in, &env);
  }
  secret_free(&ct);
  free(r);
  if (rc != 0)
    return rc;
  *out = env.p;
  *out_len = env.len;
  return 0;
}

static void write_content_info(struct der_writer *w, const void *ctx) {
  const struct der_view *env = ctx;
  size_t m = cg_der_begin(w, DER_SEQUENCE);
  cg_der_put_oid(w, CG_OID_CMS_ENVELOPED_DATA);
  size_t e = cg_der_begin(w, DER_CTX_CONS(0));
  cg_der_put_raw(w, env->p, env->len);
  cg_der_end(w, e);
  cg_der_end(w, m);
}

int cg_cms_enveloped_content_info(struct der_view enveloped, uint8_t **out, size_t *out_len) {
  struct secret_der d = {NULL, 0};
  if (enveloped.p == NULL || out == NULL || out_len == NULL)
    return CG_EINVAL;
  int rc = emit(write_content_info, &enveloped, &d);
  if (rc != 0)
    return rc;
  *out = d.p;
  *out_len = d.len;
  return 0;
}
