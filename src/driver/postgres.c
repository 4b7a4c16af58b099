/*
 * postgres.c — the PostgreSQL backend, over libpq.
 *
 * A connection is a PGconn opened from the URL's parts (postgresql://user:
 * pass@host:port/db?k=v, a unix socket by ?host=/dir, libpq's multi-host
 * form host=a,b), with client_encoding UTF8, DateStyle ISO and the session
 * time zone UTC, so that text comes back as corm parses it. A statement is
 * a server-side prepared statement (PQprepare once, PQexecPrepared each
 * run) whose parameters are kept as text until it runs; results come back
 * as text, one PGresult per run, read row by row. Keys of new rows come
 * back through RETURNING (the driver has no last_insert_id).
 *
 * SQLSTATEs map to corm's codes; the server's own message is kept, and the
 * table and column it names become the error's detail ("table.column"), as
 * the SQLite driver gives it, so that messages name the model's column.
 */
#include "driver/driver.h"
#include "util/alloc.h"
#include "util/buf.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Type OIDs (pg_type.h) of the columns read as something other than text. */
enum { OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23,
       OID_FLOAT4 = 700, OID_FLOAT8 = 701 };

struct drv_conn {
    PGconn *pg;
    unsigned nstmt;          /* names prepared statements */
    int64_t changes;         /* rows the last statement changed */
    size_t queued;           /* statements sent in pipeline mode, results not read */
    bool synced;             /* the pipeline's sync is sent: results are on their way */
    bool lost;               /* a statement failed because the server went away */
    drv_stmt *streaming;     /* a SELECT whose rows come one by one (single-row mode) */
};

typedef struct pg_param {
    char *value;             /* NULL: SQL NULL */
    int len, format;         /* format 1: binary (a BLOB) */
    char num[24];            /* an integer's or double's text, in place */
} pg_param;

struct drv_stmt {
    drv_conn *c;
    char name[24];
    bool readonly;
    int nparams, nfields;    /* as described at prepare: known before the first step */
    PGresult *desc;          /* the description: the result columns' names */
    pg_param *params;
    const char **values;
    int *lengths, *formats;
    PGresult *res;
    int row, nrows;
    unsigned char *blob;     /* the last bytea read, decoded */
    bool stream;             /* drv_driver.stream: its rows one by one, as they come */
    bool dropped;            /* its stream was ended for another command */
};

/* ---- errors --------------------------------------------------------------------- */

static int map_state(const char *st)
{
    if (!st)
        return CORM_ESQL;
    if (!strcmp(st, "23505")) return CORM_EUNIQUE;
    if (!strcmp(st, "23503")) return CORM_EFOREIGNKEY;
    if (!strcmp(st, "23502")) return CORM_ENOTNULL;
    if (!strcmp(st, "23514")) return CORM_ECHECK;
    if (!strcmp(st, "22001")) return CORM_ETOOLONG;
    if (!strcmp(st, "22003")) return CORM_ERANGE;
    if (!strcmp(st, "22007") || !strcmp(st, "22008")) return CORM_EDATE;
    if (!strcmp(st, "22P02")) return CORM_ETYPE;
    if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03")) return CORM_EBUSY;
    if (!strcmp(st, "25006")) return CORM_EREADONLY;
    if (!strcmp(st, "25P02")) return CORM_EABORTED; /* in a transaction an error aborted */
    if (!strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") ||
        !strcmp(st, "57P03"))
        return CORM_ECONNLOST;
    if (!strcmp(st, "53100")) return CORM_EIO;
    if (!strcmp(st, "53200")) return CORM_ENOMEM;
    return CORM_ESQL;
}

/* "Key (a, b)=(...)" in a detail: the column list, "a, b". */
static void key_columns(const char *detail, char *out, size_t size)
{
    const char *k = detail ? strstr(detail, "Key (") : NULL, *e = k ? strstr(k, ")=") : NULL;
    out[0] = '\0';
    if (k && e && (size_t)(e - k - 5) < size)
        snprintf(out, size, "%.*s", (int)(e - k - 5), k + 5);
}

