/*
 * query.c — queries: building them, compiling them to one SELECT (or
 * UPDATE/DELETE), and loading their rows into objects through the
 * identity map.
 *
 * A row whose key the session already holds is not read again: the
 * session's object is returned as it is (SQLAlchemy does the same), which
 * also makes re-running a query cheap.
 */
#include "orm/orm.h"
#include "util/alloc.h"
#include "util/numeric.h"
#include "util/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct expr_vec {
    corm_expr **v;
    size_t n, cap;
} expr_vec;

struct corm_query {
    corm_session *s;
    const sch_mapper *mp;
    corm_query *next, **pprev;
    expr_vec where, order, select, group, having, sets;
    int64_t limit, offset;
    bool distinct, for_update, read_only;
    int err;
    util_err errinfo;
    const sch_rel *eager[8][8];  /* selectin paths */
    size_t eager_len[8], neager;
    struct {
        const sch_rel *sr;
        bool outer;
        const corm_alias *from, *to; /* aliases at either end, or NULL */
    } joins[8];
    size_t njoins;
    corm_alias aliases[8];       /* corm_alias: each a name of its own */
    size_t naliases;
    const sch_rel *joined;       /* corm_joinedload */
    corm_query *from;            /* corm_select_from: a derived table */
    const sch_mapper *also[8];   /* corm_add_entity */
    const corm_alias *also_as[8];/* ... or corm_add_alias: its alias */
    size_t nalso;
    struct {                     /* corm_yield_per: rows read a batch at a time */
        size_t per;              /* rows a batch; 0: not a stream */
        orm_cursor cur;          /* the SELECT being read, between batches */
        util_arena arena;        /* the current batch's objects and strings */
        void **items;
        size_t cap;
        bool started, done;
        bool failed;             /* ended before its last row by an error (by a
                                    release: cur.cut) */
    } stream;
};

#define MAX_EAGER 8

static void vec_free(expr_vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        corm_expr_free(v->v[i]);
    util_free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

static int qfail(corm_query *q, int code, const char *fmt, const char *arg)
{
    if (!q->err) {
        q->err = code;
        util_err_set(&q->errinfo, code, fmt, arg);
    }
    return code;
}

/* Take ownership of e into v. */
static int vec_push(corm_query *q, expr_vec *v, corm_expr *e)
{
    if (!e)
        return qfail(q, CORM_ENOMEM, "out of memory building the query%s", "");
    if (util_grow(&v->v, &v->cap, v->n, sizeof *v->v, 4) < 0) {
        corm_expr_free(e);
        return qfail(q, CORM_ENOMEM, "out of memory building the query%s", "");
    }
    v->v[v->n++] = e;
    return CORM_OK;
}

corm_query *corm_query_new_(corm_session *s, const corm_model *m)
{
    util_err_clear(&s->err);
    const sch_mapper *mp = sch_find(&s->e->meta, m);
    if (!mp) {
        orm_set_error(s, CORM_EINVAL, "model %s is not registered with the engine",
                      m ? m->name : "(null)");
        return NULL;
    }
    corm_query *q = util_calloc(1, sizeof *q);
    if (!q) {
        orm_set_error(s, CORM_ENOMEM, "out of memory making a query of %s", m->name);
        return NULL;
    }
    q->s = s;
    q->mp = mp;
    q->limit = q->offset = -1;
    q->next = s->queries;
    if (q->next)
        q->next->pprev = &q->next;
    q->pprev = &s->queries;
    s->queries = q;
    return q;
}

/* The stream's SELECT reset: it reads no more. */
static void stream_end(corm_query *q)
{
    orm_cursor_close(&q->stream.cur);
    q->stream.done = true;
}

static void query_free(corm_query *q)
{
    stream_end(q);
    if (q->stream.started)
        util_arena_free(&q->stream.arena);
    util_free(q->stream.items);
    vec_free(&q->where);
    vec_free(&q->order);
    vec_free(&q->select);
    vec_free(&q->group);
    vec_free(&q->having);
    vec_free(&q->sets);
    util_free(q);
}

void corm_query_free(corm_query *q)
{
    if (!q)
        return;
    *q->pprev = q->next;
    if (q->next)
        q->next->pprev = q->pprev;
    query_free(q);
}

void orm_queries_free(corm_session *s)
{
    while (s->queries) {
        corm_query *q = s->queries;
        s->queries = q->next;
        query_free(q);
    }
}

int corm_filter(corm_query *q, corm_expr *e) { return vec_push(q, &q->where, e); }
int corm_order_by_(corm_query *q, corm_expr *e) { return vec_push(q, &q->order, e); }
int corm_select_(corm_query *q, corm_expr *e) { return vec_push(q, &q->select, e); }
int corm_group_by_(corm_query *q, corm_expr *e) { return vec_push(q, &q->group, e); }
int corm_having(corm_query *q, corm_expr *e) { return vec_push(q, &q->having, e); }

int corm_filter_by_(corm_query *q, const char *column, corm_value v)
{
    const corm_column *c = column ? sch_column(q->mp->model, column) : NULL;
    if (!c) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s has no column named '%.200s'", q->mp->model->name,
                 column ? column : "(null)");
        return qfail(q, CORM_ENOCOLUMN, "%s", msg);
    }
    return vec_push(q, &q->where, corm_cmp_(corm_expr_col(c), CORM_OP_EQ, v));
}

int corm_set_(corm_query *q, const corm_column *col, corm_value v)
{
    return vec_push(q, &q->sets, corm_cmp_(corm_expr_col(col), CORM_OP_EQ, v));
}

/* The models whose columns the query may use: its own, then the joined
 * (those joined under an alias are the aliases' to name). */
static size_t scope(const corm_query *q, const corm_model **models)
{
    size_t n = 0;
    models[n++] = q->mp->model;
    for (size_t i = 0; i < q->njoins; i++)
        if (!q->joins[i].to)
            models[n++] = q->joins[i].sr->rel->target;
    return n;
}

static bool own_alias(const corm_query *q, const corm_alias *a)
{
    return a && a >= q->aliases && a < q->aliases + q->naliases;
}

static int join(corm_query *q, const corm_alias *from, const corm_relation *rel,
                const corm_alias *to, bool outer)
{
    const sch_rel *sr = sch_rel_of(&q->s->e->meta, rel);
    const corm_model *models[9];
    size_t n = scope(q, models);
    char what[300];
    if (!sr)
        return qfail(q, CORM_EINVAL, "join: relationship %s is not registered",
                     rel && rel->name ? rel->name : "(null)");
    bool in = false, twice = false;
    for (size_t i = 0; i < n; i++) {
        in |= !from && models[i] == rel->model;
        twice |= !to && models[i] == rel->target;
    }
    const char *why = NULL;
    if (from && (!own_alias(q, from) || !from->joined || from->model != rel->model))
        why = "the alias it starts from is not one of this query's, joined, of its model";
    else if (!from && !in)
        why = "its model is not in the query";
    else if (to && (!own_alias(q, to) || to->joined || to->model != rel->target))
        why = "the alias it ends at is not one of this query's, not yet joined, of its target";
    else if (twice)
        why = "its target is already in the query (join it again under an alias: corm_alias "
              "and corm_join_alias)";
    else if (q->njoins == 8)
        why = "too many joins";
    if (why) {
        snprintf(what, sizeof what, "join along %s.%s: %s", rel->model->name, rel->name, why);
        return qfail(q, CORM_EINVAL, "%s", what);
    }
    q->joins[q->njoins].sr = sr;
    q->joins[q->njoins].from = from;
    q->joins[q->njoins].to = to;
    q->joins[q->njoins++].outer = outer;
    if (to)
        ((corm_alias *)to)->joined = true;
    return CORM_OK;
}

int corm_join(corm_query *q, const corm_relation *rel) { return join(q, NULL, rel, NULL, false); }
int corm_outerjoin(corm_query *q, const corm_relation *rel) { return join(q, NULL, rel, NULL, true); }
int corm_join_alias(corm_query *q, const corm_alias *from, const corm_relation *rel,
                    const corm_alias *to)
{
    return join(q, from, rel, to, false);
}
int corm_outerjoin_alias(corm_query *q, const corm_alias *from, const corm_relation *rel,
                         const corm_alias *to)
{
    return join(q, from, rel, to, true);
}

