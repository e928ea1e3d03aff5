/*
 * coap.c - transports/coap.h on libcoap 4.3, driven from the libuv loop
 * (transports/coap_io.h).
 *
 * Every request is answered as a separate response.  The first time the
 * POST handler sees a token it registers an async for it (libcoap then
 * acknowledges a confirmable request at once, and finds a retransmission
 * by its token) and hands the request over; the answer, whenever it comes,
 * is kept in the request and the async triggered, and libcoap calls the
 * handler again, which writes the answer (in Block2 pieces when it is
 * large: coap_add_data_large_response()).  libcoap removes the async when
 * that call returns.  The session is held referenced meanwhile, so the
 * async cannot go with it.
 */
#include "transports/coap.h"

#include <coap3/coap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "transports/coap_io.h"
#include "transports/guard.h"

struct cg_coap_server {
  struct cg_coap_io io; /* first: the io's callbacks cast back */
  struct cg_coap_limits lim;
  cg_coap_handler handler;
  void *arg;
  int port;
  unsigned pending;
  struct cg_guard rate;     /* new requests by address: a burst, then rate_per_s */
  uint64_t refused_pending; /* over max_pending (the rate's count is rate.refused) */
  unsigned since_sweep;
  uv_loop_t *loop;
  bool stopping;
  void (*on_closed)(void *arg);
  void *closed_arg;
};

struct cg_coap_request {
  struct cg_coap_server *srv;
  coap_session_t *session; /* referenced until answered */
  coap_async_t *async;
  struct cg_addr peer;
  bool answered;
  coap_pdu_code_t code; /* the answer: 2.04 with the CMP message, or an error */
  uint8_t *body;        /* malloc'ed */
  size_t len;
};

/* ---- requests ------------------------------------------------------------ */

static void release_body(coap_session_t *session, void *app_ptr) {
  (void)session;
  free(app_ptr);
}

static void maybe_closed(struct cg_coap_server *srv);

/* The handler's second call: the answer goes out in the response. */
static void write_answer(coap_resource_t *res, coap_session_t *session, const coap_pdu_t *request,
                         const coap_string_t *query, coap_pdu_t *response,
                         struct cg_coap_request *req) {
  coap_pdu_set_code(response, req->code);
  if (req->code == COAP_RESPONSE_CODE_CHANGED) {
    /* The body is libcoap's from here, freed by release_body() once sent
     * or when the call fails (block.h), so never by us. */
    uint8_t *body = req->body;
    req->body = NULL;
    if (!coap_add_data_large_response(res, session, request, response, query,
                                      CG_COAP_FORMAT_PKIXCMP, -1, 0, req->len, body, release_body,
                                      body))
      coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
  } else if (req->len > 0) {
    coap_add_data(response, req->len, req->body); /* a diagnostic payload */
  }
  free(req->body);
  struct cg_coap_server *srv = req->srv;
  coap_session_release(req->session);
  free(req);
  srv->pending--;
  maybe_closed(srv);
}

/* An answer at once (the request is not handed over). */
static void refuse(coap_pdu_t *response, coap_pdu_code_t code, const char *text) {
  coap_pdu_set_code(response, code);
  if (text != NULL)
    coap_add_data(response, strlen(text), (const uint8_t *)text);
}

/* 5.03 with Max-Age: when to come back (RFC 7252 §5.9.3.4). */
static void refuse_retry(coap_pdu_t *response, unsigned seconds, const char *text) {
  uint8_t buf[4];
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE);
  coap_add_option(response, COAP_OPTION_MAXAGE, coap_encode_var_safe(buf, sizeof buf, seconds),
                  buf);
  coap_add_data(response, strlen(text), (const uint8_t *)text);
}

/* Whether a new request from peer is within its address's rate; spends one. */
static bool within_rate(struct cg_coap_server *srv, const struct cg_addr *peer, unsigned *retry) {
  uint64_t now = uv_now(srv->loop);
  if (++srv->since_sweep >= 4096) {
    srv->since_sweep = 0;
    cg_guard_sweep(&srv->rate, now);
  }
  if (!cg_guard_admits(&srv->rate, peer, now, retry))
    return false;
  cg_guard_failed(&srv->rate, peer, now); /* a token of the bucket spent */
  return true;
}

