/*
 * session.c — the session: object lifecycle, identity map, transaction
 * journal, and the calls that move objects between states.
 *
 * The journal is what makes "a failed commit loses nothing" hold: every
 * INSERT, UPDATE and DELETE a flush runs records the object's state before
 * it, so a rollback can put each object back — either as the user left it
 * (a failed flush: fix and commit again) or as last committed (rollback).
 * Collections have entries of their own (relation.c): the array before a
 * change (J_COLL) or before a load inside a transaction (J_LOADED). Undo
 * never allocates: deleted objects stay listed and mapped until COMMIT.
 */
#include "orm/orm.h"
#include "util/alloc.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- errors ----------------------------------------------------------------- */

int orm_fail(corm_session *s, int code)
{
    s->err.code = code;
    return code;
}

int orm_set_error(corm_session *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err.msg, sizeof s->err.msg, fmt, ap);
    va_end(ap);
    s->err.code = code;
    return code;
}

const char *corm_errmsg(const corm_session *s) { return s ? s->err.msg : "out of memory"; }
int corm_errcode(const corm_session *s) { return s ? s->err.code : CORM_ENOMEM; }

/* ---- lifecycle ---------------------------------------------------------------- */

corm_session *corm_session_new(corm_engine *e)
{
    corm_session *s = util_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->e = e;
    static atomic_uint_least32_t sessions;
    do /* numbered from 1; 0 is no session's */
        s->sid = (uint32_t)atomic_fetch_add(&sessions, 1) + 1;
    while (!s->sid);
    s->coll_epoch = 1; /* 0 marks arrays made by loading */
    util_arena_init(&s->arena, 64 * 1024, &e->arenas);
    size_t n = e->meta.n ? e->meta.n : 1;
    if (!(s->lists = util_calloc(n, sizeof *s->lists)) ||
        !(s->sqlc = util_calloc(n * ORM_SQLC, sizeof *s->sqlc))) {
        util_free(s->lists);
        util_free(s);
        return NULL;
    }
    return s;
}

void orm_release_conn(corm_session *s)
{
    if (s->conn)
        orm_queries_end_streams(s); /* a stream's rows are not read on a pooled connection */
    orm_engine_release(s->conn_e ? s->conn_e : s->e, s->conn);
    s->conn = NULL;
    s->conn_e = NULL;
    s->nest = 0;
    s->wrote = false;
}

/* Give back everything the session holds but itself and its two arrays
 * sized by the engine (lists, statement texts), which are emptied. */
static void release_all(corm_session *s)
{
    orm_release_conn(s);
    s->primary_only = false; /* as new: it may read from a replica again */
    orm_queries_free(s);
    util_arena_pool *pool = s->arena.pool;
    for (size_t i = 0; i < s->e->meta.n; i++)
        util_pool_free(pool, s->lists[i].v);
    memset(s->lists, 0, s->e->meta.n * sizeof *s->lists);
    memset(s->sqlc, 0, s->e->meta.n * ORM_SQLC * sizeof *s->sqlc); /* texts live in the arena */
    util_pool_free(pool, s->imap);
    util_pool_free(pool, s->journal);
    util_pool_free(pool, s->scratch);
    for (size_t i = 0; i < s->nowned; i++)
        util_pool_free(pool, s->owned[i]);
    util_free(s->owned);
    util_free(s->links);
    util_free(s->lazy_loads);
    util_free(s->warned);
    sql_params_free(&s->params);
    sql_params_free(&s->rows);
    util_buf_free(&s->sql);
    util_arena_free(&s->arena);
    s->imap = NULL;
    s->journal = NULL;
    s->scratch = NULL;
    s->owned = NULL;
    s->links = NULL;
    s->lazy_loads = NULL;
    s->warned = NULL;
    s->npending = s->ndeleted = s->imap_n = s->imap_cap = s->njournal = s->capjournal = 0;
    s->miss_hash = 0;
    s->nscratch = s->capscratch = s->nowned = s->capowned = s->nlinks = s->caplinks = 0;
    s->nest = 0;
    s->failed_commit = false;
    util_err_clear(&s->err);
}

void corm_session_reset(corm_session *s)
{
    util_arena_pool *pool = s->arena.pool;
    release_all(s);
    util_arena_init(&s->arena, 64 * 1024, pool);
}

void corm_session_free(corm_session *s)
{
    if (!s)
        return;
    release_all(s);
    util_free(s->lists);
    util_free(s->sqlc);
    util_free(s);
}

void corm_session_set_autoflush(corm_session *s, corm_autoflush mode) { s->autoflush = mode; }

/* The session's connection, from the engine's pool at its first use and
 * kept until commit or rollback. */
/* How far behind its primary the replica on c is, in seconds (a failed
 * question: as far as can be). */
static double replica_lag(sql_conn *c)
{
    util_err ignored;
    drv_stmt *st;
    sql_params none = { 0 };
    const char *q = c->drv->replica_lag_sql;
    double lag = 1e300;
    if (sql_run(c, q, strlen(q), &none, &st, &ignored) == CORM_OK) {
        if (c->drv->step(st, &ignored) == 1)
            lag = c->drv->column_double(st, 0);
        c->drv->reset(st);
    }
    return lag;
}