corm_alias *corm_alias_(corm_query *q, const corm_model *m)
{
    if (!q)
        return NULL;
    if (!m || !sch_find(&q->s->e->meta, m) || q->naliases == 8) {
        qfail(q, CORM_EINVAL, "alias: %s is not a registered model (or the query has 8 aliases)",
              m && m->name ? m->name : "(null)");
        return NULL;
    }
    corm_alias *a = &q->aliases[q->naliases++];
    a->model = m;
    a->owner = q;
    a->joined = false;
    snprintf(a->name, sizeof a->name, "corm_a%zu", q->naliases);
    return a;
}

int corm_add_alias(corm_query *q, const corm_alias *a)
{
    if (!own_alias(q, a) || q->nalso == 8)
        return qfail(q, CORM_EINVAL, "add_alias: %s", !own_alias(q, a)
                     ? "not an alias of this query" : "more than 8 entities");
    q->also[q->nalso] = sch_find(&q->s->e->meta, a->model);
    q->also_as[q->nalso++] = a;
    return CORM_OK;
}

/* col, of alias a or (a NULL) of its table. */
static void put_col(sql_ctx *x, const corm_column *col, const corm_alias *a)
{
    if (!a) {
        sql_put_column(x, col);
        return;
    }
    sql_put_ident(x, a->name);
    util_buf_putc(x->b, '.');
    sql_put_ident(x, col->name);
}

/* "a"."x" = "b"."y" for the two ends of a relationship hop. */
static void put_eq_as(sql_ctx *x, const corm_column *a, const corm_alias *aa, const corm_column *b,
                      const corm_alias *ba)
{
    put_col(x, a, aa);
    util_buf_puts(x->b, " = ");
    put_col(x, b, ba);
}

static void put_eq(sql_ctx *x, const corm_column *a, const corm_column *b)
{
    put_eq_as(x, a, NULL, b, NULL);
}

/* The condition tying rel's model (as `from`) to its target (as `to`);
 * for many-to-many, to the association, whose table the caller has put in
 * FROM (under `assoc`, or its own name). */
static void put_link_as(sql_ctx *x, const sch_rel *sr, const corm_alias *from,
                        const corm_alias *to, const corm_alias *assoc)
{
    const sch_mapper *mp = sch_find(&((corm_session *)x->ud)->e->meta, sr->rel->model);
    switch (sr->rel->kind) {
    case CORM_REL_MANY_TO_ONE: put_eq_as(x, sr->target->pk, to, sr->fk, from); break;
    case CORM_REL_MANY_TO_MANY: put_eq_as(x, sr->fk, assoc, mp->pk, from); break;
    default: put_eq_as(x, sr->fk, to, mp->pk, from); break;
    }
}

static void put_link(sql_ctx *x, const sch_rel *sr) { put_link_as(x, sr, NULL, NULL, NULL); }

/* "table" AS "alias", or "table" */
static void put_table(sql_ctx *x, const corm_model *m, const corm_alias *a)
{
    sql_put_ident(x, m->table);
    if (a) {
        util_buf_puts(x->b, " AS ");
        sql_put_ident(x, a->name);
    }
}

static void put_join(sql_ctx *x, const sch_rel *sr, bool outer, const corm_alias *from,
                     const corm_alias *to)
{
    const char *kw = outer ? " LEFT OUTER JOIN " : " JOIN ";
    if (sr->rel->kind == CORM_REL_MANY_TO_MANY) {
        /* under an alias, the association table gets one too: <alias>_x */
        corm_alias through;
        if (to) {
            through = (corm_alias){ sr->through->model, NULL, true, "" };
            snprintf(through.name, sizeof through.name, "%.9s_x", to->name);
        }
        util_buf_puts(x->b, kw);
        put_table(x, sr->through->model, to ? &through : NULL);
        util_buf_puts(x->b, " ON ");
        put_link_as(x, sr, from, to, to ? &through : NULL);
        util_buf_puts(x->b, kw);
        put_table(x, sr->target->model, to);
        util_buf_puts(x->b, " ON ");
        put_eq_as(x, sr->target->pk, to, sr->fk_target, to ? &through : NULL);
        return;
    }
    util_buf_puts(x->b, kw);
    put_table(x, sr->target->model, to);
    util_buf_puts(x->b, " ON ");
    put_link_as(x, sr, from, to, NULL);
}

static void put_joins(sql_ctx *x, const corm_query *q)
{
    for (size_t i = 0; i < q->njoins; i++)
        put_join(x, q->joins[i].sr, q->joins[i].outer, q->joins[i].from, q->joins[i].to);
}

static int compile_select(corm_query *q, sql_ctx *x, int64_t limit, int64_t offset);

/* EXISTS along a relationship, and IN (subquery): they need the schema. */
static int hook(sql_ctx *x, const corm_expr *e)
{
    corm_session *s = x->ud;
    int rc;
    if (e->kind == EX_SUBQ) {
        corm_query *sq = e->sub;
        if (!sq || sq->s != s || sq->select.n != 1)
            return util_err_set(x->err, CORM_EINVAL, "a subquery in IN must be a query of the same "
                                "session selecting one column (corm_select)");
        if (sq->err) {
            *x->err = sq->errinfo;
            return sq->err;
        }
        if ((rc = sql_compile_expr(x, e->kids[0])) < 0)
            return rc;
        util_buf_puts(x->b, e->op ? " NOT IN (" : " IN (");
        if ((rc = compile_select(sq, x, sq->limit, sq->offset)) < 0)
            return rc;
        util_buf_putc(x->b, ')');
        return CORM_OK;
    }
    const sch_rel *sr = sch_rel_of(&s->e->meta, e->rel);
    if (!sr)
        return util_err_set(x->err, CORM_EINVAL, "relationship %s is not registered",
                            e->rel && e->rel->name ? e->rel->name : "(null)");
    if (sr->rel->target == sr->rel->model) {
        /* a model related to itself: the inner rows get an alias of their
         * own, one more at each level of nesting (corm_in1, corm_in2, ...):
         * the link names the level outside, the condition this one */
        static const char *const inner_names[] = { "corm_in1", "corm_in2", "corm_in3", "corm_in4",
                                                   "corm_in5", "corm_in6", "corm_in7", "corm_in8" };
        const char *outer_alias = x->alias;
        const corm_model *outer_of = x->alias_of;
        size_t depth = 0;
        while (outer_alias && depth < 8 && strcmp(inner_names[depth], outer_alias) != 0)
            depth++;
        depth = outer_alias ? depth + 1 : 0;
        if (sr->rel->kind == CORM_REL_MANY_TO_MANY || depth >= 8)
            return util_err_set(x->err, CORM_EINVAL, "any/has along %s.%s: %s",
                                sr->rel->model->name, sr->rel->name, depth >= 8
                                ? "nested more than 8 deep" : "a self-referential many-to-many "
                                "takes a join under an alias (corm_join_alias) instead");
        const char *name = inner_names[depth];
        const sch_mapper *mp = sr->target;
        util_buf_puts(x->b, "EXISTS (SELECT 1 FROM ");
        sql_put_ident(x, mp->model->table);
        util_buf_puts(x->b, " AS ");
        sql_put_ident(x, name);
        util_buf_puts(x->b, " WHERE ");
        /* inner.fk = outer.pk (children), inner.pk = outer.fk (parent) */
        const corm_column *in = sr->rel->kind == CORM_REL_MANY_TO_ONE ? mp->pk : sr->fk;
        const corm_column *out = sr->rel->kind == CORM_REL_MANY_TO_ONE ? sr->fk : mp->pk;
        sql_put_ident(x, name);
        util_buf_putc(x->b, '.');
        sql_put_ident(x, in->name);
        util_buf_puts(x->b, " = ");
        sql_put_column(x, out); /* the level outside: its alias, or the table */
        if (e->nkids) {
            util_buf_puts(x->b, " AND (");
            x->alias_of = mp->model;
            x->alias = name;
            rc = sql_compile_expr(x, e->kids[0]);
            x->alias_of = outer_of;
            x->alias = outer_alias;
            if (rc < 0)
                return rc;
            util_buf_putc(x->b, ')');
        }
        util_buf_putc(x->b, ')');
        return CORM_OK;
    }
    util_buf_puts(x->b, "EXISTS (SELECT 1 FROM ");
    if (sr->rel->kind == CORM_REL_MANY_TO_MANY) {
        sql_put_ident(x, sr->through->model->table);
        util_buf_puts(x->b, " JOIN ");
        sql_put_ident(x, sr->target->model->table);
        util_buf_puts(x->b, " ON ");
        put_eq(x, sr->target->pk, sr->fk_target);
    } else {
        sql_put_ident(x, sr->target->model->table);
    }
    util_buf_puts(x->b, " WHERE ");
    put_link(x, sr);
    if (e->nkids) {
        util_buf_puts(x->b, " AND (");
        if ((rc = sql_compile_expr(x, e->kids[0])) < 0)
            return rc;
        util_buf_putc(x->b, ')');
    }
    util_buf_putc(x->b, ')');
    return CORM_OK;
}

