/*
 * token.c - keys in PKCS#11 tokens (token.h) over wolfSSL's PKCS#11
 * support: wolfSSL loads the module, opens and logs in the sessions, and
 * turns a wolfCrypt operation on a key made with an id or a label into
 * C_Sign; cmpgw registers one crypto callback per token, which lends each
 * operation a free session of the token.  Two things wolfSSL does not do
 * are done here with the module's own function list: finding whether an
 * object exists, and generating a key pair as token objects (wolfSSL's key
 * generation makes session objects, gone when the session closes).
 *
 * The registry of modules and tokens is guarded by one mutex; tokens live
 * until cg_token_close_all().
 */
#include <wolfssl/options.h>

#include <wolfssl/wolfcrypt/settings.h>

#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/cryptocb.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/wc_pkcs11.h>

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "core/token.h"

#define PIN_MAX 256

struct module {
  char path[CG_TOKEN_PATH_MAX];
  Pkcs11Dev dev;
  struct module *next;
};

/* One PKCS#11 session, logged in, lent to one operation at a time. */
struct session {
  pthread_mutex_t lock;
  Pkcs11Token tok;
  bool open;
};

struct token {
  struct module *module;
  char label[CG_TOKEN_LABEL_MAX + 1]; /* "" when found by slot */
  long slot;
  uint8_t pin[PIN_MAX]; /* wolfSSL keeps a pointer to it */
  size_t pin_len;
  int dev_id;
  struct session s[CG_TOKEN_SESSIONS];
  pthread_mutex_t log_lock;
  struct cg_log_limit log_limit;
  struct token *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct module *modules;
static struct token *tokens;
static int next_dev_id = 0x43470001; /* "CG", then a count; INVALID_DEVID is -2 */

/* ------------------------------------------------------------------------ */
/* RFC 7512 URIs.                                                           */

bool cg_token_is_uri(const char *s) { return s != NULL && strncmp(s, "pkcs11:", 7) == 0; }

static int hexval(int c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Percent-decodes s[0..n) into out (cap octets). */
static int pct_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      if (n - i < 3)
        return CG_EINVAL;
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h < 0 || l < 0)
        return CG_EINVAL;
      c = h << 4 | l;
      i += 2;
    }
    if (k == cap)
      return CG_EINVAL;
    out[k++] = (uint8_t)c;
  }
  *len = k;
  return 0;
}

/* A decoded value as a C string (no NUL inside). */
static int pct_string(const char *s, size_t n, char *out, size_t cap) {
  size_t len;
  if (cap == 0 || pct_decode(s, n, (uint8_t *)out, cap - 1, &len) != 0 || len == 0 ||
      memchr(out, 0, len) != NULL)
    return CG_EINVAL;
  out[len] = 0;
  return 0;
}

static int path_attr(struct cg_pkcs11_uri *u, const char *name, size_t nlen, const char *v,
                     size_t vlen, const char **why) {
#define IS(lit) (nlen == sizeof lit - 1 && memcmp(name, lit, nlen) == 0)
  if (IS("token")) {
    *why = "token: a label of 1 to 32 characters";
    return pct_string(v, vlen, u->token, sizeof u->token);
  }
  if (IS("object")) {
    *why = "object: a label of 1 to 64 characters";
    return pct_string(v, vlen, u->object, sizeof u->object);
  }
  if (IS("id")) {
    *why = "id: 1 to 64 octets, percent-encoded";
    return pct_decode(v, vlen, u->id, sizeof u->id, &u->id_len) != 0 || u->id_len == 0 ? CG_EINVAL
                                                                                       : 0;
  }
  if (IS("slot-id")) {
    char num[24], *end;
    *why = "slot-id: a decimal number";
    if (pct_string(v, vlen, num, sizeof num) != 0 || num[0] < '0' || num[0] > '9')
      return CG_EINVAL;
    u->slot = strtol(num, &end, 10);
    return *end == 0 && u->slot >= 0 && u->slot < 0x7fffffff ? 0 : CG_EINVAL;
  }
  if (IS("type")) {
    *why = "type: a key cmpgw signs with is private";
    return vlen == 7 && memcmp(v, "private", 7) == 0 ? 0 : CG_EINVAL;
  }
  *why = "an attribute cmpgw does not match on (token, slot-id, object, id, type)";
  return CG_EINVAL;
}

