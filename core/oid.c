/*
 * oid.c - the table of known object identifiers, built from the CG_OID_LIST
 * X-macro of oid.h so that the id, the dotted form and the DER contents come
 * from one line each, and the algorithm tables that map OIDs to hash and
 * signature schemes (RFC 9481 lists the algorithms CMP uses).
 */
#include "core/oid.h"

#include <assert.h>

#include "core/err.h"

#define X(name, dotted, ...) static const uint8_t oid_##name[] = {__VA_ARGS__};
CG_OID_LIST(X)
#undef X

struct oid_entry {
  const uint8_t *der;
  size_t len;
  const char *dotted;
};

static const struct oid_entry oids[CG_OID__COUNT] = {
    [CG_OID_UNKNOWN] = {NULL, 0, "unknown"},
#define X(name, dotted, ...) [CG_OID_##name] = {oid_##name, sizeof oid_##name, dotted},
    CG_OID_LIST(X)
#undef X
};

static bool valid_id(enum cg_oid_id id) { return id > CG_OID_UNKNOWN && id < CG_OID__COUNT; }

struct der_view cg_oid(enum cg_oid_id id) {
  struct der_view v = {NULL, 0};
  if (valid_id(id)) {
    v.p = oids[id].der;
    v.len = oids[id].len;
  }
  return v;
}

const char *cg_oid_dotted(enum cg_oid_id id) {
  return valid_id(id) ? oids[id].dotted : oids[CG_OID_UNKNOWN].dotted;
}

enum cg_oid_id cg_oid_lookup(struct der_view v) {
  for (int id = CG_OID_UNKNOWN + 1; id < CG_OID__COUNT; id++)
    if (cg_der_view_is(v, oids[id].der, oids[id].len))
      return (enum cg_oid_id)id;
  return CG_OID_UNKNOWN;
}

void cg_der_put_oid(struct der_writer *w, enum cg_oid_id id) {
  assert(valid_id(id));
  struct der_view v = cg_oid(id);
  cg_der_put_tlv(w, DER_OID, v.p, v.len);
}

/* One row per (OID, hash) pair of each family; the reverse lookups take the
 * first row with the hash, which is why HMAC_SHA1 (RFC 9481 §6.2.1) precedes
 * its RSADSI alias. */
struct hash_row {
  enum cg_oid_id oid;
  enum cg_hash hash;
};

static const struct hash_row hash_rows[] = {
    {CG_OID_SHA1, CG_HASH_SHA1},     {CG_OID_SHA224, CG_HASH_SHA224},
    {CG_OID_SHA256, CG_HASH_SHA256}, {CG_OID_SHA384, CG_HASH_SHA384},
    {CG_OID_SHA512, CG_HASH_SHA512},
};

static const struct hash_row hmac_rows[] = {
    {CG_OID_HMAC_SHA1, CG_HASH_SHA1},       {CG_OID_HMAC_SHA1_RSADSI, CG_HASH_SHA1},
    {CG_OID_HMAC_SHA224, CG_HASH_SHA224},   {CG_OID_HMAC_SHA256, CG_HASH_SHA256},
    {CG_OID_HMAC_SHA384, CG_HASH_SHA384},   {CG_OID_HMAC_SHA512, CG_HASH_SHA512},
};

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

static enum cg_hash hash_of(const struct hash_row *rows, size_t n, enum cg_oid_id id) {
  for (size_t i = 0; i < n; i++)
    if (rows[i].oid == id)
      return rows[i].hash;
  return CG_HASH_NONE;
}

static enum cg_oid_id oid_of(const struct hash_row *rows, size_t n, enum cg_hash h) {
  for (size_t i = 0; i < n; i++)
    if (rows[i].hash == h)
      return rows[i].oid;
  return CG_OID_UNKNOWN;
}

enum cg_hash cg_oid_hash(enum cg_oid_id id) { return hash_of(hash_rows, NROWS(hash_rows), id); }
enum cg_hash cg_oid_hmac(enum cg_oid_id id) { return hash_of(hmac_rows, NROWS(hmac_rows), id); }
enum cg_oid_id cg_hash_oid(enum cg_hash h) { return oid_of(hash_rows, NROWS(hash_rows), h); }
enum cg_oid_id cg_hmac_oid(enum cg_hash h) { return oid_of(hmac_rows, NROWS(hmac_rows), h); }

/* Signature algorithms (RFC 9481 §3).  RSASSA-PSS takes its hash from the
 * parameters (RFC 4055 §3.1) and EdDSA has none of its own choosing
 * (RFC 8419 §3), so both carry CG_HASH_NONE here.  Ed25519 precedes Ed448 so
 * the reverse lookup of EdDSA gives Ed25519. */
static const struct sig_row {
  enum cg_oid_id oid;
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
} sig_rows[] = {
    {CG_OID_ECDSA_SHA224, CG_SIG_ECDSA, CG_HASH_SHA224},
    {CG_OID_ECDSA_SHA256, CG_SIG_ECDSA, CG_HASH_SHA256},
    {CG_OID_ECDSA_SHA1, CG_SIG_ECDSA, CG_HASH_SHA1}, /* read only where a profile allows SHA-1 */
    {CG_OID_ECDSA_SHA384, CG_SIG_ECDSA, CG_HASH_SHA384},
    {CG_OID_ECDSA_SHA512, CG_SIG_ECDSA, CG_HASH_SHA512},
    {CG_OID_RSA_SHA1, CG_SIG_RSA_PKCS1, CG_HASH_SHA1},
    {CG_OID_RSA_SHA224, CG_SIG_RSA_PKCS1, CG_HASH_SHA224},
    {CG_OID_RSA_SHA256, CG_SIG_RSA_PKCS1, CG_HASH_SHA256},
    {CG_OID_RSA_SHA384, CG_SIG_RSA_PKCS1, CG_HASH_SHA384},
    {CG_OID_RSA_SHA512, CG_SIG_RSA_PKCS1, CG_HASH_SHA512},
    {CG_OID_RSASSA_PSS, CG_SIG_RSA_PSS, CG_HASH_NONE},
    {CG_OID_ED25519, CG_SIG_EDDSA, CG_HASH_NONE},
    {CG_OID_ED448, CG_SIG_EDDSA, CG_HASH_NONE},
};

int cg_oid_sigalg(enum cg_oid_id id, enum cg_sig_scheme *scheme, enum cg_hash *hash) {
  for (size_t i = 0; i < NROWS(sig_rows); i++) {
    if (sig_rows[i].oid == id) {
      *scheme = sig_rows[i].scheme;
      *hash = sig_rows[i].hash;
      return 0;
    }
  }
  *scheme = CG_SIG_NONE;
  *hash = CG_HASH_NONE;
  return CG_EBAD_ALG;
}

enum cg_oid_id cg_sigalg_oid(enum cg_sig_scheme scheme, enum cg_hash hash) {
  /* One OID serves PSS whatever the hash: the hash goes in the parameters. */
  if (scheme == CG_SIG_RSA_PSS)
    return CG_OID_RSASSA_PSS;
  for (size_t i = 0; i < NROWS(sig_rows); i++)
    if (sig_rows[i].scheme == scheme && sig_rows[i].hash == hash)
      return sig_rows[i].oid;
  return CG_OID_UNKNOWN;
}
