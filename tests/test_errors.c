/*
 * test_errors.c — bad input: each case gets its own code and a sentence
 * naming the model, the column and the value; the session stays usable and
 * what was committed before is intact. Also hostile strings (SQL
 * injection), bad URLs, and unwritable or locked databases.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static fixture fx;
static corm_session *s;
static int64_t alice_id;

static int setup(void **state)
{
    (void)state;
    fx_open(&fx, "?busy_timeout=100");
    s = corm_session_new(fx.db);
    alice_id = fx_user(s, "alice", 30)->id;
    fx_clear_log(&fx);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corm_session_free(s);
    fx_close(&fx);
    return 0;
}

/* The committed row is still there, and the session still works. */
static void still_intact(void)
{
    corm_session *s2 = corm_session_new(fx.db);
    User *a;
    OK(corm_get(s2, User, alice_id, &a));
    assert_non_null(a);
    assert_string_equal(a->username, "alice");
    assert_int_equal(a->age, 30);
    corm_session_free(s2);
    User *u = corm_new(s, User);
    u->username = corm_strdup(s, "afterwards");
    u->email = "afterwards@example.com";
    OK(corm_add(s, u));
    int rc = corm_commit(s);
    if (rc != CORM_OK)
        fail_msg("session unusable: %s", corm_errmsg(s));
}

static void expect(int rc, int code, const char *const *needles)
{
    if (rc != code)
        fail_msg("got %s, wanted %s: %s", corm_err_name(rc), corm_err_name(code), corm_errmsg(s));
    assert_int_equal(corm_errcode(s), code);
    for (; *needles; needles++)
        if (!strstr(corm_errmsg(s), *needles))
            fail_msg("message \"%s\" lacks \"%s\"", corm_errmsg(s), *needles);
}
#define EXPECT(rc, code, ...) expect((rc), (code), (const char *const[]){ __VA_ARGS__, NULL })

static void unknown_column_in_filter_by(void **state)
{
    (void)state;
    corm_query *q = corm_query_new(s, User);
    assert_int_equal(corm_filter_by(q, "nickname", "x"), CORM_ENOCOLUMN);
    User **v;
    size_t n;
    EXPECT(corm_all(q, &v, &n), CORM_ENOCOLUMN, "User", "nickname");
    still_intact();
}

static void null_into_not_null_is_caught_before_sql(void **state)
{
    (void)state;
    User *u = corm_new(s, User);
    u->email = "nobody@example.com"; /* username left NULL */
    OK(corm_add(s, u));
    EXPECT(corm_commit(s), CORM_ENOTNULL, "User.username", "NULL");
    assert_int_equal(fx_count(&fx, "INSERT"), 0); /* never sent */
    /* fix it and commit again */
    u->username = "nobody";
    OK(corm_commit(s));
    assert_true(u->id > 0);
    still_intact();
}

static void string_too_long(void **state)
{
    (void)state;
    char name[200];
    memset(name, 'x', 81);
    name[81] = '\0';
    User *u = corm_new(s, User);
    u->username = name;
    u->email = "long@example.com";
    OK(corm_add(s, u));
    EXPECT(corm_commit(s), CORM_ETOOLONG, "User.username", "xxxxxxxx", "STRING(80)");
    assert_int_equal(fx_count(&fx, "INSERT"), 0);
    /* characters, not bytes: 80 two-byte characters fit */
    char wide[200] = "";
    for (int i = 0; i < 80; i++)
        strcat(wide, "\xc3\xa9");
    u->username = wide;
    OK(corm_commit(s));
    still_intact();
}

static void unique_violation(void **state)
{
    (void)state;
    User *u = corm_new(s, User);
    u->username = "alice";
    u->email = "other@example.com";
    OK(corm_add(s, u));
    EXPECT(corm_commit(s), CORM_EUNIQUE, "User.username", "'alice'", "unique");
    assert_int_equal(u->id, 0);
    u->username = "alice2";
    OK(corm_commit(s));
    still_intact();
}

