/*
 * bench_cmp.c - `cmpgw bench cmp`: an asynchronous CMP load generator on one
 * libuv loop, built on the client engine of cmp/client_txn.h (one
 * transaction per session at a time), the HTTP client of
 * transports/http_client.h and the raw TCP exchange of
 * transports/tcp_client.h.  N sessions running transactions back to back:
 * ir + certConf, ir with implicit confirmation, genm, or rr, MAC-protected
 * (PasswordBasedMac) or signed (--auth sig: each session first enrols, by
 * MAC, the certificate it then signs with); rr revokes certificates the
 * sessions enrolled before the clock started (--count of them).  Over HTTP
 * each session is one kept-alive connection,
 * over tcp:// each message has a connection of its own (version 10 framing).
 * Every session has its own key pair (P-256, Ed25519 or RSA-2048), made
 * before the clock starts.  Prints
 * throughput, latency percentiles, failures by failInfo and, given the
 * server's PID, the server's CPU per transaction.
 *
 * It is lighter than an OpenSSL client: it does not verify the answers'
 * protection (the engine's `unchecked`; it checks type, transactionID,
 * nonces and PKIStatus), and the messages of a transaction share one PBM
 * derivation, so its CPU per transaction is mostly that derivation and one
 * signature (POP) of the request.  Not a conformance client: `cmpgw client` is.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "app/bench.h"
#include "app/cli.h"
#include "cmp/client.h"
#include "cmp/client_txn.h"
#include "cmp/msg.h"
#include "core/crypto.h"
#include "core/der.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"
#include "transports/coap_client.h"
#include "transports/http_client.h"
#include "transports/tcp_client.h"
#include "transports/tls.h"
#include "core/file.h"

#define MAX_MSG 8192
#define MAX_SESSIONS 20000

enum op { OP_IR, OP_IR_IMPLICIT, OP_GENM, OP_RR };

struct run;

struct session {
  struct run *run;
  struct cg_http_client *http;
  struct cg_coap_client *coap;
  struct cg_key *key;
  struct cmp_client_txn *txn;
  uint64_t started_ns;
  /* Protection of the timed requests: r->cred, or signed with key and cert. */
  struct cmp_client_cfg cfg;
  /* Enrolled before the clock: the certificate a signing session signs with,
   * or those an rr session revokes. */
  uint8_t **certs;
  size_t *cert_lens, n_certs, want_certs, next_revoke;
};

struct run {
  uv_loop_t loop;
  const char *path;
  bool tcp;
  struct cg_tcp_exchange_opts tcp_opts;
  enum op op;
  bool sig;      /* --auth sig */
  bool preparing; /* enrolling the certificates the timed part needs */
  unsigned ready; /* sessions done preparing */
  struct cmp_client_cred cred; /* MAC: every request before the clock, and after it unless sig */
  char secret[CLI_SECRET_MAX + 1]; /* --secret, as cli_secret() reads it */
  size_t secret_len;
  struct cmp_client_cfg prep;  /* the enrolments before the clock */
  uint8_t subject[128];
  size_t subject_len;
  struct session *s;
  unsigned n;
  uint64_t deadline_ns; /* no new transaction starts after it */
  uint64_t duration_ns, t0_ns;
  long pid;       /* the server's, for its CPU time */
  double cpu0;
  /* --rate: transactions start at most this many a second (a token bucket
   * filled every millisecond); idle sessions wait for a token. */
  double rate, tokens;
  uint64_t filled_ns;
  uv_timer_t pace;
  struct session **idle;
  size_t n_idle;
  unsigned long count, started, done, failed, transport_errors;
  unsigned long by_failinfo[32], other_failures;
  unsigned long not_granted; /* ir-implicit answered without implicitConfirm */
  double *lat_ms;
  size_t n_lat, cap_lat;
};

static bool want_more(struct run *r) {
  return r->count ? r->started < r->count : uv_hrtime() < r->deadline_ns;
}

static void advance(struct session *s);
static void done_txn(struct session *s);

static void on_tcp_answer(void *arg, int err, const struct cg_tcp_answer *a, const char *detail) {
  (void)detail;
  struct session *s = arg;
  if (err == 0 && a->type == 5)
    cmp_client_txn_received(s->txn, a->value, a->len, (int64_t)time(NULL));
  else
    cmp_client_txn_failed(s->txn, err ? err : CG_EBAD_DATA, "", (int64_t)time(NULL));
  advance(s);
}

