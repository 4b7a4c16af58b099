/*
 * test_types.c — every column type survives a write and a read in a new
 * session, with its edge cases: NULL, int64 limits, empty and hostile
 * strings, multi-byte UTF-8, decimals past double precision, the first and
 * last dates, leap days, microseconds, BLOBs holding zero bytes.
 */
#include "common.h"

#include <stdlib.h>
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

/* Kitchen's fields equal by value (strings and bytes by content). */
static void assert_same_kitchen(const Kitchen *a, const Kitchen *b)
{
    assert_true(a->i == b->i);
    assert_true(a->big == b->big);
    assert_int_equal(a->small, b->small);
    assert_int_equal(a->flag, b->flag);
    assert_memory_equal(&a->f, &b->f, sizeof a->f);
    assert_true(a->num.lo == b->num.lo && a->num.hi == b->num.hi && a->num.scale == b->num.scale);
    assert_string_equal(a->s, b->s);
    assert_string_equal(a->t, b->t);
    assert_true(a->d.year == b->d.year && a->d.month == b->d.month && a->d.day == b->d.day);
    assert_true(a->tm.hour == b->tm.hour && a->tm.minute == b->tm.minute &&
                a->tm.second == b->tm.second && a->tm.usec == b->tm.usec);
    assert_true(a->dt.date.year == b->dt.date.year && a->dt.time.usec == b->dt.time.usec &&
                a->dt.date.day == b->dt.date.day && a->dt.time.second == b->dt.time.second);
    assert_int_equal(a->blob.len, b->blob.len);
    assert_memory_equal(a->blob.data, b->blob.data, a->blob.len);
    assert_string_equal(a->json, b->json);
    assert_int_equal(a->prio, b->prio);
}

/* A loaded object's snapshot is kept packed, each value in a byte or a few
 * (orm/object.c): every type at its edges comes back from it exactly.
 * Each field changed alone is a change that writes that column only, and
 * a rollback puts it back as read. A change whose packed form is longer
 * than the room the old one had (a string far from the object, a number
 * of more digits) is kept as a whole image instead, and is undone too. */
