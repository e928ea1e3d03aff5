/*
 * tcp.c - the raw-TCP CMP listener (transports/tcp.h): one struct conn per
 * connection, a bounded input buffer, and the two framings.
 *
 * The wire formats follow RFC 2510 §5.2 and the TCP-based management
 * protocol of draft-ietf-pkix-cmp-transport-protocols-05 ("version 10"), as
 * deployed clients and protocol analysers read them: the length field is 32
 * bits big-endian and counts everything after itself; version 10 frames
 * carry a flags octet whose bit 0 asks to close the connection after the
 * message; a pollRep is polling reference (32 bits) and time to check back
 * (32 bits: RFC 2510 an absolute time in seconds since 1970 UTC, version 10 a
 * number of seconds from now); a version 10 errorMsgRep is errorCode (16
 * bits), length of data (16 bits), data, then text, an RFC 2510 one only
 * text.  See docs/architecture.md, "Raw TCP".
 *
 * Each connection is a small state machine (set_state() checks the move
 * against legal_transition() and re-arms its timer):
 *
 *   READING --complete frame--> HANDLING --answer--> WRITING --written--> READING
 *   WRITING --written, closing--> LINGER --EOF or timer--> CLOSING
 *   READING --malformed frame--> WRITING (an errorMsgRep that closes)
 *   any --peer gone, error, timeout--> CLOSING
 *
 * Reading stops while a request is handled, so a client cannot queue work:
 * one request per connection at a time.  A request owns a copy of its
 * message, so it survives its connection (an "orphan" whose answer is
 * dropped).
 */
#include "transports/tcp.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "transports/admission.h"
#include "transports/conn.h"
#include "transports/listen.h"
#include "transports/tcp_client.h"

#define VERSION_10 10
/* How long a closing connection keeps reading (and discarding), so that
 * unread input does not turn our FIN into a RST that destroys the answer. */
#define LINGER_MS 2000

/* Flags (RFC 2510) and types (version 10): the same numbers. */
enum { T_PKI_MSG = 0, T_POLL_REP = 1, T_POLL_REQ = 2, T_FINAL = 5, T_ERROR = 6 };

enum conn_state { C_READING, C_HANDLING, C_WRITING, C_LINGER, C_CLOSING };

struct conn {
  struct cg_conn base; /* first: socket, timer, buffer, admission (transports/conn.h) */
  struct cg_tcp_server *srv;
  enum conn_state state;
  bool close_after; /* the answer being written ends the connection */
  enum cg_tcp_framing framing; /* of the last frame; 0 before the first */
  struct cg_tcp_request *req;
  unsigned served;     /* frames answered */
  bool frame_started;  /* the frame in the buffer has its deadline running */
};
_Static_assert(offsetof(struct conn, base) == 0, "cg_conn_accept() allocates the whole");


struct cg_tcp_request {
  struct conn *conn; /* NULL once orphaned */
  atomic_bool gone;  /* orphaned: read by workers (cg_tcp_request_gone) */
  struct cg_addr peer;
  struct cg_tcp_server *srv;
  enum cg_tcp_framing framing;
  bool close_after; /* version 10: the client flagged its last message */
  uint8_t msg[];
};

struct cg_tcp_server {
  struct cg_listener l; /* handle, connections, admission, stop */
  struct cg_tcp_limits limits;
  cg_tcp_handler handler;
  void *arg;
  unsigned pending; /* requests handed out and not answered */
};

/* ---- bookkeeping ---------------------------------------------------------- */

/* The listener's settle(): the server goes once stopped and empty. */
static void settle(void *owner) {
  struct cg_tcp_server *srv = owner;
  if (!cg_listener_done(&srv->l, srv->pending > 0))
    return;
  void (*cb)(void *) = srv->l.on_closed;
  void *arg = srv->l.closed_arg;
  cg_listener_release(&srv->l);
  free(srv);
  if (cb != NULL)
    cb(arg);
}