static int query_attr(struct cg_pkcs11_uri *u, const char *name, size_t nlen, const char *v,
                      size_t vlen, const char **why) {
  if (IS("module-path")) {
    *why = "module-path: the path of the PKCS#11 library";
    return pct_string(v, vlen, u->module, sizeof u->module);
  }
  if (IS("pin-source")) {
    char src[CG_TOKEN_PATH_MAX];
    *why = "pin-source: a file path or a file: URI";
    if (pct_string(v, vlen, src, sizeof src) != 0)
      return CG_EINVAL;
    const char *p = src;
    if (strncmp(p, "file://", 7) == 0)
      p += 7; /* file:///path: an empty host */
    else if (strncmp(p, "file:", 5) == 0)
      p += 5;
    if (p[0] == 0 || (p != src && p[0] != '/'))
      return CG_EINVAL;
    snprintf(u->pin_source, sizeof u->pin_source, "%s", p);
    return 0;
  }
  if (IS("pin-value")) {
    *why = "pin-value: a PIN is not written into the configuration (pin-source, or [pkcs11] "
           "pin_file or pin_env)";
    return CG_EINVAL;
  }
  *why = "a query attribute cmpgw does not know (module-path, pin-source)";
  return CG_EINVAL;
#undef IS
}

int cg_pkcs11_uri_parse(const char *s, struct cg_pkcs11_uri *u, const char **why) {
  memset(u, 0, sizeof *u);
  u->slot = -1;
  *why = "a PKCS#11 URI starts with pkcs11:";
  if (!cg_token_is_uri(s))
    return CG_EINVAL;
  const char *p = s + 7, *query = strchr(p, '?');
  const char *path_end = query != NULL ? query : p + strlen(p);
  for (int part = 0; part < 2; part++) {
    const char *end = part == 0 ? path_end : query != NULL ? query + 1 + strlen(query + 1) : p;
    char sep = part == 0 ? ';' : '&';
    if (part == 1)
      p = query != NULL ? query + 1 : end;
    while (p < end) {
      const char *stop = memchr(p, sep, (size_t)(end - p));
      if (stop == NULL)
        stop = end;
      const char *eq = memchr(p, '=', (size_t)(stop - p));
      if (eq == NULL || eq == p) {
        *why = "an attribute is NAME=VALUE";
        return CG_EINVAL;
      }
      int rc = part == 0 ? path_attr(u, p, (size_t)(eq - p), eq + 1, (size_t)(stop - eq - 1), why)
                         : query_attr(u, p, (size_t)(eq - p), eq + 1, (size_t)(stop - eq - 1), why);
      if (rc != 0)
        return rc;
      p = stop + (stop < end);
    }
  }
  if (u->token[0] == 0 && u->slot < 0) {
    *why = "the URI names no token (token= or slot-id=)";
    return CG_EINVAL;
  }
  if (u->object[0] == 0 && u->id_len == 0) {
    *why = "the URI names no key (object= or id=)";
    return CG_EINVAL;
  }
  *why = NULL;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Modules, tokens, sessions.                                               */

/* The crypto callback of a token: the operation gets a free session. */
static int token_cb(int dev_id, wc_CryptoInfo *info, void *ctx) {
  struct token *t = ctx;
  struct session *s = NULL;
  /* wolfSSL 5.7 sends the hashes of objects made without a device (its
   * DRBG's, for one) to the first device registered: they stay in
   * software, without taking a session. */
  if (info->algo_type != WC_ALGO_TYPE_PK)
    return CRYPTOCB_UNAVAILABLE;
  for (size_t i = 0; s == NULL && i < CG_TOKEN_SESSIONS; i++)
    if (t->s[i].open && pthread_mutex_trylock(&t->s[i].lock) == 0)
      s = &t->s[i];
  if (s == NULL) {
    /* all busy: each thread waits on a session of its own choosing */
    static atomic_uint next_thread;
    static _Thread_local unsigned mine = UINT_MAX;
    if (mine == UINT_MAX)
      mine = atomic_fetch_add(&next_thread, 1);
    s = &t->s[mine % CG_TOKEN_SESSIONS];
    pthread_mutex_lock(&s->lock);
  }
  int rc = wc_Pkcs11_CryptoDevCb(dev_id, info, &s->tok);
  pthread_mutex_unlock(&s->lock);
  if (rc != 0 && rc != CRYPTOCB_UNAVAILABLE && rc != NOT_COMPILED_IN) {
    pthread_mutex_lock(&t->log_lock);
    cg_log_limited(&t->log_limit, 10, CG_LOG_ERROR,
                   "pkcs11: token %s of %s: operation failed (wolfSSL %d: %s)",
                   t->label[0] ? t->label : "(by slot)", t->module->path, rc,
                   wc_GetErrorString(rc));
    pthread_mutex_unlock(&t->log_lock);
  }
  return rc;
}

static struct module *module_get(const char *path, char *why, size_t cap) {
  for (struct module *m = modules; m != NULL; m = m->next)
    if (strcmp(m->path, path) == 0)
      return m;
  struct module *m = cg_crypto_init() == 0 ? calloc(1, sizeof *m) : NULL;
  if (m == NULL) {
    snprintf(why, cap, "out of memory");
    return NULL;
  }
  snprintf(m->path, sizeof m->path, "%s", path);
  if (wc_Pkcs11_Initialize(&m->dev, path, NULL) != 0) {
    snprintf(why, cap, "the PKCS#11 module %s does not load or initialise", path);
    free(m);
    return NULL;
  }
  m->next = modules;
  modules = m;
  return m;
}

/* Closes this token's own sessions, the one that logged in last (closing it
 * logs the application out); never wc_Pkcs11Token_Final(), which closes
 * every session on the slot, another token's too. */
static void token_free(struct token *t) {
  for (size_t i = CG_TOKEN_SESSIONS; i-- > 0;) {
    Pkcs11Token *tok = &t->s[i].tok;
    if (t->s[i].open)
      wc_Pkcs11Token_Close(tok);
    else if (tok->func != NULL && tok->handle != NULL_PTR)
      tok->func->C_CloseSession(tok->handle); /* opened, then the login failed */
    pthread_mutex_destroy(&t->s[i].lock);
  }
  pthread_mutex_destroy(&t->log_lock);
  cg_wipe(t->pin, sizeof t->pin);
  free(t);
}

/* The PIN of a token, from the URI's pin-source, else d's pin_file, else
 * d's pin_env. */
static int read_pin(const struct cg_pkcs11_uri *u, const struct cg_token_defaults *d, uint8_t *pin,
                    size_t *pin_len, char *why, size_t cap) {
  const char *file = u->pin_source[0] ? u->pin_source : d->pin_file;
  if (file != NULL && file[0] != 0) {
    char path[CG_TOKEN_PATH_MAX];
    uint8_t *text;
    size_t len;
    int err = cg_path_resolve(u->pin_source[0] ? NULL : d->base, file, path, sizeof path);
    if (err == 0)
      err = cg_read_key_file(path, d->mode, &text, &len);
    if (err != 0) {
      snprintf(why, cap, "the PIN file %s: %s", path, cg_file_strerror(err));
      return err;
    }
    size_t n = 0;
    while (n < len && text[n] != '\n' && text[n] != '\r')
      n++;
    if (n == 0 || n > PIN_MAX)
      err = CG_EINVAL;
    else
      memcpy(pin, text, n), *pin_len = n;
    cg_wipe(text, len);
    free(text);
    if (err != 0)
      snprintf(why, cap, "the PIN file %s: its first line must be a PIN of 1 to %d characters",
               path, PIN_MAX);
    return err;
  }
  const char *v = d->pin_env != NULL && d->pin_env[0] ? getenv(d->pin_env) : NULL;
  if (v != NULL && v[0] != 0 && strlen(v) <= PIN_MAX) {
    *pin_len = strlen(v);
    memcpy(pin, v, *pin_len);
    return 0;
  }
  if (d->pin_env != NULL && d->pin_env[0])
    snprintf(why, cap, "the environment variable %s holds no PIN", d->pin_env);
  else
    snprintf(why, cap, "no PIN: give pin-source in the URI, or [pkcs11] pin_file or pin_env");
  return CG_EINVAL;
}

/* The slot of the token labelled label (CK_TOKEN_INFO pads labels with
 * spaces to 32 octets; the whole label must match).  wolfSSL's own search
 * by name takes slot indexes for slot IDs and matches prefixes, so the
 * slot is found here and given to wolfSSL by its ID. */
static int find_slot(struct module *m, const char *label, int *slot) {
  CK_FUNCTION_LIST *f = m->dev.func;
  CK_SLOT_ID ids[64];
  CK_ULONG n = sizeof ids / sizeof ids[0];
  CK_TOKEN_INFO info;
  uint8_t want[32];
  size_t len = strlen(label);
  memset(want, ' ', sizeof want);
  memcpy(want, label, len);
  if (f->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK)
    return CG_ECRYPTO;
  for (CK_ULONG i = 0; i < n; i++)
    if (f->C_GetTokenInfo(ids[i], &info) == CKR_OK && memcmp(info.label, want, 32) == 0) {
      if (ids[i] > 0x7fffffff)
        return CG_ENOT_FOUND; /* wolfSSL takes slot IDs as int */
      *slot = (int)ids[i];
      return 0;
    }
  return CG_ENOT_FOUND;
}

/* The token u names, opened and logged in on its first use. */
static int token_get(const struct cg_pkcs11_uri *u, const struct cg_token_defaults *d,
                     struct token **out, char *why, size_t cap) {
  const char *mpath = u->module[0] ? u->module : d->module;
  char path[CG_TOKEN_PATH_MAX];
  if (mpath == NULL || mpath[0] == 0) {
    snprintf(why, cap, "no PKCS#11 module: give module-path in the URI or [pkcs11] module");
    return CG_EINVAL;
  }
  if (cg_path_resolve(u->module[0] ? NULL : d->base, mpath, path, sizeof path) != 0) {
    snprintf(why, cap, "the module path is too long");
    return CG_EINVAL;
  }
  for (struct token *t = tokens; t != NULL; t = t->next)
    if (strcmp(t->module->path, path) == 0 && strcmp(t->label, u->token) == 0 &&
        t->slot == (u->token[0] ? -1 : u->slot)) {
      *out = t;
      return 0;
    }
  struct module *m = module_get(path, why, cap);
  if (m == NULL)
    return CG_ECRYPTO;
  struct token *t = calloc(1, sizeof *t);
  if (t == NULL) {
    snprintf(why, cap, "out of memory");
    return CG_ENOMEM;
  }
  t->module = m;
  snprintf(t->label, sizeof t->label, "%s", u->token);
  t->slot = u->token[0] ? -1 : u->slot;
  pthread_mutex_init(&t->log_lock, NULL);
  for (size_t i = 0; i < CG_TOKEN_SESSIONS; i++)
    pthread_mutex_init(&t->s[i].lock, NULL);
  int err = read_pin(u, d, t->pin, &t->pin_len, why, cap);
  const char *name = t->label[0] ? t->label : NULL;
  int slot = (int)t->slot;
  if (err == 0 && name != NULL && find_slot(m, name, &slot) != 0) {
    snprintf(why, cap, "no token labelled \"%s\" in %s", name, m->path);
    err = CG_ENOT_FOUND;
  }
  /* The first session logs in for all of them (PKCS#11 logs in an
   * application, not a session): the others only open. */
  for (size_t i = 0; err == 0 && i < CG_TOKEN_SESSIONS; i++) {
    int wc = i == 0
                 ? wc_Pkcs11Token_Init(&t->s[i].tok, &m->dev, slot, NULL, t->pin, (int)t->pin_len)
                 : wc_Pkcs11Token_Init_NoLogin(&t->s[i].tok, &m->dev, slot, NULL);
    if (wc != 0) {
      snprintf(why, cap, "no token in slot %d of %s", slot, m->path);
      err = CG_ENOT_FOUND;
    } else if ((wc = wc_Pkcs11Token_Open(&t->s[i].tok, 1)) != 0) {
      snprintf(why, cap, "the token %s does not open a session%s", name ? name : "(by slot)",
               i == 0 ? " and log in (a wrong PIN?)" : "");
      err = CG_ECRYPTO;
    } else {
      t->s[i].open = true;
    }
  }
  if (err == 0) {
    t->dev_id = next_dev_id++;
    if (wc_CryptoCb_RegisterDevice(t->dev_id, token_cb, t) != 0) {
      snprintf(why, cap, "wolfSSL has no room for another device");
      err = CG_ECRYPTO;
    }
  }
  if (err != 0) {
    token_free(t);
    return err;
  }
  t->next = tokens;
  tokens = t;
  *out = t;
  return 0;
}

/* Whether the token holds an object of class cls with u's id (or, without
 * one, its label): 1 yes, 0 no, <0 error. */
static int object_exists(struct token *t, const struct cg_pkcs11_uri *u, CK_OBJECT_CLASS cls) {
  struct session *s = &t->s[0];
  CK_FUNCTION_LIST *f = s->tok.func;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof cls},
      u->id_len ? (CK_ATTRIBUTE){CKA_ID, (void *)u->id, (CK_ULONG)u->id_len}
                : (CK_ATTRIBUTE){CKA_LABEL, (void *)u->object, (CK_ULONG)strlen(u->object)},
  };
  CK_OBJECT_HANDLE h[2];
  CK_ULONG n = 0;
  pthread_mutex_lock(&s->lock);
  CK_RV rv = f->C_FindObjectsInit(s->tok.handle, tmpl, 2);
  if (rv == CKR_OK) {
    rv = f->C_FindObjects(s->tok.handle, h, 2, &n);
    f->C_FindObjectsFinal(s->tok.handle);
  }
  pthread_mutex_unlock(&s->lock);
  return rv != CKR_OK ? CG_ECRYPTO : n > 0;
}

