/*
 * config.h - the cmpgw configuration file (INI, read with libinih).
 * Sections and keys are documented in docs/configuration.md; unknown sections
 * or keys, a key set twice and a section written twice are errors, so a typo
 * never silently falls back to a default or overrides an earlier value.
 * Every error names the file, the line, the section and key, and what is
 * wrong.  Relative paths are relative to the directory of the file.
 */
#ifndef CG_CORE_CONFIG_H
#define CG_CORE_CONFIG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CG_MAX_PROFILES 32
#define CG_MAX_BACKENDS 16
#define CG_MAX_BACKEND_KEYS 32
#define CG_NAME_MAX 64
#define CG_PATH_MAX 1024
#define CG_MAX_SECTIONS 64   /* headers in a file: 4 fixed, the profiles, the backends */
#define CG_MAX_SETTINGS 2048 /* key = value lines in a file, all sections together */

struct cg_config_profile {
  char name[CG_NAME_MAX + 1];
  char backend[CG_NAME_MAX + 1];
  unsigned validity_days;
  bool eku_client_auth, eku_server_auth, copy_san;
  bool allow_mac, allow_sig;   /* protection = mac, signature */
  bool sha1_signatures;        /* accept SHA-1 signature protection */
  bool implicit_confirm;       /* grant implicitConfirm when asked */
  bool ra_verified;            /* accept the raVerified POP */
  bool on_behalf;              /* kur of a certificate by the credential that enrolled it */
  char trust_anchors[CG_PATH_MAX]; /* PEM bundle; empty: the backend's CA chain */
  char aliases[512];           /* extra request paths, comma separated */
  char nested_trust_anchors[CG_PATH_MAX]; /* PEM: RAs allowed to send nested messages */
  char ra_anchors[CG_PATH_MAX]; /* PEM: RAs and operators that revoke and update for others */
  bool nested_vouch;           /* a nested RA's signature stands in for an inner's */
  /* RFC 9483 §4.3.2: a root CA key update the operator announces (PEM
   * files): the new root, and its link certificates; "": none. */
  char root_new_with_new[CG_PATH_MAX], root_new_with_old[CG_PATH_MAX],
      root_old_with_new[CG_PATH_MAX];
  int challenge;               /* 0 none, 1 fixed, 2 random (enum cmp_challenge) */
  bool manual_approval;        /* approval = manual */
  bool manual_revocation;      /* revocation_approval = manual */
  unsigned check_after;        /* seconds a waiting device is told to wait */
  unsigned pending_lifetime;   /* seconds a waiting request lives */
  unsigned confirm_wait;       /* seconds an issued certificate waits for certConf */
  unsigned max_pending;        /* waiting requests of the profile; 0 = no cap */
  unsigned max_pending_per_ref; /* waiting requests per reference / signer; 0 = no cap */
  char challenge_value[128];   /* challenge = fixed */
  unsigned san_types;          /* CG_SAN_* allowed in requests */
  char subject_pattern[256];   /* fnmatch glob over the RFC 4514 subject; "": any */
  char san_patterns[512];      /* globs over "type:value" subjectAltNames; "": any */
  bool kur_new_identity;       /* a kur may change subject and subjectAltNames */
  bool kur_same_key;           /* a kur may keep the old key */
  bool key_reuse;              /* a key certified in force may be certified again */
  unsigned key_types;          /* CG_KEYT_* certified */
  unsigned rsa_min_bits;       /* the smallest RSA modulus certified */
  /* RFC 9483 §4.1.6 central key generation: 0 off, else the key made when
   * the request names none (enum cg_kga_key); how a MAC-protected device's
   * key is wrapped (0 id-alg-PWRI-KEK, 1 AES key wrap) and the PBKDF2
   * iteration count. */
  int central_keygen;
  int kga_password_wrap;
  unsigned kga_iterations;
  /* keyUsage of issued certificates: CG_KU_AUTO alone (by key type), or
   * the CG_KU_* bits named. */
  unsigned key_usage;
  unsigned tls_binding; /* CG_TLS_BIND_* */
};

/* tls_binding bits, in the order of the names in config.c. */
enum { CG_TLS_BIND_SIGNER = 1, CG_TLS_BIND_MAC = 2 };

/* central_keygen values, in the order of the names in config.c. */
enum cg_kga_key {
  CG_KGA_OFF,
  CG_KGA_P256,
  CG_KGA_P384,
  CG_KGA_P521,
  CG_KGA_RSA2048,
  CG_KGA_RSA3072,
  CG_KGA_RSA4096,
  CG_KGA_ED25519
};
/* key_usage bits, in the order of the names in config.c. */
enum {
  CG_KU_AUTO = 1,
  CG_KU_DIGITAL_SIGNATURE = 2,
  CG_KU_NON_REPUDIATION = 4,
  CG_KU_KEY_ENCIPHERMENT = 8,
  CG_KU_KEY_AGREEMENT = 16
};

