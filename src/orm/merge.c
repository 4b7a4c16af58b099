/*
 * merge.c — values from outside the session, into it: corm_merge
 * (SQLAlchemy's session.merge) and corm_upsert (insert-or-update on a
 * unique column, SQLAlchemy's on_conflict_do_update).
 *
 * Both leave the caller's struct alone and hand back the session's object
 * for the row, so that the identity map keeps one object a row: merge
 * copies the values onto the object the session holds or loads for the
 * key (a new pending one when there is none), to be written at the next
 * flush as any change; upsert writes at once, many rows a statement, and
 * reads the rows back (RETURNING) into the session's objects for them.
 */
#include "orm/orm.h"
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

static const sch_mapper *mapper_of(corm_session *s, const corm_model *m)
{
    const sch_mapper *mp = sch_find(&s->e->meta, m);
    if (!mp)
        orm_set_error(s, CORM_EINVAL, "model %s is not registered with the engine",
                      m ? m->name : "(null)");
    return mp;
}

/* Whether src leaves column c unsaid: a NULL string or blob, a zero date,
 * time or datetime (no valid one is zero). Numbers and booleans always say
 * something: zero is a value. */
static bool unsaid(const corm_column *c, const void *src)
{
    const char *f = (const char *)src + c->offset;
    switch (c->type) {
    case CORM_TYPE_STRING: case CORM_TYPE_TEXT: case CORM_TYPE_JSON: {
        const char *p;
        memcpy(&p, f, sizeof p);
        return p == NULL;
    }
    case CORM_TYPE_BLOB: {
        corm_blob b;
        memcpy(&b, f, sizeof b);
        return b.data == NULL;
    }
    case CORM_TYPE_DATE: case CORM_TYPE_TIME: case CORM_TYPE_DATETIME: {
        static const unsigned char zero[sizeof(corm_datetime)];
        return memcmp(f, zero, c->size) == 0;
    }
    default:
        return false;
    }
}

/* Copy column c of src into dst, a session object: strings and blobs into
 * the session's memory, so that src may go away. */
static int copy_field(corm_session *s, const corm_column *c, void *dst, const void *src)
{
    char *to = (char *)dst + c->offset;
    const char *from = (const char *)src + c->offset;
    if (c->type == CORM_TYPE_BLOB) {
        corm_blob b;
        memcpy(&b, from, sizeof b);
        if (b.data && !(b.data = util_arena_memdup(&s->arena, b.data, b.len ? b.len : 1)))
            return orm_set_error(s, CORM_ENOMEM, "out of memory copying %s.%s", c->model->name,
                                 c->name);
        memcpy(to, &b, sizeof b);
        return CORM_OK;
    }
    if (orm_is_pointer(c)) {
        const char *str;
        memcpy(&str, from, sizeof str);
        char *copy = str ? corm_strdup(s, str) : NULL;
        if (str && !copy)
            return s->err.code;
        memcpy(to, &copy, sizeof copy);
        return CORM_OK;
    }
    memcpy(to, from, c->size);
    if (orm_flagged(c))
        corm_set_null(dst, c, false);
    return CORM_OK;
}

/* corm_merge's walk through a graph of structs: each struct met and the
 * session's object it was merged into, so that one met again (an
 * article's author, whose articles hold the article) is merged once. An
 * open-addressing table keyed by the struct's address. */
typedef struct walk {
    struct walk_slot { const void *src; void *obj; } *slot;
    size_t n, cap;
} walk;

static size_t walk_at(const walk *w, const void *src)
{
    size_t mask = w->cap - 1;
    size_t i = (size_t)(((uint64_t)(uintptr_t)src * 0x9E3779B97F4A7C15ull) >> 32) & mask;
    while (w->slot[i].src && w->slot[i].src != src)
        i = (i + 1) & mask;
    return i;
}

static void *walk_find(const walk *w, const void *src)
{
    return w->cap ? w->slot[walk_at(w, src)].obj : NULL;
}

static int walk_put(corm_session *s, walk *w, const void *src, void *obj)
{
    if ((w->n + 1) * 2 > w->cap) {
        walk bigger = { util_calloc(w->cap ? w->cap * 2 : 16, sizeof *w->slot), 0,
                        w->cap ? w->cap * 2 : 16 };
        if (!bigger.slot)
            return orm_set_error(s, CORM_ENOMEM, "out of memory merging a %s",
                                 orm_hdr(obj)->mp->model->name);
        for (size_t i = 0; i < w->cap; i++)
            if (w->slot[i].src)
                bigger.slot[walk_at(&bigger, w->slot[i].src)] = w->slot[i];
        bigger.n = w->n;
        util_free(w->slot);
        *w = bigger;
    }
    size_t i = walk_at(w, src);
    w->slot[i].src = src;
    w->slot[i].obj = obj;
    w->n++;
    return CORM_OK;
}

