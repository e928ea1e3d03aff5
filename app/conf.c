/*
 * conf.c - the part of the configuration a reload replaces (docs/operations.md,
 * "Reloading"): the profiles with their policies and trust anchors, the RA
 * credentials, and the engine's settings, as one generation (struct
 * gw_conf).  The gateway holds the current one; each request holds the one
 * it began with, so a reload never changes an exchange in flight, and a
 * generation is freed when the last of them ends.  The first generation is
 * also held for the gateway's life: the backends borrowed its RA
 * credentials when they started.
 *
 * What is not here needs a restart: the listeners, the limits, the store,
 * the master key, the backends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/gateway_int.h"
#include "core/certbuild.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "core/x509.h"
#include "transports/tls.h"

/* Reads the PEM bundle of trust anchors that key of a profile names (a file
 * relative to the configuration) into der/views. */
static int load_pem_certs(const struct cg_config *cfg, const char *profile, const char *key,
                          const char *file, uint8_t **der, struct der_view *views, size_t *n) {
  char path[CG_PATH_MAX], section[CG_NAME_MAX + 9];
  uint8_t *text;
  size_t len;
  snprintf(section, sizeof section, "profile %s", profile);
  int err = cg_config_resolve(cfg, file, path, sizeof path);
  if (err == 0)
    err = cg_read_file(path, &text, &len);
  if (err)
    return cg_config_error(cfg, section, key, "cannot read %s: %s", path, cg_file_strerror(err));
  err = cg_x509_pem_bundle((const char *)text, len, der, views, MAX_ANCHORS, n);
  free(text);
  if (err || *n == 0)
    return cg_config_error(cfg, section, key, "%s holds no usable certificate", path);
  return 0;
}

/* The root CA key update of a profile (RFC 9483 §4.3.2): newWithNew, a
 * self-issued root, and its links: newWithOld, the new root's key
 * certified under the old; oldWithNew, the old root's key under the new.
 * Checked as far as their names and keys go (the device checks the
 * signatures). */
static int load_root_update(const struct cg_config *cfg, struct profile_rt *p) {
  const struct cg_config_profile *pc = p->cfg;
  const char *files[3] = {pc->root_new_with_new, pc->root_new_with_old, pc->root_old_with_new};
  static const char *const keys[3] = {"root_new_with_new", "root_new_with_old",
                                      "root_old_with_new"};
  char section[CG_NAME_MAX + 9];
  snprintf(section, sizeof section, "profile %s", pc->name);
  if (files[0][0] == 0) {
    for (int i = 1; i < 3; i++)
      if (files[i][0] != 0)
        return cg_config_error(cfg, section, keys[i], "needs root_new_with_new");
    return 0;
  }
  struct cg_x509 x[3];
  for (int i = 0; i < 3; i++) {
    if (files[i][0] == 0)
      continue;
    uint8_t *der[MAX_ANCHORS] = {0};
    struct der_view v[MAX_ANCHORS];
    size_t n = 0;
    int err = load_pem_certs(cfg, pc->name, keys[i], files[i], der, v, &n);
    if (err)
      return err;
    for (size_t j = 1; j < n; j++)
      free(der[j]);
    p->root_update_der[i] = der[0];
    p->root_update[i] = v[0];
    if (n != 1 || cg_x509_parse(v[0].p, v[0].len, &x[i]))
      return cg_config_error(cfg, section, keys[i], "%s must hold one certificate", files[i]);
  }
  const char *why = NULL;
  if (!cg_der_view_eq(x[0].subject, x[0].issuer))
    why = "root_new_with_new is not self-issued";
  else if (files[1][0] != 0 &&
           (!cg_der_view_eq(x[1].subject, x[0].subject) || !cg_der_view_eq(x[1].spki, x[0].spki)))
    why = "root_new_with_old does not certify the new root's name and key";
  else if (files[2][0] != 0 && !cg_der_view_eq(x[2].issuer, x[0].subject))
    why = "root_old_with_new is not issued by the new root";
  if (why != NULL)
    return cg_config_error(cfg, section, "root_new_with_new", "%s", why);
  return 0;
}

_Static_assert((int)CG_SAN_DNS == (int)CMP_SAN_DNS && (int)CG_SAN_IP == (int)CMP_SAN_IP &&
                   (int)CG_SAN_URI == (int)CMP_SAN_URI && (int)CG_SAN_EMAIL == (int)CMP_SAN_EMAIL &&
                   (int)CG_SAN_DIRNAME == (int)CMP_SAN_DIRNAME,
               "the configuration's san_types bits are the engine's");
_Static_assert((int)CG_KEYT_RSA == (int)CMP_KEYT_RSA && (int)CG_KEYT_P256 == (int)CMP_KEYT_P256 &&
                   (int)CG_KEYT_P384 == (int)CMP_KEYT_P384 &&
                   (int)CG_KEYT_P521 == (int)CMP_KEYT_P521 &&
                   (int)CG_KEYT_ED25519 == (int)CMP_KEYT_ED25519 &&
                   (int)CG_KEYT_ED448 == (int)CMP_KEYT_ED448,
               "the configuration's key_types bits are the engine's");