/* Fill err from a failed result (or the connection, when res is NULL). */
static int fail(drv_conn *c, const PGresult *res, util_err *err)
{
    PGconn *pg = c->pg;
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* an error libpq made itself (no SQLSTATE) is the connection's: the
     * server went away, though PQstatus may not say so yet */
    int code = st ? map_state(st)
             : (res && PQresultStatus(res) == PGRES_FATAL_ERROR) || PQstatus(pg) == CONNECTION_BAD
                   ? CORM_ECONNLOST : CORM_ESQL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg)
        msg = PQerrorMessage(pg);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    util_err_set(err, code, "postgresql: %.*s (SQLSTATE %s)", (int)n, msg, st ? st : "none");
    const char *table = res ? PQresultErrorField(res, PG_DIAG_TABLE_NAME) : NULL;
    const char *column = res ? PQresultErrorField(res, PG_DIAG_COLUMN_NAME) : NULL;
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    char cols[200];
    key_columns(res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL, cols, sizeof cols);
    /* a column's CHECK is named <table>_<column>_check by PostgreSQL */
    size_t tl = table ? strlen(table) : 0, cl = constraint ? strlen(constraint) : 0;
    if (!column && !cols[0] && code == CORM_ECHECK && table && constraint && cl > tl + 7 &&
        strncmp(constraint, table, tl) == 0 && constraint[tl] == '_' &&
        strcmp(constraint + cl - 6, "_check") == 0 && cl - tl - 7 < sizeof cols)
        snprintf(cols, sizeof cols, "%.*s", (int)(cl - tl - 7), constraint + tl + 1);
    if (table && (column || cols[0])) {
        /* "t.a" or "t.a, t.b", as SQLite words a constraint's columns */
        util_buf b = UTIL_BUF_INIT;
        const char *p = column ? column : cols;
        while (*p) {
            size_t len = strcspn(p, ",");
            util_buf_printf(&b, "%s%s.%.*s", b.len ? ", " : "", table, (int)len, p);
            p += len;
            while (*p == ',' || *p == ' ')
                p++;
        }
        if (!b.err)
            snprintf(err->detail, sizeof err->detail, "%s", util_buf_str(&b));
        util_buf_free(&b);
    }
    if (code == CORM_ECONNLOST)
        c->lost = true; /* libpq may not have noticed yet */
    return code;
}

/* ---- dialect ---------------------------------------------------------------------- */

static const char *const ddl_types[CORM_TYPE_MAX_] = {
    /* INTEGER is int64_t in C, as on SQLite: BIGINT keeps every value */
    [CORM_TYPE_INTEGER] = "BIGINT", [CORM_TYPE_BIGINT] = "BIGINT", [CORM_TYPE_SMALLINT] = "SMALLINT",
    [CORM_TYPE_BOOLEAN] = "BOOLEAN", [CORM_TYPE_FLOAT] = "DOUBLE PRECISION",
    [CORM_TYPE_NUMERIC] = "NUMERIC", [CORM_TYPE_STRING] = "VARCHAR", [CORM_TYPE_TEXT] = "TEXT",
    [CORM_TYPE_DATE] = "DATE", [CORM_TYPE_TIME] = "TIME", [CORM_TYPE_DATETIME] = "TIMESTAMP",
    [CORM_TYPE_BLOB] = "BYTEA",
    [CORM_TYPE_JSON] = "JSON", /* JSON keeps the text as written; JSONB would not */
    [CORM_TYPE_UUID] = "UUID",
};

static const char *const params[] = {
    "host", "hostaddr", "port", "user", "sslmode", "connect_timeout", "application_name",
    "target_session_attrs", "options", "pool_size", "max_overflow", "pool_timeout", NULL
};

/* ---- connections ------------------------------------------------------------------ */

/* Notices are not printed ("already exists, skipping" and the like); a
 * FATAL one, which an idle connection gets when the server ends it, marks
 * the connection lost. */
static void notice(void *arg, const PGresult *r)
{
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
        ((drv_conn *)arg)->lost = true;
}

static int pg_connect(const drv_url *url, drv_conn **out, util_err *err)
{
    const char *keys[24], *vals[24];
    int n = 0;
#define KV(k, v) do { if ((v) && *(v)) { keys[n] = (k); vals[n] = (v); n++; } } while (0)
    KV("host", url->host);
    KV("port", url->port);
    KV("dbname", url->database);
    KV("user", url->user);
    KV("password", url->password);
    /* the session settings corm reads text by, then the URL's own options */
    char options[512];
    const char *user_options = drv_url_param(url, "options");
    snprintf(options, sizeof options, "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601%s%s",
             user_options ? " " : "", user_options ? user_options : "");
    for (size_t i = 0; i < url->nparams && n < 20; i++)
        if (strcmp(url->params[i].key, "pool_size") != 0 && strcmp(url->params[i].key, "options") != 0 &&
            strcmp(url->params[i].key, "max_overflow") != 0 &&
            strcmp(url->params[i].key, "pool_timeout") != 0)
            KV(url->params[i].key, url->params[i].value);
    const char *opts = options;
    KV("client_encoding", "UTF8");
    KV("options", opts);
#undef KV
    keys[n] = vals[n] = NULL;
    drv_conn *c = util_calloc(1, sizeof *c);
    if (!c)
        return util_err_set(err, CORM_ENOMEM, "out of memory connecting to %s", url->redacted);
    c->pg = PQconnectdbParams(keys, vals, 0);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        const char *m = c->pg ? PQerrorMessage(c->pg) : "out of memory";
        size_t len = strlen(m);
        while (len && (m[len - 1] == '\n' || m[len - 1] == ' '))
            len--;
        /* libpq's message names host and port, never the password */
        util_err_set(err, c->pg ? CORM_ECONNECT : CORM_ENOMEM, "cannot connect to %s: %.*s",
                     url->redacted, (int)len, m);
        PQfinish(c->pg);
        util_free(c);
        return err->code;
    }
    PQsetNoticeReceiver(c->pg, notice, c);
    *out = c;
    return CORM_OK;
}

