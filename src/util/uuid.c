/*
 * uuid.c — UUIDs (RFC 9562): the 16 bytes of a CORM_UUID field, their
 * text form ("f81d4fae-7dec-11d0-a765-00a0c91e6bf6", lower case), and
 * random version-4 values for keys made by the client (getrandom, the
 * kernel's generator: unpredictable, so a key does not reveal others).
 */
#include "corm/corm.h"

#include <string.h>
#include <sys/random.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int corm_uuid_parse(const char *text, corm_uuid *out)
{
    if (!text || !out)
        return CORM_EINVAL;
    size_t n = strlen(text);
    bool dashed = n == 36;
    if (!dashed && n != 32)
        return CORM_EINVAL;
    corm_uuid u;
    const char *p = text;
    for (int i = 0; i < 16; i++) {
        if (dashed && (i == 4 || i == 6 || i == 8 || i == 10) && *p++ != '-')
            return CORM_EINVAL;
        int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
        if (lo < 0)
            return CORM_EINVAL;
        u.b[i] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    *out = u;
    return CORM_OK;
}

char *corm_uuid_format(corm_uuid u, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    char *o = buf;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[u.b[i] >> 4];
        *o++ = hex[u.b[i] & 15];
    }
    *o = '\0';
    return buf;
}

corm_uuid corm_uuid4(void)
{
    corm_uuid u;
    size_t got = 0;
    while (got < sizeof u.b) {
        ssize_t r = getrandom(u.b + got, sizeof u.b - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
    u.b[6] = (uint8_t)((u.b[6] & 0x0f) | 0x40); /* version 4 */
    u.b[8] = (uint8_t)((u.b[8] & 0x3f) | 0x80); /* the RFC's variant */
    return u;
}

void corm_default_uuid4(void *field)
{
    corm_uuid u = corm_uuid4();
    memcpy(field, &u, sizeof u);
}
