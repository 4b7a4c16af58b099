/*
 * test_oom_sweep.c — out-of-memory at every allocation of every workload
 * (issue 11), as SQLite's fault simulator does: a workload runs with its
 * Nth allocation failing (and every one after it), for N = 0, 1, 2, ...
 * until it completes without meeting the fault.
 *
 * After each run: every call returned CORM_OK or CORM_ENOMEM (a workload
 * stops at the first other code, which fails the test); the database holds
 * exactly what the workload committed before the fault (compared with a
 * dump of every table taken at each of its commits); the session rolls
 * back and commits new work; nothing leaks (ASan, valgrind). The
 * workloads: the quickstart, CRUD over every type, every query form,
 * relationships with each loading strategy (and loads large enough to
 * outgrow a small load's scratch), flush with cascades and
 * delete-orphan, corm_related, expiry, merge, upsert, aliases and escaped
 * search, and migrations (autogenerate, upgrade, schema check, downgrade).
 * On SQLite every workload is swept once more with
 * SQLite's own allocations failing (test_sqlite_hook), N = 0, 1, 2, ...
 * and every one after the Nth. CORM_OOM_STEP=k runs every kth N only
 * (make test's short form); make test-oom runs them all and prints the
 * number of injection points.
 */
#include "common.h"
#include "util/alloc.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CORM_DEFINE_MODELS

#define WRITER_FIELDS(COLUMN, RELATION)                                        \
    COLUMN(id,   CORM_INTEGER,    CORM_PRIMARY_KEY)                             \
    COLUMN(name, CORM_STRING(40), CORM_NOT_NULL | CORM_UNIQUE)                  \
    COLUMN(born, CORM_DATE,       0)                                            \
    RELATION(books,   CORM_ONE_TO_MANY(Book, writer), CORM_CASCADE(CORM_CASCADE_DELETE)) \
    RELATION(address, CORM_ONE_TO_ONE(Address, writer))
CORM_MODEL(Writer, "writer", WRITER_FIELDS)

#define BOOK_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,        CORM_INTEGER,       CORM_PRIMARY_KEY)                     \
    COLUMN(title,     CORM_STRING(80),    CORM_NOT_NULL)                        \
    COLUMN(price,     CORM_NUMERIC(10, 2), 0)                                   \
    COLUMN(writer_id, CORM_INTEGER,       CORM_NOT_NULL | CORM_INDEX, CORM_FK(Writer, id)) \
    RELATION(writer,   CORM_MANY_TO_ONE(Writer, writer_id, books))             \
    RELATION(chapters, CORM_ONE_TO_MANY(Chapter, book),                        \
             CORM_CASCADE(CORM_CASCADE_DELETE | CORM_DELETE_ORPHAN))           \
    RELATION(genres,   CORM_MANY_TO_MANY(Genre, BookGenre, books))
CORM_MODEL(Book, "book", BOOK_FIELDS)

#define CHAPTER_FIELDS(COLUMN, RELATION)                                       \
    COLUMN(id,      CORM_INTEGER, CORM_PRIMARY_KEY)                             \
    COLUMN(body,    CORM_TEXT,    0)                                            \
    COLUMN(book_id, CORM_INTEGER, 0, CORM_FK(Book, id))                         \
    RELATION(book, CORM_MANY_TO_ONE(Book, book_id, chapters))
CORM_MODEL(Chapter, "chapter", CHAPTER_FIELDS)

#define GENRE_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,   CORM_INTEGER,    CORM_PRIMARY_KEY)                             \
    COLUMN(name, CORM_STRING(20), CORM_UNIQUE | CORM_NOT_NULL)                  \
    RELATION(books, CORM_MANY_TO_MANY(Book, BookGenre, genres))
CORM_MODEL(Genre, "genre", GENRE_FIELDS)

#define BOOK_GENRE_FIELDS(COLUMN, RELATION)                                    \
    COLUMN(id,       CORM_INTEGER, CORM_PRIMARY_KEY)                            \
    COLUMN(book_id,  CORM_INTEGER, CORM_NOT_NULL, CORM_FK(Book, id), CORM_ON_DELETE(CORM_FK_CASCADE)) \
    COLUMN(genre_id, CORM_INTEGER, CORM_NOT_NULL, CORM_FK(Genre, id), CORM_ON_DELETE(CORM_FK_CASCADE))
