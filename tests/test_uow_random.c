/*
 * test_uow_random.c — a randomized differential test of the unit of work.
 *
 * Each seed runs a random sequence of operations on owners and their pets
 * (add, change, delete with cascades, corm_rel_add/remove, moves between
 * owners by the collection and by the foreign key, loads of collections,
 * flush, commit, rollback, savepoints, commits made to fail, session
 * reset) against corm and against a model the test keeps itself. After
 * every commit the database, read with its own client and not through corm, must
 * hold exactly what the model committed; after every rollback every object
 * must hold its committed values; every collection loaded must hold exactly
 * the pets the user means the owner to have.
 *
 * CORM_FUZZ_SEEDS sets the number of seeds (make test runs thousands, make
 * fuzz far more, valgrind a few); CORM_FUZZ_FIRST the first. A failure
 * names its seed: add it to regressions[] below once fixed.
 */
#include "common.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CORM_DEFINE_MODELS /* the models below are defined here */

#define OWNER_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,    CORM_INTEGER,    CORM_PRIMARY_KEY)                            \
    COLUMN(name,  CORM_STRING(24), CORM_UNIQUE | CORM_NOT_NULL)                 \
    COLUMN(score, CORM_INTEGER,    0)                                           \
    RELATION(pets, CORM_ONE_TO_MANY(Pet, owner),                                \
             CORM_CASCADE(CORM_CASCADE_DELETE | CORM_DELETE_ORPHAN))
CORM_MODEL(Owner, "owner", OWNER_FIELDS)

#define PET_FIELDS(COLUMN, RELATION)                                           \
    COLUMN(id,       CORM_INTEGER,    CORM_PRIMARY_KEY)                         \
    COLUMN(title,    CORM_STRING(24), CORM_NOT_NULL)                            \
    COLUMN(owner_id, CORM_INTEGER,    CORM_NOT_NULL | CORM_INDEX, CORM_FK(Owner, id)) \
    RELATION(owner, CORM_MANY_TO_ONE(Owner, owner_id, pets))
CORM_MODEL(Pet, "pet", PET_FIELDS)

static const corm_model *const models[] = { Owner_model, Pet_model, NULL };

/* Seeds that once failed, run first on every run (those below 2000 run
 * anyway). What each found, fixed in the library unless it says "model":
 *   1     corm_set_null wrote into the snapshot: a rollback lost the value
 *   5     model: objects loaded again after a reset
 *   12    a load inside a transaction put uncommitted rows in the snapshot
 *   31    a deleted child stayed in its parent's collection
 *   222   autoflush ran a DELETE without the UPDATE that moved its children
 *   235   a child deleted after a move stayed in the old parent's collection
 *   421   rollback to a savepoint kept a deleted object's unflushed values
 *   511   a failed commit re-inserted an object deleted in the transaction
 *   1229  deleting a pending parent left its moved-in children behind
 *   1785  a pointer cleared by a key set by hand read as a move to NULL
 *   2185  a move flushed by a failed commit, moved back, left a ghost
 *   2922  corm_rel_add returned 1 after taking a child from another parent
 *   9495  a pointer move to where the key already was never settled
 *   21214, 25236  a failed commit made a loaded pointer look like the user's
 *   25854, 30789  a load that left out a child moved by key was trusted
 *   65980, 1000767  a loaded pointer outranked a key set by hand after a failed commit
 *   1002975, 1005032  a failed commit left children in collections their keys had left
 *   11049  a key reused by an undone INSERT named a row being deleted
 *   1017375  a collection loaded in a failed transaction kept a child moved since
 *   1032942  a cascade trusted a collection loaded after a failed commit */
static const struct { unsigned seed; int ops; } regressions[] = {
    { 2185, 80 }, { 2922, 80 }, { 3018, 80 }, { 5025, 80 }, { 9495, 80 }, { 21214, 80 },
    { 24741, 80 }, { 25236, 80 }, { 25854, 80 }, { 30789, 80 }, { 65980, 80 }, { 69818, 80 },
    { 1000767, 300 }, { 1002975, 300 }, { 1005032, 300 }, { 11049, 80 }, { 1017375, 300 },
    { 1032942, 300 },
};