/* Signs a random digest with key and checks it against spki. */
static int key_proves(const struct cg_key *key, const uint8_t *spki, size_t spki_len) {
  uint8_t msg[32], sig[1024];
  size_t sig_len;
  struct cg_key *pub = NULL;
  enum cg_sig_scheme scheme;
  enum cg_hash hash;
  struct cg_iov iov = {msg, sizeof msg};
  cg_key_default_sig(key, &scheme, &hash);
  int err = cg_random(msg, sizeof msg);
  if (err == 0)
    err = cg_sign(key, scheme, hash, &iov, 1, sig, sizeof sig, &sig_len);
  if (err == 0)
    err = cg_key_from_spki(spki, spki_len, &pub);
  if (err == 0)
    err = cg_verify(pub, scheme, hash, &iov, 1, sig, sig_len) == 0 ? 0 : CG_EBAD_KEY;
  cg_key_free(pub);
  return err;
}

static int open_key(struct token *t, const struct cg_pkcs11_uri *u, const uint8_t *spki,
                    size_t spki_len, struct cg_key **out, char *why, size_t cap) {
  int err = object_exists(t, u, CKO_PRIVATE_KEY);
  if (err <= 0) {
    snprintf(why, cap,
             err == 0 ? "the token holds no private key with this %s"
                      : "the token does not search its objects",
             u->id_len ? "id" : "object label");
    return err == 0 ? CG_ENOT_FOUND : err;
  }
  bool by_label = u->id_len == 0;
  err = cg_key_from_device(t->dev_id, by_label ? (const uint8_t *)u->object : u->id,
                           by_label ? strlen(u->object) : u->id_len, by_label, spki, spki_len, out);
  if (err != 0) {
    snprintf(why, cap, "the certificate's key is not one a token signs with here (EC or RSA): %s",
             cg_strerror(err));
    return err;
  }
  if ((err = key_proves(*out, spki, spki_len)) != 0) {
    snprintf(why, cap,
             err == CG_EBAD_KEY ? "the token's key is not the certificate's"
                                : "the token does not sign with the key: %s",
             cg_strerror(err));
    cg_key_free(*out);
    *out = NULL;
  }
  return err;
}

