/*
 * undo.c — playing the transaction's journal back.
 *
 * Every INSERT, UPDATE and DELETE a flush runs records the object's state
 * before it (orm_journal, txn.c), so that a rollback can put each object
 * back: either as the user left it (a failed flush: fix and commit again)
 * or as last committed (rollback, or a savepoint's). Collections have
 * entries of their own (relation.c): the array before a change (J_COLL) or
 * before a load inside a transaction (J_LOADED). Undo never allocates:
 * deleted objects stay listed and mapped until COMMIT.
 *
 * It sits above relation.c (a collection's undo is the relationship's
 * business) and under flush.c, session.c and merge.c, which undo.
 */
#include "orm/orm.h"

#include <string.h>

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
                orm_image_restore(o, orm_data(o), j->before);
                orm_snap_restore(o, j->before); /* last: it may take before */
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
            if (!keep) { /* what was changed before the delete, never written */
                orm_view v;
                orm_image_restore(o, orm_data(o), orm_snap_view(o, &v));
            }
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
