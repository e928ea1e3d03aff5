/*
 * file.c - see file.h.
 */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/x509.h"

/* The files a configuration names are a few kilobytes; a bound keeps a path
 * such as /dev/zero from taking all memory. */
#define MAX_FILE CG_LIMIT_FILE_OCTETS

/* Reads fd to its end.  0, CG_EIO (errno set) or CG_ENOMEM. */
static int read_all(int fd, uint8_t **data, size_t *len) {
  size_t cap = 4096, n = 0;
  uint8_t *p = malloc(cap + 1);
  if (p == NULL)
    return CG_ENOMEM;
  for (;;) {
    ssize_t r = read(fd, p + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      free(p);
      errno = e;
      return CG_EIO;
    }
    if (r == 0)
      break;
    n += (size_t)r;
    if (n < cap)
      continue;
    uint8_t *q = cap >= MAX_FILE ? NULL : realloc(p, 2 * cap + 1);
    if (q == NULL) {
      free(p);
      if (cap < MAX_FILE)
        return CG_ENOMEM;
      errno = EFBIG;
      return CG_EIO;
    }
    p = q;
    cap *= 2;
  }
  p[n] = 0;
  *data = p;
  *len = n;
  return 0;
}

/* sshd's rule for private keys: no access at all for group and others.
 * Only a regular file holds a key; reading anything else fails by itself
 * (a directory: EISDIR), with the system's reason. */
static int check_mode(int fd, const char *path, enum cg_key_mode mode) {
  struct stat st;
  if (mode == CG_KEY_ANY_MODE)
    return 0;
  if (fstat(fd, &st) != 0)
    return CG_EIO;
  if (!S_ISREG(st.st_mode) || (st.st_mode & 077) == 0)
    return 0;
  unsigned bits = (unsigned)st.st_mode & 07777;
  if (mode == CG_KEY_WARN_OTHERS) {
    cg_warn("%s has mode %04o: group or others can access this key file; [server] "
            "allow_readable_keys = true lets it pass (chmod 600 %s protects it)", path, bits, path);
    return 0;
  }
  cg_error("%s has mode %04o: group or others can access this key file; chmod 600 %s (or, to "
           "accept it, set [server] allow_readable_keys = true)", path, bits, path);
  return CG_EKEY_MODE;
}

int cg_read_key_file(const char *path, enum cg_key_mode mode, uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return CG_EIO;
  int err = check_mode(fd, path, mode);
  if (err == 0)
    err = read_all(fd, data, len);
  int e = errno; /* close() must not hide why the read failed */
  close(fd);
  errno = e;
  return err;
}

int cg_read_file(const char *path, uint8_t **data, size_t *len) {
  return cg_read_key_file(path, CG_KEY_ANY_MODE, data, len);
}

const char *cg_file_strerror(int err) { return err == CG_EIO ? strerror(errno) : cg_strerror(err); }

int cg_path_resolve(const char *base, const char *path, char *out, size_t cap) {
  int n = path[0] == '/' || base == NULL ? snprintf(out, cap, "%s", path)
                                         : snprintf(out, cap, "%s/%s", base, path);
  return n < 0 || (size_t)n >= cap ? CG_ESPACE : 0;
}

int cg_key_from_pem_file(const char *path, enum cg_key_mode mode, struct cg_key **key) {
  static const char *const labels[] = {"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"};
  uint8_t *text, der[8192];
  size_t len, der_len, used;
  *key = NULL;
  int err = cg_read_key_file(path, mode, &text, &len);
  if (err)
    return err;
  err = CG_ENOT_FOUND;
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
  if (max == 0)
    return CG_ENOT_FOUND;
  int err = cg_read_file(path, &text, &len);
  if (err)
    return err;
  struct cg_x509 x;
  if (len > 0 && text[0] == 0x30 && cg_x509_parse(text, len, &x) == 0) {
    der[0] = text;
    views[0] = (struct der_view){text, len};
    *n = 1;
    return 0;
  }
  err = cg_x509_pem_bundle((const char *)text, len, der, views, max, n);
  free(text);
  if (err == 0 && *n == 0)
    err = CG_ENOT_FOUND;
  return err;
}