/* The URI read, and its token opened. */
static int token_of(const char *uri, const struct cg_token_defaults *d, struct cg_pkcs11_uri *u,
                    struct token **t, char *why, size_t cap) {
  const char *bad;
  if (cg_pkcs11_uri_parse(uri, u, &bad) != 0) {
    snprintf(why, cap, "not a PKCS#11 URI cmpgw takes: %s", bad);
    return CG_EINVAL;
  }
  pthread_mutex_lock(&reg_lock);
  int err = token_get(u, d, t, why, cap);
  pthread_mutex_unlock(&reg_lock);
  return err;
}

int cg_token_key_open(const char *uri, const struct cg_token_defaults *d, const uint8_t *spki,
                      size_t spki_len, struct cg_key **out, char *why, size_t cap) {
  struct cg_pkcs11_uri u;
  struct token *t;
  *out = NULL;
  int err = token_of(uri, d, &u, &t, why, cap);
  if (err == 0)
    err = open_key(t, &u, spki, spki_len, out, why, cap);
  return err;
}

/* The DER ECParameters (a namedCurve OID) of a NIST curve. */
static const uint8_t *curve_params(unsigned bits, size_t *len) {
  static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  static const uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
  static const uint8_t p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
  *len = bits == 256 ? sizeof p256 : sizeof p384;
  return bits == 256 ? p256 : bits == 384 ? p384 : bits == 521 ? p521 : NULL;
}

