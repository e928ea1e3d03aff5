/*
 * err.c - names, messages, classes and PKIFailureInfo bits of the error codes,
 * all generated from CG_ERR_MAP so the table cannot drift.
 */
#include "core/err.h"

#include <stddef.h>

#include <uv.h>

struct entry {
  const char *name;
  const char *msg;
  enum cg_err_class cls;
  enum cg_failinfo fi;
};

static const struct entry table[] = {
#define X(name, cls, fi, msg) {"CG_E" #name, msg, CG_CLASS_##cls, CG_FI_##fi},
    CG_ERR_MAP(X)
#undef X
};

static const struct entry *lookup(int err) {
  /* Compared before subtracting: err - CG_E__FIRST overflows for codes
   * near INT_MAX. */
  if (err <= CG_E__FIRST || err >= CG_E__LAST)
    return 0;
  return &table[err - (CG_E__FIRST + 1)];
}

const char *cg_err_name(int err) {
  const struct entry *e = lookup(err);
  return err == 0 ? "CG_OK" : e ? e->name : "CG_E?";
}

/* libuv's message for one of its codes.  uv_strerror() of a code libuv
 * does not know makes a string ("Unknown system error N") that nobody
 * frees, so only known codes are handed to it. */
static const char *uv_message(int err) {
  switch (err) {
#define X(name, msg) case UV_##name:
    UV_ERRNO_MAP(X)
#undef X
    return uv_strerror(err);
  default:
    return "unknown error";
  }
}

const char *cg_strerror(int err) {
  const struct entry *e = lookup(err);
  /* The codes of the two spaces do not overlap: ours lie in -999..-900,
   * libuv's are negated errno values and its own below -3000. */
  return err == 0 ? "success" : e ? e->msg : uv_message(err);
}

int cg_err_from_uv(int e) {
  if (e == 0 || lookup(e) != NULL)
    return e;
  switch (e) {
  case UV_EADDRINUSE: return CG_EADDR_IN_USE;
  case UV_EACCES:
  case UV_EPERM: return CG_EACCESS;
  case UV_EADDRNOTAVAIL: return CG_EADDR_NOT_AVAIL;
  case UV_ENOMEM:
  case UV_ENOBUFS: return CG_ENOMEM;
  case UV_ECONNREFUSED:
  case UV_ENETUNREACH:
  case UV_EHOSTUNREACH: return CG_ECONNECT;
  case UV_ETIMEDOUT: return CG_ETIMEOUT;
  case UV_ECONNRESET:
  case UV_EPIPE:
  case UV_EOF: return CG_ECLOSED;
  case UV_EINVAL: return CG_EINVAL;
  default: return CG_EIO;
  }
}

enum cg_err_class cg_err_class(int err) {
  const struct entry *e = lookup(err);
  return err == 0 ? CG_CLASS_OK : e ? e->cls : CG_CLASS_INTERNAL;
}

enum cg_failinfo cg_err_failinfo(int err) {
  const struct entry *e = lookup(err);
  return err == 0 ? CG_FI_NONE : e ? e->fi : CG_FI_SYSTEM_FAILURE;
}

int cg_err_from_failinfo(int bit) {
  if (bit == CG_FI_SYSTEM_UNAVAIL)
    return CG_ECA_UNAVAILABLE;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].cls == CG_CLASS_PEER && (int)table[i].fi == bit && bit != CG_FI_SYSTEM_UNAVAIL)
      return CG_E__FIRST + 1 + (int)i;
  return CG_ECA_FAILURE;
}

static const char *const failinfo_names[] = {
#define X(name, bit, asn1) [bit] = asn1,
    CG_FAILINFO_MAP(X)
#undef X
};

const char *cg_failinfo_name(int bit) {
  return bit >= 0 && bit < (int)(sizeof failinfo_names / sizeof failinfo_names[0])
             ? failinfo_names[bit]
             : NULL;
}
