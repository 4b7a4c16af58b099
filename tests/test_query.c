/*
 * test_query.c — queries: every filter operator, ordering, limits,
 * distinct, the row-count getters, bulk update and delete, aggregates with
 * GROUP BY and HAVING, pagination, and raw SQL.
 */
#include "common.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

static fixture fx;
static corm_session *s;

/* ten users: u0..u9, ages 20,21,...,29; u9 has a password */
static int setup(void **state)
{
    (void)state;
    fx_open(&fx, "");
    s = corm_session_new(fx.db);
    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", i);
        User *u = fx_user(s, name, 20 + i);
        if (i == 9) {
            u->password = "pw";
            OK(corm_commit(s));
        }
    }
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

static int64_t count_where(corm_expr *e)
{
    corm_query *q = corm_query_new(s, User);
    OK(corm_filter(q, e));
    int64_t n;
    int rc = corm_count(q, &n);
    if (rc != CORM_OK)
        fail_msg("count: %s", corm_errmsg(s));
    corm_query_free(q);
    return n;
}

/* Arithmetic on columns (ages 20..29): in filters, nested, in ORDER BY;
 * on a column that is not a number, CORM_ETYPE naming it, and the session
 * goes on. */
static void arithmetic_on_columns(void **state)
{
    (void)state;
    assert_int_equal(count_where(corm_eq(corm_mod(User_age, 2), 0)), 5);
    assert_int_equal(count_where(corm_eq(corm_mod(corm_plus(User_age, 1), 2), 0)), 5);
    assert_int_equal(count_where(corm_gt(corm_plus(User_age, 5), 30)), 4);
    assert_int_equal(count_where(corm_lt(corm_minus(User_age, 20), 3)), 3);
    assert_int_equal(count_where(corm_eq(corm_times(User_age, 2), 50)), 1);
    assert_int_equal(count_where(corm_eq(corm_times(User_age, -1), -29)), 1);

    corm_query *q = corm_query_new(s, User);
    corm_order_by(q, corm_desc(corm_mod(User_age, 3)));
    corm_order_by(q, User_id);
    User **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 10);
    int64_t want[] = { 20, 23, 26, 29, 22, 25, 28, 21, 24, 27 }; /* age % 3: 2, 1, 0 */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i]->age, want[i]);
    corm_query_free(q);

    q = corm_query_new(s, User); /* selected */
    OK(corm_select(q, corm_plus(User_age, 100)));
    OK(corm_filter(q, corm_eq(User_age, 26)));
    corm_result *r;
    OK(corm_rows(q, &r));
    assert_int_equal(corm_result_nrows(r), 1);
    assert_int_equal(corm_result_int(r, 0, 0), 126);
    corm_query_free(q);
    q = corm_query_new(s, User); /* summed: 20..29 % 3 */
    OK(corm_select(q, corm_sum(corm_mod(User_age, 3))));
    OK(corm_rows(q, &r));
    assert_int_equal(corm_result_int(r, 0, 0), 2 + 0 + 1 + 2 + 0 + 1 + 2 + 0 + 1 + 2);
    corm_query_free(q);

    q = corm_query_new(s, User);
    corm_filter(q, corm_eq(corm_mod(User_username, 2), 0));
    assert_int_equal(corm_all(q, &v, &n), CORM_ETYPE);
    assert_non_null(strstr(corm_errmsg(s), "corm_mod(User.username, ...): User.username is not an "
                                           "integer column"));
    corm_query_free(q);
    q = corm_query_new(s, User);
    corm_filter(q, corm_eq(corm_mod(User_age, 0), 0)); /* refused alike on every backend */
    assert_int_equal(corm_all(q, &v, &n), CORM_ERANGE);
    assert_non_null(strstr(corm_errmsg(s), "corm_mod(User.age, 0)"));
    corm_query_free(q);
    q = corm_query_new(s, User);
    corm_filter(q, corm_eq(corm_mod(User_age, 0.0), 0)); /* a zero of another kind too */
    assert_int_equal(corm_all(q, &v, &n), CORM_ERANGE);
    corm_query_free(q);
    q = corm_query_new(s, User); /* arithmetic on what is not a column */
    OK(corm_select(q, corm_plus(corm_count_all(), 1)));
    assert_int_equal(corm_rows(q, &r), CORM_ETYPE);
    assert_non_null(strstr(corm_errmsg(s), "corm_plus needs an integer or float column"));
    corm_query_free(q);
    assert_int_equal(count_where(corm_eq(corm_mod(User_id, 1), 0)), 10); /* and on */
}

