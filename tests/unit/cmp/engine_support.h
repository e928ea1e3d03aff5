/*
 * engine_support.h - the in-memory driver of the CMP engine tests: a fixture
 * with a CA, an RA and a device key, a tiny "store" of transactions and
 * certificates, and a client that builds requests.
 */
#ifndef CG_TEST_ENGINE_SUPPORT_H
#define CG_TEST_ENGINE_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cmp/client.h"
#include "cmp/msg.h"
#include "cmp/protect.h"
#include "cmp/secret.h"
#include "cmp/server.h"
#include "core/certbuild.h"
#include "core/err.h"
#include "core/oid.h"
#include "core/x509.h"

#define REF "device-ref-0001"
#define SECRET "correct horse battery"
#define MAX_TXNS 128
#define FIXED_CHALLENGE "open sesame"
#define DEVICE_CHALLENGE "device-own-challenge"

struct fixture {
  struct cg_key *ca_key, *ra_key, *dev_key;
  struct cg_key *new_key; /* the device's next key, for kurs (a kur certifies a new key) */
  uint8_t ca_name[128], ra_name[128], dev_name[128];
  size_t ca_name_len, ra_name_len, dev_name_len;
  uint8_t ca_cert[2048], ra_cert[2048];
  size_t ca_cert_len, ra_cert_len;
  struct der_view ra_chain[2], ca_chain[1];
  uint8_t master[32];
  struct cmp_server_cfg cfg;
  struct cmp_profile prof_default, prof_other, prof_implicit, prof_fixed, prof_random,
      prof_manual, prof_onbehalf;
  uint8_t kept[MAX_TXNS][4096]; /* requests kept with waiting transactions */
  size_t kept_len[MAX_TXNS];
  struct cmp_secret_record secret; /* REF's; its profile follows the one asked for */
  /* the "database" */
  struct cmp_txn_record txns[MAX_TXNS];
  uint8_t certs[MAX_TXNS][2048];
  size_t cert_lens[MAX_TXNS];
  size_t n_txns;
  size_t issued; /* certificates the "CA" made */
  size_t light_steps, heavy_steps; /* compute steps play() saw as such */
  size_t compute_steps;            /* every compute step play() ran */
  bool answered_before_note;       /* the answer was made when NOTE came */
  bool ca_waits;  /* the "CA" answers CA_WAITING */
  /* when set, the "CA" answers issue calls with ca_answer; the ca_state and
   * type of the last issue request it saw */
  bool ca_answer_set;
  struct cmp_ca_answer ca_answer;
  uint8_t seen_ca_state[CMP_MAX_CA_STATE];
  size_t seen_ca_state_len;
  int seen_type;
  /* messages forwarded (relaying profiles), and the answer given to them */
  size_t forwards;
  struct cmp_ca_answer fwd_answer;
  /* revocations the "CA" was asked for, and what it answers them */
  size_t ca_revokes;
  int ca_revoke_err;
  bool ca_revoke_waits;
  /* certificates by serial, with status and the auth_ref that enrolled them */
  char serials[MAX_TXNS][2 * CMP_MAX_SERIAL + 1];
  bool revoked[MAX_TXNS];
  int revoked_reason[MAX_TXNS]; /* the CRLReason of a revocation, -1 for none */
  bool held_by_operator[MAX_TXNS];
  size_t n_revocations;
  size_t crls_made, crl_entries_asked;
  size_t notes;              /* secret refusals recorded */
  char last_note[96];        /* and the real reason of the last one */
};

extern struct fixture *F;

struct client {
  uint8_t txid[16], nonce[16];
  struct cmp_client_cred mac;
  struct cmp_client_hdr hdr;
};

int setup(void **state);
int teardown(void **state);
void make_cert(struct cert_spec *s, const struct cg_key *subject_key,
               const struct cg_key *issuer_key, uint8_t *out, size_t cap, size_t *len);
void make_name(const char *cn, uint8_t *out, size_t *len);
struct cmp_txn_record *find_txn(const char *txid, size_t *idx);
/* Plays store, threadpool and CA for one exchange until it is done. */
struct cmp_exchange *run(const char *profile, const uint8_t *req, size_t len);
/* The same for an exchange already made (a background one, say). */
void play(struct cmp_exchange *ex, const char *profile);
const struct cmp_profile *profile_named(const char *profile);
void client_init(struct client *c, const char *ref, const char *secret);
/* A fresh senderNonce for the client's next message (the decode checks of
 * decode_response() then expect it as the answer's recipNonce). */
int client_new_nonce(struct client *c);
size_t make_ir(struct client *c, uint8_t *out, size_t cap);
/* Decodes the response and checks what every answer must satisfy. */
void decode_response(struct cmp_exchange *ex, const struct client *c, struct cmp_msg *m);
void assert_signed_by_ra(const struct cmp_msg *m);
/* A refusal with exactly fail_bit and status rejection: in an error message,
 * or (RFC 9483 §3.6.2: a certificate or revocation request refused for what
 * it asks) in its own ip/cp/kup/rp; its PKIStatusInfo, NULL for no refusal. */
const struct cmp_status_info *refusal_status(const struct cmp_msg *m);
void assert_refused(const struct cmp_msg *m, int fail_bit);
/* The same, in an error message (header, protection, what is not a request). */
void assert_error(const struct cmp_msg *m, int fail_bit);
/* The same, in an answer of that type (CMP_IP, CMP_CP, CMP_KUP, CMP_RP). */
void assert_rejected_in(const struct cmp_msg *m, int type, int fail_bit);
/* The statusString of an error answer, as text ("" when there is none or it
 * does not fit). */
void status_text(const struct cmp_msg *m, char *out, size_t cap);
void enrol(struct client *c, struct cmp_msg *ip, struct cmp_exchange **ex_out);

#endif
