/*
 * listen.h - what the listeners of transports/ (HTTP, raw TCP) share: binding
 * a TCP listener, and turning away a connection over the cap.
 */
#ifndef CG_TRANSPORTS_LISTEN_H
#define CG_TRANSPORTS_LISTEN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "transports/addr.h"

/* The open connections of a listener, linked through a member of each. */
struct cg_conn_link {
  struct cg_conn_link *prev, *next;
};
struct cg_conn_set {
  struct cg_conn_link *head;
  unsigned count;
};
void cg_conn_set_add(struct cg_conn_set *s, struct cg_conn_link *l);
void cg_conn_set_remove(struct cg_conn_set *s, struct cg_conn_link *l);

struct cg_admission;

/* What a listener of transports/ (HTTP, raw TCP) is besides its protocol:
 * the listening handle, its open connections (transports/conn.h) and the
 * admission that counts them, the sockets being refused, and its stop.  The
 * owner embeds it; handle.data is the owner. */
struct cg_listener {
  uv_loop_t *loop;
  uv_tcp_t handle;
  struct cg_conn_set conns;       /* the open connections (struct cg_conn) */
  struct cg_admission *admission; /* shared with other listeners, or own */
  bool own_admission;
  unsigned refusing; /* sockets accepted over a cap and not yet closed */
  /* refused since start: over max_conns, over the per-address cap, for
   * want of buffer budget (metrics) */
  uint64_t refused_full, refused_addr, refused_memory;
  int port;          /* bound */
  bool listening;    /* the handle is not closed yet */
  bool stopping;
  /* Runs (with the owner) whenever something the stop waits for is gone: the
   * handle, a connection, a refused socket.  The owner frees itself there
   * once cg_listener_done(). */
  void (*settle)(void *owner);
  void (*on_closed)(void *arg); /* the stop's callback */
  void *closed_arg;
};

/* A new owner of size octets (zeroed), its listener at offset in it,
 * bound to host:port and listening with cb; the connections are counted by
 * admission, or (NULL) by an own one of max_conns.  settle(owner) runs
 * whenever something the stop waits for is gone; the owner frees itself
 * there once cg_listener_done().  0 and *owner, or a CG_E* error (then
 * nothing is left to free: a handle that was made is closed and the owner
 * freed, through settle(), when the loop next runs).  The owner sets up the
 * rest of itself before returning to the loop. */
int cg_listener_new(uv_loop_t *loop, size_t size, size_t offset, const char *host, int port,
                    struct cg_admission *admission, unsigned max_conns, uv_connection_cb cb,
                    void (*settle)(void *owner), void **owner);
/* A connection is waiting and no more may enter: it is accepted and closed
 * (counted in refusing until it is).  Returns true when it was so refused. */
bool cg_listener_refuse_if_full(struct cg_listener *l);
/* Refuses the waiting connection whatever the count (no memory for it). */
void cg_listener_refuse(struct cg_listener *l);
/* Stops listening; the owner then closes its idle connections, and
 * on_closed(arg) is the owner's to call once it is done. */
void cg_listener_stop(struct cg_listener *l, void (*on_closed)(void *arg), void *arg);
/* Stopping, the handle closed, no connection and no socket being refused
 * left, and (busy false) nothing else the owner waits for. */
bool cg_listener_done(const struct cg_listener *l, bool busy);
/* Frees an own admission (the owner is being freed). */
void cg_listener_release(struct cg_listener *l);

/* Re-arms TCP_QUICKACK (Linux) after a read.  A client that writes a request
 * in two pieces with Nagle on (OpenSSL's HTTP client writes header and body
 * separately) holds the second piece until the first is acknowledged; a
 * delayed ACK would make it wait ~40 ms on every request after the first on
 * a kept-alive connection.  The kernel clears the flag by itself, so it is
 * set again on each read. */
void cg_quickack(uv_tcp_t *t);

/* 0 when host:port can be listened on (a numeric IPv4 or IPv6 address, port
 * 0..65535), else CG_EINVAL: checked before anything is made. */
int cg_listen_check(const char *host, int port);

/* The numeric address to listen on for host: host itself when it is a
 * numeric IPv4 or IPv6 address, else the first address the resolver gives
 * for it ("localhost" -> 127.0.0.1).  0, or CG_EINVAL with *why set (the
 * resolver's words). */
int cg_listen_resolve(const char *host, char *out, size_t cap, const char **why);

/* Binds the initialised handle to host:port (numeric IPv4 or IPv6; port 0
 * picks a free one), listens with cb and sets *bound to the port bound.
 * 0, CG_EINVAL (bad host or port) or the CG_E* code of the libuv error
 * (cg_err_from_uv(): CG_EADDR_IN_USE, CG_EACCESS, ...); on failure the
 * caller closes the handle. */
int cg_listen(uv_tcp_t *listener, const char *host, int port, uv_connection_cb cb, int *bound);

/* Accepts the next connection waiting on listener and closes it at once (a
 * connection over the cap).  closed(data) runs when it is closed.  Returns
 * 1 when a connection is being closed (count it until closed runs), 0 when
 * none could be taken.  Without memory for it, one refusal at a time is
 * made with a spare of the thread's; a connection that could not be taken
 * stays with libuv, and the listener takes no other until it is accepted
 * (libuv watches it again only then). */
int cg_refuse_connection(uv_stream_t *listener, void *data, void (*closed)(void *data));

/* The peer of an accepted connection, as limits count it; len 0 when it
 * cannot be had. */
void cg_peer_addr(uv_tcp_t *t, struct cg_addr *out);

/* A listener's accept failed (status < 0; EMFILE/ENFILE: out of file
 * descriptors).  libuv has already taken the waiting connection off the
 * backlog and closed it (its reserve descriptor), so nothing spins; this
 * logs it, at most once every 10 seconds for all listeners together. */
void cg_accept_failed(const char *listener, int status);

#endif
