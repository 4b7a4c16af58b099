/*
 * test_uow.c — the unit of work's promises under failure and concurrency:
 * a failed commit can be fixed and committed again, a rollback gives back
 * exactly the committed objects (collections included), loading never
 * undoes what the user changed, and sessions of one engine do not block
 * each other in the default configuration. Each test is named for the
 * defect it was written against (issue 7).
 */
#include "common.h"
#include "util/alloc.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CORM_DEFINE_MODELS /* the models below are defined here */

#define WRITER_FIELDS(COLUMN, RELATION)                                        \
    COLUMN(id,   CORM_INTEGER,    CORM_PRIMARY_KEY)                             \
    COLUMN(name, CORM_STRING(40), CORM_NOT_NULL)                                \
    RELATION(books, CORM_ONE_TO_MANY(Book, writer),                             \
             CORM_CASCADE(CORM_CASCADE_DELETE | CORM_DELETE_ORPHAN))
CORM_MODEL(Writer, "writer", WRITER_FIELDS)

#define BOOK_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,        CORM_INTEGER,    CORM_PRIMARY_KEY)                        \
    COLUMN(title,     CORM_STRING(40), CORM_NOT_NULL)                           \
    COLUMN(writer_id, CORM_INTEGER,    CORM_NOT_NULL | CORM_INDEX, CORM_FK(Writer, id)) \
    RELATION(writer, CORM_MANY_TO_ONE(Writer, writer_id, books))
CORM_MODEL(Book, "book", BOOK_FIELDS)

static const corm_model *const models[] = { Writer_model, Book_model, NULL };

static corm_engine *db;
static char dir[64], file[128], url[512];
static char *log_lines[512];
static size_t nlog;

/* The engine echoes from whichever thread runs a statement, so the log is
 * guarded: eight_threads_read_and_write has eight sessions echoing at once. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void capture(void *ud, const char *line)
{
    (void)ud;
    char *copy = fx_normalize(line);
    pthread_mutex_lock(&log_lock);
    if (nlog < 512) {
        log_lines[nlog++] = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&log_lock);
    free(copy);
}

static void clear_log(void)
{
    for (size_t i = 0; i < nlog; i++)
        free(log_lines[i]);
    nlog = 0;
}

static size_t count_log(const char *prefix, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < nlog; i++)
        n += strncmp(log_lines[i], prefix, strlen(prefix)) == 0 &&
             (!needle || strstr(log_lines[i], needle));
    return n;
}

/* A fresh database: a file, or the server's (CORM_TEST_URL) emptied. */
static void open_db(const char *params)
{
    snprintf(dir, sizeof dir, "/tmp/corm-uow-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/uow.db", dir);
    if (test_server_url())
        snprintf(url, sizeof url, "%s", test_server_url());
    else
        snprintf(url, sizeof url, "sqlite:///%s%s", file, params);
    if (corm_engine_open(&db, url, models) != CORM_OK)
        fail_msg("open: %s", corm_engine_errmsg(db));
    if (test_server_url())
        OK(corm_drop_all(db));
    OK(corm_create_all(db));
    corm_engine_set_echo(db, capture, NULL);
}

static int setup(void **state)
{
    (void)state;
    open_db("");
    return 0;
}

/* SQLite's rollback journal, where a reader can make COMMIT fail. */
static int setup_rollback_journal(void **state)
{
    (void)state;
    open_db("?journal_mode=delete&busy_timeout=50");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corm_engine_close(db);
    clear_log();
    test_remove_db(file);
    rmdir(dir);
    return 0;
}

/* Read the database with its own client library, not through corm. */
static int64_t sql_int(const char *sql) { return db_int(url, sql); }

static const char *sql_text(const char *sql, char *buf, size_t size)
{
    return db_text(url, sql, buf, size);
}

/* Two writers and three books (two of the first), committed; ids 1, 2 and 1..3. */
static void seed(void)
{
    corm_session *s = corm_session_new(db);
    Writer *a = corm_new(s, Writer), *b = corm_new(s, Writer);
    a->name = "ann";
    b->name = "bob";
    OK(corm_add(s, a));
    OK(corm_add(s, b));
    const char *titles[] = { "a1", "a2", "b1" };
    for (int i = 0; i < 3; i++) {
        Book *k = corm_new(s, Book);
        k->title = (char *)titles[i];
        OK(corm_rel_add(s, i < 2 ? a : b, Writer_books, k));
    }
    OK(corm_commit(s));
    corm_session_free(s);
    clear_log();
}

static Writer *writer(corm_session *s, int64_t id)
{
    Writer *w = NULL;
    OK(corm_get(s, Writer, id, &w));
    assert_non_null(w);
    return w;
}

static Book *book(corm_session *s, int64_t id)
{
    Book *k = NULL;
    OK(corm_get(s, Book, id, &k));
    assert_non_null(k);
    return k;
}

/* ---- defect 1: sessions of one engine do not block each other ---------------- */

