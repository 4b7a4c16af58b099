/*
 * text.h — UTF-8 and JSON checks used to validate fields before SQL is sent.
 */
#ifndef CORM_UTIL_TEXT_H
#define CORM_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Number of code points in s, as VARCHAR(n) counts them; a malformed byte
 * counts as one. */
size_t util_utf8_len(const char *s, size_t n);
/* Whether s is one well-formed JSON value (RFC 8259), whitespace around it
 * allowed. */
bool util_json_valid(const char *s, size_t n);

#endif