enum kind { OWNER, PET };

typedef struct mstate {
    bool live;                /* added and not deleted */
    char name[24];            /* owner's name or pet's title */
    int64_t score;
    bool score_null;
    int owner;                /* pet: index of its owner */
} mstate;

typedef struct ent {
    enum kind kind;
    int64_t id;               /* 0 until its INSERT */
    void *obj;                /* the session's object; NULL until fetched again */
    mstate c;                  /* as committed */
    mstate now;                /* as the session should have it */
    bool fk_moved;            /* pet moved by its key since the last flush */
    bool ptr_moved;           /* pet's pointer set (corm_rel_add) since the last flush */
    bool fk_txn, ptr_txn;     /* moved by its key, or its pointer, since the last commit
                                 (a failed commit makes the move unflushed again) */
    bool stale_ok;            /* its key set by hand again after a failed commit had
                                 flushed a move of it: a loaded collection may still
                                 hold it until the next commit (documented) */
} ent;

#define MAXE 256
#define MAXSP 3

typedef struct run {
    unsigned seed, rnd;
    corm_session *s;
    const char *file;         /* SQLite: the file (for the lock a reader takes) */
    const char *url;          /* for reading the database directly */
    bool lockable;            /* rollback journal: a reader can make COMMIT fail */
    ent e[MAXE];
    int n;
    int names;                /* for unique names */
    mstate sp[MAXSP][MAXE];    /* the model at each open savepoint */
    int sp_n[MAXSP], depth;
    long ops, commits, rollbacks, failed_commits, loads;
    bool failed_since_commit;
} run;

static bool tracing;
#define T(...) do { if (tracing) { printf("    "); printf(__VA_ARGS__); printf("\n"); } } while (0)

static long total_ops, total_commits, total_rollbacks, total_failed, total_loads;

static unsigned rnd(run *r, unsigned n) { return (unsigned)(rand_r(&r->rnd) % n); }

