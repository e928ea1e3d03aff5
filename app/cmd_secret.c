/*
 * cmd_secret.c - `cmpgw secret`: `new` creates a shared secret for a device
 * (with an optional lifetime, use limit and note), stores it encrypted under
 * the master key, and prints it once; `list` and `show` print what the
 * database says about secrets, never a secret or a challenge (only whether
 * one exists); `revoke` ends a secret and records it in the audit log.  The
 * database never holds a secret in clear and no command prints it again.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app/cli.h"
#include "app/commands.h"
#include "app/keycheck.h"
#include "app/secrets.h"
#include "app/setup.h"
#include "cmp/records.h"
#include "cmp/secret.h"
#include "core/certbuild.h"
#include "core/config.h"
#include "core/err.h"
#include "core/file.h"
#include "core/x509.h"
#include "store/query.h"
#include "store/store.h"


static int usage(void) {
  fprintf(stderr,
          "usage: cmpgw secret new -c CONF [--profile NAME] [--ref REF] [--ttl N(d|h|m|s)]\n"
          "                        [--uses N] [--note TEXT] [--secret-file FILE] [--json]\n"
          "                        [--subject /CN=NAME/O=ORG [--san TYPE:VALUE]...]\n"
          "       cmpgw secret list -c CONF [--profile NAME] [--json]\n"
          "       cmpgw secret show -c CONF REF [--json]\n"
          "       cmpgw secret revoke -c CONF REF [--json]\n");
  return CLI_USAGE;
}


/* A secret someone else made (a device's, moved from another system, or
 * shared with a CA behind a passthrough RA): one line of 8..CMP_SECRET_MAX
 * printable characters. */
static bool read_secret_file(const char *path, char *out, size_t cap) {
  uint8_t *text;
  size_t len;
  int err = cg_read_file(path, &text, &len);
  if (err) {
    fprintf(stderr, "cmpgw secret new: cannot read %s: %s\n", path, cg_file_strerror(err));
    return false;
  }
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
    len--;
  bool ok = len >= 8 && len < cap;
  for (size_t i = 0; ok && i < len; i++)
    ok = text[i] >= 0x20 && text[i] < 0x7f;
  if (ok) {
    memcpy(out, text, len);
    out[len] = '\0';
  } else {
    fprintf(stderr, "cmpgw secret new: %s must hold the secret on one line: 8..%zu printable "
                    "characters\n", path, cap - 1);
  }
  cg_wipe(text, len);
  free(text);
  return ok;
}

