/*
 * pack.h — a snapshot's fields in a compact form. orm/object.c packs the
 * snapshot of every object it loads, so the few calls are inline.
 *
 * Integers as varints of their zigzag form (7 bits a byte, low first), so a
 * small value of any width takes a byte; a string's or a blob's pointer as
 * its distance from a base the caller gives (the object's own address: a
 * loaded object's strings sit just before it), so it takes a byte or two;
 * what has no small form (a float, a UUID) as its bytes. Each field
 * unpacks to the value sql_field_differs compares, exactly; the padding
 * between a struct's members comes back zero. */

#ifndef CORM_SQL_PACK_H
#define CORM_SQL_PACK_H

#include "sql/sql.h"

#include <string.h>

/* An unsigned varint (7 bits a byte, low first; at most 10 bytes). */
static inline unsigned char *sql_pack_u64(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}
static inline const unsigned char *sql_unpack_u64(const unsigned char *p, uint64_t *v)
{
    uint64_t r = *p & 0x7f;
    unsigned shift = 7;
    while (*p++ & 0x80) {
        r |= (uint64_t)(*p & 0x7f) << shift;
        shift += 7;
    }
    *v = r;
    return p;
}

static inline int64_t sql_int_read(const void *f, size_t size)
{
    switch (size) {
    case 1: return *(const int8_t *)f;
    case 2: return *(const int16_t *)f;
    case 4: return *(const int32_t *)f;
    default: return *(const int64_t *)f;
    }
}

static inline void sql_int_write(void *f, size_t size, int64_t v)
{
    switch (size) {
    case 1: *(int8_t *)f = (int8_t)v; break;
    case 2: *(int16_t *)f = (int16_t)v; break;
    case 4: *(int32_t *)f = (int32_t)v; break;
    default: *(int64_t *)f = v; break;
    }
}

static inline uint64_t sql_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t sql_unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

static inline unsigned char *pack_i64(unsigned char *p, int64_t v) { return sql_pack_u64(p, sql_zigzag(v)); }
static inline const unsigned char *unpack_i64(const unsigned char *p, int64_t *v)
{
    uint64_t u;
    p = sql_unpack_u64(p, &u);
    *v = sql_unzigzag(u);
    return p;
}

/* NULL as 0, any other pointer as 1 + its distance from base, zigzagged */
static inline unsigned char *pack_ptr(unsigned char *p, const void *ptr, const void *base)
{
    return sql_pack_u64(p, ptr ? sql_zigzag((int64_t)((uintptr_t)ptr - (uintptr_t)base)) + 1 : 0);
}
static inline const unsigned char *unpack_ptr(const unsigned char *p, void *field, const void *base)
{
    uint64_t u;
    p = sql_unpack_u64(p, &u);
    void *ptr = u ? (void *)((uintptr_t)base + (uintptr_t)sql_unzigzag(u - 1)) : NULL;
    memcpy(field, &ptr, sizeof ptr);
    return p;
}

static inline unsigned char *pack_date(unsigned char *p, const corm_date *d)
{
    p = pack_i64(p, d->year);
    *p++ = d->month;
    *p++ = d->day;
    return p;
}
static inline const unsigned char *unpack_date(const unsigned char *p, corm_date *d)
{
    int64_t y;
    p = unpack_i64(p, &y);
    d->year = (int32_t)y;
    d->month = *p++;
    d->day = *p++;
    return p;
}
static inline unsigned char *pack_time(unsigned char *p, const corm_time *t)
{
    *p++ = t->hour;
    *p++ = t->minute;
    *p++ = t->second;
    return sql_pack_u64(p, t->usec);
}
static inline const unsigned char *unpack_time(const unsigned char *p, corm_time *t)
{
    uint64_t us;
    t->hour = *p++;
    t->minute = *p++;
    t->second = *p++;
    p = sql_unpack_u64(p, &us);
    t->usec = (uint32_t)us;
    return p;
}

/* The packed form of field (of column col): written at p, returning the
 * end; pointers relative to base. At most sql_field_pack_max(col) bytes.
 * sql_field_unpack reads it back into field (exactly the value
 * sql_field_differs compares) and returns the end. */
static inline size_t sql_field_pack_max(const corm_column *col)
{
    switch (col->type) {
    case CORM_TYPE_STRING: case CORM_TYPE_TEXT: case CORM_TYPE_JSON: return 10;
    case CORM_TYPE_BLOB: return 20;
    case CORM_TYPE_FLOAT: return sizeof(double);
    case CORM_TYPE_BOOLEAN: return 1;
    case CORM_TYPE_DATE: return 7;
    case CORM_TYPE_TIME: return 8;
    case CORM_TYPE_DATETIME: return 15;
    case CORM_TYPE_NUMERIC: return 25;
    case CORM_TYPE_UUID: return sizeof(corm_uuid);
    default: return 10;
    }
}

