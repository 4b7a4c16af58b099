/*
 * inspect.c — `db inspect`: the model declarations for the tables of a live
 * database, as sqlacodegen and Django's inspectdb write them, so that a
 * program can start from a database corm did not create.
 *
 * The database is read by the driver's reflection, the same reading `db
 * check` compares the models with, and every choice here is made so that
 * check finds nothing to report on the header it writes:
 *
 *   - a column's corm type is the first whose DDL on this backend names
 *     the reflected type (sch_same_type, as check compares them); where
 *     none does ("integer" on PostgreSQL, where corm writes BIGINT, or a
 *     type corm has not), the nearest corm type by SQLite's affinity rules
 *     with CORM_SQL_TYPE holding the database's own words;
 *   - names that are not C identifiers become fields with CORM_NAME;
 *   - one-column uniques and indexes become flags, others CORM_UNIQUE_TOGETHER
 *     and CORM_INDEX_ON; defaults CORM_SERVER_DEFAULT as the database
 *     keeps them; checks (where the database keeps their text) CORM_CHECK;
 *   - a one-column foreign key to another table's key is CORM_FK and the
 *     relationships it implies: a many-to-one on this side and a
 *     one-to-many (one-to-one when the column is unique) on the other; a
 *     table of a key and two such foreign keys is an association, and its
 *     two ends get a many-to-many through it.
 *
 * A table a model cannot describe (no one-column primary key, more than 64
 * columns) is left out with a comment saying why, and said on notes.
 */
#include "migrate/migrate.h"
#include "orm/orm.h"
#include "util/alloc.h"
#include "util/buf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_ 64
#define MAX_COLUMNS 64 /* what the model macros take */

typedef struct icol {
    const drv_rcolumn *rc;
    char field[NAME_MAX_];
    char type[48];          /* "CORM_STRING(80)" */
    const char *sql_type;   /* the database's words, when no corm type is them */
    unsigned flags;
    sch_span check;         /* a CHECK of the table, given to this column */
    const drv_rfk *fk;      /* a one-column foreign key from this column */
    int target;             /* ... to this model, or -1 */
    int target_col;         /* ... and its column */
    bool referenced;        /* a foreign key points at it: declared ahead */
} icol;

typedef struct irel {
    char name[NAME_MAX_];
    char kind[3 * NAME_MAX_ + 40]; /* "CORM_MANY_TO_ONE(User, user_id, posts)" */
} irel;

typedef struct imodel {
    const drv_rtable *t;
    char name[NAME_MAX_], lower[NAME_MAX_];
    icol *cols;
    size_t ncols;
    int pk;                 /* the key column, when there is one */
    const char *skip;       /* why the table is left out, or NULL */
    bool assoc;             /* a many-to-many's association table */
    irel *rels;
    size_t nrels, caprels;
    util_buf cons;          /* ", CORM_UNIQUE_TOGETHER(...)" ... */
    util_buf notes;         /* comment lines */
} imodel;

typedef struct inspector {
    const drv_driver *d;
    imodel *m;
    size_t n;
    util_err *err;
} inspector;

/* ---- names ---------------------------------------------------------------- */

static bool is_keyword(const char *s)
{
    static const char *const words[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
        "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
        "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
        "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "bool", "true",
        "false", "class", "delete", "new", "private", "protected", "public", "template", "this",
        "namespace", "operator", "virtual", "friend", "typename", "NULL", NULL
    };
    for (size_t i = 0; words[i]; i++)
        if (strcmp(words[i], s) == 0)
            return true;
    return false;
}

/* A C identifier for a column or relationship: other characters become
 * '_', a leading digit gets "c_", a keyword a trailing '_'. */
static void field_ident(char *out, const char *name)
{
    size_t k = 0;
    if (!isalpha((unsigned char)name[0]) && name[0] != '_')
        k = (size_t)snprintf(out, NAME_MAX_, "c_");
    for (; *name && k + 2 < NAME_MAX_; name++)
        out[k++] = isalnum((unsigned char)*name) ? *name : '_';
    out[k] = '\0';
    if (is_keyword(out))
        strcat(out, "_");
}

/* A model's name: the table's words in CamelCase ("order_items" and
 * "Order Items" are OrderItems); a leading digit gets "T". */
