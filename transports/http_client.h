/*
 * http_client.h - an HTTP/1.1 POST client on libuv with llhttp: what `cmpgw
 * client` speaks to a CMP server (RFC 9811), and what the upstream CMP
 * backend will use to reach its CA.
 *
 * One struct cg_http_client is one connection to one server, used for one
 * request at a time: the messages of a CMP transaction go one after the
 * other over the same kept-alive connection.  The connection is opened by
 * the first cg_http_client_post(); when the server closes it (or asks to,
 * "Connection: close"), or a request fails, the next post opens a new one.
 *
 * Every request has a deadline (the timeout, from the post to the last
 * octet of the response: connecting, sending and waiting together) and a
 * bounded response: a header block over max_header or a body over max_body
 * is refused and the connection closed.  The body is read into memory.
 *
 * Hosts are numeric IPv4 or IPv6 addresses, or "localhost" (127.0.0.1):
 * there is no name resolution.  Everything runs on the loop thread.
 */
#ifndef CG_TRANSPORTS_HTTP_CLIENT_H
#define CG_TRANSPORTS_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct cg_tls_client;

struct cg_http_client_opts {
  const char *host;    /* "127.0.0.1", "::1", "localhost" */
  int port;            /* 1..65535 */
  size_t max_header;   /* octets of status line + headers; 0: 8 KiB */
  size_t max_body;     /* octets of response body; 0: 256 KiB */
  uint64_t timeout_ms; /* per request; 0: 30 s */
  /* HTTPS: every connection is a TLS session of tls (borrowed: it outlives
   * the client), checked against host; NULL: plain HTTP.  A handshake that
   * fails is CG_ECONNECT (nothing was sent), its reason the detail. */
  struct cg_tls_client *tls;
  /* Closes the connection after each response, as OpenSSL's client does
   * (benchmarks of that traffic); false: kept alive. */
  bool close_each;
};

/* A complete response.  content_type is NUL terminated ("" when the
 * response had none); body is not (len octets, len may be 0).  Both are
 * owned by the client and valid only during the callback. */
struct cg_http_response {
  int status;
  const char *content_type;
  const uint8_t *body;
  size_t len;
};

/* Called once per post, on the loop.  err is 0 with rsp set (whatever the
 * HTTP status), or, with rsp NULL:
 *   CG_ECONNECT  the connection could not be made: nothing was sent, so
 *                sending the request again is safe (detail in
 *                cg_http_client_detail());
 *   CG_EIO       the connection broke;
 *   CG_ECLOSED   the server closed the connection before the response was
 *                complete, or the client was closed meanwhile;
 *   CG_ETIMEOUT  no complete response within the timeout;
 *   CG_ETOO_BIG  the response header block or body exceeds the limits;
 *   CG_EBAD_DATA the response is not HTTP/1.x.
 * After an error the connection is closed.  The callback may post the next
 * request, or close the client. */
typedef void (*cg_http_client_cb)(void *arg, int err, const struct cg_http_response *rsp);

struct cg_http_client;

/* Makes a client for opts->host:opts->port (nothing is connected yet).
 * 0, CG_EINVAL (a host that is not numeric or "localhost", a bad port),
 * CG_ENOMEM. */
int cg_http_client_new(uv_loop_t *loop, const struct cg_http_client_opts *opts,
                       struct cg_http_client **out);

/* Sends "POST path HTTP/1.1" with Content-Type application/pkixcmp and the
 * body (copied) and calls cb(arg, ...) once with the outcome.  path must
 * start with '/' and hold no whitespace or control characters.  Returns 0
 * (cb will be called), CG_EBUSY (a request is in flight, or the client is
 * closing), CG_EINVAL (bad path), CG_ENOMEM, CG_ECONNECT or CG_EIO (the
 * connection could not be started: nothing was sent); cb is not called then. */
int cg_http_client_post(struct cg_http_client *c, const char *path, const uint8_t *body,
                        size_t len, cg_http_client_cb cb, void *arg);

/* Closes the connection and frees the client.  A request in flight gets its
 * callback with CG_ECLOSED first; on_closed(arg) (may be NULL) runs on the
 * loop once every handle is closed, after which c is gone.  May be called
 * from the post callback. */
void cg_http_client_close(struct cg_http_client *c, void (*on_closed)(void *arg), void *arg);

/* Connections opened so far (one for any number of requests on a kept-alive
 * connection). */
unsigned cg_http_client_connections(const struct cg_http_client *c);

/* A NUL-terminated description of the last transport failure ("connect:
 * connection refused"); "" when there was none. */
const char *cg_http_client_detail(const struct cg_http_client *c);

#endif
