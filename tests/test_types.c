/*
 * test_types.c — every column type survives a write and a read in a new
 * session, with its edge cases: NULL, int64 limits, empty and hostile
 * strings, multi-byte UTF-8, decimals past double precision, the first and
 * last dates, leap days, microseconds, BLOBs holding zero bytes.
 */
#include "common.h"

#include <string.h>

static fixture fx;

static int setup(void **state) { (void)state; fx_open(&fx, ""); return 0; }
static int teardown(void **state) { (void)state; fx_close(&fx); return 0; }

/* Write k, then read it back in a fresh session (no identity map help). */
static Kitchen *round_trip(corm_session **s2, Kitchen *k, corm_session *s1)
{
    OK(corm_add(s1, k));
    int rc = corm_commit(s1);
    if (rc != CORM_OK)
        fail_msg("commit: %s", corm_errmsg(s1));
    *s2 = corm_session_new(fx.db);
    Kitchen *back;
    OK(corm_get(*s2, Kitchen, k->id, &back));
    assert_non_null(back);
    assert_ptr_not_equal(back, k);
    return back;
}

static void every_type_round_trips(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db), *s2;
    Kitchen *k = corm_new(s, Kitchen);
    static const unsigned char bytes[] = { 0, 1, 0, 255, 0 };
    k->i = INT64_MIN;
    k->big = INT64_MAX;
    k->small = -32768;
    k->flag = true;
    k->f = 0.1 + 0.2;
    OK(corm_numeric_parse("1234567890123456789012345678.0123456789", &k->num));
    k->s = "h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80"; /* 9 characters, 15 bytes */
    k->t = "it's \"quoted\"; DROP TABLE kitchen; --";
    k->d = (corm_date){ 2024, 2, 29 };
    k->tm = (corm_time){ 23, 59, 59, 999999 };
    k->dt = (corm_datetime){ { 1, 1, 1 }, { 0, 0, 0, 1 } };
    k->blob = (corm_blob){ bytes, sizeof bytes };
    k->json = "{\"a\": [1, 2, {\"b\": null}], \"\\u00e9\": \"x\"}";
    k->prio = PRIO_HIGH;
    Kitchen *b = round_trip(&s2, k, s);
    assert_true(b->i == INT64_MIN);
    assert_true(b->big == INT64_MAX);
    assert_int_equal(b->small, -32768);
    assert_true(b->flag);
    assert_true(b->f == 0.1 + 0.2);
    char buf[CORM_NUMERIC_BUFSIZE];
    assert_string_equal(corm_numeric_format(&b->num, buf), "1234567890123456789012345678.0123456789");
    assert_string_equal(b->s, k->s);
    assert_string_equal(b->t, k->t);
    assert_int_equal(b->d.year, 2024);
    assert_int_equal(b->d.month, 2);
    assert_int_equal(b->d.day, 29);
    assert_int_equal(b->tm.usec, 999999);
    assert_int_equal(b->tm.hour, 23);
    assert_int_equal(b->dt.date.year, 1);
    assert_int_equal(b->dt.time.usec, 1);
    assert_int_equal(b->blob.len, sizeof bytes);
    assert_memory_equal(b->blob.data, bytes, sizeof bytes);
    assert_string_equal(b->json, k->json);
    assert_int_equal(b->prio, PRIO_HIGH);
    for (size_t i = 1; i < Kitchen_model->ncolumns; i++)
        assert_false(corm_field_is_null(b, Kitchen_model->columns[i]));
    /* the enum is stored by name */
    corm_result *r;
    OK(corm_execute(s2, "SELECT prio FROM kitchen WHERE id = ?", CORM_ARGS(k->id), &r));
    assert_string_equal(corm_result_text(r, 0, 0), "high");
    corm_session_free(s2);
    corm_session_free(s);
}

