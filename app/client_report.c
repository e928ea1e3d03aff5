/*
 * client_report.c - what `cmpgw client` says of the answers (app/client_int.h):
 * a line per accepted answer, the outcome and its exit status, and what the
 * answers carry for the output files (the chain, a genp's caCerts and CRL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/client_int.h"
#include "cmp/genm.h"
#include "core/der.h"
#include "core/oid.h"
#include "core/x509.h"

static const struct {
  const char *name;
  enum cg_oid_id oid;
} infotype_names[] = {
    {"caCerts", CG_OID_IT_CA_CERTS},
    {"rootCaKeyUpdate", CG_OID_IT_ROOT_CA_KEY_UPDATE},
    {"certReqTemplate", CG_OID_IT_CERT_REQ_TEMPLATE},
    {"signKeyPairTypes", CG_OID_IT_SIGN_KEY_PAIR_TYPES},
    {"crlStatusList", CG_OID_IT_CRL_STATUS_LIST},
    {"crls", CG_OID_IT_CRLS},
    {"rootCaCert", CG_OID_IT_ROOT_CA_CERT},
};

const char *client_infotype_name(struct der_view oid) {
  enum cg_oid_id id = cg_oid_lookup(oid);
  for (size_t i = 0; i < sizeof infotype_names / sizeof infotype_names[0]; i++)
    if (infotype_names[i].oid == id)
      return infotype_names[i].name;
  return NULL;
}

enum cg_oid_id client_infotype(const char *name) {
  for (size_t i = 0; i < sizeof infotype_names / sizeof infotype_names[0]; i++)
    if (strcmp(infotype_names[i].name, name) == 0)
      return infotype_names[i].oid;
  return CG_OID_UNKNOWN;
}

static void print_status_error(const struct cmp_status_info *st, const char *note) {
  char line[1024];
  cmp_status_line(st, line, sizeof line);
  fprintf(stderr, "%s: error: %s%s\n", client_prog, line, note != NULL ? note : "");
}

/* One line per accepted answer: its pvno and how it was protected. */
static void print_protection(const struct cmp_msg *m) {
  enum cg_oid_id alg = cg_oid_lookup(m->hdr.protection_oid);
  char signer[512] = "";
  struct cg_x509 x;
  if (alg != CG_OID_PBM && alg != CG_OID_PBMAC1 && m->n_extra_certs > 0 &&
      cg_x509_parse(m->extra_certs[0].p, m->extra_certs[0].len, &x) == 0)
    cg_name_to_string(x.subject, signer, sizeof signer);
  printf("%s: pvno %llu, %s protection verified%s%s%s\n", cmp_body_name(m->type),
         (unsigned long long)m->hdr.pvno,
         alg == CG_OID_PBM ? "PasswordBasedMac" : alg == CG_OID_PBMAC1 ? "PBMAC1" : "signature",
         signer[0] ? " (signer \"" : "", signer, signer[0] ? "\")" : "");
}

static void print_txid(struct client *cl, const char *prefix) {
  char tid[2 * CMP_MAX_TXID + 1];
  struct der_view id = cmp_client_txn_id(cl->txn);
  cg_hex(id.p, id.len, tid);
  printf("%stransaction %s\n", prefix, tid);
}

/* The certificates of extraCerts and caPubs that chain cert up to a root,
 * issuer by issuer (matched by name), for --chainout. */
static void collect_chain(struct client *cl, const struct cmp_msg *m, struct der_view cert) {
  struct der_view pool[2 * CMP_MAX_EXTRA_CERTS];
  size_t n = 0;
  for (size_t i = 0; i < m->n_extra_certs; i++)
    pool[n++] = m->extra_certs[i];
  for (size_t i = 0; i < m->u.cert_rep.n_ca_pubs; i++)
    pool[n++] = m->u.cert_rep.ca_pubs[i];
  struct cg_x509 cur;
  if (cg_x509_parse(cert.p, cert.len, &cur))
    return;
  while (cl->n_chain < MAX_CERTS && !cg_der_view_eq(cur.issuer, cur.subject)) {
    size_t k = 0;
    struct cg_x509 cand;
    while (k < n && (cg_x509_parse(pool[k].p, pool[k].len, &cand) ||
                     !cg_der_view_eq(cand.subject, cur.issuer) || cg_der_view_eq(pool[k], cur.raw)))
      k++;
    if (k == n || (cl->chain[cl->n_chain] = malloc(pool[k].len)) == NULL)
      return;
    memcpy(cl->chain[cl->n_chain], pool[k].p, pool[k].len);
    cl->chain_v[cl->n_chain] = (struct der_view){cl->chain[cl->n_chain], pool[k].len};
    cl->n_chain++;
    cur = cand;
  }
}