/* A stream's rows come one result each (libpq's single-row mode): the
 * connection runs nothing else until the last is read. A command that must
 * run anyway first reads and drops the rest, and the stream's statement
 * says so if it is stepped again. */
static void drop_stream(drv_conn *c)
{
    drv_stmt *st = c->streaming;
    if (!st)
        return;
    c->streaming = NULL;
    PQclear(st->res);
    st->res = NULL;
    for (PGresult *r; (r = PQgetResult(c->pg)) != NULL;)
        PQclear(r);
    st->dropped = true;
}

static bool pg_alive(drv_conn *c, bool ping)
{
    if (c->lost || PQstatus(c->pg) != CONNECTION_OK)
        return false;
    if (!ping) {
        /* a server ending the connection sends its last error, then closes:
         * what it sent unasked is read (without waiting), then looked at */
        for (int i = 0, k; i < 8 && (k = drv_socket_peek(PQsocket(c->pg))) != 0; i++)
            if (k < 0 || !PQconsumeInput(c->pg) || c->lost)
                return false;
        return PQstatus(c->pg) == CONNECTION_OK;
    }
    drop_stream(c);
    PGresult *r = PQexec(c->pg, ""); /* the cheapest round trip there is */
    bool ok = PQresultStatus(r) == PGRES_EMPTY_QUERY;
    PQclear(r);
    return ok && PQstatus(c->pg) == CONNECTION_OK;
}

/* In error; or idle, corm's transaction ended under it (raw SQL may not
 * end it: corm_execute refuses, but a server-side function could). */
static bool pg_txn_failed(drv_conn *c)
{
    PGTransactionStatusType ts = PQtransactionStatus(c->pg);
    return c->lost || PQstatus(c->pg) != CONNECTION_OK || ts == PQTRANS_INERROR ||
           ts == PQTRANS_IDLE;
}

static void pg_close(drv_conn *c)
{
    if (!c)
        return;
    PQfinish(c->pg);
    util_free(c);
}

static int pg_exec(drv_conn *c, const char *sql, util_err *err)
{
    drop_stream(c);
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType s = PQresultStatus(r);
    int rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? CORM_OK : fail(c, r, err);
    if (rc == CORM_OK && s == PGRES_COMMAND_OK)
        c->changes = atoll(PQcmdTuples(r));
    PQclear(r);
    return rc;
}

/* ---- statements ------------------------------------------------------------------- */

