/*
 * local.c - the embedded issuing CA: a key and certificate read at start,
 * certificates built from the request and the profile's policy and signed on
 * the threadpool (the loop never signs).
 *
 * Settings ([backend NAME] with type = local; others are refused):
 *   cert  = PEM file of the CA certificate (followed by its chain, if any)
 *   key   = PEM file of the CA private key (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY")
 *   delay = seconds a new request waits at this CA (testing delayed delivery)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca_backends/backend.h"
#include "core/certbuild.h"
#include "core/crlbuild.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/file.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/token.h"
#include "core/x509.h"

#define MAX_CHAIN 4
/* A certificate within the bounds of core/certbuild.h is at most about 6 KB
 * and the CA's own name (subject 1 KB, subjectAltName 4 KB, an RSA-4096 key
 * and signature). */
#define MAX_CERT CG_LIMIT_CERT_OCTETS

struct local_ca {
  uv_loop_t *loop;
  struct cg_key *key;
  uint8_t *chain_der[MAX_CHAIN];
  struct der_view chain[MAX_CHAIN];
  size_t n_chain;
  struct cg_x509 cert; /* chain[0], parsed */
  /* RFC 5280 §4.2.1.1: authorityKeyIdentifier of what we issue: the CA's
   * SKID, or the method-1 key id when its certificate has none. */
  uint8_t key_id[64];
  size_t key_id_len;
  unsigned delay; /* seconds a request waits at this CA (delay = N; testing) */
};

static int local_init(void *state, uv_loop_t *loop, const struct ca_settings *s) {
  struct local_ca *ca = state;
  const char *cert_path = s->get(s->ctx, "cert"), *key_path = s->get(s->ctx, "key");
  ca->loop = loop;
  static const char *const known[] = {"cert", "key", "delay"};
  for (size_t i = 0; s->key != NULL && s->key(s->ctx, i) != NULL; i++) {
    const char *k = s->key(s->ctx, i);
    if (strcmp(k, known[0]) && strcmp(k, known[1]) && strcmp(k, known[2]))
      return ca_settings_error(s, k, "unknown key (type = local takes cert, key and delay)");
  }
  if (cert_path == NULL || key_path == NULL)
    return ca_settings_error(s, NULL, "cert and key are required (type = local)");
  char path[4096];
  int err = cg_path_resolve(s->base_dir, cert_path, path, sizeof path);
  if (err == 0)
    err = cg_certs_from_file(path, ca->chain_der, ca->chain, MAX_CHAIN, &ca->n_chain);
  if (err == CG_EIO || err == CG_ENOMEM)
    return ca_settings_error(s, "cert", "cannot read %s: %s", path, cg_file_strerror(err));
  if (err || cg_x509_parse(ca->chain[0].p, ca->chain[0].len, &ca->cert))
    return ca_settings_error(s, "cert", "no usable certificate in %s", path);
  /* The key (a file or a key in a token) must be the certificate's. */
  struct cg_token_defaults d;
  char why[512];
  ca_settings_token_defaults(s, &d);
  if (cg_key_load(key_path, &d, ca->cert.spki.p, ca->cert.spki.len, &ca->key, why, sizeof why))
    return ca_settings_error(s, "key", "%s (the certificate: %s)", why, cert_path);
  const char *delay = s->get(s->ctx, "delay");
  if (delay != NULL) {
    char *end;
    unsigned long v = strtoul(delay, &end, 10);
    if (end == delay || *end != '\0' || v > 86400)
      return ca_settings_error(s, "delay", "\"%s\" is not a number of seconds (0..86400)", delay);
    ca->delay = (unsigned)v;
  }
  if (ca->cert.skid.len > 0 && ca->cert.skid.len <= sizeof ca->key_id) {
    memcpy(ca->key_id, ca->cert.skid.p, ca->cert.skid.len);
    ca->key_id_len = ca->cert.skid.len;
  } else if (cg_cert_key_id(ca->cert.spki, ca->key_id) == 0) {
    ca->key_id_len = 20;
  }
  return 0;
}

