/*
 * test_conn.c - the connection lifecycle the servers share
 * (transports/conn.h) and the listener they embed (transports/listen.h),
 * driven by a toy protocol: it reads until it has N octets, answers them
 * back, and ends the connection (FIN, then input discarded until the
 * peer's EOF).
 *
 * Listener and clients run on one libuv loop (127.0.0.1, a free port); a run
 * ends when the listener's stop has settled (every handle closed, the owner
 * freed); a generous guard timer fails a run that does not.  Nothing waits
 * on time.  Every run ends with uv_loop_close() == 0 and the admission back
 * at nothing held and no connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/err.h"
#include "testutil.h"
#include "transports/admission.h"
#include "transports/conn.h"
#include "transports/listen.h"

#define GUARD_MS 30000
#define MAX_CLIENTS 3

struct server;

struct tconn {
  struct cg_conn base; /* first, as cg_conn_accept() wants */
  struct server *srv;
  size_t want; /* octets to read before answering */
};

struct server {
  struct cg_listener l;
  size_t want, in_limit;
  int accepted, answered, enobufs, closed_by_protocol;
  size_t longest_read; /* the most octets a connection held */
  bool settled;        /* stopped, and every handle closed */
};

struct client {
  uv_tcp_t tcp;
  uv_connect_t req;
  uv_write_t wreq;
  uv_shutdown_t sreq;
  const char *send;
  size_t send_len;
  char got[256];
  size_t got_len;
  bool eof; /* the server's FIN (or reset) */
  bool closed;
  struct fx *f;
};

struct fx {
  uv_loop_t loop;
  uv_timer_t guard;
  struct cg_admission *adm;
  struct server *srv;
  struct client c[MAX_CLIENTS];
  int n, clients_closed;
  bool stopped;
  const char *last; /* sent by the one client left once the others are closed */
};

static void on_guard(uv_timer_t *t) {
  (void)t;
  fail_msg("the run did not finish within %d ms", GUARD_MS);
}

/* ---- the toy protocol -------------------------------------------------------- */

static void on_stop_done(void *arg) {
  struct fx *f = arg;
  f->stopped = true;
  uv_close((uv_handle_t *)&f->guard, NULL);
}

static void settle(void *owner) {
  struct server *srv = owner;
  if (!cg_listener_done(&srv->l, false))
    return;
  srv->settled = true;
  void (*cb)(void *) = srv->l.on_closed;
  void *arg = srv->l.closed_arg;
  cg_listener_release(&srv->l);
  if (cb != NULL)
    cb(arg);
}

static void close_conn(struct cg_conn *c) {
  ((struct tconn *)c)->srv->closed_by_protocol++;
  cg_conn_close(c);
}

static void on_written(struct cg_conn *c, int status) {
  assert_int_equal(status, 0);
  ((struct tconn *)c)->srv->answered++;
  cg_conn_linger(c);
}

static void t_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
  (void)suggested;
  cg_conn_reserve(h->data, out);
}

static void t_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  struct tconn *t = s->data;
  struct cg_conn *c = &t->base;
  if (n == UV_ENOBUFS) {
    t->srv->enobufs++;
    c->close(c);
    return;
  }
  if (n < 0) {
    c->close(c);
    return;
  }
  c->in.len += (size_t)n;
  if (c->in.len > t->srv->longest_read)
    t->srv->longest_read = c->in.len;
  if (c->in.len < t->want)
    return;
  cg_conn_read_stop(c);
  uint8_t *out = cg_conn_out(c, c->in.len);
  assert_non_null(out);
  memcpy(out, c->in.data, c->in.len);
  assert_int_equal(cg_conn_write(c, c->in.len, on_written), 0);
}

static void on_connection(uv_stream_t *ls, int status) {
  struct server *srv = ls->data;
  assert_int_equal(status, 0);
  struct tconn *t = (struct tconn *)cg_conn_accept(&srv->l, sizeof *t, srv->in_limit, "test",
                                                   t_alloc, t_read, close_conn);
  if (t == NULL)
    return;
  srv->accepted++;
  t->srv = srv;
  t->want = srv->want;
}

