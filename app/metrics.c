/*
 * metrics.c - the counters of metrics.h: two small open-addressing tables
 * (exchanges by their labels; latency histograms by transport and request
 * type) and one for the backends, each growing by doubling, and their
 * exposition in the Prometheus text format.
 */
#include "app/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"

#define NAME 24 /* request, answer, operation and outcome names */
static const char *const transport_names[GW_TRANSPORTS] = {"http", "https", "tcp", "coap",
                                                            "approval"};
const char *gw_transport_name(enum gw_transport t) {
  return t < GW_TRANSPORTS ? transport_names[t] : "?";
}

/* Latency buckets, in seconds (the last, +Inf, is implied). */
static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                0.25,  0.5,    1,     2.5,  5,     10,   30};
#define N_BOUNDS (sizeof bounds / sizeof bounds[0])

struct hist {
  uint64_t buckets[N_BOUNDS + 1]; /* not cumulative; the last is over every bound */
  uint64_t count;
  double sum;
};

/* An exchange's labels, compared as bytes: zeroed before they are set. */
struct ex_key {
  uint8_t transport;
  int8_t status, fail_info;
  char profile[CG_NAME_MAX + 1];
  char req[NAME], rsp[NAME];
};
struct lat_key {
  uint8_t transport;
  char req[NAME];
};
struct be_key {
  char backend[CG_NAME_MAX + 1];
  char op[NAME], outcome[NAME];
};

/* One table: n slots of `size` octets, each a key of key_size octets then
 * the value at val_off (8-aligned); a slot whose first key octet is 0xff is
 * free. */
struct table {
  uint8_t *slots;
  size_t n, used, size, key_size, val_off;
};

struct gw_metrics {
  struct table ex;  /* struct ex_key, uint64_t */
  struct table lat; /* struct lat_key, struct hist */
  struct table be;  /* struct be_key, struct hist */
};

