/*
 * conn.c — a database connection as the SQL layer uses it: a statement
 * cache keyed by SQL text, parameter binding, the echo, and transactions
 * with savepoints.
 *
 * Every statement corm runs is prepared once per connection and reused
 * (the cache is an open-addressed table of SQL text -> statement), which is
 * what keeps the ORM's per-row cost near hand-written code.
 */
#include "sql/sql.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

struct sql_cached {
    uint64_t hash;
    char *sql;
    size_t len;
    drv_stmt *st;
};

#define CACHE_MAX 512

uint64_t sql_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, 8 bytes at a time */
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 1099511628211ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h | 1; /* 0 marks an empty slot */
}

int sql_conn_open(sql_conn **out, const drv_driver *d, const drv_url *url, const sql_echo *echo,
                  util_err *err)
{
    sql_conn *c = util_calloc(1, sizeof *c);
    if (!c)
        return util_err_set(err, CORM_ENOMEM, "out of memory opening a connection");
    c->drv = d;
    c->echo = echo;
    int rc = d->connect(url, &c->dc, err);
    if (rc < 0) {
        util_free(c);
        return rc;
    }
    *out = c;
    return CORM_OK;
}

static void cache_clear(sql_conn *c)
{
    for (size_t i = 0; i < c->capcache; i++)
        if (c->cache[i].hash) {
            c->drv->finalize(c->cache[i].st);
            util_free(c->cache[i].sql);
        }
    util_free(c->cache);
    c->cache = NULL;
    c->ncache = c->capcache = 0;
}

void sql_conn_close(sql_conn *c)
{
    if (!c)
        return;
    cache_clear(c);
    c->drv->close(c->dc);
    util_free(c);
}

