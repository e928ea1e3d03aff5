/*
 * cmp.c - the upstream CMP backend (`type = cmp`): the gateway as a
 * Registration Authority in front of a CA that speaks CMP (another cmpgw,
 * EJBCA, any RFC 9483 server).  The device's request has passed the
 * gateway's own checks (authentication, proof of possession, challenge,
 * approval) before it comes here; this backend has the CA certify (or
 * revoke) with the client engine of cmp/client_txn.h, over the link of
 * cmp_link.h, and turns the CA's answer into the engine's cmp_ca_answer.
 *
 * protection = signature | mac: the request's body goes to the CA
 * unchanged (the device's proof of possession with it, RFC 9483 §5.2.3.1)
 * in a message the gateway protects as the RA, keeping the device's
 * transactionID and senderNonce (§5.2.3); the CA's answer is checked as
 * any client checks one.  The RA then ends the upstream transaction itself:
 * it asks for implicit confirmation (implicit_confirm) or confirms at once,
 * and answers the device with its own protection; a certificate the device
 * rejects later is revoked at the CA with an rr (revoke).  A CA that answers
 * waiting is asked again by the daemon's background issuer (the request is
 * pending_ca, and this backend's ca_state, the CA's last senderNonce, is
 * kept with it), after the CA's checkAfter, across restarts.
 *
 * protection = passthrough: see passthrough_issue() (RFC 9483 §5.2.1).
 *
 * The CA's material for genm answers (caCerts, rootCaKeyUpdate, its CRL)
 * is fetched with a genm of the RA's at start and every `refresh` seconds,
 * never per device request; chains once handed out are kept until the
 * backend is destroyed (exchanges on workers may still use them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca_backends/backend.h"
#include "ca_backends/cmp_link.h"
#include "cmp/client.h"
#include "cmp/client_txn.h"
#include "cmp/genm.h"
#include "core/certbuild.h"
#include "core/err.h"
#include "core/file.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/oid.h"
#include "core/work.h"
#include "core/x509.h"
#include "core/x509_verify.h"
#include "transports/tls.h"

#define MAX_CERTS CG_LIMIT_CA_CHAIN
#define MAX_SECRET 256
#define STATE_VERSION 1

enum protection { PROT_SIGNATURE, PROT_MAC, PROT_PASSTHROUGH };

/* The CA's chain and announced root update as fetched once: kept until the
 * backend is destroyed. */
struct material {
  uint8_t *der[MAX_CERTS + 3];
  struct der_view chain[MAX_CERTS];
  size_t n_chain;
  struct der_view root_update[3];
  struct material *older;
};

struct upstream {
  uv_loop_t *loop;
  char name[64];
  struct cg_tls_client *tls; /* an https:// url's */
  enum protection protection;
  struct ca_cmp_link *link;
  bool tcp;
  struct cmp_client_cfg cfg;   /* how the RA talks to the CA */
  /* credentials: our own certificate and key, or the gateway's */
  struct cg_key *own_key;
  uint8_t *own_der[MAX_CERTS];
  struct der_view own_chain[MAX_CERTS];
  size_t n_own;
  uint8_t secret[MAX_SECRET];
  size_t secret_len;
  char ref[129];
  /* protection = mac: parameters and key shared by the transactions of
   * mac_key_lifetime seconds (0: each its own) */
  struct cmp_mac mac;
  unsigned mac_lifetime;
  int64_t mac_until;
  /* what the CA's answers must chain to */
  uint8_t *trusted_der[MAX_CERTS];
  struct der_view trusted[MAX_CERTS];
  size_t n_trusted;
  uint8_t recipient[1100];
  unsigned poll_interval; /* seconds before asking again a CA that could not be reached */
  unsigned refresh;       /* seconds between fetches of the CA's material */
  /* the CA's material: fetched (or pinned with ca_certs), and the CRL */
  struct material *material;
  bool pinned;
  uint8_t *crl;
  size_t crl_len;
  uv_timer_t *refresh_timer; /* allocated: it may outlive the backend by a close */
  bool fetching, stopping;
  unsigned jobs;     /* calls in flight */
  struct cmp_path_cache path_cache; /* the CA's signer, verified */
  bool cache_ready;
  uint64_t calls, refusals, failures;
};

/* One call to the CA: an issue, a revocation, a device's message forwarded
 * (passthrough), or a fetch of its material. */
enum job_kind { JOB_ISSUE, JOB_REVOKE, JOB_FORWARD, JOB_MATERIAL };

struct job {
  struct upstream *u;
  enum job_kind kind;
  struct ca_call *call;
  struct ca_revoke_call *rcall;
  struct ca_forward_call *fcall;
  bool resumed; /* asking again about a request the CA holds */
  int stage;    /* JOB_MATERIAL: see fetch() */
  /* u->cfg, and for passthrough the device's secret to check the CA's
   * answers MAC'd for the device */
  struct cmp_client_cfg cfg;
  struct cmp_client_txn *txn;
  struct ca_cmp_link_req link;
  struct cg_work work;
};

static void schedule_refresh(struct upstream *u, unsigned seconds);
static void fetch(struct upstream *u, int stage);

/* ---- settings ------------------------------------------------------------- */

/* The TLS client of an https:// url: the CA's TLS certificate must chain to
 * tls_trusted; tls_cert and tls_key, when given, are presented to it. */
