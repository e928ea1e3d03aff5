/*
 * admin.c - the admin listener ([server] admin; docs/operations.md): GET
 * /healthz (the loop answers), /readyz (the store takes a write, no backend
 * failed of late, the certificates have time left) and /metrics (the
 * Prometheus text format).  It changes nothing and shows nothing secret.
 *
 * /readyz waits for a probe write on the store thread, /metrics for counts
 * read from the database on a worker with the listener's own read
 * connection; the requests that arrive meanwhile wait for the same probe or
 * count.  Loop thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/gateway_int.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "core/work.h"
#include "core/x509.h"
#include "transports/tls.h"

#define MAX_WAITING 32         /* requests waiting for one probe or one count */
#define BACKEND_GRACE_MS 60000 /* a failed backend call makes /readyz fail this long */

struct waiters {
  struct cg_http_request *req[MAX_WAITING];
  size_t n;
};

struct gw_admin {
  struct gateway *gw;
  struct cg_http_server *srv;
  bool closed;
  /* /readyz */
  struct cg_store_op probe;
  bool probing;
  struct waiters ready;
  /* /metrics */
  struct cg_store *reader; /* NULL: no database counts */
  struct cg_work count;
  bool counting;
  int64_t count_at;
  int count_err;
  struct cg_store_gauges gauges;
  struct waiters metrics;
};

static void respond(struct cg_http_request *req, int status, const char *ctype, const void *body,
                    size_t len) {
  cg_http_respond_typed(req, status, ctype, body, len);
}

static void respond_json(struct cg_http_request *req, int status, const char *json) {
  respond(req, status, "application/json", json, strlen(json));
}

/* Adds req to w; false (and 503) when too many wait already. */
static bool wait_for(struct waiters *w, struct cg_http_request *req) {
  if (w->n == MAX_WAITING) {
    respond_json(req, 503, "{\"status\": \"busy\"}\n");
    return false;
  }
  w->req[w->n++] = req;
  return true;
}

/* ------------------------------------------------------------------------ */
/* /readyz                                                                  */

