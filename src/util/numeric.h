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
/* *out = a + b, exactly, at the larger of their scales; CORM_ERANGE past 38 digits. */
int util_numeric_add(const corm_numeric *a, const corm_numeric *b, corm_numeric *out);
/* *out = a / k at `scale`, rounded half away from zero; CORM_ERANGE when k is
 * 0 or the result does not fit. */
int util_numeric_div_int(const corm_numeric *a, int64_t k, int scale, corm_numeric *out);

#endif
