/*
 * test_migrate.c — revisions on disk applied to a live database: upgrade,
 * downgrade, current, history, show, stamp, merge, offline SQL; and the
 * failure paths: a revision failing mid-way, a malformed file, two heads,
 * a missing parent, an unknown stamped revision, a missing folder.
 *
 * On every backend: on a server (CORM_TEST_URL) each test gets the test
 * database with its schema emptied, where SQLite gets files of its own.
 * Where the database's catalogs or messages differ, helpers below ask each
 * its own way.
 */
#include "common.h"
#include "util/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#define CORM_DEFINE_MODELS /* the versions of the app's models below */

/* v1: the seed's User */
#define U1(COLUMN, RELATION)                                                   \
    COLUMN(id,       CORM_INTEGER,     CORM_PRIMARY_KEY)                        \
    COLUMN(username, CORM_STRING(80),  CORM_UNIQUE | CORM_NOT_NULL)             \
    COLUMN(email,    CORM_STRING(120), CORM_UNIQUE | CORM_NOT_NULL)
CORM_MODEL(UserV1, "user", U1)
/* v2: "add age field to User" */
#define U2(COLUMN, RELATION)                                                   \
    COLUMN(id,       CORM_INTEGER,     CORM_PRIMARY_KEY)                        \
    COLUMN(username, CORM_STRING(80),  CORM_UNIQUE | CORM_NOT_NULL)             \
    COLUMN(email,    CORM_STRING(120), CORM_UNIQUE | CORM_NOT_NULL)             \
    COLUMN(age,      CORM_INTEGER,     CORM_NOT_NULL, CORM_SERVER_DEFAULT("18"))
CORM_MODEL(UserV2, "user", U2)
/* v3: email renamed to mail, username's type changed, a Post table with a key */
#define U3(COLUMN, RELATION)                                                   \
    COLUMN(id,       CORM_INTEGER,     CORM_PRIMARY_KEY)                        \
    COLUMN(username, CORM_TEXT,        CORM_NOT_NULL)                           \
    COLUMN(mail,     CORM_STRING(120), CORM_UNIQUE | CORM_NOT_NULL, CORM_OLD_NAME("email")) \
    COLUMN(age,      CORM_INTEGER,     CORM_NOT_NULL, CORM_SERVER_DEFAULT("18"))
CORM_MODEL(UserV3, "user", U3)
#define P3(COLUMN, RELATION)                                                   \
    COLUMN(id,      CORM_INTEGER, CORM_PRIMARY_KEY)                             \
    COLUMN(content, CORM_TEXT,    0)                                            \
    COLUMN(user_id, CORM_INTEGER, CORM_NOT_NULL | CORM_INDEX, CORM_FK(UserV3, id))
CORM_MODEL(PostV3, "post", P3)
/* v4: age dropped again */
#define U4(COLUMN, RELATION)                                                   \
    COLUMN(id,       CORM_INTEGER,     CORM_PRIMARY_KEY)                        \
    COLUMN(username, CORM_TEXT,        CORM_NOT_NULL)                           \
    COLUMN(mail,     CORM_STRING(120), CORM_UNIQUE | CORM_NOT_NULL)
CORM_MODEL(UserV4, "user", U4)
#define P4(COLUMN, RELATION)                                                   \
    COLUMN(id,      CORM_INTEGER, CORM_PRIMARY_KEY)                             \
    COLUMN(content, CORM_TEXT,    0)                                            \
    COLUMN(user_id, CORM_INTEGER, CORM_NOT_NULL | CORM_INDEX, CORM_FK(UserV4, id))
CORM_MODEL(PostV4, "post", P4)

/* Every other change a revision makes: nullability, defaults, a unique
 * over two columns, a key's ON DELETE, indexes; A before, B after. */
#define TA(COLUMN, RELATION)                                                   \
    COLUMN(id,    CORM_INTEGER,    CORM_PRIMARY_KEY)                            \
    COLUMN(name,  CORM_STRING(40), 0, CORM_SERVER_DEFAULT("'x'"))               \
    COLUMN(rank,  CORM_INTEGER,    CORM_NOT_NULL | CORM_INDEX)                  \
    COLUMN(score, CORM_INTEGER,    0)                                           \
    COLUMN(owner, CORM_INTEGER,    0, CORM_FK(UserV1, id))
CORM_MODEL(TeamA, "team", TA)
#define TB(COLUMN, RELATION)                                                   \
    COLUMN(id,    CORM_INTEGER,    CORM_PRIMARY_KEY)                            \
    COLUMN(name,  CORM_STRING(40), CORM_NOT_NULL, CORM_SERVER_DEFAULT("'y'"))   \
    COLUMN(rank,  CORM_INTEGER,    0)                                           \
    COLUMN(score, CORM_INTEGER,    CORM_INDEX, CORM_SERVER_DEFAULT("0"))        \
    COLUMN(owner, CORM_INTEGER,    0, CORM_FK(UserV1, id), CORM_ON_DELETE(CORM_FK_CASCADE))
CORM_MODEL(TeamB, "team", TB, CORM_UNIQUE_TOGETHER("name", "rank"))

static char dir[128], migs[160];
static corm_engine *db;

