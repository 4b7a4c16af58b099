/*
 * statement.c — the statement texts a session writes for its mappers:
 * INSERT, UPDATE and DELETE of one row or many (flush.c), and the SELECTs
 * and DELETEs by a list of keys that relationships run (relation.c).
 *
 * A text is built once per session for each mapper, kind, column set and
 * row count, and kept with its hash (the connection's statement cache is
 * keyed by it) in the session's ORM_SQLC slots for the mapper.
 */
#include "orm/orm.h"

#include <string.h>

static void put_placeholders(sql_ctx *x, size_t from, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            util_buf_puts(x->b, ", ");
        if (x->drv->placeholder == DRV_PH_DOLLAR)
            util_buf_printf(x->b, "$%zu", from + i + 1);
        else
            util_buf_putc(x->b, '?');
    }
}

/* WHERE key = ? [AND key2 = ? ...] [AND version = ?: the version the row
 * was read at] */
static void put_where_pk(sql_ctx *x, const sch_mapper *mp, size_t nparams)
{
    util_buf_puts(x->b, " WHERE ");
    for (size_t c = 0; c < mp->npk; c++) {
        if (c)
            util_buf_puts(x->b, " AND ");
        sql_put_ident(x, mp->pks[c]->name);
        util_buf_puts(x->b, " = ");
        put_placeholders(x, nparams + c, 1);
    }
    if (mp->version) {
        util_buf_puts(x->b, " AND ");
        sql_put_ident(x, mp->version->name);
        util_buf_puts(x->b, " = ");
        put_placeholders(x, nparams + mp->npk, 1);
    }
}

