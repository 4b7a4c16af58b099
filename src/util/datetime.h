/*
 * datetime.h — the internal side of corm's dates and times: parsing text
 * that is not NUL-terminated (a column's value as the driver holds it).
 */
#ifndef CORM_UTIL_DATETIME_H
#define CORM_UTIL_DATETIME_H

#include "corm/corm.h"

#include <stddef.h>

/* corm_datetime_parse of the len bytes at text. */
int util_datetime_parse_n(const char *text, size_t len, corm_datetime *out);

#endif