static void on_coap_response(void *arg, int err, const struct cg_coap_response *rsp) {
  struct session *s = arg;
  if (err == 0 && rsp->code == 204)
    cmp_client_txn_received(s->txn, rsp->body, rsp->len, (int64_t)time(NULL));
  else
    cmp_client_txn_failed(s->txn, err ? err : CG_EBAD_DATA, "", (int64_t)time(NULL));
  advance(s);
}

static void on_response(void *arg, int err, const struct cg_http_response *rsp) {
  struct session *s = arg;
  if (err == 0 && rsp->status == 200)
    cmp_client_txn_received(s->txn, rsp->body, rsp->len, (int64_t)time(NULL));
  else
    cmp_client_txn_failed(s->txn, err ? err : CG_EBAD_DATA, "", (int64_t)time(NULL));
  advance(s);
}

static void post(struct session *s) {
  struct run *r = s->run;
  const uint8_t *msg;
  size_t len;
  cmp_client_txn_message(s->txn, &msg, &len);
  int err = r->tcp    ? cg_tcp_exchange(&r->loop, &r->tcp_opts, 0, msg, len, on_tcp_answer, s)
            : s->coap ? cg_coap_client_post(s->coap, r->path, msg, len, on_coap_response, s)
                      : cg_http_client_post(s->http, r->path, msg, len, on_response, s);
  if (err != 0) {
    cmp_client_txn_failed(s->txn, err, "", (int64_t)time(NULL));
    advance(s);
  }
}

/* Runs the session's transaction until it waits for an answer or is done.
 * Polling is off (poll_max_s 0): an answer that says waiting ends it. */
static void advance(struct session *s) {
  for (;;) {
    switch (cmp_client_txn_step(s->txn)) {
    case CMP_CLIENT_COMPUTE:
      cmp_client_txn_compute(s->txn);
      continue;
    case CMP_CLIENT_SEND:
      post(s);
      return;
    case CMP_CLIENT_WAIT:
    case CMP_CLIENT_DONE:
      done_txn(s);
      return;
    }
  }
}

/* Starts a transaction of the session: body (copied) under cfg. */
static void start_txn(struct session *s, const struct cmp_client_cfg *cfg, int type,
                      const uint8_t *body, size_t len, int64_t cert_req_id) {
  struct cmp_client_req req = {.type = type, .body = {body, len}, .cert_req_id = cert_req_id};
  if (cmp_client_txn_new(cfg, &req, (int64_t)time(NULL), &s->txn) != 0) {
    s->run->other_failures++;
    return;
  }
  advance(s);
}

/* Starts the session's next transaction, or lets it rest. */
static void next(struct session *s) {
  struct run *r = s->run;
  if (!want_more(r))
    return;
  if (r->rate > 0) {
    if (r->tokens < 1) {
      r->idle[r->n_idle++] = s;
      return;
    }
    r->tokens -= 1;
  }
  uint8_t body[MAX_MSG];
  size_t len;
  int err, type;
  if (r->op == OP_GENM) {
    struct der_view t = cg_oid(CG_OID_IT_CA_CERTS);
    type = CMP_GENM;
    err = cmp_client_genm_body(&t, 1, body, sizeof body, &len);
  } else if (r->op == OP_RR) {
    struct cg_x509 c;
    size_t i = s->next_revoke;
    if (i == s->n_certs || cg_x509_parse(s->certs[i], s->cert_lens[i], &c) != 0)
      return;
    s->next_revoke++;
    /* Signed, an rr is authorized by the certificate it revokes. */
    if (r->sig)
      s->cfg.cred = (struct cmp_client_cred){.key = s->key, .cert = {s->certs[i], s->cert_lens[i]}};
    type = CMP_RR;
    err = cmp_client_rr_body(c.issuer, c.serial, 1, body, sizeof body, &len);
  } else {
    type = CMP_IR;
    err = cmp_client_cert_req_body(CMP_IR, 0, (struct der_view){r->subject, r->subject_len},
                                   s->key, (struct der_view){NULL, 0}, (struct der_view){NULL, 0},
                                   body, sizeof body, &len);
  }
  if (err)
    return;
  r->started++;
  s->started_ns = uv_hrtime();
  start_txn(s, &s->cfg, type, body, len, type == CMP_IR ? 0 : -1);
}

