/*
 * test_retry.c — corm_run_in_transaction (issue 10): a unit of work the
 * database refuses for a reason that passes (a deadlock, a lock or busy
 * timeout, a connection lost before COMMIT) is run again until it commits,
 * never twice and never lost; one that fails for good is given up at once,
 * rolled back; and one whose COMMIT's fate is unknown (the connection lost
 * during COMMIT) is reported as CORM_EINDOUBT and not run again.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CORM_DEFINE_MODELS

#define COUNTER_FIELDS(COLUMN, RELATION)                                       \
    COLUMN(id,    CORM_INTEGER,    CORM_PRIMARY_KEY)                            \
    COLUMN(name,  CORM_STRING(20), CORM_NOT_NULL | CORM_UNIQUE)                 \
    COLUMN(value, CORM_INTEGER,    CORM_NOT_NULL)
CORM_MODEL(Counter, "counter", COUNTER_FIELDS)

static const corm_model *const models[] = { Counter_model, NULL };

static corm_engine *db;
static char dir[64], file[128], url[512];

/* A fresh database with counters a and b at 0. On SQLite a writer waits
 * 5 ms for another's lock (busy_timeout) so that the two conflict at once. */
static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/corm-retry-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/retry.db", dir);
    if (test_server_url())
        snprintf(url, sizeof url, "%s", test_server_url());
    else
        snprintf(url, sizeof url, "sqlite:///%s?busy_timeout=5", file);
    if (corm_engine_open(&db, url, models) != CORM_OK)
        fail_msg("open: %s", corm_engine_errmsg(db));
    if (test_server_url())
        OK(corm_drop_all(db));
    OK(corm_create_all(db));
    corm_session *s = corm_session_new(db);
    const char *names[] = { "a", "b" };
    for (int i = 0; i < 2; i++) {
        Counter *c = corm_new(s, Counter);
        c->name = (char *)names[i];
        OK(corm_add(s, c));
    }
    OK(corm_commit(s));
    corm_session_free(s);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corm_engine_close(db);
    test_remove_db(file);
    rmdir(dir);
    return 0;
}

static int64_t value_of(const char *name)
{
    char sql[80];
    snprintf(sql, sizeof sql, "SELECT value FROM counter WHERE name = '%s'", name);
    return db_int(url, sql);
}

static int load_how(corm_session *s, const char *name, bool lock, Counter **out)
{
    corm_query *q = corm_query_new(s, Counter);
    if (!q)
        return CORM_ENOMEM;
    corm_filter(q, corm_eq(Counter_name, name));
    if (lock)
        corm_with_for_update(q);
    return corm_one(q, (void **)out);
}

static int load(corm_session *s, const char *name, Counter **out)
{
    return load_how(s, name, false, out);
}

/* The counter `name` + 1, read without a lock; written at the next flush. */
static int bump(corm_session *s, const char *name)
{
    Counter *c;
    int rc = load(s, name, &c);
    if (rc == CORM_OK)
        c->value++;
    return rc;
}

/* ---- read, change, write back: corm_with_for_update ------------------------------ */

enum { LOCKERS = 4, LOCKED_UNITS = 25 };

/* a + 1, read with its row locked: another unit doing the same waits for
 * the commit (SQLite: for the write transaction the query begins) instead
 * of writing the same value over it. Without the lock some increments are
 * lost (seen: 79 and 58 of 100 on SQLite and PostgreSQL). */
static int add_locked(corm_session *s, void *ud)
{
    (void)ud;
    Counter *c;
    int rc = load_how(s, "a", true, &c);
    if (rc < 0)
        return rc;
    c->value++;
    return CORM_OK;
}

/* Each of LOCKERS threads runs LOCKED_UNITS units of fn. Half take a new
 * session for each unit; the others keep one, whose counter object from
 * the unit before must be read again, not trusted. */
typedef struct locker {
    corm_unit_fn fn;
    bool keep;
} locker;

static void *run_locker(void *arg)
{
    const locker *l = arg;
    corm_session *kept = l->keep ? corm_session_new(db) : NULL;
    for (int i = 0; i < LOCKED_UNITS; i++) {
        corm_session *s = l->keep ? kept : corm_session_new(db);
        int rc = corm_run_in_transaction(s, l->fn, NULL, 1000);
        if (rc != CORM_OK)
            fprintf(stderr, "locker: %s\n", corm_errmsg(s));
        if (!l->keep)
            corm_session_free(s);
        if (rc != CORM_OK) {
            corm_session_free(kept);
            return (void *)1;
        }
    }
    corm_session_free(kept);
    return NULL;
}