static void filter_operators(void **state)
{
    (void)state;
    assert_int_equal(count_where(corm_eq(User_age, 25)), 1);
    assert_int_equal(count_where(corm_ne(User_age, 25)), 9);
    assert_int_equal(count_where(corm_lt(User_age, 25)), 5);
    assert_int_equal(count_where(corm_le(User_age, 25)), 6);
    assert_int_equal(count_where(corm_gt(User_age, 25)), 4);
    assert_int_equal(count_where(corm_ge(User_age, 25)), 5);
    corm_value in[] = { corm_val(20), corm_val(22), corm_val(99) };
    assert_int_equal(count_where(corm_in(User_age, in, 3)), 2);
    assert_int_equal(count_where(corm_not_in(User_age, in, 3)), 8);
    assert_int_equal(count_where(corm_in(User_age, in, 0)), 0);
    assert_int_equal(count_where(corm_like(User_username, "u%")), 10);
    assert_int_equal(count_where(corm_like(User_username, "U%")), 0); /* case-sensitive */
    assert_int_equal(count_where(corm_ilike(User_username, "U%")), 10);
    assert_int_equal(count_where(corm_is_null(User_password)), 9);
    assert_int_equal(count_where(corm_is_not_null(User_password)), 1);
    assert_int_equal(count_where(corm_eq(User_password, NULL)), 9);
    assert_int_equal(count_where(corm_between(User_age, 22, 24)), 3);
    assert_int_equal(count_where(corm_and(corm_ge(User_age, 22), corm_lt(User_age, 24))), 2);
    assert_int_equal(count_where(corm_or(corm_eq(User_age, 20), corm_eq(User_age, 29),
                                         corm_eq(User_username, "u5"))), 3);
    assert_int_equal(count_where(corm_not(corm_eq(User_age, 20))), 9);
    assert_int_equal(count_where(corm_not(corm_or(corm_lt(User_age, 22), corm_gt(User_age, 27)))), 6);
}

static void filter_by_name(void **state)
{
    (void)state;
    corm_query *q = corm_query_new(s, User);
    OK(corm_filter_by(q, "username", "u3"));
    User *u;
    OK(corm_one(q, &u));
    assert_string_equal(u->username, "u3");
    assert_int_equal(u->age, 23);
}

static void ordering_limits_distinct(void **state)
{
    (void)state;
    corm_query *q = corm_query_new(s, User);
    OK(corm_order_by(q, corm_desc(User_age)));
    OK(corm_limit(q, 3));
    OK(corm_offset(q, 2));
    User **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 3);
    assert_int_equal(v[0]->age, 27);
    assert_int_equal(v[2]->age, 25);
    /* several keys; an offset alone */
    q = corm_query_new(s, User);
    OK(corm_order_by(q, corm_asc(User_password)));
    OK(corm_order_by(q, User_username));
    OK(corm_offset(q, 8));
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 2);
    assert_string_equal(v[0]->username, "u8");
    assert_string_equal(v[1]->username, "u9");
    /* distinct over selected columns */
    OK(corm_add(s, fx_user(s, "dup", 20)));
    q = corm_query_new(s, User);
    OK(corm_select(q, User_age));
    OK(corm_distinct(q));
    OK(corm_filter(q, corm_le(User_age, 21)));
    OK(corm_order_by(q, User_age));
    corm_result *r;
    OK(corm_rows(q, &r));
    assert_int_equal(corm_result_nrows(r), 2);
    assert_int_equal(corm_result_int(r, 0, 0), 20);
    assert_int_equal(corm_result_int(r, 1, 0), 21);
}

static void first_one_one_or_none(void **state)
{
    (void)state;
    User *u = NULL;
    corm_query *q = corm_query_new(s, User);
    OK(corm_filter(q, corm_gt(User_age, 100)));
    OK(corm_first(q, &u));
    assert_null(u);
    OK(corm_one_or_none(q, &u));
    assert_null(u);
    assert_int_equal(corm_one(q, &u), CORM_ENOTFOUND);
    assert_non_null(strstr(corm_errmsg(s), "User: no row matched"));
    q = corm_query_new(s, User);
    OK(corm_filter(q, corm_gt(User_age, 25)));
    assert_int_equal(corm_one(q, &u), CORM_EMULTIPLE);
    assert_int_equal(corm_one_or_none(q, &u), CORM_EMULTIPLE);
    assert_non_null(strstr(corm_errmsg(s), "more than one row"));
    OK(corm_order_by(q, User_age));
    OK(corm_first(q, &u));
    assert_int_equal(u->age, 26);
    assert_non_null(strstr(fx_last(&fx, "SELECT"), "LIMIT ?"));
    bool any;
    OK(corm_exists(q, &any));
    assert_true(any);
    q = corm_query_new(s, User);
    OK(corm_filter(q, corm_eq(User_username, "nobody")));
    OK(corm_exists(q, &any));
    assert_false(any);
}

