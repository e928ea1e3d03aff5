/*
 * console_pages.c - what a console job does on a worker (console_int.h):
 * its reads and writes through the console's own connections, and its
 * page.  Every value from the database or a device goes through %s
 * (app/html.h): a subject of "<script>alert(1)</script>" shows as text.
 * The pages have no script at all; charts are SVG drawn here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "app/console_int.h"
#include "app/secrets.h"
#include "cmp/msg.h"
#include "cmp/p10.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/password.h"
#include "core/time.h"
#include "core/x509.h"
#include "store/store.h"

#include <qrencode.h>

const char con_css[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2329;background:#f5f6f8}"
    "header{background:#1f3a5f;color:#fff;display:flex;align-items:center;gap:1.2em;"
    "padding:.6em 1.2em}header a{color:#fff;text-decoration:none}header .who{margin-left:auto}"
    "header form{display:inline}main{padding:1em 1.5em;max-width:1200px}"
    "h1{font-size:1.35em;margin:.3em 0 .8em}h2{font-size:1.1em;margin:1.4em 0 .5em}"
    "table{border-collapse:collapse;background:#fff;width:100%}"
    "th,td{border-bottom:1px solid #dde1e6;padding:.35em .6em;text-align:left;vertical-align:top}"
    "th{background:#eef1f4;font-weight:600}td.num,th.num{text-align:right}"
    ".cards{display:flex;flex-wrap:wrap;gap:.8em}.card{background:#fff;border:1px solid #dde1e6;"
    "padding:.6em 1em;min-width:9em}.card b{display:block;font-size:1.6em}"
    ".bad{color:#a4161a}.ok{color:#1b7f3b}.muted{color:#6b7580}"
    "form.inline{display:inline}input,select,button{font:inherit;padding:.25em .5em}"
    "button{cursor:pointer}button.danger{background:#a4161a;color:#fff;border:0}"
    "button.go{background:#1f3a5f;color:#fff;border:0}.login{max-width:22em;margin:4em auto;"
    "background:#fff;border:1px solid #dde1e6;padding:1.5em}.login label{display:block;"
    "margin:.6em 0 .2em}.login input{width:100%;box-sizing:border-box}.msg{padding:.5em .8em;"
    "background:#fff4d6;border:1px solid #e7c86a;margin:.6em 0}pre{background:#fff;"
    "border:1px solid #dde1e6;padding:.8em;overflow:auto}dl{display:grid;"
    "grid-template-columns:12em 1fr;gap:.3em 1em;background:#fff;padding:1em;"
    "border:1px solid #dde1e6}dt{font-weight:600}dd{margin:0;word-break:break-all}"
    "svg text{font:11px system-ui,sans-serif;fill:#4a545e}.pager{margin:.8em 0}\n";

enum con_role con_role_of(const char *name) {
  return !strcmp(name, "admin")      ? ROLE_ADMIN
         : !strcmp(name, "operator") ? ROLE_OPERATOR
         : !strcmp(name, "viewer")   ? ROLE_VIEWER
                                     : ROLE_NONE;
}

static const char *role_name(enum con_role r) {
  return r == ROLE_ADMIN ? "admin" : r == ROLE_OPERATOR ? "operator" : "viewer";
}

/* ---- layout ------------------------------------------------------------------ */

static void head(struct html *h, const char *title) {
  html_fmt(h,
           "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           "<title>%s - cmpgw</title><link rel=\"stylesheet\" href=\"/static/console.css\">"
           "</head><body>",
           title);
}

static void begin(struct con_job *j, const char *title) {
  struct html *h = &j->out;
  head(h, title);
  html_fmt(h,
           "<header><a href=\"/\"><strong>cmpgw</strong></a><a href=\"/\">Dashboard</a>"
           "<a href=\"/approvals\">Approvals</a><a href=\"/certs\">Certificates</a>"
           "<a href=\"/secrets\">Secrets</a>%M"
           "<span class=\"who\">%s (%s)</span>"
           "<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" "
           "value=\"%s\"><button type=\"submit\" id=\"logout\">Log out</button></form></header>"
           "<main><h1>%s</h1>",
           j->role >= ROLE_ADMIN ? "<a href=\"/config\">Configuration</a>" : "", j->op,
           role_name(j->role), j->csrf, title);
}

static void end(struct con_job *j) { html_fmt(&j->out, "</main></body></html>\n"); }

void con_login_page(struct html *h, const char *message, const char *cert_name) {
  head(h, "Log in");
  html_fmt(h, "<div class=\"login\"><h1>cmpgw console</h1>");
  if (message != NULL)
    html_fmt(h, "<p class=\"msg\" id=\"message\">%s</p>", message);
  if (cert_name != NULL)
    html_fmt(h, "<form method=\"post\" action=\"/login/cert\"><p><button class=\"go\" "
                "type=\"submit\" id=\"login-cert\">Log in as %s with your certificate</button>"
                "</p></form><p class=\"muted\">or with a password:</p>",
             cert_name);
  html_fmt(h, "<form method=\"post\" action=\"/login\">"
              "<label for=\"name\">Name</label><input id=\"name\" name=\"name\" "
              "autocomplete=\"username\" required autofocus>"
              "<label for=\"password\">Password</label><input id=\"password\" name=\"password\" "
              "type=\"password\" autocomplete=\"current-password\" required>"
              "<p><button class=\"go\" type=\"submit\" id=\"login\">Log in</button></p>"
              "</form></div></body></html>\n");
}

static void error_page(struct con_job *j, int status, const char *title, const char *text) {
  html_free(&j->out);
  html_init(&j->out, 1 << 16);
  j->status = status;
  begin(j, title);
  html_fmt(&j->out, "<p class=\"msg\">%s</p>", text);
  end(j);
}

