/*
 * gateway.c - starts the gateway (configuration, master key, RA credentials,
 * backends and profiles, store and its read connections, the limits sized
 * to the open-file limit, the listeners, the timers) and stops it (no new
 * requests, a drain with a deadline, the store drained and closed, every
 * handle closed).  The other parts: app/gateway_int.h.
 */
#include <sys/resource.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/gateway_int.h"
#include "app/keycheck.h"
#include "core/certbuild.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "core/token.h"
#include "transports/listen.h"
#include "transports/tls.h"

static int start_backends(struct gateway *gw) {
  const struct cg_config *cfg = &gw->cfg;
  for (size_t i = 0; i < cfg->n_backends; i++) {
    const struct cg_config_backend *b = &cfg->backends[i];
    const struct ca_backend_ops *ops = ca_backend_find(b->type);
    if (ops == NULL || ops->abi != CA_BACKEND_ABI) {
      char section[CG_NAME_MAX + 9];
      snprintf(section, sizeof section, "backend %s", b->name);
      return cg_config_error(cfg, section, "type", "\"%s\" is not local or cmp", b->type);
    }
    void *state = calloc(1, ops->state_size);
    if (state == NULL)
      return CG_ENOMEM;
    struct ca_settings s = {.get = cg_config_backend_get,
                            .ctx = b,
                            .key = cg_config_backend_key,
                            .base_dir = cfg->dir,
                            .name = b->name,
                            .ra_key = gw->first->ra.key,
                            .ra_chain = gw->first->ra.chain,
                            .n_ra_chain = gw->first->ra.n_chain,
                            .config = cfg,
                            .allow_readable_keys = cfg->allow_readable_keys};
    int err = ops->init(state, gw->loop, &s);
    if (err) {
      ops->destroy(state); /* init may have loaded part of its state */
      free(state);
      cg_error("backend %s: cannot start", b->name);
      return err;
    }
    gw->backend_ops[gw->n_backends] = ops;
    gw->backend_state[gw->n_backends++] = state;
  }
  return 0;
}

static void destroy(struct gateway *gw) {
  for (size_t i = 0; i < gw->n_backends; i++) {
    gw->backend_ops[i]->destroy(gw->backend_state[i]);
    free(gw->backend_state[i]);
  }
  cg_store_close(gw->reader); /* NULL: nothing */
  free(gw->writes);
  for (size_t i = 0; i < gw->n_readers; i++)
    cg_store_close(gw->readers[i]);
  if (gw->n_readers > 0)
    uv_mutex_destroy(&gw->readers_mu);
  if (gw->store != NULL)
    cg_store_close(gw->store);
  gw_conf_release(gw->conf);
  gw_conf_release(gw->first);
  cg_wipe(gw->master_key, sizeof gw->master_key);
  cg_admission_free(gw->admission);
  cg_guard_free(&gw->guard);
  cg_tls_server_free(gw->tls);
  gw_admin_free(gw);
  gw_console_free(gw);
  gw_metrics_free(gw->metrics);
  free(gw);
}

/* host as the numeric address a listener binds: a name is resolved once,
 * here, and the address it gave is logged. */
static int listen_address(const struct cg_config *cfg, const char *key, char *host, size_t cap) {
  char numeric[64];
  const char *why;
  if (cg_listen_resolve(host, numeric, sizeof numeric, &why) != 0)
    return cg_config_error(cfg, "server", key,
                           "cannot listen on \"%s\": not a numeric address, "
                           "and the name does not resolve (%s)",
                           host, why);
  if (strcmp(numeric, host) != 0) {
    cg_info("[server] %s: %s resolves to %s", key, host, numeric);
    snprintf(host, cap, "%s", numeric);
  }
  return 0;
}

/* The raw TCP listener of [server] tcp, serving [server] tcp_profile. */
/* The PEM a TLS context takes, of [server] tls_pkcs12: the certificate and
 * the chain it holds, and its key (malloc'ed; the key is wiped by the caller). */
