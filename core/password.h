/*
 * password.h - operators' passwords as the database keeps them: never the
 * password, only PBKDF2-HMAC-SHA256 (RFC 8018) over it with a random salt,
 * written "pbkdf2-sha256$ITERATIONS$SALT$HASH" (salt 16 octets and hash 32
 * octets, lowercase hex).  600,000 iterations: OWASP's figure for PBKDF2 with
 * HMAC-SHA256 (2023); one check costs about 0.1 s of one CPU here
 * (`cmpgw operator add` takes 0.12 s in all), so the console runs it on a
 * worker, never on the loop.
 *
 * Thread-safe.
 */
#ifndef CG_CORE_PASSWORD_H
#define CG_CORE_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CG_PASSWORD_ITERATIONS 600000u
/* "pbkdf2-sha256$" 10 digits '$' 32 hex '$' 64 hex, and a NUL. */
#define CG_PASSWORD_HASH_MAX 128
/* Passwords are 8 to 1,024 octets. */
#define CG_PASSWORD_MIN 8
#define CG_PASSWORD_MAX 1024

/* The stored form of pass (len octets) with a new salt and iterations (0:
 * CG_PASSWORD_ITERATIONS).  0, CG_EINVAL (a length out of bounds) or
 * CG_ECRYPTO. */
int cg_password_hash(const char *pass, size_t len, uint32_t iterations,
                     char out[CG_PASSWORD_HASH_MAX]);
/* Whether pass is the password stored (compared in constant time).  False
 * too for a stored value not in the form above. */
bool cg_password_verify(const char *pass, size_t len, const char *stored);

#endif