static void reader_does_not_block_writer(void **state)
{
    (void)state;
    seed();
    corm_session *a = corm_session_new(db), *b = corm_session_new(db);
    /* A reads after its last commit and keeps its session open */
    Writer *wa = writer(a, 1);
    corm_query *q = corm_query_new(a, Book);
    Book **books;
    size_t n;
    OK(corm_all(q, &books, &n));
    Book *first;
    OK(corm_first(corm_query_new(a, Book), &first));
    bool any;
    OK(corm_exists(corm_query_new(a, Writer), &any));
    /* B changes a row and commits at once */
    Writer *wb = writer(b, 1);
    wb->name = "anne";
    OK(corm_commit(b));
    /* A, which read before B wrote, now writes too: no stale-snapshot failure */
    wa->name = "ann marie";
    OK(corm_commit(a));
    char buf[64];
    assert_string_equal(sql_text("SELECT name FROM writer WHERE id = 1", buf, sizeof buf), "ann marie");
    /* a writer with an open transaction does not stop a reader either */
    Writer *w2 = writer(b, 2);
    w2->name = "bobby";
    OK(corm_flush(b));
    Writer *seen = NULL;
    corm_session *c = corm_session_new(db);
    OK(corm_get(c, Writer, 2, &seen));
    assert_string_equal(seen->name, "bob"); /* not yet committed */
    OK(corm_commit(b));
    corm_session_free(c);
    corm_session_free(a);
    corm_session_free(b);
}

/* Two open writers are a real conflict: the second waits busy_timeout,
 * then gets CORM_EBUSY with its objects intact, and commits once the first
 * is done. */
static void two_writers_conflict_after_busy_timeout(void **state)
{
    (void)state;
    seed();
    corm_session *a = corm_session_new(db), *b = corm_session_new(db);
    writer(a, 1)->name = "a-was-here";
    OK(corm_flush(a));
    Writer *wb = writer(b, 2);
    wb->name = "b-was-here";
    assert_int_equal(corm_commit(b), CORM_EBUSY);
    assert_true(corm_is_modified(b, wb));
    OK(corm_commit(a));
    OK(corm_commit(b));
    char buf[64];
    assert_string_equal(sql_text("SELECT name FROM writer WHERE id = 2", buf, sizeof buf), "b-was-here");
    corm_session_free(a);
    corm_session_free(b);
}

/* n sessions, alive together in one thread, take turns at random reads and writes. */
static void interleave(int n)
{
    seed();
    corm_session *ss[8];
    int64_t written = 0;
    for (int i = 0; i < n; i++)
        ss[i] = corm_session_new(db);
    unsigned seed_ = 7;
    for (int round = 0; round < 200; round++) {
        corm_session *s = ss[rand_r(&seed_) % (unsigned)n];
        int op = (int)(rand_r(&seed_) % 4);
        if (op == 0) { /* a new book */
            Book *k = corm_new(s, Book);
            k->title = "new";
            k->writer_id = 1 + (int64_t)(rand_r(&seed_) % 2);
            OK(corm_add(s, k));
            int rc = corm_commit(s);
            if (rc != CORM_OK)
                fail_msg("round %d: %s", round, corm_errmsg(s));
            written++;
        } else if (op == 1) { /* change a loaded writer */
            Writer *w = writer(s, 1 + (int64_t)(rand_r(&seed_) % 2));
            w->name = round % 2 ? "odd" : "even";
            int rc = corm_commit(s);
            if (rc != CORM_OK)
                fail_msg("round %d: %s", round, corm_errmsg(s));
        } else { /* read, and keep the session open */
            int64_t count;
            OK(corm_count(corm_query_new(s, Book), &count));
            assert_int_equal(count, 3 + written);
            Writer *w = writer(s, 1);
            OK(corm_load(s, w, Writer_books));
        }
    }
    int64_t count;
    OK(corm_count(corm_query_new(ss[0], Book), &count));
    assert_int_equal(count, 3 + written);
    if (url[0])
        assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 3 + written);
    for (int i = 0; i < n; i++)
        corm_session_free(ss[i]);
}

static void two_sessions_interleaved(void **state) { (void)state; interleave(2); }
static void eight_sessions_interleaved(void **state) { (void)state; interleave(8); }

typedef struct worker { int id, commits, errors; char msg[512]; } worker;

static void *work(void *arg)
{
    worker *w = arg;
    corm_session *s = corm_session_new(db);
    for (int i = 0; i < 60; i++) {
        int rc;
        if (i % 3 == 0) {
            Book *k = corm_new(s, Book);
            k->title = "threaded";
            k->writer_id = 1 + (i % 2);
            rc = corm_add(s, k);
            if (rc == CORM_OK)
                rc = corm_commit(s);
            w->commits += rc == CORM_OK;
        } else if (i % 3 == 1) {
            Writer *wr = NULL;
            rc = corm_get(s, Writer, 1 + (w->id % 2), &wr);
            if (rc == CORM_OK && wr) {
                wr->name = w->id % 2 ? "t-odd" : "t-even";
                rc = corm_commit(s);
            }
        } else {
            int64_t n;
            rc = corm_count(corm_query_new(s, Book), &n);
        }
        if (rc != CORM_OK) {
            w->errors++;
            snprintf(w->msg, sizeof w->msg, "%s", corm_errmsg(s));
            corm_rollback(s);
        }
        if (i % 20 == 19)
            corm_session_reset(s);
    }
    corm_session_free(s);
    return NULL;
}

static void eight_threads_read_and_write(void **state)
{
    (void)state;
    seed();
    pthread_t t[8];
    worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){ .id = i };
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    int commits = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        if (w[i].errors)
            fail_msg("thread %d: %d errors, last: %s", i, w[i].errors, w[i].msg);
        commits += w[i].commits;
    }
    assert_int_equal(commits, 8 * 20);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 3 + commits);
}