static bool isalnum_ascii(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static bool starts_with_word(const char *sql, size_t len, const char *word)
{
    while (len && (*sql == ' ' || *sql == '\n' || *sql == '\t' || *sql == '(')) {
        sql++;
        len--;
    }
    size_t n = strlen(word);
    return len >= n && strncasecmp(sql, word, n) == 0 && (len == n || !isalnum_ascii(sql[n]));
}

static int pg_prepare(drv_conn *c, const char *sql, size_t len, drv_stmt **out, util_err *err)
{
    if (c->queued) /* the caller must read a batch's results first (flush.c does) */
        return util_err_set(err, CORM_ESTATE, "postgresql: a statement prepared while a batch's "
                            "results are on their way");
    drop_stream(c);
    drv_stmt *st = util_calloc(1, sizeof *st);
    char *text = util_strndup(sql, len);
    if (!st || !text) {
        util_free(st);
        util_free(text);
        return util_err_set(err, CORM_ENOMEM, "out of memory preparing a statement");
    }
    st->c = c;
    snprintf(st->name, sizeof st->name, "corm_%u", ++c->nstmt);
    st->readonly = starts_with_word(text, len, "SELECT") || starts_with_word(text, len, "VALUES") ||
                   starts_with_word(text, len, "SHOW") || starts_with_word(text, len, "TABLE");
    PGresult *r = PQprepare(c->pg, st->name, text, 0, NULL);
    util_free(text);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? CORM_OK : fail(c, r, err);
    PQclear(r);
    if (rc == CORM_OK) {
        st->desc = PQdescribePrepared(c->pg, st->name);
        rc = PQresultStatus(st->desc) == PGRES_COMMAND_OK ? CORM_OK : fail(c, st->desc, err);
        st->nparams = rc == CORM_OK ? PQnparams(st->desc) : 0;
        st->nfields = rc == CORM_OK ? PQnfields(st->desc) : 0;
    }
    size_t np = st->nparams ? (size_t)st->nparams : 1;
    if (rc == CORM_OK && (!(st->params = util_calloc(np, sizeof *st->params)) ||
                          !(st->values = util_calloc(np, sizeof *st->values)) ||
                          !(st->lengths = util_calloc(np, sizeof *st->lengths)) ||
                          !(st->formats = util_calloc(np, sizeof *st->formats))))
        rc = util_err_set(err, CORM_ENOMEM, "out of memory preparing a statement");
    if (rc < 0) {
        PQclear(st->desc);
        util_free(st->params);
        util_free(st->values);
        util_free(st->lengths);
        util_free(st->formats);
        util_free(st);
        return rc;
    }
    *out = st;
    return CORM_OK;
}

static void clear_result(drv_stmt *st)
{
    PQclear(st->res);
    st->res = NULL;
    st->row = -1;
    st->nrows = 0;
}

static void free_params(drv_stmt *st)
{
    for (int i = 0; i < st->nparams; i++) {
        pg_param *p = &st->params[i];
        if (p->value && p->value != p->num)
            util_free(p->value);
        p->value = NULL;
    }
}

static void pg_reset(drv_stmt *st)
{
    if (!st) /* as sqlite3_reset(NULL): harmless */
        return;
    if (st->c->streaming == st) /* its rows not all read: dropped */
        drop_stream(st->c);
    clear_result(st);
    st->stream = st->dropped = false;
}

static void pg_finalize(drv_stmt *st)
{
    if (!st)
        return;
    pg_reset(st);
    free_params(st);
    char sql[48];
    snprintf(sql, sizeof sql, "DEALLOCATE %s", st->name);
    if (PQstatus(st->c->pg) == CONNECTION_OK)
        PQclear(PQexec(st->c->pg, sql));
    util_free(st->blob);
    PQclear(st->desc);
    util_free(st->params);
    util_free(st->values);
    util_free(st->lengths);
    util_free(st->formats);
    util_free(st);
}

static pg_param *param(drv_stmt *st, int i)
{
    if (i < 1 || i > st->nparams)
        return NULL;
    pg_param *p = &st->params[i - 1];
    if (p->value && p->value != p->num)
        util_free(p->value);
    p->value = NULL;
    p->format = 0;
    return p;
}

static int pg_bind_null(drv_stmt *st, int i) { return param(st, i) ? CORM_OK : CORM_EINVAL; }

/* v in decimal into buf (at least 21 bytes), NUL-terminated; its length.
 * Without snprintf: every key and integer a flush sends passes here. */
static int format_int(char *buf, int64_t v)
{
    char tmp[24];
    int n = 0, len = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}

static int pg_bind_int(drv_stmt *st, int i, int64_t v)
{
    pg_param *p = param(st, i);
    if (!p)
        return CORM_EINVAL;
    p->len = format_int(p->num, v);
    p->value = p->num;
    return CORM_OK;
}

static int pg_bind_double(drv_stmt *st, int i, double v)
{
    pg_param *p = param(st, i);
    if (!p)
        return CORM_EINVAL;
    p->len = snprintf(p->num, sizeof p->num, "%.17g", v);
    p->value = p->num;
    return CORM_OK;
}

static int pg_bind_text(drv_stmt *st, int i, const char *s, size_t n)
{
    pg_param *p = param(st, i);
    if (!p)
        return CORM_EINVAL;
    if (!(p->value = util_strndup(s, n))) /* text parameters end at a NUL */
        return CORM_ENOMEM;
    p->len = (int)n;
    return CORM_OK;
}

static int pg_bind_blob(drv_stmt *st, int i, const void *data, size_t n)
{
    pg_param *p = param(st, i);
    if (!p)
        return CORM_EINVAL;
    if (!(p->value = util_malloc(n ? n : 1)))
        return CORM_ENOMEM;
    if (n)
        memcpy(p->value, data, n);
    p->len = (int)n;
    p->format = 1;
    return CORM_OK;
}

static void gather_params(drv_stmt *st)
{
    for (int i = 0; i < st->nparams; i++) {
        st->values[i] = st->params[i].value;
        st->lengths[i] = st->params[i].len;
        st->formats[i] = st->params[i].format;
    }
}

/* Take r as st's result: its rows to read, or its error. */
static int take_result(drv_stmt *st, PGresult *r, util_err *err)
{
    clear_result(st);
    st->res = r;
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        int rc = fail(st->c, r, err);
        clear_result(st);
        return rc;
    }
    st->nrows = PQntuples(r);
    st->row = -1;
    const char *n = PQcmdTuples(r);
    st->c->changes = n && *n ? atoll(n) : 0;
    return CORM_OK;
}

/* The next row of a stream: sent in single-row mode at the first step,
 * then one result a row; the last, empty, ends it. */
