/*
 * conn.c - the connection lifecycle both servers share (transports/conn.h).
 */
#include "transports/conn.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "transports/admission.h"
#include "transports/tls.h"

/* The smallest read offered to libuv; the buffer grows geometrically. */
#define READ_MIN 4096

struct cg_conn_tls {
  struct cg_tls *session;
  uv_idle_t idle; /* hands the protocol what the session holds once it reads again */
  /* Handshake steps on the threadpool (cg_conn_start_tls()): while one
   * runs, the socket is not read and nothing here touches the session; a
   * connection that closes meanwhile leaves the session to the step's end
   * (conn NULL). */
  uv_work_t work;
  struct cg_conn *conn;
  bool offload, working;
  int step; /* the step's result */
  /* plaintext the protocol had no room for: left_len octets at left, in
   * left_buf (malloc'ed) */
  uint8_t *left_buf;
  const uint8_t *left;
  size_t left_len;
};

/* A write of ciphertext, or of cg_conn_send()'s octets. */
struct send {
  uv_write_t req;
  struct cg_conn *c;
  bool answer; /* the protocol's answer: its written() runs */
  uint8_t data[];
};

static void on_handle_closed(uv_handle_t *h) {
  struct cg_conn *c = h->data;
  if (--c->open_handles > 0)
    return;
  struct cg_listener *l = c->l;
  if (c->tls != NULL) {
    if (c->tls->working) {
      c->tls->conn = NULL; /* freed when the step ends */
    } else {
      cg_tls_free(c->tls->session);
      free(c->tls->left_buf);
      free(c->tls);
    }
  }
  cg_conn_set_remove(&l->conns, &c->link);
  cg_buf_free(&c->in);
  (void)cg_admission_hold(l->admission, &c->held, 0);
  if (c->admitted)
    cg_admission_leave(l->admission, &c->peer);
  free(c->out);
  free(c);
  l->settle(l->handle.data); /* last: it may free the listener's owner */
}

void cg_conn_close(struct cg_conn *c) {
  if (c->closing)
    return;
  c->closing = true;
  cg_conn_read_stop(c);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed); /* stops it */
  if (c->tls != NULL)
    uv_close((uv_handle_t *)&c->tls->idle, on_handle_closed);
}

void cg_conn_close_each(struct cg_listener *l, bool (*busy)(const struct cg_conn *c)) {
  for (struct cg_conn_link *k = l->conns.head, *next; k != NULL; k = next) {
    next = k->next; /* a close only marks: nothing is freed here */
    struct cg_conn *c = (struct cg_conn *)(void *)((char *)k - offsetof(struct cg_conn, link));
    if (busy == NULL || !busy(c))
      c->close(c);
  }
}

