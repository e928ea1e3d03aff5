/*
 * setup.c - files, master key and RA credentials for the commands.
 */
#include "app/setup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "core/token.h"
#include "store/store.h"

int app_write_new_file(const char *path, const void *data, size_t len, unsigned mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
  if (fd < 0)
    return errno == EEXIST ? CG_EEXISTS : CG_EIO;
  const uint8_t *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int e = w < 0 ? errno : EIO;
      close(fd);
      unlink(path);
      errno = e; /* the caller tells why */
      return CG_EIO;
    }
    p += w;
    len -= (size_t)w;
  }
  int e = fsync(fd) != 0 ? errno : 0;
  if (close(fd) != 0 && e == 0)
    e = errno;
  if (e != 0) {
    unlink(path);
    errno = e;
    return CG_EIO;
  }
  return 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

enum cg_key_mode app_key_mode(const struct cg_config *cfg) {
  return cfg->allow_readable_keys ? CG_KEY_WARN_OTHERS : CG_KEY_OWNER_ONLY;
}

int app_store_locator(const struct cg_config *cfg, char *out, size_t cap) {
  int err = cg_config_store_locator(cfg, out, cap);
  if (err != 0 || cfg->store_url[0] == '\0')
    return err;
  if (cfg->store_password_file[0] == '\0')
    return cg_store_password_file(NULL);
  char path[CG_PATH_MAX];
  if ((err = cg_config_resolve(cfg, cfg->store_password_file, path, sizeof path)) != 0)
    return err;
  return cg_store_password_file(path);
}

int app_load_master_key(const struct cg_config *cfg, uint8_t key[32]) {
  char path[CG_PATH_MAX];
  uint8_t *text;
  size_t len;
  if (cfg->master_key[0] == 0)
    return cg_config_error(cfg, "secrets", "master_key", "is not set");
  int err = cg_config_resolve(cfg, cfg->master_key, path, sizeof path);
  if (err == 0)
    err = cg_read_key_file(path, app_key_mode(cfg), &text, &len);
  if (err)
    return cg_config_error(cfg, "secrets", "master_key", "cannot read %s: %s", path,
                           cg_file_strerror(err));
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
    len--;
  int ok = len == 64;
  for (size_t i = 0; ok && i < 32; i++) {
    int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    key[i] = (uint8_t)(hi << 4 | lo);
  }
  cg_wipe(text, len);
  free(text);
  if (!ok)
    return cg_config_error(cfg, "secrets", "master_key", "%s must hold 64 hex digits", path);
  return 0;
}

int app_load_pkcs12(const struct cg_config *cfg, const char *section, const char *p12_key,
                    const char *p12_file, const char *pass_key, const char *pass_file,
                    struct app_ra *ra) {
  char path[CG_PATH_MAX];
  uint8_t *p12 = NULL, *pass = NULL;
  size_t p12_len, pass_len;
  memset(ra, 0, sizeof *ra);
  if (p12_file[0] == 0 || pass_file[0] == 0)
    return cg_config_error(cfg, section, p12_file[0] == 0 ? p12_key : pass_key,
                           "is required (%s and %s: a key and its certificate)", p12_key,
                           pass_key);
  int err = cg_config_resolve(cfg, pass_file, path, sizeof path);
  if (err == 0)
    err = cg_read_key_file(path, app_key_mode(cfg), &pass, &pass_len);
  if (err)
    return cg_config_error(cfg, section, pass_key, "cannot read %s: %s", path,
                           cg_file_strerror(err));
  while (pass_len > 0 && (pass[pass_len - 1] == '\n' || pass[pass_len - 1] == '\r'))
    pass[--pass_len] = 0;
  err = cg_config_resolve(cfg, p12_file, path, sizeof path);
  if (err == 0)
    err = cg_read_key_file(path, app_key_mode(cfg), &p12, &p12_len);
  const char *why = err ? cg_file_strerror(err) : NULL; /* before free() may touch errno */
  if (err == 0)
    err = cg_pkcs12_parse(p12, p12_len, (const char *)pass, &ra->key, &ra->cert, &ra->cert_len,
                          &ra->ca, &ra->ca_len, &ra->n_ca);
  cg_wipe(pass, pass_len);
  free(pass);
  free(p12);
  if (why != NULL)
    return cg_config_error(cfg, section, p12_key, "cannot read %s: %s", path, why);
  if (err)
    return cg_config_error(cfg, section, p12_key,
                           "%s does not open (not a PKCS#12, or not the password of %s): %s",
                           path, pass_key, cg_strerror(err));
  if (ra->cert == NULL || cg_x509_parse(ra->cert, ra->cert_len, &ra->x509)) {
    app_free_ra(ra);
    return cg_config_error(cfg, section, p12_key, "%s holds no usable certificate", path);
  }
  ra->chain[ra->n_chain++] = (struct der_view){ra->cert, ra->cert_len};
  for (size_t i = 0; i < ra->n_ca && ra->n_chain < APP_MAX_CHAIN; i++)
    ra->chain[ra->n_chain++] = (struct der_view){ra->ca[i], ra->ca_len[i]};
  return 0;
}