static void foreign_key_violation(void **state)
{
    (void)state;
    Post *p = corm_new(s, Post);
    p->content = "orphan";
    p->user_id = 999;
    OK(corm_add(s, p));
    EXPECT(corm_commit(s), CORM_EFOREIGNKEY, "Post.user_id", "999", "User.id");
    p->user_id = alice_id;
    OK(corm_commit(s));
    assert_int_equal(fx_rows(&fx, "post"), 1);
    still_intact();
}

static void check_violation(void **state)
{
    (void)state;
    User *a;
    OK(corm_get(s, User, alice_id, &a));
    a->age = -5;
    EXPECT(corm_commit(s), CORM_ECHECK, "User.age", "-5", "(CHECK age >= 0)");
    a->age = 31;
    OK(corm_commit(s));
    a->age = 30;
    OK(corm_commit(s));
    still_intact();
}

static void invalid_values_per_type(void **state)
{
    (void)state;
    Kitchen *k = corm_new(s, Kitchen);
    OK(corm_add(s, k));
    k->d = (corm_date){ 2023, 2, 29 };
    EXPECT(corm_commit(s), CORM_EDATE, "Kitchen.d", "2023-02-29");
    k->d = (corm_date){ 2024, 2, 29 };
    k->tm = (corm_time){ 25, 0, 0, 0 };
    EXPECT(corm_commit(s), CORM_EDATE, "Kitchen.tm");
    k->tm = (corm_time){ 1, 0, 0, 0 };
    k->json = "{not json}";
    EXPECT(corm_commit(s), CORM_EJSON, "Kitchen.json", "{not json}");
    k->json = "[]";
    k->prio = (prio)7;
    EXPECT(corm_commit(s), CORM_EENUM, "Kitchen.prio", "7");
    k->prio = PRIO_LOW;
    OK(corm_numeric_parse("12345678901234567890123456789", &k->num)); /* 29 digits > 28 */
    EXPECT(corm_commit(s), CORM_ERANGE, "Kitchen.num", "NUMERIC(38, 10)");
    OK(corm_numeric_parse("1.5", &k->num));
    OK(corm_commit(s));
    /* in filters: a string where a number goes, an impossible date */
    corm_query *q = corm_query_new(s, Kitchen);
    OK(corm_filter(q, corm_eq(Kitchen_i, "abc")));
    Kitchen **v;
    size_t n;
    EXPECT(corm_all(q, &v, &n), CORM_ETYPE, "Kitchen.i", "'abc'");
    q = corm_query_new(s, Kitchen);
    OK(corm_filter(q, corm_eq(Kitchen_d, "2024-02-30")));
    EXPECT(corm_all(q, &v, &n), CORM_EDATE, "Kitchen.d", "2024-02-30");
    q = corm_query_new(s, Kitchen);
    OK(corm_filter(q, corm_eq(Kitchen_small, 70000)));
    EXPECT(corm_all(q, &v, &n), CORM_ERANGE, "Kitchen.small", "70000");
    q = corm_query_new(s, Kitchen);
    OK(corm_filter(q, corm_eq(Kitchen_prio, "urgent")));
    EXPECT(corm_all(q, &v, &n), CORM_EENUM, "Kitchen.prio", "urgent");
    still_intact();
}

static void failed_commit_keeps_earlier_flushes_pending(void **state)
{
    (void)state;
    User *b = corm_new(s, User);
    b->username = "bob";
    b->email = "bob@example.com";
    OK(corm_add(s, b));
    OK(corm_flush(s)); /* inserted in the open transaction */
    User *c = corm_new(s, User);
    c->username = "alice"; /* duplicate */
    c->email = "c@example.com";
    OK(corm_add(s, c));
    assert_int_equal(corm_commit(s), CORM_EUNIQUE);
    assert_int_equal(fx_rows(&fx, "user"), 1); /* bob rolled back with it */
    assert_int_equal(b->id, 0);                 /* and pending again */
    c->username = "carol";
    OK(corm_commit(s));
    assert_true(b->id > 0);
    assert_int_equal(fx_rows(&fx, "user"), 3);
    still_intact();
}

