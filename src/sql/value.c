/*
 * value.c — one conversion per type between C fields, corm_values and the
 * five wire kinds every database binds and returns.
 *
 * Writes go field -> corm_value -> sql_param (validated here, before any SQL
 * is sent); filters go corm_value -> sql_param through the same function, so
 * a date in a filter and a date in a row are formatted alike. Reads go
 * column -> field, with strings copied into the session's arena.
 */
#include "sql/pack.h"
#include "sql/sql.h"
#include "util/alloc.h"
#include "util/datetime.h"
#include "util/numeric.h"
#include "util/text.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sql_param *sql_params_push(sql_params *ps)
{
    if (util_grow(&ps->p, &ps->cap, ps->n, sizeof *ps->p, 16) < 0)
        return NULL;
    sql_param *p = &ps->p[ps->n++];
    p->sensitive = false;
    p->inbuf = false;
    return p;
}

void sql_params_free(sql_params *ps)
{
    util_free(ps->p);
    ps->p = NULL;
    ps->n = ps->cap = 0;
}

/* "User.email: <what> (value 'x')" with the error code. */
static int bad(util_err *err, int code, const corm_column *col, const corm_value *v,
               const char *what)
{
    char vb[96];
    util_value_repr(v, vb, sizeof vb);
    if (col)
        return util_err_set(err, code, "%s.%s: %s (value %s)", col->model->name, col->name,
                            what, vb);
    return util_err_set(err, code, "%s (value %s)", what, vb);
}

static void set_text(sql_param *p, const char *s, size_t n)
{
    p->v.kind = CORM_V_TEXT;
    p->v.u.text.p = s;
    p->v.u.text.n = n;
}

static void set_buf(sql_param *p)
{
    p->inbuf = true;
    set_text(p, NULL, strlen(p->buf));
}

static int to_int(sql_param *p, const corm_column *col, const corm_value *v, util_err *err)
{
    int64_t i;
    switch (v->kind) {
    case CORM_V_INT: i = v->u.i; break;
    case CORM_V_BOOL: i = v->u.b; break;
    case CORM_V_FLOAT:
        if (v->u.f != floor(v->u.f) || v->u.f < -9.2e18 || v->u.f > 9.2e18)
            return bad(err, CORM_ETYPE, col, v, "not an integer");
        i = (int64_t)v->u.f;
        break;
    default: return bad(err, CORM_ETYPE, col, v, "an integer column takes an integer");
    }
    if (col && col->type == CORM_TYPE_SMALLINT && (i < INT16_MIN || i > INT16_MAX))
        return bad(err, CORM_ERANGE, col, v, "out of range for SMALLINT");
    if (col && col->type == CORM_TYPE_BOOLEAN)
        i = i != 0;
    p->v.kind = CORM_V_INT;
    p->v.u.i = i;
    return CORM_OK;
}

static int to_numeric(sql_param *p, const corm_column *col, const corm_value *v, util_err *err)
{
    corm_numeric n;
    int rc = CORM_OK;
    switch (v->kind) {
    case CORM_V_NUMERIC: n = v->u.num; break;
    case CORM_V_INT: n = util_numeric_from_int(v->u.i); break;
    case CORM_V_FLOAT: rc = util_numeric_from_double(v->u.f, &n); break;
    case CORM_V_TEXT: {
        char tmp[64];
        if (v->u.text.n >= sizeof tmp)
            return bad(err, CORM_ERANGE, col, v, "too many digits for NUMERIC");
        memcpy(tmp, v->u.text.p, v->u.text.n);
        tmp[v->u.text.n] = '\0';
        rc = corm_numeric_parse(tmp, &n);
        if (rc == CORM_EINVAL)
            return bad(err, CORM_ETYPE, col, v, "not a decimal number");
        break;
    }
    default: return bad(err, CORM_ETYPE, col, v, "a NUMERIC column takes a decimal");
    }
    if (rc == CORM_OK && col)
        rc = util_numeric_fit(&n, col->precision, col->scale);
    if (rc < 0) {
        char what[96];
        snprintf(what, sizeof what, "does not fit NUMERIC(%d, %d)", col ? col->precision : 38,
                 col ? col->scale : 0);
        return bad(err, CORM_ERANGE, col, v, what);
    }
    corm_numeric_format(&n, p->buf);
    set_buf(p);
    return CORM_OK;
}

