/*
 * bench_corm.c — the BENCH.md workloads written as a corm user would.
 *
 *     bench_corm DIR [N]      (a fresh DIR/corm.db is made)
 *     bench_corm URL [N]      (a server's database: its tables dropped and made again)
 */
#define CORM_DEFINE_MODELS
#include <corm/corm.h>

#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USER_FIELDS(COLUMN, RELATION)                                  \
    COLUMN(id,       CORM_INTEGER,     CORM_PRIMARY_KEY)               \
    COLUMN(username, CORM_STRING(80),  CORM_UNIQUE | CORM_NOT_NULL)    \
    COLUMN(email,    CORM_STRING(120), CORM_UNIQUE | CORM_NOT_NULL)    \
    COLUMN(age,      CORM_INTEGER,     CORM_NOT_NULL)                  \
    COLUMN(created,  CORM_DATETIME,    CORM_NOT_NULL)                  \
    RELATION(posts,  CORM_ONE_TO_MANY(Post, user), CORM_CASCADE(CORM_CASCADE_DELETE))
CORM_MODEL(User, "user", USER_FIELDS)

#define POST_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,      CORM_INTEGER,  CORM_PRIMARY_KEY)                            \
    COLUMN(content, CORM_TEXT,     0)                                           \
    COLUMN(user_id, CORM_INTEGER,  CORM_NOT_NULL | CORM_INDEX, CORM_FK(User, id)) \
    COLUMN(created, CORM_DATETIME, CORM_NOT_NULL)                               \
    RELATION(user,  CORM_MANY_TO_ONE(User, user_id, posts))
CORM_MODEL(Post, "post", POST_FIELDS)

static const corm_model *const models[] = { User_model, Post_model, NULL };

static void die(corm_session *s, const char *what)
{
    fprintf(stderr, "%s: %s\n", what, s ? corm_errmsg(s) : "");
    exit(1);
}

static corm_datetime created(int64_t i)
{
    int64_t secs = i;
    corm_datetime dt = { { 2024, 1, 1 }, { 0, 0, 0, 0 } };
    dt.date.day = (uint8_t)(1 + secs / 86400);  /* N <= 2,678,400 stays in January */
    secs %= 86400;
    dt.time.hour = (uint8_t)(secs / 3600);
    dt.time.minute = (uint8_t)(secs / 60 % 60);
    dt.time.second = (uint8_t)(secs % 60);
    return dt;
}

/* User i of BENCH.md, added to the session. */
static User *add_user(corm_session *s, int64_t i)
{
    char buf[64];
    User *u = corm_new(s, User);
    bench_username(buf, i);
    u->username = corm_strdup(s, buf);
    bench_email(buf, i);
    u->email = corm_strdup(s, buf);
    u->age = bench_age(i);
    u->created = created(i);
    corm_add(s, u);
    return u;
}

__attribute__((noinline)) static void w_insert(corm_engine *db, int64_t n)
{
    double t0 = bench_now();
    if (corm_create_all(db) != CORM_OK)
        die(NULL, corm_engine_errmsg(db));
    corm_session *s = corm_session_new(db);
    for (int64_t i = 1; i <= n; i++)
        add_user(s, i);
    if (corm_commit(s) != CORM_OK)
        die(s, "insert");
    corm_session_free(s);
    bench_report("insert", bench_now() - t0);
}

/* The reads of one workload in one transaction, as the baseline puts
 * BEGIN before them (on SQLite: one snapshot, not a read lock per query). */
static void begin(corm_session *s, const char *name)
{
    if (corm_begin(s) != CORM_OK)
        die(s, name);
}

__attribute__((noinline)) static void w_get(corm_engine *db, int64_t n)
{
    double t0 = bench_now();
    corm_session *s = corm_session_new(db);
    begin(s, "get");
    int64_t found = 0;
    for (int64_t k = 0; k < 10000; k++) {
        User *u;
        if (corm_get(s, User, 1 + (k * 7919) % n, &u) != CORM_OK)
            die(s, "get");
        found += u != NULL;
    }
    corm_session_free(s);
    bench_report("get", bench_now() - t0);
    bench_check("get", found, 10000);
}

__attribute__((noinline)) static void w_filter(corm_engine *db, int64_t n)
{
    double t0 = bench_now();
    corm_session *s = corm_session_new(db);
    begin(s, "filter");
    int64_t rows = 0;
    for (int k = 0; k < 1000; k++) {
        corm_query *q = corm_query_new(s, User);
        corm_filter(q, corm_eq(User_age, 18 + k % 80));
        corm_order_by(q, User_id);
        corm_limit(q, 50);
        User **v;
        size_t cnt;
        if (corm_all(q, &v, &cnt) != CORM_OK)
            die(s, "filter");
        rows += (int64_t)cnt;
        corm_query_free(q);
    }
    corm_session_free(s);
    bench_report("filter", bench_now() - t0);
    bench_check("filter", rows, bench_filter_rows(n));
}

