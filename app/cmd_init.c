/*
 * cmd_init.c - `cmpgw init DIR`: a working demo deployment in a new
 * directory: a root CA, the RA protection credentials (PKCS#12 + password
 * file) issued by it, a master key for secrets at rest, the configuration and
 * the database.  It refuses to touch an existing DIR; parents of DIR that do
 * not exist are made first, as `mkdir -p` makes them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/commands.h"
#include "app/setup.h"
#include "core/certbuild.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/file.h"
#include "core/token.h"
#include "core/oid.h"
#include "core/x509.h"
#include "store/store.h"

#define CA_YEARS 10
#define RA_YEARS 2

static const char *const created[] = {
    "cmpgw.conf", "ca-cert.pem",  "ca-key.pem",   "ra-cert.pem",  "ra.p12",       "ra.pass",
    "master.key", "cmpgw.db",     "cmpgw.db-wal", "cmpgw.db-shm", "tls-cert.pem", "tls-key.pem",
    "ra-chain.pem"};

/* `--pkcs11 URI`: the demo keys are made in this token, as token objects
 * labelled cmpgw-ca, cmpgw-ra and cmpgw-tls; none is ever in a file. */
struct init_token {
  char path[512];  /* the URI without its query: pkcs11:token=... */
  char query[1100]; /* "?module-path=...&pin-source=..." or "" */
  struct cg_pkcs11_uri u;
  struct cg_token_defaults d;
};

/* The URI of the key labelled object: with the query (for init to open the
 * token) or without (the configuration's, with [pkcs11]). */
static void token_uri(const struct init_token *t, const char *object, bool query, char *out,
                      size_t cap) {
  snprintf(out, cap, "%s;object=%s%s", t->path, object, query ? t->query : "");
}

/* A new EC P-256 key: in the token when there is one, else in memory. */
static int new_key(const struct init_token *t, const char *object, struct cg_key **key) {
  if (t == NULL)
    return cg_key_generate_ec(256, key);
  char uri[2048], why[512];
  token_uri(t, object, true, uri, sizeof uri);
  int err = cg_token_key_generate(uri, &t->d, 256, key, why, sizeof why);
  if (err != 0)
    fprintf(stderr, "cmpgw init: %s: %s\n", object, why);
  return err;
}

static void remove_all(const char *dir) {
  char path[CG_PATH_MAX];
  for (size_t i = 0; i < sizeof created / sizeof created[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, created[i]);
    unlink(path);
  }
  rmdir(dir);
}

/* The parents of DIR that init made, for undoing them when it fails: the
 * lengths of their paths (prefixes of DIR), outermost first. */
struct parents {
  size_t end[CG_PATH_MAX / 2];
  size_t n;
};

/* Removes the parents init made, innermost first (what is not empty stays). */
static void remove_parents(const char *dir, const struct parents *made) {
  char path[CG_PATH_MAX];
  for (size_t i = made->n; i-- > 0;) {
    memcpy(path, dir, made->end[i]);
    path[made->end[i]] = 0;
    rmdir(path);
  }
}

/* Makes the parents of dir that do not exist, as `mkdir -p` does: mode 0755
 * less the umask, as for any directory on the way (DIR itself, 0700, keeps
 * what is secret).  0, or -1 after saying why (and undoing). */
