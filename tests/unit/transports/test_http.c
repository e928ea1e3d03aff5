/*
 * test_http.c - the HTTP listener against a real client.
 *
 * Each test runs a libuv loop in the test thread with the server on
 * 127.0.0.1 and a free port, and a client in a second thread speaking HTTP
 * over blocking POSIX sockets.  The client records what it received; the
 * test thread asserts after joining it.  Nothing waits on time: the client
 * signals completion through a uv_async_t, conditions on the server side are
 * polled by a uv_prepare_t every loop turn, and a generous guard timer (and
 * socket timeouts on the client) only bound a broken run.  Every test ends
 * with uv_loop_close() == 0.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "failalloc.h"
#include "core/err.h"
#include "transports/http.h"

#define GUARD_MS 30000
#define CLIENT_TIMEOUT_S 15
#define MAX_SEEN 8
#define MAX_GOT 6

/* ---- the client side (runs in its own thread) ------------------------- */

struct cl {
  int fd;
  size_t len;
  char buf[16384];
};

static int cl_open(struct cl *c, int port) {
  c->len = 0;
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0)
    return -1;
  struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return connect(c->fd, (struct sockaddr *)&a, sizeof a);
}

static void cl_close(struct cl *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
}

static int cl_send(struct cl *c, const void *p, size_t n) {
  const char *s = p;
  while (n > 0) {
    ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);
    if (k <= 0)
      return -1;
    s += k;
    n -= (size_t)k;
  }
  return 0;
}

static int cl_sends(struct cl *c, const char *s) { return cl_send(c, s, strlen(s)); }

static const char *find(const char *hay, size_t n, const char *needle) {
  size_t m = strlen(needle);
  for (size_t i = 0; i + m <= n; i++)
    if (memcmp(hay + i, needle, m) == 0)
      return hay + i;
  return NULL;
}

/* Reads exactly one response (headers, then Content-Length octets of body)
 * into out, NUL terminated; octets after it stay buffered.  Its length, or
 * -1 when the connection ends or times out first. */
static int cl_response(struct cl *c, char *out, size_t cap) {
  for (;;) {
    const char *end = find(c->buf, c->len, "\r\n\r\n");
    if (end != NULL) {
      size_t hlen = (size_t)(end + 4 - c->buf);
      const char *clen = find(c->buf, hlen, "Content-Length: ");
      size_t blen = clen != NULL ? strtoul(clen + 16, NULL, 10) : 0;
      if (c->len >= hlen + blen) {
        size_t total = hlen + blen;
        if (total >= cap)
          return -1;
        memcpy(out, c->buf, total);
        out[total] = '\0';
        memmove(c->buf, c->buf + total, c->len - total);
        c->len -= total;
        return (int)total;
      }
    }
    if (c->len == sizeof c->buf)
      return -1;
    ssize_t k = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (k <= 0)
      return -1;
    c->len += (size_t)k;
  }
}

/* 1 when the server ended the connection (EOF or reset) without sending
 * anything more. */
static int cl_closed(struct cl *c) {
  if (c->len > 0)
    return 0;
  char b[64];
  ssize_t k = recv(c->fd, b, sizeof b, 0);
  return k == 0 || (k < 0 && errno == ECONNRESET);
}

/* ---- the fixture (loop thread) ---------------------------------------- */

enum mode {
  ANSWER_NOW,   /* answer inside the handler */
  ANSWER_LATER, /* answer on a later loop turn, newest first */
  HOLD,         /* keep the request; the test's step answers it */
};

struct held {
  struct cg_http_request *req;
  const uint8_t *body;
  size_t len;
  char path[128];
};

struct seen {
  char path[128];
  uint8_t body[256];
  size_t len;
  unsigned pending; /* cg_http_server_pending() inside the handler */
};

struct fx;
typedef void (*client_fn)(struct fx *f);
typedef void (*step_fn)(struct fx *f);

struct fx {
  uv_loop_t loop;
  struct cg_http_limits limits;
  struct cg_http_server *srv;
  int port;
  uv_async_t client_done;
  uv_timer_t guard;
  uv_timer_t later;
  uv_prepare_t watch;
  pthread_t thread;
  client_fn client;
  step_fn step;
  enum mode mode;
  struct held held[MAX_SEEN];
  size_t nheld;
  struct seen seen[MAX_SEEN];
  size_t nseen;
  size_t want_seen; /* the run ends only after this many requests were handled */
  int answer_when_closed; /* on_closed answers the held request */
  int client_finished, stopped, helpers_closed, closed, timed_out;
  unsigned seq, answered_seq, closed_seq;
  /* Test-specific observations made on the loop thread. */
  int obs[4];
  /* What the client thread saw. */
  char got[MAX_GOT][4096];
  int got_len[MAX_GOT];
  int eof[MAX_GOT];
  int client_error;
};

