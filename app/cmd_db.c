/*
 * cmd_db.c - `cmpgw db check` and `cmpgw db backup`: whether a database file
 * is sound (SQLite's integrity and foreign key checks, and a schema version
 * this cmpgw knows), and a consistent copy of the live database made with
 * SQLite's online backup into a new file.  Both work while `cmpgw serve`
 * writes: the check reads one snapshot, the backup copies one, and in WAL
 * mode neither blocks the daemon.  `cmpgw db migrate-to-postgres`: a SQLite
 * store copied into PostgreSQL, and checked there.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/cli.h"
#include "app/commands.h"
#include "app/setup.h"
#include "core/config.h"
#include "core/err.h"
#include "store/query.h"
#include "store/store.h"

static int usage(void) {
  fprintf(stderr,
          "usage: cmpgw db check (-c CONF | FILE) [--json]\n"
          "       cmpgw db backup -c CONF FILE [--json]\n"
          "       cmpgw db migrate-to-postgres -c CONF --url POSTGRESQL-URL\n"
          "                                    [--password-file FILE] [--sample N] [--json]\n"
          "  check: the database of CONF, or the database file FILE (e.g. a backup)\n"
          "  backup: FILE must not exist; it is created with mode 0600\n"
          "  migrate-to-postgres: copies the SQLite database of CONF into an empty\n"
          "    PostgreSQL database (stop the daemon first), then checks the copy\n");
  return CLI_USAGE;
}

static int db_check(int argc, char **argv) {
  struct cli_args a;
  if (!cli_parse_args(argc, argv, false, &a) || (a.conf == NULL) == (a.operand == NULL))
    return usage();
  const char *conf = a.conf, *file = a.operand;
  int json = a.json;
  char path[CG_PATH_MAX];
  if (file != NULL) {
    snprintf(path, sizeof path, "%s", file);
  } else {
    int rc = cli_database_path("db check", conf, path, sizeof path);
    if (rc != CLI_OK)
      return rc;
  }
  /* A URL may hold a password: it is never printed. */
  const char *shown = cg_store_is_postgres(path) ? "the PostgreSQL database of [store] url" : path;
  struct cg_query_check c;
  int err = cg_query_check_file(path, &c);
  if (err == CG_ENOT_FOUND) {
    fprintf(stderr, "cmpgw db check: no database at ");
    cli_put_text(stderr, path);
    fputc('\n', stderr);
    return CLI_REFUSED;
  }
  if (err != 0) {
    fprintf(stderr, "cmpgw db check: %s\n", cg_strerror(err));
    return cli_exit_of(err);
  }
  if (json) {
    struct cli_json j;
    cli_json_init(&j, stdout);
    cli_json_object(&j, NULL);
    cli_json_string(&j, "database", shown);
    cli_json_bool(&j, "ok", c.n_problems == 0);
    cli_json_int_opt(&j, "user_version", c.user_version);
    cli_json_int(&j, "expected_version", c.expected_version);
    cli_json_bool(&j, "integrity_ok", c.integrity_ok);
    cli_json_int(&j, "foreign_key_violations", (int64_t)c.n_fk);
    cli_json_array(&j, "problems");
    for (size_t i = 0; i < c.n_problems; i++)
      cli_json_string(&j, NULL, c.problems[i]);
    cli_json_end(&j);
    cli_json_end(&j);
  } else if (c.n_problems == 0) {
    printf("ok\n");
  } else {
    for (size_t i = 0; i < c.n_problems; i++) {
      cli_put_text(stdout, c.problems[i]);
      fputc('\n', stdout);
    }
  }
  int rc = c.n_problems == 0 ? CLI_OK : CLI_REFUSED;
  if (rc != CLI_OK) {
    fprintf(stderr, "cmpgw db check: %zu problem%s in ", c.n_problems, c.n_problems == 1 ? "" : "s");
    cli_put_text(stderr, shown);
    fputc('\n', stderr);
  }
  cg_query_check_clear(&c);
  return rc;
}

/* `cmpgw db migrate-to-postgres`: the SQLite store of CONF copied into a
 * PostgreSQL database, checked by counts and a sample of rows. */