int corm_add_entity_(corm_query *q, const corm_model *m)
{
    const sch_mapper *mp = sch_find(&q->s->e->meta, m);
    if (!mp || q->nalso == 8)
        return qfail(q, CORM_EINVAL, "add_entity: %s is not a registered model (or more than 8)",
                     m && m->name ? m->name : "(null)");
    q->also[q->nalso++] = mp;
    return CORM_OK;
}

int corm_select_from(corm_query *q, corm_query *sub)
{
    if (!sub || sub->s != q->s || sub->mp != q->mp || sub->select.n || sub == q)
        return qfail(q, CORM_EINVAL, "select_from: the subquery must be another query of the same "
                     "model and session, selecting whole objects%s", "");
    for (corm_query *f = sub; f; f = f->from)
        if (f == q)
            return qfail(q, CORM_EINVAL, "select_from: the subqueries form a cycle%s", "");
    q->from = sub;
    return CORM_OK;
}

int corm_joinedload(corm_query *q, const corm_relation *rel)
{
    const sch_rel *sr = sch_rel_of(&q->s->e->meta, rel);
    if (!sr || rel->model != q->mp->model || q->joined) {
        char what[200];
        snprintf(what, sizeof what, "joinedload: %s%s%s", rel && rel->model ? rel->model->name : "?",
                 rel && rel->name ? "." : "", !sr ? " is not a registered relationship"
                 : q->joined ? " is a second joinedload (one per query)"
                 : " does not start at the query's model");
        return qfail(q, CORM_EINVAL, "%s", what);
    }
    q->joined = sr;
    return CORM_OK;
}

int corm_selectin_(corm_query *q, const corm_relation *const *path)
{
    const corm_model *at = q->mp->model;
    size_t n = 0;
    if (q->neager == MAX_EAGER)
        return qfail(q, CORM_EINVAL, "more than 8 eager paths in one query%s", "");
    for (; path && path[n]; n++) {
        const sch_rel *sr = sch_rel_of(&q->s->e->meta, path[n]);
        char what[300];
        if (!sr) {
            snprintf(what, sizeof what, "relationship %s in an eager path is not registered",
                     path[n]->name ? path[n]->name : "(null)");
            return qfail(q, CORM_EINVAL, "%s", what);
        }
        if (path[n]->model != at || n == MAX_EAGER) {
            snprintf(what, sizeof what, "eager path: %s.%s does not start at %s", path[n]->model->name,
                     path[n]->name, at->name);
            return qfail(q, CORM_EINVAL, "%s", what);
        }
        q->eager[q->neager][n] = sr;
        at = path[n]->target;
    }
    if (n == 0)
        return qfail(q, CORM_EINVAL, "an empty eager path%s", "");
    q->eager_len[q->neager++] = n;
    return CORM_OK;
}

int corm_selectin_path(corm_query *q, const char *path)
{
    const corm_relation *steps[MAX_EAGER + 1] = { 0 };
    const corm_model *at = q->mp->model;
    size_t n = 0;
    for (const char *p = path ? path : ""; *p && n < MAX_EAGER;) {
        size_t len = strcspn(p, ".");
        const corm_relation *r = NULL;
        for (size_t i = 0; at->relations && i < at->nrelations && !r; i++)
            if (strlen(at->relations[i]->name) == len && memcmp(at->relations[i]->name, p, len) == 0)
                r = at->relations[i];
        if (!r) {
            char what[200];
            snprintf(what, sizeof what, "eager path '%s': %s has no relationship '%.*s'",
                     path, at->name, (int)len, p);
            return qfail(q, CORM_EINVAL, "%s", what);
        }
        steps[n++] = r;
        at = r->target;
        p += len + (p[len] == '.');
    }
    return corm_selectin_(q, steps);
}

/* Run the query's eager paths over the objects it just loaded. */
static int load_eager(corm_query *q)
{
    corm_session *s = q->s;
    int rc = CORM_OK;
    for (size_t p = 0; rc == CORM_OK && p < q->neager; p++) {
        size_t n = s->nscratch;
        orm_obj **objs = util_malloc((n ? n : 1) * sizeof *objs);
        if (!objs)
            return orm_set_error(s, CORM_ENOMEM, "out of memory loading relationships");
        for (size_t i = 0; i < n; i++)
            objs[i] = orm_hdr(s->scratch[i]);
        for (size_t l = 0; rc == CORM_OK && l < q->eager_len[p] && n; l++) {
            orm_obj **next = NULL;
            size_t nnext = 0;
            bool last = l + 1 == q->eager_len[p];
            /* a query without conditions loaded every row of its table:
             * their children are every child with a key, one scan */
            bool whole = l == 0 && !q->where.n && !q->njoins && q->limit < 0 && q->offset < 0 &&
                         !q->group.n && q->eager[p][0]->rel->kind != CORM_REL_MANY_TO_ONE;
            rc = orm_rel_load(s, q->eager[p][l], objs, n, whole, last ? NULL : &next, &nnext);
            util_free(objs);
            objs = next;
            n = nnext;
        }
        util_free(objs);
    }
    return rc;
}

int corm_limit(corm_query *q, int64_t n)
{
    if (n < 0)
        return qfail(q, CORM_EINVAL, "a limit must not be negative%s", "");
    q->limit = n;
    return CORM_OK;
}

int corm_offset(corm_query *q, int64_t n)
{
    if (n < 0)
        return qfail(q, CORM_EINVAL, "an offset must not be negative%s", "");
    q->offset = n;
    return CORM_OK;
}

int corm_distinct(corm_query *q)
{
    q->distinct = true;
    return CORM_OK;
}

int corm_with_for_update(corm_query *q)
{
    q->for_update = true;
    return CORM_OK;
}

int corm_read_only(corm_query *q)
{
    q->read_only = true;
    return CORM_OK;
}

/* ---- compiling ----------------------------------------------------------------- */

static int put_list(sql_ctx *x, const expr_vec *v, const char *sep)
{
    for (size_t i = 0; i < v->n; i++) {
        if (i)
            util_buf_puts(x->b, sep);
        int rc = sql_compile_expr(x, v->v[i]);
        if (rc < 0)
            return rc;
    }
    return CORM_OK;
}

static int put_where(sql_ctx *x, const corm_query *q)
{
    if (!q->where.n)
        return CORM_OK;
    util_buf_puts(x->b, " WHERE ");
    return put_list(x, &q->where, " AND ");
}

static int put_int(sql_ctx *x, int64_t v)
{
    corm_value val = corm_v_int(v);
    return sql_put_value(x, NULL, &val, false);
}

