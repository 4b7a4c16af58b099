/*
 * test_relations.c — relationships: many-to-one, one-to-many, one-to-one
 * and a self-referential tree; lazy loading, selectin eager loading (the
 * SQL counted through the echo), cascades, and the bad inputs.
 */
#include "common.h"
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CORM_DEFINE_MODELS /* the models below are defined here */

#define AUTHOR_FIELDS(COLUMN, RELATION)                                        \
    COLUMN(id,   CORM_INTEGER,    CORM_PRIMARY_KEY)                             \
    COLUMN(name, CORM_STRING(40), CORM_NOT_NULL)                                \
    RELATION(articles, CORM_ONE_TO_MANY(Article, author), CORM_CASCADE(CORM_CASCADE_DELETE)) \
    RELATION(profile,  CORM_ONE_TO_ONE(Profile, author))
CORM_MODEL(Author, "author", AUTHOR_FIELDS)

#define ARTICLE_FIELDS(COLUMN, RELATION)                                       \
    COLUMN(id,        CORM_INTEGER, CORM_PRIMARY_KEY)                           \
    COLUMN(title,     CORM_TEXT,    0)                                          \
    COLUMN(author_id, CORM_INTEGER, CORM_NOT_NULL | CORM_INDEX, CORM_FK(Author, id)) \
    RELATION(author, CORM_MANY_TO_ONE(Author, author_id, articles))            \
    RELATION(notes,  CORM_ONE_TO_MANY(Note, article),                          \
             CORM_CASCADE(CORM_CASCADE_DELETE | CORM_DELETE_ORPHAN))                \
    RELATION(tags,   CORM_MANY_TO_MANY(Tag, ArticleTag, articles))
CORM_MODEL(Article, "article", ARTICLE_FIELDS)

#define TAG_FIELDS(COLUMN, RELATION)                                           \
    COLUMN(id,   CORM_INTEGER,    CORM_PRIMARY_KEY)                             \
    COLUMN(name, CORM_STRING(20), CORM_UNIQUE | CORM_NOT_NULL)                  \
    RELATION(articles, CORM_MANY_TO_MANY(Article, ArticleTag, tags))
CORM_MODEL(Tag, "tag", TAG_FIELDS)

#define ARTICLE_TAG_FIELDS(COLUMN, RELATION)                                   \
    COLUMN(id,         CORM_INTEGER, CORM_PRIMARY_KEY)                          \
    COLUMN(article_id, CORM_INTEGER, CORM_NOT_NULL, CORM_FK(Article, id))       \
    COLUMN(tag_id,     CORM_INTEGER, CORM_NOT_NULL, CORM_FK(Tag, id), CORM_ON_DELETE(CORM_FK_CASCADE))
CORM_MODEL(ArticleTag, "article_tag", ARTICLE_TAG_FIELDS, CORM_UNIQUE_TOGETHER("article_id", "tag_id"))

#define NOTE_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,         CORM_INTEGER, CORM_PRIMARY_KEY)                          \
    COLUMN(body,       CORM_TEXT,    0)                                         \
    COLUMN(article_id, CORM_INTEGER, 0, CORM_FK(Article, id))                   \
    RELATION(article, CORM_MANY_TO_ONE(Article, article_id, notes))
CORM_MODEL(Note, "note", NOTE_FIELDS)

#define PROFILE_FIELDS(COLUMN, RELATION)                                       \
    COLUMN(id,        CORM_INTEGER,    CORM_PRIMARY_KEY)                        \
    COLUMN(bio,       CORM_TEXT,       0)                                       \
    COLUMN(author_id, CORM_INTEGER,    CORM_UNIQUE, CORM_FK(Author, id),        \
           CORM_ON_DELETE(CORM_FK_SET_NULL))                                    \
    RELATION(author, CORM_MANY_TO_ONE(Author, author_id, profile))
CORM_MODEL(Profile, "profile", PROFILE_FIELDS)

/* A tree without cascades: a parent with children cannot be deleted. */
#define NODE_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,        CORM_INTEGER,    CORM_PRIMARY_KEY)                        \
    COLUMN(label,     CORM_STRING(20), 0)                                       \
    COLUMN(parent_id, CORM_INTEGER,    0, CORM_FK(Node, id))                    \
    RELATION(parent,   CORM_MANY_TO_ONE(Node, parent_id, children))            \
    RELATION(children, CORM_ONE_TO_MANY(Node, parent))
CORM_MODEL(Node, "node", NODE_FIELDS)

/* A broken declaration: the inverse named does not exist. */
#define BROKEN_FIELDS(COLUMN, RELATION)                                        \
    COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY)                                  \
    RELATION(things, CORM_ONE_TO_MANY(Article, nothing))
CORM_MODEL(Broken, "broken", BROKEN_FIELDS)

/* Children the database deletes (CORM_PASSIVE_DELETES, ON DELETE CASCADE). */
#define SHELF_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,    CORM_INTEGER,    CORM_PRIMARY_KEY)                            \
    COLUMN(label, CORM_STRING(20), 0)                                           \
    RELATION(volumes, CORM_ONE_TO_MANY(Volume, shelf),                          \
             CORM_CASCADE(CORM_CASCADE_DELETE | CORM_PASSIVE_DELETES))
CORM_MODEL(Shelf, "shelf", SHELF_FIELDS)

#define VOLUME_FIELDS(COLUMN, RELATION)                                        \
    COLUMN(id,       CORM_INTEGER, CORM_PRIMARY_KEY)                            \
    COLUMN(shelf_id, CORM_INTEGER, CORM_NOT_NULL | CORM_INDEX, CORM_FK(Shelf, id), \
           CORM_ON_DELETE(CORM_FK_CASCADE))                                     \
    RELATION(shelf, CORM_MANY_TO_ONE(Shelf, shelf_id, volumes))
CORM_MODEL(Volume, "volume", VOLUME_FIELDS)

/* The same without the database's cascade: refused when the engine opens. */
#define LOOSE_SHELF_FIELDS(COLUMN, RELATION)                                   \
    COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY)                                  \
    RELATION(volumes, CORM_ONE_TO_MANY(LooseVolume, shelf),                     \
             CORM_CASCADE(CORM_CASCADE_DELETE | CORM_PASSIVE_DELETES))
CORM_MODEL(LooseShelf, "loose_shelf", LOOSE_SHELF_FIELDS)

#define LOOSE_VOLUME_FIELDS(COLUMN, RELATION)                                  \
    COLUMN(id,       CORM_INTEGER, CORM_PRIMARY_KEY)                            \
    COLUMN(shelf_id, CORM_INTEGER, 0, CORM_FK(LooseShelf, id))                  \
    RELATION(shelf, CORM_MANY_TO_ONE(LooseShelf, shelf_id, volumes))
CORM_MODEL(LooseVolume, "loose_volume", LOOSE_VOLUME_FIELDS)

/* Two relationships to one model: a message's sender and recipient. */
#define MESSAGE_FIELDS(COLUMN, RELATION)                                       \
    COLUMN(id,           CORM_INTEGER,    CORM_PRIMARY_KEY)                     \
    COLUMN(body,         CORM_STRING(40), CORM_NOT_NULL)                        \
    COLUMN(sender_id,    CORM_INTEGER,    CORM_NOT_NULL, CORM_FK(Author, id))   \
    COLUMN(recipient_id, CORM_INTEGER,    CORM_NOT_NULL, CORM_FK(Author, id))   \
    RELATION(sender,    CORM_MANY_TO_ONE(Author, sender_id, ))                  \
    RELATION(recipient, CORM_MANY_TO_ONE(Author, recipient_id, ))
CORM_MODEL(Message, "message", MESSAGE_FIELDS)

/* A one-to-one whose child cannot be without its parent. */
#define DESK_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY)                                  \
    RELATION(chair, CORM_ONE_TO_ONE(Chair, desk))
CORM_MODEL(Desk, "desk", DESK_FIELDS)
#define CHAIR_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,      CORM_INTEGER, CORM_PRIMARY_KEY)                             \
    COLUMN(desk_id, CORM_INTEGER, CORM_NOT_NULL | CORM_UNIQUE, CORM_FK(Desk, id)) \
    RELATION(desk, CORM_MANY_TO_ONE(Desk, desk_id, chair))
CORM_MODEL(Chair, "chair", CHAIR_FIELDS)

static const corm_model *const models[] = { Message_model, Author_model, Article_model, Note_model, Profile_model,
                                             Node_model, Tag_model, ArticleTag_model, Shelf_model,
                                             Volume_model, Desk_model, Chair_model, NULL };

