/*
 * fuzz.h — what the libFuzzer targets share (issue 11). Each target is a
 * program built with clang -fsanitize=fuzzer,address,undefined (make
 * fuzz, make test-fuzz); a crash, a sanitizer report, a leak or a broken
 * property (FUZZ_CHECK) is a finding. Seeds: fuzz/corpus/<target>/.
 */
#ifndef CORM_FUZZ_H
#define CORM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A property that must hold for every input: abort (a finding) if not. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The input as a NUL-terminated string (malloc'd; free it). */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
