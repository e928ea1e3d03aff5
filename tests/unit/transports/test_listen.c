/*
 * test_listen.c - what the listeners share (transports/listen.h): which
 * host:port pairs may be listened on, resolving a host name once, binding a
 * free port and reporting it, the set of open connections, the peer address
 * of a real connection, and turning a connection away, also when no memory
 * can be had for it (the listener must go on accepting after that).
 *
 * Listener and clients run on one libuv loop (127.0.0.1 or ::1, a free
 * port); each run ends when every handle is closed, and a generous guard
 * timer fails a run that does not.  Nothing waits on time.  Every run ends
 * with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <uv.h>

#include "core/err.h"
#include "failalloc.h"
#include "testutil.h"
#include "transports/listen.h"

#define GUARD_MS 30000
#define N_CLIENTS 2

/* ---- checking and resolving ------------------------------------------------ */

static void test_check_accepts_numeric_addresses_and_ports_in_range(void **state) {
  (void)state;
  assert_int_equal(cg_listen_check("127.0.0.1", 0), 0);
  assert_int_equal(cg_listen_check("0.0.0.0", 8080), 0);
  assert_int_equal(cg_listen_check("192.0.2.7", 65535), 0);
  assert_int_equal(cg_listen_check("::1", 80), 0);
  assert_int_equal(cg_listen_check("::", 0), 0);
  assert_int_equal(cg_listen_check("2001:db8::7", 829), 0);
}

static void test_check_refuses_names_bad_addresses_and_ports_out_of_range(void **state) {
  (void)state;
  static const char *const bad_hosts[] = {
      "localhost", "example.com", "", "127.0.0.1:80", "[::1]", "1.2.3", "256.1.1.1",
      " 127.0.0.1", "127.0.0.1 ", "2001:db8::7::1",
  };
  for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++)
    if (cg_listen_check(bad_hosts[i], 80) != CG_EINVAL)
      fail_msg("\"%s\" was accepted", bad_hosts[i]);
  assert_int_equal(cg_listen_check(NULL, 80), CG_EINVAL);
  assert_int_equal(cg_listen_check("127.0.0.1", -1), CG_EINVAL);
  assert_int_equal(cg_listen_check("127.0.0.1", 65536), CG_EINVAL);
  assert_int_equal(cg_listen_check("::1", 100000), CG_EINVAL);
}

static void test_resolve_keeps_a_numeric_address_as_it_is(void **state) {
  (void)state;
  char out[64];
  const char *why = NULL;
  assert_int_equal(cg_listen_resolve("192.0.2.7", out, sizeof out, &why), 0);
  assert_string_equal(out, "192.0.2.7");
  assert_non_null(why);
  assert_int_equal(cg_listen_resolve("2001:db8::7", out, sizeof out, &why), 0);
  assert_string_equal(out, "2001:db8::7");
  /* No room for it: refused, nothing cut. */
  char small[9];
  assert_int_equal(cg_listen_resolve("192.0.2.7", small, sizeof small, &why), CG_EINVAL);
}

static void test_resolve_turns_localhost_into_a_loopback_address(void **state) {
  (void)state;
  char out[64];
  const char *why = NULL;
  assert_int_equal(cg_listen_resolve("localhost", out, sizeof out, &why), 0);
  if (strcmp(out, "127.0.0.1") != 0 && strcmp(out, "::1") != 0)
    fail_msg("localhost resolved to %s", out);
  assert_int_equal(cg_listen_check(out, 0), 0);
  /* An address that does not fit is refused with a reason. */
  char tiny[4];
  assert_int_equal(cg_listen_resolve("localhost", tiny, sizeof tiny, &why), CG_EINVAL);
  assert_non_null(why);
  assert_true(why[0] != 0);
}

/* RFC 6761 §6.4: no name under .invalid resolves. */
static void test_resolve_refuses_a_name_that_does_not_resolve_saying_why(void **state) {
  (void)state;
  char out[64];
  const char *why = NULL;
  assert_int_equal(cg_listen_resolve("no-such-host.invalid", out, sizeof out, &why), CG_EINVAL);
  assert_non_null(why);
  assert_true(why[0] != 0);
}

