/*
 * cmd_client.c - `cmpgw client`: a CMP client over HTTP (RFC 9810, RFC 9811)
 * (or over raw TCP, RFC 2510 or "version 10" framing: transports/tcp.h)
 * for operators and tests.  It runs one transaction - ir, cr, kur or p10cr
 * (then certConf / pkiConf unless implicit confirmation was granted), rr, or
 * genm - with the client engine of cmp/client_txn.h, which owns the
 * transaction, its polling and every check of the answers, on a libuv loop
 * of its own; this file is the I/O around it (arguments, input and output
 * files, the loop over HTTP or raw TCP), client_report.c what it prints of
 * the answers, and cmp/client.c writes the request bodies.
 *
 * Delayed delivery (RFC 9810 §5.3.22, RFC 9483 §4.4): the engine polls a
 * request the server makes wait, up to --poll-max seconds.  Over raw TCP the
 * server may instead answer with a TCP-level pollRep (a polling reference and
 * a time to check back): the client then sends TCP pollReqs for that
 * reference, and the final answer is the answer to the original request.
 * Each TCP message goes over a connection of its own.
 *
 * Files (--certout, the generated key, --chainout, --genpout, --crlout) are
 * written only when the whole transaction succeeded.
 *
 * Exit status: 0 success; 1 the server refused, or its answer is not
 * acceptable (bad protection, wrong nonce, malformed); 2 usage, unreadable
 * input files and transport failures (connect, timeout, HTTP status).
 *
 * A command-line tool does its crypto on the loop thread: it has only this
 * one exchange to serve.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "app/cli.h"
#include "app/client_int.h"
#include "app/commands.h"
#include "app/setup.h"
#include "cmp/client.h"
#include "cmp/client_txn.h"
#include "cmp/encode.h"
#include "cmp/genm.h"
#include "cmp/msg.h"
#include "cmp/p10.h"
#include "cmp/protect.h"
#include "core/certbuild.h"
#include "core/cms.h"
#include "core/crypto.h"
#include "core/der.h"
#include "core/err.h"
#include "core/file.h"
#include "core/oid.h"
#include "core/x509.h"
#include "transports/http.h"
#include "transports/http_client.h"
#include "transports/tcp_client.h"
#include "transports/tls.h"

const char client_prog[] = "cmpgw client";

/* ---- inputs -------------------------------------------------------------- */

static int usage_to(FILE *f) {
  fprintf(f,
          "usage: cmpgw client ir|cr|kur|p10cr|rr|genm --url http://HOST:PORT/PATH\n"
          "         | --url https://HOST:PORT/PATH --tls-trusted PEM [--tls-cert PEM --tls-key PEM]\n"
          "         | --url tcp://HOST:PORT [--framing v10|rfc2510]\n"
          "         | --url coap://HOST:PORT/PATH\n"
          "         [--ref REF --secret SECRET|--secret-file FILE [--pbmac1] [--iterations N]\n"
          "          | --cert PEM --key PEM]\n"
          "         [--trusted PEM] [--newkey PEM | --newkeytype p256|p384|ed25519|rsa2048|rsa3072]\n"
          "         [--central-keygen --keyenvout FILE]\n"
          "         [--subject /CN=../O=..]\n"
          "         [--csr FILE] [--oldcert PEM] [--revreason N] [--challenge TEXT]\n"
          "         [--implicit-confirm] [--pvno 2|3] [--infotype NAME[,NAME]]... [--timeout S]\n"
          "         [--poll-max S]\n"
          "         [--certout FILE] [--chainout FILE] [--genpout FILE] [--crlout FILE]\n"
          "         [--nested-cert PEM --nested-key PEM]\n"
          "  --secret: pass:VALUE, env:VAR or file:PATH (its first line), as openssl cmp\n"
          "  takes it; a bare VALUE still works, but ps shows it to every user\n"
          "  --nested-*: send the first request inside a nested message signed as an RA\n"
          "  (RFC 9483 §5.2.2.2) and read the answer out of the nested reply\n"
          "  ir/cr/kur without --newkey: a new key (--newkeytype, default p256), saved as\n"
          "  CERTOUT.key (mode 0600)\n"
          "  --central-keygen: ask the server to make the key pair (of --newkeytype when\n"
          "  given); the private key it returns, encrypted for this client (with the\n"
          "  secret, or for --key's certificate), goes to --keyenvout as a DER CMS\n"
          "  EnvelopedData for `openssl cms -decrypt -inform DER`\n"
          "  --poll-max: poll a request the server makes wait for at most S seconds\n"
          "  (default 600; 0: do not poll); --timeout bounds each HTTP exchange\n"
          "  infotypes: caCerts rootCaKeyUpdate certReqTemplate signKeyPairTypes crlStatusList\n"
          "  exit status: 0 done, 1 refused by the server or bad answer, 2 usage or transport\n");
  return EXIT_USAGE;
}

static int usage(void) { return usage_to(stderr); }

static bool parse_uint(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  if (s == NULL || *s < '0' || *s > '9')
    return false;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max)
    return false;
  *out = v;
  return true;
}

static bool add_infotypes(struct opts *o, const char *list) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    enum cg_oid_id id = client_infotype(t);
    if (id == CG_OID_UNKNOWN || o->n_infotypes == MAX_INFOTYPES) {
      fprintf(stderr, "%s: unknown or too many infotypes: '%s'\n", client_prog, t);
      return false;
    }
    o->infotypes[o->n_infotypes++] = id;
  }
  return true;
}