struct cg_conn *cg_conn_accept(struct cg_listener *l, size_t size, size_t in_limit,
                               const char *proto, uv_alloc_cb alloc_cb, uv_read_cb read_cb,
                               cg_conn_close_fn close) {
  assert(size >= sizeof(struct cg_conn));
  if (cg_listener_refuse_if_full(l))
    return NULL;
  struct cg_conn *c = calloc(1, size);
  if (c == NULL || uv_tcp_init(l->loop, &c->tcp) != 0) {
    free(c);
    cg_listener_refuse(l);
    return NULL;
  }
  uv_timer_init(l->loop, &c->timer);
  c->tcp.data = c->timer.data = c->write_req.data = c->shutdown_req.data = c;
  c->l = l;
  c->open_handles = 2;
  c->alloc_cb = alloc_cb;
  c->read_cb = read_cb;
  c->close = close;
  cg_conn_set_add(&l->conns, &c->link);
  cg_buf_init(&c->in, in_limit);
  int r = cg_err_from_uv(uv_accept((uv_stream_t *)&l->handle, (uv_stream_t *)&c->tcp));
  if (r == 0) {
    cg_peer_addr(&c->tcp, &c->peer);
    r = cg_admission_enter(l->admission, &c->peer);
    c->admitted = r == 0;
  }
  if (r == 0)
    r = cg_err_from_uv(cg_conn_read_start(c));
  if (r != 0) {
    if (r == CG_EADDR_LIMIT) {
      l->refused_addr++;
      cg_debug("%s: per-address connection limit reached", proto);
    }
    else
      cg_debug("%s: accept failed: %s", proto, cg_strerror(r));
    cg_conn_close(c);
    return NULL;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  return c;
}

/* ---- writes beside the answer, and TLS ------------------------------------ */

static void on_sent(uv_write_t *w, int status) {
  struct send *s = w->data;
  struct cg_conn *c = s->c;
  bool answer = s->answer;
  free(s);
  if (answer && !c->closing)
    c->written(c, status);
}

/* Writes a copy of len octets; on_sent() frees it (and, for the answer,
 * runs the protocol's written()). */
static int send_copy(struct cg_conn *c, const void *p, size_t len, bool answer) {
  struct send *s = malloc(sizeof *s + len);
  if (s == NULL)
    return UV_ENOMEM;
  memcpy(s->data, p, len);
  s->c = c;
  s->answer = answer;
  s->req.data = s;
  uv_buf_t b = uv_buf_init((char *)s->data, (unsigned)len);
  int r = uv_write(&s->req, (uv_stream_t *)&c->tcp, &b, 1, on_sent);
  if (r != 0)
    free(s);
  return r;
}

/* Writes what the session made (a handshake flight, records, an alert). */
static int tls_send(struct cg_conn *c, bool answer) {
  size_t len = 0;
  const uint8_t *p = cg_tls_output(c->tls->session, &len);
  if (p == NULL)
    return answer ? UV_ENOMEM : 0;
  int r = send_copy(c, p, len, answer);
  cg_tls_output_sent(c->tls->session);
  return r;
}

static struct cg_log_limit tls_refusals; /* the loop's */

/* A failed handshake or record: one log line (at most one per 10 s), the
 * alert, the end. */
static void tls_refused(struct cg_conn *c) {
  char peer[CG_ADDR_TEXT];
  cg_addr_text(&c->peer, peer);
  cg_log_limited(&tls_refusals, 10, CG_LOG_INFO, "tls: %s: %s", peer,
                 cg_tls_why(c->tls->session));
  (void)tls_send(c, false); /* the alert */
  c->close(c);
}

static void tls_deliver(struct cg_conn *c);
static void on_tls_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out);
static void on_tls_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* A handshake step (the crypto of a ClientHello: key exchange and the
 * server's signature, hundreds of microseconds) on a worker. */
static void on_tls_step(uv_work_t *w) {
  struct cg_conn_tls *tls = w->data;
  tls->step = cg_tls_read(tls->session, NULL, 0);
}

static void on_tls_stepped(uv_work_t *w, int status) {
  struct cg_conn_tls *tls = w->data;
  struct cg_conn *c = tls->conn;
  tls->working = false;
  if (c == NULL) { /* the connection closed meanwhile */
    cg_tls_free(tls->session);
    free(tls->left_buf);
    free(tls);
    return;
  }
  if (status != 0 || tls->step < 0) {
    tls_refused(c);
    return;
  }
  if (tls_send(c, false) != 0) {
    c->close(c);
    return;
  }
  if (c->reading && uv_read_start((uv_stream_t *)&c->tcp, on_tls_alloc, on_tls_read) != 0) {
    c->close(c);
    return;
  }
  tls_deliver(c);
}

/* Gives the protocol the plaintext the session holds, as its own read
 * callbacks would have had it, while it reads; a handshake step goes to a
 * worker instead where the connection offloads them. */
static void tls_deliver(struct cg_conn *c) {
  struct cg_tls *t = c->tls->session;
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  if (c->tls->working)
    return;
  if (c->tls->offload && !cg_tls_established(t) && cg_tls_readable(t) && !c->closing) {
    /* The socket waits (nothing may feed the session) until the step ends. */
    uv_read_stop(s);
    c->tls->working = true;
    c->tls->work.data = c->tls;
    if (uv_queue_work(c->l->loop, &c->tls->work, on_tls_step, on_tls_stepped) != 0) {
      c->tls->working = false;
      c->close(c);
    }
    return;
  }
  /* Plaintext is decrypted into a scratch buffer first and copied into the
   * protocol's: a connection that only shakes hands and idles gets no
   * buffer of the protocol's (as a plain one that sends nothing).  What the
   * protocol has no room for yet waits in a copy of the connection's own. */
  static _Thread_local uint8_t plain[16384];
  struct cg_conn_tls *tls = c->tls;
  while (c->reading && !c->closing) {
    uv_buf_t b = uv_buf_init(NULL, 0);
    const uint8_t *from = tls->left;
    size_t n = tls->left_len;
    if (n == 0) {
      int r = cg_tls_read(t, plain, sizeof plain);
      if (r == CG_EEOF) {
        c->read_cb(s, UV_EOF, &b);
        return;
      }
      if (r < 0) {
        tls_refused(c);
        return;
      }
      if (r == 0)
        break; /* more ciphertext is needed */
      from = plain;
      n = (size_t)r;
    }
    c->alloc_cb((uv_handle_t *)s, n, &b);
    size_t take = n < b.len ? n : b.len;
    if (take > 0)
      memcpy(b.base, from, take);
    if (take < n && from == plain) {
      /* keep the rest: the scratch buffer is the next connection's */
      uint8_t *keep = malloc(n - take);
      if (keep == NULL) {
        c->close(c);
        return;
      }
      memcpy(keep, plain + take, n - take);
      tls->left = tls->left_buf = keep;
      tls->left_len = n - take;
    } else if (from != plain) {
      tls->left += take;
      tls->left_len -= take;
      if (tls->left_len == 0) {
        free(tls->left_buf);
        tls->left = tls->left_buf = NULL;
      }
    }
    if (take == 0) {
      c->read_cb(s, UV_ENOBUFS, &b);
      break;
    }
    c->read_cb(s, (ssize_t)take, &b);
  }
  if (!c->closing && tls_send(c, false) != 0)
    c->close(c);
}

static void on_tls_idle(uv_idle_t *h) {
  struct cg_conn *c = h->data;
  uv_idle_stop(h);
  tls_deliver(c);
}

static void on_tls_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
  (void)h;
  (void)suggested;
  static _Thread_local char raw[65536]; /* fed to the session at once */
  *out = uv_buf_init(raw, sizeof raw);
}

