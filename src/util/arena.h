/*
 * arena.h — a bump allocator that frees everything at once.
 *
 * A session owns one: loaded objects, their strings, snapshots and result
 * arrays are carved from it and released together by util_arena_free, which
 * is what makes "the session owns what it returns" cheap and leak-free.
 */
#ifndef CORM_UTIL_ARENA_H
#define CORM_UTIL_ARENA_H

#include <stddef.h>

typedef struct util_arena_chunk util_arena_chunk;

typedef struct util_arena {
    util_arena_chunk *head;
    char *p, *end;
    size_t chunk_size;
} util_arena;

void util_arena_init(util_arena *a, size_t chunk_size);
/* size bytes aligned to 8 (enough for every corm value, not for long double
 * or SIMD types), or NULL when out of memory. */
void *util_arena_alloc(util_arena *a, size_t size);
void *util_arena_zalloc(util_arena *a, size_t size);
char *util_arena_strndup(util_arena *a, const char *s, size_t n);
void *util_arena_memdup(util_arena *a, const void *p, size_t n);
void util_arena_free(util_arena *a);

#endif