static void run_lockers(corm_unit_fn fn)
{
    locker l[LOCKERS];
    pthread_t t[LOCKERS];
    for (int i = 0; i < LOCKERS; i++) {
        l[i] = (locker){ fn, i % 2 == 1 };
        assert_int_equal(pthread_create(&t[i], NULL, run_locker, &l[i]), 0);
    }
    for (int i = 0; i < LOCKERS; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_null(res);
    }
}

static void locked_reads_lose_no_update(void **state)
{
    (void)state;
    run_lockers(add_locked);
    assert_int_equal(value_of("a"), LOCKERS * LOCKED_UNITS);
}

/* ---- read, change, write back, no lock: SQLite ----------------------------------- */

static atomic_int unlocked_attempts;

/* a + 1, read without a lock; the attempts counted. */
static int count_attempt(corm_session *s, void *ud)
{
    (void)ud;
    atomic_fetch_add(&unlocked_attempts, 1);
    return bump(s, "a");
}

/* On SQLite a unit's first read begins its transaction, so the unit reads
 * and writes one snapshot: a unit that read a before another committed a
 * new value is refused at its write (CORM_EBUSY) and run again, instead of
 * writing its stale value + 1 over the other's. (Outside a unit a session
 * reads outside transactions there, and this pattern lost 2 of 40 runs'
 * increments in test_retry before.) SQLite only: on PostgreSQL and MariaDB
 * (READ COMMITTED) a statement sees the newest commit and the unit needs
 * the lock, as docs/queries.md says and locked_reads_lose_no_update shows. */
static void unlocked_units_lose_no_update_on_sqlite(void **state)
{
    (void)state;
    atomic_store(&unlocked_attempts, 0);
    run_lockers(count_attempt);
    assert_int_equal(value_of("a"), LOCKERS * LOCKED_UNITS);
    /* the units collided, and the refused ones ran again */
    assert_true(atomic_load(&unlocked_attempts) > LOCKERS * LOCKED_UNITS);
}

/* ---- two writers taking two rows in opposite orders ------------------------------ */

#define UNITS 3

static atomic_int attempts;
static atomic_int holding; /* writers holding their first row in their first unit */
static pthread_barrier_t start; /* both writers begin together */

typedef struct writer {
    const char *first, *second;
    int unit, tries;
} writer;

/* Add 1 to `first` (written at once: its lock taken), then to `second`,
 * each read with its row locked as a read-change-write must be (without
 * the lock a writer's increment is lost now and then: seen in 2 of 40 runs
 * on SQLite, where the read ran before the write transaction began and the
 * other writer committed in between). In the first unit each writer waits
 * (at most 300 ms) until the other holds its first row too: a deadlock on a
 * server; on SQLite, where the lock is the whole database's, the second
 * writer's BEGIN IMMEDIATE waits past busy_timeout instead. */
static int add_both(corm_session *s, void *ud)
{
    writer *w = ud;
    Counter *c;
    int rc;
    atomic_fetch_add(&attempts, 1);
    bool first_try = w->unit == 0 && w->tries++ == 0;
    if ((rc = load_how(s, w->first, true, &c)) < 0)
        return rc;
    c->value++;
    if ((rc = corm_flush(s)) < 0)
        return rc;
    if (first_try) {
        atomic_fetch_add(&holding, 1);
        for (int i = 0; i < 30 && atomic_load(&holding) < 2; i++)
            sleep_ms(10);
    }
    if ((rc = load_how(s, w->second, true, &c)) < 0)
        return rc;
    c->value++;
    return CORM_OK;
}

static void *run_writer(void *arg)
{
    writer *w = arg;
    corm_session *s = corm_session_new(db);
    pthread_barrier_wait(&start);
    for (w->unit = 0; w->unit < UNITS; w->unit++) {
        w->tries = 0;
        int rc = corm_run_in_transaction(s, add_both, w, 50);
        if (rc != CORM_OK) {
            fprintf(stderr, "writer %s: %s\n", w->first, corm_errmsg(s));
            corm_session_free(s);
            return (void *)1;
        }
    }
    corm_session_free(s);
    return NULL;
}

static void conflicting_writers_are_retried(void **state)
{
    (void)state;
    atomic_store(&attempts, 0);
    atomic_store(&holding, 0);
    writer w[2] = { { "a", "b", 0, 0 }, { "b", "a", 0, 0 } };
    pthread_t t[2];
    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, run_writer, &w[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_null(res);
    }
    pthread_barrier_destroy(&start);
    /* every unit committed once: no lost and no doubled increment */
    assert_int_equal(value_of("a"), 2 * UNITS);
    assert_int_equal(value_of("b"), 2 * UNITS);
    /* and the first units collided: at least one ran again */
    assert_true(atomic_load(&attempts) > 2 * UNITS);
}

