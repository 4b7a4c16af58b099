/*
 * bench_baseline.c — the BENCH.md workloads hand-written against sqlite3,
 * as a competent C programmer would: statements prepared once and reused,
 * one transaction per unit of work, rows read into plain structs with their
 * strings malloc'd. This is what corm is measured against.
 *
 *     bench_baseline DIR [N]      (a fresh DIR/baseline.db is made)
 */
#define _POSIX_C_SOURCE 200809L
#include "bench_common.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sqlite3 *db;

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
}

static void exec(const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        die(sql);
}

static sqlite3_stmt *prepare(const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die(sql);
    return st;
}

static char *dup_column(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    char *d = malloc(n + 1);
    memcpy(d, s, n + 1);
    return d;
}

static user *read_user(sqlite3_stmt *st)
{
    user *u = malloc(sizeof *u);
    u->id = sqlite3_column_int64(st, 0);
    u->username = dup_column(st, 1);
    u->email = dup_column(st, 2);
    u->age = sqlite3_column_int64(st, 3);
    u->created = bench_parse_datetime((const char *)sqlite3_column_text(st, 4));
    return u;
}

#define SELECT_USER "SELECT id, username, email, age, created FROM user"

/* User i of BENCH.md through the prepared INSERT st; created is its text. */
static void insert_user(sqlite3_stmt *st, int64_t i, char *created, size_t size)
{
    char name[32], email[48];
    bench_username(name, i);
    bench_email(email, i);
    bench_created(created, size, i);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, email, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, bench_age(i));
    sqlite3_bind_text(st, 4, created, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        die("insert");
    sqlite3_reset(st);
}

__attribute__((noinline)) static void w_insert(int64_t n)
{
    double t0 = bench_now();
    exec("BEGIN");
    exec("CREATE TABLE IF NOT EXISTS user (id INTEGER PRIMARY KEY, username VARCHAR(80) NOT NULL "
         "UNIQUE, email VARCHAR(120) NOT NULL UNIQUE, age INTEGER NOT NULL, created DATETIME NOT NULL)");
    exec("CREATE TABLE IF NOT EXISTS post (id INTEGER PRIMARY KEY, content TEXT, user_id INTEGER "
         "NOT NULL REFERENCES user (id), created DATETIME NOT NULL)");
    exec("CREATE INDEX IF NOT EXISTS ix_post_user_id ON post (user_id)");
    exec("COMMIT");
    exec("BEGIN");
    sqlite3_stmt *st = prepare("INSERT INTO user (username, email, age, created) VALUES (?, ?, ?, ?)");
    char created[32];
    for (int64_t i = 1; i <= n; i++)
        insert_user(st, i, created, sizeof created);
    sqlite3_finalize(st);
    exec("COMMIT");
    bench_report("insert", bench_now() - t0);
}

__attribute__((noinline)) static void w_get(int64_t n)
{
    double t0 = bench_now();
    sqlite3_stmt *st = prepare(SELECT_USER " WHERE id = ?");
    user **got = malloc(10000 * sizeof *got);
    int64_t found = 0;
    exec("BEGIN");
    for (int64_t k = 0; k < 10000; k++) {
        sqlite3_bind_int64(st, 1, 1 + (k * 7919) % n);
        got[k] = sqlite3_step(st) == SQLITE_ROW ? read_user(st) : NULL;
        found += got[k] != NULL;
        sqlite3_reset(st);
    }
    exec("COMMIT");
    sqlite3_finalize(st);
    for (int64_t k = 0; k < 10000; k++)
        if (got[k])
            bench_free_user(got[k]);
    free(got);
    bench_report("get", bench_now() - t0);
    bench_check("get", found, 10000);
}

__attribute__((noinline)) static void w_filter(int64_t n)
{
    double t0 = bench_now();
    sqlite3_stmt *st = prepare(SELECT_USER " WHERE age = ? ORDER BY id LIMIT ?");
    int64_t rows = 0;
    user *page[50];
    exec("BEGIN");
    for (int k = 0; k < 1000; k++) {
        int cnt = 0;
        sqlite3_bind_int64(st, 1, 18 + k % 80);
        sqlite3_bind_int64(st, 2, 50);
        while (sqlite3_step(st) == SQLITE_ROW)
            page[cnt++] = read_user(st);
        sqlite3_reset(st);
        rows += cnt;
        for (int i = 0; i < cnt; i++)
            bench_free_user(page[i]);
    }
    exec("COMMIT");
    sqlite3_finalize(st);
    bench_report("filter", bench_now() - t0);
    bench_check("filter", rows, bench_filter_rows(n));
}

