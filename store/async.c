/*
 * async.c - the asynchronous side of the store: the store thread, the queue
 * it takes its work from, and the completion of operations on the loop.
 *
 * The loop thread collects the operations submitted during one loop iteration
 * and, just before the loop would wait for I/O again (a prepare handle),
 * appends them to a mutex-protected queue and signals a condition variable
 * once: the thread gets them as one batch, and is not woken (on a busy core:
 * switched to) once per operation.  The store thread sleeps until the queue is non-empty,
 * takes all of it as one group, runs the group (cg_store_run_group(), one
 * transaction, one commit), appends it to the done list and wakes the loop with
 * uv_async_send(); the async callback takes the done list and calls each
 * operation's callback in queue order.  uv_async_send() coalesces wake-ups,
 * which is why the done list, not the wake-up, carries the work.
 *
 * Group commit pacing (cg_store_set_commit_interval()): a commit costs about
 * the same CPU (WAL frames, fdatasync, the block layer) whether it carries one
 * write or fifty, and a thread that commits as soon as it is free commits
 * about once per write when the writes come one by one.  With an interval
 * set, a write group that finds the previous one began less than an interval
 * ago waits, collecting what arrives, until the interval has passed, GROUP_FULL
 * operations are queued, or the store stops.  Writes that come further apart
 * than the interval never wait.  While the thread waits, a hand-over wakes it
 * only to say the group is full, so the pacing itself costs no switches.  A
 * lone client's writes would only wait for themselves (each needs the answer
 * to the one before): struct pacer stops waiting when waits gather nothing.
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

/* Operations queued at which a paced group is committed at once. */
#define GROUP_FULL 512

static bool has_write(const struct cg_store_op *op) {
  for (; op != NULL; op = op->next)
    if (!cg_store_op_is_read(op))
      return true;
  return false;
}

/* Holds the queue, which has a write, until `interval` after `last` (when
 * the previous write group began), or until it is full or the store stops.
 * True when operations joined meanwhile.  Called with mu held. */
static bool pace(struct cg_store *st, uint64_t last) {
  uint64_t deadline = last + st->commit_interval_ns;
  size_t before = st->n_queued;
  atomic_fetch_add(&st->held, 1);
  for (;;) {
    uint64_t now = uv_hrtime();
    if (st->quit || now >= deadline || st->n_queued >= GROUP_FULL)
      return st->n_queued > before;
    st->pacing = true;
    uv_cond_timedwait(&st->cv, &st->mu, deadline - now);
    st->pacing = false;
  }
}

/* Whether pacing pays: it goes on while waits gather writes, stops after
 * PACE_TRIES waits in a row that gathered none, and is tried again on every
 * PACE_PROBE-th write group that could wait. */
#define PACE_TRIES 16
#define PACE_PROBE 64

struct pacer {
  uint64_t last_write_group; /* uv_hrtime() when it began, 0 before the first */
  int credit;                /* waits left before pacing stops */
  unsigned skipped;          /* write groups not held since pacing stopped */
};

/* Called with mu held, before a group with writes is taken. */
static void maybe_pace(struct cg_store *st, struct pacer *p) {
  if (st->commit_interval_ns == 0 || p->last_write_group == 0 ||
      uv_hrtime() >= p->last_write_group + st->commit_interval_ns)
    return;
  if (p->credit <= 0 && ++p->skipped < PACE_PROBE)
    return;
  p->skipped = 0;
  if (pace(st, p->last_write_group))
    p->credit = PACE_TRIES;
  else
    p->credit--;
}

static void store_thread(void *arg) {
  struct cg_store *st = arg;
  uv_async_t *wake = &st->box->handle;
  struct pacer pacer = {0, PACE_TRIES, 0};
  cg_thread_batch();
  for (;;) {
    uv_mutex_lock(&st->mu);
    st->idle = true;
    while (st->queue == NULL && !st->quit)
      uv_cond_wait(&st->cv, &st->mu);
    st->idle = false;
    bool writes = has_write(st->queue);
    if (writes)
      maybe_pace(st, &pacer);
    struct cg_store_op *group = st->queue;
    st->queue = NULL;
    st->queue_tail = &st->queue;
    st->n_queued = 0;
    uv_mutex_unlock(&st->mu);
    if (group == NULL)
      break; /* quit, and nothing left to drain */

    if (writes)
      pacer.last_write_group = uv_hrtime();
    cg_store_run_group(st, group, writes);

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

static void run_callbacks(struct cg_store *st, struct cg_store_op *op) {
  while (op != NULL) {
    st->completed++;
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
  st->n_queued += st->n_pending;
  /* A thread that runs a group looks at the queue when it is done; one that
   * paces wakes by itself when the interval is over. */
  bool wake = st->idle || (st->pacing && st->n_queued >= GROUP_FULL);
  uv_mutex_unlock(&st->mu);
  /* Signalled after the unlock: a thread woken on this core would otherwise
   * run only to wait for the mutex still held here. */
  if (wake)
    uv_cond_signal(&st->cv);
  st->pending = NULL;
  st->pending_tail = &st->pending;
  st->n_pending = 0;
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
  run_callbacks(st, done);
  if (finished && st->thread_running) {
    /* The thread has left its loop: the join does not wait. */
    join_thread(st);
    release_box(st);
  }
}

void cg_store_thread_halt(struct cg_store *st) {
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
    run_callbacks(st, take_done(st, &finished));
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
  st->n_pending = 0;
  st->n_queued = 0;
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
  st->n_pending++;
  st->submitted++;
  return 0;
}

void cg_store_set_commit_interval(struct cg_store *st, uint32_t interval_us) {
  st->commit_interval_ns = (uint64_t)interval_us * 1000;
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

void cg_store_stats(const struct cg_store *st, struct cg_store_counters *out) {
  out->ops = atomic_load(&st->ops);
  out->commits = atomic_load(&st->commits);
  out->held = atomic_load(&st->held);
  out->queued = st->submitted - st->completed;
  out->write_group_ops = atomic_load(&st->write_group_ops);
  out->commit_ns = atomic_load(&st->commit_ns);
  out->failed_groups = atomic_load(&st->failed_groups);
  for (size_t i = 0; i < CG_STORE_COMMIT_BUCKETS; i++)
    out->commit_buckets[i] = atomic_load(&st->commit_buckets[i]);
}

