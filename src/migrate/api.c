/*
 * api.c — the public migration calls (corm_migrate_*): they borrow a
 * connection from the engine, read the migrations folder, and move the
 * database along the revision graph (revision.c, apply.c).
 */
#include "migrate/migrate.h"
#include "orm/orm.h"
#include "util/alloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The graph and a connection, for one call. */
typedef struct mig_ctx {
    corm_engine *e;
    sql_conn *c;
    mig_graph g;
} mig_ctx;

static int open_ctx(mig_ctx *x, corm_engine *e, const char *dir, bool need_graph)
{
    memset(x, 0, sizeof *x);
    x->e = e;
    util_err_clear(&e->err);
    int rc = need_graph ? mig_load(dir, &x->g, &e->err) : CORM_OK;
    if (rc == CORM_OK)
        rc = orm_engine_acquire(e, &x->c, &e->err);
    if (rc < 0)
        mig_free(&x->g);
    return rc;
}

static int close_ctx(mig_ctx *x, int rc)
{
    orm_engine_release(x->e, x->c);
    mig_free(&x->g);
    return rc;
}

/* A revision named in full or by a prefix that only it has. */
static int resolve(mig_ctx *x, const char *name, const mig_rev **out)
{
    const mig_rev *hit = NULL;
    size_t n = strlen(name), count = 0;
    for (size_t i = 0; i < x->g.n; i++) {
        if (strcmp(x->g.revs[i].id, name) == 0) {
            *out = &x->g.revs[i];
            return CORM_OK;
        }
        if (strncmp(x->g.revs[i].id, name, n) == 0) {
            hit = &x->g.revs[i];
            count++;
        }
    }
    if (count == 1) {
        *out = hit;
        return CORM_OK;
    }
    return util_err_set(&x->e->err, CORM_ENOTFOUND, count ? "revision '%s' is ambiguous"
                        : "no revision '%s' in the migrations folder", name);
}

static int single_head(mig_ctx *x, const mig_rev **out)
{
    const mig_rev *heads[8];
    size_t n = mig_heads(&x->g, heads, 8);
    if (n == 0) {
        *out = NULL;
        return CORM_OK;
    }
    if (n > 1)
        return util_err_set(&x->e->err, CORM_ESTATE, "the migrations have %zu heads (%s, %s%s); "
                            "join them with 'db merge' first", n, heads[0]->id, heads[1]->id,
                            n > 2 ? ", ..." : "");
    *out = heads[0];
    return CORM_OK;
}

int corm_migrate_init(corm_engine *e, const char *dir)
{
    util_err_clear(&e->err);
    if (mkdir(dir, 0777) < 0 && errno != EEXIST)
        return util_err_set(&e->err, CORM_EIO, "cannot create %s: %s", dir, strerror(errno));
    mig_ctx x;
    int rc = open_ctx(&x, e, dir, false);
    if (rc < 0)
        return rc;
    return close_ctx(&x, mig_ensure_table(x.c, &e->err));
}

int corm_migrate_upgrade(corm_engine *e, const char *dir, const char *target, FILE *sql)
{
    mig_ctx x;
    int rc = open_ctx(&x, e, dir, true);
    if (rc < 0)
        return rc;
    const mig_rev *to = NULL;
    long steps = -1;
    if (!target || strcmp(target, "head") == 0 || target[0] == '+') {
        rc = single_head(&x, &to);
        if (target && target[0] == '+')
            steps = strtol(target + 1, NULL, 10);
    } else {
        rc = resolve(&x, target, &to);
    }
    if (rc == CORM_OK)
        rc = mig_upgrade(x.c, &x.g, dir, to, steps, sql, &(mig_log){ e->info, e->info_ud, e->progress, e->progress_ud },
                         &e->err);
    return close_ctx(&x, rc);
}

int corm_migrate_downgrade(corm_engine *e, const char *dir, const char *target, FILE *sql)
{
    mig_ctx x;
    int rc = open_ctx(&x, e, dir, true);
    if (rc < 0)
        return rc;
    const mig_rev *to = NULL;
    long steps = -1;
    if (target && target[0] == '-') {
        steps = strtol(target + 1, NULL, 10);
        if (steps <= 0)
            rc = util_err_set(&e->err, CORM_EINVAL, "downgrade '%s': -N needs N > 0", target);
    } else if (target && strcmp(target, "base") != 0) {
        rc = resolve(&x, target, &to);
    }
    if (rc == CORM_OK)
        rc = mig_downgrade(x.c, &x.g, dir, to, steps, sql, &(mig_log){ e->info, e->info_ud, e->progress, e->progress_ud },
                           &e->err);
    return close_ctx(&x, rc);
}

