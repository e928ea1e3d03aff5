/*
 * secrets.h - making a device's shared secret as `cmpgw secret new` and the
 * console both do: a reference (given or generated), a secret (given or
 * generated), a challenge where the profile wants one, both sealed under the
 * master key into the record the store inserts; and the forms of a bound
 * identity an operator types.
 */
#ifndef CG_APP_SECRETS_H
#define CG_APP_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/records.h"
#include "cmp/secret.h"

struct app_secret_want {
  const char *profile;
  int challenge;       /* the profile's: 2 (random) makes one per secret */
  const char *ref;     /* NULL: generated */
  const char *secret;  /* NULL: generated */
  const char *subject; /* the bound identity, as stored ("" or NULL: none) */
  const char *sans;
  int64_t now, ttl;    /* ttl 0: no expiry */
};

struct app_secret_made {
  char ref[CMP_MAX_REF + 1];
  char secret[CMP_SECRET_MAX + 1];
  char challenge[CMP_SECRET_GEN_LEN + 1]; /* "" when the profile has none */
};

/* Fills rec (for cg_query_secret_insert()) and out.  0, CG_EINVAL (a
 * reference or secret not in the forms below, SANs without a subject) or
 * CG_ECRYPTO.  The caller wipes out when done. */
int app_secret_make(const uint8_t master[32], const struct app_secret_want *w,
                    struct cmp_secret_record *rec, struct app_secret_made *out);

/* "7d", "12h", "30m", "3600s": seconds in [1, a hundred years]; -1
 * otherwise. */
int64_t app_secret_ttl(const char *s);
/* A note is one line of 1..APP_SECRET_NOTE_MAX characters without control
 * characters (nothing to hide in a terminal). */
#define APP_SECRET_NOTE_MAX 1024
bool app_secret_note_ok(const char *note);

/* References travel as senderKID and are typed by people: 1..CMP_MAX_REF
 * printable ASCII characters without spaces, quotes or backslashes. */
bool app_secret_ref_ok(const char *ref);
/* A subject in OpenSSL's form (/CN=device-17/O=Example) into the RFC 4514
 * text requests are compared with. */
bool app_secret_subject(const char *arg, char *out, size_t cap);
/* One SAN TYPE:VALUE (dns:, ip:, uri:, email:) appended to list as
 * "type:value", ", " between (an IP address in its usual text).  Values are
 * printable, without spaces or commas. */
bool app_secret_san(const char *arg, char *list, size_t cap);

#endif
