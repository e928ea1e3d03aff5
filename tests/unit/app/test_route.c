/*
 * test_route.c - request paths to profiles (app/route.c): the well-known
 * path, /p/<profile>, the RFC 9483 §6.1 operation labels and what each lets
 * through, aliases, and every path that reaches nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "app/route.h"
#include "cmp/msg.h"

static struct cg_config cfg;

static int setup(void **state) {
  (void)state;
  memset(&cfg, 0, sizeof cfg);
  strcpy(cfg.profiles[0].name, "default");
  strcpy(cfg.profiles[1].name, "fleet");
  strcpy(cfg.profiles[1].aliases, "/legacy/cmp, /est/");
  strcpy(cfg.profiles[2].name, "ra");
  cfg.n_profiles = 3;
  return 0;
}

static int route(const char *path, uint32_t *bodies) { return app_route(&cfg, path, bodies); }

static void test_the_well_known_path_is_the_default_profile(void **state) {
  (void)state;
  uint32_t b;
  assert_int_equal(route("/.well-known/cmp", &b), 0);
  assert_int_equal(b, APP_ROUTE_ALL_BODIES);
  assert_int_equal(route("/.well-known/cmp/", &b), 0);
}

static void test_p_names_a_profile(void **state) {
  (void)state;
  uint32_t b;
  assert_int_equal(route("/.well-known/cmp/p/fleet", &b), 1);
  assert_int_equal(b, APP_ROUTE_ALL_BODIES);
  assert_int_equal(route("/.well-known/cmp/p/ra/", &b), 2);
  assert_int_equal(route("/.well-known/cmp/p/nosuch", &b), -1);
  assert_int_equal(route("/.well-known/cmp/p/", &b), -1);
  assert_int_equal(route("/.well-known/cmp/p//", &b), -1);
}

/* An operation label lets through only its request types. */
static void test_operation_labels_restrict_the_request_types(void **state) {
  (void)state;
  static const struct {
    const char *label;
    uint32_t bodies;
  } labels[] = {
      {"initialization", 1u << CMP_IR}, {"certification", 1u << CMP_CR},
      {"keyupdate", 1u << CMP_KUR},     {"pkcs10", 1u << CMP_P10CR},
      {"p10", 1u << CMP_P10CR},         {"revocation", 1u << CMP_RR},
      {"getcacerts", 1u << CMP_GENM},   {"getrootupdate", 1u << CMP_GENM},
      {"getcrls", 1u << CMP_GENM},      {"getcertreqtemplate", 1u << CMP_GENM},
      {"nested", 1u << CMP_NESTED},
  };
  char path[128];
  for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
    uint32_t b;
    snprintf(path, sizeof path, "/.well-known/cmp/p/fleet/%s", labels[i].label);
    assert_int_equal(route(path, &b), 1);
    assert_int_equal(b, labels[i].bodies);
    snprintf(path, sizeof path, "/.well-known/cmp/p/fleet/%s/", labels[i].label);
    assert_int_equal(route(path, &b), 1);
  }
  uint32_t b;
  assert_int_equal(route("/.well-known/cmp/p/fleet/enroll", &b), -1);
  assert_int_equal(route("/.well-known/cmp/p/fleet/initialization/x", &b), -1);
}

/* Aliases name a profile, a trailing '/' on either side not counting. */
static void test_aliases_reach_their_profile(void **state) {
  (void)state;
  uint32_t b;
  assert_int_equal(route("/legacy/cmp", &b), 1);
  assert_int_equal(route("/legacy/cmp/", &b), 1);
  assert_int_equal(route("/est", &b), 1);
  assert_int_equal(b, APP_ROUTE_ALL_BODIES);
  assert_int_equal(route("/legacy", &b), -1);
  assert_int_equal(route("/legacy/cmp/x", &b), -1);
}

static void test_other_paths_reach_nothing(void **state) {
  (void)state;
  uint32_t b;
  assert_int_equal(route("/", &b), -1);
  assert_int_equal(route("/.well-known/cmpx", &b), -1);
  assert_int_equal(route("/.well-known/est", &b), -1);
  assert_int_equal(route("", &b), -1);
}

/* Without a profile named default, the well-known path reaches nothing. */
static void test_no_default_profile_no_well_known_path(void **state) {
  (void)state;
  uint32_t b;
  strcpy(cfg.profiles[0].name, "other");
  assert_int_equal(route("/.well-known/cmp", &b), -1);
  assert_int_equal(route("/.well-known/cmp/p/other", &b), 0);
  strcpy(cfg.profiles[0].name, "default");
}

/* The 404 text lists the valid paths and operations. */
static void test_the_help_lists_what_is_valid(void **state) {
  (void)state;
  char text[2048];
  app_route_help(&cfg, "/x", text, sizeof text);
  assert_non_null(strstr(text, "no CMP endpoint at /x"));
  assert_non_null(strstr(text, "/.well-known/cmp/p/fleet[/OPERATION]"));
  assert_non_null(strstr(text, "/legacy/cmp, /est/"));
  assert_non_null(strstr(text, "OPERATION: initialization certification keyupdate pkcs10 "
                               "revocation getcacerts getrootupdate getcertreqtemplate getcrls "
                               "nested\n"));
  char small[40];
  app_route_help(&cfg, "/x", small, sizeof small); /* cut, still terminated */
  assert_true(strlen(small) < sizeof small);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_well_known_path_is_the_default_profile),
      cmocka_unit_test(test_p_names_a_profile),
      cmocka_unit_test(test_operation_labels_restrict_the_request_types),
      cmocka_unit_test(test_aliases_reach_their_profile),
      cmocka_unit_test(test_other_paths_reach_nothing),
      cmocka_unit_test(test_no_default_profile_no_well_known_path),
      cmocka_unit_test(test_the_help_lists_what_is_valid),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