/* The scan's rows read with corm_yield_per, 1,000 at a time (bench/stream.sh
 * sets it beside the scan of the same rows with corm_all). */
__attribute__((noinline)) static void w_stream(corm_engine *db, int64_t n)
{
    bench_reset_peak();
    long before = bench_peak_kb();
    double t0 = bench_now();
    corm_session *s = corm_session_new(db);
    corm_query *q = corm_query_new(s, User);
    User **v;
    size_t cnt, rows = 0;
    int64_t sum = 0;
    if (corm_yield_per(q, 1000) != CORM_OK)
        die(s, "stream");
    do {
        if (corm_next_batch(q, &v, &cnt) != CORM_OK)
            die(s, "stream");
        for (size_t i = 0; i < cnt; i++)
            sum += v[i]->age;
        rows += cnt;
    } while (cnt);
    long peak = bench_peak_kb();
    corm_session_free(s);
    bench_report("stream", bench_now() - t0);
    printf("workload stream peak_rss_kb %ld\n", peak - before);
    bench_check("stream", (int64_t)rows, n);
    bench_check("stream", sum, bench_sum_ages(n));
}

/* scan; read_only: the same rows as untracked copies (corm_read_only), as
 * a report that changes nothing would read them. */
__attribute__((noinline)) static void w_scan(corm_engine *db, int64_t n, bool read_only)
{
    const char *name = read_only ? "scan_ro" : "scan";
    bench_reset_peak();
    long before = bench_peak_kb();
    double t0 = bench_now();
    corm_session *s = corm_session_new(db);
    begin(s, name);
    corm_query *q = corm_query_new(s, User);
    if (read_only)
        corm_read_only(q);
    User **v;
    size_t cnt;
    if (corm_all(q, &v, &cnt) != CORM_OK)
        die(s, name);
    int64_t sum = 0;
    for (size_t i = 0; i < cnt; i++)
        sum += v[i]->age;
    long peak = bench_peak_kb();
    corm_session_free(s);
    bench_report(name, bench_now() - t0);
    printf("workload %s peak_rss_kb %ld\n", name, peak - before);
    bench_check(name, sum, bench_sum_ages(n));
}

__attribute__((noinline)) static void w_update(corm_engine *db, int64_t n)
{
    double t0 = bench_now();
    corm_session *s = corm_session_new(db);
    corm_query *q = corm_query_new(s, User);
    User **v;
    size_t cnt;
    if (corm_all(q, &v, &cnt) != CORM_OK)
        die(s, "update");
    for (size_t i = 0; i < cnt; i++)
        v[i]->age += 1;
    if (corm_commit(s) != CORM_OK)
        die(s, "update");
    corm_session_free(s);
    bench_report("update", bench_now() - t0);
    bench_check("update", (int64_t)cnt, n);
}

/* 10,000 users with 10 posts each, untimed. */
static void setup_relations(corm_engine *db, int64_t users)
{
    if (corm_create_all(db) != CORM_OK)
        die(NULL, corm_engine_errmsg(db));
    corm_session *s = corm_session_new(db);
    char buf[64];
    for (int64_t i = 1; i <= users; i++) {
        User *u = add_user(s, i);
        for (int j = 0; j < 10; j++) {
            Post *p = corm_new(s, Post);
            sprintf(buf, "post %d of user %lld", j, (long long)i);
            p->content = corm_strdup(s, buf);
            p->created = u->created;
            corm_rel_add(s, u, User_posts, p);
        }
    }
    if (corm_commit(s) != CORM_OK)
        die(s, "setup relations");
    corm_session_free(s);
}

__attribute__((noinline)) static void w_relations(corm_engine *db, int64_t users)
{
    double t0 = bench_now();
    corm_session *s = corm_session_new(db);
    begin(s, "relations");
    corm_query *q = corm_query_new(s, User);
    corm_selectin(q, User_posts);
    User **v;
    size_t cnt;
    if (corm_all(q, &v, &cnt) != CORM_OK)
        die(s, "relations");
    int64_t posts = 0, right = 0;
    for (size_t i = 0; i < cnt; i++) {
        posts += (int64_t)v[i]->posts.n;
        right += v[i]->posts.n == 10;
    }
    corm_session_free(s);
    bench_report("relations", bench_now() - t0);
    bench_check("relations", posts, users * 10);
    bench_check("relations users with 10 posts", right, users);
}

