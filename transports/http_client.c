/*
 * http_client.c - the HTTP/1.1 POST client of transports/http_client.h: one
 * TCP connection, one request at a time, llhttp for the response framing.
 *
 * The client embeds its uv_tcp_t, its connect and write requests and its one
 * timer (the deadline of the request in flight).  The connection is one state
 * machine (enum conn_state, changed only by set_state()):
 *
 *   DOWN --post--> CONNECTING --connected--> BUSY --response, keep-alive--> IDLE
 *   IDLE --post--> BUSY
 *   BUSY --response without keep-alive, failure--> CLOSING
 *   CONNECTING / IDLE --failure, EOF, close--> CLOSING
 *   CLOSING --handle closed--> DOWN, or CONNECTING when a post came meanwhile
 *
 * A request (its callback and its encoded octets) exists from the post to its
 * callback, in CONNECTING and BUSY, and in CLOSING when it was posted after
 * the previous connection began to close (it connects once the old handle is
 * gone: a uv_tcp_t cannot be reused before its close callback).  The
 * response is parsed as it arrives; the status and Content-Type are kept,
 * the body goes into a bounded buffer.  User callbacks run only from libuv
 * callbacks, never from inside llhttp or a public function, and only after
 * the client's own state is settled, so a callback may post or close.
 * Freeing happens in the last close callback.
 */
#include "transports/http_client.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <llhttp.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "transports/tls.h"

#define DEFAULT_MAX_HEADER (8 * 1024)
#define DEFAULT_MAX_BODY (256 * 1024)
#define DEFAULT_TIMEOUT_MS 30000
#define READ_SIZE (64 * 1024)
#define MAX_CONTENT_TYPE 255

enum conn_state {
  CONN_DOWN,       /* no socket; the tcp handle is not initialised */
  CONN_CONNECTING, /* uv_tcp_connect in flight; a request waits */
  CONN_BUSY,       /* request sent (or being sent), response being read */
  CONN_IDLE,       /* kept alive between requests; reading only to see EOF */
  CONN_CLOSING,    /* uv_close(tcp) called; a request may wait for the new connection */
};

struct cg_http_client {
  uv_loop_t *loop;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_connect_t connect_req;
  uv_write_t write_req;
  struct sockaddr_storage addr;
  char host_header[64];
  size_t max_header, max_body;
  uint64_t timeout_ms;
  enum conn_state state;
  unsigned connections;
  int open_handles;  /* the timer, and the tcp handle while initialised */
  bool closing;      /* cg_http_client_close() was called */
  void (*on_closed)(void *arg);
  void *closed_arg;

  /* The request in flight: cb is set from the post to its callback; out
   * holds its octets until they are handed to uv_write. */
  cg_http_client_cb cb;
  void *cb_arg;
  uint8_t *out;
  size_t out_len;

  /* The response being read. */
  llhttp_t parser;
  int fail;          /* the CG_E* a parser callback stopped on, or 0 */
  bool done;         /* on_message_complete ran for a final response */
  bool got_octets;   /* some of the response arrived */
  int status;
  size_t head_bytes;
  char field[16];    /* the header name being read (only short names matter) */
  size_t field_len;
  bool in_ctype;
  char ctype[MAX_CONTENT_TYPE + 1];
  size_t ctype_len;
  struct cg_buf body;

  /* HTTPS: the context, the host its certificate must name, and the
   * connection's session (NULL between connections). */
  struct cg_tls_client *tls_ctx;
  char tls_host[64];
  struct cg_tls *tls;
  bool close_each;

  char detail[256];
  char rbuf[READ_SIZE];
};

static int on_message_begin(llhttp_t *p);
static int on_status(llhttp_t *p, const char *at, size_t n);
static int on_header_field(llhttp_t *p, const char *at, size_t n);
static int on_header_field_complete(llhttp_t *p);
static int on_header_value(llhttp_t *p, const char *at, size_t n);
static int on_header_value_complete(llhttp_t *p);
static int on_headers_complete(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t n);
static int on_message_complete(llhttp_t *p);

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- state -------------------------------------------------------------- */