static corm_engine *db;
static corm_session *s;
static char dir[64], path[512];
static char *log_lines[256];
static size_t nlog;
static char warning[512];

static void capture(void *ud, const char *line)
{
    (void)ud;
    if (nlog < 256)
        log_lines[nlog++] = fx_normalize(line);
}

static void clear_log(void)
{
    for (size_t i = 0; i < nlog; i++)
        free(log_lines[i]);
    nlog = 0;
}

static size_t count_selects(const char *table)
{
    char want[64];
    snprintf(want, sizeof want, "FROM \"%s\"", table);
    size_t n = 0;
    for (size_t i = 0; i < nlog; i++)
        n += strncmp(log_lines[i], "SELECT", 6) == 0 && strstr(log_lines[i], want) != NULL;
    return n;
}

static void warn(void *ud, const char *msg)
{
    (void)ud;
    snprintf(warning, sizeof warning, "%s", msg);
}

static Author *author(const char *name, int articles, int notes)
{
    Author *a = corm_new(s, Author);
    a->name = corm_strdup(s, name);
    OK(corm_add(s, a));
    for (int i = 0; i < articles; i++) {
        Article *ar = corm_new(s, Article);
        char t[64];
        snprintf(t, sizeof t, "%s-%d", name, i);
        ar->title = corm_strdup(s, t);
        OK(corm_rel_add(s, a, Author_articles, ar));
        for (int k = 0; k < notes; k++) {
            Note *n = corm_new(s, Note);
            n->body = "note";
            OK(corm_rel_add(s, ar, Article_notes, n));
        }
    }
    return a;
}

