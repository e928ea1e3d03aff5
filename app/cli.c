/*
 * cli.c - the pieces the operator commands share (app/cli.h): exit statuses
 * for store errors, opening the database of a configuration, secrets given
 * on the command line, a small JSON writer, UTF-8 that is safe to print,
 * padded tables, and the names of PKIFailureInfo bits and CRL reasons.
 *
 * Everything printed comes from the database or the command line, and either
 * may hold any bytes: the JSON writer escapes control characters and replaces
 * invalid UTF-8 with U+FFFD (so the output always parses), and text for a
 * terminal shows control characters, including the C1 ones that start escape
 * sequences, as '?'.
 */
#include "app/setup.h"
#include "app/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/file.h"
#include "core/time.h"
#include "store/store.h"

int cli_exit_of(int err) {
  switch (err) {
  case 0:
    return CLI_OK;
  case CG_ESTORE:
  case CG_ESTORE_UNAVAIL:
  case CG_EBUSY:
  case CG_ENOMEM:
    return CLI_STORE;
  default:
    return CLI_REFUSED;
  }
}

int cli_database_path(const char *cmd, const char *conf, char *db, size_t cap) {
  struct cg_config *cfg = malloc(sizeof *cfg);
  if (cfg == NULL) {
    fprintf(stderr, "cmpgw %s: out of memory\n", cmd);
    return CLI_STORE;
  }
  int rc = CLI_OK;
  if (cg_config_load(conf, cfg) != 0) {
    fprintf(stderr, "cmpgw %s: cannot load the configuration %s\n", cmd, conf);
    rc = CLI_REFUSED;
  } else if (app_store_locator(cfg, db, cap) != 0) {
    fprintf(stderr, "cmpgw %s: the database of %s cannot be used (its path or password file)\n",
            cmd, conf);
    rc = CLI_REFUSED;
  }
  free(cfg);
  return rc;
}

int cli_open_store(const char *cmd, const char *conf, struct cg_store **st) {
  char db[CG_PATH_MAX];
  *st = NULL;
  int rc = cli_database_path(cmd, conf, db, sizeof db);
  if (rc != CLI_OK)
    return rc;
  if (cg_store_open(db, st) != 0) {
    fprintf(stderr, "cmpgw %s: cannot open the database %s\n", cmd,
            cg_store_is_postgres(db) ? "of [store] url" : db);
    return CLI_STORE;
  }
  return CLI_OK;
}

void cli_now(char out[21]) { cg_time_iso8601((int64_t)time(NULL), out); }

bool cli_secret_file(const char *prog, const char *path, char *out, size_t *len) {
  uint8_t *text;
  size_t n;
  int err = cg_read_file(path, &text, &n);
  if (err) {
    fprintf(stderr, "%s: cannot read the secret from %s: %s\n", prog, path, cg_file_strerror(err));
    return false;
  }
  size_t line = strcspn((const char *)text, "\r\n");
  bool ok = line > 0 && line <= CLI_SECRET_MAX;
  if (ok) {
    memcpy(out, text, line);
    out[line] = 0;
    *len = line;
  } else {
    fprintf(stderr, "%s: %s must hold the secret on its first line (1..%d characters)\n", prog,
            path, CLI_SECRET_MAX);
  }
  cg_wipe(text, n);
  free(text);
  return ok;
}

bool cli_secret(const char *prog, const char *arg, char *out, size_t *len) {
  const char *v = arg, *what = "the secret";
  if (strncmp(arg, "file:", 5) == 0)
    return cli_secret_file(prog, arg + 5, out, len);
  if (strncmp(arg, "pass:", 5) == 0) {
    v = arg + 5;
  } else if (strncmp(arg, "env:", 4) == 0) {
    what = arg + 4;
    v = getenv(arg + 4);
    if (v == NULL) {
      fprintf(stderr, "%s: the environment variable %s (the secret) is not set\n", prog, what);
      return false;
    }
  }
  size_t n = strlen(v);
  if (n == 0 || n > CLI_SECRET_MAX) {
    fprintf(stderr, "%s: %s is empty or longer than %d characters\n", prog, what,
            CLI_SECRET_MAX);
    return false;
  }
  memcpy(out, v, n + 1);
  *len = n;
  return true;
}

bool cli_parse_number(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  if (s == NULL || *s < '0' || *s > '9')
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return false;
  *out = v;
  return true;
}

