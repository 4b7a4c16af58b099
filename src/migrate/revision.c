/*
 * revision.c — reading revision files and linking them into a graph.
 */
#include "migrate/migrate.h"
#include "util/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_stmts(mig_stmt *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        util_free(v[i].sql);
    util_free(v);
}

void mig_rev_free(mig_rev *r)
{
    util_free(r->id);
    util_free(r->message);
    util_free(r->path);
    util_free(r->parents[0]);
    util_free(r->parents[1]);
    free_stmts(r->up, r->nup);
    free_stmts(r->down, r->ndown);
}

void mig_free(mig_graph *g)
{
    for (size_t i = 0; i < g->n; i++)
        mig_rev_free(&g->revs[i]);
    util_free(g->revs);
    memset(g, 0, sizeof *g);
}

const mig_rev *mig_find(const mig_graph *g, const char *id)
{
    for (size_t i = 0; id && i < g->n; i++)
        if (strcmp(g->revs[i].id, id) == 0)
            return &g->revs[i];
    return NULL;
}

static char *slurp(const char *path, util_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        util_err_set(err, CORM_EIO, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    util_buf b = UTIL_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        util_buf_put(&b, chunk, n);
    fclose(f);
    if (b.err) {
        util_buf_free(&b);
        util_err_set(err, CORM_ENOMEM, "out of memory reading %s", path);
        return NULL;
    }
    char *s = util_strdup(util_buf_str(&b));
    util_buf_free(&b);
    if (!s)
        util_err_set(err, CORM_ENOMEM, "out of memory reading %s", path);
    return s;
}

static char *trimmed(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    return util_strndup(s, n);
}

static int push_stmt(mig_stmt **v, size_t *n, const char *sql, size_t len, int line)
{
    char *t = trimmed(sql, len);
    if (!t)
        return CORM_ENOMEM;
    if (!*t) {
        util_free(t);
        return CORM_OK;
    }
    mig_stmt *nv = util_realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) {
        util_free(t);
        return CORM_ENOMEM;
    }
    *v = nv;
    nv[(*n)++] = (mig_stmt){ t, line };
    return CORM_OK;
}

/* Header lines, then the statements of each section. */
int mig_parse(mig_rev *r, const char *text, util_err *err)
{
    enum { HEAD, UP, DOWN } part = HEAD;
    util_buf stmt = UTIL_BUF_INIT;
    int line = 0, start = 0, rc = CORM_OK;
    bool seen_parent = false;
    char quote = 0;
    for (const char *p = text; *p && rc == CORM_OK;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        line++;
        const char *l = p;
        p = eol ? eol + 1 : p + len;
        if (!quote && len >= 2 && l[0] == '-' && l[1] == '-') {
            char *c = trimmed(l + 2, len - 2);
            if (!c) {
                rc = CORM_ENOMEM;
                break;
            }
            char **field = NULL;
            const char *val = NULL;
            if (strncmp(c, "corm revision:", 14) == 0)
                field = &r->id, val = c + 14;
            else if (strncmp(c, "message:", 8) == 0)
                field = &r->message, val = c + 8;
            else if (strncmp(c, "parent:", 7) == 0 && (r->parents[0] || seen_parent)) {
                rc = util_err_set(err, CORM_ESQL, "%s:%d: a second parent line", r->path, line);
            } else if (strncmp(c, "parent:", 7) == 0) {
                seen_parent = true;
                char a[128] = "", b[128] = "";
                int k = sscanf(c + 7, "%127s %127s", a, b);
                if (k >= 1 && strcmp(a, "base") != 0 && !(r->parents[0] = util_strdup(a)))
                    rc = CORM_ENOMEM;
                if (k == 2 && !(r->parents[1] = util_strdup(b)))
                    rc = CORM_ENOMEM;
                if (k < 1)
                    rc = util_err_set(err, CORM_ESQL, "%s:%d: a parent line names no revision",
                                      r->path, line);
            } else if (strcmp(c, "+upgrade") == 0 || strcmp(c, "+downgrade") == 0) {
                if (part != HEAD && stmt.len && strspn(stmt.p, " \t\r\n") != stmt.len)
                    rc = util_err_set(err, CORM_ESQL, "%s:%d: the statement before this line "
                                      "does not end with ';'", r->path, line);
                util_buf_reset(&stmt);
                part = c[1] == 'u' ? UP : DOWN;
            }
            if (field && !*field) {
                char *v = trimmed(val, strlen(val));
                if (!v)
                    rc = CORM_ENOMEM;
                *field = v;
            }
            util_free(c);
            continue;
        }
        if (part == HEAD) {
            if (len && strspn(l, " \t\r") != len)
                rc = util_err_set(err, CORM_ESQL, "%s:%d: SQL before '-- +upgrade'", r->path, line);
            continue;
        }
        if (!stmt.len) {
            if (strspn(l, " \t\r") == len)
                continue; /* blank lines between statements */
            start = line;
        }
        util_buf_put(&stmt, l, len);
        util_buf_putc(&stmt, '\n');
        for (size_t i = 0; i < len; i++)
            if (quote ? l[i] == quote : (l[i] == '\'' || l[i] == '"'))
                quote = quote ? 0 : l[i];
        /* a statement ends with ';' at the end of a line, outside quotes */
        size_t e = len;
        while (e && (l[e - 1] == ' ' || l[e - 1] == '\t' || l[e - 1] == '\r'))
            e--;
        if (!quote && e && l[e - 1] == ';') {
            if (stmt.err) { /* a line of it was not kept: never a statement cut short */
                rc = CORM_ENOMEM;
                break;
            }
            rc = part == UP ? push_stmt(&r->up, &r->nup, stmt.p, stmt.len, start)
                            : push_stmt(&r->down, &r->ndown, stmt.p, stmt.len, start);
            util_buf_reset(&stmt);
        }
    }
    if (rc == CORM_OK && stmt.err)
        rc = CORM_ENOMEM;
    if (rc == CORM_OK && quote)
        rc = util_err_set(err, CORM_ESQL, "%s:%d: a quote is never closed", r->path, start);
    if (rc == CORM_OK && stmt.len && strspn(stmt.p, " \t\r\n") != stmt.len)
        rc = util_err_set(err, CORM_ESQL, "%s:%d: the last statement does not end with ';'",
                          r->path, start);
    if (rc == CORM_OK && (!r->id || !*r->id))
        rc = util_err_set(err, CORM_ESQL, "%s:1: no '-- corm revision: ID' line", r->path);
    for (int k = -1; rc == CORM_OK && k < 2; k++) {
        const char *id = k < 0 ? r->id : r->parents[k];
        if (id && (strlen(id) > 64 || strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                 "0123456789_-") != strlen(id)))
            rc = util_err_set(err, CORM_ESQL, "%s: revision id '%s' may hold only letters, digits, "
                              "'_' and '-' (64 at most)", r->path, id);
    }
    util_buf_free(&stmt);
    if (rc == CORM_ENOMEM && !err->code)
        util_err_set(err, rc, "out of memory reading %s", r->path);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const mig_rev *)a)->path, ((const mig_rev *)b)->path);
}

