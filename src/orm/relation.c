/*
 * relation.c — relationships: loading them (lazily one object at a time,
 * or for a whole result set with SELECT ... WHERE key IN (...)), keeping the
 * two sides consistent, and turning to-one pointers into foreign keys at
 * flush.
 *
 * One loader serves both strategies: orm_rel_load takes a set of objects
 * of the relationship's model and fills the field of every one of them
 * from as few SELECTs as the key chunking allows; corm_load calls it with
 * one object, a query's selectin option with all of its rows, level by
 * level along the path.
 *
 * What the user changed and has not flushed outranks what is read: a child
 * goes to the parent its row names unless its pointer was moved (it goes
 * there) or its key set by hand (it waits for the flush, which moves it
 * between loaded collections). A collection array is copied at its first
 * change after each restore point and the old one journaled, so rollbacks
 * and savepoints put arrays back whole; commit reconciles the arrays it
 * touched with what the keys say.
 */
#include "orm/orm.h"
#include "util/alloc.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_CHUNK 500

/* Set a to-one field, and its snapshot, so loading is not taken for a
 * change; marked loaded in both. CORM_ENOMEM (nothing set) when the
 * snapshot cannot become full to hold it. */
static int set_one(corm_session *s, orm_obj *o, const corm_relation *r, void *target)
{
    uint64_t bit = (uint64_t)1 << r->index;
    void *snap = o->has_snap ? orm_snap_full(s, o) : NULL;
    if (o->has_snap && !snap)
        return s->err.code;
    *orm_to_one(o, r) = target;
    *orm_loaded(o) |= bit;
    if (snap) {
        memcpy((char *)snap + r->offset, &target, sizeof target);
        *orm_image_loaded(o->mp, snap) |= bit;
    }
    return CORM_OK;
}

/* Make the snapshots of the n objects full, before relationship state is
 * written into them (CORM_ENOMEM, with nothing else changed). */
static int snaps_full(corm_session *s, orm_obj *const *objs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (objs[i]->has_snap && !orm_snap_full(s, objs[i]))
            return s->err.code;
    return CORM_OK;
}

/* The value of column c of o, NULL when the field is NULL. */
static corm_value column_value(orm_obj *o, const corm_column *c)
{
    return sql_field_value(c, orm_data(o), corm_field_is_null(orm_data(o), c));
}

/* Whether the user pointed o's to-one field r somewhere since it was last
 * loaded or flushed (a new object: whether it points anywhere). */
static bool pointer_changed(orm_obj *o, const corm_relation *r)
{
    void *was = NULL, *now = *orm_to_one(o, r), *snap = o->has_snap ? orm_snap_image(o) : NULL;
    if (snap) /* (a packed one's is NULL) */
        memcpy(&was, (char *)snap + r->offset, sizeof was);
    /* NULL in a field not loaded (after follow_key lost track) is no move */
    return now != was && (now || !o->has_snap || orm_is_loaded(o, r));
}

/* The parent the user means child k to have under sr (a one-to-many or
 * one-to-one of parent mapper pm): where its to-one pointer was pointed,
 * else what its foreign key says. *unchanged: neither was changed since
 * the child was loaded, so the database row is as good a witness. NULL for
 * none, or a child on its way out. */
static orm_obj *intended_parent(corm_session *s, const sch_rel *sr, const sch_mapper *pm,
                                orm_obj *k, bool *unchanged)
{
    *unchanged = false;
    if (k->state != OBJ_PENDING && k->state != OBJ_PERSISTENT)
        return NULL;
    if (pointer_changed(k, sr->inverse)) {
        void *p = *orm_to_one(k, sr->inverse);
        return p ? orm_hdr(p) : NULL;
    }
    *unchanged = k->has_snap && !orm_column_changed(k, sr->fk);
    corm_value key = column_value(k, sr->fk);
    return key.kind == CORM_V_NULL ? NULL : orm_imap_get(s, pm, &key);
}

/* Collection arrays carry, in a slot before their first item, the epoch of
 * the restore point they were made in (0: made by a load). */
static void **alloc_items(corm_session *s, size_t cap, uint32_t epoch)
{
    void **p = util_arena_alloc(&s->arena, (cap + 1) * sizeof *p);
    if (!p)
        return NULL;
    p[0] = (void *)(uintptr_t)epoch;
    return p + 1;
}

static uint32_t epoch_of(void **items) { return items ? (uint32_t)(uintptr_t)items[-1] : 0; }

static int journal_field(corm_session *s, orm_obj *p, const corm_relation *r, enum orm_jkind kind);

/* Give p's to-many array r room for `extra` more items. The first change
 * since the last restore point copies the array and journals the old one,
 * which stays as it was for a rollback to put back. */
static int own_array(corm_session *s, orm_obj *p, const corm_relation *r, size_t extra)
{
    orm_many *l = orm_to_many(p, r);
    bool mine = l->items && epoch_of(l->items) == s->coll_epoch;
    if (mine && l->n + extra <= l->cap)
        return CORM_OK;
    int rc = mine ? CORM_OK : journal_field(s, p, r, J_COLL);
    if (rc < 0)
        return rc;
    size_t cap = l->cap > 4 ? l->cap : 4;
    while (cap < l->n + extra)
        cap *= 2;
    void **items = alloc_items(s, cap, s->coll_epoch);
    if (!items)
        return orm_set_error(s, CORM_ENOMEM, "out of memory changing %s.%s", r->model->name,
                             r->name);
    if (l->n)
        memcpy(items, l->items, l->n * sizeof *items);
    l->items = items;
    l->cap = cap;
    return CORM_OK;
}

/* Take child out of p's to-many array r; 1 when it was there. */
static int drop_item(corm_session *s, orm_obj *p, const corm_relation *r, void *child)
{
    orm_many *l = orm_to_many(p, r);
    size_t i = 0;
    while (i < l->n && l->items[i] != child)
        i++;
    if (i == l->n)
        return 0;
    int rc = own_array(s, p, r, 0);
    if (rc < 0)
        return rc;
    memmove(&l->items[i], &l->items[i + 1], (l->n - i - 1) * sizeof *l->items);
    l->n--;
    return 1;
}

/* ---- loading ------------------------------------------------------------------ */

/* Objects collected while loading. Most loads collect a few (a lazy load:
 * one parent's children), held in place without an allocation, and move
 * to the heap when they outgrow it; one zeroed ({ 0 }) is on the heap from
 * its first push, for an array handed out. Not to be copied. */
#define OBJVEC_INLINE 32
typedef struct objvec {
    orm_obj **v;
    size_t n, cap;
    orm_obj *inl[OBJVEC_INLINE];
} objvec;

static void objvec_init(objvec *ov)
{
    ov->v = ov->inl;
    ov->n = 0;
    ov->cap = OBJVEC_INLINE;
}

static void objvec_free(objvec *ov)
{
    if (ov->v != ov->inl)
        util_free(ov->v);
}

static int objvec_grow(corm_session *s, objvec *ov)
{
    bool inl = ov->v == ov->inl;
    size_t cap = ov->cap ? ov->cap * 2 : 64;
    orm_obj **v = cap <= SIZE_MAX / sizeof *v ? util_realloc(inl ? NULL : ov->v, cap * sizeof *v) : NULL;
    if (!v)
        return orm_set_error(s, CORM_ENOMEM, "out of memory loading a relationship");
    if (inl)
        memcpy(v, ov->inl, ov->n * sizeof *v);
    ov->v = v;
    ov->cap = cap;
    return CORM_OK;
}

/* On every row loaded: the growing, rarely, out of line. */
static inline int objvec_push(corm_session *s, objvec *ov, orm_obj *o)
{
    int rc;
    if (ov->n == ov->cap && (rc = objvec_grow(s, ov)) < 0)
        return rc;
    ov->v[ov->n++] = o;
    return CORM_OK;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return (x > y) - (x < y);
}