/* On a worker: build and sign the certificate. */
static void issue_run(struct cg_work *w) {
  struct ca_call *call = w->arg;
  struct local_ca *ca = call->job.state;
  const struct cmp_issue_request *req = call->req;
  const struct ca_policy *pol = call->policy;
  struct cert_spec spec;
  memset(&spec, 0, sizeof spec);

  struct cg_key *subject_key;
  call->job.err = cg_key_from_spki(req->spki.p, req->spki.len, &subject_key);
  if (call->job.err) {
    /* A key outside the bounds of core/crypto.h is badAlg, as the engine
     * answers it; any other key this CA cannot read makes a template it
     * cannot serve. */
    if (call->job.err != CG_EBAD_KEY && call->job.err != CG_ENOMEM)
      call->job.err = CG_EBAD_TEMPLATE;
    return;
  }
  enum cg_key_type kt = cg_key_type(subject_key);
  cg_key_free(subject_key);
  /* Within the bounds of core/certbuild.h every certificate fits MAX_CERT,
   * so a subject or subjectAltName past them (the engine refuses both when
   * the request is read) is the requester's fault, never ours. */
  if (cg_cert_check_subject(req->subject, NULL, 0) != 0) {
    call->job.err = CG_EBAD_TEMPLATE;
    return;
  }

  int64_t now = (int64_t)time(NULL);
  /* RFC 5280 §4.1.2.5: a certificate never outlives its issuer, so an
   * issuer that is expired or not yet valid cannot issue. */
  if (now < ca->cert.not_before || now >= ca->cert.not_after) {
    call->job.err = CG_ECA_UNAVAILABLE;
    return;
  }
  spec.issuer = ca->cert.subject;
  spec.subject = req->subject;
  spec.spki = req->spki;
  spec.not_before = now;
  spec.not_after = now + (int64_t)pol->validity_days * 86400;
  /* A shorter lifetime than the profile's may be asked for, never a longer one. */
  if (req->has_not_after && req->not_after > now && req->not_after < spec.not_after)
    spec.not_after = req->not_after;
  if (spec.not_after > ca->cert.not_after)
    spec.not_after = ca->cert.not_after;
  /* What the key can do: an RSA key signs and receives keys (key
   * transport), an EC key signs and agrees on keys (ECDH, as central key
   * generation delivers to it), an EdDSA key only signs. */
  spec.key_usage = pol->key_usage;
  if (spec.key_usage == 0)
    spec.key_usage = CERT_KU_DIGITAL_SIGNATURE |
                     (kt == CG_KEY_RSA  ? CERT_KU_KEY_ENCIPHERMENT
                      : kt == CG_KEY_EC ? CERT_KU_KEY_AGREEMENT
                                        : 0);
  if (pol->eku_client_auth)
    spec.eku[spec.n_eku++] = CG_OID_KP_CLIENT_AUTH;
  if (pol->eku_server_auth)
    spec.eku[spec.n_eku++] = CG_OID_KP_SERVER_AUTH;
  spec.issuer_skid = (struct der_view){ca->key_id, ca->key_id_len};
  if (pol->copy_san && req->extensions.p != NULL) {
    bool critical;
    struct der_view oid = cg_oid(CG_OID_EXT_SAN);
    if (cg_x509_find_ext(req->extensions, oid, &spec.san, &critical) < 0 ||
        (spec.san.p != NULL && cg_cert_check_san(spec.san) != 0)) {
      call->job.err = CG_EBAD_TEMPLATE;
      return;
    }
  }
  call->job.err = cg_cert_random_serial(&spec);
  if (call->job.err)
    return;
  call->job.out = malloc(MAX_CERT);
  if (call->job.out == NULL) {
    call->job.err = CG_ENOMEM;
    return;
  }
  call->job.err = cg_cert_build(&spec, ca->key, call->job.out, MAX_CERT, &call->job.out_len);
}

/* Queues a call's job on the threadpool. */
static int start_job(struct local_ca *ca, struct ca_job *job, void *call,
                     void (*run)(struct cg_work *), void (*done)(struct cg_work *, int)) {
  job->state = ca;
  job->out = NULL;
  job->out_len = 0;
  job->err = 0;
  job->work.run = run;
  job->work.done = done;
  job->work.arg = call;
  return cg_work_submit(ca->loop, &job->work) ? CG_EBUSY : CA_ACCEPTED;
}

