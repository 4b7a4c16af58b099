/*
 * event.c — hooks on the flush and the session's transaction (corm_listen),
 * SQLAlchemy's mapper and session events.
 *
 * The engine keeps its listeners in the order registered and, per mapper,
 * a bit per event that has any: a flush tests the bit (ORM_EVENT in
 * orm.h) and pays nothing more when no hook is registered. A hook that
 * refuses returns a CORM_E* code; orm_event_run turns it into the
 * session's error, and the caller's failure path (the flush's rollback and
 * undo) does the rest.
 */
#include "orm/orm.h"
#include "util/alloc.h"

#include <stdio.h>

static const char *const names[] = {
    [CORM_BEFORE_INSERT] = "before_insert", [CORM_AFTER_INSERT] = "after_insert",
    [CORM_BEFORE_UPDATE] = "before_update", [CORM_AFTER_UPDATE] = "after_update",
    [CORM_BEFORE_DELETE] = "before_delete", [CORM_AFTER_DELETE] = "after_delete",
    [CORM_BEFORE_COMMIT] = "before_commit", [CORM_AFTER_COMMIT] = "after_commit",
    [CORM_AFTER_ROLLBACK] = "after_rollback",
};

int corm_listen_(corm_engine *e, corm_event ev, const corm_model *m, corm_event_fn fn, void *ud)
{
    if (!e)
        return CORM_EINVAL;
    bool session_ev = ev >= CORM_BEFORE_COMMIT && ev <= CORM_AFTER_ROLLBACK;
    if (ev < CORM_BEFORE_INSERT || ev > CORM_AFTER_ROLLBACK || !fn || session_ev != !m)
        return util_err_set(&e->err, CORM_EINVAL, "corm_listen: %s",
                            !fn ? "no hook function" :
                            ev < CORM_BEFORE_INSERT || ev > CORM_AFTER_ROLLBACK ? "no such event" :
                            session_ev ? "a session event takes no model" :
                                         "an object event needs a model");
    const sch_mapper *mp = m ? sch_find(&e->meta, m) : NULL;
    if (m && !mp)
        return util_err_set(&e->err, CORM_EINVAL, "corm_listen: model %s is not registered with "
                            "the engine", m->name);
    if (mp && !e->events && !(e->events = util_calloc(e->meta.n, sizeof *e->events)))
        return util_err_set(&e->err, CORM_ENOMEM, "out of memory registering a hook");
    if (util_grow(&e->listeners, &e->caplisteners, e->nlisteners, sizeof *e->listeners, 4) < 0)
        return util_err_set(&e->err, CORM_ENOMEM, "out of memory registering a hook");
    e->listeners[e->nlisteners++] = (struct orm_listener){ ev, mp, fn, ud };
    if (mp)
        e->events[mp->rank] |= (uint16_t)(1u << ev);
    else
        e->session_events |= (uint16_t)(1u << ev);
    return CORM_OK;
}

int orm_event_run(corm_session *s, corm_event ev, orm_obj *o)
{
    const corm_engine *e = s->e;
    for (size_t i = 0; i < e->nlisteners; i++) {
        const struct orm_listener *l = &e->listeners[i];
        if (l->ev != ev || l->mp != (o ? o->mp : NULL))
            continue;
        int rc = l->fn(s, o ? orm_data(o) : NULL, l->ud);
        if (rc >= 0)
            continue;
        if (!o)
            return orm_set_error(s, rc, "the %s hook refused (%s)", names[ev], corm_err_name(rc));
        char repr[256];
        return orm_set_error(s, rc, "%s: the %s hook refused %s (%s)", o->mp->model->name,
                             names[ev], corm_repr(orm_data(o), repr, sizeof repr),
                             corm_err_name(rc));
    }
    return CORM_OK;
}
