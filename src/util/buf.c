/*
 * buf.c — growable byte buffer (see buf.h).
 */
#include "util/buf.h"
#include "util/alloc.h"
#include "corm/corm.h"

#include <stdio.h>
#include <string.h>

static int reserve(util_buf *b, size_t extra)
{
    if (b->err)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 128;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = util_realloc(b->p, cap);
    if (!p) {
        b->err = CORM_ENOMEM;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void util_buf_put(util_buf *b, const char *s, size_t n)
{
    if (reserve(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void util_buf_puts(util_buf *b, const char *s) { util_buf_put(b, s, strlen(s)); }
void util_buf_putc(util_buf *b, char c) { util_buf_put(b, &c, 1); }

void util_buf_vprintf(util_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || reserve(b, (size_t)n) < 0)
        return;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void util_buf_printf(util_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    util_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void util_buf_reset(util_buf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->p)
        b->p[0] = '\0';
}

const char *util_buf_str(util_buf *b) { return b->p ? b->p : ""; }

void util_buf_free(util_buf *b)
{
    util_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}
