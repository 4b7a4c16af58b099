/*
 * bench_baseline_my.c — the BENCH.md workloads hand-written against MariaDB
 * Connector/C, as people write it by hand: one server-side prepared
 * statement per kind of work, reused (the binary protocol); one
 * transaction per unit of work; one execute per row (no array binding, no
 * multi-row VALUES); rows read into plain structs with their strings
 * malloc'd.
 *
 *     bench_baseline_my URL [N]    (URL: mysql://user@host/db?unix_socket=PATH;
 *                                   the benchmark's tables are dropped first)
 */
#define _POSIX_C_SOURCE 200809L
#include "bench_common.h"

#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static MYSQL *db;

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, mysql_error(db));
    exit(1);
}

static void exec(const char *sql)
{
    if (mysql_query(db, sql) != 0)
        die(sql);
}

static MYSQL_STMT *prepare(const char *sql)
{
    MYSQL_STMT *st = mysql_stmt_init(db);
    if (!st || mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0)
        die(sql);
    return st;
}

static void run(MYSQL_STMT *st, MYSQL_BIND *params)
{
    if ((params && mysql_stmt_bind_param(st, params)) || mysql_stmt_execute(st))
        die(mysql_stmt_error(st));
}

static MYSQL_BIND bind_int(int64_t *v)
{
    MYSQL_BIND b;
    memset(&b, 0, sizeof b);
    b.buffer_type = MYSQL_TYPE_LONGLONG;
    b.buffer = v;
    return b;
}

static MYSQL_BIND bind_str(char *s, unsigned long *len, unsigned long cap)
{
    MYSQL_BIND b;
    memset(&b, 0, sizeof b);
    b.buffer_type = MYSQL_TYPE_STRING;
    b.buffer = s;
    b.buffer_length = cap;
    b.length = len;
    return b;
}

static MYSQL_BIND bind_time(MYSQL_TIME *t)
{
    MYSQL_BIND b;
    memset(&b, 0, sizeof b);
    b.buffer_type = MYSQL_TYPE_DATETIME;
    b.buffer = t;
    return b;
}

static datetime from_time(const MYSQL_TIME *t)
{
    return (datetime){ (int32_t)t->year, (uint8_t)t->month, (uint8_t)t->day, (uint8_t)t->hour,
                       (uint8_t)t->minute, (uint8_t)t->second, (uint32_t)t->second_part };
}