/* A session that has not written reads from the replicas, in turn: one
 * that cannot be reached is not tried again for a second, one that lags
 * more than its max_lag is passed over; when none will do, the primary. */
static void replica_conn(corm_session *s)
{
    corm_engine *e = s->e;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    for (size_t k = 0; k < e->nreplicas && !s->conn; k++) {
        struct orm_replica *r =
            &e->replicas[__atomic_fetch_add(&e->next_replica, 1, __ATOMIC_RELAXED) % e->nreplicas];
        if ((long)now.tv_sec < __atomic_load_n(&r->down_until, __ATOMIC_RELAXED))
            continue;
        util_err ignored;
        sql_conn *c;
        if (orm_engine_acquire(r->e, &c, &ignored) < 0) {
            __atomic_store_n(&r->down_until, (long)now.tv_sec + 1, __ATOMIC_RELAXED);
            continue;
        }
        if (replica_lag(c) > r->max_lag) {
            orm_engine_release(r->e, c);
            continue;
        }
        s->conn = c;
        s->conn_e = r->e;
    }
}

int orm_conn(corm_session *s)
{
    if (s->conn)
        return CORM_OK;
    if (s->e->nreplicas && !s->primary_only)
        replica_conn(s);
    if (s->conn)
        return CORM_OK;
    s->conn_e = s->e;
    return orm_engine_acquire(s->e, &s->conn, &s->err);
}

/* The connection, ready for a read. Where the driver's reads_begin says so
 * (PostgreSQL) the first read begins the session's transaction, as
 * SQLAlchemy's Session does; a transaction that has only read and can go
 * no further (a statement failed in it, or the server went away) had
 * nothing to lose: it is rolled back, and the session goes on with a
 * fresh one. Elsewhere (SQLite) a session reads outside any transaction
 * until it first writes (or corm_begin begins one), so that each read sees
 * the newest commit and a session that only reads holds no snapshot
 * between its calls (a WAL file cannot be checkpointed past one). */
int orm_read(corm_session *s)
{
    const drv_driver *d = s->e->drv;
    if (s->conn && s->conn->depth && !s->wrote && d->txn_failed && d->txn_failed(s->conn->dc))
        orm_release_conn(s); /* its ROLLBACK, or the broken connection closed */
    int rc = orm_conn(s);
    if (rc == CORM_OK && d->reads_begin && s->conn->depth == 0 &&
        (rc = sql_begin_read(s->conn, &s->err)) < 0)
        orm_release_conn(s);
    return rc;
}

/* A write begins the session's transaction (with the driver's begin_write),
 * unless a read began it already; either way the transaction has now
 * written. */
int orm_begin(corm_session *s)
{
    if (s->conn && s->conn_e != s->e) /* reading on a replica: writes go to the primary */
        orm_release_conn(s);
    s->primary_only = true; /* and the session reads its own writes there from now on */
    int rc = orm_conn(s);
    if (rc == CORM_OK && s->conn->depth == 0 && (rc = sql_begin(s->conn, &s->err)) < 0)
        orm_release_conn(s);
    if (rc == CORM_OK)
        s->wrote = true;
    return rc;
}

int orm_scratch_push(corm_session *s, void *p)
{
    if (util_pool_grow(s->arena.pool, &s->scratch, &s->capscratch, s->nscratch,
                       sizeof *s->scratch, 64) < 0)
        return orm_set_error(s, CORM_ENOMEM, "out of memory collecting rows");
    s->scratch[s->nscratch++] = p;
    return CORM_OK;
}

void **orm_scratch_take(corm_session *s)
{
    if (!s->nscratch)
        return NULL;
    if (s->nscratch < 4096)
        return util_arena_memdup(&s->arena, s->scratch, s->nscratch * sizeof(void *));
    /* a large array is handed over instead of copied */
    if (util_grow(&s->owned, &s->capowned, s->nowned, sizeof *s->owned, 8) < 0)
        return NULL;
    void **rows = s->scratch;
    s->owned[s->nowned++] = rows;
    s->scratch = NULL;
    s->capscratch = 0;
    return rows;
}

/* ---- objects -------------------------------------------------------------------- */

orm_obj *orm_alloc(corm_session *s, const sch_mapper *mp)
{
    return orm_alloc_copy(s, mp, true);
}

orm_obj *orm_alloc_copy(corm_session *s, const sch_mapper *mp, bool snapshot)
{
    orm_obj *o = util_arena_alloc(&s->arena, ORM_HDR + (snapshot ? 2 : 1) * mp->stride);
    if (!o)
        return NULL;
    o->magic = ORM_MAGIC;
    o->state = OBJ_TRANSIENT;
    o->in_list = false;
    o->has_snap = false;
    o->seen = 0;
    o->expired = 0;
    o->mp = mp;
    o->sid = s->sid;
    return o;
}

