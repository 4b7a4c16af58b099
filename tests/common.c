/*
 * common.c — the test models' descriptors and the fixture.
 */
#define CORM_DEFINE_MODELS
#include "common.h"

#include <libpq-fe.h>
#include <mysql.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const prio_names[] = { "low", "medium", "high", NULL };
const corm_model *const test_models[] = { User_model, Post_model, Kitchen_model, NULL };

char *fx_normalize(const char *line)
{
    /* PostgreSQL's $1, $2 ... read as SQLite's ?, and MariaDB's `name` as
     * "name", so that tests assert one text on every backend (quoted text
     * and parameters are left alone) */
    char *out = strdup(line), *o = out;
    assert_non_null(out);
    char quote = 0;
    const char *params = strstr(line, " -- params: ");
    for (const char *p = line; *p; p++) {
        if (params && p >= params) {
            strcpy(o, p);
            return out;
        }
        if (quote) {
            quote = *p == quote ? 0 : quote;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '`') {
            *o++ = '"';
            continue;
        } else if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            *o++ = '?';
            while (p[1] >= '0' && p[1] <= '9')
                p++;
            continue;
        }
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

const char *fx_backend(const fixture *fx)
{
    return strncmp(fx->url, "postgres", 8) == 0 ? "postgresql"
         : strncmp(fx->url, "mysql", 5) == 0 || strncmp(fx->url, "mariadb", 7) == 0 ? "mariadb"
                                                                                      : "sqlite";
}

static void capture(void *ud, const char *line)
{
    fixture *fx = ud;
    if (fx->nlog == fx->caplog) {
        fx->caplog = fx->caplog ? fx->caplog * 2 : 64;
        fx->log = realloc(fx->log, fx->caplog * sizeof *fx->log);
        assert_non_null(fx->log);
    }
    fx->log[fx->nlog++] = fx_normalize(line);
}

/* N+1 warnings are on in the tests: none is expected where the fixture is used. */
static void no_warnings(void *ud, const char *msg)
{
    (void)ud;
    fail_msg("unexpected warning: %s", msg);
}

void fx_open(fixture *fx, const char *params)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/corm-test-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/test.db", fx->dir);
    const char *server = getenv("CORM_TEST_URL");
    if (server && *server) /* a server backend: the same database, emptied */
        snprintf(fx->url, sizeof fx->url, "%s", server);
    else
        snprintf(fx->url, sizeof fx->url, "sqlite:///%s%s", fx->path, params ? params : "");
    int rc = corm_engine_open(&fx->db, fx->url, test_models);
    if (rc != CORM_OK)
        fail_msg("open %s: %s", fx->url, corm_engine_errmsg(fx->db));
    if (server && *server)
        OK(corm_drop_all(fx->db));
    corm_engine_set_echo(fx->db, capture, fx);
    corm_engine_set_warnings(fx->db, no_warnings, NULL);
    OK(corm_create_all(fx->db));
    fx_clear_log(fx);
}

void fx_clear_log(fixture *fx)
{
    for (size_t i = 0; i < fx->nlog; i++)
        free(fx->log[i]);
    fx->nlog = 0;
}

void fx_close(fixture *fx)
{
    fx_clear_log(fx);
    free(fx->log);
    corm_engine_close(fx->db);
    test_rm_rf(fx->dir); /* the database, and what a test put beside it (migrations) */
}

