/*
 * tls.c - TLS sessions over memory (tls.h): wolfSSL with I/O callbacks that
 * read the ciphertext fed in and append what it sends to an output buffer,
 * so nothing here touches a socket and nothing blocks.
 */
#include <wolfssl/options.h>

#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/der.h"
#include "core/x509.h"
#include "core/err.h"
#include "transports/tls.h"

/* What one session may hold of unread ciphertext: two full records (16 KiB
 * of plaintext each, with their header and expansion). */
#define TLS_IN_LIMIT (2 * (16384 + 2048))
/* What it may hold of ciphertext not yet handed out (one answer of the
 * largest size the listeners write, in records, and a handshake flight). */
#define TLS_OUT_LIMIT (64u << 20)

struct cg_tls_server {
  WOLFSSL_CTX *ctx; /* each session holds a reference of its own */
};

struct cg_tls_client {
  WOLFSSL_CTX *ctx;
  WOLFSSL_SESSION *last; /* to resume; NULL: none yet */
  bool no_resume;
};

struct cg_tls {
  WOLFSSL *ssl;
  bool client;
  struct cg_tls_client *owner; /* a client session: where its session is kept */
  struct cg_buf in;  /* ciphertext fed, not yet read by wolfSSL */
  size_t in_off;     /* what wolfSSL consumed of in */
  struct cg_buf out; /* ciphertext to send */
  const char *why;
  char why_buf[256];
  bool established, failed, eof;
  bool answered; /* a client session read application data */
};

static int on_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx) {
  (void)ssl;
  struct cg_tls *t = ctx;
  size_t avail = t->in.len - t->in_off;
  if (avail == 0)
    return t->eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
  size_t n = avail < (size_t)sz ? avail : (size_t)sz;
  memcpy(buf, t->in.data + t->in_off, n);
  t->in_off += n;
  if (t->in_off == t->in.len)
    t->in.len = t->in_off = 0;
  return (int)n;
}

static int on_send(WOLFSSL *ssl, char *buf, int sz, void *ctx) {
  (void)ssl;
  struct cg_tls *t = ctx;
  if (cg_buf_append(&t->out, buf, (size_t)sz) != 0)
    return WOLFSSL_CBIO_ERR_GENERAL;
  return sz;
}

/* Whether the first private key of key_pem is the key of the first
 * certificate of cert_pem, compared as SubjectPublicKeyInfo (wolfSSL 5.5's
 * wolfSSL_CTX_check_private_key() passes an EC key that is not the
 * certificate's). */
static bool key_matches(const uint8_t *cert_pem, size_t cert_len, const uint8_t *key_pem,
                        size_t key_len) {
  static const char *const labels[] = {"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"};
  uint8_t *der = malloc(16384);
  struct cg_key *key = NULL;
  struct cg_x509 x;
  size_t len, used, spki_len;
  bool ok = false;
  if (der == NULL)
    return false;
  for (size_t i = 0; key == NULL && i < sizeof labels / sizeof labels[0]; i++)
    if (cg_pem_decode(labels[i], (const char *)key_pem, key_len, der, 16384, &len, &used) == 0 &&
        cg_key_from_private_der(der, len, &key) != 0)
      key = NULL;
  cg_wipe(der, 16384);
  if (key != NULL &&
      cg_pem_decode("CERTIFICATE", (const char *)cert_pem, cert_len, der, 16384, &len, &used) ==
          0 &&
      cg_x509_parse(der, len, &x) == 0) {
    uint8_t spki[1200];
    ok = cg_key_spki(key, spki, sizeof spki, &spki_len) == 0 &&
         cg_der_view_is(x.spki, spki, spki_len);
  }
  cg_key_free(key);
  free(der);
  return ok;
}

/* The context's key is one in a token, which wolfSSL names by its id or
 * label and signs with through the token's device (core/token.c); the key
 * type and size come from the certificate loaded before. */
