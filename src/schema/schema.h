/*
 * schema.h — model metadata, validated once, and the DDL made from it.
 *
 * The engine turns the user's constant model descriptors into mappers: the
 * facts every later step needs and should not recompute (primary key,
 * NULL-flag words, a prototype object with the client defaults applied,
 * the dialect's column list and get-by-key SQL), in dependency order so
 * that parents come before children.
 */
#ifndef CORM_SCHEMA_H
#define CORM_SCHEMA_H

#include "sql/sql.h"

struct sch_mapper;

/* A relationship resolved at registration. */
typedef struct sch_rel {
    const corm_relation *rel;
    const struct sch_mapper *target;
    const corm_column *fk;         /* MANY_TO_ONE: ours; the others: the target's;
                                      MANY_TO_MANY: the association's key to us */
    const corm_column *fk_target;  /* MANY_TO_MANY: the association's key to target */
    const struct sch_mapper *through; /* MANY_TO_MANY: the association */
    const corm_relation *inverse;  /* the other side, or NULL */
} sch_rel;

typedef struct sch_mapper {
    const corm_model *model;
    size_t rank;                /* position in dependency order */
    const corm_column *pk;      /* the key; its first column when it has several */
    const corm_column *pks[8];  /* every column of the key, in model order */
    size_t npk;
    bool pk_int;                /* one integer column (int64_t): the identity map's fast path */
    const corm_column *version; /* CORM_VERSION, or NULL */
    bool pk_autoinc;            /* an integer key the database assigns */
    bool has_server_defaults;
    bool has_default_fns;
    size_t nwords;              /* uint64_t words of NULL flags */
    unsigned char *proto;       /* model->size bytes, then nwords of flags */
    char *sql_cols;             /* "t"."a", "t"."b", ... */
    sql_text sql_get;           /* SELECT <cols> FROM "t" WHERE "t"."pk" = ? */
    size_t sql_cols_len;
    size_t stride;              /* bytes of fields, NULL flags and loaded word of an object */
    size_t loaded_off;          /* where in them the word of loaded relationships is
                                   (bit i: relationship i was loaded), when nrels */
    size_t snap_max;            /* the most bytes a packed snapshot of the fields and
                                   flags takes (orm/object.c) */
    const corm_column **packed; /* the columns in the order a snapshot packs them:
                                   the key's first */
    uint8_t *load;              /* how each column is read from a row (enum sql_load) */
    sch_rel *rels;              /* model->nrelations of them */
    size_t nrels;
    bool has_to_one;            /* a many-to-one among them: keys to sync at flush */
    bool leaf;                  /* no relationship but many-to-one, and no foreign key
                                   of any model points at it: a cascade may delete its
                                   rows by their parent's key, without loading them */
} sch_mapper;

typedef struct sch_meta {
    sch_mapper *mappers;        /* parents first */
    size_t n;
} sch_meta;

/* Validate the NULL-terminated models and build their mappers for driver d.
 * CORM_ESCHEMA with a sentence naming the model and column on a bad model. */
int sch_meta_build(sch_meta *out, const corm_model *const *models, const drv_driver *d,
                   util_err *err);
void sch_meta_free(sch_meta *m);
/* The mapper of model m, or NULL when m was not registered. */
const sch_mapper *sch_find(const sch_meta *meta, const corm_model *m);
/* The prototype's NULL flags. */
static inline const uint64_t *sch_proto_nulls(const sch_mapper *mp)
{
    return (const uint64_t *)(const void *)(mp->proto + ((mp->model->size + 7) & ~(size_t)7));
}
/* Whether c is unique by itself: CORM_UNIQUE, the whole primary key, or a
 * CORM_UNIQUE_TOGETHER of it alone (a column of a composite key is not). */
bool sch_unique_alone(const corm_column *c);
/* A column of m by name, or NULL. */
const corm_column *sch_column(const corm_model *m, const char *name);
/* The resolved relationship for a handle, or NULL when not registered. */
const sch_rel *sch_rel_of(const sch_meta *meta, const corm_relation *rel);