/* SELECT ... FROM ... WHERE ... GROUP BY ... HAVING ... ORDER BY ... LIMIT */
static int compile_select(corm_query *q, sql_ctx *x, int64_t limit, int64_t offset)
{
    const sch_mapper *mp = q->mp;
    int rc;
    util_buf_puts(x->b, q->distinct ? "SELECT DISTINCT " : "SELECT ");
    if (q->select.n) {
        if ((rc = put_list(x, &q->select, ", ")) < 0)
            return rc;
    } else {
        util_buf_put(x->b, mp->sql_cols, mp->sql_cols_len);
        if (q->joined) {
            util_buf_puts(x->b, ", ");
            util_buf_puts(x->b, q->joined->target->sql_cols);
        }
        for (size_t i = 0; i < q->nalso; i++) {
            if (!q->also_as[i]) {
                util_buf_puts(x->b, ", ");
                util_buf_puts(x->b, q->also[i]->sql_cols);
                continue;
            }
            const corm_model *m = q->also[i]->model; /* its columns under the alias */
            for (size_t k = 0; k < m->ncolumns; k++) {
                util_buf_puts(x->b, ", ");
                put_col(x, m->columns[k], q->also_as[i]);
            }
        }
    }
    util_buf_puts(x->b, " FROM ");
    if (q->from) {
        /* named like the table, so that "table"."column" still resolves */
        if (q->from->err) {
            *x->err = q->from->errinfo;
            return q->from->err;
        }
        util_buf_putc(x->b, '(');
        if ((rc = compile_select(q->from, x, q->from->limit, q->from->offset)) < 0)
            return rc;
        util_buf_puts(x->b, ") AS ");
    }
    sql_put_ident(x, mp->model->table);
    put_joins(x, q);
    if (q->joined && !q->select.n)
        put_join(x, q->joined, true, NULL, NULL);
    if ((rc = put_where(x, q)) < 0)
        return rc;
    if (q->group.n) {
        util_buf_puts(x->b, " GROUP BY ");
        if ((rc = put_list(x, &q->group, ", ")) < 0)
            return rc;
    }
    if (q->having.n) {
        util_buf_puts(x->b, " HAVING ");
        if ((rc = put_list(x, &q->having, " AND ")) < 0)
            return rc;
    }
    if (q->order.n) {
        util_buf_puts(x->b, " ORDER BY ");
        if ((rc = put_list(x, &q->order, ", ")) < 0)
            return rc;
    }
    if (limit >= 0 || offset >= 0) {
        util_buf_puts(x->b, " LIMIT ");
        if (limit < 0) /* an offset alone: the dialect's "no limit" */
            util_buf_puts(x->b, x->drv->no_limit);
        else if ((rc = put_int(x, limit)) < 0)
            return rc;
        if (offset >= 0) {
            util_buf_puts(x->b, " OFFSET ");
            if ((rc = put_int(x, offset)) < 0)
                return rc;
        }
    }
    if (q->for_update && x->drv->for_update)
        util_buf_puts(x->b, x->drv->for_update);
    return CORM_OK;
}

/* Start a query: autoflush its model, take the connection, reset buffers. */
static int begin(corm_query *q, sql_ctx *x)
{
    corm_session *s = q->s;
    util_err_clear(&s->err);
    const corm_model *models[9];
    size_t n = scope(q, models);
    const expr_vec *parts[] = { &q->where, &q->order, &q->select, &q->group, &q->having, &q->sets };
    for (size_t p = 0; !q->err && p < sizeof parts / sizeof *parts; p++)
        for (size_t i = 0; !q->err && i < parts[p]->n; i++)
            q->err = sql_expr_check_models(parts[p]->v[i], models, n, q->aliases, q->naliases,
                                           &q->errinfo);
    if (q->err) {
        s->err = q->errinfo;
        return orm_fail(s, q->err);
    }
    int rc = orm_autoflush(s, q->mp);
    if (rc == CORM_OK && q->for_update) /* locks are taken inside a write transaction */
        rc = orm_begin(s);
    if (rc < 0)
        return rc;
    util_buf_reset(&s->sql);
    s->params.n = 0;
    *x = (sql_ctx){ s->conn->drv, &s->sql, &s->params, &s->err, hook, s };
    return CORM_OK;
}

static int run(corm_session *s, drv_stmt **st)
{
    if (s->sql.err)
        return orm_set_error(s, CORM_ENOMEM, "out of memory building SQL");
    return sql_run(s->conn, s->sql.p, s->sql.len, &s->params, st, &s->err);
}

/* ---- loading rows ---------------------------------------------------------------- */

/* Run the compiled SELECT and collect objects into s->scratch. */
static int collect(corm_query *q, size_t max)
{
    corm_session *s = q->s;
    const drv_driver *d = s->conn->drv;
    drv_stmt *st = NULL;
    int rc = run(s, &st);
    s->nscratch = 0;
    sql_read_all(s->conn, st);
    bool first = !q->read_only;
    while (rc == CORM_OK && (rc = d->step(st, &s->err)) == 1) {
        orm_obj *o;
        if (first && (rc = orm_imap_expect(s, q->mp, st, max)) < 0)
            break;
        first = false;
        if ((rc = orm_load_row(s, q->mp, st, q->mp->model->columns, q->mp->model->ncolumns,
                               q->read_only ? LOAD_STREAM
                               : (q->neager ? LOAD_FULL : 0) | (q->for_update ? LOAD_FRESHEN : LOAD_KEEP),
                               &o)) < 0)
            break;
        if ((rc = orm_scratch_push(s, orm_data(o))) < 0)
            break;
        if (s->nscratch >= max) {
            d->reset(st);
            break;
        }
    }
    if (rc < 0 && st) /* a row read, then a failure: the statement is left mid-read */
        d->reset(st);
    return rc < 0 ? rc : CORM_OK;
}

/* Rows of a joinedload: the query's object, then the related one. */
static int collect_joined(corm_query *q)
{
    corm_session *s = q->s;
    const sch_rel *sr = q->joined;
    const sch_mapper *mp = q->mp, *t = sr->target;
    const drv_driver *d = s->conn->drv;
    const corm_column *cols[128] = { 0 };
    size_t n1 = mp->model->ncolumns, tpk = n1 + (size_t)t->pk->index;
    for (size_t i = 0; i < t->model->ncolumns; i++)
        cols[n1 + i] = t->model->columns[i];
    orm_obj **kids = NULL, **parent_of = NULL;
    size_t nkids = 0, cap = 0, cap2 = 0;
    drv_stmt *st = NULL;
    int rc = run(s, &st);
    s->nscratch = 0;
    sql_read_all(s->conn, st);
    while (rc == CORM_OK && (rc = d->step(st, &s->err)) == 1) {
        orm_obj *p, *c;
        corm_value probe;
        if ((rc = orm_load_row(s, mp, st, mp->model->columns, n1, LOAD_KEEP | LOAD_FULL, &p)) < 0)
            break;
        /* an object comes back once per related row: keep its first */
        if (!p->seen) {
            p->seen = 1;
            if ((rc = orm_scratch_push(s, orm_data(p))) < 0)
                break;
        }
        if (d->column(st, (int)tpk, &probe) == CORM_V_NULL)
            continue; /* the outer join found nothing */
        if ((rc = orm_load_row(s, t, st, cols, n1 + t->model->ncolumns, LOAD_KEEP | LOAD_FULL, &c)) < 0)
            break;
        if (util_grow(&kids, &cap, nkids, sizeof *kids, 64) < 0 ||
            util_grow(&parent_of, &cap2, nkids, sizeof *parent_of, 64) < 0) {
            rc = orm_set_error(s, CORM_ENOMEM, "out of memory loading %s.%s", sr->rel->model->name,
                               sr->rel->name);
            break;
        }
        kids[nkids] = c;
        parent_of[nkids++] = p;
    }
    if (rc < 0)
        d->reset(st);
    for (size_t i = 0; i < s->nscratch; i++)
        orm_hdr(s->scratch[i])->seen = 0;
    orm_obj **parents = rc >= 0 ? util_malloc((s->nscratch ? s->nscratch : 1) * sizeof *parents) : NULL;
    if (rc >= 0 && !parents)
        rc = orm_set_error(s, CORM_ENOMEM, "out of memory loading relationships");
    for (size_t i = 0; rc >= 0 && i < s->nscratch; i++)
        parents[i] = orm_hdr(s->scratch[i]);
    if (rc >= 0)
        rc = orm_rel_attach(s, sr, parents, s->nscratch, parent_of, kids, nkids);
    util_free(parents);
    util_free(kids);
    util_free(parent_of);
    return rc < 0 ? rc : CORM_OK;
}

