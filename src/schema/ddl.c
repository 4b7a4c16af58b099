/*
 * ddl.c — CREATE and DROP for the registered models.
 *
 * create_all is SQLAlchemy's: it creates what is missing and never alters
 * what exists (that is what migrations are for). Client defaults are not
 * DDL; server defaults, checks, enums' allowed names, uniques, foreign keys
 * and indexes are.
 */
#include "schema/schema.h"

#include <stdio.h>
#include <string.h>

static void put_literal(util_buf *b, const char *s)
{
    util_buf_putc(b, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            util_buf_putc(b, '\'');
        util_buf_putc(b, *s);
    }
    util_buf_putc(b, '\'');
}

const char *sch_type_ddl(const drv_driver *d, const corm_column *c, char *buf, size_t size)
{
    const char *name = c->type > 0 && c->type < CORM_TYPE_MAX_ && d->types[c->type]
                           ? d->types[c->type] : d->types[CORM_TYPE_BLOB];
    switch (c->type) {
    case CORM_TYPE_NUMERIC: snprintf(buf, size, "%s(%d, %d)", name, c->precision, c->scale); break;
    case CORM_TYPE_STRING: snprintf(buf, size, "%s(%d)", name, c->length); break;
    case CORM_TYPE_ENUM: {
        size_t max = 1;
        for (const char *const *n = c->enum_names; n && *n; n++)
            if (strlen(*n) > max)
                max = strlen(*n);
        snprintf(buf, size, "%s(%zu)", d->types[CORM_TYPE_STRING], max);
        break;
    }
    default: return name;
    }
    return buf;
}

const char *sch_column_type(const sch_mapper *mp, const drv_driver *d, const corm_column *c,
                            char *buf, size_t size)
{
    if (c->sql_type)
        return c->sql_type;
    return c == mp->pk && mp->pk_autoinc ? d->autoinc_type : sch_type_ddl(d, c, buf, size);
}

static void put_column_def(sql_ctx *x, const sch_mapper *mp, const corm_column *c)
{
    char tb[64];
    sql_put_ident(x, c->name);
    util_buf_putc(x->b, ' ');
    if (c == mp->pk && mp->pk_autoinc && !c->sql_type) {
        util_buf_puts(x->b, x->drv->autoinc_pk);
    } else {
        util_buf_puts(x->b, sch_column_type(mp, x->drv, c, tb, sizeof tb));
        if (c->flags & (CORM_NOT_NULL | CORM_PRIMARY_KEY))
            util_buf_puts(x->b, " NOT NULL");
        if (c == mp->pk && mp->npk == 1) /* a composite key is the table's: below */
            util_buf_puts(x->b, " PRIMARY KEY");
        else if (c->flags & CORM_UNIQUE)
            util_buf_puts(x->b, " UNIQUE");
    }
    if (c->server_default)
        util_buf_printf(x->b, " DEFAULT (%s)", c->server_default);
    if (c->check)
        util_buf_printf(x->b, " CHECK (%s)", c->check);
    if (c->type == CORM_TYPE_ENUM) {
        util_buf_puts(x->b, " CHECK (");
        sql_put_ident(x, c->name);
        util_buf_puts(x->b, " IN (");
        for (const char *const *n = c->enum_names; *n; n++) {
            if (n != c->enum_names)
                util_buf_puts(x->b, ", ");
            put_literal(x->b, *n);
        }
        util_buf_puts(x->b, "))");
    }
    if (c->fk) {
        static const char *const actions[] = { "", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT" };
        util_buf_puts(x->b, " REFERENCES ");
        sql_put_ident(x, c->fk->model->table);
        util_buf_puts(x->b, " (");
        sql_put_ident(x, c->fk->name);
        util_buf_putc(x->b, ')');
        if (c->on_delete)
            util_buf_printf(x->b, " ON DELETE %s", actions[c->on_delete]);
        if (c->on_update)
            util_buf_printf(x->b, " ON UPDATE %s", actions[c->on_update]);
    }
}

void sch_column_ddl(const sch_mapper *mp, const drv_driver *d, const corm_column *c, util_buf *b)
{
    sql_params none = { 0 };
    util_err err;
    sql_ctx x = { d, b, &none, &err };
    put_column_def(&x, mp, c);
}

/* "uq_user_first_last" / "ix_user_age" */
void sch_constraint_name(util_buf *b, const char *prefix, const corm_model *m,
                            const char *const *cols)
{
    util_buf_printf(b, "%s_%s", prefix, m->table);
    for (; *cols; cols++)
        util_buf_printf(b, "_%s", *cols);
}

static void put_column_list(sql_ctx *x, const char *const *cols)
{
    util_buf_putc(x->b, '(');
    for (const char *const *c = cols; *c; c++) {
        if (c != cols)
            util_buf_puts(x->b, ", ");
        sql_put_ident(x, *c);
    }
    util_buf_putc(x->b, ')');
}

/* The model's CREATE TABLE (named as_name, or its own table) and CREATE
 * INDEX statements, appended to out. */
int sch_table_ddl(const sch_mapper *mp, const drv_driver *d, const char *as_name,
                  bool if_not_exists, sch_diff *out)
{
    util_buf b = UTIL_BUF_INIT, name = UTIL_BUF_INIT;
    sql_params none = { 0 };
    util_err err;
    sql_ctx x = { d, &b, &none, &err };
    const corm_model *m = mp->model;
    int rc = CORM_OK;
    bool oom = false; /* a name that could not be made (reset clears name.err) */
    util_buf_puts(&b, if_not_exists ? "CREATE TABLE IF NOT EXISTS " : "CREATE TABLE ");
    sql_put_ident(&x, as_name ? as_name : m->table);
    util_buf_puts(&b, " (\n    ");
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (i)
            util_buf_puts(&b, ",\n    ");
        put_column_def(&x, mp, m->columns[i]);
    }
    if (mp->npk > 1) {
        util_buf_puts(&b, ",\n    PRIMARY KEY (");
        for (size_t k = 0; k < mp->npk; k++) {
            if (k)
                util_buf_puts(&b, ", ");
            sql_put_ident(&x, mp->pks[k]->name);
        }
        util_buf_putc(&b, ')');
    }
    for (size_t i = 0; i < m->nconstraints; i++) {
        const corm_constraint *k = &m->constraints[i];
        if (k->kind == CORM_C_INDEX)
            continue;
        bool fk = k->kind == CORM_C_FOREIGN_KEY;
        util_buf_reset(&name);
        sch_constraint_name(&name, fk ? "fk" : "uq", m, k->columns);
        oom |= name.err != 0;
        util_buf_puts(&b, ",\n    CONSTRAINT ");
        sql_put_ident(&x, util_buf_str(&name));
        util_buf_puts(&b, fk ? " FOREIGN KEY " : " UNIQUE ");
        put_column_list(&x, k->columns);
        if (fk) {
            util_buf_puts(&b, " REFERENCES ");
            sql_put_ident(&x, k->ref->table);
            util_buf_putc(&b, ' ');
            put_column_list(&x, k->ref_columns);
        }
    }
    util_buf_puts(&b, "\n)");
    if (d->table_options)
        util_buf_puts(&b, d->table_options);
    rc = b.err || oom ? CORM_ENOMEM : sch_lines_add(out, util_buf_str(&b));
    /* indexes: single-column ones, then the model's composite ones */
    for (size_t i = 0; rc == CORM_OK && i < m->ncolumns + m->nconstraints; i++) {
        const char *one[2] = { NULL, NULL };
        const char *const *cols;
        if (i < m->ncolumns) {
            if (!(m->columns[i]->flags & CORM_INDEX))
                continue;
            one[0] = m->columns[i]->name;
            cols = one;
        } else {
            if (m->constraints[i - m->ncolumns].kind != CORM_C_INDEX)
                continue;
            cols = m->constraints[i - m->ncolumns].columns;
        }
        util_buf_reset(&b);
        util_buf_reset(&name);
        sch_constraint_name(&name, "ix", m, cols);
        util_buf_puts(&b, if_not_exists ? "CREATE INDEX IF NOT EXISTS " : "CREATE INDEX ");
        sql_put_ident(&x, util_buf_str(&name));
        util_buf_puts(&b, " ON ");
        sql_put_ident(&x, m->table);
        util_buf_putc(&b, ' ');
        put_column_list(&x, cols);
        rc = b.err || name.err ? CORM_ENOMEM : sch_lines_add(out, util_buf_str(&b));
    }
    util_buf_free(&b);
    util_buf_free(&name);
    return rc;
}