static int tls_pem_of_pkcs12(const struct cg_config *cfg, uint8_t **cert, size_t *cert_len,
                             uint8_t **key, size_t *key_len) {
  struct app_ra c;
  int err = app_load_pkcs12(cfg, "server", "tls_pkcs12", cfg->tls_pkcs12, "tls_password_file",
                            cfg->tls_password_file, &c);
  if (err != 0)
    return err;
  size_t cap = 16384 * (c.n_chain + 1), len = 0, n;
  uint8_t der[8192];
  size_t der_len;
  *cert = malloc(cap);
  *key = malloc(16384);
  err = *cert == NULL || *key == NULL ? CG_ENOMEM : 0;
  for (size_t i = 0; err == 0 && i < c.n_chain; i++, len += n)
    err = cg_pem_encode("CERTIFICATE", c.chain[i].p, c.chain[i].len, (char *)*cert + len,
                        cap - len, &n);
  *cert_len = len;
  if (err == 0)
    err = cg_key_private_pkcs8(c.key, der, sizeof der, &der_len);
  if (err == 0)
    err = cg_pem_encode("PRIVATE KEY", der, der_len, (char *)*key, 16384, key_len);
  cg_wipe(der, sizeof der);
  app_free_ra(&c);
  if (err != 0) {
    free(*cert);
    if (*key != NULL)
      cg_wipe(*key, 16384);
    free(*key);
    *cert = *key = NULL;
    return cg_config_error(cfg, "server", "tls_pkcs12", "cannot use it: %s", cg_strerror(err));
  }
  return 0;
}

/* The first certificate of a PEM chain, read into der (its views in x). */
static int first_cert(const uint8_t *pem, size_t len, uint8_t der[8192], struct cg_x509 *x) {
  size_t der_len, used;
  if (pem == NULL ||
      cg_pem_decode("CERTIFICATE", (const char *)pem, len, der, 8192, &der_len, &used) != 0 ||
      cg_x509_parse(der, der_len, x) != 0)
    return CG_EDER;
  return 0;
}

/* [server] tls_key as a key in a token, checked against the first
 * certificate of the PEM chain cert. */
static int tls_token_key(const struct cg_config *cfg, const uint8_t *cert, size_t cert_len,
                         struct cg_key **key) {
  uint8_t der[8192];
  struct cg_x509 x;
  char why[512];
  struct cg_token_defaults d;
  if (first_cert(cert, cert_len, der, &x) != 0)
    return cg_config_error(cfg, "server", "tls_cert", "holds no certificate cmpgw can read");
  cg_config_token_defaults(cfg, &d);
  if (cg_key_load(cfg->tls_key, &d, x.spki.p, x.spki.len, key, why, sizeof why) != 0)
    return cg_config_error(cfg, "server", "tls_key", "%s", why);
  return 0;
}

/* The HTTPS listener (after the HTTP one, with its limits): the TLS
 * certificate and key of [server] tls_cert and tls_key. */
/* The TLS context of cfg's certificate and key: made (gw->tls NULL), or
 * put in place of the one serving (a reload: the handshakes from now on get
 * it; on any error the old one stays).  Errors are logged. */
