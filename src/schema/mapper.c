/*
 * mapper.c — validating models and deriving their mappers.
 *
 * Every mistake a model declaration can hold is found here, when the engine
 * opens, not at the first query: duplicate names, no or two primary keys,
 * unknown types, a client default that does not parse as its column's
 * type, a foreign key to a model that is not registered.
 */
#include "schema/schema.h"
#include "sql/pack.h"
#include "util/alloc.h"
#include "util/numeric.h"
#include "util/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const corm_column *sch_column(const corm_model *m, const char *name)
{
    for (size_t i = 0; i < m->ncolumns; i++)
        if (strcmp(m->columns[i]->name, name) == 0)
            return m->columns[i];
    return NULL;
}

const sch_rel *sch_rel_of(const sch_meta *meta, const corm_relation *rel)
{
    const sch_mapper *mp = rel ? sch_find(meta, rel->model) : NULL;
    if (!mp || rel->index < 0 || (size_t)rel->index >= mp->nrels || mp->rels[rel->index].rel != rel)
        return NULL;
    return &mp->rels[rel->index];
}

const sch_mapper *sch_find(const sch_meta *meta, const corm_model *m)
{
    for (size_t i = 0; i < meta->n; i++)
        if (meta->mappers[i].model == m)
            return &meta->mappers[i];
    return NULL;
}

void sch_meta_free(sch_meta *m)
{
    for (size_t i = 0; i < m->n; i++) {
        util_free(m->mappers[i].proto);
        util_free(m->mappers[i].packed);
        util_free(m->mappers[i].load);
        util_free(m->mappers[i].sql_cols);
        util_free(m->mappers[i].sql_get.p);
        util_free(m->mappers[i].rels);
    }
    util_free(m->mappers);
    m->mappers = NULL;
    m->n = 0;
}

static int bad(util_err *err, const corm_model *m, const corm_column *c, const char *what)
{
    if (c)
        return util_err_set(err, CORM_ESCHEMA, "model %s, column %s: %s", m->name, c->name, what);
    return util_err_set(err, CORM_ESCHEMA, "model %s: %s", m ? m->name : "(null)", what);
}

static size_t expected_size(const corm_column *c)
{
    switch (c->type) {
    case CORM_TYPE_INTEGER:
    case CORM_TYPE_BIGINT: return sizeof(int64_t);
    case CORM_TYPE_SMALLINT: return sizeof(int16_t);
    case CORM_TYPE_BOOLEAN: return sizeof(bool);
    case CORM_TYPE_FLOAT: return sizeof(double);
    case CORM_TYPE_NUMERIC: return sizeof(corm_numeric);
    case CORM_TYPE_STRING:
    case CORM_TYPE_TEXT:
    case CORM_TYPE_JSON: return sizeof(const char *);
    case CORM_TYPE_DATE: return sizeof(corm_date);
    case CORM_TYPE_TIME: return sizeof(corm_time);
    case CORM_TYPE_DATETIME: return sizeof(corm_datetime);
    case CORM_TYPE_BLOB: return sizeof(corm_blob);
    case CORM_TYPE_UUID: return sizeof(corm_uuid);
    case CORM_TYPE_ENUM: return c->size; /* checked separately */
    default: return 0;
    }
}

