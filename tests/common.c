/*
 * common.c — the test models' descriptors and the fixture.
 */
#define CORM_DEFINE_MODELS
#include "common.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const prio_names[] = { "low", "medium", "high", NULL };
const corm_model *const test_models[] = { User_model, Post_model, Kitchen_model, NULL };

char *fx_normalize(const char *line)
{
    /* PostgreSQL's $1, $2 ... read as SQLite's ?, so that tests assert one
     * text on every backend (quoted text and parameters are left alone) */
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
    return strncmp(fx->url, "postgres", 8) == 0 ? "postgresql" : "sqlite";
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
    char path[400];
    const char *suffix[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s%s", fx->path, suffix[i]);
        unlink(path);
    }
    rmdir(fx->dir);
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

/* ---- reading a database directly, not through corm ------------------------ */

const char *test_server_url(void)
{
    const char *u = getenv("CORM_TEST_URL");
    return u && *u ? u : NULL;
}

/* The first cell of sql's first row as text into buf ("(none)" without a row,
 * "(null)" for NULL), read with the database's own client library. */
static const char *direct(const char *url, const char *sql, char *buf, size_t size)
{
    if (strncmp(url, "sqlite:///", 10) == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s", url + 10);
        path[strcspn(path, "?")] = '\0';
        sqlite3 *h;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        sqlite3_busy_timeout(h, 5000);
        if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
            fail_msg("%s: %s", sql, sqlite3_errmsg(h));
        int rc = sqlite3_step(st);
        snprintf(buf, size, "%s", rc != SQLITE_ROW ? "(none)"
                                  : sqlite3_column_type(st, 0) == SQLITE_NULL ? "(null)"
                                  : (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(h);
        return buf;
    }
    PGconn *pg = PQconnectdb(url); /* corm's postgresql:// URLs are libpq URIs */
    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("connect %s: %s", url, PQerrorMessage(pg));
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    snprintf(buf, size, "%s", PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) == 0 ? "(none)"
                              : PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    return buf;
}

int64_t db_int(const char *url, const char *sql)
{
    char buf[64];
    direct(url, sql, buf, sizeof buf);
    return strcmp(buf, "(none)") == 0 ? -1 : strtoll(buf, NULL, 10);
}

const char *db_text(const char *url, const char *sql, char *buf, size_t size)
{
    return direct(url, sql, buf, size);
}

void db_exec(const char *url, const char *sql)
{
    char buf[8];
    direct(url, sql, buf, sizeof buf);
}
