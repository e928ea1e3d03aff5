/*
 * test_tcp_client.c - one CMP-over-TCP exchange (transports/tcp_client.h)
 * against a raw server in the same loop that answers as each test asks: the
 * request framed as asked and its answer read back in both framings, an
 * answer of exactly the limit taken and one octet more refused, a closed
 * port, a server that closes before or in the middle of its answer, one
 * that answers in the other framing, one that never answers (the
 * exchange's own short timeout), arguments refused before anything is made,
 * and every allocation failing in turn.
 *
 * The raw server keeps its connections in a static array (no allocation of
 * its own, so that failalloc.h only fails the client's).  Each test ends
 * when the exchange's callback has run and every handle is closed; a
 * generous guard timer fails a run that does not end, and only outcomes are
 * asserted, never how long anything took.  Every run ends with
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
#include "failalloc.h"
#include "transports/tcp_client.h"

#define GUARD_MS 30000
#define MAX_CONNS 4
#define LIMIT 64 /* max_frame of most tests */

enum mode {
  ANS_ECHO,           /* answer the value back: pkiMsg -> finalMsgRep, pollReq -> pollRep */
  ANS_SIZED,          /* an answer whose value is answer_len octets of 'a' */
  ANS_CLOSE,          /* close without a word once the request is in */
  ANS_PARTIAL,        /* the header of a 32-octet answer and 3 octets, then FIN */
  ANS_OTHER_FRAMING,  /* a whole answer, in the framing not asked for */
  ANS_SILENT,         /* read the request, never answer */
};

struct conn {
  uv_tcp_t tcp;
  uv_write_t wr;
  uv_shutdown_t sd;
  struct fx *f;
  uint8_t in[4096];
  size_t in_len;
  bool answered, used;
  uint8_t out[LIMIT * 4 + 16];
};

struct fx {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_timer_t guard;
  bool listening;
  int port;
  enum mode mode;
  size_t answer_len;
  struct conn conns[MAX_CONNS];
  size_t n_conns;
  /* the request as the server saw it */
  uint8_t req[4096];
  size_t req_len;
  /* what the callback got */
  int calls, err;
  struct cg_tcp_answer a;
  uint8_t value[4096];
  char detail[160];
};

/* ---- the raw server ---------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h) {
  struct conn *c = h->data;
  c->used = false;
}

static void conn_close(struct conn *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *sd, int status) {
  (void)status;
  /* The client reads the FIN and closes; the server's read ends then. */
  (void)sd;
}

static void on_written(uv_write_t *w, int status) {
  struct conn *c = w->data;
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (c->f->mode == ANS_PARTIAL && uv_shutdown(&c->sd, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
    conn_close(c);
}

/* Writes a frame of the given framing around value (or just the first
 * `send` octets of it, header included, when send is not 0). */
static void write_frame(struct conn *c, enum cg_tcp_framing framing, int type, const uint8_t *value,
                        size_t len, size_t send) {
  size_t hdr = cg_tcp_frame_header(framing, type, 0, len, c->out);
  size_t n = hdr + len;
  assert_true(n <= sizeof c->out || send != 0);
  if (send == 0) {
    memcpy(c->out + hdr, value, len);
  } else {
    memcpy(c->out + hdr, value, send - hdr);
    n = send;
  }
  uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)n);
  assert_int_equal(uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written), 0);
}

