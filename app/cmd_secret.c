/*
 * cmd_secret.c - `cmpgw secret new`: creates a shared secret for a device,
 * stores it encrypted under the master key, and prints it once.  The
 * database never holds it in clear and no command prints it again.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/commands.h"
#include "app/setup.h"
#include "cmp/records.h"
#include "cmp/secret.h"
#include "core/config.h"
#include "core/err.h"
#include "store/store.h"

static int usage(void) {
  fprintf(stderr, "usage: cmpgw secret new -c CONF [--profile NAME] [--ref REF] [--json]\n");
  return 2;
}

/* References travel as senderKID and are typed by people: printable ASCII
 * without quotes or backslashes, so they print and quote safely. */
static int ref_ok(const char *ref) {
  size_t n = strlen(ref);
  if (n == 0 || n > CMP_MAX_REF)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (ref[i] <= 0x20 || ref[i] >= 0x7f || ref[i] == '"' || ref[i] == '\\')
      return 0;
  return 1;
}

static int secret_new(int argc, char **argv) {
  const char *conf = NULL, *profile = "default", *ref_arg = NULL;
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc)
      conf = argv[++i];
    else if (!strcmp(argv[i], "--profile") && i + 1 < argc)
      profile = argv[++i];
    else if (!strcmp(argv[i], "--ref") && i + 1 < argc)
      ref_arg = argv[++i];
    else if (!strcmp(argv[i], "--json"))
      json = 1;
    else
      return usage();
  }
  if (conf == NULL)
    return usage();
  struct cg_config cfg;
  uint8_t master[32];
  if (cg_config_load(conf, &cfg) || app_load_master_key(&cfg, master))
    return 1;
  const struct cg_config_profile *pc = cg_config_profile(&cfg, profile);
  if (pc == NULL) {
    fprintf(stderr, "cmpgw secret new: no [profile %s] in %s\n", profile, conf);
    return 1;
  }
  char ref[CMP_MAX_REF + 1];
  if (ref_arg != NULL) {
    if (!ref_ok(ref_arg)) {
      fprintf(stderr, "cmpgw secret new: a reference is 1..%d printable ASCII characters "
                      "without spaces, quotes or backslashes\n", CMP_MAX_REF);
      return 2;
    }
    snprintf(ref, sizeof ref, "%s", ref_arg);
  } else if (cmp_reference_generate(ref)) {
    return 1;
  }
  char secret[CMP_SECRET_GEN_LEN + 1];
  struct cmp_secret_record rec = {0};
  snprintf(rec.reference, sizeof rec.reference, "%s", ref);
  snprintf(rec.profile, sizeof rec.profile, "%s", profile);
  rec.created_at = (int64_t)time(NULL);
  if (cmp_secret_generate(secret) ||
      cmp_secret_seal(master, ref, (const uint8_t *)secret, strlen(secret), rec.enc,
                      sizeof rec.enc, &rec.enc_len)) {
    fprintf(stderr, "cmpgw secret new: cannot make a secret\n");
    return 1;
  }
  /* Profiles with challenge = random give each device its own challenge,
   * made and shown with the secret, stored sealed beside it. */
  char challenge[CMP_SECRET_GEN_LEN + 1] = "";
  if (pc->challenge == 2) {
    char aad_ref[CMP_MAX_REF + 16];
    snprintf(aad_ref, sizeof aad_ref, "challenge:%s", ref);
    if (cmp_secret_generate(challenge) ||
        cmp_secret_seal(master, aad_ref, (const uint8_t *)challenge, strlen(challenge),
                        rec.challenge_enc, sizeof rec.challenge_enc, &rec.challenge_enc_len)) {
      fprintf(stderr, "cmpgw secret new: cannot make a challenge\n");
      return 1;
    }
  }
  cg_wipe(master, sizeof master);
  char db[CG_PATH_MAX];
  struct cg_store *st;
  if (cg_config_resolve(&cfg, cfg.database, db, sizeof db) || cg_store_open(db, &st)) {
    fprintf(stderr, "cmpgw secret new: cannot open the database %s\n", cfg.database);
    return 1;
  }
  int err = cg_store_secret_insert(st, &rec);
  cg_store_close(st);
  if (err) {
    fprintf(stderr, "cmpgw secret new: %s\n",
            err == CG_EEXISTS ? "that reference exists already" : cg_strerror(err));
    return 1;
  }
  if (json && challenge[0])
    printf("{\"reference\": \"%s\", \"secret\": \"%s\", \"challenge\": \"%s\"}\n", ref, secret,
           challenge);
  else if (json)
    printf("{\"reference\": \"%s\", \"secret\": \"%s\"}\n", ref, secret);
  else
    printf("reference: %s\nsecret:    %s\n%s%s%sprofile:   %s\n"
           "The secret is shown only now; the gateway stores it encrypted.\n",
           ref, secret, challenge[0] ? "challenge: " : "", challenge, challenge[0] ? "\n" : "",
           profile);
  cg_wipe(secret, sizeof secret);
  cg_wipe(challenge, sizeof challenge);
  return 0;
}

int cmd_secret(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "new"))
    return secret_new(argc - 1, argv + 1);
  return usage();
}
