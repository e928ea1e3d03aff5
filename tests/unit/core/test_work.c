/*
 * test_work.c - off-loop jobs (core/work.h) on a real libuv loop: a job
 * runs on a pool thread and its done callback on the loop thread, once
 * each; in inline mode both run before cg_work_submit() returns, on the
 * caller's thread, while cg_work_submit_pool() still goes to the pool; a
 * job cancelled while queued gets done with UV_ECANCELED and never runs,
 * one already running cannot be cancelled and completes.
 *
 * The pool has one thread (UV_THREADPOOL_SIZE, set before the first job),
 * so a job that blocks it keeps the next ones queued for as long as the
 * test needs.  Nothing waits on time: a thread waits for a condition with
 * a generous bound, and a guard timer fails a run that never ends.  Every
 * test ends with uv_loop_close() == 0.
 */
#define _GNU_SOURCE /* SCHED_BATCH */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "core/work.h"

#define GUARD_MS 30000
#define N_JOBS 100

struct job {
  struct cg_work w;
  struct run *r;
  int runs, dones, status;
  pthread_t run_thread, done_thread;
  bool ran_before_done;
  int policy; /* of the thread that ran it */
  struct job *then; /* submitted from this job's done */
};

struct run {
  uv_loop_t loop;
  uv_timer_t guard;
  int expected, dones;
  /* a job that holds the pool's thread until released */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool release, blocking;
};

static void on_guard(uv_timer_t *t) {
  (void)t;
  fail_msg("the jobs did not complete within %d ms", GUARD_MS);
}

static void run_init(struct run *r, int expected) {
  memset(r, 0, sizeof *r);
  assert_int_equal(uv_loop_init(&r->loop), 0);
  uv_timer_init(&r->loop, &r->guard);
  uv_timer_start(&r->guard, on_guard, GUARD_MS, 0);
  r->expected = expected;
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
}

static void run_loop(struct run *r) {
  uv_run(&r->loop, UV_RUN_DEFAULT);
  assert_int_equal(r->dones, r->expected);
  assert_int_equal(uv_loop_close(&r->loop), 0);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
}

static void job_run(struct cg_work *w) {
  struct job *j = w->arg;
  int policy;
  struct sched_param sp;
  j->runs++;
  j->run_thread = pthread_self();
  j->policy = pthread_getschedparam(pthread_self(), &policy, &sp) == 0 ? policy : -1;
}

static void job_done(struct cg_work *w, int status) {
  struct job *j = w->arg;
  j->dones++;
  j->status = status;
  j->done_thread = pthread_self();
  j->ran_before_done = j->runs == 1;
  if (j->then != NULL)
    assert_int_equal(cg_work_submit(&j->r->loop, &j->then->w), 0);
  if (++j->r->dones == j->r->expected)
    uv_close((uv_handle_t *)&j->r->guard, NULL);
}

static void job_init(struct job *j, struct run *r) {
  memset(j, 0, sizeof *j);
  j->r = r;
  j->w.run = job_run;
  j->w.done = job_done;
  j->w.arg = j;
  j->status = -1;
}

/* Holds the pool's only thread until the test releases it. */
static void block_run(struct cg_work *w) {
  struct job *j = w->arg;
  struct run *r = j->r;
  job_run(w);
  pthread_mutex_lock(&r->mu);
  r->blocking = true;
  pthread_cond_broadcast(&r->cv);
  while (!r->release)
    pthread_cond_wait(&r->cv, &r->mu);
  pthread_mutex_unlock(&r->mu);
}

static void release(struct run *r) {
  pthread_mutex_lock(&r->mu);
  r->release = true;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

/* Waits (bounded) until the blocking job holds the pool's thread. */
static void wait_until_blocking(struct run *r) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += GUARD_MS / 1000;
  pthread_mutex_lock(&r->mu);
  int rc = 0;
  while (!r->blocking && rc == 0)
    rc = pthread_cond_timedwait(&r->cv, &r->mu, &until);
  bool blocking = r->blocking;
  pthread_mutex_unlock(&r->mu);
  assert_true(blocking);
}

