/*
 * core/arena.c — a chain of blocks with a bump pointer; large requests get a block of their own.
 */
#include "core/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_BYTES 8192
#define ALIGN_BYTES 16

struct block {
    struct block *next;
    size_t cap;
    size_t used;
    _Alignas(ALIGN_BYTES) unsigned char data[];
};

struct deferred {
    struct deferred *next;
    void (*fn)(void *);
    void *ptr;
};

struct arena {
    struct block *head;
    struct deferred *deferred;
    size_t budget_bytes;
    size_t used_bytes;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fputs("{\"level\":\"fatal\",\"event\":\"out_of_memory\"}\n", stderr);
        abort();
    }
    return p;
}

struct arena *arena_create(size_t budget_bytes)
{
    struct arena *a = xmalloc(sizeof *a);
    a->head = NULL;
    a->deferred = NULL;
    a->budget_bytes = budget_bytes;
    a->used_bytes = 0;
    return a;
}

void arena_reset(struct arena *a)
{
    if (a == NULL)
        return;
    while (a->deferred != NULL) {
        struct deferred *d = a->deferred;
        a->deferred = d->next;
        d->fn(d->ptr); /* the record itself lives in a block, freed below */
    }
    while (a->head != NULL) {
        struct block *b = a->head;
        a->head = b->next;
        free(b);
    }
    a->used_bytes = 0;
}

void arena_destroy(struct arena *a)
{
    if (a == NULL)
        return;
    arena_reset(a);
    free(a);
}

void *arena_alloc(struct arena *a, size_t n)
{
    size_t rounded;
    struct block *b;

    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - ALIGN_BYTES)
        return NULL;
    rounded = (n + ALIGN_BYTES - 1) & ~(size_t)(ALIGN_BYTES - 1);
    if (a->budget_bytes != 0 &&
        (a->used_bytes > a->budget_bytes || rounded > a->budget_bytes - a->used_bytes))
        return NULL;
    b = a->head;
    if (b == NULL || b->cap - b->used < rounded) {
        size_t cap = rounded > BLOCK_BYTES / 2 ? rounded : BLOCK_BYTES;
        struct block *nb = xmalloc(sizeof *nb + cap);
        nb->cap = cap;
        nb->used = 0;
        if (b != NULL && cap != BLOCK_BYTES) {
            /* a dedicated block: keep the current one on top so its free space stays usable */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += rounded;
    a->used_bytes += rounded;
    return p;
}

void *arena_calloc(struct arena *a, size_t count, size_t size)
{
    void *p;

    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    p = arena_alloc(a, count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
    char *p;

    if (len == SIZE_MAX)
        return NULL;
    p = arena_alloc(a, len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_vsprintf(struct arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    char *p;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    p = arena_alloc(a, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_sprintf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    char *p;

    va_start(ap, fmt);
    p = arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

void arena_defer(struct arena *a, void (*fn)(void *), void *ptr)
{
    /* cleanup records are not charged to the budget: registering must not fail */
    size_t saved = a->budget_bytes;
    struct deferred *d;

    a->budget_bytes = 0;
    d = arena_alloc(a, sizeof *d);
    a->budget_bytes = saved;
    d->fn = fn;
    d->ptr = ptr;
    d->next = a->deferred;
    a->deferred = d;
}

size_t arena_used_bytes(const struct arena *a)
{
    return a->used_bytes;
}
