/*
 * tls.h - TLS for the listeners (RFC 8446, RFC 5246), on wolfSSL, without
 * I/O: a session takes the ciphertext the connection read
 * (cg_tls_feed()), gives back plaintext (cg_tls_read(), which also drives
 * the handshake), encrypts plaintext (cg_tls_write()) and hands out the
 * ciphertext to send (cg_tls_output()).  transports/conn.c moves the
 * bytes between a session and its socket on the loop, so HTTP sees only
 * plaintext and shares its connection lifecycle with HTTPS.
 *
 * A server context holds the certificate chain and key, TLS 1.2 and 1.3
 * only (wolfSSL here is built without the older versions), the cipher
 * suites (CG_TLS_DEFAULT_CIPHERS: forward secrecy and AEAD only), session
 * tickets and wolfSSL's session cache, so that a client that reconnects per
 * message resumes instead of paying a full handshake.  Sessions keep the
 * context they were made with: a context can be replaced (a new certificate)
 * while old sessions run on.  Thread: the loop's.
 */
#ifndef CG_TRANSPORTS_TLS_H
#define CG_TRANSPORTS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TLS 1.3 suites, then the TLS 1.2 ECDHE suites with AES-GCM or
 * ChaCha20-Poly1305 (wolfSSL's names). */
#define CG_TLS_DEFAULT_CIPHERS                                                               \
  "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"         \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                             \
  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:" \
  "ECDHE-RSA-CHACHA20-POLY1305"

/* The credentials as the files hold them (the caller reads the files, and
 * checks the key file's mode). */
/* Client certificates (RFC 8446 §4.3.2, §4.4.2): none asked for; asked for
 * and, when one comes, checked against client_anchors (a certificate that
 * does not chain ends the handshake); or required as well. */
enum cg_tls_client_auth { CG_TLS_CLIENT_NONE, CG_TLS_CLIENT_OPTIONAL, CG_TLS_CLIENT_REQUIRED };

struct cg_tls_server_config {
  const uint8_t *cert_pem; /* the server certificate, then its chain */
  size_t cert_len;
  const uint8_t *key_pem;  /* its private key */
  size_t key_len;
  const char *ciphers;     /* NULL or "": CG_TLS_DEFAULT_CIPHERS */
  enum cg_tls_client_auth client_auth;
  const uint8_t *client_anchors_pem; /* PEM: what client certificates must chain to */
  size_t client_anchors_len;
  /* Instead of key_pem: the key in a token (crypto.h, a device key),
   * checked against the certificate by whoever opened it; the context
   * names it to wolfSSL by its id or label, so it may be freed after. */
  const struct cg_key *device_key;
};

struct cg_tls_server;
struct cg_tls;

/* A server context.  0; CG_EBAD_DATA (a certificate or key wolfSSL cannot
 * read), CG_EBAD_KEY (the key is not the certificate's), CG_EINVAL (a cipher
 * list wolfSSL does not take), CG_ECRYPTO, CG_ENOMEM; with a sentence in why. */
int cg_tls_server_new(const struct cg_tls_server_config *cfg, struct cg_tls_server **out,
                      char *why, size_t cap);
void cg_tls_server_free(struct cg_tls_server *s);
/* Replaces the context's certificate, key and ciphers with cfg's, for the
 * sessions made from now on; on any error nothing changes (the errors of
 * cg_tls_server_new()). */
int cg_tls_server_reload(struct cg_tls_server *s, const struct cg_tls_server_config *cfg,
                         char *why, size_t cap);

/* The client side (`cmpgw client`, the upstream backend): the server must
 * present a certificate that chains to trusted and names the host asked for
 * (subjectAltName DNS name or IP address); the client presents cert and key
 * when given. */
struct cg_tls_client_config {
  const uint8_t *trusted_pem; /* trust anchors (required) */
  size_t trusted_len;
  const uint8_t *cert_pem; /* NULL: no client certificate */
  size_t cert_len;
  const uint8_t *key_pem;
  size_t key_len;
  bool no_resume; /* every connection a full handshake (benchmarks) */
};
struct cg_tls_client;
/* The errors of cg_tls_server_new(). */
int cg_tls_client_new(const struct cg_tls_client_config *cfg, struct cg_tls_client **out,
                      char *why, size_t cap);
void cg_tls_client_free(struct cg_tls_client *c);

/* A session of a connection accepted by s; NULL when out of memory. */
struct cg_tls *cg_tls_new(struct cg_tls_server *s);
/* A session of a connection made by c to host (checked against the server's
 * certificate, and sent as SNI when it is a name); cg_tls_read() with cap 0
 * starts its handshake.  It offers to resume the last session of c (a ticket
 * or session ID the server gave), so a client that connects per message
 * makes one full handshake.  NULL when out of memory. */
struct cg_tls *cg_tls_new_client(struct cg_tls_client *c, const char *host);
void cg_tls_free(struct cg_tls *t);

/* Ciphertext read from the peer; CG_ESPACE past what one connection may
 * hold unread (two full TLS records). */
int cg_tls_feed(struct cg_tls *t, const uint8_t *p, size_t n);
/* Plaintext into out: > 0 octets; 0 when more ciphertext is needed (the
 * handshake may have made output to send); CG_EEOF when the peer closed
 * the session (close_notify); CG_ETLS when it failed (why: cg_tls_why()). */
int cg_tls_read(struct cg_tls *t, uint8_t *out, size_t cap);
/* Whether cg_tls_read() may give plaintext without more ciphertext. */
bool cg_tls_readable(const struct cg_tls *t);
/* Encrypts n octets of plaintext into the output.  0 or CG_ETLS. */
int cg_tls_write(struct cg_tls *t, const uint8_t *p, size_t n);
/* Queues close_notify. */
void cg_tls_shutdown(struct cg_tls *t);
/* The ciphertext to send, held by the session (NULL when none); the caller
 * copies it into its write and then calls cg_tls_output_sent(). */
const uint8_t *cg_tls_output(const struct cg_tls *t, size_t *len);
void cg_tls_output_sent(struct cg_tls *t);
/* Whether the handshake is done; the protocol version and cipher suite
 * (static text), for logs. */
bool cg_tls_established(const struct cg_tls *t);
const char *cg_tls_version(const struct cg_tls *t);
/* Why the session failed (static text). */
const char *cg_tls_why(const struct cg_tls *t);
/* The client's certificate (DER) of an established session that has one:
 * copied into out (cap octets), *len set; CG_ENOT_FOUND when there is none,
 * CG_ESPACE. */
int cg_tls_peer_cert(struct cg_tls *t, uint8_t *out, size_t cap, size_t *len);
/* Whether this session was resumed. */
bool cg_tls_resumed(const struct cg_tls *t);
/* The wolfSSL version linked ("5.7.2"), and the most cipher suites a
 * ClientHello may offer with it (more: refused as malformed), for the log. */
const char *cg_tls_library(void);
unsigned cg_tls_max_hello_suites(void);

#endif