static int step_stream(drv_stmt *st, util_err *err)
{
    drv_conn *c = st->c;
    if (st->dropped)
        return util_err_set(err, CORM_ESTATE, "postgresql: the rest of the rows were dropped "
                            "when another statement ran on the connection");
    if (c->streaming != st) {
        drop_stream(c);
        gather_params(st);
        if (!PQsendQueryPrepared(c->pg, st->name, st->nparams, st->values, st->lengths,
                                 st->formats, 0))
            return fail(c, NULL, err);
        PQsetSingleRowMode(c->pg); /* (if refused, rows come all at once: still right) */
        c->streaming = st;
    }
    if (st->res && st->row + 1 < st->nrows) { /* all at once after all */
        st->row++;
        return 1;
    }
    clear_result(st);
    PGresult *r = PQgetResult(c->pg);
    ExecStatusType status = PQresultStatus(r);
    if (r && (status == PGRES_SINGLE_TUPLE || (status == PGRES_TUPLES_OK && PQntuples(r)))) {
        st->res = r;
        st->nrows = PQntuples(r);
        st->row = 0;
        return 1;
    }
    int rc = !r || status == PGRES_TUPLES_OK ? 0 : fail(c, r, err);
    if (rc == 0 && r) { /* the end, kept as an empty result: stepping again gives 0 */
        st->res = r;
        st->nrows = 0;
        st->row = -1;
    } else {
        PQclear(r);
    }
    c->streaming = NULL;
    for (PGresult *more; (more = PQgetResult(c->pg)) != NULL;)
        PQclear(more);
    st->stream = false; /* the next execution is an ordinary one unless asked again */
    return rc;
}

static int pg_step(drv_stmt *st, util_err *err)
{
    if (st->stream)
        return step_stream(st, err);
    if (!st->res) {
        drop_stream(st->c);
        gather_params(st);
        int rc = take_result(st, PQexecPrepared(st->c->pg, st->name, st->nparams, st->values,
                                                st->lengths, st->formats, 0), err);
        if (rc < 0)
            return rc;
    }
    if (st->row + 1 < st->nrows) {
        st->row++;
        return 1;
    }
    return 0;
}

/* ---- pipeline mode: batches ---------------------------------------------------------
 * Statements are sent as they come (libpq buffers them, and reads while it
 * writes, so a long batch cannot deadlock); the first recv sends the sync
 * that makes the server answer; the last result read ends pipeline mode,
 * so the connection is an ordinary one between batches. */

/* Read and drop what is left of the pipeline, up to its sync, and leave
 * pipeline mode. */
static void pipeline_end(drv_conn *c)
{
    if (!c->synced && c->queued)
        PQpipelineSync(c->pg);
    for (int nulls = 0; PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF && nulls < 2 * (int)c->queued + 4;) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            nulls++;
            continue;
        }
        bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync && PQexitPipelineMode(c->pg))
            break;
    }
    c->queued = 0;
    c->synced = false;
}

static int pg_send(drv_stmt *st, util_err *err)
{
    drv_conn *c = st->c;
    drop_stream(c);
    if (PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && !PQenterPipelineMode(c->pg))
        return fail(c, NULL, err);
    gather_params(st);
    if (!PQsendQueryPrepared(c->pg, st->name, st->nparams, st->values, st->lengths, st->formats, 0)) {
        int rc = fail(c, NULL, err);
        pipeline_end(c);
        return rc;
    }
    c->queued++;
    return CORM_OK;
}

static int pg_recv(drv_stmt *st, util_err *err)
{
    drv_conn *c = st->c;
    if (!c->synced) {
        if (!PQpipelineSync(c->pg)) {
            int rc = fail(c, NULL, err);
            pipeline_end(c);
            return rc;
        }
        c->synced = true;
    }
    PGresult *r = PQgetResult(c->pg);
    int rc = r ? take_result(st, r, err) : fail(c, NULL, err);
    if (rc == CORM_OK && (r = PQgetResult(c->pg)) != NULL) { /* each result ends with a NULL */
        PQclear(r);
        rc = util_err_set(err, CORM_ESQL, "postgresql: a pipeline's results out of order");
    }
    c->queued--;
    if (rc < 0) {
        pipeline_end(c);
        return rc;
    }
    if (!c->queued) { /* the sync's own result, then an ordinary connection again */
        r = PQgetResult(c->pg);
        bool sync = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (!sync || !PQexitPipelineMode(c->pg)) {
            rc = fail(c, NULL, err);
            pipeline_end(c);
            return rc;
        }
        c->synced = false;
    }
    return pg_step(st, err);
}

static void pg_stream(drv_stmt *st) { st->stream = st->readonly && !st->res; }
static bool pg_stmt_readonly(drv_stmt *st) { return st->readonly; }

static int pg_column_count(drv_stmt *st) { return st->nfields; }
static int64_t pg_row_count(drv_stmt *st)
{
    return st->res && st->c->streaming != st ? (int64_t)st->nrows : -1;
}
static const char *pg_column_name(drv_stmt *st, int i) { return PQfname(st->desc, i); }

