/*
 * fuzz_transport.c - libFuzzer target for the two listeners as a peer sees
 * them: the input's first octet picks HTTP (even) or raw TCP (odd), the rest
 * is written to a fresh connection on loopback, then the client's write side
 * is shut.  The servers run on this thread's loop with small limits; the
 * handlers answer at once (HTTP: the body echoed; TCP: the message echoed, a
 * pollReq with a pollRep).
 *
 * Besides crashes and sanitizer reports, for any input:
 *   - the server closes the connection once the client has said all it will
 *     (no input holds a connection open after the client's end), and every
 *     connection is freed (the servers count none afterwards);
 *   - what comes back is a sequence of well-formed answers: HTTP status lines
 *     "HTTP/1.1 NNN " with a Content-Length that matches; TCP frames whose
 *     length field covers exactly what follows, of a type a server sends.
 * Build with -DCMPGW_FUZZ=ON and CC=clang; run e.g. ./fuzz_transport -max_total_time=20.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "transports/http.h"
#include "transports/tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static struct cg_http_server *http;
static struct cg_tcp_server *tcp;
static int http_port, tcp_port;

static void require(bool ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "fuzz_transport: %s\n", what);
    abort();
  }
}

static void on_http(void *arg, struct cg_http_request *req, const char *path, const uint8_t *body,
                    size_t len) {
  (void)arg;
  require(path[0] != 0, "empty path handed out");
  cg_http_respond(req, body, len);
}

static void on_tcp(void *arg, struct cg_tcp_request *req, const struct cg_tcp_frame *f) {
  (void)arg;
  if (f->is_poll)
    cg_tcp_respond_poll(req, f->poll_ref, 5);
  else
    cg_tcp_respond(req, f->msg, f->len);
}

static void start(void) {
  require(uv_loop_init(&loop) == 0, "loop");
  struct cg_http_limits hl;
  cg_http_limits_default(&hl);
  hl.max_header = 1024;
  hl.max_body = 4096;
  struct cg_tcp_limits tl;
  cg_tcp_limits_default(&tl);
  tl.max_frame = 4096;
  require(cg_http_server_start(&loop, "127.0.0.1", 0, &hl, on_http, NULL, &http) == 0, "http");
  require(cg_tcp_server_start(&loop, "127.0.0.1", 0, &tl, on_tcp, NULL, &tcp) == 0, "tcp");
  http_port = cg_http_server_port(http);
  tcp_port = cg_tcp_server_port(tcp);
}

/* Runs the loop until cond() holds, polling the client socket too; aborts
 * after 10 s (a connection the server never ends is a bug). */
static void run_until(bool (*cond)(void *), void *arg) {
  for (int i = 0; i < 10000; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    if (cond(arg))
      return;
    struct pollfd p = {.fd = uv_backend_fd(&loop), .events = POLLIN};
    poll(&p, 1, 1);
  }
  require(false, "the server did not end the connection");
}

struct client {
  int fd;
  uint8_t got[65536];
  size_t len;
  bool eof;
};

static bool client_done(void *arg) {
  struct client *c = arg;
  for (;;) {
    ssize_t n = recv(c->fd, c->got + c->len, sizeof c->got - c->len, MSG_DONTWAIT);
    if (n > 0) {
      c->len += (size_t)n;
      require(c->len < sizeof c->got, "answers larger than any input allows");
      continue;
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      c->eof = true;
    return c->eof;
  }
}

static bool no_connections(void *arg) {
  (void)arg;
  return cg_http_server_conns(http) == 0 && cg_http_server_pending(http) == 0 &&
         cg_tcp_server_conns(tcp) == 0;
}

static void check_http(const uint8_t *p, size_t n) {
  while (n > 0) {
    require(n >= 13 && memcmp(p, "HTTP/1.1 ", 9) == 0, "not an HTTP/1.1 status line");
    const uint8_t *end = NULL;
    for (size_t i = 0; i + 3 < n; i++)
      if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
        end = p + i + 4;
        break;
      }
    require(end != NULL, "an answer's header block does not end");
    char head[1024];
    size_t hl = (size_t)(end - p) < sizeof head - 1 ? (size_t)(end - p) : sizeof head - 1;
    memcpy(head, p, hl);
    head[hl] = 0;
    if (strncmp(head + 9, "100 ", 4) == 0) { /* an interim answer, no body */
      n -= (size_t)(end - p);
      p = end;
      continue;
    }
    const char *cl = strstr(head, "Content-Length: ");
    require(cl != NULL, "an answer without Content-Length");
    size_t body = strtoul(cl + 16, NULL, 10);
    require((size_t)(end - p) + body <= n, "an answer shorter than its Content-Length");
    n -= (size_t)(end - p) + body;
    p = end + body;
  }
}

static void check_tcp(const uint8_t *p, size_t n) {
  while (n > 0) {
    require(n >= 5, "a frame shorter than its header");
    uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    require(len >= 1 && (size_t)len <= n - 4, "a frame's length does not match");
    int type = p[4] == 10 ? (len >= 3 ? p[6] : -1) : p[4];
    require(type == 1 || type == 5 || type == 6, "a frame of a type only clients send");
    n -= 4 + (size_t)len;
    p += 4 + (size_t)len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool started;
  if (!started) {
    start();
    started = true;
  }
  if (size == 0)
    return 0;
  bool is_tcp = data[0] & 1;
  struct client *c = calloc(1, sizeof *c);
  require(c != NULL, "memory");
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)(is_tcp ? tcp_port : http_port))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  require(connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0, "connect");
  /* Inputs are small (libFuzzer's default -max_len 4096): they fit the
   * socket's buffer, so the write does not wait for the server. */
  require(send(c->fd, data + 1, size - 1, MSG_NOSIGNAL) == (ssize_t)(size - 1) || size == 1,
          "send");
  shutdown(c->fd, SHUT_WR);
  run_until(client_done, c);
  close(c->fd);
  run_until(no_connections, NULL);
  if (is_tcp)
    check_tcp(c->got, c->len);
  else
    check_http(c->got, c->len);
  free(c);
  return 0;
}