/* ---- the connection set ------------------------------------------------------ */

static void test_the_connection_set_keeps_its_links_and_count(void **state) {
  (void)state;
  struct cg_conn_set s = {0};
  struct cg_conn_link l[4];
  for (int i = 0; i < 4; i++)
    cg_conn_set_add(&s, &l[i]);
  assert_int_equal(s.count, 4);
  /* Newest first, linked both ways. */
  assert_ptr_equal(s.head, &l[3]);
  assert_null(l[3].prev);
  assert_ptr_equal(l[3].next, &l[2]);
  assert_ptr_equal(l[2].prev, &l[3]);
  assert_null(l[0].next);
  /* From the middle, the head and the tail. */
  cg_conn_set_remove(&s, &l[2]);
  assert_int_equal(s.count, 3);
  assert_ptr_equal(l[3].next, &l[1]);
  assert_ptr_equal(l[1].prev, &l[3]);
  cg_conn_set_remove(&s, &l[3]);
  assert_int_equal(s.count, 2);
  assert_ptr_equal(s.head, &l[1]);
  assert_null(l[1].prev);
  cg_conn_set_remove(&s, &l[0]);
  assert_int_equal(s.count, 1);
  assert_null(l[1].next);
  cg_conn_set_remove(&s, &l[1]);
  assert_int_equal(s.count, 0);
  assert_null(s.head);
  /* A link removed can be added again. */
  cg_conn_set_add(&s, &l[2]);
  assert_ptr_equal(s.head, &l[2]);
  assert_null(l[2].next);
  assert_int_equal(s.count, 1);
}

/* ---- a listener and its clients on one loop --------------------------------- */

enum mode {
  ACCEPT,        /* take the connection, read its peer address, close it */
  REFUSE,        /* cg_refuse_connection() */
  REFUSE_NOMEM,  /* the same, the refusal's allocation failing on the first */
};

struct client {
  uv_tcp_t tcp;
  uv_connect_t req;
  struct fx *f;
  int connect_status;
  bool ended; /* the server closed it (EOF or reset) */
  char buf[64];
};

struct fx {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_timer_t guard;
  const char *host;
  int port;
  enum mode mode;
  struct client c[N_CLIENTS];
  int n_clients, clients_closed;
  /* the server's side */
  uv_tcp_t accepted;
  int connections, refusals_closed;
  int refuse_ret[N_CLIENTS];
  struct cg_addr peer;
  bool done;
};

static void on_guard(uv_timer_t *t) {
  (void)t;
  fail_msg("the run did not finish within %d ms", GUARD_MS);
}

/* Ends the run once every client was closed by the server and every
 * refusal has run its callback. */
static void maybe_done(struct fx *f) {
  int refused = f->mode == ACCEPT ? 0 : f->n_clients;
  if (f->done || f->clients_closed < f->n_clients || f->refusals_closed < refused)
    return;
  f->done = true;
  uv_close((uv_handle_t *)&f->listener, NULL);
  uv_close((uv_handle_t *)&f->guard, NULL);
}

static void on_client_closed(uv_handle_t *h) {
  struct client *c = h->data;
  c->f->clients_closed++;
  maybe_done(c->f);
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  struct client *c = h->data;
  *b = uv_buf_init(c->buf, sizeof c->buf);
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  struct client *c = s->data;
  if (n >= 0)
    return; /* the server never writes; 0 is "try again" */
  c->ended = n == UV_EOF || n == UV_ECONNRESET;
  uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void on_client_connect(uv_connect_t *req, int status) {
  struct client *c = req->data;
  c->connect_status = status;
  if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, client_alloc, client_read) != 0)
    uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void on_accepted_closed(uv_handle_t *h) { (void)h; }

static void on_refused(void *data) {
  struct fx *f = data;
  f->refusals_closed++;
  maybe_done(f);
}

