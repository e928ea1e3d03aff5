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

#include "core/buf.h"
#include "core/crypto.h"
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
  uint64_t challenged;      /* 4.01s with an Echo sent to unverified peers */
  uint8_t echo_key[32];     /* MACs the Echo values: random, this process's own */
  struct transfer *transfers; /* Block1 transfers being put together */
  unsigned n_transfers;
  size_t held;               /* octets the transfers hold (their buffers' sizes) */
  uint64_t refused_transfers; /* transfers refused: over the budget or the count */
  unsigned since_sweep;
  uint64_t swept_at; /* when the transfers were last swept (the loop's ms) */
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
  bool unverified;      /* the peer has not shown its address: answer once, no retransmission */
  coap_pdu_code_t code; /* the answer: 2.04 with the CMP message, or an error */
  uint8_t *body;        /* malloc'ed */
  size_t len;
};

/* ---- Block1 transfers ---------------------------------------------------- */

/* A request sent in Block1 pieces (RFC 7959 §2.5), put together here rather
 * than by libcoap: libcoap 4.3.1 allocates a transfer's whole announced
 * Size1 at its first piece, so 10,000 peers announcing 256 KiB each would
 * have had it reserve 2.5 GB.  Here a transfer holds what has arrived,
 * pieces come in order, and all transfers together hold at most
 * max_reassembly octets, at most MAX_TRANSFERS of them, one per peer
 * (address and port). */
#define MAX_TRANSFERS 4096
#define TRANSFER_IDLE_MS 30000 /* a transfer with no piece for this long is dropped */

struct transfer {
  struct transfer *next;
  coap_address_t peer;
  char path[512];
  struct cg_buf body; /* limited to max_body; its cap is charged to the budget */
  uint64_t last;      /* the loop's clock at the last piece */
};

static void transfer_free(struct cg_coap_server *srv, struct transfer **link) {
  struct transfer *t = *link;
  *link = t->next;
  srv->held -= t->body.cap;
  srv->n_transfers--;
  cg_buf_free(&t->body);
  free(t);
}

static struct transfer **transfer_find(struct cg_coap_server *srv, const coap_address_t *peer) {
  struct transfer **link = &srv->transfers;
  while (*link != NULL && !coap_address_equals(&(*link)->peer, peer))
    link = &(*link)->next;
  return link;
}

/* Drops the transfers idle for TRANSFER_IDLE_MS; at most once a second,
 * however many transfers begin. */
static void transfers_sweep(struct cg_coap_server *srv) {
  uint64_t now = uv_now(srv->loop);
  if (now - srv->swept_at < 1000)
    return;
  srv->swept_at = now;
  for (struct transfer **link = &srv->transfers; *link != NULL;)
    if (now - (*link)->last >= TRANSFER_IDLE_MS)
      transfer_free(srv, link);
    else
      link = &(*link)->next;
}

/* Appends len octets to t within max_body (the buffer's limit) and the
 * budget; 0, CG_ETOO_BIG, or CG_ENOMEM (over the budget too: the caller
 * drops the transfer, which gives back what it held). */
static int transfer_append(struct cg_coap_server *srv, struct transfer *t, const uint8_t *data,
                           size_t len) {
  size_t before = t->body.cap;
  int err = cg_buf_append(&t->body, data, len);
  srv->held += t->body.cap - before;
  if (err == 0 && srv->lim.max_reassembly && srv->held > srv->lim.max_reassembly)
    err = CG_ENOMEM;
  t->last = uv_now(srv->loop);
  return err;
}

/* 5.03 for a transfer the budget or the count has no room for. */
static void refuse_transfer(struct cg_coap_server *srv, coap_pdu_t *response);

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
  if (req->unverified) /* not sent four more times to an address that may be forged */
    coap_pdu_set_type(response, COAP_MESSAGE_NON);
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

