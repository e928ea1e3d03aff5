/*
 * console.c - the web console ([console] listen; docs/console.md): the
 * pages operators use in a browser, served by the daemon on a listener of
 * its own.
 *
 * Every request passes the same checks here, on the loop, before anything
 * reads the database:
 *   - a session: a random 256-bit identifier in a cookie (HttpOnly,
 *     SameSite=Strict, and Secure with the __Host- prefix over HTTPS),
 *     kept in memory with the operator's name, role and CSRF token, ended
 *     after session_idle seconds without a request or session_max in all;
 *     without one, a page redirects to /login;
 *   - a POST comes from the console's own pages: its Origin (when the
 *     browser sends one) is the console's, its Sec-Fetch-Site (when sent)
 *     is same-origin, and its form carries the session's CSRF token;
 *   - the role: viewers read, operators also approve, reject and revoke;
 *     the server refuses (403), whatever a page shows;
 *   - logins: a budget per client address (10, then one a minute), and an
 *     operator locked for 15 minutes after 5 wrong passwords.
 * Then a job goes to the console's own thread (console_pages.c): the reads
 * through the console's own read connection, the writes through its own
 * connection, one job at a time, at nice 10, so the console never takes the
 * store thread, the workers or their readers from enrolment, and on a busy
 * CPU gets about a tenth of it.  The dashboard's counts are kept for
 * DASHBOARD_MS, or 20 times as long as reading them took when that is
 * longer: however many operators look, the store is counted at most that
 * often.  Every answer carries a strict
 * Content-Security-Policy (no script at all), frame-ancestors 'none',
 * X-Frame-Options, nosniff, and Referrer-Policy same-origin (not
 * no-referrer: with it a browser sends "Origin: null" on the console's own
 * form posts, which the origin check must then refuse); every value on a
 * page is escaped (app/html.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "app/console_int.h"
#include "app/secrets.h"
#include "app/gateway_int.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "core/x509.h"
#include "transports/guard.h"
#include "transports/http.h"

#define MAX_SESSIONS 256
#define MAX_QUEUE 64
#define PAGE_LIMIT (8u << 20)
#define LOGIN_BURST 10           /* logins from one address, then one a minute */
#define LOGIN_INTERVAL_MS 60000
#define MAX_FAILURES 5           /* wrong passwords that lock an operator */
#define LOCK_S 900               /* for this long */
#define DASHBOARD_MS 10000       /* the dashboard's counts are at least this fresh */
#define THREAD_NICE 10

struct session {
  bool used;
  uint8_t id[32];
  char csrf[33];
  char op[CG_OPERATOR_NAME_MAX + 1];
  enum con_role role;
  uint64_t created_ms, last_ms;
};

struct gw_console {
  struct gateway *gw;
  struct cg_http_server *srv;
  bool tls, closed;
  struct cg_store *reader, *writer;
  struct session sessions[MAX_SESSIONS];
  struct cg_guard logins; /* per client address */
  unsigned since_sweep;
  struct con_job *head, *tail;
  size_t queued;
  bool running;
  /* the console's thread: one job handed over, one handed back */
  uv_thread_t thread;
  uv_mutex_t mu;
  uv_cond_t cv;
  uv_async_t async;
  struct con_job *handed, *finished; /* under mu */
  bool quit;                         /* under mu */
  bool thread_started;
  /* the dashboard's counts, and when they were read (the loop's ms) */
  struct cg_query_dashboard dash;
  uint64_t dash_at, dash_keep_ms;
  bool dash_ok;
};

static const char security_headers[] =
    "Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
    "X-Frame-Options: DENY\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: same-origin\r\n"
    "Cross-Origin-Opener-Policy: same-origin\r\n"
    "Cross-Origin-Resource-Policy: same-origin\r\n";

static const char *cookie_name(const struct gw_console *c) {
  /* __Host-: the browser takes it only from a secure origin, for this host
   * and path / (RFC 6265bis §4.1.3.2). */
  return c->tls ? "__Host-cmpgw_console" : "cmpgw_console";
}

/* Answers with the security headers, and extra (NULL: none). */
static void reply(struct gw_console *c, struct cg_http_request *req, int status,
                  const char *ctype, const char *extra, const void *body, size_t len) {
  char headers[1024];
  snprintf(headers, sizeof headers, "%s%s%s", security_headers,
           c->tls ? "Strict-Transport-Security: max-age=63072000\r\n" : "",
           extra != NULL ? extra : "");
  cg_http_respond_web(req, status, ctype, headers, body, len);
}

