/*
 * cmd_approve.c - `cmpgw approve TID` and `cmpgw reject TID [--reason TEXT]`:
 * an operator's decision on a request that waits in a profile with
 * `approval = manual`.  The decision goes into the database; the running
 * daemon finds an approval within a second, issues the certificate, and the
 * device gets it at its next pollReq (a rejection at its next pollReq too).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/setup.h"
#include "app/commands.h"
#include "core/config.h"
#include "core/err.h"
#include "store/store.h"

static int decide(int argc, char **argv, bool approve) {
  const char *conf = NULL, *txid = NULL, *reason = approve ? "approved by the operator" : NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc)
      conf = argv[++i];
    else if (!approve && !strcmp(argv[i], "--reason") && i + 1 < argc)
      reason = argv[++i];
    else if (argv[i][0] != '-' && txid == NULL)
      txid = argv[i];
    else
      txid = conf = NULL, i = argc;
  }
  if (conf == NULL || txid == NULL) {
    fprintf(stderr, "usage: cmpgw %s -c CONF TRANSACTION_ID%s\n", approve ? "approve" : "reject",
            approve ? "" : " [--reason TEXT]");
    return 2;
  }
  struct cg_config cfg;
  char db[CG_PATH_MAX];
  struct cg_store *st;
  if (cg_config_load(conf, &cfg))
    return 2;
  if (app_store_locator(&cfg, db, sizeof db) || cg_store_open(db, &st)) {
    fprintf(stderr, "cmpgw: cannot open the database %s\n", cfg.database);
    return 3;
  }
  int err = cg_store_txn_decide(st, txid, approve, reason ? reason : "rejected by the operator",
                                (int64_t)time(NULL));
  cg_store_close(st);
  if (err == CG_ENOT_FOUND || err == CG_ESTATE) {
    fprintf(stderr, "cmpgw: transaction %s %s\n", txid,
            err == CG_ENOT_FOUND ? "does not exist" : "is not awaiting approval");
    return 1;
  }
  if (err) {
    fprintf(stderr, "cmpgw: %s\n", cg_strerror(err));
    return 3;
  }
  printf("transaction %s %s\n", txid, approve ? "approved" : "rejected");
  return 0;
}

int cmd_approve(int argc, char **argv) { return decide(argc, argv, true); }
int cmd_reject(int argc, char **argv) { return decide(argc, argv, false); }