static int load_tls(struct gateway *gw, const struct cg_config *cfg) {
  char path[CG_PATH_MAX], why[160];
  int err;
  uint8_t *cert = NULL, *key = NULL;
  size_t cert_len = 0, key_len = 0;
  struct cg_key *device_key = NULL;
  if (cfg->tls_pkcs12[0] != 0) {
    if (cfg->tls_cert[0] != 0 || cfg->tls_key[0] != 0)
      return cg_config_error(cfg, "server", "tls_pkcs12",
                             "give tls_pkcs12 (and tls_password_file) or tls_cert and tls_key, "
                             "not both");
    if ((err = tls_pem_of_pkcs12(cfg, &cert, &cert_len, &key, &key_len)) != 0)
      return err;
  } else {
    if (cfg->tls_cert[0] == 0 || cfg->tls_key[0] == 0)
      return cg_config_error(cfg, "server", cfg->tls_cert[0] == 0 ? "tls_cert" : "tls_key",
                             "https needs tls_cert and tls_key (or tls_pkcs12)");
    if ((err = cg_config_resolve(cfg, cfg->tls_cert, path, sizeof path)) != 0 ||
        (err = cg_read_file(path, &cert, &cert_len)) != 0)
      return cg_config_error(cfg, "server", "tls_cert", "%s: %s", path, cg_file_strerror(err));
    if (cg_token_is_uri(cfg->tls_key)) {
      if ((err = tls_token_key(cfg, cert, cert_len, &device_key)) != 0) {
        free(cert);
        return err;
      }
    } else if ((err = cg_config_resolve(cfg, cfg->tls_key, path, sizeof path)) != 0 ||
               (err = cg_read_key_file(path, app_key_mode(cfg), &key, &key_len)) != 0) {
      free(cert);
      return cg_config_error(cfg, "server", "tls_key", "%s: %s", path, cg_file_strerror(err));
    }
  }
  uint8_t first[8192];
  struct cg_x509 fx;
  int64_t not_after = first_cert(cert, cert_len, first, &fx) == 0 ? fx.not_after : 0;
  uint8_t *anchors = NULL;
  size_t anchors_len = 0;
  if (cfg->tls_client_auth != CG_TLS_CLIENT_NONE) {
    if (cfg->tls_client_anchors[0] == 0)
      err = cg_config_error(cfg, "server", "tls_client_anchors",
                            "tls_client_auth asks for client certificates: name what they "
                            "chain to");
    else if ((err = cg_config_resolve(cfg, cfg->tls_client_anchors, path, sizeof path)) != 0 ||
             (err = cg_read_file(path, &anchors, &anchors_len)) != 0)
      err = cg_config_error(cfg, "server", "tls_client_anchors", "%s: %s", path,
                            cg_file_strerror(err));
  }
  struct cg_tls_server_config tc = {cert,
                                    cert_len,
                                    key,
                                    key_len,
                                    cfg->tls_ciphers,
                                    (enum cg_tls_client_auth)cfg->tls_client_auth,
                                    anchors,
                                    anchors_len,
                                    device_key};
  int read_err = err; /* reported already */
  if (err == 0)
    err = gw->tls == NULL ? cg_tls_server_new(&tc, &gw->tls, why, sizeof why)
                          : cg_tls_server_reload(gw->tls, &tc, why, sizeof why);
  cg_wipe(key, key_len);
  free(key);
  free(cert);
  free(anchors);
  cg_key_free(device_key); /* the context names the token's key by itself */
  if (read_err != 0)
    return read_err;
  if (err != 0)
    return cg_config_error(cfg, "server", err == CG_EINVAL ? "tls_ciphers" : "tls_key", "%s",
                           why);
  gw->tls_not_after = not_after;
  return 0;
}

int gw_load_tls(struct gateway *gw) { return load_tls(gw, &gw->cfg); }

static int start_https(struct gateway *gw, const struct cg_http_limits *lim) {
  const struct cg_config *cfg = &gw->cfg;
  char host[256];
  int port;
  int err = load_tls(gw, cfg);
  if (err != 0)
    return err;
  if (cg_parse_hostport(cfg->https, host, sizeof host, &port))
    return cg_config_error(cfg, "server", "https", "\"%s\" is not HOST:PORT", cfg->https);
  if (listen_address(cfg, "https", host, sizeof host) != 0)
    return CG_ECONFIG;
  err = cg_http_server_start(gw->loop, host, port, lim, gw_on_http_request, gw, &gw->https);
  if (err) {
    cg_error("cannot listen on https %s: %s", cfg->https, cg_strerror(err));
    return err;
  }
  /* The handshake's crypto goes where the exchanges' does (docs/architecture.md). */
  cg_http_server_use_tls(gw->https, gw->tls, !gw->inline_compute);
  gw->https_closed = false;
  cg_info("listening https %s:%d (TLS 1.2, 1.3; wolfSSL %s, hellos of up to %u suites)", host,
          cg_http_server_port(gw->https), cg_tls_library(), cg_tls_max_hello_suites());
  return 0;
}

static int start_tcp(struct gateway *gw) {
  char host[128];
  int port;
  if (cg_parse_hostport(gw->cfg.tcp, host, sizeof host, &port))
    return cg_config_error(&gw->cfg, "server", "tcp", "\"%s\" is not HOST:PORT", gw->cfg.tcp);
  if (listen_address(&gw->cfg, "tcp", host, sizeof host) != 0)
    return CG_ECONFIG;
  struct cg_tcp_limits lim;
  cg_tcp_limits_default(&lim);
  lim.max_frame = gw->cfg.max_message;
  lim.max_conns = gw->cfg.max_connections;
  lim.admission = gw->admission;
  lim.first_timeout_ms = gw->cfg.header_timeout_ms;
  lim.read_timeout_ms = gw->cfg.body_timeout_ms;
  lim.idle_timeout_ms = gw->cfg.idle_timeout_ms;
  int err = cg_tcp_server_start(gw->loop, host, port, &lim, gw_on_tcp_request, gw, &gw->tcp);
  if (err) {
    cg_error("cannot listen on tcp %s: %s", gw->cfg.tcp, cg_strerror(err));
    return err;
  }
  gw->tcp_closed = false;
  cg_info("listening tcp %s:%d (profile %s; RFC 2510 and version 10 framing)", host,
          cg_tcp_server_port(gw->tcp), gw->conf->tcp_profile->cfg->name);
  return 0;
}