static void redirect(struct gw_console *c, struct cg_http_request *req, const char *where,
                     const char *extra) {
  char h[512];
  snprintf(h, sizeof h, "Location: %s\r\n%s", where, extra != NULL ? extra : "");
  reply(c, req, 303, "text/plain; charset=utf-8", h, "", 0);
}

static void refuse(struct gw_console *c, struct cg_http_request *req, int status,
                   const char *text) {
  reply(c, req, status, "text/plain; charset=utf-8", NULL, text, strlen(text));
}

/* ---- sessions -------------------------------------------------------------- */

static bool expired(const struct gw_console *c, const struct session *s, uint64_t now) {
  return now - s->last_ms > (uint64_t)c->gw->cfg.console_idle_s * 1000 ||
         now - s->created_ms > (uint64_t)c->gw->cfg.console_max_s * 1000;
}

/* The session the request's cookie names; *stale set when it names one
 * that has run out (which is then ended). */
static struct session *session_of(struct gw_console *c, struct cg_http_request *req, bool *stale) {
  *stale = false;
  const char *cookies = cg_http_request_header(req, CG_HTTP_COOKIE);
  const char *name = cookie_name(c);
  size_t nlen = strlen(name);
  for (const char *p = cookies; p != NULL && *p;) {
    while (*p == ' ' || *p == ';')
      p++;
    const char *end = strchr(p, ';');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    uint8_t id[32];
    if (len == nlen + 1 + 64 && !strncmp(p, name, nlen) && p[nlen] == '=') {
      bool hex = cg_unhex(p + nlen + 1, sizeof id, id);
      uint64_t now = uv_now(c->gw->loop);
      for (size_t i = 0; hex && i < MAX_SESSIONS; i++) {
        struct session *s = &c->sessions[i];
        if (!s->used || !cg_ct_equal(s->id, id, sizeof id))
          continue;
        if (expired(c, s, now)) {
          s->used = false;
          *stale = true;
          return NULL;
        }
        s->last_ms = now;
        return s;
      }
    }
    p += len;
  }
  return NULL;
}

/* A new session for op; NULL when none can be made.  The oldest goes when
 * all are taken. */
static struct session *session_new(struct gw_console *c, const char *op, enum con_role role) {
  uint64_t now = uv_now(c->gw->loop);
  struct session *s = NULL;
  for (size_t i = 0; i < MAX_SESSIONS && s == NULL; i++)
    if (!c->sessions[i].used || expired(c, &c->sessions[i], now))
      s = &c->sessions[i];
  if (s == NULL) { /* all in use: the one idle longest goes */
    s = &c->sessions[0];
    for (size_t i = 1; i < MAX_SESSIONS; i++)
      if (c->sessions[i].last_ms < s->last_ms)
        s = &c->sessions[i];
  }
  uint8_t csrf[16];
  if (s == NULL || cg_random(s->id, sizeof s->id) != 0 || cg_random(csrf, sizeof csrf) != 0)
    return NULL;
  cg_hex(csrf, sizeof csrf, s->csrf);
  snprintf(s->op, sizeof s->op, "%s", op);
  s->role = role;
  s->created_ms = s->last_ms = now;
  s->used = true;
  return s;
}

/* ---- checks ---------------------------------------------------------------- */

static bool loopback(const char *host) {
  return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1") ||
         !strcmp(host, "[::1]");
}

/* Over plain HTTP (a loopback console) the Host asked for is a loopback
 * name or address, whatever the port (an SSH tunnel's may differ): a page
 * of another site whose name was made to resolve to 127.0.0.1 (DNS
 * rebinding) asks with its own name, and gets nothing.  Over HTTPS the
 * certificate's name does this. */
static bool host_ok(const struct gw_console *c, struct cg_http_request *req) {
  const char *host = cg_http_request_header(req, CG_HTTP_HOST);
  if (c->tls)
    return true;
  if (host == NULL)
    return false;
  char name[256];
  size_t n = strlen(host);
  const char *colon = host[0] == '[' ? strchr(host, ']') : strrchr(host, ':');
  if (host[0] == '[' && colon != NULL)
    colon++; /* "[::1]:8444": the name ends after ']' */
  if (colon != NULL && *colon == ':')
    n = (size_t)(colon - host);
  if (n >= sizeof name)
    return false;
  memcpy(name, host, n);
  name[n] = '\0';
  return loopback(name);
}

