/*
 * txn.c — the session's connection and transaction: where a session reads
 * (a replica, while it has not written) and writes (the primary), when its
 * transaction begins, giving the connection back (closing first the
 * cursors a stream left open on it), and the journal of what the
 * transaction wrote (orm_journal records; undo.c plays it back).
 *
 * It sits on the object layer (object.c) and the engine's pool (engine.c),
 * under relation.c, flush.c and query.c, which call it before they read or
 * write.
 */
#include "orm/orm.h"
#include "util/alloc.h"

#include <string.h>
#include <time.h>

void orm_release_conn(corm_session *s)
{
    while (s->cursors) { /* a stream's rows are not read on a pooled connection */
        orm_cursor *c = s->cursors;
        orm_cursor_close(c);
        c->cut = true;
    }
    orm_engine_release(s->conn_e ? s->conn_e : s->e, s->conn);
    s->conn = NULL;
    s->conn_e = NULL;
    s->nest = 0;
    s->wrote = false;
}

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

/* The session's connection, from the engine's pool at its first use and
 * kept until commit or rollback. */
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

/* A transaction that has only read and can go no further (orm_read) is
 * ended, so that the session goes on with a fresh one. */
static void end_failed_read(corm_session *s)
{
    const drv_driver *d = s->e->drv;
    if (s->conn && s->conn->depth && !s->wrote && d->txn_failed && d->txn_failed(s->conn->dc))
        orm_release_conn(s); /* its ROLLBACK, or the broken connection closed */
}

/* The connection, ready for a read. Where the driver's reads_begin says so
 * (PostgreSQL) the first read begins the session's transaction, as
 * SQLAlchemy's Session does; a transaction that has only read and can go
 * no further (a statement failed in it, or the server went away) had
 * nothing to lose: it is rolled back, and the session goes on with a
 * fresh one. Elsewhere (SQLite) a session reads outside any transaction
 * until it first writes (or corm_begin begins one), so that each read sees
 * the newest commit and a session that only reads holds no snapshot
 * between its calls (a WAL file cannot be checkpointed past one); except
 * in a unit of corm_run_in_transaction, whose first read begins it there
 * too: the unit then reads and writes one snapshot, and a write over a row
 * another unit changed since is refused (CORM_EBUSY, run again), where it
 * would otherwise overwrite that change. */
int orm_read(corm_session *s)
{
    end_failed_read(s);
    const drv_driver *d = s->e->drv;
    int rc = orm_conn(s);
    if (rc == CORM_OK && (d->reads_begin || s->in_unit) && s->conn->depth == 0 &&
        (rc = sql_begin_read(s->conn, &s->err)) < 0)
        orm_release_conn(s);
    return rc;
}

/* A write begins the session's transaction (with the driver's begin_write),
 * unless a read began it already (and can still go on: see orm_read);
 * either way the transaction has now written. */
int orm_begin(corm_session *s)
{
    if (s->conn && s->conn_e != s->e) /* reading on a replica: writes go to the primary */
        orm_release_conn(s);
    end_failed_read(s);
    s->primary_only = true; /* and the session reads its own writes there from now on */
    int rc = orm_conn(s);
    if (rc == CORM_OK && s->conn->depth == 0 && (rc = sql_begin(s->conn, &s->err)) < 0)
        orm_release_conn(s);
    if (rc == CORM_OK)
        s->wrote = true;
    return rc;
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

void orm_cursor_open(corm_session *s, orm_cursor *c, drv_stmt *st)
{
    c->st = st;
    c->conn = s->conn;
    c->cut = false;
    c->pprev = &s->cursors;
    c->next = s->cursors;
    if (c->next)
        c->next->pprev = &c->next;
    s->cursors = c;
}

void orm_cursor_close(orm_cursor *c)
{
    if (!c->st)
        return;
    c->conn->drv->reset(c->st);
    c->st = NULL;
    c->conn = NULL;
    *c->pprev = c->next;
    if (c->next)
        c->next->pprev = c->pprev;
    c->next = NULL;
    c->pprev = NULL;
}