static void on_tls_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct cg_conn *c = s->data;
  if (nread == 0)
    return;
  if (nread < 0) {
    c->read_cb(s, nread, buf); /* the peer's EOF, or an error */
    return;
  }
  if (cg_tls_feed(c->tls->session, (const uint8_t *)buf->base, (size_t)nread) != 0) {
    cg_debug("tls: more unread ciphertext than a session holds");
    c->close(c);
    return;
  }
  tls_deliver(c);
}

int cg_conn_start_tls(struct cg_conn *c, struct cg_tls_server *s, bool offload) {
  struct cg_conn_tls *tls = calloc(1, sizeof *tls);
  if (tls == NULL || (tls->session = cg_tls_new(s)) == NULL) {
    free(tls);
    return CG_ENOMEM;
  }
  uv_idle_init(c->l->loop, &tls->idle);
  tls->idle.data = c;
  tls->conn = c;
  tls->offload = offload;
  c->tls = tls;
  c->open_handles++;
  /* reading again, through the session */
  cg_conn_read_stop(c);
  return cg_conn_read_start(c) == 0 ? 0 : CG_EIO;
}

int cg_conn_tls_client(struct cg_conn *c, uint8_t *out, size_t cap, size_t *len) {
  if (c->tls == NULL || c->tls->working)
    return CG_ENOT_FOUND;
  return cg_tls_peer_cert(c->tls->session, out, cap, len);
}