static int load_tls(struct upstream *u, const struct ca_settings *s) {
  const char *names[3] = {"tls_trusted", "tls_cert", "tls_key"};
  uint8_t *data[3] = {NULL, NULL, NULL};
  size_t len[3] = {0, 0, 0};
  int err = 0;
  if (s->get(s->ctx, "tls_trusted") == NULL)
    return ca_settings_error(s, "tls_trusted", "an https:// url needs tls_trusted (PEM: what the "
                                               "CA's TLS certificate chains to)");
  if ((s->get(s->ctx, "tls_cert") == NULL) != (s->get(s->ctx, "tls_key") == NULL))
    return ca_settings_error(s, "tls_cert", "tls_cert and tls_key go together");
  for (size_t i = 0; i < 3 && err == 0; i++) {
    const char *file = s->get(s->ctx, names[i]);
    char path[4096];
    if (file == NULL)
      continue;
    err = cg_path_resolve(s->base_dir, file, path, sizeof path);
    if (err == 0)
      err = i == 2 ? cg_read_key_file(path, s->allow_readable_keys ? CG_KEY_WARN_OTHERS
                                                                   : CG_KEY_OWNER_ONLY,
                                      &data[i], &len[i])
                   : cg_read_file(path, &data[i], &len[i]);
    if (err != 0)
      err = ca_settings_error(s, names[i], "%s: %s", path, cg_file_strerror(err));
  }
  if (err == 0) {
    char why[160];
    struct cg_tls_client_config tc = {data[0], len[0], data[1], len[1], data[2], len[2], false};
    if (cg_tls_client_new(&tc, &u->tls, why, sizeof why) != 0)
      err = ca_settings_error(s, "tls_trusted", "%s", why);
  }
  if (data[2] != NULL)
    cg_wipe(data[2], len[2]);
  for (size_t i = 0; i < 3; i++)
    free(data[i]);
  return err;
}

static const char *const known_keys[] = {
    "url", "protection", "ref", "secret_file", "cert", "key", "trusted", "recipient",
    "ca_certs", "timeout_ms", "max_connections", "max_queue", "retries", "retry_delay_ms",
    "implicit_confirm", "mac_iterations", "poll_interval", "refresh", "max_message",
    "idle_ms", "framing", "mac_key_lifetime", "tls_trusted", "tls_cert", "tls_key",
};

static bool number(const struct ca_settings *s, const char *key, unsigned long lo,
                   unsigned long hi, unsigned long def, unsigned long *out) {
  const char *v = s->get(s->ctx, key);
  *out = def;
  if (v == NULL)
    return true;
  char *end = NULL;
  errno = 0;
  unsigned long x = *v >= '0' && *v <= '9' ? strtoul(v, &end, 10) : 0;
  if (end == NULL || *end != '\0') {
    ca_settings_error(s, key, "\"%s\" is not a number (%lu..%lu)", v, lo, hi);
    return false;
  }
  if (errno != 0 || x < lo || x > hi) {
    ca_settings_error(s, key, "%s is out of range (%lu..%lu)", v, lo, hi);
    return false;
  }
  *out = x;
  return true;
}

/* http://HOST:PORT/PATH, https://HOST:PORT/PATH or tcp://HOST:PORT, HOST
 * numeric or localhost. */
static bool parse_url(const char *url, struct ca_cmp_link_opts *o, char *host, size_t host_cap,
                      char *path, size_t path_cap, bool *https) {
  const char *h;
  *https = false;
  if (strncmp(url, "http://", 7) == 0) {
    h = url + 7;
    o->tcp = false;
  } else if (strncmp(url, "https://", 8) == 0) {
    h = url + 8;
    o->tcp = false;
    *https = true;
  } else if (strncmp(url, "tcp://", 6) == 0) {
    h = url + 6;
    o->tcp = true;
  } else {
    return false;
  }
  const char *end = *h == '[' ? strchr(h, ']') : h + strcspn(h, ":/");
  if (end == NULL)
    return false;
  if (*h == '[')
    h++;
  size_t hl = (size_t)(end - h);
  if (hl == 0 || hl >= host_cap)
    return false;
  memcpy(host, h, hl);
  host[hl] = '\0';
  const char *p = *end == ']' ? end + 1 : end;
  if (*p != ':')
    return false;
  char *after;
  unsigned long port = strtoul(p + 1, &after, 10);
  if (after == p + 1 || port == 0 || port > 65535)
    return false;
  o->port = (int)port;
  p = after;
  if (o->tcp)
    return *p == '\0' || !strcmp(p, "/");
  if (*p == '\0')
    p = "/";
  if (*p != '/' || strlen(p) >= path_cap)
    return false;
  snprintf(path, path_cap, "%s", p);
  return true;
}

static int load_secret(struct upstream *u, const struct ca_settings *s, const char *file) {
  char path[4096];
  uint8_t *text;
  size_t len;
  int err = cg_path_resolve(s->base_dir, file, path, sizeof path);
  if (err == 0)
    err = cg_read_key_file(path, ca_settings_key_mode(s), &text, &len);
  if (err)
    return ca_settings_error(s, "secret_file", "cannot read %s: %s", path, cg_file_strerror(err));
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
    len--;
  if (len == 0 || len > sizeof u->secret) {
    err = ca_settings_error(s, "secret_file", "%s must hold the secret on one line (1..%zu octets)",
                            path, sizeof u->secret);
  } else {
    memcpy(u->secret, text, u->secret_len = len);
  }
  cg_wipe(text, len);
  free(text);
  return err;
}

static int load_certs(struct upstream *u, const struct ca_settings *s, const char *key,
                      uint8_t **der, struct der_view *views, size_t *n) {
  char path[4096];
  const char *file = s->get(s->ctx, key);
  int err = cg_path_resolve(s->base_dir, file, path, sizeof path);
  if (err == 0)
    err = cg_certs_from_file(path, der, views, MAX_CERTS, n);
  if (err == CG_EIO || err == CG_ENOMEM)
    ca_settings_error(s, key, "cannot read %s: %s", path, cg_file_strerror(err));
  else if (err)
    ca_settings_error(s, key, "no usable certificate in %s (%s)", path, cg_strerror(err));
  return err ? CG_ECONFIG : 0;
}

static struct material *material_of(uint8_t **der, const struct der_view *chain, size_t n);

