/*
 * flush.c — the unit of work: turning the session's objects into INSERT,
 * UPDATE and DELETE statements, in foreign-key order, inside the session's
 * transaction.
 *
 * Inserts go parents first (the mappers are sorted that way), deletes
 * children first. An UPDATE names only the columns whose value differs
 * from the snapshot, and an unchanged object writes nothing. Each
 * statement's values are validated as they are bound, before the
 * statement is sent. On any error the transaction is rolled back and the
 * journal puts every object back as the user left it.
 */
#include "orm/orm.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

/* NULL as the flush sees it: a NULL pointer, or a flagged scalar field that
 * still holds zero (see orm_zero). */
static bool eff_null(orm_obj *o, const corm_column *c)
{
    if (orm_is_pointer(c))
        return sql_field_value(c, orm_data(o), false).kind == CORM_V_NULL;
    return orm_bit(orm_nulls(o), c) && orm_zero(orm_data(o), c);
}

/* A sentence for a database error while writing o. */
int orm_db_error(corm_session *s, orm_obj *o, int code)
{
    const corm_model *m = o->mp->model;
    char db[sizeof s->err.msg], vb[96];
    snprintf(db, sizeof db, "%s", s->err.msg);
    const corm_column *c = NULL;
    /* the database named the column: "user.email" or "user.a, user.b" */
    if (s->err.detail[0]) {
        for (size_t i = 0; i < m->ncolumns && !c; i++) {
            char want[256];
            snprintf(want, sizeof want, "%s.%s", m->table, m->columns[i]->name);
            const char *hit = strstr(s->err.detail, want);
            size_t n = strlen(want);
            if (hit && (hit[n] == '\0' || hit[n] == ',' || hit[n] == ' '))
                c = m->columns[i];
        }
    }
    /* MariaDB names only the key, which for a column's UNIQUE is the column */
    for (size_t i = 0; !c && s->err.detail[0] && !strchr(s->err.detail, '.') && i < m->ncolumns; i++)
        if (strcmp(s->err.detail, m->columns[i]->name) == 0)
            c = m->columns[i];
    /* SQLite names a failed CHECK by its expression */
    for (size_t i = 0; !c && code == CORM_ECHECK && s->err.detail[0] && i < m->ncolumns; i++)
        if (m->columns[i]->check && strcmp(s->err.detail, m->columns[i]->check) == 0)
            c = m->columns[i];
    if (!c && code == CORM_EFOREIGNKEY)
        for (size_t i = 0; i < m->ncolumns && !c; i++)
            if (m->columns[i]->fk)
                c = m->columns[i];
    if (c) {
        corm_value v = sql_field_value(c, orm_data(o), eff_null(o, c));
        util_value_repr(&v, vb, sizeof vb);
        if (code == CORM_EFOREIGNKEY && c->fk)
            return orm_set_error(s, code, "%s.%s: value %s %s (references %s.%s) [%s]", m->name,
                                 c->name, c->flags & CORM_SENSITIVE ? "***" : vb,
                                 corm_strerror(code), c->fk->model->name, c->fk->name, db);
        if (code == CORM_ECHECK && c->check)
            return orm_set_error(s, code, "%s.%s: value %s: %s (CHECK %s) [%s]", m->name, c->name,
                                 c->flags & CORM_SENSITIVE ? "***" : vb, corm_strerror(code),
                                 c->check, db);
        return orm_set_error(s, code, "%s.%s: value %s: %s [%s]", m->name, c->name,
                             c->flags & CORM_SENSITIVE ? "***" : vb, corm_strerror(code), db);
    }
    char repr[512];
    return orm_set_error(s, code, "%s: %s for %s [%s]", m->name, corm_strerror(code),
                         corm_repr(orm_data(o), repr, sizeof repr), db);
}

static int push(corm_session *s, const corm_column *c, const corm_value *v)
{
    sql_param *p = sql_params_push(&s->params);
    if (!p)
        return orm_set_error(s, CORM_ENOMEM, "out of memory binding %s.%s", c->model->name, c->name);
    return sql_param_set(p, c, v, true, &s->err);
}

