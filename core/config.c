/*
 * config.c - reading the INI configuration with libinih into struct
 * cg_config, with strict checking of sections, keys and values.
 *
 * libinih splits "key = value" lines; a reader of ours hands it the file a
 * line at a time (next_line()), so that we know the line number its handler
 * is called for, and tracks the sections itself.  Everything that is wrong
 * is reported by us, with the line, the section and key, and the reason:
 * libinih's own verdict ("line N has an error") is the last resort.  Only
 * the first error is reported: later lines are not looked at.
 */
#include "core/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"

struct ctx {
  struct cg_config *cfg;
  const char *text; /* the file, whole */
  size_t len, pos;  /* what the reader has handed to libinih */
  int line;         /* the line it handed last */
  int section;      /* the current section (index into cfg->sections); -1: none yet */
  const char *key;  /* the key being read */
  int error_line;   /* the line of the first error; 0: none */
  char error[512];
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

/* ---- errors --------------------------------------------------------------- */

/* Records the first error, at the line the reader is on.  Returns 0, for the
 * callers' returns. */
static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...) {
  if (c->error_line != 0)
    return 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->error, sizeof c->error, fmt, ap);
  va_end(ap);
  c->error_line = c->line;
  return 0;
}

static const char *section_name(const struct ctx *c) {
  return c->cfg->sections[c->section].name;
}