void *corm_new_(corm_session *s, const corm_model *m)
{
    const sch_mapper *mp = sch_find(&s->e->meta, m);
    if (!mp) {
        orm_set_error(s, CORM_EINVAL, "model %s is not registered with the engine",
                      m ? m->name : "(null)");
        return NULL;
    }
    orm_obj *o = orm_alloc(s, mp);
    if (!o) {
        orm_set_error(s, CORM_ENOMEM, "out of memory making a %s", m->name);
        return NULL;
    }
    void *obj = orm_data(o);
    memcpy(obj, mp->proto, o->mp->stride);
    if (mp->has_default_fns)
        for (size_t i = 0; i < m->ncolumns; i++)
            if (m->columns[i]->default_fn)
                m->columns[i]->default_fn((char *)obj + m->columns[i]->offset);
    return obj;
}

char *corm_strdup(corm_session *s, const char *str)
{
    char *d = str ? util_arena_strndup(&s->arena, str, strlen(str)) : NULL;
    if (str && !d)
        orm_set_error(s, CORM_ENOMEM, "out of memory copying a string");
    return d;
}

orm_obj *orm_check(corm_session *s, const void *obj)
{
    if (!obj) {
        orm_set_error(s, CORM_EINVAL, "NULL object");
        return NULL;
    }
    orm_obj *o = orm_hdr(obj);
    if (o->magic != ORM_MAGIC || o->sid != s->sid) {
        orm_set_error(s, CORM_EINVAL, "the object was not made or loaded by this session "
                      "(use corm_new)");
        return NULL;
    }
    if (o->state == OBJ_STREAMED) {
        orm_set_error(s, CORM_ESTATE, "%s: an object read by corm_next_batch or a corm_read_only "
                      "query is a read-only copy the session does not track (load it with "
                      "corm_get to change it)", o->mp->model->name);
        return NULL;
    }
    return o;
}

int orm_list_push(util_arena_pool *pool, orm_list *l, orm_obj *o)
{
    if (util_pool_grow(pool, &l->v, &l->cap, l->n, sizeof *l->v, 64) < 0)
        return CORM_ENOMEM;
    l->v[l->n++] = o;
    o->in_list = true;
    return CORM_OK;
}

static int track(corm_session *s, orm_obj *o)
{
    if (o->in_list)
        return CORM_OK;
    if (orm_list_push(s->arena.pool, &s->lists[o->mp->rank], o) < 0)
        return orm_set_error(s, CORM_ENOMEM, "out of memory adding a %s", o->mp->model->name);
    return CORM_OK;
}

int corm_add(corm_session *s, void *obj)
{
    util_err_clear(&s->err);
    orm_obj *o = orm_check(s, obj);
    if (!o)
        return s->err.code;
    int rc;
    switch (o->state) {
    case OBJ_TRANSIENT:
        if ((rc = track(s, o)) < 0)
            return rc;
        o->state = OBJ_PENDING;
        s->npending++;
        return CORM_OK;
    case OBJ_DELETED:
        o->state = OBJ_PERSISTENT;
        s->ndeleted--;
        return CORM_OK;
    case OBJ_DETACHED: {
        if (!o->has_snap) {
            o->state = OBJ_TRANSIENT;
            return corm_add(s, obj);
        }
        corm_value key[8];
        orm_key_of(o->mp, obj, key);
        if (orm_imap_get(s, o->mp, key))
            return orm_set_error(s, CORM_ESTATE, "%s: another object with this primary key is "
                                 "in the session", o->mp->model->name);
        if ((rc = track(s, o)) < 0 || (rc = orm_imap_put(s, o)) < 0)
            return rc;
        o->state = OBJ_PERSISTENT;
        return CORM_OK;
    }
    case OBJ_GONE:
        return orm_set_error(s, CORM_ESTATE, "%s: the object's row was deleted in this "
                             "transaction", o->mp->model->name);
    default:
        return CORM_OK;
    }
}

int corm_add_all(corm_session *s, void *const *objs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = corm_add(s, objs[i]);
        if (rc < 0)
            return rc;
    }
    return CORM_OK;
}

int corm_delete(corm_session *s, void *obj)
{
    util_err_clear(&s->err);
    orm_obj *o = orm_check(s, obj);
    if (!o)
        return s->err.code;
    switch (o->state) {
    case OBJ_PENDING: {
        /* its pending children would add it back at flush: they go too */
        int rc = o->mp->nrels ? orm_rel_cascade_delete(s, o) : CORM_OK;
        if (rc < 0)
            return rc;
        o->state = OBJ_TRANSIENT;
        s->npending--;
        return CORM_OK;
    }
    case OBJ_PERSISTENT: {
        int rc = o->mp->nrels ? orm_rel_cascade_delete(s, o) : CORM_OK;
        if (rc < 0)
            return rc;
        o->state = OBJ_DELETED;
        s->ndeleted++;
        return CORM_OK;
    }
    case OBJ_DELETED:
    case OBJ_GONE:
        return CORM_OK;
    default:
        return orm_set_error(s, CORM_ESTATE, "%s: the object is not in the session, so it "
                             "cannot be deleted", o->mp->model->name);
    }
}

