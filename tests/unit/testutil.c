/*
 * testutil.c - file, hex, log-capturing and key helpers for the unit tests.
 */
#include "testutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/der.h"
#include "core/oid.h"

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

void tu_random_bits(unsigned bits, bool odd, uint8_t *out) {
  size_t n = (bits + 7) / 8;
  if (bits == 0 || cg_random(out, n) != 0)
    abort();
  unsigned top = (bits - 1) % 8; /* the highest bit set in out[0] */
  out[0] &= (uint8_t)((2u << top) - 1);
  out[0] |= (uint8_t)(1u << top);
  out[n - 1] = odd ? out[n - 1] | 1 : out[n - 1] & 0xfe;
}

size_t tu_rsa_spki(unsigned n_bits, bool even_modulus, unsigned e_bits, uint8_t *out, size_t cap) {
  static const uint8_t f4[] = {0x01, 0x00, 0x01};
  uint8_t n[1100], e[1100], key[2300];
  size_t key_len, len;
  if ((n_bits + 7) / 8 > sizeof n || (e_bits + 7) / 8 > sizeof e)
    abort();
  tu_random_bits(n_bits, !even_modulus, n);
  if (e_bits == 17)
    memcpy(e, f4, sizeof f4);
  else
    tu_random_bits(e_bits, true, e);
  /* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } */
  struct der_writer w;
  cg_der_writer_init(&w, key, sizeof key);
  size_t seq = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_uint_bytes(&w, DER_INTEGER, n, (n_bits + 7) / 8);
  cg_der_put_uint_bytes(&w, DER_INTEGER, e, (e_bits + 7) / 8);
  cg_der_end(&w, seq);
  if (cg_der_writer_finish(&w, &key_len))
    abort();
  /* SubjectPublicKeyInfo with AlgorithmIdentifier { rsaEncryption, NULL } */
  cg_der_writer_init(&w, out, cap);
  size_t spki = cg_der_begin(&w, DER_SEQUENCE);
  size_t alg = cg_der_begin(&w, DER_SEQUENCE);
  cg_der_put_oid(&w, CG_OID_RSA_ENCRYPTION);
  cg_der_put_null(&w);
  cg_der_end(&w, alg);
  cg_der_put_bit_string(&w, key, key_len);
  cg_der_end(&w, spki);
  if (cg_der_writer_finish(&w, &len))
    abort();
  return len;
}

uint8_t *tu_name(size_t n, size_t value_len, bool ctl, size_t *len) {
  uint8_t *value = malloc(value_len ? value_len : 1), *out = NULL;
  struct der_writer w;
  if (value == NULL)
    abort();
  memset(value, ctl ? 0x01 : 'a', value_len);
  /* Measured first, then written. */
  for (int pass = 0; pass < 2; pass++) {
    cg_der_writer_init(&w, out, out ? *len : 0);
    size_t name = cg_der_begin(&w, DER_SEQUENCE);
    for (size_t i = 0; i < n; i++) {
      size_t set = cg_der_begin(&w, DER_SET);
      size_t atv = cg_der_begin(&w, DER_SEQUENCE);
      cg_der_put_oid(&w, ctl ? CG_OID_AT_SERIAL : CG_OID_AT_CN);
      cg_der_put_tlv(&w, DER_UTF8_STRING, value, value_len);
      cg_der_end(&w, atv);
      cg_der_end(&w, set);
    }
    cg_der_end(&w, name);
    if (cg_der_writer_finish(&w, len) || (pass == 0 && (out = malloc(*len)) == NULL))
      abort();
  }
  free(value);
  return out;
}

uint8_t *tu_dns_names(size_t n, size_t name_len, size_t *len) {
  char name[80];
  uint8_t *out = NULL;
  struct der_writer w;
  if (name_len < 9 || name_len >= sizeof name || name_len - 8 > 63)
    abort();
  memset(name, 'a', name_len - 8);
  memcpy(name + name_len - 8, ".example", 8);
  for (int pass = 0; pass < 2; pass++) {
    cg_der_writer_init(&w, out, out ? *len : 0);
    size_t seq = cg_der_begin(&w, DER_SEQUENCE);
    for (size_t i = 0; i < n; i++)
      cg_der_put_tlv(&w, DER_CTX(2), name, name_len);
    cg_der_end(&w, seq);
    if (cg_der_writer_finish(&w, len) || (pass == 0 && (out = malloc(*len)) == NULL))
      abort();
  }
  return out;
}