static void maybe_end(struct fx *f);

static void on_closed(void *arg) {
  struct fx *f = arg;
  f->closed = 1;
  f->closed_seq = ++f->seq;
  if (f->answer_when_closed && f->nheld == 1) {
    f->nheld = 0;
    f->obs[3] = f->held[0].len == 4 && memcmp(f->held[0].body, "ping", 4) == 0;
    cg_http_respond(f->held[0].req, (const uint8_t *)"late", 4);
    maybe_end(f);
  }
}

static void maybe_end(struct fx *f) {
  if (!f->client_finished || f->nheld > 0 || f->nseen < f->want_seen || f->helpers_closed)
    return;
  if (!f->stopped) {
    f->stopped = 1;
    cg_http_server_stop(f->srv, on_closed, f);
  }
  f->helpers_closed = 1;
  uv_close((uv_handle_t *)&f->client_done, NULL);
  uv_close((uv_handle_t *)&f->guard, NULL);
  uv_close((uv_handle_t *)&f->later, NULL);
  uv_close((uv_handle_t *)&f->watch, NULL);
}

static void answer_by_path(struct cg_http_request *req, const char *path) {
  if (strncmp(path, "/nope", 5) == 0)
    cg_http_respond_status(req, 404, "unknown path\n");
  else
    cg_http_respond(req, (const uint8_t *)path, strlen(path));
}

static void on_later(uv_timer_t *t) {
  struct fx *f = t->data;
  while (f->nheld > 0) {
    struct held *h = &f->held[--f->nheld];
    f->answered_seq = ++f->seq;
    answer_by_path(h->req, h->path);
  }
  maybe_end(f);
}

static void handler(void *arg, struct cg_http_request *req, const char *path, const uint8_t *body,
                    size_t len) {
  struct fx *f = arg;
  if (f->nseen < MAX_SEEN) {
    struct seen *s = &f->seen[f->nseen++];
    snprintf(s->path, sizeof s->path, "%s", path);
    s->len = len;
    memcpy(s->body, body, len < sizeof s->body ? len : sizeof s->body);
    s->pending = cg_http_server_pending(f->srv);
  }
  if (f->mode == ANSWER_NOW) {
    f->answered_seq = ++f->seq;
    answer_by_path(req, path);
    maybe_end(f);
    return;
  }
  struct held *h = &f->held[f->nheld++];
  h->req = req;
  h->body = body;
  h->len = len;
  snprintf(h->path, sizeof h->path, "%s", path);
  if (f->mode == ANSWER_LATER)
    uv_timer_start(&f->later, on_later, 0, 0);
}

static void on_client_done(uv_async_t *a) {
  struct fx *f = a->data;
  f->client_finished = 1;
  maybe_end(f);
}

static void on_guard(uv_timer_t *t) {
  struct fx *f = t->data;
  f->timed_out = 1;
  uv_stop(&f->loop);
}

static void on_watch(uv_prepare_t *p) {
  struct fx *f = p->data;
  if (f->step != NULL && !f->closed)
    f->step(f);
}

static void *client_main(void *arg) {
  struct fx *f = arg;
  f->client(f);
  uv_async_send(&f->client_done);
  return NULL;
}

static struct fx *fx_new(client_fn client) {
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  cg_http_limits_default(&f->limits);
  f->client = client;
  return f;
}