static void model_ident(char *out, const char *table)
{
    size_t k = 0;
    bool up = true;
    if (!isalpha((unsigned char)table[0]))
        out[k++] = 'T';
    for (; *table && k + 4 < NAME_MAX_; table++) {
        if (!isalnum((unsigned char)*table)) {
            up = true;
            continue;
        }
        out[k++] = up ? (char)toupper((unsigned char)*table) : *table;
        up = false;
    }
    out[k] = '\0';
}

/* The plural of a lower-case name, roughly as English makes it; a name
 * ending in s is taken to be one already ("orders"). */
static void plural(char *out, const char *s)
{
    size_t n = strlen(s);
    if (n > NAME_MAX_ - 4)
        n = NAME_MAX_ - 4;
    bool vowel = n > 1 && strchr("aeiou", s[n - 2]);
    if (n && s[n - 1] == 'y' && !vowel)
        snprintf(out, NAME_MAX_, "%.*sies", (int)n - 1, s);
    else if (n && s[n - 1] == 's')
        snprintf(out, NAME_MAX_, "%.*s", (int)n, s);
    else if (n && (strchr("xz", s[n - 1]) || (n > 1 && s[n - 1] == 'h' && strchr("cs", s[n - 2]))))
        snprintf(out, NAME_MAX_, "%.*ses", (int)n, s);
    else
        snprintf(out, NAME_MAX_, "%.*ss", (int)n, s);
}

static bool name_taken(const imodel *m, const char *name)
{
    for (size_t i = 0; i < m->ncols; i++)
        if (strcmp(m->cols[i].field, name) == 0)
            return true;
    for (size_t i = 0; i < m->nrels; i++)
        if (strcmp(m->rels[i].name, name) == 0)
            return true;
    return false;
}

/* base, or base2, base3, ...: the first that m has no field of. */
static void unique_in(const imodel *m, char *out, const char *base)
{
    snprintf(out, NAME_MAX_, "%s", base);
    for (int i = 2; name_taken(m, out); i++)
        snprintf(out, NAME_MAX_, "%.*s%d", NAME_MAX_ - 8, base, i);
}

/* A C string literal of s, appended to b. */
static void put_cstr(util_buf *b, const char *s)
{
    util_buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            util_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            util_buf_printf(b, "\\%03o", c);
        else
            util_buf_putc(b, (char)c);
    }
    util_buf_putc(b, '"');
}

static void put_cstrn(util_buf *b, const char *s, size_t n)
{
    char *copy = util_strndup(s, n);
    if (!copy) {
        b->err = CORM_ENOMEM;
        return;
    }
    put_cstr(b, copy);
    util_free(copy);
}

/* ---- types ------------------------------------------------------------------ */

/* The first one or two numbers of "VARCHAR(80)" or "numeric(10,2)". */
static void type_params(const char *t, int *a, int *b)
{
    *a = *b = 0;
    const char *p = strchr(t, '(');
    if (!p)
        return;
    *a = atoi(p + 1);
    const char *q = strchr(p, ',');
    if (q)
        *b = atoi(q + 1);
}

static bool has_word(const char *t, const char *w)
{
    for (size_t n = strlen(w); *t; t++)
        if (strncasecmp(t, w, n) == 0)
            return true;
    return false;
}

/* The corm type whose DDL on d is the reflected type, or the nearest one
 * with the database's words kept in sql_type. */