/* An integer as the server writes it (-?[0-9]+), read without strtoll's
 * locale and base handling: this is on the path of every row. */
static int64_t parse_int(const char *v)
{
    bool neg = *v == '-';
    uint64_t n = 0;
    for (v += neg; *v >= '0' && *v <= '9'; v++)
        n = n * 10 + (uint64_t)(*v - '0');
    return neg ? (int64_t)(0 - n) : (int64_t)n;
}

static int64_t pg_column_int(drv_stmt *st, int i)
{
    const char *v = PQgetvalue(st->res, st->row, i);
    if (PQftype(st->res, i) == OID_BOOL)
        return v[0] == 't';
    return parse_int(v);
}

static double pg_column_double(drv_stmt *st, int i)
{
    return strtod(PQgetvalue(st->res, st->row, i), NULL);
}

static const char *pg_column_text(drv_stmt *st, int i, size_t *len)
{
    *len = (size_t)PQgetlength(st->res, st->row, i);
    return PQgetvalue(st->res, st->row, i);
}

static const void *pg_column_blob(drv_stmt *st, int i, size_t *len)
{
    size_t n = 0;
    unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(st->res, st->row, i), &n);
    util_free(st->blob);
    st->blob = NULL;
    *len = 0;
    if (!b) /* out of memory (a NULL reads as no bytes) */
        return NULL;
    /* libpq's buffer goes through PQfreemem; keep our own copy */
    if ((st->blob = util_malloc(n ? n : 1)) && n)
        memcpy(st->blob, b, n);
    PQfreemem(b);
    if (st->blob)
        *len = n;
    return st->blob;
}

/* The kind comes from the column's type OID: every value is text on the
 * wire. */
static corm_vkind pg_column(drv_stmt *st, int i, corm_value *out)
{
    if (PQgetisnull(st->res, st->row, i))
        return out->kind = CORM_V_NULL;
    const char *v = PQgetvalue(st->res, st->row, i);
    switch (PQftype(st->res, i)) {
    case OID_BOOL:
        out->u.i = v[0] == 't';
        return out->kind = CORM_V_INT;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        out->u.i = parse_int(v);
        return out->kind = CORM_V_INT;
    case OID_FLOAT4:
    case OID_FLOAT8:
        out->u.f = strtod(v, NULL);
        return out->kind = CORM_V_FLOAT;
    case OID_BYTEA:
        out->u.blob.data = pg_column_blob(st, i, &out->u.blob.len);
        return out->kind = CORM_V_BLOB;
    default:
        out->u.text.p = v;
        out->u.text.n = (size_t)PQgetlength(st->res, st->row, i);
        return out->kind = CORM_V_TEXT;
    }
}

static int64_t pg_changes(drv_conn *c) { return c->changes; }

/* ---- reflection --------------------------------------------------------------------- */

/* Run a catalog query with up to one text parameter. */
static PGresult *catalog(drv_conn *c, const char *sql, const char *arg, util_err *err)
{
    const char *v[1] = { arg };
    PGresult *r = PQexecParams(c->pg, sql, arg ? 1 : 0, NULL, arg ? v : NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail(c, r, err);
        PQclear(r);
        return NULL;
    }
    return r;
}

/* A catalog query's rows, and an array of as many elem-sized zeroed
 * entries for them in *out (NULL for none). NULL result: err is set. */
static PGresult *catalog_rows(drv_conn *c, const char *sql, const char *arg, size_t elem,
                              void **out, int *n, util_err *err)
{
    PGresult *r = catalog(c, sql, arg, err);
    *out = NULL;
    *n = r ? PQntuples(r) : 0;
    if (r && *n && !(*out = util_calloc((size_t)*n, elem))) {
        PQclear(r);
        util_err_set(err, CORM_ENOMEM, "out of memory reading the schema");
        return NULL;
    }
    return r;
}

static char *dup_cell(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : util_strdup(PQgetvalue(r, row, col));
}

/* Split a text[] in its text form ({a,b,"c d"}) into names. */
static int split_array(const char *s, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s || *s != '{')
        return CORM_OK;
    s++;
    while (*s && *s != '}') {
        char name[256];
        size_t k = 0;
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1])
                    s++;
                if (k + 1 < sizeof name)
                    name[k++] = *s;
            }
            if (*s == '"')
                s++;
        } else {
            for (; *s && *s != ',' && *s != '}'; s++)
                if (k + 1 < sizeof name)
                    name[k++] = *s;
        }
        name[k] = '\0';
        char **v = util_realloc(*out, (*n + 1) * sizeof *v);
        if (!v)
            return CORM_ENOMEM;
        *out = v;
        if (!(v[*n] = util_strdup(name)))
            return CORM_ENOMEM;
        (*n)++;
        if (*s == ',')
            s++;
    }
    return CORM_OK;
}

