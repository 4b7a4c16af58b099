/*
 * test_session.c — the unit of work: identity map, dirty tracking that
 * writes only what changed (checked through the echo), keys filled in,
 * server defaults read back, delete, rollback, savepoints, refresh,
 * expunge.
 */
#include "common.h"
#include "util/alloc.h"

#include <pthread.h>
#include <string.h>

static fixture fx;

static int setup(void **state) { (void)state; fx_open(&fx, ""); return 0; }
static int teardown(void **state) { (void)state; fx_close(&fx); return 0; }

static void add_commit_fills_keys_and_defaults(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    User *u = corm_new(s, User);
    assert_int_equal(u->age, 18); /* client default */
    u->username = "marshal";
    u->email = "marshal@example.com";
    OK(corm_add(s, u));
    assert_int_equal(u->id, 0);
    OK(corm_commit(s));
    assert_true(u->id > 0);
    /* the server default was read back */
    assert_int_equal(u->created.date.year, 2024);
    assert_int_equal(fx_count(&fx, "INSERT INTO \"user\""), 1);
    assert_non_null(strstr(fx_last(&fx, "INSERT"), "RETURNING"));
    /* a Post has no server default: only its key comes back, as the rows
     * of a flush's INSERTs are matched to their objects by it */
    Post *p = corm_new(s, Post);
    p->content = "hello";
    p->user_id = u->id;
    OK(corm_add(s, p));
    OK(corm_commit(s));
    assert_true(p->id > 0);
    const char *ins = fx_last(&fx, "INSERT");
    assert_non_null(strstr(ins, ") RETURNING \"id\""));
    assert_null(strstr(ins, "RETURNING \"id\","));
    assert_int_equal(fx_rows(&fx, "post"), 1);
    corm_session_free(s);
}

/* What another session committed, as a long-lived session sees it: not
 * through its identity map, until the object is expired; then corm_get and
 * queries read it again, into the same object. */
static void expired_objects_see_other_writers(void **state)
{
    (void)state;
    corm_session *a = corm_session_new(fx.db), *b = corm_session_new(fx.db);
    User *u = fx_user(a, "ann", 30);
    int64_t id = u->id;
    User *theirs;
    OK(corm_get(b, User, id, &theirs));
    theirs->age = 31;
    OK(corm_commit(b));
    User *g;
    OK(corm_get(a, User, id, &g));
    assert_int_equal(g->age, 30); /* the identity map: no SELECT, the old value */
    OK(corm_expire(a, u));
    fx_clear_log(&fx);
    OK(corm_get(a, User, id, &g));
    assert_ptr_equal(g, u);
    assert_int_equal(u->age, 31);
    assert_int_equal(fx_count(&fx, "SELECT"), 1);
    OK(corm_get(a, User, id, &g)); /* read once: no longer expired */
    assert_int_equal(fx_count(&fx, "SELECT"), 1);
    assert_false(corm_is_modified(a, u));

    /* a query meets the row: expire_all, then the new value */
    theirs->age = 32;
    OK(corm_commit(b));
    corm_query *q = corm_query_new(a, User);
    User **all;
    size_t n;
    OK(corm_all(q, &all, &n));
    assert_int_equal(u->age, 31);
    corm_expire_all(a);
    q = corm_query_new(a, User);
    OK(corm_all(q, &all, &n));
    assert_int_equal(n, 1);
    assert_ptr_equal(all[0], u);
    assert_int_equal(u->age, 32);

    /* changed after expiring: an ordinary change, kept and written */
    theirs->age = 33;
    OK(corm_commit(b));
    OK(corm_expire(a, u));
    u->age = 40;
    OK(corm_get(a, User, id, &g));
    assert_int_equal(u->age, 40);
    OK(corm_commit(a));
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\""), 40);
    fx_clear_log(&fx);
    OK(corm_get(a, User, id, &g)); /* still expired: read again once, now */
    assert_int_equal(fx_count(&fx, "SELECT"), 1);
    assert_int_equal(u->age, 40);

    /* expire_on_commit: off by default, on when asked */
    OK(corm_refresh(b, theirs));
    theirs->age = 41;
    OK(corm_commit(b));
    User *other = fx_user(a, "bob", 20); /* a commit of a's own */
    (void)other;
    OK(corm_get(a, User, id, &g));
    assert_int_equal(u->age, 40);
    corm_session_set_expire_on_commit(a, true);
    fx_user(a, "cy", 20);
    OK(corm_get(a, User, id, &g));
    assert_int_equal(u->age, 41);

    /* the row gone: corm_get says so, as for any missing row */
    OK(corm_delete(b, theirs));
    OK(corm_commit(b));
    OK(corm_expire(a, u));
    OK(corm_get(a, User, id, &g));
    assert_null(g);
    corm_session_free(a);
    corm_session_free(b);
}

/* Expiring what has unsaved changes, or what is not in the database, is
 * refused with a sentence; the session goes on. */
static void expiring_refuses_unsaved_objects(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    User *u = fx_user(s, "dee", 30);
    u->age = 31;
    assert_int_equal(corm_expire(s, u), CORM_ESTATE);
    assert_non_null(strstr(corm_errmsg(s), "User id = "));
    assert_non_null(strstr(corm_errmsg(s), "changes not yet flushed"));
    assert_int_equal(u->age, 31); /* nothing discarded */
    User *fresh = corm_new(s, User);
    assert_int_equal(corm_expire(s, fresh), CORM_ESTATE);
    assert_non_null(strstr(corm_errmsg(s), "only a persistent object"));
    OK(corm_commit(s));
    OK(corm_expire(s, u));
    assert_int_equal(corm_expire(s, NULL), CORM_EINVAL);
    corm_session_free(s);
}

static void identity_map_returns_the_same_pointer(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    User *u = fx_user(s, "alice", 30);
    User *g;
    OK(corm_get(s, User, u->id, &g));
    assert_ptr_equal(g, u);
    corm_session *s2 = corm_session_new(fx.db);
    User *a, *b, *c;
    OK(corm_get(s2, User, u->id, &a));
    fx_clear_log(&fx);
    OK(corm_get(s2, User, u->id, &b));
    assert_ptr_equal(a, b);
    assert_int_equal(fx_count(&fx, "SELECT"), 0); /* no second query */
    corm_query *q = corm_query_new(s2, User);
    OK(corm_filter(q, corm_eq(User_username, "alice")));
    OK(corm_one(q, &c));
    assert_ptr_equal(c, a);
    OK(corm_get(s2, User, 999999, &c));
    assert_null(c);
    corm_session_free(s2);
    corm_session_free(s);
}

/* Keys in a run, strided by a power of two, negative, at the type's
 * edges: the identity map's slot comes from the key's hash, and every
 * object is found again without a query, also after others left the
 * map (each leaving moves its neighbours back along their probe runs,
 * filing them again by key). */
