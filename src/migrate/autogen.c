/*
 * autogen.c — a revision written from the difference between the models
 * and the live database (corm db migrate).
 *
 * New tables are created as create_all would; tables no model names are
 * dropped (loudly). A table whose shape changed (columns, types,
 * nullability, defaults, uniques, foreign keys) is changed in place with
 * ALTER TABLE where the database can (the driver's alter_in_place:
 * PostgreSQL, MariaDB), one operation and its inverse at a time, as
 * Alembic's op directives; on SQLite it is rebuilt the way SQLite
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

/* DROP INDEX name [ON table] */
static void put_drop_index(util_buf *b, const drv_driver *d, const char *name, const char *table)
{
    util_buf_puts(b, "DROP INDEX ");
    ident(b, d, name);
    if (d->drop_index_on_table) {
        util_buf_puts(b, " ON ");
        ident(b, d, table);
    }
}

/* Plain indexes: create the model's missing ones (which & 1), drop the
 * database's extra ones (which & 2). */
static int reindex(const sch_mapper *mp, const drv_driver *d, const drv_rtable *t, int which,
                   sch_diff *up, sch_diff *down)
{
    sch_diff ddl = { 0 };
    util_buf b = UTIL_BUF_INIT;
    int rc = sch_table_ddl(mp, d, NULL, false, &ddl);
    /* the model's index statements name their indexes ix_table_cols */
    for (size_t i = 1; rc == CORM_OK && (which & 1) && i < ddl.n; i++) {
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
            put_drop_index(&b, d, name, mp->model->table);
            rc = add(down, &b);
        }
    }
    for (size_t k = 0; rc == CORM_OK && (which & 2) && k < t->nindexes; k++) {
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
        put_drop_index(&b, d, ix->name, mp->model->table);
        if ((rc = add(up, &b)) == CORM_OK) {
            util_buf_puts(&b, ix->sql);
            rc = add(down, &b);
        }
    }
    util_buf_free(&b);
    sch_diff_free(&ddl);
    return rc;
}

/* ---- ALTER TABLE, where the database changes a table in place ------------------
 *
 * A changed table becomes a list of operations, each an ALTER with the
 * ALTER that undoes it: renames first (CORM_OLD_NAME), then the database's
 * constraints and indexes the models lack, the columns they lack, the new
 * columns, changes to kept columns (type with a cast, NOT NULL, default),
 * and last the models' new constraints and indexes. The downgrade runs the
 * undoing statements in reverse. Checks are written with their columns. */

typedef struct ops {
    sch_diff up, down;          /* pairs: down[i] undoes up[i] */
    util_buf u, w;              /* the pair being written */
    int rc;
} ops;

/* "ALTER TABLE "t" " into both statements of the next pair. */
static void op_begin(ops *o, const drv_driver *d, const char *table)
{
    util_buf *both[2] = { &o->u, &o->w };
    for (int i = 0; i < 2; i++) {
        util_buf_reset(both[i]);
        util_buf_puts(both[i], "ALTER TABLE ");
        ident(both[i], d, table);
        util_buf_putc(both[i], ' ');
    }
}

static void op_end(ops *o)
{
    if (o->rc == CORM_OK)
        o->rc = add(&o->up, &o->u);
    if (o->rc == CORM_OK)
        o->rc = add(&o->down, &o->w);
}

static void put_names(util_buf *b, const drv_driver *d, const char *const *names, size_t n)
{
    util_buf_putc(b, '(');
    for (size_t i = 0; i < n; i++) {
        if (i)
            util_buf_puts(b, ", ");
        ident(b, d, names[i]);
    }
    util_buf_putc(b, ')');
}

