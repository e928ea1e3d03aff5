/*
 * internal.h - private to store/: the store object shared by the SQLite side
 * (ops.c: connection, statements, running operations) and the thread side
 * (async.c: store thread, queue, completion on the loop).
 */
#ifndef CG_STORE_INTERNAL_H
#define CG_STORE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/log.h"
#include "store/db.h"
#include "store/store.h"

/* The prepared statements of a connection, indexes into cg_store.stmt. */
enum stmt_id {
  S_BEGIN,
  S_COMMIT,
  S_ROLLBACK,
  S_SAVEPOINT,
  S_RELEASE,
  S_ROLLBACK_TO,
  S_SECRET_INSERT,
  S_SECRET_GET,
  S_TXN_INSERT,
  S_TXN_GET,
  S_TXN_UPDATE,
  S_TXN_STATE,
  S_CERT_INSERT,
  S_CERT_DER,
  S_CERT_REVOKE,
  S_CERT_CONFIRM,
  S_CERT_BY_SERIAL,
  S_CERT_STATUS,
  S_REVOCATION_INSERT,
  S_HOLD_RELEASE,
  S_CERT_UPDATES,
  S_KEY_CERTIFIED,
  S_KEY_COMPROMISED,
  S_CERT_UNREVOKE,
  S_REVOCATIONS_BY_ISSUER,
  S_SECRET_USED,
  S_SECRET_FAILED,
  S_EVENT_INSERT,
  S_TXN_NEXT_APPROVED,
  S_TXN_BY_POLL_REF,
  S_POLL_REF_USED,
  S_COUNT_WAITING,
  S_TXN_REFRESH,
  S_COUNT_WAITING_REF,
  S_EXPIRE_EVENTS,
  S_EXPIRE,
  S_LEASE,
  S_SEARCH_UPTO,
  S_SEARCH_ADD,
  S_SEARCH_MARK,
  S__COUNT
};

/* The uv_async_t lives apart from the store so that it can outlive it: a
 * handle is freed only in its close callback, which runs on a later loop turn,
 * possibly after cg_store_close() freed the store. */
struct async_box {
  uv_async_t handle; /* first member: the callback casts back */
  uv_prepare_t flush; /* hands the submitted operations over before the loop sleeps */
  int open;           /* handles not yet closed */
  struct cg_store *st; /* NULL once the store let go of the handles */
  void (*on_stopped)(void *arg);
  void *stopped_arg;
};

struct cg_store {
  struct cg_db *db;
  struct cg_db_stmt *stmt[S__COUNT];
  /* Errors of the same kind come in floods (a full disk fails every commit):
   * logged at most every 10 s.  Used by whichever thread owns the connection. */
  struct cg_log_limit errlog;

  /* Loop thread only. */
  struct async_box *box; /* NULL when not started, or once closing */
  uv_thread_t thread;
  bool thread_running; /* created and not yet joined */
  bool stopping;       /* submits are refused */
  /* Submitted in this loop iteration, handed to the thread as one batch. */
  struct cg_store_op *pending, **pending_tail;
  size_t n_pending;
  /* Whether each write runs in its own savepoint now (ops.c, run_group). */
  bool savepoints;
  /* Set before the thread starts: at most one write group per interval. */
  uint64_t commit_interval_ns;

  uv_mutex_t mu;
  uv_cond_t cv;
  /* Guarded by mu. */
  struct cg_store_op *queue, **queue_tail;
  struct cg_store_op *done, **done_tail;
  size_t n_queued;  /* operations on the queue */
  bool idle;        /* the thread waits for a non-empty queue */
  bool pacing;      /* the thread holds a write group back (commit interval) */
  bool quit;        /* the thread leaves once the queue is empty */
  bool thread_done; /* the thread has left; its last group is on the done list */

  _Atomic uint64_t ops, commits, held;
  _Atomic uint64_t write_group_ops, commit_ns, failed_groups;
  _Atomic uint64_t commit_buckets[CG_STORE_COMMIT_BUCKETS];
  /* The loop thread's: operations submitted and completed. */
  uint64_t submitted, completed;
};

/* Runs one group of operations on the store thread (`writes`: whether any of
 * them writes): reads directly, all writes in one BEGIN IMMEDIATE transaction
 * with a savepoint each, then one COMMIT.  Sets every op's result; when the
 * transaction is lost or COMMIT fails, every write of the group that had
 * succeeded gets CG_ESTORE.  (ops.c) */
void cg_store_run_group(struct cg_store *st, struct cg_store_op *group, bool writes);

/* Whether op only reads (runs outside the group's transaction).  (ops.c) */
bool cg_store_op_is_read(const struct cg_store_op *op);

/* For cg_store_close(): refuses further submits, drains and joins the store
 * thread if it runs, calls the callbacks of completed operations and closes
 * the async handle.  Leaves a store that was never started as it is.  Loop
 * thread only.  (async.c) */
void cg_store_thread_halt(struct cg_store *st);

/* An identifier as stored (lowercase hex) from what an operator typed, who
 * may paste it in capitals; false when it cannot be one (empty, too long). */
bool cg_store_id_lower(const char *in, char *out, size_t cap);

#endif