static void identity_map_holds_keys_of_any_pattern(void **state)
{
    (void)state;
    static int64_t keys[3000];
    size_t n = 0;
    for (int64_t i = 1; i <= 1000; i++)
        keys[n++] = i;
    for (int64_t i = 1; i <= 1000; i++)
        keys[n++] = i << 16;
    for (int64_t i = 1; i <= 998; i++)
        keys[n++] = -i * 4096;
    keys[n++] = INT32_MAX;
    keys[n++] = INT32_MIN + 1;
    corm_session *s = corm_session_new(fx.db);
    for (size_t i = 0; i < n; i++) {
        char name[32], mail[48];
        snprintf(name, sizeof name, "k%lld", (long long)keys[i]);
        snprintf(mail, sizeof mail, "k%lld@example.com", (long long)keys[i]);
        User *u = corm_new(s, User);
        u->id = keys[i];
        u->username = corm_strdup(s, name);
        u->email = corm_strdup(s, mail);
        u->age = (int64_t)i % 90;
        OK(corm_add(s, u));
    }
    OK(corm_commit(s));
    corm_session_free(s);

    s = corm_session_new(fx.db);
    User **v;
    size_t cnt;
    OK(corm_all(corm_query_new(s, User), &v, &cnt));
    assert_int_equal(cnt, n);
    fx_clear_log(&fx);
    for (size_t i = 0; i < cnt; i++) {
        User *g;
        OK(corm_get(s, User, v[i]->id, &g));
        assert_ptr_equal(g, v[i]);
    }
    assert_int_equal(fx_count(&fx, "SELECT"), 0);
    /* a key changed by hand (a flush would refuse it) does not move its
     * object in the map: those the leaving ones move along are filed again
     * under the key the row has */
    for (size_t i = 1; i < cnt; i += 2)
        v[i]->id += (int64_t)1 << 40;
    for (size_t i = 0; i < cnt; i += 2)
        OK(corm_expunge(s, v[i]));
    for (size_t i = 1; i < cnt; i += 2)
        v[i]->id -= (int64_t)1 << 40;
    for (size_t i = 1; i < cnt; i += 2) {
        User *g;
        OK(corm_get(s, User, v[i]->id, &g));
        assert_ptr_equal(g, v[i]);
    }
    assert_int_equal(fx_count(&fx, "SELECT"), 0);
    for (size_t i = 0; i < cnt; i += 500) { /* expunged: read again, a new object */
        User *g;
        OK(corm_get(s, User, v[i]->id, &g));
        assert_non_null(g);
        assert_ptr_not_equal(g, v[i]);
        assert_int_equal(g->id, v[i]->id);
    }
    assert_int_equal(fx_count(&fx, "SELECT"), 6);
    corm_session_free(s);
}

/* The keys of the users a flush is about to update, in the order it does. */
static int64_t updated[64];
static size_t nupdated;

static int record_update(corm_session *s, void *obj, void *ud)
{
    (void)s;
    (void)ud;
    if (nupdated < sizeof updated / sizeof *updated)
        updated[nupdated++] = ((User *)obj)->id;
    return CORM_OK;
}

/* A flush writes a model's changed rows in the order of their keys,
 * whatever the order they were loaded and changed in (as SQLAlchemy
 * does: two sessions changing the same rows lock them in one order). */
static void a_flush_writes_changed_rows_in_key_order(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "k%02d", i);
        fx_user(s, name, i);
    }
    corm_session_free(s);
    OK(corm_listen(fx.db, CORM_BEFORE_UPDATE, User, record_update, NULL));
    s = corm_session_new(fx.db);
    corm_query *q = corm_query_new(s, User);
    corm_order_by(q, corm_desc(User_id));
    User **v;
    size_t n;
    OK(corm_all(q, &v, &n));
    assert_int_equal(n, 40);
    for (size_t k = 0; k < n; k++) /* every 7th, round: none next to the last */
        v[k * 7 % n]->age += 100;
    nupdated = 0;
    OK(corm_commit(s));
    assert_int_equal(nupdated, 40);
    for (size_t k = 1; k < nupdated; k++)
        assert_true(updated[k - 1] < updated[k]);
    corm_session_free(s);
}

static void unchanged_object_writes_nothing(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    User *u = fx_user(s, "bob", 40);
    fx_clear_log(&fx);
    OK(corm_commit(s));
    assert_int_equal(fx_count(&fx, "UPDATE"), 0);
    assert_int_equal(fx_count(&fx, "INSERT"), 0);
    /* the same value assigned again is not a change */
    u->age = 40;
    u->username = corm_strdup(s, "bob"); /* another pointer, same text */
    assert_false(corm_is_modified(s, u));
    OK(corm_commit(s));
    assert_int_equal(fx_count(&fx, "UPDATE"), 0);
    corm_session_free(s);
}

static void one_changed_column_writes_one_column(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    User *u = fx_user(s, "carol", 25);
    fx_clear_log(&fx);
    u->age = 26;
    assert_true(corm_is_modified(s, u));
    OK(corm_commit(s));
    assert_int_equal(fx_count(&fx, "UPDATE"), 1);
    const char *sql = fx_last(&fx, "UPDATE");
    assert_non_null(strstr(sql, "SET \"age\" = ? WHERE \"id\" = ?"));
    assert_null(strstr(sql, "username"));
    fx_clear_log(&fx);
    u->email = "carol@new.example.com";
    u->password = "hunter2";
    OK(corm_commit(s));
    sql = fx_last(&fx, "UPDATE");
    assert_non_null(strstr(sql, "SET \"email\" = ?, \"password\" = ? WHERE"));
    /* a sensitive column's value is never echoed */
    assert_null(strstr(sql, "hunter2"));
    assert_non_null(strstr(sql, "***"));
    corm_session *s2 = corm_session_new(fx.db);
    User *b;
    OK(corm_get(s2, User, u->id, &b));
    assert_int_equal(b->age, 26);
    assert_string_equal(b->email, "carol@new.example.com");
    corm_session_free(s2);
    corm_session_free(s);
}

static void delete_and_flush_order(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    /* parent and child added child-first: the flush inserts the parent first */
    User *u = corm_new(s, User);
    u->username = "dave";
    u->email = "dave@example.com";
    OK(corm_add(s, u));
    OK(corm_flush(s));
    Post *p = corm_new(s, Post);
    p->user_id = u->id;
    p->content = "x";
    OK(corm_add(s, p));
    OK(corm_commit(s));
    /* deleted together, the child goes first */
    fx_clear_log(&fx);
    OK(corm_delete(s, u));
    OK(corm_delete(s, p));
    OK(corm_commit(s));
    assert_int_equal(fx_count(&fx, "DELETE"), 2);
    size_t post_at = 0, user_at = 0;
    for (size_t i = 0; i < fx.nlog; i++) {
        if (strncmp(fx.log[i], "DELETE FROM \"post\"", 18) == 0)
            post_at = i + 1;
        if (strncmp(fx.log[i], "DELETE FROM \"user\"", 18) == 0)
            user_at = i + 1;
    }
    assert_true(post_at && user_at && post_at < user_at);
    assert_int_equal(fx_rows(&fx, "user"), 0);
    User *g;
    OK(corm_get(s, User, u->id, &g));
    assert_null(g);
    /* a pending object deleted before flush is never inserted */
    User *v = corm_new(s, User);
    v->username = "eve";
    v->email = "eve@example.com";
    OK(corm_add(s, v));
    OK(corm_delete(s, v));
    fx_clear_log(&fx);
    OK(corm_commit(s));
    assert_int_equal(fx_count(&fx, "INSERT"), 0);
    corm_session_free(s);
}