/* The same four patterns on the engine's private in-memory database. */
static int setup_memory(void **state)
{
    (void)state;
    dir[0] = file[0] = url[0] = '\0';
    OK(corm_engine_open(&db, "sqlite://", models));
    OK(corm_create_all(db));
    return 0;
}

static int teardown_memory(void **state)
{
    (void)state;
    corm_engine_close(db);
    clear_log();
    return 0;
}

static int64_t count_books(corm_session *s)
{
    int64_t n;
    OK(corm_count(corm_query_new(s, Book), &n));
    return n;
}

static void memory_sessions_do_not_block(void **state)
{
    (void)state;
    seed();
    corm_session *a = corm_session_new(db), *b = corm_session_new(db);
    Writer *wa = writer(a, 1);
    assert_int_equal(count_books(a), 3);
    writer(b, 1)->name = "anne";
    OK(corm_commit(b));
    wa->name = "ann marie";
    OK(corm_commit(a));
    /* an open writer and a reader */
    writer(b, 2)->name = "bobby";
    OK(corm_flush(b));
    assert_int_equal(count_books(a), 3);
    Writer *w2 = NULL;
    corm_session *c = corm_session_new(db);
    OK(corm_get(c, Writer, 2, &w2));
    assert_string_equal(w2->name, "bob");
    OK(corm_commit(b));
    corm_session_free(c);
    corm_session_free(a);
    corm_session_free(b);
}

static void memory_two_sessions_interleaved(void **state) { (void)state; interleave(2); }

static void memory_eight_sessions_and_threads(void **state)
{
    (void)state;
    interleave(8);
    pthread_t t[8];
    worker w[8];
    int64_t before;
    corm_session *s = corm_session_new(db);
    before = count_books(s);
    corm_session_free(s);
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){ .id = i };
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        if (w[i].errors)
            fail_msg("thread %d: %d errors, last: %s", i, w[i].errors, w[i].msg);
    }
    s = corm_session_new(db);
    assert_int_equal(count_books(s), before + 8 * 20);
    corm_session_free(s);
}

/* ---- defect 2: a commit that failed at COMMIT can be fixed and retried ---- */

/* Make the next COMMIT fail, after the flush has written everything: on
 * SQLite (rollback journal) another connection holds a read lock COMMIT
 * cannot get past; on PostgreSQL a deferred constraint trigger, checked at
 * COMMIT, raises a serialization failure. Both are CORM_EBUSY. */
static sqlite3 *reader;

static void commit_will_fail(void)
{
    if (!test_server_url()) {
        assert_int_equal(sqlite3_open(file, &reader), SQLITE_OK);
        assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT COUNT(*) FROM book;", NULL, NULL, NULL),
                         SQLITE_OK);
        return;
    }
    db_exec(url, "CREATE TABLE IF NOT EXISTS fail_commit (x INTEGER);"
                 "CREATE OR REPLACE FUNCTION fail_commit() RETURNS trigger AS $$ BEGIN "
                 "IF EXISTS (SELECT 1 FROM fail_commit) THEN RAISE EXCEPTION 'COMMIT refused "
                 "by the test' USING ERRCODE = '40001'; END IF; RETURN NULL; END $$ LANGUAGE plpgsql;"
                 "DROP TRIGGER IF EXISTS fail_commit ON book;"
                 "CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT OR UPDATE OR DELETE ON book "
                 "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit();"
                 "INSERT INTO fail_commit VALUES (1);");
}

static void commit_can_succeed(void)
{
    if (!test_server_url()) {
        assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(reader);
        return;
    }
    db_exec(url, "DELETE FROM fail_commit; DROP TRIGGER fail_commit ON book;");
}

static void retry_after_commit_busy_keeps_the_orphan(void **state)
{
    (void)state;
    seed();
    corm_session *s = corm_session_new(db);
    Writer *a = writer(s, 1);
    OK(corm_load(s, a, Writer_books));
    assert_int_equal(a->books.n, 2);
    Book *orphan = a->books.items[0];
    OK(corm_rel_remove(s, a, Writer_books, orphan)); /* delete-orphan */
    commit_will_fail();
    assert_int_equal(corm_commit(s), CORM_EBUSY);
    assert_non_null(strstr(corm_errmsg(s), "commit failed, nothing was written"));
    commit_can_succeed();
    /* nothing was written, and the orphan is still to be deleted */
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book WHERE writer_id = 1"), 2);
    assert_true(corm_is_modified(s, orphan));
    OK(corm_delete(s, a));
    if (corm_commit(s) != CORM_OK)
        fail_msg("retry: %s", corm_errmsg(s));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer WHERE id = 1"), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 1);
    corm_session_free(s);
}

/* The same retry after the COMMIT failure, without any further change:
 * the orphan's DELETE is written by the second commit. */
static void retry_after_commit_busy_writes_everything(void **state)
{
    (void)state;
    seed();
    corm_session *s = corm_session_new(db);
    Writer *a = writer(s, 1);
    OK(corm_load(s, a, Writer_books));
    OK(corm_rel_remove(s, a, Writer_books, a->books.items[0]));
    a->name = "renamed";
    Book *k = corm_new(s, Book);
    k->title = "new";
    OK(corm_rel_add(s, a, Writer_books, k));
    commit_will_fail();
    assert_int_equal(corm_commit(s), CORM_EBUSY);
    commit_can_succeed();
    OK(corm_commit(s));
    char buf[64];
    assert_string_equal(sql_text("SELECT name FROM writer WHERE id = 1", buf, sizeof buf), "renamed");
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book WHERE writer_id = 1"), 2); /* a2 and new */
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book WHERE title = 'a1'"), 0);
    corm_session_free(s);
}