static int parse_args(struct opts *o, int argc, char **argv) {
  static const struct {
    const char *name;
    int type;
  } cmds[] = {{"ir", CMP_IR},       {"cr", CMP_CR}, {"kur", CMP_KUR},
              {"p10cr", CMP_P10CR}, {"rr", CMP_RR}, {"genm", CMP_GENM}};
  if (argc < 2)
    return usage();
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    usage_to(stdout);
    return -1; /* not an error: nothing more to do */
  }
  o->type = -1;
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (strcmp(argv[1], cmds[i].name) == 0)
      o->type = cmds[i].type;
  if (o->type < 0)
    return usage();
  o->iterations = DEFAULT_ITERATIONS;
  o->revreason = -1;
  o->pvno = 2;
  o->timeout_s = 60;
  o->poll_max_s = DEFAULT_POLL_MAX;
  const struct {
    const char *name;
    const char **dst;
  } strs[] = {
      {"--url", &o->url},         {"--ref", &o->ref},           {"--secret", &o->secret},
      {"--secret-file", &o->secret_file},
      {"--cert", &o->cert},       {"--key", &o->key},           {"--trusted", &o->trusted},
      {"--newkey", &o->newkey},   {"--newkeytype", &o->newkeytype},
      {"--subject", &o->subject}, {"--csr", &o->csr},           {"--oldcert", &o->oldcert},
      {"--challenge", &o->challenge}, {"--certout", &o->certout}, {"--chainout", &o->chainout},
      {"--genpout", &o->genpout}, {"--crlout", &o->crlout},
      {"--nested-cert", &o->nested_cert}, {"--nested-key", &o->nested_key},
      {"--framing", &o->framing}, {"--keyenvout", &o->keyenvout},
      {"--tls-trusted", &o->tls_trusted}, {"--tls-cert", &o->tls_cert},
      {"--tls-key", &o->tls_key},
  };
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    size_t k = 0;
    while (k < sizeof strs / sizeof strs[0] && strcmp(strs[k].name, a) != 0)
      k++;
    uint64_t n;
    if (k < sizeof strs / sizeof strs[0]) {
      if (v == NULL)
        return usage();
      *strs[k].dst = v;
      i++;
    } else if (!strcmp(a, "--pbmac1")) {
      o->pbmac1 = true;
    } else if (!strcmp(a, "--implicit-confirm")) {
      o->implicit_confirm = true;
    } else if (!strcmp(a, "--central-keygen")) {
      o->central_keygen = true;
    } else if (!strcmp(a, "--iterations") && parse_uint(v, UINT32_MAX, &n)) {
      o->iterations = (uint32_t)n;
      i++;
    } else if (!strcmp(a, "--revreason") && parse_uint(v, 10, &n)) {
      o->revreason = (int)n;
      i++;
    } else if (!strcmp(a, "--pvno") && parse_uint(v, 3, &n) && n >= 2) {
      o->pvno = n;
      i++;
    } else if (!strcmp(a, "--timeout") && parse_uint(v, 3600, &n) && n > 0) {
      o->timeout_s = n;
      i++;
    } else if (!strcmp(a, "--poll-max") && parse_uint(v, 7 * 86400, &n)) {
      o->poll_max_s = n;
      i++;
    } else if (!strcmp(a, "--infotype") && v != NULL) {
      if (!add_infotypes(o, v))
        return EXIT_USAGE;
      i++;
    } else {
      fprintf(stderr, "%s: bad option '%s'\n", client_prog, a);
      return usage();
    }
  }
  return 0;
}

/* http://HOST[:PORT][/PATH] or tcp://HOST:PORT, HOST numeric (IPv6 in
 * brackets) or localhost. */
static bool parse_url(struct client *cl, const char *url) {
  static const char scheme[] = "http://", tcp_scheme[] = "tcp://", tls_scheme[] = "https://",
                    coap_scheme[] = "coap://";
  const char *h;
  if (strncmp(url, scheme, sizeof scheme - 1) == 0) {
    h = url + sizeof scheme - 1;
  } else if (strncmp(url, tls_scheme, sizeof tls_scheme - 1) == 0) {
    h = url + sizeof tls_scheme - 1;
    cl->https = true;
  } else if (strncmp(url, tcp_scheme, sizeof tcp_scheme - 1) == 0) {
    h = url + sizeof tcp_scheme - 1;
    cl->tcp = true;
  } else if (strncmp(url, coap_scheme, sizeof coap_scheme - 1) == 0) {
    h = url + sizeof coap_scheme - 1;
    cl->coap = true;
  } else {
    return false;
  }
  const char *end;
  if (*h == '[') {
    end = strchr(h, ']');
    if (end == NULL)
      return false;
    h++;
  } else {
    end = h + strcspn(h, ":/");
  }
  size_t hlen = (size_t)(end - h);
  if (hlen == 0 || hlen >= sizeof cl->host)
    return false;
  memcpy(cl->host, h, hlen);
  cl->host[hlen] = '\0';
  const char *p = *end == ']' ? end + 1 : end;
  /* 829: pkix-3-ca-ra, RFC 2510's port; 5683: CoAP's */
  cl->port = cl->tcp ? 829 : cl->coap ? 5683 : cl->https ? 443 : 80;
  if (*p == ':') {
    uint64_t port;
    char digits[8];
    size_t n = strcspn(p + 1, "/");
    if (n == 0 || n >= sizeof digits)
      return false;
    memcpy(digits, p + 1, n);
    digits[n] = '\0';
    if (!parse_uint(digits, 65535, &port) || port == 0)
      return false;
    cl->port = (int)port;
    p += 1 + n;
  }
  if (cl->tcp) /* a TCP frame names no path */
    return *p == '\0' || !strcmp(p, "/");
  if (*p == '\0')
    p = "/";
  if (*p != '/' || strlen(p) >= sizeof cl->path)
    return false;
  snprintf(cl->path, sizeof cl->path, "%s", p);
  return true;
}

/* Every CERTIFICATE block of a PEM file (cg_x509_pem_bundle), or one DER
 * certificate. */