/* Drop repeated objects (sorts by address). */
static void objvec_unique(objvec *ov)
{
    if (ov->n < 2)
        return;
    qsort(ov->v, ov->n, sizeof *ov->v, cmp_ptr);
    size_t k = 1;
    for (size_t i = 1; i < ov->n; i++)
        if (ov->v[i] != ov->v[k - 1])
            ov->v[k++] = ov->v[i];
    ov->n = k;
}

/* Room for n keys: in `few` (KEYS_FEW of them: a lazy load's one) when
 * they fit, else allocated (NULL when out of memory); keys_release gives
 * it back. */
#define KEYS_FEW 8
static corm_value *keys_room(size_t n, corm_value *few)
{
    return n <= KEYS_FEW ? few : util_malloc(n * sizeof *few);
}

static void keys_release(corm_value *keys, const corm_value *few)
{
    if (keys != few)
        util_free(keys);
}

/* SELECT the rows of mp whose column `by` is one of keys[0..n), chunked,
 * loading each through the identity map into `out`; keys NULL: every row
 * whose `by` is not NULL, in one statement. With owners, the object of
 * `owner` that each row's `by` names (as read, not as the object in memory
 * says) goes there too. */
static int select_in(corm_session *s, const sch_mapper *mp, const corm_column *by,
                     const corm_value *keys, size_t n, objvec *out, const sch_mapper *owner,
                     objvec *owners)
{
    const corm_model *m = mp->model;
    /* the owner last found, by its integer key: children come grouped by
     * their parent (the index on `by`), so most rows name the one before's */
    int64_t last_key = 0;
    orm_obj *last = NULL;
    if (!keys)
        n = 1; /* one statement, no keys */
    for (size_t at = 0; at < n; at += IN_CHUNK) {
        size_t k = !keys ? 0 : n - at < IN_CHUNK ? n - at : IN_CHUNK;
        int rc = CORM_OK;
        s->params.n = 0;
        for (size_t i = 0; i < k && rc == CORM_OK; i++) {
            sql_param *p = sql_params_push(&s->params);
            rc = p ? sql_param_set(p, by, &keys[at + i], false, &s->err)
                   : orm_set_error(s, CORM_ENOMEM, "out of memory loading a relationship");
        }
        const sql_text *t = rc < 0 ? NULL
                                   : orm_statement(s, mp, SQLK_SELECT_IN,
                                                   (uint64_t)by->index | (uint64_t)k << 16);
        if (!t)
            return s->err.code;
        drv_stmt *st = NULL;
        rc = sql_run_text(s->conn, t, &s->params, &st, &s->err);
        sql_read_all(s->conn, st);
        bool first = true;
        while (rc == CORM_OK && (rc = s->conn->drv->step(st, &s->err)) == 1) {
            orm_obj *o, *named = NULL;
            rc = first ? orm_imap_expect(s, mp, st, SIZE_MAX) : CORM_OK; /* room at once */
            first = false;
            if (rc == CORM_OK &&
                (rc = orm_load_row(s, mp, st, m->columns, m->ncolumns,
                                   LOAD_KEEP | (owners ? LOAD_FULL : 0), &o)) == CORM_OK &&
                owners) { /* the parent as loaded (the snapshot), not as changed since */
                corm_value key = orm_snap_value(o, by);
                if (last && key.kind == CORM_V_INT && key.u.i == last_key) {
                    named = last;
                } else {
                    named = key.kind == CORM_V_NULL ? NULL : orm_imap_get(s, owner, &key);
                    /* only a found owner is kept: a row loaded later may be
                     * the owner not found (a relationship of a table to itself) */
                    last = named && key.kind == CORM_V_INT ? named : NULL;
                    last_key = key.kind == CORM_V_INT ? key.u.i : 0;
                }
            }
            if (rc < 0 || (rc = objvec_push(s, out, o)) < 0 ||
                (owners && (rc = objvec_push(s, owners, named)) < 0)) {
                s->conn->drv->reset(st);
                return rc;
            }
        }
        if (rc < 0)
            return rc;
    }
    return CORM_OK;
}

static int load_many_to_one(corm_session *s, const sch_rel *sr, orm_obj **objs, size_t n,
                            objvec *next)
{
    const corm_relation *r = sr->rel;
    corm_value few[KEYS_FEW];
    corm_value *keys = keys_room(n, few);
    objvec found;
    objvec_init(&found);
    size_t nkeys = 0;
    int rc = CORM_OK;
    if (!keys)
        return orm_set_error(s, CORM_ENOMEM, "out of memory loading %s.%s", r->model->name, r->name);
    /* keys not in the identity map yet; repeats are cheap in IN (...). A
     * pointer the user set is kept, and its key written at flush. */
    for (size_t i = 0; i < n; i++) {
        corm_value k = column_value(objs[i], sr->fk);
        if (k.kind != CORM_V_NULL && !pointer_changed(objs[i], r) &&
            !orm_imap_get(s, sr->target, &k))
            keys[nkeys++] = k;
    }
    if (nkeys)
        rc = select_in(s, sr->target, sr->target->pk, keys, nkeys, &found, NULL, NULL);
    for (size_t i = 0; rc == CORM_OK && i < n; i++) {
        orm_obj *t;
        if (pointer_changed(objs[i], r)) {
            void *p = *orm_to_one(objs[i], r);
            t = p ? orm_hdr(p) : NULL;
        } else {
            corm_value k = column_value(objs[i], sr->fk);
            t = k.kind == CORM_V_NULL ? NULL : orm_imap_get(s, sr->target, &k);
            if (t && t->state == OBJ_DELETED)
                t = NULL;
            rc = set_one(s, objs[i], r, t ? orm_data(t) : NULL);
        }
        if (rc == CORM_OK && t && next)
            rc = objvec_push(s, next, t);
    }
    if (next)
        objvec_unique(next);
    objvec_free(&found);
    keys_release(keys, few);
    return rc;
}

/* Marks in orm_obj.seen while attaching (collect_joined's 1 is clear by then). */
#define SEEN_PARENT 2
#define SEEN_KID 4
#define SEEN_CHANGED 8  /* a parent whose field, as filled, is not the committed one */

/* What a load inside a transaction replaced, for orm_rel_unload. */
typedef struct loaded_before {
    const corm_relation *r;
    orm_many field, snap;    /* a to-one keeps its pointer in field.items */
    uint64_t loaded, snap_loaded;
} loaded_before;

/* Remember p's field r before a load replaces it (J_LOADED, in a
 * transaction that has written only: before it only committed rows are
 * read) or before a collection changes (J_COLL). */
static int journal_field(corm_session *s, orm_obj *p, const corm_relation *r, enum orm_jkind kind)
{
    if (kind == J_LOADED && !s->wrote)
        return CORM_OK;
    loaded_before *b = util_arena_zalloc(&s->arena, sizeof *b);
    if (!b)
        return orm_set_error(s, CORM_ENOMEM, "out of memory changing %s.%s", r->model->name,
                             r->name);
    b->r = r;
    memcpy(&b->field, orm_field_at(orm_data(p), r), orm_field_size(r));
    b->loaded = *orm_loaded(p);
    /* the snapshot is made full now: settling the change at COMMIT writes
     * the field into it, and cannot fail */
    void *snap = p->has_snap ? orm_snap_full(s, p) : NULL;
    if (p->has_snap && !snap)
        return s->err.code;
    if (snap) {
        memcpy(&b->snap, orm_field_at(snap, r), orm_field_size(r));
        b->snap_loaded = *orm_image_loaded(p->mp, snap);
    }
    return orm_journal(s, p, kind, false, (unsigned char *)b);
}

