/*
 * test_tcp.c - the raw TCP listener's limits against a real client: the
 * connection cap, the idle and read timeouts, a request whose client left
 * before its answer, and a stop while a request is being handled.
 *
 * The server runs on this thread's libuv loop (127.0.0.1, a free port); the
 * client runs in a second thread over blocking sockets and records what it
 * saw; a uv_async_t tells the loop it is done.  Timeouts are set short (tens
 * of milliseconds) so that they fire; what the test waits for is the
 * condition (the connection closed), bounded by a generous guard timer and
 * socket timeouts, never a fixed delay.  The byte-level framing checks are in
 * tests/interop/tcp_frames.py.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "failalloc.h"
#include "transports/tcp.h"

#define GUARD_MS 30000
#define CLIENT_TIMEOUT_S 15

static const uint8_t frame_v10[] = {0, 0, 0, 5, 10, 0, 0, 0x30, 0x00}; /* pkiReq, value 30 00 */
static const uint8_t answer_v10[] = {0, 0, 0, 5, 10, 0, 5, 0x30, 0x00}; /* pkiRep echoing it */

struct fx {
  uv_loop_t loop;
  uv_async_t done;
  uv_timer_t guard;
  struct cg_tcp_server *srv;
  int port;
  bool hold;                   /* the handler keeps requests instead of answering */
  struct cg_tcp_request *held;
  unsigned seen;
  bool stopped;
  /* the client's findings */
  int (*client)(struct fx *f);
  int result;
  /* allocation failure armed on the loop's first turn (failalloc.h) */
  uv_prepare_t *arm;
  unsigned arm_n;
};

