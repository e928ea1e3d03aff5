/*
 * cmd_operator.c - `cmpgw operator`: the people who may use the web console
 * (docs/console.md).  `add` and `passwd` take the password from a file (its
 * first line) or, without --password-file, from standard input (its first
 * line; typed without echo at a terminal), never from the command line;
 * the database keeps only its salted, slow hash (core/password.h).  `list`
 * shows names, roles and logins; `remove` deletes one.  Each change is an
 * `events` row.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "app/cli.h"
#include "app/commands.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/file.h"
#include "core/password.h"
#include "store/query.h"
#include "store/store.h"

static int usage(void) {
  fprintf(stderr,
          "usage: cmpgw operator add -c CONF NAME --role viewer|operator|admin\n"
          "                          [--password-file FILE]\n"
          "       cmpgw operator passwd -c CONF NAME [--password-file FILE]\n"
          "       cmpgw operator list -c CONF [--json]\n"
          "       cmpgw operator remove -c CONF NAME\n"
          "       (without --password-file the password is read from standard input)\n");
  return CLI_USAGE;
}

/* The first line of text (without its line end) as a password: 8 to
 * CG_PASSWORD_MAX octets, no control characters. */
static bool password_of(const char *prog, char *text, size_t len, char *out, size_t *out_len) {
  char *nl = memchr(text, '\n', len);
  if (nl != NULL)
    len = (size_t)(nl - text);
  if (len > 0 && text[len - 1] == '\r')
    len--;
  bool ok = len >= CG_PASSWORD_MIN && len <= CG_PASSWORD_MAX;
  for (size_t i = 0; ok && i < len; i++)
    ok = (unsigned char)text[i] >= 0x20 && text[i] != 0x7f;
  if (!ok) {
    fprintf(stderr, "%s: a password is one line of %d to %d characters\n", prog,
            CG_PASSWORD_MIN, CG_PASSWORD_MAX);
    return false;
  }
  memcpy(out, text, len);
  *out_len = len;
  return true;
}

static bool read_password(const char *prog, const char *file, char out[CG_PASSWORD_MAX + 1],
                          size_t *len) {
  if (file != NULL) {
    uint8_t *text;
    size_t n;
    int err = cg_read_file(file, &text, &n);
    if (err) {
      fprintf(stderr, "%s: cannot read %s: %s\n", prog, file, cg_file_strerror(err));
      return false;
    }
    bool ok = password_of(prog, (char *)text, n, out, len);
    cg_wipe(text, n);
    free(text);
    return ok;
  }
  bool tty = isatty(STDIN_FILENO);
  struct termios old, quiet;
  if (tty) {
    fprintf(stderr, "password: ");
    tcgetattr(STDIN_FILENO, &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  char line[CG_PASSWORD_MAX + 4];
  bool got = fgets(line, sizeof line, stdin) != NULL;
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    fprintf(stderr, "\n");
  }
  bool ok = got && password_of(prog, line, strlen(line), out, len);
  if (!got)
    fprintf(stderr, "%s: no password on standard input\n", prog);
  cg_wipe(line, sizeof line);
  return ok;
}

static int hash_password(const char *prog, const char *file, char hash[CG_PASSWORD_HASH_MAX]) {
  char pw[CG_PASSWORD_MAX + 1];
  size_t len;
  if (!read_password(prog, file, pw, &len))
    return CLI_REFUSED;
  int err = cg_password_hash(pw, len, 0, hash);
  cg_wipe(pw, sizeof pw);
  if (err != 0) {
    fprintf(stderr, "%s: %s\n", prog, cg_strerror(err));
    return CLI_STORE;
  }
  return CLI_OK;
}

struct opts {
  const char *conf, *name, *role, *password_file;
  bool json;
};

static bool parse(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-c") && v != NULL)
      o->conf = v, i++;
    else if (!strcmp(a, "--role") && v != NULL)
      o->role = v, i++;
    else if (!strcmp(a, "--password-file") && v != NULL)
      o->password_file = v, i++;
    else if (!strcmp(a, "--json"))
      o->json = true;
    else if (a[0] != '-' && o->name == NULL)
      o->name = a;
    else
      return false;
  }
  return o->conf != NULL;
}

static int fail(const char *prog, int err, const char *name) {
  if (err == CG_EEXISTS)
    fprintf(stderr, "%s: an operator named %s exists already\n", prog, name);
  else if (err == CG_ENOT_FOUND)
    fprintf(stderr, "%s: no operator named %s\n", prog, name);
  else
    fprintf(stderr, "%s: %s\n", prog, cg_strerror(err));
  return cli_exit_of(err);
}

