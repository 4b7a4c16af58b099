/*
 * text.c — counting UTF-8 characters, validating JSON, and reading the
 * words a statement begins with.
 *
 * The JSON check is a recursive-descent recognizer with a depth limit; corm
 * stores JSON as text and only promises that what it stores parses.
 */
#include "util/text.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

size_t util_utf8_len(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

typedef struct { const char *p, *end; int depth; } json;

static void ws(json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool lit(json *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
        return false;
    j->p += n;
    return true;
}

static bool hex4(json *j)
{
    for (int i = 0; i < 4; i++, j->p++) {
        if (j->p >= j->end)
            return false;
        char c = *j->p;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static bool string(json *j)
{
    j->p++; /* opening quote */
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (j->p >= j->end)
                return false;
            c = (unsigned char)*j->p++;
            if (c == 'u') {
                if (!hex4(j))
                    return false;
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return false;
            }
        }
    }
    return false;
}

static bool digits(json *j)
{
    const char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s;
}

static bool number(json *j)
{
    if (*j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (!digits(j))
        return false;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!digits(j))
            return false;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!digits(j))
            return false;
    }
    return true;
}

static bool value(json *j);

static bool container(json *j, char close, bool object)
{
    if (++j->depth > 256)
        return false;
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return true;
    }
    for (;;) {
        ws(j);
        if (object) {
            if (j->p >= j->end || *j->p != '"' || !string(j))
                return false;
            ws(j);
            if (j->p >= j->end || *j->p++ != ':')
                return false;
        }
        if (!value(j))
            return false;
        ws(j);
        if (j->p >= j->end)
            return false;
        char c = *j->p++;
        if (c == close)
            break;
        if (c != ',')
            return false;
    }
    j->depth--;
    return true;
}

static bool value(json *j)
{
    ws(j);
    if (j->p >= j->end)
        return false;
    switch (*j->p) {
    case '{': return container(j, '}', true);
    case '[': return container(j, ']', false);
    case '"': return string(j);
    case 't': return lit(j, "true");
    case 'f': return lit(j, "false");
    case 'n': return lit(j, "null");
    default: return number(j);
    }
}

bool util_json_valid(const char *s, size_t n)
{
    json j = { s, s + n, 0 };
    if (!value(&j))
        return false;
    ws(&j);
    return j.p == j.end;
}

const char *util_sql_skip_blank(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

bool util_sql_take_word(const char **p, const char *word)
{
    size_t n = strlen(word);
    if (strncasecmp(*p, word, n) != 0 || isalnum((unsigned char)(*p)[n]) || (*p)[n] == '_')
        return false;
    *p = util_sql_skip_blank(*p + n);
    return true;
}
