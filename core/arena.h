/*
 * arena.h - a bump allocator per request.  Everything a request decodes or
 * builds lives in its arena and is released at once with cg_arena_free();
 * objects of other libraries (keys, statements) are released by cleanup hooks
 * registered on the arena, run in reverse order of registration.
 */
#ifndef CG_CORE_ARENA_H
#define CG_CORE_ARENA_H

#include <stddef.h>

struct cg_arena;

/* A new arena whose chunks are at least chunk octets; NULL when out of memory. */
struct cg_arena *cg_arena_new(size_t chunk);
/* n octets aligned for any type, or NULL when out of memory.  Contents are
 * zeroed. */
void *cg_arena_alloc(struct cg_arena *a, size_t n);
/* A copy of n octets (and a NUL after them), or NULL. */
void *cg_arena_dup(struct cg_arena *a, const void *p, size_t n);
/* Registers fn(arg) to run when the arena is freed.  0 or CG_ENOMEM (fn is
 * then called at once, so the object is never leaked). */
int cg_arena_on_free(struct cg_arena *a, void (*fn)(void *), void *arg);
/* Runs the cleanup hooks, newest first, and releases all memory.  NULL is a no-op. */
void cg_arena_free(struct cg_arena *a);

#endif