/* The SPKI of the EC public key object pub, from its CKA_EC_POINT (a DER
 * OCTET STRING around the uncompressed point). */
static int ec_spki(struct session *s, CK_OBJECT_HANDLE pub, unsigned bits, uint8_t *spki,
                   size_t cap, size_t *spki_len) {
  uint8_t point[160];
  CK_ATTRIBUTE a = {CKA_EC_POINT, point, sizeof point};
  if (s->tok.func->C_GetAttributeValue(s->tok.handle, pub, &a, 1) != CKR_OK || a.ulValueLen < 3)
    return CG_ECRYPTO;
  /* OCTET STRING, one or two length octets (a P-521 point is 133 octets). */
  size_t hdr = point[1] < 0x80 ? 2 : 3;
  if (point[0] != 0x04 || a.ulValueLen <= hdr)
    return CG_ECRYPTO;
  ecc_key k;
  int curve = bits == 256 ? ECC_SECP256R1 : bits == 384 ? ECC_SECP384R1 : ECC_SECP521R1;
  if (wc_ecc_init(&k) != 0)
    return CG_ECRYPTO;
  int wc = wc_ecc_import_x963_ex(point + hdr, (word32)(a.ulValueLen - hdr), &k, curve);
  if (wc == 0)
    wc = wc_EccPublicKeyToDer(&k, spki, (word32)cap, 1);
  wc_ecc_free(&k);
  if (wc <= 0)
    return CG_ECRYPTO;
  *spki_len = (size_t)wc;
  return 0;
}