static void run(struct fx *f) {
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(
      cg_http_server_start(&f->loop, "127.0.0.1", 0, &f->limits, handler, f, &f->srv), 0);
  f->port = cg_http_server_port(f->srv);
  assert_true(f->port > 0);
  uv_async_init(&f->loop, &f->client_done, on_client_done);
  f->client_done.data = f;
  uv_timer_init(&f->loop, &f->guard);
  f->guard.data = f;
  uv_timer_start(&f->guard, on_guard, GUARD_MS, 0);
  uv_timer_init(&f->loop, &f->later);
  f->later.data = f;
  uv_prepare_init(&f->loop, &f->watch);
  f->watch.data = f;
  uv_prepare_start(&f->watch, on_watch);
  assert_int_equal(pthread_create(&f->thread, NULL, client_main, f), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  pthread_join(f->thread, NULL);
  assert_false(f->timed_out);
  assert_true(f->closed);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* Stores the next response of c in f->got[i]; marks a client error when
 * there is none. */
static void take(struct fx *f, struct cl *c, int i) {
  f->got_len[i] = cl_response(c, f->got[i], sizeof f->got[i]);
  if (f->got_len[i] < 0)
    f->client_error = 1;
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The body of a response held in got (after the blank line). */
static const char *body_of(const char *got) {
  const char *p = strstr(got, "\r\n\r\n");
  return p != NULL ? p + 4 : "";
}

static const char cmp_body[7] = {0x30, 0x05, 0x00, '\r', '\n', (char)0xff, 0x01};

static void post(struct cl *c, const char *version, const char *path, const char *extra,
                 const char *body, size_t len) {
  char head[512];
  snprintf(head, sizeof head,
           "POST %s HTTP/%s\r\nHost: localhost\r\nContent-Type: application/pkixcmp\r\n"
           "Content-Length: %zu\r\n%s\r\n",
           path, version, len, extra);
  cl_sends(c, head);
  cl_send(c, body, len);
}

/* ---- tests ------------------------------------------------------------ */

static void client_single_post(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  post(&c, "1.1", "/.well-known/cmp/p/test?x=1&y=2", "", cmp_body, sizeof cmp_body);
  take(f, &c, 0);
  cl_close(&c);
}

static void test_post_reaches_handler_with_path_and_body_and_gets_exact_200(void **state) {
  struct fx *f = fx_new(client_single_post);
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 1);
  assert_string_equal(f->seen[0].path, "/.well-known/cmp/p/test");
  assert_int_equal(f->seen[0].len, sizeof cmp_body);
  assert_memory_equal(f->seen[0].body, cmp_body, sizeof cmp_body);
  assert_int_equal(f->seen[0].pending, 1);
  assert_string_equal(f->got[0], "HTTP/1.1 200 OK\r\n"
                                 "Content-Type: application/pkixcmp\r\n"
                                 "Content-Length: 23\r\n"
                                 "Cache-Control: no-cache\r\n"
                                 "\r\n"
                                 "/.well-known/cmp/p/test");
  free(f);
}

static void client_octet_by_octet(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  char req[256];
  int n = snprintf(req, sizeof req,
                   "POST /.well-known/cmp/p/split HTTP/1.1\r\nContent-Type: application/pkixcmp"
                   "\r\nContent-Length: %zu\r\n\r\n",
                   sizeof cmp_body);
  for (int i = 0; i < n; i++)
    cl_send(&c, req + i, 1);
  for (size_t i = 0; i < sizeof cmp_body; i++)
    cl_send(&c, cmp_body + i, 1);
  take(f, &c, 0);
  cl_close(&c);
}

static void test_request_sent_octet_by_octet_is_reassembled(void **state) {
  struct fx *f = fx_new(client_octet_by_octet);
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 1);
  assert_string_equal(f->seen[0].path, "/.well-known/cmp/p/split");
  assert_int_equal(f->seen[0].len, sizeof cmp_body);
  assert_memory_equal(f->seen[0].body, cmp_body, sizeof cmp_body);
  assert_true(starts_with(f->got[0], "HTTP/1.1 200 OK\r\n"));
  free(f);
}

static void client_chunked(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  cl_sends(&c, "POST /.well-known/cmp HTTP/1.1\r\nContent-Type: application/pkixcmp\r\n"
               "Transfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n4;ext=1\r\ndefg\r\n1\r\nh\r\n0\r\n\r\n");
  take(f, &c, 0);
  cl_close(&c);
}

static void test_chunked_body_reaches_handler_dechunked(void **state) {
  struct fx *f = fx_new(client_chunked);
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 1);
  assert_int_equal(f->seen[0].len, 8);
  assert_memory_equal(f->seen[0].body, "abcdefgh", 8);
  assert_true(starts_with(f->got[0], "HTTP/1.1 200 OK\r\n"));
  free(f);
}

static void client_http10(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  post(&c, "1.0", "/.well-known/cmp", "", "abc", 3);
  take(f, &c, 0);
  f->eof[0] = cl_closed(&c);
  cl_close(&c);
}

static void test_http10_without_keep_alive_closes_after_response(void **state) {
  struct fx *f = fx_new(client_http10);
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 1);
  assert_true(starts_with(f->got[0], "HTTP/1.1 200 OK\r\n"));
  assert_non_null(strstr(f->got[0], "\r\nConnection: close\r\n"));
  assert_string_equal(body_of(f->got[0]), "/.well-known/cmp");
  assert_true(f->eof[0]);
  free(f);
}

