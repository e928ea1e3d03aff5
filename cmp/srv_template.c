/*
 * srv_template.c - what a certificate request asks for, checked when it is
 * read: the CertTemplate of an ir, cr or kur, or the PKCS#10 request of a
 * p10cr.  These checks run before the request is authenticated, looked up
 * or stored, so a request refused here costs no key derivation, no
 * signature check and no row: its answer is signed by the RA and nothing of
 * it is kept.  What it may ask for is bounded by core/certbuild.h (subject
 * and subjectAltName: RDNs, names and octets) and core/crypto.h (the public
 * key), so a request past them is refused as the requester's fault,
 * badCertTemplate or badAlg with a statusString naming the bound, instead of
 * failing later, when the certificate is built, as an internal error.
 */
#include <stdio.h>
#include <string.h>

#include "cmp/server_int.h"
#include "core/certbuild.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"

bool cmp_srv_template_spki(struct cmp_exchange *ex, const struct cmp_cert_template *t,
                   struct der_view *out) {
  struct der_writer w;
  cg_der_writer_init(&w, NULL, 0);
  cmp_write_template_spki(&w, t);
  uint8_t *p = cg_arena_alloc(ex->arena, w.len);
  if (p == NULL)
    return false;
  cg_der_writer_init(&w, p, w.len);
  cmp_write_template_spki(&w, t);
  *out = (struct der_view){p, w.len};
  return true;
}

/* A sentence in the exchange's arena; the static fallback when memory ran
 * out (the refusal stands either way). */
static const char *say(struct cmp_exchange *ex, const char *fallback, const char *fmt,
                       const char *arg) {
  size_t len = strlen(fmt) + strlen(arg) + 1;
  char *s = cg_arena_alloc(ex->arena, len);
  if (s == NULL)
    return fallback;
  snprintf(s, len, fmt, arg);
  return s;
}

/* The profile's key_types bit of a key, 0 for none. */
static unsigned key_type_bit(enum cg_key_type type, unsigned bits) {
  switch (type) {
  case CG_KEY_RSA:
    return CMP_KEYT_RSA;
  case CG_KEY_EC:
    return bits == 256 ? CMP_KEYT_P256 : bits == 384 ? CMP_KEYT_P384 : CMP_KEYT_P521;
  case CG_KEY_ED25519:
    return CMP_KEYT_ED25519;
  case CG_KEY_ED448:
    return CMP_KEYT_ED448;
  case CG_KEY_NONE:
    break;
  }
  return 0;
}

static const char *key_type_name(enum cg_key_type type, unsigned bits) {
  switch (type) {
  case CG_KEY_RSA:
    return "RSA";
  case CG_KEY_EC:
    return bits == 256 ? "EC P-256" : bits == 384 ? "EC P-384" : "EC P-521";
  case CG_KEY_ED25519:
    return "Ed25519";
  case CG_KEY_ED448:
    return "Ed448";
  case CG_KEY_NONE:
    break;
  }
  return "these";
}

/* The public key to certify: within the bounds of core/crypto.h, else badAlg
 * (RFC 9810 §5.2.3: "unrecognized or unsupported algorithm identifier"), an
 * algorithm cmpgw does not know too; then of a type and size the profile
 * certifies (key_types, rsa_min_bits), else badCertTemplate: the template
 * asks for what the CA's policy does not give (RFC 9483 §4.1.1).  A key that
 * is not DER is left to the proof of possession, which fails on it. */