static int up_init(void *state, uv_loop_t *loop, const struct ca_settings *s) {
  struct upstream *u = state;
  u->loop = loop;
  snprintf(u->name, sizeof u->name, "%s", s->name ? s->name : "cmp");
  for (size_t i = 0; s->key != NULL && s->key(s->ctx, i) != NULL; i++) {
    const char *k = s->key(s->ctx, i);
    size_t j = 0;
    while (j < sizeof known_keys / sizeof known_keys[0] && strcmp(known_keys[j], k) != 0)
      j++;
    if (j == sizeof known_keys / sizeof known_keys[0])
      return ca_settings_error(s, k, "unknown key (docs/configuration.md lists the keys of a "
                                     "backend of type cmp)");
  }
  const char *url = s->get(s->ctx, "url"), *prot = s->get(s->ctx, "protection");
  char host[64], path[512];
  struct ca_cmp_link_opts lo = {.framing = CG_TCP_V10};
  bool https;
  if (url == NULL || !parse_url(url, &lo, host, sizeof host, path, sizeof path, &https))
    return ca_settings_error(s, "url", "%s%s%s http://HOST:PORT/PATH, https://HOST:PORT/PATH or "
                             "tcp://HOST:PORT (numeric host or localhost)", url ? "\"" : "",
                             url ? url : "required:", url ? "\" is not" : "");
  if (!https && (s->get(s->ctx, "tls_trusted") || s->get(s->ctx, "tls_cert") ||
                 s->get(s->ctx, "tls_key")))
    return ca_settings_error(s, "tls_trusted", "tls_trusted, tls_cert and tls_key go with an "
                                               "https:// url");
  if (https && load_tls(u, s) != 0)
    return CG_ECONFIG;
  lo.tls = u->tls;
  u->tcp = lo.tcp;
  if (prot == NULL || !strcmp(prot, "signature"))
    u->protection = PROT_SIGNATURE;
  else if (!strcmp(prot, "mac"))
    u->protection = PROT_MAC;
  else if (!strcmp(prot, "passthrough"))
    u->protection = PROT_PASSTHROUGH;
  else
    return ca_settings_error(s, "protection", "\"%s\" is not one of signature, mac, passthrough",
                             prot);
  const char *framing = s->get(s->ctx, "framing");
  if (framing != NULL && (!lo.tcp || (strcmp(framing, "v10") && strcmp(framing, "rfc2510"))))
    return ca_settings_error(s, "framing", "v10 or rfc2510, with a tcp:// url; not \"%s\"",
                             framing);
  if (framing != NULL && !strcmp(framing, "rfc2510"))
    lo.framing = CG_TCP_RFC2510;
  unsigned long timeout, conns, queue, retries, retry_delay, iterations, poll, refresh, max_msg,
      idle, mac_lifetime;
  if (!number(s, "timeout_ms", 100, 3600000, 30000, &timeout) ||
      !number(s, "max_connections", 1, 256, 8, &conns) ||
      !number(s, "max_queue", 0, 1000000, 4096, &queue) ||
      !number(s, "retries", 0, 100, 2, &retries) ||
      !number(s, "retry_delay_ms", 1, 600000, 500, &retry_delay) ||
      !number(s, "mac_iterations", 100, 1000000, 500, &iterations) ||
      !number(s, "poll_interval", 1, 86400, 10, &poll) ||
      !number(s, "refresh", 10, 7 * 86400, 3600, &refresh) ||
      !number(s, "max_message", 1024, 64u << 20, 1u << 20, &max_msg) ||
      !number(s, "idle_ms", 0, 3600000, 15000, &idle) ||
      !number(s, "mac_key_lifetime", 0, 86400, 60, &mac_lifetime))
    return CG_ECONFIG;
  u->mac_lifetime = (unsigned)mac_lifetime;
  u->poll_interval = (unsigned)poll;
  u->refresh = (unsigned)refresh;
  const char *ic = s->get(s->ctx, "implicit_confirm");
  if (ic != NULL && strcmp(ic, "true") && strcmp(ic, "false"))
    return ca_settings_error(s, "implicit_confirm", "\"%s\" is not true or false", ic);

  /* What the CA's signed answers must chain to. */
  if (s->get(s->ctx, "trusted") == NULL)
    return ca_settings_error(s, NULL, "trusted (PEM: what the CA's signed answers chain to) is "
                                      "required");
  if (load_certs(u, s, "trusted", u->trusted_der, u->trusted, &u->n_trusted))
    return CG_ECONFIG;

  struct cmp_client_cred *cred = &u->cfg.cred;
  const char *ref = s->get(s->ctx, "ref"), *secret_file = s->get(s->ctx, "secret_file");
  const char *cert = s->get(s->ctx, "cert"), *key = s->get(s->ctx, "key");
  if (u->protection == PROT_MAC) {
    if (ref == NULL || secret_file == NULL)
      return ca_settings_error(s, "protection", "mac needs ref and secret_file");
    if (strlen(ref) >= sizeof u->ref)
      return ca_settings_error(s, "ref", "longer than %zu characters", sizeof u->ref - 1);
    snprintf(u->ref, sizeof u->ref, "%s", ref);
    if (load_secret(u, s, secret_file))
      return CG_ECONFIG;
    *cred = (struct cmp_client_cred){.secret = u->secret,
                                     .secret_len = u->secret_len,
                                     .ref = (const uint8_t *)u->ref,
                                     .ref_len = strlen(u->ref),
                                     .iterations = (uint32_t)iterations,
                                     .owf = CG_HASH_SHA256,
                                     .mac = CG_HASH_SHA256};
  } else if (u->protection == PROT_SIGNATURE) {
    if ((cert == NULL) != (key == NULL))
      return ca_settings_error(s, cert ? "cert" : "key", "cert and key go together");
    if (cert != NULL) {
      if (load_certs(u, s, "cert", u->own_der, u->own_chain, &u->n_own))
        return CG_ECONFIG;
      char kpath[4096];
      int err = cg_path_resolve(s->base_dir, key, kpath, sizeof kpath);
      if (err == 0)
        err = cg_key_from_pem_file(kpath, ca_settings_key_mode(s), &u->own_key);
      if (err)
        return ca_settings_error(s, "key", "cannot read %s: %s", kpath, cg_file_strerror(err));
      *cred = (struct cmp_client_cred){.key = u->own_key,
                                       .cert = u->own_chain[0],
                                       .chain = u->own_chain + 1,
                                       .n_chain = u->n_own - 1};
    } else if (s->ra_key != NULL && s->n_ra_chain > 0) {
      /* RFC 9483 §5.2.3.1: the RA's own protection, by default the
       * gateway's [ra] credentials. */
      *cred = (struct cmp_client_cred){.key = s->ra_key,
                                       .cert = s->ra_chain[0],
                                       .chain = s->ra_chain + 1,
                                       .n_chain = s->n_ra_chain - 1};
    } else {
      return ca_settings_error(s, "protection", "signature needs cert and key, or the [ra] "
                                                "credentials");
    }
  }
  if (u->protection != PROT_MAC && (ref != NULL || secret_file != NULL))
    return ca_settings_error(s, ref ? "ref" : "secret_file", "goes with protection = mac");

  /* The CA's name: recipient, by default the subject of the first trusted
   * certificate (RFC 9483 §3.1). */
  const char *recipient = s->get(s->ctx, "recipient");
  size_t rlen = 0;
  struct cg_x509 t0;
  if (recipient != NULL) {
    if (cg_cert_name_from_text(recipient, u->recipient, sizeof u->recipient, &rlen))
      return ca_settings_error(s, "recipient", "\"%s\" does not look like /CN=name/O=org",
                               recipient);
  } else if (cg_x509_parse(u->trusted[0].p, u->trusted[0].len, &t0) == 0 &&
             t0.subject.len <= sizeof u->recipient) {
    memcpy(u->recipient, t0.subject.p, rlen = t0.subject.len);
  }
  u->cfg.recipient = (struct der_view){rlen ? u->recipient : NULL, rlen};
  u->cfg.trusted = u->trusted;
  u->cfg.n_trusted = u->n_trusted;
  if (cmp_path_cache_init(&u->path_cache) == 0) {
    u->cache_ready = true;
    u->cfg.path_cache = &u->path_cache;
  }
  u->cfg.implicit_confirm = ic == NULL || !strcmp(ic, "true");
  u->cfg.max_iterations = 100000;
  u->cfg.poll_max_s = 0; /* the daemon asks again later, not the engine */

  /* The CA's chain: pinned (ca_certs), else fetched; until then, the anchors. */
  uint8_t *der[MAX_CERTS] = {0};
  struct der_view chain[MAX_CERTS];
  size_t n = 0;
  if (s->get(s->ctx, "ca_certs") != NULL) {
    if (load_certs(u, s, "ca_certs", der, chain, &n))
      return CG_ECONFIG;
    u->pinned = true;
  }
  u->material = n > 0 ? material_of(der, chain, n) : material_of(NULL, u->trusted, u->n_trusted);
  if (u->material == NULL)
    return CG_ENOMEM;

  lo.host = host;
  lo.path = path;
  lo.max_conns = (unsigned)conns;
  lo.max_queue = (unsigned)queue;
  lo.timeout_ms = timeout;
  lo.max_answer = max_msg;
  lo.retries = (unsigned)retries;
  lo.retry_delay_ms = (unsigned)retry_delay;
  lo.idle_ms = idle;
  if (ca_cmp_link_new(loop, &lo, &u->link))
    return ca_settings_error(s, "url", "cannot use %s", url);
  if (u->protection != PROT_PASSTHROUGH)
    schedule_refresh(u, 0); /* the CA's material, as soon as the loop runs */
  cg_info("backend %s: CMP CA at %s, protection %s, %lu connection(s)", u->name, url,
          u->protection == PROT_SIGNATURE ? "signature"
          : u->protection == PROT_MAC     ? "mac"
                                          : "passthrough",
          conns);
  return 0;
}