int cg_token_key_generate(const char *uri, const struct cg_token_defaults *d, unsigned bits,
                          struct cg_key **out, char *why, size_t cap) {
  struct cg_pkcs11_uri u;
  struct token *t;
  size_t params_len;
  const uint8_t *params = curve_params(bits, &params_len);
  *out = NULL;
  if (params == NULL) {
    snprintf(why, cap, "an EC key is P-256, P-384 or P-521");
    return CG_EBAD_ALG;
  }
  int err = token_of(uri, d, &u, &t, why, cap);
  if (err != 0)
    return err;
  if ((err = object_exists(t, &u, CKO_PRIVATE_KEY)) != 0) {
    snprintf(why, cap,
             err > 0 ? "the token holds a private key with this %s already"
                     : "the token does not search its objects",
             u.id_len ? "id" : "object label");
    return err > 0 ? CG_EEXISTS : err;
  }
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
  CK_ATTRIBUTE pub_tmpl[5] = {
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_EC_PARAMS, (void *)params, (CK_ULONG)params_len},
      {CKA_VERIFY, &yes, sizeof yes},
  };
  CK_ATTRIBUTE priv_tmpl[7] = {
      {CKA_TOKEN, &yes, sizeof yes},     {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_EXTRACTABLE, &no, sizeof no},
      {CKA_SIGN, &yes, sizeof yes},
  };
  CK_ULONG np = 3, nv = 5;
  if (u.object[0]) {
    pub_tmpl[np++] = priv_tmpl[nv++] =
        (CK_ATTRIBUTE){CKA_LABEL, u.object, (CK_ULONG)strlen(u.object)};
  }
  if (u.id_len)
    pub_tmpl[np++] = priv_tmpl[nv++] = (CK_ATTRIBUTE){CKA_ID, u.id, (CK_ULONG)u.id_len};
  struct session *s = &t->s[0];
  CK_OBJECT_HANDLE pub = 0, priv = 0;
  uint8_t spki[256];
  size_t spki_len = 0;
  pthread_mutex_lock(&s->lock);
  CK_RV rv = s->tok.func->C_GenerateKeyPair(s->tok.handle, &mech, pub_tmpl, np, priv_tmpl, nv, &pub,
                                            &priv);
  if (rv == CKR_OK)
    err = ec_spki(s, pub, bits, spki, sizeof spki, &spki_len);
  pthread_mutex_unlock(&s->lock);
  if (rv != CKR_OK || err != 0) {
    snprintf(why, cap, "the token does not generate an EC key pair (PKCS#11 error 0x%lx)",
             (unsigned long)rv);
    return CG_ECRYPTO;
  }
  return open_key(t, &u, spki, spki_len, out, why, cap);
}

