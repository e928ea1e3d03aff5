/*
 * backend.h - the CA backend interface: a versioned table of functions that
 * a certificate authority implementation provides.  Adding a backend is one
 * file defining a `const struct ca_backend_ops` plus one line in the registry
 * (registry.c).
 *
 * Every call runs on the loop thread and must not block: a backend either
 * completes at once (calling done before returning), later (calling done
 * from the loop), or answers CA_WAITING for requests that will take long.
 */
#ifndef CG_CA_BACKENDS_BACKEND_H
#define CG_CA_BACKENDS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cmp/server.h"
#include "core/der.h"
#include "core/file.h"
#include "core/work.h"

#define CA_BACKEND_ABI 2

struct cg_config;

/* The certificate policy of a profile, applied by the CA. */
struct ca_policy {
  unsigned validity_days;  /* default lifetime of issued certificates */
  bool eku_client_auth;    /* id-kp-clientAuth in extKeyUsage */
  bool eku_server_auth;    /* id-kp-serverAuth in extKeyUsage */
  bool copy_san;           /* copy a requested subjectAltName */
  /* keyUsage: 0 by key type (RSA: digitalSignature, keyEncipherment; EC:
   * digitalSignature, keyAgreement; EdDSA: digitalSignature), else the
   * CERT_KU_* bits (core/certbuild.h) to write. */
  uint32_t key_usage;
};

/* How a backend reads its [backend NAME] configuration section. */
struct ca_settings {
  /* The value of key in the section, NULL when absent. */
  const char *(*get)(const void *ctx, const char *key);
  const void *ctx;
  /* The i-th key of the section (type left out), NULL past the last: a
   * backend refuses keys it does not know. */
  const char *(*key)(const void *ctx, size_t i);
  const char *base_dir; /* relative paths in settings are relative to this */
  const char *name;     /* the NAME of the section, for log lines */
  /* The gateway's own protection credentials ([ra]), for a backend that
   * protects what it sends upstream as the RA; borrowed for its life. */
  const struct cg_key *ra_key;
  const struct der_view *ra_chain; /* RA certificate first */
  size_t n_ra_chain;
  /* The configuration the section is part of, so that what is wrong with
   * it names the file and line (ca_settings_error()); NULL: none (tests). */
  const struct cg_config *config;
  /* [server] allow_readable_keys: a key file (or secret_file) that group or
   * others can access is only warned about, not refused. */
  bool allow_readable_keys;
};

/* How the backend reads its key files (cg_read_key_file()). */
enum cg_key_mode ca_settings_key_mode(const struct ca_settings *s);
/* Where the section's pkcs11: URIs get a module and a PIN ([pkcs11]), with
 * relative paths against base_dir and key files read as the mode above. */
struct cg_token_defaults;
void ca_settings_token_defaults(const struct ca_settings *s, struct cg_token_defaults *d);

/* Logs what is wrong with key (NULL: the section) of a backend's settings:
 * "config FILE:LINE: [backend NAME] KEY: message", or without a
 * configuration "backend NAME: KEY: message".  Returns CG_ECONFIG. */
int ca_settings_error(const struct ca_settings *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The backend's part of a call: its threadpool job and what it produced. */
struct ca_job {
  struct cg_work work;
  void *state;
  uint8_t *out;
  size_t out_len;
  int err;
};

/* One issuance call.  The caller owns it and keeps it alive until done runs. */
struct ca_call {
  const struct cmp_issue_request *req;
  const struct ca_policy *policy;
  /* The answer (its views valid only during the call): the certificate,
   * waiting, or an error (CG_EBAD_TEMPLATE and other peer errors are
   * reported to the requester as the CA's refusal). */
  void (*done)(struct ca_call *call, const struct cmp_ca_answer *answer);
  void *arg;
  struct ca_job job;
};

/* One message forwarded unchanged (a backend that relays), kept alive by the
 * caller until done runs. */
struct ca_forward_call {
  const struct cmp_forward_request *req;
  void (*done)(struct ca_forward_call *call, const struct cmp_ca_answer *answer);
  void *arg;
};

/* One revocation call, kept alive by the caller until done runs. */
struct ca_revoke_call {
  const struct cmp_revoke_request *req;
  void (*done)(struct ca_revoke_call *call, const struct cmp_ca_answer *answer);
  void *arg;
};

/* One CRL call: the revocations to list; done gets the signed CRL (valid only
 * during the call). */
struct ca_crl_call {
  const struct cmp_revocation_record *revoked;
  size_t n_revoked;
  void (*done)(struct ca_crl_call *call, int err, const uint8_t *der, size_t len);
  void *arg;
  struct ca_job job;
};

enum ca_result { CA_ACCEPTED = 0, CA_WAITING = 1 };

struct ca_backend_ops {
  unsigned abi;       /* CA_BACKEND_ABI */
  const char *name;   /* the `type` in configuration */
  size_t state_size;  /* octets the caller allocates (zeroed) for init */
  /* 0 or CG_ECONFIG (with a log line saying why). */
  int (*init)(void *state, uv_loop_t *loop, const struct ca_settings *settings);
  /* CA_ACCEPTED (done will be called, maybe before this returns), CA_WAITING
   * (the request is pending at the CA: poll later), or a negative error
   * (done is not called).  A request asked again after a waiting answer
   * carries the ca_state that answer kept. */
  int (*issue)(void *state, struct ca_call *call);
  /* Revokes a certificate at the CA: CA_ACCEPTED (done will be called) or a
   * negative error.  NULL for a CA whose revocations are the gateway's own
   * records (the store's revocations, from which its CRLs are made). */
  int (*revoke)(void *state, struct ca_revoke_call *call);
  /* True when the backend forwards the device's messages unchanged and its
   * answers carry the CA's answer to send on (RFC 9483 §5.2.1): the
   * profiles it serves relay (cmp_profile.relay).  NULL: never. */
  bool (*relays)(void *state);
  /* Relaying backends: sends the device's certConf or pollReq to the CA as
   * it is.  CA_ACCEPTED (done will be called) or a negative error. */
  int (*forward)(void *state, struct ca_forward_call *call);
  /* Signs a current CRL listing the given revocations (RFC 5280 §5).
   * CA_ACCEPTED (done will be called) or a negative error; NULL when the
   * backend cannot produce CRLs. */
  int (*crl)(void *state, struct ca_crl_call *call);
  /* The CA's certificate chain, issuing CA first.  The views are owned by
   * the backend and stay valid until it is destroyed: a backend that learns
   * a new chain keeps the old one too (exchanges on workers may be using it). */
  void (*ca_certs)(void *state, const struct der_view **certs, size_t *n);
  /* A root CA key update the CA announces (RFC 9483 §4.3.2): newWithNew,
   * newWithOld, oldWithNew (whole TLVs, p NULL when absent; lifetime as for
   * ca_certs); all absent when none.  NULL: never any. */
  void (*root_update)(void *state, struct der_view out[3]);
  /* The gateway stops: calls in flight end now (done with CG_EBUSY) and new
   * ones are refused; destroy follows when every exchange has ended.  NULL
   * when calls always end on their own soon. */
  void (*stop)(void *state);
  void (*destroy)(void *state);
};

/* The backend registered under type, or NULL. */
const struct ca_backend_ops *ca_backend_find(const char *type);

#endif