void orm_rel_unload(orm_obj *o, const unsigned char *before, bool load)
{
    const loaded_before *b = (const loaded_before *)(const void *)before;
    uint64_t bit = (uint64_t)1 << b->r->index;
    memcpy(orm_field_at(orm_data(o), b->r), &b->field, orm_field_size(b->r));
    *orm_loaded(o) = (*orm_loaded(o) & ~bit) | (b->loaded & bit);
    /* a snapshot journaled full stays full; one packed has nothing here */
    void *snap = load && o->has_snap ? orm_snap_image(o) : NULL;
    if (snap) {
        memcpy(orm_field_at(snap, b->r), &b->snap, orm_field_size(b->r));
        uint64_t *w = orm_image_loaded(o->mp, snap);
        *w = (*w & ~bit) | (b->snap_loaded & bit);
    }
}

/* Make o's collection hold exactly the children that name it: drop those
 * that went elsewhere, and take back, from the array as it was before
 * (intact: changes copy it), those that came back (a key set by hand to
 * another parent and back, across a failed commit). At COMMIT in place
 * (nothing older needs the array now); after a failed commit through the
 * journal, for a rollback to undo. */
static int settle_children(corm_session *s, orm_obj *o, const loaded_before *b, bool journaled)
{
    const sch_rel *sr = &o->mp->rels[b->r->index];
    orm_many *l = orm_to_many(o, b->r);
    size_t k = 0, back = 0;
    bool unchanged;
    int rc = CORM_OK;
    for (size_t i = l->n; journaled && i-- > 0;)
        if (intended_parent(s, sr, o->mp, orm_hdr(l->items[i]), &unchanged) != o &&
            (rc = drop_item(s, o, b->r, l->items[i])) < 0)
            return rc;
    for (size_t i = 0; i < l->n; i++) {
        orm_obj *c = orm_hdr(l->items[i]);
        if (journaled || intended_parent(s, sr, o->mp, c, &unchanged) == o) {
            c->seen |= SEEN_KID;
            l->items[k++] = l->items[i];
        }
    }
    l->n = k;
    for (size_t i = 0; i < b->field.n; i++) {
        orm_obj *c = orm_hdr(b->field.items[i]);
        back += !(c->seen & SEEN_KID) && intended_parent(s, sr, o->mp, c, &unchanged) == o;
    }
    if (back && journaled) {
        rc = own_array(s, o, b->r, back);
    } else if (back && l->n + back > l->cap) {
        void **items = alloc_items(s, l->n + back, s->coll_epoch);
        if (items) {
            if (l->n)
                memcpy(items, l->items, l->n * sizeof *items);
            l->items = items;
            l->cap = l->n + back;
        } else {
            rc = orm_set_error(s, CORM_ENOMEM, "out of memory settling %s.%s", b->r->model->name,
                               b->r->name);
            *orm_loaded(o) &= ~((uint64_t)1 << b->r->index);
        }
    }
    for (size_t i = 0; rc == CORM_OK && back && i < b->field.n; i++) {
        orm_obj *c = orm_hdr(b->field.items[i]);
        if (!(c->seen & SEEN_KID) && intended_parent(s, sr, o->mp, c, &unchanged) == o) {
            c->seen |= SEEN_KID;
            l->items[l->n++] = b->field.items[i];
        }
    }
    for (size_t i = 0; i < l->n; i++)
        orm_hdr(l->items[i])->seen &= (uint8_t)~SEEN_KID;
    return rc;
}

int orm_rel_reconcile(corm_session *s, orm_obj *o, const unsigned char *before)
{
    const loaded_before *b = (const loaded_before *)(const void *)before;
    if (b->r->kind != CORM_REL_ONE_TO_MANY || (o->state != OBJ_PERSISTENT && o->state != OBJ_PENDING &&
                                               o->state != OBJ_DELETED))
        return CORM_OK;
    return settle_children(s, o, b, true);
}

void orm_rel_settle(corm_session *s, orm_obj *o, const unsigned char *before)
{
    const loaded_before *b = (const loaded_before *)(const void *)before;
    uint64_t bit = (uint64_t)1 << b->r->index;
    if (!o->has_snap)
        return;
    if (b->r->kind == CORM_REL_ONE_TO_MANY && settle_children(s, o, b, false) < 0)
        return; /* out of memory: the collection stays as it was, and says not loaded */
    /* full since the change was journaled, or since the first snapshot of
     * an object that had relationship state */
    void *snap = orm_snap_full(s, o);
    if (!snap) { /* (not expected) read again when next asked */
        *orm_loaded(o) &= ~bit;
        return;
    }
    memcpy(orm_field_at(snap, b->r), orm_field_at(orm_data(o), b->r), orm_field_size(b->r));
    /* loaded stays only what was loaded whole: a load that had to leave a
     * child out (its key moved by hand, then perhaps back) is not */
    uint64_t *w = orm_image_loaded(o->mp, snap);
    if (!(*w & bit))
        *orm_loaded(o) &= ~bit;
    *w = (*w & ~bit) | (*orm_loaded(o) & bit);
}

uint64_t orm_rel_rebase(orm_obj *o, const unsigned char *before)
{
    const sch_mapper *mp = o->mp;
    uint64_t follow = 0;
    for (size_t i = 0; i < mp->nrels; i++)
        if (mp->rels[i].rel->kind == CORM_REL_MANY_TO_ONE && *orm_to_one(o, mp->rels[i].rel) &&
            !pointer_changed(o, mp->rels[i].rel))
            follow |= (uint64_t)1 << i;
    orm_snap_restore(o, (void *)(uintptr_t)before);
    return follow;
}

void orm_rel_repoint(corm_session *s, orm_obj *o, uint64_t follow)
{
    /* a pointer not moved by the user would now look moved (the snapshot
     * went back): it becomes "not loaded", and the key decides. One at an
     * object pending again stays, unless the key names a row the session
     * holds: then the user set the key by hand after the flush that wrote
     * the pointer's (which names no row now: that INSERT was undone) */
    for (size_t i = 0; follow && i < o->mp->nrels; i++) {
        const sch_rel *sr = &o->mp->rels[i];
        const corm_relation *r = sr->rel;
        void *t = *orm_to_one(o, r);
        if (!(follow >> i & 1) || !t)
            continue;
        corm_value key = column_value(o, sr->fk);
        orm_obj *named = key.kind == CORM_V_NULL ? NULL : orm_imap_get(s, sr->target, &key);
        /* (a row being deleted does not count: its key may be the one the
         * undone INSERT had reused) */
        if (orm_hdr(t)->state == OBJ_PENDING && (!named || named->state != OBJ_PERSISTENT))
            continue;
        *orm_to_one(o, r) = NULL;
        *orm_loaded(o) &= ~((uint64_t)1 << i);
    }
}

int orm_rel_sync_pointers(corm_session *s, orm_obj *o)
{
    const sch_mapper *mp = o->mp;
    uint64_t bits = ~orm_collection_bits(mp);
    void *snap = orm_snap_image(o);
    if (!snap) { /* packed: nothing to take unless a pointer or its loaded bit is set */
        bool any = (*orm_loaded(o) & bits) != 0;
        for (size_t i = 0; !any && i < mp->nrels; i++)
            any = mp->rels[i].rel->kind == CORM_REL_MANY_TO_ONE && *orm_to_one(o, mp->rels[i].rel);
        if (!any)
            return CORM_OK;
        if (!(snap = orm_snap_full(s, o)))
            return s->err.code;
    }
    for (size_t i = 0; i < mp->nrels; i++)
        if (mp->rels[i].rel->kind == CORM_REL_MANY_TO_ONE)
            memcpy(orm_field_at(snap, mp->rels[i].rel), orm_field_at(orm_data(o), mp->rels[i].rel),
                   sizeof(void *));
    uint64_t *w = orm_image_loaded(mp, snap);
    *w = (*w & ~bits) | (*orm_loaded(o) & bits);
    return CORM_OK;
}



/* How a kid's many-to-one follows the parent it is attached to. */
enum follow { FOLLOW_NONE, FOLLOW_COMMITTED };

/* The parent a kid was added to by its pointer (corm_rel_add, or an
 * assignment) and not flushed, or NULL. */
