/*
 * route.c - request paths to profiles (app/route.h).
 */
#include "app/route.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmp/msg.h"

#define WELL_KNOWN "/.well-known/cmp"

/* RFC 9483 §6.1: the operation labels a path may end with, and the request
 * types each one carries. */
static const struct {
  const char *label;
  uint32_t bodies;
} operations[] = {
    {"initialization", 1u << CMP_IR},
    {"certification", 1u << CMP_CR},
    {"keyupdate", 1u << CMP_KUR},
    {"pkcs10", 1u << CMP_P10CR},
    {"p10", 1u << CMP_P10CR},
    {"revocation", 1u << CMP_RR},
    {"getcacerts", 1u << CMP_GENM},
    {"getrootupdate", 1u << CMP_GENM},
    {"getcertreqtemplate", 1u << CMP_GENM},
    {"getcrls", 1u << CMP_GENM},
    {"nested", 1u << CMP_NESTED},
};
#define N_OPERATIONS (sizeof operations / sizeof operations[0])

int app_profile_index(const struct cg_config *cfg, const char *name, size_t n) {
  for (size_t i = 0; i < cfg->n_profiles; i++)
    if (strlen(cfg->profiles[i].name) == n && !strncmp(cfg->profiles[i].name, name, n))
      return (int)i;
  return -1;
}

/* True when path equals one of the comma-separated aliases, a trailing '/'
 * on either side not counting. */
static bool alias_matches(const char *aliases, const char *path) {
  size_t pl = strlen(path);
  while (pl > 1 && path[pl - 1] == '/')
    pl--;
  for (const char *a = aliases; *a;) {
    while (*a == ' ' || *a == ',')
      a++;
    size_t al = strcspn(a, ", ");
    size_t cmp = al;
    while (cmp > 1 && a[cmp - 1] == '/')
      cmp--;
    if (cmp > 0 && cmp == pl && !strncmp(a, path, pl))
      return true;
    a += al;
  }
  return false;
}

int app_route(const struct cg_config *cfg, const char *path, uint32_t *bodies) {
  size_t wk = strlen(WELL_KNOWN);
  *bodies = APP_ROUTE_ALL_BODIES;
  for (size_t i = 0; i < cfg->n_profiles; i++)
    if (cfg->profiles[i].aliases[0] && alias_matches(cfg->profiles[i].aliases, path))
      return (int)i;
  if (strncmp(path, WELL_KNOWN, wk) != 0)
    return -1;
  const char *rest = path + wk;
  if (rest[0] == 0 || !strcmp(rest, "/"))
    return app_profile_index(cfg, "default", 7);
  if (strncmp(rest, "/p/", 3) != 0)
    return -1;
  const char *s = rest + 3, *e = strchr(s, '/');
  size_t n = e ? (size_t)(e - s) : strlen(s);
  if (n == 0 || n > CG_NAME_MAX)
    return -1;
  if (e != NULL && e[1] != 0) {
    const char *op = e + 1;
    size_t ol = strcspn(op, "/");
    if (op[ol] != 0 && strcmp(op + ol, "/") != 0)
      return -1;
    size_t k = 0;
    while (k < N_OPERATIONS &&
           (strlen(operations[k].label) != ol || strncmp(operations[k].label, op, ol)))
      k++;
    if (k == N_OPERATIONS)
      return -1;
    *bodies = operations[k].bodies;
  }
  return app_profile_index(cfg, s, n);
}

void app_route_help(const struct cg_config *cfg, const char *path, char *text, size_t cap) {
  size_t off =
      (size_t)snprintf(text, cap, "no CMP endpoint at %s; valid paths:\n  " WELL_KNOWN "\n", path);
  for (size_t i = 0; i < cfg->n_profiles && off < cap; i++) {
    off += (size_t)snprintf(text + off, cap - off, "  " WELL_KNOWN "/p/%s[/OPERATION]\n",
                            cfg->profiles[i].name);
    if (cfg->profiles[i].aliases[0] && off < cap)
      off += (size_t)snprintf(text + off, cap - off, "  %s\n", cfg->profiles[i].aliases);
  }
  if (off < cap) {
    off += (size_t)snprintf(text + off, cap - off, "OPERATION:");
    for (size_t k = 0; k < N_OPERATIONS && off < cap; k++)
      if (strcmp(operations[k].label, "p10") != 0) /* pkcs10's short form (D13) */
        off += (size_t)snprintf(text + off, cap - off, " %s", operations[k].label);
    if (off < cap)
      snprintf(text + off, cap - off, "\n");
  }
}
