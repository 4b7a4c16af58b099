/*
 * fuzz_schema.c — reflection and `db check` over hostile schemas: the
 * input is SQL run on an empty SQLite file (odd names, types, defaults,
 * quoting, constraints, indexes, views, triggers: whatever SQLite
 * accepts), then corm reflects the file, compares it with its models
 * (corm_check_schema) and writes the revision that would bring it to
 * them (autogenerate). Properties: each returns a result or an error code
 * with a sentence; a difference list is as long as it says.
 */
#include "fuzz.h"
#include <corm/corm.h>
#include <sqlite3.h>
#include <unistd.h>

#define CORM_DEFINE_MODELS

#define USER_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,    CORM_INTEGER,     CORM_PRIMARY_KEY)                           \
    COLUMN(name,  CORM_STRING(40),  CORM_NOT_NULL | CORM_UNIQUE)                \
    COLUMN(age,   CORM_INTEGER,     0, CORM_DEFAULT("18"))                      \
    COLUMN(born,  CORM_DATE,        0)
CORM_MODEL(User, "user", USER_FIELDS)

#define POST_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,      CORM_INTEGER, CORM_PRIMARY_KEY)                             \
    COLUMN(body,    CORM_TEXT,    0)                                            \
    COLUMN(user_id, CORM_INTEGER, CORM_INDEX, CORM_FK(User, id))
CORM_MODEL(Post, "post", POST_FIELDS)

static const corm_model *const models[] = { User_model, Post_model, NULL };
static char dir[64], path[128], url[160], migrations[128];

/* The run's directory goes when the fuzzer exits. */
static void remove_dir(void)
{
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_schema: could not remove %s\n", dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!*dir) {
        snprintf(dir, sizeof dir, "/tmp/corm-fuzz-schema-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        atexit(remove_dir);
        snprintf(path, sizeof path, "%s/f.db", dir);
        snprintf(url, sizeof url, "sqlite:///%s", path);
        snprintf(migrations, sizeof migrations, "%s/m", dir);
    }
    char *sql = fuzz_string(data, size);
    unlink(path);
    sqlite3 *h;
    if (sqlite3_open(path, &h) != SQLITE_OK)
        abort();
    sqlite3_exec(h, sql, NULL, NULL, NULL); /* what SQLite refuses is simply not there */
    sqlite3_close(h);
    free(sql);
    corm_engine *e;
    int rc = corm_engine_open(&e, url, models);
    if (rc == CORM_OK) {
        corm_schema_diff *d = NULL;
        int n = corm_check_schema(e, &d);
        if (n >= 0) {
            FUZZ_CHECK((size_t)n == corm_schema_diff_count(d));
            for (int i = 0; i < n; i++)
                FUZZ_CHECK(corm_schema_diff_line(d, (size_t)i) != NULL);
        } else {
            FUZZ_CHECK(*corm_engine_errmsg(e));
        }
        corm_schema_diff_free(d);
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", migrations);
        if (system(cmd) != 0)
            abort();
        if (corm_migrate_init(e, migrations) == CORM_OK) {
            char id[64];
            rc = corm_migrate_autogenerate(e, migrations, "fuzz", NULL, id, sizeof id);
            FUZZ_CHECK(rc >= 0 || *corm_engine_errmsg(e));
        }
    } else {
        FUZZ_CHECK(*corm_engine_errmsg(e));
    }
    corm_engine_close(e);
    return 0;
}