static int operator_add(const struct opts *o) {
  static const char prog[] = "cmpgw operator add";
  if (o->name == NULL || o->role == NULL)
    return usage();
  if (!cg_query_operator_name_ok(o->name)) {
    fprintf(stderr, "%s: a name is 1 to %d of A-Z a-z 0-9 . _ -\n", prog, CG_OPERATOR_NAME_MAX);
    return CLI_REFUSED;
  }
  if (!cg_query_operator_role_ok(o->role)) {
    fprintf(stderr, "%s: --role is viewer, operator or admin\n", prog);
    return CLI_REFUSED;
  }
  char hash[CG_PASSWORD_HASH_MAX];
  int rc = hash_password(prog, o->password_file, hash);
  struct cg_store *st;
  if (rc != CLI_OK || (rc = cli_open_store("operator add", o->conf, &st)) != CLI_OK)
    return rc;
  int err = cg_query_operator_add(st, o->name, o->role, hash, (int64_t)time(NULL));
  cg_store_close(st);
  if (err != 0)
    return fail(prog, err, o->name);
  printf("operator %s added (%s)\n", o->name, o->role);
  return CLI_OK;
}

static int operator_passwd(const struct opts *o) {
  static const char prog[] = "cmpgw operator passwd";
  if (o->name == NULL || o->role != NULL)
    return usage();
  char hash[CG_PASSWORD_HASH_MAX];
  int rc = hash_password(prog, o->password_file, hash);
  struct cg_store *st;
  if (rc != CLI_OK || (rc = cli_open_store("operator passwd", o->conf, &st)) != CLI_OK)
    return rc;
  int err = cg_query_operator_passwd(st, o->name, hash, (int64_t)time(NULL));
  cg_store_close(st);
  if (err != 0)
    return fail(prog, err, o->name);
  printf("password of %s set; the operator is unlocked\n", o->name);
  return CLI_OK;
}

static int operator_remove(const struct opts *o) {
  if (o->name == NULL || o->role != NULL || o->password_file != NULL)
    return usage();
  struct cg_store *st;
  int rc = cli_open_store("operator remove", o->conf, &st);
  if (rc != CLI_OK)
    return rc;
  int err = cg_query_operator_remove(st, o->name, (int64_t)time(NULL));
  cg_store_close(st);
  if (err != 0)
    return fail("cmpgw operator remove", err, o->name);
  printf("operator %s removed\n", o->name);
  return CLI_OK;
}

static void operator_fields(struct cli_json *j, const void *item) {
  const struct cg_query_operator *op = item;
  cli_json_string(j, "name", op->name);
  cli_json_string(j, "role", op->role);
  cli_json_string(j, "created_at", op->created_at);
  cli_json_opt(j, "last_login_at", op->last_login_at);
  cli_json_int(j, "failed_attempts", op->failed_attempts);
  cli_json_opt(j, "locked_until", op->locked_until);
}

static int operator_list(const struct opts *o) {
  if (o->name != NULL || o->role != NULL || o->password_file != NULL)
    return usage();
  struct cg_store *st;
  int rc = cli_open_store("operator list", o->conf, &st);
  if (rc != CLI_OK)
    return rc;
  struct cg_query_operator *v;
  size_t n;
  int err = cg_query_operators(st, &v, &n);
  cg_store_close(st);
  if (err != 0)
    return fail("cmpgw operator list", err, "");
  if (o->json) {
    cli_json_list(v, n, sizeof *v, operator_fields);
  } else {
    static const char *const head[] = {"NAME", "ROLE", "CREATED", "LAST LOGIN", "LOCKED UNTIL"};
    struct cli_table t;
    cli_table_init(&t, 5, head);
    for (size_t i = 0; i < n; i++)
      cli_table_row(&t, v[i].name, v[i].role, v[i].created_at, v[i].last_login_at,
                    v[i].locked_until);
    rc = cli_table_print(&t, stdout);
  }
  free(v);
  return rc;
}

int cmd_operator(int argc, char **argv) {
  if (argc < 2)
    return usage();
  struct opts o;
  if (!parse(argc - 1, argv + 1, &o))
    return usage();
  const char *sub = argv[1];
  return !strcmp(sub, "add")      ? operator_add(&o)
         : !strcmp(sub, "passwd") ? operator_passwd(&o)
         : !strcmp(sub, "remove") ? operator_remove(&o)
         : !strcmp(sub, "list")   ? operator_list(&o)
                                  : usage();
}