#ifndef NDEBUG
static int legal_transition(enum conn_state from, enum conn_state to) {
  static const unsigned legal[] = {
      [CONN_DOWN] = 1u << CONN_CONNECTING,
      [CONN_CONNECTING] = 1u << CONN_BUSY | 1u << CONN_CLOSING,
      [CONN_BUSY] = 1u << CONN_IDLE | 1u << CONN_CLOSING,
      [CONN_IDLE] = 1u << CONN_BUSY | 1u << CONN_CLOSING,
      [CONN_CLOSING] = 1u << CONN_DOWN,
  };
  return (legal[from] >> to) & 1u;
}
#endif

/* The one place the connection changes state. */
static void set_state(struct cg_http_client *c, enum conn_state next) {
  assert(legal_transition(c->state, next));
  c->state = next;
}

static void set_detail(struct cg_http_client *c, const char *what, int uv_err) {
  if (uv_err != 0)
    snprintf(c->detail, sizeof c->detail, "%s: %s", what, uv_strerror(uv_err));
  else
    snprintf(c->detail, sizeof c->detail, "%s", what);
}

static void maybe_free(struct cg_http_client *c) {
  if (!c->closing || c->open_handles > 0)
    return;
  void (*cb)(void *) = c->on_closed;
  void *arg = c->closed_arg;
  cg_buf_free(&c->body);
  free(c->out);
  free(c);
  if (cb != NULL)
    cb(arg);
}

static int start_connect(struct cg_http_client *c);
static void fail_request(struct cg_http_client *c, int err);

static void on_tcp_closed(uv_handle_t *h) {
  struct cg_http_client *c = h->data;
  c->open_handles--;
  cg_tls_free(c->tls);
  c->tls = NULL;
  set_state(c, CONN_DOWN);
  if (c->closing) {
    /* A request still waiting learns that it will not be sent. */
    if (c->cb != NULL)
      fail_request(c, CG_ECLOSED);
    maybe_free(c);
    return;
  }
  if (c->cb != NULL) {
    /* Posted while the previous connection was closing. */
    int r = start_connect(c);
    if (r != 0) {
      set_detail(c, "connect", r);
      fail_request(c, CG_ECONNECT);
    }
  }
}

static void on_timer_closed(uv_handle_t *h) {
  struct cg_http_client *c = h->data;
  c->open_handles--;
  maybe_free(c);
}

/* Closes the connection (if there is one); only marks, memory stays. */
static void conn_close(struct cg_http_client *c) {
  if (c->state == CONN_DOWN || c->state == CONN_CLOSING)
    return;
  set_state(c, CONN_CLOSING);
  uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

/* Ends the request in flight with err: the connection goes (its state is
 * unknown), then the callback runs. */
static void fail_request(struct cg_http_client *c, int err) {
  cg_http_client_cb cb = c->cb;
  void *arg = c->cb_arg;
  c->cb = NULL;
  uv_timer_stop(&c->timer);
  free(c->out);
  c->out = NULL;
  conn_close(c);
  cg_debug("http client: request failed: %s%s%s", cg_strerror(err), c->detail[0] ? ": " : "",
           c->detail);
  if (cb != NULL)
    cb(arg, err, NULL);
}

/* The response is complete: the connection is kept for the next request
 * or closed, then the callback runs with views into the client. */
static void complete(struct cg_http_client *c, bool keep) {
  cg_http_client_cb cb = c->cb;
  void *arg = c->cb_arg;
  c->cb = NULL;
  uv_timer_stop(&c->timer);
  if (keep)
    set_state(c, CONN_IDLE);
  else
    conn_close(c);
  struct cg_http_response rsp = {
      .status = c->status,
      .content_type = c->ctype,
      .body = c->body.len > 0 ? c->body.data : (const uint8_t *)"",
      .len = c->body.len,
  };
  cb(arg, 0, &rsp);
}

/* ---- parsing -------------------------------------------------------------- */

static int ascii_ieq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z')
      x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z')
      y = (unsigned char)(y + 32);
    if (x != y)
      return 0;
  }
  return 1;
}

