/*
 * autogen.c — a revision written from the difference between the models
 * and the live database (corm db migrate).
 *
 * New tables are created as create_all would; tables no model names are
 * dropped (loudly). A table whose shape changed (columns, types,
 * nullability, defaults, uniques, foreign keys) is rebuilt the way SQLite
 * documents, as Alembic's batch mode does: create the new table, copy the
 * rows, drop the old one, rename the new one, recreate the indexes — inside
 * the revision's transaction, with keys checked before it commits. A
 * column whose model names its old name (CORM_OLD_NAME) is carried over
 * under the new name. The downgrade rebuilds the table as the database
 * had it. Only plain indexes changed: CREATE / DROP INDEX, no rebuild.
 */
#include "migrate/migrate.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int add(sch_diff *out, util_buf *b)
{
    util_buf_putc(b, ';');
    int rc = b->err ? CORM_ENOMEM : sch_lines_add(out, util_buf_str(b));
    util_buf_reset(b);
    return rc;
}

static void ident(util_buf *b, const drv_driver *d, const char *name)
{
    sql_params none = { 0 };
    util_err e;
    sql_ctx x = { d, b, &none, &e, NULL, NULL };
    sql_put_ident(&x, name);
}

static const drv_rcolumn *db_col(const drv_rtable *t, const char *name)
{
    for (size_t i = 0; name && i < t->ncolumns; i++)
        if (strcasecmp(t->columns[i].name, name) == 0)
            return &t->columns[i];
    return NULL;
}

/* The database column a model column's rows come from: its own name, or
 * the old name it declares. */
static const drv_rcolumn *source_of(const drv_rtable *t, const corm_column *c)
{
    const drv_rcolumn *dc = db_col(t, c->name);
    return dc ? dc : db_col(t, c->old_name);
}

/* CREATE TABLE text as the database keeps it, renamed to `as`. */
static int renamed_create(const drv_driver *d, const char *sql, const char *table, const char *as,
                          util_buf *b)
{
    /* "CREATE TABLE <name> (...": replace the name, quoted or not */
    const char *p = sql;
    if (strncasecmp(p, "CREATE TABLE ", 13) != 0)
        return CORM_EINVAL;
    p += 13;
    while (*p == ' ')
        p++;
    const char *name_end;
    if (*p == '"' || *p == '`' || *p == '[') {
        char close = *p == '[' ? ']' : *p;
        name_end = strchr(p + 1, close);
        if (!name_end)
            return CORM_EINVAL;
        name_end++;
    } else {
        name_end = p + strlen(table);
        if (strncasecmp(p, table, strlen(table)) != 0)
            return CORM_EINVAL;
    }
    util_buf_puts(b, "CREATE TABLE ");
    ident(b, d, as);
    util_buf_puts(b, name_end);
    return CORM_OK;
}

/* INSERT INTO to (cols) SELECT sources FROM from; pairs are (to, from) names. */
static void put_copy(util_buf *b, const drv_driver *d, const char *to, const char *from,
                     const char *const *to_cols, const char *const *from_cols, size_t n)
{
    util_buf_puts(b, "INSERT INTO ");
    ident(b, d, to);
    util_buf_puts(b, " (");
    for (size_t i = 0; i < n; i++) {
        if (i)
            util_buf_puts(b, ", ");
        ident(b, d, to_cols[i]);
    }
    util_buf_puts(b, ") SELECT ");
    for (size_t i = 0; i < n; i++) {
        if (i)
            util_buf_puts(b, ", ");
        ident(b, d, from_cols[i]);
    }
    util_buf_puts(b, " FROM ");
    ident(b, d, from);
}

static void put_rename(util_buf *b, const drv_driver *d, const char *from, const char *to)
{
    util_buf_puts(b, "ALTER TABLE ");
    ident(b, d, from);
    util_buf_puts(b, " RENAME TO ");
    ident(b, d, to);
}

