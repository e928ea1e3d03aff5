/*
 * html.c - app/html.h.
 */
#include "app/html.h"

#include <stdio.h>
#include <string.h>

#include "core/x509.h"

void html_init(struct html *h, size_t limit) {
  cg_buf_init(&h->b, limit);
  h->failed = false;
}

void html_free(struct html *h) { cg_buf_free(&h->b); }

static void put(struct html *h, const void *p, size_t n) {
  if (!h->failed && cg_buf_append(&h->b, p, n) != 0)
    h->failed = true;
}

/* The length of the valid UTF-8 sequence at s (at most n octets), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
             : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || len > n || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4))
    return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  if (len == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0)))
    return 0; /* overlong, or a surrogate */
  if (len == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90)))
    return 0;
  return len;
}

void html_text(struct html *h, const char *s) {
  if (s == NULL)
    return;
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  while (n > 0) {
    size_t len = utf8_len(p, n);
    const char *rep = NULL;
    if (len == 0 || (len == 1 && (*p < 0x20 || *p == 0x7f) && *p != '\t' && *p != '\n'))
      rep = "\xEF\xBF\xBD";
    else if (*p == '&')
      rep = "&amp;";
    else if (*p == '<')
      rep = "&lt;";
    else if (*p == '>')
      rep = "&gt;";
    else if (*p == '"')
      rep = "&quot;";
    else if (*p == '\'')
      rep = "&#39;";
    if (rep != NULL)
      put(h, rep, strlen(rep));
    else
      put(h, p, len);
    if (len == 0)
      len = 1;
    p += len;
    n -= len;
  }
}

static void url_component(struct html *h, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; p != NULL && *p; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
        *p == '-' || *p == '.' || *p == '_' || *p == '~') {
      put(h, p, 1);
    } else {
      char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      put(h, e, 3);
    }
  }
}

void html_vfmt(struct html *h, const char *fmt, va_list ap) {
  const char *run = fmt;
  for (const char *f = fmt; *f; f++) {
    if (*f != '%')
      continue;
    put(h, run, (size_t)(f - run));
    char num[32];
    f++;
    if (*f == 's') {
      html_text(h, va_arg(ap, const char *));
    } else if (*f == 'M') {
      const char *m = va_arg(ap, const char *);
      if (m != NULL)
        put(h, m, strlen(m));
    } else if (*f == 'u' && f[1] == '0') {
      snprintf(num, sizeof num, "%u", va_arg(ap, unsigned));
      put(h, num, strlen(num));
      f++;
    } else if (*f == 'u') {
      url_component(h, va_arg(ap, const char *));
    } else if (*f == 'd') {
      snprintf(num, sizeof num, "%d", va_arg(ap, int));
      put(h, num, strlen(num));
    } else if (f[0] == 'l' && f[1] == 'l' && f[2] == 'd') {
      snprintf(num, sizeof num, "%lld", va_arg(ap, long long));
      put(h, num, strlen(num));
      f += 2;
    } else if (f[0] == 'z' && f[1] == 'u') {
      snprintf(num, sizeof num, "%zu", va_arg(ap, size_t));
      put(h, num, strlen(num));
      f++;
    } else if (*f == '%') {
      put(h, "%", 1);
    } else {
      h->failed = true; /* a page's own mistake: never sent half right */
      return;
    }
    run = f + 1;
  }
  put(h, run, strlen(run));
}

void html_fmt(struct html *h, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  html_vfmt(h, fmt, ap);
  va_end(ap);
}

const char *html_str(struct html *h) {
  if (h->failed)
    return NULL;
  put(h, "", 1);
  if (h->failed)
    return NULL;
  h->b.len--; /* the NUL is there, not counted */
  return (const char *)h->b.data;
}

bool html_form_decode(const char *src, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = src[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      if (i + 2 >= n)
        return false;
      int a = cg_hex_digit((unsigned char)src[i + 1]), b = cg_hex_digit((unsigned char)src[i + 2]);
      if (a < 0 || b < 0)
        return false;
      c = (char)(a << 4 | b);
      i += 2;
    }
    if (c == '\0' || o + 1 >= cap)
      return false;
    out[o++] = c;
  }
  out[o] = '\0';
  return true;
}

bool html_form_field(const char *form, size_t len, const char *name, char *out, size_t cap) {
  size_t nlen = strlen(name);
  size_t i = 0;
  while (i <= len) {
    const char *amp = memchr(form + i, '&', len - i);
    size_t end = amp != NULL ? (size_t)(amp - form) : len;
    if (end - i > nlen && form[i + nlen] == '=' && memcmp(form + i, name, nlen) == 0)
      return html_form_decode(form + i + nlen + 1, end - i - nlen - 1, out, cap);
    if (end - i == nlen && memcmp(form + i, name, nlen) == 0)
      return html_form_decode("", 0, out, cap);
    if (amp == NULL)
      break;
    i = end + 1;
  }
  return false;
}
