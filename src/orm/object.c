/*
 * object.c — the object layer, under the rest of src/orm/: an object's
 * memory and its two images (the fields the user sees, the snapshot of the
 * row as last read or written, packed), the identity maps (one a mapper:
 * every object with a row, which is also how a flush finds them), the
 * session's lists of objects added, and turning a row into an object.
 *
 * relation.c, flush.c, query.c, session.c and merge.c call down into this
 * file; it calls none of them. What they share about one object (is it
 * changed? put its image back; load it from this row) lives here, once.
 */
#include "orm/orm.h"
#include "sql/pack.h"
#include "util/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------------------ */

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

/* ---- objects ----------------------------------------------------------------------- */

/* The most bytes a packed snapshot may take: larger ones are full. */
#define PACK_MAX 255

static void init_obj(corm_session *s, orm_obj *o, const sch_mapper *mp)
{
    o->magic = ORM_MAGIC;
    o->state = OBJ_TRANSIENT;
    o->snap_full = false;
    o->in_list = false;
    o->has_snap = false;
    o->seen = 0;
    o->expired = 0;
    o->mp = mp;
    o->sid = s->sid;
}

/* Whether mp's snapshots may be packed. */
static inline bool packs(const sch_mapper *mp)
{
    return mp->stride <= ORM_VIEW_MAX && mp->snap_max <= PACK_MAX;
}

orm_obj *orm_alloc(corm_session *s, const sch_mapper *mp)
{
    /* room for the snapshot packed at its largest: written once, it fits */
    size_t room = packs(mp) && mp->snap_max > SLOT_MIN ? mp->snap_max : SLOT_MIN;
    orm_obj *o = util_arena_alloc(&s->arena, ORM_HDR + mp->stride + room);
    if (!o)
        return NULL;
    init_obj(s, o, mp);
    o->snap_full = !packs(mp);
    memset(orm_slot(o), 0, sizeof(void *)); /* full: with no image yet */
    return o;
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

void orm_list_compact(orm_list *l, bool committed)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        orm_obj *o = l->v[i];
        if (o->state == OBJ_PENDING ||
            (!committed && (o->state == OBJ_PERSISTENT || o->state == OBJ_DELETED ||
                            o->state == OBJ_GONE)))
            l->v[k++] = o;
        else
            o->in_list = false;
    }
    l->n = k;
}

/* Into the session (corm_add without its clearing of the error): a new
 * object becomes pending, a deleted one persistent again, a detached one
 * persistent (or pending, when it never had a row). */
static int track(corm_session *s, orm_obj *o)
{
    if (o->in_list)
        return CORM_OK;
    if (orm_list_push(s->arena.pool, &s->lists[o->mp->rank], o) < 0)
        return orm_set_error(s, CORM_ENOMEM, "out of memory adding a %s", o->mp->model->name);
    return CORM_OK;
}

int orm_add(corm_session *s, void *obj)
{
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
            return orm_add(s, obj);
        }
        corm_value key[8];
        orm_key_of(o->mp, obj, key);
        if (orm_imap_get(s, o->mp, key))
            return orm_set_error(s, CORM_ESTATE, "%s: another object with this primary key is "
                                 "in the session", o->mp->model->name);
        if ((rc = orm_imap_put(s, o)) < 0)
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

/* ---- the snapshot ------------------------------------------------------------------ */

/* The slot after an object's fields holds its snapshot. Packed (the
 * header's snap_full clear): the NULL-flag words as varints, then the
 * key's columns, then the others (sql_field_pack, pointers relative to the
 * object; mp->packed is the order), its relationship fields and loaded
 * word zero. Full: the address of a whole image in the arena (NULL before
 * the first snapshot of a model that never packs). A loaded object's slot
 * is exactly as long as its packed row (at least SLOT_MIN, room for the
 * address); a new object's has room for the largest. A packed snapshot
 * that no longer fits in its room, or that is given relationship state,
 * becomes full, and stays so. */

static void set_full(orm_obj *o, void *f)
{
    o->snap_full = true;
    memcpy(orm_slot(o), &f, sizeof f);
}

/* image's columns and flags, packed at out for object o: the length. */
static size_t pack(orm_obj *o, const void *image, unsigned char *out)
{
    const sch_mapper *mp = o->mp;
    unsigned char *p = out;
    const uint64_t *w = orm_image_nulls(mp, image);
    for (size_t i = 0; i < mp->nwords; i++)
        p = sql_pack_u64(p, w[i]);
    for (size_t i = 0; i < mp->model->ncolumns; i++)
        p = sql_field_pack(mp->packed[i], (const char *)image + mp->packed[i]->offset, o, p);
    return (size_t)(p - out);
}

