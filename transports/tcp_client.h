/*
 * tcp_client.h - one CMP-over-TCP exchange for `cmpgw client`: a connection
 * of its own, one frame sent (RFC 2510 or version 10 framing, see
 * transports/tcp.h), one frame read back, the connection closed.  A new
 * connection per message is what RFC 2510-era servers expect, and every
 * server takes it.  Hosts are numeric or "localhost"; runs on the loop thread.
 */
#ifndef CG_TRANSPORTS_TCP_CLIENT_H
#define CG_TRANSPORTS_TCP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transports/tcp.h"

struct cg_tcp_exchange_opts {
  const char *host;
  int port;
  enum cg_tcp_framing framing;
  size_t max_frame;    /* octets of the answer's value; 0: 1 MiB */
  uint64_t timeout_ms; /* connect, send and answer together; 0: 30 s */
};

/* The answer: its type (1 pollRep, 5 finalMsgRep / pkiRep, 6 errorMsgRep, or
 * what else the server sent) and value, valid during the callback. */
struct cg_tcp_answer {
  int type;
  int flags; /* version 10 flags octet; 0 for RFC 2510 */
  const uint8_t *value;
  size_t len;
};

/* err 0 with the answer, or CG_ECONNECT (the connection could not be made:
 * nothing was sent), CG_EIO (I/O failed), CG_ETIMEOUT,
 * CG_ETOO_BIG, CG_EBAD_DATA (not a frame of the framing asked), CG_ECLOSED
 * (closed before a whole frame), CG_ENOMEM (no memory to read the answer
 * into); detail says more. */
typedef void (*cg_tcp_exchange_cb)(void *arg, int err, const struct cg_tcp_answer *a,
                                   const char *detail);

/* Sends a frame of `type` (0 pkiMsg / pkiReq, 2 pollReq) with value (copied)
 * and calls cb once, on the loop, after the connection is closed.
 * 0, CG_EINVAL (host, port) or CG_ENOMEM (cb is then not called). */
int cg_tcp_exchange(uv_loop_t *loop, const struct cg_tcp_exchange_opts *o, int type,
                    const uint8_t *value, size_t len, cg_tcp_exchange_cb cb, void *arg);

/* The 32-bit big-endian numbers of the framing (lengths, polling references,
 * times to check back). */
uint32_t cg_tcp_get32(const uint8_t *p);
void cg_tcp_put32(uint8_t *p, uint32_t v);

/* The header of a frame (4 + 1 octets RFC 2510, 4 + 3 version 10) for a
 * value of len octets, into out; returns its length.  Shared with the
 * listener. */
size_t cg_tcp_frame_header(enum cg_tcp_framing framing, int type, int flags, size_t len,
                           uint8_t out[7]);

#endif