static int check_key(struct cmp_exchange *ex, struct der_view spki) {
  const char *why;
  enum cg_key_type type;
  unsigned bits;
  if (spki.p == NULL)
    return 0;
  int err = cg_key_check_spki_size(spki.p, spki.len, &type, &bits, &why);
  if (err == CG_EBAD_KEY) {
    ex->detail =
        say(ex, "the public key is not accepted", "the public key is not accepted: %s", why);
    return CG_EBAD_KEY;
  }
  if (err == CG_EBAD_ALG) {
    ex->detail = "the public key's algorithm is not supported (RSA, EC P-256/384/521, Ed25519, "
                 "Ed448 are)";
    return CG_EBAD_ALG;
  }
  if (err != 0)
    return 0;
  const struct cmp_profile *p = ex->prof;
  if (p->key_types != 0 && (p->key_types & key_type_bit(type, bits)) == 0) {
    ex->detail = say(ex, "the profile does not certify keys of this type",
                     "the profile does not certify %s keys (key_types)", key_type_name(type, bits));
    return CG_EBAD_TEMPLATE;
  }
  if (type == CG_KEY_RSA && bits < p->rsa_min_bits) {
    char n[48];
    snprintf(n, sizeof n, "%u bits; at least %u", bits, p->rsa_min_bits);
    ex->detail = say(ex, "the RSA key is shorter than the profile certifies",
                     "the RSA key is shorter than the profile certifies (rsa_min_bits): %s", n);
    return CG_EBAD_TEMPLATE;
  }
  return 0;
}

/* RFC 9483 §4.1.6: a template whose publicKey is absent, or names an
 * algorithm with an empty key, asks the gateway to make the key pair.  The
 * algorithm, when named, chooses the key (an EC curve by its parameters; RSA
 * of the profile's size, or rsa_min_bits and at least 2048); the profile's
 * central_keygen otherwise.  The key type must be one the profile certifies.
 * Where the device's answer waits (approval) or is the CA's own (relay),
 * there is no exchange to hand the key to: refused. */
static int check_central_key(struct cmp_exchange *ex, const struct cmp_cert_template *t) {
  const struct cmp_profile *p = ex->prof;
  if (p->kga_type == CG_KEY_NONE) {
    ex->detail = "the template has no public key, and central key generation is not offered "
                 "(central_keygen = off)";
    return CG_EBAD_TEMPLATE;
  }
  if (p->manual_approval || p->relay) {
    ex->detail = p->relay ? "central key generation is not offered where the CA answers itself "
                            "(a relaying backend)"
                          : "central key generation is not offered where requests wait for "
                            "approval";
    return CG_EBAD_TEMPLATE;
  }
  enum cg_key_type type = p->kga_type;
  unsigned bits = p->kga_bits;
  if (t->public_key.p != NULL) {
    struct der_reader r;
    struct der_tlv alg, key;
    struct der_view oid, params;
    cg_der_reader_view(&r, t->public_key);
    if (cg_der_expect(&r, DER_SEQUENCE, &alg) != 0 || cmp_read_alg_id(alg.raw, &oid, &params) != 0) {
      ex->detail = "the template's public key is malformed";
      return CG_EBAD_DATA;
    }
    switch (cg_oid_lookup(oid)) {
    case CG_OID_EC_PUBLIC_KEY: {
      struct der_reader pr;
      struct der_tlv curve;
      cg_der_reader_view(&pr, params);
      enum cg_oid_id c = params.len > 0 && cg_der_expect(&pr, DER_OID, &curve) == 0
                             ? cg_oid_lookup(curve.val)
                             : CG_OID_UNKNOWN;
      type = CG_KEY_EC;
      bits = c == CG_OID_P256 ? 256 : c == CG_OID_P384 ? 384 : c == CG_OID_P521 ? 521 : 0;
      if (params.len == 0 && p->kga_type == CG_KEY_EC)
        bits = p->kga_bits; /* no curve named: the profile's */
      else if (params.len == 0)
        bits = 256;
      break;
    }
    case CG_OID_RSA_ENCRYPTION:
      if (p->kga_type != CG_KEY_RSA) {
        type = CG_KEY_RSA;
        bits = 2048;
      }
      break;
    case CG_OID_ED25519:
      type = CG_KEY_ED25519;
      bits = 256;
      break;
    default:
      type = CG_KEY_NONE;
      break;
    }
    if (type == CG_KEY_NONE || bits == 0) {
      ex->detail = "central key generation makes RSA, EC P-256/384/521 and Ed25519 keys";
      return CG_EBAD_ALG;
    }
    /* The key may be left out entirely, or be an empty BIT STRING. */
    if (!cg_der_at_end(&r) &&
        (cg_der_expect(&r, DER_BIT_STRING, &key) != 0 || key.val.len > 1 || !cg_der_at_end(&r))) {
      ex->detail = "the template's public key is malformed";
      return CG_EBAD_DATA;
    }
  }
  if (type == CG_KEY_RSA && bits < p->rsa_min_bits)
    bits = (p->rsa_min_bits + 7) / 8 * 8;
  if (p->key_types != 0 && (p->key_types & key_type_bit(type, bits)) == 0) {
    ex->detail = say(ex, "the profile does not certify keys of this type",
                     "the profile does not certify %s keys (key_types)", key_type_name(type, bits));
    return CG_EBAD_TEMPLATE;
  }
  ex->kga = true;
  ex->kga_type = type;
  ex->kga_bits = bits;
  return 0;
}