static void failed_commit_after_bulk_operations(void **state)
{
    (void)state;
    User *a;
    OK(corm_get(s, User, alice_id, &a));
    corm_query *q = corm_query_new(s, User);
    OK(corm_filter(q, corm_eq(User_id, alice_id)));
    OK(corm_set(q, User_age, 77));
    int64_t n;
    OK(corm_update(q, &n));
    assert_int_equal(a->age, 77);
    q = corm_query_new(s, User);
    OK(corm_filter(q, corm_eq(User_id, alice_id)));
    OK(corm_delete_where(q, &n));
    User *dup = corm_new(s, User);
    dup->username = "alice"; /* fails only if the bulk delete is undone */
    dup->email = "alice@example.com";
    OK(corm_add(s, dup));
    User *bad = corm_new(s, User); /* fails in any case */
    bad->email = "x@example.com";
    OK(corm_add(s, bad));
    assert_int_equal(corm_commit(s), CORM_ENOTNULL);
    /* the bulk statements are rolled back with the rest and not replayed */
    assert_int_equal(a->age, 30);
    OK(corm_delete(s, dup));
    OK(corm_delete(s, bad));
    OK(corm_commit(s));
    still_intact();
}

static void hostile_strings_are_only_values(void **state)
{
    (void)state;
    const char *evil[] = { "x'; DROP TABLE \"user\"; --", "\" OR 1=1 --", "'); DELETE FROM \"user\"; --",
                           "Robert'); DROP TABLE post;--", "%' OR '1'='1", "\\'; --" };
    for (size_t i = 0; i < sizeof evil / sizeof *evil; i++) {
        User *u = corm_new(s, User);
        u->username = evil[i];
        char email[64];
        snprintf(email, sizeof email, "evil%zu@example.com", i);
        u->email = corm_strdup(s, email);
        OK(corm_add(s, u));
        OK(corm_commit(s));
        corm_query *q = corm_query_new(s, User);
        OK(corm_filter(q, corm_eq(User_username, evil[i])));
        int64_t n;
        OK(corm_count(q, &n));
        assert_int_equal(n, 1);
        q = corm_query_new(s, User);
        OK(corm_filter_by(q, "username", evil[i]));
        User *got;
        OK(corm_one(q, &got));
        assert_ptr_equal(got, u);
        corm_result *r;
        OK(corm_execute(s, "SELECT COUNT(*) FROM \"user\" WHERE username = ?", CORM_ARGS(evil[i]), &r));
        assert_int_equal(corm_result_int(r, 0, 0), 1);
    }
    /* hostile column names are looked up, never pasted */
    corm_query *q = corm_query_new(s, User);
    assert_int_equal(corm_filter_by(q, "username = 'x' OR 1=1 --", "y"), CORM_ENOCOLUMN);
    assert_int_equal(corm_filter_by(q, "id\"; DROP TABLE \"user\"; --", 1), CORM_ENOCOLUMN);
    assert_int_equal(fx_rows(&fx, "user"), 1 + (int64_t)(sizeof evil / sizeof *evil));
    assert_int_equal(fx_rows(&fx, "post"), 0);
    still_intact();
}

static void malformed_urls(void **state)
{
    (void)state;
    const char *bad[] = { "users.db", "sqlite:/users.db", "mysql2://x", "sqlite:///x.db?journal_mode=fast",
                          "sqlite:///x.db?busy_timeout=soon", "sqlite:///x.db?colour=blue",
                          "sqlite://host/x.db", "sqlite:///x.db?pool_size=0" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        corm_engine *e;
        assert_int_equal(corm_engine_open(&e, bad[i], test_models), CORM_EURL);
        assert_non_null(strstr(corm_engine_errmsg(e), "malformed database URL"));
        corm_engine_close(e);
    }
}

/* Through a read-only URL: the read works, the write fails with its own code
 * and a sentence holding `says`, and nothing committed is touched. */
static void read_only_refuses_writes(const char *url, const char *says)
{
    corm_engine *e;
    OK(corm_engine_open(&e, url, test_models));
    corm_session *r = corm_session_new(e);
    User *a;
    OK(corm_get(r, User, alice_id, &a));
    a->age = 99;
    assert_int_equal(corm_commit(r), CORM_EREADONLY);
    assert_non_null(strstr(corm_errmsg(r), says));
    corm_session_free(r);
    corm_engine_close(e);
    still_intact();
}

