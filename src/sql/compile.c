/*
 * compile.c — expression trees to SQL text and parameters, for a dialect.
 *
 * Identifiers come only from descriptors and are always quoted; every value
 * becomes a parameter converted for the column it is compared with, so a
 * hostile string can only ever be a value.
 */
#include "sql/sql.h"

#include <stdio.h>
#include <string.h>

void sql_put_ident(sql_ctx *x, const char *name)
{
    char q = x->drv->quote;
    util_buf_putc(x->b, q);
    for (const char *p = name, *hit; *p; p = hit + 1) {
        if (!(hit = strchr(p, q))) {
            util_buf_puts(x->b, p);
            break;
        }
        util_buf_put(x->b, p, (size_t)(hit - p) + 1); /* doubled quote */
        util_buf_putc(x->b, q);
    }
    util_buf_putc(x->b, q);
}

void sql_put_column(sql_ctx *x, const corm_column *c)
{
    sql_put_ident(x, x->alias && c->model == x->alias_of ? x->alias : c->model->table);
    util_buf_putc(x->b, '.');
    sql_put_ident(x, c->name);
}

void sql_put_placeholder(sql_ctx *x)
{
    if (x->drv->placeholder == DRV_PH_DOLLAR)
        util_buf_printf(x->b, "$%zu", x->ps->n);
    else
        util_buf_putc(x->b, '?');
}

int sql_put_value(sql_ctx *x, const corm_column *col, const corm_value *v, bool for_write)
{
    sql_param *p = sql_params_push(x->ps);
    if (!p)
        return util_err_set(x->err, CORM_ENOMEM, "out of memory binding a parameter");
    int rc = sql_param_set(p, col, v, for_write, x->err);
    if (rc < 0)
        return rc;
    sql_put_placeholder(x);
    return CORM_OK;
}

static const char *const cmp_ops[] = { "", " = ", " <> ", " < ", " <= ", " > ", " >= " };
static const char *const fn_names[] = { "", "COUNT", "SUM", "MIN", "MAX", "AVG" };

static int list(sql_ctx *x, const corm_expr *e, const char *sep)
{
    util_buf_putc(x->b, '(');
    for (size_t i = 0; i < e->nkids; i++) {
        if (i)
            util_buf_puts(x->b, sep);
        int rc = sql_compile_expr(x, e->kids[i]);
        if (rc < 0)
            return rc;
    }
    util_buf_putc(x->b, ')');
    return CORM_OK;
}

