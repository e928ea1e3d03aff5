/*
 * http.c - the CMP-over-HTTP listener (RFC 9811): one struct conn per TCP
 * connection, llhttp for the framing, and the rules of transports/http.h.
 *
 * A connection embeds its uv_tcp_t, its one timer and its write, shutdown
 * and "100 Continue" requests.  Bytes are read straight into a bounded buffer
 * (limit max_header + max_body) and stay there until the request they belong
 * to is answered: the URL, the header values and the body handed to the
 * handler are views into that buffer, never copies.  Chunked bodies are
 * de-chunked in place, so a body is always one contiguous run.
 *
 * Each connection is one state machine (enum conn_state, changed only by
 * set_state(), which also re-arms the timer for the new phase):
 *
 *   IDLE --first octet--> HEAD --end of headers--> BODY --end of body--> HANDLING
 *   HANDLING --answer--> WRITING --written, keep-alive--> IDLE
 *                        WRITING --written, closing--> LINGER --EOF/timer--> CLOSING
 *   IDLE/HEAD/BODY --rejected or timed out--> WRITING (the answer closes)
 *   any --peer gone, error, stop--> CLOSING
 *
 * While a request is HANDLING the parser is paused and later bytes are only
 * buffered (in the spare room of the buffer, which must not move under the
 * body the handler holds), so pipelined requests are answered in order.
 * Closing only marks (state CLOSING and uv_close); memory is freed in the last
 * close callback.  A request whose connection closes while it is handled is
 * "orphaned": it takes the buffer (and so the body) with it and its answer
 * merely frees it.  Everything runs on the loop thread.
 */
#include "transports/http.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <llhttp.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "transports/admission.h"
#include "transports/conn.h"
#include "transports/listen.h"
#include "transports/tls.h"

/* How long a closing connection keeps reading (and discarding) after its last
 * response, so that its unread request bytes do not turn our FIN into a RST
 * that could destroy the response in flight (RFC 9112 §9.6). */
#define LINGER_MS 2000

enum conn_state {
  CONN_IDLE,     /* between requests; idle (or first-request) timer */
  CONN_HEAD,     /* request line and headers arriving; header timer */
  CONN_BODY,     /* body arriving; body timer */
  CONN_HANDLING, /* complete request handed out; parser paused; no timer */
  CONN_WRITING,  /* response being written; send-stall timer (idle timeout) */
  CONN_LINGER,   /* write side shut down; discarding input until EOF or timer */
  CONN_CLOSING,  /* uv_close called on both handles; waiting to be freed */
};

struct conn {
  struct cg_conn base; /* first: socket, timer, buffer, admission (transports/conn.h) */
  struct cg_http_server *srv;
  enum conn_state state;
  llhttp_t parser;
  size_t off;       /* first buffered octet not yet given to llhttp */
  size_t req_start; /* first octet of the current request */
  /* Spans of the current request, as offsets into in.data (which may move
   * while the request arrives). */
  size_t url_off, url_len;
  size_t field_off, field_len;
  size_t value_off, value_len;
  size_t body_off, body_len;
  int reject;        /* status the transport answers the current request with, or 0 */
  unsigned ctype_count;
  unsigned served;   /* requests answered on this connection */
  unsigned ctype_ok : 1;
  unsigned expect_continue : 1;
  unsigned http10 : 1;
  unsigned head : 1; /* a HEAD request: the answer's headers, no body (RFC 9110 §9.3.2) */
  unsigned close_after : 1; /* the current response ends the connection */
  unsigned retry_after; /* seconds, sent with the next response when not 0 */
  struct cg_http_request *req; /* handed to the handler, not yet answered */
  /* WEB: the spans of the headers the handler may read, and the query. */
  size_t hdr_off[CG_HTTP_HEADERS], hdr_len[CG_HTTP_HEADERS];
  unsigned hdr_count[CG_HTTP_HEADERS];
  size_t query_off, query_len;
  unsigned post : 1;
};
_Static_assert(offsetof(struct conn, base) == 0, "cg_conn_accept() allocates the whole");


struct cg_http_request {
  struct conn *conn;           /* NULL once orphaned */
  struct cg_http_server *srv;  /* NULL once an orphan outlived the server */
  struct cg_http_request *prev, *next; /* the server's orphan list */
  struct cg_buf keep;          /* an orphan's buffer, holding its body */
  size_t held;                 /* keep's octets, charged to the admission */
  struct cg_admission *admission;
  struct cg_addr peer;
  atomic_bool gone;            /* orphaned: read by workers (cg_http_request_gone) */
  bool post;                   /* WEB: a POST (else GET or HEAD) */
  const char *query;           /* WEB: the query string (without '?'), in text[] */
  const char *hdr[CG_HTTP_HEADERS]; /* WEB: each header's value, in text[]; NULL: absent */
  char *path;                  /* in text[] */
  char text[];
};