/* Dates, times and datetimes travel as ISO text. */
static int to_temporal(sql_param *p, const corm_column *col, const corm_value *v, util_err *err)
{
    corm_type t = col->type;
    corm_value w = *v;
    if (v->kind == CORM_V_TEXT) {
        char tmp[CORM_DATETIME_BUFSIZE + 8];
        int rc = CORM_EDATE;
        if (v->u.text.n < sizeof tmp) {
            memcpy(tmp, v->u.text.p, v->u.text.n);
            tmp[v->u.text.n] = '\0';
            if (t == CORM_TYPE_DATE) {
                w.kind = CORM_V_DATE;
                rc = corm_date_parse(tmp, &w.u.date);
            } else if (t == CORM_TYPE_TIME) {
                w.kind = CORM_V_TIME;
                rc = corm_time_parse(tmp, &w.u.time);
            } else {
                w.kind = CORM_V_DATETIME;
                rc = corm_datetime_parse(tmp, &w.u.dt);
            }
        }
        if (rc < 0)
            return bad(err, CORM_EDATE, col, v, "not a valid date or time");
    }
    if (t == CORM_TYPE_DATETIME && w.kind == CORM_V_DATE) {
        w.kind = CORM_V_DATETIME;
        w.u.dt.date = v->u.date;
        memset(&w.u.dt.time, 0, sizeof w.u.dt.time);
    }
    bool ok;
    switch (t) {
    case CORM_TYPE_DATE:
        if (w.kind != CORM_V_DATE)
            return bad(err, CORM_ETYPE, col, v, "a DATE column takes a corm_date");
        ok = corm_date_is_valid(w.u.date);
        if (ok)
            *util_date_put(p->buf, w.u.date) = '\0';
        break;
    case CORM_TYPE_TIME:
        if (w.kind != CORM_V_TIME)
            return bad(err, CORM_ETYPE, col, v, "a TIME column takes a corm_time");
        ok = corm_time_is_valid(w.u.time);
        if (ok)
            *util_time_put(p->buf, w.u.time) = '\0';
        break;
    default:
        if (w.kind != CORM_V_DATETIME)
            return bad(err, CORM_ETYPE, col, v, "a DATETIME column takes a corm_datetime");
        ok = corm_date_is_valid(w.u.dt.date) && corm_time_is_valid(w.u.dt.time);
        if (ok) {
            char *o = util_date_put(p->buf, w.u.dt.date);
            *o++ = ' ';
            *util_time_put(o, w.u.dt.time) = '\0';
        }
        break;
    }
    if (!ok)
        return bad(err, CORM_EDATE, col, &w, "not a valid date or time");
    set_buf(p);
    return CORM_OK;
}

/* UUIDs travel as their text, which every backend's UUID type reads. */
static int to_uuid(sql_param *p, const corm_column *col, const corm_value *v, util_err *err)
{
    corm_uuid u;
    if (v->kind == CORM_V_UUID) {
        u = v->u.uuid;
    } else if (v->kind == CORM_V_TEXT) {
        char tmp[40];
        if (v->u.text.n >= sizeof tmp)
            return bad(err, CORM_ETYPE, col, v, "not a UUID");
        memcpy(tmp, v->u.text.p, v->u.text.n);
        tmp[v->u.text.n] = '\0';
        if (corm_uuid_parse(tmp, &u) < 0)
            return bad(err, CORM_ETYPE, col, v, "not a UUID");
    } else {
        return bad(err, CORM_ETYPE, col, v, "a UUID column takes a corm_uuid or its text");
    }
    corm_uuid_format(u, p->buf);
    set_buf(p);
    return CORM_OK;
}

