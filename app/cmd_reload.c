/*
 * cmd_reload.c - `cmpgw reload -c CONF`: checks that CONF loads, then sends
 * SIGHUP to every `cmpgw serve` running with that file (found in /proc by
 * its command line, the path resolved against the process's working
 * directory), so that an operator need not look for the PID.  What the
 * daemon then does is in its log (docs/operations.md, "Reloading").
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/commands.h"
#include "core/config.h"

/* The file `serve -c` names in a process's command line, made absolute
 * against its working directory and resolved; false when it is not a
 * `cmpgw serve -c FILE`. */
static bool served_file(const char *pid, char *out, size_t cap) {
  char path[320], args[4096], cwd[PATH_MAX], joined[2 * PATH_MAX];
  snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return false;
  size_t n = fread(args, 1, sizeof args - 1, f);
  fclose(f);
  args[n] = 0;
  /* NUL-separated: argv[0], "serve", "-c", FILE (or options between) */
  const char *argv[16];
  size_t argc = 0;
  for (size_t i = 0; i < n && argc < 16; i += strlen(args + i) + 1)
    argv[argc++] = args + i;
  const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
  base = base != NULL ? base + 1 : argc > 0 ? argv[0] : "";
  if (argc < 4 || strcmp(base, "cmpgw") != 0 || strcmp(argv[1], "serve") != 0)
    return false;
  const char *file = NULL;
  for (size_t i = 2; i + 1 < argc; i++)
    if (strcmp(argv[i], "-c") == 0)
      file = argv[i + 1];
  if (file == NULL)
    return false;
  snprintf(path, sizeof path, "/proc/%s/cwd", pid);
  ssize_t m = readlink(path, cwd, sizeof cwd - 1);
  if (m < 0)
    return false;
  cwd[m] = 0;
  if (file[0] == '/')
    snprintf(joined, sizeof joined, "%s", file);
  else
    snprintf(joined, sizeof joined, "%s/%s", cwd, file);
  return realpath(joined, out) != NULL && strlen(out) < cap;
}

int cmd_reload(int argc, char **argv) {
  const char *conf = argc == 3 && !strcmp(argv[1], "-c") ? argv[2] : NULL;
  if (conf == NULL) {
    fprintf(stderr, "usage: cmpgw reload -c CONF\n");
    return 2;
  }
  /* A file that does not load would be refused by the daemon anyway: say so
   * here, where the operator is looking. */
  static struct cg_config cfg;
  if (cg_config_load(conf, &cfg) != 0) {
    fprintf(stderr, "cmpgw reload: %s does not load; nothing sent\n", conf);
    return 1;
  }
  char want[PATH_MAX], got[PATH_MAX];
  if (realpath(conf, want) == NULL) {
    fprintf(stderr, "cmpgw reload: %s: %s\n", conf, strerror(errno));
    return 1;
  }
  DIR *d = opendir("/proc");
  if (d == NULL) {
    fprintf(stderr, "cmpgw reload: cannot read /proc: %s\n", strerror(errno));
    return 1;
  }
  int sent = 0, failed = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9' || !served_file(e->d_name, got, sizeof got) ||
        strcmp(got, want) != 0)
      continue;
    pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
    if (kill(pid, SIGHUP) == 0) {
      printf("sent SIGHUP to cmpgw serve (PID %d); its log says what it reloaded\n", (int)pid);
      sent++;
    } else {
      fprintf(stderr, "cmpgw reload: cannot signal PID %d: %s\n", (int)pid, strerror(errno));
      failed++;
    }
  }
  closedir(d);
  if (sent == 0 && failed == 0)
    fprintf(stderr, "cmpgw reload: no cmpgw serve -c %s is running\n", want);
  return sent > 0 && failed == 0 ? 0 : 1;
}
