/*
 * config.c - reading the INI configuration with libinih into struct
 * cg_config, with strict checking of sections, keys and values.
 */
#include "core/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

struct ctx {
  struct cg_config *cfg;
  const char *path;
  char error[256];
};

void cg_config_defaults(struct cg_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  strcpy(cfg->dir, ".");
  strcpy(cfg->http, "127.0.0.1:8080");
  cfg->max_message = 256 * 1024;
  snprintf(cfg->tcp_profile, sizeof cfg->tcp_profile, "default");
  cfg->max_header = 8 * 1024;
  cfg->max_connections = 10000;
  cfg->header_timeout_ms = 10000;
  cfg->body_timeout_ms = 30000;
  cfg->idle_timeout_ms = 60000;
  cfg->pbm_max_iterations = 10000;
  cfg->max_connections_per_address = 1024;
  cfg->max_buffered = 64u << 20;
  cfg->drain_timeout_ms = 30000;
  cfg->failed_check_burst = 30;
  cfg->failed_check_interval_ms = 1000;
  cfg->max_clock_skew = 900;
  cfg->max_failed_macs = 5;
  cfg->lockout_seconds = 900;
  strcpy(cfg->database, "cmpgw.db");
}

static bool copy(char *dst, size_t cap, const char *v) {
  size_t n = strlen(v);
  if (n >= cap)
    return false;
  memcpy(dst, v, n + 1);
  return true;
}

static bool parse_uint(const char *v, unsigned long long max, unsigned long long *out) {
  char *end;
  errno = 0;
  if (*v < '0' || *v > '9')
    return false;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || *end != 0 || x > max)
    return false;
  *out = x;
  return true;
}

static bool parse_bool(const char *v, bool *out) {
  if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
    *out = true;
  else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
    *out = false;
  else
    return false;
  return true;
}

/* v must be one of the n names; *index gets its position. */
static bool parse_choice(const char *v, const char *const *names, int n, int *index) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, names[i])) {
      *index = i;
      return true;
    }
  return false;
}

static const char *const none_manual[] = {"none", "manual"};

static bool set_uint(unsigned long long *tmp, const char *v, unsigned long long min,
                     unsigned long long max) {
  return parse_uint(v, max, tmp) && *tmp >= min;
}

static int server_key(struct ctx *c, const char *k, const char *v) {
  struct cg_config *cfg = c->cfg;
  unsigned long long x;
  int i;
  if (!strcmp(k, "http"))
    return copy(cfg->http, sizeof cfg->http, v);
  if (!strcmp(k, "tcp"))
    return copy(cfg->tcp, sizeof cfg->tcp, v);
  if (!strcmp(k, "tcp_profile"))
    return copy(cfg->tcp_profile, sizeof cfg->tcp_profile, v);
  if (!strcmp(k, "tcp_polling")) {
    static const char *const polling[] = {"tcp", "cmp"};
    return parse_choice(v, polling, 2, &i) && (cfg->tcp_cmp_polling = i == 1, 1);
  }
  if (!strcmp(k, "compute")) {
    /* in the order of enum cg_compute_mode */
    static const char *const modes[] = {"auto", "threadpool", "inline"};
    return parse_choice(v, modes, 3, &i) && (cfg->compute = (enum cg_compute_mode)i, 1);
  }
  if (!strcmp(k, "admin"))
    return copy(cfg->admin, sizeof cfg->admin, v);
  if (!strcmp(k, "max_message"))
    return set_uint(&x, v, 1024, 64u << 20) && (cfg->max_message = (size_t)x, 1);
  if (!strcmp(k, "max_header"))
    return set_uint(&x, v, 512, 1u << 20) && (cfg->max_header = (size_t)x, 1);
  if (!strcmp(k, "max_connections"))
    return set_uint(&x, v, 1, 1000000) && (cfg->max_connections = (unsigned)x, 1);
  if (!strcmp(k, "header_timeout_ms"))
    return set_uint(&x, v, 1, 3600000) && (cfg->header_timeout_ms = (unsigned)x, 1);
  if (!strcmp(k, "body_timeout_ms"))
    return set_uint(&x, v, 1, 3600000) && (cfg->body_timeout_ms = (unsigned)x, 1);
  if (!strcmp(k, "idle_timeout_ms"))
    return set_uint(&x, v, 1, 3600000) && (cfg->idle_timeout_ms = (unsigned)x, 1);
  if (!strcmp(k, "max_clock_skew"))
    return set_uint(&x, v, 0, 86400 * 365) && (cfg->max_clock_skew = (unsigned)x, 1);
  if (!strcmp(k, "pbm_max_iterations"))
    return set_uint(&x, v, 100, 10000000) && (cfg->pbm_max_iterations = (uint32_t)x, 1);
  if (!strcmp(k, "max_connections_per_address"))
    return set_uint(&x, v, 0, 1000000) && (cfg->max_connections_per_address = (unsigned)x, 1);
  if (!strcmp(k, "max_buffered"))
    return set_uint(&x, v, 0, 1ull << 40) && (cfg->max_buffered = (size_t)x, 1);
  if (!strcmp(k, "drain_timeout_ms"))
    return set_uint(&x, v, 0, 3600000) && (cfg->drain_timeout_ms = (unsigned)x, 1);
  if (!strcmp(k, "failed_check_burst"))
    return set_uint(&x, v, 0, 1000000) && (cfg->failed_check_burst = (unsigned)x, 1);
  if (!strcmp(k, "failed_check_interval_ms"))
    return set_uint(&x, v, 1, 3600000) && (cfg->failed_check_interval_ms = (unsigned)x, 1);
  snprintf(c->error, sizeof c->error, "unknown key '%s' in [server]", k);
  return 0;
}