int sql_compile_expr(sql_ctx *x, const corm_expr *e)
{
    if (!e)
        return util_err_set(x->err, CORM_ENOMEM, "out of memory building a filter");
    const corm_column *col = e->nkids ? sql_expr_column(e->kids[0]) : NULL;
    int rc;
    switch (e->kind) {
    case EX_COL:
        if (e->alias) {
            sql_put_ident(x, e->alias->name);
            util_buf_putc(x->b, '.');
            sql_put_ident(x, e->col->name);
        } else {
            sql_put_column(x, e->col);
        }
        if (e->col->type == CORM_TYPE_NUMERIC && x->drv->numeric_collation)
            util_buf_printf(x->b, " COLLATE %s", x->drv->numeric_collation);
        return CORM_OK;
    case EX_CMP:
        if ((rc = sql_compile_expr(x, e->kids[0])) < 0)
            return rc;
        if (e->vals[0].kind == CORM_V_NULL) {
            /* "= NULL" is never true in SQL; mean what the C reads */
            util_buf_puts(x->b, e->op == CORM_OP_NE ? " IS NOT NULL" : " IS NULL");
            return CORM_OK;
        }
        util_buf_puts(x->b, cmp_ops[e->op]);
        return sql_put_value(x, col, &e->vals[0], false);
    case EX_IN:
        if (e->nvals == 0) {
            util_buf_puts(x->b, e->op ? "1 = 1" : "1 = 0");
            return CORM_OK;
        }
        if ((rc = sql_compile_expr(x, e->kids[0])) < 0)
            return rc;
        util_buf_puts(x->b, e->op ? " NOT IN (" : " IN (");
        for (size_t i = 0; i < e->nvals; i++) {
            if (i)
                util_buf_puts(x->b, ", ");
            if ((rc = sql_put_value(x, col, &e->vals[i], false)) < 0)
                return rc;
        }
        util_buf_putc(x->b, ')');
        return CORM_OK;
    case EX_LIKE:
        if (e->op) {
            util_buf_puts(x->b, "lower(");
            if ((rc = sql_compile_expr(x, e->kids[0])) < 0)
                return rc;
            util_buf_puts(x->b, ") LIKE lower(");
            if ((rc = sql_put_value(x, NULL, &e->vals[0], false)) < 0)
                return rc;
            util_buf_puts(x->b, ") ESCAPE '\\'");
            return CORM_OK;
        }
        if ((rc = sql_compile_expr(x, e->kids[0])) < 0)
            return rc;
        util_buf_puts(x->b, " LIKE ");
        if ((rc = sql_put_value(x, NULL, &e->vals[0], false)) < 0)
            return rc;
        /* one meaning everywhere: a backslash escapes %, _ and itself (the
         * default of PostgreSQL and MySQL; SQLite has no escape unless told) */
        util_buf_puts(x->b, " ESCAPE '\\'");
        return CORM_OK;
    case EX_NULL:
        if ((rc = sql_compile_expr(x, e->kids[0])) < 0)
            return rc;
        util_buf_puts(x->b, e->op ? " IS NOT NULL" : " IS NULL");
        return CORM_OK;
    case EX_BETWEEN:
        if ((rc = sql_compile_expr(x, e->kids[0])) < 0)
            return rc;
        util_buf_puts(x->b, " BETWEEN ");
        if ((rc = sql_put_value(x, col, &e->vals[0], false)) < 0)
            return rc;
        util_buf_puts(x->b, " AND ");
        return sql_put_value(x, col, &e->vals[1], false);
    case EX_AND:
    case EX_OR:
        if (e->nkids == 0) {
            util_buf_puts(x->b, e->kind == EX_AND ? "1 = 1" : "1 = 0");
            return CORM_OK;
        }
        return list(x, e, e->kind == EX_AND ? " AND " : " OR ");
    case EX_NOT:
        util_buf_puts(x->b, "NOT ");
        return list(x, e, "");
    case EX_FN: {
        /* SUM and AVG of decimals stay exact where the database would use doubles */
        const corm_column *c = e->nkids ? sql_expr_column(e->kids[0]) : NULL;
        const char *exact = !c || c->type != CORM_TYPE_NUMERIC ? NULL
                            : e->op == CORM_FN_SUM ? x->drv->numeric_sum
                            : e->op == CORM_FN_AVG ? x->drv->numeric_avg : NULL;
        util_buf_puts(x->b, exact ? exact : fn_names[e->op]);
        if (!e->nkids) {
            util_buf_puts(x->b, "(*)");
            return CORM_OK;
        }
        return list(x, e, "");
    }
    case EX_ARITH: {
        static const char *const names[] = { "", "corm_plus", "corm_minus", "corm_times", "corm_mod" };
        static const char *const ops[] = { "", " + ", " - ", " * ", " % " };
        bool integer = col && (col->type == CORM_TYPE_INTEGER || col->type == CORM_TYPE_BIGINT ||
                               col->type == CORM_TYPE_SMALLINT);
        const char *want = e->op == CORM_ARITH_MOD ? "an integer" : "an integer or float";
        if (!col)
            return util_err_set(x->err, CORM_ETYPE, "%s needs %s column to start from (a column, "
                                "or arithmetic on one)", names[e->op], want);
        if (!integer && (col->type != CORM_TYPE_FLOAT || e->op == CORM_ARITH_MOD))
            return util_err_set(x->err, CORM_ETYPE, "%s(%s.%s, ...): %s.%s is not %s column",
                                names[e->op], col->model->name, col->name, col->model->name,
                                col->name, want);
        const corm_value *v = &e->vals[0];
        if (e->op == CORM_ARITH_MOD && ((v->kind == CORM_V_INT && v->u.i == 0) ||
                                        (v->kind == CORM_V_FLOAT && v->u.f == 0)))
            return util_err_set(x->err, CORM_ERANGE, "corm_mod(%s.%s, 0): a remainder of a "
                                "division by zero", col->model->name, col->name);
        util_buf_putc(x->b, '(');
        if ((rc = sql_compile_expr(x, e->kids[0])) < 0)
            return rc;
        util_buf_puts(x->b, ops[e->op]);
        if ((rc = sql_put_value(x, col, v, false)) < 0)
            return rc;
        util_buf_putc(x->b, ')');
        return CORM_OK;
    }
    case EX_SORT:
        if ((rc = sql_compile_expr(x, e->kids[0])) < 0)
            return rc;
        util_buf_puts(x->b, e->op ? " DESC" : " ASC");
        /* NULL sorts first ascending everywhere (as SQLite and MariaDB do) */
        if (x->drv->nulls_sort_high)
            util_buf_puts(x->b, e->op ? " NULLS LAST" : " NULLS FIRST");
        return CORM_OK;
    case EX_REL:
    case EX_SUBQ:
        if (!x->hook)
            return util_err_set(x->err, CORM_EINVAL, "a relationship or subquery filter outside a query");
        return x->hook(x, e);
    }
    return util_err_set(x->err, CORM_EINVAL, "unknown expression");
}