void test_remove_db(const char *path)
{
    const char *suffix[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < 4; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

void assert_schema_matches(corm_engine *e)
{
    corm_schema_diff *d = NULL;
    int n = corm_check_schema(e, &d);
    for (size_t i = 0; i < corm_schema_diff_count(d); i++)
        print_message("unexpected: %s\n", corm_schema_diff_line(d, i));
    corm_schema_diff_free(d);
    if (n != 0)
        fail_msg("the database differs from the models (%d): %s", n,
                 n < 0 ? corm_engine_errmsg(e) : "the differences are above");
}

void test_rm_rf(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

size_t fx_count(const fixture *fx, const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->nlog; i++)
        n += strncmp(fx->log[i], prefix, strlen(prefix)) == 0;
    return n;
}

const char *fx_last(const fixture *fx, const char *prefix)
{
    for (size_t i = fx->nlog; i-- > 0;)
        if (strncmp(fx->log[i], prefix, strlen(prefix)) == 0)
            return fx->log[i];
    return NULL;
}

User *fx_user(corm_session *s, const char *name, int64_t age)
{
    User *u = corm_new(s, User);
    assert_non_null(u);
    char email[128];
    snprintf(email, sizeof email, "%s@example.com", name);
    u->username = corm_strdup(s, name);
    u->email = corm_strdup(s, email);
    u->age = age;
    OK(corm_add(s, u));
    int rc = corm_commit(s);
    if (rc != CORM_OK)
        fail_msg("commit %s: %s", name, corm_errmsg(s));
    return u;
}

int64_t fx_rows(fixture *fx, const char *table)
{
    corm_session *s = corm_session_new(fx->db);
    char sql[128];
    corm_result *r;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM \"%s\"", table);
    OK(corm_execute(s, sql, NULL, 0, &r));
    int64_t n = corm_result_int(r, 0, 0);
    corm_session_free(s);
    return n;
}

int64_t fx_matches(corm_session *s, const corm_model *m, corm_expr *e)
{
    corm_query *q = corm_query_new_(s, m);
    OK(corm_filter(q, e));
    int64_t n;
    OK(corm_count(q, &n));
    return n;
}

/* ---- reading a database directly, not through corm ------------------------ */

const char *test_server_url(void)
{
    const char *u = getenv("CORM_TEST_URL");
    return u && *u ? u : NULL;
}

static void drop_each_table(void *ud, int n, const char *const *cells)
{
    (void)n;
    char sql[300];
    snprintf(sql, sizeof sql, "SET FOREIGN_KEY_CHECKS = 0; DROP TABLE IF EXISTS \"%s\"", cells[0]);
    db_exec(ud, sql);
}

void test_empty_server_db(void)
{
    const char *url = test_server_url();
    if (strncmp(url, "postgres", 8) == 0)
        db_exec(url, "SET client_min_messages = warning; "
                     "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    else
        db_each(url, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                     "TABLE_SCHEMA = DATABASE()", drop_each_table, (void *)url);
}

/* db_each on MariaDB: mysql://user@host/db?unix_socket=PATH, as
 * scripts/my-db.sh writes it; names quoted with double quotes, as corm's
 * connections allow (ANSI_QUOTES). */
static void db_each_mariadb(const char *url, const char *sql,
                            void (*fn)(void *ud, int n, const char *const *cells), void *ud)
{
    char user[64] = "", db[128] = "", sock[512] = "";
    const char *p = strstr(url, "://") + 3, *at = strchr(p, '@'), *slash = strchr(p, '/');
    if (at && slash && at < slash)
        snprintf(user, sizeof user, "%.*s", (int)(at - p), p);
    if (slash)
        snprintf(db, sizeof db, "%.*s", (int)strcspn(slash + 1, "?"), slash + 1);
    const char *us = strstr(url, "unix_socket=");
    if (us)
        snprintf(sock, sizeof sock, "%.*s", (int)strcspn(us + 12, "&"), us + 12);
    MYSQL *my = mysql_init(NULL);
    mysql_optionsv(my, MYSQL_INIT_COMMAND, "SET sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'");
    if (!mysql_real_connect(my, "localhost", user, NULL, db, 0, sock, CLIENT_MULTI_STATEMENTS))
        fail_msg("connect %s: %s", url, mysql_error(my));
    if (mysql_query(my, sql) != 0)
        fail_msg("%s: %s", sql, mysql_error(my));
    do {
        MYSQL_RES *r = mysql_store_result(my);
        MYSQL_ROW row;
        while (r && fn && (row = mysql_fetch_row(r))) {
            const char *cells[16];
            int n = mysql_num_fields(r) < 16 ? (int)mysql_num_fields(r) : 16;
            for (int i = 0; i < n; i++)
                cells[i] = row[i];
            fn(ud, n, cells);
        }
        if (r)
            mysql_free_result(r);
    } while (mysql_next_result(my) == 0);
    if (mysql_errno(my))
        fail_msg("%s: %s", sql, mysql_error(my));
    mysql_close(my);
}

/* Each row of sql to fn, its cells as text (NULL for SQL NULL), read with
 * the database's own client library; sql may hold several statements when
 * it returns no rows. */
void db_each(const char *url, const char *sql, void (*fn)(void *ud, int n, const char *const *cells),
             void *ud)
{
    if (strncmp(url, "sqlite:///", 10) == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s", url + 10);
        path[strcspn(path, "?")] = '\0';
        sqlite3 *h;
        /* read-write even to read: a read-only connection cannot open a WAL
         * database whose -wal and -shm went with its last connection */
        assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        sqlite3_busy_timeout(h, 5000);
        if (!fn) {
            if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
                fail_msg("%s: %s", sql, sqlite3_errmsg(h));
            sqlite3_close(h);
            return;
        }
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
            fail_msg("%s: %s", sql, sqlite3_errmsg(h));
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *cells[16];
            int n = sqlite3_column_count(st) < 16 ? sqlite3_column_count(st) : 16;
            for (int i = 0; i < n; i++)
                cells[i] = (const char *)sqlite3_column_text(st, i);
            fn(ud, n, cells);
        }
        sqlite3_finalize(st);
        sqlite3_close(h);
        return;
    }
    if (strncmp(url, "mysql://", 8) == 0 || strncmp(url, "mariadb://", 10) == 0) {
        db_each_mariadb(url, sql, fn, ud);
        return;
    }
    PGconn *pg = PQconnectdb(url); /* corm's postgresql:// URLs are libpq URIs */
    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("connect %s: %s", url, PQerrorMessage(pg));
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    for (int row = 0; fn && row < PQntuples(r); row++) {
        const char *cells[16];
        int n = PQnfields(r) < 16 ? PQnfields(r) : 16;
        for (int i = 0; i < n; i++)
            cells[i] = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
        fn(ud, n, cells);
    }
    PQclear(r);
    PQfinish(pg);
}

typedef struct first { char *buf; size_t size; bool seen; } first;

static void first_cell(void *ud, int n, const char *const *cells)
{
    first *f = ud;
    if (!f->seen && n > 0)
        snprintf(f->buf, f->size, "%s", cells[0] ? cells[0] : "(null)");
    f->seen = true;
}

const char *db_text(const char *url, const char *sql, char *buf, size_t size)
{
    first f = { buf, size, false };
    snprintf(buf, size, "(none)");
    db_each(url, sql, first_cell, &f);
    return buf;
}

int64_t db_int(const char *url, const char *sql)
{
    char buf[64];
    db_text(url, sql, buf, sizeof buf);
    return strcmp(buf, "(none)") == 0 ? -1 : strtoll(buf, NULL, 10);
}

void db_exec(const char *url, const char *sql) { db_each(url, sql, NULL, NULL); }

void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static sqlite3_mem_methods sqlite_mem;
static long sqlite_left = -1; /* allocations to succeed before they fail; -1: none fails */
static bool sqlite_hit;

static bool sqlite_fails(void)
{
    if (sqlite_left < 0)
        return false;
    if (sqlite_left == 0)
        return sqlite_hit = true;
    sqlite_left--;
    return false;
}
static void *sqlite_malloc(int n) { return sqlite_fails() ? NULL : sqlite_mem.xMalloc(n); }
static void *sqlite_realloc(void *p, int n) { return sqlite_fails() ? NULL : sqlite_mem.xRealloc(p, n); }

void test_sqlite_hook(void)
{
    sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sqlite_mem);
    sqlite3_mem_methods m = sqlite_mem;
    m.xMalloc = sqlite_malloc;
    m.xRealloc = sqlite_realloc;
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);
}

void test_sqlite_fail_after(long n)
{
    sqlite_left = n;
    if (n >= 0)
        sqlite_hit = false;
}

long test_sqlite_pause(void)
{
    long left = sqlite_left;
    sqlite_left = -1;
    return left;
}

void test_sqlite_resume(long left) { sqlite_left = left; }

bool test_sqlite_failed(void) { return sqlite_hit; }