/* Counts header octets against the cap; the parser stops when it is passed. */
static int count_head(struct cg_http_client *c, size_t n) {
  c->head_bytes += n;
  if (c->head_bytes <= c->max_header)
    return 0;
  c->fail = CG_ETOO_BIG;
  set_detail(c, "response header block too large", 0);
  return -1;
}

static int on_message_begin(llhttp_t *p) {
  struct cg_http_client *c = p->data;
  c->status = 0;
  c->head_bytes = 0;
  c->field_len = 0;
  c->in_ctype = false;
  c->ctype_len = 0;
  c->ctype[0] = '\0';
  cg_buf_reset(&c->body);
  return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n) {
  return count_head(p->data, n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  struct cg_http_client *c = p->data;
  /* Names arrive in pieces when they straddle reads; only the first
   * sizeof field octets are kept, the length counts them all. */
  for (size_t i = 0; i < n && c->field_len + i < sizeof c->field; i++)
    c->field[c->field_len + i] = at[i];
  c->field_len += n;
  return count_head(c, n);
}

static int on_header_field_complete(llhttp_t *p) {
  struct cg_http_client *c = p->data;
  static const char ct[] = "content-type";
  c->in_ctype = c->field_len == sizeof ct - 1 && ascii_ieq(c->field, ct, sizeof ct - 1);
  if (c->in_ctype)
    c->ctype_len = 0; /* a repeated Content-Type replaces the first */
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  struct cg_http_client *c = p->data;
  if (c->in_ctype) {
    if (n > MAX_CONTENT_TYPE - c->ctype_len) {
      c->fail = CG_ETOO_BIG;
      set_detail(c, "response Content-Type too long", 0);
      return -1;
    }
    memcpy(c->ctype + c->ctype_len, at, n);
    c->ctype_len += n;
    c->ctype[c->ctype_len] = '\0';
  }
  return count_head(c, n);
}

static int on_header_value_complete(llhttp_t *p) {
  struct cg_http_client *c = p->data;
  c->field_len = 0;
  c->in_ctype = false;
  return count_head(c, 4); /* ": " and CRLF */
}

static int on_headers_complete(llhttp_t *p) {
  struct cg_http_client *c = p->data;
  c->status = p->status_code;
  if (p->http_major != 1) {
    c->fail = CG_EBAD_DATA;
    set_detail(c, "response is not HTTP/1.x", 0);
    return -1;
  }
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->max_body) {
    /* Refused before a single body octet is read. */
    c->fail = CG_ETOO_BIG;
    set_detail(c, "response body too large", 0);
    return -1;
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  struct cg_http_client *c = p->data;
  int err = cg_buf_append(&c->body, at, n);
  if (err == 0)
    return 0;
  c->fail = err;
  set_detail(c, err == CG_ETOO_BIG ? "response body too large" : "out of memory", 0);
  return -1;
}

static int on_message_complete(llhttp_t *p) {
  struct cg_http_client *c = p->data;
  /* RFC 9110 §15.2: interim 1xx responses precede the final one. */
  if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101)
    return 0;
  c->done = true;
  return HPE_PAUSED;
}

/* ---- I/O ------------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
  struct cg_http_client *c = h->data;
  *out = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_eof(struct cg_http_client *c) {
  /* A response delimited by the end of the connection ends here. */
  if (c->got_octets) {
    llhttp_finish(&c->parser);
    if (c->done) {
      complete(c, false);
      return;
    }
  }
  set_detail(c, c->got_octets ? "the server closed the connection mid-response"
                              : "the server closed the connection without responding", 0);
  fail_request(c, CG_ECLOSED);
}

static void on_plain(struct cg_http_client *c, ssize_t nread, const uv_buf_t *buf);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  on_plain(s->data, nread, buf);
}

