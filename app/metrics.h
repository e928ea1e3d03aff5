/*
 * metrics.h - the gateway's own counters for the admin listener's /metrics
 * (docs/operations.md lists every series): exchanges by transport, profile,
 * request and answer type, PKIStatus and failInfo, with a latency histogram
 * per transport and request type; CA backend calls by backend, operation and
 * outcome, with theirs.  Counters never reset while the process lives.
 * Loop thread only.
 */
#ifndef CG_APP_METRICS_H
#define CG_APP_METRICS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum gw_transport { GW_HTTP, GW_HTTPS, GW_TCP, GW_COAP, GW_APPROVAL, GW_TRANSPORTS };
/* "http", "https", "tcp", "coap", "approval": as logs and metrics name it. */
const char *gw_transport_name(enum gw_transport t);

struct gw_metrics;

/* NULL when out of memory. */
struct gw_metrics *gw_metrics_new(void);
void gw_metrics_free(struct gw_metrics *m);

/* One exchange answered (rsp "none" when it was dropped): status the
 * PKIStatus (-1: none), fail_info the PKIFailureInfo bit (-1: none). */
void gw_metrics_exchange(struct gw_metrics *m, enum gw_transport t, const char *profile,
                         const char *req, const char *rsp, int status, int fail_info,
                         double seconds);
/* One call to a CA backend: op "issue", "revoke", "forward" or "crl";
 * outcome "ok", "waiting", "refused" (the CA's answer to the device) or
 * "error" (the CA or the way to it failed). */
void gw_metrics_backend(struct gw_metrics *m, const char *backend, const char *op,
                        const char *outcome, double seconds);

/* Appends the exposition of these counters (Prometheus text format 0.0.4)
 * to out.  0 or CG_ENOMEM. */
int gw_metrics_render(const struct gw_metrics *m, struct cg_buf *out);

/* Appends the text fmt makes, however long.  0 or CG_ENOMEM. */
int gw_metrics_vprintf(struct cg_buf *out, const char *fmt, va_list ap);
/* A label value as the text format wants it: \\, \" and \n escaped. */
void gw_metrics_label(char *out, size_t cap, const char *value);

#endif