static int db_migrate(int argc, char **argv) {
  const char *conf = NULL, *url = NULL, *password_file = NULL;
  long sample = 1000;
  int json = 0;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--json"))
      json = 1;
    else if (v != NULL && !strcmp(argv[i], "-c"))
      conf = v, i++;
    else if (v != NULL && !strcmp(argv[i], "--url"))
      url = v, i++;
    else if (v != NULL && !strcmp(argv[i], "--password-file"))
      password_file = v, i++;
    else if (v != NULL && !strcmp(argv[i], "--sample")) {
      char *end;
      sample = strtol(v, &end, 10);
      if (*end != '\0' || sample < 1 || sample > 1000000)
        return usage();
      i++;
    } else
      return usage();
  }
  if (conf == NULL || url == NULL)
    return usage();
  if (!cg_store_is_postgres(url)) {
    fprintf(stderr, "cmpgw db migrate-to-postgres: --url is a PostgreSQL URI (postgresql://...) "
                    "or libpq key=value words\n");
    return CLI_REFUSED;
  }
  char db[CG_PATH_MAX];
  int rc = cli_database_path("db migrate-to-postgres", conf, db, sizeof db);
  if (rc != CLI_OK)
    return rc;
  if (cg_store_is_postgres(db)) {
    fprintf(stderr, "cmpgw db migrate-to-postgres: the store of %s is PostgreSQL already\n", conf);
    return CLI_REFUSED;
  }
  if (access(db, R_OK) != 0) {
    fprintf(stderr, "cmpgw db migrate-to-postgres: no database at ");
    cli_put_text(stderr, db);
    fputc('\n', stderr);
    return CLI_REFUSED;
  }
  if (cg_store_password_file(password_file) != 0)
    return CLI_REFUSED;
  struct cg_query_copy_report r;
  int err = cg_query_copy(db, url, (int)sample, &r);
  if (err == CG_EEXISTS) {
    fprintf(stderr, "cmpgw db migrate-to-postgres: the PostgreSQL database holds cmpgw rows "
                    "already; nothing was copied\n");
    return CLI_REFUSED;
  }
  if (err == CG_ESTATE) {
    fprintf(stderr, "cmpgw db migrate-to-postgres: the copy does not match its source (the log "
                    "says where); do not use it\n");
    return CLI_STORE;
  }
  if (err != 0) {
    fprintf(stderr, "cmpgw db migrate-to-postgres: the copy failed (%s); nothing was kept\n",
            cg_strerror(err));
    return cli_exit_of(err);
  }
  if (json) {
    struct cli_json j;
    cli_json_init(&j, stdout);
    cli_json_object(&j, NULL);
    cli_json_string(&j, "database", db);
    cli_json_array(&j, "tables");
    for (size_t i = 0; i < r.n_tables; i++) {
      cli_json_object(&j, NULL);
      cli_json_string(&j, "name", r.tables[i]);
      cli_json_int(&j, "rows", r.rows[i]);
      cli_json_int(&j, "sampled", r.sampled[i]);
      cli_json_end(&j);
    }
    cli_json_end(&j);
    cli_json_end(&j);
  } else {
    for (size_t i = 0; i < r.n_tables; i++)
      printf("%-17s %10lld rows copied, %lld compared\n", r.tables[i], (long long)r.rows[i],
             (long long)r.sampled[i]);
    printf("copied and checked; set [store] url (and password_file) in %s, and start the "
           "nodes\n",
           conf);
  }
  return CLI_OK;
}

static int db_backup(int argc, char **argv) {
  struct cli_args a;
  if (!cli_parse_args(argc, argv, false, &a) || a.conf == NULL || a.operand == NULL)
    return usage();
  const char *conf = a.conf, *dest = a.operand;
  int json = a.json;
  char db[CG_PATH_MAX];
  int rc = cli_database_path("db backup", conf, db, sizeof db);
  if (rc != CLI_OK)
    return rc;
  if (cg_store_is_postgres(db)) {
    fprintf(stderr, "cmpgw db backup: the store is PostgreSQL ([store] url): back it up with "
                    "pg_dump (or the server's continuous archiving); `cmpgw db check` checks "
                    "it (docs/store.md)\n");
    return CLI_REFUSED;
  }
  struct cg_store *st;
  if (cg_store_open(db, &st) != 0) {
    fprintf(stderr, "cmpgw db backup: cannot open the database %s\n", db);
    return CLI_STORE;
  }
  /* Created here, exclusively: an existing file is never overwritten, not
   * even one that appears between a check and the copy. */
  int err = app_write_new_file(dest, "", 0, 0600);
  if (err != 0) {
    int e = errno;
    cg_store_close(st);
    fprintf(stderr, "cmpgw db backup: ");
    cli_put_text(stderr, dest);
    if (err == CG_EEXISTS)
      fprintf(stderr, " exists already; not overwriting it\n");
    else
      fprintf(stderr, ": cannot create it: %s\n", strerror(e));
    return CLI_REFUSED;
  }
  int pages = 0;
  err = cg_query_backup(st, dest, &pages);
  cg_store_close(st);
  if (err != 0) {
    char journal[CG_PATH_MAX + 16];
    snprintf(journal, sizeof journal, "%s-journal", dest);
    unlink(journal);
    unlink(dest);
    fprintf(stderr, "cmpgw db backup: the backup failed (%s); nothing was kept\n",
            cg_strerror(err));
    return cli_exit_of(err);
  }
  if (json) {
    struct cli_json j;
    cli_json_init(&j, stdout);
    cli_json_object(&j, NULL);
    cli_json_string(&j, "database", db);
    cli_json_string(&j, "backup", dest);
    cli_json_int(&j, "pages", pages);
    cli_json_end(&j);
  } else {
    printf("backup of %s written to ", db);
    cli_put_text(stdout, dest);
    printf(" (%d pages)\n", pages);
  }
  return CLI_OK;
}

int cmd_db(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "check"))
    return db_check(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "backup"))
    return db_backup(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "migrate-to-postgres"))
    return db_migrate(argc - 1, argv + 1);
  return usage();
}
