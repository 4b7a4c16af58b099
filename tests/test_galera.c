/*
 * test_galera.c — corm on a three-node MariaDB Galera cluster (issue 10),
 * which scripts/with-galera.sh starts: an engine per node.
 *
 * Galera lets every node take writes and settles conflicts at COMMIT by
 * certification: of two transactions on two nodes that changed the same
 * row, the second to commit is refused (error 1213, "Deadlock found"),
 * which corm reports as CORM_EBUSY, so corm_run_in_transaction runs the
 * unit again. Eight threads, spread over the three nodes, each run units
 * that add one to two shared counters and insert a row; afterwards every
 * node holds the same rows and both counters equal the number of committed
 * units. What Galera cannot replicate (a table without a primary key,
 * another engine than InnoDB, LOCK TABLES) is refused by the migrations
 * before anything runs.
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

#define ENTRY_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,     CORM_INTEGER, CORM_PRIMARY_KEY)                              \
    COLUMN(worker, CORM_INTEGER, CORM_NOT_NULL)                                 \
    COLUMN(seq,    CORM_INTEGER, CORM_NOT_NULL)
CORM_MODEL(Entry, "entry", ENTRY_FIELDS)

static const corm_model *const models[] = { Counter_model, Entry_model, NULL };

enum { NODES = 3, WORKERS = 8, UNITS = 60 };

static corm_engine *node[NODES];
static char url[NODES][512];

static int setup(void **state)
{
    (void)state;
    const char *urls = getenv("CORM_TEST_NODE_URLS");
    if (!urls || sscanf(urls, "%511s %511s %511s", url[0], url[1], url[2]) != 3)
        fail_msg("run under scripts/with-galera.sh (CORM_TEST_NODE_URLS: three node URLs)");
    for (int i = 0; i < NODES; i++)
        if (corm_engine_open(&node[i], url[i], models) != CORM_OK)
            fail_msg("open node %d: %s", i + 1, corm_engine_errmsg(node[i]));
    for (int i = 0; i < NODES; i++) /* each node sees the three */
        assert_int_equal(db_int(url[i], "SELECT variable_value FROM information_schema.global_status "
                                        "WHERE variable_name = 'WSREP_CLUSTER_SIZE'"), 3);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NODES; i++)
        corm_engine_close(node[i]);
    return 0;
}