static void bulk_update_and_delete(void **state)
{
    (void)state;
    User *u5;
    OK(corm_get(s, User, 6, &u5)); /* u5, age 25, held by the session */
    corm_query *q = corm_query_new(s, User);
    OK(corm_filter(q, corm_ge(User_age, 25)));
    OK(corm_set(q, User_age, 40));
    int64_t n;
    OK(corm_update(q, &n));
    assert_int_equal(n, 5);
    assert_int_equal(u5->age, 40); /* the session's object follows */
    assert_false(corm_is_modified(s, u5));
    OK(corm_commit(s));
    q = corm_query_new(s, User);
    OK(corm_filter(q, corm_eq(User_age, 40)));
    OK(corm_delete_where(q, &n));
    assert_int_equal(n, 5);
    User *g;
    OK(corm_get(s, User, 6, &g));
    assert_null(g);
    OK(corm_commit(s));
    assert_int_equal(fx_rows(&fx, "user"), 5);
    /* bulk operations take only filters */
    q = corm_query_new(s, User);
    OK(corm_limit(q, 1));
    assert_int_equal(corm_delete_where(q, &n), CORM_EINVAL);
    q = corm_query_new(s, User);
    assert_int_equal(corm_update(q, &n), CORM_EINVAL);
    /* a rolled-back bulk delete is undone for the session too */
    q = corm_query_new(s, User);
    OK(corm_delete_where(q, &n));
    assert_int_equal(n, 5);
    OK(corm_rollback(s));
    assert_int_equal(fx_rows(&fx, "user"), 5);
}

static void aggregates(void **state)
{
    (void)state;
    corm_query *q = corm_query_new(s, User);
    OK(corm_select(q, corm_count_all()));
    OK(corm_select(q, corm_sum(User_age)));
    OK(corm_select(q, corm_min(User_age)));
    OK(corm_select(q, corm_max(User_age)));
    OK(corm_select(q, corm_avg(User_age)));
    corm_result *r;
    OK(corm_rows(q, &r));
    assert_int_equal(corm_result_nrows(r), 1);
    assert_int_equal(corm_result_ncols(r), 5);
    assert_int_equal(corm_result_int(r, 0, 0), 10);
    assert_int_equal(corm_result_int(r, 0, 1), 245);
    assert_int_equal(corm_result_int(r, 0, 2), 20);
    assert_int_equal(corm_result_int(r, 0, 3), 29);
    assert_int_equal(corm_result_value(r, 0, 4)->kind, CORM_V_FLOAT);
    assert_true(corm_result_float(r, 0, 4) == 24.5);
    /* GROUP BY / HAVING: ages bucketed by password presence */
    OK(corm_add(s, fx_user(s, "twin", 20)));
    q = corm_query_new(s, User);
    OK(corm_select(q, User_age));
    OK(corm_select(q, corm_count_of(User_id)));
    OK(corm_group_by(q, User_age));
    OK(corm_having(q, corm_gt(corm_count_of(User_id), 1)));
    OK(corm_rows(q, &r));
    assert_int_equal(corm_result_nrows(r), 1);
    assert_int_equal(corm_result_int(r, 0, 0), 20);
    assert_int_equal(corm_result_int(r, 0, 1), 2);
    assert_non_null(strstr(fx_last(&fx, "SELECT"), "GROUP BY \"user\".\"age\" HAVING COUNT(\"user\".\"id\") > ?"));
    /* min/max of a date column come back as dates */
    q = corm_query_new(s, User);
    OK(corm_select(q, corm_max(User_created)));
    OK(corm_rows(q, &r));
    assert_int_equal(corm_result_value(r, 0, 0)->kind, CORM_V_DATETIME);
}

/* SUM and AVG of decimals are exact (issue 7: SQLite's own SUM gave the
 * double 16.550000000000001). */