/* A rollback gives collections changed with corm_rel_add/remove their
 * committed contents back. */
static void rollback_restores_collections(void **state)
{
    (void)state;
    seed();
    corm_session *s = corm_session_new(db);
    Writer *a = writer(s, 1), *b = writer(s, 2);
    OK(corm_load(s, a, Writer_books));
    OK(corm_load(s, b, Writer_books));
    Book *a1 = a->books.items[0], *a2 = a->books.items[1], *b1 = b->books.items[0];
    Book *k = corm_new(s, Book);
    k->title = "new";
    OK(corm_rel_add(s, a, Writer_books, k));
    OK(corm_rel_remove(s, a, Writer_books, a1));
    OK(corm_rel_add(s, a, Writer_books, b1)); /* a move */
    OK(corm_flush(s));
    OK(corm_rel_remove(s, a, Writer_books, a2)); /* after the flush too */
    OK(corm_rollback(s));
    assert_int_equal(a->books.n, 2);
    assert_ptr_equal(a->books.items[0], a1);
    assert_ptr_equal(a->books.items[1], a2);
    assert_int_equal(b->books.n, 1);
    assert_ptr_equal(b->books.items[0], b1);
    assert_ptr_equal(b1->writer, b);
    assert_int_equal(b1->writer_id, 2);
    assert_false(corm_is_modified(s, a1));
    assert_false(corm_is_modified(s, b1));
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 3);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book WHERE writer_id = 1"), 2);
    corm_session_free(s);
}

/* ---- defect 3: a rolled-back DELETE leaves a fully tracked object --------- */

static void rolled_back_delete_is_tracked_again(void **state)
{
    (void)state;
    seed();
    corm_session *s = corm_session_new(db);
    Book *k = book(s, 3);
    OK(corm_delete(s, k));
    OK(corm_flush(s));
    OK(corm_rollback(s));
    Book *again = book(s, 3);
    assert_ptr_equal(again, k);
    k->title = "changed";
    assert_true(corm_is_modified(s, k));
    OK(corm_commit(s));
    char buf[64];
    assert_string_equal(sql_text("SELECT title FROM book WHERE id = 3", buf, sizeof buf), "changed");
    /* and a later delete of it is written too */
    OK(corm_delete(s, k));
    OK(corm_flush(s));
    OK(corm_rollback(s));
    OK(corm_delete(s, k));
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book WHERE id = 3"), 0);
    corm_session_free(s);
}

static void rolled_back_delete_restores_committed_values(void **state)
{
    (void)state;
    seed();
    corm_session *s = corm_session_new(db);
    Book *k = book(s, 3);
    k->title = "scribbled";
    OK(corm_delete(s, k));
    OK(corm_flush(s));
    OK(corm_rollback(s));
    assert_string_equal(k->title, "b1");
    assert_false(corm_is_modified(s, k));
    /* through a delete cascade: the parent's children come back whole */
    Writer *a = writer(s, 1);
    OK(corm_load(s, a, Writer_books));
    Book *a1 = a->books.items[0];
    a1->title = "scribbled";
    OK(corm_delete(s, a));
    OK(corm_flush(s));
    OK(corm_rollback(s));
    assert_string_equal(a1->title, "a1");
    assert_string_equal(a->name, "ann");
    assert_int_equal(a->books.n, 2);
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 3);
    /* a failed commit keeps them deleted and changed, to be written again */
    a1->title = "kept";
    k->title = "kept too";
    OK(corm_flush(s));
    OK(corm_delete(s, k));
    Book *dup = corm_new(s, Book);
    dup->title = NULL; /* NOT NULL: the flush fails after the UPDATE and DELETE */
    dup->writer_id = 2;
    OK(corm_add(s, dup));
    assert_int_equal(corm_commit(s), CORM_ENOTNULL);
    assert_string_equal(a1->title, "kept");
    assert_true(corm_is_modified(s, k));
    OK(corm_expunge(s, dup));
    OK(corm_commit(s));
    char buf[64];
    assert_string_equal(sql_text("SELECT title FROM book WHERE id = 1", buf, sizeof buf), "kept");
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book WHERE id = 3"), 0);
    corm_session_free(s);
}

/* ---- defect 4: deleting a parent deletes its pending children ------------- */