/* san_types bits, as the engine's CMP_SAN_* (cmp/server.h). */
enum { CG_SAN_DNS = 1, CG_SAN_IP = 2, CG_SAN_URI = 4, CG_SAN_EMAIL = 8, CG_SAN_DIRNAME = 16 };
/* key_types bits, as the engine's CMP_KEYT_* (cmp/server.h). */
enum {
  CG_KEYT_RSA = 1,
  CG_KEYT_P256 = 2,
  CG_KEYT_P384 = 4,
  CG_KEYT_P521 = 8,
  CG_KEYT_ED25519 = 16,
  CG_KEYT_ED448 = 32
};

struct cg_config_backend {
  char name[CG_NAME_MAX + 1];
  char type[CG_NAME_MAX + 1];
  size_t n;
  char keys[CG_MAX_BACKEND_KEYS][CG_NAME_MAX + 1];
  char values[CG_MAX_BACKEND_KEYS][CG_PATH_MAX];
};

/* Where a key is set in the file: for refusing a key set twice, and for the
 * messages of checks made after loading (cg_config_error()). */
struct cg_config_origin {
  int line;
  uint8_t section;          /* index into cg_config.sections */
  char key[CG_NAME_MAX + 1];
};

/* A section header as written ("profile fleet") and its line. */
struct cg_config_section {
  int line;
  char name[CG_NAME_MAX + 9];
};

/* compute = auto | threadpool | inline: the CPU-bound steps (MAC key
 * derivation, signatures) on libuv's threadpool, or inline on the loop
 * thread; auto: inline when the daemon may run on one CPU only. */
enum cg_compute_mode { CG_COMPUTE_AUTO, CG_COMPUTE_THREADPOOL, CG_COMPUTE_INLINE };

struct cg_config {
  char path[CG_PATH_MAX]; /* the file, as named: for messages */
  char dir[CG_PATH_MAX]; /* directory of the file: base of relative paths */
  /* [server] */
  char http[128];  /* HOST:PORT, empty = no HTTP listener */
  char tcp[128];   /* HOST:PORT of the raw TCP listener, empty = none */
  char coap[128];  /* HOST:PORT of the CoAP (UDP) listener, empty = none */
  unsigned coap_rate; /* new CoAP requests a second per address; 0: no limit */
  bool coap_echo;     /* a peer proves its address with an Echo (RFC 9175) before it is answered */
  char https[128]; /* HOST:PORT of the HTTPS listener, empty = none */
  char tls_cert[CG_PATH_MAX], tls_key[CG_PATH_MAX]; /* its PEM certificate chain and key */
  char tls_pkcs12[CG_PATH_MAX], tls_password_file[CG_PATH_MAX]; /* or both in a PKCS#12 */
  char tls_ciphers[512]; /* wolfSSL cipher list; empty: transports/tls.h's default */
  int tls_client_auth;   /* 0 none, 1 optional, 2 required (enum cg_tls_client_auth) */
  char tls_client_anchors[CG_PATH_MAX]; /* PEM: what client certificates chain to */
  char tcp_profile[CG_NAME_MAX + 1]; /* the profile TCP requests are served by */
  bool tcp_cmp_polling; /* tcp_polling = cmp: waiting answers stay CMP messages */
  char admin[128]; /* HOST:PORT of the admin listener; empty: none */
  char console[128];     /* [console] listen: HOST:PORT of the web console; empty: none */
  bool console_tls;        /* [console] tls = on: HTTPS on loopback too */
  unsigned console_idle_s; /* a console session's life without a request */
  unsigned console_max_s;  /* a console session's longest life */
  unsigned readiness_cert_days; /* /readyz: certificates valid at least this long */
  size_t max_message;
  size_t max_header;
  unsigned max_connections;
  unsigned header_timeout_ms, body_timeout_ms, idle_timeout_ms;
  uint32_t pbm_max_iterations;
  unsigned max_connections_per_address; /* 0: no limit */
  size_t max_buffered;                  /* octets of request input held; 0: no limit */
  unsigned drain_timeout_ms;            /* stop: connections closed after it; 0: none */
  unsigned failed_check_burst;          /* failed checks an address may make in a row; 0: off */
  unsigned failed_check_interval_ms;    /* one more failed check allowed per interval */
  unsigned max_clock_skew; /* seconds; 0: messageTime unchecked */
  enum cg_compute_mode compute; /* where CPU-bound steps run */
  bool allow_readable_keys; /* key files group or others can access: a warning, not a refusal */
  /* [store] */
  char database[CG_PATH_MAX];
  char store_url[CG_PATH_MAX];           /* PostgreSQL (libpq URI or words); "": SQLite */
  char store_password_file[CG_PATH_MAX]; /* its password's file; "": libpq's own */
  unsigned commit_interval_us; /* group commit pacing window; 0: off */
  /* [ra] */
  char ra_pkcs12[CG_PATH_MAX];
  char ra_password_file[CG_PATH_MAX];
  char ra_cert[CG_PATH_MAX]; /* or a PEM chain, RA certificate first, */
  char ra_key[CG_PATH_MAX];  /* and its key: a PEM file or a pkcs11: URI */
  /* [log] */
  int log_format; /* enum cg_log_format */
  int log_level;  /* enum cg_log_level */
  /* [pkcs11]: what pkcs11: URIs that name none use (core/token.h) */
  char pkcs11_module[CG_PATH_MAX];
  char pkcs11_pin_file[CG_PATH_MAX];
  char pkcs11_pin_env[CG_NAME_MAX + 1];
  /* [secrets] */
  char master_key[CG_PATH_MAX];
  unsigned max_failed_macs; /* failed MACs in a row that lock a reference; 0: never */
  unsigned lockout_seconds;
  /* [profile NAME] */
  size_t n_profiles;
  struct cg_config_profile profiles[CG_MAX_PROFILES];
  /* [backend NAME] */
  size_t n_backends;
  struct cg_config_backend backends[CG_MAX_BACKENDS];
  /* where the sections and keys are in the file */
  size_t n_sections, n_settings;
  struct cg_config_section sections[CG_MAX_SECTIONS];
  struct cg_config_origin settings[CG_MAX_SETTINGS];
};

