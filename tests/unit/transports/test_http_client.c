/*
 * test_http_client.c - the HTTP POST client against real servers in the same
 * loop: the transport's own listener (transports/http.h) answering by path
 * (echo, 404, an oversized body, or never), and a raw libuv server that
 * misbehaves on purpose (closing mid-response, a body delimited by EOF, an
 * interim 100, an oversized chunked body).
 *
 * Each test drives a script from the client's callbacks: the callback
 * records what it got and posts the next request or ends the run, closing
 * the client, then the servers.  Nothing waits on time: the only timer that
 * matters is the client's own 200 ms request timeout in the timeout test,
 * and a generous guard timer bounds a broken run.  Every test ends with
 * uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <uv.h>

#include "core/err.h"
#include "transports/http.h"
#include "transports/http_client.h"

#define GUARD_MS 30000
#define MAX_RSP 8
#define BIG_BODY 4096

struct got {
  int err;
  int status;
  char ctype[64];
  uint8_t body[256];
  size_t len;
  unsigned server_conns; /* cg_http_server_conns() when the response arrived */
  char detail[128];      /* cg_http_client_detail() after a failure */
};

/* Behaviour of the raw server, per accepted connection. */
enum raw_mode {
  RAW_PARTIAL,      /* headers and 3 of 100 body octets, then FIN */
  RAW_FULL,         /* a complete keep-alive response "ok" */
  RAW_EOF_BODY,     /* no Content-Length: the body ends with the connection */
  RAW_CONTINUE,     /* "100 Continue", then a complete response "ok" */
  RAW_CHUNKED_BIG,  /* a chunked body of 2000 octets */
};

struct fx;
typedef void (*step_fn)(struct fx *f);

struct raw_conn {
  uv_tcp_t tcp;
  uv_write_t wr;
  uv_shutdown_t sd;
  struct fx *f;
  enum raw_mode mode;
  char in[2048];
  size_t in_len;
  bool answered;
  char *out;
};

struct fx {
  uv_loop_t loop;
  uv_timer_t guard;
  struct cg_http_server *srv;
  struct cg_http_client *cl;
  struct cg_http_client_opts opts;
  int port;
  /* raw server */
  uv_tcp_t raw;
  bool raw_on;
  enum raw_mode raw_modes[4];
  size_t n_raw_conns;
  /* the request the server holds without answering */
  struct cg_http_request *held;
  /* script */
  step_fn next;
  int step;
  struct got got[MAX_RSP];
  size_t n_got;
  int busy_err; /* what a second post returned while one was in flight */
  int seq, rsp_seq, client_closed_seq;
  bool client_closed, server_closed, timed_out, ended;
};

/* ---- servers -------------------------------------------------------------- */

static uint8_t big[BIG_BODY];

static void handler(void *arg, struct cg_http_request *req, const char *path, const uint8_t *body,
                    size_t len) {
  struct fx *f = arg;
  if (strcmp(path, "/echo") == 0) {
    cg_http_respond(req, body, len);
  } else if (strcmp(path, "/big") == 0) {
    cg_http_respond(req, big, sizeof big);
  } else if (strcmp(path, "/hold") == 0) {
    f->held = req;
  } else {
    cg_http_respond_status(req, 404, "no such path\n");
  }
}

static void on_raw_closed(uv_handle_t *h) {
  struct raw_conn *rc = h->data;
  free(rc->out);
  free(rc);
}

static void on_raw_shutdown(uv_shutdown_t *sd, int status) {
  struct raw_conn *rc = sd->data;
  uv_close((uv_handle_t *)&rc->tcp, on_raw_closed);
}

static void on_raw_written(uv_write_t *w, int status) {
  struct raw_conn *rc = w->data;
  if (rc->mode == RAW_PARTIAL || rc->mode == RAW_EOF_BODY || status < 0) {
    /* FIN after the octets; the close follows the shutdown. */
    if (uv_shutdown(&rc->sd, (uv_stream_t *)&rc->tcp, on_raw_shutdown) != 0)
      uv_close((uv_handle_t *)&rc->tcp, on_raw_closed);
  }
}