static int use_device_key(WOLFSSL_CTX *ctx, const struct cg_key *key) {
  int dev_id;
  const uint8_t *ref;
  size_t ref_len;
  bool is_label;
  if (!cg_key_device(key, &dev_id, &ref, &ref_len, &is_label))
    return WOLFSSL_FAILURE;
  return is_label ? wolfSSL_CTX_use_PrivateKey_Label(ctx, (const char *)ref, dev_id)
                  : wolfSSL_CTX_use_PrivateKey_Id(ctx, ref, (long)ref_len, dev_id);
}

static int make_ctx(const struct cg_tls_server_config *cfg, WOLFSSL_CTX **out, char *why,
                    size_t cap) {
  *out = NULL;
  WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
  if (ctx == NULL) {
    snprintf(why, cap, "out of memory");
    return CG_ENOMEM;
  }
  int err = 0;
  const char *ciphers = cfg->ciphers != NULL && cfg->ciphers[0] ? cfg->ciphers
                                                                : CG_TLS_DEFAULT_CIPHERS;
  if (wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
    snprintf(why, cap, "TLS 1.2 is not available in this wolfSSL");
    err = CG_ECRYPTO;
  } else if (wolfSSL_CTX_use_certificate_chain_buffer_format(
                 ctx, cfg->cert_pem, (long)cfg->cert_len, WOLFSSL_FILETYPE_PEM) !=
             WOLFSSL_SUCCESS) {
    snprintf(why, cap, "the certificate file holds no certificate wolfSSL can read");
    err = CG_EBAD_DATA;
  } else if (cfg->device_key != NULL) {
    if (use_device_key(ctx, cfg->device_key) != WOLFSSL_SUCCESS) {
      snprintf(why, cap, "wolfSSL does not take the key in the token");
      err = CG_ECRYPTO;
    }
  } else if (wolfSSL_CTX_use_PrivateKey_buffer(ctx, cfg->key_pem, (long)cfg->key_len,
                                               WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
    snprintf(why, cap, "the key file holds no private key wolfSSL can read");
    err = CG_EBAD_DATA;
  } else if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS ||
             !key_matches(cfg->cert_pem, cfg->cert_len, cfg->key_pem, cfg->key_len)) {
    snprintf(why, cap, "the key is not the certificate's");
    err = CG_EBAD_KEY;
  } else if (wolfSSL_CTX_set_cipher_list(ctx, ciphers) != WOLFSSL_SUCCESS) {
    snprintf(why, cap, "the cipher list names no suite this wolfSSL offers");
    err = CG_EINVAL;
  }
  if (err == 0 && cfg->client_auth != CG_TLS_CLIENT_NONE) {
    if (cfg->client_anchors_pem == NULL ||
        wolfSSL_CTX_load_verify_buffer(ctx, cfg->client_anchors_pem,
                                       (long)cfg->client_anchors_len,
                                       WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
      snprintf(why, cap, "the client anchors file holds no certificate wolfSSL can read");
      err = CG_EBAD_DATA;
    } else {
      wolfSSL_CTX_set_verify(ctx,
                             WOLFSSL_VERIFY_PEER |
                                 (cfg->client_auth == CG_TLS_CLIENT_REQUIRED
                                      ? WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                      : 0),
                             NULL);
    }
  }
#ifdef HAVE_SESSION_TICKET
  /* RFC 8446 §4.6.1 and RFC 5077: the client keeps the session. */
  if (err == 0)
    (void)wolfSSL_CTX_UseSessionTicket(ctx);
#endif
  if (err != 0) {
    wolfSSL_CTX_free(ctx);
    return err;
  }
  wolfSSL_CTX_SetIORecv(ctx, on_recv);
  wolfSSL_CTX_SetIOSend(ctx, on_send);
  *out = ctx;
  return 0;
}

int cg_tls_server_new(const struct cg_tls_server_config *cfg, struct cg_tls_server **out,
                      char *why, size_t cap) {
  *out = NULL;
  if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
    snprintf(why, cap, "wolfSSL does not start");
    return CG_ECRYPTO;
  }
  struct cg_tls_server *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(why, cap, "out of memory");
    return CG_ENOMEM;
  }
  int err = make_ctx(cfg, &s->ctx, why, cap);
  if (err != 0) {
    free(s);
    return err;
  }
  *out = s;
  return 0;
}