static void decimal_aggregates_are_exact(void **state)
{
    (void)state;
    const char *amounts[] = { "0.10", "0.20", "9.50", "10.00", "-3.25", NULL };
    for (size_t i = 0; i < 6; i++) {
        Kitchen *k = corm_new(s, Kitchen);
        if (amounts[i])
            OK(corm_numeric_parse(amounts[i], &k->num));
        else
            OK(corm_set_null(k, Kitchen_num, true)); /* NULL is skipped */
        OK(corm_add(s, k));
    }
    OK(corm_commit(s));
    corm_query *q = corm_query_new(s, Kitchen);
    OK(corm_select(q, corm_sum(Kitchen_num)));
    OK(corm_select(q, corm_avg(Kitchen_num)));
    corm_result *r;
    OK(corm_rows(q, &r));
    const corm_value *sum = corm_result_value(r, 0, 0), *avg = corm_result_value(r, 0, 1);
    char buf[CORM_NUMERIC_BUFSIZE];
    assert_int_equal(sum->kind, CORM_V_NUMERIC);
    assert_string_equal(corm_numeric_format(&sum->u.num, buf), "16.5500000000");
    assert_int_equal(avg->kind, CORM_V_NUMERIC);
    assert_string_equal(corm_numeric_format(&avg->u.num, buf), "3.3100000000000000");
    /* grouped, and over no rows: NULL */
    q = corm_query_new(s, Kitchen);
    OK(corm_filter(q, corm_lt(Kitchen_num, 0)));
    OK(corm_select(q, corm_sum(Kitchen_num)));
    OK(corm_rows(q, &r));
    assert_string_equal(corm_numeric_format(&corm_result_value(r, 0, 0)->u.num, buf), "-3.2500000000");
    q = corm_query_new(s, Kitchen);
    OK(corm_filter(q, corm_gt(Kitchen_num, 1000)));
    OK(corm_select(q, corm_sum(Kitchen_num)));
    OK(corm_select(q, corm_avg(Kitchen_num)));
    OK(corm_rows(q, &r));
    assert_int_equal(corm_result_value(r, 0, 0)->kind, CORM_V_NULL);
    assert_int_equal(corm_result_value(r, 0, 1)->kind, CORM_V_NULL);
    /* a sum past 38 digits is an error, not a rounded number */
    for (int i = 0; i < 2; i++) {
        Kitchen *k = corm_new(s, Kitchen);
        OK(corm_numeric_parse("9999999999999999999999999999.9999999999", &k->num));
        OK(corm_add(s, k));
    }
    OK(corm_commit(s));
    q = corm_query_new(s, Kitchen);
    OK(corm_select(q, corm_sum(Kitchen_num)));
    assert_int_equal(corm_rows(q, &r), CORM_ERANGE);
    assert_non_null(strstr(corm_errmsg(s), "38 digits"));
    int64_t n;
    OK(corm_count(corm_query_new(s, Kitchen), &n)); /* the session goes on */
    assert_int_equal(n, 8);
}

/* A backslash escapes %, _ and itself in LIKE patterns, the same on every
 * backend (SQLite had no escape character, PostgreSQL had this one). */