#ifndef NDEBUG
/* The transitions a connection may make (the header comment's machine);
 * READING -> READING is a frame arriving in pieces. */
static bool legal_transition(enum conn_state from, enum conn_state to) {
  static const unsigned legal[] = {
      [C_READING] = 1u << C_READING | 1u << C_HANDLING | 1u << C_WRITING | 1u << C_CLOSING,
      [C_HANDLING] = 1u << C_WRITING | 1u << C_CLOSING,
      [C_WRITING] = 1u << C_READING | 1u << C_LINGER | 1u << C_CLOSING,
      [C_LINGER] = 1u << C_CLOSING,
      [C_CLOSING] = 0,
  };
  return (legal[from] >> to) & 1u;
}
#endif

static void on_timeout(uv_timer_t *t);

/* The one place a connection changes state; the timer follows the state. */
static void set_state(struct conn *c, enum conn_state s) {
  const struct cg_tcp_limits *l = &c->srv->limits;
  uint64_t ms = 0;
  assert(legal_transition(c->state, s));
  c->state = s;
  if (s == C_READING) {
    if (c->base.in.len == 0) {
      /* Nothing begun: a connection that never sent a frame gets no more
       * time than one sending its first (as HTTP's header timeout). */
      c->frame_started = false;
      ms = c->served == 0 ? l->first_timeout_ms : l->idle_timeout_ms;
    } else if (c->frame_started) {
      return; /* a frame must arrive within read_timeout_ms of its first octet */
    } else {
      c->frame_started = true;
      ms = l->read_timeout_ms;
    }
  } else if (s == C_WRITING)
    ms = l->idle_timeout_ms;
  else if (s == C_LINGER)
    ms = l->idle_timeout_ms < LINGER_MS ? l->idle_timeout_ms : LINGER_MS;
  if (ms > 0)
    uv_timer_start(&c->base.timer, on_timeout, ms, 0);
  else
    uv_timer_stop(&c->base.timer);
}

static void conn_close(struct conn *c) {
  if (c->state == C_CLOSING)
    return;
  set_state(c, C_CLOSING); /* the timer stops */
  if (c->req != NULL) {
    c->req->conn = NULL; /* its answer will be dropped */
    atomic_store(&c->req->gone, true);
  }
  c->req = NULL;
  cg_conn_close(&c->base);
}

static void close_conn(struct cg_conn *base) { conn_close((struct conn *)base); }

static void on_timeout(uv_timer_t *t) {
  struct conn *c = t->data;
  cg_debug("tcp: connection timed out (state %d)", (int)c->state);
  conn_close(c);
}


/* ---- writing -------------------------------------------------------------- */

static void process(struct conn *c);

static void on_written(struct cg_conn *base, int status) {
  struct conn *c = (struct conn *)base;
  if (status != 0) {
    conn_close(c);
    return;
  }
  c->served++;
  if (c->close_after || c->srv->l.stopping) {
    set_state(c, C_LINGER);
    cg_conn_linger(&c->base);
    return;
  }
  set_state(c, C_READING);
  if (cg_conn_read_start(&c->base) != 0) {
    conn_close(c);
    return;
  }
  process(c); /* a frame may be waiting in the buffer already */
}

/* One frame, header and value, in one write: value is a then b. */
static void write_frame(struct conn *c, enum cg_tcp_framing framing, int type, const void *a,
                        size_t alen, const void *b, size_t blen) {
  uint8_t *out = cg_conn_out(&c->base, 7 + alen + blen);
  if (out == NULL) {
    conn_close(c);
    return;
  }
  /* version 10 flags bit 0: this is the last message */
  size_t hdr = cg_tcp_frame_header(framing, type, c->close_after ? 1 : 0, alen + blen, out);
  if (alen > 0)
    memcpy(out + hdr, a, alen);
  if (blen > 0)
    memcpy(out + hdr + alen, b, blen);
  set_state(c, C_WRITING);
  if (cg_conn_write(&c->base, hdr + alen + blen, on_written) != 0)
    conn_close(c);
}

