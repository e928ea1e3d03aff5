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
#include "core/work.h"

#define CA_BACKEND_ABI 1

/* The certificate policy of a profile, applied by the CA. */
struct ca_policy {
  unsigned validity_days;  /* default lifetime of issued certificates */
  bool eku_client_auth;    /* id-kp-clientAuth in extKeyUsage */
  bool eku_server_auth;    /* id-kp-serverAuth in extKeyUsage */
  bool copy_san;           /* copy a requested subjectAltName */
};

/* How a backend reads its [backend NAME] configuration section. */
struct ca_settings {
  /* The value of key in the section, NULL when absent. */
  const char *(*get)(const void *ctx, const char *key);
  const void *ctx;
  const char *base_dir; /* relative paths in settings are relative to this */
};

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
  /* err 0 and the certificate DER (valid only during the call), or an error:
   * CG_EBAD_TEMPLATE and other peer errors are reported to the requester. */
  void (*done)(struct ca_call *call, int err, const uint8_t *der, size_t len);
  void *arg;
  struct ca_job job;
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
   * (done is not called). */
  int (*issue)(void *state, struct ca_call *call);
  /* Signs a current CRL listing the given revocations (RFC 5280 §5).
   * CA_ACCEPTED (done will be called) or a negative error; NULL when the
   * backend cannot produce CRLs. */
  int (*crl)(void *state, struct ca_crl_call *call);
  /* The CA's certificate chain, issuing CA first (views owned by the backend). */
  void (*ca_certs)(void *state, const struct der_view **certs, size_t *n);
  void (*destroy)(void *state);
};

/* The backend registered under type, or NULL. */
const struct ca_backend_ops *ca_backend_find(const char *type);

#endif
