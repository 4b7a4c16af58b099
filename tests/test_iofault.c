/*
 * test_iofault.c — I/O errors (issue 11): a test VFS, as SQLite's own
 * test_vfs.c and test_devsym.c do, wraps the operating system's and fails
 * the Nth read, write, sync or lock of the database, its WAL or its
 * shared memory. A workload of commits, queries, updates and deletes runs
 * with the fault at N = 1, 2, 3, ... until it completes without meeting
 * it. Each call returns CORM_OK, CORM_EIO (read, write, sync) or
 * CORM_EBUSY (a lock refused) with a sentence; afterwards, the fault
 * gone, the file is intact and holds exactly what was committed (compared
 * with a dump taken at each commit), and the same engine commits again.
 */
#include "common.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the faulty VFS ------------------------------------------------------------- */

enum fault { F_NONE, F_READ, F_WRITE, F_SYNC, F_LOCK };
static const char *const fault_names[] = { "none", "read", "write", "sync", "lock" };

static enum fault armed = F_NONE;
static long fault_at, seen; /* fail the operation numbered fault_at (from 1) */
static int hit;

/* Whether this operation of kind k fails. */
static int fails(enum fault k)
{
    if (armed != k)
        return 0;
    if (++seen == fault_at) {
        hit = 1;
        return 1;
    }
    return 0;
}

typedef struct ffile {
    sqlite3_file base;    /* methods: ours */
    sqlite3_file *real;   /* the operating system's, allocated after this */
} ffile;

static sqlite3_vfs *real_vfs;

static int f_close(sqlite3_file *f) { return ((ffile *)f)->real->pMethods->xClose(((ffile *)f)->real); }
static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    if (fails(F_READ))
        return SQLITE_IOERR_READ;
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xRead(r, p, n, off);
}
static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    if (fails(F_WRITE))
        return SQLITE_IOERR_WRITE;
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xWrite(r, p, n, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xTruncate(r, size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    if (fails(F_SYNC))
        return SQLITE_IOERR_FSYNC;
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xSync(r, flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xFileSize(r, size);
}
static int f_lock(sqlite3_file *f, int level)
{
    if (fails(F_LOCK))
        return SQLITE_BUSY;
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xLock(r, level);
}
static int f_unlock(sqlite3_file *f, int level)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xUnlock(r, level);
}
static int f_check(sqlite3_file *f, int *out)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xCheckReservedLock(r, out);
}
static int f_control(sqlite3_file *f, int op, void *arg)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xFileControl(r, op, arg);
}
static int f_sector(sqlite3_file *f)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xSectorSize(r);
}
static int f_chars(sqlite3_file *f)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xDeviceCharacteristics(r);
}
static int f_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xShmMap(r, pg, sz, extend, pp);
}
static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    if (fails(F_LOCK))
        return SQLITE_BUSY;
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xShmLock(r, offset, n, flags);
}
static void f_shm_barrier(sqlite3_file *f)
{
    sqlite3_file *r = ((ffile *)f)->real;
    r->pMethods->xShmBarrier(r);
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xShmUnmap(r, del);
}

static const sqlite3_io_methods f_methods = {
    2, f_close, f_read, f_write, f_truncate, f_sync, f_size, f_lock, f_unlock, f_check,
    f_control, f_sector, f_chars, f_shm_map, f_shm_lock, f_shm_barrier, f_shm_unmap, NULL, NULL,
};

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)v;
    ffile *ff = (ffile *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out);
    ff->base.pMethods = rc == SQLITE_OK && ff->real->pMethods ? &f_methods : NULL;
    return rc;
}
static int v_delete(sqlite3_vfs *v, const char *n, int sync) { (void)v; return real_vfs->xDelete(real_vfs, n, sync); }
static int v_access(sqlite3_vfs *v, const char *n, int fl, int *o) { (void)v; return real_vfs->xAccess(real_vfs, n, fl, o); }
static int v_full(sqlite3_vfs *v, const char *n, int sz, char *o) { (void)v; return real_vfs->xFullPathname(real_vfs, n, sz, o); }
static void *v_dlopen(sqlite3_vfs *v, const char *n) { (void)v; return real_vfs->xDlOpen(real_vfs, n); }
static void v_dlerror(sqlite3_vfs *v, int n, char *o) { (void)v; real_vfs->xDlError(real_vfs, n, o); }
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return real_vfs->xDlSym(real_vfs, h, s); }
static void v_dlclose(sqlite3_vfs *v, void *h) { (void)v; real_vfs->xDlClose(real_vfs, h); }
static int v_random(sqlite3_vfs *v, int n, char *o) { (void)v; return real_vfs->xRandomness(real_vfs, n, o); }
static int v_sleep(sqlite3_vfs *v, int us) { (void)v; return real_vfs->xSleep(real_vfs, us); }
static int v_time(sqlite3_vfs *v, double *o) { (void)v; return real_vfs->xCurrentTime(real_vfs, o); }
static int v_lasterr(sqlite3_vfs *v, int n, char *o) { (void)v; return real_vfs->xGetLastError(real_vfs, n, o); }
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *o) { (void)v; return real_vfs->xCurrentTimeInt64(real_vfs, o); }

static sqlite3_vfs faulty = {
    2, 0, 1024, NULL, "faulty", NULL, v_open, v_delete, v_access, v_full, v_dlopen, v_dlerror,
    v_dlsym, v_dlclose, v_random, v_sleep, v_time, v_lasterr, v_time64, NULL, NULL, NULL,
};