/* A new profile of a, added. */
static Profile *profile(Author *a, const char *bio)
{
    Profile *p = corm_new(s, Profile);
    p->bio = bio;
    p->author = a;
    OK(corm_add(s, p));
    return p;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/corm-rel-XXXXXX");
    assert_non_null(mkdtemp(dir));
    if (test_server_url()) /* the server's database, emptied */
        snprintf(path, sizeof path, "%s", test_server_url());
    else
        snprintf(path, sizeof path, "sqlite:///%s/rel.db", dir);
    OK(corm_engine_open(&db, path, models));
    if (test_server_url())
        OK(corm_drop_all(db));
    OK(corm_create_all(db));
    corm_engine_set_echo(db, capture, NULL);
    corm_engine_set_warnings(db, warn, NULL);
    s = corm_session_new(db);
    warning[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corm_session_free(s);
    corm_engine_close(db);
    clear_log();
    char p[160];
    snprintf(p, sizeof p, "%s/rel.db", dir);
    unlink(p);
    rmdir(dir);
    return 0;
}

static int64_t rows(const char *table)
{
    corm_session *t = corm_session_new(db);
    char sql[64];
    corm_result *r;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", table);
    OK(corm_execute(t, sql, NULL, 0, &r));
    int64_t n = corm_result_int(r, 0, 0);
    corm_session_free(t);
    return n;
}

static size_t count_statements(const char *prefix, const char *table);

/* One integer a query gives, in a session of its own. */
static int64_t scalar(const char *sql, int64_t arg)
{
    corm_session *t = corm_session_new(db);
    corm_result *r;
    OK(corm_execute(t, sql, CORM_ARGS(arg), &r));
    int64_t n = corm_result_int(r, 0, 0);
    corm_session_free(t);
    return n;
}

/* corm_merge follows relationships (SQLAlchemy's merge cascade): a graph of
 * plain structs, as a request's body gives it, becomes session objects
 * linked as the structs were, each struct merged once however often it is
 * met (the articles point back at their author). */
static void merge_follows_relationships(void **state)
{
    (void)state;
    Author ada = { .name = "Ada" };
    Tag tag = { .name = "c" };
    Tag *tags[] = { &tag };
    Note note = { .body = "first note" };
    Note *notes[] = { &note };
    Article one = { .title = "One", .author = &ada, .notes = { notes, 1, 1 } };
    Article two = { .title = "Two", .author = &ada, .tags = { tags, 1, 1 } };
    Article *arts[] = { &one, &two };
    Profile bio = { .bio = "mathematician", .author = &ada };
    ada.articles.items = arts;
    ada.articles.n = ada.articles.cap = 2;
    ada.profile = &bio;
    Author *got;
    OK(corm_merge(s, Author, &ada, &got));
    assert_ptr_not_equal(got, &ada);
    assert_string_equal(got->name, "Ada");
    assert_int_equal(got->articles.n, 2);
    assert_ptr_equal(got->articles.items[0]->author, got);
    assert_ptr_not_equal(got->articles.items[0], &one);
    assert_ptr_equal(got->profile->author, got);
    OK(corm_commit(s));
    assert_int_equal(rows("author"), 1); /* met three times, merged once */
    assert_int_equal(scalar("SELECT COUNT(*) FROM article WHERE author_id = ?", got->id), 2);
    assert_int_equal(scalar("SELECT COUNT(*) FROM profile WHERE author_id = ?", got->id), 1);
    assert_int_equal(scalar("SELECT COUNT(*) FROM note n JOIN article a ON n.article_id = a.id "
                            "WHERE a.title = 'One' AND a.author_id = ?", got->id), 1);
    assert_int_equal(scalar("SELECT COUNT(*) FROM article_tag x JOIN article a ON x.article_id = "
                            "a.id WHERE a.title = 'Two' AND a.author_id = ?", got->id), 1);
    /* the structs are left as they were */
    assert_int_equal(ada.id, 0);
    assert_int_equal(one.id, 0);
}

/* Merging onto rows that exist: a collection src names is replaced (the
 * children it leaves out removed as corm_rel_remove does: an orphan
 * deleted, a many-to-many link dropped), a one-to-one's old child lets go,
 * and what src leaves unsaid (a NULL pointer, an empty array) stays. */
static void merge_replaces_what_it_names(void **state)
{
    (void)state;
    Author *a = author("Grace", 2, 2);
    Tag *t1 = corm_new(s, Tag), *t2 = corm_new(s, Tag);
    t1->name = "t1";
    t2->name = "t2";
    Article *x = a->articles.items[0];
    OK(corm_rel_add(s, x, Article_tags, t1));
    OK(corm_add(s, t2));
    Profile *p1 = profile(a, "old");
    OK(corm_commit(s));
    int64_t aid = a->id, xid = x->id, yid = a->articles.items[1]->id, t2id = t2->id, p1id = p1->id;
    int64_t n1 = x->notes.items[0]->id;
    corm_session_reset(s);

    /* from outside: keys, and only what changes */
    Note keep = { .id = n1, .body = "kept, edited", .article_id = xid };
    Note *notes[] = { &keep };
    Tag other = { .id = t2id };
    Tag *tags[] = { &other };
    Article ax = { .id = xid, .title = "x, edited", .author_id = aid, .notes = { notes, 1, 1 },
                   .tags = { tags, 1, 1 } };
    Profile fresh = { .bio = "new" };
    Author body = { .id = aid, .name = "Grace H", .profile = &fresh };
    Article *gx;
    OK(corm_merge(s, Article, &ax, &gx));
    Author *got;
    OK(corm_merge(s, Author, &body, &got));
    /* one flush: the old profile's UPDATE goes before the new one's INSERT,
     * which takes the unique author_id it gives up */
    OK(corm_commit(s));
    assert_string_equal(got->name, "Grace H");
    /* articles were unsaid: both stay */
    assert_int_equal(scalar("SELECT COUNT(*) FROM article WHERE author_id = ?", aid), 2);
    assert_int_equal(scalar("SELECT COUNT(*) FROM article WHERE id = ?", yid), 1);
    /* notes named: the one left out was an orphan, deleted */
    assert_int_equal(scalar("SELECT COUNT(*) FROM note WHERE article_id = ?", xid), 1);
    assert_int_equal(scalar("SELECT COUNT(*) FROM note WHERE id = ? AND body = 'kept, edited'",
                            n1), 1);
    /* tags named: t1's link dropped, t2 linked, both tags still there */
    assert_int_equal(scalar("SELECT COUNT(*) FROM article_tag WHERE article_id = ?", xid), 1);
    assert_int_equal(scalar("SELECT COUNT(*) FROM article_tag WHERE tag_id = ?", t2id), 1);
    assert_int_equal(rows("tag"), 2);
    /* the one-to-one: the new profile is the author's, the old one lets go */
    assert_int_equal(scalar("SELECT COUNT(*) FROM profile WHERE author_id = ? AND bio = 'new'",
                            aid), 1);
    assert_int_equal(scalar("SELECT COUNT(*) FROM profile WHERE id = ? AND author_id IS NULL",
                            p1id), 1);

    /* a removal the model refuses (Article.author_id NOT NULL, no
     * delete-orphan on Author.articles): a clear error, nothing lost */
    corm_session_reset(s);
    Article only = { .id = xid };
    Article *arts[] = { &only };
    Author leave_one = { .id = aid, .articles = { arts, 1, 1 } };
    assert_int_equal(corm_merge(s, Author, &leave_one, &got), CORM_ENOTNULL);
    assert_null(got);
    assert_non_null(strstr(corm_errmsg(s), "Author.articles"));
    assert_non_null(strstr(corm_errmsg(s), "Article.author_id cannot be NULL"));
    OK(corm_rollback(s));
    assert_int_equal(scalar("SELECT COUNT(*) FROM article WHERE author_id = ?", aid), 2);
    Author *again;
    OK(corm_get(s, Author, aid, &again)); /* the session goes on */
    assert_string_equal(again->name, "Grace H");

    /* a one-to-one child that cannot let go (Chair.desk_id NOT NULL, no
     * delete-orphan): refused, nothing lost */
    corm_session_reset(s);
    Desk *desk = corm_new(s, Desk);
    Chair *chair = corm_new(s, Chair);
    chair->desk = desk;
    OK(corm_add(s, chair));
    OK(corm_commit(s));
    int64_t did = desk->id;
    corm_session_reset(s);
    Chair other_chair = { 0 };
    Desk swap = { .id = did, .chair = &other_chair };
    Desk *gd;
    assert_int_equal(corm_merge(s, Desk, &swap, &gd), CORM_ENOTNULL);
    assert_null(gd);
    assert_non_null(strstr(corm_errmsg(s), "Desk.chair: the Chair it has cannot let go of it: "
                                           "Chair.desk_id cannot be NULL"));
    OK(corm_rollback(s));
    OK(corm_commit(s));
    assert_int_equal(scalar("SELECT COUNT(*) FROM chair WHERE desk_id = ?", did), 1);
    assert_int_equal(rows("chair"), 1);

    /* a new child before a keyed one: nothing is flushed while the graph
     * is half linked (the new article has no author yet when the next is
     * looked up) */
    corm_session_reset(s);
    Article brand_new = { .title = "brand new" }, ox = { .id = xid, .author_id = aid },
            oy = { .id = yid, .author_id = aid };
    Article *three[] = { &brand_new, &ox, &oy };
    Author grow = { .id = aid, .articles = { three, 3, 3 } };
    OK(corm_merge(s, Author, &grow, &got));
    assert_int_equal(got->articles.n, 3);
    OK(corm_commit(s));
    assert_int_equal(scalar("SELECT COUNT(*) FROM article WHERE author_id = ?", aid), 3);
}

/* A one-to-one's child replaced in one flush: the old child's UPDATE (its
 * unique author_id to NULL) goes before the new child's INSERT, as
 * SQLAlchemy orders a mapper's rows; the other way the database refuses. */
static void unique_value_passed_on_in_one_flush(void **state)
{
    (void)state;
    Author *a = author("Liskov", 0, 0);
    Profile *old = profile(a, "old");
    OK(corm_commit(s));
    OK(corm_load(s, old, Profile_author)); /* the commit expired it: NULL would say nothing */
    old->author = NULL;
    profile(a, "new");
    clear_log();
    OK(corm_commit(s));
    assert_int_equal(count_statements("UPDATE", "profile"), 1);
    assert_int_equal(scalar("SELECT COUNT(*) FROM profile WHERE author_id = ? AND bio = 'new'",
                            a->id), 1);
    assert_int_equal(scalar("SELECT COUNT(*) FROM profile WHERE id = ? AND author_id IS NULL",
                            old->id), 1);
}

/* An UPDATE that points at a new row of its own table waits for that
 * row's INSERT (a mapper's UPDATEs otherwise go first): an existing node
 * moved under a new one. Out of memory at every allocation of the commit
 * loses nothing. */
static void update_waits_for_the_insert_it_points_at(void **state)
{
    (void)state;
    Node *child = corm_new(s, Node);
    child->label = "child";
    OK(corm_add(s, child));
    OK(corm_commit(s));
    int64_t cid = child->id;
    for (long n = 0;; n++) {
        corm_session_reset(s);
        Node *c, *parent = corm_new(s, Node);
        OK(corm_get(s, Node, cid, &c));
        OK(corm_load(s, c, Node_parent));
        parent->label = "parent";
        OK(corm_add(s, parent));
        c->parent = parent;
        util_alloc_fail_after(n);
        int rc = corm_commit(s);
        bool injected = util_alloc_failed();
        util_alloc_fail_after(-1);
        if (rc != CORM_OK) {
            assert_int_equal(rc, CORM_ENOMEM);
            OK(corm_rollback(s));
            assert_int_equal(scalar("SELECT COUNT(*) FROM node WHERE id = ? AND parent_id IS NULL",
                                    cid), 1);
            assert_int_equal(rows("node"), 1);
            continue;
        }
        assert_int_equal(scalar("SELECT COUNT(*) FROM node n JOIN node p ON n.parent_id = p.id "
                                "WHERE n.id = ? AND p.label = 'parent'", cid), 1);
        if (!injected) {
            assert_true(n > 0);
            return;
        }
        /* a failure after COMMIT (settling what it left) lost nothing: again */
        OK(corm_execute(s, "UPDATE node SET parent_id = NULL", NULL, 0, NULL));
        OK(corm_execute(s, "DELETE FROM node WHERE label = 'parent'", NULL, 0, NULL));
        OK(corm_commit(s));
    }
}

/* Another session's objects, with what it loaded and changed: merged into
 * this one, changes and all, the loaded relationships followed. */
static void merge_brings_another_sessions_graph(void **state)
{
    (void)state;
    author("Hopper", 2, 0);
    OK(corm_commit(s));
    corm_session *other = corm_session_new(db);
    corm_query *q = corm_query_new(other, Author);
    OK(corm_selectin(q, Author_articles));
    Author *theirs;
    OK(corm_one(q, &theirs));
    theirs->articles.items[1]->title = "changed over there";
    Author *mine;
    OK(corm_merge(s, Author, theirs, &mine));
    assert_ptr_not_equal(mine, theirs);
    assert_int_equal(mine->articles.n, 2);
    OK(corm_commit(s));
    corm_session_free(other);
    assert_int_equal(scalar("SELECT COUNT(*) FROM article WHERE author_id = ? AND "
                            "title = 'changed over there'", mine->id), 1);
    assert_int_equal(rows("article"), 2);
}

static void bad_declarations_are_refused(void **state)
{
    (void)state;
    const corm_model *with_broken[] = { Author_model, Article_model, Note_model, Profile_model,
                                        Tag_model, ArticleTag_model, Broken_model, NULL };
    corm_engine *e;
    assert_int_equal(corm_engine_open(&e, "sqlite://", with_broken), CORM_ESCHEMA);
    assert_non_null(strstr(corm_engine_errmsg(e), "relationship things: Article has no relationship named 'nothing'"));
    corm_engine_close(e);
    const corm_model *no_target[] = { Article_model, Note_model, Tag_model, ArticleTag_model, NULL };
    assert_int_equal(corm_engine_open(&e, "sqlite://", no_target), CORM_ESCHEMA);
    corm_engine_close(e);
    const corm_model *loose[] = { LooseShelf_model, LooseVolume_model, NULL };
    assert_int_equal(corm_engine_open(&e, "sqlite://", loose), CORM_ESCHEMA);
    assert_non_null(strstr(corm_engine_errmsg(e), "relationship volumes: CORM_PASSIVE_DELETES"));
    assert_non_null(strstr(corm_engine_errmsg(e), "LooseVolume.shelf_id declared with "
                                                  "CORM_ON_DELETE(CORM_FK_CASCADE)"));
    corm_engine_close(e);
}

static size_t count_statements(const char *prefix, const char *table)
{
    char want[64];
    snprintf(want, sizeof want, "\"%s\"", table);
    size_t n = 0;
    for (size_t i = 0; i < nlog; i++)
        n += strncmp(log_lines[i], prefix, strlen(prefix)) == 0 && strstr(log_lines[i], want) != NULL;
    return n;
}

static int64_t volumes_left(void)
{
    corm_session *t = corm_session_new(db);
    corm_query *q = corm_query_new(t, Volume);
    int64_t n = -1;
    OK(corm_count(q, &n));
    corm_session_free(t);
    return n;
}

/* Shelves with three volumes each, committed. */
static Shelf *shelf_with_volumes(const char *label)
{
    Shelf *sh = corm_new(s, Shelf);
    sh->label = (char *)label;
    OK(corm_add(s, sh));
    for (int i = 0; i < 3; i++)
        OK(corm_rel_add(s, sh, Shelf_volumes, corm_new(s, Volume)));
    OK(corm_commit(s));
    return sh;
}

static void passive_deletes_leave_children_to_the_database(void **state)
{
    (void)state;
    Shelf *a = shelf_with_volumes("a"), *b = shelf_with_volumes("b");
    int64_t ida = a->id, idb = b->id;
    assert_int_equal(volumes_left(), 6);
    /* a new session: the volumes are not loaded, and are not read to delete them */
    corm_session *t = corm_session_new(db);
    Shelf *sh;
    OK(corm_get(t, Shelf, ida, &sh));
    clear_log();
    OK(corm_delete(t, sh));
    OK(corm_commit(t));
    assert_int_equal(count_statements("SELECT", "volume"), 0);
    assert_int_equal(count_statements("DELETE", "volume"), 0);
    assert_int_equal(count_statements("DELETE", "shelf"), 1);
    assert_int_equal(volumes_left(), 3); /* the database's cascade took a's three */
    /* loaded, they are deleted by corm as with any cascade */
    OK(corm_get(t, Shelf, idb, &sh));
    OK(corm_load(t, sh, Shelf_volumes));
    assert_int_equal(sh->volumes.n, 3);
    clear_log();
    OK(corm_delete(t, sh));
    OK(corm_commit(t));
    assert_true(count_statements("DELETE", "volume") >= 1);
    assert_int_equal(volumes_left(), 0);
    corm_session_free(t);
}

/* A cascade to children nothing else hangs on (Note: no relationship of
 * its own, no key points at it), not loaded: DELETE ... WHERE article_id IN
 * (500 parents a statement), no SELECT of them. The notes the session
 * holds go as objects; one moved to a kept article stays; a new one
 * pointing at a deleted article is never written; a rollback brings all
 * back. */
static void cascade_deletes_unloaded_children_by_key(void **state)
{
    (void)state;
    enum { ARTICLES = 600 };
    Author *a = author("gil", ARTICLES, 2);
    Article *keep = corm_new(s, Article);
    keep->title = "keep";
    OK(corm_rel_add(s, a, Author_articles, keep));
    OK(corm_commit(s));
    assert_int_equal(rows("note"), 2 * ARTICLES);
    int64_t keep_id = keep->id;

    corm_session *t = corm_session_new(db);
    corm_query *q = corm_query_new(t, Article);
    corm_filter(q, corm_ne(Article_title, "keep"));
    corm_order_by(q, Article_id);
    Article **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, ARTICLES);
    Article *kept;
    OK(corm_get(t, Article, keep_id, &kept));
    /* notes held by the session, not through the collections */
    q = corm_query_new(t, Note);
    corm_filter(q, corm_in(Note_article_id, ((corm_value[]){ corm_val(v[0]->id), corm_val(v[1]->id) }), 2));
    corm_order_by(q, Note_id);
    Note **held;
    size_t nheld;
    OK(corm_all(q, &held, &nheld));
    assert_int_equal(nheld, 4);
    held[1]->article = kept; /* moved away: stays */
    Note *fresh = corm_new(t, Note);
    fresh->body = "late";
    fresh->article = v[2]; /* new, under an article about to go: never written */
    OK(corm_add(t, fresh));
    for (size_t i = 0; i < n; i++)
        OK(corm_delete(t, v[i]));

    /* a rollback undoes the flush and the deletes: every note back */
    OK(corm_flush(t));
    OK(corm_rollback(t));
    assert_int_equal(rows("note"), 2 * ARTICLES);
    assert_int_equal(rows("article"), ARTICLES + 1);

    held[1]->article = kept;
    for (size_t i = 0; i < n; i++)
        OK(corm_delete(t, v[i]));
    clear_log();
    OK(corm_commit(t));
    assert_int_equal(count_statements("SELECT", "note"), 0);
    assert_int_equal(count_statements("DELETE FROM \"note\" WHERE \"note\".\"article_id\" IN", "note"), 2);
    assert_int_equal(count_statements("INSERT", "note"), 0);
    assert_int_equal(rows("note"), 1); /* the one moved to the kept article */
    assert_int_equal(rows("article"), 1);
    char sql[96];
    corm_result *r;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM note WHERE article_id = %lld", (long long)keep_id);
    OK(corm_execute(t, sql, NULL, 0, &r));
    assert_int_equal(corm_result_int(r, 0, 0), 1);
    /* the held notes that went are no longer the session's */
    Note *gone;
    OK(corm_get(t, Note, held[0]->id, &gone));
    assert_null(gone);
    corm_session_free(t);
}