static void delete_parent_with_pending_child(bool loaded)
{
    seed();
    corm_session *s = corm_session_new(db);
    Writer *a = writer(s, 1);
    if (loaded)
        OK(corm_load(s, a, Writer_books));
    Book *k = corm_new(s, Book);
    k->title = "pending";
    OK(corm_rel_add(s, a, Writer_books, k));
    clear_log();
    OK(corm_delete(s, a));
    if (loaded) /* the loaded collection is used, not read again */
        assert_int_equal(count_log("SELECT", "FROM \"book\""), 0);
    if (corm_commit(s) != CORM_OK)
        fail_msg("commit: %s", corm_errmsg(s));
    assert_int_equal(count_log("INSERT", "\"book\""), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer"), 1);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 1);
    corm_session_free(s);
}

static void delete_parent_with_pending_child_loaded(void **state)
{
    (void)state;
    delete_parent_with_pending_child(true);
}

static void delete_parent_with_pending_child_unloaded(void **state)
{
    (void)state;
    delete_parent_with_pending_child(false);
}

/* ---- defect 5: loading a collection does not undo a move ------------------- */

static void loading_does_not_undo_a_move(void **state)
{
    (void)state;
    seed();
    corm_session *s = corm_session_new(db);
    Writer *a = writer(s, 1), *b = writer(s, 2);
    Book *k = book(s, 1);
    OK(corm_rel_add(s, b, Writer_books, k));
    OK(corm_load(s, a, Writer_books));
    assert_ptr_equal(k->writer, b);
    assert_int_equal(a->books.n, 1); /* a2 only */
    OK(corm_load(s, b, Writer_books));
    assert_int_equal(b->books.n, 2); /* b1 and the book moved in */
    /* eager loading keeps it too */
    corm_query *q = corm_query_new(s, Writer);
    OK(corm_selectin(q, Writer_books));
    Writer **ws;
    size_t n;
    OK(corm_all(q, &ws, &n));
    assert_ptr_equal(k->writer, b);
    assert_int_equal(a->books.n, 1);
    assert_int_equal(b->books.n, 2);
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT writer_id FROM book WHERE id = 1"), 2);
    corm_session_free(s);
}

/* ---- defect 6: a key set by hand does not crash a later load --------------- */

static void load_after_key_set_by_hand(bool b_has_books)
{
    seed();
    corm_session *s = corm_session_new(db);
    Writer *a = writer(s, 1), *b = writer(s, 2);
    if (!b_has_books) { /* move b1 away first, so that b's collection is empty */
        Book *b1 = book(s, 3);
        b1->writer_id = 1;
        OK(corm_commit(s));
    }
    OK(corm_load(s, b, Writer_books));
    assert_int_equal(b->books.n, b_has_books ? 1 : 0);
    Book *k = book(s, 2);
    k->writer_id = b->id;
    OK(corm_load(s, a, Writer_books));
    for (size_t i = 0; i < a->books.n; i++)
        assert_ptr_not_equal(a->books.items[i], k);
    assert_int_equal(b->books.n, b_has_books ? 1 : 0);
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT writer_id FROM book WHERE id = 2"), 2);
    OK(corm_load(s, b, Writer_books));
    assert_int_equal(b->books.n, b_has_books ? 2 : 1);
    corm_session_free(s);
}

static void load_after_key_set_by_hand_empty(void **state)
{
    (void)state;
    load_after_key_set_by_hand(false);
}

static void load_after_key_set_by_hand_nonempty(void **state)
{
    (void)state;
    load_after_key_set_by_hand(true);
}

/* A many-to-one changed by the user is not loaded over either. */
static void loading_a_to_one_keeps_the_users_pointer(void **state)
{
    (void)state;
    seed();
    corm_session *s = corm_session_new(db);
    Writer *b = writer(s, 2);
    Book *k = book(s, 1);
    k->writer = b;
    OK(corm_load(s, k, Book_writer));
    assert_ptr_equal(k->writer, b);
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT writer_id FROM book WHERE id = 1"), 2);
    corm_session_free(s);
}

/* ---- out of memory at every allocation of a unit of work with collections ---- */

#define TRY(x) do { int rc_ = (x); if (rc_ != CORM_OK) return rc_; } while (0)

/* Inside a transaction: loads (journaled), moves, adds, an orphan removed, a
 * savepoint rolled back, a flush and a commit. */
static int collection_work(corm_session *s)
{
    Writer *a = NULL, *b = NULL;
    TRY(corm_get(s, Writer, 1, &a));
    TRY(corm_get(s, Writer, 2, &b));
    if (!a || !b)
        return CORM_ENOTFOUND;
    TRY(corm_load(s, a, Writer_books));
    TRY(corm_begin_nested(s));
    TRY(corm_load(s, b, Writer_books)); /* inside the transaction: journaled */
    if (a->books.n != 2 || b->books.n != 1)
        return CORM_ESTATE;
    Book *k = corm_new(s, Book);
    if (!k)
        return CORM_ENOMEM;
    k->title = "oom";
    TRY(corm_rel_add(s, b, Writer_books, k));
    TRY(corm_rel_add(s, b, Writer_books, a->books.items[0])); /* a move */
    TRY(corm_flush(s));
    TRY(corm_rollback_nested(s));
    if (a->books.n != 2) /* as at the savepoint */
        return CORM_ESTATE;
    TRY(corm_rel_remove(s, a, Writer_books, a->books.items[1])); /* an orphan */
    Book *moved = a->books.items[0];
    moved->writer_id = 2; /* a move by key */
    TRY(corm_flush(s));
    corm_query *q = corm_query_new(s, Writer);
    if (!q)
        return CORM_ENOMEM;
    TRY(corm_selectin(q, Writer_books));
    Writer **ws;
    size_t n;
    TRY(corm_all(q, &ws, &n));
    return corm_commit(s);
}

static void out_of_memory_in_collection_changes(void **state)
{
    (void)state;
    seed();
    for (long n = 0; n < 20000; n++) {
        corm_session *s = corm_session_new(db);
        util_alloc_fail_after(n);
        int rc = s ? collection_work(s) : CORM_ENOMEM;
        bool injected = util_alloc_failed();
        util_alloc_fail_after(-1);
        if (rc != CORM_OK && rc != CORM_ENOMEM)
            fail_msg("allocation %ld: %s: %s", n, corm_err_name(rc), s ? corm_errmsg(s) : "");
        if (s) { /* the session goes on: roll back, and read again */
            OK(corm_rollback(s));
            Writer *a = NULL;
            OK(corm_get(s, Writer, 1, &a));
            assert_non_null(a);
            corm_session_free(s);
        }
        if (rc == CORM_OK && !injected) {
            printf("collection changes: %ld allocations failed in turn\n", n);
            assert_true(n > 20); /* (the engine reuses freed session memory: few calls) */
            assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 2); /* a2 deleted, "oom" rolled back */
            assert_int_equal(sql_int("SELECT COUNT(*) FROM book WHERE writer_id = 2"), 2);
            return;
        }
        if (rc == CORM_OK) { /* committed, then an allocation after it failed: start over */
            teardown(NULL);
            setup(NULL);
            seed();
            continue;
        }
        /* nothing was committed */
        assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 3);
        assert_int_equal(sql_int("SELECT COUNT(*) FROM book WHERE writer_id = 1"), 2);
    }
    fail_msg("never succeeded");
}

