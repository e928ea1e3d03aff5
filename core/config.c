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
#include "core/token.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
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

/* cg_config_defaults() and profile() are below the table of keys. */

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

/* ---- the keys ---------------------------------------------------------------
 * One table: what each key of [server], [store], [ra], [secrets] and
 * [profile NAME] is, its bounds, its default and one line of help.  The
 * parser, the defaults, `cmpgw init`'s file (cg_config_write_template())
 * and the check of docs/configuration.md (tests/unit/core/test_config.c)
 * all come from it.  A backend's keys are its own (ca_backends/). */

enum kind {
  K_TEXT,         /* a string shorter than the field */
  K_HOSTPORT,     /* HOST:PORT */
  K_HOSTPORT_OPT, /* HOST:PORT, or empty: no listener */
  K_UINT,         /* a decimal number in [min, max], into an unsigned field of its size */
  K_BOOL,         /* true/yes/1, false/no/0 */
  K_CHOICE,       /* one of choices: its index, into a bool (0, 1) or an int */
  K_SET,          /* names of choices, comma separated, into bits (1 << index); "none": 0
                   * where none_ok */
  K_PROTECTION,   /* "mac, signature", either or both */
};

struct key {
  struct cg_config_key pub; /* section, name, default, help, example */
  enum kind kind;
  size_t offset, size;
  unsigned long long min, max;
  const char *const *choices; /* K_CHOICE, NULL-terminated */
  bool nonempty, slash;       /* K_TEXT: not empty; starts with '/'; K_SET: none_ok is nonempty */
};

static const char *const none_manual[] = {"none", "manual", NULL};
/* Bit i of the field is choice i: the order of CG_SAN_* and CG_KEYT_*. */
static const char *const san_type_names[] = {"dns", "ip", "uri", "email", "dirname", NULL};
static const char *const key_type_names[] = {"rsa",     "p256",  "p384", "p521",
                                             "ed25519", "ed448", NULL};
static const char *const polling[] = {"tcp", "cmp", NULL};
static const char *const console_tls[] = {"auto", "on", NULL};
/* in the order of enum cg_kga_key and of the CG_KU_* bits */
static const char *const kga_keys[] = {"off",     "p256",    "p384",    "p521",
                                       "rsa2048", "rsa3072", "rsa4096", "ed25519", NULL};
static const char *const kga_wraps[] = {"pwri-kek", "aes-wrap", NULL};
/* in the order of enum cg_tls_client_auth (transports/tls.h) */
static const char *const tls_client_auths[] = {"none", "optional", "required", NULL};
/* bit i of the profile's tls_binding: CG_TLS_BIND_* */
static const char *const tls_bindings[] = {"signer", "mac", NULL};
static const char *const key_usages[] = {"auto",           "digitalSignature", "nonRepudiation",
                                         "keyEncipherment", "keyAgreement",     NULL};
/* in the order of enum cg_compute_mode */
static const char *const compute_modes[] = {"auto", "threadpool", "inline", NULL};
/* in the order of the profile's challenge (0 none, 1 fixed, 2 random) */
static const char *const challenges[] = {"none", "fixed", "random", NULL};
/* in the order of enum cg_log_format and enum cg_log_level */
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

