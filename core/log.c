/*
 * log.c - formatted one-line records on stderr.  The record is formatted into
 * a local buffer first and written with one call, so lines from different
 * threads do not interleave.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/time.h"

/* Set on the loop (start, reload), read by every thread. */
static _Atomic int min_level = CG_LOG_INFO;

void cg_log_set_level(enum cg_log_level level) { min_level = level; }

static _Atomic int format = CG_LOG_TEXT;

void cg_log_set_format(enum cg_log_format f) { format = f; }

/* Appends s as the inside of a JSON string: '"', '\\' and control octets
 * escaped, valid UTF-8 kept, any other octet as U+FFFD, so that every line
 * is valid JSON whatever a peer sent. */
size_t cg_json_escape(char *out, size_t len, size_t cap, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n && len + 12 < cap;) {
    unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      out[len++] = '\\';
      out[len++] = (char)c;
      i++;
    } else if (c < 0x20 || c == 0x7f) {
      len += (size_t)snprintf(out + len, cap - len, "\\u%04x", c);
      i++;
    } else if (c < 0x80) {
      out[len++] = (char)c;
      i++;
    } else {
      /* the length of a well-formed UTF-8 sequence starting here, or 0 */
      size_t k = c >= 0xc2 && c <= 0xdf   ? 2
                 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4
                                          : 0;
      for (size_t j = 1; j < k; j++)
        if (i + j >= n || (p[i + j] & 0xc0) != 0x80)
          k = 0;
      if (k == 3 && ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0)))
        k = 0; /* overlong, or a surrogate */
      if (k == 4 && ((c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] >= 0x90)))
        k = 0;
      if (k == 0) {
        len += (size_t)snprintf(out + len, cap - len, "\\ufffd");
        i++;
      } else {
        memcpy(out + len, p + i, k);
        len += k;
        i += k;
      }
    }
  }
  return len;
}

/* One record.  As text: the message formatted, then every control octet in
 * it written as \xNN, so no value in it (a peer's, a file's) can end the
 * line early and forge the next one.  As JSON: an object with the message
 * and the fields, escaped. */
static void emit(enum cg_log_level level, unsigned suppressed, int64_t window,
                 const struct cg_log_field *fields, size_t n_fields, const char *fmt, va_list ap) {
  static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  static const char *const json_names[] = {"debug", "info", "warn", "error"};
  char text[1024], line[4096];
  int m = vsnprintf(text, sizeof text, fmt, ap);
  size_t tlen = m < 0 ? 0 : (size_t)m < sizeof text ? (size_t)m : sizeof text - 1;
  char ts[21];
  cg_time_iso8601((int64_t)time(NULL), ts);
  size_t len;
  if (format == CG_LOG_JSON) {
    len = (size_t)snprintf(line, sizeof line, "{\"ts\": \"%s\", \"level\": \"%s\", \"msg\": \"", ts,
                           json_names[level]);
    len = cg_json_escape(line, len, sizeof line - 64, text, tlen);
    len += (size_t)snprintf(line + len, sizeof line - len, "\"");
    for (size_t i = 0; i < n_fields && len < sizeof line - 64; i++) {
      len += (size_t)snprintf(line + len, sizeof line - len, ", \"%s\": ", fields[i].key);
      if (fields[i].str != NULL) {
        line[len++] = '"';
        len = cg_json_escape(line, len, sizeof line - 64, fields[i].str, strlen(fields[i].str));
        line[len++] = '"';
      } else {
        len += (size_t)snprintf(line + len, sizeof line - len, "%.10g", fields[i].num);
      }
    }
    if (suppressed > 0)
      len += (size_t)snprintf(line + len, sizeof line - len,
                              ", \"suppressed\": %u, \"suppressed_seconds\": %lld", suppressed,
                              (long long)window);
    len += (size_t)snprintf(line + len, sizeof line - len, "}\n");
    fwrite(line, 1, len, stderr);
    return;
  }
  len = (size_t)snprintf(line, sizeof line, "%s %s ", ts, names[level]);
  for (size_t i = 0; i < tlen && len < sizeof line - 120; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (ch < 0x20 || ch == 0x7f)
      len += (size_t)snprintf(line + len, sizeof line - len, "\\x%02x", ch);
    else
      line[len++] = (char)ch;
  }
  if (suppressed > 0)
    len +=
        (size_t)snprintf(line + len, sizeof line - len, " (and %u more like it in the last %llds)",
                         suppressed, (long long)window);
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
  if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed) || level >= CG_LOG_OFF)
    return;
  va_list ap;
  va_start(ap, fmt);
  emit(level, 0, 0, NULL, 0, fmt, ap);
  va_end(ap);
}

void cg_log_fields(enum cg_log_level level, const struct cg_log_field *fields, size_t n,
                   const char *fmt, ...) {
  if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed) || level >= CG_LOG_OFF)
    return;
  va_list ap;
  va_start(ap, fmt);
  emit(level, 0, 0, fields, n, fmt, ap);
  va_end(ap);
}

void cg_log_limited(struct cg_log_limit *l, unsigned every, enum cg_log_level level,
                    const char *fmt, ...) {
  if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed) || level >= CG_LOG_OFF)
    return;
  int64_t now = (int64_t)time(NULL);
  if (l->last != 0 && now - l->last < (int64_t)every) {
    l->suppressed++;
    return;
  }
  unsigned suppressed = l->suppressed;
  int64_t window = now - l->last;
  l->last = now;
  l->suppressed = 0;
  va_list ap;
  va_start(ap, fmt);
  emit(level, suppressed, window, NULL, 0, fmt, ap);
  va_end(ap);
}