static int to_enum(sql_param *p, const corm_column *col, const corm_value *v, util_err *err)
{
    size_t n = 0;
    while (col->enum_names[n])
        n++;
    if (v->kind == CORM_V_INT) {
        if (v->u.i < 0 || (uint64_t)v->u.i >= n)
            return bad(err, CORM_EENUM, col, v, "not a value of the enum");
        const char *name = col->enum_names[v->u.i];
        set_text(p, name, strlen(name));
        return CORM_OK;
    }
    if (v->kind == CORM_V_TEXT) {
        for (size_t i = 0; i < n; i++)
            if (strlen(col->enum_names[i]) == v->u.text.n &&
                memcmp(col->enum_names[i], v->u.text.p, v->u.text.n) == 0) {
                set_text(p, col->enum_names[i], v->u.text.n);
                return CORM_OK;
            }
        return bad(err, CORM_EENUM, col, v, "not one of the enum's names");
    }
    return bad(err, CORM_ETYPE, col, v, "an ENUM column takes an enum value or name");
}

static int to_text(sql_param *p, const corm_column *col, const corm_value *v, bool for_write,
                   util_err *err)
{
    if (v->kind != CORM_V_TEXT)
        return bad(err, CORM_ETYPE, col, v, "a text column takes a string");
    /* n bytes are at most n characters: count only when it could matter */
    if (for_write && col->type == CORM_TYPE_STRING && v->u.text.n > (size_t)col->length &&
        util_utf8_len(v->u.text.p, v->u.text.n) > (size_t)col->length) {
        char what[64];
        snprintf(what, sizeof what, "longer than STRING(%d) allows (%zu characters)",
                 col->length, util_utf8_len(v->u.text.p, v->u.text.n));
        return bad(err, CORM_ETOOLONG, col, v, what);
    }
    if (for_write && col->type == CORM_TYPE_JSON && !util_json_valid(v->u.text.p, v->u.text.n))
        return bad(err, CORM_EJSON, col, v, "not valid JSON");
    p->v = *v;
    return CORM_OK;
}

int sql_param_set(sql_param *p, const corm_column *col, const corm_value *v, bool for_write,
                  util_err *err)
{
    p->inbuf = false;
    p->sensitive = col && (col->flags & CORM_SENSITIVE);
    if (v->kind == CORM_V_NULL || (v->kind == CORM_V_TEXT && !v->u.text.p) ||
        (v->kind == CORM_V_BLOB && !v->u.blob.data)) {
        /* a NULL primary key is one the database assigns */
        if (for_write && col && (col->flags & CORM_NOT_NULL) && !(col->flags & CORM_PRIMARY_KEY))
            return util_err_set(err, CORM_ENOTNULL, "%s.%s: NULL in a NOT NULL column",
                                col->model->name, col->name);
        p->v.kind = CORM_V_NULL;
        return CORM_OK;
    }
    if (!col) {
        /* no column to convert for: the value's own natural wire form */
        switch (v->kind) {
        case CORM_V_BOOL:
            p->v.kind = CORM_V_INT;
            p->v.u.i = v->u.b;
            return CORM_OK;
        case CORM_V_NUMERIC:
            corm_numeric_format(&v->u.num, p->buf);
            set_buf(p);
            return CORM_OK;
        case CORM_V_UUID:
            corm_uuid_format(v->u.uuid, p->buf);
            set_buf(p);
            return CORM_OK;
        case CORM_V_DATE:
        case CORM_V_TIME:
        case CORM_V_DATETIME: {
            static const corm_column fake[3] = {
                { .name = "?", .type = CORM_TYPE_DATE },
                { .name = "?", .type = CORM_TYPE_TIME },
                { .name = "?", .type = CORM_TYPE_DATETIME },
            };
            util_err e2;
            int rc = to_temporal(p, &fake[v->kind - CORM_V_DATE], v, &e2);
            return rc < 0 ? bad(err, rc, NULL, v, "not a valid date or time") : rc;
        }
        default:
            p->v = *v;
            return CORM_OK;
        }
    }
    switch (col->type) {
    case CORM_TYPE_INTEGER:
    case CORM_TYPE_BIGINT:
    case CORM_TYPE_SMALLINT:
    case CORM_TYPE_BOOLEAN:
        return to_int(p, col, v, err);
    case CORM_TYPE_FLOAT:
        if (v->kind == CORM_V_INT) {
            p->v.kind = CORM_V_FLOAT;
            p->v.u.f = (double)v->u.i;
            return CORM_OK;
        }
        if (v->kind != CORM_V_FLOAT)
            return bad(err, CORM_ETYPE, col, v, "a FLOAT column takes a number");
        p->v = *v;
        return CORM_OK;
    case CORM_TYPE_NUMERIC:
        return to_numeric(p, col, v, err);
    case CORM_TYPE_STRING:
    case CORM_TYPE_TEXT:
    case CORM_TYPE_JSON:
        return to_text(p, col, v, for_write, err);
    case CORM_TYPE_DATE:
    case CORM_TYPE_TIME:
    case CORM_TYPE_DATETIME:
        return to_temporal(p, col, v, err);
    case CORM_TYPE_BLOB:
        if (v->kind == CORM_V_TEXT) {
            p->v.kind = CORM_V_BLOB;
            p->v.u.blob.data = v->u.text.p;
            p->v.u.blob.len = v->u.text.n;
            return CORM_OK;
        }
        if (v->kind != CORM_V_BLOB)
            return bad(err, CORM_ETYPE, col, v, "a BLOB column takes a corm_blob");
        p->v = *v;
        return CORM_OK;
    case CORM_TYPE_ENUM:
        return to_enum(p, col, v, err);
    case CORM_TYPE_UUID:
        return to_uuid(p, col, v, err);
    default:
        return bad(err, CORM_ETYPE, col, v, "unknown column type");
    }
}

