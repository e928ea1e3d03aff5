/*
 * gateway_int.h - private to the gateway's files in app/: its state, the
 * state of one exchange, and what each file offers the others.
 *
 *   gateway.c     start (configuration, backends, store, listeners, limits)
 *                 and stop (drain, deadline, store, free);
 *   ingress.c     requests arriving: HTTP (routed by app/route.c), raw TCP
 *                 frames and TCP pollReqs, and the limits they pass first;
 *   exchange.c    drives one cmp_exchange through the steps the engine asks
 *                 for: store writes to the store thread, CPU work to the
 *                 threadpool (or inline), issuance to the CA backend, reads
 *                 on read connections; answers and logs it;
 *   background.c  work no request asks for: approved transactions issued,
 *                 waiting ones expired, the limits' refusals logged.
 *
 * Everything here runs on the loop thread, but for the compute and read jobs
 * exchange.c hands to the threadpool (struct request says what they touch).
 */
#ifndef CG_APP_GATEWAY_INT_H
#define CG_APP_GATEWAY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "app/gateway.h"
#include "app/metrics.h"
#include "app/setup.h"
#include "ca_backends/backend.h"
#include "cmp/server.h"
#include "core/config.h"
#include "core/work.h"
#include "store/store.h"
#include "transports/admission.h"
#include "transports/coap.h"
#include "transports/guard.h"
#include "transports/http.h"
#include "transports/tcp.h"

#define MAX_ANCHORS 8

struct profile_rt {
  const struct cg_config_profile *cfg;
  struct cmp_profile cmp;
  uint8_t *anchor_der[MAX_ANCHORS]; /* trust anchors read from files */
  struct der_view anchors[MAX_ANCHORS];
  uint8_t *nested_der[MAX_ANCHORS];
  struct der_view nested[MAX_ANCHORS];
  /* A root CA key update the operator announces for this profile
   * (newWithNew, newWithOld, oldWithNew; p NULL when absent); when set, it
   * is answered instead of the backend's. */
  uint8_t *ra_der[MAX_ANCHORS]; /* ra_anchors */
  struct der_view ra[MAX_ANCHORS];
  uint8_t *root_update_der[3];
  struct der_view root_update[3];
  struct ca_policy policy;
  const struct ca_backend_ops *ops;
  void *backend;
  size_t backend_index; /* in the gateway's backends and cfg.backends */
};

/* What a reload replaces, as one generation (conf.c). */
struct gw_conf {
  unsigned refs; /* the gateway's while current, and each request's */
  struct cg_config cfg;
  struct app_ra ra;
  struct cmp_server_cfg server;
  struct profile_rt profiles[CG_MAX_PROFILES];
  size_t n_profiles;
  struct profile_rt *tcp_profile; /* NULL: no raw TCP listener */
};

#define MAX_READERS 64 /* read connections for the threadpool's workers, at most */
/* Slots of the table of writes in flight (see writes_pending()). */
#define WRITE_SLOTS 65536

