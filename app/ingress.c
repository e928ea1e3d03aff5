/*
 * ingress.c - requests arriving (app/gateway_int.h): an HTTP POST is routed
 * to its profile (app/route.c), a CoAP POST likewise, a raw TCP frame goes to [server]
 * tcp_profile and a TCP pollReq finds its transaction by its polling
 * reference; each passes the failed-check budget of its address first, then
 * becomes an exchange that exchange.c drives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/gateway_int.h"
#include "app/route.h"
#include "core/err.h"
#include "core/log.h"

struct profile_rt *gw_profile_named(struct gw_conf *c, const char *name, size_t n) {
  int i = app_profile_index(&c->cfg, name, n);
  return i >= 0 ? &c->profiles[i] : NULL;
}

/* Why a request over HTTP or CoAP did not become an exchange. */
enum refusal { ADMITTED, NO_ROUTE, STOPPING, FAILED_CHECKS, NO_MEMORY };

/* A request routed by its path (HTTP's, or CoAP's Uri-Path) that passed the
 * failed-check budget of its address becomes an exchange of transport t;
 * NULL and *why otherwise (text: the routing help, for NO_ROUTE; retry: the
 * seconds to come back after, for FAILED_CHECKS).  The caller sets its
 * transport's request, then start(). */
static struct request *admit(struct gateway *gw, const char *path, const struct cg_addr *peer,
                             enum gw_transport t, const uint8_t *body, size_t len,
                             enum refusal *why, char *text, size_t cap, unsigned *retry) {
  uint32_t bodies;
  int index = app_route(&gw->conf->cfg, path, &bodies);
  if (index < 0) {
    app_route_help(&gw->conf->cfg, path, text, cap);
    *why = NO_ROUTE;
    return NULL;
  }
  struct profile_rt *p = &gw->conf->profiles[index];
  if (gw->stopping) {
    *why = STOPPING;
    return NULL;
  }
  if (!cg_guard_admits(&gw->guard, peer, uv_now(gw->loop), retry)) {
    gw->guard_refused[t]++;
    *why = FAILED_CHECKS;
    return NULL;
  }
  struct request *r = calloc(1, sizeof *r);
  if (r == NULL || (r->ex = cmp_exchange_new(&gw->conf->server, gw_current(p), body, len,
                                             (int64_t)time(NULL))) == NULL) {
    free(r);
    *why = NO_MEMORY;
    return NULL;
  }
  cmp_exchange_restrict(r->ex, bodies);
  r->gw = gw;
  r->transport = t;
  r->peer = *peer;
  r->profile = p;
  r->started_ns = uv_hrtime();
  r->conf = gw_conf_hold(gw->conf);
  *why = ADMITTED;
  return r;
}

static void start(struct request *r) {
  r->gw->inflight++;
  gw_drive(r);
}

/* What a request that did not become an exchange is told (route: the
 * routing help, for NO_ROUTE), without a line end. */
static const char *refusal_text(enum refusal why, const char *route) {
  return why == NO_ROUTE        ? route
         : why == FAILED_CHECKS ? "too many failed checks from this address; try again later"
         : why == STOPPING      ? "shutting down"
                                : "out of memory";
}

void gw_on_http_request(void *arg, struct cg_http_request *req, const char *path,
                        const uint8_t *body, size_t len) {
  struct gateway *gw = arg;
  char text[2048];
  unsigned retry = 0;
  enum refusal why;
  struct request *r =
      admit(gw, path, cg_http_request_peer(req), cg_http_request_is_tls(req) ? GW_HTTPS : GW_HTTP,
            body, len, &why, text, sizeof text, &retry);
  if (r == NULL) {
    if (why == NO_ROUTE) {
      cg_http_respond_status(req, 404, text); /* the help ends its lines */
    } else {
      char line[128];
      snprintf(line, sizeof line, "%s\n", refusal_text(why, text));
      cg_http_respond_retry(req, 503, why == FAILED_CHECKS ? retry : 0, line);
    }
    return;
  }
  uint8_t client[8192];
  size_t client_len;
  if (cg_http_request_tls_client(req, client, sizeof client, &client_len) == 0)
    cmp_exchange_set_tls_client(r->ex, (struct der_view){client, client_len});
  r->http = req;
  start(r);
}

/* A POST over CoAP (RFC 9482): routed by its Uri-Path as an HTTP request is
 * by its path; the errors are CoAP's (4.04, 5.03). */
void gw_on_coap_request(void *arg, struct cg_coap_request *req, const char *path,
                        const uint8_t *body, size_t len) {
  struct gateway *gw = arg;
  char text[2048];
  unsigned retry = 0;
  enum refusal why;
  struct request *r = admit(gw, path, cg_coap_request_peer(req), GW_COAP, body, len, &why, text,
                            sizeof text, &retry);
  if (r == NULL) {
    cg_coap_respond_error(req, why == NO_ROUTE ? 404 : 503, refusal_text(why, text));
    return;
  }
  r->coap = req;
  start(r);
}