static void store_error(struct con_job *j, int err) {
  cg_warn("console: a page for %s failed: %s", j->op, cg_strerror(err));
  error_page(j, err == CG_EBUSY ? 503 : 500, "The database did not answer",
             err == CG_EBUSY ? "The database stayed locked; try again in a moment."
                             : "Reading the database failed; the daemon's log says why.");
}

static void see_other(struct con_job *j, const char *fmt, const char *arg) {
  j->status = 303;
  j->ctype = "text/plain; charset=utf-8";
  char where[200];
  snprintf(where, sizeof where, fmt, arg);
  snprintf(j->headers, sizeof j->headers, "Location: %s\r\n", where);
}

/* ---- login ---------------------------------------------------------------------- */

/* A hash checked when the name is unknown, so that an unknown name takes as
 * long as a wrong password. */
static const char dummy_hash[] = "pbkdf2-sha256$600000$00000000000000000000000000000000$"
                                 "0000000000000000000000000000000000000000000000000000000000000000";

static void do_login(struct con_job *j) {
  struct cg_query_operator op;
  size_t len = strlen(j->text);
  int err = cg_query_operator(j->writer, j->p1, &op);
  if (err != 0) {
    if (!j->cert_login)
      (void)cg_password_verify(j->text, len, dummy_hash);
    if (err != CG_ENOT_FOUND)
      cg_warn("console: login of %s: %s", j->p1, cg_strerror(err));
    else
      cg_info("console: login refused: no operator named %.64s", j->p1);
    return;
  }
  char now[CG_QUERY_TIME];
  cg_time_iso8601(j->now, now);
  if (op.locked_until[0] != '\0' && strcmp(op.locked_until, now) > 0) {
    if (!j->cert_login)
      (void)cg_password_verify(j->text, len, dummy_hash);
    j->login_locked = true;
    cg_info("console: login of %s refused: locked until %s", op.name, op.locked_until);
    return;
  }
  /* A certificate that chained to tls_client_anchors and names the operator
   * is the login; a password is checked against its hash. */
  bool good = j->cert_login || cg_password_verify(j->text, len, op.password_hash);
  bool locked = false;
  err = cg_query_operator_login(j->writer, op.name, good, j->now, 5, 900, &locked);
  if (err != 0) {
    cg_warn("console: recording the login of %s: %s", op.name, cg_strerror(err));
    return;
  }
  j->login_locked = locked;
  j->login_ok = good;
  memcpy(j->op, op.name, sizeof j->op);
  j->login_role = con_role_of(op.role);
  if (!good)
    cg_info("console: login of %s refused: wrong password%s", op.name,
            locked ? "; locked for 15 minutes" : "");
  else if (j->cert_login)
    cg_info("console: %s logs in with a client certificate", op.name);
}

/* ---- dashboard ------------------------------------------------------------------- */

static void card(struct html *h, const char *label, int64_t v, const char *cls, const char *id) {
  html_fmt(h, "<div class=\"card\" id=\"%s\"><b class=\"%M\">%lld</b>%s</div>", id, cls,
           (long long)v, label);
}

/* The last 24 hours as stacked bars: enrolments, renewals, revocations;
 * failures as a red mark on each bar. */
static void chart(struct html *h, const struct cg_query_dashboard *d) {
  int64_t max = 1;
  for (int i = 0; i < CG_QUERY_HOURS; i++) {
    int64_t t = d->enrolments[i] + d->renewals[i] + d->revocations[i];
    if (t > max)
      max = t;
  }
  const int W = 720, H = 180, left = 40, bottom = 20, bar = (W - left) / CG_QUERY_HOURS;
  html_fmt(h,
           "<svg id=\"activity\" viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
           "aria-label=\"transactions per hour, last 24 hours\" "
           "xmlns=\"http://www.w3.org/2000/svg\"><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
           "<text x=\"2\" y=\"12\">%lld</text><text x=\"2\" y=\"%d\">0</text>",
           W, H + bottom, W, H + bottom, (long long)max, H);
  for (int i = 0; i < CG_QUERY_HOURS; i++) {
    int64_t parts[3] = {d->enrolments[i], d->renewals[i], d->revocations[i]};
    static const char *const fill[3] = {"#1f3a5f", "#4f86c6", "#e0a030"};
    int y = H, x = left + i * bar;
    for (int k = 0; k < 3; k++) {
      int ph = (int)(parts[k] * (H - 10) / max);
      if (ph <= 0)
        continue;
      y -= ph;
      html_fmt(h, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%M\"/>", x, y,
               bar - 2, ph, fill[k]);
    }
    if (d->failures[i] > 0) {
      int fh = (int)(d->failures[i] * (H - 10) / max);
      html_fmt(h, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#a4161a\"/>", x,
               H - (fh > 0 ? fh : 1), (bar - 2) / 3, fh > 0 ? fh : 1);
    }
    if (i % 6 == 0)
      html_fmt(h, "<text x=\"%d\" y=\"%d\">-%dh</text>", x, H + 14, CG_QUERY_HOURS - 1 - i);
  }
  html_fmt(h, "<text x=\"%d\" y=\"%d\">now</text></svg>"
              "<p class=\"muted\">Per hour: enrolments (dark blue), renewals (light blue), "
              "revocations (amber); failures in red.</p>",
           left + (CG_QUERY_HOURS - 1) * bar, H + 14);
}