static void unpack(orm_obj *o, void *image)
{
    const sch_mapper *mp = o->mp;
    const unsigned char *p = orm_slot(o);
    memset(image, 0, mp->stride);
    uint64_t *w = orm_image_nulls(mp, image);
    for (size_t i = 0; i < mp->nwords; i++)
        p = sql_unpack_u64(p, &w[i]);
    for (size_t i = 0; i < mp->model->ncolumns; i++)
        p = sql_field_unpack(mp->packed[i], (char *)image + mp->packed[i]->offset, o, p);
}

/* A field's bytes, for one unpacked alone (the widest is a NUMERIC's). */
typedef union { max_align_t align; unsigned char b[32]; } one_field;
_Static_assert(sizeof(corm_numeric) <= sizeof(one_field) && sizeof(corm_datetime) <= sizeof(one_field) &&
               sizeof(corm_blob) <= sizeof(one_field) && sizeof(corm_uuid) <= sizeof(one_field),
               "a field fits one_field");

/* Column c of o's packed snapshot, unpacked into f; whether it is NULL by
 * its flag. Only the fields before it are read. */
static bool packed_field(orm_obj *o, const corm_column *c, one_field *f)
{
    const sch_mapper *mp = o->mp;
    const unsigned char *p = orm_slot(o);
    uint64_t word = 0, w;
    for (size_t i = 0; i < mp->nwords; i++) {
        p = sql_unpack_u64(p, &w);
        if (i == (size_t)(c->index >> 6))
            word = w;
    }
    for (size_t i = 0; mp->packed[i] != c; i++)
        p = sql_field_skip(mp->packed[i], p);
    sql_field_unpack(c, f->b, o, p);
    return orm_flagged(c) && (word >> (c->index & 63) & 1);
}

/* Whether image, as a snapshot of an object of mp, may be packed: it holds
 * no relationship state. */
static bool packable(const sch_mapper *mp, const void *image)
{
    if (!packs(mp))
        return false;
    if (!mp->nrels)
        return true;
    if (*orm_image_loaded(mp, image))
        return false;
    static const orm_many none;
    for (size_t i = 0; i < mp->nrels; i++)
        if (memcmp(orm_field_at((void *)(uintptr_t)image, mp->rels[i].rel), &none,
                   orm_field_size(mp->rels[i].rel)) != 0)
            return false;
    return true;
}

/* The room of o's packed slot: a new object's is the largest row's (it
 * has packed nothing yet, or was made with that room); else its packed
 * row's length (at least SLOT_MIN), all a loaded object was given. */
static size_t room(orm_obj *o)
{
    const sch_mapper *mp = o->mp;
    if (!o->has_snap)
        return mp->snap_max > SLOT_MIN ? mp->snap_max : SLOT_MIN;
    const unsigned char *p = orm_slot(o);
    for (size_t i = 0; i < mp->nwords; i++)
        p = sql_skip_u64(p);
    for (size_t i = 0; i < mp->model->ncolumns; i++)
        p = sql_field_skip(mp->packed[i], p);
    size_t n = (size_t)(p - orm_slot(o));
    return n > SLOT_MIN ? n : SLOT_MIN;
}

/* Pack image into o's slot if it is packed and the image fits. */
static bool pack_in_place(orm_obj *o, const void *image)
{
    if (o->snap_full || !packable(o->mp, image))
        return false;
    size_t have = room(o);
    if (o->mp->snap_max <= have) { /* room for any row */
        pack(o, image, orm_slot(o));
        return true;
    }
    unsigned char buf[PACK_MAX];
    size_t n = pack(o, image, buf);
    if (n > have)
        return false;
    memcpy(orm_slot(o), buf, n);
    return true;
}

const void *orm_snap_view(orm_obj *o, orm_view *buf)
{
    if (o->snap_full)
        return orm_slot_image(o);
    unpack(o, buf);
    return buf;
}

void *orm_snap_full(corm_session *s, orm_obj *o)
{
    void *f = orm_snap_image(o);
    if (f)
        return f;
    if (!(f = util_arena_alloc(&s->arena, o->mp->stride))) {
        orm_set_error(s, CORM_ENOMEM, "out of memory keeping a %s's snapshot", o->mp->model->name);
        return NULL;
    }
    if (o->has_snap && !o->snap_full)
        unpack(o, f);
    else
        memset(f, 0, o->mp->stride);
    set_full(o, f);
    return f;
}