static void answer(struct conn *c) {
  struct fx *f = c->f;
  enum cg_tcp_framing framing = c->in[4] == 10 ? CG_TCP_V10 : CG_TCP_RFC2510;
  size_t hdr = framing == CG_TCP_V10 ? 7 : 5;
  int type = c->in[hdr - 1];
  const uint8_t *value = c->in + hdr;
  size_t len = c->in_len - hdr;
  static uint8_t filler[LIMIT * 4];
  memset(filler, 'a', sizeof filler);
  c->answered = true;
  switch (f->mode) {
  case ANS_ECHO:
    write_frame(c, framing, type == 2 ? 1 : 5, value, len, 0);
    break;
  case ANS_SIZED:
    assert_true(f->answer_len <= sizeof filler);
    write_frame(c, framing, 5, filler, f->answer_len, 0);
    break;
  case ANS_CLOSE:
    conn_close(c);
    break;
  case ANS_PARTIAL:
    write_frame(c, framing, 5, filler, 32, hdr + 3);
    break;
  case ANS_OTHER_FRAMING:
    write_frame(c, framing == CG_TCP_V10 ? CG_TCP_RFC2510 : CG_TCP_V10, 5, value, len, 0);
    break;
  case ANS_SILENT:
    break;
  }
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  struct conn *c = h->data;
  *b = uv_buf_init((char *)c->in + c->in_len, (unsigned)(sizeof c->in - c->in_len));
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  struct conn *c = s->data;
  if (n < 0) { /* the client is done (or gone) */
    conn_close(c);
    return;
  }
  c->in_len += (size_t)n;
  if (c->answered || c->in_len < 4)
    return;
  size_t want = 4 + (size_t)cg_tcp_get32(c->in);
  if (want > sizeof c->in) {
    conn_close(c);
    return;
  }
  if (c->in_len < want)
    return;
  struct fx *f = c->f;
  if (f->req_len == 0) {
    memcpy(f->req, c->in, c->in_len);
    f->req_len = c->in_len;
  }
  answer(c);
}

static void on_connection(uv_stream_t *ls, int status) {
  struct fx *f = ls->data;
  assert_int_equal(status, 0);
  struct conn *c = NULL;
  for (size_t i = 0; i < MAX_CONNS; i++)
    if (!f->conns[i].used)
      c = &f->conns[i];
  assert_non_null(c);
  memset(c, 0, sizeof *c);
  c->used = true;
  c->f = f;
  f->n_conns++;
  uv_tcp_init(&f->loop, &c->tcp);
  c->tcp.data = c->wr.data = c->sd.data = c;
  assert_int_equal(uv_accept(ls, (uv_stream_t *)&c->tcp), 0);
  assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read), 0);
}

/* ---- the run -------------------------------------------------------------- */

static void on_guard(uv_timer_t *t) {
  (void)t;
  fail_msg("the exchange did not end within %d ms", GUARD_MS);
}

static void on_answer(void *arg, int err, const struct cg_tcp_answer *a, const char *detail) {
  struct fx *f = arg;
  f->calls++;
  f->err = err;
  snprintf(f->detail, sizeof f->detail, "%s", detail != NULL ? detail : "(null)");
  if (err == 0) {
    assert_non_null(a);
    f->a = *a;
    assert_true(a->len <= sizeof f->value);
    if (a->len)
      memcpy(f->value, a->value, a->len);
    f->a.value = f->value;
  } else {
    assert_null(a);
  }
  /* The exchange has closed its connection: the servers go too. */
  if (f->listening)
    uv_close((uv_handle_t *)&f->listener, NULL);
  f->listening = false;
  uv_close((uv_handle_t *)&f->guard, NULL);
}

