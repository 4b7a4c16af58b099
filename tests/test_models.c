/*
 * test_models.c — registration: every flaw a model declaration can have is
 * CORM_ESCHEMA at engine open, with the model and column named; and the
 * DDL create_all / drop_all produce.
 */
#include "common.h"

#include <string.h>

#define CORM_DEFINE_MODELS /* the models below are defined in this file */

/* Broken models, each with one flaw. */
#define NOPK_FIELDS(COLUMN, RELATION) COLUMN(name, CORM_TEXT, 0)
CORM_MODEL(NoPk, "nopk", NOPK_FIELDS)
#define TWOPK_FIELDS(COLUMN, RELATION) \
    COLUMN(a, CORM_INTEGER, CORM_PRIMARY_KEY) COLUMN(b, CORM_INTEGER, CORM_PRIMARY_KEY)
CORM_MODEL(TwoPk, "twopk", TWOPK_FIELDS)
/* a composite key is fine; a foreign key to one of its columns is not */
#define HALFREF_FIELDS(COLUMN, RELATION) \
    COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY) COLUMN(a, CORM_INTEGER, 0, CORM_FK(TwoPk, a))
CORM_MODEL(HalfRef, "halfref", HALFREF_FIELDS)
#define BADDEF_FIELDS(COLUMN, RELATION) \
    COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY) COLUMN(n, CORM_INTEGER, 0, CORM_DEFAULT("ten"))
CORM_MODEL(BadDefault, "baddefault", BADDEF_FIELDS)
#define BADNUM_FIELDS(COLUMN, RELATION) \
    COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY) COLUMN(n, CORM_NUMERIC(50, 2), 0)
CORM_MODEL(BadNumeric, "badnumeric", BADNUM_FIELDS)
#define BADCON_FIELDS(COLUMN, RELATION) COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY)
CORM_MODEL(BadConstraint, "badconstraint", BADCON_FIELDS, CORM_UNIQUE_TOGETHER("id", "nope"))
#define DUPTABLE_FIELDS(COLUMN, RELATION) COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY)
CORM_MODEL(DupTable, "user", DUPTABLE_FIELDS)
#define DEFAULTS_FIELDS(COLUMN, RELATION)                                     \
    COLUMN(id,    CORM_INTEGER,  CORM_PRIMARY_KEY)                             \
    COLUMN(n,     CORM_INTEGER,  0, CORM_DEFAULT("-7"))                        \
    COLUMN(ok,    CORM_BOOLEAN,  0, CORM_DEFAULT("true"))                      \
    COLUMN(label, CORM_STRING(5), 0, CORM_DEFAULT("hi"))                       \
    COLUMN(day,   CORM_DATE,     0, CORM_DEFAULT("2024-01-31"))                \
    COLUMN(level, CORM_ENUM(prio, prio_names), 0, CORM_DEFAULT("medium"))      \
    COLUMN(at,    CORM_DATETIME, 0, CORM_DEFAULT_FN(corm_default_utcnow))
CORM_MODEL(Defaults, "defaults", DEFAULTS_FIELDS)
/* A composite foreign key, and one to a set that is not unique. */
#define SHELF_FIELDS(COLUMN, RELATION)                                        \
    COLUMN(id,     CORM_INTEGER,    CORM_PRIMARY_KEY)                          \
    COLUMN(room,   CORM_STRING(10), CORM_NOT_NULL)                             \
    COLUMN(number, CORM_INTEGER,    CORM_NOT_NULL)
CORM_MODEL(Shelf, "shelf", SHELF_FIELDS, CORM_UNIQUE_TOGETHER("room", "number"))
#define BOOK_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,           CORM_INTEGER,    CORM_PRIMARY_KEY)                    \
    COLUMN(shelf_room,   CORM_STRING(10), 0)                                   \
    COLUMN(shelf_number, CORM_INTEGER,    0)
CORM_MODEL(Book, "book", BOOK_FIELDS,
           CORM_FOREIGN_KEY(("shelf_room", "shelf_number"), Shelf, ("room", "number")))
CORM_MODEL(BadBook, "badbook", BOOK_FIELDS,
           CORM_FOREIGN_KEY(("shelf_room", "shelf_number"), Shelf, ("room", "id")))

/* An unknown type value, as a corrupted or hand-made descriptor could hold. */
static const corm_model Weird_model[1];
static const corm_column Weird_id[1] = { { .name = "id", .model = Weird_model, .type = CORM_TYPE_INTEGER,
                                           .flags = CORM_PRIMARY_KEY, .size = 8, .index = 0 } };
static const corm_column Weird_x[1] = { { .name = "x", .model = Weird_model, .type = (corm_type)99,
                                          .offset = 8, .size = 8, .index = 1 } };
static const corm_column *const Weird_cols[] = { Weird_id, Weird_x };
static const corm_model Weird_model[1] = { { .name = "Weird", .table = "weird", .size = 16,
                                             .columns = Weird_cols, .ncolumns = 2 } };