int corm_migrate_stamp(corm_engine *e, const char *dir, const char *rev)
{
    mig_ctx x;
    int rc = open_ctx(&x, e, dir, true);
    if (rc < 0)
        return rc;
    const mig_rev *to = NULL;
    if (!rev || strcmp(rev, "head") == 0)
        rc = single_head(&x, &to);
    else if (strcmp(rev, "base") != 0)
        rc = resolve(&x, rev, &to);
    if (rc == CORM_OK)
        rc = mig_stamp(x.c, to, &e->err);
    return close_ctx(&x, rc);
}

static void print_rev(FILE *out, const mig_rev *r, const mig_rev *const *heads, size_t nheads)
{
    bool head = false;
    for (size_t i = 0; i < nheads; i++)
        head |= heads[i] == r;
    fprintf(out, "%s -> %s%s%s, %s\n", r->parents[0] ? r->parents[0] : "<base>", r->id,
            r->parents[1] ? " (merge)" : "", head ? " (head)" : "", r->message ? r->message : "");
}

int corm_migrate_current(corm_engine *e, const char *dir, FILE *out)
{
    mig_ctx x;
    int rc = open_ctx(&x, e, dir, true);
    if (rc < 0)
        return rc;
    const mig_rev *cur[8], *heads[8];
    size_t n, nheads = mig_heads(&x.g, heads, 8);
    rc = mig_current(x.c, &x.g, cur, 8, &n, dir, &e->err);
    if (rc == CORM_OK && n == 0)
        fprintf(out, "<base>\n");
    for (size_t i = 0; rc == CORM_OK && i < n && i < 8; i++)
        print_rev(out, cur[i], heads, nheads);
    return close_ctx(&x, rc);
}

int corm_migrate_history(corm_engine *e, const char *dir, FILE *out, bool heads_only)
{
    mig_ctx x;
    int rc = open_ctx(&x, e, dir, true);
    if (rc < 0)
        return rc;
    const mig_rev *heads[64];
    size_t nheads = mig_heads(&x.g, heads, 64);
    if (nheads > 64)
        nheads = 64;
    /* newest first: by distance from base, then by id */
    size_t *depth = util_calloc(x.g.n ? x.g.n : 1, sizeof *depth);
    if (!depth)
        return close_ctx(&x, util_err_set(&e->err, CORM_ENOMEM, "out of memory"));
    for (bool moved = true; moved;) {
        moved = false;
        for (size_t i = 0; i < x.g.n; i++)
            for (int k = 0; k < 2; k++) {
                const mig_rev *p = x.g.revs[i].parents[k] ? mig_find(&x.g, x.g.revs[i].parents[k]) : NULL;
                if (p && depth[i] <= depth[p - x.g.revs]) {
                    depth[i] = depth[p - x.g.revs] + 1;
                    moved = true;
                }
            }
    }
    for (size_t printed = 0; printed < x.g.n; printed++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < x.g.n; i++)
            if (depth[i] != SIZE_MAX &&
                (best == SIZE_MAX || depth[i] > depth[best] ||
                 (depth[i] == depth[best] && strcmp(x.g.revs[i].id, x.g.revs[best].id) > 0)))
                best = i;
        bool head = false;
        for (size_t k = 0; k < nheads; k++)
            head |= heads[k] == &x.g.revs[best];
        if (!heads_only || head)
            print_rev(out, &x.g.revs[best], heads, nheads);
        depth[best] = SIZE_MAX;
    }
    util_free(depth);
    return close_ctx(&x, rc);
}

int corm_migrate_show(corm_engine *e, const char *dir, const char *rev, FILE *out)
{
    mig_ctx x;
    int rc = open_ctx(&x, e, dir, true);
    if (rc < 0)
        return rc;
    const mig_rev *r = NULL;
    rc = resolve(&x, rev, &r);
    if (rc == CORM_OK) {
        fprintf(out, "Rev: %s\nParent: %s%s%s\nPath: %s\nMessage: %s\n\nUpgrade:\n", r->id,
                r->parents[0] ? r->parents[0] : "<base>", r->parents[1] ? " " : "",
                r->parents[1] ? r->parents[1] : "", r->path, r->message ? r->message : "");
        for (size_t i = 0; i < r->nup; i++)
            fprintf(out, "  %s\n", r->up[i].sql);
        fprintf(out, "Downgrade:\n");
        for (size_t i = 0; i < r->ndown; i++)
            fprintf(out, "  %s\n", r->down[i].sql);
    }
    return close_ctx(&x, rc);
}

