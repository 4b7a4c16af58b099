/*
 * orm.h — the ORM layer's shared insides: engine, session, object headers.
 *
 * Every object a session hands out is preceded by an orm_obj header in the
 * same arena block, and followed by its NULL flags and its snapshot (the
 * row as last read or written). Dirty checking compares the struct with the
 * snapshot at flush, because C cannot intercept `u->age = 30`.
 *
 *   [orm_obj][fields | NULL flags | loaded][snapshot slot]
 *
 * "loaded" (models with relationships) has a bit per relationship whose
 * field was filled from the database; it lives beside the fields so that
 * whatever restores the fields (rollback) restores it with them.
 *
 * The snapshot is an image of the same layout, kept in one of two forms
 * (object.c): packed into the slot (each field's value in a byte or a few:
 * sql_field_pack), while its relationship fields and loaded bits are all
 * zero, as after a plain load; or full, the slot pointing at a whole image,
 * from the first time relationship state is written into it (or when the
 * packed form does not fit). Code reads it through orm_snap_view and writes
 * it through the orm_snap_* calls below, never in place.
 *
 * Only src/orm/ sees these; users see plain structs. Its files are layers,
 * each calling only the ones listed before it (tests/orm_layers.py checks):
 *   engine.c     engines and their pools of connections
 *   object.c     objects, their images, the identity map, rows into objects
 *   event.c      the hooks of corm_listen
 *   txn.c        a session's connection and transaction, the journal
 *   statement.c  the texts of the statements flushes and relationships run
 *   relation.c   relationships: loading, both sides kept in step, cascades
 *   undo.c       the journal played back (failed flush, rollback, savepoint)
 *   flush.c      the unit of work: writing what changed
 *   query.c      queries, corm_get, raw SQL
 *   session.c    the public calls of the session
 *   merge.c      corm_merge and corm_upsert
 *   retry.c      corm_run_in_transaction
 * The prototypes below follow the same order.
 */
#ifndef CORM_ORM_H
#define CORM_ORM_H

#include <pthread.h>
#include <string.h>

#include "schema/schema.h"

struct corm_engine {
    drv_url url;
    const drv_driver *drv;
    sch_meta meta;
    sql_echo echo;
    util_err err;
    pthread_mutex_t lock;
    pthread_cond_t freed;    /* a connection came back, or a place opened */
    sql_conn **idle;
    size_t nidle, pool_size; /* idle connections kept */
    size_t nopen, max_overflow; /* open (idle or checked out); past pool_size */
    long timeout_ms;         /* how long a checkout waits for a place */
    util_arena_pool arenas;  /* sessions' freed memory, kept for the next ones */
    corm_warn_fn warn;
    void *warn_ud;
    corm_warn_fn info;       /* corm_engine_set_info: what migrations run */
    void *info_ud;
    corm_progress_fn progress; /* corm_engine_set_progress: rows a rebuild copied */
    void *progress_ud;
    struct orm_listener {    /* corm_listen, in the order registered */
        corm_event ev;
        const sch_mapper *mp; /* NULL: a session event */
        corm_event_fn fn;
        void *ud;
    } *listeners;
    size_t nlisteners, caplisteners;
    uint16_t *events;        /* per mapper rank: bit ev set when it has hooks */
    uint16_t session_events;
    /* read replicas (corm_engine_add_replica): engines of their own, with
     * their pools; sessions that have not written read from them in turn */
    struct orm_replica {
        corm_engine *e;
        double max_lag;          /* seconds behind the primary it may be */
        long down_until;         /* unreachable: not tried again before this second
                                    (CLOCK_MONOTONIC; read and set atomically: sessions
                                    on other threads share it) */
    } *replicas;
    size_t nreplicas;
    unsigned next_replica;
};

/* How much freed session memory an engine keeps for reuse. */
#define ORM_ARENA_CACHE ((size_t)64 << 20)

/* A connection from the pool (or a new one). */
int orm_engine_acquire(corm_engine *e, sql_conn **out, util_err *err);
/* Back to the pool; an open transaction is rolled back first. */
void orm_engine_release(corm_engine *e, sql_conn *c);
/* The database's schema as the driver reads it, on a pooled connection
 * (check and inspect); free it with drv_rschema_free. */
int orm_engine_reflect(corm_engine *e, drv_rschema *rs);