static void do_dashboard(struct con_job *j) {
  if (!j->dash_cached) {
    uint64_t t0 = uv_hrtime();
    int err = cg_query_dashboard(j->reader, j->now, &j->dash);
    if (err != 0) {
      store_error(j, err);
      return;
    }
    j->dash_fresh = true;
    j->dash_read_ms = (uv_hrtime() - t0) / 1000000;
  }
  const struct cg_query_dashboard d = j->dash;
  struct html *h = &j->out;
  begin(j, "Dashboard");
  if (j->dash_cached)
    html_fmt(h, "<p class=\"muted\" id=\"as-of\">Counted %u0 s ago (counts are read at most "
                "every %u0 s).</p>",
             j->dash_age_s, j->dash_keep_s);
  else
    html_fmt(h, "<p class=\"muted\" id=\"as-of\">Counted now.</p>");
  html_fmt(h, "<div class=\"cards\">");
  card(h, "waiting for approval", d.pending_approval, d.pending_approval ? "bad" : "",
       "pending");
  card(h, "waiting for the CA", d.pending_ca, "", "pending-ca");
  card(h, "valid certificates", d.certs_valid, "ok", "valid");
  card(h, "expire in 30 days", d.expiring_30d, d.expiring_30d ? "bad" : "", "expiring");
  card(h, "revoked", d.certs_revoked, "", "revoked");
  card(h, "secrets in use", d.secrets_active, "", "secrets");
  card(h, "secrets locked", d.secrets_locked, d.secrets_locked ? "bad" : "", "locked");
  html_fmt(h, "</div><h2>The last 24 hours</h2>");
  chart(h, &d);
  html_fmt(h, "<h2>Failures by failInfo (24 h)</h2><table id=\"failures\"><tr><th>failInfo</th>"
              "<th class=\"num\">transactions</th></tr>");
  bool any = false;
  for (int b = 0; b <= CG_QUERY_FAILINFO_BITS; b++) {
    if (d.by_failinfo[b] == 0)
      continue;
    const char *name = b < CG_QUERY_FAILINFO_BITS ? cli_failinfo_name(b) : NULL;
    html_fmt(h, "<tr><td>%s</td><td class=\"num\">%lld</td></tr>",
             name != NULL ? name : "(none given)", (long long)d.by_failinfo[b]);
    any = true;
  }
  if (!any)
    html_fmt(h, "<tr><td colspan=\"2\" class=\"muted\">none</td></tr>");
  html_fmt(h, "</table><h2>By profile (24 h)</h2><table id=\"profiles\"><tr><th>profile</th>"
              "<th class=\"num\">transactions</th><th class=\"num\">failed</th></tr>");
  for (size_t i = 0; i < d.n_profiles; i++)
    html_fmt(h, "<tr><td>%s</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td></tr>",
             d.profile[i], (long long)d.profile_total[i], (long long)d.profile_failed[i]);
  if (d.n_profiles == 0)
    html_fmt(h, "<tr><td colspan=\"3\" class=\"muted\">no transactions</td></tr>");
  html_fmt(h, "</table><h2>Health</h2><table id=\"health\"><tr><th>part</th><th>state</th></tr>"
              "<tr><td>store</td><td class=\"ok\">answering</td></tr>");
  for (size_t i = 0; i < j->n_backends; i++)
    html_fmt(h, "<tr><td>backend %s</td><td class=\"%M\">%s</td></tr>", j->backend[i],
             j->backend_failing[i] ? "bad" : "ok",
             j->backend_failing[i] ? "its last call failed" : "answering");
  html_fmt(h, "</table>");
  end(j);
}

/* ---- approvals ------------------------------------------------------------------------ */

/* What a waiting request asks for, read from the request kept with it. */
static void request_summary(const struct cg_query_pending *p, char *subject, size_t scap,
                            char *sans, size_t ncap, char *key, size_t kcap) {
  snprintf(subject, scap, "?");
  sans[0] = key[0] = '\0';
  struct cmp_msg *m = p->request_der != NULL ? malloc(sizeof *m) : NULL;
  if (m == NULL || cmp_msg_decode(p->request_der, p->request_der_len, m) != 0) {
    free(m);
    return;
  }
  if ((m->type == CMP_IR || m->type == CMP_CR || m->type == CMP_KUR) && m->u.cert_req.n > 0) {
    const struct cmp_cert_template *t = &m->u.cert_req.req[0].tmpl;
    if (t->subject.p != NULL)
      cg_name_to_string(t->subject, subject, scap);
    if (t->extensions.p != NULL)
      cg_x509_san_string(t->extensions, sans, ncap);
    if (t->public_key.p != NULL) {
      /* [6] holds the SubjectPublicKeyInfo's contents: a SEQUENCE around them. */
      uint8_t spki[4096];
      struct der_writer w;
      cg_der_writer_init(&w, spki, sizeof spki);
      cg_der_put_tlv(&w, DER_SEQUENCE, t->public_key.p, t->public_key.len);
      if (w.err == 0)
        cg_spki_describe((struct der_view){spki, w.len}, key, kcap);
    }
  } else if (m->type == CMP_P10CR) {
    struct cmp_p10 r;
    if (cmp_p10_decode(m->content.p, m->content.len, &r) == 0) {
      cg_name_to_string(r.subject, subject, scap);
      if (r.extensions.p != NULL)
        cg_x509_san_string(r.extensions, sans, ncap);
      cg_spki_describe(r.spki, key, kcap);
    }
  }
  free(m);
}

/* Previous and next links around the page shown (shown rows; total in all,
 * -1 when not counted); the links are the URL fmt makes (html_fmt: its
 * values escaped) followed by the page number. */
static void pager(struct con_job *j, size_t shown, int64_t total, const char *fmt, ...) {
  struct html *h = &j->out;
  struct html base;
  html_init(&base, 16384);
  va_list ap;
  va_start(ap, fmt);
  html_vfmt(&base, fmt, ap);
  va_end(ap);
  const char *b = html_str(&base);
  if (b == NULL)
    h->failed = true;
  html_fmt(h, "<p class=\"pager\">");
  if (b != NULL && j->page_no > 0)
    html_fmt(h, "<a href=\"%M%zu\">previous</a> ", b, j->page_no - 1);
  html_fmt(h, "page %zu", j->page_no + 1);
  if (total >= 0)
    html_fmt(h, " of %lld", (long long)((total + CON_PAGE_ROWS - 1) / CON_PAGE_ROWS));
  if (b != NULL && shown == CON_PAGE_ROWS &&
      (total < 0 || (int64_t)((j->page_no + 1) * CON_PAGE_ROWS) < total))
    html_fmt(h, " <a href=\"%M%zu\">next</a>", b, j->page_no + 1);
  html_fmt(h, "</p>");
  html_free(&base);
}