/* ADD CONSTRAINT name FOREIGN KEY (cols) REFERENCES table (refs) ON DELETE .. ON UPDATE .. */
static void put_add_fk(util_buf *b, const drv_driver *d, const char *name, const char *const *cols,
                       const char *const *refs, size_t n, const char *table, const char *on_delete,
                       const char *on_update)
{
    util_buf_puts(b, "ADD CONSTRAINT ");
    ident(b, d, name);
    util_buf_puts(b, " FOREIGN KEY ");
    put_names(b, d, cols, n);
    util_buf_puts(b, " REFERENCES ");
    ident(b, d, table);
    util_buf_putc(b, ' ');
    put_names(b, d, refs, n);
    util_buf_printf(b, " ON DELETE %s ON UPDATE %s", on_delete, on_update);
}

/* DROP CONSTRAINT name, or the database's own words (verb: NULL or one of
 * the driver's drop_unique / drop_fk). */
static void put_drop_constraint(util_buf *b, const drv_driver *d, const char *verb, const char *name)
{
    util_buf_printf(b, "%s ", verb ? verb : "DROP CONSTRAINT");
    ident(b, d, name);
}

/* A reflected column as ADD COLUMN writes it. */
static void put_db_column(util_buf *b, const drv_driver *d, const drv_rcolumn *c)
{
    ident(b, d, c->name);
    util_buf_printf(b, " %s", c->type);
    if (c->notnull)
        util_buf_puts(b, " NOT NULL");
    if (c->dflt)
        util_buf_printf(b, " DEFAULT %s", c->dflt);
}

static void put_alter_type(util_buf *b, const drv_driver *d, const char *col, const char *type)
{
    util_buf_puts(b, "ALTER COLUMN ");
    ident(b, d, col);
    util_buf_printf(b, " TYPE %s USING ", type);
    ident(b, d, col);
    util_buf_printf(b, "::%s", type);
}

/* SET DEFAULT (expr) for a model's default, as CREATE TABLE writes it;
 * a reflected one as the database gave it. */
static void put_default(util_buf *b, const drv_driver *d, const char *col, const char *dflt,
                        bool model)
{
    util_buf_puts(b, "ALTER COLUMN ");
    ident(b, d, col);
    if (dflt)
        util_buf_printf(b, model ? " SET DEFAULT (%s)" : " SET DEFAULT %s", dflt);
    else
        util_buf_puts(b, " DROP DEFAULT");
}

static void put_not_null(util_buf *b, const drv_driver *d, const char *col, bool on)
{
    util_buf_puts(b, "ALTER COLUMN ");
    ident(b, d, col);
    util_buf_puts(b, on ? " SET NOT NULL" : " DROP NOT NULL");
}

/* The model's name for a database column (renames applied), or NULL when
 * no model column takes its rows. */
static const char *model_name(const corm_model *m, const drv_rtable *t, const char *db_name)
{
    for (size_t i = 0; i < m->ncolumns; i++) {
        const drv_rcolumn *src = source_of(t, m->columns[i]);
        if (src && strcasecmp(src->name, db_name) == 0)
            return m->columns[i]->name;
    }
    return NULL;
}

/* A database constraint's columns under the model's names; false when one
 * of them is dropped. */
static bool model_names(const corm_model *m, const drv_rtable *t, char *const *db, size_t n,
                        const char **out)
{
    for (size_t i = 0; i < n && i < 8; i++)
        if (!(out[i] = model_name(m, t, db[i])))
            return false;
    return n <= 8;
}

static bool is_added(const corm_model *m, const drv_rtable *t, const char *name)
{
    const corm_column *c = sch_column(m, name);
    return c && !source_of(t, c);
}

