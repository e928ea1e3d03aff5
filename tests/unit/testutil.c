/*
 * testutil.c - file, hex and log-capturing helpers for the unit tests.
 */
#include "testutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int capture_fd = -1, stderr_fd = -1;

void tu_capture_stderr(void) {
  char tmp[] = "/tmp/cmpgw-test-log-XXXXXX";
  capture_fd = mkstemp(tmp);
  if (capture_fd < 0)
    abort();
  unlink(tmp);
  fflush(stderr);
  stderr_fd = dup(STDERR_FILENO);
  if (stderr_fd < 0 || dup2(capture_fd, STDERR_FILENO) != STDERR_FILENO)
    abort();
}

const char *tu_captured_stderr(void) {
  static char text[8192];
  fflush(stderr);
  if (dup2(stderr_fd, STDERR_FILENO) != STDERR_FILENO)
    abort();
  close(stderr_fd);
  ssize_t n = pread(capture_fd, text, sizeof text - 1, 0);
  close(capture_fd);
  text[n > 0 ? n : 0] = 0;
  return text;
}

uint8_t *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 4096, n = 0;
  uint8_t *p = malloc(cap);
  size_t r;
  while (p != NULL && (r = fread(p + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      uint8_t *q = realloc(p, cap *= 2);
      if (q == NULL) {
        free(p);
        p = NULL;
      }
      p = q;
    }
  }
  fclose(f);
  *len = n;
  return p;
}

uint8_t *tu_hex(const char *hex, size_t *len) {
  size_t n = strlen(hex);
  uint8_t *out = malloc(n / 2 + 1);
  size_t o = 0;
  int hi = -1;
  for (size_t i = 0; i < n; i++) {
    if (isspace((unsigned char)hex[i]))
      continue;
    int v;
    char c = (char)tolower((unsigned char)hex[i]);
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else
      abort();
    if (hi < 0) {
      hi = v;
    } else {
      out[o++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  if (hi >= 0)
    abort();
  *len = o;
  return out;
}