static int load_certs(const char *path, struct certs *c) {
  int err = cg_certs_from_file(path, c->der, c->v, MAX_CERTS, &c->n);
  if (err == CG_EIO || err == CG_ENOMEM)
    fprintf(stderr, "%s: cannot read %s: %s\n", client_prog, path, cg_file_strerror(err));
  else if (err)
    fprintf(stderr, "%s: %s holds no readable certificate\n", client_prog, path);
  return err;
}

static void free_certs(struct certs *c) {
  for (size_t i = 0; i < c->n; i++)
    free(c->der[i]);
  c->n = 0;
}

/* A private key from PEM (PKCS#8, SEC1 or PKCS#1). */
static int load_key(const char *path, struct cg_key **key) {
  /* The user's own key: its mode is the user's business, as for openssl. */
  int err = cg_key_from_pem_file(path, CG_KEY_ANY_MODE, key);
  if (err == CG_EIO || err == CG_ENOMEM)
    fprintf(stderr, "%s: cannot read %s: %s\n", client_prog, path, cg_file_strerror(err));
  else if (err)
    fprintf(stderr, "%s: %s holds no usable private key\n", client_prog, path);
  return err;
}

/* The CSR for p10cr, DER or PEM. */
static int load_csr(struct client *cl) {
  uint8_t *data;
  size_t len;
  int err = cg_read_file(cl->o.csr, &data, &len);
  if (err) {
    fprintf(stderr, "%s: cannot read %s: %s\n", client_prog, cl->o.csr, cg_file_strerror(err));
    return err;
  }
  if (len > 0 && data[0] != 0x30) {
    size_t der_len, used;
    uint8_t *der = malloc(len);
    err = der == NULL ? CG_ENOMEM
                          : cg_pem_decode("CERTIFICATE REQUEST", (const char *)data, len, der,
                                          len, &der_len, &used);
    free(data);
    if (err) {
      free(der);
      fprintf(stderr, "%s: %s holds no certificate request\n", client_prog, cl->o.csr);
      return err;
    }
    data = der;
    len = der_len;
  }
  cl->csr = data;
  cl->csr_len = len;
  return 0;
}

/* The key --newkeytype names; false when it names none. */
static bool new_key_type(const char *name, enum cg_key_type *type, unsigned *bits) {
  static const struct {
    const char *name;
    enum cg_key_type type;
    unsigned bits;
  } kinds[] = {{"p256", CG_KEY_EC, 256},      {"p384", CG_KEY_EC, 384},
               {"ed25519", CG_KEY_ED25519, 0}, {"rsa2048", CG_KEY_RSA, 2048},
               {"rsa3072", CG_KEY_RSA, 3072}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(kinds[i].name, name) == 0) {
      if (type != NULL)
        *type = kinds[i].type, *bits = kinds[i].bits;
      return true;
    }
  return false;
}

/* The TLS context of an https:// URL: --tls-trusted, --tls-cert, --tls-key. */
static int load_tls(struct client *cl) {
  const struct opts *o = &cl->o;
  uint8_t *trusted = NULL, *cert = NULL, *key = NULL;
  size_t trusted_len = 0, cert_len = 0, key_len = 0;
  const char *bad = NULL;
  int err = cg_read_file(o->tls_trusted, &trusted, &trusted_len);
  if (err != 0)
    bad = o->tls_trusted;
  if (err == 0 && o->tls_cert != NULL && (err = cg_read_file(o->tls_cert, &cert, &cert_len)) != 0)
    bad = o->tls_cert;
  if (err == 0 && o->tls_key != NULL &&
      (err = cg_read_key_file(o->tls_key, CG_KEY_WARN_OTHERS, &key, &key_len)) != 0)
    bad = o->tls_key;
  if (err == 0) {
    char why[160];
    struct cg_tls_client_config tc = {trusted, trusted_len, cert, cert_len, key, key_len, false};
    if ((err = cg_tls_client_new(&tc, &cl->tls, why, sizeof why)) != 0)
      fprintf(stderr, "%s: %s\n", client_prog, why);
  } else {
    fprintf(stderr, "%s: %s: %s\n", client_prog, bad, cg_file_strerror(err));
  }
  if (key != NULL)
    cg_wipe(key, key_len);
  free(trusted);
  free(cert);
  free(key);
  return err;
}