/* An error about the key being read: "[SECTION] KEY: why". */
static int bad(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct ctx *c, const char *fmt, ...) {
  char why[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  return fail(c, "[%s] %s: %s", section_name(c), c->key, why);
}

static int unknown_key(struct ctx *c) {
  return bad(c, "unknown key (docs/configuration.md lists the keys of [%s])",
             strncmp(section_name(c), "profile ", 8) == 0 ? "profile NAME" : section_name(c));
}

/* ---- values --------------------------------------------------------------- */

static int text(struct ctx *c, const char *v, char *dst, size_t cap) {
  size_t n = strlen(v);
  if (n >= cap)
    return bad(c, "longer than %zu characters", cap - 1);
  memcpy(dst, v, n + 1);
  return 1;
}

static int number(struct ctx *c, const char *v, unsigned long long min, unsigned long long max,
                  unsigned long long *out) {
  char *end = NULL;
  unsigned long long x = 0;
  errno = 0;
  if (*v >= '0' && *v <= '9')
    x = strtoull(v, &end, 10);
  if (end == NULL || *end != 0)
    return bad(c, "\"%s\" is not a number (%llu..%llu)", v, min, max);
  if (errno != 0 || x < min || x > max)
    return bad(c, "%s is out of range (%llu..%llu)", v, min, max);
  *out = x;
  return 1;
}

static int boolean(struct ctx *c, const char *v, bool *out) {
  if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
    *out = true;
  else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
    *out = false;
  else
    return bad(c, "\"%s\" is not true or false", v);
  return 1;
}

/* v must be one of the n names; *index gets its position. */
static int choice(struct ctx *c, const char *v, const char *const *names, int n, int *index) {
  char list[128] = "";
  for (int i = 0; i < n; i++) {
    if (!strcmp(v, names[i])) {
      *index = i;
      return 1;
    }
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
  }
  return bad(c, "\"%s\" is not one of %s", v, list);
}

/* HOST:PORT, or nothing where empty is allowed (no listener). */
static int hostport(struct ctx *c, const char *v, char *dst, size_t cap, bool may_be_empty) {
  char host[128];
  int port;
  if (!(may_be_empty && v[0] == 0) && cg_parse_hostport(v, host, sizeof host, &port) != 0)
    return bad(c, "\"%s\" is not HOST:PORT (or [IPv6]:PORT; port 0..65535)", v);
  return text(c, v, dst, cap);
}

static const char *const none_manual[] = {"none", "manual"};

/* ---- sections -------------------------------------------------------------- */

static int server_key(struct ctx *c, const char *k, const char *v) {
  struct cg_config *cfg = c->cfg;
  unsigned long long x;
  int i = 0;
  if (!strcmp(k, "http"))
    return hostport(c, v, cfg->http, sizeof cfg->http, false);
  if (!strcmp(k, "tcp"))
    return hostport(c, v, cfg->tcp, sizeof cfg->tcp, true);
  if (!strcmp(k, "tcp_profile"))
    return text(c, v, cfg->tcp_profile, sizeof cfg->tcp_profile);
  if (!strcmp(k, "tcp_polling")) {
    static const char *const polling[] = {"tcp", "cmp"};
    return choice(c, v, polling, 2, &i) && (cfg->tcp_cmp_polling = i == 1, 1);
  }
  if (!strcmp(k, "compute")) {
    /* in the order of enum cg_compute_mode */
    static const char *const modes[] = {"auto", "threadpool", "inline"};
    return choice(c, v, modes, 3, &i) && (cfg->compute = (enum cg_compute_mode)i, 1);
  }
  if (!strcmp(k, "admin"))
    return hostport(c, v, cfg->admin, sizeof cfg->admin, true);
  if (!strcmp(k, "max_message"))
    return number(c, v, 1024, 64u << 20, &x) && (cfg->max_message = (size_t)x, 1);
  if (!strcmp(k, "max_header"))
    return number(c, v, 512, 1u << 20, &x) && (cfg->max_header = (size_t)x, 1);
  if (!strcmp(k, "max_connections"))
    return number(c, v, 1, 1000000, &x) && (cfg->max_connections = (unsigned)x, 1);
  if (!strcmp(k, "header_timeout_ms"))
    return number(c, v, 1, 3600000, &x) && (cfg->header_timeout_ms = (unsigned)x, 1);
  if (!strcmp(k, "body_timeout_ms"))
    return number(c, v, 1, 3600000, &x) && (cfg->body_timeout_ms = (unsigned)x, 1);
  if (!strcmp(k, "idle_timeout_ms"))
    return number(c, v, 1, 3600000, &x) && (cfg->idle_timeout_ms = (unsigned)x, 1);
  if (!strcmp(k, "max_clock_skew"))
    return number(c, v, 0, 86400 * 365, &x) && (cfg->max_clock_skew = (unsigned)x, 1);
  if (!strcmp(k, "pbm_max_iterations"))
    return number(c, v, 100, 10000000, &x) && (cfg->pbm_max_iterations = (uint32_t)x, 1);
  if (!strcmp(k, "max_connections_per_address"))
    return number(c, v, 0, 1000000, &x) && (cfg->max_connections_per_address = (unsigned)x, 1);
  if (!strcmp(k, "max_buffered"))
    return number(c, v, 0, 1ull << 40, &x) && (cfg->max_buffered = (size_t)x, 1);
  if (!strcmp(k, "drain_timeout_ms"))
    return number(c, v, 0, 3600000, &x) && (cfg->drain_timeout_ms = (unsigned)x, 1);
  if (!strcmp(k, "failed_check_burst"))
    return number(c, v, 0, 1000000, &x) && (cfg->failed_check_burst = (unsigned)x, 1);
  if (!strcmp(k, "failed_check_interval_ms"))
    return number(c, v, 1, 3600000, &x) && (cfg->failed_check_interval_ms = (unsigned)x, 1);
  if (!strcmp(k, "allow_readable_keys"))
    return boolean(c, v, &cfg->allow_readable_keys);
  return unknown_key(c);
}

static int store_key(struct ctx *c, const char *k, const char *v) {
  struct cg_config *cfg = c->cfg;
  unsigned long long x;
  if (!strcmp(k, "database"))
    return text(c, v, cfg->database, sizeof cfg->database);
  if (!strcmp(k, "commit_interval_us"))
    return number(c, v, 0, 100000, &x) && (cfg->commit_interval_us = (unsigned)x, 1);
  return unknown_key(c);
}

static int ra_key(struct ctx *c, const char *k, const char *v) {
  struct cg_config *cfg = c->cfg;
  if (!strcmp(k, "pkcs12"))
    return text(c, v, cfg->ra_pkcs12, sizeof cfg->ra_pkcs12);
  if (!strcmp(k, "password_file"))
    return text(c, v, cfg->ra_password_file, sizeof cfg->ra_password_file);
  return unknown_key(c);
}

static int secrets_key(struct ctx *c, const char *k, const char *v) {
  struct cg_config *cfg = c->cfg;
  unsigned long long x;
  if (!strcmp(k, "master_key"))
    return text(c, v, cfg->master_key, sizeof cfg->master_key);
  if (!strcmp(k, "max_failed_macs"))
    return number(c, v, 0, 1000000, &x) && (cfg->max_failed_macs = (unsigned)x, 1);
  if (!strcmp(k, "lockout_seconds"))
    return number(c, v, 1, 86400 * 365, &x) && (cfg->lockout_seconds = (unsigned)x, 1);
  return unknown_key(c);
}

/* The profile named name, made with the defaults at its first key (an empty
 * section defines none).  NULL when there are too many. */
static struct cg_config_profile *profile(struct cg_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_profiles; i++)
    if (!strcmp(cfg->profiles[i].name, name))
      return &cfg->profiles[i];
  if (cfg->n_profiles == CG_MAX_PROFILES)
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

/* san_types = "dns, ip, uri, email, dirname" or "none", into CG_SAN_* bits. */
static int san_types(struct ctx *c, const char *v, unsigned *out) {
  static const char *const names[] = {"dns", "ip", "uri", "email", "dirname"};
  unsigned bits = 0;
  if (!strcmp(v, "none")) {
    *out = 0;
    return 1;
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
      return bad(c, "\"%.*s\" is not one of dns, ip, uri, email, dirname", (int)n, p);
    bits |= 1u << i;
    p += n;
  }
  if (bits == 0)
    return bad(c, "names no type (dns, ip, uri, email, dirname; or none)");
  *out = bits;
  return 1;
}

/* protection = a comma-separated list of "mac" and "signature". */
static int protection(struct ctx *c, struct cg_config_profile *p, const char *v) {
  char list[64];
  if (!text(c, v, list, sizeof list))
    return 0;
  p->allow_mac = p->allow_sig = false;
  for (char *save = NULL, *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
    if (!strcmp(t, "mac"))
      p->allow_mac = true;
    else if (!strcmp(t, "signature"))
      p->allow_sig = true;
    else
      return bad(c, "\"%s\" is not mac or signature", t);
  }
  return p->allow_mac || p->allow_sig || bad(c, "names no protection (mac, signature)");
}

static int profile_key(struct ctx *c, const char *k, const char *v) {
  struct cg_config_profile *p = profile(c->cfg, section_name(c) + 8);
  unsigned long long x;
  int i = 0;
  if (p == NULL)
    return bad(c, "too many profiles (at most %d)", CG_MAX_PROFILES);
  if (!strcmp(k, "backend"))
    return text(c, v, p->backend, sizeof p->backend);
  if (!strcmp(k, "validity_days"))
    return number(c, v, 1, 36500, &x) && (p->validity_days = (unsigned)x, 1);
  if (!strcmp(k, "eku_client_auth"))
    return boolean(c, v, &p->eku_client_auth);
  if (!strcmp(k, "eku_server_auth"))
    return boolean(c, v, &p->eku_server_auth);
  if (!strcmp(k, "copy_san"))
    return boolean(c, v, &p->copy_san);
  if (!strcmp(k, "implicit_confirm"))
    return boolean(c, v, &p->implicit_confirm);
  if (!strcmp(k, "ra_verified"))
    return boolean(c, v, &p->ra_verified);
  if (!strcmp(k, "on_behalf"))
    return boolean(c, v, &p->on_behalf);
  if (!strcmp(k, "san_types"))
    return san_types(c, v, &p->san_types);
  if (!strcmp(k, "subject_pattern"))
    return text(c, v, p->subject_pattern, sizeof p->subject_pattern);
  if (!strcmp(k, "san_patterns"))
    return text(c, v, p->san_patterns, sizeof p->san_patterns);
  if (!strcmp(k, "kur_new_identity"))
    return boolean(c, v, &p->kur_new_identity);
  if (!strcmp(k, "approval"))
    return choice(c, v, none_manual, 2, &i) && (p->manual_approval = i == 1, 1);
  if (!strcmp(k, "revocation_approval"))
    return choice(c, v, none_manual, 2, &i) && (p->manual_revocation = i == 1, 1);
  if (!strcmp(k, "pending_lifetime"))
    return number(c, v, 1, 365 * 86400, &x) && (p->pending_lifetime = (unsigned)x, 1);
  if (!strcmp(k, "confirm_wait"))
    return number(c, v, 1, 365 * 86400, &x) && (p->confirm_wait = (unsigned)x, 1);
  if (!strcmp(k, "max_pending"))
    return number(c, v, 0, 10000000, &x) && (p->max_pending = (unsigned)x, 1);
  if (!strcmp(k, "max_pending_per_ref"))
    return number(c, v, 0, 10000000, &x) && (p->max_pending_per_ref = (unsigned)x, 1);
  if (!strcmp(k, "check_after"))
    return number(c, v, 1, 86400, &x) && (p->check_after = (unsigned)x, 1);
  if (!strcmp(k, "challenge")) {
    static const char *const challenges[] = {"none", "fixed", "random"};
    return choice(c, v, challenges, 3, &p->challenge);
  }
  if (!strcmp(k, "challenge_value"))
    return (v[0] != 0 || bad(c, "is empty")) &&
           text(c, v, p->challenge_value, sizeof p->challenge_value);
  if (!strcmp(k, "aliases"))
    return (v[0] == '/' || bad(c, "\"%s\" does not start with '/'", v)) &&
           text(c, v, p->aliases, sizeof p->aliases);
  if (!strcmp(k, "nested_trust_anchors"))
    return text(c, v, p->nested_trust_anchors, sizeof p->nested_trust_anchors);
  if (!strcmp(k, "trust_anchors"))
    return text(c, v, p->trust_anchors, sizeof p->trust_anchors);
  if (!strcmp(k, "protection"))
    return protection(c, p, v);
  return unknown_key(c);
}

/* A backend's keys are the backend's to check when it starts; here they are
 * only kept. */
static int backend_key(struct ctx *c, const char *k, const char *v) {
  struct cg_config *cfg = c->cfg;
  const char *name = section_name(c) + 8;
  struct cg_config_backend *b = NULL;
  for (size_t i = 0; i < cfg->n_backends && b == NULL; i++)
    if (!strcmp(cfg->backends[i].name, name))
      b = &cfg->backends[i];
  if (b == NULL) {
    if (cfg->n_backends == CG_MAX_BACKENDS)
      return bad(c, "too many backends (at most %d)", CG_MAX_BACKENDS);
    b = &cfg->backends[cfg->n_backends++];
    strcpy(b->name, name);
  }
  if (!strcmp(k, "type"))
    return text(c, v, b->type, sizeof b->type);
  if (b->n == CG_MAX_BACKEND_KEYS)
    return bad(c, "too many keys in one backend (at most %d)", CG_MAX_BACKEND_KEYS);
  if (!text(c, v, b->values[b->n], CG_PATH_MAX))
    return 0;
  strcpy(b->keys[b->n++], k);
  return 1;
}

/* A section header: "[NAME]", then nothing but blanks or a comment.  The
 * name must be known and must not have been used before. */
static void section_header(struct ctx *c, const char *p, size_t n) {
  struct cg_config *cfg = c->cfg;
  const char *close = memchr(p, ']', n);
  if (close == NULL) {
    fail(c, "'[' starts a section name that no ']' ends");
    return;
  }
  for (const char *q = close + 1; q < p + n && *q != ';' && *q != '#'; q++)
    if (*q != ' ' && *q != '\t') {
      fail(c, "text after the section name's ']'");
      return;
    }
  const char *name = p + 1;
  size_t len = (size_t)(close - name);
  while (len > 0 && (*name == ' ' || *name == '\t'))
    name++, len--;
  while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
    len--;
  char sec[CG_NAME_MAX + 9];
  bool named = len > 8 && (!strncmp(name, "profile ", 8) || !strncmp(name, "backend ", 8));
  if (named && len - 8 > CG_NAME_MAX) {
    fail(c, "[%.*s]: a name is at most %d characters", (int)len, name, CG_NAME_MAX);
    return;
  }
  if (len >= sizeof sec) {
    fail(c, "[%.*s]: unknown section", (int)len, name);
    return;
  }
  memcpy(sec, name, len);
  sec[len] = 0;
  if (!named && strcmp(sec, "server") && strcmp(sec, "store") && strcmp(sec, "ra") &&
      strcmp(sec, "secrets")) {
    fail(c, "[%s]: unknown section (server, store, ra, secrets, profile NAME, backend NAME)",
         sec);
    return;
  }
  for (size_t i = 0; i < cfg->n_sections; i++)
    if (!strcmp(cfg->sections[i].name, sec)) {
      fail(c, "[%s]: the section appears twice, at lines %d and %d: write it once", sec,
           cfg->sections[i].line, c->line);
      return;
    }
  if (cfg->n_sections == CG_MAX_SECTIONS) {
    fail(c, "[%s]: too many sections (at most %d)", sec, CG_MAX_SECTIONS);
    return;
  }
  c->section = (int)cfg->n_sections;
  cfg->sections[cfg->n_sections].line = c->line;
  strcpy(cfg->sections[cfg->n_sections++].name, sec);
}

/* Notes where key is set; a key set twice in a section is refused, rather
 * than the later value silently winning. */
static int note_key(struct ctx *c, const char *k) {
  struct cg_config *cfg = c->cfg;
  if (strlen(k) > CG_NAME_MAX)
    return bad(c, "unknown key (a key is at most %d characters)", CG_NAME_MAX);
  for (size_t i = 0; i < cfg->n_settings; i++)
    if (cfg->settings[i].section == c->section && !strcmp(cfg->settings[i].key, k))
      return bad(c, "set twice, at lines %d and %d: keep one", cfg->settings[i].line, c->line);
  if (cfg->n_settings == CG_MAX_SETTINGS)
    return bad(c, "too many keys in the file (at most %d)", CG_MAX_SETTINGS);
  struct cg_config_origin *o = &cfg->settings[cfg->n_settings++];
  o->line = c->line;
  o->section = (uint8_t)c->section;
  strcpy(o->key, k);
  return 1;
}

/* libinih's handler: one "key = value" line of the current section.  Errors
 * are ours to record, so it always lets libinih go on (to the end of the
 * file: the reader hands it nothing more after an error). */
static int on_entry(void *user, const char *section, const char *k, const char *v) {
  (void)section; /* libinih's copy of the name is cut at 49 characters; ours is whole */
  struct ctx *c = user;
  if (c->error_line != 0)
    return 1;
  c->key = k;
  if (c->section < 0) {
    fail(c, "\"%s\" comes before any [section]", k);
    return 1;
  }
  if (k[0] == 0) {
    fail(c, "[%s]: no key before the '='", section_name(c));
    return 1;
  }
  if (!note_key(c, k))
    return 1;
  const char *sec = section_name(c);
  int ok = !strcmp(sec, "server")              ? server_key(c, k, v)
           : !strcmp(sec, "store")             ? store_key(c, k, v)
           : !strcmp(sec, "ra")                ? ra_key(c, k, v)
           : !strcmp(sec, "secrets")           ? secrets_key(c, k, v)
           : !strncmp(sec, "profile ", 8)      ? profile_key(c, k, v)
                                               : backend_key(c, k, v);
  if (!ok && c->error_line == 0)
    bad(c, "\"%s\" is not a valid value", v);
  return 1;
}

/* libinih's reader: the next line of the file.  Besides counting lines (the
 * handler is not told them), it refuses what libinih would take silently or
 * refuse without saying why: a line too long for its buffer (libinih would
 * cut it and take the rest for a line of its own), a NUL, a line that is
 * neither a comment, a section nor "key = value".  Leading blanks are
 * removed: libinih would take an indented line for the continuation of the
 * value above.  After an error it hands over empty lines. */
static char *next_line(char *str, int num, void *stream) {
  struct ctx *c = stream;
  if (c->pos >= c->len)
    return NULL;
  const char *p = c->text + c->pos, *nl = memchr(p, '\n', c->len - c->pos);
  size_t n = nl != NULL ? (size_t)(nl - p) : c->len - c->pos;
  c->pos += n + (nl != NULL);
  c->line++;
  if (n > 0 && p[n - 1] == '\r')
    n--;
  if (c->line == 1 && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) /* a UTF-8 BOM */
    p += 3, n -= 3;
  while (n > 0 && (*p == ' ' || *p == '\t'))
    p++, n--;
  str[0] = 0;
  if (c->error_line != 0)
    return str;
  if (memchr(p, 0, n) != NULL)
    fail(c, "the line holds a NUL octet");
  else if (num < 1 || n > (size_t)num - 1)
    fail(c, "the line is longer than %d characters", num - 1);
  else if (n > 0 && *p == '[')
    section_header(c, p, n);
  else if (n > 0 && *p != ';' && *p != '#' && memchr(p, '=', n) == NULL &&
           memchr(p, ':', n) == NULL)
    fail(c, "expected \"key = value\", \"[section]\" or a comment");
  if (c->error_line == 0) {
    memcpy(str, p, n);
    str[n] = 0;
  }
  return str;
}

/* ---- checks across sections ----------------------------------------------- */

/* The line of key in section, or 0 when it is not set there. */
static int key_line(const struct cg_config *cfg, const char *section, const char *key) {
  for (size_t s = 0; s < cfg->n_sections; s++)
    if (!strcmp(cfg->sections[s].name, section))
      for (size_t i = 0; key != NULL && i < cfg->n_settings; i++)
        if (cfg->settings[i].section == s && !strcmp(cfg->settings[i].key, key))
          return cfg->settings[i].line;
  return 0;
}

static bool is_set(const struct cg_config *cfg, const char *section, const char *key) {
  return key_line(cfg, section, key) != 0;
}

/* ":LINE" of key, or of its section when the key is not set; "" for neither. */
static const char *at_line(const struct cg_config *cfg, const char *section, const char *key,
                           char *out, size_t cap) {
  int line = key_line(cfg, section, key);
  for (size_t s = 0; s < cfg->n_sections && line == 0; s++)
    if (!strcmp(cfg->sections[s].name, section))
      line = cfg->sections[s].line;
  if (line > 0)
    snprintf(out, cap, ":%d", line);
  else
    out[0] = 0;
  return out;
}

int cg_config_error(const struct cg_config *cfg, const char *section, const char *key,
                    const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int err = cg_config_verror(cfg, section, key, fmt, ap);
  va_end(ap);
  return err;
}

int cg_config_verror(const struct cg_config *cfg, const char *section, const char *key,
                     const char *fmt, va_list ap) {
  /* The log escapes what the file may hold (control octets). */
  char why[512], at[16];
  vsnprintf(why, sizeof why, fmt, ap);
  cg_error("config %s%s: [%s]%s%s: %s", cfg->path, at_line(cfg, section, key, at, sizeof at),
           section, key ? " " : "", key ? key : "", why);
  return CG_ECONFIG;
}

static int check(const struct cg_config *cfg) {
  char sec[CG_NAME_MAX + 9];
  for (size_t i = 0; i < cfg->n_profiles; i++) {
    const struct cg_config_profile *p = &cfg->profiles[i];
    snprintf(sec, sizeof sec, "profile %s", p->name);
    if (cg_config_backend(cfg, p->backend) == NULL)
      return cg_config_error(cfg, sec, "backend", "there is no [backend %s] section%s",
                             p->backend, is_set(cfg, sec, "backend") ? "" : " (the default)");
    if (p->challenge == 1 && p->challenge_value[0] == 0)
      return cg_config_error(cfg, sec, "challenge", "fixed, but no challenge_value is set");
    /* A certificate issued on approval waits up to check_after for the
     * device's next poll; it must not expire before that poll. */
    if (p->manual_approval && p->confirm_wait <= p->check_after)
      return cg_config_error(cfg, sec, "confirm_wait",
                             "%u s must be longer than check_after (%u s), or approved "
                             "certificates expire before the device polls for them",
                             p->confirm_wait, p->check_after);
  }
  for (size_t i = 0; i < cfg->n_backends; i++)
    if (cfg->backends[i].type[0] == 0) {
      snprintf(sec, sizeof sec, "backend %s", cfg->backends[i].name);
      return cg_config_error(cfg, sec, NULL, "no type (local, cmp)");
    }
  return 0;
}

/* path, and its directory for relative paths.  False when too long. */
static bool set_path(struct cg_config *cfg, const char *path) {
  if (strlen(path) >= sizeof cfg->path)
    return false;
  strcpy(cfg->path, path);
  const char *slash = strrchr(path, '/');
  if (slash != NULL) {
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    memcpy(cfg->dir, path, n);
    cfg->dir[n] = 0;
  }
  return true;
}

int cg_config_parse(const char *name, const char *text, size_t len, struct cg_config *cfg) {
  cg_config_defaults(cfg);
  if (!set_path(cfg, name)) {
    cg_error("config %.64s...: the path is longer than %d characters", name, CG_PATH_MAX - 1);
    return CG_ECONFIG;
  }
  struct ctx c = {.cfg = cfg, .text = text, .len = len, .section = -1};
  int line = ini_parse_stream(next_line, &c, on_entry, &c);
  if (line != 0 && c.error_line == 0) {
    /* What libinih refused and the reader let through (a ';' comment
     * before the '=', say). */
    c.error_line = line > 0 ? line : c.line;
    snprintf(c.error, sizeof c.error, line > 0 ? "expected \"key = value\", \"[section]\" or a "
                                                 "comment" : "out of memory");
  }
  if (c.error_line != 0) {
    cg_error("config %s:%d: %s", cfg->path, c.error_line, c.error);
    return CG_ECONFIG;
  }
  return check(cfg);
}

int cg_config_load(const char *path, struct cg_config *cfg) {
  uint8_t *text;
  size_t len;
  int err = cg_read_file(path, &text, &len);
  if (err) {
    cg_config_defaults(cfg);
    cg_error("config %s: cannot read it: %s", path, cg_file_strerror(err));
    return CG_ECONFIG;
  }
  err = cg_config_parse(path, (const char *)text, len, cfg);
  free(text);
  return err;
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