enum orm_state {
    OBJ_TRANSIENT,   /* made by corm_new, not added */
    OBJ_PENDING,     /* added, to be inserted */
    OBJ_PERSISTENT,  /* has a row */
    OBJ_DELETED,     /* persistent, marked for delete */
    OBJ_GONE,        /* its DELETE was flushed, not yet committed */
    OBJ_DETACHED,    /* expunged, or deleted and committed */
    OBJ_STREAMED     /* read by corm_next_batch or a corm_read_only query: not tracked,
                        no snapshot (its memory the batch's, or the session's) */
};

#define ORM_MAGIC 0x636fu

/* 16 bytes before every object's struct: the session is named by its
 * number (sid), not a pointer, which also tells an object of a freed
 * session from one of a new session at the same address. */
typedef struct orm_obj {
    uint16_t magic;
    uint8_t state : 4;    /* enum orm_state */
    uint8_t snap_full : 1; /* the snapshot is a whole image, not packed (object.c) */
    uint8_t in_list : 1;  /* has an entry in its mapper's list */
    uint8_t has_snap : 1;
    uint8_t seen : 5;     /* scratch marks: a query collecting distinct objects (1),
                             relation.c's SEEN_* (2, 4, 8) */
    uint8_t expired : 1;  /* corm_expire: read again when its row is next met */
    uint32_t sid;         /* its session's number */
    const sch_mapper *mp;
} orm_obj;
_Static_assert(sizeof(orm_obj) == 16, "the object header is 16 bytes");

/* Objects need 8-byte alignment (no corm field type needs more). */
#define ORM_HDR ((sizeof(orm_obj) + 7) & ~(size_t)7)

static inline void *orm_data(orm_obj *o) { return (char *)o + ORM_HDR; }
static inline orm_obj *orm_hdr(const void *obj) { return (orm_obj *)((char *)obj - ORM_HDR); }
/* The NULL flags and the loaded word of an image (the fields, or a snapshot). */
static inline uint64_t *orm_image_nulls(const sch_mapper *mp, const void *image)
{
    return (uint64_t *)(uintptr_t)((const char *)image + ((mp->model->size + 7) & ~(size_t)7));
}
static inline uint64_t *orm_image_loaded(const sch_mapper *mp, const void *image)
{
    return (uint64_t *)(uintptr_t)((const char *)image + mp->loaded_off);
}
static inline uint64_t *orm_nulls(orm_obj *o) { return orm_image_nulls(o->mp, orm_data(o)); }
/* o's word of loaded relationships (models with relationships only). */
static inline uint64_t *orm_loaded(orm_obj *o) { return orm_image_loaded(o->mp, orm_data(o)); }
static inline bool orm_is_pointer(const corm_column *c)
{
    return c->type == CORM_TYPE_STRING || c->type == CORM_TYPE_TEXT ||
           c->type == CORM_TYPE_JSON || c->type == CORM_TYPE_BLOB;
}
/* Whether the column has a NULL flag: a nullable column that is not a
 * pointer. Only those have bits (a model without any has no flag words). */
static inline bool orm_flagged(const corm_column *c)
{
    return !orm_is_pointer(c) && !(c->flags & (CORM_NOT_NULL | CORM_PRIMARY_KEY));
}
static inline bool orm_bit(const uint64_t *w, const corm_column *c)
{
    return orm_flagged(c) && ((w[c->index >> 6] >> (c->index & 63)) & 1);
}
/* Whether field c of obj holds only zero bytes. A flagged field is NULL while
 * it does: setting NULL and loading NULL zero it, and any other value the
 * user stores clears the flag (so storing the zero value into a NULL field
 * takes corm_set_null(obj, col, false)). */
static inline bool orm_zero(const void *obj, const corm_column *c)
{
    const unsigned char *p = (const unsigned char *)obj + c->offset;
    for (size_t i = 0; i < c->size; i++)
        if (p[i])
            return false;
    return true;
}

/* Relationship fields in an object's image (its fields or its snapshot):
 * a to-one is a pointer, a to-many has the layout of every CORM_MANY(T). */