static int start_coap(struct gateway *gw) {
  char host[128];
  int port;
  if (cg_parse_hostport(gw->cfg.coap, host, sizeof host, &port))
    return cg_config_error(&gw->cfg, "server", "coap", "\"%s\" is not HOST:PORT", gw->cfg.coap);
  if (listen_address(&gw->cfg, "coap", host, sizeof host) != 0)
    return CG_ECONFIG;
  struct cg_coap_limits lim = {.max_body = gw->cfg.max_message,
                               .rate_per_s = gw->cfg.coap_rate,
                               .verify_address = gw->cfg.coap_echo,
                               .max_reassembly = gw->cfg.max_buffered};
  int err = cg_coap_server_start(gw->loop, host, port, &lim, gw_on_coap_request, gw, &gw->coap);
  if (err) {
    cg_error("cannot listen on coap %s: %s", gw->cfg.coap, cg_strerror(err));
    return err;
  }
  gw->coap_closed = false;
  cg_info("listening coap %s:%d (UDP, RFC 9482)", host, cg_coap_server_port(gw->coap));
  return 0;
}

/* The threadpool's size, as libuv reads it (UV_THREADPOOL_SIZE, default 4). */
static size_t pool_size(void) {
  const char *v = getenv("UV_THREADPOOL_SIZE");
  long n = v != NULL ? strtol(v, NULL, 10) : 0;
  return n > 0 ? (size_t)n : 4;
}

/* A read connection for each worker; none (reads on the store thread) if
 * one cannot be had. */
static void open_readers(struct gateway *gw, const char *db) {
  size_t want = pool_size();
  if (want > MAX_READERS || uv_mutex_init(&gw->readers_mu) != 0) {
    cg_warn("threadpool of %zu: reads stay on the store thread", want);
    return;
  }
  for (size_t i = 0; i < want; i++) {
    if (cg_store_open_reader(db, &gw->readers[i]) != 0) {
      cg_warn("no read connection for the workers; reads stay on the store thread");
      for (size_t j = 0; j < i; j++)
        cg_store_close(gw->readers[j]);
      uv_mutex_destroy(&gw->readers_mu);
      return;
    }
    gw->idle_readers[i] = gw->readers[i];
  }
  gw->n_readers = gw->n_idle_readers = want;
}

/* File descriptors the gateway keeps for itself: stdio, the database (and
 * its WAL and shared memory) for each connection to it, libuv's own, the
 * listeners, and each upstream CA's connections. */
static unsigned own_fds(const struct gateway *gw) {
  unsigned n = 64 + 3 * (unsigned)(gw->n_readers + 2);
  for (size_t i = 0; i < gw->cfg.n_backends; i++) {
    const char *m = cg_config_backend_get(&gw->cfg.backends[i], "max_connections");
    n += m != NULL ? (unsigned)strtoul(m, NULL, 10) : 8;
  }
  return n;
}

/* Raises the open-file limit to the hard limit and sizes max_connections
 * to what it allows: a gateway that promises more connections than it has
 * descriptors fails every request once they run out, HTTP and TCP alike. */
static int size_connections(struct gateway *gw) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit want = {rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max,
                          rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &want) == 0)
      rl.rlim_cur = want.rlim_cur;
  }
  unsigned own = own_fds(gw);
  unsigned long files = rl.rlim_cur == RLIM_INFINITY ? 1ul << 20 : (unsigned long)rl.rlim_cur;
  if (files < own + 16) {
    cg_error("the open-file limit is %lu; the gateway needs at least %u (ulimit -n)", files,
             own + 16);
    return CG_ECONFIG;
  }
  if (gw->cfg.max_connections > files - own) {
    cg_warn("[server] max_connections %u is more than the open-file limit (%lu) allows; "
            "serving at most %lu connections (raise the limit: ulimit -n, or LimitNOFILE= "
            "under systemd)",
            gw->cfg.max_connections, files, files - own);
    gw->cfg.max_connections = (unsigned)(files - own);
  }
  return 0;
}