/* What the server sent, in the clear (as read, or decrypted). */
static void on_plain(struct cg_http_client *c, ssize_t nread, const uv_buf_t *buf) {
  if (nread == 0)
    return;
  if (c->state == CONN_IDLE) {
    /* Nothing is owed to us between requests: EOF or stray octets end the
     * connection; the next post opens a new one. */
    if (nread > 0)
      cg_debug("http client: unexpected octets on an idle connection");
    conn_close(c);
    return;
  }
  if (c->state != CONN_BUSY)
    return;
  if (nread < 0) {
    if (nread == UV_EOF) {
      on_eof(c);
    } else {
      set_detail(c, "read", (int)nread);
      fail_request(c, CG_EIO);
    }
    return;
  }
  c->got_octets = true;
  llhttp_errno_t e = llhttp_execute(&c->parser, buf->base, (size_t)nread);
  if (c->done) {
    /* Octets after the response would belong to nothing we asked for:
     * the connection is not reused then. */
    const char *end = llhttp_get_error_pos(&c->parser);
    bool keep = llhttp_should_keep_alive(&c->parser) && end == buf->base + nread;
    /* A server that answered before taking the whole request does not get
     * the next one on this connection (and write_req is still in use). */
    if (c->write_req.data != NULL || c->close_each)
      keep = false;
    llhttp_resume(&c->parser);
    complete(c, keep);
    return;
  }
  if (e != HPE_OK) {
    if (c->fail == 0)
      set_detail(c, llhttp_get_error_reason(&c->parser), 0);
    fail_request(c, c->fail != 0 ? c->fail : CG_EBAD_DATA);
  }
}

static void on_write(uv_write_t *w, int status) {
  struct cg_http_client *c = w->handle->data;
  free(w->data);
  w->data = NULL;
  if (status < 0 && status != UV_ECANCELED && c->state == CONN_BUSY && c->cb != NULL) {
    set_detail(c, "write", status);
    fail_request(c, CG_EIO);
  }
}

/* ---- TLS ------------------------------------------------------------------ */

static void on_tls_written(uv_write_t *w, int status) {
  struct cg_http_client *c = w->handle->data;
  free(w);
  if (status < 0 && status != UV_ECANCELED && c->state == CONN_BUSY && c->cb != NULL) {
    set_detail(c, "write", status);
    fail_request(c, CG_EIO);
  }
}

/* Writes what the session made (handshake flights, records). */
static int tls_flush(struct cg_http_client *c) {
  size_t len = 0;
  const uint8_t *p = cg_tls_output(c->tls, &len);
  if (p == NULL)
    return 0;
  uv_write_t *w = malloc(sizeof *w + len);
  if (w != NULL)
    memcpy(w + 1, p, len);
  cg_tls_output_sent(c->tls);
  if (w == NULL)
    return UV_ENOMEM;
  uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
  int r = uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_tls_written);
  if (r != 0)
    free(w);
  return r;
}

static int send_request(struct cg_http_client *c);

/* Moves the session on: its handshake, the request once it is done, and
 * the plaintext of the answer to the parser. */
static void tls_pump(struct cg_http_client *c) {
  while (c->tls != NULL && c->state == CONN_BUSY) {
    bool was = cg_tls_established(c->tls);
    int n = cg_tls_read(c->tls, (uint8_t *)c->rbuf, sizeof c->rbuf);
    if (!was && cg_tls_established(c->tls) && c->out != NULL && send_request(c) != 0) {
      set_detail(c, "send", UV_EPROTO);
      fail_request(c, CG_EIO);
      return;
    }
    if (n > 0) {
      uv_buf_t b = uv_buf_init(c->rbuf, (unsigned)n);
      on_plain(c, n, &b);
      continue;
    }
    if (n == CG_EEOF) {
      uv_buf_t b = uv_buf_init(c->rbuf, 0);
      on_plain(c, UV_EOF, &b);
      return;
    }
    if (n < 0) {
      snprintf(c->detail, sizeof c->detail, "%s", cg_tls_why(c->tls));
      (void)tls_flush(c); /* the alert */
      fail_request(c, cg_tls_established(c->tls) ? CG_EIO : CG_ECONNECT);
      return;
    }
    break;
  }
  if (c->tls != NULL && tls_flush(c) != 0) {
    set_detail(c, "write", UV_ENOMEM);
    fail_request(c, CG_EIO);
  }
}