static void build(corm_session *s, const sch_mapper *mp, enum orm_sqlk kind, uint64_t mask,
                  size_t rows)
{
    const corm_model *m = mp->model;
    sql_ctx x = { s->conn->drv, &s->sql, &s->params, &s->err };
    size_t n = 0;
    util_buf_reset(x.b);
    switch (kind) {
    case SQLK_INSERT:
    case SQLK_INSERT_RETURNING:
    case SQLK_INSERT_ROWS:
        /* INSERT INTO t (a, b) VALUES (?, ?)[, (?, ?) ...] [RETURNING ...] */
        util_buf_puts(x.b, "INSERT INTO ");
        sql_put_ident(&x, m->table);
        for (size_t i = 0; i < m->ncolumns; i++) {
            if (!(mask >> i & 1))
                continue;
            util_buf_puts(x.b, n++ ? ", " : " (");
            sql_put_ident(&x, m->columns[i]->name);
        }
        if (!n)
            util_buf_puts(x.b, x.drv->default_values);
        else
            util_buf_puts(x.b, ") VALUES ");
        for (size_t r = 0; n && r < (kind == SQLK_INSERT_ROWS ? rows : 1); r++) {
            util_buf_puts(x.b, r ? ", (" : "(");
            put_placeholders(&x, r * n, n);
            util_buf_putc(x.b, ')');
        }
        if (kind == SQLK_INSERT_RETURNING) {
            util_buf_puts(x.b, " RETURNING ");
            util_buf_puts(x.b, mp->sql_cols);
        }
        for (size_t i = 0, k = 0; kind == SQLK_INSERT_ROWS && i < m->ncolumns; i++) {
            if (mask >> i & 1) /* the rows' RETURNING: what the database filled in */
                continue;
            util_buf_puts(x.b, k++ ? ", " : " RETURNING ");
            sql_put_ident(&x, m->columns[i]->name);
        }
        break;
    case SQLK_UPDATE:
    case SQLK_UPDATE_ROWS:
        /* UPDATE t SET a = ?, ... WHERE key = ?; or, many rows at once,
         * UPDATE t SET a = corm_v.column1, ... FROM (VALUES (?, ..., ?), ...)
         * AS corm_v WHERE t.key = corm_v.columnN: each row its new values,
         * then its key */
        util_buf_puts(x.b, "UPDATE ");
        sql_put_ident(&x, m->table);
        util_buf_puts(x.b, " SET ");
        for (size_t i = 0; i < m->ncolumns; i++) {
            if (!(mask >> i & 1))
                continue;
            if (n)
                util_buf_puts(x.b, ", ");
            sql_put_ident(&x, m->columns[i]->name);
            if (kind == SQLK_UPDATE_ROWS) {
                util_buf_printf(x.b, " = corm_v.column%zu", ++n);
                continue;
            }
            util_buf_puts(x.b, " = ");
            put_placeholders(&x, n++, 1);
        }
        if (kind == SQLK_UPDATE) {
            put_where_pk(&x, mp, n);
            break;
        }
        util_buf_puts(x.b, " FROM (VALUES ");
        for (size_t r = 0; r < rows; r++) {
            util_buf_puts(x.b, r ? ", (" : "(");
            put_placeholders(&x, r * (n + 1), n + 1);
            util_buf_putc(x.b, ')');
        }
        util_buf_puts(x.b, ") AS corm_v WHERE ");
        sql_put_column(&x, mp->pk);
        util_buf_printf(x.b, " = corm_v.column%zu", n + 1);
        break;
    case SQLK_DELETE:
        util_buf_puts(x.b, "DELETE FROM ");
        sql_put_ident(&x, m->table);
        put_where_pk(&x, mp, 0);
        break;
    case SQLK_DELETE_ROWS:
        util_buf_puts(x.b, "DELETE FROM ");
        sql_put_ident(&x, m->table);
        util_buf_puts(x.b, " WHERE ");
        sql_put_ident(&x, mp->pk->name);
        util_buf_puts(x.b, " IN (");
        put_placeholders(&x, 0, rows);
        util_buf_putc(x.b, ')');
        break;
    case SQLK_SELECT_M2M: {
        /* SELECT target.*, assoc.<key to us> FROM target JOIN assoc ON ... */
        const sch_rel *sr = &mp->rels[mask & 0xffff];
        const sch_mapper *t = sr->target;
        size_t k = (size_t)(mask >> 16);
        util_buf_printf(x.b, "SELECT %s, ", t->sql_cols);
        sql_put_column(&x, sr->fk);
        util_buf_puts(x.b, " FROM ");
        sql_put_ident(&x, t->model->table);
        util_buf_puts(x.b, " JOIN ");
        sql_put_ident(&x, sr->through->model->table);
        util_buf_puts(x.b, " ON ");
        sql_put_column(&x, sr->fk_target);
        util_buf_puts(x.b, " = ");
        sql_put_column(&x, t->pk);
        if (k == 0) /* every link */
            break;
        util_buf_puts(x.b, " WHERE ");
        sql_put_column(&x, sr->fk);
        util_buf_puts(x.b, k == 1 ? " = " : " IN (");
        put_placeholders(&x, 0, k);
        if (k > 1)
            util_buf_putc(x.b, ')');
        break;
    }
    case SQLK_SELECT_IN:
    case SQLK_DELETE_IN: {
        size_t k = (size_t)(mask >> 16);
        if (kind == SQLK_SELECT_IN)
            util_buf_printf(x.b, "SELECT %s FROM ", mp->sql_cols);
        else
            util_buf_puts(x.b, "DELETE FROM ");
        sql_put_ident(&x, m->table);
        util_buf_puts(x.b, " WHERE ");
        sql_put_column(&x, m->columns[mask & 0xffff]);
        if (k == 0) { /* every row with a key */
            util_buf_puts(x.b, " IS NOT NULL");
            break;
        }
        util_buf_puts(x.b, k == 1 ? " = " : " IN (");
        put_placeholders(&x, 0, k);
        if (k > 1)
            util_buf_putc(x.b, ')');
        break;
    }
    }
}

/* The text of a statement of `kind` writing the columns in `mask`. */
const sql_text *orm_statement(corm_session *s, const sch_mapper *mp, enum orm_sqlk kind,
                              uint64_t mask)
{
    return orm_statement_rows(s, mp, kind, mask, 0);
}

const sql_text *orm_statement_rows(corm_session *s, const sch_mapper *mp, enum orm_sqlk kind,
                                   uint64_t mask, size_t rows)
{
    orm_sqlc *slots = &s->sqlc[mp->rank * ORM_SQLC], *free_slot = NULL;
    for (size_t i = 0; i < ORM_SQLC; i++) {
        if (slots[i].kind == kind && slots[i].mask == mask && slots[i].rows == rows)
            return &slots[i].text;
        if (!slots[i].kind && !free_slot)
            free_slot = &slots[i];
    }
    build(s, mp, kind, mask, rows);
    char *text = s->sql.err ? NULL : util_arena_strndup(&s->arena, s->sql.p, s->sql.len);
    if (!text) {
        orm_set_error(s, CORM_ENOMEM, "out of memory writing a %s", mp->model->name);
        return NULL;
    }
    if (!free_slot) /* all taken: the column sets vary, replace one */
        free_slot = &slots[(mask + rows) % ORM_SQLC];
    free_slot->kind = (uint8_t)kind;
    free_slot->rows = (uint16_t)rows;
    free_slot->mask = mask;
    free_slot->text = (sql_text){ text, s->sql.len, sql_hash(text, s->sql.len) };
    return &free_slot->text;
}