int gateway_start(uv_loop_t *loop, const struct cg_config *cfg, struct gateway **out) {
  struct gateway *gw = calloc(1, sizeof *gw);
  if (gw == NULL)
    return CG_ENOMEM;
  gw->loop = loop;
  gw->cfg = *cfg;
  gw->admin_closed = true;
  gw->console_closed = true;
  gw->start_time = (int64_t)time(NULL);
  char db[CG_PATH_MAX], host[128];
  int port, err;
  if ((gw->metrics = gw_metrics_new()) == NULL) {
    free(gw);
    return CG_ENOMEM;
  }
  if ((err = app_load_master_key(&gw->cfg, gw->master_key)) ||
      (err = gw_conf_ra(&gw->cfg, &gw->first)))
    goto fail;
  if ((err = start_backends(gw)))
    goto fail;
  gw->conf = gw_conf_hold(gw->first);
  if ((err = gw_conf_finish(gw, gw->conf)))
    goto fail;

  if ((err = app_store_locator(&gw->cfg, db, sizeof db)) ||
      (err = cg_store_open(db, &gw->store))) {
    cg_error("cannot open the database %s",
             gw->cfg.store_url[0] ? "of [store] url" : gw->cfg.database);
    goto fail;
  }
  if ((err = app_check_master_key(gw->store, gw->master_key, gw->cfg.master_key)))
    goto fail;
  /* A profile that refuses a key certified before looks its certificates up
   * by key: their index, made only then (store.h). */
  for (size_t i = 0; i < gw->cfg.n_profiles; i++)
    if (!gw->cfg.profiles[i].key_reuse) {
      if ((err = cg_store_index_keys(gw->store)) != 0)
        goto fail;
      gw->keys_indexed = true;
      break; /* one index serves them all */
    }
  cg_store_set_commit_interval(gw->store, gw->cfg.commit_interval_us);
  if ((err = cg_store_start(gw->store, loop)))
    goto fail;
  gw->store_running = true;
  int cpus = cg_work_usable_cpus();
  bool inline_compute =
      gw->cfg.compute == CG_COMPUTE_INLINE || (gw->cfg.compute == CG_COMPUTE_AUTO && cpus == 1);
  gw->inline_compute = inline_compute;
  cg_work_set_inline(inline_compute); /* the local CA's signing jobs */
  /* With the compute inline, the loop reads too (one CPU: the store thread
   * would only take turns with it); the store thread keeps the writes.  Not
   * from PostgreSQL: a read there waits for the network, which the loop
   * must not. */
  bool pg = cg_store_is_postgres(db);
  if (inline_compute && !pg && strcmp(db, ":memory:") != 0 &&
      cg_store_open_reader(db, &gw->reader))
    cg_warn("compute inline: no read connection; reads stay on the store thread");
  if (!inline_compute && strcmp(db, ":memory:") != 0)
    open_readers(gw, db);
  if ((gw->reader != NULL || gw->n_readers > 0) &&
      (gw->writes = calloc(WRITE_SLOTS, sizeof *gw->writes)) == NULL)
    cg_warn("out of memory: reads stay on the store thread");
  cg_info("compute: %s (%d usable CPU%s)",
          !inline_compute ? (gw->n_readers ? "threadpool, reads too" : "threadpool")
          : gw->reader    ? "inline on the loop, reads too"
                          : "inline on the loop",
          cpus, cpus == 1 ? "" : "s");

  gw->max_connections_asked = gw->cfg.max_connections; /* before the open-file limit lowers it */
  if ((err = size_connections(gw)) != 0)
    goto fail_running;
  gw->admission = cg_admission_new(
      &(struct cg_admission_limits){.max_conns = gw->cfg.max_connections,
                                    .max_conns_per_addr = gw->cfg.max_connections_per_address,
                                    .max_buffered = gw->cfg.max_buffered});
  if (gw->admission == NULL || cg_guard_init(&gw->guard, gw->cfg.failed_check_burst,
                                             gw->cfg.failed_check_interval_ms) != 0) {
    err = CG_ENOMEM;
    goto fail_running;
  }
  gw->tcp_closed = true;
  if (gw->cfg.tcp[0] && (err = start_tcp(gw)) != 0)
    goto fail_running;
  gw->coap_closed = true;
  if (gw->cfg.coap[0] && (err = start_coap(gw)) != 0)
    goto fail_running;
  if (cg_parse_hostport(gw->cfg.http, host, sizeof host, &port)) {
    err = cg_config_error(&gw->cfg, "server", "http", "\"%s\" is not HOST:PORT", gw->cfg.http);
    goto fail_running;
  }
  if (listen_address(&gw->cfg, "http", host, sizeof host) != 0) {
    err = CG_ECONFIG;
    goto fail_running;
  }
  struct cg_http_limits lim;
  cg_http_limits_default(&lim);
  lim.max_body = gw->cfg.max_message;
  lim.max_header = gw->cfg.max_header;
  lim.max_conns = gw->cfg.max_connections;
  lim.admission = gw->admission;
  lim.header_timeout_ms = gw->cfg.header_timeout_ms;
  lim.body_timeout_ms = gw->cfg.body_timeout_ms;
  lim.idle_timeout_ms = gw->cfg.idle_timeout_ms;
  err = cg_http_server_start(loop, host, port, &lim, gw_on_http_request, gw, &gw->http);
  if (err) {
    cg_error("cannot listen on http %s: %s", gw->cfg.http, cg_strerror(err));
    goto fail_running;
  }
  cg_info("listening http %s:%d", host, cg_http_server_port(gw->http));
  gw->https_closed = true;
  if (gw->cfg.https[0] && (err = start_https(gw, &lim)) != 0)
    goto fail_running;
  if ((err = gw_admin_start(gw)) != 0 || (err = gw_console_start(gw)) != 0)
    goto fail_running;
  gw_lease_init(gw);
  uv_timer_init(loop, &gw->lease);
  gw->lease.data = gw;
  uv_timer_start(&gw->lease, gw_on_lease_timer, 0, 10000);
  uv_timer_init(loop, &gw->approvals);
  gw->approvals.data = gw;
  uv_timer_start(&gw->approvals, gw_on_approvals_timer, 1000, 1000);
  uv_timer_init(loop, &gw->expiry);
  gw->expiry.data = gw;
  uv_timer_start(&gw->expiry, gw_on_expiry_timer, 1000, 30000);
  if (!pg && strcmp(db, ":memory:") != 0) {
    uv_timer_init(loop, &gw->search);
    gw->search.data = gw;
    uv_timer_start(&gw->search, gw_on_search_timer, 0, 1000);
    gw->search_started = true;
  }
  uv_timer_init(loop, &gw->watch);
  gw->watch.data = gw;
  uv_timer_start(&gw->watch, gw_on_watch_timer, 10000, 10000);
  cg_info("limits: %u connections (%u per address), %zu octets of buffered requests, "
          "%u failed checks per address then one per %u ms",
          gw->cfg.max_connections, gw->cfg.max_connections_per_address, gw->cfg.max_buffered,
          gw->cfg.failed_check_burst, gw->cfg.failed_check_interval_ms);
  *out = gw;
  return 0;

fail_running:
  if (gw->tcp != NULL) /* nothing connected yet: it closes on its own */
    cg_tcp_server_stop(gw->tcp, NULL, NULL);
  if (gw->coap != NULL)
    cg_coap_server_stop(gw->coap, NULL, NULL);
  if (gw->http != NULL)
    cg_http_server_stop(gw->http, NULL, NULL);
  if (gw->https != NULL)
    cg_http_server_stop(gw->https, NULL, NULL);
  gw_admin_stop(gw);
  /* The store thread is running: stop it synchronously through close. */
  gw->store_running = false;
fail:
  destroy(gw);
  return err ? err : CG_ECONFIG;
}