struct cg_http_server {
  struct cg_listener l; /* handle, connections, admission, stop */
  struct cg_tls_server *tls; /* HTTPS: borrowed; NULL: plain HTTP */
  bool tls_offload;          /* handshake steps on the threadpool */
  struct cg_http_limits limits;
  cg_http_handler handler;
  void *arg;
  struct cg_http_request *orphans;
  unsigned pending;
  /* CMP: POST of application/pkixcmp; ADMIN: GET without a body, any
   * content type; WEB (the console): GET and HEAD without a body, POST of
   * a form, with the headers a browser session needs. */
  enum { MODE_CMP, MODE_ADMIN, MODE_WEB } mode;
};

static int on_message_begin(llhttp_t *p);
static int on_url(llhttp_t *p, const char *at, size_t n);
static int on_header_field(llhttp_t *p, const char *at, size_t n);
static int on_header_value(llhttp_t *p, const char *at, size_t n);
static int on_header_value_complete(llhttp_t *p);
static int on_headers_complete(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t n);
static int on_message_complete(llhttp_t *p);

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* ---- server bookkeeping ------------------------------------------------- */

/* The listener's settle(): the server goes once stopped and empty. */
static void settle(void *owner) {
  struct cg_http_server *srv = owner;
  if (!cg_listener_done(&srv->l, false))
    return;
  /* Orphans may be answered after the server is gone; they must not reach
   * back into it. */
  for (struct cg_http_request *r = srv->orphans; r != NULL; r = r->next)
    r->srv = NULL;
  void (*cb)(void *) = srv->l.on_closed;
  void *arg = srv->l.closed_arg;
  /* An own admission goes with the server: orphans then account to none. */
  if (srv->l.own_admission)
    for (struct cg_http_request *r = srv->orphans; r != NULL; r = r->next)
      r->admission = NULL;
  cg_listener_release(&srv->l);
  free(srv);
  if (cb != NULL)
    cb(arg);
}

/* ---- connection state ------------------------------------------------- */

static uint64_t timeout_for(const struct conn *c, enum conn_state s) {
  const struct cg_http_limits *l = &c->srv->limits;
  switch (s) {
  case CONN_IDLE:
    /* A connection that never sent a request gets no more time than one
     * that is sending its headers. */
    return c->served == 0 ? l->header_timeout_ms : l->idle_timeout_ms;
  case CONN_HEAD:
    return l->header_timeout_ms;
  case CONN_BODY:
    return l->body_timeout_ms;
  case CONN_WRITING:
    return l->idle_timeout_ms;
  case CONN_LINGER:
    return l->idle_timeout_ms < LINGER_MS ? l->idle_timeout_ms : LINGER_MS;
  case CONN_HANDLING:
  case CONN_CLOSING:
    break;
  }
  return 0;
}

static void on_timeout(uv_timer_t *t);

static void arm_timer(struct conn *c) {
  uint64_t ms = timeout_for(c, c->state);
  if (ms == 0)
    uv_timer_stop(&c->base.timer);
  else
    uv_timer_start(&c->base.timer, on_timeout, ms, 0);
}

#ifndef NDEBUG
static int legal_transition(enum conn_state from, enum conn_state to) {
  static const unsigned legal[] = {
      [CONN_IDLE] = 1u << CONN_HEAD | 1u << CONN_WRITING | 1u << CONN_CLOSING,
      [CONN_HEAD] = 1u << CONN_BODY | 1u << CONN_WRITING | 1u << CONN_CLOSING,
      [CONN_BODY] = 1u << CONN_HANDLING | 1u << CONN_WRITING | 1u << CONN_CLOSING,
      [CONN_HANDLING] = 1u << CONN_WRITING | 1u << CONN_CLOSING,
      [CONN_WRITING] = 1u << CONN_IDLE | 1u << CONN_LINGER | 1u << CONN_CLOSING,
      [CONN_LINGER] = 1u << CONN_CLOSING,
      [CONN_CLOSING] = 0,
  };
  return (legal[from] >> to) & 1u;
}
#endif

/* The one place a connection changes state; the timer follows the state. */
static void set_state(struct conn *c, enum conn_state next) {
  assert(legal_transition(c->state, next));
  c->state = next;
  arm_timer(c);
}

/* A request still being handled outlives its connection and keeps the buffer
 * its body lives in. */
