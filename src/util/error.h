/*
 * error.h — the error record every layer fills: a corm code and a sentence.
 *
 * Layers below the session write into a util_err handed down by the caller;
 * the session keeps one and corm_errmsg() returns its text.
 */
#ifndef CORM_UTIL_ERROR_H
#define CORM_UTIL_ERROR_H

#include "corm/corm.h"

typedef struct util_err {
    int code;
    char msg[768];
    char detail[128]; /* the database's names for what failed, e.g. "user.email" */
} util_err;

/* Set code and message; returns code, so `return util_err_set(...)` reads well. */
int util_err_set(util_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepend context ("User.email: ") to the message already set. */
void util_err_prefix(util_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void util_err_clear(util_err *e);
/* Quote a value for a message: 'text' (cut at 60 bytes), 42, NULL, x'0a0b'. */
const char *util_value_repr(const corm_value *v, char *buf, size_t size);

#endif