/* Write a new revision file after `parents` (NULL-terminated; none: base). */
static int write_rev(corm_engine *e, const char *dir, const char *message,
                     const char *const *parents, const char *up, const char *down,
                     char *id_out, size_t size)
{
    char id[64], slug[48], path[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    static unsigned seq;
    snprintf(id, sizeof id, "%04d%02d%02d_%02d%02d%02d_%04x", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)((uintptr_t)&now ^ (unsigned)clock() ^ ++seq * 2654435761u) & 0xffff);
    size_t k = 0;
    for (const char *p = message ? message : "revision"; *p && k + 1 < sizeof slug; p++)
        slug[k++] = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p
                    : (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : '_';
    slug[k] = '\0';
    snprintf(path, sizeof path, "%s/%s_%s.sql", dir, id, slug);
    FILE *f = fopen(path, "wx");
    if (!f)
        return util_err_set(&e->err, CORM_EIO, "cannot write %s: %s", path, strerror(errno));
    fprintf(f, "-- corm revision: %s\n-- parent: %s%s%s\n-- message: %s\n\n-- +upgrade\n%s%s"
               "\n-- +downgrade\n%s%s",
            id, parents && parents[0] ? parents[0] : "base",
            parents && parents[0] && parents[1] ? " " : "",
            parents && parents[0] && parents[1] ? parents[1] : "", message ? message : "",
            up ? up : "", up && *up && up[strlen(up) - 1] != '\n' ? "\n" : "",
            down ? down : "", down && *down && down[strlen(down) - 1] != '\n' ? "\n" : "");
    if (fclose(f) != 0)
        return util_err_set(&e->err, CORM_EIO, "cannot write %s: %s", path, strerror(errno));
    if (id_out)
        snprintf(id_out, size, "%s", id);
    return CORM_OK;
}

int corm_migrate_revision(corm_engine *e, const char *dir, const char *message, const char *up,
                          const char *down, char *id_out, size_t size)
{
    mig_ctx x;
    int rc = open_ctx(&x, e, dir, true);
    if (rc < 0)
        return rc;
    const mig_rev *head = NULL;
    rc = single_head(&x, &head);
    const char *parents[2] = { head ? head->id : NULL, NULL };
    char headid[72] = "";
    if (head)
        snprintf(headid, sizeof headid, "%s", head->id), parents[0] = headid;
    close_ctx(&x, rc);
    return rc < 0 ? rc : write_rev(e, dir, message, parents, up, down, id_out, size);
}

static char *joined(const sch_diff *d)
{
    util_buf b = UTIL_BUF_INIT;
    for (size_t i = 0; i < d->n; i++) {
        util_buf_puts(&b, d->lines[i]);
        util_buf_putc(&b, '\n');
    }
    char *s = b.err ? NULL : util_strdup(util_buf_str(&b));
    util_buf_free(&b);
    return s;
}

int corm_migrate_autogenerate(corm_engine *e, const char *dir, const char *message, FILE *notes,
                              char *id_out, size_t size)
{
    mig_ctx x;
    if (id_out && size)
        id_out[0] = '\0';
    int rc = open_ctx(&x, e, dir, true);
    if (rc < 0)
        return rc;
    /* the database must be at the head, or the revision would repeat others */
    const mig_rev *head = NULL, *cur[8];
    size_t ncur = 0;
    rc = single_head(&x, &head);
    if (rc == CORM_OK)
        rc = mig_current(x.c, &x.g, cur, 8, &ncur, dir, &e->err);
    if (rc == CORM_OK && head && (ncur != 1 || cur[0] != head))
        rc = util_err_set(&e->err, CORM_ESTATE, "the database is not at the head revision %s; "
                          "run 'db upgrade' first", head->id);
    drv_rschema rs;
    sch_diff up = { 0 }, down = { 0 };
    if (rc == CORM_OK)
        rc = e->drv->reflect(x.c->dc, &rs, &e->err);
    if (rc == CORM_OK) {
        rc = mig_autogenerate(&e->meta, e->drv, &rs, &up, &down, notes, &e->err);
        drv_rschema_free(&rs);
    }
    close_ctx(&x, rc);
    if (rc < 0)
        return rc;
    if (up.n == 0) { /* no change: no file */
        sch_diff_free(&up);
        sch_diff_free(&down);
        return 0;
    }
    char *u = joined(&up), *dn = joined(&down);
    rc = u && dn ? corm_migrate_revision(e, dir, message, u, dn, id_out, size)
                 : util_err_set(&e->err, CORM_ENOMEM, "out of memory writing the revision");
    util_free(u);
    util_free(dn);
    sch_diff_free(&up);
    sch_diff_free(&down);
    return rc < 0 ? rc : 1;
}

int corm_migrate_merge(corm_engine *e, const char *dir, const char *message, char *id_out,
                       size_t size)
{
    mig_ctx x;
    int rc = open_ctx(&x, e, dir, true);
    if (rc < 0)
        return rc;
    const mig_rev *heads[8];
    size_t n = mig_heads(&x.g, heads, 8);
    char a[72] = "", b[72] = "";
    if (n != 2)
        rc = util_err_set(&e->err, CORM_ESTATE, "merge joins two heads; there %s %zu",
                          n == 1 ? "is" : "are", n);
    else {
        snprintf(a, sizeof a, "%s", heads[0]->id);
        snprintf(b, sizeof b, "%s", heads[1]->id);
    }
    close_ctx(&x, rc);
    const char *parents[3] = { a, b, NULL };
    return rc < 0 ? rc : write_rev(e, dir, message ? message : "merge", parents, "", "", id_out, size);
}