/* Parse a client default into the prototype's field. */
static int parse_default(const corm_model *m, const corm_column *c, void *obj, util_err *err)
{
    const char *t = c->client_default;
    char *f = (char *)obj + c->offset;
    char *end;
    int rc = CORM_OK;
    switch (c->type) {
    case CORM_TYPE_INTEGER:
    case CORM_TYPE_BIGINT:
    case CORM_TYPE_SMALLINT: {
        errno = 0;
        long long v = strtoll(t, &end, 10);
        if (errno || *end || end == t || (c->type == CORM_TYPE_SMALLINT && (v < INT16_MIN || v > INT16_MAX)))
            return bad(err, m, c, "the default is not an integer of the column's range");
        if (c->type == CORM_TYPE_SMALLINT)
            *(int16_t *)(void *)f = (int16_t)v;
        else
            *(int64_t *)(void *)f = v;
        return CORM_OK;
    }
    case CORM_TYPE_BOOLEAN:
        if (strcmp(t, "true") == 0 || strcmp(t, "1") == 0)
            *(bool *)f = true;
        else if (strcmp(t, "false") == 0 || strcmp(t, "0") == 0)
            *(bool *)f = false;
        else
            return bad(err, m, c, "the default is not true, false, 1 or 0");
        return CORM_OK;
    case CORM_TYPE_FLOAT: {
        double v = strtod(t, &end);
        if (*end || end == t)
            return bad(err, m, c, "the default is not a number");
        memcpy(f, &v, sizeof v);
        return CORM_OK;
    }
    case CORM_TYPE_NUMERIC: {
        corm_numeric n;
        if (corm_numeric_parse(t, &n) < 0 || util_numeric_fit(&n, c->precision, c->scale) < 0)
            return bad(err, m, c, "the default is not a decimal that fits the column");
        memcpy(f, &n, sizeof n);
        return CORM_OK;
    }
    case CORM_TYPE_STRING:
        if (util_utf8_len(t, strlen(t)) > (size_t)c->length)
            return bad(err, m, c, "the default is longer than the column allows");
        memcpy(f, &t, sizeof t);
        return CORM_OK;
    case CORM_TYPE_JSON:
        if (!util_json_valid(t, strlen(t)))
            return bad(err, m, c, "the default is not valid JSON");
        /* fall through */
    case CORM_TYPE_TEXT:
        memcpy(f, &t, sizeof t);
        return CORM_OK;
    case CORM_TYPE_DATE: rc = corm_date_parse(t, (corm_date *)(void *)f); break;
    case CORM_TYPE_TIME: rc = corm_time_parse(t, (corm_time *)(void *)f); break;
    case CORM_TYPE_DATETIME: rc = corm_datetime_parse(t, (corm_datetime *)(void *)f); break;
    case CORM_TYPE_UUID: rc = corm_uuid_parse(t, (corm_uuid *)(void *)f); break;
    case CORM_TYPE_BLOB: {
        corm_blob b = { t, strlen(t) };
        memcpy(f, &b, sizeof b);
        return CORM_OK;
    }
    case CORM_TYPE_ENUM:
        for (int64_t i = 0; c->enum_names[i]; i++)
            if (strcmp(c->enum_names[i], t) == 0) {
                switch (c->size) {
                case 1: *(int8_t *)f = (int8_t)i; break;
                case 2: *(int16_t *)(void *)f = (int16_t)i; break;
                case 4: *(int32_t *)(void *)f = (int32_t)i; break;
                default: *(int64_t *)(void *)f = i; break;
                }
                return CORM_OK;
            }
        return bad(err, m, c, "the default is not one of the enum's names");
    default:
        break;
    }
    return rc < 0 ? bad(err, m, c, "the default is not a valid date or time") : CORM_OK;
}

static bool is_int_type(corm_type t)
{
    return t == CORM_TYPE_INTEGER || t == CORM_TYPE_BIGINT || t == CORM_TYPE_SMALLINT;
}

static int check_column(const corm_model *m, const corm_column *c, size_t i, util_err *err)
{
    if (!c || !c->name || !*c->name)
        return bad(err, m, NULL, "a column has no name");
    if (c->model != m || c->index != (int)i)
        return bad(err, m, c, "the column's descriptor does not belong to this model");
    if (c->type <= 0 || c->type >= CORM_TYPE_MAX_)
        return bad(err, m, c, "unknown column type");
    if (c->type == CORM_TYPE_STRING && c->length <= 0)
        return bad(err, m, c, "STRING(n) needs n > 0");
    if (c->type == CORM_TYPE_NUMERIC &&
        (c->precision < 1 || c->precision > 38 || c->scale < 0 || c->scale > c->precision))
        return bad(err, m, c, "NUMERIC(p, s) needs 1 <= p <= 38 and 0 <= s <= p");
    if (c->type == CORM_TYPE_ENUM) {
        if (!c->enum_names || !c->enum_names[0])
            return bad(err, m, c, "ENUM needs at least one name");
        for (const char *const *n = c->enum_names; *n; n++)
            if (!**n)
                return bad(err, m, c, "ENUM names must not be empty");
        if (c->size != 1 && c->size != 2 && c->size != 4 && c->size != 8)
            return bad(err, m, c, "ENUM field is not an integer-sized enum");
    } else if (c->size != expected_size(c)) {
        return bad(err, m, c, "the field's C type does not match the column type");
    }
    for (size_t j = 0; j < i; j++)
        if (strcmp(m->columns[j]->name, c->name) == 0)
            return bad(err, m, c, "duplicate column name");
    if (c->client_default && c->default_fn)
        return bad(err, m, c, "both CORM_DEFAULT and CORM_DEFAULT_FN given");
    if (c->on_delete > CORM_FK_SET_DEFAULT || c->on_update > CORM_FK_SET_DEFAULT ||
        ((c->on_delete || c->on_update) && !c->fk))
        return bad(err, m, c, "ON DELETE / ON UPDATE needs a foreign key and a known action");
    if ((c->on_delete == CORM_FK_SET_NULL || c->on_update == CORM_FK_SET_NULL) &&
        (c->flags & CORM_NOT_NULL))
        return bad(err, m, c, "SET NULL on a NOT NULL column");
    return CORM_OK;
}