static void rollback_restores_committed_state(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    User *u = fx_user(s, "frank", 50);
    u->age = 51;
    OK(corm_flush(s)); /* written, not committed */
    u->username = "franky";
    User *n = corm_new(s, User);
    n->username = "ghost";
    n->email = "ghost@example.com";
    OK(corm_add(s, n));
    OK(corm_flush(s));
    assert_true(n->id > 0);
    OK(corm_rollback(s));
    assert_int_equal(u->age, 50);
    assert_string_equal(u->username, "frank");
    assert_false(corm_is_modified(s, u));
    assert_int_equal(fx_rows(&fx, "user"), 1);
    /* the rolled-back insert left the session */
    fx_clear_log(&fx);
    OK(corm_commit(s));
    assert_int_equal(fx_count(&fx, "INSERT"), 0);
    corm_session_free(s);
}

static void savepoints(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    User *u = fx_user(s, "henry", 20);
    OK(corm_begin_nested(s));
    u->age = 21;
    User *t = corm_new(s, User);
    t->username = "temp";
    t->email = "temp@example.com";
    OK(corm_add(s, t));
    OK(corm_rollback_nested(s));
    assert_int_equal(u->age, 20);
    OK(corm_begin_nested(s));
    u->age = 22;
    OK(corm_commit_nested(s));
    OK(corm_commit(s));
    assert_int_equal(fx_rows(&fx, "user"), 1);
    corm_session *s2 = corm_session_new(fx.db);
    User *b;
    OK(corm_get(s2, User, u->id, &b));
    assert_int_equal(b->age, 22);
    assert_int_equal(corm_commit_nested(s2), CORM_ESTATE);
    corm_session_free(s2);
    corm_session_free(s);
}

static void refresh_and_expunge(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    User *u = fx_user(s, "ivy", 33);
    corm_session *s2 = corm_session_new(fx.db);
    User *b;
    OK(corm_get(s2, User, u->id, &b));
    b->age = 34;
    OK(corm_commit(s2));
    assert_int_equal(u->age, 33);
    u->username = "unsaved";
    OK(corm_refresh(s, u));
    assert_int_equal(u->age, 34);
    assert_string_equal(u->username, "ivy");
    OK(corm_expunge(s, u));
    u->age = 99;
    fx_clear_log(&fx);
    OK(corm_commit(s));
    assert_int_equal(fx_count(&fx, "UPDATE"), 0);
    User *again;
    OK(corm_get(s, User, b->id, &again));
    assert_ptr_not_equal(again, u);
    assert_int_equal(again->age, 34);
    corm_session_free(s2);
    corm_session_free(s);
}

static void autoflush_new_flushes_inserts_not_changes(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db); /* CORM_AUTOFLUSH_NEW */
    User *u = fx_user(s, "jack", 60);
    u->age = 61;
    User *n = corm_new(s, User);
    n->username = "jill";
    n->email = "jill@example.com";
    n->age = 61;
    OK(corm_add(s, n));
    corm_query *q = corm_query_new(s, User);
    OK(corm_filter(q, corm_eq(User_age, 61)));
    int64_t count;
    OK(corm_count(q, &count));
    assert_int_equal(count, 1); /* jill inserted; jack's change not yet written */
    OK(corm_flush(s));
    OK(corm_count(q, &count));
    assert_int_equal(count, 2);
    corm_session_set_autoflush(s, CORM_AUTOFLUSH_OFF);
    User *o = corm_new(s, User);
    o->username = "off";
    o->email = "off@example.com";
    o->age = 61;
    OK(corm_add(s, o));
    OK(corm_count(q, &count));
    assert_int_equal(count, 2);
    OK(corm_rollback(s));
    corm_session_free(s);
}

static void autoflush_all_flushes_changes(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    corm_session_set_autoflush(s, CORM_AUTOFLUSH_ALL);
    User *u = fx_user(s, "jack", 60);
    u->age = 61;
    User *n = corm_new(s, User);
    n->username = "jill";
    n->email = "jill@example.com";
    n->age = 61;
    OK(corm_add(s, n));
    corm_query *q = corm_query_new(s, User);
    OK(corm_filter(q, corm_eq(User_age, 61)));
    int64_t count;
    OK(corm_count(q, &count));
    assert_int_equal(count, 2);
    OK(corm_rollback(s));
    assert_int_equal(fx_rows(&fx, "user"), 1);
    corm_session_free(s);
}

static void objects_from_elsewhere_are_refused(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db), *s2 = corm_session_new(fx.db);
    User *u = corm_new(s2, User);
    assert_int_equal(corm_add(s, u), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "not made or loaded by this session"));
    User local;
    memset(&local, 0, sizeof local);
    static char junk[256];
    assert_int_equal(corm_add(s, junk + 128), CORM_EINVAL);
    assert_int_equal(corm_delete(s, u), CORM_EINVAL);
    /* deleting a transient object is a state error */
    User *t = corm_new(s, User);
    assert_int_equal(corm_delete(s, t), CORM_ESTATE);
    corm_session_free(s2);
    corm_session_free(s);
}

/* corm_begin: the session's reads in one transaction, begun before the
 * first of them. On SQLite they share one snapshot, so another session's
 * commit is seen once the transaction ends; on PostgreSQL and MariaDB (READ
 * COMMITTED, as corm sets them) each statement sees it at once. A write in
 * it takes the write lock then; on SQLite, if another connection committed
 * since the snapshot, that commit fails with CORM_EBUSY, the change kept,
 * and committing again writes it. */
static int64_t committed_age(int64_t id)
{
    corm_session *s = corm_session_new(fx.db);
    User *u;
    OK(corm_get(s, User, id, &u));
    assert_non_null(u);
    int64_t age = u->age;
    corm_session_free(s);
    return age;
}

static void begin_reads_in_one_transaction(void **state)
{
    (void)state;
    bool snapshot = strcmp(fx_backend(&fx), "sqlite") == 0;
    corm_session *a = corm_session_new(fx.db), *b = corm_session_new(fx.db);
    User *first = fx_user(b, "first", 20);
    OK(corm_begin(a));
    OK(corm_begin(a)); /* in one already: nothing changes */
    int64_t n;
    OK(corm_count(corm_query_new(a, User), &n));
    assert_int_equal(n, 1);
    fx_user(b, "second", 21);
    OK(corm_count(corm_query_new(a, User), &n));
    assert_int_equal(n, snapshot ? 1 : 2);
    OK(corm_commit(a)); /* ends it; nothing to write */
    OK(corm_count(corm_query_new(a, User), &n));
    assert_int_equal(n, 2);

    User *u;
    OK(corm_begin(a));
    OK(corm_get(a, User, first->id, &u));
    u->age = 40;
    OK(corm_commit(a));
    assert_int_equal(committed_age(first->id), 40);

    OK(corm_begin(a));
    OK(corm_count(corm_query_new(a, User), &n)); /* the snapshot is taken */
    fx_user(b, "third", 22);
    u->age = 41;
    int rc = corm_commit(a);
    if (strcmp(fx_backend(&fx), "sqlite") == 0) {
        assert_int_equal(rc, CORM_EBUSY);
        assert_true(corm_is_modified(a, u));
        assert_int_equal(u->age, 41);
        OK(corm_commit(a));
    } else {
        OK(rc);
    }
    assert_int_equal(committed_age(first->id), 41);
    assert_int_equal(fx_rows(&fx, "user"), 3);
    /* freed inside one: rolled back, the connection back in the pool */
    OK(corm_begin(a));
    OK(corm_count(corm_query_new(a, User), &n));
    corm_session_free(a);
    corm_session_free(b);
    a = corm_session_new(fx.db);
    fx_user(a, "fourth", 23);
    assert_int_equal(fx_rows(&fx, "user"), 4);
    corm_session_free(a);
}