int corm_expunge(corm_session *s, void *obj)
{
    util_err_clear(&s->err);
    orm_obj *o = orm_check(s, obj);
    if (!o)
        return s->err.code;
    if (o->state == OBJ_PENDING)
        s->npending--;
    if (o->state == OBJ_DELETED)
        s->ndeleted--;
    if (o->state == OBJ_PERSISTENT || o->state == OBJ_DELETED)
        orm_imap_del(s, o);
    o->state = OBJ_DETACHED;
    return CORM_OK;
}

int corm_set_null(void *obj, const corm_column *col, bool is_null)
{
    orm_obj *o = orm_hdr(obj);
    if (!obj || !col || o->magic != ORM_MAGIC || col->model != o->mp->model)
        return CORM_EINVAL;
    if (orm_is_pointer(col)) {
        if (is_null)
            memset((char *)obj + col->offset, 0, col->size);
        return CORM_OK;
    }
    if (!orm_flagged(col)) /* a NOT NULL number or date cannot hold NULL */
        return is_null ? CORM_ENOTNULL : CORM_OK;
    uint64_t *w = &orm_nulls(o)[col->index >> 6], bit = (uint64_t)1 << (col->index & 63);
    *w = is_null ? *w | bit : *w & ~bit;
    if (is_null)
        memset((char *)obj + col->offset, 0, col->size); /* NULL while it stays zero */
    return CORM_OK;
}

bool corm_field_is_null(const void *obj, const corm_column *col)
{
    if (!obj || !col)
        return true;
    orm_obj *o = orm_hdr(obj);
    if (o->magic != ORM_MAGIC || col->model != o->mp->model)
        return false; /* not a corm object of this column's model: it has no NULL flags */
    if (orm_is_pointer(col)) {
        const void *p;
        memcpy(&p, (const char *)obj + col->offset, sizeof p);
        return p == NULL;
    }
    return orm_bit(orm_nulls(o), col) && orm_zero(obj, col);
}

/* ---- identity map ---------------------------------------------------------------- */

/* One key column's value mixed into h. An integer is added and multiplied
 * by 2^64/phi (Fibonacci hashing): the slot is the hash's top bits
 * (slot_of), where keys that follow each other (the usual generated keys)
 * land evenly spread, so a probe rarely meets another key even with the
 * map 7/8 full; text and UUIDs are mixed byte by byte, then their bits
 * spread up to the top. */
static inline uint64_t spread(uint64_t h) /* every bit into the top ones */
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static inline uint64_t mix(uint64_t h, const corm_value *k)
{
    if (k->kind == CORM_V_INT)
        return (h + (uint64_t)k->u.i) * 0x9E3779B97F4A7C15ull;
    const unsigned char *p = k->kind == CORM_V_UUID ? k->u.uuid.b : (const unsigned char *)k->u.text.p;
    size_t n = k->kind == CORM_V_UUID ? sizeof k->u.uuid.b : k->u.text.n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return spread(h);
}

/* The slot of hash h in a map of cap slots (a power of two): its top bits. */
static inline size_t slot_of(uint64_t h, size_t cap)
{
    return (size_t)(h >> (64 - __builtin_ctzll((unsigned long long)cap)));
}

/* A key's hash: its columns' values mixed in order (one for most keys). */
static uint64_t key_hash(const sch_mapper *mp, const corm_value *k)
{
    uint64_t h = (uint64_t)(uintptr_t)mp * 0x9E3779B97F4A7C15ull;
    for (size_t c = 0; c < mp->npk; c++)
        h = mix(h, &k[c]);
    return spread(h); /* a grid of integer pairs would be a lattice in the top bits */
}

/* A key column's value normalized to INT (integer types), UUID or TEXT;
 * false when it is not of its column's kind. */
static inline bool key_of(const corm_column *col, const corm_value *in, corm_value *out)
{
    *out = *in;
    switch (col->type) {
    case CORM_TYPE_INTEGER: case CORM_TYPE_BIGINT: case CORM_TYPE_SMALLINT:
    case CORM_TYPE_ENUM: case CORM_TYPE_BOOLEAN:
        if (in->kind == CORM_V_BOOL) {
            out->kind = CORM_V_INT;
            out->u.i = in->u.b;
        }
        return out->kind == CORM_V_INT;
    case CORM_TYPE_UUID: { /* as a row gives it: its text */
        char tmp[40];
        if (in->kind == CORM_V_TEXT && in->u.text.n < sizeof tmp) {
            memcpy(tmp, in->u.text.p, in->u.text.n);
            tmp[in->u.text.n] = '\0';
            out->kind = corm_uuid_parse(tmp, &out->u.uuid) == CORM_OK ? CORM_V_UUID : CORM_V_NULL;
        }
        return out->kind == CORM_V_UUID;
    }
    default:
        return out->kind == CORM_V_TEXT;
    }
}

/* The key given as mp->npk values, normalized into out. */
static bool keys_of(const sch_mapper *mp, const corm_value *in, corm_value *out)
{
    for (size_t c = 0; c < mp->npk; c++)
        if (!key_of(mp->pks[c], &in[c], &out[c]))
            return false;
    return true;
}

