/*
 * diff.c — the models against a live database: every difference as a
 * sentence naming the table and column ("user.age: in the model, not in
 * the database").
 *
 * The seed warns that a model which does not match its table breaks
 * queries; corm_check_schema says so before anything breaks, and the
 * migrations build their revisions from the same comparison. Types are
 * compared as the database declares them: the driver writes the model's
 * column type in its own DDL words, so what would be created is what is
 * compared with what exists.
 */
#include "schema/schema.h"
#include "util/alloc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int say(sch_diff *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int sch_lines_add(sch_diff *d, const char *line)
{
    char *copy = util_strdup(line);
    if (!copy || util_grow(&d->lines, &d->cap, d->n, sizeof *d->lines, 16) < 0) {
        util_free(copy);
        return CORM_ENOMEM;
    }
    d->lines[d->n++] = copy;
    return CORM_OK;
}

static int say(sch_diff *d, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return sch_lines_add(d, line);
}

void sch_diff_free(sch_diff *d)
{
    for (size_t i = 0; i < d->n; i++)
        util_free(d->lines[i]);
    util_free(d->lines);
    memset(d, 0, sizeof *d);
}

/* Equal ignoring case and blanks (type names), or exactly (defaults). */
static bool same_words(const char *a, const char *b, bool fold)
{
    for (;;) {
        while (*a == ' ')
            a++;
        while (*b == ' ')
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        char x = fold ? (char)tolower((unsigned char)*a) : *a;
        char y = fold ? (char)tolower((unsigned char)*b) : *b;
        if (x != y)
            return false;
        a++;
        b++;
    }
}

/* The text of a quoted literal ('...'), unquoted into buf; false if s is not one. */
static bool literal(const char *s, char *buf, size_t size)
{
    size_t n = strlen(s);
    if (n < 2 || s[0] != '\'' || s[n - 1] != '\'' || n - 2 >= size || memchr(s + 1, '\'', n - 2))
        return false;
    snprintf(buf, size, "%.*s", (int)n - 2, s + 1);
    return true;
}

/* Two date, time or decimal literals naming the same value, whatever their
 * spelling ('2024-01-01 00:00:00.000000' and '2024-01-01 00:00:00', as a
 * server may keep the first). */
static bool same_value(const corm_column *c, const char *model, const char *db)
{
    char a[128], b[128];
    if (!c || !literal(model, a, sizeof a) || !literal(db, b, sizeof b))
        return false;
    switch (c->type) {
    case CORM_TYPE_DATETIME: {
        corm_datetime x, y;
        return corm_datetime_parse(a, &x) == CORM_OK && corm_datetime_parse(b, &y) == CORM_OK &&
               memcmp(&x, &y, sizeof x) == 0;
    }
    case CORM_TYPE_DATE: {
        corm_date x, y;
        return corm_date_parse(a, &x) == CORM_OK && corm_date_parse(b, &y) == CORM_OK &&
               memcmp(&x, &y, sizeof x) == 0;
    }
    case CORM_TYPE_TIME: {
        corm_time x, y;
        return corm_time_parse(a, &x) == CORM_OK && corm_time_parse(b, &y) == CORM_OK &&
               memcmp(&x, &y, sizeof x) == 0;
    }
    case CORM_TYPE_NUMERIC: {
        corm_numeric x, y;
        return corm_numeric_parse(a, &x) == CORM_OK && corm_numeric_parse(b, &y) == CORM_OK &&
               corm_numeric_cmp(&x, &y) == 0;
    }
    default:
        return false;
    }
}

/* A default as the database keeps it: without the outer parentheses. */
bool sch_same_default(const corm_column *c, const char *model, const char *db)
{
    if (!model || !db)
        return !model && !db;
    char inner[256];
    size_t len = strlen(model);
    if (len > 1 && model[0] == '(' && model[len - 1] == ')')
        snprintf(inner, sizeof inner, "%.*s", (int)len - 2, model + 1);
    else
        snprintf(inner, sizeof inner, "%s", model);
    if (same_value(c, inner, db))
        return true;
    size_t n = strlen(model);
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)n, model);
    return same_words(buf, db, false) ||
           (n > 1 && model[0] == '(' && model[n - 1] == ')' &&
            (snprintf(buf, sizeof buf, "%.*s", (int)n - 2, model + 1), same_words(buf, db, false)));
}

static const drv_rcolumn *db_column(const drv_rtable *t, const char *name)
{
    for (size_t i = 0; i < t->ncolumns; i++)
        if (strcasecmp(t->columns[i].name, name) == 0)
            return &t->columns[i];
    return NULL;
}