#define S(f) offsetof(struct cg_config, f), sizeof(((struct cg_config *)0)->f)
#define P(f) offsetof(struct cg_config_profile, f), sizeof(((struct cg_config_profile *)0)->f)
/* {section, key, default, help, example (what init writes; NULL: the
 * default; "#...": written commented out)}, kind, field, then what the kind
 * needs; what an entry leaves out is 0. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct key keys[] = {
    {{"server", "http", "127.0.0.1:8080",
      "CMP over HTTP (RFC 9811): POST to /.well-known/cmp or /.well-known/cmp/p/<profile>", NULL},
     K_HOSTPORT, S(http)},
    {{"server", "https", NULL,
      "CMP over HTTPS: TLS 1.2 and 1.3 with tls_cert and tls_key, then as http",
      "#127.0.0.1:8443"},
     K_HOSTPORT_OPT, S(https)},
    {{"server", "tls_cert", NULL, "PEM: the HTTPS server certificate, then its chain",
      "#tls-cert.pem"},
     K_TEXT, S(tls_cert)},
    {{"server", "tls_key", NULL, "PEM: its private key (mode 0600)", "#tls-key.pem"}, K_TEXT,
     S(tls_key)},
    {{"server", "tls_pkcs12", NULL, NULL, NULL}, K_TEXT, S(tls_pkcs12)},
    {{"server", "tls_password_file", NULL, NULL, NULL}, K_TEXT, S(tls_password_file)},
    {{"server", "tls_ciphers", NULL, NULL, NULL}, K_TEXT, S(tls_ciphers)},
    {{"server", "tls_client_auth", "none", NULL, NULL}, K_CHOICE, S(tls_client_auth), 0, 0,
     tls_client_auths},
    {{"server", "tls_client_anchors", NULL, NULL, NULL}, K_TEXT, S(tls_client_anchors)},
    {{"server", "tcp", NULL,
      "CMP over raw TCP for legacy clients (RFC 2510, \"version 10\"), served by tcp_profile",
      "#127.0.0.1:1829"},
     K_HOSTPORT_OPT, S(tcp)},
    {{"server", "tcp_profile", "default", "The profile raw TCP requests are served by", NULL},
     K_TEXT, S(tcp_profile)},
    {{"server", "tcp_polling", "tcp",
      "A waiting raw TCP client polls with TCP pollReq (tcp) or CMP pollReq (cmp)", NULL},
     K_CHOICE, S(tcp_cmp_polling), 0, 0, polling},
    {{"server", "coap", NULL,
      "CMP over CoAP for constrained devices (RFC 9482), UDP; routed like http",
      "#127.0.0.1:5683"},
     K_HOSTPORT_OPT, S(coap)},
    {{"server", "coap_rate", "50",
      "New CoAP requests a second from one address, after a burst of 4 s' worth; 0: no limit",
      NULL},
     K_UINT, S(coap_rate), 0, 1000000},
    {{"server", "coap_echo", "yes",
      "A CoAP peer proves its address with an Echo (RFC 9175) before its first answer", NULL},
     K_BOOL, S(coap_echo)},
    {{"server", "admin", NULL,
      "The admin listener: GET /healthz, /readyz, /metrics (Prometheus); keep it on loopback",
      "127.0.0.1:9810"},
     K_HOSTPORT_OPT, S(admin)},
    {{"server", "readiness_cert_days", "14",
      "/readyz says not ready when the RA, a CA or the TLS certificate expires within this "
      "many days; 0: not checked",
      NULL},
     K_UINT, S(readiness_cert_days), 0, 3650},
    {{"server", "max_message", "262144", "Largest CMP message accepted (octets)", NULL}, K_UINT,
     S(max_message), 1024, 64u << 20},
    {{"server", "max_header", "8192", "Largest HTTP request line and header block (octets)", NULL},
     K_UINT, S(max_header), 512, 1u << 20},
    {{"server", "max_connections", "10000",
      "Open connections, HTTP and TCP together (lowered to what the open-file limit allows)",
      NULL},
     K_UINT, S(max_connections), 1, 1000000},
    {{"server", "max_connections_per_address", "1024",
      "Open connections from one client address (IPv4, IPv6 /64); 0: no limit", NULL},
     K_UINT, S(max_connections_per_address), 0, 1000000},
    {{"server", "max_buffered", "67108864",
      "Octets of requests buffered at once, every connection together; 0: no limit", NULL},
     K_UINT, S(max_buffered), 0, 1ull << 40},
    {{"server", "header_timeout_ms", "10000",
      "Time for a request's headers (TCP: a new connection's first octet)", NULL},
     K_UINT, S(header_timeout_ms), 1, 3600000},
    {{"server", "body_timeout_ms", "30000", "Time for a request's body (TCP: a frame)", NULL},
     K_UINT, S(body_timeout_ms), 1, 3600000},
    {{"server", "idle_timeout_ms", "60000", "An idle keep-alive connection closes after this",
      NULL},
     K_UINT, S(idle_timeout_ms), 1, 3600000},
    {{"server", "drain_timeout_ms", "30000",
      "At stop, connections still open after this are closed; 0: wait", NULL},
     K_UINT, S(drain_timeout_ms), 0, 3600000},
    {{"server", "pbm_max_iterations", "10000",
      "Highest PasswordBasedMac / PBMAC1 iteration count accepted (OpenSSL sends 500)", NULL},
     K_UINT, S(pbm_max_iterations), 100, 10000000},
    {{"server", "failed_check_burst", "30",
      "Failed MAC or signature checks one address may make in a row; 0: no limit", NULL},
     K_UINT, S(failed_check_burst), 0, 1000000},
    {{"server", "failed_check_interval_ms", "1000",
      "After the burst, one more failed check per this many milliseconds", NULL},
     K_UINT, S(failed_check_interval_ms), 1, 3600000},
    {{"server", "max_clock_skew", "900",
      "Seconds a request's messageTime may differ from our clock; 0: not checked", NULL},
     K_UINT, S(max_clock_skew), 0, 86400 * 365},
    {{"server", "compute", "auto",
      "Where MAC derivations and signatures run: auto, threadpool or inline", NULL},
     K_CHOICE, S(compute), 0, 0, compute_modes},
    {{"server", "allow_readable_keys", "false",
      "Key files group or others can access: refused (false) or only a warning (true)", NULL},
     K_BOOL, S(allow_readable_keys)},
    {{"store", "database", "cmpgw.db", "The SQLite database (WAL; schema: docs/store.md)", NULL},
     K_TEXT, S(database)},
    {{"store", "url", NULL,
      "Or PostgreSQL: a libpq URI or key=value words (docs/store.md); no password in it",
      "#postgresql://cmpgw@db.example/cmpgw?sslmode=verify-full"},
     K_TEXT, S(store_url)},
    {{"store", "password_file", NULL, "The file whose first line is the PostgreSQL password",
      "#pg.pass"},
     K_TEXT, S(store_password_file)},
    {{"store", "commit_interval_us", "0",
      "Group commit pacing: microseconds a write may wait to share a commit; 0: off", NULL},
     K_UINT, S(commit_interval_us), 0, 100000},
    {{"console", "listen", NULL,
      "The web console for operators (docs/console.md); HTTPS unless on loopback",
      "#127.0.0.1:8443"},
     K_HOSTPORT_OPT, S(console)},
    {{"console", "tls", "auto",
      "HTTPS with [server] tls_cert and tls_key: auto (unless on loopback) or on (always)", NULL},
     K_CHOICE, S(console_tls), 0, 0, console_tls},
    {{"console", "session_idle", "900", "Seconds a console session lasts without a request",
      NULL},
     K_UINT, S(console_idle_s), 1, 86400},
    {{"console", "session_max", "28800", "Seconds a console session lasts at most (8 h)", NULL},
     K_UINT, S(console_max_s), 300, 604800},
    {{"ra", "pkcs12", NULL,
      "The RA protection key and certificate (signs answers that are not MAC-protected)",
      "ra.p12"},
     K_TEXT, S(ra_pkcs12)},
    {{"ra", "password_file", NULL, "The file holding the PKCS#12's password", "ra.pass"}, K_TEXT,
     S(ra_password_file)},
    {{"ra", "cert", NULL, "Or: the RA certificate, then its chain (PEM)", "#ra-chain.pem"},
     K_TEXT, S(ra_cert)},
    {{"ra", "key", NULL, "and its key: a PEM file or a pkcs11: URI (docs/pkcs11.md)",
      "#pkcs11:token=cmpgw;object=cmpgw-ra"},
     K_TEXT, S(ra_key)},
    {{"log", "format", "text",
      "Log records on stderr: text (a line each) or json (an object per line; docs/operations.md)",
      NULL},
     K_CHOICE, S(log_format), 0, 0, log_formats},
    {{"log", "level", "info", "The least severe records written: debug, info, warn or error",
      NULL},
     K_CHOICE, S(log_level), 0, 0, log_levels},
    {{"pkcs11", "module", NULL, "The PKCS#11 library of the token that pkcs11: URIs name",
      "#/usr/lib/softhsm/libsofthsm2.so"},
     K_TEXT, S(pkcs11_module)},
    {{"pkcs11", "pin_file", NULL, "The file whose first line is the token's user PIN (mode 0600)",
      "#token.pin"},
     K_TEXT, S(pkcs11_pin_file)},
    {{"pkcs11", "pin_env", NULL, "Or the environment variable that holds it", "#CMPGW_PKCS11_PIN"},
     K_TEXT, S(pkcs11_pin_env)},
    {{"secrets", "master_key", NULL,
      "The AES-256-GCM key (64 hex digits) that seals the shared secrets", "master.key"},
     K_TEXT, S(master_key)},
    {{"secrets", "max_failed_macs", "5", "Failed MACs in a row that lock a reference; 0: never",
      NULL},
     K_UINT, S(max_failed_macs), 0, 1000000},
    {{"secrets", "lockout_seconds", "900", "How long a locked reference is refused", NULL}, K_UINT,
     S(lockout_seconds), 1, 86400 * 365},
    {{"profile", "backend", "local", "The CA backend that issues for this profile", NULL}, K_TEXT,
     P(backend)},
    {{"profile", "validity_days", "365", "Days an issued certificate is valid", NULL}, K_UINT,
     P(validity_days), 1, 36500},
    {{"profile", "eku_client_auth", "true", "Issued certificates carry id-kp-clientAuth", NULL},
     K_BOOL, P(eku_client_auth)},
    {{"profile", "eku_server_auth", "false", "Issued certificates carry id-kp-serverAuth", NULL},
     K_BOOL, P(eku_server_auth)},
    {{"profile", "copy_san", "true", "The requested subjectAltNames go into the certificate",
      NULL},
     K_BOOL, P(copy_san)},
    {{"profile", "protection", "mac, signature",
      "Request protections accepted: mac (PBM, PBMAC1), signature", NULL},
     K_PROTECTION, P(allow_mac)},
    {{"profile", "sha1_signatures", "false",
      "Accept signature protection with SHA-1 (legacy devices; forgeable)", NULL},
     K_BOOL, P(sha1_signatures)},
    {{"profile", "trust_anchors", NULL,
      "What signed requests must chain to (default: this profile's CA)", "#anchors.pem"},
     K_TEXT, P(trust_anchors)},
    {{"profile", "implicit_confirm", "false", "Grant implicitConfirm when a client asks", NULL},
     K_BOOL, P(implicit_confirm)},
    {{"profile", "nested_trust_anchors", NULL, NULL, NULL}, K_TEXT, P(nested_trust_anchors)},
    {{"profile", "ra_anchors", NULL, NULL, NULL}, K_TEXT, P(ra_anchors)},
    {{"profile", "nested_vouch", "false", NULL, NULL}, K_BOOL, P(nested_vouch)},
    {{"profile", "root_new_with_new", NULL, NULL, NULL}, K_TEXT, P(root_new_with_new)},
    {{"profile", "root_new_with_old", NULL, NULL, NULL}, K_TEXT, P(root_new_with_old)},
    {{"profile", "root_old_with_new", NULL, NULL, NULL}, K_TEXT, P(root_old_with_new)},
    {{"profile", "aliases", NULL, NULL, NULL}, K_TEXT, P(aliases), 0, 0, NULL, false, true},
    {{"profile", "approval", "none", NULL, NULL}, K_CHOICE, P(manual_approval), 0, 0, none_manual},
    {{"profile", "revocation_approval", "none", NULL, NULL}, K_CHOICE, P(manual_revocation), 0, 0,
     none_manual},
    {{"profile", "check_after", "5", NULL, NULL}, K_UINT, P(check_after), 1, 86400},
    {{"profile", "max_pending", "10000", NULL, NULL}, K_UINT, P(max_pending), 0, 10000000},
    {{"profile", "max_pending_per_ref", "5", NULL, NULL}, K_UINT, P(max_pending_per_ref), 0,
     10000000},
    {{"profile", "pending_lifetime", "604800", NULL, NULL}, K_UINT, P(pending_lifetime), 1,
     365 * 86400},
    {{"profile", "confirm_wait", "600", NULL, NULL}, K_UINT, P(confirm_wait), 1, 365 * 86400},
    {{"profile", "challenge", "none", NULL, NULL}, K_CHOICE, P(challenge), 0, 0, challenges},
    {{"profile", "challenge_value", NULL, NULL, NULL}, K_TEXT, P(challenge_value), 0, 0, NULL,
     true},
    {{"profile", "ra_verified", "false", "Accept the raVerified proof of possession (RAs only)",
      NULL},
     K_BOOL, P(ra_verified)},
    {{"profile", "san_types", "dns, ip, uri, email", NULL, NULL}, K_SET, P(san_types), 0, 0,
     san_type_names, true},
    {{"profile", "key_types", "rsa, p256, p384, p521, ed25519, ed448",
      "Public keys certified: rsa (from rsa_min_bits), p256, p384, p521, ed25519, ed448", NULL},
     K_SET, P(key_types), 0, 0, key_type_names},
    {{"profile", "rsa_min_bits", "2048", "The smallest RSA modulus certified", NULL}, K_UINT,
     P(rsa_min_bits), 1024, 4096},
    {{"profile", "subject_pattern", NULL, NULL, NULL}, K_TEXT, P(subject_pattern)},
    {{"profile", "san_patterns", NULL, NULL, NULL}, K_TEXT, P(san_patterns)},
    {{"profile", "kur_new_identity", "false", NULL, NULL}, K_BOOL, P(kur_new_identity)},
    {{"profile", "kur_same_key", "false", "A kur may certify the key it already has", NULL},
     K_BOOL, P(kur_same_key)},
    {{"profile", "key_reuse", "true",
      "A key certified in a certificate in force may be certified again", NULL},
     K_BOOL, P(key_reuse)},
    {{"profile", "on_behalf", "false", NULL, NULL}, K_BOOL, P(on_behalf)},
    {{"profile", "central_keygen", "p256",
      "Central key generation: off, or the key made when a request names none: p256, p384, "
      "p521, rsa2048, rsa3072, rsa4096, ed25519",
      NULL},
     K_CHOICE, P(central_keygen), 0, 0, kga_keys},
    {{"profile", "kga_password_wrap", "pwri-kek", NULL, NULL}, K_CHOICE, P(kga_password_wrap), 0,
     0, kga_wraps},
    {{"profile", "kga_iterations", "10000", NULL, NULL}, K_UINT, P(kga_iterations), 1000,
     10000000},
    {{"profile", "tls_binding", "none", NULL, NULL}, K_SET, P(tls_binding), 0, 0, tls_bindings,
     true},
    {{"profile", "key_usage", "auto",
      "keyUsage of issued certificates: auto (by key type), or digitalSignature, "
      "nonRepudiation, keyEncipherment, keyAgreement",
      NULL},
     K_SET, P(key_usage), 0, 0, key_usages},
};
#pragma GCC diagnostic pop
#undef S
#undef P
#define N_KEYS (sizeof keys / sizeof keys[0])

const struct cg_config_key *cg_config_key_at(size_t i) {
  return i < N_KEYS ? &keys[i].pub : NULL;
}

/* A set of names (K_SET): "a, b" into bits 1 << index in choices; "none"
 * (where none_ok) into 0. */