static int check_model(const corm_model *m, util_err *err)
{
    if (!m->name || !*m->name || !m->table || !*m->table)
        return bad(err, m, NULL, "a model needs a name and a table name");
    if (m->ncolumns == 0)
        return bad(err, m, NULL, "a model needs columns");
    const corm_column *pk = NULL, *version = NULL;
    size_t npk = 0;
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        int rc = check_column(m, c, i, err);
        if (rc < 0)
            return rc;
        if (c->flags & CORM_VERSION) {
            if (version)
                return bad(err, m, c, "a second version column (CORM_VERSION); a model has one");
            if ((c->type != CORM_TYPE_INTEGER && c->type != CORM_TYPE_BIGINT) ||
                (c->flags & CORM_PRIMARY_KEY))
                return bad(err, m, c, "a version column (CORM_VERSION) is an INTEGER or BIGINT "
                           "column that is not the primary key");
            version = c;
        }
        if (c->flags & CORM_PRIMARY_KEY) {
            if (++npk > 8)
                return bad(err, m, c, "a primary key of more than 8 columns");
            pk = c;
        }
    }
    if (!pk)
        return bad(err, m, NULL, "no primary key; mark one column CORM_PRIMARY_KEY (several, "
                   "for a composite key)");
    for (size_t i = 0; i < m->nconstraints; i++) {
        const char *const *cols = m->constraints[i].columns;
        if (!cols || !cols[0])
            return bad(err, m, NULL, "a constraint names no columns");
        for (; *cols; cols++)
            if (!sch_column(m, *cols)) {
                char what[200];
                snprintf(what, sizeof what, "a constraint names column '%s', which the model "
                         "does not have", *cols);
                return bad(err, m, NULL, what);
            }
    }
    return CORM_OK;
}

static const corm_relation *relation_named(const corm_model *m, const char *name)
{
    for (size_t i = 0; m->relations && i < m->nrelations; i++)
        if (strcmp(m->relations[i]->name, name) == 0)
            return m->relations[i];
    return NULL;
}

static int bad_rel(util_err *err, const corm_model *m, const corm_relation *r, const char *what)
{
    return util_err_set(err, CORM_ESCHEMA, "model %s, relationship %s: %s", m->name, r->name, what);
}