/* ---- flushes sent in batches (issue 8) ------------------------------------------
 * On a server the flush sends its statements in batches and reads the
 * results after; these hold on every backend: keys come back to the right
 * objects, and a failure in the middle of a batch loses nothing. */

#define MANY 700

/* MANY writers named <c>0000, <c>0001, ..., each with three books titled
 * like it, committed. */
static void writers_with_books(corm_session *s, Writer **w, char (*names)[16], char c)
{
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], 16, "%c%04d", c, i);
        w[i] = corm_new(s, Writer);
        w[i]->name = names[i];
        for (int k = 0; k < 3; k++) {
            Book *b = corm_new(s, Book);
            b->title = names[i];
            OK(corm_rel_add(s, w[i], Writer_books, b));
        }
        OK(corm_add(s, w[i]));
    }
    OK(corm_commit(s));
}

static void large_flush_keys_come_back_in_order(void **state)
{
    (void)state;
    corm_engine_set_echo(db, NULL, NULL);
    corm_session *s = corm_session_new(db);
    static char names[MANY][16];
    Writer *w[MANY];
    writers_with_books(s, w, names, 'w');
    /* each object's key names its own row, and its books point at it */
    char sql[200], buf[64];
    for (int i = 0; i < MANY; i += 7) {
        snprintf(sql, sizeof sql, "SELECT name FROM writer WHERE id = %lld", (long long)w[i]->id);
        assert_string_equal(sql_text(sql, buf, sizeof buf), names[i]);
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM book WHERE writer_id = %lld AND title = '%s'",
                 (long long)w[i]->id, names[i]);
        assert_int_equal(sql_int(sql), 3);
    }
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 3 * MANY);
    /* every name changed, then every other writer deleted with its books */
    static char renamed[MANY][16];
    for (int i = 0; i < MANY; i++) {
        snprintf(renamed[i], sizeof renamed[i], "v%04d", i);
        w[i]->name = renamed[i];
    }
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer WHERE name LIKE 'v%'"), MANY);
    for (int i = 0; i < MANY; i += 2)
        OK(corm_delete(s, w[i]));
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer"), MANY / 2);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 3 * (MANY / 2));
    corm_session_free(s);
}

/* Bad input at object 450 of 700 (the first 449 already sent), and a row
 * the database refuses at 300 of 700: the error names the object, nothing
 * of the flush is written, the session takes the fix and commits it all. */
static void large_flush_failing_midway_loses_nothing(void **state)
{
    (void)state;
    seed();
    corm_engine_set_echo(db, NULL, NULL);
    corm_session *s = corm_session_new(db);
    static char names[MANY][48];
    Writer *w[MANY];
    for (int i = 0; i < MANY; i++) {
        if (i == 450)
            snprintf(names[i], sizeof names[i], "a name far too long for forty characters, surely");
        else
            snprintf(names[i], sizeof names[i], "x%04d", i);
        w[i] = corm_new(s, Writer);
        w[i]->name = names[i];
        OK(corm_add(s, w[i]));
    }
    assert_int_equal(corm_commit(s), CORM_ETOOLONG);
    assert_non_null(strstr(corm_errmsg(s), "Writer.name"));
    assert_non_null(strstr(corm_errmsg(s), "a name far too long"));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer"), 2);
    snprintf(names[450], sizeof names[450], "x0450");
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer"), 2 + MANY);

    Book *b[MANY];
    for (int i = 0; i < MANY; i++) {
        b[i] = corm_new(s, Book);
        b[i]->title = "t";
        b[i]->writer_id = i == 300 ? 999999 : w[i]->id;
        OK(corm_add(s, b[i]));
    }
    assert_int_equal(corm_commit(s), CORM_EFOREIGNKEY);
    assert_non_null(strstr(corm_errmsg(s), "Book.writer_id"));
    assert_non_null(strstr(corm_errmsg(s), "999999"));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 3);
    b[300]->writer_id = w[300]->id;
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 3 + MANY);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer"), 2 + MANY);
    corm_session_free(s);
}

