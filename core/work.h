/*
 * work.h - running CPU-bound jobs (signatures, MAC key derivation,
 * certificate signing) on the libuv threadpool, completing on the loop.
 * The job struct is embedded by the caller and must stay alive until done runs.
 */
#ifndef CG_CORE_WORK_H
#define CG_CORE_WORK_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct cg_work {
  uv_work_t req;
  void (*run)(struct cg_work *w);              /* on a worker thread */
  void (*done)(struct cg_work *w, int status); /* on the loop; status 0 or UV_ECANCELED */
  void *arg;
};

/* Marks the calling thread as throughput work (SCHED_BATCH, which any
 * process may choose): woken, it does not preempt the loop thread on its
 * core, so the loop finishes its iteration (and hands over everything it
 * gathered) before the helper runs.  Without it, on a busy core each hand-off
 * cost two context switches at once.  The threadpool's threads and the store
 * thread call it; the loop stays SCHED_OTHER. */
void cg_thread_batch(void);

/* Queues w->run on the threadpool; w->done runs on the loop afterwards.
 * 0 or a negative libuv error (done is then not called).  In inline mode
 * (cg_work_set_inline()) run and done are called before it returns. */
int cg_work_submit(uv_loop_t *loop, struct cg_work *w);

/* Inline mode: jobs run on the calling (loop) thread.  On a single CPU the
 * threadpool cannot run anything beside the loop; a hand-over there only
 * costs two thread switches each way.  Loop thread, before any submit. */
void cg_work_set_inline(bool on);
/* Queues w on the threadpool even in inline mode: a job that would hold the
 * loop too long.  As cg_work_submit() otherwise. */
int cg_work_submit_pool(uv_loop_t *loop, struct cg_work *w);
/* Jobs queued on the threadpool since start, and those that ended (both
 * counted on the loop thread; the difference is the pool's queue and what
 * runs).  Loop thread. */
void cg_work_counts(uint64_t *submitted, uint64_t *completed);
/* The CPUs this process may run on (its affinity mask); 0 if unknown. */
int cg_work_usable_cpus(void);

#endif
