/*
 * addr.h - client addresses as the limits of the gateway count them, and a
 * small table keyed by them.
 *
 * An IPv4 address counts as itself; an IPv6 address by its /64 prefix (one
 * subscriber gets a whole /64, so counting single IPv6 addresses would let
 * one client be 2^64 clients).  IPv4-mapped IPv6 addresses count as IPv4.
 */
#ifndef CG_TRANSPORTS_ADDR_H
#define CG_TRANSPORTS_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cg_addr {
  uint8_t len; /* 4 (IPv4) or 8 (an IPv6 /64); 0: unknown */
  uint8_t b[8];
};

/* The address sa counts as; 0, or CG_EINVAL for another family. */
int cg_addr_of(const struct sockaddr *sa, struct cg_addr *out);
/* "192.0.2.7" or "2001:db8:1:2::/64", NUL terminated. */
#define CG_ADDR_TEXT 52
void cg_addr_text(const struct cg_addr *a, char out[CG_ADDR_TEXT]);

/* An open-addressing table from address to two counters of the caller's.
 * It holds at most max entries: beyond, cg_addr_table_get() finds no room
 * for a new address (the caller decides what an address without an entry
 * gets).  The hash is keyed with a random seed, so no client can choose
 * addresses that collide. */
struct cg_addr_entry {
  struct cg_addr key;
  uint64_t v[2];
};
struct cg_addr_table {
  struct cg_addr_entry *slots;
  size_t cap, n, max;
  uint64_t seed;
};

/* 0 or CG_ENOMEM. */
int cg_addr_table_init(struct cg_addr_table *t, size_t max);
void cg_addr_table_free(struct cg_addr_table *t);
/* The entry of key; with add, a new one (counters 0) when there is none and
 * room for it.  NULL when absent (or full, or out of memory).  Valid until
 * the next call that adds or removes. */
struct cg_addr_entry *cg_addr_table_get(struct cg_addr_table *t, const struct cg_addr *key,
                                        bool add);
void cg_addr_table_remove(struct cg_addr_table *t, struct cg_addr_entry *e);
/* Removes every entry for which drop(e, arg) is true. */
void cg_addr_table_sweep(struct cg_addr_table *t, bool (*drop)(struct cg_addr_entry *e, void *arg),
                         void *arg);

#endif