/* An errorMsgRep in the framing given; the connection closes after it. */
static void write_error(struct conn *c, enum cg_tcp_framing framing, unsigned code,
                        const char *text) {
  size_t tlen = strlen(text);
  c->close_after = true;
  if (framing != CG_TCP_V10) {
    write_frame(c, framing, T_ERROR, text, tlen, NULL, 0);
    return;
  }
  /* errorCode, length of data, data (for a version error: the version we
   * speak), then the text. */
  uint8_t head[5] = {(uint8_t)(code >> 8), (uint8_t)code, 0, 0, VERSION_10};
  size_t hlen = 4;
  if (code == CG_TCP_ERR_VERSION) {
    head[3] = 1;
    hlen = 5;
  }
  write_frame(c, framing, T_ERROR, head, hlen, text, tlen);
}

/* ---- reading -------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
  (void)suggested;
  struct conn *c = h->data;
  cg_conn_reserve(&c->base, out); /* empty over the budget: on_read refuses */
}

/* The framing of the frame arriving, before any of it could be buffered:
 * its fifth octet, peeked at in the socket (a refusal is then written in the
 * client's own framing). */
static enum cg_tcp_framing peek_framing(struct conn *c) {
  uint8_t head[5];
  uv_os_fd_t fd;
  if (c->base.in.len >= 5)
    memcpy(head, c->base.in.data, 5);
  else if (uv_fileno((uv_handle_t *)&c->base.tcp, &fd) != 0 ||
           recv(fd, head, sizeof head, MSG_PEEK | MSG_DONTWAIT) != (ssize_t)sizeof head)
    return c->framing ? c->framing : CG_TCP_RFC2510;
  return head[4] == VERSION_10 ? CG_TCP_V10 : CG_TCP_RFC2510;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  struct conn *c = s->data;
  if (nread == 0)
    return;
  if (nread == UV_ENOBUFS && c->base.over_budget && c->state == C_READING) {
    /* The gateway's buffer budget is spent: the frame is refused and the
     * connection closes, letting its buffer go.  (Out of memory, it just
     * closes.)  The framing is the frame's own when its header is in. */
    enum cg_tcp_framing f = peek_framing(c);
    cg_admission_refused_memory(c->srv->l.admission);
    c->srv->l.refused_memory++;
    cg_conn_read_stop(&c->base);
    cg_conn_drop_input(&c->base); /* given back at once, for the others */
    write_error(c, f, CG_TCP_ERR_SERVER, "server busy: too much input buffered; try again later");
    return;
  }
  if (nread < 0) {
    conn_close(c); /* EOF, reset, or no buffer left */
    return;
  }
  c->base.in.len += (size_t)nread;
  cg_quickack(&c->base.tcp);
  if (c->state == C_READING)
    process(c);
}

/* Refuses what was read: errorMsgRep, then the connection closes. */
static void refuse(struct conn *c, enum cg_tcp_framing framing, unsigned code, const char *text) {
  cg_debug("tcp: refused frame: %s", text);
  cg_conn_read_stop(&c->base);
  c->base.in.len = 0;
  write_error(c, framing ? framing : CG_TCP_RFC2510, code, text);
}

/* Takes the first complete frame of the buffer, if there is one, and hands
 * it out; a malformed one is refused as soon as it shows. */