static struct cg_config_profile *profile(struct cg_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_profiles; i++)
    if (!strcmp(cfg->profiles[i].name, name))
      return &cfg->profiles[i];
  if (cfg->n_profiles == CG_MAX_PROFILES || strlen(name) > CG_NAME_MAX)
    return NULL;
  struct cg_config_profile *p = &cfg->profiles[cfg->n_profiles++];
  strcpy(p->name, name);
  strcpy(p->backend, "local");
  p->validity_days = 365;
  p->eku_client_auth = true;
  p->copy_san = true;
  p->allow_mac = p->allow_sig = true;
  p->check_after = 5;
  p->pending_lifetime = 7 * 86400;
  p->max_pending = 10000;
  p->max_pending_per_ref = 5;
  p->confirm_wait = 600;
  p->san_types = CG_SAN_DNS | CG_SAN_IP | CG_SAN_URI | CG_SAN_EMAIL;
  return p;
}

/* "dns, ip, uri, email, dirname" or "none" into CG_SAN_* bits. */
static bool parse_san_types(const char *v, unsigned *out) {
  static const char *const names[] = {"dns", "ip", "uri", "email", "dirname"};
  unsigned bits = 0;
  if (!strcmp(v, "none")) {
    *out = 0;
    return true;
  }
  for (const char *p = v; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    size_t n = strcspn(p, ", ");
    if (n == 0)
      break;
    size_t i = 0;
    while (i < 5 && (strlen(names[i]) != n || strncmp(names[i], p, n) != 0))
      i++;
    if (i == 5)
      return false;
    bits |= 1u << i;
    p += n;
  }
  *out = bits;
  return bits != 0;
}

static int profile_key(struct ctx *c, struct cg_config_profile *p, const char *k, const char *v) {
  unsigned long long x;
  int i;
  if (!strcmp(k, "backend"))
    return copy(p->backend, sizeof p->backend, v);
  if (!strcmp(k, "validity_days"))
    return set_uint(&x, v, 1, 36500) && (p->validity_days = (unsigned)x, 1);
  if (!strcmp(k, "eku_client_auth"))
    return parse_bool(v, &p->eku_client_auth);
  if (!strcmp(k, "eku_server_auth"))
    return parse_bool(v, &p->eku_server_auth);
  if (!strcmp(k, "copy_san"))
    return parse_bool(v, &p->copy_san);
  if (!strcmp(k, "implicit_confirm"))
    return parse_bool(v, &p->implicit_confirm);
  if (!strcmp(k, "ra_verified"))
    return parse_bool(v, &p->ra_verified);
  if (!strcmp(k, "on_behalf"))
    return parse_bool(v, &p->on_behalf);
  if (!strcmp(k, "san_types"))
    return parse_san_types(v, &p->san_types);
  if (!strcmp(k, "subject_pattern"))
    return copy(p->subject_pattern, sizeof p->subject_pattern, v);
  if (!strcmp(k, "san_patterns"))
    return copy(p->san_patterns, sizeof p->san_patterns, v);
  if (!strcmp(k, "kur_new_identity"))
    return parse_bool(v, &p->kur_new_identity);
  if (!strcmp(k, "approval"))
    return parse_choice(v, none_manual, 2, &i) && (p->manual_approval = i == 1, 1);
  if (!strcmp(k, "revocation_approval"))
    return parse_choice(v, none_manual, 2, &i) && (p->manual_revocation = i == 1, 1);
  if (!strcmp(k, "pending_lifetime"))
    return set_uint(&x, v, 1, 365 * 86400) && (p->pending_lifetime = (unsigned)x, 1);
  if (!strcmp(k, "confirm_wait"))
    return set_uint(&x, v, 1, 365 * 86400) && (p->confirm_wait = (unsigned)x, 1);
  if (!strcmp(k, "max_pending"))
    return set_uint(&x, v, 0, 10000000) && (p->max_pending = (unsigned)x, 1);
  if (!strcmp(k, "max_pending_per_ref"))
    return set_uint(&x, v, 0, 10000000) && (p->max_pending_per_ref = (unsigned)x, 1);
  if (!strcmp(k, "check_after"))
    return set_uint(&x, v, 1, 86400) && (p->check_after = (unsigned)x, 1);
  if (!strcmp(k, "challenge")) {
    static const char *const challenges[] = {"none", "fixed", "random"};
    return parse_choice(v, challenges, 3, &p->challenge);
  }
  if (!strcmp(k, "challenge_value"))
    return v[0] != 0 && copy(p->challenge_value, sizeof p->challenge_value, v);
  if (!strcmp(k, "aliases"))
    return v[0] == '/' && copy(p->aliases, sizeof p->aliases, v);
  if (!strcmp(k, "nested_trust_anchors"))
    return copy(p->nested_trust_anchors, sizeof p->nested_trust_anchors, v);
  if (!strcmp(k, "trust_anchors"))
    return copy(p->trust_anchors, sizeof p->trust_anchors, v);
  if (!strcmp(k, "protection")) {
    /* A comma-separated list of "mac" and "signature". */
    char list[64];
    if (!copy(list, sizeof list, v))
      return 0;
    p->allow_mac = p->allow_sig = false;
    for (char *save = NULL, *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
      if (!strcmp(t, "mac"))
        p->allow_mac = true;
      else if (!strcmp(t, "signature"))
        p->allow_sig = true;
      else
        return 0;
    }
    return p->allow_mac || p->allow_sig;
  }
  snprintf(c->error, sizeof c->error, "unknown key '%s' in [profile %s]", k, p->name);
  return 0;
}

