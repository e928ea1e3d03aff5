/*
 * bench.c - what the parts of `cmpgw bench` share (app/bench.h).
 */
#include "app/bench.h"

#include <stdlib.h>
#include <time.h>

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool bench_number(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  if (s == NULL || *s < '0' || *s > '9')
    return false;
  unsigned long v = strtoul(s, &end, 10);
  if (*end != '\0' || v > max)
    return false;
  *out = v;
  return true;
}
