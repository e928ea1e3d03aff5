/*
 * test_admission.c - the limits the listeners share (transports/admission.h)
 * against real clients: one connection budget for HTTP and raw TCP together,
 * the per-address cap, the budget of buffered request octets, and the raw TCP
 * timeouts an attacker would lean on (a frame trickled in a byte at a time,
 * a connection that never says anything).  Also the address table itself.
 *
 * As in test_tcp.c: the servers run on this thread's loop, the client in a
 * second thread with blocking sockets; what a test waits for is a condition,
 * bounded by generous socket timeouts and a guard timer, never a delay.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "core/err.h"
#include "transports/addr.h"
#include "transports/admission.h"
#include "transports/guard.h"
#include "transports/http.h"
#include "transports/tcp.h"

#define GUARD_MS 30000
#define CLIENT_TIMEOUT_S 15

struct fx {
  uv_loop_t loop;
  uv_async_t done;
  uv_timer_t guard;
  struct cg_admission *adm;
  struct cg_tcp_server *tcp;
  struct cg_http_server *http;
  int tcp_port, http_port;
  int (*client)(struct fx *f);
  int result;
};

static void on_tcp(void *arg, struct cg_tcp_request *req, const struct cg_tcp_frame *f) {
  (void)arg;
  cg_tcp_respond(req, f->msg, f->len);
}

static void on_http(void *arg, struct cg_http_request *req, const char *path, const uint8_t *body,
                    size_t len) {
  (void)arg;
  (void)path;
  cg_http_respond(req, body, len);
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

/* 1 when the server closed the connection before sending anything. */
static int closed_by_server(int fd) {
  uint8_t b;
  ssize_t n = recv(fd, &b, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

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

static int write_all(int fd, const void *p, size_t n) {
  return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
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
  if (x->tcp != NULL)
    cg_tcp_server_stop(x->tcp, NULL, NULL);
  if (x->http != NULL)
    cg_http_server_stop(x->http, NULL, NULL);
}

static void on_guard(uv_timer_t *t) {
  (void)t;
  fail_msg("the test did not finish within %d ms", GUARD_MS);
}

/* Both listeners, sharing one admission of limits al (TCP timeouts from tl),
 * serve client until it is done. */
static int run(const struct cg_admission_limits *al, const struct cg_tcp_limits *tl,
               int (*client)(struct fx *)) {
  struct fx x = {0};
  assert_int_equal(uv_loop_init(&x.loop), 0);
  assert_non_null(x.adm = cg_admission_new(al));
  struct cg_tcp_limits t = *tl;
  t.admission = x.adm;
  struct cg_http_limits h;
  cg_http_limits_default(&h);
  h.admission = x.adm;
  assert_int_equal(cg_tcp_server_start(&x.loop, "127.0.0.1", 0, &t, on_tcp, &x, &x.tcp), 0);
  assert_int_equal(cg_http_server_start(&x.loop, "127.0.0.1", 0, &h, on_http, &x, &x.http), 0);
  x.tcp_port = cg_tcp_server_port(x.tcp);
  x.http_port = cg_http_server_port(x.http);
  x.client = client;
  uv_async_init(&x.loop, &x.done, on_done);
  x.done.data = &x;
  uv_timer_init(&x.loop, &x.guard);
  uv_timer_start(&x.guard, on_guard, GUARD_MS, 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, client_main, &x), 0);
  uv_run(&x.loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  assert_int_equal(uv_loop_close(&x.loop), 0);
  struct cg_admission_stats st;
  cg_admission_stats(x.adm, &st);
  /* Everything given back: no connection, no octet still counted. */
  assert_int_equal(st.conns, 0);
  assert_int_equal(st.buffered, 0);
  cg_admission_free(x.adm);
  return x.result;
}

static void tcp_limits(struct cg_tcp_limits *l) {
  cg_tcp_limits_default(l);
  l->first_timeout_ms = 60000;
  l->read_timeout_ms = 60000;
  l->idle_timeout_ms = 60000;
}

/* Reads one HTTP response whole; its status, or -1. */
static int http_response(int fd) {
  char head[1024];
  size_t n = 0;
  while (n < sizeof head - 1 && (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0))
    if (read_n(fd, (uint8_t *)head + n++, 1) != 0)
      return -1;
  head[n] = 0;
  const char *cl = strstr(head, "Content-Length: ");
  size_t len = cl != NULL ? strtoul(cl + 16, NULL, 10) : 0;
  uint8_t body[512];
  if (len > sizeof body || read_n(fd, body, len) != 0 || strncmp(head, "HTTP/1.1 ", 9) != 0)
    return -1;
  return atoi(head + 9);
}

/* An HTTP request that gets its echo: 1 when the answer is 200. */
static int http_post(int fd, size_t body_len) {
  char head[160];
  int n = snprintf(head, sizeof head,
                   "POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: application/pkixcmp\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   body_len);
  uint8_t body[256] = {0};
  return body_len <= sizeof body && write_all(fd, head, (size_t)n) == 0 &&
         write_all(fd, body, body_len) == 0 && http_response(fd) == 200;
}

/* ---- one connection budget for every listener -------------------------- */

/* Two idle raw TCP connections take the whole budget: an HTTP connection is
 * closed at once (the caps are not per listener); when one TCP connection
 * goes, HTTP is served again. */
/* A frame of `len` octets of value: the version 10 header and zeros. */
static void frame(uint8_t *f, size_t len) {
  memset(f, 0, 7 + len);
  uint32_t n = (uint32_t)(len + 3);
  f[0] = (uint8_t)(n >> 24), f[1] = (uint8_t)(n >> 16), f[2] = (uint8_t)(n >> 8), f[3] = (uint8_t)n;
  f[4] = 10;
}

/* One small frame and its echo: the server has taken the connection. */
static int tcp_echo(int fd) {
  uint8_t f[9], got[9];
  frame(f, 2);
  return write_all(fd, f, sizeof f) == 0 && read_n(fd, got, sizeof got) == 0 && got[6] == 5;
}

static int tcp_starves_http_no_more_than_its_share(struct fx *x) {
  int a = connect_to(x->tcp_port), b = connect_to(x->tcp_port);
  int ok = a >= 0 && b >= 0 && tcp_echo(a) && tcp_echo(b);
  int c = connect_to(x->http_port);
  ok = ok && c >= 0 && closed_by_server(c);
  close(c);
  close(a);
  /* the freed place is taken as soon as the server has seen the close */
  int served = 0;
  for (int i = 0; ok && i < 200 && !served; i++) {
    int d = connect_to(x->http_port);
    served = d >= 0 && http_post(d, 10);
    close(d);
  }
  close(b);
  return ok && served;
}

static void test_all_listeners_share_one_connection_budget(void **state) {
  (void)state;
  struct cg_admission_limits al = {.max_conns = 2};
  struct cg_tcp_limits tl;
  tcp_limits(&tl);
  assert_true(run(&al, &tl, tcp_starves_http_no_more_than_its_share));
}

/* One address may hold max_conns_per_addr connections; the next is closed. */
static int third_from_one_address(struct fx *x) {
  int a = connect_to(x->http_port), b = connect_to(x->http_port);
  int ok = a >= 0 && b >= 0 && http_post(a, 5) && http_post(b, 5); /* both taken */
  int c = connect_to(x->tcp_port);
  ok = ok && c >= 0 && closed_by_server(c) && http_post(a, 5) && http_post(b, 5);
  close(a);
  close(b);
  close(c);
  return ok;
}

static void test_one_address_gets_its_share_only(void **state) {
  (void)state;
  struct cg_admission_limits al = {.max_conns = 100, .max_conns_per_addr = 2};
  struct cg_tcp_limits tl;
  tcp_limits(&tl);
  assert_true(run(&al, &tl, third_from_one_address));
}

/* ---- the budget of buffered octets --------------------------------------- */

/* A body announced larger than the budget has room for is refused with 503
 * before any of it is read; a small request is still served. */
static int announced_too_big(struct fx *x) {
  int a = connect_to(x->http_port);
  const char req[] = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: application/pkixcmp\r\n"
                     "Content-Length: 50000\r\n\r\n";
  int ok = a >= 0 && write_all(a, req, sizeof req - 1) == 0 && http_response(a) == 503;
  close(a);
  int b = connect_to(x->http_port);
  ok = ok && b >= 0 && http_post(b, 100);
  close(b);
  return ok;
}

static void test_a_body_over_the_buffer_budget_gets_503_at_once(void **state) {
  (void)state;
  struct cg_admission_limits al = {.max_conns = 100, .max_buffered = 20000};
  struct cg_tcp_limits tl;
  tcp_limits(&tl);
  assert_true(run(&al, &tl, announced_too_big));
}

#define BIG 12000
#define PART 9000

/* Two raw TCP clients each send most of a 12000-octet frame; together they
 * need more buffer than the budget (20000; a buffer grows by doubling, so
 * one frame takes 16 KiB): one gets an errorMsgRep saying
 * the server is busy, and its buffer is given back at once, so the other
 * completes its frame and gets its answer. */
static int two_partial_frames(struct fx *x) {
  static uint8_t f[7 + BIG];
  frame(f, BIG);
  int fd[2] = {connect_to(x->tcp_port), connect_to(x->tcp_port)};
  int ok = fd[0] >= 0 && fd[1] >= 0 && write_all(fd[0], f, PART) == 0 &&
           write_all(fd[1], f, PART) == 0;
  /* whichever the server refused speaks first */
  struct pollfd p[2] = {{.fd = fd[0], .events = POLLIN}, {.fd = fd[1], .events = POLLIN}};
  ok = ok && poll(p, 2, CLIENT_TIMEOUT_S * 1000) > 0;
  int refused = (p[0].revents & POLLIN) ? 0 : 1, other = 1 - refused;
  uint8_t got[128] = {0};
  ok = ok && read_n(fd[refused], got, 9) == 0 && got[4] == 10 && got[6] == 6 /* errorMsgRep */ &&
       got[7] == 0x03 && got[8] == 0x00;
  uint32_t len = (uint32_t)got[0] << 24 | (uint32_t)got[1] << 16 | (uint32_t)got[2] << 8 | got[3];
  ok = ok && len > 5 && len - 5 < sizeof got - 9 && read_n(fd[refused], got + 9, len - 5) == 0 &&
       strstr((const char *)got + 11, "busy") != NULL && closed_by_server(fd[refused]);
  static uint8_t answer[7 + BIG];
  ok = ok && write_all(fd[other], f + PART, sizeof f - PART) == 0 &&
       read_n(fd[other], answer, sizeof answer) == 0 && answer[6] == 5 /* pkiRep */;
  close(fd[0]);
  close(fd[1]);
  return ok;
}

static void test_frames_over_the_buffer_budget_are_refused_busy(void **state) {
  (void)state;
  struct cg_admission_limits al = {.max_conns = 100, .max_buffered = 20000};
  struct cg_tcp_limits tl;
  tcp_limits(&tl);
  tl.max_frame = 64 * 1024;
  assert_true(run(&al, &tl, two_partial_frames));
}

/* ---- raw TCP timeouts ------------------------------------------------------ */

/* A frame trickled in one octet at a time, each well within the read timeout
 * of the last, is still cut off read_timeout_ms after its first octet. */
static int trickle(struct fx *x) {
  uint8_t f[7 + 100];
  frame(f, 100);
  int fd = connect_to(x->tcp_port);
  int closed = 0;
  /* at most ~10 s of trickling: the deadline (300 ms) is far inside */
  for (size_t i = 0; fd >= 0 && i < sizeof f - 1 && !closed; i++) {
    if (write_all(fd, f + i, 1) != 0) {
      closed = 1;
      break;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 100) > 0)
      closed = closed_by_server(fd);
  }
  close(fd);
  return closed;
}

static void test_a_trickled_frame_times_out_from_its_first_octet(void **state) {
  (void)state;
  struct cg_admission_limits al = {.max_conns = 10};
  struct cg_tcp_limits tl;
  tcp_limits(&tl);
  tl.read_timeout_ms = 300;
  assert_true(run(&al, &tl, trickle));
}

/* A connection that never sends an octet is closed after first_timeout_ms,
 * not the (long) idle timeout between frames. */
static int silent(struct fx *x) {
  int fd = connect_to(x->tcp_port);
  int ok = fd >= 0 && closed_by_server(fd);
  close(fd);
  return ok;
}

static void test_a_silent_connection_gets_the_first_octet_timeout(void **state) {
  (void)state;
  struct cg_admission_limits al = {.max_conns = 10};
  struct cg_tcp_limits tl;
  tcp_limits(&tl);
  tl.first_timeout_ms = 50;
  assert_true(run(&al, &tl, silent));
}

/* ---- the address table ------------------------------------------------------ */

static struct cg_addr v4(uint32_t a) {
  struct sockaddr_in s = {.sin_family = AF_INET};
  s.sin_addr.s_addr = htonl(a);
  struct cg_addr out;
  assert_int_equal(cg_addr_of((struct sockaddr *)&s, &out), 0);
  return out;
}

static bool odd(struct cg_addr_entry *e, void *arg) {
  (void)arg;
  return e->v[0] % 2 == 1;
}

/* Thousands of addresses in and out: every one is found while it is in, none
 * after it left, and a sweep keeps exactly what it should. */
static void test_the_address_table_finds_what_it_holds(void **state) {
  (void)state;
  struct cg_addr_table t;
  assert_int_equal(cg_addr_table_init(&t, 0), 0);
  for (uint32_t i = 0; i < 5000; i++)
    cg_addr_table_get(&t, &(struct cg_addr){0}, true); /* len 0: never an entry */
  assert_int_equal(t.n, 0);
  for (uint32_t i = 0; i < 5000; i++) {
    struct cg_addr a = v4(0x0a000000 + i * 7919);
    struct cg_addr_entry *e = cg_addr_table_get(&t, &a, true);
    assert_non_null(e);
    e->v[0] = i;
  }
  assert_int_equal(t.n, 5000);
  for (uint32_t i = 0; i < 5000; i += 3) {
    struct cg_addr a = v4(0x0a000000 + i * 7919);
    cg_addr_table_remove(&t, cg_addr_table_get(&t, &a, false));
  }
  for (uint32_t i = 0; i < 5000; i++) {
    struct cg_addr a = v4(0x0a000000 + i * 7919);
    struct cg_addr_entry *e = cg_addr_table_get(&t, &a, false);
    if (i % 3 == 0) {
      assert_null(e);
    } else {
      assert_non_null(e);
      assert_int_equal(e->v[0], i);
    }
  }
  cg_addr_table_sweep(&t, odd, NULL);
  for (uint32_t i = 0; i < 5000; i++) {
    struct cg_addr a = v4(0x0a000000 + i * 7919);
    struct cg_addr_entry *e = cg_addr_table_get(&t, &a, false);
    assert_true((e != NULL) == (i % 3 != 0 && i % 2 == 0));
  }
  cg_addr_table_free(&t);
  /* A bounded table finds no room beyond its cap. */
  assert_int_equal(cg_addr_table_init(&t, 2), 0);
  struct cg_addr a = v4(1), b = v4(2), c = v4(3);
  assert_non_null(cg_addr_table_get(&t, &a, true));
  assert_non_null(cg_addr_table_get(&t, &b, true));
  assert_null(cg_addr_table_get(&t, &c, true));
  cg_addr_table_free(&t);
}

/* IPv6 counts by its /64; IPv4-mapped IPv6 as the IPv4 address. */
static void test_addresses_count_ipv6_by_prefix(void **state) {
  (void)state;
  struct sockaddr_in6 s = {.sin6_family = AF_INET6};
  struct cg_addr a, b, m;
  inet_pton(AF_INET6, "2001:db8:1:2::1", &s.sin6_addr);
  assert_int_equal(cg_addr_of((struct sockaddr *)&s, &a), 0);
  inet_pton(AF_INET6, "2001:db8:1:2:ffff::7", &s.sin6_addr);
  assert_int_equal(cg_addr_of((struct sockaddr *)&s, &b), 0);
  assert_int_equal(a.len, 8);
  assert_memory_equal(&a, &b, sizeof a);
  char text[CG_ADDR_TEXT];
  cg_addr_text(&a, text);
  assert_string_equal(text, "2001:db8:1:2::/64");
  inet_pton(AF_INET6, "::ffff:192.0.2.7", &s.sin6_addr);
  assert_int_equal(cg_addr_of((struct sockaddr *)&s, &m), 0);
  cg_addr_text(&m, text);
  assert_string_equal(text, "192.0.2.7");
}

/* ---- the failed-check budget ------------------------------------------------ */

/* burst failures in a row, then one per interval; the refusal says when to
 * come back; successes are never counted; other addresses are untouched. */
static void test_failed_checks_draw_down_a_budget_that_refills(void **state) {
  (void)state;
  struct cg_guard g;
  struct cg_addr a = v4(0x7f000001), b = v4(0x7f000002);
  unsigned retry = 0;
  uint64_t t = 1000000;
  assert_int_equal(cg_guard_init(&g, 3, 1000), 0);
  for (int i = 0; i < 3; i++) {
    assert_true(cg_guard_admits(&g, &a, t, &retry));
    cg_guard_failed(&g, &a, t);
  }
  assert_false(cg_guard_admits(&g, &a, t, &retry));
  assert_int_equal(retry, 1);
  assert_true(cg_guard_admits(&g, &b, t, &retry));
  assert_false(cg_guard_admits(&g, &a, t + 999, &retry));
  assert_true(cg_guard_admits(&g, &a, t + 1000, &retry)); /* one more after an interval */
  cg_guard_failed(&g, &a, t + 1000);
  assert_false(cg_guard_admits(&g, &a, t + 1000, &retry));
  assert_true(cg_guard_admits(&g, &a, t + 4000, &retry)); /* paid off: the whole burst */
  assert_int_equal(g.refused, 3);
  assert_int_equal(g.failed, 4);
  cg_guard_sweep(&g, t + 4000);
  assert_int_equal(g.table.n, 0);
  cg_guard_free(&g);
  /* burst 0: nothing is ever refused */
  assert_int_equal(cg_guard_init(&g, 0, 1000), 0);
  for (int i = 0; i < 100; i++)
    cg_guard_failed(&g, &a, t);
  assert_true(cg_guard_admits(&g, &a, t, &retry));
  cg_guard_free(&g);
}

/* When the table is full, the addresses without an entry share one budget:
 * spraying addresses costs no memory and throttles only other newcomers. */
static void test_a_full_table_makes_newcomers_share_a_budget(void **state) {
  (void)state;
  struct cg_guard g;
  unsigned retry;
  assert_int_equal(cg_guard_init(&g, 2, 60000), 0);
  g.table.max = 4;
  for (uint32_t i = 0; i < 4; i++) {
    struct cg_addr x = v4(0x0a000000 + i);
    cg_guard_failed(&g, &x, 1000);
  }
  struct cg_addr n1 = v4(0x0b000001), n2 = v4(0x0b000002), n3 = v4(0x0b000003);
  struct cg_addr old = v4(0x0a000000);
  cg_guard_failed(&g, &n1, 1000);
  cg_guard_failed(&g, &n2, 1000);
  assert_int_equal(g.table.n, 4);
  assert_false(cg_guard_admits(&g, &n3, 1000, &retry)); /* the shared one is spent */
  assert_true(cg_guard_admits(&g, &old, 1000, &retry));             /* its own: one failure */
  cg_guard_free(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_all_listeners_share_one_connection_budget),
      cmocka_unit_test(test_one_address_gets_its_share_only),
      cmocka_unit_test(test_a_body_over_the_buffer_budget_gets_503_at_once),
      cmocka_unit_test(test_frames_over_the_buffer_budget_are_refused_busy),
      cmocka_unit_test(test_a_trickled_frame_times_out_from_its_first_octet),
      cmocka_unit_test(test_a_silent_connection_gets_the_first_octet_timeout),
      cmocka_unit_test(test_the_address_table_finds_what_it_holds),
      cmocka_unit_test(test_addresses_count_ipv6_by_prefix),
      cmocka_unit_test(test_failed_checks_draw_down_a_budget_that_refills),
      cmocka_unit_test(test_a_full_table_makes_newcomers_share_a_budget),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