static struct cg_config_backend *backend(struct cg_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_backends; i++)
    if (!strcmp(cfg->backends[i].name, name))
      return &cfg->backends[i];
  if (cfg->n_backends == CG_MAX_BACKENDS || strlen(name) > CG_NAME_MAX)
    return NULL;
  struct cg_config_backend *b = &cfg->backends[cfg->n_backends++];
  strcpy(b->name, name);
  return b;
}

static int backend_key(struct ctx *c, struct cg_config_backend *b, const char *k, const char *v) {
  if (!strcmp(k, "type"))
    return copy(b->type, sizeof b->type, v);
  if (b->n == CG_MAX_BACKEND_KEYS || strlen(k) > CG_NAME_MAX ||
      !copy(b->values[b->n], CG_PATH_MAX, v)) {
    snprintf(c->error, sizeof c->error, "too many or too long keys in [backend %s]", b->name);
    return 0;
  }
  strcpy(b->keys[b->n++], k);
  return 1;
}

static int on_entry(void *user, const char *section, const char *k, const char *v) {
  struct ctx *c = user;
  struct cg_config *cfg = c->cfg;
  c->error[0] = 0;
  int ok;
  if (!strcmp(section, "server")) {
    ok = server_key(c, k, v);
  } else if (!strcmp(section, "store")) {
    unsigned long long x;
    ok = (!strcmp(k, "database") && copy(cfg->database, sizeof cfg->database, v)) ||
         (!strcmp(k, "commit_interval_us") && set_uint(&x, v, 0, 100000) &&
          (cfg->commit_interval_us = (unsigned)x, 1));
  } else if (!strcmp(section, "ra")) {
    ok = (!strcmp(k, "pkcs12") && copy(cfg->ra_pkcs12, sizeof cfg->ra_pkcs12, v)) ||
         (!strcmp(k, "password_file") &&
          copy(cfg->ra_password_file, sizeof cfg->ra_password_file, v));
  } else if (!strcmp(section, "secrets")) {
    unsigned long long x;
    ok = (!strcmp(k, "master_key") && copy(cfg->master_key, sizeof cfg->master_key, v)) ||
         (!strcmp(k, "max_failed_macs") && set_uint(&x, v, 0, 1000000) &&
          (cfg->max_failed_macs = (unsigned)x, 1)) ||
         (!strcmp(k, "lockout_seconds") && set_uint(&x, v, 1, 86400 * 365) &&
          (cfg->lockout_seconds = (unsigned)x, 1));
  } else if (!strncmp(section, "profile ", 8)) {
    struct cg_config_profile *p = profile(cfg, section + 8);
    if (p == NULL)
      snprintf(c->error, sizeof c->error, "too many [profile] sections (at most %d) or a name "
               "over %d characters", CG_MAX_PROFILES, CG_NAME_MAX);
    ok = p != NULL && profile_key(c, p, k, v);
  } else if (!strncmp(section, "backend ", 8)) {
    struct cg_config_backend *b = backend(cfg, section + 8);
    if (b == NULL)
      snprintf(c->error, sizeof c->error, "too many [backend] sections (at most %d) or a name "
               "over %d characters", CG_MAX_BACKENDS, CG_NAME_MAX);
    ok = b != NULL && backend_key(c, b, k, v);
  } else {
    snprintf(c->error, sizeof c->error, "unknown section [%s]", section);
    ok = 0;
  }
  if (!ok && c->error[0] == 0)
    snprintf(c->error, sizeof c->error, "bad key or value '%s = %s' in [%s]", k, v, section);
  return ok;
}

