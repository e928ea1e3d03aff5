/*
 * cmp_link.c - see cmp_link.h.
 *
 * The link holds up to max_conns connections (HTTP: one cg_http_client each,
 * kept alive; TCP: a slot per exchange in flight).  A message takes a free
 * connection or waits in the queue (first come, first served); an answered
 * message frees its connection for the next one.  Messages to send again
 * later, and failures to report on a later turn (a callback never runs from
 * inside ca_cmp_link_send()), sit in the `later` list by due time, with one
 * timer for the earliest.  A connection idle longer than idle_ms is replaced
 * by a new client before it carries a message: a server closes idle
 * connections after a while, and a message sent just as it does so may or
 * may not have reached it.
 */
#include "ca_backends/cmp_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "transports/http.h"
#include "transports/http_client.h"
#include "transports/tcp_client.h"

#define MAX_CONNS 256

struct ca_cmp_link_conn {
  struct ca_cmp_link *link;
  struct cg_http_client *http; /* HTTP: NULL until first used */
  struct ca_cmp_link_req *req;    /* the message in flight; NULL: free */
  uint64_t last_used_ms;
  uint64_t opened_before;      /* connections of the clients this slot replaced */
};

struct ca_cmp_link {
  uv_loop_t *loop;
  struct ca_cmp_link_opts o;
  char host[64], path[512];
  struct ca_cmp_link_conn conns[MAX_CONNS];
  struct ca_cmp_link_req *queue, *queue_tail;
  unsigned queued;
  struct ca_cmp_link_req *later; /* sends again and failures to report, by due_ms */
  uv_timer_t timer;
  bool timer_open;
  int open; /* handles, clients and TCP exchanges not yet ended */
  bool closing;
  struct ca_cmp_link_stats stats;
};

static void dispatch(struct ca_cmp_link *l);
static void schedule(struct ca_cmp_link *l, struct ca_cmp_link_req *r, uint64_t delay_ms);

static void maybe_free(struct ca_cmp_link *l) {
  if (l->closing && l->open == 0)
    free(l);
}

static void on_timer_closed(uv_handle_t *h) {
  struct ca_cmp_link *l = h->data;
  l->open--;
  maybe_free(l);
}

static void on_client_closed(void *arg) {
  struct ca_cmp_link *l = arg;
  l->open--;
  maybe_free(l);
}

int ca_cmp_link_new(uv_loop_t *loop, const struct ca_cmp_link_opts *o, struct ca_cmp_link **out) {
  *out = NULL;
  if (o->host == NULL || strlen(o->host) >= sizeof ((struct ca_cmp_link *)0)->host || o->port < 1 ||
      o->port > 65535 || o->max_conns == 0 || o->max_conns > MAX_CONNS ||
      (!o->tcp && (o->path == NULL || o->path[0] != '/' ||
                   strlen(o->path) >= sizeof ((struct ca_cmp_link *)0)->path)))
    return CG_EINVAL;
  struct ca_cmp_link *l = calloc(1, sizeof *l);
  if (l == NULL)
    return CG_ENOMEM;
  l->loop = loop;
  l->o = *o;
  snprintf(l->host, sizeof l->host, "%s", o->host);
  snprintf(l->path, sizeof l->path, "%s", o->tcp ? "/" : o->path);
  l->o.host = l->host;
  l->o.path = l->path;
  for (unsigned i = 0; i < o->max_conns; i++)
    l->conns[i].link = l;
  *out = l;
  return 0;
}

/* The message leaves its connection (free for the next one). */
static void release(struct ca_cmp_link *l, struct ca_cmp_link_req *r) {
  if (r->conn == NULL)
    return;
  r->conn->req = NULL;
  r->conn->last_used_ms = uv_now(l->loop);
  r->conn = NULL;
  l->stats.in_flight--;
}

/* The request r ends: its callback, then the next queued messages go. */
static void complete(struct ca_cmp_link *l, struct ca_cmp_link_req *r, int err,
                     const uint8_t *answer, size_t len, const char *detail) {
  release(l, r);
  if (err)
    l->stats.failed++;
  r->cb(r, err, answer, len, detail != NULL && detail[0] ? detail : cg_strerror(err));
  dispatch(l);
}

/* A send that failed: again later when nothing was delivered and tries are
 * left, else the end. */