/* Out of memory at each allocation corm_begin makes (a connection opened
 * for it included): CORM_ENOMEM, nothing held (ASan sees the engine close
 * clean), and the same session then begins and reads. */
static void begin_out_of_memory(void **state)
{
    (void)state;
    int rc = CORM_ENOMEM;
    long n;
    for (n = 0; rc == CORM_ENOMEM && n < 500; n++) {
        corm_engine *e;
        OK(corm_engine_open(&e, fx.url, test_models));
        corm_session *holder = corm_session_new(e), *s = corm_session_new(e);
        assert_non_null(s);
        OK(corm_begin(holder)); /* holds the pooled connection: s needs a new one */
        util_alloc_fail_after(n);
        rc = corm_begin(s);
        util_alloc_fail_after(-1);
        if (rc == CORM_ENOMEM) {
            OK(corm_begin(s));
            int64_t count;
            OK(corm_count(corm_query_new(s, User), &count));
        } else {
            OK(rc);
        }
        corm_session_free(s);
        corm_session_free(holder);
        corm_engine_close(e);
    }
    assert_true(n > 1); /* some allocation was made to fail */
    printf("# corm_begin: %ld allocations made to fail in turn\n", n - 1);
}

/* A Post pointing at no user, through the session s: its commit's code. */
static int dangling_post(corm_session *s)
{
    Post *p = corm_new(s, Post);
    p->content = "nobody's";
    p->user_id = 999;
    OK(corm_add(s, p));
    int rc = corm_commit(s);
    if (rc != CORM_OK) {
        assert_non_null(strstr(corm_errmsg(s), "user_id"));
        corm_rollback(s);
    }
    return rc;
}

/* ?foreign_keys=off keeps SQLite's own default (the program answers for
 * its references; SQLAlchemy's default too): a key pointing nowhere is
 * written, a migration still refuses to commit rows that point nowhere
 * and leaves the setting as the URL had it. corm's
 * default enforces them. The servers always enforce foreign keys: there
 * the parameter is refused. A value not on or off is refused. */
static void foreign_keys_off_is_a_url_choice(void **state)
{
    (void)state;
    corm_engine *off = NULL;
    char url[1200];
    const char *server = test_server_url();
    snprintf(url, sizeof url, "%s%sforeign_keys=off", fx.url, strchr(fx.url, '?') ? "&" : "?");
    if (server) {
        assert_int_equal(corm_engine_open(&off, url, test_models), CORM_EURL);
        assert_non_null(strstr(corm_engine_errmsg(off), "foreign_keys"));
        corm_engine_close(off);
        corm_session *s = corm_session_new(fx.db);
        assert_int_equal(dangling_post(s), CORM_EFOREIGNKEY);
        corm_session_free(s);
        return;
    }
    snprintf(url, sizeof url, "sqlite:///%s?foreign_keys=maybe", fx.path);
    assert_int_equal(corm_engine_open(&off, url, test_models), CORM_EURL);
    assert_non_null(strstr(corm_engine_errmsg(off), "foreign_keys 'maybe' is not on or off"));
    corm_engine_close(off);

    snprintf(url, sizeof url, "sqlite:///%s?foreign_keys=off&pool_size=1", fx.path);
    OK(corm_engine_open(&off, url, test_models));
    corm_session *s = corm_session_new(off), *on = corm_session_new(fx.db);
    assert_int_equal(dangling_post(on), CORM_EFOREIGNKEY);
    OK(dangling_post(s));
    assert_int_equal(fx_rows(&fx, "post"), 1);
    corm_session_free(s);

    char migs[300];
    snprintf(migs, sizeof migs, "%s/migrations", fx.dir);
    OK(corm_migrate_init(off, migs));
    char rev[64];
    OK(corm_migrate_revision(off, migs, "extra", "CREATE TABLE extra (id INTEGER PRIMARY KEY);",
                             "DROP TABLE extra;", rev, sizeof rev));
    /* a migration checks every reference before it commits, whatever the URL */
    assert_int_equal(corm_migrate_upgrade(off, migs, "head", NULL), CORM_EFOREIGNKEY);
    assert_non_null(strstr(corm_engine_errmsg(off), "rows of post point at rows that do not exist"));
    db_exec(fx.url, "DELETE FROM post");
    OK(corm_migrate_upgrade(off, migs, "head", NULL)); /* on the pool's one connection */
    s = corm_session_new(off);
    OK(dangling_post(s)); /* still off after it */
    corm_session_free(s);
    db_exec(fx.url, "DELETE FROM post");
    OK(corm_migrate_downgrade(fx.db, migs, "base", NULL));
    assert_int_equal(dangling_post(on), CORM_EFOREIGNKEY); /* and on where it was on */
    assert_int_equal(fx_rows(&fx, "post"), 0);
    corm_session_free(on);
    corm_engine_close(off);
}

static void reset_forgets_everything(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    User *u = fx_user(s, "kate", 40);
    int64_t id = u->id;
    u->age = 41; /* not committed: rolled back by the reset */
    User *pending = corm_new(s, User);
    pending->username = "never";
    pending->email = "never@example.com";
    OK(corm_add(s, pending));
    corm_session_reset(s);
    fx_clear_log(&fx);
    OK(corm_commit(s)); /* nothing to write */
    assert_int_equal(fx_count(&fx, "INSERT"), 0);
    assert_int_equal(fx_count(&fx, "UPDATE"), 0);
    User *again;
    OK(corm_get(s, User, id, &again)); /* loaded anew */
    assert_int_equal(again->age, 40);
    again->age = 42;
    OK(corm_commit(s));
    for (int i = 0; i < 3; i++) { /* and usable as new, again and again */
        corm_session_reset(s);
        fx_user(s, i == 0 ? "r0" : i == 1 ? "r1" : "r2", i);
    }
    assert_int_equal(fx_rows(&fx, "user"), 4);
    corm_session_free(s);
}

/* An engine is shared by threads; each thread has its own session. */
static void *writer(void *arg)
{
    long t = (long)arg;
    corm_session *s = corm_session_new(fx.db);
    for (int i = 0; i < 25; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%ld-%d", t, i);
        User *u = corm_new(s, User);
        u->username = corm_strdup(s, name);
        u->email = corm_strdup(s, name);
        u->age = t;
        if (corm_add(s, u) != CORM_OK || corm_commit(s) != CORM_OK) {
            corm_session_free(s);
            return (void *)1;
        }
    }
    corm_session_free(s);
    return NULL;
}

static void threads_share_an_engine(void **state)
{
    (void)state;
    pthread_t th[4];
    corm_engine_set_echo(fx.db, NULL, NULL); /* the fixture's log is not thread-safe */
    for (long t = 0; t < 4; t++)
        assert_int_equal(pthread_create(&th[t], NULL, writer, (void *)t), 0);
    for (int t = 0; t < 4; t++) {
        void *rc;
        pthread_join(th[t], &rc);
        assert_null(rc);
    }
    assert_int_equal(fx_rows(&fx, "user"), 100);
}

/* The fixture's database with more URL parameters. */
static corm_engine *engine_with(const char *params)
{
    char url[700];
    snprintf(url, sizeof url, "%s%c%s", fx.url, strchr(fx.url, '?') ? '&' : '?', params);
    corm_engine *e;
    if (corm_engine_open(&e, url, test_models) != CORM_OK)
        fail_msg("open %s: %s", url, corm_engine_errmsg(e));
    return e;
}