static void on_tls_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct cg_http_client *c = s->data;
  if (nread == 0)
    return;
  if (nread > 0 && c->state == CONN_IDLE) {
    /* Between requests a TLS 1.3 server may still send session tickets:
     * those are taken; anything else ends the connection. */
    uint8_t none[1];
    if (cg_tls_feed(c->tls, (const uint8_t *)buf->base, (size_t)nread) != 0 ||
        cg_tls_read(c->tls, none, sizeof none) != 0) {
      conn_close(c);
      return;
    }
    (void)tls_flush(c);
    return;
  }
  if (nread < 0 || c->state != CONN_BUSY) {
    on_plain(c, nread < 0 ? nread : UV_EOF, buf);
    return;
  }
  if (cg_tls_feed(c->tls, (const uint8_t *)buf->base, (size_t)nread) != 0) {
    set_detail(c, "TLS: more unread data than a session holds", 0);
    fail_request(c, CG_EIO);
    return;
  }
  tls_pump(c);
}

/* Hands the request octets to libuv; the write callback frees them. */
static int send_request(struct cg_http_client *c) {
  if (c->tls != NULL) {
    /* encrypted into the session's output; sent with what else it holds */
    c->got_octets = false;
    c->done = false;
    c->fail = 0;
    int r = cg_tls_write(c->tls, c->out, c->out_len);
    free(c->out);
    c->out = NULL;
    return r == 0 ? tls_flush(c) : UV_EPROTO;
  }
  uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
  c->write_req.data = c->out;
  c->out = NULL;
  c->got_octets = false;
  c->done = false;
  c->fail = 0;
  int r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (r != 0) {
    free(c->write_req.data);
    c->write_req.data = NULL;
  }
  return r;
}

static void on_connect(uv_connect_t *req, int status) {
  struct cg_http_client *c = req->handle->data;
  if (c->state != CONN_CONNECTING)
    return; /* cancelled by a close */
  if (status < 0) {
    set_detail(c, "connect", status);
    fail_request(c, CG_ECONNECT);
    return;
  }
  set_state(c, CONN_BUSY);
  uv_tcp_nodelay(&c->tcp, 1);
  llhttp_init(&c->parser, HTTP_RESPONSE, &parser_settings);
  c->parser.data = c;
  if (c->tls_ctx != NULL) {
    /* HTTPS: the request goes once the handshake is done (tls_pump()). */
    c->tls = cg_tls_new_client(c->tls_ctx, c->tls_host);
    int r = c->tls == NULL ? UV_ENOMEM : uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_tls_read);
    if (r != 0) {
      set_detail(c, "TLS", r);
      fail_request(c, CG_ECONNECT);
      return;
    }
    tls_pump(c);
    return;
  }
  int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r == 0)
    r = send_request(c);
  if (r != 0) {
    set_detail(c, "send", r);
    fail_request(c, CG_EIO);
  }
}

/* Opens a new connection for the waiting request: DOWN -> CONNECTING.  A
 * libuv error leaves the handle closing (CLOSING) or DOWN. */
static int start_connect(struct cg_http_client *c) {
  int r = uv_tcp_init(c->loop, &c->tcp);
  if (r != 0)
    return r;
  c->tcp.data = c;
  c->open_handles++;
  c->connections++;
  set_state(c, CONN_CONNECTING);
  r = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&c->addr, on_connect);
  if (r != 0)
    conn_close(c);
  return r;
}

static void on_timeout(uv_timer_t *t) {
  struct cg_http_client *c = t->data;
  if (c->cb == NULL)
    return;
  snprintf(c->detail, sizeof c->detail, "no complete response within %llu ms",
           (unsigned long long)c->timeout_ms);
  fail_request(c, CG_ETIMEOUT);
}

/* ---- public API ------------------------------------------------------------ */