static bool model_has_column(const corm_model *m, const char *name)
{
    for (size_t i = 0; i < m->ncolumns; i++)
        if (strcasecmp(m->columns[i]->name, name) == 0)
            return true;
    return false;
}

bool sch_same_type(const char *model, const char *db) { return same_words(model, db, true); }

/* Whether the two column-name lists hold the same names, in any order. */
bool sch_same_names(const char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        bool found = false;
        for (size_t j = 0; j < nb && !found; j++)
            found = strcasecmp(a[i], b[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static void join_names(char *buf, size_t size, const char *const *v, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%s", i ? ", " : "", v[i]);
}

size_t sch_model_sets(const corm_model *m, sch_colset *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ncolumns && n < max; i++) {
        const corm_column *c = m->columns[i];
        if (c->flags & CORM_PRIMARY_KEY)
            continue;
        if (c->flags & (CORM_UNIQUE | CORM_INDEX))
            out[n++] = (sch_colset){ { c->name }, 1, (c->flags & CORM_UNIQUE) != 0 };
    }
    for (size_t i = 0; i < m->nconstraints && n < max; i++) {
        const corm_constraint *k = &m->constraints[i];
        if (k->kind == CORM_C_FOREIGN_KEY)
            continue;
        sch_colset cs = { { 0 }, 0, k->kind == CORM_C_UNIQUE };
        for (size_t j = 0; k->columns[j] && j < 8; j++)
            cs.cols[cs.n++] = k->columns[j];
        out[n++] = cs;
    }
    return n;
}

/* kinds: 1 uniques, 2 plain indexes, 3 both */
static int diff_indexes(const corm_model *m, const drv_rtable *t, sch_diff *d, int kinds)
{
    sch_colset sets[80];
    size_t n = sch_model_sets(m, sets, 80);
    char names[256];
    int rc = CORM_OK;
    for (size_t i = 0; rc == CORM_OK && i < n; i++) {
        if (!(kinds & (sets[i].unique ? 1 : 2)))
            continue;
        bool found = false;
        for (size_t j = 0; j < t->nindexes && !found; j++)
            found = t->indexes[j].unique == sets[i].unique &&
                    sch_same_names(sets[i].cols, sets[i].n, t->indexes[j].columns, t->indexes[j].ncolumns);
        if (!found) {
            join_names(names, sizeof names, sets[i].cols, sets[i].n);
            rc = say(d, "%s (%s): %s in the model, not in the database", m->table, names,
                     sets[i].unique ? "unique" : "index");
        }
    }
    for (size_t j = 0; rc == CORM_OK && j < t->nindexes; j++) {
        const drv_rindex *ix = &t->indexes[j];
        if (!(kinds & (ix->unique ? 1 : 2)))
            continue;
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = ix->unique == sets[i].unique &&
                    sch_same_names(sets[i].cols, sets[i].n, ix->columns, ix->ncolumns);
        if (!found) {
            join_names(names, sizeof names, (const char *const *)ix->columns, ix->ncolumns);
            rc = say(d, "%s (%s): %s in the database, not in the model", m->table, names,
                     ix->unique ? "unique" : "index");
        }
    }
    return rc;
}

const char *const sch_fk_actions[] = { "NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT" };

size_t sch_model_fks(const corm_model *m, sch_fkset *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ncolumns && n < max; i++) {
        const corm_column *c = m->columns[i];
        if (c->fk)
            out[n++] = (sch_fkset){ { c->name }, { c->fk->name }, 1, c->fk->model->table,
                                c->on_delete, c->on_update };
    }
    for (size_t i = 0; i < m->nconstraints && n < max; i++) {
        const corm_constraint *k = &m->constraints[i];
        if (k->kind != CORM_C_FOREIGN_KEY)
            continue;
        sch_fkset f = { { 0 }, { 0 }, 0, k->ref->table, 0, 0 };
        for (size_t j = 0; k->columns[j] && j < 8; j++) {
            f.cols[j] = k->columns[j];
            f.refs[j] = k->ref_columns[j];
            f.n++;
        }
        out[n++] = f;
    }
    return n;
}

static int diff_fks(const corm_model *m, const drv_rtable *t, sch_diff *d)
{
    sch_fkset fks[80];
    size_t n = sch_model_fks(m, fks, 80);
    char a[256], b[256];
    int rc = CORM_OK;
    for (size_t i = 0; rc == CORM_OK && i < n; i++) {
        const drv_rfk *hit = NULL;
        for (size_t j = 0; j < t->nfks && !hit; j++)
            if (strcasecmp(t->fks[j].ref_table, fks[i].table) == 0 &&
                sch_same_names(fks[i].cols, fks[i].n, t->fks[j].columns, t->fks[j].ncolumns))
                hit = &t->fks[j];
        join_names(a, sizeof a, fks[i].cols, fks[i].n);
        join_names(b, sizeof b, fks[i].refs, fks[i].n);
        if (!hit)
            rc = say(d, "%s (%s) -> %s (%s): foreign key in the model, not in the database",
                     m->table, a, fks[i].table, b);
        else if (strcasecmp(hit->on_delete, sch_fk_actions[fks[i].on_delete]) != 0)
            rc = say(d, "%s (%s) -> %s: ON DELETE %s in the model, %s in the database", m->table,
                     a, fks[i].table, sch_fk_actions[fks[i].on_delete], hit->on_delete);
        else if (strcasecmp(hit->on_update, sch_fk_actions[fks[i].on_update]) != 0)
            rc = say(d, "%s (%s) -> %s: ON UPDATE %s in the model, %s in the database", m->table,
                     a, fks[i].table, sch_fk_actions[fks[i].on_update], hit->on_update);
    }
    for (size_t j = 0; rc == CORM_OK && j < t->nfks; j++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = strcasecmp(t->fks[j].ref_table, fks[i].table) == 0 &&
                    sch_same_names(fks[i].cols, fks[i].n, t->fks[j].columns, t->fks[j].ncolumns);
        if (!found) {
            join_names(a, sizeof a, (const char *const *)t->fks[j].columns, t->fks[j].ncolumns);
            rc = say(d, "%s (%s) -> %s: foreign key in the database, not in the model", m->table,
                     a, t->fks[j].ref_table);
        }
    }
    return rc;
}

static int diff_columns(const sch_mapper *mp, const drv_driver *drv, const drv_rtable *t,
                        sch_diff *d)
{
    const corm_model *m = mp->model;
    int rc = CORM_OK;
    for (size_t i = 0; rc == CORM_OK && i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        const drv_rcolumn *dc = db_column(t, c->name);
        if (!dc) {
            rc = say(d, "%s.%s: in the model, not in the database", m->table, c->name);
            continue;
        }
        char tb[64];
        const char *type = sch_column_type(mp, drv, c, tb, sizeof tb);
        if (!same_words(type, dc->type, true))
            rc = say(d, "%s.%s: type %s in the model, %s in the database", m->table, c->name,
                     type, dc->type);
        bool notnull = (c->flags & (CORM_NOT_NULL | CORM_PRIMARY_KEY)) != 0;
        if (rc == CORM_OK && c != mp->pk && notnull != dc->notnull)
            rc = say(d, "%s.%s: %s in the model, %s in the database", m->table, c->name,
                     notnull ? "NOT NULL" : "nullable", dc->notnull ? "NOT NULL" : "nullable");
        if (rc == CORM_OK && !sch_same_default(c, c->server_default, dc->dflt))
            rc = say(d, "%s.%s: default %s in the model, %s in the database", m->table, c->name,
                     c->server_default ? c->server_default : "none", dc->dflt ? dc->dflt : "none");
    }
    for (size_t i = 0; rc == CORM_OK && i < t->ncolumns; i++)
        if (!model_has_column(m, t->columns[i].name))
            rc = say(d, "%s.%s: in the database, not in the model", m->table, t->columns[i].name);
    return rc;
}

size_t sch_check_spans(const char *sql, sch_span *out, size_t max)
{
    size_t n = 0;
    char quote = 0;
    for (const char *p = sql; p && *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            continue;
        }
        if (*p == '\'' || *p == '"' || *p == '`') {
            quote = *p;
            continue;
        }
        if (strncasecmp(p, "CHECK", 5) != 0 || (p > sql && (isalnum((unsigned char)p[-1]) || p[-1] == '_')))
            continue;
        const char *q = p + 5;
        while (*q == ' ' || *q == '\n' || *q == '\t')
            q++;
        if (*q != '(')
            continue;
        int depth = 0;
        char qq = 0;
        const char *r = q;
        for (; *r; r++) {
            if (qq) {
                if (*r == qq)
                    qq = 0;
            } else if (*r == '\'' || *r == '"') {
                qq = *r;
            } else if (*r == '(') {
                depth++;
            } else if (*r == ')' && --depth == 0) {
                break;
            }
        }
        if (n < max)
            out[n++] = (sch_span){ q, (size_t)(r - q) + (*r ? 1 : 0) };
        p = *r ? r : r - 1;
    }
    return n;
}