CORM_MODEL(BookGenre, "book_genre", BOOK_GENRE_FIELDS, CORM_UNIQUE_TOGETHER("book_id", "genre_id"))

#define ADDRESS_FIELDS(COLUMN, RELATION)                                       \
    COLUMN(id,        CORM_INTEGER,    CORM_PRIMARY_KEY)                        \
    COLUMN(city,      CORM_STRING(40), 0)                                       \
    COLUMN(writer_id, CORM_INTEGER,    CORM_UNIQUE, CORM_FK(Writer, id), CORM_ON_DELETE(CORM_FK_SET_NULL)) \
    RELATION(writer, CORM_MANY_TO_ONE(Writer, writer_id, address))
CORM_MODEL(Address, "address", ADDRESS_FIELDS)

static const corm_model *const models[] = { Writer_model, Book_model, Chapter_model, Genre_model,
                                             BookGenre_model, Address_model, Kitchen_model, NULL };

static corm_engine *db;
static char dir[64], path[128], url[600], migrations[128];
static char *committed;       /* the dump at the workload's last commit */
static long points_total;     /* allocations that were made to fail, over all sweeps */

/* ---- the database as text ---------------------------------------------------------- */

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        assert_non_null(*buf);
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

typedef struct text {
    char *buf;
    size_t len, cap;
} text;

static void add_cells(void *ud, int n, const char *const *cells)
{
    text *t = ud;
    for (int i = 0; i < n; i++) {
        append(&t->buf, &t->len, &t->cap, cells[i] ? cells[i] : "NULL");
        append(&t->buf, &t->len, &t->cap, "|");
    }
    append(&t->buf, &t->len, &t->cap, "\n");
}

/* Every row of every table there is (corm's version table too), read with
 * the database's own client library, whose allocations are not the ones
 * made to fail. */
static char *dump(void)
{
    long sqlite_left = test_sqlite_pause(); /* SQLite's allocations here are the test's */
    text names = { 0 }, out = { 0 };
    append(&names.buf, &names.len, &names.cap, "");
    append(&out.buf, &out.len, &out.cap, "");
    const char *catalog =
        strncmp(url, "sqlite", 6) == 0 ? "SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        : strncmp(url, "postgres", 8) == 0 ? "SELECT tablename FROM pg_tables WHERE schemaname = "
                                             "current_schema() ORDER BY 1"
                                           : "SELECT table_name FROM information_schema.tables "
                                             "WHERE table_schema = DATABASE() ORDER BY 1";
    db_each(url, catalog, add_cells, &names);
    for (char *line = names.buf, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        *end = '\0';
        line[strlen(line) - 1] = '\0'; /* the cell's '|' */
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1", line);
        size_t mark = out.len;
        append(&out.buf, &out.len, &out.cap, line);
        append(&out.buf, &out.len, &out.cap, ":\n");
        size_t head = out.len;
        db_each(url, sql, add_cells, &out);
        if (out.len == head && strncmp(line, "corm_version", 12) == 0)
            out.buf[out.len = mark] = '\0'; /* an empty version table says "base", as none does */
    }
    free(names.buf);
    test_sqlite_resume(sqlite_left);
    return out.buf;
}

/* What a workload calls after each commit that succeeded. */
static void mark_committed(void)
{
    char *now = dump();
    free(committed);
    committed = now;
}

/* Commit, and remember what is now committed. */
static int commit(corm_session *s)
{
    int rc = corm_commit(s);
    if (rc == CORM_OK)
        mark_committed();
    return rc;
}

/* The writer of that name (ids differ between runs on a server: the
 * tables are emptied, not made again). */
static int writer_named(corm_session *s, const char *name, Writer **out)
{
    corm_query *q = corm_query_new(s, Writer);
    if (!q)
        return corm_errcode(s);
    corm_filter(q, corm_eq(Writer_name, name));
    return corm_one(q, (void **)out);
}