/* A session that has read holds a connection until it ends. */
static corm_session *reading_session(corm_engine *e)
{
    corm_session *r = corm_session_new(e);
    int64_t n;
    OK(corm_count(corm_query_new(r, User), &n));
    return r;
}

/* corm_merge onto an object the session holds, with nothing pending, takes
 * no connection: it succeeds while another session holds the pool's only
 * one. */
static void merge_of_a_held_object_needs_no_connection(void **state)
{
    (void)state;
    corm_engine *e = engine_with("pool_size=1&max_overflow=0&pool_timeout=1");
    corm_session *s = corm_session_new(e);
    User *u = fx_user(s, "held", 20);
    corm_session *other = reading_session(e);
    User src = { .id = u->id, .username = "held", .email = "held@example.com", .age = 21 };
    User *got;
    OK(corm_merge(s, User, &src, &got));
    assert_ptr_equal(got, u);
    assert_int_equal(u->age, 21);
    corm_session_free(other);
    OK(corm_commit(s));
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'held'"), 21);
    corm_session_free(s);
    corm_engine_close(e);
}

static void pool_waits_then_times_out(void **state)
{
    (void)state;
    corm_engine *e = engine_with("pool_size=2&max_overflow=1&pool_timeout=1");
    corm_session *held[3];
    for (int i = 0; i < 3; i++)
        held[i] = reading_session(e);
    /* a fourth waits pool_timeout for a place, then is told why */
    corm_session *late = corm_session_new(e);
    int64_t n;
    assert_int_equal(corm_count(corm_query_new(late, User), &n), CORM_EBUSY);
    assert_non_null(strstr(corm_errmsg(late), "all 3 are in use (pool_size 2 + max_overflow 1)"));
    /* one ends: the late session goes on */
    corm_session_free(held[0]);
    OK(corm_count(corm_query_new(late, User), &n));
    corm_session_free(late);
    corm_session_free(held[1]);
    corm_session_free(held[2]);
    corm_engine_close(e);
    /* bad numbers are refused */
    assert_int_equal(corm_engine_open(&e, "sqlite://?max_overflow=-1", test_models), CORM_EURL);
    assert_non_null(strstr(corm_engine_errmsg(e), "max_overflow '-1' is not a number"));
    corm_engine_close(e);
}

typedef struct pool_worker { corm_engine *e; long id; int commits, errors; char msg[300]; } pool_worker;

static void *pool_work(void *arg)
{
    pool_worker *w = arg;
    for (int i = 0; i < 40; i++) {
        corm_session *t = corm_session_new(w->e);
        int rc;
        if (i % 2) {
            int64_t n;
            rc = corm_count(corm_query_new(t, User), &n);
        } else {
            char name[64];
            snprintf(name, sizeof name, "pool-%ld-%d", w->id, i);
            User *u = corm_new(t, User);
            u->username = name;
            u->email = name;
            rc = corm_add(t, u);
            if (rc == CORM_OK)
                rc = corm_commit(t);
            w->commits += rc == CORM_OK;
        }
        if (rc != CORM_OK) {
            w->errors++;
            snprintf(w->msg, sizeof w->msg, "%s", corm_errmsg(t));
        }
        corm_session_free(t);
    }
    return NULL;
}

/* 8 threads, 4 connections: every commit lands, every connection comes back. */
static void eight_threads_share_four_connections(void **state)
{
    (void)state;
    corm_engine *e = engine_with("pool_size=4&max_overflow=0&pool_timeout=20");
    pthread_t th[8];
    pool_worker w[8];
    for (long t = 0; t < 8; t++) {
        w[t] = (pool_worker){ .e = e, .id = t };
        assert_int_equal(pthread_create(&th[t], NULL, pool_work, &w[t]), 0);
    }
    int commits = 0;
    for (int t = 0; t < 8; t++) {
        pthread_join(th[t], NULL);
        if (w[t].errors)
            fail_msg("thread %d: %d errors, last: %s", t, w[t].errors, w[t].msg);
        commits += w[t].commits;
    }
    assert_int_equal(commits, 8 * 20);
    int64_t users = fx_rows(&fx, "user");
    assert_int_equal(users, 8 * 20);
    /* all four came back: four sessions get one each, at once */
    corm_engine_close(e);
    e = engine_with("pool_size=4&max_overflow=0&pool_timeout=1");
    corm_session *held[4];
    for (int i = 0; i < 4; i++)
        held[i] = reading_session(e);
    for (int i = 0; i < 4; i++)
        corm_session_free(held[i]);
    corm_engine_close(e);
}

/* More column sets than the session keeps statement texts for, one after
 * another in one flush (on a server, in one batch's stretch): each UPDATE
 * writes its own columns. */
static void updates_of_many_column_sets(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    Kitchen *k[40];
    for (int i = 0; i < 40; i++) {
        k[i] = corm_new(s, Kitchen);
        OK(corm_add(s, k[i]));
    }
    OK(corm_commit(s));
    /* 32 different sets of the five columns, neighbours differing in the
     * last two only: their statements take each other's place in the
     * session's 16 statement texts */
    for (int i = 0; i < 40; i++) {
        int p = (i % 4) << 3 | (i / 4) % 8;
        if (p & 1)
            k[i]->i = 1;
        if (p & 2)
            k[i]->big = 10;
        if (p & 4)
            k[i]->small = 100;
        if (p & 8)
            k[i]->f = 1000;
        if (p & 16)
            k[i]->flag = true;
    }
    OK(corm_commit(s));
    char sql[200];
    for (int i = 0; i < 40; i++) {
        int p = (i % 4) << 3 | (i / 4) % 8;
        snprintf(sql, sizeof sql, "SELECT i + big + small + CAST(f AS INTEGER) + "
                 "CASE WHEN flag THEN 10000 ELSE 0 END FROM kitchen WHERE id = %lld",
                 (long long)k[i]->id);
        int64_t want = (p & 1) * 1 + !!(p & 2) * 10 + !!(p & 4) * 100 + !!(p & 8) * 1000 +
                       !!(p & 16) * 10000;
        assert_int_equal(db_int(fx.url, sql), want);
    }
    corm_session_free(s);
}

/* ---- events (corm_listen) ---------------------------------------------------- */

typedef struct tally {
    int before_insert, after_insert, before_update, after_update, before_delete, after_delete;
    int before_commit, after_commit, after_rollback;
    int64_t last_id;
    bool refuse_commit, fail_after_commit, fail_after_rollback;
} tally;

static int on_before_insert(corm_session *s, void *obj, void *ud)
{
    (void)s;
    User *u = obj;
    ((tally *)ud)->before_insert++;
    if (!u->password)
        u->password = "set-by-hook"; /* a before hook's change is written */
    return CORM_OK;
}

static int on_after_insert(corm_session *s, void *obj, void *ud)
{
    (void)s;
    tally *t = ud;
    t->after_insert++;
    t->last_id = ((User *)obj)->id; /* the key is there */
    return CORM_OK;
}

static int on_before_update(corm_session *s, void *obj, void *ud)
{
    (void)s;
    ((tally *)ud)->before_update++;
    ((User *)obj)->password = "updated-by-hook";
    return CORM_OK;
}