static int secret_new(int argc, char **argv) {
  const char *conf = NULL, *profile = "default", *ref_arg = NULL, *note = NULL,
             *secret_file = NULL;
  int json = 0;
  int64_t ttl = 0, max_uses = 0; /* 0: no limit */
  char subject[CMP_MAX_NAME_TEXT] = "", sans[CMP_MAX_NAME_TEXT] = "";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc) {
      conf = argv[++i];
    } else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
      profile = argv[++i];
    } else if (!strcmp(argv[i], "--subject") && i + 1 < argc) {
      if (!app_secret_subject(argv[++i], subject, sizeof subject)) {
        fprintf(stderr, "cmpgw secret new: --subject is a name in OpenSSL's form, e.g. "
                        "/CN=device-17/O=Example (attributes CN O OU C L ST emailAddress "
                        "serialNumber street DC UID)\n");
        return CLI_USAGE;
      }
    } else if (!strcmp(argv[i], "--san") && i + 1 < argc) {
      if (!app_secret_san(argv[++i], sans, sizeof sans)) {
        fprintf(stderr, "cmpgw secret new: --san is dns:NAME, ip:ADDRESS, uri:URI or "
                        "email:ADDRESS (printable, no spaces or commas)\n");
        return CLI_USAGE;
      }
    } else if (!strcmp(argv[i], "--ref") && i + 1 < argc) {
      ref_arg = argv[++i];
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (!strcmp(argv[i], "--secret-file") && i + 1 < argc) {
      secret_file = argv[++i];
    } else if (!strcmp(argv[i], "--ttl") && i + 1 < argc) {
      if ((ttl = app_secret_ttl(argv[++i])) < 0) {
        fprintf(stderr, "cmpgw secret new: --ttl is a number and a unit d, h, m or s "
                        "(7d, 12h, 30m, 3600s), at most 100 years\n");
        return CLI_USAGE;
      }
    } else if (!strcmp(argv[i], "--uses") && i + 1 < argc) {
      uint64_t v;
      if (!cli_parse_number(argv[++i], 1, 1000000000, &v)) {
        fprintf(stderr, "cmpgw secret new: --uses is a number from 1 to 1000000000\n");
        return CLI_USAGE;
      }
      max_uses = (int64_t)v;
    } else if (!strcmp(argv[i], "--note") && i + 1 < argc) {
      note = argv[++i];
      if (!app_secret_note_ok(note)) {
        fprintf(stderr, "cmpgw secret new: --note is 1..%d characters on one line\n",
                APP_SECRET_NOTE_MAX);
        return CLI_USAGE;
      }
    } else {
      return usage();
    }
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
  if (ref_arg != NULL && !app_secret_ref_ok(ref_arg)) {
    fprintf(stderr, "cmpgw secret new: a reference is 1..%d printable ASCII characters "
                    "without spaces, quotes or backslashes\n", CMP_MAX_REF);
    return 2;
  }
  if (sans[0] && !subject[0]) {
    fprintf(stderr, "cmpgw secret new: --san binds a secret with --subject only\n");
    return CLI_USAGE;
  }
  char given[CMP_SECRET_MAX + 1];
  if (secret_file != NULL && !read_secret_file(secret_file, given, sizeof given))
    return CLI_USAGE;
  struct app_secret_want want = {.profile = profile,
                                 .challenge = pc->challenge,
                                 .ref = ref_arg,
                                 .secret = secret_file != NULL ? given : NULL,
                                 .subject = subject,
                                 .sans = sans,
                                 .now = (int64_t)time(NULL),
                                 .ttl = ttl};
  struct cmp_secret_record rec;
  struct app_secret_made made;
  int made_err = app_secret_make(master, &want, &rec, &made);
  cg_wipe(given, sizeof given);
  if (made_err != 0) {
    fprintf(stderr, "cmpgw secret new: cannot make a secret\n");
    cg_wipe(&made, sizeof made);
    return 1;
  }
  const char *ref = made.ref, *secret = made.secret, *challenge = made.challenge;
  char db[CG_PATH_MAX];
  struct cg_store *st;
  if (app_store_locator(&cfg, db, sizeof db) || cg_store_open(db, &st)) {
    cg_wipe(master, sizeof master);
    cg_wipe(&made, sizeof made);
    fprintf(stderr, "cmpgw secret new: cannot open the database %s\n", cfg.database);
    return CLI_STORE;
  }
  /* A secret sealed with another key than the daemon's would never verify. */
  int err = app_check_master_key(st, master, cfg.master_key);
  cg_wipe(master, sizeof master);
  if (err == 0)
    err = cg_query_secret_insert(st, &rec, max_uses, note);
  else
    err = err == CG_ECONFIG ? CG_ECONFIG : CG_ESTORE;
  cg_store_close(st);
  if (err == CG_ECONFIG || err == CG_ESTORE) {
    cg_wipe(&made, sizeof made);
    if (err == CG_ECONFIG)
      return 1;
  }
  if (err) {
    fprintf(stderr, "cmpgw secret new: %s\n",
            err == CG_EEXISTS ? "that reference exists already" : cg_strerror(err));
    cg_wipe(&made, sizeof made);
    return cli_exit_of(err);
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
  cg_wipe(&made, sizeof made);
  return 0;
}

/* ---- list, show, revoke ----------------------------------------------------- */

/* What a secret is now, from its row: the first that applies of revoked,
 * expired, locked (too many failures), exhausted (max_uses reached), active. */
static const char *secret_status(const struct cg_query_secret *s, const char *now) {
  if (s->revoked_at[0] != '\0')
    return "revoked";
  if (s->expires_at[0] != '\0' && strcmp(s->expires_at, now) <= 0)
    return "expired";
  if (s->locked_until[0] != '\0' && strcmp(s->locked_until, now) > 0)
    return "locked";
  if (s->max_uses > 0 && s->uses >= s->max_uses)
    return "exhausted";
  return "active";
}

static void secret_json(struct cli_json *j, const struct cg_query_secret *s, const char *now) {
  cli_json_object(j, NULL);
  cli_json_string(j, "reference", s->reference);
  cli_json_string(j, "profile", s->profile);
  cli_json_string(j, "status", secret_status(s, now));
  cli_json_string(j, "created_at", s->created_at);
  cli_json_opt(j, "expires_at", s->expires_at);
  cli_json_opt(j, "revoked_at", s->revoked_at);
  if (s->max_uses > 0)
    cli_json_int(j, "max_uses", s->max_uses);
  else
    cli_json_null(j, "max_uses");
  cli_json_int(j, "uses", s->uses);
  cli_json_int(j, "failed_attempts", s->failed_attempts);
  cli_json_opt(j, "locked_until", s->locked_until);
  cli_json_bool(j, "has_challenge", s->has_challenge);
  cli_json_string(j, "note", s->note);
  cli_json_string(j, "subject", s->subject);
  cli_json_string(j, "sans", s->sans);
  cli_json_end(j);
}

/* The options every subcommand but `new` takes: -c CONF, --json, at most one
 * operand, and --profile where profile is not NULL. */
static int secret_list(int argc, char **argv) {
  struct cli_args o;
  if (!cli_parse_args(argc, argv, true, &o) || o.conf == NULL || o.operand != NULL)
    return usage();
  struct cg_store *st;
  int rc = cli_open_store("secret list", o.conf, &st);
  if (rc != CLI_OK)
    return rc;
  struct cg_query_secret *v;
  size_t n;
  int err = cg_query_secrets(st, o.profile, &v, &n);
  cg_store_close(st);
  if (err != 0) {
    fprintf(stderr, "cmpgw secret list: %s\n", cg_strerror(err));
    return cli_exit_of(err);
  }
  char now[21];
  cli_now(now);
  if (o.json) {
    struct cli_json j;
    cli_json_init(&j, stdout);
    cli_json_array(&j, NULL);
    for (size_t i = 0; i < n; i++)
      secret_json(&j, &v[i], now);
    cli_json_end(&j);
  } else {
    static const char *const head[] = {"REFERENCE", "PROFILE", "STATUS", "USES", "CREATED",
                                       "EXPIRES", "CHALLENGE", "NOTE"};
    struct cli_table t;
    cli_table_init(&t, 8, head);
    for (size_t i = 0; i < n; i++) {
      char uses[48];
      if (v[i].max_uses > 0)
        snprintf(uses, sizeof uses, "%lld/%lld", (long long)v[i].uses, (long long)v[i].max_uses);
      else
        snprintf(uses, sizeof uses, "%lld", (long long)v[i].uses);
      cli_table_row(&t, v[i].reference, v[i].profile, secret_status(&v[i], now), uses,
                    v[i].created_at, v[i].expires_at[0] ? v[i].expires_at : "never",
                    v[i].has_challenge ? "yes" : "no", v[i].note);
    }
    rc = cli_table_print(&t, stdout);
  }
  cg_query_secrets_free(v, n);
  return rc;
}

static int secret_show(int argc, char **argv) {
  struct cli_args o;
  if (!cli_parse_args(argc, argv, false, &o) || o.conf == NULL || o.operand == NULL)
    return usage();
  struct cg_store *st;
  int rc = cli_open_store("secret show", o.conf, &st);
  if (rc != CLI_OK)
    return rc;
  struct cg_query_secret s;
  int err = cg_query_secret(st, o.operand, &s);
  cg_store_close(st);
  if (err == CG_ENOT_FOUND) {
    fprintf(stderr, "cmpgw secret show: no secret with the reference ");
    cli_put_text(stderr, o.operand);
    fputc('\n', stderr);
    return CLI_REFUSED;
  }
  if (err != 0) {
    fprintf(stderr, "cmpgw secret show: %s\n", cg_strerror(err));
    return cli_exit_of(err);
  }
  char now[21];
  cli_now(now);
  if (o.json) {
    struct cli_json j;
    cli_json_init(&j, stdout);
    secret_json(&j, &s, now);
  } else {
    printf("reference:       ");
    cli_put_text(stdout, s.reference);
    printf("\nprofile:         ");
    cli_put_text(stdout, s.profile);
    printf("\nstatus:          %s\n", secret_status(&s, now));
    printf("created:         %s\n", s.created_at);
    printf("expires:         %s\n", s.expires_at[0] ? s.expires_at : "never");
    printf("revoked:         %s\n", s.revoked_at[0] ? s.revoked_at : "no");
    if (s.max_uses > 0)
      printf("uses:            %lld of at most %lld\n", (long long)s.uses, (long long)s.max_uses);
    else
      printf("uses:            %lld (no limit)\n", (long long)s.uses);
    printf("failed attempts: %lld\n", (long long)s.failed_attempts);
    printf("locked until:    %s\n", s.locked_until[0] ? s.locked_until : "not locked");
    printf("challenge:       %s\n", s.has_challenge ? "yes (never shown again)" : "none");
    printf("enrols:          ");
    if (s.subject != NULL) {
      cli_put_text(stdout, s.subject);
      if (s.sans != NULL && s.sans[0]) {
        printf(" with ");
        cli_put_text(stdout, s.sans);
      }
      printf(" only\n");
    } else {
      printf("what the profile's name policy allows\n");
    }
    printf("note:            ");
    cli_put_text(stdout, s.note != NULL ? s.note : "-");
    fputc('\n', stdout);
  }
  cg_query_secret_clear(&s);
  return CLI_OK;
}

static int secret_revoke(int argc, char **argv) {
  struct cli_args o;
  if (!cli_parse_args(argc, argv, false, &o) || o.conf == NULL || o.operand == NULL)
    return usage();
  struct cg_store *st;
  int rc = cli_open_store("secret revoke", o.conf, &st);
  if (rc != CLI_OK)
    return rc;
  char at[CG_QUERY_TIME];
  int err = cg_query_secret_revoke(st, o.operand, (int64_t)time(NULL), at);
  cg_store_close(st);
  if (err == CG_ENOT_FOUND || err == CG_ESTATE) {
    fprintf(stderr, "cmpgw secret revoke: ");
    if (err == CG_ENOT_FOUND)
      fprintf(stderr, "no secret with the reference ");
    else
      fprintf(stderr, "the secret was revoked already, at %s: ", at);
    cli_put_text(stderr, o.operand);
    fputc('\n', stderr);
    return CLI_REFUSED;
  }
  if (err != 0) {
    fprintf(stderr, "cmpgw secret revoke: %s\n", cg_strerror(err));
    return cli_exit_of(err);
  }
  if (o.json) {
    struct cli_json j;
    cli_json_init(&j, stdout);
    cli_json_object(&j, NULL);
    cli_json_string(&j, "reference", o.operand);
    cli_json_string(&j, "revoked_at", at);
    cli_json_end(&j);
  } else {
    printf("secret ");
    cli_put_text(stdout, o.operand);
    printf(" revoked at %s\n", at);
  }
  return CLI_OK;
}

int cmd_secret(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "new"))
    return secret_new(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "list"))
    return secret_list(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "show"))
    return secret_show(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "revoke"))
    return secret_revoke(argc - 1, argv + 1);
  return usage();
}