static void process(struct conn *c) {
  const struct cg_tcp_limits *l = &c->srv->limits;
  uint8_t *p = c->base.in.data;
  size_t n = c->base.in.len;
  char why[96];
  if (n >= 4 && cg_tcp_get32(p) == 0) {
    refuse(c, c->framing, CG_TCP_ERR_CLIENT, "zero length");
    return;
  }
  if (n < 5) {
    set_state(c, C_READING);
    return;
  }
  uint32_t len = cg_tcp_get32(p);
  /* The fifth octet: a version 10 frame says 10 there, an RFC 2510 frame its
   * flag (0..6); anything above 10 is a version we do not speak. */
  enum cg_tcp_framing framing = p[4] == VERSION_10 ? CG_TCP_V10 : CG_TCP_RFC2510;
  if (p[4] > VERSION_10) {
    refuse(c, CG_TCP_V10, CG_TCP_ERR_VERSION, "unsupported version: this server speaks 10");
    return;
  }
  size_t hdr = framing == CG_TCP_V10 ? 3 : 1; /* counted octets before the value */
  if (len < hdr) {
    refuse(c, framing, CG_TCP_ERR_CLIENT, "length too short for the header");
    return;
  }
  if (len - hdr > l->max_frame) {
    snprintf(why, sizeof why, "frame of %lu octets; at most %zu", (unsigned long)(len - hdr),
             l->max_frame);
    refuse(c, framing, CG_TCP_ERR_CLIENT, why);
    return;
  }
  if (n < 4 + (size_t)len) {
    set_state(c, C_READING);
    return;
  }
  int type = framing == CG_TCP_V10 ? p[6] : p[4];
  struct cg_tcp_frame f = {.framing = framing, .len = len - hdr};
  const uint8_t *value = p + 4 + hdr;
  if (type != T_PKI_MSG && type != T_POLL_REQ) {
    snprintf(why, sizeof why, "message type %d is not a request", type);
    refuse(c, framing, CG_TCP_ERR_CLIENT, why);
    return;
  }
  if (type == T_POLL_REQ && f.len != 4) {
    refuse(c, framing, CG_TCP_ERR_CLIENT, "a pollReq holds a 4-octet polling reference");
    return;
  }
  struct cg_tcp_request *r = malloc(sizeof *r + f.len);
  if (r == NULL) {
    refuse(c, framing, CG_TCP_ERR_SERVER, "out of memory");
    return;
  }
  r->conn = c;
  atomic_init(&r->gone, false);
  r->peer = c->base.peer;
  r->srv = c->srv;
  r->framing = framing;
  r->close_after = framing == CG_TCP_V10 && (p[5] & 1);
  memcpy(r->msg, value, f.len);
  if (type == T_POLL_REQ) {
    f.is_poll = 1;
    f.poll_ref = cg_tcp_get32(r->msg);
  } else {
    f.msg = r->msg;
  }
  c->framing = framing;
  /* What follows the frame stays for the next round. */
  size_t used = 4 + (size_t)len;
  memmove(p, p + used, n - used);
  c->base.in.len = n - used;
  c->frame_started = false;
  if (c->base.in.len == 0) {
    /* Nothing buffered: a connection between frames holds no buffer memory. */
    cg_conn_drop_input(&c->base);
  }
  cg_conn_read_stop(&c->base);
  set_state(c, C_HANDLING);
  c->req = r;
  c->srv->pending++;
  c->srv->handler(c->srv->arg, r, &f);
}

/* ---- answers -------------------------------------------------------------- */

/* The request leaves the server's hands: its connection, if it still has
 * one, is returned to write the answer to (which may be read from the
 * request: free it with done() after). */
static struct conn *take(struct cg_tcp_request *r) {
  struct conn *c = r->conn;
  if (c != NULL) {
    c->req = NULL;
    c->close_after = r->close_after || r->srv->l.stopping;
  }
  return c;
}

static void done(struct cg_tcp_request *r) {
  struct cg_tcp_server *srv = r->srv;
  bool orphan = r->conn == NULL;
  free(r);
  srv->pending--;
  if (orphan)
    settle(srv);
}

void cg_tcp_respond(struct cg_tcp_request *req, const uint8_t *msg, size_t len) {
  struct conn *c = take(req);
  if (c != NULL)
    write_frame(c, req->framing, T_FINAL, msg, len, NULL, 0);
  done(req);
}