#define TRY(x) do { int rc_ = (x); if (rc_ != CORM_OK) return rc_; } while (0)
#define NEW(s, M, v) do { if (!((v) = corm_new((s), M))) return corm_errcode(s); } while (0)
#define QUERY(s, M, q) do { if (!((q) = corm_query_new((s), M))) return corm_errcode(s); } while (0)

/* ---- the sweep ----------------------------------------------------------------------- */

typedef int (*workload)(corm_session *s, int round);

/* Every kth allocation is made to fail: CORM_OOM_STEP, else all of them on
 * SQLite, every 5th under valgrind, every 4th on PostgreSQL and every 8th
 * on MariaDB (whose DDL, run afresh for each, is slow); of SQLite's own,
 * every 5th (every 200th under valgrind: ASan is the leak check that
 * covers them); make test-oom sets CORM_OOM_STEP=1 everywhere. */
static bool every_point; /* a small workload: swept at every allocation whatever the step */
static bool sqlite_allocs;
static long step(void)
{
    const char *e = getenv("CORM_OOM_STEP");
    if (every_point)
        return 1;
    long k = e ? atol(e)
           : sqlite_allocs ? (getenv("CORM_UNDER_VALGRIND") ? 200 : 5) /* 13,175 in all */
           : getenv("CORM_UNDER_VALGRIND") ? 5
           : strncmp(url, "postgres", 8) == 0 ? 4
           : strncmp(url, "sqlite", 6) != 0 ? 8 : 1;
    return k > 0 ? k : 1;
}

/* The models' tables, empty: made once, then emptied child first (cheaper
 * than making them again on a server). */
static void fresh(void)
{
    static const char *const child_first[] = { "kitchen", "address", "book_genre", "genre",
                                               "chapter", "book", "writer" };
    if (corm_create_all(db) != CORM_OK)
        fail_msg("fresh tables: %s", corm_engine_errmsg(db));
    for (size_t i = 0; i < sizeof child_first / sizeof *child_first; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "DELETE FROM %s", child_first[i]);
        db_exec(url, sql);
    }
}

/* Whose allocations fail (sqlite_allocs): corm's own (its allocator's
 * hook), or SQLite's (test_sqlite_hook), which corm must survive as it
 * survives its own: SQLite then fails the statement, or rolls back the
 * whole transaction. */

static void arm(bool transient, long n)
{
    if (sqlite_allocs)
        test_sqlite_fail_after(n);
    else if (transient)
        util_alloc_fail_once(n);
    else
        util_alloc_fail_after(n);
}

static bool disarm(void)
{
    bool injected = sqlite_allocs ? test_sqlite_failed() : util_alloc_failed();
    util_alloc_fail_after(-1);
    test_sqlite_fail_after(-1);
    return injected;
}

/* The sweep's mode (arm's transient), for the workloads that prepare their
 * data unarmed and arm the fault themselves. */
static bool armed_once;
static int migrate(corm_session *s, int round);
static void after_migrations(long n);

/* A workload with its Nth allocation failing, for every N until it
 * completes untouched. fn runs with a session on fresh tables; NULL runs
 * the migrations, which prepare their database and arm the fault
 * themselves. */
static void sweep_mode(workload fn, const char *name, bool transient)
{
    long points = 0, k = step();
    armed_once = transient;
    for (long n = 0; n < 100000; n += k) {
        corm_session *s = NULL;
        int rc;
        if (fn) {
            fresh();
            mark_committed();
            s = corm_session_new(db);
            assert_non_null(s);
            arm(transient, n);
            rc = fn(s, (int)n);
        } else {
            rc = migrate(NULL, (int)n);
        }
        bool injected = disarm();
        if (rc != CORM_OK && rc != CORM_ENOMEM)
            fail_msg("%s, allocation %ld failing: %s: %s", name, n, corm_err_name(rc),
                     s ? corm_errmsg(s) : corm_engine_errmsg(db));
        if (rc == CORM_OK && !injected) {
            corm_session_free(s);
            printf("# %s: %ld %sallocations made to fail (%s), one run each\n", name, points,
                   sqlite_allocs ? "of SQLite's " : "",
                   transient ? "that one only" : "and every one after it");
            points_total += points;
            assert_true(points > 0);
            return;
        }
        points++;
        /* the database holds exactly what was committed before the fault */
        char *now = dump();
        if (strcmp(now, committed) != 0)
            fail_msg("%s, allocation %ld failing (%s): the database is not as last committed:\n"
                     "committed:\n%s\nnow:\n%s", name, n, corm_err_name(rc), committed, now);
        free(now);
        if (!s) {
            after_migrations(n);
            continue;
        }
        /* and the session rolls back and goes on */
        OK(corm_rollback(s));
        Genre *g = corm_new(s, Genre);
        assert_non_null(g);
        char label[20];
        snprintf(label, sizeof label, "after%ld", n);
        g->name = corm_strdup(s, label);
        OK(corm_add(s, g));
        OK(corm_commit(s));
        corm_session_free(s);
    }
    fail_msg("%s never completed", name);
}