/* ---- batches ----------------------------------------------------------------------
 *
 * Each INSERT, UPDATE and DELETE of a flush is started (its values bound)
 * and later finished (its result read: keys and server defaults, rows
 * changed; the journal written). Two kinds of batch save statements:
 *
 * Rows. The INSERTs of one model and column set, and the DELETEs of one
 * model, are collected (their parameters in s->rows) and written by
 * statements of many rows: INSERT ... VALUES (...), (...) RETURNING the
 * columns the database filled in, DELETE ... WHERE key IN (...); and where
 * the driver has no send (SQLite), the UPDATEs of one column set too:
 * UPDATE ... FROM (VALUES (...), ...), the rows it changed counted against
 * the rows it was given (one missing: find_gone names it). A batch is
 * cut into chunks of powers of two (256, 128, ..., 1 rows), so that a model
 * needs at most nine texts of each, each prepared once per connection. The
 * three databases return RETURNING's rows in the order of VALUES, which is
 * the order they assign keys in: each object takes its row, and the keys
 * are checked to rise. A many-row statement the database refuses does not
 * say which row it refused: the flush is then rolled back and run again a
 * row per statement (s->one_by_one), so that the error names the object,
 * as it would have without batches. An INSERT whose key the user gave and
 * whose server defaults come back has no order to match rows by: it runs
 * a row per statement.
 *
 * Sent. Where the driver sends statements without waiting (libpq's
 * pipeline mode; MariaDB's array binding, for statements without keys to
 * read back), up to ORM_BATCH UPDATEs (and what runs a row per statement)
 * of one text are sent before the first result is read. An array binding
 * that fails does not say which row failed either: the flush then runs
 * again a row per statement, as for a many-row statement.
 *
 * Elsewhere each statement finishes as soon as it is started. A statement
 * of another shape, or anything else on the connection, waits until the
 * batch is finished. */

#define ORM_BATCH 256 /* a power of two */

typedef struct sent {
    orm_obj *o;
    drv_stmt *st;
    unsigned char *before;   /* INSERT: the object before server defaults were read
                                back; UPDATE: the old snapshot */
    enum orm_sqlk kind;
    bool pk_assigned, returning;
    int rc;                  /* not sent: what the statement's step gave */
} sent;

typedef struct batch {
    sent v[ORM_BATCH];
    size_t n;
    bool rows;               /* collected for many-row statements (none run yet) */
    bool via_send;           /* sent with the driver's send, to be read with recv */
    enum orm_sqlk kind;      /* rows: SQLK_INSERT_ROWS, SQLK_UPDATE_ROWS or SQLK_DELETE_ROWS */
    uint64_t mask;           /* rows: the columns written */
    size_t per;              /* rows: parameters per row */
    uint64_t hash;           /* sent: the text the statements run, by its hash and
                                length (its slot in s->sqlc may be taken since) */
    size_t len;
} batch;

static int finish_insert(corm_session *s, sent *e, int rc);
static int inserted(corm_session *s, sent *e);
static int finish_update(corm_session *s, sent *e, bool counted);
static int finish_delete(corm_session *s, sent *e);

/* Read and drop the results of the statements sent from `from` on (after
 * a failure: a rollback follows). */
static void batch_abandon(corm_session *s, batch *b, size_t from)
{
    util_err ignored;
    for (size_t i = from; i < b->n && b->via_send && !b->rows; i++)
        if (s->conn->drv->recv(b->v[i].st, &ignored) < 0)
            break; /* the driver dropped the rest itself */
    b->n = 0;
    s->rows.n = 0;
}

/* A version column's value in the snapshot (what the row was read at). */
static int64_t version_read(orm_obj *o)
{
    return orm_snap_value(o, o->mp->version).u.i;
}

/* The error of an UPDATE or a versioned DELETE that matched no row. */
static int gone(corm_session *s, orm_obj *o)
{
    char repr[256];
    if (o->mp->version) {
        char vb[96];
        corm_value key = orm_snap_value(o, o->mp->pk);
        return orm_set_error(s, CORM_ESTALE, "%s %s = %s%s: the row was changed or deleted by "
                             "someone else since it was read at %s %lld (reload it with "
                             "corm_refresh, then make the change again)", o->mp->model->name,
                             o->mp->pk->name, util_value_repr(&key, vb, sizeof vb),
                             o->mp->npk > 1 ? ", ..." : "", o->mp->version->name,
                             (long long)version_read(o));
    }
    return orm_set_error(s, CORM_ENOTFOUND, "%s: the row of %s is gone (deleted by another "
                         "transaction?)", o->mp->model->name,
                         corm_repr(orm_data(o), repr, sizeof repr));
}

