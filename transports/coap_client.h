/*
 * coap_client.h - a CMP-over-CoAP client (RFC 9482) on libcoap, on the
 * caller's libuv loop: one POST at a time to one server, Content-Format
 * application/pkixcmp, the request in Block1 pieces and the answer put
 * together from Block2 pieces by libcoap.
 *
 * Requests are non-confirmable: the server answers every CMP request as a
 * separate response, and libcoap 4.3.1 (Debian 12) cannot follow Block2 in a
 * separate response to a confirmable request.  A request or answer lost on
 * the way is a timeout (CG_ETIMEOUT), which the caller's CMP engine reports
 * as HTTP's would.
 */
#ifndef CG_TRANSPORTS_COAP_CLIENT_H
#define CG_TRANSPORTS_COAP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct cg_coap_client_opts {
  const char *host;    /* numeric, or "localhost" */
  int port;            /* 1..65535 */
  size_t max_body;     /* octets of an answer; 0: 256 KiB */
  uint64_t timeout_ms; /* per request; 0: 30 s */
};

struct cg_coap_response {
  int code;   /* as CoAP writes it in decimal: 204 for 2.04 */
  int format; /* Content-Format; -1: none */
  const uint8_t *body;
  size_t len;
};

/* err: 0 (rsp set), CG_ETIMEOUT, CG_ETOO_BIG, CG_ECONNECT. */
typedef void (*cg_coap_client_cb)(void *arg, int err, const struct cg_coap_response *rsp);

struct cg_coap_client;

int cg_coap_client_new(uv_loop_t *loop, const struct cg_coap_client_opts *opts,
                       struct cg_coap_client **out);
/* POSTs msg (copied) to path ("/.well-known/cmp/p/x"); cb runs once on the
 * loop.  CG_EBUSY while a request is under way. */
int cg_coap_client_post(struct cg_coap_client *c, const char *path, const uint8_t *msg, size_t len,
                        cg_coap_client_cb cb, void *arg);
/* Closes: a request under way gets no callback; the client is freed once
 * its handles are closed. */
void cg_coap_client_close(struct cg_coap_client *c);

#endif