static int select_objects(corm_query *q, int64_t limit, size_t max)
{
    sql_ctx x;
    int rc = begin(q, &x);
    if (rc == CORM_OK && q->select.n)
        rc = orm_set_error(q->s, CORM_EINVAL, "the query selects columns; read it with corm_rows");
    if (rc == CORM_OK && q->read_only && (q->joined || q->neager || q->nalso || q->for_update))
        rc = orm_set_error(q->s, CORM_EINVAL, "%s: a corm_read_only query reads whole objects, "
                           "without eager loads, added entities or corm_with_for_update",
                           q->mp->model->name);
    bool joined_many = q->joined && (q->joined->rel->kind == CORM_REL_ONE_TO_MANY ||
                                     q->joined->rel->kind == CORM_REL_MANY_TO_MANY);
    if (rc == CORM_OK && joined_many && (limit >= 0 || q->offset >= 0))
        rc = orm_set_error(q->s, CORM_EINVAL, "%s.%s: a joinedload of a to-many relationship "
                           "with a limit or offset would count joined rows; use corm_selectin",
                           q->joined->rel->model->name, q->joined->rel->name);
    if (rc == CORM_OK)
        rc = compile_select(q, &x, limit, q->offset);
    if (rc == CORM_OK)
        rc = q->joined ? collect_joined(q) : collect(q, max);
    if (rc == CORM_OK && q->neager)
        rc = load_eager(q);
    return rc;
}

/* The collected objects, as the caller's (*out, *n). */
static int hand_over(corm_session *s, void *out, size_t *n)
{
    void **v = orm_scratch_take(s);
    if (s->nscratch && !v)
        return orm_set_error(s, CORM_ENOMEM, "out of memory collecting rows");
    *(void ***)out = v;
    *n = s->nscratch;
    return CORM_OK;
}

int corm_all(corm_query *q, void *out, size_t *n)
{
    corm_session *s = q->s;
    *(void ***)out = NULL;
    *n = 0;
    int rc = select_objects(q, q->limit, SIZE_MAX);
    return rc < 0 ? rc : hand_over(s, out, n);
}

int corm_yield_per(corm_query *q, size_t per)
{
    if (!per)
        return qfail(q, CORM_EINVAL, "corm_yield_per: a batch of 0 rows%s", "");
    if (q->stream.started)
        return qfail(q, CORM_ESTATE, "corm_yield_per: the query is already being read%s", "");
    q->stream.per = per;
    return CORM_OK;
}

int corm_next_batch(corm_query *q, void *out, size_t *n)
{
    corm_session *s = q->s;
    *(void ***)out = NULL;
    *n = 0;
    util_err_clear(&s->err);
    if (!q->stream.per)
        return orm_set_error(s, CORM_EINVAL, "%s: corm_next_batch on a query without "
                             "corm_yield_per", q->mp->model->name);
    if (q->stream.cur.cut)
        return orm_set_error(s, CORM_ESTATE, "%s: the stream ended when its session's connection "
                             "went back to the pool between batches (a commit, rollback or "
                             "reset): run the query again", q->mp->model->name);
    if (q->stream.failed)
        return orm_set_error(s, CORM_ESTATE, "%s: the stream ended with an error at an earlier "
                             "batch: run the query again", q->mp->model->name);
    if (q->stream.started && q->stream.done) /* read to the end */
        return CORM_OK;
    int rc = CORM_OK;
    if (!q->stream.started) {
        sql_ctx x;
        if ((rc = begin(q, &x)) == CORM_OK && (q->select.n || q->joined || q->neager || q->nalso))
            rc = orm_set_error(s, CORM_EINVAL, "%s: a streamed query reads whole objects, "
                               "without corm_select, eager loads or added entities",
                               q->mp->model->name);
        if (rc == CORM_OK)
            rc = compile_select(q, &x, q->limit, q->offset);
        drv_stmt *st = NULL;
        if (rc == CORM_OK && (rc = run(s, &st)) == CORM_OK) {
            if (s->conn->drv->stream)
                s->conn->drv->stream(st);
            orm_cursor_open(s, &q->stream.cur, st);
        }
        if (rc < 0)
            return rc;
        util_arena_init(&q->stream.arena, 64 * 1024, s->arena.pool);
        q->stream.started = true;
    }
    if (util_grow(&q->stream.items, &q->stream.cap, q->stream.per - 1, sizeof *q->stream.items,
                  q->stream.per) < 0)
        return orm_set_error(s, CORM_ENOMEM, "out of memory reading a batch of %s",
                             q->mp->model->name);
    /* the batch before is given back: its objects' memory is this one's */
    util_arena_free(&q->stream.arena);
    const drv_driver *d = s->conn->drv;
    util_arena keep = s->arena;
    s->arena = q->stream.arena;
    size_t got = 0;
    while (got < q->stream.per && (rc = d->step(q->stream.cur.st, &s->err)) == 1) {
        orm_obj *o;
        rc = orm_load_row(s, q->mp, q->stream.cur.st, q->mp->model->columns, q->mp->model->ncolumns,
                          LOAD_STREAM, &o);
        if (rc < 0)
            break;
        q->stream.items[got++] = orm_data(o);
        rc = CORM_OK;
    }
    q->stream.arena = s->arena;
    s->arena = keep;
    if (rc < 0) {
        stream_end(q);
        q->stream.failed = true;
        return rc;
    }
    if (rc == 0 && got < q->stream.per) /* the last row read */
        stream_end(q);
    *(void ***)out = got ? q->stream.items : NULL;
    *n = got;
    return CORM_OK;
}

int corm_first(corm_query *q, void *out)
{
    *(void **)out = NULL;
    int rc = select_objects(q, 1, 1);
    if (rc == CORM_OK && q->s->nscratch)
        *(void **)out = q->s->scratch[0];
    return rc;
}

static int one(corm_query *q, void *out, bool none_ok)
{
    *(void **)out = NULL;
    int64_t limit = q->limit >= 0 && q->limit < 2 ? q->limit : 2;
    int rc = select_objects(q, limit, 2);
    if (rc < 0)
        return rc;
    corm_session *s = q->s;
    if (s->nscratch > 1)
        return orm_set_error(s, CORM_EMULTIPLE, "%s: more than one row matched where one "
                             "was expected", q->mp->model->name);
    if (s->nscratch == 0)
        return none_ok ? CORM_OK
                       : orm_set_error(s, CORM_ENOTFOUND, "%s: no row matched where one was "
                                       "expected", q->mp->model->name);
    *(void **)out = s->scratch[0];
    return CORM_OK;
}

int corm_one(corm_query *q, void *out) { return one(q, out, false); }
int corm_one_or_none(corm_query *q, void *out) { return one(q, out, true); }

/* A single integer from "SELECT <what> FROM (<query>)". */
static int scalar(corm_query *q, const char *head, const char *tail, int64_t limit,
                  int64_t offset, int64_t *out)
{
    sql_ctx x;
    int rc = begin(q, &x);
    if (rc < 0)
        return rc;
    util_buf_puts(x.b, head);
    if ((rc = compile_select(q, &x, limit, offset)) < 0)
        return rc;
    util_buf_puts(x.b, tail);
    drv_stmt *st = NULL;
    corm_session *s = q->s;
    if ((rc = run(s, &st)) < 0)
        return rc;
    if ((rc = s->conn->drv->step(st, &s->err)) < 0)
        return rc;
    *out = rc == 1 ? s->conn->drv->column_int(st, 0) : 0;
    s->conn->drv->reset(st);
    return CORM_OK;
}

int corm_count(corm_query *q, int64_t *n)
{
    return scalar(q, "SELECT COUNT(*) FROM (", ") corm_count", q->limit, q->offset, n);
}

int corm_exists(corm_query *q, bool *exists)
{
    int64_t v = 0;
    int rc = scalar(q, "SELECT EXISTS (", ")", q->limit, q->offset, &v);
    *exists = v != 0;
    return rc;
}

int corm_paginate(corm_query *q, int64_t page, int64_t per_page, corm_page *out)
{
    memset(out, 0, sizeof *out);
    if (page < 1 || per_page < 1)
        return orm_set_error(q->s, CORM_EINVAL, "%s: page and per_page start at 1 (got %lld "
                             "and %lld)", q->mp->model->name, (long long)page, (long long)per_page);
    int rc = scalar(q, "SELECT COUNT(*) FROM (", ") corm_count", -1, -1, &out->total);
    if (rc < 0)
        return rc;
    int64_t saved = q->offset;
    q->offset = (page - 1) * per_page;
    rc = select_objects(q, per_page, SIZE_MAX);
    q->offset = saved;
    if (rc < 0)
        return rc;
    out->items = orm_scratch_take(q->s);
    if (q->s->nscratch && !out->items)
        return orm_set_error(q->s, CORM_ENOMEM, "out of memory collecting rows");
    out->n = q->s->nscratch;
    out->page = page;
    out->per_page = per_page;
    out->pages = (out->total + per_page - 1) / per_page;
    out->has_prev = page > 1;
    out->has_next = page < out->pages;
    out->prev_num = out->has_prev ? page - 1 : 0;
    out->next_num = out->has_next ? page + 1 : 0;
    return CORM_OK;
}