static void map_type(const drv_driver *d, icol *c, bool key)
{
    static const struct { corm_type t; const char *macro; } types[] = {
        { CORM_TYPE_INTEGER, "CORM_INTEGER" }, { CORM_TYPE_BIGINT, "CORM_BIGINT" },
        { CORM_TYPE_SMALLINT, "CORM_SMALLINT" }, { CORM_TYPE_BOOLEAN, "CORM_BOOLEAN" },
        { CORM_TYPE_FLOAT, "CORM_FLOAT" }, { CORM_TYPE_NUMERIC, "CORM_NUMERIC" },
        { CORM_TYPE_STRING, "CORM_STRING" }, { CORM_TYPE_TEXT, "CORM_TEXT" },
        { CORM_TYPE_DATE, "CORM_DATE" }, { CORM_TYPE_TIME, "CORM_TIME" },
        { CORM_TYPE_DATETIME, "CORM_DATETIME" }, { CORM_TYPE_BLOB, "CORM_BLOB" },
        { CORM_TYPE_JSON, "CORM_JSON" }, { CORM_TYPE_UUID, "CORM_UUID" },
    };
    const char *db = c->rc->type ? c->rc->type : "";
    int a, b;
    type_params(db, &a, &b);
    if (key && sch_same_type(d->autoinc_type, db)) { /* the key the database numbers */
        snprintf(c->type, sizeof c->type, "CORM_INTEGER");
        return;
    }
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        corm_column col = { .type = types[i].t, .length = a, .precision = a, .scale = b };
        if ((types[i].t == CORM_TYPE_STRING || types[i].t == CORM_TYPE_NUMERIC) && a <= 0)
            continue;
        if (key && (types[i].t == CORM_TYPE_INTEGER || types[i].t == CORM_TYPE_BIGINT))
            continue; /* an integer key is the autoincrementing type, tried above */
        char tb[64];
        if (!sch_same_type(sch_type_ddl(d, &col, tb, sizeof tb), db))
            continue;
        if (types[i].t == CORM_TYPE_STRING)
            snprintf(c->type, sizeof c->type, "CORM_STRING(%d)", a);
        else if (types[i].t == CORM_TYPE_NUMERIC)
            snprintf(c->type, sizeof c->type, "CORM_NUMERIC(%d, %d)", a, b);
        else
            snprintf(c->type, sizeof c->type, "%s", types[i].macro);
        return;
    }
    /* SQLite's affinity rules, then the other families */
    const char *t = "CORM_TEXT";
    if (has_word(db, "INT"))
        t = "CORM_INTEGER";
    else if (has_word(db, "CHAR") || has_word(db, "CLOB") || has_word(db, "TEXT"))
        t = "CORM_TEXT";
    else if (has_word(db, "BLOB") || has_word(db, "BYTEA") || has_word(db, "BINARY"))
        t = "CORM_BLOB";
    else if (has_word(db, "REAL") || has_word(db, "FLOA") || has_word(db, "DOUB"))
        t = "CORM_FLOAT";
    else if (has_word(db, "BOOL"))
        t = "CORM_BOOLEAN";
    else if (has_word(db, "JSON"))
        t = "CORM_JSON";
    else if (has_word(db, "TIMESTAMP") || has_word(db, "DATETIME"))
        t = "CORM_DATETIME";
    else if (has_word(db, "DATE"))
        t = "CORM_DATE";
    else if (has_word(db, "TIME"))
        t = "CORM_TIME";
    else if ((has_word(db, "NUMERIC") || has_word(db, "DECIMAL")) && a > 0 && a <= 38 && b >= 0 &&
             b <= a) {
        snprintf(c->type, sizeof c->type, "CORM_NUMERIC(%d, %d)", a, b);
        c->sql_type = db;
        return;
    }
    snprintf(c->type, sizeof c->type, "%s", t);
    c->sql_type = db;
}

/* ---- reading the tables -------------------------------------------------- */

static int find_model(const inspector *x, const char *table)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcasecmp(x->m[i].t->name, table) == 0)
            return (int)i;
    return -1;
}

static int find_col(const imodel *m, const char *name)
{
    for (size_t i = 0; i < m->ncols; i++)
        if (strcasecmp(m->cols[i].rc->name, name) == 0)
            return (int)i;
    return -1;
}

static bool own_table(const char *name)
{
    return strcmp(name, "corm_version") == 0 || strcmp(name, "corm_version_halfway") == 0 ||
           strncmp(name, "sqlite_", 7) == 0;
}

