/*
 * numeric.c — exact decimals: a 128-bit coefficient and a scale.
 *
 * 38 significant digits is what a signed 128-bit integer always holds, and
 * the NUMERIC precision corm accepts in a model. Backends receive and return
 * decimals as text, so the value survives even where the database's own
 * numeric type would round (SQLite).
 */
#include "util/numeric.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

#define MAX_DIGITS 38

static i128 get(const corm_numeric *n) { return (i128)(((u128)(uint64_t)n->hi << 64) | n->lo); }

static void put(corm_numeric *n, i128 v, int32_t scale)
{
    n->lo = (uint64_t)(u128)v;
    n->hi = (int64_t)(uint64_t)((u128)v >> 64);
    n->scale = scale;
}

static u128 pow10u(int k)
{
    u128 p = 1;
    while (k-- > 0)
        p *= 10;
    return p;
}

static int ndigits(u128 v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

static u128 uabs(i128 v) { return v < 0 ? (u128)0 - (u128)v : (u128)v; }

int corm_numeric_parse(const char *text, corm_numeric *out)
{
    const char *p = text;
    bool neg = false, any = false;
    u128 v = 0;
    int digits = 0, scale = 0, seen_point = 0;
    if (!p)
        return CORM_EINVAL;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    for (;; p++) {
        if (*p == '.' && !seen_point) {
            seen_point = 1;
            continue;
        }
        if (*p < '0' || *p > '9')
            break;
        any = true;
        if (v == 0 && *p == '0' && !seen_point)
            continue; /* leading zeros are not significant */
        if (++digits > MAX_DIGITS)
            return CORM_ERANGE;
        v = v * 10 + (u128)(*p - '0');
        scale += seen_point;
    }
    if (!any || *p)
        return CORM_EINVAL;
    put(out, neg ? -(i128)v : (i128)v, scale);
    return CORM_OK;
}

char *corm_numeric_format(const corm_numeric *n, char *buf)
{
    char tmp[64];
    i128 v = get(n);
    u128 a = uabs(v);
    int len = 0;
    do {
        tmp[len++] = (char)('0' + (int)(a % 10));
        a /= 10;
    } while (a);
    while (len <= n->scale)
        tmp[len++] = '0';
    char *o = buf;
    if (v < 0)
        *o++ = '-';
    for (int i = len - 1; i >= 0; i--) {
        *o++ = tmp[i];
        if (i == n->scale && i > 0)
            *o++ = '.';
    }
    *o = '\0';
    return buf;
}

int util_numeric_fit(corm_numeric *n, int precision, int scale)
{
    i128 v = get(n);
    u128 a = uabs(v);
    if (scale > n->scale) {
        int k = scale - n->scale;
        if (a && ndigits(a) + k > MAX_DIGITS)
            return CORM_ERANGE;
        a *= pow10u(k);
    } else if (scale < n->scale) {
        u128 d = pow10u(n->scale - scale);
        u128 r = a % d;
        a /= d;
        if (r * 2 >= d)
            a += 1;
    }
    if (a && ndigits(a) > precision)
        return CORM_ERANGE;
    put(n, v < 0 ? -(i128)a : (i128)a, scale);
    return CORM_OK;
}

int corm_numeric_cmp(const corm_numeric *a, const corm_numeric *b)
{
    corm_numeric x = *a, y = *b;
    int s = x.scale > y.scale ? x.scale : y.scale;
    if (util_numeric_fit(&x, MAX_DIGITS, s) < 0 || util_numeric_fit(&y, MAX_DIGITS, s) < 0) {
        double dx = corm_numeric_to_double(a), dy = corm_numeric_to_double(b);
        return (dx > dy) - (dx < dy);
    }
    i128 u = get(&x), w = get(&y);
    return (u > w) - (u < w);
}

double corm_numeric_to_double(const corm_numeric *n)
{
    char buf[CORM_NUMERIC_BUFSIZE];
    double d;
    corm_numeric_format(n, buf);
    sscanf(buf, "%lf", &d);
    return d;
}

corm_numeric util_numeric_from_int(int64_t v)
{
    corm_numeric n;
    put(&n, (i128)v, 0);
    return n;
}

int util_numeric_from_double(double d, corm_numeric *out)
{
    char buf[64];
    if (!isfinite(d))
        return CORM_ERANGE;
    snprintf(buf, sizeof buf, "%.15g", d);
    if (strchr(buf, 'e'))
        snprintf(buf, sizeof buf, "%.6f", d);
    return corm_numeric_parse(buf, out);
}

int util_numeric_add(const corm_numeric *a, const corm_numeric *b, corm_numeric *out)
{
    corm_numeric x = *a, y = *b;
    int s = x.scale > y.scale ? x.scale : y.scale;
    if (util_numeric_fit(&x, MAX_DIGITS, s) < 0 || util_numeric_fit(&y, MAX_DIGITS, s) < 0)
        return CORM_ERANGE;
    i128 v = get(&x) + get(&y); /* two 38-digit values cannot overflow 127 bits */
    if (v && ndigits(uabs(v)) > MAX_DIGITS)
        return CORM_ERANGE;
    put(out, v, s);
    return CORM_OK;
}

int util_numeric_div_int(const corm_numeric *a, int64_t k, int scale, corm_numeric *out)
{
    if (k == 0)
        return CORM_ERANGE;
    corm_numeric x = *a;
    /* two more digits than asked, so that the last rounding is the only one */
    int work = scale + 2 > x.scale ? scale + 2 : x.scale;
    if (util_numeric_fit(&x, MAX_DIGITS, work) < 0)
        return CORM_ERANGE;
    i128 q = get(&x) / k, r = get(&x) % k;
    u128 aq = uabs(q);
    if (uabs(r) * 2 >= (u128)(k < 0 ? -(i128)k : (i128)k))
        aq += 1; /* half away from zero, as util_numeric_fit rounds */
    bool neg = (get(&x) < 0) != (k < 0);
    put(out, neg ? -(i128)aq : (i128)aq, work);
    return util_numeric_fit(out, MAX_DIGITS, scale);
}