/* 300 writers committed, each named by its index. */
static void three_hundred_writers(corm_session *s, Writer **w)
{
    static char names[300][16];
    for (int i = 0; i < 300; i++) {
        w[i] = corm_new(s, Writer);
        snprintf(names[i], sizeof names[i], "w%03d", i);
        w[i]->name = names[i];
        OK(corm_add(s, w[i]));
    }
    OK(corm_commit(s));
}

/* A row deleted by another transaction under a batch of UPDATEs (the 150th
 * of 300): CORM_ENOTFOUND naming it, the rest of the batch dropped, nothing
 * written; without it the commit goes through. */
static void update_of_a_row_gone_midway(void **state)
{
    (void)state;
    corm_engine_set_echo(db, NULL, NULL);
    corm_session *s = corm_session_new(db);
    Writer *w[300];
    three_hundred_writers(s, w);
    char sql[100];
    snprintf(sql, sizeof sql, "DELETE FROM writer WHERE id = %lld", (long long)w[150]->id);
    db_exec(url, sql);
    for (int i = 0; i < 300; i++)
        w[i]->name = "renamed";
    assert_int_equal(corm_commit(s), CORM_ENOTFOUND);
    assert_non_null(strstr(corm_errmsg(s), "is gone"));
    char who[40];
    snprintf(who, sizeof who, "id=%lld ", (long long)w[150]->id);
    assert_non_null(strstr(corm_errmsg(s), who));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer WHERE name = 'renamed'"), 0);
    OK(corm_expunge(s, w[150]));
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer WHERE name = 'renamed'"), 299);
    corm_session_free(s);
}

/* The rows of a flush go in statements of many rows: 700 writers in
 * 256 + 256 + 128 + 32 + 16 + 8 + 4, each with its own key back (the keys
 * rise in the order added); 2,100 books likewise; then deleting 350 writers
 * and their 1,050 books takes a few DELETE ... IN statements, not 1,400. */
static void many_row_statements(void **state)
{
    (void)state;
    corm_engine_set_echo(db, capture, NULL);
    clear_log();
    corm_session *s = corm_session_new(db);
    static char names[MANY][16];
    Writer *w[MANY];
    writers_with_books(s, w, names, 'm');
    assert_int_equal(count_log("INSERT INTO \"writer\"", NULL), 7);
    assert_int_equal(count_log("INSERT INTO \"writer\"", "RETURNING \"id\""), 7);
    /* 2,100 books: 8 of 256, then 32 + 16 + 4 */
    assert_int_equal(count_log("INSERT INTO \"book\"", NULL), 11);
    for (int i = 1; i < MANY; i++)
        assert_true(w[i]->id > w[i - 1]->id);
    char sql[200], buf[64];
    for (int i = 0; i < MANY; i += 13) {
        snprintf(sql, sizeof sql, "SELECT name FROM writer WHERE id = %lld", (long long)w[i]->id);
        assert_string_equal(sql_text(sql, buf, sizeof buf), names[i]);
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM book WHERE writer_id = %lld AND title = '%s'",
                 (long long)w[i]->id, names[i]);
        assert_int_equal(sql_int(sql), 3);
    }
    /* 700 renamed: on SQLite UPDATE ... FROM (VALUES ...) of 256 + 256 +
     * 128 + 32 + 16 + 8 + 4 rows; the servers send a row per statement
     * without waiting (pipeline, array binding) */
    clear_log();
    static char renamed[MANY][16];
    for (int i = 0; i < MANY; i++) {
        snprintf(renamed[i], sizeof renamed[i], "r%04d", i);
        w[i]->name = renamed[i];
    }
    OK(corm_commit(s));
    if (strncmp(url, "sqlite", 6) == 0)
        assert_int_equal(count_log("UPDATE \"writer\" SET", NULL), 7);
    else /* a statement a row: the log (512 lines) fills with them */
        assert_true(count_log("UPDATE \"writer\" SET", NULL) >= 510);
    for (int i = 0; i < MANY; i += 17) {
        snprintf(sql, sizeof sql, "SELECT name FROM writer WHERE id = %lld", (long long)w[i]->id);
        assert_string_equal(sql_text(sql, buf, sizeof buf), renamed[i]);
    }
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer WHERE name LIKE 'r%'"), MANY);
    clear_log();
    for (int i = 0; i < MANY; i += 2)
        OK(corm_delete(s, w[i]));
    OK(corm_commit(s));
    /* 1,050 books: 4 of 256, then 16 + 8 + 2; 350 writers: 256 + 64 + 16 + 8 + 4 + 2 */
    assert_int_equal(count_log("DELETE FROM \"book\" WHERE \"id\" IN (", NULL), 7);
    assert_int_equal(count_log("DELETE FROM \"writer\" WHERE \"id\" IN (", NULL), 6);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer"), MANY / 2);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM book"), 3 * (MANY / 2));
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM writer WHERE id = %lld", (long long)w[1]->id);
    assert_int_equal(sql_int(sql), 1);
    corm_engine_set_echo(db, NULL, NULL);
    clear_log();
    corm_session_free(s);
}

/* A many-row DELETE the database refuses (a book written behind the
 * session's back still points at writer 150 of 300): the flush runs again a
 * row per statement, so the error names that writer; nothing is deleted;
 * once the book is gone the same commit goes through. */