/* [ra] cert and key: a PEM chain, and a key file or a key in a token. */
static int load_ra_pem(const struct cg_config *cfg, struct app_ra *ra) {
  char path[CG_PATH_MAX], why[512];
  uint8_t *der[APP_MAX_CHAIN];
  struct der_view views[APP_MAX_CHAIN];
  size_t n = 0;
  memset(ra, 0, sizeof *ra);
  if (cfg->ra_pkcs12[0] != 0 || cfg->ra_password_file[0] != 0)
    return cg_config_error(cfg, "ra", "cert",
                           "give pkcs12 (and password_file) or cert and key, not both");
  if (cfg->ra_cert[0] == 0 || cfg->ra_key[0] == 0)
    return cg_config_error(cfg, "ra", cfg->ra_cert[0] == 0 ? "cert" : "key",
                           "is required (cert and key go together)");
  int err = cg_config_resolve(cfg, cfg->ra_cert, path, sizeof path);
  if (err == 0)
    err = cg_certs_from_file(path, der, views, APP_MAX_CHAIN, &n);
  if (err != 0)
    return cg_config_error(cfg, "ra", "cert", "cannot read %s: %s", path, cg_file_strerror(err));
  ra->cert = der[0];
  ra->cert_len = views[0].len;
  ra->n_ca = n - 1;
  ra->ca = calloc(n, sizeof *ra->ca);
  ra->ca_len = calloc(n, sizeof *ra->ca_len);
  if (ra->ca == NULL || ra->ca_len == NULL) {
    for (size_t i = 1; i < n; i++)
      free(der[i]);
    ra->n_ca = 0;
    app_free_ra(ra);
    return cg_config_error(cfg, "ra", "cert", "out of memory");
  }
  for (size_t i = 1; i < n; i++)
    ra->ca[i - 1] = der[i], ra->ca_len[i - 1] = views[i].len;
  if (cg_x509_parse(ra->cert, ra->cert_len, &ra->x509)) {
    app_free_ra(ra);
    return cg_config_error(cfg, "ra", "cert", "%s holds no usable certificate", path);
  }
  struct cg_token_defaults d;
  cg_config_token_defaults(cfg, &d);
  if ((err = cg_key_load(cfg->ra_key, &d, ra->x509.spki.p, ra->x509.spki.len, &ra->key, why,
                         sizeof why)) != 0) {
    app_free_ra(ra);
    return cg_config_error(cfg, "ra", "key", "%s", why);
  }
  for (size_t i = 0; i < n && ra->n_chain < APP_MAX_CHAIN; i++)
    ra->chain[ra->n_chain++] = (struct der_view){i == 0 ? ra->cert : ra->ca[i - 1], views[i].len};
  return 0;
}

int app_load_ra(const struct cg_config *cfg, struct app_ra *ra) {
  if (cfg->ra_cert[0] != 0 || cfg->ra_key[0] != 0)
    return load_ra_pem(cfg, ra);
  return app_load_pkcs12(cfg, "ra", "pkcs12", cfg->ra_pkcs12, "password_file",
                         cfg->ra_password_file, ra);
}

void app_free_ra(struct app_ra *ra) {
  cg_key_free(ra->key);
  free(ra->cert);
  if (ra->ca != NULL)
    cg_pkcs12_free_certs(ra->ca, ra->ca_len, ra->n_ca);
  memset(ra, 0, sizeof *ra);
}
