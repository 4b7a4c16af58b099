/*
 * engine.c — an engine: a URL's driver, the validated models, and a pool of
 * connections shared by sessions (and threads).
 */
#include "orm/orm.h"
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int check_params(corm_engine *e)
{
    for (size_t i = 0; i < e->url.nparams; i++) {
        const char *k = e->url.params[i].key;
        bool known = false;
        for (const char *const *p = e->drv->params; *p && !known; p++)
            known = strcmp(*p, k) == 0;
        if (!known)
            return util_err_set(&e->err, CORM_EURL, "malformed database URL: unknown parameter "
                                "'%s' for %s", k, e->drv->name);
    }
    static const struct { const char *key; long lo, hi; } nums[] = {
        { "pool_size", 1, 1000 }, { "max_overflow", 0, 10000 }, { "pool_timeout", 0, 3600 },
    };
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        const char *v = drv_url_param(&e->url, nums[i].key);
        if (!v)
            continue;
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < nums[i].lo || n > nums[i].hi)
            return util_err_set(&e->err, CORM_EURL, "malformed database URL: %s '%s' is not a "
                                "number from %ld to %ld", nums[i].key, v, nums[i].lo, nums[i].hi);
        if (i == 0)
            e->pool_size = (size_t)n;
        else if (i == 1)
            e->max_overflow = (size_t)n;
        else
            e->timeout_ms = n * 1000;
    }
    return CORM_OK;
}

int corm_engine_open(corm_engine **out, const char *url, const corm_model *const *models)
{
    *out = NULL;
    corm_engine *e = util_calloc(1, sizeof *e);
    if (!e)
        return CORM_ENOMEM;
    *out = e;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->freed, NULL);
    util_arena_pool_init(&e->arenas, ORM_ARENA_CACHE);
    e->pool_size = 5; /* SQLAlchemy's QueuePool: 5, 10 more, 30 s */
    e->max_overflow = 10;
    e->timeout_ms = 30000;
    int rc = drv_url_parse(url, &e->url, &e->err);
    if (rc < 0)
        return rc;
    if (!(e->drv = drv_find(e->url.scheme)))
        return util_err_set(&e->err, CORM_EURL, "malformed database URL '%s': no driver for "
                            "'%s' (this build has: sqlite, postgresql, mysql)", e->url.redacted, e->url.scheme);
    if ((rc = check_params(e)) < 0)
        return rc;
    if (e->drv->engine_open && (rc = e->drv->engine_open(&e->url, &e->err)) < 0)
        return rc;
    if (!(e->idle = util_calloc(e->pool_size, sizeof *e->idle)))
        return util_err_set(&e->err, CORM_ENOMEM, "out of memory opening the engine");
    if ((rc = sch_meta_build(&e->meta, models, e->drv, &e->err)) < 0)
        return rc;
    /* connect now, so that a bad path fails here and not at the first query */
    sql_conn *c;
    if ((rc = orm_engine_acquire(e, &c, &e->err)) < 0)
        return rc;
    orm_engine_release(e, c);
    return CORM_OK;
}

int corm_engine_add_replica(corm_engine *e, const char *url, double max_lag)
{
    if (!e || !url)
        return CORM_EINVAL;
    if (!e->drv || !e->drv->replica_lag_sql)
        return util_err_set(&e->err, CORM_EINVAL, "read replicas are not supported on %s",
                            e->drv ? e->drv->name : "this engine");
    if (max_lag < 0)
        return util_err_set(&e->err, CORM_EINVAL, "a replica's max_lag is negative (%g)", max_lag);
    const corm_model **models = util_calloc(e->meta.n + 1, sizeof *models);
    struct orm_replica *v = util_realloc(e->replicas, (e->nreplicas + 1) * sizeof *v);
    if (v)
        e->replicas = v;
    if (!models || !v) {
        util_free(models);
        return util_err_set(&e->err, CORM_ENOMEM, "out of memory adding a replica");
    }
    for (size_t i = 0; i < e->meta.n; i++)
        models[i] = e->meta.mappers[i].model;
    corm_engine *r;
    int rc = corm_engine_open(&r, url, models);
    util_free(models);
    if (rc == CORM_OK && r->drv != e->drv)
        rc = util_err_set(&r->err, CORM_EURL, "a replica of a %s database must be %s too",
                          e->drv->name, e->drv->name);
    if (rc < 0) {
        util_err_set(&e->err, rc, "replica: %s", corm_engine_errmsg(r));
        corm_engine_close(r);
        return rc;
    }
    r->echo = e->echo;
    e->replicas[e->nreplicas++] = (struct orm_replica){ r, max_lag, 0 };
    return CORM_OK;
}

void corm_engine_close(corm_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nreplicas; i++)
        corm_engine_close(e->replicas[i].e);
    util_free(e->replicas);
    for (size_t i = 0; i < e->nidle; i++)
        sql_conn_close(e->idle[i]);
    util_free(e->idle);
    if (e->drv && e->drv->engine_close)
        e->drv->engine_close(&e->url);
    sch_meta_free(&e->meta);
    util_free(e->listeners);
    util_free(e->events);
    drv_url_free(&e->url);
    util_arena_pool_free(&e->arenas);
    pthread_cond_destroy(&e->freed);
    pthread_mutex_destroy(&e->lock);
    util_free(e);
}