static inline bool value_eq(const corm_value *a, const corm_value *b)
{
    return a->kind == CORM_V_INT  ? a->u.i == b->u.i
         : a->kind == CORM_V_UUID ? memcmp(&a->u.uuid, &b->u.uuid, sizeof a->u.uuid) == 0
         : a->u.text.n == b->u.text.n && memcmp(a->u.text.p, b->u.text.p, a->u.text.n) == 0;
}

/* Whether o's key, as its fields hold it, is k (normalized). */
static bool obj_has_key(orm_obj *o, const corm_value *k)
{
    const sch_mapper *mp = o->mp;
    for (size_t c = 0; c < mp->npk; c++) {
        corm_value v = sql_field_value(mp->pks[c], orm_data(o), false), ok;
        if (!key_of(mp->pks[c], &v, &ok) || !value_eq(&k[c], &ok))
            return false;
    }
    return true;
}

/* o's key, as its fields hold it, into out (mp->npk values). */
static void obj_key(orm_obj *o, corm_value *out)
{
    for (size_t c = 0; c < o->mp->npk; c++) {
        corm_value v = sql_field_value(o->mp->pks[c], orm_data(o), false);
        key_of(o->mp->pks[c], &v, &out[c]);
    }
}

void orm_key_of(const sch_mapper *mp, const void *obj, corm_value *out)
{
    for (size_t c = 0; c < mp->npk; c++)
        out[c] = sql_field_value(mp->pks[c], obj, false);
}

uint64_t orm_imap_hash(const sch_mapper *mp, const corm_value *key)
{
    if (mp->pk_int && key->kind == CORM_V_INT) /* most keys */
        return mix((uint64_t)(uintptr_t)mp * 0x9E3779B97F4A7C15ull, key) | 1;
    if (mp->npk == 1) { /* one column: no array */
        corm_value k;
        return key_of(mp->pk, key, &k)
                   ? mix((uint64_t)(uintptr_t)mp * 0x9E3779B97F4A7C15ull, &k) | 1 : 0;
    }
    corm_value k[8];
    return keys_of(mp, key, k) ? key_hash(mp, k) | 1 : 0; /* 0 marks an empty slot */
}

orm_obj *orm_imap_find(corm_session *s, const sch_mapper *mp, const corm_value *key, uint64_t h)
{
    corm_value k[8];
    if (!s->imap_cap || !h)
        return NULL;
    size_t mask = s->imap_cap - 1, i = slot_of(h, s->imap_cap);
    if (mp->pk_int && key->kind == CORM_V_INT) { /* most keys: compared in place */
        for (; s->imap[i].hash; i = (i + 1) & mask) {
            orm_obj *o = s->imap[i].o;
            int64_t id;
            if (s->imap[i].hash != h || o->mp != mp || o->state == OBJ_GONE)
                continue;
            memcpy(&id, (char *)orm_data(o) + mp->pk->offset, sizeof id);
            if (id == key->u.i)
                return o;
        }
        s->miss_hash = h;
        s->miss_slot = i;
        return NULL;
    }
    if (!(mp->npk == 1 ? key_of(mp->pk, key, k) : keys_of(mp, key, k)))
        return NULL;
    for (; s->imap[i].hash; i = (i + 1) & mask) {
        orm_obj *o = s->imap[i].o;
        if (s->imap[i].hash == h && o->mp == mp && o->state != OBJ_GONE && obj_has_key(o, k))
            return o;
    }
    s->miss_hash = h; /* a load adds the key next: no second probe */
    s->miss_slot = i;
    return NULL;
}

orm_obj *orm_imap_get(corm_session *s, const sch_mapper *mp, const corm_value *key)
{
    return orm_imap_find(s, mp, key, orm_imap_hash(mp, key));
}

static void imap_insert(struct orm_slot *tab, size_t cap, uint64_t h, orm_obj *o)
{
    size_t mask = cap - 1, i = slot_of(h, cap);
    while (tab[i].hash)
        i = (i + 1) & mask;
    tab[i].hash = h;
    tab[i].o = o;
}

static uint64_t obj_hash(orm_obj *o)
{
    corm_value k[8];
    obj_key(o, k);
    return orm_imap_hash(o->mp, k);
}

int orm_imap_add(corm_session *s, orm_obj *o, uint64_t h)
{
    if ((s->imap_n + 1) * 8 > s->imap_cap * 7) { /* load factor 7/8 */
        size_t cap = s->imap_cap ? s->imap_cap * 2 : 256;
        struct orm_slot *tab = util_pool_alloc(s->arena.pool, cap * sizeof *tab, true);
        if (!tab)
            return orm_set_error(s, CORM_ENOMEM, "out of memory in the identity map");
        for (size_t i = 0; i < s->imap_cap; i++)
            if (s->imap[i].hash)
                imap_insert(tab, cap, s->imap[i].hash, s->imap[i].o);
        util_pool_discard(s->imap);
        s->imap = tab;
        s->imap_cap = cap;
        s->miss_hash = 0;
    }
    /* linear probing puts h in the first empty slot of its run, where the
     * last search for h stopped, if nothing was put in or taken out since */
    if (s->miss_hash == h) {
        s->imap[s->miss_slot].hash = h;
        s->imap[s->miss_slot].o = o;
    } else {
        imap_insert(s->imap, s->imap_cap, h, o);
    }
    s->miss_hash = 0;
    s->imap_n++;
    return CORM_OK;
}