/* Checks what the command needs and reads every input file. */
static int load_inputs(struct client *cl) {
  struct opts *o = &cl->o;
  bool mac = o->ref != NULL || o->secret != NULL || o->secret_file != NULL;
  bool sig = o->cert != NULL || o->key != NULL;
  bool enrol = o->type == CMP_IR || o->type == CMP_CR || o->type == CMP_KUR;
  const char *why = NULL;
  if (o->url == NULL || !parse_url(cl, o->url))
    why = "--url http://HOST:PORT/PATH, https://HOST:PORT/PATH, coap://HOST:PORT/PATH or "
          "tcp://HOST:PORT is required "
          "(numeric host or localhost)";
  else if (cl->https && o->tls_trusted == NULL)
    why = "an https:// URL needs --tls-trusted PEM (the server certificate's trust anchors)";
  else if (!cl->https && (o->tls_trusted != NULL || o->tls_cert != NULL || o->tls_key != NULL))
    why = "--tls-trusted, --tls-cert and --tls-key go with an https:// URL";
  else if ((o->tls_cert == NULL) != (o->tls_key == NULL))
    why = "--tls-cert and --tls-key go together";
  else if (o->framing != NULL && (!cl->tcp || (strcmp(o->framing, "v10") != 0 &&
                                               strcmp(o->framing, "rfc2510") != 0)))
    why = "--framing is v10 or rfc2510, with a tcp:// URL";
  else if (mac == sig)
    why = "give either --ref and --secret, or --cert and --key";
  else if (o->secret != NULL && o->secret_file != NULL)
    why = "give --secret or --secret-file, not both";
  else if (mac && (o->ref == NULL || (o->secret == NULL && o->secret_file == NULL)))
    why = "--ref and --secret (or --secret-file) go together";
  else if (sig && (o->cert == NULL || o->key == NULL))
    why = "--cert and --key go together";
  else if (o->type == CMP_KUR && !sig)
    why = "kur is signed with the certificate it updates: give --cert and --key";
  else if (o->type == CMP_P10CR && o->csr == NULL)
    why = "p10cr needs --csr";
  else if (o->type == CMP_RR && o->oldcert == NULL && o->cert == NULL)
    why = "rr needs --oldcert (or --cert) naming the certificate to revoke";
  else if (o->type == CMP_GENM && o->n_infotypes == 0)
    why = "genm needs at least one --infotype";
  else if (o->newkeytype != NULL && !new_key_type(o->newkeytype, NULL, NULL))
    why = "--newkeytype is p256, p384, ed25519, rsa2048 or rsa3072";
  else if (o->central_keygen && (!enrol || o->newkey != NULL || o->keyenvout == NULL))
    why = "--central-keygen goes with ir, cr or kur and --keyenvout, without --newkey";
  else if (o->keyenvout != NULL && !o->central_keygen)
    why = "--keyenvout goes with --central-keygen";
  else if (enrol && o->newkey == NULL && o->certout == NULL)
    why = "a generated key is saved beside --certout: give --certout (or --newkey)";
  else if ((o->nested_cert == NULL) != (o->nested_key == NULL))
    why = "--nested-cert and --nested-key go together";
  else if (o->pbmac1 && o->iterations < 1000)
    why = "PBMAC1 needs --iterations of at least 1000";
  else if (mac && !o->pbmac1 && o->iterations < CMP_PBM_MIN_ITERATIONS)
    why = "PasswordBasedMac needs --iterations of at least 100";
  if (why != NULL) {
    fprintf(stderr, "%s: %s\n", client_prog, why);
    return EXIT_USAGE;
  }

  cl->framing = o->framing != NULL && !strcmp(o->framing, "rfc2510") ? CG_TCP_RFC2510 : CG_TCP_V10;
  if (cl->https && load_tls(cl) != 0)
    return EXIT_USAGE;
  if (o->nested_cert != NULL &&
      (load_certs(o->nested_cert, &cl->nested_ra) || load_key(o->nested_key, &cl->nested_key)))
    return EXIT_USAGE;
  if (o->nested_cert != NULL)
    cl->nested_cred = (struct cmp_client_cred){.key = cl->nested_key,
                                               .cert = cl->nested_ra.v[0],
                                               .chain = cl->nested_ra.v + 1,
                                               .n_chain = cl->nested_ra.n - 1};
  if (sig) {
    if (load_certs(o->cert, &cl->signer) || load_key(o->key, &cl->key))
      return EXIT_USAGE;
    cl->cred.key = cl->key;
    cl->cred.cert = cl->signer.v[0];
    cl->cred.chain = cl->signer.v + 1;
    cl->cred.n_chain = cl->signer.n - 1;
  } else {
    if (o->secret_file != NULL
            ? !cli_secret_file(client_prog, o->secret_file, cl->secret, &cl->secret_len)
            : !cli_secret(client_prog, o->secret, cl->secret, &cl->secret_len))
      return EXIT_USAGE;
    cl->cred.secret = (const uint8_t *)cl->secret;
    cl->cred.secret_len = cl->secret_len;
    cl->cred.ref = (const uint8_t *)o->ref;
    cl->cred.ref_len = strlen(o->ref);
    cl->cred.iterations = o->iterations;
    cl->cred.owf = cl->cred.mac = CG_HASH_SHA256;
    cl->cred.pbmac1 = o->pbmac1;
  }
  if (o->trusted != NULL && load_certs(o->trusted, &cl->anchors))
    return EXIT_USAGE;
  if (o->oldcert != NULL && load_certs(o->oldcert, &cl->old))
    return EXIT_USAGE;
  if (o->type == CMP_P10CR && load_csr(cl))
    return EXIT_USAGE;
  if (enrol && !o->central_keygen) {
    enum cg_key_type type = CG_KEY_EC;
    unsigned bits = 256;
    if (o->newkey != NULL) {
      if (load_key(o->newkey, &cl->new_key))
        return EXIT_USAGE;
    } else if ((o->newkeytype != NULL && !new_key_type(o->newkeytype, &type, &bits)) ||
               cg_key_generate(type, bits, &cl->new_key)) {
      fprintf(stderr, "%s: cannot generate a key\n", client_prog);
      return EXIT_REFUSED;
    } else {
      cl->new_key_generated = true;
    }
  }
  if (o->subject != NULL) {
    size_t len;
    if (cg_cert_name_from_text(o->subject, cl->subject, sizeof cl->subject, &len)) {
      fprintf(stderr, "%s: --subject must look like /CN=name/O=org\n", client_prog);
      return EXIT_USAGE;
    }
    cl->subject_v = (struct der_view){cl->subject, len};
  } else if (o->type == CMP_CR || o->type == CMP_KUR) {
    /* By default the subject of the certificate being renewed or updated
     * (RFC 9483 §4.1.3 for kur; the same for a cr, as OpenSSL does). */
    const struct certs *from = cl->old.n > 0 ? &cl->old : &cl->signer;
    struct cg_x509 x;
    if (from->n > 0 && cg_x509_parse(from->v[0].p, from->v[0].len, &x) == 0)
      cl->subject_v = x.subject;
  }
  return 0;
}

/* ---- requests ------------------------------------------------------------ */

/* The PKIBody of the request into body / *len, and what the engine must know
 * of it. */