int cg_key_load(const char *spec, const struct cg_token_defaults *d, const uint8_t *spki,
                size_t spki_len, struct cg_key **out, char *why, size_t cap) {
  *out = NULL;
  if (cg_token_is_uri(spec)) {
    if (spki == NULL) {
      snprintf(why, cap, "a key in a token goes with a certificate");
      return CG_EINVAL;
    }
    return cg_token_key_open(spec, d, spki, spki_len, out, why, cap);
  }
  char path[CG_TOKEN_PATH_MAX];
  int err = cg_path_resolve(d->base, spec, path, sizeof path);
  if (err == 0)
    err = cg_key_from_pem_file(path, d->mode, out);
  if (err != 0) {
    snprintf(why, cap, "cannot read %s: %s", path, cg_file_strerror(err));
    return err;
  }
  uint8_t own[2048];
  size_t own_len;
  if (spki != NULL && (cg_key_spki(*out, own, sizeof own, &own_len) != 0 || own_len != spki_len ||
                       memcmp(own, spki, own_len) != 0)) {
    snprintf(why, cap, "%s is not the key of the certificate", path);
    cg_key_free(*out);
    *out = NULL;
    return CG_EBAD_KEY;
  }
  return 0;
}

void cg_token_close_all(void) {
  pthread_mutex_lock(&reg_lock);
  while (tokens != NULL) {
    struct token *t = tokens;
    tokens = t->next;
    wc_CryptoCb_UnRegisterDevice(t->dev_id);
    token_free(t);
  }
  while (modules != NULL) {
    struct module *m = modules;
    modules = m->next;
    wc_Pkcs11_Finalize(&m->dev);
    free(m);
  }
  pthread_mutex_unlock(&reg_lock);
}
