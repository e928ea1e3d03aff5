/*
 * test_config.c - core/config.c: a profile section names only what differs
 * from the defaults, the delayed-delivery keys parse with their bounds, and a
 * configuration that cannot work is refused at load with the reason: every
 * refusal names the file, the line, the section and key, and what is wrong;
 * a key set twice and a section written twice are refused naming both lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"
#include "testutil.h"

static char dir[64];
static char path[128];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/cg-config-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  snprintf(path, sizeof path, "%s/cmpgw.conf", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unlink(path);
  rmdir(dir);
  return 0;
}

/* Loads text, after the backend every profile uses by default, as a
 * configuration file. */
static int load(const char *text, struct cg_config *cfg) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs("[backend local]\ntype = local\n\n", f) >= 0, 1);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
  return cg_config_load(path, cfg);
}

static void test_a_profile_names_only_what_differs(void **state) {
  (void)state;
  struct cg_config cfg;
  assert_int_equal(load("[profile default]\nvalidity_days = 365\n\n"
                        "[profile fleet]\n"
                        "approval = manual\n"
                        "check_after = 30\n"
                        "max_pending = 0\n"
                        "max_pending_per_ref = 2\n",
                        &cfg),
                   0);
  const struct cg_config_profile *p = cg_config_profile(&cfg, "fleet");
  assert_non_null(p);
  assert_true(p->manual_approval);
  assert_int_equal(p->check_after, 30);
  assert_int_equal(p->max_pending, 0); /* 0: no cap */
  assert_int_equal(p->max_pending_per_ref, 2);
  assert_int_equal(p->confirm_wait, 600);
  assert_int_equal(p->pending_lifetime, 7 * 86400);
  const struct cg_config_profile *d = cg_config_profile(&cfg, "default");
  assert_non_null(d);
  assert_false(d->manual_approval);
  assert_int_equal(d->max_pending, 10000);
  assert_int_equal(d->max_pending_per_ref, 5);
}

static void test_unworkable_configurations_are_refused(void **state) {
  (void)state;
  struct cg_config cfg;
  static const char *const bad[] = {
      /* an approved certificate would expire before the device polls */
      "[profile p]\napproval = manual\ncheck_after = 600\nconfirm_wait = 600\n",
      "[profile p]\napproval = manual\ncheck_after = 3600\n",
      "[profile p]\nchallenge = fixed\n",
      "[profile p]\nbackend = nowhere\n",
      "[profile p]\nmax_pending = -1\n",
      "[profile p]\nmax_pending_per_ref = many\n",
      "[profile p]\ncheck_after = 0\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (load(bad[i], &cfg) != CG_ECONFIG)
      fail_msg("accepted: %s", bad[i]);
  }
  /* the same keys, workable */
  assert_int_equal(
      load("[profile p]\napproval = manual\ncheck_after = 600\nconfirm_wait = 601\n", &cfg), 0);
  /* without manual approval nothing waits for a poll */
  assert_int_equal(load("[profile p]\ncheck_after = 3600\n", &cfg), 0);
}

static void test_compute_takes_three_values(void **state) {
  (void)state;
  struct cg_config cfg;
  assert_int_equal(load("[profile p]\n", &cfg), 0);
  assert_int_equal(cfg.compute, CG_COMPUTE_AUTO);
  assert_int_equal(load("[server]\ncompute = inline\n[profile p]\n", &cfg), 0);
  assert_int_equal(cfg.compute, CG_COMPUTE_INLINE);
  assert_int_equal(load("[server]\ncompute = threadpool\n[profile p]\n", &cfg), 0);
  assert_int_equal(cfg.compute, CG_COMPUTE_THREADPOOL);
  assert_int_equal(load("[server]\ncompute = auto\n[profile p]\n", &cfg), 0);
  assert_int_equal(cfg.compute, CG_COMPUTE_AUTO);
  assert_int_equal(load("[server]\ncompute = pool\n[profile p]\n", &cfg), CG_ECONFIG);
}