/* The outcome of a finished job; the output is taken out of the job, since
 * the caller's done may free the call. */
static int take_result(struct ca_job *job, int status, uint8_t **out, size_t *len) {
  int err = status ? CG_ECA_UNAVAILABLE : job->err;
  *out = job->out;
  *len = err ? 0 : job->out_len;
  job->out = NULL;
  return err;
}

static void issue_done(struct cg_work *w, int status) {
  struct ca_call *call = w->arg;
  uint8_t *out;
  size_t len;
  int err = take_result(&call->job, status, &out, &len);
  struct cmp_ca_answer a = {.err = err, .cert = {err ? NULL : out, len}};
  call->done(call, &a);
  free(out);
}

static int local_issue(void *state, struct ca_call *call) {
  struct local_ca *ca = state;
  /* With a delay, the CA answers "waiting" (as a slow or manual CA would)
   * until the request is that old; the gateway asks again later. */
  if (ca->delay > 0 && (int64_t)time(NULL) < call->req->received_at + ca->delay)
    return CA_WAITING;
  return start_job(state, &call->job, call, issue_run, issue_done);
}

#define CRL_LIFETIME (24 * 3600)

/* On a worker: the CRL, this update now, next update a day later, the CRL
 * number the time itself (so it only grows, RFC 5280 §5.2.3). */
static void crl_run(struct cg_work *w) {
  struct ca_crl_call *call = w->arg;
  struct local_ca *ca = call->job.state;
  struct crl_entry *entries = calloc(call->n_revoked ? call->n_revoked : 1, sizeof *entries);
  if (entries == NULL) {
    call->job.err = CG_ENOMEM;
    return;
  }
  size_t n = 0;
  for (size_t i = 0; i < call->n_revoked; i++) {
    const struct cmp_revocation_record *r = &call->revoked[i];
    size_t hex = strlen(r->serial);
    if (hex == 0 || hex % 2 || hex / 2 > sizeof entries[n].serial)
      continue;
    for (size_t j = 0; j < hex / 2; j++) {
      unsigned v;
      if (sscanf(r->serial + 2 * j, "%2x", &v) != 1)
        break;
      entries[n].serial[j] = (uint8_t)v;
    }
    entries[n].serial_len = hex / 2;
    entries[n].revoked_at = r->revoked_at;
    entries[n].reason = r->reason;
    n++;
  }
  int64_t now = (int64_t)time(NULL);
  struct crl_spec spec = {
      .issuer = ca->cert.subject,
      .this_update = now,
      .next_update = now + CRL_LIFETIME,
      .crl_number = (uint64_t)now,
      .issuer_key_id = {ca->key_id, ca->key_id_len},
      .entries = entries,
      .n_entries = n,
  };
  call->job.err = cg_crl_build(&spec, ca->key, &call->job.out, &call->job.out_len);
  free(entries);
}

static void crl_done(struct cg_work *w, int status) {
  struct ca_crl_call *call = w->arg;
  uint8_t *out;
  size_t len;
  int err = take_result(&call->job, status, &out, &len);
  call->done(call, err, err ? NULL : out, len);
  free(out);
}

static int local_crl(void *state, struct ca_crl_call *call) {
  return start_job(state, &call->job, call, crl_run, crl_done);
}

static void local_ca_certs(void *state, const struct der_view **certs, size_t *n) {
  struct local_ca *ca = state;
  *certs = ca->chain;
  *n = ca->n_chain;
}

static void local_destroy(void *state) {
  struct local_ca *ca = state;
  cg_key_free(ca->key);
  for (size_t i = 0; i < ca->n_chain; i++)
    free(ca->chain_der[i]);
  memset(ca, 0, sizeof *ca);
}

const struct ca_backend_ops ca_local_ops = {
    .abi = CA_BACKEND_ABI,
    .name = "local",
    .state_size = sizeof(struct local_ca),
    .init = local_init,
    .issue = local_issue,
    .crl = local_crl,
    .ca_certs = local_ca_certs,
    .destroy = local_destroy,
    /* revoke: its revocations are the gateway's records; root_update: none
     * announced; stop: a signing job ends on its own. */
};