int orm_imap_put(corm_session *s, orm_obj *o) { return orm_imap_add(s, o, obj_hash(o)); }

void orm_imap_del(corm_session *s, orm_obj *o)
{
    if (!s->imap_cap)
        return;
    size_t mask = s->imap_cap - 1, i;
    for (i = slot_of(obj_hash(o), s->imap_cap); s->imap[i].hash && s->imap[i].o != o; i = (i + 1) & mask)
        ;
    if (!s->imap[i].hash)
        return;
    /* backward-shift deletion keeps probe chains whole without tombstones */
    s->miss_hash = 0; /* a slot before the last miss's may be empty now */
    s->imap[i].hash = 0;
    s->imap_n--;
    for (size_t j = (i + 1) & mask; s->imap[j].hash; j = (j + 1) & mask) {
        struct orm_slot x = s->imap[j];
        s->imap[j].hash = 0;
        imap_insert(s->imap, s->imap_cap, x.hash, x.o);
    }
}

/* ---- snapshots and the journal ------------------------------------------------------ */

void orm_take_snapshot(orm_obj *o)
{
    /* normalize NULL flags: a flagged field given a value is no longer NULL */
    const corm_model *m = o->mp->model;
    uint64_t *nulls = orm_nulls(o);
    for (size_t i = 0; o->mp->nwords && i < m->ncolumns; i++)
        if (orm_bit(nulls, m->columns[i]) && !orm_zero(orm_data(o), m->columns[i]))
            nulls[i >> 6] &= ~((uint64_t)1 << (i & 63));
    /* collections in the snapshot stay as committed (see orm_rel_settle) */
    if (o->has_snap)
        orm_rel_restore_image(o, orm_snap(o), orm_data(o));
    else
        memcpy(orm_snap(o), orm_data(o), o->mp->stride);
    o->has_snap = true;
}

int orm_journal(corm_session *s, orm_obj *o, enum orm_jkind kind, bool pk_assigned,
                unsigned char *before)
{
    if (util_pool_grow(s->arena.pool, &s->journal, &s->capjournal, s->njournal,
                       sizeof *s->journal, 256) < 0)
        return orm_set_error(s, CORM_ENOMEM, "out of memory recording the transaction");
    s->journal[s->njournal++] = (orm_jentry){ o, (uint8_t)kind, pk_assigned, 0, before };
    return CORM_OK;
}

/* The columns an INSERT left to the database (server defaults) as they
 * were before RETURNING read them back, so that the next INSERT leaves them
 * to it again. */
static void forget_server_values(orm_obj *o, const unsigned char *before)
{
    const corm_model *m = o->mp->model;
    const uint64_t *was = (const uint64_t *)(const void *)(before + ((m->size + 7) & ~(size_t)7));
    uint64_t *nulls = orm_nulls(o);
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        if (!c->server_default)
            continue;
        memcpy((char *)orm_data(o) + c->offset, before + c->offset, c->size);
        if (orm_flagged(c)) {
            uint64_t bit = (uint64_t)1 << (i & 63);
            nulls[i >> 6] = (nulls[i >> 6] & ~bit) | (was[i >> 6] & bit);
        }
    }
}

void orm_undo(corm_session *s, size_t mark, bool keep)
{
    /* the whole transaction: many-to-many changes are written again at the
     * next flush, or dropped (a savepoint's are dropped by its caller) */
    for (size_t i = 0; mark == 0 && i < s->nlinks; i++)
        s->links[i].done = false;
    if (!keep && mark == 0)
        s->nlinks = 0;
    size_t end = s->njournal;
    while (s->njournal > mark) {
        orm_jentry *j = &s->journal[--s->njournal];
        orm_obj *o = j->o;
        switch (j->kind) {
        case J_INSERTED:
            orm_imap_del(s, o);
            if (j->before) /* what RETURNING filled in goes; what the user set since stays */
                forget_server_values(o, j->before);
            if (j->pk_assigned)
                memset((char *)orm_data(o) + o->mp->pk->offset, 0, o->mp->pk->size);
            o->has_snap = false;
            if (o->state == OBJ_DELETED) { /* inserted, then deleted: never was */
                s->ndeleted--;
                o->state = OBJ_TRANSIENT;
            } else if (keep) {
                o->state = OBJ_PENDING;
                s->npending++;
            } else {
                o->state = OBJ_TRANSIENT;
            }
            break;
        case J_UPDATED:
        case J_BULK_UPDATED: /* collections have entries of their own */
            if (!keep || j->kind == J_BULK_UPDATED) {
                orm_rel_restore_image(o, orm_snap(o), j->before);
                orm_rel_restore_image(o, orm_data(o), j->before);
            } else {
                j->follow = orm_rel_rebase(o, j->before); /* the user's values stay */
            }
            break;
        case J_LOADED:
        case J_COLL:
            if (!keep) /* a failed commit keeps what the user sees */
                orm_rel_unload(o, j->before, j->kind == J_LOADED);
            break;
        case J_DELETED:
        case J_BULK_DELETED: {
            /* still listed and mapped (see settle): nothing to allocate */
            bool again = keep && j->kind == J_DELETED; /* delete it at the next flush */
            o->state = again ? OBJ_DELETED : OBJ_PERSISTENT;
            s->ndeleted += again;
            if (!keep) /* what was changed before the delete, never written */
                orm_rel_restore_image(o, orm_data(o), orm_snap(o));
            break;
        }
        }
    }
    if (keep && end > mark)
        s->failed_commit = true;
    /* after every object is back (a target may be pending again) */
    for (size_t k = mark; keep && k < end; k++)
        if (s->journal[k].kind == J_UPDATED)
            orm_rel_repoint(s, s->journal[k].o, s->journal[k].follow);
    /* a failed commit keeps the user's collections: their entries stay, for
     * the commit that settles them or the rollback that undoes them */
    for (size_t k = mark; keep && k < end; k++)
        if (s->journal[k].kind == J_LOADED || s->journal[k].kind == J_COLL)
            s->journal[s->njournal++] = s->journal[k];
    /* the flushes of the failed transaction moved children between
     * collections by keys that are unflushed again: collections follow what
     * the keys say now (out of memory here leaves a ghost, not a loss) */
    for (size_t k = mark, n = s->njournal; keep && k < n; k++)
        if (s->journal[k].kind == J_COLL || s->journal[k].kind == J_LOADED)
            (void)orm_rel_reconcile(s, s->journal[k].o, s->journal[k].before);
}