struct gateway {
  uv_loop_t *loop;
  struct cg_config cfg; /* as started: listeners, limits, store, backends */
  uint8_t master_key[32];
  struct gw_conf *conf;  /* the current generation of what reloads */
  struct gw_conf *first; /* the first: the backends hold its RA credentials */
  bool keys_indexed;     /* the store has the index of certified keys */
  unsigned max_connections_asked; /* [server] max_connections as the file says it */
  struct cg_store *store;
  struct cg_store *reader; /* compute inline: LOOKUPs read on the loop thread */
  bool inline_compute;     /* compute steps on the loop (but heavy ones) */
  /* threadpool: a read connection per worker, so that a LOOKUP and the
   * check after it are one job */
  struct cg_store *readers[MAX_READERS], *idle_readers[MAX_READERS];
  size_t n_readers, n_idle_readers;
  uv_mutex_t readers_mu;
  /* Writes handed to the store thread and not yet done, counted by a hash of
   * the transactionID and of the secret reference they write. */
  uint16_t *writes;
  bool store_running;
  struct cg_http_server *http;
  struct cg_http_server *https; /* NULL: none */
  struct cg_tls_server *tls;    /* https's certificate and key */
  struct cg_tcp_server *tcp;      /* NULL: no raw TCP listener */
  struct cg_coap_server *coap;    /* NULL: no CoAP listener */
  struct cg_admission *admission; /* the listeners' shared limits */
  struct cg_guard guard;             /* failed checks per client address */
  uint64_t guard_refused[GW_TRANSPORTS]; /* its refusals, by the listener's transport */
  /* every 10 s: refusals since the last look are logged, the guard swept */
  uv_timer_t watch;
  struct cg_admission_stats seen;
  uint64_t seen_guard_refused;
  /* stopping: the deadline after which open connections are closed; its
   * own allocation, freed when its handle is closed (which may come after
   * the gateway is gone) */
  uv_timer_t *drain;
  size_t n_backends;
  const struct ca_backend_ops *backend_ops[CG_MAX_BACKENDS];
  void *backend_state[CG_MAX_BACKENDS];
  unsigned inflight;
  unsigned inflight_high; /* highest inflight since the last trim */
  bool stopping, http_closed, tcp_closed, https_closed, coap_closed;
  /* approved transactions are issued one at a time, found by a timer */
  uv_timer_t approvals;
  bool issuing;
  struct cg_store_op approvals_op;
  /* Of several nodes on one database, the one holding the lease does the
   * background work (approved transactions, expiry): renewed by a timer,
   * trusted until a little before it runs out (background.c). */
  uv_timer_t lease;
  struct cg_store_op lease_op;
  bool leasing, lease_held;
  int64_t lease_trusted_until;
  char node_id[96]; /* host/pid/random: the lease holder's name */
  /* SQLite: the search index takes the certificates written meanwhile,
   * every second (background.c); not started on PostgreSQL */
  uv_timer_t search;
  struct cg_store_op search_op;
  bool search_started, indexing, search_failing;
  /* transactions that waited too long expire, checked by a slower timer */
  uv_timer_t expiry;
  struct cg_store_op expire_ops[CG_MAX_PROFILES];
  bool expiring[CG_MAX_PROFILES];
  void (*on_stopped)(void *);
  void *stopped_arg;
  /* operations (admin.c) */
  struct gw_metrics *metrics;
  struct gw_admin *admin; /* NULL: no admin listener */
  bool admin_closed;
  struct gw_console *console; /* NULL: no web console */
  bool console_closed;
  int64_t tls_not_after;  /* the HTTPS certificate's notAfter; 0: none */
  int64_t start_time;
  /* each backend's last failed call and last call that went through (ms of
   * the loop's clock; 0: none), for /readyz */
  uint64_t backend_failed_at[CG_MAX_BACKENDS], backend_ok_at[CG_MAX_BACKENDS];
};

/* One CMP exchange arriving over HTTP or raw TCP. */
struct request {
  struct gateway *gw;
  struct gw_conf *conf; /* the generation it began with (held) */
  struct cg_http_request *http;
  struct cg_tcp_request *tcp;
  struct cg_coap_request *coap;
  struct profile_rt *profile;
  struct cmp_exchange *ex;
  uint64_t started_ns;
  struct cg_work work;
  struct cg_store_op op;
  struct ca_call call;
  struct ca_revoke_call revoke_call;
  struct ca_forward_call forward_call;
  struct ca_crl_call crl_call;
  struct cg_addr peer; /* the client's, as the limits count it; len 0: none */
  enum gw_transport transport;
  uint64_t ca_started_ns; /* when the backend call under way began */
  /* issuing an approved transaction: nobody waits for an answer */
  bool background;
  bool delivered;          /* the answer went out (before the refusal note, say) */
  bool counted;            /* in the metrics */
  bool stored;             /* the last store write succeeded */
  uint32_t poll_ref;       /* the transaction's raw TCP polling reference, 0 when none */
  bool ca_waiting;         /* the CA answered "waiting" */
  uint32_t write_slots[2]; /* the slots a write in flight counts in */
  size_t n_write_slots;
  /* nested: an inner request answers its parent, not the peer */
  struct request *parent;
  size_t index;
  size_t children; /* inner requests still running */
};