static int make_parents(const char *dir, struct parents *made) {
  char path[CG_PATH_MAX];
  size_t len = strlen(dir);
  made->n = 0;
  while (len > 1 && dir[len - 1] == '/')
    len--;
  for (size_t i = 1; i < len; i++) {
    if (dir[i] != '/' || dir[i - 1] == '/')
      continue;
    memcpy(path, dir, i);
    path[i] = 0;
    if (mkdir(path, 0755) == 0) {
      made->end[made->n++] = i;
      continue;
    }
    struct stat st;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
      continue;
    if (errno == EEXIST)
      errno = ENOTDIR;
    fprintf(stderr, "cmpgw init: cannot create %s: %s\n", path, strerror(errno));
    remove_parents(dir, made);
    return -1;
  }
  return 0;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len,
                      unsigned mode) {
  char path[CG_PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int err = app_write_new_file(path, data, len, mode);
  if (err)
    fprintf(stderr, "cmpgw init: cannot write %s: %s\n", path, cg_file_strerror(err));
  return err;
}

static int write_pem(const char *dir, const char *name, const char *label, const uint8_t *der,
                     size_t len, unsigned mode) {
  char pem[16384];
  size_t pem_len;
  int err = cg_pem_encode(label, der, len, pem, sizeof pem, &pem_len);
  if (err == 0)
    err = write_file(dir, name, pem, pem_len, mode);
  cg_wipe(pem, sizeof pem);
  return err;
}

/* cmpgw.conf: every key init writes comes from the table of keys
 * (core/config.c), with its help as a comment; the local backend's keys are
 * its own. */
static int write_config(const char *dir, const char *http, const char *tcp, const char *coap,
                        const char *console, const char *admin, const char *https, const char *store_url,
                        const struct init_token *t) {
  char ra_key[600], tls_key[600], ca_key[600];
  if (t != NULL) {
    token_uri(t, "cmpgw-ra", false, ra_key, sizeof ra_key);
    token_uri(t, "cmpgw-tls", false, tls_key, sizeof tls_key);
    token_uri(t, "cmpgw-ca", false, ca_key, sizeof ca_key);
  }
  const char *ra[] = {"pkcs12",       "#ra.p12", "password_file", "#ra.pass", "cert",
                      "ra-chain.pem", "key",     ra_key,          NULL};
  const char *pkcs11[] = {
      "module",   t != NULL ? t->d.module : NULL,
      "pin_file", t != NULL && t->d.pin_file ? t->d.pin_file : "#token.pin",
      "pin_env",  t != NULL && !t->d.pin_file ? t->d.pin_env : "#CMPGW_PKCS11_PIN",
      NULL};
  const char *server[] = {
      "http",     http,
      "https",    https != NULL ? https : "#127.0.0.1:8443",
      "tls_cert", https != NULL ? "tls-cert.pem" : "#tls-cert.pem",
      "tls_key",  https == NULL ? "#tls-key.pem" : t != NULL ? tls_key : "tls-key.pem",
      "tcp",      tcp != NULL ? tcp : "#127.0.0.1:1829",
      "coap",     coap != NULL ? coap : "#127.0.0.1:5683",
      "admin",    admin,
      NULL};
  static const char head[] = "# cmpgw configuration (INI).  Relative paths are relative to this "
                             "file.\n# Reference: docs/configuration.md\n\n";
  char backend[800];
  snprintf(backend, sizeof backend,
           "[backend local]\n"
           "# The embedded issuing CA.\n"
           "type = local\n"
           "cert = ca-cert.pem\n"
           "key = %s\n",
           t != NULL ? ca_key : "ca-key.pem");
  char conf[12288], part[4096];
  size_t n = 0;
  const char *sections[] = {"server", "store", "console", "ra", "pkcs11", "secrets", "log", NULL};
  const char *store[] = {"url", store_url, NULL};
  const char *console_values[] = {"listen", console != NULL ? console : "#127.0.0.1:8444", NULL};
  const char *const *values[] = {server, store_url != NULL ? store : NULL, console_values,
                                 t != NULL ? ra : NULL, t != NULL ? pkcs11 : NULL,
                                 NULL,   NULL};
  int err = 0;
  n = (size_t)snprintf(conf, sizeof conf, "%s", head);
  for (size_t i = 0; sections[i] != NULL && err == 0; i++) {
    err = cg_config_write_template(sections[i], values[i], part, sizeof part);
    if (err == 0)
      n += (size_t)snprintf(conf + n, sizeof conf - n, "%s\n", part);
  }
  if (err == 0)
    err = cg_config_write_template("profile default", NULL, part, sizeof part);
  if (err == 0)
    n += (size_t)snprintf(conf + n, sizeof conf - n, "%s\n%s", backend, part);
  if (err != 0 || n >= sizeof conf) {
    fprintf(stderr, "cmpgw init: the configuration does not fit\n");
    return CG_ESPACE;
  }
  return write_file(dir, "cmpgw.conf", conf, n, 0600);
}

struct pki {
  struct cg_key *ca_key, *ra_key;
  uint8_t ca_name[256], ra_name[256];
  size_t ca_name_len, ra_name_len;
  uint8_t ca_cert[4096], ra_cert[4096];
  size_t ca_cert_len, ra_cert_len;
};

static int make_cert(struct cert_spec *s, const struct cg_key *subject_key,
                     const struct cg_key *issuer_key, uint8_t *out, size_t cap, size_t *len) {
  uint8_t spki[1024];
  size_t spki_len;
  int err = cg_key_spki(subject_key, spki, sizeof spki, &spki_len);
  if (err == 0)
    err = cg_cert_random_serial(s);
  if (err)
    return err;
  s->spki = (struct der_view){spki, spki_len};
  return cg_cert_build(s, issuer_key, out, cap, len);
}

/* The demo CA "O=org, CN=org CA" and RA "O=org, CN=org RA". */
static int make_pki(struct pki *p, const char *org, const struct init_token *t) {
  static const enum cg_oid_id types[] = {CG_OID_AT_O, CG_OID_AT_CN};
  char ca_cn[160], ra_cn[160];
  snprintf(ca_cn, sizeof ca_cn, "%s CA", org);
  snprintf(ra_cn, sizeof ra_cn, "%s RA", org);
  const char *ca_values[] = {org, ca_cn};
  const char *ra_values[] = {org, ra_cn};
  int64_t now = (int64_t)time(NULL);
  int err;
  if ((err = new_key(t, "cmpgw-ca", &p->ca_key)) || (err = new_key(t, "cmpgw-ra", &p->ra_key)) ||
      (err = cg_cert_make_name(types, ca_values, 2, p->ca_name, sizeof p->ca_name,
                               &p->ca_name_len)) ||
      (err =
           cg_cert_make_name(types, ra_values, 2, p->ra_name, sizeof p->ra_name, &p->ra_name_len)))
    return err;

  struct cert_spec ca = {0};
  uint8_t ca_skid[20];
  uint8_t spki[1024];
  size_t spki_len;
  if ((err = cg_key_spki(p->ca_key, spki, sizeof spki, &spki_len)) ||
      (err = cg_cert_key_id((struct der_view){spki, spki_len}, ca_skid)))
    return err;
  ca.issuer = ca.subject = (struct der_view){p->ca_name, p->ca_name_len};
  ca.not_before = now - 3600; /* tolerate clients whose clock is a little behind */
  ca.not_after = now + CA_YEARS * 365LL * 86400;
  ca.is_ca = true;
  ca.key_usage = CERT_KU_KEY_CERT_SIGN | CERT_KU_CRL_SIGN | CERT_KU_DIGITAL_SIGNATURE;
  ca.issuer_skid = (struct der_view){ca_skid, 20};
  if ((err = make_cert(&ca, p->ca_key, p->ca_key, p->ca_cert, sizeof p->ca_cert, &p->ca_cert_len)))
    return err;

  /* The RA certificate: digitalSignature and id-kp-cmcRA (RFC 6402 §2.10),
   * so clients can tell it may sign CMP messages for the CA, and
   * id-kp-cmKGA (RFC 9483 §4.1.6), as it signs the keys it generates for
   * devices (central key generation). */
  struct cert_spec ra = {0};
  ra.issuer = ca.subject;
  ra.subject = (struct der_view){p->ra_name, p->ra_name_len};
  ra.not_before = now - 3600;
  ra.not_after = now + RA_YEARS * 365LL * 86400;
  ra.key_usage = CERT_KU_DIGITAL_SIGNATURE;
  ra.eku[ra.n_eku++] = CG_OID_KP_CMC_RA;
  ra.eku[ra.n_eku++] = CG_OID_KP_CM_KGA;
  ra.issuer_skid = (struct der_view){ca_skid, 20};
  return make_cert(&ra, p->ra_key, p->ca_key, p->ra_cert, sizeof p->ra_cert, &p->ra_cert_len);
}

/* The demo TLS certificate of the HTTPS listener at host (its name, or its
 * address: the subjectAltName clients check), issued by the demo CA for
 * serverAuth, with a key of its own: tls-cert.pem (then the CA certificate,
 * the chain a server sends) and tls-key.pem. */
static int write_tls(const char *dir, const struct pki *p, const char *host,
                     const struct init_token *t) {
  static const enum cg_oid_id cn[] = {CG_OID_AT_CN};
  uint8_t name[256], san[300], ip[16], cert[4096], key_der[512], chain[8192];
  size_t name_len, cert_len, key_len;
  struct cg_key *key = NULL;
  const char *values[] = {host};
  /* GeneralNames ::= SEQUENCE OF GeneralName: iPAddress [7] or dNSName [2] */
  size_t ip_len = inet_pton(AF_INET, host, ip) == 1    ? 4
                  : inet_pton(AF_INET6, host, ip) == 1 ? 16
                                                       : 0;
  struct der_writer w;
  cg_der_writer_init(&w, san, sizeof san);
  size_t m = cg_der_begin(&w, DER_SEQUENCE);
  if (ip_len > 0)
    cg_der_put_tlv(&w, DER_CTX(7), ip, ip_len);
  else
    cg_der_put_tlv(&w, DER_CTX(2), host, strlen(host));
  cg_der_end(&w, m);
  size_t san_len;
  int err = cg_der_writer_finish(&w, &san_len);
  if (err == 0)
    err = cg_cert_make_name(cn, values, 1, name, sizeof name, &name_len);
  if (err == 0)
    err = new_key(t, "cmpgw-tls", &key);
  if (err == 0) {
    struct cert_spec s = {0};
    struct cg_x509 ca;
    int64_t now = (int64_t)time(NULL);
    err = cg_x509_parse(p->ca_cert, p->ca_cert_len, &ca);
    s.issuer = ca.subject;
    s.issuer_skid = ca.skid;
    s.subject = (struct der_view){name, name_len};
    s.not_before = now - 3600;
    s.not_after = now + 2 * 365LL * 86400;
    s.key_usage = CERT_KU_DIGITAL_SIGNATURE;
    s.eku[s.n_eku++] = CG_OID_KP_SERVER_AUTH;
    s.san = (struct der_view){san, san_len};
    if (err == 0)
      err = make_cert(&s, key, p->ca_key, cert, sizeof cert, &cert_len);
  }
  if (err == 0 && t == NULL)
    err = cg_key_private_pkcs8(key, key_der, sizeof key_der, &key_len);
  size_t a = 0, b = 0;
  if (err == 0)
    err = cg_pem_encode("CERTIFICATE", cert, cert_len, (char *)chain, sizeof chain, &a);
  if (err == 0)
    err = cg_pem_encode("CERTIFICATE", p->ca_cert, p->ca_cert_len, (char *)chain + a,
                        sizeof chain - a, &b);
  if (err == 0)
    err = write_file(dir, "tls-cert.pem", chain, a + b, 0644);
  if (err == 0 && t == NULL)
    err = write_pem(dir, "tls-key.pem", "PRIVATE KEY", key_der, key_len, 0600);
  cg_wipe(key_der, sizeof key_der);
  cg_key_free(key);
  if (err)
    fprintf(stderr, "cmpgw init: cannot make the TLS certificate: %s\n", cg_strerror(err));
  return err;
}

/* The RA credentials: ra.p12 and its password ra.pass; or, with the key in
 * a token, the chain ra-chain.pem (RA, then CA). */
static int write_ra(const char *dir, const struct pki *p, const struct init_token *t) {
  if (t != NULL) {
    char chain[8192];
    size_t a = 0, b = 0;
    int err = cg_pem_encode("CERTIFICATE", p->ra_cert, p->ra_cert_len, chain, sizeof chain, &a);
    if (err == 0)
      err = cg_pem_encode("CERTIFICATE", p->ca_cert, p->ca_cert_len, chain + a, sizeof chain - a,
                          &b);
    return err != 0 ? err : write_file(dir, "ra-chain.pem", chain, a + b, 0644);
  }
  /* The RA password: random, in a file only the owner reads. */
  uint8_t rnd[18];
  char hex[40], pass_line[40];
  int err = cg_random(rnd, sizeof rnd);
  if (err)
    return err;
  cg_hex(rnd, sizeof rnd, hex);
  int pl = snprintf(pass_line, sizeof pass_line, "%s\n", hex);
  err = write_file(dir, "ra.pass", pass_line, (size_t)pl, 0600);
  cg_wipe(pass_line, sizeof pass_line);
  const uint8_t *ca_list[1] = {p->ca_cert};
  size_t ca_lens[1] = {p->ca_cert_len};
  uint8_t *p12 = NULL;
  size_t p12_len;
  if (err == 0 && (err = cg_pkcs12_create(hex, p->ra_key, p->ra_cert, p->ra_cert_len, ca_list,
                                          ca_lens, 1, &p12, &p12_len)) != 0)
    fprintf(stderr, "cmpgw init: cannot make the RA PKCS#12: %s\n", cg_strerror(err));
  cg_wipe(hex, sizeof hex);
  if (err == 0)
    err = write_file(dir, "ra.p12", p12, p12_len, 0600);
  free(p12);
  return err;
}

static int write_deployment(const char *dir, const char *org, const char *http, const char *tcp,
                            const char *coap, const char *console, const char *admin,
                            const char *https,
                            const char *store_url,
                            const struct init_token *t, char *ra_subject, size_t ra_subject_cap) {
  struct pki p = {0};
  uint8_t key_der[4096];
  int err = make_pki(&p, org, t);
  if (err) {
    fprintf(stderr, "cmpgw init: cannot make the demo PKI: %s\n", cg_strerror(err));
    goto out;
  }
  size_t key_len;
  if ((t == NULL &&
       ((err = cg_key_private_pkcs8(p.ca_key, key_der, sizeof key_der, &key_len)) ||
        (err = write_pem(dir, "ca-key.pem", "PRIVATE KEY", key_der, key_len, 0600)))) ||
      (err = write_pem(dir, "ca-cert.pem", "CERTIFICATE", p.ca_cert, p.ca_cert_len, 0644)) ||
      (err = write_pem(dir, "ra-cert.pem", "CERTIFICATE", p.ra_cert, p.ra_cert_len, 0644)) ||
      (err = write_ra(dir, &p, t)))
    goto out;

  /* The master key: random, in a file only the owner reads. */
  uint8_t rnd[32];
  char hex[65];
  if (err || (err = cg_random(rnd, 32)))
    goto out;
  cg_hex(rnd, 32, hex);
  cg_wipe(rnd, sizeof rnd);
  char key_line[80];
  int kl = snprintf(key_line, sizeof key_line, "%s\n", hex);
  cg_wipe(hex, sizeof hex);
  err = write_file(dir, "master.key", key_line, (size_t)kl, 0600);
  cg_wipe(key_line, sizeof key_line);
  if (err)
    goto out;

  if (https != NULL) {
    char host[128];
    int port;
    cg_parse_hostport(https, host, sizeof host, &port);
    if ((err = write_tls(dir, &p, host, t)))
      goto out;
  }
  if ((err = write_config(dir, http, tcp, coap, console, admin, https, store_url, t)))
    goto out;

  char db[CG_PATH_MAX];
  struct cg_store *st;
  snprintf(db, sizeof db, "%s/cmpgw.db", dir);
  if ((err = cg_store_open(store_url != NULL ? store_url : db, &st))) {
    fprintf(stderr, "cmpgw init: cannot create the database %s\n",
            store_url != NULL ? "of --store-url" : db);
    goto out;
  }
  cg_store_close(st);
  err = cg_name_to_string((struct der_view){p.ra_name, p.ra_name_len}, ra_subject,
                          ra_subject_cap);
out:
  cg_wipe(key_der, sizeof key_der);
  cg_key_free(p.ca_key);
  cg_key_free(p.ra_key);
  return err;
}

/* HOST:PORT for the printed commands; port 0 is chosen when serve starts
 * (it logs "listening http HOST:PORT"), so it shows as PORT. */
static void server_of(const char *hostport, char *host, size_t host_cap, char *out,
                      size_t cap) {
  int port;
  cg_parse_hostport(hostport, host, host_cap, &port);
  if (port == 0)
    snprintf(out, cap, "%s:PORT", host);
  else
    snprintf(out, cap, "%s:%d", host, port);
}

static int usage(void) {
  fprintf(stderr, "usage: cmpgw init DIR [--http HOST:PORT] [--https HOST:PORT] [--tcp HOST:PORT]\n"
                  "                      [--coap HOST:PORT] [--admin HOST:PORT] [--org NAME]\n"
                  "                      [--console HOST:PORT]\n"
                  "                      [--pkcs11 URI]\n"
                  "                      [--store-url POSTGRESQL-URL]\n");
  return 2;
}

/* --pkcs11 URI: a token (token= or slot-id=), its module (module-path=) and
 * PIN (pin-source=, else the environment variable CMPGW_PKCS11_PIN); the
 * keys init makes are named by init.  0, or 2 after saying why. */
static int token_option(const char *arg, struct init_token *t) {
  const char *q = strchr(arg, '?');
  size_t path_len = q != NULL ? (size_t)(q - arg) : strlen(arg);
  char probe[2048];
  const char *why;
  memset(t, 0, sizeof *t);
  if (path_len >= sizeof t->path || (q != NULL && strlen(q) >= sizeof t->query)) {
    fprintf(stderr, "cmpgw init: --pkcs11: the URI is too long\n");
    return 2;
  }
  memcpy(t->path, arg, path_len);
  snprintf(t->query, sizeof t->query, "%s", q != NULL ? q : "");
  snprintf(probe, sizeof probe, "%s;object=cmpgw-probe%s", t->path, t->query);
  if (cg_pkcs11_uri_parse(probe, &t->u, &why) != 0 || t->u.id_len != 0 ||
      strcmp(t->u.object, "cmpgw-probe") != 0) {
    fprintf(stderr,
            "cmpgw init: --pkcs11 names a token, its module and PIN source "
            "(pkcs11:token=LABEL?module-path=LIB&pin-source=FILE), not a key: %s\n",
            why != NULL ? why : "it names an object or id");
    return 2;
  }
  if (t->u.module[0] == 0) {
    fprintf(stderr, "cmpgw init: --pkcs11: give the module: ?module-path=LIB\n");
    return 2;
  }
  t->d.module = t->u.module;
  t->d.pin_file = t->u.pin_source[0] ? t->u.pin_source : NULL;
  t->d.pin_env = "CMPGW_PKCS11_PIN";
  t->d.mode = CG_KEY_OWNER_ONLY;
  if (t->d.pin_file != NULL && t->d.pin_file[0] != '/') {
    fprintf(stderr, "cmpgw init: --pkcs11: pin-source must be an absolute path\n");
    return 2;
  }
  return 0;
}

int cmd_init(int argc, char **argv) {
  const char *dir = NULL, *http = "127.0.0.1:8080", *tcp = NULL, *https = NULL, *coap = NULL,
             *console = NULL, *admin = "127.0.0.1:9810", *org = "cmpgw demo", *store_url = NULL;
  struct init_token token, *t = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--pkcs11") && i + 1 < argc) {
      if (token_option(argv[++i], &token) != 0)
        return 2;
      t = &token;
      continue;
    }
    if (!strcmp(argv[i], "--store-url") && i + 1 < argc) {
      store_url = argv[++i];
      if (!cg_store_is_postgres(store_url) || strlen(store_url) >= CG_PATH_MAX) {
        fprintf(stderr, "cmpgw init: --store-url is a PostgreSQL URI (postgresql://...) or "
                        "libpq key=value words\n");
        return 2;
      }
      continue;
    }
    if (!strcmp(argv[i], "--org") && i + 1 < argc) {
      org = argv[++i];
      size_t n = strlen(org);
      bool printable = n > 0 && n <= 60;
      for (size_t k = 0; printable && k < n; k++)
        printable = org[k] >= 0x20 && org[k] < 0x7f;
      if (!printable) {
        fprintf(stderr, "cmpgw init: --org is 1..60 printable characters\n");
        return 2;
      }
      continue;
    }
    const char **opt = !strcmp(argv[i], "--http")    ? &http
                       : !strcmp(argv[i], "--https") ? &https
                       : !strcmp(argv[i], "--tcp")   ? &tcp
                       : !strcmp(argv[i], "--coap")  ? &coap
                       : !strcmp(argv[i], "--console") ? &console
                       : !strcmp(argv[i], "--admin") ? &admin
                                                     : NULL;
    if (opt != NULL) {
      if (++i == argc)
        return usage();
      char host[128];
      int port;
      if (cg_parse_hostport(argv[i], host, sizeof host, &port)) {
        fprintf(stderr, "cmpgw init: '%s' is not HOST:PORT\n", argv[i]);
        return 2;
      }
      *opt = argv[i];
    } else if (argv[i][0] == '-' || dir != NULL) {
      return usage();
    } else {
      dir = argv[i];
    }
  }
  if (dir == NULL)
    return usage();
  if (strlen(dir) > CG_PATH_MAX - 64) {
    fprintf(stderr, "cmpgw init: path too long\n");
    return 2;
  }
  struct parents made;
  if (make_parents(dir, &made) != 0)
    return 1;
  if (mkdir(dir, 0700) != 0) {
    fprintf(stderr, "cmpgw init: cannot create %s: %s%s\n", dir, strerror(errno),
            errno == EEXIST ? " (init never overwrites an existing deployment)" : "");
    remove_parents(dir, &made);
    return 1;
  }
  char ra_subject[512];
  if (write_deployment(dir, org, http, tcp, coap, console, admin, https, store_url, t, ra_subject,
                       sizeof ra_subject)) {
    remove_all(dir);
    remove_parents(dir, &made);
    return 1;
  }
  /* openssl's -recipient wants /A=B/C=D, most significant first: the RFC 4514
   * string reversed. */
  char slash[512] = "";
  char *parts[16];
  size_t n = 0;
  for (char *tok = strtok(ra_subject, ","); tok && n < 16; tok = strtok(NULL, ","))
    parts[n++] = tok;
  for (size_t i = n; i-- > 0;) {
    strncat(slash, "/", sizeof slash - strlen(slash) - 1);
    strncat(slash, parts[i], sizeof slash - strlen(slash) - 1);
  }
  char host[128], server[160];
  server_of(http, host, sizeof host, server, sizeof server);
  printf("Created a demo deployment in %s:\n"
         "  %s/cmpgw.conf   configuration\n"
         "  %s/ca-cert.pem  demo CA certificate (trust anchor for clients)\n"
         "  %s/ra-cert.pem  RA protection certificate (issued by the demo CA)\n"
         "  %s%s\n"
         "\n"
         "Start the gateway:\n"
         "  cmpgw serve -c %s/cmpgw.conf\n"
         "\n"
         "Create a shared secret for a device (printed once):\n"
         "  cmpgw secret new -c %s/cmpgw.conf\n"
         "\n"
         "Enrol with OpenSSL, using the reference and secret printed:\n"
         "  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dev.key\n"
         "  openssl cmp -cmd ir -server %s -path .well-known/cmp \\\n"
         "    -ref REFERENCE -secret pass:SECRET -recipient \"%s\" \\\n"
         "    -newkey dev.key -subject /CN=dev1 -certout dev.pem -trusted %s/ca-cert.pem\n"
         "  openssl verify -CAfile %s/ca-cert.pem dev.pem\n",
         dir, dir, dir, dir, store_url != NULL ? "" : dir,
         store_url != NULL ? "the database: PostgreSQL, [store] url"
                           : "/cmpgw.db     SQLite database",
         dir, dir, server, slash, dir, dir);
  if (t != NULL)
    printf("\n"
           "The CA, RA%s keys are in the token (objects cmpgw-ca, cmpgw-ra%s);\n"
           "%s/cmpgw.conf names them with pkcs11: URIs and [pkcs11] (docs/pkcs11.md).\n",
           https != NULL ? " and TLS" : "", https != NULL ? ", cmpgw-tls" : "", dir);
  if (https != NULL) {
    server_of(https, host, sizeof host, server, sizeof server);
    printf("\n"
           "Over HTTPS (%s/tls-cert.pem, issued by the demo CA for %s):\n"
           "  openssl cmp -cmd ir -server %s -path .well-known/cmp -tls_used \\\n"
           "    -tls_trusted %s/ca-cert.pem -ref REFERENCE -secret pass:SECRET \\\n"
           "    -recipient \"%s\" -newkey dev.key -subject /CN=dev1 -certout dev.pem \\\n"
           "    -trusted %s/ca-cert.pem\n",
           dir, host, server, dir, slash, dir);
  }
  return 0;
}
