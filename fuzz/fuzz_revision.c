/*
 * fuzz_revision.c — the migration file parser. Properties: a file it
 * accepts has an id and statements that each end with ';'; one it
 * refuses says why (CORM_ESQL with a file:line sentence).
 */
#include "fuzz.h"
#include "migrate/migrate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    mig_rev r;
    memset(&r, 0, sizeof r);
    r.path = strdup("fuzz.sql");
    util_err err = { 0 };
    int rc = mig_parse(&r, text, &err);
    if (rc == CORM_OK) {
        FUZZ_CHECK(r.id && *r.id);
        for (size_t i = 0; i < r.nup; i++)
            FUZZ_CHECK(strchr(r.up[i].sql, ';') && r.up[i].line > 0);
        for (size_t i = 0; i < r.ndown; i++)
            FUZZ_CHECK(strchr(r.down[i].sql, ';') && r.down[i].line > 0);
    } else {
        FUZZ_CHECK(rc == CORM_ESQL || rc == CORM_ENOMEM);
        FUZZ_CHECK(err.msg[0] != '\0');
    }
    free(r.path); /* mig_rev_free frees with corm's allocator what it made */
    r.path = NULL;
    mig_rev_free(&r);
    free(text);
    return 0;
}
