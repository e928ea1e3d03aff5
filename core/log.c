/*
 * log.c - formatted one-line records on stderr.  The record is formatted into
 * a local buffer first and written with one call, so lines from different
 * threads do not interleave.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/time.h"

static enum cg_log_level min_level = CG_LOG_INFO;

void cg_log_set_level(enum cg_log_level level) { min_level = level; }

/* One record: the text is formatted, then every control octet in it is
 * written as \xNN, so no value in it (a peer's, a file's) can end the line
 * early and forge the next one. */
static void emit(enum cg_log_level level, const char *suffix, const char *fmt, va_list ap) {
  static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  char text[1024], line[1100];
  int m = vsnprintf(text, sizeof text, fmt, ap);
  size_t tlen = m < 0 ? 0 : (size_t)m < sizeof text ? (size_t)m : sizeof text - 1;
  char ts[21];
  cg_time_iso8601((int64_t)time(NULL), ts);
  size_t len = (size_t)snprintf(line, sizeof line, "%s %s ", ts, names[level]);
  for (size_t i = 0; i < tlen && len < sizeof line - 6; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (ch < 0x20 || ch == 0x7f)
      len += (size_t)snprintf(line + len, sizeof line - len, "\\x%02x", ch);
    else
      line[len++] = (char)ch;
  }
  for (const char *p = suffix; *p && len < sizeof line - 1; p++)
    line[len++] = *p;
  line[len++] = '\n';
  fwrite(line, 1, len, stderr);
}

static bool plain(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         strchr("-_.:/@+", ch) != NULL;
}

const char *cg_log_value(char out[CG_LOG_VALUE_MAX], const char *s) {
  size_t n = 0;
  bool quote = s[0] == 0;
  for (const char *p = s; *p && !quote; p++)
    quote = !plain((unsigned char)*p);
  if (!quote && strlen(s) < CG_LOG_VALUE_MAX) {
    memcpy(out, s, strlen(s) + 1);
    return out;
  }
  out[n++] = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char piece[5];
    size_t k;
    if (*p == '"' || *p == '\\')
      k = (size_t)snprintf(piece, sizeof piece, "\\%c", *p);
    else if (*p < 0x20 || *p >= 0x7f)
      k = (size_t)snprintf(piece, sizeof piece, "\\x%02x", *p);
    else
      piece[0] = (char)*p, k = 1;
    if (n + k > CG_LOG_VALUE_MAX - 5) { /* room for ...", NUL */
      memcpy(out + n, "...", 3);
      n += 3;
      break;
    }
    memcpy(out + n, piece, k);
    n += k;
  }
  out[n++] = '"';
  out[n] = 0;
  return out;
}

void cg_log(enum cg_log_level level, const char *fmt, ...) {
  if (level < min_level || level >= CG_LOG_OFF)
    return;
  va_list ap;
  va_start(ap, fmt);
  emit(level, "", fmt, ap);
  va_end(ap);
}

void cg_log_limited(struct cg_log_limit *l, unsigned every, enum cg_log_level level,
                    const char *fmt, ...) {
  if (level < min_level || level >= CG_LOG_OFF)
    return;
  int64_t now = (int64_t)time(NULL);
  if (l->last != 0 && now - l->last < (int64_t)every) {
    l->suppressed++;
    return;
  }
  char suffix[80] = "";
  if (l->suppressed > 0)
    snprintf(suffix, sizeof suffix, " (and %u more like it in the last %llds)", l->suppressed,
             (long long)(now - l->last));
  l->last = now;
  l->suppressed = 0;
  va_list ap;
  va_start(ap, fmt);
  emit(level, suffix, fmt, ap);
  va_end(ap);
}