bool cli_parse_args(int argc, char **argv, bool with_profile, struct cli_args *a) {
  memset(a, 0, sizeof *a);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc)
      a->conf = argv[++i];
    else if (!strcmp(argv[i], "--json"))
      a->json = 1;
    else if (with_profile && !strcmp(argv[i], "--profile") && i + 1 < argc)
      a->profile = argv[++i];
    else if (argv[i][0] != '-' && a->operand == NULL)
      a->operand = argv[i];
    else
      return false;
  }
  return true;
}

bool cli_parse_limit(const char *cmd, const char *s, size_t *out) {
  uint64_t v;
  if (!cli_parse_number(s, 0, CLI_MAX_LIMIT, &v)) {
    fprintf(stderr, "cmpgw %s: --limit is a number from 0 (all) to %d\n", cmd, CLI_MAX_LIMIT);
    return false;
  }
  *out = (size_t)v;
  return true;
}

/* ---- UTF-8 ----------------------------------------------------------------- */

/* Decodes the code point at s (NUL terminated).  Returns the octets it takes;
 * *cp is -1 for an invalid sequence (then 1 octet is consumed): overlong
 * forms, surrogates and values past U+10FFFF are invalid. */
static size_t utf8_next(const unsigned char *s, long *cp) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  long v, min;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, v = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, v = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, v = c & 0x07, min = 0x10000;
  } else {
    *cp = -1;
    return 1;
  }
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) {
      *cp = -1;
      return 1;
    }
    v = (v << 6) | (s[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
    *cp = -1;
    return 1;
  }
  *cp = v;
  return n;
}

void cli_put_text(FILE *f, const char *s) {
  if (s == NULL)
    return;
  const unsigned char *p = (const unsigned char *)s;
  while (*p != '\0') {
    long cp;
    size_t n = utf8_next(p, &cp);
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
      fputc('?', f);
    else
      fwrite(p, 1, n, f);
    p += n;
  }
}

/* ---- JSON ------------------------------------------------------------------- */

static void json_escaped(FILE *f, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  fputc('"', f);
  while (*p != '\0') {
    long cp;
    size_t n = utf8_next(p, &cp);
    if (cp == '"' || cp == '\\')
      fprintf(f, "\\%c", (int)cp);
    else if (cp == '\n')
      fputs("\\n", f);
    else if (cp == '\t')
      fputs("\\t", f);
    else if (cp == '\r')
      fputs("\\r", f);
    else if (cp < 0)
      fputs("\\ufffd", f);
    else if (cp < 0x20 || cp == 0x7f)
      fprintf(f, "\\u%04x", (unsigned)cp);
    else
      fwrite(p, 1, n, f);
    p += n;
  }
  fputc('"', f);
}

void cli_json_init(struct cli_json *j, FILE *f) {
  memset(j, 0, sizeof *j);
  j->f = f;
  j->first[0] = true;
}

/* The comma and the key that come before a value. */
static void json_member(struct cli_json *j, const char *key, bool in_object) {
  if (!j->first[j->depth])
    fputs(", ", j->f);
  j->first[j->depth] = false;
  if (in_object && key != NULL) {
    json_escaped(j->f, key);
    fputs(": ", j->f);
  }
}

static void json_open(struct cli_json *j, const char *key, bool object) {
  json_member(j, key, j->object[j->depth]);
  fputc(object ? '{' : '[', j->f);
  if (j->depth + 1 < CLI_JSON_DEPTH) {
    j->depth++;
    j->first[j->depth] = true;
    j->object[j->depth] = object;
  }
}

void cli_json_object(struct cli_json *j, const char *key) { json_open(j, key, true); }

void cli_json_array(struct cli_json *j, const char *key) { json_open(j, key, false); }

void cli_json_end(struct cli_json *j) {
  if (j->depth == 0)
    return;
  fputc(j->object[j->depth] ? '}' : ']', j->f);
  j->depth--;
  if (j->depth == 0)
    fputc('\n', j->f);
}

static void json_key(struct cli_json *j, const char *key) {
  json_member(j, key, j->object[j->depth]);
}

void cli_json_string(struct cli_json *j, const char *key, const char *s) {
  json_key(j, key);
  if (s == NULL)
    fputs("null", j->f);
  else
    json_escaped(j->f, s);
}

void cli_json_opt(struct cli_json *j, const char *key, const char *s) {
  cli_json_string(j, key, s != NULL && s[0] != '\0' ? s : NULL);
}

void cli_json_int(struct cli_json *j, const char *key, int64_t v) {
  json_key(j, key);
  fprintf(j->f, "%" PRId64, v);
}

void cli_json_int_opt(struct cli_json *j, const char *key, int64_t v) {
  if (v < 0)
    cli_json_null(j, key);
  else
    cli_json_int(j, key, v);
}

