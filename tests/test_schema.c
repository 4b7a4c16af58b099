/*
 * test_schema.c — reflection of a live SQLite database and its comparison
 * with the models (corm_check_schema): no difference right after
 * create_all, and each kind of difference named precisely.
 */
#include "common.h"

#include <string.h>

#define CORM_DEFINE_MODELS /* the models below are defined here */

#define OWNER_FIELDS(COLUMN, RELATION) COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY)
CORM_MODEL(Owner, "owner", OWNER_FIELDS)

#define ITEM_FIELDS(COLUMN, RELATION)                                           \
    COLUMN(id,       CORM_INTEGER,    CORM_PRIMARY_KEY)                          \
    COLUMN(name,     CORM_STRING(20), CORM_NOT_NULL | CORM_UNIQUE)               \
    COLUMN(qty,      CORM_INTEGER,    CORM_INDEX)                                \
    COLUMN(price,    CORM_FLOAT,      0, CORM_CHECK("price >= 0"))               \
    COLUMN(owner_id, CORM_INTEGER,    0, CORM_FK(Owner, id))
CORM_MODEL(Item, "item", ITEM_FIELDS)

#define GADGET_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,       CORM_INTEGER, CORM_PRIMARY_KEY)                             \
    COLUMN(owner_id, CORM_INTEGER, 0, CORM_FK(Owner, id))
CORM_MODEL(Gadget, "gadget", GADGET_FIELDS)

static const corm_model *const models[] = { Owner_model, Item_model, Gadget_model, NULL };

static void no_difference_after_create_all(void **state)
{
    (void)state;
    fixture fx;
    fx_open(&fx, ""); /* every type, defaults, checks, uniques, indexes, keys */
    assert_schema_matches(fx.db);
    fx_close(&fx);
}

/* Tables written by hand in SQLite's dialect (its type names are what the
 * sentences quote), so on SQLite whatever CORM_TEST_URL says; the same
 * differences on PostgreSQL come with its migrations (issue 8). */
static void every_kind_of_difference_is_named(void **state)
{
    (void)state;
    corm_engine *e;
    OK(corm_engine_open(&e, "sqlite://", models));
    corm_session *s = corm_session_new(e);
    OK(corm_execute(s, "CREATE TABLE owner (id INTEGER PRIMARY KEY)", NULL, 0, NULL));
    OK(corm_execute(s, "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, qty VARCHAR(5) NOT "
                       "NULL, extra INT, owner_id INTEGER REFERENCES owner (id) ON DELETE CASCADE, "
                       "price FLOAT DEFAULT (1.5))", NULL, 0, NULL));
    OK(corm_execute(s, "CREATE UNIQUE INDEX ux ON item (qty)", NULL, 0, NULL));
    OK(corm_execute(s, "CREATE TABLE junk (x INT)", NULL, 0, NULL));
    OK(corm_commit(s));
    corm_session_free(s);
    corm_schema_diff *d;
    int n = corm_check_schema(e, &d);
    const char *want[] = {
        "item.name: type VARCHAR(20) in the model, TEXT in the database",
        "item.name: NOT NULL in the model, nullable in the database",
        "item.qty: type INTEGER in the model, VARCHAR(5) in the database",
        "item.qty: nullable in the model, NOT NULL in the database",
        "item.price: default none in the model, 1.5 in the database",
        "item.extra: in the database, not in the model",
        "item (name): unique in the model, not in the database",
        "item (qty): index in the model, not in the database",
        "item (qty): unique in the database, not in the model",
        "item (owner_id) -> owner: ON DELETE NO ACTION in the model, CASCADE in the database",
        "table gadget: in the model, not in the database",
        "table junk: in the database, not in the model",
        "item: check (price>=0) in the model, not in the database",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        bool found = false;
        for (size_t k = 0; k < corm_schema_diff_count(d) && !found; k++)
            found = strcmp(corm_schema_diff_line(d, k), want[i]) == 0;
        if (!found) {
            for (size_t k = 0; k < corm_schema_diff_count(d); k++)
                print_message("got: %s\n", corm_schema_diff_line(d, k));
            fail_msg("missing: %s", want[i]);
        }
    }
    assert_int_equal(n, (int)(sizeof want / sizeof *want));
    assert_null(corm_schema_diff_line(d, (size_t)n));
    corm_schema_diff_free(d);
    /* a key column missing on the database side */
    s = corm_session_new(e);
    OK(corm_execute(s, "ALTER TABLE item DROP COLUMN extra", NULL, 0, NULL));
    OK(corm_execute(s, "DROP INDEX ux", NULL, 0, NULL));
    /* gadget lacks the model's key; junk's key to owner is not the model's */
    OK(corm_execute(s, "CREATE TABLE gadget (id INTEGER PRIMARY KEY, owner_id INTEGER)", NULL, 0, NULL));
    OK(corm_execute(s, "DROP TABLE junk", NULL, 0, NULL));
    OK(corm_execute(s, "CREATE TABLE owner2 (id INTEGER PRIMARY KEY)", NULL, 0, NULL));
    OK(corm_execute(s, "CREATE INDEX ix_extra ON item (price)", NULL, 0, NULL));
    OK(corm_commit(s));
    corm_session_free(s);
    n = corm_check_schema(e, &d);
    const char *more[] = {
        "gadget (owner_id) -> owner (id): foreign key in the model, not in the database",
        "table owner2: in the database, not in the model",
        "item (price): index in the database, not in the model",
    };
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
        bool found = false;
        for (size_t k = 0; k < corm_schema_diff_count(d) && !found; k++)
            found = strcmp(corm_schema_diff_line(d, k), more[i]) == 0;
        if (!found)
            fail_msg("missing: %s", more[i]);
    }
    assert_int_equal(n, 9 + 3); /* the column-level ones remain */
    corm_schema_diff_free(d);
    s = corm_session_new(e);
    OK(corm_execute(s, "DROP TABLE owner2", NULL, 0, NULL));
    OK(corm_execute(s, "DROP TABLE gadget", NULL, 0, NULL));
    OK(corm_execute(s, "CREATE TABLE gadget (id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES "
                       "owner (id), x INTEGER REFERENCES item (id))", NULL, 0, NULL));
    OK(corm_commit(s));
    corm_session_free(s);
    n = corm_check_schema(e, &d);
    bool extra_key = false;
    for (size_t k = 0; k < corm_schema_diff_count(d); k++)
        extra_key |= strcmp(corm_schema_diff_line(d, k),
                            "gadget (x) -> item: foreign key in the database, not in the model") == 0;
    assert_true(extra_key);
    corm_schema_diff_free(d);
    corm_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_difference_after_create_all),
        cmocka_unit_test(every_kind_of_difference_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