static void do_approvals(struct con_job *j) {
  struct cg_query_pending *v;
  size_t n;
  int64_t total;
  int err = cg_query_pending(j->reader, j->page_no * CON_PAGE_ROWS, CON_PAGE_ROWS, &v, &n, &total);
  if (err != 0) {
    store_error(j, err);
    return;
  }
  struct html *h = &j->out;
  begin(j, "Approvals");
  html_fmt(h, "<p>%lld request(s) wait for an operator.</p><table id=\"approvals\"><tr>"
              "<th>transaction</th><th>profile</th><th>requester</th><th>type</th>"
              "<th>subject</th><th>SANs</th><th>key</th><th>since</th><th></th></tr>",
           (long long)total);
  for (size_t i = 0; i < n; i++) {
    char subject[1024], sans[1024], key[64];
    request_summary(&v[i], subject, sizeof subject, sans, sizeof sans, key, sizeof key);
    const struct cg_query_txn *t = &v[i].txn;
    html_fmt(h, "<tr data-txid=\"%s\"><td><a href=\"/tx/%u\">%s</a></td><td>%s</td><td>%s</td>"
                "<td>%s</td><td class=\"subject\">%s</td><td>%s</td><td>%s</td><td>%s</td><td>",
             t->transaction_id, t->transaction_id, t->transaction_id, t->profile, t->auth_ref,
             t->req_type, subject, sans, key, t->created_at);
    if (j->role >= ROLE_OPERATOR)
      html_fmt(h, "<form class=\"inline\" method=\"post\" action=\"/approvals/%u/approve\">"
                  "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                  "<button class=\"go\" type=\"submit\" name=\"approve\">Approve</button></form> "
                  "<form class=\"inline\" method=\"post\" action=\"/approvals/%u/reject\">"
                  "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                  "<input name=\"reason\" placeholder=\"reason\" maxlength=\"200\" required>"
                  "<button class=\"danger\" type=\"submit\" name=\"reject\">Reject</button></form>",
               t->transaction_id, j->csrf, t->transaction_id, j->csrf);
    html_fmt(h, "</td></tr>");
  }
  if (n == 0)
    html_fmt(h, "<tr><td colspan=\"9\" class=\"muted\">nothing waits</td></tr>");
  html_fmt(h, "</table>");
  pager(j, n, total, "/approvals?page=");
  end(j);
  cg_query_pending_free(v, n);
}

/* A line of text from a form: printable, at most 200 characters. */
static bool reason_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 200)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return false;
  return true;
}

static void do_decide(struct con_job *j) {
  char reason[sizeof j->text], detail[1200];
  if (!j->approve && !reason_ok(j->text)) {
    error_page(j, 400, "Not rejected", "A rejection needs a reason: one line, at most 200 "
                                       "characters.");
    return;
  }
  snprintf(reason, sizeof reason, "%s", j->approve ? "approved by the operator" : j->text);
  int err = cg_store_txn_decide(j->writer, j->p1, j->approve, reason, j->now);
  if (err == CG_ENOT_FOUND || err == CG_ESTATE) {
    error_page(j, 409, "Nothing to decide", "This transaction does not wait for an operator "
                                            "(decided already, expired, or unknown).");
    return;
  }
  if (err != 0) {
    store_error(j, err);
    return;
  }
  snprintf(detail, sizeof detail, "operator=%s decision=%s%s%s", j->op,
           j->approve ? "approved" : "rejected", j->approve ? "" : " reason=",
           j->approve ? "" : j->text);
  if ((err = cg_query_event_add(j->writer, j->now, j->p1, j->approve ? "console.approved"
                                                                     : "console.rejected",
                                detail)) != 0)
    cg_warn("console: recording who decided %s: %s", j->p1, cg_strerror(err));
  cg_info("console: %s %s transaction %s", j->op, j->approve ? "approved" : "rejected", j->p1);
  see_other(j, "/approvals?decided=%s", j->approve ? "approved" : "rejected");
}

/* ---- certificates ------------------------------------------------------------------------ */

static bool serial_like(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 2 * CMP_MAX_SERIAL + 40)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
          (s[i] >= 'A' && s[i] <= 'F') || s[i] == ':'))
      return false;
  return true;
}

static void cert_rows(struct html *h, const struct cg_query_cert *v, size_t n) {
  html_fmt(h, "<table id=\"certs\"><tr><th>serial</th><th>subject</th><th>SANs</th>"
              "<th>status</th><th>profile</th><th>not after</th></tr>");
  for (size_t i = 0; i < n; i++)
    html_fmt(h, "<tr data-serial=\"%s\"><td><a href=\"/certs/%u\">%s</a></td>"
                "<td class=\"subject\">%s</td><td>%s</td><td class=\"%M\">%s</td><td>%s</td>"
                "<td>%s</td></tr>",
             v[i].serial, v[i].serial, v[i].serial, v[i].subject, v[i].sans,
             !strcmp(v[i].status, "revoked") ? "bad" : "", v[i].status, v[i].profile,
             v[i].not_after);
  if (n == 0)
    html_fmt(h, "<tr><td colspan=\"6\" class=\"muted\">no certificate matches</td></tr>");
  html_fmt(h, "</table>");
}