static void fx_init(struct fx *f, enum mode mode) {
  memset(f, 0, sizeof *f);
  f->mode = mode;
  assert_int_equal(uv_loop_init(&f->loop), 0);
  uv_timer_init(&f->loop, &f->guard);
  uv_timer_start(&f->guard, on_guard, GUARD_MS, 0);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(&f->loop, &f->listener);
  f->listener.data = f;
  assert_int_equal(uv_tcp_bind(&f->listener, (const struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&f->listener, 16, on_connection), 0);
  f->listening = true;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  assert_int_equal(uv_tcp_getsockname(&f->listener, (struct sockaddr *)&ss, &len), 0);
  f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static struct cg_tcp_exchange_opts opts(struct fx *f, enum cg_tcp_framing framing) {
  return (struct cg_tcp_exchange_opts){
      .host = "127.0.0.1", .port = f->port, .framing = framing, .max_frame = LIMIT};
}

/* Runs one exchange to its end. */
static void exchange(struct fx *f, const struct cg_tcp_exchange_opts *o, int type,
                     const uint8_t *value, size_t len) {
  assert_int_equal(cg_tcp_exchange(&f->loop, o, type, value, len, on_answer, f), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(f->calls, 1);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

static const uint8_t msg[] = {0x30, 0x03, 0x02, 0x01, 0x02}; /* stands for a PKIMessage */

/* ---- framing ------------------------------------------------------------------ */

static void test_frame_headers_count_the_octets_after_the_length(void **state) {
  (void)state;
  uint8_t h[7];
  static const uint8_t rfc2510[] = {0, 0, 0, 6, 0};
  assert_int_equal(cg_tcp_frame_header(CG_TCP_RFC2510, 0, 0, 5, h), 5);
  assert_memory_equal(h, rfc2510, 5);
  static const uint8_t v10[] = {0, 0, 1, 3, 10, 1, 2};
  assert_int_equal(cg_tcp_frame_header(CG_TCP_V10, 2, 1, 256, h), 7);
  assert_memory_equal(h, v10, 7);
  uint8_t n[4];
  cg_tcp_put32(n, 0xdeadbeef);
  static const uint8_t be[] = {0xde, 0xad, 0xbe, 0xef};
  assert_memory_equal(n, be, 4);
  assert_int_equal(cg_tcp_get32(n), 0xdeadbeef);
}

static void test_a_request_gets_its_answer_in_rfc2510_framing(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, ANS_ECHO);
  struct cg_tcp_exchange_opts o = opts(&f, CG_TCP_RFC2510);
  exchange(&f, &o, 0, msg, sizeof msg);
  assert_int_equal(f.err, 0);
  static const uint8_t sent[] = {0, 0, 0, 6, 0, 0x30, 0x03, 0x02, 0x01, 0x02};
  assert_int_equal(f.req_len, sizeof sent);
  assert_memory_equal(f.req, sent, sizeof sent);
  assert_int_equal(f.a.type, 5); /* finalMsgRep */
  assert_int_equal(f.a.flags, 0);
  assert_int_equal(f.a.len, sizeof msg);
  assert_memory_equal(f.a.value, msg, sizeof msg);
  assert_int_equal(f.n_conns, 1);
}

static void test_a_request_gets_its_answer_in_version_10_framing(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, ANS_ECHO);
  struct cg_tcp_exchange_opts o = opts(&f, CG_TCP_V10);
  exchange(&f, &o, 0, msg, sizeof msg);
  assert_int_equal(f.err, 0);
  static const uint8_t sent[] = {0, 0, 0, 8, 10, 0, 0, 0x30, 0x03, 0x02, 0x01, 0x02};
  assert_int_equal(f.req_len, sizeof sent);
  assert_memory_equal(f.req, sent, sizeof sent);
  assert_int_equal(f.a.type, 5); /* pkiRep */
  assert_int_equal(f.a.flags, 0);
  assert_int_equal(f.a.len, sizeof msg);
  assert_memory_equal(f.a.value, msg, sizeof msg);
}

/* A pollReq goes out with its type, and "localhost" is the loopback. */
static void test_a_poll_request_to_localhost_gets_a_poll_answer(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, ANS_ECHO);
  struct cg_tcp_exchange_opts o = opts(&f, CG_TCP_V10);
  o.host = "localhost";
  static const uint8_t ref[] = {0, 0, 0, 7};
  exchange(&f, &o, 2, ref, sizeof ref);
  assert_int_equal(f.err, 0);
  assert_int_equal(f.req[6], 2);
  assert_int_equal(f.a.type, 1); /* pollRep */
  assert_int_equal(f.a.len, sizeof ref);
  assert_memory_equal(f.a.value, ref, sizeof ref);
}

/* An answer with no value at all is a whole frame too. */
static void test_an_empty_answer_is_a_whole_frame(void **state) {
  (void)state;
  for (int v10 = 0; v10 < 2; v10++) {
    struct fx f;
    fx_init(&f, ANS_SIZED);
    f.answer_len = 0;
    struct cg_tcp_exchange_opts o = opts(&f, v10 ? CG_TCP_V10 : CG_TCP_RFC2510);
    exchange(&f, &o, 0, msg, sizeof msg);
    assert_int_equal(f.err, 0);
    assert_int_equal(f.a.type, 5);
    assert_int_equal(f.a.len, 0);
  }
}

/* ---- limits ---------------------------------------------------------------- */

/* max_frame counts the answer's value: exactly that many octets are
 * taken, in either framing. */
static void test_an_answer_of_exactly_the_limit_is_taken(void **state) {
  (void)state;
  for (int v10 = 0; v10 < 2; v10++) {
    struct fx f;
    fx_init(&f, ANS_SIZED);
    f.answer_len = LIMIT;
    struct cg_tcp_exchange_opts o = opts(&f, v10 ? CG_TCP_V10 : CG_TCP_RFC2510);
    exchange(&f, &o, 0, msg, sizeof msg);
    assert_int_equal(f.err, 0);
    assert_int_equal(f.a.len, LIMIT);
    assert_int_equal(f.value[LIMIT - 1], 'a');
  }
}

static void test_an_answer_over_the_limit_is_refused(void **state) {
  (void)state;
  static const size_t over[] = {LIMIT + 1, LIMIT + 2, LIMIT * 4};
  for (int v10 = 0; v10 < 2; v10++)
    for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
      struct fx f;
      fx_init(&f, ANS_SIZED);
      f.answer_len = over[i];
      struct cg_tcp_exchange_opts o = opts(&f, v10 ? CG_TCP_V10 : CG_TCP_RFC2510);
      exchange(&f, &o, 0, msg, sizeof msg);
      if (f.err != CG_ETOO_BIG)
        fail_msg("%s answer of %zu octets (limit %d): %s", v10 ? "version 10" : "RFC 2510",
                 over[i], LIMIT, cg_strerror(f.err));
      assert_string_equal(f.detail, "the answer is larger than the limit");
    }
}