/* ---- the cases ------------------------------------------------------------- */

static void test_a_job_runs_on_a_worker_and_its_done_on_the_loop_thread(void **state) {
  (void)state;
  struct run r;
  struct job j;
  run_init(&r, 1);
  job_init(&j, &r);
  assert_int_equal(cg_work_submit(&r.loop, &j.w), 0);
  assert_int_equal(j.dones, 0); /* not before the loop runs */
  run_loop(&r);
  assert_int_equal(j.runs, 1);
  assert_int_equal(j.dones, 1);
  assert_int_equal(j.status, 0);
  assert_true(j.ran_before_done);
  assert_false(pthread_equal(j.run_thread, pthread_self()));
  assert_true(pthread_equal(j.done_thread, pthread_self()));
}

static void test_many_jobs_each_run_and_complete_once(void **state) {
  (void)state;
  struct run r;
  struct job *j = calloc(N_JOBS, sizeof *j);
  assert_non_null(j);
  run_init(&r, N_JOBS);
  for (int i = 0; i < N_JOBS; i++) {
    job_init(&j[i], &r);
    assert_int_equal(cg_work_submit(&r.loop, &j[i].w), 0);
  }
  run_loop(&r);
  for (int i = 0; i < N_JOBS; i++) {
    assert_int_equal(j[i].runs, 1);
    assert_int_equal(j[i].dones, 1);
    assert_int_equal(j[i].status, 0);
    assert_true(j[i].ran_before_done);
  }
  free(j);
}

/* The engine's pattern: a step's done submits the next step. */
static void test_a_done_callback_may_submit_the_next_job(void **state) {
  (void)state;
  struct run r;
  struct job a, b, c;
  run_init(&r, 3);
  job_init(&a, &r);
  job_init(&b, &r);
  job_init(&c, &r);
  a.then = &b;
  b.then = &c;
  assert_int_equal(cg_work_submit(&r.loop, &a.w), 0);
  run_loop(&r);
  assert_int_equal(c.runs, 1);
  assert_int_equal(c.dones, 1);
  assert_int_equal(c.status, 0);
}

static void test_inline_mode_runs_the_job_and_its_done_before_submit_returns(void **state) {
  (void)state;
  struct run r;
  struct job j;
  run_init(&r, 1);
  job_init(&j, &r);
  cg_work_set_inline(true);
  int err = cg_work_submit(&r.loop, &j.w);
  cg_work_set_inline(false);
  assert_int_equal(err, 0);
  assert_int_equal(j.runs, 1);
  assert_int_equal(j.dones, 1);
  assert_int_equal(j.status, 0);
  assert_true(j.ran_before_done);
  assert_true(pthread_equal(j.run_thread, pthread_self()));
  assert_true(pthread_equal(j.done_thread, pthread_self()));
  run_loop(&r); /* nothing left but the guard, closed already */
}

static void test_submit_pool_goes_to_the_pool_even_in_inline_mode(void **state) {
  (void)state;
  struct run r;
  struct job heavy, light;
  run_init(&r, 2);
  job_init(&heavy, &r);
  job_init(&light, &r);
  cg_work_set_inline(true);
  assert_int_equal(cg_work_submit_pool(&r.loop, &heavy.w), 0);
  assert_int_equal(cg_work_submit(&r.loop, &light.w), 0);
  cg_work_set_inline(false);
  assert_int_equal(light.dones, 1); /* inline: done already */
  assert_int_equal(heavy.dones, 0); /* the pool's: on the loop, later */
  run_loop(&r);
  assert_int_equal(heavy.runs, 1);
  assert_int_equal(heavy.dones, 1);
  assert_int_equal(heavy.status, 0);
  assert_false(pthread_equal(heavy.run_thread, pthread_self()));
  assert_true(pthread_equal(heavy.done_thread, pthread_self()));
}

/* A job still queued (the pool's thread is held by another) is cancelled:
 * done comes with UV_ECANCELED, run never comes. */
