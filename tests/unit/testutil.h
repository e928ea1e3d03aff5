/*
 * testutil.h - small helpers shared by the unit tests.
 */
#ifndef CG_TESTUTIL_H
#define CG_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads a whole file into a malloc'ed buffer; NULL when it cannot. */
uint8_t *tu_read_file(const char *path, size_t *len);
/* Decodes hex (whitespace ignored) into a malloc'ed buffer; aborts on bad input. */
uint8_t *tu_hex(const char *hex, size_t *len);
/* The log (stderr) goes to a temporary file from tu_capture_stderr() until
 * tu_captured_stderr(), which returns what was written meanwhile (in a
 * static buffer, the first 8 KiB).  Aborts when a file cannot be made. */
void tu_capture_stderr(void);
const char *tu_captured_stderr(void);
/* A random number of exactly bits bits (big-endian, (bits + 7) / 8 octets
 * into out), odd or even as asked. */
void tu_random_bits(unsigned bits, bool odd, uint8_t *out);
/* A DER SubjectPublicKeyInfo of an rsaEncryption key (RFC 8017 §A.1.1) with
 * a random odd modulus of exactly n_bits bits (even when even_modulus) and a
 * random odd public exponent of exactly e_bits bits (e_bits 17: 65537),
 * written into out; returns its length.  No private key exists for it: it
 * serves tests of what is refused before a key is used. */
size_t tu_rsa_spki(unsigned n_bits, bool even_modulus, unsigned e_bits, uint8_t *out, size_t cap);
/* A Name of n RDNs, each a common name of value_len octets of letters, or
 * (when ctl) a serialNumber of value_len control characters, which its
 * RFC 4514 text writes as "serialNumber=" and three characters each.
 * Malloc'ed; *len gets its size. */
uint8_t *tu_name(size_t n, size_t value_len, bool ctl, size_t *len);
/* GeneralNames (RFC 5280 §4.2.1.6) of n dNSNames "aaa...a.example", each
 * name_len octets long (9..71: one label of at most 63).  Malloc'ed. */
uint8_t *tu_dns_names(size_t n, size_t name_len, size_t *len);

#endif
