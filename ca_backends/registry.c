/*
 * registry.c - the list of CA backends: one line per backend; and what all
 * backends share in reading their settings.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ca_backends/backend.h"
#include "core/token.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"

extern const struct ca_backend_ops ca_local_ops;
extern const struct ca_backend_ops ca_cmp_ops;

static const struct ca_backend_ops *const backends[] = {
    &ca_local_ops,
    &ca_cmp_ops,
};

const struct ca_backend_ops *ca_backend_find(const char *type) {
  for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
    if (strcmp(backends[i]->name, type) == 0)
      return backends[i];
  return NULL;
}

int ca_settings_error(const struct ca_settings *s, const char *key, const char *fmt, ...) {
  const char *name = s->name != NULL ? s->name : "?";
  va_list ap;
  va_start(ap, fmt);
  if (s->config != NULL) {
    char section[CG_NAME_MAX + 9];
    snprintf(section, sizeof section, "backend %s", name);
    cg_config_verror(s->config, section, key, fmt, ap);
  } else {
    char why[512];
    vsnprintf(why, sizeof why, fmt, ap);
    cg_error("backend %s: %s%s%s", name, key ? key : "", key ? ": " : "", why);
  }
  va_end(ap);
  return CG_ECONFIG;
}

enum cg_key_mode ca_settings_key_mode(const struct ca_settings *s) {
  return s->allow_readable_keys ? CG_KEY_WARN_OTHERS : CG_KEY_OWNER_ONLY;
}

void ca_settings_token_defaults(const struct ca_settings *s, struct cg_token_defaults *d) {
  if (s->config != NULL)
    cg_config_token_defaults(s->config, d);
  else
    *d = (struct cg_token_defaults){NULL, NULL, NULL, NULL, CG_KEY_OWNER_ONLY};
  d->base = s->base_dir;
  d->mode = ca_settings_key_mode(s);
}