static int on_after_update(corm_session *s, void *obj, void *ud)
{
    (void)s, (void)obj;
    ((tally *)ud)->after_update++;
    return CORM_OK;
}

static int on_before_delete(corm_session *s, void *obj, void *ud)
{
    (void)s;
    ((tally *)ud)->before_delete++;
    return strcmp(((User *)obj)->username, "keeper") == 0 ? CORM_EINVAL : CORM_OK;
}

static int on_after_delete(corm_session *s, void *obj, void *ud)
{
    (void)s, (void)obj;
    ((tally *)ud)->after_delete++;
    return CORM_OK;
}

static int no_op(corm_session *s, void *obj, void *ud)
{
    (void)s, (void)obj, (void)ud;
    return CORM_OK;
}

static int on_session(corm_session *s, void *obj, void *ud, int *count, bool refuse)
{
    (void)s;
    assert_null(obj);
    (*count)++;
    (void)ud;
    return refuse ? CORM_EBUSY : CORM_OK;
}
static int on_before_commit(corm_session *s, void *obj, void *ud)
{
    tally *t = ud;
    return on_session(s, obj, ud, &t->before_commit, t->refuse_commit);
}
static int on_after_commit(corm_session *s, void *obj, void *ud)
{
    tally *t = ud;
    return on_session(s, obj, ud, &t->after_commit, t->fail_after_commit);
}
static int on_after_rollback(corm_session *s, void *obj, void *ud)
{
    tally *t = ud;
    return on_session(s, obj, ud, &t->after_rollback, t->fail_after_rollback);
}

/* Hooks before and after each write, and around commit and rollback; a
 * before hook's change is written; before_update only for changed objects;
 * a refusal fails the commit with its code, naming model, event and object,
 * writes nothing, and the session goes on. */
static void hooks_run_around_the_flush(void **state)
{
    (void)state;
    tally t = { 0 };
    OK(corm_listen(fx.db, CORM_BEFORE_INSERT, User, on_before_insert, &t));
    OK(corm_listen(fx.db, CORM_AFTER_INSERT, User, on_after_insert, &t));
    OK(corm_listen(fx.db, CORM_BEFORE_UPDATE, User, on_before_update, &t));
    OK(corm_listen(fx.db, CORM_AFTER_UPDATE, User, on_after_update, &t));
    OK(corm_listen(fx.db, CORM_BEFORE_DELETE, User, on_before_delete, &t));
    OK(corm_listen(fx.db, CORM_AFTER_DELETE, User, on_after_delete, &t));
    OK(corm_listen_session(fx.db, CORM_BEFORE_COMMIT, on_before_commit, &t));
    OK(corm_listen_session(fx.db, CORM_AFTER_COMMIT, on_after_commit, &t));
    OK(corm_listen_session(fx.db, CORM_AFTER_ROLLBACK, on_after_rollback, &t));
    /* misuse, and out of memory registering: refused, nothing registered */
    util_alloc_fail_after(0); /* the listener list cannot grow: until it must, hooks register */
    int refused = CORM_OK;
    for (int i = 0; i < 64 && refused == CORM_OK; i++)
        refused = corm_listen(fx.db, CORM_AFTER_DELETE, Post, no_op, NULL);
    util_alloc_fail_after(-1);
    assert_int_equal(refused, CORM_ENOMEM);
    assert_non_null(strstr(corm_engine_errmsg(fx.db), "out of memory registering a hook"));
    assert_int_equal(corm_listen(fx.db, CORM_BEFORE_COMMIT, User, on_before_commit, &t), CORM_EINVAL);
    assert_int_equal(corm_listen_session(fx.db, CORM_BEFORE_INSERT, on_before_insert, &t), CORM_EINVAL);
    assert_int_equal(corm_listen(fx.db, CORM_BEFORE_INSERT, User, NULL, &t), CORM_EINVAL);

    corm_session *s = corm_session_new(fx.db);
    User *a = fx_user(s, "keeper", 30), *b = fx_user(s, "goner", 40);
    assert_int_equal(t.before_insert, 2);
    assert_int_equal(t.after_insert, 2);
    assert_int_equal(t.last_id, b->id);
    assert_int_equal(t.after_commit, 2); /* fx_user commits each */
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\" WHERE password = 'set-by-hook'"), 2);

    a->age = 31; /* b unchanged: no before_update for it */
    OK(corm_commit(s));
    assert_int_equal(t.before_update, 1);
    assert_int_equal(t.after_update, 1);
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\" WHERE password = 'updated-by-hook' "
                                 "AND age = 31"), 1);

    /* a refusal: the commit fails with the hook's code, nothing is written */
    OK(corm_delete(s, b));
    OK(corm_delete(s, a));
    assert_int_equal(corm_commit(s), CORM_EINVAL);
    const char *msg = corm_errmsg(s);
    if (!strstr(msg, "User: the before_delete hook refused") || !strstr(msg, "keeper"))
        fail_msg("the sentence does not name model, event and object: %s", msg);
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\" WHERE username IN ('keeper', 'goner')"), 2);
    /* the session goes on: keep a, delete b */
    OK(corm_add(s, a));
    OK(corm_commit(s));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\" WHERE username = 'goner'"), 0);
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\" WHERE username = 'keeper'"), 1);
    assert_true(t.after_delete >= 1);

    /* the session's hooks: a before_commit refusal writes nothing either */
    t.refuse_commit = true;
    a->age = 50;
    assert_int_equal(corm_commit(s), CORM_EBUSY);
    assert_non_null(strstr(corm_errmsg(s), "before_commit hook refused"));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\" WHERE age = 50"), 0);
    OK(corm_rollback(s));
    assert_int_equal(t.after_rollback, 1);
    t.refuse_commit = false;
    int commits = t.after_commit;
    OK(corm_commit(s));
    assert_int_equal(t.after_commit, commits + 1);
    /* after the commit there is nothing to refuse: the hook's code is
     * returned, and what was committed stays */
    t.fail_after_commit = true;
    a->age = 60;
    assert_int_equal(corm_commit(s), CORM_EBUSY);
    assert_non_null(strstr(corm_errmsg(s), "after_commit hook"));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\" WHERE age = 60"), 1);
    assert_false(corm_is_modified(s, a));
    t.fail_after_commit = false;
    /* after a rollback too: the code is returned, and the rollback stands */
    t.fail_after_rollback = true;
    a->age = 70;
    OK(corm_flush(s));
    assert_int_equal(corm_rollback(s), CORM_EBUSY);
    assert_non_null(strstr(corm_errmsg(s), "after_rollback hook refused"));
    assert_int_equal(a->age, 60);
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\" WHERE age = 70"), 0);
    t.fail_after_rollback = false;
    OK(corm_commit(s)); /* the session goes on */
    corm_session_free(s);
}