/* Rebuild table t (as the database has it) into the model's shape, and back. */
static int rebuild(const sch_mapper *mp, const drv_driver *d, const drv_rtable *t, sch_diff *up,
                   sch_diff *down, FILE *notes)
{
    const corm_model *m = mp->model;
    char tmp[200];
    const char *model_cols[64], *db_cols[64];
    size_t n = 0;
    util_buf b = UTIL_BUF_INIT;
    sch_diff ddl = { 0 };
    int rc = sch_table_ddl(mp, d, NULL, false, &ddl);
    snprintf(tmp, sizeof tmp, "_corm_new_%s", m->table);
    for (size_t i = 0; i < m->ncolumns && n < 64; i++) {
        const drv_rcolumn *src = source_of(t, m->columns[i]);
        if (src) {
            model_cols[n] = m->columns[i]->name;
            db_cols[n++] = src->name;
        } else if (notes && (m->columns[i]->flags & CORM_NOT_NULL) && !m->columns[i]->server_default) {
            fprintf(notes, "NOTE: %s.%s is NOT NULL without a server default: the rebuild of %s "
                    "fails while it has rows; edit the revision to give them a value\n", m->table,
                    m->columns[i]->name, m->table);
        }
    }
    for (size_t i = 0; notes && i < t->ncolumns; i++) {
        bool kept = false;
        for (size_t k = 0; k < n && !kept; k++)
            kept = strcasecmp(db_cols[k], t->columns[i].name) == 0;
        if (!kept)
            fprintf(notes, "WARNING: the revision drops column %s.%s and its data\n", m->table,
                    t->columns[i].name);
    }
    /* up: the model's table under a temporary name, filled, swapped in */
    if (rc == CORM_OK) {
        util_buf_puts(&b, "CREATE TABLE ");
        ident(&b, d, tmp);
        const char *paren = strchr(ddl.lines[0], '(');
        util_buf_puts(&b, " ");
        util_buf_puts(&b, paren ? paren : "()");
        rc = add(up, &b);
    }
    if (rc == CORM_OK) {
        put_copy(&b, d, tmp, m->table, model_cols, db_cols, n);
        rc = add(up, &b);
    }
    if (rc == CORM_OK) {
        util_buf_puts(&b, "DROP TABLE ");
        ident(&b, d, m->table);
        rc = add(up, &b);
    }
    if (rc == CORM_OK) {
        put_rename(&b, d, tmp, m->table);
        rc = add(up, &b);
    }
    for (size_t i = 1; rc == CORM_OK && i < ddl.n; i++) {
        util_buf_puts(&b, ddl.lines[i]);
        rc = add(up, &b);
    }
    /* down: the table as the database had it, filled back */
    snprintf(tmp, sizeof tmp, "_corm_old_%s", m->table);
    if (rc == CORM_OK && renamed_create(d, t->sql ? t->sql : "", t->name, tmp, &b) < 0)
        rc = CORM_EINVAL;
    if (rc == CORM_OK)
        rc = add(down, &b);
    if (rc == CORM_OK) {
        put_copy(&b, d, tmp, m->table, db_cols, model_cols, n);
        rc = add(down, &b);
    }
    if (rc == CORM_OK) {
        util_buf_puts(&b, "DROP TABLE ");
        ident(&b, d, m->table);
        rc = add(down, &b);
    }
    if (rc == CORM_OK) {
        put_rename(&b, d, tmp, m->table);
        rc = add(down, &b);
    }
    for (size_t i = 0; rc == CORM_OK && i < t->nindexes; i++)
        if (t->indexes[i].sql) {
            util_buf_puts(&b, t->indexes[i].sql);
            rc = add(down, &b);
        }
    util_buf_free(&b);
    sch_diff_free(&ddl);
    return rc;
}

/* Only plain indexes differ: create the model's missing ones, drop the extra. */
static int reindex(const sch_mapper *mp, const drv_driver *d, const drv_rtable *t, sch_diff *up,
                   sch_diff *down)
{
    sch_diff ddl = { 0 };
    util_buf b = UTIL_BUF_INIT;
    int rc = sch_table_ddl(mp, d, NULL, false, &ddl);
    /* the model's index statements name their indexes ix_table_cols */
    for (size_t i = 1; rc == CORM_OK && i < ddl.n; i++) {
        const char *q1 = strchr(ddl.lines[i], d->quote), *q2 = q1 ? strchr(q1 + 1, d->quote) : NULL;
        char name[200] = "";
        if (q1 && q2)
            snprintf(name, sizeof name, "%.*s", (int)(q2 - q1 - 1), q1 + 1);
        bool have = false;
        for (size_t k = 0; k < t->nindexes && !have; k++)
            have = strcasecmp(t->indexes[k].name, name) == 0;
        if (have)
            continue;
        util_buf_puts(&b, ddl.lines[i]);
        if ((rc = add(up, &b)) == CORM_OK) {
            util_buf_puts(&b, "DROP INDEX ");
            ident(&b, d, name);
            rc = add(down, &b);
        }
    }
    for (size_t k = 0; rc == CORM_OK && k < t->nindexes; k++) {
        const drv_rindex *ix = &t->indexes[k];
        if (ix->unique || !ix->sql)
            continue;
        bool wanted = false;
        for (size_t i = 1; i < ddl.n && !wanted; i++) {
            char want[220];
            snprintf(want, sizeof want, "%c%s%c", d->quote, ix->name, d->quote);
            wanted = strstr(ddl.lines[i], want) != NULL;
        }
        if (wanted)
            continue;
        util_buf_puts(&b, "DROP INDEX ");
        ident(&b, d, ix->name);
        if ((rc = add(up, &b)) == CORM_OK) {
            util_buf_puts(&b, ix->sql);
            rc = add(down, &b);
        }
    }
    util_buf_free(&b);
    sch_diff_free(&ddl);
    return rc;
}