static void raw_answer(struct raw_conn *rc) {
  static const char partial[] = "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                                "Content-Length: 100\r\n\r\nabc";
  static const char full[] = "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                             "Content-Length: 2\r\n\r\nok";
  static const char eof_body[] = "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                                 "\r\nuntil the end";
  static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                             "Content-Length: 2\r\n\r\nok";
  const char *text = NULL;
  size_t n = 0;
  switch (rc->mode) {
  case RAW_PARTIAL: text = partial; n = sizeof partial - 1; break;
  case RAW_FULL: text = full; n = sizeof full - 1; break;
  case RAW_EOF_BODY: text = eof_body; n = sizeof eof_body - 1; break;
  case RAW_CONTINUE: text = cont; n = sizeof cont - 1; break;
  case RAW_CHUNKED_BIG: {
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";
    char *out = malloc(4096);
    assert_non_null(out);
    size_t k = sizeof head - 1;
    memcpy(out, head, k);
    for (int i = 0; i < 4; i++) {
      k += (size_t)sprintf(out + k, "1f4\r\n"); /* 500 octets */
      memset(out + k, 'x', 500);
      k += 500;
      memcpy(out + k, "\r\n", 2);
      k += 2;
    }
    memcpy(out + k, "0\r\n\r\n", 5);
    k += 5;
    rc->out = out;
    text = out;
    n = k;
    break;
  }
  }
  uv_buf_t b = uv_buf_init((char *)text, (unsigned)n);
  rc->answered = true;
  assert_int_equal(uv_write(&rc->wr, (uv_stream_t *)&rc->tcp, &b, 1, on_raw_written), 0);
}

/* True once the whole request (headers and Content-Length body) is in. */
static bool raw_request_complete(const struct raw_conn *rc) {
  const char *end = NULL;
  for (size_t i = 0; i + 4 <= rc->in_len; i++)
    if (memcmp(rc->in + i, "\r\n\r\n", 4) == 0) {
      end = rc->in + i + 4;
      break;
    }
  if (end == NULL)
    return false;
  size_t head = (size_t)(end - rc->in), clen = 0;
  for (size_t i = 0; i + 16 <= head; i++)
    if (memcmp(rc->in + i, "Content-Length: ", 16) == 0)
      clen = strtoul(rc->in + i + 16, NULL, 10);
  return rc->in_len >= head + clen;
}

static void raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  struct raw_conn *rc = h->data;
  *b = uv_buf_init(rc->in + rc->in_len, (unsigned)(sizeof rc->in - rc->in_len));
}

static void raw_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  struct raw_conn *rc = s->data;
  if (nread < 0 || rc->in_len + (size_t)nread >= sizeof rc->in) {
    if (!uv_is_closing((uv_handle_t *)&rc->tcp))
      uv_close((uv_handle_t *)&rc->tcp, on_raw_closed);
    return;
  }
  rc->in_len += (size_t)nread;
  if (!rc->answered && raw_request_complete(rc))
    raw_answer(rc);
}

static void raw_connection(uv_stream_t *ls, int status) {
  struct fx *f = ls->data;
  assert_int_equal(status, 0);
  struct raw_conn *rc = calloc(1, sizeof *rc);
  assert_non_null(rc);
  rc->f = f;
  rc->mode = f->raw_modes[f->n_raw_conns < 4 ? f->n_raw_conns : 3];
  f->n_raw_conns++;
  uv_tcp_init(&f->loop, &rc->tcp);
  rc->tcp.data = rc->wr.data = rc->sd.data = rc;
  assert_int_equal(uv_accept(ls, (uv_stream_t *)&rc->tcp), 0);
  assert_int_equal(uv_read_start((uv_stream_t *)&rc->tcp, raw_alloc, raw_read), 0);
}

