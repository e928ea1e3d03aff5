/*
 * testutil.h - small helpers shared by the unit tests.
 */
#ifndef CG_TESTUTIL_H
#define CG_TESTUTIL_H

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

#endif
