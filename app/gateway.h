/*
 * gateway.h - `cmpgw serve`: wires the listeners, the CMP engine, the CA
 * backends and the store together on one libuv loop.
 */
#ifndef CG_APP_GATEWAY_H
#define CG_APP_GATEWAY_H

#include <uv.h>

#include "core/config.h"

struct gateway;

/* Loads credentials, opens the store, starts the store thread, the backends
 * and the listeners on loop.  0 or an error (logged; nothing left running). */
int gateway_start(uv_loop_t *loop, const struct cg_config *cfg, struct gateway **out);
/* Stops accepting, lets every exchange in flight finish (its answer is still
 * sent), drains the store, and calls on_stopped(arg) on the loop when nothing
 * of the gateway is left; the gateway is freed then. */
void gateway_stop(struct gateway *gw, void (*on_stopped)(void *arg), void *arg);
/* Loads the configuration file at path again; when all of it loads, what a
 * reload changes (profiles, trust anchors, the RA and TLS credentials, log
 * settings) is put in place for the exchanges that begin from now on, and
 * the rest is left as started, with a warning for each difference.
 * Otherwise nothing changes.  Logged either way; 0 or an error. */
int gw_reload(struct gateway *gw, const char *path);

#endif
