/*
 * registry.c - the list of CA backends: one line per backend.
 */
#include <string.h>

#include "ca_backends/backend.h"

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