/* Whether a POST comes from the console's own pages: Origin, when sent,
 * is this scheme and the Host asked for; Sec-Fetch-Site, when sent, says
 * same-origin. */
static bool same_origin(const struct gw_console *c, struct cg_http_request *req) {
  const char *origin = cg_http_request_header(req, CG_HTTP_ORIGIN);
  const char *site = cg_http_request_header(req, CG_HTTP_FETCH_SITE);
  const char *host = cg_http_request_header(req, CG_HTTP_HOST);
  if (site != NULL && strcmp(site, "same-origin") != 0)
    return false;
  if (origin == NULL)
    return true;
  char want[300];
  if (host == NULL)
    return false;
  snprintf(want, sizeof want, "%s://%s", c->tls ? "https" : "http", host);
  return strcmp(origin, want) == 0;
}

static bool csrf_ok(const struct session *s, const char *body, size_t len) {
  char token[40];
  return html_form_field(body, len, "csrf", token, sizeof token) && strlen(token) == 32 &&
         cg_ct_equal(token, s->csrf, 32);
}

/* ---- jobs -------------------------------------------------------------------- */

static void next_job(struct gw_console *c);

static void job_free(struct con_job *j) {
  cg_wipe(j->text, sizeof j->text);
  html_free(&j->out);
  free(j);
}

/* A job the console's thread finished: its answer, then the next job. */
static void job_done(struct con_job *j) {
  struct gw_console *c = j->con;
  c->running = false;
  if (j->page == PAGE_DASHBOARD && j->dash_fresh && j->status == 200) {
    c->dash = j->dash;
    c->dash_at = uv_now(c->gw->loop);
    c->dash_ok = true;
    /* a store whose counting takes long is counted less often: at most a
     * twentieth of the console thread's time goes to it */
    c->dash_keep_ms = j->dash_read_ms * 20 > DASHBOARD_MS ? j->dash_read_ms * 20 : DASHBOARD_MS;
  }
  if (j->page == PAGE_LOGIN) {
    struct session *s = j->login_ok ? session_new(c, j->op, j->login_role) : NULL;
    if (s != NULL) {
      char id[65], cookie[256];
      cg_hex(s->id, sizeof s->id, id);
      snprintf(cookie, sizeof cookie, "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict%s\r\n",
               cookie_name(c), id, c->tls ? "; Secure" : "");
      cg_info("console: %s logged in (%s)", s->op,
              s->role == ROLE_ADMIN ? "admin" : s->role == ROLE_OPERATOR ? "operator" : "viewer");
      redirect(c, j->req, "/", cookie);
    } else {
      struct html h;
      html_init(&h, 1 << 16);
      con_login_page(&h,
                     j->cert_login     ? "This certificate names no operator who may log in now."
                     : j->login_locked ? "Too many wrong passwords: this operator is locked for "
                                         "a while."
                                       : "Wrong name or password, or the operator is locked.",
                     NULL);
      const char *page = html_str(&h);
      reply(c, j->req, 401, "text/html; charset=utf-8", NULL, page ? page : "", page ? strlen(page) : 0);
      html_free(&h);
    }
  } else {
    const char *page = html_str(&j->out);
    if (page == NULL && j->status < 300)
      refuse(c, j->req, 500, "the page could not be made\n");
    else
      reply(c, j->req, j->status, j->ctype, j->headers[0] ? j->headers : NULL,
            page != NULL ? page : "", page != NULL ? j->out.b.len : 0);
  }
  job_free(j);
  next_job(c);
  if (c->closed && !c->running && c->head == NULL)
    gw_maybe_finish_stop(c->gw);
}

/* The console's thread: runs the job handed over, hands it back. */
static void thread_main(void *arg) {
  struct gw_console *c = arg;
  /* Below the loop, the store thread and the workers on a busy CPU; raising
   * one's own nice needs no privilege. */
  if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), THREAD_NICE) != 0)
    cg_debug("console: the thread keeps its priority");
  uv_mutex_lock(&c->mu);
  for (;;) {
    while (c->handed == NULL && !c->quit)
      uv_cond_wait(&c->cv, &c->mu);
    if (c->quit)
      break;
    struct con_job *j = c->handed;
    c->handed = NULL;
    uv_mutex_unlock(&c->mu);
    con_run(j);
    uv_mutex_lock(&c->mu);
    c->finished = j;
    uv_async_send(&c->async);
  }
  uv_mutex_unlock(&c->mu);
}

