/*
 * expr.c — building filter expressions (corm_eq, corm_and, ...).
 *
 * Nodes are malloc'd because they are made before the query that consumes
 * them is known; the query owns the tree it is given and frees it with
 * itself. Text values are copied into the node, so a filter does not
 * depend on the caller's buffer staying alive. A constructor that fails
 * returns NULL and frees its children; the NULL surfaces as CORM_ENOMEM
 * when the query runs.
 */
#include "sql/sql.h"
#include "util/alloc.h"

#include <string.h>

corm_value corm_v_null(const void *p) { (void)p; corm_value v = { .kind = CORM_V_NULL }; return v; }
corm_value corm_v_int(int64_t i) { corm_value v = { .kind = CORM_V_INT, .u.i = i }; return v; }
corm_value corm_v_uint(uint64_t i) { return corm_v_int((int64_t)i); }
corm_value corm_v_float(double f) { corm_value v = { .kind = CORM_V_FLOAT, .u.f = f }; return v; }
corm_value corm_v_bool(bool b) { corm_value v = { .kind = CORM_V_BOOL, .u.b = b }; return v; }
corm_value corm_v_blob(corm_blob b) { corm_value v = { .kind = b.data ? CORM_V_BLOB : CORM_V_NULL, .u.blob = b }; return v; }
corm_value corm_v_numeric(corm_numeric n) { corm_value v = { .kind = CORM_V_NUMERIC, .u.num = n }; return v; }
corm_value corm_v_date(corm_date d) { corm_value v = { .kind = CORM_V_DATE, .u.date = d }; return v; }
corm_value corm_v_time(corm_time t) { corm_value v = { .kind = CORM_V_TIME, .u.time = t }; return v; }
corm_value corm_v_datetime(corm_datetime dt) { corm_value v = { .kind = CORM_V_DATETIME, .u.dt = dt }; return v; }
corm_value corm_v_uuid(corm_uuid u) { corm_value v = { .kind = CORM_V_UUID, .u.uuid = u }; return v; }
corm_value corm_v_value(corm_value v) { return v; }

corm_value corm_v_text(const char *s)
{
    corm_value v = { .kind = s ? CORM_V_TEXT : CORM_V_NULL };
    v.u.text.p = s;
    v.u.text.n = s ? strlen(s) : 0;
    return v;
}

void corm_expr_free(corm_expr *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nkids; i++)
        corm_expr_free(e->kids[i]);
    util_free(e->kids);
    util_free(e);
}

/* One block: the node, its values, then the bytes of their texts. */
static corm_expr *node(sql_ex_kind kind, int op, const corm_value *vals, size_t nvals)
{
    size_t text = 0;
    for (size_t i = 0; i < nvals; i++) {
        if (vals[i].kind == CORM_V_TEXT)
            text += vals[i].u.text.n + 1;
        else if (vals[i].kind == CORM_V_BLOB)
            text += vals[i].u.blob.len + 1;
    }
    corm_expr *e = util_malloc(sizeof *e + nvals * sizeof(corm_value) + text);
    if (!e)
        return NULL;
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->op = op;
    e->vals = (corm_value *)(e + 1);
    e->nvals = nvals;
    char *t = (char *)(e->vals + nvals);
    for (size_t i = 0; i < nvals; i++) {
        e->vals[i] = vals[i];
        if (vals[i].kind == CORM_V_TEXT) {
            memcpy(t, vals[i].u.text.p, vals[i].u.text.n);
            t[vals[i].u.text.n] = '\0';
            e->vals[i].u.text.p = t;
            t += vals[i].u.text.n + 1;
        } else if (vals[i].kind == CORM_V_BLOB) {
            memcpy(t, vals[i].u.blob.data, vals[i].u.blob.len);
            e->vals[i].u.blob.data = t;
            t += vals[i].u.blob.len + 1;
        }
    }
    return e;
}

/* Attach children; on failure free them (and e). */
static corm_expr *adopt(corm_expr *e, corm_expr *const *kids, size_t n)
{
    bool ok = e != NULL;
    for (size_t i = 0; i < n; i++)
        ok = ok && kids[i] != NULL;
    if (ok && n && !(e->kids = util_malloc(n * sizeof *kids)))
        ok = false;
    if (!ok) {
        for (size_t i = 0; i < n; i++)
            corm_expr_free(kids[i]);
        if (e)
            e->nkids = 0;
        corm_expr_free(e);
        return NULL;
    }
    memcpy(e->kids, kids, n * sizeof *kids);
    e->nkids = n;
    return e;
}

corm_expr *corm_expr_col(const corm_column *col)
{
    corm_expr *e = node(EX_COL, 0, NULL, 0);
    if (e)
        e->col = col;
    return e;
}

corm_expr *corm_expr_id(corm_expr *e) { return e; }

corm_expr *corm_acol(const corm_alias *a, const corm_column *col)
{
    if (!a || !col)
        return NULL; /* the query reports it */
    corm_expr *e = corm_expr_col(col); /* a column of another model: refused as the query runs */
    if (e)
        e->alias = a;
    return e;
}

corm_expr *corm_cmp_(corm_expr *a, corm_op op, corm_value v)
{
    return adopt(node(EX_CMP, op, &v, 1), &a, 1);
}

corm_expr *corm_in_(corm_expr *a, const corm_value *values, size_t n, bool negate)
{
    return adopt(node(EX_IN, negate, values, n), &a, 1);
}

