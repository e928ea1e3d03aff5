/*
 * main.c - the `cmpgw` command: one binary, one subcommand per file
 * (cmd_*.c).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "app/commands.h"
#include "core/token.h"
#include "transports/tls.h"
#include "version.h"

static const struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
} commands[] = {
    {"init", cmd_init, "init DIR [--http HOST:PORT] [--https HOST:PORT] [--tcp HOST:PORT]\n"
                       "           [--admin HOST:PORT] [--console HOST:PORT] [--org NAME] [--pkcs11 TOKEN-URI]\n"
                       "        create a demo deployment (CA, RA credentials, config, database)"},
    {"serve", cmd_serve, "serve -c CONF\n        run the gateway in the foreground"},
    {"reload", cmd_reload,
     "reload -c CONF\n        check CONF, then have the cmpgw serve running with it reload it"},
    {"approve", cmd_approve, "approve -c CONF TRANSACTION_ID\n"
                             "        approve a request waiting in a manual-approval profile"},
    {"reject", cmd_reject, "reject -c CONF TRANSACTION_ID [--reason TEXT]\n"
                           "        reject a request waiting in a manual-approval profile"},
    {"secret", cmd_secret, "secret new -c CONF [--profile NAME] [--ref REF] [--ttl 7d|12h|30m|3600s]\n"
                           "           [--uses N] [--note TEXT] [--json]\n"
                           "        create a shared secret for a device (printed once)\n"
                           "  secret list -c CONF [--profile NAME] [--json]\n"
                           "  secret show -c CONF REF [--json]\n"
                           "        the secrets' state (never a secret or a challenge)\n"
                           "  secret revoke -c CONF REF [--json]\n"
                           "        stop accepting a secret (recorded in events)"},
    {"tx", cmd_tx, "tx list -c CONF [--state S] [--profile P] [--since ISO-TIME] [--limit N] [--json]\n"
                   "  tx show -c CONF TRANSACTION_ID [--json]\n"
                   "        CMP transactions, newest first; one with its certificate and events"},
    {"certs", cmd_certs, "certs list -c CONF [--subject SUBSTRING] [--status valid|unconfirmed|revoked]\n"
                         "          [--limit N] [--json]\n"
                         "  certs show -c CONF SERIAL [--pem | --json]\n"
                         "        issued certificates; one with its revocation, or as PEM"},
    {"revoke", cmd_revoke, "revoke -c CONF SERIAL --reason 0..10|NAME [--json]\n"
                           "        revoke a certificate as the operator (CRLReason number or name)"},
    {"operator", cmd_operator,
     "operator add -c CONF NAME --role viewer|operator|admin [--password-file FILE]\n"
     "  operator passwd -c CONF NAME [--password-file FILE]\n"
     "  operator list -c CONF [--json]\n"
     "  operator remove -c CONF NAME\n"
     "        who may use the web console (the password from FILE, or standard input)"},
    {"db", cmd_db, "db check (-c CONF | FILE) [--json]\n"
                   "  db backup -c CONF FILE [--json]\n"
                   "        check a database (integrity, foreign keys, schema version); copy it live\n"
                   "        exit status of secret, tx, certs, revoke, db: 0 ok, 1 not found or\n"
                   "        refused, 2 usage, 3 store error (see docs/cli.md)"},
    {"client", cmd_client, "client ir|cr|kur|p10cr|rr|genm --url URL ...\n        one CMP transaction"},
    {"bench", cmd_bench, "bench cmp --url http://HOST:PORT/PATH --ref R --secret S [--op ir|ir-implicit|genm]\n"
                         "          [--sessions N] [--duration S | --count N] [--server-pid PID]\n"
                         "  bench store [--ops N] [--inflight K] [--preload N] [--db FILE]\n"
                         "  bench crypto [--rounds N] [--iterations N]\n"
                         "        load generator, store throughput, crypto floor (docs/PERFORMANCE.md)"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: cmpgw COMMAND [OPTIONS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %s\n", commands[i].help);
  fprintf(f, "  --version\n        the version, the commit, and the libraries it was built with\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    /* One line a script can read, then what it was built with. */
    printf("cmpgw %s\n"
           "commit: %s\n"
           "wolfSSL: %s (%s)\n"
           "SQLite: %s\n"
           "libuv: %s\n",
           CG_VERSION, CG_GIT_COMMIT, cg_tls_library(),
           CG_WOLFSSL_FAST ? "the fast build of scripts/build-wolfssl.sh" : "the system library",
           sqlite3_libversion(), uv_version_string());
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) {
      int rc = commands[i].run(argc - 1, argv + 1);
      cg_token_close_all(); /* log out of the tokens a command opened */
      return rc;
    }
  fprintf(stderr, "cmpgw: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