static char *dup_len(const char *s, unsigned long n)
{
    char *d = malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* A user row's result buffers, bound once per statement. */
typedef struct user_row {
    int64_t id, age;
    char name[96], email[136];
    unsigned long nname, nemail;
    MYSQL_TIME created;
    MYSQL_BIND b[5];
} user_row;

static void bind_user(MYSQL_STMT *st, user_row *r)
{
    r->b[0] = bind_int(&r->id);
    r->b[1] = bind_str(r->name, &r->nname, sizeof r->name);
    r->b[2] = bind_str(r->email, &r->nemail, sizeof r->email);
    r->b[3] = bind_int(&r->age);
    r->b[4] = bind_time(&r->created);
    if (mysql_stmt_bind_result(st, r->b))
        die("bind user");
}

static user *read_user(const user_row *r)
{
    user *u = malloc(sizeof *u);
    u->id = r->id;
    u->username = dup_len(r->name, r->nname);
    u->email = dup_len(r->email, r->nemail);
    u->age = r->age;
    u->created = from_time(&r->created);
    return u;
}

typedef struct post_row {
    int64_t id, user_id;
    char content[256];
    unsigned long ncontent;
    MYSQL_TIME created;
    MYSQL_BIND b[4];
} post_row;

static void bind_post(MYSQL_STMT *st, post_row *r)
{
    r->b[0] = bind_int(&r->id);
    r->b[1] = bind_str(r->content, &r->ncontent, sizeof r->content);
    r->b[2] = bind_int(&r->user_id);
    r->b[3] = bind_time(&r->created);
    if (mysql_stmt_bind_result(st, r->b))
        die("bind post");
}

static post *read_post(const post_row *r)
{
    post *p = malloc(sizeof *p);
    p->id = r->id;
    p->content = dup_len(r->content, r->ncontent);
    p->user_id = r->user_id;
    p->created = from_time(&r->created);
    return p;
}

#define SELECT_USER "SELECT id, username, email, age, created FROM `user`"

/* The schema corm makes from the same models. */
static void create_schema(void)
{
    exec("SET FOREIGN_KEY_CHECKS = 0");
    exec("DROP TABLE IF EXISTS post, `user`");
    exec("SET FOREIGN_KEY_CHECKS = 1");
    exec("CREATE TABLE `user` (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, username VARCHAR(80) "
         "NOT NULL UNIQUE, email VARCHAR(120) NOT NULL UNIQUE, age BIGINT NOT NULL, created "
         "DATETIME(6) NOT NULL) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin");
    exec("CREATE TABLE post (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, content LONGTEXT, "
         "user_id BIGINT NOT NULL REFERENCES `user` (id), created DATETIME(6) NOT NULL) "
         "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin");
    exec("CREATE INDEX ix_post_user_id ON post (user_id)");
}

static MYSQL_TIME created_of(int64_t i)
{
    MYSQL_TIME t;
    memset(&t, 0, sizeof t);
    t.year = 2024;
    t.month = 1;
    t.day = (unsigned)(1 + i / 86400);
    t.hour = (unsigned)(i % 86400 / 3600);
    t.minute = (unsigned)(i / 60 % 60);
    t.second = (unsigned)(i % 60);
    t.time_type = MYSQL_TIMESTAMP_DATETIME;
    return t;
}

__attribute__((noinline)) static void w_insert(int64_t n)
{
    double t0 = bench_now();
    create_schema();
    exec("BEGIN");
    MYSQL_STMT *st = prepare("INSERT INTO `user` (username, email, age, created) VALUES (?, ?, ?, ?)");
    char name[32], email[48];
    unsigned long nname, nemail;
    int64_t age;
    MYSQL_TIME created;
    MYSQL_BIND b[4] = { bind_str(name, &nname, sizeof name), bind_str(email, &nemail, sizeof email),
                        bind_int(&age), bind_time(&created) };
    for (int64_t i = 1; i <= n; i++) {
        bench_username(name, i);
        bench_email(email, i);
        nname = (unsigned long)strlen(name);
        nemail = (unsigned long)strlen(email);
        age = bench_age(i);
        created = created_of(i);
        run(st, b);
    }
    mysql_stmt_close(st);
    exec("COMMIT");
    bench_report("insert", bench_now() - t0);
}

__attribute__((noinline)) static void w_get(int64_t n)
{
    double t0 = bench_now();
    MYSQL_STMT *st = prepare(SELECT_USER " WHERE id = ?");
    user_row row;
    bind_user(st, &row);
    int64_t id, found = 0;
    MYSQL_BIND p[1] = { bind_int(&id) };
    user **got = malloc(10000 * sizeof *got);
    exec("BEGIN");
    for (int64_t k = 0; k < 10000; k++) {
        id = 1 + (k * 7919) % n;
        run(st, p);
        got[k] = mysql_stmt_fetch(st) == 0 ? read_user(&row) : NULL;
        found += got[k] != NULL;
        mysql_stmt_free_result(st);
    }
    exec("COMMIT");
    mysql_stmt_close(st);
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
    MYSQL_STMT *st = prepare(SELECT_USER " WHERE age = ? ORDER BY id LIMIT ?");
    user_row row;
    bind_user(st, &row);
    int64_t age, limit = 50, rows = 0;
    MYSQL_BIND p[2] = { bind_int(&age), bind_int(&limit) };
    exec("BEGIN");
    for (int k = 0; k < 1000; k++) {
        age = 18 + k % 80;
        run(st, p);
        user *page[50];
        int cnt = 0;
        while (cnt < 50 && mysql_stmt_fetch(st) == 0)
            page[cnt++] = read_user(&row);
        mysql_stmt_free_result(st);
        rows += cnt;
        for (int i = 0; i < cnt; i++)
            bench_free_user(page[i]);
    }
    exec("COMMIT");
    mysql_stmt_close(st);
    bench_report("filter", bench_now() - t0);
    bench_check("filter", rows, bench_filter_rows(n));
}

/* The rows of a query into a new array of user structs. */
static user **load_users(const char *sql, size_t *count)
{
    MYSQL_STMT *st = prepare(sql);
    user_row row;
    bind_user(st, &row);
    run(st, NULL);
    size_t cap = 1024, n = 0;
    user **v = malloc(cap * sizeof *v);
    while (mysql_stmt_fetch(st) == 0) {
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = read_user(&row);
    }
    mysql_stmt_close(st);
    *count = n;
    return v;
}

__attribute__((noinline)) static void w_scan(int64_t n)
{
    bench_reset_peak();
    long before = bench_peak_kb();
    double t0 = bench_now();
    size_t cnt;
    user **v = load_users(SELECT_USER, &cnt);
    bench_scan_done(v, cnt, n, t0, before);
}

__attribute__((noinline)) static void w_update(int64_t n)
{
    double t0 = bench_now();
    size_t cnt;
    exec("BEGIN");
    user **v = load_users(SELECT_USER, &cnt);
    for (size_t i = 0; i < cnt; i++)
        v[i]->age += 1;
    MYSQL_STMT *st = prepare("UPDATE `user` SET age = ? WHERE id = ?");
    int64_t age, id;
    MYSQL_BIND p[2] = { bind_int(&age), bind_int(&id) };
    for (size_t i = 0; i < cnt; i++) {
        age = v[i]->age;
        id = v[i]->id;
        run(st, p);
    }
    mysql_stmt_close(st);
    exec("COMMIT");
    for (size_t i = 0; i < cnt; i++)
        bench_free_user(v[i]);
    free(v);
    bench_report("update", bench_now() - t0);
    bench_check("update", (int64_t)cnt, n);
}

/* 10,000 users with 10 posts each, untimed: made by the server itself. */
static void setup_relations(int64_t users)
{
    create_schema();
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO `user` (username, email, age, created) SELECT "
             "CONCAT('user', LPAD(seq, 6, '0')), CONCAT('user', LPAD(seq, 6, '0'), '@example.com'), "
             "18 + seq %% 80, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND "
             "FROM seq_1_to_%lld", (long long)users);
    exec(sql);
    exec("INSERT INTO post (content, user_id, created) SELECT CONCAT('post ', j.seq, ' of user ', "
         "u.id), u.id, u.created FROM `user` u, seq_0_to_9 j ORDER BY u.id, j.seq");
}