int orm_snap_store(corm_session *s, orm_obj *o, const void *image)
{
    if (!pack_in_place(o, image)) {
        void *f = orm_snap_full(s, o);
        if (!f)
            return s->err.code;
        if (f != image)
            memcpy(f, image, o->mp->stride);
    }
    o->has_snap = true;
    return CORM_OK;
}

void orm_snap_restore(orm_obj *o, void *before)
{
    void *f = orm_snap_image(o);
    if (f) {
        orm_image_restore(o, f, before);
        return;
    }
    /* packed, its collections empty and not loaded: before, a view of this
     * same packed snapshot (once full, a snapshot stays full), packs again
     * into the room it had. Should it not, before itself becomes the full
     * image, its collections emptied as the packed one's are */
    if (pack_in_place(o, before))
        return;
    const sch_mapper *mp = o->mp;
    uint64_t bits = orm_collection_bits(mp);
    for (size_t i = 0; i < mp->nrels; i++)
        if (bits >> i & 1)
            memset(orm_field_at(before, mp->rels[i].rel), 0, orm_field_size(mp->rels[i].rel));
    if (mp->nrels)
        *orm_image_loaded(mp, before) &= ~bits;
    set_full(o, before);
}

void *orm_snap_copy(corm_session *s, orm_obj *o)
{
    void *copy = util_arena_alloc(&s->arena, o->mp->stride);
    if (!copy) {
        orm_set_error(s, CORM_ENOMEM, "out of memory keeping a %s's snapshot", o->mp->model->name);
        return NULL;
    }
    if (o->snap_full)
        memcpy(copy, orm_slot_image(o), o->mp->stride);
    else
        unpack(o, copy);
    return copy;
}

/* A NOT NULL (or key) int64_t column: no NULL flag, no conversion. */
static inline bool plain_int64(const corm_column *c)
{
    return c->size == sizeof(int64_t) && (c->flags & (CORM_NOT_NULL | CORM_PRIMARY_KEY)) &&
           (c->type == CORM_TYPE_INTEGER || c->type == CORM_TYPE_BIGINT);
}

corm_value orm_snap_value(orm_obj *o, const corm_column *c)
{
    void *full = orm_snap_image(o);
    if (full && plain_int64(c)) { /* a foreign key, as a selectin load reads its rows' */
        corm_value v;
        v.kind = CORM_V_INT; /* (an initializer would clear the whole union) */
        memcpy(&v.u.i, (const char *)full + c->offset, sizeof v.u.i);
        return v;
    }
    if (full)
        return sql_field_value(c, full, orm_bit(orm_image_nulls(o->mp, full), c));
    one_field f;
    bool null = packed_field(o, c, &f);
    return sql_value_at(c, f.b, null);
}

void orm_snap_key(orm_obj *o, corm_value *out)
{
    orm_view v;
    orm_key_of(o->mp, orm_snap_view(o, &v), out);
}

uint64_t orm_snap_loaded(orm_obj *o)
{
    void *f = o->mp->nrels ? orm_snap_image(o) : NULL;
    return f ? *orm_image_loaded(o->mp, f) : 0;
}

int orm_take_snapshot(corm_session *s, orm_obj *o)
{
    /* normalize NULL flags: a flagged field given a value is no longer NULL */
    const corm_model *m = o->mp->model;
    uint64_t *nulls = orm_nulls(o);
    for (size_t i = 0; o->mp->nwords && i < m->ncolumns; i++)
        if (orm_bit(nulls, m->columns[i]) && !orm_zero(orm_data(o), m->columns[i]))
            nulls[i >> 6] &= ~((uint64_t)1 << (i & 63));
    if (!o->has_snap)
        return orm_snap_store(s, o, orm_data(o));
    /* collections in the snapshot stay as committed (see orm_rel_settle) */
    void *f = orm_snap_image(o);
    if (f) {
        orm_image_restore(o, f, orm_data(o));
        return CORM_OK;
    }
    uint64_t bits = orm_collection_bits(o->mp);
    if (!bits) /* none: the fields are the snapshot */
        return orm_snap_store(s, o, orm_data(o));
    /* the fields, with the packed snapshot's collections: empty, not loaded */
    const sch_mapper *mp = o->mp;
    orm_view v;
    memcpy(&v, orm_data(o), mp->stride);
    for (size_t i = 0; i < mp->nrels; i++)
        if (bits >> i & 1)
            memset(orm_field_at(&v, mp->rels[i].rel), 0, orm_field_size(mp->rels[i].rel));
    *orm_image_loaded(mp, &v) &= ~bits;
    return orm_snap_store(s, o, &v);
}

/* ---- images: fields and snapshot compared ---------------------------------------- */