static void failed(struct ca_cmp_link *l, struct ca_cmp_link_req *r, int err, const char *detail) {
  if (err == CG_ECONNECT && r->tries <= l->o.retries && !l->closing) {
    cg_debug("cmp link: %s:%d: %s; sending again in %u ms", l->host, l->o.port, detail,
             l->o.retry_delay_ms);
    release(l, r);
    l->stats.retried++;
    schedule(l, r, l->o.retry_delay_ms);
    dispatch(l);
    return;
  }
  complete(l, r, err, NULL, 0, detail);
}

static void on_http(void *arg, int err, const struct cg_http_response *rsp) {
  struct ca_cmp_link_conn *c = arg;
  struct ca_cmp_link *l = c->link;
  struct ca_cmp_link_req *r = c->req;
  char detail[256];
  if (r == NULL)
    return; /* ended by ca_cmp_link_close() */
  if (err) {
    snprintf(detail, sizeof detail, "%s", cg_http_client_detail(c->http));
    failed(l, r, err, detail);
    return;
  }
  if (rsp->status != 200 || !cg_http_is_pkixcmp(rsp->content_type, strlen(rsp->content_type))) {
    size_t n = 0;
    while (n < rsp->len && n < 120 && rsp->body[n] >= 0x20 && rsp->body[n] < 0x7f)
      n++;
    snprintf(detail, sizeof detail, "HTTP status %d, Content-Type '%.60s'%s%.*s", rsp->status,
             rsp->content_type, n ? ": " : "", (int)n, (const char *)rsp->body);
    complete(l, r, CG_EBAD_DATA, NULL, 0, detail);
    return;
  }
  complete(l, r, 0, rsp->body, rsp->len, NULL);
}

static void on_tcp(void *arg, int err, const struct cg_tcp_answer *a, const char *detail) {
  struct ca_cmp_link_conn *c = arg;
  struct ca_cmp_link *l = c->link;
  struct ca_cmp_link_req *r = c->req;
  char text[256];
  l->open--;
  if (err != CG_ECONNECT)
    l->stats.connections++;
  if (r == NULL) {
    maybe_free(l); /* ended by ca_cmp_link_close() */
    return;
  }
  if (err) {
    failed(l, r, err, detail);
  } else if (a->type != 5) {
    /* A TCP pollRep or errorMsgRep: not an answer this link can use. */
    snprintf(text, sizeof text, "TCP message type %d instead of a PKIMessage", a->type);
    complete(l, r, CG_EBAD_DATA, NULL, 0, text);
  } else {
    complete(l, r, 0, a->value, a->len, NULL);
  }
}

/* Sends r over the free connection c. */
static void start(struct ca_cmp_link *l, struct ca_cmp_link_conn *c, struct ca_cmp_link_req *r) {
  c->req = r;
  r->conn = c;
  if (r->tries++ == 0)
    l->stats.sent++;
  l->stats.in_flight++;
  int err = 0;
  if (l->o.tcp) {
    struct cg_tcp_exchange_opts o = {.host = l->host,
                                     .port = l->o.port,
                                     .framing = l->o.framing,
                                     .max_frame = l->o.max_answer,
                                     .timeout_ms = l->o.timeout_ms};
    err = cg_tcp_exchange(l->loop, &o, 0, r->msg, r->len, on_tcp, c);
    if (err == 0)
      l->open++;
  } else {
    uint64_t now = uv_now(l->loop);
    if (c->http != NULL && l->o.idle_ms > 0 && now - c->last_used_ms > l->o.idle_ms) {
      /* Idle too long: the server may be closing it right now. */
      c->opened_before += cg_http_client_connections(c->http);
      cg_http_client_close(c->http, on_client_closed, l);
      c->http = NULL;
    }
    if (c->http == NULL) {
      struct cg_http_client_opts ho = {.host = l->host,
                                       .port = l->o.port,
                                       .max_body = l->o.max_answer,
                                       .timeout_ms = l->o.timeout_ms,
                                       .tls = l->o.tls};
      err = cg_http_client_new(l->loop, &ho, &c->http);
      if (err == 0)
        l->open++;
    }
    if (err == 0)
      err = cg_http_client_post(c->http, l->path, r->msg, r->len, on_http, c);
  }
  if (err == 0)
    return;
  /* Nothing was sent: tried again, or reported, on a later turn. */
  release(l, r);
  if (err == CG_ECONNECT && r->tries <= l->o.retries) {
    l->stats.retried++;
  } else {
    r->err = err;
    l->stats.failed++;
  }
  schedule(l, r, r->err ? 0 : l->o.retry_delay_ms);
}

