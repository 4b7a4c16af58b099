/*
 * buf.h — a growable byte buffer for building SQL text and messages.
 *
 * Appends never fail visibly: the first allocation failure is latched in
 * `err` and later appends do nothing, so a builder checks once at the end.
 */
#ifndef CORM_UTIL_BUF_H
#define CORM_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct util_buf {
    char *p;
    size_t len, cap;
    int err; /* 0 or CORM_ENOMEM */
} util_buf;

#define UTIL_BUF_INIT { NULL, 0, 0, 0 }

void util_buf_put(util_buf *b, const char *s, size_t n);
void util_buf_puts(util_buf *b, const char *s);
void util_buf_putc(util_buf *b, char c);
void util_buf_printf(util_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void util_buf_vprintf(util_buf *b, const char *fmt, va_list ap);
/* Empty the buffer, keeping its memory. */
void util_buf_reset(util_buf *b);
/* The text, NUL-terminated ("" for an empty buffer). */
const char *util_buf_str(util_buf *b);
void util_buf_free(util_buf *b);

#endif
