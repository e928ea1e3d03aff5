/*
 * coap.h - the CMP-over-CoAP listener (RFC 9482), on libcoap driven from the
 * libuv loop.
 *
 * libcoap does CoAP: the UDP endpoint, confirmable and non-confirmable
 * messages, retransmission and deduplication of message IDs, Block2 for an
 * answer larger than a datagram (RFC 7959), and separate responses.  Its one descriptor (libcoap's epoll set) is watched by a
 * uv_poll_t and its timers run on a uv_timer_t: no second thread, no
 * coap_io_process() that blocks.
 *
 * What this layer adds, RFC 9482 §2-3:
 *   - POST only (4.05 otherwise), Content-Format application/pkixcmp, 259
 *     (4.15 otherwise), a body of at most max_body octets (4.13 with Size1);
 *   - a request in Block1 pieces is put together here, in order, each piece
 *     answered 2.31 Continue, a gap 4.08, within a budget for all transfers
 *     (max_reassembly; 5.03 beyond), one transfer per peer, dropped after
 *     30 s without a piece;
 *   - each request is answered later, as a separate response (an empty ACK
 *     goes at once): the handler gets the request, and the answer comes with
 *     cg_coap_respond() (2.04 Changed, Content-Format 259) or
 *     cg_coap_respond_error();
 *   - a request repeated with the token of one still being handled (a
 *     client's retransmission, a duplicate) is not handed over again: one
 *     request, one exchange, one answer;
 *   - against UDP abuse: no answer more than three times the request's
 *     size to an address that has not shown it is the sender's
 *     (verify_address: RFC 9175 Echo for small requests, and a separate
 *     response sent once, non-confirmable), a rate of new requests per
 *     address (rate_per_s), the requests in flight capped (max_pending),
 *     idle peers forgotten after 60 s and at most 10,000 of them kept
 *     (libcoap's sessions).
 *
 * Everything runs on the loop thread.
 */
#ifndef CG_TRANSPORTS_COAP_H
#define CG_TRANSPORTS_COAP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transports/addr.h"

/* The Content-Format of application/pkixcmp (RFC 9482 §5). */
#define CG_COAP_FORMAT_PKIXCMP 259

struct cg_coap_limits {
  size_t max_body;      /* octets of a request, Block1 pieces put together; default 256 KiB */
  unsigned max_pending; /* requests handed over and not yet answered; default 1024 */
  /* New requests a second from one address (transports/addr.h: an IPv4
   * address, an IPv6 /64), after a burst of four seconds' worth; beyond,
   * 5.03 with Max-Age saying when to come back.  0: no limit. */
  unsigned rate_per_s;
  /* Answer a peer (an address and port) only once it has shown it receives
   * at that address: its first request gets 4.01 Unauthorized with an Echo
   * option (RFC 9175 §2.4), smaller than the request, and the request
   * repeated with that Echo is handled.  The peer stays verified while
   * libcoap keeps its session.  Without it a forged source address could
   * turn 60 octets into a kilobyte of signed CMP error sent to a victim. */
  bool verify_address;
  /* Octets all Block1 transfers being put together may hold; 0: no limit.
   * Beyond it (or beyond 4,096 transfers) a new transfer gets 5.03. */
  size_t max_reassembly;
};

/* A request waiting for its answer; owned by the transport, valid until it
 * is answered. */
struct cg_coap_request;

/* Called on the loop for each complete POST with the right format; path is
 * the Uri-Path joined with '/' and a leading '/' ("/.well-known/cmp/p/x"). */
typedef void (*cg_coap_handler)(void *arg, struct cg_coap_request *req, const char *path,
                                const uint8_t *body, size_t len);

struct cg_coap_server;

/* Listens on UDP host:port (0: a free one).  0 or a CG_E* error. */
int cg_coap_server_start(uv_loop_t *loop, const char *host, int port,
                         const struct cg_coap_limits *limits, cg_coap_handler handler, void *arg,
                         struct cg_coap_server **out);
int cg_coap_server_port(const struct cg_coap_server *srv);
/* Requests handed over and not yet answered. */
unsigned cg_coap_server_pending(const struct cg_coap_server *srv);
/* New requests refused since start: over rate_per_s, over max_pending,
 * answered with an Echo challenge (verify_address), and Block1 transfers
 * over max_reassembly. */
void cg_coap_server_refused(const struct cg_coap_server *srv, uint64_t out[4]);
/* Octets the Block1 transfers being put together hold. */
size_t cg_coap_server_held(const struct cg_coap_server *srv);

/* 2.04 Changed with Content-Format 259 and the CMP message (copied). */
void cg_coap_respond(struct cg_coap_request *req, const uint8_t *msg, size_t len);
/* An error: code as CoAP writes it in decimal (404 for 4.04, 503 for 5.03),
 * with a diagnostic payload (RFC 7252 §5.5.2). */
void cg_coap_respond_error(struct cg_coap_request *req, int code, const char *text);
/* The peer's address. */
const struct cg_addr *cg_coap_request_peer(const struct cg_coap_request *req);

/* Stops serving: new requests get 5.03; on_closed(arg) runs on the loop once
 * every request handed over was answered and the handles are closed, and
 * the server is freed then. */
void cg_coap_server_stop(struct cg_coap_server *srv, void (*on_closed)(void *arg), void *arg);

#endif