static int merge_obj(corm_session *s, const sch_mapper *mp, const void *src, walk *w, void **out);

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return (x > y) - (x < y);
}

/* A one-to-one's new child `to`: its many-to-one points at obj (its key
 * follows at flush), and the child obj had leaves (deleted under
 * CORM_DELETE_ORPHAN, else its key becomes NULL). */
static int merge_one_to_one(corm_session *s, const sch_rel *sr, void *obj, void *to)
{
    const corm_relation *r = sr->rel;
    orm_obj *o = orm_hdr(obj);
    int rc = CORM_OK;
    if (o->state == OBJ_PERSISTENT && !corm_is_loaded(obj, r) && (rc = corm_load(s, obj, r)) < 0)
        return rc;
    void *old = *orm_to_one(o, r);
    if (old && old != to) {
        if (r->cascade & CORM_DELETE_ORPHAN) {
            rc = orm_delete(s, old);
        } else if (sr->fk->flags & CORM_NOT_NULL) {
            return orm_set_error(s, CORM_ENOTNULL, "%s.%s: the %s it has cannot let go of it: "
                                 "%s.%s cannot be NULL (declare CORM_DELETE_ORPHAN, or delete "
                                 "it first)", r->model->name, r->name, r->target->name,
                                 r->target->name, sr->fk->name);
        } else { /* the pointer, and the key (the pointer may not have been loaded) */
            if (sr->inverse)
                *orm_to_one(orm_hdr(old), sr->inverse) = NULL;
            corm_set_null(old, sr->fk, true);
        }
    }
    *orm_to_one(o, r) = to;
    if (sr->inverse)
        *orm_to_one(orm_hdr(to), sr->inverse) = obj;
    return rc;
}

/* A to-many that src names (a non-empty array): each struct in it merged,
 * and the collection of obj made exactly those (SQLAlchemy replaces it):
 * the ones it lacked added, the ones src left out removed, as
 * corm_rel_add and corm_rel_remove do (an orphan deleted under
 * CORM_DELETE_ORPHAN). */
static int merge_many(corm_session *s, const sch_rel *sr, void *obj, const orm_many *from, walk *w)
{
    const corm_relation *r = sr->rel;
    size_t n = from->n, nleave = 0;
    /* a copy: src may be obj itself, whose array the adds below change */
    void **items = util_malloc(n * sizeof *items), **leave = NULL;
    if (!items)
        return orm_set_error(s, CORM_ENOMEM, "out of memory merging %s.%s", r->model->name, r->name);
    memcpy(items, from->items, n * sizeof *items);
    int rc = CORM_OK;
    for (size_t k = 0; k < n && rc == CORM_OK; k++)
        rc = merge_obj(s, sr->target, items[k], w, &items[k]);
    /* the collection as the database has it, to know who leaves */
    if (rc == CORM_OK && orm_hdr(obj)->state == OBJ_PERSISTENT && !corm_is_loaded(obj, r))
        rc = corm_load(s, obj, r);
    for (size_t k = 0; k < n && rc == CORM_OK; k++)
        rc = corm_rel_add(s, obj, r, items[k]);
    const orm_many *now = orm_to_many(orm_hdr(obj), r);
    if (rc == CORM_OK && now->n) {
        qsort(items, n, sizeof *items, by_address);
        if (!(leave = util_malloc(now->n * sizeof *leave)))
            rc = orm_set_error(s, CORM_ENOMEM, "out of memory merging %s.%s", r->model->name,
                               r->name);
        for (size_t k = 0; rc == CORM_OK && k < now->n; k++)
            if (!bsearch(&now->items[k], items, n, sizeof *items, by_address))
                leave[nleave++] = now->items[k];
    }
    for (size_t k = 0; k < nleave && rc == CORM_OK; k++)
        rc = corm_rel_remove(s, obj, r, leave[k]);
    util_free(leave);
    util_free(items);
    return rc;
}

/* Relationship sr of src, merged onto obj: what src leaves unsaid (a NULL
 * pointer, an empty array) keeps obj's. */