bool orm_column_differs(orm_obj *o, const void *snap, const corm_column *c)
{
    if (sql_field_differs(c, orm_data(o), snap))
        return true;
    if (orm_is_pointer(c))
        return false;
    return orm_bit(orm_nulls(o), c) != orm_bit(orm_image_nulls(o->mp, snap), c);
}

bool orm_column_changed(orm_obj *o, const corm_column *c)
{
    void *full = orm_snap_image(o);
    if (full && plain_int64(c)) /* a foreign key, as each kid a load attaches asks */
        return memcmp((const char *)orm_data(o) + c->offset, (const char *)full + c->offset,
                      sizeof(int64_t)) != 0;
    if (full)
        return orm_column_differs(o, full, c);
    one_field f;
    bool null = packed_field(o, c, &f);
    if (sql_differs_at(c, (const char *)orm_data(o) + c->offset, f.b))
        return true;
    return !orm_is_pointer(c) && orm_bit(orm_nulls(o), c) != null;
}

bool orm_obj_dirty(orm_obj *o)
{
    if (!o->has_snap)
        return true;
    /* field by field: a memcmp would also compare padding bytes, which
     * assignments of C structs leave undefined */
    const corm_model *m = o->mp->model;
    orm_view v;
    const void *snap = orm_snap_view(o, &v);
    for (size_t i = 0; i < m->ncolumns; i++)
        if (orm_column_differs(o, snap, m->columns[i]))
            return true;
    return false;
}

/* Whether o holds anything a flush would write: pending, deleted, or a
 * persistent object whose fields differ from its snapshot. */
bool orm_obj_modified(orm_obj *o)
{
    return o->state == OBJ_PENDING || o->state == OBJ_DELETED ||
           (o->state == OBJ_PERSISTENT && orm_obj_dirty(o));
}

uint64_t orm_collection_bits(const sch_mapper *mp)
{
    uint64_t bits;
    if (!mp->nrels)
        return 0;
    memcpy(&bits, mp->proto + mp->loaded_off, sizeof bits); /* a new object's: the collections */
    return bits;
}

void orm_image_restore(orm_obj *o, void *dst, const void *src)
{
    const sch_mapper *mp = o->mp;
    uint64_t bits = orm_collection_bits(mp);
    if (!bits) {
        memcpy(dst, src, mp->stride);
        return;
    }
    unsigned char keep[64 * sizeof(orm_many)];
    size_t at = 0;
    for (size_t i = 0; i < mp->nrels; i++)
        if (bits >> i & 1) {
            memcpy(keep + at, orm_field_at(dst, mp->rels[i].rel), orm_field_size(mp->rels[i].rel));
            at += sizeof(orm_many);
        }
    uint64_t loaded;
    memcpy(&loaded, (char *)dst + mp->loaded_off, sizeof loaded);
    memcpy(dst, src, mp->stride);
    at = 0;
    for (size_t i = 0; i < mp->nrels; i++)
        if (bits >> i & 1) {
            memcpy(orm_field_at(dst, mp->rels[i].rel), keep + at, orm_field_size(mp->rels[i].rel));
            at += sizeof(orm_many);
        }
    uint64_t *w = (uint64_t *)(void *)((char *)dst + mp->loaded_off);
    *w = (*w & ~bits) | (loaded & bits);
}