/* Which server the suite runs on: NULL (SQLite files), "postgresql", "mariadb". */
static const char *server(void)
{
    const char *u = test_server_url();
    return !u ? NULL : strncmp(u, "postgres", 8) == 0 ? "postgresql" : "mariadb";
}
static bool on(const char *backend) { return server() && strcmp(server(), backend) == 0; }

/* The database named name: a file of the test's own, or the server's test
 * database (one per test binary; setup empties it). */
static const char *db_url(const char *name)
{
    static char url[512];
    if (test_server_url())
        snprintf(url, sizeof url, "%s", test_server_url());
    else
        snprintf(url, sizeof url, "sqlite:///%s/%s", dir, name);
    return url;
}

static int setup(void **state)
{
    (void)state;
    static const corm_model *const none[] = { NULL };
    snprintf(dir, sizeof dir, "/tmp/corm-mig-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(migs, sizeof migs, "%s/migrations", dir);
    if (test_server_url())
        test_empty_server_db();
    OK(corm_engine_open(&db, db_url("app.db"), none));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corm_engine_close(db);
    test_rm_rf(dir);
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

/* Whether the database at url has a table (kind "table"), an index
 * ("index") or a column of table ("column"), asked of each database's own
 * catalog. */
static bool has(const char *url, const char *kind, const char *table, const char *name)
{
    char sql[400];
    if (on("postgresql") && strcmp(kind, "column") == 0)
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.columns WHERE "
                 "table_schema = current_schema() AND table_name = '%s' AND column_name = '%s'",
                 table, name);
    else if (on("postgresql"))
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                 "c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = '%c' AND "
                 "c.relname = '%s'", kind[0] == 't' ? 'r' : 'i', name);
    else if (on("mariadb") && strcmp(kind, "column") == 0)
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE "
                 "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s'", table, name);
    else if (on("mariadb") && kind[0] == 't')
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                 "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s'", name);
    else if (on("mariadb"))
        snprintf(sql, sizeof sql, "SELECT COUNT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS "
                 "WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME = '%s'", name);
    else if (strcmp(kind, "column") == 0)
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM pragma_table_info('%s') WHERE name = '%s'",
                 table, name);
    else
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM sqlite_master WHERE type = '%s' AND name = '%s'",
                 kind, name);
    return db_int(url, sql) == 1;
}

static bool has_table(const char *name) { return has(db_url("app.db"), "table", NULL, name); }

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
                             "INSERT INTO users (id, name) VALUES (1, 'ann'), (2, 'bob');",
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
    assert_false(has(db_url("app.db"), "column", "users", "age"));
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
    char first[1024];
    snprintf(first, sizeof first, "%s", corm_engine_errmsg(db));
    const char *msg = first;
    assert_non_null(strstr(msg, "_bad.sql:7: upgrade failed"));
    assert_non_null(strstr(msg, on("postgresql") ? "relation \"nowhere\" does not exist"
                                : on("mariadb") ? "nowhere' doesn't exist"
                                                : "no such table: nowhere"));
    assert_true(has_table("a"));      /* the revision before is applied */
    char *out = printed(current);
    assert_non_null(strstr(out, r1)); /* and recorded */
    free(out);
    if (!on("mariadb")) {
        assert_false(has_table("b")); /* this one is rolled back whole */
        return;
    }
    /* MariaDB's DDL commits by itself: what ran before the failure stays,
     * the message says so, and the database is marked half-way: upgrade and
     * downgrade refuse, naming the revision and the statement, until the
     * user repairs the schema and stamps the revision it matches */
    if (!strstr(msg, "failed half-way (1 of its 2 statements applied"))
        fail_msg("%s", msg);
    assert_non_null(strstr(msg, "db stamp"));
    assert_true(has_table("b"));
    assert_int_equal(corm_migrate_upgrade(db, migs, "head", NULL), CORM_ESTATE);
    msg = corm_engine_errmsg(db);
    if (!strstr(msg, "left half-way by the upgrade of revision") || !strstr(msg, "_bad.sql:7:"))
        fail_msg("%s", msg);
    assert_int_equal(corm_migrate_downgrade(db, migs, "base", NULL), CORM_ESTATE);
    assert_true(has_table("a"));
    /* repaired by hand, stamped where it is: it moves again */
    corm_session *s = corm_session_new(db);
    OK(corm_execute(s, "DROP TABLE b", NULL, 0, NULL));
    corm_session_free(s);
    OK(corm_migrate_stamp(db, migs, r1));
    OK(corm_migrate_downgrade(db, migs, "base", NULL));
    assert_false(has_table("a"));
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

/* The revision written last, as `db show` prints it (malloc'd). */
static char *shown(corm_engine *e, const char *id)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    OK(corm_migrate_show(e, migs, id, f));
    fclose(f);
    char *text = fx_normalize(buf); /* MariaDB's `name` read as "name" */
    free(buf);
    return text;
}

/* Open the app at one version of its models, migrate to them, upgrade;
 * the revision's text into *text when asked (malloc'd). */
