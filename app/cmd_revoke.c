/*
 * cmd_revoke.c - `cmpgw revoke SERIAL --reason R`: the operator revokes a
 * certificate the gateway issued.  One SQLite transaction marks it revoked
 * (only if it is not revoked yet), records the revocation (requested_by
 * 'operator', no transaction) and an audit event; from its commit on, the
 * running daemon refuses rr and kur for it with certRevoked and lists it in
 * the CRLs it signs.
 *
 * `cmpgw revoke SERIAL --release` (or --reason removeFromCRL) releases a
 * certificate on hold (certificateHold): its revocation goes, it leaves the
 * next CRL and is usable again.  A certificate revoked for good, or not
 * revoked, is not released.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/cli.h"
#include "app/commands.h"
#include "core/err.h"
#include "core/time.h"
#include "store/query.h"
#include "store/store.h"

static int usage(void) {
  fprintf(stderr,
          "usage: cmpgw revoke -c CONF SERIAL --reason REASON [--json]\n"
          "       cmpgw revoke -c CONF SERIAL --release [--json]\n"
          "  REASON: a CRLReason number 0..10 except 7, or its name: unspecified\n"
          "  keyCompromise cACompromise affiliationChanged superseded cessationOfOperation\n"
          "  certificateHold removeFromCRL privilegeWithdrawn aACompromise\n"
          "  --release (or --reason removeFromCRL): release a certificate on hold\n");
  return CLI_USAGE;
}

/* Says why the certificate c cannot be revoked again. */
static void already(const char *serial, const struct cg_query_cert *c) {
  fprintf(stderr, "cmpgw revoke: certificate %s is revoked already", serial);
  if (c != NULL && c->revoked) {
    const char *name = cli_crl_reason_name(c->reason);
    fprintf(stderr, " (since %s, reason %s, requested by ", c->revoked_at,
            c->reason >= 0 && name != NULL ? name : "none given");
    cli_put_text(stderr, c->requested_by);
    fputc(')', stderr);
  }
  fputc('\n', stderr);
}

int cmd_revoke(int argc, char **argv) {
  const char *conf = NULL, *serial_arg = NULL;
  int json = 0, reason = -2;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc) {
      conf = argv[++i];
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (!strcmp(argv[i], "--release")) {
      reason = 8; /* removeFromCRL */
    } else if (!strcmp(argv[i], "--reason") && i + 1 < argc) {
      if ((reason = cli_crl_reason_parse(argv[++i])) < 0) {
        fprintf(stderr, "cmpgw revoke: unknown reason\n");
        return usage();
      }
    } else if (argv[i][0] != '-' && serial_arg == NULL) {
      serial_arg = argv[i];
    } else {
      return usage();
    }
  }
  if (conf == NULL || serial_arg == NULL || reason < 0)
    return usage();

  struct cg_store *st;
  int rc = cli_open_store("revoke", conf, &st);
  if (rc != CLI_OK)
    return rc;
  /* Find the stored serial for what was typed, then revoke exactly that row;
   * the write checks again that it is not revoked. */
  struct cg_query_cert c;
  int err = cg_query_cert(st, serial_arg, &c);
  char at[21];
  time_t now = time(NULL);
  cg_time_iso8601((int64_t)now, at);
  bool release = reason == 8;
  if (err == 0 && release)
    err = cg_query_cert_release(st, c.serial, (int64_t)now);
  else if (err == 0 && strcmp(c.status, "revoked") == 0)
    err = CG_ECERT_REVOKED;
  else if (err == 0)
    err = cg_query_cert_revoke(st, c.serial, reason, (int64_t)now);
  cg_store_close(st);

  if (err == CG_ENOT_FOUND || err == CG_EEXISTS) {
    fprintf(stderr, "cmpgw revoke: %s ",
            err == CG_ENOT_FOUND ? "no certificate with the serial"
                                 : "more than one certificate matches; give all digits of");
    cli_put_text(stderr, serial_arg);
    fputc('\n', stderr);
    return CLI_REFUSED;
  }
  if (release && (err == CG_EBAD_CERT_ID || err == CG_ECERT_REVOKED)) {
    fprintf(stderr, "cmpgw revoke: certificate %s is not on hold%s\n", c.serial,
            err == CG_EBAD_CERT_ID ? " (it is not revoked)"
                                   : ": it is revoked for good, and stays on the CRL");
    cg_query_cert_clear(&c);
    return CLI_REFUSED;
  }
  if (err == CG_ECERT_REVOKED) {
    already(c.serial, &c);
    cg_query_cert_clear(&c);
    return CLI_REFUSED;
  }
  if (err != 0) {
    fprintf(stderr, "cmpgw revoke: %s\n", cg_strerror(err));
    cg_query_cert_clear(&c);
    return cli_exit_of(err);
  }
  if (release) {
    if (json) {
      struct cli_json j;
      cli_json_init(&j, stdout);
      cli_json_object(&j, NULL);
      cli_json_string(&j, "serial", c.serial);
      cli_json_string(&j, "released_at", at);
      cli_json_string(&j, "requested_by", "operator");
      cli_json_end(&j);
    } else {
      printf("certificate %s released from hold at %s\n", c.serial, at);
    }
    cg_query_cert_clear(&c);
    return CLI_OK;
  }
  if (json) {
    struct cli_json j;
    cli_json_init(&j, stdout);
    cli_json_object(&j, NULL);
    cli_json_string(&j, "serial", c.serial);
    cli_json_int(&j, "reason", reason);
    cli_json_string(&j, "reason_name", cli_crl_reason_name(reason));
    cli_json_string(&j, "revoked_at", at);
    cli_json_string(&j, "requested_by", "operator");
    cli_json_end(&j);
  } else {
    printf("certificate %s revoked at %s, reason %d (%s)\n", c.serial, at, reason,
           cli_crl_reason_name(reason));
  }
  cg_query_cert_clear(&c);
  return CLI_OK;
}