static void client_keep_alive(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  post(&c, "1.0", "/a", "Connection: keep-alive\r\n", "1", 1);
  take(f, &c, 0);
  post(&c, "1.1", "/nope", "", "22", 2);
  take(f, &c, 1);
  cl_sends(&c, "POST /b HTTP/1.1\r\nContent-Type: Application/PKIXCMP ; foo=bar\r\n"
               "Content-Length: 3\r\n\r\n333");
  take(f, &c, 2);
  post(&c, "1.1", "/c", "Connection: close\r\n", "4444", 4);
  take(f, &c, 3);
  f->eof[0] = cl_closed(&c);
  cl_close(&c);
}

static void test_keep_alive_serves_sequential_requests_on_one_connection(void **state) {
  struct fx *f = fx_new(client_keep_alive);
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 4);
  /* HTTP/1.0 with "Connection: keep-alive" gets it echoed. */
  assert_true(starts_with(f->got[0], "HTTP/1.1 200 OK\r\n"));
  assert_non_null(strstr(f->got[0], "\r\nConnection: keep-alive\r\n"));
  assert_string_equal(body_of(f->got[0]), "/a");
  /* An error answered after the whole body was read keeps the connection. */
  assert_true(starts_with(f->got[1], "HTTP/1.1 404 Not Found\r\n"));
  assert_non_null(strstr(f->got[1], "Content-Type: text/plain"));
  assert_null(strstr(f->got[1], "Connection:"));
  assert_string_equal(body_of(f->got[1]), "unknown path\n");
  /* Media type compared case-insensitively, parameters allowed. */
  assert_true(starts_with(f->got[2], "HTTP/1.1 200 OK\r\n"));
  assert_null(strstr(f->got[2], "Connection:"));
  assert_string_equal(body_of(f->got[2]), "/b");
  assert_int_equal(f->seen[2].len, 3);
  assert_true(starts_with(f->got[3], "HTTP/1.1 200 OK\r\n"));
  assert_non_null(strstr(f->got[3], "\r\nConnection: close\r\n"));
  assert_string_equal(body_of(f->got[3]), "/c");
  assert_true(f->eof[0]);
  free(f);
}

static void client_pipelined(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  cl_sends(&c, "POST /first HTTP/1.1\r\nContent-Type: application/pkixcmp\r\n"
               "Content-Length: 5\r\n\r\nfirst"
               "GET /second HTTP/1.1\r\nHost: x\r\n\r\n"
               "POST /third HTTP/1.1\r\nContent-Type: application/pkixcmp\r\n"
               "Content-Length: 5\r\n\r\nthird");
  take(f, &c, 0);
  take(f, &c, 1);
  take(f, &c, 2);
  cl_close(&c);
}

static void test_pipelined_requests_are_answered_in_order_when_answers_come_later(
    void **state) {
  struct fx *f = fx_new(client_pipelined);
  f->mode = ANSWER_LATER;
  run(f);
  assert_false(f->client_error);
  /* The GET is answered by the transport, in its turn. */
  assert_int_equal(f->nseen, 2);
  assert_string_equal(f->seen[0].path, "/first");
  assert_string_equal(f->seen[1].path, "/third");
  /* The next request is handed out only once the previous one is answered. */
  assert_int_equal(f->seen[0].pending, 1);
  assert_int_equal(f->seen[1].pending, 1);
  assert_memory_equal(f->seen[1].body, "third", 5);
  assert_true(starts_with(f->got[0], "HTTP/1.1 200 OK\r\n"));
  assert_string_equal(body_of(f->got[0]), "/first");
  assert_true(starts_with(f->got[1], "HTTP/1.1 405 Method Not Allowed\r\n"));
  assert_true(starts_with(f->got[2], "HTTP/1.1 200 OK\r\n"));
  assert_string_equal(body_of(f->got[2]), "/third");
  free(f);
}

static void client_get(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  cl_sends(&c, "GET /.well-known/cmp HTTP/1.1\r\nHost: localhost\r\n\r\n");
  take(f, &c, 0);
  cl_close(&c);
}

static void test_get_is_answered_405_with_allow_post(void **state) {
  struct fx *f = fx_new(client_get);
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 0);
  assert_true(starts_with(f->got[0], "HTTP/1.1 405 Method Not Allowed\r\n"));
  assert_non_null(strstr(f->got[0], "\r\nAllow: POST\r\n"));
  assert_non_null(strstr(f->got[0], "\r\nContent-Type: text/plain"));
  free(f);
}