static int set_of(struct ctx *c, const char *v, const char *const *choices, bool none_ok,
                  unsigned *out) {
  char all[128] = "";
  for (size_t i = 0; choices[i] != NULL; i++)
    snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? ", " : "", choices[i]);
  unsigned bits = 0;
  if (none_ok && !strcmp(v, "none")) {
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
    while (choices[i] != NULL && (strlen(choices[i]) != n || strncmp(choices[i], p, n) != 0))
      i++;
    if (choices[i] == NULL)
      return bad(c, "\"%.*s\" is not one of %s", (int)n, p, all);
    bits |= 1u << i;
    p += n;
  }
  if (bits == 0)
    return bad(c, "names none of %s%s", all, none_ok ? " (or: none)" : "");
  if (!strcmp(choices[0], "auto") && (bits & 1) && bits != 1)
    return bad(c, "auto stands alone: auto, or a list of %s", all + strlen("auto, "));
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

/* Stores x into an unsigned field of size octets. */
static void store_uint(void *field, size_t size, unsigned long long x) {
  if (size == sizeof(uint64_t)) {
    uint64_t v = x;
    memcpy(field, &v, size);
  } else if (size == sizeof(uint32_t)) {
    uint32_t v = (uint32_t)x;
    memcpy(field, &v, size);
  } else {
    uint8_t v = (uint8_t)x;
    memcpy(field, &v, 1);
  }
}