static void finished(struct session *s, bool ok, int fail_bit) {
  struct run *r = s->run;
  if (r->preparing) { /* a failure before the clock: no run */
    fprintf(stderr, "cmpgw bench: enrolling before the clock failed (transport or answer)\n");
    r->preparing = false;
    r->failed++;
    uv_stop(&r->loop);
    return;
  }
  r->done++;
  if (!ok) {
    r->failed++;
    if (fail_bit >= 0 && fail_bit < 32)
      r->by_failinfo[fail_bit]++;
    else
      r->other_failures++;
  } else {
    if (r->n_lat == r->cap_lat) {
      size_t cap = r->cap_lat ? 2 * r->cap_lat : 4096;
      double *p = realloc(r->lat_ms, cap * sizeof *p);
      if (p != NULL) {
        r->lat_ms = p;
        r->cap_lat = cap;
      }
    }
    if (r->n_lat < r->cap_lat)
      r->lat_ms[r->n_lat++] = (double)(uv_hrtime() - s->started_ns) / 1e6;
  }
  next(s);
}

static void start_clock(struct run *r);

/* Before the clock: the session enrols (MAC, implicit confirmation asked)
 * until it holds the certificates the timed part needs, then waits for the
 * others. */
static void prepare(struct session *s) {
  struct run *r = s->run;
  if (s->n_certs == s->want_certs) {
    if (++r->ready == r->n)
      start_clock(r);
    return;
  }
  uint8_t body[MAX_MSG];
  size_t len;
  if (cmp_client_cert_req_body(CMP_IR, 0, (struct der_view){r->subject, r->subject_len}, s->key,
                               (struct der_view){NULL, 0}, (struct der_view){NULL, 0}, body,
                               sizeof body, &len) == 0)
    start_txn(s, &r->prep, CMP_IR, body, len, 0);
}

static int lowest_bit(uint32_t v) {
  for (int b = 0; b < 32; b++)
    if (v & (1u << b))
      return b;
  return -1;
}

/* The session's transaction ended: counted, and the next one started. */
static void done_txn(struct session *s) {
  struct run *r = s->run;
  struct cmp_client_result res;
  cmp_client_txn_result(s->txn, &res);
  bool ok = res.outcome == CMP_CLIENT_OK;
  int bit = res.outcome == CMP_CLIENT_REFUSED && res.status.has_fail_info
                ? lowest_bit(res.status.fail_info)
                : -1;
  if (res.outcome == CMP_CLIENT_TRANSPORT)
    r->transport_errors++;
  if (r->preparing) {
    uint8_t *copy = ok && res.cert.p != NULL ? malloc(res.cert.len) : NULL;
    if (copy != NULL)
      memcpy(copy, res.cert.p, res.cert.len);
    size_t len = res.cert.len;
    cmp_client_txn_free(s->txn);
    s->txn = NULL;
    if (copy == NULL) {
      finished(s, false, -1);
      return;
    }
    s->certs[s->n_certs] = copy;
    s->cert_lens[s->n_certs++] = len;
    if (r->sig && s->n_certs == 1)
      s->cfg.cred = (struct cmp_client_cred){.key = s->key, .cert = {copy, len}};
    prepare(s);
    return;
  }
  /* RFC 9483 4.1.1: implicit confirmation not granted: the engine confirmed. */
  if (ok && r->op == OP_IR_IMPLICIT && !res.implicit_confirm)
    r->not_granted++;
  cmp_client_txn_free(s->txn);
  s->txn = NULL;
  finished(s, ok, bit);
}

static double cpu_of(long pid);

static void on_pace(uv_timer_t *t) {
  struct run *r = t->data;
  uint64_t now = uv_hrtime();
  r->tokens += r->rate * (double)(now - r->filled_ns) / 1e9;
  r->filled_ns = now;
  /* at most 10 ms worth at once: a late tick does not become a burst */
  double cap = r->rate / 100 > 1 ? r->rate / 100 : 1;
  if (r->tokens > cap)
    r->tokens = cap;
  while (r->tokens >= 1 && r->n_idle > 0)
    next(r->idle[--r->n_idle]);
  if (!want_more(r))
    uv_timer_stop(t);
}