static int build_request(struct client *cl, uint8_t *body, size_t *len,
                         struct cmp_client_req *req, uint8_t *spki, size_t spki_cap) {
  const struct der_view none = {NULL, 0};
  struct der_view token = none;
  if (cl->o.challenge != NULL)
    token = (struct der_view){(const uint8_t *)cl->o.challenge, strlen(cl->o.challenge)};
  memset(req, 0, sizeof *req);
  req->type = cl->o.type;
  req->cert_req_id = -1; /* p10cr (RFC 9483 §4.1.4); rr and genm: what a pollReq names */
  int err;
  switch (cl->o.type) {
  case CMP_IR:
  case CMP_CR:
  case CMP_KUR: {
    struct der_view old = none;
    if (cl->o.type == CMP_KUR)
      old = cl->old.n > 0 ? cl->old.v[0] : cl->signer.v[0];
    req->cert_req_id = 0;
    size_t spki_len;
    if (cl->o.central_keygen) {
      /* The server makes the key: none to expect in the certificate. */
      enum cg_key_type type = CG_KEY_NONE;
      unsigned bits = 0;
      if (cl->o.newkeytype != NULL)
        new_key_type(cl->o.newkeytype, &type, &bits);
      err = cmp_client_central_req_body(cl->o.type, 0, cl->subject_v, type, bits, old, token,
                                        body, MAX_BODY, len);
      break;
    }
    err = cmp_client_cert_req_body(cl->o.type, 0, cl->subject_v, cl->new_key, old, token, body,
                                   MAX_BODY, len);
    if (err == 0 && (err = cg_key_spki(cl->new_key, spki, spki_cap, &spki_len)) == 0)
      req->expect_spki = (struct der_view){spki, spki_len};
    break;
  }
  case CMP_P10CR: {
    struct cmp_p10 csr;
    err = cmp_client_p10cr_body((struct der_view){cl->csr, cl->csr_len}, body, MAX_BODY, len);
    /* The certificate must hold the CSR's key. */
    if (err == 0 && cmp_p10_decode(cl->csr, cl->csr_len, &csr) == 0 && csr.spki.len <= spki_cap) {
      memcpy(spki, csr.spki.p, csr.spki.len);
      req->expect_spki = (struct der_view){spki, csr.spki.len};
    }
    break;
  }
  case CMP_RR: {
    const struct certs *c = cl->old.n > 0 ? &cl->old : &cl->signer;
    struct cg_x509 x;
    if (cg_x509_parse(c->v[0].p, c->v[0].len, &x))
      return CG_EDER;
    err = cmp_client_rr_body(x.issuer, x.serial, cl->o.revreason, body, MAX_BODY, len);
    break;
  }
  default:
    err = cmp_client_genm_ask_body(cl->o.infotypes, cl->o.n_infotypes,
                                   cl->anchors.n > 0 ? cl->anchors.v[0] : none, body, MAX_BODY,
                                   len);
    break;
  }
  req->body = (struct der_view){body, *len};
  return err;
}

/* ---- the exchange -------------------------------------------------------- */

static void advance(struct client *cl);

static void finish(struct client *cl) {
  cl->done = true;
  cl->exit_code = client_conclude(cl);
  if (!uv_is_closing((uv_handle_t *)&cl->timer))
    uv_close((uv_handle_t *)&cl->timer, NULL);
  if (cl->http != NULL)
    cg_http_client_close(cl->http, NULL, NULL);
  cl->http = NULL;
  if (cl->coap_client != NULL)
    cg_coap_client_close(cl->coap_client);
  cl->coap_client = NULL;
}

static int64_t wall(void) { return (int64_t)time(NULL); }

/* An answer (or the failure to get one, detail) was given to the engine. */
static void answered(struct client *cl, const char *detail) {
  if (cmp_client_txn_step(cl->txn) == CMP_CLIENT_WAIT)
    fprintf(stderr, "%s: warning: the poll did not get through (%s); trying again in %llu s\n",
            client_prog, detail, (unsigned long long)cmp_client_txn_wait(cl->txn));
  advance(cl);
}

static void on_response(void *arg, int err, const struct cg_http_response *rsp) {
  struct client *cl = arg;
  char detail[512] = "";
  if (err) {
    const char *d = cl->http != NULL ? cg_http_client_detail(cl->http) : "";
    snprintf(detail, sizeof detail, "transport: %s%s%s", cg_strerror(err), d[0] ? ": " : "", d);
    cmp_client_txn_failed(cl->txn, err, detail, wall());
  } else if (rsp->status != 200) {
    /* The gateway explains HTTP errors in a short text body. */
    size_t n = 0;
    while (n < rsp->len && n < 200 && rsp->body[n] >= 0x20 && rsp->body[n] < 0x7f)
      n++;
    snprintf(detail, sizeof detail, "HTTP status %d from %s: %.*s", rsp->status, cl->o.url,
             (int)n, (const char *)rsp->body);
    cmp_client_txn_failed(cl->txn, CG_EBAD_DATA, detail, wall());
  } else if (!cg_http_is_pkixcmp(rsp->content_type, strlen(rsp->content_type))) {
    snprintf(detail, sizeof detail,
             "the response has Content-Type '%s', not application/pkixcmp", rsp->content_type);
    cmp_client_txn_failed(cl->txn, CG_EBAD_DATA, detail, wall());
  } else {
    cmp_client_txn_received(cl->txn, rsp->body, rsp->len, wall());
  }
  answered(cl, detail);
}

/* A CoAP answer: 2.04 with Content-Format 259 is the CMP message; an error
 * code comes with a diagnostic text (RFC 7252 §5.5.2). */
static void on_coap_response(void *arg, int err, const struct cg_coap_response *rsp) {
  struct client *cl = arg;
  char detail[512] = "";
  if (err) {
    snprintf(detail, sizeof detail, "transport: %s", cg_strerror(err));
    cmp_client_txn_failed(cl->txn, err, detail, wall());
  } else if (rsp->code != 204) {
    size_t n = 0;
    while (n < rsp->len && n < 200 && rsp->body[n] >= 0x20 && rsp->body[n] < 0x7f)
      n++;
    snprintf(detail, sizeof detail, "CoAP %d.%02d from %s: %.*s", rsp->code / 100,
             rsp->code % 100, cl->o.url, (int)n, (const char *)rsp->body);
    cmp_client_txn_failed(cl->txn, CG_EBAD_DATA, detail, wall());
  } else if (rsp->format != 259) {
    snprintf(detail, sizeof detail, "the response has Content-Format %d, not application/pkixcmp",
             rsp->format);
    cmp_client_txn_failed(cl->txn, CG_EBAD_DATA, detail, wall());
  } else {
    cmp_client_txn_received(cl->txn, rsp->body, rsp->len, wall());
  }
  answered(cl, detail);
}