static orm_obj *added_to(corm_session *s, const sch_rel *sr, const sch_mapper *pm, orm_obj *kid)
{
    bool unchanged;
    if (!pointer_changed(kid, sr->inverse))
        return NULL;
    return intended_parent(s, sr, pm, kid, &unchanged);
}

/* Where a kid goes: the parent its row names, unless the user moved it. */
static orm_obj *attach_to(corm_session *s, const sch_rel *sr, const sch_mapper *pm, orm_obj *kid,
                          orm_obj *by_row, uint8_t *follow)
{
    *follow = FOLLOW_NONE;
    if (sr->rel->kind == CORM_REL_MANY_TO_MANY)
        return kid->state == OBJ_PERSISTENT || kid->state == OBJ_PENDING ? by_row : NULL;
    /* the common case, a kid as loaded: its row decides, no lookup needed */
    if (kid->state == OBJ_PERSISTENT && kid->has_snap && !pointer_changed(kid, sr->inverse) &&
        !orm_column_changed(kid, sr->fk)) {
        *follow = FOLLOW_COMMITTED;
        return by_row;
    }
    bool unchanged;
    orm_obj *p = intended_parent(s, sr, pm, kid, &unchanged);
    if (unchanged)
        p = by_row;
    else if (!pointer_changed(kid, sr->inverse))
        p = NULL; /* its key was changed by hand: collections follow at flush */
    /* its to-one is pointed at the parent, unless the user pointed it there;
     * only a kid the user left alone has that as its committed state */
    if (unchanged)
        *follow = FOLLOW_COMMITTED;
    if (by_row && (by_row->seen & SEEN_PARENT) && (p != by_row || !unchanged))
        by_row->seen |= SEEN_CHANGED;
    if (p && p != by_row && (p->seen & SEEN_PARENT)) /* (only parents' marks are cleared) */
        p->seen |= SEEN_CHANGED;
    return p;
}

/* Fill the to-many or one-to-one field sr of the n parents with the kids.
 * Each array is allocated once at its size: first the kids the rows gave,
 * then those the user added to the parent's old array and still means it
 * to have. A kid's many-to-one points back. */
int orm_rel_attach(corm_session *s, const sch_rel *sr, orm_obj **parents, size_t n,
                   orm_obj **parent_of, orm_obj **kids, size_t nkids)
{
    const corm_relation *r = sr->rel, *inv = sr->inverse;
    bool to_many_field = r->kind == CORM_REL_ONE_TO_MANY || r->kind == CORM_REL_MANY_TO_MANY;
    bool merge = r->kind != CORM_REL_MANY_TO_MANY;
    const sch_mapper *pm = n ? parents[0]->mp : NULL;
    /* scratch, in one block (on the stack for a lazy load's few rows):
     * per parent its old array (to-many) or pointer (one-to-one), per kid
     * the parent it goes to */
    size_t bytes = n * (sizeof(orm_many) + sizeof(void *)) + nkids * sizeof(orm_obj *);
    union { max_align_t align; unsigned char b[1024]; } few;
    unsigned char *block = bytes <= sizeof few.b ? few.b : util_malloc(bytes);
    if (!block)
        return orm_set_error(s, CORM_ENOMEM, "out of memory loading %s.%s", r->model->name, r->name);
    orm_many *old = (orm_many *)(void *)block;
    void **old_one = (void **)(void *)(old + n);
    orm_obj **dest = (orm_obj **)(void *)(old_one + n);
    bool back = inv && inv->kind == CORM_REL_MANY_TO_ONE; /* a kid points back */
    /* the snapshots take what is loaded: full, before anything changes */
    int rc = snaps_full(s, parents, n);
    for (size_t i = 0; i < n && rc == CORM_OK; i++)
        rc = journal_field(s, parents[i], r, J_LOADED);
    if (rc < 0)
        goto free_scratch;
    bool any_old = false; /* what the field held: most loads find it empty */
    for (size_t i = 0; i < n; i++) {
        orm_obj *p = parents[i];
        p->seen |= SEEN_PARENT;
        if (to_many_field)
            any_old |= (old[i] = *orm_to_many(p, r)).n != 0;
        else
            any_old |= (old_one[i] = *orm_to_one(p, r)) != NULL;
    }
    /* Where each kid of the rows goes (NULL: to none of these parents), and
     * its many-to-one pointed back: the one pass that reads the kids (a
     * large load's kids lie far apart; a pass more over them costs more than
     * the rest of the work). A kid is marked only if an old array must be
     * told it is here. On failure (a snapshot made full), the kids before
     * have their pointer to the parent their row names, which is so. */
    bool mark = merge && any_old;
    for (size_t i = 0; i < nkids; i++) {
        orm_obj *c = kids[i];
        uint8_t follow = FOLLOW_NONE;
        if (back && c->has_snap && !orm_snap_full(s, c)) {
            rc = s->err.code;
            nkids = i;
            break;
        }
        orm_obj *p = parent_of[i] ? attach_to(s, sr, pm, c, parent_of[i], &follow) : NULL;
        dest[i] = p && (p->seen & SEEN_PARENT) ? p : NULL;
        if (!dest[i])
            continue;
        if (mark)
            c->seen |= SEEN_KID;
        /* a kid whose key the user changed keeps its pointer until the flush
         * (see follow_key): set now, it would look like a move of its own */
        if (back && follow == FOLLOW_COMMITTED)
            set_one(s, c, inv, orm_data(p)); /* (its snapshot full: cannot fail) */
    }
    if (rc < 0)
        goto unmark;
    for (size_t i = 0; i < n; i++) {
        if (to_many_field) {
            orm_many *l = orm_to_many(parents[i], r);
            l->items = NULL;
            l->n = l->cap = 0;
        } else {
            *orm_to_one(parents[i], r) = NULL;
        }
    }
    /* count, then allocate each array once */
    for (size_t i = 0; to_many_field && i < nkids; i++)
        if (dest[i])
            orm_to_many(dest[i], r)->cap++;
    for (size_t i = 0; merge && to_many_field && i < n; i++) {
        for (size_t k = 0; k < old[i].n; k++) {
            orm_obj *c = orm_hdr(old[i].items[k]);
            if (!(c->seen & SEEN_KID) && added_to(s, sr, pm, c) == parents[i])
                orm_to_many(parents[i], r)->cap++;
        }
    }
    for (size_t i = 0; to_many_field && i < n; i++) {
        orm_many *l = orm_to_many(parents[i], r);
        if (l->cap && !(l->items = alloc_items(s, l->cap, 0))) {
            rc = orm_set_error(s, CORM_ENOMEM, "out of memory loading %s.%s", r->model->name,
                               r->name);
            l->cap = 0;
        }
    }
    for (size_t i = 0; rc == CORM_OK && i < nkids; i++) {
        orm_obj *p = dest[i], *c = kids[i];
        if (!p)
            continue;
        if (to_many_field) {
            orm_many *l = orm_to_many(p, r);
            l->items[l->n++] = orm_data(c);
        } else {
            *orm_to_one(p, r) = orm_data(c);
        }
    }
    /* what the user added and has not flushed */
    for (size_t i = 0; rc == CORM_OK && merge && i < n; i++) {
        orm_obj *p = parents[i];
        if (!to_many_field) {
            void *was = old_one[i];
            orm_obj *c = was ? orm_hdr(was) : NULL;
            if (c && !*orm_to_one(p, r) && !(c->seen & SEEN_KID) && added_to(s, sr, pm, c) == p) {
                *orm_to_one(p, r) = was;
                p->seen |= SEEN_CHANGED;
            }
            continue;
        }
        orm_many *l = orm_to_many(p, r);
        for (size_t k = 0; k < old[i].n; k++) {
            orm_obj *c = orm_hdr(old[i].items[k]);
            if (!(c->seen & SEEN_KID) && added_to(s, sr, pm, c) == p) {
                l->items[l->n++] = old[i].items[k];
                p->seen |= SEEN_CHANGED;
            }
        }
    }
    /* loading is not a change: the snapshot takes what was read, unless the
     * user's changes made the field differ from the rows (then the snapshot
     * says "not loaded", and a rollback leaves it so) */
unmark:
    for (size_t i = 0; i < n; i++) {
        orm_obj *p = parents[i];
        bool changed = p->seen & SEEN_CHANGED;
        p->seen &= (uint8_t)~(SEEN_PARENT | SEEN_CHANGED);
        if (rc < 0)
            continue;
        uint64_t bit = (uint64_t)1 << r->index;
        *orm_loaded(p) |= bit;
        void *snap = p->has_snap ? orm_snap_image(p) : NULL; /* full: made so above */
        if (!snap)
            continue;
        if (changed)
            memset(orm_field_at(snap, r), 0, orm_field_size(r));
        else
            memcpy(orm_field_at(snap, r), orm_field_at(orm_data(p), r), orm_field_size(r));
        uint64_t *w = orm_image_loaded(p->mp, snap);
        *w = changed ? *w & ~bit : *w | bit;
    }
    for (size_t i = 0; mark && i < nkids; i++)
        kids[i]->seen &= (uint8_t)~SEEN_KID;
free_scratch:
    if (block != few.b)
        util_free(block);
    return rc;
}