static void do_certs(struct con_job *j) {
  const char *status = j->p2[0] && (!strcmp(j->p2, "valid") || !strcmp(j->p2, "unconfirmed") ||
                                    !strcmp(j->p2, "revoked"))
                           ? j->p2
                           : NULL;
  struct cg_query_cert *v = NULL;
  size_t n = 0;
  int err = 0;
  bool by_serial = serial_like(j->text) && strlen(j->text) >= 8;
  if (by_serial) {
    struct cg_query_cert one;
    err = cg_query_cert(j->reader, j->text, &one);
    if (err == 0) {
      see_other(j, "/certs/%s", one.serial);
      cg_query_cert_clear(&one);
      return;
    }
    if (err == CG_ENOT_FOUND || err == CG_EEXISTS)
      err = 0; /* then as a part of a subject */
  }
  if (j->error[0]) {
    error_page(j, 400, "Not searched", j->error);
    return;
  }
  struct cg_query_cert_filter f = {.subject = j->text[0] ? j->text : NULL,
                                   .status = status,
                                   .limit = CON_PAGE_ROWS,
                                   .offset = j->page_no * CON_PAGE_ROWS,
                                   .sans = j->san[0] ? j->san : NULL,
                                   .reference = j->ref[0] ? j->ref : NULL,
                                   .since = j->since[0] ? j->since : NULL,
                                   .until = j->until[0] ? j->until : NULL};
  if (err == 0)
    err = cg_query_certs(j->reader, &f, &v, &n);
  if (err != 0) {
    store_error(j, err);
    return;
  }
  struct html *h = &j->out;
  begin(j, "Certificates");
  html_fmt(h, "<form method=\"get\" action=\"/certs\" id=\"search\"><input name=\"q\" "
              "value=\"%s\" placeholder=\"part of the subject, or a serial\" size=\"40\"> "
              "<select name=\"status\"><option value=\"\">any status</option>",
           j->text);
  static const char *const statuses[] = {"valid", "unconfirmed", "revoked"};
  for (size_t i = 0; i < 3; i++)
    html_fmt(h, "<option%M>%s</option>", status && !strcmp(status, statuses[i]) ? " selected" : "",
             statuses[i]);
  char since_d[11], until_d[11];
  snprintf(since_d, sizeof since_d, "%.10s", j->since);
  snprintf(until_d, sizeof until_d, "%.10s", j->until);
  html_fmt(h, "</select><br><input name=\"san\" value=\"%s\" placeholder=\"part of a SAN\"> "
              "<input name=\"ref\" value=\"%s\" placeholder=\"a secret's reference\"> "
              "issued from <input name=\"since\" type=\"date\" value=\"%s\"> before "
              "<input name=\"until\" type=\"date\" value=\"%s\"> "
              "<button class=\"go\" type=\"submit\">Search</button></form>",
           j->san, j->ref, since_d, until_d);
  cert_rows(h, v, n);
  pager(j, n, -1, "/certs?q=%u&amp;status=%u&amp;san=%u&amp;ref=%u&amp;since=%u&amp;until=%u&amp;page=",
        j->text, status ? status : "", j->san, j->ref, since_d, until_d);
  end(j);
  cg_query_certs_free(v, n);
}

/* The certificate the path names, through st; false (and the error page
 * written) when there is none or the read failed. */
static bool find_cert(struct con_job *j, struct cg_store *st, struct cg_query_cert *c) {
  int err = cg_query_cert(st, j->p1, c);
  if (err == CG_ENOT_FOUND || err == CG_EEXISTS)
    error_page(j, 404, "No such certificate", "No certificate has this serial number.");
  else if (err != 0)
    store_error(j, err);
  return err == 0;
}

static void do_cert(struct con_job *j) {
  struct cg_query_cert c;
  if (!find_cert(j, j->reader, &c))
    return;
  struct html *h = &j->out;
  begin(j, "Certificate");
  html_fmt(h,
           "<dl id=\"cert\"><dt>serial</dt><dd>%s</dd><dt>subject</dt><dd class=\"subject\">%s</dd>"
           "<dt>SANs</dt><dd>%s</dd><dt>issuer</dt><dd>%s</dd><dt>key</dt><dd>%s</dd>"
           "<dt>valid</dt><dd>%s to %s</dd><dt>status</dt><dd id=\"status\">%s</dd>"
           "<dt>profile</dt><dd>%s</dd><dt>transaction</dt><dd>",
           c.serial, c.subject, c.sans, c.issuer, c.key_type, c.not_before, c.not_after, c.status,
           c.profile);
  if (c.transaction_id[0])
    html_fmt(h, "<a href=\"/tx/%u\">%s</a>", c.transaction_id, c.transaction_id);
  html_fmt(h, "</dd>");
  if (c.revoked) {
    const char *rn = cli_crl_reason_name(c.reason);
    html_fmt(h, "<dt>revoked</dt><dd id=\"revoked\">%s, %s, by the %s</dd>", c.revoked_at,
             rn != NULL ? rn : "no reason given", c.requested_by);
  }
  html_fmt(h, "</dl><p><a id=\"pem\" href=\"/certs/%u.pem\">Download PEM</a></p>", c.serial);
  if (c.revoked && c.reason == 6 && j->role >= ROLE_OPERATOR)
    html_fmt(h, "<h2>On hold</h2><form method=\"post\" action=\"/certs/%u/release\" "
                "id=\"release\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                "<button class=\"go\" type=\"submit\">Release from hold</button></form>",
             c.serial, j->csrf);
  if (!c.revoked && j->role >= ROLE_OPERATOR) {
    html_fmt(h, "<h2>Revoke</h2><form method=\"post\" action=\"/certs/%u/revoke\" "
                "id=\"revoke\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                "<select name=\"crl_reason\">",
             c.serial, j->csrf);
    static const int reasons[] = {0, 1, 3, 4, 5, 6, 9};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
      html_fmt(h, "<option value=\"%d\">%s</option>", reasons[i],
               cli_crl_reason_name(reasons[i]));
    html_fmt(h, "</select> <button class=\"danger\" type=\"submit\">Revoke</button></form>");
  }
  end(j);
  cg_query_cert_clear(&c);
}

