/*
 * cmd_serve.c - `cmpgw serve -c CONF`: runs the gateway in the foreground
 * until SIGINT or SIGTERM, then stops cleanly (exchanges in flight finish,
 * the store is drained and closed).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "app/commands.h"
#include "app/gateway.h"
#include "core/config.h"
#include "core/log.h"

struct serve {
  uv_signal_t sigint, sigterm;
  struct gateway *gw;
  int stopping;
};

static void on_stopped(void *arg) {
  struct serve *s = arg;
  uv_close((uv_handle_t *)&s->sigint, NULL);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  struct serve *s = h->data;
  if (s->stopping)
    return;
  s->stopping = 1;
  cg_info("received %s", signum == SIGINT ? "SIGINT" : "SIGTERM");
  gateway_stop(s->gw, on_stopped, s);
}

int cmd_serve(int argc, char **argv) {
  const char *conf = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc)
      conf = argv[++i];
    else if (!strcmp(argv[i], "-v"))
      cg_log_set_level(CG_LOG_DEBUG);
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
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0)
    return 1;
  struct serve s = {0};
  if (gateway_start(&loop, &cfg, &s.gw) != 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 1;
  }
  uv_signal_init(&loop, &s.sigint);
  uv_signal_init(&loop, &s.sigterm);
  s.sigint.data = s.sigterm.data = &s;
  uv_signal_start(&s.sigint, on_signal, SIGINT);
  uv_signal_start(&s.sigterm, on_signal, SIGTERM);
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop);
  if (rc != 0)
    cg_error("loop closed with handles still open: %s", uv_strerror(rc));
  return rc == 0 ? 0 : 1;
}