static void client_wrong_type(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  cl_sends(&c, "POST /.well-known/cmp HTTP/1.1\r\nContent-Type: text/plain\r\n"
               "Content-Length: 5\r\n\r\nhello");
  take(f, &c, 0);
  f->eof[0] = cl_closed(&c);
  cl_close(&c);
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  cl_sends(&c, "POST /.well-known/cmp HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  take(f, &c, 1);
  f->eof[1] = cl_closed(&c);
  cl_close(&c);
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  cl_sends(&c, "POST /.well-known/cmp HTTP/1.1\r\nContent-Type: application/pkixcmpx\r\n"
               "Content-Length: 5\r\n\r\nhello");
  take(f, &c, 2);
  cl_close(&c);
}

static void test_wrong_or_missing_content_type_is_answered_415(void **state) {
  struct fx *f = fx_new(client_wrong_type);
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 0);
  for (int i = 0; i < 3; i++)
    assert_true(starts_with(f->got[i], "HTTP/1.1 415 Unsupported Media Type\r\n"));
  /* The unread body ends the connection. */
  assert_non_null(strstr(f->got[0], "\r\nConnection: close\r\n"));
  assert_true(f->eof[0]);
  assert_true(f->eof[1]);
  free(f);
}

static void client_too_long(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  /* The body is never sent: the answer must come from the headers alone. */
  cl_sends(&c, "POST /.well-known/cmp HTTP/1.1\r\nContent-Type: application/pkixcmp\r\n"
               "Content-Length: 1000\r\n\r\n");
  take(f, &c, 0);
  f->eof[0] = cl_closed(&c);
  cl_close(&c);
}

static void test_content_length_over_max_body_is_answered_413_before_the_body(void **state) {
  struct fx *f = fx_new(client_too_long);
  f->limits.max_body = 64;
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 0);
  assert_true(starts_with(f->got[0], "HTTP/1.1 413 "));
  assert_non_null(strstr(f->got[0], "\r\nConnection: close\r\n"));
  assert_true(f->eof[0]);
  free(f);
}

static void client_chunked_too_long(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  cl_sends(&c, "POST /.well-known/cmp HTTP/1.1\r\nContent-Type: application/pkixcmp\r\n"
               "Transfer-Encoding: chunked\r\n\r\n"
               "20\r\n0123456789abcdef0123456789abcdef\r\n"
               "20\r\n0123456789abcdef0123456789abcdef\r\n"
               "1\r\nX\r\n");
  take(f, &c, 0);
  f->eof[0] = cl_closed(&c);
  cl_close(&c);
}

static void test_chunked_body_over_max_body_is_answered_413(void **state) {
  struct fx *f = fx_new(client_chunked_too_long);
  f->limits.max_body = 64;
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 0);
  assert_true(starts_with(f->got[0], "HTTP/1.1 413 "));
  assert_true(f->eof[0]);
  free(f);
}

static void client_big_headers(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  char pad[1001];
  memset(pad, 'a', sizeof pad - 1);
  pad[sizeof pad - 1] = '\0';
  cl_sends(&c, "POST /.well-known/cmp HTTP/1.1\r\nContent-Type: application/pkixcmp\r\nX-Pad: ");
  cl_sends(&c, pad);
  cl_sends(&c, "\r\nContent-Length: 1\r\n\r\nx");
  take(f, &c, 0);
  f->eof[0] = cl_closed(&c);
  cl_close(&c);
}

static void test_oversized_headers_are_answered_431(void **state) {
  struct fx *f = fx_new(client_big_headers);
  f->limits.max_header = 256;
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 0);
  assert_true(starts_with(f->got[0], "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  assert_true(f->eof[0]);
  free(f);
}

static void client_garbage(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  static const char junk[] = "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http\r\n\r\n";
  cl_send(&c, junk, sizeof junk - 1);
  take(f, &c, 0);
  f->eof[0] = cl_closed(&c);
  cl_close(&c);
}

static void test_garbage_is_answered_400_and_closed(void **state) {
  struct fx *f = fx_new(client_garbage);
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 0);
  assert_true(starts_with(f->got[0], "HTTP/1.1 400 Bad Request\r\n"));
  assert_non_null(strstr(f->got[0], "\r\nConnection: close\r\n"));
  assert_true(f->eof[0]);
  free(f);
}

static void client_hang_up(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  post(&c, "1.1", "/.well-known/cmp", "", "ping", 4);
  cl_close(&c);
}