/* ---- the CA's material ------------------------------------------------------ */

/* A material of its own chain: der[] owned (taken), or copies of views. */
static struct material *material_of(uint8_t **der, const struct der_view *chain, size_t n) {
  struct material *m = calloc(1, sizeof *m);
  if (m == NULL)
    return NULL;
  for (size_t i = 0; i < n && i < MAX_CERTS; i++) {
    if (der != NULL && der[i] != NULL) {
      m->der[i] = der[i];
    } else if ((m->der[i] = malloc(chain[i].len)) != NULL) {
      memcpy(m->der[i], chain[i].p, chain[i].len);
    } else {
      for (size_t j = 0; j < i; j++)
        free(m->der[j]);
      free(m);
      return NULL;
    }
    m->chain[i] = (struct der_view){m->der[i], chain[i].len};
    m->n_chain++;
  }
  return m;
}

static bool same_material(const struct material *a, const struct der_view *chain, size_t n,
                          const struct der_view upd[3]) {
  if (a->n_chain != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!cg_der_view_eq(a->chain[i], chain[i]))
      return false;
  for (int i = 0; i < 3; i++)
    if ((a->root_update[i].p == NULL) != (upd[i].p == NULL) ||
        (upd[i].p != NULL && !cg_der_view_eq(a->root_update[i], upd[i])))
      return false;
  return true;
}

/* What a genp of the CA says: its chain, a root update, its CRL. */
static void take_genp(struct upstream *u, const struct cmp_msg *m) {
  struct cmp_genm genp;
  struct der_view chain[MAX_CERTS], upd[3] = {{0}}, crls[1];
  size_t n = 0, n_crls = 0;
  if (m == NULL || m->type != CMP_GENP || cmp_genm_decode(m->content, &genp)) {
    cg_warn("backend %s: the CA's genp does not decode", u->name);
    return;
  }
  bool got_chain = false;
  for (size_t i = 0; i < genp.n; i++) {
    const struct cmp_itav *it = &genp.itav[i];
    size_t k;
    struct der_view u3[3];
    if (!u->pinned && cmp_itav_ca_certs(it, chain, MAX_CERTS, &k) == 1) {
      got_chain = true;
      n = k;
    }
    if (cmp_itav_root_ca_key_update(it, u3) == 1)
      memcpy(upd, u3, sizeof upd);
    if (cmp_itav_crls(it, crls, 1, &n_crls) == 1 && n_crls == 1) {
      uint8_t *copy = malloc(crls[0].len);
      if (copy != NULL) {
        memcpy(copy, crls[0].p, crls[0].len);
        free(u->crl);
        u->crl = copy;
        u->crl_len = crls[0].len;
      }
    }
  }
  if (!got_chain) {
    n = u->material->n_chain;
    memcpy(chain, u->material->chain, n * sizeof *chain);
  }
  if (same_material(u->material, chain, n, upd))
    return;
  struct material *m2 = material_of(NULL, chain, n);
  if (m2 == NULL)
    return;
  for (int i = 0; i < 3; i++)
    if (upd[i].p != NULL && (m2->der[MAX_CERTS + i] = malloc(upd[i].len)) != NULL) {
      memcpy(m2->der[MAX_CERTS + i], upd[i].p, upd[i].len);
      m2->root_update[i] = (struct der_view){m2->der[MAX_CERTS + i], upd[i].len};
    }
  m2->older = u->material; /* kept: exchanges may still use it */
  u->material = m2;
  cg_info("backend %s: the CA's material: %zu certificate(s) in its chain%s", u->name, n,
          upd[0].p != NULL ? ", a root CA key update announced" : "");
}