static int merge_rel(corm_session *s, const sch_rel *sr, void *obj, const void *src, walk *w)
{
    const corm_relation *r = sr->rel;
    const char *from = (const char *)src + r->offset;
    if (r->kind == CORM_REL_ONE_TO_MANY || r->kind == CORM_REL_MANY_TO_MANY) {
        orm_many l;
        memcpy(&l, from, sizeof l);
        return l.n ? merge_many(s, sr, obj, &l, w) : CORM_OK;
    }
    const void *t;
    memcpy(&t, from, sizeof t);
    if (!t)
        return CORM_OK;
    void *to;
    int rc = merge_obj(s, sr->target, t, w, &to);
    if (rc < 0)
        return rc;
    if (r->kind == CORM_REL_ONE_TO_ONE)
        return merge_one_to_one(s, sr, obj, to);
    *orm_to_one(orm_hdr(obj), r) = to; /* its key follows at flush */
    return CORM_OK;
}

/* src's columns onto the session's object for its key (see corm_merge),
 * then its relationships, each related struct merged the same way. */
static int merge_obj(corm_session *s, const sch_mapper *mp, const void *src, walk *w, void **out)
{
    if ((*out = walk_find(w, src)))
        return CORM_OK;
    const corm_model *m = mp->model;
    const corm_column *pk = mp->pk;
    void *obj = NULL;
    int rc;
    /* a key given: the session's object for it, loaded if need be */
    bool keyed = sql_field_differs(pk, src, mp->proto) || !mp->pk_autoinc;
    corm_value key[8];
    orm_key_of(mp, src, key);
    if (keyed && (rc = corm_get_key_(s, m, key, mp->npk, &obj)) < 0)
        return rc;
    bool fresh = obj == NULL;
    if (fresh && !(obj = corm_new_(s, m)))
        return s->err.code;
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        /* the key is the one looked up; a version is the row's, not src's */
        bool key_col = (c->flags & CORM_PRIMARY_KEY) != 0;
        if ((key_col && (!fresh || !keyed)) || (c == mp->version && !fresh) || unsaid(c, src))
            continue;
        if ((rc = copy_field(s, c, obj, src)) < 0)
            return rc;
    }
    if ((fresh && (rc = orm_add(s, obj)) < 0) || (rc = walk_put(s, w, src, obj)) < 0)
        return rc;
    for (size_t i = 0; i < mp->nrels; i++)
        if ((rc = merge_rel(s, &mp->rels[i], obj, src, w)) < 0)
            return rc;
    *out = obj;
    return CORM_OK;
}

int corm_merge_(corm_session *s, const corm_model *m, const void *src, void **out)
{
    util_err_clear(&s->err);
    if (out)
        *out = NULL;
    const sch_mapper *mp = mapper_of(s, m);
    if (!mp)
        return s->err.code;
    if (!src || !out)
        return orm_set_error(s, CORM_EINVAL, "%s: corm_merge needs an object and a place for "
                             "the result", m->name);
    /* one autoflush first, of what is pending, as corm_get's; none while
     * the graph is half merged (a new child before its parent is set would
     * be refused). Nothing pending: no connection taken, as a merge onto
     * objects the session holds needs none. */
    corm_autoflush mode = s->autoflush;
    int rc = mode == CORM_AUTOFLUSH_OFF || !(s->npending || s->ndeleted || s->nlinks)
                 ? CORM_OK
                 : orm_flush(s, mode == CORM_AUTOFLUSH_ALL ? ORM_SCAN_ALL : ORM_SCAN_NONE, NULL);
    walk w = { NULL, 0, 0 };
    s->autoflush = CORM_AUTOFLUSH_OFF;
    if (rc == CORM_OK)
        rc = merge_obj(s, mp, src, &w, out);
    s->autoflush = mode;
    util_free(w.slot);
    if (rc < 0)
        *out = NULL;
    return rc;
}

/* ---- upsert ---------------------------------------------------------------------- */

/* Whether the INSERT leaves column c to the database (an unset key it
 * numbers, an unset column with a server default). */
static bool left_out(const sch_mapper *mp, const corm_column *c, const void *obj)
{
    bool unset = !sql_field_differs(c, obj, mp->proto);
    return unset && ((c == mp->pk && mp->pk_autoinc) || (c->server_default && c != mp->version));
}

/* Objects one upsert statement writes: up to UPSERT_ROWS with the same
 * columns (what left_out leaves to the database) whose conflict values
 * differ (a statement may not update one row twice), a power of two of
 * them, so that a model needs few statement texts. */
