/*
 * srv_names.c - whose names a certificate request may ask for.
 *
 * An RA vouches for identity: authenticating the requester says who asks,
 * not what it may be called.  Every certificate request (ir, cr, kur, p10cr)
 * passes, before it is issued or forwarded:
 *   - names never issued: the RA's own subject and that of any CA of the
 *     profile's chain;
 *   - the profile's policy: the subjectAltName types it allows (san_types),
 *     a glob the subject must match (subject_pattern) and globs each
 *     subjectAltName "type:value" must match (san_patterns), with fnmatch(3);
 *   - a secret bound to an identity (`cmpgw secret new --subject --san`):
 *     exactly that subject and those subjectAltNames;
 *   - a kur keeps the subject and subjectAltNames of the certificate it
 *     updates, unless the profile allows a change (kur_new_identity).
 * A refusal is badCertTemplate with a statusString naming the rule.
 *
 * Names are compared as text: the subject in RFC 4514 form
 * (cg_name_to_string()), a subjectAltName as "dns:", "ip:", "uri:",
 * "email:" or "dirname:" and its value.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "cmp/server_int.h"
#include "core/certbuild.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"

/* The bound of core/certbuild.h, which refuses more when the request is
 * read; a certificate being updated was issued within it too. */
#define MAX_SANS CERT_MAX_SAN_NAMES
#define NAME_TEXT 1024

struct sans {
  char *v[MAX_SANS]; /* "type:value", in the arena */
  size_t n;
  unsigned types;    /* CMP_SAN_* seen */
};

/* Refuses with text made in the arena (the answer's statusString). */
static bool refuse(struct cmp_exchange *ex, const char *fmt, const char *a, const char *b) {
  char *text = cg_arena_alloc(ex->arena, 2 * NAME_TEXT + 160);
  if (text != NULL)
    snprintf(text, 2 * NAME_TEXT + 160, fmt, a, b);
  cmp_srv_fail(ex, CG_EBAD_TEMPLATE, text != NULL ? text : "a name is not allowed here");
  return false;
}

/* One GeneralName as "type:value"; NULL for a value it cannot show. */
static const char *san_text(struct cmp_exchange *ex, const struct der_tlv *t, unsigned *type) {
  const char *prefix;
  switch (t->tag) {
  case DER_CTX(1): prefix = "email:", *type = CMP_SAN_EMAIL; break;
  case DER_CTX(2): prefix = "dns:", *type = CMP_SAN_DNS; break;
  case DER_CTX(6): prefix = "uri:", *type = CMP_SAN_URI; break;
  case DER_CTX(7): prefix = "ip:", *type = CMP_SAN_IP; break;
  case DER_CTX_CONS(4): prefix = "dirname:", *type = CMP_SAN_DIRNAME; break;
  default: *type = CMP_SAN_OTHER; return "other:";
  }
  char *out = cg_arena_alloc(ex->arena, NAME_TEXT);
  if (out == NULL)
    return NULL;
  size_t n = (size_t)snprintf(out, NAME_TEXT, "%s", prefix);
  if (*type == CMP_SAN_IP) {
    if ((t->val.len != 4 && t->val.len != 16) ||
        inet_ntop(t->val.len == 4 ? AF_INET : AF_INET6, t->val.p, out + n,
                  (socklen_t)(NAME_TEXT - n)) == NULL)
      return NULL;
  } else if (*type == CMP_SAN_DIRNAME) {
    if (cg_name_to_string(t->val, out + n, NAME_TEXT - n) != 0)
      return NULL;
  } else {
    /* IA5String: printable ASCII only, or it cannot be compared or shown */
    if (t->val.len >= NAME_TEXT - n)
      return NULL;
    for (size_t i = 0; i < t->val.len; i++) {
      if (t->val.p[i] < 0x21 || t->val.p[i] > 0x7e)
        return NULL;
      out[n + i] = (char)t->val.p[i];
    }
    out[n + t->val.len] = 0;
  }
  return out;
}