/* The profile's key_usage (CG_KU_*) as the CA policy's CERT_KU_* bits; 0:
 * by key type. */
static uint32_t key_usage_bits(unsigned names) {
  if (names & CG_KU_AUTO)
    return 0;
  return ((names & CG_KU_DIGITAL_SIGNATURE) ? CERT_KU_DIGITAL_SIGNATURE : 0) |
         ((names & CG_KU_NON_REPUDIATION) ? CERT_KU_NON_REPUDIATION : 0) |
         ((names & CG_KU_KEY_ENCIPHERMENT) ? CERT_KU_KEY_ENCIPHERMENT : 0) |
         ((names & CG_KU_KEY_AGREEMENT) ? CERT_KU_KEY_AGREEMENT : 0);
}

/* The key central_keygen names (enum cg_kga_key). */
static void kga_key(int v, enum cg_key_type *type, unsigned *bits) {
  static const struct {
    enum cg_key_type type;
    unsigned bits;
  } keys[] = {
      [CG_KGA_OFF] = {CG_KEY_NONE, 0},       [CG_KGA_P256] = {CG_KEY_EC, 256},
      [CG_KGA_P384] = {CG_KEY_EC, 384},      [CG_KGA_P521] = {CG_KEY_EC, 521},
      [CG_KGA_RSA2048] = {CG_KEY_RSA, 2048}, [CG_KGA_RSA3072] = {CG_KEY_RSA, 3072},
      [CG_KGA_RSA4096] = {CG_KEY_RSA, 4096}, [CG_KGA_ED25519] = {CG_KEY_ED25519, 256},
  };
  bool known = v >= 0 && (size_t)v < sizeof keys / sizeof keys[0];
  *type = known ? keys[v].type : CG_KEY_NONE;
  *bits = known ? keys[v].bits : 0;
}

/* The profiles of c->cfg, bound to the gateway's backends. */
static int load_profiles(struct gateway *gw, struct gw_conf *c) {
  const struct cg_config *cfg = &c->cfg;
  for (size_t i = 0; i < cfg->n_profiles; i++) {
    const struct cg_config_profile *pc = &cfg->profiles[i];
    struct profile_rt *p = &c->profiles[c->n_profiles++];
    p->cfg = pc;
    p->policy.validity_days = pc->validity_days;
    p->policy.eku_client_auth = pc->eku_client_auth;
    p->policy.eku_server_auth = pc->eku_server_auth;
    p->policy.copy_san = pc->copy_san;
    p->policy.key_usage = key_usage_bits(pc->key_usage);
    for (size_t j = 0; j < gw->cfg.n_backends; j++)
      if (!strcmp(gw->cfg.backends[j].name, pc->backend)) {
        p->ops = gw->backend_ops[j];
        p->backend = gw->backend_state[j];
        p->backend_index = j;
      }
    if (p->ops == NULL) {
      /* the configuration checks that the backend exists: a reload's may
       * name one the running gateway did not start */
      char section[CG_NAME_MAX + 9];
      snprintf(section, sizeof section, "profile %s", pc->name);
      return cg_config_error(cfg, section, "backend",
                             "there is no backend %s in the running gateway (new backends need "
                             "a restart)",
                             pc->backend);
    }
    p->cmp.name = pc->name;
    p->cmp.allow_mac = pc->allow_mac;
    p->cmp.allow_sig = pc->allow_sig;
    p->cmp.allow_sha1_signatures = pc->sha1_signatures;
    p->cmp.implicit_confirm = pc->implicit_confirm;
    p->cmp.allow_ra_verified = pc->ra_verified;
    p->cmp.challenge = (enum cmp_challenge)pc->challenge;
    p->cmp.manual_approval = pc->manual_approval;
    p->cmp.manual_revocation = pc->manual_revocation;
    p->cmp.on_behalf = pc->on_behalf;
    p->cmp.san_types = pc->san_types; /* CG_SAN_* and CMP_SAN_* are the same bits */
    p->cmp.subject_pattern = pc->subject_pattern;
    p->cmp.san_patterns = pc->san_patterns;
    p->cmp.kur_new_identity = pc->kur_new_identity;
    p->cmp.kur_same_key = pc->kur_same_key;
    p->cmp.key_reuse = pc->key_reuse;
    p->cmp.key_types = pc->key_types; /* CG_KEYT_* and CMP_KEYT_* are the same bits */
    p->cmp.rsa_min_bits = pc->rsa_min_bits;
    kga_key(pc->central_keygen, &p->cmp.kga_type, &p->cmp.kga_bits);
    p->cmp.kga_iterations = pc->kga_iterations;
    p->cmp.kga_aes_wrap = pc->kga_password_wrap == 1;
    p->cmp.tls_signer = (pc->tls_binding & CG_TLS_BIND_SIGNER) != 0;
    p->cmp.tls_mac = (pc->tls_binding & CG_TLS_BIND_MAC) != 0;
    p->cmp.relay = p->ops->relays != NULL && p->ops->relays(p->backend);
    if (p->cmp.relay && (pc->manual_approval || pc->manual_revocation)) {
      /* The CA's answers go to the device as they are, with the nonces of
       * the device's messages: one answer to a request approved later has
       * nobody to go to. */
      char section[CG_NAME_MAX + 9];
      snprintf(section, sizeof section, "profile %s", pc->name);
      return cg_config_error(cfg, section, pc->manual_approval ? "approval" : "revocation_approval",
                             "manual does not go with a backend that relays (backend %s has "
                             "protection = passthrough)",
                             pc->backend);
    }
    p->cmp.check_after = pc->check_after;
    if (pc->nested_trust_anchors[0] != 0) {
      int err = load_pem_certs(cfg, pc->name, "nested_trust_anchors", pc->nested_trust_anchors,
                               p->nested_der, p->nested, &p->cmp.n_nested_anchors);
      if (err)
        return err;
      p->cmp.nested_anchors = p->nested;
    }
    p->cmp.nested_vouch = pc->nested_vouch;
    if (pc->ra_anchors[0] != 0) {
      int err = load_pem_certs(cfg, pc->name, "ra_anchors", pc->ra_anchors, p->ra_der, p->ra,
                               &p->cmp.n_ra_anchors);
      if (err)
        return err;
      p->cmp.ra_anchors = p->ra;
    }
    p->cmp.challenge_value = pc->challenge_value;
    /* Signed requests are trusted when they chain to the configured anchors,
     * by default to the profile's own CA. */
    if (pc->trust_anchors[0] != 0) {
      int err = load_pem_certs(cfg, pc->name, "trust_anchors", pc->trust_anchors, p->anchor_der,
                               p->anchors, &p->cmp.n_trust_anchors);
      if (err)
        return err;
      p->cmp.trust_anchors = p->anchors;
    }
    int rerr = load_root_update(cfg, p);
    if (rerr)
      return rerr;
    gw_current(p); /* the backend's chain, and by default its root as the anchor */
  }
  if (c->n_profiles == 0) {
    cg_error("config %s: no [profile NAME] section with a key: nothing to serve", cfg->path);
    return CG_ECONFIG;
  }
  return 0;
}