corm_value sql_value_at(const corm_column *col, const void *field, bool is_null)
{
    const char *f = field;
    corm_value v;
    if (is_null) {
        v.kind = CORM_V_NULL;
        return v;
    }
    switch (col->type) {
    case CORM_TYPE_INTEGER:
    case CORM_TYPE_BIGINT:
    case CORM_TYPE_SMALLINT:
        v.kind = CORM_V_INT;
        v.u.i = sql_int_read(f, col->size);
        break;
    case CORM_TYPE_ENUM:
        v.kind = CORM_V_INT;
        v.u.i = sql_int_read(f, col->size);
        break;
    case CORM_TYPE_BOOLEAN:
        v.kind = CORM_V_BOOL;
        v.u.b = *(const bool *)f;
        break;
    case CORM_TYPE_FLOAT:
        v.kind = CORM_V_FLOAT;
        memcpy(&v.u.f, f, sizeof(double));
        break;
    case CORM_TYPE_NUMERIC:
        v.kind = CORM_V_NUMERIC;
        memcpy(&v.u.num, f, sizeof(corm_numeric));
        break;
    case CORM_TYPE_STRING:
    case CORM_TYPE_TEXT:
    case CORM_TYPE_JSON: {
        const char *s;
        memcpy(&s, f, sizeof s);
        v.kind = s ? CORM_V_TEXT : CORM_V_NULL;
        v.u.text.p = s;
        v.u.text.n = s ? strlen(s) : 0;
        break;
    }
    case CORM_TYPE_DATE:
        v.kind = CORM_V_DATE;
        memcpy(&v.u.date, f, sizeof(corm_date));
        break;
    case CORM_TYPE_TIME:
        v.kind = CORM_V_TIME;
        memcpy(&v.u.time, f, sizeof(corm_time));
        break;
    case CORM_TYPE_DATETIME:
        v.kind = CORM_V_DATETIME;
        memcpy(&v.u.dt, f, sizeof(corm_datetime));
        break;
    case CORM_TYPE_BLOB:
        memcpy(&v.u.blob, f, sizeof(corm_blob));
        v.kind = v.u.blob.data ? CORM_V_BLOB : CORM_V_NULL;
        break;
    case CORM_TYPE_UUID:
        v.kind = CORM_V_UUID;
        memcpy(&v.u.uuid, f, sizeof(corm_uuid));
        break;
    default:
        v.kind = CORM_V_NULL;
    }
    return v;
}

