/*
 * alloc.c — malloc with a fault-injection hook (see alloc.h).
 */
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

static long fail_after = -1;
static long attempts;
static int failed, once;

void util_alloc_fail_after(long n)
{
    fail_after = n;
    attempts = 0;
    failed = 0;
    once = 0;
}

void util_alloc_fail_once(long n)
{
    util_alloc_fail_after(n);
    once = 1;
}

long util_alloc_count(void) { return attempts; }
int util_alloc_failed(void) { return failed; }

static int should_fail(void)
{
    if (fail_after < 0)
        return 0;
    if (once ? attempts++ == fail_after : attempts++ >= fail_after) {
        failed = 1;
        return 1;
    }
    return 0;
}

void *util_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *util_calloc(size_t count, size_t n)
{
    return should_fail() ? NULL : calloc(count ? count : 1, n ? n : 1);
}

void *util_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

void util_free(void *p) { free(p); }

char *util_strndup(const char *s, size_t n)
{
    char *d = util_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *util_strdup(const char *s) { return util_strndup(s, strlen(s)); }

int util_grow_full(void *pp, size_t *cap, size_t n, size_t elem, size_t first)
{
    (void)n; /* n == *cap: util_grow calls this only when full */
    size_t c = *cap ? *cap * 2 : first;
    void *p = util_realloc(*(void **)pp, c * elem);
    if (!p)
        return -1;
    *(void **)pp = p;
    *cap = c;
    return 0;
}