int cg_http_client_new(uv_loop_t *loop, const struct cg_http_client_opts *opts,
                       struct cg_http_client **out) {
  *out = NULL;
  if (opts == NULL || opts->host == NULL || opts->port < 1 || opts->port > 65535)
    return CG_EINVAL;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  bool v6 = false;
  const char *host = strcmp(opts->host, "localhost") == 0 ? "127.0.0.1" : opts->host;
  if (uv_ip4_addr(host, opts->port, (struct sockaddr_in *)&ss) != 0) {
    if (uv_ip6_addr(host, opts->port, (struct sockaddr_in6 *)&ss) != 0)
      return CG_EINVAL;
    v6 = true;
  }
  struct cg_http_client *c = calloc(1, sizeof *c);
  if (c == NULL)
    return CG_ENOMEM;
  int n = snprintf(c->host_header, sizeof c->host_header, v6 ? "[%s]:%d" : "%s:%d", opts->host,
                   opts->port);
  if (n < 0 || (size_t)n >= sizeof c->host_header) {
    free(c);
    return CG_EINVAL;
  }
  c->loop = loop;
  c->addr = ss;
  c->tls_ctx = opts->tls;
  c->close_each = opts->close_each;
  snprintf(c->tls_host, sizeof c->tls_host, "%s", opts->host);
  c->max_header = opts->max_header ? opts->max_header : DEFAULT_MAX_HEADER;
  c->max_body = opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
  c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
  c->state = CONN_DOWN;
  cg_buf_init(&c->body, c->max_body);
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->open_handles = 1;
  *out = c;
  return 0;
}

static bool path_ok(const char *path) {
  if (path == NULL || path[0] != '/')
    return false;
  for (const char *s = path; *s; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
      return false;
  return true;
}

int cg_http_client_post(struct cg_http_client *c, const char *path, const uint8_t *body,
                        size_t len, cg_http_client_cb cb, void *arg) {
  if (c->closing || c->cb != NULL)
    return CG_EBUSY;
  if (cb == NULL || !path_ok(path) || (len > 0 && body == NULL) || len > UINT32_MAX / 2)
    return CG_EINVAL;
  char head[512];
  int n = snprintf(head, sizeof head,
                   "POST %s HTTP/1.1\r\n"
                   "Host: %s\r\n"
                   "Content-Type: application/pkixcmp\r\n"
                   "Content-Length: %zu\r\n"
                   "Connection: keep-alive\r\n"
                   "\r\n",
                   path, c->host_header, len);
  if (n < 0 || (size_t)n >= sizeof head)
    return CG_EINVAL;
  uint8_t *out = malloc((size_t)n + len + 1);
  if (out == NULL)
    return CG_ENOMEM;
  memcpy(out, head, (size_t)n);
  if (len > 0)
    memcpy(out + n, body, len);
  c->out = out;
  c->out_len = (size_t)n + len;
  c->cb = cb;
  c->cb_arg = arg;
  c->detail[0] = '\0';

  int r = 0;
  const char *step = "connect";
  switch (c->state) {
  case CONN_DOWN:
    r = start_connect(c);
    break;
  case CONN_IDLE:
    set_state(c, CONN_BUSY);
    step = "send";
    r = send_request(c);
    break;
  case CONN_CLOSING:
    break; /* connects in on_tcp_closed */
  case CONN_CONNECTING:
  case CONN_BUSY:
    assert(0); /* c->cb was set */
    break;
  }
  if (r != 0) {
    /* Nothing was sent: the caller hears it now and not through cb. */
    set_detail(c, step, r);
    c->cb = NULL;
    free(c->out);
    c->out = NULL;
    conn_close(c);
    return c->state == CONN_DOWN || strcmp(step, "connect") == 0 ? CG_ECONNECT : CG_EIO;
  }
  uv_timer_start(&c->timer, on_timeout, c->timeout_ms, 0);
  return 0;
}

void cg_http_client_close(struct cg_http_client *c, void (*on_closed)(void *arg), void *arg) {
  if (c->closing)
    return;
  c->closing = true;
  c->on_closed = on_closed;
  c->closed_arg = arg;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
  /* A request in flight is failed from on_tcp_closed, on a later turn of
   * the loop, not from inside this call. */
  conn_close(c);
}

unsigned cg_http_client_connections(const struct cg_http_client *c) { return c->connections; }

const char *cg_http_client_detail(const struct cg_http_client *c) { return c->detail; }
