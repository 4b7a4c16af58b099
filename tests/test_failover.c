/*
 * test_failover.c — a primary lost and a replica promoted under load
 * (issue 10), on the PostgreSQL primary and two streaming replicas that
 * scripts/with-pg-replicas.sh starts.
 *
 * The engine's URL names two hosts, the primary and replica 1, with libpq's
 * target_session_attrs=read-write: a connection goes to whichever of them
 * takes writes. The primary replicates synchronously to both replicas
 * (synchronous_standby_names = 'ANY 2 (*)'), so a commit it acknowledged is
 * on replica 1 too: promoting it loses nothing that was reported committed.
 *
 * Eight threads run units of work through corm_run_in_transaction; each
 * unit inserts a row (worker, seq) and adds one to its worker's tally. The
 * primary is stopped as a crash would (immediate), replica 1 promoted half
 * a second later, and the workers go on. Afterwards, on the new primary:
 * every unit reported committed is there once, every unit reported failed
 * is not there, a unit reported in doubt (connection lost during COMMIT)
 * is there at most once, and each tally equals its worker's rows. A
 * session that was inside a transaction when the primary went gets
 * CORM_ECONNLOST with its object pending again, and commits it once the
 * replica is promoted. The time without commits is printed.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CORM_DEFINE_MODELS

#define UNIT_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,     CORM_INTEGER, CORM_PRIMARY_KEY)                              \
    COLUMN(worker, CORM_INTEGER, CORM_NOT_NULL)                                 \
    COLUMN(seq,    CORM_INTEGER, CORM_NOT_NULL)
CORM_MODEL(Unit, "unit", UNIT_FIELDS)

#define TALLY_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY)                                  \
    COLUMN(n,  CORM_INTEGER, CORM_NOT_NULL)
CORM_MODEL(Tally, "tally", TALLY_FIELDS)

static const corm_model *const models[] = { Unit_model, Tally_model, NULL };

enum { WORKERS = 8, MAX_UNITS = 20000 };
enum outcome { NOT_RUN, COMMITTED, FAILED, IN_DOUBT };

typedef struct worker {
    int id;
    int units;                      /* seqs 1..units were run */
    unsigned char outcome[MAX_UNITS + 1];
    long at[MAX_UNITS + 1];         /* when each committed unit returned */
    int failed, in_doubt;
    char last_error[256];
} worker;

static corm_engine *db;
static char primary[512], replica[2][512], failover[1200], dir[512];
static worker workers[WORKERS];
static atomic_bool stop;
static atomic_int after_promotion;     /* commits of units begun after it */
static atomic_long promoted_ns;        /* when replica 1 took writes; 0 before */

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* The value of `key=` in a URL's query, up to the next '&'. */
static void param(const char *url, const char *key, char *out, size_t size)
{
    char k[32];
    snprintf(k, sizeof k, "%s=", key);
    const char *p = strstr(url, k);
    if (!p)
        fail_msg("no %s in %s", key, url);
    p += strlen(k);
    size_t n = strcspn(p, "&");
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

static void script(const char *verb, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/scripts/pg-replicas.sh' %s '%s' %s", CORM_SOURCE_DIR, verb, dir,
             name);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    (void)state;
    const char *urls = getenv("CORM_TEST_REPLICA_URLS"), *d = getenv("CORM_PG_REPLICAS_DIR");
    if (!test_server_url() || !urls || !d)
        fail_msg("run under scripts/with-pg-replicas.sh");
    snprintf(primary, sizeof primary, "%s", test_server_url());
    snprintf(dir, sizeof dir, "%s", d);
    if (sscanf(urls, "%511s %511s", replica[0], replica[1]) != 2)
        fail_msg("two replica URLs expected: %s", urls);
    char h0[256], h1[256], p0[16], p1[16];
    param(primary, "host", h0, sizeof h0);
    param(primary, "port", p0, sizeof p0);
    param(replica[0], "host", h1, sizeof h1);
    param(replica[0], "port", p1, sizeof p1);
    snprintf(failover, sizeof failover,
             "postgresql:///corm_test?host=%s,%s&port=%s,%s&user=corm"
             "&target_session_attrs=read-write&connect_timeout=2&pool_size=8",
             h0, h1, p0, p1);
    /* a commit returns once both replicas have it */
    db_exec(primary, "ALTER SYSTEM SET synchronous_standby_names = 'ANY 2 (*)'");
    db_exec(primary, "SELECT pg_reload_conf()");
    if (corm_engine_open(&db, failover, models) != CORM_OK)
        fail_msg("open: %s", corm_engine_errmsg(db));
    OK(corm_drop_all(db));
    OK(corm_create_all(db));
    corm_session *s = corm_session_new(db);
    for (int w = 0; w < WORKERS; w++) {
        Tally *t = corm_new(s, Tally);
        t->id = w + 1;
        OK(corm_add(s, t));
    }
    OK(corm_commit(s));
    corm_session_free(s);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corm_engine_close(db);
    return 0;
}

typedef struct unit_args {
    int worker, seq;
} unit_args;

/* One unit of work: its row, and one more on its worker's tally. */
static int one_unit(corm_session *s, void *ud)
{
    const unit_args *a = ud;
    Tally *t;
    int rc = corm_get(s, Tally, a->worker, &t);
    if (rc < 0)
        return rc;
    if (!t)
        return CORM_ENOTFOUND;
    t->n++;
    Unit *u = corm_new(s, Unit);
    u->worker = a->worker;
    u->seq = a->seq;
    return corm_add(s, u);
}

