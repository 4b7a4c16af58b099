/*
 * test_util.c — the utility layer: decimals, dates, JSON, UTF-8, URLs,
 * buffers, arenas, the error table.
 */
#include "common.h"
#include "driver/driver.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/numeric.h"
#include "util/text.h"

#include <string.h>

static void numeric_round_trips(void **state)
{
    (void)state;
    const char *cases[] = { "0", "-1", "123.4500", "12345678901234567890.1234567890",
                            "-99999999999999999999999999999999999999", "0.0000000001" };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        corm_numeric n;
        char buf[CORM_NUMERIC_BUFSIZE];
        OK(corm_numeric_parse(cases[i], &n));
        assert_string_equal(corm_numeric_format(&n, buf), cases[i]);
    }
}

static void numeric_rejects_and_fits(void **state)
{
    (void)state;
    corm_numeric n;
    char buf[CORM_NUMERIC_BUFSIZE];
    assert_int_equal(corm_numeric_parse("1.2.3", &n), CORM_EINVAL);
    assert_int_equal(corm_numeric_parse("", &n), CORM_EINVAL);
    assert_int_equal(corm_numeric_parse("abc", &n), CORM_EINVAL);
    assert_int_equal(corm_numeric_parse("123456789012345678901234567890123456789", &n), CORM_ERANGE);
    OK(corm_numeric_parse("1.005", &n));
    OK(util_numeric_fit(&n, 10, 2));
    assert_string_equal(corm_numeric_format(&n, buf), "1.01");
    OK(corm_numeric_parse("-2.5", &n));
    OK(util_numeric_fit(&n, 10, 0));
    assert_string_equal(corm_numeric_format(&n, buf), "-3");
    OK(corm_numeric_parse("12345.6", &n));
    assert_int_equal(util_numeric_fit(&n, 5, 2), CORM_ERANGE);
    corm_numeric a, b;
    OK(corm_numeric_parse("1.50", &a));
    OK(corm_numeric_parse("1.5", &b));
    assert_int_equal(corm_numeric_cmp(&a, &b), 0);
    OK(corm_numeric_parse("-1.5", &b));
    assert_int_equal(corm_numeric_cmp(&a, &b), 1);
}

static void dates_validate(void **state)
{
    (void)state;
    corm_date d;
    corm_time t;
    corm_datetime dt;
    char buf[CORM_DATETIME_BUFSIZE];
    OK(corm_date_parse("2024-02-29", &d));
    assert_int_equal(corm_date_parse("2023-02-29", &d), CORM_EDATE);
    assert_int_equal(corm_date_parse("1900-02-29", &d), CORM_EDATE);
    OK(corm_date_parse("2000-02-29", &d));
    OK(corm_date_parse("0001-01-01", &d));
    OK(corm_date_parse("9999-12-31", &d));
    assert_string_equal(corm_date_format(d, buf), "9999-12-31");
    assert_int_equal(corm_date_parse("0000-01-01", &d), CORM_EDATE);
    assert_int_equal(corm_date_parse("2024-13-01", &d), CORM_EDATE);
    assert_int_equal(corm_date_parse("2024-1-01", &d), CORM_EDATE);
    assert_int_equal(corm_date_parse("2024-01-01x", &d), CORM_EDATE);
    OK(corm_time_parse("23:59:59.999999", &t));
    assert_int_equal(t.usec, 999999);
    assert_string_equal(corm_time_format(t, buf), "23:59:59.999999");
    OK(corm_time_parse("12:00:00.5", &t));
    assert_int_equal(t.usec, 500000);
    assert_int_equal(corm_time_parse("24:00:00", &t), CORM_EDATE);
    assert_int_equal(corm_time_parse("12:60:00", &t), CORM_EDATE);
    OK(corm_datetime_parse("2024-01-01T10:20:30Z", &dt));
    assert_int_equal(dt.time.second, 30);
    assert_string_equal(corm_datetime_format(dt, buf), "2024-01-01 10:20:30");
    /* the canonical 26-character form has its own fast path: same rules */
    OK(corm_datetime_parse("2024-02-29 23:59:59.999999", &dt));
    assert_int_equal(dt.time.usec, 999999);
    assert_int_equal(dt.date.day, 29);
    assert_int_equal(corm_datetime_parse("2023-02-29 00:00:00.000000", &dt), CORM_EDATE);
    assert_int_equal(corm_datetime_parse("2024-01-01 24:00:00.000000", &dt), CORM_EDATE);
    assert_int_equal(corm_datetime_parse("2024-01-01 00:00:00.00000x", &dt), CORM_EDATE);
    assert_int_equal(corm_datetime_parse("2024-01-01T00:00:00.000000", &dt), CORM_OK);
    OK(corm_datetime_parse("2024-01-01", &dt));
    assert_int_equal(dt.time.hour, 0);
    /* the fraction only when there are microseconds, as corm stores times */
    dt.time.usec = 1;
    assert_string_equal(corm_datetime_format(dt, buf), "2024-01-01 00:00:00.000001");
    assert_string_equal(corm_time_format((corm_time){ 7, 5, 0, 0 }, buf), "07:05:00");
    /* an invalid one with its numbers as they are, within the buffer */
    assert_string_equal(corm_time_format((corm_time){ 25, 61, 0, 0 }, buf), "25:61:00");
    assert_string_equal(corm_date_format((corm_date){ 2024, 13, 1 }, buf), "2024-13-01");
    dt = (corm_datetime){ { -99999, 255, 255 }, { 255, 255, 255, 4294967295u } };
    assert_true(strlen(corm_datetime_format(dt, buf)) < CORM_DATETIME_BUFSIZE);
}

