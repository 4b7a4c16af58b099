/*
 * common.h — what every test shares: cmocka, the test models, and a
 * fixture that opens an engine on a fresh SQLite file in a temporary
 * directory with the SQL echo captured, so tests can assert the
 * statements that ran.
 */
#ifndef CORM_TEST_COMMON_H
#define CORM_TEST_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include <corm/corm.h>

typedef enum prio { PRIO_LOW, PRIO_MEDIUM, PRIO_HIGH } prio;
extern const char *const prio_names[];

#define USER_FIELDS(COLUMN, RELATION)                                            \
    COLUMN(id,       CORM_INTEGER,     CORM_PRIMARY_KEY)                         \
    COLUMN(username, CORM_STRING(80),  CORM_UNIQUE | CORM_NOT_NULL)              \
    COLUMN(email,    CORM_STRING(120), CORM_UNIQUE | CORM_NOT_NULL)              \
    COLUMN(age,      CORM_INTEGER,     CORM_NOT_NULL, CORM_DEFAULT("18"),        \
           CORM_CHECK("age >= 0"))                                               \
    COLUMN(password, CORM_STRING(64),  CORM_SENSITIVE)                           \
    COLUMN(created,  CORM_DATETIME,    0, CORM_SERVER_DEFAULT("'2024-01-01 00:00:00'"))
CORM_MODEL(User, "user", USER_FIELDS)

#define POST_FIELDS(COLUMN, RELATION)                                            \
    COLUMN(id,      CORM_INTEGER, CORM_PRIMARY_KEY)                              \
    COLUMN(content, CORM_TEXT,    0)                                             \
    COLUMN(user_id, CORM_INTEGER, CORM_NOT_NULL | CORM_INDEX, CORM_FK(User, id))
CORM_MODEL(Post, "post", POST_FIELDS)

/* Every type, every column nullable. */
#define KITCHEN_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,    CORM_INTEGER,        CORM_PRIMARY_KEY)                         \
    COLUMN(i,     CORM_INTEGER,        0)                                        \
    COLUMN(big,   CORM_BIGINT,         0)                                        \
    COLUMN(small, CORM_SMALLINT,       0)                                        \
    COLUMN(flag,  CORM_BOOLEAN,        0)                                        \
    COLUMN(f,     CORM_FLOAT,          0)                                        \
    COLUMN(num,   CORM_NUMERIC(38, 10), 0)                                       \
    COLUMN(s,     CORM_STRING(10),     0)                                        \
    COLUMN(t,     CORM_TEXT,           0)                                        \
    COLUMN(d,     CORM_DATE,           0)                                        \
    COLUMN(tm,    CORM_TIME,           0)                                        \
    COLUMN(dt,    CORM_DATETIME,       0)                                        \
    COLUMN(blob,  CORM_BLOB,           0)                                        \
    COLUMN(json,  CORM_JSON,           0)                                        \
    COLUMN(prio,  CORM_ENUM(prio, prio_names), 0)
CORM_MODEL(Kitchen, "kitchen", KITCHEN_FIELDS, CORM_UNIQUE_TOGETHER("i", "s"),
           CORM_INDEX_ON("d", "tm"))

extern const corm_model *const test_models[];

typedef struct fixture {
    corm_engine *db;
    char dir[256];
    char path[300];
    char url[512];
    char **log;
    size_t nlog, caplog;
} fixture;

/* A fresh database file with the test models created; params are appended
 * to the URL ("" for none). */
void fx_open(fixture *fx, const char *params);
void fx_close(fixture *fx);
/* Remove an SQLite database file and its -wal, -shm and -journal. */
void test_remove_db(const char *path);
/* Fail, printing every difference, unless e's database matches its models. */
void assert_schema_matches(corm_engine *e);
/* Remove a test's temporary folder and everything in it. */
void test_rm_rf(const char *dir);
/* A copy of an echoed statement with PostgreSQL's $n placeholders written
 * as ?, as every fixture log keeps them (malloc'd). */
char *fx_normalize(const char *line);
/* "sqlite" or "postgresql": for the few assertions on what differs between
 * backends (each says why). */
const char *fx_backend(const fixture *fx);
/* Statements in the echo log that start with prefix. */
size_t fx_count(const fixture *fx, const char *prefix);
/* The last statement that starts with prefix, or NULL. */
const char *fx_last(const fixture *fx, const char *prefix);
void fx_clear_log(fixture *fx);
/* Add a user with the given name (email derived) and commit it. */
User *fx_user(corm_session *s, const char *name, int64_t age);
/* SELECT COUNT(*) FROM table, through a separate session. */
int64_t fx_rows(fixture *fx, const char *table);
/* The rows of model m that filter e matches, counted by a query of s. */
int64_t fx_matches(corm_session *s, const corm_model *m, corm_expr *e);

/* The server the suite runs on (CORM_TEST_URL), or NULL for SQLite files. */
const char *test_server_url(void);
/* Drop every table of the server's test database (CORM_TEST_URL). */
void test_empty_server_db(void);
/* Read (or change) a database with its own client library (sqlite3, libpq),
 * not through corm: the first cell of the first row; -1 / "(none)" without
 * a row. url is a corm URL (sqlite:///path or postgresql://...). */
int64_t db_int(const char *url, const char *sql);
const char *db_text(const char *url, const char *sql, char *buf, size_t size);
void db_exec(const char *url, const char *sql);
/* Each row of sql to fn, its cells as text (NULL: SQL NULL; 16 at most). */
void db_each(const char *url, const char *sql, void (*fn)(void *ud, int n, const char *const *cells),
             void *ud);

#define OK(x) assert_int_equal((x), CORM_OK)

/* Sleep ms milliseconds. */
void sleep_ms(long ms);

/* SQLite's allocator with a fault hook (SQLITE_CONFIG_MALLOC): installed
 * by test_sqlite_hook, which must run before SQLite starts (first thing in
 * main). test_sqlite_fail_after(n) lets n allocations of SQLite's succeed
 * and fails every later one; n < 0 disarms. test_sqlite_pause disarms it
 * and returns what test_sqlite_resume arms it again with (for the test's
 * own use of SQLite in between). Not thread-safe: arm it only while one
 * thread uses SQLite. */
void test_sqlite_hook(void);
void test_sqlite_fail_after(long n);
long test_sqlite_pause(void);
void test_sqlite_resume(long left);
/* Whether one of SQLite's allocations failed since it was last armed. */
bool test_sqlite_failed(void);

#endif