/* The subject and the subjectAltName asked for (either may be absent), within
 * the bounds of core/certbuild.h.  A subjectAltName extension that cannot be
 * found for malformed extensions is left to the CA, which refuses it if it
 * would copy it. */
static int check_sizes(struct cmp_exchange *ex, struct der_view subject,
                       struct der_view extensions) {
  enum { WHY = 96 };
  char *why = cg_arena_alloc(ex->arena, WHY);
  struct der_view san;
  bool critical;
  if (why == NULL) {
    ex->detail = "out of memory";
    return CG_ENOMEM;
  }
  ex->detail = why;
  if (subject.p != NULL && cg_cert_check_subject(subject, why, WHY) != 0)
    return CG_EBAD_TEMPLATE;
  if (extensions.p != NULL &&
      cg_x509_find_ext(extensions, cg_oid(CG_OID_EXT_SAN), &san, &critical) == 1 &&
      cg_cert_check_san_size(san, why, WHY) != 0)
    return CG_EBAD_TEMPLATE;
  ex->detail = NULL;
  return 0;
}

/* No public key, or an AlgorithmIdentifier with an empty BIT STRING (RFC
 * 9483 §4.1.6). */
static bool template_asks_central_key(const struct cmp_cert_template *t) {
  if (t->public_key.p == NULL)
    return true;
  struct der_reader r;
  struct der_tlv alg, key;
  cg_der_reader_view(&r, t->public_key);
  return cg_der_expect(&r, DER_SEQUENCE, &alg) == 0 &&
         (cg_der_at_end(&r) ||
          (cg_der_expect(&r, DER_BIT_STRING, &key) == 0 && key.val.len <= 1));
}

int cmp_srv_check_template(struct cmp_exchange *ex) {
  struct der_view spki = {NULL, 0}, subject, extensions;
  if (ex->msg.type == CMP_P10CR) {
    subject = ex->p10.subject;
    extensions = ex->p10.extensions;
    spki = ex->p10.spki;
  } else if (ex->msg.type == CMP_IR || ex->msg.type == CMP_CR || ex->msg.type == CMP_KUR) {
    const struct cmp_cert_template *t = &ex->msg.u.cert_req.req[0].tmpl;
    subject = t->subject;
    extensions = t->extensions;
    if (template_asks_central_key(t)) {
      int err = check_sizes(ex, subject, extensions);
      return err != 0 ? err : check_central_key(ex, t);
    }
    if (!cmp_srv_template_spki(ex, t, &spki)) {
      ex->detail = "out of memory";
      return CG_ENOMEM;
    }
  } else {
    return 0;
  }
  ex->req_spki = spki;
  int err = check_sizes(ex, subject, extensions);
  if (err == 0)
    err = check_key(ex, spki);
  /* The key's identity, for the lookup of its certificates. */
  if (err == 0 && spki.p != NULL && cg_spki_hash_hex(spki, ex->key_hash) != 0)
    ex->key_hash[0] = '\0';
  return err;
}