/* Appends one problem, as a JSON string, to the list in out. */
static void problem(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(char *out, size_t cap, const char *fmt, ...) {
  char text[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  size_t n = strlen(out);
  if (n + 8 >= cap)
    return;
  snprintf(out + n, cap - n, "%s\"", n > 0 ? ", " : "");
  n = cg_json_escape(out, strlen(out), cap, text, strlen(text));
  snprintf(out + n, cap - n, "\"");
}

/* A certificate's notAfter against the margin. */
static void check_expiry(char *out, size_t cap, const char *what, int64_t not_after, int64_t now,
                         unsigned days) {
  if (not_after <= 0 || days == 0)
    return;
  if (not_after <= now)
    problem(out, cap, "%s certificate has expired", what);
  else if (not_after - now < (int64_t)days * 86400)
    problem(out, cap, "%s certificate expires in %lld s (readiness_cert_days = %u)", what,
            (long long)(not_after - now), days);
}

/* The issuing CA certificate of backend i (NULL when it has none yet). */
static const struct der_view *backend_ca(struct gateway *gw, size_t i) {
  const struct der_view *chain = NULL;
  size_t n = 0;
  if (gw->backend_ops[i]->ca_certs != NULL)
    gw->backend_ops[i]->ca_certs(gw->backend_state[i], &chain, &n);
  return n > 0 ? &chain[0] : NULL;
}

bool gw_backend_failing(const struct gateway *gw, size_t i) {
  return gw->backend_failed_at[i] > gw->backend_ok_at[i] &&
         uv_now(gw->loop) - gw->backend_failed_at[i] < BACKEND_GRACE_MS;
}

static void on_probed(struct cg_store_op *op) {
  struct gw_admin *a = op->arg;
  struct gateway *gw = a->gw;
  char problems[2048] = "";
  int64_t now = (int64_t)time(NULL);
  uint64_t ms = uv_now(gw->loop);
  a->probing = false;
  if (op->result != 0)
    problem(problems, sizeof problems, "store: the database takes no write (%s)",
            cg_strerror(op->result));
  for (size_t i = 0; i < gw->n_backends; i++)
    if (gw_backend_failing(gw, i))
      problem(problems, sizeof problems, "backend %s: its last call failed %llu s ago",
              gw->cfg.backends[i].name,
              (unsigned long long)((ms - gw->backend_failed_at[i]) / 1000));
  unsigned days = gw->conf->cfg.readiness_cert_days;
  check_expiry(problems, sizeof problems, "the RA", gw->conf->ra.x509.not_after, now, days);
  check_expiry(problems, sizeof problems, "the TLS", gw->tls_not_after, now, days);
  for (size_t i = 0; i < gw->n_backends; i++) {
    const struct der_view *ca = backend_ca(gw, i);
    struct cg_x509 x;
    char what[CG_NAME_MAX + 24];
    snprintf(what, sizeof what, "backend %s's CA", gw->cfg.backends[i].name);
    if (ca != NULL && cg_x509_parse(ca->p, ca->len, &x) == 0)
      check_expiry(problems, sizeof problems, what, x.not_after, now, days);
  }
  if (gw->stopping)
    problem(problems, sizeof problems, "stopping");
  char body[2200];
  if (problems[0] == 0)
    snprintf(body, sizeof body, "{\"status\": \"ready\"}\n");
  else
    snprintf(body, sizeof body, "{\"status\": \"not ready\", \"problems\": [%s]}\n", problems);
  for (size_t i = 0; i < a->ready.n; i++)
    respond_json(a->ready.req[i], problems[0] == 0 ? 200 : 503, body);
  a->ready.n = 0;
  gw_maybe_finish_stop(gw);
}

static void readyz(struct gw_admin *a, struct cg_http_request *req) {
  if (!wait_for(&a->ready, req) || a->probing)
    return;
  memset(&a->probe, 0, sizeof a->probe);
  a->probe.kind = CG_STORE_OP_PROBE;
  a->probe.cb = on_probed;
  a->probe.arg = a;
  a->probing = true;
  if (cg_store_submit(a->gw->store, &a->probe) != 0) {
    a->probe.result = CG_EBUSY;
    on_probed(&a->probe);
  }
}

/* ------------------------------------------------------------------------ */
/* /metrics                                                                 */

static void on_count(struct cg_work *w) {
  struct gw_admin *a = w->arg;
  a->count_err = cg_store_gauges(a->reader, a->count_at, &a->gauges);
}

/* Appends to out; CG_ENOMEM sticks in *err. */
static void put(struct cg_buf *out, int *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put(struct cg_buf *out, int *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (*err == 0)
    *err = gw_metrics_vprintf(out, fmt, ap);
  va_end(ap);
}

static void put_store(struct gw_admin *a, struct cg_buf *out, int *err) {
  struct cg_store_counters c;
  cg_store_stats(a->gw->store, &c);
  put(out, err,
      "# HELP cmpgw_store_queue_depth Store operations submitted and not yet done\n"
      "# TYPE cmpgw_store_queue_depth gauge\ncmpgw_store_queue_depth %llu\n"
      "# HELP cmpgw_store_operations_total Store operations run\n"
      "# TYPE cmpgw_store_operations_total counter\ncmpgw_store_operations_total %llu\n"
      "# HELP cmpgw_store_group_operations_total Operations in committed write groups "
      "(divided by the commits: the group size)\n"
      "# TYPE cmpgw_store_group_operations_total counter\n"
      "cmpgw_store_group_operations_total %llu\n",
      (unsigned long long)c.queued, (unsigned long long)c.ops,
      (unsigned long long)c.write_group_ops);
  put(out, err,
      "# HELP cmpgw_store_failed_groups_total Write groups whose transaction was lost or not "
      "committed\n# TYPE cmpgw_store_failed_groups_total counter\n"
      "cmpgw_store_failed_groups_total %llu\n"
      "# HELP cmpgw_store_paced_groups_total Write groups held back by commit pacing\n"
      "# TYPE cmpgw_store_paced_groups_total counter\ncmpgw_store_paced_groups_total %llu\n",
      (unsigned long long)c.failed_groups, (unsigned long long)c.held);
  put(out, err,
      "# HELP cmpgw_store_commit_seconds Time from BEGIN to COMMIT of a write group\n"
      "# TYPE cmpgw_store_commit_seconds histogram\n");
  uint64_t cum = 0;
  for (size_t b = 0; b < CG_STORE_COMMIT_BUCKETS; b++) {
    cum += c.commit_buckets[b];
    if (b + 1 < CG_STORE_COMMIT_BUCKETS)
      put(out, err, "cmpgw_store_commit_seconds_bucket{le=\"%g\"} %llu\n",
          cg_store_commit_bucket_us[b] / 1e6, (unsigned long long)cum);
    else
      put(out, err, "cmpgw_store_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
          (unsigned long long)cum);
  }
  put(out, err, "cmpgw_store_commit_seconds_sum %.9g\ncmpgw_store_commit_seconds_count %llu\n",
      c.commit_ns / 1e9, (unsigned long long)c.commits);
}

static void put_connections(struct gateway *gw, struct cg_buf *out, int *err) {
  struct cg_admission_stats st;
  cg_admission_stats(gw->admission, &st);
  static const char *const limits[3] = {"max_connections", "max_connections_per_address",
                                        "max_buffered"};
  struct listener_counts {
    const char *name;
    unsigned open;
    uint64_t refused[3], guard;
  } ls[3];
  size_t n = 0;
  if (gw->http != NULL) {
    ls[n] = (struct listener_counts){
        "http", cg_http_server_conns(gw->http), {0}, gw->guard_refused[GW_HTTP]};
    cg_http_server_refused(gw->http, ls[n++].refused);
  }
  if (gw->https != NULL) {
    ls[n] = (struct listener_counts){
        "https", cg_http_server_conns(gw->https), {0}, gw->guard_refused[GW_HTTPS]};
    cg_http_server_refused(gw->https, ls[n++].refused);
  }
  if (gw->tcp != NULL) {
    ls[n] = (struct listener_counts){
        "tcp", cg_tcp_server_conns(gw->tcp), {0}, gw->guard_refused[GW_TCP]};
    cg_tcp_server_refused(gw->tcp, ls[n++].refused);
  }
  put(out, err,
      "# HELP cmpgw_connections_open Connections open, by listener\n"
      "# TYPE cmpgw_connections_open gauge\n");
  for (size_t i = 0; i < n; i++)
    put(out, err, "cmpgw_connections_open{listener=\"%s\"} %u\n", ls[i].name, ls[i].open);
  put(out, err,
      "# HELP cmpgw_connections_refused_total Connections and requests refused, by "
      "listener and by the limit (the limits are the listeners' together)\n"
      "# TYPE cmpgw_connections_refused_total counter\n");
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < 3; k++)
      put(out, err, "cmpgw_connections_refused_total{listener=\"%s\",limit=\"%s\"} %llu\n",
          ls[i].name, limits[k], (unsigned long long)ls[i].refused[k]);
    put(out, err,
        "cmpgw_connections_refused_total{listener=\"%s\",limit=\"failed_check_burst\"} %llu\n",
        ls[i].name, (unsigned long long)ls[i].guard);
  }
  if (gw->coap != NULL) {
    uint64_t refused[4];
    cg_coap_server_refused(gw->coap, refused);
    put(out, err,
        "# HELP cmpgw_coap_requests_pending CoAP requests handed over and not yet answered\n"
        "# TYPE cmpgw_coap_requests_pending gauge\ncmpgw_coap_requests_pending %u\n"
        "# HELP cmpgw_coap_refused_total New CoAP requests refused, by the limit\n"
        "# TYPE cmpgw_coap_refused_total counter\n"
        "cmpgw_coap_refused_total{limit=\"coap_rate\"} %llu\n"
        "cmpgw_coap_refused_total{limit=\"max_pending\"} %llu\n"
        "cmpgw_coap_refused_total{limit=\"failed_check_burst\"} %llu\n"
        "cmpgw_coap_refused_total{limit=\"max_buffered\"} %llu\n"
        "# HELP cmpgw_coap_buffered_octets Octets the CoAP Block1 transfers being received hold\n"
        "# TYPE cmpgw_coap_buffered_octets gauge\ncmpgw_coap_buffered_octets %zu\n"
        "# HELP cmpgw_coap_echo_challenges_total First requests of unverified peers answered "
        "with 4.01 and an Echo (RFC 9175)\n"
        "# TYPE cmpgw_coap_echo_challenges_total counter\n"
        "cmpgw_coap_echo_challenges_total %llu\n",
        cg_coap_server_pending(gw->coap), (unsigned long long)refused[0],
        (unsigned long long)refused[1], (unsigned long long)gw->guard_refused[GW_COAP],
        (unsigned long long)refused[3], cg_coap_server_held(gw->coap),
        (unsigned long long)refused[2]);
  }
  put(out, err,
      "# HELP cmpgw_failed_checks_total Requests whose MAC or signature did not verify\n"
      "# TYPE cmpgw_failed_checks_total counter\ncmpgw_failed_checks_total %llu\n"
      "# HELP cmpgw_buffered_bytes Octets of requests buffered now\n"
      "# TYPE cmpgw_buffered_bytes gauge\ncmpgw_buffered_bytes %zu\n",
      (unsigned long long)gw->guard.failed, st.buffered);
}

static void put_expiry(struct gateway *gw, struct cg_buf *out, int *err, int64_t now) {
  put(out, err,
      "# HELP cmpgw_certificate_expiry_seconds Seconds until a certificate the "
      "gateway uses expires (negative: expired)\n"
      "# TYPE cmpgw_certificate_expiry_seconds gauge\n");
  if (gw->conf->ra.x509.not_after > 0)
    put(out, err, "cmpgw_certificate_expiry_seconds{certificate=\"ra\"} %lld\n",
        (long long)(gw->conf->ra.x509.not_after - now));
  if (gw->tls_not_after > 0)
    put(out, err, "cmpgw_certificate_expiry_seconds{certificate=\"tls\"} %lld\n",
        (long long)(gw->tls_not_after - now));
  for (size_t i = 0; i < gw->n_backends; i++) {
    const struct der_view *ca = backend_ca(gw, i);
    struct cg_x509 x;
    char name[2 * CG_NAME_MAX + 2];
    gw_metrics_label(name, sizeof name, gw->cfg.backends[i].name);
    if (ca != NULL && cg_x509_parse(ca->p, ca->len, &x) == 0)
      put(out, err, "cmpgw_certificate_expiry_seconds{certificate=\"ca\",backend=\"%s\"} %lld\n",
          name, (long long)(x.not_after - now));
  }
}

static void on_counted(struct cg_work *w, int status) {
  struct gw_admin *a = w->arg;
  struct gateway *gw = a->gw;
  a->counting = false;
  struct cg_buf out;
  cg_buf_init(&out, 16u << 20);
  int err = 0;
  uint64_t submitted, completed;
  cg_work_counts(&submitted, &completed);
  put(&out, &err,
      "# HELP cmpgw_build_info The version running\n# TYPE cmpgw_build_info gauge\n"
      "cmpgw_build_info{wolfssl=\"%s\"} 1\n"
      "# HELP cmpgw_start_time_seconds When the daemon started (Unix time)\n"
      "# TYPE cmpgw_start_time_seconds gauge\ncmpgw_start_time_seconds %lld\n",
      cg_tls_library(), (long long)gw->start_time);
  put(&out, &err,
      "# HELP cmpgw_exchanges_in_flight Exchanges begun and not yet answered\n"
      "# TYPE cmpgw_exchanges_in_flight gauge\ncmpgw_exchanges_in_flight %u\n"
      "# HELP cmpgw_threadpool_jobs_queued Jobs handed to the threadpool and not yet done\n"
      "# TYPE cmpgw_threadpool_jobs_queued gauge\ncmpgw_threadpool_jobs_queued %llu\n"
      "# HELP cmpgw_threadpool_jobs_total Jobs handed to the threadpool\n"
      "# TYPE cmpgw_threadpool_jobs_total counter\ncmpgw_threadpool_jobs_total %llu\n",
      gw->inflight, (unsigned long long)(submitted - completed), (unsigned long long)submitted);
  if (err == 0)
    err = gw_metrics_render(gw->metrics, &out);
  put_store(a, &out, &err);
  put_connections(gw, &out, &err);
  put_expiry(gw, &out, &err, a->count_at);
  if (a->reader != NULL && status == 0 && a->count_err == 0)
    put(&out, &err,
        "# HELP cmpgw_secrets_locked Shared secrets locked after failed MACs\n"
        "# TYPE cmpgw_secrets_locked gauge\ncmpgw_secrets_locked %llu\n"
        "# HELP cmpgw_pending_approvals Requests waiting for an operator\n"
        "# TYPE cmpgw_pending_approvals gauge\ncmpgw_pending_approvals %llu\n"
        "# HELP cmpgw_pending_ca_requests Requests approved or accepted, waiting for the CA\n"
        "# TYPE cmpgw_pending_ca_requests gauge\ncmpgw_pending_ca_requests %llu\n",
        (unsigned long long)a->gauges.locked_secrets,
        (unsigned long long)a->gauges.pending_approvals, (unsigned long long)a->gauges.pending_ca);
  for (size_t i = 0; i < a->metrics.n; i++) {
    if (err == 0)
      respond(a->metrics.req[i], 200, "text/plain; version=0.0.4; charset=utf-8", out.data,
              out.len);
    else
      respond_json(a->metrics.req[i], 503, "{\"status\": \"out of memory\"}\n");
  }
  a->metrics.n = 0;
  cg_buf_free(&out);
  gw_maybe_finish_stop(gw);
}

static void metrics(struct gw_admin *a, struct cg_http_request *req) {
  if (!wait_for(&a->metrics, req) || a->counting)
    return;
  a->counting = true;
  a->count_at = (int64_t)time(NULL);
  a->count.run = on_count;
  a->count.done = on_counted;
  a->count.arg = a;
  if (a->reader == NULL || cg_work_submit_pool(a->gw->loop, &a->count) != 0)
    on_counted(&a->count, UV_ECANCELED);
}

/* ------------------------------------------------------------------------ */
/* The listener.                                                            */

static void on_request(void *arg, struct cg_http_request *req, const char *path,
                       const uint8_t *body, size_t len) {
  (void)body;
  (void)len;
  struct gw_admin *a = arg;
  if (strcmp(path, "/healthz") == 0)
    respond_json(req, 200, "{\"status\": \"ok\"}\n");
  else if (strcmp(path, "/readyz") == 0)
    readyz(a, req);
  else if (strcmp(path, "/metrics") == 0)
    metrics(a, req);
  else
    respond_json(req, 404,
                 "{\"status\": \"not found\", \"paths\": [\"/healthz\", \"/readyz\", "
                 "\"/metrics\"]}\n");
}

int gw_admin_start(struct gateway *gw) {
  const struct cg_config *cfg = &gw->cfg;
  char host[256];
  int port;
  gw->admin_closed = true;
  if (cfg->admin[0] == 0)
    return 0;
  if (cg_parse_hostport(cfg->admin, host, sizeof host, &port))
    return cg_config_error(cfg, "server", "admin", "\"%s\" is not HOST:PORT", cfg->admin);
  struct gw_admin *a = calloc(1, sizeof *a);
  if (a == NULL)
    return CG_ENOMEM;
  a->gw = gw;
  char db[CG_PATH_MAX];
  /* The password was set by the gateway before it opened the store. */
  if (cg_config_store_locator(cfg, db, sizeof db) != 0 ||
      cg_store_open_reader(db, &a->reader) != 0) {
    cg_warn("admin: no read connection: /metrics leaves out the database's counts");
    a->reader = NULL;
  }
  struct cg_http_limits lim;
  cg_http_limits_default(&lim);
  lim.max_body = 0;
  lim.max_conns = 64; /* its own: a scraper cannot take the devices' connections */
  lim.header_timeout_ms = cfg->header_timeout_ms;
  lim.idle_timeout_ms = cfg->idle_timeout_ms;
  int err = cg_http_server_start(gw->loop, host, port, &lim, on_request, a, &a->srv);
  if (err != 0) {
    cg_error("cannot listen on admin %s: %s", cfg->admin, cg_strerror(err));
    if (a->reader != NULL)
      cg_store_close(a->reader);
    free(a);
    return err;
  }
  cg_http_server_get_only(a->srv);
  gw->admin = a;
  gw->admin_closed = false;
  cg_info("listening admin %s:%d (/healthz, /readyz, /metrics)", host, cg_http_server_port(a->srv));
  return 0;
}

static void on_admin_closed(void *arg) {
  struct gateway *gw = arg;
  gw->admin_closed = true;
  gw_maybe_finish_stop(gw);
}

void gw_admin_stop(struct gateway *gw) {
  if (gw->admin == NULL || gw->admin->closed)
    return;
  gw->admin->closed = true;
  cg_http_server_stop(gw->admin->srv, on_admin_closed, gw);
}

bool gw_admin_busy(const struct gateway *gw) {
  return gw->admin != NULL && (gw->admin->counting || gw->admin->probing);
}

void gw_admin_free(struct gateway *gw) {
  struct gw_admin *a = gw->admin;
  if (a == NULL)
    return;
  if (a->reader != NULL)
    cg_store_close(a->reader);
  free(a);
  gw->admin = NULL;
}