static sql_cached *slot(sql_cached *tab, size_t cap, uint64_t h, const char *sql, size_t len)
{
    size_t i = (size_t)h & (cap - 1);
    while (tab[i].hash && !(tab[i].hash == h && tab[i].len == len && memcmp(tab[i].sql, sql, len) == 0))
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

static int grow(sql_conn *c)
{
    size_t cap = c->capcache ? c->capcache * 2 : 64;
    sql_cached *tab = util_calloc(cap, sizeof *tab);
    if (!tab)
        return CORM_ENOMEM;
    for (size_t i = 0; i < c->capcache; i++)
        if (c->cache[i].hash)
            *slot(tab, cap, c->cache[i].hash, c->cache[i].sql, c->cache[i].len) = c->cache[i];
    util_free(c->cache);
    c->cache = tab;
    c->capcache = cap;
    return CORM_OK;
}

static int prepare(sql_conn *c, const char *sql, size_t len, uint64_t h, drv_stmt **out,
                   util_err *err)
{
    if (c->capcache) {
        sql_cached *e = slot(c->cache, c->capcache, h, sql, len);
        if (e->hash) {
            c->drv->reset(e->st);
            *out = e->st;
            return CORM_OK;
        }
    }
    if (c->ncache >= CACHE_MAX)
        cache_clear(c);
    if ((c->ncache + 1) * 2 > c->capcache && grow(c) < 0)
        return util_err_set(err, CORM_ENOMEM, "out of memory caching a statement");
    char *copy = util_strndup(sql, len);
    if (!copy)
        return util_err_set(err, CORM_ENOMEM, "out of memory caching a statement");
    drv_stmt *st = NULL;
    int rc = c->drv->prepare(c->dc, sql, len, &st, err);
    if (rc < 0) {
        util_free(copy);
        util_err_prefix(err, "in \"%.*s\": ", (int)(len > 300 ? 300 : len), sql);
        return rc;
    }
    sql_cached *e = slot(c->cache, c->capcache, h, sql, len);
    e->hash = h;
    e->sql = copy;
    e->len = len;
    e->st = st;
    c->ncache++;
    *out = st;
    return CORM_OK;
}

static void echo(sql_conn *c, const char *sql, size_t len, const sql_params *ps)
{
    util_buf b = UTIL_BUF_INIT;
    util_buf_put(&b, sql, len);
    if (ps && ps->n) {
        util_buf_puts(&b, " -- params: (");
        for (size_t i = 0; i < ps->n; i++) {
            const sql_param *p = &ps->p[i];
            char vb[96];
            corm_value v = p->v;
            if (p->inbuf)
                v.u.text.p = p->buf;
            if (i)
                util_buf_puts(&b, ", ");
            util_buf_puts(&b, p->sensitive ? "***" : util_value_repr(&v, vb, sizeof vb));
        }
        util_buf_putc(&b, ')');
    }
    if (!b.err)
        c->echo->fn(c->echo->ud, util_buf_str(&b));
    util_buf_free(&b);
}

static int bind(sql_conn *c, drv_stmt *st, const sql_params *ps, util_err *err)
{
    const drv_driver *d = c->drv;
    for (size_t i = 0; i < ps->n; i++) {
        const sql_param *p = &ps->p[i];
        int idx = (int)i + 1, rc;
        switch (p->v.kind) {
        case CORM_V_INT: rc = d->bind_int(st, idx, p->v.u.i); break;
        case CORM_V_FLOAT: rc = d->bind_double(st, idx, p->v.u.f); break;
        case CORM_V_TEXT:
            rc = d->bind_text(st, idx, p->inbuf ? p->buf : p->v.u.text.p, p->v.u.text.n);
            break;
        case CORM_V_BLOB: rc = d->bind_blob(st, idx, p->v.u.blob.data, p->v.u.blob.len); break;
        default: rc = d->bind_null(st, idx); break;
        }
        if (rc < 0)
            return util_err_set(err, rc, "cannot bind parameter %d", idx);
    }
    return CORM_OK;
}

int sql_run(sql_conn *c, const char *sql, size_t len, const sql_params *ps, drv_stmt **out,
            util_err *err)
{
    sql_text t = { (char *)sql, len, sql_hash(sql, len) };
    return sql_run_text(c, &t, ps, out, err);
}

int sql_txn_refuse(sql_conn *c, util_err *err)
{
    const drv_driver *d = c->drv;
    if (d->alive && !d->alive(c->dc, false))
        return util_err_set(err, CORM_ECONNLOST, "the connection to the database was lost: "
                            "its transaction was rolled back");
    return util_err_set(err, CORM_EABORTED, "the database ended the transaction when a statement "
                        "in it failed: nothing it wrote was kept, and nothing runs in it until "
                        "it is rolled back");
}

int sql_run_text(sql_conn *c, const sql_text *t, const sql_params *ps, drv_stmt **out,
                 util_err *err)
{
    drv_stmt *st = NULL;
    const char *sql = t->p;
    size_t len = t->len;
    int rc = sql_txn_check(c, err);
    if (rc < 0)
        return rc;
    rc = prepare(c, sql, len, t->hash, &st, err);
    if (rc < 0)
        return rc;
    if (c->echo && c->echo->fn)
        echo(c, sql, len, ps);
    if (ps && (rc = bind(c, st, ps, err)) < 0)
        return rc;
    *out = st;
    return CORM_OK;
}

int sql_exec_params(sql_conn *c, const char *sql, size_t len, const sql_params *ps, util_err *err)
{
    drv_stmt *st = NULL;
    int rc = sql_run(c, sql, len, ps, &st, err);
    if (rc == CORM_OK)
        while ((rc = c->drv->step(st, err)) == 1)
            ; /* read to the end, so the statement holds nothing */
    return rc;
}

int sql_exec(sql_conn *c, const char *sql, util_err *err)
{
    if (c->echo && c->echo->fn)
        echo(c, sql, strlen(sql), NULL);
    return c->drv->exec(c->dc, sql, err);
}

int sql_refuses_ddl(sql_conn *c, const char *sql, util_err *err)
{
    return c->drv->refuses_ddl ? c->drv->refuses_ddl(c->dc, sql, err) : CORM_OK;
}

static int begin(sql_conn *c, const char *sql, util_err *err)
{
    int rc = sql_exec(c, sql, err);
    if (rc == CORM_OK)
        c->depth = 1;
    return rc;
}

int sql_begin(sql_conn *c, util_err *err)
{
    return begin(c, c->drv->begin_write ? c->drv->begin_write : "BEGIN", err);
}

int sql_begin_read(sql_conn *c, util_err *err)
{
    return begin(c, "BEGIN", err);
}

int sql_commit(sql_conn *c, util_err *err)
{
    int rc = sql_txn_check(c, err);
    if (rc == CORM_OK)
        rc = sql_exec(c, "COMMIT", err);
    if (rc == CORM_OK)
        c->depth = 0;
    return rc;
}

int sql_rollback(sql_conn *c, util_err *err)
{
    c->depth = 0;
    int rc = sql_exec(c, "ROLLBACK", err);
    if (rc < 0) /* the transaction may still be open (SQLite out of memory preparing it) */
        c->broken = true;
    return rc;
}

static int savepoint_sql(sql_conn *c, const char *verb, int n, util_err *err)
{
    char sql[64];
    snprintf(sql, sizeof sql, "%s corm_sp_%d", verb, n);
    return sql_exec(c, sql, err);
}

int sql_savepoint(sql_conn *c, util_err *err)
{
    int rc = sql_txn_check(c, err);
    if (rc == CORM_OK)
        rc = savepoint_sql(c, "SAVEPOINT", c->depth, err);
    if (rc == CORM_OK)
        c->depth++;
    return rc;
}

int sql_release(sql_conn *c, util_err *err)
{
    int rc = sql_txn_check(c, err);
    if (rc == CORM_OK)
        rc = savepoint_sql(c, "RELEASE SAVEPOINT", c->depth - 1, err);
    if (rc == CORM_OK)
        c->depth--;
    return rc;
}

/* Not asked sql_txn_check first: PostgreSQL's transaction, refusing
 * statements after an error, takes ROLLBACK TO SAVEPOINT and goes on. In
 * one the database ended (SQLite, MariaDB) the savepoint is gone too: the
 * error then says so, not "no such savepoint". */
int sql_rollback_to(sql_conn *c, util_err *err)
{
    int rc = savepoint_sql(c, "ROLLBACK TO SAVEPOINT", c->depth - 1, err);
    if (rc < 0 && c->drv->txn_failed && c->drv->txn_failed(c->dc))
        return sql_txn_refuse(c, err);
    if (rc == CORM_OK)
        rc = savepoint_sql(c, "RELEASE SAVEPOINT", c->depth - 1, err);
    if (rc == CORM_OK)
        c->depth--;
    return rc;
}

void sql_read_all(sql_conn *c, drv_stmt *st)
{
    if (st && c->drv->read_all)
        c->drv->read_all(st);
}
