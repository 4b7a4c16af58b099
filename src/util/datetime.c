/*
 * datetime.c — ISO-8601 dates and times, parsed strictly and formatted the
 * way every backend reads them back ("YYYY-MM-DD HH:MM:SS.ffffff").
 *
 * Validation lives here so that an impossible date (2023-02-29) is the same
 * CORM_EDATE on every backend, caught before any SQL is sent.
 */
#include "util/datetime.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

bool corm_date_is_valid(corm_date d) { return util_date_valid(d); }

bool corm_time_is_valid(corm_time t) { return util_time_valid(t); }

/* n digits at *p into *out; advances *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool parse_date(const char **p, corm_date *d)
{
    int y, m, dd;
    if (!digits(p, 4, &y) || *(*p)++ != '-' || !digits(p, 2, &m) || *(*p)++ != '-' ||
        !digits(p, 2, &dd))
        return false;
    d->year = y;
    d->month = (uint8_t)m;
    d->day = (uint8_t)dd;
    return corm_date_is_valid(*d);
}

static bool parse_time(const char **p, corm_time *t)
{
    int h, m, s, us = 0;
    if (!digits(p, 2, &h) || *(*p)++ != ':' || !digits(p, 2, &m) || *(*p)++ != ':' ||
        !digits(p, 2, &s))
        return false;
    if (**p == '.') {
        (*p)++;
        int n = 0;
        while (**p >= '0' && **p <= '9') {
            if (n < 6)
                us = us * 10 + (**p - '0');
            n++;
            (*p)++;
        }
        if (n == 0)
            return false;
        for (; n < 6; n++)
            us *= 10;
    }
    t->hour = (uint8_t)h;
    t->minute = (uint8_t)m;
    t->second = (uint8_t)s;
    t->usec = (uint32_t)us;
    return corm_time_is_valid(*t);
}

int corm_date_parse(const char *text, corm_date *out)
{
    const char *p = text;
    corm_date d;
    if (!text || !parse_date(&p, &d) || *p)
        return CORM_EDATE;
    *out = d;
    return CORM_OK;
}

int corm_time_parse(const char *text, corm_time *out)
{
    const char *p = text;
    corm_time t;
    if (!text || !parse_time(&p, &t) || *p)
        return CORM_EDATE;
    *out = t;
    return CORM_OK;
}

/* The forms corm writes, "YYYY-MM-DD HH:MM:SS.ffffff", and a server
 * sends, the same without a fraction when it is zero (len: 26 or 19),
 * read without the general parser's loops: this is on the path of every
 * row loaded (a tenth of loading a row with one datetime, before). */
static uint64_t load8(const char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* Whether the bytes of w under mask are digits and the others are sep,
 * eight bytes at once: after ^ '0' a digit is 0..9, a byte whose high
 * nibble is zero and that does not reach 16 when 6 is added. Byte order
 * is the machine's (x86-64 and arm64: little-endian; a big-endian machine
 * takes the bytewise path). */
#define BYTES(b) (0x0101010101010101ull * (b))
static bool digits_and(uint64_t w, uint64_t mask, uint64_t sep)
{
    uint64_t x = (w ^ BYTES('0')) & mask;
    return !((x | (x + (BYTES(6) & mask))) & BYTES(0xF0)) && (w & ~mask) == sep;
}

static unsigned dig(const char *t, int i) { return (unsigned)(t[i] - '0'); }

static bool parse_canonical(const char *t, size_t len, corm_datetime *dt)
{
    if (len != 26 && len != 19)
        return false;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* "YYYY-MM-" "DD HH:MM" ":SS" (from t + 11: "HH:MM:SS") */
    if (!digits_and(load8(t), 0x00ffff00ffffffffull, 0x2d00002d00000000ull) ||
        !digits_and(load8(t + 8), 0xffff00ffff00ffffull, 0x00003a0000200000ull) ||
        !digits_and(load8(t + 11), 0xffff00ffff00ffffull, 0x00003a00003a0000ull))
        return false;
#else
    static const signed char at[] = { 0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18 };
    for (size_t i = 0; i < sizeof at; i++)
        if (dig(t, at[i]) > 9)
            return false;
    if (t[4] != '-' || t[7] != '-' || t[10] != ' ' || t[13] != ':' || t[16] != ':')
        return false;
#endif
    unsigned usec = 0;
    if (len == 26) {
        if (t[19] != '.')
            return false;
        for (int i = 20; i < 26; i++) {
            if (dig(t, i) > 9)
                return false;
            usec = usec * 10 + dig(t, i);
        }
    }
    unsigned hour = dig(t, 11) * 10 + dig(t, 12), minute = dig(t, 14) * 10 + dig(t, 15),
             second = dig(t, 17) * 10 + dig(t, 18);
    if (hour > 23 || minute > 59 || second > 59)
        return false;
    dt->date.year = (int32_t)(dig(t, 0) * 1000 + dig(t, 1) * 100 + dig(t, 2) * 10 + dig(t, 3));
    dt->date.month = (uint8_t)(dig(t, 5) * 10 + dig(t, 6));
    dt->date.day = (uint8_t)(dig(t, 8) * 10 + dig(t, 9));
    dt->time.hour = (uint8_t)hour;
    dt->time.minute = (uint8_t)minute;
    dt->time.second = (uint8_t)second;
    dt->time.usec = usec;
    return util_date_valid(dt->date);
}