static int raw_start(struct fx *f) {
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(&f->loop, &f->raw);
  f->raw.data = f;
  f->raw_on = true;
  assert_int_equal(uv_tcp_bind(&f->raw, (const struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&f->raw, 16, raw_connection), 0);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  assert_int_equal(uv_tcp_getsockname(&f->raw, (struct sockaddr *)&ss, &len), 0);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- the run -------------------------------------------------------------- */

static void on_server_closed(void *arg) {
  struct fx *f = arg;
  f->server_closed = true;
}

static void on_client_closed(void *arg) {
  struct fx *f = arg;
  f->client_closed = true;
  f->client_closed_seq = ++f->seq;
  /* The held request (if any) is answered so that the server can stop; its
   * connection is gone, the answer only frees it. */
  if (f->held != NULL) {
    cg_http_respond_status(f->held, 503, "bye\n");
    f->held = NULL;
  }
  if (f->srv != NULL)
    cg_http_server_stop(f->srv, on_server_closed, f);
  else
    f->server_closed = true;
  if (f->raw_on)
    uv_close((uv_handle_t *)&f->raw, NULL);
  uv_close((uv_handle_t *)&f->guard, NULL);
}

static void end_run(struct fx *f) {
  if (f->ended)
    return;
  f->ended = true;
  cg_http_client_close(f->cl, on_client_closed, f);
}

static void on_rsp(void *arg, int err, const struct cg_http_response *rsp) {
  struct fx *f = arg;
  f->rsp_seq = ++f->seq;
  assert_true(f->n_got < MAX_RSP);
  struct got *g = &f->got[f->n_got++];
  g->err = err;
  if (f->srv != NULL)
    g->server_conns = cg_http_server_conns(f->srv);
  if (err == 0) {
    assert_non_null(rsp);
    g->status = rsp->status;
    snprintf(g->ctype, sizeof g->ctype, "%s", rsp->content_type);
    g->len = rsp->len;
    memcpy(g->body, rsp->body, rsp->len < sizeof g->body ? rsp->len : sizeof g->body);
  } else {
    assert_null(rsp);
    snprintf(g->detail, sizeof g->detail, "%s", cg_http_client_detail(f->cl));
  }
  f->step++;
  if (f->next != NULL && !f->ended)
    f->next(f);
}

static void post(struct fx *f, const char *path, const char *body) {
  assert_int_equal(
      cg_http_client_post(f->cl, path, (const uint8_t *)body, strlen(body), on_rsp, f), 0);
}

static void on_guard(uv_timer_t *t) {
  struct fx *f = t->data;
  f->timed_out = true;
  uv_stop(&f->loop);
}

static struct fx *fx_new(void) {
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  uv_timer_init(&f->loop, &f->guard);
  f->guard.data = f;
  uv_timer_start(&f->guard, on_guard, GUARD_MS, 0);
  f->opts.host = "127.0.0.1";
  return f;
}

/* Starts the transport's listener and makes the client point at it. */
static void with_http_server(struct fx *f) {
  struct cg_http_limits l;
  cg_http_limits_default(&l);
  assert_int_equal(cg_http_server_start(&f->loop, "127.0.0.1", 0, &l, handler, f, &f->srv), 0);
  f->port = cg_http_server_port(f->srv);
}

static void with_raw_server(struct fx *f) { f->port = raw_start(f); }

static void run(struct fx *f, step_fn first) {
  f->opts.port = f->port;
  assert_int_equal(cg_http_client_new(&f->loop, &f->opts, &f->cl), 0);
  first(f);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_false(f->timed_out);
  assert_true(f->client_closed);
  assert_true(f->server_closed);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* ---- tests ---------------------------------------------------------------- */

static unsigned connections_seen;

static void keep_alive_next(struct fx *f) {
  static const char *const bodies[] = {"one", "two", "three"};
  if (f->step < 3) {
    post(f, "/echo", bodies[f->step]);
    return;
  }
  connections_seen = cg_http_client_connections(f->cl);
  end_run(f);
}

static void test_sequential_posts_reuse_one_kept_alive_connection(void **state) {
  struct fx *f = fx_new();
  with_http_server(f);
  f->next = keep_alive_next;
  run(f, keep_alive_next);
  assert_int_equal(f->n_got, 3);
  static const char *const bodies[] = {"one", "two", "three"};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(f->got[i].err, 0);
    assert_int_equal(f->got[i].status, 200);
    assert_string_equal(f->got[i].ctype, "application/pkixcmp");
    assert_int_equal(f->got[i].len, strlen(bodies[i]));
    assert_memory_equal(f->got[i].body, bodies[i], strlen(bodies[i]));
    assert_int_equal(f->got[i].server_conns, 1);
  }
  assert_int_equal(connections_seen, 1);
  free(f);
}

static void not_found_next(struct fx *f) {
  if (f->step == 0)
    post(f, "/nope", "x");
  else if (f->step == 1)
    post(f, "/echo", "after 404");
  else {
    connections_seen = cg_http_client_connections(f->cl);
    end_run(f);
  }
}

static void test_404_is_reported_with_its_text_and_keeps_the_connection(void **state) {
  struct fx *f = fx_new();
  with_http_server(f);
  f->next = not_found_next;
  run(f, not_found_next);
  assert_int_equal(f->n_got, 2);
  assert_int_equal(f->got[0].err, 0);
  assert_int_equal(f->got[0].status, 404);
  assert_string_equal(f->got[0].ctype, "text/plain; charset=utf-8");
  assert_int_equal(f->got[0].len, 13);
  assert_memory_equal(f->got[0].body, "no such path\n", 13);
  assert_int_equal(f->got[1].err, 0);
  assert_int_equal(f->got[1].status, 200);
  assert_memory_equal(f->got[1].body, "after 404", 9);
  assert_int_equal(connections_seen, 1);
  free(f);
}

static void timeout_next(struct fx *f) {
  if (f->step == 0)
    post(f, "/hold", "never answered");
  else
    end_run(f);
}

/* Only the failure is asserted, never how long it took: under load a 200 ms
 * deadline may pass before the request even reaches the server, and the
 * outcome is the same.  (Reconnecting after a failure is pinned by the
 * mid-response test, which has no deadline.) */
static void test_server_that_never_answers_times_out(void **state) {
  struct fx *f = fx_new();
  with_http_server(f);
  f->opts.timeout_ms = 200;
  f->next = timeout_next;
  run(f, timeout_next);
  assert_int_equal(f->n_got, 1);
  assert_int_equal(f->got[0].err, CG_ETIMEOUT);
  assert_string_equal(f->got[0].detail, "no complete response within 200 ms");
  free(f);
}

static void big_next(struct fx *f) {
  if (f->step == 0)
    post(f, "/big", "");
  else if (f->step == 1)
    post(f, "/echo", "small");
  else
    end_run(f);
}

static void test_response_over_max_body_is_refused_by_its_content_length(void **state) {
  struct fx *f = fx_new();
  with_http_server(f);
  f->opts.max_body = 1024;
  f->next = big_next;
  run(f, big_next);
  assert_int_equal(f->n_got, 2);
  assert_int_equal(f->got[0].err, CG_ETOO_BIG);
  assert_string_equal(f->got[0].detail, "response body too large");
  assert_int_equal(f->got[1].err, 0);
  assert_memory_equal(f->got[1].body, "small", 5);
  free(f);
}

static void one_post_next(struct fx *f) {
  if (f->step == 0)
    post(f, "/.well-known/cmp", "request");
  else
    end_run(f);
}

static void test_chunked_response_over_max_body_is_refused(void **state) {
  struct fx *f = fx_new();
  with_raw_server(f);
  f->raw_modes[0] = RAW_CHUNKED_BIG;
  f->opts.max_body = 1024;
  f->next = one_post_next;
  run(f, one_post_next);
  assert_int_equal(f->n_got, 1);
  assert_int_equal(f->got[0].err, CG_ETOO_BIG);
  assert_string_equal(f->got[0].detail, "response body too large");
  free(f);
}

static void test_chunked_response_within_max_body_is_read_whole(void **state) {
  struct fx *f = fx_new();
  with_raw_server(f);
  f->raw_modes[0] = RAW_CHUNKED_BIG;
  f->next = one_post_next;
  run(f, one_post_next);
  assert_int_equal(f->n_got, 1);
  assert_int_equal(f->got[0].err, 0);
  assert_int_equal(f->got[0].len, 2000);
  free(f);
}

static void two_posts_next(struct fx *f) {
  if (f->step < 2)
    post(f, "/.well-known/cmp", "request");
  else {
    connections_seen = cg_http_client_connections(f->cl);
    end_run(f);
  }
}

static void test_server_closing_mid_response_fails_with_closed_and_next_post_reconnects(
    void **state) {
  struct fx *f = fx_new();
  with_raw_server(f);
  f->raw_modes[0] = RAW_PARTIAL;
  f->raw_modes[1] = RAW_FULL;
  f->next = two_posts_next;
  run(f, two_posts_next);
  assert_int_equal(f->n_got, 2);
  assert_int_equal(f->got[0].err, CG_ECLOSED);
  assert_string_equal(f->got[0].detail, "the server closed the connection mid-response");
  assert_int_equal(f->got[1].err, 0);
  assert_int_equal(f->got[1].status, 200);
  assert_int_equal(f->got[1].len, 2);
  assert_memory_equal(f->got[1].body, "ok", 2);
  assert_int_equal(connections_seen, 2);
  free(f);
}

static void test_body_delimited_by_eof_then_interim_100_are_read(void **state) {
  struct fx *f = fx_new();
  with_raw_server(f);
  f->raw_modes[0] = RAW_EOF_BODY;
  f->raw_modes[1] = RAW_CONTINUE;
  f->next = two_posts_next;
  run(f, two_posts_next);
  assert_int_equal(f->n_got, 2);
  assert_int_equal(f->got[0].err, 0);
  assert_int_equal(f->got[0].status, 200);
  assert_int_equal(f->got[0].len, 13);
  assert_memory_equal(f->got[0].body, "until the end", 13);
  assert_int_equal(f->got[1].err, 0);
  assert_int_equal(f->got[1].status, 200);
  assert_memory_equal(f->got[1].body, "ok", 2);
  /* A body that ended with the connection needs a new one. */
  assert_int_equal(connections_seen, 2);
  free(f);
}

static void test_connection_refused_is_an_io_error_with_detail(void **state) {
  struct fx *f = fx_new();
  /* A port that was free a moment ago: bound, read, closed. */
  uv_tcp_t t;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(&f->loop, &t);
  assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&a, 0), 0);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  assert_int_equal(uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len), 0);
  f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_close((uv_handle_t *)&t, NULL);
  f->server_closed = true;
  f->next = one_post_next;
  run(f, one_post_next);
  assert_int_equal(f->n_got, 1);
  assert_int_equal(f->got[0].err, CG_ECONNECT);
  assert_string_equal(f->got[0].detail, "connect: connection refused");
  free(f);
}