int mig_load(const char *dir, mig_graph *g, util_err *err)
{
    memset(g, 0, sizeof *g);
    DIR *d = opendir(dir);
    if (!d)
        return util_err_set(err, CORM_ENOTFOUND, "migrations folder %s: %s (run 'db init' first)",
                            dir, strerror(errno));
    int rc = CORM_OK;
    for (struct dirent *de; rc == CORM_OK && (de = readdir(d));) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".sql") != 0)
            continue;
        mig_rev *v = util_realloc(g->revs, (g->n + 1) * sizeof *v);
        if (!v) {
            rc = util_err_set(err, CORM_ENOMEM, "out of memory reading migrations");
            break;
        }
        g->revs = v;
        mig_rev *r = &v[g->n++];
        memset(r, 0, sizeof *r);
        size_t plen = strlen(dir) + n + 2;
        if (!(r->path = util_malloc(plen))) {
            rc = util_err_set(err, CORM_ENOMEM, "out of memory reading migrations");
            break;
        }
        snprintf(r->path, plen, "%s/%s", dir, de->d_name);
        char *text = slurp(r->path, err);
        rc = text ? mig_parse(r, text, err) : err->code;
        util_free(text);
    }
    closedir(d);
    if (rc == CORM_OK && g->n)
        qsort(g->revs, g->n, sizeof *g->revs, by_path);
    for (size_t i = 0; rc == CORM_OK && i < g->n; i++) {
        const mig_rev *r = &g->revs[i];
        for (size_t j = 0; j < i && rc == CORM_OK; j++)
            if (strcmp(g->revs[j].id, r->id) == 0)
                rc = util_err_set(err, CORM_ESTATE, "revision %s is in both %s and %s", r->id,
                                  g->revs[j].path, r->path);
        for (int k = 0; k < 2 && rc == CORM_OK; k++)
            if (r->parents[k] && !mig_find(g, r->parents[k]))
                rc = util_err_set(err, CORM_ESTATE, "%s: parent revision %s does not exist",
                                  r->path, r->parents[k]);
    }
    if (rc < 0)
        mig_free(g);
    return rc;
}

size_t mig_heads(const mig_graph *g, const mig_rev **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++) {
        bool parent = false;
        for (size_t j = 0; j < g->n && !parent; j++)
            for (int k = 0; k < 2; k++)
                parent |= g->revs[j].parents[k] && strcmp(g->revs[j].parents[k], g->revs[i].id) == 0;
        if (!parent) {
            if (n < max)
                out[n] = &g->revs[i];
            n++;
        }
    }
    return n;
}

bool mig_is_ancestor(const mig_graph *g, const mig_rev *ancestor, const mig_rev *rev)
{
    if (!rev)
        return false;
    if (rev == ancestor)
        return true;
    for (int k = 0; k < 2; k++)
        if (rev->parents[k] && mig_is_ancestor(g, ancestor, mig_find(g, rev->parents[k])))
            return true;
    return false;
}