static const char *action_name(const char *code)
{
    switch (code ? code[0] : 'a') {
    case 'c': return "CASCADE";
    case 'n': return "SET NULL";
    case 'd': return "SET DEFAULT";
    case 'r': return "RESTRICT";
    default: return "NO ACTION";
    }
}

/* format_type's words in the spelling corm's DDL uses, so that a schema
 * read back compares equal to the models. */
static const char *type_name(const char *t)
{
    static const struct { const char *pg, *corm; } names[] = {
        { "timestamp without time zone", "TIMESTAMP" }, { "time without time zone", "TIME" },
    };
    static __thread char buf[96];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(t, names[i].pg) == 0)
            return names[i].corm;
    if (strncmp(t, "character varying", 17) == 0) {
        snprintf(buf, sizeof buf, "VARCHAR%s", t + 17);
        return buf;
    }
    return t;
}

/* A default the catalog keeps as 'literal'::type: the literal. */
static void strip_cast(char *d)
{
    if (!d || d[0] != '\'')
        return;
    char *end = strchr(d + 1, '\'');
    if (end && end[1] == ':' && end[2] == ':')
        end[1] = '\0';
}

static void put_ident(util_buf *b, const char *name)
{
    util_buf_putc(b, '"');
    for (; *name; name++) {
        if (*name == '"')
            util_buf_putc(b, '"');
        util_buf_putc(b, *name);
    }
    util_buf_putc(b, '"');
}

static int reflect_table(drv_conn *c, drv_rtable *t, util_err *err)
{
    int n;
    PGresult *r = catalog_rows(c,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid), "
        "COALESCE((SELECT true FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary "
        "AND a.attnum = ANY(i.indkey)), false), a.attidentity "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = quote_ident($1)::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum", t->name, sizeof *t->columns, (void **)&t->columns, &n, err);
    if (!r)
        return err->code;
    /* PostgreSQL keeps no CREATE TABLE text: write one from the catalogs,
     * for a downgrade that puts a dropped table back */
    util_buf b = UTIL_BUF_INIT;
    util_buf_puts(&b, "CREATE TABLE ");
    put_ident(&b, t->name);
    util_buf_puts(&b, " (");
    for (int i = 0; i < n; i++) {
        util_buf_puts(&b, i ? ",\n    " : "\n    ");
        put_ident(&b, PQgetvalue(r, i, 0));
        util_buf_printf(&b, " %s", PQgetvalue(r, i, 1));
        if (PQgetvalue(r, i, 5)[0])
            util_buf_puts(&b, PQgetvalue(r, i, 5)[0] == 'a' ? " GENERATED ALWAYS AS IDENTITY"
                                                            : " GENERATED BY DEFAULT AS IDENTITY");
        if (PQgetvalue(r, i, 2)[0] == 't')
            util_buf_puts(&b, " NOT NULL");
        if (!PQgetisnull(r, i, 3))
            util_buf_printf(&b, " DEFAULT %s", PQgetvalue(r, i, 3));
    }
    for (int i = 0; i < n; i++) {
        drv_rcolumn *col = &t->columns[t->ncolumns++];
        col->name = dup_cell(r, i, 0);
        col->type = util_strdup(type_name(PQgetvalue(r, i, 1)));
        col->notnull = PQgetvalue(r, i, 2)[0] == 't';
        col->dflt = dup_cell(r, i, 3);
        strip_cast(col->dflt);
        col->pk = PQgetvalue(r, i, 4)[0] == 't';
        if (!col->name || !col->type) {
            PQclear(r);
            util_buf_free(&b);
            return CORM_ENOMEM;
        }
    }
    PQclear(r);
    r = catalog(c, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                   "conrelid = quote_ident($1)::regclass ORDER BY contype <> 'p', conname",
                t->name, err);
    if (!r) {
        util_buf_free(&b);
        return err->code;
    }
    n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        util_buf_puts(&b, ",\n    CONSTRAINT ");
        put_ident(&b, PQgetvalue(r, i, 0));
        util_buf_printf(&b, " %s", PQgetvalue(r, i, 1));
    }
    PQclear(r);
    util_buf_puts(&b, "\n)");
    t->sql = b.err ? NULL : util_strdup(util_buf_str(&b));
    util_buf_free(&b);
    if (!t->sql)
        return CORM_ENOMEM;
    /* indexes and unique constraints, not the primary key */
    r = catalog_rows(c,
        "SELECT ic.relname, i.indisunique, "
        "(SELECT con.oid IS NOT NULL FROM pg_constraint con WHERE con.conindid = i.indexrelid "
        "AND con.contype = 'u'), pg_get_indexdef(i.indexrelid), "
        "ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o)::text[] "
        "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
        "WHERE i.indrelid = quote_ident($1)::regclass AND NOT i.indisprimary ORDER BY ic.relname",
        t->name, sizeof *t->indexes, (void **)&t->indexes, &n, err);
    if (!r)
        return err->code;
    for (int i = 0; i < n; i++) {
        drv_rindex *ix = &t->indexes[t->nindexes++];
        ix->name = dup_cell(r, i, 0);
        ix->unique = PQgetvalue(r, i, 1)[0] == 't';
        ix->constraint = PQgetvalue(r, i, 2)[0] == 't';
        ix->sql = ix->constraint ? NULL : dup_cell(r, i, 3);
        if (!ix->name || split_array(PQgetvalue(r, i, 4), &ix->columns, &ix->ncolumns) < 0) {
            PQclear(r);
            return CORM_ENOMEM;
        }
    }
    PQclear(r);
    /* foreign keys */
    r = catalog_rows(c,
        "SELECT rt.relname, con.confdeltype, con.confupdtype, "
        "ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a "
        "ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o)::text[], "
        "ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a "
        "ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o)::text[], con.conname "
        "FROM pg_constraint con JOIN pg_class rt ON rt.oid = con.confrelid "
        "WHERE con.conrelid = quote_ident($1)::regclass AND con.contype = 'f' ORDER BY con.conname",
        t->name, sizeof *t->fks, (void **)&t->fks, &n, err);
    if (!r)
        return err->code;
    for (int i = 0; i < n; i++) {
        drv_rfk *k = &t->fks[t->nfks++];
        size_t nref = 0;
        k->ref_table = dup_cell(r, i, 0);
        k->name = dup_cell(r, i, 5);
        k->on_delete = util_strdup(action_name(PQgetvalue(r, i, 1)));
        k->on_update = util_strdup(action_name(PQgetvalue(r, i, 2)));
        if (!k->ref_table || !k->name || !k->on_delete || !k->on_update ||
            split_array(PQgetvalue(r, i, 3), &k->columns, &k->ncolumns) < 0 ||
            split_array(PQgetvalue(r, i, 4), &k->ref_columns, &nref) < 0) {
            PQclear(r);
            return CORM_ENOMEM;
        }
        if (nref != k->ncolumns) { /* keep the two lists the same length */
            while (nref > k->ncolumns)
                util_free(k->ref_columns[--nref]);
            k->ncolumns = nref;
        }
    }
    PQclear(r);
    return CORM_OK;
}

