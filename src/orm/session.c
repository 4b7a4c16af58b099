/*
 * session.c — the session's public calls: making, adding, deleting and
 * expunging objects, flush, commit and rollback, savepoints, expiry.
 *
 * It is the top of src/orm/: what these calls do to one object lives in
 * object.c, the connection and the journal in txn.c, playing the journal
 * back in undo.c, writing in flush.c and relationships in relation.c.
 * Commit settles what the transaction left (deleted objects leave, the
 * collections' arrays become the committed ones); rollback undoes it.
 */
#include "orm/orm.h"
#include "util/alloc.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

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
        !(s->maps = util_calloc(n, sizeof *s->maps)) ||
        !(s->sqlc = util_calloc(n * ORM_SQLC, sizeof *s->sqlc))) {
        util_free(s->lists);
        util_free(s->maps);
        util_free(s);
        return NULL;
    }
    return s;
}

/* Give back everything the session holds but itself and its arrays sized
 * by the engine (lists, maps, statement texts), which are emptied. */
static void release_all(corm_session *s)
{
    orm_release_conn(s);
    s->primary_only = false; /* as new: it may read from a replica again */
    orm_queries_free(s);
    util_arena_pool *pool = s->arena.pool;
    for (size_t i = 0; i < s->e->meta.n; i++) {
        util_pool_free(pool, s->lists[i].v);
        util_pool_free(pool, s->maps[i].slot);
    }
    memset(s->lists, 0, s->e->meta.n * sizeof *s->lists);
    memset(s->maps, 0, s->e->meta.n * sizeof *s->maps);
    memset(s->sqlc, 0, s->e->meta.n * ORM_SQLC * sizeof *s->sqlc); /* texts live in the arena */
    util_pool_free(pool, s->journal);
    util_pool_free(pool, s->scratch);
    util_pool_free(pool, s->img);
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
    s->journal = NULL;
    s->scratch = NULL;
    s->img = NULL;
    s->capimg = 0;
    s->owned = NULL;
    s->links = NULL;
    s->lazy_loads = NULL;
    s->warned = NULL;
    s->npending = s->ndeleted = s->njournal = s->capjournal = 0;
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
    util_free(s->maps);
    util_free(s->sqlc);
    util_free(s);
}

void corm_session_set_autoflush(corm_session *s, corm_autoflush mode) { s->autoflush = mode; }

/* ---- objects -------------------------------------------------------------------- */

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

int corm_add(corm_session *s, void *obj)
{
    util_err_clear(&s->err);
    return orm_add(s, obj);
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
    return orm_delete(s, obj);
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

/* Objects not yet flushed go back to their committed selves (rollback). */
static void discard_unflushed(corm_session *s)
{
    for (size_t r = 0; r < s->e->meta.n; r++) {
        orm_list *l = &s->lists[r];
        for (size_t i = 0; i < l->n; i++)
            if (l->v[i]->state == OBJ_PENDING)
                l->v[i]->state = OBJ_TRANSIENT;
        const struct orm_map *m = &s->maps[r];
        for (size_t i = 0; i < m->cap; i++) {
            orm_obj *o = orm_map_at(m, i);
            if (o && o->state == OBJ_DELETED)
                o->state = OBJ_PERSISTENT;
            if (o && o->state == OBJ_PERSISTENT && o->has_snap) {
                orm_view v;
                memcpy(orm_data(o), orm_snap_view(o, &v), o->mp->stride);
            }
        }
    }
    s->npending = s->ndeleted = 0;
}

/* After COMMIT: deleted rows' objects leave the session. */
static void settle(corm_session *s)
{
    s->nlinks = 0;
    for (size_t i = 0; i < s->njournal; i++) {
        orm_obj *o = s->journal[i].o;
        if (s->journal[i].kind == J_COLL || s->journal[i].kind == J_LOADED)
            orm_rel_settle(s, o, s->journal[i].before);
        if (o->state == OBJ_GONE) {
            orm_imap_del(s, o);
            o->state = OBJ_DETACHED;
        }
    }
    /* what was added is in the maps now, by its key */
    for (size_t r = 0; r < s->e->meta.n; r++)
        orm_list_compact(&s->lists[r], true);
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
        corm_value key = orm_snap_value(o, o->mp->pk);
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
        for (size_t i = 0; i < s->maps[r].cap; i++) {
            orm_obj *o = orm_map_at(&s->maps[r], i);
            if (o && o->state == OBJ_PERSISTENT && !orm_obj_dirty(o))
                o->expired = 1;
        }
}

void corm_session_set_expire_on_commit(corm_session *s, bool on) { s->expire_on_commit = on; }
