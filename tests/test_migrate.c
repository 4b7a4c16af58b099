/*
 * test_migrate.c — revisions on disk applied to a live database: upgrade,
 * downgrade, current, history, show, stamp, merge, offline SQL; and the
 * failure paths: a revision failing mid-way, a malformed file, two heads,
 * a missing parent, an unknown stamped revision, a missing folder.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[128], migs[160];
static corm_engine *db;

static int setup(void **state)
{
    (void)state;
    static const corm_model *const none[] = { NULL };
    char url[256];
    snprintf(dir, sizeof dir, "/tmp/corm-mig-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(migs, sizeof migs, "%s/migrations", dir);
    snprintf(url, sizeof url, "sqlite:///%s/app.db", dir);
    OK(corm_engine_open(&db, url, none));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corm_engine_close(db);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static int64_t scalar(const char *sql)
{
    corm_session *s = corm_session_new(db);
    corm_result *r;
    int rc = corm_execute(s, sql, NULL, 0, &r);
    int64_t v = rc == CORM_OK ? corm_result_int(r, 0, 0) : -1;
    corm_session_free(s);
    return v;
}

static bool has_table(const char *name)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM sqlite_master WHERE name = '%s'", name);
    return scalar(sql) == 1;
}

/* What a call printed. */
static char *printed(int (*fn)(corm_engine *, const char *, FILE *))
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    OK(fn(db, migs, f));
    fclose(f);
    return buf;
}

static int current(corm_engine *e, const char *d, FILE *f) { return corm_migrate_current(e, d, f); }
static int history(corm_engine *e, const char *d, FILE *f) { return corm_migrate_history(e, d, f, false); }

static void write_file(const char *name, const char *text)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", migs, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void upgrade_downgrade_and_back(void **state)
{
    (void)state;
    OK(corm_migrate_init(db, migs));
    char *out = printed(current);
    assert_string_equal(out, "<base>\n");
    free(out);
    char r1[64], r2[64];
    OK(corm_migrate_revision(db, migs, "create users",
                             "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n"
                             "INSERT INTO users (name) VALUES ('ann'), ('bob');",
                             "DROP TABLE users;", r1, sizeof r1));
    OK(corm_migrate_revision(db, migs, "add age",
                             "ALTER TABLE users ADD COLUMN age INTEGER;\n"
                             "UPDATE users SET age = 30 WHERE name = 'ann';",
                             "ALTER TABLE users DROP COLUMN age;", r2, sizeof r2));
    OK(corm_migrate_upgrade(db, migs, "head", NULL));
    assert_int_equal(scalar("SELECT age FROM users WHERE name = 'ann'"), 30);
    out = printed(current);
    assert_non_null(strstr(out, r2));
    assert_non_null(strstr(out, "(head)"));
    free(out);
    out = printed(history);
    char to1[80], to2[80];
    snprintf(to1, sizeof to1, "-> %s", r1);
    snprintf(to2, sizeof to2, "-> %s", r2);
    assert_non_null(strstr(out, to1));
    assert_true(strstr(out, to2) < strstr(out, to1)); /* newest first */
    assert_non_null(strstr(out, "<base> -> "));
    free(out);
    OK(corm_migrate_downgrade(db, migs, "-1", NULL));
    assert_int_equal(scalar("SELECT COUNT(*) FROM pragma_table_info('users') WHERE name = 'age'"), 0);
    assert_int_equal(scalar("SELECT COUNT(*) FROM users"), 2); /* rows kept */
    OK(corm_migrate_downgrade(db, migs, "base", NULL));
    assert_false(has_table("users"));
    OK(corm_migrate_upgrade(db, migs, "+1", NULL));
    assert_true(has_table("users"));
    assert_int_equal(scalar("SELECT COUNT(*) FROM corm_version"), 1);
    OK(corm_migrate_upgrade(db, migs, r2, NULL));
    assert_int_equal(scalar("SELECT age FROM users WHERE name = 'ann'"), 30);
    /* show, stamp */
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    OK(corm_migrate_show(db, migs, r1, f));
    fclose(f);
    assert_non_null(strstr(buf, "CREATE TABLE users"));
    assert_non_null(strstr(buf, "Message: create users"));
    free(buf);
    OK(corm_migrate_stamp(db, migs, "base"));
    assert_int_equal(scalar("SELECT COUNT(*) FROM corm_version"), 0);
    assert_true(has_table("users")); /* stamp runs nothing */
    OK(corm_migrate_stamp(db, migs, "head"));
    assert_int_equal(corm_migrate_stamp(db, migs, "nope"), CORM_ENOTFOUND);
}

static void offline_sql_changes_nothing(void **state)
{
    (void)state;
    OK(corm_migrate_init(db, migs));
    OK(corm_migrate_revision(db, migs, "t", "CREATE TABLE t (x INT);", "DROP TABLE t;", NULL, 0));
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    OK(corm_migrate_upgrade(db, migs, "head", f));
    fclose(f);
    assert_non_null(strstr(buf, "BEGIN;\nCREATE TABLE t (x INT);\nDELETE FROM corm_version;\n"
                                "INSERT INTO corm_version"));
    free(buf);
    assert_false(has_table("t"));
    assert_int_equal(scalar("SELECT COUNT(*) FROM corm_version"), 0);
}

