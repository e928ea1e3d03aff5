/*
 * setup.h - loading what the commands share: files, the master key, the RA
 * protection credentials.
 */
#ifndef CG_APP_SETUP_H
#define CG_APP_SETUP_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/der.h"
#include "core/file.h"
#include "core/limits.h"
#include "core/x509.h"

#define APP_MAX_CHAIN CG_LIMIT_CA_CHAIN

/* The RA protection credentials from the PKCS#12 file. */
struct app_ra {
  struct cg_key *key;
  uint8_t *cert;
  size_t cert_len;
  uint8_t **ca;
  size_t *ca_len;
  size_t n_ca;
  struct der_view chain[APP_MAX_CHAIN]; /* RA certificate, then the others */
  size_t n_chain;
  struct cg_x509 x509; /* of the RA certificate */
};

/* Creates path (it must not exist) with the given mode and contents.
 * 0, CG_EEXISTS or CG_EIO (errno says why: cg_file_strerror()). */
int app_write_new_file(const char *path, const void *data, size_t len, unsigned mode);
/* How the daemon's key files are checked: [server] allow_readable_keys. */
enum cg_key_mode app_key_mode(const struct cg_config *cfg);
/* The store the configuration names (cg_config_store_locator()), with the
 * PostgreSQL password of [store] password_file set for its connections.
 * 0, CG_ESPACE, CG_ESTORE (the password file cannot be read; logged). */
int app_store_locator(const struct cg_config *cfg, char *out, size_t cap);
/* Reads the master key file (64 hex digits). 0 or CG_ECONFIG (logged). */
int app_load_master_key(const struct cg_config *cfg, uint8_t key[32]);
/* Reads the RA PKCS#12 with the password from its file.  0 or CG_ECONFIG (logged). */
int app_load_ra(const struct cg_config *cfg, struct app_ra *ra);
/* A key and its certificate chain from a PKCS#12 and its password file, as
 * the [ra] section names them, for any section's pair of keys (the errors
 * name them). */
int app_load_pkcs12(const struct cg_config *cfg, const char *section, const char *p12_key,
                    const char *p12_file, const char *pass_key, const char *pass_file,
                    struct app_ra *ra);
void app_free_ra(struct app_ra *ra);

#endif