static void test_commit_interval_is_microseconds_up_to_100ms(void **state) {
  (void)state;
  struct cg_config cfg;
  assert_int_equal(load("[profile p]\n", &cfg), 0);
  assert_int_equal(cfg.commit_interval_us, 0);
  assert_int_equal(load("[store]\ncommit_interval_us = 2000\n[profile p]\n", &cfg), 0);
  assert_int_equal(cfg.commit_interval_us, 2000);
  assert_int_equal(load("[store]\ncommit_interval_us = 100000\n[profile p]\n", &cfg), 0);
  assert_int_equal(cfg.commit_interval_us, 100000);
  assert_int_equal(load("[store]\ncommit_interval_us = 100001\n[profile p]\n", &cfg), CG_ECONFIG);
  assert_int_equal(load("[store]\ncommit_interval_us = 2ms\n[profile p]\n", &cfg), CG_ECONFIG);
  assert_int_equal(load("[store]\ncommit_interval_us = -1\n[profile p]\n", &cfg), CG_ECONFIG);
}

/* What cg_config_parse() logs for text (named /etc/cmpgw.conf), its
 * records without their time and level, one per line; and its result. */
static char logged[4096];
static int parse_logged(const char *text, size_t len, struct cg_config *cfg) {
  tu_capture_stderr();
  int rc = cg_config_parse("/etc/cmpgw.conf", text, len, cfg);
  char raw[sizeof logged];
  snprintf(raw, sizeof raw, "%s", tu_captured_stderr());
  /* "2026-01-01T00:00:00Z ERROR message" -> "message" */
  logged[0] = 0;
  for (char *save = NULL, *l = strtok_r(raw, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    const char *m = strchr(l, ' ');
    m = m ? strchr(m + 1, ' ') : NULL;
    snprintf(logged + strlen(logged), sizeof logged - strlen(logged), "%s\n", m ? m + 1 : l);
  }
  return rc;
}

/* text must be refused with exactly this one message. */
static void refused_with(const char *text, const char *message) {
  struct cg_config *cfg = malloc(sizeof *cfg);
  assert_non_null(cfg);
  int rc = parse_logged(text, strlen(text), cfg);
  free(cfg);
  char want[1024];
  snprintf(want, sizeof want, "%s\n", message);
  if (rc != CG_ECONFIG || strcmp(logged, want) != 0)
    fail_msg("for:\n%s\ngot %d and:\n%swant:\n%s", text, rc, logged, want);
}

#define B "[backend local]\ntype = local\n" /* lines 1-2 */

static void test_a_refusal_names_the_line_the_key_and_what_is_wrong(void **state) {
  (void)state;
  refused_with("[server]\nhttp = 127.0.0.1:8080\nmax_connections = abc\n",
               "config /etc/cmpgw.conf:3: [server] max_connections: \"abc\" is not a number "
               "(1..1000000)");
  refused_with("[server]\nmax_connections = 0\n",
               "config /etc/cmpgw.conf:2: [server] max_connections: 0 is out of range (1..1000000)");
  refused_with("[server]\nmax_connections = 99999999999999999999999\n",
               "config /etc/cmpgw.conf:2: [server] max_connections: 99999999999999999999999 is out "
               "of range (1..1000000)");
  refused_with("[server]\ncompute = pool\n",
               "config /etc/cmpgw.conf:2: [server] compute: \"pool\" is not one of auto, "
               "threadpool, inline");
  refused_with("[server]\nhttp = localhost\n",
               "config /etc/cmpgw.conf:2: [server] http: \"localhost\" is not HOST:PORT (or "
               "[IPv6]:PORT; port 0..65535)");
  refused_with("[server]\nmax_conections = 5\n",
               "config /etc/cmpgw.conf:2: [server] max_conections: unknown key "
               "(docs/configuration.md lists the keys of [server])");
  refused_with(B "[profile p]\n\n# a comment\neku_client_auth = maybe\n",
               "config /etc/cmpgw.conf:6: [profile p] eku_client_auth: \"maybe\" is not true or "
               "false");
  refused_with(B "[profile p]\nprotection = mac, sig\n",
               "config /etc/cmpgw.conf:4: [profile p] protection: \"sig\" is not mac or signature");
  refused_with(B "[profile p]\nkey_types = p256, dsa\n",
               "config /etc/cmpgw.conf:4: [profile p] key_types: \"dsa\" is not one of rsa, "
               "p256, p384, p521, ed25519, ed448");
  refused_with(B "[profile p]\nkey_types = none\n",
               "config /etc/cmpgw.conf:4: [profile p] key_types: \"none\" is not one of rsa, "
               "p256, p384, p521, ed25519, ed448");
  refused_with(
      B "[profile p]\nrsa_min_bits = 512\n",
      "config /etc/cmpgw.conf:4: [profile p] rsa_min_bits: 512 is out of range (1024..4096)");
  refused_with(B "[profile p]\nsan_types = dns, x400\n",
               "config /etc/cmpgw.conf:4: [profile p] san_types: \"x400\" is not one of dns, ip, "
               "uri, email, dirname");
  refused_with(B "[profile p]\naliases = pkix\n",
               "config /etc/cmpgw.conf:4: [profile p] aliases: \"pkix\" does not start with '/'");
  refused_with(B "[profile p]\nvalidity = 5\n",
               "config /etc/cmpgw.conf:4: [profile p] validity: unknown key "
               "(docs/configuration.md lists the keys of [profile NAME])");
  refused_with("[store]\ncommit_interval_us = 2ms\n",
               "config /etc/cmpgw.conf:2: [store] commit_interval_us: \"2ms\" is not a number "
               "(0..100000)");
}

static void test_a_line_that_is_not_a_setting_says_why(void **state) {
  (void)state;
  refused_with("[server\n", "config /etc/cmpgw.conf:1: '[' starts a section name that no ']' ends");
  refused_with("[server] http = 127.0.0.1:1\n",
               "config /etc/cmpgw.conf:1: text after the section name's ']'");
  refused_with("[servers]\n",
               "config /etc/cmpgw.conf:1: [servers]: unknown section (server, store, console, ra, "
               "secrets, pkcs11, log, profile NAME, backend NAME)");
  refused_with("http = 127.0.0.1:1\n",
               "config /etc/cmpgw.conf:1: \"http\" comes before any [section]");
  refused_with("[server]\n\nmax_connections 5\n",
               "config /etc/cmpgw.conf:3: expected \"key = value\", \"[section]\" or a comment");
  refused_with("[server]\n= 5\n", "config /etc/cmpgw.conf:2: [server]: no key before the '='");
  char long_line[300];
  snprintf(long_line, sizeof long_line, "[server]\nadmin = 127.0.0.1:1 ;%0200d\n", 0);
  refused_with(long_line, "config /etc/cmpgw.conf:2: the line is longer than 199 characters");
  /* A NUL ends the text for libinih but not the line for us. */
  struct cg_config cfg;
  static const char nul[] = "[server]\nmax_connections = 5\0junk\n";
  assert_int_equal(parse_logged(nul, sizeof nul - 1, &cfg), CG_ECONFIG);
  assert_string_equal(logged, "config /etc/cmpgw.conf:2: the line holds a NUL octet\n");
  /* Only the first error is reported. */
  refused_with("[server]\nmax_connections = x\n[nope]\n",
               "config /etc/cmpgw.conf:2: [server] max_connections: \"x\" is not a number "
               "(1..1000000)");
  /* Control characters from the file reach the log escaped (core/log.c). */
  refused_with("[server]\ncompute = \x1b[31mred\n",
               "config /etc/cmpgw.conf:2: [server] compute: \"\\x1b[31mred\" is not one of "
               "auto, threadpool, inline");
}

static void test_a_key_or_a_section_written_twice_is_refused(void **state) {
  (void)state;
  refused_with("[server]\nmax_connections = 10\nhttp = 127.0.0.1:1\nmax_connections = 20\n",
               "config /etc/cmpgw.conf:4: [server] max_connections: set twice, at lines 2 and 4: "
               "keep one");
  refused_with(B "[profile a]\nvalidity_days = 1\n[profile b]\nvalidity_days = 2\n"
                 "[profile a]\ncopy_san = true\n",
               "config /etc/cmpgw.conf:7: [profile a]: the section appears twice, at lines 3 and "
               "7: write it once");
  /* an empty section written twice too */
  refused_with("[store]\n[store]\n",
               "config /etc/cmpgw.conf:2: [store]: the section appears twice, at lines 1 and 2: "
               "write it once");
  refused_with(B "[backend up]\ntype = cmp\nurl = http://127.0.0.1:1/\nurl = http://127.0.0.1:2/\n",
               "config /etc/cmpgw.conf:6: [backend up] url: set twice, at lines 5 and 6: keep one");
  refused_with(B "[backend local]\ncert = ca.pem\n",
               "config /etc/cmpgw.conf:3: [backend local]: the section appears twice, at lines 1 "
               "and 3: write it once");
  /* the same key in two sections is two keys */
  struct cg_config cfg;
  static const char two[] = B "[profile a]\nvalidity_days = 1\n[profile b]\nvalidity_days = 2\n";
  assert_int_equal(parse_logged(two, sizeof two - 1, &cfg), 0);
  assert_int_equal(cg_config_profile(&cfg, "a")->validity_days, 1);
  assert_int_equal(cg_config_profile(&cfg, "b")->validity_days, 2);
}

/* Checks across sections name the line of the key at fault, or of its
 * section when the key takes its default. */
static void test_checks_after_reading_name_the_line(void **state) {
  (void)state;
  refused_with(B "[profile p]\ncheck_after = 5\nbackend = nowhere\n",
               "config /etc/cmpgw.conf:5: [profile p] backend: there is no [backend nowhere] "
               "section");
  refused_with("[profile p]\ncheck_after = 5\n",
               "config /etc/cmpgw.conf:1: [profile p] backend: there is no [backend local] section "
               "(the default)");
  refused_with(B "[profile p]\nchallenge = fixed\n",
               "config /etc/cmpgw.conf:4: [profile p] challenge: fixed, but no challenge_value is "
               "set");
  refused_with(B "[profile p]\nconfirm_wait = 30\napproval = manual\ncheck_after = 60\n",
               "config /etc/cmpgw.conf:4: [profile p] confirm_wait: 30 s must be longer than "
               "check_after (60 s), or approved certificates expire before the device polls for "
               "them");
  refused_with(B "\n[backend up]\nurl = http://127.0.0.1:1/\n",
               "config /etc/cmpgw.conf:4: [backend up]: no type (local, cmp)");
  /* a check made by a caller later, on a loaded configuration */
  struct cg_config cfg;
  static const char ok[] = B "[profile p]\ntrust_anchors = a.pem\n";
  assert_int_equal(parse_logged(ok, sizeof ok - 1, &cfg), 0);
  tu_capture_stderr();
  assert_int_equal(cg_config_error(&cfg, "profile p", "trust_anchors", "cannot read %s", "a.pem"),
                   CG_ECONFIG);
  assert_int_equal(cg_config_error(&cfg, "profile p", "validity_days", "too long"), CG_ECONFIG);
  assert_int_equal(cg_config_error(&cfg, "server", "http", "taken"), CG_ECONFIG);
  const char *log = tu_captured_stderr();
  assert_non_null(strstr(log, " ERROR config /etc/cmpgw.conf:4: [profile p] trust_anchors: "
                              "cannot read a.pem\n"));
  assert_non_null(strstr(log, " ERROR config /etc/cmpgw.conf:3: [profile p] validity_days: "
                              "too long\n"));
  assert_non_null(strstr(log, " ERROR config /etc/cmpgw.conf: [server] http: taken\n"));
}

/* What libinih would have taken otherwise: an indented line is a setting of
 * its own (not the continuation of the value above), a long profile name is
 * kept whole (libinih cuts section names at 49 characters), a BOM and CRLF
 * line ends are fine. */
static void test_lines_read_as_written(void **state) {
  (void)state;
  struct cg_config cfg;
  static const char indented[] = "[server]\nhttp = 127.0.0.1:9\n    max_connections = 7\n";
  assert_int_equal(parse_logged(indented, sizeof indented - 1, &cfg), 0);
  assert_string_equal(cfg.http, "127.0.0.1:9");
  assert_int_equal(cfg.max_connections, 7);
  char text[512];
  const char *name = "fleet-of-meters-in-the-north-east-region-number-0042-a"; /* 54 */
  snprintf(text, sizeof text, B "[profile %s]\nvalidity_days = 30\n", name);
  assert_int_equal(parse_logged(text, strlen(text), &cfg), 0);
  assert_non_null(cg_config_profile(&cfg, name));
  assert_int_equal(cg_config_profile(&cfg, name)->validity_days, 30);
  static const char crlf[] = "\xef\xbb\xbf[server]\r\nmax_connections = 9\r\n";
  assert_int_equal(parse_logged(crlf, sizeof crlf - 1, &cfg), 0);
  assert_int_equal(cfg.max_connections, 9);
  assert_string_equal(cfg.path, "/etc/cmpgw.conf");
  assert_string_equal(cfg.dir, "/etc");
}

static void test_a_file_that_cannot_be_read_says_why(void **state) {
  (void)state;
  struct cg_config cfg;
  char missing[160];
  snprintf(missing, sizeof missing, "%s/no-such.conf", dir);
  tu_capture_stderr();
  assert_int_equal(cg_config_load(missing, &cfg), CG_ECONFIG);
  assert_int_equal(cg_config_load(dir, &cfg), CG_ECONFIG);
  const char *log = tu_captured_stderr();
  char want[256];
  snprintf(want, sizeof want, " ERROR config %s: cannot read it: No such file or directory\n",
           missing);
  assert_non_null(strstr(log, want));
  snprintf(want, sizeof want, " ERROR config %s: cannot read it: Is a directory\n", dir);
  assert_non_null(strstr(log, want));
}

/* The fuzz target's seeds load, so that it starts from configurations that
 * reach every section. */
static void test_the_sample_configurations_load(void **state) {
  (void)state;
  struct cg_config cfg;
  assert_int_equal(cg_config_load(CG_TEST_VECTORS "/config/demo.conf", &cfg), 0);
  assert_non_null(cg_config_profile(&cfg, "default"));
  assert_false(cfg.allow_readable_keys);
  assert_int_equal(cg_config_load(CG_TEST_VECTORS "/config/ra.conf", &cfg), 0);
  assert_string_equal(cfg.tcp, "[::1]:1829");
  assert_int_equal(cfg.max_message, 262144); /* the "; a comment" after it left out */
  assert_int_equal(cfg.compute, CG_COMPUTE_INLINE);
  const struct cg_config_profile *fleet = cg_config_profile(&cfg, "fleet");
  assert_non_null(fleet);
  assert_string_equal(fleet->challenge_value, "open sesame");
  assert_true(fleet->manual_approval && fleet->manual_revocation);
  const struct cg_config_profile *def = cg_config_profile(&cfg, "default");
  assert_false(def->eku_server_auth);
  assert_int_equal(def->san_types, CG_SAN_DNS | CG_SAN_IP);
  assert_int_equal(def->key_types, CG_KEYT_RSA | CG_KEYT_P256 | CG_KEYT_ED25519);
  assert_int_equal(def->rsa_min_bits, 3072);
  /* Not set: every type, RSA from 2048 bits. */
  assert_int_equal(fleet->key_types, CG_KEYT_RSA | CG_KEYT_P256 | CG_KEYT_P384 | CG_KEYT_P521 |
                                         CG_KEYT_ED25519 | CG_KEYT_ED448);
  assert_int_equal(fleet->rsa_min_bits, 2048);
  assert_string_equal(def->subject_pattern, "CN=meter-*,O=Example");
  const struct cg_config_backend *up = cg_config_backend(&cfg, "upstream");
  assert_non_null(up);
  assert_string_equal(cg_config_backend_get(up, "recipient"), "/CN=Issuing CA/O=Example");
}

/* ---- the table of keys against docs/configuration.md ----------------------- */

/* The docs' section for a table section ("profile" is "[profile NAME]"). */
static const char *docs_heading(const char *section) {
  return !strcmp(section, "profile") ? "## [profile NAME]"
         : !strcmp(section, "server") ? "## [server]"
         : !strcmp(section, "store")  ? "## [store]"
         : !strcmp(section, "ra")     ? "## [ra]"
         : !strcmp(section, "pkcs11") ? "## [pkcs11]"
         : !strcmp(section, "log")    ? "## [log]"
                                      : "## [secrets]";
}

/* The text of the docs' section (up to the next "## "), malloc'ed. */
static char *docs_section(const char *docs, const char *section) {
  const char *h = strstr(docs, docs_heading(section));
  if (h == NULL)
    fail_msg("docs/configuration.md has no %s", docs_heading(section));
  const char *end = strstr(h + 3, "\n## ");
  size_t n = end != NULL ? (size_t)(end - h) : strlen(h);
  char *out = malloc(n + 1);
  memcpy(out, h, n);
  out[n] = 0;
  return out;
}

/* The row of key in a section's table ("| `key` ..." or "| `a`, `key` ..."),
 * NULL when there is none. */
static const char *docs_row(const char *sec, const char *key) {
  char want[96];
  snprintf(want, sizeof want, "`%s`", key);
  for (const char *line = sec; line != NULL && *line; line = strchr(line, '\n')) {
    if (*line == '\n')
      line++;
    if (strncmp(line, "| `", 3) != 0)
      continue;
    const char *cell_end = strchr(line + 1, '|');
    const char *hit = strstr(line, want);
    if (hit != NULL && cell_end != NULL && hit < cell_end)
      return line;
  }
  return NULL;
}

/* Every key of the table has a row in docs/configuration.md, in its section,
 * whose default (where the docs give one) starts with the table's; and every
 * key the docs list in those sections is in the table. */
static void test_the_docs_list_every_key_with_its_default(void **state) {
  (void)state;
  uint8_t *text;
  size_t len;
  FILE *f = fopen(CG_TEST_VECTORS "/../../docs/configuration.md", "r");
  assert_non_null(f);
  text = malloc(1 << 20);
  len = fread(text, 1, (1 << 20) - 1, f);
  fclose(f);
  text[len] = 0;
  const char *docs = (const char *)text;
  static const char *const sections[] = {"server", "store",  "ra",     "secrets",
                                         "pkcs11", "log",    "profile"};
  for (size_t s = 0; s < 7; s++) {
    char *sec = docs_section(docs, sections[s]);
    bool has_defaults = strstr(sec, "| key | default | meaning |") != NULL;
    size_t in_table = 0;
    for (size_t i = 0; cg_config_key_at(i) != NULL; i++) {
      const struct cg_config_key *k = cg_config_key_at(i);
      if (strcmp(k->section, sections[s]) != 0)
        continue;
      in_table++;
      const char *row = docs_row(sec, k->name);
      if (row == NULL)
        fail_msg("docs/configuration.md, [%s]: no row for %s", sections[s], k->name);
      if (!has_defaults || k->def == NULL)
        continue;
      /* the second cell, backticks left out */
      const char *cell = strchr(row + 1, '|') + 1;
      char got[128];
      size_t n = 0;
      for (const char *q = cell; *q && *q != '|' && n < sizeof got - 1; q++)
        if (*q != '`' && !(n == 0 && *q == ' '))
          got[n++] = *q;
      got[n] = 0;
      if (strncmp(got, k->def, strlen(k->def)) != 0)
        fail_msg("docs/configuration.md, [%s] %s: default \"%s\", the table says \"%s\"",
                 sections[s], k->name, got, k->def);
    }
    /* and no row the table does not know */
    size_t rows = 0;
    for (const char *line = sec; (line = strstr(line, "\n| `")) != NULL; line++) {
      char name[64];
      if (sscanf(line, "\n| `%63[a-z0-9_]`", name) != 1)
        continue;
      rows++;
      bool known = false;
      for (size_t i = 0; cg_config_key_at(i) != NULL && !known; i++)
        known = !strcmp(cg_config_key_at(i)->section, sections[s]) &&
                !strcmp(cg_config_key_at(i)->name, name);
      if (!known)
        fail_msg("docs/configuration.md, [%s]: %s is not in the table of keys", sections[s],
                 name);
    }
    assert_int_equal(rows, in_table);
    free(sec);
  }
  free(text);
}

/* Every default of the table is a value its own parser takes: a file that
 * sets every key to its default loads, and gives what no file gives. */
static void test_every_default_parses(void **state) {
  (void)state;
  char text[16384];
  size_t n = 0;
  static const char *const sections[] = {"server", "store", "ra", "secrets", "log", "profile p"};
  for (size_t s = 0; s < 6; s++) {
    n += (size_t)snprintf(text + n, sizeof text - n, "[%s]\n", sections[s]);
    for (size_t i = 0; cg_config_key_at(i) != NULL; i++) {
      const struct cg_config_key *k = cg_config_key_at(i);
      if (k->def != NULL && !strncmp(sections[s], k->section, strlen(k->section)))
        n += (size_t)snprintf(text + n, sizeof text - n, "%s = %s\n", k->name, k->def);
    }
  }
  n += (size_t)snprintf(text + n, sizeof text - n, "[backend local]\ntype = local\n");
  struct cg_config a, b;
  tu_capture_stderr();
  int err = cg_config_parse("defaults.conf", text, n, &a);
  const char *log = tu_captured_stderr();
  if (err != 0)
    fail_msg("the defaults do not load: %s", log);
  static const char empty[] = "[profile p]\nbackend = local\n[backend local]\ntype = local\n";
  assert_int_equal(cg_config_parse("empty.conf", empty, sizeof empty - 1, &b), 0);
  assert_int_equal(a.max_message, b.max_message);
  assert_int_equal(a.max_buffered, b.max_buffered);
  assert_int_equal(a.compute, b.compute);
  assert_string_equal(a.http, b.http);
  assert_int_equal(a.profiles[0].san_types, b.profiles[0].san_types);
  assert_int_equal(a.profiles[0].pending_lifetime, b.profiles[0].pending_lifetime);
  assert_true(a.profiles[0].allow_mac && a.profiles[0].allow_sig);
}

/* The example configuration `cmake --install` puts in /etc/cmpgw loads. */
static void test_the_installed_example_loads(void **state) {
  (void)state;
  static struct cg_config cfg;
  tu_capture_stderr();
  int err = cg_config_load(CG_TEST_VECTORS "/../../packaging/cmpgw.conf.example", &cfg);
  const char *log = tu_captured_stderr();
  if (err != 0)
    fail_msg("packaging/cmpgw.conf.example does not load: %s", log);
  assert_int_equal(cfg.n_profiles, 1);
  assert_string_equal(cfg.database, "/var/lib/cmpgw/cmpgw.db");
}

/* The values in force as the console's configuration page shows them:
 * what the file set, defaults for the rest, secrets left out. */
static char described[8192];
static void describe_one(void *arg, const char *key, const char *value) {
  (void)arg;
  size_t n = strlen(described);
  snprintf(described + n, sizeof described - n, "%s=%s\n", key, value);
}

static void test_describe_gives_values_in_force_without_secrets(void **state) {
  (void)state;
  struct cg_config *cfg = malloc(sizeof *cfg);
  assert_non_null(cfg);
  static const char text[] = "[backend local]\ntype = local\n"
                             "[server]\nhttp = 127.0.0.1:18080\nmax_connections = 77\n"
                             "[store]\nurl = postgresql://u:pw@db/cmpgw\n"
                             "[profile p]\napproval = manual\nchallenge = fixed\n"
                             "challenge_value = hunter22\nkey_types = p256, rsa\n"
                             "protection = mac\n";
  assert_int_equal(cg_config_parse("/etc/cmpgw.conf", text, sizeof text - 1, cfg), 0);
  described[0] = 0;
  cg_config_describe(cfg, NULL, "server", describe_one, NULL);
  assert_non_null(strstr(described, "http=127.0.0.1:18080\n"));
  assert_non_null(strstr(described, "max_connections=77\n"));
  assert_non_null(strstr(described, "coap_echo=yes\n"));
  described[0] = 0;
  cg_config_describe(cfg, NULL, "store", describe_one, NULL);
  assert_non_null(strstr(described, "url=(set)\n"));
  assert_null(strstr(described, "pw@"));
  described[0] = 0;
  const struct cg_config_profile *p = cg_config_profile(cfg, "p");
  assert_non_null(p);
  cg_config_describe(cfg, p, "profile", describe_one, NULL);
  assert_non_null(strstr(described, "approval=manual\n"));
  assert_non_null(strstr(described, "challenge=fixed\n"));
  assert_non_null(strstr(described, "challenge_value=(set)\n"));
  assert_null(strstr(described, "hunter22"));
  assert_non_null(strstr(described, "key_types=rsa, p256\n"));
  assert_non_null(strstr(described, "protection=mac\n"));
  free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_installed_example_loads),
      cmocka_unit_test_setup_teardown(test_a_profile_names_only_what_differs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unworkable_configurations_are_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_compute_takes_three_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_commit_interval_is_microseconds_up_to_100ms, setup,
                                      teardown),
      cmocka_unit_test(test_a_refusal_names_the_line_the_key_and_what_is_wrong),
      cmocka_unit_test(test_a_line_that_is_not_a_setting_says_why),
      cmocka_unit_test(test_a_key_or_a_section_written_twice_is_refused),
      cmocka_unit_test(test_checks_after_reading_name_the_line),
      cmocka_unit_test(test_lines_read_as_written),
      cmocka_unit_test_setup_teardown(test_a_file_that_cannot_be_read_says_why, setup, teardown),
      cmocka_unit_test(test_the_sample_configurations_load),
      cmocka_unit_test(test_the_docs_list_every_key_with_its_default),
      cmocka_unit_test(test_every_default_parses),
      cmocka_unit_test(test_describe_gives_values_in_force_without_secrets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