/* After a batch of UPDATEs matched fewer rows in all than it sent, and the
 * driver cannot tell which: the object of v[0..n) that has no row, asked
 * of the database one by one in the same transaction, named (ENOTFOUND);
 * or the error the asking met (a Galera node that aborted the transaction
 * meanwhile: EBUSY); or, when every row is there, CORM_EBUSY: the rows
 * were there but the batch did not count them, so its outcome is unknown
 * and the transaction is rolled back to be run again. */
static int find_gone(corm_session *s, sent *v, size_t n)
{
    const drv_driver *d = s->conn->drv;
    for (size_t i = 0; i < n; i++) {
        const sch_mapper *mp = v[i].o->mp;
        corm_value key[8];
        orm_snap_key(v[i].o, key);
        drv_stmt *st;
        s->params.n = 0;
        int rc = CORM_OK;
        for (size_t c = 0; rc == CORM_OK && c < mp->npk; c++) {
            sql_param *p = sql_params_push(&s->params);
            rc = !p ? orm_set_error(s, CORM_ENOMEM, "out of memory")
                    : sql_param_set(p, mp->pks[c], &key[c], false, &s->err);
        }
        if (rc < 0 || (rc = sql_run_text(s->conn, &mp->sql_get, &s->params, &st, &s->err)) < 0)
            return rc;
        rc = d->step(st, &s->err);
        d->reset(st);
        if (rc == 0)
            return gone(s, v[i].o);
        if (rc < 0)
            return rc;
    }
    return orm_set_error(s, CORM_EBUSY, "%s: a batch of %zu UPDATEs matched fewer rows than it "
                         "sent, yet every row is there (the server did not count them all): "
                         "rolled back, run it again", v[0].o->mp->model->name, n);
}

/* Run the collected rows v[from, from + k) as one statement and finish each. */
static int run_rows(corm_session *s, batch *b, size_t from, size_t k)
{
    const drv_driver *d = s->conn->drv;
    sent *v = &b->v[from];
    const sch_mapper *mp = v->o->mp;
    const corm_model *m = mp->model;
    sql_params ps = { s->rows.p + from * b->per, k * b->per, k * b->per };
    const sql_text *t = b->kind == SQLK_UPDATE_ROWS && k == 1 /* its parameters in the same order */
                            ? orm_statement(s, mp, SQLK_UPDATE, b->mask)
                            : orm_statement_rows(s, mp, b->kind, b->mask, k);
    drv_stmt *st;
    int rc;
    if (!t)
        return s->err.code;
    if ((rc = sql_run_text(s->conn, t, &ps, &st, &s->err)) < 0)
        return rc;
    size_t r = 0;
    int64_t last = INT64_MIN;
    while ((rc = d->step(st, &s->err)) == 1 && r < k) {
        orm_obj *o = v[r].o;
        void *obj = orm_data(o);
        for (size_t i = 0, j = 0; i < m->ncolumns && rc >= 0; i++)
            if (!(b->mask >> i & 1))
                rc = sql_field_load(d, st, (int)j++, m->columns[i], obj,
                                    orm_flagged(m->columns[i]) ? orm_nulls(o) : NULL, &s->arena,
                                    &s->err);
        if (rc < 0)
            break;
        if (v[r].pk_assigned) {
            int64_t id;
            memcpy(&id, (char *)obj + mp->pk->offset, sizeof id);
            if (id <= last) {
                d->reset(st);
                return orm_set_error(s, CORM_ESQL, "%s: the database gave the keys of a many-row "
                                     "INSERT out of order; nothing was written", m->name);
            }
            last = id;
        }
        r++;
    }
    if (rc < 0) {
        d->reset(st);
        s->rows_failed = k > 1;
        return orm_db_error(s, v->o, rc);
    }
    bool back = b->kind == SQLK_INSERT_ROWS && (v->pk_assigned || v->returning);
    if (rc == 1 || (back && r != k)) {
        d->reset(st);
        return orm_set_error(s, CORM_ESQL, "%s: a many-row INSERT of %zu rows returned %s%zu; "
                             "nothing was written", m->name, k, rc == 1 ? "more than " : "", r);
    }
    /* an UPDATE of k rows that changed fewer: one of them is gone */
    if (b->kind == SQLK_UPDATE_ROWS && d->changes(s->conn->dc) != (int64_t)k)
        return find_gone(s, v, k);
    for (size_t i = 0; i < k; i++) {
        if (b->kind == SQLK_DELETE_ROWS)
            rc = finish_delete(s, &v[i]);
        else if (b->kind == SQLK_UPDATE_ROWS)
            rc = finish_update(s, &v[i], true);
        else
            rc = inserted(s, &v[i]);
        if (rc < 0)
            return rc;
    }
    return CORM_OK;
}