/* ---- calls ------------------------------------------------------------------ */

static void advance(struct job *j);

static void on_compute(struct cg_work *w) {
  struct job *j = w->arg;
  cmp_client_txn_compute(j->txn);
}

static void on_computed(struct cg_work *w, int status) {
  struct job *j = w->arg;
  if (status != 0) /* cancelled: the loop is being torn down; finish here */
    cmp_client_txn_compute(j->txn);
  advance(j);
}

static void on_answer(struct ca_cmp_link_req *r, int err, const uint8_t *answer, size_t len,
                      const char *detail) {
  struct job *j = r->arg;
  int64_t now = (int64_t)time(NULL);
  if (err)
    cmp_client_txn_failed(j->txn, err, detail, now);
  else
    cmp_client_txn_received(j->txn, answer, len, now);
  advance(j);
}

/* The CA state kept with a transaction it holds: its last senderNonce. */
static void encode_state(const struct cmp_client_pending *p, uint8_t out[2 + CMP_MAX_NONCE],
                         size_t *len) {
  out[0] = STATE_VERSION;
  out[1] = (uint8_t)p->nonce_len;
  memcpy(out + 2, p->nonce, p->nonce_len);
  *len = 2 + p->nonce_len;
}

static bool decode_state(struct der_view s, struct cmp_client_pending *p) {
  if (s.len < 3 || s.p[0] != STATE_VERSION || s.p[1] == 0 || s.p[1] > CMP_MAX_NONCE ||
      (size_t)s.p[1] + 2 != s.len)
    return false;
  memcpy(p->nonce, s.p + 2, p->nonce_len = s.p[1]);
  return true;
}

/* The first failInfo bit of a status. */
static int first_bit(const struct cmp_status_info *st) {
  for (int b = 0; st->has_fail_info && b < 32; b++)
    if (st->fail_info & (1u << b))
      return b;
  return -1;
}

/* The CA's answer as the engine takes it.  text holds what the device is
 * told (the CA's own words where it gave some). */
static void outcome(struct job *j, const struct cmp_client_result *r, struct cmp_ca_answer *a,
                    uint8_t *state, char *text, size_t cap) {
  struct upstream *u = j->u;
  memset(a, 0, sizeof *a);
  text[0] = '\0';
  a->detail = text;
  switch (r->outcome) {
  case CMP_CLIENT_OK:
    a->cert = r->cert;
    return;
  case CMP_CLIENT_WAITING: {
    struct cmp_client_pending p;
    size_t len;
    if (cmp_client_txn_pending(j->txn, &p) != 0) {
      a->err = CG_ECA_FAILURE;
      snprintf(text, cap, "the CA holds the request and gave nothing to ask again with");
      return;
    }
    encode_state(&p, state, &len);
    a->waiting = true;
    a->ca_state = (struct der_view){state, len};
    a->check_after = r->check_after > 0 ? (unsigned)r->check_after : 1;
    return;
  }
  case CMP_CLIENT_REFUSED: {
    char words[512] = "";
    if (r->status.status_string.p != NULL)
      cmp_free_text(r->status.status_string, words, sizeof words);
    if (r->cert_rejected) {
      a->err = CG_ECA_FAILURE;
      snprintf(text, cap, "the CA issued a certificate for another key; it was rejected");
    } else if (r->unverified) {
      /* Protection that does not verify: nothing in it is believed. */
      a->err = CG_ECA_FAILURE;
      snprintf(text, cap, "the CA's answer could not be verified: %s", r->detail);
    } else {
      int bit = first_bit(&r->status);
      a->err = bit >= 0 ? cg_err_from_failinfo(bit) : CG_EBAD_REQUEST;
      snprintf(text, cap, "the CA refused: %s", words[0] ? words : cg_strerror(a->err));
    }
    u->refusals++;
    return;
  }
  case CMP_CLIENT_TRANSPORT:
    a->err = CG_ECA_UNAVAILABLE;
    snprintf(text, cap, "the CA could not be reached: %s", r->detail);
    break;
  case CMP_CLIENT_BAD_ANSWER:
    a->err = CG_ECA_FAILURE;
    snprintf(text, cap, "the CA's answer was refused: %s", r->detail);
    break;
  case CMP_CLIENT_LOCAL:
    a->err = CG_ECA_FAILURE;
    snprintf(text, cap, "cannot ask the CA: %s", r->detail);
    break;
  }
  u->failures++;
  cg_warn("backend %s: %s", u->name, text);
}

/* Passthrough: what the CA's answer means for the transaction, and the
 * answer itself to send on.  Only an answer whose protection verified is
 * sent on (signed: to the trusted anchors; MAC'd: with the device's
 * secret); a certificate in it must chain to the trusted anchors too. */
