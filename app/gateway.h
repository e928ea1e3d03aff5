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

#endif
