/*
 * work.c - a thin wrapper over uv_queue_work so that every off-loop job has
 * the same shape (run on a worker, done on the loop).
 */
#include "core/work.h"

static void on_work(uv_work_t *req) {
  struct cg_work *w = (struct cg_work *)req->data;
  w->run(w);
}

static void on_after_work(uv_work_t *req, int status) {
  struct cg_work *w = (struct cg_work *)req->data;
  w->done(w, status);
}

int cg_work_submit(uv_loop_t *loop, struct cg_work *w) {
  w->req.data = w;
  return uv_queue_work(loop, &w->req, on_work, on_after_work);
}
