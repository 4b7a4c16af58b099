/*
 * apply.c — the version table and moving a database along the revision
 * graph: upgrade, downgrade, stamp, and offline SQL.
 *
 * Each revision runs in its own transaction together with its change to
 * the version table, so a revision that fails leaves the database at the
 * revision before it, and the error names the file, the line and what the
 * database said.
 */
#include "migrate/migrate.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

#define VERSION_TABLE "corm_version"
/* Where DDL commits by itself (MariaDB), the revision being applied: a row
 * while it runs, left behind when it fails half-way. */
#define HALFWAY_TABLE "corm_version_halfway"

int mig_ensure_table(sql_conn *c, util_err *err)
{
    int rc = sql_exec(c, "CREATE TABLE IF NOT EXISTS " VERSION_TABLE
                         " (version_num VARCHAR(64) NOT NULL PRIMARY KEY)", err);
    if (rc == CORM_OK && c->drv->ddl_autocommits)
        rc = sql_exec(c, "CREATE TABLE IF NOT EXISTS " HALFWAY_TABLE " (revision VARCHAR(64) NOT "
                         "NULL PRIMARY KEY, direction VARCHAR(16) NOT NULL, file TEXT NOT NULL, line INTEGER "
                         "NOT NULL, message TEXT NOT NULL)", err);
    return rc;
}

/* CORM_ESTATE when a revision was left half-way: nothing moves until the
 * user has repaired the schema and stamped the revision it matches. */
static int refuse_halfway(sql_conn *c, util_err *err)
{
    const drv_driver *d = c->drv;
    if (!d->ddl_autocommits)
        return CORM_OK;
    static const char q[] = "SELECT revision, direction, file, line, message FROM " HALFWAY_TABLE;
    drv_stmt *st = NULL;
    int rc = sql_run(c, q, strlen(q), NULL, &st, err);
    if (rc == CORM_OK && (rc = d->step(st, err)) == 1) {
        size_t n[5];
        const char *v[5];
        for (int i = 0; i < 5; i++)
            if (!(v[i] = d->column_text(st, i, &n[i]))) /* out of memory: the rest of the message */
                v[i] = "";
        rc = util_err_set(err, CORM_ESTATE, "the database was left half-way by the %.*s of "
                          "revision %.*s (%.*s:%.*s: %.*s): the statements before that one were "
                          "applied and stay, since this database's DDL is not transactional. "
                          "Repair the schema by hand, then record the revision it matches with "
                          "`db stamp REV`", (int)n[1], v[1], (int)n[0], v[0], (int)n[2], v[2],
                          (int)n[3], v[3], (int)n[4], v[4]);
    }
    if (st)
        d->reset(st);
    return rc < 0 ? rc : CORM_OK;
}

/* sql with the text t as a quoted literal in place of its %s. */
static void put_quoted(util_buf *b, const char *t)
{
    util_buf_putc(b, '\'');
    for (; *t; t++) {
        if (*t == '\'')
            util_buf_putc(b, '\'');
        util_buf_putc(b, *t);
    }
    util_buf_putc(b, '\'');
}

/* One revision where DDL commits by itself: marked in progress, run
 * statement by statement; a failure leaves the mark, naming the statement. */
static int step_halfway(sql_conn *c, const mig_rev *r, bool up, const mig_stmt *v, size_t n,
                        const char *version_sql, util_err *err)
{
    const drv_driver *d = c->drv;
    util_buf b = UTIL_BUF_INIT;
    util_buf_printf(&b, "INSERT INTO " HALFWAY_TABLE " (revision, direction, file, line, message) "
                    "VALUES ('%s', '%s', ", r->id, up ? "upgrade" : "downgrade");
    put_quoted(&b, r->path);
    util_buf_puts(&b, ", 0, 'running')");
    int rc = b.err ? util_err_set(err, CORM_ENOMEM, "out of memory") : sql_exec(c, util_buf_str(&b), err);
    size_t i = 0;
    for (; rc == CORM_OK && i < n; i++)
        rc = d->exec(c->dc, v[i].sql, err);
    if (rc < 0 && i > 0 && i <= n) {
        util_err keep = *err, ignored;
        util_buf_reset(&b);
        util_buf_printf(&b, "UPDATE " HALFWAY_TABLE " SET line = %d, message = ", v[i - 1].line);
        put_quoted(&b, keep.msg);
        if (!b.err)
            sql_exec(c, util_buf_str(&b), &ignored);
        *err = keep;
        util_err_prefix(err, "%s:%d: %s failed half-way (%zu of its %zu statements applied, "
                        "and they stay: this database's DDL is not transactional; it is marked "
                        "half-way until `db stamp`): ", r->path, v[i - 1].line,
                        up ? "upgrade" : "downgrade", i - 1, n);
    }
    if (rc == CORM_OK && (rc = sql_begin(c, err)) == CORM_OK) {
        rc = sql_exec(c, version_sql, err);
        if (rc == CORM_OK)
            rc = sql_exec(c, "DELETE FROM " HALFWAY_TABLE, err);
        if (rc == CORM_OK)
            rc = sql_commit(c, err);
        else
            sql_rollback(c, &(util_err){ 0 });
    }
    util_buf_free(&b);
    return rc;
}