static void on_connection(uv_stream_t *ls, int status) {
  struct fx *f = ls->data;
  assert_int_equal(status, 0);
  int i = f->connections++;
  assert_true(i < N_CLIENTS);
  switch (f->mode) {
  case ACCEPT:
    assert_int_equal(uv_tcp_init(&f->loop, &f->accepted), 0);
    assert_int_equal(uv_accept(ls, (uv_stream_t *)&f->accepted), 0);
    cg_quickack(&f->accepted); /* harmless on any connection */
    cg_peer_addr(&f->accepted, &f->peer);
    uv_close((uv_handle_t *)&f->accepted, on_accepted_closed);
    break;
  case REFUSE:
    f->refuse_ret[i] = cg_refuse_connection(ls, f, on_refused);
    break;
  case REFUSE_NOMEM:
    failalloc_arm(i == 0 ? 1 : 0);
    f->refuse_ret[i] = cg_refuse_connection(ls, f, on_refused);
    assert_int_equal(failalloc_fired(), i == 0);
    failalloc_disarm();
    break;
  }
}

/* Listens on host (port 0) and connects n clients; returns what cg_listen()
 * returned (the handle is closed and the loop too when it failed). */
static int start(struct fx *f, const char *host, enum mode mode, int n) {
  memset(f, 0, sizeof *f);
  f->host = host;
  f->mode = mode;
  f->n_clients = n;
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(uv_tcp_init(&f->loop, &f->listener), 0);
  f->listener.data = f;
  int err = cg_listen(&f->listener, host, 0, on_connection, &f->port);
  if (err != 0) {
    uv_close((uv_handle_t *)&f->listener, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    return err;
  }
  assert_true(f->port > 0 && f->port <= 65535);
  uv_timer_init(&f->loop, &f->guard);
  uv_timer_start(&f->guard, on_guard, GUARD_MS, 0);
  struct sockaddr_storage ss;
  if (uv_ip4_addr(host, f->port, (struct sockaddr_in *)&ss) != 0)
    assert_int_equal(uv_ip6_addr(host, f->port, (struct sockaddr_in6 *)&ss), 0);
  for (int i = 0; i < n; i++) {
    struct client *c = &f->c[i];
    c->f = f;
    uv_tcp_init(&f->loop, &c->tcp);
    c->tcp.data = c->req.data = c;
    assert_int_equal(
        uv_tcp_connect(&c->req, &c->tcp, (const struct sockaddr *)&ss, on_client_connect), 0);
  }
  return 0;
}

static void finish(struct fx *f) {
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_true(f->done);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void test_listen_on_port_0_binds_a_free_port_and_reports_it(void **state) {
  (void)state;
  struct fx f;
  assert_int_equal(start(&f, "127.0.0.1", ACCEPT, 1), 0);
  finish(&f);
  assert_int_equal(f.connections, 1);
  assert_int_equal(f.c[0].connect_status, 0);
  assert_true(f.c[0].ended);
  /* The peer as limits count it: the client's IPv4 address. */
  assert_int_equal(f.peer.len, 4);
  static const uint8_t loopback[4] = {127, 0, 0, 1};
  assert_memory_equal(f.peer.b, loopback, 4);
  char text[CG_ADDR_TEXT];
  cg_addr_text(&f.peer, text);
  assert_string_equal(text, "127.0.0.1");
}

/* Over IPv6 the peer counts by its /64 (::1: all zeros).  Skipped where
 * the host has no IPv6 loopback. */
static void test_listen_on_the_ipv6_loopback_counts_the_peer_by_its_prefix(void **state) {
  (void)state;
  struct fx f;
  int err = start(&f, "::1", ACCEPT, 1);
  if (err == CG_EADDR_NOT_AVAIL || err == CG_EIO) /* EAFNOSUPPORT: CG_EIO */
    skip();
  assert_int_equal(err, 0);
  finish(&f);
  assert_int_equal(f.connections, 1);
  assert_int_equal(f.peer.len, 8);
  static const uint8_t zero[8] = {0};
  assert_memory_equal(f.peer.b, zero, 8);
}

static void test_listen_refuses_a_bad_host_and_reports_a_port_in_use(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_tcp_t a, b, c;
  int port = -1, other = -1;
  assert_int_equal(uv_loop_init(&loop), 0);
  uv_tcp_init(&loop, &a);
  uv_tcp_init(&loop, &b);
  uv_tcp_init(&loop, &c);
  assert_int_equal(cg_listen(&c, "localhost", 0, on_connection, &other), CG_EINVAL);
  assert_int_equal(cg_listen(&c, "127.0.0.1", 70000, on_connection, &other), CG_EINVAL);
  assert_int_equal(other, -1);
  assert_int_equal(cg_listen(&a, "127.0.0.1", 0, on_connection, &port), 0);
  assert_true(port > 0);
  assert_int_equal(cg_listen(&b, "127.0.0.1", port, on_connection, &other), CG_EADDR_IN_USE);
  uv_close((uv_handle_t *)&a, NULL);
  uv_close((uv_handle_t *)&b, NULL);
  uv_close((uv_handle_t *)&c, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_the_peer_of_a_handle_with_no_connection_is_unknown(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_tcp_t t;
  struct cg_addr a;
  memset(&a, 0xee, sizeof a);
  assert_int_equal(uv_loop_init(&loop), 0);
  uv_tcp_init(&loop, &t);
  cg_peer_addr(&t, &a);
  assert_int_equal(a.len, 0);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* A connection turned away: the client sees it closed, the callback runs
 * with its data once the handle is closed. */
static void test_a_refused_connection_is_closed_and_its_callback_runs(void **state) {
  (void)state;
  struct fx f;
  assert_int_equal(start(&f, "127.0.0.1", REFUSE, 2), 0);
  finish(&f);
  assert_int_equal(f.connections, 2);
  assert_int_equal(f.refusals_closed, 2);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(f.refuse_ret[i], 1);
    assert_int_equal(f.c[i].connect_status, 0);
    assert_true(f.c[i].ended);
  }
}

/* A refusal whose allocation fails still takes the connection and closes
 * it: a connection left with libuv would stop the listener, which watches
 * for the next one only after this one is accepted.  The second client,
 * connected at the same time, must still reach the listener. */
static void test_a_refusal_without_memory_still_closes_and_the_listener_goes_on(void **state) {
  (void)state;
  struct fx f;
  assert_int_equal(start(&f, "127.0.0.1", REFUSE_NOMEM, 2), 0);
  finish(&f);
  assert_int_equal(f.connections, 2);
  assert_int_equal(f.refusals_closed, 2);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(f.refuse_ret[i], 1);
    assert_true(f.c[i].ended);
  }
}

static void test_a_failed_accept_is_logged_with_the_way_out(void **state) {
  (void)state;
  tu_capture_stderr();
  cg_accept_failed("tcp", UV_EMFILE);
  const char *log = tu_captured_stderr();
  assert_non_null(strstr(log, "tcp: cannot accept a connection: too many open files"));
  assert_non_null(strstr(log, "raise the open-file limit"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check_accepts_numeric_addresses_and_ports_in_range),
      cmocka_unit_test(test_check_refuses_names_bad_addresses_and_ports_out_of_range),
      cmocka_unit_test(test_resolve_keeps_a_numeric_address_as_it_is),
      cmocka_unit_test(test_resolve_turns_localhost_into_a_loopback_address),
      cmocka_unit_test(test_resolve_refuses_a_name_that_does_not_resolve_saying_why),
      cmocka_unit_test(test_the_connection_set_keeps_its_links_and_count),
      cmocka_unit_test(test_listen_on_port_0_binds_a_free_port_and_reports_it),
      cmocka_unit_test(test_listen_on_the_ipv6_loopback_counts_the_peer_by_its_prefix),
      cmocka_unit_test(test_listen_refuses_a_bad_host_and_reports_a_port_in_use),
      cmocka_unit_test(test_the_peer_of_a_handle_with_no_connection_is_unknown),
      cmocka_unit_test(test_a_refused_connection_is_closed_and_its_callback_runs),
      cmocka_unit_test(test_a_refusal_without_memory_still_closes_and_the_listener_goes_on),
      cmocka_unit_test(test_a_failed_accept_is_logged_with_the_way_out),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