static void unwritable_and_missing_databases(void **state)
{
    (void)state;
    corm_engine *e;
    assert_int_equal(corm_engine_open(&e, "sqlite:////nonexistent-dir/x/y.db", test_models), CORM_ECONNECT);
    assert_non_null(strstr(corm_engine_errmsg(e), "/nonexistent-dir/x/y.db"));
    corm_engine_close(e);
    /* read-only: the write fails with its own code, the read works */
    char url[600];
    snprintf(url, sizeof url, "sqlite:///%s?mode=ro", fx.path);
    read_only_refuses_writes(url, "readonly");
}

static void locked_database_times_out_clearly(void **state)
{
    (void)state;
    /* another session holds the write lock */
    corm_session *other = corm_session_new(fx.db);
    User *o = corm_new(other, User);
    o->username = "holder";
    o->email = "holder@example.com";
    OK(corm_add(other, o));
    OK(corm_flush(other));
    User *a;
    OK(corm_get(s, User, alice_id, &a));
    a->age = 31;
    int rc = corm_commit(s);
    assert_int_equal(rc, CORM_EBUSY);
    assert_non_null(strstr(corm_errmsg(s), "locked"));
    OK(corm_commit(other));
    /* the change was kept: committing again now works */
    OK(corm_commit(s));
    corm_session *s2 = corm_session_new(fx.db);
    User *b;
    OK(corm_get(s2, User, alice_id, &b));
    assert_int_equal(b->age, 31);
    corm_session_free(s2);
    corm_session_free(other);
}

/* The same three failures on PostgreSQL: a server that is not there, a
 * read-only transaction, and a row another session has locked for longer
 * than lock_timeout. */
static void server_unreachable_read_only_and_locked(void **state)
{
    (void)state;
    corm_engine *e;
    assert_int_equal(corm_engine_open(&e, "postgresql://ann:s3cret@/nowhere?host=/nonexistent-dir",
                                      test_models), CORM_ECONNECT);
    assert_non_null(strstr(corm_engine_errmsg(e), "/nonexistent-dir"));
    assert_null(strstr(corm_engine_errmsg(e), "s3cret"));
    corm_engine_close(e);
    /* read-only: the write fails with its own code, the read works */
    char url[700];
    snprintf(url, sizeof url, "%s&options=-c%%20default_transaction_read_only%%3Don", fx.url);
    read_only_refuses_writes(url, "read-only");
    /* another session holds the row: lock_timeout, then CORM_EBUSY */
    snprintf(url, sizeof url, "%s&options=-c%%20lock_timeout%%3D200", fx.url);
    OK(corm_engine_open(&e, url, test_models));
    corm_session *other = corm_session_new(fx.db), *w = corm_session_new(e);
    User *held, *mine;
    OK(corm_get(other, User, alice_id, &held));
    held->age = 40;
    OK(corm_flush(other));
    OK(corm_get(w, User, alice_id, &mine));
    mine->age = 31;
    assert_int_equal(corm_commit(w), CORM_EBUSY);
    assert_non_null(strstr(corm_errmsg(w), "lock timeout"));
    OK(corm_commit(other));
    OK(corm_commit(w)); /* the change was kept: committing again now works */
    User *b;
    corm_session *s2 = corm_session_new(fx.db);
    OK(corm_get(s2, User, alice_id, &b));
    assert_int_equal(b->age, 31);
    corm_session_free(s2);
    corm_session_free(w);
    corm_session_free(other);
    corm_engine_close(e);
}

/* libpq's multi-host form: the hosts are tried in turn, and the one that
 * answers (and, with target_session_attrs=read-write, takes writes) is used. */