/* Read the results of everything started, in order, and finish each. */
static int batch_finish(corm_session *s, batch *b)
{
    const drv_driver *d = s->conn->drv;
    int rc = CORM_OK;
    if (b->rows) {
        for (size_t from = 0, k; from < b->n && rc == CORM_OK; from += k) {
            for (k = ORM_BATCH; k > b->n - from; k >>= 1)
                ;
            rc = run_rows(s, b, from, k);
        }
        b->n = 0;
        s->rows.n = 0;
        return rc;
    }
    for (size_t i = 0; i < b->n; i++) {
        sent *e = &b->v[i];
        rc = b->via_send ? d->recv(e->st, &s->err) : e->rc;
        if (rc < 0) { /* the driver dropped what was left */
            /* an array binding's failure does not say which row failed */
            s->rows_failed |= d->send_counts_only && b->n > 1;
            b->n = 0;
            return orm_db_error(s, e->o, rc);
        }
        if (e->kind == SQLK_UPDATE && d->changes(s->conn->dc) < 0) {
            /* the batch matched too few rows, the driver cannot say which */
            size_t n = b->n;
            batch_abandon(s, b, i + 1);
            return find_gone(s, b->v, n);
        }
        if (e->kind == SQLK_UPDATE)
            rc = finish_update(s, e, false);
        else if (e->kind == SQLK_DELETE)
            rc = finish_delete(s, e);
        else
            rc = finish_insert(s, e, rc);
        if (rc < 0) {
            batch_abandon(s, b, i + 1);
            return rc;
        }
    }
    b->n = 0;
    return CORM_OK;
}

/* Collect the row e of a many-row statement of `kind`, its parameters in
 * s->params; finishing the batch first when it holds another shape or is
 * full. */
static int batch_row(corm_session *s, batch *b, enum orm_sqlk kind, uint64_t mask, sent *e)
{
    int rc;
    if (b->n && (!b->rows || b->kind != kind || b->mask != mask || b->v[0].o->mp != e->o->mp ||
                 b->n == ORM_BATCH) && (rc = batch_finish(s, b)) < 0)
        return rc;
    if ((rc = orm_begin(s)) < 0) /* the transaction begins at the first write */
        return rc;
    while (s->rows.cap < s->rows.n + s->params.n)
        if (util_grow(&s->rows.p, &s->rows.cap, s->rows.cap, sizeof *s->rows.p, 256) < 0)
            return orm_set_error(s, CORM_ENOMEM, "out of memory writing a %s",
                                 e->o->mp->model->name);
    memcpy(s->rows.p + s->rows.n, s->params.p, s->params.n * sizeof *s->params.p);
    s->rows.n += s->params.n;
    b->rows = true;
    b->kind = kind;
    b->mask = mask;
    b->per = s->params.n;
    b->v[b->n++] = *e;
    return CORM_OK;
}

/* Start the statement t with the session's parameters for e->o (sent, or
 * run), finishing what was started before when t differs or the batch is
 * full. */
static int batch_send(corm_session *s, batch *b, const sql_text *t, sent *e)
{
    const drv_driver *d = s->conn->drv;
    /* an array binding counts rows for the whole array only: not for a
     * versioned row, whose miss must be named */
    bool via_send = d->send && !(d->send_counts_only && (e->kind == SQLK_INSERT || s->one_by_one ||
                                                        e->o->mp->version));
    int rc;
    if (!t)
        return s->err.code;
    if (b->n && (b->rows || !via_send || b->n == ORM_BATCH || b->hash != t->hash ||
                 b->len != t->len)) {
        /* another statement is prepared only once nothing is on its way;
         * the parameters of e are in s->params, which the reads leave alone */
        if ((rc = batch_finish(s, b)) < 0)
            return rc;
    }
    if ((rc = orm_begin(s)) < 0)
        return rc;
    if ((rc = sql_run_text(s->conn, t, &s->params, &e->st, &s->err)) < 0)
        return rc;
    e->rc = via_send ? d->send(e->st, &s->err) : d->step(e->st, &s->err);
    if (e->rc < 0)
        return orm_db_error(s, e->o, e->rc);
    b->v[b->n++] = *e;
    b->rows = false;
    b->via_send = via_send;
    b->hash = t->hash;
    b->len = t->len;
    return via_send ? CORM_OK : batch_finish(s, b);
}

