/*
 * arena.h — a bump allocator that frees everything at once.
 *
 * A session owns one: loaded objects, their strings, snapshots and result
 * arrays are carved from it and released together by util_arena_free, which
 * is what makes "the session owns what it returns" cheap and leak-free.
 * Arenas may share a pool that keeps freed chunks for the next arena, so a
 * program that opens session after session reuses memory whose pages are
 * already mapped instead of faulting in fresh ones each time.
 */
#ifndef CORM_UTIL_ARENA_H
#define CORM_UTIL_ARENA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct util_arena_chunk util_arena_chunk;

/* Freed chunks kept for reuse, up to `max` bytes; thread-safe. */
typedef struct util_arena_pool {
    pthread_mutex_t lock;
    util_arena_chunk *free;
    size_t bytes, max;
} util_arena_pool;

typedef struct util_arena {
    util_arena_chunk *head;
    char *p, *end;
    size_t chunk_size;
    util_arena_pool *pool;
} util_arena;

void util_arena_pool_init(util_arena_pool *pool, size_t max);
/* Free the kept chunks. No arena may use the pool after this. */
void util_arena_pool_free(util_arena_pool *pool);

/* Blocks for growable arrays (identity maps, row lists), kept in the pool
 * when freed like arena chunks. pool may be NULL (plain malloc). zero: the
 * block is zeroed. NULL when out of memory. */
void *util_pool_alloc(util_arena_pool *pool, size_t n, bool zero);
void util_pool_free(util_arena_pool *pool, void *p);
/* Free a block to malloc, not the pool: one an array has outgrown (the
 * pool would keep every size a growing array passed through, doubling its
 * memory while the session lives). */
void util_pool_discard(void *p);
/* util_grow (alloc.h) for a pooled array: its first block may come from
 * the pool; it grows by realloc (in place where malloc can: for large
 * blocks, by remapping pages, never holding the old and new at once). */
int util_pool_grow_full(util_arena_pool *pool, void *pp, size_t *cap, size_t n, size_t elem,
                        size_t first);
static inline int util_pool_grow(util_arena_pool *pool, void *pp, size_t *cap, size_t n,
                                 size_t elem, size_t first)
{
    return n < *cap ? 0 : util_pool_grow_full(pool, pp, cap, n, elem, first);
}

/* pool may be NULL. */
void util_arena_init(util_arena *a, size_t chunk_size, util_arena_pool *pool);
/* size bytes aligned to 8 (enough for every corm value, not for long double
 * or SIMD types), or NULL when out of memory. */
void *util_arena_alloc(util_arena *a, size_t size);
void *util_arena_zalloc(util_arena *a, size_t size);
/* Where the next util_arena_alloc of at most size bytes will be, room made
 * for it: the caller may write there first, then allocate the bytes it
 * used (a record whose length is known only once written). NULL when out
 * of memory. */
void *util_arena_reserve(util_arena *a, size_t size);
char *util_arena_strndup(util_arena *a, const char *s, size_t n);
void *util_arena_memdup(util_arena *a, const void *p, size_t n);
/* Release every chunk (to the pool while it has room). */
void util_arena_free(util_arena *a);

#endif
