/*
 * async.c - the asynchronous side of the store: the store thread, the queue
 * it takes its work from, and the completion of operations on the loop.
 *
 * The loop thread collects the operations submitted during one loop iteration
 * and, just before the loop would wait for I/O again (a prepare handle),
 * appends them to a mutex-protected queue and signals a condition variable
 * once: the thread gets them as one batch, and is not woken (on a busy core:
 * switched to) once per operation.  The store thread sleeps until the queue is non-empty,
 * takes all of it as one group, runs the group (store_run_group(), one
 * transaction, one commit), appends it to the done list and wakes the loop with
 * uv_async_send(); the async callback takes the done list and calls each
 * operation's callback in queue order.  uv_async_send() coalesces wake-ups,
 * which is why the done list, not the wake-up, carries the work.
 *
 * Stopping sets `quit`: the thread drains what is queued, marks itself done and
 * sends one last wake-up; the async callback then runs the last callbacks,
 * joins the thread (which has already returned) and closes the handle, whose
 * close callback calls on_stopped.
 */
#include "store/store.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/log.h"
#include "core/work.h"
#include "store/internal.h"

static void store_thread(void *arg) {
  struct cg_store *st = arg;
  uv_async_t *wake = &st->box->handle;
  cg_thread_batch();
  for (;;) {
    uv_mutex_lock(&st->mu);
    while (st->queue == NULL && !st->quit)
      uv_cond_wait(&st->cv, &st->mu);
    struct cg_store_op *group = st->queue;
    st->queue = NULL;
    st->queue_tail = &st->queue;
    uv_mutex_unlock(&st->mu);
    if (group == NULL)
      break; /* quit, and nothing left to drain */

    store_run_group(st, group);

    struct cg_store_op *last = group;
    while (last->next != NULL)
      last = last->next;
    uv_mutex_lock(&st->mu);
    *st->done_tail = group;
    st->done_tail = &last->next;
    uv_mutex_unlock(&st->mu);
    uv_async_send(wake);
  }
  uv_mutex_lock(&st->mu);
  st->thread_done = true;
  uv_mutex_unlock(&st->mu);
  uv_async_send(wake);
}

static void run_callbacks(struct cg_store_op *op) {
  while (op != NULL) {
    /* The callback may reuse or free op: read the link first. */
    struct cg_store_op *next = op->next;
    op->next = NULL;
    op->cb(op);
    op = next;
  }
}

/* Takes the done list; *finished tells whether the thread has left (the list
 * is then the last one it will produce). */
static struct cg_store_op *take_done(struct cg_store *st, bool *finished) {
  uv_mutex_lock(&st->mu);
  struct cg_store_op *done = st->done;
  st->done = NULL;
  st->done_tail = &st->done;
  *finished = st->thread_done;
  uv_mutex_unlock(&st->mu);
  return done;
}

static void on_box_closed(uv_handle_t *h) {
  struct async_box *box = h->data;
  if (--box->open > 0)
    return;
  void (*on_stopped)(void *) = box->on_stopped;
  void *arg = box->stopped_arg;
  free(box);
  if (on_stopped != NULL)
    on_stopped(arg);
}

static void join_thread(struct cg_store *st) {
  uv_thread_join(&st->thread);
  st->thread_running = false;
}

static void release_box(struct cg_store *st) {
  struct async_box *box = st->box;
  st->box = NULL;
  box->st = NULL;
  uv_close((uv_handle_t *)&box->flush, on_box_closed);
  uv_close((uv_handle_t *)&box->handle, on_box_closed);
}

/* Hands what was submitted since the last hand-over to the store thread. */
static void hand_over(struct cg_store *st) {
  if (st->pending == NULL)
    return;
  uv_mutex_lock(&st->mu);
  *st->queue_tail = st->pending;
  st->queue_tail = st->pending_tail;
  uv_mutex_unlock(&st->mu);
  /* Signalled after the unlock: a thread woken on this core would otherwise
   * run only to wait for the mutex still held here. */
  uv_cond_signal(&st->cv);
  st->pending = NULL;
  st->pending_tail = &st->pending;
}

static void on_flush(uv_prepare_t *h) {
  struct async_box *box = h->data;
  if (box->st != NULL)
    hand_over(box->st);
  uv_prepare_stop(h);
}

static void on_wake(uv_async_t *h) {
  struct async_box *box = (struct async_box *)h;
  struct cg_store *st = box->st;
  if (st == NULL)
    return;
  bool finished;
  struct cg_store_op *done = take_done(st, &finished);
  run_callbacks(done);
  if (finished && st->thread_running) {
    /* The thread has left its loop: the join does not wait. */
    join_thread(st);
    release_box(st);
  }
}

void store_thread_halt(struct cg_store *st) {
  st->stopping = true;
  hand_over(st);
  if (st->thread_running) {
    uv_mutex_lock(&st->mu);
    st->quit = true;
    uv_cond_signal(&st->cv);
    uv_mutex_unlock(&st->mu);
    join_thread(st);
  }
  if (st->box != NULL) {
    bool finished;
    run_callbacks(take_done(st, &finished));
    release_box(st);
  }
}

int cg_store_start(struct cg_store *st, uv_loop_t *loop) {
  if (st->thread_running || st->box != NULL)
    return CG_EBUSY;
  struct async_box *box = calloc(1, sizeof *box);
  if (box == NULL)
    return CG_ENOMEM;
  if (uv_async_init(loop, &box->handle, on_wake) != 0) {
    free(box);
    return CG_ESTORE;
  }
  uv_prepare_init(loop, &box->flush);
  box->handle.data = box->flush.data = box;
  box->open = 2;
  box->st = st;
  st->pending = NULL;
  st->pending_tail = &st->pending;
  st->box = box;
  st->stopping = false;
  st->quit = false;
  st->thread_done = false;
  if (uv_thread_create(&st->thread, store_thread, st) != 0) {
    cg_error("store: cannot create the store thread");
    release_box(st);
    return CG_ESTORE;
  }
  st->thread_running = true;
  return 0;
}

int cg_store_submit(struct cg_store *st, struct cg_store_op *op) {
  if (op->cb == NULL)
    return CG_EINVAL;
  if (st->stopping || !st->thread_running)
    return CG_EBUSY;
  op->next = NULL;
  if (st->pending == NULL)
    uv_prepare_start(&st->box->flush, on_flush);
  *st->pending_tail = op;
  st->pending_tail = &op->next;
  return 0;
}

void cg_store_stop(struct cg_store *st, void (*on_stopped)(void *arg), void *arg) {
  if (st->box == NULL) {
    /* Never started, or already closed: there is nothing to wait for. */
    if (on_stopped != NULL)
      on_stopped(arg);
    return;
  }
  if (st->stopping)
    return; /* a stop is under way; its on_stopped will run */
  st->stopping = true;
  st->box->on_stopped = on_stopped;
  st->box->stopped_arg = arg;
  hand_over(st);
  uv_mutex_lock(&st->mu);
  st->quit = true;
  uv_cond_signal(&st->cv);
  uv_mutex_unlock(&st->mu);
}

void cg_store_stats(const struct cg_store *st, uint64_t *ops, uint64_t *commits) {
  *ops = atomic_load(&st->ops);
  *commits = atomic_load(&st->commits);
}

