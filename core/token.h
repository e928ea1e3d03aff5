/*
 * token.h - private keys in PKCS#11 tokens (hardware security modules,
 * smart cards, SoftHSM), through wolfSSL's PKCS#11 support: the key is
 * named by an RFC 7512 URI, signs in the token and never enters cmpgw's
 * memory.  docs/pkcs11.md says how to set one up.
 *
 * A key is opened with its certificate's public key; cmpgw then makes a test
 * signature with it and checks it against that public key, so a URI naming
 * the wrong object, a token that does not sign, or a wrong PIN stops the
 * start, not the first request.
 *
 * Each token gets CG_TOKEN_SESSIONS sessions, opened and logged in once;
 * an operation takes whichever is free, so as many signatures as there are
 * sessions run at once (a PKCS#11 session does one operation at a time).
 * A failing operation is logged and reported to its caller (CG_ECRYPTO);
 * the daemon goes on.
 */
#ifndef CG_CORE_TOKEN_H
#define CG_CORE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/file.h"

#define CG_TOKEN_SESSIONS 4
#define CG_TOKEN_LABEL_MAX 32  /* CK_TOKEN_INFO label */
#define CG_TOKEN_OBJECT_MAX 64 /* CKA_LABEL, CKA_ID (CG_DEVICE_REF_MAX) */
#define CG_TOKEN_PATH_MAX 1024

/* Where a URI that names no module or PIN source gets them ([pkcs11] of
 * the configuration); relative paths are relative to base.  Any may be NULL
 * or empty. */
struct cg_token_defaults {
  const char *module;    /* path of the PKCS#11 library */
  const char *pin_file;  /* a file whose first line is the user PIN */
  const char *pin_env;   /* an environment variable holding it */
  const char *base;      /* directory of relative paths; NULL: the working directory */
  enum cg_key_mode mode; /* how the PIN file's mode is checked */
};

/* What an RFC 7512 URI names, as cmpgw reads it:
 *   pkcs11:token=LABEL;object=LABEL;id=%01%02?module-path=PATH&pin-source=PATH
 * Path attributes: token (the token label) or slot-id; object (CKA_LABEL)
 * and/or id (CKA_ID; it is what finds the key when both are given); type
 * (private, when given).  Query attributes: module-path; pin-source (a file
 * path or a file: URI).  pin-value is refused: a PIN is not written into the
 * configuration.  Values are percent-decoded. */
struct cg_pkcs11_uri {
  char token[CG_TOKEN_LABEL_MAX + 1];
  long slot; /* -1: by token label */
  char object[CG_TOKEN_OBJECT_MAX + 1];
  uint8_t id[CG_TOKEN_OBJECT_MAX];
  size_t id_len;
  char module[CG_TOKEN_PATH_MAX];
  char pin_source[CG_TOKEN_PATH_MAX];
};

/* Whether s is a PKCS#11 URI (starts with "pkcs11:"), for settings that take
 * a key file or a URI. */
bool cg_token_is_uri(const char *s);
/* 0, or CG_EINVAL with *why a static sentence. */
int cg_pkcs11_uri_parse(const char *s, struct cg_pkcs11_uri *u, const char **why);

/* The key uri names, whose public key is spki (its certificate's), opened as
 * a device key (crypto.h): the token is opened and logged in at its first
 * key.  0; CG_EINVAL (the URI, a missing module or PIN), CG_EIO (the PIN
 * file), CG_ENOT_FOUND (no such token or key), CG_EBAD_KEY (the key is not
 * spki's), CG_ECRYPTO (the module or the token failed); why gets a
 * sentence. */
int cg_token_key_open(const char *uri, const struct cg_token_defaults *d, const uint8_t *spki,
                      size_t spki_len, struct cg_key **out, char *why, size_t cap);
/* Generates an EC key pair (bits 256, 384 or 521) in the token, as token
 * objects with the URI's object label and id: the private key sensitive
 * and not extractable.  CG_EEXISTS when the token holds a private key with
 * that label or id already.  Otherwise as cg_token_key_open(). */
int cg_token_key_generate(const char *uri, const struct cg_token_defaults *d, unsigned bits,
                          struct cg_key **out, char *why, size_t cap);
/* A private key from spec: a pkcs11: URI (cg_token_key_open()) or a PEM
 * key file (cg_key_from_pem_file(), a relative path against d->base, the
 * mode checked as d->mode says).  With spki (the certificate's public key;
 * required for a URI) the key must be its: CG_EBAD_KEY otherwise.  why gets
 * a sentence naming the file or the token. */
int cg_key_load(const char *spec, const struct cg_token_defaults *d, const uint8_t *spki,
                size_t spki_len, struct cg_key **out, char *why, size_t cap);
/* Logs out, closes every session and unloads the modules (at exit: every
 * device key must be freed first). */
void cg_token_close_all(void);

#endif