static void on_async(uv_async_t *a) {
  struct gw_console *c = a->data;
  uv_mutex_lock(&c->mu);
  struct con_job *j = c->finished;
  c->finished = NULL;
  uv_mutex_unlock(&c->mu);
  if (j != NULL)
    job_done(j);
}

static void next_job(struct gw_console *c) {
  if (c->running || c->head == NULL)
    return;
  struct con_job *j = c->head;
  c->head = j->next;
  if (c->head == NULL)
    c->tail = NULL;
  c->queued--;
  c->running = true;
  uv_mutex_lock(&c->mu);
  c->handed = j;
  uv_cond_signal(&c->cv);
  uv_mutex_unlock(&c->mu);
}

static struct con_job *job_new(struct gw_console *c, struct cg_http_request *req,
                               enum con_page page, const struct session *s) {
  if (c->queued >= MAX_QUEUE) {
    refuse(c, req, 503, "the console is busy; try again\n");
    return NULL;
  }
  struct con_job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    refuse(c, req, 503, "out of memory\n");
    return NULL;
  }
  j->con = c;
  j->req = req;
  j->page = page;
  j->now = (int64_t)time(NULL);
  j->reader = c->reader;
  j->writer = c->writer;
  j->status = 200;
  j->ctype = "text/html; charset=utf-8";
  html_init(&j->out, PAGE_LIMIT);
  if (s != NULL) {
    snprintf(j->op, sizeof j->op, "%s", s->op);
    j->role = s->role;
    memcpy(j->csrf, s->csrf, sizeof j->csrf);
  }
  /* What of the gateway's state the page needs, copied: the thread never
   * reads what the loop changes. */
  struct gateway *gw = c->gw;
  if (page == PAGE_SECRETS || page == PAGE_SECRET_NEW) {
    for (size_t i = 0; i < gw->conf->n_profiles && i < CG_MAX_PROFILES; i++) {
      const struct cg_config_profile *pc = gw->conf->profiles[i].cfg;
      snprintf(j->profile[i], sizeof j->profile[i], "%s", pc->name);
      j->challenge[i] = pc->challenge;
      j->n_profiles = i + 1;
    }
    j->master = gw->master_key; /* set once at start */
  }
  if (page == PAGE_DASHBOARD)
    for (size_t i = 0; i < gw->n_backends && i < CON_MAX_BACKENDS; i++) {
      snprintf(j->backend[i], sizeof j->backend[i], "%s", gw->cfg.backends[i].name);
      j->backend_failing[i] = gw_backend_failing(gw, i);
      j->n_backends = i + 1;
    }
  return j;
}

static void job_queue(struct gw_console *c, struct con_job *j) {
  if (c->tail != NULL)
    c->tail->next = j;
  else
    c->head = j;
  c->tail = j;
  c->queued++;
  next_job(c);
}

/* ---- routing --------------------------------------------------------------- */

/* path is prefix followed by one segment of at most cap - 1 characters
 * (and then suffix exactly); the segment into out. */
static bool segment(const char *path, const char *prefix, const char *suffix, char *out,
                    size_t cap) {
  size_t p = strlen(prefix), s = strlen(suffix), n = strlen(path);
  if (n <= p + s || strncmp(path, prefix, p) != 0 || strcmp(path + n - s, suffix) != 0)
    return false;
  size_t len = n - p - s;
  if (len >= cap || memchr(path + p, '/', len) != NULL)
    return false;
  memcpy(out, path + p, len);
  out[len] = '\0';
  return true;
}

static size_t page_no(const char *query) {
  char v[16];
  if (!html_form_field(query, strlen(query), "page", v, sizeof v))
    return 0;
  unsigned long n = strtoul(v, NULL, 10);
  return n > 100000 ? 100000 : (size_t)n;
}

/* The operator a TLS client certificate names: its subject's CN, when it is
 * an operator's name.  The certificate chained to [server]
 * tls_client_anchors, or the handshake had failed. */