/* The revisions the database is at (none: base), as graph entries. */
int mig_current(sql_conn *c, const mig_graph *g, const mig_rev **out, size_t max, size_t *n,
                const char *dir, util_err *err)
{
    drv_stmt *st = NULL;
    const drv_driver *d = c->drv;
    *n = 0;
    int rc = mig_ensure_table(c, err);
    if (rc == CORM_OK)
        rc = sql_run(c, "SELECT version_num FROM " VERSION_TABLE " ORDER BY version_num",
                     strlen("SELECT version_num FROM " VERSION_TABLE " ORDER BY version_num"), NULL,
                     &st, err);
    while (rc == CORM_OK && (rc = d->step(st, err)) == 1) {
        rc = CORM_OK;
        size_t len;
        const char *id = d->column_text(st, 0, &len);
        if (!id) {
            d->reset(st);
            return util_err_set(err, CORM_ENOMEM, "out of memory reading the database's revision");
        }
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%.*s", (int)len, id);
        const mig_rev *r = g ? mig_find(g, tmp) : NULL;
        if (g && !r) {
            d->reset(st);
            return util_err_set(err, CORM_ESTATE, "the database is at revision %s, which no file "
                                "in %s defines (stamp it at a known revision)", tmp, dir);
        }
        if (*n < max)
            out[*n] = r;
        (*n)++;
    }
    return rc < 0 ? rc : CORM_OK;
}

/* Ancestors of the revisions in `from` (inclusive), as a mark per graph index. */
static void mark_ancestors(const mig_graph *g, const mig_rev *r, char *mark)
{
    if (!r || mark[r - g->revs])
        return;
    mark[r - g->revs] = 1;
    for (int k = 0; k < 2; k++)
        if (r->parents[k])
            mark_ancestors(g, mig_find(g, r->parents[k]), mark);
}

/* Parents before children: a depth-first order of the marked revisions. */
static void order(const mig_graph *g, const mig_rev *r, const char *want, char *done,
                  const mig_rev **out, size_t *n)
{
    size_t i = (size_t)(r - g->revs);
    if (done[i] || !want[i])
        return;
    done[i] = 1;
    for (int k = 0; k < 2; k++)
        if (r->parents[k])
            order(g, mig_find(g, r->parents[k]), want, done, out, n);
    out[(*n)++] = r;
}

/* The revisions the database is at, as the version table will hold them. */
typedef struct revset {
    const mig_rev *v[16];
    size_t n;
} revset;

static bool in_set(const revset *s, const mig_rev *r)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == r)
            return true;
    return false;
}

/* The set after applying r (up) or undoing it (down). */
static revset next_set(const mig_graph *g, const revset *cur, const mig_rev *r, bool up)
{
    revset out = { { 0 }, 0 };
    for (size_t i = 0; i < cur->n; i++)
        if (cur->v[i] != r && !(up && mig_is_ancestor(g, cur->v[i], r)))
            out.v[out.n++] = cur->v[i];
    if (up) {
        out.v[out.n++] = r;
        return out;
    }
    for (int k = 0; k < 2; k++) {
        const mig_rev *p = r->parents[k] ? mig_find(g, r->parents[k]) : NULL;
        bool covered = !p || in_set(&out, p);
        for (size_t i = 0; i < out.n && !covered; i++)
            covered = mig_is_ancestor(g, p, out.v[i]);
        if (!covered && out.n < 16)
            out.v[out.n++] = p;
    }
    return out;
}

