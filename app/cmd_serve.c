/*
 * cmd_serve.c - `cmpgw serve -c CONF`: runs the gateway in the foreground
 * until SIGINT or SIGTERM, then stops cleanly (exchanges in flight finish,
 * the store is drained and closed; [server] drain_timeout_ms bounds the
 * wait for slow clients).  A second SIGINT or SIGTERM during the stop exits
 * at once (the store is crash-safe: what was not committed is not there).
 * SIGHUP reloads the configuration file (gw_reload(): what can change
 * without a restart; a file that does not load changes nothing).  Under
 * systemd (Type=notify) it says READY when it listens, RELOADING and READY
 * around a reload, STOPPING when it stops (sd_notify(); nothing elsewhere).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "app/commands.h"
#include "app/gateway.h"
#include "core/config.h"
#include "core/log.h"

struct serve {
  uv_signal_t sigint, sigterm, sighup;
  struct gateway *gw;
  const char *conf;
  int stopping;
};

static void on_stopped(void *arg) {
  struct serve *s = arg;
  uv_close((uv_handle_t *)&s->sigint, NULL);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
  uv_close((uv_handle_t *)&s->sighup, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  struct serve *s = h->data;
  const char *name = signum == SIGINT ? "SIGINT" : signum == SIGTERM ? "SIGTERM" : "SIGHUP";
  if (signum == SIGHUP) {
    if (s->stopping) {
      cg_warn("received SIGHUP while stopping: ignored");
      return;
    }
    cg_info("received SIGHUP: reloading %s", s->conf);
    /* systemd (Type=notify): reloading, then ready again, either way */
    sd_notify(0, "RELOADING=1");
    int err = gw_reload(s->gw, s->conf);
    sd_notifyf(0, "READY=1\nSTATUS=%s", err == 0 ? "serving; the configuration reloaded"
                                                  : "serving; the last reload was refused");
    return;
  }
  if (s->stopping) {
    cg_warn("received %s again while stopping: exiting now", name);
    _exit(EXIT_FAILURE);
  }
  s->stopping = 1;
  cg_info("received %s", name);
  sd_notify(0, "STOPPING=1");
  gateway_stop(s->gw, on_stopped, s);
}

int cmd_serve(int argc, char **argv) {
  const char *conf = NULL;
  bool verbose = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc)
      conf = argv[++i];
    else if (!strcmp(argv[i], "-v"))
      verbose = true;
    else
      conf = NULL, i = argc;
  }
  if (conf == NULL) {
    fprintf(stderr, "usage: cmpgw serve -c CONF [-v]\n");
    return 2;
  }
  static struct cg_config cfg;
  if (cg_config_load(conf, &cfg))
    return 1;
  cg_log_set_format((enum cg_log_format)cfg.log_format);
  cg_log_set_level(verbose ? CG_LOG_DEBUG : (enum cg_log_level)cfg.log_level);
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0)
    return 1;
  struct serve s = {0};
  s.conf = conf;
  if (gateway_start(&loop, &cfg, &s.gw) != 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 1;
  }
  uv_signal_init(&loop, &s.sigint);
  uv_signal_init(&loop, &s.sigterm);
  uv_signal_init(&loop, &s.sighup);
  s.sigint.data = s.sigterm.data = s.sighup.data = &s;
  uv_signal_start(&s.sigint, on_signal, SIGINT);
  uv_signal_start(&s.sigterm, on_signal, SIGTERM);
  uv_signal_start(&s.sighup, on_signal, SIGHUP);
  /* Listening: under systemd (Type=notify) the service is up now. */
  sd_notify(0, "READY=1\nSTATUS=serving");
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop);
  if (rc != 0)
    cg_error("loop closed with handles still open: %s", uv_strerror(rc));
  return rc == 0 ? 0 : 1;
}