/* The subjectAltNames of an Extensions list (contents), in order. */
static bool read_sans(struct cmp_exchange *ex, struct der_view extensions, struct sans *s) {
  memset(s, 0, sizeof *s);
  struct der_view value;
  bool critical;
  int found = extensions.p != NULL
                  ? cg_x509_find_ext(extensions, cg_oid(CG_OID_EXT_SAN), &value, &critical)
                  : 0;
  if (found == 0)
    return true;
  struct der_reader top, seq;
  struct der_tlv t;
  cg_der_reader_view(&top, value);
  if (found < 0 || cg_der_enter(&top, DER_SEQUENCE, &seq))
    return refuse(ex, "the subjectAltName extension is malformed%s%s", "", "");
  while (!cg_der_at_end(&seq)) {
    unsigned type;
    const char *text;
    if (cg_der_next(&seq, &t))
      return refuse(ex, "the subjectAltName extension is malformed%s%s", "", "");
    if (s->n == MAX_SANS)
      return refuse(ex, "more than 64 subjectAltNames%s%s", "", "");
    if ((text = san_text(ex, &t, &type)) == NULL)
      return refuse(ex, "a subjectAltName cannot be read as text (unprintable, or not an "
                        "address)%s%s", "", "");
    s->v[s->n++] = (char *)text;
    s->types |= type;
  }
  return true;
}

static int by_text(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The same names, in any order. */
static bool same_sans(struct sans *a, struct sans *b) {
  if (a->n != b->n)
    return false;
  qsort(a->v, a->n, sizeof a->v[0], by_text);
  qsort(b->v, b->n, sizeof b->v[0], by_text);
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->v[i], b->v[i]) != 0)
      return false;
  return true;
}

/* A bound list "dns:a, ip:b" as names. */
static bool parse_bound(struct cmp_exchange *ex, const char *list, struct sans *s) {
  memset(s, 0, sizeof *s);
  size_t len = strlen(list);
  char *copy = cg_arena_alloc(ex->arena, len + 1);
  if (copy == NULL)
    return false;
  memcpy(copy, list, len + 1);
  for (char *p = copy; *p && s->n < MAX_SANS;) {
    while (*p == ' ' || *p == ',')
      p++;
    if (*p == 0)
      break;
    char *end = strchr(p, ',');
    if (end != NULL)
      *end = 0;
    s->v[s->n++] = p;
    if (end == NULL)
      break;
    p = end + 1;
  }
  return true;
}

/* Does value match one of the comma-separated globs? */
static bool matches_one(const char *globs, const char *value) {
  char pattern[NAME_TEXT];
  for (const char *p = globs; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    size_t n = strcspn(p, ",");
    while (n > 0 && p[n - 1] == ' ')
      n--;
    if (n > 0 && n < sizeof pattern) {
      memcpy(pattern, p, n);
      pattern[n] = 0;
      if (fnmatch(pattern, value, 0) == 0)
        return true;
    }
    p += strcspn(p, ",");
  }
  return false;
}

static const char *type_name(unsigned type) {
  switch (type) {
  case CMP_SAN_DNS: return "dns";
  case CMP_SAN_IP: return "ip";
  case CMP_SAN_URI: return "uri";
  case CMP_SAN_EMAIL: return "email";
  case CMP_SAN_DIRNAME: return "dirname";
  default: return "other";
  }
}

/* The RA's and the CAs' own names are never given to a requester. */
static bool not_ours(struct cmp_exchange *ex, struct der_view subject) {
  if (cg_der_view_eq(subject, ex->cfg->ra_name))
    return refuse(ex, "the subject is the RA's own name%s%s", "", "");
  for (size_t i = 0; i < ex->prof->n_ca_chain; i++) {
    struct cg_x509 ca;
    if (cg_x509_parse(ex->prof->ca_chain[i].p, ex->prof->ca_chain[i].len, &ca) == 0 &&
        cg_der_view_eq(subject, ca.subject))
      return refuse(ex, "the subject is the name of a CA of this profile%s%s", "", "");
  }
  return true;
}

