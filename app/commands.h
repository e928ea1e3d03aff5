/*
 * commands.h - the subcommands of `cmpgw`.  Each takes its own argv (argv[0]
 * is the subcommand name) and returns the process exit status.
 */
#ifndef CG_APP_COMMANDS_H
#define CG_APP_COMMANDS_H

int cmd_init(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_secret(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_reject(int argc, char **argv);
int cmd_client(int argc, char **argv);
int cmd_tx(int argc, char **argv);
int cmd_certs(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_db(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_operator(int argc, char **argv);

#endif