static void like_escapes_mean_the_same_everywhere(void **state)
{
    (void)state;
    const char *texts[] = { "a_b", "axb", "a%b", "a\\b" };
    for (size_t i = 0; i < 4; i++) {
        Kitchen *k = corm_new(s, Kitchen);
        k->s = (char *)texts[i];
        OK(corm_add(s, k));
    }
    OK(corm_commit(s));
    struct { const char *pattern; int64_t n; } cases[] = {
        { "a_b", 4 }, { "a\\_b", 1 }, { "a\\%b", 1 }, { "a\\\\b", 1 }, { "a%", 4 }, { "A_B", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        corm_query *q = corm_query_new(s, Kitchen);
        OK(corm_filter(q, corm_like(Kitchen_s, cases[i].pattern)));
        int64_t n;
        OK(corm_count(q, &n));
        if (n != cases[i].n)
            fail_msg("LIKE '%s' matched %lld, want %lld", cases[i].pattern, (long long)n,
                     (long long)cases[i].n);
    }
    corm_query *q = corm_query_new(s, Kitchen);
    OK(corm_filter(q, corm_ilike(Kitchen_s, "A\\_B")));
    int64_t n;
    OK(corm_count(q, &n));
    assert_int_equal(n, 1);
}

/* A user's search text is matched as it is: "50%" finds the prices that
 * hold "50%", not every row; "_" and a backslash are characters too. */
static void searching_for_user_text_escapes_it(void **state)
{
    (void)state;
    const char *texts[] = { "50% off", "500 off", "save 50%", "a_b", "axb", "c:\\tmp", "Sale 50%" };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        Kitchen *k = corm_new(s, Kitchen);
        k->s = (char *)texts[i];
        OK(corm_add(s, k));
    }
    OK(corm_commit(s));
    struct { corm_expr *e; int64_t n; const char *what; } cases[] = {
        { corm_contains(Kitchen_s, "50%"), 3, "contains 50%" },
        { corm_contains(Kitchen_s, "0%"), 3, "contains 0%" },
        { corm_startswith(Kitchen_s, "50%"), 1, "starts with 50%" },
        { corm_endswith(Kitchen_s, "50%"), 2, "ends with 50%" },
        { corm_contains(Kitchen_s, "_"), 1, "contains _" },
        { corm_contains(Kitchen_s, "\\"), 1, "contains a backslash" },
        { corm_endswith(Kitchen_s, "\\tmp"), 1, "ends with \\tmp" },
        { corm_contains(Kitchen_s, "%"), 3, "contains %" },
        { corm_startswith(Kitchen_s, "sale"), 0, "starts with sale" },
        { corm_istartswith(Kitchen_s, "sale"), 1, "starts with sale, any case" },
        { corm_icontains(Kitchen_s, "SAVE 50%"), 1, "contains SAVE 50%, any case" },
        { corm_iendswith(Kitchen_s, "OFF"), 2, "ends with OFF, any case" },
        { corm_contains(Kitchen_s, ""), 7, "contains nothing" },
        { corm_contains(Kitchen_s, NULL), 0, "contains NULL" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t n = fx_matches(s, Kitchen_model, cases[i].e);
        if (n != cases[i].n)
            fail_msg("%s matched %lld, want %lld", cases[i].what, (long long)n, (long long)cases[i].n);
    }
    /* out of memory building one: NULL, which the query reports */
    util_alloc_fail_after(0);
    corm_expr *e = corm_contains(Kitchen_s, "x");
    util_alloc_fail_after(-1);
    assert_null(e);
    corm_query *q = corm_query_new(s, Kitchen);
    assert_int_equal(corm_filter(q, e), CORM_ENOMEM);
}

static void pagination(void **state)
{
    (void)state;
    corm_query *q = corm_query_new(s, User);
    OK(corm_order_by(q, User_id));
    corm_page pg;
    OK(corm_paginate(q, 2, 4, &pg));
    assert_int_equal(pg.total, 10);
    assert_int_equal(pg.pages, 3);
    assert_int_equal(pg.n, 4);
    assert_string_equal(((User *)pg.items[0])->username, "u4");
    assert_true(pg.has_prev);
    assert_true(pg.has_next);
    assert_int_equal(pg.prev_num, 1);
    assert_int_equal(pg.next_num, 3);
    OK(corm_paginate(q, 3, 4, &pg));
    assert_int_equal(pg.n, 2);
    assert_false(pg.has_next);
    OK(corm_paginate(q, 7, 4, &pg));
    assert_int_equal(pg.n, 0);
    assert_int_equal(corm_paginate(q, 0, 4, &pg), CORM_EINVAL);
}

static void raw_sql(void **state)
{
    (void)state;
    corm_result *r;
    OK(corm_execute(s, "SELECT username, age FROM \"user\" WHERE age > ? AND username <> '?' ORDER BY age",
                    CORM_ARGS(27), &r));
    assert_int_equal(corm_result_nrows(r), 2);
    assert_string_equal(corm_result_text(r, 0, 0), "u8");
    assert_int_equal(corm_result_int(r, 1, 1), 29);
    OK(corm_execute(s, "UPDATE \"user\" SET age = age + 1 WHERE age < ?", CORM_ARGS(22), &r));
    assert_int_equal(corm_result_changes(r), 2);
    User **v;
    size_t n;
    /* raw SQL does not refresh objects the session holds (as in SQLAlchemy) */
    OK(corm_execute_objects(s, User, "SELECT * FROM \"user\" WHERE username IN (?, ?) ORDER BY id",
                            CORM_ARGS("u1", "u2"), &v, &n));
    assert_int_equal(n, 2);
    assert_int_equal(v[0]->age, 21);
    OK(corm_commit(s));
    corm_session *s2 = corm_session_new(fx.db);
    OK(corm_execute_objects(s2, User, "SELECT * FROM \"user\" WHERE username IN (?, ?) ORDER BY id",
                            CORM_ARGS("u1", "u2"), &v, &n));
    assert_int_equal(v[0]->age, 22);
    User *g;
    OK(corm_get(s2, User, v[1]->id, &g));
    assert_ptr_equal(g, v[1]);
    corm_session_free(s2);
    /* a value of another kind than its field's is converted, and a NULL
     * where the model says NOT NULL is read as the zero value, "" (on
     * MariaDB not what the column's buffer held before) */
    s2 = corm_session_new(fx.db);
    OK(corm_execute_objects(s2, User,
                            "SELECT id, username AS password, NULL AS username, email, '31' AS age, "
                            "created FROM \"user\" WHERE username = ?",
                            CORM_ARGS("u1"), &v, &n));
    assert_int_equal(n, 1);
    assert_string_equal(v[0]->username, "");
    assert_string_equal(v[0]->password, "u1");
    assert_int_equal(v[0]->age, 31);
    corm_session_free(s2);
    assert_int_equal(corm_execute_objects(s, User, "SELECT id, username FROM \"user\"", NULL, 0, &v, &n),
                     CORM_ENOCOLUMN);
    assert_int_equal(corm_execute(s, "SELECT ?", NULL, 0, NULL), CORM_EINVAL);
    assert_int_equal(corm_execute(s, "SELEKT 1", NULL, 0, NULL), CORM_ESQL);
    assert_non_null(strstr(corm_errmsg(s), "syntax")); /* "syntax error" / "in your SQL syntax" */
}

/* Raw SQL may not begin or end the session's transaction: a raw COMMIT
 * or ROLLBACK would leave the session's record of its transaction wrong
 * (objects it took for uncommitted, or for written), a raw BEGIN its own
 * next BEGIN refused. Refused before anything runs, however written. */
static void raw_sql_may_not_end_the_transaction(void **state)
{
    (void)state;
    OK(corm_execute(s, "UPDATE \"user\" SET age = 99 WHERE username = 'u1'", NULL, 0, NULL));
    static const char *const refused[] = {
        "COMMIT", "  commit work", "ROLLBACK", "rollback to savepoint x", "/* why */ BEGIN",
        "-- a comment\nBEGIN IMMEDIATE", "END", "ABORT", "SAVEPOINT x", "RELEASE SAVEPOINT x",
        "START TRANSACTION", "XA START 'x'", "PREPARE TRANSACTION 'x'", NULL };
    for (const char *const *sql = refused; *sql; sql++) {
        int rc = corm_execute(s, *sql, NULL, 0, NULL);
        if (rc != CORM_EINVAL || !strstr(corm_errmsg(s), "raw SQL may not run"))
            fail_msg("%s: %s: %s", *sql, corm_err_name(rc), corm_errmsg(s));
    }
    /* words that only look alike run */
    corm_result *r;
    OK(corm_execute(s, "SELECT 'COMMIT' AS begin_at", NULL, 0, &r));
    assert_string_equal(corm_result_text(r, 0, 0), "COMMIT");
    /* nothing was committed: the session's rollback undoes the update */
    OK(corm_rollback(s));
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'u1'"), 21);
}

/* MariaDB commits the open transaction before it runs DDL: raw CREATE
 * TABLE there is refused while the session's transaction has written (a
 * rollback would then undo nothing), and runs on its own when it has only
 * read. SQLite's and PostgreSQL's DDL is transactional: it runs in the
 * transaction, and the rollback takes it back too. Either way nothing the
 * session wrote is committed behind its back. */
static void raw_ddl_commits_nothing_the_session_wrote(void **state)
{
    (void)state;
    bool mariadb = strcmp(fx_backend(&fx), "mariadb") == 0;
    const char *create = "CREATE TABLE raw_ddl (id INTEGER PRIMARY KEY)";
    OK(corm_execute(s, "UPDATE \"user\" SET age = 99 WHERE username = 'u1'", NULL, 0, NULL));
    int rc = corm_execute(s, create, NULL, 0, NULL);
    if (mariadb) {
        assert_int_equal(rc, CORM_EINVAL);
        assert_non_null(strstr(corm_errmsg(s), "raw SQL may not run CREATE while the session's "
                                               "transaction has written"));
    } else {
        OK(rc);
    }
    OK(corm_rollback(s));
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'u1'"), 21);
    /* after a read, with nothing written: it runs (the table was not made
     * above, or was rolled back), and the session goes on */
    corm_query *q = corm_query_new(s, User);
    OK(corm_filter(q, corm_eq(User_username, "u1")));
    User *u;
    OK(corm_one(q, &u));
    OK(corm_execute(s, create, NULL, 0, NULL));
    u->age = 50;
    OK(corm_execute(s, "INSERT INTO raw_ddl (id) VALUES (1)", NULL, 0, NULL));
    OK(corm_commit(s));
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'u1'"), 50);
    OK(corm_execute(s, "INSERT INTO raw_ddl (id) VALUES (2)", NULL, 0, NULL));
    OK(corm_rollback(s));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM raw_ddl"), 1);
    /* a temporary table's DDL commits nothing on MariaDB either: it runs */
    OK(corm_execute(s, "UPDATE \"user\" SET age = 60 WHERE username = 'u1'", NULL, 0, NULL));
    OK(corm_execute(s, "CREATE TEMPORARY TABLE raw_tmp (id INTEGER)", NULL, 0, NULL));
    OK(corm_rollback(s));
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'u1'"), 50);
}

static void derived_tables(void **state)
{
    (void)state;
    /* the five oldest, then of those the ones whose name ends in an odd digit */
    corm_query *oldest = corm_query_new(s, User);
    OK(corm_order_by(oldest, corm_desc(User_age)));
    OK(corm_limit(oldest, 5));
    corm_query *q = corm_query_new(s, User);
    OK(corm_select_from(q, oldest));
    OK(corm_filter(q, corm_or(corm_like(User_username, "%1"), corm_like(User_username, "%3"),
                              corm_like(User_username, "%5"), corm_like(User_username, "%7"),
                              corm_like(User_username, "%9"))));
    OK(corm_order_by(q, User_age));
    User **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 3); /* u5, u7, u9 */
    assert_string_equal(v[0]->username, "u5");
    assert_string_equal(v[2]->username, "u9");
    assert_non_null(strstr(fx_last(&fx, "SELECT"), "FROM (SELECT"));
    int64_t count;
    OK(corm_count(q, &count));
    assert_int_equal(count, 3);
    assert_int_equal(corm_select_from(q, q), CORM_EINVAL);
}