static void on_request(void *arg, struct cg_tcp_request *req, const struct cg_tcp_frame *f) {
  struct fx *x = arg;
  __atomic_add_fetch(&x->seen, 1, __ATOMIC_SEQ_CST);
  if (x->hold) {
    x->held = req;
    return;
  }
  cg_tcp_respond(req, f->msg, f->len);
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* 1 when the server closed the connection (EOF or reset) before any octet. */
static int closed_by_server(int fd) {
  uint8_t b;
  ssize_t n = recv(fd, &b, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* Reads exactly n octets; 0 or -1. */
static int read_n(int fd, uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t k = recv(fd, p, n, 0);
    if (k <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static void *client_main(void *arg) {
  struct fx *x = arg;
  x->result = x->client(x);
  uv_async_send(&x->done);
  return NULL;
}

static void on_done(uv_async_t *a) {
  struct fx *x = a->data;
  uv_close((uv_handle_t *)&x->done, NULL);
  uv_timer_stop(&x->guard);
  uv_close((uv_handle_t *)&x->guard, NULL);
  if (x->held != NULL) { /* the client is gone: its answer is dropped */
    cg_tcp_respond(x->held, frame_v10 + 7, 2);
    x->held = NULL;
  }
  if (x->srv != NULL)
    cg_tcp_server_stop(x->srv, NULL, NULL);
}

static void on_guard(uv_timer_t *t) {
  (void)t;
  fail_msg("the test did not finish within %d ms", GUARD_MS);
}

static void on_first_turn(uv_prepare_t *p);

/* Runs client against a server with limits l until both are done. */
static int run(struct fx *x, const struct cg_tcp_limits *l, int (*client)(struct fx *)) {
  assert_int_equal(uv_loop_init(&x->loop), 0);
  assert_int_equal(cg_tcp_server_start(&x->loop, "127.0.0.1", 0, l, on_request, x, &x->srv), 0);
  x->port = cg_tcp_server_port(x->srv);
  x->client = client;
  if (x->arm != NULL) {
    uv_prepare_init(&x->loop, x->arm);
    x->arm->data = &x->arm_n;
    uv_prepare_start(x->arm, on_first_turn);
  }
  uv_async_init(&x->loop, &x->done, on_done);
  x->done.data = x;
  uv_timer_init(&x->loop, &x->guard);
  uv_timer_start(&x->guard, on_guard, GUARD_MS, 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, client_main, x), 0);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  assert_int_equal(uv_loop_close(&x->loop), 0);
  return x->result;
}

static void limits(struct cg_tcp_limits *l) {
  cg_tcp_limits_default(l);
  l->max_conns = 1;
  l->idle_timeout_ms = 60000;
  l->read_timeout_ms = 60000;
}

/* ---- the cases ------------------------------------------------------------- */

/* With one connection allowed, a second is closed at once; the first is
 * still served. */
static int over_the_cap(struct fx *x) {
  int a = connect_to(x->port), b = connect_to(x->port);
  uint8_t got[sizeof answer_v10];
  int ok = a >= 0 && b >= 0 && closed_by_server(b) &&
           write(a, frame_v10, sizeof frame_v10) == (ssize_t)sizeof frame_v10 &&
           read_n(a, got, sizeof got) == 0 && memcmp(got, answer_v10, sizeof got) == 0;
  close(a);
  close(b);
  return ok;
}

static void test_a_connection_over_the_cap_is_closed(void **state) {
  (void)state;
  struct fx x = {0};
  struct cg_tcp_limits l;
  limits(&l);
  assert_true(run(&x, &l, over_the_cap));
  assert_int_equal(x.seen, 1);
}

/* A connection that sends nothing, and one that stops half way through a
 * frame, are closed by their timeouts; neither reaches the handler. */
static int idle_and_half(struct fx *x) {
  int a = connect_to(x->port);
  int ok = a >= 0 && closed_by_server(a);
  close(a);
  int b = connect_to(x->port);
  ok = ok && b >= 0 && write(b, frame_v10, 5) == 5 && closed_by_server(b);
  close(b);
  return ok;
}

static void test_idle_and_half_sent_connections_time_out(void **state) {
  (void)state;
  struct fx x = {0};
  struct cg_tcp_limits l;
  limits(&l);
  l.first_timeout_ms = 50;
  l.read_timeout_ms = 50;
  assert_true(run(&x, &l, idle_and_half));
  assert_int_equal(x.seen, 0);
}

/* The client leaves while its request is handled: the answer, given later,
 * goes nowhere, and nothing leaks (the sanitizers watch). */
static int leave_early(struct fx *x) {
  int a = connect_to(x->port);
  int ok = a >= 0 && write(a, frame_v10, sizeof frame_v10) == (ssize_t)sizeof frame_v10;
  /* wait until the server holds it: its connection stops reading, so the
   * only sign is the handler's count, which the loop thread sets */
  for (int i = 0; ok && i < 1000 && __atomic_load_n(&x->seen, __ATOMIC_SEQ_CST) == 0; i++)
    usleep(10000);
  close(a);
  return ok && __atomic_load_n(&x->seen, __ATOMIC_SEQ_CST) == 1;
}

static void test_an_answer_after_the_client_left_is_dropped(void **state) {
  (void)state;
  struct fx x = {.hold = true};
  struct cg_tcp_limits l;
  limits(&l);
  assert_true(run(&x, &l, leave_early));
}

/* Stopping with a request in hand: the server waits for its answer, which
 * is written with the close flag set, then closes. */
static void on_stop_closed(void *arg) { ((struct fx *)arg)->stopped = true; }

static void answer_later(uv_timer_t *t) {
  struct fx *x = t->data;
  uv_close((uv_handle_t *)t, NULL);
  assert_false(x->stopped); /* not before the answer */
  cg_tcp_respond(x->held, frame_v10 + 7, 2);
  x->held = NULL;
}

static uv_timer_t later;

static void on_held(void *arg, struct cg_tcp_request *req, const struct cg_tcp_frame *f) {
  struct fx *x = arg;
  (void)f;
  x->seen++;
  x->held = req;
  cg_tcp_server_stop(x->srv, on_stop_closed, x);
  x->srv = NULL;
  /* answered on a later loop turn, after the stop began */
  uv_timer_init(&x->loop, &later);
  later.data = x;
  uv_timer_start(&later, answer_later, 0, 0);
}

static int answered_then_closed(struct fx *x) {
  int a = connect_to(x->port);
  uint8_t got[sizeof answer_v10];
  int ok = a >= 0 && write(a, frame_v10, sizeof frame_v10) == (ssize_t)sizeof frame_v10 &&
           read_n(a, got, sizeof got) == 0 && got[5] == 1 /* close flag */ &&
           got[6] == 5 && closed_by_server(a);
  close(a);
  return ok;
}

static void test_stop_waits_for_the_answer_in_hand(void **state) {
  (void)state;
  struct fx x = {0};
  struct cg_tcp_limits l;
  limits(&l);
  assert_int_equal(uv_loop_init(&x.loop), 0);
  assert_int_equal(cg_tcp_server_start(&x.loop, "127.0.0.1", 0, &l, on_held, &x, &x.srv), 0);
  x.port = cg_tcp_server_port(x.srv);
  x.client = answered_then_closed;
  uv_async_init(&x.loop, &x.done, on_done);
  x.done.data = &x;
  uv_timer_init(&x.loop, &x.guard);
  uv_timer_start(&x.guard, on_guard, GUARD_MS, 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, client_main, &x), 0);
  uv_run(&x.loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  assert_int_equal(uv_loop_close(&x.loop), 0);
  assert_true(x.result);
  assert_true(x.stopped);
}

static void test_start_refuses_bad_arguments(void **state) {
  (void)state;
  uv_loop_t loop;
  struct cg_tcp_server *srv = NULL;
  struct cg_tcp_limits l;
  cg_tcp_limits_default(&l);
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_true(cg_tcp_server_start(&loop, "not-an-address", 0, &l, on_request, NULL, &srv) < 0);
  l.max_frame = 0;
  assert_true(cg_tcp_server_start(&loop, "127.0.0.1", 0, &l, on_request, NULL, &srv) < 0);
  assert_null(srv);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- allocation failures ---------------------------------------------- */

/* What the client of one frame saw: 1 the echoed answer, 2 an errorMsgRep
 * with errorCode "server error", 3 the connection closed without an answer,
 * 0 anything else. */
static int one_frame_outcome(struct fx *x) {
  int fd = connect_to(x->port);
  if (fd < 0)
    return 0;
  uint8_t got[256];
  int outcome = 0;
  if (write(fd, frame_v10, sizeof frame_v10) != (ssize_t)sizeof frame_v10) {
    outcome = 0;
  } else if (read_n(fd, got, 4) != 0) {
    outcome = 3;
  } else {
    uint32_t len = (uint32_t)got[0] << 24 | (uint32_t)got[1] << 16 | (uint32_t)got[2] << 8 | got[3];
    if (len >= 3 && len <= sizeof got - 4 && read_n(fd, got + 4, len) == 0) {
      if (len + 4 == sizeof answer_v10 && memcmp(got, answer_v10, sizeof answer_v10) == 0)
        outcome = 1;
      else if (got[4] == 10 && got[6] == 6 && len >= 5 && got[7] == 0x03 && got[8] == 0x00)
        outcome = 2;
    }
  }
  close(fd);
  return outcome;
}

/* Arms the allocation failure on the loop's first turn: after the server
 * started, before it accepts anything. */
static void on_first_turn(uv_prepare_t *p) {
  failalloc_arm(*(unsigned *)p->data);
  uv_prepare_stop(p);
  uv_close((uv_handle_t *)p, NULL);
}

/* Each allocation of one frame's exchange failing in turn (the connection,
 * its buffer, the request, the answer): the client gets its answer, an
 * errorMsgRep saying the server failed, or a closed connection, and the
 * server stops cleanly every time (under ASan: nothing leaks). */
static void test_every_allocation_failing_in_turn_answers_refuses_or_closes(void **state) {
  (void)state;
  int seen[4] = {0};
  unsigned n;
  for (n = 1; n < 100; n++) {
    struct fx x = {0};
    struct cg_tcp_limits l;
    limits(&l);
    uv_prepare_t arm;
    x.arm = &arm;
    x.arm_n = n;
    int outcome = run(&x, &l, one_frame_outcome);
    bool fired = failalloc_fired();
    failalloc_disarm();
    assert_true(outcome >= 1 && outcome <= 3);
    seen[outcome]++;
    if (!fired)
      break; /* past the last allocation: served as usual */
  }
  assert_true(n < 100);
  assert_true(seen[1] >= 1); /* the last run at least */
  assert_true(seen[2] >= 1); /* the request's record */
  assert_true(seen[3] >= 1); /* the connection or its buffer */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_connection_over_the_cap_is_closed),
      cmocka_unit_test(test_idle_and_half_sent_connections_time_out),
      cmocka_unit_test(test_an_answer_after_the_client_left_is_dropped),
      cmocka_unit_test(test_stop_waits_for_the_answer_in_hand),
      cmocka_unit_test(test_start_refuses_bad_arguments),
      cmocka_unit_test(test_every_allocation_failing_in_turn_answers_refuses_or_closes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