static void sweep(workload fn, const char *name)
{
    sweep_mode(fn, name, false);
    sweep_mode(fn, name, true);
    if (strncmp(url, "sqlite", 6) == 0) {
        sqlite_allocs = true;
        sweep_mode(fn, name, false);
        sqlite_allocs = false;
    }
}

/* ---- workloads ------------------------------------------------------------------------ */

/* The quickstart's story: add, query, change, delete. */
static int quickstart(corm_session *s, int round)
{
    (void)round;
    Writer *w;
    NEW(s, Writer, w);
    w->name = "ada";
    TRY(corm_add(s, w));
    TRY(commit(s));
    corm_query *q;
    QUERY(s, Writer, q);
    TRY(corm_filter_by(q, "name", "ada"));
    Writer *found;
    TRY(corm_one(q, (void **)&found));
    found->name = "ada lovelace";
    TRY(commit(s));
    TRY(corm_delete(s, found));
    return commit(s);
}

/* Every type written, read back, changed, NULLed. */
static int crud_types(corm_session *s, int round)
{
    (void)round;
    Kitchen *k;
    NEW(s, Kitchen, k);
    k->i = 7;
    k->big = 1LL << 40;
    k->flag = true;
    k->f = 2.5;
    TRY(corm_numeric_parse("12345.6789", &k->num));
    k->s = "short";
    k->t = "a longer text";
    TRY(corm_date_parse("2024-02-29", &k->d));
    TRY(corm_time_parse("12:34:56.5", &k->tm));
    TRY(corm_datetime_parse("2024-02-29 12:34:56", &k->dt));
    k->blob.data = (unsigned char *)"\x01\x02\x03";
    k->blob.len = 3;
    k->json = "{\"a\": [1, 2, null]}";
    k->prio = PRIO_HIGH;
    TRY(corm_add(s, k));
    TRY(commit(s));
    TRY(corm_refresh(s, k));
    k->s = "changed";
    TRY(corm_set_null(k, Kitchen_d, true));
    TRY(commit(s));
    Kitchen *again;
    TRY(corm_get(s, Kitchen, k->id, &again));
    TRY(corm_delete(s, again));
    return commit(s);
}

static int seed(corm_session *s)
{
    const char *names[] = { "ann", "bob", "cid" };
    Genre *g[2];
    for (int i = 0; i < 2; i++) {
        NEW(s, Genre, g[i]);
        g[i]->name = i ? "poetry" : "novel";
        TRY(corm_add(s, g[i]));
    }
    for (int i = 0; i < 3; i++) {
        Writer *w;
        NEW(s, Writer, w);
        w->name = names[i];
        TRY(corm_add(s, w));
        Address *a;
        NEW(s, Address, a);
        a->city = "paris";
        a->writer = w;
        TRY(corm_add(s, a));
        for (int b = 0; b < 2; b++) {
            Book *bk;
            NEW(s, Book, bk);
            bk->title = b ? "second" : "first";
            TRY(corm_rel_add(s, w, Writer_books, bk));
            TRY(corm_rel_add(s, bk, Book_genres, g[(i + b) % 2]));
            Chapter *c;
            NEW(s, Chapter, c);
            c->body = "it was a dark night";
            TRY(corm_rel_add(s, bk, Book_chapters, c));
        }
    }
    return commit(s);
}