int cg_conn_read_start(struct cg_conn *c) {
  if (c->reading)
    return 0;
  int r = c->tls == NULL    ? uv_read_start((uv_stream_t *)&c->tcp, c->alloc_cb, c->read_cb)
          : c->tls->working ? 0 /* the step's end starts the socket */
                            : uv_read_start((uv_stream_t *)&c->tcp, on_tls_alloc, on_tls_read);
  c->reading = r == 0;
  /* Plaintext (or ciphertext) the session held while the protocol did not
   * read goes out from the loop, not from inside the caller. */
  if (c->reading && c->tls != NULL &&
      (c->tls->left_len > 0 || cg_tls_readable(c->tls->session)))
    uv_idle_start(&c->tls->idle, on_tls_idle);
  return r;
}

int cg_conn_send(struct cg_conn *c, const void *p, size_t len) {
  if (c->tls != NULL)
    return cg_tls_write(c->tls->session, p, len) == 0 ? tls_send(c, false) : UV_EPROTO;
  return send_copy(c, p, len, false);
}

void cg_conn_read_stop(struct cg_conn *c) {
  if (c->reading && (c->tls == NULL || !c->tls->working))
    uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = false;
}

void cg_conn_reserve(struct cg_conn *c, uv_buf_t *out) {
  struct cg_buf *b = &c->in;
  size_t room = b->limit - b->len;
  size_t want = b->cap - b->len;
  if (want < READ_MIN)
    want = READ_MIN;
  if (want > room)
    want = room;
  uint8_t *p = want > 0 ? cg_buf_reserve(b, want) : NULL;
  c->over_budget = p != NULL && !cg_admission_hold(c->l->admission, &c->held, b->cap);
  if (c->over_budget)
    p = NULL;
  *out = uv_buf_init((char *)p, p != NULL ? (unsigned)want : 0);
}

void cg_conn_drop_input(struct cg_conn *c) {
  cg_buf_free(&c->in);
  (void)cg_admission_hold(c->l->admission, &c->held, 0);
}

uint8_t *cg_conn_out(struct cg_conn *c, size_t len) {
  assert(c->out == NULL); /* one write at a time */
  if (len > UINT32_MAX)
    return NULL; /* checked before anything is allocated */
  c->out = malloc(len > 0 ? len : 1);
  return c->out;
}

static void on_written(uv_write_t *w, int status) {
  struct cg_conn *c = w->data;
  free(c->out);
  c->out = NULL;
  if (!c->closing)
    c->written(c, status);
}

int cg_conn_write(struct cg_conn *c, size_t len, cg_conn_written_fn written) {
  c->written = written;
  if (c->tls != NULL) {
    int r = cg_tls_write(c->tls->session, c->out, len);
    free(c->out); /* encrypted: the session's output holds it now */
    c->out = NULL;
    return r == 0 ? tls_send(c, true) : UV_EPROTO;
  }
  uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)len);
  return uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
}

/* ---- the end -------------------------------------------------------------- */

static void on_discard_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
  (void)h;
  (void)suggested;
  static _Thread_local char sink[READ_MIN]; /* read and forgotten at once */
  *out = uv_buf_init(sink, sizeof sink);
}

static void on_discard_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  struct cg_conn *c = s->data;
  if (nread < 0)
    c->close(c); /* the peer's EOF, or an error */
}

static void on_shutdown(uv_shutdown_t *s, int status) {
  struct cg_conn *c = s->data;
  if (c->closing)
    return;
  if (status < 0 || c->l->stopping)
    c->close(c);
}

void cg_conn_linger(struct cg_conn *c) {
  if (c->tls != NULL) {
    /* RFC 8446 §6.1: close_notify before the FIN. */
    cg_tls_shutdown(c->tls->session);
    if (tls_send(c, false) != 0) {
      c->close(c);
      return;
    }
  }
  cg_conn_read_stop(c);
  cg_conn_drop_input(c);
  c->alloc_cb = on_discard_alloc;
  c->read_cb = on_discard_read;
  if (cg_conn_read_start(c) != 0 ||
      uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
    c->close(c);
}