static void the_snapshot_keeps_every_value_exactly(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db), *s2;
    Kitchen *k = corm_new(s, Kitchen);
    static const unsigned char bytes[] = { 0, 1, 0, 255, 0 }, other[] = { 7 };
    k->i = INT64_MIN;
    k->big = 1; /* a byte, packed */
    k->small = -32768;
    k->flag = true;
    k->f = 0.1 + 0.2;
    OK(corm_numeric_parse("-1234567890123456789012345678.0123456789", &k->num));
    k->s = "h\xc3\xa9llo";
    k->t = "text";
    k->d = (corm_date){ 1, 1, 1 };
    k->tm = (corm_time){ 23, 59, 59, 999999 };
    k->dt = (corm_datetime){ { 9999, 12, 31 }, { 23, 59, 59, 999999 } };
    k->blob = (corm_blob){ bytes, sizeof bytes };
    k->json = "[1]";
    k->prio = PRIO_HIGH;
    Kitchen *b = round_trip(&s2, k, s);
    Kitchen read = *b;
    assert_false(corm_is_modified(s2, b));
    for (size_t i = 1; i < Kitchen_model->ncolumns; i++) {
        const corm_column *c = Kitchen_model->columns[i];
        switch (i) {
        case 1: b->i = INT64_MAX; break;
        case 2: b->big = 2; break;
        case 3: b->small = 32767; break;
        case 4: b->flag = false; break;
        case 5: b->f = 0.3; break;
        case 6: b->num.lo ^= 1; break;
        case 7: b->s = corm_strdup(s2, "hello"); break;
        case 8: b->t = corm_strdup(s2, "txet"); break;
        case 9: b->d.day = 2; break;
        case 10: b->tm.usec = 0; break;
        case 11: b->dt.time.usec = 999998; break;
        case 12: b->blob = (corm_blob){ other, sizeof other }; break;
        case 13: b->json = corm_strdup(s2, "[2]"); break;
        case 14: b->prio = PRIO_LOW; break;
        default: fail_msg("column %zu has no change here", i);
        }
        assert_true(corm_is_modified(s2, b));
        fx_clear_log(&fx);
        if (corm_flush(s2) != CORM_OK)
            fail_msg("flush of %s: %s", c->name, corm_errmsg(s2));
        const char *sql = fx_last(&fx, "UPDATE");
        char set[64];
        snprintf(set, sizeof set, "SET \"%s\" = ? WHERE", c->name);
        if (!sql || !strstr(sql, set))
            fail_msg("changing %s wrote %s", c->name, sql ? sql : "nothing");
        assert_false(corm_is_modified(s2, b));
        OK(corm_rollback(s2));
        assert_same_kitchen(b, &read);
        assert_false(corm_is_modified(s2, b));
    }
    /* the same text at another address is no change */
    b->t = corm_strdup(s2, "text");
    assert_false(corm_is_modified(s2, b));
    /* longer packed forms: a string outside the session's memory, a key of
     * more digits than the row had: flushed, then undone */
    b->s = "far";
    b->big = INT64_MAX;
    fx_clear_log(&fx);
    OK(corm_flush(s2));
    assert_int_equal(fx_count(&fx, "UPDATE"), 1);
    assert_false(corm_is_modified(s2, b));
    b->small = 1; /* a change on top of the whole image */
    assert_true(corm_is_modified(s2, b));
    OK(corm_rollback(s2));
    assert_same_kitchen(b, &read);
    assert_false(corm_is_modified(s2, b));
    corm_session *s3 = corm_session_new(fx.db);
    Kitchen *c;
    OK(corm_get(s3, Kitchen, k->id, &c));
    assert_same_kitchen(c, &read);
    corm_session_free(s3);
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
        int64_t n = fx_matches(s, Kitchen_model, corm_and(cases[i].e, corm_eq(Kitchen_id, k->id)));
        if (n != 1)
            fail_msg("filter case %zu matched %lld rows: %s", i, (long long)n,
                     fx_last(&fx, "SELECT"));
    }
    corm_session_free(s);
}

/* Times with and without microseconds sort and compare as times on every
 * backend (SQLite keeps them as text, the fraction only where it is not
 * zero), and a time the database wrote itself, without a fraction (SQL's
 * CURRENT_TIMESTAMP, a literal), equals the value read back from it. */