static void orphan_request(struct conn *c) {
  struct cg_http_request *r = c->req;
  struct cg_http_server *srv = c->srv;
  c->req = NULL;
  r->conn = NULL;
  atomic_store(&r->gone, true);
  r->keep = c->base.in;
  r->held = c->base.held; /* the charge goes with the buffer */
  c->base.held = 0;
  cg_buf_init(&c->base.in, r->keep.limit);
  r->prev = NULL;
  r->next = srv->orphans;
  if (srv->orphans != NULL)
    srv->orphans->prev = r;
  srv->orphans = r;
}

static void conn_close(struct conn *c) {
  if (c->state == CONN_CLOSING)
    return;
  if (c->req != NULL)
    orphan_request(c);
  set_state(c, CONN_CLOSING);
  cg_conn_close(&c->base);
}

static void close_conn(struct cg_conn *base) { conn_close((struct conn *)base); }

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- responses -------------------------------------------------------- */

static const char *reason_phrase(int status) {
  switch (status) {
  case 200: return "OK";
  case 303: return "See Other";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 409: return "Conflict";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 415: return "Unsupported Media Type";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  default: return "Error";
  }
}

static void on_written(struct cg_conn *base, int status);

/* Writes one response and enters WRITING.  The connection closes after it
 * when close_after is set or the server is stopping. */
static void send_response(struct conn *c, int status, const char *ctype, const char *extra,
                          const void *body, size_t len) {
  int closing = c->close_after || c->srv->l.stopping;
  const char *conn_hdr = "";
  if (closing)
    conn_hdr = "Connection: close\r\n";
  else if (c->http10)
    /* RFC 9112 Appendix C.2.2: a 1.0 client keeps the connection only when
     * the response says so too. */
    conn_hdr = "Connection: keep-alive\r\n";
  char retry[40] = "";
  if (c->retry_after > 0)
    snprintf(retry, sizeof retry, "Retry-After: %u\r\n", c->retry_after);
  c->retry_after = 0;
  static const char fmt[] = "HTTP/1.1 %d %s\r\n"
                            "Content-Type: %s\r\n"
                            "Content-Length: %zu\r\n"
                            "Cache-Control: %s\r\n"
                            "%s%s%s%s\r\n";
  /* RFC 9110 §15.5.6: a 405 names the allowed methods. */
  const char *allow = status != 405                  ? ""
                      : c->srv->mode == MODE_ADMIN ? "Allow: GET, HEAD\r\n"
                      : c->srv->mode == MODE_WEB   ? "Allow: GET, HEAD, POST\r\n"
                                                   : "Allow: POST\r\n";
  const char *cache = c->srv->mode == MODE_WEB ? "no-store" : "no-cache";
  if (extra == NULL)
    extra = "";
  /* One formatting into the stack; the console's extra fields (its
   * security headers, a cookie, a Location) stay well inside. */
  char head[2048];
  int n = snprintf(head, sizeof head, fmt, status, reason_phrase(status), ctype, len, cache, allow,
                   retry, extra, conn_hdr);
  c->close_after = closing;
  uint8_t *out = n > 0 && (size_t)n < sizeof head && len <= SIZE_MAX - sizeof head
                     ? cg_conn_out(&c->base, (size_t)n + len)
                     : NULL;
  if (out == NULL) {
    cg_debug("http: no memory for a %d response (or its header fields do not fit)", status);
    conn_close(c);
    return;
  }
  memcpy(out, head, (size_t)n);
  if (c->head)
    len = 0; /* Content-Length says what a GET would have had */
  if (len > 0)
    memcpy(out + n, body, len);
  set_state(c, CONN_WRITING);
  if (closing)
    cg_conn_read_stop(&c->base);
  int r = cg_conn_write(&c->base, (size_t)n + len, on_written);
  if (r < 0) {
    cg_debug("http: write failed: %s", uv_strerror(r));
    conn_close(c);
  }
}

static void send_status(struct conn *c, int status, const char *text) {
  send_response(c, status, "text/plain; charset=utf-8", NULL, text, strlen(text));
}

static const char *reject_text(const struct conn *c, int status) {
  switch (status) {
  case 405: return c->srv->mode == MODE_ADMIN ? "only GET is supported\n"
                  : c->srv->mode == MODE_WEB ? "only GET and POST are supported\n"
                                             : "only POST is supported\n";
  case 408: return "request timed out\n";
  case 413: return "request body too large\n";
  case 415: return c->srv->mode == MODE_WEB ? "Content-Type must be application/x-www-form-urlencoded\n"
                                            : "Content-Type must be application/pkixcmp\n";
  case 431: return "request header fields too large\n";
  case 503: return "service unavailable\n";
  default: return "malformed HTTP request\n";
  }
}

/* The transport answers the request itself and closes: its body (if any) was
 * not read. */
static void reject(struct conn *c, int status) {
  cg_debug("http: rejecting request with %d", status);
  c->close_after = 1;
  send_status(c, status, reject_text(c, status));
}