static void save_cascade_inserts_children_with_keys(void **state)
{
    (void)state;
    Author *a = author("ann", 2, 2);
    OK(corm_commit(s));
    assert_true(a->id > 0);
    assert_int_equal(rows("article"), 2);
    assert_int_equal(rows("note"), 4);
    corm_result *r;
    OK(corm_execute(s, "SELECT COUNT(*) FROM article WHERE author_id = ?", CORM_ARGS(a->id), &r));
    assert_int_equal(corm_result_int(r, 0, 0), 2);
    OK(corm_execute(s, "SELECT COUNT(*) FROM note n JOIN article a ON n.article_id = a.id "
                       "WHERE a.author_id = ?", CORM_ARGS(a->id), &r));
    assert_int_equal(corm_result_int(r, 0, 0), 4);
    /* a pointer set on a new object: its key follows */
    Article *x = corm_new(s, Article);
    x->title = "pointed";
    x->author = a;
    OK(corm_add(s, x));
    OK(corm_commit(s));
    assert_int_equal(x->author_id, a->id);
}

static void lazy_loading_goes_through_the_identity_map(void **state)
{
    (void)state;
    author("bob", 3, 0);
    OK(corm_commit(s));
    corm_session *t = corm_session_new(db);
    Author *b;
    corm_query *q = corm_query_new(t, Author);
    OK(corm_filter_by(q, "name", "bob"));
    OK(corm_one(q, &b));
    assert_int_equal(b->articles.n, 0); /* not loaded yet */
    clear_log();
    OK(corm_load(t, b, Author_articles));
    assert_int_equal(count_selects("article"), 1);
    assert_int_equal(b->articles.n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_ptr_equal(b->articles.items[i]->author, b); /* the back side is set */
    Article *first = b->articles.items[0];
    /* a many-to-one loaded in another session comes from its identity map */
    corm_session *u = corm_session_new(db);
    Article *other;
    OK(corm_get(u, Article, first->id, &other));
    assert_null(other->author);
    OK(corm_load(u, other, Article_author));
    Author *b_in_u;
    OK(corm_get(u, Author, b->id, &b_in_u));
    assert_ptr_equal(other->author, b_in_u);
    corm_session_free(u);
    /* a pointer the user changed is not loaded over */
    first->author = NULL;
    OK(corm_load(t, first, Article_author));
    assert_null(first->author);
    first->author = b;
    Author *again;
    OK(corm_get(t, Author, b->id, &again));
    assert_ptr_equal(again, b);
    /* one-to-one */
    Profile *p = corm_new(t, Profile);
    p->bio = "writer";
    p->author = b;
    OK(corm_add(t, p));
    OK(corm_commit(t));
    OK(corm_load(t, b, Author_profile));
    assert_ptr_equal(b->profile, p);
    corm_session_free(t);
}

static void selectin_runs_one_query_per_level(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        author(name, 3, 2);
    }
    OK(corm_commit(s));
    corm_session *t = corm_session_new(db);
    clear_log();
    corm_query *q = corm_query_new(t, Author);
    OK(corm_selectin(q, Author_articles, Article_notes));
    OK(corm_selectin(q, Author_profile));
    Author **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 4);
    assert_int_equal(count_selects("author"), 1);
    assert_int_equal(count_selects("article"), 1);
    assert_int_equal(count_selects("note"), 1);
    assert_int_equal(count_selects("profile"), 1);
    size_t notes = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i]->articles.n, 3);
        for (size_t k = 0; k < 3; k++) {
            assert_ptr_equal(v[i]->articles.items[k]->author, v[i]);
            notes += v[i]->articles.items[k]->notes.n;
        }
        assert_null(v[i]->profile);
    }
    assert_int_equal(notes, 24);
    /* by name, as a string; an unknown name is refused with the model named */
    corm_session_free(t);
    t = corm_session_new(db);
    clear_log();
    q = corm_query_new(t, Author);
    OK(corm_selectin_path(q, "articles.notes"));
    OK(corm_all(q, &v, &n));
    assert_int_equal(count_selects("note"), 1);
    assert_int_equal(v[0]->articles.items[0]->notes.n, 2);
    q = corm_query_new(t, Author);
    assert_int_equal(corm_selectin_path(q, "articles.comments"), CORM_EINVAL);
    assert_int_equal(corm_all(q, &v, &n), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(t), "Article has no relationship 'comments'"));
    /* a path that does not start at the query's model */
    q = corm_query_new(t, Author);
    assert_int_equal(corm_selectin(q, Article_notes), CORM_EINVAL);
    assert_int_equal(corm_all(q, &v, &n), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(t), "Article.notes does not start at Author"));
    corm_session_free(t);
}