bool sql_differs_at(const corm_column *col, const void *field, const void *other)
{
    const char *a = field, *b = other;
    switch (col->type) {
    case CORM_TYPE_STRING:
    case CORM_TYPE_TEXT:
    case CORM_TYPE_JSON: {
        const char *s, *t;
        memcpy(&s, a, sizeof s);
        memcpy(&t, b, sizeof t);
        if (s == t)
            return false;
        return !s || !t || strcmp(s, t) != 0;
    }
    case CORM_TYPE_BLOB: {
        corm_blob x, y;
        memcpy(&x, a, sizeof x);
        memcpy(&y, b, sizeof y);
        if (x.data == y.data && x.len == y.len)
            return false;
        return !x.data || !y.data || x.len != y.len || memcmp(x.data, y.data, x.len) != 0;
    }
    case CORM_TYPE_FLOAT: {
        double x, y;
        memcpy(&x, a, sizeof x);
        memcpy(&y, b, sizeof y);
        return memcmp(&x, &y, sizeof x) != 0;
    }
    case CORM_TYPE_BOOLEAN:
        return *(const bool *)a != *(const bool *)b;
    case CORM_TYPE_DATE: {
        const corm_date *x = (const void *)a, *y = (const void *)b;
        return x->year != y->year || x->month != y->month || x->day != y->day;
    }
    case CORM_TYPE_TIME: {
        const corm_time *x = (const void *)a, *y = (const void *)b;
        return x->hour != y->hour || x->minute != y->minute || x->second != y->second ||
               x->usec != y->usec;
    }
    case CORM_TYPE_DATETIME: {
        const corm_datetime *x = (const void *)a, *y = (const void *)b;
        return x->date.year != y->date.year || x->date.month != y->date.month ||
               x->date.day != y->date.day || x->time.hour != y->time.hour ||
               x->time.minute != y->time.minute || x->time.second != y->time.second ||
               x->time.usec != y->time.usec;
    }
    case CORM_TYPE_NUMERIC: {
        const corm_numeric *x = (const void *)a, *y = (const void *)b;
        return x->lo != y->lo || x->hi != y->hi || x->scale != y->scale;
    }
    case CORM_TYPE_UUID:
        return memcmp(a, b, sizeof(corm_uuid)) != 0;
    default:
        return sql_int_read(a, col->size) != sql_int_read(b, col->size);
    }
}

static int load_error(util_err *err, const corm_column *col, int code, const char *what)
{
    return util_err_set(err, code, "%s.%s: the database holds %s", col->model->name, col->name,
                        what);
}

/* load_error, naming the value read (its first 40 bytes). */
static int bad_value(util_err *err, const corm_column *col, int code, const char *what,
                     const char *v, size_t n)
{
    return util_err_set(err, code, "%s.%s: the database holds %s: '%.*s'%s", col->model->name,
                        col->name, what, n > 40 ? 40 : (int)n, v, n > 40 ? "..." : "");
}

/* The driver or the arena could not make a copy of a value (a NULL text
 * or bytes pointer from the driver: see drv_driver.column). */
static int out_of_memory(util_err *err, const corm_column *col)
{
    return util_err_set(err, CORM_ENOMEM, "out of memory loading %s.%s", col->model->name,
                        col->name);
}

/* A date the client library had as one (drv_driver.column_datetime) into
 * col's field f: its date, time or both, checked. */
static int datetime_into(const corm_column *col, const corm_datetime *dt, char *f, util_err *err)
{
    bool date_ok = util_date_valid(dt->date), time_ok = util_time_valid(dt->time);
    if (col->type == CORM_TYPE_DATE && date_ok)
        memcpy(f, &dt->date, sizeof dt->date);
    else if (col->type == CORM_TYPE_TIME && time_ok)
        memcpy(f, &dt->time, sizeof dt->time);
    else if (col->type == CORM_TYPE_DATETIME && date_ok && time_ok)
        memcpy(f, dt, sizeof *dt);
    else
        return util_err_set(err, CORM_EDATE,
                            "%s.%s: the database holds an invalid date or time: "
                            "'%04d-%02d-%02d %02d:%02d:%02d'",
                            col->model->name, col->name, dt->date.year, dt->date.month,
                            dt->date.day, dt->time.hour, dt->time.minute, dt->time.second);
    return CORM_OK;
}