static void expect_schema_error(const corm_model *m, const char *needle1, const char *needle2)
{
    const corm_model *models[] = { User_model, m, NULL };
    corm_engine *e;
    assert_int_equal(corm_engine_open(&e, "sqlite://", models), CORM_ESCHEMA);
    const char *msg = corm_engine_errmsg(e);
    if (!strstr(msg, needle1) || (needle2 && !strstr(msg, needle2)))
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", msg, needle1, needle2 ? needle2 : "");
    corm_engine_close(e);
}

static void flawed_models_are_refused_at_open(void **state)
{
    (void)state;
    expect_schema_error(NoPk_model, "model NoPk", "no primary key");
    {
        const corm_model *models[] = { TwoPk_model, HalfRef_model, NULL };
        corm_engine *e;
        assert_int_equal(corm_engine_open(&e, "sqlite://", models), CORM_ESCHEMA);
        assert_non_null(strstr(corm_engine_errmsg(e), "model HalfRef, column a: foreign key to "
                                                      "one column of a composite key"));
        corm_engine_close(e);
    }
    expect_schema_error(BadDefault_model, "column n", "default");
    expect_schema_error(BadNumeric_model, "column n", "NUMERIC");
    expect_schema_error(BadConstraint_model, "BadConstraint", "'nope'");
    expect_schema_error(DupTable_model, "DupTable", "table name");
    expect_schema_error(User_model, "User", "registered twice");
    expect_schema_error(Weird_model, "column x", "unknown column type");
    /* a foreign key to a model that is not registered */
    const corm_model *no_user[] = { Post_model, NULL };
    corm_engine *e;
    assert_int_equal(corm_engine_open(&e, "sqlite://", no_user), CORM_ESCHEMA);
    assert_non_null(strstr(corm_engine_errmsg(e), "column user_id: foreign key to a model that is not registered"));
    corm_engine_close(e);
    assert_int_equal(corm_engine_open(&e, "sqlite://", NULL), CORM_ESCHEMA);
    corm_engine_close(e);
}

static void client_defaults_fill_new_objects(void **state)
{
    (void)state;
    const corm_model *models[] = { Defaults_model, NULL };
    corm_engine *e;
    OK(corm_engine_open(&e, "sqlite://", models));
    OK(corm_create_all(e));
    corm_session *s = corm_session_new(e);
    Defaults *d = corm_new(s, Defaults);
    assert_int_equal(d->n, -7);
    assert_true(d->ok);
    assert_string_equal(d->label, "hi");
    assert_int_equal(d->day.day, 31);
    assert_int_equal(d->level, PRIO_MEDIUM);
    assert_true(d->at.date.year >= 2024);
    OK(corm_add(s, d));
    OK(corm_commit(s));
    corm_result *r;
    OK(corm_execute(s, "SELECT n, ok, label, day, level FROM defaults", NULL, 0, &r));
    assert_int_equal(corm_result_int(r, 0, 0), -7);
    assert_int_equal(corm_result_int(r, 0, 1), 1);
    assert_string_equal(corm_result_text(r, 0, 2), "hi");
    assert_string_equal(corm_result_text(r, 0, 3), "2024-01-31");
    assert_string_equal(corm_result_text(r, 0, 4), "medium");
    corm_session_free(s);
    corm_engine_close(e);
}