static void multi_host_url_reaches_the_host_that_answers(void **state)
{
    (void)state;
    const char *sock = getenv("PGHOST"), *port = getenv("PGPORT");
    if (!sock || !port)
        fail_msg("PGHOST/PGPORT are not set: run under scripts/with-pg.sh");
    const char *db = strstr(fx.url, ":///");
    char name[128], url[700];
    snprintf(name, sizeof name, "%s", db ? db + 4 : "");
    name[strcspn(name, "?")] = '\0';
    snprintf(url, sizeof url, "postgresql:///%s?host=/nonexistent-dir,%s&port=%s&user=corm&"
             "target_session_attrs=read-write", name, sock, port);
    corm_engine *e;
    if (corm_engine_open(&e, url, test_models) != CORM_OK)
        fail_msg("open %s: %s", url, corm_engine_errmsg(e));
    corm_session *t = corm_session_new(e);
    User *a;
    OK(corm_get(t, User, alice_id, &a));
    assert_non_null(a);
    a->age = 33;
    OK(corm_commit(t));
    corm_session_free(t);
    corm_engine_close(e);
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'alice'"), 33);
}

/* The server restarts under an open engine: a new session works without the
 * program doing anything (the pool pings what it hands out); a session that
 * was inside a transaction gets CORM_ECONNLOST with its objects as it left
 * them, commits again, and nothing committed before is lost. */
static void server_restart_is_survived(void **state)
{
    (void)state;
    /* the server script that started the server restarts it */
    bool pg = strncmp(test_server_url(), "postgres", 8) == 0;
    const char *dir = getenv(pg ? "CORM_PG_DIR" : "CORM_MY_DIR");
    if (!dir)
        fail_msg("the server's directory is not set: run under scripts/with-pg.sh or with-mariadb.sh");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s/scripts/%s' restart '%s'", CORM_SOURCE_DIR,
             pg ? "pg.sh" : "mariadb.sh", dir);
    corm_session *idle = corm_session_new(fx.db); /* pools a connection, then ends */
    User *a;
    OK(corm_get(idle, User, alice_id, &a));
    corm_session_free(idle);
    corm_session *busy = corm_session_new(fx.db);
    User *b;
    OK(corm_get(busy, User, alice_id, &b));
    b->age = 44;
    OK(corm_flush(busy)); /* inside a transaction when the server goes */
    corm_session *reader = corm_session_new(fx.db);
    User *r;
    OK(corm_get(reader, User, alice_id, &r));
    assert_int_equal(system(cmd), 0);
    /* a session that had only read: its next read meets the lost connection
     * (CORM_ECONNLOST), and the one after goes on a fresh one, as nothing
     * was lost */
    corm_query *q = corm_query_new(reader, User);
    int64_t n = -1;
    int lost = corm_count(q, &n);
    if (lost != CORM_ECONNLOST)
        fail_msg("a read after a restart: %s: %s", corm_err_name(lost), corm_errmsg(reader));
    if (corm_count(q, &n) != CORM_OK)
        fail_msg("the read after: %s", corm_errmsg(reader));
    assert_int_equal(n, 1);
    corm_query_free(q);
    corm_session_free(reader);
    /* the session that had written: each statement now says the
     * connection, and its transaction, are lost (the first when it meets
     * it, the next before it is sent) */
    for (int i = 0; i < 2; i++) {
        q = corm_query_new(busy, User);
        lost = corm_count(q, &n);
        corm_query_free(q);
        if (lost != CORM_ECONNLOST)
            fail_msg("statement %d in the lost transaction: %s: %s", i + 1, corm_err_name(lost),
                     corm_errmsg(busy));
    }
    assert_non_null(strstr(corm_errmsg(busy), "its transaction was rolled back"));
    int rc = corm_commit(busy);
    if (rc != CORM_ECONNLOST)
        fail_msg("commit after a restart: %s: %s", corm_err_name(rc), corm_errmsg(busy));
    assert_int_equal(b->age, 44);
    assert_true(corm_is_modified(busy, b));
    /* a new session of the same engine: a fresh connection */
    corm_session *fresh = corm_session_new(fx.db);
    User *c;
    OK(corm_get(fresh, User, alice_id, &c));
    assert_int_equal(c->age, 30); /* committed data intact, the flushed change gone */
    corm_session_free(fresh);
    /* and the session that lost its transaction commits again */
    OK(corm_commit(busy));
    corm_session_free(busy);
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'alice'"), 44);
    User *u = corm_new(s, User); /* the fixture's session goes on too */
    u->username = "after-restart";
    u->email = "after-restart@example.com";
    OK(corm_add(s, u));
    OK(corm_commit(s));
}