/* Every query form. */
static int queries(corm_session *s, int round)
{
    (void)round;
    TRY(seed(s));
    corm_query *q, *sub, *a;
    void **v;
    size_t n;
    QUERY(s, Writer, q);
    corm_value in[] = { corm_val(1), corm_val(2) };
    TRY(corm_filter(q, corm_or(corm_in(Writer_id, in, 2), corm_like(Writer_name, "b%"),
                               corm_and(corm_between(Writer_id, 1, 9), corm_not_in(Writer_id, in, 2)),
                               corm_is_null(Writer_born))));
    TRY(corm_order_by(q, corm_desc(Writer_name)));
    TRY(corm_limit(q, 10));
    TRY(corm_offset(q, 0));
    TRY(corm_all(q, &v, &n));
    int64_t count;
    bool exists;
    TRY(corm_count(q, &count));
    TRY(corm_exists(q, &exists));
    corm_page pg;
    QUERY(s, Writer, q);
    TRY(corm_paginate(q, 1, 2, &pg));
    QUERY(s, Writer, q);
    TRY(corm_filter(q, corm_has(Writer_books, corm_eq(Book_title, "first"))));
    TRY(corm_distinct(q));
    Writer *w;
    TRY(corm_first(q, (void **)&w));
    QUERY(s, Book, sub);
    TRY(corm_select(sub, Book_writer_id));
    TRY(corm_filter(sub, corm_ne(Book_title, "none")));
    QUERY(s, Writer, q);
    TRY(corm_filter(q, corm_in_query(Writer_id, sub)));
    TRY(corm_one_or_none(q, (void **)&w) == CORM_EMULTIPLE ? CORM_OK : corm_errcode(s));
    QUERY(s, Book, q);
    TRY(corm_join(q, Book_writer));
    TRY(corm_add_entity(q, Writer));
    TRY(corm_filter(q, corm_eq(Writer_name, "ann")));
    void ***rows;
    TRY(corm_tuples(q, &rows, &n));
    QUERY(s, Book, a);
    TRY(corm_select(a, Book_writer_id));
    TRY(corm_select(a, corm_count_all()));
    TRY(corm_group_by(a, Book_writer_id));
    TRY(corm_having(a, corm_gt(corm_count_all(), 1)));
    corm_result *r;
    TRY(corm_rows(a, &r));
    QUERY(s, Writer, sub);
    TRY(corm_filter(sub, corm_gt(Writer_id, 1)));
    QUERY(s, Writer, q);
    TRY(corm_select_from(q, sub));
    TRY(corm_all(q, &v, &n));
    TRY(corm_execute_objects(s, Writer, "SELECT * FROM writer WHERE id > ?", CORM_ARGS(1), &v, &n));
    TRY(corm_execute(s, "SELECT count(*) FROM book", NULL, 0, &r));
    QUERY(s, Book, q); /* streamed, two at a time */
    TRY(corm_yield_per(q, 2));
    size_t streamed = 0;
    do {
        TRY(corm_next_batch(q, &v, &n));
        streamed += n;
    } while (n);
    if (streamed != 6)
        fail_msg("streamed %zu books of 6", streamed);
    QUERY(s, Book, q);
    TRY(corm_filter(q, corm_eq(Book_title, "second")));
    TRY(corm_set(q, Book_title, "2nd"));
    int64_t changed;
    TRY(corm_update(q, &changed));
    QUERY(s, Chapter, q);
    TRY(corm_filter(q, corm_gt(Chapter_id, 4)));
    TRY(corm_delete_where(q, &changed));
    return commit(s);
}