static void nulls_round_trip(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db), *s2;
    Kitchen *k = corm_new(s, Kitchen);
    /* a new object's pointers and dates start NULL, its numbers at zero */
    assert_false(corm_field_is_null(k, Kitchen_i));
    assert_false(corm_field_is_null(k, Kitchen_flag));
    assert_true(corm_field_is_null(k, Kitchen_d));
    assert_true(corm_field_is_null(k, Kitchen_s));
    static const corm_column *const scalars[] = { Kitchen_i, Kitchen_big, Kitchen_small,
        Kitchen_flag, Kitchen_f, Kitchen_num, Kitchen_prio };
    for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++)
        OK(corm_set_null(k, scalars[i], true));
    Kitchen *b = round_trip(&s2, k, s);
    for (size_t i = 1; i < Kitchen_model->ncolumns; i++)
        assert_true(corm_field_is_null(b, Kitchen_model->columns[i]));
    corm_result *r;
    OK(corm_execute(s2, "SELECT COUNT(*) FROM kitchen WHERE i IS NULL AND d IS NULL AND s IS NULL "
                    "AND \"blob\" IS NULL AND prio IS NULL AND id = ?", CORM_ARGS(k->id), &r));
    assert_int_equal(corm_result_int(r, 0, 0), 1);
    /* giving a NULL field a value clears the flag at flush */
    b->i = 42;
    b->d = (corm_date){ 9999, 12, 31 };
    OK(corm_commit(s2));
    assert_false(corm_field_is_null(b, Kitchen_i));
    corm_session *s3 = corm_session_new(fx.db);
    Kitchen *c;
    OK(corm_get(s3, Kitchen, k->id, &c));
    assert_int_equal(c->i, 42);
    assert_int_equal(c->d.year, 9999);
    assert_true(corm_field_is_null(c, Kitchen_big));
    /* zero stored in a NULL column needs the flag cleared by hand */
    OK(corm_set_null(c, Kitchen_big, false));
    c->big = 0;
    /* and a value can be set back to NULL */
    OK(corm_set_null(c, Kitchen_i, true));
    OK(corm_commit(s3));
    OK(corm_execute(s3, "SELECT big, i FROM kitchen WHERE id = ?", CORM_ARGS(k->id), &r));
    assert_int_equal(corm_result_value(r, 0, 0)->kind, CORM_V_INT);
    assert_int_equal(corm_result_int(r, 0, 0), 0);
    assert_int_equal(corm_result_value(r, 0, 1)->kind, CORM_V_NULL);
    corm_session_free(s3);
    corm_session_free(s2);
    corm_session_free(s);
}

static void empty_values_are_not_null(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db), *s2;
    Kitchen *k = corm_new(s, Kitchen);
    k->s = "";
    k->t = "";
    k->blob = (corm_blob){ "", 0 };
    Kitchen *b = round_trip(&s2, k, s);
    assert_non_null(b->s);
    assert_string_equal(b->s, "");
    assert_string_equal(b->t, "");
    assert_non_null(b->blob.data);
    assert_int_equal(b->blob.len, 0);
    assert_false(corm_field_is_null(b, Kitchen_i));
    assert_int_equal(b->i, 0);
    assert_false(corm_field_is_null(b, Kitchen_f));
    corm_session_free(s2);
    corm_session_free(s);
}

static void dates_at_the_edges(void **state)
{
    (void)state;
    const corm_date dates[] = { { 1, 1, 1 }, { 9999, 12, 31 }, { 2000, 2, 29 }, { 1600, 2, 29 } };
    for (size_t i = 0; i < sizeof dates / sizeof *dates; i++) {
        corm_session *s = corm_session_new(fx.db), *s2;
        Kitchen *k = corm_new(s, Kitchen);
        k->d = dates[i];
        k->dt = (corm_datetime){ dates[i], { 12, 30, 15, 123456 } };
        Kitchen *b = round_trip(&s2, k, s);
        assert_int_equal(b->d.year, dates[i].year);
        assert_int_equal(b->d.month, dates[i].month);
        assert_int_equal(b->dt.time.usec, 123456);
        assert_int_equal(b->dt.date.day, dates[i].day);
        corm_session_free(s2);
        corm_session_free(s);
    }
}