/* Resolve one relationship: its target mapper, foreign key and inverse. */
static int resolve_rel(sch_meta *meta, sch_mapper *mp, size_t i, util_err *err)
{
    const corm_model *m = mp->model;
    const corm_relation *r = m->relations[i];
    sch_rel *sr = &mp->rels[i];
    char what[256];
    if (!r || r->model != m || r->index != (int)i)
        return bad(err, m, NULL, "a relationship's descriptor does not belong to this model");
    sr->rel = r;
    if (!(sr->target = sch_find(meta, r->target))) {
        snprintf(what, sizeof what, "its target %s is not registered",
                 r->target ? r->target->name : "(null)");
        return bad_rel(err, m, r, what);
    }
    const corm_relation *inv = r->back && *r->back ? relation_named(r->target, r->back) : NULL;
    if (r->back && *r->back && !inv) {
        snprintf(what, sizeof what, "%s has no relationship named '%s'", r->target->name, r->back);
        return bad_rel(err, m, r, what);
    }
    sr->inverse = inv;
    switch (r->kind) {
    case CORM_REL_MANY_TO_ONE:
        if (!r->fk || r->fk->model != m || !r->fk->fk || r->fk->fk->model != r->target)
            return bad_rel(err, m, r, "its column must be a foreign key to the target model");
        sr->fk = r->fk;
        if (inv && inv->kind == CORM_REL_MANY_TO_ONE)
            return bad_rel(err, m, r, "both sides are many-to-one");
        break;
    case CORM_REL_ONE_TO_MANY:
    case CORM_REL_ONE_TO_ONE:
        if (!inv || inv->kind != CORM_REL_MANY_TO_ONE || inv->target != m) {
            snprintf(what, sizeof what, "needs the many-to-one relationship on %s that points "
                     "back here (back = '%s')", r->target->name, r->back ? r->back : "");
            return bad_rel(err, m, r, what);
        }
        sr->fk = inv->fk;
        if ((r->cascade & CORM_PASSIVE_DELETES) &&
            (!(r->cascade & CORM_CASCADE_DELETE) || sr->fk->on_delete != CORM_FK_CASCADE)) {
            snprintf(what, sizeof what, "CORM_PASSIVE_DELETES leaves the children to the "
                     "database: it needs CORM_CASCADE_DELETE, and %s.%s declared with "
                     "CORM_ON_DELETE(CORM_FK_CASCADE)", r->target->name, sr->fk->name);
            return bad_rel(err, m, r, what);
        }
        break;
    case CORM_REL_MANY_TO_MANY: {
        const sch_mapper *a = r->through ? sch_find(meta, r->through) : NULL;
        if (!a)
            return bad_rel(err, m, r, "its association model is not registered");
        for (size_t k = 0; k < a->model->ncolumns; k++) {
            const corm_column *c = a->model->columns[k];
            if (c->fk && c->fk->model == m && !sr->fk)
                sr->fk = c;
            else if (c->fk && c->fk->model == r->target && !sr->fk_target)
                sr->fk_target = c;
        }
        if (!sr->fk || !sr->fk_target)
            return bad_rel(err, m, r, "its association model needs a foreign key to each side");
        if (inv && inv->kind != CORM_REL_MANY_TO_MANY)
            return bad_rel(err, m, r, "its inverse must be many-to-many too");
        sr->through = a;
        break;
    }
    default:
        return bad_rel(err, m, r, "unknown relationship kind");
    }
    return CORM_OK;
}

static int resolve_rels(sch_meta *meta, util_err *err)
{
    for (size_t k = 0; k < meta->n; k++) {
        sch_mapper *mp = &meta->mappers[k];
        const corm_model *m = mp->model;
        mp->nrels = m->relations ? m->nrelations : 0;
        if (mp->nrels > 64)
            return bad(err, m, NULL, "more than 64 relationships");
        if (mp->nrels && !(mp->rels = util_calloc(mp->nrels, sizeof *mp->rels)))
            return util_err_set(err, CORM_ENOMEM, "out of memory validating models");
        for (size_t i = 0; i < mp->nrels; i++) {
            int rc = resolve_rel(meta, mp, i, err);
            if (rc < 0)
                return rc;
            mp->has_to_one |= m->relations[i]->kind == CORM_REL_MANY_TO_ONE;
            for (size_t j = 0; j < i; j++)
                if (strcmp(m->relations[j]->name, m->relations[i]->name) == 0 ||
                    sch_column(m, m->relations[i]->name))
                    return bad_rel(err, m, m->relations[i], "duplicate name");
        }
    }
    return CORM_OK;
}

static bool registered(const corm_model *const *models, size_t n, const corm_model *m)
{
    for (size_t i = 0; i < n; i++)
        if (models[i] == m)
            return true;
    return false;
}

static bool registered(const corm_model *const *models, size_t n, const corm_model *m);

static size_t count_names(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* How many columns t's primary key has. */
static size_t key_width(const corm_model *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->ncolumns; i++)
        n += (t->columns[i]->flags & CORM_PRIMARY_KEY) != 0;
    return n;
}

bool sch_unique_alone(const corm_column *c)
{
    const corm_model *m = c->model;
    if ((c->flags & CORM_UNIQUE) || ((c->flags & CORM_PRIMARY_KEY) && key_width(m) == 1))
        return true;
    for (size_t i = 0; i < m->nconstraints; i++) {
        const corm_constraint *k = &m->constraints[i];
        if (k->kind == CORM_C_UNIQUE && k->columns[0] && !k->columns[1] &&
            strcmp(k->columns[0], c->name) == 0)
            return true;
    }
    return false;
}

