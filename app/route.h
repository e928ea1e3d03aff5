/*
 * route.h - which profile a request reaches.  Over HTTP the path decides
 * (RFC 9811 §3.3, RFC 9483 §6.1): /.well-known/cmp is the profile "default",
 * /.well-known/cmp/p/<name>[/<operation>] names one (an operation label
 * restricts the request types it may carry), and a profile's aliases name it
 * too; over raw TCP, [server] tcp_profile.  Pure functions of the
 * configuration: unit-tested in tests/unit/app/test_route.c.
 */
#ifndef CG_APP_ROUTE_H
#define CG_APP_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

#define APP_ROUTE_ALL_BODIES 0xffffffffu

/* The index (into cfg->profiles) of the profile path reaches, -1 when none;
 * *bodies gets the request types (bits 1u << CMP_*) the path may carry. */
int app_route(const struct cg_config *cfg, const char *path, uint32_t *bodies);
/* The index of the profile named name[0..n), -1 when none. */
int app_profile_index(const struct cg_config *cfg, const char *name, size_t n);
/* The text of a 404: the path asked for and every valid one. */
void app_route_help(const struct cg_config *cfg, const char *path, char *text, size_t cap);

#endif