/* ---- rows of values ------------------------------------------------------------------ */

struct corm_result {
    size_t nrows, ncols;
    corm_value *cells;
    int64_t changes;
};

static const corm_value null_value = { .kind = CORM_V_NULL };

/* Read every row of st into a result owned by the session; types[i] (or
 * NULL) says which column's kind result column i has. */
static int orm_read_result(corm_session *s, drv_stmt *st, const corm_column *const *types,
                    const int *fns, corm_result **out)
{
    const drv_driver *d = s->conn->drv;
    corm_result *r = util_arena_zalloc(&s->arena, sizeof *r);
    if (!r)
        return orm_set_error(s, CORM_ENOMEM, "out of memory reading rows");
    r->ncols = (size_t)d->column_count(st);
    util_buf rows = UTIL_BUF_INIT; /* cells, growing */
    int rc;
    while ((rc = d->step(st, &s->err)) == 1) {
        for (size_t i = 0; i < r->ncols && rc >= 0; i++) {
            corm_value v;
            if (sql_column_value(d, st, (int)i, &v, &s->arena) < 0) {
                rc = orm_set_error(s, CORM_ENOMEM, "out of memory reading rows");
                break;
            }
            if (types && types[i])
                rc = sql_value_typed(types[i], &v, &s->err);
            if (fns && fns[i] == CORM_FN_AVG && v.kind == CORM_V_NUMERIC)
                (void)util_numeric_fit(&v.u.num, 38, types[i]->scale + 6); /* as on every backend */
            if (fns && fns[i] == CORM_FN_AVG && v.kind == CORM_V_TEXT) { /* a server's NUMERIC */
                char num[64];
                snprintf(num, sizeof num, "%.*s", (int)v.u.text.n, v.u.text.p);
                v.kind = CORM_V_FLOAT;
                v.u.f = strtod(num, NULL);
            }
            if (fns && fns[i] == CORM_FN_AVG && v.kind == CORM_V_INT) {
                v.kind = CORM_V_FLOAT;
                v.u.f = (double)v.u.i;
            }
            util_buf_put(&rows, (const char *)&v, sizeof v);
        }
        if (rc < 0) {
            d->reset(st);
            break;
        }
        r->nrows++;
    }
    if (rc == CORM_OK && rows.err)
        rc = orm_set_error(s, CORM_ENOMEM, "out of memory reading rows");
    if (rc == CORM_OK && rows.len &&
        !(r->cells = util_arena_memdup(&s->arena, rows.p, rows.len)))
        rc = orm_set_error(s, CORM_ENOMEM, "out of memory reading rows");
    util_buf_free(&rows);
    if (rc < 0)
        return rc;
    r->changes = d->changes(s->conn->dc);
    *out = r;
    return CORM_OK;
}

int corm_rows(corm_query *q, corm_result **out)
{
    sql_ctx x;
    *out = NULL;
    int rc = begin(q, &x);
    if (rc < 0)
        return rc;
    if ((rc = compile_select(q, &x, q->limit, q->offset)) < 0)
        return rc;
    corm_session *s = q->s;
    const corm_column *types[64] = { 0 };
    int fns[64] = { 0 };
    size_t n = q->select.n ? q->select.n : q->mp->model->ncolumns;
    for (size_t i = 0; i < n && i < 64; i++) {
        if (q->select.n) {
            const corm_expr *e = q->select.v[i];
            types[i] = sql_expr_column(e);
            fns[i] = e->kind == EX_FN ? e->op : 0;
            if (fns[i] == CORM_FN_AVG && e->nkids && sql_expr_column(e->kids[0]) &&
                sql_expr_column(e->kids[0])->type == CORM_TYPE_NUMERIC)
                types[i] = sql_expr_column(e->kids[0]); /* an exact decimal, not a double */
        } else {
            types[i] = q->mp->model->columns[i];
        }
    }
    drv_stmt *st = NULL;
    if ((rc = run(s, &st)) < 0)
        return rc;
    return orm_read_result(s, st, types, fns, out);
}

size_t corm_result_nrows(const corm_result *r) { return r ? r->nrows : 0; }
size_t corm_result_ncols(const corm_result *r) { return r ? r->ncols : 0; }
int64_t corm_result_changes(const corm_result *r) { return r ? r->changes : 0; }

const corm_value *corm_result_value(const corm_result *r, size_t row, size_t col)
{
    if (!r || row >= r->nrows || col >= r->ncols)
        return &null_value;
    return &r->cells[row * r->ncols + col];
}

int64_t corm_result_int(const corm_result *r, size_t row, size_t col)
{
    const corm_value *v = corm_result_value(r, row, col);
    return v->kind == CORM_V_INT ? v->u.i : v->kind == CORM_V_BOOL ? v->u.b
                                                                    : v->kind == CORM_V_FLOAT ? (int64_t)v->u.f : 0;
}

double corm_result_float(const corm_result *r, size_t row, size_t col)
{
    const corm_value *v = corm_result_value(r, row, col);
    return v->kind == CORM_V_FLOAT ? v->u.f : v->kind == CORM_V_INT ? (double)v->u.i
                                           : v->kind == CORM_V_NUMERIC ? corm_numeric_to_double(&v->u.num) : 0.0;
}

const char *corm_result_text(const corm_result *r, size_t row, size_t col)
{
    const corm_value *v = corm_result_value(r, row, col);
    return v->kind == CORM_V_TEXT ? v->u.text.p : NULL;
}

/* ---- bulk update and delete -------------------------------------------------------------- */

/* The keys of the rows the query matches, into s->scratch as objects of the
 * session that hold them (rows the session does not hold are skipped). */
static int matching_objects(corm_query *q)
{
    sql_ctx x;
    corm_session *s = q->s;
    int rc = begin(q, &x);
    if (rc < 0)
        return rc;
    util_buf_puts(x.b, "SELECT ");
    for (size_t c = 0; c < q->mp->npk; c++) {
        if (c)
            util_buf_puts(x.b, ", ");
        sql_put_column(&x, q->mp->pks[c]);
    }
    util_buf_puts(x.b, " FROM ");
    sql_put_ident(&x, q->mp->model->table);
    if ((rc = put_where(&x, q)) < 0)
        return rc;
    drv_stmt *st = NULL;
    if ((rc = orm_begin(s)) < 0 || (rc = run(s, &st)) < 0)
        return rc;
    s->nscratch = 0;
    while ((rc = s->conn->drv->step(st, &s->err)) == 1) {
        corm_value k[8];
        for (size_t c = 0; c < q->mp->npk && rc >= 0; c++)
            rc = orm_row_key(s, q->mp, st, (int)c, &k[c]);
        orm_obj *o;
        if (rc >= 0 && (o = orm_imap_get(s, q->mp, k)) != NULL)
            rc = orm_scratch_push(s, o);
        if (rc < 0) {
            s->conn->drv->reset(st);
            return rc;
        }
    }
    return rc;
}