/* A read the database refuses (on PostgreSQL, inside the transaction the
 * session's first read began): the session reads and writes on. */
static void failed_read_leaves_the_session_usable(void **state)
{
    (void)state;
    User *a;
    OK(corm_get(s, User, alice_id, &a));
    corm_result *r = NULL;
    assert_int_equal(corm_execute(s, "SELECT nope FROM \"user\"", NULL, 0, &r), CORM_ESQL);
    assert_non_null(strstr(corm_errmsg(s), "nope"));
    corm_query *q = corm_query_new(s, User);
    int64_t n = -1;
    OK(corm_count(q, &n));
    assert_int_equal(n, 1);
    corm_query_free(q);
    a->age = 31;
    OK(corm_commit(s));
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'alice'"), 31);
}

/* ---- a transaction the database ended ------------------------------------------------
 * A failed statement can end the transaction it ran in: SQLite rolls all
 * of it back when a statement runs out of memory (or meets an I/O error),
 * InnoDB when it picks the transaction as a deadlock's victim, and
 * PostgreSQL takes nothing more in a transaction after any failed
 * statement and answers its COMMIT by rolling back, without an error.
 * What the session flushed before is then gone; whatever runs next must
 * not be committed as if it were whole. */

static int lock_user(corm_session *ss, const char *name)
{
    corm_query *q = corm_query_new(ss, User);
    assert_non_null(q);
    corm_filter(q, corm_eq(User_username, name));
    corm_with_for_update(q);
    User *u;
    return corm_one(q, &u);
}

static atomic_int holding;

/* The other side of the deadlock: a heavier transaction (three rows
 * written, so InnoDB rolls back the test's, of one) that locks bob, then
 * waits for alice, whom the test's session holds. */
static void *deadlock_other(void *arg)
{
    (void)arg;
    corm_session *t = corm_session_new(fx.db);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "heavy%d", i);
        User *u = corm_new(t, User);
        u->username = corm_strdup(t, name);
        u->email = corm_strdup(t, name);
        corm_add(t, u);
    }
    intptr_t rc = corm_flush(t);
    if (rc == CORM_OK)
        rc = lock_user(t, "bob");
    atomic_store(&holding, 1);
    if (rc == CORM_OK)
        rc = lock_user(t, "alice");
    if (rc == CORM_OK)
        rc = corm_commit(t);
    if (rc != CORM_OK)
        fprintf(stderr, "the deadlock's other side: %s\n", corm_errmsg(t));
    corm_session_free(t);
    return (void *)rc;
}

/* Make the database end s's transaction, which has written, by an error in
 * one of its statements: each database its own way. */
static void end_transaction_by_error(void)
{
    const char *backend = fx_backend(&fx);
    if (!strcmp(backend, "postgresql")) {
        assert_int_equal(corm_execute(s, "SELECT 1/0", NULL, 0, NULL), CORM_ESQL);
    } else if (!strcmp(backend, "mariadb")) {
        OK(lock_user(s, "alice"));
        atomic_store(&holding, 0);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, deadlock_other, NULL), 0);
        while (!atomic_load(&holding))
            sleep_ms(1);
        sleep_ms(200); /* the other now waits for alice */
        int rc = lock_user(s, "bob");
        void *res;
        pthread_join(t, &res);
        if (rc != CORM_EBUSY || !strstr(corm_errmsg(s), "Deadlock"))
            fail_msg("wanted this session to be the deadlock's victim: %s: %s", corm_err_name(rc),
                     corm_errmsg(s));
        assert_int_equal((intptr_t)res, CORM_OK);
    } else {
        /* fail SQLite's Nth allocation in a sort, for N = 0, 1, ...: early
         * ones fail the statement alone, a later one in its step the whole
         * transaction (which the next statement finds ended) */
        for (long n = 0;; n++) {
            assert_true(n < 10000);
            test_sqlite_fail_after(n);
            corm_result *r;
            int rc = corm_execute(s, "SELECT username FROM \"user\" ORDER BY email DESC", NULL, 0, &r);
            test_sqlite_fail_after(-1);
            if (rc == CORM_OK)
                fail_msg("the sort ran whole at allocation %ld before any failure ended the "
                         "transaction", n);
            assert_int_equal(rc, CORM_ENOMEM);
            int64_t k;
            corm_query *q = corm_query_new(s, User);
            rc = corm_count(q, &k);
            corm_query_free(q);
            if (rc == CORM_EABORTED)
                return; /* the count found it ended: its own error is checked by the caller */
            OK(rc);
        }
    }
}

