/*
 * http.h - the CMP-over-HTTP listener (RFC 9811), on libuv with llhttp.
 *
 * One struct per connection embeds its uv_tcp_t; bytes go straight into a
 * bounded buffer and through llhttp.  The transport enforces HTTP rules only:
 *   - POST only (405 with "Allow: POST" otherwise);
 *   - Content-Type application/pkixcmp (415 otherwise);
 *   - header block <= max_header (431), body <= max_body (413);
 *   - header, body and idle timeouts (the connection is closed; 408 when a
 *     request was begun);
 *   - the connections and buffered octets its admission allows (in all and
 *     per client address; further connections are accepted and closed, a
 *     request over the buffer budget gets 503);
 *   - runs of '/' in the path count as one;
 *   - HTTP/1.1 keep-alive by default, HTTP/1.0 closes unless the request says
 *     "Connection: keep-alive"; pipelined requests are answered in order (the
 *     next one is read only after the current one was answered).
 * A complete request is handed to the handler with its path; the handler
 * answers later (possibly much later) with cg_http_respond() or
 * cg_http_respond_status().  Exactly one answer per request.
 *
 * Everything runs on the loop thread.
 */
#ifndef CG_TRANSPORTS_HTTP_H
#define CG_TRANSPORTS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transports/addr.h"

struct cg_admission;

struct cg_http_limits {
  size_t max_header;          /* octets of request line + headers; default 8 KiB */
  size_t max_body;            /* default 256 KiB */
  uint64_t header_timeout_ms; /* from the first octet of a request to its end of headers */
  uint64_t body_timeout_ms;   /* from end of headers to end of body */
  uint64_t idle_timeout_ms;   /* keep-alive connection with no request */
  unsigned max_conns;          /* with no admission: this listener's own cap */
  /* Shared with the gateway's other listeners (transports/admission.h): the
   * connection caps and the buffer budget; NULL: the listener's own, of
   * max_conns connections and no buffer budget. */
  struct cg_admission *admission;
};

/* A request waiting for its answer.  Owned by the transport; valid until it is
 * answered, even when the peer has gone away meanwhile (the answer is then
 * dropped). */
struct cg_http_request;

/* Called on the loop for each complete POST with the right content type.
 * path is NUL terminated (the request target, without query string); body is
 * valid until the request is answered. */
typedef void (*cg_http_handler)(void *arg, struct cg_http_request *req, const char *path,
                                const uint8_t *body, size_t len);

struct cg_http_server;

/* Listens on host:port (port 0 picks a free one) and serves with handler.
 * 0 or a CG_E* error (a libuv one translated: cg_err_from_uv()). */
int cg_http_server_start(uv_loop_t *loop, const char *host, int port,
                         const struct cg_http_limits *limits, cg_http_handler handler, void *arg,
                         struct cg_http_server **out);
/* Serves HTTPS: every connection accepted from now on is a TLS session of
 * tls (borrowed: it outlives the server), its handshake's crypto on the
 * threadpool when offload (transports/conn.h).  Call right after starting. */
/* Makes srv an admin listener: it takes GET requests without a body (405
 * with "Allow: GET" for any other method, 400 for a body), whatever their
 * Content-Type, and its handler answers with cg_http_respond_typed(). */
void cg_http_server_get_only(struct cg_http_server *srv);
/* Makes srv the web console's listener: GET and HEAD without a body, POST
 * of application/x-www-form-urlencoded (415 otherwise; 405 with "Allow:
 * GET, HEAD, POST" for other methods), answers "Cache-Control: no-store";
 * the handler reads the method, the query and the headers below, and
 * answers with cg_http_respond_web().  A request with two of one of these
 * headers is refused (400). */