/* ---- INSERT, UPDATE, DELETE ------------------------------------------------------ */

static bool unset(orm_obj *o, const corm_column *c)
{
    const sch_mapper *mp = o->mp;
    return !sql_field_differs(c, orm_data(o), mp->proto) &&
           (orm_is_pointer(c) ||
            orm_bit(orm_nulls(o), c) == orm_bit(sch_proto_nulls(mp), c));
}

/* Start the INSERT of o; 1 (nothing done) when a to-one target has no key yet. */
static int insert(corm_session *s, batch *b, orm_obj *o)
{
    const sch_mapper *mp = o->mp;
    const corm_model *m = mp->model;
    const drv_driver *d = s->conn->drv;
    void *obj = orm_data(o);
    sent e = { .o = o, .kind = SQLK_INSERT };
    uint64_t mask = 0;
    bool dflt = false; /* a server default comes back */
    int rc;
    if (mp->has_to_one && (rc = orm_rel_presync(s, o)) != CORM_OK)
        return rc;
    if ((rc = ORM_EVENT(s, CORM_BEFORE_INSERT, o)) < 0)
        return rc;
    s->params.n = 0;
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        if (c == mp->pk && mp->pk_autoinc && unset(o, c)) {
            e.pk_assigned = true;
            continue;
        }
        if (c->server_default && unset(o, c)) {
            dflt = true;
            continue;
        }
        if (c == mp->version && unset(o, c)) { /* a new row is at version 1 */
            int64_t one = 1;
            memcpy((char *)obj + c->offset, &one, sizeof one);
            corm_set_null(obj, c, false);
        }
        corm_value v = sql_field_value(c, obj, eff_null(o, c));
        if ((rc = push(s, c, &v)) < 0)
            return rc;
        mask |= (uint64_t)1 << i;
    }
    /* rows come back in order, matched to objects by it: not for a key the
     * user gave with server defaults to read (nor DEFAULT VALUES) */
    bool rows = mask && !s->one_by_one && (e.pk_assigned || !dflt);
    e.returning = dflt || (!rows && e.pk_assigned && !d->last_insert_id);
    if (e.returning && !(e.before = util_arena_memdup(&s->arena, obj, o->mp->stride)))
        return orm_set_error(s, CORM_ENOMEM, "out of memory writing a %s", m->name);
    if (rows)
        return batch_row(s, b, SQLK_INSERT_ROWS, mask, &e);
    return batch_send(s, b, orm_statement(s, mp, e.returning ? SQLK_INSERT_RETURNING : SQLK_INSERT,
                                          mask), &e);
}

/* The INSERT of one row ran (rc: as its step gave): keys and server defaults back. */
static int finish_insert(corm_session *s, sent *e, int rc)
{
    orm_obj *o = e->o;
    const sch_mapper *mp = o->mp;
    const corm_model *m = mp->model;
    const drv_driver *d = s->conn->drv;
    void *obj = orm_data(o);
    if (e->returning && rc == 1) {
        for (size_t i = 0; i < m->ncolumns; i++)
            if ((rc = sql_field_load(d, e->st, (int)i, m->columns[i], obj,
                                     orm_flagged(m->columns[i]) ? orm_nulls(o) : NULL, &s->arena,
                                     &s->err)) < 0)
                return rc;
        while ((rc = d->step(e->st, &s->err)) == 1)
            ;
        if (rc < 0)
            return rc;
    } else if (e->pk_assigned) {
        int64_t id = d->last_insert_id(s->conn->dc);
        memcpy((char *)obj + mp->pk->offset, &id, sizeof id);
    }
    return inserted(s, e);
}

/* The row of e->o is in the database, with its key. */
static int inserted(corm_session *s, sent *e)
{
    orm_obj *o = e->o;
    int rc;
    if ((rc = orm_journal(s, o, J_INSERTED, e->pk_assigned, e->before)) < 0)
        return rc;
    o->state = OBJ_PERSISTENT; /* (a failure below is undone as the insert is) */
    s->npending--;
    if ((rc = orm_take_snapshot(s, o)) < 0 || (rc = orm_imap_put(s, o)) < 0)
        return rc;
    return ORM_EVENT(s, CORM_AFTER_INSERT, o);
}

/* The key, and the version the row was read at: the WHERE of an UPDATE
 * or DELETE. */