#define UPSERT_ROWS 64

static size_t upsert_chunk(const sch_mapper *mp, void *const *objs, size_t n,
                           const corm_column *on)
{
    const corm_model *m = mp->model;
    bool writes = false; /* a row of defaults only has no VALUES list to repeat */
    for (size_t i = 0; i < m->ncolumns; i++)
        writes |= !left_out(mp, m->columns[i], objs[0]);
    size_t k = 1;
    for (; writes && k < n && k < UPSERT_ROWS; k++) {
        bool fits = true;
        for (size_t i = 0; i < m->ncolumns && fits; i++)
            fits = left_out(mp, m->columns[i], objs[0]) == left_out(mp, m->columns[i], objs[k]);
        for (size_t j = 0; j < k && fits; j++)
            fits = sql_field_differs(on, objs[j], objs[k]);
        if (!fits)
            break;
    }
    size_t p = 1;
    while (p * 2 <= k)
        p *= 2;
    return p;
}

/* INSERT INTO t (a, b) VALUES (?, ?)[, (?, ?) ...] ON CONFLICT (on) DO
 * UPDATE SET a = excluded.a, ... RETURNING <every column>, or MariaDB's ON
 * DUPLICATE KEY UPDATE a = VALUES(a); the k objects' values bound into
 * s->params (their columns are those of objs[0]: see upsert_chunk). */
static int build_upsert(corm_session *s, const sch_mapper *mp, void *const *objs, size_t k,
                        const corm_column *on)
{
    const corm_model *m = mp->model;
    const drv_driver *d = s->conn->drv;
    sql_ctx x = { d, &s->sql, &s->params, &s->err };
    util_buf *b = &s->sql;
    const void *obj = objs[0];
    int rc;
    util_buf_reset(b);
    s->params.n = 0;
    util_buf_puts(b, "INSERT INTO ");
    sql_put_ident(&x, m->table);
    size_t n = 0;
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (left_out(mp, m->columns[i], obj))
            continue;
        util_buf_puts(b, n++ ? ", " : " (");
        sql_put_ident(&x, m->columns[i]->name);
    }
    util_buf_puts(b, n ? ") VALUES " : d->default_values);
    for (size_t r = 0; n && r < k; r++) {
        util_buf_puts(b, r ? ", (" : "(");
        for (size_t i = 0, j = 0; i < m->ncolumns; i++) {
            const corm_column *c = m->columns[i];
            if (left_out(mp, c, obj))
                continue;
            corm_value v = c == mp->version ? corm_v_int(1)
                                            : sql_field_value(c, objs[r], orm_flagged(c) &&
                                                              corm_field_is_null(objs[r], c));
            if (j++)
                util_buf_puts(b, ", ");
            if ((rc = sql_put_value(&x, c, &v, true)) < 0)
                return rc;
        }
        util_buf_putc(b, ')');
    }
    if (d->upsert_duplicate_key) {
        util_buf_puts(b, " ON DUPLICATE KEY UPDATE ");
    } else {
        util_buf_puts(b, " ON CONFLICT (");
        sql_put_ident(&x, on->name);
        util_buf_puts(b, ") DO UPDATE SET ");
    }
    size_t set = 0;
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        if ((c->flags & CORM_PRIMARY_KEY) || left_out(mp, c, obj))
            continue;
        if (set++)
            util_buf_puts(b, ", ");
        sql_put_ident(&x, c->name);
        if (c == mp->version) { /* the row's next version */
            util_buf_puts(b, " = ");
            sql_put_column(&x, c);
            util_buf_puts(b, " + 1");
        } else if (d->upsert_duplicate_key) {
            util_buf_puts(b, " = VALUES(");
            sql_put_ident(&x, c->name);
            util_buf_putc(b, ')');
        } else {
            util_buf_puts(b, " = excluded.");
            sql_put_ident(&x, c->name);
        }
    }
    if (!set) { /* nothing but the key: a no-op update, so that the row comes back */
        sql_put_ident(&x, on->name);
        util_buf_puts(b, " = ");
        sql_put_column(&x, on);
    }
    util_buf_puts(b, " RETURNING ");
    util_buf_puts(b, mp->sql_cols);
    return b->err ? orm_set_error(s, CORM_ENOMEM, "out of memory writing a %s", m->name) : CORM_OK;
}

/* The row st is on, read into the session's object for it: one it held is
 * overwritten (and its old values kept for a rollback), else a new one is
 * loaded. */
