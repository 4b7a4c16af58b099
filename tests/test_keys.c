/*
 * test_keys.c — composite primary keys: a model keyed by two columns (the
 * usual association table, post_tag(post_id, tag_id), with no surrogate
 * id): create_all, insert, corm_get_key, the identity map, update,
 * delete, a many-to-many through it, a composite foreign key pointing at
 * it, and migrations (check, autogenerate, a rebuild that keeps the key).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CORM_DEFINE_MODELS
#define ARTICLE_FIELDS(COLUMN, RELATION)                                      \
    COLUMN(id,    CORM_INTEGER,    CORM_PRIMARY_KEY)                           \
    COLUMN(title, CORM_STRING(40), CORM_NOT_NULL)                              \
    RELATION(labels, CORM_MANY_TO_MANY(Label, ArticleLabel, articles))         \
    RELATION(links,  CORM_ONE_TO_MANY(ArticleLabel, article))
CORM_MODEL(Article, "article", ARTICLE_FIELDS)
#define LABEL_FIELDS(COLUMN, RELATION)                                        \
    COLUMN(id,   CORM_INTEGER,    CORM_PRIMARY_KEY)                            \
    COLUMN(name, CORM_STRING(20), CORM_UNIQUE | CORM_NOT_NULL)                 \
    RELATION(articles, CORM_MANY_TO_MANY(Article, ArticleLabel, labels))
CORM_MODEL(Label, "label", LABEL_FIELDS)
/* the association, keyed by its two foreign keys, with a column of its own */
#define ARTICLE_LABEL_FIELDS(COLUMN, RELATION)                                \
    COLUMN(article_id, CORM_INTEGER, CORM_PRIMARY_KEY, CORM_FK(Article, id))   \
    COLUMN(label_id,   CORM_INTEGER, CORM_PRIMARY_KEY, CORM_FK(Label, id))     \
    COLUMN(weight,     CORM_INTEGER, CORM_NOT_NULL, CORM_SERVER_DEFAULT("1"))  \
    RELATION(article, CORM_MANY_TO_ONE(Article, article_id, links))
CORM_MODEL(ArticleLabel, "article_label", ARTICLE_LABEL_FIELDS)
/* a row pointing at an association row by both of its columns */
#define VOTE_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,         CORM_INTEGER, CORM_PRIMARY_KEY)                         \
    COLUMN(article_id, CORM_INTEGER, CORM_NOT_NULL)                            \
    COLUMN(label_id,   CORM_INTEGER, CORM_NOT_NULL)
CORM_MODEL(Vote, "vote", VOTE_FIELDS,
           CORM_FOREIGN_KEY(("article_id", "label_id"), ArticleLabel, ("article_id", "label_id")))

static const corm_model *const models[] = { Article_model, Label_model, ArticleLabel_model,
                                             Vote_model, NULL };

static corm_engine *db;
static char dir[64], url[512];

/* A database of these tables only: a file of its own, or the server's emptied. */
static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/corm-keys-XXXXXX");
    assert_non_null(mkdtemp(dir));
    if (test_server_url()) {
        test_empty_server_db();
        snprintf(url, sizeof url, "%s", test_server_url());
    } else {
        snprintf(url, sizeof url, "sqlite:///%s/keys.db", dir);
    }
    OK(corm_engine_open(&db, url, models));
    OK(corm_create_all(db));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corm_engine_close(db);
    test_rm_rf(dir);
    return 0;
}

static ArticleLabel *link_row(corm_session *s, int64_t a, int64_t l)
{
    ArticleLabel *al = corm_new(s, ArticleLabel);
    al->article_id = a;
    al->label_id = l;
    OK(corm_add(s, al));
    return al;
}