/* Objects not yet flushed go back to their committed selves (rollback). */
static void discard_unflushed(corm_session *s)
{
    for (size_t r = 0; r < s->e->meta.n; r++) {
        orm_list *l = &s->lists[r];
        for (size_t i = 0; i < l->n; i++) {
            orm_obj *o = l->v[i];
            if (o->state == OBJ_PENDING)
                o->state = OBJ_TRANSIENT;
            else if (o->state == OBJ_DELETED)
                o->state = OBJ_PERSISTENT;
            if (o->state == OBJ_PERSISTENT && o->has_snap)
                memcpy(orm_data(o), orm_snap(o), o->mp->stride);
        }
    }
    s->npending = s->ndeleted = 0;
}

/* After COMMIT: deleted rows' objects leave the session. */
static void settle(corm_session *s)
{
    s->nlinks = 0;
    bool compact = false;
    for (size_t i = 0; i < s->njournal; i++) {
        orm_obj *o = s->journal[i].o;
        if (s->journal[i].kind == J_COLL || s->journal[i].kind == J_LOADED)
            orm_rel_settle(s, o, s->journal[i].before);
        if (o->state == OBJ_GONE) {
            orm_imap_del(s, o);
            o->state = OBJ_DETACHED;
            compact = true;
        }
    }
    for (size_t r = 0; compact && r < s->e->meta.n; r++)
        orm_list_compact(&s->lists[r]);
    s->njournal = 0;
    s->coll_epoch++;
    s->failed_commit = false;
}

/* ---- transactions -------------------------------------------------------------------- */

int corm_flush(corm_session *s)
{
    util_err_clear(&s->err);
    return orm_flush(s, ORM_SCAN_ALL, NULL);
}

int corm_commit(corm_session *s)
{
    util_err_clear(&s->err);
    int rc = orm_event_on(s, CORM_BEFORE_COMMIT, NULL) ? orm_event_run(s, CORM_BEFORE_COMMIT, NULL)
                                                        : CORM_OK;
    if (rc < 0)
        return rc;
    if ((rc = orm_flush(s, ORM_SCAN_ALL, NULL)) < 0)
        return rc;
    bool sent = false; /* COMMIT went out on the connection */
    if (s->conn && s->conn->depth) {
        const drv_driver *d = s->conn->drv;
        if (d->alive && !d->alive(s->conn->dc, false)) /* the server already rolled back */
            rc = util_err_set(&s->err, CORM_ECONNLOST, "the connection to the database was lost "
                              "before COMMIT was sent");
        else
            sent = true, rc = sql_commit(s->conn, &s->err);
    }
    if (rc < 0) {
        util_err keep = s->err;
        orm_undo(s, 0, true);
        s->err = keep;
        orm_release_conn(s);
        if (rc == CORM_ECONNLOST && sent) { /* COMMIT was sent: its fate is not known */
            s->err.code = rc = CORM_EINDOUBT;
            util_err_prefix(&s->err, "the connection was lost during COMMIT; the transaction may "
                            "or may not have been applied (check before doing it again): ");
            return rc;
        }
        util_err_prefix(&s->err, "commit failed, nothing was written: ");
        return rc;
    }
    settle(s);
    orm_release_conn(s);
    if (s->expire_on_commit)
        corm_expire_all(s);
    if (orm_event_on(s, CORM_AFTER_COMMIT, NULL) && (rc = orm_event_run(s, CORM_AFTER_COMMIT, NULL)) < 0)
        return rc; /* committed: the hook's code says what it could not do after */
    return CORM_OK;
}

