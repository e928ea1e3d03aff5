/*
 * sigcount.h - counting signature verifications.  A test that includes this
 * header is linked with cg_verify() of core/crypto wrapped: every call (from
 * the project's static libraries and from the test itself) is counted, then
 * passed on.  Bounds on the work a request may cause are tested by counting
 * what was done, never by timing it.
 */
#ifndef CG_SIGCOUNT_H
#define CG_SIGCOUNT_H

/* Verifications since the last sigcount_reset() (or the start). */
unsigned sigcount_verifications(void);
void sigcount_reset(void);

#endif