/* ---- what is not retried --------------------------------------------------------- */

static int calls;

static int add_duplicate(corm_session *s, void *ud)
{
    (void)ud;
    calls++;
    Counter *a;
    int rc = load(s, "a", &a);
    if (rc < 0)
        return rc;
    a->value = 100;
    Counter *c = corm_new(s, Counter);
    c->name = "b"; /* taken */
    return corm_add(s, c);
}

static int add_one(corm_session *s, void *ud)
{
    calls++;
    return bump(s, ud);
}

static int refuse(corm_session *s, void *ud)
{
    (void)ud;
    calls++;
    Counter *c;
    int rc = load(s, "a", &c);
    if (rc < 0)
        return rc;
    c->value = 42;
    return CORM_EINVAL; /* the unit's own verdict */
}

/* A unit that meets a busy database every time. */
static int always_busy(corm_session *s, void *ud)
{
    (void)s, (void)ud;
    calls++;
    return CORM_EBUSY;
}

static void a_unit_that_stays_busy_is_given_up_after_its_attempts(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(db);
    calls = 0;
    assert_int_equal(corm_run_in_transaction(s, always_busy, NULL, 3), CORM_EBUSY);
    assert_int_equal(calls, 3);
    assert_non_null(strstr(corm_errmsg(s), "unit of work given up after 3 attempts"));
    corm_session_free(s);
}

static void failing_for_good_is_given_up_at_once(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(db);
    calls = 0;
    assert_int_equal(corm_run_in_transaction(s, add_duplicate, NULL, 5), CORM_EUNIQUE);
    assert_int_equal(calls, 1);
    /* the error's own sentence: no retry was given up */
    assert_null(strstr(corm_errmsg(s), "given up"));
    assert_non_null(strstr(corm_errmsg(s), "Counter.name"));
    assert_int_equal(value_of("a"), 0); /* rolled back */
    assert_int_equal(db_int(url, "SELECT COUNT(*) FROM counter"), 2);

    calls = 0;
    assert_int_equal(corm_run_in_transaction(s, refuse, NULL, 5), CORM_EINVAL);
    assert_int_equal(calls, 1);
    assert_int_equal(value_of("a"), 0);

    /* the session goes on */
    calls = 0;
    OK(corm_run_in_transaction(s, add_one, "a", 5));
    assert_int_equal(calls, 1);
    assert_int_equal(value_of("a"), 1);

    assert_int_equal(corm_run_in_transaction(s, add_one, "a", 0), CORM_EINVAL);
    assert_int_equal(corm_run_in_transaction(s, NULL, NULL, 3), CORM_EINVAL);
    assert_int_equal(value_of("a"), 1);
    corm_session_free(s);
}

/* ---- a connection lost (servers) ------------------------------------------------- */

/* End the server connection the session s reads on, from another one, and
 * wait until the server has let it go. */
static void kill_own_connection(corm_session *s)
{
    bool pg = strncmp(url, "postgres", 8) == 0;
    corm_result *r;
    OK(corm_execute(s, pg ? "SELECT pg_backend_pid()" : "SELECT CONNECTION_ID()", NULL, 0, &r));
    long long id = (long long)corm_result_int(r, 0, 0);
    char sql[160];
    if (pg)
        snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", id);
    else
        snprintf(sql, sizeof sql, "KILL CONNECTION %lld", id);
    db_exec(url, sql);
    snprintf(sql, sizeof sql,
             pg ? "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = %lld"
                : "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %lld",
             id);
    for (int i = 0; i < 200 && db_int(url, sql) > 0; i++)
        sleep_ms(10);
    /* gone from the server's list is not yet gone from our socket: the
     * backend leaves pg_stat_activity before it closes the connection, and
     * a COMMIT sent in between is lost during COMMIT (CORM_EINDOUBT), not
     * before it. The close is let through first (seen once in CI). */
    sleep_ms(200);
}

/* Attempt 1 loses its connection before anything is written. */
static int lose_before_commit(corm_session *s, void *ud)
{
    (void)ud;
    int rc = bump(s, "a");
    if (rc == CORM_OK && ++calls == 1)
        kill_own_connection(s);
    return rc; /* the UPDATE at commit finds the connection gone */
}