/* Decimals order by value on every backend (SQLite keeps them as text). */
static void decimals_compare_and_sort_by_value(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    const char *values[] = { "10.5", "9.25", "-3", "-20.125", "0", "100", "12345678901234567890.5" };
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        Kitchen *k = corm_new(s, Kitchen);
        OK(corm_numeric_parse(values[i], &k->num));
        OK(corm_add(s, k));
    }
    OK(corm_commit(s));
    corm_query *q = corm_query_new(s, Kitchen);
    OK(corm_filter(q, corm_gt(Kitchen_num, "9.3")));
    int64_t n;
    OK(corm_count(q, &n));
    assert_int_equal(n, 3); /* 10.5, 100, 1.2e19 — not by text, where "9.3" > "10.5" */
    corm_session *fresh = corm_session_new(fx.db); /* rows read back, not the objects above */
    q = corm_query_new(fresh, Kitchen);
    OK(corm_order_by(q, Kitchen_num));
    Kitchen **v;
    size_t cnt;
    OK(corm_all(q, &v, &cnt));
    assert_int_equal(cnt, 7);
    const char *sorted[] = { "-20.1250000000", "-3.0000000000", "0.0000000000", "9.2500000000",
                             "10.5000000000", "100.0000000000", "12345678901234567890.5000000000" };
    for (size_t i = 0; i < cnt; i++) {
        char buf[CORM_NUMERIC_BUFSIZE];
        assert_string_equal(corm_numeric_format(&v[i]->num, buf), sorted[i]);
    }
    q = corm_query_new(s, Kitchen);
    OK(corm_select(q, corm_max(Kitchen_num)));
    OK(corm_select(q, corm_min(Kitchen_num)));
    corm_result *r;
    OK(corm_rows(q, &r));
    char buf[CORM_NUMERIC_BUFSIZE];
    assert_int_equal(corm_result_value(r, 0, 0)->kind, CORM_V_NUMERIC);
    assert_string_equal(corm_numeric_format(&corm_result_value(r, 0, 0)->u.num, buf),
                        "12345678901234567890.5000000000");
    assert_string_equal(corm_numeric_format(&corm_result_value(r, 0, 1)->u.num, buf), "-20.1250000000");
    corm_session_free(fresh);
    corm_session_free(s);
}

static void filters_compare_typed_values(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    Kitchen *k = corm_new(s, Kitchen);
    k->d = (corm_date){ 2020, 5, 17 };
    k->tm = (corm_time){ 8, 0, 0, 0 };
    k->prio = PRIO_MEDIUM;
    OK(corm_numeric_parse("10.5", &k->num));
    k->flag = false;
    OK(corm_add(s, k));
    OK(corm_commit(s));
    struct { corm_expr *e; } cases[] = {
        { corm_eq(Kitchen_d, ((corm_date){ 2020, 5, 17 })) },
        { corm_eq(Kitchen_d, "2020-05-17") },
        { corm_between(Kitchen_d, "2020-01-01", "2020-12-31") },
        { corm_eq(Kitchen_tm, "08:00:00") },
        { corm_eq(Kitchen_prio, PRIO_MEDIUM) },
        { corm_eq(Kitchen_prio, "medium") },
        { corm_eq(Kitchen_num, "10.50") },
        { corm_eq(Kitchen_flag, false) },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        corm_query *q = corm_query_new(s, Kitchen);
        OK(corm_filter(q, cases[i].e));
        OK(corm_filter(q, corm_eq(Kitchen_id, k->id)));
        int64_t n;
        OK(corm_count(q, &n));
        if (n != 1)
            fail_msg("filter case %zu matched %lld rows: %s", i, (long long)n,
                     fx_last(&fx, "SELECT"));
    }
    corm_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_type_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(nulls_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_values_are_not_null, setup, teardown),
        cmocka_unit_test_setup_teardown(dates_at_the_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(filters_compare_typed_values, setup, teardown),
        cmocka_unit_test_setup_teardown(decimals_compare_and_sort_by_value, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
