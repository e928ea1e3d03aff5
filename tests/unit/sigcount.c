/*
 * sigcount.c - see sigcount.h.  The linker sends every reference to
 * cg_verify here (-Wl,--wrap=cg_verify); __real_cg_verify is the function
 * of core/crypto.
 */
#include "sigcount.h"

#include <stdatomic.h>

#include "core/crypto.h"

static atomic_uint verifications;

int __real_cg_verify(const struct cg_key *key, enum cg_sig_scheme scheme, enum cg_hash hash,
                     const struct cg_iov *data, size_t n, const uint8_t *sig, size_t sig_len);

int __wrap_cg_verify(const struct cg_key *key, enum cg_sig_scheme scheme, enum cg_hash hash,
                     const struct cg_iov *data, size_t n, const uint8_t *sig, size_t sig_len) {
  atomic_fetch_add(&verifications, 1);
  return __real_cg_verify(key, scheme, hash, data, n, sig, sig_len);
}

unsigned sigcount_verifications(void) { return atomic_load(&verifications); }

void sigcount_reset(void) { atomic_store(&verifications, 0); }
