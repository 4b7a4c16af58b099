/*
 * test_crash.c — a process killed in the middle of its work loses nothing
 * it committed and leaves nothing half-done (issue 11), on SQLite.
 *
 * Commits: a child process commits units of work, each an order with its
 * items (two tables) and the ledger's running total (a third), and tells
 * the parent each order it committed; the parent SIGKILLs it at a random
 * moment, opens the file and checks: every order the child reported is
 * there, every order present has all its items and no more, the ledger
 * equals the sum of the items, foreign keys hold, the file is intact.
 *
 * Upgrades: a child runs `db upgrade` over three revisions (a column
 * added, the table rebuilt keeping its rows, an index) of a database with
 * 2,000 rows; the parent kills it at a random moment and checks that the
 * version table names exactly the schema that is there, with every row.
 *
 * CORM_CRASH_KILLS sets the kills of each kind (120 by default: 240 in
 * all).
 */
#include "common.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CORM_DEFINE_MODELS

#define ORDER_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,     CORM_INTEGER, CORM_PRIMARY_KEY)                              \
    COLUMN(nitems, CORM_INTEGER, CORM_NOT_NULL)                                 \
    RELATION(items, CORM_ONE_TO_MANY(Item, order))
CORM_MODEL(Order, "orders", ORDER_FIELDS)

#define ITEM_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,       CORM_INTEGER, CORM_PRIMARY_KEY)                            \
    COLUMN(amount,   CORM_INTEGER, CORM_NOT_NULL)                               \
    COLUMN(order_id, CORM_INTEGER, CORM_NOT_NULL | CORM_INDEX, CORM_FK(Order, id)) \
    RELATION(order, CORM_MANY_TO_ONE(Order, order_id, items))
CORM_MODEL(Item, "item", ITEM_FIELDS)

#define LEDGER_FIELDS(COLUMN, RELATION)                                        \
    COLUMN(id,    CORM_INTEGER, CORM_PRIMARY_KEY)                               \
    COLUMN(total, CORM_INTEGER, CORM_NOT_NULL)
CORM_MODEL(Ledger, "ledger", LEDGER_FIELDS)

static const corm_model *const models[] = { Order_model, Item_model, Ledger_model, NULL };
static const corm_model *const no_models[] = { NULL };

static char dir[64], path[128], url[200], base[128], migrations[128];

static long kills(void)
{
    const char *e = getenv("CORM_CRASH_KILLS");
    return e && atol(e) > 0 ? atol(e) : 120;
}

static uint64_t rnd = 88172645463325252ull;
static long random_below(long n)
{
    rnd ^= rnd << 13;
    rnd ^= rnd >> 7;
    rnd ^= rnd << 17;
    return (long)(rnd % (uint64_t)n);
}

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

static int64_t one_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

static const char *one_text(sqlite3 *h, const char *sql, char *buf, size_t size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    const unsigned char *t = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    snprintf(buf, size, "%s", t ? (const char *)t : "");
    sqlite3_finalize(st);
    return buf;
}

/* The file opens, is intact and its foreign keys hold. */
static sqlite3 *reopen(void)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK); /* recovers the WAL left behind */
    char ok[64];
    assert_string_equal(one_text(h, "PRAGMA integrity_check", ok, sizeof ok), "ok");
    assert_int_equal(one_int(h, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    return h;
}

/* ---- commits ------------------------------------------------------------------------ */

/* The child: units until killed, each order's id written to fd once committed. */
static void commit_forever(int fd, unsigned seed)
{
    corm_engine *e;
    if (corm_engine_open(&e, url, models) != CORM_OK)
        _exit(3);
    for (unsigned n = 0;; n++) {
        corm_session *s = corm_session_new(e);
        Ledger *l;
        if (corm_get(s, Ledger, 1, &l) != CORM_OK || !l)
            _exit(4);
        Order *o = corm_new(s, Order);
        o->nitems = 1 + (int)((seed + n) % 5);
        corm_add(s, o);
        for (int i = 0; i < o->nitems; i++) {
            Item *it = corm_new(s, Item);
            it->amount = 10 + i;
            if (corm_rel_add(s, o, Order_items, it) != CORM_OK)
                _exit(5);
            l->total += it->amount;
        }
        int rc = corm_commit(s);
        if (rc == CORM_OK) {
            int64_t id = o->id;
            if (write(fd, &id, sizeof id) != sizeof id)
                _exit(6);
        } else if (rc != CORM_EBUSY) {
            _exit(7);
        }
        corm_session_free(s);
    }
}

static void killed_during_commits(void **state)
{
    (void)state;
    corm_engine *e;
    OK(corm_engine_open(&e, url, models));
    OK(corm_create_all(e));
    corm_session *s = corm_session_new(e);
    Ledger *l = corm_new(s, Ledger);
    OK(corm_add(s, l));
    OK(corm_commit(s));
    corm_session_free(s);
    corm_engine_close(e);
    long reported = 0, n = kills();
    for (long k = 0; k < n; k++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            close(p[0]);
            commit_forever(p[1], (unsigned)k);
        }
        close(p[1]);
        sleep_us(1000 + random_below(25000));
        kill(child, SIGKILL);
        int status;
        waitpid(child, &status, 0);
        assert_true(WIFSIGNALED(status)); /* killed, not failed */
        /* what the child said it committed */
        int64_t id;
        sqlite3 *h = reopen();
        while (read(p[0], &id, sizeof id) == sizeof id) {
            char sql[96];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM orders WHERE id = %lld", (long long)id);
            if (one_int(h, sql) != 1)
                fail_msg("kill %ld: order %lld was committed and is lost", k, (long long)id);
            reported++;
        }
        close(p[0]);
        /* whole units only */
        assert_int_equal(one_int(h, "SELECT count(*) FROM orders o WHERE nitems <> (SELECT count(*) "
                                    "FROM item i WHERE i.order_id = o.id)"), 0);
        assert_int_equal(one_int(h, "SELECT total FROM ledger WHERE id = 1"),
                         one_int(h, "SELECT coalesce(sum(amount), 0) FROM item"));
        sqlite3_close(h);
    }
    sqlite3 *h = reopen();
    long orders = (long)one_int(h, "SELECT count(*) FROM orders");
    sqlite3_close(h);
    printf("# %ld kills during commits: %ld orders in the file, %ld reported committed, every "
           "one there and whole\n", n, orders, reported);
    assert_true(orders >= reported && reported > 0);
}

