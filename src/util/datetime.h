/*
 * datetime.h — the internal side of corm's dates and times: parsing text
 * that is not NUL-terminated (a column's value as the driver holds it), and
 * writing their text without snprintf (on the path of every row written).
 */
#ifndef CORM_UTIL_DATETIME_H
#define CORM_UTIL_DATETIME_H

#include "corm/corm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* corm_datetime_parse of the len bytes at text. */
int util_datetime_parse_n(const char *text, size_t len, corm_datetime *out);
/* A valid date as "YYYY-MM-DD", a valid time as "HH:MM:SS" with ".ffffff"
 * only when its microseconds are not zero, written at o (no NUL); each
 * returns the end. corm_*_format and every value corm binds use them, so
 * that a time has one text: see util_time_put in datetime.c. */
char *util_date_put(char *o, corm_date d);
char *util_time_put(char *o, corm_time t);

/* corm_date_is_valid and corm_time_is_valid, inline: a date read from a
 * row is checked on every row (MariaDB's come as numbers, not text). */
static inline bool util_date_valid(corm_date d)
{
    static const uint8_t mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (d.year < 1 || d.year > 9999 || d.month < 1 || d.month > 12 || d.day < 1)
        return false;
    if (d.day <= 28) /* every month has those: no leap year to work out */
        return true;
    bool leap = (d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0;
    return d.day <= mdays[d.month - 1] + (d.month == 2 && leap);
}

static inline bool util_time_valid(corm_time t)
{
    return t.hour < 24 && t.minute < 60 && t.second < 60 && t.usec < 1000000;
}

#endif