static bool cert_operator(struct cg_http_request *req, char name[CG_OPERATOR_NAME_MAX + 1]) {
  uint8_t der[8192];
  size_t len;
  struct cg_x509 x;
  char subject[4 * sizeof der + 1];
  if (cg_http_request_tls_client(req, der, sizeof der, &len) != 0 ||
      cg_x509_parse(der, len, &x) != 0 || cg_name_to_string(x.subject, subject, sizeof subject) != 0)
    return false;
  /* RFC 4514 text, most significant last: the CN is "CN=..." at the start
   * or after a ',' (an escaped character makes it no operator's name). */
  const char *cn = !strncmp(subject, "CN=", 3) ? subject : strstr(subject, ",CN=");
  if (cn == NULL)
    return false;
  cn += cn[0] == ',' ? 4 : 3;
  size_t n = strcspn(cn, ",+");
  if (n == 0 || n > CG_OPERATOR_NAME_MAX)
    return false;
  memcpy(name, cn, n);
  name[n] = '\0';
  return cg_query_operator_name_ok(name);
}

/* A date from a form (YYYY-MM-DD) as the stored time of its midnight UTC
 * into out; "" (and j->error) when it is not one. */
static void form_date(struct con_job *j, const char *query, const char *name, char out[24]) {
  char v[32], t[24];
  out[0] = '\0';
  if (!html_form_field(query, strlen(query), name, v, sizeof v) || v[0] == '\0')
    return;
  snprintf(t, sizeof t, "%.10sT00:00:00Z", v);
  if (strlen(v) != 10 || cg_time_parse_iso8601(t, NULL) != 0)
    snprintf(j->error, sizeof j->error, "A date is YYYY-MM-DD.");
  else
    memcpy(out, t, sizeof t);
}

/* The certificate search's other filters (console_int.h). */
static void cert_filters(struct con_job *j, const char *query) {
  if (!html_form_field(query, strlen(query), "san", j->san, sizeof j->san))
    j->san[0] = '\0';
  if (!html_form_field(query, strlen(query), "ref", j->ref, sizeof j->ref))
    j->ref[0] = '\0';
  form_date(j, query, "since", j->since);
  form_date(j, query, "until", j->until);
}

/* The new-secret form into j (j->error says what is wrong with it). */
static void secret_form(struct con_job *j, const char *form, size_t len) {
  char v[CMP_MAX_NAME_TEXT];
  j->error[0] = '\0';
  if (!html_form_field(form, len, "profile", j->p1, sizeof j->p1) || j->p1[0] == '\0')
    snprintf(j->p1, sizeof j->p1, "default");
  if (html_form_field(form, len, "ttl", v, sizeof v) && v[0] != '\0' &&
      (j->ttl = app_secret_ttl(v)) < 0)
    snprintf(j->error, sizeof j->error, "The lifetime is a number and d, h, m or s (7d, 12h).");
  if (html_form_field(form, len, "uses", v, sizeof v) && v[0] != '\0') {
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*end != '\0' || n < 1 || n > 1000000000)
      snprintf(j->error, sizeof j->error, "The use limit is a number from 1 to 1000000000.");
    j->max_uses = (int64_t)n;
  }
  if (html_form_field(form, len, "note", j->text, sizeof j->text) && j->text[0] != '\0' &&
      !app_secret_note_ok(j->text))
    snprintf(j->error, sizeof j->error, "A note is one line of text.");
  if (html_form_field(form, len, "subject", v, sizeof v) && v[0] != '\0' &&
      !app_secret_subject(v, j->subject, sizeof j->subject))
    snprintf(j->error, sizeof j->error,
             "The subject is a name in OpenSSL's form, e.g. /CN=device-17/O=Example.");
  char sans[CMP_MAX_NAME_TEXT];
  if (html_form_field(form, len, "sans", sans, sizeof sans)) {
    for (char *t = strtok(sans, " "); t != NULL; t = strtok(NULL, " "))
      if (!app_secret_san(t, j->sans, sizeof j->sans))
        snprintf(j->error, sizeof j->error,
                 "SANs are dns:NAME, ip:ADDRESS, uri:URI or email:ADDRESS, spaces between.");
    if (j->sans[0] && !j->subject[0])
      snprintf(j->error, sizeof j->error, "SANs bind a secret with a subject only.");
  }
}