static int bind_pk(corm_session *s, orm_obj *o, const void *snap)
{
    const sch_mapper *mp = o->mp;
    orm_view view;
    if (!snap)
        snap = o->has_snap ? orm_snap_view(o, &view) : orm_data(o);
    int rc = CORM_OK;
    for (size_t c = 0; rc == CORM_OK && c < mp->npk; c++) {
        corm_value v = sql_field_value(mp->pks[c], snap, false);
        sql_param *p = sql_params_push(&s->params);
        if (!p)
            return orm_set_error(s, CORM_ENOMEM, "out of memory");
        rc = sql_param_set(p, mp->pks[c], &v, false, &s->err);
    }
    if (rc < 0 || !o->mp->version)
        return rc;
    corm_value ver = corm_v_int(sql_field_value(mp->version, snap, false).u.i);
    return push(s, o->mp->version, &ver);
}

/* may_wait: an object whose to-one points at a pending object writes
 * nothing and returns 1, to be updated once that one is inserted. */
static int update(corm_session *s, batch *b, orm_obj *o, bool may_wait)
{
    const sch_mapper *mp = o->mp;
    const corm_model *m = mp->model;
    void *obj = orm_data(o);
    uint64_t mask = 0;
    int rc = CORM_OK;
    if (!o->has_snap)
        return CORM_OK;
    if (mp->has_to_one && (rc = orm_rel_presync(s, o)) < 0)
        return rc;
    if (rc == 1 && may_wait)
        return 1;
    if (orm_event_on(s, CORM_BEFORE_UPDATE, mp) && orm_obj_dirty(o) &&
        (rc = orm_event_run(s, CORM_BEFORE_UPDATE, o)) < 0)
        return rc;
    orm_view view;
    const void *snap = orm_snap_view(o, &view);
    for (size_t k = 0; k < mp->npk; k++)
        if (sql_field_differs(mp->pks[k], obj, snap)) {
            char vb[96];
            corm_value v = sql_field_value(mp->pks[k], obj, false);
            return orm_set_error(s, CORM_ESTATE, "%s.%s: the primary key of a persistent object "
                                 "cannot change (to %s)", m->name, mp->pks[k]->name,
                                 util_value_repr(&v, vb, sizeof vb));
        }
    s->params.n = 0;
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        if ((c->flags & CORM_PRIMARY_KEY) || c == mp->version || !orm_column_differs(o, snap, c))
            continue;
        corm_value v = sql_field_value(c, obj, eff_null(o, c));
        if ((rc = push(s, c, &v)) < 0)
            return rc;
        mask |= (uint64_t)1 << i;
    }
    if (!mask) /* nothing to write; a to-one moved where its key already was */
        return mp->has_to_one ? orm_rel_sync_pointers(s, o) : CORM_OK;
    if (mp->version) { /* the next version, set in the object once written */
        corm_value next = corm_v_int(sql_field_value(mp->version, snap, false).u.i + 1);
        if ((rc = push(s, mp->version, &next)) < 0)
            return rc;
        mask |= (uint64_t)1 << mp->version->index;
    }
    if ((rc = bind_pk(s, o, snap)) < 0)
        return rc;
    sent e = { .o = o, .kind = SQLK_UPDATE };
    if (!(e.before = util_arena_memdup(&s->arena, snap, mp->stride)))
        return orm_set_error(s, CORM_ENOMEM, "out of memory writing a %s", m->name);
    /* a versioned row's UPDATE is counted alone: a miss is that row's */
    if (s->conn->drv->update_from_values && !s->one_by_one && !mp->version && mp->npk == 1)
        return batch_row(s, b, SQLK_UPDATE_ROWS, mask, &e);
    return batch_send(s, b, orm_statement(s, mp, SQLK_UPDATE, mask), &e);
}

/* counted: the rows changed were checked for the whole statement. */
static int finish_update(corm_session *s, sent *e, bool counted)
{
    orm_obj *o = e->o;
    int rc;
    if (!counted && s->conn->drv->changes(s->conn->dc) != 1)
        return gone(s, o);
    if ((rc = orm_journal(s, o, J_UPDATED, false, e->before)) < 0)
        return rc;
    if (o->mp->version) { /* what the UPDATE wrote */
        int64_t next = version_read(o) + 1;
        memcpy((char *)orm_data(o) + o->mp->version->offset, &next, sizeof next);
    }
    if ((rc = orm_take_snapshot(s, o)) < 0)
        return rc;
    return ORM_EVENT(s, CORM_AFTER_UPDATE, o);
}