void cg_tcp_respond_poll(struct cg_tcp_request *req, uint32_t poll_ref, uint32_t seconds) {
  struct conn *c = take(req);
  uint8_t v[8];
  cg_tcp_put32(v, poll_ref);
  cg_tcp_put32(v + 4, req->framing == CG_TCP_V10 ? seconds : (uint32_t)time(NULL) + seconds);
  if (c != NULL)
    write_frame(c, req->framing, T_POLL_REP, v, sizeof v, NULL, 0);
  done(req);
}

void cg_tcp_respond_error(struct cg_tcp_request *req, unsigned code, const char *text) {
  struct conn *c = take(req);
  if (c != NULL)
    write_error(c, req->framing, code, text);
  done(req);
}

/* ---- the server ------------------------------------------------------------- */

static void on_connection(uv_stream_t *ls, int status) {
  struct cg_tcp_server *srv = ls->data;
  if (status < 0) {
    cg_accept_failed("tcp", status);
    return;
  }
  /* A whole frame fits: the largest header and max_frame octets of value. */
  struct conn *c = (struct conn *)cg_conn_accept(&srv->l, sizeof *c, srv->limits.max_frame + 7,
                                                 "tcp", on_alloc, on_read, close_conn);
  if (c == NULL)
    return;
  c->srv = srv;
  set_state(c, C_READING);
}

void cg_tcp_limits_default(struct cg_tcp_limits *l) {
  l->max_frame = 256 * 1024;
  l->first_timeout_ms = 10000;
  l->read_timeout_ms = 30000;
  l->idle_timeout_ms = 60000;
  l->max_conns = 10000;
  l->admission = NULL;
}

int cg_tcp_server_start(uv_loop_t *loop, const char *host, int port,
                        const struct cg_tcp_limits *limits, cg_tcp_handler handler, void *arg,
                        struct cg_tcp_server **out) {
  *out = NULL;
  struct cg_tcp_limits l;
  if (limits != NULL)
    l = *limits;
  else
    cg_tcp_limits_default(&l);
  if (handler == NULL || cg_listen_check(host, port) != 0 || l.max_frame == 0 ||
      l.max_frame > UINT32_MAX - 7 || (l.max_conns == 0 && l.admission == NULL))
    return CG_EINVAL;
  struct cg_tcp_server *srv;
  int r = cg_listener_new(loop, sizeof *srv, offsetof(struct cg_tcp_server, l), host, port,
                          l.admission, l.max_conns, on_connection, settle, (void **)&srv);
  if (r != 0)
    return r;
  srv->limits = l;
  srv->handler = handler;
  srv->arg = arg;
  *out = srv;
  return 0;
}

int cg_tcp_server_port(const struct cg_tcp_server *srv) { return srv->l.port; }

unsigned cg_tcp_server_conns(const struct cg_tcp_server *srv) { return srv->l.conns.count; }

void cg_tcp_server_refused(const struct cg_tcp_server *srv, uint64_t out[3]) {
  out[0] = srv->l.refused_full;
  out[1] = srv->l.refused_addr;
  out[2] = srv->l.refused_memory;
}

bool cg_tcp_request_gone(const struct cg_tcp_request *req) { return atomic_load(&req->gone); }

const struct cg_addr *cg_tcp_request_peer(const struct cg_tcp_request *req) {
  return &req->peer;
}

/* A request handed out or its answer being written: closed once the answer
 * is written (on_written). */
static bool busy(const struct cg_conn *base) {
  const struct conn *c = (const struct conn *)base;
  return c->state == C_HANDLING || c->state == C_WRITING;
}

void cg_tcp_server_stop(struct cg_tcp_server *srv, void (*on_closed)(void *arg), void *arg) {
  if (srv->l.stopping)
    return;
  cg_listener_stop(&srv->l, on_closed, arg);
  cg_conn_close_each(&srv->l, busy);
}

void cg_tcp_server_close_all(struct cg_tcp_server *srv) {
  cg_conn_close_each(&srv->l, NULL); /* a request being handled becomes an orphan */
}