/* Reads v as the value of key k into its field of base (a struct cg_config,
 * or a struct cg_config_profile). */
static int set_value(struct ctx *c, const struct key *k, void *base, const char *v) {
  void *field = (char *)base + k->offset;
  unsigned long long x = 0;
  int i = 0;
  switch (k->kind) {
  case K_TEXT:
    if (k->nonempty && v[0] == 0)
      return bad(c, "is empty");
    if (k->slash && v[0] != '/')
      return bad(c, "\"%s\" does not start with '/'", v);
    return text(c, v, field, k->size);
  case K_HOSTPORT:
  case K_HOSTPORT_OPT:
    return hostport(c, v, field, k->size, k->kind == K_HOSTPORT_OPT);
  case K_UINT:
    if (!number(c, v, k->min, k->max, &x))
      return 0;
    store_uint(field, k->size, x);
    return 1;
  case K_BOOL:
    return boolean(c, v, field);
  case K_CHOICE: {
    int n = 0;
    while (k->choices[n] != NULL)
      n++;
    if (!choice(c, v, k->choices, n, &i))
      return 0;
    if (k->size == sizeof(bool))
      *(bool *)field = i != 0;
    else
      *(int *)field = i;
    return 1;
  }
  case K_SET:
    return set_of(c, v, k->choices, k->nonempty, field);
  case K_PROTECTION:
    return protection(c, base, v);
  }
  return 0;
}