/* conf.c */
/* A generation with cfg's RA credentials loaded (the backends need them
 * before the profiles can be bound); refs 1.  0 or CG_ECONFIG (logged). */
int gw_conf_ra(const struct cg_config *cfg, struct gw_conf **out);
/* Completes c: its profiles bound to the gateway's backends, the engine's
 * settings.  0 or CG_ECONFIG (logged); c is then still to be released. */
int gw_conf_finish(struct gateway *gw, struct gw_conf *c);
struct gw_conf *gw_conf_hold(struct gw_conf *c);
void gw_conf_release(struct gw_conf *c);

/* console.c: the web console of [console] listen (none when it is empty),
 * as admin.c's listener: started, stopped (console_closed set when it has
 * closed), busy while a job runs, freed. */
int gw_console_start(struct gateway *gw);
void gw_console_stop(struct gateway *gw);
bool gw_console_busy(const struct gateway *gw);
void gw_console_free(struct gateway *gw);
/* gateway.c: the TLS context of [server] tls_cert and tls_key, made when
 * nothing made it yet (the console over HTTPS without an https listener). */
int gw_load_tls(struct gateway *gw);

/* admin.c */
/* Starts the admin listener of [server] admin (none when it is empty). */
int gw_admin_start(struct gateway *gw);
/* Stops it; gw->admin_closed is set (and gw_maybe_finish_stop() called)
 * when it has closed. */
void gw_admin_stop(struct gateway *gw);
/* Whether backend i's last call failed, and within the last minute (what
 * /readyz and the console's dashboard report). */
bool gw_backend_failing(const struct gateway *gw, size_t i);
/* Whether a probe or a count of it is under way (the stop waits for it). */
bool gw_admin_busy(const struct gateway *gw);
/* Frees what is left of it once the loop no longer runs its callbacks. */
void gw_admin_free(struct gateway *gw);

/* exchange.c */
/* Performs what the engine needs next; returns when an asynchronous step is
 * under way or the exchange is finished (answered, logged, freed). */
void gw_drive(struct request *r);
/* The profile as the next exchange sees it (the backend's chain and root
 * update as it knows them now). */
const struct cmp_profile *gw_current(struct profile_rt *p);
/* Seconds a waiting device is told to wait. */
uint32_t gw_check_after(const struct profile_rt *p);
/* An exchange (or a TCP poll answered without one) has ended. */
void gw_exchange_ended(struct gateway *gw, struct gw_conf *conf);

/* ingress.c */
void gw_on_http_request(void *arg, struct cg_http_request *req, const char *path,
                        const uint8_t *body, size_t len);
void gw_on_tcp_request(void *arg, struct cg_tcp_request *req, const struct cg_tcp_frame *f);
void gw_on_coap_request(void *arg, struct cg_coap_request *req, const char *path,
                        const uint8_t *body, size_t len);
/* The profile named name[0..n) (or NUL terminated), NULL when none. */
struct profile_rt *gw_profile_named(struct gw_conf *c, const char *name, size_t n);
struct profile_rt *gw_profile_by_name(struct gw_conf *c, const char *name);

/* background.c */
void gw_look_for_approved(struct gateway *gw);
void gw_on_approvals_timer(uv_timer_t *t);
void gw_on_expiry_timer(uv_timer_t *t);
void gw_on_search_timer(uv_timer_t *t);
void gw_on_lease_timer(uv_timer_t *t);
/* Names this node (gw->node_id) for the lease. */
void gw_lease_init(struct gateway *gw);
void gw_on_watch_timer(uv_timer_t *t);

/* gateway.c */
/* Stopping, and nothing is left in flight: the store stops, then the rest. */
void gw_maybe_finish_stop(struct gateway *gw);

#endif
