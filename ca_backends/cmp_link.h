/*
 * cmp_link.h - the way from the upstream CMP backend (cmp.c) to its CA: a
 * bounded set of kept-alive HTTP connections (transports/http_client.h), or
 * raw TCP exchanges (transports/tcp_client.h, a connection per message as
 * RFC 2510-era servers expect), with a queue for messages that find every
 * connection busy.
 *
 * A message that could not be delivered at all (the connection could not
 * be made: CG_ECONNECT) is sent again after a delay, up to `retries` times.
 * One that may have reached the CA is never sent again: the CA would see the
 * same transactionID twice, and a CA that served the first would refuse
 * (transactionIdInUse) rather than issue twice; the caller hears the failure
 * and decides.
 *
 * Everything runs on the loop thread.  The link owns libuv handles: it is
 * closed with ca_cmp_link_close() and freed once they are closed.
 */
#ifndef CG_CA_BACKENDS_CMP_LINK_H
#define CG_CA_BACKENDS_CMP_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transports/tcp.h"

struct cg_tls_client;

struct ca_cmp_link_opts {
  bool tcp;                    /* raw TCP framing instead of HTTP */
  const char *host;            /* numeric, or localhost */
  int port;
  const char *path;            /* HTTP request path */
  enum cg_tcp_framing framing; /* TCP */
  unsigned max_conns;          /* messages in flight at once */
  unsigned max_queue;          /* messages waiting for a connection; more are refused */
  uint64_t timeout_ms;         /* per message: connect, send and answer */
  size_t max_answer;           /* octets of an answer */
  unsigned retries;            /* sends again of a message that was not delivered */
  unsigned retry_delay_ms;
  uint64_t idle_ms;            /* a connection idle longer is replaced before use */
  struct cg_tls_client *tls;   /* HTTPS (borrowed: outlives the link); NULL: HTTP */
};

/* One message and its answer.  The caller keeps it (and msg) alive until cb
 * runs, once: err 0 with the answer (valid during the call), or CG_ECONNECT
 * (never delivered, retries spent), CG_EIO, CG_ECLOSED, CG_ETIMEOUT,
 * CG_ETOO_BIG, CG_EBAD_DATA (not a CMP answer: an HTTP status other than
 * 200, another content type, a TCP frame that is not a PKIMessage), CG_EBUSY
 * (the link is closing) with detail saying more. */
struct ca_cmp_link_req {
  const uint8_t *msg;
  size_t len;
  void (*cb)(struct ca_cmp_link_req *r, int err, const uint8_t *answer, size_t len,
             const char *detail);
  void *arg;
  /* the link's */
  unsigned tries;
  uint64_t due_ms;
  int err;                    /* a failure to report on the next turn */
  struct ca_cmp_link_conn *conn;
  struct ca_cmp_link_req *next;
};

struct ca_cmp_link;

/* 0, CG_EINVAL (options), CG_ENOMEM. */
int ca_cmp_link_new(uv_loop_t *loop, const struct ca_cmp_link_opts *o, struct ca_cmp_link **out);
/* Sends r->msg: 0 (r->cb will run, never from inside this call), or
 * CG_EBUSY when the queue is full or the link closes (cb does not run). */
int ca_cmp_link_send(struct ca_cmp_link *l, struct ca_cmp_link_req *r);
/* Ends every message in flight or queued with CG_EBUSY (their callbacks run
 * before it returns), refuses new ones, closes the connections; the link
 * frees itself when its handles are closed and its TCP exchanges ended (at
 * once when it never opened any). */
void ca_cmp_link_close(struct ca_cmp_link *l);

struct ca_cmp_link_stats {
  uint64_t sent;        /* messages sent (retries counted once) */
  uint64_t connections; /* TCP connections opened */
  uint64_t retried;     /* sends again of undelivered messages */
  uint64_t failed;      /* messages that got no answer */
  unsigned in_flight, queued;
};
void ca_cmp_link_stats(const struct ca_cmp_link *l, struct ca_cmp_link_stats *out);

#endif