static void many_row_delete_refused_names_the_row(void **state)
{
    (void)state;
    corm_engine_set_echo(db, NULL, NULL);
    corm_session *s = corm_session_new(db);
    Writer *w[300];
    three_hundred_writers(s, w);
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT INTO book (title, writer_id) VALUES ('hidden', %lld)",
             (long long)w[150]->id);
    db_exec(url, sql);
    for (int i = 0; i < 300; i++)
        OK(corm_delete(s, w[i]));
    assert_int_equal(corm_commit(s), CORM_EFOREIGNKEY);
    char who[40];
    snprintf(who, sizeof who, "id=%lld ", (long long)w[150]->id);
    assert_non_null(strstr(corm_errmsg(s), who));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer"), 300);
    db_exec(url, "DELETE FROM book WHERE title = 'hidden'");
    OK(corm_commit(s));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM writer"), 0);
    corm_session_free(s);
}

/* An UPDATE the database refuses in the middle of a batch (book 150 of
 * 300 moved to a writer that does not exist): the error names the object
 * and its value (MariaDB's array binding does not say which row failed:
 * the flush runs again a row per statement); nothing is written. */
static void update_refused_midway_names_the_row(void **state)
{
    (void)state;
    corm_engine_set_echo(db, NULL, NULL);
    corm_session *s = corm_session_new(db);
    Writer *a = corm_new(s, Writer), *b = corm_new(s, Writer);
    a->name = "a";
    b->name = "b";
    OK(corm_add(s, a));
    OK(corm_add(s, b));
    Book *v[300];
    for (int i = 0; i < 300; i++) {
        v[i] = corm_new(s, Book);
        v[i]->title = "t";
        OK(corm_rel_add(s, a, Writer_books, v[i]));
    }
    OK(corm_commit(s));
    for (int i = 0; i < 300; i++)
        v[i]->writer_id = i == 150 ? 999999 : b->id;
    assert_int_equal(corm_commit(s), CORM_EFOREIGNKEY);
    assert_non_null(strstr(corm_errmsg(s), "Book.writer_id"));
    assert_non_null(strstr(corm_errmsg(s), "999999"));
    char sql[100];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM book WHERE writer_id = %lld", (long long)a->id);
    assert_int_equal(sql_int(sql), 300);
    v[150]->writer_id = b->id;
    OK(corm_commit(s));
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM book WHERE writer_id = %lld", (long long)b->id);
    assert_int_equal(sql_int(sql), 300);
    corm_session_free(s);
}

int main(void)
{
    /* on every backend */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reader_does_not_block_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(two_sessions_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(eight_sessions_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(eight_threads_read_and_write, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_restores_collections, setup, teardown),
        cmocka_unit_test_setup_teardown(rolled_back_delete_is_tracked_again, setup, teardown),
        cmocka_unit_test_setup_teardown(rolled_back_delete_restores_committed_values, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_parent_with_pending_child_loaded, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_parent_with_pending_child_unloaded, setup, teardown),
        cmocka_unit_test_setup_teardown(loading_does_not_undo_a_move, setup, teardown),
        cmocka_unit_test_setup_teardown(load_after_key_set_by_hand_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(load_after_key_set_by_hand_nonempty, setup, teardown),
        cmocka_unit_test_setup_teardown(loading_a_to_one_keeps_the_users_pointer, setup, teardown),
        cmocka_unit_test_setup_teardown(out_of_memory_in_collection_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(large_flush_keys_come_back_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(large_flush_failing_midway_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(update_of_a_row_gone_midway, setup, teardown),
        cmocka_unit_test_setup_teardown(update_refused_midway_names_the_row, setup, teardown),
        cmocka_unit_test_setup_teardown(many_row_statements, setup, teardown),
        cmocka_unit_test_setup_teardown(many_row_delete_refused_names_the_row, setup, teardown),
    };
    /* SQLite's own: a database-wide write lock (two writers conflict; a
     * server locks rows) and its sqlite:// database. */
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test_setup_teardown(two_writers_conflict_after_busy_timeout, setup_rollback_journal, teardown),
        cmocka_unit_test_setup_teardown(memory_sessions_do_not_block, setup_memory, teardown_memory),
        cmocka_unit_test_setup_teardown(memory_two_sessions_interleaved, setup_memory, teardown_memory),
        cmocka_unit_test_setup_teardown(memory_eight_sessions_and_threads, setup_memory, teardown_memory),
    };
    /* A COMMIT the database refuses after the flush went through: SQLite
     * (a reader's lock) and PostgreSQL (a deferred trigger) can be made to;
     * MariaDB checks every constraint before COMMIT and has no lock COMMIT
     * waits on, so there the failure these tests need cannot be provoked. */
    const struct CMUnitTest commit_fails_tests[] = {
        cmocka_unit_test_setup_teardown(retry_after_commit_busy_keeps_the_orphan, setup_rollback_journal, teardown),
        cmocka_unit_test_setup_teardown(retry_after_commit_busy_writes_everything, setup_rollback_journal, teardown),
    };
    const char *server = test_server_url();
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (!server || strncmp(server, "postgresql", 10) == 0)
        failed += cmocka_run_group_tests(commit_fails_tests, NULL, NULL);
    if (!server)
        failed += cmocka_run_group_tests(sqlite_tests, NULL, NULL);
    return failed;
}