/* ---- upgrades ----------------------------------------------------------------------- */

static const char *const up[3] = {
    "ALTER TABLE note ADD COLUMN tag TEXT;",
    "CREATE TABLE note_new (id INTEGER PRIMARY KEY, body TEXT NOT NULL, tag TEXT, "
    "n INTEGER NOT NULL DEFAULT 0);\n"
    "INSERT INTO note_new (id, body, tag, n) SELECT id, body, tag, length(body) FROM note;\n"
    "DROP TABLE note;\n"
    "ALTER TABLE note_new RENAME TO note;",
    "CREATE INDEX ix_note_tag ON note (tag);",
};
static const char *const down[3] = {
    "ALTER TABLE note DROP COLUMN tag;",
    "CREATE TABLE note_old (id INTEGER PRIMARY KEY, body TEXT NOT NULL, tag TEXT);\n"
    "INSERT INTO note_old SELECT id, body, tag FROM note;\nDROP TABLE note;\n"
    "ALTER TABLE note_old RENAME TO note;",
    "DROP INDEX ix_note_tag;",
};
static char ids[3][64];

static void copy_file(const char *from, const char *to)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -f '%s'-wal '%s'-shm && cp '%s' '%s'", to, to, from, to);
    assert_int_equal(system(cmd), 0);
}

static void killed_during_upgrades(void **state)
{
    (void)state;
    /* the base: 2,000 notes, no revision applied */
    sqlite3 *h;
    char basepath[160];
    snprintf(basepath, sizeof basepath, "%s", base);
    assert_int_equal(sqlite3_open(basepath, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"
                                     "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
                                     "WHERE i < 2000) INSERT INTO note (body) SELECT printf('note "
                                     "number %d, with some text to copy', i) FROM c;",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    corm_engine *e;
    copy_file(base, path);
    OK(corm_engine_open(&e, url, no_models));
    OK(corm_migrate_init(e, migrations));
    for (int r = 0; r < 3; r++)
        OK(corm_migrate_revision(e, migrations, "step", up[r], down[r], ids[r], sizeof ids[r]));
    /* how long an upgrade takes, to kill inside it */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    OK(corm_migrate_upgrade(e, migrations, "head", NULL));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    corm_engine_close(e);
    long span = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000 + 500;
    long at[4] = { 0 }, n = kills();
    for (long k = 0; k < n; k++) {
        copy_file(base, path);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            corm_engine *ce;
            if (corm_engine_open(&ce, url, no_models) != CORM_OK)
                _exit(3);
            _exit(corm_migrate_upgrade(ce, migrations, "head", NULL) == CORM_OK ? 0 : 4);
        }
        sleep_us(random_below(span + span / 4));
        kill(child, SIGKILL);
        int status;
        waitpid(child, &status, 0);
        assert_false(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        h = reopen();
        char version[64], sql[128];
        version[0] = '\0'; /* no version table yet: base */
        if (one_int(h, "SELECT count(*) FROM sqlite_master WHERE name = 'corm_version'"))
            one_text(h, "SELECT coalesce((SELECT version_num FROM corm_version), '')", version,
                     sizeof version);
        int v = 0; /* revisions applied, by the version table */
        for (int r = 0; r < 3; r++)
            if (strcmp(version, ids[r]) == 0)
                v = r + 1;
        if (*version && !v)
            fail_msg("kill %ld: the version table names %s, no revision", k, version);
        at[v]++;
        /* the schema is the one the version names, every row kept */
        int64_t cols = one_int(h, "SELECT count(*) FROM pragma_table_info('note')");
        assert_int_equal(cols, v == 0 ? 2 : v == 1 ? 3 : 4);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE name = 'ix_note_tag'");
        assert_int_equal(one_int(h, sql), v == 3);
        assert_int_equal(one_int(h, "SELECT count(*) FROM note"), 2000);
        if (v >= 2)
            assert_int_equal(one_int(h, "SELECT count(*) FROM note WHERE n <> length(body)"), 0);
        sqlite3_close(h);
        /* and upgrading again from there reaches the head */
        OK(corm_engine_open(&e, url, no_models));
        OK(corm_migrate_upgrade(e, migrations, "head", NULL));
        corm_engine_close(e);
    }
    printf("# %ld kills during db upgrade (%ld us each, unkilled): left at base %ld times, after "
           "revision 1 %ld, 2 %ld, 3 %ld; the version named the schema every time\n",
           n, span - 500, at[0], at[1], at[2], at[3]);
    assert_true(at[0] + at[1] + at[2] + at[3] == n);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/corm-crash-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/crash.db", dir);
    snprintf(base, sizeof base, "%s/base.db", dir);
    snprintf(url, sizeof url, "sqlite:///%s", path);
    snprintf(migrations, sizeof migrations, "%s/migrations", dir);
    rnd ^= (uint64_t)time(NULL) * 2654435761u;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_rm_rf(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(killed_during_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(killed_during_upgrades, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