static corm_engine *app(const corm_model *const *models, const char *message, int want_revision,
                        char **text)
{
    corm_engine *e;
    OK(corm_engine_open(&e, db_url("story.db"), models));
    char id[64];
    char *notes = NULL;
    size_t nn = 0;
    FILE *f = open_memstream(&notes, &nn);
    int rc = corm_migrate_autogenerate(e, migs, message, f, id, sizeof id);
    fclose(f);
    if (rc < 0)
        fail_msg("migrate: %s", corm_engine_errmsg(e));
    assert_int_equal(rc, want_revision);
    if (text)
        *text = shown(e, id);
    if (rc == 1 && corm_migrate_upgrade(e, migs, "head", NULL) != CORM_OK)
        fail_msg("upgrade: %s", corm_engine_errmsg(e));
    corm_schema_diff *d = NULL;
    if (corm_check_schema(e, &d) != 0) /* the database matches the models */
        fail_msg("after \"%s\": %s", message, d && corm_schema_diff_count(d)
                                                 ? corm_schema_diff_line(d, 0) : corm_engine_errmsg(e));
    corm_schema_diff_free(d);
    if (strstr(message, "drop"))
        assert_non_null(strstr(notes, "WARNING: the revision drops column user.age"));
    free(notes);
    return e;
}

static int64_t value(corm_engine *e, const char *sql)
{
    corm_session *s = corm_session_new(e);
    corm_result *r;
    if (corm_execute(s, sql, NULL, 0, &r) != CORM_OK)
        fail_msg("%s: %s", sql, corm_errmsg(s));
    int64_t v = corm_result_int(r, 0, 0);
    corm_session_free(s);
    return v;
}

static void exec_sql(corm_engine *e, const char *sql)
{
    corm_session *s = corm_session_new(e);
    if (corm_execute(s, sql, NULL, 0, NULL) != CORM_OK || corm_commit(s) != CORM_OK)
        fail_msg("%s: %s", sql, corm_errmsg(s));
    corm_session_free(s);
}

static bool story_has(const char *kind, const char *table, const char *name)
{
    return has(db_url("story.db"), kind, table, name);
}

/* The seed's story: models change, migrations follow, every row survives.
 * Where the database alters a table in place (PostgreSQL) the revisions
 * are ALTER TABLE statements; on SQLite, the table is rebuilt. */