static const struct key *find_key(const char *section, const char *name) {
  for (size_t i = 0; i < N_KEYS; i++)
    if (!strcmp(keys[i].pub.section, section) && !strcmp(keys[i].pub.name, name))
      return &keys[i];
  return NULL;
}

/* The defaults of section's keys into base.  The table's defaults are read
 * by the same parser as a file (a default that does not parse is a bug,
 * caught by the tests). */
static void apply_defaults(const char *section, void *base) {
  struct ctx quiet = {0};
  quiet.section = -1;
  for (size_t i = 0; i < N_KEYS; i++)
    if (!strcmp(keys[i].pub.section, section) && keys[i].pub.def != NULL)
      (void)set_value(&quiet, &keys[i], base, keys[i].pub.def);
}

void cg_config_defaults(struct cg_config *cfg) {
  int saved = errno; /* a caller may report a failed read after this */
  memset(cfg, 0, sizeof *cfg);
  strcpy(cfg->dir, ".");
  apply_defaults("server", cfg);
  apply_defaults("store", cfg);
  apply_defaults("ra", cfg);
  apply_defaults("secrets", cfg);
  apply_defaults("log", cfg);
  errno = saved;
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
  apply_defaults("profile", p);
  return p;
}

/* One key of [server], [store], [ra], [secrets] or [profile NAME]. */
static int table_key(struct ctx *c, const char *k, const char *v) {
  const char *sec = section_name(c);
  bool is_profile = !strncmp(sec, "profile ", 8);
  void *base = c->cfg;
  if (is_profile && (base = profile(c->cfg, sec + 8)) == NULL)
    return bad(c, "too many profiles (at most %d)", CG_MAX_PROFILES);
  const struct key *key = find_key(is_profile ? "profile" : sec, k);
  return key != NULL ? set_value(c, key, base, v) : unknown_key(c);
}