/* Insert, get by the whole key, the identity map, update, delete. */
static void a_composite_key_is_an_identity(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(db);
    Article *a = corm_new(s, Article);
    a->title = "keys";
    Label *x = corm_new(s, Label), *y = corm_new(s, Label);
    x->name = "x";
    y->name = "y";
    OK(corm_add(s, a));
    OK(corm_add(s, x));
    OK(corm_add(s, y));
    OK(corm_commit(s));
    ArticleLabel *ax = link_row(s, a->id, x->id), *ay = link_row(s, a->id, y->id);
    ay->weight = 5;
    OK(corm_commit(s));
    assert_int_equal(ax->weight, 1); /* the server default, read back */
    assert_int_equal(db_int(url, "SELECT COUNT(*) FROM article_label"), 2);
    /* by the whole key: the same object; the other half of the key: another */
    ArticleLabel *got;
    OK(corm_get_key(s, ArticleLabel, CORM_ARGS(a->id, x->id), &got));
    assert_ptr_equal(got, ax);
    OK(corm_get_key(s, ArticleLabel, CORM_ARGS(a->id, y->id), &got));
    assert_ptr_equal(got, ay);
    /* in a new session: read from the database, then from its map */
    corm_session *t = corm_session_new(db);
    OK(corm_get_key(t, ArticleLabel, CORM_ARGS(a->id, y->id), &got));
    assert_non_null(got);
    assert_int_equal(got->weight, 5);
    ArticleLabel *again;
    OK(corm_get_key(t, ArticleLabel, CORM_ARGS(a->id, y->id), &again));
    assert_ptr_equal(again, got);
    OK(corm_get_key(t, ArticleLabel, CORM_ARGS(a->id, (int64_t)999), &again));
    assert_null(again);
    corm_query *q = corm_query_new(t, ArticleLabel);
    OK(corm_order_by(q, ArticleLabel_label_id));
    ArticleLabel **all;
    size_t n;
    OK(corm_all(q, &all, &n));
    assert_int_equal(n, 2);
    assert_ptr_equal(all[1], got); /* a query meets the same object */
    /* update: one row, found by both columns */
    got->weight = 7;
    OK(corm_commit(t));
    assert_int_equal(db_int(url, "SELECT weight FROM article_label WHERE label_id = (SELECT id FROM label WHERE name = 'y')"), 7);
    assert_int_equal(db_int(url, "SELECT weight FROM article_label WHERE label_id = (SELECT id FROM label WHERE name = 'x')"), 1);
    /* a key column may not change; the session goes on */
    got->label_id = x->id;
    assert_int_equal(corm_commit(t), CORM_ESTATE);
    assert_non_null(strstr(corm_errmsg(t), "ArticleLabel.label_id: the primary key"));
    OK(corm_rollback(t));
    /* delete: that row only */
    OK(corm_refresh(t, got));
    OK(corm_delete(t, got));
    OK(corm_commit(t));
    assert_int_equal(db_int(url, "SELECT COUNT(*) FROM article_label"), 1);
    /* a duplicate key is the database's unique refusal */
    link_row(s, a->id, x->id);
    assert_int_equal(corm_commit(s), CORM_EUNIQUE);
    OK(corm_rollback(s));
    /* corm_get on a composite key asks for the whole key */
    assert_int_equal(corm_get(s, ArticleLabel, a->id, &got), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "key of 2 columns"));
    assert_int_equal(corm_get_key(s, ArticleLabel, CORM_ARGS(a->id), &got), CORM_EINVAL);
    /* nor is one column of it unique enough for an upsert's conflict */
    ArticleLabel *up = corm_new(s, ArticleLabel), *out[1];
    up->article_id = a->id;
    up->label_id = x->id;
    assert_int_equal(corm_upsert(s, ArticleLabel, &up, 1, ArticleLabel_article_id, out), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "(article_id is not)"));
    corm_session_free(t);
    corm_session_free(s);
}

/* The association of a many-to-many, and its rows as objects. */
static void a_many_to_many_through_a_composite_key(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(db);
    Article *a = corm_new(s, Article);
    a->title = "tagged";
    OK(corm_add(s, a));
    const char *names[] = { "c", "db", "orm" };
    for (int i = 0; i < 3; i++) {
        Label *l = corm_new(s, Label);
        l->name = names[i];
        OK(corm_rel_add(s, a, Article_labels, l));
    }
    OK(corm_commit(s));
    assert_int_equal(db_int(url, "SELECT COUNT(*) FROM article_label"), 3);
    corm_session *t = corm_session_new(db);
    Article *b;
    OK(corm_get(t, Article, a->id, &b));
    Label **ls = corm_related(t, b, Article_labels);
    assert_non_null(ls);
    assert_int_equal(b->labels.n, 3);
    ArticleLabel **links = corm_related(t, b, Article_links); /* the rows, by the key's half */
    assert_int_equal(b->links.n, 3);
    assert_ptr_equal(corm_related(t, links[0], ArticleLabel_article), b);
    OK(corm_rel_remove(t, b, Article_labels, ls[0]));
    OK(corm_commit(t));
    assert_int_equal(db_int(url, "SELECT COUNT(*) FROM article_label"), 2);
    corm_session_free(t);
    corm_session_free(s);
}

/* A composite foreign key points at the composite key: the database
 * refuses a row that names no association row. */