static inline const unsigned char *sql_skip_u64(const unsigned char *p)
{
    while (*p++ & 0x80)
        ;
    return p;
}

/* The end of the packed field at p, of column col, read no further. */
static inline const unsigned char *sql_field_skip(const corm_column *col, const unsigned char *p)
{
    switch (col->type) {
    case CORM_TYPE_BLOB: return sql_skip_u64(sql_skip_u64(p));
    case CORM_TYPE_FLOAT: case CORM_TYPE_UUID: return p + col->size;
    case CORM_TYPE_BOOLEAN: return p + 1;
    case CORM_TYPE_DATE: return sql_skip_u64(p) + 2;
    case CORM_TYPE_TIME: return sql_skip_u64(p + 3);
    case CORM_TYPE_DATETIME: return sql_skip_u64(sql_skip_u64(p) + 5);
    case CORM_TYPE_NUMERIC: return sql_skip_u64(sql_skip_u64(sql_skip_u64(p)));
    default: return sql_skip_u64(p); /* integers, and the pointers of text */
    }
}

static inline unsigned char *sql_field_pack(const corm_column *col, const void *field, const void *base,
                              unsigned char *p)
{
    const char *f = field;
    switch (col->type) {
    case CORM_TYPE_STRING:
    case CORM_TYPE_TEXT:
    case CORM_TYPE_JSON: {
        const void *ptr;
        memcpy(&ptr, f, sizeof ptr);
        return pack_ptr(p, ptr, base);
    }
    case CORM_TYPE_BLOB: {
        corm_blob b;
        memcpy(&b, f, sizeof b);
        return sql_pack_u64(pack_ptr(p, b.data, base), b.len);
    }
    case CORM_TYPE_FLOAT:
    case CORM_TYPE_UUID:
        memcpy(p, f, col->size);
        return p + col->size;
    case CORM_TYPE_BOOLEAN:
        *p = *(const unsigned char *)f;
        return p + 1;
    case CORM_TYPE_DATE: {
        corm_date d;
        memcpy(&d, f, sizeof d);
        return pack_date(p, &d);
    }
    case CORM_TYPE_TIME: {
        corm_time t;
        memcpy(&t, f, sizeof t);
        return pack_time(p, &t);
    }
    case CORM_TYPE_DATETIME: {
        corm_datetime dt;
        memcpy(&dt, f, sizeof dt);
        return pack_time(pack_date(p, &dt.date), &dt.time);
    }
    case CORM_TYPE_NUMERIC: {
        corm_numeric n;
        memcpy(&n, f, sizeof n);
        return pack_i64(pack_i64(sql_pack_u64(p, n.lo), n.hi), n.scale);
    }
    default:
        return pack_i64(p, sql_int_read(f, col->size));
    }
}

static inline const unsigned char *sql_field_unpack(const corm_column *col, void *field, const void *base,
                                      const unsigned char *p)
{
    char *f = field;
    switch (col->type) {
    case CORM_TYPE_STRING:
    case CORM_TYPE_TEXT:
    case CORM_TYPE_JSON:
        return unpack_ptr(p, f, base);
    case CORM_TYPE_BLOB: {
        corm_blob b;
        uint64_t len;
        void *data;
        p = sql_unpack_u64(unpack_ptr(p, &data, base), &len);
        b.data = data;
        b.len = (size_t)len;
        memcpy(f, &b, sizeof b);
        return p;
    }
    case CORM_TYPE_FLOAT:
    case CORM_TYPE_UUID:
        memcpy(f, p, col->size);
        return p + col->size;
    case CORM_TYPE_BOOLEAN:
        *(unsigned char *)f = *p;
        return p + 1;
    case CORM_TYPE_DATE: {
        corm_date d = { 0, 0, 0 };
        p = unpack_date(p, &d);
        memcpy(f, &d, sizeof d);
        return p;
    }
    case CORM_TYPE_TIME: {
        corm_time t = { 0, 0, 0, 0 };
        p = unpack_time(p, &t);
        memcpy(f, &t, sizeof t);
        return p;
    }
    case CORM_TYPE_DATETIME: {
        corm_datetime dt;
        memset(&dt, 0, sizeof dt);
        p = unpack_time(unpack_date(p, &dt.date), &dt.time);
        memcpy(f, &dt, sizeof dt);
        return p;
    }
    case CORM_TYPE_NUMERIC: {
        corm_numeric n;
        int64_t hi, scale;
        memset(&n, 0, sizeof n);
        p = unpack_i64(unpack_i64(sql_unpack_u64(p, &n.lo), &hi), &scale);
        n.hi = hi;
        n.scale = (int32_t)scale;
        memcpy(f, &n, sizeof n);
        return p;
    }
    default: {
        int64_t v;
        p = unpack_i64(p, &v);
        sql_int_write(f, col->size, v);
        return p;
    }
    }
}

#endif