static int delete(corm_session *s, batch *b, orm_obj *o)
{
    int rc;
    if ((rc = ORM_EVENT(s, CORM_BEFORE_DELETE, o)) < 0)
        return rc;
    s->params.n = 0;
    if ((rc = bind_pk(s, o, NULL)) < 0)
        return rc;
    sent e = { .o = o, .kind = SQLK_DELETE };
    /* a versioned row's DELETE is counted alone; a composite key's is not an IN list */
    if (!s->one_by_one && !o->mp->version && o->mp->npk == 1)
        return batch_row(s, b, SQLK_DELETE_ROWS, 0, &e);
    return batch_send(s, b, orm_statement(s, o->mp, SQLK_DELETE, 0), &e);
}

static int finish_delete(corm_session *s, sent *e)
{
    int rc;
    if (e->o->mp->version && s->conn->drv->changes(s->conn->dc) != 1)
        return gone(s, e->o);
    if ((rc = orm_journal(s, e->o, J_DELETED, false, NULL)) < 0)
        return rc;
    e->o->state = OBJ_GONE; /* stays listed and mapped until COMMIT, so that undo cannot fail */
    s->ndeleted--;
    return ORM_EVENT(s, CORM_AFTER_DELETE, e->o);
}

/* Save-update cascade: transient objects a pending object points at are
 * added too, before the flush walks the mappers in order. */
static int cascade_adds(corm_session *s)
{
    size_t before;
    do {
        before = s->npending;
        for (size_t r = 0; r < s->e->meta.n; r++) {
            orm_list *l = &s->lists[r];
            if (!s->e->meta.mappers[r].has_to_one)
                continue;
            for (size_t i = 0; i < l->n; i++) {
                orm_obj *o = l->v[i];
                for (size_t k = 0; o->state == OBJ_PENDING && k < o->mp->nrels; k++) {
                    const corm_relation *rel = o->mp->rels[k].rel;
                    void *t = rel->kind == CORM_REL_MANY_TO_ONE
                                  ? *(void **)(void *)((char *)orm_data(o) + rel->offset) : NULL;
                    orm_obj *to = t ? orm_hdr(t) : NULL;
                    if (to && to->magic == ORM_MAGIC && to->sid == s->sid && to->state == OBJ_TRANSIENT) {
                        int rc = orm_add(s, t);
                        if (rc < 0)
                            return rc;
                    }
                }
            }
        }
    } while (s->npending != before);
    return CORM_OK;
}

/* The pending objects of one mapper, parents before the children that point
 * at them within the same table (a tree), then its changed objects. */
/* One mapper's rows: UPDATEs first, then INSERTs, as SQLAlchemy orders
 * them, so that a unique value an existing row gives up (a one-to-one's
 * old child letting go of its parent) is free for the new row that takes
 * it. An UPDATE that points at a new row of this mapper waits for its
 * INSERT. */
static int write_mapper(corm_session *s, batch *b, const sch_mapper *mp, bool scan)
{
    orm_list *l = &s->lists[mp->rank];
    int rc = CORM_OK;
    orm_obj **later = NULL; /* in the order written */
    size_t waiting, nlater = 0, cap = 0;
    orm_obj **changed = NULL; /* in the order of their keys: update() says which changed */
    ptrdiff_t nchanged = scan ? orm_map_objects(s, mp, OBJ_PERSISTENT, &changed) : 0;
    if (nchanged < 0)
        return s->err.code;
    for (ptrdiff_t i = 0; i < nchanged && rc >= 0; i++) {
        orm_obj *o = changed[i];
        if (o->state != OBJ_PERSISTENT || (rc = update(s, b, o, true)) != 1)
            continue; /* update writes nothing when nothing changed */
        rc = util_grow(&later, &cap, nlater, sizeof *later, 8) < 0
                 ? orm_set_error(s, CORM_ENOMEM, "out of memory writing a %s", o->mp->model->name)
                 : CORM_OK;
        if (rc == CORM_OK)
            later[nlater++] = o;
    }
    util_free(changed);
    if (rc < 0 || (rc = batch_finish(s, b)) < 0)
        goto out;
    do {
        size_t done = 0;
        waiting = 0;
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i]->state != OBJ_PENDING)
                continue;
            if ((rc = insert(s, b, l->v[i])) < 0)
                goto out;
            if (rc == 1)
                waiting++;
            else
                done++;
        }
        /* the keys of this pass back before a child looks for its parent's */
        if ((rc = batch_finish(s, b)) < 0)
            goto out;
        if (waiting && !done) {
            rc = orm_set_error(s, CORM_ESTATE, "%s: the new objects point at each other in a "
                               "cycle; set one pointer after the first flush",
                               l->v[0]->mp->model->name);
            goto out;
        }
    } while (waiting);
    for (size_t i = 0; i < nlater && rc >= 0; i++)
        rc = update(s, b, later[i], false);
    if (rc >= 0)
        rc = batch_finish(s, b);