/* All users, then all posts attached to them by user id: two queries. */
__attribute__((noinline)) static void w_relations(int64_t users)
{
    double t0 = bench_now();
    exec("BEGIN");
    size_t cnt;
    user **all = load_users(SELECT_USER, &cnt);
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
    MYSQL_STMT *st = prepare("SELECT id, content, user_id, created FROM post ORDER BY id");
    post_row row;
    bind_post(st, &row);
    run(st, NULL);
    while (mysql_stmt_fetch(st) == 0) {
        post *p = read_post(&row);
        bench_add_post(&v[at[p->user_id]], p);
    }
    mysql_stmt_close(st);
    exec("COMMIT");
    free(at);
    bench_relations_done(v, cnt, users, t0);
}

/* The first 1,000 users, then each one's posts with its own query. */
__attribute__((noinline)) static void w_lazy(void)
{
    double t0 = bench_now();
    exec("BEGIN");
    size_t cnt;
    user **first = load_users(SELECT_USER " ORDER BY id LIMIT 1000", &cnt);
    user_posts *v = calloc(cnt, sizeof *v);
    MYSQL_STMT *st = prepare("SELECT id, content, user_id, created FROM post WHERE user_id = ? ORDER BY id");
    post_row row;
    bind_post(st, &row);
    int64_t id, posts = 0;
    MYSQL_BIND p[1] = { bind_int(&id) };
    for (size_t i = 0; i < cnt; i++) {
        v[i].u = first[i];
        id = first[i]->id;
        run(st, p);
        while (mysql_stmt_fetch(st) == 0)
            bench_add_post(&v[i], read_post(&row));
        mysql_stmt_free_result(st);
        posts += (int64_t)v[i].n;
    }
    mysql_stmt_close(st);
    free(first);
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
    size_t cnt;
    user **v = load_users(SELECT_USER " WHERE id % 2 = 0 ORDER BY id", &cnt);
    MYSQL_STMT *dp = prepare("DELETE FROM post WHERE user_id = ?");
    MYSQL_STMT *du = prepare("DELETE FROM `user` WHERE id = ?");
    int64_t id, posts = 0, gone = 0;
    MYSQL_BIND p[1] = { bind_int(&id) };
    for (size_t i = 0; i < cnt; i++) {
        id = v[i]->id;
        run(dp, p);
        posts += (int64_t)mysql_stmt_affected_rows(dp);
        run(du, p);
        gone += (int64_t)mysql_stmt_affected_rows(du);
    }
    mysql_stmt_close(dp);
    mysql_stmt_close(du);
    exec("COMMIT");
    for (size_t i = 0; i < cnt; i++)
        bench_free_user(v[i]);
    free(v);
    bench_report("delete", bench_now() - t0);
    bench_check("delete", gone, users / 2);
    bench_check("delete posts", posts, users / 2 * 10);
}

/* mysql://user@host/db?unix_socket=PATH, as scripts/mariadb.sh writes it */
static void connect_url(const char *url)
{
    char login[64] = "", name[128] = "", sock[512] = "";
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strchr(p, '@'), *slash = strchr(p, '/');
    if (at && slash && at < slash)
        snprintf(login, sizeof login, "%.*s", (int)(at - p), p);
    if (slash)
        snprintf(name, sizeof name, "%.*s", (int)strcspn(slash + 1, "?"), slash + 1);
    const char *us = strstr(url, "unix_socket=");
    if (us)
        snprintf(sock, sizeof sock, "%.*s", (int)strcspn(us + 12, "&"), us + 12);
    db = mysql_init(NULL);
    mysql_optionsv(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(db, "localhost", login, NULL, name, 0, sock[0] ? sock : NULL, 0))
        die("connect");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_baseline_my URL [N [all|users|scan]]\n");
        return 2;
    }
    int64_t n = argc > 2 ? atoll(argv[2]) : 100000;
    connect_url(argv[1]);
    bench_on_server = true;
    bench_rows = n;
    enum bench_mode mode = bench_mode(argc, argv);
    if (mode == BENCH_SCAN) {
        w_scan(n);
        mysql_close(db);
        return 0;
    }
    w_insert(n);
    bench_settle();
    if (mode == BENCH_USERS) {
        mysql_close(db);
        return 0;
    }
    w_get(n);
    w_filter(n);
    w_scan(n);
    w_update(n);
    bench_settle();

    int64_t users = bench_rel_users(n);
    setup_relations(users);
    bench_settle();
    w_relations(users);
    if (users >= 1000)
        w_lazy();
    w_delete(users);
    mysql_close(db);
    return 0;
}