/* The CHECK (...) expressions of a CREATE TABLE text, blanks folded, into
 * out (at most max); the same reading serves the model's DDL and the
 * database's text, so formatting cannot make a difference. */
static size_t checks_of(const char *sql, char out[][160], size_t max)
{
    sch_span spans[32];
    size_t n = sch_check_spans(sql, spans, max < 32 ? max : 32);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        char qq = 0;
        for (size_t j = 0; j < spans[i].n && k + 1 < 160; j++) {
            char c = spans[i].p[j];
            if (qq || !(c == ' ' || c == '\n' || c == '\t'))
                out[i][k++] = c;
            if (qq) {
                if (c == qq)
                    qq = 0;
            } else if (c == '\'' || c == '"') {
                qq = c;
            }
        }
        out[i][k] = '\0';
    }
    return n;
}

static int diff_checks(const sch_mapper *mp, const drv_driver *drv, const drv_rtable *t, sch_diff *d)
{
    sch_diff ddl = { 0 };
    char mine[32][160], theirs[32][160];
    if (!drv->checks_verbatim || !t->sql)
        return CORM_OK;
    int rc = sch_table_ddl(mp, drv, NULL, false, &ddl);
    if (rc < 0) {
        sch_diff_free(&ddl);
        return rc;
    }
    size_t a = checks_of(ddl.lines[0], mine, 32), b = checks_of(t->sql, theirs, 32);
    sch_diff_free(&ddl);
    for (size_t i = 0; rc == CORM_OK && i < a; i++) {
        bool found = false;
        for (size_t j = 0; j < b && !found; j++)
            found = strcmp(mine[i], theirs[j]) == 0;
        if (!found)
            rc = say(d, "%s: check %s in the model, not in the database", mp->model->table, mine[i]);
    }
    for (size_t j = 0; rc == CORM_OK && j < b; j++) {
        bool found = false;
        for (size_t i = 0; i < a && !found; i++)
            found = strcmp(mine[i], theirs[j]) == 0;
        if (!found)
            rc = say(d, "%s: check %s in the database, not in the model", mp->model->table, theirs[j]);
    }
    return rc;
}

