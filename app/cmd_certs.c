/*
 * cmd_certs.c - `cmpgw certs list` and `cmpgw certs show`: the certificates
 * the gateway issued, newest first, filtered by a piece of the subject and by
 * status; and one certificate with its revocation and the transaction that
 * issued it, or (--pem) the certificate itself as PEM.  Read-only, while
 * `cmpgw serve` runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "app/commands.h"
#include "core/crypto.h"
#include "core/err.h"
#include "store/query.h"
#include "store/store.h"

#define DEFAULT_LIMIT 50

static int usage(void) {
  fprintf(stderr,
          "usage: cmpgw certs list -c CONF [--subject SUBSTRING]\n"
          "                        [--status valid|unconfirmed|revoked]\n"
          "                        [--limit N] [--json]\n"
          "       cmpgw certs show -c CONF SERIAL [--pem | --json]\n"
          "  --subject: part of the RFC 4514 subject, ASCII letters in any case\n"
          "  --limit: default %d, 0 for all\n"
          "  SERIAL: hex, any case, ':' separators and leading zeros allowed\n",
          DEFAULT_LIMIT);
  return CLI_USAGE;
}

/* "1 (keyCompromise)", or "none given". */
static void reason_text(int reason, char *out, size_t cap) {
  const char *name = cli_crl_reason_name(reason);
  if (reason < 0 || name == NULL)
    snprintf(out, cap, "none given");
  else
    snprintf(out, cap, "%d (%s)", reason, name);
}

static void cert_fields(struct cli_json *j, const void *item) {
  const struct cg_query_cert *c = item;
  cli_json_string(j, "serial", c->serial);
  cli_json_string(j, "subject", c->subject);
  cli_json_string(j, "issuer", c->issuer);
  cli_json_opt(j, "sans", c->sans);
  cli_json_opt(j, "key_type", c->key_type);
  cli_json_string(j, "not_before", c->not_before);
  cli_json_string(j, "not_after", c->not_after);
  cli_json_string(j, "status", c->status);
  cli_json_opt(j, "profile", c->profile);
  cli_json_opt(j, "transaction_id", c->transaction_id);
  cli_json_string(j, "created_at", c->created_at);
  if (!c->revoked) {
    cli_json_null(j, "revocation");
    return;
  }
  cli_json_object(j, "revocation");
  cli_json_int_opt(j, "reason", c->reason);
  cli_json_string(j, "reason_name", c->reason >= 0 ? cli_crl_reason_name(c->reason) : NULL);
  cli_json_string(j, "revoked_at", c->revoked_at);
  cli_json_string(j, "requested_by", c->requested_by);
  cli_json_opt(j, "transaction_id", c->revoked_by_txn);
  cli_json_end(j);
}

static int certs_list(int argc, char **argv) {
  const char *conf = NULL;
  int json = 0;
  struct cg_query_cert_filter f = {.limit = DEFAULT_LIMIT};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc) {
      conf = argv[++i];
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (!strcmp(argv[i], "--subject") && i + 1 < argc) {
      f.subject = argv[++i];
    } else if (!strcmp(argv[i], "--status") && i + 1 < argc) {
      f.status = argv[++i];
      if (strcmp(f.status, "valid") != 0 && strcmp(f.status, "unconfirmed") != 0 &&
          strcmp(f.status, "revoked") != 0) {
        fprintf(stderr, "cmpgw certs list: --status is valid, unconfirmed or revoked\n");
        return CLI_USAGE;
      }
    } else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
      if (!cli_parse_limit("certs list", argv[++i], &f.limit))
        return CLI_USAGE;
    } else {
      return usage();
    }
  }
  if (conf == NULL)
    return usage();
  struct cg_store *st;
  int rc = cli_open_store("certs list", conf, &st);
  if (rc != CLI_OK)
    return rc;
  struct cg_query_cert *v;
  size_t n;
  int err = cg_query_certs(st, &f, &v, &n);
  cg_store_close(st);
  if (err != 0) {
    fprintf(stderr, "cmpgw certs list: %s\n", cg_strerror(err));
    return cli_exit_of(err);
  }
  if (json) {
    cli_json_list(v, n, sizeof *v, cert_fields);
  } else {
    static const char *const head[] = {"CREATED", "SERIAL", "STATUS", "NOT_AFTER", "PROFILE",
                                       "KEY", "SUBJECT", "SANS"};
    struct cli_table t;
    cli_table_init(&t, 8, head);
    for (size_t i = 0; i < n; i++)
      cli_table_row(&t, v[i].created_at, v[i].serial, v[i].status, v[i].not_after, v[i].profile,
                    v[i].key_type, v[i].subject, v[i].sans);
    rc = cli_table_print(&t, stdout);
  }
  cg_query_certs_free(v, n);
  return rc;
}