/* ---- parsing ---------------------------------------------------------- */

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

static int field_is(const char *name, size_t n, const char *want) {
  size_t m = strlen(want);
  return n == m && ascii_ieq(name, want, m);
}

static size_t skip_ows(const char *v, size_t i, size_t n) {
  while (i < n && (v[i] == ' ' || v[i] == '\t'))
    i++;
  return i;
}

/* Whether a Content-Type value of n octets names the media type mt: RFC
 * 9110 §8.3.1 makes type and subtype case-insensitive and allows parameters
 * after ';' and whitespace around. */
static bool is_media_type(const char *v, size_t n, const char *mt) {
  size_t m = strlen(mt);
  size_t i = skip_ows(v, 0, n);
  if (n - i < m || !ascii_ieq(v + i, mt, m))
    return false;
  i = skip_ows(v, i + m, n);
  return i == n || v[i] == ';';
}

/* RFC 9811 requires the media type application/pkixcmp. */
bool cg_http_is_pkixcmp(const char *v, size_t n) {
  return is_media_type(v, n, "application/pkixcmp");
}

static bool is_form(const char *v, size_t n) {
  return is_media_type(v, n, "application/x-www-form-urlencoded");
}

static const char *const web_headers[CG_HTTP_HEADERS] = {"cookie", "origin", "host",
                                                         "sec-fetch-site"};

/* Notes the span of a header the console reads; true when it is one. */
static bool web_header(struct conn *c, const char *name) {
  for (int i = 0; i < CG_HTTP_HEADERS; i++)
    if (field_is(name, c->field_len, web_headers[i])) {
      c->hdr_count[i]++;
      c->hdr_off[i] = c->value_off;
      c->hdr_len[i] = c->value_len;
      return true;
    }
  return false;
}

static int is_100_continue(const char *v, size_t n) {
  static const char want[] = "100-continue";
  size_t m = sizeof want - 1;
  size_t i = skip_ows(v, 0, n);
  if (n - i < m || !ascii_ieq(v + i, want, m))
    return 0;
  return skip_ows(v, i + m, n) == n;
}

static size_t offset_of(const struct conn *c, const char *at) {
  return (size_t)((const uint8_t *)at - c->base.in.data);
}

/* True when a header span ending at end takes the header block past its cap. */
static int header_too_big(struct conn *c, const char *at, size_t n) {
  /* Trailer fields of a chunked body arrive in BODY and are bounded by the
   * buffer's limit instead. */
  if (c->state != CONN_HEAD || offset_of(c, at) + n - c->req_start <= c->srv->limits.max_header)
    return 0;
  c->reject = 431;
  return 1;
}

/* llhttp reports a span in pieces when it straddles reads; the pieces are
 * adjacent in the buffer, so a span is its first offset and a running length. */
static void extend_span(struct conn *c, size_t *off, size_t *len, const char *at, size_t n) {
  if (*len == 0)
    *off = offset_of(c, at);
  *len += n;
}

static int on_message_begin(llhttp_t *p) {
  struct conn *c = p->data;
  c->url_len = c->field_len = c->value_len = c->body_len = 0;
  c->url_off = c->field_off = c->value_off = c->body_off = 0;
  c->reject = 0;
  c->ctype_count = 0;
  c->ctype_ok = 0;
  c->expect_continue = 0;
  c->http10 = 0;
  c->head = 0;
  c->close_after = 0;
  c->post = 0;
  memset(c->hdr_count, 0, sizeof c->hdr_count);
  memset(c->hdr_len, 0, sizeof c->hdr_len);
  set_state(c, CONN_HEAD);
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  struct conn *c = p->data;
  if (header_too_big(c, at, n))
    return HPE_USER;
  extend_span(c, &c->url_off, &c->url_len, at, n);
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  struct conn *c = p->data;
  if (header_too_big(c, at, n))
    return HPE_USER;
  extend_span(c, &c->field_off, &c->field_len, at, n);
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  struct conn *c = p->data;
  if (header_too_big(c, at, n))
    return HPE_USER;
  extend_span(c, &c->value_off, &c->value_len, at, n);
  return 0;
}