/* Whether target has a unique constraint over exactly these columns (its
 * primary key, when it has these columns). */
static bool unique_set(const corm_model *t, const char *const *cols)
{
    size_t n = count_names(cols);
    if (n == 1) {
        const corm_column *c = sch_column(t, cols[0]);
        return c && sch_unique_alone(c);
    }
    if (key_width(t) == n) {
        size_t found = 0;
        for (size_t a = 0; a < n; a++) {
            const corm_column *c = sch_column(t, cols[a]);
            found += c && (c->flags & CORM_PRIMARY_KEY);
        }
        if (found == n)
            return true;
    }
    for (size_t i = 0; i < t->nconstraints; i++) {
        const corm_constraint *k = &t->constraints[i];
        if (k->kind != CORM_C_UNIQUE || count_names(k->columns) != n)
            continue;
        size_t found = 0;
        for (size_t a = 0; a < n; a++)
            for (size_t b = 0; b < n; b++)
                found += strcmp(cols[a], k->columns[b]) == 0;
        if (found == n)
            return true;
    }
    return false;
}

static int check_composite_fk(const corm_model *const *models, size_t n, const corm_model *m,
                              const corm_constraint *k, util_err *err)
{
    if (!k->ref || !registered(models, n, k->ref))
        return bad(err, m, NULL, "a composite foreign key references a model that is not registered");
    if (count_names(k->columns) != count_names(k->ref_columns))
        return bad(err, m, NULL, "a composite foreign key has not as many columns as it references");
    for (const char *const *c = k->ref_columns; *c; c++)
        if (!sch_column(k->ref, *c)) {
            char what[200];
            snprintf(what, sizeof what, "a composite foreign key references %s.%s, which does "
                     "not exist", k->ref->name, *c);
            return bad(err, m, NULL, what);
        }
    if (!unique_set(k->ref, k->ref_columns))
        return bad(err, m, NULL, "a composite foreign key must reference a unique set of columns "
                   "(CORM_UNIQUE_TOGETHER on the referenced model)");
    return CORM_OK;
}

static int check_fks(const corm_model *const *models, size_t n, util_err *err)
{
    for (size_t k = 0; k < n; k++) {
        const corm_model *m = models[k];
        for (size_t i = 0; i < m->nconstraints; i++)
            if (m->constraints[i].kind == CORM_C_FOREIGN_KEY) {
                int rc = check_composite_fk(models, n, m, &m->constraints[i], err);
                if (rc < 0)
                    return rc;
            }
        for (size_t i = 0; i < m->ncolumns; i++) {
            const corm_column *c = m->columns[i], *t = c->fk;
            if (!t)
                continue;
            if (!registered(models, n, t->model))
                return bad(err, m, c, "foreign key to a model that is not registered");
            if (!(is_int_type(c->type) && is_int_type(t->type)) && c->type != t->type)
                return bad(err, m, c, "foreign key column's type differs from the key's");
            if (!sch_unique_alone(t))
                return bad(err, m, c, (t->flags & CORM_PRIMARY_KEY)
                           ? "foreign key to one column of a composite key: reference every "
                             "column of it with CORM_FOREIGN_KEY"
                           : "foreign key must reference a primary key or unique column");
        }
    }
    return CORM_OK;
}

/* Order models so that every model comes after the models it references. */
static int sort_models(const corm_model *const *models, size_t n, const corm_model **out,
                       util_err *err)
{
    size_t done = 0;
    char *placed = util_calloc(n, 1);
    if (!placed)
        return util_err_set(err, CORM_ENOMEM, "out of memory validating models");
    while (done < n) {
        size_t before = done;
        for (size_t k = 0; k < n; k++) {
            if (placed[k])
                continue;
            bool ready = true;
            const corm_model *m = models[k];
            for (size_t i = 0; i < m->ncolumns + m->nconstraints && ready; i++) {
                const corm_model *t = i < m->ncolumns
                    ? (m->columns[i]->fk ? m->columns[i]->fk->model : NULL)
                    : (m->constraints[i - m->ncolumns].kind == CORM_C_FOREIGN_KEY
                           ? m->constraints[i - m->ncolumns].ref : NULL);
                if (!t || t == m)
                    continue;
                for (size_t j = 0; j < n; j++)
                    if (models[j] == t && !placed[j])
                        ready = false;
            }
            if (ready) {
                placed[k] = 1;
                out[done++] = models[k];
            }
        }
        if (done == before) {
            util_free(placed);
            return util_err_set(err, CORM_ESCHEMA, "the models' foreign keys form a cycle");
        }
    }
    util_free(placed);
    return CORM_OK;
}