static int upserted(corm_session *s, const sch_mapper *mp, drv_stmt *st, void **out)
{
    corm_value key[8];
    orm_obj *held, *o;
    int rc;
    for (size_t c = 0; c < mp->npk; c++)
        if ((rc = orm_row_key(s, mp, st, mp->pks[c]->index, &key[c])) < 0)
            return rc;
    held = orm_imap_get(s, mp, key);
    if (held && held->state == OBJ_PERSISTENT) {
        unsigned char *old = orm_snap_copy(s, held);
        if (!old || (rc = orm_journal(s, held, J_BULK_UPDATED, false, old)) < 0)
            return orm_set_error(s, CORM_ENOMEM, "out of memory after an upsert");
    }
    if ((rc = orm_load_row(s, mp, st, mp->model->columns, mp->model->ncolumns, LOAD_OVERWRITE,
                           &o)) < 0)
        return rc;
    *out = orm_data(o);
    return CORM_OK;
}

/* Write the upsert of k objects in one statement and read their rows, which
 * come back in the order of VALUES (as flush.c's many-row INSERTs rely on),
 * into out. A database error names the object when k is 1; of more, it
 * cannot say which (the caller runs them again a row a statement). */
static int upsert_rows(corm_session *s, const sch_mapper *mp, void *const *objs, size_t k,
                       const corm_column *on, void **out)
{
    const drv_driver *d = s->conn->drv;
    drv_stmt *st = NULL;
    int rc = build_upsert(s, mp, objs, k, on);
    if (rc == CORM_OK)
        rc = sql_run(s->conn, s->sql.p, s->sql.len, &s->params, &st, &s->err);
    for (size_t r = 0; r < k && rc == CORM_OK; r++) {
        if ((rc = d->step(st, &s->err)) == 0)
            rc = orm_set_error(s, CORM_ESQL, "%s: the upsert of %zu rows returned %zu",
                               mp->model->name, k, r);
        else if (rc == 1)
            rc = upserted(s, mp, st, &out[r]);
        else if (k == 1)
            rc = orm_db_error(s, orm_hdr(objs[0]), rc);
    }
    if (st)
        d->reset(st);
    else if (rc < 0 && rc != CORM_ENOMEM && k == 1)
        rc = orm_db_error(s, orm_hdr(objs[0]), rc);
    return rc;
}

int corm_upsert_(corm_session *s, const corm_model *m, void *const *objs, size_t n,
                 const corm_column *on, void **out)
{
    util_err_clear(&s->err);
    const sch_mapper *mp = mapper_of(s, m);
    if (!mp)
        return s->err.code;
    if (!on || on->model != m || !sch_unique_alone(on))
        return orm_set_error(s, CORM_EINVAL, "%s: an upsert's conflict column must be one of its "
                             "columns that is unique by itself (%s is not)", m->name,
                             on ? on->name : "NULL");
    if (n && (!objs || !out))
        return orm_set_error(s, CORM_EINVAL, "%s: corm_upsert needs objects and a place for "
                             "the results", m->name);
    for (size_t i = 0; i < n; i++) {
        orm_obj *o = orm_check(s, objs[i]);
        if (!o)
            return s->err.code;
        if (o->mp != mp || o->state != OBJ_TRANSIENT)
            return orm_set_error(s, CORM_EINVAL, "%s: an upsert takes new objects of its model "
                                 "(corm_new, not added): object %zu is %s", m->name, i,
                                 o->mp != mp ? o->mp->model->name : "already in the session");
        out[i] = NULL;
    }
    bool one_by_one = false, many_failed;
    int rc;
again:
    rc = corm_flush(s); /* what is pending first, as any statement */
    many_failed = false;
    for (size_t i = 0, k; i < n && rc == CORM_OK; i += k) {
        k = one_by_one ? 1 : upsert_chunk(mp, objs + i, n - i, on);
        if ((rc = orm_begin(s)) == CORM_OK)
            rc = upsert_rows(s, mp, objs + i, k, on, out + i);
        many_failed = rc < 0 && rc != CORM_ENOMEM && k > 1;
    }
    if (rc < 0) { /* as a failed flush: the transaction rolled back, values kept */
        util_err keep = s->err;
        orm_undo(s, 0, true);
        orm_release_conn(s);
        s->err = keep;
        for (size_t i = 0; i < n; i++)
            out[i] = NULL;
        if (many_failed) { /* the database refused one of several: again, a row a
                              statement, so that the error names it */
            one_by_one = true;
            goto again;
        }
    }
    return rc;
}
