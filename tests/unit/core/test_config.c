/*
 * test_config.c - core/config.c: a profile section names only what differs
 * from the defaults, the delayed-delivery keys parse with their bounds, and a
 * configuration that cannot work is refused at load with the reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_a_profile_names_only_what_differs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unworkable_configurations_are_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_compute_takes_three_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_commit_interval_is_microseconds_up_to_100ms, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