static void on_tcp_answer(void *arg, int err, const struct cg_tcp_answer *a, const char *detail);

/* A message (or, with ref non-zero, a TCP pollReq) over its own TCP connection. */
static int tcp_send(struct client *cl, uint32_t ref) {
  struct cg_tcp_exchange_opts o = {.host = cl->host,
                                   .port = cl->port,
                                   .framing = cl->framing,
                                   .max_frame = MAX_RESPONSE,
                                   .timeout_ms = cl->o.timeout_s * 1000};
  uint8_t r[4];
  const uint8_t *msg;
  size_t len;
  cg_tcp_put32(r, ref);
  cmp_client_txn_message(cl->txn, &msg, &len);
  return ref != 0 ? cg_tcp_exchange(&cl->loop, &o, 2, r, sizeof r, on_tcp_answer, cl)
                  : cg_tcp_exchange(&cl->loop, &o, 0, msg, len, on_tcp_answer, cl);
}

static void on_tcp_poll_timer(uv_timer_t *t) {
  struct client *cl = t->data;
  int err = tcp_send(cl, cl->tcp_poll_ref);
  if (err) {
    char detail[128];
    snprintf(detail, sizeof detail, "transport: %s", cg_strerror(err));
    cmp_client_txn_failed(cl->txn, err, detail, wall());
    advance(cl);
  }
}

/* A TCP answer: the CMP message goes the way an HTTP body does; a TCP pollRep
 * makes us poll at the transport level; an errorMsgRep ends the transaction. */
static void on_tcp_answer(void *arg, int err, const struct cg_tcp_answer *a, const char *detail) {
  struct client *cl = arg;
  char text[512];
  if (cl->done)
    return;
  if (err != 0) {
    snprintf(text, sizeof text, "transport: %s%s%s", cg_strerror(err), detail[0] ? ": " : "",
             detail);
    if (cl->tcp_poll_ref != 0 && uv_now(&cl->loop) < cl->tcp_poll_deadline) {
      /* A TCP poll that did not get through (the server restarting, say) is
       * tried again after the same wait. */
      fprintf(stderr, "%s: warning: the poll did not get through (%s); trying again in %llu s\n",
              client_prog, text, (unsigned long long)cl->tcp_wait_s);
      uv_timer_start(&cl->timer, on_tcp_poll_timer, cl->tcp_wait_s * 1000, 0);
      return;
    }
    cmp_client_txn_failed(cl->txn, err, text, wall());
  } else if (a->type == 5) {
    cmp_client_txn_received(cl->txn, a->value, a->len, wall());
  } else if (a->type == 1 && a->len == 8) {
    uint32_t ref = cg_tcp_get32(a->value), when = cg_tcp_get32(a->value + 4);
    /* RFC 2510: an absolute time (seconds since 1970 UTC); version 10: seconds */
    int64_t wait = cl->framing == CG_TCP_V10 ? (int64_t)when : (int64_t)when - wall();
    if (wait < 0)
      wait = 0;
    char tid[2 * CMP_MAX_TXID + 1];
    struct der_view id = cmp_client_txn_id(cl->txn);
    cg_hex(id.p, id.len, tid);
    printf("TCP pollRep: polling reference %08x, check back in %lld s; transaction %s\n", ref,
           (long long)wait, tid);
    if (cl->tcp_poll_ref == 0)
      cl->tcp_poll_deadline = uv_now(&cl->loop) + cl->o.poll_max_s * 1000;
    cl->tcp_poll_ref = ref;
    cl->tcp_wait_s = wait > 0 ? (uint64_t)wait : 1;
    if (ref != 0 && uv_now(&cl->loop) + (uint64_t)wait * 1000 <= cl->tcp_poll_deadline) {
      uv_timer_start(&cl->timer, on_tcp_poll_timer, (uint64_t)wait * 1000, 0);
      return;
    }
    snprintf(text, sizeof text,
             ref == 0 ? "a TCP pollRep without a polling reference"
                      : "still waiting after %llu s of TCP polling (--poll-max)",
             (unsigned long long)cl->o.poll_max_s);
    cmp_client_txn_failed(cl->txn, CG_ETIMEOUT, text, wall());
  } else if (a->type == 6) {
    /* version 10: errorCode, length of data, data, text; RFC 2510: text */
    size_t skip = 0;
    unsigned code = 0;
    if (cl->framing == CG_TCP_V10 && a->len >= 4) {
      code = (unsigned)a->value[0] << 8 | a->value[1];
      skip = 4 + ((size_t)a->value[2] << 8 | a->value[3]);
    }
    size_t n = 0;
    while (skip + n < a->len && n < 300 && a->value[skip + n] >= 0x20 && a->value[skip + n] < 0x7f)
      n++;
    snprintf(text, sizeof text, "TCP errorMsgRep%s: %.*s",
             code == 0x0100 ? " (version)" : code == 0x0200 ? " (client error)"
             : code == 0x0300 ? " (server error)" : "",
             (int)n, skip < a->len ? (const char *)a->value + skip : "");
    cmp_client_txn_failed(cl->txn, CG_EBAD_DATA, text, wall());
  } else {
    snprintf(text, sizeof text, "unexpected TCP message type %d", a->type);
    cmp_client_txn_failed(cl->txn, CG_EBAD_DATA, text, wall());
  }
  cl->tcp_poll_ref = 0;
  advance(cl);
}