static int alter(const sch_mapper *mp, const drv_driver *d, const drv_rtable *t, sch_diff *up,
                 sch_diff *down, FILE *notes)
{
    const corm_model *m = mp->model;
    ops o = { .u = UTIL_BUF_INIT, .w = UTIL_BUF_INIT };
    sch_colset sets[80];
    sch_fkset fks[80];
    size_t nsets = sch_model_sets(m, sets, 80), nfks = sch_model_fks(m, fks, 80);
    const char *names[8];
    util_buf name = UTIL_BUF_INIT;

    /* renames */
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        const drv_rcolumn *src = source_of(t, c);
        if (!src || strcasecmp(src->name, c->name) == 0)
            continue;
        op_begin(&o, d, m->table);
        util_buf *both[2] = { &o.u, &o.w };
        for (int k = 0; k < 2; k++) {
            util_buf_puts(both[k], "RENAME COLUMN ");
            ident(both[k], d, k ? c->name : src->name);
            util_buf_puts(both[k], " TO ");
            ident(both[k], d, k ? src->name : c->name);
        }
        op_end(&o);
    }
    /* the database's uniques and foreign keys the models lack */
    for (size_t k = 0; k < t->nindexes; k++) {
        const drv_rindex *ix = &t->indexes[k];
        if (!ix->unique)
            continue;
        bool kept = model_names(m, t, ix->columns, ix->ncolumns, names);
        for (size_t i = 0; kept && i < nsets; i++)
            if (sets[i].unique && sch_same_names(sets[i].cols, sets[i].n, (char *const *)names, ix->ncolumns))
                goto next_index;
        op_begin(&o, d, m->table);
        if (ix->constraint) {
            put_drop_constraint(&o.u, d, d->drop_unique, ix->name);
            util_buf_puts(&o.w, "ADD CONSTRAINT ");
            ident(&o.w, d, ix->name);
            util_buf_puts(&o.w, " UNIQUE ");
            put_names(&o.w, d, kept ? names : (const char *const *)ix->columns, ix->ncolumns);
        } else {
            util_buf_reset(&o.u);
            util_buf_reset(&o.w);
            put_drop_index(&o.u, d, ix->name, m->table);
            util_buf_puts(&o.w, ix->sql ? ix->sql : "");
        }
        op_end(&o);
    next_index:;
    }
    for (size_t k = 0; k < t->nfks; k++) {
        const drv_rfk *f = &t->fks[k];
        bool kept = model_names(m, t, f->columns, f->ncolumns, names);
        for (size_t i = 0; kept && i < nfks; i++)
            if (strcasecmp(fks[i].table, f->ref_table) == 0 &&
                sch_same_names(fks[i].cols, fks[i].n, (char *const *)names, f->ncolumns) &&
                strcasecmp(sch_fk_actions[fks[i].on_delete], f->on_delete) == 0 &&
                strcasecmp(sch_fk_actions[fks[i].on_update], f->on_update) == 0)
                goto next_fk;
        op_begin(&o, d, m->table);
        put_drop_constraint(&o.u, d, d->drop_fk, f->name ? f->name : "");
        put_add_fk(&o.w, d, f->name ? f->name : "", kept ? names : (const char *const *)f->columns,
                   (const char *const *)f->ref_columns, f->ncolumns, f->ref_table, f->on_delete,
                   f->on_update);
        op_end(&o);
    next_fk:;
    }
    if (o.rc == CORM_OK)
        o.rc = reindex(mp, d, t, 2, &o.up, &o.down);
    /* the database's columns the models lack */
    for (size_t k = 0; k < t->ncolumns; k++) {
        const drv_rcolumn *c = &t->columns[k];
        if (model_name(m, t, c->name))
            continue;
        if (notes)
            fprintf(notes, "WARNING: the revision drops column %s.%s and its data\n", m->table, c->name);
        if (notes && c->notnull && !c->dflt)
            fprintf(notes, "NOTE: %s.%s is NOT NULL without a default: its downgrade fails while "
                    "%s has rows; edit the revision to give them a value\n", m->table, c->name, m->table);
        op_begin(&o, d, m->table);
        util_buf_puts(&o.u, "DROP COLUMN ");
        ident(&o.u, d, c->name);
        util_buf_puts(&o.w, "ADD COLUMN ");
        put_db_column(&o.w, d, c);
        op_end(&o);
    }
    /* the models' new columns, with their uniques, checks and keys */
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        if (source_of(t, c))
            continue;
        if (notes && (c->flags & CORM_NOT_NULL) && !c->server_default)
            fprintf(notes, "NOTE: %s.%s is NOT NULL without a server default: adding it fails "
                    "while %s has rows; edit the revision to give them a value\n", m->table,
                    c->name, m->table);
        op_begin(&o, d, m->table);
        util_buf_puts(&o.u, "ADD COLUMN ");
        sch_column_ddl(mp, d, c, &o.u);
        util_buf_puts(&o.w, "DROP COLUMN ");
        ident(&o.w, d, c->name);
        op_end(&o);
    }
    /* kept columns whose type, nullability or default changed */
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        const drv_rcolumn *dc = source_of(t, c);
        char tb[64];
        if (!dc)
            continue;
        const char *type = sch_column_type(mp, d, c, tb, sizeof tb);
        bool notnull = (c->flags & (CORM_NOT_NULL | CORM_PRIMARY_KEY)) != 0;
        bool retype = !sch_same_type(type, dc->type), renull = c != mp->pk && notnull != dc->notnull;
        if (d->modify_column && (retype || renull)) { /* the whole definition, both ways */
            op_begin(&o, d, m->table);
            util_buf_puts(&o.u, "MODIFY COLUMN ");
            ident(&o.u, d, c->name);
            util_buf_printf(&o.u, " %s%s", type, notnull ? " NOT NULL" : " NULL");
            if (c->server_default)
                util_buf_printf(&o.u, " DEFAULT (%s)", c->server_default);
            util_buf_puts(&o.w, "MODIFY COLUMN ");
            put_db_column(&o.w, d, dc);
            op_end(&o);
            retype = renull = false;
        }
        if (retype) {
            op_begin(&o, d, m->table);
            put_alter_type(&o.u, d, c->name, type);
            put_alter_type(&o.w, d, c->name, dc->type);
            op_end(&o);
        }
        if (renull) {
            op_begin(&o, d, m->table);
            put_not_null(&o.u, d, c->name, notnull);
            put_not_null(&o.w, d, c->name, dc->notnull);
            op_end(&o);
        }
        if (!sch_same_default(c, c->server_default, dc->dflt)) {
            op_begin(&o, d, m->table);
            put_default(&o.u, d, c->name, c->server_default, true);
            put_default(&o.w, d, c->name, dc->dflt, false);
            op_end(&o);
        }
    }
    /* the models' uniques and foreign keys the database lacks */
    for (size_t i = 0; i < nsets; i++) {
        if (!sets[i].unique || (sets[i].n == 1 && is_added(m, t, sets[i].cols[0]) &&
                                (sch_column(m, sets[i].cols[0])->flags & CORM_UNIQUE)))
            continue; /* a new column's UNIQUE came with it */
        bool found = false;
        for (size_t k = 0; k < t->nindexes && !found; k++)
            found = t->indexes[k].unique &&
                    model_names(m, t, t->indexes[k].columns, t->indexes[k].ncolumns, names) &&
                    sch_same_names(sets[i].cols, sets[i].n, (char *const *)names, t->indexes[k].ncolumns);
        if (found)
            continue;
        const char *cols[9] = { 0 };
        memcpy(cols, sets[i].cols, sets[i].n * sizeof *cols);
        util_buf_reset(&name);
        sch_constraint_name(&name, "uq", m, cols);
        op_begin(&o, d, m->table);
        util_buf_puts(&o.u, "ADD CONSTRAINT ");
        ident(&o.u, d, util_buf_str(&name));
        util_buf_puts(&o.u, " UNIQUE ");
        put_names(&o.u, d, cols, sets[i].n);
        put_drop_constraint(&o.w, d, d->drop_unique, util_buf_str(&name));
        op_end(&o);
    }
    for (size_t i = 0; i < nfks; i++) {
        if (fks[i].n == 1 && is_added(m, t, fks[i].cols[0]) && sch_column(m, fks[i].cols[0])->fk)
            continue; /* a new column's REFERENCES came with it */
        bool found = false;
        for (size_t k = 0; k < t->nfks && !found; k++) {
            const drv_rfk *f = &t->fks[k];
            found = strcasecmp(fks[i].table, f->ref_table) == 0 &&
                    model_names(m, t, f->columns, f->ncolumns, names) &&
                    sch_same_names(fks[i].cols, fks[i].n, (char *const *)names, f->ncolumns) &&
                    strcasecmp(sch_fk_actions[fks[i].on_delete], f->on_delete) == 0 &&
                    strcasecmp(sch_fk_actions[fks[i].on_update], f->on_update) == 0;
        }
        if (found)
            continue;
        const char *cols[9] = { 0 };
        memcpy(cols, fks[i].cols, fks[i].n * sizeof *cols);
        util_buf_reset(&name);
        sch_constraint_name(&name, "fk", m, cols);
        op_begin(&o, d, m->table);
        put_add_fk(&o.u, d, util_buf_str(&name), cols, fks[i].refs, fks[i].n, fks[i].table,
                   sch_fk_actions[fks[i].on_delete], sch_fk_actions[fks[i].on_update]);
        put_drop_constraint(&o.w, d, d->drop_fk, util_buf_str(&name));
        op_end(&o);
    }
    if (o.rc == CORM_OK)
        o.rc = reindex(mp, d, t, 1, &o.up, &o.down);
    if (o.rc == CORM_OK && (o.u.err || o.w.err || name.err))
        o.rc = CORM_ENOMEM;
    /* up in order; down undoes them last first */
    for (size_t i = 0; o.rc == CORM_OK && i < o.up.n; i++)
        o.rc = sch_lines_add(up, o.up.lines[i]);
    for (size_t i = o.down.n; o.rc == CORM_OK && i-- > 0;)
        o.rc = sch_lines_add(down, o.down.lines[i]);
    sch_diff_free(&o.up);
    sch_diff_free(&o.down);
    util_buf_free(&o.u);
    util_buf_free(&o.w);
    util_buf_free(&name);
    return o.rc;
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
        if (rc == CORM_OK && shape.n && d->alter_in_place)
            rc = alter(mp, d, t, up, &tmp_down, notes);
        else if (rc == CORM_OK && shape.n)
            rc = rebuild(mp, d, t, up, &tmp_down, notes);
        else if (rc == CORM_OK && idx.n)
            rc = reindex(mp, d, t, 3, up, &tmp_down);
        /* this table's own downgrade statements stay in their order */
        for (size_t i = tmp_down.n; rc == CORM_OK && i-- > 0;)
            rc = sch_lines_add(&down_rev, tmp_down.lines[i]);
        sch_diff_free(&tmp_down);
        sch_diff_free(&shape);
        sch_diff_free(&idx);
    }
    for (size_t i = 0; rc == CORM_OK && i < rs->ntables; i++) {
        const drv_rtable *t = &rs->tables[i];
        bool known = strcasecmp(t->name, "corm_version") == 0 ||
                     strcasecmp(t->name, "corm_version_halfway") == 0;
        for (size_t k = 0; k < meta->n && !known; k++)
            known = strcasecmp(meta->mappers[k].model->table, t->name) == 0;
        if (known)
            continue;
        if (notes)
            fprintf(notes, "WARNING: the revision drops table %s and its data\n", t->name);
        util_buf_puts(&b, "DROP TABLE ");
        ident(&b, d, t->name);
        rc = add(up, &b);
        for (size_t k = t->nindexes; rc == CORM_OK && !d->table_sql_has_indexes && k-- > 0;)
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