/* "Running upgrade A -> B, message", as Alembic says it, before r runs. */
static void say(const mig_log *log, const mig_rev *r, bool up)
{
    if (!log || !log->fn)
        return;
    char parents[160];
    snprintf(parents, sizeof parents, "%s%s%s", r->parents[0] ? r->parents[0] : "<base>",
             r->parents[1] ? ", " : "", r->parents[1] ? r->parents[1] : "");
    char line[512];
    snprintf(line, sizeof line, "Running %s %s -> %s, %s", up ? "upgrade" : "downgrade",
             up ? parents : r->id, up ? r->id : parents, r->message ? r->message : "");
    log->fn(log->ud, line);
}

/* A table rebuild's copy, as autogenerate writes it: INSERT INTO
 * "_corm_new_t" (or "_corm_old_t") (...) SELECT ...; true with the length
 * of its INSERT part (up to the SELECT outside quotes) and t. */
static bool rebuild_copy(const char *sql, size_t *insert_len, char *table, size_t size)
{
    static const char *const heads[] = { "INSERT INTO \"_corm_new_", "INSERT INTO \"_corm_old_" };
    const char *name = NULL;
    for (int i = 0; i < 2 && !name; i++)
        if (strncmp(sql, heads[i], strlen(heads[i])) == 0)
            name = sql + strlen(heads[i]);
    if (!name)
        return false;
    snprintf(table, size, "%.*s", (int)strcspn(name, "\""), name);
    char quote = 0;
    for (const char *q = sql; *q; q++) {
        if (quote) {
            if (*q == quote)
                quote = 0;
        } else if (*q == '"' || *q == '\'') {
            quote = *q;
        } else if (strncmp(q, " SELECT ", 8) == 0) {
            *insert_len = (size_t)(q - sql);
            return true;
        }
    }
    return false;
}

typedef struct copy_progress {
    const mig_log *log;
    const char *table;
    int64_t total;
} copy_progress;

static void copied(void *ud, int64_t rows)
{
    copy_progress *p = ud;
    if (rows < p->total) /* the last call, done == total, is run_stmt's */
        p->log->progress(p->log->progress_ud, p->table, rows, p->total);
}

/* Run one statement; a rebuild's copy, when someone wants to know, counted
 * as it goes: the rows to copy first, then every few thousand copied. */
static int run_stmt(sql_conn *c, const char *sql, const mig_log *log, util_err *err)
{
    const drv_driver *d = c->drv;
    size_t insert_len;
    char table[128];
    if (!log || !log->progress || !d->exec_counted ||
        !rebuild_copy(sql, &insert_len, table, sizeof table))
        return d->exec(c->dc, sql, err);
    util_buf b = UTIL_BUF_INIT;
    const char *select = sql + insert_len + 1;
    size_t n = strlen(select);
    while (n && (select[n - 1] == ';' || select[n - 1] == ' ' || select[n - 1] == '\n'))
        n--;
    util_buf_printf(&b, "SELECT COUNT(*) FROM (%.*s)", (int)n, select);
    size_t count_len = b.len;
    util_buf_printf(&b, "%c%.*s", '\0', (int)n, select); /* the SELECT alone, after it */
    if (b.err) {
        util_buf_free(&b);
        return util_err_set(err, CORM_ENOMEM, "out of memory copying %s", table);
    }
    drv_stmt *st = NULL;
    copy_progress p = { log, table, 0 };
    int rc = sql_run(c, b.p, count_len, NULL, &st, err);
    if (rc == CORM_OK && (rc = d->step(st, err)) == 1) {
        p.total = d->column_int(st, 0);
        rc = CORM_OK;
    }
    if (st)
        d->reset(st);
    if (rc == CORM_OK && p.total == 0)
        rc = d->exec(c->dc, sql, err); /* nothing to show */
    else if (rc == CORM_OK) {
        int64_t rows = 0;
        log->progress(log->progress_ud, table, 0, p.total);
        rc = d->exec_counted(c->dc, sql, insert_len, b.p + count_len + 1, copied, &p, &rows, err);
        if (rc == CORM_OK)
            log->progress(log->progress_ud, table, rows, rows);
    }
    util_buf_free(&b);
    return rc;
}

