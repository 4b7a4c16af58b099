/*
 * test_replicas.c — read replicas (issue 10), on a PostgreSQL primary with
 * two streaming replicas that scripts/with-pg-replicas.sh starts: reads of
 * sessions that have not written spread over the replicas (counted per
 * server, by the port each one answers from); a session that wrote reads
 * its own writes from the primary; a replica that lags (replay paused) or
 * is down is passed over and its reads go elsewhere.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CORM_DEFINE_MODELS

#define NOTE_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,   CORM_INTEGER,    CORM_PRIMARY_KEY)                             \
    COLUMN(body, CORM_STRING(40), CORM_NOT_NULL)
CORM_MODEL(Note, "note", NOTE_FIELDS)

static const corm_model *const models[] = { Note_model, NULL };

static corm_engine *db;
static char primary[512], replica[2][512];
static long port[3]; /* primary, replica 1, replica 2 */

static long port_of(const char *url)
{
    const char *p = strstr(url, "port=");
    return p ? atol(p + 5) : -1;
}

/* Until every replica has replayed all the primary has written (at most
 * 10 s each). */
static void caught_up(void)
{
    char lsn[64], sql[160];
    db_text(primary, "SELECT pg_current_wal_lsn()::text", lsn, sizeof lsn);
    snprintf(sql, sizeof sql, "SELECT (pg_last_wal_replay_lsn() >= '%s'::pg_lsn)::int", lsn);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 1000 && db_int(replica[r], sql) != 1; i++)
            sleep_ms(10);
}

static int setup(void **state)
{
    (void)state;
    const char *urls = getenv("CORM_TEST_REPLICA_URLS");
    if (!test_server_url() || !urls)
        fail_msg("run under scripts/with-pg-replicas.sh (CORM_TEST_URL, CORM_TEST_REPLICA_URLS)");
    snprintf(primary, sizeof primary, "%s", test_server_url());
    if (sscanf(urls, "%511s %511s", replica[0], replica[1]) != 2)
        fail_msg("two replica URLs expected: %s", urls);
    port[0] = port_of(primary);
    port[1] = port_of(replica[0]);
    port[2] = port_of(replica[1]);
    if (corm_engine_open(&db, primary, models) != CORM_OK)
        fail_msg("open: %s", corm_engine_errmsg(db));
    for (int r = 0; r < 2; r++)
        if (corm_engine_add_replica(db, replica[r], 0.5) != CORM_OK)
            fail_msg("replica: %s", corm_engine_errmsg(db));
    OK(corm_drop_all(db));
    OK(corm_create_all(db));
    corm_session *s = corm_session_new(db);
    Note *n = corm_new(s, Note);
    n->body = "first";
    OK(corm_add(s, n));
    OK(corm_commit(s));
    corm_session_free(s);
    caught_up();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corm_engine_close(db);
    return 0;
}

/* Which server (0 primary, 1 and 2 the replicas) answered s's next read. */
static int server_of(corm_session *s)
{
    corm_result *r;
    OK(corm_execute(s, "SELECT current_setting('port')::int", NULL, 0, &r));
    long p = (long)corm_result_int(r, 0, 0);
    for (int i = 0; i < 3; i++)
        if (p == port[i])
            return i;
    fail_msg("a read answered from port %ld, not one of the three", p);
    return -1;
}

/* n sessions that each read once and count the notes (one): count[i] is
 * how many of them server i answered. */
static void read_in_sessions(int n, int count[3])
{
    for (int i = 0; i < n; i++) {
        corm_session *s = corm_session_new(db);
        count[server_of(s)]++;
        corm_query *q = corm_query_new(s, Note);
        int64_t k;
        OK(corm_count(q, &k));
        assert_int_equal(k, 1);
        corm_session_free(s);
    }
}

/* Sessions that only read: on the replicas in turn, never the primary; a
 * query finds what the primary committed (the replicas caught up). */
static void reads_spread_over_replicas(void **state)
{
    (void)state;
    int count[3] = { 0 };
    read_in_sessions(8, count);
    assert_int_equal(count[0], 0);
    assert_int_equal(count[1], 4);
    assert_int_equal(count[2], 4);
}

/* A session that wrote reads its own writes: from the primary, at once,
 * before any replica could have them; a new session reads a replica again. */
static void a_writer_reads_its_own_writes(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(db);
    assert_int_not_equal(server_of(s), 0); /* began on a replica */
    Note *n = corm_new(s, Note);
    n->body = "second";
    OK(corm_add(s, n));
    OK(corm_commit(s)); /* the write moved it to the primary */
    assert_int_equal(server_of(s), 0);
    corm_query *q = corm_query_new(s, Note);
    int64_t c;
    OK(corm_count(q, &c));
    assert_int_equal(c, 2);
    /* raw SQL that writes moves a reading session too */
    corm_session *t = corm_session_new(db);
    assert_int_not_equal(server_of(t), 0);
    OK(corm_execute(t, "UPDATE note SET body = 'changed' WHERE body = 'first'", NULL, 0, NULL));
    OK(corm_commit(t));
    assert_int_equal(server_of(t), 0);
    assert_int_equal(db_int(primary, "SELECT COUNT(*) FROM note WHERE body = 'changed'"), 1);
    corm_session_free(t);
    corm_session_free(s);
    corm_session *u = corm_session_new(db);
    assert_int_not_equal(server_of(u), 0);
    corm_session_free(u);
}

/* Replica 2 with its replay paused while the primary writes: more than
 * max_lag (0.5 s) behind, it is passed over; resumed, it is used again. */
static void a_lagging_replica_is_skipped(void **state)
{
    (void)state;
    db_exec(replica[1], "SELECT pg_wal_replay_pause()");
    db_exec(primary, "INSERT INTO note (body) VALUES ('while paused')");
    sleep_ms(1200);
    int count[3] = { 0 };
    for (int i = 0; i < 6; i++) {
        corm_session *s = corm_session_new(db);
        count[server_of(s)]++;
        corm_session_free(s);
    }
    assert_int_equal(count[2], 0);
    assert_int_equal(count[1], 6);
    db_exec(replica[1], "SELECT pg_wal_replay_resume()");
    caught_up();
    for (int i = 0; i < 6; i++) {
        corm_session *s = corm_session_new(db);
        count[server_of(s)]++;
        corm_session_free(s);
    }
    assert_true(count[2] > 0);
    assert_int_equal(count[0], 0);
}

/* Replica 1 stopped (as a crash would): its reads go to replica 2, and no
 * session sees an error. (Last: the replica stays down.) */
static void a_replica_that_is_down_is_skipped(void **state)
{
    (void)state;
    const char *dir = getenv("CORM_PG_REPLICAS_DIR");
    if (!dir)
        fail_msg("CORM_PG_REPLICAS_DIR is not set: run under scripts/with-pg-replicas.sh");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "'%s/scripts/pg-replicas.sh' stop-one '%s' replica1", CORM_SOURCE_DIR,
             dir);
    assert_int_equal(system(cmd), 0);
    int count[3] = { 0 };
    read_in_sessions(6, count);
    assert_int_equal(count[1], 0);
    assert_int_equal(count[2], 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reads_spread_over_replicas, setup, teardown),
        cmocka_unit_test_setup_teardown(a_writer_reads_its_own_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(a_lagging_replica_is_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(a_replica_that_is_down_is_skipped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