int sch_diff_table(const sch_mapper *mp, const drv_driver *drv, const drv_rtable *t, int parts,
                   sch_diff *d)
{
    int rc = CORM_OK;
    if (parts & 1) { /* the table's own shape: columns, uniques, keys */
        rc = diff_columns(mp, drv, t, d);
        if (rc == CORM_OK)
            rc = diff_indexes(mp->model, t, d, 1);
        if (rc == CORM_OK)
            rc = diff_fks(mp->model, t, d);
        if (rc == CORM_OK)
            rc = diff_checks(mp, drv, t, d);
    }
    if (rc == CORM_OK && (parts & 2))
        rc = diff_indexes(mp->model, t, d, 2);
    return rc;
}

int sch_diff_build(const sch_meta *meta, const drv_driver *drv, const drv_rschema *rs,
                   const char *const *ignore, sch_diff *d, util_err *err)
{
    int rc = CORM_OK;
    memset(d, 0, sizeof *d);
    for (size_t k = 0; rc == CORM_OK && k < meta->n; k++) {
        const sch_mapper *mp = &meta->mappers[k];
        const drv_rtable *t = drv_rschema_table(rs, mp->model->table);
        if (!t) {
            rc = say(d, "table %s: in the model, not in the database", mp->model->table);
            continue;
        }
        rc = sch_diff_table(mp, drv, t, 3, d);
    }
    for (size_t i = 0; rc == CORM_OK && i < rs->ntables; i++) {
        const char *name = rs->tables[i].name;
        bool known = false;
        for (size_t k = 0; k < meta->n && !known; k++)
            known = strcasecmp(meta->mappers[k].model->table, name) == 0;
        for (size_t k = 0; ignore && ignore[k] && !known; k++)
            known = strcasecmp(ignore[k], name) == 0;
        if (!known)
            rc = say(d, "table %s: in the database, not in the model", name);
    }
    if (rc < 0) {
        sch_diff_free(d);
        return util_err_set(err, rc, "out of memory comparing the schema");
    }
    return CORM_OK;
}