void orm_drop_moved(orm_obj *o)
{
    orm_view v;
    const void *snap = orm_snap_view(o, &v);
    for (size_t i = 0; i < o->mp->nrels; i++) {
        const sch_rel *sr = &o->mp->rels[i];
        const corm_relation *r = sr->rel;
        if (r->kind != CORM_REL_MANY_TO_ONE || !orm_is_loaded(o, r))
            continue;
        if (orm_column_differs(o, snap, sr->fk)) {
            *orm_to_one(o, r) = NULL;
            *orm_loaded(o) &= ~((uint64_t)1 << r->index);
        }
    }
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

bool corm_is_modified(const corm_session *s, const void *obj)
{
    orm_obj *o = orm_check((corm_session *)s, obj);
    return o && orm_obj_modified(o);
}

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

static inline uint64_t mix_int(uint64_t h, int64_t k) { return (h + (uint64_t)k) * 0x9E3779B97F4A7C15ull; }

static inline uint64_t mix(uint64_t h, const corm_value *k)
{
    if (k->kind == CORM_V_INT)
        return mix_int(h, k->u.i);
    const unsigned char *p = k->kind == CORM_V_UUID ? k->u.uuid.b : (const unsigned char *)k->u.text.p;
    size_t n = k->kind == CORM_V_UUID ? sizeof k->u.uuid.b : k->u.text.n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return spread(h);
}

/* Where every key's hash starts: each mapper has a map of its own, and the
 * same keys land in the same order run after run. */
#define KEY_SEED 0x9E3779B97F4A7C15ull

/* The slot of hash h in a map of cap slots (a power of two): its top bits. */
static inline size_t slot_of(uint64_t h, size_t cap)
{
    return (size_t)(h >> (64 - __builtin_ctzll((unsigned long long)cap)));
}

/* A key's hash: its columns' values mixed in order (one for most keys). */
static uint64_t key_hash(const sch_mapper *mp, const corm_value *k)
{
    uint64_t h = KEY_SEED;
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

void orm_key_of(const sch_mapper *mp, const void *obj, corm_value *out)
{
    for (size_t c = 0; c < mp->npk; c++)
        out[c] = sql_field_value(mp->pks[c], obj, false);
}

uint64_t orm_imap_hash(const sch_mapper *mp, const corm_value *key)
{
    if (mp->pk_int && key->kind == CORM_V_INT) /* most keys */
        return mix(KEY_SEED, key) | 1;
    if (mp->npk == 1) { /* one column: no array */
        corm_value k;
        return key_of(mp->pk, key, &k)
                   ? mix(KEY_SEED, &k) | 1 : 0;
    }
    corm_value k[8];
    return keys_of(mp, key, k) ? key_hash(mp, k) | 1 : 0; /* 0 marks an empty slot */
}

/* A slot's word: the object's address, and bits 1-3 of its hash as a tag
 * (bit 0 is always set; the slot's index takes the top bits). */
static inline uintptr_t slot_word(orm_obj *o, uint64_t h)
{
    return (uintptr_t)o | (uintptr_t)(h >> 1 & 7);
}
static inline bool slot_tagged(uintptr_t w, uint64_t h) { return (w & 7) == (h >> 1 & 7); }

orm_obj *orm_imap_find(corm_session *s, const sch_mapper *mp, const corm_value *key, uint64_t h)
{
    struct orm_map *m = &s->maps[mp->rank];
    corm_value k[8];
    uintptr_t w;
    if (!m->cap || !h)
        return NULL;
    size_t mask = m->cap - 1, i = slot_of(h, m->cap);
    if (mp->pk_int && key->kind == CORM_V_INT) { /* most keys: compared in place */
        /* Rows mostly come in key order, each the last plus a step: the
         * slot of the key that step on is asked for now, so that in a large
         * map (a million rows: 16 MB of slots) the next row's look-up does
         * not wait for memory, as this one did. */
        uint64_t next = (uint64_t)key->u.i * 2 - (uint64_t)m->last_key;
        m->last_key = key->u.i;
        __builtin_prefetch(&m->slot[slot_of(mix_int(KEY_SEED, (int64_t)next) | 1, m->cap)]);
        for (; (w = m->slot[i]) != 0; i = (i + 1) & mask) {
            orm_obj *o = orm_slot_obj(w);
            int64_t id;
            if (!slot_tagged(w, h) || o->state == OBJ_GONE)
                continue;
            memcpy(&id, (char *)orm_data(o) + mp->pk->offset, sizeof id);
            if (id == key->u.i)
                return o;
        }
        m->miss_hash = h;
        m->miss_slot = i;
        return NULL;
    }
    if (!(mp->npk == 1 ? key_of(mp->pk, key, k) : keys_of(mp, key, k)))
        return NULL;
    for (; (w = m->slot[i]) != 0; i = (i + 1) & mask) {
        orm_obj *o = orm_slot_obj(w);
        if (slot_tagged(w, h) && o->state != OBJ_GONE && obj_has_key(o, k))
            return o;
    }
    m->miss_hash = h; /* a load adds the key next: no second probe */
    m->miss_slot = i;
    return NULL;
}

orm_obj *orm_imap_get(corm_session *s, const sch_mapper *mp, const corm_value *key)
{
    return orm_imap_find(s, mp, key, orm_imap_hash(mp, key));
}

/* Where a loaded object made whole (made, full) keeps its full image:
 * after [header][struct][slot], 8-aligned. */
static size_t full_image_at(const sch_mapper *mp)
{
    return (ORM_HDR + mp->stride + SLOT_MIN + 7) & ~(size_t)7;
}

/* The hash o is filed under: that of its key as the database has it (the
 * snapshot's; the fields' before it has one), which a key changed by hand
 * and not yet refused by a flush does not move. */
static uint64_t filed_hash(orm_obj *o)
{
    const sch_mapper *mp = o->mp;
    corm_value k[8];
    if (mp->pk_int) { /* most keys: orm_imap_hash's first case, inline */
        k[0].kind = CORM_V_INT;
        if (o->has_snap && !o->snap_full) { /* packed: the key first after the */
            const unsigned char *p = orm_slot(o);      /* flags, a zigzag varint */
            uint64_t u;
            for (size_t i = 0; i < mp->nwords; i++)
                p = sql_unpack_u64(p, &u);
            sql_unpack_u64(p, &u);
            k[0].u.i = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
        } else {
            memcpy(&k[0].u.i, (const char *)(o->has_snap ? orm_slot_image(o) : orm_data(o)) + mp->pk->offset,
                   sizeof k[0].u.i);
        }
        return mix(KEY_SEED, &k[0]) | 1;
    }
    if (o->has_snap)
        orm_snap_key(o, k);
    else
        orm_key_of(mp, orm_data(o), k);
    return orm_imap_hash(mp, k);
}

static void imap_insert(uintptr_t *tab, size_t cap, uint64_t h, orm_obj *o)
{
    size_t mask = cap - 1, i = slot_of(h, cap);
    while (tab[i])
        i = (i + 1) & mask;
    tab[i] = slot_word(o, h);
}

/* mp's map moved into a table of cap slots (a power of two). */
static int imap_grow(corm_session *s, const sch_mapper *mp, size_t cap)
{
    struct orm_map *m = &s->maps[mp->rank];
    uintptr_t *tab = util_pool_alloc(s->arena.pool, cap * sizeof *tab, true);
    if (!tab)
        return orm_set_error(s, CORM_ENOMEM, "out of memory in the identity map");
    /* each object's key is read: asked for a few slots ahead, the
     * reads of a large map overlap instead of waiting one by one. Where it
     * lies is the same for every object here: in the slot (packed), or in
     * the full image after it (a load's, made in one block: see made) */
    size_t at_slot = ORM_HDR + mp->stride;
    size_t at_key = full_image_at(mp) + mp->pk->offset;
    for (size_t i = 0; i < m->cap; i++) {
        if (i + 16 < m->cap && m->slot[i + 16]) {
            const char *ahead = (const char *)orm_slot_obj(m->slot[i + 16]);
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + at_slot);
            __builtin_prefetch((const void *)((uintptr_t)ahead + at_key)); /* (never faults) */
        }
        if (m->slot[i]) {
            orm_obj *x = orm_slot_obj(m->slot[i]);
            imap_insert(tab, cap, filed_hash(x), x);
        }
    }
    util_pool_discard(m->slot);
    m->slot = tab;
    m->cap = cap;
    m->miss_hash = 0;
    return CORM_OK;
}

int orm_imap_expect(corm_session *s, const sch_mapper *mp, drv_stmt *st, size_t max)
{
    const drv_driver *d = s->conn->drv;
    int64_t rows = d->row_count ? d->row_count(st) : -1;
    if (rows <= 0)
        return CORM_OK;
    size_t n = (uint64_t)rows < max ? (size_t)rows : max;
    struct orm_map *m = &s->maps[mp->rank];
    size_t cap = m->cap ? m->cap : 64;
    while (n * 8 > cap * 7 && cap < ((size_t)1 << 40)) /* load factor 7/8 */
        cap *= 2;
    return cap == m->cap ? CORM_OK : imap_grow(s, mp, cap);
}

int orm_imap_add(corm_session *s, orm_obj *o, uint64_t h)
{
    struct orm_map *m = &s->maps[o->mp->rank];
    int rc;
    if ((m->n + 1) * 8 > m->cap * 7 && /* load factor 7/8 */
        (rc = imap_grow(s, o->mp, m->cap ? m->cap * 2 : 64)) < 0)
        return rc;
    /* linear probing puts h in the first empty slot of its run, where the
     * last search for h stopped, if nothing was put in or taken out since */
    if (m->miss_hash == h)
        m->slot[m->miss_slot] = slot_word(o, h);
    else
        imap_insert(m->slot, m->cap, h, o);
    m->miss_hash = 0;
    m->n++;
    return CORM_OK;
}

int orm_imap_put(corm_session *s, orm_obj *o) { return orm_imap_add(s, o, filed_hash(o)); }

void orm_imap_del(corm_session *s, orm_obj *o)
{
    struct orm_map *m = &s->maps[o->mp->rank];
    if (!m->cap)
        return;
    size_t mask = m->cap - 1, i;
    for (i = slot_of(filed_hash(o), m->cap); m->slot[i] && orm_slot_obj(m->slot[i]) != o;
         i = (i + 1) & mask)
        ;
    if (!m->slot[i])
        return;
    /* backward-shift deletion keeps probe chains whole without tombstones */
    m->miss_hash = 0; /* a slot before the last miss's may be empty now */
    m->slot[i] = 0;
    m->n--;
    for (size_t j = (i + 1) & mask; m->slot[j]; j = (j + 1) & mask) {
        orm_obj *x = orm_slot_obj(m->slot[j]);
        m->slot[j] = 0;
        imap_insert(m->slot, m->cap, filed_hash(x), x);
    }
}

/* Sort v[0..n) by the integer keys k (LSD radix, a byte at a time, skipping
 * the bytes all keys share); tv and tk: room for n of each. */
static void sort_by_key(orm_obj **v, uint64_t *k, size_t n, orm_obj **tv, uint64_t *tk)
{
    uint64_t same = ~(uint64_t)0, first = n ? k[0] : 0;
    for (size_t i = 1; i < n; i++)
        same &= ~(k[i] ^ first);
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if ((same >> shift & 0xff) == 0xff)
            continue;
        size_t count[257] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[(k[i] >> shift & 0xff) + 1]++;
        for (size_t d = 1; d < 257; d++)
            count[d] += count[d - 1];
        for (size_t i = 0; i < n; i++) {
            size_t at = count[k[i] >> shift & 0xff]++;
            tv[at] = v[i];
            tk[at] = k[i];
        }
        memcpy(v, tv, n * sizeof *v);
        memcpy(k, tk, n * sizeof *k);
    }
}