/* Connections free up: queued messages go. */
static void dispatch(struct ca_cmp_link *l) {
  for (unsigned i = 0; i < l->o.max_conns && l->queue != NULL && !l->closing; i++) {
    struct ca_cmp_link_conn *c = &l->conns[i];
    if (c->req != NULL)
      continue;
    struct ca_cmp_link_req *r = l->queue;
    l->queue = r->next;
    if (l->queue == NULL)
      l->queue_tail = NULL;
    l->queued--;
    r->next = NULL;
    start(l, c, r);
  }
}

static void on_timer(uv_timer_t *t);

static void arm(struct ca_cmp_link *l) {
  if (l->later == NULL || l->closing)
    return;
  uint64_t now = uv_now(l->loop), due = l->later->due_ms;
  uv_timer_start(&l->timer, on_timer, due > now ? due - now : 0, 0);
}

static void schedule(struct ca_cmp_link *l, struct ca_cmp_link_req *r, uint64_t delay_ms) {
  if (!l->timer_open) {
    uv_timer_init(l->loop, &l->timer);
    l->timer.data = l;
    l->timer_open = true;
    l->open++;
  }
  r->due_ms = uv_now(l->loop) + delay_ms;
  struct ca_cmp_link_req **p = &l->later;
  while (*p != NULL && (*p)->due_ms <= r->due_ms)
    p = &(*p)->next;
  r->next = *p;
  *p = r;
  arm(l);
}

static void on_timer(uv_timer_t *t) {
  struct ca_cmp_link *l = t->data;
  uint64_t now = uv_now(l->loop);
  while (l->later != NULL && l->later->due_ms <= now) {
    struct ca_cmp_link_req *r = l->later;
    l->later = r->next;
    r->next = NULL;
    if (r->err) {
      int err = r->err;
      r->err = 0;
      r->cb(r, err, NULL, 0, cg_strerror(err));
      dispatch(l);
    } else if (ca_cmp_link_send(l, r) != 0) {
      l->stats.failed++;
      r->cb(r, CG_EBUSY, NULL, 0, "the gateway is stopping");
    }
  }
  arm(l);
}

int ca_cmp_link_send(struct ca_cmp_link *l, struct ca_cmp_link_req *r) {
  if (l->closing || (r->tries == 0 && l->queued >= l->o.max_queue))
    return CG_EBUSY;
  r->conn = NULL;
  r->err = 0;
  for (unsigned i = 0; i < l->o.max_conns && l->queue == NULL; i++)
    if (l->conns[i].req == NULL) {
      start(l, &l->conns[i], r);
      return 0;
    }
  r->next = NULL;
  if (l->queue_tail != NULL)
    l->queue_tail->next = r;
  else
    l->queue = r;
  l->queue_tail = r;
  l->queued++;
  return 0;
}

/* Ends r at close: its callback, now. */
static void end_at_close(struct ca_cmp_link *l, struct ca_cmp_link_req *r) {
  l->stats.failed++;
  r->next = NULL;
  r->cb(r, CG_EBUSY, NULL, 0, "the gateway is stopping");
}

void ca_cmp_link_close(struct ca_cmp_link *l) {
  if (l->closing)
    return;
  l->closing = true;
  struct ca_cmp_link_req *lists[2] = {l->queue, l->later};
  l->queue = l->queue_tail = l->later = NULL;
  l->queued = 0;
  for (int k = 0; k < 2; k++)
    while (lists[k] != NULL) {
      struct ca_cmp_link_req *r = lists[k];
      lists[k] = r->next;
      end_at_close(l, r);
    }
  for (unsigned i = 0; i < l->o.max_conns; i++) {
    struct ca_cmp_link_conn *c = &l->conns[i];
    struct ca_cmp_link_req *r = c->req;
    if (r != NULL) {
      /* Its client's (or exchange's) callback finds the slot empty. */
      c->req = NULL;
      r->conn = NULL;
      l->stats.in_flight--;
      end_at_close(l, r);
    }
    if (c->http != NULL) {
      c->opened_before += cg_http_client_connections(c->http);
      cg_http_client_close(c->http, on_client_closed, l);
      c->http = NULL;
    }
  }
  if (l->timer_open)
    uv_close((uv_handle_t *)&l->timer, on_timer_closed);
  maybe_free(l);
}

void ca_cmp_link_stats(const struct ca_cmp_link *l, struct ca_cmp_link_stats *out) {
  *out = l->stats;
  out->queued = l->queued;
  if (!l->o.tcp) {
    out->connections = 0;
    for (unsigned i = 0; i < l->o.max_conns; i++)
      out->connections += l->conns[i].opened_before +
                          (l->conns[i].http ? cg_http_client_connections(l->conns[i].http) : 0);
  }
}