/* ---- clients ------------------------------------------------------------------ */

static void maybe_stop(struct fx *f) {
  if (f->clients_closed == f->n)
    cg_listener_stop(&f->srv->l, on_stop_done, f);
}

static void on_client_written(uv_write_t *w, int status);

static void on_client_closed(uv_handle_t *h) {
  struct client *c = h->data;
  struct fx *f = c->f;
  c->closed = true;
  f->clients_closed++;
  if (f->last != NULL && f->clients_closed == f->n - 1)
    for (int i = 0; i < f->n; i++)
      if (!f->c[i].closed) {
        uv_buf_t b = uv_buf_init((char *)f->last, (unsigned)strlen(f->last));
        assert_int_equal(uv_write(&f->c[i].wreq, (uv_stream_t *)&f->c[i].tcp, &b, 1,
                                  on_client_written),
                         0);
      }
  maybe_stop(f);
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  struct client *c = h->data;
  *b = uv_buf_init(c->got + c->got_len, (unsigned)(sizeof c->got - c->got_len));
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  struct client *c = s->data;
  if (n > 0) {
    c->got_len += (size_t)n;
    return;
  }
  if (n == 0)
    return;
  c->eof = n == UV_EOF || n == UV_ECONNRESET;
  uv_close((uv_handle_t *)&c->tcp, on_client_closed); /* our EOF ends the server's linger */
}

static void on_client_written(uv_write_t *w, int status) {
  (void)w;
  (void)status; /* a refused client's write may fail: what it reads says the rest */
}

static void on_client_connect(uv_connect_t *req, int status) {
  struct client *c = req->data;
  if (status < 0) {
    uv_close((uv_handle_t *)&c->tcp, on_client_closed);
    return;
  }
  assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, client_alloc, client_read), 0);
  uv_buf_t b = uv_buf_init((char *)c->send, (unsigned)c->send_len);
  if (c->send_len > 0)
    (void)uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_client_written);
}

/* A listener of the toy protocol (answering after want octets, a buffer of
 * in_limit) counted by an admission of lim, and n clients sending send. */
static void run_last(struct fx *f, const struct cg_admission_limits *lim, size_t want,
                     size_t in_limit, int n, const char *send, const char *last) {
  memset(f, 0, sizeof *f);
  f->last = last;
  assert_int_equal(uv_loop_init(&f->loop), 0);
  f->adm = cg_admission_new(lim);
  assert_non_null(f->adm);
  assert_int_equal(cg_listener_new(&f->loop, sizeof *f->srv, offsetof(struct server, l),
                                   "127.0.0.1", 0, f->adm, 0, on_connection, settle,
                                   (void **)&f->srv),
                   0);
  f->srv->want = want;
  f->srv->in_limit = in_limit;
  uv_timer_init(&f->loop, &f->guard);
  uv_timer_start(&f->guard, on_guard, GUARD_MS, 0);
  struct sockaddr_in sa;
  assert_int_equal(uv_ip4_addr("127.0.0.1", f->srv->l.port, &sa), 0);
  f->n = n;
  for (int i = 0; i < n; i++) {
    struct client *c = &f->c[i];
    c->f = f;
    c->send = send;
    c->send_len = strlen(send);
    uv_tcp_init(&f->loop, &c->tcp);
    c->tcp.data = c->req.data = c;
    assert_int_equal(
        uv_tcp_connect(&c->req, &c->tcp, (const struct sockaddr *)&sa, on_client_connect), 0);
  }
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_true(f->stopped);
  assert_true(f->srv->settled);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  struct cg_admission_stats st;
  cg_admission_stats(f->adm, &st);
  assert_int_equal(st.conns, 0);     /* every connection left */
  assert_int_equal(st.buffered, 0);  /* every buffer given back */
  cg_admission_free(f->adm);
}