static int load_to_many(corm_session *s, const sch_rel *sr, orm_obj **objs, size_t n, bool whole,
                        objvec *next)
{
    const corm_relation *r = sr->rel;
    const sch_mapper *parent_mp = objs[0]->mp;
    corm_value few[KEYS_FEW];
    corm_value *keys = keys_room(n, few);
    objvec kids, parents;
    int rc = CORM_OK;
    if (!keys)
        return orm_set_error(s, CORM_ENOMEM, "out of memory loading %s.%s", r->model->name, r->name);
    objvec_init(&kids);
    objvec_init(&parents);
    for (size_t i = 0; i < n; i++)
        keys[i] = sql_field_value(parent_mp->pk, orm_data(objs[i]), false);
    rc = select_in(s, sr->target, sr->fk, whole ? NULL : keys, n, &kids, parent_mp, &parents);
    if (rc == CORM_OK)
        rc = orm_rel_attach(s, sr, objs, n, parents.v, kids.v, kids.n);
    for (size_t i = 0; rc == CORM_OK && next && i < kids.n; i++)
        rc = objvec_push(s, next, kids.v[i]);
    objvec_free(&parents);
    objvec_free(&kids);
    keys_release(keys, few);
    return rc;
}

/* Through the association: each row is a target and the key of the object
 * it belongs to. */
static int load_many_to_many(corm_session *s, const sch_rel *sr, orm_obj **objs, size_t n,
                             bool whole, objvec *next)
{
    const corm_relation *r = sr->rel;
    const sch_mapper *owner = objs[0]->mp, *t = sr->target;
    const drv_driver *d = s->conn->drv;
    objvec kids, parents;
    objvec_init(&kids);
    objvec_init(&parents);
    int rc = CORM_OK;
    for (size_t at = 0; rc == CORM_OK && at < (whole ? 1 : n); at += IN_CHUNK) {
        size_t k = whole ? 0 : n - at < IN_CHUNK ? n - at : IN_CHUNK;
        s->params.n = 0;
        for (size_t i = 0; i < k && rc == CORM_OK; i++) {
            corm_value key = sql_field_value(owner->pk, orm_data(objs[at + i]), false);
            sql_param *p = sql_params_push(&s->params);
            rc = p ? sql_param_set(p, sr->fk, &key, false, &s->err)
                   : orm_set_error(s, CORM_ENOMEM, "out of memory loading %s.%s", r->model->name,
                                   r->name);
        }
        const sql_text *txt = rc < 0 ? NULL
                                     : orm_statement(s, owner, SQLK_SELECT_M2M,
                                                     (uint64_t)r->index | (uint64_t)k << 16);
        drv_stmt *st = NULL;
        if (!txt)
            rc = s->err.code;
        else
            rc = sql_run_text(s->conn, txt, &s->params, &st, &s->err);
        sql_read_all(s->conn, st);
        while (rc == CORM_OK && (rc = d->step(st, &s->err)) == 1) {
            orm_obj *c;
            corm_value key;
            if ((rc = orm_load_row(s, t, st, t->model->columns, t->model->ncolumns, LOAD_KEEP | LOAD_FULL,
                                   &c)) < 0 ||
                (rc = orm_row_key(s, owner, st, (int)t->model->ncolumns, &key)) < 0 ||
                (rc = objvec_push(s, &kids, c)) < 0 ||
                (rc = objvec_push(s, &parents, orm_imap_get(s, owner, &key))) < 0) {
                d->reset(st);
                break;
            }
        }
    }
    if (rc == CORM_OK)
        rc = orm_rel_attach(s, sr, objs, n, parents.v, kids.v, kids.n);
    for (size_t i = 0; rc == CORM_OK && next && i < kids.n; i++)
        rc = objvec_push(s, next, kids.v[i]);
    if (next)
        objvec_unique(next);
    objvec_free(&kids);
    objvec_free(&parents);
    return rc;
}

int orm_rel_load(corm_session *s, const sch_rel *sr, orm_obj **objs, size_t n, bool whole,
                 orm_obj ***next, size_t *nnext)
{
    objvec out = { 0 };
    int rc = orm_read(s);
    if (rc == CORM_OK && n) {
        switch (sr->rel->kind) {
        case CORM_REL_MANY_TO_ONE: rc = load_many_to_one(s, sr, objs, n, next ? &out : NULL); break;
        case CORM_REL_MANY_TO_MANY: rc = load_many_to_many(s, sr, objs, n, whole, next ? &out : NULL); break;
        default: rc = load_to_many(s, sr, objs, n, whole, next ? &out : NULL); break;
        }
    }
    if (next) {
        if (rc < 0) {
            util_free(out.v);
            out.v = NULL;
            out.n = 0;
        }
        *next = out.v;
        *nnext = out.n;
    }
    return rc;
}

/* Resolve a handle used on an object of this session. */
static const sch_rel *rel_for(corm_session *s, orm_obj *o, const corm_relation *rel)
{
    const sch_rel *sr = sch_rel_of(&s->e->meta, rel);
    if (!sr) {
        orm_set_error(s, CORM_EINVAL, "relationship %s is not registered with the engine",
                      rel && rel->name ? rel->name : "(null)");
        return NULL;
    }
    if (sr->rel->model != o->mp->model) {
        orm_set_error(s, CORM_EINVAL, "relationship %s.%s used on a %s", rel->model->name,
                      rel->name, o->mp->model->name);
        return NULL;
    }
    return sr;
}

static void count_lazy_load(corm_session *s, const sch_rel *sr, orm_obj *o)
{
    corm_engine *e = s->e;
    if (!e->warn)
        return;
    size_t rank = o->mp->rank, i = (size_t)sr->rel->index;
    if (!s->lazy_loads) {
        s->lazy_loads = util_calloc(e->meta.n * 64, sizeof *s->lazy_loads);
        s->warned = util_calloc(e->meta.n, sizeof *s->warned);
        if (!s->lazy_loads || !s->warned)
            return; /* a warning is not worth failing the load for */
    }
    uint32_t n = ++s->lazy_loads[rank * 64 + i];
    if (n < 2 || (s->warned[rank] >> i & 1))
        return;
    s->warned[rank] |= (uint64_t)1 << i;
    char msg[512];
    const corm_relation *r = sr->rel;
    snprintf(msg, sizeof msg, "N+1: %s.%s was loaded lazily for one %s at a time (%u loads in "
             "this session); load it with the query that loads the %s objects: "
             "corm_selectin(q, %s_%s)", r->model->name, r->name, r->model->name, n,
             r->model->name, r->model->name, r->name);
    e->warn(e->warn_ud, msg);
}