static void columns_of_other_models_are_refused(void **state)
{
    (void)state;
    corm_query *q = corm_query_new(s, User);
    OK(corm_filter(q, corm_eq(Post_content, "x"))); /* checked when the query runs */
    User **v;
    size_t n;
    assert_int_equal(corm_all(q, &v, &n), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "Post.content used in a query of User"));
}

/* ---- streaming: corm_yield_per --------------------------------------------------- */

/* 1,000 more users (1,010 in all), committed in another session. */
static void many_users(void)
{
    corm_session *w = corm_session_new(fx.db);
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "many%04d", i);
        User *u = corm_new(w, User);
        u->username = corm_strdup(w, name);
        u->email = corm_strdup(w, name);
        u->age = i % 90;
        OK(corm_add(w, u));
    }
    OK(corm_commit(w));
    corm_session_free(w);
}

static void stream_reads_every_row_in_batches(void **state)
{
    (void)state;
    many_users();
    corm_session *r = corm_session_new(fx.db);
    corm_query *q = corm_query_new(r, User);
    corm_order_by(q, User_id);
    OK(corm_yield_per(q, 64));
    User **v;
    size_t n, total = 0, batches = 0;
    int64_t last = 0;
    do {
        OK(corm_next_batch(q, &v, &n));
        assert_true(n <= 64);
        for (size_t i = 0; i < n; i++) {
            assert_true(v[i]->id > last); /* every row once, in order */
            last = v[i]->id;
            assert_non_null(v[i]->username);
        }
        total += n;
        batches += n > 0;
    } while (n);
    assert_int_equal(total, 1010);
    assert_int_equal(batches, 16); /* 15 of 64 and one of 50 */
    OK(corm_next_batch(q, &v, &n)); /* at the end it stays at the end */
    assert_int_equal(n, 0);
    /* a limit and a filter hold as in corm_all */
    q = corm_query_new(r, User);
    corm_filter(q, corm_lt(User_age, 10));
    corm_limit(q, 25);
    OK(corm_yield_per(q, 10));
    total = 0;
    do {
        OK(corm_next_batch(q, &v, &n));
        for (size_t i = 0; i < n; i++)
            assert_true(v[i]->age < 10);
        total += n;
    } while (n);
    assert_int_equal(total, 25);
    corm_session_free(r);
}

