/*
 * alloc.h — the one allocator every corm allocation goes through.
 *
 * It exists so that out-of-memory can be tested: util_alloc_fail_after(n)
 * makes the (n+1)th allocation from now fail, as SQLite's fault simulator
 * does, and the test suite walks n over every allocation of an operation.
 */
#ifndef CORM_UTIL_ALLOC_H
#define CORM_UTIL_ALLOC_H

#include <stddef.h>

void *util_malloc(size_t n);
void *util_calloc(size_t count, size_t n);
void *util_realloc(void *p, size_t n);
void util_free(void *p);
char *util_strdup(const char *s);
/* Make room for one more element in the growable array *pp of *cap elements
 * of elem bytes holding n: doubles the array (first: `first` elements) when
 * full. 0, or -1 when out of memory (the array is untouched). */
int util_grow_full(void *pp, size_t *cap, size_t n, size_t elem, size_t first);
static inline int util_grow(void *pp, size_t *cap, size_t n, size_t elem, size_t first)
{
    return n < *cap ? 0 : util_grow_full(pp, cap, n, elem, first); /* on every push: inline */
}
char *util_strndup(const char *s, size_t n);

/* Test hooks. n < 0 disarms; n >= 0 lets n allocations succeed, then fails
 * every later one until disarmed. Not thread-safe: for tests only. */
void util_alloc_fail_after(long n);
/* The same, failing the (n+1)th allocation only: the ones after succeed
 * again (SQLite's "transient" faults; the above are its "persistent"). */
void util_alloc_fail_once(long n);
/* Allocations attempted since the hook was last armed. */
long util_alloc_count(void);
/* Whether an allocation failed since the hook was last armed. */
int util_alloc_failed(void);

#endif