int corm_load(corm_session *s, void *obj, const corm_relation *rel)
{
    util_err_clear(&s->err);
    orm_obj *o = orm_check(s, obj);
    const sch_rel *sr = o ? rel_for(s, o, rel) : NULL;
    if (!sr)
        return s->err.code;
    if (o->state != OBJ_PERSISTENT)
        return orm_set_error(s, CORM_ESTATE, "%s.%s: only a persistent object's relationships "
                             "can be loaded (flush it first)", rel->model->name, rel->name);
    count_lazy_load(s, sr, o);
    return orm_rel_load(s, sr, &o, 1, false, NULL, NULL);
}

bool corm_is_loaded(const void *obj, const corm_relation *rel)
{
    if (!obj || !rel)
        return false;
    orm_obj *o = orm_hdr(obj);
    return o->magic == ORM_MAGIC && rel->model == o->mp->model && orm_is_loaded(o, rel);
}

void *corm_related_(corm_session *s, void *obj, const corm_relation *rel)
{
    util_err_clear(&s->err);
    orm_obj *o = orm_check(s, obj);
    const sch_rel *sr = o ? rel_for(s, o, rel) : NULL;
    if (!sr)
        return NULL;
    /* a new or deleted object's field is what the user made it */
    if (o->state == OBJ_PERSISTENT && !orm_is_loaded(o, rel)) {
        count_lazy_load(s, sr, o);
        if (orm_rel_load(s, sr, &o, 1, false, NULL, NULL) < 0)
            return NULL;
    }
    char *field = (char *)obj + rel->offset;
    if (rel->kind == CORM_REL_MANY_TO_ONE || rel->kind == CORM_REL_ONE_TO_ONE)
        return *(void **)(void *)field;
    return ((orm_many *)(void *)field)->items;
}

/* ---- changing ------------------------------------------------------------------- */

static int add_link(corm_session *s, const sch_rel *sr, orm_obj *a, orm_obj *b, enum orm_link_op op)
{
    if (util_grow(&s->links, &s->caplinks, s->nlinks, sizeof *s->links, 16) < 0)
        return orm_set_error(s, CORM_ENOMEM, "out of memory changing %s.%s", sr->rel->model->name,
                             sr->rel->name);
    s->links[s->nlinks++] = (orm_link){ sr, a, b, (uint8_t)op, false };
    return CORM_OK;
}

/* Copy the key of t into o's foreign key under many-to-one sr. */
static void set_key(orm_obj *o, const sch_rel *sr, orm_obj *t)
{
    const corm_column *fk = sr->fk;
    corm_value key = sql_field_value(sr->target->pk, orm_data(t), false);
    char *f = (char *)orm_data(o) + fk->offset;
    if (key.kind == CORM_V_INT) {
        switch (fk->size) {
        case 2: *(int16_t *)(void *)f = (int16_t)key.u.i; break;
        case 4: *(int32_t *)(void *)f = (int32_t)key.u.i; break;
        default: *(int64_t *)(void *)f = key.u.i; break;
        }
    } else {
        memcpy(f, (char *)orm_data(t) + sr->target->pk->offset, fk->size); /* a string key */
    }
    corm_set_null(orm_data(o), fk, false);
}

/* The checks corm_rel_add and corm_rel_remove share. */
static const sch_rel *to_many_rel(corm_session *s, void *parent, const corm_relation *rel,
                                  void *child, orm_obj **p, orm_obj **c)
{
    util_err_clear(&s->err);
    *p = orm_check(s, parent);
    *c = *p ? orm_check(s, child) : NULL;
    const sch_rel *sr = *c ? rel_for(s, *p, rel) : NULL;
    if (!sr)
        return NULL;
    if (rel->kind != CORM_REL_ONE_TO_MANY && rel->kind != CORM_REL_MANY_TO_MANY) {
        orm_set_error(s, CORM_EINVAL, "%s.%s is not a to-many relationship", rel->model->name,
                      rel->name);
        return NULL;
    }
    if ((*c)->mp != sr->target) {
        orm_set_error(s, CORM_EINVAL, "%s.%s holds %s objects, not a %s", rel->model->name,
                      rel->name, rel->target->name, (*c)->mp->model->name);
        return NULL;
    }
    return sr;
}

int corm_rel_add(corm_session *s, void *parent, const corm_relation *rel, void *child)
{
    orm_obj *p, *c;
    const sch_rel *sr = to_many_rel(s, parent, rel, child, &p, &c);
    if (!sr)
        return s->err.code;
    orm_many *l = orm_to_many(p, rel);
    bool present = false, unchanged;
    for (size_t i = 0; i < l->n && !present; i++)
        present = l->items[i] == child;
    int rc = CORM_OK;
    if (rel->kind == CORM_REL_MANY_TO_MANY) {
        if (present)
            return CORM_OK;
        if ((rc = own_array(s, p, rel, 1)) < 0)
            return rc;
        l->items[l->n++] = child;
        rc = add_link(s, sr, p, c, LINK_ADD); /* the association row is written at flush */
    } else {
        /* a move: out of the collection of the parent it had */
        orm_obj *was = intended_parent(s, sr, p->mp, c, &unchanged);
        if (present && was == p)
            return CORM_OK;
        if (was && was != p && was->mp == p->mp && (rc = drop_item(s, was, rel, child)) < 0)
            return rc;
        rc = CORM_OK;
        if (!present) {
            if ((rc = own_array(s, p, rel, 1)) < 0)
                return rc;
            l->items[l->n++] = child;
        }
        /* the pointer, and the key when the parent has one (else at flush) */
        *orm_to_one(c, sr->inverse) = parent;
        if (p->has_snap)
            set_key(c, &sr->target->rels[sr->inverse->index], p);
    }
    if (rc == CORM_OK && c->state == OBJ_TRANSIENT)
        rc = orm_add(s, child);
    return rc;
}

int corm_rel_remove(corm_session *s, void *parent, const corm_relation *rel, void *child)
{
    orm_obj *p, *c;
    const sch_rel *sr = to_many_rel(s, parent, rel, child, &p, &c);
    if (!sr)
        return s->err.code;
    bool orphan = rel->kind == CORM_REL_ONE_TO_MANY && (rel->cascade & CORM_DELETE_ORPHAN);
    if (rel->kind == CORM_REL_ONE_TO_MANY && !orphan && (sr->fk->flags & CORM_NOT_NULL))
        return orm_set_error(s, CORM_ENOTNULL, "%s.%s: a %s cannot be removed without a parent: "
                             "%s.%s cannot be NULL (delete it, move it with corm_rel_add, or "
                             "declare CORM_DELETE_ORPHAN)", rel->model->name, rel->name,
                             rel->target->name, rel->target->name, sr->fk->name);
    int rc = drop_item(s, p, rel, child);
    if (rc < 0)
        return rc;
    if (rel->kind == CORM_REL_MANY_TO_MANY)
        return rc ? add_link(s, sr, p, c, LINK_REMOVE) : CORM_OK;
    bool unchanged;
    if (!rc && intended_parent(s, sr, p->mp, c, &unchanged) != p)
        return CORM_OK; /* not its child, in memory or in the database */
    if (orphan)
        return orm_delete(s, child);
    *orm_to_one(c, sr->inverse) = NULL; /* its key becomes NULL at flush */
    if (!pointer_changed(c, sr->inverse))
        corm_set_null(child, sr->fk, true); /* the pointer was NULL already: say it with the key */
    return CORM_OK;
}

/* ---- flushing --------------------------------------------------------------------- */

/* The parent o's snapshot names under many-to-one sr: its pointer, or the
 * object of its key. */
