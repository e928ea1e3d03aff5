/*
 * cmd_tx.c - `cmpgw tx list` and `cmpgw tx show`: the CMP transactions the
 * gateway recorded, newest first, filtered by state, profile and start time;
 * and one transaction with the certificate it names and its audit events.
 * Read-only, from a snapshot of the database, while `cmpgw serve` runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "app/commands.h"
#include "cmp/records.h"
#include "core/err.h"
#include "store/query.h"
#include "store/store.h"

#define DEFAULT_LIMIT 50

static int usage(void) {
  fprintf(stderr,
          "usage: cmpgw tx list -c CONF [--state STATE] [--profile NAME] [--since ISO-TIME]\n"
          "                     [--limit N] [--json]\n"
          "       cmpgw tx show -c CONF TRANSACTION_ID [--json]\n"
          "  STATE: received pending_approval pending_ca issued confirmed rejected failed\n"
          "         expired revoked_on_reject\n"
          "  ISO-TIME: 2026-01-31T12:00:00Z or 2026-01-31 (midnight UTC)\n"
          "  --limit: default %d, 0 for all\n",
          DEFAULT_LIMIT);
  return CLI_USAGE;
}

/* "YYYY-MM-DD" or the stored form "YYYY-MM-DDTHH:MM:SSZ" into out. */
static int parse_since(const char *s, char out[CG_QUERY_TIME]) {
  if (strlen(s) == 10)
    snprintf(out, CG_QUERY_TIME, "%.10sT00:00:00Z", s);
  else
    snprintf(out, CG_QUERY_TIME, "%s", s);
  return strlen(s) < CG_QUERY_TIME && cg_query_time_ok(out) ? 0 : -1;
}

static void txn_fields(struct cli_json *j, const void *item) {
  const struct cg_query_txn *t = item;
  cli_json_string(j, "transaction_id", t->transaction_id);
  cli_json_string(j, "profile", t->profile);
  cli_json_opt(j, "auth_ref", t->auth_ref);
  cli_json_string(j, "req_type", t->req_type);
  cli_json_string(j, "state", t->state);
  cli_json_int_opt(j, "failinfo", t->failinfo);
  cli_json_string(j, "failinfo_name", cli_failinfo_name(t->failinfo));
  if (t->has_cert_req_id)
    cli_json_int(j, "cert_req_id", t->cert_req_id);
  else
    cli_json_null(j, "cert_req_id");
  cli_json_opt(j, "sender_nonce", t->sender_nonce);
  cli_json_opt(j, "cert_serial", t->cert_serial);
  cli_json_string(j, "created_at", t->created_at);
  cli_json_string(j, "updated_at", t->updated_at);
}

/* "9 (badPOP)", or "" when there is no failInfo. */
static void failinfo_text(int failinfo, char *out, size_t cap) {
  const char *name = cli_failinfo_name(failinfo);
  if (failinfo < 0)
    out[0] = '\0';
  else
    snprintf(out, cap, "%d (%s)", failinfo, name != NULL ? name : "?");
}

static int tx_list(int argc, char **argv) {
  const char *conf = NULL;
  int json = 0;
  char since[CG_QUERY_TIME];
  struct cg_query_txn_filter f = {.limit = DEFAULT_LIMIT};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc) {
      conf = argv[++i];
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (!strcmp(argv[i], "--state") && i + 1 < argc) {
      f.state = argv[++i];
      if (cmp_txn_state_parse(f.state) < 0) {
        fprintf(stderr, "cmpgw tx list: unknown state\n");
        return usage();
      }
    } else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
      f.profile = argv[++i];
    } else if (!strcmp(argv[i], "--since") && i + 1 < argc) {
      if (parse_since(argv[++i], since) != 0) {
        fprintf(stderr, "cmpgw tx list: --since takes YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD\n");
        return CLI_USAGE;
      }
      f.since = since;
    } else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
      if (!cli_parse_limit("tx list", argv[++i], &f.limit))
        return CLI_USAGE;
    } else {
      return usage();
    }
  }
  if (conf == NULL)
    return usage();
  struct cg_store *st;
  int rc = cli_open_store("tx list", conf, &st);
  if (rc != CLI_OK)
    return rc;
  struct cg_query_txn *v;
  size_t n;
  int err = cg_query_txns(st, &f, &v, &n);
  cg_store_close(st);
  if (err != 0) {
    fprintf(stderr, "cmpgw tx list: %s\n", cg_strerror(err));
    return cli_exit_of(err);
  }
  if (json) {
    cli_json_list(v, n, sizeof *v, txn_fields);
  } else {
    static const char *const head[] = {"CREATED", "TRANSACTION_ID", "TYPE", "STATE",
                                       "PROFILE", "AUTH_REF", "FAILINFO", "CERT_SERIAL"};
    struct cli_table t;
    cli_table_init(&t, 8, head);
    for (size_t i = 0; i < n; i++) {
      char fi[48];
      failinfo_text(v[i].failinfo, fi, sizeof fi);
      cli_table_row(&t, v[i].created_at, v[i].transaction_id, v[i].req_type, v[i].state,
                    v[i].profile, v[i].auth_ref, fi, v[i].cert_serial);
    }
    rc = cli_table_print(&t, stdout);
  }
  free(v);
  return rc;
}

