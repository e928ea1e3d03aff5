/*
 * conn.h - what a connection of transports/ is besides its protocol: the
 * socket and its one timer, the input buffer charged to the gateway's
 * admission, the answer being written, the end (FIN, then input read and
 * discarded until the peer's EOF) and the close that frees it all once both
 * handles are closed.  HTTP and raw TCP embed it; their state machines,
 * timeouts and framing stay theirs.
 *
 * Thread: the loop's.  Lifetime: cg_conn_accept() allocates the protocol's
 * whole connection (struct cg_conn first in it); it is freed in the close
 * callback of its last handle, after which the listener's settle() runs.
 */
#ifndef CG_TRANSPORTS_CONN_H
#define CG_TRANSPORTS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "transports/addr.h"
#include "transports/listen.h"

struct cg_conn;
struct cg_conn_tls;
struct cg_tls_server;
typedef void (*cg_conn_close_fn)(struct cg_conn *c);
typedef void (*cg_conn_written_fn)(struct cg_conn *c, int status);

struct cg_conn {
  uv_tcp_t tcp;               /* data: the connection */
  uv_timer_t timer;           /* armed by the protocol (data: the connection) */
  uv_write_t write_req;       /* the answer's */
  uv_shutdown_t shutdown_req; /* the end's */
  struct cg_listener *l;
  struct cg_conn_link link; /* in l->conns */
  struct cg_buf in;         /* what was read and not yet consumed */
  size_t held;              /* in's capacity, charged to the admission */
  struct cg_addr peer;      /* as the admission counts it */
  uint8_t *out;             /* the answer being written, freed when written */
  uv_alloc_cb alloc_cb;     /* the protocol's reading */
  uv_read_cb read_cb;
  cg_conn_close_fn close;     /* the protocol's close; ends in cg_conn_close() */
  cg_conn_written_fn written; /* the write under way's callback */
  /* TLS (cg_conn_start_tls()): the socket carries the session's
   * ciphertext, and the protocol's callbacks get its plaintext; NULL: plain. */
  struct cg_conn_tls *tls;
  int open_handles;
  bool reading;
  bool admitted;    /* counted by the admission until freed */
  bool closing;     /* uv_close called */
  bool over_budget; /* cg_conn_reserve() found the gateway's buffer budget spent */
};

/* Takes the connection waiting on l (from its connection callback): refused
 * at once when the listener is full or no memory can be had for it; else a
 * connection of size octets (zeroed; struct cg_conn first), its input buffer
 * bounded by in_limit, admitted (per-address limit), reading with the
 * protocol's callbacks and TCP_NODELAY.  NULL when it was refused or failed
 * (then it is closing already, and nothing of the protocol's runs for it).
 * The protocol sets up its own part before returning to the loop. */
struct cg_conn *cg_conn_accept(struct cg_listener *l, size_t size, size_t in_limit,
                               const char *proto, uv_alloc_cb alloc_cb, uv_read_cb read_cb,
                               cg_conn_close_fn close);

/* Makes a connection just accepted a TLS server connection of s: what is
 * read is decrypted before the protocol's callbacks see it, and what is
 * written (cg_conn_write(), cg_conn_send()) is encrypted.  The handshake
 * runs as the first octets arrive, under the protocol's timer: its steps on
 * the threadpool when offload (a full handshake's crypto takes hundreds of
 * microseconds), else on the loop.  0, or CG_ENOMEM (the caller closes). */
int cg_conn_start_tls(struct cg_conn *c, struct cg_tls_server *s, bool offload);

/* The TLS client certificate of c (cg_tls_peer_cert()); CG_ENOT_FOUND for
 * a plain connection or one without. */
int cg_conn_tls_client(struct cg_conn *c, uint8_t *out, size_t cap, size_t *len);

int cg_conn_read_start(struct cg_conn *c);
void cg_conn_read_stop(struct cg_conn *c);

/* Room for the next read: the buffer's spare capacity, at least READ_MIN
 * octets, never past its limit, and charged to the admission.  An empty
 * *out when there is none: at the limit, out of memory, or (over_budget)
 * the gateway's budget of buffered input spent. */
void cg_conn_reserve(struct cg_conn *c, uv_buf_t *out);

/* Nothing buffered is needed any more: the buffer and its charge go (a
 * connection between requests holds no buffer memory). */
void cg_conn_drop_input(struct cg_conn *c);

/* The answer's buffer of len octets, held in c->out until written; NULL
 * when len is past what one write takes or no memory can be had. */
uint8_t *cg_conn_out(struct cg_conn *c, size_t len);

/* Writes len octets of c->out; written(c, status) runs when done, unless
 * the connection is closing by then.  0, or a libuv error (then nothing
 * runs: the caller closes). */
int cg_conn_write(struct cg_conn *c, size_t len, cg_conn_written_fn written);

/* Sends len octets (copied) that are not the answer (HTTP's "100
 * Continue"), before whatever is written next.  0 or a libuv error. */
int cg_conn_send(struct cg_conn *c, const void *p, size_t len);

/* Ends a connection whose last answer is written: input is discarded from
 * now on, our FIN goes out, and the connection closes (c->close) on the
 * peer's EOF, on an error, or once the FIN is sent when the listener is
 * stopping.  The protocol's timer bounds the wait. */
void cg_conn_linger(struct cg_conn *c);

/* Closes the listener's connections with their protocol's close: each of
 * them, or (busy not NULL) those busy() does not hold back. */
void cg_conn_close_each(struct cg_listener *l, bool (*busy)(const struct cg_conn *c));

/* Closes both handles (once); the connection is freed when they are closed.
 * The protocol's close calls this last. */
void cg_conn_close(struct cg_conn *c);

#endif