static void streamed_objects_are_not_tracked(void **state)
{
    (void)state;
    corm_session *r = corm_session_new(fx.db);
    corm_query *q = corm_query_new(r, User);
    corm_filter(q, corm_eq(User_username, "u3"));
    OK(corm_yield_per(q, 5));
    User **v;
    size_t n;
    OK(corm_next_batch(q, &v, &n));
    assert_int_equal(n, 1);
    User *copy = v[0];
    assert_false(corm_is_modified(r, copy));
    assert_int_equal(corm_delete(r, copy), CORM_ESTATE);
    assert_non_null(strstr(corm_errmsg(r), "read-only copy"));
    assert_int_equal(corm_add(r, copy), CORM_ESTATE);
    copy->age = 99; /* changing the copy writes nothing */
    OK(corm_commit(r));
    User *u;
    OK(corm_get(r, User, copy->id, &u));
    assert_ptr_not_equal(u, copy); /* the session's own object, loaded anew */
    assert_int_equal(u->age, 23);
    corm_session_free(r);
}

/* corm_read_only: the objects as corm_all gives them, but copies the
 * session does not track: not in the identity map, changes never written,
 * refused where only tracked objects make sense. */
static void read_only_objects_are_untracked_copies(void **state)
{
    (void)state;
    many_users();
    corm_session *r = corm_session_new(fx.db);
    User *tracked;
    OK(corm_get(r, User, 1, &tracked)); /* held by the session before the query */
    corm_query *q = corm_query_new(r, User);
    corm_filter(q, corm_like(User_username, "many%"));
    corm_order_by(q, User_id);
    OK(corm_read_only(q));
    User **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 1000);
    for (size_t i = 0; i < n; i++) {
        char want[16];
        snprintf(want, sizeof want, "many%04zu", i);
        assert_string_equal(v[i]->username, want);
        assert_int_equal(v[i]->age, (int64_t)(i % 90));
    }
    User *copy = v[5];
    assert_false(corm_is_modified(r, copy));
    assert_int_equal(corm_delete(r, copy), CORM_ESTATE);
    assert_non_null(strstr(corm_errmsg(r), "corm_read_only"));
    assert_int_equal(corm_add(r, copy), CORM_ESTATE);
    assert_int_equal(corm_refresh(r, copy), CORM_ESTATE);
    copy->age = 1234; /* a change to a copy writes nothing */
    OK(corm_commit(r));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\" WHERE age = 1234"), 0);
    User *u;
    OK(corm_get(r, User, copy->id, &u));
    assert_ptr_not_equal(u, copy); /* the session's own, tracked object */
    assert_int_equal(u->age, 5);
    /* a row the session already tracks comes back as a copy too */
    q = corm_query_new(r, User);
    corm_filter(q, corm_eq(User_id, tracked->id));
    OK(corm_read_only(q));
    User *first;
    OK(corm_first(q, &first));
    assert_non_null(first);
    assert_ptr_not_equal(first, tracked);
    assert_string_equal(first->username, tracked->username);
    /* whole objects only */
    q = corm_query_new(r, User);
    OK(corm_read_only(q));
    corm_with_for_update(q);
    assert_int_equal(corm_all(q, &v, &n), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(r), "corm_read_only"));
    q = corm_query_new(r, User);
    OK(corm_read_only(q));
    corm_select(q, User_age);
    assert_int_equal(corm_all(q, &v, &n), CORM_EINVAL);
    corm_session_free(r);
}