static void on_store_stopped(void *arg) {
  struct gateway *gw = arg;
  struct cg_store_counters n;
  cg_store_stats(gw->store, &n);
  cg_info("store: %llu operations in %llu commits (%llu held for group commit)",
          (unsigned long long)n.ops, (unsigned long long)n.commits, (unsigned long long)n.held);
  struct cg_admission_stats a;
  cg_admission_stats(gw->admission, &a);
  cg_info("connections: %u at most at once, %zu octets of requests buffered at most; refused "
          "%llu over max_connections, %llu over max_connections_per_address, %llu requests over "
          "max_buffered, %llu over the failed-check budget (%llu failed checks)",
          a.peak_conns, a.peak_buffered, (unsigned long long)a.refused_full,
          (unsigned long long)a.refused_addr, (unsigned long long)a.refused_memory,
          (unsigned long long)gw->guard.refused, (unsigned long long)gw->guard.failed);
  void (*cb)(void *) = gw->on_stopped;
  void *cb_arg = gw->stopped_arg;
  gw->store_running = false;
  destroy(gw);
  cg_info("stopped");
  cb(cb_arg);
}

static void free_handle(uv_handle_t *h) { free(h); }

void gw_maybe_finish_stop(struct gateway *gw) {
  if (!gw->stopping || !gw->http_closed || !gw->tcp_closed || !gw->https_closed ||
      !gw->coap_closed ||
      !gw->admin_closed || gw_admin_busy(gw) || !gw->console_closed || gw_console_busy(gw) ||
      gw->inflight > 0 ||
      !gw->store_running)
    return;
  if (gw->drain != NULL) {
    uv_timer_stop(gw->drain);
    uv_close((uv_handle_t *)gw->drain, free_handle);
    gw->drain = NULL;
  }
  cg_store_stop(gw->store, on_store_stopped, gw);
}