static void send_message(struct client *cl) {
  const uint8_t *msg;
  size_t len;
  cmp_client_txn_message(cl->txn, &msg, &len);
  int err = cl->tcp ? tcp_send(cl, 0)
            : cl->coap
                ? cg_coap_client_post(cl->coap_client, cl->path, msg, len, on_coap_response, cl)
                : cg_http_client_post(cl->http, cl->path, msg, len, on_response, cl);
  if (err) {
    char detail[512];
    bool http = !cl->tcp && !cl->coap;
    snprintf(detail, sizeof detail, "transport: %s%s%s", cg_strerror(err), http ? ": " : "",
             http ? cg_http_client_detail(cl->http) : "");
    cmp_client_txn_failed(cl->txn, err, detail, wall());
    advance(cl);
  }
}

static void on_wake(uv_timer_t *t) {
  struct client *cl = t->data;
  cmp_client_txn_wake(cl->txn, wall());
  advance(cl);
}

/* Runs the engine's steps until it waits for I/O or a timer, or is done. */
static void advance(struct client *cl) {
  for (;;) {
    switch (cmp_client_txn_step(cl->txn)) {
    case CMP_CLIENT_COMPUTE: {
      cmp_client_txn_compute(cl->txn);
      const struct cmp_msg *m = cmp_client_txn_accepted(cl->txn);
      if (m != NULL && cmp_client_txn_step(cl->txn) != CMP_CLIENT_DONE)
        client_report(cl, m);
      else if (m != NULL && (m->type == CMP_IP || m->type == CMP_CP || m->type == CMP_KUP))
        client_report(cl, m); /* the certificate of an implicit confirmation */
      continue;
    }
    case CMP_CLIENT_SEND:
      send_message(cl);
      return;
    case CMP_CLIENT_WAIT:
      uv_timer_start(&cl->timer, on_wake, cmp_client_txn_wait(cl->txn) * 1000, 0);
      return;
    case CMP_CLIENT_DONE:
      finish(cl);
      return;
    }
  }
}

/* ---- outputs ------------------------------------------------------------- */

/* ---- outputs ------------------------------------------------------------- */

static int write_file(const char *path, const void *data, size_t len, unsigned mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
  if (fd < 0 || fchmod(fd, (mode_t)mode) != 0) {
    if (fd >= 0)
      close(fd);
    fprintf(stderr, "%s: cannot write %s: %s\n", client_prog, path, strerror(errno));
    return CG_EIO;
  }
  const uint8_t *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      fprintf(stderr, "%s: cannot write %s: %s\n", client_prog, path, strerror(errno));
      close(fd);
      return CG_EIO;
    }
    p += w;
    len -= (size_t)w;
  }
  if (close(fd) != 0) {
    fprintf(stderr, "%s: cannot write %s: %s\n", client_prog, path, strerror(errno));
    return CG_EIO;
  }
  return 0;
}

/* PEM blocks of the given DER items, one after the other, into path. */
static int write_pem(const char *path, const char *label, const struct der_view *items, size_t n,
                     unsigned mode) {
  size_t cap = 64;
  for (size_t i = 0; i < n; i++)
    cap += items[i].len * 2 + 128;
  char *text = malloc(cap);
  if (text == NULL)
    return CG_ENOMEM;
  size_t off = 0, len;
  int err = 0;
  for (size_t i = 0; i < n && err == 0; i++) {
    err = cg_pem_encode(label, items[i].p, items[i].len, text + off, cap - off, &len);
    off += len;
  }
  if (err == 0)
    err = write_file(path, text, off, mode);
  cg_wipe(text, cap);
  free(text);
  return err;
}


/* The private key of an answer to --central-keygen (RFC 9483 §4.1.6):
 * CertifiedKeyPair privateKey [0] EncryptedKey, envelopedData [0] IMPLICIT
 * EnvelopedData, written as a CMS ContentInfo. */
static int write_key_envelope(const char *path, struct der_view private_key) {
  struct der_reader r, pk;
  struct der_tlv env;
  if (private_key.p == NULL) {
    fprintf(stderr, "%s: error: the answer holds no private key for --keyenvout\n", client_prog);
    return CG_EBAD_DATA;
  }
  cg_der_reader_view(&r, private_key);
  if (cg_der_enter(&r, DER_CTX_CONS(0), &pk) != 0 || cg_der_expect(&pk, DER_CTX_CONS(0), &env) != 0) {
    fprintf(stderr, "%s: error: the private key is not in an EnvelopedData\n", client_prog);
    return CG_EBAD_DATA;
  }
  /* the EnvelopedData SEQUENCE: the [0]'s contents under the SEQUENCE tag */
  uint8_t *seq = malloc(env.raw.len), *ci = NULL;
  size_t ci_len;
  if (seq == NULL)
    return CG_ENOMEM;
  memcpy(seq, env.raw.p, env.raw.len);
  seq[0] = DER_SEQUENCE;
  int err = cg_cms_enveloped_content_info((struct der_view){seq, env.raw.len}, &ci, &ci_len);
  free(seq);
  if (err == 0)
    err = write_file(path, ci, ci_len, 0600);
  free(ci);
  return err;
}