ptrdiff_t orm_map_objects(corm_session *s, const sch_mapper *mp, int state, orm_obj ***out)
{
    const struct orm_map *m = &s->maps[mp->rank];
    size_t n = 0;
    *out = NULL;
    for (size_t i = 0; i < m->cap; i++) {
        if (i + 16 < m->cap && m->slot[i + 16]) /* (see orm_imap_add) */
            __builtin_prefetch(orm_slot_obj(m->slot[i + 16]));
        n += m->slot[i] && orm_slot_obj(m->slot[i])->state == state;
    }
    if (!n)
        return 0;
    bool by_key = mp->pk_int;
    /* the objects, then (by_key) their keys, and room for a pass of each */
    orm_obj **v = util_malloc(n * (by_key ? 2 * sizeof(orm_obj *) + 2 * sizeof(uint64_t)
                                          : sizeof(orm_obj *)));
    if (!v) {
        orm_set_error(s, CORM_ENOMEM, "out of memory writing %s objects", mp->model->name);
        return -1;
    }
    uint64_t *k = (uint64_t *)(void *)(v + 2 * n);
    size_t got = 0;
    for (size_t i = 0; i < m->cap; i++) {
        orm_obj *o = m->slot[i] ? orm_slot_obj(m->slot[i]) : NULL;
        if (!o || o->state != state)
            continue;
        if (by_key) { /* signed order: the sign bit flipped */
            int64_t id;
            memcpy(&id, (const char *)orm_data(o) + mp->pk->offset, sizeof id);
            k[got] = (uint64_t)id ^ ((uint64_t)1 << 63);
        }
        v[got++] = o;
    }
    if (by_key)
        sort_by_key(v, k, got, v + n, k + n);
    *out = v;
    return (ptrdiff_t)got;
}