int sql_field_load(const drv_driver *d, drv_stmt *st, int i, const corm_column *col, void *obj,
                   uint64_t *nulls, util_arena *a, util_err *err)
{
    char *f = (char *)obj + col->offset;
    uint64_t bit = (uint64_t)1 << (col->index & 63);
    corm_datetime dt;
    /* a date the client library has as one (MariaDB's) is taken first: no
     * text is made for it (a NULL is not one, and is found below) */
    if (d->column_datetime &&
        (col->type == CORM_TYPE_DATE || col->type == CORM_TYPE_TIME ||
         col->type == CORM_TYPE_DATETIME) &&
        d->column_datetime(st, i, &dt)) {
        if (nulls)
            nulls[col->index >> 6] &= ~bit;
        return datetime_into(col, &dt, f, err);
    }
    /* A nullable column is read with its kind, in one call; a NOT NULL one
     * has no NULL to look for and is read as the field's type (on
     * PostgreSQL the cheaper: no NULL flag or type to ask for). So is a
     * value of another kind than the field's (a number in a text column),
     * and the NULL of a database that broke the constraint: the zero value
     * or "". v.kind CORM_V_NULL below: not read yet. */
    corm_value v;
    v.kind = CORM_V_NULL; /* (an initializer would clear the whole union, per column) */
    if (!(col->flags & (CORM_NOT_NULL | CORM_PRIMARY_KEY)) && d->column(st, i, &v) == CORM_V_NULL) {
        memset(f, 0, col->size);
        if (nulls)
            nulls[col->index >> 6] |= bit;
        return CORM_OK;
    }
    if (nulls)
        nulls[col->index >> 6] &= ~bit;
    switch (col->type) {
    case CORM_TYPE_INTEGER:
    case CORM_TYPE_BIGINT:
    case CORM_TYPE_SMALLINT:
        sql_int_write(f, col->size, v.kind == CORM_V_INT ? v.u.i : d->column_int(st, i));
        return CORM_OK;
    case CORM_TYPE_BOOLEAN:
        *(bool *)f = (v.kind == CORM_V_INT ? v.u.i : d->column_int(st, i)) != 0;
        return CORM_OK;
    case CORM_TYPE_FLOAT: {
        double x = v.kind == CORM_V_FLOAT ? v.u.f : d->column_double(st, i);
        memcpy(f, &x, sizeof x);
        return CORM_OK;
    }
    case CORM_TYPE_STRING:
    case CORM_TYPE_TEXT:
    case CORM_TYPE_JSON: {
        if (v.kind != CORM_V_TEXT)
            v.u.text.p = d->column_text(st, i, &v.u.text.n);
        char *copy = v.u.text.p ? util_arena_strndup(a, v.u.text.p, v.u.text.n) : NULL;
        if (!copy)
            return out_of_memory(err, col);
        memcpy(f, &copy, sizeof copy);
        return CORM_OK;
    }
    case CORM_TYPE_BLOB: {
        if (v.kind != CORM_V_BLOB)
            v.u.blob.data = d->column_blob(st, i, &v.u.blob.len);
        size_t n = v.u.blob.len;
        corm_blob b = { v.u.blob.data ? util_arena_memdup(a, v.u.blob.data, n ? n : 1) : NULL, n };
        if (!b.data)
            return out_of_memory(err, col);
        memcpy(f, &b, sizeof b);
        return CORM_OK;
    }
    default:
        break;
    }
    /* the rest travel as text */
    char tmp[64];
    if (v.kind != CORM_V_TEXT)
        v.u.text.p = d->column_text(st, i, &v.u.text.n);
    const char *s = v.u.text.p;
    size_t n = v.u.text.n;
    if (!s)
        return out_of_memory(err, col);
    if (col->type == CORM_TYPE_DATETIME) { /* on every row of most tables: no copy */
        if (util_datetime_parse_n(s, n, (corm_datetime *)(void *)f) < 0)
            return bad_value(err, col, CORM_EDATE, "a malformed datetime", s, n);
        return CORM_OK;
    }
    if (n >= sizeof tmp)
        return bad_value(err, col, CORM_ETYPE, "a value too long for its type", s, n);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    switch (col->type) {
    case CORM_TYPE_NUMERIC: {
        corm_numeric num;
        if (corm_numeric_parse(tmp, &num) < 0)
            return bad_value(err, col, CORM_ETYPE, "a value that is not a decimal", tmp, n);
        memcpy(f, &num, sizeof num);
        return CORM_OK;
    }
    case CORM_TYPE_DATE:
        if (corm_date_parse(tmp, (corm_date *)(void *)f) < 0)
            return bad_value(err, col, CORM_EDATE, "a malformed date", tmp, n);
        return CORM_OK;
    case CORM_TYPE_TIME:
        if (corm_time_parse(tmp, (corm_time *)(void *)f) < 0)
            return bad_value(err, col, CORM_EDATE, "a malformed time", tmp, n);
        return CORM_OK;
    case CORM_TYPE_UUID:
        if (corm_uuid_parse(tmp, (corm_uuid *)(void *)f) < 0)
            return bad_value(err, col, CORM_ETYPE, "a value that is not a UUID", tmp, n);
        return CORM_OK;
    case CORM_TYPE_ENUM:
        for (int64_t e = 0; col->enum_names[e]; e++)
            if (strcmp(col->enum_names[e], tmp) == 0) {
                sql_int_write(f, col->size, e);
                return CORM_OK;
            }
        return load_error(err, col, CORM_EENUM, "a name that is not in the enum");
    default:
        return load_error(err, col, CORM_ETYPE, "a value of an unknown type");
    }
}

