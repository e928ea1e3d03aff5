/*
 * log.h - one-line log records on stderr: "2026-01-01T00:00:00Z LEVEL msg".
 * Thread-safe (one fprintf per record).
 */
#ifndef CG_CORE_LOG_H
#define CG_CORE_LOG_H

enum cg_log_level { CG_LOG_DEBUG, CG_LOG_INFO, CG_LOG_WARN, CG_LOG_ERROR };

void cg_log_set_level(enum cg_log_level level);
void cg_log(enum cg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define cg_debug(...) cg_log(CG_LOG_DEBUG, __VA_ARGS__)
#define cg_info(...) cg_log(CG_LOG_INFO, __VA_ARGS__)
#define cg_warn(...) cg_log(CG_LOG_WARN, __VA_ARGS__)
#define cg_error(...) cg_log(CG_LOG_ERROR, __VA_ARGS__)

#endif
