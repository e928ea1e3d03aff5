/*
 * secrets.c - app/secrets.h.
 */
#include "app/secrets.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/certbuild.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/x509.h"

int64_t app_secret_ttl(const char *s) {
  static const int64_t max = INT64_C(100) * 365 * 86400;
  size_t n = strlen(s);
  if (n < 2 || n > 16)
    return -1;
  char u = s[n - 1];
  int64_t unit = u == 'd' ? 86400 : u == 'h' ? 3600 : u == 'm' ? 60 : u == 's' ? 1 : 0;
  int64_t v = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    if (s[i] < '0' || s[i] > '9' || v > max)
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (unit == 0 || v < 1 || v > max / unit)
    return -1;
  return v * unit;
}

bool app_secret_note_ok(const char *note) {
  size_t n = strlen(note);
  if (n == 0 || n > APP_SECRET_NOTE_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)note[i] < 0x20 || note[i] == 0x7f)
      return false;
  return true;
}

bool app_secret_ref_ok(const char *ref) {
  size_t n = strlen(ref);
  if (n == 0 || n > CMP_MAX_REF)
    return false;
  for (size_t i = 0; i < n; i++)
    if (ref[i] <= 0x20 || ref[i] >= 0x7f || ref[i] == '"' || ref[i] == '\\')
      return false;
  return true;
}

bool app_secret_subject(const char *arg, char *out, size_t cap) {
  uint8_t der[1024];
  size_t len;
  return cg_cert_name_from_text(arg, der, sizeof der, &len) == 0 &&
         cg_name_to_string((struct der_view){der, len}, out, cap) == 0 && out[0] != 0;
}

bool app_secret_san(const char *arg, char *list, size_t cap) {
  static const char *const types[] = {"dns:", "ip:", "uri:", "email:"};
  size_t i = 0;
  while (i < 4 && strncasecmp(arg, types[i], strlen(types[i])) != 0)
    i++;
  if (i == 4)
    return false;
  const char *v = arg + strlen(types[i]);
  char ip[INET6_ADDRSTRLEN];
  if (i == 1) {
    uint8_t a[16];
    int family = strchr(v, ':') != NULL ? AF_INET6 : AF_INET;
    if (inet_pton(family, v, a) != 1 || inet_ntop(family, a, ip, sizeof ip) == NULL)
      return false;
    v = ip;
  }
  if (v[0] == 0)
    return false;
  for (const char *p = v; *p; p++)
    if (*p < 0x21 || *p > 0x7e || *p == ',')
      return false;
  size_t n = strlen(list);
  int w = snprintf(list + n, cap - n, "%s%s%s", n ? ", " : "", types[i], v);
  return w > 0 && (size_t)w < cap - n;
}

int app_secret_make(const uint8_t master[32], const struct app_secret_want *w,
                    struct cmp_secret_record *rec, struct app_secret_made *out) {
  memset(rec, 0, sizeof *rec);
  memset(out, 0, sizeof *out);
  bool bound = w->subject != NULL && w->subject[0] != '\0';
  if ((w->ref != NULL && !app_secret_ref_ok(w->ref)) ||
      (!bound && w->sans != NULL && w->sans[0] != '\0') ||
      (w->secret != NULL && strlen(w->secret) >= sizeof out->secret))
    return CG_EINVAL;
  if (w->ref != NULL)
    snprintf(out->ref, sizeof out->ref, "%s", w->ref);
  else if (cmp_reference_generate(out->ref) != 0)
    return CG_ECRYPTO;
  if (w->secret != NULL)
    snprintf(out->secret, sizeof out->secret, "%s", w->secret);
  else if (cmp_secret_generate(out->secret) != 0)
    return CG_ECRYPTO;
  snprintf(rec->reference, sizeof rec->reference, "%s", out->ref);
  snprintf(rec->profile, sizeof rec->profile, "%s", w->profile);
  if (bound) {
    snprintf(rec->subject, sizeof rec->subject, "%s", w->subject);
    snprintf(rec->sans, sizeof rec->sans, "%s", w->sans != NULL ? w->sans : "");
  }
  rec->created_at = w->now;
  rec->expires_at = w->ttl > 0 ? w->now + w->ttl : 0;
  if (cmp_secret_seal(master, out->ref, (const uint8_t *)out->secret, strlen(out->secret),
                      rec->enc, sizeof rec->enc, &rec->enc_len) != 0)
    return CG_ECRYPTO;
  /* Profiles with challenge = random give each device its own challenge,
   * made and shown with the secret, stored sealed beside it. */
  if (w->challenge == 2) {
    char aad[CMP_MAX_REF + 16];
    snprintf(aad, sizeof aad, "challenge:%s", out->ref);
    if (cmp_secret_generate(out->challenge) != 0 ||
        cmp_secret_seal(master, aad, (const uint8_t *)out->challenge, strlen(out->challenge),
                        rec->challenge_enc, sizeof rec->challenge_enc,
                        &rec->challenge_enc_len) != 0)
      return CG_ECRYPTO;
  }
  return 0;
}