static void joinedload_runs_one_query(void **state)
{
    (void)state;
    author("x1", 3, 0);
    author("x2", 0, 0);
    author("x3", 2, 0);
    OK(corm_commit(s));
    corm_session *t = corm_session_new(db);
    clear_log();
    corm_query *q = corm_query_new(t, Author);
    OK(corm_joinedload(q, Author_articles));
    OK(corm_order_by(q, Author_name));
    Author **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 3);
    size_t selects = 0;
    for (size_t i = 0; i < nlog; i++)
        selects += strncmp(log_lines[i], "SELECT", 6) == 0;
    assert_int_equal(selects, 1);
    assert_non_null(strstr(log_lines[nlog - 1], "LEFT OUTER JOIN \"article\""));
    assert_int_equal(v[0]->articles.n, 3);
    assert_int_equal(v[1]->articles.n, 0);
    assert_int_equal(v[2]->articles.n, 2);
    assert_ptr_equal(v[2]->articles.items[1]->author, v[2]);
    /* many-to-one */
    Article **arts;
    q = corm_query_new(t, Article);
    OK(corm_joinedload(q, Article_author));
    OK(corm_limit(q, 2));
    OK(corm_all(q, &arts, &n));
    assert_int_equal(n, 2);
    assert_non_null(arts[0]->author);
    assert_string_equal(arts[0]->author->name, "x1");
    /* a limit with a to-many joinedload would count joined rows */
    q = corm_query_new(t, Author);
    OK(corm_joinedload(q, Author_articles));
    OK(corm_limit(q, 1));
    assert_int_equal(corm_all(q, &v, &n), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(t), "use corm_selectin"));
    q = corm_query_new(t, Author);
    assert_int_equal(corm_joinedload(q, Article_notes), CORM_EINVAL);
    corm_session_free(t);
}

static void selectin_chunks_large_key_sets(void **state)
{
    (void)state;
    for (int i = 0; i < 1200; i++) {
        Node *n = corm_new(s, Node);
        n->label = "leaf";
        OK(corm_add(s, n));
    }
    OK(corm_commit(s));
    corm_session *t = corm_session_new(db);
    clear_log();
    corm_query *q = corm_query_new(t, Node);
    OK(corm_filter(q, corm_is_null(Node_parent_id))); /* all 1200, but by a condition */
    OK(corm_selectin(q, Node_children));
    Node **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 1200);
    assert_int_equal(count_selects("node"), 1 + 3); /* the rows, then 500 + 500 + 200 keys */
    /* without a condition the query read the whole table: one scan of the children */
    clear_log();
    q = corm_query_new(t, Node);
    OK(corm_selectin(q, Node_children));
    OK(corm_all(q, &v, &n));
    assert_int_equal(count_selects("node"), 2);
    assert_non_null(strstr(log_lines[nlog - 1], "\"parent_id\" IS NOT NULL"));
    corm_session_free(t);
}

static void changing_and_removing(void **state)
{
    (void)state;
    Author *a = author("cat", 1, 2), *b = author("dan", 0, 0);
    OK(corm_commit(s));
    Article *ar = a->articles.items[0];
    /* move the article: assigning the pointer changes the key */
    ar->author = b;
    OK(corm_commit(s));
    assert_int_equal(ar->author_id, b->id);
    /* remove a note: delete-orphan deletes it */
    Note *gone = ar->notes.items[0];
    OK(corm_rel_remove(s, ar, Article_notes, gone));
    assert_int_equal(ar->notes.n, 1);
    OK(corm_commit(s));
    assert_int_equal(rows("note"), 1);
    /* the wrong model assigned to a pointer */
    Note *n = ar->notes.items[0];
    n->article = (Article *)(void *)b;
    assert_int_equal(corm_commit(s), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "Note.article: the object assigned is not a Article"));
    n->article = ar;
    OK(corm_commit(s));
    assert_int_equal(corm_rel_add(s, ar, Article_notes, b), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "holds Note objects, not a Author"));
}

static void delete_cascades_and_restrict(void **state)
{
    (void)state;
    Author *a = author("eve", 2, 3);
    author("fay", 1, 1);
    OK(corm_commit(s));
    OK(corm_delete(s, a));
    OK(corm_commit(s));
    assert_int_equal(rows("author"), 1);
    assert_int_equal(rows("article"), 1);
    assert_int_equal(rows("note"), 1);
    /* no cascade on the tree: a parent with children is refused by the key */
    Node *root = corm_new(s, Node), *leaf = corm_new(s, Node);
    root->label = "root";
    leaf->label = "leaf";
    OK(corm_rel_add(s, root, Node_children, leaf)); /* leaf before root in the table */
    OK(corm_add(s, leaf));
    OK(corm_add(s, root));
    OK(corm_commit(s));
    assert_int_equal(leaf->parent_id, root->id);
    OK(corm_delete(s, root));
    int rc = corm_commit(s);
    assert_int_equal(rc, CORM_EFOREIGNKEY);
    assert_non_null(strstr(corm_errmsg(s), "Node"));
    assert_int_equal(rows("node"), 2);
    OK(corm_add(s, root)); /* changed our mind: keep it */
    OK(corm_commit(s));
    assert_int_equal(rows("node"), 2);
    /* new objects pointing at each other: a cycle, refused clearly */
    Node *x = corm_new(s, Node), *y = corm_new(s, Node);
    x->parent = y;
    y->parent = x;
    OK(corm_add(s, x));
    assert_int_equal(corm_commit(s), CORM_ESTATE);
    assert_non_null(strstr(corm_errmsg(s), "cycle"));
    y->parent = NULL;
    OK(corm_commit(s));
    assert_int_equal(x->parent_id, y->id);
    assert_int_equal(rows("node"), 4);
}

static Tag *tag(const char *name)
{
    Tag *t = corm_new(s, Tag);
    t->name = name;
    return t;
}

static void many_to_many_through_an_association(void **state)
{
    (void)state;
    Author *a = author("hal", 2, 0);
    Tag *c = tag("c"), *sql = tag("sql"), *orm = tag("orm");
    Article *x = a->articles.items[0], *y = a->articles.items[1];
    OK(corm_rel_add(s, x, Article_tags, c));   /* the new tags are added too */
    OK(corm_rel_add(s, x, Article_tags, orm));
    OK(corm_rel_add(s, y, Article_tags, sql));
    OK(corm_rel_add(s, y, Article_tags, orm));
    OK(corm_rel_add(s, y, Article_tags, orm)); /* twice is once */
    OK(corm_commit(s));
    assert_int_equal(rows("tag"), 3);
    assert_int_equal(rows("article_tag"), 4);
    /* eager: one query for the tags of every article */
    corm_session *t = corm_session_new(db);
    clear_log();
    corm_query *q = corm_query_new(t, Article);
    OK(corm_order_by(q, Article_id));
    OK(corm_selectin(q, Article_tags));
    Article **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 2);
    assert_int_equal(count_selects("tag"), 1);
    assert_int_equal(v[0]->tags.n, 2);
    assert_int_equal(v[1]->tags.n, 2);
    /* lazy, from the other side */
    Tag *o;
    q = corm_query_new(t, Tag);
    OK(corm_filter_by(q, "name", "orm"));
    OK(corm_one(q, &o));
    OK(corm_load(t, o, Tag_articles));
    assert_int_equal(o->articles.n, 2);
    assert_ptr_equal(o->articles.items[0], v[0]); /* the identity map again */
    /* a link added in a savepoint that is rolled back is gone; earlier ones stay */
    Tag *extra = corm_new(t, Tag);
    extra->name = "extra";
    OK(corm_begin_nested(t));
    OK(corm_rel_add(t, v[0], Article_tags, extra));
    OK(corm_flush(t));
    OK(corm_rollback_nested(t));
    OK(corm_commit(t));
    assert_int_equal(rows("article_tag"), 4);
    /* remove one link, then delete an article: its links go with it */
    OK(corm_rel_remove(t, v[0], Article_tags, o));
    OK(corm_commit(t));
    assert_int_equal(rows("article_tag"), 3);
    OK(corm_delete(t, v[1]));
    OK(corm_commit(t));
    assert_int_equal(rows("article_tag"), 1);
    assert_int_equal(rows("tag"), 3);
    corm_session_free(t);
}