static int write_outputs(struct client *cl) {
  const struct opts *o = &cl->o;
  struct cmp_client_result r;
  cmp_client_txn_result(cl->txn, &r);
  int err = 0;
  if (cl->new_cert != NULL && o->certout != NULL) {
    struct der_view cert = {cl->new_cert, cl->new_cert_len};
    err = write_pem(o->certout, "CERTIFICATE", &cert, 1, 0644);
    if (err == 0)
      printf("certificate written to %s\n", o->certout);
    if (err == 0 && cl->new_key_generated) {
      uint8_t der[4096];
      size_t len;
      char path[4096];
      snprintf(path, sizeof path, "%s.key", o->certout);
      err = cg_key_private_pkcs8(cl->new_key, der, sizeof der, &len);
      if (err == 0)
        err = write_pem(path, "PRIVATE KEY", &(struct der_view){der, len}, 1, 0600);
      cg_wipe(der, sizeof der);
      if (err == 0)
        printf("new private key written to %s\n", path);
    }
  }
  if (err == 0 && o->keyenvout != NULL && cl->new_cert != NULL) {
    err = write_key_envelope(o->keyenvout, r.private_key);
    if (err == 0)
      printf("private key envelope written to %s\n", o->keyenvout);
  }
  if (err == 0 && o->type == CMP_GENM)
    client_genp_ca_certs(cl, r.answer);
  if (err == 0 && o->chainout != NULL) {
    err = write_pem(o->chainout, "CERTIFICATE", cl->chain_v, cl->n_chain, 0644);
    if (err == 0)
      printf("%zu chain certificate(s) written to %s\n", cl->n_chain, o->chainout);
  }
  if (err == 0 && o->type == CMP_GENM && o->genpout != NULL && r.answer != NULL) {
    err = write_file(o->genpout, r.answer->raw.p, r.answer->raw.len, 0644);
    if (err == 0)
      printf("genp written to %s\n", o->genpout);
  }
  if (err == 0 && o->type == CMP_GENM && o->crlout != NULL) {
    struct der_view crl = client_genp_crl(r.answer);
    if (crl.p == NULL) {
      fprintf(stderr, "%s: error: the genp holds no CRL for --crlout\n", client_prog);
      return EXIT_REFUSED;
    }
    err = write_file(o->crlout, crl.p, crl.len, 0644);
    if (err == 0)
      printf("CRL written to %s\n", o->crlout);
  }
  return err ? EXIT_REFUSED : 0;
}

/* ---- the command --------------------------------------------------------- */

static int run(struct client *cl) {
  uint8_t *body = malloc(MAX_BODY), spki[2048];
  size_t body_len = 0;
  struct cmp_client_req req;
  int err = body == NULL ? CG_ENOMEM : build_request(cl, body, &body_len, &req, spki, sizeof spki);
  cl->cfg = (struct cmp_client_cfg){.cred = cl->cred,
                                    .trusted = cl->anchors.v,
                                    .n_trusted = cl->anchors.n,
                                    .pvno = cl->o.pvno,
                                    .implicit_confirm = cl->o.implicit_confirm,
                                    .poll_max_s = cl->o.poll_max_s,
                                    .max_iterations = MAX_RESPONSE_ITERATIONS,
                                    .nested = cl->nested_key != NULL ? &cl->nested_cred : NULL};
  if (err == 0)
    err = cmp_client_txn_new(&cl->cfg, &req, wall(), &cl->txn);
  free(body);
  if (err) {
    fprintf(stderr, "%s: error: cannot write the %s: %s\n", client_prog, cmp_body_name(cl->o.type),
            cg_strerror(err));
    return EXIT_REFUSED;
  }
  if (uv_loop_init(&cl->loop) != 0)
    return EXIT_REFUSED;
  int rc = 0;
  struct cg_http_client_opts ho = {.host = cl->host,
                                   .port = cl->port,
                                   .max_body = MAX_RESPONSE,
                                   .timeout_ms = cl->o.timeout_s * 1000,
                                   .tls = cl->tls};
  struct sockaddr_storage ss;
  const char *numeric = strcmp(cl->host, "localhost") == 0 ? "127.0.0.1" : cl->host;
  struct cg_coap_client_opts co = {.host = cl->host,
                                   .port = cl->port,
                                   .max_body = MAX_RESPONSE,
                                   .timeout_ms = cl->o.timeout_s * 1000};
  bool host_ok = cl->tcp    ? uv_ip4_addr(numeric, cl->port, (struct sockaddr_in *)&ss) == 0 ||
                               uv_ip6_addr(numeric, cl->port, (struct sockaddr_in6 *)&ss) == 0
                 : cl->coap ? cg_coap_client_new(&cl->loop, &co, &cl->coap_client) == 0
                            : cg_http_client_new(&cl->loop, &ho, &cl->http) == 0;
  if (!host_ok) {
    fprintf(stderr, "%s: error: cannot use host '%s' (numeric addresses and localhost only)\n",
            client_prog, cl->host);
    rc = EXIT_USAGE;
  } else {
    uv_timer_init(&cl->loop, &cl->timer);
    cl->timer.data = cl;
    advance(cl);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    rc = cl->done ? cl->exit_code : EXIT_TRANSPORT;
  }
  if (uv_loop_close(&cl->loop) != 0)
    fprintf(stderr, "%s: warning: event loop closed with handles open\n", client_prog);
  if (rc == 0)
    rc = write_outputs(cl);
  return rc;
}

int cmd_client(int argc, char **argv) {
  /* One line per step, as it happens: a client that polls may run for long,
   * and whoever watches it (an operator, a script waiting for the
   * transaction ID) needs each line when it is printed. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct client *cl = calloc(1, sizeof *cl);
  if (cl == NULL)
    return EXIT_REFUSED;
  int rc = parse_args(&cl->o, argc, argv);
  if (rc == 0)
    rc = load_inputs(cl);
  if (rc == 0)
    rc = run(cl);
  if (rc < 0)
    rc = 0; /* --help */
  cmp_client_txn_free(cl->txn);
  cg_key_free(cl->key);
  cg_key_free(cl->new_key);
  cg_tls_client_free(cl->tls);
  cg_key_free(cl->nested_key);
  free_certs(&cl->nested_ra);
  free_certs(&cl->signer);
  free_certs(&cl->anchors);
  free_certs(&cl->old);
  free(cl->csr);
  free(cl->new_cert);
  for (size_t i = 0; i < cl->n_chain; i++)
    free(cl->chain[i]);
  cg_wipe(cl->secret, sizeof cl->secret);
  free(cl);
  return rc;
}