static void test_a_queued_job_cancelled_gets_ecanceled_and_never_runs(void **state) {
  (void)state;
  struct run r;
  struct job blocker, queued;
  run_init(&r, 2);
  job_init(&blocker, &r);
  job_init(&queued, &r);
  blocker.w.run = block_run;
  assert_int_equal(cg_work_submit(&r.loop, &blocker.w), 0);
  assert_int_equal(cg_work_submit(&r.loop, &queued.w), 0);
  wait_until_blocking(&r);
  assert_int_equal(uv_cancel((uv_req_t *)&queued.w.req), 0);
  release(&r);
  run_loop(&r);
  assert_int_equal(queued.runs, 0);
  assert_int_equal(queued.dones, 1);
  assert_int_equal(queued.status, UV_ECANCELED);
  assert_int_equal(blocker.dones, 1);
  assert_int_equal(blocker.status, 0);
}

/* A job that has started cannot be cancelled: it completes as usual. */
static void test_a_running_job_cannot_be_cancelled_and_completes(void **state) {
  (void)state;
  struct run r;
  struct job blocker;
  run_init(&r, 1);
  job_init(&blocker, &r);
  blocker.w.run = block_run;
  assert_int_equal(cg_work_submit(&r.loop, &blocker.w), 0);
  wait_until_blocking(&r);
  assert_int_equal(uv_cancel((uv_req_t *)&blocker.w.req), UV_EBUSY);
  release(&r);
  run_loop(&r);
  assert_int_equal(blocker.runs, 1);
  assert_int_equal(blocker.dones, 1);
  assert_int_equal(blocker.status, 0);
}

/* The pool's threads ask for SCHED_BATCH; where the system grants it to
 * any thread (it needs no privilege on Linux), they have it. */
static void *probe_batch(void *arg) {
  struct sched_param none = {0};
  *(bool *)arg = pthread_setschedparam(pthread_self(), SCHED_BATCH, &none) == 0;
  return NULL;
}

static void test_pool_threads_run_as_batch_work_where_the_system_allows(void **state) {
  (void)state;
  bool allowed = false;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, probe_batch, &allowed), 0);
  pthread_join(th, NULL);
  struct run r;
  struct job j;
  run_init(&r, 1);
  job_init(&j, &r);
  assert_int_equal(cg_work_submit(&r.loop, &j.w), 0);
  run_loop(&r);
  /* The loop thread stays as it was. */
  int policy;
  struct sched_param sp;
  assert_int_equal(pthread_getschedparam(pthread_self(), &policy, &sp), 0);
  assert_int_not_equal(policy, SCHED_BATCH);
  if (!allowed)
    skip();
  assert_int_equal(j.policy, SCHED_BATCH);
}

static void test_usable_cpus_counts_at_least_this_one(void **state) {
  (void)state;
  int n = cg_work_usable_cpus();
  assert_true(n >= 1);
  cpu_set_t set;
  assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
  assert_int_equal(n, CPU_COUNT(&set));
}

int main(void) {
  /* One pool thread, before the pool starts with the first job. */
  setenv("UV_THREADPOOL_SIZE", "1", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_job_runs_on_a_worker_and_its_done_on_the_loop_thread),
      cmocka_unit_test(test_many_jobs_each_run_and_complete_once),
      cmocka_unit_test(test_a_done_callback_may_submit_the_next_job),
      cmocka_unit_test(test_inline_mode_runs_the_job_and_its_done_before_submit_returns),
      cmocka_unit_test(test_submit_pool_goes_to_the_pool_even_in_inline_mode),
      cmocka_unit_test(test_a_queued_job_cancelled_gets_ecanceled_and_never_runs),
      cmocka_unit_test(test_a_running_job_cannot_be_cancelled_and_completes),
      cmocka_unit_test(test_pool_threads_run_as_batch_work_where_the_system_allows),
      cmocka_unit_test(test_usable_cpus_counts_at_least_this_one),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
