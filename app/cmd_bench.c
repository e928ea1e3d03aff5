/*
 * cmd_bench.c - `cmpgw bench store`: how many certificate + transaction
 * writes per second the store commits, the way the daemon writes them (one
 * store thread, group commit, synchronous=FULL, WAL), into a fresh database
 * or one preloaded with many certificates.  Prints one line of numbers; see
 * docs/PERFORMANCE.md.  `cmpgw bench cmp`, the load generator for whole CMP
 * transactions, is in bench_cmp.c.
 */
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#include "app/bench.h"
#include "app/commands.h"
#include "core/err.h"
#include "store/store.h"

#define T0 1767225600 /* 2026-01-01T00:00:00Z */
#define MAX_INFLIGHT 4096

struct bench {
  uv_loop_t loop;
  struct cg_store *st;
  struct cg_store_op *ops;
  uint8_t der[600]; /* a certificate-sized stand-in: the store keeps DER opaque */
  unsigned long next, total, done, failed;
  unsigned long base; /* numbers already used by the preload */
};

static void make_op(struct bench *b, struct cg_store_op *op, unsigned long i) {
  static char subjects[MAX_INFLIGHT][48], sans[MAX_INFLIGHT][48];
  size_t slot = (size_t)(op - b->ops);
  memset(op, 0, sizeof *op);
  op->kind = CG_STORE_OP_INSERT;
  struct cmp_txn_record *t = &op->txn;
  snprintf(t->txid, sizeof t->txid, "%032lx", b->base + i);
  strcpy(t->profile, "default");
  snprintf(t->auth_ref, sizeof t->auth_ref, "bench-%lu", i % 1000);
  strcpy(t->req_type, "ir");
  t->state = CMP_TXN_CONFIRMED; /* implicit confirmation: one write per enrolment */
  t->prev_state = CMP_TXN_RECEIVED;
  t->failinfo = -1;
  t->created_at = t->updated_at = T0 + (int64_t)i;
  struct cmp_cert_record *c = &op->cert;
  op->cert_present = true;
  snprintf(c->serial, sizeof c->serial, "%032lx", b->base + i);
  snprintf(t->cert_serial, sizeof t->cert_serial, "%s", c->serial);
  snprintf(subjects[slot], sizeof subjects[slot], "CN=device-%lu,O=fleet", b->base + i);
  snprintf(sans[slot], sizeof sans[slot], "DNS:device-%lu.example", b->base + i);
  c->subject = subjects[slot];
  c->issuer = "CN=Issuing CA,O=fleet";
  c->sans = sans[slot];
  c->key_type = "EC P-256";
  c->not_before = T0;
  c->not_after = T0 + 365 * 86400;
  c->der = b->der;
  c->der_len = sizeof b->der;
  snprintf(c->txid, sizeof c->txid, "%s", t->txid);
  strcpy(c->profile, "default");
}

static void on_done(struct cg_store_op *op);

static void submit(struct bench *b, struct cg_store_op *op) {
  make_op(b, op, b->next++);
  op->cb = on_done;
  op->arg = b;
  if (cg_store_submit(b->st, op) != 0) {
    b->failed++;
    b->done++;
  }
}

static void on_done(struct cg_store_op *op) {
  struct bench *b = op->arg;
  b->done++;
  if (op->result != 0)
    b->failed++;
  if (b->next < b->total)
    submit(b, op);
}

/* n transactions with their certificates, written straight into the file in
 * one SQLite transaction (how the database of a long-running fleet looks). */