static int build_sql(sch_mapper *mp, const drv_driver *d, util_err *err)
{
    util_buf b = UTIL_BUF_INIT;
    sql_params none = { 0 };
    sql_ctx x = { d, &b, &none, err };
    const corm_model *m = mp->model;
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (i)
            util_buf_puts(&b, ", ");
        sql_put_column(&x, m->columns[i]);
    }
    if (b.err || !(mp->sql_cols = util_strdup(util_buf_str(&b))))
        goto nomem;
    mp->sql_cols_len = b.len;
    util_buf_reset(&b);
    util_buf_printf(&b, "SELECT %s FROM ", mp->sql_cols);
    sql_put_ident(&x, m->table);
    util_buf_puts(&b, " WHERE ");
    for (size_t k = 0; k < mp->npk; k++) { /* the key's columns are parameters 1, 2, ... */
        if (k)
            util_buf_puts(&b, " AND ");
        sql_put_column(&x, mp->pks[k]);
        util_buf_puts(&b, " = ");
        none.n = k + 1;
        sql_put_placeholder(&x);
    }
    if (b.err || !(mp->sql_get.p = util_strdup(util_buf_str(&b))))
        goto nomem;
    mp->sql_get.len = b.len;
    mp->sql_get.hash = sql_hash(b.p, b.len);
    util_buf_free(&b);
    return CORM_OK;
nomem:
    util_buf_free(&b);
    return util_err_set(err, CORM_ENOMEM, "out of memory preparing model %s", m->name);
}

static int build_mapper(sch_mapper *mp, const corm_model *m, const drv_driver *d, util_err *err)
{
    mp->model = m;
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        if ((c->flags & CORM_PRIMARY_KEY) && mp->npk < 8) {
            if (!mp->pk)
                mp->pk = c;
            mp->pks[mp->npk++] = c;
        }
        if (c->flags & CORM_VERSION)
            mp->version = c;
        mp->has_server_defaults |= c->server_default != NULL;
        mp->has_default_fns |= c->default_fn != NULL;
    }
    mp->pk_autoinc = mp->npk == 1 &&
                     (mp->pk->type == CORM_TYPE_INTEGER || mp->pk->type == CORM_TYPE_BIGINT);
    mp->pk_int = mp->pk_autoinc && mp->pk->size == sizeof(int64_t);
    /* NULL flags only for nullable scalar columns, up to the last of them */
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        bool pointer = c->type == CORM_TYPE_STRING || c->type == CORM_TYPE_TEXT ||
                       c->type == CORM_TYPE_JSON || c->type == CORM_TYPE_BLOB;
        if (!pointer && !(c->flags & (CORM_NOT_NULL | CORM_PRIMARY_KEY)))
            mp->nwords = i / 64 + 1;
    }
    size_t fields = (m->size + 7) & ~(size_t)7;
    bool rels = m->relations && m->nrelations;
    mp->loaded_off = fields + mp->nwords * 8;
    mp->stride = mp->loaded_off + (rels ? 8 : 0);
    mp->snap_max = mp->nwords * 10;
    for (size_t i = 0; i < m->ncolumns; i++)
        mp->snap_max += sql_field_pack_max(m->columns[i]);
    if (!(mp->packed = util_calloc(m->ncolumns ? m->ncolumns : 1, sizeof *mp->packed)))
        return util_err_set(err, CORM_ENOMEM, "out of memory preparing model %s", m->name);
    size_t k = 0;
    for (size_t c = 0; c < mp->npk; c++)
        mp->packed[k++] = mp->pks[c];
    for (size_t i = 0; i < m->ncolumns; i++)
        if (!(m->columns[i]->flags & CORM_PRIMARY_KEY))
            mp->packed[k++] = m->columns[i];
    if (k != m->ncolumns) /* a key of more columns than pks holds: never packed */
        mp->snap_max = SIZE_MAX;
    if (!(mp->load = util_calloc(m->ncolumns ? m->ncolumns : 1, 1)))
        return util_err_set(err, CORM_ENOMEM, "out of memory preparing model %s", m->name);
    for (size_t i = 0; i < m->ncolumns; i++)
        mp->load[i] = sql_load_of(m->columns[i]);
    if (!(mp->proto = util_calloc(1, mp->stride)))
        return util_err_set(err, CORM_ENOMEM, "out of memory preparing model %s", m->name);
    /* a new object's collections are loaded (empty: no row can point at it
     * yet); its many-to-ones follow its keys once flushed */
    uint64_t loaded = 0;
    for (size_t i = 0; rels && i < m->nrelations && i < 64; i++)
        if (m->relations[i] && m->relations[i]->kind != CORM_REL_MANY_TO_ONE)
            loaded |= (uint64_t)1 << i;
    if (rels)
        memcpy(mp->proto + mp->loaded_off, &loaded, sizeof loaded);
    uint64_t *nulls = (uint64_t *)(void *)(mp->proto + fields);
    for (size_t i = 0; i < m->ncolumns; i++) {
        const corm_column *c = m->columns[i];
        if (c->client_default) {
            int rc = parse_default(m, c, mp->proto, err);
            if (rc < 0)
                return rc;
        } else if (!(c->flags & (CORM_NOT_NULL | CORM_PRIMARY_KEY)) && !c->default_fn &&
                   (c->type == CORM_TYPE_DATE || c->type == CORM_TYPE_TIME ||
                    c->type == CORM_TYPE_DATETIME || c->fk)) {
            /* A new object's numbers and booleans start as 0 and false, real
             * values; its pointers start NULL. A date has no zero value and a
             * key 0 points at nothing, so unset nullable dates and foreign
             * keys start NULL. */
            nulls[i >> 6] |= (uint64_t)1 << (i & 63);
        }
    }
    return build_sql(mp, d, err);
}