__attribute__((noinline)) static void w_lazy(corm_engine *db)
{
    double t0 = bench_now();
    corm_session *s = corm_session_new(db);
    begin(s, "lazy");
    corm_query *q = corm_query_new(s, User);
    corm_order_by(q, User_id);
    corm_limit(q, 1000);
    User **v;
    size_t cnt;
    if (corm_all(q, &v, &cnt) != CORM_OK)
        die(s, "lazy");
    int64_t posts = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (corm_load(s, v[i], User_posts) != CORM_OK)
            die(s, "lazy");
        posts += (int64_t)v[i]->posts.n;
    }
    corm_session_free(s);
    bench_report("lazy", bench_now() - t0);
    bench_check("lazy", posts, 10000);
}

/* The users with even id, loaded and deleted as objects; their posts go by
 * the relationship's cascade, which deletes them by user_id without loading
 * them (Post has nothing hanging on it). The posts deleted are counted
 * afterwards, untimed. */
static void delete_users(corm_engine *db, int64_t users, const char *name)
{
    double t0 = bench_now();
    corm_session *s = corm_session_new(db);
    corm_query *q = corm_query_new(s, User);
    corm_filter(q, corm_eq(corm_mod(User_id, 2), 0)); /* as the baseline's id % 2 = 0 */
    corm_order_by(q, User_id);
    User **v;
    size_t cnt;
    if (corm_all(q, &v, &cnt) != CORM_OK)
        die(s, name);
    for (size_t i = 0; i < cnt; i++)
        if (corm_delete(s, v[i]) != CORM_OK)
            die(s, name);
    if (corm_commit(s) != CORM_OK)
        die(s, name);
    corm_session_free(s);
    bench_report(name, bench_now() - t0);
    s = corm_session_new(db);
    int64_t left = -1;
    if (corm_count(corm_query_new(s, Post), &left) != CORM_OK)
        die(s, name);
    corm_session_free(s);
    bench_check(name, (int64_t)cnt, users / 2);
    bench_check("delete posts", users * 10 - left, users / 2 * 10);
}

__attribute__((noinline)) static void w_delete(corm_engine *db, int64_t users)
{
    delete_users(db, users, "delete");
}

/* The same with foreign keys enforced, corm's default on SQLite. */
__attribute__((noinline)) static void w_delete_fk(corm_engine *db, int64_t users)
{
    delete_users(db, users, "delete_fk");
}

/* An engine on DIR/name (SQLite, as BENCH.md sets it: WAL, synchronous
 * NORMAL "and nothing else", so foreign keys are left off as SQLite and the
 * baseline leave them; fk: corm's default, enforced) or on the server at a
 * URL, its tables dropped (keep: as they are). */
static corm_engine *open_db(const char *where, const char *name, bool keep, bool fk)
{
    char path[4096], url[4200];
    bool server = strstr(where, "://") != NULL;
    bench_on_server = server;
    if (server) {
        snprintf(url, sizeof url, "%s", where);
    } else {
        snprintf(path, sizeof path, "%s/%s", where, name);
        if (!keep)
            unlink(path);
        snprintf(url, sizeof url, "sqlite:///%s?journal_mode=wal&synchronous=normal%s", path,
                 fk ? "" : "&foreign_keys=off");
    }
    corm_engine *db;
    if (corm_engine_open(&db, url, models) != CORM_OK || (server && !keep && corm_drop_all(db) != CORM_OK)) {
        fprintf(stderr, "%s\n", corm_engine_errmsg(db));
        exit(1);
    }
    return db;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_corm DIR|URL [N [all|users|scan|stream]]\n");
        return 2;
    }
    int64_t n = argc > 2 ? atoll(argv[2]) : 100000;
    enum bench_mode mode = bench_mode(argc, argv);
    bench_rows = n;
    bool read_only = mode == BENCH_SCAN_RO;
    corm_engine *db = open_db(argv[1], "corm.db", mode == BENCH_SCAN || read_only || mode == BENCH_STREAM,
                              false);
    if (mode == BENCH_SCAN || read_only || mode == BENCH_STREAM) {
        if (mode == BENCH_STREAM)
            w_stream(db, n);
        else
            w_scan(db, n, read_only);
        corm_engine_close(db);
        return 0;
    }
    w_insert(db, n);
    bench_settle();
    if (mode == BENCH_USERS) {
        corm_engine_close(db);
        return 0;
    }
    w_get(db, n);
    w_filter(db, n);
    w_scan(db, n, false);
    w_update(db, n);
    corm_engine_close(db);
    bench_settle();

    int64_t users = bench_rel_users(n);
    db = open_db(argv[1], "corm-rel.db", false, false);
    setup_relations(db, users);
    bench_settle();
    w_relations(db, users);
    if (users >= 1000)
        w_lazy(db);
    w_delete(db, users);
    corm_engine_close(db);
    if (!bench_on_server) { /* the same delete as corm runs by default: keys enforced */
        db = open_db(argv[1], "corm-rel-fk.db", false, true);
        setup_relations(db, users);
        bench_settle();
        w_delete_fk(db, users);
        corm_engine_close(db);
    }
    return 0;
}