void cg_http_server_web(struct cg_http_server *srv);
enum cg_http_header {
  CG_HTTP_COOKIE,
  CG_HTTP_ORIGIN,
  CG_HTTP_HOST,
  CG_HTTP_FETCH_SITE, /* Sec-Fetch-Site */
  CG_HTTP_HEADERS
};
/* A web listener's request: a POST (else GET or HEAD); its query string
 * ("" when none); a header's value (NULL when absent).  Valid until it is
 * answered. */
bool cg_http_request_is_post(const struct cg_http_request *req);
const char *cg_http_request_query(const struct cg_http_request *req);
const char *cg_http_request_header(const struct cg_http_request *req, enum cg_http_header h);
/* An answer with more header fields: headers is "Name: value\r\n" lines
 * (NULL: none), the caller's to keep free of anything a peer sent unchecked. */
void cg_http_respond_web(struct cg_http_request *req, int status, const char *ctype,
                         const char *headers, const void *body, size_t len);
struct cg_tls_server;
void cg_http_server_use_tls(struct cg_http_server *srv, struct cg_tls_server *tls, bool offload);
/* The port actually bound. */
int cg_http_server_port(const struct cg_http_server *srv);
/* Number of open connections, and requests handed out and not yet answered. */
unsigned cg_http_server_conns(const struct cg_http_server *srv);
/* Refused since start: connections over max_conns, over the per-address
 * cap, and requests for want of buffer budget. */
void cg_http_server_refused(const struct cg_http_server *srv, uint64_t out[3]);
unsigned cg_http_server_pending(const struct cg_http_server *srv);

/* The TLS client certificate (DER) of the connection a request came on:
 * copied into out; CG_ENOT_FOUND when it came over plain HTTP, or without a
 * client certificate, or its connection is gone; CG_ESPACE. */
int cg_http_request_tls_client(struct cg_http_request *req, uint8_t *out, size_t cap,
                               size_t *len);
/* Answers 200 with Content-Type application/pkixcmp and the body (copied). */
void cg_http_respond(struct cg_http_request *req, const uint8_t *body, size_t len);
/* Answers with an HTTP error status and a text/plain body (copied). */
void cg_http_respond_status(struct cg_http_request *req, int status, const char *text);
/* An answer of any status and media type (the admin listener's). */
void cg_http_respond_typed(struct cg_http_request *req, int status, const char *ctype,
                           const void *body, size_t len);

/* Answers with an HTTP error status, a Retry-After of `seconds` and a
 * text/plain body: a client that is to come back later (503, 429). */
void cg_http_respond_retry(struct cg_http_request *req, int status, unsigned seconds,
                           const char *text);
/* True once the peer of req has gone away (its answer will be dropped).
 * Safe to call from any thread while req is valid: work queued for a request
 * checks it before it starts. */
bool cg_http_request_gone(const struct cg_http_request *req);
/* Whether it came over TLS (an HTTPS listener's); loop thread. */
bool cg_http_request_is_tls(const struct cg_http_request *req);
/* The peer's address, as the admission counts it (transports/addr.h). */
const struct cg_addr *cg_http_request_peer(const struct cg_http_request *req);
/* Stops listening and closes idle connections; connections with a request
 * being handled close after its answer is written.  on_closed(arg) runs on
 * the loop when every handle is closed, and the server is freed then. */
void cg_http_server_stop(struct cg_http_server *srv, void (*on_closed)(void *arg), void *arg);

/* Closes every connection now, whatever it is doing (a stop that waited
 * long enough): requests being handled are answered into the void. */
void cg_http_server_close_all(struct cg_http_server *srv);
/* A Content-Type field value of n octets names application/pkixcmp (any
 * case, parameters and surrounding whitespace allowed): what a CMP request
 * and a CMP answer carry (RFC 9811 §3).  The server's check, and the
 * clients'. */
bool cg_http_is_pkixcmp(const char *v, size_t n);
/* The defaults named above (8 KiB, 256 KiB, 10 s, 30 s, 60 s, 10000). */
void cg_http_limits_default(struct cg_http_limits *l);

#endif