/* The drain took longer than drain_timeout_ms: the connections still open
 * (a client that does not read its answer, one mid-request) are closed; the
 * exchanges in flight finish and are recorded, their answers dropped. */
static void on_drain_timer(uv_timer_t *t) {
  struct gateway *gw = t->data;
  cg_warn("stopping: drain_timeout_ms (%u) passed with %u exchange(s) in flight; closing "
          "every connection",
          gw->cfg.drain_timeout_ms, gw->inflight);
  if (gw->http != NULL)
    cg_http_server_close_all(gw->http);
  if (gw->https != NULL)
    cg_http_server_close_all(gw->https);
  if (gw->tcp != NULL)
    cg_tcp_server_close_all(gw->tcp);
}

static void on_http_closed(void *arg) {
  struct gateway *gw = arg;
  gw->http_closed = true;
  gw->http = NULL;
  gw_maybe_finish_stop(gw);
}

static void on_https_closed(void *arg) {
  struct gateway *gw = arg;
  gw->https_closed = true;
  gw->https = NULL;
  gw_maybe_finish_stop(gw);
}

static void on_coap_closed(void *arg) {
  struct gateway *gw = arg;
  gw->coap_closed = true;
  gw->coap = NULL;
  gw_maybe_finish_stop(gw);
}

static void on_tcp_closed(void *arg) {
  struct gateway *gw = arg;
  gw->tcp_closed = true;
  gw->tcp = NULL;
  gw_maybe_finish_stop(gw);
}

void gateway_stop(struct gateway *gw, void (*on_stopped)(void *arg), void *arg) {
  if (gw->stopping)
    return;
  gw->stopping = true;
  gw->on_stopped = on_stopped;
  gw->stopped_arg = arg;
  cg_info("stopping: %u exchange(s) in flight", gw->inflight);
  uv_timer_stop(&gw->approvals);
  uv_close((uv_handle_t *)&gw->approvals, NULL);
  uv_timer_stop(&gw->lease);
  uv_close((uv_handle_t *)&gw->lease, NULL);
  /* Calls waiting on a CA end now, so their exchanges can answer and end. */
  for (size_t i = 0; i < gw->n_backends; i++)
    if (gw->backend_ops[i]->stop != NULL)
      gw->backend_ops[i]->stop(gw->backend_state[i]);
  uv_timer_stop(&gw->expiry);
  uv_close((uv_handle_t *)&gw->expiry, NULL);
  if (gw->search_started) {
    uv_timer_stop(&gw->search);
    uv_close((uv_handle_t *)&gw->search, NULL);
  }
  uv_timer_stop(&gw->watch);
  uv_close((uv_handle_t *)&gw->watch, NULL);
  if (gw->cfg.drain_timeout_ms > 0 && (gw->drain = malloc(sizeof *gw->drain)) != NULL) {
    uv_timer_init(gw->loop, gw->drain);
    gw->drain->data = gw;
    uv_timer_start(gw->drain, on_drain_timer, gw->cfg.drain_timeout_ms, 0);
  }
  if (gw->tcp != NULL)
    cg_tcp_server_stop(gw->tcp, on_tcp_closed, gw);
  if (gw->coap != NULL)
    cg_coap_server_stop(gw->coap, on_coap_closed, gw);
  if (gw->https != NULL)
    cg_http_server_stop(gw->https, on_https_closed, gw);
  gw_admin_stop(gw);
  gw_console_stop(gw);
  cg_http_server_stop(gw->http, on_http_closed, gw);
}

