/*
 * cmd_client.c - `cmpgw client`: a CMP client over HTTP (RFC 9810, RFC 9811)
 * (or over raw TCP, RFC 2510 or "version 10" framing: transports/tcp.h)
 * for operators and tests.  It runs one transaction: ir, cr, kur or p10cr
 * (then certConf / pkiConf unless implicit confirmation was granted), rr, or
 * genm, with the request builders of cmp/client.h and the HTTP client of
 * transports/http_client.h, on a libuv loop of its own.
 *
 * Delayed delivery (RFC 9810 §5.3.22, RFC 9483 §4.4): an ip/cp/kup with
 * status waiting, or an error message with status waiting (an rr or genm
 * the server serves later), makes the client poll: pollReq for the
 * certReqId (-1 for p10cr, rr and genm), pollRep's checkAfter honoured, until
 * the final answer or --poll-max seconds have passed.  Over raw TCP the
 * server may instead answer with a TCP-level pollRep (a polling reference and
 * a time to check back): the client then sends TCP pollReqs for that
 * reference, and the final answer is the answer to the original request.
 * Each TCP message goes over a connection of its own.
 *
 * Every response is checked before anything in it is believed: HTTP 200 with
 * application/pkixcmp, a PKIMessage that decodes, protection that verifies
 * (the MAC with our own secret, or a signature by extraCerts[0] whose path
 * to the --trusted anchors is valid), our transactionID and, as recipNonce,
 * the senderNonce we sent.  An error message whose protection cannot be
 * verified is still reported (it can only make us stop, which a network
 * attacker could do anyway), marked as unverified.  Files (--certout, the
 * generated key, --chainout, --genpout, --crlout) are written only when the
 * whole transaction succeeded.
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

#include "app/commands.h"
#include "app/setup.h"
#include "cmp/client.h"
#include "cmp/encode.h"
#include "cmp/genm.h"
#include "cmp/msg.h"
#include "cmp/p10.h"
#include "cmp/pbmac1.h"
#include "cmp/protect.h"
#include "cmp/records.h"
#include "core/certbuild.h"
#include "core/crypto.h"
#include "core/der.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"
#include "core/x509_verify.h"
#include "transports/http_client.h"
#include "transports/tcp_client.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_TRANSPORT 2

#define MAX_MSG (256 * 1024)        /* a request we build */
#define MAX_RESPONSE (1024 * 1024)  /* a response we accept */
#define MAX_CERTS 8                 /* certificates per input file */
#define MAX_INFOTYPES CMP_GENM_MAX_ITAV
#define MAX_RDNS 16
#define DEFAULT_ITERATIONS 10000
#define MAX_RESPONSE_ITERATIONS 1000000 /* a response may not make us hash longer */
#define MAX_PATH_DEPTH 5
#define NONCE_LEN 16
#define RC_CONFIRMING (-1) /* not an exit status: the certConf is on its way */
#define RC_WAITING (-2)    /* not an exit status: an error message saying waiting */
#define RC_POLLING (-3)    /* not an exit status: a pollReq is due */
#define DEFAULT_POLL_MAX 600

static const char prog[] = "cmpgw client";

/* The transaction's phase: the request, polls while the server makes us
 * wait, then (enrolments) the confirmation. */
enum phase { PH_REQUEST, PH_POLL, PH_CONFIRM, PH_DONE };

struct certs {
  uint8_t *der[MAX_CERTS];
  struct der_view v[MAX_CERTS];
  size_t n;
};

struct opts {
  int type; /* enum cmp_body_type of the request */
  const char *url, *ref, *secret, *cert, *key, *trusted, *newkey, *newkeytype, *subject,
      *csr, *oldcert, *challenge, *certout, *chainout, *genpout, *crlout, *nested_cert,
      *nested_key, *framing;
  bool pbmac1, implicit_confirm;
  uint32_t iterations;
  int revreason;
  uint64_t pvno;
  uint64_t timeout_s;
  uint64_t poll_max_s; /* 0: do not poll */
  enum cg_oid_id infotypes[MAX_INFOTYPES];
  size_t n_infotypes;
};

struct client {
  struct opts o;
  char host[64];
  int port;
  char path[512];
  bool tcp;                      /* --url tcp://... */
  enum cg_tcp_framing framing;
  uint32_t tcp_poll_ref;         /* a TCP pollRep's reference; 0: poll with CMP */

  /* inputs */
  struct cmp_client_cred cred;
  struct cg_key *key;          /* --key */
  struct certs signer;         /* --cert: the signer, then its chain */
  struct certs anchors;        /* --trusted */
  struct certs old;            /* --oldcert */
  struct certs nested_ra;      /* --nested-cert */
  struct cg_key *nested_key;   /* --nested-key */
  struct cg_key *new_key;      /* --newkey or generated */
  bool new_key_generated;
  uint8_t subject[1024];
  struct der_view subject_v;   /* p NULL: none */
  uint8_t *csr;
  size_t csr_len;

  /* the exchange */
  uv_loop_t loop;
  struct cg_http_client *http;
  uv_timer_t poll_timer;
  uint64_t poll_deadline;      /* uv_now() ms after which we stop polling */
  uint64_t poll_interval;      /* seconds of the last wait: a failed poll is retried after it */
  unsigned polls;
  uint8_t poll_nonce[CMP_MAX_NONCE]; /* senderNonce of the answer a pollReq echoes */
  size_t poll_nonce_len;
  enum phase phase;
  bool rejecting;              /* our certConf rejects the certificate */
  uint8_t txid[16];
  uint8_t nonce[NONCE_LEN];    /* senderNonce of the message in flight */
  uint8_t outer_txid[16], outer_nonce[NONCE_LEN]; /* of a nested wrapper */
  int64_t cert_req_id;
  uint8_t *req;
  size_t req_len;
  uint8_t *rsp[2];             /* responses, kept while views into them are used */
  size_t rsp_len[2];
  struct cmp_msg msg[2];
  int exit_code;

  /* results */
  struct der_view new_cert;
  struct der_view chain[MAX_CERTS];
  size_t n_chain;
};

/* ---- printing ------------------------------------------------------------ */


static const char *status_name(int status) {
  static const char *const names[] = {"accepted", "grantedWithMods", "rejection", "waiting",
                                      "revocationWarning", "revocationNotification",
                                      "keyUpdateWarning"};
  return status >= 0 && status < (int)(sizeof names / sizeof names[0]) ? names[status]
                                                                       : "unknown";
}

/* PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String, as "a", "b" with
 * anything unprintable replaced by '?'. */
static void free_text(struct der_view text, char *out, size_t cap) {
  struct der_reader r, seq;
  struct der_tlv t;
  size_t n = 0;
  out[0] = '\0';
  der_reader_view(&r, text);
  if (der_enter(&r, DER_SEQUENCE, &seq))
    return;
  while (!der_at_end(&seq) && der_next(&seq, &t) == 0 && n + 8 < cap) {
    if (n > 0) {
      memcpy(out + n, ", ", 2);
      n += 2;
    }
    out[n++] = '"';
    for (size_t i = 0; i < t.val.len && n + 3 < cap; i++) {
      uint8_t ch = t.val.p[i];
      out[n++] = ch >= 0x20 && ch < 0x7f && ch != '"' ? (char)ch : '?';
    }
    out[n++] = '"';
  }
  out[n] = '\0';
}