static int bulk(corm_query *q, bool is_update, int64_t *rowcount)
{
    corm_session *s = q->s;
    *rowcount = 0;
    if (!q->err && (q->limit >= 0 || q->offset >= 0 || q->order.n || q->select.n || q->group.n ||
                    q->njoins || q->from || q->joined || q->neager))
        qfail(q, CORM_EINVAL, "bulk update and delete take only filters (no joins, loads or "
              "derived tables)%s", "");
    if (!q->err && is_update && !q->sets.n)
        qfail(q, CORM_EINVAL, "corm_update needs corm_set assignments%s", "");
    /* the session's changes to this model go first, whatever the autoflush
     * mode: the objects that match are reloaded afterwards */
    int rc = q->err ? CORM_OK : orm_flush(s, ORM_SCAN_ONE, q->mp);
    if (rc == CORM_OK)
        rc = matching_objects(q);
    if (rc < 0)
        return rc;
    sql_ctx x = { s->conn->drv, &s->sql, &s->params, &s->err, hook, s };
    util_buf_reset(&s->sql);
    s->params.n = 0;
    if (is_update) {
        util_buf_puts(x.b, "UPDATE ");
        sql_put_ident(&x, q->mp->model->table);
        util_buf_puts(x.b, " SET ");
        for (size_t i = 0; i < q->sets.n; i++) {
            const corm_expr *e = q->sets.v[i];
            if (i)
                util_buf_puts(x.b, ", ");
            sql_put_ident(&x, e->kids[0]->col->name);
            util_buf_puts(x.b, " = ");
            if ((rc = sql_put_value(&x, e->kids[0]->col, &e->vals[0], true)) < 0)
                return rc;
        }
    } else {
        util_buf_puts(x.b, "DELETE FROM ");
        sql_put_ident(&x, q->mp->model->table);
    }
    if ((rc = put_where(&x, q)) < 0)
        return rc;
    drv_stmt *st = NULL;
    if ((rc = orm_begin(s)) < 0 || (rc = run(s, &st)) < 0)
        return rc;
    if ((rc = s->conn->drv->step(st, &s->err)) < 0) {
        util_err_prefix(&s->err, "%s: bulk %s failed: ", q->mp->model->name,
                        is_update ? "update" : "delete");
        return rc;
    }
    *rowcount = s->conn->drv->changes(s->conn->dc);
    /* bring the session's objects in line with the rows */
    for (size_t i = 0; i < s->nscratch; i++) {
        orm_obj *o = s->scratch[i];
        if (is_update) {
            unsigned char *old = orm_snap_copy(s, o);
            if (!old || (rc = orm_journal(s, o, J_BULK_UPDATED, false, old)) < 0)
                return orm_set_error(s, CORM_ENOMEM, "out of memory after a bulk update");
            if ((rc = corm_refresh(s, orm_data(o))) < 0)
                return rc;
        } else {
            if ((rc = orm_journal(s, o, J_BULK_DELETED, false, NULL)) < 0)
                return rc;
            if (o->state == OBJ_DELETED)
                s->ndeleted--;
            o->state = OBJ_GONE; /* unmapped at COMMIT (see settle) */
        }
    }
    return CORM_OK;
}

int corm_update(corm_query *q, int64_t *rowcount) { return bulk(q, true, rowcount); }
int corm_delete_where(corm_query *q, int64_t *rowcount) { return bulk(q, false, rowcount); }

/* ---- by primary key ----------------------------------------------------------------------- */

static int load_by_key(corm_session *s, const sch_mapper *mp, const corm_value *key,
                       enum orm_load how, orm_obj **out)
{
    int rc;
    *out = NULL;
    if ((rc = orm_read(s)) < 0)
        return rc;
    s->params.n = 0;
    for (size_t c = 0; c < mp->npk; c++) {
        sql_param *p = sql_params_push(&s->params);
        if (!p)
            return orm_set_error(s, CORM_ENOMEM, "out of memory");
        if ((rc = sql_param_set(p, mp->pks[c], &key[c], false, &s->err)) < 0)
            return rc;
    }
    drv_stmt *st = NULL;
    if ((rc = sql_run_text(s->conn, &mp->sql_get, &s->params, &st, &s->err)) < 0)
        return rc;
    if ((rc = s->conn->drv->step(st, &s->err)) <= 0)
        return rc;
    rc = orm_load_row(s, mp, st, mp->model->columns, mp->model->ncolumns, how, out);
    s->conn->drv->reset(st);
    return rc;
}

static inline int get_by_key(corm_session *s, const sch_mapper *mp, const corm_value *pk,
                             void **out);

int corm_get_(corm_session *s, const corm_model *m, corm_value pk, void **out)
{
    util_err_clear(&s->err);
    *out = NULL;
    const sch_mapper *mp = sch_find(&s->e->meta, m);
    if (!mp)
        return orm_set_error(s, CORM_EINVAL, "model %s is not registered with the engine",
                             m ? m->name : "(null)");
    if (mp->npk > 1)
        return orm_set_error(s, CORM_EINVAL, "%s has a key of %zu columns: pass them all, with "
                             "corm_get_key", m->name, mp->npk);
    return get_by_key(s, mp, &pk, out);
}

int corm_get_key_(corm_session *s, const corm_model *m, const corm_value *pk, size_t n,
                  void **out)
{
    util_err_clear(&s->err);
    *out = NULL;
    const sch_mapper *mp = sch_find(&s->e->meta, m);
    if (!mp)
        return orm_set_error(s, CORM_EINVAL, "model %s is not registered with the engine",
                             m ? m->name : "(null)");
    if (!pk || n != mp->npk)
        return orm_set_error(s, CORM_EINVAL, "%s: its key has %zu column%s, %zu value%s given",
                             m->name, mp->npk, mp->npk == 1 ? "" : "s", n, n == 1 ? " was" : "s were");
    return get_by_key(s, mp, pk, out);
}

/* corm_get and corm_get_key past their checks: the map, else the database. */
static inline int get_by_key(corm_session *s, const sch_mapper *mp, const corm_value *pk, void **out)
{
    orm_obj *o = orm_imap_get(s, mp, pk);
    if (o && o->expired && o->state == OBJ_PERSISTENT && !corm_is_modified(s, orm_data(o))) {
        int rc = load_by_key(s, mp, pk, LOAD_KEEP, &o); /* read again */
        if (rc < 0 || !o)
            return rc; /* its row is gone: NULL, as for any missing row */
    }
    if (!o || o->state != OBJ_PERSISTENT) {
        if (o) /* deleted in this session */
            return CORM_OK;
        int rc;
        /* only inserts and deletes can change which row has a key (and
         * CORM_AUTOFLUSH_OFF flushes nothing: corm_merge's walk, a graph
         * half linked, relies on it) */
        if ((s->npending || s->ndeleted) && s->autoflush != CORM_AUTOFLUSH_OFF &&
            (rc = orm_flush(s, ORM_SCAN_NONE, mp)) < 0)
            return rc;
        if ((rc = load_by_key(s, mp, pk, LOAD_NEW, &o)) < 0)
            return rc;
        if (!o)
            return CORM_OK;
    }
    *out = orm_data(o);
    return CORM_OK;
}

int corm_refresh(corm_session *s, void *obj)
{
    orm_obj *o = orm_check(s, obj);
    if (!o)
        return s->err.code;
    if (o->state != OBJ_PERSISTENT && o->state != OBJ_DELETED)
        return orm_set_error(s, CORM_ESTATE, "%s: only a persistent object can be refreshed",
                             o->mp->model->name);
    corm_value key[8];
    if (o->has_snap)
        orm_snap_key(o, key);
    else
        orm_key_of(o->mp, obj, key);
    orm_obj *got;
    int rc = load_by_key(s, o->mp, key, LOAD_OVERWRITE, &got);
    if (rc < 0)
        return rc;
    if (!got) {
        char repr[256];
        return orm_set_error(s, CORM_ENOTFOUND, "%s: its row is gone",
                             corm_repr(obj, repr, sizeof repr));
    }
    return CORM_OK;
}

/* ---- raw SQL ------------------------------------------------------------------------------- */

/* Translate '?' placeholders for the driver, leaving quoted text alone. */
static int raw_sql(corm_session *s, const char *sql, size_t nparams)
{
    util_buf *b = &s->sql;
    size_t n = 0;
    char quote = 0;
    util_buf_reset(b);
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"' || *p == '`') {
            quote = *p;
        } else if (*p == '?') {
            n++;
            if (s->conn->drv->placeholder == DRV_PH_DOLLAR) {
                util_buf_printf(b, "$%zu", n);
                continue;
            }
        }
        util_buf_putc(b, *p);
    }
    if (n != nparams)
        return orm_set_error(s, CORM_EINVAL, "the SQL has %zu placeholders but %zu parameters "
                             "were given", n, nparams);
    return b->err ? orm_set_error(s, CORM_ENOMEM, "out of memory") : CORM_OK;
}

/* The word a statement that begins or ends a transaction, or a savepoint,
 * starts with; NULL for any other. Raw SQL may not: the session keeps
 * what its transaction did to undo it, and a COMMIT or ROLLBACK it did not
 * run would leave that record wrong (a raw BEGIN, its own next BEGIN
 * refused). */
