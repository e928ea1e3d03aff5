/*
 * bench.h - what the parts of `cmpgw bench` share (bench.c), and their
 * entry points: cmd_bench.c (the command and `bench store`), bench_cmp.c
 * (`bench cmp`), bench_crypto.c (`bench crypto`).
 */
#ifndef CG_APP_BENCH_H
#define CG_APP_BENCH_H

#include <stdbool.h>

/* Seconds on the monotonic clock. */
double bench_now(void);
/* A decimal number up to max; false when s is not one. */
bool bench_number(const char *s, unsigned long max, unsigned long *out);
/* `cmpgw bench cmp ...` (argv[1] is "cmp"). */
int bench_cmp(int argc, char **argv);
/* `cmpgw bench crypto ...`. */
int bench_crypto(int argc, char **argv);

#endif