/* "PKIStatus rejection, failInfo badA,badB, statusString "..."" */
static void status_line(const struct cmp_status_info *st, char *out, size_t cap) {
  int n = snprintf(out, cap, "PKIStatus %s", status_name(st->status));
  if (st->has_fail_info && st->fail_info != 0 && n > 0 && (size_t)n < cap) {
    n += snprintf(out + n, cap - (size_t)n, ", failInfo ");
    bool first = true;
    for (unsigned b = 0; b < 32 && n > 0 && (size_t)n < cap; b++) {
      if (!(st->fail_info & (1u << b)))
        continue;
      const char *name = cg_failinfo_name((int)b);
      if (name == NULL)
        name = "unknownBit";
      n += snprintf(out + n, cap - (size_t)n, "%s%s", first ? "" : ",", name);
      first = false;
    }
  }
  if (st->status_string.p != NULL && n > 0 && (size_t)n < cap) {
    char text[512];
    free_text(st->status_string, text, sizeof text);
    snprintf(out + n, cap - (size_t)n, ", statusString %s", text);
  }
}

static void print_status_error(const struct cmp_status_info *st, const char *note) {
  char line[1024];
  status_line(st, line, sizeof line);
  fprintf(stderr, "%s: error: %s%s\n", prog, line, note != NULL ? note : "");
}

/* ---- inputs -------------------------------------------------------------- */

static int usage_to(FILE *f) {
  fprintf(f,
          "usage: cmpgw client ir|cr|kur|p10cr|rr|genm --url http://HOST:PORT/PATH\n"
          "         | --url tcp://HOST:PORT [--framing v10|rfc2510]\n"
          "         [--ref REF --secret SECRET [--pbmac1] [--iterations N] | --cert PEM --key PEM]\n"
          "         [--trusted PEM] [--newkey PEM | --newkeytype p256|p384|ed25519|rsa2048|rsa3072]\n"
          "         [--subject /CN=../O=..]\n"
          "         [--csr FILE] [--oldcert PEM] [--revreason N] [--challenge TEXT]\n"
          "         [--implicit-confirm] [--pvno 2|3] [--infotype NAME[,NAME]]... [--timeout S]\n"
          "         [--poll-max S]\n"
          "         [--certout FILE] [--chainout FILE] [--genpout FILE] [--crlout FILE]\n"
          "         [--nested-cert PEM --nested-key PEM]\n"
          "  --nested-*: send the first request inside a nested message signed as an RA\n"
          "  (RFC 9483 §5.2.2.2) and read the answer out of the nested reply\n"
          "  ir/cr/kur without --newkey: a new key (--newkeytype, default p256), saved as\n"
          "  CERTOUT.key (mode 0600)\n"
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

static const struct {
  const char *name;
  enum cg_oid_id oid;
} infotype_names[] = {
    {"caCerts", CG_OID_IT_CA_CERTS},
    {"rootCaKeyUpdate", CG_OID_IT_ROOT_CA_KEY_UPDATE},
    {"certReqTemplate", CG_OID_IT_CERT_REQ_TEMPLATE},
    {"signKeyPairTypes", CG_OID_IT_SIGN_KEY_PAIR_TYPES},
    {"crlStatusList", CG_OID_IT_CRL_STATUS_LIST},
    {"crls", CG_OID_IT_CRLS},
    {"rootCaCert", CG_OID_IT_ROOT_CA_CERT},
};

static const char *infotype_name(struct der_view oid) {
  enum cg_oid_id id = cg_oid_lookup(oid);
  for (size_t i = 0; i < sizeof infotype_names / sizeof infotype_names[0]; i++)
    if (infotype_names[i].oid == id)
      return infotype_names[i].name;
  return NULL;
}

static bool add_infotypes(struct opts *o, const char *list) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    size_t i = 0;
    while (i < sizeof infotype_names / sizeof infotype_names[0] &&
           strcmp(infotype_names[i].name, t) != 0)
      i++;
    if (i == sizeof infotype_names / sizeof infotype_names[0] || o->n_infotypes == MAX_INFOTYPES) {
      fprintf(stderr, "%s: unknown or too many infotypes: '%s'\n", prog, t);
      return false;
    }
    o->infotypes[o->n_infotypes++] = infotype_names[i].oid;
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
      {"--cert", &o->cert},       {"--key", &o->key},           {"--trusted", &o->trusted},
      {"--newkey", &o->newkey},   {"--newkeytype", &o->newkeytype},
      {"--subject", &o->subject}, {"--csr", &o->csr},           {"--oldcert", &o->oldcert},
      {"--challenge", &o->challenge}, {"--certout", &o->certout}, {"--chainout", &o->chainout},
      {"--genpout", &o->genpout}, {"--crlout", &o->crlout},
      {"--nested-cert", &o->nested_cert}, {"--nested-key", &o->nested_key},
      {"--framing", &o->framing},
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
      fprintf(stderr, "%s: bad option '%s'\n", prog, a);
      return usage();
    }
  }
  return 0;
}

/* http://HOST[:PORT][/PATH] or tcp://HOST:PORT, HOST numeric (IPv6 in
 * brackets) or localhost. */