static void conf_free(struct gw_conf *c) {
  for (size_t i = 0; i < c->n_profiles; i++) {
    for (size_t j = 0; j < MAX_ANCHORS; j++) {
      free(c->profiles[i].anchor_der[j]);
      free(c->profiles[i].nested_der[j]);
      free(c->profiles[i].ra_der[j]);
    }
    for (size_t j = 0; j < 3; j++)
      free(c->profiles[i].root_update_der[j]);
  }
  app_free_ra(&c->ra);
  free(c);
}

int gw_conf_ra(const struct cg_config *cfg, struct gw_conf **out) {
  struct gw_conf *c = calloc(1, sizeof *c);
  *out = NULL;
  if (c == NULL)
    return CG_ENOMEM;
  c->cfg = *cfg;
  c->refs = 1;
  int err = app_load_ra(&c->cfg, &c->ra);
  if (err != 0) {
    free(c);
    return err;
  }
  *out = c;
  return 0;
}

int gw_conf_finish(struct gateway *gw, struct gw_conf *c) {
  int err = load_profiles(gw, c);
  if (err != 0)
    return err;
  struct cmp_server_cfg *s = &c->server;
  s->ra_name = c->ra.x509.subject;
  s->ra_key = c->ra.key;
  cg_key_default_sig(c->ra.key, &s->ra_scheme, &s->ra_hash);
  s->ra_chain = c->ra.chain;
  s->n_ra_chain = c->ra.n_chain;
  s->master_key = gw->master_key;
  s->pbm_max_iterations = c->cfg.pbm_max_iterations;
  s->max_clock_skew = c->cfg.max_clock_skew;
  s->max_failed_macs = c->cfg.max_failed_macs;
  s->lockout_seconds = c->cfg.lockout_seconds;
  if (gw->cfg.tcp[0] != 0) {
    c->tcp_profile = gw_profile_named(c, c->cfg.tcp_profile, strlen(c->cfg.tcp_profile));
    if (c->tcp_profile == NULL)
      return cg_config_error(&c->cfg, "server", "tcp_profile",
                             "\"%s\" is not a configured profile (a [profile %s] with a key)",
                             c->cfg.tcp_profile, c->cfg.tcp_profile);
  }
  return 0;
}

struct gw_conf *gw_conf_hold(struct gw_conf *c) {
  c->refs++;
  return c;
}

void gw_conf_release(struct gw_conf *c) {
  if (c != NULL && --c->refs == 0)
    conf_free(c);
}