static void relayed_outcome(struct job *j, const struct cmp_client_result *r,
                            struct cmp_ca_answer *a, char *text, size_t cap) {
  struct upstream *u = j->u;
  const struct cmp_msg *m = r->answer;
  if (m == NULL || (r->outcome != CMP_CLIENT_OK && r->outcome != CMP_CLIENT_REFUSED) ||
      r->unverified) {
    struct cmp_client_result r2 = *r;
    if (r->unverified && r2.outcome == CMP_CLIENT_OK) {
      r2.outcome = CMP_CLIENT_BAD_ANSWER;
      r2.detail = "its protection cannot be checked";
    }
    outcome(j, &r2, a, NULL, text, cap);
    if (a->err == 0)
      a->err = CG_ECA_FAILURE;
    return;
  }
  memset(a, 0, sizeof *a);
  text[0] = '\0';
  a->detail = text;
  a->answer = m->raw;
  const struct cmp_status_info *st = NULL;
  struct der_view cert = {NULL, 0};
  switch (m->type) {
  case CMP_IP:
  case CMP_CP:
  case CMP_KUP:
    if (m->u.cert_rep.n == 1) {
      st = &m->u.cert_rep.rsp[0].status;
      cert = m->u.cert_rep.rsp[0].cert;
    }
    break;
  case CMP_RP:
    if (m->u.rev_rep.n >= 1)
      st = &m->u.rev_rep.status[0];
    break;
  case CMP_ERROR:
    st = &m->u.error.status;
    break;
  case CMP_POLLREP:
    a->waiting = true;
    a->check_after = m->u.poll_rep.n >= 1 && m->u.poll_rep.rep[0].check_after > 0
                         ? (unsigned)m->u.poll_rep.rep[0].check_after : 1;
    return;
  case CMP_PKICONF:
    return;
  default:
    break;
  }
  if (st == NULL) {
    a->err = CG_ECA_FAILURE;
    snprintf(text, cap, "the CA answered with %s", cmp_body_name(m->type));
    a->answer = (struct der_view){NULL, 0};
    return;
  }
  if (st->status == CMP_WAITING) {
    a->waiting = true;
    a->check_after = 1;
    return;
  }
  if (st->status != CMP_ACCEPTED && st->status != CMP_GRANTED_WITH_MODS) {
    char words[512] = "";
    if (st->status_string.p != NULL)
      cmp_free_text(st->status_string, words, sizeof words);
    int bit = first_bit(st);
    a->err = bit >= 0 ? cg_err_from_failinfo(bit) : CG_EBAD_REQUEST;
    snprintf(text, cap, "the CA refused: %s", words[0] ? words : cg_strerror(a->err));
    u->refusals++;
    return;
  }
  if (m->type == CMP_IP || m->type == CMP_CP || m->type == CMP_KUP) {
    enum cg_path_error why;
    size_t n_pool = m->n_extra_certs < CG_X509_VERIFY_MAX_POOL ? m->n_extra_certs
                                                                : CG_X509_VERIFY_MAX_POOL;
    if (cert.p == NULL || cg_x509_verify_path(cert, m->extra_certs, n_pool, u->trusted,
                                              u->n_trusted, (int64_t)time(NULL), 5, &why)) {
      a->err = CG_ECA_FAILURE;
      snprintf(text, cap, "the CA's certificate does not chain to the trusted anchors");
      a->answer = (struct der_view){NULL, 0};
      return;
    }
    a->cert = cert;
  }
}

/* The job is over: the caller hears the CA's answer. */
static void finish(struct job *j) {
  struct upstream *u = j->u;
  struct cmp_client_result r;
  struct cmp_ca_answer a;
  uint8_t state[2 + CMP_MAX_NONCE];
  char text[600];
  cmp_client_txn_result(j->txn, &r);
  if (u->protection == PROT_PASSTHROUGH && j->kind != JOB_MATERIAL)
    relayed_outcome(j, &r, &a, text, sizeof text);
  else
    outcome(j, &r, &a, state, text, sizeof text);
  /* A CA asked again that could not be reached (or answered garbage) is
   * asked again later: the request waits, its state as it was. */
  if (j->resumed && a.err != 0 &&
      (r.outcome == CMP_CLIENT_TRANSPORT || r.outcome == CMP_CLIENT_BAD_ANSWER)) {
    struct der_view kept =
        j->kind == JOB_ISSUE ? j->call->req->ca_state : j->rcall->req->ca_state;
    a = (struct cmp_ca_answer){.waiting = true, .check_after = u->poll_interval,
                               .ca_state = kept, .detail = text};
  }
  u->jobs--;
  switch (j->kind) {
  case JOB_ISSUE:
    j->call->done(j->call, &a);
    break;
  case JOB_REVOKE:
    j->rcall->done(j->rcall, &a);
    break;
  case JOB_FORWARD:
    j->fcall->done(j->fcall, &a);
    break;
  case JOB_MATERIAL:
    u->fetching = false;
    if (r.outcome == CMP_CLIENT_OK)
      take_genp(u, r.answer);
    else if (j->stage == 0)
      cg_warn("backend %s: the CA's certificates could not be fetched: %s", u->name, text);
    else
      cg_info("backend %s: no root CA key update or CRL from the CA: %s", u->name, text);
    if (!u->stopping && j->stage == 0 && r.outcome == CMP_CLIENT_OK)
      fetch(u, 1);
    else if (!u->stopping)
      schedule_refresh(u, r.outcome == CMP_CLIENT_OK || j->stage == 1
                              ? u->refresh
                              : u->poll_interval < u->refresh ? u->poll_interval : u->refresh);
    break;
  }
  cmp_client_txn_free(j->txn);
  free(j);
}

/* Runs the transaction's steps: computing on the threadpool (or inline, as
 * the gateway runs its own), sending over the link. */
static void advance(struct job *j) {
  for (;;) {
    switch (cmp_client_txn_step(j->txn)) {
    case CMP_CLIENT_COMPUTE:
      /* A fetch of the material (once an hour) computes here: it belongs
       * to no exchange, so nothing would wait for a worker of its at stop. */
      j->work = (struct cg_work){.run = on_compute, .done = on_computed, .arg = j};
      if (j->kind == JOB_MATERIAL || cg_work_submit(j->u->loop, &j->work) != 0)
        cmp_client_txn_compute(j->txn);
      else
        return; /* on_computed goes on (already, when inline) */
      continue;
    case CMP_CLIENT_SEND: {
      const uint8_t *msg;
      size_t len;
      cmp_client_txn_message(j->txn, &msg, &len);
      j->link = (struct ca_cmp_link_req){.msg = msg, .len = len, .cb = on_answer, .arg = j};
      if (j->u->link != NULL && ca_cmp_link_send(j->u->link, &j->link) == 0)
        return;
      cmp_client_txn_failed(j->txn, CG_EBUSY,
                            j->u->stopping ? "the gateway is stopping"
                                           : "too many requests wait for the CA",
                            (int64_t)time(NULL));
      continue;
    }
    case CMP_CLIENT_WAIT: /* polling is off: not reached */
    case CMP_CLIENT_DONE:
      finish(j);
      return;
    }
  }
}