/* Each loading strategy along each kind of relationship. */
static int relationships(corm_session *s, int round)
{
    (void)round;
    TRY(seed(s));
    corm_session_reset(s);
    Writer *w;
    TRY(writer_named(s, "ann", &w));
    TRY(corm_load(s, w, Writer_books));   /* one-to-many, lazily */
    TRY(corm_load(s, w, Writer_address)); /* one-to-one */
    if (w->books.n) {
        Book *b = w->books.items[0];
        TRY(corm_load(s, b, Book_genres)); /* many-to-many */
        TRY(corm_load(s, b, Book_writer)); /* many-to-one */
    }
    corm_query *q;
    Writer **ws;
    size_t n;
    QUERY(s, Writer, q);
    TRY(corm_selectin(q, Writer_books, Book_chapters));
    TRY(corm_all(q, &ws, &n));
    QUERY(s, Writer, q);
    TRY(corm_selectin_path(q, "books.genres"));
    TRY(corm_all(q, &ws, &n));
    QUERY(s, Book, q);
    Book **bs;
    TRY(corm_joinedload(q, Book_writer));
    TRY(corm_all(q, &bs, &n));
    QUERY(s, Writer, q);
    TRY(corm_joinedload(q, Writer_books));
    TRY(corm_all(q, &ws, &n));
    Genre *g;
    NEW(s, Genre, g);
    g->name = "essay";
    if (n)
        TRY(corm_rel_add(s, ws[0]->books.items[0], Book_genres, g));
    return commit(s);
}

/* Deletes that cascade, and an orphan deleted. */
static int cascades(corm_session *s, int round)
{
    (void)round;
    TRY(seed(s));
    Writer *w;
    TRY(writer_named(s, "bob", &w));
    TRY(corm_load(s, w, Writer_books));
    Book *b = w->books.items[0];
    TRY(corm_load(s, b, Book_chapters));
    TRY(corm_rel_remove(s, b, Book_chapters, b->chapters.items[0])); /* an orphan: deleted */
    TRY(commit(s));
    Writer *gone;
    TRY(writer_named(s, "ann", &gone));
    TRY(corm_delete(s, gone)); /* its books and their chapters with it */
    TRY(corm_begin_nested(s));
    TRY(corm_delete(s, w));
    TRY(corm_rollback_nested(s));
    return commit(s);
}

/* What SQLAlchemy users reach for next: a relationship loaded on first
 * use, expiry, merge, upsert, aliases and a user's text searched. */
static int reached_for_next(corm_session *s, int round)
{
    (void)round;
    TRY(seed(s));
    corm_session_reset(s);
    Writer *w;
    TRY(writer_named(s, "ann", &w));
    if (!corm_related(s, w, Writer_books) && corm_errcode(s))
        return corm_errcode(s);
    TRY(corm_expire(s, w));
    Writer *again;
    TRY(corm_get(s, Writer, w->id, &again));
    /* merged with her books, one more than she has (the walk, the
     * collection loaded and replaced) */
    Book more = { .title = "merged", .writer_id = w->id };
    Book *books[8];
    size_t nb = 0;
    for (size_t i = 0; i < w->books.n && nb < 7; i++)
        books[nb++] = w->books.items[i];
    books[nb++] = &more;
    Writer src = { .id = w->id, .name = "ann", .born = { 1970, 1, 2 },
                   .books = { books, nb, nb } };
    Writer *merged;
    TRY(corm_merge(s, Writer, &src, &merged));
    Writer *up[2], *got[2]; /* two rows, one statement */
    NEW(s, Writer, up[0]);
    NEW(s, Writer, up[1]);
    up[0]->name = "dee";
    up[1]->name = "bob";
    TRY(corm_upsert(s, Writer, up, 2, Writer_name, got));
    corm_query *q;
    QUERY(s, Book, q);
    corm_alias *by = corm_alias(q, Writer);
    TRY(corm_join_alias(q, NULL, Book_writer, by));
    TRY(corm_filter(q, corm_contains(corm_acol(by, Writer_name), "n%")));
    Book **bs;
    size_t n;
    TRY(corm_all(q, &bs, &n));
    return commit(s);
}

/* Migrations: a revision written from the models, applied, checked, undone. */
static int migrate(corm_session *s, int round)
{
    (void)s;
    /* (not under the fault: the sweep's start) an empty database, no folder */
    test_rm_rf(migrations);
    OK(corm_drop_all(db));
    db_exec(url, "DROP TABLE IF EXISTS corm_version");
    mark_committed();
    arm(armed_once, round);
    TRY(corm_migrate_init(db, migrations));
    char id[64];
    int made = corm_migrate_autogenerate(db, migrations, "the models", NULL, id, sizeof id);
    if (made < 0)
        return made;
    TRY(corm_migrate_upgrade(db, migrations, "head", NULL));
    mark_committed();
    corm_schema_diff *d;
    int checked = corm_check_schema(db, &d);
    if (checked < 0)
        return checked;
    size_t diffs = corm_schema_diff_count(d);
    if (diffs) {
        char first[512];
        snprintf(first, sizeof first, "%s", corm_schema_diff_line(d, 0));
        corm_schema_diff_free(d);
        fail_msg("allocation %d failing: the upgraded schema differs from the models in %zu "
                 "ways, first: %s", round, diffs, first);
    }
    corm_schema_diff_free(d);
    TRY(corm_migrate_downgrade(db, migrations, "base", NULL));
    mark_committed();
    TRY(corm_migrate_upgrade(db, migrations, "head", NULL));
    mark_committed();
    return CORM_OK;
}

