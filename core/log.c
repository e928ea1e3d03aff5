/*
 * log.c - formatted one-line records on stderr.  The record is formatted into
 * a local buffer first and written with one call, so lines from different
 * threads do not interleave.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "core/der.h"

static enum cg_log_level min_level = CG_LOG_INFO;

void cg_log_set_level(enum cg_log_level level) { min_level = level; }

void cg_log(enum cg_log_level level, const char *fmt, ...) {
  static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  if (level < min_level)
    return;
  char line[1024];
  char ts[21];
  cg_iso8601((int64_t)time(NULL), ts);
  int n = snprintf(line, sizeof line, "%s %s ", ts, names[level]);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2)
    len = sizeof line - 2;
  line[len++] = '\n';
  fwrite(line, 1, len, stderr);
}