static void on_login(struct gw_console *c, struct cg_http_request *req, const uint8_t *body,
                     size_t len, bool cert) {
  const char *form = (const char *)body;
  if (!same_origin(c, req)) {
    refuse(c, req, 403, "this form is posted from the console's own page only\n");
    return;
  }
  const struct cg_addr *peer = cg_http_request_peer(req);
  uint64_t now = uv_now(c->gw->loop);
  unsigned retry;
  if (++c->since_sweep >= 256) {
    c->since_sweep = 0;
    cg_guard_sweep(&c->logins, now);
  }
  if (!cg_guard_admits(&c->logins, peer, now, &retry)) {
    char h[64];
    snprintf(h, sizeof h, "Retry-After: %u\r\n", retry);
    static const char text[] = "too many logins from this address; try again later\n";
    reply(c, req, 429, "text/plain; charset=utf-8", h, text, sizeof text - 1);
    return;
  }
  cg_guard_failed(&c->logins, peer, now); /* every attempt spends one */
  struct con_job *j = job_new(c, req, PAGE_LOGIN, NULL);
  if (j == NULL)
    return;
  if (cert) {
    if (!cert_operator(req, j->p1)) {
      job_free(j);
      refuse(c, req, 401, "no client certificate naming an operator (its CN)\n");
      return;
    }
    j->cert_login = true;
    job_queue(c, j);
    return;
  }
  if (!html_form_field(form, len, "name", j->p1, sizeof j->p1) ||
      !html_form_field(form, len, "password", j->text, sizeof j->text)) {
    job_free(j);
    refuse(c, req, 400, "the form needs a name and a password\n");
    return;
  }
  job_queue(c, j);
}