/* corm_merge: a struct from anywhere onto the session's object for its key. */
static void merge_copies_onto_the_sessions_object(void **state)
{
    (void)state;
    corm_session *a = corm_session_new(fx.db), *b = corm_session_new(fx.db);
    User *ann = fx_user(a, "ann", 30);
    /* a struct filled by hand, as from a request: its strings in a buffer */
    char mail[32] = "ann@new.example";
    User src = { .id = ann->id, .username = "ann", .email = mail, .age = 31 };
    User *got;
    OK(corm_merge(a, User, &src, &got));
    assert_ptr_equal(got, ann); /* the object the session holds */
    assert_int_equal(ann->age, 31);
    strcpy(mail, "overwritten");
    assert_string_equal(ann->email, "ann@new.example"); /* copied, not borrowed */
    assert_true(corm_is_modified(a, ann));
    fx_clear_log(&fx);
    OK(corm_commit(a));
    assert_int_equal(fx_count(&fx, "UPDATE"), 1);
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\""), 31);
    /* another session's object, merged: loaded first, then changed */
    User *theirs;
    OK(corm_get(b, User, ann->id, &theirs));
    theirs->age = 32;
    corm_session *c = corm_session_new(fx.db);
    OK(corm_merge(c, User, theirs, &got));
    assert_ptr_not_equal(got, theirs);
    assert_int_equal(got->age, 32);
    OK(corm_commit(c));
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\""), 32);
    /* a key no row has: a new object with that key; no key: a new one */
    User fresh = { .id = 4242, .username = "bo", .email = "bo@example.com", .age = 5 };
    OK(corm_merge(c, User, &fresh, &got));
    assert_int_equal(got->id, 4242);
    User nokey = { .username = "cy", .email = "cy@example.com", .age = 6 };
    User *third;
    OK(corm_merge(c, User, &nokey, &third));
    OK(corm_commit(c));
    assert_true(third->id > 0 && third->id != 4242);
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\""), 3);
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE id = 4242"), 5);
    /* refusals */
    assert_int_equal(corm_merge(c, User, (User *)NULL, &got), CORM_EINVAL);
    corm_session_free(a);
    corm_session_free(b);
    corm_session_free(c);
}

/* corm_upsert: insert or update on a unique column, the identity map kept. */
static void upsert_inserts_or_updates_on_a_unique_column(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    User *ann = fx_user(s, "ann", 30);
    User *v[3], *out[3];
    const char *names[] = { "ann", "bo", "cy" };
    for (int i = 0; i < 3; i++) {
        v[i] = corm_new(s, User);
        v[i]->username = names[i];
        char mail[64];
        snprintf(mail, sizeof mail, "%s@up.example", names[i]);
        v[i]->email = corm_strdup(s, mail);
        v[i]->age = 40 + i;
    }
    OK(corm_upsert(s, User, v, 3, User_username, out));
    assert_ptr_equal(out[0], ann); /* the row the session held: the same object, updated */
    assert_int_equal(ann->age, 40);
    assert_string_equal(ann->email, "ann@up.example");
    assert_true(out[1]->id > 0 && out[2]->id > 0 && out[1] != v[1]);
    assert_int_equal(out[1]->created.date.year, 2024); /* a server default, read back */
    assert_false(corm_is_modified(s, ann));
    User *g;
    OK(corm_get(s, User, out[1]->id, &g));
    assert_ptr_equal(g, out[1]);
    OK(corm_commit(s));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\""), 3);
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'ann'"), 40);
    /* again: both update, one statement each */
    User *w = corm_new(s, User);
    w->username = "bo";
    w->email = "bo@up.example";
    w->age = 50;
    fx_clear_log(&fx);
    OK(corm_upsert(s, User, &w, 1, User_username, out));
    assert_ptr_equal(out[0], g);
    assert_int_equal(g->age, 50);
    assert_int_equal(fx_count(&fx, "INSERT"), 1);
    /* the database refuses one: the transaction rolls back, as a failed flush */
    User *bad = corm_new(s, User);
    bad->username = "cy";
    bad->email = "cy@up.example";
    bad->age = -1; /* CHECK (age >= 0) */
    assert_int_equal(corm_upsert(s, User, &bad, 1, User_username, out), CORM_ECHECK);
    assert_null(out[0]);
    assert_int_equal(g->age, 41); /* bo's update of this transaction undone */
    OK(corm_commit(s));
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'bo'"), 41);
    /* refusals before any SQL */
    User *x = corm_new(s, User);
    x->username = "dee";
    x->email = "dee@up.example";
    assert_int_equal(corm_upsert(s, User, &x, 1, User_age, out), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "unique by itself (age is not)"));
    assert_int_equal(corm_upsert(s, User, &ann, 1, User_username, out), CORM_EINVAL);
    assert_non_null(strstr(corm_errmsg(s), "already in the session"));
    OK(corm_upsert(s, User, &x, 1, User_email, out)); /* another unique column */
    OK(corm_commit(s));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\""), 4);
    corm_session_free(s);
}

/* New objects for an upsert: up<id>, aged age + i. */
static void upsert_batch(corm_session *s, User **v, const int *ids, size_t n, int64_t age)
{
    for (size_t i = 0; i < n; i++) {
        char name[32], mail[64];
        snprintf(name, sizeof name, "up%d", ids[i]);
        snprintf(mail, sizeof mail, "up%d@up.example", ids[i]);
        v[i] = corm_new(s, User);
        v[i]->username = corm_strdup(s, name);
        v[i]->email = corm_strdup(s, mail);
        v[i]->age = age + (int64_t)i;
    }
}

/* corm_upsert writes many rows a statement: up to 64 of the same columns,
 * a power of two of them, cut where a conflict value comes again (one
 * statement may not update a row twice); each row back to its object. A
 * row the database refuses among many is named: the call runs again a row
 * a statement. */
static void upsert_writes_many_rows_a_statement(void **state)
{
    (void)state;
    corm_session *s = corm_session_new(fx.db);
    User *held = fx_user(s, "up3", 1);
    /* 20 objects; up3 exists (held by the session), and comes twice */
    int ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = i;
    ids[9] = 3;
    User *v[20], *out[20];
    upsert_batch(s, v, ids, 20, 30);
    fx_clear_log(&fx);
    OK(corm_upsert(s, User, v, 20, User_username, out));
    /* 0..8, cut at the second up3: 8 rows; then 8..19: 8 + 4 (uncut, 16 + 4) */
    assert_int_equal(fx_count(&fx, "INSERT"), 3);
    for (int i = 0; i < 20; i++) {
        assert_string_equal(out[i]->username, v[i]->username);
        assert_true(out[i]->id > 0);
    }
    assert_ptr_equal(out[3], held);  /* the row the session held */
    assert_ptr_equal(out[9], held); /* met again: the same object, the later values */
    assert_int_equal(held->age, 39);
    assert_int_equal(out[19]->age, 49);
    OK(corm_commit(s));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\""), 19);
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'up3'"), 39);
    assert_int_equal(db_int(fx.url, "SELECT SUM(age) FROM \"user\""),
                     (30 + 49) * 20 / 2 - 33);

    /* one refused among six (CHECK age >= 0): named by its value, and
     * nothing kept */
    int more[6] = { 1, 2, 30, 31, 32, 33 };
    User *w[6], *got[6];
    upsert_batch(s, w, more, 6, 70);
    w[4]->age = -5;
    fx_clear_log(&fx);
    assert_int_equal(corm_upsert(s, User, w, 6, User_username, got), CORM_ECHECK);
    /* the refused row's own value: not the first row's of its statement (70) */
    assert_non_null(strstr(corm_errmsg(s), "User.age: value -5"));
    for (int i = 0; i < 6; i++)
        assert_null(got[i]);
    OK(corm_commit(s));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM \"user\""), 19);
    assert_int_equal(db_int(fx.url, "SELECT age FROM \"user\" WHERE username = 'up1'"), 31);
    corm_session_free(s);
}

