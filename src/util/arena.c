/*
 * arena.c — chunked bump allocation (see arena.h). Chunks grow with the
 * arena up to a fixed size, so that a session loading 100,000 rows makes a
 * few dozen allocations, and pooled chunks fit the next arena.
 */
#define _DEFAULT_SOURCE /* madvise's Linux advice (MADV_POPULATE_WRITE) */
#include "util/arena.h"
#include "util/alloc.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* 8 bytes: every value corm stores needs no more */
#define ALIGN ((size_t)8)
#define MAX_CHUNK ((size_t)256 * 1024)

struct util_arena_chunk {
    util_arena_chunk *next;
    size_t size;
    alignas(max_align_t) char data[];
};

/* A new chunk or array of this size is written through soon after it is
 * made (objects, rows, the identity map): its pages are mapped with one
 * call instead of one fault each as they are first written. Each fault is
 * a trap into the kernel, dear in a virtual machine: populating costs a
 * quarter to a third less per page there (measured: 2.1 against 1.5 us per
 * 4 kB page), and a tracked scan of 100,000 rows writes some 6,700.
 * Best effort: a kernel before Linux 5.14 refuses the advice and the pages
 * fault in as before. Pooled chunks are mapped already and are skipped. */
#define POPULATE_MIN ((size_t)64 * 1024)
static void populate(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    long ps = n < POPULATE_MIN ? 0 : sysconf(_SC_PAGESIZE);
    if (ps <= 0)
        return;
    uintptr_t page = (uintptr_t)ps;
    uintptr_t from = ((uintptr_t)p + page - 1) & ~(page - 1), to = ((uintptr_t)p + n) & ~(page - 1);
    if (to > from)
        (void)madvise((void *)from, to - from, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n;
#endif
}

void util_arena_pool_init(util_arena_pool *pool, size_t max)
{
    pthread_mutex_init(&pool->lock, NULL);
    pool->free = NULL;
    pool->bytes = 0;
    pool->max = max;
}

void util_arena_pool_free(util_arena_pool *pool)
{
    util_arena_chunk *c = pool->free;
    while (c) {
        util_arena_chunk *next = c->next;
        util_free(c);
        c = next;
    }
    pool->free = NULL;
    pool->bytes = 0;
    pthread_mutex_destroy(&pool->lock);
}

void util_arena_init(util_arena *a, size_t chunk_size, util_arena_pool *pool)
{
    a->head = NULL;
    a->p = a->end = NULL;
    a->chunk_size = chunk_size ? chunk_size : 4096;
    a->pool = pool;
}

/* The smallest pooled chunk of at least n bytes (and at most 2n when the
 * rest would be wasted: arrays), or NULL. An arena uses a chunk whole. */
static util_arena_chunk *from_pool(util_arena_pool *pool, size_t n, bool whole)
{
    util_arena_chunk **best = NULL;
    pthread_mutex_lock(&pool->lock);
    for (util_arena_chunk **pp = &pool->free; *pp; pp = &(*pp)->next)
        if ((*pp)->size >= n && (whole || (*pp)->size / 2 <= n) &&
            (!best || (*pp)->size < (*best)->size))
            best = pp;
    util_arena_chunk *c = best ? *best : NULL;
    if (c) {
        *best = c->next;
        pool->bytes -= c->size;
    }
    pthread_mutex_unlock(&pool->lock);
    return c;
}

/* Give c to the pool while it has room, else free it. Called locked. */
static void to_pool(util_arena_pool *pool, util_arena_chunk *c)
{
    if (pool && pool->bytes + c->size <= pool->max) {
        c->next = pool->free;
        pool->free = c;
        pool->bytes += c->size;
    } else {
        util_free(c);
    }
}

/* Small blocks are not worth pooling: malloc serves them well. */
#define POOL_MIN ((size_t)64 * 1024)

static util_arena_chunk *chunk_of(void *p)
{
    return (util_arena_chunk *)(void *)((char *)p - offsetof(util_arena_chunk, data));
}

void *util_pool_alloc(util_arena_pool *pool, size_t n, bool zero)
{
    util_arena_chunk *c = pool && n >= POOL_MIN ? from_pool(pool, n, false) : NULL;
    if (!c) {
        if (!(c = util_malloc(sizeof *c + n)))
            return NULL;
        c->size = n;
        populate(c->data, n);
    }
    if (zero)
        memset(c->data, 0, n);
    return c->data;
}

void util_pool_free(util_arena_pool *pool, void *p)
{
    if (!p)
        return;
    util_arena_chunk *c = chunk_of(p);
    if (!pool || c->size < POOL_MIN) {
        util_free(c);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    to_pool(pool, c);
    pthread_mutex_unlock(&pool->lock);
}

void util_pool_discard(void *p)
{
    if (p)
        util_free(chunk_of(p));
}

int util_pool_grow_full(util_arena_pool *pool, void *pp, size_t *cap, size_t n, size_t elem,
                        size_t first)
{
    (void)n; /* n == *cap: util_pool_grow calls this only when full */
    size_t c = *cap ? *cap * 2 : first;
    void *old = *(void **)pp;
    if (!old) {
        if (!(*(void **)pp = util_pool_alloc(pool, c * elem, false)))
            return -1;
    } else {
        util_arena_chunk *ch = util_realloc(chunk_of(old), sizeof *ch + c * elem);
        if (!ch)
            return -1;
        ch->size = c * elem;
        *(void **)pp = ch->data;
    }
    *cap = c;
    return 0;
}

static int grow(util_arena *a, size_t size)
{
    size_t n = a->chunk_size;
    if (n < size)
        n = size;
    util_arena_chunk *c = a->pool ? from_pool(a->pool, n, true) : NULL;
    if (!c) {
        if (!(c = util_malloc(sizeof *c + n)))
            return -1;
        c->size = n;
        populate(c->data, n);
    }
    c->next = a->head;
    a->head = c;
    a->p = c->data;
    a->end = c->data + c->size;
    if (a->chunk_size < MAX_CHUNK)
        a->chunk_size *= 2;
    return 0;
}

void *util_arena_reserve(util_arena *a, size_t size)
{
    /* strings are packed unaligned, so align the cursor first */
    size_t pad = (ALIGN - ((uintptr_t)a->p & (ALIGN - 1))) & (ALIGN - 1);
    if (!a->p || (size_t)(a->end - a->p) < pad + size) {
        if (grow(a, size) < 0)
            return NULL;
        pad = 0;
    }
    return a->p + pad;
}

void *util_arena_alloc(util_arena *a, size_t size)
{
    size_t pad = (ALIGN - ((uintptr_t)a->p & (ALIGN - 1))) & (ALIGN - 1);
    char *r = a->p && (size_t)(a->end - a->p) >= pad + size ? a->p + pad /* most calls */
                                                            : util_arena_reserve(a, size);
    if (r)
        a->p = r + size;
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
    util_arena_pool *pool = a->pool;
    if (pool)
        pthread_mutex_lock(&pool->lock);
    while (c) {
        util_arena_chunk *next = c->next;
        to_pool(pool, c);
        c = next;
    }
    if (pool)
        pthread_mutex_unlock(&pool->lock);
    util_arena_init(a, 0, pool);
}