typedef struct orm_many {
    void **items;
    size_t n, cap;
} orm_many;
static inline void *orm_field_at(void *image, const corm_relation *r)
{
    return (char *)image + r->offset;
}
static inline size_t orm_field_size(const corm_relation *r)
{
    return r->kind == CORM_REL_ONE_TO_MANY || r->kind == CORM_REL_MANY_TO_MANY ? sizeof(orm_many)
                                                                               : sizeof(void *);
}
static inline void **orm_to_one(orm_obj *o, const corm_relation *r)
{
    return (void **)orm_field_at(orm_data(o), r);
}
static inline orm_many *orm_to_many(orm_obj *o, const corm_relation *r)
{
    return (orm_many *)orm_field_at(orm_data(o), r);
}
/* Whether o's relationship r was filled from the database. */
static inline bool orm_is_loaded(orm_obj *o, const corm_relation *r)
{
    return (*orm_loaded(o) >> r->index) & 1;
}

/* A SELECT left open on the session's connection between two reads (the
 * batches of corm_yield_per). The session lists the open ones, so that
 * giving the connection back (orm_release_conn) ends them first: rows are
 * not read from a connection back in the pool. */
typedef struct orm_cursor {
    drv_stmt *st;            /* NULL: closed */
    sql_conn *conn;
    bool cut;                /* closed by the connection's release, not by its reader */
    struct orm_cursor *next, **pprev;
} orm_cursor;

typedef struct orm_list {
    orm_obj **v;
    size_t n, cap;
} orm_list;

/* The journal: what this transaction did to each object, undone on rollback. */
enum orm_jkind {
    J_INSERTED, J_UPDATED, J_DELETED,
    /* by a bulk update or delete: undone to the committed state always,
     * since the statement that did it is not replayed */
    J_BULK_UPDATED, J_BULK_DELETED,
    /* a relationship loaded inside the transaction, perhaps with rows the
     * transaction wrote: put back as it was by a rollback */
    J_LOADED,
    /* a collection changed (corm_rel_add/remove, a move, a delete) for the
     * first time since the last restore point: its array before */
    J_COLL
};
typedef struct orm_jentry {
    orm_obj *o;
    uint8_t kind;
    bool pk_assigned;        /* J_INSERTED: the database chose the key */
    uint64_t follow;         /* J_UPDATED undone by a failed commit: to-one pointers
                                the user had not moved (see orm_rel_rebase) */
    unsigned char *before;   /* J_INSERTED: fields before server defaults were read
                                back (or NULL); J_UPDATED: the old snapshot;
                                J_LOADED: the field as it was (relation.c) */
} orm_jentry;

/* A statement text the flush built for a mapper, kept for the session so
 * the next object with the same columns reuses it (and its hash). */
enum orm_sqlk {
    SQLK_INSERT = 1, SQLK_INSERT_RETURNING, SQLK_UPDATE, SQLK_DELETE,
    SQLK_INSERT_ROWS,           /* many rows' VALUES, RETURNING the columns not written */
    SQLK_DELETE_ROWS,           /* DELETE ... WHERE key IN (many) */
    SQLK_UPDATE_ROWS,           /* UPDATE ... FROM (VALUES (many)) (update_from_values) */
    SQLK_DELETE_IN,  /* DELETE ... WHERE column IN (...); mask as SQLK_SELECT_IN */
    SQLK_SELECT_IN,  /* mask: the column's index | number of keys << 16 */
    SQLK_SELECT_M2M  /* mask: the relationship's index | number of keys << 16 */
};
#define ORM_SQLC 32
typedef struct orm_sqlc {
    uint8_t kind;
    uint16_t rows;           /* SQLK_*_ROWS: how many rows */
    uint64_t mask;           /* the columns written */
    sql_text text;
} orm_sqlc;

/* A change to a many-to-many association, written at flush; or
 * (LINK_CASCADE) a deleted parent a's children under the one-to-many sr,
 * not loaded, to be deleted by their foreign key (relation.c). */
enum orm_link_op { LINK_ADD = 1, LINK_REMOVE, LINK_REMOVE_ALL, LINK_CASCADE };
typedef struct orm_link {
    const sch_rel *sr;
    orm_obj *a, *b;          /* a: the relationship's model, b: the target */
    uint8_t op;
    bool done;               /* written in the open transaction */
} orm_link;

