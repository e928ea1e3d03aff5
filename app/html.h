/*
 * html.h - the console's pages written into a buffer, every value escaped
 * unless the page says it is markup of its own.
 *
 * html_fmt() is printf-like with a small, fixed set of conversions:
 *   %s   text, HTML-escaped (& < > " ' become entities; invalid UTF-8 and
 *        control characters become U+FFFD), so a subject, a SAN, a note or a
 *        reason a device or a person sent shows as text in an element or an
 *        attribute value, never as markup;
 *   %u   a URL component, percent-encoded (RFC 3986 unreserved kept);
 *   %M   markup the page itself made (a literal, or another html's text);
 *   %d %lld %zu %u0 numbers (%u0: unsigned).
 * There is no way to put a value in unescaped by mistake: text is %s.
 */
#ifndef CG_APP_HTML_H
#define CG_APP_HTML_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct html {
  struct cg_buf b;
  bool failed; /* out of memory or over the limit: the page is not to be sent */
};

void html_init(struct html *h, size_t limit);
void html_free(struct html *h);
void html_fmt(struct html *h, const char *fmt, ...);
void html_vfmt(struct html *h, const char *fmt, va_list ap);
/* Appends s escaped as text (html_fmt's %s). */
void html_text(struct html *h, const char *s);
/* The NUL-terminated page (NULL when failed). */
const char *html_str(struct html *h);

/* Percent-decodes an application/x-www-form-urlencoded field: '+' is a
 * space.  n octets of src into out (NUL-terminated, at most cap - 1
 * octets); false when it does not fit or has a bad escape or a NUL. */
bool html_form_decode(const char *src, size_t n, char *out, size_t cap);
/* The value of field name in a form body or query string (name=value&...),
 * decoded into out; false when absent or not decodable. */
bool html_form_field(const char *form, size_t len, const char *name, char *out, size_t cap);

#endif