/* bob committed (the deadlock's second row), and "flushed" written in s's
 * transaction, not committed. */
static void flush_a_user(void)
{
    fx_user(s, "bob", 40);
    User *a = corm_new(s, User);
    a->username = "flushed";
    a->email = "flushed@example.com";
    OK(corm_add(s, a));
    OK(corm_flush(s));
}

static void transaction_the_database_ended_commits_nothing(void **state)
{
    (void)state;
    flush_a_user();
    end_transaction_by_error();
    /* nothing more runs in it */
    corm_query *q = corm_query_new(s, User);
    int64_t n;
    assert_int_equal(corm_count(q, &n), CORM_EABORTED);
    assert_non_null(strstr(corm_errmsg(s), "the database ended the transaction"));
    corm_query_free(q);
    /* and its COMMIT commits nothing (PostgreSQL's would roll back and
     * say it succeeded) */
    assert_int_equal(corm_commit(s), CORM_EABORTED);
    assert_non_null(strstr(corm_errmsg(s), "commit failed, nothing was written: the database "
                                           "ended the transaction"));
    const char *both = "SELECT count(*) FROM \"user\" WHERE username IN ('flushed', 'after')";
    assert_int_equal(db_int(fx.url, both), 0);
    /* the session goes on: the flushed object is pending again */
    User *b = corm_new(s, User);
    b->username = "after";
    b->email = "after@example.com";
    OK(corm_add(s, b));
    OK(corm_commit(s));
    assert_int_equal(db_int(fx.url, both), 2);
    still_intact();
}

/* A savepoint inside it: PostgreSQL's transaction goes on from the
 * savepoint (ROLLBACK TO SAVEPOINT undoes the failure), keeping what was
 * flushed before it; SQLite's and MariaDB's is gone with its savepoint,
 * and rolling back to it says so. */
static void savepoint_in_a_transaction_the_database_ended(void **state)
{
    (void)state;
    flush_a_user();
    OK(corm_begin_nested(s));
    end_transaction_by_error();
    const char *kept = "SELECT count(*) FROM \"user\" WHERE username = 'flushed'";
    int rc = corm_rollback_nested(s);
    if (!strcmp(fx_backend(&fx), "postgresql")) {
        OK(rc);
        OK(corm_commit(s));
        assert_int_equal(db_int(fx.url, kept), 1);
    } else {
        assert_int_equal(rc, CORM_EABORTED);
        assert_non_null(strstr(corm_errmsg(s), "the database ended the transaction"));
        assert_int_equal(corm_commit(s), CORM_EABORTED);
        assert_int_equal(db_int(fx.url, kept), 0);
        OK(corm_commit(s)); /* the failed commit left it to be written again */
        assert_int_equal(db_int(fx.url, kept), 1);
    }
    still_intact();
}

/* What MariaDB's defaults would get wrong, the same on every backend:
 * strings compare by case and trailing spaces; a value the column cannot
 * hold is refused, not truncated or stored as zeros — through the ORM
 * (checked before any SQL) and through raw SQL (the database's own check,
 * strict mode on MariaDB). */