/* [server] and [store] settings a reload cannot change: the listeners, the
 * limits, the database (compared as they are in the file's structure). */
#define FIELD(f) {#f, offsetof(struct cg_config, f), sizeof(((struct cg_config *)0)->f)}
static const struct {
  const char *name;
  size_t off, size;
} fixed[] = {
    FIELD(http),           FIELD(https),
    FIELD(tcp),            FIELD(admin),
    FIELD(coap),           FIELD(coap_rate),
    FIELD(coap_echo),      FIELD(console),
    FIELD(console_tls),
    FIELD(console_idle_s), FIELD(console_max_s),
    FIELD(max_message),    FIELD(max_header),
    FIELD(max_connections), FIELD(max_connections_per_address),
    FIELD(max_buffered),   FIELD(header_timeout_ms),
    FIELD(body_timeout_ms), FIELD(idle_timeout_ms),
    FIELD(drain_timeout_ms), FIELD(failed_check_burst),
    FIELD(failed_check_interval_ms), FIELD(compute),
    FIELD(tcp_cmp_polling), FIELD(database),
    FIELD(store_url),      FIELD(store_password_file),
    FIELD(commit_interval_us), FIELD(master_key),
    FIELD(n_backends),     FIELD(backends),
};

int gw_reload(struct gateway *gw, const char *path) {
  struct cg_config *cfg = malloc(sizeof *cfg);
  struct gw_conf *c = NULL;
  int err = cfg == NULL ? CG_ENOMEM : cg_config_load(path, cfg);
  /* The index of certified keys is made at start, for profiles that refuse
   * a key certified before. */
  for (size_t i = 0; err == 0 && i < cfg->n_profiles; i++)
    if (!cfg->profiles[i].key_reuse && !gw->keys_indexed) {
      char section[CG_NAME_MAX + 9];
      snprintf(section, sizeof section, "profile %s", cfg->profiles[i].name);
      err = cg_config_error(cfg, section, "key_reuse",
                            "false needs the index of certified keys, made at start: restart "
                            "the daemon to apply it");
    }
  if (err == 0)
    err = gw_conf_ra(cfg, &c);
  if (err == 0)
    err = gw_conf_finish(gw, c);
  if (err == 0 && gw->tls != NULL)
    err = load_tls(gw, cfg);
  if (err != 0) {
    cg_error("reload: %s does not load (%s); the configuration in force stays", path,
             cg_strerror(err));
    gw_conf_release(c);
    free(cfg);
    return err;
  }
  unsigned started_max = gw->cfg.max_connections;
  gw->cfg.max_connections = gw->max_connections_asked; /* compared as the file said it */
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    if (memcmp((const uint8_t *)cfg + fixed[i].off, (const uint8_t *)&gw->cfg + fixed[i].off,
               fixed[i].size) != 0)
      cg_warn("reload: %s changed; it takes effect at the next restart",
              !strcmp(fixed[i].name, "n_backends") || !strcmp(fixed[i].name, "backends")
                  ? "a [backend] section"
                  : fixed[i].name);
  gw->cfg.max_connections = started_max;
  struct gw_conf *old = gw->conf;
  gw->conf = c; /* the exchanges in flight keep the generation they began with */
  gw_conf_release(old);
  cg_log_set_format((enum cg_log_format)cfg->log_format);
  cg_log_set_level((enum cg_log_level)cfg->log_level);
  char ra[256] = "?";
  (void)cg_name_to_string(c->ra.x509.subject, ra, sizeof ra);
  cg_info("reload: %s loaded: %zu profile(s), RA %s%s", path, c->n_profiles, ra,
          gw->tls != NULL ? ", the TLS certificate and key" : "");
  free(cfg);
  return 0;
}
