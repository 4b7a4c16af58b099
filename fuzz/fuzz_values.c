/*
 * fuzz_values.c — the date, time, datetime, decimal and JSON readers.
 * Properties: what a reader accepts, its writer writes back as text the
 * reader accepts again as the same value (a round trip); JSON validity
 * never reads past the text.
 */
#include "fuzz.h"
#include "util/text.h"
#include <corm/corm.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_string(data, size);
    char buf[64];
    corm_date d, d2;
    corm_time t, t2;
    corm_datetime dt, dt2;
    memset(&d, 0, sizeof d), memset(&d2, 0, sizeof d2); /* padding compared too */
    memset(&t, 0, sizeof t), memset(&t2, 0, sizeof t2);
    memset(&dt, 0, sizeof dt), memset(&dt2, 0, sizeof dt2);
    if (corm_date_parse(s, &d) == CORM_OK) {
        FUZZ_CHECK(corm_date_is_valid(d));
        FUZZ_CHECK(corm_date_parse(corm_date_format(d, buf), &d2) == CORM_OK);
        FUZZ_CHECK(d.year == d2.year && d.month == d2.month && d.day == d2.day);
    }
    if (corm_time_parse(s, &t) == CORM_OK) {
        FUZZ_CHECK(corm_time_parse(corm_time_format(t, buf), &t2) == CORM_OK);
        FUZZ_CHECK(t.hour == t2.hour && t.minute == t2.minute && t.second == t2.second &&
                   t.usec == t2.usec);
    }
    if (corm_datetime_parse(s, &dt) == CORM_OK) {
        FUZZ_CHECK(corm_datetime_parse(corm_datetime_format(dt, buf), &dt2) == CORM_OK);
        FUZZ_CHECK(dt.date.year == dt2.date.year && dt.date.month == dt2.date.month &&
                   dt.date.day == dt2.date.day && dt.time.hour == dt2.time.hour &&
                   dt.time.minute == dt2.time.minute && dt.time.second == dt2.time.second &&
                   dt.time.usec == dt2.time.usec);
    }
    corm_numeric n, n2;
    char nb[CORM_NUMERIC_BUFSIZE];
    if (corm_numeric_parse(s, &n) == CORM_OK) {
        FUZZ_CHECK(corm_numeric_parse(corm_numeric_format(&n, nb), &n2) == CORM_OK);
        FUZZ_CHECK(corm_numeric_cmp(&n, &n2) == 0);
    }
    (void)util_json_valid((const char *)data, size); /* not NUL-terminated: no overread */
    free(s);
    return 0;
}