struct corm_session {
    corm_engine *e;
    uint32_t sid;            /* this session's number, in each of its objects */
    sql_conn *conn;
    util_arena arena;
    util_err err;
    orm_list *lists;         /* per mapper rank: the objects added since the last
                                commit (pending, or written since), in add order;
                                loaded ones are in maps only */
    size_t npending, ndeleted;
    corm_autoflush autoflush;
    struct orm_map {         /* per mapper rank: the identity map of its objects that
                                have rows (persistent, deleted, gone) */
        uintptr_t *slot;     /* open addressing; a slot is an object's address with 3
                                bits of its key's hash in the low bits (objects are
                                8-aligned), so most probes of a miss touch no
                                object; 0 is empty */
        size_t n, cap;
        uint64_t miss_hash;  /* the last key orm_imap_find did not find (0: none), */
        size_t miss_slot;    /* and the empty slot where its search stopped: where
                                orm_imap_add puts it, unless the map changed since */
        int64_t last_key;    /* the integer key last looked for (orm_imap_find) */
    } *maps;
    orm_jentry *journal;
    size_t njournal, capjournal;
    size_t marks[32];        /* journal length at each savepoint */
    size_t link_marks[32];   /* and the number of many-to-many changes */
    int nest;
    bool wrote;              /* the transaction has written (or set a savepoint):
                                a rollback now has something to undo */
    uint32_t coll_epoch;     /* bumped at each restore point (commit, rollback,
                                savepoint, flush): a collection array stamped with
                                an older one is copied, and journaled, before a change */
    bool failed_commit;      /* since the last commit or rollback: loaded collections
                                may lag the keys, so cascades read them again */
    corm_query *queries;
    orm_cursor *cursors;     /* open on conn: see orm_cursor */
    sql_params params;
    sql_params rows;         /* a flush's parameters for its many-row statements */
    corm_engine *conn_e;     /* the engine s->conn came from: s->e, or a replica's */
    bool primary_only;       /* the session has written: it reads from the primary */
    bool in_unit;            /* in corm_run_in_transaction: reads begin the transaction */
    bool one_by_one;         /* flush a row per statement (to name the row a
                                many-row statement failed on) */
    bool rows_failed;        /* a many-row statement failed in this flush */
    bool expire_on_commit;   /* corm_session_set_expire_on_commit */
    util_buf sql;
    struct orm_sqlc *sqlc;   /* statement texts a flush built, ORM_SQLC per mapper */
    void *img;               /* a row being loaded, before its object is made */
    size_t capimg;
    void **scratch;          /* rows being collected */
    size_t nscratch, capscratch;
    void **owned;            /* large result arrays handed out, freed with the session */
    size_t nowned, capowned;
    orm_link *links;         /* many-to-many changes since the last commit */
    size_t nlinks, caplinks;
    uint32_t *lazy_loads;    /* per relationship (by mapper rank, index): corm_load calls */
    uint64_t *warned;        /* per mapper rank: relationships already warned about */
};

/* The object of an identity-map slot's word (its hash's tag masked off),
 * or NULL; the one in slot i of map m. */
static inline orm_obj *orm_slot_obj(uintptr_t w) { return (orm_obj *)(w & ~(uintptr_t)7); }
static inline orm_obj *orm_map_at(const struct orm_map *m, size_t i) { return orm_slot_obj(m->slot[i]); }