static uint64_t hash(const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

static int table_init(struct table *t, size_t key_size, size_t value_size) {
  t->key_size = key_size;
  t->val_off = (key_size + 7) & ~(size_t)7;
  t->size = (t->val_off + value_size + 7) & ~(size_t)7;
  t->n = 16;
  t->used = 0;
  t->slots = malloc(t->n * t->size);
  if (t->slots == NULL)
    return CG_ENOMEM;
  for (size_t i = 0; i < t->n; i++)
    t->slots[i * t->size] = 0xff;
  return 0;
}

static bool is_free(const struct table *t, size_t i) { return t->slots[i * t->size] == 0xff; }

/* The value of key (made zeroed when new); NULL when out of memory. */
static void *table_get(struct table *t, const void *key) {
  if (2 * (t->used + 1) > t->n) {
    struct table bigger = *t;
    bigger.n = 2 * t->n;
    bigger.used = 0;
    bigger.slots = malloc(bigger.n * t->size);
    if (bigger.slots == NULL)
      return NULL;
    for (size_t i = 0; i < bigger.n; i++)
      bigger.slots[i * t->size] = 0xff;
    for (size_t i = 0; i < t->n; i++) {
      if (is_free(t, i))
        continue;
      uint8_t *from = t->slots + i * t->size;
      size_t j = hash(from, t->key_size) & (bigger.n - 1);
      while (!is_free(&bigger, j))
        j = (j + 1) & (bigger.n - 1);
      memcpy(bigger.slots + j * t->size, from, t->size);
      bigger.used++;
    }
    free(t->slots);
    *t = bigger;
  }
  size_t i = hash(key, t->key_size) & (t->n - 1);
  while (!is_free(t, i)) {
    uint8_t *slot = t->slots + i * t->size;
    if (memcmp(slot, key, t->key_size) == 0)
      return slot + t->val_off;
    i = (i + 1) & (t->n - 1);
  }
  uint8_t *slot = t->slots + i * t->size;
  memset(slot, 0, t->size);
  memcpy(slot, key, t->key_size);
  t->used++;
  return slot + t->val_off;
}

struct gw_metrics *gw_metrics_new(void) {
  struct gw_metrics *m = calloc(1, sizeof *m);
  if (m == NULL || table_init(&m->ex, sizeof(struct ex_key), sizeof(uint64_t)) != 0 ||
      table_init(&m->lat, sizeof(struct lat_key), sizeof(struct hist)) != 0 ||
      table_init(&m->be, sizeof(struct be_key), sizeof(struct hist)) != 0) {
    gw_metrics_free(m);
    return NULL;
  }
  return m;
}

void gw_metrics_free(struct gw_metrics *m) {
  if (m == NULL)
    return;
  free(m->ex.slots);
  free(m->lat.slots);
  free(m->be.slots);
  free(m);
}

static void observe(struct hist *h, double seconds) {
  size_t b = 0;
  while (b < N_BOUNDS && seconds > bounds[b])
    b++;
  h->buckets[b]++;
  h->count++;
  h->sum += seconds;
}

/* A name copied into a key field; the key was zeroed. */
static void set(char *field, size_t cap, const char *v) {
  snprintf(field, cap, "%s", v != NULL ? v : "");
}

void gw_metrics_exchange(struct gw_metrics *m, enum gw_transport t, const char *profile,
                         const char *req, const char *rsp, int status, int fail_info,
                         double seconds) {
  struct ex_key k;
  memset(&k, 0, sizeof k);
  k.transport = (uint8_t)t;
  k.status = (int8_t)(status < -1 || status > 100 ? -1 : status);
  k.fail_info = (int8_t)(fail_info < -1 || fail_info > 100 ? -1 : fail_info);
  set(k.profile, sizeof k.profile, profile);
  set(k.req, sizeof k.req, req);
  set(k.rsp, sizeof k.rsp, rsp);
  uint64_t *n = table_get(&m->ex, &k);
  if (n != NULL)
    (*n)++;
  struct lat_key l;
  memset(&l, 0, sizeof l);
  l.transport = (uint8_t)t;
  set(l.req, sizeof l.req, req);
  struct hist *h = table_get(&m->lat, &l);
  if (h != NULL)
    observe(h, seconds);
}

void gw_metrics_backend(struct gw_metrics *m, const char *backend, const char *op,
                        const char *outcome, double seconds) {
  struct be_key k;
  memset(&k, 0, sizeof k);
  set(k.backend, sizeof k.backend, backend);
  set(k.op, sizeof k.op, op);
  set(k.outcome, sizeof k.outcome, outcome);
  struct hist *h = table_get(&m->be, &k);
  if (h != NULL)
    observe(h, seconds);
}

/* ------------------------------------------------------------------------ */
/* Exposition.                                                              */

int gw_metrics_vprintf(struct cg_buf *out, const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  uint8_t *p = n >= 0 ? cg_buf_reserve(out, (size_t)n + 1) : NULL;
  if (p != NULL) {
    vsnprintf((char *)p, (size_t)n + 1, fmt, again);
    out->len += (size_t)n;
  }
  va_end(again);
  return p != NULL ? 0 : CG_ENOMEM;
}

static int put(struct cg_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(struct cg_buf *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int err = gw_metrics_vprintf(out, fmt, ap);
  va_end(ap);
  return err;
}

void gw_metrics_label(char *out, size_t cap, const char *v) {
  size_t k = 0;
  for (; v != NULL && *v != 0 && k + 3 < cap; v++) {
    if (*v == '\\' || *v == '"')
      out[k++] = '\\', out[k++] = *v;
    else if (*v == '\n')
      out[k++] = '\\', out[k++] = 'n';
    else
      out[k++] = *v;
  }
  out[k] = 0;
}

static const char *status_name(int s) {
  static const char *const names[] = {
      "accepted",          "grantedWithMods",        "rejection",       "waiting",
      "revocationWarning", "revocationNotification", "keyUpdateWarning"};
  return s >= 0 && s < 7 ? names[s] : "";
}

/* The buckets, _sum and _count of one histogram, after its labels. */
static int put_hist(struct cg_buf *out, const char *name, const char *labels,
                    const struct hist *h) {
  uint64_t cum = 0;
  int err = 0;
  for (size_t b = 0; b <= N_BOUNDS && err == 0; b++) {
    cum += h->buckets[b];
    if (b < N_BOUNDS)
      err = put(out, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, bounds[b],
                (unsigned long long)cum);
    else
      err = put(out, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cum);
  }
  if (err == 0)
    err = put(out, "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name, labels, h->sum, name, labels,
              (unsigned long long)h->count);
  return err;
}

static void lat_labels(const void *key, char *out, size_t cap) {
  const struct lat_key *k = key;
  snprintf(out, cap, "transport=\"%s\",request=\"%s\"", transport_names[k->transport], k->req);
}

static void be_labels(const void *key, char *out, size_t cap) {
  const struct be_key *k = key;
  char backend[2 * CG_NAME_MAX + 2];
  gw_metrics_label(backend, sizeof backend, k->backend);
  snprintf(out, cap, "backend=\"%s\",operation=\"%s\",outcome=\"%s\"", backend, k->op, k->outcome);
}

/* Every histogram of a table whose values are struct hist. */
static int put_hists(struct cg_buf *out, const struct table *t, const char *name,
                     void (*labels)(const void *key, char *out, size_t cap)) {
  int err = 0;
  for (size_t i = 0; i < t->n && err == 0; i++) {
    if (is_free(t, i))
      continue;
    const uint8_t *slot = t->slots + i * t->size;
    struct hist h;
    char text[256];
    memcpy(&h, slot + t->val_off, sizeof h);
    labels(slot, text, sizeof text);
    err = put_hist(out, name, text, &h);
  }
  return err;
}

int gw_metrics_render(const struct gw_metrics *m, struct cg_buf *out) {
  char profile[2 * CG_NAME_MAX + 2];
  int err = put(out, "# HELP cmpgw_exchanges_total CMP exchanges answered (or dropped: "
                     "answer=\"none\"), by transport, profile, request and answer type, "
                     "PKIStatus and failInfo\n"
                     "# TYPE cmpgw_exchanges_total counter\n");
  for (size_t i = 0; i < m->ex.n && err == 0; i++) {
    if (is_free(&m->ex, i))
      continue;
    const uint8_t *slot = m->ex.slots + i * m->ex.size;
    const struct ex_key *k = (const void *)slot;
    uint64_t n;
    memcpy(&n, slot + m->ex.val_off, sizeof n);
    const char *fi = k->fail_info >= 0 ? cg_failinfo_name(k->fail_info) : NULL;
    gw_metrics_label(profile, sizeof profile, k->profile);
    err = put(out,
              "cmpgw_exchanges_total{transport=\"%s\",profile=\"%s\",request=\"%s\","
              "answer=\"%s\",status=\"%s\",failinfo=\"%s\"} %llu\n",
              transport_names[k->transport], profile, k->req, k->rsp, status_name(k->status),
              fi != NULL ? fi : "", (unsigned long long)n);
  }
  if (err == 0)
    err = put(out, "# HELP cmpgw_exchange_seconds Time from a request's arrival to its "
                   "answer, by transport and request type\n"
                   "# TYPE cmpgw_exchange_seconds histogram\n");
  if (err == 0)
    err = put_hists(out, &m->lat, "cmpgw_exchange_seconds", lat_labels);
  if (err == 0)
    err = put(out, "# HELP cmpgw_backend_call_seconds Calls to the CA backends, by backend, "
                   "operation and outcome (ok, waiting, refused: the CA's answer to the "
                   "device; error: the CA or the way to it failed)\n"
                   "# TYPE cmpgw_backend_call_seconds histogram\n");
  if (err == 0)
    err = put_hists(out, &m->be, "cmpgw_backend_call_seconds", be_labels);
  return err;
}