/* ---- failures ---------------------------------------------------------------- */

static void test_a_closed_port_is_a_connect_error_with_detail(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, ANS_ECHO);
  /* The port of a listener that is closed before the exchange. */
  uv_close((uv_handle_t *)&f.listener, NULL);
  f.listening = false;
  struct cg_tcp_exchange_opts o = opts(&f, CG_TCP_RFC2510);
  exchange(&f, &o, 0, msg, sizeof msg);
  assert_int_equal(f.err, CG_ECONNECT);
  assert_string_equal(f.detail, "connect: connection refused");
  assert_int_equal(f.n_conns, 0);
}

static void test_a_server_that_closes_without_answering_is_closed(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, ANS_CLOSE);
  struct cg_tcp_exchange_opts o = opts(&f, CG_TCP_V10);
  exchange(&f, &o, 0, msg, sizeof msg);
  assert_true(f.err == CG_ECLOSED || f.err == CG_EIO); /* FIN or reset */
  assert_int_equal(f.req_len, 12);
}

static void test_a_server_that_closes_mid_answer_is_closed(void **state) {
  (void)state;
  for (int v10 = 0; v10 < 2; v10++) {
    struct fx f;
    fx_init(&f, ANS_PARTIAL);
    struct cg_tcp_exchange_opts o = opts(&f, v10 ? CG_TCP_V10 : CG_TCP_RFC2510);
    exchange(&f, &o, 0, msg, sizeof msg);
    assert_int_equal(f.err, CG_ECLOSED);
    assert_string_equal(f.detail, "the server closed the connection before a whole frame");
  }
}

static void test_an_answer_in_the_other_framing_is_bad_data(void **state) {
  (void)state;
  for (int v10 = 0; v10 < 2; v10++) {
    struct fx f;
    fx_init(&f, ANS_OTHER_FRAMING);
    struct cg_tcp_exchange_opts o = opts(&f, v10 ? CG_TCP_V10 : CG_TCP_RFC2510);
    exchange(&f, &o, 0, msg, sizeof msg);
    assert_int_equal(f.err, CG_EBAD_DATA);
    assert_string_equal(f.detail, "the answer is not a frame of the framing asked for");
  }
}

/* The server reads the request and says nothing: the exchange's timeout
 * ends it.  Only the outcome is asserted. */
static void test_a_server_that_never_answers_times_out(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, ANS_SILENT);
  struct cg_tcp_exchange_opts o = opts(&f, CG_TCP_V10);
  o.timeout_ms = 100;
  exchange(&f, &o, 0, msg, sizeof msg);
  assert_int_equal(f.err, CG_ETIMEOUT);
  assert_string_equal(f.detail, "no complete answer in time");
}

