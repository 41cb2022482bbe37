/*
 * core/arena.h — region allocator: many allocations, one release.
 *
 * A request, a transaction or a batch owns an arena; everything allocated from it is released
 * together by arena_reset() or arena_destroy(). Non-memory resources (a PGresult, a json_t) are
 * registered with arena_defer() and released, last registered first, at the same moment.
 * An arena may carry a byte budget: an allocation past it fails (returns NULL) instead of
 * growing, so a request cannot exhaust the process.
 *
 * Out of memory from the system aborts the process (the orchestrator restarts it); only the
 * budget makes arena_alloc return NULL. An arena is used by one thread at a time.
 */
#ifndef LODE_CORE_ARENA_H
#define LODE_CORE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

/* Creates an arena. budget_bytes = 0 means no budget. Never returns NULL. */
struct arena *arena_create(size_t budget_bytes);

/* Releases every allocation and runs the deferred cleanups, then frees the arena. NULL is fine. */
void arena_destroy(struct arena *a);

/* Releases every allocation and runs the deferred cleanups; the arena stays usable. */
void arena_reset(struct arena *a);

/* Allocates n bytes aligned for any type, or NULL when the budget would be exceeded. */
void *arena_alloc(struct arena *a, size_t n);

/* As arena_alloc, zero-filled; count * size overflow returns NULL. */
void *arena_calloc(struct arena *a, size_t count, size_t size);

/* Copies len bytes and appends a NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t len);
char *arena_strdup(struct arena *a, const char *s);

/* printf into the arena. */
char *arena_sprintf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vsprintf(struct arena *a, const char *fmt, va_list ap);

/* Registers fn(ptr) to run when the arena is reset or destroyed (LIFO order). */
void arena_defer(struct arena *a, void (*fn)(void *), void *ptr);

/* Bytes handed out since creation or the last reset (for metrics and budgets). */
size_t arena_used_bytes(const struct arena *a);

#endif