/* All users into a growing array of structs. */
static user **load_all(size_t *count)
{
    sqlite3_stmt *st = prepare(SELECT_USER);
    size_t cap = 1024, n = 0;
    user **v = malloc(cap * sizeof *v);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = read_user(st);
    }
    sqlite3_finalize(st);
    *count = n;
    return v;
}

__attribute__((noinline)) static void w_scan(int64_t n)
{
    bench_reset_peak();
    long before = bench_peak_kb();
    double t0 = bench_now();
    size_t cnt;
    exec("BEGIN");
    user **v = load_all(&cnt);
    exec("COMMIT");
    bench_scan_done(v, cnt, n, t0, before);
}

__attribute__((noinline)) static void w_update(int64_t n)
{
    double t0 = bench_now();
    size_t cnt;
    exec("BEGIN");
    user **v = load_all(&cnt);
    for (size_t i = 0; i < cnt; i++)
        v[i]->age += 1;
    sqlite3_stmt *st = prepare("UPDATE user SET age = ? WHERE id = ?");
    for (size_t i = 0; i < cnt; i++) {
        sqlite3_bind_int64(st, 1, v[i]->age);
        sqlite3_bind_int64(st, 2, v[i]->id);
        if (sqlite3_step(st) != SQLITE_DONE)
            die("update");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    exec("COMMIT");
    for (size_t i = 0; i < cnt; i++)
        bench_free_user(v[i]);
    free(v);
    bench_report("update", bench_now() - t0);
    bench_check("update", (int64_t)cnt, n);
}

static post *read_post(sqlite3_stmt *st)
{
    post *p = malloc(sizeof *p);
    p->id = sqlite3_column_int64(st, 0);
    p->content = dup_column(st, 1);
    p->user_id = sqlite3_column_int64(st, 2);
    p->created = bench_parse_datetime((const char *)sqlite3_column_text(st, 3));
    return p;
}

static void setup_relations(int64_t users)
{
    exec("CREATE TABLE user (id INTEGER PRIMARY KEY, username VARCHAR(80) NOT NULL UNIQUE, email "
         "VARCHAR(120) NOT NULL UNIQUE, age INTEGER NOT NULL, created DATETIME NOT NULL)");
    exec("CREATE TABLE post (id INTEGER PRIMARY KEY, content TEXT, user_id INTEGER NOT NULL "
         "REFERENCES user (id), created DATETIME NOT NULL)");
    exec("CREATE INDEX ix_post_user_id ON post (user_id)");
    exec("BEGIN");
    sqlite3_stmt *u = prepare("INSERT INTO user (username, email, age, created) VALUES (?, ?, ?, ?)");
    sqlite3_stmt *p = prepare("INSERT INTO post (content, user_id, created) VALUES (?, ?, ?)");
    char content[64], created[32];
    for (int64_t i = 1; i <= users; i++) {
        insert_user(u, i, created, sizeof created);
        int64_t id = sqlite3_last_insert_rowid(db);
        for (int j = 0; j < 10; j++) {
            snprintf(content, sizeof content, "post %d of user %lld", j, (long long)i);
            sqlite3_bind_text(p, 1, content, -1, SQLITE_STATIC);
            sqlite3_bind_int64(p, 2, id);
            sqlite3_bind_text(p, 3, created, -1, SQLITE_STATIC);
            if (sqlite3_step(p) != SQLITE_DONE)
                die("setup");
            sqlite3_reset(p);
        }
    }
    sqlite3_finalize(u);
    sqlite3_finalize(p);
    exec("COMMIT");
}

/* All users, then all posts attached to them by user id: two queries. */
__attribute__((noinline)) static void w_relations(int64_t users)
{
    double t0 = bench_now();
    exec("BEGIN");
    size_t cnt;
    user **all = load_all(&cnt);
    user_posts *v = calloc(cnt, sizeof *v);
    int64_t max_id = 0;
    for (size_t i = 0; i < cnt; i++) {
        v[i].u = all[i];
        if (all[i]->id > max_id)
            max_id = all[i]->id;
    }
    size_t *at = malloc((size_t)(max_id + 1) * sizeof *at);
    for (size_t i = 0; i < cnt; i++)
        at[all[i]->id] = i;
    free(all);
    sqlite3_stmt *st = prepare("SELECT id, content, user_id, created FROM post ORDER BY id");
    while (sqlite3_step(st) == SQLITE_ROW) {
        post *p = read_post(st);
        bench_add_post(&v[at[p->user_id]], p);
    }
    sqlite3_finalize(st);
    exec("COMMIT");
    free(at);
    bench_relations_done(v, cnt, users, t0);
}

/* The first 1,000 users, then each one's posts with its own query. */
__attribute__((noinline)) static void w_lazy(void)
{
    double t0 = bench_now();
    exec("BEGIN");
    sqlite3_stmt *st = prepare(SELECT_USER " ORDER BY id LIMIT 1000");
    user_posts *v = calloc(1000, sizeof *v);
    size_t cnt = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        v[cnt++].u = read_user(st);
    sqlite3_finalize(st);
    st = prepare("SELECT id, content, user_id, created FROM post WHERE user_id = ? ORDER BY id");
    int64_t posts = 0;
    for (size_t i = 0; i < cnt; i++) {
        sqlite3_bind_int64(st, 1, v[i].u->id);
        while (sqlite3_step(st) == SQLITE_ROW)
            bench_add_post(&v[i], read_post(st));
        sqlite3_reset(st);
        posts += (int64_t)v[i].n;
    }
    sqlite3_finalize(st);
    exec("COMMIT");
    bench_free_user_posts(v, cnt);
    bench_report("lazy", bench_now() - t0);
    bench_check("lazy", posts, 10000);
}

/* The users with even id, read into structs, deleted with their posts. */
__attribute__((noinline)) static void w_delete(int64_t users)
{
    double t0 = bench_now();
    exec("BEGIN");
    sqlite3_stmt *st = prepare(SELECT_USER " WHERE id % 2 = 0 ORDER BY id");
    user **v = malloc((size_t)users * sizeof *v);
    size_t cnt = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        v[cnt++] = read_user(st);
    sqlite3_finalize(st);
    sqlite3_stmt *dp = prepare("DELETE FROM post WHERE user_id = ?");
    sqlite3_stmt *du = prepare("DELETE FROM user WHERE id = ?");
    int64_t posts = 0, gone = 0;
    for (size_t i = 0; i < cnt; i++) {
        sqlite3_bind_int64(dp, 1, v[i]->id);
        if (sqlite3_step(dp) != SQLITE_DONE)
            die("delete posts");
        posts += sqlite3_changes(db);
        sqlite3_reset(dp);
        sqlite3_bind_int64(du, 1, v[i]->id);
        if (sqlite3_step(du) != SQLITE_DONE)
            die("delete user");
        gone += sqlite3_changes(db);
        sqlite3_reset(du);
    }
    sqlite3_finalize(dp);
    sqlite3_finalize(du);
    exec("COMMIT");
    for (size_t i = 0; i < cnt; i++)
        bench_free_user(v[i]);
    free(v);
    bench_report("delete", bench_now() - t0);
    bench_check("delete", gone, users / 2);
    bench_check("delete posts", posts, users / 2 * 10);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_baseline DIR [N [all|users|scan]]\n");
        return 2;
    }
    int64_t n = argc > 2 ? atoll(argv[2]) : 100000;
    enum bench_mode mode = bench_mode(argc, argv);
    char path[4096];
    snprintf(path, sizeof path, "%s/baseline.db", argv[1]);
    if (mode != BENCH_SCAN)
        unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("open");
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    if (mode == BENCH_SCAN) {
        w_scan(n);
        sqlite3_close(db);
        return 0;
    }
    w_insert(n);
    if (mode == BENCH_USERS) {
        sqlite3_close(db);
        return 0;
    }
    w_get(n);
    w_filter(n);
    w_scan(n);
    w_update(n);
    sqlite3_close(db);

    int64_t users = bench_rel_users(n);
    snprintf(path, sizeof path, "%s/baseline-rel.db", argv[1]);
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("open");
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    setup_relations(users);
    w_relations(users);
    if (users >= 1000)
        w_lazy();
    w_delete(users);
    sqlite3_close(db);
    return 0;
}