static void on_post(coap_resource_t *res, coap_session_t *session, const coap_pdu_t *request,
                    const coap_string_t *query, coap_pdu_t *response) {
  struct cg_coap_server *srv = coap_get_app_data(coap_session_get_context(session));
  coap_async_t *async = coap_find_async(session, coap_pdu_get_token(request));
  if (async != NULL) {
    struct cg_coap_request *req = coap_async_get_app_data(async);
    if (req != NULL && req->answered)
      write_answer(res, session, request, query, response, req);
    /* else a retransmission of a request being handled: libcoap acknowledged
     * it; its answer goes once, when it comes */
    return;
  }
  if (srv->stopping) {
    refuse(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "shutting down");
    return;
  }
  struct cg_addr peer;
  const coap_address_t *remote = coap_session_get_addr_remote(session);
  if (remote == NULL || cg_addr_of(&remote->addr.sa, &peer) != 0)
    memset(&peer, 0, sizeof peer);
  unsigned retry = 0;
  if (!within_rate(srv, &peer, &retry)) {
    refuse_retry(response, retry, "too many requests from this address; try again later");
    return;
  }
  coap_opt_iterator_t oi;
  coap_opt_t *cf = coap_check_option(request, COAP_OPTION_CONTENT_FORMAT, &oi);
  if (cf == NULL ||
      coap_decode_var_bytes(coap_opt_value(cf), coap_opt_length(cf)) != CG_COAP_FORMAT_PKIXCMP) {
    refuse(response, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT,
           "Content-Format must be application/pkixcmp (259)");
    return;
  }
  /* libcoap puts the Block1 pieces of a transfer together, but a piece
   * that says more is to come can still reach here (a hand-made transfer
   * without Size1, a gap): not a whole CMP message, not an exchange. */
  coap_opt_t *b1 = coap_check_option(request, COAP_OPTION_BLOCK1, &oi);
  if (b1 != NULL && COAP_OPT_BLOCK_MORE(b1)) {
    refuse(response, COAP_RESPONSE_CODE_INCOMPLETE, "the request's blocks are incomplete");
    return;
  }
  size_t len = 0, offset = 0, total = 0;
  const uint8_t *data = NULL;
  if (!coap_get_data_large(request, &len, &data, &offset, &total))
    len = total = 0;
  if (total > srv->lim.max_body || len != total) {
    refuse(response, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE, "the CMP message is too large");
    return;
  }
  if (srv->pending >= srv->lim.max_pending) {
    srv->refused_pending++;
    refuse(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "busy; try again later");
    return;
  }
  coap_string_t *uri = coap_get_uri_path(request);
  char path[512];
  int n = snprintf(path, sizeof path, "/%.*s", uri != NULL ? (int)uri->length : 0,
                   uri != NULL ? (const char *)uri->s : "");
  coap_delete_string(uri);
  struct cg_coap_request *req = calloc(1, sizeof *req);
  if (n < 0 || (size_t)n >= sizeof path || req == NULL ||
      (async = coap_register_async(session, request, 0)) == NULL) {
    free(req);
    refuse(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, NULL);
    return;
  }
  req->srv = srv;
  req->session = coap_session_reference(session);
  req->async = async;
  req->peer = peer;
  coap_async_set_app_data(async, req);
  srv->pending++;
  srv->handler(srv->arg, req, path, data, len);
}

static void answer(struct cg_coap_request *req, coap_pdu_code_t code, const void *body,
                   size_t len) {
  if (req->answered)
    return;
  req->answered = true;
  req->code = code;
  if (len > 0 && (req->body = malloc(len)) != NULL) {
    memcpy(req->body, body, len);
    req->len = len;
  } else if (len > 0) {
    req->code = COAP_RESPONSE_CODE_INTERNAL_ERROR;
  }
  coap_async_trigger(req->async);
  cg_coap_io_soon(&req->srv->io);
}

void cg_coap_respond(struct cg_coap_request *req, const uint8_t *msg, size_t len) {
  answer(req, COAP_RESPONSE_CODE_CHANGED, msg, len);
}

void cg_coap_respond_error(struct cg_coap_request *req, int code, const char *text) {
  answer(req, COAP_RESPONSE_CODE(code), text, text != NULL ? strlen(text) : 0);
}

const struct cg_addr *cg_coap_request_peer(const struct cg_coap_request *req) { return &req->peer; }

/* ---- the server ---------------------------------------------------------- */

/* Another method than POST on a CMP resource (RFC 9482 §2.1). */
static void on_other(coap_resource_t *res, coap_session_t *session, const coap_pdu_t *request,
                     const coap_string_t *query, coap_pdu_t *response) {
  (void)res;
  (void)session;
  (void)request;
  (void)query;
  refuse(response, COAP_RESPONSE_CODE_NOT_ALLOWED, "CMP over CoAP takes POST");
}

/* The port libcoap bound, from its description of the endpoint ("...:PORT"). */
static int bound_port(coap_endpoint_t *ep) {
  const char *str = coap_endpoint_str(ep);
  const char *colon = str != NULL ? strrchr(str, ':') : NULL;
  return colon != NULL ? atoi(colon + 1) : 0;
}