/* Progress lines for the answer a step accepted while the transaction goes on. */
void client_report(struct client *cl, const struct cmp_msg *m) {
  char line[1024];
  if (m->type == CMP_ERROR) {
    if (m->u.error.status.status == CMP_WAITING) {
      cmp_status_line(&m->u.error.status, line, sizeof line);
      printf("waiting (error): %s; ", line);
      print_txid(cl, "");
    }
    return;
  }
  print_protection(m);
  if (m->type == CMP_POLLREP && m->u.poll_rep.n == 1) {
    char why[512] = "";
    if (m->u.poll_rep.rep[0].reason.p != NULL)
      cmp_free_text(m->u.poll_rep.rep[0].reason, why, sizeof why);
    printf("pollRep: check again after %lld s%s%s\n", (long long)m->u.poll_rep.rep[0].check_after,
           why[0] ? ", reason " : "", why);
    return;
  }
  if ((m->type != CMP_IP && m->type != CMP_CP && m->type != CMP_KUP) || m->u.cert_rep.n != 1)
    return;
  const struct cmp_cert_response *r = &m->u.cert_rep.rsp[0];
  if (r->status.status == CMP_WAITING) {
    cmp_status_line(&r->status, line, sizeof line);
    printf("waiting (%s): %s; ", cmp_body_name(m->type), line);
    print_txid(cl, "");
    return;
  }
  struct cg_x509 x;
  if (r->cert.p == NULL || cg_x509_parse(r->cert.p, r->cert.len, &x))
    return;
  char subject[512] = "", serial[2 * 20 + 1] = "?";
  cg_name_to_string(x.subject, subject, sizeof subject);
  if (x.serial.len <= 20)
    cg_hex(x.serial.p, x.serial.len, serial);
  printf("%s: certificate serial %s, subject \"%s\"\n", cmp_body_name(m->type), serial, subject);
  collect_chain(cl, m, r->cert);
}

static void print_genp(const struct cmp_msg *m) {
  struct cmp_genm genp;
  if (cmp_genm_decode(m->content, &genp)) {
    fprintf(stderr, "%s: error: the genp content is malformed\n", client_prog);
    return;
  }
  for (size_t i = 0; i < genp.n; i++) {
    const struct cmp_itav *it = &genp.itav[i];
    const char *name = client_infotype_name(it->oid);
    enum cg_oid_id id = cg_oid_lookup(it->oid);
    char hex[64] = "";
    if (name == NULL && it->oid.len < sizeof hex / 2)
      cg_hex(it->oid.p, it->oid.len, hex);
    printf("infoType %s (%s): value %s\n", name ? name : "unknown",
           id != CG_OID_UNKNOWN ? cg_oid_dotted(id) : hex, it->value.len ? "present" : "absent");
  }
}

/* The first CertificateList of an id-it-crls value in the genp, or len 0. */
struct der_view client_genp_crl(const struct cmp_msg *m) {
  struct cmp_genm genp;
  struct der_view none = {NULL, 0};
  if (m == NULL || cmp_genm_decode(m->content, &genp))
    return none;
  for (size_t i = 0; i < genp.n; i++) {
    if (cg_oid_lookup(genp.itav[i].oid) != CG_OID_IT_CRLS || genp.itav[i].value.len == 0)
      continue;
    struct der_reader r, seq;
    struct der_tlv t;
    cg_der_reader_view(&r, genp.itav[i].value);
    if (cg_der_enter(&r, DER_SEQUENCE, &seq) == 0 && cg_der_expect(&seq, DER_SEQUENCE, &t) == 0)
      return t.raw;
  }
  return none;
}

