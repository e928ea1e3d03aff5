/*
 * tcp_client.c - one CMP-over-TCP exchange (transports/tcp_client.h): connect,
 * write the frame, read until one whole frame is in, close, report.  The
 * exchange owns its handles and buffers and frees them in the last close
 * callback, after which the user callback runs.
 */
#include "transports/tcp_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/err.h"

#define DEFAULT_MAX_FRAME (1024 * 1024)
#define DEFAULT_TIMEOUT_MS 30000
#define READ_SIZE (64 * 1024)

struct exchange {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_connect_t connect_req;
  uv_write_t write_req;
  int open_handles;
  enum cg_tcp_framing framing;
  size_t max_frame; /* octets of the answer's value */
  uint8_t *out;
  size_t out_len;
  struct cg_buf in;
  int err;
  bool done;
  bool no_memory; /* a read found no memory for its octets */
  char detail[160];
  cg_tcp_exchange_cb cb;
  void *arg;
};

uint32_t cg_tcp_get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void cg_tcp_put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

size_t cg_tcp_frame_header(enum cg_tcp_framing framing, int type, int flags, size_t len,
                           uint8_t out[7]) {
  cg_tcp_put32(out, (uint32_t)(len + (framing == CG_TCP_V10 ? 3 : 1)));
  if (framing != CG_TCP_V10) {
    out[4] = (uint8_t)type;
    return 5;
  }
  out[4] = 10;
  out[5] = (uint8_t)flags;
  out[6] = (uint8_t)type;
  return 7;
}

static void on_closed(uv_handle_t *h) {
  struct exchange *x = h->data;
  if (--x->open_handles > 0)
    return;
  struct cg_tcp_answer a = {0};
  const uint8_t *p = x->in.data;
  if (x->err == 0) {
    size_t hdr = x->framing == CG_TCP_V10 ? 7 : 5;
    a.type = p[hdr - 1];
    a.flags = x->framing == CG_TCP_V10 ? p[5] : 0;
    a.value = p + hdr;
    a.len = x->in.len - hdr;
  }
  x->cb(x->arg, x->err, x->err == 0 ? &a : NULL, x->detail);
  cg_buf_free(&x->in);
  free(x->out);
  free(x);
}

/* Ends the exchange with err (0: the frame is in). */
static void finish(struct exchange *x, int err, const char *what, int uv_err) {
  if (x->done)
    return;
  x->done = true;
  x->err = err;
  if (what != NULL)
    snprintf(x->detail, sizeof x->detail, "%s%s%s", what, uv_err ? ": " : "",
             uv_err ? uv_strerror(uv_err) : "");
  uv_timer_stop(&x->timer);
  uv_close((uv_handle_t *)&x->timer, on_closed);
  uv_close((uv_handle_t *)&x->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
  (void)suggested;
  struct exchange *x = h->data;
  size_t room = x->in.limit - x->in.len < READ_SIZE ? x->in.limit - x->in.len : READ_SIZE;
  uint8_t *p = room > 0 ? cg_buf_reserve(&x->in, room) : NULL;
  /* Within the limit, no room is no memory: on_read then hears UV_ENOBUFS. */
  x->no_memory = room > 0 && p == NULL;
  *out = uv_buf_init((char *)p, p != NULL ? (unsigned)room : 0);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  struct exchange *x = s->data;
  if (n == 0 || x->done)
    return;
  if (n == UV_ENOBUFS) {
    if (x->no_memory)
      finish(x, CG_ENOMEM, "no memory for the answer", 0);
    else
      finish(x, CG_ETOO_BIG, "the answer is larger than the limit", 0);
    return;
  }
  if (n < 0) {
    finish(x, n == UV_EOF ? CG_ECLOSED : CG_EIO,
           n == UV_EOF ? "the server closed the connection before a whole frame" : "read",
           n == UV_EOF ? 0 : (int)n);
    return;
  }
  x->in.len += (size_t)n;
  const uint8_t *p = x->in.data;
  size_t hdr = x->framing == CG_TCP_V10 ? 7 : 5;
  if (x->in.len < hdr)
    return;
  uint32_t len = cg_tcp_get32(p);
  bool v10 = p[4] == 10;
  if (v10 != (x->framing == CG_TCP_V10) || len < hdr - 4) {
    finish(x, CG_EBAD_DATA, "the answer is not a frame of the framing asked for", 0);
    return;
  }
  /* The limit counts the value; the length also counts what precedes it
   * (1 octet in RFC 2510 framing, 3 in version 10). */
  if ((size_t)len - (hdr - 4) > x->max_frame) {
    finish(x, CG_ETOO_BIG, "the answer is larger than the limit", 0);
    return;
  }
  if (x->in.len > (size_t)len + 4) {
    finish(x, CG_EBAD_DATA, "more than one frame in answer to one", 0);
    return;
  }
  if (x->in.len == (size_t)len + 4)
    finish(x, 0, NULL, 0);
}

static void on_write(uv_write_t *w, int status) {
  struct exchange *x = w->data;
  if (status < 0)
    finish(x, CG_EIO, "send", status);
}

static void on_connect(uv_connect_t *req, int status) {
  struct exchange *x = req->data;
  if (x->done)
    return;
  if (status < 0) {
    finish(x, CG_ECONNECT, "connect", status);
    return;
  }
  uv_tcp_nodelay(&x->tcp, 1);
  uv_buf_t b = uv_buf_init((char *)x->out, (unsigned)x->out_len);
  int r = uv_read_start((uv_stream_t *)&x->tcp, on_alloc, on_read);
  if (r == 0)
    r = uv_write(&x->write_req, (uv_stream_t *)&x->tcp, &b, 1, on_write);
  if (r != 0)
    finish(x, CG_EIO, "send", r);
}

static void on_timeout(uv_timer_t *t) {
  struct exchange *x = t->data;
  finish(x, CG_ETIMEOUT, "no complete answer in time", 0);
}

int cg_tcp_exchange(uv_loop_t *loop, const struct cg_tcp_exchange_opts *o, int type,
                    const uint8_t *value, size_t len, cg_tcp_exchange_cb cb, void *arg) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (o->host == NULL || o->port < 1 || o->port > 65535 || len > UINT32_MAX - 8)
    return CG_EINVAL;
  const char *host = strcmp(o->host, "localhost") == 0 ? "127.0.0.1" : o->host;
  if (uv_ip4_addr(host, o->port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, o->port, (struct sockaddr_in6 *)&ss) != 0)
    return CG_EINVAL;
  struct exchange *x = calloc(1, sizeof *x);
  uint8_t *out = malloc(len + 7);
  if (x == NULL || out == NULL) {
    free(x);
    free(out);
    return CG_ENOMEM;
  }
  x->framing = o->framing;
  x->out = out;
  x->out_len = cg_tcp_frame_header(o->framing, type, 0, len, out);
  memcpy(out + x->out_len, value, len);
  x->out_len += len;
  x->cb = cb;
  x->arg = arg;
  x->max_frame = o->max_frame ? o->max_frame : DEFAULT_MAX_FRAME;
  cg_buf_init(&x->in, x->max_frame + 7);
  uv_tcp_init(loop, &x->tcp);
  uv_timer_init(loop, &x->timer);
  x->tcp.data = x->timer.data = x->connect_req.data = x->write_req.data = x;
  x->open_handles = 2;
  uv_timer_start(&x->timer, on_timeout, o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS, 0);
  int r = uv_tcp_connect(&x->connect_req, &x->tcp, (const struct sockaddr *)&ss, on_connect);
  if (r != 0)
    finish(x, CG_ECONNECT, "connect", r);
  return 0;
}
