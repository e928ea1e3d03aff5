/*
 * coap_io.h - private to transports/: a libcoap context driven from the
 * libuv loop, shared by the CoAP server (coap.c) and client (coap_client.c).
 *
 * libcoap keeps its sockets in one epoll set (coap_context_get_coap_fd());
 * a uv_poll_t watches that descriptor and, when it is readable, libcoap
 * reads what came without waiting (coap_io_process(COAP_IO_NO_WAIT)).  What
 * libcoap must do later (a retransmission, a block to ask for, a separate
 * response to send, a session to expire) it says with the delay
 * coap_io_prepare_epoll() returns: one uv_timer_t is set to it after every
 * turn.  No second thread, nothing that blocks.
 */
#ifndef CG_TRANSPORTS_COAP_IO_H
#define CG_TRANSPORTS_COAP_IO_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <uv.h>

struct cg_coap_io {
  coap_context_t *ctx;
  uv_poll_t poll;
  uv_timer_t timer;
  int open_handles;
  /* Set by the owner: instead of the next turn, this runs once (the
   * owner's end); the handles stay open. */
  void (*final)(struct cg_coap_io *io);
  bool finishing;
  void (*on_closed)(struct cg_coap_io *io); /* after cg_coap_io_close() */
};

/* host (numeric) and port as libcoap's address.  0 or -1. */
int cg_coap_address(const char *host, int port, coap_address_t *out);
/* libcoap started once per process, its own log at LOG_CRIT. */
void cg_coap_io_startup(void);
/* Watches io->ctx (made and set up by the caller) on loop, and runs a first
 * turn.  0 or CG_EIO. */
int cg_coap_io_start(struct cg_coap_io *io, uv_loop_t *loop);
/* A turn now: what came is read, what is due is sent. */
void cg_coap_io_turn(struct cg_coap_io *io);
/* A turn at the loop's next iteration (an async triggered, a request sent). */
void cg_coap_io_soon(struct cg_coap_io *io);
/* Frees the context and closes the handles; on_closed(io) runs when both
 * are closed.  Not from inside a libcoap callback. */
void cg_coap_io_close(struct cg_coap_io *io, void (*on_closed)(struct cg_coap_io *io));

#endif