out:
    util_free(later);
    return rc;
}

static int write_all(corm_session *s, batch *b, enum orm_scan how, const sch_mapper *mp)
{
    const sch_meta *meta = &s->e->meta;
    int rc;
    if (s->npending && (rc = cascade_adds(s)) < 0)
        return rc;
    if (s->nlinks && (rc = orm_rel_cascade_held(s)) < 0)
        return rc;
    for (size_t r = 0; r < meta->n; r++) {
        bool scan = how == ORM_SCAN_ALL || (how == ORM_SCAN_ONE && mp == &meta->mappers[r]);
        if ((scan || s->npending) && (rc = write_mapper(s, b, &meta->mappers[r], scan)) < 0)
            return rc;
    }
    if (s->nlinks && (rc = orm_rel_write_links(s)) < 0)
        return rc;
    for (size_t r = meta->n; r-- > 0;) {
        orm_obj **gone = NULL; /* in the order of their keys */
        ptrdiff_t n = s->ndeleted ? orm_map_objects(s, &meta->mappers[r], OBJ_DELETED, &gone)
                                  : 0;
        if (n < 0)
            return s->err.code;
        rc = CORM_OK;
        for (ptrdiff_t i = 0; i < n && rc >= 0; i++)
            if (gone[i]->state == OBJ_DELETED)
                rc = delete(s, b, gone[i]);
        util_free(gone);
        if (rc < 0 || (rc = batch_finish(s, b)) < 0)
            return rc;
        orm_list_compact(&s->lists[r], false);
    }
    return CORM_OK;
}

int orm_flush(corm_session *s, enum orm_scan scan, const sch_mapper *mp)
{
    int rc = orm_conn(s);
    if (rc < 0)
        return rc;
    if (scan == ORM_SCAN_NONE && !s->npending && !s->ndeleted && !s->nlinks)
        return CORM_OK;
    /* a DELETE may be valid only after an UPDATE moved the rows that point
     * at it: with deletes pending, changed objects are written too */
    if (s->ndeleted)
        scan = ORM_SCAN_ALL;
    batch b;
    b.n = 0;
    b.rows = b.via_send = false;
    s->rows_failed = false;
    if ((rc = write_all(s, &b, scan, mp)) == CORM_OK)
        return CORM_OK;
    batch_abandon(s, &b, 0); /* what was sent before the failure */
    /* roll back everything this transaction wrote; objects keep their values */
    util_err keep = s->err;
    orm_undo(s, 0, true);
    orm_release_conn(s);
    s->err = keep;
    if (s->rows_failed && !s->one_by_one && rc != CORM_ENOMEM && rc != CORM_EBUSY &&
        rc != CORM_ECONNLOST && rc != CORM_EIO && rc != CORM_EREADONLY) {
        /* the database refused a many-row statement: the same flush again,
         * a row per statement, names the object it refuses. Only names it:
         * the replay runs in a new transaction, without what the first
         * read or locked, so when the refusal does not recur (it was not
         * the data's: a conflict the server reported oddly) what it wrote
         * is undone and the first error stands. */
        s->one_by_one = true;
        int again = orm_flush(s, scan, mp);
        s->one_by_one = false;
        if (again < 0)
            return again;
        orm_undo(s, 0, true);
        orm_release_conn(s);
        s->err = keep;
    }
    return rc;
}

int orm_autoflush(corm_session *s, const sch_mapper *mp)
{
    switch (s->autoflush) {
    case CORM_AUTOFLUSH_ALL: {
        int rc = orm_flush(s, mp ? ORM_SCAN_ONE : ORM_SCAN_ALL, mp);
        return rc < 0 ? rc : orm_read(s);
    }
    case CORM_AUTOFLUSH_OFF: return orm_read(s);
    default: {
        int rc = orm_flush(s, ORM_SCAN_NONE, mp);
        return rc < 0 ? rc : orm_read(s);
    }
    }
}