/* The caCerts of the genp (for --chainout after genm caCerts). */
void client_genp_ca_certs(struct client *cl, const struct cmp_msg *m) {
  struct cmp_genm genp;
  if (m == NULL || cmp_genm_decode(m->content, &genp))
    return;
  for (size_t i = 0; i < genp.n; i++) {
    if (cg_oid_lookup(genp.itav[i].oid) != CG_OID_IT_CA_CERTS || genp.itav[i].value.len == 0)
      continue;
    struct der_reader r, seq;
    struct der_tlv t;
    cg_der_reader_view(&r, genp.itav[i].value);
    if (cg_der_enter(&r, DER_SEQUENCE, &seq))
      continue;
    while (cl->n_chain < MAX_CERTS && cg_der_expect(&seq, DER_SEQUENCE, &t) == 0) {
      if ((cl->chain[cl->n_chain] = malloc(t.raw.len)) == NULL)
        return;
      memcpy(cl->chain[cl->n_chain], t.raw.p, t.raw.len);
      cl->chain_v[cl->n_chain] = (struct der_view){cl->chain[cl->n_chain], t.raw.len};
      cl->n_chain++;
    }
  }
}

/* The end of the transaction: what it came to, and the exit status. */
int client_conclude(struct client *cl) {
  struct cmp_client_result r;
  cmp_client_txn_result(cl->txn, &r);
  char tid[2 * CMP_MAX_TXID + 1];
  struct der_view id = cmp_client_txn_id(cl->txn);
  cg_hex(id.p, id.len, tid);
  switch (r.outcome) {
  case CMP_CLIENT_OK:
    if (r.answer != NULL && r.answer->type != CMP_ERROR && r.answer->type != CMP_IP &&
        r.answer->type != CMP_CP && r.answer->type != CMP_KUP)
      print_protection(r.answer);
    if (cl->o.type == CMP_RR) {
      printf("rp: revoked (PKIStatus %s)\n", cmp_status_name(r.status.status));
    } else if (cl->o.type == CMP_GENM) {
      print_genp(r.answer);
    } else if (r.implicit_confirm) {
      printf("implicit confirmation granted\n");
    } else {
      printf("pkiConf: certificate confirmed\n");
    }
    if (r.cert.p != NULL && (cl->new_cert = malloc(r.cert.len)) != NULL) {
      memcpy(cl->new_cert, r.cert.p, r.cert.len);
      cl->new_cert_len = r.cert.len;
    }
    return 0;
  case CMP_CLIENT_REFUSED:
    if (r.cert_rejected) {
      fprintf(stderr, "%s: error: the certificate does not hold the requested public key; "
                      "rejecting it\n", client_prog);
      printf("pkiConf: certificate rejected\n");
      return EXIT_REFUSED;
    }
    if (r.unverified) {
      char note[400];
      snprintf(note, sizeof note, " (unverified: %s)", r.detail);
      print_status_error(&r.status, note);
    } else {
      print_status_error(&r.status, NULL);
    }
    return EXIT_REFUSED;
  case CMP_CLIENT_WAITING:
    if (cl->o.poll_max_s == 0)
      fprintf(stderr, "%s: error: the server asks to poll later and --poll-max is 0; "
                      "transaction %s\n", client_prog, tid);
    else
      fprintf(stderr, "%s: error: still waiting after %llu s of polling (--poll-max); "
                      "transaction %s\n", client_prog, (unsigned long long)cl->o.poll_max_s, tid);
    return EXIT_REFUSED;
  case CMP_CLIENT_TRANSPORT:
    fprintf(stderr, "%s: error: %s\n", client_prog, r.detail);
    return EXIT_TRANSPORT;
  case CMP_CLIENT_BAD_ANSWER:
  case CMP_CLIENT_LOCAL:
    break;
  }
  fprintf(stderr, "%s: error: %s\n", client_prog, r.detail);
  return EXIT_REFUSED;
}