uint8_t sql_load_of(const corm_column *col)
{
    bool pointer = col->type == CORM_TYPE_STRING || col->type == CORM_TYPE_TEXT ||
                   col->type == CORM_TYPE_JSON || col->type == CORM_TYPE_BLOB;
    bool not_null = col->flags & (CORM_NOT_NULL | CORM_PRIMARY_KEY);
    bool text = col->type == CORM_TYPE_STRING || col->type == CORM_TYPE_TEXT ||
                col->type == CORM_TYPE_JSON;
    if (not_null && col->size == sizeof(int64_t) &&
        (col->type == CORM_TYPE_INTEGER || col->type == CORM_TYPE_BIGINT))
        return SQL_LOAD_INT64;
    if (text)
        return not_null ? SQL_LOAD_TEXT : SQL_LOAD_TEXT_NULL;
    if (not_null && col->type == CORM_TYPE_DATETIME)
        return SQL_LOAD_DATETIME;
    return pointer || not_null ? SQL_LOAD_FIELD : SQL_LOAD_FIELD_FLAGGED;
}

int sql_row_load(const drv_driver *d, drv_stmt *st, const corm_column *const *cols,
                 const uint8_t *how, size_t n, int skip, void *obj, uint64_t *nulls, util_arena *a,
                 util_err *err)
{
    for (size_t k = 0; k < n; k++) {
        const corm_column *col = cols[k];
        int i = (int)k, rc;
        if (!col || i == skip)
            continue;
        char *f = (char *)obj + col->offset;
        corm_value v;
        corm_datetime dt;
        uint8_t op = how ? how[k] : sql_load_of(col);
        switch (op) {
        case SQL_LOAD_INT64: { /* a value of another kind converts (drv_driver.column_int) */
            int64_t x = d->column_int(st, i);
            memcpy(f, &x, sizeof x);
            continue;
        }
        case SQL_LOAD_TEXT:
            v.u.text.p = d->column_text(st, i, &v.u.text.n);
            break;
        case SQL_LOAD_TEXT_NULL:
            switch (d->column(st, i, &v)) {
            case CORM_V_NULL:
                memset(f, 0, sizeof(void *)); /* the NULL pointer */
                continue;
            case CORM_V_TEXT: break;
            default: v.u.text.p = d->column_text(st, i, &v.u.text.n); break;
            }
            break;
        case SQL_LOAD_DATETIME:
            if (!d->column_datetime) { /* its text (SQLite, PostgreSQL) */
                if (!(v.u.text.p = d->column_text(st, i, &v.u.text.n)))
                    return out_of_memory(err, col);
                if (util_datetime_parse_n(v.u.text.p, v.u.text.n, (corm_datetime *)(void *)f) < 0)
                    return bad_value(err, col, CORM_EDATE, "a malformed datetime", v.u.text.p,
                                     v.u.text.n);
                continue;
            }
            if (d->column_datetime(st, i, &dt)) { /* as the client library has it (MariaDB) */
                if ((rc = datetime_into(col, &dt, f, err)) < 0)
                    return rc;
                continue;
            } /* not one: read as sql_field_load reads it */
            /* fall through */
        default:
            if ((rc = sql_field_load(d, st, i, col, obj, op == SQL_LOAD_FIELD_FLAGGED ? nulls : NULL,
                                     a, err)) < 0)
                return rc;
            continue;
        }
        /* a text, in the arena */
        char *copy = v.u.text.p ? util_arena_strndup(a, v.u.text.p, v.u.text.n) : NULL;
        if (!copy)
            return out_of_memory(err, col);
        memcpy(f, &copy, sizeof copy);
    }
    return CORM_OK;
}