int corm_rollback(corm_session *s)
{
    util_err_clear(&s->err);
    orm_undo(s, 0, false);
    discard_unflushed(s);
    s->coll_epoch++;
    s->failed_commit = false;
    orm_release_conn(s);
    return orm_event_on(s, CORM_AFTER_ROLLBACK, NULL) ? orm_event_run(s, CORM_AFTER_ROLLBACK, NULL)
                                                       : CORM_OK;
}

int corm_begin(corm_session *s)
{
    util_err_clear(&s->err);
    int rc = orm_read(s);
    if (rc == CORM_OK && s->conn->depth == 0 && (rc = sql_begin_read(s->conn, &s->err)) < 0)
        orm_release_conn(s);
    return rc;
}

int corm_begin_nested(corm_session *s)
{
    util_err_clear(&s->err);
    if (s->nest == (int)(sizeof s->marks / sizeof s->marks[0]))
        return orm_set_error(s, CORM_EINVAL, "savepoints nested too deeply");
    int rc = orm_flush(s, ORM_SCAN_ALL, NULL);
    if (rc == CORM_OK)
        rc = orm_begin(s);
    if (rc == CORM_OK)
        rc = sql_savepoint(s->conn, &s->err);
    if (rc < 0)
        return rc;
    s->link_marks[s->nest] = s->nlinks;
    s->marks[s->nest++] = s->njournal;
    s->coll_epoch++; /* collections changed from here on are journaled again */
    return CORM_OK;
}

static int nested_end(corm_session *s, bool commit)
{
    util_err_clear(&s->err);
    if (s->nest == 0 || !s->conn)
        return orm_set_error(s, CORM_ESTATE, "no savepoint is open");
    int rc = orm_flush(s, ORM_SCAN_ALL, NULL);
    if (rc < 0)
        return rc;
    if (commit) {
        rc = sql_release(s->conn, &s->err);
    } else if ((rc = sql_rollback_to(s->conn, &s->err)) == CORM_OK) {
        orm_undo(s, s->marks[s->nest - 1], false);
        s->nlinks = s->link_marks[s->nest - 1];
    }
    if (rc == CORM_OK)
        s->nest--;
    return rc;
}

int corm_commit_nested(corm_session *s) { return nested_end(s, true); }
int corm_rollback_nested(corm_session *s) { return nested_end(s, false); }

int corm_expire(corm_session *s, void *obj)
{
    util_err_clear(&s->err);
    orm_obj *o = orm_check(s, obj);
    if (!o)
        return s->err.code;
    if (o->state != OBJ_PERSISTENT)
        return orm_set_error(s, CORM_ESTATE, "%s: only a persistent object can be expired (this "
                             "one is new, deleted or gone)", o->mp->model->name);
    if (orm_obj_dirty(o)) {
        char vb[96];
        corm_value key = sql_field_value(o->mp->pk, orm_snap(o), false);
        return orm_set_error(s, CORM_ESTATE, "%s %s = %s has changes not yet flushed: flush them, "
                             "or discard them with corm_refresh, before expiring it",
                             o->mp->model->name, o->mp->pk->name,
                             util_value_repr(&key, vb, sizeof vb));
    }
    o->expired = 1;
    return CORM_OK;
}

void corm_expire_all(corm_session *s)
{
    for (size_t r = 0; r < s->e->meta.n; r++)
        for (size_t i = 0; i < s->lists[r].n; i++) {
            orm_obj *o = s->lists[r].v[i];
            if (o && o->state == OBJ_PERSISTENT && !orm_obj_dirty(o))
                o->expired = 1;
        }
}

void corm_session_set_expire_on_commit(corm_session *s, bool on) { s->expire_on_commit = on; }

bool corm_is_modified(const corm_session *s, const void *obj)
{
    orm_obj *o = orm_check((corm_session *)s, obj);
    if (!o)
        return false;
    return o->state == OBJ_PENDING || o->state == OBJ_DELETED ||
           (o->state == OBJ_PERSISTENT && orm_obj_dirty(o));
}

/* ---- printing ---------------------------------------------------------------------------- */

char *corm_repr(const void *obj, char *buf, size_t size)
{
    orm_obj *o = orm_hdr(obj);
    util_buf b = UTIL_BUF_INIT;
    if (!obj || o->magic != ORM_MAGIC) {
        snprintf(buf, size, "<?>");
        return buf;
    }
    const corm_model *m = o->mp->model;
    util_buf_printf(&b, "<%s", m->name);
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        char vb[96];
        corm_value v = sql_field_value(c, obj, corm_field_is_null(obj, c));
        if (c->type == CORM_TYPE_ENUM && v.kind == CORM_V_INT && v.u.i >= 0) {
            int64_t n = 0;
            while (c->enum_names[n] && n < v.u.i)
                n++;
            if (c->enum_names[n])
                v = corm_v_text(c->enum_names[n]);
        }
        util_buf_printf(&b, " %s=%s", c->name,
                        c->flags & CORM_SENSITIVE ? "***" : util_value_repr(&v, vb, sizeof vb));
    }
    util_buf_putc(&b, '>');
    snprintf(buf, size, "%s", b.err ? "<out of memory>" : util_buf_str(&b));
    util_buf_free(&b);
    return buf;
}