/* ---- the workload ---------------------------------------------------------------- */

static char dir[64], path[128], url[200];
static char *committed;

static char *dump(void)
{
    enum fault keep = armed;
    armed = F_NONE; /* the dump's own reads do not count */
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT id, username, email, age FROM \"user\" ORDER BY id",
                                        -1, &st, NULL), SQLITE_OK);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        char line[256];
        int n = snprintf(line, sizeof line, "%lld|%s|%s|%lld\n", sqlite3_column_int64(st, 0),
                         sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
                         sqlite3_column_int64(st, 3));
        if (len + (size_t)n + 1 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, line, (size_t)n + 1);
        len += (size_t)n;
    }
    sqlite3_finalize(st);
    sqlite3_stmt *chk;
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &chk, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(chk), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(chk, 0), "ok");
    sqlite3_finalize(chk);
    sqlite3_close(h);
    armed = keep;
    return out;
}

static int commit(corm_session *s)
{
    int rc = corm_commit(s);
    if (rc == CORM_OK) {
        free(committed);
        committed = dump();
    }
    return rc;
}

#define TRY(x) do { int rc_ = (x); if (rc_ != CORM_OK) return rc_; } while (0)

static int workload(corm_session *s, int round)
{
    char name[120];
    for (int c = 0; c < 3; c++) { /* three commits of 60 users: pages enough to spill */
        for (int i = 0; i < 60; i++) {
            User *u = corm_new(s, User);
            if (!u)
                return corm_errcode(s);
            snprintf(name, sizeof name, "r%d-c%d-u%d", round, c, i);
            u->username = corm_strdup(s, name);
            snprintf(name, sizeof name, "r%d-c%d-u%d-with-a-long-address@example.com", round, c, i);
            u->email = corm_strdup(s, name);
            u->age = 20 + i;
            TRY(corm_add(s, u));
        }
        TRY(commit(s));
    }
    corm_query *q = corm_query_new(s, User);
    if (!q)
        return corm_errcode(s);
    User **v;
    size_t n;
    TRY(corm_all(q, &v, &n));
    for (size_t i = 0; i < n; i++)
        v[i]->age++;
    TRY(commit(s));
    for (size_t i = 0; i < n; i += 3)
        TRY(corm_delete(s, v[i]));
    return commit(s);
}

static void sweep(enum fault kind)
{
    long points = 0;
    for (long at = 1; at < 100000; at++) {
        corm_engine *e;
        test_remove_db(path);
        OK(corm_engine_open(&e, url, test_models));
        OK(corm_create_all(e));
        corm_engine_close(e); /* the workload's engine starts cold: it reads the file */
        OK(corm_engine_open(&e, url, test_models));
        free(committed);
        committed = dump();
        corm_session *s = corm_session_new(e);
        armed = kind;
        fault_at = at;
        seen = hit = 0;
        int rc = workload(s, (int)at);
        armed = F_NONE;
        if (!hit) {
            OK(rc);
            corm_session_free(s);
            corm_engine_close(e);
            printf("# %s: the %ld %ss of the workload failed in turn\n", fault_names[kind],
                   points, fault_names[kind]);
            assert_true(points > 0);
            return;
        }
        points++;
        int want = kind == F_LOCK ? CORM_EBUSY : CORM_EIO;
        if (rc != CORM_OK && rc != want)
            fail_msg("%s %ld failing: %s (%s), not %s", fault_names[kind], at, corm_err_name(rc),
                     corm_errmsg(s), corm_err_name(want));
        if (rc != CORM_OK && !*corm_errmsg(s))
            fail_msg("%s %ld failing: %s without a sentence", fault_names[kind], at,
                     corm_err_name(rc));
        /* the file holds exactly what was committed, and is intact */
        char *now = dump();
        if (strcmp(now, committed) != 0)
            fail_msg("%s %ld failing (%s): the file is not as last committed:\ncommitted:\n%s\n"
                     "now:\n%s", fault_names[kind], at, corm_err_name(rc), committed, now);
        free(now);
        /* the fault gone, the same engine works */
        OK(corm_rollback(s));
        User *u = corm_new(s, User);
        u->username = "after";
        u->email = "after@example.com";
        OK(corm_add(s, u));
        OK(corm_commit(s));
        corm_session_free(s);
        corm_engine_close(e);
    }
    fail_msg("%s: the workload never completed", fault_names[kind]);
}

static void failing_reads(void **state) { (void)state; sweep(F_READ); }
static void failing_writes(void **state) { (void)state; sweep(F_WRITE); }
static void failing_syncs(void **state) { (void)state; sweep(F_SYNC); }
static void failing_locks(void **state) { (void)state; sweep(F_LOCK); }

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/corm-iofault-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/io.db", dir);
    /* synchronous=FULL: every commit syncs, so syncs can fail */
    snprintf(url, sizeof url, "sqlite:///%s?synchronous=full&busy_timeout=0", path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_remove_db(path);
    rmdir(dir);
    free(committed);
    return 0;
}

int main(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    faulty.szOsFile = (int)sizeof(ffile) + real_vfs->szOsFile;
    faulty.mxPathname = real_vfs->mxPathname;
    sqlite3_vfs_register(&faulty, 1); /* the default: corm's connections use it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failing_reads),
        cmocka_unit_test(failing_writes),
        cmocka_unit_test(failing_syncs),
        cmocka_unit_test(failing_locks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
