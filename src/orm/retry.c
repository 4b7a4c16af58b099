/*
 * retry.c — corm_run_in_transaction: a unit of work run again when the
 * database refused it for a reason that passes.
 *
 * What passes: CORM_EBUSY (a lock or busy timeout, a deadlock, a
 * serialization failure, a Galera certification conflict: the drivers map
 * them all there), CORM_ECONNLOST before COMMIT was sent (the pool gives
 * the next attempt a live connection) and CORM_ECONNECT (no server took the
 * connection: nothing was sent; during a failover the next attempt may
 * reach the promoted replica). What does not: everything
 * else, and above all CORM_EINDOUBT, the connection lost during COMMIT,
 * whose work may already be in the database: running it again could apply
 * it twice. Between attempts the session is rolled back and reset, so the
 * next call of fn starts from nothing, and the pause doubles from 10 ms to
 * at most 1 s, each drawn at random between half and all of it, so that
 * writers that collided do not collide again in step. While fn runs and
 * commits, the session's first read begins its transaction on every
 * backend (s->in_unit, orm_read): on SQLite the unit then works on one
 * snapshot, and a write over a row changed since it read is refused
 * (CORM_EBUSY) and run again, where it would be written over the change.
 */
#include "orm/orm.h"

#include <stdint.h>
#include <time.h>

static bool passes(int rc)
{
    return rc == CORM_EBUSY || rc == CORM_ECONNLOST || rc == CORM_ECONNECT;
}

static void pause_before(int attempt, uint64_t *seed)
{
    long ms = 10L << (attempt < 7 ? attempt : 7);
    if (ms > 1000)
        ms = 1000;
    *seed ^= *seed << 13; /* xorshift64 */
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    long us = ms * 500 + (long)(*seed % (uint64_t)(ms * 500 + 1)); /* [ms/2, ms] */
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int corm_run_in_transaction(corm_session *s, corm_unit_fn fn, void *ud, int max_attempts)
{
    if (!s)
        return CORM_EINVAL;
    util_err_clear(&s->err);
    if (!fn || max_attempts < 1)
        return orm_set_error(s, CORM_EINVAL, "corm_run_in_transaction: %s",
                             fn ? "max_attempts must be 1 or more" : "no function to run");
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t seed = (uint64_t)now.tv_nsec * 0x9E3779B97F4A7C15u ^ (uint64_t)(uintptr_t)s;
    if (!seed)
        seed = 1;
    int rc = CORM_OK;
    bool was_in_unit = s->in_unit;
    for (int attempt = 1; attempt <= max_attempts; attempt++) {
        s->in_unit = true;
        rc = fn(s, ud);
        if (rc == CORM_OK)
            rc = corm_commit(s);
        s->in_unit = was_in_unit;
        if (rc == CORM_OK)
            return CORM_OK;
        util_err keep = s->err;
        keep.code = rc;
        if (!passes(rc) || attempt == max_attempts) {
            /* the session's objects back to their committed values, so that
             * nothing of the unit is left to be written by a later commit */
            corm_rollback(s);
            s->err = keep;
            if (passes(rc)) /* the retries ran out: say how many */
                util_err_prefix(&s->err, "unit of work given up after %d attempt%s: ", attempt,
                                attempt == 1 ? "" : "s");
            return rc;
        }
        corm_rollback(s);
        corm_session_reset(s);
        pause_before(attempt - 1, &seed);
    }
    return rc;
}