static void refuse_transfer(struct cg_coap_server *srv, coap_pdu_t *response) {
  srv->refused_transfers++;
  refuse_retry(response, 5, "too many requests being received; try again later");
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

/* ---- address verification (RFC 9175 §2.4) ------------------------------ */

/* An Echo value: when it stops being good (the loop's clock, seconds, 4
 * octets) and a MAC over that and the peer's address and port (8 octets).
 * Nothing is kept per challenge: a peer that never comes back costs
 * nothing, and one that comes back from elsewhere fails the MAC. */
#define ECHO_MAC 8
#define ECHO_LEN (4 + ECHO_MAC)
#define ECHO_LIFETIME_S 60
/* A request of at least this many octets is handled unverified: the first
 * datagram of any answer (one Block2 piece of 1,024 octets and its header)
 * is then at most three times its size, RFC 9175 §2.4's bound.  Smaller
 * ones are challenged.  (This also spares the Block1 transfers, which are
 * all larger: libcoap 4.3.1's client repeats a transfer challenged at its
 * last piece with a broken first piece.) */
#define UNVERIFIED_MIN 384

static void *verified_mark(void) {
  static char mark;
  return &mark;
}

static int echo_mac(const struct cg_coap_server *srv, const coap_address_t *remote,
                    const uint8_t expiry[4], uint8_t out[ECHO_MAC]) {
  uint8_t mac[32];
  struct cg_iov iov[2] = {{expiry, 4}, {&remote->addr, remote->size}};
  int err = cg_hmac(CG_HASH_SHA256, srv->echo_key, sizeof srv->echo_key, iov, 2, mac);
  memcpy(out, mac, ECHO_MAC);
  return err;
}

/* Whether the session's peer has shown it receives at its address: it was
 * before, or the request carries a good Echo (and then it is, from now). */
static bool peer_verified(struct cg_coap_server *srv, coap_session_t *session,
                          const coap_pdu_t *request) {
  if (!srv->lim.verify_address || coap_session_get_app_data(session) == verified_mark())
    return true;
  coap_opt_iterator_t oi;
  coap_opt_t *echo = coap_check_option(request, COAP_OPTION_ECHO, &oi);
  const coap_address_t *remote = coap_session_get_addr_remote(session);
  if (echo == NULL || coap_opt_length(echo) != ECHO_LEN || remote == NULL)
    return false;
  const uint8_t *v = coap_opt_value(echo);
  uint32_t expiry = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
  uint8_t mac[ECHO_MAC];
  if (expiry < uv_now(srv->loop) / 1000 || echo_mac(srv, remote, v, mac) != 0 ||
      !cg_ct_equal(mac, v + 4, ECHO_MAC))
    return false;
  coap_session_set_app_data(session, verified_mark());
  return true;
}

/* 4.01 with a fresh Echo: repeat the request with it (RFC 9175 §2.4). */
static void challenge(struct cg_coap_server *srv, coap_session_t *session, coap_pdu_t *response) {
  const coap_address_t *remote = coap_session_get_addr_remote(session);
  uint32_t expiry = (uint32_t)(uv_now(srv->loop) / 1000 + ECHO_LIFETIME_S);
  uint8_t v[ECHO_LEN] = {expiry >> 24, expiry >> 16, expiry >> 8, expiry};
  if (remote == NULL || echo_mac(srv, remote, v, v + 4) != 0) {
    refuse(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, NULL);
    return;
  }
  srv->challenged++;
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_UNAUTHORIZED);
  coap_add_option(response, COAP_OPTION_ECHO, sizeof v, v);
}

/* 4.13 with Size1 saying how large a request may be (RFC 7959 §2.9.3). */
static void too_large(struct cg_coap_server *srv, coap_pdu_t *response) {
  uint8_t buf[4];
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE);
  coap_add_option(response, COAP_OPTION_SIZE1,
                  coap_encode_var_safe(buf, sizeof buf, (unsigned)srv->lim.max_body), buf);
  static const char text[] = "the CMP message is too large";
  coap_add_data(response, sizeof text - 1, (const uint8_t *)text);
}

/* One Block1 piece of peer's transfer: *link is where the peer's transfer
 * is (or would go).  True when it completed the transfer (*link then holds
 * the whole request); false when the response is written (2.31 Continue
 * for the next piece, or a refusal, the transfer then dropped). */