/* A TCP pollReq answered without the engine: the request is done. */
static void poll_answered(struct request *r) {
  struct gateway *gw = r->gw;
  struct gw_conf *conf = r->conf;
  free(r);
  gw_exchange_ended(gw, conf);
  gw_maybe_finish_stop(gw);
}

/* The transaction of a TCP pollReq was read: still waiting, another TCP
 * pollRep; otherwise its kept request is answered again from the stored
 * outcome (cmp_exchange_new_replay(): the certificate, the rp or the
 * rejection), nothing written. */
static void on_poll_ref(struct cg_store_op *op) {
  struct request *r = op->arg;
  struct gateway *gw = r->gw;
  struct profile_rt *p =
      op->result == 0 && op->txn_found ? gw_profile_by_name(r->conf, op->txn.profile) : NULL;
  if (p == NULL || op->request_out == NULL || gw->stopping) {
    const char *why = op->result != 0  ? "store unavailable"
                      : !op->txn_found ? "unknown polling reference"
                      : gw->stopping   ? "shutting down"
                                       : "the transaction cannot be answered";
    unsigned code = op->result == 0 && !op->txn_found ? CG_TCP_ERR_CLIENT : CG_TCP_ERR_SERVER;
    cg_store_op_release(op);
    cg_tcp_respond_error(r->tcp, code, why);
    poll_answered(r);
    return;
  }
  if (op->txn.state == CMP_TXN_PENDING_APPROVAL || op->txn.state == CMP_TXN_PENDING_CA) {
    cg_info("tcp pollReq ref=%08x txid=%s -> pollRep (%s)", r->poll_ref, op->txn.txid,
            cmp_txn_state_name(op->txn.state));
    cg_store_op_release(op);
    cg_tcp_respond_poll(r->tcp, r->poll_ref, gw_check_after(p));
    poll_answered(r);
    return;
  }
  r->ex = cmp_exchange_new_replay(&r->conf->server, gw_current(p), op->request_out,
                                  op->request_der_len,
                                  (int64_t)time(NULL));
  cg_store_op_release(op);
  if (r->ex == NULL) {
    cg_tcp_respond_error(r->tcp, CG_TCP_ERR_SERVER, "out of memory");
    poll_answered(r);
    return;
  }
  r->profile = p;
  gw_drive(r);
}

/* A TCP pollReq: the transaction is found by its polling reference. */
static void tcp_poll(struct gateway *gw, struct cg_tcp_request *req, uint32_t ref) {
  struct request *r = calloc(1, sizeof *r);
  if (r == NULL) {
    cg_tcp_respond_error(req, CG_TCP_ERR_SERVER, "out of memory");
    return;
  }
  r->gw = gw;
  r->tcp = req;
  r->transport = GW_TCP;
  r->poll_ref = ref;
  r->started_ns = uv_hrtime();
  r->conf = gw_conf_hold(gw->conf);
  r->op.kind = CG_STORE_OP_BY_POLL_REF;
  r->op.cb = on_poll_ref;
  r->op.arg = r;
  r->op.txn.poll_ref = ref;
  gw->inflight++;
  if (cg_store_submit(gw->store, &r->op) != 0) {
    r->op.result = CG_ESTORE;
    on_poll_ref(&r->op);
  }
}

/* A frame from the raw TCP listener: a PKIMessage goes to the engine like
 * an HTTP body, for the profile [server] tcp_profile names. */
void gw_on_tcp_request(void *arg, struct cg_tcp_request *req, const struct cg_tcp_frame *f) {
  struct gateway *gw = arg;
  if (gw->stopping) {
    cg_tcp_respond_error(req, CG_TCP_ERR_SERVER, "shutting down");
    return;
  }
  if (f->is_poll) {
    tcp_poll(gw, req, f->poll_ref);
    return;
  }
  unsigned retry;
  if (!cg_guard_admits(&gw->guard, cg_tcp_request_peer(req), uv_now(gw->loop), &retry)) {
    gw->guard_refused[GW_TCP]++;
    char text[96];
    snprintf(text, sizeof text, "too many failed checks from this address; try again in %u s",
             retry);
    cg_tcp_respond_error(req, CG_TCP_ERR_SERVER, text);
    return;
  }
  struct profile_rt *p = gw->conf->tcp_profile;
  struct request *r = calloc(1, sizeof *r);
  if (r == NULL || (r->ex = cmp_exchange_new(&gw->conf->server, gw_current(p), f->msg, f->len,
                                             (int64_t)time(NULL))) == NULL) {
    free(r);
    cg_tcp_respond_error(req, CG_TCP_ERR_SERVER, "out of memory");
    return;
  }
  r->gw = gw;
  r->tcp = req;
  r->transport = GW_TCP;
  r->peer = *cg_tcp_request_peer(req);
  r->profile = p;
  r->started_ns = uv_hrtime();
  r->conf = gw_conf_hold(gw->conf);
  gw->inflight++;
  gw_drive(r);
}