/* Once the connection is gone with the request still held, answer it. */
static void step_answer_orphan(struct fx *f) {
  if (f->nheld != 1 || cg_http_server_conns(f->srv) != 0)
    return;
  struct held *h = &f->held[0];
  f->obs[0] = h->len == 4 && memcmp(h->body, "ping", 4) == 0;
  f->obs[1] = (int)cg_http_server_pending(f->srv);
  f->nheld = 0;
  cg_http_respond(h->req, (const uint8_t *)"late", 4);
  f->obs[2] = (int)cg_http_server_pending(f->srv);
  maybe_end(f);
}

static void test_peer_closing_before_the_answer_orphans_the_request(void **state) {
  struct fx *f = fx_new(client_hang_up);
  f->mode = HOLD;
  f->want_seen = 1;
  f->step = step_answer_orphan;
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 1);
  assert_true(f->obs[0]); /* the body outlived its connection */
  assert_int_equal(f->obs[1], 1);
  assert_int_equal(f->obs[2], 0);
  free(f);
}

/* Once the connection is gone with the request still held, stop the server;
 * on_closed answers the orphan after the server was freed. */
static void step_stop_with_orphan(struct fx *f) {
  if (f->stopped || f->nheld != 1 || cg_http_server_conns(f->srv) != 0)
    return;
  f->stopped = 1;
  cg_http_server_stop(f->srv, on_closed, f);
}

static void test_orphan_answered_after_the_server_is_gone_is_only_freed(void **state) {
  struct fx *f = fx_new(client_hang_up);
  f->mode = HOLD;
  f->want_seen = 1;
  f->answer_when_closed = 1;
  f->step = step_stop_with_orphan;
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 1);
  assert_int_equal(f->nheld, 0);
  assert_true(f->obs[3]); /* the body outlived the server too */
  free(f);
}

static void client_over_cap(struct fx *f) {
  struct cl a, b, c;
  if (cl_open(&a, f->port) != 0 || cl_open(&b, f->port) != 0 || cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  f->eof[0] = cl_closed(&c);
  cl_close(&c);
  post(&a, "1.1", "/one", "", "1", 1);
  take(f, &a, 0);
  post(&b, "1.1", "/two", "", "2", 1);
  take(f, &b, 1);
  cl_close(&a);
  cl_close(&b);
}

static void test_connections_beyond_max_conns_are_closed(void **state) {
  struct fx *f = fx_new(client_over_cap);
  f->limits.max_conns = 2;
  run(f);
  assert_false(f->client_error);
  assert_true(f->eof[0]);
  assert_string_equal(body_of(f->got[0]), "/one");
  assert_string_equal(body_of(f->got[1]), "/two");
  free(f);
}

static void client_half_request(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  cl_sends(&c, "POST /.well-known/cmp HT");
  take(f, &c, 0);
  f->eof[0] = cl_closed(&c);
  cl_close(&c);
}

static void test_header_timeout_answers_408_and_closes(void **state) {
  struct fx *f = fx_new(client_half_request);
  f->limits.header_timeout_ms = 200;
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 0);
  assert_true(starts_with(f->got[0], "HTTP/1.1 408 Request Timeout\r\n"));
  assert_true(f->eof[0]);
  free(f);
}

static void client_idle_after_response(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  post(&c, "1.1", "/.well-known/cmp", "", "x", 1);
  take(f, &c, 0);
  f->eof[0] = cl_closed(&c);
  cl_close(&c);
}

static void test_idle_keep_alive_connection_is_closed_after_idle_timeout(void **state) {
  struct fx *f = fx_new(client_idle_after_response);
  f->limits.idle_timeout_ms = 200;
  run(f);
  assert_false(f->client_error);
  assert_true(starts_with(f->got[0], "HTTP/1.1 200 OK\r\n"));
  assert_null(strstr(f->got[0], "Connection:"));
  assert_true(f->eof[0]);
  free(f);
}

static void client_short_body(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  cl_sends(&c, "POST /.well-known/cmp HTTP/1.1\r\nContent-Type: application/pkixcmp\r\n"
               "Content-Length: 10\r\n\r\nabc");
  take(f, &c, 0);
  f->eof[0] = cl_closed(&c);
  cl_close(&c);
}

static void test_body_timeout_answers_408_and_closes(void **state) {
  struct fx *f = fx_new(client_short_body);
  f->limits.body_timeout_ms = 200;
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->nseen, 0);
  assert_true(starts_with(f->got[0], "HTTP/1.1 408 Request Timeout\r\n"));
  assert_true(f->eof[0]);
  free(f);
}