int sch_meta_build(sch_meta *out, const corm_model *const *models, const drv_driver *d,
                   util_err *err)
{
    size_t n = 0;
    memset(out, 0, sizeof *out);
    if (!models)
        return util_err_set(err, CORM_ESCHEMA, "no models given (a NULL-terminated array is needed)");
    while (models[n])
        n++;
    for (size_t k = 0; k < n; k++) {
        int rc = check_model(models[k], err);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < k; j++) {
            if (models[j] == models[k] || strcmp(models[j]->name, models[k]->name) == 0)
                return bad(err, models[k], NULL, "registered twice (duplicate model name)");
            if (strcmp(models[j]->table, models[k]->table) == 0)
                return bad(err, models[k], NULL, "its table name is also another model's");
        }
    }
    int rc = check_fks(models, n, err);
    if (rc < 0)
        return rc;
    const corm_model **order = util_calloc(n ? n : 1, sizeof *order);
    if (!order)
        return util_err_set(err, CORM_ENOMEM, "out of memory validating models");
    if ((rc = sort_models(models, n, order, err)) < 0)
        goto done;
    if (!(out->mappers = util_calloc(n ? n : 1, sizeof *out->mappers))) {
        rc = util_err_set(err, CORM_ENOMEM, "out of memory validating models");
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        out->n = k + 1;
        out->mappers[k].rank = k;
        if ((rc = build_mapper(&out->mappers[k], order[k], d, err)) < 0)
            goto done;
    }
    rc = resolve_rels(out, err);
    for (size_t k = 0; rc == CORM_OK && k < out->n; k++) {
        sch_mapper *mp = &out->mappers[k];
        mp->leaf = true;
        for (size_t i = 0; i < mp->nrels; i++)
            mp->leaf &= mp->rels[i].rel->kind == CORM_REL_MANY_TO_ONE;
        for (size_t j = 0; mp->leaf && j < out->n; j++) {
            const corm_model *m = out->mappers[j].model;
            for (size_t i = 0; i < m->ncolumns; i++)
                mp->leaf &= !m->columns[i]->fk || m->columns[i]->fk->model != mp->model;
        }
    }
done:
    util_free(order);
    if (rc < 0)
        sch_meta_free(out);
    return rc;
}