int mig_autogenerate(const sch_meta *meta, const drv_driver *d, const drv_rschema *rs,
                     sch_diff *up, sch_diff *down, FILE *notes, util_err *err)
{
    int rc = CORM_OK;
    util_buf b = UTIL_BUF_INIT;
    memset(up, 0, sizeof *up);
    memset(down, 0, sizeof *down);
    /* parents first going up; the downgrade runs its statements reversed */
    sch_diff down_rev = { 0 };
    for (size_t k = 0; rc == CORM_OK && k < meta->n; k++) {
        const sch_mapper *mp = &meta->mappers[k];
        const drv_rtable *t = drv_rschema_table(rs, mp->model->table);
        if (!t) {
            sch_diff ddl = { 0 };
            rc = sch_table_ddl(mp, d, NULL, false, &ddl);
            for (size_t i = 0; rc == CORM_OK && i < ddl.n; i++) {
                util_buf_puts(&b, ddl.lines[i]);
                rc = add(up, &b);
            }
            sch_diff_free(&ddl);
            if (rc == CORM_OK) {
                util_buf_puts(&b, "DROP TABLE ");
                ident(&b, d, mp->model->table);
                rc = add(&down_rev, &b);
            }
            continue;
        }
        sch_diff shape = { 0 }, idx = { 0 };
        rc = sch_diff_table(mp, d, t, 1, &shape);
        if (rc == CORM_OK)
            rc = sch_diff_table(mp, d, t, 2, &idx);
        sch_diff tmp_down = { 0 };
        if (rc == CORM_OK && shape.n)
            rc = rebuild(mp, d, t, up, &tmp_down, notes);
        else if (rc == CORM_OK && idx.n)
            rc = reindex(mp, d, t, up, &tmp_down);
        /* this table's own downgrade statements stay in their order */
        for (size_t i = tmp_down.n; rc == CORM_OK && i-- > 0;)
            rc = sch_lines_add(&down_rev, tmp_down.lines[i]);
        sch_diff_free(&tmp_down);
        sch_diff_free(&shape);
        sch_diff_free(&idx);
    }
    for (size_t i = 0; rc == CORM_OK && i < rs->ntables; i++) {
        const drv_rtable *t = &rs->tables[i];
        bool known = strcasecmp(t->name, "corm_version") == 0;
        for (size_t k = 0; k < meta->n && !known; k++)
            known = strcasecmp(meta->mappers[k].model->table, t->name) == 0;
        if (known)
            continue;
        if (notes)
            fprintf(notes, "WARNING: the revision drops table %s and its data\n", t->name);
        util_buf_puts(&b, "DROP TABLE ");
        ident(&b, d, t->name);
        rc = add(up, &b);
        for (size_t k = t->nindexes; rc == CORM_OK && k-- > 0;)
            if (t->indexes[k].sql) {
                util_buf_puts(&b, t->indexes[k].sql);
                rc = add(&down_rev, &b);
            }
        if (rc == CORM_OK) {
            util_buf_puts(&b, t->sql ? t->sql : "");
            rc = add(&down_rev, &b);
        }
    }
    for (size_t i = down_rev.n; rc == CORM_OK && i-- > 0;)
        rc = sch_lines_add(down, down_rev.lines[i]);
    sch_diff_free(&down_rev);
    util_buf_free(&b);
    if (rc < 0) {
        sch_diff_free(up);
        sch_diff_free(down);
        return util_err_set(err, rc == CORM_EINVAL ? CORM_ESQL : CORM_ENOMEM,
                            rc == CORM_EINVAL ? "cannot read a table's CREATE statement to write "
                            "the downgrade" : "out of memory writing the revision");
    }
    return CORM_OK;
}