/* A key of [server], [store], [ra], [secrets] or [profile NAME] ("profile"),
 * as the one table of keys in config.c holds it. */
struct cg_config_key {
  const char *section;
  const char *name;
  const char *def;     /* the default as a file writes it; NULL: none */
  const char *help;    /* one line for `cmpgw init`'s file; NULL: init leaves it out */
  const char *example; /* what init writes, if not def; "#..." commented out */
};
/* The i-th key of the table, NULL past the last. */
const struct cg_config_key *cg_config_key_at(size_t i);
/* Calls each(arg, key, value) for every key of section ("server", "store",
 * "console", "log", "secrets", or "profile" with profile set) with the value
 * in force in cfg (or profile) as the file would write it; secrets are
 * never given: a fixed challenge's value, a database URL (which may hold
 * credentials) show as "(set)". */
void cg_config_describe(const struct cg_config *cfg, const struct cg_config_profile *profile,
                        const char *section,
                        void (*each)(void *arg, const char *key, const char *value), void *arg);
/* The section's part of `cmpgw init`'s file: "[section]", then for each key
 * with help "# help." and "key = value" (the key's example or default, or
 * values[name], given as NULL-terminated name, value pairs; a value
 * starting with '#' is written commented out).  section is "server",
 * "store", "ra", "secrets" or "profile NAME".  0 or CG_ESPACE. */
int cg_config_write_template(const char *section, const char *const *values, char *out,
                             size_t cap);

/* Fills cfg with the defaults, then reads path over them.  0, or CG_ECONFIG
 * after logging what is wrong, as "config FILE:LINE: [SECTION] KEY: why"
 * (a file that cannot be read: "config FILE: cannot read it: " and the
 * system's reason). */
int cg_config_load(const char *path, struct cg_config *cfg);
/* cg_config_load() of the len octets at text (any octets; a NUL is an
 * error): name stands for the file in messages, and its directory is the
 * base of relative paths. */
int cg_config_parse(const char *name, const char *text, size_t len, struct cg_config *cfg);
/* Logs a check made after loading that found key of section ("server",
 * "profile fleet"; key NULL: the section itself) wrong, as
 * "config FILE:LINE: [SECTION] KEY: message": LINE is the key's, or the
 * section header's when the key is not in the file (its default applies),
 * and left out when neither is.  Returns CG_ECONFIG. */
int cg_config_error(const struct cg_config *cfg, const char *section, const char *key,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int cg_config_verror(const struct cg_config *cfg, const char *section, const char *key,
                     const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
/* The defaults alone (dir "."). */
void cg_config_defaults(struct cg_config *cfg);
/* path made absolute against cfg->dir when relative.  0 or CG_ESPACE. */
int cg_config_resolve(const struct cg_config *cfg, const char *path, char *out, size_t cap);
/* The store the configuration names, as cg_store_open() takes it: [store]
 * url when set (PostgreSQL), else the SQLite database resolved as above.
 * 0 or CG_ESPACE. */
int cg_config_store_locator(const struct cg_config *cfg, char *out, size_t cap);
/* The profile or backend named name, or NULL. */
const struct cg_config_profile *cg_config_profile(const struct cg_config *cfg, const char *name);
const struct cg_config_backend *cg_config_backend(const struct cg_config *cfg, const char *name);
/* What pkcs11: URIs of cfg that name no module or PIN use ([pkcs11]), and
 * how key files are read (allow_readable_keys); d borrows cfg's strings. */
struct cg_token_defaults;
void cg_config_token_defaults(const struct cg_config *cfg, struct cg_token_defaults *d);

/* The value of key in a backend section, or NULL. */
const char *cg_config_backend_get(const void *backend, const char *key);
/* The i-th key of a backend section (type left out), NULL past the last. */
const char *cg_config_backend_key(const void *backend, size_t i);
/* Splits "host:port" or "[v6]:port".  0 or CG_ECONFIG. */
int cg_parse_hostport(const char *s, char *host, size_t cap, int *port);

#endif