static void the_seed_story(void **state)
{
    (void)state;
    static const corm_model *const v1[] = { UserV1_model, NULL };
    static const corm_model *const v2[] = { UserV2_model, NULL };
    static const corm_model *const v3[] = { UserV3_model, PostV3_model, NULL };
    static const corm_model *const v4[] = { UserV4_model, PostV4_model, NULL };
    bool alters = test_server_url() != NULL;
    corm_engine *e;
    char *text;
    OK(corm_engine_open(&e, db_url("story.db"), v1));
    OK(corm_migrate_init(e, migs));
    corm_engine_close(e);

    e = app(v1, "create users", 1, NULL);
    exec_sql(e, "INSERT INTO \"user\" (username, email) VALUES ('marshal', 'm@example.com'), "
                "('ann', 'a@example.com')");
    e = (corm_engine_close(e), app(v1, "nothing", 0, NULL)); /* no change: no file */
    corm_engine_close(e);

    /* a NOT NULL column with a server default: the rows take it */
    e = app(v2, "add age field to User", 1, &text);
    if (alters)
        assert_non_null(strstr(text, "ALTER TABLE \"user\" ADD COLUMN \"age\" BIGINT NOT NULL DEFAULT (18);"));
    else
        assert_non_null(strstr(text, "CREATE TABLE \"_corm_new_user\""));
    free(text);
    assert_int_equal(value(e, "SELECT COUNT(*) FROM \"user\" WHERE age = 18"), 2);
    exec_sql(e, "UPDATE \"user\" SET age = 40 WHERE username = 'ann'");
    corm_engine_close(e);

    /* a rename (CORM_OLD_NAME), a type change, a new table with a key */
    e = app(v3, "rename email, text username, posts", 1, &text);
    if (alters) {
        assert_non_null(strstr(text, "ALTER TABLE \"user\" RENAME COLUMN \"email\" TO \"mail\";"));
        assert_non_null(strstr(text, on("mariadb") /* MODIFY: the whole definition */
                                         ? "ALTER TABLE \"user\" MODIFY COLUMN \"username\" LONGTEXT NOT NULL;"
                                         : "ALTER TABLE \"user\" ALTER COLUMN \"username\" TYPE TEXT "
                                           "USING \"username\"::TEXT;"));
        assert_null(strstr(text, "_corm_new_"));
    }
    free(text);
    assert_int_equal(value(e, "SELECT COUNT(*) FROM \"user\" WHERE mail = 'a@example.com' AND age = 40"), 1);
    exec_sql(e, "INSERT INTO post (content, user_id) VALUES ('hello', 1)");
    assert_true(story_has("index", "post", "ix_post_user_id"));
    corm_engine_close(e);

    /* a revision failing half-way leaves the schema and the version as
     * they were, where DDL is transactional (MariaDB's is not: its own
     * test is a_failing_revision_leaves_the_one_before) */
    OK(corm_engine_open(&e, db_url("story.db"), v3));
    if (!on("mariadb")) {
        OK(corm_migrate_revision(e, migs, "half way",
                                 "ALTER TABLE \"user\" ADD COLUMN nickname TEXT;\n"
                                 "ALTER TABLE \"user\" RENAME COLUMN mail TO email;\n"
                                 "CREATE TABLE extra (x INTEGER);\n"
                                 "UPDATE \"user\" SET age = NULL;",
                                 "SELECT 1;", NULL, 0));
        char *before = NULL;
        {
            char *buf = NULL;
            size_t n = 0;
            FILE *f = open_memstream(&buf, &n);
            OK(corm_migrate_current(e, migs, f));
            fclose(f);
            before = buf;
        }
        assert_int_equal(corm_migrate_upgrade(e, migs, "head", NULL), CORM_ENOTNULL);
        if (!strstr(corm_engine_errmsg(e), "_half_way.sql:9: upgrade failed"))
            fail_msg("%s", corm_engine_errmsg(e));
        assert_int_equal(corm_check_schema(e, NULL), 0); /* no nickname, mail is still mail */
        assert_false(story_has("table", NULL, "extra"));
        assert_int_equal(value(e, "SELECT COUNT(*) FROM \"user\" WHERE mail = 'a@example.com' AND age = 40"), 1);
        {
            char *buf = NULL;
            size_t n = 0;
            FILE *f = open_memstream(&buf, &n);
            OK(corm_migrate_current(e, migs, f));
            fclose(f);
            assert_string_equal(buf, before);
            free(buf);
        }
        free(before);
        /* take the bad revision away: the graph is as before it */
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -f '%s'/*_half_way.sql", migs);
        assert_int_equal(system(cmd), 0);
    }
    corm_engine_close(e);

    /* a dropped column */
    e = app(v4, "drop age", 1, &text);
    if (alters)
        assert_non_null(strstr(text, "ALTER TABLE \"user\" DROP COLUMN \"age\";"));
    free(text);
    assert_int_equal(value(e, "SELECT COUNT(*) FROM \"user\""), 2);
    assert_int_equal(value(e, "SELECT COUNT(*) FROM post"), 1);

    /* all the way down and up again: the rows come back where they can,
     * and each step down matches the models of its version */
    OK(corm_migrate_downgrade(e, migs, "-1", NULL));
    assert_int_equal(value(e, "SELECT COUNT(*) FROM \"user\" WHERE age = 18"), 2); /* the default */
    OK(corm_migrate_downgrade(e, migs, "-1", NULL));
    assert_false(story_has("table", NULL, "post"));
    assert_int_equal(value(e, "SELECT COUNT(*) FROM \"user\" WHERE email = 'm@example.com'"), 1);
    corm_engine_close(e);
    OK(corm_engine_open(&e, db_url("story.db"), v2));
    assert_int_equal(corm_check_schema(e, NULL), 0);
    OK(corm_migrate_downgrade(e, migs, "-1", NULL));
    corm_engine_close(e);
    OK(corm_engine_open(&e, db_url("story.db"), v1));
    assert_int_equal(corm_check_schema(e, NULL), 0);
    assert_int_equal(value(e, "SELECT COUNT(*) FROM \"user\""), 2);
    OK(corm_migrate_downgrade(e, migs, "base", NULL));
    assert_false(story_has("table", NULL, "user"));
    if (corm_migrate_upgrade(e, migs, "head", NULL) != CORM_OK)
        fail_msg("upgrade: %s", corm_engine_errmsg(e));
    corm_engine_close(e);
    OK(corm_engine_open(&e, db_url("story.db"), v4));
    assert_int_equal(corm_check_schema(e, NULL), 0);
    corm_engine_close(e);
}

/* Each kind of change, up and down again, on a table with rows: the
 * database matches the models of each version after each step. */
static void every_change_and_back(void **state)
{
    (void)state;
    static const corm_model *const va[] = { UserV1_model, TeamA_model, NULL };
    static const corm_model *const vb[] = { UserV1_model, TeamB_model, NULL };
    corm_engine *e;
    char *text;
    OK(corm_engine_open(&e, db_url("story.db"), va));
    OK(corm_migrate_init(e, migs));
    corm_engine_close(e);
    e = app(va, "teams", 1, NULL);
    exec_sql(e, "INSERT INTO \"user\" (id, username, email) VALUES (1, 'u', 'u@example.com')");
    exec_sql(e, "INSERT INTO team (id, name, rank, score, owner) VALUES (1, 'a', 1, 5, 1), "
                "(2, 'b', 2, NULL, 1)");
    corm_engine_close(e);
    e = app(vb, "change everything", 1, &text);
    if (on("mariadb")) { /* in place, with MariaDB's words */
        static const char *const want[] = {
            "ALTER TABLE \"team\" MODIFY COLUMN \"name\" VARCHAR(40) NOT NULL DEFAULT ('y');",
            "ALTER TABLE \"team\" MODIFY COLUMN \"rank\" BIGINT NULL;",
            "ALTER TABLE \"team\" ALTER COLUMN \"score\" SET DEFAULT (0);",
            "ALTER TABLE \"team\" ADD CONSTRAINT \"uq_team_name_rank\" UNIQUE (\"name\", \"rank\");",
            "ALTER TABLE \"team\" DROP FOREIGN KEY",
            "ON DELETE CASCADE",
            "DROP INDEX \"ix_team_rank\" ON \"team\";",
            "CREATE INDEX \"ix_team_score\" ON \"team\" (\"score\");",
            "ALTER TABLE \"team\" DROP INDEX \"uq_team_name_rank\";",
            "ALTER TABLE \"team\" ALTER COLUMN \"score\" DROP DEFAULT;",
        };
        for (size_t i = 0; i < sizeof want / sizeof *want; i++)
            if (!strstr(text, want[i]))
                fail_msg("no %s in:\n%s", want[i], text);
        assert_null(strstr(text, "_corm_new_"));
    } else if (on("postgresql")) { /* in place, one ALTER each */
        static const char *const want[] = {
            "ALTER TABLE \"team\" ALTER COLUMN \"name\" SET NOT NULL;",
            "ALTER TABLE \"team\" ALTER COLUMN \"name\" SET DEFAULT ('y');",
            "ALTER TABLE \"team\" ALTER COLUMN \"rank\" DROP NOT NULL;",
            "ALTER TABLE \"team\" ALTER COLUMN \"score\" SET DEFAULT (0);",
            "ALTER TABLE \"team\" ADD CONSTRAINT \"uq_team_name_rank\" UNIQUE (\"name\", \"rank\");",
            "ON DELETE CASCADE",
            "DROP INDEX \"ix_team_rank\";",
            "CREATE INDEX \"ix_team_score\" ON \"team\" (\"score\");",
            "ALTER TABLE \"team\" ALTER COLUMN \"name\" SET DEFAULT 'x';",
            "ALTER TABLE \"team\" ALTER COLUMN \"score\" DROP DEFAULT;",
        };
        for (size_t i = 0; i < sizeof want / sizeof *want; i++)
            if (!strstr(text, want[i]))
                fail_msg("no %s in:\n%s", want[i], text);
        assert_null(strstr(text, "_corm_new_"));
    }
    free(text);
    assert_int_equal(value(e, "SELECT COUNT(*) FROM team"), 2);
    assert_int_equal(value(e, "SELECT score FROM team WHERE id = 1"), 5);
    assert_true(story_has("index", "team", "ix_team_score"));
    assert_false(story_has("index", "team", "ix_team_rank"));
    /* the new key's cascade works */
    exec_sql(e, "DELETE FROM \"user\" WHERE id = 1");
    assert_int_equal(value(e, "SELECT COUNT(*) FROM team"), 0);
    exec_sql(e, "INSERT INTO \"user\" (id, username, email) VALUES (1, 'u', 'u@example.com')");
    exec_sql(e, "INSERT INTO team (id, name, rank, score, owner) VALUES (1, 'a', 1, 5, 1)");
    OK(corm_migrate_downgrade(e, migs, "-1", NULL));
    corm_engine_close(e);
    OK(corm_engine_open(&e, db_url("story.db"), va));
    assert_int_equal(corm_check_schema(e, NULL), 0);
    assert_int_equal(value(e, "SELECT score FROM team WHERE id = 1"), 5);
    assert_true(story_has("index", "team", "ix_team_rank"));
    OK(corm_migrate_upgrade(e, migs, "head", NULL));
    corm_engine_close(e);
    OK(corm_engine_open(&e, db_url("story.db"), vb));
    assert_int_equal(corm_check_schema(e, NULL), 0);
    corm_engine_close(e);
    /* a table the models no longer name is dropped; its downgrade puts it
     * back as the database had it (its keys, defaults and indexes) */
    static const corm_model *const vc[] = { UserV1_model, NULL };
    e = app(vc, "no teams", 1, NULL);
    assert_false(story_has("table", NULL, "team"));
    OK(corm_migrate_downgrade(e, migs, "-1", NULL));
    corm_engine_close(e);
    OK(corm_engine_open(&e, db_url("story.db"), vb));
    assert_int_equal(corm_check_schema(e, NULL), 0);
    corm_engine_close(e);
}

static int cli(const corm_model *const *models, const char *a, const char *b, const char *c)
{
    const char *url = db_url("cli.db");
    char *argv[12];
    int argc = 0;
    const char *words[] = { "app", "db", a, b, c, "--url", url, "--dir", migs };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (words[i])
            argv[argc++] = (char *)words[i];
    argv[argc] = NULL;
    fflush(stdout);
    return corm_cli_main(argc, argv, models);
}

static void the_command_line(void **state)
{
    (void)state;
    static const corm_model *const v1[] = { UserV1_model, NULL };
    static const corm_model *const v2[] = { UserV2_model, NULL };
    assert_int_equal(cli(v1, "init", NULL, NULL), 0);
    assert_int_equal(cli(v1, "check", NULL, NULL), 1);          /* no table yet */
    assert_int_equal(cli(v1, "migrate", "-m", "create users"), 0);
    assert_int_equal(cli(v1, "upgrade", NULL, NULL), 0);
    assert_int_equal(cli(v1, "check", NULL, NULL), 0);
    assert_int_equal(cli(v2, "check", NULL, NULL), 1);          /* age is new */
    assert_int_equal(cli(v2, "migrate", "-m", "add age"), 0);
    assert_int_equal(cli(v2, "upgrade", "--sql", "head"), 0);  /* prints only */
    assert_int_equal(cli(v2, "check", NULL, NULL), 1);
    assert_int_equal(cli(v2, "upgrade", NULL, NULL), 0);
    assert_int_equal(cli(v2, "check", NULL, NULL), 0);
    assert_int_equal(cli(v2, "history", NULL, NULL), 0);
    assert_int_equal(cli(v2, "current", NULL, NULL), 0);
    assert_int_equal(cli(v2, "downgrade", "-1", NULL), 0);
    assert_int_equal(cli(v1, "check", NULL, NULL), 0);
    assert_int_equal(cli(v2, "upgrade", NULL, NULL), 0);
    assert_int_equal(cli(v2, "downgrade", NULL, NULL), 0);   /* default: one step */
    assert_int_equal(cli(v1, "check", NULL, NULL), 0);
    assert_int_equal(cli(NULL, "migrate", "-m", "x"), 2);    /* needs the models */
    assert_int_equal(cli(v1, "frobnicate", NULL, NULL), 2);
    assert_int_equal(cli(v1, "stamp", "nope", NULL), 1);       /* an error, told on stderr */
}

typedef struct lines {
    char v[8][256];
    int n;
} lines;

static void collect_line(void *ud, const char *line)
{
    lines *l = ud;
    if (l->n < 8)
        snprintf(l->v[l->n++], sizeof l->v[0], "%s", line);
}

/* Each revision says it runs, as it starts, the way Alembic does; the
 * offline mode runs nothing and says nothing. */
static void migrations_say_what_they_run(void **state)
{
    (void)state;
    OK(corm_migrate_init(db, migs));
    char r1[64], r2[64], want[256];
    OK(corm_migrate_revision(db, migs, "create notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY);",
                             "DROP TABLE notes;", r1, sizeof r1));
    OK(corm_migrate_revision(db, migs, "add body", "ALTER TABLE notes ADD COLUMN body TEXT;",
                             "ALTER TABLE notes DROP COLUMN body;", r2, sizeof r2));
    lines got = { .n = 0 };
    corm_engine_set_info(db, collect_line, &got);
    FILE *devnull = fopen("/dev/null", "w");
    OK(corm_migrate_upgrade(db, migs, "head", devnull)); /* offline: nothing said */
    fclose(devnull);
    assert_int_equal(got.n, 0);
    OK(corm_migrate_upgrade(db, migs, "head", NULL));
    assert_int_equal(got.n, 2);
    snprintf(want, sizeof want, "Running upgrade <base> -> %s, create notes", r1);
    assert_string_equal(got.v[0], want);
    snprintf(want, sizeof want, "Running upgrade %s -> %s, add body", r1, r2);
    assert_string_equal(got.v[1], want);
    OK(corm_migrate_downgrade(db, migs, "-1", NULL));
    assert_int_equal(got.n, 3);
    snprintf(want, sizeof want, "Running downgrade %s -> %s, add body", r2, r1);
    assert_string_equal(got.v[2], want);
    corm_engine_set_info(db, NULL, NULL);
    OK(corm_migrate_downgrade(db, migs, "base", NULL));
    assert_int_equal(got.n, 3);
}

/* corm_cli_main(argv) with stdout and stderr caught in out (both), and
 * no DATABASE_URL: its exit status. */
static int cli_caught(char *out, size_t size, const char *const *words)
{
    char *argv[16];
    int argc = 0;
    for (; words[argc]; argc++)
        argv[argc] = (char *)words[argc];
    argv[argc] = NULL;
    char *saved_url = getenv("DATABASE_URL") ? strdup(getenv("DATABASE_URL")) : NULL;
    unsetenv("DATABASE_URL");
    fflush(stdout);
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int o = dup(1), e = dup(2);
    dup2(fileno(tmp), 1);
    dup2(fileno(tmp), 2);
    int rc = corm_cli_main(argc, argv, NULL);
    fflush(stdout);
    fflush(stderr);
    dup2(o, 1);
    dup2(e, 2);
    close(o);
    close(e);
    rewind(tmp);
    size_t n = fread(out, 1, size - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    if (saved_url) {
        setenv("DATABASE_URL", saved_url, 1);
        free(saved_url);
    }
    return rc;
}

/* Help at every level without a database; unknown commands and options,
 * missing values and arguments are usage errors (exit 2) pointing at
 * --help, before any database is asked for. */
static void the_command_line_helps_without_a_database(void **state)
{
    (void)state;
    char out[8192];
    assert_int_equal(cli_caught(out, sizeof out, (const char *[]){ "corm", "--help", NULL }), 0);
    assert_non_null(strstr(out, "usage: corm db COMMAND"));
    assert_non_null(strstr(out, "downgrade"));
    assert_non_null(strstr(out, "exit status"));
    assert_int_equal(cli_caught(out, sizeof out, (const char *[]){ "corm", "db", "--help", NULL }), 0);
    assert_non_null(strstr(out, "stamp"));
    assert_int_equal(cli_caught(out, sizeof out, (const char *[]){ "corm", "db", "upgrade", "-h", NULL }), 0);
    assert_non_null(strstr(out, "usage: corm db upgrade [REV|head|+N]"));
    assert_null(strstr(out, "no database"));
    /* usage errors: exit 2, a sentence, and where to look */
    const char *const *bad[] = {
        (const char *[]){ "corm", NULL },
        (const char *[]){ "corm", "db", "frobnicate", NULL },
        (const char *[]){ "corm", "db", "upgrade", "--fast", NULL },
        (const char *[]){ "corm", "db", "upgrade", "-x", NULL },
        (const char *[]){ "corm", "db", "upgrade", "head", "again", NULL },
        (const char *[]){ "corm", "db", "show", NULL },
        (const char *[]){ "corm", "db", "current", "abc", NULL },
        (const char *[]){ "corm", "db", "upgrade", "--url", NULL },
    };
    const char *says[] = { "usage:", "unknown command 'frobnicate'", "unknown option '--fast'",
                           "unknown option '-x'", "too many arguments at 'again'",
                           "'show' needs a revision", "'current' takes no revision",
                           "--url needs a value" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(cli_caught(out, sizeof out, bad[i]), 2);
        if (!strstr(out, says[i]) || (i && !strstr(out, "see 'corm db --help'")))
            fail_msg("case %zu: expected \"%s\" and a pointer to --help, got: %s", i, says[i], out);
    }
    /* a command that runs revisions prints each as it starts */
    assert_int_equal(cli_caught(out, sizeof out, (const char *[]){ "corm", "db", "init", "--url", db_url("cli-say.db"),
                                                                   "--dir", migs, NULL }), 0);
    char id[64];
    corm_engine *e;
    static const corm_model *const none[] = { NULL };
    OK(corm_engine_open(&e, db_url("cli-say.db"), none));
    OK(corm_migrate_revision(e, migs, "make t", "CREATE TABLE t (id INTEGER PRIMARY KEY);",
                             "DROP TABLE t;", id, sizeof id));
    corm_engine_close(e);
    assert_int_equal(cli_caught(out, sizeof out, (const char *[]){ "corm", "db", "upgrade", "--url", db_url("cli-say.db"),
                                                                   "--dir", migs, NULL }), 0);
    char want[160];
    snprintf(want, sizeof want, "Running upgrade <base> -> %s, make t\n", id);
    assert_string_equal(out, want);
    /* inspect writes its models where told, and says when it cannot */
    char header[600];
    snprintf(header, sizeof header, "%s/models.h", dir);
    assert_int_equal(cli_caught(out, sizeof out, (const char *[]){ "corm", "db", "inspect", "--url",
                                                                   db_url("cli-say.db"), "-o", header,
                                                                   NULL }), 0);
    assert_non_null(strstr(out, "wrote 1 model to "));
    assert_int_equal(cli_caught(out, sizeof out, (const char *[]){ "corm", "db", "inspect", "--url",
                                                                   db_url("cli-say.db"), "-o",
                                                                   "/nonexistent/dir/models.h", NULL }), 1);
    assert_non_null(strstr(out, "cannot write /nonexistent/dir/models.h"));
    /* a relative revision is not an option; with no database that is what is missing */
    assert_int_equal(cli_caught(out, sizeof out, (const char *[]){ "corm", "db", "downgrade", "-1", NULL }), 2);
    assert_non_null(strstr(out, "no database"));
}

/* What `corm db upgrade` printed with its stderr on a terminal (a pty),
 * and its exit status. */
static int cli_on_a_terminal(char *out, size_t size, const char *const *words)
{
    fflush(stdout);
    fflush(stderr);
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        char *argv[16];
        int argc = 0;
        for (; words[argc]; argc++)
            argv[argc] = (char *)words[argc];
        argv[argc] = NULL;
        _exit(corm_cli_main(argc, argv, NULL));
    }
    size_t n = 0;
    ssize_t got;
    while (n + 1 < size && (got = read(master, out + n, size - 1 - n)) > 0)
        n += (size_t)got; /* until the child closes the terminal (EIO) */
    out[n] = '\0';
    close(master);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void count_progress(void *ud, const char *what, int64_t done, int64_t total)
{
    (void)what;
    assert_true(done <= total);
    (*(int *)ud)++;
}

/* A table rebuilt on SQLite shows the rows it copies when stderr is a
 * terminal, and nothing when it is not; the servers change the table in
 * place, with nothing to show. Every row is there either way. */
static void a_rebuild_shows_its_rows_on_a_terminal(void **state)
{
    (void)state;
    static const corm_model *const v1[] = { UserV1_model, NULL };
    static const corm_model *const v3[] = { UserV3_model, PostV3_model, NULL };
    enum { ROWS = 10000 };
    char url[512], out[65536];
    snprintf(url, sizeof url, "%s", db_url("progress.db"));
    corm_engine *e;
    OK(corm_engine_open(&e, url, v1));
    OK(corm_migrate_init(e, migs));
    assert_int_equal(corm_migrate_autogenerate(e, migs, "users", NULL, NULL, 0), 1);
    OK(corm_migrate_upgrade(e, migs, "head", NULL));
    corm_session *s = corm_session_new(e);
    for (int i = 0; i < ROWS; i++) {
        UserV1 *u = corm_new(s, UserV1);
        char name[32];
        snprintf(name, sizeof name, "u%d", i);
        u->username = corm_strdup(s, name);
        snprintf(name, sizeof name, "u%d@example.org", i);
        u->email = corm_strdup(s, name);
        OK(corm_add(s, u));
    }
    OK(corm_commit(s));
    corm_session_free(s);
    corm_engine_close(e);
    OK(corm_engine_open(&e, url, v3)); /* the type of username changes: a rebuild on SQLite */
    assert_int_equal(corm_migrate_autogenerate(e, migs, "v3", NULL, NULL, 0), 1);
    bool sqlite = strncmp(url, "sqlite", 6) == 0;
    if (sqlite) {
        /* out of memory at each allocation of the counted copy (SQLite's only:
         * the servers alter in place, and MariaDB's DDL, which commits by
         * itself, leaves a failed revision half-applied by design): the
         * revision is undone and every row stays */
        int calls = 0;
        corm_engine_set_progress(e, count_progress, &calls);
        for (long n = 0;; n++) {
            util_alloc_fail_after(n);
            int rc = corm_migrate_upgrade(e, migs, "head", NULL);
            bool injected = util_alloc_failed();
            util_alloc_fail_after(-1);
            if (rc != CORM_OK && rc != CORM_ENOMEM)
                fail_msg("allocation %ld: %s", n, corm_engine_errmsg(e));
            assert_int_equal(db_int(url, "SELECT COUNT(*) FROM \"user\""), ROWS);
            if (rc == CORM_OK) {
                assert_true(n > 0 && !injected);
                break;
            }
        }
        assert_true(calls >= 2);
        OK(corm_migrate_downgrade(e, migs, "-1", NULL));
    }
    corm_engine_close(e);

    int rc = cli_on_a_terminal(out, sizeof out, (const char *[]){ "corm", "db", "upgrade", "--url",
                                                                  url, "--dir", migs, NULL });
    if (rc != 0)
        fail_msg("upgrade on a terminal: exit %d: %s", rc, out);
    assert_non_null(strstr(out, "Running upgrade"));
    if (sqlite) {
        char want[128];
        snprintf(want, sizeof want, "copying the rows of user: 4096 of %d", ROWS);
        if (!strstr(out, want) || !strstr(out, "copying the rows of user: 10000 of 10000\r\n"))
            fail_msg("no progress on the terminal: %s", out);
    } else {
        assert_null(strstr(out, "copying"));
    }
    assert_int_equal(db_int(url, "SELECT COUNT(*) FROM \"user\""), ROWS);
    /* not a terminal: the same work, quietly */
    assert_int_equal(cli_caught(out, sizeof out, (const char *[]){ "corm", "db", "downgrade",
                                                                   "--url", url, "--dir", migs, NULL }), 0);
    assert_non_null(strstr(out, "Running downgrade"));
    assert_null(strstr(out, "copying"));
    assert_int_equal(db_int(url, "SELECT COUNT(*) FROM \"user\""), ROWS);
}

/* Checking, autogenerating, reading revisions and inspecting with the Nth
 * allocation failing, for every N: CORM_ENOMEM or success, nothing leaked. */
static void out_of_memory_in_migrations(void **state)
{
    (void)state;
    static const corm_model *const v1[] = { UserV1_model, NULL };
    static const corm_model *const v3[] = { UserV3_model, PostV3_model, NULL };
    corm_engine *e;
    char url[512];
    snprintf(url, sizeof url, "%s", db_url("oom.db"));
    OK(corm_engine_open(&e, url, v1));
    OK(corm_migrate_init(e, migs));
    OK(corm_migrate_revision(e, migs, "users", "CREATE TABLE \"user\" (id INTEGER PRIMARY KEY, "
                             "username VARCHAR(80) NOT NULL UNIQUE, email VARCHAR(120) NOT NULL UNIQUE);",
                             "DROP TABLE \"user\";", NULL, 0));
    OK(corm_migrate_upgrade(e, migs, "head", NULL));
    corm_engine_close(e);
    OK(corm_engine_open(&e, url, v3)); /* models ahead of the database: a rebuild to write */
    FILE *devnull = fopen("/dev/null", "w");
    for (long n = 0; n < 20000; n++) {
        corm_schema_diff *d = NULL;
        char id[64] = "";
        util_alloc_fail_after(n);
        int rc1 = corm_check_schema(e, &d);
        char msg1[512];
        snprintf(msg1, sizeof msg1, "%s", corm_engine_errmsg(e));
        int rc2 = corm_migrate_autogenerate(e, migs, "oom", devnull, id, sizeof id);
        int rc3 = corm_migrate_history(e, migs, devnull, false);
        int rc4 = corm_inspect(e, devnull, NULL);
        bool injected = util_alloc_failed();
        util_alloc_fail_after(-1);
        corm_schema_diff_free(d);
        if ((rc1 < 0 && rc1 != CORM_ENOMEM) || (rc2 < 0 && rc2 != CORM_ENOMEM) ||
            (rc3 < 0 && rc3 != CORM_ENOMEM) || (rc4 < 0 && rc4 != CORM_ENOMEM))
            fail_msg("allocation %ld: %d %d %d %d: %s (check: %s)", n, rc1, rc2, rc3, rc4,
                     corm_engine_errmsg(e), msg1);
        if (rc2 == 1) { /* a revision was written: remove it for the next round */
            char cmd[400];
            snprintf(cmd, sizeof cmd, "rm -f '%s'/%s_*.sql", migs, id);
            assert_int_equal(system(cmd), 0);
        }
        if (!injected) {
            assert_true(rc1 > 0 && rc2 == 1 && rc3 == CORM_OK && rc4 == 1); /* the user table */
            assert_true(n > 0);
            break;
        }
    }
    fclose(devnull);
    corm_engine_close(e);
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
        cmocka_unit_test_setup_teardown(the_seed_story, setup, teardown),
        cmocka_unit_test_setup_teardown(every_change_and_back, setup, teardown),
        cmocka_unit_test_setup_teardown(the_command_line, setup, teardown),
        cmocka_unit_test_setup_teardown(the_command_line_helps_without_a_database, setup, teardown),
        cmocka_unit_test_setup_teardown(migrations_say_what_they_run, setup, teardown),
        cmocka_unit_test_setup_teardown(a_rebuild_shows_its_rows_on_a_terminal, setup, teardown),
        cmocka_unit_test_setup_teardown(out_of_memory_in_migrations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