static void do_cert_pem(struct con_job *j) {
  struct cg_query_cert c;
  if (!find_cert(j, j->reader, &c))
    return;
  size_t cap = c.der_len * 2 + 128, len = 0;
  char *pem = malloc(cap);
  if (pem != NULL && cg_pem_encode("CERTIFICATE", c.der, c.der_len, pem, cap, &len) == 0) {
    j->ctype = "application/x-pem-file";
    snprintf(j->headers, sizeof j->headers,
             "Content-Disposition: attachment; filename=\"%s.pem\"\r\n", c.serial);
    html_fmt(&j->out, "%M", pem);
  } else {
    j->status = 500;
  }
  free(pem);
  cg_query_cert_clear(&c);
}

static void do_revoke(struct con_job *j) {
  if (j->reason < 0 || j->reason > 10 || j->reason == 7 || j->reason == 8) {
    error_page(j, 400, "Not revoked", "Choose a reason from the list.");
    return;
  }
  struct cg_query_cert c;
  if (!find_cert(j, j->writer, &c))
    return;
  int err = cg_query_cert_revoke(j->writer, c.serial, j->reason, j->now);
  if (err == 0) {
    char detail[300];
    snprintf(detail, sizeof detail, "operator=%s serial=%s reason=%d", j->op, c.serial,
             j->reason);
    int e2 = cg_query_event_add(j->writer, j->now, c.transaction_id[0] ? c.transaction_id : NULL,
                                "console.revoked", detail);
    if (e2 != 0)
      cg_warn("console: recording who revoked %s: %s", c.serial, cg_strerror(e2));
    cg_info("console: %s revoked certificate %s (reason %d)", j->op, c.serial, j->reason);
    see_other(j, "/certs/%s", c.serial);
  } else if (err == CG_ECERT_REVOKED) {
    error_page(j, 409, "Revoked already", "This certificate is revoked already.");
  } else {
    store_error(j, err);
  }
  cg_query_cert_clear(&c);
}

static void do_release(struct con_job *j) {
  struct cg_query_cert c;
  if (!find_cert(j, j->writer, &c))
    return;
  int err = cg_query_cert_release(j->writer, c.serial, j->now);
  if (err == 0) {
    char detail[300];
    snprintf(detail, sizeof detail, "operator=%s serial=%s", j->op, c.serial);
    int e2 = cg_query_event_add(j->writer, j->now, c.transaction_id[0] ? c.transaction_id : NULL,
                                "console.released", detail);
    if (e2 != 0)
      cg_warn("console: recording who released %s: %s", c.serial, cg_strerror(e2));
    cg_info("console: %s released certificate %s from hold", j->op, c.serial);
    see_other(j, "/certs/%s", c.serial);
  } else if (err == CG_EBAD_CERT_ID || err == CG_ECERT_REVOKED) {
    error_page(j, 409, "Not on hold", "This certificate is not on hold: nothing to release.");
  } else {
    store_error(j, err);
  }
  cg_query_cert_clear(&c);
}

/* ---- transactions -------------------------------------------------------------------------- */

static void do_tx(struct con_job *j) {
  struct cg_query_txn_detail d;
  int err = cg_query_txn(j->reader, j->p1, &d);
  if (err == CG_ENOT_FOUND) {
    error_page(j, 404, "No such transaction", "No transaction has this ID.");
    return;
  }
  if (err != 0) {
    store_error(j, err);
    return;
  }
  struct html *h = &j->out;
  const struct cg_query_txn *t = &d.txn;
  begin(j, "Transaction");
  const char *fi = t->failinfo >= 0 ? cli_failinfo_name(t->failinfo) : NULL;
  html_fmt(h, "<dl id=\"tx\"><dt>transaction</dt><dd>%s</dd><dt>profile</dt><dd>%s</dd>"
              "<dt>requester</dt><dd>%s</dd><dt>type</dt><dd>%s</dd><dt>state</dt>"
              "<dd id=\"state\">%s</dd><dt>failInfo</dt><dd>%s</dd><dt>created</dt><dd>%s</dd>"
              "<dt>updated</dt><dd>%s</dd><dt>certificate</dt><dd>",
           t->transaction_id, t->profile, t->auth_ref, t->req_type, t->state,
           fi != NULL ? fi : "", t->created_at, t->updated_at);
  if (t->cert_serial[0])
    html_fmt(h, "<a href=\"/certs/%u\">%s</a> %s", t->cert_serial, t->cert_serial,
             d.cert_found ? d.cert_status : "");
  html_fmt(h, "</dd></dl><h2>Audit trail</h2><table id=\"events\"><tr><th>at</th><th>what</th>"
              "<th>detail</th></tr>");
  for (size_t i = 0; i < d.n_events; i++)
    html_fmt(h, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>", d.events[i].at, d.events[i].kind,
             d.events[i].detail);
  html_fmt(h, "</table>");
  end(j);
  cg_query_txn_detail_clear(&d);
}

/* ---- secrets ---------------------------------------------------------------------------- */

static const char *secret_state(const struct cg_query_secret *s, const char *now) {
  if (s->revoked_at[0])
    return "revoked";
  if (s->expires_at[0] && strcmp(s->expires_at, now) <= 0)
    return "expired";
  if (s->locked_until[0] && strcmp(s->locked_until, now) > 0)
    return "locked";
  if (s->max_uses > 0 && s->uses >= s->max_uses)
    return "used up";
  return "active";
}

