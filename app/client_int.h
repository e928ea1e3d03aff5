/*
 * client_int.h - what the files of `cmpgw client` share: its options, the
 * state of its one transaction, and what client_report.c says of the
 * answers.  cmd_client.c reads the arguments and files, drives the
 * transaction (cmp/client_txn.h) over HTTP or raw TCP and writes the output
 * files.  Thread: the client's one loop.
 */
#ifndef CG_APP_CLIENT_INT_H
#define CG_APP_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "app/cli.h"
#include "cmp/client.h"
#include "cmp/client_txn.h"
#include "cmp/genm.h"
#include "cmp/msg.h"
#include "core/crypto.h"
#include "core/der.h"
#include "core/oid.h"
#include "transports/coap_client.h"
#include "transports/http_client.h"
#include "transports/tcp_client.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_TRANSPORT 2

#define MAX_BODY (64 * 1024)        /* the body of a request we build */
#define MAX_RESPONSE (1024 * 1024)  /* a response we accept */
#define MAX_CERTS 8                 /* certificates per input file */
#define MAX_INFOTYPES CMP_GENM_MAX_ITAV
#define DEFAULT_ITERATIONS 10000
#define MAX_RESPONSE_ITERATIONS 1000000 /* a response may not make us hash longer */
#define DEFAULT_POLL_MAX 600

extern const char client_prog[]; /* "cmpgw client", for messages */

struct certs {
  uint8_t *der[MAX_CERTS];
  struct der_view v[MAX_CERTS];
  size_t n;
};

struct opts {
  int type; /* enum cmp_body_type of the request */
  const char *url, *ref, *secret, *secret_file, *cert, *key, *trusted, *newkey, *newkeytype,
      *subject, *csr, *oldcert, *challenge, *certout, *chainout, *genpout, *crlout, *nested_cert,
      *nested_key, *framing, *keyenvout, *tls_trusted, *tls_cert, *tls_key;
  bool pbmac1, implicit_confirm;
  bool central_keygen; /* ask the server to make the key (RFC 9483 §4.1.6) */
  uint32_t iterations;
  int revreason;
  uint64_t pvno;
  uint64_t timeout_s;
  uint64_t poll_max_s; /* 0: do not poll */
  enum cg_oid_id infotypes[MAX_INFOTYPES];
  size_t n_infotypes;
};

struct client {
  struct opts o;
  char host[64];
  int port;
  char path[512];
  bool tcp;                      /* --url tcp://... */
  bool https;                    /* --url https://... */
  bool coap;                     /* --url coap://... */
  struct cg_tls_client *tls;     /* its context (--tls-trusted, --tls-cert, --tls-key) */
  enum cg_tcp_framing framing;
  uint32_t tcp_poll_ref;         /* a TCP pollRep's reference; 0: none */
  uint64_t tcp_poll_deadline;    /* uv_now() ms after which TCP polling stops */
  uint64_t tcp_wait_s; /* the last TCP pollRep's wait: a failed poll is retried after it */

  /* inputs */
  char secret[CLI_SECRET_MAX + 1]; /* --secret or --secret-file; wiped at the end */
  size_t secret_len;
  struct cmp_client_cred cred;
  struct cmp_client_cred nested_cred;
  struct cg_key *key;          /* --key */
  struct certs signer;         /* --cert: the signer, then its chain */
  struct certs anchors;        /* --trusted */
  struct certs old;            /* --oldcert */
  struct certs nested_ra;      /* --nested-cert */
  struct cg_key *nested_key;   /* --nested-key */
  struct cg_key *new_key;      /* --newkey or generated */
  bool new_key_generated;
  uint8_t subject[1024];
  struct der_view subject_v;   /* p NULL: none */
  uint8_t *csr;
  size_t csr_len;

  /* the transaction */
  struct cmp_client_cfg cfg;
  struct cmp_client_txn *txn;
  uv_loop_t loop;
  struct cg_http_client *http;
  struct cg_coap_client *coap_client;
  uv_timer_t timer;
  bool done;
  int exit_code;

  /* results, kept from the answers that carried them */
  uint8_t *new_cert;
  size_t new_cert_len;
  uint8_t *chain[MAX_CERTS];
  struct der_view chain_v[MAX_CERTS];
  size_t n_chain;
};

/* The infoType named on the command line (--infotype), CG_OID_UNKNOWN when
 * none is; the name of an infoType OID, NULL when it has none. */
enum cg_oid_id client_infotype(const char *name);
const char *client_infotype_name(struct der_view oid);
/* Progress lines for an answer a step accepted while the transaction goes on. */
void client_report(struct client *cl, const struct cmp_msg *m);
/* The end of the transaction: what it came to, printed; the exit status. */
int client_conclude(struct client *cl);
/* The first CertificateList of an id-it-crls value of genp (NULL: none), or len 0. */
struct der_view client_genp_crl(const struct cmp_msg *genp);
/* The caCerts of genp, added to the chain (for --chainout). */
void client_genp_ca_certs(struct client *cl, const struct cmp_msg *genp);

#endif