static void queries_across_relationships(void **state)
{
    (void)state;
    Author *a = author("ivy", 2, 1), *b = author("jon", 1, 0);
    author("kim", 0, 0);
    Tag *hot = tag("hot");
    OK(corm_rel_add(s, b->articles.items[0], Article_tags, hot));
    a->articles.items[0]->title = "About C";
    OK(corm_commit(s));
    Author **v;
    size_t n;
    /* join and filter on the joined model's column */
    corm_query *q = corm_query_new(s, Author);
    OK(corm_join(q, Author_articles));
    OK(corm_filter(q, corm_like(Article_title, "About%")));
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 1);
    assert_ptr_equal(v[0], a);
    /* join through many-to-many, two hops */
    q = corm_query_new(s, Author);
    OK(corm_join(q, Author_articles));
    OK(corm_join(q, Article_tags));
    OK(corm_filter(q, corm_eq(Tag_name, "hot")));
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 1);
    assert_ptr_equal(v[0], b);
    /* outer join: every author, ordered by a joined column */
    q = corm_query_new(s, Author);
    OK(corm_outerjoin(q, Author_articles));
    OK(corm_select(q, Author_name));
    OK(corm_select(q, Article_title));
    OK(corm_order_by(q, Author_name));
    OK(corm_order_by(q, Article_id));
    corm_result *r;
    OK(corm_rows(q, &r));
    assert_int_equal(corm_result_nrows(r), 4); /* ivy x2, jon, kim with NULL */
    assert_string_equal(corm_result_text(r, 3, 0), "kim");
    assert_int_equal(corm_result_value(r, 3, 1)->kind, CORM_V_NULL);
    /* several models a row: (author, article), outer so kim comes with NULL */
    q = corm_query_new(s, Author);
    OK(corm_outerjoin(q, Author_articles));
    OK(corm_add_entity(q, Article));
    OK(corm_order_by(q, Author_name));
    OK(corm_order_by(q, Article_id));
    void ***rows;
    OK(corm_tuples(q, &rows, &n));
    assert_int_equal(n, 4);
    assert_ptr_equal(rows[0][0], a);
    assert_ptr_equal(rows[0][1], a->articles.items[0]);
    assert_string_equal(((Author *)rows[3][0])->name, "kim");
    assert_null(rows[3][1]);
    q = corm_query_new(s, Author);
    OK(corm_add_entity(q, Tag));
    assert_int_equal(corm_tuples(q, &rows, &n), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "Tag is not joined"));
    /* any / has */
    q = corm_query_new(s, Author);
    OK(corm_filter(q, corm_any(Author_articles, NULL)));
    int64_t count;
    OK(corm_count(q, &count));
    assert_int_equal(count, 2);
    q = corm_query_new(s, Author);
    OK(corm_filter(q, corm_not(corm_any(Author_articles, corm_any(Article_notes, NULL)))));
    OK(corm_count(q, &count));
    assert_int_equal(count, 2); /* jon and kim: no article with notes */
    Article **arts;
    q = corm_query_new(s, Article);
    OK(corm_filter(q, corm_has(Article_author, corm_eq(Author_name, "jon"))));
    OK(corm_all(q, &arts, &n));
    assert_int_equal(n, 1);
    q = corm_query_new(s, Article);
    OK(corm_filter(q, corm_any(Article_tags, corm_eq(Tag_name, "hot"))));
    OK(corm_count(q, &count));
    assert_int_equal(count, 1);
    /* a subquery in IN */
    corm_query *sub = corm_query_new(s, Article);
    OK(corm_select(sub, Article_author_id));
    OK(corm_filter(sub, corm_like(Article_title, "About%")));
    q = corm_query_new(s, Author);
    OK(corm_filter(q, corm_in_query(Author_id, sub)));
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 1);
    assert_ptr_equal(v[0], a);
    /* bad: a column of a model not joined, a join that does not start here */
    q = corm_query_new(s, Author);
    OK(corm_filter(q, corm_eq(Tag_name, "hot")));
    assert_int_equal(corm_all(q, &v, &n), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "Tag.name used in a query of Author"));
    q = corm_query_new(s, Author);
    assert_int_equal(corm_join(q, Article_tags), CORM_EINVAL);
    q = corm_query_new(s, Node);
    assert_int_equal(corm_join(q, Node_children), CORM_EINVAL);
    /* along a relationship of a model to itself: the inner rows are aliased */
    Node *root = corm_new(s, Node), *leaf = corm_new(s, Node);
    root->label = "root";
    leaf->label = "leaf";
    OK(corm_rel_add(s, root, Node_children, leaf));
    OK(corm_add(s, root));
    OK(corm_commit(s));
    q = corm_query_new(s, Node);
    OK(corm_filter(q, corm_any(Node_children, corm_eq(Node_label, "leaf"))));
    Node *found;
    OK(corm_one(q, &found));
    assert_ptr_equal(found, root);
    q = corm_query_new(s, Node);
    OK(corm_filter(q, corm_has(Node_parent, corm_eq(Node_label, "root"))));
    OK(corm_one(q, &found));
    assert_ptr_equal(found, leaf);
    q = corm_query_new(s, Node);
    OK(corm_filter(q, corm_any(Node_children, corm_any(Node_children, NULL))));
    OK(corm_count(q, &count)); /* two levels: an alias each (no grandchild here) */
    assert_int_equal(count, 0);
}

static void database_side_actions(void **state)
{
    (void)state;
    /* ON DELETE SET NULL: the profile stays, unlinked; ON DELETE CASCADE:
     * deleting a tag by SQL removes its links */
    Author *a = author("zed", 1, 0);
    profile(a, "x");
    Tag *t = tag("gone");
    OK(corm_rel_add(s, a->articles.items[0], Article_tags, t));
    OK(corm_commit(s));
    corm_result *r;
    OK(corm_execute(s, "DELETE FROM tag WHERE name = 'gone'", NULL, 0, NULL));
    OK(corm_execute(s, "SELECT COUNT(*) FROM article_tag", NULL, 0, &r));
    assert_int_equal(corm_result_int(r, 0, 0), 0);
    OK(corm_execute(s, "DELETE FROM author WHERE name = 'nobody'", NULL, 0, NULL));
    if (!test_server_url()) { /* the DDL as SQLite keeps it */
        OK(corm_execute(s, "SELECT sql FROM sqlite_master WHERE name = 'profile'", NULL, 0, &r));
        assert_non_null(strstr(corm_result_text(r, 0, 0),
                               "REFERENCES \"author\" (\"id\") ON DELETE SET NULL"));
    } else if (strncmp(test_server_url(), "mysql", 5) == 0) { /* MariaDB's catalog */
        OK(corm_execute(s, "SELECT DELETE_RULE FROM information_schema.REFERENTIAL_CONSTRAINTS "
                           "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = 'profile'",
                        NULL, 0, &r));
        assert_string_equal(corm_result_text(r, 0, 0), "SET NULL");
    } else { /* PostgreSQL's catalog's word for it */
        OK(corm_execute(s, "SELECT confdeltype FROM pg_constraint WHERE conname LIKE 'profile_%' "
                           "AND contype = 'f'", NULL, 0, &r));
        assert_string_equal(corm_result_text(r, 0, 0), "n");
    }
    OK(corm_commit(s));
}

/* Loading and linking with the Nth allocation failing, for every N:
 * CORM_ENOMEM or success, nothing leaked, committed rows intact. */