static void do_secrets(struct con_job *j) {
  struct cg_query_secret *v;
  size_t n;
  int err = cg_query_secrets_page(j->reader, j->text, j->page_no * CON_PAGE_ROWS, CON_PAGE_ROWS,
                                  &v, &n);
  if (err != 0) {
    store_error(j, err);
    return;
  }
  char now[CG_QUERY_TIME];
  cg_time_iso8601(j->now, now);
  struct html *h = &j->out;
  begin(j, "Secrets");
  if (j->role >= ROLE_OPERATOR) {
    html_fmt(h, "<h2>A new secret</h2><form method=\"post\" action=\"/secrets\" id=\"new-secret\">"
                "<input type=\"hidden\" name=\"csrf\" value=\"%s\"><p><label>profile "
                "<select name=\"profile\">",
             j->csrf);
    for (size_t i = 0; i < j->n_profiles; i++)
      html_fmt(h, "<option>%s</option>", j->profile[i]);
    html_fmt(h, "</select></label> <label>lifetime <input name=\"ttl\" size=\"6\" "
                "placeholder=\"7d\"></label> <label>uses <input name=\"uses\" size=\"6\" "
                "placeholder=\"no limit\"></label></p><p><label>bound subject <input "
                "name=\"subject\" size=\"30\" placeholder=\"/CN=device-17/O=Example\"></label> "
                "<label>SANs <input name=\"sans\" size=\"30\" placeholder=\"dns:device-17.example\">"
                "</label></p><p><label>note <input name=\"note\" size=\"40\" maxlength=\"1024\">"
                "</label> <button class=\"go\" type=\"submit\">Create</button></p></form>");
  }
  html_fmt(h, "<h2>Secrets</h2><form method=\"get\" action=\"/secrets\" id=\"search\">"
              "<input name=\"q\" value=\"%s\" placeholder=\"the beginning of a reference\"> "
              "<button class=\"go\" type=\"submit\">Search</button></form>"
              "<table id=\"secrets\"><tr><th>reference</th><th>profile</th><th>state</th>"
              "<th>uses</th><th>bound to</th><th>created</th><th>expires</th><th>note</th>"
              "<th></th></tr>",
           j->text);
  for (size_t i = 0; i < n; i++) {
    const char *st = secret_state(&v[i], now);
    char uses[48];
    if (v[i].max_uses > 0)
      snprintf(uses, sizeof uses, "%lld/%lld", (long long)v[i].uses, (long long)v[i].max_uses);
    else
      snprintf(uses, sizeof uses, "%lld", (long long)v[i].uses);
    html_fmt(h, "<tr data-ref=\"%s\"><td>%s</td><td>%s</td><td class=\"%M\">%s</td><td>%s</td>"
                "<td>%s%M%s</td><td>%s</td><td>%s</td><td>%s</td><td>",
             v[i].reference, v[i].reference, v[i].profile, strcmp(st, "active") ? "bad" : "ok",
             st, uses, v[i].subject, v[i].sans && v[i].sans[0] ? " " : "", v[i].sans,
             v[i].created_at, v[i].expires_at[0] ? v[i].expires_at : "never", v[i].note);
    if (j->role >= ROLE_OPERATOR && !v[i].revoked_at[0])
      html_fmt(h, "<form class=\"inline\" method=\"post\" action=\"/secrets/%u/revoke\">"
                  "<input type=\"hidden\" name=\"csrf\" value=\"%s\"><button class=\"danger\" "
                  "type=\"submit\" name=\"revoke\">Revoke</button></form>",
               v[i].reference, j->csrf);
    html_fmt(h, "</td></tr>");
  }
  if (n == 0)
    html_fmt(h, "<tr><td colspan=\"9\" class=\"muted\">no secret matches</td></tr>");
  html_fmt(h, "</table>");
  pager(j, n, -1, "/secrets?q=%u&amp;page=", j->text);
  end(j);
  cg_query_secrets_free(v, n);
}

/* text as a QR code (ISO/IEC 18004, libqrencode), drawn as SVG: one
 * rectangle per run of dark modules, a quiet zone of 4. */
static void qr_svg(struct html *h, const char *text) {
  QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (q == NULL)
    return;
  int w = q->width, size = w + 8;
  html_fmt(h, "<svg id=\"qr\" viewBox=\"0 0 %d %d\" width=\"240\" height=\"240\" "
              "role=\"img\" aria-label=\"the reference and secret as a QR code\" "
              "xmlns=\"http://www.w3.org/2000/svg\" shape-rendering=\"crispEdges\">"
              "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>",
           size, size, size, size);
  for (int y = 0; y < w; y++)
    for (int x = 0; x < w;) {
      if (!(q->data[y * w + x] & 1)) {
        x++;
        continue;
      }
      int run = 1;
      while (x + run < w && (q->data[y * w + x + run] & 1))
        run++;
      html_fmt(h, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"1\" fill=\"#000\"/>",
               x + 4, y + 4, run);
      x += run;
    }
  html_fmt(h, "</svg>");
  QRcode_free(q);
}