int cg_tls_server_reload(struct cg_tls_server *s, const struct cg_tls_server_config *cfg,
                         char *why, size_t cap) {
  WOLFSSL_CTX *ctx;
  int err = make_ctx(cfg, &ctx, why, cap);
  if (err != 0)
    return err;
  wolfSSL_CTX_free(s->ctx); /* sessions made with it keep it until they end */
  s->ctx = ctx;
  return 0;
}

int cg_tls_client_new(const struct cg_tls_client_config *cfg, struct cg_tls_client **out,
                      char *why, size_t cap) {
  *out = NULL;
  if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
    snprintf(why, cap, "wolfSSL does not start");
    return CG_ECRYPTO;
  }
  struct cg_tls_client *c = calloc(1, sizeof *c);
  WOLFSSL_CTX *ctx = c != NULL ? wolfSSL_CTX_new(wolfSSLv23_client_method()) : NULL;
  if (ctx == NULL) {
    free(c);
    snprintf(why, cap, "out of memory");
    return CG_ENOMEM;
  }
  int err = 0;
  if (wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
    snprintf(why, cap, "TLS 1.2 is not available in this wolfSSL");
    err = CG_ECRYPTO;
  } else if (cfg->trusted_pem == NULL ||
             wolfSSL_CTX_load_verify_buffer(ctx, cfg->trusted_pem, (long)cfg->trusted_len,
                                            WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
    snprintf(why, cap, "the trust anchors file holds no certificate wolfSSL can read");
    err = CG_EBAD_DATA;
  } else if (cfg->cert_pem != NULL &&
             wolfSSL_CTX_use_certificate_chain_buffer_format(
                 ctx, cfg->cert_pem, (long)cfg->cert_len, WOLFSSL_FILETYPE_PEM) !=
                 WOLFSSL_SUCCESS) {
    snprintf(why, cap, "the client certificate file holds no certificate wolfSSL can read");
    err = CG_EBAD_DATA;
  } else if (cfg->cert_pem != NULL &&
             (cfg->key_pem == NULL ||
              wolfSSL_CTX_use_PrivateKey_buffer(ctx, cfg->key_pem, (long)cfg->key_len,
                                                WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)) {
    snprintf(why, cap, "the client key file holds no private key wolfSSL can read");
    err = CG_EBAD_DATA;
  } else if (cfg->cert_pem != NULL &&
             (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS ||
              !key_matches(cfg->cert_pem, cfg->cert_len, cfg->key_pem, cfg->key_len))) {
    snprintf(why, cap, "the client key is not the client certificate's");
    err = CG_EBAD_KEY;
  } else if (wolfSSL_CTX_set_cipher_list(ctx, CG_TLS_DEFAULT_CIPHERS) != WOLFSSL_SUCCESS) {
    snprintf(why, cap, "this wolfSSL offers none of the default cipher suites");
    err = CG_ECRYPTO;
  }
  if (err != 0) {
    wolfSSL_CTX_free(ctx);
    free(c);
    return err;
  }
  wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
  wolfSSL_CTX_SetIORecv(ctx, on_recv);
  wolfSSL_CTX_SetIOSend(ctx, on_send);
  c->ctx = ctx;
  c->no_resume = cfg->no_resume;
#ifdef HAVE_SESSION_TICKET
  if (!c->no_resume)
    (void)wolfSSL_CTX_UseSessionTicket(ctx);
#endif
  *out = c;
  return 0;
}

void cg_tls_client_free(struct cg_tls_client *c) {
  if (c == NULL)
    return;
  wolfSSL_SESSION_free(c->last);
  wolfSSL_CTX_free(c->ctx);
  free(c);
}

void cg_tls_server_free(struct cg_tls_server *s) {
  if (s == NULL)
    return;
  wolfSSL_CTX_free(s->ctx);
  free(s);
}

static struct cg_tls *session_of(WOLFSSL_CTX *ctx) {
  struct cg_tls *t = calloc(1, sizeof *t);
  if (t == NULL)
    return NULL;
  t->ssl = wolfSSL_new(ctx);
  if (t->ssl == NULL) {
    free(t);
    return NULL;
  }
  cg_buf_init(&t->in, TLS_IN_LIMIT);
  cg_buf_init(&t->out, TLS_OUT_LIMIT);
  wolfSSL_SetIOReadCtx(t->ssl, t);
  wolfSSL_SetIOWriteCtx(t->ssl, t);
  return t;
}

struct cg_tls *cg_tls_new(struct cg_tls_server *s) { return session_of(s->ctx); }

struct cg_tls *cg_tls_new_client(struct cg_tls_client *c, const char *host) {
  struct cg_tls *t = session_of(c->ctx);
  if (t == NULL)
    return NULL;
  t->client = true;
  t->owner = c;
  if (c->last != NULL && !c->no_resume)
    (void)wolfSSL_set_session(t->ssl, c->last); /* a stale one makes a full handshake */
  unsigned char ip[16];
  bool literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
  /* RFC 6066 §3: SNI carries names, never addresses. */
  if ((!literal && wolfSSL_UseSNI(t->ssl, WOLFSSL_SNI_HOST_NAME, host,
                                  (unsigned short)strlen(host)) != WOLFSSL_SUCCESS) ||
      wolfSSL_check_domain_name(t->ssl, host) != WOLFSSL_SUCCESS) {
    cg_tls_free(t);
    return NULL;
  }
  return t;
}

void cg_tls_free(struct cg_tls *t) {
  if (t == NULL)
    return;
  /* A client keeps the session of a connection that served an answer, for
   * the next connection to resume: by now a TLS 1.3 server's ticket (sent
   * after the handshake) has come with it. */
  if (t->client && t->answered && !t->failed && !t->owner->no_resume) {
    WOLFSSL_SESSION *s = wolfSSL_get1_session(t->ssl);
    if (s != NULL) {
      wolfSSL_SESSION_free(t->owner->last);
      t->owner->last = s;
    }
  }
  wolfSSL_free(t->ssl);
  cg_buf_free(&t->in);
  cg_buf_free(&t->out);
  free(t);
}

int cg_tls_feed(struct cg_tls *t, const uint8_t *p, size_t n) {
  if (t->in_off > 0 && t->in_off == t->in.len)
    t->in.len = t->in_off = 0;
  return cg_buf_append(&t->in, p, n) == 0 ? 0 : CG_ESPACE;
}

/* The failure of the last call, as a sentence for the log. */
static int fail(struct cg_tls *t, int ret) {
  int e = wolfSSL_get_error(t->ssl, ret);
  switch (e) {
  case WOLFSSL_ERROR_WANT_READ:
  case WOLFSSL_ERROR_WANT_WRITE:
    if (t->in.len == 0)
      cg_buf_free(&t->in); /* an idle session holds no input buffer */
    return 0;
  case WOLFSSL_ERROR_ZERO_RETURN:
    t->eof = true;
    return CG_EEOF;
  case VERSION_ERROR:
    t->why = "the client offered no TLS version accepted (1.2, 1.3)";
    break;
  case MATCH_SUITE_ERROR:
    t->why = "the client offered no cipher suite accepted";
    break;
  case SOCKET_PEER_CLOSED_E:
  case SOCKET_ERROR_E:
    t->eof = true;
    return CG_EEOF;
  default: {
    char text[80];
    wolfSSL_ERR_error_string_n((unsigned long)e, text, sizeof text);
    snprintf(t->why_buf, sizeof t->why_buf, "%s: %s (wolfSSL error %d)",
             t->established ? "a TLS record did not decrypt or parse"
             : t->client    ? "the TLS handshake failed"
                            : "the TLS handshake failed (not a ClientHello this server takes)",
             text, e);
    t->why = t->why_buf;
    break;
  }
  }
  t->failed = true;
  return CG_ETLS;
}

int cg_tls_read(struct cg_tls *t, uint8_t *out, size_t cap) {
  if (t->failed)
    return CG_ETLS;
  if (!t->established) {
    int r = t->client ? wolfSSL_connect(t->ssl) : wolfSSL_accept(t->ssl);
    if (r != WOLFSSL_SUCCESS)
      return fail(t, r);
    t->established = true;
    /* What the handshake needed and an idle session does not: wolfSSL
     * keeps it for TLS 1.3 post-handshake authentication, which cmpgw
     * never asks for (3.5 KB a session). */
    if (!t->client)
      wolfSSL_FreeArrays(t->ssl);
  }
  if (cap == 0)
    return 0;
  int r = wolfSSL_read(t->ssl, out, cap > INT32_MAX ? INT32_MAX : (int)cap);
  if (r > 0 && t->client)
    t->answered = true;
  return r > 0 ? r : fail(t, r);
}

bool cg_tls_readable(const struct cg_tls *t) {
  return !t->failed && (t->in.len > t->in_off || wolfSSL_pending(t->ssl) > 0);
}

int cg_tls_write(struct cg_tls *t, const uint8_t *p, size_t n) {
  while (n > 0) {
    int chunk = n > 16384 ? 16384 : (int)n;
    int r = wolfSSL_write(t->ssl, p, chunk);
    if (r <= 0) {
      (void)fail(t, r);
      t->failed = true;
      return CG_ETLS;
    }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

void cg_tls_shutdown(struct cg_tls *t) {
  if (t->established && !t->failed)
    (void)wolfSSL_shutdown(t->ssl);
}

const uint8_t *cg_tls_output(const struct cg_tls *t, size_t *len) {
  *len = t->out.len;
  return t->out.len > 0 ? t->out.data : NULL;
}

void cg_tls_output_sent(struct cg_tls *t) {
  cg_buf_free(&t->out); /* an idle session holds no output buffer */
}

bool cg_tls_established(const struct cg_tls *t) { return t->established; }

const char *cg_tls_version(const struct cg_tls *t) { return wolfSSL_get_version(t->ssl); }

const char *cg_tls_why(const struct cg_tls *t) {
  return t->why != NULL ? t->why : "TLS failed";
}

bool cg_tls_resumed(const struct cg_tls *t) { return wolfSSL_session_reused(t->ssl) == 1; }

int cg_tls_peer_cert(struct cg_tls *t, uint8_t *out, size_t cap, size_t *len) {
  if (!t->established || t->failed)
    return CG_ENOT_FOUND;
  WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(t->ssl);
  if (x == NULL)
    return CG_ENOT_FOUND;
  int n = 0;
  const unsigned char *der = wolfSSL_X509_get_der(x, &n);
  int rc = der == NULL || n <= 0 ? CG_ENOT_FOUND : (size_t)n > cap ? CG_ESPACE : 0;
  if (rc == 0) {
    memcpy(out, der, (size_t)n);
    *len = (size_t)n;
  }
  wolfSSL_X509_free(x);
  return rc;
}

const char *cg_tls_library(void) { return wolfSSL_lib_version(); }

unsigned cg_tls_max_hello_suites(void) {
#ifdef WOLFSSL_MAX_SUITE_SZ
  return WOLFSSL_MAX_SUITE_SZ / 2;
#else
  return 150; /* wolfSSL's default WOLFSSL_MAX_SUITE_SZ, 300 octets */
#endif
}