static bool parse_url(struct client *cl, const char *url) {
  static const char scheme[] = "http://", tcp_scheme[] = "tcp://";
  const char *h;
  if (strncmp(url, scheme, sizeof scheme - 1) == 0) {
    h = url + sizeof scheme - 1;
  } else if (strncmp(url, tcp_scheme, sizeof tcp_scheme - 1) == 0) {
    h = url + sizeof tcp_scheme - 1;
    cl->tcp = true;
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
  cl->port = cl->tcp ? 829 : 80; /* 829: pkix-3-ca-ra, RFC 2510's port */
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

/* openssl's /A=B/C=D form (a backslash escapes the next character) into a
 * DER Name via cert_make_name(). */
static bool parse_dn(const char *s, uint8_t *out, size_t cap, size_t *len) {
  static const struct {
    const char *name;
    enum cg_oid_id oid;
  } attrs[] = {{"CN", CG_OID_AT_CN},           {"O", CG_OID_AT_O},
               {"OU", CG_OID_AT_OU},           {"C", CG_OID_AT_C},
               {"L", CG_OID_AT_L},             {"ST", CG_OID_AT_ST},
               {"emailAddress", CG_OID_AT_EMAIL}, {"serialNumber", CG_OID_AT_SERIAL},
               {"street", CG_OID_AT_STREET},   {"DC", CG_OID_AT_DC},
               {"UID", CG_OID_AT_UID}};
  char buf[1024];
  enum cg_oid_id types[MAX_RDNS];
  const char *values[MAX_RDNS];
  size_t n = 0, k = 0;
  if (*s != '/' || strlen(s) >= sizeof buf)
    return false;
  s++;
  while (*s != '\0') {
    /* one "A=B": the name up to '=', the value up to an unescaped '/' */
    const char *eq = strchr(s, '=');
    if (eq == NULL || eq == s || n == MAX_RDNS)
      return false;
    size_t a = 0;
    while (a < sizeof attrs / sizeof attrs[0] &&
           (strlen(attrs[a].name) != (size_t)(eq - s) ||
            strncmp(attrs[a].name, s, (size_t)(eq - s)) != 0))
      a++;
    if (a == sizeof attrs / sizeof attrs[0]) {
      fprintf(stderr, "%s: unknown attribute '%.*s' in the subject\n", prog, (int)(eq - s), s);
      return false;
    }
    types[n] = attrs[a].oid;
    values[n] = buf + k;
    for (s = eq + 1; *s != '\0' && *s != '/'; s++) {
      if (*s == '\\' && s[1] != '\0')
        s++;
      buf[k++] = *s;
    }
    if (buf + k == values[n])
      return false;
    buf[k++] = '\0';
    n++;
    if (*s == '/')
      s++;
  }
  return cert_make_name(types, values, n, out, cap, len) == 0;
}

/* Every CERTIFICATE block of a PEM file (cg_x509_pem_bundle), or one DER
 * certificate. */
static int load_certs(const char *path, struct certs *c) {
  uint8_t *text;
  size_t len;
  if (app_read_file(path, &text, &len)) {
    fprintf(stderr, "%s: cannot read %s\n", prog, path);
    return CG_EIO;
  }
  struct cg_x509 x;
  if (len > 0 && text[0] == 0x30 && cg_x509_parse(text, len, &x) == 0) {
    c->der[0] = text;
    c->v[0] = (struct der_view){text, len};
    c->n = 1;
    return 0;
  }
  int err = cg_x509_pem_bundle((const char *)text, len, c->der, c->v, MAX_CERTS, &c->n);
  free(text);
  if (err == 0 && c->n == 0)
    err = CG_ENOT_FOUND;
  if (err)
    fprintf(stderr, "%s: %s holds no readable certificate\n", prog, path);
  return err;
}

static void free_certs(struct certs *c) {
  for (size_t i = 0; i < c->n; i++)
    free(c->der[i]);
  c->n = 0;
}

/* A private key from PEM (PKCS#8, SEC1 or PKCS#1). */
static int load_key(const char *path, struct cg_key **key) {
  static const char *const labels[] = {"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"};
  uint8_t *text, der[8192];
  size_t len, der_len, used;
  if (app_read_file(path, &text, &len)) {
    fprintf(stderr, "%s: cannot read %s\n", prog, path);
    return CG_EIO;
  }
  int err = CG_ENOT_FOUND;
  for (size_t i = 0; i < 3 && err; i++)
    if (cg_pem_decode(labels[i], (const char *)text, len, der, sizeof der, &der_len, &used) == 0)
      err = cg_key_from_private_der(der, der_len, key);
  cg_wipe(der, sizeof der);
  cg_wipe(text, len);
  free(text);
  if (err)
    fprintf(stderr, "%s: %s holds no usable private key\n", prog, path);
  return err;
}

/* The CSR for p10cr, DER or PEM. */
static int load_csr(struct client *cl) {
  uint8_t *data;
  size_t len;
  if (app_read_file(cl->o.csr, &data, &len)) {
    fprintf(stderr, "%s: cannot read %s\n", prog, cl->o.csr);
    return CG_EIO;
  }
  if (len > 0 && data[0] != 0x30) {
    size_t der_len, used;
    uint8_t *der = malloc(len);
    int err = der == NULL ? CG_ENOMEM
                          : cg_pem_decode("CERTIFICATE REQUEST", (const char *)data, len, der,
                                          len, &der_len, &used);
    free(data);
    if (err) {
      free(der);
      fprintf(stderr, "%s: %s holds no certificate request\n", prog, cl->o.csr);
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

/* Checks what the command needs and reads every input file. */
static int load_inputs(struct client *cl) {
  struct opts *o = &cl->o;
  bool mac = o->ref != NULL || o->secret != NULL;
  bool sig = o->cert != NULL || o->key != NULL;
  bool enrol = o->type == CMP_IR || o->type == CMP_CR || o->type == CMP_KUR;
  const char *why = NULL;
  if (o->url == NULL || !parse_url(cl, o->url))
    why = "--url http://HOST:PORT/PATH or tcp://HOST:PORT is required (numeric host or localhost)";
  else if (o->framing != NULL && (!cl->tcp || (strcmp(o->framing, "v10") != 0 &&
                                               strcmp(o->framing, "rfc2510") != 0)))
    why = "--framing is v10 or rfc2510, with a tcp:// URL";
  else if (mac == sig)
    why = "give either --ref and --secret, or --cert and --key";
  else if (mac && (o->ref == NULL || o->secret == NULL))
    why = "--ref and --secret go together";
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
  else if (enrol && o->newkey == NULL && o->certout == NULL)
    why = "a generated key is saved beside --certout: give --certout (or --newkey)";
  else if ((o->nested_cert == NULL) != (o->nested_key == NULL))
    why = "--nested-cert and --nested-key go together";
  else if (o->pbmac1 && o->iterations < 1000)
    why = "PBMAC1 needs --iterations of at least 1000";
  else if (mac && !o->pbmac1 && o->iterations < CMP_PBM_MIN_ITERATIONS)
    why = "PasswordBasedMac needs --iterations of at least 100";
  if (why != NULL) {
    fprintf(stderr, "%s: %s\n", prog, why);
    return EXIT_USAGE;
  }

  cl->framing = o->framing != NULL && !strcmp(o->framing, "rfc2510") ? CG_TCP_RFC2510 : CG_TCP_V10;
  if (o->nested_cert != NULL &&
      (load_certs(o->nested_cert, &cl->nested_ra) || load_key(o->nested_key, &cl->nested_key)))
    return EXIT_USAGE;
  if (sig) {
    if (load_certs(o->cert, &cl->signer) || load_key(o->key, &cl->key))
      return EXIT_USAGE;
    cl->cred.key = cl->key;
    cl->cred.cert = cl->signer.v[0];
    cl->cred.chain = cl->signer.v + 1;
    cl->cred.n_chain = cl->signer.n - 1;
  } else {
    cl->cred.secret = (const uint8_t *)o->secret;
    cl->cred.secret_len = strlen(o->secret);
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
  if (enrol) {
    enum cg_key_type type = CG_KEY_EC;
    unsigned bits = 256;
    if (o->newkey != NULL) {
      if (load_key(o->newkey, &cl->new_key))
        return EXIT_USAGE;
    } else if ((o->newkeytype != NULL && !new_key_type(o->newkeytype, &type, &bits)) ||
               cg_key_generate(type, bits, &cl->new_key)) {
      fprintf(stderr, "%s: cannot generate a key\n", prog);
      return EXIT_REFUSED;
    } else {
      cl->new_key_generated = true;
    }
  }
  if (o->subject != NULL) {
    size_t len;
    if (!parse_dn(o->subject, cl->subject, sizeof cl->subject, &len)) {
      fprintf(stderr, "%s: --subject must look like /CN=name/O=org\n", prog);
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

static void fill_hdr(struct client *cl, struct cmp_client_hdr *h, struct der_view recip_nonce) {
  memset(h, 0, sizeof *h);
  h->transaction_id = (struct der_view){cl->txid, sizeof cl->txid};
  h->sender_nonce = (struct der_view){cl->nonce, sizeof cl->nonce};
  h->recip_nonce = recip_nonce;
  h->pvno = cl->o.pvno;
  h->cert_req_id = 0;
  if (cl->o.challenge != NULL)
    h->reg_token = (struct der_view){(const uint8_t *)cl->o.challenge, strlen(cl->o.challenge)};
}

/* The InfoTypeAndValue entries of our genm: crlStatusList names the CA of
 * the first anchor (RFC 9483 §4.3.4) and rootCaKeyUpdate is asked with
 * id-it-rootCaCert carrying it (§4.3.2); without --trusted they go out as
 * id-it-crls and id-it-rootCaCert with absent values. */
static void write_genm_body(struct der_writer *w, const void *arg) {
  const struct client *cl = arg;
  size_t body = cmp_genm_begin(w);
  struct der_view anchor = cl->anchors.n > 0 ? cl->anchors.v[0] : (struct der_view){NULL, 0};
  for (size_t i = 0; i < cl->o.n_infotypes; i++) {
    enum cg_oid_id t = cl->o.infotypes[i];
    struct cg_x509 ca;
    if (t == CG_OID_IT_CRL_STATUS_LIST && anchor.p != NULL &&
        cg_x509_parse(anchor.p, anchor.len, &ca) == 0) {
      /* CRLSource issuer [1] GeneralNames: SEQUENCE { directoryName [4] Name } */
      uint8_t names[1100];
      struct der_writer g;
      size_t names_len;
      der_writer_init(&g, names, sizeof names);
      size_t seq = der_begin(&g, DER_SEQUENCE);
      size_t dn = der_begin(&g, DER_CTX_CONS(4));
      der_put_raw(&g, ca.subject.p, ca.subject.len);
      der_end(&g, dn);
      der_end(&g, seq);
      if (der_writer_finish(&g, &names_len)) {
        w->err = CG_ESPACE;
        return;
      }
      struct cmp_crl_status st = {.kind = CMP_CRL_SOURCE_ISSUER,
                                  .source = {names, names_len}};
      cmp_write_itav_crl_status_list(w, &st, 1);
    } else if (t == CG_OID_IT_CRL_STATUS_LIST) {
      cmp_write_itav(w, cg_oid(CG_OID_IT_CRLS), (struct der_view){NULL, 0});
    } else if (t == CG_OID_IT_ROOT_CA_KEY_UPDATE || t == CG_OID_IT_ROOT_CA_CERT) {
      cmp_write_itav_root_ca_cert(w, anchor);
    } else {
      cmp_write_itav(w, cg_oid(t), (struct der_view){NULL, 0});
    }
  }
  cmp_genm_end(w, body);
}

/* The first message of the transaction into cl->req. */
static int build_request(struct client *cl) {
  struct cmp_client_hdr h;
  fill_hdr(cl, &h, (struct der_view){NULL, 0});
  h.implicit_confirm = cl->o.implicit_confirm;
  const struct der_view none = {NULL, 0};
  switch (cl->o.type) {
  case CMP_IR:
  case CMP_CR:
  case CMP_KUR: {
    struct der_view old = none;
    if (cl->o.type == CMP_KUR)
      old = cl->old.n > 0 ? cl->old.v[0] : cl->signer.v[0];
    cl->cert_req_id = 0;
    return cmp_client_cert_req(&cl->cred, &h, cl->o.type, cl->subject_v, cl->new_key, old,
                               cl->req, MAX_MSG, &cl->req_len);
  }
  case CMP_P10CR:
    cl->cert_req_id = -1; /* RFC 9483 §4.1.4 */
    return cmp_client_p10cr(&cl->cred, &h, (struct der_view){cl->csr, cl->csr_len}, cl->req,
                            MAX_MSG, &cl->req_len);
  case CMP_RR: {
    const struct certs *c = cl->old.n > 0 ? &cl->old : &cl->signer;
    struct cg_x509 x;
    if (cg_x509_parse(c->v[0].p, c->v[0].len, &x))
      return CG_EDER;
    cl->cert_req_id = -1; /* RFC 9483 §4.4: what a pollReq names */
    return cmp_client_rr(&cl->cred, &h, x.issuer, x.serial, cl->o.revreason, cl->req, MAX_MSG,
                         &cl->req_len);
  }
  default:
    cl->cert_req_id = -1;
    return cmp_client_message(&cl->cred, &h, write_genm_body, cl, cl->req, MAX_MSG,
                              &cl->req_len);
  }
}

/* ---- checking responses -------------------------------------------------- */

static const char *path_error_name(enum cg_path_error why) {
  switch (why) {
  case CG_PATH_OK: return "no decision";
  case CG_PATH_MALFORMED: return "a certificate is malformed";
  case CG_PATH_NO_ISSUER: return "no path to a trusted anchor";
  case CG_PATH_BAD_SIGNATURE: return "a signature in the path does not verify";
  case CG_PATH_EXPIRED: return "a certificate in the path is outside its validity";
  case CG_PATH_NOT_CA: return "an issuer is not a CA";
  case CG_PATH_PATH_LEN: return "the path is too long";
  case CG_PATH_CRITICAL_EXT: return "an unknown critical extension";
  }
  return "unknown";
}

static const char *verify_mac(const struct client *cl, const struct cmp_msg *m, bool pbmac1) {
  if (cl->cred.secret == NULL)
    return "the response is MAC-protected and no --secret was given";
  if (!pbmac1) {
    int err = cmp_pbm_verify(m, MAX_RESPONSE_ITERATIONS, cl->cred.secret, cl->cred.secret_len);
    return err == 0 ? NULL : err == CG_EBAD_MAC ? "the MAC does not verify"
                                                : "PasswordBasedMac parameters not accepted";
  }
  struct cmp_pbmac1_params p;
  if (cmp_pbmac1_parse(m->hdr.protection_alg, MAX_RESPONSE_ITERATIONS, &p))
    return "PBMAC1 parameters not accepted";
  uint8_t seq[6], mac[CG_HASH_MAX];
  size_t mac_len;
  struct cg_iov iov[2];
  cmp_msg_protected_part(m, seq, iov);
  if (cmp_pbmac1_compute(&p, cl->cred.secret, cl->cred.secret_len, iov, 2, mac, &mac_len) ||
      m->protection.len != mac_len || !cg_ct_equal(mac, m->protection.p, mac_len))
    return "the MAC does not verify";
  return NULL;
}

static const char *verify_signature(const struct client *cl, const struct cmp_msg *m,
                                    char *buf, size_t cap) {
  if (cl->anchors.n == 0)
    return "the response is signed and no --trusted anchors were given";
  if (m->n_extra_certs == 0)
    return "the response is signed but carries no extraCerts";
  /* RFC 9483 §3.5: the signer's certificate is extraCerts[0] and must chain
   * to a trust anchor; the other extraCerts may serve as intermediates. */
  size_t n_pool = m->n_extra_certs - 1;
  if (n_pool > CG_X509_VERIFY_MAX_POOL)
    n_pool = CG_X509_VERIFY_MAX_POOL;
  enum cg_path_error why = CG_PATH_OK;
  int err = cg_x509_verify_path(m->extra_certs[0], m->extra_certs + 1, n_pool, cl->anchors.v,
                                cl->anchors.n, (int64_t)time(NULL), MAX_PATH_DEPTH, &why);
  if (err) {
    snprintf(buf, cap, "the signer is not trusted: %s", path_error_name(why));
    return buf;
  }
  struct cg_x509 signer;
  uint32_t ku;
  bool has_ku;
  if (cg_x509_parse(m->extra_certs[0].p, m->extra_certs[0].len, &signer) ||
      cg_x509_key_usage(m->extra_certs[0], &ku, &has_ku))
    return "the signer certificate is malformed";
  if (has_ku && !(ku & CERT_KU_DIGITAL_SIGNATURE))
    return "the signer certificate may not sign (keyUsage)";
  if (m->hdr.sender_kid.p != NULL && signer.skid.len > 0 &&
      !der_view_eq(m->hdr.sender_kid, signer.skid))
    return "senderKID does not name the signer certificate";
  uint8_t seq[6];
  struct cg_iov iov[2];
  cmp_msg_protected_part(m, seq, iov);
  if (cmp_verify_sig(m->hdr.protection_alg, signer.spki, iov, 2, m->protection))
    return "the signature does not verify";
  return NULL;
}

/* NULL when the protection of m verifies, else why not. */
static const char *verify_protection(const struct client *cl, const struct cmp_msg *m,
                                     char *buf, size_t cap) {
  if (!m->has_protection || m->hdr.protection_alg.p == NULL)
    return "the response is not protected";
  switch (cg_oid_lookup(m->hdr.protection_oid)) {
  case CG_OID_PBM:
    return verify_mac(cl, m, false);
  case CG_OID_PBMAC1:
    return verify_mac(cl, m, true);
  default:
    return verify_signature(cl, m, buf, cap);
  }
}

/* One line per accepted response: its pvno and how it was protected. */
static void print_protection(const struct cmp_msg *m) {
  enum cg_oid_id alg = cg_oid_lookup(m->hdr.protection_oid);
  char signer[512] = "";
  struct cg_x509 x;
  if (alg != CG_OID_PBM && alg != CG_OID_PBMAC1 &&
      cg_x509_parse(m->extra_certs[0].p, m->extra_certs[0].len, &x) == 0)
    cg_name_to_string(x.subject, signer, sizeof signer);
  printf("%s: pvno %llu, %s protection verified%s%s%s\n", cmp_body_name(m->type),
         (unsigned long long)m->hdr.pvno,
         alg == CG_OID_PBM ? "PasswordBasedMac" : alg == CG_OID_PBMAC1 ? "PBMAC1" : "signature",
         signer[0] ? " (signer \"" : "", signer, signer[0] ? "\")" : "");
}

static bool content_type_is_pkixcmp(const char *ct) {
  static const char want[] = "application/pkixcmp";
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (strncasecmp(ct, want, sizeof want - 1) != 0)
    return false;
  ct += sizeof want - 1;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == '\0' || *ct == ';';
}

/* Takes the HTTP outcome, decodes and checks the response of this phase.
 * 0 when it may be used (a verified error message is reported here and gets
 * EXIT_REFUSED), else the exit status, the reason printed. */
/* RFC 9483 §5.2.2.2: the request goes inside a nested message that an RA
 * signs, with a transactionID and nonce of its own. */
static int wrap_nested(struct client *cl) {
  struct cmp_client_cred ra = {.key = cl->nested_key, .cert = cl->nested_ra.v[0],
                               .chain = cl->nested_ra.v + 1, .n_chain = cl->nested_ra.n - 1};
  struct cmp_client_hdr h = {0};
  uint8_t *inner = malloc(cl->req_len);
  if (inner == NULL || cg_random(cl->outer_txid, sizeof cl->outer_txid) ||
      cg_random(cl->outer_nonce, sizeof cl->outer_nonce)) {
    free(inner);
    return CG_ENOMEM;
  }
  memcpy(inner, cl->req, cl->req_len);
  h.transaction_id = (struct der_view){cl->outer_txid, sizeof cl->outer_txid};
  h.sender_nonce = (struct der_view){cl->outer_nonce, sizeof cl->outer_nonce};
  h.pvno = cl->o.pvno;
  struct der_view msg = {inner, cl->req_len};
  int err = cmp_client_nested(&ra, &h, &msg, 1, cl->req, MAX_MSG, &cl->req_len);
  free(inner);
  return err;
}

/* The nested answer: its RA signature verified against --trusted, its
 * transaction and nonce ours; the inner answer replaces it in rsp[0]. */
static const char *unwrap_nested(struct client *cl, struct cmp_msg *m, char *buf, size_t cap) {
  const char *bad = verify_protection(cl, m, buf, cap);
  if (bad != NULL)
    return bad;
  if (m->type == CMP_ERROR)
    return NULL; /* the gateway refused the nested message itself */
  if (m->type != CMP_NESTED)
    return "the answer to a nested request is not nested";
  if (!der_view_is(m->hdr.transaction_id, cl->outer_txid, sizeof cl->outer_txid) ||
      !der_view_is(m->hdr.recip_nonce, cl->outer_nonce, sizeof cl->outer_nonce))
    return "the nested answer names another transaction or nonce";
  struct der_reader r, seq;
  struct der_tlv t;
  der_reader_view(&r, m->content);
  if (der_enter(&r, DER_SEQUENCE, &seq) || der_expect(&seq, DER_SEQUENCE, &t))
    return "the nested answer holds no message";
  memmove(cl->rsp[0], t.raw.p, t.raw.len);
  cl->rsp_len[0] = t.raw.len;
  return cmp_msg_decode(cl->rsp[0], cl->rsp_len[0], m) ? "the inner answer does not decode"
                                                       : NULL;
}

static int take_response(struct client *cl, int err, const struct cg_http_response *rsp,
                         int want_type) {
  int i = cl->phase == PH_CONFIRM ? 1 : 0;
  if (err) {
    const char *detail = cl->http != NULL ? cg_http_client_detail(cl->http) : "";
    fprintf(stderr, "%s: error: transport: %s%s%s\n", prog, cg_strerror(err),
            detail[0] ? ": " : "", detail);
    return EXIT_TRANSPORT;
  }
  if (rsp->status != 200) {
    /* The gateway explains HTTP errors in a short text body. */
    size_t n = 0;
    while (n < rsp->len && n < 200 && rsp->body[n] >= 0x20 && rsp->body[n] < 0x7f)
      n++;
    fprintf(stderr, "%s: error: HTTP status %d from %s: %.*s\n", prog, rsp->status, cl->o.url,
            (int)n, (const char *)rsp->body);
    return EXIT_TRANSPORT;
  }
  if (!content_type_is_pkixcmp(rsp->content_type)) {
    fprintf(stderr, "%s: error: the response has Content-Type '%s', not application/pkixcmp\n",
            prog, rsp->content_type);
    return EXIT_TRANSPORT;
  }
  free(cl->rsp[i]); /* a poll's answer replaces the one before */
  cl->rsp[i] = malloc(rsp->len ? rsp->len : 1);
  if (cl->rsp[i] == NULL) {
    fprintf(stderr, "%s: error: out of memory\n", prog);
    return EXIT_REFUSED;
  }
  memcpy(cl->rsp[i], rsp->body, rsp->len);
  cl->rsp_len[i] = rsp->len;
  struct cmp_msg *m = &cl->msg[i];
  if ((err = cmp_msg_decode(cl->rsp[i], rsp->len, m)) != 0) {
    fprintf(stderr, "%s: error: the response is not a valid PKIMessage (%s)\n", prog,
            cg_strerror(err));
    return EXIT_REFUSED;
  }

  char buf[256];
  const char *bad = NULL;
  if (i == 0 && cl->nested_key != NULL && (bad = unwrap_nested(cl, m, buf, sizeof buf)) != NULL) {
    fprintf(stderr, "%s: error: %s\n", prog, bad);
    return EXIT_REFUSED;
  }
  if (i == 0 && cl->nested_key != NULL && m->type == CMP_ERROR) {
    print_status_error(&m->u.error.status, "");
    return EXIT_REFUSED;
  }
  bad = verify_protection(cl, m, buf, sizeof buf);
  if (bad == NULL && (m->hdr.transaction_id.p == NULL ||
                      !der_view_is(m->hdr.transaction_id, cl->txid, sizeof cl->txid)))
    bad = "the response has another transactionID";
  /* RFC 9810 §5.1.1: recipNonce is the senderNonce of the message answered. */
  if (bad == NULL &&
      (m->hdr.recip_nonce.p == NULL || !der_view_is(m->hdr.recip_nonce, cl->nonce, NONCE_LEN)))
    bad = "the response's recipNonce is not our senderNonce";
  /* RFC 9483 §4.4: an error message with status waiting is no error. */
  if (m->type == CMP_ERROR && bad == NULL && m->u.error.status.status == CMP_WAITING && i == 0)
    return RC_WAITING;
  if (m->type == CMP_ERROR) {
    char note[300];
    snprintf(note, sizeof note, "%s%s%s", bad ? " (unverified: " : "", bad ? bad : "",
             bad ? ")" : "");
    print_status_error(&m->u.error.status, note);
    return EXIT_REFUSED;
  }
  if (bad != NULL) {
    fprintf(stderr, "%s: error: %s answer refused: %s\n", prog, cmp_body_name(m->type), bad);
    return EXIT_REFUSED;
  }
  if (m->type != want_type && !(cl->phase == PH_POLL && m->type == CMP_POLLREP)) {
    fprintf(stderr, "%s: error: the server answered with %s, expected %s\n", prog,
            cmp_body_name(m->type), cmp_body_name(want_type));
    return EXIT_REFUSED;
  }
  print_protection(m);
  return 0;
}

/* ---- the exchange -------------------------------------------------------- */

static void on_response(void *arg, int err, const struct cg_http_response *rsp);

static void on_tcp_answer(void *arg, int err, const struct cg_tcp_answer *a, const char *detail);

/* A message (or, with ref non-zero, a TCP pollReq) over its own TCP connection. */
static int tcp_send(struct client *cl, uint32_t ref) {
  struct cg_tcp_exchange_opts o = {.host = cl->host,
                                   .port = cl->port,
                                   .framing = cl->framing,
                                   .max_frame = MAX_RESPONSE,
                                   .timeout_ms = cl->o.timeout_s * 1000};
  uint8_t r[4];
  cg_tcp_put32(r, ref);
  int err = ref != 0 ? cg_tcp_exchange(&cl->loop, &o, 2, r, sizeof r, on_tcp_answer, cl)
                     : cg_tcp_exchange(&cl->loop, &o, 0, cl->req, cl->req_len, on_tcp_answer, cl);
  if (err) {
    fprintf(stderr, "%s: error: transport: %s\n", prog, cg_strerror(err));
    return EXIT_TRANSPORT;
  }
  return 0;
}

static int post(struct client *cl) {
  if (cl->tcp)
    return tcp_send(cl, 0);
  int err = cg_http_client_post(cl->http, cl->path, cl->req, cl->req_len, on_response, cl);
  if (err) {
    fprintf(stderr, "%s: error: transport: %s: %s\n", prog, cg_strerror(err),
            cg_http_client_detail(cl->http));
    return EXIT_TRANSPORT;
  }
  return 0;
}

/* The certificates of extraCerts and caPubs that chain cert up to a root,
 * issuer by issuer (matched by name), for --chainout. */
static void collect_chain(struct client *cl, const struct cmp_msg *m, struct der_view cert) {
  struct der_view pool[2 * CMP_MAX_EXTRA_CERTS];
  size_t n = 0;
  for (size_t i = 0; i < m->n_extra_certs; i++)
    pool[n++] = m->extra_certs[i];
  for (size_t i = 0; i < m->u.cert_rep.n_ca_pubs; i++)
    pool[n++] = m->u.cert_rep.ca_pubs[i];
  struct cg_x509 cur;
  if (cg_x509_parse(cert.p, cert.len, &cur))
    return;
  while (cl->n_chain < MAX_CERTS && !der_view_eq(cur.issuer, cur.subject)) {
    size_t k = 0;
    struct cg_x509 cand;
    while (k < n && (cg_x509_parse(pool[k].p, pool[k].len, &cand) ||
                     !der_view_eq(cand.subject, cur.issuer) || der_view_eq(pool[k], cur.raw)))
      k++;
    if (k == n)
      return;
    cl->chain[cl->n_chain++] = pool[k];
    cur = cand;
  }
}

/* ---- polling (RFC 9810 §5.3.22, RFC 9483 §4.4) ------------------------------ */

static void finish(struct client *cl, int rc) {
  cl->exit_code = rc;
  cl->phase = PH_DONE;
  if (!uv_is_closing((uv_handle_t *)&cl->poll_timer))
    uv_close((uv_handle_t *)&cl->poll_timer, NULL);
  if (cl->http != NULL)
    cg_http_client_close(cl->http, NULL, NULL);
}

static void on_poll_timer(uv_timer_t *t) {
  struct client *cl = t->data;
  struct cmp_client_hdr h;
  if (cl->tcp_poll_ref != 0) {
    /* A TCP pollReq: no CMP message, so the answer will still be the one to
     * our request (its transactionID and our senderNonce). */
    cl->polls++;
    int rc = tcp_send(cl, cl->tcp_poll_ref);
    if (rc != 0)
      finish(cl, rc);
    return;
  }
  if (cg_random(cl->nonce, sizeof cl->nonce)) {
    finish(cl, EXIT_REFUSED);
    return;
  }
  fill_hdr(cl, &h, (struct der_view){cl->poll_nonce, cl->poll_nonce_len});
  int err = cmp_client_poll_req(&cl->cred, &h, cl->cert_req_id, cl->req, MAX_MSG, &cl->req_len);
  if (err == 0 && cl->nested_key != NULL)
    err = wrap_nested(cl);
  if (err) {
    fprintf(stderr, "%s: error: cannot write the pollReq: %s\n", prog, cg_strerror(err));
    finish(cl, EXIT_REFUSED);
    return;
  }
  cl->polls++;
  int rc = post(cl);
  if (rc != 0)
    finish(cl, rc);
}

/* The next poll in `seconds`; or the end, when that is past --poll-max. */
static int poll_after(struct client *cl, uint64_t seconds) {
  char tid[2 * sizeof cl->txid + 1];
  cg_hex(cl->txid, sizeof cl->txid, tid);
  if (cl->phase == PH_REQUEST)
    cl->poll_deadline = uv_now(&cl->loop) + cl->o.poll_max_s * 1000;
  if (cl->o.poll_max_s == 0 || uv_now(&cl->loop) + seconds * 1000 > cl->poll_deadline) {
    fprintf(stderr, "%s: error: still waiting after %llu s of polling (--poll-max); "
                    "transaction %s\n", prog, (unsigned long long)cl->o.poll_max_s, tid);
    return EXIT_REFUSED;
  }
  cl->phase = PH_POLL;
  cl->poll_interval = seconds > 0 ? seconds : 1;
  uv_timer_start(&cl->poll_timer, on_poll_timer, seconds * 1000, 0);
  return RC_POLLING;
}

/* A poll that did not get through (the server restarting, say) is tried again
 * after the same wait, within --poll-max; RC_POLLING, or 0 to give up. */
static int retry_poll(struct client *cl, int err) {
  if (cl->phase != PH_POLL)
    return 0;
  fprintf(stderr, "%s: warning: the poll did not get through (%s); trying again in %llu s\n",
          prog, cg_strerror(err), (unsigned long long)cl->poll_interval);
  return poll_after(cl, cl->poll_interval) == RC_POLLING ? RC_POLLING : 0;
}

/* The next CMP pollReq, echoing the senderNonce of the answer just taken. */
static int schedule_poll(struct client *cl, uint64_t seconds) {
  const struct cmp_msg *m = &cl->msg[0];
  if (m->hdr.sender_nonce.p == NULL || m->hdr.sender_nonce.len > sizeof cl->poll_nonce) {
    fprintf(stderr, "%s: error: the %s has no usable senderNonce to poll with\n", prog,
            cmp_body_name(m->type));
    return EXIT_REFUSED;
  }
  memcpy(cl->poll_nonce, m->hdr.sender_nonce.p, m->hdr.sender_nonce.len);
  cl->poll_nonce_len = m->hdr.sender_nonce.len;
  return poll_after(cl, seconds);
}

/* The server makes us wait (status waiting): poll at once, then as the
 * pollReps say.  The transaction ID is printed for the operator who
 * approves it. */
static int start_polling(struct client *cl, const struct cmp_status_info *st) {
  char line[1024], tid[2 * sizeof cl->txid + 1];
  status_line(st, line, sizeof line);
  cg_hex(cl->txid, sizeof cl->txid, tid);
  printf("waiting (%s): %s; transaction %s\n", cmp_body_name(cl->msg[0].type), line, tid);
  if (cl->o.poll_max_s == 0) {
    fprintf(stderr, "%s: error: the server asks to poll later and --poll-max is 0\n", prog);
    return EXIT_REFUSED;
  }
  /* Waiting again after a poll (which should have been a pollRep): the
   * usual interval rather than at once. */
  return schedule_poll(cl, cl->phase == PH_REQUEST ? 0 : 5);
}

static int handle_poll_rep(struct client *cl) {
  const struct cmp_msg *m = &cl->msg[0];
  const struct cmp_poll_rep *pr = &m->u.poll_rep.rep[0];
  if (m->u.poll_rep.n != 1 || pr->cert_req_id != cl->cert_req_id) {
    fprintf(stderr, "%s: error: the pollRep does not answer certReqId %lld\n", prog,
            (long long)cl->cert_req_id);
    return EXIT_REFUSED;
  }
  char why[512] = "";
  if (pr->reason.p != NULL)
    free_text(pr->reason, why, sizeof why);
  printf("pollRep: check again after %lld s%s%s\n", (long long)pr->check_after,
         why[0] ? ", reason " : "", why);
  return schedule_poll(cl, pr->check_after > 0 ? (uint64_t)pr->check_after : 0);
}

/* An ip / cp / kup: takes the certificate and confirms it (or not). */
static int handle_cert_rep(struct client *cl) {
  const struct cmp_msg *m = &cl->msg[0];
  if (m->u.cert_rep.n != 1) {
    fprintf(stderr, "%s: error: the %s holds %zu responses, expected 1\n", prog,
            cmp_body_name(m->type), m->u.cert_rep.n);
    return EXIT_REFUSED;
  }
  const struct cmp_cert_response *r = &m->u.cert_rep.rsp[0];
  if (r->cert_req_id != cl->cert_req_id) {
    fprintf(stderr, "%s: error: the response is for certReqId %lld, we sent %lld\n", prog,
            (long long)r->cert_req_id, (long long)cl->cert_req_id);
    return EXIT_REFUSED;
  }
  if (r->status.status == CMP_WAITING)
    return start_polling(cl, &r->status);
  if (r->status.status != CMP_ACCEPTED && r->status.status != CMP_GRANTED_WITH_MODS) {
    print_status_error(&r->status, NULL);
    return EXIT_REFUSED;
  }
  struct cg_x509 x;
  if (r->cert.p == NULL || cg_x509_parse(r->cert.p, r->cert.len, &x)) {
    fprintf(stderr, "%s: error: the %s accepts but holds no readable certificate\n", prog,
            cmp_body_name(m->type));
    return EXIT_REFUSED;
  }
  /* The certificate must hold the key we asked for (the CSR's for p10cr). */
  uint8_t spki[2048];
  size_t spki_len = 0;
  bool key_ok;
  struct cmp_p10 csr;
  if (cl->new_key != NULL)
    key_ok = cg_key_spki(cl->new_key, spki, sizeof spki, &spki_len) == 0 &&
             der_view_is(x.spki, spki, spki_len);
  else
    key_ok = cmp_p10_decode(cl->csr, cl->csr_len, &csr) == 0 && der_view_eq(x.spki, csr.spki);
  cl->new_cert = r->cert;
  collect_chain(cl, m, r->cert);
  char subject[512] = "", serial[2 * 20 + 1] = "?";
  cg_name_to_string(x.subject, subject, sizeof subject);
  if (x.serial.len <= 20)
    cg_hex(x.serial.p, x.serial.len, serial);
  printf("%s: certificate serial %s, subject \"%s\"\n", cmp_body_name(m->type), serial, subject);

  /* RFC 9810 §5.1.1.1: implicitConfirm granted only when we asked. */
  if (key_ok && cl->o.implicit_confirm && m->hdr.implicit_confirm) {
    printf("implicit confirmation granted\n");
    return 0;
  }
  if (m->hdr.sender_nonce.p == NULL) {
    fprintf(stderr, "%s: error: the %s has no senderNonce to confirm\n", prog,
            cmp_body_name(m->type));
    return EXIT_REFUSED;
  }
  struct cmp_client_hdr h;
  if (cg_random(cl->nonce, sizeof cl->nonce))
    return EXIT_REFUSED;
  fill_hdr(cl, &h, m->hdr.sender_nonce);
  /* RFC 9810 §5.3.18: a certificate we cannot use is rejected in certConf. */
  int err = cmp_client_cert_conf(&cl->cred, &h, r->cert, cl->cert_req_id, !key_ok, cl->req,
                                 MAX_MSG, &cl->req_len);
  if (err) {
    fprintf(stderr, "%s: error: cannot write the certConf: %s\n", prog, cg_strerror(err));
    return EXIT_REFUSED;
  }
  if (!key_ok)
    fprintf(stderr, "%s: error: the certificate does not hold the requested public key; "
                    "rejecting it\n", prog);
  cl->phase = PH_CONFIRM;
  cl->rejecting = !key_ok;
  err = post(cl);
  return err ? err : RC_CONFIRMING;
}

static int handle_rev_rep(struct client *cl) {
  const struct cmp_rev_rep *rp = &cl->msg[0].u.rev_rep;
  if (rp->n < 1) {
    fprintf(stderr, "%s: error: the rp holds no status\n", prog);
    return EXIT_REFUSED;
  }
  if (rp->status[0].status != CMP_ACCEPTED && rp->status[0].status != CMP_GRANTED_WITH_MODS) {
    print_status_error(&rp->status[0], NULL);
    return EXIT_REFUSED;
  }
  printf("rp: revoked (PKIStatus %s)\n", status_name(rp->status[0].status));
  return 0;
}

static int handle_genp(struct client *cl) {
  struct cmp_genm genp;
  if (cmp_genm_decode(cl->msg[0].content, &genp)) {
    fprintf(stderr, "%s: error: the genp content is malformed\n", prog);
    return EXIT_REFUSED;
  }
  for (size_t i = 0; i < genp.n; i++) {
    const struct cmp_itav *it = &genp.itav[i];
    const char *name = infotype_name(it->oid);
    enum cg_oid_id id = cg_oid_lookup(it->oid);
    char hex[64] = "";
    if (name == NULL && it->oid.len < sizeof hex / 2)
      cg_hex(it->oid.p, it->oid.len, hex);
    printf("infoType %s (%s): value %s\n", name ? name : "unknown",
           id != CG_OID_UNKNOWN ? cg_oid_dotted(id) : hex, it->value.len ? "present" : "absent");
  }
  return 0;
}

/* The first CertificateList of an id-it-crls value in the genp, or len 0. */
static struct der_view genp_crl(const struct client *cl) {
  struct cmp_genm genp;
  struct der_view none = {NULL, 0};
  if (cmp_genm_decode(cl->msg[0].content, &genp))
    return none;
  for (size_t i = 0; i < genp.n; i++) {
    if (cg_oid_lookup(genp.itav[i].oid) != CG_OID_IT_CRLS || genp.itav[i].value.len == 0)
      continue;
    struct der_reader r, seq;
    struct der_tlv t;
    der_reader_view(&r, genp.itav[i].value);
    if (der_enter(&r, DER_SEQUENCE, &seq) == 0 && der_expect(&seq, DER_SEQUENCE, &t) == 0)
      return t.raw;
  }
  return none;
}

/* The caCerts of the genp (for --chainout after genm caCerts). */
static void genp_ca_certs(struct client *cl) {
  struct cmp_genm genp;
  if (cmp_genm_decode(cl->msg[0].content, &genp))
    return;
  for (size_t i = 0; i < genp.n; i++) {
    if (cg_oid_lookup(genp.itav[i].oid) != CG_OID_IT_CA_CERTS || genp.itav[i].value.len == 0)
      continue;
    struct der_reader r, seq;
    struct der_tlv t;
    der_reader_view(&r, genp.itav[i].value);
    if (der_enter(&r, DER_SEQUENCE, &seq))
      continue;
    while (cl->n_chain < MAX_CERTS && der_expect(&seq, DER_SEQUENCE, &t) == 0)
      cl->chain[cl->n_chain++] = t.raw;
  }
}

static void on_response(void *arg, int err, const struct cg_http_response *rsp) {
  struct client *cl = arg;
  int rc;
  if (err != 0 && cl->phase == PH_POLL && !cl->tcp && retry_poll(cl, err) == RC_POLLING)
    return;
  if (cl->phase == PH_REQUEST || cl->phase == PH_POLL) {
    static const int want[] = {[CMP_IR] = CMP_IP, [CMP_CR] = CMP_CP, [CMP_KUR] = CMP_KUP,
                               [CMP_P10CR] = CMP_CP, [CMP_RR] = CMP_RP, [CMP_GENM] = CMP_GENP};
    rc = take_response(cl, err, rsp, want[cl->o.type]);
    if (rc == RC_WAITING) {
      rc = start_polling(cl, &cl->msg[0].u.error.status);
    } else if (rc == 0 && cl->msg[0].type == CMP_POLLREP) {
      rc = handle_poll_rep(cl);
    } else if (rc == 0) {
      switch (cl->o.type) {
      case CMP_RR: rc = handle_rev_rep(cl); break;
      case CMP_GENM: rc = handle_genp(cl); break;
      default: rc = handle_cert_rep(cl); break;
      }
    }
    if (rc == RC_CONFIRMING || rc == RC_POLLING)
      return;
  } else {
    rc = take_response(cl, err, rsp, CMP_PKICONF);
    if (rc == 0 && cl->rejecting) {
      printf("pkiConf: certificate rejected\n");
      rc = EXIT_REFUSED;
    } else if (rc == 0) {
      printf("pkiConf: certificate confirmed\n");
    }
  }
  finish(cl, rc);
}

/* A TCP answer: the CMP message goes the way an HTTP body does; a TCP pollRep
 * makes us poll at the transport level; an errorMsgRep ends the transaction. */
static void on_tcp_answer(void *arg, int err, const struct cg_tcp_answer *a, const char *detail) {
  struct client *cl = arg;
  if (cl->phase == PH_DONE)
    return;
  if (err != 0) {
    if (detail[0] != '\0')
      fprintf(stderr, "%s: %s\n", prog, detail);
    if (retry_poll(cl, err) == RC_POLLING)
      return;
    on_response(cl, err, NULL);
    return;
  }
  if (a->type == 5) {
    struct cg_http_response rsp = {.status = 200, .content_type = "application/pkixcmp",
                                   .body = a->value, .len = a->len};
    on_response(cl, 0, &rsp);
    return;
  }
  int rc = EXIT_TRANSPORT;
  if (a->type == 1 && a->len == 8 && cl->phase != PH_CONFIRM) {
    uint32_t ref = cg_tcp_get32(a->value), when = cg_tcp_get32(a->value + 4);
    /* RFC 2510: an absolute time (seconds since 1970 UTC); version 10: seconds */
    int64_t wait = cl->framing == CG_TCP_V10 ? (int64_t)when : (int64_t)when - (int64_t)time(NULL);
    if (wait < 0)
      wait = 0;
    char tid[2 * sizeof cl->txid + 1];
    cg_hex(cl->txid, sizeof cl->txid, tid);
    printf("TCP pollRep: polling reference %08x, check back in %lld s; transaction %s\n", ref,
           (long long)wait, tid);
    cl->tcp_poll_ref = ref;
    rc = ref == 0 ? EXIT_TRANSPORT : poll_after(cl, (uint64_t)wait);
    if (rc == RC_POLLING)
      return;
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
    fprintf(stderr, "%s: error: TCP errorMsgRep%s: %.*s\n", prog,
            code == 0x0100 ? " (version)" : code == 0x0200 ? " (client error)"
            : code == 0x0300 ? " (server error)" : "",
            (int)n, skip < a->len ? (const char *)a->value + skip : "");
  } else {
    fprintf(stderr, "%s: error: unexpected TCP message type %d\n", prog, a->type);
  }
  finish(cl, rc);
}

/* ---- outputs ------------------------------------------------------------- */

static int write_file(const char *path, const void *data, size_t len, unsigned mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
  if (fd < 0 || fchmod(fd, (mode_t)mode) != 0) {
    if (fd >= 0)
      close(fd);
    fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
    return CG_EIO;
  }
  const uint8_t *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
      close(fd);
      return CG_EIO;
    }
    p += w;
    len -= (size_t)w;
  }
  if (close(fd) != 0) {
    fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
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

static int write_outputs(struct client *cl) {
  const struct opts *o = &cl->o;
  int err = 0;
  if (cl->new_cert.p != NULL && o->certout != NULL) {
    err = write_pem(o->certout, "CERTIFICATE", &cl->new_cert, 1, 0644);
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
  if (err == 0 && o->type == CMP_GENM)
    genp_ca_certs(cl);
  if (err == 0 && o->chainout != NULL) {
    err = write_pem(o->chainout, "CERTIFICATE", cl->chain, cl->n_chain, 0644);
    if (err == 0)
      printf("%zu chain certificate(s) written to %s\n", cl->n_chain, o->chainout);
  }
  if (err == 0 && o->type == CMP_GENM && o->genpout != NULL) {
    err = write_file(o->genpout, cl->rsp[0], cl->rsp_len[0], 0644);
    if (err == 0)
      printf("genp written to %s\n", o->genpout);
  }
  if (err == 0 && o->type == CMP_GENM && o->crlout != NULL) {
    struct der_view crl = genp_crl(cl);
    if (crl.p == NULL) {
      fprintf(stderr, "%s: error: the genp holds no CRL for --crlout\n", prog);
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
  int rc = 0;
  if ((cl->req = malloc(MAX_MSG)) == NULL || cg_random(cl->txid, sizeof cl->txid) ||
      cg_random(cl->nonce, sizeof cl->nonce)) {
    fprintf(stderr, "%s: error: out of memory or no randomness\n", prog);
    return EXIT_REFUSED;
  }
  int err = build_request(cl);
  if (err == 0 && cl->nested_key != NULL)
    err = wrap_nested(cl);
  if (err) {
    fprintf(stderr, "%s: error: cannot write the %s: %s\n", prog, cmp_body_name(cl->o.type),
            cg_strerror(err));
    return EXIT_REFUSED;
  }
  if (uv_loop_init(&cl->loop) != 0)
    return EXIT_REFUSED;
  struct cg_http_client_opts ho = {.host = cl->host,
                                   .port = cl->port,
                                   .max_body = MAX_RESPONSE,
                                   .timeout_ms = cl->o.timeout_s * 1000};
  struct sockaddr_storage ss;
  const char *numeric = strcmp(cl->host, "localhost") == 0 ? "127.0.0.1" : cl->host;
  bool host_ok = cl->tcp ? uv_ip4_addr(numeric, cl->port, (struct sockaddr_in *)&ss) == 0 ||
                               uv_ip6_addr(numeric, cl->port, (struct sockaddr_in6 *)&ss) == 0
                         : cg_http_client_new(&cl->loop, &ho, &cl->http) == 0;
  if (!host_ok) {
    fprintf(stderr, "%s: error: cannot use host '%s' (numeric addresses and localhost only)\n",
            prog, cl->host);
    rc = EXIT_USAGE;
  } else {
    cl->phase = PH_REQUEST;
    uv_timer_init(&cl->loop, &cl->poll_timer);
    cl->poll_timer.data = cl;
    rc = post(cl);
    if (rc != 0)
      finish(cl, rc);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    if (rc == 0)
      rc = cl->phase == PH_DONE ? cl->exit_code : EXIT_TRANSPORT;
  }
  if (uv_loop_close(&cl->loop) != 0)
    fprintf(stderr, "%s: warning: event loop closed with handles open\n", prog);
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
  cg_key_free(cl->key);
  cg_key_free(cl->new_key);
  cg_key_free(cl->nested_key);
  free_certs(&cl->nested_ra);
  free_certs(&cl->signer);
  free_certs(&cl->anchors);
  free_certs(&cl->old);
  free(cl->csr);
  free(cl->req);
  free(cl->rsp[0]);
  free(cl->rsp[1]);
  free(cl);
  return rc;
}