static int create_table(const sch_mapper *mp, sql_conn *c, util_err *err)
{
    sch_diff stmts = { 0 };
    int rc = sch_table_ddl(mp, c->drv, NULL, true, &stmts);
    if (rc < 0)
        util_err_set(err, rc, "out of memory creating table %s", mp->model->table);
    for (size_t i = 0; rc == CORM_OK && i < stmts.n; i++)
        rc = sql_refuses_ddl(c, stmts.lines[i], err);
    for (size_t i = 0; rc == CORM_OK && i < stmts.n; i++)
        rc = sql_exec(c, stmts.lines[i], err);
    sch_diff_free(&stmts);
    return rc;
}

static int in_transaction(const sch_meta *meta, sql_conn *c, util_err *err, bool create)
{
    int rc = sql_begin(c, err);
    for (size_t i = 0; rc == CORM_OK && i < meta->n; i++) {
        if (create) {
            rc = create_table(&meta->mappers[i], c, err);
        } else {
            const sch_mapper *mp = &meta->mappers[meta->n - 1 - i];
            util_buf b = UTIL_BUF_INIT;
            sql_params none = { 0 };
            sql_ctx x = { c->drv, &b, &none, err };
            util_buf_puts(&b, "DROP TABLE IF EXISTS ");
            sql_put_ident(&x, mp->model->table);
            rc = b.err ? util_err_set(err, CORM_ENOMEM, "out of memory") : sql_exec(c, util_buf_str(&b), err);
            util_buf_free(&b);
        }
    }
    if (rc == CORM_OK)
        return sql_commit(c, err);
    util_err ignored;
    if (c->depth)
        sql_rollback(c, &ignored);
    return rc;
}

int sch_create_all(const sch_meta *meta, sql_conn *c, util_err *err)
{
    return in_transaction(meta, c, err, true);
}

int sch_drop_all(const sch_meta *meta, sql_conn *c, util_err *err)
{
    return in_transaction(meta, c, err, false);
}