static int on_header_value_complete(llhttp_t *p) {
  struct conn *c = p->data;
  const char *name = (const char *)c->base.in.data + c->field_off;
  const char *value = (const char *)c->base.in.data + c->value_off;
  if (field_is(name, c->field_len, "content-type")) {
    c->ctype_count++;
    c->ctype_ok = c->srv->mode == MODE_WEB ? is_form(value, c->value_len)
                                           : cg_http_is_pkixcmp(value, c->value_len);
  } else if (c->srv->mode == MODE_WEB && web_header(c, name)) {
  } else if (field_is(name, c->field_len, "expect")) {
    c->expect_continue = is_100_continue(value, c->value_len);
  }
  c->field_len = c->value_len = 0;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  struct conn *c = p->data;
  const struct cg_http_limits *l = &c->srv->limits;
  set_state(c, CONN_BODY);
  c->http10 = p->http_major == 1 && p->http_minor == 0;
  c->head = p->method == HTTP_HEAD;
  c->post = p->method == HTTP_POST;
  c->close_after = !llhttp_should_keep_alive(p);
  int has_body = (p->flags & F_CHUNKED) || p->content_length > 0;
  if (p->http_major != 1)
    c->reject = 400;
  else if (c->srv->mode == MODE_WEB &&
           (c->hdr_count[CG_HTTP_COOKIE] > 1 || c->hdr_count[CG_HTTP_ORIGIN] > 1 ||
            c->hdr_count[CG_HTTP_HOST] > 1 || c->hdr_count[CG_HTTP_FETCH_SITE] > 1))
    c->reject = 400; /* one of each: a proxy and we might read different ones */
  else if (c->srv->mode == MODE_ADMIN || (c->srv->mode == MODE_WEB && p->method != HTTP_POST))
    c->reject = p->method != HTTP_GET && p->method != HTTP_HEAD ? 405 : has_body ? 400 : 0;
  else if (p->method != HTTP_POST)
    c->reject = 405;
  else if (c->ctype_count != 1 || !c->ctype_ok)
    c->reject = 415;
  else if (p->content_length > l->max_body)
    c->reject = 413; /* before a single body octet is read */
  else if (!cg_admission_room(c->srv->l.admission, (size_t)p->content_length)) {
    /* The announced body would take the buffered input over the budget. */
    cg_admission_refused_memory(c->srv->l.admission);
    c->srv->l.refused_memory++;
    c->reject = 503;
  }
  if (c->reject == 0) {
    /* RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" may wait
     * for the interim response before sending the body. */
    if (has_body && c->expect_continue && !c->http10) {
      int r = cg_conn_send(&c->base, continue_line, sizeof continue_line - 1);
      if (r < 0)
        cg_debug("http: writing 100 Continue failed: %s", uv_strerror(r));
    }
    return 0;
  }
  /* Without a body the request is complete: it is answered in turn, and the
   * connection may stay open.  With one, we answer now and close. */
  if (!has_body)
    return 0;
  return -1;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  struct conn *c = p->data;
  if (n > c->srv->limits.max_body - c->body_len) {
    c->reject = 413;
    return HPE_USER;
  }
  if (c->body_len == 0)
    c->body_off = offset_of(c, at);
  /* Chunk framing between pieces is dropped by moving each piece down. */
  uint8_t *dst = c->base.in.data + c->body_off + c->body_len;
  if ((const char *)dst != at)
    memmove(dst, at, n);
  c->body_len += n;
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  struct conn *c = p->data;
  /* We never switch protocols, so an upgrade request is the last one. */
  if (p->upgrade)
    c->close_after = 1;
  return HPE_PAUSED;
}

/* The request target's path: origin-form up to '?', or the path of an
 * absolute-form target (RFC 9112 §3.2). */
static void request_path(const struct conn *c, const char **path, size_t *len) {
  const char *u = (const char *)c->base.in.data + c->url_off;
  size_t n = c->url_len;
  if (n > 0 && u[0] != '/') {
    const char *scheme_end = memchr(u, ':', n);
    if (scheme_end != NULL && (size_t)(scheme_end - u) + 3 <= n && scheme_end[1] == '/' &&
        scheme_end[2] == '/') {
      const char *auth = scheme_end + 3;
      const char *slash = memchr(auth, '/', n - (size_t)(auth - u));
      if (slash == NULL) {
        *path = "/";
        *len = 1;
        return;
      }
      n -= (size_t)(slash - u);
      u = slash;
    }
  }
  const char *q = memchr(u, '?', n);
  *path = u;
  *len = q != NULL ? (size_t)(q - u) : n;
}

/* The query of the request target (after '?', before any '#'); "" when none. */
static void request_query(const struct conn *c, const char **query, size_t *len) {
  const char *u = (const char *)c->base.in.data + c->url_off;
  const char *q = memchr(u, '?', c->url_len);
  *query = "";
  *len = 0;
  if (q != NULL) {
    *query = q + 1;
    *len = c->url_len - (size_t)(q + 1 - u);
    const char *hash = memchr(*query, '#', *len);
    if (hash != NULL)
      *len = (size_t)(hash - *query);
  }
}