static void do_secret_new(struct con_job *j) {
  if (j->error[0]) {
    error_page(j, 400, "No secret made", j->error);
    return;
  }
  size_t k = 0;
  while (k < j->n_profiles && strcmp(j->profile[k], j->p1) != 0)
    k++;
  if (k == j->n_profiles) {
    error_page(j, 400, "No secret made", "There is no such profile.");
    return;
  }
  struct app_secret_want want = {.profile = j->p1,
                                 .challenge = j->challenge[k],
                                 .subject = j->subject,
                                 .sans = j->sans,
                                 .now = j->now,
                                 .ttl = j->ttl};
  struct cmp_secret_record rec;
  struct app_secret_made made;
  int err = app_secret_make(j->master, &want, &rec, &made);
  if (err == 0)
    err = cg_query_secret_insert(j->writer, &rec, j->max_uses, j->text[0] ? j->text : NULL);
  if (err != 0) {
    cg_wipe(&made, sizeof made);
    store_error(j, err);
    return;
  }
  char detail[512];
  snprintf(detail, sizeof detail, "operator=%s reference=%s profile=%s", j->op, made.ref, j->p1);
  if ((err = cg_query_event_add(j->writer, j->now, NULL, "console.secret_created", detail)) != 0)
    cg_warn("console: recording who made secret %s: %s", made.ref, cg_strerror(err));
  cg_info("console: %s made the secret %s (profile %s)", j->op, made.ref, j->p1);
  struct html *h = &j->out;
  begin(j, "A new secret");
  html_fmt(h, "<p class=\"msg\">Shown only now: the gateway keeps it encrypted and shows it to "
              "nobody again. Give it to the device, or scan the code.</p><dl id=\"made\">"
              "<dt>reference</dt><dd id=\"reference\">%s</dd><dt>secret</dt>"
              "<dd id=\"secret\">%s</dd>",
           made.ref, made.secret);
  if (made.challenge[0])
    html_fmt(h, "<dt>challenge</dt><dd id=\"challenge\">%s</dd>", made.challenge);
  html_fmt(h, "<dt>profile</dt><dd>%s</dd>", j->p1);
  if (j->subject[0])
    html_fmt(h, "<dt>bound to</dt><dd>%s %s</dd>", j->subject, j->sans);
  html_fmt(h, "</dl>");
  /* What the code holds: a URI of the same fields, percent-encoded. */
  struct html uri;
  html_init(&uri, 2048);
  html_fmt(&uri, "cmpgw:secret?ref=%u&secret=%u&profile=%u", made.ref, made.secret, j->p1);
  if (made.challenge[0])
    html_fmt(&uri, "&challenge=%u", made.challenge);
  const char *u = html_str(&uri);
  if (u != NULL)
    qr_svg(h, u);
  html_free(&uri);
  html_fmt(h, "<p><a href=\"/secrets\">Back to the secrets</a></p>");
  end(j);
  cg_wipe(&made, sizeof made);
}

static void do_secret_revoke(struct con_job *j) {
  char at[CG_QUERY_TIME];
  int err = cg_query_secret_revoke(j->writer, j->p1, j->now, at);
  if (err == CG_ENOT_FOUND) {
    error_page(j, 404, "No such secret", "No secret has this reference.");
    return;
  }
  if (err == CG_ESTATE) {
    error_page(j, 409, "Revoked already", "This secret is revoked already.");
    return;
  }
  if (err != 0) {
    store_error(j, err);
    return;
  }
  char detail[512];
  snprintf(detail, sizeof detail, "operator=%s reference=%s", j->op, j->p1);
  if ((err = cg_query_event_add(j->writer, j->now, NULL, "console.secret_revoked", detail)) != 0)
    cg_warn("console: recording who revoked secret %s: %s", j->p1, cg_strerror(err));
  cg_info("console: %s revoked the secret %s", j->op, j->p1);
  see_other(j, "/secrets?q=%s", j->p1);
}

/* ---- configuration ------------------------------------------------------------------------ */

static void config_row(void *arg, const char *key, const char *value) {
  html_fmt(arg, "<tr><td>%s</td><td>%s</td></tr>", key, value);
}

void con_config_page(struct con_job *j, const struct cg_config *cfg,
                     const struct cg_config_profile *const *profiles, size_t n_profiles) {
  struct html *h = &j->out;
  begin(j, "Configuration");
  html_fmt(h, "<p class=\"muted\">What is in force since the daemon started or was last "
              "reloaded (docs/configuration.md). Listeners, the store and the console's keys "
              "change only with a restart.</p>");
  static const char *const sections[] = {"server", "store", "console", "log", "secrets"};
  for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
    html_fmt(h, "<h2>[%s]</h2><table id=\"config-%s\"><tr><th>key</th><th>value</th></tr>",
             sections[i], sections[i]);
    cg_config_describe(cfg, NULL, sections[i], config_row, h);
    html_fmt(h, "</table>");
  }
  html_fmt(h, "<h2>Backends</h2><table id=\"backends\"><tr><th>name</th><th>type</th></tr>");
  for (size_t i = 0; i < cfg->n_backends; i++)
    html_fmt(h, "<tr><td>%s</td><td>%s</td></tr>", cfg->backends[i].name, cfg->backends[i].type);
  html_fmt(h, "</table>");
  for (size_t i = 0; i < n_profiles; i++) {
    html_fmt(h, "<h2>[profile %s]</h2><table class=\"profile\" data-profile=\"%s\"><tr>"
                "<th>key</th><th>value</th></tr>",
             profiles[i]->name, profiles[i]->name);
    cg_config_describe(cfg, profiles[i], "profile", config_row, h);
    html_fmt(h, "</table>");
  }
  end(j);
}

void con_run(struct con_job *j) {
  switch (j->page) {
  case PAGE_LOGIN: do_login(j); break;
  case PAGE_DASHBOARD: do_dashboard(j); break;
  case PAGE_APPROVALS: do_approvals(j); break;
  case PAGE_DECIDE: do_decide(j); break;
  case PAGE_CERTS: do_certs(j); break;
  case PAGE_CERT: do_cert(j); break;
  case PAGE_CERT_PEM: do_cert_pem(j); break;
  case PAGE_REVOKE: do_revoke(j); break;
  case PAGE_RELEASE: do_release(j); break;
  case PAGE_TX: do_tx(j); break;
  case PAGE_SECRETS: do_secrets(j); break;
  case PAGE_SECRET_NEW: do_secret_new(j); break;
  case PAGE_SECRET_REVOKE: do_secret_revoke(j); break;
  case PAGE_CONFIG: break; /* made on the loop */
  }
}
