/*
 * numeric.h — the internal side of corm_numeric: fitting a decimal to a
 * column's NUMERIC(p, s).
 */
#ifndef CORM_UTIL_NUMERIC_H
#define CORM_UTIL_NUMERIC_H

#include "corm/corm.h"

/* Set n's scale to `scale`, rounding half away from zero when digits are
 * dropped, and check that it then has at most `precision` digits.
 * CORM_ERANGE when it does not fit. */
int util_numeric_fit(corm_numeric *n, int precision, int scale);
corm_numeric util_numeric_from_int(int64_t v);
int util_numeric_from_double(double d, corm_numeric *out);

#endif
