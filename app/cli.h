/*
 * cli.h - what the operator commands (`secret`, `tx`, `certs`, `revoke`, `db`)
 * share: their exit statuses, opening the database named by -c CONF, JSON
 * output, text that is safe to print on a terminal, aligned tables, and the
 * names of PKIFailureInfo bits and CRL reasons; and the secrets that
 * `client` and `bench cmp` take on their command line.
 */
#ifndef CG_APP_CLI_H
#define CG_APP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cg_store;

/* Exit statuses (docs/cli.md). */
enum cli_exit {
  CLI_OK = 0,
  CLI_REFUSED = 1, /* not found, refused, or the configuration does not load */
  CLI_USAGE = 2,
  CLI_STORE = 3, /* the database failed (or stayed locked past the busy timeout) */
};

/* The exit status for an error of store/query.h: CLI_STORE for the store's
 * own failures (CG_ESTORE, CG_EBUSY, CG_ENOMEM), CLI_REFUSED for the rest. */
int cli_exit_of(int err);

/* Loads the configuration conf and resolves its [store] database into
 * db[cap] (as every command does: relative to the file).  CLI_OK, or
 * CLI_REFUSED after printing "cmpgw CMD: ..." on stderr. */
int cli_database_path(const char *cmd, const char *conf, char *db, size_t cap);
/* cli_database_path(), then cg_store_open() (which migrates and sets the busy
 * timeout).  CLI_OK, CLI_REFUSED or CLI_STORE, after printing why. */
int cli_open_store(const char *cmd, const char *conf, struct cg_store **st);

/* The current time as stored: "YYYY-MM-DDTHH:MM:SSZ". */
void cli_now(char out[21]);

/* The longest shared secret a command takes on its command line. */
#define CLI_SECRET_MAX 1024
/* The secret an option gives, in the forms `openssl cmp -secret` takes:
 * "pass:VALUE", "env:VAR" (the value of the environment variable VAR),
 * "file:PATH" (the first line of the file, without its line end); anything
 * else is the value itself, as before these forms (`ps` shows it to every
 * user).  Copies it into out[CLI_SECRET_MAX + 1], NUL-terminated, with its
 * length in *len; false, after saying why on stderr ("PROG: ..."), when it
 * is empty, too long, or cannot be read. */
bool cli_secret(const char *prog, const char *arg, char *out, size_t *len);
/* cli_secret() of "file:PATH". */
bool cli_secret_file(const char *prog, const char *path, char *out, size_t *len);

/* Parses a decimal number in [min, max] (digits only).  True when it is one. */
bool cli_parse_number(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* The arguments most subcommands take: -c CONF, --json, --profile P (where
 * allowed) and at most one operand (a reference, an ID, a file). */
struct cli_args {
  const char *conf, *operand, *profile;
  int json;
};
/* Fills *a from argv[1..]; false on anything else (the caller prints its
 * usage).  Which of them are required is the caller's to check. */
bool cli_parse_args(int argc, char **argv, bool with_profile, struct cli_args *a);

/* The most rows a list command prints (--limit N, 0 for all). */
#define CLI_MAX_LIMIT 1000000
/* Parses the --limit of list command cmd into *out; false (after saying why
 * on stderr) when s is not one. */
bool cli_parse_limit(const char *cmd, const char *s, size_t *out);

/* Prints s for a person: valid UTF-8 without control characters, anything
 * else shown as '?'.  NULL prints nothing. */
void cli_put_text(FILE *f, const char *s);

/* ---- JSON: one value written as the calls come, commas and escapes taken
 * care of.  Keys are ignored inside arrays and at the top. */

#define CLI_JSON_DEPTH 8

struct cli_json {
  FILE *f;
  int depth;
  bool first[CLI_JSON_DEPTH];  /* nothing written yet at this depth */
  bool object[CLI_JSON_DEPTH]; /* an object is open at this depth (depth 0: none) */
};

void cli_json_init(struct cli_json *j, FILE *f);
void cli_json_object(struct cli_json *j, const char *key);
void cli_json_array(struct cli_json *j, const char *key);
/* Closes the innermost object or array (and ends the line at the top). */
void cli_json_end(struct cli_json *j);
/* Prints n items (each size octets, from items) to stdout as a JSON array of
 * objects, fields(j, item) writing the members of each. */
void cli_json_list(const void *items, size_t n, size_t size,
                   void (*fields)(struct cli_json *j, const void *item));
/* A string, escaped (invalid UTF-8 becomes U+FFFD); NULL writes null. */
void cli_json_string(struct cli_json *j, const char *key, const char *s);
/* A string from the database, where "" stands for NULL: null when empty. */
void cli_json_opt(struct cli_json *j, const char *key, const char *s);
void cli_json_int(struct cli_json *j, const char *key, int64_t v);
/* An integer, or null when v < 0. */
void cli_json_int_opt(struct cli_json *j, const char *key, int64_t v);
void cli_json_bool(struct cli_json *j, const char *key, bool v);
void cli_json_null(struct cli_json *j, const char *key);

/* ---- tables for people: a header and rows of cells, columns padded to the
 * widest cell. */

struct cli_table {
  size_t ncols;
  const char *const *head;
  char **cells; /* malloc'ed copies, row after row */
  size_t nrows, cap;
  bool oom;
};

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *head);
/* Adds a row of t->ncols cells (const char *; NULL or "" shows "-"). */
void cli_table_row(struct cli_table *t, ...);
/* Prints the table (the header, then the rows), frees it.  CLI_OK, or
 * CLI_STORE when memory ran out on the way. */
int cli_table_print(struct cli_table *t, FILE *f);

/* ---- names ---------------------------------------------------------------- */

/* "badPOP" for bit 9 (RFC 9810 §5.2.3); NULL when the bit has no name. */
const char *cli_failinfo_name(int bit);
/* "keyCompromise" for 1 (RFC 5280 §5.3.1); NULL for 7 or out of range. */
const char *cli_crl_reason_name(int reason);
/* A CRLReason given as its number (0..10 except 7) or its name (any case);
 * -1 when it is neither. */
int cli_crl_reason_parse(const char *s);

#endif