/* The certificate as PEM into a malloc'ed string; NULL when it cannot. */
static char *to_pem(const struct cg_query_cert *c) {
  size_t cap = (c->der_len + 2) / 3 * 4 + c->der_len / 48 + 128, len;
  char *pem = malloc(cap);
  if (pem != NULL && cg_pem_encode("CERTIFICATE", c->der, c->der_len, pem, cap, &len) != 0) {
    free(pem);
    pem = NULL;
  }
  return pem;
}

static void show_human(const struct cg_query_cert *c) {
  printf("serial:       %s\n", c->serial);
  printf("subject:      ");
  cli_put_text(stdout, c->subject);
  printf("\nissuer:       ");
  cli_put_text(stdout, c->issuer);
  printf("\nsubjectAltName: ");
  cli_put_text(stdout, c->sans[0] ? c->sans : "-");
  printf("\nkey:          ");
  cli_put_text(stdout, c->key_type[0] ? c->key_type : "-");
  printf("\nnot before:   %s\n", c->not_before);
  printf("not after:    %s\n", c->not_after);
  printf("status:       ");
  cli_put_text(stdout, c->status);
  printf("\nprofile:      ");
  cli_put_text(stdout, c->profile[0] ? c->profile : "-");
  printf("\ntransaction:  ");
  if (c->transaction_id[0] == '\0') {
    printf("- (issued outside CMP)");
  } else {
    cli_put_text(stdout, c->transaction_id);
    if (c->txn_found) {
      printf(" (");
      cli_put_text(stdout, c->txn_req_type);
      printf(", ");
      cli_put_text(stdout, c->txn_state);
      if (c->txn_auth_ref[0]) {
        printf(", auth_ref ");
        cli_put_text(stdout, c->txn_auth_ref);
      }
      printf(")");
    }
  }
  printf("\ncreated:      %s\n", c->created_at);
  printf("revoked:      ");
  if (!c->revoked) {
    printf("no\n");
    return;
  }
  char reason[48];
  reason_text(c->reason, reason, sizeof reason);
  printf("%s, reason %s, requested by ", c->revoked_at, reason);
  cli_put_text(stdout, c->requested_by);
  if (c->revoked_by_txn[0]) {
    printf(" in transaction ");
    cli_put_text(stdout, c->revoked_by_txn);
  }
  fputc('\n', stdout);
}

static void show_json(const struct cg_query_cert *c, const char *pem) {
  struct cli_json j;
  cli_json_init(&j, stdout);
  cli_json_object(&j, NULL);
  cert_fields(&j, c);
  if (c->txn_found) {
    cli_json_object(&j, "transaction");
    cli_json_string(&j, "transaction_id", c->transaction_id);
    cli_json_string(&j, "req_type", c->txn_req_type);
    cli_json_string(&j, "state", c->txn_state);
    cli_json_opt(&j, "auth_ref", c->txn_auth_ref);
    cli_json_end(&j);
  } else {
    cli_json_null(&j, "transaction");
  }
  cli_json_string(&j, "pem", pem);
  cli_json_end(&j);
}

static int certs_show(int argc, char **argv) {
  const char *conf = NULL, *serial = NULL;
  int json = 0, pem_only = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc)
      conf = argv[++i];
    else if (!strcmp(argv[i], "--json"))
      json = 1;
    else if (!strcmp(argv[i], "--pem"))
      pem_only = 1;
    else if (argv[i][0] != '-' && serial == NULL)
      serial = argv[i];
    else
      return usage();
  }
  if (conf == NULL || serial == NULL || (json && pem_only))
    return usage();
  struct cg_store *st;
  int rc = cli_open_store("certs show", conf, &st);
  if (rc != CLI_OK)
    return rc;
  struct cg_query_cert c;
  int err = cg_query_cert(st, serial, &c);
  cg_store_close(st);
  if (err == CG_ENOT_FOUND || err == CG_EEXISTS) {
    fprintf(stderr, "cmpgw certs show: %s ",
            err == CG_ENOT_FOUND ? "no certificate with the serial"
                                 : "more than one certificate matches; give all digits of");
    cli_put_text(stderr, serial);
    fputc('\n', stderr);
    return CLI_REFUSED;
  }
  if (err != 0) {
    fprintf(stderr, "cmpgw certs show: %s\n", cg_strerror(err));
    return cli_exit_of(err);
  }
  char *pem = NULL;
  if (pem_only || json) {
    pem = to_pem(&c);
    if (pem == NULL) {
      fprintf(stderr, "cmpgw certs show: cannot write the certificate as PEM\n");
      cg_query_cert_clear(&c);
      return CLI_STORE;
    }
  }
  if (pem_only)
    fputs(pem, stdout);
  else if (json)
    show_json(&c, pem);
  else
    show_human(&c);
  free(pem);
  cg_query_cert_clear(&c);
  return CLI_OK;
}

int cmd_certs(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "list"))
    return certs_list(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "show"))
    return certs_show(argc - 1, argv + 1);
  return usage();
}