static int relation_work(corm_session *t)
{
    corm_query *q = corm_query_new(t, Author);
    if (!q)
        return corm_errcode(t);
    corm_selectin(q, Author_articles, Article_notes);
    corm_selectin(q, Author_articles, Article_tags);
    Author **v;
    size_t n;
    int rc = corm_all(q, &v, &n);
    if (rc == CORM_OK) {
        corm_query *j = corm_query_new(t, Article);
        if (!j)
            return corm_errcode(t);
        corm_joinedload(j, Article_author);
        corm_filter(j, corm_any(Article_tags, NULL));
        Article **a;
        rc = corm_all(j, &a, &n);
    }
    if (rc == CORM_OK && n) {
        Tag *extra = corm_new(t, Tag);
        if (!extra)
            return corm_errcode(t);
        extra->name = "oom";
        rc = corm_rel_add(t, v[0]->articles.items[0], Article_tags, extra);
        if (rc == CORM_OK)
            rc = corm_load(t, v[0], Author_profile);
        if (rc == CORM_OK)
            rc = corm_commit(t);
    }
    return rc;
}

static void out_of_memory_while_loading_and_linking(void **state)
{
    (void)state;
    Author *a = author("oom", 2, 2);
    OK(corm_rel_add(s, a->articles.items[0], Article_tags, tag("t1")));
    OK(corm_commit(s));
    int64_t articles = rows("article");
    for (long n = 0; n < 5000; n++) {
        corm_session *t = corm_session_new(db);
        util_alloc_fail_after(n);
        int rc = t ? relation_work(t) : CORM_ENOMEM;
        bool injected = util_alloc_failed();
        util_alloc_fail_after(-1);
        if (rc != CORM_OK && rc != CORM_ENOMEM)
            fail_msg("allocation %ld: %s: %s", n, corm_err_name(rc), t ? corm_errmsg(t) : "");
        if (t) {
            OK(corm_rollback(t));
            corm_session_free(t);
        }
        assert_int_equal(rows("article"), articles);
        if (rc == CORM_OK && !injected) {
            assert_true(n > 0);
            return;
        }
        if (rc == CORM_OK) /* a link was committed before the failure: take it back */
            OK(corm_execute(s, "DELETE FROM article_tag WHERE tag_id IN (SELECT id FROM tag WHERE "
                               "name = 'oom')", NULL, 0, NULL));
        OK(corm_execute(s, "DELETE FROM tag WHERE name = 'oom'", NULL, 0, NULL));
        OK(corm_commit(s));
    }
    fail_msg("never succeeded");
}

/* corm_related loads on first use and tells "no row" from an error;
 * corm_is_loaded says when a field can be trusted. */
static void related_loads_on_first_use(void **state)
{
    (void)state;
    author("h1", 2, 0);
    Author *lonely = author("h2", 0, 0);
    Note *orphan = corm_new(s, Note);
    orphan->body = "no article";
    OK(corm_add(s, orphan));
    OK(corm_commit(s));
    int64_t lonely_id = lonely->id, orphan_id = orphan->id;
    corm_session *t = corm_session_new(db);
    corm_query *q = corm_query_new(t, Article);
    OK(corm_order_by(q, Article_id));
    Article **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 2);
    assert_false(corm_is_loaded(v[0], Article_author));
    assert_null(v[0]->author); /* not loaded: NULL says nothing */
    clear_log();
    Author *a = corm_related(t, v[0], Article_author); /* Post.user gives you the author */
    assert_non_null(a);
    assert_string_equal(a->name, "h1");
    assert_int_equal(corm_errcode(t), 0);
    assert_true(corm_is_loaded(v[0], Article_author));
    assert_int_equal(count_selects("author"), 1);
    assert_ptr_equal(corm_related(t, v[0], Article_author), a); /* loaded once */
    assert_int_equal(count_selects("author"), 1);
    /* to-many: the items after loading, n in the field */
    Article **arts = corm_related(t, a, Author_articles);
    assert_non_null(arts);
    assert_int_equal(a->articles.n, 2);
    assert_true(corm_is_loaded(a, Author_articles));
    /* "no row" is NULL with no error: a key that is NULL, an empty collection */
    Note *note;
    OK(corm_get(t, Note, orphan_id, &note));
    assert_null(corm_related(t, note, Note_article));
    assert_int_equal(corm_errcode(t), 0);
    assert_true(corm_is_loaded(note, Note_article));
    Author *alone;
    OK(corm_get(t, Author, lonely_id, &alone));
    assert_null(corm_related(t, alone, Author_articles));
    assert_int_equal(corm_errcode(t), 0);
    assert_int_equal(alone->articles.n, 0);
    /* an error is NULL with its code */
    assert_null(corm_related(t, note, Author_articles));
    assert_int_equal(corm_errcode(t), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(t), "Author.articles used on a Note"));
    assert_null(corm_related(s, note, Note_article)); /* another session's object */
    assert_int_equal(corm_errcode(s), CORM_EINVAL);
    assert_false(corm_is_loaded(NULL, Note_article));
    assert_false(corm_is_loaded(note, Author_articles));
    /* a new object's field is what was set, without SQL */
    Note *fresh = corm_new(t, Note);
    clear_log();
    assert_null(corm_related(t, fresh, Note_article));
    assert_int_equal(corm_errcode(t), 0);
    assert_int_equal(nlog, 0);
    /* out of memory while loading: NULL and CORM_ENOMEM, and the session goes on */
    Article *second = v[1];
    util_alloc_fail_after(0);
    void *got = corm_related(t, second, Article_notes);
    util_alloc_fail_after(-1);
    assert_null(got);
    assert_int_equal(corm_errcode(t), CORM_ENOMEM);
    assert_false(corm_is_loaded(second, Article_notes));
    assert_null(corm_related(t, second, Article_notes)); /* no notes */
    assert_int_equal(corm_errcode(t), 0);
    assert_true(corm_is_loaded(second, Article_notes));
    corm_session_free(t);
}

/* An expired article read again with another author (changed by another
 * session) no longer points at the old one: corm_related reads the new. */
static void expiring_follows_a_moved_key(void **state)
{
    (void)state;
    author("m1", 1, 0);
    Author *b = author("m2", 0, 0);
    OK(corm_commit(s));
    int64_t b_id = b->id;
    corm_session *t = corm_session_new(db);
    corm_query *q = corm_query_new(t, Article);
    Article **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    Author *first = corm_related(t, v[0], Article_author);
    assert_string_equal(first->name, "m1");
    Article *theirs;
    OK(corm_get(s, Article, v[0]->id, &theirs));
    theirs->author_id = b_id;
    OK(corm_commit(s));
    OK(corm_expire(t, v[0]));
    Article *again;
    OK(corm_get(t, Article, v[0]->id, &again));
    assert_int_equal(again->author_id, b_id);
    assert_false(corm_is_loaded(again, Article_author));
    assert_null(again->author);
    Author *now = corm_related(t, again, Article_author);
    assert_non_null(now);
    assert_string_equal(now->name, "m2");
    assert_false(corm_is_modified(t, again));
    OK(corm_commit(t)); /* nothing to write */
    corm_session_free(t);
}

/* A labelled tree: root -> a (a1, a2), b (b1). */
static Node *tree_node(const char *label, Node *parent)
{
    Node *n = corm_new(s, Node);
    n->label = label;
    n->parent = parent;
    OK(corm_add(s, n));
    return n;
}

static void labels(corm_query *q, char *out, size_t size)
{
    Node **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "", v[i]->label);
}

/* Aliases: a self-referential tree joined to its parents and children,
 * two levels up; any nested along the tree; filters and ordering on
 * either side. */
