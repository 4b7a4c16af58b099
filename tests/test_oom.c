/*
 * test_oom.c — out of memory, everywhere it can happen. Each scenario is
 * run with the Nth allocation failing, for every N until it succeeds
 * untouched (SQLite's fault-simulator loop). Every run must return CORM_OK
 * or CORM_ENOMEM, leak nothing (ASan and valgrind check that), keep what
 * was committed, and leave the session usable.
 */
#include "common.h"
#include "util/alloc.h"

#include <string.h>

static fixture fx;

static int setup(void **state)
{
    (void)state;
    util_alloc_fail_after(-1); /* a test that failed with a fault armed leaves it so */
    fx_open(&fx, "");
    return 0;
}
static int teardown(void **state) { (void)state; fx_close(&fx); return 0; }

typedef int (*scenario)(corm_session *s, int round);

/* Inserts two users and a post. */
static int insert_objects(corm_session *s, int round)
{
    char name[32];
    User *u = corm_new(s, User);
    if (!u)
        return corm_errcode(s);
    snprintf(name, sizeof name, "oom%d", round);
    u->username = corm_strdup(s, name);
    snprintf(name, sizeof name, "oom%d@example.com", round);
    u->email = corm_strdup(s, name);
    if (!u->username || !u->email)
        return CORM_ENOMEM;
    int rc = corm_add(s, u);
    if (rc == CORM_OK)
        rc = corm_flush(s);
    Post *p = rc == CORM_OK ? corm_new(s, Post) : NULL;
    if (rc == CORM_OK && !p)
        rc = corm_errcode(s);
    if (rc == CORM_OK) {
        p->user_id = u->id;
        p->content = "oom";
        rc = corm_add(s, p);
    }
    return rc == CORM_OK ? corm_commit(s) : rc;
}

/* Queries with every kind of filter, aggregates, pagination. */
static int run_queries(corm_session *s, int round)
{
    (void)round;
    corm_query *q = corm_query_new(s, User);
    if (!q)
        return corm_errcode(s);
    corm_value in[] = { corm_val(1), corm_val(2) };
    corm_filter(q, corm_or(corm_in(User_id, in, 2), corm_like(User_username, "o%"),
                           corm_between(User_age, 1, 100)));
    corm_order_by(q, corm_desc(User_id));
    User **v;
    size_t n;
    int rc = corm_all(q, &v, &n);
    if (rc == CORM_OK) {
        corm_page pg;
        rc = corm_paginate(q, 1, 2, &pg);
    }
    if (rc == CORM_OK) {
        corm_query *a = corm_query_new(s, User);
        if (!a)
            return corm_errcode(s);
        corm_select(a, User_age);
        corm_select(a, corm_count_all());
        corm_group_by(a, User_age);
        corm_result *r;
        rc = corm_rows(a, &r);
    }
    corm_query_free(q);
    return rc;
}

/* Load, change, commit; a bulk update; raw SQL. */
static int update_objects(corm_session *s, int round)
{
    User *u;
    int rc = corm_get(s, User, 1, &u);
    if (rc != CORM_OK)
        return rc;
    u->age = 20 + round % 50;
    if ((rc = corm_commit(s)) != CORM_OK)
        return rc;
    corm_query *q = corm_query_new(s, User);
    if (!q)
        return corm_errcode(s);
    corm_filter(q, corm_eq(User_id, 1));
    corm_set(q, User_age, 40);
    int64_t changed;
    if ((rc = corm_update(q, &changed)) != CORM_OK)
        return rc;
    corm_result *r;
    if ((rc = corm_execute(s, "SELECT * FROM \"user\" WHERE id > ?", CORM_ARGS(0), &r)) != CORM_OK)
        return rc;
    return corm_commit(s);
}

static void run_with_faults(scenario fn, const char *name)
{
    corm_session *seed = corm_session_new(fx.db);
    fx_user(seed, "base", 30);
    corm_session_free(seed);
    int failures = 0;
    for (long n = 0; n < 5000; n++) {
        int64_t before = fx_rows(&fx, "user");
        corm_session *s = corm_session_new(fx.db); /* may itself fail */
        util_alloc_fail_after(n);
        int rc = s ? fn(s, (int)n) : CORM_ENOMEM;
        bool injected = util_alloc_failed();
        util_alloc_fail_after(-1);
        if (rc != CORM_OK && rc != CORM_ENOMEM)
            fail_msg("%s, allocation %ld: %s: %s", name, n, corm_err_name(rc), s ? corm_errmsg(s) : "");
        if (rc == CORM_ENOMEM) {
            failures++;
            assert_true(injected);
            /* nothing committed was lost; the session still works */
            assert_true(fx_rows(&fx, "user") >= before);
            if (s) {
                OK(corm_rollback(s));
                User *u = corm_new(s, User);
                assert_non_null(u);
                char name2[48];
                snprintf(name2, sizeof name2, "after-%s-%ld", name, n);
                u->username = corm_strdup(s, name2);
                u->email = corm_strdup(s, name2);
                OK(corm_add(s, u));
                OK(corm_commit(s));
            }
        }
        corm_session_free(s);
        if (rc == CORM_OK && !injected) {
            assert_true(failures > 0);
            return;
        }
    }
    fail_msg("%s never succeeded", name);
}

static void oom_inserting(void **state) { (void)state; run_with_faults(insert_objects, "insert"); }
static void oom_querying(void **state) { (void)state; run_with_faults(run_queries, "query"); }
static void oom_updating(void **state) { (void)state; run_with_faults(update_objects, "update"); }

static void oom_opening_engines(void **state)
{
    (void)state;
    for (long n = 0; n < 1000; n++) {
        corm_engine *e;
        util_alloc_fail_after(n);
        int rc = corm_engine_open(&e, "sqlite://", test_models);
        if (rc == CORM_OK)
            rc = corm_create_all(e);
        bool injected = util_alloc_failed();
        util_alloc_fail_after(-1);
        corm_engine_close(e);
        if (rc != CORM_OK && rc != CORM_ENOMEM)
            fail_msg("open, allocation %ld: %s", n, corm_err_name(rc));
        if (rc == CORM_OK && !injected)
            return;
    }
    fail_msg("engine open never succeeded");
}

static void oom_building_expressions(void **state)
{
    (void)state;
    /* a failed constructor frees its children and the query reports ENOMEM */
    corm_session *s = corm_session_new(fx.db);
    for (long n = 0; n < 20; n++) {
        corm_query *q = corm_query_new(s, User);
        assert_non_null(q);
        util_alloc_fail_after(n);
        corm_expr *e = corm_and(corm_eq(User_age, 1), corm_or(corm_ne(User_id, 2), corm_is_null(User_password)));
        int rc = corm_filter(q, e);
        bool injected = util_alloc_failed();
        util_alloc_fail_after(-1);
        if (!injected) {
            OK(rc);
            break;
        }
        assert_int_equal(rc, CORM_ENOMEM);
        User **v;
        size_t cnt;
        assert_int_equal(corm_all(q, &v, &cnt), CORM_ENOMEM);
        corm_query_free(q);
    }
    corm_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oom_opening_engines),
        cmocka_unit_test_setup_teardown(oom_inserting, setup, teardown),
        cmocka_unit_test_setup_teardown(oom_querying, setup, teardown),
        cmocka_unit_test_setup_teardown(oom_updating, setup, teardown),
        cmocka_unit_test_setup_teardown(oom_building_expressions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