/* Run (or, with sql != NULL, write) one revision one way, moving *set. */
static int step_rev(sql_conn *c, const mig_graph *g, const mig_rev *r, bool up, revset *set,
                    FILE *sql, const mig_log *log, util_err *err)
{
    const mig_stmt *v = up ? r->up : r->down;
    size_t n = up ? r->nup : r->ndown;
    revset next = next_set(g, set, r, up);
    util_buf vs = UTIL_BUF_INIT;
    util_buf_puts(&vs, "DELETE FROM " VERSION_TABLE ";\n");
    for (size_t i = 0; i < next.n; i++)
        util_buf_printf(&vs, "INSERT INTO " VERSION_TABLE " (version_num) VALUES ('%s');\n",
                        next.v[i]->id);
    if (vs.err) {
        util_buf_free(&vs);
        return util_err_set(err, CORM_ENOMEM, "out of memory running %s", r->path);
    }
    const drv_driver *d = c->drv;
    if (sql) {
        fprintf(sql, "-- %s %s (%s)\n", up ? "upgrade to" : "downgrade from", r->id, r->path);
        if (d->migrate_before)
            fprintf(sql, "%s;\n", d->migrate_before);
        fprintf(sql, "BEGIN;\n");
        for (size_t i = 0; i < n; i++)
            fprintf(sql, "%s\n", v[i].sql);
        fprintf(sql, "%sCOMMIT;\n", util_buf_str(&vs));
        if (d->migrate_after)
            fprintf(sql, "%s;\n", d->migrate_after);
        fprintf(sql, "\n");
        util_buf_free(&vs);
        *set = next;
        return CORM_OK;
    }
    if (d->ddl_autocommits) {
        say(log, r, up);
        int rc = step_halfway(c, r, up, v, n, util_buf_str(&vs), err);
        util_buf_free(&vs);
        if (rc == CORM_OK)
            *set = next;
        return rc;
    }
    util_err ignored;
    say(log, r, up);
    if (d->migrate_before)
        d->exec(c->dc, d->migrate_before, &ignored);
    int rc = sql_begin(c, err);
    for (size_t i = 0; rc == CORM_OK && i < n; i++)
        if ((rc = run_stmt(c, v[i].sql, log, err)) < 0)
            util_err_prefix(err, "%s:%d: %s failed: ", r->path, v[i].line,
                            up ? "upgrade" : "downgrade");
    if (rc == CORM_OK && (rc = sql_exec(c, util_buf_str(&vs), err)) < 0)
        util_err_prefix(err, "%s: recording the version: ", r->path);
    util_buf_free(&vs);
    if (rc == CORM_OK && d->migrate_check) {
        /* keys were off while tables were rebuilt: every row must still point somewhere */
        drv_stmt *st = NULL;
        rc = sql_run(c, d->migrate_check, strlen(d->migrate_check), NULL, &st, err);
        if (rc == CORM_OK && (rc = d->step(st, err)) == 1) {
            size_t len;
            const char *table = d->column_text(st, 0, &len);
            if (!table) /* out of memory reading its name */
                table = "a table", len = strlen(table);
            rc = util_err_set(err, CORM_EFOREIGNKEY, "%s: after the %s, rows of %.*s point at rows "
                              "that do not exist", r->path, up ? "upgrade" : "downgrade",
                              (int)len, table);
        }
        if (st)
            d->reset(st);
    }
    if (rc == CORM_OK && (rc = sql_commit(c, err)) == CORM_OK) {
        *set = next;
        if (d->migrate_done)
            d->migrate_done(c->dc);
        return CORM_OK;
    }
    util_err keep = *err;
    sql_rollback(c, err);
    *err = keep;
    if (d->migrate_done)
        d->migrate_done(c->dc);
    return rc;
}

/* Move to target: up, the revisions target needs that the database lacks,
 * parents first; down, the ones the database has that target does not,
 * children first. n_steps >= 0 limits how many. */