/* Starts a job for req (or resumes one, with pending); the caller is told
 * through its done.  0 or an error (nothing started). */
/* protection = mac: the parameters and key this transaction uses, drawn and
 * derived anew every mac_key_lifetime seconds (RFC 9810 §5.1.3.1 keeps them
 * for a transaction; the RA keeps them for a while across its own, as one
 * client with one high-entropy secret: one derivation instead of one per
 * transaction). */
static void shared_mac(struct upstream *u, int64_t now) {
  if (u->protection != PROT_MAC || u->mac_lifetime == 0)
    return;
  if (u->mac.key_len > 0 && now < u->mac_until)
    return;
  const struct cmp_client_cred *c = &u->cfg.cred;
  cmp_mac_wipe(&u->mac);
  if (cmp_mac_init(&u->mac, c->pbmac1, c->iterations, c->owf, c->mac) ||
      cmp_mac_derive(&u->mac, c->secret, c->secret_len)) {
    cmp_mac_wipe(&u->mac);
    u->cfg.mac_key = NULL;
    return;
  }
  u->mac_until = now + u->mac_lifetime;
  u->cfg.mac_key = &u->mac;
}

static int start(struct upstream *u, struct job *j, const struct cmp_client_req *req,
                 const struct cmp_client_pending *pending) {
  int64_t now = (int64_t)time(NULL);
  shared_mac(u, now);
  j->cfg = u->cfg;
  int err = pending != NULL ? cmp_client_txn_resume(&j->cfg, pending, now, &j->txn)
                            : cmp_client_txn_new(&j->cfg, req, now, &j->txn);
  if (err) {
    free(j);
    return err == CG_ENOMEM ? err : CG_ECA_FAILURE;
  }
  u->jobs++;
  u->calls++;
  advance(j);
  return 0;
}

/* A message forwarded as it is (passthrough); its answers MAC'd for the
 * device are checked with the device's secret. */
static int start_forward(struct upstream *u, struct job *j, const struct cmp_client_req *req,
                         struct der_view secret) {
  int64_t now = (int64_t)time(NULL);
  j->cfg = u->cfg;
  if (secret.p != NULL) {
    j->cfg.cred.secret = secret.p;
    j->cfg.cred.secret_len = secret.len;
  }
  int err = cmp_client_txn_new(&j->cfg, req, now, &j->txn);
  if (err) {
    free(j);
    return CG_ECA_FAILURE;
  }
  u->jobs++;
  u->calls++;
  advance(j);
  return CA_ACCEPTED;
}

static int up_issue(void *state, struct ca_call *call) {
  struct upstream *u = state;
  const struct cmp_issue_request *q = call->req;
  if (u->stopping)
    return CG_EBUSY;
  struct job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return CG_ENOMEM;
  j->u = u;
  j->kind = JOB_ISSUE;
  j->call = call;
  if (u->protection == PROT_PASSTHROUGH) {
    /* RFC 9483 §5.2.1: the request as it arrived. */
    struct cmp_client_req req = {.type = q->type, .message = q->message};
    return start_forward(u, j, &req, q->secret);
  }
  if (q->ca_state.p != NULL) {
    /* Asked again: a pollReq for the request the CA holds. */
    struct cmp_client_pending p = {.type = q->type,
                                   .cert_req_id = q->cert_req_id,
                                   .expect_spki = q->spki};
    if (!decode_state(q->ca_state, &p) || q->transaction_id.len > sizeof p.txid) {
      free(j);
      return CG_ECA_FAILURE;
    }
    memcpy(p.txid, q->transaction_id.p, p.txid_len = q->transaction_id.len);
    j->resumed = true;
    int err = start(u, j, NULL, &p);
    return err ? err : CA_ACCEPTED;
  }
  /* RFC 9483 §5.2.3: the body as it arrived, under the RA's protection,
   * with the device's transactionID and senderNonce. */
  struct cmp_client_req req = {.type = q->type,
                               .body = q->body,
                               .cert_req_id = q->cert_req_id,
                               .expect_spki = q->spki,
                               .transaction_id = q->transaction_id,
                               .sender_nonce = q->sender_nonce,
                               .pvno = q->pvno};
  int err = start(u, j, &req, NULL);
  return err ? err : CA_ACCEPTED;
}

static int up_revoke(void *state, struct ca_revoke_call *call) {
  struct upstream *u = state;
  const struct cmp_revoke_request *q = call->req;
  if (u->stopping)
    return CG_EBUSY;
  struct job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return CG_ENOMEM;
  j->u = u;
  j->kind = JOB_REVOKE;
  j->rcall = call;
  if (u->protection == PROT_PASSTHROUGH && q->message.p != NULL) {
    struct cmp_client_req req = {.type = CMP_RR, .message = q->message};
    return start_forward(u, j, &req, q->secret);
  }
  if (q->ca_state.p != NULL && q->transaction_id.p != NULL) {
    struct cmp_client_pending p = {.type = CMP_RR, .cert_req_id = -1};
    if (!decode_state(q->ca_state, &p) || q->transaction_id.len > sizeof p.txid) {
      free(j);
      return CG_ECA_FAILURE;
    }
    memcpy(p.txid, q->transaction_id.p, p.txid_len = q->transaction_id.len);
    j->resumed = true;
    int err = start(u, j, NULL, &p);
    return err ? err : CA_ACCEPTED;
  }
  /* The device's rr as it arrived (issuer and serial in it), or one the RA
   * writes for a certificate the device rejected. */
  uint8_t body[2048];
  size_t len = 0;
  struct cmp_client_req req = {.type = CMP_RR, .cert_req_id = -1};
  if (q->body.p != NULL) {
    req.body = q->body;
    req.transaction_id = q->transaction_id;
    req.sender_nonce = q->sender_nonce;
    req.pvno = q->pvno;
  } else {
    struct cg_x509 x;
    if (q->cert.p == NULL || cg_x509_parse(q->cert.p, q->cert.len, &x) ||
        cmp_client_rr_body(x.issuer, x.serial, q->reason, body, sizeof body, &len)) {
      free(j);
      return CG_ECA_FAILURE;
    }
    req.body = (struct der_view){body, len};
  }
  int err = start(u, j, &req, NULL);
  return err ? err : CA_ACCEPTED;
}