/* A model's columns, key, type, names, flags, defaults and checks. */
static int read_table(inspector *x, imodel *m)
{
    const drv_rtable *t = m->t;
    size_t npk = 0;
    for (size_t i = 0; i < t->ncolumns; i++)
        npk += t->columns[i].pk;
    if (npk == 0 || npk > 8) {
        m->skip = npk ? "its primary key has more than 8 columns (corm models take 8)"
                      : "it has no primary key (corm models need one)";
        return CORM_OK;
    }
    if (t->ncolumns > MAX_COLUMNS) {
        m->skip = "it has more than 64 columns (the model macros take 64)";
        return CORM_OK;
    }
    if (!(m->cols = util_calloc(t->ncolumns, sizeof *m->cols)))
        return util_err_set(x->err, CORM_ENOMEM, "out of memory inspecting %s", t->name);
    m->ncols = t->ncolumns;
    for (size_t i = 0; i < t->ncolumns; i++) {
        icol *c = &m->cols[i];
        c->rc = &t->columns[i];
        c->target = -1;
        char base[NAME_MAX_];
        field_ident(base, c->rc->name);
        m->ncols = i; /* unique among the fields before it */
        unique_in(m, c->field, base);
        m->ncols = t->ncolumns;
        if (c->rc->pk) {
            if (npk == 1) /* relationships need a key of one column */
                m->pk = (int)i;
            c->flags |= CORM_PRIMARY_KEY;
        } else if (c->rc->notnull) {
            c->flags |= CORM_NOT_NULL;
        }
        map_type(x->d, c, c->rc->pk && npk == 1); /* a composite key is never numbered */
    }
    /* one-column uniques and indexes as flags, others as constraints */
    for (size_t i = 0; i < t->nindexes; i++) {
        const drv_rindex *ix = &t->indexes[i];
        int col = ix->ncolumns == 1 ? find_col(m, ix->columns[0]) : -1;
        unsigned flag = ix->unique ? CORM_UNIQUE : CORM_INDEX;
        if (col >= 0 && !(m->cols[col].flags & (CORM_UNIQUE | CORM_INDEX | CORM_PRIMARY_KEY))) {
            m->cols[col].flags |= flag;
            continue;
        }
        if (ix->ncolumns == 0 || ix->ncolumns > 8)
            continue;
        util_buf_puts(&m->cons, ix->unique ? ",\n    CORM_UNIQUE_TOGETHER(" : ",\n    CORM_INDEX_ON(");
        for (size_t j = 0; j < ix->ncolumns; j++) {
            if (j)
                util_buf_puts(&m->cons, ", ");
            put_cstr(&m->cons, ix->columns[j]);
        }
        util_buf_putc(&m->cons, ')');
    }
    /* checks, where the database keeps them as written: each to a column
     * it names (one a column), else to the first column without one */
    if (x->d->checks_verbatim && t->sql) {
        sch_span spans[MAX_COLUMNS];
        size_t n = sch_check_spans(t->sql, spans, MAX_COLUMNS);
        for (size_t k = 0; k < n; k++) {
            icol *home = NULL;
            for (size_t i = 0; i < m->ncols && !home; i++) {
                icol *c = &m->cols[i];
                const char *hit = strstr(spans[k].p, c->rc->name);
                if (!c->check.p && hit && hit < spans[k].p + spans[k].n)
                    home = c;
            }
            for (size_t i = 0; i < m->ncols && !home; i++)
                if (!m->cols[i].check.p)
                    home = &m->cols[i];
            if (home)
                home->check = (sch_span){ spans[k].p + 1, spans[k].n >= 2 ? spans[k].n - 2 : 0 };
        }
    }
    return CORM_OK;
}

/* The foreign keys, once every table is read: CORM_FK on one-column keys
 * to a model's column, CORM_FOREIGN_KEY on the others. */
static void read_fks(inspector *x, imodel *m)
{
    for (size_t j = 0; j < m->t->nfks; j++) {
        const drv_rfk *fk = &m->t->fks[j];
        int target = find_model(x, fk->ref_table);
        imodel *tm = target >= 0 ? &x->m[target] : NULL;
        if (!tm || tm->skip) {
            util_buf_printf(&m->notes, " * the foreign key to \"%s\" is left out: that table "
                            "is not a model here\n", fk->ref_table);
            continue;
        }
        if (fk->ncolumns == 1) {
            int col = find_col(m, fk->columns[0]);
            int ref = fk->ref_columns && fk->ref_columns[0] && fk->ref_columns[0][0]
                          ? find_col(tm, fk->ref_columns[0]) : tm->pk;
            if (col < 0 || ref < 0 || m->cols[col].fk)
                continue;
            m->cols[col].fk = fk;
            m->cols[col].target = target;
            m->cols[col].target_col = ref;
            tm->cols[ref].referenced = true;
            continue;
        }
        if (fk->ncolumns > 8)
            continue;
        util_buf_puts(&m->cons, ",\n    CORM_FOREIGN_KEY((");
        for (size_t k = 0; k < fk->ncolumns; k++) {
            util_buf_puts(&m->cons, k ? ", " : "");
            put_cstr(&m->cons, fk->columns[k]);
        }
        util_buf_printf(&m->cons, "), %s, (", tm->name);
        for (size_t k = 0; k < fk->ncolumns; k++) {
            util_buf_puts(&m->cons, k ? ", " : "");
            put_cstr(&m->cons, fk->ref_columns[k]);
        }
        util_buf_puts(&m->cons, "))");
    }
}