int cg_config_load(const char *path, struct cg_config *cfg) {
  cg_config_defaults(cfg);
  const char *slash = strrchr(path, '/');
  if (slash != NULL) {
    size_t n = (size_t)(slash - path);
    if (n == 0)
      n = 1;
    if (n >= sizeof cfg->dir)
      return CG_ECONFIG;
    memcpy(cfg->dir, path, n);
    cfg->dir[n] = 0;
  }
  struct ctx c = {cfg, path, ""};
  int line = ini_parse(path, on_entry, &c);
  if (line < 0) {
    cg_error("config %s: cannot read the file", path);
    return CG_ECONFIG;
  }
  if (line > 0) {
    cg_error("config %s:%d: %s", path, line, c.error[0] ? c.error : "syntax error");
    return CG_ECONFIG;
  }
  for (size_t i = 0; i < cfg->n_profiles; i++)
    if (cg_config_backend(cfg, cfg->profiles[i].backend) == NULL) {
      cg_error("config %s: profile '%s' names backend '%s', which has no [backend %s] section",
               path, cfg->profiles[i].name, cfg->profiles[i].backend, cfg->profiles[i].backend);
      return CG_ECONFIG;
    }
  for (size_t i = 0; i < cfg->n_profiles; i++) {
    const struct cg_config_profile *p = &cfg->profiles[i];
    if (p->challenge == 1 && p->challenge_value[0] == 0) {
      cg_error("config %s: profile '%s' has challenge = fixed but no challenge_value", path,
               p->name);
      return CG_ECONFIG;
    }
    /* A certificate issued on approval waits up to check_after for the
     * device's next poll; it must not expire before that poll. */
    if (p->manual_approval && p->confirm_wait <= p->check_after) {
      cg_error("config %s: profile '%s': confirm_wait (%u s) must be longer than check_after"
               " (%u s), or approved certificates expire before the device polls for them",
               path, p->name, p->confirm_wait, p->check_after);
      return CG_ECONFIG;
    }
  }
  for (size_t i = 0; i < cfg->n_backends; i++)
    if (cfg->backends[i].type[0] == 0) {
      cg_error("config %s: [backend %s] has no type", path, cfg->backends[i].name);
      return CG_ECONFIG;
    }
  return 0;
}

int cg_config_resolve(const struct cg_config *cfg, const char *path, char *out, size_t cap) {
  int n = path[0] == '/' ? snprintf(out, cap, "%s", path)
                         : snprintf(out, cap, "%s/%s", cfg->dir, path);
  return n < 0 || (size_t)n >= cap ? CG_ESPACE : 0;
}

const struct cg_config_profile *cg_config_profile(const struct cg_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_profiles; i++)
    if (!strcmp(cfg->profiles[i].name, name))
      return &cfg->profiles[i];
  return NULL;
}

const struct cg_config_backend *cg_config_backend(const struct cg_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_backends; i++)
    if (!strcmp(cfg->backends[i].name, name))
      return &cfg->backends[i];
  return NULL;
}

const char *cg_config_backend_key(const void *backend, size_t i) {
  const struct cg_config_backend *b = backend;
  return i < b->n ? b->keys[i] : NULL;
}

const char *cg_config_backend_get(const void *backend_section, const char *key) {
  const struct cg_config_backend *b = backend_section;
  for (size_t i = 0; i < b->n; i++)
    if (!strcmp(b->keys[i], key))
      return b->values[i];
  return NULL;
}

int cg_parse_hostport(const char *s, char *host, size_t cap, int *port) {
  const char *colon;
  size_t hl;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':')
      return CG_ECONFIG;
    hl = (size_t)(close - s - 1);
    s++;
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL)
      return CG_ECONFIG;
    hl = (size_t)(colon - s);
  }
  if (hl == 0 || hl >= cap)
    return CG_ECONFIG;
  memcpy(host, s, hl);
  host[hl] = 0;
  char *end;
  errno = 0;
  long p = strtol(colon + 1, &end, 10);
  if (errno || *end != 0 || end == colon + 1 || p < 0 || p > 65535)
    return CG_ECONFIG;
  *port = (int)p;
  return 0;
}