static bool transfer_piece(struct cg_coap_server *srv, const coap_address_t *peer,
                           const char *path, const coap_pdu_t *request, const coap_block_t *block,
                           const uint8_t *data, size_t len, struct transfer ***link,
                           coap_pdu_t *response) {
  size_t offset = (size_t)block->num << (block->szx + 4);
  struct transfer *t = **link;
  if (block->num == 0) {
    if (t != NULL) /* the peer starts over: its old transfer goes */
      transfer_free(srv, *link);
    coap_opt_iterator_t oi;
    coap_opt_t *size1 = coap_check_option(request, COAP_OPTION_SIZE1, &oi);
    if (size1 != NULL &&
        coap_decode_var_bytes8(coap_opt_value(size1), coap_opt_length(size1)) > srv->lim.max_body) {
      too_large(srv, response);
      return false;
    }
    transfers_sweep(srv);
    if (srv->n_transfers >= MAX_TRANSFERS || (t = calloc(1, sizeof *t)) == NULL) {
      refuse_transfer(srv, response);
      return false;
    }
    cg_buf_init(&t->body, srv->lim.max_body);
    t->peer = *peer;
    snprintf(t->path, sizeof t->path, "%s", path);
    t->next = srv->transfers;
    srv->transfers = t;
    srv->n_transfers++;
    *link = &srv->transfers;
  } else if (t == NULL || strcmp(t->path, path) != 0 || offset > t->body.len) {
    if (t != NULL)
      transfer_free(srv, *link);
    refuse(response, COAP_RESPONSE_CODE_INCOMPLETE, "the request's blocks are incomplete");
    return false;
  } else if (offset < t->body.len) {
    if (offset + len > t->body.len) { /* overlaps what came, with other octets */
      transfer_free(srv, *link);
      refuse(response, COAP_RESPONSE_CODE_INCOMPLETE, "the request's blocks are incomplete");
      return false;
    }
    len = 0; /* a piece repeated: answered again, not appended again */
  }
  int err = transfer_append(srv, t, data, len);
  if (err == CG_ETOO_BIG) {
    transfer_free(srv, *link);
    too_large(srv, response);
    return false;
  }
  if (err != 0) {
    transfer_free(srv, *link);
    refuse_transfer(srv, response);
    return false;
  }
  if (!block->m)
    return true;
  /* 2.31 Continue, the piece acknowledged by its Block1 (libcoap adds it
   * when it tracks the transfer too). */
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTINUE);
  coap_opt_iterator_t oi;
  if (coap_check_option(response, COAP_OPTION_BLOCK1, &oi) == NULL) {
    uint8_t buf[4];
    coap_add_option(response, COAP_OPTION_BLOCK1,
                    coap_encode_var_safe(buf, sizeof buf,
                                         block->num << 4 | 1 << 3 | block->szx),
                    buf);
  }
  return false;
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
  coap_block_t block = {0};
  bool piece = coap_get_block(request, COAP_OPTION_BLOCK1, &block) && (block.num > 0 || block.m);
  unsigned retry = 0;
  /* The pieces after a transfer's first are not new requests. */
  if ((!piece || block.num == 0) && !within_rate(srv, &peer, &retry)) {
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
  /* Any piece may carry the Echo a challenge asked for: a client repeats a
   * whole transfer with it in the first. */
  bool verified = peer_verified(srv, session, request);
  coap_string_t *uri = coap_get_uri_path(request);
  char path[512];
  int n = snprintf(path, sizeof path, "/%.*s", uri != NULL ? (int)uri->length : 0,
                   uri != NULL ? (const char *)uri->s : "");
  coap_delete_string(uri);
  if (n < 0 || (size_t)n >= sizeof path) {
    refuse(response, COAP_RESPONSE_CODE_NOT_FOUND, "no such path");
    return;
  }
  size_t len = 0;
  const uint8_t *data = NULL;
  if (!coap_get_data(request, &len, &data))
    len = 0;
  struct transfer **link = NULL;
  if (piece) {
    if (remote == NULL) {
      refuse(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, NULL);
      return;
    }
    link = transfer_find(srv, remote);
    if (!transfer_piece(srv, remote, path, request, &block, data, len, &link, response))
      return;
    data = (*link)->body.data;
    len = (*link)->body.len;
  }
  if (len > srv->lim.max_body) {
    too_large(srv, response);
    goto done;
  }
  /* Checked here, after the checks whose answers are smaller than any
   * request, and before anything that answers with a CMP message. */
  if (!verified && len < UNVERIFIED_MIN) {
    challenge(srv, session, response);
    goto done;
  }
  if (srv->pending >= srv->lim.max_pending) {
    srv->refused_pending++;
    refuse(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "busy; try again later");
    goto done;
  }
  struct cg_coap_request *req = calloc(1, sizeof *req);
  if (req == NULL || (async = coap_register_async(session, request, 0)) == NULL) {
    free(req);
    refuse(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, NULL);
    goto done;
  }
  req->srv = srv;
  req->session = coap_session_reference(session);
  req->async = async;
  req->peer = peer;
  req->unverified = !verified;
  coap_async_set_app_data(async, req);
  srv->pending++;
  srv->handler(srv->arg, req, path, data, len); /* which copies the body */
done:
  if (link != NULL && *link != NULL)
    transfer_free(srv, link); /* the transfer is over, whatever its answer */
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
  srv->lim.verify_address = limits != NULL && limits->verify_address;
  srv->lim.max_reassembly = limits != NULL ? limits->max_reassembly : 0;
  if (cg_random(srv->echo_key, sizeof srv->echo_key) != 0) {
    free(srv);
    return CG_ECRYPTO;
  }
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
  /* libcoap serves Block2; the Block1 pieces come here one by one. */
  coap_context_set_block_mode(srv->io.ctx, COAP_BLOCK_USE_LIBCOAP);
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

size_t cg_coap_server_held(const struct cg_coap_server *srv) { return srv->held; }

void cg_coap_server_refused(const struct cg_coap_server *srv, uint64_t out[4]) {
  out[0] = srv->rate.refused;
  out[1] = srv->refused_pending;
  out[2] = srv->challenged;
  out[3] = srv->refused_transfers;
}

static void on_io_closed(struct cg_coap_io *io) {
  struct cg_coap_server *srv = (struct cg_coap_server *)io;
  void (*cb)(void *) = srv->on_closed;
  void *arg = srv->closed_arg;
  cg_guard_free(&srv->rate);
  while (srv->transfers != NULL)
    transfer_free(srv, &srv->transfers);
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