static int up_forward(void *state, struct ca_forward_call *call) {
  struct upstream *u = state;
  if (u->stopping || u->protection != PROT_PASSTHROUGH)
    return CG_EBUSY;
  struct job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return CG_ENOMEM;
  j->u = u;
  j->kind = JOB_FORWARD;
  j->fcall = call;
  struct cmp_client_req req = {.type = call->req->request_type, .message = call->req->message};
  return start_forward(u, j, &req, call->req->secret);
}

static bool up_relays(void *state) {
  const struct upstream *u = state;
  return u->protection == PROT_PASSTHROUGH;
}

/* ---- the material, fetched ---------------------------------------------------- */

/* A genm of the RA's own.  Stage 0: caCerts (RFC 9483 §4.3.1, which every
 * CMP CA answers); stage 1: rootCaKeyUpdate (asked with the root we trust,
 * §4.3.2) and the CA's CRL (§4.3.4), which older CAs may refuse without
 * harm. */
static void fetch(struct upstream *u, int stage) {
  if (u->fetching || u->stopping || u->protection == PROT_PASSTHROUGH)
    return;
  uint8_t body[8192];
  struct der_writer w;
  cg_der_writer_init(&w, body, sizeof body);
  size_t m = cmp_genm_begin(&w);
  if (stage == 0) {
    cmp_write_itav(&w, cg_oid(CG_OID_IT_CA_CERTS), (struct der_view){NULL, 0});
  } else {
    cmp_write_itav_root_ca_cert(&w, u->trusted[u->n_trusted - 1]);
    cmp_write_itav(&w, cg_oid(CG_OID_IT_CRLS), (struct der_view){NULL, 0});
  }
  cmp_genm_end(&w, m);
  size_t len;
  struct job *j = calloc(1, sizeof *j);
  if (j == NULL || cg_der_writer_finish(&w, &len)) {
    free(j);
    return;
  }
  j->u = u;
  j->kind = JOB_MATERIAL;
  j->stage = stage;
  struct cmp_client_req req = {.type = CMP_GENM, .body = {body, len}, .cert_req_id = -1};
  u->fetching = true;
  if (start(u, j, &req, NULL) != 0)
    u->fetching = false;
}

static void on_refresh(uv_timer_t *t) { fetch(t->data, 0); }

static void schedule_refresh(struct upstream *u, unsigned seconds) {
  if (u->refresh_timer == NULL) {
    if ((u->refresh_timer = malloc(sizeof *u->refresh_timer)) == NULL)
      return;
    uv_timer_init(u->loop, u->refresh_timer);
    u->refresh_timer->data = u;
    /* the loop need not stay up for it */
    uv_unref((uv_handle_t *)u->refresh_timer);
  }
  uv_timer_start(u->refresh_timer, on_refresh, (uint64_t)seconds * 1000, 0);
}

static void on_timer_closed(uv_handle_t *h) { free(h); }

static void close_timer(struct upstream *u) {
  if (u->refresh_timer == NULL)
    return;
  uv_timer_stop(u->refresh_timer);
  uv_close((uv_handle_t *)u->refresh_timer, on_timer_closed);
  u->refresh_timer = NULL;
}

/* ---- the rest of the interface ------------------------------------------------ */

static int up_crl(void *state, struct ca_crl_call *call) {
  struct upstream *u = state;
  /* The CA's own CRL, as last fetched (the gateway's list of revocations
   * is not ours to sign). */
  if (u->crl == NULL)
    return CG_ENOT_FOUND;
  call->done(call, 0, u->crl, u->crl_len);
  return CA_ACCEPTED;
}

static void up_ca_certs(void *state, const struct der_view **certs, size_t *n) {
  struct upstream *u = state;
  *certs = u->material->chain;
  *n = u->material->n_chain;
}

static void up_root_update(void *state, struct der_view out[3]) {
  struct upstream *u = state;
  memcpy(out, u->material->root_update, 3 * sizeof *out);
}

static void up_stop(void *state) {
  struct upstream *u = state;
  if (u->stopping)
    return;
  u->stopping = true;
  struct ca_cmp_link_stats st;
  ca_cmp_link_stats(u->link, &st);
  cg_info("backend %s: %llu call(s) to the CA, %llu message(s) over %llu connection(s), "
          "%llu refused, %llu failed", u->name, (unsigned long long)u->calls,
          (unsigned long long)st.sent, (unsigned long long)st.connections,
          (unsigned long long)u->refusals, (unsigned long long)u->failures);
  close_timer(u);
  /* Every message in flight ends now; its exchange answers systemUnavail. */
  ca_cmp_link_close(u->link);
  u->link = NULL;
}

static void up_destroy(void *state) {
  struct upstream *u = state;
  if (u->link != NULL) {
    ca_cmp_link_close(u->link); /* never started: nothing in flight */
    u->link = NULL;
  }
  close_timer(u);
  for (struct material *m = u->material, *next; m != NULL; m = next) {
    next = m->older;
    for (size_t i = 0; i < MAX_CERTS + 3; i++)
      free(m->der[i]);
    free(m);
  }
  for (size_t i = 0; i < MAX_CERTS; i++) {
    free(u->trusted_der[i]);
    free(u->own_der[i]);
  }
  cg_key_free(u->own_key);
  cg_tls_client_free(u->tls);
  if (u->cache_ready)
    cmp_path_cache_destroy(&u->path_cache);
  free(u->crl);
  cg_wipe(u->secret, sizeof u->secret);
  cmp_mac_wipe(&u->mac);
  memset(u, 0, sizeof *u);
}

const struct ca_backend_ops ca_cmp_ops = {
    .abi = CA_BACKEND_ABI,
    .name = "cmp",
    .state_size = sizeof(struct upstream),
    .init = up_init,
    .issue = up_issue,
    .revoke = up_revoke,
    .relays = up_relays,
    .forward = up_forward,
    .crl = up_crl,
    .ca_certs = up_ca_certs,
    .root_update = up_root_update,
    .stop = up_stop,
    .destroy = up_destroy,
};