static void held_then_close(struct fx *f) {
  post(f, "/hold", "held");
  f->busy_err = cg_http_client_post(f->cl, "/echo", (const uint8_t *)"x", 1, on_rsp, f);
}

static void close_when_held_next(struct fx *f) {
  /* The callback of the closed request: nothing more to post. */
}

static void on_closed_after_cancel(void *arg) {
  struct fx *f = arg;
  on_client_closed(f);
}

/* The server handler closes the client as soon as it holds the request. */
static void handler_closing(void *arg, struct cg_http_request *req, const char *path,
                            const uint8_t *body, size_t len) {
  struct fx *f = arg;
  f->held = req;
  f->ended = true;
  cg_http_client_close(f->cl, on_closed_after_cancel, f);
}

static void test_post_while_busy_is_refused_and_close_cancels_the_request(void **state) {
  struct fx *f = fx_new();
  struct cg_http_limits l;
  cg_http_limits_default(&l);
  assert_int_equal(
      cg_http_server_start(&f->loop, "127.0.0.1", 0, &l, handler_closing, f, &f->srv), 0);
  f->port = cg_http_server_port(f->srv);
  f->next = close_when_held_next;
  run(f, held_then_close);
  assert_int_equal(f->busy_err, CG_EBUSY);
  assert_int_equal(f->n_got, 1);
  assert_int_equal(f->got[0].err, CG_ECLOSED);
  /* The cancelled request hears of it before on_closed. */
  assert_true(f->rsp_seq < f->client_closed_seq);
  free(f);
}