static void run(struct fx *f, const struct cg_admission_limits *lim, size_t want,
                size_t in_limit, int n, const char *send) {
  run_last(f, lim, want, in_limit, n, send, NULL);
}

static void done(struct fx *f) { free(f->srv); }

/* ---- tests ------------------------------------------------------------------------ */

static void test_an_answer_is_written_then_the_connection_ends_with_a_fin(void **state) {
  (void)state;
  struct fx f;
  run(&f, &(struct cg_admission_limits){.max_conns = 4}, 5, 64, 2, "hello");
  assert_int_equal(f.srv->accepted, 2);
  assert_int_equal(f.srv->answered, 2);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(f.c[i].got_len, 5);
    assert_memory_equal(f.c[i].got, "hello", 5);
    assert_true(f.c[i].eof); /* the server's FIN came after the answer */
  }
  /* Each closed on its client's EOF, read while lingering. */
  assert_int_equal(f.srv->closed_by_protocol, 2);
  assert_int_equal(f.srv->l.conns.count, 0);
  done(&f);
}

static void test_input_never_grows_past_the_buffer_limit(void **state) {
  (void)state;
  struct fx f;
  /* 20 octets into a buffer of 8: reading stops there (UV_ENOBUFS). */
  run(&f, &(struct cg_admission_limits){.max_conns = 4}, 100, 8, 1, "0123456789abcdefghij");
  assert_int_equal(f.srv->enobufs, 1);
  assert_true(f.srv->longest_read <= 8);
  assert_int_equal(f.srv->answered, 0);
  assert_true(f.c[0].eof);
  assert_int_equal(f.c[0].got_len, 0);
  done(&f);
}

static void test_past_the_gateway_buffer_budget_no_room_is_given(void **state) {
  (void)state;
  struct fx f;
  /* A budget smaller than the first read: nothing can be buffered at all. */
  run(&f, &(struct cg_admission_limits){.max_conns = 4, .max_buffered = 100}, 5, 64 * 1024, 1,
      "hello");
  assert_int_equal(f.srv->enobufs, 1);
  assert_int_equal(f.srv->longest_read, 0);
  assert_true(f.c[0].eof);
  done(&f);
}

static void test_a_full_listener_refuses_and_still_settles(void **state) {
  (void)state;
  struct fx f;
  /* Room for one: that one waits for its fifth octet (sent once the others
   * are gone), so the others are over the cap and refused. */
  run_last(&f, &(struct cg_admission_limits){.max_conns = 1}, 5, 64, 3, "hell", "o");
  int answered = 0, refused = 0;
  for (int i = 0; i < 3; i++) {
    assert_true(f.c[i].closed);
    assert_true(f.c[i].eof);
    answered += f.c[i].got_len == 5 && memcmp(f.c[i].got, "hello", 5) == 0;
    refused += f.c[i].got_len == 0;
  }
  assert_int_equal(answered, 1);
  assert_int_equal(refused, 2);
  assert_int_equal(f.srv->accepted, 1);
  assert_int_equal(f.srv->l.refusing, 0);
  done(&f);
}

static void test_a_per_address_limit_closes_the_connection_over_it(void **state) {
  (void)state;
  struct fx f;
  run_last(&f, &(struct cg_admission_limits){.max_conns = 4, .max_conns_per_addr = 1}, 5, 64, 2,
           "hell", "o");
  int answered = 0;
  for (int i = 0; i < 2; i++)
    answered += f.c[i].got_len == 5;
  assert_int_equal(answered, 1);
  assert_int_equal(f.srv->answered, 1);
  done(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_an_answer_is_written_then_the_connection_ends_with_a_fin),
      cmocka_unit_test(test_input_never_grows_past_the_buffer_limit),
      cmocka_unit_test(test_past_the_gateway_buffer_budget_no_room_is_given),
      cmocka_unit_test(test_a_full_listener_refuses_and_still_settles),
      cmocka_unit_test(test_a_per_address_limit_closes_the_connection_over_it),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
