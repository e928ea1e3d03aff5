/*
 * fuzz_config.c - libFuzzer target for the configuration loader
 * (core/config.c, libinih through our reader): the input is a whole
 * configuration file, read from memory with cg_config_parse().  Besides
 * crashes and sanitizer reports it checks what must hold for any input:
 *   - the result is 0 or CG_ECONFIG, and a NUL anywhere is CG_ECONFIG;
 *   - reading the same text twice gives the same configuration, octet for
 *     octet (nothing depends on memory left uninitialised);
 *   - a configuration that loads is whole: its names end inside their
 *     arrays, every profile's backend exists and every backend has a type,
 *     the cross-section rules hold, and where each key is set refers to a
 *     section that exists;
 *   - cg_config_error() can name any key of it.
 * Seeds: tests/vectors/config.  Build with -DCMPGW_FUZZ=ON and CC=clang.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok) {
  if (!ok)
    abort();
}

static bool ends_inside(const char *s, size_t cap) { return memchr(s, 0, cap) != NULL; }

static void check_loaded(const struct cg_config *cfg) {
  require(cfg->n_profiles <= CG_MAX_PROFILES && cfg->n_backends <= CG_MAX_BACKENDS);
  require(cfg->n_sections <= CG_MAX_SECTIONS && cfg->n_settings <= CG_MAX_SETTINGS);
  for (size_t i = 0; i < cfg->n_profiles; i++) {
    const struct cg_config_profile *p = &cfg->profiles[i];
    require(ends_inside(p->name, sizeof p->name) && p->name[0] != 0);
    require(ends_inside(p->backend, sizeof p->backend));
    require(cg_config_backend(cfg, p->backend) != NULL);
    require(cg_config_profile(cfg, p->name) == p);
    require(p->allow_mac || p->allow_sig);
    require(p->challenge != 1 || p->challenge_value[0] != 0);
    require(!p->manual_approval || p->confirm_wait > p->check_after);
    require(p->aliases[0] == 0 || p->aliases[0] == '/');
  }
  for (size_t i = 0; i < cfg->n_backends; i++) {
    const struct cg_config_backend *b = &cfg->backends[i];
    require(b->type[0] != 0 && ends_inside(b->type, sizeof b->type));
    require(b->n <= CG_MAX_BACKEND_KEYS);
    for (size_t k = 0; k < b->n; k++)
      require(cg_config_backend_get(b, cg_config_backend_key(b, k)) != NULL);
  }
  for (size_t i = 0; i < cfg->n_settings; i++) {
    const struct cg_config_origin *o = &cfg->settings[i];
    require(o->section < cfg->n_sections && o->line > 0);
    require(ends_inside(o->key, sizeof o->key));
    /* every key set is where the messages of later checks point */
    cg_config_error(cfg, cfg->sections[o->section].name, o->key, "fuzz %zu", i);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  cg_log_set_level(CG_LOG_OFF); /* one error line per input would be all the output */
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct cg_config a, b;
  int rc = cg_config_parse("/fuzz/cmpgw.conf", (const char *)data, size, &a);
  require(rc == 0 || rc == CG_ECONFIG);
  if (memchr(data, 0, size) != NULL)
    require(rc == CG_ECONFIG);
  require(cg_config_parse("/fuzz/cmpgw.conf", (const char *)data, size, &b) == rc);
  require(memcmp(&a, &b, sizeof a) == 0);
  if (rc == 0)
    check_loaded(&a);
  return 0;
}