/* The fast path for "YYYY-MM-DD HH:MM:SS[.ffffff]" reads eight bytes at a
 * time; the general parser reads the same text with 'T' for ' ' (which
 * the fast path leaves to it). Both must agree on every string: valid
 * ones, and ones with a digit, a separator or a field out of range. */
static void datetime_fast_path_agrees(void **state)
{
    (void)state;
    static const char alphabet[] = "0123456789-: .T/x";
    uint64_t r = 0x2545F4914F6CDD1Dull;
    size_t valid = 0, invalid = 0;
    for (int n = 0; n < 200000; n++) {
        char a[32], b[32];
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        size_t len = r & 1 ? 26 : 19;
        int y = (int)(r >> 8 & 8191) % 10000, mo = (int)(r >> 21 & 15), d = (int)(r >> 25 & 31),
            h = (int)(r >> 30 & 31), mi = (int)(r >> 35 & 63), se = (int)(r >> 41 & 63),
            us = (int)(r >> 47 & 0xfffff) % 1000000;
        snprintf(a, sizeof a, "%04d-%02d-%02d %02d:%02d:%02d.%06d", y, mo, d, h, mi, se, us);
        if (r >> 60 & 1) { /* a byte replaced: digits, separators and others */
            size_t at = (size_t)(r >> 50 & 31) % len;
            a[at] = alphabet[(r >> 40 & 0xff) % (sizeof alphabet - 1)];
        }
        a[len] = '\0';
        if (a[10] != ' ')
            continue; /* the fast path only reads the space form */
        memcpy(b, a, sizeof a);
        b[10] = 'T';
        corm_datetime x = { { 0, 0, 0 }, { 0, 0, 0, 0 } }, z = x;
        int rx = corm_datetime_parse(a, &x), rz = corm_datetime_parse(b, &z);
        if (rx != rz || x.date.year != z.date.year || x.date.month != z.date.month ||
            x.date.day != z.date.day || x.time.hour != z.time.hour ||
            x.time.minute != z.time.minute || x.time.second != z.time.second ||
            x.time.usec != z.time.usec)
            fail_msg("\"%s\": %d, but \"%s\": %d", a, rx, b, rz);
        valid += rx == CORM_OK;
        invalid += rx != CORM_OK;
    }
    assert_true(valid > 1000 && invalid > 1000); /* both kinds were met */
}