static void client_stop(struct fx *f) {
  struct cl idle, busy;
  if (cl_open(&idle, f->port) != 0 || cl_open(&busy, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  post(&busy, "1.1", "/.well-known/cmp", "", "stop", 4);
  take(f, &busy, 0);
  f->eof[0] = cl_closed(&busy);
  f->eof[1] = cl_closed(&idle);
  cl_close(&busy);
  cl_close(&idle);
}

/* Stop while a request is held; answer once the idle connection is gone. */
static void step_stop_then_answer(struct fx *f) {
  if (!f->stopped) {
    if (f->nheld == 1 && cg_http_server_conns(f->srv) == 2) {
      f->stopped = 1;
      cg_http_server_stop(f->srv, on_closed, f);
    }
    return;
  }
  if (f->nheld == 1 && cg_http_server_conns(f->srv) == 1) {
    f->obs[0] = f->closed;
    f->nheld = 0;
    f->answered_seq = ++f->seq;
    cg_http_respond(f->held[0].req, (const uint8_t *)"done", 4);
    maybe_end(f);
  }
}

static void test_stop_writes_the_pending_answer_then_calls_on_closed(void **state) {
  struct fx *f = fx_new(client_stop);
  f->mode = HOLD;
  f->step = step_stop_then_answer;
  run(f);
  assert_false(f->client_error);
  assert_int_equal(f->obs[0], 0); /* not closed while the request was pending */
  assert_true(starts_with(f->got[0], "HTTP/1.1 200 OK\r\n"));
  assert_non_null(strstr(f->got[0], "\r\nConnection: close\r\n"));
  assert_string_equal(body_of(f->got[0]), "done");
  assert_true(f->eof[0]);
  assert_true(f->eof[1]);
  assert_true(f->closed_seq > f->answered_seq);
  free(f);
}

static void client_expect_continue(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  cl_sends(&c, "POST /.well-known/cmp HTTP/1.1\r\nContent-Type: application/pkixcmp\r\n"
               "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  take(f, &c, 0);
  cl_sends(&c, "abc");
  take(f, &c, 1);
  cl_close(&c);
}

static void test_expect_100_continue_gets_interim_response(void **state) {
  struct fx *f = fx_new(client_expect_continue);
  run(f);
  assert_false(f->client_error);
  assert_string_equal(f->got[0], "HTTP/1.1 100 Continue\r\n\r\n");
  assert_true(starts_with(f->got[1], "HTTP/1.1 200 OK\r\n"));
  assert_int_equal(f->nseen, 1);
  assert_memory_equal(f->seen[0].body, "abc", 3);
  free(f);
}

static void test_start_rejects_an_unparsable_host(void **state) {
  static char sentinel;
  uv_loop_t loop;
  struct cg_http_server *srv = (struct cg_http_server *)(void *)&sentinel;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_true(cg_http_server_start(&loop, "not-an-address", 0, NULL, handler, NULL, &srv) < 0);
  assert_null(srv);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_test_closed(void *arg) { *(int *)arg = 1; }

static void test_start_on_a_busy_port_fails_and_frees_everything(void **state) {
  uv_loop_t loop;
  struct cg_http_server *a, *b;
  int closed = 0;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(cg_http_server_start(&loop, "127.0.0.1", 0, NULL, handler, NULL, &a), 0);
  assert_int_equal(
      cg_http_server_start(&loop, "127.0.0.1", cg_http_server_port(a), NULL, handler, NULL, &b),
      CG_EADDR_IN_USE);
  assert_null(b);
  assert_int_equal(cg_http_server_conns(a), 0);
  assert_int_equal(cg_http_server_pending(a), 0);
  cg_http_server_stop(a, on_test_closed, &closed);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_true(closed);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* Allocation failures, one in turn (failalloc.h): the failure is armed on
 * the loop's first turn, after the server started and before it accepts. */
static void step_arm_failure(struct fx *f) {
  if (f->obs[1])
    return;
  f->obs[1] = 1;
  failalloc_arm((unsigned)f->obs[0]);
}

static void client_post_whatever_comes(struct fx *f) {
  struct cl c;
  if (cl_open(&c, f->port) != 0) {
    f->client_error = 1;
    return;
  }
  post(&c, "1.1", "/x", "", cmp_body, sizeof cmp_body);
  f->got_len[0] = cl_response(&c, f->got[0], sizeof f->got[0]);
  cl_close(&c);
}

/* Each allocation of one request failing in turn (the connection, its
 * buffers, the request, the answer): the client gets the 200, a 503, or the
 * connection closes without an answer; the server stops cleanly every time
 * (under ASan: nothing leaks), and the request's allocation failing is a 503. */
static void test_every_allocation_failing_in_turn_gives_200_503_or_a_close(void **state) {
  (void)state;
  int answered = 0, refused = 0, closed = 0;
  unsigned n;
  for (n = 1; n < 100; n++) {
    struct fx *f = fx_new(client_post_whatever_comes);
    f->step = step_arm_failure;
    f->obs[0] = (int)n;
    run(f);
    bool fired = failalloc_fired();
    failalloc_disarm();
    assert_false(f->client_error);
    if (f->got_len[0] > 0 && starts_with(f->got[0], "HTTP/1.1 200 ")) {
      assert_string_equal(body_of(f->got[0]), "/x");
      answered++;
    } else if (f->got_len[0] > 0) {
      assert_true(starts_with(f->got[0], "HTTP/1.1 503 Service Unavailable\r\n"));
      refused++;
    } else {
      closed++;
    }
    free(f);
    if (!fired)
      break; /* n is past the last allocation: served as usual */
  }
  assert_true(n < 100);
  assert_true(answered >= 1);
  assert_true(refused >= 1);
  assert_true(closed >= 1);
}

/* The one rule for the CMP media type, the server's and the clients'. */
static void test_pkixcmp_content_type_allows_case_parameters_and_whitespace(void **state) {
  (void)state;
  static const char *const yes[] = {
      "application/pkixcmp", "Application/PKIXCMP", " application/pkixcmp\t",
      "application/pkixcmp; charset=binary", "application/pkixcmp ;x=y",
  };
  static const char *const no[] = {
      "", "application/pkixcm", "application/pkixcmpx", "application/pkixcmp,text/plain",
      "text/plain", "application/pkix-cmp", "application/ pkixcmp",
  };
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
    if (!cg_http_is_pkixcmp(yes[i], strlen(yes[i])))
      fail_msg("refused \"%s\"", yes[i]);
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    if (cg_http_is_pkixcmp(no[i], strlen(no[i])))
      fail_msg("accepted \"%s\"", no[i]);
  /* Only the n octets given count. */
  assert_true(cg_http_is_pkixcmp("application/pkixcmpXYZ", 19));
}

int main(void) {
  /* A write to a connection the peer has reset must not kill the process. */
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pkixcmp_content_type_allows_case_parameters_and_whitespace),
      cmocka_unit_test(test_post_reaches_handler_with_path_and_body_and_gets_exact_200),
      cmocka_unit_test(test_request_sent_octet_by_octet_is_reassembled),
      cmocka_unit_test(test_chunked_body_reaches_handler_dechunked),
      cmocka_unit_test(test_http10_without_keep_alive_closes_after_response),
      cmocka_unit_test(test_keep_alive_serves_sequential_requests_on_one_connection),
      cmocka_unit_test(test_pipelined_requests_are_answered_in_order_when_answers_come_later),
      cmocka_unit_test(test_get_is_answered_405_with_allow_post),
      cmocka_unit_test(test_wrong_or_missing_content_type_is_answered_415),
      cmocka_unit_test(test_content_length_over_max_body_is_answered_413_before_the_body),
      cmocka_unit_test(test_chunked_body_over_max_body_is_answered_413),
      cmocka_unit_test(test_oversized_headers_are_answered_431),
      cmocka_unit_test(test_garbage_is_answered_400_and_closed),
      cmocka_unit_test(test_peer_closing_before_the_answer_orphans_the_request),
      cmocka_unit_test(test_orphan_answered_after_the_server_is_gone_is_only_freed),
      cmocka_unit_test(test_connections_beyond_max_conns_are_closed),
      cmocka_unit_test(test_header_timeout_answers_408_and_closes),
      cmocka_unit_test(test_body_timeout_answers_408_and_closes),
      cmocka_unit_test(test_idle_keep_alive_connection_is_closed_after_idle_timeout),
      cmocka_unit_test(test_stop_writes_the_pending_answer_then_calls_on_closed),
      cmocka_unit_test(test_expect_100_continue_gets_interim_response),
      cmocka_unit_test(test_start_rejects_an_unparsable_host),
      cmocka_unit_test(test_start_on_a_busy_port_fails_and_frees_everything),
      cmocka_unit_test(test_every_allocation_failing_in_turn_gives_200_503_or_a_close),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