const char *corm_engine_errmsg(const corm_engine *e) { return e ? e->err.msg : "out of memory"; }

void corm_engine_set_echo(corm_engine *e, corm_echo_fn fn, void *ud)
{
    e->echo.fn = fn;
    e->echo.ud = ud;
    for (size_t i = 0; i < e->nreplicas; i++)
        corm_engine_set_echo(e->replicas[i].e, fn, ud);
}

/* A checkout: an idle connection that still answers (pre-ping), else a new
 * one while fewer than pool_size + max_overflow are open, else a wait for
 * one to come back, up to pool_timeout. */
int orm_engine_acquire(corm_engine *e, sql_conn **out, util_err *err)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += e->timeout_ms / 1000;
    until.tv_nsec += (e->timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->lock);
    for (;;) {
        while (e->nidle) {
            sql_conn *c = e->idle[--e->nidle];
            if (!e->drv->alive || e->drv->alive(c->dc, true)) {
                pthread_mutex_unlock(&e->lock);
                *out = c;
                return CORM_OK;
            }
            /* the server went away (restarted): open a new one instead */
            e->nopen--;
            pthread_mutex_unlock(&e->lock);
            sql_conn_close(c);
            pthread_mutex_lock(&e->lock);
        }
        if (e->nopen < e->pool_size + e->max_overflow)
            break;
        if (pthread_cond_timedwait(&e->freed, &e->lock, &until) != 0 && !e->nidle &&
            e->nopen >= e->pool_size + e->max_overflow) {
            size_t n = e->nopen;
            pthread_mutex_unlock(&e->lock);
            return util_err_set(err, CORM_EBUSY, "no connection to %s within %ld ms: all %zu are "
                                "in use (pool_size %zu + max_overflow %zu); free sessions "
                                "sooner, or raise them in the URL", e->url.redacted,
                                e->timeout_ms, n, e->pool_size, e->max_overflow);
        }
    }
    e->nopen++;
    pthread_mutex_unlock(&e->lock);
    int rc = sql_conn_open(out, e->drv, &e->url, &e->echo, err);
    if (rc < 0) {
        pthread_mutex_lock(&e->lock);
        e->nopen--;
        pthread_cond_signal(&e->freed);
        pthread_mutex_unlock(&e->lock);
    }
    return rc;
}

void orm_engine_release(corm_engine *e, sql_conn *c)
{
    if (!c)
        return;
    util_err ignored;
    if (c->depth)
        sql_rollback(c, &ignored); /* one that fails breaks c */
    bool keep = !c->broken && (!e->drv->alive || e->drv->alive(c->dc, false));
    pthread_mutex_lock(&e->lock);
    if (keep && e->nidle < e->pool_size) {
        e->idle[e->nidle++] = c;
        c = NULL;
    } else {
        e->nopen--;
    }
    pthread_cond_signal(&e->freed);
    pthread_mutex_unlock(&e->lock);
    sql_conn_close(c);
}

static int with_conn(corm_engine *e, int (*fn)(const sch_meta *, sql_conn *, util_err *))
{
    sql_conn *c;
    util_err_clear(&e->err);
    int rc = orm_engine_acquire(e, &c, &e->err);
    if (rc < 0)
        return rc;
    rc = fn(&e->meta, c, &e->err);
    orm_engine_release(e, c);
    return rc;
}

int corm_create_all(corm_engine *e) { return with_conn(e, sch_create_all); }

struct corm_schema_diff {
    sch_diff d;
};

int orm_engine_reflect(corm_engine *e, drv_rschema *rs)
{
    sql_conn *c;
    util_err_clear(&e->err);
    int rc = orm_engine_acquire(e, &c, &e->err);
    if (rc < 0)
        return rc;
    rc = e->drv->reflect(c->dc, rs, &e->err);
    orm_engine_release(e, c);
    return rc;
}

int corm_check_schema(corm_engine *e, corm_schema_diff **out)
{
    drv_rschema rs;
    if (out)
        *out = NULL;
    int rc = orm_engine_reflect(e, &rs);
    if (rc < 0)
        return rc;
    static const char *const own[] = { "corm_version", "corm_version_halfway", NULL };
    corm_schema_diff *d = util_calloc(1, sizeof *d);
    if (!d)
        rc = util_err_set(&e->err, CORM_ENOMEM, "out of memory comparing the schema");
    else
        rc = sch_diff_build(&e->meta, e->drv, &rs, own, &d->d, &e->err);
    drv_rschema_free(&rs);
    if (rc < 0) {
        util_free(d);
        return rc;
    }
    rc = (int)d->d.n;
    if (out)
        *out = d;
    else
        corm_schema_diff_free(d);
    return rc;
}

size_t corm_schema_diff_count(const corm_schema_diff *d) { return d ? d->d.n : 0; }

const char *corm_schema_diff_line(const corm_schema_diff *d, size_t i)
{
    return d && i < d->d.n ? d->d.lines[i] : NULL;
}

void corm_schema_diff_free(corm_schema_diff *d)
{
    if (!d)
        return;
    sch_diff_free(&d->d);
    util_free(d);
}
int corm_drop_all(corm_engine *e) { return with_conn(e, sch_drop_all); }