static void json_validates(void **state)
{
    (void)state;
    const char *good[] = { "{}", "[]", "null", " {\"a\": [1, 2.5e3, -0, true, false, null, \"x\\u00e9\"]} ",
                           "\"\\n\"", "0" };
    const char *bad[] = { "", "{", "{a:1}", "[1,]", "01", "\"\\x\"", "tru", "[1] [2]", "{\"a\" 1}" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(util_json_valid(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(util_json_valid(bad[i], strlen(bad[i])));
    char deep[600];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    assert_false(util_json_valid(deep, 600)); /* depth limit, not a stack overflow */
}

static void utf8_counts_characters(void **state)
{
    (void)state;
    const char *s = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"; /* héllo € 😀 */
    assert_int_equal(util_utf8_len(s, strlen(s)), 9);
}

static void urls_parse(void **state)
{
    (void)state;
    drv_url u;
    util_err err;
    OK(drv_url_parse("sqlite:///relative.db", &u, &err));
    assert_string_equal(u.scheme, "sqlite");
    assert_string_equal(u.database, "relative.db");
    drv_url_free(&u);
    OK(drv_url_parse("sqlite:////abs/path.db?journal_mode=wal&busy_timeout=5000", &u, &err));
    assert_string_equal(u.database, "/abs/path.db");
    assert_string_equal(drv_url_param(&u, "journal_mode"), "wal");
    assert_string_equal(drv_url_param(&u, "busy_timeout"), "5000");
    drv_url_free(&u);
    OK(drv_url_parse("postgresql://bob:s%40cret@db.local:5432/app", &u, &err));
    assert_string_equal(u.user, "bob");
    assert_string_equal(u.password, "s@cret");
    assert_string_equal(u.host, "db.local");
    assert_string_equal(u.port, "5432");
    assert_string_equal(u.database, "app");
    assert_null(strstr(u.redacted, "cret"));
    assert_non_null(strstr(u.redacted, "***"));
    drv_url_free(&u);
    OK(drv_url_parse("sqlite://", &u, &err));
    assert_string_equal(u.database, "");
    drv_url_free(&u);
    const char *bad[] = { "users.db", "://x", "sqlite:/x.db", "Sqlite:///x", "sqlite:///x?novalue",
                          "sqlite:///x?=v", "pg://h:port/x", "sqlite:///x%zz" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(drv_url_parse(bad[i], &u, &err), CORM_EURL);
        assert_non_null(strstr(err.msg, "malformed database URL"));
    }
}

static void buffers_and_arenas(void **state)
{
    (void)state;
    util_buf b = UTIL_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        util_buf_printf(&b, "%d,", i);
    assert_int_equal(b.err, 0);
    assert_int_equal(strncmp(util_buf_str(&b), "0,1,2,", 6), 0);
    util_buf_free(&b);
    util_arena a;
    util_arena_init(&a, 64, NULL);
    for (int i = 0; i < 1000; i++) {
        int *p = util_arena_alloc(&a, sizeof(int) * 10);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 8, 0);
        p[9] = i;
    }
    assert_string_equal(util_arena_strndup(&a, "hello world", 5), "hello");
    util_arena_free(&a);
    /* a pool hands freed chunks to the next arena */
    util_arena_pool pool;
    util_arena_pool_init(&pool, 1 << 20);
    util_arena_init(&a, 1024, &pool);
    void *first = util_arena_alloc(&a, 100);
    util_arena_free(&a);
    assert_true(pool.bytes >= 1024);
    util_arena_init(&a, 1024, &pool);
    assert_ptr_equal(util_arena_alloc(&a, 100), first);
    util_arena_free(&a);
    util_arena_pool_free(&pool);
}

static void allocation_failure_is_reported(void **state)
{
    (void)state;
    util_buf b = UTIL_BUF_INIT;
    util_alloc_fail_after(0);
    util_buf_puts(&b, "x");
    util_alloc_fail_after(-1);
    assert_int_equal(b.err, CORM_ENOMEM);
    util_buf_free(&b);
}

static void error_table_is_complete(void **state)
{
    (void)state;
    int codes[] = {
#define XX(name, code, msg) code,
        CORM_ERRNO_MAP(XX)
#undef XX
    };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        assert_int_equal(codes[i], -(int)(i + 1)); /* dense and never renumbered */
        assert_string_not_equal(corm_strerror(codes[i]), "unknown error");
        assert_int_equal(strncmp(corm_err_name(codes[i]), "CORM_E", 6), 0);
    }
    assert_string_equal(corm_err_name(CORM_EUNIQUE), "CORM_EUNIQUE");
    assert_string_equal(corm_strerror(12345), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numeric_round_trips),
        cmocka_unit_test(numeric_rejects_and_fits),
        cmocka_unit_test(dates_validate),
        cmocka_unit_test(datetime_fast_path_agrees),
        cmocka_unit_test(json_validates),
        cmocka_unit_test(utf8_counts_characters),
        cmocka_unit_test(urls_parse),
        cmocka_unit_test(buffers_and_arenas),
        cmocka_unit_test(allocation_failure_is_reported),
        cmocka_unit_test(error_table_is_complete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