/* ---- rows into objects ------------------------------------------------------------- */

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

int orm_row_key_fail(corm_session *s, const sch_mapper *mp, const corm_value *k)
{
    return k->kind == CORM_V_TEXT /* with no text: the driver could not make it */
               ? orm_set_error(s, CORM_ENOMEM, "%s: out of memory reading a row's primary key",
                               mp->model->name)
               : orm_set_error(s, CORM_ETYPE, "%s: a row without a usable primary key",
                               mp->model->name);
}

/* The object of a row just read into image (its strings in the arena just
 * before): its snapshot packed into its slot, written where the object
 * will be before that place is taken, since the pointers in it are
 * relative to the object. NULL when out of memory. */
static orm_obj *made(corm_session *s, const sch_mapper *mp, const void *image, bool full)
{
    size_t size = ORM_HDR + mp->stride;
    if (full || !packs(mp)) { /* [object][slot][its full image] in one */
        size_t at = full_image_at(mp);
        orm_obj *o = util_arena_alloc(&s->arena, at + mp->stride);
        if (!o)
            return NULL;
        init_obj(s, o, mp);
        memcpy(orm_data(o), image, mp->stride);
        memcpy((char *)o + at, image, mp->stride);
        set_full(o, (char *)o + at);
        o->has_snap = true;
        return o;
    }
    /* a new row's relationship fields are empty: it packs */
    orm_obj *o = util_arena_reserve(&s->arena, size + (mp->snap_max > SLOT_MIN ? mp->snap_max : SLOT_MIN));
    if (!o)
        return NULL;
    init_obj(s, o, mp);
    memcpy(orm_data(o), image, mp->stride);
    size_t n = pack(o, image, orm_slot(o)), used = n > SLOT_MIN ? n : SLOT_MIN;
    util_arena_alloc(&s->arena, size + used); /* the place reserved: o */
    o->has_snap = true;
    return o;
}