static void dispatch(struct conn *c) {
  struct cg_http_server *srv = c->srv;
  set_state(c, CONN_HANDLING);
  if (c->reject != 0) {
    send_status(c, c->reject, reject_text(c, c->reject));
    return;
  }
  const char *path, *query = "";
  size_t plen, qlen = 0, extra = 0;
  request_path(c, &path, &plen);
  bool web = srv->mode == MODE_WEB;
  if (web) {
    request_query(c, &query, &qlen);
    extra = qlen + 1;
    for (int i = 0; i < CG_HTTP_HEADERS; i++)
      extra += c->hdr_count[i] ? c->hdr_len[i] + 1 : 0;
  }
  struct cg_http_request *r = malloc(sizeof *r + plen + 1 + extra);
  if (r == NULL) {
    c->close_after = 1;
    send_status(c, 503, reject_text(c, 503));
    return;
  }
  r->conn = c;
  r->srv = srv;
  r->prev = r->next = NULL;
  cg_buf_init(&r->keep, 0);
  r->held = 0;
  r->admission = srv->l.admission;
  r->peer = c->base.peer;
  atomic_init(&r->gone, false);
  /* Runs of '/' count as one ("/.well-known/cmp//" is the CMP endpoint, as
   * clients that join a base path and a label expect). */
  r->path = r->text;
  size_t n = 0;
  for (size_t i = 0; i < plen; i++)
    if (path[i] != '/' || n == 0 || r->path[n - 1] != '/')
      r->path[n++] = path[i];
  r->path[n] = '\0';
  r->post = c->post;
  r->query = "";
  memset(r->hdr, 0, sizeof r->hdr);
  if (web) {
    char *t = r->path + n + 1;
    memcpy(t, query, qlen);
    t[qlen] = '\0';
    r->query = t;
    t += qlen + 1;
    for (int i = 0; i < CG_HTTP_HEADERS; i++) {
      if (c->hdr_count[i] == 0)
        continue;
      memcpy(t, c->base.in.data + c->hdr_off[i], c->hdr_len[i]);
      t[c->hdr_len[i]] = '\0';
      r->hdr[i] = t;
      t += c->hdr_len[i] + 1;
    }
  }
  c->req = r;
  srv->pending++;
  const uint8_t *body = c->body_len > 0 ? c->base.in.data + c->body_off : (const uint8_t *)"";
  srv->handler(srv->arg, r, r->path, body, c->body_len);
}

/* Gives buffered octets to llhttp until a request is complete, the input is
 * used up, or the request is rejected. */
static void feed(struct conn *c) {
  while (c->state == CONN_IDLE || c->state == CONN_HEAD || c->state == CONN_BODY) {
    if (c->off == c->base.in.len)
      break;
    if (c->state == CONN_IDLE)
      c->req_start = c->off;
    const char *base = (const char *)c->base.in.data;
    llhttp_errno_t e = llhttp_execute(&c->parser, base + c->off, c->base.in.len - c->off);
    if (e == HPE_OK) {
      c->off = c->base.in.len;
      /* llhttp reports spans only when they end or the input does; the
       * header block can also grow past the cap inside one span. */
      if (c->state == CONN_HEAD && c->base.in.len - c->req_start > c->srv->limits.max_header)
        reject(c, 431);
      break;
    }
    if (e == HPE_PAUSED) {
      c->off = (size_t)(llhttp_get_error_pos(&c->parser) - base);
      llhttp_resume(&c->parser);
      dispatch(c);
      return;
    }
    if (c->reject == 0)
      cg_debug("http: parse error %s: %s", llhttp_errno_name(e),
               llhttp_get_error_reason(&c->parser));
    reject(c, c->reject != 0 ? c->reject : 400);
    return;
  }
  if (c->state == CONN_IDLE && c->off == c->base.in.len) {
    /* Nothing buffered: an idle connection holds no buffer memory. */
    cg_conn_drop_input(&c->base);
    c->off = c->req_start = 0;
  }
}

/* ---- I/O callbacks ---------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
  struct conn *c = h->data;
  struct cg_buf *b = &c->base.in;
  if (c->state == CONN_HANDLING) {
    /* The handler holds a pointer into the buffer: only its spare room may be
     * used.  When that is full, on_read stops reading until the answer. */
    *out = uv_buf_init((char *)b->data + b->len, (unsigned)(b->cap - b->len));
    return;
  }
  cg_conn_reserve(&c->base, out); /* empty: on_buffer_full */
}

/* Called when on_alloc() gave no room: the buffer is at its limit, or it
 * could not grow (out of memory, or over the gateway's buffer budget). */
