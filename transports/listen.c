/*
 * listen.c - binding listeners and refusing connections (transports/listen.h).
 */
#include "transports/listen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/log.h"
#include "transports/admission.h"

void cg_quickack(uv_tcp_t *t) {
#ifdef TCP_QUICKACK
  uv_os_fd_t fd;
  int one = 1;
  if (uv_fileno((uv_handle_t *)t, &fd) == 0)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
  (void)t;
#endif
}

static int address(const char *host, int port, struct sockaddr_storage *ss) {
  if (host == NULL || port < 0 || port > 65535)
    return CG_EINVAL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) != 0)
    return CG_EINVAL;
  return 0;
}

int cg_listen_check(const char *host, int port) {
  struct sockaddr_storage ss;
  return address(host, port, &ss);
}

int cg_listen_resolve(const char *host, char *out, size_t cap, const char **why) {
  *why = "";
  if (cg_listen_check(host, 0) == 0) {
    if (strlen(host) >= cap)
      return CG_EINVAL;
    memcpy(out, host, strlen(host) + 1);
    return 0;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0 || res == NULL) {
    *why = rc != 0 ? gai_strerror(rc) : "no address";
    return CG_EINVAL;
  }
  const void *a = res->ai_family == AF_INET6
                      ? (const void *)&((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr
                      : (const void *)&((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
  bool ok = inet_ntop(res->ai_family, a, out, (socklen_t)cap) != NULL;
  freeaddrinfo(res);
  if (!ok)
    *why = "address too long";
  return ok ? 0 : CG_EINVAL;
}

int cg_listen(uv_tcp_t *listener, const char *host, int port, uv_connection_cb cb, int *bound) {
  struct sockaddr_storage ss;
  if (address(host, port, &ss) != 0)
    return CG_EINVAL;
  int r = uv_tcp_bind(listener, (const struct sockaddr *)&ss, 0);
  if (r == 0)
    r = uv_listen((uv_stream_t *)listener, SOMAXCONN, cb);
  int sslen = (int)sizeof ss;
  if (r == 0)
    r = uv_tcp_getsockname(listener, (struct sockaddr *)&ss, &sslen);
  if (r == 0)
    *bound = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                      : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return cg_err_from_uv(r);
}

void cg_conn_set_add(struct cg_conn_set *s, struct cg_conn_link *l) {
  l->prev = NULL;
  l->next = s->head;
  if (s->head != NULL)
    s->head->prev = l;
  s->head = l;
  s->count++;
}

void cg_conn_set_remove(struct cg_conn_set *s, struct cg_conn_link *l) {
  if (l->prev != NULL)
    l->prev->next = l->next;
  else
    s->head = l->next;
  if (l->next != NULL)
    l->next->prev = l->prev;
  s->count--;
}

struct refused {
  uv_tcp_t tcp;
  void *data;
  void (*closed)(void *data);
};

/* A refusal made when no memory can be had for one.  A connection that is
 * not taken stays with libuv, which watches the listener again only once
 * it is accepted: without this the listener would take no connection ever
 * after.  One per thread (the loop's); free again once closed. */
static _Thread_local struct refused spare;
static _Thread_local bool spare_busy;

static void on_refused_closed(uv_handle_t *h) {
  struct refused *r = h->data;
  void (*closed)(void *) = r->closed;
  void *data = r->data;
  if (r == &spare)
    spare_busy = false;
  else
    free(r);
  closed(data);
}

int cg_refuse_connection(uv_stream_t *listener, void *data, void (*closed)(void *data)) {
  struct refused *r = malloc(sizeof *r);
  if (r == NULL && !spare_busy) {
    r = &spare;
    spare_busy = true;
  }
  if (r == NULL || uv_tcp_init(listener->loop, &r->tcp) != 0) {
    if (r == &spare)
      spare_busy = false;
    else
      free(r);
    return 0;
  }
  r->tcp.data = r;
  r->data = data;
  r->closed = closed;
  (void)uv_accept(listener, (uv_stream_t *)&r->tcp); /* closed either way */
  uv_close((uv_handle_t *)&r->tcp, on_refused_closed);
  return 1;
}

void cg_peer_addr(uv_tcp_t *t, struct cg_addr *out) {
  struct sockaddr_storage ss;
  int len = (int)sizeof ss;
  if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) != 0 ||
      cg_addr_of((const struct sockaddr *)&ss, out) != 0)
    out->len = 0;
}

void cg_accept_failed(const char *listener, int status) {
  static struct cg_log_limit limit; /* the loop thread's */
  cg_log_limited(&limit, 10, CG_LOG_ERROR, "%s: cannot accept a connection: %s%s", listener,
                 cg_strerror(status),
                 status == UV_EMFILE || status == UV_ENFILE
                     ? " (out of file descriptors: raise the open-file limit, or lower "
                       "[server] max_connections)"
                     : "");
}

/* ---- the listener an owner embeds ---------------------------------------- */

static void on_listener_closed(uv_handle_t *h) {
  struct cg_listener *l =
      (struct cg_listener *)(void *)((char *)h - offsetof(struct cg_listener, handle));
  l->listening = false;
  l->settle(h->data);
}

static void on_listener_refused(void *arg) {
  struct cg_listener *l = arg;
  l->refusing--;
  l->settle(l->handle.data);
}

/* Opens l (in owner): 0, or an error with *freed true when nothing was made
 * and false when the handle is closing (settle() frees the owner). */
static int listener_open(struct cg_listener *l, uv_loop_t *loop, void *owner, const char *host,
                         int port, struct cg_admission *admission, unsigned max_conns,
                         uv_connection_cb cb, void (*settle)(void *owner), bool *freed) {
  *freed = true;
  l->loop = loop;
  l->settle = settle;
  l->admission = admission;
  if (l->admission == NULL) {
    l->admission = cg_admission_new(&(struct cg_admission_limits){.max_conns = max_conns});
    l->own_admission = true;
    if (l->admission == NULL)
      return CG_ENOMEM;
  }
  int r = uv_tcp_init(loop, &l->handle);
  if (r != 0) {
    cg_listener_release(l);
    return cg_err_from_uv(r);
  }
  l->handle.data = owner;
  l->listening = true;
  r = cg_listen(&l->handle, host, port, cb, &l->port);
  if (r == 0)
    return 0;
  /* The handle is registered with the loop: it is closed, and the owner
   * freed in settle(), the next time the loop runs. */
  *freed = false;
  l->stopping = true;
  uv_close((uv_handle_t *)&l->handle, on_listener_closed);
  return r;
}

int cg_listener_new(uv_loop_t *loop, size_t size, size_t offset, const char *host, int port,
                    struct cg_admission *admission, unsigned max_conns, uv_connection_cb cb,
                    void (*settle)(void *owner), void **owner) {
  *owner = NULL;
  char *o = calloc(1, size);
  if (o == NULL)
    return CG_ENOMEM;
  bool freed;
  int r = listener_open((struct cg_listener *)(void *)(o + offset), loop, o, host, port,
                        admission, max_conns, cb, settle, &freed);
  if (r == 0)
    *owner = o;
  else if (freed)
    free(o);
  return r;
}

void cg_listener_refuse(struct cg_listener *l) {
  /* One that cannot be taken stays parked in libuv (cg_refuse_connection()). */
  l->refusing += (unsigned)cg_refuse_connection((uv_stream_t *)&l->handle, l, on_listener_refused);
}

bool cg_listener_refuse_if_full(struct cg_listener *l) {
  if (!cg_admission_refuse_full(l->admission))
    return false;
  l->refused_full++;
  cg_debug("listener %d: connection limit %u reached", l->port,
           cg_admission_limits(l->admission)->max_conns);
  cg_listener_refuse(l);
  return true;
}

void cg_listener_stop(struct cg_listener *l, void (*on_closed)(void *arg), void *arg) {
  l->stopping = true;
  l->on_closed = on_closed;
  l->closed_arg = arg;
  uv_close((uv_handle_t *)&l->handle, on_listener_closed);
}

bool cg_listener_done(const struct cg_listener *l, bool busy) {
  return l->stopping && !l->listening && l->conns.count == 0 && l->refusing == 0 && !busy;
}

void cg_listener_release(struct cg_listener *l) {
  if (l->own_admission)
    cg_admission_free(l->admission);
  l->admission = NULL;
  l->own_admission = false;
}
