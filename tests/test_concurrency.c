/*
 * test_concurrency.c — four processes of eight threads each write one
 * SQLite file in corm's default configuration (issue 11), each unit of
 * work adding a row and one to a shared counter, with the retry a user
 * would write on CORM_EBUSY (roll back, wait a little, run the unit
 * again). Afterwards: every unit is there once, the counter equals the
 * units, and no call failed with anything but CORM_EBUSY.
 */
#include "common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CORM_DEFINE_MODELS

#define ENTRY_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,     CORM_INTEGER, CORM_PRIMARY_KEY)                              \
    COLUMN(proc,   CORM_INTEGER, CORM_NOT_NULL)                                 \
    COLUMN(thread, CORM_INTEGER, CORM_NOT_NULL)                                 \
    COLUMN(seq,    CORM_INTEGER, CORM_NOT_NULL)
CORM_MODEL(Entry, "entry", ENTRY_FIELDS, CORM_UNIQUE_TOGETHER("proc", "thread", "seq"))

#define TOTAL_FIELDS(COLUMN, RELATION)                                         \
    COLUMN(id,    CORM_INTEGER, CORM_PRIMARY_KEY)                               \
    COLUMN(count, CORM_INTEGER, CORM_NOT_NULL)
CORM_MODEL(Total, "total", TOTAL_FIELDS)

static const corm_model *const models[] = { Entry_model, Total_model, NULL };

enum { PROCS = 4, THREADS = 8, UNITS = 25 };

static char dir[64], url[200];
static corm_engine *db;

typedef struct writer {
    int proc, thread, busy, other;
    char error[256];
} writer;

/* One unit: its row, and the counter one up (read locked, then written). */
static int unit(corm_session *s, const writer *w, int seq)
{
    corm_query *q = corm_query_new(s, Total);
    if (!q)
        return corm_errcode(s);
    corm_filter(q, corm_eq(Total_id, 1));
    corm_with_for_update(q);
    Total *t;
    int rc = corm_one(q, (void **)&t);
    if (rc < 0)
        return rc;
    t->count++;
    Entry *e = corm_new(s, Entry);
    if (!e)
        return corm_errcode(s);
    e->proc = w->proc;
    e->thread = w->thread;
    e->seq = seq;
    if ((rc = corm_add(s, e)) < 0)
        return rc;
    return corm_commit(s);
}

static void *write_units(void *arg)
{
    writer *w = arg;
    corm_session *s = corm_session_new(db);
    for (int seq = 1; seq <= UNITS; seq++) {
        for (;;) {
            int rc = unit(s, w, seq);
            if (rc == CORM_OK)
                break;
            corm_rollback(s);
            if (rc != CORM_EBUSY) {
                w->other++;
                snprintf(w->error, sizeof w->error, "%s: %s", corm_err_name(rc), corm_errmsg(s));
                corm_session_free(s);
                return NULL;
            }
            w->busy++; /* the database was locked longer than busy_timeout: again */
            sleep_ms(1 + rand() % 10);
        }
    }
    corm_session_free(s);
    return NULL;
}

/* A process: eight threads on one engine; exit status 0 when every unit
 * committed and nothing but CORM_EBUSY was seen; the EBUSY count on fd. */
static int run_process(int proc, int fd)
{
    if (corm_engine_open(&db, url, models) != CORM_OK)
        return 3;
    writer w[THREADS];
    pthread_t t[THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < THREADS; i++) {
        w[i].proc = proc;
        w[i].thread = i;
        if (pthread_create(&t[i], NULL, write_units, &w[i]) != 0)
            return 4;
    }
    int busy = 0, status = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        busy += w[i].busy;
        if (w[i].other) {
            fprintf(stderr, "process %d thread %d: %s\n", proc, i, w[i].error);
            status = 5;
        }
    }
    corm_engine_close(db);
    if (write(fd, &busy, sizeof busy) != sizeof busy)
        status = 6;
    return status;
}

static void processes_and_threads_lose_nothing(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/corm-conc-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:///%s/shared.db", dir); /* the defaults */
    OK(corm_engine_open(&db, url, models));
    OK(corm_create_all(db));
    corm_session *s = corm_session_new(db);
    Total *t = corm_new(s, Total);
    OK(corm_add(s, t));
    OK(corm_commit(s));
    corm_session_free(s);
    corm_engine_close(db);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t kids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            close(p[0]);
            srand((unsigned)getpid());
            _exit(run_process(i, p[1]));
        }
    }
    close(p[1]);
    for (int i = 0; i < PROCS; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    int busy = 0, b;
    while (read(p[0], &b, sizeof b) == sizeof b)
        busy += b;
    close(p[0]);
    char file[128];
    snprintf(file, sizeof file, "sqlite:///%s/shared.db", dir);
    int want = PROCS * THREADS * UNITS;
    assert_int_equal(db_int(file, "SELECT count(*) FROM entry"), want);
    assert_int_equal(db_int(file, "SELECT count(*) FROM (SELECT DISTINCT proc, thread, seq FROM entry)"), want);
    assert_int_equal(db_int(file, "SELECT count FROM total WHERE id = 1"), want);
    printf("# %d processes x %d threads: %d units committed once each, the counter %d; %d "
           "CORM_EBUSY retried, no other error\n", PROCS, THREADS, want, want, busy);
    test_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(processes_and_threads_lose_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
