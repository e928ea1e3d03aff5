/*
 * log.h - one-line log records on stderr, as text,
 *   2026-01-01T00:00:00Z LEVEL msg
 * or as JSON ([log] format = json), one object per line:
 *   {"ts": "2026-01-01T00:00:00Z", "level": "info", "msg": "...", ...}
 * with the fields of docs/operations.md ("Logs").  Thread-safe (one write per
 * record).
 */
#ifndef CG_CORE_LOG_H
#define CG_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>

/* CG_LOG_OFF only as a level to set: nothing is logged (the fuzz targets). */
enum cg_log_level { CG_LOG_DEBUG, CG_LOG_INFO, CG_LOG_WARN, CG_LOG_ERROR, CG_LOG_OFF };

enum cg_log_format { CG_LOG_TEXT, CG_LOG_JSON };

void cg_log_set_level(enum cg_log_level level);
void cg_log_set_format(enum cg_log_format format);
void cg_log(enum cg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A record that may repeat many times a second (a full disk fails every
 * commit, a flood of refused connections): at most one line per `every`
 * seconds per limiter, and the next one says how many were left out.  A
 * limiter belongs to one thread. */
struct cg_log_limit {
  int64_t last;        /* when the last record was written (seconds) */
  unsigned suppressed; /* records left out since */
};
void cg_log_limited(struct cg_log_limit *l, unsigned every, enum cg_log_level level,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A value from outside (a peer's reference, a subject, a CA's text) as a
 * log line shows it: as it is when it is one plain word, otherwise in double
 * quotes with '"', '\' and every octet outside printable ASCII escaped
 * (\xNN), so that it cannot pass for a field or a record of its own.  Writes
 * into out (truncating with "..." inside the quotes) and returns it. */
#define CG_LOG_VALUE_MAX 160
const char *cg_log_value(char out[CG_LOG_VALUE_MAX], const char *s);

/* Appends n octets of s to out (holding len of cap octets) as the inside of
 * a JSON string: '"', '\\' and control octets escaped, valid UTF-8 kept,
 * any other octet as U+FFFD; stops 12 octets short of cap.  Returns the new
 * length. */
size_t cg_json_escape(char *out, size_t len, size_t cap, const char *s, size_t n);

/* A field of a structured record: a string (str, any octets: escaped as
 * JSON wants them), or a number (str NULL). */
struct cg_log_field {
  const char *key;
  const char *str;
  double num;
};
/* A record with fields: as text, the message alone (which says what the
 * fields say); as JSON, the message and every field beside it. */
void cg_log_fields(enum cg_log_level level, const struct cg_log_field *fields, size_t n,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define cg_debug(...) cg_log(CG_LOG_DEBUG, __VA_ARGS__)
#define cg_info(...) cg_log(CG_LOG_INFO, __VA_ARGS__)
#define cg_warn(...) cg_log(CG_LOG_WARN, __VA_ARGS__)
#define cg_error(...) cg_log(CG_LOG_ERROR, __VA_ARGS__)

#endif