int sql_column_value(const drv_driver *d, drv_stmt *st, int i, corm_value *out, util_arena *a)
{
    switch (d->column(st, i, out)) {
    case CORM_V_TEXT: /* a NULL pointer: the driver ran out of memory making it */
        if (!out->u.text.p || !(out->u.text.p = util_arena_strndup(a, out->u.text.p, out->u.text.n)))
            return CORM_ENOMEM;
        break;
    case CORM_V_BLOB: {
        size_t n = out->u.blob.len;
        const void *p = out->u.blob.data;
        if (!p || !(out->u.blob.data = util_arena_memdup(a, p, n ? n : 1)))
            return CORM_ENOMEM;
        break;
    }
    default: break;
    }
    return CORM_OK;
}

int sql_value_typed(const corm_column *col, corm_value *v, util_err *err)
{
    if (!col || v->kind == CORM_V_NULL)
        return CORM_OK;
    char tmp[64];
    bool text = v->kind == CORM_V_TEXT && v->u.text.n < sizeof tmp;
    if (text) {
        memcpy(tmp, v->u.text.p, v->u.text.n);
        tmp[v->u.text.n] = '\0';
    }
    int rc = CORM_OK;
    switch (col->type) {
    case CORM_TYPE_INTEGER:
    case CORM_TYPE_BIGINT:
    case CORM_TYPE_SMALLINT:
        if (text && strspn(tmp, "-0123456789") == strlen(tmp) && *tmp) { /* a NUMERIC SUM */
            v->u.i = strtoll(tmp, NULL, 10);
            v->kind = CORM_V_INT;
        }
        break;
    case CORM_TYPE_BOOLEAN:
        if (v->kind == CORM_V_INT) {
            v->u.b = v->u.i != 0;
            v->kind = CORM_V_BOOL;
        }
        break;
    case CORM_TYPE_NUMERIC:
        if (text && (rc = corm_numeric_parse(tmp, &v->u.num)) == CORM_OK)
            v->kind = CORM_V_NUMERIC;
        else if (rc == CORM_ERANGE)
            return util_err_set(err, CORM_ERANGE, "%s.%s: a decimal of more than 38 digits "
                                "(%.40s...) from the database", col->model->name, col->name, tmp);
        else if (v->kind == CORM_V_INT) {
            v->u.num = util_numeric_from_int(v->u.i);
            v->kind = CORM_V_NUMERIC;
        }
        break;
    case CORM_TYPE_DATE:
        if (text && (rc = corm_date_parse(tmp, &v->u.date)) == CORM_OK)
            v->kind = CORM_V_DATE;
        break;
    case CORM_TYPE_TIME:
        if (text && (rc = corm_time_parse(tmp, &v->u.time)) == CORM_OK)
            v->kind = CORM_V_TIME;
        break;
    case CORM_TYPE_DATETIME:
        if (text && (rc = corm_datetime_parse(tmp, &v->u.dt)) == CORM_OK)
            v->kind = CORM_V_DATETIME;
        break;
    case CORM_TYPE_UUID:
        if (text && corm_uuid_parse(tmp, &v->u.uuid) == CORM_OK)
            v->kind = CORM_V_UUID;
        break;
    default:
        break;
    }
    if (rc < 0) /* (tmp, not v: a parse that failed may have written into v's union) */
        return bad_value(err, col, rc, "a malformed date or time", tmp, strlen(tmp));
    return CORM_OK;
}