static void values_compare_exactly_and_are_never_coerced(void **state)
{
    (void)state;
    User *v;
    corm_query *q = corm_query_new(s, User);
    corm_filter(q, corm_eq(User_username, "Alice"));
    OK(corm_first(q, &v));
    assert_null(v); /* 'Alice' = 'alice' is false */
    corm_query_free(q);
    q = corm_query_new(s, User);
    corm_filter(q, corm_eq(User_username, "alice "));
    OK(corm_first(q, &v));
    assert_null(v); /* 'alice ' = 'alice' is false */
    corm_query_free(q);
    q = corm_query_new(s, User);
    corm_filter(q, corm_like(User_username, "ALI%"));
    OK(corm_first(q, &v));
    assert_null(v); /* LIKE is case-sensitive */
    corm_query_free(q);
    /* 121 characters into STRING(120): refused, nothing written */
    char mail[200];
    memset(mail, 'm', 121);
    mail[121] = '\0';
    User *u = corm_new(s, User);
    u->username = "bob";
    u->email = mail;
    OK(corm_add(s, u));
    EXPECT(corm_commit(s), CORM_ETOOLONG, "User.email", "mmmm", "STRING(120)");
    OK(corm_expunge(s, u));
    /* by raw SQL the server refuses it too (SQLite does not enforce a
     * VARCHAR's length: there only corm's own check above stands) */
    char sql[400];
    snprintf(sql, sizeof sql, "INSERT INTO \"user\" (username, email, age) VALUES ('bob', '%s', 1)", mail);
    int rc = corm_execute(s, sql, NULL, 0, NULL);
    if (test_server_url() && rc != CORM_ETOOLONG)
        fail_msg("121 characters by raw SQL: %s: %s", corm_err_name(rc), corm_errmsg(s));
    OK(corm_rollback(s));
    /* an invalid date by raw SQL: refused by a server, not stored as zeros
     * (SQLite keeps dates as text: there corm's own writes check them) */
    rc = corm_execute(s, "UPDATE \"user\" SET created = '2024-02-30 00:00:00' WHERE username = 'alice'",
                      NULL, 0, NULL);
    if (test_server_url() && rc >= 0)
        fail_msg("an invalid date was taken");
    OK(corm_rollback(s));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\""), 1);
    char buf[64];
    assert_non_null(strstr(db_text(fx.url, "SELECT created FROM \"user\"", buf, sizeof buf), "2024-01-01"));
    still_intact();
}

int main(void)
{
    test_sqlite_hook(); /* before SQLite starts */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unknown_column_in_filter_by, setup, teardown),
        cmocka_unit_test_setup_teardown(null_into_not_null_is_caught_before_sql, setup, teardown),
        cmocka_unit_test_setup_teardown(string_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(unique_violation, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_key_violation, setup, teardown),
        cmocka_unit_test_setup_teardown(check_violation, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_values_per_type, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_commit_keeps_earlier_flushes_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_commit_after_bulk_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_strings_are_only_values, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_read_leaves_the_session_usable, setup, teardown),
        cmocka_unit_test_setup_teardown(transaction_the_database_ended_commits_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(savepoint_in_a_transaction_the_database_ended, setup, teardown),
        cmocka_unit_test_setup_teardown(values_compare_exactly_and_are_never_coerced, setup, teardown),
    };
    /* the database's own ways to be unreachable, read-only or locked */
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test_setup_teardown(unwritable_and_missing_databases, setup, teardown),
        cmocka_unit_test_setup_teardown(locked_database_times_out_clearly, setup, teardown),
    };
    const struct CMUnitTest server_tests[] = {
        cmocka_unit_test_setup_teardown(server_restart_is_survived, setup, teardown),
    };
    /* libpq's own: its multi-host URLs, and PostgreSQL's ways to be read-only
     * and locked (MariaDB's: issue 9) */
    const struct CMUnitTest postgres_tests[] = {
        cmocka_unit_test_setup_teardown(server_unreachable_read_only_and_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(multi_host_url_reaches_the_host_that_answers, setup, teardown),
    };
    const char *server = test_server_url();
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (server && strncmp(server, "postgres", 8) == 0)
        failed += cmocka_run_group_tests(postgres_tests, NULL, NULL);
    if (server)
        failed += cmocka_run_group_tests(server_tests, NULL, NULL);
    else
        failed += cmocka_run_group_tests(sqlite_tests, NULL, NULL);
    return failed;
}
