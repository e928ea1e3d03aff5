/*
 * work.c - a thin wrapper over uv_queue_work so that every off-loop job has
 * the same shape (run on a worker, done on the loop), or, in inline mode,
 * both at once on the loop.
 */
#define _GNU_SOURCE /* SCHED_BATCH */
#include "core/work.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>

void cg_thread_batch(void) {
  static _Thread_local bool done;
  if (done)
    return;
  struct sched_param none = {0};
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &none); /* best effort */
  done = true;
}

static void on_work(uv_work_t *req) {
  cg_thread_batch(); /* the pool's threads are libuv's: set on their first job */
  struct cg_work *w = (struct cg_work *)req->data;
  w->run(w);
}

/* Jobs queued on the pool and ended (the loop thread's; for metrics). */
static uint64_t queued, ended;

static void on_after_work(uv_work_t *req, int status) {
  struct cg_work *w = (struct cg_work *)req->data;
  ended++;
  w->done(w, status);
}

void cg_work_counts(uint64_t *submitted, uint64_t *completed) {
  *submitted = queued;
  *completed = ended;
}

static bool run_inline;

void cg_work_set_inline(bool on) { run_inline = on; }

int cg_work_usable_cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return 0;
  return CPU_COUNT(&set);
}

int cg_work_submit_pool(uv_loop_t *loop, struct cg_work *w) {
  w->req.data = w;
  int r = uv_queue_work(loop, &w->req, on_work, on_after_work);
  if (r == 0)
    queued++;
  return r;
}

int cg_work_submit(uv_loop_t *loop, struct cg_work *w) {
  if (!run_inline)
    return cg_work_submit_pool(loop, w);
  w->run(w);
  w->done(w, 0);
  return 0;
}