static orm_obj *snapshot_parent(corm_session *s, orm_obj *o, const sch_rel *sr)
{
    void *snap = orm_snap_image(o), *was = NULL; /* a packed one's pointer is NULL */
    if (snap)
        memcpy(&was, (char *)snap + sr->rel->offset, sizeof was);
    if (was)
        return orm_hdr(was);
    corm_value key = orm_snap_value(o, sr->fk);
    return key.kind == CORM_V_NULL ? NULL : orm_imap_get(s, sr->target, &key);
}

/* A child moved from parent `from` to `to` (either NULL) is being flushed:
 * the two parents' loaded collections follow, so that they show the move
 * without being loaded again. */
static int follow_move(corm_session *s, orm_obj *o, const sch_rel *sr, orm_obj *from, orm_obj *to)
{
    const corm_relation *coll = sr->inverse;
    int rc = CORM_OK;
    if (!coll || coll->kind != CORM_REL_ONE_TO_MANY || from == to)
        return CORM_OK;
    if (from && (rc = drop_item(s, from, coll, orm_data(o))) < 0)
        return rc;
    if (!to || !orm_is_loaded(to, coll))
        return CORM_OK;
    orm_many *l = orm_to_many(to, coll);
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i] == orm_data(o))
            return CORM_OK;
    if ((rc = own_array(s, to, coll, 1)) < 0)
        return rc;
    l->items[l->n++] = orm_data(o);
    return CORM_OK;
}

/* The user changed o's foreign key by hand: the collections follow, and
 * its to-one becomes "not loaded" (NULL, its loaded bit clear; corm_load
 * reads it again). Pointing it at the new parent instead would look, after
 * a failed commit, like a move of the user's that outranks the next key
 * set by hand. */
static int follow_key(corm_session *s, orm_obj *o, const sch_rel *sr)
{
    corm_value key = column_value(o, sr->fk);
    orm_obj *t = key.kind == CORM_V_NULL ? NULL : orm_imap_get(s, sr->target, &key);
    int rc = follow_move(s, o, sr, snapshot_parent(s, o, sr), t);
    *orm_to_one(o, sr->rel) = NULL;
    *orm_loaded(o) &= ~((uint64_t)1 << sr->rel->index);
    return rc;
}

/* Copy the keys of o's to-one pointers into its foreign keys: for a new
 * object when the pointer is set, for a loaded one when the pointer was
 * changed. 1 when a target has no key yet (flush it first). */
int orm_rel_presync(corm_session *s, orm_obj *o)
{
    const sch_mapper *mp = o->mp;
    for (size_t i = 0; i < mp->nrels; i++) {
        const sch_rel *sr = &mp->rels[i];
        const corm_relation *r = sr->rel;
        if (r->kind != CORM_REL_MANY_TO_ONE)
            continue;
        void *t = *orm_to_one(o, r);
        if (o->has_snap && !pointer_changed(o, r)) {
            int rc = orm_column_changed(o, sr->fk) ? follow_key(s, o, sr) : CORM_OK;
            if (rc < 0)
                return rc;
            continue;
        }
        if (!o->has_snap && !t)
            continue;
        const corm_column *fk = sr->fk;
        orm_obj *to = t ? orm_hdr(t) : NULL;
        if (to && (to->magic != ORM_MAGIC || to->sid != s->sid || to->mp != sr->target))
            return orm_set_error(s, CORM_EINVAL, "%s.%s: the object assigned is not a %s of "
                                 "this session", r->model->name, r->name, r->target->name);
        /* the pointer was moved: collections follow (corm_rel_add did already) */
        int rc = o->has_snap ? follow_move(s, o, sr, snapshot_parent(s, o, sr), to) : CORM_OK;
        if (rc < 0)
            return rc;
        if (!t) {
            if (corm_set_null(orm_data(o), fk, true) < 0)
                return orm_set_error(s, CORM_ENOTNULL, "%s.%s: set to NULL, but %s.%s cannot be "
                                     "NULL", r->model->name, r->name, r->model->name, fk->name);
            continue;
        }
        if (to->state == OBJ_TRANSIENT && (rc = orm_add(s, t)) < 0) /* save-update cascade */
            return rc;
        if (to->state == OBJ_PENDING)
            return 1;
        set_key(o, sr, to);
    }
    return CORM_OK;
}

int orm_rel_cascade_delete(corm_session *s, orm_obj *o)
{
    const sch_mapper *mp = o->mp;
    for (size_t i = 0; i < mp->nrels; i++) {
        const sch_rel *sr = &mp->rels[i];
        const corm_relation *r = sr->rel;
        int rc = CORM_OK;
        if (r->kind == CORM_REL_MANY_TO_ONE) { /* out of its parents' collections */
            const corm_relation *coll = sr->inverse;
            if (!coll || coll->kind != CORM_REL_ONE_TO_MANY)
                continue;
            bool unchanged;
            void *ptr = *orm_to_one(o, r);
            orm_obj *held[3] = {
                intended_parent(s, &sr->target->rels[coll->index], sr->target, o, &unchanged),
                ptr ? orm_hdr(ptr) : NULL,        /* where it points */
                o->has_snap ? snapshot_parent(s, o, sr) : NULL, /* where it was flushed */
            };
            for (int k = 0; k < 3; k++)
                if (held[k] && held[k]->mp == sr->target &&
                    (rc = drop_item(s, held[k], coll, orm_data(o))) < 0)
                    return rc;
            continue;
        }
        if (r->kind == CORM_REL_MANY_TO_MANY) { /* its association rows go with it */
            if (o->state != OBJ_PENDING && (rc = add_link(s, sr, o, NULL, LINK_REMOVE_ALL)) < 0)
                return rc;
            continue;
        }
        if (r->kind == CORM_REL_MANY_TO_ONE || !(r->cascade & CORM_CASCADE_DELETE))
            continue;
        /* the collection as the session knows it: loaded (with what was
         * added to it) or, for a pending object, what was added. A load that
         * had to leave out a child moved by its key is not trusted (the key
         * may have come back), nor is any after a failed commit: read again. */
        bool trusted = orm_is_loaded(o, r) && !s->failed_commit &&
                       (!o->has_snap || (orm_snap_loaded(o) >> r->index & 1));
        if (o->state != OBJ_PENDING && !trusted && (r->cascade & CORM_PASSIVE_DELETES))
            continue; /* the database deletes them (ON DELETE CASCADE) */
        if (o->state != OBJ_PENDING && !trusted && r->kind == CORM_REL_ONE_TO_MANY &&
            sr->target->leaf) {
            /* children nothing else hangs on: deleted at flush by their
             * foreign key (DELETE ... WHERE fk IN (...)) rather than loaded
             * to be deleted one by one; those the session holds are
             * deleted as objects then (orm_rel_cascade_held) */
            if ((rc = add_link(s, sr, o, NULL, LINK_CASCADE)) < 0)
                return rc;
            continue;
        }
        if (o->state != OBJ_PENDING && !trusted &&
            (rc = orm_rel_load(s, sr, &o, 1, false, NULL, NULL)) < 0)
            return rc;
        if (r->kind == CORM_REL_ONE_TO_ONE) {
            void *kid = *orm_to_one(o, r);
            if (kid && (rc = orm_delete(s, kid)) < 0)
                return rc;
            continue;
        }
        orm_many *l = orm_to_many(o, r);
        for (size_t k = l->n; k-- > 0;) { /* each kid deleted leaves the array */
            orm_obj *kid = orm_hdr(l->items[k]);
            bool unchanged;
            if (intended_parent(s, sr, mp, kid, &unchanged) != o)
                continue; /* moved away and not flushed */
            if ((rc = orm_delete(s, l->items[k])) < 0)
                return rc;
        }
    }
    return CORM_OK;
}

