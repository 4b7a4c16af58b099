/*
 * text.h — UTF-8 and JSON checks used to validate fields before SQL is sent,
 * and the reading of a statement's leading words.
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

/* sql past blanks and comments (-- to the line's end, and C-style). */
const char *util_sql_skip_blank(const char *p);
/* Whether the word (case-insensitive, whole) is at *p: then *p is moved
 * past it and the blanks after it. */
bool util_sql_take_word(const char **p, const char *word);

#endif
