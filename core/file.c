/*
 * file.c - see file.h.
 */
#include "core/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/x509.h"

int cg_read_file(const char *path, uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return CG_EIO;
  size_t cap = 4096, n = 0;
  uint8_t *p = malloc(cap + 1);
  while (p != NULL) {
    n += fread(p + n, 1, cap - n, f);
    if (n < cap)
      break;
    uint8_t *q = realloc(p, 2 * cap + 1);
    if (q == NULL) {
      free(p);
      p = NULL;
      break;
    }
    p = q;
    cap *= 2;
  }
  int bad = ferror(f);
  fclose(f);
  if (p == NULL || bad) {
    free(p);
    return CG_EIO;
  }
  p[n] = 0;
  *data = p;
  *len = n;
  return 0;
}

int cg_path_resolve(const char *base, const char *path, char *out, size_t cap) {
  int n = path[0] == '/' || base == NULL ? snprintf(out, cap, "%s", path)
                                         : snprintf(out, cap, "%s/%s", base, path);
  return n < 0 || (size_t)n >= cap ? CG_ESPACE : 0;
}

int cg_key_from_pem_file(const char *path, struct cg_key **key) {
  static const char *const labels[] = {"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"};
  uint8_t *text, der[8192];
  size_t len, der_len, used;
  *key = NULL;
  if (cg_read_file(path, &text, &len))
    return CG_EIO;
  int err = CG_ENOT_FOUND;
  for (size_t i = 0; i < 3 && err == CG_ENOT_FOUND; i++)
    if (cg_pem_decode(labels[i], (const char *)text, len, der, sizeof der, &der_len, &used) == 0)
      err = cg_key_from_private_der(der, der_len, key);
  cg_wipe(der, sizeof der);
  cg_wipe(text, len);
  free(text);
  return err;
}

int cg_certs_from_file(const char *path, uint8_t **der, struct der_view *views, size_t max,
                       size_t *n) {
  uint8_t *text;
  size_t len;
  *n = 0;
  if (max == 0 || cg_read_file(path, &text, &len))
    return CG_EIO;
  struct cg_x509 x;
  if (len > 0 && text[0] == 0x30 && cg_x509_parse(text, len, &x) == 0) {
    der[0] = text;
    views[0] = (struct der_view){text, len};
    *n = 1;
    return 0;
  }
  int err = cg_x509_pem_bundle((const char *)text, len, der, views, max, n);
  free(text);
  if (err == 0 && *n == 0)
    err = CG_ENOT_FOUND;
  return err;
}
