/*
 * The console's page writer: values escaped as text (markup, quotes, bad
 * UTF-8, control characters), URL components, numbers, a page's own
 * mistake; form fields decoded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "app/html.h"

static const char *fmt(struct html *h, const char *f, ...) {
  html_free(h);
  html_init(h, 4096);
  va_list ap;
  va_start(ap, f);
  html_vfmt(h, f, ap);
  va_end(ap);
  return html_str(h);
}

static void test_text_is_escaped(void **state) {
  (void)state;
  struct html h;
  html_init(&h, 4096);
  assert_string_equal(fmt(&h, "<td>%s</td>", "<script>alert(1)</script>"),
                      "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>");
  assert_string_equal(fmt(&h, "<a title=\"%s\">", "x\" onmouseover='y' &"),
                      "<a title=\"x&quot; onmouseover=&#39;y&#39; &amp;\">");
  /* Valid UTF-8 passes; a bad sequence, an overlong one, a surrogate and a
   * control character become U+FFFD. */
  assert_string_equal(fmt(&h, "%s", "Gr\xC3\xBC\xC3\x9F" "e"), "Gr\xC3\xBC\xC3\x9F" "e");
  assert_string_equal(fmt(&h, "%s", "a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  assert_string_equal(fmt(&h, "%s", "\xC0\xBC"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  assert_string_equal(fmt(&h, "%s", "\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  assert_string_equal(fmt(&h, "%s", "a\x1b[31mb"), "a\xEF\xBF\xBD[31mb");
  assert_string_equal(fmt(&h, "%s|%s", NULL, ""), "|");
  html_free(&h);
}

static void test_markup_numbers_and_urls(void **state) {
  (void)state;
  struct html h;
  html_init(&h, 4096);
  assert_string_equal(fmt(&h, "%M%d %lld %zu %u0 100%%", "<b>", -3, (long long)1 << 40,
                          (size_t)7, 4000000000u),
                      "<b>-3 1099511627776 7 4000000000 100%");
  assert_string_equal(fmt(&h, "/certs?q=%u", "a b&c=d/é"), "/certs?q=a%20b%26c%3Dd%2F%C3%A9");
  /* A conversion the writer does not know fails the page, never half sent. */
  assert_null(fmt(&h, "<p>%x</p>", 1));
  html_free(&h);
}

static void test_limit_fails_the_page(void **state) {
  (void)state;
  struct html h;
  html_init(&h, 8);
  html_fmt(&h, "%s", "0123456789");
  assert_null(html_str(&h));
  html_free(&h);
}

static void test_form_fields(void **state) {
  (void)state;
  char v[32];
  const char *form = "name=alice&password=a+b%26c%3D&empty=&csrf=00ff";
  size_t n = strlen(form);
  assert_true(html_form_field(form, n, "name", v, sizeof v));
  assert_string_equal(v, "alice");
  assert_true(html_form_field(form, n, "password", v, sizeof v));
  assert_string_equal(v, "a b&c=");
  assert_true(html_form_field(form, n, "empty", v, sizeof v));
  assert_string_equal(v, "");
  assert_true(html_form_field(form, n, "csrf", v, sizeof v));
  assert_string_equal(v, "00ff");
  assert_false(html_form_field(form, n, "nam", v, sizeof v));
  assert_false(html_form_field(form, n, "missing", v, sizeof v));
  assert_false(html_form_field("a=%4", 4, "a", v, sizeof v));     /* a cut escape */
  assert_false(html_form_field("a=%zz", 5, "a", v, sizeof v));    /* not hex */
  assert_false(html_form_field("a=x%00y", 7, "a", v, sizeof v));  /* a NUL */
  assert_false(html_form_field("a=0123456789", 12, "a", v, 8));   /* too long */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_is_escaped),
      cmocka_unit_test(test_markup_numbers_and_urls),
      cmocka_unit_test(test_limit_fails_the_page),
      cmocka_unit_test(test_form_fields),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