int util_datetime_parse_n(const char *text, size_t len, corm_datetime *out)
{
    corm_datetime dt;
    memset(&dt, 0, sizeof dt); /* padding too: objects are compared field by field, but copied whole */
    if (parse_canonical(text, len, &dt)) {
        *out = dt;
        return CORM_OK;
    }
    char tmp[64];
    if (len >= sizeof tmp || memchr(text, '\0', len))
        return CORM_EDATE;
    memcpy(tmp, text, len);
    tmp[len] = '\0';
    return corm_datetime_parse(tmp, out);
}

int corm_datetime_parse(const char *text, corm_datetime *out)
{
    const char *p = text;
    size_t len = text ? strlen(text) : 0;
    corm_datetime fast;
    memset(&fast, 0, sizeof fast);
    if (text && parse_canonical(text, len, &fast)) {
        *out = fast;
        return CORM_OK;
    }
    corm_datetime dt = { { 0, 0, 0 }, { 0, 0, 0, 0 } };
    if (!text || !parse_date(&p, &dt.date))
        return CORM_EDATE;
    if (*p == ' ' || *p == 'T') {
        p++;
        if (!parse_time(&p, &dt.time))
            return CORM_EDATE;
    }
    if (*p == 'Z')
        p++;
    if (*p)
        return CORM_EDATE;
    *out = dt;
    return CORM_OK;
}

/* Fixed-width decimal digits. */
static char *put_digits(char *o, uint32_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        o[i] = (char)('0' + v % 10);
    return o + n;
}

char *util_date_put(char *o, corm_date d)
{
    o = put_digits(o, (uint32_t)d.year, 4);
    *o++ = '-';
    o = put_digits(o, d.month, 2);
    *o++ = '-';
    return put_digits(o, d.day, 2);
}

/* "HH:MM:SS", and ".ffffff" only when the microseconds are not zero: the
 * text SQLite's own CURRENT_TIMESTAMP and datetime() write, so that a time
 * the database wrote equals the same time bound by corm. Text order stays
 * time order: the fraction has six digits whenever it is there, and a time
 * without one is a prefix of, so sorts before, every time of the same
 * second that has one. */
char *util_time_put(char *o, corm_time t)
{
    o = put_digits(o, t.hour, 2);
    *o++ = ':';
    o = put_digits(o, t.minute, 2);
    *o++ = ':';
    o = put_digits(o, t.second, 2);
    if (!t.usec)
        return o;
    *o++ = '.';
    return put_digits(o, t.usec, 6);
}

/* An invalid date or time (an error message may show one) is written with
 * its numbers as they are, where the fixed widths could cut them. */
char *corm_date_format(corm_date d, char *buf)
{
    if (corm_date_is_valid(d))
        *util_date_put(buf, d) = '\0';
    else
        snprintf(buf, CORM_DATETIME_BUFSIZE, "%04d-%02u-%02u", (int)d.year % 100000,
                 (unsigned)d.month, (unsigned)d.day);
    return buf;
}

char *corm_time_format(corm_time t, char *buf)
{
    if (corm_time_is_valid(t)) {
        *util_time_put(buf, t) = '\0';
        return buf;
    }
    int n = snprintf(buf, CORM_DATETIME_BUFSIZE, "%02u:%02u:%02u", (unsigned)t.hour,
                     (unsigned)t.minute, (unsigned)t.second);
    if (t.usec)
        snprintf(buf + n, CORM_DATETIME_BUFSIZE - (size_t)n, ".%06u", (unsigned)t.usec % 1000000u);
    return buf;
}

char *corm_datetime_format(corm_datetime dt, char *buf)
{
    if (corm_date_is_valid(dt.date) && corm_time_is_valid(dt.time)) {
        char *o = util_date_put(buf, dt.date);
        *o++ = ' ';
        *util_time_put(o, dt.time) = '\0';
        return buf;
    }
    char d[CORM_DATETIME_BUFSIZE], t[CORM_DATETIME_BUFSIZE];
    snprintf(buf, CORM_DATETIME_BUFSIZE, "%s %s", corm_date_format(dt.date, d),
             corm_time_format(dt.time, t)); /* cut to the buffer, if it must be */
    return buf;
}

void corm_default_utcnow(void *field)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    corm_datetime *dt = field;
    dt->date.year = tm.tm_year + 1900;
    dt->date.month = (uint8_t)(tm.tm_mon + 1);
    dt->date.day = (uint8_t)tm.tm_mday;
    dt->time.hour = (uint8_t)tm.tm_hour;
    dt->time.minute = (uint8_t)tm.tm_min;
    dt->time.second = (uint8_t)tm.tm_sec;
    dt->time.usec = (uint32_t)(ts.tv_nsec / 1000);
}