static int move(sql_conn *c, const mig_graph *g, const char *dir, const mig_rev *target,
                long n_steps, bool up, FILE *sql, const mig_log *log, util_err *err)
{
    revset set;
    int rc = mig_current(c, g, set.v, 16, &set.n, dir, err);
    if (rc == CORM_OK && !sql)
        rc = refuse_halfway(c, err);
    if (rc < 0)
        return rc;
    if (set.n > 16)
        return util_err_set(err, CORM_ESTATE, "the database records %zu revisions at once", set.n);
    const mig_rev *cur[16];
    size_t ncur = set.n;
    memcpy(cur, set.v, sizeof cur);
    size_t n = g->n ? g->n : 1, nplan = 0;
    char *have = util_calloc(n, 1), *other = util_calloc(n, 1), *done = util_calloc(n, 1);
    const mig_rev **plan = util_calloc(n, sizeof *plan);
    if (!have || !other || !done || !plan) {
        rc = util_err_set(err, CORM_ENOMEM, "out of memory planning the %s",
                          up ? "upgrade" : "downgrade");
        goto out;
    }
    for (size_t i = 0; i < ncur; i++)
        mark_ancestors(g, cur[i], have);
    mark_ancestors(g, target, other);
    if (up) {
        for (size_t i = 0; i < g->n; i++)
            other[i] = other[i] && !have[i];
        if (target)
            order(g, target, other, done, plan, &nplan);
    } else {
        for (size_t i = 0; i < g->n; i++)
            have[i] = have[i] && !other[i];
        for (size_t i = 0; i < ncur; i++)
            order(g, cur[i], have, done, plan, &nplan);
    }
    size_t nrun = n_steps >= 0 && (size_t)n_steps < nplan ? (size_t)n_steps : nplan;
    if (!sql) /* what the server cannot carry refused before anything runs */
        for (size_t i = 0; rc == CORM_OK && i < nrun; i++) {
            const mig_rev *r = plan[up ? i : nplan - 1 - i];
            const mig_stmt *v = up ? r->up : r->down;
            for (size_t k = 0, nv = up ? r->nup : r->ndown; rc == CORM_OK && k < nv; k++)
                if ((rc = sql_refuses_ddl(c, v[k].sql, err)) < 0)
                    util_err_prefix(err, "%s:%d: %s refused, nothing applied: ", r->path, v[k].line,
                                    up ? "upgrade" : "downgrade");
        }
    for (size_t i = 0; rc == CORM_OK && i < nrun; i++)
        rc = step_rev(c, g, plan[up ? i : nplan - 1 - i], up, &set, sql, log, err);
out:
    util_free(have);
    util_free(other);
    util_free(done);
    util_free(plan);
    return rc;
}

int mig_upgrade(sql_conn *c, const mig_graph *g, const char *dir, const mig_rev *target,
                long n_steps, FILE *sql, const mig_log *log, util_err *err)
{
    return move(c, g, dir, target, n_steps, true, sql, log, err);
}

int mig_downgrade(sql_conn *c, const mig_graph *g, const char *dir, const mig_rev *target,
                  long n_steps, FILE *sql, const mig_log *log, util_err *err)
{
    return move(c, g, dir, target, n_steps, false, sql, log, err);
}

/* Set the version table to rev (NULL: base) without running anything. */
int mig_stamp(sql_conn *c, const mig_rev *rev, util_err *err)
{
    util_buf b = UTIL_BUF_INIT;
    util_buf_puts(&b, "DELETE FROM " VERSION_TABLE ";");
    if (c->drv->ddl_autocommits) /* the user repaired what a revision left half-way */
        util_buf_puts(&b, "DELETE FROM " HALFWAY_TABLE ";");
    if (rev)
        util_buf_printf(&b, "INSERT INTO " VERSION_TABLE " (version_num) VALUES ('%s');", rev->id);
    int rc = b.err ? util_err_set(err, CORM_ENOMEM, "out of memory") : mig_ensure_table(c, err);
    if (rc == CORM_OK)
        rc = sql_begin(c, err);
    if (rc == CORM_OK)
        rc = sql_exec(c, util_buf_str(&b), err);
    if (rc == CORM_OK)
        rc = sql_commit(c, err);
    else if (c->depth)
        sql_rollback(c, err);
    util_buf_free(&b);
    return rc;
}
