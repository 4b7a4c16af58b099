/*
 * arena.c — chunked bump allocation (see arena.h). Chunks grow with the
 * arena so that a session loading 100,000 rows makes a few dozen mallocs.
 */
#include "util/arena.h"
#include "util/alloc.h"

#include <stdalign.h>
#include <stdint.h>
#include <string.h>

/* 8 bytes: every value corm stores needs no more */
#define ALIGN ((size_t)8)

struct util_arena_chunk {
    util_arena_chunk *next;
    alignas(max_align_t) char data[];
};

void util_arena_init(util_arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->p = a->end = NULL;
    a->chunk_size = chunk_size ? chunk_size : 4096;
}

static int grow(util_arena *a, size_t size)
{
    size_t n = a->chunk_size;
    if (n < size)
        n = size;
    util_arena_chunk *c = util_malloc(sizeof *c + n);
    if (!c)
        return -1;
    c->next = a->head;
    a->head = c;
    a->p = c->data;
    a->end = c->data + n;
    if (a->chunk_size < (1u << 20))
        a->chunk_size *= 2;
    return 0;
}

void *util_arena_alloc(util_arena *a, size_t size)
{
    /* strings are packed unaligned, so align the cursor first */
    size_t pad = (ALIGN - ((uintptr_t)a->p & (ALIGN - 1))) & (ALIGN - 1);
    if (!a->p || (size_t)(a->end - a->p) < pad + size) {
        if (grow(a, size) < 0)
            return NULL;
        pad = 0;
    }
    void *r = a->p + pad;
    a->p += pad + size;
    return r;
}

void *util_arena_zalloc(util_arena *a, size_t size)
{
    void *p = util_arena_alloc(a, size);
    if (p)
        memset(p, 0, size);
    return p;
}

char *util_arena_strndup(util_arena *a, const char *s, size_t n)
{
    /* strings need no alignment: take bytes from the current chunk */
    if ((size_t)(a->end - a->p) < n + 1 && grow(a, n + 1) < 0)
        return NULL;
    char *d = a->p;
    memcpy(d, s, n);
    d[n] = '\0';
    a->p += n + 1;
    return d;
}

void *util_arena_memdup(util_arena *a, const void *p, size_t n)
{
    void *d = util_arena_alloc(a, n);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

void util_arena_free(util_arena *a)
{
    util_arena_chunk *c = a->head;
    while (c) {
        util_arena_chunk *next = c->next;
        util_free(c);
        c = next;
    }
    util_arena_init(a, 0);
}