static void a_composite_foreign_key_to_it(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(db);
    Article *a = corm_new(s, Article);
    a->title = "voted";
    Label *l = corm_new(s, Label);
    l->name = "v";
    OK(corm_add(s, a));
    OK(corm_add(s, l));
    OK(corm_commit(s));
    link_row(s, a->id, l->id);
    Vote *v = corm_new(s, Vote);
    v->article_id = a->id;
    v->label_id = l->id;
    OK(corm_add(s, v));
    OK(corm_commit(s));
    Vote *bad = corm_new(s, Vote);
    bad->article_id = a->id;
    bad->label_id = l->id + 100;
    OK(corm_add(s, bad));
    assert_int_equal(corm_commit(s), CORM_EFOREIGNKEY);
    OK(corm_rollback(s));
    assert_int_equal(db_int(url, "SELECT COUNT(*) FROM vote"), 1);
    corm_session_free(s);
}

/* Migrations: check finds the key as declared; autogenerate writes it; a
 * SQLite rebuild (a column added) keeps it and the rows. */
#define PAIR_V1_FIELDS(COLUMN, RELATION)                                      \
    COLUMN(a, CORM_INTEGER,    CORM_PRIMARY_KEY)                               \
    COLUMN(b, CORM_STRING(10), CORM_PRIMARY_KEY)                               \
    COLUMN(n, CORM_INTEGER,    CORM_NOT_NULL)
CORM_MODEL(PairV1, "pair", PAIR_V1_FIELDS)
#define PAIR_V2_FIELDS(COLUMN, RELATION)                                      \
    COLUMN(a,    CORM_INTEGER,    CORM_PRIMARY_KEY)                            \
    COLUMN(b,    CORM_STRING(10), CORM_PRIMARY_KEY)                            \
    COLUMN(n,    CORM_INTEGER,    CORM_NOT_NULL)                               \
    COLUMN(note, CORM_TEXT,       0)
CORM_MODEL(PairV2, "pair", PAIR_V2_FIELDS)

static corm_engine *open_with(const corm_model *const *ms)
{
    corm_engine *e;
    if (corm_engine_open(&e, url, ms) != CORM_OK)
        fail_msg("%s", corm_engine_errmsg(e));
    return e;
}

static void migrations_keep_a_composite_key(void **state)
{
    (void)state;
    assert_schema_matches(db); /* create_all's tables are what the models say */
    OK(corm_drop_all(db));
    char migs[128];
    snprintf(migs, sizeof migs, "%s/migrations", dir);
    static const corm_model *const v1[] = { PairV1_model, NULL }, *const v2[] = { PairV2_model, NULL };
    corm_engine *e = open_with(v1);
    OK(corm_migrate_init(e, migs));
    assert_int_equal(corm_migrate_autogenerate(e, migs, "pairs", NULL, NULL, 0), 1);
    OK(corm_migrate_upgrade(e, migs, "head", NULL));
    assert_int_equal(corm_check_schema(e, NULL), 0);
    corm_session *s = corm_session_new(e);
    for (int i = 0; i < 3; i++) {
        PairV1 *p = corm_new(s, PairV1);
        p->a = 1;
        p->b = i == 0 ? "x" : i == 1 ? "y" : "z";
        p->n = i;
        OK(corm_add(s, p));
    }
    OK(corm_commit(s));
    corm_session_free(s);
    corm_engine_close(e);
    /* a column more: a revision (on SQLite, a rebuild), applied; key and rows stay */
    e = open_with(v2);
    assert_int_equal(corm_migrate_autogenerate(e, migs, "note", NULL, NULL, 0), 1);
    OK(corm_migrate_upgrade(e, migs, "head", NULL));
    assert_schema_matches(e);
    s = corm_session_new(e);
    PairV2 *got;
    OK(corm_get_key(s, PairV2, CORM_ARGS(1, "y"), &got));
    assert_non_null(got);
    assert_int_equal(got->n, 1);
    PairV2 *dup = corm_new(s, PairV2);
    dup->a = 1;
    dup->b = "y";
    OK(corm_add(s, dup));
    assert_int_equal(corm_commit(s), CORM_EUNIQUE); /* still the key */
    corm_session_free(s);
    OK(corm_migrate_downgrade(e, migs, "base", NULL));
    corm_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_composite_key_is_an_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(a_many_to_many_through_a_composite_key, setup, teardown),
        cmocka_unit_test_setup_teardown(a_composite_foreign_key_to_it, setup, teardown),
        cmocka_unit_test_setup_teardown(migrations_keep_a_composite_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