static void stream_misuse_is_refused(void **state)
{
    (void)state;
    corm_session *r = corm_session_new(fx.db);
    corm_query *q = corm_query_new(r, User);
    User **v;
    size_t n;
    assert_int_equal(corm_next_batch(q, &v, &n), CORM_EINVAL); /* no corm_yield_per */
    assert_int_equal(corm_yield_per(q, 0), CORM_EINVAL);
    q = corm_query_new(r, User);
    corm_select(q, User_age);
    OK(corm_yield_per(q, 10));
    assert_int_equal(corm_next_batch(q, &v, &n), CORM_EINVAL); /* columns: corm_rows */
    /* another statement on the session's connection between batches: SQLite
     * runs both (a cursor each); a server's connection reads one result at
     * a time, so the rest of the stream is dropped and the next call says so */
    q = corm_query_new(r, User);
    OK(corm_yield_per(q, 3));
    OK(corm_next_batch(q, &v, &n));
    assert_int_equal(n, 3);
    User *u;
    OK(corm_get(r, User, 1, &u));
    int rc = corm_next_batch(q, &v, &n);
    if (strcmp(fx_backend(&fx), "sqlite") == 0) {
        OK(rc);
        assert_int_equal(n, 3);
    } else {
        assert_int_equal(rc, CORM_ESTATE);
        assert_non_null(strstr(corm_errmsg(r), "dropped"));
        /* and it stays ended, saying so, rather than seeming to end well */
        assert_int_equal(corm_next_batch(q, &v, &n), CORM_ESTATE);
        assert_non_null(strstr(corm_errmsg(r), "earlier batch"));
    }
    corm_query_free(q);
    /* a commit between batches ends the stream, and the next call says so */
    q = corm_query_new(r, User);
    OK(corm_yield_per(q, 4));
    OK(corm_next_batch(q, &v, &n));
    assert_int_equal(n, 4);
    assert_int_equal(corm_yield_per(q, 8), CORM_ESTATE); /* already being read */
    User *w = corm_new(r, User);
    w->username = "mid-stream";
    w->email = "mid@example.com";
    OK(corm_add(r, w));
    OK(corm_commit(r));
    assert_int_equal(corm_next_batch(q, &v, &n), CORM_ESTATE);
    assert_non_null(strstr(corm_errmsg(r), "went back to the pool"));
    corm_session_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(filter_operators, setup, teardown),
        cmocka_unit_test_setup_teardown(arithmetic_on_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(stream_reads_every_row_in_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(streamed_objects_are_not_tracked, setup, teardown),
        cmocka_unit_test_setup_teardown(stream_misuse_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_objects_are_untracked_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(filter_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(ordering_limits_distinct, setup, teardown),
        cmocka_unit_test_setup_teardown(first_one_one_or_none, setup, teardown),
        cmocka_unit_test_setup_teardown(bulk_update_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(aggregates, setup, teardown),
        cmocka_unit_test_setup_teardown(decimal_aggregates_are_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(searching_for_user_text_escapes_it, setup, teardown),
        cmocka_unit_test_setup_teardown(like_escapes_mean_the_same_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(raw_sql, setup, teardown),
        cmocka_unit_test_setup_teardown(raw_sql_may_not_end_the_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(raw_ddl_commits_nothing_the_session_wrote, setup, teardown),
        cmocka_unit_test_setup_teardown(columns_of_other_models_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(derived_tables, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