static void datetimes_order_and_compare_as_times(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    const corm_datetime at = { { 2024, 3, 1 }, { 10, 0, 0, 0 } };
    struct { corm_datetime dt; corm_time tm; } rows[] = { /* inserted out of order */
        { { at.date, { 10, 0, 0, 500000 } }, { 10, 0, 0, 500000 } },
        { { at.date, { 9, 59, 59, 999999 } }, { 9, 59, 59, 999999 } },
        { { at.date, { 10, 0, 1, 0 } }, { 10, 0, 1, 0 } },
        { at, at.time },
        { { at.date, { 10, 0, 0, 1 } }, { 10, 0, 0, 1 } },
    };
    const uint32_t sorted_usec[] = { 999999, 0, 1, 500000, 0 };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        Kitchen *k = corm_new(s, Kitchen);
        k->dt = rows[i].dt;
        k->tm = rows[i].tm;
        OK(corm_add(s, k));
    }
    OK(corm_commit(s));
    corm_session *fresh = corm_session_new(fx.db);
    for (int by_time = 0; by_time < 2; by_time++) {
        corm_query *q = corm_query_new(fresh, Kitchen);
        OK(corm_order_by(q, by_time ? Kitchen_tm : Kitchen_dt));
        Kitchen **v;
        size_t cnt;
        OK(corm_all(q, &v, &cnt));
        assert_int_equal(cnt, 5);
        for (size_t i = 0; i < cnt; i++)
            assert_int_equal(by_time ? v[i]->tm.usec : v[i]->dt.time.usec, sorted_usec[i]);
        assert_int_equal(v[4]->dt.time.second, 1);
    }
    const corm_datetime next = { at.date, { 10, 0, 1, 0 } };
    struct { corm_expr *e; int64_t want; } cases[] = {
        { corm_lt(Kitchen_dt, at), 1 },   { corm_le(Kitchen_dt, at), 2 },
        { corm_gt(Kitchen_dt, at), 3 },   { corm_ge(Kitchen_dt, at), 4 },
        { corm_eq(Kitchen_dt, at), 1 },   { corm_ne(Kitchen_dt, at), 4 },
        { corm_between(Kitchen_dt, at, next), 4 },
        { corm_eq(Kitchen_dt, "2024-03-01 10:00:00.000000"), 1 },
        { corm_lt(Kitchen_tm, at.time), 1 }, { corm_le(Kitchen_tm, at.time), 2 },
        { corm_gt(Kitchen_tm, "10:00:00"), 3 }, { corm_eq(Kitchen_tm, "10:00:00"), 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t n = fx_matches(fresh, Kitchen_model, cases[i].e);
        if (n != cases[i].want)
            fail_msg("case %zu matched %lld rows, not %lld: %s", i, (long long)n,
                     (long long)cases[i].want, fx_last(&fx, "SELECT"));
    }
    /* written by the database: read back, then found by what was read */
    Kitchen *k = corm_new(s, Kitchen);
    OK(corm_add(s, k));
    OK(corm_commit(s));
    corm_result *r;
    OK(corm_execute(s, "UPDATE kitchen SET dt = CURRENT_TIMESTAMP, tm = '07:30:00' WHERE id = ?",
                    CORM_ARGS(k->id), &r));
    assert_int_equal(corm_result_changes(r), 1);
    OK(corm_commit(s));
    corm_session *reader = corm_session_new(fx.db);
    Kitchen *back;
    OK(corm_get(reader, Kitchen, k->id, &back));
    assert_int_equal(back->tm.hour, 7);
    assert_true(back->dt.date.year >= 2024);
    corm_query *q = corm_query_new(reader, Kitchen);
    OK(corm_filter(q, corm_eq(Kitchen_dt, back->dt)));
    OK(corm_filter(q, corm_eq(Kitchen_tm, back->tm)));
    int64_t n;
    OK(corm_count(q, &n));
    if (n != 1)
        fail_msg("CURRENT_TIMESTAMP read back and compared matched %lld rows: %s", (long long)n,
                 fx_last(&fx, "SELECT"));
    corm_session_free(reader);
    corm_session_free(fresh);
    corm_session_free(s);
}

/* UUIDs: as keys made by the client, as foreign keys, in filters and
 * relationships, and their text. */
#define CORM_DEFINE_MODELS
#define DEVICE_FIELDS(COLUMN, RELATION)                                              \
    COLUMN(id,    CORM_UUID,       CORM_PRIMARY_KEY, CORM_DEFAULT_FN(corm_default_uuid4)) \
    COLUMN(name,  CORM_STRING(20), CORM_NOT_NULL)                                     \
    COLUMN(twin,  CORM_UUID,       0)                                                 \
    RELATION(readings, CORM_ONE_TO_MANY(Reading, device))
CORM_MODEL(Device, "device", DEVICE_FIELDS)
#define READING_FIELDS(COLUMN, RELATION)                                             \
    COLUMN(id,        CORM_INTEGER, CORM_PRIMARY_KEY)                                 \
    COLUMN(device_id, CORM_UUID,    CORM_NOT_NULL | CORM_INDEX, CORM_FK(Device, id))  \
    COLUMN(value,     CORM_FLOAT,   CORM_NOT_NULL)                                    \
    RELATION(device, CORM_MANY_TO_ONE(Device, device_id, readings))
CORM_MODEL(Reading, "reading", READING_FIELDS)