/* CREATE TABLE / INDEX IF NOT EXISTS for every model, parents first, in one
 * transaction. */
int sch_create_all(const sch_meta *meta, sql_conn *c, util_err *err);
/* DROP TABLE IF EXISTS, children first, in one transaction. */
int sch_drop_all(const sch_meta *meta, sql_conn *c, util_err *err);

/* A list of lines: the differences between the models and a reflected
 * database (one sentence each), or SQL statements. */
typedef struct sch_diff {
    char **lines;
    size_t n, cap;
} sch_diff;

/* Append a copy of line; CORM_ENOMEM when out of memory. */
int sch_lines_add(sch_diff *d, const char *line);
/* The model's CREATE TABLE (as as_name when not NULL) and CREATE INDEX
 * statements, appended to out. */
int sch_table_ddl(const sch_mapper *mp, const drv_driver *d, const char *as_name,
                  bool if_not_exists, sch_diff *out);

/* Compare; tables named in ignore (NULL-terminated, may be NULL) are the
 * database's own business (a migrations version table). */
int sch_diff_build(const sch_meta *meta, const drv_driver *drv, const drv_rschema *rs,
                   const char *const *ignore, sch_diff *d, util_err *err);
void sch_diff_free(sch_diff *d);
/* One table's differences: parts 1 its shape (columns, uniques, foreign
 * keys: what SQLite rebuilds a table for), 2 its plain indexes, 3 both. */
int sch_diff_table(const sch_mapper *mp, const drv_driver *drv, const drv_rtable *t, int parts,
                   sch_diff *d);

/* The pieces of the comparison the migrations reuse to write ALTERs. */
/* A model's uniques and indexes (not its key) as column sets. */
typedef struct sch_colset {
    const char *cols[8];
    size_t n;
    bool unique;
} sch_colset;
size_t sch_model_sets(const corm_model *m, sch_colset *out, size_t max);
/* A model's foreign keys, one column or several, as name lists. */
typedef struct sch_fkset {
    const char *cols[8], *refs[8];
    size_t n;
    const char *table;
    corm_fk_action on_delete, on_update;
} sch_fkset;
size_t sch_model_fks(const corm_model *m, sch_fkset *out, size_t max);
/* The words of the actions, by corm_fk_action ("NO ACTION", "CASCADE", ...). */
extern const char *const sch_fk_actions[];
/* The same names in any order, ignoring case. */
bool sch_same_names(const char *const *a, size_t na, char *const *b, size_t nb);
/* A model's type (in the driver's words) and a reflected one name the same type. */
bool sch_same_type(const char *model, const char *db);
/* A model's server default and a reflected one name the same value (either may be NULL). */
bool sch_same_default(const corm_column *c, const char *model, const char *db);
/* The CHECK (...) constraints of a CREATE TABLE text, each one's
 * parenthesized expression (parentheses included) as a span of sql, into
 * out (at most max); returns how many. */
typedef struct sch_span {
    const char *p;
    size_t n;
} sch_span;
size_t sch_check_spans(const char *sql, sch_span *out, size_t max);
/* The corm type of c in d's DDL (d->types, with NUMERIC's precision and
 * scale, STRING's length, an ENUM's longest name), in buf or a constant. */
const char *sch_type_ddl(const drv_driver *d, const corm_column *c, char *buf, size_t size);
/* A column's type in d's words: its CORM_SQL_TYPE, the autoincrementing
 * key's type, or the driver's for the column's corm type (in buf). */
const char *sch_column_type(const sch_mapper *mp, const drv_driver *d, const corm_column *c,
                            char *buf, size_t size);
/* A column's definition as CREATE TABLE writes it, appended to b. */
void sch_column_ddl(const sch_mapper *mp, const drv_driver *d, const corm_column *c, util_buf *b);
/* The name corm gives a model's constraint or index: prefix_table_col1_col2. */
void sch_constraint_name(util_buf *b, const char *prefix, const corm_model *m,
                         const char *const *cols);

#endif