/* Optimistic concurrency: a version column (CORM_VERSION). */
#define CORM_DEFINE_MODELS
#define DOC_FIELDS(COLUMN, RELATION)                                   \
    COLUMN(id,      CORM_INTEGER,    CORM_PRIMARY_KEY)                  \
    COLUMN(title,   CORM_STRING(40), CORM_NOT_NULL)                     \
    COLUMN(body,    CORM_TEXT,       0)                                 \
    COLUMN(version, CORM_INTEGER,    CORM_NOT_NULL | CORM_VERSION)
CORM_MODEL(Doc, "doc", DOC_FIELDS)
#define BAD_VERSION_FIELDS(COLUMN, RELATION)                           \
    COLUMN(id,      CORM_INTEGER,    CORM_PRIMARY_KEY)                  \
    COLUMN(version, CORM_TEXT,       CORM_VERSION)
CORM_MODEL(BadVersion, "bad_version", BAD_VERSION_FIELDS)
#define TWO_VERSIONS_FIELDS(COLUMN, RELATION)                          \
    COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY)                          \
    COLUMN(v1, CORM_INTEGER, CORM_VERSION)                              \
    COLUMN(v2, CORM_INTEGER, CORM_VERSION)
CORM_MODEL(TwoVersions, "two_versions", TWO_VERSIONS_FIELDS)

static void a_version_column_refuses_stale_writes(void **state)
{
    (void)state;
    static const corm_model *const docs[] = { Doc_model, NULL };
    corm_engine *e;
    OK(corm_engine_open(&e, fx.url, docs));
    OK(corm_drop_all(e));
    OK(corm_create_all(e));
    corm_session *a = corm_session_new(e), *b = corm_session_new(e);
    Doc *d = corm_new(a, Doc);
    d->title = "draft";
    OK(corm_add(a, d));
    OK(corm_commit(a));
    assert_int_equal(d->version, 1); /* a new row is at version 1 */
    assert_int_equal(db_int(fx.url, "SELECT version FROM doc"), 1);
    int64_t id = d->id;

    /* two sessions read version 1; the first write wins, the second is stale */
    Doc *theirs;
    OK(corm_get(b, Doc, id, &theirs));
    d->title = "final";
    OK(corm_commit(a));
    assert_int_equal(d->version, 2);
    theirs->body = "my edit";
    assert_int_equal(corm_commit(b), CORM_ESTALE);
    char want[96];
    snprintf(want, sizeof want, "Doc id = %lld: the row was changed", (long long)id);
    assert_non_null(strstr(corm_errmsg(b), want));
    assert_non_null(strstr(corm_errmsg(b), "version 1"));
    assert_string_equal(corm_err_name(CORM_ESTALE), "CORM_ESTALE");
    assert_string_equal(theirs->body, "my edit"); /* kept, as after any failed commit */
    assert_int_equal(theirs->version, 1);
    char buf[64];
    assert_string_equal(db_text(fx.url, "SELECT title FROM doc", buf, sizeof buf), "final");
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM doc WHERE body IS NULL"), 1);
    /* reload, change again: written at version 3, both changes there */
    OK(corm_refresh(b, theirs));
    assert_int_equal(theirs->version, 2);
    theirs->body = "my edit";
    OK(corm_commit(b));
    assert_int_equal(theirs->version, 3);
    assert_string_equal(db_text(fx.url, "SELECT body FROM doc", buf, sizeof buf), "my edit");
    assert_string_equal(db_text(fx.url, "SELECT title FROM doc", buf, sizeof buf), "final");

    /* a stale DELETE is refused too; the session goes on */
    OK(corm_delete(a, d));
    assert_int_equal(corm_commit(a), CORM_ESTALE);
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM doc"), 1);
    OK(corm_rollback(a));
    OK(corm_refresh(a, d));
    OK(corm_delete(a, d));
    OK(corm_commit(a));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM doc"), 0);

    /* many rows in one flush, one of them stale: that one named, none written */
    Doc *many[300];
    for (int i = 0; i < 300; i++) {
        many[i] = corm_new(a, Doc);
        snprintf(buf, sizeof buf, "doc %d", i);
        many[i]->title = corm_strdup(a, buf);
        OK(corm_add(a, many[i]));
    }
    OK(corm_commit(a));
    Doc *one;
    OK(corm_get(b, Doc, many[150]->id, &one));
    one->title = "changed by b";
    OK(corm_commit(b));
    for (int i = 0; i < 300; i++)
        many[i]->body = "edited by a";
    assert_int_equal(corm_commit(a), CORM_ESTALE);
    snprintf(want, sizeof want, "Doc id = %lld:", (long long)many[150]->id);
    assert_non_null(strstr(corm_errmsg(a), want));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM doc WHERE body IS NOT NULL"), 0);
    OK(corm_refresh(a, many[150]));
    many[150]->body = "edited by a";
    OK(corm_commit(a));
    assert_int_equal(db_int(fx.url, "SELECT COUNT(*) FROM doc WHERE body IS NOT NULL"), 300);
    assert_int_equal(db_int(fx.url, "SELECT MAX(version) FROM doc"), 3);
    corm_session_free(a);
    corm_session_free(b);
    OK(corm_drop_all(e));
    corm_engine_close(e);

    /* declarations refused when the engine opens */
    static const corm_model *const bad[] = { BadVersion_model, NULL };
    assert_int_equal(corm_engine_open(&e, "sqlite://", bad), CORM_ESCHEMA);
    assert_non_null(strstr(corm_engine_errmsg(e), "model BadVersion, column version"));
    assert_non_null(strstr(corm_engine_errmsg(e), "INTEGER or BIGINT"));
    corm_engine_close(e);
    static const corm_model *const two[] = { TwoVersions_model, NULL };
    assert_int_equal(corm_engine_open(&e, "sqlite://", two), CORM_ESCHEMA);
    assert_non_null(strstr(corm_engine_errmsg(e), "a second version column"));
    corm_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(add_commit_fills_keys_and_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(hooks_run_around_the_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(a_version_column_refuses_stale_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(merge_copies_onto_the_sessions_object, setup, teardown),
        cmocka_unit_test_setup_teardown(upsert_inserts_or_updates_on_a_unique_column, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(upsert_writes_many_rows_a_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(merge_of_a_held_object_needs_no_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(identity_map_returns_the_same_pointer, setup, teardown),
        cmocka_unit_test_setup_teardown(identity_map_holds_keys_of_any_pattern, setup, teardown),
        cmocka_unit_test_setup_teardown(a_flush_writes_changed_rows_in_key_order, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_objects_see_other_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(expiring_refuses_unsaved_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(unchanged_object_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(one_changed_column_writes_one_column, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_and_flush_order, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_restores_committed_state, setup, teardown),
        cmocka_unit_test_setup_teardown(savepoints, setup, teardown),
        cmocka_unit_test_setup_teardown(refresh_and_expunge, setup, teardown),
        cmocka_unit_test_setup_teardown(autoflush_new_flushes_inserts_not_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(autoflush_all_flushes_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(objects_from_elsewhere_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(threads_share_an_engine, setup, teardown),
        cmocka_unit_test_setup_teardown(pool_waits_then_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(eight_threads_share_four_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_forgets_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(begin_reads_in_one_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(begin_out_of_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_keys_off_is_a_url_choice, setup, teardown),
        cmocka_unit_test_setup_teardown(updates_of_many_column_sets, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
