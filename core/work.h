/*
 * work.h - running CPU-bound jobs (signatures, MAC key derivation,
 * certificate signing) on the libuv threadpool, completing on the loop.
 * The job struct is embedded by the caller and must stay alive until done runs.
 */
#ifndef CG_CORE_WORK_H
#define CG_CORE_WORK_H

#include <uv.h>

struct cg_work {
  uv_work_t req;
  void (*run)(struct cg_work *w);              /* on a worker thread */
  void (*done)(struct cg_work *w, int status); /* on the loop; status 0 or UV_ECANCELED */
  void *arg;
};

/* Queues w->run on the threadpool; w->done runs on the loop afterwards.
 * 0 or a negative libuv error (done is then not called). */
int cg_work_submit(uv_loop_t *loop, struct cg_work *w);

#endif