int orm_load_row(corm_session *s, const sch_mapper *mp, drv_stmt *st,
                 const corm_column *const *cols, size_t ncols, int how, orm_obj **out)
{
    bool full = how & LOAD_FULL;
    how &= ~LOAD_FULL;
    const drv_driver *d = s->conn->drv;
    int rc, pki = -1;
    corm_value keys[8];
    for (size_t c = 0; c < mp->npk; c++) { /* each column of the key, from the row */
        int at = -1;
        if (cols == mp->model->columns) /* the model's columns in order: most loads */
            at = mp->pks[c]->index;
        for (size_t i = 0; i < ncols && at < 0; i++)
            if (cols[i] == mp->pks[c])
                at = (int)i;
        if (at < 0) {
            keys[c].kind = CORM_V_NULL;
            return orm_row_key_fail(s, mp, &keys[c]);
        }
        if ((rc = orm_row_key(s, mp, st, at, &keys[c])) < 0)
            return rc;
        if (c == 0)
            pki = at;
    }
    uint64_t h = orm_imap_hash(mp, keys);
    if (!h)
        return orm_set_error(s, CORM_ETYPE, "%s: a row whose primary key is not of the key's type",
                             mp->model->name);
    orm_obj *o = how == LOAD_NEW || how == LOAD_STREAM ? NULL : orm_imap_find(s, mp, keys, h);
    /* an expired object is read again, unless changed since it expired */
    bool reread = o && o->expired && o->state == OBJ_PERSISTENT && !orm_obj_modified(o);
    if (o && !reread &&
        (how == LOAD_KEEP || (how == LOAD_FRESHEN && orm_obj_modified(o)))) {
        *out = o;
        return CORM_OK;
    }
    bool fresh = !o, stream = how == LOAD_STREAM;
    void *obj;
    if (!fresh) {
        obj = orm_data(o);
    } else if (stream) { /* no snapshot: straight into the object */
        if (!(o = util_arena_alloc(&s->arena, ORM_HDR + mp->stride)))
            return orm_set_error(s, CORM_ENOMEM, "out of memory loading a %s", mp->model->name);
        init_obj(s, o, mp);
        obj = orm_data(o);
    } else { /* read first, then made with a slot as long as its packed row */
        if (util_pool_grow(s->arena.pool, &s->img, &s->capimg, mp->stride, 1, 256) < 0)
            return orm_set_error(s, CORM_ENOMEM, "out of memory loading a %s", mp->model->name);
        obj = s->img;
    }
    /* every column is loaded below: only the flag words, and relationship
     * fields (not loaded until asked), need clearing */
    if (fresh)
        memset(mp->nrels ? obj : (void *)orm_image_nulls(mp, obj), 0,
               mp->nrels ? mp->stride : mp->nwords * 8);
    uint64_t *nulls = orm_image_nulls(mp, obj);
    /* an integer key read above is not read again */
    bool int_key = mp->npk == 1 && keys[0].kind == CORM_V_INT && mp->pk->size == sizeof(int64_t) &&
                   (mp->pk->type == CORM_TYPE_INTEGER || mp->pk->type == CORM_TYPE_BIGINT);
    if (int_key)
        memcpy((char *)obj + mp->pk->offset, &keys[0].u.i, sizeof keys[0].u.i);
    if ((rc = sql_row_load(d, st, cols, cols == mp->model->columns ? mp->load : NULL, ncols,
                           int_key ? pki : -1, obj, nulls, &s->arena, &s->err)) < 0)
        return rc;
    if (stream) {
        o->state = OBJ_STREAMED;
        *out = o;
        return CORM_OK;
    }
    if (!fresh) {
        if (o->expired) {
            if (mp->has_to_one)
                orm_drop_moved(o);
            o->expired = 0;
        }
        if ((rc = orm_snap_store(s, o, obj)) < 0)
            return rc;
        *out = o;
        return CORM_OK;
    }
    if (!(o = made(s, mp, obj, full)))
        return orm_set_error(s, CORM_ENOMEM, "out of memory loading a %s", mp->model->name);
    o->state = OBJ_PERSISTENT;
    if ((rc = orm_imap_add(s, o, h)) < 0)
        return rc;
    *out = o;
    return CORM_OK;
}
