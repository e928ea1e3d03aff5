/*
 * coap_client.c - transports/coap_client.h on libcoap 4.3, driven from the
 * libuv loop (transports/coap_io.h).
 *
 * One client session to the server; each POST gets a fresh token, and the
 * response handler takes the answer whose token is the current request's
 * (libcoap has put its Block2 pieces together: COAP_BLOCK_SINGLE_BODY).  A
 * timer bounds each request.
 */
#include "transports/coap_client.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "transports/coap.h" /* CG_COAP_FORMAT_PKIXCMP */
#include "transports/coap_io.h"


struct cg_coap_client {
  struct cg_coap_io io; /* first: the io's callbacks cast back */
  coap_session_t *session;
  uv_timer_t deadline;
  size_t max_body;
  uint64_t timeout_ms;
  /* the request under way */
  bool busy;
  uint8_t token[8];
  size_t token_len;
  cg_coap_client_cb cb;
  void *arg;
  bool closing;
};

/* The request ends: its callback, once. */
static void done(struct cg_coap_client *c, int err, const struct cg_coap_response *rsp) {
  if (!c->busy)
    return;
  c->busy = false;
  uv_timer_stop(&c->deadline);
  cg_coap_client_cb cb = c->cb;
  c->cb = NULL;
  cb(c->arg, err, rsp);
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent,
                                   const coap_pdu_t *received, const coap_mid_t mid) {
  (void)sent;
  (void)mid;
  struct cg_coap_client *c = coap_get_app_data(coap_session_get_context(session));
  coap_bin_const_t token = coap_pdu_get_token(received);
  coap_pdu_code_t code = coap_pdu_get_code(received);
  if (!c->busy || code == COAP_EMPTY_CODE || token.length != c->token_len ||
      memcmp(token.s, c->token, c->token_len) != 0)
    return COAP_RESPONSE_OK; /* not the answer to the request under way */
  struct cg_coap_response rsp = {.code = COAP_RESPONSE_CLASS(code) * 100 + (code & 0x1f),
                                 .format = -1};
  coap_opt_iterator_t oi;
  coap_opt_t *cf = coap_check_option(received, COAP_OPTION_CONTENT_FORMAT, &oi);
  if (cf != NULL)
    rsp.format = (int)coap_decode_var_bytes(coap_opt_value(cf), coap_opt_length(cf));
  size_t offset = 0, total = 0;
  if (!coap_get_data_large(received, &rsp.len, &rsp.body, &offset, &total))
    rsp.len = total = 0;
  if (total > c->max_body || rsp.len != total)
    done(c, CG_ETOO_BIG, NULL);
  else
    done(c, 0, &rsp);
  return COAP_RESPONSE_OK;
}

/* libcoap sends Block1 pieces from its copy of the request until the
 * transfer ends, which may be after the answer (or the deadline): the copy
 * is libcoap's to free. */
static void release_msg(coap_session_t *session, void *app_ptr) {
  (void)session;
  free(app_ptr);
}

static void on_deadline(uv_timer_t *t) {
  struct cg_coap_client *c = t->data;
  done(c, CG_ETIMEOUT, NULL);
}

int cg_coap_client_new(uv_loop_t *loop, const struct cg_coap_client_opts *opts,
                       struct cg_coap_client **out) {
  *out = NULL;
  cg_coap_io_startup();
  const char *host = strcmp(opts->host, "localhost") == 0 ? "127.0.0.1" : opts->host;
  coap_address_t dst;
  if (cg_coap_address(host, opts->port, &dst) != 0)
    return CG_EINVAL;
  struct cg_coap_client *c = calloc(1, sizeof *c);
  if (c == NULL)
    return CG_ENOMEM;
  c->max_body = opts->max_body ? opts->max_body : 256 * 1024;
  c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 30000;
  if ((c->io.ctx = coap_new_context(NULL)) == NULL)
    goto fail;
  coap_set_app_data(c->io.ctx, c);
  coap_context_set_block_mode(c->io.ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_response_handler(c->io.ctx, on_response);
  if ((c->session = coap_new_client_session(c->io.ctx, NULL, &dst, COAP_PROTO_UDP)) == NULL ||
      cg_coap_io_start(&c->io, loop) != 0)
    goto fail;
  uv_timer_init(loop, &c->deadline);
  c->deadline.data = c;
  *out = c;
  return 0;

fail:
  if (c->io.ctx != NULL)
    coap_free_context(c->io.ctx);
  free(c);
  return CG_ECONNECT;
}

int cg_coap_client_post(struct cg_coap_client *c, const char *path, const uint8_t *msg, size_t len,
                        cg_coap_client_cb cb, void *arg) {
  if (c->busy || c->closing)
    return CG_EBUSY;
  coap_pdu_t *pdu =
      coap_pdu_init(COAP_MESSAGE_NON, COAP_REQUEST_CODE_POST, coap_new_message_id(c->session),
                    coap_session_max_pdu_size(c->session));
  if (pdu == NULL)
    return CG_ENOMEM;
  coap_session_new_token(c->session, &c->token_len, c->token);
  coap_add_token(pdu, c->token_len, c->token);
  /* Uri-Path (11), then Content-Format (12): options in their order. */
  for (const char *p = path; *p != '\0';) {
    while (*p == '/')
      p++;
    size_t n = strcspn(p, "/");
    if (n > 0)
      coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *)p);
    p += n;
  }
  uint8_t buf[4];
  coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                  coap_encode_var_safe(buf, sizeof buf, CG_COAP_FORMAT_PKIXCMP), buf);
  uint8_t *copy = malloc(len > 0 ? len : 1);
  if (copy == NULL) {
    coap_delete_pdu(pdu);
    return CG_ENOMEM;
  }
  memcpy(copy, msg, len);
  /* On failure too, libcoap releases the copy (block.h); coap_send()
   * takes the PDU whatever it returns. */
  if (!coap_add_data_large_request(c->session, pdu, len, copy, release_msg, copy)) {
    coap_delete_pdu(pdu);
    return CG_ENOMEM;
  }
  if (coap_send(c->session, pdu) == COAP_INVALID_MID)
    return CG_ECONNECT;
  c->busy = true;
  c->cb = cb;
  c->arg = arg;
  uv_timer_start(&c->deadline, on_deadline, c->timeout_ms, 0);
  cg_coap_io_soon(&c->io);
  return 0;
}

static void on_io_closed(struct cg_coap_io *io) { free(io); }

static void on_deadline_closed(uv_handle_t *h) {
  struct cg_coap_client *c = h->data;
  cg_coap_io_close(&c->io, on_io_closed);
}

void cg_coap_client_close(struct cg_coap_client *c) {
  c->closing = true;
  c->busy = false;
  uv_close((uv_handle_t *)&c->deadline, on_deadline_closed);
}