/* Fresh tables and counters a and b at 0, made through node 1. */
static int fresh(void **state)
{
    (void)state;
    OK(corm_drop_all(node[0]));
    OK(corm_create_all(node[0]));
    corm_session *s = corm_session_new(node[0]);
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

static int load(corm_session *s, const char *name, Counter **out, bool lock)
{
    corm_query *q = corm_query_new(s, Counter);
    corm_filter(q, corm_eq(Counter_name, name));
    if (lock)
        corm_with_for_update(q);
    return corm_one(q, (void **)out);
}

/* A query's first cell on a node, once all three agree on it (Galera
 * applies a commit on the other nodes shortly after it returns): at most
 * 10 s. */
static void agreed(const char *sql, char *out, size_t size)
{
    char v[NODES][256];
    for (int tries = 0; tries < 1000; tries++) {
        for (int i = 0; i < NODES; i++)
            db_text(url[i], sql, v[i], sizeof v[i]);
        if (strcmp(v[0], v[1]) == 0 && strcmp(v[1], v[2]) == 0) {
            snprintf(out, size, "%s", v[0]);
            return;
        }
        sleep_ms(10);
    }
    fail_msg("the nodes disagree on %s: %s / %s / %s", sql, v[0], v[1], v[2]);
}

/* Two sessions on two nodes change the same row; the second COMMIT fails
 * certification: CORM_EBUSY with the server's sentence, the session's
 * objects back as before the commit, and it goes on once reloaded. */
static void conflict_between_nodes_is_busy(void **state)
{
    (void)state;
    corm_session *s1 = corm_session_new(node[0]), *s2 = corm_session_new(node[1]);
    Counter *c1, *c2;
    OK(load(s1, "a", &c1, false));
    OK(load(s2, "a", &c2, false));
    c1->value = 10;
    c2->value = 20;
    OK(corm_flush(s1));
    OK(corm_flush(s2)); /* row locks are per node: no wait here */
    OK(corm_commit(s1));
    assert_int_equal(corm_commit(s2), CORM_EBUSY);
    assert_non_null(strstr(corm_errmsg(s2), "1213"));
    assert_true(corm_is_modified(s2, c2));
    OK(corm_rollback(s2));
    OK(corm_refresh(s2, c2));
    assert_int_equal(c2->value, 10); /* node 2 holds node 1's commit */
    c2->value += 5;
    OK(corm_commit(s2));
    char v[64];
    agreed("SELECT value FROM counter WHERE name = 'a'", v, sizeof v);
    assert_string_equal(v, "15");
    corm_session_free(s1);
    corm_session_free(s2);
}

typedef struct worker {
    int id, calls, committed, failed;
    char error[256];
} worker;

typedef struct unit_args {
    worker *w;
    int seq;
} unit_args;

/* One unit: both counters one up, and a row saying who did it. */
static int one_unit(corm_session *s, void *ud)
{
    unit_args *a = ud;
    a->w->calls++;
    Counter *x, *y;
    /* read, change, write back: locked (FOR UPDATE), or two units on one
     * node would both write a + 1 (a lost update); between nodes Galera's
     * certification refuses the second */
    int rc = load(s, "a", &x, true);
    if (rc == CORM_OK)
        rc = load(s, "b", &y, true);
    if (rc < 0)
        return rc;
    x->value++;
    y->value++;
    Entry *e = corm_new(s, Entry);
    e->worker = a->w->id;
    e->seq = a->seq;
    return corm_add(s, e);
}

static void *work(void *arg)
{
    worker *w = arg;
    for (int q = 1; q <= UNITS; q++) {
        corm_session *s = corm_session_new(node[w->id % NODES]);
        unit_args a = { w, q };
        int rc = corm_run_in_transaction(s, one_unit, &a, 100);
        if (rc == CORM_OK) {
            w->committed++;
        } else {
            w->failed++;
            snprintf(w->error, sizeof w->error, "%s", corm_errmsg(s));
        }
        corm_session_free(s);
    }
    return NULL;
}

static void eight_writers_through_three_nodes(void **state)
{
    (void)state;
    worker w[WORKERS] = { { 0 } };
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    int committed = 0, retried = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        if (w[i].failed)
            fail_msg("worker %d: %d units failed: %s", i, w[i].failed, w[i].error);
        committed += w[i].committed;
        retried += w[i].calls - w[i].committed;
    }
    assert_int_equal(committed, WORKERS * UNITS);
    char a[64], b[64], rows[64], pairs[64], sum[64], want[64];
    agreed("SELECT value FROM counter WHERE name = 'a'", a, sizeof a);
    agreed("SELECT value FROM counter WHERE name = 'b'", b, sizeof b);
    agreed("SELECT count(*) FROM entry", rows, sizeof rows);
    agreed("SELECT count(DISTINCT worker, seq) FROM entry", pairs, sizeof pairs);
    /* every node the same rows, keys included */
    agreed("SELECT MD5(GROUP_CONCAT(CONCAT_WS(':', id, worker, seq) ORDER BY id)) FROM entry",
           sum, sizeof sum);
    snprintf(want, sizeof want, "%d", committed);
    assert_string_equal(a, want);
    assert_string_equal(b, want);
    assert_string_equal(rows, want);
    assert_string_equal(pairs, want); /* none twice */
    printf("# galera: %d units committed through 3 nodes by %d threads, %d certification "
           "conflicts retried; counters %s and %s, %s rows, the same on every node\n",
           committed, WORKERS, retried, a, b, rows);
    assert_true(retried > 0); /* the counters are shared: conflicts are certain */
}

/* A commit through one node is seen at once through the others: corm asks
 * each Galera connection for causal reads (wsrep_sync_wait = 1), or a
 * request routed to another node than the one that wrote would miss what
 * it was told was committed. */