/* The value of k in base as the file would write it. */
static void describe_value(const struct key *k, const void *base, char *out, size_t cap) {
  const char *field = (const char *)base + k->offset;
  unsigned long long v = 0;
  if (k->kind == K_UINT || k->kind == K_SET || k->kind == K_PROTECTION)
    v = k->size == 1 ? *(const uint8_t *)field : k->size == 2 ? *(const uint16_t *)field
        : k->size == 4 ? *(const uint32_t *)field : *(const uint64_t *)field;
  switch (k->kind) {
  case K_TEXT:
  case K_HOSTPORT:
  case K_HOSTPORT_OPT:
    snprintf(out, cap, "%s", field);
    break;
  case K_UINT:
    snprintf(out, cap, "%llu", v);
    break;
  case K_BOOL:
    snprintf(out, cap, "%s", *(const bool *)field ? "yes" : "no");
    break;
  case K_CHOICE: {
    int i = k->size == sizeof(bool) ? *(const bool *)field : *(const int *)field;
    snprintf(out, cap, "%s", i >= 0 ? k->choices[i] : "?");
    break;
  }
  case K_SET:
  case K_PROTECTION: {
    static const char *const prot[] = {"mac", "signature", NULL};
    const char *const *names = k->kind == K_PROTECTION ? prot : k->choices;
    size_t n = 0;
    out[0] = '\0';
    if (k->kind == K_PROTECTION)
      v = (unsigned long long)(((const struct cg_config_profile *)base)->allow_mac) |
          (unsigned long long)(((const struct cg_config_profile *)base)->allow_sig) << 1;
    for (size_t b = 0; names[b] != NULL && n < cap; b++)
      if (v & (1ull << b))
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "", names[b]);
    if (n == 0)
      snprintf(out, cap, "none");
    break;
  }
  }
}