/* ---- relationships ------------------------------------------------------- */

static int add_rel(inspector *x, imodel *m, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int add_rel(inspector *x, imodel *m, const char *name, const char *fmt, ...)
{
    if (util_grow(&m->rels, &m->caprels, m->nrels, sizeof *m->rels, 4) < 0)
        return util_err_set(x->err, CORM_ENOMEM, "out of memory inspecting %s", m->t->name);
    irel *r = &m->rels[m->nrels++];
    snprintf(r->name, sizeof r->name, "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->kind, sizeof r->kind, fmt, ap);
    va_end(ap);
    return CORM_OK;
}

/* Whether column c of m is unique by itself. */
static bool col_unique(const icol *c) { return (c->flags & (CORM_UNIQUE | CORM_PRIMARY_KEY)) != 0; }

/* The foreign key columns of m that point at another model's key. */
static size_t key_fks(const inspector *x, const imodel *m, int out[2])
{
    size_t n = 0;
    for (size_t i = 0; i < m->ncols; i++) {
        const icol *c = &m->cols[i];
        if (c->target >= 0 && c->target_col == x->m[c->target].pk) {
            if (n < 2)
                out[n] = (int)i;
            n++;
        }
    }
    return n;
}

/* An association table: two foreign keys to two other models' keys, and
 * nothing else but a key of its own (or the two are its key). */
static bool is_assoc(const inspector *x, const imodel *m, int fks[2])
{
    if (key_fks(x, m, fks) != 2)
        return false;
    bool own_key = m->ncols == 3 && m->pk >= 0 && fks[0] != m->pk && fks[1] != m->pk;
    bool fks_key = m->ncols == 2 && (m->cols[0].flags & m->cols[1].flags & CORM_PRIMARY_KEY);
    int a = m->cols[fks[0]].target, b = m->cols[fks[1]].target;
    return (own_key || fks_key) && a != b && &x->m[a] != m && &x->m[b] != m;
}

static int relate(inspector *x)
{
    for (size_t i = 0; i < x->n; i++) {
        imodel *m = &x->m[i];
        int fks[2];
        if (m->skip || !is_assoc(x, m, fks))
            continue;
        m->assoc = true;
        imodel *a = &x->m[m->cols[fks[0]].target], *b = &x->m[m->cols[fks[1]].target];
        char an[NAME_MAX_], bn[NAME_MAX_], pa[NAME_MAX_], pb[NAME_MAX_];
        plural(pb, b->lower);
        plural(pa, a->lower);
        unique_in(a, bn, pb);
        unique_in(b, an, pa);
        int rc = add_rel(x, a, bn, "CORM_MANY_TO_MANY(%s, %s, %s)", b->name, m->name, an);
        if (rc == CORM_OK)
            rc = add_rel(x, b, an, "CORM_MANY_TO_MANY(%s, %s, %s)", a->name, m->name, bn);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < x->n; i++) {
        imodel *m = &x->m[i];
        if (m->skip || m->assoc)
            continue;
        for (size_t k = 0; k < m->ncols; k++) {
            icol *c = &m->cols[k];
            if (c->target < 0 || c->target_col != x->m[c->target].pk)
                continue;
            imodel *p = &x->m[c->target];
            /* this side: the column's name without _id, else the target's */
            char base[NAME_MAX_], here[NAME_MAX_], back[NAME_MAX_], many[NAME_MAX_];
            size_t len = strlen(c->field);
            if (len > 3 && strcasecmp(c->field + len - 3, "_id") == 0)
                snprintf(base, sizeof base, "%.*s", (int)len - 3, c->field);
            else if (len > 2 && strcasecmp(c->field + len - 2, "id") == 0 && c->field[len - 3] != '_')
                snprintf(base, sizeof base, "%.*s", (int)len - 2, c->field);
            else
                snprintf(base, sizeof base, "%s", p->lower);
            unique_in(m, here, base);
            /* the other side: the children's plural, or with several keys
             * to one parent, this side's name before it */
            int to_same = 0;
            for (size_t j = 0; j < m->ncols; j++)
                to_same += m->cols[j].target == c->target;
            bool one = col_unique(c);
            if (one)
                snprintf(many, sizeof many, "%s", m->lower);
            else
                plural(many, m->lower);
            if (to_same > 1 || p == m) {
                char both[NAME_MAX_];
                snprintf(both, sizeof both, "%.*s_%.*s", NAME_MAX_ / 2 - 1, here, NAME_MAX_ / 2 - 1,
                         many);
                snprintf(many, sizeof many, "%s", both);
            }
            int rc = add_rel(x, m, here, "CORM_MANY_TO_ONE(%s, %s, %s)", p->name, c->field, "");
            if (rc < 0)
                return rc;
            unique_in(p, back, many);
            /* now the back name is known: write it into this side */
            irel *r = &m->rels[m->nrels - 1];
            snprintf(r->kind, sizeof r->kind, "CORM_MANY_TO_ONE(%s, %s, %s)", p->name, c->field,
                     back);
            rc = add_rel(x, p, back, one ? "CORM_ONE_TO_ONE(%s, %s)" : "CORM_ONE_TO_MANY(%s, %s)",
                         m->name, here);
            if (rc < 0)
                return rc;
        }
    }
    return CORM_OK;
}

/* ---- writing ------------------------------------------------------------------ */

static const char *fk_action(const char *words)
{
    static const char *const macros[] = { NULL, "CORM_FK_RESTRICT", "CORM_FK_CASCADE",
                                          "CORM_FK_SET_NULL", "CORM_FK_SET_DEFAULT" };
    for (int i = 1; words && i < 5; i++)
        if (strcasecmp(words, sch_fk_actions[i]) == 0)
            return macros[i];
    return NULL;
}

static void put_flags(util_buf *b, unsigned flags)
{
    static const struct { unsigned f; const char *name; } names[] = {
        { CORM_PRIMARY_KEY, "CORM_PRIMARY_KEY" }, { CORM_UNIQUE, "CORM_UNIQUE" },
        { CORM_NOT_NULL, "CORM_NOT_NULL" }, { CORM_INDEX, "CORM_INDEX" },
    };
    bool any = false;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (flags & names[i].f) {
            util_buf_printf(b, "%s%s", any ? " | " : "", names[i].name);
            any = true;
        }
    if (!any)
        util_buf_putc(b, '0');
}

/* The lines of one model's FIELDS block, without the continuations. */
static void model_lines(const inspector *x, const imodel *m, util_buf *lines)
{
    for (size_t i = 0; i < m->ncols; i++) {
        const icol *c = &m->cols[i];
        util_buf_printf(lines, "    COLUMN(%s, %s, ", c->field, c->type);
        put_flags(lines, c->flags);
        if (strcmp(c->field, c->rc->name) != 0) {
            util_buf_puts(lines, ", CORM_NAME(");
            put_cstr(lines, c->rc->name);
            util_buf_putc(lines, ')');
        }
        if (c->sql_type) {
            util_buf_puts(lines, ", CORM_SQL_TYPE(");
            put_cstr(lines, c->sql_type);
            util_buf_putc(lines, ')');
        }
        if (c->rc->dflt) {
            util_buf_puts(lines, ", CORM_SERVER_DEFAULT(");
            put_cstr(lines, c->rc->dflt);
            util_buf_putc(lines, ')');
        }
        if (c->check.p) {
            util_buf_puts(lines, ", CORM_CHECK(");
            put_cstrn(lines, c->check.p, c->check.n);
            util_buf_putc(lines, ')');
        }
        if (c->target >= 0) {
            const imodel *tm = &x->m[c->target];
            util_buf_printf(lines, ", CORM_FK(%s, %s)", tm->name, tm->cols[c->target_col].field);
            const char *del = fk_action(c->fk->on_delete), *upd = fk_action(c->fk->on_update);
            if (del)
                util_buf_printf(lines, ", CORM_ON_DELETE(%s)", del);
            if (upd)
                util_buf_printf(lines, ", CORM_ON_UPDATE(%s)", upd);
        }
        util_buf_puts(lines, ")\n");
    }
    for (size_t i = 0; i < m->nrels; i++)
        util_buf_printf(lines, "    RELATION(%s, %s)\n", m->rels[i].name, m->rels[i].kind);
}

/* A #define of lines, each continued with a backslash in one column (that
 * of the longest line up to 100 characters; longer ones have theirs after). */
static void put_define(util_buf *out, const char *head, const char *lines)
{
    size_t width = strlen(head);
    for (const char *p = lines; *p;) {
        size_t n = strcspn(p, "\n");
        if (n > width && n <= 100)
            width = n;
        p += n + (p[n] == '\n');
    }
    util_buf_printf(out, "%-*s \\\n", (int)width, head);
    for (const char *p = lines; *p;) {
        size_t n = strcspn(p, "\n");
        bool last = p[n] == '\0' || p[n + 1] == '\0';
        if (last)
            util_buf_printf(out, "%.*s\n", (int)n, p);
        else
            util_buf_printf(out, "%-*.*s \\\n", (int)width, (int)n, p);
        p += n + (p[n] == '\n');
    }
}

static void write_header(const inspector *x, util_buf *out, size_t nmodels)
{
    util_buf_printf(out, "/*\n * Models for the tables of a %s database, written by `db inspect`.\n"
                    " * %zu model%s. Compile them into your program with, in one .c file,\n"
                    " *     #define CORM_DEFINE_MODELS\n *     #include \"this header\"\n"
                    " * and pass { CORM_INSPECTED_MODELS, NULL } to corm_engine_open; `db check`\n"
                    " * then compares them with the database. Rename what reads badly: a\n"
                    " * relationship's name is yours, a column's is the database's (CORM_NAME).\n",
                    x->d->name, nmodels, nmodels == 1 ? "" : "s");
    for (size_t i = 0; i < x->n; i++)
        if (x->m[i].skip)
            util_buf_printf(out, " * Table \"%s\" is left out: %s.\n", x->m[i].t->name, x->m[i].skip);
    util_buf_puts(out, " */\n#ifndef CORM_INSPECTED_MODELS_H\n#define CORM_INSPECTED_MODELS_H\n\n"
                       "#include <corm/corm.h>\n\n");
    /* every model and referenced column declared first: a foreign key may
     * name a model declared after it */
    for (size_t i = 0; i < x->n; i++) {
        const imodel *m = &x->m[i];
        if (m->skip)
            continue;
        util_buf_printf(out, "extern const corm_model %s_model[1];\n", m->name);
        for (size_t k = 0; k < m->ncols; k++)
            if (m->cols[k].referenced)
                util_buf_printf(out, "extern const corm_column %s_%s[1];\n", m->name,
                                m->cols[k].field);
    }
}

static int write_models(const inspector *x, util_buf *out)
{
    size_t nmodels = 0;
    for (size_t i = 0; i < x->n; i++)
        nmodels += !x->m[i].skip;
    write_header(x, out, nmodels);
    util_buf lines = UTIL_BUF_INIT;
    for (size_t i = 0; i < x->n; i++) {
        const imodel *m = &x->m[i];
        if (m->skip)
            continue;
        util_buf_putc(out, '\n');
        if (m->notes.len)
            util_buf_printf(out, "/*\n%s */\n", util_buf_str((util_buf *)&m->notes));
        for (size_t k = 0; k < m->ncols; k++)
            if (m->cols[k].sql_type)
                util_buf_printf(out, "/* %s.%s: the database's type %s, as %s */\n", m->name,
                                m->cols[k].field, m->cols[k].sql_type, m->cols[k].type);
        char head[2 * NAME_MAX_ + 40], upper[NAME_MAX_];
        size_t k = 0;
        for (; m->name[k]; k++)
            upper[k] = (char)toupper((unsigned char)m->name[k]);
        upper[k] = '\0';
        snprintf(head, sizeof head, "#define %s_FIELDS(COLUMN, RELATION)", upper);
        util_buf_reset(&lines);
        model_lines(x, m, &lines);
        put_define(out, head, util_buf_str(&lines));
        util_buf_printf(out, "CORM_MODEL(%s, ", m->name);
        put_cstr(out, m->t->name);
        util_buf_printf(out, ", %s_FIELDS%s)\n", upper, util_buf_str((util_buf *)&m->cons));
    }
    util_buf_free(&lines);
    util_buf_puts(out, "\n/* Every model above, for corm_engine_open. */\n#define CORM_INSPECTED_MODELS");
    bool first = true;
    for (size_t i = 0; i < x->n; i++)
        if (!x->m[i].skip) {
            util_buf_printf(out, "%s %s_model", first ? "" : ",", x->m[i].name);
            first = false;
        }
    util_buf_puts(out, "\n\n#endif\n");
    return out->err ? util_err_set(x->err, CORM_ENOMEM, "out of memory writing the models")
                    : (int)nmodels;
}

/* ---- the call ------------------------------------------------------------------ */

static int inspect(inspector *x, const drv_rschema *rs, FILE *out, FILE *notes)
{
    if (!(x->m = util_calloc(rs->ntables ? rs->ntables : 1, sizeof *x->m)))
        return util_err_set(x->err, CORM_ENOMEM, "out of memory inspecting the database");
    int rc = CORM_OK;
    for (size_t i = 0; i < rs->ntables; i++) {
        if (own_table(rs->tables[i].name))
            continue;
        imodel *m = &x->m[x->n++];
        m->t = &rs->tables[i];
        m->pk = -1;
        char base[NAME_MAX_];
        model_ident(base, m->t->name);
        /* unique, ignoring case (the FIELDS macro is the name in capitals) */
        snprintf(m->name, sizeof m->name, "%s", base);
        for (int k = 2;; k++) {
            bool clash = false;
            for (size_t j = 0; j + 1 < x->n && !clash; j++)
                clash = strcasecmp(x->m[j].name, m->name) == 0;
            if (!clash)
                break;
            snprintf(m->name, sizeof m->name, "%.*s%d", NAME_MAX_ - 8, base, k);
        }
        field_ident(m->lower, m->t->name); /* "order_line": for relationships' names */
        for (size_t k = 0; m->lower[k]; k++)
            m->lower[k] = (char)tolower((unsigned char)m->lower[k]);
    }
    for (size_t i = 0; rc == CORM_OK && i < x->n; i++)
        rc = read_table(x, &x->m[i]);
    for (size_t i = 0; rc == CORM_OK && i < x->n; i++)
        if (!x->m[i].skip)
            read_fks(x, &x->m[i]);
    if (rc == CORM_OK)
        rc = relate(x);
    if (rc < 0)
        return rc;
    util_buf text = UTIL_BUF_INIT;
    rc = write_models(x, &text);
    if (rc >= 0 && fputs(util_buf_str(&text), out) == EOF)
        rc = util_err_set(x->err, CORM_EIO, "cannot write the models");
    util_buf_free(&text);
    for (size_t i = 0; rc >= 0 && notes && i < x->n; i++)
        if (x->m[i].skip)
            fprintf(notes, "table \"%s\" is left out: %s\n", x->m[i].t->name, x->m[i].skip);
    return rc;
}

int corm_inspect(corm_engine *e, FILE *out, FILE *notes)
{
    if (!e || !out)
        return CORM_EINVAL;
    drv_rschema rs;
    int rc = orm_engine_reflect(e, &rs);
    if (rc < 0)
        return rc;
    inspector x = { e->drv, NULL, 0, &e->err };
    rc = inspect(&x, &rs, out, notes);
    for (size_t i = 0; x.m && i < x.n; i++) {
        util_free(x.m[i].cols);
        util_free(x.m[i].rels);
        util_buf_free(&x.m[i].cons);
        util_buf_free(&x.m[i].notes);
    }
    util_free(x.m);
    drv_rschema_free(&rs);
    return rc;
}