static void on_request(void *arg, struct cg_http_request *req, const char *path,
                       const uint8_t *body, size_t len) {
  struct gw_console *c = arg;
  bool post = cg_http_request_is_post(req);
  const char *query = cg_http_request_query(req);
  if (c->closed) {
    refuse(c, req, 503, "the console is stopping\n");
    return;
  }
  if (!host_ok(c, req)) {
    refuse(c, req, 403, "reach the console by a loopback name (localhost, 127.0.0.1)\n");
    return;
  }
  if (!post && !strcmp(path, "/static/console.css")) {
    reply(c, req, 200, "text/css; charset=utf-8", "Cache-Control: max-age=3600\r\n", con_css,
          strlen(con_css));
    return;
  }
  bool stale;
  struct session *s = session_of(c, req, &stale);
  if (post && !strcmp(path, "/login/cert")) {
    on_login(c, req, body, len, true);
    return;
  }
  if (!strcmp(path, "/login")) {
    if (post) {
      on_login(c, req, body, len, false);
    } else if (s != NULL) {
      redirect(c, req, "/", NULL);
    } else {
      struct html h;
      html_init(&h, 1 << 16);
      char named[CG_OPERATOR_NAME_MAX + 1];
      con_login_page(&h, strstr(query, "expired=1") ? "Your session ended: log in again."
                         : strstr(query, "out=1")   ? "You are logged out."
                                                    : NULL,
                     c->tls && cert_operator(req, named) ? named : NULL);
      const char *page = html_str(&h);
      reply(c, req, 200, "text/html; charset=utf-8", NULL, page ? page : "", page ? strlen(page) : 0);
      html_free(&h);
    }
    return;
  }
  if (s == NULL) {
    redirect(c, req, stale ? "/login?expired=1" : "/login", NULL);
    return;
  }
  if (post && (!same_origin(c, req) || !csrf_ok(s, (const char *)body, len))) {
    cg_warn("console: a form of %s refused: not from the console's page (origin or token)",
            s->op);
    refuse(c, req, 403, "this form is posted from the console's own page only\n");
    return;
  }
  char a[160];
  struct con_job *j = NULL;
  if (post && !strcmp(path, "/logout")) {
    cg_info("console: %s logged out", s->op);
    s->used = false;
    char cookie[160];
    snprintf(cookie, sizeof cookie, "Set-Cookie: %s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s\r\n",
             cookie_name(c), c->tls ? "; Secure" : "");
    redirect(c, req, "/login?out=1", cookie);
    return;
  }
  if (post) {
    enum con_page page;
    bool approve = false;
    if (segment(path, "/approvals/", "/approve", a, sizeof a))
      page = PAGE_DECIDE, approve = true;
    else if (segment(path, "/approvals/", "/reject", a, sizeof a))
      page = PAGE_DECIDE;
    else if (segment(path, "/certs/", "/revoke", a, sizeof a))
      page = PAGE_REVOKE;
    else if (segment(path, "/certs/", "/release", a, sizeof a))
      page = PAGE_RELEASE;
    else if (segment(path, "/secrets/", "/revoke", a, sizeof a))
      page = PAGE_SECRET_REVOKE;
    else if (!strcmp(path, "/secrets"))
      page = PAGE_SECRET_NEW, a[0] = '\0';
    else {
      refuse(c, req, 404, "no such action\n");
      return;
    }
    if (s->role < ROLE_OPERATOR) {
      cg_warn("console: %s (viewer) tried %s: refused", s->op, path);
      refuse(c, req, 403, "your role may not do this\n");
      return;
    }
    if ((j = job_new(c, req, page, s)) == NULL)
      return;
    snprintf(j->p1, sizeof j->p1, "%s", a);
    j->approve = approve;
    const char *form = (const char *)body;
    char v[16];
    if (!html_form_field(form, len, "reason", j->text, sizeof j->text))
      j->text[0] = '\0';
    j->reason = html_form_field(form, len, "crl_reason", v, sizeof v) ? atoi(v) : -1;
    if (page == PAGE_SECRET_NEW)
      secret_form(j, form, len);
    job_queue(c, j);
    return;
  }
  if (!strcmp(path, "/")) {
    if ((j = job_new(c, req, PAGE_DASHBOARD, s)) != NULL && c->dash_ok &&
        uv_now(c->gw->loop) - c->dash_at < c->dash_keep_ms) {
      j->dash = c->dash;
      j->dash_age_s = (unsigned)((uv_now(c->gw->loop) - c->dash_at) / 1000);
      j->dash_keep_s = (unsigned)(c->dash_keep_ms / 1000);
      j->dash_cached = true;
    }
  } else if (!strcmp(path, "/approvals")) {
    if ((j = job_new(c, req, PAGE_APPROVALS, s)) != NULL)
      j->page_no = page_no(query);
  } else if (!strcmp(path, "/certs")) {
    if ((j = job_new(c, req, PAGE_CERTS, s)) != NULL) {
      j->page_no = page_no(query);
      if (!html_form_field(query, strlen(query), "q", j->text, sizeof j->text))
        j->text[0] = '\0';
      if (!html_form_field(query, strlen(query), "status", j->p2, sizeof j->p2))
        j->p2[0] = '\0';
      cert_filters(j, query);
    }
  } else if (segment(path, "/certs/", ".pem", a, sizeof a)) {
    if ((j = job_new(c, req, PAGE_CERT_PEM, s)) != NULL)
      snprintf(j->p1, sizeof j->p1, "%s", a);
  } else if (segment(path, "/certs/", "", a, sizeof a)) {
    if ((j = job_new(c, req, PAGE_CERT, s)) != NULL)
      snprintf(j->p1, sizeof j->p1, "%s", a);
  } else if (!strcmp(path, "/config")) {
    if (s->role < ROLE_ADMIN) {
      refuse(c, req, 403, "your role may not see this\n");
      return;
    }
    /* Made here, on the loop, from what is in force now: no database. */
    if ((j = job_new(c, req, PAGE_CONFIG, s)) == NULL)
      return;
    const struct cg_config_profile *pcs[CG_MAX_PROFILES];
    struct gw_conf *conf = c->gw->conf;
    for (size_t i = 0; i < conf->n_profiles && i < CG_MAX_PROFILES; i++)
      pcs[i] = conf->profiles[i].cfg;
    con_config_page(j, &conf->cfg, pcs, conf->n_profiles);
    const char *page = html_str(&j->out);
    if (page == NULL)
      refuse(c, req, 500, "the page could not be made\n");
    else
      reply(c, req, 200, j->ctype, NULL, page, j->out.b.len);
    job_free(j);
    return;
  } else if (!strcmp(path, "/secrets")) {
    if ((j = job_new(c, req, PAGE_SECRETS, s)) != NULL) {
      j->page_no = page_no(query);
      if (!html_form_field(query, strlen(query), "q", j->text, sizeof j->text))
        j->text[0] = '\0';
    }
  } else if (segment(path, "/tx/", "", a, sizeof a)) {
    if ((j = job_new(c, req, PAGE_TX, s)) != NULL)
      snprintf(j->p1, sizeof j->p1, "%s", a);
  } else {
    refuse(c, req, 404, "no such page\n");
    return;
  }
  if (j != NULL)
    job_queue(c, j);
}

/* ---- the listener ------------------------------------------------------------ */