corm_expr *corm_like_(corm_expr *a, const char *pattern, bool icase)
{
    corm_value v = corm_v_text(pattern);
    return adopt(node(EX_LIKE, icase, &v, 1), &a, 1);
}

/* The user's text as a LIKE pattern: %, _ and the backslash made literal
 * (SQLAlchemy's autoescape), with % before it (ends, contains) and after
 * it (starts, contains). */
corm_expr *corm_match_(corm_expr *a, const char *text, corm_match where, bool icase)
{
    if (!text) { /* a NULL never matches: as LIKE NULL */
        corm_value v = corm_v_null(NULL);
        return adopt(node(EX_LIKE, icase, &v, 1), &a, 1);
    }
    size_t n = strlen(text), k = 0;
    char small[256], *pat = n * 2 + 3 <= sizeof small ? small : util_malloc(n * 2 + 3);
    if (!pat) {
        corm_expr_free(a);
        return NULL;
    }
    if (where != CORM_MATCH_STARTS)
        pat[k++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '%' || text[i] == '_' || text[i] == '\\')
            pat[k++] = '\\';
        pat[k++] = text[i];
    }
    if (where != CORM_MATCH_ENDS)
        pat[k++] = '%';
    pat[k] = '\0';
    corm_expr *e = corm_like_(a, pat, icase);
    if (pat != small)
        util_free(pat);
    return e;
}

corm_expr *corm_null_test_(corm_expr *a, bool negate)
{
    return adopt(node(EX_NULL, negate, NULL, 0), &a, 1);
}

corm_expr *corm_between_(corm_expr *a, corm_value lo, corm_value hi)
{
    corm_value v[2] = { lo, hi };
    return adopt(node(EX_BETWEEN, 0, v, 2), &a, 1);
}

corm_expr *corm_and_(corm_expr *const *terms, size_t n) { return adopt(node(EX_AND, 0, NULL, 0), terms, n); }
corm_expr *corm_or_(corm_expr *const *terms, size_t n) { return adopt(node(EX_OR, 0, NULL, 0), terms, n); }
corm_expr *corm_not(corm_expr *e) { return adopt(node(EX_NOT, 0, NULL, 0), &e, 1); }

corm_expr *corm_fn_(corm_fn fn, corm_expr *arg)
{
    return arg ? adopt(node(EX_FN, fn, NULL, 0), &arg, 1) : node(EX_FN, fn, NULL, 0);
}

corm_expr *corm_arith_(corm_expr *a, corm_arith op, corm_value v)
{
    return adopt(node(EX_ARITH, op, &v, 1), &a, 1);
}

corm_expr *corm_sort_(corm_expr *a, bool desc) { return adopt(node(EX_SORT, desc, NULL, 0), &a, 1); }

corm_expr *corm_any(const corm_relation *rel, corm_expr *where)
{
    corm_expr *e = where ? adopt(node(EX_REL, 0, NULL, 0), &where, 1) : node(EX_REL, 0, NULL, 0);
    if (e)
        e->rel = rel;
    return e;
}

corm_expr *corm_in_query_(corm_expr *a, corm_query *sub, bool negate)
{
    corm_expr *e = adopt(node(EX_SUBQ, negate, NULL, 0), &a, 1);
    if (e)
        e->sub = sub;
    return e;
}

const corm_column *sql_expr_column(const corm_expr *e)
{
    if (e->kind == EX_COL)
        return e->col;
    if ((e->kind == EX_FN && e->nkids && e->op != CORM_FN_COUNT && e->op != CORM_FN_AVG) ||
        (e->kind == EX_ARITH && e->nkids))
        return sql_expr_column(e->kids[0]);
    return NULL;
}

int sql_expr_check_models(const corm_expr *e, const corm_model *const *models, size_t n,
                          const corm_alias *aliases, size_t na, util_err *err)
{
    if (e->kind == EX_COL && e->alias) {
        if (e->col->model != e->alias->model)
            return util_err_set(err, CORM_EINVAL, "column %s.%s used through an alias of %s",
                                e->col->model->name, e->col->name, e->alias->model->name);
        for (size_t i = 0; i < na; i++)
            if (e->alias == &aliases[i] && aliases[i].joined)
                return CORM_OK;
        return util_err_set(err, CORM_EINVAL, "column %s.%s of alias %s used in a query of %s "
                            "that has not joined it (an alias belongs to the query that made it, "
                            "once corm_join_alias brings it in)", e->col->model->name,
                            e->col->name, e->alias->name, models[0]->name);
    }
    if (e->kind == EX_COL) {
        for (size_t i = 0; i < n; i++)
            if (e->col->model == models[i])
                return CORM_OK;
        return util_err_set(err, CORM_EINVAL, "column %s.%s used in a query of %s%s",
                            e->col->model->name, e->col->name, models[0]->name,
                            n > 1 ? " (join its model first)" : "");
    }
    if (e->kind == EX_REL && e->nkids) {
        const corm_model *inner[17];
        size_t k = n < 16 ? n : 16;
        memcpy(inner, models, k * sizeof *inner);
        inner[k] = e->rel->target;
        return sql_expr_check_models(e->kids[0], inner, k + 1, aliases, na, err);
    }
    for (size_t i = 0; i < e->nkids; i++) {
        int rc = sql_expr_check_models(e->kids[i], models, n, aliases, na, err);
        if (rc < 0)
            return rc;
    }
    return CORM_OK;
}
