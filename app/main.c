/*
 * main.c - the `cmpgw` command: one binary, one subcommand per file
 * (cmd_*.c).
 */
#include <stdio.h>
#include <string.h>

#include "app/commands.h"

static const struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
} commands[] = {
    {"init", cmd_init, "init DIR [--http HOST:PORT] [--tcp HOST:PORT] [--admin HOST:PORT]\n"
                       "        create a demo deployment (CA, RA credentials, config, database)"},
    {"serve", cmd_serve, "serve -c CONF\n        run the gateway in the foreground"},
    {"secret", cmd_secret, "secret new -c CONF [--profile NAME] [--ref REF] [--json]\n"
                           "        create a shared secret for a device (printed once)"},
    {"client", cmd_client, "client ir|cr|kur|p10cr|rr|genm --url URL ...\n        one CMP transaction"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: cmpgw COMMAND [OPTIONS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %s\n", commands[i].help);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name))
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "cmpgw: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