int gw_console_start(struct gateway *gw) {
  const struct cg_config *cfg = &gw->cfg;
  gw->console_closed = true;
  if (cfg->console[0] == 0)
    return 0;
  char host[256];
  int port;
  if (cg_parse_hostport(cfg->console, host, sizeof host, &port))
    return cg_config_error(cfg, "console", "listen", "\"%s\" is not HOST:PORT", cfg->console);
  bool tls = cfg->console_tls || !loopback(host);
  int err;
  if (tls && gw->tls == NULL && (err = gw_load_tls(gw)) != 0) {
    cg_error("console: %s is HTTPS (%s): set [server] tls_cert and tls_key (or tls_pkcs12)",
             cfg->console, cfg->console_tls ? "[console] tls = on" : "not on loopback");
    return err;
  }
  struct gw_console *c = calloc(1, sizeof *c);
  if (c == NULL)
    return CG_ENOMEM;
  c->gw = gw;
  c->tls = tls;
  char db[CG_PATH_MAX];
  if ((err = cg_config_store_locator(cfg, db, sizeof db)) != 0 ||
      (err = cg_store_open_reader(db, &c->reader)) != 0 ||
      (err = cg_store_open(db, &c->writer)) != 0 ||
      (err = cg_guard_init(&c->logins, LOGIN_BURST, LOGIN_INTERVAL_MS)) != 0) {
    cg_error("console: cannot open the database: %s", cg_strerror(err));
    goto fail;
  }
  struct cg_http_limits lim;
  cg_http_limits_default(&lim);
  lim.max_body = 16384;
  lim.max_conns = 256; /* its own: browsers cannot take the devices' connections */
  lim.header_timeout_ms = cfg->header_timeout_ms;
  lim.idle_timeout_ms = cfg->idle_timeout_ms;
  if ((err = cg_http_server_start(gw->loop, host, port, &lim, on_request, c, &c->srv)) != 0) {
    cg_error("cannot listen on console %s: %s", cfg->console, cg_strerror(err));
    goto fail;
  }
  cg_http_server_web(c->srv);
  uv_mutex_init(&c->mu);
  uv_cond_init(&c->cv);
  if ((err = uv_thread_create(&c->thread, thread_main, c)) != 0) {
    cg_error("console: no thread: %s", uv_strerror(err));
    cg_http_server_stop(c->srv, NULL, NULL); /* nothing connected yet */
    err = CG_ENOMEM;
    goto fail_threadless;
  }
  /* The thread sends it only once a job was handed over. */
  uv_async_init(gw->loop, &c->async, on_async);
  c->async.data = c;
  c->thread_started = true;
  if (tls)
    cg_http_server_use_tls(c->srv, gw->tls, !gw->inline_compute);
  gw->console = c;
  gw->console_closed = false;
  cg_info("listening console %s:%d (%s)", host, cg_http_server_port(c->srv),
          tls ? "HTTPS" : "HTTP, loopback");
  return 0;
fail_threadless:
  uv_cond_destroy(&c->cv);
  uv_mutex_destroy(&c->mu);
fail:
  if (c->reader != NULL)
    cg_store_close(c->reader);
  if (c->writer != NULL)
    cg_store_close(c->writer);
  cg_guard_free(&c->logins);
  free(c);
  return err != 0 ? err : CG_ESTORE;
}

static void on_console_closed(void *arg) {
  struct gateway *gw = arg;
  gw->console_closed = true;
  gw_maybe_finish_stop(gw);
}

void gw_console_stop(struct gateway *gw) {
  struct gw_console *c = gw->console;
  if (c == NULL || c->closed)
    return;
  c->closed = true;
  /* Jobs not begun are answered now; the one running finishes. */
  while (c->head != NULL) {
    struct con_job *j = c->head;
    c->head = j->next;
    refuse(c, j->req, 503, "the console is stopping\n");
    job_free(j);
  }
  c->tail = NULL;
  c->queued = 0;
  cg_http_server_stop(c->srv, on_console_closed, gw);
}

bool gw_console_busy(const struct gateway *gw) {
  return gw->console != NULL && gw->console->running;
}

static void on_async_closed(uv_handle_t *h) {
  struct gw_console *c = h->data;
  uv_cond_destroy(&c->cv);
  uv_mutex_destroy(&c->mu);
  free(c);
}

void gw_console_free(struct gateway *gw) {
  struct gw_console *c = gw->console;
  if (c == NULL)
    return;
  gw->console = NULL;
  uv_mutex_lock(&c->mu);
  c->quit = true;
  uv_cond_signal(&c->cv);
  uv_mutex_unlock(&c->mu);
  uv_thread_join(&c->thread);
  cg_store_close(c->reader);
  cg_store_close(c->writer);
  cg_guard_free(&c->logins);
  cg_wipe(c->sessions, sizeof c->sessions);
  uv_close((uv_handle_t *)&c->async, on_async_closed); /* c goes when it has closed */
}