static int preload(const char *path, unsigned long n) {
  sqlite3 *db;
  sqlite3_stmt *t = NULL, *c = NULL;
  uint8_t der[600] = {0x30};
  if (sqlite3_open(path, &db) != SQLITE_OK)
    return CG_ESTORE;
  int rc = sqlite3_exec(db, "PRAGMA synchronous=OFF; BEGIN", NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO transactions (transaction_id, profile, auth_ref, req_type,"
                            " state, cert_serial, created_at, updated_at) VALUES (printf('%032x', ?1),"
                            " 'default', 'preload', 'ir', 'confirmed', printf('%032x', ?1),"
                            " '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')",
                            -1, &t, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO certificates (serial, subject, issuer, sans, key_type,"
                            " not_before, not_after, status, transaction_id, profile, created_at, der)"
                            " VALUES (printf('%032x', ?1), 'CN=old-' || ?1 || ',O=fleet',"
                            " 'CN=Issuing CA,O=fleet', 'DNS:old-' || ?1 || '.example', 'EC P-256',"
                            " '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'valid',"
                            " printf('%032x', ?1), 'default', '2025-01-01T00:00:00Z', ?2)",
                            -1, &c, NULL);
  for (unsigned long i = 1; rc == SQLITE_OK && i <= n; i++) {
    sqlite3_bind_int64(t, 1, (sqlite3_int64)i);
    sqlite3_bind_int64(c, 1, (sqlite3_int64)i);
    sqlite3_bind_blob(c, 2, der, sizeof der, SQLITE_STATIC);
    if (sqlite3_step(t) != SQLITE_DONE || sqlite3_step(c) != SQLITE_DONE)
      rc = SQLITE_ERROR;
    sqlite3_reset(t);
    sqlite3_reset(c);
  }
  sqlite3_finalize(t);
  sqlite3_finalize(c);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    fprintf(stderr, "cmpgw bench: preload failed: %s\n", sqlite3_errmsg(db));
  sqlite3_close(db);
  /* Written with synchronous=OFF, the preload would still be going to disk
   * (a gigabyte for a million rows) while the clock runs, and the timed
   * writes would wait behind it: on disk before the clock starts. */
  int fd = open(path, O_RDONLY);
  if (fd < 0 || fsync(fd) != 0)
    rc = SQLITE_ERROR;
  if (fd >= 0)
    close(fd);
  return rc == SQLITE_OK ? 0 : CG_ESTORE;
}

static void on_stopped(void *arg) { *(bool *)arg = true; }

static int usage(void) {
  fprintf(stderr, "usage: cmpgw bench cmp ... (cmpgw bench cmp --help)\n"
                  "       cmpgw bench crypto [--rounds N] [--iterations PBM_ITERATIONS]\n"
                  "       cmpgw bench store [--ops N] [--inflight K] [--preload N] [--db FILE]\n"
                  "  writes N enrolments (a transaction, its certificate and its event)\n"
                  "  through the store thread with K in flight (default 100000, 256), into a\n"
                  "  new database (removed after) or FILE, after N preloaded certificates\n");
  return 2;
}

int cmd_bench(int argc, char **argv) {
  unsigned long ops = 100000, inflight = 256, pre = 0;
  const char *db = NULL;
  if (argc >= 2 && strcmp(argv[1], "cmp") == 0)
    return bench_cmp(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "crypto") == 0)
    return bench_crypto(argc, argv);
  if (argc < 2 || strcmp(argv[1], "store") != 0)
    return usage();
  for (int i = 2; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--ops") && bench_number(v, 100000000, &ops) && ops > 0)
      i++;
    else if (!strcmp(argv[i], "--inflight") && bench_number(v, MAX_INFLIGHT, &inflight) && inflight > 0)
      i++;
    else if (!strcmp(argv[i], "--preload") && bench_number(v, 100000000, &pre))
      i++;
    else if (!strcmp(argv[i], "--db") && v != NULL)
      db = argv[++i];
    else
      return usage();
  }
  char path[256], dir[] = "/tmp/cmpgw-bench-XXXXXX";
  if (db == NULL) {
    if (mkdtemp(dir) == NULL)
      return 1;
    snprintf(path, sizeof path, "%s/bench.db", dir);
    db = path;
  }
  struct bench *b = calloc(1, sizeof *b);
  b->ops = calloc(inflight, sizeof *b->ops);
  int rc = 1;
  if (b == NULL || b->ops == NULL)
    goto out;
  b->der[0] = 0x30;
  b->total = ops;
  b->base = pre + 1;
  if (cg_store_open(db, &b->st) != 0)
    goto out;
  cg_store_close(b->st); /* the schema exists now */
  b->st = NULL;
  double t0 = bench_now();
  if (pre > 0 && preload(db, pre) != 0)
    goto out;
  double t_pre = bench_now() - t0;
  if (cg_store_open(db, &b->st) != 0 || uv_loop_init(&b->loop) != 0 ||
      cg_store_start(b->st, &b->loop) != 0)
    goto out;
  struct cg_store_counters n0, n1;
  cg_store_stats(b->st, &n0);
  double start = bench_now();
  for (unsigned long i = 0; i < inflight && b->next < b->total; i++)
    submit(b, &b->ops[i]);
  while (b->done < b->total)
    uv_run(&b->loop, UV_RUN_ONCE);
  double secs = bench_now() - start;
  cg_store_stats(b->st, &n1);
  printf("store: writes=%lu failed=%lu secs=%.2f writes_per_s=%.0f commits=%llu writes_per_commit=%.1f"
         " inflight=%lu preloaded=%lu preload_secs=%.1f synchronous=FULL\n",
         b->done, b->failed, secs, (double)b->done / secs,
         (unsigned long long)(n1.commits - n0.commits),
         n1.commits > n0.commits ? (double)b->done / (double)(n1.commits - n0.commits) : 0.0,
         inflight, pre,
         t_pre);
  rc = b->failed == 0 ? 0 : 1;
  bool stopped = false;
  cg_store_stop(b->st, on_stopped, &stopped);
  while (!stopped)
    uv_run(&b->loop, UV_RUN_ONCE);
  uv_run(&b->loop, UV_RUN_DEFAULT);
  uv_loop_close(&b->loop);
out:
  if (b != NULL && b->st != NULL)
    cg_store_close(b->st);
  if (db == path) {
    char f[300];
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
      snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
      unlink(f);
    }
    rmdir(dir);
  }
  if (b != NULL)
    free(b->ops);
  free(b);
  return rc;
}