/* Attempt 1 writes its UPDATE, then loses the connection before COMMIT
 * is sent (the server rolls the UPDATE back). */
static int lose_after_flush(corm_session *s, void *ud)
{
    (void)ud;
    int rc = bump(s, "a");
    if (rc < 0 || (rc = corm_flush(s)) < 0)
        return rc;
    if (++calls == 1)
        kill_own_connection(s);
    return CORM_OK;
}

/* The connection ended from another thread 300 ms from now: while COMMIT
 * runs a deferred trigger that sleeps a second (PostgreSQL). */
static long long victim;
static pthread_t killer;

static void *kill_later(void *arg)
{
    (void)arg;
    sleep_ms(300);
    char sql[80];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", victim);
    db_exec(url, sql);
    return NULL;
}

static int lose_during_commit(corm_session *s, void *ud)
{
    (void)ud;
    calls++;
    Counter *c;
    corm_result *r;
    int rc = load(s, "a", &c);
    if (rc < 0 || (rc = corm_execute(s, "SELECT pg_backend_pid()", NULL, 0, &r)) < 0)
        return rc;
    victim = (long long)corm_result_int(r, 0, 0);
    c->value++;
    if ((rc = corm_flush(s)) < 0)
        return rc;
    pthread_create(&killer, NULL, kill_later, NULL);
    return CORM_OK;
}

static void connection_lost_before_commit_is_retried(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(db);
    calls = 0;
    OK(corm_run_in_transaction(s, lose_before_commit, NULL, 5));
    assert_int_equal(calls, 2);
    assert_int_equal(value_of("a"), 1); /* once, not twice */
    corm_session_free(s);
}

static void connection_lost_after_flush_is_retried(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(db);
    calls = 0;
    OK(corm_run_in_transaction(s, lose_after_flush, NULL, 5));
    assert_int_equal(calls, 2);
    assert_int_equal(value_of("a"), 1); /* the first UPDATE was rolled back */
    corm_session_free(s);
}

/* PostgreSQL: the connection lost while COMMIT runs. corm cannot know
 * whether it was applied: CORM_EINDOUBT, not run again, the session's
 * objects back to their committed values. (MariaDB's COMMIT cannot be made
 * to take long enough to end the connection inside it.) */
static void connection_lost_during_commit_is_in_doubt(void **state)
{
    (void)state;
    db_exec(url, "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
                 "$$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$");
    db_exec(url, "CREATE CONSTRAINT TRIGGER slow AFTER UPDATE ON counter DEFERRABLE INITIALLY "
                 "DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()");
    corm_session *s = corm_session_new(db);
    calls = 0;
    assert_int_equal(corm_run_in_transaction(s, lose_during_commit, NULL, 5), CORM_EINDOUBT);
    pthread_join(killer, NULL);
    assert_int_equal(calls, 1); /* never run again */
    assert_non_null(strstr(corm_errmsg(s), "may or may not have been applied"));
    assert_string_equal(corm_err_name(CORM_EINDOUBT), "CORM_EINDOUBT");
    /* here the server had not committed it (ended inside COMMIT): the user
     * checks, and runs the unit again */
    assert_int_equal(value_of("a"), 0);
    db_exec(url, "DROP TRIGGER slow ON counter");
    db_exec(url, "DROP FUNCTION slow_commit()");
    calls = 0;
    OK(corm_run_in_transaction(s, add_one, "a", 5));
    assert_int_equal(value_of("a"), 1);
    corm_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(locked_reads_lose_no_update, setup, teardown),
        cmocka_unit_test_setup_teardown(conflicting_writers_are_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(failing_for_good_is_given_up_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(a_unit_that_stays_busy_is_given_up_after_its_attempts,
                                        setup, teardown),
    };
    /* A server's connection can be ended from outside; SQLite's cannot. */
    const struct CMUnitTest server_tests[] = {
        cmocka_unit_test_setup_teardown(connection_lost_before_commit_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_lost_after_flush_is_retried, setup, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(connection_lost_during_commit_is_in_doubt, setup, teardown),
    };
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test_setup_teardown(unlocked_units_lose_no_update_on_sqlite, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (!test_server_url())
        failed += cmocka_run_group_tests(sqlite_tests, NULL, NULL);
    if (test_server_url())
        failed += cmocka_run_group_tests(server_tests, NULL, NULL);
    if (test_server_url() && strncmp(test_server_url(), "postgres", 8) == 0)
        failed += cmocka_run_group_tests(pg_tests, NULL, NULL);
    return failed;
}
