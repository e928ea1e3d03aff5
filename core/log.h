/*
 * log.h - one-line log records on stderr: "2026-01-01T00:00:00Z LEVEL msg".
 * Thread-safe (one fprintf per record).
 */
#ifndef CG_CORE_LOG_H
#define CG_CORE_LOG_H

#include <stdint.h>

/* CG_LOG_OFF only as a level to set: nothing is logged (the fuzz targets). */
enum cg_log_level { CG_LOG_DEBUG, CG_LOG_INFO, CG_LOG_WARN, CG_LOG_ERROR, CG_LOG_OFF };

void cg_log_set_level(enum cg_log_level level);
void cg_log(enum cg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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

#define cg_debug(...) cg_log(CG_LOG_DEBUG, __VA_ARGS__)
#define cg_info(...) cg_log(CG_LOG_INFO, __VA_ARGS__)
#define cg_warn(...) cg_log(CG_LOG_WARN, __VA_ARGS__)
#define cg_error(...) cg_log(CG_LOG_ERROR, __VA_ARGS__)

#endif
