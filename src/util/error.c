/*
 * error.c — corm_strerror, corm_err_name and the util_err record.
 */
#include "util/error.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *corm_strerror(int err)
{
    switch (err) {
    case CORM_OK: return "success";
#define XX(name, code, msg) case CORM_##name: return msg;
    CORM_ERRNO_MAP(XX)
#undef XX
    }
    return "unknown error";
}

const char *corm_err_name(int err)
{
    switch (err) {
    case CORM_OK: return "CORM_OK";
#define XX(name, code, msg) case CORM_##name: return "CORM_" #name;
    CORM_ERRNO_MAP(XX)
#undef XX
    }
    return "CORM_UNKNOWN";
}

int util_err_set(util_err *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    e->detail[0] = '\0';
    return code;
}

void util_err_prefix(util_err *e, const char *fmt, ...)
{
    char head[256], tail[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    snprintf(tail, sizeof tail, "%s", e->msg);
    snprintf(e->msg, sizeof e->msg, "%s%s", head, tail);
}

void util_err_clear(util_err *e)
{
    e->code = 0;
    e->msg[0] = '\0';
    e->detail[0] = '\0';
}

const char *util_value_repr(const corm_value *v, char *buf, size_t size)
{
    char tmp[CORM_NUMERIC_BUFSIZE > CORM_DATETIME_BUFSIZE ? CORM_NUMERIC_BUFSIZE : CORM_DATETIME_BUFSIZE];
    switch (v->kind) {
    case CORM_V_NULL: snprintf(buf, size, "NULL"); break;
    case CORM_V_INT: snprintf(buf, size, "%" PRId64, v->u.i); break;
    case CORM_V_FLOAT: snprintf(buf, size, "%.17g", v->u.f); break;
    case CORM_V_BOOL: snprintf(buf, size, "%s", v->u.b ? "true" : "false"); break;
    case CORM_V_TEXT: {
        size_t n = v->u.text.n > 60 ? 60 : v->u.text.n;
        snprintf(buf, size, "'%.*s'%s", (int)n, v->u.text.p, n < v->u.text.n ? "..." : "");
        break;
    }
    case CORM_V_BLOB: snprintf(buf, size, "<%zu bytes>", v->u.blob.len); break;
    case CORM_V_NUMERIC: snprintf(buf, size, "%s", corm_numeric_format(&v->u.num, tmp)); break;
    case CORM_V_DATE: snprintf(buf, size, "'%s'", corm_date_format(v->u.date, tmp)); break;
    case CORM_V_TIME: snprintf(buf, size, "'%s'", corm_time_format(v->u.time, tmp)); break;
    case CORM_V_DATETIME: snprintf(buf, size, "'%s'", corm_datetime_format(v->u.dt, tmp)); break;
    case CORM_V_UUID: {
        char u[CORM_UUID_BUFSIZE];
        snprintf(buf, size, "'%s'", corm_uuid_format(v->u.uuid, u));
        break;
    }
    }
    return buf;
}