/* Loads larger than the other workloads' few rows, which keep a load's
 * scratch on the stack: here a lazy collection of 120 grows its arrays
 * on the heap and allocates attach's scratch, a selectin over 10
 * parents allocates their keys, and so does one of the 120 books'
 * writer. The rows are made unarmed; only the loads are swept. */
static int large_loads(corm_session *s, int round)
{
    util_alloc_fail_after(-1);
    static const char *const names[] = { "w0", "w1", "w2", "w3", "w4",
                                         "w5", "w6", "w7", "w8", "w9" };
    Writer *first = NULL;
    for (int i = 0; i < 10; i++) {
        Writer *w;
        NEW(s, Writer, w);
        w->name = (char *)names[i];
        TRY(corm_add(s, w));
        if (!first)
            first = w;
    }
    for (int b = 0; b < 120; b++) {
        Book *bk;
        NEW(s, Book, bk);
        bk->title = "volume";
        TRY(corm_rel_add(s, first, Writer_books, bk));
    }
    TRY(commit(s));
    corm_session_reset(s);
    arm(armed_once, round);
    Writer *w;
    TRY(writer_named(s, "w0", &w));
    TRY(corm_load(s, w, Writer_books));
    if (w->books.n != 120)
        fail_msg("allocation %d failing: a lazy load gave %zu books of 120", round, w->books.n);
    corm_session_reset(s);
    corm_query *q;
    QUERY(s, Writer, q);
    TRY(corm_selectin(q, Writer_books));
    Writer **ws;
    size_t n, books = 0;
    TRY(corm_all(q, &ws, &n));
    for (size_t i = 0; i < n; i++)
        books += ws[i]->books.n;
    if (n != 10 || books != 120)
        fail_msg("allocation %d failing: selectin gave %zu writers, %zu books", round, n, books);
    corm_session_reset(s);
    QUERY(s, Book, q); /* a many-to-one over 120 objects: their keys allocated */
    TRY(corm_selectin(q, Book_writer));
    Book **bs;
    TRY(corm_all(q, &bs, &n));
    for (size_t i = 0; i < n; i++)
        if (!bs[i]->writer || strcmp(bs[i]->writer->name, "w0") != 0)
            fail_msg("allocation %d failing: book %zu of %zu without its writer", round, i, n);
    return CORM_OK;
}

/* Values the driver turns into text or bytes as it reads them (a BLOB on
 * PostgreSQL, a number read into a text field on MariaDB): out of memory
 * there is CORM_ENOMEM, never an empty value loaded as if it were read.
 * The row is written unarmed; only the reads are swept. */
