/*
 * console_int.h - the web console's parts: console.c (the listener,
 * sessions, the checks every request passes, the queue of jobs) and
 * console_pages.c (what a job does on a worker: reads, writes, the page).
 */
#ifndef CG_APP_CONSOLE_INT_H
#define CG_APP_CONSOLE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "app/html.h"
#include "cmp/records.h"
#include "core/config.h"
#include "store/query.h"

struct cg_http_request;
struct cg_store;
struct gw_console;

enum con_role { ROLE_NONE = 0, ROLE_VIEWER = 1, ROLE_OPERATOR = 2, ROLE_ADMIN = 3 };

enum con_page {
  PAGE_LOGIN,     /* checks a name and password (the slow hash: on a worker) */
  PAGE_DASHBOARD, /* GET / */
  PAGE_APPROVALS, /* GET /approvals?page=N */
  PAGE_DECIDE,    /* POST /approvals/TXID/approve|reject */
  PAGE_CERTS,     /* GET /certs?q=&status=&page= */
  PAGE_CERT,      /* GET /certs/SERIAL */
  PAGE_CERT_PEM,  /* GET /certs/SERIAL.pem */
  PAGE_REVOKE,    /* POST /certs/SERIAL/revoke */
  PAGE_RELEASE,   /* POST /certs/SERIAL/release: from hold */
  PAGE_TX,        /* GET /tx/TXID */
  PAGE_SECRETS,   /* GET /secrets?q=&page= */
  PAGE_SECRET_NEW,    /* POST /secrets: a new secret, shown once */
  PAGE_SECRET_REVOKE, /* POST /secrets/REF/revoke */
  PAGE_CONFIG,        /* GET /config: made on the loop (con_config_page), never queued */
};

#define CON_MAX_BACKENDS 8
#define CON_PAGE_ROWS 50

struct con_job {
  struct gw_console *con;
  struct cg_http_request *req;
  struct con_job *next;
  enum con_page page;
  int64_t now;
  struct cg_store *reader, *writer; /* the console's; one job at a time uses them */
  /* who asks */
  char op[CG_OPERATOR_NAME_MAX + 1];
  enum con_role role;
  char csrf[33];
  /* what: path parameters and form or query fields */
  char p1[160], p2[160];
  char text[1040]; /* a password (wiped when done), a reason, a search */
  bool approve;
  int reason;
  size_t page_no;
  /* PAGE_SECRETS, PAGE_SECRET_NEW: the profiles and their challenge modes,
   * the master key (the gateway's: constant while it runs), what the form
   * asked, and what was wrong with it (error: "" when nothing) */
  size_t n_profiles;
  char profile[CG_MAX_PROFILES][CG_NAME_MAX + 1];
  int challenge[CG_MAX_PROFILES];
  const uint8_t *master;
  int64_t ttl, max_uses;
  char subject[CMP_MAX_NAME_TEXT], sans[CMP_MAX_NAME_TEXT];
  char error[160];
  /* PAGE_CERTS: SAN part, reference, created from and before (stored
   * times, "" when not asked) */
  char san[128], ref[CMP_MAX_REF + 1], since[24], until[24];
  /* the backends' health, as the loop knew it */
  size_t n_backends;
  char backend[CON_MAX_BACKENDS][CG_NAME_MAX + 1];
  bool backend_failing[CON_MAX_BACKENDS];
  /* the answer */
  int status;
  const char *ctype;
  char headers[320]; /* more header fields: Location, Content-Disposition */
  struct html out;
  /* PAGE_DASHBOARD: the counts the console kept (dash_cached, read
   * dash_age_s ago, kept dash_keep_s), or read now (dash_fresh, in
   * dash_read_ms) */
  struct cg_query_dashboard dash;
  bool dash_cached, dash_fresh;
  unsigned dash_age_s, dash_keep_s;
  uint64_t dash_read_ms;
  /* PAGE_LOGIN: by password (text), or by the TLS client certificate
   * naming the operator p1 (cert_login) */
  bool cert_login;
  bool login_ok, login_locked;
  enum con_role login_role;
};

/* console_pages.c, on the console's thread: does j->page and fills the answer. */
void con_run(struct con_job *j);
/* The configuration in force (on the loop: no database; the admin's page):
 * [server], [store], [console], [log] and each profile, every value as the
 * file would write it, secrets left out. */
void con_config_page(struct con_job *j, const struct cg_config *cfg,
                     const struct cg_config_profile *const *profiles, size_t n_profiles);
/* The login page (on the loop: no database), with a message when not NULL,
 * and a button to log in as cert_name with the TLS client certificate when
 * that is not NULL. */
void con_login_page(struct html *h, const char *message, const char *cert_name);
/* The role named by the database ("viewer"...), ROLE_NONE for another. */
enum con_role con_role_of(const char *name);

/* The stylesheet /static/console.css. */
extern const char con_css[];

#endif
