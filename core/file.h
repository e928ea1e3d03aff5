/*
 * file.h - reading the files a configuration names: whole files, relative
 * paths resolved against a base directory, PEM private keys and PEM
 * certificate bundles.  Used at start and by the CLI, never on a hot path.
 *
 * A file that cannot be opened or read gives CG_EIO with errno saying why
 * (ENOENT, EACCES, EISDIR, EFBIG from 16 MiB on): cg_file_strerror() turns
 * that into the words an operator needs, where "I/O error" would not do.
 */
#ifndef CG_CORE_FILE_H
#define CG_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/der.h"

/* Reads a whole file into a new buffer (malloc'ed, a NUL added after the
 * data; the caller frees it).  0, CG_EIO (errno says why) or CG_ENOMEM. */
int cg_read_file(const char *path, uint8_t **data, size_t *len);
/* What went wrong in a function of this file, for a message: strerror(errno)
 * for CG_EIO, cg_strerror(err) otherwise.  Call it before anything else can
 * change errno. */
const char *cg_file_strerror(int err);

/* Who may access a file holding a private key or a secret.  The daemon's
 * rule is sshd's: a file that group or others can read, write or execute is
 * refused (CG_KEY_OWNER_ONLY), or, with [server] allow_readable_keys = true,
 * read after a warning (CG_KEY_WARN_OTHERS).  The client's own key files
 * are its user's business (CG_KEY_ANY_MODE). */
enum cg_key_mode { CG_KEY_ANY_MODE, CG_KEY_WARN_OTHERS, CG_KEY_OWNER_ONLY };
/* cg_read_file() for a file holding a private key or a secret, its mode
 * checked on the open file (nothing can change between check and read).
 * A refusal is CG_EKEY_MODE; it and the warning are logged with the file,
 * its mode and the chmod that fixes it. */
int cg_read_key_file(const char *path, enum cg_key_mode mode, uint8_t **data, size_t *len);

/* path, made absolute against base when it is relative and base is not
 * NULL.  0 or CG_ESPACE. */
int cg_path_resolve(const char *base, const char *path, char *out, size_t cap);
/* The private key of a PEM file (PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE
 * KEY" or PKCS#1 "RSA PRIVATE KEY"), read with cg_read_key_file().  0,
 * CG_EIO, CG_ENOMEM, CG_EKEY_MODE, CG_ENOT_FOUND (no key block) or the
 * error of cg_key_from_private_der(). */
int cg_key_from_pem_file(const char *path, enum cg_key_mode mode, struct cg_key **key);
/* Every certificate of a PEM file (at most max, each malloc'ed into der[],
 * views[] over them; cg_x509_pem_bundle()), or the one certificate of a DER
 * file.  0 with *n >= 1, CG_EIO, CG_ENOMEM, CG_ENOT_FOUND (none), CG_EDER. */
int cg_certs_from_file(const char *path, uint8_t **der, struct der_view *views, size_t max,
                       size_t *n);

#endif