static void test_new_accepts_numeric_hosts_and_localhost_only(void **state) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  struct cg_http_client *c = NULL;
  struct cg_http_client_opts o = {.host = "example.com", .port = 80};
  assert_int_equal(cg_http_client_new(&loop, &o, &c), CG_EINVAL);
  assert_null(c);
  o.host = "127.0.0.1";
  o.port = 0;
  assert_int_equal(cg_http_client_new(&loop, &o, &c), CG_EINVAL);
  const char *ok[] = {"127.0.0.1", "::1", "localhost"};
  for (size_t i = 0; i < 3; i++) {
    o.host = ok[i];
    o.port = 8080;
    assert_int_equal(cg_http_client_new(&loop, &o, &c), 0);
    /* Paths with spaces or control characters never reach the wire. */
    assert_int_equal(cg_http_client_post(c, "/a b", (const uint8_t *)"x", 1, on_rsp, NULL),
                     CG_EINVAL);
    assert_int_equal(cg_http_client_post(c, "no-slash", (const uint8_t *)"x", 1, on_rsp, NULL),
                     CG_EINVAL);
    assert_int_equal(cg_http_client_connections(c), 0);
    cg_http_client_close(c, NULL, NULL);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  memset(big, 'b', sizeof big);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sequential_posts_reuse_one_kept_alive_connection),
      cmocka_unit_test(test_404_is_reported_with_its_text_and_keeps_the_connection),
      cmocka_unit_test(test_server_that_never_answers_times_out),
      cmocka_unit_test(test_response_over_max_body_is_refused_by_its_content_length),
      cmocka_unit_test(test_chunked_response_over_max_body_is_refused),
      cmocka_unit_test(test_chunked_response_within_max_body_is_read_whole),
      cmocka_unit_test(test_server_closing_mid_response_fails_with_closed_and_next_post_reconnects),
      cmocka_unit_test(test_body_delimited_by_eof_then_interim_100_are_read),
      cmocka_unit_test(test_connection_refused_is_an_io_error_with_detail),
      cmocka_unit_test(test_post_while_busy_is_refused_and_close_cancels_the_request),
      cmocka_unit_test(test_new_accepts_numeric_hosts_and_localhost_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