static void commits_are_read_at_once_on_every_node(void **state)
{
    (void)state;
    for (int i = 0; i < 150; i++) {
        corm_session *w = corm_session_new(node[i % NODES]);
        corm_session *r = corm_session_new(node[(i + 1) % NODES]);
        char name[20];
        snprintf(name, sizeof name, "c%d", i);
        Counter *c = corm_new(w, Counter);
        c->name = name;
        c->value = i;
        OK(corm_add(w, c));
        OK(corm_commit(w));
        Counter *seen = NULL;
        int rc = load(r, name, &seen, false);
        if (rc != CORM_OK)
            fail_msg("commit %d through node %d not read through node %d: %s", i, i % NODES + 1,
                     (i + 1) % NODES + 1, corm_errmsg(r));
        assert_int_equal(seen->value, i);
        corm_session_free(w);
        corm_session_free(r);
    }
    /* another mask by the URL; a wrong one is refused naming it */
    char bad[600];
    snprintf(bad, sizeof bad, "%s%cwsrep_sync_wait=always", url[0], strchr(url[0], '?') ? '&' : '?');
    corm_engine *e = NULL;
    int rc = corm_engine_open(&e, bad, models);
    if (rc == CORM_OK) {
        corm_session *s = corm_session_new(e);
        Counter *x;
        rc = load(s, "a", &x, false);
        if (!strstr(corm_errmsg(s), "wsrep_sync_wait must be a number"))
            fail_msg("the sentence does not name the parameter: %s", corm_errmsg(s));
        corm_session_free(s);
    } else if (!strstr(corm_engine_errmsg(e), "wsrep_sync_wait must be a number")) {
        fail_msg("the sentence does not name the parameter: %s", corm_engine_errmsg(e));
    }
    assert_int_equal(rc, CORM_EURL);
    corm_engine_close(e);
}

/* Revisions Galera cannot replicate are refused before any runs. */
static void refused(const char *up, const char *what)
{
    char dir[] = "/tmp/corm-galera-mig-XXXXXX";
    assert_non_null(mkdtemp(dir));
    OK(corm_migrate_init(node[0], dir));
    OK(corm_migrate_revision(node[0], dir, "fine", "CREATE TABLE fine (id INTEGER PRIMARY KEY);",
                             "DROP TABLE fine;", NULL, 0));
    OK(corm_migrate_revision(node[0], dir, "not for galera", up, "DROP TABLE log;", NULL, 0));
    assert_int_equal(corm_migrate_upgrade(node[0], dir, "head", NULL), CORM_EUNSUPPORTED);
    const char *msg = corm_engine_errmsg(node[0]);
    if (!strstr(msg, what) || !strstr(msg, "nothing applied") || !strstr(msg, "Galera"))
        fail_msg("the sentence does not say what was refused (%s): %s", what, msg);
    /* the revision before it did not run either */
    for (int i = 0; i < NODES; i++)
        assert_int_equal(db_int(url[i], "SELECT count(*) FROM information_schema.tables WHERE "
                                        "table_schema = 'corm_test' AND table_name IN ('fine', 'log')"), 0);
    test_rm_rf(dir);
    db_exec(url[0], "DROP TABLE IF EXISTS corm_version, corm_version_halfway");
}

static void galera_refuses_what_it_cannot_replicate(void **state)
{
    (void)state;
    refused("CREATE TABLE log (msg TEXT, at DATETIME);", "CREATE TABLE log has none");
    refused("CREATE TABLE log (id INTEGER PRIMARY KEY) ENGINE=MyISAM;", "ENGINE=MyISAM");
    refused("CREATE TABLE log (id INTEGER PRIMARY KEY);\nLOCK TABLES counter WRITE;",
            "LOCK TABLES counter");
    refused("CREATE TABLE log (id INTEGER NOT NULL, CONSTRAINT pk PRIMARY KEY (id));\n"
            "ALTER TABLE log DROP PRIMARY KEY;", "drops it");
    /* a name or a comment that says PRIMARY is not a key */
    refused("CREATE TABLE log (\"primary\" TEXT, note TEXT COMMENT 'primary key later');",
            "CREATE TABLE log has none");

    /* what it can replicate runs, and reaches every node */
    char dir[] = "/tmp/corm-galera-mig-XXXXXX";
    assert_non_null(mkdtemp(dir));
    OK(corm_migrate_init(node[0], dir));
    OK(corm_migrate_revision(node[0], dir, "log", "CREATE TABLE log (id INTEGER PRIMARY KEY, msg "
                             "TEXT) ENGINE=InnoDB;", "DROP TABLE log;", NULL, 0));
    OK(corm_migrate_upgrade(node[0], dir, "head", NULL));
    char n[16];
    agreed("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'corm_test' "
           "AND table_name = 'log'", n, sizeof n);
    assert_string_equal(n, "1");
    OK(corm_migrate_downgrade(node[0], dir, "base", NULL));
    test_rm_rf(dir);
    db_exec(url[0], "DROP TABLE IF EXISTS corm_version, corm_version_halfway");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(commits_are_read_at_once_on_every_node, fresh),
        cmocka_unit_test_setup(conflict_between_nodes_is_busy, fresh),
        cmocka_unit_test_setup(eight_writers_through_three_nodes, fresh),
        cmocka_unit_test_setup(galera_refuses_what_it_cannot_replicate, fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