static const char *txn_word(const char *sql)
{
    static const char *const words[] = { "BEGIN", "COMMIT", "ROLLBACK", "END", "ABORT",
                                         "SAVEPOINT", "RELEASE", "XA", NULL };
    const char *p = util_sql_skip_blank(sql);
    for (size_t i = 0; words[i]; i++)
        if (util_sql_take_word(&p, words[i]))
            return words[i];
    if (util_sql_take_word(&p, "START") && util_sql_take_word(&p, "TRANSACTION"))
        return "START TRANSACTION";
    if (util_sql_take_word(&p, "PREPARE") && util_sql_take_word(&p, "TRANSACTION"))
        return "PREPARE TRANSACTION";
    return NULL;
}

static int raw_begin(corm_session *s, const char *sql, const corm_value *params, size_t n,
                     drv_stmt **st)
{
    util_err_clear(&s->err);
    if (!sql)
        return orm_set_error(s, CORM_EINVAL, "no SQL given");
    const char *word = txn_word(sql);
    if (word)
        return orm_set_error(s, CORM_EINVAL, "raw SQL may not run %s: the session begins and "
                             "ends its transaction itself (corm_begin, corm_commit, "
                             "corm_rollback, and corm_begin_nested for savepoints)", word);
    int rc = orm_autoflush(s, NULL);
    if (rc < 0)
        return rc;
    /* Run in the session's transaction, such a statement would commit what
     * the session wrote behind its back (its rollback then undoing nothing):
     * refused while the transaction has written; else run on the primary
     * on its own, the transaction that only read ended first. */
    const drv_driver *d = s->e->drv;
    const char *commits = d->commits_first ? d->commits_first(sql) : NULL;
    if (commits && s->wrote)
        return orm_set_error(s, CORM_EINVAL, "raw SQL may not run %s while the session's "
                             "transaction has written: the server commits the transaction "
                             "before it runs it, so corm_rollback could not undo what was "
                             "written (corm_commit or corm_rollback first)", commits);
    if (commits) {
        orm_release_conn(s);
        s->primary_only = true;
        if ((rc = orm_conn(s)) < 0)
            return rc;
    }
    if ((rc = raw_sql(s, sql, n)) < 0)
        return rc;
    s->params.n = 0;
    for (size_t i = 0; i < n; i++) {
        sql_param *p = sql_params_push(&s->params);
        if (!p)
            return orm_set_error(s, CORM_ENOMEM, "out of memory");
        if ((rc = sql_param_set(p, NULL, &params[i], false, &s->err)) < 0)
            return rc;
    }
    if ((rc = run(s, st)) < 0)
        return rc;
    /* a statement that writes runs in the session's transaction, begun now
     * (on the primary: prepared on a replica, it is prepared there again) */
    if (!commits && !s->wrote && !s->conn->drv->stmt_readonly(*st)) {
        bool moved = s->conn_e != s->e;
        if (moved)
            s->conn->drv->reset(*st);
        rc = orm_begin(s);
        if (rc == CORM_OK && moved)
            rc = run(s, st);
    }
    return rc;
}

int corm_execute(corm_session *s, const char *sql, const corm_value *params, size_t nparams,
                 corm_result **out)
{
    drv_stmt *st = NULL;
    corm_result *r = NULL;
    if (out)
        *out = NULL;
    int rc = raw_begin(s, sql, params, nparams, &st);
    if (rc == CORM_OK)
        rc = orm_read_result(s, st, NULL, NULL, &r);
    if (rc == CORM_OK && out)
        *out = r;
    return rc;
}

int corm_execute_objects_(corm_session *s, const corm_model *m, const char *sql,
                          const corm_value *params, size_t nparams, void *out, size_t *n)
{
    *(void ***)out = NULL;
    *n = 0;
    const sch_mapper *mp = sch_find(&s->e->meta, m);
    if (!mp)
        return orm_set_error(s, CORM_EINVAL, "model %s is not registered with the engine",
                             m ? m->name : "(null)");
    drv_stmt *st = NULL;
    int rc = raw_begin(s, sql, params, nparams, &st);
    if (rc < 0)
        return rc;
    const drv_driver *d = s->conn->drv;
    size_t ncols = (size_t)d->column_count(st);
    const corm_column *cols[256] = { 0 };
    if (ncols > 256)
        ncols = 256;
    for (size_t i = 0; i < ncols; i++)
        cols[i] = sch_column(m, d->column_name(st, (int)i));
    for (size_t k = 0; k < m->ncolumns; k++) {
        bool found = false;
        for (size_t i = 0; i < ncols; i++)
            found |= cols[i] == m->columns[k];
        if (!found) {
            d->reset(st);
            return orm_set_error(s, CORM_ENOCOLUMN, "%s.%s: the SQL's result has no column of "
                                 "that name", m->name, m->columns[k]->name);
        }
    }
    s->nscratch = 0;
    while ((rc = d->step(st, &s->err)) == 1) {
        orm_obj *o;
        if ((rc = orm_load_row(s, mp, st, cols, ncols, LOAD_KEEP, &o)) < 0 ||
            (rc = orm_scratch_push(s, orm_data(o))) < 0) {
            d->reset(st);
            return rc;
        }
    }
    return rc < 0 ? rc : hand_over(s, out, n);
}

/* ---- several models a row ----------------------------------------------------------- */

int corm_tuples(corm_query *q, void ****rows, size_t *n)
{
    corm_session *s = q->s;
    sql_ctx x;
    *rows = NULL;
    *n = 0;
    int rc = begin(q, &x);
    if (rc < 0)
        return rc;
    const corm_model *models[9];
    size_t nscope = scope(q, models);
    for (size_t i = 0; i < q->nalso; i++) {
        bool in = q->also_as[i] && q->also_as[i]->joined;
        for (size_t k = 1; k < nscope && !q->also_as[i]; k++)
            in |= models[k] == q->also[i]->model;
        if (!in)
            return orm_set_error(s, CORM_EINVAL, "tuples: %s is not joined into the query of %s",
                                 q->also[i]->model->name, q->mp->model->name);
    }
    if (q->select.n || q->joined || q->neager)
        return orm_set_error(s, CORM_EINVAL, "tuples: a query of whole objects, without selected "
                             "columns or eager loads");
    if ((rc = compile_select(q, &x, q->limit, q->offset)) < 0)
        return rc;
    const drv_driver *d = s->conn->drv;
    size_t width = 1 + q->nalso;
    const corm_column *cols[9 * 64];
    size_t off[9], total = 0;
    const sch_mapper *mps[9] = { q->mp };
    for (size_t k = 0; k < q->nalso; k++)
        mps[k + 1] = q->also[k];
    for (size_t k = 0; k < width; k++) {
        off[k] = total;
        for (size_t i = 0; i < mps[k]->model->ncolumns; i++)
            cols[total++] = NULL;
    }
    drv_stmt *st = NULL;
    if ((rc = run(s, &st)) < 0)
        return rc;
    s->nscratch = 0;
    while ((rc = d->step(st, &s->err)) == 1) {
        void **row = util_arena_alloc(&s->arena, width * sizeof *row);
        if (!row) {
            rc = orm_set_error(s, CORM_ENOMEM, "out of memory reading tuples");
            break;
        }
        for (size_t k = 0; rc >= 0 && k < width; k++) {
            const corm_model *m = mps[k]->model;
            corm_value probe;
            row[k] = NULL;
            if (d->column(st, (int)(off[k] + (size_t)mps[k]->pk->index), &probe) == CORM_V_NULL)
                continue; /* an outer join found nothing */
            for (size_t i = 0; i < m->ncolumns; i++)
                cols[off[k] + i] = m->columns[i];
            orm_obj *o;
            rc = orm_load_row(s, mps[k], st, cols, off[k] + m->ncolumns, LOAD_KEEP, &o);
            for (size_t i = 0; i < m->ncolumns; i++)
                cols[off[k] + i] = NULL;
            if (rc >= 0)
                row[k] = orm_data(o);
        }
        if (rc >= 0)
            rc = orm_scratch_push(s, row);
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        d->reset(st);
        return rc;
    }
    return hand_over(s, rows, n);
}