static void aliases_join_a_tree_to_itself(void **state)
{
    (void)state;
    Node *root = tree_node("root", NULL);
    Node *a = tree_node("a", root), *b = tree_node("b", root);
    tree_node("a1", a);
    tree_node("a2", a);
    tree_node("b1", b);
    OK(corm_commit(s));
    char got[128];
    /* children of a: the parent under an alias */
    corm_query *q = corm_query_new(s, Node);
    corm_alias *parent = corm_alias(q, Node);
    OK(corm_join_alias(q, NULL, Node_parent, parent));
    OK(corm_filter(q, corm_eq(corm_acol(parent, Node_label), "a")));
    OK(corm_order_by(q, corm_desc(Node_label)));
    labels(q, got, sizeof got);
    assert_string_equal(got, "a2 a1");
    /* grandchildren of root: two aliases, one joined from the other */
    q = corm_query_new(s, Node);
    corm_alias *p = corm_alias(q, Node), *g = corm_alias(q, Node);
    OK(corm_join_alias(q, NULL, Node_parent, p));
    OK(corm_join_alias(q, p, Node_parent, g));
    OK(corm_filter(q, corm_eq(corm_acol(g, Node_label), "root")));
    OK(corm_order_by(q, corm_acol(p, Node_label)));
    OK(corm_order_by(q, Node_label));
    labels(q, got, sizeof got);
    assert_string_equal(got, "a1 a2 b1");
    /* parents of a child starting with b, through the children under an alias */
    q = corm_query_new(s, Node);
    corm_alias *child = corm_alias(q, Node);
    OK(corm_join_alias(q, NULL, Node_children, child));
    OK(corm_filter(q, corm_startswith(corm_acol(child, Node_label), "b")));
    OK(corm_order_by(q, Node_label));
    labels(q, got, sizeof got);
    assert_string_equal(got, "b root"); /* b1's parent, and b's */
    /* any nested along the tree: nodes with a child that has a child a1 */
    q = corm_query_new(s, Node);
    OK(corm_filter(q, corm_any(Node_children, corm_any(Node_children, corm_eq(Node_label, "a1")))));
    labels(q, got, sizeof got);
    assert_string_equal(got, "root");
    q = corm_query_new(s, Node); /* and has along the parents: a node whose grandparent is root */
    OK(corm_filter(q, corm_any(Node_parent, corm_any(Node_parent, corm_eq(Node_label, "root")))));
    OK(corm_order_by(q, Node_label));
    labels(q, got, sizeof got);
    assert_string_equal(got, "a1 a2 b1");
    /* refusals, each with its sentence */
    q = corm_query_new(s, Node);
    assert_int_equal(corm_join(q, Node_parent), CORM_EINVAL);
    assert_int_equal(corm_count(q, &(int64_t){ 0 }), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "join it again under an alias"));
    q = corm_query_new(s, Node);
    corm_query *other = corm_query_new(s, Node);
    corm_alias *theirs = corm_alias(other, Node);
    OK(corm_join_alias(other, NULL, Node_parent, theirs));
    OK(corm_filter(q, corm_eq(corm_acol(theirs, Node_label), "a")));
    assert_int_equal(corm_count(q, &(int64_t){ 0 }), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "has not joined it"));
    q = corm_query_new(s, Node);
    corm_alias *unjoined = corm_alias(q, Node);
    OK(corm_filter(q, corm_eq(corm_acol(unjoined, Node_label), "a")));
    assert_int_equal(corm_count(q, &(int64_t){ 0 }), CORM_EINVAL);
    q = corm_query_new(s, Node);
    corm_alias *wrong = corm_alias(q, Node);
    OK(corm_join_alias(q, NULL, Node_parent, wrong));
    OK(corm_filter(q, corm_eq(corm_acol(wrong, Author_name), "x")));
    assert_int_equal(corm_count(q, &(int64_t){ 0 }), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "Author.name used through an alias of Node"));
    q = corm_query_new(s, Node);
    corm_alias *an = corm_alias(q, Author);
    assert_int_equal(corm_join_alias(q, NULL, Node_parent, an), CORM_EINVAL);
}

/* Two joins to one table along two relationships: a message's sender and
 * recipient, filtered, ordered and loaded as objects on both sides. */
static void aliases_join_one_table_twice(void **state)
{
    (void)state;
    Author *ann = author("ann", 0, 0), *bob = author("bob", 0, 0), *cy = author("cy", 0, 0);
    struct { const char *body; Author *from, *to; } sent[] = {
        { "hi bob", ann, bob }, { "hi ann", bob, ann }, { "hi cy", ann, cy }, { "yo cy", bob, cy },
    };
    for (size_t i = 0; i < 4; i++) {
        Message *m = corm_new(s, Message);
        m->body = sent[i].body;
        m->sender = sent[i].from;
        m->recipient = sent[i].to;
        OK(corm_add(s, m));
    }
    OK(corm_commit(s));
    corm_query *q = corm_query_new(s, Message);
    corm_alias *from = corm_alias(q, Author), *to = corm_alias(q, Author);
    OK(corm_join_alias(q, NULL, Message_sender, from));
    OK(corm_join_alias(q, NULL, Message_recipient, to));
    OK(corm_filter(q, corm_eq(corm_acol(from, Author_name), "ann")));
    OK(corm_order_by(q, corm_desc(corm_acol(to, Author_name))));
    OK(corm_add_alias(q, from));
    OK(corm_add_alias(q, to));
    void ***rows;
    size_t n;
    OK(corm_tuples(q, &rows, &n));
    assert_int_equal(n, 2);
    assert_string_equal(((Message *)rows[0][0])->body, "hi cy");
    assert_ptr_equal(rows[0][1], ann); /* the session's objects, through the identity map */
    assert_ptr_equal(rows[0][2], cy);
    assert_ptr_equal(rows[1][2], bob);
    /* messages to cy, sent by someone whose name is not ann */
    q = corm_query_new(s, Message);
    from = corm_alias(q, Author);
    to = corm_alias(q, Author);
    OK(corm_join_alias(q, NULL, Message_recipient, to));
    OK(corm_join_alias(q, NULL, Message_sender, from));
    OK(corm_filter(q, corm_and(corm_eq(corm_acol(to, Author_name), "cy"),
                               corm_ne(corm_acol(from, Author_name), "ann"))));
    Message **ms;
    OK(corm_all(q, &ms, &n));
    assert_int_equal(n, 1);
    assert_string_equal(ms[0]->body, "yo cy");
    /* an alias and the table itself in one query */
    q = corm_query_new(s, Message);
    to = corm_alias(q, Author);
    OK(corm_join(q, Message_sender));
    OK(corm_join_alias(q, NULL, Message_recipient, to));
    OK(corm_filter(q, corm_eq(Author_name, "bob")));
    OK(corm_filter(q, corm_eq(corm_acol(to, Author_name), "ann")));
    OK(corm_all(q, &ms, &n));
    assert_int_equal(n, 1);
    assert_string_equal(ms[0]->body, "hi ann");
}

static void lazy_loads_one_at_a_time_are_reported(void **state)
{
    (void)state;
    author("g1", 1, 0);
    author("g2", 1, 0);
    author("g3", 1, 0);
    OK(corm_commit(s));
    corm_session *t = corm_session_new(db);
    corm_query *q = corm_query_new(t, Author);
    Author **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    OK(corm_load(t, v[0], Author_articles));
    assert_string_equal(warning, "");
    OK(corm_load(t, v[1], Author_articles));
    assert_non_null(strstr(warning, "N+1: Author.articles"));
    assert_non_null(strstr(warning, "corm_selectin(q, Author_articles)"));
    corm_session_free(t);
    /* corm_related one object at a time is the same pattern */
    warning[0] = '\0';
    t = corm_session_new(db);
    q = corm_query_new(t, Author);
    OK(corm_all(q, &v, &n));
    for (size_t i = 0; i < n; i++)
        assert_non_null(corm_related(t, v[i], Author_articles));
    assert_non_null(strstr(warning, "N+1: Author.articles"));
    corm_session_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_declarations_are_refused),
        cmocka_unit_test_setup_teardown(related_loads_on_first_use, setup, teardown),
        cmocka_unit_test_setup_teardown(expiring_follows_a_moved_key, setup, teardown),
        cmocka_unit_test_setup_teardown(aliases_join_a_tree_to_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(aliases_join_one_table_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(save_cascade_inserts_children_with_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(cascade_deletes_unloaded_children_by_key, setup, teardown),
        cmocka_unit_test_setup_teardown(passive_deletes_leave_children_to_the_database, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(lazy_loading_goes_through_the_identity_map, setup, teardown),
        cmocka_unit_test_setup_teardown(selectin_runs_one_query_per_level, setup, teardown),
        cmocka_unit_test_setup_teardown(selectin_chunks_large_key_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(joinedload_runs_one_query, setup, teardown),
        cmocka_unit_test_setup_teardown(changing_and_removing, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_cascades_and_restrict, setup, teardown),
        cmocka_unit_test_setup_teardown(lazy_loads_one_at_a_time_are_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(many_to_many_through_an_association, setup, teardown),
        cmocka_unit_test_setup_teardown(queries_across_relationships, setup, teardown),
        cmocka_unit_test_setup_teardown(out_of_memory_while_loading_and_linking, setup, teardown),
        cmocka_unit_test_setup_teardown(database_side_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(merge_follows_relationships, setup, teardown),
        cmocka_unit_test_setup_teardown(merge_replaces_what_it_names, setup, teardown),
        cmocka_unit_test_setup_teardown(merge_brings_another_sessions_graph, setup, teardown),
        cmocka_unit_test_setup_teardown(unique_value_passed_on_in_one_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(update_waits_for_the_insert_it_points_at, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