#define CHECK(r, cond, ...)                                                         \
    do {                                                                            \
        if (!(cond)) {                                                              \
            char msg_[512];                                                         \
            snprintf(msg_, sizeof msg_, __VA_ARGS__);                               \
            fail_msg("seed %u, op %ld: %s (%s)", (r)->seed, (r)->ops, msg_, #cond); \
        }                                                                           \
    } while (0)

#define MUST(r, call)                                                                 \
    do {                                                                              \
        int rc_ = (call);                                                             \
        CHECK(r, rc_ == CORM_OK, "%s -> %s: %s", #call, corm_err_name(rc_), corm_errmsg((r)->s)); \
    } while (0)

/* The object of entity i, fetched again after a reset. */
static void *obj(run *r, int i)
{
    ent *x = &r->e[i];
    if (!x->obj) {
        CHECK(r, x->id != 0, "entity %d has no row to fetch", i);
        if (x->kind == OWNER)
            MUST(r, corm_get(r->s, Owner, x->id, (Owner **)&x->obj));
        else
            MUST(r, corm_get(r->s, Pet, x->id, (Pet **)&x->obj));
        CHECK(r, x->obj != NULL, "entity %d (id %lld) is gone", i, (long long)x->id);
    }
    return x->obj;
}

static int pick(run *r, enum kind k, bool with_row)
{
    int cand[MAXE], n = 0;
    for (int i = 0; i < r->n; i++)
        if (r->e[i].kind == k && r->e[i].now.live && (!with_row || r->e[i].id))
            cand[n++] = i;
    return n ? cand[rnd(r, (unsigned)n)] : -1;
}

static int find_obj(run *r, const void *o)
{
    for (int i = 0; i < r->n; i++)
        if (r->e[i].obj == o && o)
            return i;
    return -1;
}

/* The keys the objects have now (assigned by an INSERT, or taken back when
 * a failed commit made an object pending again). */
static void sync_ids(run *r)
{
    for (int i = 0; i < r->n; i++) {
        ent *x = &r->e[i];
        if (x->now.live && x->obj)
            x->id = x->kind == OWNER ? ((Owner *)x->obj)->id : ((Pet *)x->obj)->id;
    }
}

/* After a flush: keys assigned, moves written. */
static void flushed(run *r)
{
    sync_ids(r);
    for (int i = 0; i < r->n; i++)
        r->e[i].fk_moved = r->e[i].ptr_moved = false;
}

/* Entities born after index `from` never reached a commit: forget them. */
static void drop_unborn(run *r, int from)
{
    for (int i = from; i < r->n; i++) {
        ent *x = &r->e[i];
        if (!x->c.live) {
            x->now.live = false;
            x->obj = NULL;
            x->id = 0;
        }
    }
}

/* ---- checks ------------------------------------------------------------------ */

/* Whatever owner i's collection holds (loaded or not) are its live pets. */
static void check_pets_held(run *r, int i, const char *when)
{
    Owner *o = r->e[i].obj;
    for (size_t k = 0; o && k < o->pets.n; k++) {
        int p = find_obj(r, o->pets.items[k]);
        if (p < 0 && !r->e[i].c.live)
            continue;
        for (int j = 0; p < 0 && j < r->n; j++) /* loaded for the first time since a reset */
            if (r->e[j].kind == PET && !r->e[j].obj && r->e[j].now.live &&
                r->e[j].id == o->pets.items[k]->id) {
                r->e[j].obj = o->pets.items[k];
                p = j;
            }
        if (p >= 0 && r->e[p].stale_ok)
            continue;
        CHECK(r, p >= 0 && r->e[p].now.live && r->e[p].now.owner == i,
              "%s: owner %d's pets hold entity %d '%s' (live %d, owner %d)", when, i, p,
              o->pets.items[k]->title, p >= 0 ? r->e[p].now.live : -1, p >= 0 ? r->e[p].now.owner : -1);
    }
}

static void check_fields(run *r, int i, const mstate *want, const char *when)
{
    ent *x = &r->e[i];
    if (!x->obj || !want->live)
        return;
    if (x->kind == OWNER) {
        Owner *o = x->obj;
        CHECK(r, strcmp(o->name, want->name) == 0, "%s: owner %d name '%s', want '%s'", when, i,
              o->name, want->name);
        bool isnull = corm_field_is_null(o, Owner_score);
        CHECK(r, isnull == want->score_null && (isnull || o->score == want->score),
              "%s: owner %d score %lld%s, want %lld%s", when, i, (long long)o->score,
              isnull ? " (NULL)" : "", (long long)want->score, want->score_null ? " (NULL)" : "");
    } else {
        Pet *p = x->obj;
        CHECK(r, strcmp(p->title, want->name) == 0, "%s: pet %d title '%s', want '%s'", when, i,
              p->title, want->name);
        /* a pending or moved pet's key is written from its pointer at flush */
        CHECK(r, !x->id || x->ptr_moved || !r->e[want->owner].id ||
                     p->owner_id == r->e[want->owner].id, "%s: pet %d owner_id %lld, want %lld",
              when, i, (long long)p->owner_id, (long long)r->e[want->owner].id);
        /* a pointer follows a key set by hand at flush */
        CHECK(r, !p->owner || x->fk_moved || p->owner == r->e[want->owner].obj,
              "%s: pet %d points at entity %d, want %d", when, i, find_obj(r, p->owner), want->owner);
    }
}

/* The database, read with its own client (not corm), holds what the model
 * committed. */
typedef struct dbcheck { run *r; int kind, rows; } dbcheck;

static void check_row(void *ud, int n, const char *const *cell)
{
    dbcheck *d = ud;
    run *r = d->r;
    (void)n;
    int64_t id = strtoll(cell[0], NULL, 10);
    int i = 0;
    while (i < r->n && !(r->e[i].kind == (enum kind)d->kind && r->e[i].c.live && r->e[i].id == id))
        i++;
    CHECK(r, i < r->n, "%s row id %lld is not in the model", d->kind ? "pet" : "owner", (long long)id);
    const mstate *c = &r->e[i].c;
    CHECK(r, strcmp(cell[1], c->name) == 0, "row %lld holds '%s', want '%s'", (long long)id, cell[1],
          c->name);
    if (d->kind == OWNER) {
        bool isnull = cell[2] == NULL;
        CHECK(r, isnull == c->score_null && (isnull || strtoll(cell[2], NULL, 10) == c->score),
              "owner %lld score", (long long)id);
    } else {
        CHECK(r, strtoll(cell[3], NULL, 10) == r->e[c->owner].id,
              "pet %d (row %lld) owner_id %s, want %lld", i, (long long)id, cell[3],
              (long long)r->e[c->owner].id);
    }
    d->rows++;
}

static void check_db(run *r)
{
    int want = 0;
    for (int i = 0; i < r->n; i++)
        want += r->e[i].c.live;
    dbcheck d = { r, OWNER, 0 };
    db_each(r->url, "SELECT id, name, score, NULL FROM owner", check_row, &d);
    d.kind = PET;
    db_each(r->url, "SELECT id, title, NULL, owner_id FROM pet", check_row, &d);
    CHECK(r, d.rows == want, "the database has %d rows, the model %d", d.rows, want);
}

/* Owner i's loaded collection holds exactly the pets the model gives it
 * (a pet moved in by its key and not flushed may be missing). */
static void check_pets(run *r, int i)
{
    check_pets_held(r, i, "after a load");
    Owner *o = r->e[i].obj;
    for (size_t k = 0; k < o->pets.n; k++) {
        int p = find_obj(r, o->pets.items[k]);
        /* a pointer follows a key set by hand at the flush (NULL: not loaded) */
        CHECK(r, r->e[p].fk_moved || !o->pets.items[k]->owner || o->pets.items[k]->owner == o,
              "pet %d does not point back at owner %d", p, i);
        for (size_t j = 0; j < k; j++)
            CHECK(r, o->pets.items[j] != o->pets.items[k], "pet %d twice in owner %d", p, i);
    }
    for (int p = 0; p < r->n; p++) {
        ent *x = &r->e[p];
        if (x->kind != PET || !x->now.live || x->now.owner != i || x->fk_moved || !x->obj)
            continue;
        size_t k = 0;
        while (k < o->pets.n && o->pets.items[k] != x->obj)
            k++;
        CHECK(r, k < o->pets.n, "owner %d's pets lack pet %d", i, p);
    }
}

/* ---- operations ---------------------------------------------------------------- */

/* The model's record of a new entity, with a fresh unique name. */
static ent *born(run *r, enum kind k)
{
    ent *x = &r->e[r->n];
    memset(x, 0, sizeof *x);
    x->kind = k;
    x->now.live = true;
    snprintf(x->now.name, sizeof x->now.name, "%c%d", k == OWNER ? 'o' : 'p', r->names++);
    return x;
}

static void new_owner(run *r)
{
    if (r->n >= MAXE)
        return;
    ent *x = born(r, OWNER);
    Owner *o = corm_new(r->s, Owner);
    o->name = corm_strdup(r->s, x->now.name);
    x->now.score_null = rnd(r, 3) == 0;
    x->now.score = x->now.score_null ? 0 : (int64_t)rnd(r, 100);
    if (x->now.score_null)
        MUST(r, corm_set_null(o, Owner_score, true));
    else
        o->score = x->now.score;
    MUST(r, corm_add(r->s, o));
    x->obj = o;
    T("new owner %d", r->n);
    r->n++;
}

static void new_pet(run *r)
{
    int o = pick(r, OWNER, false);
    if (o < 0 || r->n >= MAXE)
        return;
    Owner *owner = obj(r, o);
    ent *x = born(r, PET);
    Pet *p = corm_new(r->s, Pet);
    p->title = corm_strdup(r->s, x->now.name);
    MUST(r, corm_rel_add(r->s, owner, Owner_pets, p));
    x->obj = p;
    x->now.owner = o;
    x->ptr_moved = x->ptr_txn = true;
    T("new pet %d of owner %d", r->n, o);
    r->n++;
}

static void change(run *r)
{
    int i = pick(r, rnd(r, 2) ? OWNER : PET, false);
    if (i < 0)
        return;
    ent *x = &r->e[i];
    void *o = obj(r, i);
    if (x->kind == OWNER && rnd(r, 2)) {
        x->now.score_null = rnd(r, 4) == 0;
        x->now.score = x->now.score_null ? 0 : (int64_t)rnd(r, 100);
        if (x->now.score_null) {
            MUST(r, corm_set_null(o, Owner_score, true));
        } else {
            ((Owner *)o)->score = x->now.score;
            MUST(r, corm_set_null(o, Owner_score, false));
        }
        return;
    }
    snprintf(x->now.name, sizeof x->now.name, "%c%d", x->kind == OWNER ? 'o' : 'p', r->names++);
    T("rename %d to %s", i, x->now.name);
    char *copy = corm_strdup(r->s, x->now.name);
    if (x->kind == OWNER)
        ((Owner *)o)->name = copy;
    else
        ((Pet *)o)->title = copy;
}

static void move_by_collection(run *r)
{
    int p = pick(r, PET, false), o = pick(r, OWNER, false);
    if (p < 0 || o < 0 || r->e[p].now.owner == o)
        return;
    MUST(r, corm_rel_add(r->s, obj(r, o), Owner_pets, obj(r, p)));
    T("move pet %d from %d to %d by rel_add", p, r->e[p].now.owner, o);
    r->e[p].now.owner = o;
    r->e[p].fk_moved = false;
    r->e[p].ptr_moved = r->e[p].ptr_txn = true;
}

/* Set the key by hand: a flushed pet whose pointer the user has not moved. */
static void move_by_key(run *r)
{
    int p = pick(r, PET, true), o = pick(r, OWNER, true);
    if (p < 0 || o < 0 || r->e[p].now.owner == o)
        return;
    /* a pointer moved and not flushed would win; and a pet inserted in this
     * transaction, pending again after a failed commit, follows its pointer */
    if (r->e[p].ptr_moved || !r->e[p].c.live)
        return;
    if (!r->e[o].c.live)
        return; /* an uncommitted owner's key is gone after a failed commit */
    Pet *pet = obj(r, p);
    pet->owner_id = r->e[o].id;
    r->e[p].stale_ok |= r->e[p].fk_txn && r->failed_since_commit;
    r->e[p].fk_txn = true;
    T("move pet %d from %d to %d by key", p, r->e[p].now.owner, o);
    r->e[p].now.owner = o;
    r->e[p].fk_moved = true;
}

static void kill_pet(run *r, int p)
{
    r->e[p].now.live = false;
}

static void remove_pet(run *r)
{
    int p = pick(r, PET, false);
    if (p < 0)
        return;
    int o = r->e[p].now.owner;
    MUST(r, corm_rel_remove(r->s, obj(r, o), Owner_pets, obj(r, p))); /* delete-orphan */
    T("remove pet %d from %d", p, o);
    kill_pet(r, p);
}

static void delete_pet(run *r)
{
    int p = pick(r, PET, false);
    if (p < 0)
        return;
    MUST(r, corm_delete(r->s, obj(r, p)));
    T("delete pet %d", p);
    kill_pet(r, p);
}

static void delete_owner(run *r)
{
    int o = pick(r, OWNER, false);
    if (o < 0)
        return;
    for (int p = 0; p < r->n; p++) /* moved in by key, unflushed: the flush would refuse */
        if (r->e[p].kind == PET && r->e[p].now.live && r->e[p].now.owner == o && r->e[p].fk_moved)
            return;
    MUST(r, corm_delete(r->s, obj(r, o)));
    T("delete owner %d", o);
    r->e[o].now.live = false;
    for (int p = 0; p < r->n; p++)
        if (r->e[p].kind == PET && r->e[p].now.live && r->e[p].now.owner == o)
            kill_pet(r, p);
}

static void load(run *r)
{
    r->loads++;
    if (rnd(r, 3)) {
        int o = pick(r, OWNER, true); /* flushed: it has a row */
        if (o < 0)
            return;
        MUST(r, corm_load(r->s, obj(r, o), Owner_pets));
        T("load owner %d's pets", o);
        check_pets(r, o);
        return;
    }
    /* every owner with its pets, in one eager query */
    T("load every owner's pets");
    corm_query *q = corm_query_new(r->s, Owner);
    MUST(r, corm_selectin(q, Owner_pets));
    Owner **os;
    size_t n;
    MUST(r, corm_all(q, &os, &n));
    sync_ids(r); /* the query flushed pending inserts and deletes */
    for (size_t k = 0; k < n; k++) {
        int i = find_obj(r, os[k]);
        if (i < 0) { /* fetched again after a reset */
            for (i = 0; i < r->n; i++)
                if (r->e[i].kind == OWNER && r->e[i].now.live && r->e[i].id == os[k]->id && !r->e[i].obj)
                    break;
            CHECK(r, i < r->n, "the query returned owner %lld the model lacks", (long long)os[k]->id);
            r->e[i].obj = os[k];
        }
        check_pets(r, i);
    }
}

static void commit(run *r)
{
    sqlite3 *h = NULL;
    int fail = r->ops % 17 == 0 ? 1 : (r->lockable && rnd(r, 25) == 0) ? 2 : 0;
    int culprit = -1;
    char saved[24];
    if (fail == 1) { /* a unique violation in the middle of the flush */
        int o = pick(r, OWNER, false), other = pick(r, OWNER, true);
        if (o >= 0 && other >= 0 && o != other && r->e[other].c.live &&
            strcmp(r->e[other].now.name, r->e[other].c.name) == 0) {
            culprit = o;
            memcpy(saved, r->e[o].now.name, sizeof saved);
            ((Owner *)obj(r, o))->name = corm_strdup(r->s, r->e[other].c.name);
        }
    } else if (fail == 2) { /* a reader holds the lock COMMIT needs */
        CHECK(r, sqlite3_open(r->file, &h) == SQLITE_OK, "open");
        CHECK(r, sqlite3_exec(h, "BEGIN; SELECT COUNT(*) FROM owner;", NULL, NULL, NULL) == SQLITE_OK,
              "lock");
    }
    T("commit%s", culprit >= 0 ? " (duplicate name)" : h ? " (locked)" : "");
    int rc = corm_commit(r->s);
    if (h) {
        sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(h);
    }
    if (rc != CORM_OK) {
        r->depth = 0; /* the transaction, and its savepoints, are gone */
        r->failed_since_commit = true;
        for (int i = 0; i < r->n; i++) {
            /* (a flushed pointer move is a key move again: the pointer was
             * left "not loaded") */
            r->e[i].fk_moved |= r->e[i].fk_txn || r->e[i].ptr_txn;
            r->e[i].ptr_moved |= r->e[i].ptr_txn;
        }
    }
    if (culprit >= 0) {
        CHECK(r, rc == CORM_EUNIQUE, "a duplicate name committed: %s", corm_err_name(rc));
        CHECK(r, strstr(corm_errmsg(r->s), "Owner.name") != NULL, "message: %s", corm_errmsg(r->s));
        r->failed_commits++;
        /* everything as the user left it: fix the name and go on */
        for (int i = 0; i < r->n; i++)
            if (i != culprit)
                check_fields(r, i, &r->e[i].now, "after a failed commit");
        ((Owner *)obj(r, culprit))->name = corm_strdup(r->s, saved);
        sync_ids(r);
        return;
    }
    if (rc == CORM_EBUSY && fail == 2) {
        r->failed_commits++;
        sync_ids(r);
        for (int i = 0; i < r->n; i++)
            check_fields(r, i, &r->e[i].now, "after COMMIT failed");
        return;
    }
    MUST(r, rc);
    r->commits++;
    flushed(r);
    r->failed_since_commit = false;
    for (int i = 0; i < r->n; i++)
        r->e[i].fk_txn = r->e[i].ptr_txn = r->e[i].stale_ok = false;
    r->depth = 0;
    for (int i = 0; i < r->n; i++) {
        r->e[i].c = r->e[i].now;
        if (!r->e[i].now.live)
            r->e[i].obj = NULL;
    }
    check_db(r);
    for (int i = 0; i < r->n; i++) {
        check_fields(r, i, &r->e[i].c, "after commit");
        if (r->e[i].kind == OWNER && r->e[i].c.live)
            check_pets_held(r, i, "after commit");
    }
}

static void rollback(run *r)
{
    MUST(r, corm_rollback(r->s));
    T("rollback");
    r->failed_since_commit = false;
    r->rollbacks++;
    r->depth = 0;
    for (int i = 0; i < r->n; i++) {
        r->e[i].now = r->e[i].c;
        r->e[i].fk_moved = r->e[i].ptr_moved = r->e[i].fk_txn = r->e[i].ptr_txn = r->e[i].stale_ok = false;
    }
    drop_unborn(r, 0);
    for (int i = 0; i < r->n; i++) {
        ent *x = &r->e[i];
        if (!x->c.live) {
            x->obj = NULL;
            continue;
        }
        check_fields(r, i, &x->c, "after rollback");
        if (x->kind == OWNER)
            check_pets_held(r, i, "after rollback");
        CHECK(r, !x->obj || !corm_is_modified(r->s, x->obj), "entity %d modified after rollback", i);
    }
}

static void savepoint(run *r)
{
    if (r->depth == MAXSP)
        return;
    MUST(r, corm_begin_nested(r->s));
    T("savepoint");
    flushed(r);
    for (int i = 0; i < r->n; i++)
        r->sp[r->depth][i] = r->e[i].now;
    r->sp_n[r->depth++] = r->n;
}

static void end_savepoint(run *r)
{
    if (!r->depth)
        return;
    if (rnd(r, 2)) {
        MUST(r, corm_commit_nested(r->s));
        T("release savepoint");
        flushed(r);
        r->depth--;
        return;
    }
    MUST(r, corm_rollback_nested(r->s));
    T("rollback to savepoint");
    r->depth--;
    int born = r->sp_n[r->depth];
    for (int i = 0; i < born; i++) {
        r->e[i].now = r->sp[r->depth][i];
        r->e[i].fk_moved = r->e[i].ptr_moved = false;
    }
    for (int i = born; i < r->n; i++) { /* inserted inside it: transient again */
        r->e[i].now.live = false;
        r->e[i].obj = NULL;
        r->e[i].id = 0;
    }
    for (int i = 0; i < born; i++) {
        check_fields(r, i, &r->e[i].now, "after rollback to a savepoint");
        if (r->e[i].kind == OWNER && r->e[i].now.live)
            check_pets_held(r, i, "after rollback to a savepoint");
    }
}

static void reset(run *r)
{
    corm_session_reset(r->s);
    T("reset");
    r->failed_since_commit = false;
    r->depth = 0;
    for (int i = 0; i < r->n; i++) {
        r->e[i].now = r->e[i].c;
        r->e[i].obj = NULL;
        r->e[i].fk_moved = r->e[i].ptr_moved = r->e[i].fk_txn = r->e[i].ptr_txn = r->e[i].stale_ok = false;
        if (!r->e[i].c.live)
            r->e[i].id = 0;
    }
}

static void one_seed(corm_engine *db, const char *url, const char *file, bool lockable,
                     unsigned seed, int nops)
{
    run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->seed = r->rnd = seed;
    r->file = file;
    r->url = url;
    r->lockable = lockable;
    r->s = corm_session_new(db);
    tracing = getenv("CORM_FUZZ_TRACE") != NULL;
    for (r->ops = 1; r->ops <= nops; r->ops++) {
        unsigned op = rnd(r, 100);
        if (op < 10) new_owner(r);
        else if (op < 25) new_pet(r);
        else if (op < 40) change(r);
        else if (op < 47) move_by_collection(r);
        else if (op < 53) move_by_key(r);
        else if (op < 57) remove_pet(r);
        else if (op < 61) delete_pet(r);
        else if (op < 64) delete_owner(r);
        else if (op < 72) load(r);
        else if (op < 76) { MUST(r, corm_flush(r->s)); T("flush"); flushed(r); }
        else if (op < 86) commit(r);
        else if (op < 90) rollback(r);
        else if (op < 94) savepoint(r);
        else if (op < 98) end_savepoint(r);
        else reset(r);
    }
    commit(r);
    total_ops += r->ops;
    total_commits += r->commits;
    total_rollbacks += r->rollbacks;
    total_failed += r->failed_commits;
    total_loads += r->loads;
    corm_session_free(r->s);
    free(r);
    /* the next seed starts from empty tables */
    db_exec(url, "DELETE FROM pet; DELETE FROM owner;");
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

static void random_units_of_work(void **st_)
{
    (void)st_;
    bool valgrind = getenv("CORM_UNDER_VALGRIND") != NULL;
    const char *server = test_server_url();
    /* a server answers each statement over a socket: fewer seeds there */
    long seeds = env_long("CORM_FUZZ_SEEDS", valgrind ? 150 : server ? 300 : 2000);
    long first = env_long("CORM_FUZZ_FIRST", 1);
    int nops = (int)env_long("CORM_FUZZ_OPS", 80);
    struct stat st;
    char dir[64], files[2][128], url[2][512];
    snprintf(dir, sizeof dir, "%s/corm-random-XXXXXX", stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp");
    assert_non_null(mkdtemp(dir));
    corm_engine *db[2];
    int nengines = server ? 1 : 2;
    for (int k = 0; k < nengines; k++) {
        /* SQLite: the default (WAL), and a rollback journal in which readers
         * can block COMMIT; a server: its database, emptied */
        snprintf(files[k], sizeof files[k], "%s/random%d.db", dir, k);
        if (server)
            snprintf(url[k], sizeof url[k], "%s", server);
        else
            snprintf(url[k], sizeof url[k], "sqlite:///%s%s", files[k],
                     k ? "?journal_mode=delete&busy_timeout=20" : "");
        OK(corm_engine_open(&db[k], url[k], models));
        if (server)
            OK(corm_drop_all(db[k]));
        OK(corm_create_all(db[k]));
    }
    for (size_t i = 0; i < sizeof regressions / sizeof *regressions; i++) {
        unsigned seed = regressions[i].seed;
        int k = server ? 0 : (int)(seed & 1);
        one_seed(db[k], url[k], files[k], k == 1, seed, regressions[i].ops);
    }
    for (long i = 0; i < seeds; i++) {
        unsigned seed = (unsigned)(first + i);
        int k = server ? 0 : (int)(seed & 1);
        one_seed(db[k], url[k], files[k], k == 1, seed, nops);
    }
    for (int k = 0; k < nengines; k++) {
        corm_engine_close(db[k]);
        test_remove_db(files[k]);
    }
    rmdir(dir);
    printf("random units of work%s: %ld seeds, %ld operations, %ld commits (%ld made to fail), "
           "%ld rollbacks, %ld collection loads checked\n", server ? " (server)" : "",
           seeds, total_ops, total_commits, total_failed, total_rollbacks, total_loads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_units_of_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