static void on_buffer_full(struct conn *c) {
  int at_limit = c->base.in.len >= c->base.in.limit;
  switch (c->state) {
  case CONN_HANDLING:
  case CONN_WRITING:
    /* Pipelined input waits in the kernel until the answer is written. */
    cg_conn_read_stop(&c->base);
    break;
  case CONN_IDLE:
  case CONN_HEAD:
  case CONN_BODY:
    /* Below the limit the request is not too large: the memory is short. */
    if (!at_limit) {
      cg_admission_refused_memory(c->srv->l.admission);
      c->srv->l.refused_memory++;
    }
    reject(c, !at_limit ? 503 : c->state == CONN_BODY ? 413 : 431);
    break;
  default:
    cg_debug("http: no buffer memory");
    conn_close(c);
    break;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct conn *c = s->data;
  if (nread == 0)
    return;
  if (nread == UV_ENOBUFS) {
    on_buffer_full(c);
    return;
  }
  if (nread < 0) {
    if (nread != UV_EOF)
      cg_debug("http: read failed: %s", uv_strerror((int)nread));
    conn_close(c);
    return;
  }
  cg_quickack(&c->base.tcp);
  c->base.in.len += (size_t)nread;
  switch (c->state) {
  case CONN_IDLE:
  case CONN_HEAD:
  case CONN_BODY:
    feed(c);
    break;
  default:
    break; /* parsed once the current request is answered */
  }
}

static void on_written(struct cg_conn *base, int status) {
  struct conn *c = (struct conn *)base;
  if (status < 0) {
    cg_debug("http: write failed: %s", uv_strerror(status));
    conn_close(c);
    return;
  }
  c->served++;
  if (c->close_after || c->srv->l.stopping) {
    /* FIN first, then input read until the peer's EOF (or the linger timer)
     * so the response is not reset away. */
    set_state(c, CONN_LINGER);
    c->off = 0;
    cg_conn_linger(&c->base);
    return;
  }
  set_state(c, CONN_IDLE);
  /* The answered request's octets go; pipelined ones move to the front. */
  memmove(c->base.in.data, c->base.in.data + c->off, c->base.in.len - c->off);
  c->base.in.len -= c->off;
  c->off = c->req_start = 0;
  if (cg_conn_read_start(&c->base) < 0) {
    conn_close(c);
    return;
  }
  feed(c);
}

static void on_timeout(uv_timer_t *t) {
  struct conn *c = t->data;
  switch (c->state) {
  case CONN_HEAD:
  case CONN_BODY:
    /* RFC 9110 §15.5.9: a request was begun, so it gets a 408. */
    cg_debug("http: request timed out");
    reject(c, 408);
    break;
  case CONN_IDLE:
  case CONN_WRITING:
  case CONN_LINGER:
    cg_debug("http: connection timed out");
    conn_close(c);
    break;
  case CONN_HANDLING:
  case CONN_CLOSING:
    break;
  }
}


static void on_connection(uv_stream_t *ls, int status) {
  struct cg_http_server *srv = ls->data;
  if (status < 0) {
    cg_accept_failed("http", status);
    return;
  }
  struct conn *c = (struct conn *)cg_conn_accept(
      &srv->l, sizeof *c, srv->limits.max_header + srv->limits.max_body, "http", on_alloc,
      on_read, close_conn);
  if (c == NULL)
    return;
  c->srv = srv;
  c->state = CONN_IDLE;
  llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
  c->parser.data = c;
  arm_timer(c); /* over a TLS handshake too: it ends before the first request's octet */
  if (srv->tls != NULL && cg_conn_start_tls(&c->base, srv->tls, srv->tls_offload) != 0) {
    cg_debug("https: no memory for a TLS session");
    conn_close(c);
  }
}

/* ---- public API ------------------------------------------------------- */

void cg_http_limits_default(struct cg_http_limits *l) {
  l->max_header = 8 * 1024;
  l->max_body = 256 * 1024;
  l->header_timeout_ms = 10000;
  l->body_timeout_ms = 30000;
  l->idle_timeout_ms = 60000;
  l->max_conns = 10000;
  l->admission = NULL;
}

int cg_http_server_start(uv_loop_t *loop, const char *host, int port,
                         const struct cg_http_limits *limits, cg_http_handler handler, void *arg,
                         struct cg_http_server **out) {
  *out = NULL;
  if (handler == NULL || cg_listen_check(host, port) != 0)
    return CG_EINVAL;
  struct cg_http_limits l;
  if (limits != NULL)
    l = *limits;
  else
    cg_http_limits_default(&l);
  if (l.max_header == 0 || (l.max_conns == 0 && l.admission == NULL) ||
      l.max_body > SIZE_MAX - l.max_header || l.max_header + l.max_body > UINT32_MAX)
    return CG_EINVAL;

  struct cg_http_server *srv;
  int r = cg_listener_new(loop, sizeof *srv, offsetof(struct cg_http_server, l), host, port,
                          l.admission, l.max_conns, on_connection, settle, (void **)&srv);
  if (r != 0)
    return r;
  srv->limits = l;
  srv->handler = handler;
  srv->arg = arg;
  *out = srv;
  return 0;
}

int cg_http_request_tls_client(struct cg_http_request *req, uint8_t *out, size_t cap,
                               size_t *len) {
  struct conn *c = req->conn;
  if (c == NULL || c->base.tls == NULL)
    return CG_ENOT_FOUND;
  return cg_conn_tls_client(&c->base, out, cap, len);
}

void cg_http_server_get_only(struct cg_http_server *srv) { srv->mode = MODE_ADMIN; }

void cg_http_server_web(struct cg_http_server *srv) { srv->mode = MODE_WEB; }

void cg_http_server_use_tls(struct cg_http_server *srv, struct cg_tls_server *tls, bool offload) {
  srv->tls = tls;
  srv->tls_offload = offload;
}

int cg_http_server_port(const struct cg_http_server *srv) { return srv->l.port; }

unsigned cg_http_server_conns(const struct cg_http_server *srv) { return srv->l.conns.count; }

void cg_http_server_refused(const struct cg_http_server *srv, uint64_t out[3]) {
  out[0] = srv->l.refused_full;
  out[1] = srv->l.refused_addr;
  out[2] = srv->l.refused_memory;
}

unsigned cg_http_server_pending(const struct cg_http_server *srv) { return srv->pending; }

/* A request handed out or its answer being written: closed once the answer
 * is written (on_written). */
static bool busy(const struct cg_conn *base) {
  const struct conn *c = (const struct conn *)base;
  return c->state == CONN_HANDLING || c->state == CONN_WRITING;
}

void cg_http_server_stop(struct cg_http_server *srv, void (*on_closed)(void *arg), void *arg) {
  if (srv->l.stopping)
    return;
  cg_listener_stop(&srv->l, on_closed, arg);
  cg_conn_close_each(&srv->l, busy);
}

void cg_http_server_close_all(struct cg_http_server *srv) {
  cg_conn_close_each(&srv->l, NULL); /* a request being handled becomes an orphan */
}

static void answer(struct cg_http_request *r, int status, const char *ctype, const char *extra,
                   const void *body, size_t len) {
  struct conn *c = r->conn;
  if (c == NULL) {
    /* Orphaned: the peer is gone, the answer has nowhere to go. */
    struct cg_http_server *srv = r->srv;
    if (srv != NULL) {
      if (r->prev != NULL)
        r->prev->next = r->next;
      else
        srv->orphans = r->next;
      if (r->next != NULL)
        r->next->prev = r->prev;
      srv->pending--;
    }
    cg_buf_free(&r->keep);
    if (r->admission != NULL)
      (void)cg_admission_hold(r->admission, &r->held, 0);
    free(r);
    return;
  }
  assert(c->state == CONN_HANDLING && c->req == r);
  c->req = NULL;
  c->srv->pending--;
  /* The answer may point into the request (its path, its body): it is copied
   * before the request goes. */
  send_response(c, status, ctype, extra, body, len);
  free(r);
}

void cg_http_respond(struct cg_http_request *req, const uint8_t *body, size_t len) {
  answer(req, 200, "application/pkixcmp", NULL, body, len);
}

void cg_http_respond_typed(struct cg_http_request *req, int status, const char *ctype,
                           const void *body, size_t len) {
  answer(req, status, ctype, NULL, body, len);
}

void cg_http_respond_web(struct cg_http_request *req, int status, const char *ctype,
                         const char *headers, const void *body, size_t len) {
  answer(req, status, ctype, headers, body, len);
}

bool cg_http_request_is_post(const struct cg_http_request *req) { return req->post; }

const char *cg_http_request_query(const struct cg_http_request *req) { return req->query; }

const char *cg_http_request_header(const struct cg_http_request *req, enum cg_http_header h) {
  return h >= 0 && h < CG_HTTP_HEADERS ? req->hdr[h] : NULL;
}

void cg_http_respond_status(struct cg_http_request *req, int status, const char *text) {
  if (status < 400 || status > 599)
    status = 500;
  if (text == NULL)
    text = reason_phrase(status);
  answer(req, status, "text/plain; charset=utf-8", NULL, text, strlen(text));
}

void cg_http_respond_retry(struct cg_http_request *req, int status, unsigned seconds,
                           const char *text) {
  if (req->conn != NULL)
    req->conn->retry_after = seconds;
  cg_http_respond_status(req, status, text);
}

bool cg_http_request_is_tls(const struct cg_http_request *req) {
  return req->srv != NULL && req->srv->tls != NULL;
}

bool cg_http_request_gone(const struct cg_http_request *req) {
  return atomic_load(&req->gone);
}

const struct cg_addr *cg_http_request_peer(const struct cg_http_request *req) {
  return &req->peer;
}