static void *work(void *arg)
{
    worker *w = arg;
    while (!atomic_load(&stop) && w->units < MAX_UNITS) {
        unit_args a = { w->id, ++w->units };
        long began = now_ns(), promoted = atomic_load(&promoted_ns);
        corm_session *s = corm_session_new(db); /* one per unit, as per request */
        int rc = corm_run_in_transaction(s, one_unit, &a, 40);
        if (rc == CORM_OK) {
            w->outcome[a.seq] = COMMITTED;
            w->at[a.seq] = now_ns();
            if (promoted && began > promoted)
                atomic_fetch_add(&after_promotion, 1);
        } else {
            w->outcome[a.seq] = rc == CORM_EINDOUBT ? IN_DOUBT : FAILED;
            if (rc == CORM_EINDOUBT)
                w->in_doubt++;
            else
                w->failed++;
            snprintf(w->last_error, sizeof w->last_error, "%s", corm_errmsg(s));
        }
        corm_session_free(s);
    }
    return NULL;
}

static int committed_by(int wid)
{
    int n = 0;
    for (int q = 1; q <= workers[wid - 1].units; q++)
        n += (workers[wid - 1].outcome[q] & 0x7f) == COMMITTED;
    return n;
}

static void count_row(void *ud, int n, const char *const *cells)
{
    (void)ud;
    (void)n;
    int wk = atoi(cells[0]), seq = atoi(cells[1]), count = atoi(cells[2]);
    assert_true(wk >= 1 && wk <= WORKERS);
    worker *w = &workers[wk - 1];
    assert_true(seq >= 1 && seq <= w->units);
    switch (w->outcome[seq]) {
    case COMMITTED:
    case IN_DOUBT:
        if (count != 1)
            fail_msg("worker %d unit %d is in the database %d times", wk, seq, count);
        break;
    default:
        fail_msg("worker %d unit %d was reported failed (%s) but is in the database", wk, seq,
                 w->last_error);
    }
    w->outcome[seq] |= 0x80; /* seen */
}

static void workload_survives_failover(void **state)
{
    (void)state;
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        workers[i].id = i + 1;
        assert_int_equal(pthread_create(&t[i], NULL, work, &workers[i]), 0);
    }
    sleep_ms(1500);

    /* a session inside its transaction when the primary goes */
    corm_session *open = corm_session_new(db);
    Unit *u = corm_new(open, Unit);
    u->worker = 99;
    u->seq = 1;
    OK(corm_add(open, u));
    OK(corm_flush(open));

    long before = 0;
    for (int i = 0; i < WORKERS; i++)
        before += committed_by(i + 1);
    script("stop-one", "primary");
    long stopped = now_ns(); /* down from here (commits during the stop were on it) */
    sleep_ms(500); /* the time a failover manager takes to decide */
    script("promote", "replica1");
    long promoted = now_ns();
    atomic_store(&promoted_ns, promoted);

    assert_int_equal(corm_commit(open), CORM_ECONNLOST);
    assert_true(corm_is_modified(open, u)); /* pending again, with its values */
    assert_int_equal(u->seq, 1);
    OK(corm_commit(open)); /* on the promoted replica */
    corm_session_free(open);

    /* on until units begun after the promotion have committed for a second */
    for (int i = 0; i < 600 && atomic_load(&after_promotion) < WORKERS; i++)
        sleep_ms(50);
    sleep_ms(1000);
    atomic_store(&stop, true);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    if (atomic_load(&after_promotion) < WORKERS)
        fail_msg("no commits after the promotion (%s)", workers[0].last_error);
    /* the longest time without a commit, and the first commit after the stop */
    long last_before = 0, first_after = 0;
    for (int i = 0; i < WORKERS; i++)
        for (int q = 1; q <= workers[i].units; q++) {
            long at = (workers[i].outcome[q] & 0x7f) == COMMITTED ? workers[i].at[q] : 0;
            if (at && at <= stopped && at > last_before)
                last_before = at;
            if (at > stopped && (!first_after || at < first_after))
                first_after = at;
        }
    assert_true(first_after > 0);

    /* counted on the new primary */
    assert_int_equal(db_int(replica[0], "SELECT pg_is_in_recovery()::int"), 0);
    db_each(replica[0], "SELECT worker, seq, count(*) FROM unit WHERE worker <= 8 "
                        "GROUP BY worker, seq", count_row, NULL);
    long total = 0, failed = 0, doubt = 0, doubt_in = 0;
    for (int i = 0; i < WORKERS; i++) {
        worker *w = &workers[i];
        int rows = 0;
        for (int q = 1; q <= w->units; q++) {
            int seen = w->outcome[q] & 0x80, o = w->outcome[q] & 0x7f;
            if (o == COMMITTED && !seen)
                fail_msg("worker %d unit %d was committed and is lost", w->id, q);
            rows += seen != 0;
            doubt_in += o == IN_DOUBT && seen;
        }
        char sql[80];
        snprintf(sql, sizeof sql, "SELECT n FROM tally WHERE id = %d", w->id);
        assert_int_equal(db_int(replica[0], sql), rows); /* the two writes went together */
        total += committed_by(w->id);
        failed += w->failed;
        doubt += w->in_doubt;
    }
    assert_int_equal(db_int(replica[0], "SELECT count(*) FROM unit WHERE worker = 99"), 1);
    printf("# failover: %ld units committed (%ld before the stop), %ld failed, %ld in doubt "
           "(%ld of them applied), none lost or doubled; replica promoted %.2f s after the "
           "stop; no commit for %.2f s (from the last before the stop to the first after), "
           "the first %.2f s after the promotion\n",
           total, before, failed, doubt, doubt_in, (promoted - stopped) / 1e9,
           (first_after - last_before) / 1e9, (first_after - promoted) / 1e9);
    assert_true(total > before);
    assert_int_equal(failed, 0); /* 40 attempts outlast the failover */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(workload_survives_failover),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
