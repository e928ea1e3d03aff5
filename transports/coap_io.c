/*
 * coap_io.c - transports/coap_io.h: one libcoap context on the libuv loop.
 */
#include "transports/coap_io.h"

#include <string.h>

#include "core/err.h"

static bool started;

void cg_coap_io_startup(void) {
  if (started)
    return;
  coap_startup();
  coap_set_log_level(LOG_CRIT); /* its own lines on stderr: only the worst */
  started = true;
}

int cg_coap_address(const char *host, int port, coap_address_t *out) {
  struct sockaddr_in6 a6;
  struct sockaddr_in a4;
  coap_address_init(out);
  if (uv_ip4_addr(host, port, &a4) == 0) {
    out->size = sizeof a4;
    memcpy(&out->addr.sin, &a4, sizeof a4);
  } else if (uv_ip6_addr(host, port, &a6) == 0) {
    out->size = sizeof a6;
    memcpy(&out->addr.sin6, &a6, sizeof a6);
  } else {
    return -1;
  }
  return 0;
}

static void on_timer(uv_timer_t *t);

static void on_final(uv_timer_t *t) {
  struct cg_coap_io *io = t->data;
  io->final(io);
}

void cg_coap_io_turn(struct cg_coap_io *io) {
  if (io->ctx == NULL)
    return;
  coap_io_process(io->ctx, COAP_IO_NO_WAIT);
  if (io->finishing) {
    uv_timer_start(&io->timer, on_final, 0, 0);
    return;
  }
  coap_tick_t now;
  coap_ticks(&now);
  unsigned ms = coap_io_prepare_epoll(io->ctx, now);
  if (ms > 0)
    uv_timer_start(&io->timer, on_timer, ms, 0);
  else
    uv_timer_stop(&io->timer);
}

static void on_timer(uv_timer_t *t) { cg_coap_io_turn(t->data); }

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)status;
  (void)events;
  cg_coap_io_turn(p->data);
}

void cg_coap_io_soon(struct cg_coap_io *io) {
  if (io->ctx == NULL)
    return;
  uv_timer_start(&io->timer, io->finishing ? on_final : on_timer, 0, 0);
}

int cg_coap_io_start(struct cg_coap_io *io, uv_loop_t *loop) {
  int fd = coap_context_get_coap_fd(io->ctx);
  if (fd < 0 || uv_poll_init(loop, &io->poll, fd) != 0)
    return CG_EIO;
  uv_timer_init(loop, &io->timer);
  io->poll.data = io->timer.data = io;
  io->open_handles = 2;
  uv_poll_start(&io->poll, UV_READABLE, on_readable);
  cg_coap_io_turn(io);
  return 0;
}

static void on_handle_closed(uv_handle_t *h) {
  struct cg_coap_io *io = h->data;
  if (--io->open_handles == 0 && io->on_closed != NULL)
    io->on_closed(io);
}

void cg_coap_io_close(struct cg_coap_io *io, void (*on_closed)(struct cg_coap_io *io)) {
  if (io->ctx != NULL)
    coap_free_context(io->ctx);
  io->ctx = NULL;
  io->on_closed = on_closed;
  uv_poll_stop(&io->poll);
  uv_timer_stop(&io->timer);
  uv_close((uv_handle_t *)&io->poll, on_handle_closed);
  uv_close((uv_handle_t *)&io->timer, on_handle_closed);
}
