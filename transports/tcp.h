/*
 * tcp.h - the raw-TCP CMP listener for legacy clients, on libuv.  Two
 * framings, told apart per frame by its fifth octet:
 *
 *   RFC 2510 §5.2 ("socket-based"):  length(4) | flag(1) | value
 *       length counts flag and value; flags 0 pkiMsg, 1 pollRep, 2 pollReq,
 *       3 negPollRep, 4 partialMsgRep, 5 finalMsgRep, 6 errorMsgRep.
 *   "version 10" (draft-ietf-pkix-cmp-transport-protocols-05, TCP-based
 *   management protocol):  length(4) | version = 10 | flags | type | value
 *       length counts the three octets and the value; flags bit 0: close the
 *       connection after this message; types 0 pkiReq, 1 pollRep, 2 pollReq,
 *       3 finRep, 5 pkiRep, 6 errorMsgRep.
 *
 * A client sends pkiMsg / pkiReq (a DER PKIMessage) and pollReq (a polling
 * reference); each is handed to the handler, which answers exactly once with
 * the CMP message (finalMsgRep / pkiRep), a TCP pollRep (polling reference
 * and time to check back) or an errorMsgRep.  The answer uses the framing of
 * the request.  Several requests may follow on one connection; the next one
 * is read only after the answer was written.  The transport never looks
 * inside a PKIMessage.
 *
 * Limits: a frame longer than max_frame, a zero or too short length, an
 * unknown version, flag or type, or a message type only a server sends gets
 * an errorMsgRep and the connection is closed.  A frame that does not arrive
 * within read_timeout_ms of its first octet (however it trickles in), a new
 * connection silent for first_timeout_ms, or one idle between frames for
 * idle_timeout_ms, is closed.  The admission (transports/admission.h) caps
 * the connections and the buffered input; a frame over the buffer budget
 * gets an errorMsgRep ("server busy") and the connection closes.
 *
 * Everything runs on the loop thread.
 */
#ifndef CG_TRANSPORTS_TCP_H
#define CG_TRANSPORTS_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transports/addr.h"

struct cg_admission;

struct cg_tcp_limits {
  size_t max_frame;          /* octets of a frame's value; default 256 KiB */
  uint64_t first_timeout_ms; /* a new connection's first octet; default 10 s */
  uint64_t read_timeout_ms;  /* from a frame's first octet to its last; default 30 s */
  uint64_t idle_timeout_ms;  /* between frames (and a stalled answer); default 60 s */
  unsigned max_conns;        /* with no admission: this listener's own cap; default 10000 */
  /* Shared with the gateway's other listeners (transports/admission.h); NULL:
   * the listener's own, of max_conns connections and no buffer budget. */
  struct cg_admission *admission;
};

enum cg_tcp_framing { CG_TCP_RFC2510 = 1, CG_TCP_V10 = 2 };

/* errorMsgRep codes (version 10: a 16-bit code, as deployed clients read it:
 * 0x03xx is the server's fault); RFC 2510's errorMsgRep carries only text. */
enum {
  CG_TCP_ERR_VERSION = 0x0100, /* unknown framing version */
  CG_TCP_ERR_CLIENT = 0x0200,  /* malformed frame, unknown polling reference */
  CG_TCP_ERR_SERVER = 0x0300,  /* the server cannot answer */
};

/* What the client sent: a PKIMessage, or a TCP-level pollReq. */
struct cg_tcp_frame {
  enum cg_tcp_framing framing;
  int is_poll;          /* pollReq: poll_ref set, msg NULL */
  uint32_t poll_ref;
  const uint8_t *msg;   /* the DER PKIMessage; valid until answered */
  size_t len;
};

/* A request waiting for its answer; valid until answered, even when the
 * peer has gone away (the answer is then dropped). */
struct cg_tcp_request;

typedef void (*cg_tcp_handler)(void *arg, struct cg_tcp_request *req,
                               const struct cg_tcp_frame *frame);

struct cg_tcp_server;

void cg_tcp_limits_default(struct cg_tcp_limits *l);

/* Listens on host:port (port 0 picks a free one).  0 or a CG_E* error (a
 * libuv one translated: cg_err_from_uv()). */
int cg_tcp_server_start(uv_loop_t *loop, const char *host, int port,
                        const struct cg_tcp_limits *limits, cg_tcp_handler handler, void *arg,
                        struct cg_tcp_server **out);
int cg_tcp_server_port(const struct cg_tcp_server *srv);
unsigned cg_tcp_server_conns(const struct cg_tcp_server *srv);
/* As cg_http_server_refused(). */
void cg_tcp_server_refused(const struct cg_tcp_server *srv, uint64_t out[3]);

/* The CMP answer: finalMsgRep (RFC 2510) or pkiRep (version 10). */
void cg_tcp_respond(struct cg_tcp_request *req, const uint8_t *msg, size_t len);
/* Not ready yet: a TCP pollRep naming poll_ref, to be asked again after
 * `seconds` (sent as RFC 2510's absolute time, seconds since 1970 UTC, or
 * version 10's number of seconds from now). */
void cg_tcp_respond_poll(struct cg_tcp_request *req, uint32_t poll_ref, uint32_t seconds);
/* An errorMsgRep with text (and, version 10, code); the connection closes
 * after it. */
void cg_tcp_respond_error(struct cg_tcp_request *req, unsigned code, const char *text);

/* True once the peer of req has gone away.  Safe from any thread while req
 * is valid (work queued for a request checks it before it starts). */
bool cg_tcp_request_gone(const struct cg_tcp_request *req);
/* The peer's address, as the admission counts it. */
const struct cg_addr *cg_tcp_request_peer(const struct cg_tcp_request *req);

/* Stops listening and closes idle connections; busy ones close after their
 * answer.  on_closed(arg) runs once everything is closed and every request
 * answered; the server is freed then. */
void cg_tcp_server_stop(struct cg_tcp_server *srv, void (*on_closed)(void *arg), void *arg);
/* Closes every connection now, whatever it is doing (a stop that waited
 * long enough): requests being handled are answered into the void. */
void cg_tcp_server_close_all(struct cg_tcp_server *srv);

#endif