/* The RFC 4514 text of a Name in the arena (*out), sized so that any Name
 * fits (at most 4 characters per octet, core/x509.h).  0, CG_EDER (not a
 * Name) or CG_ENOMEM. */
static int name_text(struct cmp_exchange *ex, struct der_view name, char **out) {
  size_t cap = 4 * name.len + 1;
  char *text = cg_arena_alloc(ex->arena, cap);
  if (text == NULL)
    return CG_ENOMEM;
  if (cg_name_to_string(name, text, cap) != 0)
    return CG_EDER;
  *out = text;
  return 0;
}

/* A kur keeps the identity of the certificate it updates. */
static bool same_as_old(struct cmp_exchange *ex, const char *subject, struct sans *asked) {
  struct cg_x509 old;
  char *old_subject;
  struct sans had;
  int err = CG_EDER;
  if (ex->found_cert.p == NULL || cg_x509_parse(ex->found_cert.p, ex->found_cert.len, &old) != 0 ||
      (err = name_text(ex, old.subject, &old_subject)) != 0) {
    if (err == CG_ENOMEM) {
      cmp_srv_fail(ex, CG_ENOMEM, "out of memory");
      return false;
    }
    return refuse(ex, "the certificate to update cannot be read%s%s", "", "");
  }
  if (strcmp(subject, old_subject) != 0)
    return refuse(ex, "a kur keeps the subject of the certificate it updates (%s), not %s",
                  old_subject, subject);
  if (!read_sans(ex, old.extensions, &had))
    return false;
  if (!same_sans(asked, &had))
    return refuse(ex, "a kur keeps the subjectAltNames of the certificate it updates%s%s", "",
                  "");
  return true;
}

bool cmp_srv_check_names(struct cmp_exchange *ex) {
  const struct cmp_profile *p = ex->prof;
  const struct cmp_issue_request *is = &ex->issue;
  struct sans asked;
  char *subject;
  /* A subject of any size the request could ask for (core/certbuild.h) has
   * room for its text. */
  int err = name_text(ex, is->subject, &subject);
  if (err == CG_ENOMEM) {
    cmp_srv_fail(ex, CG_ENOMEM, "out of memory");
    return false;
  }
  if (err != 0)
    return refuse(ex, "the subject cannot be read as text%s%s", "", "");
  if (!read_sans(ex, is->extensions, &asked) || !not_ours(ex, is->subject))
    return false;
  unsigned extra = asked.types & ~p->san_types;
  if (extra != 0)
    return refuse(ex, "subjectAltName type %s is not allowed by profile %s",
                  type_name(extra & (~extra + 1u)), p->name);
  if (p->subject_pattern != NULL && p->subject_pattern[0] &&
      fnmatch(p->subject_pattern, subject, 0) != 0)
    return refuse(ex, "subject %s does not match subject_pattern of profile %s", subject, p->name);
  for (size_t i = 0; p->san_patterns != NULL && p->san_patterns[0] && i < asked.n; i++)
    if (!matches_one(p->san_patterns, asked.v[i]))
      return refuse(ex, "subjectAltName %s does not match san_patterns of profile %s",
                    asked.v[i], p->name);
  if (ex->mac_ok && ex->secret.subject[0]) {
    struct sans bound;
    if (strcmp(subject, ex->secret.subject) != 0)
      return refuse(ex, "this secret enrols the subject %s only, not %s", ex->secret.subject,
                    subject);
    if (!parse_bound(ex, ex->secret.sans, &bound)) {
      cmp_srv_fail(ex, CG_ENOMEM, "out of memory");
      return false;
    }
    if (!same_sans(&asked, &bound))
      return refuse(ex, "this secret enrols exactly the subjectAltNames \"%s\"%s",
                    ex->secret.sans, "");
  }
  if (ex->msg.type == CMP_KUR && !p->kur_new_identity && !same_as_old(ex, subject, &asked))
    return false;
  return true;
}