static void create_all_and_drop_all(void **state)
{
    (void)state;
    fixture fx;
    fx_open(&fx, "");
    corm_session *s = corm_session_new(fx.db);
    fx_user(s, "keep", 1);
    corm_session_free(s);
    /* again: nothing is altered or lost */
    OK(corm_create_all(fx.db));
    assert_int_equal(fx_rows(&fx, "user"), 1);
    const char *ddl = fx_last(&fx, "CREATE TABLE IF NOT EXISTS \"kitchen\"");
    assert_non_null(ddl);
    assert_non_null(strstr(ddl, "CONSTRAINT \"uq_kitchen_i_s\" UNIQUE (\"i\", \"s\")"));
    assert_non_null(strstr(ddl, "\"prio\" VARCHAR(6) CHECK (\"prio\" IN ('low', 'medium', 'high'))"));
    assert_non_null(fx_last(&fx, "CREATE INDEX IF NOT EXISTS \"ix_kitchen_d_tm\""));
    assert_non_null(fx_last(&fx, "CREATE INDEX IF NOT EXISTS \"ix_post_user_id\""));
    ddl = fx_last(&fx, "CREATE TABLE IF NOT EXISTS \"user\"");
    /* INTEGER is int64_t: PostgreSQL's INTEGER has 32 bits, so it is BIGINT there */
    assert_non_null(strstr(ddl, strcmp(fx_backend(&fx), "sqlite") == 0
                                    ? "\"age\" INTEGER NOT NULL CHECK (age >= 0)"
                                    : "\"age\" BIGINT NOT NULL CHECK (age >= 0)"));
    assert_non_null(strstr(ddl, "DEFAULT ('2024-01-01 00:00:00')"));
    /* parents are created before children, dropped after them */
    size_t user_at = 0, post_at = 0;
    for (size_t i = 0; i < fx.nlog; i++) {
        if (strstr(fx.log[i], "TABLE IF NOT EXISTS \"user\""))
            user_at = i + 1;
        if (strstr(fx.log[i], "TABLE IF NOT EXISTS \"post\""))
            post_at = i + 1;
    }
    assert_true(user_at && post_at && user_at < post_at);
    fx_clear_log(&fx);
    OK(corm_drop_all(fx.db));
    for (size_t i = 0; i < fx.nlog; i++) {
        if (strstr(fx.log[i], "DROP TABLE IF EXISTS \"user\""))
            user_at = i + 1;
        if (strstr(fx.log[i], "DROP TABLE IF EXISTS \"post\""))
            post_at = i + 1;
    }
    assert_true(post_at < user_at);
    corm_result *r;
    s = corm_session_new(fx.db);
    OK(corm_execute(s, strcmp(fx_backend(&fx), "sqlite") == 0
                           ? "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
                           : strcmp(fx_backend(&fx), "mariadb") == 0
                           ? "SELECT COUNT(*) FROM information_schema.tables WHERE "
                             "table_schema = DATABASE()"
                           : "SELECT COUNT(*) FROM information_schema.tables WHERE "
                             "table_schema = current_schema()", NULL, 0, &r));
    assert_int_equal(corm_result_int(r, 0, 0), 0);
    corm_session_free(s);
    fx_close(&fx);
}

static void memory_database_is_shared_by_the_pool(void **state)
{
    (void)state;
    corm_engine *e;
    OK(corm_engine_open(&e, "sqlite://", test_models));
    OK(corm_create_all(e));
    corm_session *a = corm_session_new(e), *b = corm_session_new(e);
    fx_user(a, "mem", 5);
    User *u;
    corm_query *q = corm_query_new(b, User);
    OK(corm_filter_by(q, "username", "mem"));
    OK(corm_one(q, &u));
    assert_int_equal(u->age, 5);
    corm_session_free(a);
    corm_session_free(b);
    corm_engine_close(e);
}

static void composite_foreign_keys(void **state)
{
    (void)state;
    const corm_model *models[] = { Book_model, Shelf_model, NULL }; /* any order */
    corm_engine *e;
    OK(corm_engine_open(&e, "sqlite://", models));
    OK(corm_create_all(e));
    corm_session *s = corm_session_new(e);
    Shelf *sh = corm_new(s, Shelf);
    sh->room = "A";
    sh->number = 3;
    OK(corm_add(s, sh));
    Book *b = corm_new(s, Book);
    b->shelf_room = "A";
    b->shelf_number = 3;
    OK(corm_add(s, b));
    OK(corm_commit(s));
    Book *bad = corm_new(s, Book);
    bad->shelf_room = "B";
    bad->shelf_number = 3;
    OK(corm_add(s, bad));
    assert_int_equal(corm_commit(s), CORM_EFOREIGNKEY);
    assert_non_null(strstr(corm_errmsg(s), "Book"));
    OK(corm_delete(s, bad));
    corm_result *r;
    OK(corm_execute(s, "SELECT sql FROM sqlite_master WHERE name = 'book'", NULL, 0, &r));
    assert_non_null(strstr(corm_result_text(r, 0, 0), "CONSTRAINT \"fk_book_shelf_room_shelf_number\" "
                           "FOREIGN KEY (\"shelf_room\", \"shelf_number\") REFERENCES \"shelf\" "
                           "(\"room\", \"number\")"));
    corm_session_free(s);
    corm_engine_close(e);
    const corm_model *bad_models[] = { Shelf_model, BadBook_model, NULL };
    assert_int_equal(corm_engine_open(&e, "sqlite://", bad_models), CORM_ESCHEMA);
    assert_non_null(strstr(corm_engine_errmsg(e), "must reference a unique set"));
    corm_engine_close(e);
}

static void unregistered_models_are_refused(void **state)
{
    (void)state;
    const corm_model *only_user[] = { User_model, NULL };
    corm_engine *e;
    OK(corm_engine_open(&e, "sqlite://", only_user));
    corm_session *s = corm_session_new(e);
    assert_null(corm_new(s, Kitchen));
    assert_int_equal(corm_errcode(s), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "Kitchen is not registered"));
    assert_null(corm_query_new(s, Kitchen));
    corm_session_free(s);
    corm_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flawed_models_are_refused_at_open),
        cmocka_unit_test(client_defaults_fill_new_objects),
        cmocka_unit_test(create_all_and_drop_all),
        cmocka_unit_test(memory_database_is_shared_by_the_pool),
        cmocka_unit_test(unregistered_models_are_refused),
        cmocka_unit_test(composite_foreign_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