static void start_clock(struct run *r) {
  r->preparing = false;
  r->cpu0 = r->pid ? cpu_of(r->pid) : -1;
  r->t0_ns = uv_hrtime();
  r->deadline_ns = r->t0_ns + r->duration_ns;
  if (r->rate > 0) {
    r->filled_ns = r->t0_ns;
    uv_timer_start(&r->pace, on_pace, 1, 1);
  }
  for (unsigned i = 0; i < r->n; i++)
    next(&r->s[i]);
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p) {
  if (n == 0)
    return 0;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

/* utime + stime of a process, seconds; -1 when unreadable. */
static double cpu_of(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  unsigned long ut, st;
  if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                          &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int usage(void) {
  fprintf(stderr,
          "usage: cmpgw bench cmp --url http://HOST:PORT/PATH|tcp://HOST:PORT|coap://HOST:PORT/PATH\n"
          "         | --url https://HOST:PORT/PATH --tls-trusted PEM [--tls-resume 0|1]\n"
          "         --ref REF --secret SECRET\n"
          "         [--new-conn 1] (a connection per message, as OpenSSL's client makes)\n"
          "         (SECRET: pass:VALUE, env:VAR, file:PATH or the value itself)\n"
          "         [--op ir|ir-implicit|genm|rr] [--auth mac|sig] [--keytype p256|ed25519|rsa2048]\n"
          "         [--sessions N] [--duration S | --count N]\n"
          "         [--rate TPS] [--iterations N] [--server-pid PID]\n"
          "  N sessions (default 16), each a kept-alive connection running transactions\n"
          "  back to back, for S seconds (default 10) or N transactions.\n"
          "  --auth sig: each session first enrols (MAC, implicit confirmation) the\n"
          "  certificate it signs with.  --op rr needs --count: that many certificates\n"
          "  are enrolled before the clock starts, then revoked on it.  --rate: at most\n"
          "  TPS transactions start a second (latency at a given load).\n");
  return 2;
}

int bench_cmp(int argc, char **argv) {
  const char *url = NULL, *ref = NULL, *secret = NULL, *op = "ir", *keytype = "p256",
             *auth = "mac", *tls_trusted = NULL;
  unsigned long sessions = 16, duration = 10, count = 0, iterations = 500, rate = 0;
  unsigned long new_conn = 0, tls_resume = 1;
  struct cg_tls_client *tls = NULL;
  long pid = 0;
  for (int i = 2; i < argc; i += 2) { /* every option takes a value */
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    const char **str = !strcmp(argv[i], "--url")      ? &url
                       : !strcmp(argv[i], "--ref")    ? &ref
                       : !strcmp(argv[i], "--secret") ? &secret
                       : !strcmp(argv[i], "--op")     ? &op
                       : !strcmp(argv[i], "--keytype") ? &keytype
                       : !strcmp(argv[i], "--auth")   ? &auth
                       : !strcmp(argv[i], "--tls-trusted") ? &tls_trusted
                                                      : NULL;
    unsigned long *num = !strcmp(argv[i], "--sessions")     ? &sessions
                         : !strcmp(argv[i], "--duration")   ? &duration
                         : !strcmp(argv[i], "--count")      ? &count
                         : !strcmp(argv[i], "--iterations") ? &iterations
                         : !strcmp(argv[i], "--rate")       ? &rate
                         : !strcmp(argv[i], "--new-conn")   ? &new_conn
                         : !strcmp(argv[i], "--tls-resume") ? &tls_resume
                                                            : NULL;
    unsigned long p;
    if (v == NULL)
      return usage();
    if (str != NULL)
      *str = v;
    else if (num != NULL && bench_number(v, 100000000, num))
      ;
    else if (!strcmp(argv[i], "--server-pid") && bench_number(v, 1u << 30, &p))
      pid = (long)p;
    else
      return usage();
  }
  struct run *r = calloc(1, sizeof *r);
  char host[64];
  int port = 0;
  const char *path = NULL;
  enum cg_key_type kt = !strcmp(keytype, "ed25519") ? CG_KEY_ED25519
                       : !strcmp(keytype, "rsa2048") ? CG_KEY_RSA
                                                     : CG_KEY_EC;
  bool tcp = url != NULL && strncmp(url, "tcp://", 6) == 0;
  bool https = url != NULL && strncmp(url, "https://", 8) == 0;
  bool coap = url != NULL && strncmp(url, "coap://", 7) == 0;
  if (r == NULL || url == NULL || ref == NULL || secret == NULL || sessions == 0 ||
      sessions > MAX_SESSIONS ||
      (strcmp(op, "ir") && strcmp(op, "ir-implicit") && strcmp(op, "genm") && strcmp(op, "rr")) ||
      (strcmp(auth, "mac") && strcmp(auth, "sig")) || (!strcmp(op, "rr") && count == 0) ||
      (strcmp(keytype, "p256") && strcmp(keytype, "ed25519") && strcmp(keytype, "rsa2048")) ||
      (tcp     ? sscanf(url, "tcp://%63[^:/]:%d", host, &port) != 2
       : https ? sscanf(url, "https://%63[^:/]:%d", host, &port) != 2 ||
                     (path = strchr(url + 8, '/')) == NULL || tls_trusted == NULL
       : coap  ? sscanf(url, "coap://%63[^:/]:%d", host, &port) != 2 ||
                    (path = strchr(url + 7, '/')) == NULL
               : sscanf(url, "http://%63[^:/]:%d", host, &port) != 2 ||
                     (path = strchr(url + 7, '/')) == NULL)) {
    free(r);
    return usage();
  }
  if (!cli_secret("cmpgw bench cmp", secret, r->secret, &r->secret_len)) {
    free(r);
    return 2;
  }
  r->path = path;
  r->tcp = tcp;
  r->tcp_opts = (struct cg_tcp_exchange_opts){
      .host = host, .port = port, .framing = CG_TCP_V10, .timeout_ms = 60000};
  r->op = !strcmp(op, "genm") ? OP_GENM
          : !strcmp(op, "rr") ? OP_RR
          : !strcmp(op, "ir") ? OP_IR
                              : OP_IR_IMPLICIT;
  r->sig = !strcmp(auth, "sig");
  r->rate = (double)rate;
  r->count = count;
  r->cred = (struct cmp_client_cred){.secret = (const uint8_t *)r->secret,
                                     .secret_len = r->secret_len,
                                     .ref = (const uint8_t *)ref,
                                     .ref_len = strlen(ref),
                                     .iterations = (uint32_t)iterations,
                                     .owf = CG_HASH_SHA256,
                                     .mac = CG_HASH_SHA256};
  r->prep = (struct cmp_client_cfg){.cred = r->cred, .implicit_confirm = true, .unchecked = true};
  /* subject CN=cmpgw bench */
  static const uint8_t subject[] = {0x30, 0x16, 0x31, 0x14, 0x30, 0x12, 0x06, 0x03, 0x55, 0x04,
                                    0x03, 0x0c, 0x0b, 'c',  'm',  'p',  'g',  'w',  ' ',  'b',
                                    'e',  'n',  'c',  'h'};
  memcpy(r->subject, subject, sizeof subject);
  r->subject_len = sizeof subject;
  r->n = (unsigned)sessions;
  r->s = calloc(sessions, sizeof *r->s);
  r->idle = calloc(sessions, sizeof *r->idle);
  int rc = 1;
  if (r->s == NULL || r->idle == NULL || uv_loop_init(&r->loop) != 0)
    goto out;
  uv_timer_init(&r->loop, &r->pace);
  r->pace.data = r;
  if (https) {
    uint8_t *pem = NULL;
    size_t pem_len = 0;
    char why[160];
    struct cg_tls_client_config tc = {.no_resume = tls_resume == 0};
    int err = cg_read_file(tls_trusted, &pem, &pem_len);
    tc.trusted_pem = pem;
    tc.trusted_len = pem_len;
    if (err == 0 && (err = cg_tls_client_new(&tc, &tls, why, sizeof why)) != 0)
      fprintf(stderr, "cmpgw bench: %s\n", why);
    else if (err != 0)
      fprintf(stderr, "cmpgw bench: %s: %s\n", tls_trusted, cg_file_strerror(err));
    free(pem);
    if (err != 0)
      goto close;
  }
  struct cg_http_client_opts ho = {
      .host = host, .port = port, .timeout_ms = 60000, .tls = tls, .close_each = new_conn != 0};
  struct cg_coap_client_opts co = {.host = host, .port = port, .timeout_ms = 60000};
  size_t per_session = r->op == OP_RR ? (count + r->n - 1) / r->n : r->sig ? 1 : 0;
  for (unsigned i = 0; i < r->n; i++) {
    struct session *s = &r->s[i];
    s->run = r;
    s->cfg = (struct cmp_client_cfg){.cred = r->cred,
                                     .implicit_confirm = r->op == OP_IR_IMPLICIT,
                                     .unchecked = true};
    s->want_certs = per_session;
    if (cg_key_generate(kt, kt == CG_KEY_RSA ? 2048 : 256, &s->key) ||
        (per_session > 0 && ((s->certs = calloc(per_session, sizeof *s->certs)) == NULL ||
                             (s->cert_lens = calloc(per_session, sizeof *s->cert_lens)) == NULL)) ||
        (coap && cg_coap_client_new(&r->loop, &co, &s->coap)) ||
        (!tcp && !coap && cg_http_client_new(&r->loop, &ho, &s->http))) {
      fprintf(stderr, "cmpgw bench: cannot set up session %u (host must be numeric)\n", i);
      goto close;
    }
  }
  r->pid = pid;
  r->duration_ns = (uint64_t)duration * 1000000000ull;
  if (per_session > 0) {
    r->preparing = true;
    for (unsigned i = 0; i < r->n; i++)
      prepare(&r->s[i]);
    while (r->preparing && uv_run(&r->loop, UV_RUN_ONCE))
      ;
    if (r->failed || r->ready < r->n) {
      fprintf(stderr, "cmpgw bench: the certificates the run needs could not be enrolled\n");
      goto close;
    }
  } else {
    start_clock(r);
  }
  while (r->done < r->started || (r->rate > 0 && want_more(r)))
    uv_run(&r->loop, UV_RUN_ONCE);
  double secs = (double)(uv_hrtime() - r->t0_ns) / 1e9;
  double cpu0 = r->cpu0, cpu1 = pid ? cpu_of(pid) : -1;
  qsort(r->lat_ms, r->n_lat, sizeof *r->lat_ms, cmp_dbl);
  unsigned long ok = r->done - r->failed;
  printf("cmp: op=%s auth=%s keytype=%s transport=%s sessions=%u ok=%lu failed=%lu secs=%.2f "
         "tps=%.1f p50_ms=%.2f p90_ms=%.2f"
         " p99_ms=%.2f max_ms=%.2f",
         op, auth, keytype,
         tcp    ? "tcp"
         : coap ? "coap"
         : https
             ? (new_conn ? (tls_resume ? "https-conn-per-message" : "https-conn-per-message-full")
                         : "https")
         : new_conn ? "http-conn-per-message"
                    : "http",
         r->n, ok, r->failed, secs, (double)ok / secs, pct(r->lat_ms, r->n_lat, 0.5),
         pct(r->lat_ms, r->n_lat, 0.9), pct(r->lat_ms, r->n_lat, 0.99),
         r->n_lat ? r->lat_ms[r->n_lat - 1] : 0.0);
  if (cpu0 >= 0 && cpu1 >= 0 && ok > 0)
    printf(" server_cpu_s=%.2f server_cpu_ms_per_tx=%.3f", cpu1 - cpu0,
           (cpu1 - cpu0) * 1000.0 / (double)ok);
  if (rate > 0)
    printf(" rate=%lu", rate);
  printf("\n");
  for (int b = 0; b < 32; b++)
    if (r->by_failinfo[b])
      printf("  failInfo %s: %lu\n", cg_failinfo_name(b) ? cg_failinfo_name(b) : "?",
             r->by_failinfo[b]);
  if (r->other_failures)
    printf("  other failures (transport %lu, malformed or unexpected answers): %lu\n",
           r->transport_errors, r->other_failures);
  if (r->not_granted)
    printf("  implicit confirmation not granted in %lu answers: certConf sent"
           " (the profile's implicit_confirm is false)\n",
           r->not_granted);
  rc = r->failed == 0 && ok > 0 ? 0 : 1;
close:
  for (unsigned i = 0; i < r->n; i++) {
    if (r->s[i].http != NULL)
      cg_http_client_close(r->s[i].http, NULL, NULL);
    if (r->s[i].coap != NULL)
      cg_coap_client_close(r->s[i].coap);
    cmp_client_txn_free(r->s[i].txn);
    cg_key_free(r->s[i].key);
    for (size_t j = 0; j < r->s[i].n_certs; j++)
      free(r->s[i].certs[j]);
    free(r->s[i].certs);
    free(r->s[i].cert_lens);
  }
  uv_close((uv_handle_t *)&r->pace, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  uv_loop_close(&r->loop);
  cg_tls_client_free(tls);
out:
  free(r->s);
  free(r->idle);
  free(r->lat_ms);
  cg_wipe(r->secret, sizeof r->secret);
  free(r);
  return rc;
}