void cli_json_bool(struct cli_json *j, const char *key, bool v) {
  json_key(j, key);
  fputs(v ? "true" : "false", j->f);
}

void cli_json_null(struct cli_json *j, const char *key) {
  json_key(j, key);
  fputs("null", j->f);
}

/* ---- tables ------------------------------------------------------------------ */

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *head) {
  memset(t, 0, sizeof *t);
  t->ncols = ncols;
  t->head = head;
}

void cli_table_row(struct cli_table *t, ...) {
  if (t->oom)
    return;
  if ((t->nrows + 1) * t->ncols > t->cap) {
    size_t ncap = t->cap ? 2 * t->cap : 16 * t->ncols;
    char **p = realloc(t->cells, ncap * sizeof *p);
    if (p == NULL) {
      t->oom = true;
      return;
    }
    t->cells = p;
    t->cap = ncap;
  }
  va_list ap;
  va_start(ap, t);
  for (size_t c = 0; c < t->ncols; c++) {
    const char *v = va_arg(ap, const char *);
    char *copy = strdup(v != NULL && v[0] != '\0' ? v : "-");
    if (copy == NULL)
      t->oom = true;
    t->cells[t->nrows * t->ncols + c] = copy;
  }
  va_end(ap);
  t->nrows++;
}

/* Display width, counting code points (close enough for names and times). */
static size_t text_width(const char *s) {
  size_t w = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    w += (*p & 0xc0) != 0x80;
  return w;
}

static void put_cell(FILE *f, const char *s, size_t width, bool last) {
  cli_put_text(f, s);
  if (last)
    return;
  for (size_t w = text_width(s); w < width + 2; w++)
    fputc(' ', f);
}

int cli_table_print(struct cli_table *t, FILE *f) {
  int rc = CLI_OK;
  size_t *width = calloc(t->ncols, sizeof *width);
  if (width == NULL || t->oom) {
    fprintf(stderr, "cmpgw: out of memory\n");
    rc = CLI_STORE;
  } else {
    for (size_t c = 0; c < t->ncols; c++) {
      width[c] = text_width(t->head[c]);
      for (size_t r = 0; r < t->nrows; r++) {
        size_t w = text_width(t->cells[r * t->ncols + c]);
        width[c] = w > width[c] ? w : width[c];
      }
    }
    for (size_t c = 0; c < t->ncols; c++)
      put_cell(f, t->head[c], width[c], c + 1 == t->ncols);
    fputc('\n', f);
    for (size_t r = 0; r < t->nrows; r++) {
      for (size_t c = 0; c < t->ncols; c++)
        put_cell(f, t->cells[r * t->ncols + c], width[c], c + 1 == t->ncols);
      fputc('\n', f);
    }
  }
  free(width);
  for (size_t i = 0; t->cells != NULL && i < t->nrows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  t->cells = NULL;
  t->nrows = t->cap = 0;
  return rc;
}

/* ---- names ---------------------------------------------------------------------- */

const char *cli_failinfo_name(int bit) {
  return cg_failinfo_name(bit);
}

/* RFC 5280 §5.3.1 CRLReason; 7 is not used. */
static const char *const crl_reasons[] = {
    "unspecified", "keyCompromise",   "cACompromise",      "affiliationChanged",
    "superseded",  "cessationOfOperation", "certificateHold", NULL,
    "removeFromCRL", "privilegeWithdrawn", "aACompromise",
};

const char *cli_crl_reason_name(int reason) {
  return reason >= 0 && reason < (int)(sizeof crl_reasons / sizeof crl_reasons[0])
             ? crl_reasons[reason]
             : NULL;
}

int cli_crl_reason_parse(const char *s) {
  uint64_t v;
  if (cli_parse_number(s, 0, 10, &v))
    return cli_crl_reason_name((int)v) != NULL ? (int)v : -1;
  for (int r = 0; r < (int)(sizeof crl_reasons / sizeof crl_reasons[0]); r++)
    if (crl_reasons[r] != NULL && strcasecmp(s, crl_reasons[r]) == 0)
      return r;
  return -1;
}

void cli_json_list(const void *items, size_t n, size_t size,
                   void (*fields)(struct cli_json *j, const void *item)) {
  struct cli_json j;
  cli_json_init(&j, stdout);
  cli_json_array(&j, NULL);
  for (size_t i = 0; i < n; i++) {
    cli_json_object(&j, NULL);
    fields(&j, (const char *)items + i * size);
    cli_json_end(&j);
  }
  cli_json_end(&j);
}