int cg_coap_server_start(uv_loop_t *loop, const char *host, int port,
                         const struct cg_coap_limits *limits, cg_coap_handler handler, void *arg,
                         struct cg_coap_server **out) {
  *out = NULL;
  cg_coap_io_startup();
  struct cg_coap_server *srv = calloc(1, sizeof *srv);
  if (srv == NULL)
    return CG_ENOMEM;
  srv->handler = handler;
  srv->arg = arg;
  srv->lim.max_body = limits != NULL && limits->max_body ? limits->max_body : 256 * 1024;
  srv->lim.max_pending = limits != NULL && limits->max_pending ? limits->max_pending : 1024;
  srv->lim.rate_per_s = limits != NULL ? limits->rate_per_s : 0;
  srv->loop = loop;
  /* A burst of four seconds' worth, then one request per 1/rate s. */
  unsigned rate = srv->lim.rate_per_s;
  if (cg_guard_init(&srv->rate, rate > 0 ? 4 * rate : 0,
                    rate > 0 ? (1000 + rate - 1) / rate : 1000) != 0) {
    free(srv);
    return CG_ENOMEM;
  }
  coap_address_t addr;
  if (cg_coap_address(host, port, &addr) != 0) {
    free(srv);
    return CG_EINVAL;
  }
  int err = CG_EADDR_IN_USE;
  coap_endpoint_t *ep = NULL;
  coap_resource_t *res = NULL;
  if ((srv->io.ctx = coap_new_context(NULL)) == NULL)
    goto fail;
  coap_set_app_data(srv->io.ctx, srv);
  coap_context_set_block_mode(srv->io.ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  /* A peer's session (and what its Block1 transfer holds) goes after a
   * minute idle; at most 10,000 idle ones are kept, the oldest dropped. */
  coap_context_set_session_timeout(srv->io.ctx, 60);
  coap_context_set_max_idle_sessions(srv->io.ctx, 10000);
  if ((ep = coap_new_endpoint(srv->io.ctx, &addr, COAP_PROTO_UDP)) == NULL)
    goto fail;
  if ((res = coap_resource_unknown_init2(on_other, 0)) == NULL) {
    err = CG_ENOMEM;
    goto fail;
  }
  coap_register_request_handler(res, COAP_REQUEST_POST, on_post);
  coap_register_request_handler(res, COAP_REQUEST_GET, on_other);
  coap_register_request_handler(res, COAP_REQUEST_DELETE, on_other);
  coap_register_request_handler(res, COAP_REQUEST_FETCH, on_other);
  coap_register_request_handler(res, COAP_REQUEST_PATCH, on_other);
  coap_register_request_handler(res, COAP_REQUEST_IPATCH, on_other);
  coap_add_resource(srv->io.ctx, res);
  srv->port = bound_port(ep);
  if ((err = cg_coap_io_start(&srv->io, loop)) != 0)
    goto fail;
  *out = srv;
  return 0;

fail:
  if (srv->io.ctx != NULL)
    coap_free_context(srv->io.ctx);
  cg_guard_free(&srv->rate);
  free(srv);
  return err;
}

int cg_coap_server_port(const struct cg_coap_server *srv) { return srv->port; }

unsigned cg_coap_server_pending(const struct cg_coap_server *srv) { return srv->pending; }

void cg_coap_server_refused(const struct cg_coap_server *srv, uint64_t out[2]) {
  out[0] = srv->rate.refused;
  out[1] = srv->refused_pending;
}

static void on_io_closed(struct cg_coap_io *io) {
  struct cg_coap_server *srv = (struct cg_coap_server *)io;
  void (*cb)(void *) = srv->on_closed;
  void *arg = srv->closed_arg;
  cg_guard_free(&srv->rate);
  free(srv);
  if (cb != NULL)
    cb(arg);
}

static void final(struct cg_coap_io *io) { cg_coap_io_close(io, on_io_closed); }

/* Once stopping and every request answered (the last answer goes out when
 * the handler returns), the context goes at the next turn of the loop, not
 * from inside libcoap's own call. */
static void maybe_closed(struct cg_coap_server *srv) {
  if (srv->stopping && srv->pending == 0)
    srv->io.finishing = true;
}

void cg_coap_server_stop(struct cg_coap_server *srv, void (*on_closed)(void *arg), void *arg) {
  srv->stopping = true;
  srv->on_closed = on_closed;
  srv->closed_arg = arg;
  srv->io.final = final;
  maybe_closed(srv);
  if (srv->io.finishing)
    cg_coap_io_soon(&srv->io);
}