/* ---- object.c: objects, their images, the identity map, rows into objects */
int orm_fail(corm_session *s, int code);  /* code already in s->err */
int orm_set_error(corm_session *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
orm_obj *orm_check(corm_session *s, const void *obj);
/* A new object (corm_new), with room for its snapshot once it is written. */
orm_obj *orm_alloc(corm_session *s, const sch_mapper *mp);
int orm_list_push(util_arena_pool *pool, orm_list *l, orm_obj *o);
/* corm_add, for the layers above (a cascade's adds): s->err is not cleared. */
int orm_add(corm_session *s, void *obj);
/* Drop the entries of objects no longer pending or written in this
 * transaction; committed: of every object not pending. */
void orm_list_compact(orm_list *l, bool committed);
/* The objects of mp's identity map in state `state`, in the order of their
 * keys when these are integers (else the map's, the same run after run):
 * the order a flush writes them. Into a malloc'd array *out (free it);
 * their number, or -1 out of memory (s->err set). */
ptrdiff_t orm_map_objects(corm_session *s, const sch_mapper *mp, int state, orm_obj ***out);
/* The slot after o's fields that holds its snapshot (object.c): packed,
 * or (snap_full) the address of a whole image. */
#define SLOT_MIN sizeof(void *)
static inline unsigned char *orm_slot(orm_obj *o) { return (unsigned char *)orm_data(o) + o->mp->stride; }
static inline void *orm_slot_image(orm_obj *o)
{
    void *f;
    memcpy(&f, orm_slot(o), sizeof f);
    return f;
}
/* The full image, or NULL while the snapshot is packed (its relationship
 * fields and loaded bits then all zero). */
static inline void *orm_snap_image(orm_obj *o) { return o->snap_full ? orm_slot_image(o) : NULL; }
/* The snapshot (o->has_snap). Enough room for the image of any object
 * whose snapshot may be packed; a larger one's is always full. */
#define ORM_VIEW_MAX 1024
typedef struct orm_view { uint64_t w[ORM_VIEW_MAX / 8]; } orm_view;
/* o's snapshot as an image: the full one, or the packed one unpacked into
 * buf. Read only: it is written through the calls below. */
const void *orm_snap_view(orm_obj *o, orm_view *buf);
/* Make o's snapshot full, to write relationship state into it: the image,
 * or NULL (CORM_ENOMEM in s->err). Once full it stays full. */
void *orm_snap_full(corm_session *s, orm_obj *o);
/* Make image the snapshot, packed when it can be. CORM_ENOMEM when it
 * must become full and cannot; the snapshot is then unchanged. */
int orm_snap_store(corm_session *s, orm_obj *o, const void *image);
/* Put back a snapshot as an earlier view of it was (before), keeping its
 * collections: for undo, which cannot fail. It may take before's memory
 * (an arena image of the journal, used by nothing after). */
void orm_snap_restore(orm_obj *o, void *before);
/* A copy of the snapshot's image in the session's arena (NULL: out of
 * memory, s->err set). */
void *orm_snap_copy(corm_session *s, orm_obj *o);
/* Column c of the snapshot as a value (CORM_V_NULL when NULL); its key. */
corm_value orm_snap_value(orm_obj *o, const corm_column *c);
void orm_snap_key(orm_obj *o, corm_value *out);
/* The snapshot's loaded word (0 while packed). */
uint64_t orm_snap_loaded(orm_obj *o);
/* Normalize o's NULL flags and make its fields the snapshot (whose
 * collections stay as committed: see orm_rel_settle). CORM_ENOMEM as
 * orm_snap_store. */
int orm_take_snapshot(corm_session *s, orm_obj *o);
/* Whether o differs from its snapshot (a new object: true). */
bool orm_obj_dirty(orm_obj *o);
/* Whether column c of a persistent object differs from its snapshot; the
 * same against a view of it already made. */
bool orm_column_changed(orm_obj *o, const corm_column *c);
bool orm_column_differs(orm_obj *o, const void *snap, const corm_column *c);
/* Whether o holds anything a flush would write: pending, deleted, or
 * changed since its snapshot. */
bool orm_obj_modified(orm_obj *o);
/* The bits of o's loaded word that belong to collections (and one-to-one
 * parent fields), whose undo has journal entries of its own. */
uint64_t orm_collection_bits(const sch_mapper *mp);
/* Copy an image of o's fields from src to dst (the object or its snapshot),
 * leaving dst's collection fields and their loaded bits alone. */
void orm_image_restore(orm_obj *o, void *dst, const void *src);
/* After an expired o's columns were read again over its snapshot's: each
 * loaded many-to-one whose key the database changed is unloaded (NULL, not
 * loaded), for corm_related or corm_load to read again. */
void orm_drop_moved(orm_obj *o);
/* Keys are given as mp->npk values, one per column of the key (one, for
 * most models). */
orm_obj *orm_imap_get(corm_session *s, const sch_mapper *mp, const corm_value *key);
/* The key of the object data obj of mapper mp (its fields, or a snapshot),
 * into out (mp->npk values). */
void orm_key_of(const sch_mapper *mp, const void *obj, corm_value *out);
int orm_imap_put(corm_session *s, orm_obj *o);
/* The identity-map hash of key for mp (0 when the key cannot be one). */
uint64_t orm_imap_hash(const sch_mapper *mp, const corm_value *key);
/* orm_imap_get / orm_imap_put with the key's hash already known. */
orm_obj *orm_imap_find(corm_session *s, const sch_mapper *mp, const corm_value *key, uint64_t h);
int orm_imap_add(corm_session *s, orm_obj *o, uint64_t h);
/* Room in mp's map for the rows of st (at most max), made at once when the
 * client knows how many it has (drv_driver.row_count: a server's result
 * read whole): no growth, and no rehash, as they are added. Called at a
 * load's first row. The rows may be objects the map holds already: it
 * asks for room for as many objects as there are rows in all, not for that
 * many more (a map that must grow past them still does, as they come). */
int orm_imap_expect(corm_session *s, const sch_mapper *mp, drv_stmt *st, size_t max);
void orm_imap_del(corm_session *s, orm_obj *o);
int orm_scratch_push(corm_session *s, void *p);
/* The collected rows as an array the session owns (NULL when none or out
 * of memory: check s->nscratch). */
void **orm_scratch_take(corm_session *s);
/* The key of mp in column i of the current row: an integer or (uncopied)
 * text. CORM_ETYPE for another kind, CORM_ENOMEM when the driver could not
 * make the text; either with the session's error set (orm_row_key_fail,
 * out of line: this is read on every row loaded). */
int orm_row_key_fail(corm_session *s, const sch_mapper *mp, const corm_value *k);
static inline int orm_row_key(corm_session *s, const sch_mapper *mp, drv_stmt *st, int i,
                              corm_value *k)
{
    corm_vkind kind = s->conn->drv->column(st, i, k);
    if (kind == CORM_V_INT || (kind == CORM_V_TEXT && k->u.text.p))
        return CORM_OK;
    return orm_row_key_fail(s, mp, k);
}
/* Load the current row of st as an object of mp: cols[i] is the model
 * column of result column i (NULL: skip). An object already in the identity
 * map is returned as it is (LOAD_KEEP) or read again (LOAD_OVERWRITE), or
 * read again unless it holds changes not yet written (LOAD_FRESHEN: rows
 * read with their locks, which must not be judged by older values);
 * LOAD_NEW says the caller knows the map lacks it; LOAD_STREAM makes an
 * object the session does not track (OBJ_STREAMED: no map, no list, no
 * snapshot). */
enum orm_load { LOAD_KEEP, LOAD_OVERWRITE, LOAD_NEW, LOAD_FRESHEN, LOAD_STREAM };
/* Or'ed into how: the object's relationships are loaded next (an eager
 * load's rows), so a new object's snapshot is made full at once. */
#define LOAD_FULL 16
int orm_load_row(corm_session *s, const sch_mapper *mp, drv_stmt *st,
                 const corm_column *const *cols, size_t ncols, int how, orm_obj **out);

/* ---- event.c */
/* Run o's (or, o NULL, the session's) hooks for ev; CORM_OK, or
 * the refusal's code with s->err set. */
int orm_event_run(corm_session *s, corm_event ev, orm_obj *o);
static inline bool orm_event_on(corm_session *s, corm_event ev, const sch_mapper *mp)
{
    uint16_t bits = mp ? (s->e->events ? s->e->events[mp->rank] : 0) : s->e->session_events;
    return bits >> ev & 1;
}
#define ORM_EVENT(s, ev, o) (orm_event_on((s), (ev), (o)->mp) ? orm_event_run((s), (ev), (o)) : CORM_OK)

/* ---- txn.c: the session's connection and transaction */
int orm_conn(corm_session *s);            /* the session's connection, as it is */
int orm_read(corm_session *s);            /* ready to read (driver's reads_begin) */
int orm_begin(corm_session *s);           /* in a transaction, to write */
/* Give the connection back to its pool (its transaction rolled back, its
 * cursors closed and marked cut). */
void orm_release_conn(corm_session *s);
/* Open c on st, a statement just run on s->conn; close it: reset st, and
 * off the session's list (a closed cursor: nothing). */
void orm_cursor_open(corm_session *s, orm_cursor *c, drv_stmt *st);
void orm_cursor_close(orm_cursor *c);
int orm_journal(corm_session *s, orm_obj *o, enum orm_jkind kind, bool pk_assigned,
                unsigned char *before);

/* ---- statement.c: statement texts, built once per session */
/* The text of a statement of `kind` for mp writing the columns in `mask`,
 * built once per session (NULL when out of memory, s->err set). */
const sql_text *orm_statement(corm_session *s, const sch_mapper *mp, enum orm_sqlk kind,
                              uint64_t mask);
/* The same for the SQLK_*_ROWS kinds, of `rows` rows. */
const sql_text *orm_statement_rows(corm_session *s, const sch_mapper *mp, enum orm_sqlk kind,
                                   uint64_t mask, size_t rows);

/* ---- relation.c: relationships */
/* Load sr for the n objects (all of sr's model); when next is not NULL,
 * the distinct related objects are collected there (a malloc'd array).
 * whole: the objects are every row of their table, so a to-many can be read
 * with one scan of the target instead of key lists. */
int orm_rel_load(corm_session *s, const sch_rel *sr, orm_obj **objs, size_t n, bool whole,
                 orm_obj ***next, size_t *nnext);
/* Before a flush: add the transient targets of pending objects' to-one
 * pointers (save-update cascade), and copy keys from to-one pointers into
 * foreign keys. */
int orm_rel_presync(corm_session *s, orm_obj *o);
/* Delete the children of o that cascade (its loaded collections, and
 * whatever children were added to them); drop o's many-to-many links.
 * A pending o's children go with it too (else they would add it back). */
int orm_rel_cascade_delete(corm_session *s, orm_obj *o);
/* Fill relationship field sr of the n parents from rows just read: kids[i]
 * came in a row that names parent_of[i] (NULL: none). What the user changed
 * and has not flushed wins over the rows: a child pointed elsewhere stays
 * there, one added to a parent's collection stays in it. */
int orm_rel_attach(corm_session *s, const sch_rel *sr, orm_obj **parents, size_t n,
                   orm_obj **parent_of, orm_obj **kids, size_t nkids);
/* A failed commit: o's snapshot goes back to the image `before` (as the
 * database has it again); the user's values stay. Returns the to-one
 * pointers the user had not moved (loaded, or set by the flush), which
 * orm_rel_repoint then makes "not loaded", once every object is undone. */
uint64_t orm_rel_rebase(orm_obj *o, const unsigned char *before);
void orm_rel_repoint(corm_session *s, orm_obj *o, uint64_t follow);
/* The snapshot takes o's to-one pointers: a flush found them pointing
 * where the keys, unchanged, already point. CORM_ENOMEM when the snapshot
 * cannot become full to hold them. */
int orm_rel_sync_pointers(corm_session *s, orm_obj *o);
/* Undo a J_LOADED or J_COLL entry: the relationship field (and, for a
 * load, its snapshot) as it was before. */
void orm_rel_unload(orm_obj *o, const unsigned char *before, bool load);
/* After a failed commit, for a J_COLL or J_LOADED entry: children that went elsewhere,
 * or came back, as the keys now say (through the journal). */
int orm_rel_reconcile(corm_session *s, orm_obj *o, const unsigned char *before);
/* After COMMIT, for a J_COLL or J_LOADED entry: children that went elsewhere (a key
 * set by hand across a failed commit can leave one behind) leave the
 * collection, and the snapshot takes it as committed. */
void orm_rel_settle(corm_session *s, orm_obj *o, const unsigned char *before);
/* corm_delete, for the layers above and the cascade itself: s->err is not
 * cleared. */
int orm_delete(corm_session *s, void *obj);
/* Write the many-to-many changes not written yet. */
int orm_rel_write_links(corm_session *s);
/* Before a flush writes anything: the objects the session holds whose
 * parent is to be deleted by a LINK_CASCADE are deleted as objects. */
int orm_rel_cascade_held(corm_session *s);

/* ---- undo.c: the journal played back */
/* Undo the journal back to entry `mark`; keep: leave user's values (failed
 * flush), else restore committed values (rollback). */
void orm_undo(corm_session *s, size_t mark, bool keep);

/* ---- flush.c: writing the unit of work */
/* Write pending changes. Inserts and deletes always go; loaded objects are
 * checked for changes in every mapper (ORM_SCAN_ALL), in `mp` only
 * (ORM_SCAN_ONE) or not at all (ORM_SCAN_NONE). */
enum orm_scan { ORM_SCAN_NONE, ORM_SCAN_ONE, ORM_SCAN_ALL };
int orm_flush(corm_session *s, enum orm_scan scan, const sch_mapper *mp);
/* The flush a query of mp (NULL: raw SQL, any model) runs first, by the
 * session's autoflush mode. */
int orm_autoflush(corm_session *s, const sch_mapper *mp);
/* Fill s->err with a sentence for a database error on object o. */
int orm_db_error(corm_session *s, orm_obj *o, int code);

/* ---- query.c: queries */
void orm_queries_free(corm_session *s);

#endif