static void test_bad_arguments_are_refused_before_anything_is_made(void **state) {
  (void)state;
  uv_loop_t loop;
  struct fx f = {0};
  assert_int_equal(uv_loop_init(&loop), 0);
  static const char *const hosts[] = {"example.com", "", "[::1]", "127.0.0.1:80", "1.2.3"};
  struct cg_tcp_exchange_opts o = {.host = NULL, .port = 829, .framing = CG_TCP_V10};
  assert_int_equal(cg_tcp_exchange(&loop, &o, 0, msg, sizeof msg, on_answer, &f), CG_EINVAL);
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
    o.host = hosts[i];
    assert_int_equal(cg_tcp_exchange(&loop, &o, 0, msg, sizeof msg, on_answer, &f), CG_EINVAL);
  }
  o.host = "127.0.0.1";
  o.port = 0;
  assert_int_equal(cg_tcp_exchange(&loop, &o, 0, msg, sizeof msg, on_answer, &f), CG_EINVAL);
  o.port = 65536;
  assert_int_equal(cg_tcp_exchange(&loop, &o, 0, msg, sizeof msg, on_answer, &f), CG_EINVAL);
  o.port = 829;
  assert_int_equal(cg_tcp_exchange(&loop, &o, 0, msg, UINT32_MAX, on_answer, &f), CG_EINVAL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(f.calls, 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- allocation failures ------------------------------------------------ */

/* Each allocation of the exchange failing in turn: cg_tcp_exchange()
 * returns CG_ENOMEM and never calls back, or the callback runs once with
 * CG_ENOMEM (the server is sound: nothing else can fail); the loop closes
 * cleanly and nothing leaks (the sanitizers watch).  Past the last
 * allocation, the answer comes. */
static void test_every_allocation_failing_in_turn_fails_cleanly(void **state) {
  (void)state;
  unsigned n;
  bool refused_at_once = false, failed_later = false;
  for (n = 1; n < 50; n++) {
    struct fx f;
    fx_init(&f, ANS_ECHO);
    struct cg_tcp_exchange_opts o = opts(&f, CG_TCP_RFC2510);
    failalloc_arm(n);
    int err = cg_tcp_exchange(&f.loop, &o, 0, msg, sizeof msg, on_answer, &f);
    if (err != 0) {
      assert_int_equal(err, CG_ENOMEM);
      refused_at_once = true;
      uv_close((uv_handle_t *)&f.listener, NULL);
      uv_close((uv_handle_t *)&f.guard, NULL);
    }
    uv_run(&f.loop, UV_RUN_DEFAULT);
    bool fired = failalloc_fired();
    failalloc_disarm();
    assert_int_equal(uv_loop_close(&f.loop), 0);
    assert_int_equal(f.calls, err == 0 ? 1 : 0);
    if (err == 0 && f.err != 0) {
      assert_true(fired);
      if (f.err != CG_ENOMEM)
        fail_msg("allocation %u failing: %s (%s)", n, cg_strerror(f.err), f.detail);
      failed_later = true;
    }
    if (!fired) {
      assert_int_equal(f.err, 0);
      assert_memory_equal(f.value, msg, sizeof msg);
      break;
    }
  }
  assert_true(n < 50);
  assert_true(refused_at_once);
  assert_true(failed_later);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frame_headers_count_the_octets_after_the_length),
      cmocka_unit_test(test_a_request_gets_its_answer_in_rfc2510_framing),
      cmocka_unit_test(test_a_request_gets_its_answer_in_version_10_framing),
      cmocka_unit_test(test_a_poll_request_to_localhost_gets_a_poll_answer),
      cmocka_unit_test(test_an_empty_answer_is_a_whole_frame),
      cmocka_unit_test(test_an_answer_of_exactly_the_limit_is_taken),
      cmocka_unit_test(test_an_answer_over_the_limit_is_refused),
      cmocka_unit_test(test_a_closed_port_is_a_connect_error_with_detail),
      cmocka_unit_test(test_a_server_that_closes_without_answering_is_closed),
      cmocka_unit_test(test_a_server_that_closes_mid_answer_is_closed),
      cmocka_unit_test(test_an_answer_in_the_other_framing_is_bad_data),
      cmocka_unit_test(test_a_server_that_never_answers_times_out),
      cmocka_unit_test(test_bad_arguments_are_refused_before_anything_is_made),
      cmocka_unit_test(test_every_allocation_failing_in_turn_fails_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