static int write_link(corm_session *s, orm_link *k)
{
    /* the transaction begins at the first write, which may be this one
     * (a flush whose first change is a link removed) */
    int rc = orm_begin(s);
    if (rc < 0)
        return rc;
    const sch_rel *sr = k->sr;
    sql_ctx x = { s->conn->drv, &s->sql, &s->params, &s->err };
    corm_value a = k->a->has_snap ? orm_snap_value(k->a, k->a->mp->pk)
                                  : sql_field_value(k->a->mp->pk, orm_data(k->a), false);
    corm_value b = k->b ? sql_field_value(sr->target->pk, orm_data(k->b), false) : a;
    util_buf_reset(x.b);
    s->params.n = 0;
    if (k->op == LINK_ADD) {
        util_buf_puts(x.b, "INSERT INTO ");
        sql_put_ident(&x, sr->through->model->table);
        util_buf_puts(x.b, " (");
        sql_put_ident(&x, sr->fk->name);
        util_buf_puts(x.b, ", ");
        sql_put_ident(&x, sr->fk_target->name);
        util_buf_puts(x.b, ") VALUES (");
        if ((rc = sql_put_value(&x, sr->fk, &a, true)) < 0)
            return rc;
        util_buf_puts(x.b, ", ");
        if ((rc = sql_put_value(&x, sr->fk_target, &b, true)) < 0)
            return rc;
        util_buf_putc(x.b, ')');
    } else {
        util_buf_puts(x.b, "DELETE FROM ");
        sql_put_ident(&x, sr->through->model->table);
        util_buf_puts(x.b, " WHERE ");
        sql_put_ident(&x, sr->fk->name);
        util_buf_puts(x.b, " = ");
        if ((rc = sql_put_value(&x, sr->fk, &a, false)) < 0)
            return rc;
        if (k->op == LINK_REMOVE) {
            util_buf_puts(x.b, " AND ");
            sql_put_ident(&x, sr->fk_target->name);
            util_buf_puts(x.b, " = ");
            if ((rc = sql_put_value(&x, sr->fk_target, &b, false)) < 0)
                return rc;
        }
    }
    if (x.b->err)
        return orm_set_error(s, CORM_ENOMEM, "out of memory writing %s.%s", sr->rel->model->name,
                             sr->rel->name);
    if ((rc = sql_exec_params(s->conn, x.b->p, x.b->len, &s->params, &s->err)) < 0) {
        char what[160];
        snprintf(what, sizeof what, "%s.%s: ", sr->rel->model->name, sr->rel->name);
        util_err_prefix(&s->err, "%s", what);
        return rc;
    }
    k->done = true;
    return CORM_OK;
}

int orm_rel_cascade_held(corm_session *s)
{
    int rc = CORM_OK;
    size_t marked = 0;
    for (size_t i = 0; i < s->nlinks; i++) {
        orm_link *k = &s->links[i];
        if (k->op == LINK_CASCADE && !k->done && k->a->state == OBJ_DELETED) {
            k->a->seen = 1;
            marked++;
        }
    }
    /* each child mapper's objects once, whatever the number of parents */
    for (size_t i = 0; marked && rc == CORM_OK && i < s->nlinks; i++) {
        const orm_link *k = &s->links[i];
        bool first = k->op == LINK_CASCADE && !k->done;
        for (size_t j = 0; first && j < i; j++)
            first = !(s->links[j].op == LINK_CASCADE && !s->links[j].done && s->links[j].sr == k->sr);
        if (!first)
            continue;
        const sch_rel *sr = k->sr;
        /* the kids held: persistent (a copy of the map's: deleting may load
         * more), then those added and not written */
        orm_obj **held = NULL;
        ptrdiff_t nheld = orm_map_objects(s, sr->target, OBJ_PERSISTENT, &held);
        if (nheld < 0)
            rc = s->err.code;
        for (ptrdiff_t j = 0; j < nheld && rc == CORM_OK; j++) {
            bool unchanged;
            orm_obj *p = intended_parent(s, sr, k->a->mp, held[j], &unchanged);
            if (p && p->seen && p->state == OBJ_DELETED)
                rc = orm_delete(s, orm_data(held[j]));
        }
        util_free(held);
        orm_list *l = &s->lists[sr->target->rank];
        for (size_t j = 0; j < l->n && rc == CORM_OK; j++) {
            bool unchanged;
            orm_obj *p = l->v[j]->state == OBJ_PENDING
                             ? intended_parent(s, sr, k->a->mp, l->v[j], &unchanged) : NULL;
            if (p && p->seen && p->state == OBJ_DELETED)
                rc = orm_delete(s, orm_data(l->v[j]));
        }
    }
    for (size_t i = 0; marked && i < s->nlinks; i++)
        if (s->links[i].op == LINK_CASCADE)
            s->links[i].a->seen = 0;
    return rc;
}

/* The LINK_CASCADEs of links[from] and the later ones of the same
 * relationship: DELETE FROM child WHERE fk IN (their keys), IN_CHUNK
 * parents a statement. */
static int write_cascades(corm_session *s, size_t from)
{
    const sch_rel *sr = s->links[from].sr;
    const sch_mapper *kid = sr->target;
    size_t chunk = IN_CHUNK;
    for (size_t i = from; i < s->nlinks;) {
        size_t k = 0;
        int rc = orm_begin(s);
        s->params.n = 0;
        for (; i < s->nlinks && k < chunk && rc == CORM_OK; i++) {
            orm_link *l = &s->links[i];
            if (l->op != LINK_CASCADE || l->done || l->sr != sr)
                continue;
            l->done = true;
            if (l->a->state != OBJ_DELETED) /* undone by a rollback to a savepoint */
                continue;
            corm_value key = orm_snap_value(l->a, l->a->mp->pk);
            sql_param *p = sql_params_push(&s->params);
            rc = p ? sql_param_set(p, sr->fk, &key, false, &s->err)
                   : orm_set_error(s, CORM_ENOMEM, "out of memory deleting %s.%s",
                                   sr->rel->model->name, sr->rel->name);
            k++;
        }
        if (rc < 0)
            return rc;
        if (!k)
            continue;
        const sql_text *t = orm_statement(s, kid, SQLK_DELETE_IN,
                                          (uint64_t)sr->fk->index | (uint64_t)k << 16);
        if (!t)
            return s->err.code;
        drv_stmt *st = NULL;
        if ((rc = sql_run_text(s->conn, t, &s->params, &st, &s->err)) == CORM_OK) {
            while ((rc = s->conn->drv->step(st, &s->err)) == 1)
                ;
            s->conn->drv->reset(st);
        }
        if (rc < 0) {
            char what[160];
            snprintf(what, sizeof what, "%s.%s: ", sr->rel->model->name, sr->rel->name);
            util_err_prefix(&s->err, "%s", what);
            return rc;
        }
    }
    return CORM_OK;
}

int orm_rel_write_links(corm_session *s)
{
    for (size_t i = 0; i < s->nlinks; i++) {
        orm_link *k = &s->links[i];
        if (k->done)
            continue;
        if (k->op == LINK_CASCADE) {
            int rc = write_cascades(s, i);
            if (rc < 0)
                return rc;
            continue;
        }
        if ((k->a->state != OBJ_PERSISTENT && k->a->state != OBJ_DELETED) ||
            (k->b && k->b->state != OBJ_PERSISTENT && k->b->state != OBJ_DELETED)) {
            k->done = true; /* one side never reached the database: nothing to link */
            continue;
        }
        int rc = write_link(s, k);
        if (rc < 0)
            return rc;
    }
    return CORM_OK;
}

void corm_engine_set_warnings(corm_engine *e, corm_warn_fn fn, void *ud)
{
    e->warn = fn;
    e->warn_ud = ud;
}

void corm_engine_set_info(corm_engine *e, corm_warn_fn fn, void *ud)
{
    e->info = fn;
    e->info_ud = ud;
}

void corm_engine_set_progress(corm_engine *e, corm_progress_fn fn, void *ud)
{
    e->progress = fn;
    e->progress_ud = ud;
}

/* Out of the session at the next flush (corm_delete without its clearing of
 * the error): with the children that cascade (orm_rel_cascade_delete). */
int orm_delete(corm_session *s, void *obj)
{
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
