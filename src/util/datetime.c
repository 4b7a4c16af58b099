/*
 * datetime.c — ISO-8601 dates and times, parsed strictly and formatted the
 * way every backend reads them back ("YYYY-MM-DD HH:MM:SS.ffffff").
 *
 * Validation lives here so that an impossible date (2023-02-29) is the same
 * CORM_EDATE on every backend, caught before any SQL is sent.
 */
#include "corm/corm.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static bool is_leap(int32_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool corm_date_is_valid(corm_date d)
{
    static const uint8_t mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (d.year < 1 || d.year > 9999 || d.month < 1 || d.month > 12 || d.day < 1)
        return false;
    int max = mdays[d.month - 1] + (d.month == 2 && is_leap(d.year));
    return d.day <= max;
}

bool corm_time_is_valid(corm_time t)
{
    return t.hour < 24 && t.minute < 60 && t.second < 60 && t.usec < 1000000;
}

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

/* d[i] as a digit value, or -1 (as a large unsigned) when not a digit. */
#define DIG(d, i) ((unsigned)((d)[i] - '0'))

/* The forms corm writes, "YYYY-MM-DD HH:MM:SS.ffffff", and a server
 * sends, the same without a fraction when it is zero (len: 26 or 19),
 * read without the general parser's loops: this is on the path of every
 * row loaded. */
static bool parse_canonical(const char *t, size_t len, corm_datetime *dt)
{
    static const signed char at[] = { 0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18,
                                      20, 21, 22, 23, 24, 25 };
    unsigned v[sizeof at] = { 0 };
    size_t n = len == 26 ? sizeof at : 14;
    if (t[4] != '-' || t[7] != '-' || t[10] != ' ' || t[13] != ':' || t[16] != ':' ||
        (len == 26 && t[19] != '.'))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((v[i] = DIG(t, at[i])) > 9)
            return false;
    dt->date.year = (int32_t)(v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3]);
    dt->date.month = (uint8_t)(v[4] * 10 + v[5]);
    dt->date.day = (uint8_t)(v[6] * 10 + v[7]);
    dt->time.hour = (uint8_t)(v[8] * 10 + v[9]);
    dt->time.minute = (uint8_t)(v[10] * 10 + v[11]);
    dt->time.second = (uint8_t)(v[12] * 10 + v[13]);
    dt->time.usec = v[14] * 100000 + v[15] * 10000 + v[16] * 1000 + v[17] * 100 + v[18] * 10 + v[19];
    return corm_date_is_valid(dt->date) && corm_time_is_valid(dt->time);
}

int corm_datetime_parse(const char *text, corm_datetime *out)
{
    const char *p = text;
    size_t len = text ? strlen(text) : 0;
    if (len == 26 || len == 19) {
        corm_datetime dt;
        memset(&dt, 0, sizeof dt);
        if (parse_canonical(text, len, &dt)) {
            *out = dt;
            return CORM_OK;
        }
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

char *corm_date_format(corm_date d, char *buf)
{
    snprintf(buf, CORM_DATETIME_BUFSIZE, "%04d-%02u-%02u", (int)d.year % 100000,
             (unsigned)d.month, (unsigned)d.day);
    return buf;
}

char *corm_time_format(corm_time t, char *buf)
{
    if (t.usec)
        snprintf(buf, CORM_DATETIME_BUFSIZE, "%02u:%02u:%02u.%06u", (unsigned)t.hour,
                 (unsigned)t.minute, (unsigned)t.second, (unsigned)t.usec % 1000000u);
    else
        snprintf(buf, CORM_DATETIME_BUFSIZE, "%02u:%02u:%02u", (unsigned)t.hour,
                 (unsigned)t.minute, (unsigned)t.second);
    return buf;
}

char *corm_datetime_format(corm_datetime dt, char *buf)
{
    char t[CORM_DATETIME_BUFSIZE];
    corm_date_format(dt.date, buf);
    corm_time_format(dt.time, t);
    size_t n = strlen(buf);
    buf[n] = ' ';
    memcpy(buf + n + 1, t, strlen(t) + 1);
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