static void a_failing_revision_leaves_the_one_before(void **state)
{
    (void)state;
    OK(corm_migrate_init(db, migs));
    char r1[64];
    OK(corm_migrate_revision(db, migs, "ok", "CREATE TABLE a (x INT);", "DROP TABLE a;", r1, sizeof r1));
    OK(corm_migrate_revision(db, migs, "bad", "CREATE TABLE b (x INT);\nINSERT INTO nowhere VALUES (1);",
                             "DROP TABLE b;", NULL, 0));
    int rc = corm_migrate_upgrade(db, migs, "head", NULL);
    assert_int_equal(rc, CORM_ESQL);
    const char *msg = corm_engine_errmsg(db);
    assert_non_null(strstr(msg, "_bad.sql:7: upgrade failed"));
    assert_non_null(strstr(msg, "no such table: nowhere"));
    assert_true(has_table("a"));      /* the revision before is applied */
    assert_false(has_table("b"));     /* this one is rolled back whole */
    char *out = printed(current);
    assert_non_null(strstr(out, r1));
    free(out);
}

static void malformed_files_are_named(void **state)
{
    (void)state;
    OK(corm_migrate_init(db, migs));
    write_file("x_1.sql", "-- corm revision: x1\n-- parent: base\n-- +upgrade\nCREATE TABLE q (x INT)\n"
                          "-- +downgrade\nDROP TABLE q;\n");
    assert_int_equal(corm_migrate_upgrade(db, migs, "head", NULL), CORM_ESQL);
    assert_non_null(strstr(corm_engine_errmsg(db), "x_1.sql:5: the statement before this line does not end with ';'"));
    write_file("x_1.sql", "-- corm revision: x1\n-- parent: base\n-- +upgrade\nINSERT INTO q VALUES ('open);\n");
    assert_int_equal(corm_migrate_upgrade(db, migs, "head", NULL), CORM_ESQL);
    assert_non_null(strstr(corm_engine_errmsg(db), "x_1.sql:4: a quote is never closed"));
    write_file("x_1.sql", "-- parent: base\n-- +upgrade\nSELECT 1;\n");
    assert_int_equal(corm_migrate_upgrade(db, migs, "head", NULL), CORM_ESQL);
    assert_non_null(strstr(corm_engine_errmsg(db), "no '-- corm revision: ID' line"));
}

static void heads_parents_and_stamps(void **state)
{
    (void)state;
    OK(corm_migrate_init(db, migs));
    write_file("a.sql", "-- corm revision: a\n-- parent: base\n-- +upgrade\nCREATE TABLE a (x INT);\n"
                        "-- +downgrade\nDROP TABLE a;\n");
    write_file("b.sql", "-- corm revision: b\n-- parent: a\n-- +upgrade\nCREATE TABLE b (x INT);\n"
                        "-- +downgrade\nDROP TABLE b;\n");
    write_file("c.sql", "-- corm revision: c\n-- parent: a\n-- +upgrade\nCREATE TABLE c (x INT);\n"
                        "-- +downgrade\nDROP TABLE c;\n");
    assert_int_equal(corm_migrate_upgrade(db, migs, "head", NULL), CORM_ESTATE);
    assert_non_null(strstr(corm_engine_errmsg(db), "2 heads (b, c)"));
    char m[64];
    OK(corm_migrate_merge(db, migs, "join b and c", m, sizeof m));
    if (corm_migrate_upgrade(db, migs, "head", NULL) != CORM_OK)
        fail_msg("%s", corm_engine_errmsg(db));
    assert_true(has_table("b") && has_table("c"));
    char *out = printed(current);
    assert_non_null(strstr(out, m));
    free(out);
    if (corm_migrate_downgrade(db, migs, "a", NULL) != CORM_OK)
        fail_msg("%s", corm_engine_errmsg(db));
    assert_false(has_table("b") || has_table("c"));
    assert_true(has_table("a"));
    /* a missing parent */
    write_file("d.sql", "-- corm revision: d\n-- parent: zzz\n-- +upgrade\nSELECT 1;\n");
    assert_int_equal(corm_migrate_upgrade(db, migs, "head", NULL), CORM_ESTATE);
    assert_non_null(strstr(corm_engine_errmsg(db), "d.sql: parent revision zzz does not exist"));
    char path[300];
    snprintf(path, sizeof path, "%s/d.sql", migs);
    unlink(path);
    /* a database stamped at a revision no file defines */
    corm_session *s = corm_session_new(db);
    OK(corm_execute(s, "UPDATE corm_version SET version_num = 'ghost'", NULL, 0, NULL));
    OK(corm_commit(s));
    corm_session_free(s);
    assert_int_equal(corm_migrate_upgrade(db, migs, "head", NULL), CORM_ESTATE);
    assert_non_null(strstr(corm_engine_errmsg(db), "at revision ghost, which no file"));
}

static void a_missing_folder(void **state)
{
    (void)state;
    assert_int_equal(corm_migrate_upgrade(db, "/nonexistent/migrations", "head", NULL), CORM_ENOTFOUND);
    assert_non_null(strstr(corm_engine_errmsg(db), "migrations folder /nonexistent/migrations"));
    assert_non_null(strstr(corm_engine_errmsg(db), "db init"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(upgrade_downgrade_and_back, setup, teardown),
        cmocka_unit_test_setup_teardown(offline_sql_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failing_revision_leaves_the_one_before, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_files_are_named, setup, teardown),
        cmocka_unit_test_setup_teardown(heads_parents_and_stamps, setup, teardown),
        cmocka_unit_test_setup_teardown(a_missing_folder, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