static void show_human(const struct cg_query_txn_detail *d) {
  const struct cg_query_txn *t = &d->txn;
  char fi[48];
  failinfo_text(t->failinfo, fi, sizeof fi);
  printf("transaction:  %s\n", t->transaction_id);
  printf("request:      ");
  cli_put_text(stdout, t->req_type);
  printf("\nprofile:      ");
  cli_put_text(stdout, t->profile);
  printf("\nstate:        ");
  cli_put_text(stdout, t->state);
  printf("\nfailinfo:     %s\n", fi[0] ? fi : "-");
  printf("auth_ref:     ");
  cli_put_text(stdout, t->auth_ref[0] ? t->auth_ref : "-");
  if (t->has_cert_req_id)
    printf("\ncert_req_id:  %lld\n", (long long)t->cert_req_id);
  else
    printf("\ncert_req_id:  -\n");
  printf("certificate:  ");
  if (t->cert_serial[0] == '\0') {
    printf("-");
  } else {
    cli_put_text(stdout, t->cert_serial);
    if (d->cert_found) {
      printf(" (");
      cli_put_text(stdout, d->cert_status);
      printf(") ");
      cli_put_text(stdout, d->cert_subject);
    } else {
      printf(" (not in certificates)");
    }
  }
  printf("\ncreated:      %s\n", t->created_at);
  printf("updated:      %s\n", t->updated_at);
  printf("events:       %s\n", d->n_events == 0 ? "none" : "");
  for (size_t i = 0; i < d->n_events; i++) {
    printf("  %s  ", d->events[i].at);
    cli_put_text(stdout, d->events[i].kind);
    if (d->events[i].detail != NULL) {
      printf("  ");
      cli_put_text(stdout, d->events[i].detail);
    }
    fputc('\n', stdout);
  }
}

static void show_json(const struct cg_query_txn_detail *d) {
  struct cli_json j;
  cli_json_init(&j, stdout);
  cli_json_object(&j, NULL);
  txn_fields(&j, &d->txn);
  if (d->cert_found) {
    cli_json_object(&j, "certificate");
    cli_json_string(&j, "serial", d->txn.cert_serial);
    cli_json_string(&j, "status", d->cert_status);
    cli_json_string(&j, "subject", d->cert_subject);
    cli_json_end(&j);
  } else {
    cli_json_null(&j, "certificate");
  }
  cli_json_array(&j, "events");
  for (size_t i = 0; i < d->n_events; i++) {
    cli_json_object(&j, NULL);
    cli_json_int(&j, "id", d->events[i].id);
    cli_json_string(&j, "at", d->events[i].at);
    cli_json_string(&j, "kind", d->events[i].kind);
    cli_json_string(&j, "detail", d->events[i].detail);
    cli_json_end(&j);
  }
  cli_json_end(&j);
  cli_json_end(&j);
}

static int tx_show(int argc, char **argv) {
  struct cli_args a;
  if (!cli_parse_args(argc, argv, false, &a) || a.conf == NULL || a.operand == NULL)
    return usage();
  const char *conf = a.conf, *txid = a.operand;
  int json = a.json;
  struct cg_store *st;
  int rc = cli_open_store("tx show", conf, &st);
  if (rc != CLI_OK)
    return rc;
  struct cg_query_txn_detail d;
  int err = cg_query_txn(st, txid, &d);
  cg_store_close(st);
  if (err == CG_ENOT_FOUND) {
    fprintf(stderr, "cmpgw tx show: no transaction ");
    cli_put_text(stderr, txid);
    fputc('\n', stderr);
    return CLI_REFUSED;
  }
  if (err != 0) {
    fprintf(stderr, "cmpgw tx show: %s\n", cg_strerror(err));
    return cli_exit_of(err);
  }
  if (json)
    show_json(&d);
  else
    show_human(&d);
  cg_query_txn_detail_clear(&d);
  return CLI_OK;
}

int cmd_tx(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "list"))
    return tx_list(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "show"))
    return tx_show(argc - 1, argv + 1);
  return usage();
}
