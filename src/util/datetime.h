/*
 * datetime.h — the internal side of corm's dates and times: parsing text
 * that is not NUL-terminated (a column's value as the driver holds it), and
 * writing their text without snprintf (on the path of every row written).
 */
#ifndef CORM_UTIL_DATETIME_H
#define CORM_UTIL_DATETIME_H

#include "corm/corm.h"

#include <stddef.h>

/* corm_datetime_parse of the len bytes at text. */
int util_datetime_parse_n(const char *text, size_t len, corm_datetime *out);
/* A valid date as "YYYY-MM-DD", a valid time as "HH:MM:SS" with ".ffffff"
 * only when its microseconds are not zero, written at o (no NUL); each
 * returns the end. corm_*_format and every value corm binds use them, so
 * that a time has one text: see util_time_put in datetime.c. */
char *util_date_put(char *o, corm_date d);
char *util_time_put(char *o, corm_time t);

#endif