void cg_config_describe(const struct cg_config *cfg, const struct cg_config_profile *profile,
                        const char *section,
                        void (*each)(void *arg, const char *key, const char *value), void *arg) {
  for (size_t i = 0; i < N_KEYS; i++) {
    const struct key *k = &keys[i];
    if (strcmp(k->pub.section, section) != 0)
      continue;
    const void *base = !strcmp(section, "profile") ? (const void *)profile : (const void *)cfg;
    if (base == NULL)
      return;
    char v[CG_PATH_MAX + 64];
    describe_value(k, base, v, sizeof v);
    if (v[0] != '\0' && (!strcmp(k->pub.name, "challenge_value") || !strcmp(k->pub.name, "url")))
      snprintf(v, sizeof v, "(set)");
    each(arg, k->pub.name, v);
  }
}

int cg_config_write_template(const char *section, const char *const *values, char *out,
                             size_t cap) {
  size_t n = 0;
  int w = snprintf(out, cap, "[%s]\n", section);
  if (w < 0 || (size_t)w >= cap)
    return CG_ESPACE;
  n = (size_t)w;
  const char *table = strncmp(section, "profile ", 8) == 0 ? "profile" : section;
  for (size_t i = 0; i < N_KEYS; i++) {
    const struct cg_config_key *k = &keys[i].pub;
    if (strcmp(k->section, table) != 0 || k->help == NULL)
      continue;
    const char *v = k->example != NULL ? k->example : k->def != NULL ? k->def : "";
    for (size_t j = 0; values != NULL && values[j] != NULL; j += 2)
      if (!strcmp(values[j], k->name))
        v = values[j + 1];
    bool commented = v[0] == '#';
    w = snprintf(out + n, cap - n, "# %s.\n%s%s = %s\n", k->help, commented ? "# " : "", k->name,
                 commented ? v + 1 : v);
    if (w < 0 || (size_t)w >= cap - n)
      return CG_ESPACE;
    n += (size_t)w;
  }
  return 0;
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
      strcmp(sec, "secrets") && strcmp(sec, "pkcs11") && strcmp(sec, "log") &&
      strcmp(sec, "console")) {
    fail(c,
         "[%s]: unknown section (server, store, console, ra, secrets, pkcs11, log, profile NAME, backend "
         "NAME)",
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
  int ok = strncmp(sec, "backend ", 8) != 0 ? table_key(c, k, v) : backend_key(c, k, v);
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
  /* A link (/etc/cmpgw/cmpgw.conf to the file cmpgw init wrote, say) is
   * read as the file it leads to: relative paths are the file's. */
  struct stat st;
  char real[PATH_MAX];
  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && realpath(path, real) != NULL)
    path = real;
  err = cg_config_parse(path, (const char *)text, len, cfg);
  free(text);
  return err;
}

int cg_config_resolve(const struct cg_config *cfg, const char *path, char *out, size_t cap) {
  int n = path[0] == '/' ? snprintf(out, cap, "%s", path)
                         : snprintf(out, cap, "%s/%s", cfg->dir, path);
  return n < 0 || (size_t)n >= cap ? CG_ESPACE : 0;
}

int cg_config_store_locator(const struct cg_config *cfg, char *out, size_t cap) {
  if (cfg->store_url[0] == '\0')
    return cg_config_resolve(cfg, cfg->database, out, cap);
  int n = snprintf(out, cap, "%s", cfg->store_url);
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

void cg_config_token_defaults(const struct cg_config *cfg, struct cg_token_defaults *d) {
  d->module = cfg->pkcs11_module;
  d->pin_file = cfg->pkcs11_pin_file;
  d->pin_env = cfg->pkcs11_pin_env;
  d->base = cfg->dir;
  d->mode = cfg->allow_readable_keys ? CG_KEY_WARN_OTHERS : CG_KEY_OWNER_ONLY;
}