static void uuids_as_keys_and_values(void **state)
{
    (void)state;
    /* the text form */
    corm_uuid u, w;
    char buf[CORM_UUID_BUFSIZE];
    OK(corm_uuid_parse("F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6", &u));
    assert_string_equal(corm_uuid_format(u, buf), "f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
    OK(corm_uuid_parse("f81d4fae7dec11d0a76500a0c91e6bf6", &w));
    assert_memory_equal(&u, &w, sizeof u);
    const char *bad[] = { "", "f81d4fae-7dec-11d0-a765-00a0c91e6bf", "g81d4fae-7dec-11d0-a765-00a0c91e6bf6",
                          "f81d4fae+7dec-11d0-a765-00a0c91e6bf6", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6x" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(corm_uuid_parse(bad[i], &w), CORM_EINVAL);
    corm_uuid r1 = corm_uuid4(), r2 = corm_uuid4();
    assert_true(memcmp(&r1, &r2, sizeof r1) != 0);
    assert_int_equal(r1.b[6] >> 4, 4);        /* version 4 */
    assert_int_equal(r1.b[8] & 0xc0, 0x80);   /* the RFC's variant */

    static const corm_model *const models[] = { Device_model, Reading_model, NULL };
    corm_engine *e;
    OK(corm_engine_open(&e, fx.url, models));
    OK(corm_drop_all(e));
    OK(corm_create_all(e));
    corm_session *s = corm_session_new(e);
    Device *d = corm_new(s, Device), *other = corm_new(s, Device);
    assert_int_equal(d->id.b[6] >> 4, 4); /* a key made as the object was */
    d->name = "thermo";
    d->twin = u;
    other->name = "hygro";
    corm_set_null(other, Device_twin, true);
    OK(corm_add(s, d));
    OK(corm_add(s, other));
    for (int i = 0; i < 3; i++) {
        Reading *r = corm_new(s, Reading);
        r->device = d;
        r->value = 20.5 + i;
        OK(corm_add(s, r));
    }
    OK(corm_commit(s));
    corm_uuid key = d->id;
    char text[CORM_UUID_BUFSIZE];
    corm_uuid_format(key, text);
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM reading"), 3);

    /* read back in another session: by key, by text, by filter, through relationships */
    corm_session *t = corm_session_new(e);
    Device *got, *again;
    OK(corm_get(t, Device, key, &got));
    assert_non_null(got);
    assert_memory_equal(&got->id, &key, sizeof key);
    assert_memory_equal(&got->twin, &u, sizeof u);
    OK(corm_get(t, Device, text, &again)); /* the text names the same row: the same object */
    assert_ptr_equal(again, got);
    corm_query *q = corm_query_new(t, Device);
    OK(corm_filter(q, corm_eq(Device_twin, u)));
    Device *one;
    OK(corm_one(q, &one));
    assert_ptr_equal(one, got);
    q = corm_query_new(t, Device);
    OK(corm_filter(q, corm_is_null(Device_twin)));
    OK(corm_one(q, &one));
    assert_string_equal(one->name, "hygro");
    assert_true(corm_field_is_null(one, Device_twin));
    Reading **rs = corm_related(t, got, Device_readings);
    assert_int_equal(got->readings.n, 3);
    assert_ptr_equal(corm_related(t, rs[0], Reading_device), got);
    q = corm_query_new(t, Reading);
    OK(corm_selectin(q, Reading_device));
    Reading **all;
    size_t n;
    OK(corm_all(q, &all, &n));
    assert_int_equal(n, 3);
    assert_ptr_equal(all[2]->device, got);
    /* a change and a delete by key */
    got->twin = corm_uuid4();
    OK(corm_commit(t));
    char tb[CORM_UUID_BUFSIZE];
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM device WHERE twin = '%s'", corm_uuid_format(got->twin, tb));
    assert_int_equal(db_int(fx.url, sql), 1);
    /* a bad value is refused with the column named */
    q = corm_query_new(t, Device);
    OK(corm_filter(q, corm_eq(Device_twin, "not-a-uuid")));
    int64_t count;
    assert_int_equal(corm_count(q, &count), CORM_ETYPE);
    assert_non_null(strstr(corm_errmsg(t), "Device.twin"));
    assert_non_null(strstr(corm_errmsg(t), "not a UUID"));
    corm_session_free(t);
    corm_session_free(s);
    OK(corm_drop_all(e));
    corm_engine_close(e);
}

/* Values whose length takes one, three and four bytes on MariaDB's wire
 * (under 251 bytes, under 65,536, more), which its driver reads in place
 * from the row: each comes back whole, byte for byte. */
static void long_values_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = { 250, 251, 300, 65535, 65536, 70000 };
    for (size_t n = 0; n < sizeof sizes / sizeof *sizes; n++) {
        size_t len = sizes[n];
        char *text = malloc(len + 1);
        unsigned char *bytes = malloc(len);
        assert_non_null(text);
        assert_non_null(bytes);
        for (size_t i = 0; i < len; i++) {
            text[i] = (char)('a' + i % 26);
            bytes[i] = (unsigned char)(i * 7); /* zeros among them */
        }
        text[len] = '\0';
        corm_session *s = corm_session_new(fx.db), *s2;
        Kitchen *k = corm_new(s, Kitchen);
        k->i = (int64_t)n;
        k->t = text;
        k->json = "[]";
        k->blob = (corm_blob){ bytes, len };
        Kitchen *b = round_trip(&s2, k, s);
        assert_int_equal(strlen(b->t), len);
        assert_memory_equal(b->t, text, len + 1);
        assert_int_equal(b->blob.len, len);
        assert_memory_equal(b->blob.data, bytes, len);
        assert_string_equal(b->json, "[]");
        assert_true(corm_field_is_null(b, Kitchen_d));
        corm_session_free(s2);
        corm_session_free(s);
        free(text);
        free(bytes);
    }
}

/* Raw SQL reads each of the database's column types as the kind it holds:
 * integers of every width (on MariaDB also unsigned, 3-byte and YEAR, and a
 * TIME past a day or before zero), 4-byte floats, decimals, dates, NULLs. */
static void every_column_type_reads_back(void **state)
{
    (void)state;
    bool mariadb = strcmp(fx_backend(&fx), "mariadb") == 0;
    corm_session *s = corm_session_new(fx.db);
    corm_result *r;
    OK(corm_execute(s, "DROP TABLE IF EXISTS widths", NULL, 0, NULL));
    OK(corm_execute(s,
                    mariadb ? "CREATE TABLE widths (a SMALLINT, b INTEGER, c BIGINT, d FLOAT, "
                              "e DECIMAL(10,2), f DATE, g TIME, h VARCHAR(10), u TINYINT, "
                              "v TINYINT UNSIGNED, w MEDIUMINT, x INT UNSIGNED, y BIGINT UNSIGNED, "
                              "z YEAR, tt TIME(6))"
                            : "CREATE TABLE widths (a SMALLINT, b INTEGER, c BIGINT, d REAL, "
                              "e DECIMAL(10,2), f DATE, g TIME, h VARCHAR(10))",
                    NULL, 0, NULL));
    OK(corm_execute(s, "INSERT INTO widths (a, b, c, d, e, f, g, h) VALUES (-32768, -2147483648, "
                    "-9223372036854775807, -1.5, -12345678.91, '2024-02-29', '23:59:58', 'x'), "
                    "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)", NULL, 0, NULL));
    OK(corm_execute(s, "SELECT a, b, c, d, e, f, g, h FROM widths ORDER BY a IS NULL", NULL, 0, &r));
    assert_int_equal(corm_result_nrows(r), 2);
    assert_int_equal(corm_result_int(r, 0, 0), -32768);
    assert_int_equal(corm_result_int(r, 0, 1), INT32_MIN);
    assert_true(corm_result_int(r, 0, 2) == -INT64_MAX);
    assert_true(corm_result_float(r, 0, 3) == -1.5);
    const corm_value *dec = corm_result_value(r, 0, 4); /* a number, or its text on servers */
    if (dec->kind == CORM_V_TEXT)
        assert_string_equal(dec->u.text.p, "-12345678.91");
    else
        assert_true(corm_result_float(r, 0, 4) == -12345678.91);
    assert_string_equal(corm_result_text(r, 0, 5), "2024-02-29");
    assert_non_null(strstr(corm_result_text(r, 0, 6), "23:59:58"));
    assert_string_equal(corm_result_text(r, 0, 7), "x");
    for (size_t c = 0; c < 8; c++)
        assert_int_equal(corm_result_value(r, 1, c)->kind, CORM_V_NULL);
    if (mariadb) {
        OK(corm_execute(s, "UPDATE widths SET u = -128, v = 255, w = -8388608, x = 4294967295, "
                        "y = 18446744073709551615, z = 2155, tt = '-838:59:58.000001' "
                        "WHERE a IS NOT NULL", NULL, 0, NULL));
        OK(corm_execute(s, "UPDATE widths SET tt = '100:00:01' WHERE a IS NULL", NULL, 0, NULL));
        OK(corm_execute(s, "SELECT u, v, w, x, y, z, tt FROM widths ORDER BY a IS NULL", NULL, 0, &r));
        assert_int_equal(corm_result_int(r, 0, 0), -128);
        assert_int_equal(corm_result_int(r, 0, 1), 255);
        assert_int_equal(corm_result_int(r, 0, 2), -8388608);
        assert_int_equal(corm_result_int(r, 0, 3), 4294967295);
        assert_true((uint64_t)corm_result_int(r, 0, 4) == UINT64_MAX); /* as the bits it has */
        assert_int_equal(corm_result_int(r, 0, 5), 2155);
        assert_string_equal(corm_result_text(r, 0, 6), "-838:59:58.000001");
        assert_string_equal(corm_result_text(r, 1, 6), "100:00:01.000000");
    }
    OK(corm_commit(s)); /* (MariaDB refuses DDL that would commit the writes: test_query.c) */
    OK(corm_execute(s, "DROP TABLE widths", NULL, 0, NULL));
    corm_session_free(s);
}

#define STAMP_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,   CORM_INTEGER,    CORM_PRIMARY_KEY)                              \
    COLUMN(n,    CORM_BIGINT,     CORM_NOT_NULL)                                 \
    COLUMN(name, CORM_STRING(20), CORM_NOT_NULL)                                 \
    COLUMN(at,   CORM_DATETIME,   CORM_NOT_NULL)
CORM_MODEL(Stamp, "stamp", STAMP_FIELDS)

/* NOT NULL columns are read the short way (a model's load plan): their
 * values come back exactly, and a value that is not of the column's type
 * is refused with the column named, the session still usable. */
static void not_null_columns_load_and_refuse_bad_values(void **state)
{
    (void)state;
    static const corm_model *const models[] = { Stamp_model, NULL };
    corm_engine *e;
    OK(corm_engine_open(&e, fx.url, models));
    OK(corm_drop_all(e));
    OK(corm_create_all(e));
    corm_session *s = corm_session_new(e);
    Stamp *a = corm_new(s, Stamp);
    a->n = INT64_MIN;
    a->name = "first";
    a->at = (corm_datetime){ { 2024, 2, 29 }, { 23, 59, 59, 123456 } };
    OK(corm_add(s, a));
    OK(corm_commit(s));
    corm_session *t = corm_session_new(e);
    Stamp *b;
    OK(corm_get(t, Stamp, a->id, &b));
    assert_non_null(b);
    assert_true(b->n == INT64_MIN);
    assert_string_equal(b->name, "first");
    char x[CORM_DATETIME_BUFSIZE], y[CORM_DATETIME_BUFSIZE];
    assert_string_equal(corm_datetime_format(b->at, x), corm_datetime_format(a->at, y));
    corm_session_free(t);
    t = corm_session_new(e);
    Stamp **v;
    size_t n;
    assert_int_equal(corm_execute_objects(t, Stamp, "SELECT id, n, name, 'yesterday' AS at FROM stamp",
                                          NULL, 0, &v, &n),
                     CORM_EDATE);
    assert_non_null(strstr(corm_errmsg(t), "Stamp.at"));
    assert_non_null(strstr(corm_errmsg(t), "malformed datetime: 'yesterday'"));
    OK(corm_execute_objects(t, Stamp, "SELECT id, n, name, at FROM stamp", NULL, 0, &v, &n));
    assert_int_equal(n, 1);
    assert_true(v[0]->n == INT64_MIN);
    assert_int_equal(v[0]->at.time.usec, 123456);
    if (strcmp(fx_backend(&fx), "sqlite") == 0) {
        /* a selected column read as its column's type (only SQLite's
         * columns can hold text that is not of their type) */
        corm_session *z = corm_session_new(e);
        OK(corm_execute(z, "UPDATE stamp SET at = 'soon'", NULL, 0, NULL));
        corm_query *q = corm_query_new(z, Stamp);
        OK(corm_select(q, Stamp_at));
        corm_result *r;
        assert_int_equal(corm_rows(q, &r), CORM_EDATE);
        assert_non_null(strstr(corm_errmsg(z), "Stamp.at: the database holds a malformed date or time: 'soon'"));
        corm_query_free(q);
        corm_session_free(z); /* (rolled back: the row keeps its time) */
    }
    if (strcmp(fx_backend(&fx), "mariadb") == 0) {
        /* A legacy table's zero date (MariaDB's default sql_mode lets them
         * in; corm's sessions do not), read as the DATETIME it is: refused,
         * with its value named. */
        corm_session *z = corm_session_new(e);
        OK(corm_execute(z, "SET @was = @@session.sql_mode", NULL, 0, NULL));
        OK(corm_execute(z, "SET SESSION sql_mode = ''", NULL, 0, NULL));
        OK(corm_execute(z, "UPDATE stamp SET at = '0000-00-00 00:00:00'", NULL, 0, NULL));
        OK(corm_execute(z, "SET SESSION sql_mode = @was", NULL, 0, NULL));
        OK(corm_commit(z));
        corm_session_free(z);
        z = corm_session_new(e);
        Stamp *zero;
        assert_int_equal(corm_get(z, Stamp, a->id, &zero), CORM_EDATE);
        assert_non_null(strstr(corm_errmsg(z), "Stamp.at"));
        assert_non_null(strstr(corm_errmsg(z), "invalid date or time: '0000-00-00 00:00:00'"));
        assert_int_equal(corm_execute_objects(z, Stamp, "SELECT id, n, name, at FROM stamp", NULL, 0, &v, &n),
                         CORM_EDATE);
        assert_non_null(strstr(corm_errmsg(z), "0000-00-00"));
        corm_session_free(z);
    }
    corm_session_free(t);
    corm_session_free(s);
    OK(corm_drop_all(e));
    corm_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_type_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(the_snapshot_keeps_every_value_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(nulls_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_values_are_not_null, setup, teardown),
        cmocka_unit_test_setup_teardown(dates_at_the_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(filters_compare_typed_values, setup, teardown),
        cmocka_unit_test_setup_teardown(decimals_compare_and_sort_by_value, setup, teardown),
        cmocka_unit_test_setup_teardown(datetimes_order_and_compare_as_times, setup, teardown),
        cmocka_unit_test_setup_teardown(uuids_as_keys_and_values, setup, teardown),
        cmocka_unit_test_setup_teardown(long_values_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(every_column_type_reads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(not_null_columns_load_and_refuse_bad_values, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