static int pg_reflect(drv_conn *c, drv_rschema *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    PGresult *r = catalog(c, "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
                             "c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname = "
                             "current_schema() ORDER BY c.relname", NULL, err);
    if (!r)
        return err->code;
    int n = PQntuples(r), rc = CORM_OK;
    if (n && !(out->tables = util_calloc((size_t)n, sizeof *out->tables)))
        rc = CORM_ENOMEM;
    for (int i = 0; rc == CORM_OK && i < n; i++) {
        drv_rtable *t = &out->tables[out->ntables++];
        if (!(t->name = dup_cell(r, i, 0)))
            rc = CORM_ENOMEM;
        else
            rc = reflect_table(c, t, err);
    }
    PQclear(r);
    if (rc == CORM_ENOMEM)
        util_err_set(err, rc, "out of memory reading the schema");
    if (rc < 0)
        drv_rschema_free(out);
    return rc;
}

const drv_driver drv_postgres = {
    .name = "postgresql",
    .quote = '"',
    .placeholder = DRV_PH_DOLLAR,
    .has_returning = true,
    .default_values = " DEFAULT VALUES",
    .replica_lag_sql = "SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() "
                       "<= pg_last_wal_replay_lsn() THEN 0 ELSE COALESCE(EXTRACT(EPOCH FROM now() "
                       "- pg_last_xact_replay_timestamp()), 0) END",
    .params = params,
    .types = ddl_types,
    .autoinc_pk = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    .autoinc_type = "BIGINT",
    .begin_write = "BEGIN",
    .reads_begin = true,
    .txn_failed = pg_txn_failed,
    .no_limit = "ALL",
    .for_update = " FOR UPDATE",
    .nulls_sort_high = true,
    .connect = pg_connect,
    .alive = pg_alive,
    .close = pg_close,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .reset = pg_reset,
    .bind_null = pg_bind_null,
    .bind_int = pg_bind_int,
    .bind_double = pg_bind_double,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .step = pg_step,
    .send = pg_send,
    .recv = pg_recv,
    .stmt_readonly = pg_stmt_readonly,
    .stream = pg_stream,
    .column_count = pg_column_count,
    .row_count = pg_row_count,
    .column_name = pg_column_name,
    .column = pg_column,
    .column_int = pg_column_int,
    .column_double = pg_column_double,
    .column_text = pg_column_text,
    .column_blob = pg_column_blob,
    .changes = pg_changes,
    .reflect = pg_reflect,
    .alter_in_place = true,
};