static int converted_values(corm_session *s, int round)
{
    static const unsigned char bytes[] = { 1, 2, 0, 3 };
    util_alloc_fail_after(-1);
    Kitchen *k;
    NEW(s, Kitchen, k);
    k->blob = (corm_blob){ bytes, sizeof bytes };
    k->t = "hello";
    TRY(corm_add(s, k));
    TRY(commit(s));
    int64_t id = k->id;
    corm_session_reset(s);
    arm(armed_once, round);
    /* a number read into a text field, its SQL new in each round of each
     * mode: a statement a driver has cached keeps the buffer it made the
     * text in */
    char sql[200], want[16];
    snprintf(want, sizeof want, "%d", (armed_once ? 20000 : 10000) + round);
    snprintf(sql, sizeof sql, "SELECT id, i, big, small, flag, f, num, s, %s AS t, d, tm, dt, "
             "\"blob\", json, prio FROM kitchen WHERE id = ?", want);
    Kitchen **v;
    size_t n;
    TRY(corm_execute_objects(s, Kitchen, sql, CORM_ARGS(id), &v, &n));
    if (n != 1 || v[0]->blob.len != sizeof bytes || strcmp(v[0]->t, want) != 0)
        fail_msg("allocation %d failing: raw SQL read %zu rows, a blob of %zu bytes and t \"%s\"",
                 round, n, n ? v[0]->blob.len : 0, n ? v[0]->t : "");
    corm_session_reset(s);
    TRY(corm_get(s, Kitchen, id, &k));
    if (!k || k->blob.len != sizeof bytes || memcmp(k->blob.data, bytes, sizeof bytes) != 0 ||
        strcmp(k->t, "hello") != 0)
        fail_msg("allocation %d failing: corm_get read a blob of %zu bytes and t \"%s\"", round,
                 k ? k->blob.len : 0, k ? k->t : "");
    return CORM_OK;
}

static void sweep_quickstart(void **state) { (void)state; sweep(quickstart, "quickstart"); }
static void sweep_crud_types(void **state) { (void)state; sweep(crud_types, "CRUD over every type"); }
static void sweep_queries(void **state) { (void)state; sweep(queries, "every query form"); }
static void sweep_relationships(void **state) { (void)state; sweep(relationships, "relationships"); }
static void sweep_cascades(void **state) { (void)state; sweep(cascades, "cascades"); }
static void sweep_large_loads(void **state) { (void)state; sweep(large_loads, "large loads"); }
static void sweep_converted_values(void **state)
{
    (void)state;
    every_point = true; /* the conversions are a few of its 20 allocations */
    sweep(converted_values, "values converted as they are read");
    every_point = false;
}
static void sweep_reached_for_next(void **state)
{
    (void)state;
    sweep(reached_for_next, "related, expire, merge, upsert, aliases, search");
}

/* Revision files written so far. */
static int revisions(void)
{
    DIR *d = opendir(migrations);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* Migrations hold no session: the database must be at the revision its
 * version table names (upgraded in full, or not at all), and upgrading
 * again to the head, fault-free, must work. */
/* After a migration run the fault stopped: whatever revision was left,
 * the head is reached from it, and its schema is the models'. */
static void after_migrations(long n)
{
    int rc = corm_migrate_upgrade(db, migrations, "head", NULL);
    if (rc == CORM_OK) {
        corm_schema_diff *d;
        assert_true(corm_check_schema(db, &d) >= 0);
        /* at the head: the models' tables, unless no revision was written */
        assert_int_equal(corm_schema_diff_count(d) == 0, revisions() > 0);
        corm_schema_diff_free(d);
    } else if (rc != CORM_ENOTFOUND && rc != CORM_ESTATE) {
        /* no folder or no revision yet (the fault came before) is fine */
        fail_msg("migrations, allocation %ld: upgrading afterwards: %s: %s", n,
                 corm_err_name(rc), corm_engine_errmsg(db));
    }
}

static void sweep_migrations(void **state) { (void)state; sweep(NULL, "migrations"); }

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/corm-oom-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/oom.db", dir);
    if (test_server_url())
        snprintf(url, sizeof url, "%s", test_server_url());
    else
        snprintf(url, sizeof url, "sqlite:///%s", path);
    snprintf(migrations, sizeof migrations, "%s/migrations", dir);
    OK(corm_engine_open(&db, url, models));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corm_engine_close(db);
    test_rm_rf(dir);
    free(committed);
    printf("# in all: %ld allocations made to fail (CORM_OOM_STEP=%ld)\n", points_total, step());
    return 0;
}

int main(void)
{
    test_sqlite_hook(); /* before SQLite starts */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_quickstart),
        cmocka_unit_test(sweep_crud_types),
        cmocka_unit_test(sweep_queries),
        cmocka_unit_test(sweep_relationships),
        cmocka_unit_test(sweep_cascades),
        cmocka_unit_test(sweep_large_loads),
        cmocka_unit_test(sweep_converted_values),
        cmocka_unit_test(sweep_reached_for_next),
        cmocka_unit_test(sweep_migrations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
